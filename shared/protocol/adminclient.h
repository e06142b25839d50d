#pragma once

#include "protocol/adminprotocol.h"

#include <QHash>
#include <QObject>
#include <QTimer>
#include <QUrl>
#include <QWebSocket>

#include <functional>

namespace flashsale::admin {

// The client side of the admin WebSocket, used by flashsale-ctl and the console. Everything is
// asynchronous on the owning thread's event loop.
//
// request() sends one operation and calls back exactly once: with the result, the server's typed
// error, AdminError::Timeout, or AdminError::Disconnected when the link drops first. Requests
// made while not connected fail at once with Disconnected.
//
// With auto-reconnect on, a dropped link is re-opened with exponential backoff (250 ms up to
// 5 s); a handshake the server refuses (401) is not retried.
class AdminClient final : public QObject {
    Q_OBJECT
public:
    enum class State { Disconnected, Connecting, Connected };
    Q_ENUM(State)

    struct Reply {
        bool ok = false;
        QJsonObject result;
        AdminFailure failure;
    };
    using Callback = std::function<void(const Reply &)>;

    explicit AdminClient(QObject *parent = nullptr);
    ~AdminClient() override;

    // ws://host:port/admin/v1/ws; the token goes in "Authorization: Bearer"; `actor` names the
    // person for the audit log (sent as X-Flashsale-Actor).
    void open(const QUrl &url, const QString &token, const QString &actor = {});
    void close();
    void setAutoReconnect(bool on) { m_autoReconnect = on; }

    State state() const { return m_state; }
    QUrl url() const { return m_url; }
    // Server clock minus local clock in ms, estimated from ping round trips (0 until known).
    qint64 serverSkewMs() const { return m_skewMs; }
    qint64 lastRoundTripMs() const { return m_rttMs; }
    // The last failure to connect, for display ("401 Unauthorized", "connection refused").
    QString lastError() const { return m_lastError; }

    // Returns the request id used.
    QString request(Op op, const QJsonObject &args, Callback callback, int timeoutMs = 10000);
    // Sends a ping and updates serverSkewMs(); the callback (optional) gets the reply.
    void ping(Callback callback = {});

Q_SIGNALS:
    void stateChanged(flashsale::admin::AdminClient::State state);
    // A server push: "hello", "stats", "reconcile", "sale".
    void event(const QString &name, const QJsonObject &data);
    // The server refused the handshake (401: bad token); no reconnect follows.
    void refused(int httpStatus, const QString &message);

private:
    struct Pending {
        Callback callback;
        QTimer *timer = nullptr;
        Op op = Op::Ping;
    };
    void setState(State s);
    void connectNow();
    void onText(const QString &text);
    void onDisconnected();
    void finish(const QString &id, const Reply &reply);
    void failAll(AdminError code, const QString &message);

    QWebSocket *m_socket = nullptr;
    QUrl m_url;
    QString m_token;
    QString m_actor;
    bool m_autoReconnect = false;
    bool m_closing = false;
    State m_state = State::Disconnected;
    QHash<QString, Pending> m_pending;
    quint64 m_nextId = 1;
    QTimer m_reconnect;
    int m_backoffMs = 250;
    qint64 m_skewMs = 0;
    qint64 m_rttMs = -1;
    QString m_lastError;
};

} // namespace flashsale::admin
