#pragma once

#include "core/result.h"

#include <QJsonObject>
#include <QList>

#include <functional>
#include <memory>
#include <optional>

namespace flashsale {

class PgConnection;
class RedisCommands;

// One sale's conservation line (docs/ADMIN_PROTOCOL.md, "Conservation"):
//
//   stock = remaining + in_flight + held + paying + paid        (returned units are in remaining)
//
// read so that a correct system shows gap 0 at every read, in the middle of a burst too. Raw
// readings, PostgreSQL's (one statement, so one snapshot, at T1) and Redis's (one MULTI/EXEC
// of the sale's meta counters and its stock hash, so one atomic cut, at T2 > T1):
//
//   PG     stock   sum(inventory.stock)        sold    sum(inventory.sold)
//          pending_free / pending_paying / paid        units of orders by status
//          cancelled_expired / cancelled_other         units of cancelled orders by reason
//   Redis  remaining (stock hash, summed), accepted, returned_expire, returned_cancel (meta)
//
// The terms:
//   in_flight = accepted − (sold + cancelled_expired + cancelled_other)
//       units Redis accepted that are no order row yet. sold + cancelled is every unit PostgreSQL
//       turned into an order by T1, all of which Redis accepted before T1 ≤ T2: never negative.
//   held      = pending_free − (returned_expire − cancelled_expired)
//       pending orders with no payment, less those the expiry sweeper already gave back in Redis
//       (it releases in Redis first, then cancels in PostgreSQL).
//   paying    = pending_paying − (returned_cancel − cancelled_other)
//       pending orders with a payment in flight, plus declined ones PostgreSQL cancelled whose
//       units are not back in Redis yet (a decline cancels first, then releases).
//   paid      = paid;  returned = returned_expire + returned_cancel
//
// Substituted, the sum is remaining + accepted − returned + (orders' pending and paid units −
// sold): the Redis side is one atomic cut, and PostgreSQL's orders are checked against its own
// inventory.sold in one snapshot. So the gap is 0 whatever moved between T1 and T2, and moves on
// a real corruption: a change to the stock hash alone (remaining), an order row deleted (held,
// paying or paid) or inventory.sold changed alone (in_flight), a stock adjustment in one store
// only (stock or remaining).
struct ConservationTerms {
    qint64 saleId = 0;
    // PostgreSQL answered and has inventory rows for the sale.
    bool inPg = false;
    // Redis answered (redisError unset) and the sale is warm (meta exists).
    bool inRedis = false;
    // The counters exist (sales warmed before them have none).
    bool counters = false;
    std::optional<Error> redisError;

    qint64 stock = 0, sold = 0, pendingFree = 0, pendingPaying = 0, paid = 0;
    qint64 cancelledExpired = 0, cancelledOther = 0;
    qint64 remaining = 0, accepted = 0, returnedExpire = 0, returnedCancel = 0;

    // Every term read: the equation can be judged.
    bool exact() const { return inPg && inRedis && counters; }
    qint64 inFlight() const { return accepted - (sold + cancelledExpired + cancelledOther); }
    qint64 held() const;
    qint64 paying() const;
    qint64 returned() const;
    qint64 gap() const { return stock - (remaining + inFlight() + held() + paying() + paid); }

    // The live stats' "conservation" object; a term that could not be read is null, and so are
    // gap and holds when exact is false.
    QJsonObject toJson() const;
    // (term name, value) of the terms that were read, in the order of the equation.
    QList<std::pair<const char *, qint64>> knownTerms() const;
};

// Reads the terms of several sales: one PostgreSQL statement for all of them, then one Redis
// transaction per sale (pipelined). Owned by, and called on, the thread of its connections.
class ConservationReader {
public:
    ConservationReader(RedisCommands &redis, PgConnection &pg);
    ~ConservationReader();

    // `done` runs once with a reading per sale, in the order given; an error only when
    // PostgreSQL could not be read (a Redis failure marks the sales it concerns instead).
    void read(const QList<qint64> &saleIds,
              std::function<void(const Result<QList<ConservationTerms>> &)> done);

private:
    RedisCommands &m_redis;
    PgConnection &m_pg;
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace flashsale
