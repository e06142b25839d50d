// Provider reconciliation (issue 19) against real PostgreSQL and Redis: the in-process payment
// simulator (SimulatorGateway) is the provider, its ledger in Redis. Each test crafts one kind of
// drift the way it happens (a charge whose answer was lost, a payment marked captured without a
// charge, a refund made at the provider, a second charge under another key), then asserts the
// report, what a repair did to the order (paid, order.paid in the outbox) or that it only
// flagged it, the records (provider_reconcile_runs/_repairs, audit_log with the actor), and that
// the next run finds nothing left to repair. The last tests drive it as operators do: through
// flashsale-ctl against a real API process (payments.reconcile), and the payment role's periodic
// job.

#include "kafka/kafkaclient.h"
#include "metrics/metrics.h"
#include "payment/paymentgateway.h"
#include "payment/paymentoutcomes.h"
#include "payment/providerreconcile.h"
#include "pg/migrator.h"
#include "pg/pgconnection.h"
#include "rawhttp.h"
#include "redis/redisclient.h"
#include "testservers.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QSignalSpy>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

class TstProviderReconcile : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    PgDatabase m_db;
    std::unique_ptr<RedisSync> m_redis;
    std::unique_ptr<PgConnection> m_pg;
    std::unique_ptr<RedisClient> m_client;
    std::unique_ptr<SimulatorGateway> m_gateway;
    std::unique_ptr<PaymentOutcomes> m_outcomes;
    std::unique_ptr<ProviderReconciler> m_reconciler;
    int m_orders = 0;

    QByteArray sql(const QByteArray &statement) { return m_db.scalar(statement); }
    qint64 count(const QByteArray &statement) { return sql(statement).toLongLong(); }

    // A pending order of 300 cents (as the worker writes it) and, unless `payment` is empty, its
    // payments row in that status (as the payment service claims it).
    qint64 order(const QByteArray &payment = "charging", const QByteArray &orderStatus = "pending",
                 const QByteArray &providerRef = {}) {
        const QByteArray rid = "prr-" + QByteArray::number(++m_orders);
        const QByteArray reason = orderStatus == "cancelled" ? "'declined'" : "NULL";
        const qint64 id =
            sql("INSERT INTO orders (reservation_id, sale_id, item_id, user_id, quantity, "
                "amount_cents, status, cancel_reason, accepted_at, expires_at) VALUES ('"
                + rid + "', 1, 1, 'buyer-" + QByteArray::number(m_orders) + "', 1, 300, '"
                + orderStatus + "', " + reason
                + ", now(), now() + interval '10 minutes') RETURNING id")
                .toLongLong();
        if (!payment.isEmpty())
            sql("INSERT INTO payments (order_id, status, amount_cents, provider, provider_ref) "
                "VALUES ("
                + QByteArray::number(id) + ", '" + payment + "', 300, 'simulator', "
                + (providerRef.isEmpty() ? QByteArray("NULL") : "'" + providerRef + "'") + ")");
        return id;
    }

    static QByteArray key(qint64 order) { return "order-" + QByteArray::number(order); }
    static QByteArray ref(qint64 order) { return "sim-order-" + QByteArray::number(order); }

    // A charge at the provider under `key`, the answer waited for (and then dropped, as when the
    // payment process dies before writing it).
    bool charge(qint64 order, const QByteArray &idempotencyKey,
                SimulatorGateway *gateway = nullptr) {
        std::optional<Result<ChargeOutcome>> answer;
        (gateway ? gateway : m_gateway.get())
            ->charge(ChargeRequest{order, "buyer", 300, idempotencyKey, {}},
                     [&answer](const Result<ChargeOutcome> &r) { answer = r; });
        if (!QTest::qWaitFor([&answer] { return answer.has_value(); }, 5000))
            return false;
        // The ledger is written on the event loop after the answer: wait for it, since the
        // blocking calls that follow (RedisSync, a child process) do not turn the loop.
        if (!QTest::qWaitFor(
                [&] {
                    return m_redis->integer(
                               {"HEXISTS", "fs:{paysim}:payment", "sim-" + idempotencyKey})
                           == 1;
                },
                5000))
            return false;
        return *answer && (*answer)->approved;
    }
    bool refund(qint64 order, const QByteArray &providerRef) {
        std::optional<Result<void>> answer;
        m_gateway->refund(ChargeRequest{order, "buyer", 300, "refund-" + key(order), providerRef},
                          [&answer](const Result<void> &r) { answer = r; });
        return QTest::qWaitFor([&answer] { return answer.has_value(); }, 5000) && *answer;
    }
    Result<ProviderPage> list(const QByteArray &after, int limit) {
        std::optional<Result<ProviderPage>> answer;
        m_gateway->listPayments(after, limit,
                                [&answer](const Result<ProviderPage> &r) { answer = r; });
        if (!QTest::qWaitFor([&answer] { return answer.has_value(); }, 5000))
            return fail(ErrorCode::Timeout, QStringLiteral("no answer"));
        return *answer;
    }

    Result<QJsonObject> reconcile(bool repair, const QString &actor = QStringLiteral("alice"),
                                  int timeoutMs = 30000) {
        std::optional<Result<QJsonObject>> result;
        m_reconciler->run({repair, actor, ProviderReconciler::Trigger::Operator},
                          [&result](const Result<QJsonObject> &r) { result = r; });
        if (!QTest::qWaitFor([&result] { return result.has_value(); }, timeoutMs))
            return fail(ErrorCode::Timeout, QStringLiteral("no answer within 30 s"));
        return *result;
    }

    static QJsonObject check(const QJsonObject &report, const QString &name) {
        for (const QJsonValue &v : report.value(QStringLiteral("checks")).toArray())
            if (v.toObject().value(QStringLiteral("check")).toString() == name)
                return v.toObject();
        return {};
    }
    // found/repaired/flagged of one check.
    static QList<qint64> counts(const QJsonObject &report, const QString &name) {
        const QJsonObject c = check(report, name);
        return {c.value("found").toInteger(), c.value("repaired").toInteger(),
                c.value("flagged").toInteger()};
    }
    static qint64 totalFound(const QJsonObject &report) {
        qint64 n = 0;
        for (const QJsonValue &v : report.value(QStringLiteral("checks")).toArray())
            n += v.toObject().value(QStringLiteral("found")).toInteger();
        return n;
    }
    static QByteArray dump(const QJsonObject &o) { return QJsonDocument(o).toJson(); }
    QByteArray orderStatus(qint64 id) {
        return sql("SELECT status FROM orders WHERE id = " + QByteArray::number(id));
    }
    QByteArray paymentStatus(qint64 id) {
        return sql("SELECT status FROM payments WHERE order_id = " + QByteArray::number(id));
    }

    // Makes a payment of the provider's ledger look `ageMs` older (a charge made a while ago,
    // beyond the grace the periodic job gives answers in flight).
    void age(const QByteArray &paymentId, qint64 ageMs) {
        m_redis->command({"EVAL",
                          "local p = cjson.decode(redis.call('HGET', KEYS[1], ARGV[1])) "
                          "p.created_ms = p.created_ms - tonumber(ARGV[2]) "
                          "redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(p)) return 1",
                          "1", "fs:{paysim}:payment", paymentId, QByteArray::number(ageMs)});
    }

    struct CtlOutput {
        int exitCode = -1;
        QByteArray out;
        QByteArray err;
    };
    // The real flashsale-ctl against `server`, logged in as `who` (password on the environment)
    // or with the bootstrap token when `who` is empty; `input` on its stdin.
    static CtlOutput ctl(const Backend &server, const QStringList &args, const QString &who,
                         const QByteArray &input = {}) {
        QProcess p;
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (const char *name :
             {"FLASHSALE_ADMIN_URL", "FLASHSALE_API_URL", "FLASHSALE_ADMIN_TOKEN",
              "FLASHSALE_OPERATOR", "FLASHSALE_OPERATOR_PASSWORD"})
            env.remove(QString::fromLatin1(name));
        if (who.isEmpty()) {
            env.insert("FLASHSALE_ADMIN_TOKEN", QString::fromLatin1(Backend::kAdminToken));
        } else {
            env.insert("FLASHSALE_OPERATOR", who);
            env.insert("FLASHSALE_OPERATOR_PASSWORD", who + "-password-0001");
        }
        p.setProcessEnvironment(env);
        p.start(QStringLiteral(FLASHSALE_CTL_BIN), QStringList{"--url", server.url()} + args);
        p.write(input);
        p.closeWriteChannel();
        CtlOutput r;
        if (!p.waitForFinished(60000)) {
            killProcess(p);
            return r;
        }
        r.out = p.readAllStandardOutput();
        r.err = p.readAllStandardError();
        if (p.exitStatus() == QProcess::NormalExit)
            r.exitCode = p.exitCode();
        return r;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        const auto migrated = applyMigrations(m_db.url());
        QVERIFY2(migrated, qPrintable(migrated ? QString() : migrated.error().message));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        m_pg = std::make_unique<PgConnection>(m_db.url());
        m_client = std::make_unique<RedisClient>(
            *RedisClient::Endpoint::fromUrl(m_redisServer.url()), std::chrono::seconds(5));
        QSignalSpy pgUp(m_pg.get(), &PgConnection::connected);
        QSignalSpy redisUp(m_client.get(), &RedisClient::connected);
        m_pg->start();
        m_client->start();
        QTRY_VERIFY(pgUp.size() == 1 && redisUp.size() == 1);
        m_gateway = std::make_unique<SimulatorGateway>(*m_client, 0, 0, false);
        m_outcomes = std::make_unique<PaymentOutcomes>(*m_pg, *m_client);
        ProviderReconciler::Limits limits;
        limits.graceMs = 0; // the tests' payments are judged at once
        m_reconciler = std::make_unique<ProviderReconciler>(*m_pg, *m_gateway, *m_outcomes, limits);
    }

    // Every test starts from an empty provider ledger and empty tables.
    void init() {
        m_redis->command({"FLUSHALL"});
        sql("TRUNCATE provider_reconcile_repairs, provider_reconcile_runs, payments, "
            "order_history, outbox, orders, audit_log RESTART IDENTITY CASCADE");
    }

    void listPagesOldestFirst() {
        QList<qint64> ids;
        for (int i = 0; i < 5; ++i) {
            ids << order();
            QVERIFY(charge(ids.last(), key(ids.last())));
        }
        QVERIFY(charge(ids[0], key(ids[0]))); // a retry under the same key: no new payment
        QByteArray after;
        QList<qint64> seen;
        int pages = 0;
        for (;;) {
            const auto page = list(after, 2);
            QVERIFY2(page, qPrintable(page ? QString() : page.error().message));
            ++pages;
            for (const ProviderPayment &p : page->data) {
                seen << p.orderId;
                QCOMPARE(p.status, QByteArray("succeeded"));
                QCOMPARE(p.amountCents, 300);
                QCOMPARE(p.id, ref(p.orderId));
                QCOMPARE(p.idempotencyKey, key(p.orderId));
                QVERIFY(qAbs(p.createdMs - QDateTime::currentMSecsSinceEpoch()) < 60000);
            }
            if (!page->hasMore)
                break;
            after = page->data.last().id;
        }
        QCOMPARE(seen, ids);
        QCOMPARE(pages, 3);
        // A refund shows in the list; an unknown cursor is NotFound.
        QVERIFY(refund(ids[1], ref(ids[1])));
        QCOMPARE(list({}, 10)->data.at(1).status, QByteArray("refunded"));
        QCOMPARE(list("sim-no-such", 10).error().code, ErrorCode::NotFound);
        // The ledger the other suites read keeps its meaning.
        QCOMPARE(m_redis->integer({"HGET", "fs:paysim:captured", QByteArray::number(ids[0])}), 1);
        QCOMPARE(m_redis->integer({"SCARD", "fs:paysim:keys:" + QByteArray::number(ids[0])}), 1);
    }

    void cleanLedgerHasNoDrift() {
        const qint64 a = order();
        QVERIFY(charge(a, key(a)));
        sql("UPDATE payments SET status = 'captured', provider_ref = '" + ref(a)
            + "' WHERE order_id = " + QByteArray::number(a));
        sql("UPDATE orders SET status = 'paid' WHERE id = " + QByteArray::number(a));
        const auto report = reconcile(false);
        QVERIFY2(report, qPrintable(report ? QString() : report.error().message));
        QVERIFY2(report->value("ok").toBool(), dump(*report));
        QCOMPARE(totalFound(*report), 0);
        QCOMPARE(report->value("window").toObject().value("listed").toInteger(), 1);
        QCOMPARE(report->value("mode").toString(), QStringLiteral("dry_run"));
        QCOMPARE(count("SELECT count(*) FROM provider_reconcile_runs WHERE ok AND mode = 'dry_run' "
                       "AND actor = 'alice'"),
                 1);
        QCOMPARE(count("SELECT count(*) FROM audit_log WHERE action = 'payments.reconcile' AND "
                       "actor = 'alice'"),
                 1);
    }

    // The charge went through at the provider, but its answer (or webhook) never arrived: the
    // order waits, pending. A repair pays it, once.
    void capturedButNotPaidIsRepaired() {
        const qint64 lost = order();
        const qint64 fine = order();
        QVERIFY(charge(lost, key(lost)));
        QVERIFY(charge(fine, key(fine)));
        sql("UPDATE payments SET status = 'captured', provider_ref = '" + ref(fine)
            + "' WHERE order_id = " + QByteArray::number(fine));
        sql("UPDATE orders SET status = 'paid' WHERE id = " + QByteArray::number(fine));

        const auto dry = reconcile(false);
        QVERIFY2(dry, qPrintable(dry ? QString() : dry.error().message));
        QVERIFY(!dry->value("ok").toBool());
        QCOMPARE(counts(*dry, "captured_not_paid"), (QList<qint64>{1, 0, 1}));
        QCOMPARE(totalFound(*dry), 1);
        const QJsonObject example =
            check(*dry, "captured_not_paid").value("examples").toArray().first().toObject();
        QCOMPARE(example.value("order_id").toInteger(), lost);
        QCOMPARE(example.value("action").toString(), QStringLiteral("repair"));
        QCOMPARE(example.value("payment_status").toString(), QStringLiteral("charging"));
        QCOMPARE(orderStatus(lost), QByteArray("pending")); // a dry run changes nothing

        const auto repaired = reconcile(true);
        QVERIFY2(repaired, qPrintable(repaired ? QString() : repaired.error().message));
        QVERIFY2(repaired->value("ok").toBool(), dump(*repaired));
        QCOMPARE(counts(*repaired, "captured_not_paid"), (QList<qint64>{1, 1, 0}));
        QCOMPARE(orderStatus(lost), QByteArray("paid"));
        QCOMPARE(paymentStatus(lost), QByteArray("captured"));
        QCOMPARE(
            sql("SELECT provider_ref FROM payments WHERE order_id = " + QByteArray::number(lost)),
            ref(lost));
        QCOMPARE(count("SELECT count(*) FROM outbox WHERE topic = 'order.paid' AND "
                       "(payload->>'order_id')::bigint = "
                       + QByteArray::number(lost)),
                 1);
        const qint64 runId = repaired->value("run_id").toInteger();
        QCOMPARE(sql("SELECT result || ',' || outcome || ',' || check_name || ',' || provider_ref "
                     "FROM provider_reconcile_repairs WHERE run_id = "
                     + QByteArray::number(runId) + " AND order_id = " + QByteArray::number(lost)),
                 "applied,succeeded,captured_not_paid," + ref(lost));
        QCOMPARE(count("SELECT count(*) FROM audit_log WHERE action = 'payments.reconcile.repair' "
                       "AND actor = 'alice' AND (detail->>'order_id')::bigint = "
                       + QByteArray::number(lost)
                       + " AND detail->>'result' = 'applied' AND "
                         "before->>'payment_status' = 'charging'"),
                 1);
        QCOMPARE(count("SELECT count(*) FROM audit_log WHERE action = 'payments.reconcile' AND "
                       "(detail->>'run_id')::bigint = "
                       + QByteArray::number(runId)),
                 1);
        // The next run finds nothing, and repairs nothing twice.
        const auto again = reconcile(true);
        QVERIFY2(again && again->value("ok").toBool() && totalFound(*again) == 0,
                 again ? dump(*again) : QByteArray());
        QCOMPARE(count("SELECT count(*) FROM provider_reconcile_repairs"), 1);
        QCOMPARE(count("SELECT count(*) FROM outbox WHERE topic = 'order.paid'"), 1);
        const QByteArray metrics = Metrics::instance().render();
        QVERIFY2(
            metrics.contains("flashsale_provider_reconcile_drift{check=\"captured_not_paid\"} 0"),
            metrics.constData());
    }

    // A charge the provider declined at first answer but captured later (a "succeeded" after a
    // "failed"): the money was taken for a cancelled order. The repair applies the capture, and
    // PaymentOutcomes queues the refund; the order stays cancelled.
    void declinedButCapturedQueuesTheRefund() {
        const qint64 id = order("declined", "cancelled");
        QVERIFY(charge(id, key(id)));
        const auto repaired = reconcile(true);
        QVERIFY2(repaired, qPrintable(repaired ? QString() : repaired.error().message));
        QCOMPARE(counts(*repaired, "captured_not_paid"), (QList<qint64>{1, 1, 0}));
        QCOMPARE(paymentStatus(id), QByteArray("refund_due"));
        QCOMPARE(orderStatus(id), QByteArray("cancelled"));
        QCOMPARE(sql("SELECT result FROM provider_reconcile_repairs WHERE order_id = "
                     + QByteArray::number(id)),
                 QByteArray("refund_queued"));
        const auto again = reconcile(false);
        QVERIFY2(again && totalFound(*again) == 0, again ? dump(*again) : QByteArray());
    }

    // Marked paid here, but the provider never captured anything: a person must look (was the
    // buyer charged elsewhere?). Flagged, never changed.
    void paidWithoutCaptureIsFlagged() {
        const qint64 id = order("captured", "paid", ref(99999));
        const qint64 declined = order("captured", "paid");
        SimulatorGateway decliner(*m_client, 0, 100, false); // declines every order
        QVERIFY(!charge(declined, key(declined), &decliner));

        const auto report = reconcile(true);
        QVERIFY2(report, qPrintable(report ? QString() : report.error().message));
        QVERIFY(!report->value("ok").toBool());
        QCOMPARE(counts(*report, "paid_not_captured"), (QList<qint64>{2, 0, 2}));
        const QJsonArray examples = check(*report, "paid_not_captured").value("examples").toArray();
        QCOMPARE(examples.size(), 2);
        QCOMPARE(examples[0].toObject().value("order_id").toInteger(), id);
        QCOMPARE(examples[0].toObject().value("action").toString(), QStringLiteral("flag"));
        QCOMPARE(examples[1]
                     .toObject()
                     .value("provider_payments")
                     .toArray()
                     .first()
                     .toObject()
                     .value("status")
                     .toString(),
                 QStringLiteral("declined"));
        QCOMPARE(orderStatus(id), QByteArray("paid"));
        QCOMPARE(paymentStatus(id), QByteArray("captured"));
        QCOMPARE(count("SELECT count(*) FROM provider_reconcile_repairs"), 0);
        QCOMPARE(count("SELECT count(*) FROM audit_log WHERE action = 'payments.reconcile' AND "
                       "(detail #>> '{checks,paid_not_captured,found}')::int = 2"),
                 1);
        const QByteArray metrics = Metrics::instance().render();
        QVERIFY2(
            metrics.contains("flashsale_provider_reconcile_drift{check=\"paid_not_captured\"} 2"),
            metrics.constData());
        // Still there next time: flags stay until a person resolves them.
        const auto again = reconcile(true);
        QVERIFY(again);
        QCOMPARE(counts(*again, "paid_not_captured"), (QList<qint64>{2, 0, 2}));
    }

    // The provider refunded a paid order (from its dashboard, say): the money is back with the
    // buyer, the order still says paid. Cancelling it is a person's call: flagged, not changed.
    void refundedAtProviderIsFlagged() {
        const qint64 id = order("captured", "paid");
        sql("UPDATE payments SET provider_ref = 'sim-order-' || order_id WHERE order_id = "
            + QByteArray::number(id));
        QVERIFY(charge(id, key(id)));
        QVERIFY(refund(id, ref(id)));
        const auto report = reconcile(true);
        QVERIFY2(report, qPrintable(report ? QString() : report.error().message));
        QCOMPARE(counts(*report, "refunded_not_cancelled"), (QList<qint64>{1, 0, 1}));
        QCOMPARE(totalFound(*report), 1);
        QCOMPARE(orderStatus(id), QByteArray("paid"));
        QCOMPARE(paymentStatus(id), QByteArray("captured"));
        QCOMPARE(count("SELECT count(*) FROM provider_reconcile_repairs"), 0);
    }

    // We asked for the refund (refund_due) and the provider made it, but its answer was lost:
    // the repair records it.
    void lostRefundAnswerIsRepaired() {
        const qint64 id = order("refund_due", "cancelled");
        sql("UPDATE payments SET provider_ref = 'sim-order-' || order_id WHERE order_id = "
            + QByteArray::number(id));
        QVERIFY(charge(id, key(id)));
        QVERIFY(refund(id, ref(id)));
        const auto report = reconcile(true);
        QVERIFY2(report, qPrintable(report ? QString() : report.error().message));
        QVERIFY2(report->value("ok").toBool(), dump(*report));
        QCOMPARE(counts(*report, "refunded_not_cancelled"), (QList<qint64>{1, 1, 0}));
        QCOMPARE(paymentStatus(id), QByteArray("refunded"));
        QCOMPARE(orderStatus(id), QByteArray("cancelled"));
        const auto again = reconcile(false);
        QVERIFY2(again && again->value("ok").toBool() && totalFound(*again) == 0,
                 again ? dump(*again) : QByteArray());
    }

    // Two charges of one order under two keys (I5 broken): flagged with both payments; a
    // person refunds one, and then it is no longer drift.
    void doubleChargeIsFlagged() {
        const qint64 id = order("captured", "paid");
        sql("UPDATE payments SET provider_ref = 'sim-order-' || order_id WHERE order_id = "
            + QByteArray::number(id));
        QVERIFY(charge(id, key(id)));
        QVERIFY(charge(id, key(id) + "-again"));
        const auto report = reconcile(true);
        QVERIFY2(report, qPrintable(report ? QString() : report.error().message));
        QCOMPARE(counts(*report, "double_charge"), (QList<qint64>{1, 0, 1}));
        QCOMPARE(totalFound(*report), 1);
        const QJsonObject example =
            check(*report, "double_charge").value("examples").toArray().first().toObject();
        QCOMPARE(example.value("order_id").toInteger(), id);
        QCOMPARE(example.value("provider_payments").toArray().size(), 2);
        QCOMPARE(orderStatus(id), QByteArray("paid"));
        QVERIFY(refund(id, "sim-" + key(id) + "-again"));
        const auto after = reconcile(true);
        QVERIFY2(after && after->value("ok").toBool() && totalFound(*after) == 0,
                 after ? dump(*after) : QByteArray());
    }

    // Provider payments that name no order here, or an order with no payment row: flagged.
    void unknownOrdersAreFlagged() {
        const qint64 unclaimed = order({});
        QVERIFY(charge(unclaimed, key(unclaimed)));
        QVERIFY(charge(987654321, key(987654321)));
        const auto report = reconcile(true);
        QVERIFY2(report, qPrintable(report ? QString() : report.error().message));
        QCOMPARE(counts(*report, "captured_not_paid"), (QList<qint64>{2, 0, 2}));
        QCOMPARE(orderStatus(unclaimed), QByteArray("pending"));
    }

    // The cursor: a run moves it to the last payment older than the look-back, so the next run
    // lists only what is newer; a ledger that no longer knows the cursor is listed from the
    // start.
    void theCursorBoundsEachRun() {
        ProviderReconciler::Limits limits;
        limits.graceMs = 0;
        limits.lookbackMs = 0; // everything listed is behind the look-back
        limits.pageSize = 2;
        ProviderReconciler reconciler(*m_pg, *m_gateway, *m_outcomes, limits);
        auto run = [&reconciler]() -> Result<QJsonObject> {
            std::optional<Result<QJsonObject>> result;
            reconciler.run({false, QStringLiteral("bob"), ProviderReconciler::Trigger::Operator},
                           [&result](const Result<QJsonObject> &r) { result = r; });
            if (!QTest::qWaitFor([&result] { return result.has_value(); }, 30000))
                return fail(ErrorCode::Timeout, QStringLiteral("no answer"));
            return *result;
        };
        QList<qint64> ids;
        for (int i = 0; i < 5; ++i) {
            ids << order("captured", "paid");
            sql("UPDATE payments SET provider_ref = 'sim-order-' || order_id WHERE order_id = "
                + QByteArray::number(ids.last()));
            QVERIFY(charge(ids.last(), key(ids.last())));
        }
        QTest::qWait(5); // the payments are older than this run's start
        const auto first = run();
        QVERIFY2(first, qPrintable(first ? QString() : first.error().message));
        QVERIFY2(first->value("ok").toBool(), dump(*first));
        const QJsonObject w = first->value("window").toObject();
        QCOMPARE(w.value("listed").toInteger(), 5);
        QCOMPARE(w.value("pages").toInteger(), 3);
        QCOMPARE(w.value("next_cursor").toString(), QString::fromUtf8(ref(ids.last())));

        const qint64 late = order();
        QVERIFY(charge(late, key(late)));
        QTest::qWait(5);
        const auto second = run();
        QVERIFY(second);
        QCOMPARE(second->value("window").toObject().value("after").toString(),
                 QString::fromUtf8(ref(ids.last())));
        QCOMPARE(second->value("window").toObject().value("listed").toInteger(), 1);
        QCOMPARE(counts(*second, "captured_not_paid"), (QList<qint64>{1, 0, 1}));

        m_redis->command({"FLUSHALL"}); // the provider's ledger starts again
        const auto third = run();
        QVERIFY2(third, qPrintable(third ? QString() : third.error().message));
        QVERIFY(third->value("window").toObject().value("cursor_reset").toBool());
        QCOMPARE(third->value("window").toObject().value("listed").toInteger(), 0);
    }

    // A run looks at no more than maxRepairs suspect orders; the others are counted under
    // their check, so the report's totals stay true.
    void suspectsBeyondTheLimitAreCounted() {
        ProviderReconciler::Limits limits;
        limits.graceMs = 0;
        limits.pageSize = 2;
        limits.maxRepairs = 2;
        ProviderReconciler reconciler(*m_pg, *m_gateway, *m_outcomes, limits);
        const qint64 paid = order("captured", "paid");
        sql("UPDATE payments SET provider_ref = 'sim-order-' || order_id WHERE order_id = "
            + QByteArray::number(paid));
        QVERIFY(charge(paid, key(paid)));
        QVERIFY(charge(paid, key(paid) + "-again"));
        for (qint64 unknown = 987654321; unknown < 987654324; ++unknown)
            QVERIFY(charge(unknown, key(unknown)));
        std::optional<Result<QJsonObject>> report;
        reconciler.run({false, QStringLiteral("bob"), ProviderReconciler::Trigger::Operator},
                       [&report](const Result<QJsonObject> &r) { report = r; });
        QTRY_VERIFY(report.has_value());
        QVERIFY2(*report, qPrintable(*report ? QString() : report->error().message));
        const QJsonObject &r = **report;
        QCOMPARE(r.value("window").toObject().value("listed").toInteger(), 5);
        QCOMPARE(counts(r, "double_charge"), (QList<qint64>{1, 0, 1}));
        QCOMPARE(counts(r, "captured_not_paid"), (QList<qint64>{3, 0, 3}));
        // Listed: the two lowest order ids among the suspects.
        QCOMPARE(check(r, "double_charge").value("examples").toArray().size(), 1);
        const QJsonArray listed = check(r, "captured_not_paid").value("examples").toArray();
        QCOMPARE(listed.size(), 1);
        QCOMPARE(listed[0].toObject().value("order_id").toInteger(), 987654321);
        QVERIFY(!r.value("ok").toBool());
    }

    void oneRunAtATime() {
        std::optional<Result<QJsonObject>> a, b;
        m_reconciler->run({}, [&a](const Result<QJsonObject> &r) { a = r; });
        m_reconciler->run({}, [&b](const Result<QJsonObject> &r) { b = r; });
        QTRY_VERIFY(a.has_value() && b.has_value());
        QVERIFY(*a);
        QCOMPARE(b->error().code, ErrorCode::Conflict);
    }

    // Not a timed test: a measurement, run on demand (FLASHSALE_TEST_BENCH=1). 20,000 paid
    // orders the provider captured (clean), then 2,000 more whose answers were lost: the time
    // of a dry run over all of them, and of the repair of the 2,000.
    void measureRunAndRepair() {
        if (qEnvironmentVariable("FLASHSALE_TEST_BENCH") != QLatin1String("1"))
            QSKIP("a measurement: set FLASHSALE_TEST_BENCH=1");
        // FLASHSALE_TEST_BENCH_PAYMENTS sets the clean payments (the peak memory of a run must
        // not follow them).
        const int clean = qEnvironmentVariableIntValue("FLASHSALE_TEST_BENCH_PAYMENTS") > 0
                              ? qEnvironmentVariableIntValue("FLASHSALE_TEST_BENCH_PAYMENTS")
                              : 20000;
        const int lost = 2000;
        sql("INSERT INTO orders (reservation_id, sale_id, item_id, user_id, quantity, "
            "amount_cents, "
            "status, accepted_at, expires_at) SELECT 'bench-' || g, 1, 1, 'u' || g, 1, 300, "
            "CASE WHEN g <= "
            + QByteArray::number(clean)
            + " THEN 'paid' ELSE 'pending' END, now(), now() + interval '10 minutes' "
              "FROM generate_series(1, "
            + QByteArray::number(clean + lost) + ") g");
        sql("INSERT INTO payments (order_id, status, amount_cents, provider, provider_ref) "
            "SELECT id, CASE WHEN status = 'paid' THEN 'captured' ELSE 'charging' END, 300, "
            "'simulator', 'sim-order-' || id FROM orders");
        // The provider's ledger, as SimulatorGateway writes it, created a minute ago.
        m_redis->command(
            {"EVAL",
             "local t = redis.call('TIME') local ms = tonumber(t[1]) * 1000 - 60000 "
             "for i = 1, tonumber(ARGV[1]) do local id = 'sim-order-' .. i "
             "redis.call('ZADD', KEYS[1], i, id) redis.call('HSET', KEYS[2], id, cjson.encode({id "
             "= id, order_id = tostring(i), status = 'succeeded', amount_cents = 300, created_ms "
             "= ms, idempotency_key = 'order-' .. i})) end return 1",
             "2", "fs:{paysim}:payments", "fs:{paysim}:payment", QByteArray::number(clean + lost)});
        QElapsedTimer t;
        t.start();
        const auto dry = reconcile(false, QStringLiteral("alice"), 300000);
        const qint64 dryMs = t.elapsed();
        QVERIFY(dry);
        QCOMPARE(counts(*dry, "captured_not_paid"), (QList<qint64>{lost, 0, lost}));
        t.restart();
        const auto repaired = reconcile(true, QStringLiteral("alice"), 300000);
        const qint64 repairMs = t.elapsed();
        QVERIFY(repaired);
        QCOMPARE(counts(*repaired, "captured_not_paid"), (QList<qint64>{lost, lost, 0}));
        qInfo("provider reconciliation: dry run over %d payments: %lld ms; repair of %d lost "
              "answers: %lld ms (%.0f repairs/s)",
              clean + lost, dryMs, lost, repairMs, lost * 1000.0 / std::max<qint64>(1, repairMs));
    }

    // An operator's view: payments.reconcile through flashsale-ctl against a real API process.
    // A merchandiser may look (exit 4: drift) but not repair; an admin repairs, and the records
    // name them.
    void operatorsReconcileWithTheCtl() {
        Backend api;
        QVERIFY2(api.start({{"FLASHSALE_ROLES", "api"},
                            {"FLASHSALE_REDIS_URL", m_redisServer.url()},
                            {"FLASHSALE_PG_URL", m_db.url()}}),
                 qPrintable(api.error()));
        for (const auto &[name, role] : {std::pair{"alice", "admin"}, {"mia", "merchandiser"}}) {
            const CtlOutput created =
                ctl(api, {"operator", "create", name, "--role", role, "--new-password-file", "-"},
                    {}, QByteArray(name) + "-password-0001\n");
            QVERIFY2(created.exitCode == 0, created.err.constData());
        }
        const qint64 lost = order();
        QVERIFY(charge(lost, key(lost)));
        age(ref(lost), 120000); // beyond the server's grace for answers in flight

        const CtlOutput look = ctl(api, {"payments", "reconcile"}, "mia");
        QVERIFY2(look.exitCode == 4, look.out + look.err + "\nzcard "
                                         + m_redis->one({"ZCARD", "fs:{paysim}:payments"}) + "\n"
                                         + api.log().right(3000));
        QVERIFY2(look.out.contains("captured_not_paid") && look.out.contains("DRIFT LEFT"),
                 look.out.constData());
        QVERIFY2(look.out.contains(QByteArray::number(lost)), look.out.constData());

        const CtlOutput refused = ctl(api, {"payments", "reconcile", "--repair"}, "mia");
        QCOMPARE(refused.exitCode, 1);
        QVERIFY2(refused.err.contains("admin"), refused.err.constData());
        QCOMPARE(orderStatus(lost), QByteArray("pending"));

        const CtlOutput repaired =
            ctl(api, {"--json", "payments", "reconcile", "--repair"}, "alice");
        QVERIFY2(repaired.exitCode == 0, repaired.out + repaired.err);
        const QJsonObject report = QJsonDocument::fromJson(repaired.out.trimmed()).object();
        QCOMPARE(report.value("actor").toString(), QStringLiteral("alice"));
        QCOMPARE(counts(report, "captured_not_paid"), (QList<qint64>{1, 1, 0}));
        QCOMPARE(orderStatus(lost), QByteArray("paid"));
        QCOMPARE(count("SELECT count(*) FROM audit_log WHERE action = 'payments.reconcile.repair' "
                       "AND actor = 'alice'"),
                 1);

        const CtlOutput runs = ctl(api, {"payments", "runs"}, "mia");
        QVERIFY2(runs.exitCode == 0, runs.err.constData());
        QVERIFY2(runs.out.contains("alice") && runs.out.contains("mia")
                     && runs.out.contains("repair") && runs.out.contains("dry_run"),
                 runs.out.constData());
        const CtlOutput bad = ctl(api, {"payments", "runs", "--limit", "0"}, "mia");
        QVERIFY2(bad.exitCode != 0, bad.out.constData());
    }

    // The payment role's periodic job repairs a lost answer by itself, as the scheduler.
    void thePaymentRoleReconcilesPeriodically() {
        auto kafka = KafkaMockCluster::create(1, topics::orderLifecycle(), 2);
        QVERIFY(kafka.has_value());
        std::unique_ptr<KafkaMockCluster> cluster(*kafka);
        const qint64 lost = order();
        QVERIFY(charge(lost, key(lost)));
        age(ref(lost), 120000);
        Backend payment;
        QVERIFY2(payment.start({{"FLASHSALE_ROLES", "payment"},
                                {"FLASHSALE_REDIS_URL", m_redisServer.url()},
                                {"FLASHSALE_PG_URL", m_db.url()},
                                {"FLASHSALE_KAFKA_BROKERS", cluster->bootstraps()},
                                {"FLASHSALE_PROVIDER_RECONCILE_INTERVAL_S", "1"}}),
                 qPrintable(payment.error()));
        if (!QTest::qWaitFor([&] { return orderStatus(lost) == "paid"; }, 20000))
            QFAIL(payment.log().right(4000).constData());
        QCOMPARE(count("SELECT count(*) FROM provider_reconcile_runs WHERE trigger = 'schedule' "
                       "AND mode = 'repair' AND actor LIKE 'scheduler@%' AND listed = 1"),
                 count("SELECT count(*) FROM provider_reconcile_runs"));
        QCOMPARE(count("SELECT count(*) FROM audit_log WHERE action = 'payments.reconcile.repair' "
                       "AND actor LIKE 'scheduler@%'"),
                 1);
        // Later runs find nothing more.
        QTRY_VERIFY_WITH_TIMEOUT(
            count("SELECT count(*) FROM provider_reconcile_runs WHERE ok") >= 2, 10000);
        QCOMPARE(count("SELECT count(*) FROM provider_reconcile_repairs"), 1);
        const QByteArray metrics = http(payment.metricsPort(), "GET", "/metrics").body;
        QVERIFY2(
            metrics.contains("flashsale_provider_reconcile_drift{check=\"captured_not_paid\"} 0"),
            metrics.constData());
    }
};

QTEST_GUILESS_MAIN(TstProviderReconcile)
#include "tst_providerreconcile.moc"
