#pragma once

#include "admin/adminservice.h"

#include <QJsonObject>

namespace flashsale {

class PgConnection;

// The webhooks.* operations of docs/ADMIN_PROTOCOL.md (issue 19, merchant webhooks): the
// endpoints and their delivery counts, the dead-letter list by page, and a replay of one dead
// letter or all of an endpoint's. Reads and writes sql/010's tables only: the notify role's
// sender (merchant/merchantdelivery.h) picks replayed rows up on its next poll.
//
// A replay sets the rows pending with attempts 0 and writes one audit record (action
// "webhooks.replay", the operator's name as actor, the ids in detail) in the same statement.
//
// Owned by AdminService; called on the thread of the connection it is given, which must
// outlive it. Every Reply runs exactly once.
class AdminWebhooks {
public:
    using Reply = AdminService::Reply;

    explicit AdminWebhooks(PgConnection &pg);

    void list(const QJsonObject &args, Reply reply);
    void deadLetters(const QJsonObject &args, Reply reply);
    void replay(const QJsonObject &args, const QString &actor, Reply reply);

private:
    PgConnection &m_pg;
};

} // namespace flashsale
