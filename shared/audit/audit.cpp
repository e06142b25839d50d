#include "audit.h"

#include "core/logging.h"
#include "pg/pgconnection.h"

#include <QJsonArray>
#include <QJsonDocument>

namespace flashsale {

namespace {

QByteArray jsonb(const QJsonValue &v) {
    if (v.isUndefined() || v.isNull())
        return QByteArray(); // SQL NULL
    if (v.isObject())
        return QJsonDocument(v.toObject()).toJson(QJsonDocument::Compact);
    if (v.isArray())
        return QJsonDocument(v.toArray()).toJson(QJsonDocument::Compact);
    // Scalars: wrap, so the column always holds a JSON document.
    return QJsonDocument(QJsonObject{{QStringLiteral("value"), v}}).toJson(QJsonDocument::Compact);
}

} // namespace

void writeAudit(PgConnection &pg, const AuditRecord &record,
                std::function<void(const Result<qint64> &)> done) {
    pg.query(
        "INSERT INTO audit_log (actor, action, sale_id, before, after, detail) "
        "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb) RETURNING id",
        {record.actor.toUtf8(), record.action.toUtf8(),
         record.saleId > 0 ? QByteArray::number(record.saleId) : QByteArray(), jsonb(record.before),
         jsonb(record.after), record.detail.isEmpty() ? QByteArray() : jsonb(record.detail)},
        [record, done = std::move(done)](const Result<PgResult> &r) {
            if (!r) {
                qCWarning(lcApp).noquote() << "audit record" << record.action << "by"
                                           << record.actor << "not written:" << r.error().message;
                if (done)
                    done(std::unexpected(r.error()));
                return;
            }
            if (done)
                done(r->rows.value(0).value(0).toLongLong());
        });
}

} // namespace flashsale
