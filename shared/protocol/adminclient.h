#pragma once

#include "protocol/adminprotocol.h"

#include <QHash>
#include <QObject>
#include <QSet>
#include <QSslConfiguration>
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
// Logging in: open() sends the credentials with the WebSocket handshake (HTTP Basic for an
// operator, Bearer for the bootstrap token). The server checks them after the upgrade, so the
// client is Connecting until the server's "hello" arrives; only then is it Connected, with
// operatorName(), role() and allows() known. A refused login (a 401/403/429 handshake, or the
// typed errors unauthorized / forbidden / too-many-login-attempts before the hello) emits
// refused() once and is not retried.
//
// Transport: wss:// verifies the server's certificate against the system CAs plus setCaFile();
// a verification failure emits refused(0, ...). open() refuses to send any credential over
// plain ws:// to a host that is not loopback (127.0.0.0/8, ::1, localhost): it emits
// refused(0, explanation) and does not connect.
//
// With auto-reconnect on, a dropped link is re-opened with exponential backoff (250 ms up to
// 5 s); a refused login is not retried.
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

    struct Credentials {
        QString operatorName; // with password: HTTP Basic on the handshake
        QString password;
        QString token; // the bootstrap admin token (Bearer), used when operatorName is empty
    };

    explicit AdminClient(QObject *parent = nullptr);
    ~AdminClient() override;

    // ws(s)://host:port/admin/v1/ws. The credentials are kept (in memory only) for
    // reconnects. Refusals come back through refused(), never as a return value.
    void open(const QUrl &url, const Credentials &credentials);
    void close();
    void setAutoReconnect(bool on) { m_autoReconnect = on; }
    // Extra CA certificates (PEM) trusted for wss://, besides the system ones. Read at open();
    // a file that cannot be read or holds no certificate makes open() emit refused(0, ...).
    void setCaFile(const QString &pemPath) { m_caFile = pemPath; }

    // From the server's hello; empty (allows() false) before the first hello of a connection.
    QString operatorName() const { return m_operatorName; }
    QString role() const { return m_role; }
    bool allows(Op op) const { return m_allowedOps.contains(opName(op)); }

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
    // The server refused the login: 401 (bad or missing credential), 403, 429 (too many failed
    // logins from this address), or 0 when this client refused to connect (credentials over
    // ws:// to a remote host, an unreadable CA file, a certificate that does not verify). No
    // reconnect follows.
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
    void refuse(int httpStatus, const QString &message);
    void onHello(const QJsonObject &data);
    void finish(const QString &id, const Reply &reply);
    void failAll(AdminError code, const QString &message);

    QWebSocket *m_socket = nullptr;
    QUrl m_url;
    Credentials m_credentials;
    QString m_caFile;
    QSslConfiguration m_ssl;
    QString m_operatorName;
    QString m_role;
    QSet<QString> m_allowedOps;
    bool m_loggedIn = false;
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
