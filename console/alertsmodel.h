#pragma once

#include "consolesettings.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QSet>

namespace flashsale::console {

// The dashboard's alerts for the followed sale: one row per condition, most recently raised
// first. GUI thread only.
//
// A condition (p99 above its threshold, a process down, a lag above its threshold, conservation
// broken) has a key ("p99", "down:host-1"). checkStats() feeds it every push:
//   - hysteresis: it raises once the value has stayed above the threshold for holdSeconds, and
//     clears once it has stayed under clearFraction × threshold as long; a value flapping around
//     the threshold raises nothing, or once.
//   - deduplication: raising the same key again (after it cleared) reuses its row, counts the
//     occurrence and moves it to the top; it never adds a second row.
//   - acknowledge: an acknowledged row stays listed but greyed until it clears and comes back.
//   - a cleared row shows as cleared (or archived, for a process that never came back) and ages
//     out after clearedKeepSeconds.
// Conservation (the "conservation" object of a stats push) raises a critical alert naming the
// term that moved on the second consecutive exact push that breaks it, and clears at the first
// that holds; a push that is not exact changes nothing. A reconciliation report with drift adds
// one row per run (acknowledge it to let it age out).
class AlertsModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Time, Severity, State, Count, Text, ColumnCount };
    enum class Level { Info, Warning, Critical };
    enum class Status { Active, Cleared, Event };
    struct Alert {
        qint64 atMs = 0; // when it was last raised
        Level level = Level::Info;
        QString text;
        QString key;       // the condition ("p99", "down:host-1"); "event:<n>" for one-offs
        int count = 1;     // times raised
        qint64 lastMs = 0; // last push that saw the condition
        Status status = Status::Active;
        bool acknowledged = false;
        qint64 clearedMs = 0;
        QString clearedText; // why it cleared ("back under 100 ms", "archived after 120 s")
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
    // A one-off row (no condition behind it), or, with a key, raises that key at once.
    void add(Level level, const QString &text, const QString &key = {}, qint64 atMs = 0);
    // Marks the row acknowledged until its condition clears and comes back. Returns false for a
    // row that does not exist or is already acknowledged.
    bool acknowledge(int row);
    // Drops cleared rows older than clearedKeepSeconds at `nowMs` (checkStats does it per push).
    void ageOut(qint64 nowMs);

    const QList<Alert> &alerts() const { return m_alerts; }
    // The row of `key`, or null.
    const Alert *find(const QString &key) const;
    bool isActive(const QString &key) const { return m_conditions.value(key).active; }
    // Active rows nobody has acknowledged yet: what should draw the eye.
    int unacknowledgedCount() const;
    static QString levelName(Level level);

Q_SIGNALS:
    void raised(const flashsale::console::AlertsModel::Alert &alert);

private:
    struct Condition {
        bool active = false;
        qint64 overSinceMs = -1;  // first push of the current run above the raise threshold
        qint64 underSinceMs = -1; // first push of the current run under the clear threshold
    };
    // One push's view of `key`: `over` above the raise threshold, `under` under the clear one.
    void condition(const QString &key, bool over, bool under, qint64 holdMs, Level level,
                   const QString &text, const QString &clearedText, qint64 atMs);
    void raise(const QString &key, Level level, const QString &text, qint64 atMs);
    void clear(const QString &key, const QString &clearedText, qint64 atMs);
    void checkProcesses(const QJsonArray &processes, qint64 atMs);
    void checkConservation(const QJsonObject &c, qint64 saleId, qint64 atMs);
    int rowOf(const QString &key) const;
    void changed(int row);

    QList<Alert> m_alerts;
    QHash<QString, Condition> m_conditions;
    QSet<qint64> m_seenRuns;
    Thresholds m_thresholds;
    qint64 m_events = 0;
    QJsonObject m_lastExact; // the last exact conservation snapshot
    int m_brokenPushes = 0;  // consecutive exact pushes with the equation broken
    QString m_moved;         // the term that moved when it broke
};

} // namespace flashsale::console
