#include "testservers.h"

#include "rawhttp.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QMutex>
#include <QRandomGenerator>
#include <QSet>
#include <QTcpServer>
#include <QThread>
#include <QUrl>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include <csignal>

namespace flashsale::test {

void killProcess(QProcess &process) {
    process.kill();
    process.waitForFinished(2000);
}

QString ProgramRun::describe() const {
    return QStringLiteral("exit %1\nstdout:\n%2\nstderr:\n%3").arg(exitCode).arg(out, err);
}

ProgramRun runProgram(const QString &program, const QStringList &args,
                      const QHash<QString, QString> &set, const QStringList &unset,
                      const QByteArray &input, int timeoutMs) {
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const QString &name : unset)
        env.remove(name);
    for (auto it = set.constBegin(); it != set.constEnd(); ++it)
        env.insert(it.key(), it.value());
    p.setProcessEnvironment(env);
    p.start(program, args);
    p.write(input);
    p.closeWriteChannel();
    ProgramRun r;
    if (!p.waitForFinished(timeoutMs)) {
        killProcess(p);
        r.err = QStringLiteral("%1 did not finish in %2 ms").arg(program).arg(timeoutMs);
        return r;
    }
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    if (p.exitStatus() == QProcess::NormalExit)
        r.exitCode = p.exitCode();
    return r;
}

QString ctlBinary() {
    return QStringLiteral(FLASHSALE_CTL_BIN);
}

ProgramRun fairnessVerify(const QString &apiUrl, qint64 saleId, const QStringList &extra) {
    return runProgram(ctlBinary(),
                      QStringList{QStringLiteral("fairness"), QStringLiteral("verify"),
                                  QString::number(saleId), QStringLiteral("--api"), apiUrl}
                          + extra,
                      {}, {QStringLiteral("FLASHSALE_API_URL")});
}

void stopProcess(QProcess &process, int graceMs) {
    if (process.state() == QProcess::NotRunning)
        return;
    process.terminate();
    if (!process.waitForFinished(graceMs))
        killProcess(process);
}

char processState(qint64 pid) {
    QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!stat.open(QIODevice::ReadOnly))
        return '?';
    // "PID (COMMAND) STATE ...": the command may hold spaces and parentheses.
    const QByteArray text = stat.readAll();
    const qsizetype close = text.lastIndexOf(')');
    return close < 0 || close + 2 >= text.size() ? '?' : text.at(close + 2);
}

QString rfc3339(qint64 offsetMs) {
    return QDateTime::currentDateTimeUtc().addMSecs(offsetMs).toString(Qt::ISODateWithMs);
}

qint64 nowMs() {
    return QDateTime::currentMSecsSinceEpoch();
}

quint16 freePort() {
    // The kernel may hand the same ephemeral port out twice in a row once it is released, and a
    // suite often asks for several before any server binds (a backend's API and metrics ports
    // collided that way in CI): never return a port this process already handed out.
    static QMutex lock;
    static QSet<quint16> handedOut;
    const QMutexLocker locker(&lock);
    for (int attempt = 0; attempt < 64; ++attempt) {
        QTcpServer s;
        if (!s.listen(QHostAddress::LocalHost, 0))
            continue;
        const quint16 port = s.serverPort();
        if (!handedOut.contains(port)) {
            handedOut.insert(port);
            return port;
        }
    }
    qFatal("freePort: no unused loopback port after 64 tries");
}

RedisServer::RedisServer() = default;

RedisServer::~RedisServer() {
    stop();
}

bool RedisServer::start(const QStringList &extraArgs) {
    const QString bin =
        qEnvironmentVariable("FLASHSALE_TEST_REDIS_SERVER", QStringLiteral("redis-server"));
    if (m_port == 0)
        m_port = freePort();
    m_process.setProgram(bin);
    m_process.setArguments(QStringList{QStringLiteral("--port"), QString::number(m_port),
                                       QStringLiteral("--bind"), QStringLiteral("127.0.0.1"),
                                       QStringLiteral("--dir"), m_dir.path(),
                                       QStringLiteral("--save"), QString(),
                                       QStringLiteral("--appendonly"), QStringLiteral("no")}
                           + extraArgs);
    m_process.setProcessChannelMode(QProcess::MergedChannels);
    m_process.start();
    if (!m_process.waitForStarted(5000)) {
        m_error = QStringLiteral("cannot start %1: %2").arg(bin, m_process.errorString());
        return false;
    }
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < 10000) {
        redisContext *c = redisConnect("127.0.0.1", m_port);
        if (c && !c->err) {
            auto *r = static_cast<redisReply *>(redisCommand(c, "PING"));
            const bool ok = r && r->type == REDIS_REPLY_STATUS;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return true;
        } else if (c) {
            redisFree(c);
        }
        QThread::msleep(20);
    }
    m_error =
        QStringLiteral("redis-server did not answer: ") + QString::fromUtf8(m_process.readAll());
    return false;
}

void RedisServer::stop() {
    stopProcess(m_process, 5000);
}

void RedisServer::kill() {
    killProcess(m_process);
}

RedisSync::RedisSync(quint16 port) {
    m_ctx = redisConnect("127.0.0.1", port);
}

RedisSync::~RedisSync() {
    if (m_ctx)
        redisFree(m_ctx);
}

std::optional<RedisValue> RedisSync::request(const QList<QByteArray> &argv) {
    if (!m_ctx || m_ctx->err)
        return std::nullopt;
    QVarLengthArray<const char *> args;
    QVarLengthArray<size_t> lens;
    for (const QByteArray &a : argv) {
        args.append(a.constData());
        lens.append(size_t(a.size()));
    }
    auto *r = static_cast<redisReply *>(
        redisCommandArgv(m_ctx, int(args.size()), args.data(), lens.data()));
    if (!r)
        return std::nullopt;
    RedisValue v = RedisValue::fromHiredis(r);
    freeReplyObject(r);
    return v;
}

QList<QByteArray> RedisSync::command(const QList<QByteArray> &argv) {
    const auto r = request(argv);
    if (!r)
        return {};
    auto flat = [](const RedisValue &e) {
        return e.isArray() ? QByteArray::number(e.elements.size()) : e.bytes();
    };
    if (!r->isArray())
        return {flat(*r)};
    QList<QByteArray> out;
    for (const RedisValue &e : r->elements)
        out << flat(e);
    return out;
}

QByteArray RedisSync::one(const QList<QByteArray> &argv) {
    const QList<QByteArray> r = command(argv);
    return r.isEmpty() ? QByteArray() : r.first();
}

QHash<QByteArray, QByteArray> RedisSync::hash(const QByteArray &key) {
    QHash<QByteArray, QByteArray> h;
    if (const auto r = request({"HGETALL", key}))
        for (const auto &[name, value] : r->pairs())
            h.insert(name, value);
    return h;
}

PgDatabase::PgDatabase()
    : m_adminUrl(qEnvironmentVariable("FLASHSALE_TEST_PG_URL")) {}

namespace {

QByteArray runSql(const QString &url, const QByteArray &sql, QString *error) {
    PGconn *c = PQconnectdb(url.toUtf8().constData());
    QByteArray value;
    if (PQstatus(c) != CONNECTION_OK) {
        *error = QString::fromUtf8(PQerrorMessage(c));
    } else {
        PGresult *r = PQexec(c, sql.constData());
        const ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            *error = QString::fromUtf8(PQresultErrorMessage(r));
        else if (PQntuples(r) > 0)
            value = QByteArray(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    PQfinish(c);
    return value;
}

} // namespace

bool PgDatabase::create() {
    if (m_adminUrl.isEmpty()) {
        m_error = QStringLiteral(
            "FLASHSALE_TEST_PG_URL is not set: run the suites with deploy/local/test");
        return false;
    }
    m_name = QStringLiteral("fs_test_%1_%2")
                 .arg(QCoreApplication::applicationPid())
                 .arg(QRandomGenerator::global()->bounded(1000000));
    QString err;
    runSql(m_adminUrl, "CREATE DATABASE " + m_name.toUtf8(), &err);
    if (!err.isEmpty()) {
        m_error = err;
        return false;
    }
    QUrl u(m_adminUrl);
    u.setPath(QLatin1Char('/') + m_name);
    m_url = u.toString();
    return true;
}

PgDatabase::~PgDatabase() {
    if (m_name.isEmpty())
        return;
    QString err;
    runSql(m_adminUrl, "DROP DATABASE IF EXISTS " + m_name.toUtf8() + " WITH (FORCE)", &err);
}

QString PgDatabase::urlThroughPort(quint16 port) const {
    QUrl u(m_url);
    u.setPort(port);
    return u.toString();
}

quint16 PgDatabase::serverPort() const {
    return quint16(QUrl(m_url).port(5432));
}

QByteArray PgDatabase::scalar(const QByteArray &sql) const {
    QString err;
    const QByteArray v = runSql(m_url, sql, &err);
    if (!err.isEmpty())
        qWarning("SQL failed: %s: %s", sql.constData(), qPrintable(err));
    return v;
}

Backend::Backend() = default;

Backend::~Backend() {
    stop();
}

QString Backend::binary() {
    return QStringLiteral(FLASHSALE_SERVER_BIN);
}

bool Backend::start(const QHash<QString, QString> &env, const QStringList &args) {
    const QString readyFile = m_dir.filePath(QStringLiteral("ready"));
    QFile::remove(readyFile);
    QProcessEnvironment pe = QProcessEnvironment::systemEnvironment();
    for (const QString &k : pe.keys()) {
        if (k.startsWith(QLatin1String("FLASHSALE_"))
            && !k.startsWith(QLatin1String("FLASHSALE_TEST_")))
            pe.remove(k);
    }
    pe.insert(QStringLiteral("FLASHSALE_ADMIN_TOKEN"), QString::fromLatin1(kAdminToken));
    // Suites book as named users, as the local stack does; tst_admission turns this off.
    pe.insert(QStringLiteral("FLASHSALE_DEV_USER_IDS"), QStringLiteral("1"));
    pe.insert(QStringLiteral("FLASHSALE_BUYER_TOKEN_SECRET"),
              QString::fromLatin1(kBuyerTokenSecret));
    pe.insert(QStringLiteral("FLASHSALE_THREADS"), QStringLiteral("2"));
    // Suites book as many users from 127.0.0.1: the per-IP and per-user limits (on by default)
    // are off unless a suite sets them; tst_admission and tst_defaults do.
    pe.insert(QStringLiteral("FLASHSALE_RATE_LIMIT_IP"), QStringLiteral("0"));
    pe.insert(QStringLiteral("FLASHSALE_RATE_LIMIT_USER"), QStringLiteral("0"));
    // GET /metrics has its own listener; suites read gauges right after changing them.
    if (m_metricsPort == 0)
        m_metricsPort = freePort();
    pe.insert(QStringLiteral("FLASHSALE_METRICS_PORT"), QString::number(m_metricsPort));
    pe.insert(QStringLiteral("FLASHSALE_METRICS_CACHE_MS"), QStringLiteral("0"));
    for (auto it = env.constBegin(); it != env.constEnd(); ++it) {
        if (it.value().isNull())
            pe.remove(it.key()); // a null value unsets: the server's default applies
        else
            pe.insert(it.key(), it.value());
    }
    if (m_port == 0)
        m_port = freePort();
    m_process.setProcessEnvironment(pe);
    m_process.setProgram(binary());
    m_process.setArguments(QStringList{QStringLiteral("--port"), QString::number(m_port),
                                       QStringLiteral("--ready-file"), readyFile}
                           + args);
    m_process.setStandardOutputFile(m_dir.filePath(QStringLiteral("server.log")),
                                    QIODevice::Append);
    m_process.setStandardErrorFile(m_dir.filePath(QStringLiteral("server.log")), QIODevice::Append);
    m_process.start();
    if (!m_process.waitForStarted(5000)) {
        m_error = m_process.errorString();
        return false;
    }
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < 30000) {
        QFile f(readyFile);
        if (f.open(QIODevice::ReadOnly)) {
            m_url = QString::fromUtf8(f.readAll()).trimmed();
            if (!m_url.isEmpty())
                return true;
        }
        if (m_process.state() != QProcess::Running) {
            m_error = QStringLiteral("server exited: ") + QString::fromUtf8(log());
            return false;
        }
        // Keep this thread's event loop turning: the server may depend on something the test
        // serves from it (a TcpProxy in front of PostgreSQL).
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        QThread::msleep(5);
    }
    m_error = QStringLiteral("server not ready in 30 s: ") + QString::fromUtf8(log());
    return false;
}

void Backend::stop() {
    stopProcess(m_process, 10000);
}

void Backend::kill() {
    killProcess(m_process);
}

QByteArray Backend::log() const {
    QFile f(m_dir.filePath(QStringLiteral("server.log")));
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

qint64 createOpenSale(quint16 apiPort, const OpenSale &sale) {
    const QDateTime now = QDateTime::currentDateTimeUtc();
    const HttpResponse r =
        postJson(apiPort, "/api/v1/admin/sales",
                 QJsonObject{{"name", sale.name},
                             {"stock", sale.stock},
                             {"per_user_limit", sale.perUserLimit},
                             {"price_cents", sale.priceCents},
                             {"admission_rate", 0},
                             {"hold_seconds", sale.holdSeconds},
                             {"starts_at", now.addSecs(-1).toString(Qt::ISODate)},
                             {"ends_at", now.addSecs(3600).toString(Qt::ISODate)}},
                 Backend::kAdminToken);
    if (r.status != 201) {
        qWarning("create sale: %d %s", r.status, r.body.constData());
        return 0;
    }
    return r.json().value(QStringLiteral("id")).toInteger();
}

} // namespace flashsale::test
