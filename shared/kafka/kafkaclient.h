#pragma once

#include "core/result.h"

#include <QByteArray>
#include <QHash>
#include <QLoggingCategory>
#include <QMap>
#include <QObject>
#include <QSocketNotifier>
#include <QStringList>
#include <QTimer>

#include <functional>
#include <set>
#include <thread>

struct rd_kafka_s;
struct rd_kafka_message_s;

namespace flashsale {

class Gauge;

Q_DECLARE_LOGGING_CATEGORY(lcKafka)

// The Kafka topics of the order lifecycle.
namespace topics {
inline constexpr const char *kOrderCreated = "order.created";
inline constexpr const char *kOrderPaid = "order.paid";
inline constexpr const char *kOrderCancelled = "order.cancelled";
// All three, for creating them (the mock cluster) or reading them all.
inline QStringList orderLifecycle() {
    return {QString::fromLatin1(kOrderCreated), QString::fromLatin1(kOrderPaid),
            QString::fromLatin1(kOrderCancelled)};
}
} // namespace topics

// librdkafka on the Qt event loop: the handle's queue signals a pipe when it has events
// (rd_kafka_queue_io_event_enable), a QSocketNotifier watches the pipe, and the events are
// served with non-blocking polls on the owning thread. A timer polls too, as a fallback.
// Shared by the producer and the consumer; not used on its own.
class KafkaLoop : public QObject {
    Q_OBJECT
public:
    ~KafkaLoop() override;

protected:
    explicit KafkaLoop(QObject *parent);
    // Watches `queue` (owned by the caller, kept alive while this loop lives); `serve` runs on
    // every wake-up.
    void watch(void *queue, std::function<void()> serve);

private:
    int m_pipe[2] = {-1, -1};
    QSocketNotifier *m_notifier = nullptr;
    QTimer m_fallback;
    std::function<void()> m_serve;
};

// An idempotent producer (enable.idempotence: acks=all, ordered retries without duplicates).
// produce() returns at once; `delivered` runs once, from the event loop, when the broker has
// the message (an empty Result) or librdkafka gave up on it (an error). Messages with the same
// key go to the same partition, in order.
class KafkaProducer final : public KafkaLoop {
    Q_OBJECT
public:
    using Delivered = std::function<void(const Result<void> &)>;
    // Where the broker stored a delivered message.
    struct Placement {
        int partition = -1;
        qint64 offset = -1;
    };
    using Placed = std::function<void(const Result<Placement> &)>;
    // One partition's high watermark (the next offset it will give), or -1 when it could not be
    // read; 0 for a partition or topic the cluster does not have.
    struct Watermark {
        QByteArray topic;
        int partition = 0;
        qint64 high = -1;
    };

    // `brokers`: bootstrap list "host:port,...". Extra librdkafka settings may be given.
    [[nodiscard]] static Result<KafkaProducer *>
    create(const QString &brokers, const QHash<QByteArray, QByteArray> &settings = {},
           QObject *parent = nullptr);
    ~KafkaProducer() override;

    void produce(const QByteArray &topic, const QByteArray &key, const QByteArray &value,
                 Delivered delivered);
    // The same, reporting the partition and offset the message got.
    void producePlaced(const QByteArray &topic, const QByteArray &key, const QByteArray &value,
                       Placed placed);
    // Asks the brokers for the high watermark of each (topic, partition) in `wanted` (`high`
    // ignored). The requests block, so they run on a thread of their own, one query at a time;
    // `done` runs on this object's thread with the answers in the same order, each waiting at most
    // `timeoutMs`. Not called if this producer is destroyed first (the destructor waits).
    void queryWatermarks(QList<Watermark> wanted, int timeoutMs,
                         std::function<void(const QList<Watermark> &)> done);

private:
    explicit KafkaProducer(QObject *parent);
    static void onDelivery(rd_kafka_s *rk, const rd_kafka_message_s *msg, void *opaque);

    rd_kafka_s *m_rk = nullptr;
    void *m_queue = nullptr;
    std::thread m_query;
};

// One message handed to a consumer's handler.
struct KafkaMessage {
    QByteArray topic;
    int partition = 0;
    qint64 offset = 0;
    QByteArray key;
    QByteArray value;
};

// A consumer in a group that commits an offset only after the handler said the message's
// effect is durable. Messages are handled concurrently (up to `maxInFlight`; beyond that the
// partitions are paused); per partition the committed offset advances only past a contiguous
// run of finished messages, so a crash redelivers every message whose effect may be missing.
// Handlers must therefore be idempotent.
class KafkaConsumer final : public KafkaLoop {
    Q_OBJECT
public:
    // Call `done` exactly once, when the message's effect is durable (or it is to be skipped).
    using Handler = std::function<void(const KafkaMessage &message, std::function<void()> done)>;

    [[nodiscard]] static Result<KafkaConsumer *>
    create(const QString &brokers, const QString &group, const QStringList &topics, Handler handler,
           int maxInFlight = 256, QObject *parent = nullptr);
    ~KafkaConsumer() override;

    // Messages on this consumer's partitions not yet finished: per assigned partition, the high
    // watermark librdkafka last saw minus the next offset to commit (partitions it has not read
    // from yet count as 0). Non-blocking (librdkafka's cached watermarks, no broker request);
    // for the live stats. Also sets flashsale_kafka_consumer_lag{group,topic,partition} for each
    // partition read from, so the gauges are as fresh as the heartbeat that calls this.
    qint64 lag() const;

private:
    explicit KafkaConsumer(QObject *parent);
    void serve();
    void finished(const QByteArray &topic, int partition, qint64 offset);
    void setPaused(bool paused);

    struct Partition {
        std::set<qint64> open; // offsets handed out and not finished
        qint64 highestSeen = -1;
        mutable Gauge *lagGauge = nullptr; // its flashsale_kafka_consumer_lag series
    };
    rd_kafka_s *m_rk = nullptr;
    void *m_queue = nullptr;
    Handler m_handler;
    QByteArray m_group;
    int m_maxInFlight = 256;
    int m_inFlight = 0;
    bool m_paused = false;
    QMap<QPair<QByteArray, int>, Partition> m_partitions;
};

// librdkafka's in-process mock cluster: the real Kafka protocol on 127.0.0.1, in memory. For
// the local stack (flashsale-kafka-mock) and for tests; production uses real brokers.
class KafkaMockCluster {
public:
    [[nodiscard]] static Result<KafkaMockCluster *> create(int brokers, const QStringList &topics,
                                                           int partitions);
    ~KafkaMockCluster();

    QString bootstraps() const;
    // The next `count` requests of this API (0 = Produce, 1 = Fetch, 8 = OffsetCommit, ...)
    // fail with `error` (an rd_kafka_resp_err_t, e.g. 6 NOT_LEADER_FOR_PARTITION).
    void pushRequestErrors(int apiKey, int count, int error);
    // Broker `id` (1..brokers) stops or resumes answering: its connections are closed and new
    // ones refused while it is down. False when there is no such broker.
    bool setBrokerDown(int id, bool down);
    // Broker `id` answers every request `ms` milliseconds late (0 = at once).
    bool setBrokerRtt(int id, int ms);
    // The rd_kafka_resp_err_t named `name` ("NOT_LEADER_FOR_PARTITION", "_TRANSPORT", with or
    // without the RD_KAFKA_RESP_ERR_ prefix, or a number); fails on an unknown name.
    [[nodiscard]] static Result<int> errorCode(const QString &name);

private:
    KafkaMockCluster() = default;
    rd_kafka_s *m_rk = nullptr;
    void *m_cluster = nullptr;
};

} // namespace flashsale
