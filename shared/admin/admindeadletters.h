#pragma once

#include "admin/adminservice.h"

#include <QJsonObject>

namespace flashsale {

class PgConnection;
class RedisCommands;
namespace reconcile {
struct DeadLetter;
}

// The orders.deadletters operations of docs/ADMIN_PROTOCOL.md (issue 20): the order streams'
// dead letters (fs:{sale:ID}:dead, reconcile/deadletters.h) with their resolutions, and the two
// ways to resolve one:
//
//   replay   (admin)         the entry's order written again with the stream worker's own
//                            statement (OrderBatch::persistSql), after whatever refused it was
//                            fixed; "refused" with the database's reason when it still cannot
//                            be written. Both outcomes are audited; only "replayed" resolves.
//   cancel   (merchandiser)  the buyer's order ends cancelled with reason dead-letter (written
//                            cancelled when the worker never wrote it), with the order.cancelled
//                            outbox event, and so the notification, unless notify is false; the
//                            resolution row and the audit record in the same transaction
//                            (flashsale_cancel_dead_letter, sql/013). Then the hold is released
//                            in Redis (lua/release.lua, mode cancel), so Redis gives the units
//                            back as PostgreSQL did; should that fail, reconciliation releases
//                            it (a cancelled order not released in Redis).
//
// Unknown sale or entry: not-found; an entry already resolved: conflict.
//
// Owned by AdminService; called on the thread of the connections it is given, which must
// outlive it. Every Reply runs exactly once.
class AdminDeadLetters {
public:
    using Reply = AdminService::Reply;

    AdminDeadLetters(PgConnection &pg, RedisCommands &redis);

    void list(const QJsonObject &args, Reply reply);
    void replay(const QJsonObject &args, const QString &actor, Reply reply);
    void cancel(const QJsonObject &args, const QString &actor, Reply reply);

private:
    // Runs `next` when PostgreSQL has the sale, else answers not-found.
    void withSale(qint64 saleId, Reply reply, std::function<void(Reply)> next);
    void withUnresolved(qint64 saleId, const QString &entryId, Reply reply,
                        std::function<void(const reconcile::DeadLetter &, Reply)> next);

    PgConnection &m_pg;
    RedisCommands &m_redis;
};

} // namespace flashsale
