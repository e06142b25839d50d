#pragma once

#include "redis/redisvalue.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>

#include <memory>
#include <optional>

struct redisContext;

namespace flashsale::test {

// SIGKILL, and wait for the process to be gone.
void killProcess(QProcess &process);
// SIGTERM, then SIGKILL if it is still running after graceMs.
void stopProcess(QProcess &process, int graceMs);
// The state letter of /proc/PID/stat: 'T' once a SIGSTOP has taken effect (kill() returns
// before a busy process has stopped), 'R', 'S', ... otherwise; '?' when it cannot be read.
char processState(qint64 pid);

// What a program run to its end left: exit code (-1: crashed, or killed after the timeout),
// standard output and standard error.
struct ProgramRun {
    int exitCode = -1;
    QString out, err;
    QString describe() const;
};
// Runs `program` with `args` in this process's environment with `unset` removed and `set` added,
// `input` on its stdin; kills it after `timeoutMs`.
ProgramRun runProgram(const QString &program, const QStringList &args,
                      const QHash<QString, QString> &set = {}, const QStringList &unset = {},
                      const QByteArray &input = {}, int timeoutMs = 60000);

// The built flashsale-ctl.
QString ctlBinary();
// issue 16: `flashsale-ctl fairness verify SALE --api API [extra]`, the check every
// waiting-room test ends with ("fairness verify passes on every sale the tests create"):
// exit 0 when the sale's published shuffle recomputes, 5 naming the first mismatch.
ProgramRun fairnessVerify(const QString &apiUrl, qint64 saleId, const QStringList &extra = {});

// Now plus `offsetMs`, as RFC 3339 with milliseconds (UTC): the times sales are created with.
QString rfc3339(qint64 offsetMs);
// The local clock in ms since the epoch.
qint64 nowMs();

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests on loopback).
quint16 freePort();

// A real redis-server on a free loopback port in a temporary folder, stopped on destruction.
// The binary is $FLASHSALE_TEST_REDIS_SERVER, or redis-server on PATH.
class RedisServer {
public:
    RedisServer();
    ~RedisServer();
    bool start(const QStringList &extraArgs = {});
    void stop();
    void kill();
    QString url() const { return QStringLiteral("redis://127.0.0.1:%1/0").arg(m_port); }
    quint16 port() const { return m_port; }
    // The redis-server process (to SIGSTOP it, as a stall would).
    qint64 pid() const { return m_process.processId(); }
    QString error() const { return m_error; }

private:
    QTemporaryDir m_dir;
    QProcess m_process;
    quint16 m_port = 0;
    QString m_error;
};

// Blocking hiredis connection for setting up and inspecting state in tests.
class RedisSync {
public:
    explicit RedisSync(quint16 port);
    ~RedisSync();
    // The reply flattened: integers and strings as bytes, nil as a null QByteArray; arrays
    // flattened one level (enough for HGETALL, XRANGE ids, SMEMBERS).
    QList<QByteArray> command(const QList<QByteArray> &argv);
    QByteArray one(const QList<QByteArray> &argv);
    qint64 integer(const QList<QByteArray> &argv) { return one(argv).toLongLong(); }
    QHash<QByteArray, QByteArray> hash(const QByteArray &key);
    // The reply as it is (nested arrays kept), or nullopt when not connected or broken.
    std::optional<RedisValue> value(const QList<QByteArray> &argv) { return request(argv); }

private:
    // The reply, or nullopt when not connected or the connection broke.
    std::optional<RedisValue> request(const QList<QByteArray> &argv);

    redisContext *m_ctx = nullptr;
};

// A fresh database in the PostgreSQL cluster named by $FLASHSALE_TEST_PG_URL (a superuser URL,
// set by deploy/local/test), dropped on destruction.
class PgDatabase {
public:
    PgDatabase();
    ~PgDatabase();
    bool create();
    QString url() const { return m_url; }
    // The same database reached through another local port (a TcpProxy in front of the server).
    QString urlThroughPort(quint16 port) const;
    quint16 serverPort() const;
    QString error() const { return m_error; }
    // Runs SQL and returns the first column of the first row ("" when none).
    QByteArray scalar(const QByteArray &sql) const;

private:
    QString m_adminUrl;
    QString m_name;
    QString m_url;
    QString m_error;
};

// The real flashsale-server binary, started on a free port with the given settings, and
// stopped (SIGTERM, then SIGKILL) on destruction.
class Backend {
public:
    Backend();
    ~Backend();
    // `env` adds FLASHSALE_* variables (a null QString removes one, so the server's default
    // applies); waits until the ready file appears.
    bool start(const QHash<QString, QString> &env, const QStringList &args = {});
    void stop();
    void kill();
    bool isRunning() const { return m_process.state() == QProcess::Running; }
    QString url() const { return m_url; }
    quint16 port() const { return m_port; }
    // Its /metrics listener (FLASHSALE_METRICS_PORT; the API port does not serve /metrics).
    quint16 metricsPort() const { return m_metricsPort; }
    // The server's process id, or 0 when it is not running.
    qint64 pid() const { return m_process.processId(); }
    QString error() const { return m_error; }
    QByteArray log() const;

    static QString binary();
    static constexpr const char *kAdminToken = "test-admin-token-0123456789";
    static constexpr const char *kBuyerTokenSecret = "test-buyer-token-secret-0123456789abcdef";

private:
    QTemporaryDir m_dir;
    QProcess m_process;
    QString m_url;
    quint16 m_port = 0;
    quint16 m_metricsPort = 0;
    QString m_error;
};

// An open sale of one item, created through the admin API of the server on `apiPort` with the
// bootstrap token: started a second ago, ending in an hour, no admission bucket. Returns its id,
// or 0 (with a warning naming the answer) when the server refused it.
struct OpenSale {
    QString name = QStringLiteral("Test sale");
    int stock = 10;
    int perUserLimit = 5;
    int priceCents = 300;
    int holdSeconds = 600;
};
qint64 createOpenSale(quint16 apiPort, const OpenSale &sale);

} // namespace flashsale::test
