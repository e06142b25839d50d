#include "reconcilerunsmodel.h"

#include "consoleformat.h"

#include <QBrush>
#include <QColor>

namespace flashsale::console {

namespace {

qint64 runId(const QJsonObject &r) {
    return r.value(QStringLiteral("run_id")).toInteger();
}

int drifting(const QJsonObject &r) {
    int n = 0;
    for (const QJsonValue &c : r.value(QStringLiteral("checks")).toArray())
        n += c.toObject().value(QStringLiteral("drift")).toDouble() != 0 ? 1 : 0;
    return n;
}

} // namespace

ReconcileRunsModel::ReconcileRunsModel(QObject *parent)
    : QAbstractTableModel(parent) {}

int ReconcileRunsModel::rowCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : int(m_runs.size());
}

int ReconcileRunsModel::columnCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ReconcileRunsModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    static const char *names[] = {"Run", "Started", "Mode", "Trigger", "Result", "Actor"};
    return tr(names[section]);
}

QVariant ReconcileRunsModel::data(const QModelIndex &index, int role) const {
    if (!index.isValid() || index.row() >= m_runs.size())
        return {};
    const QJsonObject &r = m_runs[index.row()];
    const int drift = drifting(r);
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Run:
            return runId(r);
        case Started:
            return formatTime(r.value(QStringLiteral("started_at")));
        case Mode:
            return r.value(QStringLiteral("mode")).toString();
        case Trigger:
            return r.value(QStringLiteral("trigger")).toString();
        case Result: {
            const int repairs = int(r.value(QStringLiteral("repairs")).toArray().size());
            QString text = drift ? tr("%n drifting", nullptr, drift) : tr("ok");
            if (repairs)
                text += tr(", %n repaired", nullptr, repairs);
            return text;
        }
        case Actor:
            return r.value(QStringLiteral("actor")).toString();
        }
    }
    if (role == Qt::ForegroundRole && index.column() == Result && drift)
        return QBrush(QColor(0xb0, 0x00, 0x20));
    if (role == Qt::ToolTipRole)
        return r.value(QStringLiteral("actor")).toString();
    return {};
}

void ReconcileRunsModel::setRuns(const QJsonArray &runs) {
    beginResetModel();
    m_runs.clear();
    for (const QJsonValue &v : runs)
        m_runs.append(v.toObject());
    std::sort(m_runs.begin(), m_runs.end(),
              [](const QJsonObject &a, const QJsonObject &b) { return runId(a) > runId(b); });
    endResetModel();
}

int ReconcileRunsModel::addRun(const QJsonObject &report) {
    const qint64 id = runId(report);
    const int existing = rowOf(id);
    if (existing >= 0) {
        m_runs[existing] = report;
        Q_EMIT dataChanged(index(existing, 0), index(existing, ColumnCount - 1));
        return existing;
    }
    int at = 0;
    while (at < m_runs.size() && runId(m_runs[at]) > id)
        ++at;
    beginInsertRows({}, at, at);
    m_runs.insert(at, report);
    endInsertRows();
    return at;
}

QJsonObject ReconcileRunsModel::run(int row) const {
    return row >= 0 && row < m_runs.size() ? m_runs[row] : QJsonObject();
}

int ReconcileRunsModel::rowOf(qint64 id) const {
    for (int i = 0; i < m_runs.size(); ++i)
        if (runId(m_runs[i]) == id)
            return i;
    return -1;
}

} // namespace flashsale::console
