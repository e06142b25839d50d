#include "outboxrelay.h"

#include "core/logging.h"
#include "kafka/kafkaclient.h"
#include "metrics/metrics.h"
#include "pg/pgarray.h"
#include "pg/pgconnection.h"

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

} // namespace

OutboxRelay::OutboxRelay(const QString &pgUrl, KafkaProducer &producer, int batch, int pollMs,
                         QObject *parent)
    : QObject(parent)
    , m_pg(std::make_unique<PgConnection>(pgUrl))
    , m_listen(std::make_unique<PgConnection>(pgUrl))
    , m_producer(producer)
    , m_batch(batch)
    , m_pollMs(pollMs) {
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
                        relay();
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
                int left = 0;
            };
            auto batch = std::make_shared<Batch>();
            batch->left = int(r->rows.size());
            for (const QList<QByteArray> &row : r->rows) {
                const qsizetype index = batch->ids.size();
                batch->ids << row[0];
                batch->ok << -1;
                m_producer.produce(
                    row[1], row[2], row[3], [this, batch, index, full](const Result<void> &d) {
                        batch->ok[index] = d ? 1 : 0;
                        if (!d) {
                            failedCounter().inc();
                            qCWarning(lcKafka).noquote() << "delivery failed:" << d.error().message;
                        }
                        if (--batch->left > 0)
                            return;
                        // Mark the delivered prefix; everything after a failure goes again.
                        QList<QByteArray> done;
                        for (qsizetype i = 0; i < batch->ids.size() && batch->ok[i] == 1; ++i)
                            done << batch->ids[i];
                        const bool allDone = done.size() == batch->ids.size();
                        if (done.isEmpty()) {
                            m_busy = false;
                            again(m_backoffMs);
                            m_backoffMs = std::min(m_backoffMs * 2, 5000);
                            return;
                        }
                        m_pg->query(
                            "UPDATE outbox SET published_at = now() WHERE id = ANY ($1::bigint[])",
                            {pgArray(done)},
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
                                if (full || m_dirty)
                                    relay();
                                else
                                    again(m_pollMs);
                            });
                    });
            }
        });
}

} // namespace flashsale
