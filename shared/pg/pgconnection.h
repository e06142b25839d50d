#pragma once

#include "core/result.h"

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QSocketNotifier>
#include <QTimer>

#include <deque>
#include <functional>

struct pg_conn;

namespace flashsale {

// The rows of one statement, copied out of libpq. A SQL NULL is a null QByteArray
// (isNull() is true); an empty string is an empty, non-null one.
struct PgResult {
    QList<QByteArray> columns;
    QList<QList<QByteArray>> rows;
    qint64 affected = 0; // rows inserted/updated/deleted, from PQcmdTuples

    qsizetype column(const char *name) const { return columns.indexOf(QByteArray(name)); }
};

// One asynchronous PostgreSQL connection on the Qt event loop of its owning thread
// (PQconnectStart, QSocketNotifier on PQsocket). One statement is in flight at a time; later
// ones wait in a queue behind it.
//
// Failure: while the connection lives, every callback runs exactly once, from the event loop.
// Destroying it runs no callback: its owner is going away, and a callback run from inside the
// owner's destructor would touch members already destroyed.
// - not connected: ErrorCode::Unavailable at once;
// - connection lost with the statement in flight or queued: ErrorCode::Unavailable (a write may
//   or may not have committed: the caller must treat it as in doubt);
// - a statement error: ErrorCode::Conflict for SQLSTATE 23xxx (constraint), Unavailable for
//   40001/40P01 (retryable), Invalid for other 22xxx/42xxx, Internal otherwise. The message
//   starts with the SQLSTATE.
// - no answer in time: a statement unanswered after timeoutMs(), or a connection attempt not
//   finished by then, drops the connection: ErrorCode::Unavailable, in doubt as above. A
//   PostgreSQL behind a link that drops packets silently (no RST) would otherwise keep a
//   statement waiting for the kernel's retransmission timeout, about 15 minutes. The socket has
//   TCP keepalives (idle 5 s, then 3 probes 2 s apart) and tcp_user_timeout = timeoutMs(), so an
//   idle connection (a LISTEN one) notices a dead link too; the conninfo can override them.
// The connection reconnects by itself with exponential backoff (100 ms up to 5 s).
class PgConnection final : public QObject {
    Q_OBJECT
public:
    using Callback = std::function<void(const Result<PgResult> &)>;

    explicit PgConnection(QString conninfo, QObject *parent = nullptr);
    ~PgConnection() override;

    void start();

    // The no-answer bound (see above) of connections created after this call: the server's
    // --pg-timeout-ms. 10 s by default; 0 turns the timer off (TCP settings stay).
    static void setDefaultTimeoutMs(int ms);
    static int defaultTimeoutMs();
    // This connection's bound; takes effect from the next statement or connection attempt.
    void setTimeoutMs(int ms) { m_timeoutMs = ms; }
    int timeoutMs() const { return m_timeoutMs; }

    // Runs one statement with text parameters ($1, $2, ...). A null QByteArray is SQL NULL.
    void query(const QByteArray &sql, const QList<QByteArray> &params, Callback callback);
    // The same with its own no-answer bound, for a statement known to run long (a maintenance
    // DELETE or UPDATE over many rows), so that a slow answer is not taken for a dead link.
    void query(const QByteArray &sql, const QList<QByteArray> &params, int timeoutMs,
               Callback callback);

    // Reports this connection in the pool gauges flashsale_pg_pool_connections{pool},
    // flashsale_pg_pool_in_use{pool} and flashsale_pg_pool_waiting{pool} (summed over the
    // process's connections of that pool: open, running a statement, statements queued behind
    // it). `pool` names the component (worker, relay, ...): a bounded set, never per request.
    // Call once, before start().
    void setMetricsPool(const QByteArray &pool);

    // Statements sent or waiting on this connection (the running one included).
    int queued() const { return int(m_queue.size()); }
    // Connected and accepting statements (query() fails at once otherwise).
    bool isReady() const { return m_state == State::Ready; }

Q_SIGNALS:
    void connected();
    void disconnected();
    // A NOTIFY on a channel this connection LISTENs to (send "LISTEN x" with query(); after a
    // reconnect, send it again on connected()).
    void notified(const QByteArray &channel, const QByteArray &payload);

private:
    enum class State { Idle, Connecting, Ready };
    struct Query {
        QByteArray sql;
        QList<QByteArray> params;
        Callback callback;
        int timeoutMs = -1; // -1: the connection's timeoutMs()
    };

    void connectNow();
    void pollConnect();
    void onReadable();
    void onWritable();
    void sendNext();
    void flush();
    void lost(const QString &why);
    void setNotifiers(bool read, bool write);
    void syncGauges();
    void armDeadline(int ms);

    struct PoolGauges;

    QString m_conninfo;
    pg_conn *m_conn = nullptr;
    State m_state = State::Idle;
    QSocketNotifier *m_read = nullptr;
    QSocketNotifier *m_write = nullptr;
    std::deque<Query> m_queue;
    bool m_inFlight = false;
    PgResult m_current;
    std::optional<Error> m_currentError;
    QTimer m_reconnect;
    QTimer m_deadline; // no answer in time: drop the connection (timeoutMs())
    int m_timeoutMs;
    int m_armedMs = 0; // the bound m_deadline runs with, for its message
    int m_backoffMs = 100;
    PoolGauges *m_gauges = nullptr; // registry-owned gauges; null when not reported
    qint64 m_shown[3] = {0, 0, 0};  // what this connection added to them: open, busy, waiting
};

} // namespace flashsale
