#include "admindeadletters.h"

#include "booking/salekeys.h"
#include "core/timeformat.h"
#include "pg/pgconnection.h"
#include "reconcile/deadletters.h"
#include "redis/redisclient.h"
#include "redis/redisscript.h"
#include "worker/orderbatch.h"

#include <QDateTime>
#include <QJsonArray>

namespace flashsale {

using admin::AdminError;
using reconcile::DeadLetter;

namespace {

QJsonObject toJson(const DeadLetter &d, qint64 nowMs) {
    QJsonValue resolution;
    if (d.resolution)
        resolution = QJsonObject{{"action", d.resolution->action},
                                 {"operator", d.resolution->operatorName},
                                 {"at", isoTime(d.resolution->atMs)},
                                 {"outcome", d.resolution->outcome}};
    const QByteArray rid = d.reservationId();
    return QJsonObject{{"sale_id", d.saleId},
                       {"entry_id", QString::fromLatin1(d.entryId)},
                       {"user_id", QString::fromUtf8(d.entry.field(StreamEntry::kUser))},
                       {"qty", d.entry.field(StreamEntry::kQuantity).toLongLong()},
                       {"reason", QString::fromUtf8(d.reason)},
                       {"at", isoTime(d.atMs())},
                       {"age_s", qMax<qint64>(0, (nowMs - d.atMs()) / 1000)},
                       {"reservation_id", rid.isEmpty() ? QJsonValue() : QString::fromLatin1(rid)},
                       {"resolution", resolution}};
}

admin::AdminFailure alreadyResolved(const DeadLetter &d) {
    return AdminService::failure(AdminError::Conflict,
                                 QStringLiteral("dead letter %1 of sale %2 was already %3 by %4")
                                     .arg(QString::fromLatin1(d.entryId))
                                     .arg(d.saleId)
                                     .arg(d.resolution->action, d.resolution->operatorName));
}

// A replay's audit record, and its resolution when it was replayed, in one statement.
const QByteArray kRecordReplaySql =
    "WITH res AS (INSERT INTO stream_dead_letter_resolutions "
    "(sale_id, entry_id, action, operator, outcome, order_id) "
    "SELECT $1::bigint, $2::text, 'replayed', $3::text, $5::text, "
    "(SELECT id FROM orders WHERE reservation_id = $6::text) "
    "WHERE $4::text = 'replayed' RETURNING 1) "
    "INSERT INTO audit_log (actor, action, sale_id, detail) "
    "VALUES ($3::text, 'orders.deadletters.replay', $1::bigint, jsonb_build_object('entry_id', "
    "$2::text, 'outcome', $4::text, 'reason', $5::text, 'reservation_id', $6::text, "
    "'resolved', (SELECT count(*) FROM res) > 0)) RETURNING id";

} // namespace

AdminDeadLetters::AdminDeadLetters(PgConnection &pg, RedisCommands &redis)
    : m_pg(pg)
    , m_redis(redis) {}

void AdminDeadLetters::withSale(qint64 saleId, Reply reply, std::function<void(Reply)> next) {
    m_pg.query("SELECT 1 FROM sales WHERE id = $1", {QByteArray::number(saleId)},
               [saleId, reply = std::move(reply),
                next = std::move(next)](const Result<PgResult> &q) mutable {
                   if (!q)
                       return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
                   if (q->rows.isEmpty())
                       return reply(std::unexpected(AdminService::failure(
                           AdminError::NotFound, QStringLiteral("no sale %1").arg(saleId))));
                   next(std::move(reply));
               });
}

// The dead letter, read and checked: its sale exists, the entry is there and nothing resolved
// it yet (replay and cancel both start here).
void AdminDeadLetters::withUnresolved(qint64 saleId, const QString &entryId, Reply reply,
                                      std::function<void(const DeadLetter &, Reply)> next) {
    withSale(saleId, std::move(reply),
             [this, saleId, entryId, next = std::move(next)](Reply reply) mutable {
                 reconcile::readDeadLetter(
                     m_pg, m_redis, saleId, entryId.toLatin1(),
                     [reply = std::move(reply),
                      next = std::move(next)](const Result<DeadLetter> &r) mutable {
                         if (!r)
                             return reply(
                                 std::unexpected(AdminService::dependencyFailure(r.error())));
                         if (r->resolution)
                             return reply(std::unexpected(alreadyResolved(*r)));
                         next(*r, std::move(reply));
                     });
             });
}

void AdminDeadLetters::list(const QJsonObject &args, Reply reply) {
    const auto a = admin::decodeDeadLetterListArgs(args);
    if (!a)
        return reply(std::unexpected(AdminService::invalidArgs(a.error())));
    auto read = [this, a = *a](Reply reply) {
        reconcile::readDeadLetters(
            m_pg, m_redis, a.saleId, a.includeResolved,
            [reply = std::move(reply)](const Result<QList<DeadLetter>> &r) {
                if (!r)
                    return reply(std::unexpected(AdminService::dependencyFailure(r.error())));
                const qint64 now = QDateTime::currentMSecsSinceEpoch();
                QJsonArray out;
                for (const DeadLetter &d : *r)
                    out.append(toJson(d, now));
                reply(QJsonObject{{"deadletters", out}});
            });
    };
    if (a->saleId)
        return withSale(*a->saleId, std::move(reply), std::move(read));
    read(std::move(reply));
}

void AdminDeadLetters::replay(const QJsonObject &args, const QString &actor, Reply reply) {
    const auto a = admin::decodeDeadLetterReplayArgs(args);
    if (!a)
        return reply(std::unexpected(AdminService::invalidArgs(a.error())));
    withUnresolved(
        a->saleId, a->entryId, std::move(reply),
        [this, a = *a, actor](const DeadLetter &d, Reply reply) {
            // Answer with the outcome once it is audited (and resolved when replayed).
            auto record = [this, a, actor, d, reply](const QString &outcome,
                                                     const QString &reason) {
                m_pg.query(kRecordReplaySql,
                           {QByteArray::number(a.saleId), d.entryId, actor.toUtf8(),
                            outcome.toUtf8(), reason.toUtf8(), d.reservationId()},
                           [a, outcome, reason, reply](const Result<PgResult> &q) {
                               if (!q)
                                   return reply(
                                       std::unexpected(AdminService::dependencyFailure(q.error())));
                               QJsonObject o{{"entry_id", a.entryId}, {"outcome", outcome}};
                               if (!reason.isEmpty())
                                   o.insert("reason", reason);
                               reply(o);
                           });
            };
            const StreamEntry::Parsed p = d.entry.parse();
            OrderBatch batch;
            if (p.kind == StreamEntry::Parsed::Kind::Book) {
                batch.orders = {p.order};
            } else if (p.kind == StreamEntry::Parsed::Kind::Confirm) {
                batch.confirmed.insert(p.reservationId);
            } else {
                return record(QLatin1String(admin::kDeadLetterRefused),
                              QStringLiteral("the entry cannot be read: ")
                                  + QString::fromUtf8(p.reason));
            }
            // The worker's own statement: ON CONFLICT DO NOTHING, inventory CHECK and all.
            m_pg.query(OrderBatch::persistSql(), batch.persistParams(),
                       [p, record, reply](const Result<PgResult> &q) {
                           if (!q) {
                               if (q.error().code != ErrorCode::Conflict)
                                   return reply(
                                       std::unexpected(AdminService::dependencyFailure(q.error())));
                               return record(QLatin1String(admin::kDeadLetterRefused),
                                             q.error().message);
                           }
                           const auto row = q->rows.value(0);
                           if (p.kind == StreamEntry::Parsed::Kind::Confirm) {
                               if (!row.value(2).isEmpty())
                                   return record(QLatin1String(admin::kDeadLetterRefused),
                                                 QStringLiteral("no order for reservation %1 to "
                                                                "confirm")
                                                     .arg(QString::fromLatin1(p.reservationId)));
                               return record(QLatin1String(admin::kDeadLetterReplayed),
                                             QStringLiteral("payment marked as started"));
                           }
                           return record(QLatin1String(admin::kDeadLetterReplayed),
                                         row.value(0).toLongLong() > 0
                                             ? QStringLiteral("order written")
                                             : QStringLiteral("the order was already there"));
                       });
        });
}

void AdminDeadLetters::cancel(const QJsonObject &args, const QString &actor, Reply reply) {
    const auto a = admin::decodeDeadLetterCancelArgs(args);
    if (!a)
        return reply(std::unexpected(AdminService::invalidArgs(a.error())));
    withUnresolved(
        a->saleId, a->entryId, std::move(reply),
        [this, a = *a, actor](const DeadLetter &d, Reply reply) {
            const StreamEntry::Parsed p = d.entry.parse();
            const bool book = p.kind == StreamEntry::Parsed::Kind::Book;
            const OrderRow &o = p.order;
            const QByteArray rid = d.reservationId();
            m_pg.query(
                "SELECT order_id, outcome FROM flashsale_cancel_dead_letter($1, $2, $3, $4, "
                "$5, $6, $7, $8, $9, $10, $11, $12)",
                {QByteArray::number(a.saleId), d.entryId, rid.isEmpty() ? QByteArray() : rid,
                 book ? QByteArray::number(o.itemId) : QByteArray(), book ? o.userId : QByteArray(),
                 book ? QByteArray::number(o.quantity) : QByteArray(),
                 book ? QByteArray::number(o.amountCents) : QByteArray(),
                 book ? QByteArray::number(o.acceptedMs) : QByteArray(),
                 book ? QByteArray::number(o.expiresMs) : QByteArray(), a.notify ? "true" : "false",
                 actor.toUtf8(), d.reason},
                [this, a, d, book, o, reply](const Result<PgResult> &q) {
                    if (!q) {
                        const QString m = q.error().message;
                        if (m.startsWith(QLatin1String("23505")))
                            return reply(std::unexpected(AdminService::failure(
                                AdminError::Conflict,
                                QStringLiteral("dead letter %1 of sale %2 is already resolved")
                                    .arg(a.entryId)
                                    .arg(a.saleId))));
                        return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
                    }
                    const QString outcome = QString::fromUtf8(q->rows.value(0).value(1));
                    QJsonObject answer{{"entry_id", a.entryId},
                                       {"outcome", QLatin1String(admin::kDeadLetterCancelled)},
                                       {"detail", outcome}};
                    if (!book)
                        return reply(answer);
                    // Redis gives the hold back as PostgreSQL did (exactly once: the released
                    // set); a failure here is repaired by reconciliation.
                    static const RedisScript release = RedisScript::load(QStringLiteral("release"));
                    const SaleKeys k(a.saleId);
                    m_redis.eval(release,
                                 {k.stock(), k.users(), k.released(),
                                  k.reservation(o.reservationId), k.meta()},
                                 {o.reservationId, QByteArray::number(o.itemId), o.userId,
                                  QByteArray::number(o.quantity), "cancel"},
                                 [reply, answer](const Result<RedisValue> &) { reply(answer); });
                });
        });
}

} // namespace flashsale
