#pragma once

#include <QByteArray>
#include <QString>

#include <functional>

namespace flashsale {

class RedisCommands;

// How much a Redis crash can take with it (I3): the append-only file and its fsync policy, as
// the server reports them. Bookings are acknowledged once Redis has decided them, so this is
// the window of accepted bookings a crash can lose before the worker has written them:
//   appendonly no                everything in Redis (counters, holds, unread stream entries)
//   appendfsync always           nothing on a process crash or a power loss
//   appendfsync everysec         about 1 s (at most 2 s) on a machine crash or power loss;
//                                nothing on a process crash, unless a lagging disk made Redis
//                                postpone its write (then up to 2 s as well)
//   appendfsync no               whatever the kernel has not flushed (typically up to 30 s)
// docs/RELIABILITY.md has the measured figures.
struct RedisDurability {
    bool known = false; // CONFIG GET refused (renamed on managed services) or Redis unreachable
    bool appendOnly = false;
    QByteArray appendFsync; // "always", "everysec" or "no"

    // One line for the log, naming the window above.
    QString describe() const;
};

// Asks Redis (CONFIG GET appendonly appendfsync) and calls `done` once, on the client's thread.
void readRedisDurability(RedisCommands &redis, std::function<void(const RedisDurability &)> done);

} // namespace flashsale
