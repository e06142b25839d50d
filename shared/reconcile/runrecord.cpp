#include "runrecord.h"

#include "audit/audit.h"
#include "core/timeformat.h"
#include "pg/pgconnection.h"

#include <QJsonDocument>

namespace flashsale::reconcile {

namespace {

QJsonArray driftRows(const QJsonArray &rows) {
    QJsonArray out;
    for (const QJsonValue &r : rows) {
        if (r.toObject().value(QStringLiteral("drift")).toInteger() != 0)
            out.append(r);
    }
    return out;
}

QByteArray mode(const RunRecord &record) {
    return record.options.repair ? "repair" : "dry_run";
}

} // namespace

QString triggerText(Reconciler::Trigger trigger) {
    switch (trigger) {
    case Reconciler::Trigger::Operator:
        return QStringLiteral("operator");
    case Reconciler::Trigger::Schedule:
        return QStringLiteral("schedule");
    case Reconciler::Trigger::Topology:
        return QStringLiteral("topology");
    }
    return QStringLiteral("operator");
}

QJsonObject runReport(const RunRecord &record) {
    QJsonObject report{{QStringLiteral("sale_id"), record.saleId},
                       {QStringLiteral("mode"), QString::fromLatin1(mode(record))},
                       {QStringLiteral("trigger"), triggerText(record.options.trigger)},
                       {QStringLiteral("actor"), record.options.actor},
                       {QStringLiteral("started_at"), isoTime(record.startedMs)},
                       {QStringLiteral("finished_at"), isoTime(record.finishedMs)},
                       {QStringLiteral("ok"), record.final.ok},
                       {QStringLiteral("checks"), record.final.rows},
                       {QStringLiteral("repairs"), record.repairs},
                       {QStringLiteral("stats"), record.final.stats}};
    if (record.options.repair)
        report.insert(QStringLiteral("checks_before"), record.first.rows);
    return report;
}

void storeRun(PgConnection &pg, const RunRecord &record,
              std::function<void(const Result<QJsonObject> &)> done) {
    QJsonObject report = runReport(record);
    pg.query(R"(WITH n AS (SELECT nextval(pg_get_serial_sequence('reconcile_runs', 'id')) AS id)
INSERT INTO reconcile_runs (id, sale_id, mode, trigger, actor, started_at, ok, report)
SELECT n.id, $1, $2, $3, $4, to_timestamp($5::bigint / 1000.0), $6,
       $7::jsonb || jsonb_build_object('run_id', n.id)
FROM n RETURNING id)",
             {QByteArray::number(record.saleId), mode(record),
              triggerText(record.options.trigger).toUtf8(), record.options.actor.toUtf8(),
              QByteArray::number(record.startedMs), record.final.ok ? "true" : "false",
              QJsonDocument(report).toJson(QJsonDocument::Compact)},
             [report, done = std::move(done)](const Result<PgResult> &r) mutable {
                 if (!r)
                     return done(
                         fail(r.error().code, QStringLiteral("PostgreSQL: ") + r.error().message));
                 report.insert(QStringLiteral("run_id"), r->rows.value(0).value(0).toLongLong());
                 done(report);
             });
}

void auditRepair(PgConnection &pg, const RunRecord &record, qint64 runId,
                 std::function<void(const Result<void> &)> done) {
    AuditRecord audit;
    audit.actor = record.options.actor;
    audit.action = QStringLiteral("reconcile.repair");
    audit.saleId = record.saleId;
    audit.before = QJsonObject{{QStringLiteral("drift"), driftRows(record.first.rows)}};
    audit.after = QJsonObject{{QStringLiteral("drift"), driftRows(record.final.rows)}};
    audit.detail = {{QStringLiteral("run_id"), runId},
                    {QStringLiteral("trigger"), triggerText(record.options.trigger)},
                    {QStringLiteral("repairs"), record.repairs}};
    writeAudit(pg, audit, [done = std::move(done)](const Result<qint64> &r) {
        if (!r)
            return done(std::unexpected(r.error()));
        done({});
    });
}

} // namespace flashsale::reconcile
