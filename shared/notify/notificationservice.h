#pragma once

#include "kafka/kafkaclient.h"

#include <QHash>
#include <QObject>
#include <QSet>

#include <deque>
#include <functional>
#include <memory>
#include <optional>

class QTimer;

namespace flashsale {

class PgConnection;
class Gauge;
struct CatalogueNames;
struct OrderEvent;

struct Notification {
    QByteArray eventId;
    qint64 orderId = 0;
    QByteArray userId;
    QByteArray kind; // the topic: order.paid or order.cancelled
    QString subject; // one line
    QString body;    // the whole plain-text message, LF line ends (notificationtemplates.h)
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

// How long a notification waits before its next try after a transient failure: exponential from
// initialMs, capped at maxMs, with "equal jitter" (a random delay between half and all of it) so
// that the notifications a relay outage held back do not all retry in the same instant.
struct RetryPolicy {
    int initialMs = 250;
    int maxMs = 10000;
    // The delay before try attempt + 1 (attempt 0 is the first try).
    int delayMs(int attempt) const;
};

// Turns order.paid and order.cancelled into notifications (notificationtemplates.h), each
// recorded once and delivered through the sender: record, then send, then record the outcome,
// then commit the Kafka offset.
//
//   1. INSERT the row (UNIQUE event_id); a row already delivered or failed: nothing to send
//   2. send; a transient failure waits (RetryPolicy) and sends again, without holding up other
//      notifications (the consumer hands out up to 256 at once; no loop blocks)
//   3. UPDATE delivered_at (or failed_at and failure for a permanent failure) on a connection of
//      its own, so the mark never queues behind the INSERTs of other notifications; a failed
//      UPDATE is retried, never the send
//   4. the Kafka offset is committed (done()) only now
//
// Delivery is at least once, the record exactly once. The only way an email goes out twice is
// a crash (kill -9, power loss) after the relay accepted it and before step 3 committed: one
// message at most per crash (one email at a time, the next only after the last one's mark), a
// window of the relay's own processing plus about half a millisecond (docs/NOTIFICATIONS.md). The
// same event arriving twice at once (a duplicate in the topic) is sent once: the second copy waits
// for the first.
class NotificationService final : public QObject {
    Q_OBJECT
public:
    NotificationService(const QString &brokers, const QString &pgUrl,
                        std::unique_ptr<NotificationSender> sender, QObject *parent = nullptr);
    ~NotificationService() override;
    void setRetryPolicy(RetryPolicy policy) { m_retry = policy; }
    [[nodiscard]] Result<void> start();
    // Unfinished messages on this service's Kafka partitions (live stats).
    qint64 consumerLag() const;

private:
    using Done = std::function<void()>;
    void handle(const KafkaMessage &message, Done done, int attempt);
    // The sale's and item's names (cached per item): then(names), empty names for an item no
    // longer in the catalogue, nullopt when PostgreSQL failed.
    void lookUpNames(const OrderEvent &event,
                     std::function<void(const std::optional<CatalogueNames> &)> then);
    void record(const Notification &n, Done done, int attempt);
    // One email at a time, and the next only once the last one's mark committed (or it failed):
    // a crash can then find at most one email accepted and not marked.
    void send(const Notification &n, Done done, int attempt);
    void pumpSends();
    void sendNow(const Notification &n, Done done, int attempt);
    // Sets delivered_at (failure empty) or failed_at and failure of n's row, then done();
    // retried with backoff while PostgreSQL fails.
    void markOutcome(const Notification &n, const QString &failure, Done done, int attempt);
    // Runs retry after m_retry.delayMs(attempt). A send waiting this way (sendRetry) is also
    // woken as soon as another send succeeds: the relay is back, no need to sit out the delay.
    void later(int attempt, std::function<void()> retry, bool sendRetry = false);
    void wakeSendRetries();
    void finish(const Notification &n, const Done &done);

    QString m_brokers;
    std::unique_ptr<PgConnection> m_pg; // names, INSERTs
    // delivered_at / failed_at only, so a mark never queues behind INSERTs. It commits with the
    // server's synchronous_commit (on): a mark that returned survives a PostgreSQL crash, which
    // nothing else would repair (the Kafka offset is committed, no one sends or marks it again).
    std::unique_ptr<PgConnection> m_markPg;
    std::unique_ptr<NotificationSender> m_sender;
    KafkaConsumer *m_consumer = nullptr;
    RetryPolicy m_retry;
    QSet<QByteArray> m_inFlight;                          // event ids between step 1 and done()
    QHash<qint64, QStringList> m_names;                   // item id -> {sale name, item name}
    Gauge *m_waiting = nullptr;                           // flashsale_notifications_retrying
    qint64 m_waitingHere = 0;                             // this service's share of it
    QHash<QTimer *, std::function<void()>> m_sendRetries; // sends waiting for their timer
    std::deque<std::function<void()>> m_sendQueue;        // sends waiting for the one in progress
    bool m_sending = false;
};

} // namespace flashsale
