// `flashsale-bench check` against a real stack: redis-server, PostgreSQL, librdkafka's mock
// cluster and flashsale-server with every role. Bookings go through the real API and the test
// writes the ledger the load generator would. A clean sale must pass every check; then each
// corruption a real bug would leave behind must fail the check that owns it, with exit code 1.

#include "booking/salekeys.h"
#include "kafka/kafkaclient.h"
#include "ledger.h"
#include "rawhttp.h"
#include "testservers.h"

#include <QDateTime>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTest>

using namespace flashsale;
using namespace flashsale::bench;
using namespace flashsale::test;

namespace {

struct CheckRun {
    int exitCode = -1;
    QByteArray output;
    QJsonArray checks;

    // The verdict of the check named `name` ("I1 no oversell" → "I1", "no oversell"): 1 pass,
    // 0 fail, -1 absent.
    int verdict(const QString &id, const QString &name = {}) const {
        for (const QJsonValue &v : checks) {
            const QJsonObject c = v.toObject();
            if (c.value(QStringLiteral("id")).toString() == id
                && (name.isEmpty() || c.value(QStringLiteral("name")).toString() == name))
                return c.value(QStringLiteral("pass")).toBool() ? 1 : 0;
        }
        return -1;
    }
    // The names of the checks that failed, for messages.
    QString failed() const {
        QStringList out;
        for (const QJsonValue &v : checks) {
            const QJsonObject c = v.toObject();
            if (!c.value(QStringLiteral("pass")).toBool())
                out << c.value(QStringLiteral("id")).toString() + QLatin1Char(' ')
                           + c.value(QStringLiteral("name")).toString();
        }
        return out.join(QStringLiteral(", "));
    }
};

} // namespace

class TestBenchCheck : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    std::unique_ptr<KafkaMockCluster> m_kafka;
    Backend m_stack; // api, worker, payment, notify
    Backend m_relay;
    std::unique_ptr<RedisSync> m_redis;
    QTemporaryDir m_dir;

    qint64 m_sale = 0; // the clean sale the corruptions are applied to
    QString m_ledger;
    QString m_report;
    QList<QJsonObject> m_ledgerLines;

    QHash<QString, QString> env(const QString &roles) const {
        return {{"FLASHSALE_ROLES", roles},
                {"FLASHSALE_REDIS_URL", m_redisServer.url()},
                {"FLASHSALE_PG_URL", m_db.url()},
                {"FLASHSALE_KAFKA_BROKERS", m_kafka->bootstraps()},
                {"FLASHSALE_WORKER_BLOCK_MS", "200"},
                {"FLASHSALE_RELAY_POLL_MS", "200"},
                {"FLASHSALE_PAYMENT_SIM_LATENCY_MS", "5"},
                {"FLASHSALE_PAYMENT_SIM_DECLINE_PERCENT", "30"}};
    }

    qint64 createSale(int stock, int perUserLimit) {
        const QDateTime now = QDateTime::currentDateTimeUtc();
        const HttpResponse r =
            postJson(m_stack.port(), "/api/v1/admin/sales",
                     QJsonObject{{"name", "bench check"},
                                 {"stock", stock},
                                 {"per_user_limit", perUserLimit},
                                 {"price_cents", 100},
                                 {"admission_rate", 0},
                                 {"starts_at", now.addSecs(-1).toString(Qt::ISODate)},
                                 {"ends_at", now.addSecs(3600).toString(Qt::ISODate)}},
                     Backend::kAdminToken);
        return r.json().value(QStringLiteral("id")).toInteger();
    }

    // Books (user, key) pairs through the API, in order, and returns the answers.
    QList<HttpResponse> book(qint64 sale, const QList<QPair<QByteArray, QByteArray>> &attempts) {
        QList<QByteArray> raw;
        for (const auto &[user, key] : attempts)
            raw << RawHttpConnection::format(
                "POST", "/api/v1/sales/" + QByteArray::number(sale) + "/book",
                "{\"user_id\":\"" + user + "\",\"quantity\":1}", {{"Idempotency-Key", key}});
        return sendAll(m_stack.port(), raw, 1);
    }

    static QJsonObject acceptedLine(const QByteArray &user, const QByteArray &key,
                                    const HttpResponse &r) {
        const QJsonObject body = r.json();
        return {{"type", "accepted"},
                {"user", QString::fromUtf8(user)},
                {"key", QString::fromUtf8(key)},
                {"reservation_id", body.value(QStringLiteral("reservation_id"))},
                {"item_id", body.value(QStringLiteral("item_id"))},
                {"quantity", body.value(QStringLiteral("quantity"))},
                {"replayed", r.headers.value("idempotent-replayed") == "true"}};
    }

    void writeLedger(const QString &path, qint64 sale, const QList<QJsonObject> &lines) {
        LedgerWriter w;
        QString error;
        QVERIFY2(w.open(path, &error), qPrintable(error));
        w.write({{"type", "run"},
                 {"sale_id", sale},
                 {"flow", "book"},
                 {"users", 10},
                 {"urls", QJsonArray{}},
                 {"started_at", "2026-11-21T00:00:00.000Z"}});
        for (const QJsonObject &l : lines)
            w.write(l);
        w.write({{"type", "end"},
                 {"finished_at", "2026-11-21T00:00:01.000Z"},
                 {"requests", lines.size()},
                 {"by_status", QJsonObject{}}});
        w.flush();
    }

    CheckRun check(qint64 sale, const QString &ledger, const QStringList &extra = {}) {
        CheckRun run;
        const QString json = m_dir.filePath(QStringLiteral("result-%1.json").arg(sale));
        QFile::remove(json);
        QProcess p;
        p.setProgram(QStringLiteral(FLASHSALE_BENCH_BIN));
        p.setArguments(QStringList{QStringLiteral("check"), QStringLiteral("--sale"),
                                   QString::number(sale), QStringLiteral("--redis-url"),
                                   m_redisServer.url(), QStringLiteral("--pg-url"), m_db.url(),
                                   QStringLiteral("--kafka-brokers"), m_kafka->bootstraps(),
                                   QStringLiteral("--ledger"), ledger,
                                   QStringLiteral("--drain-timeout-seconds"), QStringLiteral("30"),
                                   QStringLiteral("--json"), json}
                       + extra);
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start();
        // The mock cluster runs on librdkafka's threads, so blocking this one is fine.
        if (!p.waitForFinished(60000)) {
            p.kill();
            p.waitForFinished();
        }
        run.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
        run.output = p.readAll();
        QFile f(json);
        if (f.open(QIODevice::ReadOnly))
            run.checks = QJsonDocument::fromJson(f.readAll())
                             .object()
                             .value(QStringLiteral("checks"))
                             .toArray();
        return run;
    }

    // The clean sale, checked with everything the bench run asks.
    CheckRun checkClean(const QString &ledger) {
        // Sold means kept: the units of orders the payment simulator did not decline, known
        // once every order has ended (a first check drains the sale).
        check(m_sale, ledger, {QStringLiteral("--expect-all-ended")});
        const QByteArray kept = saleSql("SELECT coalesce(sum(quantity), 0) FROM orders WHERE "
                                        "sale_id = $SALE AND status <> 'cancelled'");
        return check(m_sale, ledger,
                     {QStringLiteral("--expect-all-ended"), QStringLiteral("--report"), m_report,
                      QStringLiteral("--expect-sold"), QString::fromLatin1(kept),
                      QStringLiteral("--max-p99-ms"), QStringLiteral("100"),
                      QStringLiteral("--allow-types"), QStringLiteral("sold-out,per-user-limit")});
    }

    QByteArray sql(const QByteArray &statement) { return m_db.scalar(statement); }
    QByteArray saleSql(const QByteArray &statement) {
        return sql(QByteArray(statement).replace("$SALE", QByteArray::number(m_sale)));
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        auto k = KafkaMockCluster::create(1, topics::orderLifecycle(), 3);
        QVERIFY(k.has_value());
        m_kafka.reset(*k);
        QVERIFY2(m_stack.start(env(QStringLiteral("api,worker,payment,notify"))),
                 qPrintable(m_stack.error()));
        QVERIFY2(m_relay.start(env(QStringLiteral("relay"))), qPrintable(m_relay.error()));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        QTRY_COMPARE_WITH_TIMEOUT(http(m_stack.port(), "GET", "/readyz").status, 200, 10000);

        // Stock 8, 2 per user: u0..u4 try twice each (8 accepted, u4 sold out), u0 replays its
        // first key, and u0 tries a third unit (per-user limit) while units remain: once the
        // sale is sold out, an API thread that knows it answers sold-out before any limit.
        m_sale = createSale(8, 2);
        QVERIFY(m_sale > 0);
        QList<QPair<QByteArray, QByteArray>> attempts{{"u0", "k1"}, {"u0", "k2"}};
        QList<HttpResponse> answers = book(m_sale, attempts);
        const QList<HttpResponse> over = book(m_sale, {{"u0", "k3"}});
        QList<QPair<QByteArray, QByteArray>> rest;
        for (int u = 1; u < 5; ++u) {
            for (int k = 1; k <= 2; ++k)
                rest.append(qMakePair("u" + QByteArray::number(u), "k" + QByteArray::number(k)));
        }
        rest.append(qMakePair(QByteArray("u0"), QByteArray("k1")));
        attempts += rest;
        answers += book(m_sale, rest);
        QMap<QString, qint64> byType;
        for (qsizetype i = 0; i < answers.size(); ++i) {
            const auto &[user, key] = attempts[i];
            const HttpResponse &r = answers[i];
            if (r.status != 202) {
                ++byType[r.problemType().section(QLatin1Char('/'), -1)];
                continue;
            }
            ++byType[QStringLiteral("accepted")];
            // One acceptance the client never learnt of: its connection "reset".
            if (user == "u3" && key == "k2")
                m_ledgerLines << QJsonObject{
                    {"type", "unknown"}, {"user", "u3"},
                    {"key", "k2"},       {"item_id", r.json().value(QStringLiteral("item_id"))},
                    {"quantity", 1},     {"reason", "connection-reset"}};
            else
                m_ledgerLines << acceptedLine(user, key, r);
        }
        QCOMPARE(over.value(0).status, 409);
        QCOMPARE(over[0].problemType().section(QLatin1Char('/'), -1),
                 QStringLiteral("per-user-limit"));
        ++byType[over[0].problemType().section(QLatin1Char('/'), -1)];
        QCOMPARE(byType.value(QStringLiteral("accepted")), 8 + 1);
        QCOMPARE(byType.value(QStringLiteral("sold-out")), 2);

        m_ledger = m_dir.filePath(QStringLiteral("clean.ledger"));
        writeLedger(m_ledger, m_sale, m_ledgerLines);
        m_report = m_dir.filePath(QStringLiteral("report.json"));
        QJsonObject by;
        for (auto it = byType.cbegin(); it != byType.cend(); ++it)
            by.insert(it.key(), it.value());
        QFile report(m_report);
        QVERIFY(report.open(QIODevice::WriteOnly));
        report.write(
            QJsonDocument(
                QJsonObject{
                    {"requests", 12},
                    {"seconds", 1},
                    {"rps", 12},
                    {"latency_ms",
                     QJsonObject{{"p50", 2}, {"p90", 3}, {"p99", 5}, {"p999", 6}, {"max", 6}}},
                    {"by_type", by},
                    {"unknown", 1}})
                .toJson());
    }

    void cleanRunPassesEveryCheck() {
        const CheckRun run = checkClean(m_ledger);
        qInfo().noquote() << run.output;
        QVERIFY2(run.exitCode == 0, run.output.constData());
        QCOMPARE(run.checks.size(), 12);
        QVERIFY2(run.failed().isEmpty(), qPrintable(run.failed()));
        QVERIFY(run.output.contains("PASS I1 no oversell: 1 items, stock 8;"));
        QVERIFY(run.output.contains("accepted-but-unknown-to-client 1"));
        QVERIFY(run.output.contains("RESULT PASS: 12 checks"));
        // Some declined: cancelled orders gave their units back, and conservation holds.
        const int cancelled = saleSql("SELECT count(*) FROM orders WHERE sale_id = $SALE AND "
                                      "status = 'cancelled'")
                                  .toInt();
        qInfo("clean sale: %d of 8 orders declined", cancelled);
    }

    void reportChecksFail() {
        const CheckRun run =
            check(m_sale, m_ledger,
                  {QStringLiteral("--report"), m_report, QStringLiteral("--expect-sold"),
                   QStringLiteral("10"), QStringLiteral("--max-p99-ms"), QStringLiteral("4"),
                   QStringLiteral("--allow-types"), QStringLiteral("sold-out")});
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(run.verdict(QStringLiteral("sold")), 0);
        QCOMPARE(run.verdict(QStringLiteral("latency")), 0);
        QCOMPARE(run.verdict(QStringLiteral("errors")), 0);
        QVERIFY(run.output.contains("answer types not in --allow-types (1): per-user-limit 1"));
        QCOMPARE(run.verdict(QStringLiteral("I1")), 1);
    }

    void keyWithTwoReservationsFailsI7() {
        // The ledger saw u1's key k1 answered with a second reservation (u2's, a real order).
        QList<QJsonObject> lines = m_ledgerLines;
        QJsonObject second;
        for (const QJsonObject &l : std::as_const(lines)) {
            if (l.value(QStringLiteral("user")) == QLatin1String("u2")
                && l.value(QStringLiteral("type")) == QLatin1String("accepted"))
                second = l;
        }
        QVERIFY(!second.isEmpty());
        second.insert(QStringLiteral("user"), QStringLiteral("u1"));
        second.insert(QStringLiteral("key"), QStringLiteral("k1"));
        lines << second;
        const QString ledger = m_dir.filePath(QStringLiteral("twokeys.ledger"));
        writeLedger(ledger, m_sale, lines);
        const CheckRun run = checkClean(ledger);
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(run.verdict(QStringLiteral("I7")), 0);
        QVERIFY2(run.output.contains("keys answered with two reservations (1): (u1, k1)"),
                 run.output.constData());
        QVERIFY2(run.output.contains("keys that produced two orders (1)"), run.output.constData());
    }

    void oneKeyTwoOrdersFailsI7() {
        // u3's first booking is recorded as an unanswered retry of the key of its second
        // (also unanswered): one key cannot have booked both orders.
        QList<QJsonObject> lines;
        for (QJsonObject l : std::as_const(m_ledgerLines)) {
            if (l.value(QStringLiteral("user")) == QLatin1String("u3")
                && l.value(QStringLiteral("type")) == QLatin1String("accepted")) {
                l = {{"type", "unknown"}, {"user", "u3"},
                     {"key", "k2"},       {"item_id", l.value(QStringLiteral("item_id"))},
                     {"quantity", 1},     {"reason", "timeout"}};
            }
            lines << l;
        }
        const QString ledger = m_dir.filePath(QStringLiteral("onekey.ledger"));
        writeLedger(ledger, m_sale, lines);
        const CheckRun run = checkClean(ledger);
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(run.verdict(QStringLiteral("I3")), 0);
        QCOMPARE(run.verdict(QStringLiteral("I7")), 0);
        QVERIFY2(run.output.contains("keys that produced two orders (1): (u3, k2)"),
                 run.output.constData());
        QVERIFY2(run.output.contains("accepted-but-unknown-to-client 1"), run.output.constData());
    }

    void redisStockBumpedFailsI6() {
        const SaleKeys k(m_sale);
        const QByteArray item = m_redis->command({"HKEYS", k.stock()}).value(0);
        m_redis->command({"HINCRBY", k.stock(), item, "3"});
        const CheckRun run = checkClean(m_ledger);
        m_redis->command({"HINCRBY", k.stock(), item, "-3"});
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(run.verdict(QStringLiteral("I6")), 0);
        QVERIFY2(run.output.contains("items where stock != Redis remaining + held + paid (1)"),
                 run.output.constData());
        QCOMPARE(run.verdict(QStringLiteral("I3")), 1);
    }

    void oversoldRedisFailsI1() {
        // Redis giving out units it does not have: remaining below zero.
        const SaleKeys k(m_sale);
        const QByteArray item = m_redis->command({"HKEYS", k.stock()}).value(0);
        const QByteArray before = m_redis->one({"HGET", k.stock(), item});
        m_redis->command({"HSET", k.stock(), item, "-1"});
        const CheckRun run = checkClean(m_ledger);
        m_redis->command({"HSET", k.stock(), item, before});
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(run.verdict(QStringLiteral("I1")), 0);
        QVERIFY2(run.output.contains("Redis remaining outside 0..stock (1)"),
                 run.output.constData());
    }

    void orderBeyondTheCapFailsI2() {
        // A user who already holds a unit gets an order for two more.
        const QByteArray user = saleSql("SELECT user_id FROM orders WHERE sale_id = $SALE AND "
                                        "status <> 'cancelled' ORDER BY id LIMIT 1");
        QVERIFY(!user.isEmpty());
        const QByteArray id = saleSql(
            "INSERT INTO orders (reservation_id, sale_id, item_id, user_id, quantity, "
            "amount_cents, status, accepted_at, expires_at) SELECT '$SALE-extra', sale_id, "
            "item_id, user_id, 2, 200, 'pending', now(), now() + interval '1 hour' FROM orders "
            "WHERE sale_id = $SALE AND user_id = '"
            + user + "' LIMIT 1 RETURNING id");
        QVERIFY(!id.isEmpty());
        const CheckRun run = check(m_sale, m_ledger);
        sql("DELETE FROM orders WHERE id = " + id);
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(run.verdict(QStringLiteral("I2")), 0);
        QVERIFY2(run.output.contains("users above the cap in non-cancelled orders (1): " + user),
                 run.output.constData());
    }

    void orderWithTwoEndingsFailsI4() {
        const QByteArray history = saleSql(
            "INSERT INTO order_history (order_id, status, reason) SELECT id, 'cancelled', "
            "'admin' FROM orders WHERE sale_id = $SALE AND status = 'paid' ORDER BY id LIMIT 1 "
            "RETURNING order_id");
        QVERIFY(!history.isEmpty());
        const CheckRun run = checkClean(m_ledger);
        sql("DELETE FROM order_history WHERE order_id = " + history + " AND status = 'cancelled'");
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(run.verdict(QStringLiteral("I4")), 0);
        QVERIFY2(run.output.contains("orders with more than one ending in order_history (1): "
                                     "order "
                                     + history),
                 run.output.constData());
        // Undone: the sale is clean again.
        const CheckRun again = checkClean(m_ledger);
        QVERIFY2(again.exitCode == 0, again.output.constData());
    }

    void confirmedHoldExpiredFailsI4() {
        // The client confirmed a hold (purchase answered 202), and the order later expired
        // under its payment.
        const QByteArray row = saleSql("SELECT id || ' ' || user_id || ' ' || reservation_id FROM "
                                       "orders WHERE sale_id = $SALE AND status = 'paid' ORDER "
                                       "BY id LIMIT 1");
        const QList<QByteArray> f = row.split(' ');
        QCOMPARE(f.size(), 3);
        QList<QJsonObject> lines = m_ledgerLines;
        lines << QJsonObject{{"type", "confirmed"},
                             {"user", QString::fromUtf8(f[1])},
                             {"reservation_id", QString::fromUtf8(f[2])}};
        const QString ledger = m_dir.filePath(QStringLiteral("confirmed.ledger"));
        writeLedger(ledger, m_sale, lines);
        sql("UPDATE orders SET status = 'cancelled', cancel_reason = 'expired' WHERE id = " + f[0]);
        const CheckRun run = check(m_sale, ledger);
        sql("UPDATE orders SET status = 'paid', cancel_reason = NULL WHERE id = " + f[0]);
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(run.verdict(QStringLiteral("I4")), 0);
        QVERIFY2(run.output.contains("holds the client confirmed that expired under the payment "
                                     "(1): order "
                                     + f[0]),
                 run.output.constData());
    }

    void deadLetterFailsI3() {
        const SaleKeys k(m_sale);
        const QByteArray id = m_redis->one({"XADD", k.deadLetters(), "*", "reason", "test poison",
                                            "source_id", "1-1", "field:rid", "poisoned"});
        const CheckRun run = checkClean(m_ledger);
        m_redis->command({"XDEL", k.deadLetters(), id});
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(run.verdict(QStringLiteral("I3")), 0);
        QVERIFY2(run.output.contains("dead-lettered stream entries (1): 1-1 (rid poisoned): test "
                                     "poison"),
                 run.output.constData());
    }

    // Issue 20: a dead letter an operator resolved (replayed or cancelled) is decided: no I3
    // offence, but counted.
    void resolvedDeadLetterPassesI3() {
        const SaleKeys k(m_sale);
        const QByteArray id = m_redis->one({"XADD", k.deadLetters(), "*", "reason", "test poison",
                                            "source_id", "1-2", "field:rid", "poisoned"});
        sql("INSERT INTO stream_dead_letter_resolutions (sale_id, entry_id, action, operator, "
            "outcome) VALUES ("
            + QByteArray::number(m_sale) + ", '" + id + "', 'cancelled', 'tester', 'test')");
        const CheckRun run = checkClean(m_ledger);
        m_redis->command({"XDEL", k.deadLetters(), id});
        sql("DELETE FROM stream_dead_letter_resolutions WHERE entry_id = '" + id + "'");
        QCOMPARE(run.verdict(QStringLiteral("I3")), 1);
        QVERIFY2(run.output.contains("dead letters 1 (1 resolved)"), run.output.constData());
    }

    void cancellationNotReturnedFailsI4() {
        // A declined order whose units never came back to Redis.
        const QByteArray rid = saleSql("SELECT reservation_id FROM orders WHERE sale_id = $SALE "
                                       "AND status = 'cancelled' ORDER BY id LIMIT 1");
        if (rid.isEmpty())
            QSKIP("the simulator declined none of this sale's orders");
        const SaleKeys k(m_sale);
        m_redis->command({"SREM", k.released(), rid});
        const CheckRun run = checkClean(m_ledger);
        m_redis->command({"SADD", k.released(), rid});
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(run.verdict(QStringLiteral("I4")), 0);
        QVERIFY2(run.output.contains("cancelled orders whose units were not returned to Redis (1)"),
                 run.output.constData());
    }

    void deletedOrderFailsI3() {
        // Last for this sale: an accepted booking the client saw loses its order row.
        const QString rid =
            m_ledgerLines.first().value(QStringLiteral("reservation_id")).toString();
        const QByteArray id =
            sql("SELECT id FROM orders WHERE reservation_id = '" + rid.toUtf8() + "'");
        QVERIFY(!id.isEmpty());
        sql("DELETE FROM notifications WHERE order_id = " + id);
        sql("DELETE FROM payments WHERE order_id = " + id);
        sql("DELETE FROM orders WHERE id = " + id);
        const CheckRun run = checkClean(m_ledger);
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(run.verdict(QStringLiteral("I3")), 0);
        QCOMPARE(run.verdict(QStringLiteral("orders")), 0); // orders equal accepted bookings
        QVERIFY2(run.output.contains("accepted by the client, no order (1): " + rid.toUtf8()),
                 run.output.constData());
    }

    void missingOrderCreatedFailsI5() {
        // The relay is down while three orders are written; one order.created row is lost
        // before it comes back.
        m_relay.stop();
        const qint64 sale = createSale(3, 1);
        QList<QPair<QByteArray, QByteArray>> attempts{{"v0", "a"}, {"v1", "a"}, {"v2", "a"}};
        const QList<HttpResponse> answers = book(sale, attempts);
        QList<QJsonObject> lines;
        for (qsizetype i = 0; i < answers.size(); ++i) {
            QCOMPARE(answers[i].status, 202);
            lines << acceptedLine(attempts[i].first, attempts[i].second, answers[i]);
        }
        const QByteArray count = "SELECT count(*) FROM outbox WHERE topic = 'order.created' AND "
                                 "(payload->>'sale_id')::bigint = "
                                 + QByteArray::number(sale);
        QTRY_COMPARE_WITH_TIMEOUT(sql(count).toInt(), 3, 20000);
        const QByteArray lost =
            lines[1].value(QStringLiteral("reservation_id")).toString().toUtf8();
        sql("DELETE FROM outbox WHERE topic = 'order.created' AND payload->>'reservation_id' = '"
            + lost + "'");
        QVERIFY2(m_relay.start(env(QStringLiteral("relay"))), qPrintable(m_relay.error()));

        const QString ledger = m_dir.filePath(QStringLiteral("lost-event.ledger"));
        writeLedger(ledger, sale, lines);
        const CheckRun run = check(sale, ledger);
        qInfo().noquote() << run.output;
        QCOMPARE(run.exitCode, 1);
        QCOMPARE(run.verdict(QStringLiteral("I5"), QStringLiteral("events at least once")), 0);
        QVERIFY2(run.output.contains("orders without order.created on Kafka (1): order"),
                 run.output.constData());
        QVERIFY2(run.output.contains(lost + "), never in the outbox"), run.output.constData());
        QCOMPARE(run.verdict(QStringLiteral("I3")), 1);

        // Its order is never paid, so a run that expects every order ended cannot drain: it
        // gives up, says what is outstanding, and judges nothing.
        const CheckRun stuck =
            check(sale, ledger,
                  {QStringLiteral("--expect-all-ended"), QStringLiteral("--drain-timeout-seconds"),
                   QStringLiteral("2")});
        QCOMPARE(stuck.exitCode, 3);
        QVERIFY2(stuck.output.contains("could not check: not drained after 2 s:"),
                 stuck.output.constData());
        QVERIFY2(stuck.output.contains("orders pending 1"), stuck.output.constData());
        QVERIFY(stuck.checks.isEmpty());
    }

    void usageAndUnreachable() {
        QProcess p;
        p.start(QStringLiteral(FLASHSALE_BENCH_BIN), {QStringLiteral("check")});
        QVERIFY(p.waitForFinished(10000));
        QCOMPARE(p.exitCode(), 2);

        // Redis gone: could not check, never a verdict.
        RedisServer gone;
        QVERIFY(gone.start());
        const QString url = gone.url();
        gone.stop();
        p.start(QStringLiteral(FLASHSALE_BENCH_BIN),
                {QStringLiteral("check"), QStringLiteral("--sale"), QString::number(m_sale),
                 QStringLiteral("--redis-url"), url, QStringLiteral("--pg-url"), m_db.url(),
                 QStringLiteral("--kafka-brokers"), m_kafka->bootstraps(),
                 QStringLiteral("--ledger"), m_ledger});
        QVERIFY(p.waitForFinished(20000));
        QCOMPARE(p.exitCode(), 3);
    }
};

QTEST_GUILESS_MAIN(TestBenchCheck)
#include "tst_benchcheck.moc"
