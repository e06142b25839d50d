#pragma once

#include "core/result.h"

#include <functional>
#include <optional>

namespace flashsale {

class RedisCommands;

// One sale's live state in Redis, read for /metrics (every warmed sale at each scrape) and for
// the admin live stats (one sale per snapshot), so both report the same numbers:
//
//   HVALS        fs:{sale:ID}:stock    units remaining per item, summed
//   XINFO GROUPS fs:{sale:ID}:stream   the stream workers' group: pending, lag
//   XLEN         fs:{sale:ID}:dead     dead letters
//
// The three commands are pipelined on the client's connection; `done` runs exactly once, when
// all three have answered (or failed), on the client's thread. The probe holds no state between
// reads; it is owned by, and called on, the thread of the RedisCommands it is given.
class SaleProbe {
public:
    struct Reading {
        qint64 saleId = 0;
        // The stock read failed: Redis unreachable or too slow (nothing else is known then).
        std::optional<Error> stockError;
        // The stock hash was read (it may be absent or empty: a sale not warmed yet, or one whose
        // keys expired). False after stockError and after an error reply such as WRONGTYPE.
        bool stockRead = false;
        int items = 0;        // items in the stock hash
        qint64 remaining = 0; // their units, summed
        // The consumer group's entries delivered but not acknowledged; nullopt without a group
        // (no booking accepted yet, so no stream) or when XINFO failed.
        std::optional<qint64> pending;
        // Entries not delivered to the group yet; nullopt as for `pending`, and also when Redis
        // cannot tell (it answers nil after entries were deleted from the middle of a stream).
        std::optional<qint64> lag;
        // Entries in the dead-letter stream (0 for none); nullopt when XLEN failed.
        std::optional<qint64> deadLetters;
    };

    explicit SaleProbe(RedisCommands &redis)
        : m_redis(redis) {}

    void read(qint64 saleId, std::function<void(const Reading &)> done);

private:
    RedisCommands &m_redis;
};

} // namespace flashsale
