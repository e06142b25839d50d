// The stream entry of a sale (booking/streamentry.h): what the worker makes of an entry, each
// reason it refuses one, the writer and the parser agreeing, and the order of stream ids.

#include "booking/streamentry.h"
#include "redis/redisvalue.h"

#include <QTest>

using namespace flashsale;

Q_DECLARE_METATYPE(flashsale::OrderRow)

namespace {

constexpr qint64 kSale = 42;
const QByteArray kRid = "42-0123456789abcdef0123456789abcdef";

// An entry of sale 42 from a flat name/value list.
StreamEntry entry(const QByteArrayList &flat) {
    StreamEntry e{kSale, "1700000000000-0", {}};
    for (qsizetype i = 0; i + 1 < flat.size(); i += 2)
        e.fields.append({flat[i], flat[i + 1]});
    return e;
}

// A book entry as book.lua writes it, with `name` set to `value` ("" removes the field).
StreamEntry bookWith(const QByteArray &name, const QByteArray &value) {
    QByteArrayList flat{
        "type", "book", "rid",   kRid,  "user", "alice",         "item",       "7",
        "qty",  "2",    "price", "150", "ts",   "1700000000000", "expires_ms", "1700000300000"};
    const qsizetype at = flat.indexOf(name);
    if (at >= 0 && value.isEmpty())
        flat.remove(at, 2);
    else if (at >= 0)
        flat[at + 1] = value;
    else
        flat << name << value;
    return entry(flat);
}

RedisValue bulk(const QByteArray &s) {
    RedisValue v;
    v.type = RedisValue::Type::String;
    v.string = s;
    return v;
}

RedisValue array(const QList<RedisValue> &elements) {
    RedisValue v;
    v.type = RedisValue::Type::Array;
    v.elements = elements;
    return v;
}

} // namespace

class TstStreamEntry : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void bookEntryBecomesTheOrderRow() {
        const StreamEntry::Parsed p = bookWith("arr", "1700000000000123").parse();
        QVERIFY2(p.kind == StreamEntry::Parsed::Kind::Book, p.reason.constData());
        QCOMPARE(p.reservationId, kRid);
        QCOMPARE(p.order,
                 (OrderRow{kRid, kSale, 7, "alice", 2, 300, 1700000000000, 1700000300000}));
        QVERIFY(p.reason.isEmpty());
    }

    void freeItemIsABooking() {
        const StreamEntry::Parsed p = bookWith("price", "0").parse();
        QVERIFY2(p.kind == StreamEntry::Parsed::Kind::Book, p.reason.constData());
        QCOMPARE(p.order.amountCents, 0);
    }

    void confirmEntryNamesItsReservation() {
        const StreamEntry::Parsed p = entry({"type", "confirm", "rid", kRid}).parse();
        QVERIFY2(p.kind == StreamEntry::Parsed::Kind::Confirm, p.reason.constData());
        QCOMPARE(p.reservationId, kRid);
    }

    void poison_data() {
        QTest::addColumn<QByteArray>("field"); // set to `value`; "" removes it
        QTest::addColumn<QByteArray>("value");
        QTest::addColumn<QByteArray>("reason");

        const QByteArray ofSale = "reservation id missing or not of this sale";
        const QByteArray malformed = "malformed book entry";
        QTest::addRow("no reservation id") << QByteArray("rid") << QByteArray() << ofSale;
        QTest::addRow("reservation id of another sale")
            << QByteArray("rid") << QByteArray("43-0123456789abcdef0123456789abcdef") << ofSale;
        QTest::addRow("reservation id that is not one")
            << QByteArray("rid") << QByteArray("42-not-hex") << ofSale;
        QTest::addRow("unknown type") << QByteArray("type") << QByteArray("refund")
                                      << QByteArray("unknown entry type 'refund'");
        QTest::addRow("no type") << QByteArray("type") << QByteArray()
                                 << QByteArray("unknown entry type ''");
        QTest::addRow("no user") << QByteArray("user") << QByteArray() << malformed;
        QTest::addRow("no item") << QByteArray("item") << QByteArray() << malformed;
        QTest::addRow("item zero") << QByteArray("item") << QByteArray("0") << malformed;
        QTest::addRow("item not a number")
            << QByteArray("item") << QByteArray("seven") << malformed;
        QTest::addRow("quantity zero") << QByteArray("qty") << QByteArray("0") << malformed;
        QTest::addRow("quantity negative") << QByteArray("qty") << QByteArray("-2") << malformed;
        QTest::addRow("quantity above a million")
            << QByteArray("qty") << QByteArray("1000001") << malformed;
        QTest::addRow("negative price") << QByteArray("price") << QByteArray("-1") << malformed;
        QTest::addRow("no price") << QByteArray("price") << QByteArray() << malformed;
        QTest::addRow("no acceptance time") << QByteArray("ts") << QByteArray() << malformed;
        QTest::addRow("no hold end") << QByteArray("expires_ms") << QByteArray() << malformed;
        QTest::addRow("hold end not a number")
            << QByteArray("expires_ms") << QByteArray("soon") << malformed;
    }

    void poison() {
        QFETCH(QByteArray, field);
        QFETCH(QByteArray, value);
        QFETCH(QByteArray, reason);

        const StreamEntry e = bookWith(field, value);
        const StreamEntry::Parsed p = e.parse();
        QVERIFY(p.kind == StreamEntry::Parsed::Kind::Poison);
        QCOMPARE(p.reason, reason);
        QCOMPARE(p.reservationId, e.reservationId()); // kept, to find the entry by
    }

    void largestQuantityIsABooking() {
        QVERIFY(bookWith("qty", "1000000").parse().kind == StreamEntry::Parsed::Kind::Book);
    }

    void writtenEntryParsesBack_data() {
        QTest::addColumn<OrderRow>("order");
        QTest::addRow("one unit") << OrderRow{kRid, kSale, 7, "alice", 1, 250, 1000, 301000};
        QTest::addRow("several units") << OrderRow{kRid, kSale, 9, "bob", 4, 4 * 199, 5, 6};
        QTest::addRow("free item") << OrderRow{kRid, kSale, 3, "u:with:colons", 2, 0, 7, 8};
        QTest::addRow("a million units")
            << OrderRow{kRid, kSale, 1, "whale", 1000000, 1000000, 1700000000000, 1700000300000};
    }

    void writtenEntryParsesBack() {
        QFETCH(OrderRow, order);
        const StreamEntry written = StreamEntry::book(order);
        QCOMPARE(written.saleId, kSale);
        QCOMPARE(written.type(), QByteArray("book"));
        const StreamEntry::Parsed p = written.parse();
        QVERIFY2(p.kind == StreamEntry::Parsed::Kind::Book, p.reason.constData());
        QCOMPARE(p.order, order);
    }

    void confirmationParsesBack() {
        const StreamEntry c = StreamEntry::confirm(kSale, kRid, 1700000000000);
        QCOMPARE(c.field("ts"), QByteArray("1700000000000"));
        const StreamEntry::Parsed p = c.parse();
        QVERIFY2(p.kind == StreamEntry::Parsed::Kind::Confirm, p.reason.constData());
        QCOMPARE(p.reservationId, kRid);
    }

    void xaddAppendsToTheSalesStream() {
        const StreamEntry c = StreamEntry::confirm(kSale, kRid, 5);
        QCOMPARE(c.xadd(), (QByteArrayList{"XADD", "fs:{sale:42}:stream", "*", "type", "confirm",
                                           "rid", kRid, "ts", "5"}));
    }

    void entryIsReadFromARedisReply() {
        const RedisValue reply =
            array({bulk("1700000000000-3"),
                   array({bulk("type"), bulk("confirm"), bulk("rid"), bulk(kRid), bulk("odd")})});
        const StreamEntry e = StreamEntry::fromReply(kSale, reply);
        QCOMPARE(e.saleId, kSale);
        QCOMPARE(e.id, QByteArray("1700000000000-3"));
        QCOMPARE(e.fields.size(), 2); // a name without a value is dropped
        QCOMPARE(e.reservationId(), kRid);
    }

    void retriedEntryKeepsWhenItWasFirstTried() {
        const StreamEntry original = bookWith("arr", "123");
        QVERIFY(!original.firstTriedMs());

        const StreamEntry once = original.retried(5000);
        QVERIFY(once.id.isEmpty());
        QCOMPARE(once.firstTriedMs(), std::optional<qint64>(5000));
        QCOMPARE(once.fields.first(), original.fields.first());
        QCOMPARE(once.fields.size(), original.fields.size() + 1);

        const StreamEntry twice = once.retried(9000);
        QCOMPARE(twice.firstTriedMs(), std::optional<qint64>(5000));
        QCOMPARE(twice.fields.size(), once.fields.size());
        QVERIFY(twice.parse().kind == StreamEntry::Parsed::Kind::Book);
    }

    void streamIdsOrderAsRedisOrdersThem_data() {
        QTest::addColumn<QByteArray>("earlier");
        QTest::addColumn<QByteArray>("later");
        QTest::addRow("same millisecond, next sequence")
            << QByteArray("100-0") << QByteArray("100-1");
        QTest::addRow("next millisecond beats any sequence")
            << QByteArray("100-99") << QByteArray("101-0");
        QTest::addRow("numbers, not text") << QByteArray("9-0") << QByteArray("10-0");
        QTest::addRow("sequence numbers, not text") << QByteArray("5-9") << QByteArray("5-10");
        QTest::addRow("no sequence reads as zero") << QByteArray("100") << QByteArray("100-1");
    }

    void streamIdsOrderAsRedisOrdersThem() {
        QFETCH(QByteArray, earlier);
        QFETCH(QByteArray, later);
        QVERIFY(StreamId::parse(earlier) < StreamId::parse(later));
        QVERIFY(!(StreamId::parse(later) < StreamId::parse(earlier)));
        QVERIFY(StreamId::parse(earlier) == StreamId::parse(earlier));
    }
};

QTEST_GUILESS_MAIN(TstStreamEntry)
#include "tst_streamentry.moc"
