#include "paymentoutcomes.h"

#include "booking/salekeys.h"
#include "metrics/metrics.h"
#include "pg/pgarray.h"
#include "pg/pgconnection.h"
#include "pg/pgpool.h"
#include "redis/redisclient.h"
#include "redis/redisscript.h"

#include <QLoggingCategory>
#include <QPointer>

#include <unordered_set>

namespace flashsale {

Q_DECLARE_LOGGING_CATEGORY(lcPayment)

namespace {

// One statement for a batch of outcomes (one per order): the state table of paymentoutcomes.h.
//   $1 order ids, $2 kinds (succeeded|failed|refunded), $3 provider refs, $4 decline reasons,
//   $5 event ids (NULL: not a webhook), $6 sources
// d locks each payment and its order (FOR UPDATE: the latest versions, so concurrent outcomes
// for one order serialise here, and ev's insert of an event id is decided after the lock); m
// says where each payment goes (next, NULL: nowhere); p, o, s, h, e write it. One row per input
// outcome comes back: order id, result, whether to release the units, the order's fields for
// release.lua.
const QByteArray kApplySql = R"(
WITH i AS (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
        AS t (order_id, kind, ref, reason, event_id, source)),
d AS MATERIALIZED (
    SELECT i.*, y.status AS was, o.status AS order_status, o.cancel_reason, o.reservation_id,
           o.sale_id, o.item_id, o.user_id, o.quantity
    FROM i JOIN payments y ON y.order_id = i.order_id JOIN orders o ON o.id = i.order_id
    ORDER BY i.order_id
    FOR UPDATE OF y, o),
ev AS (
    INSERT INTO payment_events (event_id, order_id, type)
    SELECT event_id, order_id, CASE kind WHEN 'succeeded' THEN 'payment.succeeded'
                                         WHEN 'failed' THEN 'payment.failed'
                                         ELSE 'refund.succeeded' END
    FROM d WHERE event_id IS NOT NULL
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id),
n AS MATERIALIZED (
    SELECT d.*, d.event_id IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM ev WHERE ev.event_id = d.event_id) AS dup_event
    FROM d),
m AS MATERIALIZED (
    SELECT n.*, CASE
        WHEN n.dup_event THEN NULL
        WHEN n.kind = 'succeeded' AND n.was = 'charging' AND n.order_status = 'pending'
            THEN 'captured'
        WHEN n.kind = 'succeeded' AND n.was IN ('charging', 'declined', 'void') THEN 'refund_due'
        WHEN n.kind = 'failed' AND n.was = 'charging' THEN 'declined'
        WHEN n.kind = 'refunded'
             AND n.was IN ('charging', 'declined', 'void', 'captured', 'refund_due') THEN 'refunded'
        END AS next
    FROM n),
p AS (
    UPDATE payments y SET status = m.next, provider_ref = coalesce(m.ref, y.provider_ref),
        reason = CASE WHEN m.next = 'declined' THEN m.reason ELSE y.reason END,
        source = m.source, updated_at = now()
    FROM m WHERE y.order_id = m.order_id AND m.next IS NOT NULL),
o AS (
    UPDATE orders SET status = CASE WHEN m.next = 'captured' THEN 'paid' ELSE 'cancelled' END,
        cancel_reason = CASE WHEN m.next = 'captured' THEN NULL ELSE 'declined' END,
        updated_at = now()
    FROM m WHERE orders.id = m.order_id AND orders.status = 'pending'
        AND m.next IN ('captured', 'declined', 'refunded')
    RETURNING orders.id, orders.reservation_id, orders.sale_id, orders.item_id, orders.user_id,
              orders.quantity, orders.amount_cents, orders.status),
s AS (
    UPDATE inventory v SET sold = v.sold - c.units
    FROM (SELECT item_id, sum(quantity)::int AS units FROM o WHERE status = 'cancelled'
          GROUP BY item_id) c
    WHERE v.item_id = c.item_id),
h AS (
    INSERT INTO order_history (order_id, status, reason)
    SELECT id, status, CASE WHEN status = 'cancelled' THEN 'declined' END FROM o ORDER BY id),
e AS (
    INSERT INTO outbox (topic, key, payload)
    SELECT 'order.' || status, reservation_id,
           order_event('order.' || status, id, reservation_id, sale_id, item_id, user_id,
                       quantity, amount_cents, CASE WHEN status = 'cancelled' THEN 'declined' END,
                       now())
    FROM o ORDER BY id)
SELECT i.order_id,
       CASE WHEN m.order_id IS NULL THEN 'unknown'
            WHEN m.dup_event THEN 'duplicate'
            WHEN m.next = 'refund_due' THEN 'refund_queued'
            WHEN m.next IS NOT NULL THEN 'applied'
            WHEN (m.kind = 'succeeded' AND m.was IN ('captured', 'refund_due', 'refunded'))
                 OR (m.kind = 'failed' AND m.was = 'declined')
                 OR (m.kind = 'refunded' AND m.was = 'refunded') THEN 'duplicate'
            ELSE 'ignored' END,
       coalesce(m.kind IN ('failed', 'refunded')
                AND (o.status = 'cancelled'
                     OR (m.order_status = 'cancelled' AND m.cancel_reason = 'declined')), false),
       m.reservation_id, m.sale_id, m.item_id, m.user_id, m.quantity, m.was
FROM i LEFT JOIN m ON m.order_id = i.order_id LEFT JOIN o ON o.id = i.order_id)";

QByteArray kindText(ProviderOutcome::Kind k) {
    switch (k) {
    case ProviderOutcome::Kind::Succeeded:
        return QByteArrayLiteral("succeeded");
    case ProviderOutcome::Kind::Failed:
        return QByteArrayLiteral("failed");
    case ProviderOutcome::Kind::Refunded:
        return QByteArrayLiteral("refunded");
    }
    return {};
}

Counter &resultCounter(const char *result) {
    return Metrics::instance().counter(
        "flashsale_payment_outcomes_total",
        "Provider outcomes applied, by result (applied, duplicate, ignored, refund_queued, "
        "unknown_order).",
        QByteArray("result=\"") + result + '"');
}

Histogram &batchRows() {
    static Histogram &h = Metrics::instance().histogram(
        "flashsale_payment_batch_rows",
        "Rows per PostgreSQL statement the payment service writes, by statement.",
        "statement=\"outcomes\"", {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
    return h;
}

} // namespace

struct PaymentOutcomes::Pending {
    ProviderOutcome outcome;
    std::function<void(const Result<OutcomeApplied> &)> done;
    Result<OutcomeApplied> result = fail(ErrorCode::Internal, QStringLiteral("not written"));
};

const char *outcomeAppliedName(OutcomeApplied applied) {
    switch (applied) {
    case OutcomeApplied::Applied:
        return "applied";
    case OutcomeApplied::Duplicate:
        return "duplicate";
    case OutcomeApplied::Ignored:
        return "ignored";
    case OutcomeApplied::RefundQueued:
        return "refund_queued";
    case OutcomeApplied::UnknownOrder:
        return "unknown_order";
    }
    return "ignored";
}

PaymentOutcomes::PaymentOutcomes(PgConnection &pg, RedisCommands &redis, QObject *parent)
    : QObject(parent)
    , m_pg(&pg)
    , m_redis(redis) {
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, &PaymentOutcomes::flush);
}

PaymentOutcomes::PaymentOutcomes(PgPool &pool, RedisCommands &redis, QObject *parent)
    : QObject(parent)
    , m_pool(&pool)
    , m_redis(redis)
    , m_maxWriting(std::max(pool.size(), 1)) {
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, &PaymentOutcomes::flush);
}

PaymentOutcomes::~PaymentOutcomes() = default;

void PaymentOutcomes::setBatching(int batchRows, int batchDelayMs) {
    m_batchRows = std::max(batchRows, 1);
    m_batchDelayMs = std::max(batchDelayMs, 0);
}

void PaymentOutcomes::query(const QByteArray &sql, const QList<QByteArray> &params,
                            std::function<void(const Result<PgResult> &)> done) {
    if (m_pool)
        m_pool->query(sql, params, std::move(done));
    else
        m_pg->query(sql, params, std::move(done));
}

void PaymentOutcomes::apply(const ProviderOutcome &outcome,
                            std::function<void(const Result<OutcomeApplied> &)> done) {
    m_queue.push_back(Pending{outcome, std::move(done)});
    if (int(m_queue.size()) >= m_batchRows)
        flush();
    else if (!m_timer.isActive())
        m_timer.start(m_batchDelayMs);
}

void PaymentOutcomes::flush() {
    // Takes up to m_batchRows outcomes, one per order (a second outcome for an order waits for
    // the next statement: one statement cannot move a row twice), and writes them, with at most
    // one statement per connection in flight: outcomes that arrive meanwhile wait and go
    // together in the next one, instead of queueing one small statement each behind it.
    while (!m_queue.empty() && m_writing < m_maxWriting) {
        auto batch = std::make_shared<std::vector<Pending>>();
        std::vector<Pending> rest;
        std::unordered_set<qint64> orders;
        for (Pending &p : m_queue) {
            if (int(batch->size()) < m_batchRows && orders.insert(p.outcome.orderId).second)
                batch->push_back(std::move(p));
            else
                rest.push_back(std::move(p));
        }
        m_queue = std::move(rest);
        write(batch);
        if (int(m_queue.size()) < m_batchRows)
            break;
    }
    if (!m_queue.empty() && m_writing < m_maxWriting && !m_timer.isActive())
        m_timer.start(m_batchDelayMs);
}

void PaymentOutcomes::write(std::shared_ptr<std::vector<Pending>> batch) {
    QList<QByteArray> ids, kinds, refs, reasons, events, sources;
    for (const Pending &p : *batch) {
        const ProviderOutcome &o = p.outcome;
        ids << QByteArray::number(o.orderId);
        kinds << kindText(o.kind);
        refs << (o.providerRef.isEmpty() ? QByteArray() : o.providerRef);
        reasons << (o.reason.isEmpty() ? QByteArray() : o.reason.toUtf8());
        events << (o.eventId.isEmpty() ? QByteArray() : o.eventId);
        sources << (o.source.isEmpty() ? QByteArray() : o.source);
    }
    batchRows().observe(double(batch->size()));
    ++m_writing;
    query(kApplySql,
          {pgArray(ids), pgArray(kinds), pgArray(refs), pgArray(reasons), pgArray(events),
           pgArray(sources)},
          [this, self = QPointer<PaymentOutcomes>(this), batch](const Result<PgResult> &r) {
              if (!self)
                  return; // destroyed (shutting down): the answer is dropped
              --m_writing;
              if (!m_queue.empty())
                  QMetaObject::invokeMethod(this, &PaymentOutcomes::flush, Qt::QueuedConnection);
              if (r) {
                  finish(batch, *r);
                  return;
              }
              if (r.error().code != ErrorCode::Unavailable && batch->size() > 1) {
                  // Something in one outcome failed the whole statement: write each alone, so
                  // the others go through and the culprit gets its own error.
                  qCWarning(lcPayment).noquote()
                      << "outcome batch of" << batch->size()
                      << "failed, writing one by one:" << r.error().message;
                  for (Pending &p : *batch)
                      write(std::make_shared<std::vector<Pending>>(1, std::move(p)));
                  return;
              }
              qCWarning(lcPayment).noquote()
                  << "cannot record" << batch->size() << "payment outcomes:" << r.error().message;
              for (Pending &p : *batch)
                  p.done(std::unexpected(r.error()));
          });
}

void PaymentOutcomes::finish(std::shared_ptr<std::vector<Pending>> batch, const PgResult &rows) {
    static const RedisScript releaseScript = RedisScript::load(QStringLiteral("release"));
    // Columns: order id, result, release, reservation id, sale id, item id, user id, quantity,
    // the payment's status before.
    QHash<qint64, const QList<QByteArray> *> byOrder;
    for (const QList<QByteArray> &row : rows.rows)
        byOrder.insert(row.value(0).toLongLong(), &row);
    auto left = std::make_shared<int>(1);
    auto done = [batch, left] {
        if (--*left > 0)
            return;
        for (Pending &p : *batch)
            p.done(p.result);
    };
    for (Pending &p : *batch) {
        const QList<QByteArray> *row = byOrder.value(p.outcome.orderId);
        if (!row) {
            p.result = fail(ErrorCode::Internal, QStringLiteral("no result row for the order"));
            continue;
        }
        const QByteArray result = row->value(1);
        OutcomeApplied applied = OutcomeApplied::Ignored;
        if (result == "applied")
            applied = OutcomeApplied::Applied;
        else if (result == "duplicate")
            applied = OutcomeApplied::Duplicate;
        else if (result == "refund_queued")
            applied = OutcomeApplied::RefundQueued;
        else if (result == "unknown")
            applied = OutcomeApplied::UnknownOrder;
        resultCounter(result == "unknown" ? "unknown_order" : result.constData()).inc();
        if (applied == OutcomeApplied::Ignored)
            qCInfo(lcPayment).noquote()
                << "order" << p.outcome.orderId << ": outcome" << kindText(p.outcome.kind) << "from"
                << p.outcome.source << "ignored: the payment is" << row->value(8);
        else if (applied == OutcomeApplied::UnknownOrder)
            qCWarning(lcPayment).noquote() << "order" << p.outcome.orderId << ": outcome"
                                           << kindText(p.outcome.kind) << "for no payment";
        p.result = applied;
        if (row->value(2) != "t")
            continue;
        // The order ended declined: its units go back, exactly once (release.lua's guard).
        const QByteArray rid = row->value(3);
        const SaleKeys k(row->value(4).toLongLong());
        const QList<QByteArray> keys{k.stock(), k.users(), k.released(), k.reservation(rid),
                                     k.meta()};
        const QList<QByteArray> args{rid, row->value(5), row->value(6), row->value(7), "cancel"};
        ++*left;
        auto attempt = std::make_shared<std::function<void(int)>>();
        *attempt = [this, keys, args, &p, done, attempt](int n) {
            m_redis.eval(releaseScript, keys, args,
                         [this, self = QPointer<PaymentOutcomes>(this), &p, done, attempt,
                          n](const Result<RedisValue> &r) {
                             if (!self)
                                 return;
                             if (r && !r->isError()) {
                                 *attempt = nullptr; // break the cycle
                                 done();
                                 return;
                             }
                             if (n >= 4) {
                                 p.result = fail(ErrorCode::Unavailable,
                                                 QStringLiteral("units of the declined order not "
                                                                "released yet: apply again"));
                                 *attempt = nullptr;
                                 done();
                                 return;
                             }
                             QTimer::singleShot(100 << n, this, [attempt, n] {
                                 if (*attempt)
                                     (*attempt)(n + 1);
                             });
                         });
        };
        (*attempt)(0);
    }
    done();
}

} // namespace flashsale
