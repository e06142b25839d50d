// flashsale-ctl: its argument parsing (times, durations, URLs, every command's args) and its
// table output, as functions; then the real binary, driven through a whole sale's life against
// the real flashsale-server with real redis-server and PostgreSQL behind it.

#include "booking/salekeys.h"
#include "ctlargs.h"
#include "ctlformat.h"
#include "testservers.h"
#include "texttable.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTemporaryFile>
#include <QTest>

using namespace flashsale;
using namespace flashsale::ctl;
using namespace flashsale::test;

namespace {

// 2026-11-21T12:00:00.000Z
constexpr qint64 kNow = 1795262400000;

QProcessEnvironment envOf(const QHash<QString, QString> &vars) {
    QProcessEnvironment env;
    for (auto it = vars.constBegin(); it != vars.constEnd(); ++it)
        env.insert(it.key(), it.value());
    return env;
}

// The error of a failed parse, for a failure message (qPrintable is evaluated eagerly).
template<typename T>
QString errorOf(const std::expected<T, QString> &e) {
    return e ? QString() : e.error();
}

QString compact(const QJsonObject &o) {
    return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
}

} // namespace

struct CtlOutput {
    int exitCode = -1; // -1: crashed or hung
    QString out;
    QString err;

    // stdout as JSON lines (--json).
    QList<QJsonObject> json() const {
        QList<QJsonObject> docs;
        for (const QString &line : out.split('\n', Qt::SkipEmptyParts))
            docs << QJsonDocument::fromJson(line.toUtf8()).object();
        return docs;
    }
    QString describe() const {
        return QStringLiteral("exit %1\nstdout:\n%2\nstderr:\n%3").arg(exitCode).arg(out, err);
    }
};

class TestCtl : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_backend;
    std::unique_ptr<RedisSync> m_redis;
    qint64 m_saleId = 0;
    qint64 m_itemId = 0;

    static constexpr const char *kCtlPassword = "tst-ctl-password-0001";
    using Env = QHash<QString, QString>;
    // The ctl logs in as operator "tst_ctl" (role admin), its password from the environment.
    static Env asOperator() {
        return {{"FLASHSALE_OPERATOR", "tst_ctl"},
                {"FLASHSALE_OPERATOR_PASSWORD", QString::fromLatin1(kCtlPassword)}};
    }
    static Env asBootstrap() {
        return {{"FLASHSALE_ADMIN_TOKEN", QString::fromLatin1(Backend::kAdminToken)}};
    }

    // Runs the real flashsale-ctl against the test server with `login` in its environment and
    // `input` on its stdin. `url` defaults to the server's http:// base URL, which the ctl maps
    // to ws://.../admin/v1/ws.
    CtlOutput ctl(const QStringList &args, const Env &login = asOperator(), const QString &url = {},
                  const QByteArray &input = {}) {
        const ProgramRun run =
            runProgram(QStringLiteral(FLASHSALE_CTL_BIN),
                       QStringList{"--url", url.isEmpty() ? m_backend.url() : url} + args, login,
                       {"FLASHSALE_ADMIN_URL", "FLASHSALE_API_URL", "FLASHSALE_ADMIN_TOKEN",
                        "FLASHSALE_OPERATOR", "FLASHSALE_OPERATOR_PASSWORD", "FLASHSALE_CA_FILE"},
                       input, 30000);
        return CtlOutput{run.exitCode, run.out, run.err};
    }

    // The sale as the server reports it now.
    QJsonObject saleNow() {
        const CtlOutput r = ctl({"--json", "sale", "get", QString::number(m_saleId)});
        if (r.exitCode != 0 || r.json().isEmpty())
            return {};
        return r.json().first().value("sale").toObject();
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()}}),
                 qPrintable(m_backend.error()));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        // The suite's own operator, created with the bootstrap token, its password on stdin.
        const CtlOutput created =
            ctl({"operator", "create", "tst_ctl", "--role", "admin", "--new-password-file", "-"},
                asBootstrap(), {}, QByteArray(kCtlPassword) + "\n");
        QVERIFY2(created.exitCode == 0, qPrintable(created.describe()));
        QVERIFY2(!created.out.contains(QLatin1String(kCtlPassword)), qPrintable(created.out));
    }

    void parseTime_data() {
        QTest::addColumn<QString>("spec");
        QTest::addColumn<QString>("expected"); // empty: must fail
        QTest::addRow("now") << "now"
                             << "2026-11-21T12:00:00.000Z";
        QTest::addRow("plus minutes") << "+10m"
                                      << "2026-11-21T12:10:00.000Z";
        QTest::addRow("minus hour") << "-1h"
                                    << "2026-11-21T11:00:00.000Z";
        QTest::addRow("now plus compound") << "now+1h30m"
                                           << "2026-11-21T13:30:00.000Z";
        QTest::addRow("days and seconds") << "+1d5s"
                                          << "2026-11-22T12:00:05.000Z";
        QTest::addRow("utc") << "2026-11-21T12:00:00Z"
                             << "2026-11-21T12:00:00.000Z";
        QTest::addRow("offset to utc") << "2026-11-21T13:00:00+01:00"
                                       << "2026-11-21T12:00:00.000Z";
        QTest::addRow("milliseconds") << "2026-11-21T12:00:00.250Z"
                                      << "2026-11-21T12:00:00.250Z";
        QTest::addRow("space separator") << "2026-11-21 12:00:00Z"
                                         << "2026-11-21T12:00:00.000Z";
        QTest::addRow("no zone") << "2026-11-21T12:00:00"
                                 << "";
        QTest::addRow("word") << "tomorrow"
                              << "";
        QTest::addRow("bad unit") << "+10x"
                                  << "";
        QTest::addRow("sign only") << "+"
                                   << "";
        QTest::addRow("empty") << ""
                               << "";
    }
    void parseTime() {
        QFETCH(QString, spec);
        QFETCH(QString, expected);
        const auto t = ctl::parseTime(spec, kNow);
        if (expected.isEmpty()) {
            QVERIFY2(!t, qPrintable(t.value_or(QString())));
            QVERIFY(!t.error().isEmpty());
        } else {
            QVERIFY2(t, qPrintable(errorOf(t)));
            QCOMPARE(*t, expected);
        }
    }

    void parseDuration_data() {
        QTest::addColumn<QString>("spec");
        QTest::addColumn<qint64>("seconds"); // -1: must fail
        QTest::addRow("bare seconds") << "3600" << qint64(3600);
        QTest::addRow("seconds") << "90s" << qint64(90);
        QTest::addRow("minutes") << "10m" << qint64(600);
        QTest::addRow("hours") << "1h" << qint64(3600);
        QTest::addRow("day") << "1d" << qint64(86400);
        QTest::addRow("compound") << "1h30m" << qint64(5400);
        QTest::addRow("upper case") << "2H" << qint64(7200);
        QTest::addRow("negative") << "-5m" << qint64(-1);
        QTest::addRow("fraction") << "1.5h" << qint64(-1);
        QTest::addRow("unit only") << "h" << qint64(-1);
        QTest::addRow("empty") << "" << qint64(-1);
    }
    void parseDuration() {
        QFETCH(QString, spec);
        QFETCH(qint64, seconds);
        const auto d = ctl::parseDuration(spec);
        if (seconds < 0) {
            QVERIFY(!d);
        } else {
            QVERIFY2(d, qPrintable(errorOf(d)));
            QCOMPARE(*d, seconds);
        }
    }

    void resolveAdminUrl_data() {
        QTest::addColumn<QString>("given");
        QTest::addColumn<QString>("expected"); // empty: must fail
        QTest::addRow("ws as is") << "ws://10.0.0.1:9000/admin/v1/ws"
                                  << "ws://10.0.0.1:9000/admin/v1/ws";
        QTest::addRow("ws without path") << "ws://h:1"
                                         << "ws://h:1/admin/v1/ws";
        QTest::addRow("http api base") << "http://127.0.0.1:18080"
                                       << "ws://127.0.0.1:18080/admin/v1/ws";
        QTest::addRow("http with path") << "http://h:8080/api/v1/"
                                        << "ws://h:8080/admin/v1/ws";
        QTest::addRow("https") << "https://shop.example"
                               << "wss://shop.example/admin/v1/ws";
        QTest::addRow("other scheme") << "ftp://h/"
                                      << "";
        QTest::addRow("no host") << "ws:///admin/v1/ws"
                                 << "";
        QTest::addRow("not a url") << "localhost"
                                   << "";
    }
    void resolveAdminUrl() {
        QFETCH(QString, given);
        QFETCH(QString, expected);
        const auto url = ctl::resolveAdminUrl(given);
        if (expected.isEmpty()) {
            QVERIFY(!url);
        } else {
            QVERIFY2(url, qPrintable(errorOf(url)));
            QCOMPARE(url->toString(), expected);
        }
    }

    void parseInvocation_data() {
        QTest::addColumn<QStringList>("argv");
        QTest::addColumn<QString>("op");   // empty: a usage error is expected
        QTest::addColumn<QString>("args"); // compact JSON, or a piece of the error message
        using L = QStringList;
        QTest::addRow("sale list")
            << L{"sale", "list", "--state", "paused", "--limit", "5"} << "sale.list"
            << "{\"limit\":5,\"state\":\"paused\"}";
        QTest::addRow("sale get") << L{"sale", "get", "12"} << "sale.get"
                                  << "{\"sale_id\":12}";
        QTest::addRow("global options first")
            << L{"--json", "--url", "ws://h:1/x", "sale", "pause", "7"} << "sale.pause"
            << "{\"sale_id\":7}";
        QTest::addRow("sale create stock")
            << L{"sale",
                 "create",
                 "--name",
                 "Phones",
                 "--starts-at",
                 "now",
                 "--ends-at",
                 "+1h",
                 "--stock",
                 "10",
                 "--price-cents",
                 "1999",
                 "--per-user-limit",
                 "2"}
            << "sale.create"
            << "{\"ends_at\":\"2026-11-21T13:00:00.000Z\",\"name\":\"Phones\",\"per_user_limit\":2,"
               "\"price_cents\":1999,\"starts_at\":\"2026-11-21T12:00:00.000Z\",\"stock\":10}";
        QTest::addRow("sale create generate")
            << L{"sale",           "create", "--name",           "Gen", "--starts-at",      "+10m",
                 "--ends-at",      "+20m",   "--generate",       "100", "--units-per-item", "3",
                 "--hold-seconds", "60",     "--admission-rate", "0"}
            << "sale.create"
            << "{\"admission_rate\":0,\"ends_at\":\"2026-11-21T12:20:00.000Z\","
               "\"generate\":{\"count\":100,\"units_per_item\":3},\"hold_seconds\":60,\"name\":"
               "\"Gen\","
               "\"starts_at\":\"2026-11-21T12:10:00.000Z\"}";
        QTest::addRow("sale create waiting room")
            << L{"sale",
                 "create",
                 "--name",
                 "Drop",
                 "--starts-at",
                 "+30m",
                 "--ends-at",
                 "+1h",
                 "--stock",
                 "10",
                 "--price-cents",
                 "100",
                 "--waiting-room",
                 "--lobby-opens-at",
                 "+5m",
                 "--grace-ms",
                 "2000",
                 "--admit-per-minute",
                 "60",
                 "--admission-ttl-seconds",
                 "30",
                 "--entries-per-address",
                 "0"}
            << "sale.create"
            << "{\"admission_ttl_seconds\":30,\"admit_per_minute\":60,\"ends_at\":"
               "\"2026-11-21T13:00:00.000Z\",\"entries_per_address\":0,\"grace_ms\":2000,"
               "\"lobby_opens_at\":\"2026-11-21T12:05:00.000Z\",\"name\":\"Drop\","
               "\"price_cents\":100,\"starts_at\":\"2026-11-21T12:30:00.000Z\",\"stock\":10,"
               "\"waiting_room\":true}";
        QTest::addRow("sale create grace without a waiting room")
            << L{"sale",          "create",    "--name",     "X",       "--starts-at",
                 "now",           "--ends-at", "+1h",        "--stock", "1",
                 "--price-cents", "1",         "--grace-ms", "10"}
            << ""
            << "--grace-ms goes with --waiting-room";
        QTest::addRow("sale create two sources")
            << L{"sale",          "create",    "--name",     "X",       "--starts-at",
                 "now",           "--ends-at", "+1h",        "--stock", "1",
                 "--price-cents", "1",         "--generate", "5"}
            << ""
            << "exactly one of";
        QTest::addRow("sale create stock without price")
            << L{"sale", "create",    "--name", "X",       "--starts-at",
                 "now",  "--ends-at", "+1h",    "--stock", "1"}
            << ""
            << "--price-cents is required";
        QTest::addRow("sale create no zone")
            << L{"sale",      "create", "--name",  "X", "--starts-at",   "2026-11-21T12:00:00",
                 "--ends-at", "+1h",    "--stock", "1", "--price-cents", "1"}
            << ""
            << "no time zone";
        QTest::addRow("sale create missing name")
            << L{"sale", "create",  "--starts-at", "now",           "--ends-at",
                 "+1h",  "--stock", "1",           "--price-cents", "1"}
            << ""
            << "--name is required";
        QTest::addRow("adjust attached negative")
            << L{"sale", "adjust", "12", "--delta=-5"} << "sale.adjust"
            << "{\"delta\":-5,\"sale_id\":12}";
        QTest::addRow("adjust separate negative")
            << L{"sale", "adjust", "12", "--item", "40", "--delta", "-5"} << "sale.adjust"
            << "{\"delta\":-5,\"item_id\":40,\"sale_id\":12}";
        QTest::addRow("adjust plus") << L{"sale", "adjust", "12", "--delta", "+3"} << "sale.adjust"
                                     << "{\"delta\":3,\"sale_id\":12}";
        QTest::addRow("adjust bare negative") << L{"sale", "adjust", "12", "-5"} << ""
                                              << "--delta=-5";
        QTest::addRow("adjust no delta") << L{"sale", "adjust", "12"} << ""
                                         << "--delta is required";
        QTest::addRow("adjust bad delta") << L{"sale", "adjust", "12", "--delta=five"} << ""
                                          << "must be an integer";
        QTest::addRow("schedule create")
            << L{"schedule",      "create",
                 "--name",        "Hourly",
                 "--first-start", "2026-11-21T13:00:00Z",
                 "--every",       "1h",
                 "--duration",    "10m",
                 "--items",       "50",
                 "--price-cents", "500"}
            << "schedule.create"
            << "{\"duration_seconds\":600,\"every_seconds\":3600,"
               "\"first_start\":\"2026-11-21T13:00:00.000Z\",\"item_count\":50,\"name\":\"Hourly\","
               "\"price_cents\":500}";
        QTest::addRow("schedule every seconds")
            << L{"schedule", "create", "--name", "S", "--first-start", "+1h", "--every", "3600"}
            << "schedule.create"
            << "{\"every_seconds\":3600,\"first_start\":\"2026-11-21T13:00:00.000Z\",\"name\":"
               "\"S\"}";
        QTest::addRow("schedule bad duration")
            << L{"schedule", "create", "--name", "S", "--first-start", "+1h", "--every", "soon"}
            << ""
            << "--every";
        QTest::addRow("schedule list") << L{"schedule", "list"} << "schedule.list"
                                       << "{}";
        QTest::addRow("schedule cancel") << L{"schedule", "cancel", "3"} << "schedule.cancel"
                                         << "{\"schedule_id\":3}";
        QTest::addRow("stats") << L{"stats", "12", "--interval-ms", "250"} << "stats.subscribe"
                               << "{\"interval_ms\":250,\"sale_id\":12}";
        QTest::addRow("stats count without watch") << L{"stats", "12", "--count", "3"} << ""
                                                   << "--count goes with --watch";
        QTest::addRow("reconcile") << L{"reconcile", "12", "--repair"} << "reconcile.run"
                                   << "{\"repair\":true,\"sale_id\":12}";
        QTest::addRow("reconcile list all") << L{"reconcile", "list"} << "reconcile.list"
                                            << "{}";
        QTest::addRow("reconcile list one")
            << L{"reconcile", "list", "12", "--limit", "3"} << "reconcile.list"
            << "{\"limit\":3,\"sale_id\":12}";
        QTest::addRow("audit") << L{"audit", "--sale", "12", "--limit", "10", "--before-id", "99"}
                               << "audit.list"
                               << "{\"before_id\":99,\"limit\":10,\"sale_id\":12}";
        QTest::addRow("notifications failures") // issue 19: notify
            << L{"notifications", "failures", "--limit", "5"} << "notifications.failures"
            << "{\"limit\":5}";
        // issue 20: the order streams' dead letters
        QTest::addRow("deadletters list")
            << L{"deadletters", "list", "--sale", "12", "--all"} << "orders.deadletters"
            << "{\"include_resolved\":true,\"sale_id\":12}";
        QTest::addRow("deadletters list all sales")
            << L{"deadletters", "list"} << "orders.deadletters"
            << "{}";
        QTest::addRow("deadletters replay")
            << L{"deadletters", "replay", "12", "1733300000000-0"} << "orders.deadletters.replay"
            << "{\"entry_id\":\"1733300000000-0\",\"sale_id\":12}";
        QTest::addRow("deadletters cancel")
            << L{"deadletters", "cancel", "12", "1733300000000-7"} << "orders.deadletters.cancel"
            << "{\"entry_id\":\"1733300000000-7\",\"notify\":true,\"sale_id\":12}";
        QTest::addRow("deadletters cancel quietly")
            << L{"deadletters", "cancel", "12", "1-0", "--no-notify"} << "orders.deadletters.cancel"
            << "{\"entry_id\":\"1-0\",\"notify\":false,\"sale_id\":12}";
        QTest::addRow("deadletters replay without entry")
            << L{"deadletters", "replay", "12"} << ""
            << "needs a SALE id and a dead-letter ENTRY";
        QTest::addRow("deadletters bad entry") << L{"deadletters", "cancel", "12", "abc"} << ""
                                               << "ENTRY must be a dead-letter entry";
        QTest::addRow("ping") << L{"ping", "--count", "20"} << "ping"
                              << "{}";
        QTest::addRow("no command") << L{"--json"} << ""
                                    << "no command";
        QTest::addRow("unknown command") << L{"frobnicate"} << ""
                                         << "unknown command";
        QTest::addRow("group without verb") << L{"sale"} << ""
                                            << "needs one of";
        QTest::addRow("missing id") << L{"sale", "stop"} << ""
                                    << "needs an ID";
        QTest::addRow("bad id") << L{"sale", "stop", "x"} << ""
                                << "positive integer";
        QTest::addRow("zero id") << L{"sale", "stop", "0"} << ""
                                 << "positive integer";
        QTest::addRow("extra operand") << L{"sale", "stop", "1", "2"} << ""
                                       << "unexpected argument";
        QTest::addRow("option of another command") << L{"sale", "list", "--repair"} << ""
                                                   << "Unknown option 'repair'";
        QTest::addRow("bad url") << L{"--url", "ftp://h", "ping"} << ""
                                 << "--url";
        QTest::addRow("bad timeout") << L{"--timeout-ms", "0", "ping"} << ""
                                     << "--timeout-ms";
    }
    void parseInvocation() {
        QFETCH(QStringList, argv);
        QFETCH(QString, op);
        QFETCH(QString, args);
        const auto inv = ctl::parseInvocation(QStringList{"flashsale-ctl"} + argv, {}, kNow);
        if (op.isEmpty()) {
            QVERIFY2(!inv, qPrintable(inv ? compact(inv->args) : QString()));
            QVERIFY2(inv.error().contains(args), qPrintable(errorOf(inv)));
            return;
        }
        QVERIFY2(inv, qPrintable(errorOf(inv)));
        QVERIFY(!inv->help);
        QCOMPARE(admin::opName(inv->op), op);
        QCOMPARE(compact(inv->args), args);
    }

    void parseInvocationDefaults() {
        const auto inv =
            ctl::parseInvocation({"flashsale-ctl", "sale", "list"},
                                 envOf({{"FLASHSALE_API_URL", "http://127.0.0.1:18080"},
                                        {"FLASHSALE_ADMIN_TOKEN", "secret"},
                                        {"USER", "alice"}}),
                                 kNow);
        QVERIFY2(inv, qPrintable(errorOf(inv)));
        QCOMPARE(inv->url.toString(), QStringLiteral("ws://127.0.0.1:18080/admin/v1/ws"));
        QCOMPARE(inv->token, QStringLiteral("secret"));
        QCOMPARE(inv->operatorName, QString()); // $USER names no one any more
        QCOMPARE(inv->json, false);
        QCOMPARE(inv->timeoutMs, 10000);

        // The admin URL wins over the API URL, and options over the environment.
        ctl::SecretSources stdinHolds;
        stdinHolds.readStdin = [] { return QByteArray("bob-password-00001\r\nignored\n"); };
        const auto over = ctl::parseInvocation(
            {"flashsale-ctl", "--operator", "bob", "--password-file", "-", "--ca-file",
             "/etc/ca.pem", "--json", "--timeout-ms", "250", "ping", "--count", "3"},
            envOf({{"FLASHSALE_ADMIN_URL", "ws://10.1.1.1:1/admin/v1/ws"},
                   {"FLASHSALE_API_URL", "http://127.0.0.1:18080"},
                   {"FLASHSALE_ADMIN_TOKEN", "secret"},
                   {"FLASHSALE_OPERATOR", "alice"},
                   {"FLASHSALE_OPERATOR_PASSWORD", "alice-pw"}}),
            kNow, stdinHolds);
        QVERIFY2(over, qPrintable(errorOf(over)));
        QCOMPARE(over->url.toString(), QStringLiteral("ws://10.1.1.1:1/admin/v1/ws"));
        QCOMPARE(over->operatorName, QStringLiteral("bob"));
        QCOMPARE(over->password, QStringLiteral("bob-password-00001"));
        QCOMPARE(over->token, QString()); // an operator login sends no token
        QCOMPARE(over->caFile, QStringLiteral("/etc/ca.pem"));
        const auto fromEnv = ctl::parseInvocation(
            {"flashsale-ctl", "ping"},
            envOf({{"FLASHSALE_OPERATOR", "alice"}, {"FLASHSALE_OPERATOR_PASSWORD", "alice-pw"}}),
            kNow);
        QVERIFY2(fromEnv, qPrintable(errorOf(fromEnv)));
        QCOMPARE(fromEnv->operatorName, QStringLiteral("alice"));
        QCOMPARE(fromEnv->password, QStringLiteral("alice-pw"));
        QVERIFY(over->json);
        QCOMPARE(over->timeoutMs, 250);
        QCOMPARE(over->count, 3);

        const auto none = ctl::parseInvocation({"flashsale-ctl", "ping"}, {}, kNow);
        QVERIFY(none);
        QCOMPARE(none->url.toString(), QString::fromLatin1(kDefaultAdminUrl));
        QCOMPARE(none->count, 1);

        const auto watch = ctl::parseInvocation(
            {"flashsale-ctl", "stats", "4", "--watch", "--count", "2"}, {}, kNow);
        QVERIFY(watch);
        QVERIFY(watch->watch);
        QCOMPARE(watch->count, 2);
    }

    void parseInvocationHelp() {
        const auto all = ctl::parseInvocation({"flashsale-ctl", "--help"}, {}, kNow);
        QVERIFY(all && all->help);
        QVERIFY(all->helpText.contains("Exit codes"));
        QVERIFY(all->helpText.contains("4  reconcile found drift"));
        QVERIFY(all->helpText.contains("--delta=-5"));
        const auto one =
            ctl::parseInvocation({"flashsale-ctl", "sale", "adjust", "--help"}, {}, kNow);
        QVERIFY(one && one->help);
        QVERIFY(one->helpText.contains("--delta N"));
        QVERIFY(!one->helpText.contains("--generate"));
        for (const QString &line : all->helpText.split('\n'))
            QVERIFY2(line.size() <= 100, qPrintable(line));
    }

    void parseFairnessVerify() {
        // issue 16: a local command over the public API: no admin URL, no login needed.
        const auto inv =
            ctl::parseInvocation({"flashsale-ctl", "fairness", "verify", "12", "--commitment",
                                  QString(64, 'A'), "--save", "/tmp/p.json"},
                                 envOf({{"FLASHSALE_API_URL", "http://127.0.0.1:18080"},
                                        {"FLASHSALE_OPERATOR", "alice"}}),
                                 kNow);
        QVERIFY2(inv, qPrintable(errorOf(inv)));
        QCOMPARE(inv->local, QStringLiteral("fairness verify"));
        QCOMPARE(inv->fairness.saleId, 12);
        QCOMPARE(inv->fairness.api.toString(), QStringLiteral("http://127.0.0.1:18080"));
        QCOMPARE(inv->fairness.commitment, QByteArray(64, 'a'));
        QCOMPARE(inv->fairness.savePath, QStringLiteral("/tmp/p.json"));
        QVERIFY(inv->fairness.inputPath.isEmpty());
        const auto dflt =
            ctl::parseInvocation({"flashsale-ctl", "fairness", "verify", "3"}, {}, kNow);
        QVERIFY2(dflt, qPrintable(errorOf(dflt)));
        QCOMPARE(dflt->fairness.api.toString(), QString::fromLatin1(kDefaultApiUrl));
        const auto over = ctl::parseInvocation(
            {"flashsale-ctl", "fairness", "verify", "3", "--api", "https://shop.example"},
            envOf({{"FLASHSALE_API_URL", "http://127.0.0.1:18080"}}), kNow);
        QVERIFY2(over, qPrintable(errorOf(over)));
        QCOMPARE(over->fairness.api.toString(), QStringLiteral("https://shop.example"));
        const auto bad =
            ctl::parseInvocation({"flashsale-ctl", "fairness", "verify", "x"}, {}, kNow);
        QVERIFY(!bad);
        QVERIFY2(bad.error().contains("SALE"), qPrintable(bad.error()));
        const auto help = ctl::parseInvocation({"flashsale-ctl", "--help"}, {}, kNow);
        QVERIFY(help && help->helpText.contains("5  fairness verify"));
        QVERIFY(help->helpText.contains("fairness verify SALE"));
    }

    void itemsFile() {
        QTemporaryFile file;
        QVERIFY(file.open());
        file.write("[{\"name\":\"Cap\",\"stock\":5,\"price_cents\":1500},"
                   "{\"name\":\"Mug\",\"stock\":7,\"price_cents\":900}]");
        file.flush();
        const QStringList base{"flashsale-ctl", "sale", "create",    "--name", "Two",
                               "--starts-at",   "now",  "--ends-at", "+1h",    "--items"};
        const auto inv = ctl::parseInvocation(base + QStringList{file.fileName()}, {}, kNow);
        QVERIFY2(inv, qPrintable(errorOf(inv)));
        const QJsonArray items = inv->args.value("items").toArray();
        QCOMPARE(items.size(), 2);
        QCOMPARE(items[1].toObject().value("name").toString(), QStringLiteral("Mug"));
        QVERIFY(!inv->args.contains("stock"));

        const auto missing =
            ctl::parseInvocation(base + QStringList{"/nonexistent/items.json"}, {}, kNow);
        QVERIFY(!missing);
        QVERIFY2(missing.error().contains("cannot read"), qPrintable(errorOf(missing)));

        QTemporaryFile bad;
        QVERIFY(bad.open());
        bad.write("{\"name\": 1}");
        bad.flush();
        const auto notItems = ctl::parseInvocation(base + QStringList{bad.fileName()}, {}, kNow);
        QVERIFY(!notItems);
        QVERIFY2(notItems.error().contains("array of items"), qPrintable(errorOf(notItems)));
    }

    void textTable() {
        TextTable t({"ID", "NAME", "STATE", "REMAINING"});
        t.setMaxWidth(1, 8);
        t.addRow({"12", "Phones", "active", "3"});
        t.addRow({"9", "A very long name", "paused", "100"});
        t.addRow({"100", "Multi\nline", "stopped", "-"});
        const QStringList lines = t.render().split('\n');
        QCOMPARE(lines.size(), 5); // four lines and the empty string after the last '\n'
        QCOMPARE(lines[0], QStringLiteral(" ID  NAME      STATE    REMAINING"));
        QCOMPARE(lines[1], QStringLiteral(" 12  Phones    active           3"));
        QCOMPARE(lines[2], QStringLiteral("  9  A very …  paused         100"));
        QCOMPARE(lines[3], QStringLiteral("100  Multi l…  stopped          -"));
        QCOMPARE(lines[4], QString());

        // A column of blanks only is text, not numbers.
        TextTable blanks({"N", "DETAIL"});
        blanks.addRow({"1", "-"});
        blanks.addRow({"22", ""});
        QCOMPARE(blanks.render(), QStringLiteral(" N  DETAIL\n 1  -\n22\n"));

        QCOMPARE(TextTable::fit("abcdef", 4), QStringLiteral("abc…"));
        QCOMPARE(TextTable::fit("abc", 4), QStringLiteral("abc"));
        QCOMPARE(TextTable::fit("abcdef", 0), QStringLiteral("abcdef"));
        QCOMPARE(TextTable().render(), QString());
    }

    void formatFailure() {
        admin::AdminFailure f{admin::AdminError::InvalidArgs,
                              "The arguments are not valid.",
                              {{"/args/limit", "must be 1 to 500"}, {"/args/state", "unknown"}}};
        QCOMPARE(ctl::formatFailure(f),
                 QStringLiteral("error: invalid-args: The arguments are not valid.\n"
                                "  /args/limit: must be 1 to 500\n"
                                "  /args/state: unknown\n"));
    }

    void formatCells() {
        QCOMPARE(formatCell(QJsonValue(12.0)), QStringLiteral("12"));
        QCOMPARE(formatCell(QJsonValue(0.25)), QStringLiteral("0.25"));
        QCOMPARE(formatCell(QJsonValue()), QStringLiteral("-"));
        QCOMPARE(formatCell(QJsonValue(true)), QStringLiteral("yes"));
        QCOMPARE(formatCell(QJsonObject{{"a", 1}}), QStringLiteral("{\"a\":1}"));
        QCOMPARE(formatTime(QJsonValue("2026-11-21T12:00:00.123Z")),
                 QStringLiteral("2026-11-21 12:00:00Z"));
        QCOMPARE(formatTime(QJsonValue()), QStringLiteral("-"));
    }

    void formatReconcileTable() {
        const QJsonObject report{
            {"run_id", 31},
            {"sale_id", 12},
            {"mode", "dry_run"},
            {"trigger", "operator"},
            {"actor", "admin@127.0.0.1 (alice)"},
            {"ok", false},
            {"checks", QJsonArray{QJsonObject{{"check", "conservation"},
                                              {"subject", "item 40"},
                                              {"expected", 3},
                                              {"found", 5},
                                              {"drift", 2},
                                              {"detail", "remaining + sold != stock"}}}},
            {"repairs", QJsonArray{QJsonObject{{"action", "reset_counter"},
                                               {"subject", "item 40"},
                                               {"detail", "remaining 5 -> 3"}}}}};
        const QString text = formatReconcile(report);
        QVERIFY2(text.startsWith("reconcile run 31 of sale 12 (dry_run, operator by "
                                 "admin@127.0.0.1 (alice)): DRIFT FOUND\n"),
                 qPrintable(text));
        QVERIFY2(text.contains("CHECK         SUBJECT  EXPECTED  FOUND  DRIFT  DETAIL\n"
                               "conservation  item 40         3      5      2  remaining + sold "
                               "!= stock\n"),
                 qPrintable(text));
        QVERIFY2(text.contains("reset_counter  item 40  remaining 5 -> 3"), qPrintable(text));

        QJsonObject clean = report;
        clean.insert("ok", true);
        clean.insert("repairs", QJsonArray{});
        QVERIFY(formatReconcile(clean).contains("): ok\n"));
        QVERIFY(!formatReconcile(clean).contains("REPAIR"));
    }

    void formatStatsBlock() {
        const QJsonObject stats =
            QJsonDocument::fromJson(
                "{\"sale_id\": 12, \"at_ms\": 1795262400123, \"phase\": \"open\", "
                "\"stock\": 10000, \"remaining\": 8123, "
                "\"orders\": {\"held\": 1500, \"pending\": 200, \"paid\": 150, \"cancelled\": 27}, "
                "\"units\":  {\"held\": 1500, \"pending\": 200, \"paid\": 150, \"cancelled\": 27}, "
                "\"requests\": {\"window_s\": 3, \"accepted_per_s\": 512.3, "
                "\"rejected_per_s\": {\"sold_out\": 0, \"per_user_limit\": 12.0, \"throttled\": "
                "3.3}}, "
                "\"latency_ms\": {\"window_s\": 10, \"count\": 52000, \"p50\": 0.9, \"p95\": 2.1, "
                "\"p99\": 4.8}, "
                "\"lag\": {\"stream\": 0, \"stream_pending\": 12, \"dead_letters\": 0, "
                "\"outbox\": 3, \"outbox_age_s\": 0.02, "
                "\"consumers\": {\"payment\": 0, \"notify\": 1}}, "
                "\"processes\": [{\"id\": \"host-1234\", \"roles\": [\"api\"], \"up\": true, "
                "\"seen_ms_ago\": 120, \"loop_lag_ms\": 0.4}, "
                "{\"id\": \"host-99\", \"roles\": [\"payment\"], \"up\": false, "
                "\"seen_ms_ago\": 9000, \"loop_lag_ms\": 1.5}]}")
                .object();
        QVERIFY(!stats.isEmpty());
        const QString text = formatStats(stats);
        QVERIFY2(text.startsWith("sale 12  open  at 2026-11-21 12:00:00.123Z\n"), qPrintable(text));
        QVERIFY2(text.contains("units        8123  10000  1500      200   150         27"),
                 qPrintable(text));
        QVERIFY2(text.contains("accepted 512.3/s, rejected 15.3/s (per_user_limit 12.0, "
                               "sold_out 0.0, throttled 3.3)"),
                 qPrintable(text));
        QVERIFY2(text.contains("p50 0.90 ms, p95 2.10 ms, p99 4.80 ms"), qPrintable(text));
        QVERIFY2(text.contains("stream 0 (pending 12), dead letters 0, outbox 3"),
                 qPrintable(text));
        QVERIFY2(text.contains("consumers: notify 1, payment 0"), qPrintable(text));
        QVERIFY2(text.contains("processes: 1 up, 1 down"), qPrintable(text));
        QVERIFY2(text.contains("host-99    payment  DOWN         9000         1.50"),
                 qPrintable(text));
    }

    void formatListsWhenEmpty() {
        QCOMPARE(formatSales({}), QStringLiteral("no sales\n"));
        QCOMPARE(formatSchedules({}), QStringLiteral("no schedules\n"));
        QCOMPARE(formatAudit({}), QStringLiteral("no audit entries\n"));
        QCOMPARE(formatReconcileRuns({}), QStringLiteral("no reconciliation runs\n"));
    }

    void formatAuditChange() {
        const QJsonArray entries{QJsonObject{{"id", 5},
                                             {"at", "2026-11-21T12:00:00.000Z"},
                                             {"actor", "admin@127.0.0.1 (alice)"},
                                             {"action", "sale.pause"},
                                             {"sale_id", 12},
                                             {"before", QJsonObject{{"state", "active"}}},
                                             {"after", QJsonObject{{"state", "paused"}}},
                                             {"detail", QJsonValue()}}};
        const QJsonArray created{QJsonObject{{"id", 4},
                                             {"action", "sale.create"},
                                             {"before", QJsonValue()},
                                             {"after", QJsonObject{{"name", "Phones"}}}}};
        QVERIFY2(formatAudit(created).contains("sale.create  -     created \"Phones\""),
                 qPrintable(formatAudit(created)));
        const QString text = formatAudit(entries);
        QVERIFY2(text.contains("sale.pause    12  state: active -> paused"), qPrintable(text));
    }

    void quantiles() {
        const QList<double> v{5, 1, 4, 2, 3};
        QCOMPARE(quantile(v, 0), 1.0);
        QCOMPARE(quantile(v, 0.5), 3.0);
        QCOMPARE(quantile(v, 0.99), 5.0);
        QCOMPARE(quantile(v, 1), 5.0);
        QCOMPARE(quantile({}, 0.5), 0.0);
        const QJsonObject summary = pingSummary(v, -3, "0.1.0");
        QCOMPARE(summary.value("count").toInt(), 5);
        QCOMPARE(summary.value("rtt_p50_ms").toDouble(), 3.0);
        QCOMPARE(summary.value("skew_ms").toInteger(), -3);
    }

    // End to end: the real binary against the real server, in the order of a sale's life.

    void e2ePing() {
        const CtlOutput table = ctl({"ping", "--count", "20"});
        QVERIFY2(table.exitCode == 0, qPrintable(table.describe()));
        QVERIFY2(table.out.startsWith("20 pings to ws://127.0.0.1:"), qPrintable(table.describe()));
        QVERIFY2(table.out.contains("/admin/v1/ws (server "), qPrintable(table.describe()));
        QVERIFY2(table.out.contains("server clock skew: "), qPrintable(table.describe()));
        QCOMPARE(table.err, QString());

        const CtlOutput json = ctl({"--json", "ping", "--count", "50"});
        QVERIFY2(json.exitCode == 0, qPrintable(json.describe()));
        QCOMPARE(json.json().size(), 1);
        const QJsonObject summary = json.json().first();
        QCOMPARE(summary.value("count").toInt(), 50);
        // Admin operations answer well within 100 ms on an idle server.
        QVERIFY2(summary.value("rtt_p99_ms").toDouble() < 100, qPrintable(json.out));
        QVERIFY(summary.value("rtt_min_ms").toDouble() > 0);
        // Same machine, same clock: the skew is a few ms at most.
        QVERIFY2(qAbs(summary.value("skew_ms").toInteger()) < 50, qPrintable(json.out));
    }

    void e2eCreate() {
        const CtlOutput r =
            ctl({"--json", "sale", "create", "--name", "ctl e2e", "--starts-at", "-1m", "--ends-at",
                 "+1h", "--stock", "10", "--price-cents", "150", "--per-user-limit", "2"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.describe()));
        QCOMPARE(r.json().size(), 1);
        const QJsonObject sale = r.json().first().value("sale").toObject();
        m_saleId = sale.value("id").toInteger();
        QVERIFY2(m_saleId > 0, qPrintable(r.out));
        QCOMPARE(sale.value("name").toString(), QStringLiteral("ctl e2e"));
        QCOMPARE(sale.value("state").toString(), QStringLiteral("active"));
        QCOMPARE(sale.value("stock").toInt(), 10);
        QCOMPARE(sale.value("per_user_limit").toInt(), 2);
        // Started a minute ago, so warmed at once: Redis sells all ten units.
        QCOMPARE(sale.value("phase").toString(), QStringLiteral("open"));
        QCOMPARE(sale.value("remaining").toInt(), 10);
        QCOMPARE(m_db.scalar("SELECT name FROM sales WHERE id = " + QByteArray::number(m_saleId)),
                 QByteArray("ctl e2e"));

        // The table form names the sale it created.
        const CtlOutput table =
            ctl({"sale", "create", "--name", "ctl e2e generated", "--starts-at", "+1h", "--ends-at",
                 "+2h", "--generate", "3", "--units-per-item", "4", "--price-cents", "99"});
        QVERIFY2(table.exitCode == 0, qPrintable(table.describe()));
        QVERIFY2(table.out.startsWith("sale "), qPrintable(table.out));
        QVERIFY2(table.out.contains(" created\nID  NAME"), qPrintable(table.out));
        QVERIFY2(table.out.contains("ctl e2e generated"), qPrintable(table.out));
    }

    void e2eListAndGet() {
        QVERIFY(m_saleId > 0);
        const CtlOutput table = ctl({"sale", "list"});
        QVERIFY2(table.exitCode == 0, qPrintable(table.describe()));
        const QStringList lines = table.out.split('\n', Qt::SkipEmptyParts);
        QVERIFY2(lines.size() >= 3, qPrintable(table.out));
        QVERIFY(lines[0].startsWith("ID"));
        QVERIFY(lines[0].contains("REMAINING"));
        bool found = false;
        for (const QString &line : lines)
            found = found
                    || (line.contains(QString::number(m_saleId) + "  ctl e2e  ")
                        && line.contains("active") && line.endsWith(" 10"));
        QVERIFY2(found, qPrintable(table.out));

        const CtlOutput json = ctl({"--json", "sale", "list", "--state", "active", "--limit", "1"});
        QVERIFY2(json.exitCode == 0, qPrintable(json.describe()));
        QCOMPARE(json.json().size(), 1);
        QCOMPARE(json.json().first().value("sales").toArray().size(), 1);

        const CtlOutput get = ctl({"sale", "get", QString::number(m_saleId)});
        QVERIFY2(get.exitCode == 0, qPrintable(get.describe()));
        QVERIFY2(get.out.contains("name:") && get.out.contains("ctl e2e"), qPrintable(get.out));
        QVERIFY2(get.out.contains("ITEM  NAME"), qPrintable(get.out));
        m_itemId = saleNow().value("items").toArray().first().toObject().value("id").toInteger();
        QVERIFY(m_itemId > 0);
    }

    void e2ePauseResume() {
        QVERIFY(m_saleId > 0);
        const QString id = QString::number(m_saleId);
        const CtlOutput pause = ctl({"sale", "pause", id});
        QVERIFY2(pause.exitCode == 0, qPrintable(pause.describe()));
        QVERIFY2(pause.out.startsWith("sale " + id + " paused\n"), qPrintable(pause.out));
        QCOMPARE(saleNow().value("state").toString(), QStringLiteral("paused"));

        // Repeating a change is accepted (the server makes it idempotent, so that a retry after
        // a Redis failure can finish the job); the state stays.
        const CtlOutput again = ctl({"sale", "pause", id});
        QVERIFY2(again.exitCode == 0, qPrintable(again.describe()));
        QCOMPARE(saleNow().value("state").toString(), QStringLiteral("paused"));

        const CtlOutput resume = ctl({"sale", "resume", id});
        QVERIFY2(resume.exitCode == 0, qPrintable(resume.describe()));
        QVERIFY2(resume.out.startsWith("sale " + id + " resumed\n"), qPrintable(resume.out));
        QCOMPARE(saleNow().value("state").toString(), QStringLiteral("active"));
    }

    void e2eAdjust() {
        QVERIFY(m_saleId > 0);
        const QString id = QString::number(m_saleId);
        const CtlOutput down = ctl({"sale", "adjust", id, "--delta=-3"});
        QVERIFY2(down.exitCode == 0, qPrintable(down.describe()));
        QVERIFY2(down.out.contains("stock 10 -> 7, remaining 10 -> 7"), qPrintable(down.out));

        const CtlOutput up = ctl(
            {"--json", "sale", "adjust", id, "--item", QString::number(m_itemId), "--delta", "+5"});
        QVERIFY2(up.exitCode == 0, qPrintable(up.describe()));
        QCOMPARE(up.json().size(), 1);
        QCOMPARE(up.json().first().value("stock_after").toInt(), 12);
        QCOMPARE(up.json().first().value("remaining_after").toInt(), 12);
        QCOMPARE(saleNow().value("stock").toInt(), 12);
        QCOMPARE(
            m_redis->integer({"HGET", SaleKeys(m_saleId).stock(), QByteArray::number(m_itemId)}),
            12);

        // Removing more than remains is refused by the server.
        const CtlOutput tooMuch = ctl({"sale", "adjust", id, "--delta=-1000"});
        QCOMPARE(tooMuch.exitCode, 1);
        QVERIFY2(tooMuch.err.startsWith("error: conflict: "), qPrintable(tooMuch.describe()));
        QCOMPARE(saleNow().value("stock").toInt(), 12);
    }

    void e2eStats() {
        QVERIFY(m_saleId > 0);
        const QString id = QString::number(m_saleId);
        const CtlOutput one = ctl({"stats", id, "--interval-ms", "250"});
        QVERIFY2(one.exitCode == 0, qPrintable(one.describe()));
        QVERIFY2(one.out.startsWith("sale " + id + "  open  at "), qPrintable(one.out));
        QVERIFY2(one.out.contains("REMAINING  STOCK"), qPrintable(one.out));
        QVERIFY2(one.out.contains("latency"), qPrintable(one.out));
        QVERIFY2(one.out.contains("processes: "), qPrintable(one.out));

        const CtlOutput watch =
            ctl({"--json", "stats", id, "--watch", "--count", "2", "--interval-ms", "250"});
        QVERIFY2(watch.exitCode == 0, qPrintable(watch.describe()));
        const QList<QJsonObject> events = watch.json();
        QCOMPARE(events.size(), 2);
        for (const QJsonObject &e : events) {
            QCOMPARE(e.value("sale_id").toInteger(), m_saleId);
            QCOMPARE(e.value("stock").toInt(), 12);
            QCOMPARE(e.value("remaining").toInt(), 12);
        }
        QVERIFY(events[1].value("at_ms").toInteger() > events[0].value("at_ms").toInteger());

        const CtlOutput missing = ctl({"stats", "999999"});
        QCOMPARE(missing.exitCode, 1);
        QVERIFY2(missing.err.startsWith("error: not-found: "), qPrintable(missing.describe()));
    }

    void e2eReconcile() {
        QVERIFY(m_saleId > 0);
        const QString id = QString::number(m_saleId);
        const CtlOutput clean = ctl({"reconcile", id});
        QVERIFY2(clean.exitCode == 0, qPrintable(clean.describe()));
        QVERIFY2(clean.out.contains(" of sale " + id + " (dry_run, operator by "),
                 qPrintable(clean.out));
        QVERIFY2(clean.out.contains("): ok\n"), qPrintable(clean.out));
        QVERIFY2(clean.out.contains("CHECK") && clean.out.contains("DRIFT"), qPrintable(clean.out));

        // Two units appear in Redis from nowhere: drift, exit 4, until repaired.
        m_redis->command(
            {"HINCRBY", SaleKeys(m_saleId).stock(), QByteArray::number(m_itemId), "2"});
        const CtlOutput drift = ctl({"reconcile", id});
        QVERIFY2(drift.exitCode == 4, qPrintable(drift.describe()));
        QVERIFY2(drift.out.contains("DRIFT FOUND"), qPrintable(drift.out));

        // Whether a repairing run reports ok is the reconciler's choice; either way it says what
        // it repaired.
        const CtlOutput repair = ctl({"reconcile", id, "--repair"});
        QVERIFY2(repair.exitCode == 4 || repair.exitCode == 0, qPrintable(repair.describe()));
        QVERIFY2(repair.out.contains("REPAIR"), qPrintable(repair.out));
        QCOMPARE(
            m_redis->integer({"HGET", SaleKeys(m_saleId).stock(), QByteArray::number(m_itemId)}),
            12);

        const CtlOutput after = ctl({"--json", "reconcile", id});
        QVERIFY2(after.exitCode == 0, qPrintable(after.describe()));
        QCOMPARE(after.json().first().value("ok").toBool(), true);

        const CtlOutput runs = ctl({"reconcile", "list", id, "--limit", "10"});
        QVERIFY2(runs.exitCode == 0, qPrintable(runs.describe()));
        QCOMPARE(runs.out.split('\n', Qt::SkipEmptyParts).size(), 1 + 4);
        QVERIFY2(runs.out.startsWith("RUN  SALE"), qPrintable(runs.out));
    }

    void e2eStopAndAudit() {
        QVERIFY(m_saleId > 0);
        const QString id = QString::number(m_saleId);
        const CtlOutput stop = ctl({"sale", "stop", id});
        QVERIFY2(stop.exitCode == 0, qPrintable(stop.describe()));
        QVERIFY2(stop.out.startsWith("sale " + id + " stopped\n"), qPrintable(stop.out));
        QCOMPARE(saleNow().value("state").toString(), QStringLiteral("stopped"));
        // A stopped sale cannot be resumed: a typed error, printed, exit 1, nothing on stdout.
        const CtlOutput resume = ctl({"sale", "resume", id});
        QCOMPARE(resume.exitCode, 1);
        QVERIFY2(resume.err.startsWith("error: conflict: "), qPrintable(resume.describe()));
        QCOMPARE(resume.out, QString());
        QCOMPARE(saleNow().value("state").toString(), QStringLiteral("stopped"));

        const CtlOutput audit = ctl({"--json", "audit", "--sale", id});
        QVERIFY2(audit.exitCode == 0, qPrintable(audit.describe()));
        QStringList actions;
        for (const QJsonValue &e : audit.json().first().value("entries").toArray()) {
            actions.prepend(e.toObject().value("action").toString()); // oldest first
            QVERIFY2(e.toObject().value("actor").toString() == QLatin1String("tst_ctl"),
                     qPrintable(audit.out));
        }
        // Everything this suite changed, in order (repeats and repairs in between allowed).
        const QStringList expected{"sale.create", "sale.pause",  "sale.resume",
                                   "sale.adjust", "sale.adjust", "sale.stop"};
        qsizetype next = 0;
        for (const QString &action : actions)
            if (next < expected.size() && action == expected[next])
                ++next;
        QVERIFY2(next == expected.size(), qPrintable(actions.join(',')));
        QCOMPARE(actions.last(), QStringLiteral("sale.stop"));

        const CtlOutput table = ctl({"audit", "--sale", id, "--limit", "2"});
        QVERIFY2(table.exitCode == 0, qPrintable(table.describe()));
        const QStringList lines = table.out.split('\n', Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 3);
        QVERIFY2(lines[0].startsWith("ID  AT"), qPrintable(table.out));
        QVERIFY2(lines[1].contains("sale.stop"), qPrintable(table.out));
    }

    void e2eSchedule() {
        const CtlOutput create =
            ctl({"--json", "schedule", "create", "--name", "ctl hourly", "--first-start", "+2h",
                 "--every", "1h", "--duration", "10m", "--items", "5", "--price-cents", "250"});
        QVERIFY2(create.exitCode == 0, qPrintable(create.describe()));
        const QJsonObject schedule = create.json().first().value("schedule").toObject();
        const qint64 id = schedule.value("id").toInteger();
        QVERIFY(id > 0);
        QCOMPARE(schedule.value("every_seconds").toInt(), 3600);
        QCOMPARE(schedule.value("duration_seconds").toInt(), 600);
        QCOMPARE(schedule.value("item_count").toInt(), 5);

        const CtlOutput list = ctl({"schedule", "list"});
        QVERIFY2(list.exitCode == 0, qPrintable(list.describe()));
        QVERIFY2(list.out.contains("ctl hourly"), qPrintable(list.out));

        const CtlOutput cancel = ctl({"schedule", "cancel", QString::number(id)});
        QVERIFY2(cancel.exitCode == 0, qPrintable(cancel.describe()));
        QVERIFY2(cancel.out.startsWith(QStringLiteral("schedule %1 cancelled\n").arg(id)),
                 qPrintable(cancel.out));
    }

    void e2eOperators() {
        // A generated password is printed once, and works.
        const CtlOutput created = ctl({"operator", "create", "olga", "--role", "viewer"});
        QVERIFY2(created.exitCode == 0, qPrintable(created.describe()));
        static const QRegularExpression shown(QStringLiteral(
            "password of olga \\(shown once; store it now\\): ([A-Za-z0-9_-]{32})\n"));
        const auto match = shown.match(created.out);
        QVERIFY2(match.hasMatch(), qPrintable(created.out));
        const QString generated = match.captured(1);
        const Env olga{{"FLASHSALE_OPERATOR", "olga"}, {"FLASHSALE_OPERATOR_PASSWORD", generated}};
        QVERIFY2(ctl({"sale", "list"}, olga).exitCode == 0, "olga logs in");
        // A viewer may read, not change.
        const CtlOutput denied = ctl({"sale", "pause", "1"}, olga);
        QCOMPARE(denied.exitCode, 1);
        QVERIFY2(denied.err.startsWith("error: forbidden: "), qPrintable(denied.describe()));

        // Rotated from a file: the old password is refused, the new one logs in.
        QTemporaryDir dir;
        const QString file = dir.filePath("olga.pw");
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("olga-new-password-22\n");
        f.close();
        QVERIFY(ctl({"operator", "rotate", "olga", "--new-password-file", file}).exitCode == 0);
        const CtlOutput old = ctl({"ping"}, olga);
        QCOMPARE(old.exitCode, 3);
        QVERIFY2(old.err.contains("refused the login (HTTP 401"), qPrintable(old.describe()));
        QVERIFY2(ctl({"--operator", "olga", "--password-file", file, "ping"}, {}).exitCode == 0,
                 "olga logs in with the password file");

        QVERIFY(ctl({"operator", "set-role", "olga", "--role", "merchandiser"}).exitCode == 0);
        QVERIFY(ctl({"operator", "disable", "olga"}).exitCode == 0);
        const CtlOutput list = ctl({"--json", "operator", "list"});
        QVERIFY2(list.exitCode == 0, qPrintable(list.describe()));
        QJsonObject row;
        for (const QJsonValue &o : list.json().first().value("operators").toArray())
            if (o.toObject().value("name") == "olga")
                row = o.toObject();
        QCOMPARE(row.value("role").toString(), QStringLiteral("merchandiser"));
        QVERIFY(!row.value("disabled_at").toString().isEmpty());
        const CtlOutput table = ctl({"operator", "list"});
        QVERIFY2(table.out.startsWith("NAME "), qPrintable(table.out));
        QVERIFY2(!table.out.contains(generated), qPrintable(table.out));
    }

    // issue 19: notify. A notification the relay refused for good, and one not sent yet.
    void e2eNotificationFailures() {
        QCOMPARE(m_db.scalar("INSERT INTO notifications (event_id, order_id, user_id, kind, body, "
                             "failed_at, failure) VALUES ('order.paid:ctl-1', 9001, 'nobody', "
                             "'order.paid', 'x', now(), 'smtp: RCPT failed: 550 (last reply "
                             "550)'), ('order.paid:ctl-2', 9002, 'alice', 'order.paid', 'x', "
                             "NULL, NULL) RETURNING 1"),
                 QByteArray("1"));
        const CtlOutput json = ctl({"--json", "notifications", "failures"});
        QVERIFY2(json.exitCode == 0, qPrintable(json.describe()));
        const QJsonObject r = json.json().first();
        QCOMPARE(r.value("total").toInt(), 1);
        QCOMPARE(r.value("unsent").toInt(), 1);
        const QJsonArray failures = r.value("failures").toArray();
        QCOMPARE(failures.size(), 1);
        QCOMPARE(failures[0].toObject().value("order_id").toInt(), 9001);
        QCOMPARE(failures[0].toObject().value("user_id").toString(), QStringLiteral("nobody"));

        const CtlOutput table = ctl({"notifications", "failures"});
        QVERIFY2(table.exitCode == 0, qPrintable(table.describe()));
        const QStringList lines = table.out.split('\n', Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 3);
        QVERIFY2(lines[0].startsWith("1 failed for good, 1 not sent yet"), qPrintable(table.out));
        QVERIFY2(lines[2].contains("9001") && lines[2].contains("550"), qPrintable(table.out));
    }

    void secretsAreNeverArguments() {
        // There is no option that takes a secret's value.
        for (const QStringList &args :
             {QStringList{"--token", "x", "ping"}, QStringList{"--password", "x", "ping"},
              QStringList{"operator", "create", "x", "--role", "admin", "--password", "y"}}) {
            const CtlOutput r = ctl(args);
            QCOMPARE(r.exitCode, 2);
            QVERIFY2(r.err.contains("Unknown option"), qPrintable(r.describe()));
        }
        // --operator without a password, or --password-file without an operator, is a usage
        // error, before anything is sent.
        QCOMPARE(ctl({"--operator", "olga", "ping"}, {}).exitCode, 2);
        QCOMPARE(ctl({"--password-file", "/dev/null", "ping"}, {}).exitCode, 2);
        // Credentials never go over plain ws:// to another host.
        const CtlOutput remote =
            ctl({"ping"}, asOperator(), QStringLiteral("ws://192.0.2.10:8080/admin/v1/ws"));
        QCOMPARE(remote.exitCode, 3);
        QVERIFY2(remote.err.contains("refusing to send credentials over unencrypted ws://"),
                 qPrintable(remote.describe()));
    }

    void e2eErrors_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<Env>("login");
        QTest::addColumn<QString>("url"); // empty: the test server
        QTest::addColumn<int>("exitCode");
        QTest::addColumn<QString>("stderrStart");
        QTest::addColumn<QString>("stderrAlso");
        using L = QStringList;
        const Env token = asOperator();
        QTest::addRow("wrong token")
            << L{"sale", "list"} << Env{{"FLASHSALE_ADMIN_TOKEN", "wrong-token-0000000"}} << "" << 3
            << "error: the server refused the login (HTTP 401"
            << "the bootstrap token";
        QTest::addRow("wrong password")
            << L{"sale", "list"}
            << Env{{"FLASHSALE_OPERATOR", "tst_ctl"},
                   {"FLASHSALE_OPERATOR_PASSWORD", "not-the-password-00"}}
            << "" << 3 << "error: the server refused the login (HTTP 401"
            << "operator tst_ctl";
        QTest::addRow("no token") << L{"ping"} << Env{} << "" << 3
                                  << "error: the server refused the login (HTTP 401"
                                  << "no credential was given";
        QTest::addRow("limit out of range")
            << L{"sale", "list", "--limit", "1000"} << token << "" << 1 << "error: invalid-args: "
            << "\n  /args/limit: ";
        QTest::addRow("zero delta")
            << L{"sale", "adjust", "1", "--delta=0"} << token << "" << 1 << "error: invalid-args: "
            << "\n  /args/delta: ";
        QTest::addRow("end before start")
            << L{"sale",      "create", "--name",  "x", "--starts-at",   "+2h",
                 "--ends-at", "+1h",    "--stock", "1", "--price-cents", "1"}
            << token << "" << 1 << "error: invalid-args: "
            << "\n  /args/ends_at: ";
        QTest::addRow("no such sale")
            << L{"sale", "get", "999999"} << token << "" << 1 << "error: not-found: "
            << "";
        // issue 16: the public API's answer for a sale it publishes no shuffle of, exit 1.
        QTest::addRow("fairness of no such sale")
            << L{"fairness", "verify", "999999", "--api", m_backend.url()} << Env{} << "" << 1
            << "error: GET " + m_backend.url() + "/api/v1/sales/999999/fairness: HTTP 404"
            << "";
        QTest::addRow("usage") << L{"sale", "adjust", "1", "-5"} << token << "" << 2
                               << "flashsale-ctl: Unknown option '5'"
                               << "--delta=-5";
        QTest::addRow("nothing listening")
            << L{"ping"} << token << QStringLiteral("ws://127.0.0.1:%1/admin/v1/ws").arg(freePort())
            << 3 << "error: cannot connect to ws://127.0.0.1:"
            << "";
    }
    void e2eErrors() {
        QFETCH(QStringList, args);
        QFETCH(Env, login);
        QFETCH(QString, url);
        QFETCH(int, exitCode);
        QFETCH(QString, stderrStart);
        QFETCH(QString, stderrAlso);
        const CtlOutput r = ctl(args, login, url);
        QVERIFY2(r.exitCode == exitCode, qPrintable(r.describe()));
        QVERIFY2(r.err.startsWith(stderrStart), qPrintable(r.describe()));
        QVERIFY2(r.err.contains(stderrAlso), qPrintable(r.describe()));
        QCOMPARE(r.out, QString());
    }
};

QTEST_GUILESS_MAIN(TestCtl)
#include "tst_ctl.moc"
