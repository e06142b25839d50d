#pragma once

#include "redis/redisconnect.h"

#include <QObject>
#include <QTimer>

#include <memory>

namespace flashsale {

class PgConnection;

// Cancels holds that were not confirmed in time, exactly once, and gives their units back.
//
// Every `interval` it reads up to `batch` pending orders whose hold has expired and whose
// payment has not started. For each it first runs lua/release.lua in Redis (mode 'expire'):
// that returns the units to the item's stock and the user's count unless the buyer confirmed
// meanwhile, and it is guarded by the sale's released set, so it applies once however many
// sweepers run. Then one statement cancels those orders in PostgreSQL (reason 'expired'),
// guarded by status = 'pending', lowers inventory.sold by what it cancelled, and writes a
// history row and an order.cancelled outbox row per order. A crash between the two steps
// leaves the order pending and released; the next sweep finds it, release answers 'already',
// and the cancellation completes.
//
// Owns its connections; runs on the thread it was created in.
class ExpirySweeper final : public QObject {
    Q_OBJECT
public:
    ExpirySweeper(RedisTarget redis, const QString &pgUrl, int intervalMs, int batch,
                  QObject *parent = nullptr);
    ~ExpirySweeper() override;

    void start();

private:
    void sweep();
    // Cancels `expired` as 'expired' and `lost` (release.lua found no hold: a Redis data loss)
    // as 'hold-lost' (issue 20).
    void cancel(const QList<QByteArray> &expired, const QList<QByteArray> &lost);
    void scheduleNext();

    std::unique_ptr<RedisCommands> m_redis;
    std::unique_ptr<PgConnection> m_pg;
    int m_intervalMs;
    int m_batch;
    QTimer m_timer;
    bool m_busy = false;
};

} // namespace flashsale
