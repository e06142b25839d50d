// --redis-wait-replicas (issue 21, item 4): an accepted booking is answered 202 only once a
// Redis replica has it. Against a real primary and a real replica (REPLICAOF), with the real
// server: with the replica attached the booking is readable on the replica the moment the 202
// arrives; with it detached the booking is answered 503 yet stands on the primary, and the
// retry with the same Idempotency-Key, once the replica is back, is answered 202.

#include "booking/salekeys.h"
#include "rawhttp.h"
#include "testservers.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonObject>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

class TestReplicaWait : public QObject {
    Q_OBJECT

private:
    RedisServer m_primary;
    RedisServer m_replica;
    PgDatabase m_db;
    Backend m_backend;
    std::unique_ptr<RedisSync> m_onPrimary;
    std::unique_ptr<RedisSync> m_onReplica;
    qint64 m_sale = 0;

    // Replication of the replica from the primary, and wait until the link is up and synced.
    bool attach() {
        m_onReplica->command({"REPLICAOF", "127.0.0.1", QByteArray::number(m_primary.port())});
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < 15000) {
            const QByteArray info = m_onReplica->one({"INFO", "replication"});
            if (info.contains("master_link_status:up")
                && !info.contains("master_sync_in_progress:1")
                && m_onPrimary->one({"INFO", "replication"}).contains("connected_slaves:1"))
                return true;
            QTest::qWait(50);
        }
        return false;
    }

    HttpResponse book(const QByteArray &user, const QByteArray &key) {
        return http(m_backend.port(), "POST",
                    "/api/v1/sales/" + QByteArray::number(m_sale) + "/book",
                    "{\"quantity\":1,\"user_id\":\"" + user + "\"}",
                    {{"Content-Type", "application/json"}, {"Idempotency-Key", key}});
    }

    qint64 remaining() {
        return m_onPrimary->integer({"HGET", SaleKeys(m_sale).stock(),
                                     m_onPrimary->hash(SaleKeys(m_sale).stock()).keys().value(0)});
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_primary.start(), qPrintable(m_primary.error()));
        QVERIFY2(m_replica.start(), qPrintable(m_replica.error()));
        m_onPrimary = std::make_unique<RedisSync>(m_primary.port());
        m_onReplica = std::make_unique<RedisSync>(m_replica.port());
        QVERIFY(attach());
        QVERIFY2(m_db.create(), qPrintable(m_db.error()));
        QVERIFY2(m_backend.start({{"FLASHSALE_REDIS_URL", m_primary.url()},
                                  {"FLASHSALE_PG_URL", m_db.url()},
                                  {"FLASHSALE_ROLES", "api"},
                                  {"FLASHSALE_REDIS_WAIT_REPLICAS", "1"},
                                  {"FLASHSALE_REDIS_WAIT_TIMEOUT_MS", "200"}}),
                 qPrintable(m_backend.error()));
        QTRY_COMPARE_WITH_TIMEOUT(http(m_backend.port(), "GET", "/readyz").status, 200, 10000);
        const HttpResponse r = postJson(m_backend.port(), "/api/v1/admin/sales",
                                        QJsonObject{{"name", "replicated"},
                                                    {"stock", 5},
                                                    {"price_cents", 100},
                                                    {"per_user_limit", 1},
                                                    {"starts_at", rfc3339(-1000)},
                                                    {"ends_at", rfc3339(3600000)}},
                                        Backend::kAdminToken);
        QVERIFY2(r.status == 201, r.body.constData());
        m_sale = r.json().value("id").toInteger();
    }

    // The 202 means the replica has the booking: read there, it is already present.
    void acceptedIsOnTheReplica() {
        const HttpResponse r = book("alice", "alice-1");
        QVERIFY2(r.status == 202, r.body.constData());
        const QByteArray rid = r.json().value("reservation_id").toString().toUtf8();
        QVERIFY(!rid.isEmpty());
        QCOMPARE(m_onReplica->integer({"EXISTS", SaleKeys(m_sale).reservation(rid)}), 1);
        QCOMPARE(remaining(), 4);
    }

    // No replica: 503 (retryable), and the booking stands on the primary; once the replica is
    // back, the retry with the same key gets the booking's 202, and the replica has it.
    void unreplicatedIs503ThenTheRetryIs202() {
        m_onReplica->command({"REPLICAOF", "NO", "ONE"});
        QTRY_VERIFY_WITH_TIMEOUT(
            m_onPrimary->one({"INFO", "replication"}).contains("connected_slaves:0"), 10000);
        const HttpResponse refused = book("bob", "bob-1");
        QCOMPARE(refused.status, 503);
        QCOMPARE(refused.problemType(), QStringLiteral("/problems/backend-unavailable"));
        QVERIFY2(refused.body.contains("replicas"), refused.body.constData());
        QCOMPARE(remaining(), 3); // taken, not lost: the retry below finds it

        QVERIFY(attach());
        const HttpResponse retried = book("bob", "bob-1");
        QVERIFY2(retried.status == 202, retried.body.constData());
        const QByteArray rid = retried.json().value("reservation_id").toString().toUtf8();
        QCOMPARE(m_onReplica->integer({"EXISTS", SaleKeys(m_sale).reservation(rid)}), 1);
        QCOMPARE(remaining(), 3); // the same booking, not a second one
    }

    // Refusals wait for nothing: sold out is answered at once, replica or not.
    void refusalsDoNotWait() {
        m_onReplica->command({"REPLICAOF", "NO", "ONE"});
        QTRY_VERIFY_WITH_TIMEOUT(
            m_onPrimary->one({"INFO", "replication"}).contains("connected_slaves:0"), 10000);
        const HttpResponse again = book("alice", "alice-2"); // over her limit of 1
        QCOMPARE(again.status, 409);
        QCOMPARE(again.problemType(), QStringLiteral("/problems/per-user-limit"));
    }
};

QTEST_GUILESS_MAIN(TestReplicaWait)
#include "tst_replicawait.moc"
