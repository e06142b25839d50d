// The console's alert hygiene against the real flashsale-server, Redis and PostgreSQL (issue 17):
// processes that stop cleanly leave the Processes panel at once and raise nothing, however often
// they restart; one killed with SIGKILL shows down, raises exactly one alert and is archived after
// the configured time; a loop lag flapping around its threshold raises at most one alert; the
// conservation line turns red with an alert naming the term that moved when a counter in Redis is
// corrupted, and green again when it is repaired; the sales table's Sold/Held are the dashboard's
// Paid and Held + Pending.

#include "alertsmodel.h"
#include "booking/salekeys.h"
#include "conservation.h"
#include "consolesettings.h"
#include "dashboardwidget.h"
#include "mainwindow.h"
#include "processlist.h"
#include "protocol/adminclient.h"
#include "rawhttp.h"
#include "salesmodel.h"
#include "settingsdialog.h"
#include "statshistory.h"
#include "testservers.h"

#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QHostInfo>
#include <QJsonArray>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTest>

using namespace flashsale;
using namespace flashsale::admin;
using namespace flashsale::console;
using namespace flashsale::test;

namespace {

// A stats push for the model's unit tests: one process "h-1" with this loop lag.
QJsonObject pushWithLoopLag(qint64 atMs, double loopLagMs) {
    return QJsonObject{{"sale_id", 1},
                       {"at_ms", double(atMs)},
                       {"latency_ms", QJsonObject{{"count", 0}}},
                       {"lag", QJsonObject{{"stream", 0}, {"outbox", 0}, {"outbox_age_s", 0}}},
                       {"processes", QJsonArray{QJsonObject{{"id", "h-1"},
                                                            {"host", "h"},
                                                            {"up_ms", 60000},
                                                            {"roles", QJsonArray{"api"}},
                                                            {"up", true},
                                                            {"seen_ms_ago", 100},
                                                            {"loop_lag_ms", loopLagMs}}}}};
}

int rowsWithKeyPrefix(const AlertsModel &m, const QString &prefix) {
    int n = 0;
    for (const AlertsModel::Alert &a : m.alerts())
        n += a.key.startsWith(prefix);
    return n;
}

} // namespace

class TestConsoleHygiene : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_backend;
    QHash<QString, QString> m_env;
    std::unique_ptr<RedisSync> m_redis;
    std::unique_ptr<AdminClient> m_admin;
    std::unique_ptr<MainWindow> m_window;
    qint64 m_sale = 0;
    static constexpr double kArchiveSeconds = 6;

    QUrl adminUrl() const {
        return QUrl(QStringLiteral("ws://127.0.0.1:%1/admin/v1/ws").arg(m_backend.port()));
    }

    AdminClient::Reply call(Op op, const QJsonObject &args) {
        std::optional<AdminClient::Reply> reply;
        m_admin->request(op, args, [&reply](const AdminClient::Reply &r) { reply = r; });
        (void)QTest::qWaitFor([&reply] { return reply.has_value(); }, 10000);
        return reply.value_or(AdminClient::Reply{});
    }

    static QString processId(const Backend &b) {
        return QStringLiteral("%1-%2").arg(QHostInfo::localHostName()).arg(b.pid());
    }

    // The Processes panel's row of `id`: its State cell's text, or empty when it is not listed.
    QString processState(const QString &id) const {
        QTableWidget *t = m_window->dashboard()->processes();
        for (int r = 0; r < t->rowCount(); ++r)
            if (t->item(r, 0) && t->item(r, 0)->text() == id)
                return t->item(r, 1)->text();
        return {};
    }

    int listedProcesses() const { return m_window->dashboard()->processes()->rowCount(); }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("flashsale-test"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_consolehygiene"));
        QSettings().clear();

        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        m_env = {{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                 {"FLASHSALE_PG_URL", m_db.url()},
                 {"FLASHSALE_STATS_FLUSH_MS", "100"},
                 {"FLASHSALE_HEARTBEAT_MS", "200"}};
        QVERIFY2(m_backend.start(m_env, {"--roles", "api,worker"}), qPrintable(m_backend.error()));
        QTRY_COMPARE_WITH_TIMEOUT(http(m_backend.port(), "GET", "/readyz").status, 200, 10000);

        m_admin = std::make_unique<AdminClient>();
        m_admin->open(adminUrl(), {{}, {}, QString::fromLatin1(Backend::kAdminToken)});
        QTRY_COMPARE_WITH_TIMEOUT(m_admin->state(), AdminClient::State::Connected, 5000);
        const auto r = call(Op::SaleCreate, {{"name", "Hygiene"},
                                             {"starts_at", rfc3339(-1000)},
                                             {"ends_at", rfc3339(3600000)},
                                             {"stock", 10},
                                             {"per_user_limit", 5},
                                             {"price_cents", 100}});
        QVERIFY2(r.ok, qPrintable(r.failure.message));
        m_sale = r.result.value("sale").toObject().value("id").toInteger();

        ConsoleSettings settings = ConsoleSettings::load(QProcessEnvironment());
        settings.statsIntervalMs = 250;
        settings.thresholds.holdSeconds = 0.5;
        settings.thresholds.processArchiveSeconds = kArchiveSeconds;
        m_window = std::make_unique<MainWindow>(settings);
        m_window->resize(1366, 768);
        m_window->show();
        m_window->connectTo(adminUrl(), {{}, {}, QString::fromLatin1(Backend::kAdminToken)});
        QTRY_VERIFY_WITH_TIMEOUT(m_window->salesModel()->rowOf(m_sale) >= 0, 10000);
        QVERIFY(m_window->selectSale(m_sale));
        QTRY_COMPARE_WITH_TIMEOUT(processState(processId(m_backend)), QStringLiteral("up"), 5000);
    }

    void cleanupTestCase() {
        m_window.reset();
        m_admin.reset();
    }

    // (a) Three clean restarts of a process: each leaves the panel at once (well before the
    // server would call it down, 3 s), Redis keeps no entry of it, and no alert is raised.
    void cleanRestartsLeaveNoStaleProcessNorAlert() {
        for (int i = 0; i < 3; ++i) {
            Backend extra;
            QVERIFY2(extra.start(m_env, {"--roles", "api"}), qPrintable(extra.error()));
            const QString id = processId(extra);
            QTRY_COMPARE_WITH_TIMEOUT(processState(id), QStringLiteral("up"), 5000);
            QCOMPARE(listedProcesses(), 2);
            QElapsedTimer stopped;
            extra.stop(); // SIGTERM
            stopped.start();
            QVERIFY(!m_redis->hash("fs:procs").contains(id.toUtf8()));
            QTRY_VERIFY_WITH_TIMEOUT(processState(id).isEmpty(), 2500);
            QVERIFY2(stopped.elapsed() < 2500, "left by deregistering, not by going down");
        }
        QCOMPARE(listedProcesses(), 1);
        QCOMPARE(processState(processId(m_backend)), QStringLiteral("up"));
        QCOMPARE(m_redis->hash("fs:procs").size(), 1);
        QCOMPARE(rowsWithKeyPrefix(*m_window->alerts(), QStringLiteral("down:")), 0);
        QCOMPARE(m_window->alerts()->unacknowledgedCount(), 0);
    }

    // (b) A SIGKILLed process (no deregistration): down, exactly one alert that stays one row
    // while it stays down, acknowledgeable, then archived after the configured time: gone from
    // the panel, its alert shown as cleared (archived).
    void killedProcessIsDownOnceThenArchived() {
        Backend extra;
        QVERIFY2(extra.start(m_env, {"--roles", "worker"}), qPrintable(extra.error()));
        const QString id = processId(extra);
        const QString key = QStringLiteral("down:") + id;
        QTRY_COMPARE_WITH_TIMEOUT(processState(id), QStringLiteral("up"), 5000);
        extra.kill();
        QTRY_VERIFY_WITH_TIMEOUT(processState(id).startsWith(QStringLiteral("DOWN")), 6000);
        AlertsModel *alerts = m_window->alerts();
        QTRY_VERIFY_WITH_TIMEOUT(alerts->isActive(key), 3000);
        QCOMPARE(rowsWithKeyPrefix(*alerts, QStringLiteral("down:")), 1);
        QCOMPARE(alerts->find(key)->level, AlertsModel::Level::Critical);
        QCOMPARE(alerts->unacknowledgedCount(), 1);
        // More pushes while it stays down: still one row, raised once.
        QSignalSpy pushes(m_window->history(), &StatsHistory::changed);
        QTRY_VERIFY_WITH_TIMEOUT(pushes.size() >= 4, 5000);
        QCOMPARE(rowsWithKeyPrefix(*alerts, QStringLiteral("down:")), 1);
        QCOMPARE(alerts->find(key)->count, 1);

        // Acknowledged through the dashboard's button: still listed, no longer drawing the eye.
        QTableView *view = m_window->dashboard()->alertsView();
        for (int row = 0; row < alerts->rowCount(); ++row)
            if (alerts->alerts()[row].key == key)
                view->selectRow(row);
        QCOMPARE(m_window->dashboard()->acknowledgeSelected(), 1);
        QVERIFY(alerts->find(key)->acknowledged);
        QCOMPARE(alerts->unacknowledgedCount(), 0);

        // Archived: the server still has its last heartbeat, the console no longer lists it.
        QTRY_VERIFY_WITH_TIMEOUT(processState(id).isEmpty(), int(kArchiveSeconds * 1000) + 3000);
        QVERIFY(m_redis->hash("fs:procs").contains(id.toUtf8()));
        QVERIFY(!alerts->isActive(key));
        QCOMPARE(alerts->find(key)->status, AlertsModel::Status::Cleared);
        QVERIFY2(alerts->find(key)->clearedText.contains(QStringLiteral("archived")),
                 qPrintable(alerts->find(key)->clearedText));
        QCOMPARE(rowsWithKeyPrefix(*alerts, QStringLiteral("down:")), 1);
        QCOMPARE(listedProcesses(), 1);
        m_redis->command({"HDEL", "fs:procs", id.toUtf8()});
    }

    // A crash followed by a restart (new pid, same host and roles): the dead one is replaced at
    // once, its alert cleared, not left down for the archive time.
    void crashThenRestartIsReplaced() {
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        auto proc = [](const char *id, bool up, qint64 upMs, qint64 silentMs) {
            return QJsonObject{
                {"id", id}, {"host", "h"},           {"roles", QJsonArray{"worker"}},
                {"up", up}, {"up_ms", double(upMs)}, {"seen_ms_ago", double(silentMs)}};
        };
        const QJsonArray oldOnly{proc("h-1", false, 60000, 4000)};
        const QJsonArray restarted{proc("h-1", false, 62000, 6000), proc("h-2", true, 1500, 100)};
        // A second worker that was already running before h-1 went silent replaces nothing.
        const QJsonArray twoWorkers{proc("h-1", false, 62000, 6000), proc("h-3", true, 90000, 100)};
        QCOMPARE(processFate(oldOnly[0].toObject(), oldOnly, 120000).kind, ProcessFate::Down);
        QCOMPARE(processFate(restarted[0].toObject(), restarted, 120000).kind,
                 ProcessFate::Replaced);
        QCOMPARE(processFate(twoWorkers[0].toObject(), twoWorkers, 120000).kind, ProcessFate::Down);
        QCOMPARE(console::listedProcesses(restarted, 120000).size(), 1);

        AlertsModel alerts;
        Thresholds t;
        t.holdSeconds = 0;
        alerts.setThresholds(t);
        alerts.checkStats({{"at_ms", double(now)}, {"processes", oldOnly}});
        QVERIFY(alerts.isActive("down:h-1"));
        alerts.checkStats({{"at_ms", double(now + 2000)}, {"processes", restarted}});
        QVERIFY(!alerts.isActive("down:h-1"));
        QCOMPARE(alerts.rowCount(), 1);
        QCOMPARE(alerts.alerts().first().status, AlertsModel::Status::Cleared);
        QVERIFY(alerts.alerts().first().clearedText.contains("replaced by h-2"));
        // Cleared rows age out.
        alerts.checkStats({{"at_ms", double(now + 2000 + qint64(t.clearedKeepSeconds * 1000) + 1)},
                           {"processes", QJsonArray{proc("h-2", true, 400000, 100)}}});
        QCOMPARE(alerts.rowCount(), 0);
    }

    // (c) Loop lag flapping around its threshold (100 ms) every push for 30 s raises nothing;
    // sustained, it raises one row; flapping again keeps that one row; only a sustained low value
    // clears it, and a second episode reuses the row (count 2). Acknowledging lasts until then.
    void flappingLoopLagRaisesAtMostOnce() {
        AlertsModel alerts;
        alerts.setThresholds(Thresholds{}); // the defaults: 100 ms, hold 3 s, clear under 70 ms
        qint64 at = 1'700'000'000'000;
        auto feed = [&](int pushes, auto lagOf) {
            for (int i = 0; i < pushes; ++i, at += 500)
                alerts.checkStats(pushWithLoopLag(at, lagOf(i)));
        };
        auto flapping = [](int i) { return i % 2 ? 130.0 : 95.0; };
        feed(60, flapping);
        QCOMPARE(alerts.rowCount(), 0);
        feed(8, [](int) { return 150.0; }); // 3.5 s above
        QCOMPARE(alerts.rowCount(), 1);
        QVERIFY(alerts.isActive("looplag:h-1"));
        QVERIFY(alerts.acknowledge(0));
        QCOMPARE(alerts.unacknowledgedCount(), 0);
        feed(60, flapping);
        QCOMPARE(alerts.rowCount(), 1);
        QCOMPARE(alerts.alerts().first().count, 1);
        QVERIFY(alerts.isActive("looplag:h-1"));
        feed(8, [](int) { return 10.0; });
        QVERIFY(!alerts.isActive("looplag:h-1"));
        QCOMPARE(alerts.alerts().first().status, AlertsModel::Status::Cleared);
        feed(8, [](int) { return 150.0; });
        QCOMPARE(alerts.rowCount(), 1);
        QCOMPARE(alerts.alerts().first().count, 2);
        QVERIFY(!alerts.alerts().first().acknowledged);
        QCOMPARE(alerts.unacknowledgedCount(), 1);
    }

    // (d) Bookings keep the line green; HINCRBY on the stock hash (units from nowhere) turns it
    // red within two pushes with a critical alert naming "remaining"; undoing it turns it green
    // and clears the alert. The sales table shows the dashboard's figures meanwhile.
    void corruptedCounterTurnsTheConservationLineRed() {
        for (int i = 0; i < 3; ++i)
            QCOMPARE(postJson(m_backend.port(),
                              "/api/v1/sales/" + QByteArray::number(m_sale) + "/book",
                              QJsonObject{{"user_id", QStringLiteral("buyer%1").arg(i)}})
                         .status,
                     202);
        QLabel *line = m_window->dashboard()->conservationLine();
        // Settled: the three units are orders (held), none in flight.
        QTRY_VERIFY_WITH_TIMEOUT(line->property("state").toString() == QLatin1String("holds")
                                     && line->text().contains(QStringLiteral("held 3")),
                                 10000);
        QVERIFY2(line->text().startsWith(QStringLiteral("stock 10 = remaining 7")),
                 qPrintable(line->text()));
        SalesModel *sales = m_window->salesModel();
        const int row = sales->rowOf(m_sale);
        auto cell = [&](int column) { return sales->index(row, column).data().toString(); };
        auto *paid = m_window->dashboard()->findChild<QProgressBar *>("funnel:paid");
        QCOMPARE(cell(SalesModel::Held), QStringLiteral("3"));
        QCOMPARE(cell(SalesModel::Sold), paid->format().section(QLatin1Char(' '), 0, 0));
        QCOMPARE(cell(SalesModel::Remaining), QStringLiteral("7"));

        const QByteArray stockKey = SaleKeys(m_sale).stock();
        const QByteArray item = m_redis->hash(stockKey).keys().value(0);
        QVERIFY(!item.isEmpty());
        QSignalSpy pushes(m_window->history(), &StatsHistory::changed);
        m_redis->command({"HINCRBY", stockKey, item, "2"});
        QTRY_COMPARE_WITH_TIMEOUT(line->property("state").toString(), QStringLiteral("broken"),
                                  5000);
        QVERIFY2(pushes.size() <= 2, qPrintable(QString::number(pushes.size())));
        QVERIFY2(line->text().contains(QStringLiteral("gap -2")), qPrintable(line->text()));
        AlertsModel *alerts = m_window->alerts();
        QTRY_VERIFY_WITH_TIMEOUT(alerts->isActive(QStringLiteral("conservation")), 2000);
        const AlertsModel::Alert *alert = alerts->find(QStringLiteral("conservation"));
        QCOMPARE(alert->level, AlertsModel::Level::Critical);
        QVERIFY2(alert->text.contains(QStringLiteral("remaining moved")), qPrintable(alert->text));
        // Still broken on later pushes: the same single row.
        pushes.clear();
        QTRY_VERIFY_WITH_TIMEOUT(pushes.size() >= 3, 5000);
        QCOMPARE(rowsWithKeyPrefix(*alerts, QStringLiteral("conservation")), 1);
        QCOMPARE(alerts->find(QStringLiteral("conservation"))->count, 1);

        m_redis->command({"HINCRBY", stockKey, item, "-2"});
        QTRY_COMPARE_WITH_TIMEOUT(line->property("state").toString(), QStringLiteral("holds"),
                                  5000);
        QTRY_VERIFY_WITH_TIMEOUT(!alerts->isActive(QStringLiteral("conservation")), 2000);
        QCOMPARE(alerts->find(QStringLiteral("conservation"))->status,
                 AlertsModel::Status::Cleared);
    }

    // A snapshot that is not exact shows grey "unknown" and neither raises nor clears anything.
    void inexactSnapshotIsUnknownWithoutAlert() {
        const QJsonObject broken{{"stock", 10},    {"remaining", 9}, {"in_flight", 0}, {"held", 0},
                                 {"paying", 0},    {"paid", 0},      {"returned", 0},  {"gap", 1},
                                 {"holds", false}, {"exact", true}};
        QJsonObject inexact = broken;
        inexact.insert("exact", false);
        inexact.insert("holds", QJsonValue());
        QCOMPARE(conservation::stateOf(inexact), conservation::State::Unknown);
        QVERIFY(conservation::line(inexact).startsWith(QStringLiteral("unknown")));
        AlertsModel alerts;
        qint64 at = 1'700'000'000'000;
        for (int i = 0; i < 10; ++i, at += 500)
            alerts.checkStats({{"at_ms", double(at)}, {"conservation", inexact}});
        QCOMPARE(alerts.rowCount(), 0);
        alerts.checkStats({{"at_ms", double(at += 500)}, {"conservation", broken}});
        QCOMPARE(alerts.rowCount(), 0); // one broken push may be a torn read
        alerts.checkStats({{"at_ms", double(at += 500)}, {"conservation", inexact}});
        alerts.checkStats({{"at_ms", double(at += 500)}, {"conservation", broken}});
        QCOMPARE(alerts.rowCount(), 1);
        alerts.checkStats({{"at_ms", double(at += 500)}, {"conservation", inexact}});
        QVERIFY(alerts.isActive("conservation")); // not cleared by a snapshot that proves nothing
    }

    // The hysteresis and ageing settings are edited in the Settings dialog: what is shown is what
    // was saved, an edit comes back in values(), and Restore defaults restores them.
    void settingsDialogEditsHysteresisAndAgeing() {
        ConsoleSettings saved;
        saved.thresholds.holdSeconds = 7;
        saved.thresholds.clearFraction = 0.5;
        saved.thresholds.processArchiveSeconds = 45;
        saved.thresholds.clearedKeepSeconds = 90;
        SettingsDialog dialog(saved);
        QList<QDoubleSpinBox *> boxes = dialog.findChildren<QDoubleSpinBox *>();
        auto box = [&](double value) -> QDoubleSpinBox * {
            for (QDoubleSpinBox *b : boxes)
                if (qFuzzyCompare(b->value(), value))
                    return b;
            return nullptr;
        };
        QDoubleSpinBox *hold = box(7), *fraction = box(0.5), *archive = box(45), *keep = box(90);
        QVERIFY(hold && fraction && archive && keep);
        QCOMPARE(dialog.values().thresholds.processArchiveSeconds, 45.0);
        hold->setValue(2);
        fraction->setValue(0.8);
        archive->setValue(1); // below the 5 s floor the settings file also enforces
        keep->setValue(600);
        Thresholds edited = dialog.values().thresholds;
        QCOMPARE(edited.holdSeconds, 2.0);
        QCOMPARE(edited.clearFraction, 0.8);
        QCOMPARE(edited.processArchiveSeconds, 5.0);
        QCOMPARE(edited.clearedKeepSeconds, 600.0);
        auto *buttons = dialog.findChild<QDialogButtonBox *>();
        QVERIFY(buttons);
        buttons->button(QDialogButtonBox::RestoreDefaults)->click();
        const Thresholds defaults;
        edited = dialog.values().thresholds;
        QCOMPARE(edited.holdSeconds, defaults.holdSeconds);
        QCOMPARE(edited.clearFraction, defaults.clearFraction);
        QCOMPARE(edited.processArchiveSeconds, defaults.processArchiveSeconds);
        QCOMPARE(edited.clearedKeepSeconds, defaults.clearedKeepSeconds);
    }

    void movedTermIsTheUnmatchedChange_data() {
        QTest::addColumn<QJsonObject>("after");
        QTest::addColumn<QString>("moved");
        const QJsonObject base{{"stock", 10}, {"remaining", 5}, {"in_flight", 0}, {"held", 2},
                               {"paying", 1}, {"paid", 2},      {"gap", 0}};
        auto with = [&](std::initializer_list<std::pair<const char *, int>> changes) {
            QJsonObject o = base;
            int sum = 0;
            for (const auto &[k, v] : changes)
                o.insert(k, v);
            for (const char *t : {"remaining", "in_flight", "held", "paying", "paid"})
                sum += o.value(t).toInt();
            o.insert("gap", o.value("stock").toInt() - sum);
            return o;
        };
        QTest::addRow("remaining corrupted") << with({{"remaining", 8}}) << "remaining";
        QTest::addRow("remaining corrupted while a booking moves a unit")
            << with({{"remaining", 7}, {"in_flight", 1}}) << "remaining";
        QTest::addRow("two terms explain it alone")
            << with({{"held", 3}, {"paying", 2}, {"paid", 1}}) << "held or paying";
        QTest::addRow("paid lost") << with({{"paid", 1}}) << "paid";
        QTest::addRow("stock raised alone") << with({{"stock", 12}}) << "stock";
        QTest::addRow("a booking, nothing broken")
            << with({{"remaining", 4}, {"in_flight", 1}}) << "";
    }

    void movedTermIsTheUnmatchedChange() {
        QFETCH(QJsonObject, after);
        QFETCH(QString, moved);
        const QJsonObject before{{"stock", 10}, {"remaining", 5}, {"in_flight", 0}, {"held", 2},
                                 {"paying", 1}, {"paid", 2},      {"gap", 0}};
        QCOMPARE(conservation::movedTerm(before, after), moved);
    }
};

QTEST_MAIN(TestConsoleHygiene)
#include "tst_consolehygiene.moc"
