#include "adminschedules.h"

#include "audit/audit.h"
#include "booking/occurrence.h"
#include "core/config.h"
#include "core/timeformat.h"
#include "pg/pgconnection.h"

#include <QJsonArray>

namespace flashsale {

using admin::AdminError;

namespace {

QByteArray pgTime(qint64 ms) {
    return isoTime(ms).toUtf8();
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

} // namespace

AdminSchedules::AdminSchedules(const Config &config, PgConnection &pg)
    : m_config(config)
    , m_pg(pg) {}

void AdminSchedules::create(const QJsonObject &args, const QString &actor, Reply reply) {
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
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
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
                return reply(std::unexpected(AdminService::dependencyFailure(ins.error())));
            const QByteArray id = ins->rows.value(0).value(0);
            m_pg.query(
                kScheduleSelect + "WHERE id = $1", {id},
                [this, actor, reply](const Result<PgResult> &q) {
                    if (!q || q->rows.isEmpty())
                        return reply(std::unexpected(AdminService::dependencyFailure(
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

void AdminSchedules::list(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    m_pg.query(kScheduleSelect + "ORDER BY id DESC LIMIT 500", {},
               [reply = std::move(reply)](const Result<PgResult> &q) {
                   if (!q)
                       return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
                   QJsonArray list;
                   for (const auto &row : q->rows)
                       list.append(scheduleFromRow(row));
                   reply(QJsonObject{{"schedules", list}});
               });
}

void AdminSchedules::cancel(const QJsonObject &args, const QString &actor, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto id = r.integer(QStringLiteral("schedule_id"), true, 1, AdminService::kMaxId);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    m_pg.query("UPDATE sale_schedules SET active = false WHERE id = $1 RETURNING id",
               {QByteArray::number(*id)},
               [this, id = *id, actor, reply = std::move(reply)](const Result<PgResult> &u) {
                   if (!u)
                       return reply(std::unexpected(AdminService::dependencyFailure(u.error())));
                   if (u->rows.isEmpty())
                       return reply(std::unexpected(AdminService::failure(
                           AdminError::NotFound, QStringLiteral("No schedule %1.").arg(id))));
                   m_pg.query(kScheduleSelect + "WHERE id = $1", {QByteArray::number(id)},
                              [this, actor, reply](const Result<PgResult> &q) {
                                  if (!q || q->rows.isEmpty())
                                      return reply(std::unexpected(AdminService::dependencyFailure(
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

} // namespace flashsale
