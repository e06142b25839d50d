#pragma once

#include "admin/adminservice.h"

#include <QJsonObject>

namespace flashsale {

class PgConnection;

// audit.list of docs/ADMIN_PROTOCOL.md: the audit log, newest first, by sale and page.
//
// Owned by AdminService; called on the thread of the connection it is given, which must
// outlive it. Every Reply runs exactly once.
class AdminAudit {
public:
    using Reply = AdminService::Reply;

    explicit AdminAudit(PgConnection &pg);

    void list(const QJsonObject &args, Reply reply);

private:
    PgConnection &m_pg;
};

} // namespace flashsale
