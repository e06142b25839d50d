// redisslots.h without a server: CRC16-XMODEM, the hash-tag rules and the first-key finder, on
// the examples of the Redis Cluster specification. tests/redis/tst_rediscluster.cpp checks many
// more keys against CLUSTER KEYSLOT on a real cluster.

#include "redis/redisslots.h"

#include <QTest>

using namespace flashsale;

class TestRedisSlots : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void crc16OfTheSpecExample() {
        // The check value of CRC16-XMODEM, quoted in the cluster specification.
        QCOMPARE(redisCrc16("123456789"), quint16(0x31C3));
        QCOMPARE(redisCrc16(""), quint16(0));
    }

    void hashTag_data() {
        QTest::addColumn<QByteArray>("key");
        QTest::addColumn<QByteArray>("hashed");
        QTest::addRow("no braces") << QByteArray("foo") << QByteArray("foo");
        QTest::addRow("sale tag") << QByteArray("{sale:7}:stock") << QByteArray("sale:7");
        QTest::addRow("spec: user1000")
            << QByteArray("{user1000}.following") << QByteArray("user1000");
        QTest::addRow("spec: first tag wins") << QByteArray("foo{bar}{zap}") << QByteArray("bar");
        QTest::addRow("spec: empty first tag, whole key")
            << QByteArray("foo{}{bar}") << QByteArray("foo{}{bar}");
        QTest::addRow("spec: nested open brace")
            << QByteArray("foo{{bar}}zap") << QByteArray("{bar");
        QTest::addRow("tag in the middle") << QByteArray("a{b}c") << QByteArray("b");
        QTest::addRow("open brace only") << QByteArray("foo{bar") << QByteArray("foo{bar");
        QTest::addRow("close before open") << QByteArray("}foo{") << QByteArray("}foo{");
        QTest::addRow("just {}") << QByteArray("{}") << QByteArray("{}");
        QTest::addRow("empty key") << QByteArray("") << QByteArray("");
    }
    void hashTag() {
        QFETCH(QByteArray, key);
        QFETCH(QByteArray, hashed);
        QCOMPARE(redisHashTag(key).toByteArray(), hashed);
    }

    void keysWithOneTagShareASlot() {
        QCOMPARE(redisKeySlot("{sale:42}:stock"), redisKeySlot("{sale:42}:holds"));
        QCOMPARE(redisKeySlot("{sale:42}:stock"), redisKeySlot("sale:42"));
        QCOMPARE(redisKeySlot("123456789"), 0x31C3 & 16383);
    }

    void firstKey_data() {
        QTest::addColumn<QList<QByteArray>>("argv");
        QTest::addColumn<qsizetype>("index");
        using L = QList<QByteArray>;
        QTest::addRow("GET") << L{"GET", "k"} << qsizetype(1);
        QTest::addRow("lower-case set") << L{"set", "k", "v"} << qsizetype(1);
        QTest::addRow("EVALSHA 2 keys") << L{"EVALSHA", "sha", "2", "a", "b", "x"} << qsizetype(3);
        QTest::addRow("EVAL no keys") << L{"EVAL", "return 1", "0"} << qsizetype(-1);
        QTest::addRow("FCALL") << L{"FCALL", "f", "1", "k"} << qsizetype(3);
        QTest::addRow("XREADGROUP")
            << L{"XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "STREAMS", "s", ">"}
            << qsizetype(7);
        QTest::addRow("XREAD") << L{"XREAD", "BLOCK", "0", "STREAMS", "s", "$"} << qsizetype(4);
        QTest::addRow("OBJECT ENCODING") << L{"OBJECT", "ENCODING", "k"} << qsizetype(2);
        QTest::addRow("XINFO GROUPS") << L{"XINFO", "GROUPS", "k"} << qsizetype(2);
        QTest::addRow("XGROUP CREATE")
            << L{"XGROUP", "CREATE", "k", "g", "0", "MKSTREAM"} << qsizetype(2);
        QTest::addRow("PING") << L{"PING"} << qsizetype(-1);
        QTest::addRow("INFO section") << L{"INFO", "replication"} << qsizetype(-1);
        QTest::addRow("SCRIPT LOAD") << L{"SCRIPT", "LOAD", "return 1"} << qsizetype(-1);
        QTest::addRow("CLUSTER SLOTS") << L{"CLUSTER", "SLOTS"} << qsizetype(-1);
    }
    void firstKey() {
        QFETCH(QList<QByteArray>, argv);
        QFETCH(qsizetype, index);
        QCOMPARE(redisFirstKeyIndex(argv), index);
    }
};

QTEST_GUILESS_MAIN(TestRedisSlots)
#include "tst_redisslots.moc"
