#pragma once

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
class OutboxRelay final : public QObject {
    Q_OBJECT
public:
    OutboxRelay(const QString &pgUrl, KafkaProducer &producer, int batch, int pollMs,
                QObject *parent = nullptr);
    ~OutboxRelay() override;

    void start();

private:
    void tryLead();
    void relay();
    void again(int delayMs);

    std::unique_ptr<PgConnection> m_pg;
    std::unique_ptr<PgConnection> m_listen;
    KafkaProducer &m_producer;
    int m_batch;
    int m_pollMs;
    bool m_leader = false;
    bool m_busy = false;
    bool m_dirty = false; // woken while busy: run again right after
    int m_backoffMs = 100;
    QTimer m_timer;
};

} // namespace flashsale
