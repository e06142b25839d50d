#pragma once

#include <QChartView>
#include <QHash>
#include <QList>
#include <QPointF>

class QDateTimeAxis;
class QLineSeries;
class QValueAxis;

namespace flashsale::console {

// A chart of named time series over a moving window: x is time (ms since the epoch, shown as
// HH:mm:ss), y a value with a unit. Series are created on first use. Hovering a line shows a
// tooltip with the series, the time and the value of the nearest point.
class TimeChart final : public QChartView {
    Q_OBJECT
public:
    TimeChart(const QString &title, const QString &unit, QWidget *parent = nullptr);

    // Replaces the points of series `name` (created with `color` when new).
    void setPoints(const QString &name, const QList<QPointF> &points, const QColor &color = {});
    // Shows [fromMs, toMs] and 0..maxY (rounded up to a readable step).
    void setWindow(qint64 fromMs, qint64 toMs, double maxY);
    void clearSeries();

    QLineSeries *series(const QString &name) const { return m_series.value(name); }
    QStringList seriesNames() const { return m_series.keys(); }

private:
    QString m_unit;
    QDateTimeAxis *m_x = nullptr;
    QValueAxis *m_y = nullptr;
    QHash<QString, QLineSeries *> m_series;
};

} // namespace flashsale::console
