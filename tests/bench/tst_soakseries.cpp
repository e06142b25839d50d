// The soak's flatness judgement (backend/flashsale-bench/soakseries.h): a leak fails it, a flat
// series with noise and a warm-up passes, growth by design passes while linear per order and
// fails when it accelerates. Pure: CSV text in, verdicts out.

#include "soakseries.h"

#include <QTest>

#include <cmath>

using namespace flashsale::bench;

namespace {

// 60 samples, 10 s apart, of one series `name` given by f(i) (i = sample), with an "orders"
// driver growing by 1000 a sample.
QByteArray csv(const QString &name, const std::function<double(int)> &f, int samples = 60) {
    QByteArray out = "elapsed_s,orders," + name.toUtf8() + '\n';
    for (int i = 0; i < samples; ++i)
        out += QByteArray::number(i * 10) + ',' + QByteArray::number(i * 1000) + ','
               + QByteArray::number(f(i), 'f', 3) + '\n';
    return out;
}

// Deterministic noise in [-1, 1].
double noise(int i) {
    return std::sin(double(i) * 12.9898) * 0.9 + std::cos(double(i) * 4.1414) * 0.1;
}

FlatVerdict judgeOne(const QByteArray &text, const FlatOptions &o = {}) {
    QString error;
    const auto t = parseSoakCsv(text, &error);
    if (!t)
        qFatal("parse: %s", qPrintable(error));
    const QList<FlatVerdict> v = judgeFlatness(*t, o);
    for (const FlatVerdict &x : v)
        if (x.series != QLatin1String("orders"))
            return x;
    qFatal("no verdict");
}

} // namespace

class TestSoakSeries : public QObject {
    Q_OBJECT

private slots:
    void flatRssWithNoisePasses() {
        // 120 MB +- 3 MB of noise, no trend.
        const FlatVerdict v =
            judgeOne(csv("api1_rss_mb", [](int i) { return 120 + 3 * noise(i); }));
        QVERIFY2(v.judged && v.pass, qPrintable(v.line()));
        QVERIFY(std::abs(v.median - 120) < 3);
    }

    void leakingRssFails() {
        // 120 MB growing 0.5 MB a sample: about 22 MB over the judged 45 samples, beyond
        // max(10% of ~140 MB, 8 MB).
        const FlatVerdict v =
            judgeOne(csv("api1_rss_mb", [](int i) { return 120 + 0.5 * i + noise(i); }));
        QVERIFY2(v.judged && !v.pass, qPrintable(v.line()));
        QVERIFY2(v.growth > 18 && v.growth < 26, qPrintable(v.line()));
    }

    void slowLeakUnderTheBoundPasses() {
        // 0.1 MB a sample: 4.4 MB over the window, under the 8 MB floor and 10% of the median.
        const FlatVerdict v = judgeOne(csv("api1_rss_mb", [](int i) { return 120 + 0.1 * i; }));
        QVERIFY2(v.pass, qPrintable(v.line()));
    }

    void warmupIsNotJudged() {
        // A steep rise in the first quarter (caches filling), flat after.
        auto f = [](int i) { return i < 15 ? 40.0 + 6 * i : 130.0 + noise(i); };
        QVERIFY2(judgeOne(csv("worker_rss_mb", f)).pass, "the warm-up was judged");
        FlatOptions none;
        none.warmupFraction = 0;
        QVERIFY2(!judgeOne(csv("worker_rss_mb", f), none).pass,
                 "the same rise judged without a warm-up must fail");
    }

    void tinySeriesUseTheUnitFloor() {
        // An event-loop lag from 2 to 30 ms: 15 times its median, but under the 50 ms floor.
        const FlatVerdict lag =
            judgeOne(csv("relay_lag_ms", [](int i) { return 2 + 28.0 * i / 59; }));
        QVERIFY2(lag.pass, qPrintable(lag.line()));
        // Descriptors coming and going with the load's connections: within the floor of 32.
        const FlatVerdict churn =
            judgeOne(csv("api2_fds", [](int i) { return 40 + (i % 10 < 5 ? 0 : 30); }));
        QVERIFY2(churn.pass, qPrintable(churn.line()));
        // Descriptors creeping up one a sample: 44 over the window, beyond the floor.
        const FlatVerdict fds = judgeOne(csv("api2_fds", [](int i) { return 40 + i; }));
        QVERIFY2(!fds.pass, qPrintable(fds.line()));
    }

    void growthByDesignLinearPerOrderPasses() {
        // 2 KB of WAL per order, plus noise: linear in the driver.
        FlatOptions o;
        o.grows = {QStringLiteral("pg_wal_*")};
        const FlatVerdict v = judgeOne(
            csv("pg_wal_written_mb", [](int i) { return 5 + i * 1000 * 0.002 + 0.3 * noise(i); }),
            o);
        QVERIFY2(v.expectedGrowth && v.pass, qPrintable(v.line()));
        QVERIFY2(std::abs(v.perThousand - 2) < 0.1, qPrintable(v.line()));
        // The same series judged as flat fails: it is growth, stated as such.
        QVERIFY(
            !judgeOne(csv("pg_wal_written_mb", [](int i) { return 5 + i * 1000 * 0.002; })).pass);
    }

    void growthByDesignAcceleratingFails() {
        // Quadratic in the orders: the cost per order rises (a table whose rows get dearer, an
        // index gone bad); the second half grows far more than the first half's rate predicts.
        FlatOptions o;
        o.grows = {QStringLiteral("redis_keys")};
        const FlatVerdict v = judgeOne(csv("redis_keys", [](int i) { return 10.0 * i * i; }), o);
        QVERIFY2(v.expectedGrowth && !v.pass, qPrintable(v.line()));
    }

    void ignoredAndMissingCells() {
        QString error;
        const auto t = parseSoakCsv("elapsed_s,sales,api1_lag_ms\n0,1,\n10,1,3\n20,2,\n30,2,4\n"
                                    "40,3,2\n50,3,5\n60,4,3\n70,4,2\n",
                                    &error);
        QVERIFY2(t, qPrintable(error));
        QVERIFY(std::isnan(t->rows[0][2]));
        FlatOptions o;
        o.ignore = {QStringLiteral("sales")};
        o.warmupFraction = 0;
        const QList<FlatVerdict> v = judgeFlatness(*t, o);
        QCOMPARE(v.size(), 2);
        QVERIFY(!v[0].judged);
        QVERIFY2(v[1].judged && v[1].pass, qPrintable(v[1].line()));
    }

    void malformedCsvIsRefused() {
        QString error;
        QVERIFY(!parseSoakCsv("elapsed_s,a\n0,1,2\n", &error));
        QVERIFY2(error.contains(QLatin1String("line 2")), qPrintable(error));
        QVERIFY(!parseSoakCsv("elapsed_s,a\n0,x\n", &error));
        QVERIFY2(error.contains(QLatin1String("\"x\"")), qPrintable(error));
        QVERIFY(!parseSoakCsv("", &error));
    }
};

QTEST_GUILESS_MAIN(TestSoakSeries)
#include "tst_soakseries.moc"
