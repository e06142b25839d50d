#include "kafkaread.h"

#include <QDeadlineTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <QThread>

#include <algorithm>

#include <librdkafka/rdkafka.h>

#include <memory>

namespace flashsale::bench {

namespace {

constexpr int kPollMs = 200;

struct KafkaDeleter {
    void operator()(rd_kafka_t *rk) const {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
};

// Partitions of `topic`; 0 when the cluster does not know it. Retries while the metadata says
// a leader is not there yet (a fresh cluster).
[[nodiscard]] Result<int> partitionCount(rd_kafka_t *rk, const QByteArray &topic,
                                         QDeadlineTimer deadline) {
    std::unique_ptr<rd_kafka_topic_t, decltype(&rd_kafka_topic_destroy)> t(
        rd_kafka_topic_new(rk, topic.constData(), nullptr), rd_kafka_topic_destroy);
    rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR_NO_ERROR;
    while (!deadline.hasExpired()) {
        const rd_kafka_metadata_t *md = nullptr;
        const int wait = int(std::clamp<qint64>(deadline.remainingTime(), 1, 5000));
        last = rd_kafka_metadata(rk, 0, t.get(), &md, wait);
        if (last == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const rd_kafka_resp_err_t topicErr =
                md->topic_cnt > 0 ? md->topics[0].err : RD_KAFKA_RESP_ERR_NO_ERROR;
            const int partitions = md->topic_cnt > 0 ? md->topics[0].partition_cnt : 0;
            rd_kafka_metadata_destroy(md);
            if (topicErr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                return 0;
            if (topicErr == RD_KAFKA_RESP_ERR_NO_ERROR && partitions > 0)
                return partitions;
            last = topicErr;
        }
        QThread::msleep(100);
    }
    return fail(ErrorCode::Unavailable,
                QStringLiteral("Kafka metadata of %1: %2")
                    .arg(QString::fromUtf8(topic), QString::fromUtf8(rd_kafka_err2str(last))));
}

} // namespace

Result<KafkaView> readSaleEvents(const QString &brokers, const QByteArrayList &topics,
                                 qint64 saleId, int timeoutMs) {
    const QDeadlineTimer deadline(timeoutMs);
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const QList<QPair<QByteArray, QByteArray>> settings{
        {"bootstrap.servers", brokers.toUtf8()},
        // Required by the consumer API; never joined (assign, not subscribe) nor committed.
        {"group.id", "flashsale-bench-check"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        {"allow.auto.create.topics", "false"},
        {"log_level", "3"}};
    for (const auto &[name, value] : settings) {
        if (rd_kafka_conf_set(conf, name.constData(), value.constData(), err, sizeof err)
            != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return fail(ErrorCode::Invalid,
                        QStringLiteral("Kafka setting %1: %2")
                            .arg(QString::fromUtf8(name), QString::fromUtf8(err)));
        }
    }
    rd_kafka_t *raw = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!raw) {
        rd_kafka_conf_destroy(conf);
        return fail(ErrorCode::Unavailable,
                    QStringLiteral("Kafka consumer: %1").arg(QString::fromUtf8(err)));
    }
    std::unique_ptr<rd_kafka_t, KafkaDeleter> rk(raw);

    std::unique_ptr<rd_kafka_topic_partition_list_t,
                    decltype(&rd_kafka_topic_partition_list_destroy)>
        assignment(rd_kafka_topic_partition_list_new(16), rd_kafka_topic_partition_list_destroy);
    QSet<QPair<QByteArray, int>> open; // partitions whose end has not been reached yet
    for (const QByteArray &topic : topics) {
        const Result<int> n = partitionCount(rk.get(), topic, deadline);
        if (!n)
            return std::unexpected(n.error());
        for (int p = 0; p < *n; ++p) {
            rd_kafka_topic_partition_list_add(assignment.get(), topic.constData(), p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
            open.insert({topic, p});
        }
    }
    KafkaView view;
    if (open.isEmpty())
        return view;
    if (const rd_kafka_resp_err_t e = rd_kafka_assign(rk.get(), assignment.get()); e)
        return fail(ErrorCode::Unavailable,
                    QStringLiteral("Kafka assign: %1").arg(QString::fromUtf8(rd_kafka_err2str(e))));

    QString lastError;
    QDeadlineTimer stalled(timeoutMs); // renewed by every message or partition end
    while (!open.isEmpty()) {
        if (stalled.hasExpired())
            return fail(ErrorCode::Timeout,
                        QStringLiteral("Kafka: %1 partitions not read to their end: no progress "
                                       "in %2 ms (%3 messages read)%4")
                            .arg(open.size())
                            .arg(timeoutMs)
                            .arg(view.messages + view.otherMessages + view.malformed)
                            .arg(lastError.isEmpty()
                                     ? QString()
                                     : QStringLiteral(" (last error: %1)").arg(lastError)));
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk.get(), kPollMs);
        if (!m)
            continue;
        std::unique_ptr<rd_kafka_message_t, decltype(&rd_kafka_message_destroy)> msg(
            m, rd_kafka_message_destroy);
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            stalled.setRemainingTime(timeoutMs);
        const QByteArray topic = m->rkt ? QByteArray(rd_kafka_topic_name(m->rkt)) : QByteArray();
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            open.remove({topic, int(m->partition)});
            continue;
        }
        if (m->err) {
            lastError = QString::fromUtf8(rd_kafka_message_errstr(m));
            continue;
        }
        const QJsonObject o =
            QJsonDocument::fromJson(
                QByteArray::fromRawData(static_cast<const char *>(m->payload), qsizetype(m->len)))
                .object();
        const QJsonValue sale = o.value(QLatin1String("sale_id"));
        if (sale.isUndefined()) {
            ++view.malformed;
            continue;
        }
        if (sale.toInteger() != saleId) {
            ++view.otherMessages;
            continue;
        }
        ++view.messages;
        ++view.events[topic][o.value(QLatin1String("reservation_id")).toString().toUtf8()];
    }
    return view;
}

} // namespace flashsale::bench
