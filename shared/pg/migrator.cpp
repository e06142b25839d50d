#include "migrator.h"

#include "core/logging.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QRegularExpression>

#include <libpq-fe.h>

#include <memory>

namespace flashsale {

namespace {

constexpr qint64 kMigrationLockId = 0x466c61736853616cLL; // "FlashSal"

struct Conn {
    PGconn *c = nullptr;
    ~Conn() {
        if (c)
            PQfinish(c);
    }
};

[[nodiscard]] Result<PGresult *> exec(PGconn *c, const QByteArray &sql,
                                      const QList<QByteArray> &params = {}) {
    QVarLengthArray<const char *, 4> values;
    for (const QByteArray &p : params)
        values.append(p.constData());
    PGresult *r = params.isEmpty() ? PQexec(c, sql.constData())
                                   : PQexecParams(c, sql.constData(), int(values.size()), nullptr,
                                                  values.data(), nullptr, nullptr, 0);
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const QString msg = QString::fromUtf8(PQresultErrorMessage(r)).trimmed();
        PQclear(r);
        return fail(ErrorCode::Internal, msg);
    }
    return r;
}

} // namespace

Result<QStringList> applyMigrations(const QString &conninfo) {
    Conn conn;
    conn.c = PQconnectdb(conninfo.toUtf8().constData());
    if (PQstatus(conn.c) != CONNECTION_OK)
        return fail(ErrorCode::Unavailable,
                    QStringLiteral("cannot connect to PostgreSQL: %1")
                        .arg(QString::fromUtf8(PQerrorMessage(conn.c)).trimmed()));
    PQsetNoticeProcessor(
        conn.c, [](void *, const char *) {}, nullptr);

    auto step = [&](const QByteArray &sql, const QList<QByteArray> &params = {}) -> Result<void> {
        auto r = exec(conn.c, sql, params);
        if (!r)
            return std::unexpected(r.error());
        PQclear(*r);
        return {};
    };

    if (auto r = step("SELECT pg_advisory_lock(" + QByteArray::number(kMigrationLockId) + ")"); !r)
        return std::unexpected(r.error());
    // Only when missing: CREATE ... IF NOT EXISTS needs the CREATE privilege even when the table
    // exists, and the application role (sql/007_app_role.sql) has none. It then only checks
    // that every migration is applied; a pending one fails for lack of privileges, and is
    // applied with --migrate-only by the schema's owner.
    bool haveTable = false;
    {
        auto r = exec(conn.c, "SELECT to_regclass('schema_migrations') IS NOT NULL");
        if (!r)
            return std::unexpected(r.error());
        haveTable = QByteArray(PQgetvalue(*r, 0, 0)) == "t";
        PQclear(*r);
    }
    if (!haveTable) {
        if (auto r = step("CREATE TABLE IF NOT EXISTS schema_migrations ("
                          " version integer PRIMARY KEY,"
                          " name text NOT NULL,"
                          " checksum text NOT NULL,"
                          " applied_at timestamptz NOT NULL DEFAULT now())");
            !r)
            return std::unexpected(r.error());
    }

    QHash<int, QByteArray> applied;
    {
        auto r = exec(conn.c, "SELECT version, checksum FROM schema_migrations");
        if (!r)
            return std::unexpected(r.error());
        for (int i = 0; i < PQntuples(*r); ++i)
            applied.insert(QByteArray(PQgetvalue(*r, i, 0)).toInt(),
                           QByteArray(PQgetvalue(*r, i, 1)));
        PQclear(*r);
    }

    static const QRegularExpression namePattern(QStringLiteral("^(\\d{3})_([a-z0-9_]+)\\.sql$"));
    QStringList files = QDir(QStringLiteral(":/sql")).entryList(QDir::Files, QDir::Name);
    QStringList done;
    for (const QString &file : files) {
        const auto m = namePattern.match(file);
        if (!m.hasMatch())
            return fail(ErrorCode::Internal,
                        QStringLiteral("migration %1 is not named NNN_name.sql").arg(file));
        const int version = m.captured(1).toInt();
        QFile f(QStringLiteral(":/sql/") + file);
        if (!f.open(QIODevice::ReadOnly))
            return fail(ErrorCode::Internal, QStringLiteral("cannot read migration %1").arg(file));
        const QByteArray sql = f.readAll();
        const QByteArray checksum =
            QCryptographicHash::hash(sql, QCryptographicHash::Sha256).toHex();
        if (applied.contains(version)) {
            if (applied.value(version) != checksum)
                return fail(ErrorCode::Conflict,
                            QStringLiteral("migration %1 was changed after it was applied; add a "
                                           "new migration instead")
                                .arg(file));
            continue;
        }
        auto r = step("BEGIN");
        if (r)
            r = step(sql);
        if (r)
            r = step("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                     {QByteArray::number(version), m.captured(2).toUtf8(), checksum});
        if (r)
            r = step("COMMIT");
        if (!r) {
            (void)step("ROLLBACK");
            return fail(ErrorCode::Internal,
                        QStringLiteral("migration %1 failed: %2").arg(file, r.error().message));
        }
        qCInfo(lcPg) << "applied migration" << file;
        done << file;
    }
    (void)step("SELECT pg_advisory_unlock(" + QByteArray::number(kMigrationLockId) + ")");
    return done;
}

} // namespace flashsale
