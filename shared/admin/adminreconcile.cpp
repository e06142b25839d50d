#include "adminreconcile.h"

#include "pg/pgconnection.h"
#include "reconcile/reconciler.h"

#include <QJsonArray>

namespace flashsale {

AdminReconcile::AdminReconcile(PgConnection &pg, Reconciler &reconciler)
    : m_pg(pg)
    , m_reconciler(reconciler) {}

void AdminReconcile::run(const QJsonObject &args, const QString &actor, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), true, 1, AdminService::kMaxId);
    const auto repair = r.boolean(QStringLiteral("repair"), false);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    Reconciler::Options options;
    options.repair = repair.value_or(false);
    options.actor = actor;
    options.trigger = Reconciler::Trigger::Operator;
    m_reconciler.run(*saleId, options, [reply = std::move(reply)](const Result<QJsonObject> &rep) {
        if (!rep)
            return reply(std::unexpected(AdminService::dependencyFailure(rep.error())));
        reply(*rep);
    });
}

void AdminReconcile::list(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), false, 1, AdminService::kMaxId);
    const auto limit = r.integer(QStringLiteral("limit"), false, 1, 200);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    m_pg.query("SELECT report FROM reconcile_runs WHERE ($1::bigint IS NULL OR sale_id = $1) "
               "ORDER BY id DESC LIMIT $2",
               {saleId ? QByteArray::number(*saleId) : QByteArray(),
                QByteArray::number(limit.value_or(20))},
               [reply = std::move(reply)](const Result<PgResult> &q) {
                   if (!q)
                       return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
                   QJsonArray runs;
                   for (const auto &row : q->rows)
                       runs.append(AdminService::jsonColumn(row[0]));
                   reply(QJsonObject{{"runs", runs}});
               });
}

} // namespace flashsale
