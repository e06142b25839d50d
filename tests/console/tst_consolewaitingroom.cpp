// The console's waiting-room panel (issue 16; docs/CONSOLE.md "Waiting room") against the real
// flashsale-server with its own Redis and PostgreSQL: a sale with a waiting room shows its lobby
// and setting; "Pause admission" asks, then pauses (audited under the operator's name) and the
// button turns into "Resume"; the rate control sets admit_per_minute in PostgreSQL; a sale
// without a waiting room shows only that sentence; a viewer's controls stay disabled.

#include "protocol/adminclient.h"
#include "rawhttp.h"
#include "rolegate.h"
#include "testservers.h"
#include "waitingroompanel.h"

#include <QApplication>
#include <QDateTime>
#include <QJsonObject>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>
#include <QTest>

using namespace flashsale;
using namespace flashsale::admin;
using namespace flashsale::console;
using namespace flashsale::test;

namespace {

QString rfc3339(qint64 offsetMs) {
    return QDateTime::currentDateTimeUtc().addMSecs(offsetMs).toString(Qt::ISODateWithMs);
}

QMessageBox *visibleBox(QWidget *root, const QString &name) {
    for (QMessageBox *box : root->findChildren<QMessageBox *>(name))
        if (box->isVisible())
            return box;
    return nullptr;
}

constexpr const char *kMerchPassword = "merch-pass-4d8e2a6f0c";
constexpr const char *kViewerPassword = "viewer-pass-9b1c5e7a3d";

} // namespace

class TestConsoleWaitingRoom : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_backend;
    QUrl m_url;
    QJsonObject m_roomSale;
    QJsonObject m_plainSale;

    std::unique_ptr<AdminClient> login(const char *name, const char *password) {
        auto c = std::make_unique<AdminClient>();
        c->open(m_url, {QString::fromLatin1(name), QString::fromLatin1(password), {}});
        (void)QTest::qWaitFor([&c] { return c->state() == AdminClient::State::Connected; }, 5000);
        return c;
    }

    static AdminClient::Reply call(AdminClient &c, Op op, const QJsonObject &args) {
        std::optional<AdminClient::Reply> reply;
        c.request(op, args, [&reply](const AdminClient::Reply &r) { reply = r; });
        (void)QTest::qWaitFor([&reply] { return reply.has_value(); }, 10000);
        return reply.value_or(AdminClient::Reply{});
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_ROLES", "api"}}),
                 qPrintable(m_backend.error()));
        QTRY_COMPARE_WITH_TIMEOUT(http(m_backend.port(), "GET", "/readyz").status, 200, 10000);
        m_url = QUrl(QStringLiteral("ws://127.0.0.1:%1/admin/v1/ws").arg(m_backend.port()));
        AdminClient boot;
        boot.open(m_url, {{}, {}, QString::fromLatin1(Backend::kAdminToken)});
        QTRY_COMPARE_WITH_TIMEOUT(boot.state(), AdminClient::State::Connected, 5000);
        for (const auto &[name, role, password] :
             {std::tuple{"ops-merch", "merchandiser", kMerchPassword},
              std::tuple{"ops-view", "viewer", kViewerPassword}}) {
            const auto r = call(boot, Op::OperatorCreate,
                                {{"name", name}, {"role", role}, {"password", password}});
            QVERIFY2(r.ok, qPrintable(r.failure.message));
        }
        const QJsonObject base{{"name", "Lobby"},
                               {"starts_at", rfc3339(600000)},
                               {"ends_at", rfc3339(3600000)},
                               {"stock", 5},
                               {"price_cents", 100}};
        QJsonObject room = base;
        room.insert("waiting_room", true);
        room.insert("lobby_opens_at", rfc3339(-1000));
        room.insert("admit_per_minute", 300);
        AdminClient::Reply r = call(boot, Op::SaleCreate, room);
        QVERIFY2(r.ok, qPrintable(r.failure.message));
        m_roomSale = r.result.value("sale").toObject();
        r = call(boot, Op::SaleCreate, base);
        QVERIFY2(r.ok, qPrintable(r.failure.message));
        m_plainSale = r.result.value("sale").toObject();
    }

    void saleWithoutWaitingRoomShowsOnlyThat() {
        auto client = login("ops-merch", kMerchPassword);
        WaitingRoomPanel panel(client.get());
        panel.show();
        panel.setSale(m_plainSale);
        auto *message = panel.findChild<QLabel *>(QStringLiteral("waitingRoomMessage"));
        QVERIFY(message->isVisible());
        QVERIFY2(message->text().contains(QStringLiteral("no waiting room")),
                 qPrintable(message->text()));
        QVERIFY(!panel.field(QStringLiteral("lobby"))->isVisible());
        QVERIFY(!panel.pauseButton()->isEnabled());
    }

    void pauseAndRateAreAudited() {
        auto client = login("ops-merch", kMerchPassword);
        RoleGate gate;
        gate.setLogin(client->operatorName(), client->role(),
                      [&client](Op op) { return client->allows(op); });
        WaitingRoomPanel panel(client.get());
        panel.setGate(&gate);
        panel.resize(900, 400);
        panel.show();
        panel.setSale(m_roomSale);
        QTRY_VERIFY_WITH_TIMEOUT(!panel.view().isEmpty(), 5000);
        QCOMPARE(panel.field(QStringLiteral("lobby"))->text(), QStringLiteral("0"));
        QVERIFY(panel.field(QStringLiteral("admitted_per_minute"))->text().contains("300"));
        QCOMPARE(panel.rateBox()->value(), 300);
        QVERIFY(panel.pauseButton()->isEnabled());

        panel.pauseButton()->click();
        QTRY_VERIFY_WITH_TIMEOUT(visibleBox(&panel, QStringLiteral("confirmBox")), 5000);
        visibleBox(&panel, QStringLiteral("confirmBox"))->button(QMessageBox::Yes)->click();
        QTRY_VERIFY_WITH_TIMEOUT(panel.view().value("paused").toBool(), 5000);
        QVERIFY(panel.pauseButton()->text().contains(QStringLiteral("Resume")));
        QCOMPARE(panel.field(QStringLiteral("state"))->text(), QStringLiteral("PAUSED"));
        const QByteArray saleId = QByteArray::number(m_roomSale.value("id").toInteger());
        QCOMPARE(m_db.scalar("SELECT actor || ' ' || (after->>'paused') FROM audit_log WHERE "
                             "action = 'sale.waiting_room.set' AND sale_id = "
                             + saleId + " ORDER BY id DESC LIMIT 1"),
                 QByteArray("ops-merch true"));
        QTRY_VERIFY_WITH_TIMEOUT(visibleBox(&panel, QStringLiteral("outcomeBox")), 5000);
        visibleBox(&panel, QStringLiteral("outcomeBox"))->close();

        panel.rateBox()->setValue(1500);
        panel.rateButton()->click();
        QTRY_VERIFY_WITH_TIMEOUT(visibleBox(&panel, QStringLiteral("confirmBox")), 5000);
        visibleBox(&panel, QStringLiteral("confirmBox"))->button(QMessageBox::Yes)->click();
        QTRY_COMPARE_WITH_TIMEOUT(panel.view().value("admit_per_minute").toInt(), 1500, 5000);
        QCOMPARE(m_db.scalar("SELECT admit_per_minute FROM sales WHERE id = " + saleId),
                 QByteArray("1500"));
    }

    void viewerMayReadButNotChange() {
        auto client = login("ops-view", kViewerPassword);
        RoleGate gate;
        gate.setLogin(client->operatorName(), client->role(),
                      [&client](Op op) { return client->allows(op); });
        WaitingRoomPanel panel(client.get());
        panel.setGate(&gate);
        panel.show();
        panel.setSale(m_roomSale);
        QTRY_VERIFY_WITH_TIMEOUT(!panel.view().isEmpty(), 5000);
        QVERIFY(!panel.pauseButton()->isEnabled());
        QVERIFY(!panel.rateButton()->isEnabled());
        QVERIFY(panel.pauseButton()->toolTip().contains(QStringLiteral("merchandiser")));
    }
};

QTEST_MAIN(TestConsoleWaitingRoom)
#include "tst_consolewaitingroom.moc"
