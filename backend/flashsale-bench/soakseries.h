#pragma once

// The soak's samples (deploy/bench/soak) and the flatness judgement of `flashsale-bench flat`.
//
// The CSV is wide: a header line of column names, then one line per sample. The first column is
// the time in seconds since the soak started; every other column is one series (per process
// RSS, descriptors and event-loop lag, Redis memory and keys, PostgreSQL table and WAL sizes,
// Kafka consumer lag, ...). An empty cell is a missing sample (a process without a heartbeat
// yet), skipped by the fits.
//
// Flatness (docs/RELIABILITY.md, "Soak"). The first warm-up fraction of the samples is dropped
// (caches fill, pools open, the first sales' keys appear). Over the rest, for each series:
//
//   flat series      least-squares line v = a + b t; growth = b x (t_last - t_first), what the
//                    fitted trend adds over the judged window. FAIL when
//                        growth > max(maxGrowth x median, floor(series))
//                    median is the warmed-up median; floor is an absolute allowance by the
//                    series' unit (absoluteFloor), so a series near zero (a lag of 2 ms, a
//                    Kafka lag of 0) is not failed by noise.
//   expected growth  series that grow by design (rows kept, WAL written, Redis keys with a
//                    24 h TTL, the Kafka mock's in-memory log) are fitted against a driver
//                    column (orders stored) instead of time, in the two halves of the window.
//                    FAIL when the second half grows more than maxAcceleration x the first
//                    half's per-driver rate predicts, plus the floor: growth per order must stay
//                    linear, not accelerate. The per-1000-orders rate is reported.

#include <QByteArray>
#include <QList>
#include <QString>
#include <QStringList>

#include <optional>

namespace flashsale::bench {

struct SoakTable {
    QStringList columns;       // columns[0] is the time in seconds
    QList<QList<double>> rows; // rows[i][j]: sample i of column j; NaN when the cell was empty
    // The values of column `c` (NaN where missing).
    QList<double> column(qsizetype c) const;
    qsizetype indexOf(const QString &name) const { return columns.indexOf(name); }
};

// Parses the CSV text; nullopt with `error` naming the line when a cell is not a number or a row
// has the wrong number of cells.
std::optional<SoakTable> parseSoakCsv(const QByteArray &text, QString *error);
std::optional<SoakTable> readSoakCsv(const QString &path, QString *error);

struct FlatOptions {
    double warmupFraction = 0.25; // of the samples, dropped before judging
    double maxGrowth = 0.10;      // fitted growth over the window, relative to the median
    QStringList grows;            // expected growth: names, or prefixes ending in *
    QString driver = QStringLiteral("orders");
    double maxAcceleration = 1.5; // second half's growth / first half's per-driver prediction
    QStringList ignore;           // not judged (the drivers themselves); names or prefixes*
};

struct FlatVerdict {
    QString series;
    bool pass = true;
    bool expectedGrowth = false;
    bool judged = true; // false: too few samples or ignored
    double median = 0;
    double growth = 0;      // flat: fitted growth over the window; expected: growth of the 2nd half
    double bound = 0;       // the growth allowed
    double perThousand = 0; // expected: growth per 1000 units of the driver, over the window
    QString line() const;   // "PASS|FAIL <series>: ..."
};

// The unit allowance of a series by its name's last suffix: _rss_mb 8, _mb 2, _fds 32,
// _lag_ms 50, _keys 1000, _msgs 1000; 100 otherwise (counts such as pending orders).
double absoluteFloor(const QString &series);

// True when `name` matches one of `patterns` (exact, or a prefix when the pattern ends in *).
bool matchesAny(const QString &name, const QStringList &patterns);

QList<FlatVerdict> judgeFlatness(const SoakTable &table, const FlatOptions &options);

// The index of the first judged sample for the warm-up fraction.
qsizetype warmupStart(qsizetype samples, double warmupFraction);

} // namespace flashsale::bench
