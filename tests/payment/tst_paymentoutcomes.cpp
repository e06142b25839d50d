// PaymentOutcomes against real PostgreSQL and Redis: every row of the state table in
// shared/payment/paymentoutcomes.h, duplicates and reorderings (failed then succeeded, succeeded
// twice under two event ids, refunded before succeeded, the webhook before the API answer), each
// judged by what a buyer or the shop sees: the payment's and the order's status, the events in
// the outbox (order.paid / order.cancelled, at most one each), the units back on sale in Redis
// and in inventory, exactly once. And the payment service's refund sweep: money owed back is
// refunded once per order (the simulator's ledger), under the key refund-order-<id>.

#include "booking/salekeys.h"
#include "kafka/kafkaclient.h"
#include "payment/paymentgateway.h"
#include "payment/paymentoutcomes.h"
#include "payment/paymentservice.h"
#include "pg/migrator.h"
#include "pg/pgconnection.h"
#include "pg/pgpool.h"
#include "redis/redisclient.h"
#include "testservers.h"

#include <QSignalSpy>
#include <QTest>

#include <optional>

using namespace flashsale;
using namespace flashsale::test;

namespace {

const char *resultName(const Result<OutcomeApplied> &r) {
    return r ? outcomeAppliedName(*r) : "error";
}

// "failed:evt_1" (a webhook), "succeeded" (the charge call's answer), "refunded:evt_9".
ProviderOutcome parseOutcome(qint64 orderId, const QString &spec) {
    const QStringList parts = spec.split(QLatin1Char(':'));
    ProviderOutcome o;
    o.orderId = orderId;
    const QString kind = parts.value(0);
    o.kind = kind == QLatin1String("succeeded") ? ProviderOutcome::Kind::Succeeded
             : kind == QLatin1String("failed")  ? ProviderOutcome::Kind::Failed
                                                : ProviderOutcome::Kind::Refunded;
    o.providerRef = "pay_" + QByteArray::number(orderId);
    if (o.kind == ProviderOutcome::Kind::Failed)
        o.reason = QStringLiteral("card declined");
    if (parts.size() > 1) {
        // Event ids are unique per provider, so per test database: prefix the order id.
        o.eventId = QByteArray::number(orderId) + '-' + parts[1].toUtf8();
        o.source = "webhook";
    } else {
        o.source = "api";
    }
    return o;
}

} // namespace

class TestPaymentOutcomes : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    std::unique_ptr<RedisSync> m_redis;
    std::unique_ptr<RedisClient> m_redisClient;
    std::unique_ptr<PgConnection> m_pg;
    std::unique_ptr<PaymentOutcomes> m_outcomes;
    int m_next = 0;

    struct Order {
        qint64 sale = 0, item = 0, id = 0;
        QByteArray rid, user;
    };

    QByteArray sql(const QByteArray &statement) { return m_db.scalar(statement); }

    // A sale of one item (10 units, one of them held by this order), and a pending order whose
    // buyer confirmed (payment under way), as the stream worker and purchase.lua leave it; its
    // payments row in `paymentStatus` (none when empty). `orderState` "pending" or "expired"
    // (cancelled by the expiry sweeper, its unit back already).
    Order makeOrder(const QByteArray &paymentStatus, const QByteArray &orderState = "pending") {
        Order o;
        const QByteArray n = QByteArray::number(++m_next);
        o.sale = sql("INSERT INTO sales (name, per_user_limit, starts_at, ends_at, hold_seconds, "
                     "admission_rate, admission_burst) VALUES ('outcomes', 5, now(), now() + "
                     "interval '1 hour', 600, 0, 1) RETURNING id")
                     .toLongLong();
        o.item = sql("INSERT INTO sale_items (sale_id, name, price_cents, stock) VALUES ("
                     + QByteArray::number(o.sale) + ", 'item', 300, 10) RETURNING id")
                     .toLongLong();
        const bool expired = orderState == "expired";
        sql("INSERT INTO inventory (item_id, sale_id, stock, sold) VALUES ("
            + QByteArray::number(o.item) + ", " + QByteArray::number(o.sale) + ", 10, "
            + (expired ? "0" : "1") + ")");
        o.rid = "r-outcomes-" + n;
        o.user = "buyer-" + n;
        o.id = sql("INSERT INTO orders (reservation_id, sale_id, item_id, user_id, quantity, "
                   "amount_cents, status, cancel_reason, accepted_at, expires_at, "
                   "payment_started_at) VALUES ('"
                   + o.rid + "', " + QByteArray::number(o.sale) + ", " + QByteArray::number(o.item)
                   + ", '" + o.user + "', 1, 300, "
                   + (expired ? "'cancelled', 'expired'" : "'pending', NULL")
                   + ", now(), now() + interval '10 minutes', now()) RETURNING id")
                   .toLongLong();
        if (!paymentStatus.isEmpty())
            sql("INSERT INTO payments (order_id, status, amount_cents, provider) VALUES ("
                + QByteArray::number(o.id) + ", '" + paymentStatus + "', 300, 'simulator')");
        const SaleKeys k(o.sale);
        const QByteArray item = QByteArray::number(o.item);
        m_redis->command({"HSET", k.stock(), item, expired ? "10" : "9"});
        m_redis->command({"HSET", k.meta(), "units_returned_cancel", "0"});
        if (!expired)
            m_redis->command({"HSET", k.users(), o.user, "1"});
        m_redis->command({"HSET", k.reservation(o.rid), "status",
                          expired ? "cancelled" : "confirmed", "user", o.user, "item", item});
        if (expired)
            m_redis->command({"SADD", k.released(), o.rid});
        return o;
    }

    QByteArray paymentStatus(qint64 order) {
        return sql("SELECT status FROM payments WHERE order_id = " + QByteArray::number(order));
    }
    QByteArray orderStatus(qint64 order) {
        return sql("SELECT status || coalesce('/' || cancel_reason, '') FROM orders WHERE id = "
                   + QByteArray::number(order));
    }
    int outbox(qint64 order, const QByteArray &topic) {
        return sql("SELECT count(*) FROM outbox WHERE topic = '" + topic
                   + "' AND (payload->>'order_id')::bigint = " + QByteArray::number(order))
            .toInt();
    }
    int history(qint64 order) {
        return sql("SELECT count(*) FROM order_history WHERE order_id = "
                   + QByteArray::number(order))
            .toInt();
    }

    // Applies each outcome after the previous one answered; their results, by name.
    QStringList applyInTurn(PaymentOutcomes &outcomes, const QList<ProviderOutcome> &list) {
        QStringList results;
        for (const ProviderOutcome &o : list) {
            std::optional<Result<OutcomeApplied>> got;
            outcomes.apply(o, [&got](const Result<OutcomeApplied> &r) { got = r; });
            if (!QTest::qWaitFor([&] { return got.has_value(); }, 10000)) {
                results << QStringLiteral("timeout");
                break;
            }
            if (!*got)
                qWarning() << "apply failed:" << got->error().message;
            results << QString::fromLatin1(resultName(*got));
        }
        return results;
    }

    // Applies all outcomes at once (same turn of the event loop); their results, in order.
    QStringList applyTogether(const QList<std::pair<PaymentOutcomes *, ProviderOutcome>> &list) {
        QList<std::optional<Result<OutcomeApplied>>> got(list.size());
        for (qsizetype i = 0; i < list.size(); ++i)
            list[i].first->apply(list[i].second,
                                 [&got, i](const Result<OutcomeApplied> &r) { got[i] = r; });
        (void)QTest::qWaitFor(
            [&] {
                return std::all_of(got.begin(), got.end(), [](auto &g) { return g.has_value(); });
            },
            10000);
        QStringList results;
        for (auto &g : got)
            results << (g ? QString::fromLatin1(resultName(*g)) : QStringLiteral("timeout"));
        return results;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        const auto migrated = applyMigrations(m_db.url());
        QVERIFY2(migrated, migrated ? "" : qPrintable(migrated.error().message));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        m_redisClient = std::make_unique<RedisClient>(
            *RedisClient::Endpoint::fromUrl(m_redisServer.url()), std::chrono::milliseconds(2000));
        m_pg = std::make_unique<PgConnection>(m_db.url());
        QSignalSpy redisUp(m_redisClient.get(), &RedisClient::connected);
        QSignalSpy pgUp(m_pg.get(), &PgConnection::connected);
        m_redisClient->start();
        m_pg->start();
        QTRY_COMPARE(redisUp.size(), 1);
        QTRY_COMPARE(pgUp.size(), 1);
        m_outcomes = std::make_unique<PaymentOutcomes>(*m_pg, *m_redisClient);
    }

    void cleanupTestCase() {
        m_outcomes.reset();
        m_pg.reset();
        m_redisClient.reset();
    }

    // One order, outcomes applied one after the other (each after the previous answered).
    void outcomesInTurn_data() {
        QTest::addColumn<QByteArray>("payment");    // the payments row before ("" none)
        QTest::addColumn<QByteArray>("orderState"); // pending | expired
        QTest::addColumn<QString>("outcomes");
        QTest::addColumn<QString>("results");
        QTest::addColumn<QByteArray>("finalPayment");
        QTest::addColumn<QByteArray>("finalOrder");
        QTest::addColumn<int>("paidEvents");
        QTest::addColumn<int>("cancelledEvents");
        QTest::addColumn<bool>("unitBack"); // released by this test (Redis and inventory)
        QTest::addColumn<int>("eventsRecorded");

        // The state table, row by row.
        QTest::addRow("charging + succeeded: paid")
            << QByteArray("charging") << QByteArray("pending") << "succeeded"
            << "applied" << QByteArray("captured") << QByteArray("paid") << 1 << 0 << false << 0;
        QTest::addRow("charging + succeeded on an expired order: refund due")
            << QByteArray("charging") << QByteArray("expired") << "succeeded:evt_1"
            << "refund_queued" << QByteArray("refund_due") << QByteArray("cancelled/expired") << 0
            << 0 << false << 1;
        QTest::addRow("charging + failed: declined, units back")
            << QByteArray("charging") << QByteArray("pending") << "failed"
            << "applied" << QByteArray("declined") << QByteArray("cancelled/declined") << 0 << 1
            << true << 0;
        QTest::addRow("charging + refunded: refunded, order cancelled, units back")
            << QByteArray("charging") << QByteArray("pending") << "refunded:evt_1"
            << "applied" << QByteArray("refunded") << QByteArray("cancelled/declined") << 0 << 1
            << true << 1;
        QTest::addRow("declined + succeeded (failed then succeeded): refund due")
            << QByteArray("charging") << QByteArray("pending") << "failed:evt_1 succeeded:evt_2"
            << "applied refund_queued" << QByteArray("refund_due")
            << QByteArray("cancelled/declined") << 0 << 1 << true << 2;
        QTest::addRow("void + succeeded: refund due")
            << QByteArray("void") << QByteArray("expired") << "succeeded:evt_1"
            << "refund_queued" << QByteArray("refund_due") << QByteArray("cancelled/expired") << 0
            << 0 << false << 1;
        QTest::addRow("void + refunded: refunded")
            << QByteArray("void") << QByteArray("expired") << "refunded:evt_1"
            << "applied" << QByteArray("refunded") << QByteArray("cancelled/expired") << 0 << 0
            << false << 1;
        QTest::addRow("declined + refunded: refunded")
            << QByteArray("charging") << QByteArray("pending") << "failed refunded:evt_1"
            << "applied applied" << QByteArray("refunded") << QByteArray("cancelled/declined") << 0
            << 1 << true << 1;
        QTest::addRow("captured + failed (succeeded then failed): ignored")
            << QByteArray("charging") << QByteArray("pending") << "succeeded:evt_1 failed:evt_2"
            << "applied ignored" << QByteArray("captured") << QByteArray("paid") << 1 << 0 << false
            << 2;
        QTest::addRow("captured + refunded: refunded, order stays paid")
            << QByteArray("charging") << QByteArray("pending") << "succeeded refunded:evt_1"
            << "applied applied" << QByteArray("refunded") << QByteArray("paid") << 1 << 0 << false
            << 1;
        QTest::addRow("refund_due + refunded: refunded")
            << QByteArray("charging") << QByteArray("pending")
            << "failed succeeded:evt_1 refunded:evt_2"
            << "applied refund_queued applied" << QByteArray("refunded")
            << QByteArray("cancelled/declined") << 0 << 1 << true << 2;
        QTest::addRow("refund_due + failed: ignored")
            << QByteArray("charging") << QByteArray("expired") << "succeeded failed:evt_1"
            << "refund_queued ignored" << QByteArray("refund_due")
            << QByteArray("cancelled/expired") << 0 << 0 << false << 1;
        QTest::addRow("refund_due + succeeded again: duplicate")
            << QByteArray("charging") << QByteArray("expired") << "succeeded succeeded:evt_1"
            << "refund_queued duplicate" << QByteArray("refund_due")
            << QByteArray("cancelled/expired") << 0 << 0 << false << 1;
        QTest::addRow("refunded + failed, + refunded again: ignored, duplicate")
            << QByteArray("charging") << QByteArray("pending")
            << "succeeded refunded:evt_1 failed:evt_2 refunded:evt_3"
            << "applied applied ignored duplicate" << QByteArray("refunded") << QByteArray("paid")
            << 1 << 0 << false << 3;
        QTest::addRow("no payments row: unknown order, event not recorded")
            << QByteArray() << QByteArray("pending") << "succeeded:evt_1"
            << "unknown_order" << QByteArray() << QByteArray("pending") << 0 << 0 << false << 0;

        // Duplicates and reorderings.
        QTest::addRow("the same webhook event twice: duplicate, units back once")
            << QByteArray("charging") << QByteArray("pending") << "failed:evt_1 failed:evt_1"
            << "applied duplicate" << QByteArray("declined") << QByteArray("cancelled/declined")
            << 0 << 1 << true << 1;
        QTest::addRow("succeeded twice under two event ids: paid once")
            << QByteArray("charging") << QByteArray("pending") << "succeeded:evt_1 succeeded:evt_2"
            << "applied duplicate" << QByteArray("captured") << QByteArray("paid") << 1 << 0
            << false << 2;
        QTest::addRow("webhook before the API answer: paid once")
            << QByteArray("charging") << QByteArray("pending") << "succeeded:evt_1 succeeded"
            << "applied duplicate" << QByteArray("captured") << QByteArray("paid") << 1 << 0
            << false << 1;
        QTest::addRow("failed webhook before the API answer: declined once")
            << QByteArray("charging") << QByteArray("pending") << "failed:evt_1 failed"
            << "applied duplicate" << QByteArray("declined") << QByteArray("cancelled/declined")
            << 0 << 1 << true << 1;
        QTest::addRow("refunded before a late succeeded: refunded stays")
            << QByteArray("charging") << QByteArray("expired")
            << "succeeded refunded:evt_2 succeeded:evt_1"
            << "refund_queued applied duplicate" << QByteArray("refunded")
            << QByteArray("cancelled/expired") << 0 << 0 << false << 2;
        QTest::addRow("refunded before succeeded on a charging payment: refunded stays")
            << QByteArray("charging") << QByteArray("pending") << "refunded:evt_2 succeeded:evt_1"
            << "applied duplicate" << QByteArray("refunded") << QByteArray("cancelled/declined")
            << 0 << 1 << true << 2;
    }

    void outcomesInTurn() {
        QFETCH(QByteArray, payment);
        QFETCH(QByteArray, orderState);
        QFETCH(QString, outcomes);
        QFETCH(QString, results);
        QFETCH(QByteArray, finalPayment);
        QFETCH(QByteArray, finalOrder);
        QFETCH(int, paidEvents);
        QFETCH(int, cancelledEvents);
        QFETCH(bool, unitBack);
        QFETCH(int, eventsRecorded);

        const Order o = makeOrder(payment, orderState);
        const SaleKeys k(o.sale);
        const qint64 stockBefore =
            m_redis->integer({"HGET", k.stock(), QByteArray::number(o.item)});
        const int soldBefore =
            sql("SELECT sold FROM inventory WHERE item_id = " + QByteArray::number(o.item)).toInt();
        QList<ProviderOutcome> list;
        for (const QString &spec : outcomes.split(QLatin1Char(' ')))
            list << parseOutcome(o.id, spec);

        QCOMPARE(applyInTurn(*m_outcomes, list).join(QLatin1Char(' ')), results);

        QCOMPARE(paymentStatus(o.id), finalPayment);
        QCOMPARE(orderStatus(o.id), finalOrder);
        QCOMPARE(outbox(o.id, "order.paid"), paidEvents);
        QCOMPARE(outbox(o.id, "order.cancelled"), cancelledEvents);
        QCOMPARE(history(o.id), paidEvents + cancelledEvents);
        const int back = unitBack ? 1 : 0;
        QCOMPARE(m_redis->integer({"HGET", k.stock(), QByteArray::number(o.item)}),
                 stockBefore + back);
        QCOMPARE(
            sql("SELECT sold FROM inventory WHERE item_id = " + QByteArray::number(o.item)).toInt(),
            soldBefore - back);
        QCOMPARE(m_redis->integer({"HGET", k.meta(), "units_returned_cancel"}), qint64(back));
        if (unitBack) {
            QCOMPARE(m_redis->integer({"SISMEMBER", k.released(), o.rid}), 1);
            QCOMPARE(m_redis->one({"HGET", k.reservation(o.rid), "status"}),
                     QByteArray("cancelled"));
            QCOMPARE(m_redis->one({"HGET", k.users(), o.user}), QByteArray());
        }
        QCOMPARE(
            sql("SELECT count(*) FROM payment_events WHERE order_id = " + QByteArray::number(o.id))
                .toInt(),
            eventsRecorded);
        if (!finalPayment.isEmpty() && finalPayment != payment)
            QVERIFY(!sql("SELECT source FROM payments WHERE order_id = " + QByteArray::number(o.id))
                         .isEmpty());
    }

    // Outcomes for one order sent without waiting, from two PaymentOutcomes on two connections
    // (as the payment service's answer and the API process's webhook race): each order still
    // ends once, whichever statement wins.
    void racingOutcomesEndTheOrderOnce_data() {
        QTest::addColumn<QString>("first");
        QTest::addColumn<QString>("second");
        QTest::addColumn<QStringList>("allowedResults"); // "first second", sorted out by arrival
        QTest::addColumn<QByteArray>("finalPayment");
        QTest::addColumn<int>("paidEvents");
        QTest::addColumn<int>("cancelledEvents");

        QTest::addRow("the same event twice at once")
            << "succeeded:evt_1"
            << "succeeded:evt_1" << QStringList{"applied duplicate", "duplicate applied"}
            << QByteArray("captured") << 1 << 0;
        QTest::addRow("API answer and webhook at once")
            << "succeeded"
            << "succeeded:evt_1" << QStringList{"applied duplicate", "duplicate applied"}
            << QByteArray("captured") << 1 << 0;
        QTest::addRow("failed and succeeded at once")
            << "failed:evt_1"
            << "succeeded:evt_2" << QStringList{"applied refund_queued", "ignored applied"}
            << QByteArray() << -1 << -1;
    }

    void racingOutcomesEndTheOrderOnce() {
        QFETCH(QString, first);
        QFETCH(QString, second);
        QFETCH(QStringList, allowedResults);
        QFETCH(QByteArray, finalPayment);
        QFETCH(int, paidEvents);
        QFETCH(int, cancelledEvents);

        PgConnection other(m_db.url());
        QSignalSpy up(&other, &PgConnection::connected);
        other.start();
        QTRY_COMPARE(up.size(), 1);
        PaymentOutcomes otherOutcomes(other, *m_redisClient);

        for (int round = 0; round < 10; ++round) {
            const Order o = makeOrder("charging");
            const QString results = applyTogether({{m_outcomes.get(), parseOutcome(o.id, first)},
                                                   {&otherOutcomes, parseOutcome(o.id, second)}})
                                        .join(QLatin1Char(' '));
            QVERIFY2(allowedResults.contains(results), qPrintable(results));
            const QByteArray pay = paymentStatus(o.id);
            if (!finalPayment.isEmpty())
                QCOMPARE(pay, finalPayment);
            const int paid = outbox(o.id, "order.paid");
            const int cancelled = outbox(o.id, "order.cancelled");
            if (paidEvents >= 0) {
                QCOMPARE(paid, paidEvents);
                QCOMPARE(cancelled, cancelledEvents);
            } else {
                // Whichever came first decided the order; it ended once either way: paid (the
                // failure then ignored) or declined with the capture owed back.
                QVERIFY2((pay == "captured" && paid == 1 && cancelled == 0)
                             || (pay == "refund_due" && paid == 0 && cancelled == 1),
                         pay.constData());
            }
            QCOMPARE(history(o.id), paid + cancelled);
        }
    }

    // Many orders' outcomes in one turn of the event loop go out as one statement, each order
    // ending as its own outcome says.
    void aBatchEndsEachOrderByItsOwnOutcome() {
        PgPool pool(m_db.url(), 2);
        QSignalSpy up(&pool.connection(1), &PgConnection::connected);
        pool.start();
        QTRY_COMPARE(up.size(), 1);
        QTRY_VERIFY(pool.connection(0).isReady());
        PaymentOutcomes batched(pool, *m_redisClient);
        batched.setBatching(64, 5);

        QList<Order> orders;
        QList<std::pair<PaymentOutcomes *, ProviderOutcome>> list;
        for (int i = 0; i < 40; ++i) {
            orders << makeOrder("charging");
            list << std::pair{
                &batched, parseOutcome(orders.last().id, i % 4 == 3 ? QStringLiteral("failed")
                                                                    : QStringLiteral("succeeded"))};
        }
        const QStringList results = applyTogether(list);
        QCOMPARE(results.count(QStringLiteral("applied")), 40);
        for (int i = 0; i < 40; ++i) {
            const Order &o = orders[i];
            const bool declined = i % 4 == 3;
            QCOMPARE(paymentStatus(o.id), declined ? QByteArray("declined") : "captured");
            QCOMPARE(orderStatus(o.id), declined ? QByteArray("cancelled/declined") : "paid");
            QCOMPARE(outbox(o.id, declined ? "order.cancelled" : "order.paid"), 1);
            QCOMPARE(
                m_redis->integer({"HGET", SaleKeys(o.sale).stock(), QByteArray::number(o.item)}),
                declined ? 10 : 9);
        }
    }
    // Payments left 'refund_due' (money captured for orders that expired meanwhile) are refunded
    // by the payment service's sweep, once each, and end 'refunded'; a sweep that repeats a
    // refund (its recording was lost) refunds nothing more: the key is the same.
    void refundSweepGivesTheMoneyBackOnce() {
        auto kafka = KafkaMockCluster::create(1, topics::orderLifecycle(), 1);
        QVERIFY2(kafka, qPrintable(kafka ? QString() : kafka.error().message));
        std::unique_ptr<KafkaMockCluster> cluster(*kafka);

        QList<Order> owed;
        for (int i = 0; i < 3; ++i) {
            owed << makeOrder("charging", "expired");
            QCOMPARE(applyInTurn(*m_outcomes, {parseOutcome(owed.last().id, "succeeded")}),
                     QStringList{"refund_queued"});
        }
        auto gateway = std::make_unique<SimulatorGateway>(*m_redisClient, 0, 0, false);
        PaymentService service(
            cluster->bootstraps(),
            RedisTarget{*RedisClient::Endpoint::fromUrl(m_redisServer.url()), {}}, m_db.url(),
            std::move(gateway));
        PaymentOptions options;
        options.refundSweepMs = 200;
        service.setOptions(options);
        QVERIFY(service.start());

        for (const Order &o : owed) {
            QTRY_COMPARE_WITH_TIMEOUT(paymentStatus(o.id), QByteArray("refunded"), 15000);
            QCOMPARE(m_redis->one({"HGET", "fs:paysim:refunded", QByteArray::number(o.id)}),
                     QByteArray("1"));
            QCOMPARE(
                m_redis->one({"GET", "fs:paysim:refund:refund-order-" + QByteArray::number(o.id)}),
                "pay_" + QByteArray::number(o.id));
            QCOMPARE(orderStatus(o.id), QByteArray("cancelled/expired"));
            QCOMPARE(outbox(o.id, "order.paid") + outbox(o.id, "order.cancelled"), 0);
        }

        // The refund was made but its recording lost: the next sweep asks again, under the same
        // key, and the provider refunds nothing more.
        const Order &again = owed.first();
        sql("UPDATE payments SET status = 'refund_due' WHERE order_id = "
            + QByteArray::number(again.id));
        QTRY_COMPARE_WITH_TIMEOUT(paymentStatus(again.id), QByteArray("refunded"), 15000);
        QCOMPARE(m_redis->one({"HGET", "fs:paysim:refunded", QByteArray::number(again.id)}),
                 QByteArray("1"));
    }
};

QTEST_GUILESS_MAIN(TestPaymentOutcomes)
#include "tst_paymentoutcomes.moc"
