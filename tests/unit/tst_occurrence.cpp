// nextOccurrenceMs (shared/booking/occurrence.h) without a server: which occurrence of a
// recurring sale is next at a given moment, before the first, during one, at its end, between
// two, and a century on. An occurrence's end is exclusive: at its end it is over.

#include "booking/occurrence.h"

#include <QTest>

using namespace flashsale;

namespace {

constexpr qint64 kMinute = 60'000;
constexpr qint64 kHour = 60 * kMinute;
constexpr qint64 kFirst = 1794398400000; // 2026-11-11T12:00:00Z

} // namespace

class TestOccurrence : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // Hourly sales of 10 minutes from kFirst, unless the row says otherwise.
    void nextOccurrence_data() {
        QTest::addColumn<qint64>("every");
        QTest::addColumn<qint64>("duration");
        QTest::addColumn<qint64>("now");  // relative to kFirst
        QTest::addColumn<qint64>("next"); // relative to kFirst

        const qint64 ten = 10 * kMinute;
        QTest::addRow("a day before the first start") << kHour << ten << -24 * kHour << 0LL;
        QTest::addRow("1 ms before the first start") << kHour << ten << -1LL << 0LL;
        QTest::addRow("at the first start") << kHour << ten << 0LL << 0LL;
        QTest::addRow("during the first") << kHour << ten << 5 * kMinute << 0LL;
        QTest::addRow("1 ms before the first ends") << kHour << ten << ten - 1 << 0LL;
        QTest::addRow("exactly at the first's end") << kHour << ten << ten << kHour;
        QTest::addRow("between the first and the second") << kHour << ten << 30 * kMinute << kHour;
        QTest::addRow("exactly at the second start") << kHour << ten << kHour << kHour;
        QTest::addRow("exactly at the second's end") << kHour << ten << kHour + ten << 2 * kHour;
        const qint64 century = 100 * 365 * 24 * kHour; // a whole number of hours
        QTest::addRow("a century on, during that hour's sale")
            << kHour << ten << century + 5 * kMinute << century;
        QTest::addRow("a century on, after that hour's sale")
            << kHour << ten << century + ten << century + kHour;
        QTest::addRow("back to back, at the boundary") << kHour << kHour << kHour << kHour;
        QTest::addRow("overlapping, the first not yet ended")
            << ten << 25 * kMinute << 22 * kMinute << 0LL;
        QTest::addRow("overlapping, the earliest not ended after the first")
            << ten << 25 * kMinute << 26 * kMinute << ten;
    }

    void nextOccurrence() {
        QFETCH(qint64, every);
        QFETCH(qint64, duration);
        QFETCH(qint64, now);
        QFETCH(qint64, next);

        QCOMPARE(nextOccurrenceMs(kFirst, every, duration, kFirst + now), kFirst + next);
    }
};

QTEST_GUILESS_MAIN(TestOccurrence)
#include "tst_occurrence.moc"
