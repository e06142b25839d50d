#pragma once

#include <QDateTime>
#include <QString>

namespace flashsale {

// Milliseconds since the epoch as RFC 3339 UTC with milliseconds: 2026-11-11T12:00:00.000Z.
inline QString isoTime(qint64 ms) {
    return QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC).toString(Qt::ISODateWithMs);
}

} // namespace flashsale
