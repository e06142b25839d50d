#include "paymentservice.h"

#include "booking/salekeys.h"
#include "booking/streamentry.h"
#include "core/logging.h"
#include "metrics/metrics.h"
#include "payment/httpgateway.h"
#include "payment/paymentgateway.h"
#include "payment/paymentoutcomes.h"
#include "pg/pgarray.h"
#include "pg/pgpool.h"
#include "redis/redisscript.h"

#include <QJsonDocument>
#include <QJsonObject>

#include <unordered_set>

namespace flashsale {

Q_LOGGING_CATEGORY(lcPayment, "flashsale.payment", QtInfoMsg)

namespace {

Counter &outcomeCounter(const char *outcome) {
    return Metrics::instance().counter("flashsale_payments_total", "Payments ended, by outcome.",
                                       QByteArray("outcome=\"") + outcome + '"');
}

Gauge &inflightGauge() {
    static Gauge &g = Metrics::instance().gauge(
        "flashsale_payment_inflight",
        "order.created messages this payment process holds: claimed, charging or being "
        "recorded (at most --payment-window).");
    return g;
}

Histogram &claimBatchRows() {
    static Histogram &h = Metrics::instance().histogram(
        "flashsale_payment_batch_rows",
        "Rows per PostgreSQL statement the payment service writes, by statement.",
        "statement=\"claims\"", {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024});
    return h;
}

// Claims a payments row per order, in one statement: $1 order ids, $2 amounts, $3 the provider.
// An order that does not exist gets no row (and none comes back: the caller skips it); an order
// claimed before (a redelivered event) counts another attempt and answers its status. Rows are
// inserted in order id order, as PaymentOutcomes locks them, so the two never deadlock.
const QByteArray kClaimSql = R"(
INSERT INTO payments (order_id, status, amount_cents, provider)
SELECT i.order_id, 'charging', i.amount_cents, $3
FROM unnest($1::bigint[], $2::bigint[]) AS i (order_id, amount_cents)
WHERE EXISTS (SELECT 1 FROM orders o WHERE o.id = i.order_id)
ORDER BY i.order_id
ON CONFLICT (order_id) DO UPDATE SET attempts = payments.attempts + 1
RETURNING order_id, status)";

// The Kafka consumer may hold this many windows of messages before it pauses its partitions.
// More than one: librdkafka (2.0) takes about a second to fetch again after a pause, so with a
// consumer bound of one window the service idled most of each second (512 orders/s at any
// provider latency, measured); the messages held beyond the window wait in memory, and after a
// crash they are redelivered like any other uncommitted message.
constexpr int kConsumerWindows = 16;

} // namespace

// An order as its order.created event describes it: the row the worker wrote, and its id; and
// the Kafka message's `done`.
struct PaymentService::Order : OrderRow {
    qint64 id = 0;
    int attempt = 0; // of the steps before the charge
    std::function<void()> done;
};

PaymentService::PaymentService(const QString &brokers, RedisTarget redis, const QString &pgUrl,
                               std::unique_ptr<PaymentGateway> gateway, QObject *parent)
    : QObject(parent)
    , m_brokers(brokers)
    , m_pgUrl(pgUrl)
    , m_redis(createRedis(redis, std::chrono::milliseconds(2000)))
    , m_gateway(std::move(gateway)) {
    m_claimTimer.setSingleShot(true);
    connect(&m_claimTimer, &QTimer::timeout, this, &PaymentService::flushClaims);
    m_startedTimer.setSingleShot(true);
    connect(&m_startedTimer, &QTimer::timeout, this, &PaymentService::flushStarted);
    connect(&m_refundTimer, &QTimer::timeout, this, &PaymentService::sweepRefunds);
}

PaymentService::~PaymentService() {
    // No message is finished from here on (they stay uncommitted and are redelivered): the
    // callbacks that the connections below answer as they close must not reach the consumer.
    m_stopping = true;
    m_outcomes.reset(); // drops its pending answers
    m_pool.reset();
    m_redis.reset();
    delete m_consumer;
}

Result<void> PaymentService::start() {
    m_redis->setMetricsName("payment");
    m_pool = std::make_unique<PgPool>(m_pgUrl, m_options.pgPool);
    m_pool->setMetricsPool("payment");
    m_redis->start();
    m_pool->start();
    m_outcomes = std::make_unique<PaymentOutcomes>(*m_pool, *m_redis);
    m_outcomes->setBatching(m_options.batchRows, m_options.batchDelayMs);
    // Refunds owed from before a restart, and those a webhook queued in another process.
    m_refundTimer.start(m_options.refundSweepMs);
    auto c = KafkaConsumer::create(
        m_brokers, QStringLiteral("payment"), {QString::fromLatin1(topics::kOrderCreated)},
        [this](const KafkaMessage &m, std::function<void()> done) { handle(m, std::move(done)); },
        m_options.window * kConsumerWindows);
    if (!c)
        return std::unexpected(c.error());
    m_consumer = *c;
    qCInfo(lcPayment).noquote() << "payment service started with the" << m_gateway->name()
                                << "gateway; window" << m_options.window << "charges, pool"
                                << m_options.pgPool << "connections, batches of"
                                << m_options.batchRows;
    return {};
}

void PaymentService::retry(std::function<void()> step, int attempt) {
    const int delay = std::min(100 << std::min(attempt, 8), 10000);
    QTimer::singleShot(delay, this, std::move(step));
}

void PaymentService::handle(const KafkaMessage &message, std::function<void()> done) {
    const QJsonObject e = QJsonDocument::fromJson(message.value).object();
    auto order = std::make_shared<Order>();
    order->id = e.value(QStringLiteral("order_id")).toInteger();
    order->reservationId = e.value(QStringLiteral("reservation_id")).toString().toUtf8();
    order->saleId = e.value(QStringLiteral("sale_id")).toInteger();
    order->itemId = e.value(QStringLiteral("item_id")).toInteger();
    order->userId = e.value(QStringLiteral("user_id")).toString().toUtf8();
    order->quantity = e.value(QStringLiteral("quantity")).toInt();
    order->amountCents = e.value(QStringLiteral("amount_cents")).toInteger();
    if (order->id <= 0 || order->saleId <= 0 || order->reservationId.isEmpty()) {
        qCWarning(lcPayment) << "skipping a malformed order.created at" << message.partition
                             << message.offset;
        done();
        return;
    }
    order->done = std::move(done);
    if (m_admitted >= m_options.window) {
        m_waiting.push_back(std::move(order));
        return;
    }
    admit(std::move(order));
}

void PaymentService::admit(OrderPtr order) {
    ++m_admitted;
    inflightGauge().add(1);
    claim(std::move(order));
}

void PaymentService::finish(OrderPtr order) {
    if (m_stopping)
        return;
    --m_admitted;
    inflightGauge().add(-1);
    std::exchange(order->done, {})();
    if (!m_waiting.empty() && m_admitted < m_options.window) {
        OrderPtr next = std::move(m_waiting.front());
        m_waiting.pop_front();
        admit(std::move(next));
    }
}

void PaymentService::claim(OrderPtr order) {
    // 1. Claim the payment row, or find the one an earlier delivery made: queued, and written
    // with the other orders' claims in one statement.
    m_claims.push_back(std::move(order));
    if (int(m_claims.size()) >= m_options.batchRows)
        flushClaims();
    else if (!m_claimTimer.isActive())
        m_claimTimer.start(m_options.batchDelayMs);
}

void PaymentService::flushClaims() {
    // One row per order per statement (ON CONFLICT DO UPDATE cannot touch a row twice): a
    // redelivery of an order already queued waits for the next statement.
    while (!m_claims.empty()) {
        std::vector<OrderPtr> batch, rest;
        std::unordered_set<qint64> ids;
        for (OrderPtr &o : m_claims) {
            if (int(batch.size()) < m_options.batchRows && ids.insert(o->id).second)
                batch.push_back(std::move(o));
            else
                rest.push_back(std::move(o));
        }
        m_claims = std::move(rest);
        writeClaims(std::move(batch));
        if (int(m_claims.size()) < m_options.batchRows)
            break;
    }
    if (!m_claims.empty() && !m_claimTimer.isActive())
        m_claimTimer.start(m_options.batchDelayMs);
}

void PaymentService::writeClaims(std::vector<OrderPtr> batch) {
    QList<QByteArray> ids, amounts;
    for (const OrderPtr &o : batch) {
        ids << QByteArray::number(o->id);
        amounts << QByteArray::number(o->amountCents);
    }
    claimBatchRows().observe(double(batch.size()));
    m_pool->query(kClaimSql, {pgArray(ids), pgArray(amounts), m_gateway->name().toUtf8()},
                  [this, batch = std::move(batch)](const Result<PgResult> &r) {
                      if (!r) {
                          qCWarning(lcPayment).noquote()
                              << "cannot claim" << batch.size() << "payments:" << r.error().message;
                          for (const OrderPtr &o : batch) {
                              const int attempt = ++o->attempt;
                              retry([this, o] { claim(o); }, attempt);
                          }
                          return;
                      }
                      QHash<qint64, QByteArray> status;
                      for (const QList<QByteArray> &row : r->rows)
                          status.insert(row.value(0).toLongLong(), row.value(1));
                      for (const OrderPtr &o : batch) {
                          const auto it = status.constFind(o->id);
                          if (it == status.constEnd()) {
                              // No such order: an event this service cannot act on. Retrying would
                              // block its partition forever; skip it, loudly.
                              qCCritical(lcPayment).noquote()
                                  << "skipping order.created for unknown order" << o->id;
                              outcomeCounter("skipped").inc();
                              finish(o);
                              continue;
                          }
                          claimed(o, *it);
                      }
                  });
}

void PaymentService::claimed(OrderPtr order, const QByteArray &status) {
    if (status == "captured" || status == "refunded" || status == "refund_due"
        || status == "void") {
        finish(order); // ended by an earlier delivery (or a webhook)
        return;
    }
    if (status == "declined") {
        release(order); // make sure the units went back
        return;
    }
    confirm(order);
}

void PaymentService::confirm(OrderPtr order) {
    // 2. Confirm the hold in Redis: from now on the expiry sweeper leaves it alone.
    static const RedisScript purchase = RedisScript::load(QStringLiteral("purchase"));
    const SaleKeys k(order->saleId);
    m_redis->eval(purchase, {k.reservation(order->reservationId), k.stream()},
                  {order->reservationId}, [this, order](const Result<RedisValue> &c) {
                      if (!c || c->isError()) {
                          const int attempt = ++order->attempt;
                          retry([this, order] { confirm(order); }, attempt);
                          return;
                      }
                      const QByteArray outcome = c->at(0).bytes();
                      if (outcome != "confirmed") {
                          voidPayment(order, "hold ended before payment: " + outcome);
                          return;
                      }
                      markStarted(order->id);
                      charge(order, 0);
                  });
}

void PaymentService::voidPayment(OrderPtr order, const QByteArray &why) {
    // The hold ended (expired) before the payment began: charge nothing.
    m_pool->query("UPDATE payments SET status = 'void', reason = $2, updated_at = now() "
                  "WHERE order_id = $1 AND status = 'charging'",
                  {QByteArray::number(order->id), why},
                  [this, order, why](const Result<PgResult> &u) {
                      if (!u) {
                          const int attempt = ++order->attempt;
                          retry([this, order, why] { voidPayment(order, why); }, attempt);
                          return;
                      }
                      outcomeCounter("void").inc();
                      finish(order);
                  });
}

void PaymentService::markStarted(qint64 orderId) {
    // orders.payment_started_at, for many orders in one statement. Nothing waits for it: the
    // hold is safe from the expiry sweeper once confirmed in Redis (release.lua refuses it).
    m_started << QByteArray::number(orderId);
    if (int(m_started.size()) >= m_options.batchRows)
        flushStarted();
    else if (!m_startedTimer.isActive())
        m_startedTimer.start(m_options.batchDelayMs);
}

const QByteArray &PaymentService::markStartedSql() {
    // The rows are locked in id order, as the worker's confirmations lock the same orders:
    // two statements locking overlapping rows in different orders deadlock (40P01).
    static const QByteArray sql = R"(
WITH l AS (
    SELECT id FROM orders WHERE id = ANY ($1::bigint[]) AND payment_started_at IS NULL
    ORDER BY id
    FOR UPDATE)
UPDATE orders o SET payment_started_at = now()
FROM l
WHERE o.id = l.id AND o.payment_started_at IS NULL)";
    return sql;
}

void PaymentService::flushStarted() {
    if (m_started.isEmpty())
        return;
    const QList<QByteArray> ids = std::exchange(m_started, {});
    m_pool->query(markStartedSql(), {pgArray(ids)}, [this, ids](const Result<PgResult> &r) {
        if (r)
            return;
        qCWarning(lcPayment).noquote()
            << "cannot mark" << ids.size() << "payments started (retrying):" << r.error().message;
        QTimer::singleShot(500, this, [this, ids] {
            m_started << ids;
            flushStarted();
        });
    });
}

void PaymentService::charge(OrderPtr order, int attempt) {
    // 3. Charge, under one idempotency key per order, until the provider answers.
    ChargeRequest req{
        order->id, order->userId, order->amountCents, "order-" + QByteArray::number(order->id), {}};
    m_gateway->charge(req, [this, order, attempt](const Result<ChargeOutcome> &r) {
        if (!r && r.error().code == ErrorCode::Conflict) {
            // The provider holds this key for another request (409 idempotency-mismatch): a
            // new key could charge twice, and retrying the same one is refused for ever. The
            // order stays 'charging' (its hold confirmed), the message is finished so that the
            // partition goes on, and provider reconciliation settles it from the provider's
            // record (docs/PAYMENTS.md).
            qCCritical(lcPayment).noquote()
                << "order" << order->id << ": the provider refused the charge's key, left for "
                << "provider reconciliation:" << r.error().message;
            outcomeCounter("key_conflict").inc();
            finish(order);
            return;
        }
        if (!r && (r.error().code == ErrorCode::Invalid || r.error().code == ErrorCode::NotFound)) {
            // A final refusal (4xx other than 402, 409, 429): nothing was charged, and asking
            // again gets the same answer. The order ends as a decline, its units back on sale.
            qCWarning(lcPayment).noquote()
                << "order" << order->id
                << ": the provider refused the charge:" << r.error().message;
            settle(order, false, {}, QStringLiteral("refused by the provider"));
            return;
        }
        if (!r) {
            if (attempt % 10 == 0)
                qCWarning(lcPayment).noquote() << "order" << order->id << "charge attempt"
                                               << attempt + 1 << ":" << r.error().message;
            // Not before the pause a 429 or 503 asked for (HttpGateway holds calls until then).
            const qint64 wait = HttpGateway::retryAfterMs(r.error()).value_or(0);
            const int backoff = std::min(100 << std::min(attempt + 1, 8), 10000);
            QTimer::singleShot(int(std::max<qint64>(backoff, std::min<qint64>(wait, 60000))), this,
                               [this, order, attempt] { charge(order, attempt + 1); });
            return;
        }
        settle(order, r->approved, r->providerRef, r->declineReason);
    });
}

void PaymentService::settle(OrderPtr order, bool approved, QByteArray ref, QString reason) {
    // 4. Record the answer: once, whatever a webhook for the same payment did meanwhile.
    ProviderOutcome outcome;
    outcome.kind = approved ? ProviderOutcome::Kind::Succeeded : ProviderOutcome::Kind::Failed;
    outcome.orderId = order->id;
    outcome.providerRef = ref;
    outcome.reason = reason;
    outcome.source = "api";
    m_outcomes->apply(outcome, [this, order, approved, ref,
                                reason](const Result<OutcomeApplied> &r) {
        if (!r) {
            qCWarning(lcPayment).noquote()
                << "order" << order->id << ": cannot record payment:" << r.error().message;
            retry([this, order, approved, ref, reason] { settle(order, approved, ref, reason); },
                  3);
            return;
        }
        if (*r == OutcomeApplied::RefundQueued) {
            // Charged, but the order is no longer pending: the refund sweep gives it back.
            outcomeCounter("refund_due").inc();
            sweepRefunds();
        } else if (*r == OutcomeApplied::Applied) {
            outcomeCounter(approved ? "captured" : "declined").inc();
        }
        finish(order);
    });
}

void PaymentService::sweepRefunds() {
    // Every payment owed back ('refund_due'), refunded under one idempotency key per order, then
    // recorded as a Refunded outcome. One sweep at a time (a request during one runs another
    // after it); a refund that fails waits for the next sweep.
    if (m_sweeping) {
        m_sweepAgain = true;
        return;
    }
    m_sweeping = true;
    m_sweepAgain = false;
    auto end = [this] {
        m_sweeping = false;
        if (std::exchange(m_sweepAgain, false))
            QTimer::singleShot(0, this, &PaymentService::sweepRefunds);
    };
    m_pool->query(
        "SELECT y.order_id, y.provider_ref, y.amount_cents, o.user_id FROM payments y "
        "JOIN orders o ON o.id = y.order_id WHERE y.status = 'refund_due' ORDER BY y.order_id "
        "LIMIT 500",
        {}, [this, end](const Result<PgResult> &r) {
            if (!r || r->rows.isEmpty()) {
                if (!r)
                    qCWarning(lcPayment).noquote()
                        << "refund sweep: cannot read payments:" << r.error().message;
                end();
                return;
            }
            auto left = std::make_shared<int>(int(r->rows.size()));
            auto next = [left, end] {
                if (--*left == 0)
                    end();
            };
            for (const QList<QByteArray> &row : r->rows) {
                const qint64 orderId = row.value(0).toLongLong();
                ChargeRequest req{orderId, row.value(3), row.value(2).toLongLong(),
                                  "refund-order-" + QByteArray::number(orderId), row.value(1)};
                m_gateway->refund(req, [this, req, next](const Result<void> &refunded) {
                    if (!refunded) {
                        qCWarning(lcPayment).noquote()
                            << "order" << req.orderId
                            << ": refund failed (next sweep retries):" << refunded.error().message;
                        next();
                        return;
                    }
                    ProviderOutcome outcome;
                    outcome.kind = ProviderOutcome::Kind::Refunded;
                    outcome.orderId = req.orderId;
                    outcome.providerRef = req.providerRef;
                    outcome.source = "api";
                    m_outcomes->apply(outcome, [next](const Result<OutcomeApplied> &a) {
                        if (a && *a == OutcomeApplied::Applied)
                            outcomeCounter("refunded").inc();
                        next();
                    });
                });
            }
        });
}

void PaymentService::release(OrderPtr order) {
    static const RedisScript releaseScript = RedisScript::load(QStringLiteral("release"));
    const SaleKeys k(order->saleId);
    m_redis->eval(
        releaseScript,
        {k.stock(), k.users(), k.released(), k.reservation(order->reservationId), k.meta()},
        {order->reservationId, QByteArray::number(order->itemId), order->userId,
         QByteArray::number(order->quantity), "cancel"},
        [this, order](const Result<RedisValue> &r) {
            if (!r || r->isError()) {
                retry([this, order] { release(order); }, 3);
                return;
            }
            finish(order);
        });
}

qint64 PaymentService::consumerLag() const {
    return m_consumer ? m_consumer->lag() : 0;
}

} // namespace flashsale
