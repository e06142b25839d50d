#include "adminproviderreconcile.h"

#include "payment/gatewayfactory.h"
#include "payment/paymentgateway.h"
#include "payment/paymentoutcomes.h"
#include "payment/providerreconcile.h"
#include "pg/pgconnection.h"

#include <QJsonArray>

namespace flashsale {

AdminProviderReconcile::AdminProviderReconcile(const Config &config, PgConnection &pg,
                                               RedisCommands &redis)
    : m_pg(pg)
    , m_gateway(createPaymentGateway(config, redis))
    , m_outcomes(std::make_unique<PaymentOutcomes>(pg, redis))
    , m_reconciler(std::make_unique<ProviderReconciler>(pg, *m_gateway, *m_outcomes)) {}

AdminProviderReconcile::~AdminProviderReconcile() {
    m_reconciler.reset(); // before what its runs use
}

void AdminProviderReconcile::run(const QJsonObject &args, const QString &actor, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto repair = r.boolean(QStringLiteral("repair"), false);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    ProviderReconciler::Options options;
    options.repair = repair.value_or(false);
    options.actor = actor;
    options.trigger = ProviderReconciler::Trigger::Operator;
    m_reconciler->run(options, [reply = std::move(reply)](const Result<QJsonObject> &rep) {
        if (!rep)
            return reply(std::unexpected(AdminService::dependencyFailure(rep.error())));
        reply(*rep);
    });
}

void AdminProviderReconcile::runs(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto limit = r.integer(QStringLiteral("limit"), false, 1, 200);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    m_pg.query("SELECT report FROM provider_reconcile_runs ORDER BY id DESC LIMIT $1",
               {QByteArray::number(limit.value_or(20))},
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
