// RedisSubscriber against a real redis-server with a password, and the scripts that give stock
// back: each publishes the sale's id on flashsale:stock-back exactly when an item goes from 0
// to above (issue 18 item 2), and a subscriber that lost its connection subscribes again.

#include "booking/salekeys.h"
#include "redis/redisclient.h"
#include "redis/redisscript.h"
#include "redis/redissubscriber.h"
#include "testservers.h"

#include <QSignalSpy>
#include <QTest>

using namespace flashsale;
using namespace flashsale::test;

namespace {

constexpr char kPassword[] = "subscriber-secret";
constexpr char kChannel[] = "flashsale:stock-back";

} // namespace

class TestRedisSubscriber : public QObject {
    Q_OBJECT

private:
    RedisServer m_redisServer;
    std::unique_ptr<RedisSync> m_redis;
    std::unique_ptr<RedisSubscriber> m_subscriber;
    std::unique_ptr<QSignalSpy> m_subscribed;
    std::unique_ptr<QSignalSpy> m_unsubscribed;
    std::unique_ptr<QSignalSpy> m_messages;
    qint64 m_nextSale = 100;

    // The payloads heard on flashsale:stock-back from message `from` on.
    QByteArrayList payloads(qsizetype from) const {
        QByteArrayList out;
        for (qsizetype i = from; i < m_messages->size(); ++i) {
            if (m_messages->at(i).at(0).toByteArray() == kChannel)
                out << m_messages->at(i).at(1).toByteArray();
        }
        return out;
    }

    QList<QByteArray> eval(const QString &script, const QList<QByteArray> &keys,
                           const QList<QByteArray> &args) {
        return m_redis->command(QList<QByteArray>{"EVAL", RedisScript::load(script).body,
                                                  QByteArray::number(keys.size())}
                                + keys + args);
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY2(m_redisServer.start(), qPrintable(m_redisServer.error()));
        m_redis = std::make_unique<RedisSync>(m_redisServer.port());
        // A password from here on: the subscriber must AUTH (this connection stays logged in).
        QCOMPARE(m_redis->one({"CONFIG", "SET", "requirepass", kPassword}), QByteArray("OK"));
        auto endpoint = RedisClient::Endpoint::fromUrl(
            QStringLiteral("redis://:%1@127.0.0.1:%2/3").arg(kPassword).arg(m_redisServer.port()));
        QVERIFY(endpoint);
        m_subscriber = std::make_unique<RedisSubscriber>(*endpoint, QByteArrayList{kChannel});
        m_subscribed =
            std::make_unique<QSignalSpy>(m_subscriber.get(), &RedisSubscriber::subscribed);
        m_unsubscribed =
            std::make_unique<QSignalSpy>(m_subscriber.get(), &RedisSubscriber::unsubscribed);
        m_messages = std::make_unique<QSignalSpy>(m_subscriber.get(), &RedisSubscriber::message);
        m_subscriber->start();
        QTRY_COMPARE(m_subscribed->size(), 1);
        QVERIFY(m_subscriber->isSubscribed());
        QCOMPARE(m_unsubscribed->size(), 0);
    }

    // One row per way stock is written back. Each row's sale has one item, "1", with `stock`
    // units and one hold of 1 unit (res:r1 of user u, counted in users and units_accepted).
    void scriptsPublishWhenAnItemComesBackFromZero_data() {
        QTest::addColumn<QString>("script");
        QTest::addColumn<int>("stock");
        QTest::addColumn<int>("units"); // released / added / taken (negative)
        QTest::addColumn<bool>("published");

        QTest::addRow("release: an expired hold of a sold-out item") << "release" << 0 << 1 << true;
        QTest::addRow("release: units were left") << "release" << 3 << 1 << false;
        QTest::addRow("release: released before") << "release-again" << 0 << 1 << false;
        QTest::addRow("adjust: a merchant adds to a sold-out item") << "adjust" << 0 << 2 << true;
        QTest::addRow("adjust: adds where units are left") << "adjust" << 1 << 2 << false;
        QTest::addRow("adjust: takes away") << "adjust" << 2 << -1 << false;
        QTest::addRow("reconcile: +1 to a sold-out item") << "reconcile_apply" << 0 << 1 << true;
        QTest::addRow("reconcile: -1") << "reconcile_apply" << 1 << -1 << false;
        QTest::addRow("warm: a sale not in Redis") << "warm" << 5 << 0 << true;
        QTest::addRow("warm: a sale already warm") << "warm-again" << 5 << 0 << false;
    }

    void scriptsPublishWhenAnItemComesBackFromZero() {
        QFETCH(QString, script);
        QFETCH(int, stock);
        QFETCH(int, units);
        QFETCH(bool, published);

        const qint64 sale = ++m_nextSale;
        const QByteArray id = QByteArray::number(sale);
        const SaleKeys k(sale);
        const QByteArray n = QByteArray::number(units);
        const bool warm = script.startsWith(QLatin1String("warm"));
        if (!warm || script == QLatin1String("warm-again")) {
            m_redis->command({"HSET", k.stock(), "1", QByteArray::number(stock)});
            m_redis->command({"HSET", k.meta(), "state", "active", "units_accepted", "1"});
            m_redis->command({"HSET", k.users(), "u", "1"});
            m_redis->command({"HSET", k.reservation("r1"), "user", "u", "item", "1", "qty", "1",
                              "status", "held"});
        }
        if (script == QLatin1String("release-again"))
            m_redis->command({"SADD", k.released(), "r1"});
        const qsizetype before = m_messages->size();

        if (script.startsWith(QLatin1String("release"))) {
            eval(QStringLiteral("release"),
                 {k.stock(), k.users(), k.released(), k.reservation("r1"), k.meta()},
                 {"r1", "1", "u", n, "expire"});
        } else if (script == QLatin1String("adjust")) {
            QCOMPARE(eval(script, {k.stock()}, {"1", n}).value(0), QByteArray("ok"));
        } else if (script == QLatin1String("reconcile_apply")) {
            eval(script, {k.stock(), k.users(), k.released(), k.meta()}, {"1", "0", "0", "1", n});
        } else {
            const qint64 now = nowMs();
            eval(QStringLiteral("warm"),
                 {k.meta(), k.stock(), k.price(), k.items(), k.waitingRoomMeta()},
                 {"active",
                  QByteArray::number(now - 1000),
                  QByteArray::number(now + 3600000),
                  "5",
                  "0",
                  "0",
                  "600000",
                  "sale",
                  "0",
                  "0",
                  "0",
                  "0",
                  "0",
                  "0",
                  "0",
                  "",
                  "1",
                  QByteArray::number(stock),
                  "100",
                  "item"});
        }
        // Channel messages arrive in the order Redis ran the commands: once this one is heard,
        // everything the script published has been.
        m_redis->command({"PUBLISH", kChannel, "end-" + id});
        QTRY_VERIFY(payloads(before).contains("end-" + id));
        const QByteArrayList expected =
            published ? QByteArrayList{id, "end-" + id} : QByteArrayList{"end-" + id};
        QCOMPARE(payloads(before), expected);
    }

    // Pub/sub keeps nothing for a subscriber that is away: after its connection is cut it
    // subscribes again by itself and says so, and hears what is published from then on.
    void subscribesAgainAfterTheConnectionIsLost() {
        QCOMPARE(m_redis->integer({"CLIENT", "KILL", "TYPE", "pubsub"}), 1);
        QTRY_COMPARE(m_unsubscribed->size(), 1);
        QTRY_COMPARE(m_subscribed->size(), 2);
        QVERIFY(m_subscriber->isSubscribed());
        const qsizetype before = m_messages->size();
        QCOMPARE(m_redis->integer({"PUBLISH", kChannel, "7"}), 1);
        const QByteArrayList expected{"7"};
        QTRY_COMPARE(payloads(before), expected);
    }
};

QTEST_GUILESS_MAIN(TestRedisSubscriber)
#include "tst_redissubscriber.moc"
