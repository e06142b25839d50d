// Issue 20 against real Redis and PostgreSQL: no order pending forever after a Redis data loss,
// and the order streams' dead letters resolved by operators rather than re-reported.
//
// One server process runs the API and the worker (with its expiry sweeper); the Reconciler runs
// in this process on its own connections; the admin operations go over the admin WebSocket as
// an admin, a merchandiser and a viewer. A data loss is made the way an everysec power loss
// leaves Redis: the booking's reservation hash, its index entry and its counters are gone while
// PostgreSQL still has its order.

#include "booking/salekeys.h"
#include "pg/pgconnection.h"
#include "protocol/adminclient.h"
#include "rawhttp.h"
#include "reconcile/reconciler.h"
#include "redis/redisclient.h"
#include "redis/redisscript.h"
#include "testservers.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;
using admin::AdminClient;
using admin::AdminError;
using admin::Op;

class TstDeadLetters : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    Backend m_server;
    std::unique_ptr<RedisSync> m_redis;
    std::unique_ptr<PgConnection> m_pg;
    std::unique_ptr<RedisClient> m_client;
    std::unique_ptr<Reconciler> m_reconciler;
    std::unique_ptr<AdminClient> m_admin;  // alice, admin
    std::unique_ptr<AdminClient> m_merch;  // bob, merchandiser
    std::unique_ptr<AdminClient> m_viewer; // vic, viewer

    QUrl adminUrl() const {
        return QUrl(QStringLiteral("ws://127.0.0.1:%1/admin/v1/ws").arg(m_server.port()));
    }

    AdminClient::Reply call(AdminClient &c, Op op, const QJsonObject &args) {
        std::optional<AdminClient::Reply> reply;
        c.request(op, args, [&reply](const AdminClient::Reply &r) { reply = r; });
        (void)QTest::qWaitFor([&reply] { return reply.has_value(); }, 15000);
        if (!reply)
            qWarning() << "no answer to" << opName(op);
        return reply.value_or(AdminClient::Reply{});
    }

    std::unique_ptr<AdminClient> login(const QString &name, const QString &password) {
        auto c = std::make_unique<AdminClient>();
        c->open(adminUrl(), {name, password, {}});
        (void)QTest::qWaitFor([&c] { return c->state() == AdminClient::State::Connected; }, 5000);
        return c;
    }

    qint64 createSale(int stock) {
        return createOpenSale(m_server.port(), {QStringLiteral("Issue 20"), stock, 5, 300, 600});
    }

    QByteArray book(qint64 sale, const QByteArray &user) {
        const HttpResponse r =
            http(m_server.port(), "POST", "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                 "{\"user_id\":\"" + user + "\",\"quantity\":1}");
        if (r.status != 202)
            return {};
        return r.json().value(QStringLiteral("reservation_id")).toString().toUtf8();
    }

    QByteArray sql(const QByteArray &statement) { return m_db.scalar(statement); }
    int count(const QByteArray &statement) { return sql(statement).toInt(); }
    QByteArray status(const QByteArray &rid) {
        return sql("SELECT status || coalesce('/' || cancel_reason, '') FROM orders WHERE "
                   "reservation_id = '"
                   + rid + "'");
    }
    int orders(qint64 sale) {
        return count("SELECT count(*) FROM orders WHERE sale_id = " + QByteArray::number(sale));
    }
    QByteArray itemOf(qint64 sale) {
        return m_redis->command({"HKEYS", SaleKeys(sale).stock()}).value(0);
    }
    qint64 remaining(qint64 sale) {
        return m_redis->integer({"HGET", SaleKeys(sale).stock(), itemOf(sale)});
    }
    int sold(qint64 sale) {
        return count("SELECT sum(sold) FROM inventory WHERE sale_id = " + QByteArray::number(sale));
    }

    // What an everysec power loss leaves of a booking Redis accepted and the worker persisted:
    // nothing. The hash, its index entry, its stream entry and its share of the counters.
    void loseInRedis(qint64 sale, const QByteArray &rid, const QByteArray &user) {
        const SaleKeys k(sale);
        m_redis->command({"DEL", k.reservation(rid)});
        m_redis->command({"SREM", k.reservations(), rid});
        m_redis->command({"XTRIM", k.stream(), "MAXLEN", "0"});
        m_redis->command({"HINCRBY", k.stock(), itemOf(sale), "1"});
        m_redis->command({"HINCRBY", k.users(), user, "-1"});
    }

    Result<QJsonObject> reconcile(qint64 sale, bool repair) {
        std::optional<Result<QJsonObject>> result;
        m_reconciler->run(sale,
                          Reconciler::Options{repair, "tester", Reconciler::Trigger::Operator},
                          [&result](const Result<QJsonObject> &r) { result = r; });
        (void)QTest::qWaitFor([&result] { return result.has_value(); }, 30000);
        if (!result)
            return fail(ErrorCode::Timeout, QStringLiteral("no answer within 30 s"));
        return *result;
    }
    static QJsonObject saleRow(const QJsonObject &report, const QString &check) {
        const QString subject =
            QStringLiteral("sale %1").arg(report.value(QStringLiteral("sale_id")).toInteger());
        for (const QJsonValue &v : report.value(QStringLiteral("checks")).toArray())
            if (v.toObject().value("check").toString() == check
                && v.toObject().value("subject").toString() == subject)
                return v.toObject();
        return {};
    }
    static QByteArray dump(const QJsonObject &o) { return QJsonDocument(o).toJson(); }

    QJsonArray deadLetters(AdminClient &c, qint64 sale, bool all = false) {
        const auto r =
            call(c, Op::OrdersDeadLetters, {{"sale_id", sale}, {"include_resolved", all}});
        if (!r.ok)
            qWarning() << "orders.deadletters failed:" << r.failure.message;
        return r.result.value("deadletters").toArray();
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_server.start({{"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                 {"FLASHSALE_PG_URL", m_db.url()},
                                 {"FLASHSALE_WORKER_BLOCK_MS", "100"},
                                 {"FLASHSALE_EXPIRY_INTERVAL_MS", "100"}},
                                {"--roles", "api,worker"}),
                 qPrintable(m_server.error()));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        QTRY_COMPARE_WITH_TIMEOUT(http(m_server.port(), "GET", "/readyz").status, 200, 10000);

        m_pg = std::make_unique<PgConnection>(m_db.url());
        m_client = std::make_unique<RedisClient>(
            *RedisClient::Endpoint::fromUrl(m_redisServer.url()), std::chrono::seconds(5));
        QSignalSpy pgUp(m_pg.get(), &PgConnection::connected);
        QSignalSpy redisUp(m_client.get(), &RedisClient::connected);
        m_pg->start();
        m_client->start();
        QTRY_VERIFY(pgUp.size() == 1 && redisUp.size() == 1);
        m_reconciler = std::make_unique<Reconciler>(*m_pg, *m_client);

        AdminClient boot;
        boot.open(adminUrl(), {{}, {}, QString::fromLatin1(Backend::kAdminToken)});
        QTRY_COMPARE_WITH_TIMEOUT(boot.state(), AdminClient::State::Connected, 5000);
        for (const auto &[name, role] :
             {std::pair{"alice", "admin"}, std::pair{"bob", "merchandiser"},
              std::pair{"vic", "viewer"}}) {
            const auto r = call(boot, Op::OperatorCreate,
                                {{"name", name},
                                 {"role", role},
                                 {"password", "password-of-" + QString::fromLatin1(name)}});
            QVERIFY2(r.ok, qPrintable(r.failure.message));
        }
        m_admin = login("alice", "password-of-alice");
        m_merch = login("bob", "password-of-bob");
        m_viewer = login("vic", "password-of-vic");
        QCOMPARE(m_admin->role(), QStringLiteral("admin"));
        QCOMPARE(m_viewer->role(), QStringLiteral("viewer"));
    }

    // A buyer told 202 whose hold Redis lost is told "cancelled", not left pending forever.
    void strandedPendingOrderEndsHoldLost() {
        const qint64 sale = createSale(10);
        const QByteArray lost = book(sale, "u1");
        const QByteArray kept = book(sale, "u2");
        QVERIFY(!lost.isEmpty() && !kept.isEmpty());
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 2, 15000);
        loseInRedis(sale, lost, "u1");

        const auto dry = reconcile(sale, false);
        QVERIFY2(dry, qPrintable(dry ? QString() : dry.error().message));
        QCOMPARE(saleRow(*dry, "hold_lost").value("found").toInteger(), 1);
        QCOMPARE(status(lost), QByteArray("pending")); // a dry run changes nothing

        const auto fixed = reconcile(sale, true);
        QVERIFY2(fixed, qPrintable(fixed ? QString() : fixed.error().message));
        QVERIFY2(fixed->value("ok").toBool(), dump(*fixed));
        QCOMPARE(status(lost), QByteArray("cancelled/hold-lost"));
        QCOMPARE(status(kept), QByteArray("pending"));
        // The buyer is told: the order.cancelled event the notifier turns into a notification.
        QCOMPARE(count("SELECT count(*) FROM outbox WHERE topic = 'order.cancelled' AND key = '"
                       + lost + "' AND payload->>'reason' = 'hold-lost'"),
                 1);
        QCOMPARE(count("SELECT count(*) FROM order_history h JOIN orders o ON o.id = h.order_id "
                       "WHERE o.reservation_id = '"
                       + lost + "' AND h.reason = 'hold-lost'"),
                 1);
        // PostgreSQL counts only the kept order; Redis sells the rest.
        QCOMPARE(sold(sale), 1);
        QCOMPARE(remaining(sale), 9);
        const auto again = reconcile(sale, false);
        QVERIFY2(again && again->value("ok").toBool(), again ? dump(*again) : QByteArray());
    }

    // A paid order is not cancelled because Redis forgot it: Redis gets the hold back.
    void paidOrderHoldIsRestored() {
        const qint64 sale = createSale(10);
        const QByteArray paid = book(sale, "p1");
        QVERIFY(!paid.isEmpty());
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 1, 15000);
        sql("UPDATE orders SET status = 'paid' WHERE reservation_id = '" + paid + "'");
        loseInRedis(sale, paid, "p1");
        QCOMPARE(remaining(sale), 10); // Redis would sell the paid unit again

        const auto dry = reconcile(sale, false);
        QVERIFY(dry);
        QCOMPARE(saleRow(*dry, "hold_lost").value("found").toInteger(), 0);
        QCOMPARE(saleRow(*dry, "orders_without_redis").value("found").toInteger(), 1);

        const auto fixed = reconcile(sale, true);
        QVERIFY2(fixed && fixed->value("ok").toBool(), fixed ? dump(*fixed) : QByteArray());
        QCOMPARE(status(paid), QByteArray("paid"));
        const SaleKeys k(sale);
        QCOMPARE(m_redis->one({"HGET", k.reservation(paid), "status"}), QByteArray("confirmed"));
        QCOMPARE(m_redis->integer({"SISMEMBER", k.reservations(), paid}), 1);
        QCOMPARE(remaining(sale), 9);
        QCOMPARE(m_redis->integer({"HGET", k.users(), "p1"}), 1);
    }

    // mark_lost.lua checks again, atomically: a hold that is there is not declared lost.
    void reappearedHoldIsNotMarkedLost() {
        const qint64 sale = createSale(10);
        const QByteArray rid = book(sale, "r1");
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 1, 15000);
        const SaleKeys k(sale);
        const RedisScript markLost = RedisScript::load(QStringLiteral("mark_lost"));
        const auto mark = [&] {
            return m_redis
                ->command({"EVAL", markLost.body, "4", k.reservation(rid), k.released(), k.meta(),
                           k.stock(), rid, "1"})
                .value(0);
        };
        QCOMPARE(mark(), QByteArray("present"));
        QCOMPARE(m_redis->integer({"SISMEMBER", k.released(), rid}), 0);
        QCOMPARE(status(rid), QByteArray("pending"));
        // Gone: declared lost once, and not twice.
        m_redis->command({"DEL", k.reservation(rid)});
        QCOMPARE(mark(), QByteArray("lost"));
        QCOMPARE(mark(), QByteArray("released"));
    }

    // The expiry sweeper's release finds no hold: the order ends as hold-lost, not pending.
    void sweeperEndsAnOrderWhoseHoldIsLost() {
        const qint64 sale = createSale(10);
        const QByteArray rid = book(sale, "s1");
        QTRY_COMPARE_WITH_TIMEOUT(orders(sale), 1, 15000);
        loseInRedis(sale, rid, "s1");
        sql("UPDATE orders SET expires_at = now() - interval '1 second' WHERE reservation_id = '"
            + rid + "'");
        QTRY_COMPARE_WITH_TIMEOUT(status(rid), QByteArray("cancelled/hold-lost"), 10000);
        QCOMPARE(remaining(sale), 10); // no unit returned twice
        QCOMPARE(sold(sale), 0);
        QCOMPARE(count("SELECT count(*) FROM outbox WHERE topic = 'order.cancelled' AND key = '"
                       + rid + "'"),
                 1);
    }

    // Bookings the worker refuses go to the dead-letter stream; they are listed with their
    // reason, reconciliation reports them as dead letters (not missing orders, which it would
    // re-enqueue into the same refusal), and operators replay or cancel them, audited.
    void deadLettersAreListedReplayedAndCancelled() {
        const qint64 sale = createSale(10);
        const QByteArray item = itemOf(sale);
        const QByteArray inventory =
            sql("SELECT item_id || ',' || sale_id || ',' || stock FROM inventory WHERE item_id = "
                + item);
        // A broken inventory: the worker's statement refuses every order of this item.
        sql("DELETE FROM inventory WHERE item_id = " + item);
        QList<QByteArray> rids;
        for (const QByteArray user : {"d1", "d2", "d3"})
            rids << book(sale, user);
        QVERIFY(!rids.contains(QByteArray()));
        QTRY_COMPARE_WITH_TIMEOUT(m_redis->integer({"XLEN", SaleKeys(sale).deadLetters()}), 3,
                                  15000);
        QCOMPARE(orders(sale), 0);

        const QJsonArray listed = deadLetters(*m_viewer, sale);
        QCOMPARE(listed.size(), 3);
        const QJsonObject first = listed.at(0).toObject();
        QCOMPARE(first.value("sale_id").toInteger(), sale);
        QCOMPARE(first.value("user_id").toString(), QStringLiteral("d1"));
        QCOMPARE(first.value("qty").toInteger(), 1);
        QVERIFY2(first.value("reason").toString().contains("inventory"), dump(first));
        QVERIFY(first.value("resolution").isNull());
        QVERIFY(first.value("age_s").toInteger() >= 0);
        QVERIFY(!first.value("at").toString().isEmpty());
        QStringList entries;
        for (const QJsonValue &v : listed)
            entries << v.toObject().value("entry_id").toString();

        // The gauges behind DeadLetterUnresolved, read at scrape time.
        const QByteArray metrics = http(m_server.metricsPort(), "GET", "/metrics").body;
        QVERIFY2(metrics.contains("flashsale_stream_dead_letters_unresolved{sale=\""
                                  + QByteArray::number(sale) + "\"} 3"),
                 metrics.constData());
        QVERIFY(metrics.contains("flashsale_stream_dead_letters_oldest_unresolved_seconds{sale=\""
                                 + QByteArray::number(sale) + "\"}"));

        const auto dry = reconcile(sale, false);
        QVERIFY(dry);
        QCOMPARE(saleRow(*dry, "missing_orders").value("found").toInteger(), 0);
        QCOMPARE(saleRow(*dry, "dead_letters").value("found").toInteger(), 3);

        // A viewer may look, not act.
        for (const Op op : {Op::OrdersDeadLettersReplay, Op::OrdersDeadLettersCancel}) {
            const auto r = call(*m_viewer, op, {{"sale_id", sale}, {"entry_id", entries[0]}});
            QVERIFY(!r.ok);
            QCOMPARE(r.failure.code, AdminError::Forbidden);
        }
        // Not fixed yet: the replay is refused, audited, and resolves nothing.
        auto r = call(*m_admin, Op::OrdersDeadLettersReplay,
                      {{"sale_id", sale}, {"entry_id", entries[0]}});
        QVERIFY2(r.ok, qPrintable(r.failure.message));
        QCOMPARE(r.result.value("outcome").toString(), QStringLiteral("refused"));
        QVERIFY(!r.result.value("reason").toString().isEmpty());
        QCOMPARE(count("SELECT count(*) FROM audit_log WHERE action = 'orders.deadletters.replay' "
                       "AND detail->>'outcome' = 'refused' AND actor = 'alice'"),
                 1);
        QCOMPARE(deadLetters(*m_viewer, sale).size(), 3);

        // The fix, then the replay writes the order.
        const QList<QByteArray> inv = inventory.split(',');
        sql("INSERT INTO inventory (item_id, sale_id, stock) VALUES (" + inv[0] + ", " + inv[1]
            + ", " + inv[2] + ")");
        r = call(*m_admin, Op::OrdersDeadLettersReplay,
                 {{"sale_id", sale}, {"entry_id", entries[0]}});
        QVERIFY2(r.ok, qPrintable(r.failure.message));
        QCOMPARE(r.result.value("outcome").toString(), QStringLiteral("replayed"));
        QCOMPARE(r.result.value("entry_id").toString(), entries[0]);
        QCOMPARE(status(rids[0]), QByteArray("pending"));
        QCOMPARE(sold(sale), 1);
        QCOMPARE(count("SELECT count(*) FROM stream_dead_letter_resolutions WHERE sale_id = "
                       + QByteArray::number(sale)
                       + " AND action = 'replayed' AND operator = 'alice'"),
                 1);

        // Cancel and notify, as a merchandiser.
        r = call(*m_merch, Op::OrdersDeadLettersCancel,
                 {{"sale_id", sale}, {"entry_id", entries[1]}, {"notify", true}});
        QVERIFY2(r.ok, qPrintable(r.failure.message));
        QCOMPARE(r.result.value("outcome").toString(), QStringLiteral("cancelled"));
        QCOMPARE(status(rids[1]), QByteArray("cancelled/dead-letter"));
        QCOMPARE(count("SELECT count(*) FROM outbox WHERE topic = 'order.cancelled' AND key = '"
                       + rids[1] + "' AND payload->>'reason' = 'dead-letter'"),
                 1);
        QCOMPARE(count("SELECT count(*) FROM audit_log WHERE action = 'orders.deadletters.cancel' "
                       "AND actor = 'bob' AND detail->>'entry_id' = '"
                       + entries[1].toUtf8() + "'"),
                 1);
        QCOMPARE(count("SELECT count(*) FROM stream_dead_letter_resolutions WHERE sale_id = "
                       + QByteArray::number(sale)
                       + " AND action = 'cancelled' AND operator = 'bob'"),
                 1);
        // Twice: a conflict, and nothing written again.
        r = call(*m_merch, Op::OrdersDeadLettersCancel,
                 {{"sale_id", sale}, {"entry_id", entries[1]}, {"notify", true}});
        QVERIFY(!r.ok);
        QCOMPARE(r.failure.code, AdminError::Conflict);
        r = call(*m_admin, Op::OrdersDeadLettersReplay,
                 {{"sale_id", sale}, {"entry_id", entries[0]}});
        QCOMPARE(r.failure.code, AdminError::Conflict);
        QCOMPARE(count("SELECT count(*) FROM outbox WHERE topic = 'order.cancelled' AND key = '"
                       + rids[1] + "'"),
                 1);

        // Unknown sale or entry, malformed arguments.
        r = call(*m_admin, Op::OrdersDeadLettersReplay,
                 {{"sale_id", 999999}, {"entry_id", entries[2]}});
        QCOMPARE(r.failure.code, AdminError::NotFound);
        r = call(*m_admin, Op::OrdersDeadLettersReplay, {{"sale_id", sale}, {"entry_id", "1-0"}});
        QCOMPARE(r.failure.code, AdminError::NotFound);
        r = call(*m_admin, Op::OrdersDeadLettersCancel, {{"sale_id", "x"}, {"entry_id", "nope"}});
        QCOMPARE(r.failure.code, AdminError::InvalidArgs);
        QStringList pointers;
        for (const FieldError &e : r.failure.details)
            pointers << e.pointer;
        QVERIFY2(pointers.contains("/args/sale_id") && pointers.contains("/args/entry_id"),
                 qPrintable(pointers.join(' ')));

        // Listed: one left; all three with --all, each with its resolution.
        QCOMPARE(deadLetters(*m_viewer, sale).size(), 1);
        const QJsonArray all = deadLetters(*m_viewer, sale, true);
        QCOMPARE(all.size(), 3);
        QCOMPARE(all.at(0).toObject().value("resolution").toObject().value("action").toString(),
                 QStringLiteral("replayed"));
        QCOMPARE(all.at(1).toObject().value("resolution").toObject().value("operator").toString(),
                 QStringLiteral("bob"));

        // The last one cancelled without a notification; then reconciliation finds nothing.
        r = call(*m_merch, Op::OrdersDeadLettersCancel,
                 {{"sale_id", sale}, {"entry_id", entries[2]}, {"notify", false}});
        QVERIFY2(r.ok, qPrintable(r.failure.message));
        QCOMPARE(count("SELECT count(*) FROM outbox WHERE topic = 'order.cancelled' AND key = '"
                       + rids[2] + "'"),
                 0);
        QCOMPARE(remaining(sale), 9); // the two cancelled units are on sale again
        const auto after = reconcile(sale, false);
        QVERIFY2(after && after->value("ok").toBool(), after ? dump(*after) : QByteArray());
        QCOMPARE(saleRow(*after, "dead_letters").value("found").toInteger(), 0);
    }

    void cleanupTestCase() {
        m_admin.reset();
        m_merch.reset();
        m_viewer.reset();
        m_reconciler.reset();
        m_client.reset();
        m_pg.reset();
    }
};

QTEST_GUILESS_MAIN(TstDeadLetters)
#include "tst_deadletters.moc"
