#pragma once

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

namespace flashsale {

class AdminService;
class AdminSession;
class PgConnection;
class StatsCollector;

// Everything behind the admin WebSockets of one API thread: the sessions, their stats
// subscriptions (one snapshot per sale shared by every subscriber on the thread), and the
// reconciliation runs pushed to everyone (read from reconcile_runs, so runs made by the
// scheduler or another process arrive too).
class AdminHub final : public QObject {
    Q_OBJECT
public:
    AdminHub(AdminService &service, StatsCollector &stats, PgConnection &pg, int maxMessageBytes,
             QObject *parent = nullptr);
    ~AdminHub() override;

    void accept(std::unique_ptr<QWebSocket> socket, const QString &actor);
    void broadcast(const QString &event, const QJsonObject &data);
    // The sale's stats, from a snapshot at most 200 ms old or a fresh one.
    void snapshot(qint64 saleId, std::function<void(const Result<QJsonObject> &)> done);

    AdminService &service() { return m_service; }
    int maxMessageBytes() const { return m_maxMessageBytes; }
    qsizetype sessionCount() const { return m_sessions.size(); }

private:
    struct Cached {
        qint64 atMs = 0;
        QJsonObject data;
        bool inFlight = false;
        QList<std::function<void(const Result<QJsonObject> &)>> waiting;
    };
    void pollReconciliations();

    AdminService &m_service;
    StatsCollector &m_stats;
    PgConnection &m_pg;
    int m_maxMessageBytes;
    QList<QPointer<AdminSession>> m_sessions;
    QHash<qint64, Cached> m_snapshots;
    QTimer m_reconcilePoll;
    qint64 m_lastRunId = -1; // -1: not read yet
    bool m_polling = false;
};

// One admin WebSocket connection: decodes requests, answers each with its id, and pushes the
// events it subscribed to. Deletes itself when the connection closes.
class AdminSession final : public QObject {
    Q_OBJECT
public:
    AdminSession(std::unique_ptr<QWebSocket> socket, AdminHub &hub, QString actor,
                 QObject *parent = nullptr);
    ~AdminSession() override;

    void push(const QString &event, const QJsonObject &data);

private:
    void onText(const QString &text);
    void onBinary(const QByteArray &data);
    void subscribe(const admin::AdminRequest &request);
    void unsubscribe(const admin::AdminRequest &request);
    void send(const QByteArray &message);

    std::unique_ptr<QWebSocket> m_socket;
    AdminHub &m_hub;
    QString m_actor;
    QHash<qint64, QTimer *> m_subscriptions;
};

} // namespace flashsale
