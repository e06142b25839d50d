#pragma once

#include "core/result.h"
#include "reconcile/analysis.h"
#include "reconcile/reconciler.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QString>

#include <functional>

namespace flashsale {

class PgConnection;

namespace reconcile {

// What one run did: the record reconcile_runs keeps, and a repair's audit record.
struct RunRecord {
    qint64 saleId = 0;
    Reconciler::Options options;
    qint64 startedMs = 0;
    qint64 finishedMs = 0;
    Analysis first;     // the checks as found (a repair's "checks_before")
    Analysis final;     // the checks at the end: after a repair, measured again
    QJsonArray repairs; // what the repair did ("repairs")
};

// "operator", "schedule" or "topology": the trigger as reconcile_runs and the report spell it.
QString triggerText(Reconciler::Trigger trigger);

// The run's report, the "reconcile.run" result of docs/ADMIN_PROTOCOL.md without its run_id.
// Pure.
QJsonObject runReport(const RunRecord &record);

// Inserts the reconcile_runs row. Its id is the run id, and the stored report carries it, written
// in the same statement. `done` gets the report with its run_id, or the PostgreSQL error.
void storeRun(PgConnection &pg, const RunRecord &record,
              std::function<void(const Result<QJsonObject> &)> done);

// Writes a repair's audit_log record (action reconcile.repair): before = {"drift": rows with
// drift as found}, after = {"drift": rows with drift left}, detail = {run_id, trigger, repairs}.
// `done` gets the error when it was not written.
void auditRepair(PgConnection &pg, const RunRecord &record, qint64 runId,
                 std::function<void(const Result<void> &)> done);

} // namespace reconcile
} // namespace flashsale
