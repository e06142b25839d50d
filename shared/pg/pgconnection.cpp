#include "pgconnection.h"

#include "core/contract.h"
#include "core/logging.h"
#include "metrics/metrics.h"

#include <libpq-fe.h>

#include <atomic>

namespace flashsale {

namespace {

Error errorFromResult(const PGresult *res) {
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const QByteArray sqlstate = state ? QByteArray(state) : QByteArray("XX000");
    const QString message = QString::fromUtf8(sqlstate) + QLatin1Char(' ')
                            + QString::fromUtf8(PQresultErrorMessage(res)).trimmed();
    ErrorCode code = ErrorCode::Internal;
    if (sqlstate.startsWith("23"))
        code = ErrorCode::Conflict;
    else if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate.startsWith("08")
             || sqlstate.startsWith("57"))
        code = ErrorCode::Unavailable;
    else if (sqlstate.startsWith("22") || sqlstate.startsWith("42"))
        code = ErrorCode::Invalid;
    return Error{code, message};
}

std::atomic<int> g_defaultTimeoutMs{10000};

} // namespace

void PgConnection::setDefaultTimeoutMs(int ms) {
    g_defaultTimeoutMs = std::max(ms, 0);
}

int PgConnection::defaultTimeoutMs() {
    return g_defaultTimeoutMs;
}

struct PgConnection::PoolGauges {
    Gauge *open, *busy, *waiting;
};

void PgConnection::setMetricsPool(const QByteArray &pool) {
    const QByteArray labels = "pool=\"" + labelValue(pool) + '"';
    auto &m = Metrics::instance();
    // Resolved once per pool and kept: the registry owns the gauges for the process's life.
    m_gauges = new PoolGauges{
        &m.gauge("flashsale_pg_pool_connections",
                 "PostgreSQL connections of this pool that are open.", labels),
        &m.gauge("flashsale_pg_pool_in_use",
                 "PostgreSQL connections of this pool running a statement.", labels),
        &m.gauge("flashsale_pg_pool_waiting",
                 "Statements queued behind the running one on this pool's connections.", labels)};
    syncGauges();
}

// Adds this connection's change since the last call to its pool's gauges.
void PgConnection::syncGauges() {
    if (!m_gauges)
        return;
    const qint64 busy = m_inFlight ? 1 : 0;
    const qint64 now[3] = {m_state == State::Ready ? 1 : 0, busy, qint64(m_queue.size()) - busy};
    Gauge *g[3] = {m_gauges->open, m_gauges->busy, m_gauges->waiting};
    for (int i = 0; i < 3; ++i) {
        if (now[i] != m_shown[i])
            g[i]->add(now[i] - m_shown[i]);
        m_shown[i] = now[i];
    }
}

PgConnection::PgConnection(QString conninfo, QObject *parent)
    : QObject(parent)
    , m_conninfo(std::move(conninfo))
    , m_timeoutMs(g_defaultTimeoutMs) {
    m_reconnect.setSingleShot(true);
    connect(&m_reconnect, &QTimer::timeout, this, &PgConnection::connectNow);
    m_deadline.setSingleShot(true);
    connect(&m_deadline, &QTimer::timeout, this, [this] {
        lost(QStringLiteral("no answer from PostgreSQL within %1 ms (%2)")
                 .arg(m_armedMs)
                 .arg(m_state == State::Connecting ? QStringLiteral("connecting")
                                                   : QStringLiteral("statement")));
    });
}

// Starts (or restarts) the no-answer timer; off when the bound is 0.
void PgConnection::armDeadline(int ms) {
    m_armedMs = ms;
    if (ms > 0)
        m_deadline.start(ms);
}

PgConnection::~PgConnection() {
    if (m_conn)
        PQfinish(m_conn);
    // No callback runs (see the class comment): the queued statements are only dropped.
    m_queue.clear();
    m_state = State::Idle;
    m_inFlight = false;
    syncGauges();
    delete m_gauges;
}

void PgConnection::start() {
    connectNow();
}

void PgConnection::setNotifiers(bool read, bool write) {
    if (m_read)
        m_read->setEnabled(read);
    if (m_write)
        m_write->setEnabled(write);
}

void PgConnection::connectNow() {
    if (m_conn)
        return;
    // The keepalive and user timeout settings first, the conninfo (a URL or key=value string,
    // expanded from "dbname") last: what it sets wins.
    const QByteArray userTimeout = QByteArray::number(m_timeoutMs);
    const QByteArray conninfo = m_conninfo.toUtf8();
    const char *keys[] = {"keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          "dbname",
                          nullptr};
    const char *values[] = {"1",    "5", "2", "3", userTimeout.constData(), conninfo.constData(),
                            nullptr};
    m_conn = PQconnectStartParams(keys, values, 1);
    if (!m_conn || PQstatus(m_conn) == CONNECTION_BAD) {
        lost(m_conn ? QString::fromUtf8(PQerrorMessage(m_conn)).trimmed()
                    : QStringLiteral("out of memory"));
        return;
    }
    m_state = State::Connecting;
    const int fd = PQsocket(m_conn);
    m_read = new QSocketNotifier(qintptr(fd), QSocketNotifier::Read, this);
    m_write = new QSocketNotifier(qintptr(fd), QSocketNotifier::Write, this);
    connect(m_read, &QSocketNotifier::activated, this, &PgConnection::onReadable);
    connect(m_write, &QSocketNotifier::activated, this, &PgConnection::onWritable);
    setNotifiers(false, true); // PQconnectStart behaves as if PGRES_POLLING_WRITING was returned
    armDeadline(m_timeoutMs);  // libpq's connect_timeout does not apply to PQconnectPoll
}

void PgConnection::pollConnect() {
    switch (PQconnectPoll(m_conn)) {
    case PGRES_POLLING_READING:
        setNotifiers(true, false);
        return;
    case PGRES_POLLING_WRITING:
        setNotifiers(false, true);
        return;
    case PGRES_POLLING_OK:
        PQsetnonblocking(m_conn, 1);
        m_deadline.stop();
        m_state = State::Ready;
        m_backoffMs = 100;
        setNotifiers(true, false);
        qCInfo(lcPg) << "connected to" << PQhost(m_conn) << PQport(m_conn) << "db" << PQdb(m_conn);
        syncGauges();
        Q_EMIT connected();
        sendNext();
        return;
    default:
        lost(QString::fromUtf8(PQerrorMessage(m_conn)).trimmed());
        return;
    }
}

void PgConnection::onWritable() {
    if (m_state == State::Connecting)
        pollConnect();
    else
        flush();
}

void PgConnection::onReadable() {
    if (m_state == State::Connecting) {
        pollConnect();
        return;
    }
    if (!PQconsumeInput(m_conn)) {
        lost(QString::fromUtf8(PQerrorMessage(m_conn)).trimmed());
        return;
    }
    while (PGnotify *n = PQnotifies(m_conn)) {
        const QByteArray channel(n->relname);
        const QByteArray payload(n->extra);
        PQfreemem(n);
        Q_EMIT notified(channel, payload);
    }
    while (m_inFlight && !PQisBusy(m_conn)) {
        PGresult *res = PQgetResult(m_conn);
        if (!res) {
            // End of this statement's results: deliver.
            m_inFlight = false;
            m_deadline.stop();
            Query q = std::move(m_queue.front());
            m_queue.pop_front();
            Result<PgResult> out = m_currentError
                                       ? Result<PgResult>(std::unexpected(*m_currentError))
                                       : Result<PgResult>(std::move(m_current));
            m_current = PgResult{};
            m_currentError.reset();
            syncGauges();
            q.callback(out);
            sendNext();
            return;
        }
        const ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
            PgResult r;
            const int cols = PQnfields(res);
            for (int c = 0; c < cols; ++c)
                r.columns << QByteArray(PQfname(res, c));
            const int rows = PQntuples(res);
            r.rows.reserve(rows);
            for (int i = 0; i < rows; ++i) {
                QList<QByteArray> row;
                row.reserve(cols);
                for (int c = 0; c < cols; ++c) {
                    row << (PQgetisnull(res, i, c)
                                ? QByteArray()
                                : QByteArray(PQgetvalue(res, i, c), PQgetlength(res, i, c)));
                }
                r.rows << std::move(row);
            }
            r.affected = QByteArray(PQcmdTuples(res)).toLongLong();
            m_current = std::move(r);
        } else if (!m_currentError) {
            m_currentError = errorFromResult(res);
        }
        PQclear(res);
    }
    if (PQstatus(m_conn) == CONNECTION_BAD)
        lost(QStringLiteral("connection lost"));
}

void PgConnection::query(const QByteArray &sql, const QList<QByteArray> &params,
                         Callback callback) {
    query(sql, params, -1, std::move(callback));
}

void PgConnection::query(const QByteArray &sql, const QList<QByteArray> &params, int timeoutMs,
                         Callback callback) {
    assertOwnThread(this, "PgConnection::query");
    callback = exactlyOnce(std::move(callback), "PgConnection::query");
    if (m_state != State::Ready) {
        callback(fail(ErrorCode::Unavailable, QStringLiteral("postgresql not connected")));
        return;
    }
    m_queue.push_back(Query{sql, params, std::move(callback), timeoutMs});
    sendNext();
    syncGauges();
}

void PgConnection::sendNext() {
    if (m_inFlight || m_queue.empty() || m_state != State::Ready)
        return;
    const Query &q = m_queue.front();
    QVarLengthArray<const char *, 16> values;
    QVarLengthArray<int, 16> lengths;
    for (const QByteArray &p : q.params) {
        values.append(p.isNull() ? nullptr : p.constData());
        lengths.append(int(p.size()));
    }
    if (!PQsendQueryParams(m_conn, q.sql.constData(), int(values.size()), nullptr, values.data(),
                           lengths.data(), nullptr, 0)) {
        lost(QString::fromUtf8(PQerrorMessage(m_conn)).trimmed());
        return;
    }
    m_inFlight = true;
    armDeadline(q.timeoutMs < 0 ? m_timeoutMs : q.timeoutMs);
    syncGauges();
    flush();
}

void PgConnection::flush() {
    const int r = PQflush(m_conn);
    if (r < 0)
        lost(QString::fromUtf8(PQerrorMessage(m_conn)).trimmed());
    else
        setNotifiers(true, r == 1);
}

void PgConnection::lost(const QString &why) {
    const bool wasReady = m_state == State::Ready;
    qCWarning(lcPg) << "postgresql connection:" << why;
    m_deadline.stop();
    for (QSocketNotifier **n : {&m_read, &m_write}) {
        if (*n) {
            (*n)->setEnabled(false);
            (*n)->deleteLater();
            *n = nullptr;
        }
    }
    if (m_conn) {
        PQfinish(m_conn);
        m_conn = nullptr;
    }
    m_state = State::Idle;
    m_inFlight = false;
    m_current = PgResult{};
    m_currentError.reset();
    std::deque<Query> failed;
    failed.swap(m_queue);
    syncGauges();
    for (Query &q : failed)
        q.callback(
            fail(ErrorCode::Unavailable, QStringLiteral("postgresql connection lost: ") + why));
    m_reconnect.start(m_backoffMs);
    m_backoffMs = std::min(m_backoffMs * 2, 5000);
    if (wasReady)
        Q_EMIT disconnected();
}

} // namespace flashsale
