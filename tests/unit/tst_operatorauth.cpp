// The pure rules of operator logins: the form of an Authorization header, the per-address
// throttle over an injected clock, the roles' table and the address failures count against.

#include "admin/loginthrottle.h"
#include "admin/operatorauth.h"
#include "admin/passwordhash.h"
#include "protocol/adminprotocol.h"

#include <QTest>

using namespace flashsale;
using namespace flashsale::admin;

class TestOperatorAuth : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void parseAuthorization_data() {
        QTest::addColumn<QByteArray>("header");
        QTest::addColumn<bool>("ok");
        QTest::addColumn<QString>("name"); // Basic, or "bearer:<token>"
        QTest::addColumn<QByteArray>("password");
        const auto basic = [](const QByteArray &userPass) {
            return "Basic " + userPass.toBase64();
        };
        QTest::addRow("operator") << basic("alice:s3cret:with:colons") << true << "alice"
                                  << QByteArray("s3cret:with:colons");
        QTest::addRow("scheme in any case")
            << "bAsIc " + QByteArray("bob:pw").toBase64() << true << "bob" << QByteArray("pw");
        QTest::addRow("bootstrap token") << QByteArray("Bearer abcdef0123456789") << true
                                         << "bearer:abcdef0123456789" << QByteArray();
        QTest::addRow("missing") << QByteArray() << false << "" << QByteArray();
        QTest::addRow("scheme only") << QByteArray("Basic") << false << "" << QByteArray();
        QTest::addRow("other scheme")
            << QByteArray("Digest username=\"alice\"") << false << "" << QByteArray();
        QTest::addRow("not base64") << QByteArray("Basic !!!!") << false << "" << QByteArray();
        QTest::addRow("no colon") << basic("alice") << false << "" << QByteArray();
        QTest::addRow("empty password") << basic("alice:") << false << "" << QByteArray();
        QTest::addRow("upper-case name") << basic("Alice:pw") << false << "" << QByteArray();
        QTest::addRow("name with a space") << basic("al ice:pw") << false << "" << QByteArray();
        QTest::addRow("name of 65 characters")
            << basic(QByteArray(65, 'a') + ":pw") << false << "" << QByteArray();
        QTest::addRow("reserved name") << basic("bootstrap:pw") << false << "" << QByteArray();
        QTest::addRow("password over the limit")
            << basic("alice:" + QByteArray(kMaxPasswordBytes + 1, 'x')) << false << ""
            << QByteArray();
        QTest::addRow("empty bearer") << QByteArray("Bearer ") << false << "" << QByteArray();
    }
    void parseAuthorization() {
        QFETCH(QByteArray, header);
        QFETCH(bool, ok);
        QFETCH(QString, name);
        QFETCH(QByteArray, password);
        const auto c = flashsale::parseAuthorization(header);
        QCOMPARE(bool(c), ok);
        if (!ok) {
            QVERIFY(!c.error().isEmpty());
            return;
        }
        if (name.startsWith(QLatin1String("bearer:"))) {
            QCOMPARE(c->kind, LoginCredential::Kind::Bearer);
            QCOMPARE(c->token, name.mid(7).toUtf8());
            return;
        }
        QCOMPARE(c->kind, LoginCredential::Kind::Basic);
        QCOMPARE(c->name, name);
        QCOMPARE(c->password, password);
    }

    void throttleAfterLimitForAMinute() {
        LoginThrottle t(10);
        const QByteArray a = "192.0.2.1";
        const qint64 t0 = 1'000'000;
        for (int i = 0; i < 9; ++i)
            t.recordFailure(a, t0 + i * 1000);
        QCOMPARE(t.retryAfterSeconds(a, t0 + 9000), 0); // 9 failures: still allowed
        t.recordFailure(a, t0 + 9000);
        // The 10th failure: refused until the first of them is a minute old.
        QCOMPARE(t.retryAfterSeconds(a, t0 + 9000), 51);
        QCOMPARE(t.retryAfterSeconds(a, t0 + 59'999), 1);
        QCOMPARE(t.retryAfterSeconds(a, t0 + 60'000), 0);
        // Other addresses are not affected.
        QCOMPARE(t.retryAfterSeconds("192.0.2.2", t0 + 9000), 0);
        // Failures older than a minute no longer count.
        t.recordFailure(a, t0 + 200'000);
        QCOMPARE(t.retryAfterSeconds(a, t0 + 200'000), 0);
    }

    void throttleMemoryIsBounded() {
        LoginThrottle t(1);
        for (qsizetype i = 0; i <= LoginThrottle::kMaxAddresses; ++i)
            t.recordFailure(QByteArray::number(i), 1000 + i);
        // The oldest address was forgotten to make room; the newest is remembered.
        QCOMPARE(t.retryAfterSeconds("0", 2000), 0);
        QVERIFY(t.retryAfterSeconds(QByteArray::number(LoginThrottle::kMaxAddresses), 2000) > 0);
    }

    void rolesTable() {
        QVERIFY(roleAllows(Role::Viewer, Op::SaleList));
        QVERIFY(roleAllows(Role::Viewer, Op::AuditList));
        QVERIFY(!roleAllows(Role::Viewer, Op::ReconcileRun));
        QVERIFY(!roleAllows(Role::Viewer, Op::SalePause));
        QVERIFY(roleAllows(Role::Merchandiser, Op::SaleAdjust));
        QVERIFY(roleAllows(Role::Merchandiser, Op::ScheduleCancel));
        QVERIFY(!roleAllows(Role::Merchandiser, Op::SaleStop));
        QVERIFY(!roleAllows(Role::Merchandiser, Op::OperatorList));
        for (const QString &op : opNames())
            QVERIFY(roleAllows(Role::Admin, *opFromName(op)));
        QCOMPARE(allowedOpNames(Role::Viewer),
                 (QStringList{"ping", "sale.list", "sale.get", "schedule.list", "stats.subscribe",
                              "stats.unsubscribe", "reconcile.list", "audit.list",
                              // H4 merchant webhooks: viewers see, only admins replay
                              "webhooks.list", "webhooks.deadletters",
                              // H5 provider reconciliation: viewers see the runs
                              "payments.reconcile.runs",
                              // issue 20: stream dead letters, seen by viewers, resolved by
                              // merchandisers (cancel) and admins (replay)
                              "orders.deadletters",
                              // issue 16: the waiting room, read by viewers, steered by
                              // merchandisers
                              "sale.waiting_room.get"}));
        QVERIFY(!roleAllows(Role::Viewer, Op::SaleWaitingRoomSet));
        QVERIFY(roleAllows(Role::Merchandiser, Op::SaleWaitingRoomSet));
        QVERIFY(!roleAllows(Role::Viewer, Op::OrdersDeadLettersCancel));
        QVERIFY(roleAllows(Role::Merchandiser, Op::OrdersDeadLettersCancel));
        QVERIFY(!roleAllows(Role::Merchandiser, Op::OrdersDeadLettersReplay));
        QVERIFY(!roleAllows(Role::Merchandiser, Op::WebhooksReplay));
        QVERIFY(roleAllows(Role::Admin, Op::WebhooksReplay));
        // A repair needs admin even though reconcile.run itself is a merchandiser's.
        const AdminRequest repair{"r1", Op::ReconcileRun, {{"sale_id", 1}, {"repair", true}}};
        const AdminRequest dry{"r2", Op::ReconcileRun, {{"sale_id", 1}}};
        const OperatorIdentity max{"max", Role::Merchandiser};
        QCOMPARE(OperatorAuthenticator::forbidden(max, repair)->code, AdminError::Forbidden);
        QVERIFY(!OperatorAuthenticator::forbidden(max, dry));
        QVERIFY(!OperatorAuthenticator::forbidden({"root", Role::Admin}, repair));
        // The same for the provider's reconciliation (issue 19).
        const AdminRequest payRepair{"r3", Op::PaymentsReconcile, {{"repair", true}}};
        const AdminRequest payDry{"r4", Op::PaymentsReconcile, {}};
        QCOMPARE(OperatorAuthenticator::forbidden(max, payRepair)->code, AdminError::Forbidden);
        QVERIFY(OperatorAuthenticator::forbidden(max, payRepair)->message.contains("with repair"));
        QVERIFY(!OperatorAuthenticator::forbidden(max, payDry));
        QVERIFY(OperatorAuthenticator::forbidden({"vic", Role::Viewer}, payDry));
        QVERIFY(!OperatorAuthenticator::forbidden({"root", Role::Admin}, payRepair));
    }

    void addressBehindATrustedProxy() {
        const QHostAddress nginx("127.0.0.1");
        QCOMPARE(loginAddress(nginx, "203.0.113.9", {"127.0.0.1"}), QByteArray("203.0.113.9"));
        // Only the hop nginx appended counts; what the client wrote before it is ignored.
        QCOMPARE(loginAddress(nginx, "10.0.0.1, 203.0.113.9", {"127.0.0.1"}),
                 QByteArray("203.0.113.9"));
        // From an untrusted peer the header is the client's invention.
        QCOMPARE(loginAddress(QHostAddress("198.51.100.7"), "10.0.0.1", {"127.0.0.1"}),
                 QByteArray("198.51.100.7"));
        QCOMPARE(loginAddress(nginx, "not an address", {"127.0.0.1"}), QByteArray("127.0.0.1"));
    }

    void passwordHashRoundTrip() {
        const auto hash = hashPasswordBlocking("correct horse battery");
        QVERIFY(hash);
        QVERIFY(hash->startsWith("$argon2id$"));
        QVERIFY(!hash->contains("correct horse"));
        QVERIFY(verifyPasswordBlocking(*hash, "correct horse battery"));
        QVERIFY(!verifyPasswordBlocking(*hash, "correct horse batterY"));
        QVERIFY(!verifyPasswordBlocking("not a hash", "correct horse battery"));
        QVERIFY(!verifyPasswordBlocking({}, "correct horse battery")); // no such operator
        // Two hashes of one password differ (a salt each).
        QVERIFY(*hash != *hashPasswordBlocking("correct horse battery"));
        QCOMPARE(randomSecret(24).size(), 32);
        QVERIFY(randomSecret(24) != randomSecret(24));
    }
};

QTEST_GUILESS_MAIN(TestOperatorAuth)
#include "tst_operatorauth.moc"
