#pragma once

#include <QAbstractTableModel>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>

namespace flashsale::console {

// Past reconciliation runs of one sale, newest first (reconcile.list, then "reconcile" events
// and the answers to Dry run / Repair). A run arriving twice (answer and event) is kept once.
class ReconcileRunsModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Run, Started, Mode, Trigger, Result, Actor, ColumnCount };

    explicit ReconcileRunsModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    void setRuns(const QJsonArray &runs);
    // Inserts or replaces by run_id; returns the row.
    int addRun(const QJsonObject &report);
    QJsonObject run(int row) const;
    int rowOf(qint64 runId) const;

private:
    QList<QJsonObject> m_runs;
};

} // namespace flashsale::console
