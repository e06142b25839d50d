#include "deadlettersmodel.h"

#include "consoleformat.h"

#include <QBrush>
#include <QColor>
#include <QFont>

#include <algorithm>

namespace flashsale::console {

DeadLettersModel::Letter DeadLettersModel::Letter::fromJson(const QJsonObject &o) {
    Letter l;
    l.saleId = o.value(QStringLiteral("sale_id")).toInteger();
    l.entryId = o.value(QStringLiteral("entry_id")).toString();
    l.userId = o.value(QStringLiteral("user_id")).toString();
    l.quantity = o.value(QStringLiteral("qty")).toInteger();
    l.reason = o.value(QStringLiteral("reason")).toString();
    l.at = o.value(QStringLiteral("at")).toString();
    l.ageS = o.value(QStringLiteral("age_s")).toInteger();
    l.resolution = o.value(QStringLiteral("resolution")).toObject();
    return l;
}

DeadLettersModel::DeadLettersModel(QObject *parent)
    : QAbstractTableModel(parent) {}

void DeadLettersModel::setLetters(const QJsonArray &letters) {
    beginResetModel();
    m_letters.clear();
    m_letters.reserve(letters.size());
    for (const QJsonValue &v : letters)
        m_letters.append(Letter::fromJson(v.toObject()));
    endResetModel();
}

void DeadLettersModel::setSaleNames(const QHash<qint64, QString> &names) {
    m_saleNames = names;
    if (!m_letters.isEmpty())
        Q_EMIT dataChanged(index(0, Sale), index(rowCount() - 1, Sale), {Qt::DisplayRole});
}

int DeadLettersModel::rowOf(qint64 saleId, const QString &entryId) const {
    for (int i = 0; i < m_letters.size(); ++i)
        if (m_letters[i].saleId == saleId && m_letters[i].entryId == entryId)
            return i;
    return -1;
}

int DeadLettersModel::openCount() const {
    return int(std::count_if(m_letters.cbegin(), m_letters.cend(),
                             [](const Letter &l) { return !l.resolved(); }));
}

QString DeadLettersModel::formatAge(qint64 s) {
    if (s < 0)
        s = 0;
    if (s < 60)
        return tr("%1 s").arg(s);
    if (s < 3600)
        return tr("%1 min").arg(s / 60);
    if (s < 86400)
        return tr("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QLatin1Char('0'));
    return tr("%1 d %2 h").arg(s / 86400).arg((s % 86400) / 3600);
}

QString DeadLettersModel::formatResolution(const QJsonObject &r) {
    if (r.isEmpty())
        return tr("open");
    const QString action = r.value(QStringLiteral("action")).toString();
    const QString outcome = r.value(QStringLiteral("outcome")).toString();
    QString text = tr("%1 by %2, %3")
                       .arg(action, r.value(QStringLiteral("operator")).toString(),
                            formatTime(r.value(QStringLiteral("at"))));
    if (!outcome.isEmpty() && outcome != action)
        text += QStringLiteral(": ") + outcome;
    return text;
}

QString DeadLettersModel::saleText(qint64 saleId) const {
    const QString name = m_saleNames.value(saleId);
    return name.isEmpty() ? QString::number(saleId)
                          : QStringLiteral("%1 \u00b7 %2").arg(saleId).arg(name);
}

int DeadLettersModel::rowCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : int(m_letters.size());
}

int DeadLettersModel::columnCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant DeadLettersModel::data(const QModelIndex &index, int role) const {
    if (!index.isValid() || index.row() >= m_letters.size())
        return {};
    const Letter &l = m_letters[index.row()];
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Sale:
            return saleText(l.saleId);
        case Entry:
            return l.entryId;
        case User:
            return l.userId;
        case Quantity:
            return QString::number(l.quantity);
        case Reason:
            return l.reason;
        case Age:
            return formatAge(l.ageS);
        case Resolution:
            return formatResolution(l.resolution);
        }
        return {};
    case Qt::ToolTipRole:
        switch (index.column()) {
        case Reason:
            return l.reason;
        case Age:
            return tr("Dead-lettered %1").arg(formatTime(QJsonValue(l.at)));
        case Resolution:
            return formatResolution(l.resolution);
        }
        return {};
    case Qt::TextAlignmentRole:
        if (index.column() == Quantity || index.column() == Age)
            return QVariant(Qt::AlignRight | Qt::AlignVCenter);
        return QVariant(Qt::AlignLeft | Qt::AlignVCenter);
    case Qt::ForegroundRole:
        if (l.resolved())
            return QBrush(QColor(0x6b, 0x6b, 0x6b));
        if (index.column() == Reason || index.column() == Resolution)
            return QBrush(QColor(0xb0, 0x00, 0x20));
        return {};
    case Qt::FontRole:
        if (!l.resolved() && index.column() == Resolution) {
            QFont f;
            f.setBold(true);
            return f;
        }
        return {};
    }
    return {};
}

QVariant DeadLettersModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Sale:
        return tr("Sale");
    case Entry:
        return tr("Entry");
    case User:
        return tr("Buyer");
    case Quantity:
        return tr("Qty");
    case Reason:
        return tr("Reason");
    case Age:
        return tr("Age");
    case Resolution:
        return tr("Resolution");
    }
    return {};
}

} // namespace flashsale::console
