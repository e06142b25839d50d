#pragma once

#include "admin/adminservice.h"

#include <QJsonObject>

namespace flashsale {

class PgConnection;
class Reconciler;

// The reconcile.* operations of docs/ADMIN_PROTOCOL.md: run a reconciliation of one sale for
// the operator (a dry run unless asked to repair), and list past runs' reports.
//
// Owned by AdminService; called on the thread of the objects it is given, which must outlive
// it. Every Reply runs exactly once.
class AdminReconcile {
public:
    using Reply = AdminService::Reply;

    AdminReconcile(PgConnection &pg, Reconciler &reconciler);

    void run(const QJsonObject &args, const QString &actor, Reply reply);
    void list(const QJsonObject &args, Reply reply);

private:
    PgConnection &m_pg;
    Reconciler &m_reconciler;
};

} // namespace flashsale
