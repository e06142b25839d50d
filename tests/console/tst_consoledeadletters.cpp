// The console's Dead letters tab (issue 20) against the real flashsale-server (api and worker
// roles), Redis and PostgreSQL. The dead letters are made by the stream worker itself: a sale
// sold out in PostgreSQL gets more booking entries in its Redis stream (what a Redis that lost
// its writes sells again), the worker cannot write them (inventory_no_oversell) and, their
// patience spent, moves them to fs:{sale:ID}:dead. The tab lists them with buyer, units and
// reason; a viewer cannot act, a merchandiser cancels (and the buyer is notified), an admin
// replays (refused while there is no stock, written once the stock is raised); errors and
// refusals are shown; the list follows the server on its own.

#include "deadletterspanel.h"
#include "mainwindow.h"
#include "protocol/adminclient.h"
#include "rawhttp.h"
#include "rolegate.h"
#include "salesmodel.h"
#include "testservers.h"

#include "booking/salekeys.h"
#include "booking/streamentry.h"

#include <QCheckBox>
#include <QComboBox>
#include <QJsonArray>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QRandomGenerator>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTest>

using namespace flashsale;
using namespace flashsale::admin;
using namespace flashsale::console;
using namespace flashsale::test;

namespace {

struct TestOperator {
    const char *name;
    const char *role;
    const char *password;
};
constexpr TestOperator kAdmin{"dl-admin", "admin", "dl-admin-pass-3e8c1a9f"};
constexpr TestOperator kMerchandiser{"dl-merch", "merchandiser", "dl-merch-pass-7b2d4f6e"};
constexpr TestOperator kViewer{"dl-view", "viewer", "dl-view-pass-5a9c0e2b"};

QMessageBox *visibleBox(QWidget *root, const QString &name) {
    for (QMessageBox *box : root->findChildren<QMessageBox *>(name))
        if (box->isVisible())
            return box;
    return nullptr;
}

void closeBoxes(QWidget *root) {
    for (QMessageBox *box : root->findChildren<QMessageBox *>())
        box->close();
}

QString randomHex32() {
    QString out;
    for (int i = 0; i < 4; ++i)
        out += QStringLiteral("%1").arg(QRandomGenerator::global()->generate(), 8, 16,
                                        QLatin1Char('0'));
    return out;
}

// For a look under Xvfb (QT_QPA_PLATFORM=xcb): holds what is on screen for
// FLASHSALE_TEST_HOLD_PANEL_MS, for `import -window root` from outside.
void holdForALook(const char *what) {
    if (const int holdMs = qEnvironmentVariableIntValue("FLASHSALE_TEST_HOLD_PANEL_MS")) {
        qInfo("holding %s on screen for %d ms", what, holdMs);
        QTest::qWait(holdMs);
    }
}

} // namespace

class TestConsoleDeadLetters : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_backend;
    std::unique_ptr<RedisSync> m_redis;
    std::unique_ptr<AdminClient> m_admin; // bootstrap, for setting up beside the console
    qint64 m_sale = 0;                    // sold out in PostgreSQL
    qint64 m_item = 0;
    qint64 m_otherSale = 0; // no dead letters

    QUrl adminUrl() const {
        return QUrl(QStringLiteral("ws://127.0.0.1:%1/admin/v1/ws").arg(m_backend.port()));
    }

    AdminClient::Reply call(Op op, const QJsonObject &args) {
        std::optional<AdminClient::Reply> reply;
        m_admin->request(op, args, [&reply](const AdminClient::Reply &r) { reply = r; });
        (void)QTest::qWaitFor([&reply] { return reply.has_value(); }, 10000);
        return reply.value_or(AdminClient::Reply{});
    }

    qint64 deadCount(qint64 sale) {
        return m_redis->integer({"XLEN", SaleKeys(sale).deadLetters()});
    }

    // A booking of `user` for `qty` units appended to the sale's stream as book.lua would, first
    // tried a minute ago: the worker cannot write it (the sale is sold out in PostgreSQL) and has
    // waited long enough, so it dead-letters it. Returns the dead letter's entry id.
    QString oversell(const QByteArray &user, int qty) {
        const qint64 before = deadCount(m_sale);
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        OrderRow row;
        row.reservationId = QByteArray::number(m_sale) + '-' + randomHex32().toLatin1();
        row.saleId = m_sale;
        row.itemId = m_item;
        row.userId = user;
        row.quantity = qty;
        row.amountCents = 100LL * qty;
        row.acceptedMs = now - 60000;
        row.expiresMs = now + 600000;
        const StreamEntry entry = StreamEntry::book(row).retried(now - 60000);
        m_redis->command(entry.xadd());
        if (!QTest::qWaitFor([&] { return deadCount(m_sale) > before; }, 15000))
            return {};
        // The dead-letter stream's newest id (RedisSync flattens XREVRANGE's nested reply).
        const QList<QByteArray> info =
            m_redis->command({"XINFO", "STREAM", SaleKeys(m_sale).deadLetters()});
        const qsizetype at = info.indexOf("last-generated-id");
        return at < 0 || at + 1 >= info.size() ? QString() : QString::fromLatin1(info[at + 1]);
    }

    // A console window logged in as `o`, on the Dead letters tab (Ctrl+5), its list loaded.
    std::unique_ptr<MainWindow> loginAs(const TestOperator &o) {
        auto w = std::make_unique<MainWindow>(ConsoleSettings::load(QProcessEnvironment()));
        w->resize(1366, 768);
        w->show();
        w->connectTo(adminUrl(),
                     {QString::fromLatin1(o.name), QString::fromLatin1(o.password), {}});
        if (!QTest::qWaitFor([&] { return w->client()->state() == AdminClient::State::Connected; },
                             10000))
            return nullptr;
        if (!QTest::qWaitFor([&] { return w->salesModel()->rowOf(m_sale) >= 0; }, 5000))
            return nullptr;
        w->activateWindow();
        (void)QTest::qWaitForWindowActive(w.get(), 2000);
        QTest::keyClick(w.get(), Qt::Key_5, Qt::ControlModifier);
        // Under Xvfb without a window manager (a look with FLASHSALE_TEST_HOLD_PANEL_MS) the
        // window may never be active and the shortcut not delivered; the first test asserts it.
        if (w->tabs()->currentWidget() != w->deadLettersPanel())
            w->tabs()->setCurrentWidget(w->deadLettersPanel());
        return w;
    }

    // The row of `entry` in `panel` once listed, or -1.
    static int waitForRow(DeadLettersPanel *panel, qint64 sale, const QString &entry) {
        (void)QTest::qWaitFor([&] { return panel->model()->rowOf(sale, entry) >= 0; }, 10000);
        const int row = panel->model()->rowOf(sale, entry);
        if (row < 0)
            qWarning("entry %s of sale %lld is not listed; the panel says: %s", qPrintable(entry),
                     sale, qPrintable(panel->statusLabel()->text()));
        return row;
    }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("flashsale-test"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_consoledeadletters"));
        QSettings().clear();

        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_STATS_FLUSH_MS", "100"},
                                  {"FLASHSALE_HEARTBEAT_MS", "200"}},
                                 {"--roles", "api,worker"}),
                 qPrintable(m_backend.error()));
        QTRY_COMPARE_WITH_TIMEOUT(http(m_backend.port(), "GET", "/readyz").status, 200, 10000);
        m_redis = std::make_unique<RedisSync>(quint16(QUrl(m_redisServer.url()).port()));

        m_admin = std::make_unique<AdminClient>();
        m_admin->open(adminUrl(), {{}, {}, QString::fromLatin1(Backend::kAdminToken)});
        QTRY_COMPARE_WITH_TIMEOUT(m_admin->state(), AdminClient::State::Connected, 5000);
        for (const TestOperator &o : {kAdmin, kMerchandiser, kViewer}) {
            const auto made = call(Op::OperatorCreate,
                                   {{"name", o.name}, {"role", o.role}, {"password", o.password}});
            QVERIFY2(made.ok, qPrintable(made.failure.message));
        }
        for (const auto &[name, target] :
             {std::pair{"Winter boots drop", &m_sale}, {"Quiet sale", &m_otherSale}}) {
            const auto r = call(Op::SaleCreate, {{"name", name},
                                                 {"starts_at", rfc3339(-1000)},
                                                 {"ends_at", rfc3339(3600000)},
                                                 {"stock", 2},
                                                 {"price_cents", 100}});
            QVERIFY2(r.ok, qPrintable(r.failure.message));
            *target = r.result.value("sale").toObject().value("id").toInteger();
        }
        m_item = m_db.scalar("SELECT min(item_id) FROM inventory WHERE sale_id = "
                             + QByteArray::number(m_sale))
                     .toLongLong();
        QVERIFY(m_item > 0);
        // Two buyers take the whole stock; the worker writes their orders.
        for (const char *user : {"early-1", "early-2"}) {
            const HttpResponse r =
                postJson(m_backend.port(), "/api/v1/sales/" + QByteArray::number(m_sale) + "/book",
                         QJsonObject{{"user_id", QString::fromLatin1(user)}});
            QVERIFY2(r.status == 202, r.body.constData());
        }
        QTRY_COMPARE_WITH_TIMEOUT(
            m_db.scalar("SELECT sold FROM inventory WHERE item_id = " + QByteArray::number(m_item)),
            QByteArray("2"), 10000);
    }

    void cleanupTestCase() { m_admin.reset(); }

    void listShowsTheWorkersDeadLetters() {
        const QString entry = oversell("late-buyer-a", 1);
        QVERIFY2(!entry.isEmpty(), "the worker dead-lettered nothing");
        auto w = loginAs(kMerchandiser);
        QVERIFY(w);
        // Ctrl+5 is the shortcut, like Ctrl+1..4 for the tabs before it.
        w->tabs()->setCurrentIndex(0);
        QTest::keyClick(w.get(), Qt::Key_5, Qt::ControlModifier);
        QCOMPARE(w->tabs()->currentWidget(), w->deadLettersPanel());
        QCOMPARE(w->tabs()->tabText(w->tabs()->currentIndex()), QStringLiteral("Dead &letters"));
        DeadLettersPanel *panel = w->deadLettersPanel();
        const int row = waitForRow(panel, m_sale, entry);
        QVERIFY(row >= 0);
        const auto cell = [&](int column) {
            return panel->model()->index(row, column).data().toString();
        };
        QCOMPARE(cell(DeadLettersModel::Sale),
                 QStringLiteral("%1 \u00b7 Winter boots drop").arg(m_sale));
        QCOMPARE(cell(DeadLettersModel::Entry), entry);
        QCOMPARE(cell(DeadLettersModel::User), QStringLiteral("late-buyer-a"));
        QCOMPARE(cell(DeadLettersModel::Quantity), QStringLiteral("1"));
        QVERIFY2(cell(DeadLettersModel::Reason).contains(QStringLiteral("no stock in PostgreSQL")),
                 qPrintable(cell(DeadLettersModel::Reason)));
        QVERIFY2(cell(DeadLettersModel::Age).endsWith(QStringLiteral(" s")),
                 qPrintable(cell(DeadLettersModel::Age)));
        QCOMPARE(cell(DeadLettersModel::Resolution), QStringLiteral("open"));
        QVERIFY(panel->statusLabel()->text().contains(QStringLiteral("open dead letter")));

        // The filter: the quiet sale has none, "All sales" shows it again.
        panel->setSaleFilter(m_otherSale);
        QTRY_COMPARE_WITH_TIMEOUT(panel->model()->rowCount(), 0, 10000);
        QTRY_COMPARE(panel->statusLabel()->text(), QStringLiteral("No open dead letters."));
        panel->setSaleFilter(0);
        QVERIFY(waitForRow(panel, m_sale, entry) >= 0);

        // Selecting it shows it in full under the list.
        QVERIFY(panel->selectEntry(m_sale, entry));
        QVERIFY(panel->detailLabel()->text().contains(QStringLiteral("late-buyer-a")));
        QVERIFY(panel->detailLabel()->text().contains(entry));
    }

    void aViewerSeesTheButtonsDisabled() {
        const QString entry = oversell("late-buyer-b", 2);
        QVERIFY(!entry.isEmpty());
        auto w = loginAs(kViewer);
        QVERIFY(w);
        DeadLettersPanel *panel = w->deadLettersPanel();
        QVERIFY(waitForRow(panel, m_sale, entry) >= 0);
        QVERIFY(panel->selectEntry(m_sale, entry));
        QVERIFY(!panel->replayButton()->isEnabled());
        QVERIFY(!panel->cancelButton()->isEnabled());
        QVERIFY2(panel->replayButton()->toolTip().contains(QStringLiteral("Needs the admin role")),
                 qPrintable(panel->replayButton()->toolTip()));
        QVERIFY2(panel->cancelButton()->toolTip().contains(
                     QStringLiteral("Needs the merchandiser role")),
                 qPrintable(panel->cancelButton()->toolTip()));
        // Double-clicking does not open the cancel dialog either.
        panel->cancelSelected();
        QVERIFY(!panel->cancelDialog());

        // A merchandiser may cancel but not replay.
        auto m = loginAs(kMerchandiser);
        QVERIFY(m);
        DeadLettersPanel *mp = m->deadLettersPanel();
        QVERIFY(waitForRow(mp, m_sale, entry) >= 0);
        QVERIFY(mp->selectEntry(m_sale, entry));
        QVERIFY(mp->cancelButton()->isEnabled());
        QVERIFY(!mp->replayButton()->isEnabled());
        QVERIFY(mp->replayButton()->toolTip().contains(QStringLiteral("Needs the admin role")));
    }

    void cancelWithNotifyEndsTheEntryResolved() {
        const QString entry = oversell("late-buyer-c", 1);
        QVERIFY(!entry.isEmpty());
        auto w = loginAs(kMerchandiser);
        QVERIFY(w);
        DeadLettersPanel *panel = w->deadLettersPanel();
        QVERIFY(waitForRow(panel, m_sale, entry) >= 0);
        QVERIFY(panel->selectEntry(m_sale, entry));
        panel->cancelButton()->click();
        QTRY_VERIFY(panel->cancelDialog() && panel->cancelDialog()->isVisible());
        CancelDeadLetterDialog *d = panel->cancelDialog();
        const QString text = d->findChild<QLabel *>(QStringLiteral("cancelText"))->text();
        QVERIFY2(text.contains(entry) && text.contains(QStringLiteral("late-buyer-c"))
                     && text.contains(QStringLiteral("Winter boots drop")),
                 qPrintable(text));
        QVERIFY(d->notifyBox()->isChecked()); // notifying is the default
        QVERIFY(d->notifyBox()->text().contains(QStringLiteral("late-buyer-c")));
        QVERIFY(d->keepButton()->isDefault()); // Enter keeps the order
        holdForALook("the cancel dialog");
        d->cancelOrderButton()->click();

        QMessageBox *box = nullptr;
        QTRY_VERIFY_WITH_TIMEOUT((box = visibleBox(w.get(), "outcomeBox")) != nullptr, 10000);
        QCOMPARE(box->icon(), QMessageBox::Information);
        QVERIFY2(box->text().contains(QStringLiteral("buyer notified")), qPrintable(box->text()));
        closeBoxes(w.get());
        // It leaves the open list...
        QTRY_COMPARE_WITH_TIMEOUT(panel->model()->rowOf(m_sale, entry), -1, 10000);
        // ...and shows resolved, with who did it, once "Show resolved" is on.
        panel->showResolvedBox()->setChecked(true);
        const int row = waitForRow(panel, m_sale, entry);
        QVERIFY(row >= 0);
        const QString resolution =
            panel->model()->index(row, DeadLettersModel::Resolution).data().toString();
        QVERIFY2(resolution.startsWith(QStringLiteral("cancelled by dl-merch"))
                     && resolution.contains(QStringLiteral("buyer notified")),
                 qPrintable(resolution));
        QVERIFY(panel->selectEntry(m_sale, entry));
        QVERIFY(!panel->cancelButton()->isEnabled()); // resolved: nothing left to do
        holdForALook("the resolved entry");
        // The order is cancelled in PostgreSQL, with the dead-letter reason.
        QCOMPARE(m_db.scalar("SELECT status FROM orders WHERE user_id = 'late-buyer-c'"),
                 QByteArray("cancelled"));
    }

    void replayAsAdminRefusedThenWritten() {
        const QString entry = oversell("late-buyer-d", 1);
        QVERIFY(!entry.isEmpty());
        auto w = loginAs(kAdmin);
        QVERIFY(w);
        DeadLettersPanel *panel = w->deadLettersPanel();
        QVERIFY(waitForRow(panel, m_sale, entry) >= 0);
        QVERIFY(panel->selectEntry(m_sale, entry));
        QVERIFY(panel->replayButton()->isEnabled());

        // Still sold out: the server refuses, the console says so and the entry stays open.
        panel->replayButton()->click();
        QMessageBox *confirm = nullptr;
        QTRY_VERIFY((confirm = visibleBox(w.get(), "confirmBox")) != nullptr);
        QVERIFY(confirm->text().contains(QStringLiteral("late-buyer-d")));
        confirm->button(QMessageBox::Yes)->click();
        QMessageBox *box = nullptr;
        QTRY_VERIFY_WITH_TIMEOUT((box = visibleBox(w.get(), "outcomeBox")) != nullptr, 10000);
        QCOMPARE(box->icon(), QMessageBox::Warning);
        QVERIFY2(box->text().contains(QStringLiteral("refused")), qPrintable(box->text()));
        QVERIFY2(box->informativeText().contains(QStringLiteral("inventory_no_oversell")),
                 qPrintable(box->informativeText()));
        closeBoxes(w.get());
        QTRY_VERIFY(panel->statusLabel()->text().contains(QStringLiteral("not replayed")));
        QVERIFY(panel->model()->rowOf(m_sale, entry) >= 0);
        QCOMPARE(panel->model()->letter(panel->model()->rowOf(m_sale, entry)).resolved(), false);

        // The fix: one more unit in stock. Now the replay writes the order.
        const auto adjusted = call(Op::SaleAdjust, {{"sale_id", m_sale}, {"delta", 1}});
        QVERIFY2(adjusted.ok, qPrintable(adjusted.failure.message));
        QTRY_VERIFY(panel->selectEntry(m_sale, entry));
        QTRY_VERIFY(panel->replayButton()->isEnabled());
        panel->replayButton()->click();
        QTRY_VERIFY((confirm = visibleBox(w.get(), "confirmBox")) != nullptr);
        confirm->button(QMessageBox::Yes)->click();
        QTRY_VERIFY_WITH_TIMEOUT((box = visibleBox(w.get(), "outcomeBox")) != nullptr, 10000);
        QCOMPARE(box->icon(), QMessageBox::Information);
        QVERIFY2(box->text().contains(QStringLiteral("replayed")), qPrintable(box->text()));
        closeBoxes(w.get());
        QTRY_COMPARE_WITH_TIMEOUT(panel->model()->rowOf(m_sale, entry), -1, 10000);
        QCOMPARE(m_db.scalar("SELECT status FROM orders WHERE user_id = 'late-buyer-d'"),
                 QByteArray("pending"));
    }

    void errorsAreShown() {
        const QString entry = oversell("late-buyer-e", 1);
        QVERIFY(!entry.isEmpty());
        auto w = loginAs(kMerchandiser);
        QVERIFY(w);
        DeadLettersPanel *panel = w->deadLettersPanel();
        panel->setPollInterval(3600000); // the console must not learn it before the click
        QVERIFY(waitForRow(panel, m_sale, entry) >= 0);
        QVERIFY(panel->selectEntry(m_sale, entry));
        // Someone else cancels it meanwhile.
        const auto other = call(Op::OrdersDeadLettersCancel,
                                {{"sale_id", m_sale}, {"entry_id", entry}, {"notify", false}});
        QVERIFY2(other.ok, qPrintable(other.failure.message));
        panel->cancelButton()->click();
        QTRY_VERIFY(panel->cancelDialog() && panel->cancelDialog()->isVisible());
        panel->cancelDialog()->cancelOrderButton()->click();
        QMessageBox *box = nullptr;
        QTRY_VERIFY_WITH_TIMEOUT((box = visibleBox(w.get(), "outcomeBox")) != nullptr, 10000);
        QCOMPARE(box->icon(), QMessageBox::Warning);
        QVERIFY2(box->informativeText().startsWith(QStringLiteral("conflict:"))
                     && box->informativeText().contains(QStringLiteral("already")),
                 qPrintable(box->informativeText()));
        closeBoxes(w.get());
        // The list is reloaded: the entry someone else resolved is gone from the open ones.
        QTRY_COMPARE_WITH_TIMEOUT(panel->model()->rowOf(m_sale, entry), -1, 10000);
        QVERIFY2(panel->statusLabel()->text().contains(
                     entry + QStringLiteral(" not cancelled: conflict")),
                 qPrintable(panel->statusLabel()->text()));
    }

    void theListFollowsTheServerOnItsOwn() {
        auto w = loginAs(kViewer);
        QVERIFY(w);
        DeadLettersPanel *panel = w->deadLettersPanel();
        panel->setPollInterval(300);
        QTRY_VERIFY_WITH_TIMEOUT(panel->model()->rowCount() > 0, 10000);
        const QString entry = oversell("late-buyer-f", 3);
        QVERIFY(!entry.isEmpty());
        // No click: the poll brings it.
        QVERIFY(waitForRow(panel, m_sale, entry) >= 0);
        // And a selection survives the polls.
        QVERIFY(panel->selectEntry(m_sale, entry));
        QSignalSpy loads(panel, &DeadLettersPanel::loaded);
        QTRY_VERIFY_WITH_TIMEOUT(loads.count() >= 2, 5000);
        const QModelIndexList rows = panel->view()->selectionModel()->selectedRows();
        QCOMPARE(rows.size(), 1);
        QCOMPARE(panel->model()->letter(rows.first().row()).entryId, entry);
    }
};

QTEST_MAIN(TestConsoleDeadLetters)
#include "tst_consoledeadletters.moc"
