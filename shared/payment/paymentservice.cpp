#include "paymentservice.h"

#include "booking/salekeys.h"
#include "booking/streamentry.h"
#include "core/logging.h"
#include "metrics/metrics.h"
#include "payment/paymentgateway.h"
#include "payment/paymentoutcomes.h"
#include "pg/pgconnection.h"
#include "redis/redisscript.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QTimer>

namespace flashsale {

Q_LOGGING_CATEGORY(lcPayment, "flashsale.payment", QtInfoMsg)

namespace {

Counter &outcomeCounter(const char *outcome) {
    return Metrics::instance().counter("flashsale_payments_total", "Payments ended, by outcome.",
                                       QByteArray("outcome=\"") + outcome + '"');
}

} // namespace

// An order as its order.created event describes it: the row the worker wrote, and its id.
struct PaymentService::Order : OrderRow {
    qint64 id = 0;
};

PaymentService::PaymentService(const QString &brokers, RedisClient::Endpoint redis,
                               const QString &pgUrl, std::unique_ptr<PaymentGateway> gateway,
                               QObject *parent)
    : QObject(parent)
    , m_brokers(brokers)
    , m_redis(std::make_unique<RedisClient>(std::move(redis), std::chrono::milliseconds(2000)))
    , m_pg(std::make_unique<PgConnection>(pgUrl))
    , m_gateway(std::move(gateway)) {}

PaymentService::~PaymentService() {
    delete m_consumer;
}

Result<void> PaymentService::start() {
    m_redis->setMetricsName("payment");
    m_pg->setMetricsPool("payment");
    m_redis->start();
    m_pg->start();
    m_outcomes = std::make_unique<PaymentOutcomes>(*m_pg, *m_redis);
    // Refunds owed from before a restart, and any a webhook queued in another process.
    connect(&m_refundTimer, &QTimer::timeout, this, &PaymentService::sweepRefunds);
    m_refundTimer.start(10000);
    auto c = KafkaConsumer::create(
        m_brokers, QStringLiteral("payment"), {QString::fromLatin1(topics::kOrderCreated)},
        [this](const KafkaMessage &m, std::function<void()> done) { handle(m, std::move(done)); });
    if (!c)
        return std::unexpected(c.error());
    m_consumer = *c;
    qCInfo(lcPayment).noquote() << "payment service started with the" << m_gateway->name()
                                << "gateway";
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
    begin(order, 0, std::move(done));
}

void PaymentService::begin(std::shared_ptr<Order> order, int attempt, std::function<void()> done) {
    // 1. Claim the payment row, or find the one an earlier delivery made.
    m_pg->query(
        "INSERT INTO payments (order_id, status, amount_cents, provider) VALUES ($1, 'charging', "
        "$2, $3) "
        "ON CONFLICT (order_id) DO UPDATE SET attempts = payments.attempts + 1 RETURNING status",
        {QByteArray::number(order->id), QByteArray::number(order->amountCents),
         m_gateway->name().toUtf8()},
        [this, order, attempt, done](const Result<PgResult> &r) {
            if (!r && r.error().code == ErrorCode::Conflict) {
                // No such order (a foreign-key violation): an event this service cannot act
                // on. Retrying would block its partition forever; skip it, loudly.
                qCCritical(lcPayment).noquote() << "skipping order.created for unknown order"
                                                << order->id << ":" << r.error().message;
                outcomeCounter("skipped").inc();
                done();
                return;
            }
            if (!r) {
                qCWarning(lcPayment).noquote() << "order" << order->id << ":" << r.error().message;
                retry([this, order, attempt, done] { begin(order, attempt + 1, done); },
                      attempt + 1);
                return;
            }
            const QByteArray status = r->rows.value(0).value(0);
            if (status == "captured" || status == "refunded" || status == "refund_due"
                || status == "void") {
                done(); // ended by an earlier delivery
                return;
            }
            if (status == "declined") {
                release(order, done); // make sure the units went back
                return;
            }
            confirm(order, attempt, done);
        });
}

void PaymentService::confirm(std::shared_ptr<Order> order, int attempt,
                             std::function<void()> done) {
    // 2. Confirm the hold in Redis: from now on the expiry sweeper leaves it alone.
    static const RedisScript purchase = RedisScript::load(QStringLiteral("purchase"));
    const SaleKeys k(order->saleId);
    m_redis->eval(
        purchase, {k.reservation(order->reservationId), k.stream()}, {order->reservationId},
        [this, order, attempt, done](const Result<RedisValue> &c) {
            if (!c || c->isError()) {
                retry([this, order, attempt, done] { begin(order, attempt + 1, done); },
                      attempt + 1);
                return;
            }
            const QByteArray outcome = c->at(0).bytes();
            if (outcome != "confirmed") {
                // The hold ended (expired) before the payment began: charge nothing.
                outcomeCounter("void").inc();
                m_pg->query(
                    "UPDATE payments SET status = 'void', reason = $2, updated_at = now() "
                    "WHERE order_id = $1 AND status = 'charging'",
                    {QByteArray::number(order->id), "hold ended before payment: " + outcome},
                    [this, order, attempt, done](const Result<PgResult> &u) {
                        if (!u)
                            retry([this, order, attempt, done] { begin(order, attempt + 1, done); },
                                  attempt + 1);
                        else
                            done();
                    });
                return;
            }
            m_pg->query("UPDATE orders SET payment_started_at = coalesce(payment_started_at, "
                        "now()) WHERE id = $1",
                        {QByteArray::number(order->id)}, [](const Result<PgResult> &) {});
            charge(order, 0, done);
        });
}

void PaymentService::charge(std::shared_ptr<Order> order, int attempt, std::function<void()> done) {
    // 3. Charge, under one idempotency key per order, until the provider answers.
    ChargeRequest req{
        order->id, order->userId, order->amountCents, "order-" + QByteArray::number(order->id), {}};
    m_gateway->charge(req, [this, order, attempt, done](const Result<ChargeOutcome> &r) {
        if (!r) {
            if (attempt % 10 == 0)
                qCWarning(lcPayment).noquote() << "order" << order->id << "charge attempt"
                                               << attempt + 1 << ":" << r.error().message;
            retry([this, order, attempt, done] { charge(order, attempt + 1, done); }, attempt + 1);
            return;
        }
        settle(order, r->approved, r->providerRef, r->declineReason, done);
    });
}

void PaymentService::settle(std::shared_ptr<Order> order, bool approved, QByteArray ref,
                            QString reason, std::function<void()> done) {
    // 4. Record the answer: once, whatever a webhook for the same payment did meanwhile.
    ProviderOutcome outcome;
    outcome.kind = approved ? ProviderOutcome::Kind::Succeeded : ProviderOutcome::Kind::Failed;
    outcome.orderId = order->id;
    outcome.providerRef = ref;
    outcome.reason = reason;
    outcome.source = "api";
    m_outcomes->apply(
        outcome, [this, order, approved, ref, reason, done](const Result<OutcomeApplied> &r) {
            if (!r) {
                qCWarning(lcPayment).noquote()
                    << "order" << order->id << ": cannot record payment:" << r.error().message;
                retry([this, order, approved, ref, reason,
                       done] { settle(order, approved, ref, reason, done); },
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
            done();
        });
}

void PaymentService::sweepRefunds() {
    // Every payment owed back ('refund_due'), refunded under one idempotency key per order, then
    // recorded as a Refunded outcome. One sweep at a time; a failed refund waits for the next.
    if (m_sweeping)
        return;
    m_sweeping = true;
    m_pg->query(
        "SELECT y.order_id, y.provider_ref, y.amount_cents, o.user_id FROM payments y "
        "JOIN orders o ON o.id = y.order_id WHERE y.status = 'refund_due' ORDER BY y.order_id "
        "LIMIT 200",
        {}, [this](const Result<PgResult> &r) {
            if (!r || r->rows.isEmpty()) {
                m_sweeping = false;
                return;
            }
            auto left = std::make_shared<int>(int(r->rows.size()));
            for (const QList<QByteArray> &row : r->rows) {
                const qint64 orderId = row.value(0).toLongLong();
                ChargeRequest req{orderId, row.value(3), row.value(2).toLongLong(),
                                  "refund-order-" + QByteArray::number(orderId), row.value(1)};
                m_gateway->refund(req, [this, req, left](const Result<void> &done) {
                    auto next = [this, left] {
                        if (--*left == 0)
                            m_sweeping = false;
                    };
                    if (!done) {
                        qCWarning(lcPayment).noquote()
                            << "order" << req.orderId << ": refund failed:" << done.error().message;
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

void PaymentService::release(std::shared_ptr<Order> order, std::function<void()> done) {
    static const RedisScript releaseScript = RedisScript::load(QStringLiteral("release"));
    const SaleKeys k(order->saleId);
    m_redis->eval(
        releaseScript,
        {k.stock(), k.users(), k.released(), k.reservation(order->reservationId), k.meta()},
        {order->reservationId, QByteArray::number(order->itemId), order->userId,
         QByteArray::number(order->quantity), "cancel"},
        [this, order, done](const Result<RedisValue> &r) {
            if (!r || r->isError()) {
                retry([this, order, done] { release(order, done); }, 3);
                return;
            }
            done();
        });
}

qint64 PaymentService::consumerLag() const {
    return m_consumer ? m_consumer->lag() : 0;
}

} // namespace flashsale
