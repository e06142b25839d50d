#include "adminservice.h"

#include "audit/audit.h"
#include "booking/salecatalog.h"
#include "booking/salekeys.h"
#include "booking/salephase.h"
#include "core/config.h"
#include "core/logging.h"
#include "core/timeformat.h"
#include "pg/pgconnection.h"
#include "reconcile/reconciler.h"
#include "redis/redisclient.h"
#include "booking/itemimage.h"
#include "booking/occurrence.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>

#include <memory>

namespace flashsale {

using admin::AdminError;
using admin::AdminFailure;
using admin::Op;

namespace {

constexpr qint64 kMaxId = Q_INT64_C(999999999999999999);

AdminFailure failure(AdminError code, const QString &message, FieldErrors details = {}) {
    return AdminFailure{code, message, std::move(details)};
}

AdminFailure invalidArgs(const FieldErrors &errors) {
    return failure(
        AdminError::InvalidArgs,
        errors.size() == 1
            ? QStringLiteral("%1 %2.").arg(errors.first().pointer, errors.first().detail)
            : QStringLiteral("%1 arguments are invalid; see details.").arg(errors.size()),
        errors);
}

QJsonValue timeOrNull(const QByteArray &ms) {
    return ms.isNull() ? QJsonValue() : QJsonValue(isoTime(ms.toLongLong()));
}

QByteArray pgTime(qint64 ms) {
    return isoTime(ms).toUtf8();
}

// Columns of the sale query below, in order.
const QByteArray kSaleSelect = R"(
SELECT s.id, s.name, s.state,
       (extract(epoch FROM s.starts_at) * 1000)::bigint, (extract(epoch FROM s.ends_at) * 1000)::bigint,
       s.per_user_limit, s.hold_seconds, s.admission_rate, s.admission_burst, s.schedule_id,
       (extract(epoch FROM s.warmed_at) * 1000)::bigint, (extract(epoch FROM s.opened_at) * 1000)::bigint,
       (extract(epoch FROM s.closed_at) * 1000)::bigint,
       inv.n, inv.stock, inv.sold, (extract(epoch FROM now()) * 1000)::bigint, s.pow_difficulty
FROM sales s
LEFT JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(v.stock), 0) AS stock,
                          coalesce(sum(v.sold), 0) AS sold
                   FROM inventory v WHERE v.sale_id = s.id) inv ON true
)";

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
        {"remaining", QJsonValue()},
    };
}

const QByteArray kScheduleSelect = R"(
SELECT id, name, (extract(epoch FROM first_start) * 1000)::bigint, every_seconds, duration_seconds,
       item_count, units_per_item, price_cents, per_user_limit, hold_seconds, active, created_by,
       (extract(epoch FROM now()) * 1000)::bigint
FROM sale_schedules
)";

QJsonObject scheduleFromRow(const QList<QByteArray> &row) {
    const qint64 first = row[2].toLongLong();
    const qint64 every = row[3].toLongLong() * 1000;
    const qint64 duration = row[4].toLongLong() * 1000;
    const qint64 now = row[12].toLongLong();
    const qint64 next = nextOccurrenceMs(first, every, duration, now);
    const bool active = row[10] == "t";
    return QJsonObject{{"id", row[0].toLongLong()},
                       {"name", QString::fromUtf8(row[1])},
                       {"first_start", isoTime(first)},
                       {"every_seconds", row[3].toLongLong()},
                       {"duration_seconds", row[4].toLongLong()},
                       {"item_count", row[5].toLongLong()},
                       {"units_per_item", row[6].toLongLong()},
                       {"price_cents", row[7].toLongLong()},
                       {"per_user_limit", row[8].toLongLong()},
                       {"hold_seconds", row[9].toLongLong()},
                       {"active", active},
                       {"created_by", QString::fromUtf8(row[11])},
                       {"next_start", active ? QJsonValue(isoTime(next)) : QJsonValue()}};
}

QJsonValue jsonColumn(const QByteArray &text) {
    if (text.isNull())
        return QJsonValue();
    const QJsonDocument doc = QJsonDocument::fromJson(text);
    if (doc.isObject())
        return doc.object();
    if (doc.isArray())
        return doc.array();
    return QJsonValue();
}

} // namespace

AdminFailure AdminService::dependencyFailure(const Error &error) {
    switch (error.code) {
    case ErrorCode::Unavailable:
    case ErrorCode::Timeout:
        return failure(AdminError::Unavailable, error.message);
    case ErrorCode::NotFound:
        return failure(AdminError::NotFound, error.message);
    case ErrorCode::Conflict:
        return failure(AdminError::Conflict, error.message);
    case ErrorCode::Invalid:
        return failure(AdminError::InvalidArgs, error.message);
    case ErrorCode::Protocol:
    case ErrorCode::Internal:
        break;
    }
    qCWarning(lcApp).noquote() << "admin operation failed:" << error.message;
    return failure(AdminError::Internal, error.message);
}

AdminService::AdminService(const Config &config, PgConnection &pg, RedisClient &redis,
                           SaleCatalog &catalog, Reconciler &reconciler)
    : m_config(config)
    , m_pg(pg)
    , m_redis(redis)
    , m_catalog(catalog)
    , m_reconciler(reconciler)
    , m_adjust(RedisScript::load(QStringLiteral("adjust")))
    , m_setState(RedisScript::load(QStringLiteral("set_state"))) {}

void AdminService::handle(const admin::AdminRequest &request, const QString &actor, Reply reply) {
    const QJsonObject &args = request.args;
    switch (request.op) {
    case Op::Ping:
        reply(QJsonObject{{"server_time_ms", double(QDateTime::currentMSecsSinceEpoch())},
                          {"version", admin::kVersion}});
        return;
    case Op::SaleList:
        return listSales(args, std::move(reply));
    case Op::SaleGet:
        return getSale(args, std::move(reply));
    case Op::SaleCreate:
        return createSale(args, actor, std::move(reply));
    case Op::SalePause:
    case Op::SaleResume:
    case Op::SaleStop:
        return changeState(request.op, args, actor, std::move(reply));
    case Op::SaleAdjust:
        return adjustStock(args, actor, std::move(reply));
    case Op::ScheduleCreate:
        return createSchedule(args, actor, std::move(reply));
    case Op::ScheduleList: {
        FieldReader r(args, QStringLiteral("/args"));
        r.rejectUnknown();
        if (!r.ok())
            return reply(std::unexpected(invalidArgs(r.errors())));
        return listSchedules(std::move(reply));
    }
    case Op::ScheduleCancel:
        return cancelSchedule(args, actor, std::move(reply));
    case Op::ReconcileRun:
        return reconcile(args, actor, std::move(reply));
    case Op::ReconcileList:
        return listReconciliations(args, std::move(reply));
    case Op::AuditList:
        return listAudit(args, std::move(reply));
    case Op::StatsSubscribe:
    case Op::StatsUnsubscribe:
        break; // the session's
    }
    reply(std::unexpected(failure(
        AdminError::Internal, QStringLiteral("%1 is not handled here").arg(opName(request.op)))));
}

// ---- sales ------------------------------------------------------------------------------------

void AdminService::loadSales(const QByteArray &where, const QList<QByteArray> &params, int limit,
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
        static const RedisScript total = RedisScript::load(QStringLiteral("stock_total"));
        auto left = std::make_shared<int>(int(sales->size()));
        for (qsizetype i = 0; i < sales->size(); ++i) {
            const qint64 id = sales->at(i).value("id").toInteger();
            m_redis.eval(total, {SaleKeys(id).stock()}, {},
                         [sales, i, left, done](const Result<RedisValue> &v) {
                             if (v && !v->isError() && v->toInt() >= 0)
                                 (*sales)[i].insert("remaining", double(v->toInt()));
                             if (--*left == 0)
                                 done(*sales);
                         });
        }
    });
}

void AdminService::loadSale(qint64 saleId, std::function<void(const Result<QJsonObject> &)> done) {
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

void AdminService::listSales(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto state = r.string(QStringLiteral("state"), false, 1, 16);
    const auto limit = r.integer(QStringLiteral("limit"), false, 1, 500);
    if (state && *state != QLatin1String("active") && *state != QLatin1String("paused")
        && *state != QLatin1String("stopped"))
        r.addError(QStringLiteral("state"), QStringLiteral("must be active, paused or stopped"));
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(invalidArgs(r.errors())));
    QByteArray where = "true";
    QList<QByteArray> params;
    if (state) {
        where = "s.state = $1";
        params << state->toUtf8();
    }
    loadSales(where, params, int(limit.value_or(100)),
              [reply = std::move(reply)](const Result<QList<QJsonObject>> &r) {
                  if (!r)
                      return reply(std::unexpected(dependencyFailure(r.error())));
                  QJsonArray sales;
                  for (const QJsonObject &s : *r)
                      sales.append(s);
                  reply(QJsonObject{{"sales", sales}});
              });
}

void AdminService::getSale(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), true, 1, kMaxId);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(invalidArgs(r.errors())));
    loadSale(*saleId, [this, id = *saleId, reply = std::move(reply)](const Result<QJsonObject> &s) {
        if (!s)
            return reply(std::unexpected(dependencyFailure(s.error())));
        m_pg.query("SELECT i.id, i.name, i.price_cents, v.stock, v.sold, "
                   "(SELECT count(*) FROM sale_items WHERE sale_id = $1) "
                   "FROM sale_items i JOIN inventory v ON v.item_id = i.id "
                   "WHERE i.sale_id = $1 ORDER BY i.id LIMIT 200",
                   {QByteArray::number(id)},
                   [this, id, sale = *s, reply](const Result<PgResult> &items) {
                       if (!items)
                           return reply(std::unexpected(dependencyFailure(items.error())));
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

void AdminService::createSale(const QJsonObject &argsIn, const QString &actor, Reply reply) {
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
            return reply(std::unexpected(invalidArgs(errors)));
    }
    auto spec = SaleSpec::fromJson(args, m_config, now);
    if (!spec) {
        FieldErrors errors = spec.error();
        for (FieldError &e : errors)
            e.pointer.prepend(QStringLiteral("/args"));
        return reply(std::unexpected(invalidArgs(errors)));
    }
    const bool warmNow = spec->startsAtMs - now <= qint64(m_config.warmupSeconds) * 1000;
    m_catalog.create(
        *spec, warmNow,
        [this, actor, reply = std::move(reply)](const Result<SaleSpec> &r, qint64 saleId) {
            if (!r && saleId == 0)
                return reply(std::unexpected(dependencyFailure(r.error())));
            // Stored; a failed warm-up is retried by the scheduler.
            loadSale(saleId, [this, actor, saleId, reply](const Result<QJsonObject> &s) {
                if (!s)
                    return reply(std::unexpected(dependencyFailure(s.error())));
                writeAudit(m_pg,
                           {actor, QStringLiteral("sale.create"), saleId, QJsonValue(), *s, {}});
                reply(QJsonObject{{"sale", *s}});
            });
        });
}

void AdminService::changeState(Op op, const QJsonObject &args, const QString &actor, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), true, 1, kMaxId);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(invalidArgs(r.errors())));
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
                return reply(std::unexpected(dependencyFailure(u.error())));
            if (u->rows.isEmpty()) {
                // Either no such sale, or a state this change cannot start from.
                return loadSale(id, [target, reply](const Result<QJsonObject> &s) {
                    if (!s)
                        return reply(std::unexpected(dependencyFailure(s.error())));
                    reply(std::unexpected(failure(
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
                        return reply(std::unexpected(failure(
                            AdminError::Unavailable,
                            QStringLiteral("Sale %1 is %2 in PostgreSQL but Redis was "
                                           "not updated (%3); repeat the operation.")
                                .arg(id)
                                .arg(QString::fromUtf8(target),
                                     v ? QString::fromUtf8(v->string) : v.error().message))));
                    loadSale(id, [this, id, before, target, action, actor,
                                  reply](const Result<QJsonObject> &s) {
                        if (!s)
                            return reply(std::unexpected(dependencyFailure(s.error())));
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

void AdminService::adjustStock(const QJsonObject &args, const QString &actor, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), true, 1, kMaxId);
    const auto itemId = r.integer(QStringLiteral("item_id"), false, 1, kMaxId);
    const auto delta = r.integer(QStringLiteral("delta"), true, -1000000, 1000000);
    if (delta && *delta == 0)
        r.addError(QStringLiteral("delta"), QStringLiteral("must not be 0"));
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(invalidArgs(r.errors())));
    m_pg.query(
        "SELECT v.item_id, v.stock, v.sold, s.state, s.warmed_at IS NOT NULL "
        "FROM sales s JOIN inventory v ON v.sale_id = s.id "
        "WHERE s.id = $1 AND ($2::bigint IS NULL OR v.item_id = $2) ORDER BY v.item_id LIMIT 2",
        {QByteArray::number(*saleId), itemId ? QByteArray::number(*itemId) : QByteArray()},
        [this, saleId = *saleId, hasItem = itemId.has_value(), delta = *delta, actor,
         reply = std::move(reply)](const Result<PgResult> &q) {
            if (!q)
                return reply(std::unexpected(dependencyFailure(q.error())));
            if (q->rows.isEmpty())
                return reply(std::unexpected(
                    failure(AdminError::NotFound,
                            hasItem ? QStringLiteral("Sale %1 has no such item.").arg(saleId)
                                    : QStringLiteral("No sale %1.").arg(saleId))));
            if (q->rows.size() > 1)
                return reply(std::unexpected(invalidArgs(
                    {{QStringLiteral("/args/item_id"),
                      QStringLiteral("is required: sale %1 has several items").arg(saleId)}})));
            const auto &row = q->rows.first();
            const qint64 item = row[0].toLongLong();
            const qint64 stockBefore = row[1].toLongLong();
            if (row[3] == "stopped")
                return reply(std::unexpected(failure(
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
                        return reply(std::unexpected(dependencyFailure(ok.error())));
                    if (!*ok)
                        return reply(std::unexpected(
                            failure(AdminError::Conflict,
                                    QStringLiteral("Sale %1 has fewer units than that to remove.")
                                        .arg(saleId))));
                    done(0, 0, false);
                });
            }
            // Removing: Redis first, so units are never taken back from under a booking; then
            // PostgreSQL, undoing the Redis change if PostgreSQL refuses. Adding: the reverse,
            // so Redis never sells units PostgreSQL does not have.
            auto redisAdjust = [this, k, itemText](
                                   qint64 d, std::function<void(const Result<RedisValue> &)> then) {
                m_redis.eval(m_adjust, {k.stock()}, {itemText, QByteArray::number(d)},
                             std::move(then));
            };
            auto redisAnswer = [](const Result<RedisValue> &v)
                -> std::expected<std::pair<qint64, qint64>, AdminFailure> {
                if (!v)
                    return std::unexpected(dependencyFailure(v.error()));
                if (v->isError() || !v->isArray() || v->elements.isEmpty())
                    return std::unexpected(
                        failure(AdminError::Internal, QString::fromUtf8(v->string)));
                const QByteArray outcome = v->elements[0].bytes();
                if (outcome == "insufficient")
                    return std::unexpected(failure(
                        AdminError::Conflict,
                        QStringLiteral("Only %1 units remain unsold; that many cannot be removed.")
                            .arg(v->elements.value(1).toInt())));
                if (outcome != "ok")
                    return std::unexpected(
                        failure(AdminError::Conflict, QStringLiteral("The item is not in Redis.")));
                return std::make_pair(v->elements[1].toInt(), v->elements[2].toInt());
            };
            if (delta < 0) {
                redisAdjust(delta, [=](const Result<RedisValue> &v) {
                    const auto rr = redisAnswer(v);
                    if (!rr)
                        return reply(std::unexpected(rr.error()));
                    updatePg([=](const Result<bool> &ok) {
                        if (ok && *ok)
                            return done(rr->first, rr->second, true);
                        redisAdjust(-delta, [](const Result<RedisValue> &) {});
                        reply(std::unexpected(
                            !ok ? dependencyFailure(ok.error())
                                : failure(AdminError::Conflict,
                                          QStringLiteral("PostgreSQL has fewer unsold units than "
                                                         "Redis; nothing was changed. Run a "
                                                         "reconciliation."))));
                    });
                });
            } else {
                updatePg([=, this](const Result<bool> &ok) {
                    if (!ok)
                        return reply(std::unexpected(dependencyFailure(ok.error())));
                    redisAdjust(delta, [=, this](const Result<RedisValue> &v) {
                        const auto rr = redisAnswer(v);
                        if (rr)
                            return done(rr->first, rr->second, true);
                        m_pg.query("UPDATE inventory SET stock = stock - $2 WHERE item_id = $1",
                                   {QByteArray::number(item), deltaText},
                                   [](const Result<PgResult> &) {});
                        reply(std::unexpected(rr.error()));
                    });
                });
            }
        });
}

// ---- schedules --------------------------------------------------------------------------------

void AdminService::createSchedule(const QJsonObject &args, const QString &actor, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto name = r.string(QStringLiteral("name"), true, 1, 150);
    const auto first = r.timestamp(QStringLiteral("first_start"), true);
    const auto every = r.integer(QStringLiteral("every_seconds"), false, 60, 366 * 86400);
    const auto duration = r.integer(QStringLiteral("duration_seconds"), false, 1, 366 * 86400);
    const auto count = r.integer(QStringLiteral("item_count"), false, 1, 100000);
    const auto units = r.integer(QStringLiteral("units_per_item"), false, 1, 1000000);
    const auto price = r.integer(QStringLiteral("price_cents"), false, 0, 10000000000LL);
    const auto limit = r.integer(QStringLiteral("per_user_limit"), false, 1, 1000);
    const auto hold = r.integer(QStringLiteral("hold_seconds"), false, 1, 86400);
    const auto rate = r.integer(QStringLiteral("admission_rate"), false, 0, 10000000);
    const auto burst = r.integer(QStringLiteral("admission_burst"), false, 1, 10000000);
    r.rejectUnknown();
    const qint64 everyS = every.value_or(3600);
    const qint64 durationS = duration.value_or(qMin<qint64>(600, everyS));
    if (durationS > everyS)
        r.addError(QStringLiteral("duration_seconds"),
                   QStringLiteral("must not exceed every_seconds (%1)").arg(everyS));
    if (!r.ok())
        return reply(std::unexpected(invalidArgs(r.errors())));
    const qint64 rateV = rate.value_or(m_config.admissionRate);
    const qint64 burstV = burst.value_or(rate ? qMax<qint64>(1, rateV) : m_config.admissionBurst);
    m_pg.query(
        "INSERT INTO sale_schedules (name, first_start, every_seconds, duration_seconds, "
        "item_count, units_per_item, price_cents, per_user_limit, hold_seconds, admission_rate, "
        "admission_burst, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
        "RETURNING id",
        {name->toUtf8(), pgTime(*first), QByteArray::number(everyS), QByteArray::number(durationS),
         QByteArray::number(count.value_or(10000)), QByteArray::number(units.value_or(1)),
         QByteArray::number(price.value_or(1999)), QByteArray::number(limit.value_or(10)),
         QByteArray::number(hold.value_or(m_config.holdSeconds)), QByteArray::number(rateV),
         QByteArray::number(burstV), actor.toUtf8()},
        [this, actor, reply = std::move(reply)](const Result<PgResult> &ins) {
            if (!ins)
                return reply(std::unexpected(dependencyFailure(ins.error())));
            const QByteArray id = ins->rows.value(0).value(0);
            m_pg.query(
                kScheduleSelect + "WHERE id = $1", {id},
                [this, actor, reply](const Result<PgResult> &q) {
                    if (!q || q->rows.isEmpty())
                        return reply(std::unexpected(dependencyFailure(
                            q ? Error{ErrorCode::Internal, QStringLiteral("schedule vanished")}
                              : q.error())));
                    const QJsonObject schedule = scheduleFromRow(q->rows.first());
                    writeAudit(
                        m_pg,
                        {actor, QStringLiteral("schedule.create"), 0, QJsonValue(), schedule, {}});
                    reply(QJsonObject{{"schedule", schedule}});
                });
        });
}

void AdminService::listSchedules(Reply reply) {
    m_pg.query(kScheduleSelect + "ORDER BY id DESC LIMIT 500", {},
               [reply = std::move(reply)](const Result<PgResult> &q) {
                   if (!q)
                       return reply(std::unexpected(dependencyFailure(q.error())));
                   QJsonArray list;
                   for (const auto &row : q->rows)
                       list.append(scheduleFromRow(row));
                   reply(QJsonObject{{"schedules", list}});
               });
}

void AdminService::cancelSchedule(const QJsonObject &args, const QString &actor, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto id = r.integer(QStringLiteral("schedule_id"), true, 1, kMaxId);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(invalidArgs(r.errors())));
    m_pg.query("UPDATE sale_schedules SET active = false WHERE id = $1 RETURNING id",
               {QByteArray::number(*id)},
               [this, id = *id, actor, reply = std::move(reply)](const Result<PgResult> &u) {
                   if (!u)
                       return reply(std::unexpected(dependencyFailure(u.error())));
                   if (u->rows.isEmpty())
                       return reply(std::unexpected(failure(
                           AdminError::NotFound, QStringLiteral("No schedule %1.").arg(id))));
                   m_pg.query(kScheduleSelect + "WHERE id = $1", {QByteArray::number(id)},
                              [this, actor, reply](const Result<PgResult> &q) {
                                  if (!q || q->rows.isEmpty())
                                      return reply(std::unexpected(dependencyFailure(
                                          q ? Error{ErrorCode::Internal,
                                                    QStringLiteral("schedule vanished")}
                                            : q.error())));
                                  const QJsonObject schedule = scheduleFromRow(q->rows.first());
                                  writeAudit(m_pg, {actor,
                                                    QStringLiteral("schedule.cancel"),
                                                    0,
                                                    QJsonObject{{"active", true}},
                                                    schedule,
                                                    {}});
                                  reply(QJsonObject{{"schedule", schedule}});
                              });
               });
}

// ---- reconciliation and audit -----------------------------------------------------------------

void AdminService::reconcile(const QJsonObject &args, const QString &actor, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), true, 1, kMaxId);
    const auto repair = r.boolean(QStringLiteral("repair"), false);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(invalidArgs(r.errors())));
    Reconciler::Options options;
    options.repair = repair.value_or(false);
    options.actor = actor;
    options.trigger = Reconciler::Trigger::Operator;
    m_reconciler.run(*saleId, options,
                     [this, reply = std::move(reply)](const Result<QJsonObject> &rep) {
                         if (!rep)
                             return reply(std::unexpected(dependencyFailure(rep.error())));
                         reply(*rep);
                     });
}

void AdminService::listReconciliations(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), false, 1, kMaxId);
    const auto limit = r.integer(QStringLiteral("limit"), false, 1, 200);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(invalidArgs(r.errors())));
    m_pg.query("SELECT report FROM reconcile_runs WHERE ($1::bigint IS NULL OR sale_id = $1) "
               "ORDER BY id DESC LIMIT $2",
               {saleId ? QByteArray::number(*saleId) : QByteArray(),
                QByteArray::number(limit.value_or(20))},
               [reply = std::move(reply)](const Result<PgResult> &q) {
                   if (!q)
                       return reply(std::unexpected(dependencyFailure(q.error())));
                   QJsonArray runs;
                   for (const auto &row : q->rows)
                       runs.append(jsonColumn(row[0]));
                   reply(QJsonObject{{"runs", runs}});
               });
}

void AdminService::listAudit(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), false, 1, kMaxId);
    const auto before = r.integer(QStringLiteral("before_id"), false, 1, kMaxId);
    const auto limit = r.integer(QStringLiteral("limit"), false, 1, 500);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(invalidArgs(r.errors())));
    m_pg.query(
        "SELECT id, (extract(epoch FROM at) * 1000)::bigint, actor, action, sale_id, "
        "before, after, detail FROM audit_log "
        "WHERE ($1::bigint IS NULL OR sale_id = $1) AND ($2::bigint IS NULL OR id < $2) "
        "ORDER BY id DESC LIMIT $3",
        {saleId ? QByteArray::number(*saleId) : QByteArray(),
         before ? QByteArray::number(*before) : QByteArray(),
         QByteArray::number(limit.value_or(50))},
        [reply = std::move(reply)](const Result<PgResult> &q) {
            if (!q)
                return reply(std::unexpected(dependencyFailure(q.error())));
            QJsonArray entries;
            for (const auto &row : q->rows)
                entries.append(QJsonObject{
                    {"id", row[0].toLongLong()},
                    {"at", isoTime(row[1].toLongLong())},
                    {"actor", QString::fromUtf8(row[2])},
                    {"action", QString::fromUtf8(row[3])},
                    {"sale_id", row[4].isNull() ? QJsonValue() : QJsonValue(row[4].toLongLong())},
                    {"before", jsonColumn(row[5])},
                    {"after", jsonColumn(row[6])},
                    {"detail", jsonColumn(row[7])}});
            reply(QJsonObject{{"entries", entries}});
        });
}

} // namespace flashsale
