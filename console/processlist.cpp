#include "processlist.h"

#include <QStringList>

namespace flashsale::console {

namespace {

QStringList rolesOf(const QJsonObject &p) {
    QStringList roles;
    for (const QJsonValue &r : p.value(QStringLiteral("roles")).toArray())
        roles << r.toString();
    roles.sort();
    return roles;
}

} // namespace

ProcessFate processFate(const QJsonObject &p, const QJsonArray &all, qint64 archiveMs) {
    if (p.value(QStringLiteral("up")).toBool())
        return {};
    const qint64 silentMs = qint64(p.value(QStringLiteral("seen_ms_ago")).toDouble());
    if (silentMs > archiveMs)
        return {ProcessFate::Archived, {}};
    // Replaced only by a process that started after this one's last heartbeat: a second process
    // of the same roles that was already running (two API processes) does not replace it. Its
    // uptime and this one's silence are both measured at the same snapshot, on the server.
    const QString host = p.value(QStringLiteral("host")).toString();
    const QStringList roles = rolesOf(p);
    for (const QJsonValue &v : all) {
        const QJsonObject q = v.toObject();
        if (!q.value(QStringLiteral("up")).toBool() || host.isEmpty()
            || q.value(QStringLiteral("host")).toString() != host || rolesOf(q) != roles)
            continue;
        const qint64 upForMs = qint64(q.value(QStringLiteral("up_ms")).toDouble(-1));
        if (upForMs >= 0 && upForMs < silentMs)
            return {ProcessFate::Replaced, q.value(QStringLiteral("id")).toString()};
    }
    return {ProcessFate::Down, {}};
}

QJsonArray listedProcesses(const QJsonArray &all, qint64 archiveMs) {
    QJsonArray listed;
    for (const QJsonValue &v : all) {
        const ProcessFate f = processFate(v.toObject(), all, archiveMs);
        if (f.kind == ProcessFate::Up || f.kind == ProcessFate::Down)
            listed.append(v);
    }
    return listed;
}

QString processName(const QJsonObject &p) {
    QStringList roles;
    for (const QJsonValue &r : p.value(QStringLiteral("roles")).toArray())
        roles << r.toString();
    return QStringLiteral("%1 (%2)").arg(p.value(QStringLiteral("id")).toString(),
                                         roles.join(QLatin1Char(',')));
}

} // namespace flashsale::console
