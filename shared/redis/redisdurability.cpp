#include "redisdurability.h"

#include "redisclient.h"

namespace flashsale {

QString RedisDurability::describe() const {
    if (!known)
        return QStringLiteral("Redis durability unknown (CONFIG GET refused): the window of "
                              "accepted bookings a Redis crash can lose is not known");
    if (!appendOnly)
        return QStringLiteral("Redis runs without an append-only file (appendonly no): a Redis "
                              "restart loses every sale's counters and the bookings not yet "
                              "written to PostgreSQL");
    if (appendFsync == "always")
        return QStringLiteral("Redis appendfsync always: no accepted booking is lost to a Redis "
                              "or machine crash");
    if (appendFsync == "everysec")
        return QStringLiteral("Redis appendfsync everysec: a machine crash or power loss can "
                              "lose about the last second of accepted bookings (at most 2 s); a "
                              "Redis process crash loses none unless the disk lags");
    return QStringLiteral("Redis appendfsync %1: a machine crash can lose the accepted bookings "
                          "the kernel has not flushed yet (typically up to 30 s)")
        .arg(QString::fromLatin1(appendFsync));
}

void readRedisDurability(RedisCommands &redis, std::function<void(const RedisDurability &)> done) {
    redis.command({"CONFIG", "GET", "appendonly", "appendfsync"},
                  [done = std::move(done)](const Result<RedisValue> &r) {
                      RedisDurability d;
                      if (r) {
                          // Name, value pairs, in no promised order; none for an error reply.
                          for (const auto &[name, value] : r->pairs()) {
                              if (name == "appendonly") {
                                  d.appendOnly = value == "yes";
                                  d.known = true;
                              } else if (name == "appendfsync") {
                                  d.appendFsync = value;
                              }
                          }
                      }
                      done(d);
                  });
}

} // namespace flashsale
