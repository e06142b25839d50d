#include "adminoperators.h"

#include "admin/passwordhash.h"
#include "audit/audit.h"
#include "core/fieldreader.h"
#include "pg/pgconnection.h"

#include <QJsonArray>

namespace flashsale {

using admin::AdminError;

namespace {

const QByteArray kColumns = "name, role, "
                            "to_char(created_at AT TIME ZONE 'UTC', "
                            "  'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), created_by, "
                            "to_char(password_changed_at AT TIME ZONE 'UTC', "
                            "  'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
                            "to_char(disabled_at AT TIME ZONE 'UTC', "
                            "  'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') ";

QJsonObject operatorFromRow(const QList<QByteArray> &row) {
    const auto text = [&](int i) {
        return row.value(i).isNull() ? QJsonValue() : QJsonValue(QString::fromUtf8(row.value(i)));
    };
    return QJsonObject{{"name", text(0)},
                       {"role", text(1)},
                       {"created_at", text(2)},
                       {"created_by", text(3)},
                       {"password_changed_at", text(4)},
                       {"disabled_at", text(5)}};
}

std::optional<QString> readName(FieldReader &r) {
    auto name = r.string(QStringLiteral("name"), true, 1, 64,
                         QStringLiteral("abcdefghijklmnopqrstuvwxyz0123456789._-"),
                         QStringLiteral("a-z, 0-9, '.', '_', '-'"));
    if (name && !validOperatorName(*name)) {
        r.addError(QStringLiteral("name"), QStringLiteral("\"bootstrap\" is reserved"));
        return std::nullopt;
    }
    return name;
}

std::optional<admin::Role> readRole(FieldReader &r) {
    const auto text = r.string(QStringLiteral("role"), true, 1, 32);
    if (!text)
        return std::nullopt;
    const auto role = admin::roleFromName(*text);
    if (!role)
        r.addError(QStringLiteral("role"), QStringLiteral("must be viewer, merchandiser or admin"));
    return role;
}

std::optional<QByteArray> readPassword(FieldReader &r) {
    const auto text =
        r.string(QStringLiteral("password"), true, kMinPasswordChars, kMaxPasswordBytes);
    if (!text)
        return std::nullopt;
    const QByteArray utf8 = text->toUtf8();
    if (utf8.size() > kMaxPasswordBytes) {
        r.addError(QStringLiteral("password"),
                   QStringLiteral("must be at most %1 bytes").arg(kMaxPasswordBytes));
        return std::nullopt;
    }
    return utf8;
}

// The failure for a statement that found no such operator.
admin::AdminFailure noSuchOperator(const QString &name) {
    return AdminService::failure(AdminError::NotFound, QStringLiteral("No operator %1.").arg(name));
}

} // namespace

AdminOperators::AdminOperators(PgConnection &pg, QObject *parent)
    : QObject(parent)
    , m_pg(pg) {}

void AdminOperators::list(const QJsonObject &args, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    m_pg.query("SELECT " + kColumns + "FROM operators ORDER BY name", {},
               [reply = std::move(reply)](const Result<PgResult> &q) {
                   if (!q)
                       return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
                   QJsonArray list;
                   for (const auto &row : q->rows)
                       list.append(operatorFromRow(row));
                   reply(QJsonObject{{"operators", list}});
               });
}

void AdminOperators::create(const QJsonObject &args, const OperatorIdentity &who, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto name = readName(r);
    const auto role = readRole(r);
    const auto password = readPassword(r);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    const QString actor = who.name;
    hashPasswordAsync(
        this, *password,
        [this, name = *name, role = *role, actor, reply](const Result<QByteArray> &hash) {
            if (!hash)
                return reply(std::unexpected(AdminService::dependencyFailure(hash.error())));
            m_pg.query(
                "INSERT INTO operators (name, role, password_hash, created_by) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING "
                    + kColumns,
                {name.toUtf8(), admin::roleName(role).toUtf8(), *hash, actor.toUtf8()},
                [this, name, actor, reply](const Result<PgResult> &q) {
                    if (!q)
                        return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
                    if (q->rows.isEmpty())
                        return reply(std::unexpected(AdminService::failure(
                            AdminError::Conflict,
                            QStringLiteral("An operator named %1 exists already.").arg(name))));
                    const QJsonObject op = operatorFromRow(q->rows.first());
                    writeAudit(m_pg, {actor, QStringLiteral("operator.create"), 0, QJsonValue(), op,
                                      QJsonObject{{"operator", name}}});
                    reply(QJsonObject{{"operator", op}});
                });
        });
}

void AdminOperators::change(const QString &action, const QString &name, const QByteArray &sql,
                            const QList<QByteArray> &params, const QJsonValue &before,
                            const OperatorIdentity &who, Reply reply) {
    QList<QByteArray> all{name.toUtf8()};
    all += params;
    m_pg.query(
        sql + " RETURNING " + kColumns, all,
        [this, action, name, before, actor = who.name,
         reply = std::move(reply)](const Result<PgResult> &q) {
            if (!q)
                return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
            if (q->rows.isEmpty())
                return reply(std::unexpected(noSuchOperator(name)));
            const QJsonObject op = operatorFromRow(q->rows.first());
            writeAudit(m_pg, {actor, action, 0, before, op, QJsonObject{{"operator", name}}});
            reply(QJsonObject{{"operator", op}});
        });
}

void AdminOperators::setRole(const QJsonObject &args, const OperatorIdentity &who, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto name = readName(r);
    const auto role = readRole(r);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    if (*name == who.name)
        return reply(std::unexpected(AdminService::failure(
            AdminError::Conflict, QStringLiteral("You cannot change your own role."))));
    // The role before, for the audit row, read in the same statement.
    m_pg.query("SELECT role FROM operators WHERE name = $1", {name->toUtf8()},
               [this, name = *name, role = *role, who, reply](const Result<PgResult> &q) {
                   if (!q)
                       return reply(std::unexpected(AdminService::dependencyFailure(q.error())));
                   if (q->rows.isEmpty())
                       return reply(std::unexpected(noSuchOperator(name)));
                   change(QStringLiteral("operator.set-role"), name,
                          "UPDATE operators SET role = $2 WHERE name = $1",
                          {admin::roleName(role).toUtf8()},
                          QJsonObject{{"role", QString::fromUtf8(q->rows.first().value(0))}}, who,
                          reply);
               });
}

void AdminOperators::rotatePassword(const QJsonObject &args, const OperatorIdentity &who,
                                    Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto name = readName(r);
    const auto password = readPassword(r);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    hashPasswordAsync(
        this, *password, [this, name = *name, who, reply](const Result<QByteArray> &hash) {
            if (!hash)
                return reply(std::unexpected(AdminService::dependencyFailure(hash.error())));
            change(QStringLiteral("operator.rotate-password"), name,
                   "UPDATE operators SET password_hash = $2, "
                   "password_changed_at = now() WHERE name = $1",
                   {*hash}, QJsonValue(), who, reply);
        });
}

void AdminOperators::disable(const QJsonObject &args, const OperatorIdentity &who, Reply reply) {
    FieldReader r(args, QStringLiteral("/args"));
    const auto name = readName(r);
    r.rejectUnknown();
    if (!r.ok())
        return reply(std::unexpected(AdminService::invalidArgs(r.errors())));
    if (*name == who.name)
        return reply(std::unexpected(AdminService::failure(
            AdminError::Conflict, QStringLiteral("You cannot disable yourself."))));
    change(QStringLiteral("operator.disable"), *name,
           "UPDATE operators SET disabled_at = coalesce(disabled_at, now()) WHERE name = $1", {},
           QJsonValue(), who, std::move(reply));
}

} // namespace flashsale
