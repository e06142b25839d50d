#include "soakseries.h"

#include <QFile>

#include <algorithm>
#include <cmath>
#include <limits>

namespace flashsale::bench {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr qsizetype kMinSamples = 4; // fewer judged samples than this: not judged

struct Fit {
    double slope = 0;
    qsizetype n = 0;
    double xFirst = 0, xLast = 0;
};

// Least squares of y on x over [from, to), pairs where both are numbers.
Fit fitLine(const QList<double> &x, const QList<double> &y, qsizetype from, qsizetype to) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    Fit f;
    for (qsizetype i = from; i < to; ++i) {
        if (!std::isfinite(x[i]) || !std::isfinite(y[i]))
            continue;
        if (f.n == 0)
            f.xFirst = x[i];
        f.xLast = x[i];
        ++f.n;
        sx += x[i];
        sy += y[i];
        sxx += x[i] * x[i];
        sxy += x[i] * y[i];
    }
    const double d = double(f.n) * sxx - sx * sx;
    f.slope = f.n >= 2 && d > 0 ? (double(f.n) * sxy - sx * sy) / d : 0;
    return f;
}

double median(QList<double> v) {
    v.removeIf([](double d) { return !std::isfinite(d); });
    if (v.isEmpty())
        return 0;
    std::sort(v.begin(), v.end());
    const qsizetype m = v.size() / 2;
    return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

QString num(double v) {
    return std::abs(v) >= 100 || v == std::floor(v) ? QString::number(v, 'f', 0)
                                                    : QString::number(v, 'g', 3);
}

} // namespace

QList<double> SoakTable::column(qsizetype c) const {
    QList<double> out;
    out.reserve(rows.size());
    for (const QList<double> &r : rows)
        out << r.value(c, kNaN);
    return out;
}

std::optional<SoakTable> parseSoakCsv(const QByteArray &text, QString *error) {
    SoakTable t;
    const QList<QByteArray> lines = text.split('\n');
    int lineNo = 0;
    for (QByteArray line : lines) {
        ++lineNo;
        line = line.trimmed();
        if (line.isEmpty())
            continue;
        const QList<QByteArray> cells = line.split(',');
        if (t.columns.isEmpty()) {
            for (const QByteArray &c : cells)
                t.columns << QString::fromUtf8(c.trimmed());
            if (t.columns.size() < 2) {
                *error =
                    QStringLiteral("line %1: a time column and at least one series").arg(lineNo);
                return std::nullopt;
            }
            continue;
        }
        if (cells.size() != t.columns.size()) {
            *error = QStringLiteral("line %1: %2 cells, the header has %3")
                         .arg(lineNo)
                         .arg(cells.size())
                         .arg(t.columns.size());
            return std::nullopt;
        }
        QList<double> row;
        row.reserve(cells.size());
        for (qsizetype i = 0; i < cells.size(); ++i) {
            const QByteArray c = cells[i].trimmed();
            if (c.isEmpty()) {
                row << kNaN;
                continue;
            }
            bool ok = false;
            const double v = c.toDouble(&ok);
            if (!ok || !std::isfinite(v)) {
                *error = QStringLiteral("line %1: \"%2\" in column %3 is not a number")
                             .arg(lineNo)
                             .arg(QString::fromUtf8(c), t.columns[i]);
                return std::nullopt;
            }
            row << v;
        }
        if (!std::isfinite(row[0])) {
            *error = QStringLiteral("line %1: no time").arg(lineNo);
            return std::nullopt;
        }
        t.rows << row;
    }
    if (t.columns.isEmpty()) {
        *error = QStringLiteral("empty: no header");
        return std::nullopt;
    }
    return t;
}

std::optional<SoakTable> readSoakCsv(const QString &path, QString *error) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("%1: %2").arg(path, f.errorString());
        return std::nullopt;
    }
    auto t = parseSoakCsv(f.readAll(), error);
    if (!t)
        *error = path + QStringLiteral(": ") + *error;
    return t;
}

double absoluteFloor(const QString &s) {
    if (s.endsWith(QLatin1String("_rss_mb")))
        return 8;
    if (s.endsWith(QLatin1String("_mb")))
        return 2;
    // An API process's descriptors include the load's keep-alive connections, which come and
    // go with each sale's load runs (deploy/bench/soak: two runs of 16 connections over the two
    // APIs); a leak of one per order or per request is thousands.
    if (s.endsWith(QLatin1String("_fds")))
        return 32;
    if (s.endsWith(QLatin1String("_lag_ms")))
        return 50;
    if (s.endsWith(QLatin1String("_keys")) || s.endsWith(QLatin1String("_msgs")))
        return 1000;
    return 100;
}

bool matchesAny(const QString &name, const QStringList &patterns) {
    for (const QString &p : patterns) {
        if (p.endsWith(QLatin1Char('*')) ? name.startsWith(p.chopped(1)) : name == p)
            return true;
    }
    return false;
}

qsizetype warmupStart(qsizetype samples, double warmupFraction) {
    return std::clamp<qsizetype>(qsizetype(std::ceil(double(samples) * warmupFraction)), 0,
                                 samples);
}

QList<FlatVerdict> judgeFlatness(const SoakTable &t, const FlatOptions &o) {
    QList<FlatVerdict> out;
    const qsizetype n = t.rows.size();
    const qsizetype from = warmupStart(n, o.warmupFraction);
    const QList<double> time = t.column(0);
    const qsizetype driverCol = t.indexOf(o.driver);
    const QList<double> driver = driverCol > 0 ? t.column(driverCol) : QList<double>();
    for (qsizetype c = 1; c < t.columns.size(); ++c) {
        FlatVerdict v;
        v.series = t.columns[c];
        if (matchesAny(v.series, o.ignore) || c == driverCol) {
            v.judged = false;
            out << v;
            continue;
        }
        const QList<double> y = t.column(c);
        const double floor = absoluteFloor(v.series);
        v.median = median(y.mid(from));
        v.expectedGrowth = matchesAny(v.series, o.grows);
        if (v.expectedGrowth && driverCol > 0) {
            // Per-driver rate in each half of the judged window: growth must stay linear.
            const qsizetype mid = from + (n - from) / 2;
            const Fit a = fitLine(driver, y, from, mid);
            const Fit b = fitLine(driver, y, mid, n);
            const Fit all = fitLine(driver, y, from, n);
            if (a.n < kMinSamples / 2 || b.n < kMinSamples / 2) {
                v.judged = false;
                out << v;
                continue;
            }
            const double dDriver = b.xLast - b.xFirst;
            v.growth = b.slope * dDriver;
            v.bound = o.maxAcceleration * std::max(0.0, a.slope) * dDriver + floor;
            v.perThousand = all.slope * 1000;
            v.pass = v.growth <= v.bound;
            out << v;
            continue;
        }
        const Fit f = fitLine(time, y, from, n);
        if (f.n < kMinSamples) {
            v.judged = false;
            out << v;
            continue;
        }
        v.growth = f.slope * (f.xLast - f.xFirst);
        v.bound = std::max(o.maxGrowth * std::abs(v.median), floor);
        v.pass = v.growth <= v.bound;
        out << v;
    }
    return out;
}

QString FlatVerdict::line() const {
    if (!judged)
        return QStringLiteral("SKIP %1: not judged").arg(series);
    const QString verdict = pass ? QStringLiteral("PASS") : QStringLiteral("FAIL");
    if (expectedGrowth)
        return QStringLiteral("%1 %2: grows by design, %3 per 1000 orders; second half grew %4, "
                              "bound %5 (first half's rate x acceleration + floor)")
            .arg(verdict, series, num(perThousand), num(growth), num(bound));
    return QStringLiteral("%1 %2: median %3, fitted growth %4 over the window, bound %5")
        .arg(verdict, series, num(median), num(growth), num(bound));
}

} // namespace flashsale::bench
