#pragma once

#include "admin/adminservice.h"

#include <QJsonObject>

namespace flashsale {

class PgConnection;

// notifications.failures of docs/ADMIN_PROTOCOL.md (issue 19: notify): the notifications the
// SMTP relay refused for good (notifications.failed_at, sql/008), newest first, and how many are
// recorded and not yet sent (in flight or waiting for a retry: a relay down shows here).
//
// Owned by AdminService; called on the thread of the connection it is given, which must
// outlive it. Every Reply runs exactly once.
class AdminNotifications {
public:
    using Reply = AdminService::Reply;

    explicit AdminNotifications(PgConnection &pg);

    void failures(const QJsonObject &args, Reply reply);

private:
    PgConnection &m_pg;
};

} // namespace flashsale
