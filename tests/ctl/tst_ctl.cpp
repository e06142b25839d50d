// flashsale-ctl: its argument parsing (times, durations, URLs, every command's args) and its
// table output, as functions; then the real binary against the real server.

#include "ctlargs.h"
#include "ctlformat.h"
#include "texttable.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTemporaryFile>
#include <QTest>

using namespace flashsale;
using namespace flashsale::ctl;

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

class TestCtl : public QObject {
    Q_OBJECT

private Q_SLOTS:
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
        QCOMPARE(inv->actor, QStringLiteral("alice"));
        QCOMPARE(inv->json, false);
        QCOMPARE(inv->timeoutMs, 10000);

        // The admin URL wins over the API URL, and options over the environment.
        const auto over =
            ctl::parseInvocation({"flashsale-ctl", "--token", "t2", "--actor", "bob", "--json",
                                  "--timeout-ms", "250", "ping", "--count", "3"},
                                 envOf({{"FLASHSALE_ADMIN_URL", "ws://10.1.1.1:1/admin/v1/ws"},
                                        {"FLASHSALE_API_URL", "http://127.0.0.1:18080"},
                                        {"FLASHSALE_ADMIN_TOKEN", "secret"},
                                        {"USER", "alice"}}),
                                 kNow);
        QVERIFY2(over, qPrintable(errorOf(over)));
        QCOMPARE(over->url.toString(), QStringLiteral("ws://10.1.1.1:1/admin/v1/ws"));
        QCOMPARE(over->token, QStringLiteral("t2"));
        QCOMPARE(over->actor, QStringLiteral("bob"));
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
                "\"rejected_per_s\": {\"sold_out\": 0, \"limit\": 12.0, \"throttled\": 3.3}}, "
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
        QVERIFY2(text.contains("accepted 512.3/s, rejected 15.3/s (limit 12.0, sold_out 0.0, "
                               "throttled 3.3)"),
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
};

QTEST_GUILESS_MAIN(TestCtl)
#include "tst_ctl.moc"
