#include "auditmodel.h"

#include "consoleformat.h"

#include <QJsonDocument>

namespace flashsale::console {

namespace {

qint64 idOf(const QJsonObject &e) {
    return e.value(QStringLiteral("id")).toInteger();
}

} // namespace

AuditModel::AuditModel(QObject *parent)
    : QAbstractTableModel(parent) {}

int AuditModel::rowCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : int(m_entries.size());
}

int AuditModel::columnCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant AuditModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char *names[] = {"ID",    "At", "Actor", "Action", "Sale", "Before → after",
                                  "Detail"};
    return tr(names[section]);
}

QVariant AuditModel::data(const QModelIndex &index, int role) const {
    if (!index.isValid() || index.row() >= m_entries.size())
        return {};
    const QJsonObject &e = m_entries[index.row()];
    const QString change =
        formatChange(e.value(QStringLiteral("before")), e.value(QStringLiteral("after")));
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Id:
            return idOf(e);
        case At:
            return formatTime(e.value(QStringLiteral("at")));
        case Actor:
            return e.value(QStringLiteral("actor")).toString();
        case Action:
            return e.value(QStringLiteral("action")).toString();
        case Sale:
            return formatCell(e.value(QStringLiteral("sale_id")));
        case Change:
            return change;
        case Detail:
            return formatCell(e.value(QStringLiteral("detail")));
        }
    }
    if (role == Qt::ToolTipRole) {
        if (index.column() == Change)
            return QStringLiteral("before: %1\nafter: %2")
                .arg(formatCell(e.value(QStringLiteral("before"))),
                     formatCell(e.value(QStringLiteral("after"))));
        if (index.column() == Detail || index.column() == Actor)
            return data(index, Qt::DisplayRole);
    }
    return {};
}

void AuditModel::clear() {
    beginResetModel();
    m_entries.clear();
    endResetModel();
}

bool AuditModel::contains(qint64 id) const {
    for (const QJsonObject &e : m_entries)
        if (idOf(e) == id)
            return true;
    return false;
}

void AuditModel::appendOlder(const QJsonArray &entries) {
    QList<QJsonObject> add;
    for (const QJsonValue &v : entries)
        if (!contains(idOf(v.toObject())))
            add.append(v.toObject());
    if (add.isEmpty())
        return;
    beginInsertRows({}, int(m_entries.size()), int(m_entries.size() + add.size()) - 1);
    m_entries.append(add);
    endInsertRows();
}

void AuditModel::prepend(const QJsonObject &entry) {
    const qint64 id = idOf(entry);
    if (contains(id))
        return;
    int at = 0;
    while (at < m_entries.size() && idOf(m_entries[at]) > id)
        ++at;
    beginInsertRows({}, at, at);
    m_entries.insert(at, entry);
    endInsertRows();
}

qint64 AuditModel::oldestId() const {
    return m_entries.isEmpty() ? 0 : idOf(m_entries.last());
}

} // namespace flashsale::console
