#pragma once

#include "core/result.h"

#include <QObject>
#include <QString>
#include <QTimer>

#include <functional>

namespace flashsale {

struct Config;
class PgConnection;
class RedisCommands;

// The sale scheduler (role "scheduler"). Only the process holding the lease "scheduler" in
// PostgreSQL acts; the others keep trying to take it, and one does once the holder stops
// renewing it (--lease-seconds). Each tick, the leader:
//   - creates the next occurrence of every active recurring schedule (sale_schedules) once it is
//     within --warmup-seconds of its start, with generated items, and warms it into Redis;
//   - warms one-off sales that start within --warmup-seconds (sales.warmed_at IS NULL);
//   - records opened_at / closed_at as sales pass their start and end, and gives a closed sale's
//     Redis keys their expiry, closed_at + --sale-retention-seconds (lua/retire.lua; also for
//     every sale closed within the retention when it takes the lease);
//   - seals every waiting room whose cohort has closed (shared/waitingroom/sealer.h; issue 16);
//   - runs a dry-run reconciliation of live sales every --reconcile-interval-seconds, and a
//     repair right after one that found orders whose hold Redis lost (issue 20);
//   - after a topology change (a Redis primary restarted or replaced, the cluster's slot map
//     changed, another PostgreSQL server took the lease renewal), --reconcile-topology-delay-ms
//     after its last signal: warms again live sales Redis lost whole, and reconciles every live
//     sale, repairing those that drifted (issue 21).
// docs/SCHEDULER.md describes the timing.
//
// Two clocks: the lease is timed by PostgreSQL's now() (it measures process liveness), sale
// timing by `clock` (injectable so tests can move time; default: the system clock).
//
// Ownership and threads: lives on the thread of `pg` and `redis`, which must outlive it; every
// call comes from that thread. Nothing blocks: each step is a statement or command on the event
// loop. A failing step is logged (flashsale.app, warning) and retried on the next tick; every
// step is idempotent, so even two schedulers acting at once (a leader that lost its lease in
// the middle of a tick) cannot create an occurrence twice.
class Scheduler final : public QObject {
    Q_OBJECT
public:
    using Clock = std::function<qint64()>; // milliseconds since the epoch

    Scheduler(const Config &config, PgConnection &pg, RedisCommands &redis, QString holder,
              Clock clock = {}, QObject *parent = nullptr);
    ~Scheduler() override; // without stop(), the lease lapses after --lease-seconds

    void start(); // ticks at once, then every --scheduler-tick-ms
    // Stops ticking, abandons the pass in flight (its pending steps do nothing more) and gives
    // the lease up: deletes the lease row if this holder has it, so another scheduler takes over
    // on its next tick instead of after --lease-seconds. `released` (optional) runs once that
    // DELETE has been answered (also when it failed: the lease then lapses by itself).
    void stop(std::function<void()> released = {});
    // One pass; `done` runs when it has finished (tests drive time this way). Passes never
    // overlap: while one is running, another tick is skipped and its `done` runs when the
    // running pass finishes. After stop() a tick does nothing until start().
    void tick(std::function<void()> done = {});
    bool isLeader() const;
    QString holder() const;
    QString actor() const; // "scheduler@<holder>", the audit_log actor

Q_SIGNALS:
    void leadershipChanged(bool leader);
    void saleCreated(qint64 saleId, qint64 scheduleId);
    void saleWarmed(qint64 saleId);
    void saleOpened(qint64 saleId);
    void saleClosed(qint64 saleId);
    // The closed sale's Redis keys now expire at `expiresAtMs` (ms since the epoch).
    void saleRetired(qint64 saleId, qint64 expiresAtMs);
    // A reconciliation of one sale finished (a dry run, or the repair that followed it), on the
    // interval or after a topology change. ok: the run completed and was recorded (its report may
    // still show drift); false: it failed (logged), and is tried again at the next interval (after
    // a topology change: after --reconcile-topology-delay-ms, a few times).
    void reconcileFinished(qint64 saleId, bool ok);
    // Issue 20: a scheduled dry run found orders whose hold Redis lost, and the repair it then
    // ran (ending them as hold-lost) finished; ok as for reconcileFinished.
    void holdLostRepaired(qint64 saleId, bool ok);
    // Issue 21: a round of reconciliation of every live sale, started after a topology change
    // (`cause`: redis_restart, redis_slots or pg_primary, the first signal of the change),
    // finished: `sales` sales, `failed` of them without a result (tried again after the delay).
    void topologyReconciled(const QString &cause, int sales, int failed);
    // Issue 16: a waiting room's seal finished (its ranks are public and archived).
    void waitingRoomSealed(qint64 saleId, qint64 cohortSize);

private:
    struct Impl;
    Impl *d;
};

} // namespace flashsale
