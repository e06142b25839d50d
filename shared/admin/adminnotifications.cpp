#include "adminnotifications.h"

#include "core/fieldreader.h"
#include "core/timeformat.h"
#include "pg/pgconnection.h"

#include <QJsonArray>

namespace flashsale {

AdminNotifications::AdminNotifications(PgConnection &pg)
    : m_pg(pg) {}

void AdminNotifications::failures(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto limit = r.integer(QStringLiteral("limit"), false, 1, 500);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    // One statement: the page and the count agree with each other.
    m_pg.query(
        "SELECT event_id, order_id, user_id, kind, (extract(epoch FROM failed_at) * 1000)::bigint, "
        "failure, (SELECT count(*) FROM notifications WHERE delivered_at IS NULL AND failed_at "
        "IS NULL), (SELECT count(*) FROM notifications WHERE failed_at IS NOT NULL) "
        "FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT * FROM notifications "
        "WHERE failed_at IS NOT NULL ORDER BY failed_at DESC, event_id LIMIT $1) n ON true",
        {QByteArray::number(limit.value_or(50))},
        [reply = std::move(reply)](const Result<PgResult> &q) {
            if (!q)
                return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
            QJsonArray failures;
            for (const auto &row : q->rows) {
                if (row[0].isNull())
                    continue; // no failure: the one row carries the counts only
                failures.append(QJsonObject{{"event_id", QString::fromUtf8(row[0])},
                                            {"order_id", row[1].toLongLong()},
                                            {"user_id", QString::fromUtf8(row[2])},
                                            {"kind", QString::fromUtf8(row[3])},
                                            {"failed_at", isoTime(row[4].toLongLong())},
                                            {"failure", QString::fromUtf8(row[5])}});
            }
            const auto first = q->rows.value(0);
            reply(QJsonObject{{"failures", failures},
                              {"total", first.value(7).toLongLong()},
                              {"unsent", first.value(6).toLongLong()}});
        });
}

} // namespace flashsale
