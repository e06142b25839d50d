// Secrets by file, never in argv (issue 15, deliverable 7), against the real flashsale-server:
// --admin-token, --buyer-token-secret and --redis-password are read from the file named by
// --NAME-file or FLASHSALE_NAME_FILE, reach the server (admin routes, Redis AUTH), stay out of
// its command line, and every way of getting them wrong is refused at start-up with an error that
// names the setting but never echoes a secret. A Redis with a password refuses a server without
// the right one, and the server says so on /readyz.

#include "rawhttp.h"
#include "testservers.h"

#include <QDateTime>
#include <QFile>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

namespace {

constexpr const char *kRedisPassword = "redis-secret-for-the-test-5f1c0d";
constexpr const char *kFileToken = "admin-token-from-a-file-7a91c2e4";

QJsonObject saleBody() {
    return QJsonObject{{"name", "secret files"},
                       {"stock", 10},
                       {"price_cents", 100},
                       {"starts_at", rfc3339(-1000)},
                       {"ends_at", rfc3339(3600000)}};
}

} // namespace

class TestSecretFiles : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    PgDatabase m_db;

    // Writes `content` to a new file in the test's folder, mode 600; returns its path.
    QString secretFile(const QString &name, const QByteArray &content) {
        const QString path = m_dir.filePath(name);
        QFile f(path);
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
            return {};
        f.write(content);
        f.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
        return path;
    }

    // From now on `redis` refuses every command without AUTH kRedisPassword (the fixture's
    // start-up probe speaks no AUTH, so the password is set once it runs).
    static void requirePassword(const RedisServer &redis) {
        RedisSync sync(redis.port());
        QCOMPARE(sync.one({"CONFIG", "SET", "requirepass", kRedisPassword}), QByteArray("OK"));
        RedisSync anonymous(redis.port());
        const QByteArray refused = anonymous.one({"SET", "probe", "1"});
        QVERIFY2(refused.startsWith("NOAUTH"), refused.constData());
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
    }

    // The admin token from --admin-token-file (which wins over FLASHSALE_ADMIN_TOKEN, set by the
    // fixture) and the Redis password from FLASHSALE_REDIS_PASSWORD_FILE: the server is ready
    // (Redis accepted its AUTH), the file's token creates a sale, the other token is refused,
    // and neither secret is in the server's command line.
    void secretsFromFilesReachTheServer() {
        RedisServer redis;
        QVERIFY2(redis.start(), qPrintable(redis.error()));
        requirePassword(redis);
        if (QTest::currentTestFailed())
            return;
        const QString tokenFile =
            secretFile(QStringLiteral("admin-token"), QByteArray(kFileToken) + "\n");
        const QString redisFile =
            secretFile(QStringLiteral("redis-password"), QByteArray(kRedisPassword) + "\n");
        Backend backend;
        QVERIFY2(backend.start({{"FLASHSALE_REDIS_URL", redis.url()},
                                {"FLASHSALE_PG_URL", m_db.url()},
                                {"FLASHSALE_REDIS_PASSWORD_FILE", redisFile}},
                               {QStringLiteral("--admin-token-file"), tokenFile}),
                 qPrintable(backend.error()));
        QTRY_COMPARE_WITH_TIMEOUT(http(backend.port(), "GET", "/readyz").status, 200, 10000);

        QCOMPARE(postJson(backend.port(), "/api/v1/admin/sales", saleBody(), kFileToken).status,
                 201);
        QCOMPARE(postJson(backend.port(), "/api/v1/admin/sales", saleBody(), Backend::kAdminToken)
                     .status,
                 401);

        QFile cmdline(QStringLiteral("/proc/%1/cmdline").arg(backend.pid()));
        QVERIFY(cmdline.open(QIODevice::ReadOnly));
        const QByteArray args = cmdline.readAll();
        QVERIFY2(args.contains(tokenFile.toUtf8()), args.constData());
        QVERIFY(!args.contains(kFileToken));
        QVERIFY(!args.contains(kRedisPassword));
        QVERIFY(!backend.log().contains(kRedisPassword));
    }

    // A Redis with a password and a server with a wrong one: /readyz answers 503 naming Redis,
    // bookings are not accepted, and the log says AUTH was refused without the password tried.
    void wrongRedisPasswordIsRefused() {
        RedisServer redis;
        QVERIFY2(redis.start(), qPrintable(redis.error()));
        requirePassword(redis);
        if (QTest::currentTestFailed())
            return;
        const QString wrongFile =
            secretFile(QStringLiteral("wrong-redis-password"), "not-the-password-e3b0c442");
        Backend backend;
        QVERIFY2(backend.start({{"FLASHSALE_REDIS_URL", redis.url()},
                                {"FLASHSALE_PG_URL", m_db.url()},
                                {"FLASHSALE_REDIS_PASSWORD_FILE", wrongFile}}),
                 qPrintable(backend.error()));
        QTRY_VERIFY_WITH_TIMEOUT(backend.log().contains("AUTH as default refused"), 10000);
        const HttpResponse ready = http(backend.port(), "GET", "/readyz");
        QCOMPARE(ready.status, 503);
        QVERIFY2(ready.json().value(QStringLiteral("redis")).toString() != QLatin1String("ok"),
                 ready.body.constData());
        const HttpResponse created =
            postJson(backend.port(), "/api/v1/admin/sales", saleBody(), Backend::kAdminToken);
        QVERIFY2(created.status >= 500, created.body.constData());
        QVERIFY(!backend.log().contains("not-the-password-e3b0c442"));
    }

    // Each way of handing a secret over wrongly stops the server at start-up (exit code 2) with
    // an error naming the setting; none of them echoes the secret.
    void refusedAtStartup_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QStringList>("env");       // NAME=VALUE
        QTest::addColumn<QByteArray>("error");      // must be in stderr
        QTest::addColumn<QByteArray>("notInError"); // must not be

        const QString shortToken = secretFile(QStringLiteral("short-token"), "short-secret");
        const QString emptyFile = secretFile(QStringLiteral("empty"), "\n");
        const QString token = secretFile(QStringLiteral("token"), "token-in-a-file-0123456789ab");
        QTest::addRow("secret file missing")
            << QStringList{QStringLiteral("--admin-token-file"), m_dir.filePath("nope")}
            << QStringList{} << QByteArray("--admin-token-file: cannot read") << QByteArray();
        QTest::addRow("secret file empty")
            << QStringList{QStringLiteral("--buyer-token-secret-file"), emptyFile} << QStringList{}
            << QByteArray("--buyer-token-secret-file: '") << QByteArray();
        QTest::addRow("secret in the file too short")
            << QStringList{QStringLiteral("--admin-token-file"), shortToken} << QStringList{}
            << QByteArray("--admin-token-file: must be at least 16 characters")
            << QByteArray("short-secret");
        QTest::addRow("a value and a file as flags")
            << QStringList{QStringLiteral("--admin-token"), QStringLiteral("value-0123456789abcd"),
                           QStringLiteral("--admin-token-file"), token}
            << QStringList{} << QByteArray("--admin-token and --admin-token-file: set one")
            << QByteArray("token-in-a-file");
        QTest::addRow("a value and a file in the environment")
            << QStringList{}
            << QStringList{QStringLiteral("FLASHSALE_REDIS_PASSWORD=value-in-env-1234"),
                           QStringLiteral("FLASHSALE_REDIS_PASSWORD_FILE=") + token}
            << QByteArray("FLASHSALE_REDIS_PASSWORD and FLASHSALE_REDIS_PASSWORD_FILE: set one")
            << QByteArray("value-in-env-1234");
        QTest::addRow("a bad Redis URL holding a password")
            << QStringList{QStringLiteral("--redis-url"),
                           QStringLiteral("http://:url-password-42@127.0.0.1:6379/0")}
            << QStringList{} << QByteArray("--redis-url: must be a redis URL")
            << QByteArray("url-password-42");
    }

    void refusedAtStartup() {
        QFETCH(QStringList, args);
        QFETCH(QStringList, env);
        QFETCH(QByteArray, error);
        QFETCH(QByteArray, notInError);

        QProcessEnvironment pe = QProcessEnvironment::systemEnvironment();
        for (const QString &k : pe.keys()) {
            if (k.startsWith(QLatin1String("FLASHSALE_")))
                pe.remove(k);
        }
        for (const QString &kv : env)
            pe.insert(kv.section(QLatin1Char('='), 0, 0), kv.section(QLatin1Char('='), 1));
        QProcess p;
        p.setProcessEnvironment(pe);
        p.start(Backend::binary(), args);
        QVERIFY(p.waitForFinished(10000));
        const QByteArray err = p.readAllStandardError();
        QCOMPARE(p.exitCode(), 2);
        QVERIFY2(err.contains(error), err.constData());
        if (!notInError.isEmpty())
            QVERIFY2(!err.contains(notInError), err.constData());
    }
};

QTEST_GUILESS_MAIN(TestSecretFiles)
#include "tst_secretfiles.moc"
