#pragma once

#include <QAbstractTableModel>
#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>

namespace flashsale::console {

// The sales the server knows, newest first: filled by sale.list, kept current by "sale" events,
// the answers to actions, and the selected sale's stats pushes.
//
// Sold, Held and Remaining have one definition wherever they come from (docs/CONSOLE.md): Sold is
// units of paid orders, Held units of pending orders (reserved or paying), Remaining units Redis
// still sells. The followed sale takes them from every stats push, the dashboard's own source
// (units.paid, units.held + units.pending, remaining); the others from sale.list's paid_units,
// held_units and remaining, which the server counts the same way.
class SalesModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Id, Name, State, Starts, Ends, Stock, Sold, Held, Remaining, ColumnCount };
    static constexpr int SaleIdRole = Qt::UserRole + 1;

    explicit SalesModel(QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    void setSales(const QJsonArray &sales);
    // Replaces the sale with the same id, or inserts it in id order.
    void upsert(const QJsonObject &sale);
    // Takes stock, remaining, phase, sold and held units from a stats event.
    void applyStats(const QJsonObject &stats);

    int rowOf(qint64 saleId) const; // -1 when absent
    QJsonObject sale(int row) const;
    QJsonObject saleById(qint64 saleId) const;

private:
    struct Row {
        QJsonObject sale;
    };
    QList<Row> m_rows;
};

} // namespace flashsale::console
