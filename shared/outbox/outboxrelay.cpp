#include "outboxrelay.h"

#include "core/logging.h"
#include "kafka/kafkaclient.h"
#include "metrics/metrics.h"
#include "pg/pgarray.h"
#include "pg/pgconnection.h"

#include <QPointer>

namespace flashsale {

namespace {

constexpr qint64 kRelayLock = 0x4f7574626f78LL; // "Outbox"

Counter &publishedCounter() {
    static Counter &c = Metrics::instance().counter(
        "flashsale_outbox_published_total", "Outbox rows published to Kafka by this relay.");
    return c;
}

Counter &failedCounter() {
    static Counter &c =
        Metrics::instance().counter("flashsale_outbox_delivery_failures_total",
                                    "Outbox messages Kafka did not take; they are sent again.");
    return c;
}

Counter &republishedCounter() {
    static Counter &c = Metrics::instance().counter(
        "flashsale_outbox_republished_total",
        "Published outbox rows sent again because Kafka lost the partition they were on.");
    return c;
}

constexpr int kLossCheckMs = 5000;
constexpr int kWatermarkTimeoutMs = 5000;
constexpr int kPruneBatch = 10000;              // rows a prune statement deletes at most
constexpr int kRepublishTimeoutMs = 10 * 60000; // the republish UPDATE's no-answer bound

} // namespace

OutboxRelay::OutboxRelay(const QString &pgUrl, KafkaProducer &producer, int batch, int pollMs,
                         int retentionS, QObject *parent)
    : QObject(parent)
    , m_pg(std::make_unique<PgConnection>(pgUrl))
    , m_listen(std::make_unique<PgConnection>(pgUrl))
    , m_producer(producer)
    , m_batch(batch)
    , m_pollMs(pollMs)
    , m_retentionS(retentionS) {
    m_lossTimer.setInterval(kLossCheckMs);
    connect(&m_lossTimer, &QTimer::timeout, this, [this] {
        if (m_leader && !m_busy)
            checkLoss();
    });
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, [this] {
        if (m_leader)
            relay();
        else
            tryLead();
    });
    connect(m_pg.get(), &PgConnection::connected, this, &OutboxRelay::tryLead);
    connect(m_pg.get(), &PgConnection::disconnected, this, [this] {
        if (m_leader)
            qCWarning(lcKafka) << "relay lost its PostgreSQL session, and with it the lead";
        m_leader = false;
        m_busy = false;
    });
    connect(m_listen.get(), &PgConnection::connected, this,
            [this] { m_listen->query("LISTEN outbox", {}, [](const Result<PgResult> &) {}); });
    connect(m_listen.get(), &PgConnection::notified, this, [this] {
        if (!m_leader)
            return;
        if (m_busy)
            m_dirty = true;
        else
            relay();
    });
}

OutboxRelay::~OutboxRelay() = default;

void OutboxRelay::start() {
    publishedCounter();
    failedCounter();
    republishedCounter();
    m_pg->setMetricsPool("relay");
    m_listen->setMetricsPool("relay-listen");
    m_pg->start();
    m_listen->start();
}

void OutboxRelay::tryLead() {
    m_pg->query("SELECT pg_try_advisory_lock(" + QByteArray::number(kRelayLock) + ")", {},
                [this](const Result<PgResult> &r) {
                    if (r && r->rows.value(0).value(0) == "t") {
                        m_leader = true;
                        qCInfo(lcKafka) << "outbox relay is the active one";
                        m_lastOffset.clear();
                        m_lossTimer.start();
                        checkLoss();
                    } else {
                        again(1000); // another relay is active; stand by
                    }
                });
}

void OutboxRelay::again(int delayMs) {
    m_timer.start(delayMs);
}

void OutboxRelay::relay() {
    if (m_busy || !m_leader)
        return;
    m_busy = true;
    m_dirty = false;
    m_pg->query(
        "SELECT id, topic, key, payload::text FROM outbox WHERE published_at IS NULL "
        "ORDER BY id LIMIT $1",
        {QByteArray::number(m_batch)}, [this](const Result<PgResult> &r) {
            if (!r) {
                m_busy = false;
                again(m_backoffMs);
                return;
            }
            if (r->rows.isEmpty()) {
                m_busy = false;
                if (m_dirty)
                    relay();
                else
                    again(m_pollMs);
                return;
            }
            const bool full = r->rows.size() >= m_batch;
            struct Batch {
                QList<QByteArray> ids;
                QList<int> ok; // -1 unknown, 0 failed, 1 delivered
                QList<KafkaProducer::Placement> at;
                int left = 0;
            };
            auto batch = std::make_shared<Batch>();
            batch->left = int(r->rows.size());
            for (const QList<QByteArray> &row : r->rows) {
                const qsizetype index = batch->ids.size();
                batch->ids << row[0];
                batch->ok << -1;
                batch->at << KafkaProducer::Placement{};
                m_producer.producePlaced(
                    row[1], row[2], row[3],
                    [this, batch, index, full,
                     topic = row[1]](const Result<KafkaProducer::Placement> &d) {
                        batch->ok[index] = d ? 1 : 0;
                        if (d) {
                            batch->at[index] = *d;
                            // Offsets only grow on a partition that keeps its data.
                            const QByteArray at = topic + '/' + QByteArray::number(d->partition);
                            const auto seen = m_lastOffset.constFind(at);
                            if (seen != m_lastOffset.constEnd() && d->offset <= *seen)
                                m_lossSuspected = true;
                            else
                                m_lastOffset.insert(at, d->offset);
                        } else {
                            failedCounter().inc();
                            qCWarning(lcKafka).noquote() << "delivery failed:" << d.error().message;
                        }
                        if (--batch->left > 0)
                            return;
                        // Mark the delivered prefix; everything after a failure goes again.
                        QList<QByteArray> done;
                        QList<QByteArray> partitions;
                        QList<QByteArray> offsets;
                        for (qsizetype i = 0; i < batch->ids.size() && batch->ok[i] == 1; ++i) {
                            done << batch->ids[i];
                            partitions << QByteArray::number(batch->at[i].partition);
                            offsets << QByteArray::number(batch->at[i].offset);
                        }
                        const bool allDone = done.size() == batch->ids.size();
                        if (done.isEmpty()) {
                            m_busy = false;
                            again(m_backoffMs);
                            m_backoffMs = std::min(m_backoffMs * 2, 5000);
                            return;
                        }
                        m_pg->query(
                            "UPDATE outbox o SET published_at = now(), kafka_partition = u.p, "
                            "kafka_offset = u.off FROM unnest($1::bigint[], $2::int[], "
                            "$3::bigint[]) AS u(id, p, off) WHERE o.id = u.id",
                            {pgArray(done), pgArray(partitions), pgArray(offsets)},
                            [this, n = int(done.size()), allDone, full](const Result<PgResult> &u) {
                                m_busy = false;
                                if (!u) {
                                    again(m_backoffMs);
                                    return;
                                }
                                publishedCounter().inc(quint64(n));
                                if (!allDone) {
                                    again(m_backoffMs);
                                    m_backoffMs = std::min(m_backoffMs * 2, 5000);
                                    return;
                                }
                                m_backoffMs = 100;
                                if (m_lossSuspected)
                                    checkLoss();
                                else if (full || m_dirty)
                                    relay();
                                else
                                    again(m_pollMs);
                            });
                    });
            }
        });
}

void OutboxRelay::checkLoss() {
    if (m_busy || !m_leader)
        return;
    m_busy = true;
    m_lossSuspected = false;
    // Prune first, so what is compared below is exactly what could be republished.
    pruneThenCompare();
}

// Deletes published rows past the retention window kPruneBatch at a time, so that no statement
// outlasts the connection's no-answer bound (--pg-timeout-ms) however much has piled up, then
// compares the outbox's offsets with Kafka's watermarks.
void OutboxRelay::pruneThenCompare() {
    m_pg->query(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at < now() - "
        "make_interval(secs => $1::int) LIMIT $2::int)",
        {QByteArray::number(m_retentionS), QByteArray::number(kPruneBatch)},
        [this](const Result<PgResult> &pruned) {
            if (!pruned || !m_leader) {
                endCheck();
                return;
            }
            if (pruned->affected >= kPruneBatch)
                return pruneThenCompare();
            m_pg->query(
                // Per (topic, partition) the highest offset, read off the outbox_kafka_offset
                // index: a skip scan over its distinct pairs, then one backward probe each
                // (0.6 ms at 2,000,000 retained rows, where a GROUP BY scanned them all in
                // 500 ms). kafka_offset is set and cleared together with published_at.
                "WITH RECURSIVE parts AS ("
                " (SELECT topic, kafka_partition FROM outbox WHERE kafka_offset IS NOT NULL"
                "  ORDER BY topic, kafka_partition LIMIT 1)"
                " UNION ALL"
                " SELECT n.topic, n.kafka_partition FROM parts p CROSS JOIN LATERAL"
                " (SELECT o.topic, o.kafka_partition FROM outbox o WHERE o.kafka_offset IS NOT NULL"
                "  AND (o.topic, o.kafka_partition) > (p.topic, p.kafka_partition)"
                "  ORDER BY o.topic, o.kafka_partition LIMIT 1) n) "
                "SELECT p.topic, p.kafka_partition, (SELECT max(o.kafka_offset) FROM outbox o"
                " WHERE o.topic = p.topic AND o.kafka_partition = p.kafka_partition"
                " AND o.kafka_offset IS NOT NULL) FROM parts p",
                {}, [this](const Result<PgResult> &r) {
                    if (!r || r->rows.isEmpty()) {
                        endCheck();
                        return;
                    }
                    QList<KafkaProducer::Watermark> wanted;
                    QList<qint64> highest;
                    for (const QList<QByteArray> &row : r->rows) {
                        wanted << KafkaProducer::Watermark{row[0], row[1].toInt(), -1};
                        highest << row[2].toLongLong();
                    }
                    // Read after the offsets: a delivery in between only raises a watermark.
                    m_producer.queryWatermarks(
                        wanted, kWatermarkTimeoutMs,
                        [self = QPointer<OutboxRelay>(this),
                         highest](const QList<KafkaProducer::Watermark> &marks) {
                            if (!self || !self->m_leader)
                                return;
                            QList<QByteArray> topics;
                            QList<QByteArray> partitions;
                            QStringList lost;
                            for (qsizetype i = 0; i < marks.size(); ++i) {
                                if (marks[i].high < 0 || marks[i].high > highest[i])
                                    continue;
                                topics << marks[i].topic;
                                partitions << QByteArray::number(marks[i].partition);
                                lost << QStringLiteral("%1/%2 (high watermark %3, had offset %4)")
                                            .arg(QString::fromUtf8(marks[i].topic))
                                            .arg(marks[i].partition)
                                            .arg(marks[i].high)
                                            .arg(highest[i]);
                            }
                            if (topics.isEmpty()) {
                                self->endCheck();
                                return;
                            }
                            // A partition's whole retention window can be millions of rows: this
                            // one statement has a bound of its own (kRepublishTimeoutMs).
                            self->m_pg->query(
                                "WITH r AS (UPDATE outbox o SET published_at = NULL, "
                                "kafka_partition = NULL, kafka_offset = NULL FROM "
                                "unnest($1::text[], "
                                "$2::int[]) AS l(t, p) WHERE o.published_at IS NOT NULL AND "
                                "o.topic = l.t AND o.kafka_partition = l.p RETURNING 1) "
                                "SELECT count(*) FROM r",
                                {pgArray(topics), pgArray(partitions)}, kRepublishTimeoutMs,
                                [self, lost](const Result<PgResult> &u) {
                                    if (!self)
                                        return;
                                    if (u) {
                                        const quint64 n = u->rows.value(0).value(0).toULongLong();
                                        republishedCounter().inc(n);
                                        qCWarning(lcKafka).noquote()
                                            << "Kafka lost acknowledged messages on"
                                            << lost.join(QStringLiteral(", ")) << "- republishing"
                                            << n << "retained outbox rows";
                                    }
                                    self->endCheck();
                                });
                        });
                });
        });
}

void OutboxRelay::endCheck() {
    m_busy = false;
    m_lastOffset.clear();
    relay();
}

} // namespace flashsale
