#pragma once

#include "core/result.h"

#include <QObject>
#include <QString>
#include <QTimer>

#include <functional>

namespace flashsale {

struct Config;
class PgConnection;
class RedisClient;

// The sale scheduler (role "scheduler"). Only the process holding the lease "scheduler" in
// PostgreSQL acts; the others keep trying to take it, and one does once the holder stops
// renewing it (--lease-seconds). Each tick, the leader:
//   - creates the next occurrence of every active recurring schedule (sale_schedules) once it is
//     within --warmup-seconds of its start, with generated items, and warms it into Redis;
//   - warms one-off sales that start within --warmup-seconds (sales.warmed_at IS NULL);
//   - records opened_at / closed_at as sales pass their start and end;
//   - runs a dry-run reconciliation of live sales every --reconcile-interval-seconds.
// The clock is injectable so tests can move time.
class Scheduler final : public QObject {
    Q_OBJECT
public:
    using Clock = std::function<qint64()>; // milliseconds since the epoch

    Scheduler(const Config &config, PgConnection &pg, RedisClient &redis, QString holder,
              Clock clock = {}, QObject *parent = nullptr);
    ~Scheduler() override;

    void start(); // ticks every --scheduler-tick-ms
    void stop();  // and gives the lease up
    // One pass; `done` runs when it has finished (tests drive time this way).
    void tick(std::function<void()> done = {});
    bool isLeader() const;
    QString holder() const;

Q_SIGNALS:
    void leadershipChanged(bool leader);
    void saleCreated(qint64 saleId, qint64 scheduleId);
    void saleWarmed(qint64 saleId);
    void saleOpened(qint64 saleId);
    void saleClosed(qint64 saleId);

private:
    struct Impl;
    Impl *d;
};

} // namespace flashsale
