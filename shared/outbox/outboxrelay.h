#pragma once

#include <QHash>
#include <QObject>
#include <QTimer>

#include <memory>

namespace flashsale {

class KafkaProducer;
class PgConnection;

// Publishes the outbox to Kafka: unpublished rows in id order, keyed by their key (the
// reservation id, so one order's events share a partition and keep their order), through the
// idempotent producer. A row is marked published only after its delivery report.
//
// One relay is active at a time: it holds a PostgreSQL session advisory lock, and the others
// wait for it (the lock goes with a dead relay's connection). It is woken by LISTEN outbox (a
// trigger notifies on every insert) and polls every `pollMs` as a fallback.
//
// Broker errors: librdkafka retries by itself; when a message still fails, only the rows
// before the first failure are marked, and the rest are sent again after a backoff, so events
// are never lost and never overtake each other. A crash between delivery and marking sends
// some rows again: consumers are idempotent (events carry event_id).
//
// Kafka data loss (docs/RELIABILITY.md): each row is marked with the partition and offset of its
// delivery report, and published rows are kept `retentionS` seconds (then deleted). When the
// lead is taken, every few seconds, and at once when a delivery report shows a partition's
// offset going backwards, the relay compares each partition's high watermark with the highest
// offset among its retained rows. A watermark at or below it means the cluster lost acknowledged
// messages: all the retained rows of that partition are marked unpublished and sent again, at
// least once (logged as "Kafka lost", counted in flashsale_outbox_republished_total). Rows older
// than the retention window are gone for good.
class OutboxRelay final : public QObject {
    Q_OBJECT
public:
    OutboxRelay(const QString &pgUrl, KafkaProducer &producer, int batch, int pollMs,
                int retentionS = 7 * 24 * 3600, QObject *parent = nullptr);
    ~OutboxRelay() override;

    void start();

private:
    void tryLead();
    void relay();
    void again(int delayMs);
    void checkLoss();
    void pruneThenCompare();
    void endCheck();

    std::unique_ptr<PgConnection> m_pg;
    std::unique_ptr<PgConnection> m_listen;
    KafkaProducer &m_producer;
    int m_batch;
    int m_pollMs;
    bool m_leader = false;
    bool m_busy = false;
    bool m_dirty = false; // woken while busy: run again right after
    int m_backoffMs = 100;
    int m_retentionS;
    bool m_lossSuspected = false; // a delivery offset went backwards: check before going on
    QHash<QByteArray, qint64> m_lastOffset; // "topic/partition" -> last delivered offset
    QTimer m_timer;
    QTimer m_lossTimer;
};

} // namespace flashsale
