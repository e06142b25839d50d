// The table of booking outcomes (shared/booking/outcome.h): every outcome has its code, problem
// type and status; the external spellings are the documented ones (docs/API.md, the metric
// labels); book.lua's replies parse into the outcome and the fields it carries; and the problem
// ApiRoutes answers with is the table's.

#include "api/apiroutes.h"
#include "booking/outcome.h"
#include "http/problem.h"
#include "redis/redisvalue.h"

#include <QRegularExpression>
#include <QSet>
#include <QTest>

using namespace flashsale;

using Kind = BookingOutcome::Kind;
Q_DECLARE_METATYPE(BookingOutcome::Kind)
Q_DECLARE_METATYPE(flashsale::RedisValue)

namespace {

RedisValue text(const QByteArray &s) {
    RedisValue v;
    v.type = RedisValue::Type::String;
    v.string = s;
    return v;
}

RedisValue number(qint64 n) {
    RedisValue v;
    v.type = RedisValue::Type::Integer;
    v.integer = n;
    return v;
}

RedisValue array(QList<RedisValue> elements) {
    RedisValue v;
    v.type = RedisValue::Type::Array;
    v.elements = std::move(elements);
    return v;
}

} // namespace

class TestOutcome : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // The external contract, spelled out once more on purpose: renaming a label, a problem type
    // or a status in the table must fail here and be a decision, not an accident.
    void spellings_data() {
        QTest::addColumn<Kind>("kind");
        QTest::addColumn<QByteArray>("code");
        QTest::addColumn<QByteArray>("problem");
        QTest::addColumn<int>("status");
        QTest::addRow("accepted") << Kind::Accepted << QByteArray("accepted") << QByteArray()
                                  << 202;
        QTest::addRow("unknown sale") << Kind::UnknownSale << QByteArray("unknown_sale")
                                      << QByteArray("sale-not-found") << 404;
        QTest::addRow("not started") << Kind::NotStarted << QByteArray("not_started")
                                     << QByteArray("sale-not-started") << 403;
        QTest::addRow("closed") << Kind::Closed << QByteArray("closed") << QByteArray("sale-closed")
                                << 403;
        QTest::addRow("paused") << Kind::Paused << QByteArray("paused") << QByteArray("sale-paused")
                                << 403;
        QTest::addRow("item required") << Kind::ItemRequired << QByteArray("item_required")
                                       << QByteArray("item-required") << 400;
        QTest::addRow("unknown item") << Kind::UnknownItem << QByteArray("unknown_item")
                                      << QByteArray("item-not-found") << 404;
        QTest::addRow("sold out") << Kind::SoldOut << QByteArray("sold_out")
                                  << QByteArray("sold-out") << 409;
        QTest::addRow("insufficient stock")
            << Kind::InsufficientStock << QByteArray("insufficient_stock")
            << QByteArray("insufficient-stock") << 409;
        QTest::addRow("per-user limit") << Kind::PerUserLimit << QByteArray("per_user_limit")
                                        << QByteArray("per-user-limit") << 409;
        QTest::addRow("throttled")
            << Kind::Throttled << QByteArray("throttled") << QByteArray("throttled") << 429;
        QTest::addRow("idempotency mismatch")
            << Kind::IdempotencyMismatch << QByteArray("idempotency_mismatch")
            << QByteArray("idempotency-key-reused") << 422;
        QTest::addRow("rate limited")
            << Kind::RateLimited << QByteArray("rate_limited") << QByteArray("rate-limited") << 429;
        QTest::addRow("pow required")
            << Kind::PowRequired << QByteArray("pow_required") << QByteArray("pow-required") << 428;
        QTest::addRow("pow too easy")
            << Kind::PowTooEasy << QByteArray("pow_too_easy") << QByteArray("pow-invalid") << 403;
        QTest::addRow("pow replayed")
            << Kind::PowReplayed << QByteArray("pow_replayed") << QByteArray("pow-replayed") << 409;
        QTest::addRow("admission required")
            << Kind::AdmissionRequired << QByteArray("admission_required")
            << QByteArray("admission-required") << 428;
        QTest::addRow("admission invalid")
            << Kind::AdmissionInvalid << QByteArray("admission_invalid")
            << QByteArray("admission-invalid") << 403;
        QTest::addRow("admission expired")
            << Kind::AdmissionExpired << QByteArray("admission_expired")
            << QByteArray("admission-expired") << 410;
        QTest::addRow("admission spent") << Kind::AdmissionSpent << QByteArray("admission_spent")
                                         << QByteArray("admission-spent") << 409;
    }

    void spellings() {
        QFETCH(Kind, kind);
        QFETCH(QByteArray, code);
        QFETCH(QByteArray, problem);
        QFETCH(int, status);
        const BookingOutcomeSpelling &s = bookingOutcomeSpelling(kind);
        QCOMPARE(s.kind, kind);
        QCOMPARE(QByteArray(s.code), code);
        QCOMPARE(QByteArray(s.problem), problem);
        QCOMPARE(s.status, status);
    }

    // Every row has all of its spellings, each of them documented, and none shared.
    void everyOutcomeHasEverySpelling() {
        const auto rows = bookingOutcomeSpellings();
        QCOMPARE(qsizetype(rows.size()), qsizetype(Kind::AdmissionSpent) + 1);
        static const QRegularExpression snake(QStringLiteral("^[a-z]+(_[a-z]+)*$"));
        QSet<QByteArray> codes, problems;
        for (const BookingOutcomeSpelling &s : rows) {
            const QByteArray code(s.code);
            QVERIFY2(snake.match(QString::fromLatin1(code)).hasMatch(), s.code);
            QVERIFY2(!codes.contains(code), s.code);
            codes.insert(code);
            QVERIFY2(code != kBookingUndecided, s.code);
            if (s.kind == Kind::Accepted) {
                QCOMPARE(s.status, 202);
                QVERIFY(!s.problem);
                continue;
            }
            QVERIFY2(s.problem, s.code);
            QVERIFY2(!problems.contains(QByteArray(s.problem)), s.problem);
            problems.insert(QByteArray(s.problem));
            // A documented problem type (GET /problems/<slug>) with the same status.
            int documented = 0;
            for (const ProblemType &t : problemTypes())
                if (qstrcmp(t.slug, s.problem) == 0)
                    documented = t.status;
            QVERIFY2(documented != 0, s.problem);
            QCOMPARE(s.status, documented);
        }
    }

    void everyCodeParses() {
        for (const BookingOutcomeSpelling &s : bookingOutcomeSpellings()) {
            QVERIFY2(bookingOutcomeOfCode(s.code) == std::optional<Kind>(s.kind), s.code);
            const auto o = BookingOutcome::fromReply(array({text(s.code)}));
            QVERIFY2(o, s.code);
            QCOMPARE(o->kind, s.kind);
        }
    }

    // The fields each reply of lua/book.lua carries after its code.
    void replyFields() {
        const auto accepted = BookingOutcome::fromReply(
            array({text("accepted"), text("12-0123456789abcdef0123456789abcdef"), text("7"),
                   number(2), number(1763726400000), number(5), number(1), number(250)}));
        QVERIFY(accepted);
        QCOMPARE(accepted->kind, Kind::Accepted);
        QCOMPARE(accepted->reservationId, QByteArray("12-0123456789abcdef0123456789abcdef"));
        QCOMPARE(accepted->itemId, qint64(7));
        QCOMPARE(accepted->quantity, 2);
        QCOMPARE(accepted->expiresAtMs, Q_INT64_C(1763726400000));
        QCOMPARE(accepted->remaining, qint64(5));
        QVERIFY(accepted->replayed);
        QCOMPARE(accepted->priceCents, qint64(250));
        const auto fresh =
            BookingOutcome::fromReply(array({text("accepted"), text("r"), text("7"), number(1),
                                             number(1), number(0), number(0), number(100)}));
        QVERIFY(fresh && !fresh->replayed);

        const auto notStarted =
            BookingOutcome::fromReply(array({text("not_started"), number(9000), number(1000)}));
        QVERIFY(notStarted);
        QCOMPARE(notStarted->startsAtMs, qint64(9000));
        QCOMPARE(notStarted->nowMs, qint64(1000));

        const auto insufficient =
            BookingOutcome::fromReply(array({text("insufficient_stock"), number(3)}));
        QVERIFY(insufficient);
        QCOMPARE(insufficient->remaining, qint64(3));

        const auto limit =
            BookingOutcome::fromReply(array({text("per_user_limit"), number(2), number(5)}));
        QVERIFY(limit);
        QCOMPARE(limit->held, qint64(2));
        QCOMPARE(limit->limit, qint64(5));

        const auto throttled = BookingOutcome::fromReply(array({text("throttled"), number(40)}));
        QVERIFY(throttled);
        QCOMPARE(throttled->retryAfterMs, qint64(40));

        const auto rate =
            BookingOutcome::fromReply(array({text("rate_limited"), text("user"), number(30)}));
        QVERIFY(rate);
        QCOMPARE(rate->rateScope, QByteArray("user"));
        QCOMPARE(rate->retryAfterMs, qint64(30));

        const auto required = BookingOutcome::fromReply(array({text("pow_required"), number(12)}));
        QVERIFY(required);
        QCOMPARE(required->powDifficulty, 12);
        const auto easy = BookingOutcome::fromReply(array({text("pow_too_easy"), number(14)}));
        QVERIFY(easy);
        QCOMPARE(easy->kind, Kind::PowTooEasy);
        QCOMPARE(easy->powDifficulty, 14);
    }

    // Anything else is no outcome: the caller answers it as a protocol error.
    void notAReply_data() {
        QTest::addColumn<RedisValue>("reply");
        RedisValue error;
        error.type = RedisValue::Type::Error;
        error.string = "NOSCRIPT No matching script";
        QTest::addRow("error reply") << error;
        QTest::addRow("nil") << RedisValue();
        QTest::addRow("a string, not an array") << text("accepted");
        QTest::addRow("empty array") << array({});
        QTest::addRow("unknown code") << array({text("maybe")});
        QTest::addRow("old spelling: insufficient") << array({text("insufficient"), number(1)});
        QTest::addRow("old spelling: limit") << array({text("limit"), number(1), number(2)});
        QTest::addRow("old spelling: idem_mismatch") << array({text("idem_mismatch")});
        QTest::addRow("a problem type") << array({text("sold-out")});
        QTest::addRow("the undecided name") << array({text(kBookingUndecided)});
    }

    void notAReply() {
        QFETCH(RedisValue, reply);
        QVERIFY(!BookingOutcome::fromReply(reply));
    }

    // ApiRoutes answers each refusal with the table's problem type and status, and a title.
    void problemOfEveryRefusal() {
        for (const BookingOutcomeSpelling &s : bookingOutcomeSpellings()) {
            BookingOutcome o;
            o.kind = s.kind;
            const Problem p = ApiRoutes::bookingProblem(o);
            if (s.kind == Kind::Accepted) {
                QCOMPARE(p.status, 500);
                continue;
            }
            QCOMPARE(p.slug, QString::fromLatin1(s.problem));
            QCOMPARE(p.status, s.status);
            QVERIFY2(!p.title.isEmpty(), s.problem);
        }
    }
};

QTEST_GUILESS_MAIN(TestOutcome)
#include "tst_outcome.moc"
