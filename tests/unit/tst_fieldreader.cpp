// FieldReader (shared/core/fieldreader.h) without a server: every shape each reader accepts and
// refuses, the error it reports (JSON pointer and wording), and how errors are collected.

#include "core/fieldreader.h"

#include <QJsonDocument>
#include <QTest>

using namespace flashsale;

namespace {

QJsonObject object(const QByteArray &json) {
    return QJsonDocument::fromJson(json).object();
}

// The errors as "pointer: detail", in the order they were found.
QStringList described(const FieldErrors &errors) {
    QStringList out;
    for (const FieldError &e : errors)
        out << e.pointer + QStringLiteral(": ") + e.detail;
    return out;
}

constexpr qint64 k20261111Noon = 1794398400000; // 2026-11-11T12:00:00Z

} // namespace

class TestFieldReader : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // string("s", required, 2, 5, allowed): a string of 2 to 5 characters, from `allowed` when
    // that is given.
    void string_data() {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<bool>("required");
        QTest::addColumn<QString>("allowed");
        QTest::addColumn<QVariant>("value"); // invalid: nothing read
        QTest::addColumn<QStringList>("errors");

        const QString lower = QStringLiteral("abcdefghijklmnopqrstuvwxyz-");
        QTest::addRow("two characters, the shortest allowed")
            << QByteArray(R"({"s":"ab"})") << true << QString() << QVariant("ab") << QStringList{};
        QTest::addRow("five characters, the longest allowed")
            << QByteArray(R"({"s":"abcde"})") << true << QString() << QVariant("abcde")
            << QStringList{};
        QTest::addRow("one character, too short")
            << QByteArray(R"({"s":"a"})") << true << QString() << QVariant()
            << QStringList{"/s: must be 2 to 5 characters long"};
        QTest::addRow("six characters, too long")
            << QByteArray(R"({"s":"abcdef"})") << true << QString() << QVariant()
            << QStringList{"/s: must be 2 to 5 characters long"};
        QTest::addRow("an empty string, too short even when optional")
            << QByteArray(R"({"s":""})") << false << QString() << QVariant()
            << QStringList{"/s: must be 2 to 5 characters long"};
        QTest::addRow("accented letters count one each")
            << QByteArray(R"({"s":"ééééé"})") << true << QString() << QVariant("ééééé")
            << QStringList{};
        QTest::addRow("without an allowed set, any character")
            << QByteArray(R"({"s":"a b!"})") << true << QString() << QVariant("a b!")
            << QStringList{};
        QTest::addRow("only allowed characters") << QByteArray(R"({"s":"ab-cd"})") << true << lower
                                                 << QVariant("ab-cd") << QStringList{};
        QTest::addRow("one character outside the allowed set")
            << QByteArray(R"({"s":"abCd"})") << true << lower << QVariant()
            << QStringList{"/s: may contain only a-z and -"};
        QTest::addRow("a number") << QByteArray(R"({"s":12})") << true << QString() << QVariant()
                                  << QStringList{"/s: must be a string"};
        QTest::addRow("an array") << QByteArray(R"({"s":["ab"]})") << true << QString()
                                  << QVariant() << QStringList{"/s: must be a string"};
        QTest::addRow("absent and required") << QByteArray("{}") << true << QString() << QVariant()
                                             << QStringList{"/s: is required"};
        QTest::addRow("null and required") << QByteArray(R"({"s":null})") << true << QString()
                                           << QVariant() << QStringList{"/s: is required"};
        QTest::addRow("absent and optional")
            << QByteArray("{}") << false << QString() << QVariant() << QStringList{};
        QTest::addRow("null and optional")
            << QByteArray(R"({"s":null})") << false << QString() << QVariant() << QStringList{};
    }

    void string() {
        QFETCH(QByteArray, json);
        QFETCH(bool, required);
        QFETCH(QString, allowed);
        QFETCH(QVariant, value);
        QFETCH(QStringList, errors);

        FieldReader r(object(json));
        const std::optional<QString> got =
            r.string(QStringLiteral("s"), required, 2, 5, allowed, QStringLiteral("a-z and -"));
        QCOMPARE(got.has_value(), value.isValid());
        if (got)
            QCOMPARE(*got, value.toString());
        QCOMPARE(described(r.errors()), errors);
        QCOMPARE(r.ok(), errors.isEmpty());
    }

    // integer("n", required, 1, 10): a JSON number with an integral value from 1 to 10.
    void integer_data() {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<bool>("required");
        QTest::addColumn<QVariant>("value");
        QTest::addColumn<QStringList>("errors");

        const QStringList range{"/n: must be from 1 to 10"};
        const QStringList notInteger{"/n: must be an integer"};
        QTest::addRow("1, the minimum")
            << QByteArray(R"({"n":1})") << true << QVariant(1) << QStringList{};
        QTest::addRow("10, the maximum")
            << QByteArray(R"({"n":10})") << true << QVariant(10) << QStringList{};
        QTest::addRow("0, under the minimum")
            << QByteArray(R"({"n":0})") << true << QVariant() << range;
        QTest::addRow("11, over the maximum")
            << QByteArray(R"({"n":11})") << true << QVariant() << range;
        QTest::addRow("a negative number")
            << QByteArray(R"({"n":-3})") << true << QVariant() << range;
        QTest::addRow("far beyond 64 bits")
            << QByteArray(R"({"n":1e300})") << true << QVariant() << range;
        QTest::addRow("written with a zero fraction")
            << QByteArray(R"({"n":2.0})") << true << QVariant(2) << QStringList{};
        QTest::addRow("written with an exponent")
            << QByteArray(R"({"n":1e1})") << true << QVariant(10) << QStringList{};
        QTest::addRow("a fraction")
            << QByteArray(R"({"n":2.5})") << true << QVariant() << notInteger;
        QTest::addRow("digits in a string")
            << QByteArray(R"({"n":"5"})") << true << QVariant() << notInteger;
        QTest::addRow("true") << QByteArray(R"({"n":true})") << true << QVariant() << notInteger;
        QTest::addRow("an object") << QByteArray(R"({"n":{}})") << true << QVariant() << notInteger;
        QTest::addRow("absent and required")
            << QByteArray("{}") << true << QVariant() << QStringList{"/n: is required"};
        QTest::addRow("null and required")
            << QByteArray(R"({"n":null})") << true << QVariant() << QStringList{"/n: is required"};
        QTest::addRow("absent and optional")
            << QByteArray("{}") << false << QVariant() << QStringList{};
    }

    void integer() {
        QFETCH(QByteArray, json);
        QFETCH(bool, required);
        QFETCH(QVariant, value);
        QFETCH(QStringList, errors);

        FieldReader r(object(json));
        const std::optional<qint64> got = r.integer(QStringLiteral("n"), required, 1, 10);
        QCOMPARE(got.has_value(), value.isValid());
        if (got)
            QCOMPARE(*got, value.toLongLong());
        QCOMPARE(described(r.errors()), errors);
    }

    // timestamp("t", required): an RFC 3339 time with a zone, as ms since the epoch.
    void timestamp_data() {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<bool>("required");
        QTest::addColumn<QVariant>("value");
        QTest::addColumn<QStringList>("errors");

        const QStringList format{
            "/t: must be an RFC 3339 time with a zone, like 2026-11-11T12:00:00Z"};
        QTest::addRow("UTC, with Z") << QByteArray(R"({"t":"2026-11-11T12:00:00Z"})") << true
                                     << QVariant(k20261111Noon) << QStringList{};
        QTest::addRow("with milliseconds")
            << QByteArray(R"({"t":"2026-11-11T12:00:00.250Z"})") << true
            << QVariant(k20261111Noon + 250) << QStringList{};
        QTest::addRow("an offset east of UTC") << QByteArray(R"({"t":"2026-11-11T13:30:00+01:30"})")
                                               << true << QVariant(k20261111Noon) << QStringList{};
        QTest::addRow("an offset west of UTC") << QByteArray(R"({"t":"2026-11-11T07:00:00-05:00"})")
                                               << true << QVariant(k20261111Noon) << QStringList{};
        QTest::addRow("lower-case t and z") << QByteArray(R"({"t":"2026-11-11t12:00:00z"})") << true
                                            << QVariant(k20261111Noon) << QStringList{};
        QTest::addRow("nine fraction digits, kept to the millisecond")
            << QByteArray(R"({"t":"2026-11-11T12:00:00.123456789Z"})") << true
            << QVariant(k20261111Noon + 123) << QStringList{};
        QTest::addRow("an offset of 24 hours")
            << QByteArray(R"({"t":"2026-11-11T12:00:00+24:00"})") << true << QVariant() << format;
        QTest::addRow("without a zone")
            << QByteArray(R"({"t":"2026-11-11T12:00:00"})") << true << QVariant() << format;
        QTest::addRow("an offset without a colon")
            << QByteArray(R"({"t":"2026-11-11T12:00:00+0100"})") << true << QVariant() << format;
        QTest::addRow("a date alone")
            << QByteArray(R"({"t":"2026-11-11"})") << true << QVariant() << format;
        QTest::addRow("a space for the T")
            << QByteArray(R"({"t":"2026-11-11 12:00:00Z"})") << true << QVariant() << format;
        QTest::addRow("without seconds")
            << QByteArray(R"({"t":"2026-11-11T12:00Z"})") << true << QVariant() << format;
        QTest::addRow("the 30th of February")
            << QByteArray(R"({"t":"2026-02-30T12:00:00Z"})") << true << QVariant() << format;
        QTest::addRow("seconds since the epoch, a number")
            << QByteArray(R"({"t":1794398400})") << true << QVariant()
            << QStringList{"/t: must be a string"};
        QTest::addRow("an empty string") << QByteArray(R"({"t":""})") << true << QVariant()
                                         << QStringList{"/t: must be 1 to 64 characters long"};
        QTest::addRow("absent and required")
            << QByteArray("{}") << true << QVariant() << QStringList{"/t: is required"};
        QTest::addRow("absent and optional")
            << QByteArray("{}") << false << QVariant() << QStringList{};
    }

    void timestamp() {
        QFETCH(QByteArray, json);
        QFETCH(bool, required);
        QFETCH(QVariant, value);
        QFETCH(QStringList, errors);

        FieldReader r(object(json));
        const std::optional<qint64> got = r.timestamp(QStringLiteral("t"), required);
        QCOMPARE(got.has_value(), value.isValid());
        if (got)
            QCOMPARE(*got, value.toLongLong());
        QCOMPARE(described(r.errors()), errors);
    }

    void boolean_data() {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<bool>("required");
        QTest::addColumn<QVariant>("value");
        QTest::addColumn<QStringList>("errors");

        const QStringList notBool{"/b: must be true or false"};
        QTest::addRow("true") << QByteArray(R"({"b":true})") << true << QVariant(true)
                              << QStringList{};
        QTest::addRow("false") << QByteArray(R"({"b":false})") << true << QVariant(false)
                               << QStringList{};
        QTest::addRow("1") << QByteArray(R"({"b":1})") << true << QVariant() << notBool;
        QTest::addRow("the string true")
            << QByteArray(R"({"b":"true"})") << true << QVariant() << notBool;
        QTest::addRow("absent and required")
            << QByteArray("{}") << true << QVariant() << QStringList{"/b: is required"};
        QTest::addRow("null and optional")
            << QByteArray(R"({"b":null})") << false << QVariant() << QStringList{};
    }

    void boolean() {
        QFETCH(QByteArray, json);
        QFETCH(bool, required);
        QFETCH(QVariant, value);
        QFETCH(QStringList, errors);

        FieldReader r(object(json));
        const std::optional<bool> got = r.boolean(QStringLiteral("b"), required);
        QCOMPARE(got.has_value(), value.isValid());
        if (got)
            QCOMPARE(*got, value.toBool());
        QCOMPARE(described(r.errors()), errors);
    }

    // array("a", required, 1, 3): an array of 1 to 3 elements, of any kind.
    void array_data() {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<bool>("required");
        QTest::addColumn<int>("size"); // -1: nothing read
        QTest::addColumn<QStringList>("errors");

        const QStringList count{"/a: must have 1 to 3 elements"};
        const QStringList notArray{"/a: must be an array"};
        QTest::addRow("one element, the fewest allowed")
            << QByteArray(R"({"a":[{}]})") << true << 1 << QStringList{};
        QTest::addRow("three elements of mixed kinds, the most allowed")
            << QByteArray(R"({"a":[1,"x",null]})") << true << 3 << QStringList{};
        QTest::addRow("empty") << QByteArray(R"({"a":[]})") << true << -1 << count;
        QTest::addRow("four elements") << QByteArray(R"({"a":[1,2,3,4]})") << true << -1 << count;
        QTest::addRow("an object") << QByteArray(R"({"a":{"0":1}})") << true << -1 << notArray;
        QTest::addRow("a string") << QByteArray(R"({"a":"[1]"})") << true << -1 << notArray;
        QTest::addRow("absent and required")
            << QByteArray("{}") << true << -1 << QStringList{"/a: is required"};
        QTest::addRow("absent and optional") << QByteArray("{}") << false << -1 << QStringList{};
    }

    void array() {
        QFETCH(QByteArray, json);
        QFETCH(bool, required);
        QFETCH(int, size);
        QFETCH(QStringList, errors);

        FieldReader r(object(json));
        const std::optional<QJsonArray> got = r.array(QStringLiteral("a"), required, 1, 3);
        QCOMPARE(got ? int(got->size()) : -1, size);
        QCOMPARE(described(r.errors()), errors);
    }

    // rejectUnknown() reports every member that was not read, whether or not what was read was
    // valid.
    void rejectUnknown_data() {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<QStringList>("read");
        QTest::addColumn<QStringList>("errors");

        QTest::addRow("every member read") << QByteArray(R"({"name":"ab","city":"Oslo"})")
                                           << QStringList{"name", "city"} << QStringList{};
        QTest::addRow("one member never read")
            << QByteArray(R"({"name":"ab","colour":"red"})") << QStringList{"name"}
            << QStringList{"/colour: is not a known field"};
        QTest::addRow("read but invalid is still known")
            << QByteArray(R"({"name":7})") << QStringList{"name"}
            << QStringList{"/name: must be a string"};
        QTest::addRow("asked for but absent adds nothing")
            << QByteArray("{}") << QStringList{"name"} << QStringList{};
        QTest::addRow("nothing read")
            << QByteArray(R"({"a":1,"b":2})") << QStringList{}
            << QStringList{"/a: is not a known field", "/b: is not a known field"};
    }

    void rejectUnknown() {
        QFETCH(QByteArray, json);
        QFETCH(QStringList, read);
        QFETCH(QStringList, errors);

        FieldReader r(object(json));
        for (const QString &name : read)
            r.string(name, false, 1, 10);
        r.rejectUnknown();
        QCOMPARE(described(r.errors()), errors);
    }

    void everyProblemIsReportedInOrder() {
        FieldReader r(object(R"({"name":"","stock":-1,"starts_at":"soon","extra":true})"));
        QVERIFY(!r.string(QStringLiteral("name"), true, 1, 10));
        QVERIFY(!r.integer(QStringLiteral("stock"), true, 0, 100));
        QVERIFY(!r.timestamp(QStringLiteral("starts_at"), true));
        QVERIFY(!r.boolean(QStringLiteral("active"), true));
        r.rejectUnknown();
        QVERIFY(!r.ok());
        QCOMPARE(
            described(r.errors()),
            (QStringList{"/name: must be 1 to 10 characters long", "/stock: must be from 0 to 100",
                         "/starts_at: must be an RFC 3339 time with a zone, like "
                         "2026-11-11T12:00:00Z",
                         "/active: is required", "/extra: is not a known field"}));
    }

    // A reader of a nested object adds to its parent's list, under the nested object's pointer.
    void nestedReadersShareOneList() {
        FieldErrors errors;
        FieldReader outer(object(R"({"items":[{"stock":1},{"stock":0,"x":1}]})"), {}, &errors);
        const std::optional<QJsonArray> items = outer.array(QStringLiteral("items"), true, 1, 5);
        QVERIFY(items);
        for (qsizetype i = 0; i < items->size(); ++i) {
            FieldReader item(items->at(i).toObject(), QStringLiteral("/items/%1").arg(i), &errors);
            (void)item.integer(QStringLiteral("stock"), true, 1, 9);
            item.rejectUnknown();
        }
        outer.addError(QStringLiteral("price"), QStringLiteral("is missing its currency"));
        QCOMPARE(described(outer.errors()), (QStringList{"/items/1/stock: must be from 1 to 9",
                                                         "/items/1/x: is not a known field",
                                                         "/price: is missing its currency"}));
        QVERIFY(!outer.ok());
    }
};

QTEST_GUILESS_MAIN(TestFieldReader)
#include "tst_fieldreader.moc"
