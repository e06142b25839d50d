#pragma once

#include "consolesettings.h"

#include <QAbstractTableModel>
#include <QJsonObject>
#include <QList>
#include <QSet>

namespace flashsale::console {

// The dashboard's alerts for the followed sale, newest first: time, severity, text.
//
// checkStats() and checkReconcile() turn events into alerts. A condition (p99 above its
// threshold, a process down, a lag above its threshold) raises one alert when it starts and one
// "back to normal" note when it ends, not one per stats event. A reconciliation report with drift
// raises one alert per run. GUI thread only.
class AlertsModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Time, Severity, Text, ColumnCount };
    enum class Level { Info, Warning, Critical };
    struct Alert {
        qint64 atMs = 0;
        Level level = Level::Info;
        QString text;
        QString key; // the condition it belongs to ("p99", "down:host-1"); empty for one-offs
    };
    static constexpr int kMaxAlerts = 500;

    explicit AlertsModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // Forgets alerts and conditions (another sale was selected).
    void reset();
    void setThresholds(const Thresholds &t) { m_thresholds = t; }
    void checkStats(const QJsonObject &stats);
    void checkReconcile(const QJsonObject &report);
    void add(Level level, const QString &text, const QString &key = {}, qint64 atMs = 0);

    const QList<Alert> &alerts() const { return m_alerts; }
    bool isActive(const QString &key) const { return m_active.contains(key); }
    static QString levelName(Level level);

Q_SIGNALS:
    void raised(const flashsale::console::AlertsModel::Alert &alert);

private:
    // Raises `key` when `on` starts, notes its end when it stops.
    void condition(const QString &key, bool on, Level level, const QString &text,
                   const QString &normalText, qint64 atMs);

    QList<Alert> m_alerts;
    QSet<QString> m_active;
    QSet<qint64> m_seenRuns;
    Thresholds m_thresholds;
};

} // namespace flashsale::console
