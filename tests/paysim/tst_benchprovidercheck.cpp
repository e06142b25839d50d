// flashsale-bench check's "I5 charged at most once" (backend/flashsale-bench/providerledger.h):
// the verdict on paysim's GET /ledger against the sale's orders, one row per situation a
// rehearsal can end in. Pure: no server (the HTTP read is exercised by deploy/local runs).

#include "providerledger.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

using namespace flashsale::bench;

namespace {

QJsonObject payment(const char *id, qint64 order, const char *status) {
    return {{"id", id},
            {"object", "payment"},
            {"order_id", QString::number(order)},
            {"status", status}};
}

QByteArray ledger(const QJsonArray &entries, const QJsonArray &twice = {}) {
    return QJsonDocument(QJsonObject{{"payments", entries.size()},
                                     {"orders_charged_more_than_once", twice},
                                     {"entries", entries}})
        .toJson(QJsonDocument::Compact);
}

} // namespace

class TestBenchProviderCheck : public QObject {
    Q_OBJECT

private slots:
    void verdict_data() {
        QTest::addColumn<QByteArray>("ledger");
        QTest::addColumn<bool>("pass");
        QTest::addColumn<QString>("evidence"); // a substring of the first evidence line
        // The sale: order 1 paid, order 2 cancelled (declined), order 3 cancelled (expired).
        QTest::addRow("each paid order charged once, the declined one not")
            << ledger({payment("pay_1", 1, "succeeded"), payment("pay_2", 2, "declined")}) << true
            << QString();
        QTest::addRow("a capture of a cancelled order, refunded since")
            << ledger({payment("pay_1", 1, "succeeded"), payment("pay_2", 3, "refunded")}) << true
            << QString();
        QTest::addRow("another sale's order charged twice is not this sale's")
            << ledger({payment("pay_1", 1, "succeeded"), payment("pay_2", 99, "succeeded"),
                       payment("pay_3", 99, "succeeded")},
                      {"99"})
            << true << QString();
        QTest::addRow("an order charged twice")
            << ledger({payment("pay_1", 1, "succeeded"), payment("pay_2", 1, "refunded")}, {"1"})
            << false << QStringLiteral("charged more than once: 1 (order 1)");
        QTest::addRow("a paid order the provider never charged")
            << ledger({payment("pay_2", 2, "declined")}) << false
            << QStringLiteral("paid orders without a succeeded payment");
        QTest::addRow("money kept for a cancelled order")
            << ledger({payment("pay_1", 1, "succeeded"), payment("pay_2", 3, "succeeded")}) << false
            << QStringLiteral("order 3 (cancelled)");
        QTest::addRow("not paysim's ledger") << QByteArray("<html>") << false << QString();
    }
    void verdict() {
        QFETCH(QByteArray, ledger);
        QFETCH(bool, pass);
        QFETCH(QString, evidence);
        PgView pg;
        pg.saleFound = true;
        for (const auto &[id, status] :
             {std::pair<qint64, const char *>{1, "paid"}, {2, "cancelled"}, {3, "cancelled"}}) {
            OrderRecord o;
            o.id = id;
            o.status = status;
            pg.orders << o;
        }
        const CheckResult r = checkProviderCharges(ledger, pg);
        QCOMPARE(r.id, QStringLiteral("I5"));
        QCOMPARE(r.name, QStringLiteral("charged at most once"));
        QCOMPARE(r.pass, pass);
        if (!evidence.isEmpty()) {
            QVERIFY(!r.evidence.isEmpty());
            QVERIFY2(r.evidence.first().contains(evidence), qPrintable(r.evidence.first()));
        }
    }
};

QTEST_GUILESS_MAIN(TestBenchProviderCheck)
#include "tst_benchprovidercheck.moc"
