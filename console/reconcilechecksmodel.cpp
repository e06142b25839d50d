#include "reconcilechecksmodel.h"

#include "consoleformat.h"

#include <QBrush>
#include <QColor>
#include <QFont>

namespace flashsale::console {

ReconcileChecksModel::ReconcileChecksModel(QObject *parent)
    : QAbstractTableModel(parent) {}

int ReconcileChecksModel::rowCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : int(m_checks.size());
}

int ReconcileChecksModel::columnCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ReconcileChecksModel::headerData(int section, Qt::Orientation orientation,
                                          int role) const {
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::DisplayRole) {
        static const char *names[] = {"Check", "Subject", "Expected", "Found", "Drift", "Detail"};
        return tr(names[section]);
    }
    if (role == Qt::ToolTipRole && section == Drift)
        return tr("found − expected; anything but 0 is drift");
    return {};
}

QVariant ReconcileChecksModel::data(const QModelIndex &index, int role) const {
    if (!index.isValid() || index.row() >= m_checks.size())
        return {};
    const QJsonObject c = m_checks.at(index.row()).toObject();
    const bool drift = c.value(QStringLiteral("drift")).toDouble() != 0;
    static const char *keys[] = {"check", "subject", "expected", "found", "drift", "detail"};
    const QJsonValue v = c.value(QString::fromLatin1(keys[index.column()]));
    switch (role) {
    case Qt::DisplayRole:
        if (index.column() == Drift && v.toDouble() > 0)
            return QStringLiteral("+") + formatCell(v);
        return formatCell(v);
    case Qt::ToolTipRole:
        return index.column() == Detail ? formatCell(v) : QVariant();
    case Qt::BackgroundRole:
        return drift ? QBrush(QColor(0xf8, 0xd7, 0xda)) : QVariant();
    case Qt::FontRole:
        if (drift && index.column() == Drift) {
            QFont f;
            f.setBold(true);
            return f;
        }
        return {};
    case Qt::TextAlignmentRole:
        if (index.column() >= Expected && index.column() <= Drift)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        return {};
    }
    return {};
}

void ReconcileChecksModel::setReport(const QJsonObject &report) {
    beginResetModel();
    m_report = report;
    m_checks = report.value(QStringLiteral("checks")).toArray();
    endResetModel();
}

int ReconcileChecksModel::driftRows() const {
    int n = 0;
    for (const QJsonValue &v : m_checks)
        n += v.toObject().value(QStringLiteral("drift")).toDouble() != 0 ? 1 : 0;
    return n;
}

} // namespace flashsale::console
