// The RFC 9457 body Problem::toJson writes by hand (shared/http/problem.cpp): whatever the text
// (quotes, backslashes, control characters, non-ASCII) and the extensions (every JSON type), a
// JSON parser reads back exactly the members the problem holds, and a member the standard
// defines wins over an extension of the same name.

#include "http/problem.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

using namespace flashsale;

class TestProblem : public QObject {
    Q_OBJECT

private slots:
    void parsesBackToItsMembers_data() {
        QTest::addColumn<QString>("text");
        QTest::newRow("plain") << QStringLiteral("Sold out");
        QTest::newRow("quotes and backslashes") << QStringLiteral("say \"no\" \\ then \\\"");
        QTest::newRow("control characters")
            << QString::fromUtf8("a\nb\rc\td\be\ff") + QChar(0x01) + QChar(0x1f) + QChar(0x7f);
        QTest::newRow("non-ASCII") << QString::fromUtf8("售罄 – épuisé 🎉");
        QTest::newRow("slash and angle brackets") << QStringLiteral("</script><b>/x</b>");
        QTest::newRow("empty") << QString();
    }
    void parsesBackToItsMembers() {
        QFETCH(QString, text);
        Problem p = Problem::make(409, QStringLiteral("sold-out"), text);
        p.title = text.isEmpty() ? QStringLiteral("t") : text;
        p.with(QStringLiteral("remaining"), 0)
            .with(QStringLiteral("retry_after_ms"), 1500)
            .with(QStringLiteral("ratio"), 0.25)
            .with(QStringLiteral("big"), 9007199254740993.0)
            .with(QStringLiteral("flag"), true)
            .with(QStringLiteral("none"), QJsonValue::Null)
            .with(QStringLiteral("note"), text)
            .with(QStringLiteral("errors"),
                  QJsonArray{QJsonObject{{QStringLiteral("pointer"), QStringLiteral("/a")},
                                         {QStringLiteral("detail"), text}}})
            .with(QStringLiteral("nested"), QJsonObject{{QStringLiteral("k"), text}});
        const QString instance = QStringLiteral("/api/v1/sales/7/book?x=\"") + text;
        const QByteArray body = p.toJson(instance);

        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(body, &error);
        QCOMPARE(error.error, QJsonParseError::NoError);
        QJsonObject expected = p.extensions;
        expected.insert(QStringLiteral("type"), QStringLiteral("/problems/sold-out"));
        expected.insert(QStringLiteral("title"), p.title);
        expected.insert(QStringLiteral("status"), 409);
        if (!text.isEmpty())
            expected.insert(QStringLiteral("detail"), text);
        expected.insert(QStringLiteral("instance"), instance);
        QCOMPARE(doc.object(), expected);
        // The same bytes as the generic writer would give, member for member.
        QCOMPARE(QJsonDocument::fromJson(QJsonDocument(expected).toJson()).object(), doc.object());
    }

    void standardMembersWinOverExtensions() {
        Problem p = Problem::make(429, QStringLiteral("rate-limited"), QStringLiteral("slow"));
        p.with(QStringLiteral("status"), 200).with(QStringLiteral("type"), QStringLiteral("x"));
        const QJsonObject o = QJsonDocument::fromJson(p.toJson()).object();
        QCOMPARE(o.value(QStringLiteral("status")).toInt(), 429);
        QCOMPARE(o.value(QStringLiteral("type")).toString(),
                 QStringLiteral("/problems/rate-limited"));
        QVERIFY(!o.contains(QStringLiteral("instance")));
        QCOMPARE(p.toJson().count("\"status\""), 1);
    }
};

QTEST_APPLESS_MAIN(TestProblem)
#include "tst_problem.moc"
