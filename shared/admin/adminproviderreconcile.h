#pragma once

#include "admin/adminservice.h"

#include <QJsonObject>

#include <memory>

namespace flashsale {

class PaymentGateway;
class PaymentOutcomes;
class PgConnection;
class ProviderReconciler;
class RedisCommands;
struct Config;

// The payments.reconcile operations of docs/ADMIN_PROTOCOL.md (issue 19, provider
// reconciliation): run one for the operator (a dry run unless asked to repair; the operator's
// name is the actor of its records) and list past runs.
//
// Owns the gateway it lists the provider through (the configured one, createPaymentGateway),
// the PaymentOutcomes its repairs go through and the ProviderReconciler. Owned by AdminService;
// called on the thread of the connections it is given, which must outlive it. Every Reply runs
// exactly once.
class AdminProviderReconcile {
public:
    using Reply = AdminService::Reply;

    AdminProviderReconcile(const Config &config, PgConnection &pg, RedisCommands &redis);
    ~AdminProviderReconcile();

    void run(const QJsonObject &args, const QString &actor, Reply reply);
    void runs(const QJsonObject &args, Reply reply);

private:
    PgConnection &m_pg;
    std::unique_ptr<PaymentGateway> m_gateway;
    std::unique_ptr<PaymentOutcomes> m_outcomes;
    std::unique_ptr<ProviderReconciler> m_reconciler;
};

} // namespace flashsale
