#pragma once

#include <QAbstractTableModel>
#include <QJsonArray>
#include <QJsonObject>

namespace flashsale::console {

// The rows of one reconciliation report: check, subject, expected, found, drift, detail. Rows
// with drift are highlighted.
class ReconcileChecksModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Check, Subject, Expected, Found, Drift, Detail, ColumnCount };

    explicit ReconcileChecksModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    void setReport(const QJsonObject &report);
    QJsonObject report() const { return m_report; }
    QJsonObject check(int row) const { return m_checks.at(row).toObject(); }
    int driftRows() const;

private:
    QJsonObject m_report;
    QJsonArray m_checks;
};

} // namespace flashsale::console
