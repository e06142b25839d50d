#include "adminaudit.h"

#include "core/timeformat.h"
#include "pg/pgconnection.h"

#include <QJsonArray>

namespace flashsale {

AdminAudit::AdminAudit(PgConnection &pg)
    : m_pg(pg) {}

void AdminAudit::list(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto saleId = r.integer(QStringLiteral("sale_id"), false, 1, AdminService::kMaxId);
    const auto before = r.integer(QStringLiteral("before_id"), false, 1, AdminService::kMaxId);
    const auto limit = r.integer(QStringLiteral("limit"), false, 1, 500);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
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
                return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
            QJsonArray entries;
            for (const auto &row : q->rows)
                entries.append(QJsonObject{
                    {"id", row[0].toLongLong()},
                    {"at", isoTime(row[1].toLongLong())},
                    {"actor", QString::fromUtf8(row[2])},
                    {"action", QString::fromUtf8(row[3])},
                    {"sale_id", row[4].isNull() ? QJsonValue() : QJsonValue(row[4].toLongLong())},
                    {"before", AdminService::jsonColumn(row[5])},
                    {"after", AdminService::jsonColumn(row[6])},
                    {"detail", AdminService::jsonColumn(row[7])}});
            reply(QJsonObject{{"entries", entries}});
        });
}

} // namespace flashsale
