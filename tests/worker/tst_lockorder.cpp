// The statements that update many orders at once lock them in id order, so two of them never
// deadlock (40P01) over the same orders: the worker's confirmations of earlier batches
// (OrderBatch::persistSql, which finds its orders by reservation id), the payment service's
// payment_started_at (PaymentService::markStartedSql) and flashsale_cancel_pending (the expiry
// sweeper and reconciliation). Each round writes fresh pending orders whose reservation ids
// sort the other way round from their ids, runs the three statements side by side on three
// connections of a real PostgreSQL (a fourth holding one order's lock until two of them wait,
// so that they overlap), and then checks what a buyer would see: every confirmed
// order paying, every expired one cancelled once, its unit given back once.

#include "payment/paymentservice.h"
#include "pg/migrator.h"
#include "pg/pgarray.h"
#include "pg/pgconnection.h"
#include "testservers.h"
#include "worker/orderbatch.h"

#include <QSignalSpy>
#include <QTest>

#include <memory>

using namespace flashsale;
using namespace flashsale::test;

namespace {

constexpr int kOrders = 400;
constexpr int kRounds = 12;

} // namespace

class TestLockOrder : public QObject {
    Q_OBJECT

private:
    PgDatabase m_db;
    std::vector<std::unique_ptr<PgConnection>> m_pg;
    QByteArray m_sale, m_item;

    QByteArray sql(const QByteArray &statement) { return m_db.scalar(statement); }

private slots:
    void initTestCase() {
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        const auto migrated = applyMigrations(m_db.url());
        QVERIFY2(migrated, migrated ? "" : qPrintable(migrated.error().message));
        m_sale = sql("INSERT INTO sales (name, per_user_limit, starts_at, ends_at, hold_seconds, "
                     "admission_rate, admission_burst) VALUES ('lock order', 5, now(), now() + "
                     "interval '1 hour', 600, 0, 1) RETURNING id");
        m_item = sql("INSERT INTO sale_items (sale_id, name, price_cents, stock) VALUES (" + m_sale
                     + ", 'item', 100, 100000) RETURNING id");
        sql("INSERT INTO inventory (item_id, sale_id, stock, sold) VALUES (" + m_item + ", "
            + m_sale + ", 100000, 0)");
        for (int i = 0; i < 4; ++i) {
            m_pg.push_back(std::make_unique<PgConnection>(m_db.url()));
            QSignalSpy up(m_pg.back().get(), &PgConnection::connected);
            m_pg.back()->start();
            QTRY_COMPARE(up.size(), 1);
            // The plan decides the order rows are locked in. This table is small, so the
            // planner would scan it in physical order, which here is id order for every
            // statement; on a large table it goes through an index, as here.
            for (const QByteArray set :
                 {"SET enable_seqscan = off", "SET enable_bitmapscan = off"}) {
                bool ok = false;
                m_pg.back()->query(set, {}, [&ok](const Result<PgResult> &r) { ok = bool(r); });
                QTRY_VERIFY(ok);
            }
        }
    }

    void cleanupTestCase() { m_pg.clear(); }

    void statementsOverTheSameOrdersNeverDeadlock() {
        for (int round = 0; round < kRounds; ++round) {
            // Fresh pending orders, nobody paying yet, each unit counted sold. Their expiries
            // and reservation ids descend as their ids ascend, as for a worker batch that
            // wrote one sale's bookings and then another's accepted earlier: the worker's
            // UPDATE finds its rows through orders_expiring (pending, not paying, by expiry)
            // or the reservation_id index, in the opposite order to the payment service's
            // scan of ids.
            const int base = round * kOrders;
            const QByteArray first = QByteArray::number(base);
            const QByteArray last = QByteArray::number(base + kOrders - 1);
            sql("INSERT INTO orders (reservation_id, sale_id, item_id, user_id, quantity, "
                "amount_cents, status, accepted_at, expires_at) SELECT 'lock-' || "
                "lpad((999999 - g)::text, 6, '0'), "
                + m_sale + ", " + m_item
                + ", 'buyer-' || g, 1, 100, 'pending', now(), now() + interval '10 minutes' - g "
                  "* interval '1 millisecond' "
                  "FROM generate_series("
                + first + ", " + last + ") g ORDER BY g");
            sql("UPDATE inventory SET sold = sold + " + QByteArray::number(kOrders)
                + " WHERE item_id = " + m_item);
            const QByteArray range = "reservation_id BETWEEN 'lock-"
                                     + QByteArray::number(999999 - base - kOrders + 1)
                                     + "' AND 'lock-" + QByteArray::number(999999 - base) + "'";
            const QList<QByteArray> ids =
                sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM orders WHERE " + range)
                    .split(',');
            const QList<QByteArray> rids =
                sql("SELECT string_agg(reservation_id, ',' ORDER BY id) FROM orders WHERE " + range)
                    .split(',');
            QCOMPARE(ids.size(), kOrders);
            // The buyers of the odd ones confirmed: the worker and the payment service both set
            // their payment_started_at. The even ones expired: the sweeper cancels them, in
            // descending order (release.lua keeps a confirmed hold, so the sweeper never
            // cancels an order whose buyer confirmed).
            QList<QByteArray> confirmedIds, confirmedRids, expiredDescending;
            for (qsizetype i = 0; i < ids.size(); ++i) {
                if (i % 2) {
                    confirmedIds << ids[i];
                    confirmedRids << rids[i];
                } else {
                    expiredDescending.prepend(ids[i]);
                }
            }

            // The three at once, the worker's as confirmations of earlier batches. So that they
            // overlap however fast the machine is, a fourth connection holds the middle
            // confirmed order's lock until the worker and the payment service both wait.
            QStringList errors;
            int answered = 0;
            auto done = [&](const Result<PgResult> &r) {
                ++answered;
                if (!r)
                    errors << r.error().message;
            };
            int blocking = 0;
            auto step = [&](const Result<PgResult> &r) {
                QVERIFY2(r, r ? "" : qPrintable(r.error().message));
                ++blocking;
            };
            m_pg[3]->query("BEGIN", {}, step);
            m_pg[3]->query("SELECT id FROM orders WHERE id = $1 FOR UPDATE",
                           {confirmedIds[confirmedIds.size() / 2]}, step);
            QTRY_COMPARE(blocking, 2);
            const QByteArray none = "{}";
            m_pg[0]->query(
                OrderBatch::persistSql(),
                {none, none, none, none, none, none, none, none, none, pgArray(confirmedRids)},
                done);
            m_pg[1]->query(PaymentService::markStartedSql(), {pgArray(confirmedIds)}, done);
            m_pg[2]->query("SELECT count(*) FROM flashsale_cancel_pending($1::bigint[], 'expired')",
                           {pgArray(expiredDescending)}, done);
            QTRY_COMPARE_WITH_TIMEOUT(
                sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")
                    .toInt(),
                2, 10000);
            m_pg[3]->query("COMMIT", {}, step);
            QTRY_COMPARE(blocking, 3);
            QTRY_COMPARE_WITH_TIMEOUT(answered, 3, 30000);
            // A deadlock is "40P01 ERROR: deadlock detected" on one of the three.
            QVERIFY2(errors.isEmpty(), qPrintable(QStringLiteral("round %1: %2")
                                                      .arg(round)
                                                      .arg(errors.join(QLatin1String("; ")))));

            // Each confirmed order paying, each expired one cancelled once with its history
            // row, and sold counting exactly the orders not cancelled.
            const QByteArray where = " WHERE " + range;
            QCOMPARE(sql("SELECT count(*) FROM orders" + where
                         + " AND status = 'pending' AND payment_started_at IS NOT NULL AND id IN ("
                         + confirmedIds.join(',') + ")")
                         .toInt(),
                     kOrders / 2);
            QCOMPARE(sql("SELECT count(*) FROM orders" + where
                         + " AND status = 'cancelled' AND cancel_reason = 'expired' AND "
                           "payment_started_at IS NULL AND id IN ("
                         + expiredDescending.join(',') + ")")
                         .toInt(),
                     kOrders / 2);
            QCOMPARE(sql("SELECT count(*) FROM order_history h JOIN orders o ON o.id = h.order_id "
                         "WHERE h.status = 'cancelled' AND o."
                         + range)
                         .toInt(),
                     kOrders / 2);
            QCOMPARE(
                sql("SELECT sold FROM inventory WHERE item_id = " + m_item).toInt(),
                sql("SELECT count(*) FROM orders WHERE status = 'pending' AND item_id = " + m_item)
                    .toInt());
        }
    }
};

QTEST_GUILESS_MAIN(TestLockOrder)
#include "tst_lockorder.moc"
