#pragma once

#include "admin/adminservice.h"
#include "admin/operatorauth.h"

#include <QJsonObject>
#include <QObject>

namespace flashsale {

class PgConnection;

// The operator.* operations of docs/ADMIN_PROTOCOL.md (role admin): list, create, set-role,
// rotate-password and disable named operators. Passwords arrive in the request, are hashed
// with argon2id on the hash pool (passwordhash.h) and are never stored, echoed, logged or
// audited; each change writes an audit row naming the operator changed ("detail.operator").
// An operator cannot change their own role or disable themselves (a conflict), so an admin
// cannot lock the last admin seat by accident; the bootstrap token stays as the way back in.
//
// Owned by AdminService; lives on, and is called on, the thread of the connection it is given,
// which must outlive it. Every Reply runs exactly once (dropped only if this object dies
// while a hash is being computed, which happens when the thread stops).
class AdminOperators final : public QObject {
    Q_OBJECT
public:
    using Reply = AdminService::Reply;

    explicit AdminOperators(PgConnection &pg, QObject *parent = nullptr);

    void list(const QJsonObject &args, Reply reply);
    void create(const QJsonObject &args, const OperatorIdentity &who, Reply reply);
    void setRole(const QJsonObject &args, const OperatorIdentity &who, Reply reply);
    void rotatePassword(const QJsonObject &args, const OperatorIdentity &who, Reply reply);
    void disable(const QJsonObject &args, const OperatorIdentity &who, Reply reply);

private:
    // Runs `sql` ($1 the name, then `params`), expecting the operator's row back, and audits.
    void change(const QString &action, const QString &name, const QByteArray &sql,
                const QList<QByteArray> &params, const QJsonValue &before,
                const OperatorIdentity &who, Reply reply);

    PgConnection &m_pg;
};

} // namespace flashsale
