#pragma once

#include "kafka/kafkaclient.h"

#include <QObject>

#include <functional>
#include <memory>

namespace flashsale {

class PgConnection;

struct Notification {
    QByteArray eventId;
    qint64 orderId = 0;
    QByteArray userId;
    QByteArray kind; // the topic: order.paid or order.cancelled
    QString body;
};

// Where notifications go. send() answers once, from the event loop. An error with
// ErrorCode::Invalid is permanent (the recipient refused for good): NotificationService records
// it as failed and does not send it again; any other error is retried with backoff.
class NotificationSender {
public:
    virtual ~NotificationSender() = default;
    virtual void send(const Notification &n, std::function<void(const Result<void> &)> done) = 0;
};

// The default sender: one log line per notification (category flashsale.notify).
class LogSender final : public NotificationSender {
public:
    void send(const Notification &n, std::function<void(const Result<void> &)> done) override;
};

// Turns order.paid and order.cancelled into notifications, each recorded once (UNIQUE
// event_id) and delivered through the sender; delivered_at is set after the sender succeeded,
// and the offset is committed after that. A permanent failure sets failed_at and failure instead. A
// crash between sending and recording the delivery sends that one notification again: delivery is
// at least once, the record exactly once.
class NotificationService final : public QObject {
    Q_OBJECT
public:
    NotificationService(const QString &brokers, const QString &pgUrl,
                        std::unique_ptr<NotificationSender> sender, QObject *parent = nullptr);
    ~NotificationService() override;
    [[nodiscard]] Result<void> start();
    // Unfinished messages on this service's Kafka partitions (live stats).
    qint64 consumerLag() const;

private:
    void handle(const KafkaMessage &message, std::function<void()> done, int attempt);
    // Sets failed_at and failure of n's row, then done(); again() when PostgreSQL failed.
    void recordFailure(const Notification &n, const QString &failure, std::function<void()> done,
                       std::function<void()> again);

    QString m_brokers;
    std::unique_ptr<PgConnection> m_pg;
    std::unique_ptr<NotificationSender> m_sender;
    KafkaConsumer *m_consumer = nullptr;
};

} // namespace flashsale
