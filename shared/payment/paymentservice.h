#pragma once

#include "kafka/kafkaclient.h"
#include "redis/redisclient.h"

#include <QObject>
#include <QTimer>

#include <memory>

namespace flashsale {

class PaymentGateway;
class PgConnection;
class PaymentOutcomes;

// Charges every order.created, once, and ends the order: paid (outbox order.paid) or, on a
// decline, cancelled with its units released (release.lua) and an order.cancelled event.
//
// Per message, in order: a payments row is claimed (UNIQUE order_id: a redelivered event finds
// it); the hold is confirmed in Redis (purchase.lua), which stops the expiry sweeper from
// cancelling it under the charge, and if the hold already ended the payment is void and
// nothing is charged; the order is marked as being paid; the gateway is called with the
// idempotency key "order-<id>", retried with backoff while it is unavailable (other orders go
// on meanwhile); the outcome is written in one statement; for a decline the units go back to
// Redis. Only then is the Kafka offset committed, so a crash at any step redelivers the event
// and the steps above find their work already done.
class PaymentService final : public QObject {
    Q_OBJECT
public:
    PaymentService(const QString &brokers, RedisClient::Endpoint redis, const QString &pgUrl,
                   std::unique_ptr<PaymentGateway> gateway, QObject *parent = nullptr);
    ~PaymentService() override;

    // Connects and joins the consumer group "payment". Returns an error when Kafka settings
    // are invalid.
    [[nodiscard]] Result<void> start();
    // Unfinished messages on this service's Kafka partitions (live stats).
    qint64 consumerLag() const;

private:
    struct Order;
    void handle(const KafkaMessage &message, std::function<void()> done);
    void begin(std::shared_ptr<Order> order, int attempt, std::function<void()> done);
    void confirm(std::shared_ptr<Order> order, int attempt, std::function<void()> done);
    void charge(std::shared_ptr<Order> order, int attempt, std::function<void()> done);
    void settle(std::shared_ptr<Order> order, bool approved, QByteArray ref, QString reason,
                std::function<void()> done);
    void release(std::shared_ptr<Order> order, std::function<void()> done);
    void sweepRefunds();
    void retry(std::function<void()> step, int attempt);

    QString m_brokers;
    std::unique_ptr<RedisClient> m_redis;
    std::unique_ptr<PgConnection> m_pg;
    std::unique_ptr<PaymentGateway> m_gateway;
    std::unique_ptr<PaymentOutcomes> m_outcomes;
    QTimer m_refundTimer;
    bool m_sweeping = false;
    KafkaConsumer *m_consumer = nullptr;
};

} // namespace flashsale
