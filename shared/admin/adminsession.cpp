#include "adminsession.h"

#include "admin/adminsales.h"
#include "admin/adminservice.h"
#include "core/logging.h"
#include "http/websocketlimits.h"
#include "pg/pgconnection.h"
#include "stats/livestats.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>

namespace flashsale {

using admin::AdminError;
using admin::AdminFailure;

namespace {
constexpr qint64 kSnapshotReuseMs = 200;
constexpr int kChangesPollMs = 1000;
// Messages above the configured limit but within four times it (at least 64 KiB, at most
// 16 MiB) get a typed error on an open connection; a message or frame above that closes it
// (1009) before the rest is read. 4 MiB may wait for an operator's client before it is dropped.
WebSocketLimits adminLimits(int maxMessageBytes) {
    const qint64 hard = qBound(qint64(64) << 10, 4 * qint64(maxMessageBytes), qint64(16) << 20);
    return WebSocketLimits{"admin", hard, hard, 4 << 20};
}
} // namespace

// ---- AdminHub ---------------------------------------------------------------------------------

AdminHub::AdminHub(AdminService &service, StatsCollector &stats, PgConnection &pg,
                   OperatorAuthenticator &authenticator, int maxMessageBytes, int idleMs,
                   QObject *parent)
    : QObject(parent)
    , m_service(service)
    , m_stats(stats)
    , m_pg(pg)
    , m_authenticator(authenticator)
    , m_maxMessageBytes(maxMessageBytes)
    , m_idleMs(idleMs) {
    connect(&m_changesPoll, &QTimer::timeout, this, &AdminHub::pollChanges);
}

AdminHub::~AdminHub() {
    for (const QPointer<AdminSession> &s : std::as_const(m_sessions))
        delete s.data();
}

void AdminHub::accept(std::unique_ptr<QWebSocket> socket, const LoginCredential &credential,
                      const QByteArray &address) {
    auto *session = new AdminSession(std::move(socket), *this, credential, address, this);
    m_sessions.append(session);
    connect(session, &QObject::destroyed, this, [this] {
        m_sessions.removeIf([](const QPointer<AdminSession> &p) { return p.isNull(); });
        if (m_sessions.isEmpty())
            m_changesPoll.stop();
    });
    if (!m_changesPoll.isActive()) {
        m_changesPoll.start(kChangesPollMs);
        pollChanges();
    }
}

void AdminHub::broadcast(const QString &event, const QJsonObject &data) {
    for (const QPointer<AdminSession> &s : std::as_const(m_sessions))
        if (s)
            s->push(event, data);
}

void AdminHub::snapshot(qint64 saleId, std::function<void(const Result<QJsonObject> &)> done) {
    Cached &c = m_snapshots[saleId];
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (!c.inFlight && now - c.atMs < kSnapshotReuseMs && !c.data.isEmpty()) {
        done(c.data);
        return;
    }
    c.waiting.append(std::move(done));
    if (c.inFlight)
        return;
    c.inFlight = true;
    m_stats.collect(saleId, [this, saleId](const Result<QJsonObject> &r) {
        Cached &c = m_snapshots[saleId];
        c.inFlight = false;
        if (r) {
            c.data = *r;
            c.atMs = QDateTime::currentMSecsSinceEpoch();
        }
        const auto waiting = std::exchange(c.waiting, {});
        for (const auto &w : waiting)
            w(r);
    });
}

void AdminHub::endSessionsOf(const QJsonObject &audit) {
    static const QStringList ending{QStringLiteral("operator.disable"),
                                    QStringLiteral("operator.set-role"),
                                    QStringLiteral("operator.rotate-password")};
    const QString action = audit.value(QStringLiteral("action")).toString();
    if (!ending.contains(action))
        return;
    const QString name = audit.value(QStringLiteral("detail"))
                             .toObject()
                             .value(QStringLiteral("operator"))
                             .toString();
    for (const QPointer<AdminSession> &s : std::as_const(m_sessions))
        if (s && !name.isEmpty() && s->operatorName() == name)
            s->end(QStringLiteral("%1: log in again").arg(action));
}

void AdminHub::pollChanges() {
    if (m_polling)
        return;
    m_polling = true;
    if (m_lastRunId < 0 || m_lastAuditId < 0) {
        // Start from now: a new session asks for history with reconcile.list and audit.list.
        m_pg.query("SELECT (SELECT coalesce(max(id), 0) FROM reconcile_runs), "
                   "(SELECT coalesce(max(id), 0) FROM audit_log)",
                   {}, [this](const Result<PgResult> &r) {
                       m_polling = false;
                       if (!r)
                           return;
                       m_lastRunId = r->rows.value(0).value(0).toLongLong();
                       m_lastAuditId = r->rows.value(0).value(1).toLongLong();
                   });
        return;
    }
    m_pg.query(
        "SELECT 'run', id, report, NULL::bigint FROM "
        "  (SELECT id, report FROM reconcile_runs WHERE id > $1 ORDER BY id LIMIT 50) r "
        "UNION ALL "
        "SELECT 'audit', id, jsonb_build_object('id', id, 'at', "
        "  to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'actor', actor, "
        "  'action', action, 'sale_id', sale_id, 'before', before, 'after', after, 'detail', "
        "  detail), sale_id FROM "
        "  (SELECT * FROM audit_log WHERE id > $2 ORDER BY id LIMIT 200) a",
        {QByteArray::number(m_lastRunId), QByteArray::number(m_lastAuditId)},
        [this](const Result<PgResult> &r) {
            m_polling = false;
            if (!r)
                return;
            QSet<qint64> changedSales;
            for (const auto &row : r->rows) {
                const qint64 id = row[1].toLongLong();
                const QJsonObject data = QJsonDocument::fromJson(row[2]).object();
                if (row[0] == "run") {
                    m_lastRunId = qMax(m_lastRunId, id);
                    broadcast(QString::fromLatin1(admin::kEventReconcile), data);
                } else {
                    m_lastAuditId = qMax(m_lastAuditId, id);
                    endSessionsOf(data);
                    broadcast(QString::fromLatin1(admin::kEventAudit), data);
                    if (!row[3].isNull())
                        changedSales.insert(row[3].toLongLong());
                }
            }
            // Every change to a sale is audited, by any process: push the sale as it is now.
            for (qint64 saleId : std::as_const(changedSales))
                m_service.sales().loadSale(saleId, [this](const Result<QJsonObject> &sale) {
                    if (sale)
                        broadcast(QString::fromLatin1(admin::kEventSale), *sale);
                });
        });
}

// ---- AdminSession -----------------------------------------------------------------------------

AdminSession::AdminSession(std::unique_ptr<QWebSocket> socket, AdminHub &hub,
                           const LoginCredential &credential, const QByteArray &address,
                           QObject *parent)
    : QObject(parent)
    , m_socket(std::move(socket))
    , m_hub(hub)
    , m_address(address) {
    adminLimits(m_hub.maxMessageBytes()).apply(*m_socket, m_hub.idleMs());
    connect(m_socket.get(), &QWebSocket::textMessageReceived, this, &AdminSession::onText);
    connect(m_socket.get(), &QWebSocket::binaryMessageReceived, this, &AdminSession::onBinary);
    connect(m_socket.get(), &QWebSocket::disconnected, this, &QObject::deleteLater);
    QPointer<AdminSession> self(this);
    m_hub.authenticator().authenticate(credential, address, [self](const LoginResult &r) {
        if (self)
            self->onLogin(r);
    });
}

AdminSession::~AdminSession() {
    if (m_identity)
        qCInfo(lcHttp).noquote() << "admin session closed:" << m_identity->name << "from"
                                 << QString::fromUtf8(m_address);
    qDeleteAll(m_subscriptions);
}

void AdminSession::onLogin(const LoginResult &result) {
    if (m_ending)
        return; // closed while the password was being checked
    if (!result) {
        m_refused = true;
        m_waiting.clear();
        send(admin::encodeFailure({},
                                  AdminFailure{result.error().code, result.error().message, {}}));
        end(admin::errorName(result.error().code));
        return;
    }
    m_identity = *result;
    qCInfo(lcHttp).noquote() << "admin session opened:" << m_identity->name << "role"
                             << admin::roleName(m_identity->role) << "from"
                             << QString::fromUtf8(m_address);
    send(admin::encodeEvent(
        QString::fromLatin1(admin::kEventHello),
        QJsonObject{
            {"server_time_ms", double(QDateTime::currentMSecsSinceEpoch())},
            {"version", admin::kVersion},
            {"ops", QJsonArray::fromStringList(admin::opNames())},
            {"operator",
             QJsonObject{{"name", m_identity->name}, {"role", admin::roleName(m_identity->role)}}},
            {"allowed_ops", QJsonArray::fromStringList(admin::allowedOpNames(m_identity->role))},
            {"max_message_bytes", m_hub.maxMessageBytes()}}));
    const QStringList waiting = std::exchange(m_waiting, {});
    m_waitingBytes = 0;
    QPointer<AdminSession> self(this);
    for (const QString &text : waiting) {
        if (!self)
            return;
        handleText(text);
    }
}

void AdminSession::end(const QString &reason) {
    m_ending = true;
    if (m_socket->state() == QAbstractSocket::ConnectedState)
        m_socket->close(QWebSocketProtocol::CloseCodePolicyViolated, reason);
}

void AdminSession::send(const QByteArray &message) {
    (void)adminLimits(m_hub.maxMessageBytes()).sendText(*m_socket, QString::fromUtf8(message));
}

void AdminSession::push(const QString &event, const QJsonObject &data) {
    if (!m_identity)
        return; // nothing reaches a socket before its login succeeded
    send(admin::encodeEvent(event, data));
}

void AdminSession::onBinary(const QByteArray &) {
    if (!m_identity)
        return; // nothing is answered before the login
    send(admin::encodeFailure(
        {}, AdminFailure{AdminError::BadMessage, QStringLiteral("Send JSON in text frames."), {}}));
}

void AdminSession::onText(const QString &text) {
    if (m_refused || m_ending)
        return;
    if (!m_identity) {
        // Bounded in count and size (UTF-16 units, about bytes): a client that has not logged
        // in holds at most about one message's worth of memory here, whatever it sends.
        m_waitingBytes += text.size();
        if (m_waiting.size() >= kMaxWaitingMessages || m_waitingBytes > m_hub.maxMessageBytes()) {
            m_waiting.clear();
            end(QStringLiteral("too many messages before the login finished"));
            return;
        }
        m_waiting.append(text);
        return;
    }
    handleText(text);
}

void AdminSession::handleText(const QString &text) {
    const QByteArray utf8 = text.toUtf8();
    if (utf8.size() > m_hub.maxMessageBytes()) {
        send(admin::encodeFailure(
            {}, AdminFailure{AdminError::MessageTooLarge,
                             QStringLiteral("The message is %1 bytes; the limit is %2.")
                                 .arg(utf8.size())
                                 .arg(m_hub.maxMessageBytes()),
                             {}}));
        return;
    }
    auto request = admin::decodeRequest(utf8);
    if (!request) {
        send(admin::encodeFailure(request.error().id, request.error().failure));
        return;
    }
    if (auto refused = OperatorAuthenticator::forbidden(*m_identity, *request)) {
        send(admin::encodeFailure(request->id, *refused));
        return;
    }
    switch (request->op) {
    case admin::Op::StatsSubscribe:
        return subscribe(*request);
    case admin::Op::StatsUnsubscribe:
        return unsubscribe(*request);
    default:
        break;
    }
    QPointer<AdminSession> self(this);
    const QString id = request->id;
    m_hub.service().handle(*request, *m_identity, [self, id](const AdminService::Answer &answer) {
        if (!self)
            return; // the client left; the change itself is done and audited
        self->send(answer ? admin::encodeResult(id, *answer)
                          : admin::encodeFailure(id, answer.error()));
    });
}

void AdminSession::subscribe(const admin::AdminRequest &request) {
    FieldReader r(request.args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), true, 1, AdminService::kMaxId);
    const auto interval = r.integer(QStringLiteral("interval_ms"), false, 250, 5000);
    r.rejectUnknown();
    if (!r.ok()) {
        send(admin::encodeFailure(request.id,
                                  AdminFailure{AdminError::InvalidArgs,
                                               QStringLiteral("Invalid stats.subscribe arguments."),
                                               r.errors()}));
        return;
    }
    // The first snapshot both proves the sale exists and is the first event.
    QPointer<AdminSession> self(this);
    const qint64 id = *saleId;
    const int ms = int(interval.value_or(500));
    const QString rid = request.id;
    m_hub.service().handle(
        admin::AdminRequest{rid, admin::Op::SaleGet, QJsonObject{{"sale_id", id}}}, *m_identity,
        [self, id, ms, rid](const AdminService::Answer &a) {
            if (!self)
                return;
            if (!a) {
                self->send(admin::encodeFailure(rid, a.error()));
                return;
            }
            delete self->m_subscriptions.take(id);
            auto *timer = new QTimer;
            self->m_subscriptions.insert(id, timer);
            auto tick = [s = self.data(), id] {
                QPointer<AdminSession> guard(s);
                s->m_hub.snapshot(id, [guard, id](const Result<QJsonObject> &snap) {
                    if (!guard || !guard->m_subscriptions.contains(id))
                        return;
                    if (snap)
                        guard->push(QString::fromLatin1(admin::kEventStats), *snap);
                    else
                        guard->push(
                            QString::fromLatin1(admin::kEventStats),
                            QJsonObject{
                                {"sale_id", id},
                                {"error", AdminService::dependencyFailure(snap.error()).toJson()}});
                });
            };
            QObject::connect(timer, &QTimer::timeout, self.data(), tick);
            timer->start(ms);
            self->send(admin::encodeResult(rid, QJsonObject{{"sale_id", id}, {"interval_ms", ms}}));
            tick();
        });
}

void AdminSession::unsubscribe(const admin::AdminRequest &request) {
    FieldReader r(request.args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), false, 1, AdminService::kMaxId);
    r.rejectUnknown();
    if (!r.ok()) {
        send(admin::encodeFailure(
            request.id,
            AdminFailure{AdminError::InvalidArgs,
                         QStringLiteral("Invalid stats.unsubscribe arguments."), r.errors()}));
        return;
    }
    QJsonArray removed;
    const QList<qint64> ids = saleId ? QList<qint64>{*saleId} : m_subscriptions.keys();
    for (qint64 id : ids) {
        if (QTimer *t = m_subscriptions.take(id)) {
            delete t;
            removed.append(id);
        }
    }
    send(admin::encodeResult(request.id, QJsonObject{{"unsubscribed", removed}}));
}

} // namespace flashsale
