#pragma once

#include <QJsonArray>
#include <QJsonObject>
#include <QString>

namespace flashsale::console {

// What the console makes of one entry of the stats' "processes" list (heartbeats in fs:procs).
// A process that stopped cleanly has deregistered and is not in the list at all.
//
//   Up        heartbeat younger than the server's 3 s
//   Down      silent, not yet archived: listed in red, one alert
//   Replaced  silent, and an up process on the same host with the same roles started after it
//             was last seen (a restart after a crash): not listed, its alert cleared
//   Archived  silent for longer than archiveMs: not listed, its alert cleared as archived
struct ProcessFate {
    enum Kind { Up, Down, Replaced, Archived };
    Kind kind = Up;
    QString replacedBy; // the new process's id, for Replaced
};

ProcessFate processFate(const QJsonObject &p, const QJsonArray &all, qint64 archiveMs);
// The entries to list (Up and Down), in the server's order.
QJsonArray listedProcesses(const QJsonArray &all, qint64 archiveMs);
// "host-123 (api,worker)".
QString processName(const QJsonObject &p);

} // namespace flashsale::console
