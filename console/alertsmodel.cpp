#include "alertsmodel.h"

#include "consoleformat.h"

#include <QBrush>
#include <QColor>
#include <QDateTime>
#include <QJsonArray>

namespace flashsale::console {

AlertsModel::AlertsModel(QObject *parent)
    : QAbstractTableModel(parent) {}

int AlertsModel::rowCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : int(m_alerts.size());
}

int AlertsModel::columnCount(const QModelIndex &parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QString AlertsModel::levelName(Level level) {
    switch (level) {
    case Level::Info:
        return tr("info");
    case Level::Warning:
        return tr("warning");
    case Level::Critical:
        return tr("critical");
    }
    return {};
}

QVariant AlertsModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Time:
        return tr("Time");
    case Severity:
        return tr("Severity");
    case Text:
        return tr("Alert");
    }
    return {};
}

QVariant AlertsModel::data(const QModelIndex &index, int role) const {
    if (!index.isValid() || index.row() >= m_alerts.size())
        return {};
    const Alert &a = m_alerts[index.row()];
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Time:
            return formatMs(a.atMs);
        case Severity:
            return levelName(a.level);
        case Text:
            return a.text;
        }
    }
    if (role == Qt::ToolTipRole)
        return a.text;
    if (role == Qt::ForegroundRole && index.column() == Severity) {
        if (a.level == Level::Critical)
            return QBrush(QColor(0xb0, 0x00, 0x20));
        if (a.level == Level::Warning)
            return QBrush(QColor(0xb3, 0x6b, 0x00));
    }
    return {};
}

void AlertsModel::reset() {
    beginResetModel();
    m_alerts.clear();
    m_active.clear();
    m_seenRuns.clear();
    endResetModel();
}

void AlertsModel::add(Level level, const QString &text, const QString &key, qint64 atMs) {
    Alert a{atMs ? atMs : QDateTime::currentMSecsSinceEpoch(), level, text, key};
    beginInsertRows({}, 0, 0);
    m_alerts.prepend(a);
    endInsertRows();
    if (m_alerts.size() > kMaxAlerts) {
        beginRemoveRows({}, kMaxAlerts, int(m_alerts.size()) - 1);
        m_alerts.resize(kMaxAlerts);
        endRemoveRows();
    }
    Q_EMIT raised(a);
}

void AlertsModel::condition(const QString &key, bool on, Level level, const QString &text,
                            const QString &normalText, qint64 atMs) {
    if (on && !m_active.contains(key)) {
        m_active.insert(key);
        add(level, text, key, atMs);
    } else if (!on && m_active.contains(key)) {
        m_active.remove(key);
        add(Level::Info, normalText, key, atMs);
    }
}

void AlertsModel::checkStats(const QJsonObject &stats) {
    const qint64 at = qint64(stats.value(QStringLiteral("at_ms")).toDouble());
    const Thresholds &t = m_thresholds;

    const QJsonObject latency = stats.value(QStringLiteral("latency_ms")).toObject();
    const double p99 = latency.value(QStringLiteral("p99")).toDouble();
    const bool slow = latency.value(QStringLiteral("count")).toDouble() > 0 && p99 > t.p99Ms;
    condition(QStringLiteral("p99"), slow, Level::Warning,
              tr("Latency p99 %1 ms is above %2 ms").arg(p99, 0, 'f', 1).arg(t.p99Ms),
              tr("Latency p99 back under %1 ms").arg(t.p99Ms), at);

    for (const QJsonValue &v : stats.value(QStringLiteral("processes")).toArray()) {
        const QJsonObject p = v.toObject();
        const QString id = p.value(QStringLiteral("id")).toString();
        QStringList roles;
        for (const QJsonValue &r : p.value(QStringLiteral("roles")).toArray())
            roles << r.toString();
        const QString name = QStringLiteral("%1 (%2)").arg(id, roles.join(QLatin1Char(',')));
        const bool up = p.value(QStringLiteral("up")).toBool();
        condition(QStringLiteral("down:") + id, !up, Level::Critical,
                  tr("Process %1 is down (last seen %2 s ago)")
                      .arg(name)
                      .arg(p.value(QStringLiteral("seen_ms_ago")).toDouble() / 1000.0, 0, 'f', 1),
                  tr("Process %1 is up again").arg(name), at);
        const double loopLag = p.value(QStringLiteral("loop_lag_ms")).toDouble();
        condition(QStringLiteral("looplag:") + id, up && loopLag > t.loopLagMs, Level::Warning,
                  tr("Process %1: event-loop lag %2 ms").arg(name).arg(loopLag, 0, 'f', 1),
                  tr("Process %1: event-loop lag back to normal").arg(name), at);
    }

    const QJsonObject lag = stats.value(QStringLiteral("lag")).toObject();
    const qint64 stream = lag.value(QStringLiteral("stream")).toInteger();
    condition(QStringLiteral("lag:stream"), stream > t.streamLag, Level::Warning,
              tr("Stream lag %1 is above %2: bookings wait to reach PostgreSQL")
                  .arg(stream)
                  .arg(t.streamLag),
              tr("Stream lag back under %1").arg(t.streamLag), at);
    const qint64 outbox = lag.value(QStringLiteral("outbox")).toInteger();
    const double outboxAge = lag.value(QStringLiteral("outbox_age_s")).toDouble();
    condition(QStringLiteral("lag:outbox"), outbox > t.outboxRows || outboxAge > t.outboxAgeSeconds,
              Level::Warning,
              tr("Outbox: %1 rows, oldest %2 s (thresholds %3 rows, %4 s)")
                  .arg(outbox)
                  .arg(outboxAge, 0, 'f', 1)
                  .arg(t.outboxRows)
                  .arg(t.outboxAgeSeconds),
              tr("Outbox back to normal"), at);
    const QJsonObject consumers = lag.value(QStringLiteral("consumers")).toObject();
    for (auto it = consumers.constBegin(); it != consumers.constEnd(); ++it) {
        const qint64 behind = it.value().toInteger();
        condition(QStringLiteral("lag:consumer:") + it.key(), behind > t.consumerLag,
                  Level::Warning,
                  tr("Consumer %1 is %2 messages behind (threshold %3)")
                      .arg(it.key())
                      .arg(behind)
                      .arg(t.consumerLag),
                  tr("Consumer %1 caught up").arg(it.key()), at);
    }
}

void AlertsModel::checkReconcile(const QJsonObject &report) {
    const qint64 run = report.value(QStringLiteral("run_id")).toInteger();
    if (run > 0 && m_seenRuns.contains(run))
        return;
    m_seenRuns.insert(run);
    QStringList drifts;
    for (const QJsonValue &v : report.value(QStringLiteral("checks")).toArray()) {
        const QJsonObject c = v.toObject();
        const double drift = c.value(QStringLiteral("drift")).toDouble();
        if (drift != 0)
            drifts << tr("%1 %2 drift %3%4 (expected %5, found %6)")
                          .arg(c.value(QStringLiteral("check")).toString(),
                               c.value(QStringLiteral("subject")).toString(),
                               drift > 0 ? QStringLiteral("+") : QString(),
                               formatCell(c.value(QStringLiteral("drift"))),
                               formatCell(c.value(QStringLiteral("expected"))),
                               formatCell(c.value(QStringLiteral("found"))));
    }
    const QString mode = report.value(QStringLiteral("mode")).toString();
    if (!drifts.isEmpty()) {
        const qsizetype total = drifts.size();
        if (total > 3) {
            drifts = drifts.mid(0, 3);
            drifts << tr("%1 more").arg(total - 3);
        }
        add(Level::Critical, tr("Reconciliation run %1 (%2): %3")
                                 .arg(run)
                                 .arg(mode, drifts.join(QStringLiteral("; "))));
    } else if (mode == QLatin1String("repair")
               && !report.value(QStringLiteral("repairs")).toArray().isEmpty()) {
        add(Level::Info, tr("Reconciliation run %1 repaired %2 item(s); no drift left")
                             .arg(run)
                             .arg(report.value(QStringLiteral("repairs")).toArray().size()));
    }
}

} // namespace flashsale::console
