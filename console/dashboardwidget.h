#pragma once

#include "consolesettings.h"

#include <QJsonObject>
#include <QWidget>

class QLabel;
class QProgressBar;
class QPushButton;
class QSplitter;
class QTableView;
class QTableWidget;

namespace flashsale::console {

class AlertsModel;
class StatsHistory;
class TimeChart;

// The live dashboard of the selected sale: remaining stock, the conservation line, charts of the
// last five minutes (requests per second by outcome, latency p50/p99), the order funnel, lag
// indicators that turn red past their thresholds, the processes, and the alerts. It draws what
// StatsHistory and AlertsModel hold (it owns neither) and redraws on StatsHistory::changed.
class DashboardWidget final : public QWidget {
    Q_OBJECT
public:
    DashboardWidget(StatsHistory *history, AlertsModel *alerts, QWidget *parent = nullptr);

    // The sale followed (an empty object: none). Clears the charts.
    void setSale(const QJsonObject &sale);
    void setThresholds(const Thresholds &t);

    QProgressBar *remainingBar() const { return m_remaining; }
    TimeChart *ratesChart() const { return m_rates; }
    TimeChart *latencyChart() const { return m_latency; }
    // "stream", "outbox", "consumers": whether the indicator shows red.
    bool lagIsRed(const QString &name) const;
    QTableWidget *processes() const { return m_processes; }
    // "stock N = remaining a + in flight b + ...", with the property "state" set to "holds",
    // "broken" or "unknown" (green, red, grey).
    QLabel *conservationLine() const { return m_conservation; }
    QTableView *alertsView() const { return m_alertsView; }
    // Acknowledges the selected alert rows; returns how many were acknowledged.
    int acknowledgeSelected();

    void saveLayout() const;
    void restoreLayout();

private:
    void redraw();
    void setIndicator(QLabel *label, const QString &text, bool red);
    QProgressBar *funnelBar(const QString &name, const QString &tip);

    StatsHistory *m_history;
    AlertsModel *m_alerts;
    Thresholds m_thresholds;
    QLabel *m_title = nullptr;
    QProgressBar *m_remaining = nullptr;
    QLabel *m_rateNow = nullptr;
    QLabel *m_conservation = nullptr;
    QPushButton *m_acknowledge = nullptr;
    TimeChart *m_rates = nullptr;
    TimeChart *m_latency = nullptr;
    QProgressBar *m_held = nullptr;
    QProgressBar *m_pending = nullptr;
    QProgressBar *m_paid = nullptr;
    QProgressBar *m_cancelled = nullptr;
    QLabel *m_stream = nullptr;
    QLabel *m_outbox = nullptr;
    QLabel *m_consumers = nullptr;
    QTableWidget *m_processes = nullptr;
    QTableView *m_alertsView = nullptr;
    QSplitter *m_vertical = nullptr;
    QSplitter *m_charts = nullptr;
    QSplitter *m_bottom = nullptr;
};

} // namespace flashsale::console
