#pragma once

#include <QByteArray>
#include <QString>

namespace flashsale {

// A Lua script from the embedded resources (":/lua/<name>.lua") with its SHA1, so it can be
// sent as EVALSHA and re-sent as EVAL when the server answers NOSCRIPT.
struct RedisScript {
    QString name;
    QByteArray body;
    QByteArray sha1; // lower-case hex

    // Loads ":/lua/<name>.lua". A line that is exactly "-- @include NAME" is replaced by
    // ":/lua/lib/NAME.lua" (pieces several scripts share; Redis has no modules for EVAL).
    // Aborts the process when a resource is missing: that is a build defect, not a run-time
    // condition.
    static RedisScript load(const QString &name);
};

} // namespace flashsale
