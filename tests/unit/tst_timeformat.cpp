// isoTime (shared/core/timeformat.h), the RFC 3339 times in every answer, written without
// QDateTime: the same text as QDateTime's ISODateWithMs for every millisecond tried, across
// leap days, century rules, the epoch, negative times and the range's ends.

#include "core/timeformat.h"

#include <QDateTime>
#include <QRandomGenerator>
#include <QTest>

using namespace flashsale;

namespace {

QString reference(qint64 ms) {
    return QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC).toString(Qt::ISODateWithMs);
}

qint64 at(int y, int m, int d, int hh = 0, int mm = 0, int ss = 0, int msec = 0) {
    return QDateTime(QDate(y, m, d), QTime(hh, mm, ss, msec), Qt::UTC).toMSecsSinceEpoch();
}

} // namespace

class TestTimeFormat : public QObject {
    Q_OBJECT

private slots:
    void matchesQDateTime_data() {
        QTest::addColumn<qint64>("ms");
        QTest::newRow("epoch") << qint64(0);
        QTest::newRow("a millisecond before the epoch") << qint64(-1);
        QTest::newRow("11.11") << at(2026, 11, 11, 12, 0, 0, 0);
        QTest::newRow("leap day 2024") << at(2024, 2, 29, 23, 59, 59, 999);
        QTest::newRow("2000 is a leap year") << at(2000, 2, 29, 1, 2, 3, 4);
        QTest::newRow("1900 is not") << at(1900, 3, 1);
        QTest::newRow("2100-02-28") << at(2100, 2, 28, 23, 59, 59, 999);
        QTest::newRow("year 1") << at(1, 1, 1);
        QTest::newRow("year 9999") << at(9999, 12, 31, 23, 59, 59, 999);
        QTest::newRow("1969-12-31") << at(1969, 12, 31, 12, 30, 15, 250);
    }
    void matchesQDateTime() {
        QFETCH(qint64, ms);
        QCOMPARE(isoTime(ms), reference(ms));
    }

    void matchesQDateTimeOnRandomTimes() {
        QRandomGenerator rng(20261206);
        const qint64 lo = at(1, 1, 1), hi = at(9999, 12, 31, 23, 59, 59, 999);
        for (int i = 0; i < 200000; ++i) {
            const qint64 ms = lo + qint64(rng.generate64() % quint64(hi - lo + 1));
            QCOMPARE(isoTime(ms), reference(ms));
        }
    }
};

QTEST_APPLESS_MAIN(TestTimeFormat)
#include "tst_timeformat.moc"
