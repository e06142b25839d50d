#include "salesmodel.h"

#include "consoleformat.h"

#include <QBrush>
#include <QColor>

namespace flashsale::console {

namespace {

qint64 idOf(const QJsonObject &sale) {
    return sale.value(QStringLiteral("id")).toInteger();
}

} // namespace

SalesModel::SalesModel(QObject *parent)
    : QAbstractTableModel(parent) {}

int SalesModel::rowCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : int(m_rows.size());
}

int SalesModel::columnCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant SalesModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::DisplayRole) {
        static const char *names[] = {"ID",    "Name", "State / phase", "Starts",   "Ends",
                                      "Stock", "Sold", "Held",          "Remaining"};
        return tr(names[section]);
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case State:
            return tr("The operator's state (active, paused, stopped) and the phase it gives with "
                      "the clock (scheduled, warm, open, closed)");
        case Sold:
            return tr("Units of paid orders: the dashboard's Paid (live for the selected sale)");
        case Held:
            return tr("Units of orders not yet paid, reserved or paying: the dashboard's Held + "
                      "Pending (live for the selected sale)");
        case Remaining:
            return tr("Units Redis still sells (- while the sale is not in Redis)");
        default:
            return {};
        }
    }
    return {};
}

QVariant SalesModel::data(const QModelIndex &index, int role) const {
    if (!index.isValid() || index.row() >= m_rows.size())
        return {};
    const Row &row = m_rows[index.row()];
    const QJsonObject &s = row.sale;
    if (role == SaleIdRole)
        return idOf(s);
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Id:
            return idOf(s);
        case Name:
            return s.value(QStringLiteral("name")).toString();
        case State: {
            const QString state = s.value(QStringLiteral("state")).toString();
            const QString phase = s.value(QStringLiteral("phase")).toString();
            return state == phase || phase.isEmpty() ? state
                                                     : state + QStringLiteral(" / ") + phase;
        }
        case Starts:
            return formatTime(s.value(QStringLiteral("starts_at")));
        case Ends:
            return formatTime(s.value(QStringLiteral("ends_at")));
        case Stock:
            return formatCell(s.value(QStringLiteral("stock")));
        case Sold:
            return formatCell(s.value(QStringLiteral("paid_units")));
        case Held:
            return formatCell(s.value(QStringLiteral("held_units")));
        case Remaining:
            return formatCell(s.value(QStringLiteral("remaining")));
        }
    }
    if (role == Qt::TextAlignmentRole && index.column() != Name && index.column() != State)
        return int(index.column() >= Stock || index.column() == Id ? Qt::AlignRight : Qt::AlignLeft)
               | int(Qt::AlignVCenter);
    if (role == Qt::ForegroundRole && index.column() == State) {
        const QString state = s.value(QStringLiteral("state")).toString();
        if (state == QLatin1String("paused"))
            return QBrush(QColor(0xb3, 0x6b, 0x00));
        if (state == QLatin1String("stopped"))
            return QBrush(QColor(0x80, 0x80, 0x80));
        if (s.value(QStringLiteral("phase")).toString() == QLatin1String("open"))
            return QBrush(QColor(0x1b, 0x7f, 0x2a));
    }
    if (role == Qt::ToolTipRole)
        return tr("Sale %1 \"%2\"\n%3 item(s), per-user limit %4, hold %5 s\nadmission %6/s "
                  "(burst %7)%8")
            .arg(idOf(s))
            .arg(s.value(QStringLiteral("name")).toString(),
                 formatCell(s.value(QStringLiteral("item_count"))),
                 formatCell(s.value(QStringLiteral("per_user_limit"))),
                 formatCell(s.value(QStringLiteral("hold_seconds"))),
                 formatCell(s.value(QStringLiteral("admission_rate"))),
                 formatCell(s.value(QStringLiteral("admission_burst"))),
                 s.value(QStringLiteral("schedule_id")).isNull()
                     ? QString()
                     : tr("\nfrom schedule %1")
                           .arg(formatCell(s.value(QStringLiteral("schedule_id")))));
    return {};
}

void SalesModel::setSales(const QJsonArray &sales) {
    beginResetModel();
    m_rows.clear();
    for (const QJsonValue &v : sales)
        m_rows.append(Row{v.toObject()});
    std::sort(m_rows.begin(), m_rows.end(),
              [](const Row &a, const Row &b) { return idOf(a.sale) > idOf(b.sale); });
    endResetModel();
}

void SalesModel::upsert(const QJsonObject &sale) {
    const qint64 id = idOf(sale);
    if (id <= 0)
        return;
    const int row = rowOf(id);
    if (row >= 0) {
        // sale.get adds items; a sale object from an event has none: keep what the list had.
        m_rows[row].sale = sale;
        Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
        return;
    }
    int at = 0;
    while (at < m_rows.size() && idOf(m_rows[at].sale) > id)
        ++at;
    beginInsertRows({}, at, at);
    m_rows.insert(at, Row{sale});
    endInsertRows();
}

void SalesModel::applyStats(const QJsonObject &stats) {
    const int row = rowOf(stats.value(QStringLiteral("sale_id")).toInteger());
    if (row < 0)
        return;
    Row &r = m_rows[row];
    for (const char *key : {"stock", "remaining", "phase"}) {
        const QString k = QString::fromLatin1(key);
        if (stats.contains(k))
            r.sale.insert(k, stats.value(k));
    }
    const QJsonObject units = stats.value(QStringLiteral("units")).toObject();
    if (!units.isEmpty()) {
        r.sale.insert(QStringLiteral("paid_units"), units.value(QStringLiteral("paid")));
        r.sale.insert(QStringLiteral("held_units"),
                      units.value(QStringLiteral("held")).toInteger()
                          + units.value(QStringLiteral("pending")).toInteger());
    }
    Q_EMIT dataChanged(index(row, State), index(row, ColumnCount - 1));
}

int SalesModel::rowOf(qint64 saleId) const {
    for (int i = 0; i < m_rows.size(); ++i)
        if (idOf(m_rows[i].sale) == saleId)
            return i;
    return -1;
}

QJsonObject SalesModel::sale(int row) const {
    return row >= 0 && row < m_rows.size() ? m_rows[row].sale : QJsonObject();
}

QJsonObject SalesModel::saleById(qint64 saleId) const {
    return sale(rowOf(saleId));
}

} // namespace flashsale::console
