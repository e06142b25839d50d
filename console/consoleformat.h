#pragma once

#include "protocol/adminprotocol.h"

#include <QJsonValue>
#include <QString>

// Text for the console's tables and messages, from the protocol's JSON values.
namespace flashsale::console {

// null/undefined "-", bools "yes"/"no", integral numbers without decimals, JSON compact.
QString formatCell(const QJsonValue &value);
// An RFC 3339 string shown in local time ("2026-11-21 13:00:00"); other values as formatCell.
QString formatTime(const QJsonValue &value);
// Milliseconds since the epoch in local time, with seconds.
QString formatMs(qint64 msSinceEpoch);
// "code: message" and one "pointer: detail" line per detail.
QString formatFailure(const admin::AdminFailure &failure);
// An audit entry's change: the members that differ ("state: active -> paused"), or
// "created "Name"" for a creation.
QString formatChange(const QJsonValue &before, const QJsonValue &after);
// Integer cents as "499.00".
QString formatCents(qint64 cents);

} // namespace flashsale::console
