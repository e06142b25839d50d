#include "alertsmodel.h"

#include "conservation.h"
#include "consoleformat.h"
#include "processlist.h"

#include <QBrush>
#include <QColor>
#include <QDateTime>
#include <QFont>
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
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case Time:
            return tr("When it was last raised");
        case State:
            return tr("active, acknowledged (active, seen to), cleared (with the time), or noted");
        case Count:
            return tr("How many times this condition was raised since the sale was selected");
        default:
            return {};
        }
    }
    if (role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Time:
        return tr("Time");
    case Severity:
        return tr("Severity");
    case State:
        return tr("State");
    case Count:
        return tr("Count");
    case Text:
        return tr("Alert");
    }
    return {};
}

QVariant AlertsModel::data(const QModelIndex &index, int role) const {
    if (!index.isValid() || index.row() >= m_alerts.size())
        return {};
    const Alert &a = m_alerts[index.row()];
    const bool quiet = a.acknowledged || a.status == Status::Cleared;
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Time:
            return formatMs(a.atMs);
        case Severity:
            return levelName(a.level);
        case State:
            switch (a.status) {
            case Status::Active:
                return a.acknowledged ? tr("acknowledged") : tr("ACTIVE");
            case Status::Cleared:
                return tr("cleared %1").arg(formatMs(a.clearedMs));
            case Status::Event:
                return a.acknowledged ? tr("acknowledged") : tr("noted");
            }
            return {};
        case Count:
            return a.count > 1 ? QStringLiteral("×%1").arg(a.count) : QString();
        case Text:
            return a.status == Status::Cleared && !a.clearedText.isEmpty()
                       ? QStringLiteral("%1 — %2").arg(a.text, a.clearedText)
                       : a.text;
        }
    }
    if (role == Qt::ToolTipRole)
        return a.status == Status::Cleared ? QStringLiteral("%1\n%2").arg(a.text, a.clearedText)
                                           : a.text;
    if (role == Qt::ForegroundRole) {
        if (quiet)
            return QBrush(QColor(0x80, 0x80, 0x80));
        if (index.column() == Severity || index.column() == State) {
            if (a.level == Level::Critical)
                return QBrush(QColor(0xb0, 0x00, 0x20));
            if (a.level == Level::Warning)
                return QBrush(QColor(0xb3, 0x6b, 0x00));
        }
    }
    if (role == Qt::FontRole && !quiet && a.status == Status::Active
        && a.level == Level::Critical) {
        QFont f;
        f.setBold(true);
        return f;
    }
    return {};
}

void AlertsModel::reset() {
    beginResetModel();
    m_alerts.clear();
    m_conditions.clear();
    m_seenRuns.clear();
    m_lastExact = {};
    m_brokenPushes = 0;
    m_moved.clear();
    endResetModel();
}

int AlertsModel::rowOf(const QString &key) const {
    for (int i = 0; i < m_alerts.size(); ++i)
        if (m_alerts[i].key == key)
            return i;
    return -1;
}

const AlertsModel::Alert *AlertsModel::find(const QString &key) const {
    const int row = rowOf(key);
    return row < 0 ? nullptr : &m_alerts[row];
}

int AlertsModel::unacknowledgedCount() const {
    int n = 0;
    for (const Alert &a : m_alerts)
        n += a.status != Status::Cleared && !a.acknowledged;
    return n;
}

void AlertsModel::changed(int row) {
    Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

void AlertsModel::add(Level level, const QString &text, const QString &key, qint64 atMs) {
    const qint64 at = atMs ? atMs : QDateTime::currentMSecsSinceEpoch();
    if (!key.isEmpty()) {
        m_conditions[key].active = true;
        raise(key, level, text, at);
        return;
    }
    Alert a;
    a.atMs = at;
    a.level = level;
    a.text = text;
    a.key = QStringLiteral("event:%1").arg(++m_events);
    a.lastMs = at;
    a.status = Status::Event;
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

void AlertsModel::raise(const QString &key, Level level, const QString &text, qint64 atMs) {
    int row = rowOf(key);
    Alert a;
    if (row >= 0) {
        a = m_alerts[row];
        ++a.count;
        beginRemoveRows({}, row, row);
        m_alerts.removeAt(row);
        endRemoveRows();
    }
    a.key = key;
    a.level = level;
    a.text = text;
    a.atMs = atMs;
    a.lastMs = atMs;
    a.status = Status::Active;
    a.acknowledged = false;
    a.clearedMs = 0;
    a.clearedText.clear();
    beginInsertRows({}, 0, 0);
    m_alerts.prepend(a);
    endInsertRows();
    Q_EMIT raised(a);
}

void AlertsModel::clear(const QString &key, const QString &clearedText, qint64 atMs) {
    m_conditions[key] = Condition{};
    const int row = rowOf(key);
    if (row < 0)
        return;
    Alert &a = m_alerts[row];
    a.status = Status::Cleared;
    a.clearedMs = atMs;
    a.clearedText = clearedText;
    changed(row);
}

bool AlertsModel::acknowledge(int row) {
    if (row < 0 || row >= m_alerts.size() || m_alerts[row].acknowledged
        || m_alerts[row].status == Status::Cleared)
        return false;
    m_alerts[row].acknowledged = true;
    changed(row);
    return true;
}

void AlertsModel::ageOut(qint64 nowMs) {
    const qint64 keepMs = qint64(m_thresholds.clearedKeepSeconds * 1000);
    for (int i = int(m_alerts.size()) - 1; i >= 0; --i) {
        const Alert &a = m_alerts[i];
        const bool old =
            (a.status == Status::Cleared && nowMs - a.clearedMs > keepMs)
            || (a.status == Status::Event && a.acknowledged && nowMs - a.atMs > keepMs);
        if (!old)
            continue;
        beginRemoveRows({}, i, i);
        m_alerts.removeAt(i);
        endRemoveRows();
    }
}

void AlertsModel::condition(const QString &key, bool over, bool under, qint64 holdMs, Level level,
                            const QString &text, const QString &clearedText, qint64 atMs) {
    Condition &c = m_conditions[key];
    if (!c.active) {
        c.underSinceMs = -1;
        if (!over) {
            c.overSinceMs = -1;
            return;
        }
        if (c.overSinceMs < 0)
            c.overSinceMs = atMs;
        if (atMs - c.overSinceMs >= holdMs) {
            c.active = true;
            c.overSinceMs = -1;
            raise(key, level, text, atMs);
        }
        return;
    }
    const int row = rowOf(key);
    if (over && row >= 0) { // still on: keep the figures current, no new row
        m_alerts[row].text = text;
        m_alerts[row].lastMs = atMs;
        changed(row);
    }
    if (!under) {
        c.underSinceMs = -1;
        return;
    }
    if (c.underSinceMs < 0)
        c.underSinceMs = atMs;
    if (atMs - c.underSinceMs >= holdMs)
        clear(key, clearedText, atMs);
}

void AlertsModel::checkStats(const QJsonObject &stats) {
    const qint64 at = qint64(stats.value(QStringLiteral("at_ms")).toDouble());
    const Thresholds &t = m_thresholds;
    const qint64 hold = qint64(t.holdSeconds * 1000);
    const double under = t.clearFraction;

    const QJsonObject latency = stats.value(QStringLiteral("latency_ms")).toObject();
    const double p99 = latency.value(QStringLiteral("p99")).toDouble();
    const bool measured = latency.value(QStringLiteral("count")).toDouble() > 0;
    condition(QStringLiteral("p99"), measured && p99 > t.p99Ms, !measured || p99 <= t.p99Ms * under,
              hold, Level::Warning,
              tr("Latency p99 %1 ms is above %2 ms").arg(p99, 0, 'f', 1).arg(t.p99Ms),
              tr("back under %1 ms").arg(t.p99Ms * under), at);

    checkProcesses(stats.value(QStringLiteral("processes")).toArray(), at);

    const QJsonObject lag = stats.value(QStringLiteral("lag")).toObject();
    const qint64 stream = lag.value(QStringLiteral("stream")).toInteger();
    condition(QStringLiteral("lag:stream"), stream > t.streamLag,
              double(stream) <= double(t.streamLag) * under, hold, Level::Warning,
              tr("Stream lag %1 is above %2: bookings wait to reach PostgreSQL")
                  .arg(stream)
                  .arg(t.streamLag),
              tr("stream lag back under %1").arg(double(t.streamLag) * under), at);
    const qint64 outbox = lag.value(QStringLiteral("outbox")).toInteger();
    const double outboxAge = lag.value(QStringLiteral("outbox_age_s")).toDouble();
    condition(QStringLiteral("lag:outbox"), outbox > t.outboxRows || outboxAge > t.outboxAgeSeconds,
              double(outbox) <= double(t.outboxRows) * under
                  && outboxAge <= t.outboxAgeSeconds * under,
              hold, Level::Warning,
              tr("Outbox: %1 rows, oldest %2 s (thresholds %3 rows, %4 s)")
                  .arg(outbox)
                  .arg(outboxAge, 0, 'f', 1)
                  .arg(t.outboxRows)
                  .arg(t.outboxAgeSeconds),
              tr("outbox back to normal"), at);
    const QJsonObject consumers = lag.value(QStringLiteral("consumers")).toObject();
    for (auto it = consumers.constBegin(); it != consumers.constEnd(); ++it) {
        const qint64 behind = it.value().toInteger();
        condition(QStringLiteral("lag:consumer:") + it.key(), behind > t.consumerLag,
                  double(behind) <= double(t.consumerLag) * under, hold, Level::Warning,
                  tr("Consumer %1 is %2 messages behind (threshold %3)")
                      .arg(it.key())
                      .arg(behind)
                      .arg(t.consumerLag),
                  tr("caught up"), at);
    }

    if (stats.contains(QStringLiteral("conservation")))
        checkConservation(stats.value(QStringLiteral("conservation")).toObject(),
                          stats.value(QStringLiteral("sale_id")).toInteger(), at);
    ageOut(at);
}

void AlertsModel::checkProcesses(const QJsonArray &processes, qint64 at) {
    const Thresholds &t = m_thresholds;
    const qint64 hold = qint64(t.holdSeconds * 1000);
    const qint64 archiveMs = qint64(t.processArchiveSeconds * 1000);
    QHash<QString, ProcessFate> fates;
    for (const QJsonValue &v : processes) {
        const QJsonObject p = v.toObject();
        const QString id = p.value(QStringLiteral("id")).toString();
        const ProcessFate fate = processFate(p, processes, archiveMs);
        fates.insert(id, fate);
        if (fate.kind != ProcessFate::Up && fate.kind != ProcessFate::Down)
            continue;
        const QString name = processName(p);
        const bool up = fate.kind == ProcessFate::Up;
        condition(QStringLiteral("down:") + id, !up, up, hold, Level::Critical,
                  tr("Process %1 is down (last seen %2 s ago)")
                      .arg(name)
                      .arg(p.value(QStringLiteral("seen_ms_ago")).toDouble() / 1000.0, 0, 'f', 0),
                  tr("up again"), at);
        const double loopLag = p.value(QStringLiteral("loop_lag_ms")).toDouble();
        condition(QStringLiteral("looplag:") + id, up && loopLag > t.loopLagMs,
                  !up || loopLag <= t.loopLagMs * t.clearFraction, hold, Level::Warning,
                  tr("Process %1: event-loop lag %2 ms (threshold %3 ms)")
                      .arg(name)
                      .arg(loopLag, 0, 'f', 1)
                      .arg(t.loopLagMs),
                  tr("event-loop lag back to normal"), at);
    }
    // Conditions of processes no longer listed: deregistered (a clean stop), replaced by a newer
    // process after a crash, or archived after processArchiveSeconds of silence.
    const QList<QString> keys = m_conditions.keys();
    for (const QString &key : keys) {
        const bool down = key.startsWith(QLatin1String("down:"));
        if (!down && !key.startsWith(QLatin1String("looplag:")))
            continue;
        const QString id = key.mid(key.indexOf(QLatin1Char(':')) + 1);
        const auto fate = fates.constFind(id);
        if (fate != fates.constEnd()
            && (fate->kind == ProcessFate::Up || fate->kind == ProcessFate::Down))
            continue;
        if (!m_conditions.value(key).active) {
            m_conditions.remove(key);
            continue;
        }
        const QString why = fate == fates.constEnd() ? tr("the process deregistered")
                            : fate->kind == ProcessFate::Replaced
                                ? tr("replaced by %1").arg(fate->replacedBy)
                                : tr("archived after %1 s without a heartbeat")
                                      .arg(t.processArchiveSeconds, 0, 'f', 0);
        clear(key, why, at);
        m_conditions.remove(key);
    }
}

void AlertsModel::checkConservation(const QJsonObject &c, qint64 saleId, qint64 at) {
    const auto state = conservation::stateOf(c);
    if (state == conservation::State::Unknown)
        return; // a term could not be read: no verdict, no alert, nothing cleared
    const QString key = QStringLiteral("conservation");
    if (state == conservation::State::Holds) {
        m_brokenPushes = 0;
        m_moved.clear();
        if (m_conditions.value(key).active)
            clear(key, tr("holds again: %1").arg(conservation::line(c)), at);
        m_lastExact = c;
        return;
    }
    if (m_brokenPushes++ == 0)
        m_moved = m_lastExact.isEmpty() ? QString() : conservation::movedTerm(m_lastExact, c);
    m_lastExact = c;
    // The second exact push that breaks it raises: a single torn read does not page anyone.
    if (m_brokenPushes < 2)
        return;
    const QString text =
        tr("Conservation broken for sale %1: %2; %3")
            .arg(saleId)
            .arg(conservation::line(c))
            .arg(m_moved.isEmpty() ? tr("the term that moved is unknown (broken when first seen)")
                                   : tr("%1 moved without a matching change").arg(m_moved));
    if (m_conditions.value(key).active) {
        const int row = rowOf(key);
        if (row >= 0) {
            m_alerts[row].text = text;
            m_alerts[row].lastMs = at;
            changed(row);
        }
        return;
    }
    m_conditions[key].active = true;
    raise(key, Level::Critical, text, at);
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
