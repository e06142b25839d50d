#pragma once

#include "core/result.h"

#include <QJsonObject>
#include <QString>
#include <QtGlobal>

#include <functional>
#include <memory>

namespace flashsale {

class PgConnection;
class RedisCommands;

// Compares one sale's live state in Redis with PostgreSQL, the source of truth, and on request
// repairs Redis from it. See docs/RECONCILIATION.md for the checks, the read order and repairs.
//
// A run is read (reconcile/snapshotreader.h), analysed (reconcile/analysis.h), for a repair
// repaired (reconcile/repair.h) under the sale's repair lock and read and analysed again, and
// recorded (reconcile/runrecord.h). This class only strings those steps together.
//
// Owned by, and called on, the thread of the connections it is given, which must outlive it or
// be gone (a run then fails with Unavailable). Destroying it drops the answers of runs in
// progress; a step already started (a read, the repairs) still runs to its end.
class Reconciler {
public:
    // Who asked for a run; stored in reconcile_runs as "operator", "schedule" or "topology" (the
    // scheduler, after a Redis restart or failover or a new PostgreSQL primary).
    enum class Trigger { Operator, Schedule, Topology };

    struct Options {
        bool repair = false;
        QString actor = QStringLiteral("operator");
        Trigger trigger = Trigger::Operator;
    };

    Reconciler(PgConnection &pg, RedisCommands &redis);
    ~Reconciler();

    // Runs the checks (and, with repair, the repairs), stores the run in reconcile_runs (a repair
    // also writes an audit_log record) and answers the report as JSON (the "reconcile.run"
    // result in docs/ADMIN_PROTOCOL.md). `done` runs once, on this thread, unless the Reconciler
    // is destroyed first. Invalid for a sale id below 1, NotFound when PostgreSQL has no such
    // sale, Conflict when a repair of the sale is already running, Unavailable when a connection
    // is gone, and otherwise the error of the command that failed.
    void run(qint64 saleId, const Options &options,
             std::function<void(const Result<QJsonObject> &)> done);

private:
    Q_DISABLE_COPY_MOVE(Reconciler)

    struct Impl;
    std::unique_ptr<Impl> d;
};

} // namespace flashsale
