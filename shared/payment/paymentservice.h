#pragma once

#include "kafka/kafkaclient.h"
#include "redis/redisconnect.h"

#include <QObject>
#include <QTimer>

#include <deque>
#include <memory>
#include <vector>

namespace flashsale {

class PaymentGateway;
class PaymentOutcomes;
class PgPool;

// How much a payment process does at once (--payment-window, --payment-pg-pool,
// --payment-batch).
struct PaymentOptions {
    int window = 512;          // order.created messages in hand at once (charges in flight)
    int pgPool = 4;            // PostgreSQL connections
    int batchRows = 256;       // rows per claim or outcome statement
    int batchDelayMs = 2;      // how long the first row of a statement waits for others
    int refundSweepMs = 10000; // how often 'refund_due' payments are looked for
};

// Charges every order.created, once, and ends the order: paid (outbox order.paid) or, on a
// decline, cancelled with its units released (release.lua) and an order.cancelled event.
//
// Per message, in order: a payments row is claimed (UNIQUE order_id: a redelivered event finds
// it); the hold is confirmed in Redis (purchase.lua), which stops the expiry sweeper from
// cancelling it under the charge, and if the hold already ended the payment is void and
// nothing is charged; the order is marked as being paid; the gateway is called with the
// idempotency key "order-<id>", retried with backoff while it is unavailable (other orders go
// on meanwhile); the answer is applied by PaymentOutcomes (once, whatever a webhook did
// meanwhile). Only then is the Kafka offset committed, so a crash at any step redelivers the
// event and the steps above find their work already done (I5: the row is claimed before any
// charge, and every charge of an order uses the same key, so the provider charges it once).
//
// Throughput: up to `window` orders are in the steps above at once (charges in flight); the
// messages received beyond it wait in memory, and the Kafka consumer pauses its partitions when
// it holds 16 windows (backpressure: librdkafka takes about a second to fetch again after a
// pause, which the waiting messages cover). Claims and outcomes of many orders are written as
// one statement each (up to `batchRows`, collected for `batchDelayMs`), on a pool of `pgPool`
// connections. Metrics: flashsale_payment_inflight (orders in the window),
// flashsale_payment_batch_rows{statement}.
//
// Refunds: a payment PaymentOutcomes left 'refund_due' (captured for an order that is no longer
// pending) is refunded under the key "refund-order-<id>" and recorded as a Refunded outcome, by
// a sweep that runs every `refundSweepMs` and whenever an outcome queued a refund.
class PaymentService final : public QObject {
    Q_OBJECT
public:
    PaymentService(const QString &brokers, RedisTarget redis, const QString &pgUrl,
                   std::unique_ptr<PaymentGateway> gateway, QObject *parent = nullptr);
    ~PaymentService() override;

    // Call before start().
    void setOptions(const PaymentOptions &options) { m_options = options; }

    // Sets orders.payment_started_at on the orders $1 (bigint[]) that have none, locking them
    // in id order as every statement that updates many orders does.
    static const QByteArray &markStartedSql();

    // Connects and joins the consumer group "payment". Returns an error when Kafka settings
    // are invalid.
    [[nodiscard]] Result<void> start();
    // Unfinished messages on this service's Kafka partitions (live stats).
    qint64 consumerLag() const;

private:
    struct Order;
    using OrderPtr = std::shared_ptr<Order>;
    void handle(const KafkaMessage &message, std::function<void()> done);
    void admit(OrderPtr order);
    void claim(OrderPtr order);
    void flushClaims();
    void writeClaims(std::vector<OrderPtr> batch);
    void claimed(OrderPtr order, const QByteArray &status);
    void confirm(OrderPtr order);
    void markStarted(qint64 orderId);
    void flushStarted();
    void voidPayment(OrderPtr order, const QByteArray &why);
    void charge(OrderPtr order, int attempt);
    void settle(OrderPtr order, bool approved, QByteArray ref, QString reason);
    void release(OrderPtr order);
    void finish(OrderPtr order);
    void retry(std::function<void()> step, int attempt);
    void sweepRefunds();

    QString m_brokers;
    QString m_pgUrl;
    PaymentOptions m_options;
    std::unique_ptr<RedisCommands> m_redis;
    std::unique_ptr<PgPool> m_pool;
    std::unique_ptr<PaymentGateway> m_gateway;
    std::unique_ptr<PaymentOutcomes> m_outcomes;
    KafkaConsumer *m_consumer = nullptr;
    std::deque<OrderPtr> m_waiting; // received, waiting for room in the window
    int m_admitted = 0;             // in the window: claimed, charging or being recorded
    std::vector<OrderPtr> m_claims;
    QTimer m_claimTimer;
    QList<QByteArray> m_started;
    QTimer m_startedTimer;
    QTimer m_refundTimer;
    bool m_sweeping = false;
    bool m_stopping = false; // in the destructor
    bool m_sweepAgain = false;
};

} // namespace flashsale
