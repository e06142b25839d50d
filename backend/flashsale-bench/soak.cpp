// `flashsale-bench flat` and `flashsale-bench chart`: the soak's judgement and its picture, from
// the CSV deploy/bench/soak writes (soakseries.h describes the columns and the statistic).
//
//   flat    one PASS/FAIL line per series; exit 0 all flat (or growing only as designed),
//           1 a series grew beyond its bound, 2 usage
//   chart   every series as a small multiple in one PNG, rendered offscreen with Qt Charts:
//           the warm-up in grey, the judged window in blue (orange: grows by design)

#include "bench.h"
#include "commandhelp.h"
#include "soakseries.h"

#include <QChart>
#include <QCommandLineParser>
#include <QFile>
#include <QGraphicsLayout>
#include <QGraphicsScene>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLineSeries>
#include <QPainter>
#include <QValueAxis>

#include <cmath>
#include <cstdio>

namespace flashsale::bench {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFail = 1;
constexpr int kExitUsage = 2;

QStringList listValues(const QCommandLineParser &p, const QCommandLineOption &o) {
    QStringList out;
    for (const QString &v : p.values(o))
        for (const QString &s : v.split(QLatin1Char(','), Qt::SkipEmptyParts))
            out << s.trimmed();
    return out;
}

struct Common {
    QCommandLineOption csv{QStringLiteral("csv"), QStringLiteral("The soak's samples (CSV)."),
                           QStringLiteral("file")};
    QCommandLineOption warmup{QStringLiteral("warmup"),
                              QStringLiteral("Fraction of the samples dropped as warm-up."),
                              QStringLiteral("f"), QStringLiteral("0.25")};
    QCommandLineOption grows{QStringLiteral("grows"),
                             QStringLiteral("Series that grow by design (names, or prefixes "
                                            "ending in *), comma-separated; repeatable."),
                             QStringLiteral("list")};
    QCommandLineOption ignore{
        QStringLiteral("ignore"),
        QStringLiteral("Series not judged (drivers and counters), as --grows."),
        QStringLiteral("list")};
    QCommandLineOption driver{QStringLiteral("driver"),
                              QStringLiteral("The column growth by design is measured against."),
                              QStringLiteral("column"), QStringLiteral("orders")};
    void add(QCommandLineParser &p) const { p.addOptions({csv, warmup, grows, ignore, driver}); }
};

// Parses the options every soak command shares; returns a usage message or "" and fills `o`.
QString parseCommon(const QCommandLineParser &p, const Common &c, FlatOptions &o) {
    if (p.value(c.csv).isEmpty())
        return QStringLiteral("--csv is required");
    bool ok = false;
    o.warmupFraction = p.value(c.warmup).toDouble(&ok);
    if (!ok || o.warmupFraction < 0 || o.warmupFraction >= 1)
        return QStringLiteral("--warmup must be a fraction in [0, 1)");
    o.grows = listValues(p, c.grows);
    o.ignore = listValues(p, c.ignore);
    o.driver = p.value(c.driver);
    return {};
}

int usageError(const QCommandLineParser &p, const char *command, const QString &message) {
    std::fprintf(stderr, "flashsale-bench %s: %s\n\n%s", command, qPrintable(message),
                 qPrintable(commandHelp(p, QString::fromLatin1(command))));
    return kExitUsage;
}

QString humanDuration(double seconds) {
    return seconds >= 120 ? QStringLiteral("%1 min").arg(seconds / 60, 0, 'f', 1)
                          : QStringLiteral("%1 s").arg(seconds, 0, 'f', 0);
}

} // namespace

int runFlat(const QStringList &args) {
    QCommandLineParser p;
    p.setApplicationDescription(QStringLiteral(
        "Judge a soak's samples (deploy/bench/soak): after the warm-up, no series may grow "
        "beyond its bound (docs/RELIABILITY.md, \"Soak\"). Exit 0 flat, 1 a series grew, 2 "
        "usage."));
    p.addHelpOption();
    Common c;
    c.add(p);
    const QCommandLineOption maxGrowth(
        QStringLiteral("max-growth"),
        QStringLiteral("Fitted growth over the judged window allowed, relative to the median."),
        QStringLiteral("f"), QStringLiteral("0.10"));
    const QCommandLineOption accel(
        QStringLiteral("max-acceleration"),
        QStringLiteral("Growth by design: the second half may grow this many times what the "
                       "first half's rate per driver unit predicts."),
        QStringLiteral("f"), QStringLiteral("1.5"));
    const QCommandLineOption json(QStringLiteral("json"),
                                  QStringLiteral("Also write the verdicts as JSON to file."),
                                  QStringLiteral("file"));
    p.addOptions({maxGrowth, accel, json});
    if (!p.parse(args))
        return usageError(p, "flat", p.errorText());
    if (p.isSet(QStringLiteral("help"))) {
        std::fprintf(stdout, "%s", qPrintable(commandHelp(p, QStringLiteral("flat"))));
        return kExitOk;
    }
    FlatOptions o;
    if (const QString e = parseCommon(p, c, o); !e.isEmpty())
        return usageError(p, "flat", e);
    bool ok = false;
    o.maxGrowth = p.value(maxGrowth).toDouble(&ok);
    if (!ok || o.maxGrowth < 0)
        return usageError(p, "flat", QStringLiteral("--max-growth must be a fraction"));
    o.maxAcceleration = p.value(accel).toDouble(&ok);
    if (!ok || o.maxAcceleration < 1)
        return usageError(p, "flat", QStringLiteral("--max-acceleration must be at least 1"));
    QString error;
    const auto table = readSoakCsv(p.value(c.csv), &error);
    if (!table)
        return usageError(p, "flat", error);
    const qsizetype from = warmupStart(table->rows.size(), o.warmupFraction);
    if (table->rows.size() - from < 4)
        return usageError(p, "flat",
                          QStringLiteral("%1 samples after the warm-up: at least 4 are needed")
                              .arg(table->rows.size() - from));
    const double t0 = table->rows[from][0];
    const double t1 = table->rows.last()[0];
    std::printf("flashsale-bench flat: %lld samples, warm-up %lld (%s), judged window %s; "
                "flat bound max(%g x median, unit floor), growth by design per %s x %g\n",
                qlonglong(table->rows.size()), qlonglong(from), qPrintable(humanDuration(t0)),
                qPrintable(humanDuration(t1 - t0)), o.maxGrowth, qPrintable(o.driver),
                o.maxAcceleration);
    const QList<FlatVerdict> verdicts = judgeFlatness(*table, o);
    int failed = 0, judged = 0;
    QJsonArray out;
    for (const FlatVerdict &v : verdicts) {
        std::printf("%s\n", qPrintable(v.line()));
        judged += v.judged;
        failed += v.judged && !v.pass;
        out.append(QJsonObject{{QStringLiteral("series"), v.series},
                               {QStringLiteral("judged"), v.judged},
                               {QStringLiteral("pass"), v.pass},
                               {QStringLiteral("expected_growth"), v.expectedGrowth},
                               {QStringLiteral("median"), v.median},
                               {QStringLiteral("growth"), v.growth},
                               {QStringLiteral("bound"), v.bound},
                               {QStringLiteral("per_1000"), v.perThousand}});
    }
    std::printf("RESULT %s: %d of %d series beyond their bound\n", failed ? "FAIL" : "PASS", failed,
                judged);
    std::fflush(stdout);
    if (p.isSet(json)) {
        QFile f(p.value(json));
        if (f.open(QIODevice::WriteOnly | QIODevice::Truncate))
            f.write(QJsonDocument(QJsonObject{{QStringLiteral("ok"), failed == 0},
                                              {QStringLiteral("series"), out}})
                        .toJson(QJsonDocument::Indented));
    }
    return failed ? kExitFail : kExitOk;
}

int runChart(const QStringList &args) {
    QCommandLineParser p;
    p.setApplicationDescription(QStringLiteral(
        "Draw a soak's samples (deploy/bench/soak) as small multiples, one chart per series, "
        "into a PNG (Qt Charts, offscreen). Warm-up grey, judged window blue, growth by design "
        "orange."));
    p.addHelpOption();
    Common c;
    c.add(p);
    const QCommandLineOption outOpt(QStringLiteral("out"), QStringLiteral("The PNG to write."),
                                    QStringLiteral("file"));
    const QCommandLineOption titleOpt(QStringLiteral("title"), QStringLiteral("Heading."),
                                      QStringLiteral("text"), QStringLiteral("soak"));
    const QCommandLineOption colsOpt(QStringLiteral("columns"), QStringLiteral("Charts per row."),
                                     QStringLiteral("n"), QStringLiteral("5"));
    p.addOptions({outOpt, titleOpt, colsOpt});
    if (!p.parse(args))
        return usageError(p, "chart", p.errorText());
    if (p.isSet(QStringLiteral("help"))) {
        std::fprintf(stdout, "%s", qPrintable(commandHelp(p, QStringLiteral("chart"))));
        return kExitOk;
    }
    FlatOptions o;
    if (const QString e = parseCommon(p, c, o); !e.isEmpty())
        return usageError(p, "chart", e);
    if (p.value(outOpt).isEmpty())
        return usageError(p, "chart", QStringLiteral("--out is required"));
    bool ok = false;
    const int cols = p.value(colsOpt).toInt(&ok);
    if (!ok || cols < 1 || cols > 12)
        return usageError(p, "chart", QStringLiteral("--columns must be 1 to 12"));
    QString error;
    const auto table = readSoakCsv(p.value(c.csv), &error);
    if (!table)
        return usageError(p, "chart", error);
    const qsizetype from = warmupStart(table->rows.size(), o.warmupFraction);
    const QList<double> time = table->column(0);

    QList<qsizetype> shown;
    for (qsizetype i = 1; i < table->columns.size(); ++i)
        if (!matchesAny(table->columns[i], o.ignore) || table->columns[i] == o.driver)
            shown << i;
    const int cellW = 330, cellH = 200, head = 56;
    const int rows = int((shown.size() + cols - 1) / cols);
    QImage image(cols * cellW, head + rows * cellH, QImage::Format_ARGB32_Premultiplied);
    image.fill(Qt::white);
    QGraphicsScene scene(0, 0, image.width(), image.height());
    QFont titleFont;
    titleFont.setPixelSize(13);
    titleFont.setBold(true);
    QFont small;
    small.setPixelSize(10);
    const QColor grey(0xb0, 0xb0, 0xb0), blue(0x1f, 0x77, 0xb4), orange(0xe0, 0x7b, 0x10);
    for (qsizetype k = 0; k < shown.size(); ++k) {
        const qsizetype col = shown[k];
        const QString name = table->columns[col];
        const bool grows = matchesAny(name, o.grows) || name == o.driver;
        const QList<double> y = table->column(col);
        auto *chart = new QChart;
        chart->setTitle(grows ? name + QStringLiteral(" (grows by design)") : name);
        chart->setTitleFont(titleFont);
        chart->legend()->hide();
        chart->setMargins(QMargins(2, 2, 2, 2));
        chart->layout()->setContentsMargins(0, 0, 0, 0);
        chart->setBackgroundRoundness(0);
        auto *warm = new QLineSeries;
        auto *judged = new QLineSeries;
        warm->setPen(QPen(grey, 1.5));
        judged->setPen(QPen(grows ? orange : blue, 1.8));
        double lo = 0, hi = 0;
        bool any = false;
        for (qsizetype i = 0; i < y.size(); ++i) {
            if (!std::isfinite(y[i]))
                continue;
            const QPointF pt(time[i] / 60.0, y[i]);
            if (i <= from)
                warm->append(pt);
            if (i >= from)
                judged->append(pt);
            lo = any ? std::min(lo, y[i]) : y[i];
            hi = any ? std::max(hi, y[i]) : y[i];
            any = true;
        }
        chart->addSeries(warm);
        chart->addSeries(judged);
        auto *x = new QValueAxis;
        x->setRange(0, std::max(1.0 / 60, time.isEmpty() ? 1.0 : time.last() / 60.0));
        x->setLabelFormat(QStringLiteral("%.0f"));
        x->setTitleText(QStringLiteral("min"));
        x->setTitleFont(small);
        x->setLabelsFont(small);
        x->setTickCount(5);
        x->applyNiceNumbers(); // whole minutes on the ticks
        auto *yAxis = new QValueAxis;
        // From zero where the values are positive, so a flat line looks flat and a leak shows
        // as the slope it is, not as noise blown up to the chart's height.
        const double top = hi > 0 ? hi * 1.1 : 1.0;
        yAxis->setRange(std::min(0.0, lo), top);
        yAxis->setLabelFormat(QStringLiteral("%.3g"));
        yAxis->setLabelsFont(small);
        yAxis->setTickCount(4);
        chart->addAxis(x, Qt::AlignBottom);
        chart->addAxis(yAxis, Qt::AlignLeft);
        for (QLineSeries *s : {warm, judged}) {
            s->attachAxis(x);
            s->attachAxis(yAxis);
        }
        scene.addItem(chart);
        chart->setGeometry(
            QRectF(double(k % cols) * cellW, head + double(k / cols) * cellH, cellW, cellH));
    }
    QPainter painter(&image);
    painter.setRenderHint(QPainter::Antialiasing);
    scene.render(&painter);
    QFont heading;
    heading.setPixelSize(18);
    heading.setBold(true);
    painter.setFont(heading);
    painter.setPen(Qt::black);
    painter.drawText(QRect(10, 4, image.width() - 20, 26), Qt::AlignLeft | Qt::AlignVCenter,
                     p.value(titleOpt));
    QFont note;
    note.setPixelSize(12);
    painter.setFont(note);
    painter.drawText(QRect(10, 30, image.width() - 20, 22), Qt::AlignLeft | Qt::AlignVCenter,
                     QStringLiteral("%1 samples over %2; grey: warm-up (first %3%), blue: judged "
                                    "flat, orange: grows by design (judged per order)")
                         .arg(table->rows.size())
                         .arg(humanDuration(time.isEmpty() ? 0 : time.last()))
                         .arg(qRound(o.warmupFraction * 100)));
    painter.end();
    if (!image.save(p.value(outOpt), "PNG")) {
        std::fprintf(stderr, "flashsale-bench chart: cannot write %s\n",
                     qPrintable(p.value(outOpt)));
        return kExitFail;
    }
    std::printf("wrote %s: %lld charts\n", qPrintable(p.value(outOpt)), qlonglong(shown.size()));
    return kExitOk;
}

} // namespace flashsale::bench
