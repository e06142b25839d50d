#pragma once

#include "core/result.h"

#include <QByteArray>
#include <QObject>
#include <QString>
#include <QTimer>

#include <functional>
#include <memory>
#include <vector>

namespace flashsale {

class PgConnection;
class PgPool;
struct PgResult;
class RedisCommands;

// What the provider said about one order's payment, from wherever it was learnt: the answer to
// the charge call, a webhook, or provider reconciliation.
struct ProviderOutcome {
    enum class Kind { Succeeded, Failed, Refunded };
    Kind kind = Kind::Succeeded;
    qint64 orderId = 0;
    QByteArray providerRef; // the provider's payment id
    QString reason;         // Failed: the decline reason
    QByteArray eventId;     // a webhook's event id (deduplicated); empty otherwise
    QByteArray source;      // "api", "webhook" or "reconcile": recorded with the outcome
};

// How apply() ended.
enum class OutcomeApplied {
    Applied,      // this call changed the payment (and ended the order, or queued a refund)
    Duplicate,    // this event id was applied before, or the payment already has this outcome
    Ignored,      // the payment's state makes this outcome stale (a Failed after a capture)
    RefundQueued, // money captured for an order that is no longer pending: a refund is due
    UnknownOrder, // no payment row for this order (not ours, or not claimed yet)
};

// The outcome's name in logs, metrics, webhook answers and reconciliation reports: "applied",
// "duplicate", "ignored", "refund_queued", "unknown_order".
const char *outcomeAppliedName(OutcomeApplied applied);

// Applies provider outcomes to PostgreSQL (payments, orders, order_history, outbox) and Redis
// (units of a declined order go back), each exactly once whatever the order of arrival:
//   charging  + Succeeded -> captured, order paid, outbox order.paid       (Applied)
//                            refund_due when the order is no longer pending (RefundQueued)
//   charging  + Failed    -> declined, order cancelled ('declined'), units released (Applied)
//   charging  + Refunded  -> refunded; a pending order is cancelled ('declined') and its units
//                            released: the refund proves a capture, and gives it back (Applied)
//   declined|void + Succeeded -> refund_due (the money was taken for a cancelled order)
//                            (RefundQueued)
//   declined|void + Refunded  -> refunded (Applied)
//   captured  + Failed    -> Ignored (a capture is final; logged)
//   captured|refund_due + Refunded -> refunded (Applied); a paid order stays paid (provider
//                            reconciliation reports "refunded but not cancelled")
//   refund_due|refunded + Failed -> Ignored
//   the same outcome again (captured + Succeeded, declined + Failed, refund_due|refunded +
//   Succeeded, refunded + Refunded) -> Duplicate, nothing written
//   no payments row       -> UnknownOrder, nothing written (not even the event id)
// A webhook's event id is recorded in the same statement as its effect (payment_events), so a
// duplicate delivery is a Duplicate. Concurrent outcomes for one order serialise on its payments
// and orders rows (SELECT ... FOR UPDATE in the statement). A Failed outcome whose order ended
// declined releases the units in Redis (release.lua, idempotent) every time it is applied,
// Duplicate included, so a retry after a crash between PostgreSQL and Redis finishes the job.
// Refunds are not made here: a 'refund_due' payment is refunded by the payment service's refund
// sweep, with a stable idempotency key, so any process may apply outcomes (the API process for
// webhooks) without holding a gateway.
//
// Outcomes are written in batches: apply() queues the outcome, and the queue is written as one
// multi-row statement when it holds `batchRows` outcomes or `batchDelayMs` after the first one
// (0: at the next turn of the event loop), at most one outcome per order per statement.
//
// Failure: `done` runs exactly once. ErrorCode::Unavailable when PostgreSQL could not be written
// (the effect may or may not have committed: apply the same outcome again; it is then a
// Duplicate) or when the units of a declined order could not be released after the commit
// (apply again: the retry releases them). Other codes: a statement that failed on this outcome
// alone (it is tried alone after its batch failed).
// Thread: the owner's, as its PgConnection (or PgPool) and RedisClient.
class PaymentOutcomes final : public QObject {
    Q_OBJECT
public:
    PaymentOutcomes(PgConnection &pg, RedisCommands &redis, QObject *parent = nullptr);
    PaymentOutcomes(PgPool &pool, RedisCommands &redis, QObject *parent = nullptr);
    ~PaymentOutcomes() override;
    void apply(const ProviderOutcome &outcome,
               std::function<void(const Result<OutcomeApplied> &)> done);

    // Rows per statement (default 256) and how long the first outcome waits for others
    // (default 0 ms).
    void setBatching(int batchRows, int batchDelayMs);

private:
    struct Pending;
    void flush();
    void write(std::shared_ptr<std::vector<Pending>> batch);
    void finish(std::shared_ptr<std::vector<Pending>> batch, const PgResult &rows);
    void query(const QByteArray &sql, const QList<QByteArray> &params,
               std::function<void(const Result<PgResult> &)> done);

    PgConnection *m_pg = nullptr;
    PgPool *m_pool = nullptr;
    RedisCommands &m_redis;
    std::vector<Pending> m_queue;
    QTimer m_timer;
    int m_batchRows = 256;
    int m_batchDelayMs = 0;
    int m_writing = 0;    // statements in flight
    int m_maxWriting = 1; // one per connection
};

} // namespace flashsale
