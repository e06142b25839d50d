#pragma once

#include "admin/operatorauth.h"
#include "core/result.h"
#include "protocol/adminprotocol.h"

#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QTimer>
#include <QWebSocket>

#include <functional>
#include <memory>
#include <optional>

namespace flashsale {

class AdminService;
class AdminSession;
class PgConnection;
class StatsCollector;

// Everything behind the admin WebSockets of one API thread: the sessions, their stats
// subscriptions (one snapshot per sale shared by every subscriber on the thread), and the
// changes pushed to everyone: new reconciliation runs, audit records, and the sales they touch.
// Those are read from reconcile_runs and audit_log every second, so changes made by the
// scheduler or another process arrive too; an audit row that disables an operator, changes
// their role or rotates their password closes that operator's sessions here (they log in
// again, or cannot).
class AdminHub final : public QObject {
    Q_OBJECT
public:
    AdminHub(AdminService &service, StatsCollector &stats, PgConnection &pg,
             OperatorAuthenticator &authenticator, int maxMessageBytes, int idleMs = 0,
             QObject *parent = nullptr);
    ~AdminHub() override;

    // A socket the upgrade gate let through with a credential of the right form; the session
    // logs in with it (asynchronously) before it reads any message. `address` is the client's
    // address failed logins count against (loginAddress()).
    void accept(std::unique_ptr<QWebSocket> socket, const LoginCredential &credential,
                const QByteArray &address);
    void broadcast(const QString &event, const QJsonObject &data);
    // The sale's stats, from a snapshot at most 200 ms old or a fresh one.
    void snapshot(qint64 saleId, std::function<void(const Result<QJsonObject> &)> done);

    AdminService &service() { return m_service; }
    OperatorAuthenticator &authenticator() { return m_authenticator; }
    int maxMessageBytes() const { return m_maxMessageBytes; }
    // --websocket-idle-ms: a session silent this long is closed (WebSocketLimits::apply).
    int idleMs() const { return m_idleMs; }
    qsizetype sessionCount() const { return m_sessions.size(); }

private:
    struct Cached {
        qint64 atMs = 0;
        QJsonObject data;
        bool inFlight = false;
        QList<std::function<void(const Result<QJsonObject> &)>> waiting;
    };
    void pollChanges();
    void endSessionsOf(const QJsonObject &audit);

    AdminService &m_service;
    StatsCollector &m_stats;
    PgConnection &m_pg;
    OperatorAuthenticator &m_authenticator;
    int m_maxMessageBytes;
    int m_idleMs;
    QList<QPointer<AdminSession>> m_sessions;
    QHash<qint64, Cached> m_snapshots;
    QTimer m_changesPoll;
    qint64 m_lastRunId = -1; // -1: not read yet
    qint64 m_lastAuditId = -1;
    bool m_polling = false;
};

// One admin WebSocket connection. It first logs in with the handshake's credential (the
// authenticator works off the event loop); messages that arrive meanwhile wait, up to
// kMaxWaitingMessages and --max-admin-message-bytes in all (beyond that the connection is
// closed, 1008). A refused login is answered
// with one typed failure without an id (unauthorized, too-many-login-attempts, unavailable)
// and a close (1008). After the login: the hello, then every request is answered with its id
// (forbidden when the role may not make it), and the events it subscribed to are pushed.
// Deletes itself when the connection closes.
class AdminSession final : public QObject {
    Q_OBJECT
public:
    static constexpr int kMaxWaitingMessages = 16;

    AdminSession(std::unique_ptr<QWebSocket> socket, AdminHub &hub,
                 const LoginCredential &credential, const QByteArray &address,
                 QObject *parent = nullptr);
    ~AdminSession() override;

    // An event for this client; dropped until the login succeeded.
    void push(const QString &event, const QJsonObject &data);
    // The operator logged in, or empty before the login succeeded.
    QString operatorName() const { return m_identity ? m_identity->name : QString(); }
    // Closes the connection (1008) with `reason`, e.g. when the operator was disabled.
    void end(const QString &reason);

private:
    void onLogin(const LoginResult &result);
    void onText(const QString &text);
    void handleText(const QString &text);
    void onBinary(const QByteArray &data);
    void subscribe(const admin::AdminRequest &request);
    void unsubscribe(const admin::AdminRequest &request);
    void send(const QByteArray &message);

    std::unique_ptr<QWebSocket> m_socket;
    AdminHub &m_hub;
    QByteArray m_address;
    std::optional<OperatorIdentity> m_identity;
    bool m_refused = false;
    bool m_ending = false; // end() was called: nothing more is read or sent but the close
    QStringList m_waiting; // messages that arrived before the login finished
    qsizetype m_waitingBytes = 0;
    QHash<qint64, QTimer *> m_subscriptions;
};

} // namespace flashsale
