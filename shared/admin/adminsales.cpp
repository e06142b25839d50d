#include "adminsales.h"

#include "audit/audit.h"
#include "booking/itemimage.h"
#include "booking/salecatalog.h"
#include "booking/salekeys.h"
#include "booking/salephase.h"
#include "core/config.h"
#include "core/timeformat.h"
#include "pg/pgconnection.h"
#include "redis/redisclient.h"

#include <QDateTime>
#include <QJsonArray>
#include <QRandomGenerator>

#include <memory>

namespace flashsale {

using admin::AdminError;
using admin::AdminFailure;
using admin::Op;

namespace {

// How long a stock adjustment holds the repair lock of its sale at most (AdminSales::adjust).
constexpr int kAdjustLockMs = 30000;

QJsonValue timeOrNull(const QByteArray &ms) {
    return ms.isNull() ? QJsonValue() : QJsonValue(isoTime(ms.toLongLong()));
}

const QByteArray kSaleSelect = R"(
SELECT s.id, s.name, s.state,
       (extract(epoch FROM s.starts_at) * 1000)::bigint, (extract(epoch FROM s.ends_at) * 1000)::bigint,
       s.per_user_limit, s.hold_seconds, s.admission_rate, s.admission_burst, s.schedule_id,
       (extract(epoch FROM s.warmed_at) * 1000)::bigint, (extract(epoch FROM s.opened_at) * 1000)::bigint,
       (extract(epoch FROM s.closed_at) * 1000)::bigint,
       inv.n, inv.stock, inv.sold, (extract(epoch FROM now()) * 1000)::bigint, s.pow_difficulty,
       ord.paid, ord.held,
       s.waiting_room, (extract(epoch FROM s.lobby_opens_at) * 1000)::bigint, s.grace_ms,
       s.admit_per_minute, s.admission_ttl_seconds, s.entries_per_buyer, s.entries_per_address,
       f.commitment
FROM sales s
LEFT JOIN sale_fairness f ON f.sale_id = s.id
LEFT JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(v.stock), 0) AS stock,
                          coalesce(sum(v.sold), 0) AS sold
                   FROM inventory v WHERE v.sale_id = s.id) inv ON true
LEFT JOIN LATERAL (SELECT coalesce(sum(o.quantity) FILTER (WHERE o.status = 'paid'), 0) AS paid,
                          coalesce(sum(o.quantity) FILTER (WHERE o.status = 'pending'), 0) AS held
                   FROM orders o WHERE o.sale_id = s.id) ord ON true
)";

// The waiting room of a kSaleSelect row (columns 20-27), or nullopt when the sale has none.
std::optional<SaleSpec::WaitingRoom> waitingRoomFromRow(const QList<QByteArray> &row) {
    if (row.value(20) != "t")
        return std::nullopt;
    SaleSpec::WaitingRoom room;
    room.lobbyOpensAtMs = row[21].toLongLong();
    room.graceMs = row[22].toInt();
    room.admitPerMinute = row[23].toInt();
    room.admissionTtlSeconds = row[24].toInt();
    room.entriesPerBuyer = row[25].toInt();
    room.entriesPerAddress = row[26].toInt();
    room.commitment = row[27];
    return room;
}

QJsonObject saleFromRow(const QList<QByteArray> &row) {
    const QByteArray state = row[2];
    const qint64 now = row[16].toLongLong();
    const qint64 starts = row[3].toLongLong();
    const qint64 ends = row[4].toLongLong();
    const QString phase = salePhase(QString::fromUtf8(state), !row[10].isNull(), now, starts, ends);
    return QJsonObject{
        {"id", row[0].toLongLong()},
        {"name", QString::fromUtf8(row[1])},
        {"state", QString::fromUtf8(state)},
        {"phase", phase},
        {"starts_at", isoTime(starts)},
        {"ends_at", isoTime(ends)},
        {"per_user_limit", row[5].toLongLong()},
        {"hold_seconds", row[6].toLongLong()},
        {"admission_rate", row[7].toLongLong()},
        {"admission_burst", row[8].toLongLong()},
        {"pow_difficulty", row[17].toLongLong()},
        {"schedule_id", row[9].isNull() ? QJsonValue() : QJsonValue(row[9].toLongLong())},
        {"warmed_at", timeOrNull(row[10])},
        {"opened_at", timeOrNull(row[11])},
        {"closed_at", timeOrNull(row[12])},
        {"item_count", row[13].toLongLong()},
        {"stock", row[14].toLongLong()},
        {"sold", row[15].toLongLong()},
        // The live stats' units.paid and units.held + units.pending, by the same definition, so
        // the console's sales table and dashboard cannot disagree (docs/CONSOLE.md).
        {"paid_units", row[18].toLongLong()},
        {"held_units", row[19].toLongLong()},
        {"remaining", QJsonValue()},
        {"waiting_room", SaleCatalog::waitingRoomJson(waitingRoomFromRow(row))},
    };
}

} // namespace

AdminSales::AdminSales(const Config &config, PgConnection &pg, RedisCommands &redis,
                       SaleCatalog &catalog)
    : m_config(config)
    , m_pg(pg)
    , m_redis(redis)
    , m_catalog(catalog)
    , m_adjust(RedisScript::load(QStringLiteral("adjust")))
    , m_setState(RedisScript::load(QStringLiteral("set_state")))
    , m_stockTotal(RedisScript::load(QStringLiteral("stock_total"))) {}

void AdminSales::loadSales(const QByteArray &where, const QList<QByteArray> &params, int limit,
                           std::function<void(const Result<QList<QJsonObject>> &)> done) {
    const QByteArray sql =
        kSaleSelect + "WHERE " + where + " ORDER BY s.id DESC LIMIT " + QByteArray::number(limit);
    m_pg.query(sql, params, [this, done = std::move(done)](const Result<PgResult> &r) {
        if (!r)
            return done(std::unexpected(r.error()));
        auto sales = std::make_shared<QList<QJsonObject>>();
        for (const auto &row : r->rows)
            sales->append(saleFromRow(row));
        if (sales->isEmpty())
            return done(*sales);
        // Remaining units from Redis, summed there; a Redis outage leaves them null.
        auto left = std::make_shared<int>(int(sales->size()));
        for (qsizetype i = 0; i < sales->size(); ++i) {
            const qint64 id = sales->at(i).value("id").toInteger();
            m_redis.eval(m_stockTotal, {SaleKeys(id).stock()}, {},
                         [sales, i, left, done](const Result<RedisValue> &v) {
                             if (v && !v->isError() && v->toInt() >= 0)
                                 (*sales)[i].insert("remaining", double(v->toInt()));
                             if (--*left == 0)
                                 done(*sales);
                         });
        }
    });
}

void AdminSales::loadSale(qint64 saleId, std::function<void(const Result<QJsonObject> &)> done) {
    loadSales("s.id = $1", {QByteArray::number(saleId)}, 1,
              [saleId, done = std::move(done)](const Result<QList<QJsonObject>> &r) {
                  if (!r)
                      return done(std::unexpected(r.error()));
                  if (r->isEmpty())
                      return done(
                          fail(ErrorCode::NotFound, QStringLiteral("No sale %1.").arg(saleId)));
                  done(r->first());
              });
}

void AdminSales::list(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto state = r.string(QStringLiteral("state"), false, 1, 16);
    const auto limit = r.integer(QStringLiteral("limit"), false, 1, 500);
    if (state && *state != QLatin1String("active") && *state != QLatin1String("paused")
        && *state != QLatin1String("stopped"))
        r.addError(QStringLiteral("state"), QStringLiteral("must be active, paused or stopped"));
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    QByteArray where = "true";
    QList<QByteArray> params;
    if (state) {
        where = "s.state = $1";
        params << state->toUtf8();
    }
    loadSales(where, params, int(limit.value_or(100)),
              [reply = std::move(reply)](const Result<QList<QJsonObject>> &r) {
                  if (!r)
                      return reply(std::unexpected(AdminService::dependencyFailure(r.error())));
                  QJsonArray sales;
                  for (const QJsonObject &s : *r)
                      sales.append(s);
                  reply(QJsonObject{{"sales", sales}});
              });
}

void AdminSales::get(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), true, 1, AdminService::kMaxId);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    loadSale(*saleId, [this, id = *saleId, reply = std::move(reply)](const Result<QJsonObject> &s) {
        if (!s)
            return reply(std::unexpected(AdminService::dependencyFailure(s.error())));
        m_pg.query(
            "SELECT i.id, i.name, i.price_cents, v.stock, v.sold, "
            "(SELECT count(*) FROM sale_items WHERE sale_id = $1) "
            "FROM sale_items i JOIN inventory v ON v.item_id = i.id "
            "WHERE i.sale_id = $1 ORDER BY i.id LIMIT 200",
            {QByteArray::number(id)}, [this, id, sale = *s, reply](const Result<PgResult> &items) {
                if (!items)
                    return reply(std::unexpected(AdminService::dependencyFailure(items.error())));
                QList<QByteArray> argv{"HMGET", SaleKeys(id).stock()};
                for (const auto &row : items->rows)
                    argv << row[0];
                auto answer = [sale, rows = items->rows,
                               reply](const QList<QByteArray> &remaining) {
                    QJsonArray list;
                    for (qsizetype i = 0; i < rows.size(); ++i) {
                        const auto &row = rows[i];
                        const QByteArray left = remaining.value(i);
                        list.append(QJsonObject{
                            {"id", row[0].toLongLong()},
                            {"name", QString::fromUtf8(row[1])},
                            {"price_cents", row[2].toLongLong()},
                            {"stock", row[3].toLongLong()},
                            {"sold", row[4].toLongLong()},
                            {"remaining",
                             left.isNull() ? QJsonValue() : QJsonValue(left.toLongLong())},
                            {"image_url", QStringLiteral("/api/v1/items/%1/image.svg")
                                              .arg(QString::fromUtf8(row[0]))}});
                    }
                    QJsonObject out = sale;
                    out.insert("items", list);
                    out.insert("items_total",
                               rows.isEmpty() ? 0 : rows.first().value(5).toLongLong());
                    reply(QJsonObject{{"sale", out}});
                };
                if (items->rows.isEmpty())
                    return answer({});
                m_redis.command(argv, [answer](const Result<RedisValue> &v) {
                    QList<QByteArray> remaining;
                    if (v && v->isArray())
                        for (const RedisValue &e : v->elements)
                            remaining << (e.isNil() ? QByteArray() : e.bytes());
                    answer(remaining);
                });
            });
    });
}

void AdminSales::create(const QJsonObject &argsIn, const QString &actor, Reply reply) {
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    QJsonObject args = argsIn;
    // "generate" stands for a list of generated items; SaleSpec validates the rest.
    if (args.contains(QStringLiteral("generate"))) {
        FieldErrors errors;
        const QJsonValue g = args.take(QStringLiteral("generate"));
        if (!g.isObject()) {
            errors.append({QStringLiteral("/args/generate"), QStringLiteral("must be an object")});
        } else {
            FieldReader gr(g.toObject(), QStringLiteral("/args/generate"), &errors);
            const auto count = gr.integer(QStringLiteral("count"), true, 1, 100000);
            const auto units = gr.integer(QStringLiteral("units_per_item"), false, 1, 1000000);
            const auto price = gr.integer(QStringLiteral("price_cents"), false, 0, 10000000000LL);
            gr.rejectUnknown();
            if (args.contains(QStringLiteral("items")) || args.contains(QStringLiteral("stock")))
                errors.append({QStringLiteral("/args/generate"),
                               QStringLiteral("give one of stock, items or generate")});
            if (errors.isEmpty()) {
                QJsonArray items;
                for (int i = 0; i < *count; ++i)
                    items.append(QJsonObject{{"name", generatedItemName(0, now, i)},
                                             {"stock", units.value_or(1)},
                                             {"price_cents", price.value_or(1999)}});
                args.insert(QStringLiteral("items"), items);
            }
        }
        if (!errors.isEmpty())
            return reply(std::unexpected(AdminService::invalidArgs(errors)));
    }
    auto spec = SaleSpec::fromJson(args, m_config, now);
    if (!spec) {
        FieldErrors errors = spec.error();
        for (FieldError &e : errors)
            e.pointer.prepend(QStringLiteral("/args"));
        return reply(std::unexpected(AdminService::invalidArgs(errors)));
    }
    // A waiting-room sale must be warm when its lobby opens, before its start.
    const qint64 firstNeededMs =
        spec->waitingRoom ? spec->waitingRoom->lobbyOpensAtMs : spec->startsAtMs;
    const bool warmNow = firstNeededMs - now <= qint64(m_config.warmupSeconds) * 1000;
    m_catalog.create(
        *spec, warmNow,
        [this, actor, reply = std::move(reply)](const Result<SaleSpec> &r, qint64 saleId) {
            if (!r && saleId == 0)
                return reply(std::unexpected(AdminService::dependencyFailure(r.error())));
            // Stored; a failed warm-up is retried by the scheduler.
            loadSale(saleId, [this, actor, saleId, reply](const Result<QJsonObject> &s) {
                if (!s)
                    return reply(std::unexpected(AdminService::dependencyFailure(s.error())));
                writeAudit(m_pg,
                           {actor, QStringLiteral("sale.create"), saleId, QJsonValue(), *s, {}});
                reply(QJsonObject{{"sale", *s}});
            });
        });
}

void AdminSales::changeState(Op op, const QJsonObject &args, const QString &actor, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), true, 1, AdminService::kMaxId);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    // The target state, and the states it may be reached from. Repeating a change is allowed,
    // so a retry after Redis failed can finish the job.
    QByteArray target, from;
    switch (op) {
    case Op::SalePause:
        target = "paused";
        from = "active,paused";
        break;
    case Op::SaleResume:
        target = "active";
        from = "paused,active";
        break;
    default:
        target = "stopped";
        from = "active,paused,stopped";
        break;
    }
    const QString action = opName(op);
    m_pg.query(
        "UPDATE sales s SET state = $2 FROM (SELECT id, state FROM sales WHERE id = $1 FOR UPDATE) "
        "old WHERE s.id = old.id AND old.state = ANY(string_to_array($3, ',')) "
        "RETURNING old.state",
        {QByteArray::number(*saleId), target, from},
        [this, id = *saleId, target, action, actor,
         reply = std::move(reply)](const Result<PgResult> &u) {
            if (!u)
                return reply(std::unexpected(AdminService::dependencyFailure(u.error())));
            if (u->rows.isEmpty()) {
                // Either no such sale, or a state this change cannot start from.
                return loadSale(id, [target, reply](const Result<QJsonObject> &s) {
                    if (!s)
                        return reply(std::unexpected(AdminService::dependencyFailure(s.error())));
                    reply(std::unexpected(AdminService::failure(
                        AdminError::Conflict,
                        QStringLiteral("Sale %1 is %2; it cannot become %3.")
                            .arg(s->value("id").toInteger())
                            .arg(s->value("state").toString(), QString::fromUtf8(target)))));
                });
            }
            const QString before = QString::fromUtf8(u->rows.first().first());
            const SaleKeys k(id);
            m_redis.eval(
                m_setState, {k.meta()}, {target},
                [this, id, before, target, action, actor, reply](const Result<RedisValue> &v) {
                    if (!v || v->isError())
                        return reply(std::unexpected(AdminService::failure(
                            AdminError::Unavailable,
                            QStringLiteral("Sale %1 is %2 in PostgreSQL but Redis was "
                                           "not updated (%3); repeat the operation.")
                                .arg(id)
                                .arg(QString::fromUtf8(target),
                                     v ? QString::fromUtf8(v->string) : v.error().message))));
                    loadSale(id, [this, id, before, target, action, actor,
                                  reply](const Result<QJsonObject> &s) {
                        if (!s)
                            return reply(
                                std::unexpected(AdminService::dependencyFailure(s.error())));
                        writeAudit(m_pg, {actor,
                                          action,
                                          id,
                                          QJsonObject{{"state", before}},
                                          QJsonObject{{"state", QString::fromUtf8(target)}},
                                          {}});
                        reply(QJsonObject{{"sale", *s}});
                    });
                });
        });
}

void AdminSales::adjust(const QJsonObject &args, const QString &actor, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), true, 1, AdminService::kMaxId);
    const auto itemId = r.integer(QStringLiteral("item_id"), false, 1, AdminService::kMaxId);
    const auto delta = r.integer(QStringLiteral("delta"), true, -1000000, 1000000);
    if (delta && *delta == 0)
        r.addError(QStringLiteral("delta"), QStringLiteral("must not be 0"));
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    m_pg.query(
        "SELECT v.item_id, v.stock, v.sold, s.state, s.warmed_at IS NOT NULL "
        "FROM sales s JOIN inventory v ON v.sale_id = s.id "
        "WHERE s.id = $1 AND ($2::bigint IS NULL OR v.item_id = $2) ORDER BY v.item_id LIMIT 2",
        {QByteArray::number(*saleId), itemId ? QByteArray::number(*itemId) : QByteArray()},
        [this, saleId = *saleId, hasItem = itemId.has_value(), delta = *delta, actor,
         reply = std::move(reply)](const Result<PgResult> &q) {
            if (!q)
                return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
            if (q->rows.isEmpty())
                return reply(std::unexpected(AdminService::failure(
                    AdminError::NotFound,
                    hasItem ? QStringLiteral("Sale %1 has no such item.").arg(saleId)
                            : QStringLiteral("No sale %1.").arg(saleId))));
            if (q->rows.size() > 1)
                return reply(std::unexpected(AdminService::invalidArgs(
                    {{QStringLiteral("/args/item_id"),
                      QStringLiteral("is required: sale %1 has several items").arg(saleId)}})));
            const auto &row = q->rows.first();
            const qint64 item = row[0].toLongLong();
            const qint64 stockBefore = row[1].toLongLong();
            if (row[3] == "stopped")
                return reply(std::unexpected(AdminService::failure(
                    AdminError::Conflict, QStringLiteral("Sale %1 is stopped.").arg(saleId))));
            const bool warm = row[4] == "t";
            const SaleKeys k(saleId);
            const QByteArray itemText = QByteArray::number(item);
            const QByteArray deltaText = QByteArray::number(delta);

            auto done = [this, saleId, item, stockBefore, delta, actor,
                         reply](qint64 remainingBefore, qint64 remainingAfter, bool warm) {
                const QJsonObject result{
                    {"sale_id", saleId},
                    {"item_id", item},
                    {"stock_before", stockBefore},
                    {"stock_after", stockBefore + delta},
                    {"remaining_before", warm ? QJsonValue(remainingBefore) : QJsonValue()},
                    {"remaining_after", warm ? QJsonValue(remainingAfter) : QJsonValue()}};
                writeAudit(m_pg, {actor, QStringLiteral("sale.adjust"), saleId,
                                  QJsonObject{{"item_id", item},
                                              {"stock", stockBefore},
                                              {"remaining", result.value("remaining_before")}},
                                  QJsonObject{{"item_id", item},
                                              {"stock", stockBefore + delta},
                                              {"remaining", result.value("remaining_after")}},
                                  QJsonObject{{"delta", delta}}});
                reply(result);
            };
            // PostgreSQL's side: the total stock, never below what is sold.
            auto updatePg = [this, item,
                             deltaText](std::function<void(const Result<bool> &)> then) {
                m_pg.query("UPDATE inventory SET stock = stock + $2 "
                           "WHERE item_id = $1 AND stock + $2 >= sold AND stock + $2 >= 0 "
                           "RETURNING stock",
                           {QByteArray::number(item), deltaText},
                           [then = std::move(then)](const Result<PgResult> &u) {
                               if (!u)
                                   return then(std::unexpected(u.error()));
                               then(!u->rows.isEmpty());
                           });
            };
            if (!warm) {
                return updatePg([saleId, reply, done](const Result<bool> &ok) {
                    if (!ok)
                        return reply(std::unexpected(AdminService::dependencyFailure(ok.error())));
                    if (!*ok)
                        return reply(std::unexpected(AdminService::failure(
                            AdminError::Conflict,
                            QStringLiteral("Sale %1 has fewer units than that to remove.")
                                .arg(saleId))));
                    done(0, 0, false);
                });
            }
            // Removing: Redis first, so units are never taken back from under a booking; then
            // PostgreSQL, undoing the Redis change if PostgreSQL refuses. Adding: the reverse,
            // so Redis never sells units PostgreSQL does not have.
            //
            // Two rules keep Redis from ever holding more units than PostgreSQL (found by the
            // chaos run, deploy/bench/chaos, where Redis sold units PostgreSQL did not have and
            // the worker dead-lettered the bookings):
            // - A step whose outcome is unknown (a timeout or a dropped connection: the command
            //   may still be applied, e.g. by a Redis resuming from a stall) is never undone on
            //   the other side. What is left is Redis with fewer units than PostgreSQL, never
            //   more; the error says so, and a reconciliation repair settles it.
            // - The adjustment holds the sale's repair lock (fs:{sale:ID}:reconcile:lock, the
            //   Reconciler's) from before its first step to after its last. A repair measures
            //   drift between the two stores and applies it as a delta; measured between our
            //   two steps it would apply our delta a second time.
            auto redisAdjust = [this, k, itemText](
                                   qint64 d, std::function<void(const Result<RedisValue> &)> then) {
                m_redis.eval(m_adjust, {k.stock()}, {itemText, QByteArray::number(d)},
                             std::move(then));
            };
            auto redisAnswer = [](const Result<RedisValue> &v)
                -> std::expected<std::pair<qint64, qint64>, AdminFailure> {
                if (!v)
                    return std::unexpected(AdminService::dependencyFailure(v.error()));
                if (v->isError() || !v->isArray() || v->elements.isEmpty())
                    return std::unexpected(
                        AdminService::failure(AdminError::Internal, QString::fromUtf8(v->string)));
                const QByteArray outcome = v->elements[0].bytes();
                if (outcome == "insufficient")
                    return std::unexpected(AdminService::failure(
                        AdminError::Conflict,
                        QStringLiteral("Only %1 units remain unsold; that many cannot be removed.")
                            .arg(v->elements.value(1).toInt())));
                if (outcome != "ok")
                    return std::unexpected(AdminService::failure(
                        AdminError::Conflict, QStringLiteral("The item is not in Redis.")));
                return std::make_pair(v->elements[1].toInt(), v->elements[2].toInt());
            };
            const auto unknownOutcome = [saleId](const QString &what, const Error &e) {
                return AdminService::failure(
                    AdminError::Unavailable,
                    QStringLiteral("%1 (%2): the adjustment of sale %3 may or may not have been "
                                   "applied there. Redis has at most as many units as "
                                   "PostgreSQL; run a reconciliation repair of the sale, then "
                                   "check the stock before adjusting again.")
                        .arg(what, e.message)
                        .arg(saleId));
            };
            const QByteArray token =
                QByteArray::number(QRandomGenerator::global()->generate64(), 16);
            // Released only after steps whose outcome is known: after an unknown one the lock
            // runs out by itself (kAdjustLockMs), so no repair measures while a stalled Redis
            // may still apply the step.
            auto unlock = [this, k, token] {
                static const RedisScript script =
                    RedisScript::load(QStringLiteral("reconcile_unlock"));
                m_redis.eval(script, {k.reconcileLock()}, {token},
                             [](const Result<RedisValue> &) {});
            };
            auto run = [=, this] {
                if (delta < 0) {
                    redisAdjust(delta, [=](const Result<RedisValue> &v) {
                        if (!v)
                            return reply(std::unexpected(
                                unknownOutcome(QStringLiteral("Redis did not answer"), v.error())));
                        const auto rr = redisAnswer(v);
                        if (!rr) {
                            unlock();
                            return reply(std::unexpected(rr.error()));
                        }
                        updatePg([=](const Result<bool> &ok) {
                            if (ok && *ok) {
                                unlock();
                                return done(rr->first, rr->second, true);
                            }
                            if (!ok) {
                                // PostgreSQL may have committed: Redis keeps the removal.
                                unlock();
                                return reply(std::unexpected(unknownOutcome(
                                    QStringLiteral("PostgreSQL failed"), ok.error())));
                            }
                            redisAdjust(-delta, [](const Result<RedisValue> &) {});
                            unlock(); // behind the undo, on the same connection
                            reply(std::unexpected(AdminService::failure(
                                AdminError::Conflict,
                                QStringLiteral("PostgreSQL has fewer unsold units than Redis; "
                                               "nothing was changed. Run a reconciliation."))));
                        });
                    });
                } else {
                    updatePg([=, this](const Result<bool> &ok) {
                        if (!ok) {
                            unlock();
                            return reply(
                                std::unexpected(AdminService::dependencyFailure(ok.error())));
                        }
                        redisAdjust(delta, [=, this](const Result<RedisValue> &v) {
                            // Redis may still add the units: PostgreSQL keeps them too.
                            if (!v)
                                return reply(std::unexpected(unknownOutcome(
                                    QStringLiteral("Redis did not answer"), v.error())));
                            const auto rr = redisAnswer(v);
                            unlock();
                            if (rr)
                                return done(rr->first, rr->second, true);
                            m_pg.query("UPDATE inventory SET stock = stock - $2 WHERE item_id = $1",
                                       {QByteArray::number(item), deltaText},
                                       [](const Result<PgResult> &) {});
                            reply(std::unexpected(rr.error()));
                        });
                    });
                }
            };
            m_redis.command(
                {"SET", k.reconcileLock(), token, "NX", "PX", QByteArray::number(kAdjustLockMs)},
                [=](const Result<RedisValue> &l) {
                    if (!l)
                        return reply(std::unexpected(AdminService::dependencyFailure(l.error())));
                    if (l->isError())
                        return reply(std::unexpected(AdminService::failure(
                            AdminError::Unavailable, QString::fromUtf8(l->string))));
                    if (l->isNil())
                        return reply(std::unexpected(AdminService::failure(
                            AdminError::Conflict,
                            QStringLiteral("A reconciliation repair or another adjustment of "
                                           "sale %1 is running; try again when it ends.")
                                .arg(saleId))));
                    run();
                });
        });
}

} // namespace flashsale
