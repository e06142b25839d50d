#include "timechart.h"

#include "consoleformat.h"

#include <QChart>
#include <QDateTimeAxis>
#include <QGraphicsLayout>
#include <QLegend>
#include <QLineSeries>
#include <QToolTip>
#include <QValueAxis>

#include <cmath>

namespace flashsale::console {

TimeChart::TimeChart(const QString &title, const QString &unit, QWidget *parent)
    : QChartView(parent)
    , m_unit(unit) {
    auto *chart = new QChart;
    chart->setTitle(title);
    QFont titleFont = font();
    titleFont.setBold(true);
    chart->setTitleFont(titleFont);
    chart->setMargins(QMargins(2, 2, 2, 2));
    chart->layout()->setContentsMargins(0, 0, 0, 0);
    chart->setBackgroundRoundness(0);
    chart->legend()->setAlignment(Qt::AlignRight);
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    chart->legend()->setFont(small);
    m_x = new QDateTimeAxis;
    m_x->setFormat(QStringLiteral("HH:mm:ss"));
    m_x->setTickCount(6);
    m_x->setLabelsFont(small);
    m_y = new QValueAxis;
    m_y->setLabelFormat(QStringLiteral("%g"));
    m_y->setTitleText(unit);
    m_y->setTitleFont(small);
    m_y->setLabelsFont(small);
    m_y->setRange(0, 1);
    chart->addAxis(m_x, Qt::AlignBottom);
    chart->addAxis(m_y, Qt::AlignLeft);
    setChart(chart);
    setRenderHint(QPainter::Antialiasing);
    setMinimumSize(260, 160);
}

void TimeChart::setPoints(const QString &name, const QList<QPointF> &points, const QColor &color) {
    QLineSeries *s = m_series.value(name);
    if (!s) {
        s = new QLineSeries;
        s->setName(name);
        if (color.isValid()) {
            QPen pen(color);
            pen.setWidthF(2);
            s->setPen(pen);
        }
        chart()->addSeries(s);
        s->attachAxis(m_x);
        s->attachAxis(m_y);
        m_series.insert(name, s);
        connect(s, &QLineSeries::hovered, this, [this, s](const QPointF &point, bool state) {
            if (!state) {
                QToolTip::hideText();
                return;
            }
            // The point under the cursor is interpolated; show the nearest sample instead.
            const QList<QPointF> pts = s->points();
            QPointF best = point;
            double distance = std::numeric_limits<double>::max();
            for (const QPointF &p : pts) {
                if (std::abs(p.x() - point.x()) < distance) {
                    distance = std::abs(p.x() - point.x());
                    best = p;
                }
            }
            QToolTip::showText(QCursor::pos(),
                               QStringLiteral("%1\n%2: %3 %4")
                                   .arg(s->name(), formatMs(qint64(best.x())))
                                   .arg(best.y(), 0, 'f', best.y() < 10 ? 2 : 1)
                                   .arg(m_unit),
                               this);
        });
    }
    s->replace(points);
}

void TimeChart::setWindow(qint64 fromMs, qint64 toMs, double maxY) {
    m_x->setRange(QDateTime::fromMSecsSinceEpoch(fromMs), QDateTime::fromMSecsSinceEpoch(toMs));
    // 1, 2 or 5 times a power of ten, with some headroom.
    double top = 1;
    if (maxY > 0) {
        const double want = maxY * 1.15;
        const double magnitude = std::pow(10.0, std::floor(std::log10(want)));
        for (double step : {1.0, 2.0, 5.0, 10.0}) {
            top = step * magnitude;
            if (top >= want)
                break;
        }
    }
    m_y->setRange(0, top);
}

void TimeChart::clearSeries() {
    for (QLineSeries *s : std::as_const(m_series)) {
        chart()->removeSeries(s);
        delete s;
    }
    m_series.clear();
}

} // namespace flashsale::console
