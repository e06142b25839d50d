#pragma once

#include <QString>

namespace flashsale {

// The phase of a sale as operators and buyers see it: the operator's state when it is not
// "active" (paused, stopped), else where the clock stands: "scheduled" (not yet in Redis),
// "warm" (in Redis, before its start), "open", "closed" (past its end).
inline QString salePhase(const QString &state, bool warm, qint64 nowMs, qint64 startsMs,
                         qint64 endsMs) {
    if (state != QLatin1String("active"))
        return state;
    if (!warm)
        return QStringLiteral("scheduled");
    if (nowMs < startsMs)
        return QStringLiteral("warm");
    if (nowMs < endsMs)
        return QStringLiteral("open");
    return QStringLiteral("closed");
}

} // namespace flashsale
