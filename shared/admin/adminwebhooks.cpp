#include "adminwebhooks.h"

#include "core/timeformat.h"
#include "pg/pgconnection.h"

#include <QJsonArray>

namespace flashsale {

namespace {

const QString kEndpointChars = QStringLiteral("abcdefghijklmnopqrstuvwxyz0123456789._-");

QJsonValue optionalTime(const QByteArray &ms) {
    return ms.isNull() ? QJsonValue() : QJsonValue(isoTime(ms.toLongLong()));
}

QJsonValue optionalText(const QByteArray &text) {
    return text.isNull() ? QJsonValue() : QJsonValue(QString::fromUtf8(text));
}

QJsonValue optionalInteger(const QByteArray &n) {
    return n.isNull() ? QJsonValue() : QJsonValue(n.toLongLong());
}

} // namespace

AdminWebhooks::AdminWebhooks(PgConnection &pg)
    : m_pg(pg) {}

void AdminWebhooks::list(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    m_pg.query("SELECT e.id, e.url, array_to_string(e.events, ','), e.configured, "
               "count(d.id) FILTER (WHERE d.status = 'pending'), "
               "count(d.id) FILTER (WHERE d.status = 'delivered'), "
               "count(d.id) FILTER (WHERE d.status = 'dead'), "
               "(extract(epoch FROM max(d.delivered_at)) * 1000)::bigint "
               "FROM merchant_webhook_endpoints e "
               "LEFT JOIN merchant_webhook_deliveries d ON d.endpoint_id = e.id "
               "GROUP BY e.id ORDER BY e.id",
               {}, [reply = std::move(reply)](const Result<PgResult> &q) {
                   if (!q)
                       return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
                   QJsonArray endpoints;
                   for (const auto &row : q->rows)
                       endpoints.append(QJsonObject{
                           {"id", QString::fromUtf8(row[0])},
                           {"url", QString::fromUtf8(row[1])},
                           {"events", QJsonArray::fromStringList(
                                          QString::fromUtf8(row[2]).split(QLatin1Char(',')))},
                           {"configured", row[3] == "t"},
                           {"pending", row[4].toLongLong()},
                           {"delivered", row[5].toLongLong()},
                           {"dead", row[6].toLongLong()},
                           {"last_delivered_at", optionalTime(row[7])}});
                   reply(QJsonObject{{"endpoints", endpoints}});
               });
}

void AdminWebhooks::deadLetters(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto endpoint = r.string(QStringLiteral("endpoint_id"), false, 1, 64, kEndpointChars,
                                   QStringLiteral("a-z 0-9 . _ -"));
    const auto before = r.integer(QStringLiteral("before_id"), false, 1, AdminService::kMaxId);
    const auto limit = r.integer(QStringLiteral("limit"), false, 1, 500);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    const qint64 pageSize = limit.value_or(50);
    // One row more than asked says whether another page follows.
    m_pg.query("SELECT id, endpoint_id, event_id, event_type, order_id, attempts, last_status, "
               "last_error, (extract(epoch FROM created_at) * 1000)::bigint, "
               "(extract(epoch FROM dead_at) * 1000)::bigint, replays "
               "FROM merchant_webhook_deliveries WHERE status = 'dead' "
               "AND ($1::text IS NULL OR endpoint_id = $1) AND ($2::bigint IS NULL OR id < $2) "
               "ORDER BY id DESC LIMIT $3",
               {endpoint ? endpoint->toUtf8() : QByteArray(),
                before ? QByteArray::number(*before) : QByteArray(),
                QByteArray::number(pageSize + 1)},
               [reply = std::move(reply), pageSize](const Result<PgResult> &q) {
                   if (!q)
                       return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
                   QJsonArray letters;
                   qint64 lastId = 0;
                   for (qsizetype i = 0; i < q->rows.size() && i < pageSize; ++i) {
                       const auto &row = q->rows[i];
                       lastId = row[0].toLongLong();
                       letters.append(QJsonObject{{"id", lastId},
                                                  {"endpoint_id", QString::fromUtf8(row[1])},
                                                  {"event_id", QString::fromUtf8(row[2])},
                                                  {"event_type", QString::fromUtf8(row[3])},
                                                  {"order_id", optionalInteger(row[4])},
                                                  {"attempts", row[5].toLongLong()},
                                                  {"last_status", optionalInteger(row[6])},
                                                  {"last_error", optionalText(row[7])},
                                                  {"created_at", optionalTime(row[8])},
                                                  {"dead_at", optionalTime(row[9])},
                                                  {"replays", row[10].toLongLong()}});
                   }
                   const bool more = q->rows.size() > pageSize;
                   reply(QJsonObject{{"dead_letters", letters},
                                     {"next_before_id", more ? QJsonValue(lastId) : QJsonValue()}});
               });
}

void AdminWebhooks::replay(const QJsonObject &args, const QString &actor, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto delivery = r.integer(QStringLiteral("delivery_id"), false, 1, AdminService::kMaxId);
    const auto endpoint = r.string(QStringLiteral("endpoint_id"), false, 1, 64, kEndpointChars,
                                   QStringLiteral("a-z 0-9 . _ -"));
    r.rejectUnknown();
    if (r.ok() && delivery.has_value() == endpoint.has_value())
        r.addError(QStringLiteral("delivery_id"),
                   QStringLiteral("give exactly one of delivery_id and endpoint_id"));
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    // The rows and their audit record in one statement: a replay is never unaudited.
    m_pg.query(
        "WITH r AS (UPDATE merchant_webhook_deliveries SET status = 'pending', attempts = 0, "
        "next_attempt_at = now(), dead_at = NULL, replays = replays + 1 "
        "WHERE status = 'dead' AND ($1::bigint IS NULL OR id = $1) "
        "AND ($2::text IS NULL OR endpoint_id = $2) RETURNING id), "
        "a AS (INSERT INTO audit_log (actor, action, detail) "
        "SELECT $3, 'webhooks.replay', jsonb_build_object('delivery_id', $1::bigint, "
        "'endpoint_id', $2::text, 'replayed', count(*), 'ids', jsonb_agg(id ORDER BY id)) "
        "FROM r HAVING count(*) > 0 RETURNING id) "
        "SELECT coalesce((SELECT string_agg(id::text, ',' ORDER BY id) FROM r), ''), "
        "(SELECT id FROM a)",
        {delivery ? QByteArray::number(*delivery) : QByteArray(),
         endpoint ? endpoint->toUtf8() : QByteArray(), actor.toUtf8()},
        [reply = std::move(reply), delivery](const Result<PgResult> &q) {
            if (!q)
                return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
            QJsonArray ids;
            const QByteArray list = q->rows.value(0).value(0);
            for (const QByteArray &id : list.split(','))
                if (!id.isEmpty())
                    ids.append(id.toLongLong());
            if (delivery && ids.isEmpty())
                return reply(std::unexpected(AdminService::failure(
                    admin::AdminError::NotFound,
                    QStringLiteral("delivery %1 is not in the dead-letter list").arg(*delivery))));
            const QByteArray auditId = q->rows.value(0).value(1);
            reply(QJsonObject{{"replayed", ids.size()},
                              {"delivery_ids", ids},
                              {"audit_id", optionalInteger(auditId)}});
        });
}

} // namespace flashsale
