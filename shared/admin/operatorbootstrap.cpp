#include "operatorbootstrap.h"

#include "admin/passwordhash.h"

#include <QScopeGuard>

#include <libpq-fe.h>
#include <sodium.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace flashsale {

namespace {

Result<void> writeSecretFile(const QString &path, QByteArray secret) {
    const QByteArray p = path.toLocal8Bit();
    const int fd =
        ::open(p.constData(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(ErrorCode::Internal, QStringLiteral("cannot write %1: %2")
                                             .arg(path, QString::fromLocal8Bit(strerror(errno))));
    // An existing file keeps its mode on O_CREAT: make it 0600 before the secret goes in.
    bool ok = ::fchmod(fd, 0600) == 0;
    secret.append('\n');
    qsizetype done = 0;
    while (ok && done < secret.size()) {
        const ssize_t n = ::write(fd, secret.constData() + done, size_t(secret.size() - done));
        ok = n > 0;
        done += n > 0 ? n : 0;
    }
    ok = ::close(fd) == 0 && ok;
    sodium_memzero(secret.data(), size_t(secret.size()));
    if (!ok)
        return fail(ErrorCode::Internal, QStringLiteral("cannot write %1").arg(path));
    return {};
}

} // namespace

Result<bool> bootstrapOperator(const QString &conninfo, const QString &path) {
    PGconn *c = PQconnectdb(conninfo.toUtf8().constData());
    const auto finish = qScopeGuard([c] { PQfinish(c); });
    if (PQstatus(c) != CONNECTION_OK)
        return fail(ErrorCode::Unavailable,
                    QStringLiteral("cannot connect to PostgreSQL: %1")
                        .arg(QString::fromUtf8(PQerrorMessage(c)).trimmed()));
    const auto count = [c]() -> Result<qint64> {
        PGresult *r = PQexec(c, "SELECT count(*) FROM operators");
        const auto clear = qScopeGuard([r] { PQclear(r); });
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            return fail(ErrorCode::Internal, QString::fromUtf8(PQresultErrorMessage(r)).trimmed());
        return QByteArray(PQgetvalue(r, 0, 0)).toLongLong();
    }();
    if (!count)
        return std::unexpected(count.error());
    if (*count > 0)
        return false;

    QByteArray password = randomSecret(24);
    auto hash = hashPasswordBlocking(password);
    if (!hash || password.isEmpty())
        return fail(ErrorCode::Internal, QStringLiteral("cannot hash the bootstrap password"));
    // Only when the table is still empty: another process may have won the race meanwhile.
    const char *values[] = {hash->constData()};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO operators (name, role, password_hash, created_by) "
                               "SELECT 'admin', 'admin', $1, 'bootstrap' "
                               "WHERE NOT EXISTS (SELECT 1 FROM operators) "
                               "ON CONFLICT (name) DO NOTHING RETURNING id",
                               1, nullptr, values, nullptr, nullptr, 0);
    const auto clear = qScopeGuard([r] { PQclear(r); });
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return fail(ErrorCode::Internal, QString::fromUtf8(PQresultErrorMessage(r)).trimmed());
    if (PQntuples(r) == 0)
        return false;
    // The audit row, so the first operator has a creation like every later one.
    const char *audit = "INSERT INTO audit_log (actor, action, after, detail) VALUES "
                        "('bootstrap', 'operator.create', "
                        "'{\"name\": \"admin\", \"role\": \"admin\"}', "
                        "'{\"operator\": \"admin\", \"via\": \"bootstrap-operator-file\"}')";
    PQclear(PQexec(c, audit));
    auto written = writeSecretFile(path, password);
    sodium_memzero(password.data(), size_t(password.size()));
    if (!written)
        return std::unexpected(written.error());
    return true;
}

} // namespace flashsale
