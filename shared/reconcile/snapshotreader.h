#pragma once

#include "core/result.h"
#include "reconcile/analysis.h"

#include <functional>

namespace flashsale {

class PgConnection;
class RedisCommands;

namespace reconcile {

// Reads one sale's Snapshot from Redis and PostgreSQL while bookings and the worker go on, in
// the order docs/RECONCILIATION.md gives ("Read order, and why"):
//
//   T0  Redis  the worker group's last-delivered id and pending ids  (what is in flight)
//   T1  PG     inventory and orders in one REPEATABLE READ transaction
//   T2  Redis  MULTI: meta, stock, users, released, the stream's last id and Redis TIME (the
//              cut); then the stream up to that id, the sale's reservation set, the stream's tail
//              for ids found only there, and PostgreSQL for those the tail does not have either
//
// A booking found only in PostgreSQL is placed on its side of the cut by orders.accepted_at
// against T2's TIME; when one falls in the cut's own millisecond the whole read is made again
// (up to 3 times). Reads nothing else and writes nothing. Every command is bounded (chunks of 5,000
// entries, 1,000 ids). Call on the thread of both connections; `done` runs there exactly once, with
// the snapshot, NotFound when PostgreSQL has no such sale, Unavailable when a connection (or its
// object) is gone, or the error of the first command that failed.
void readSnapshot(PgConnection &pg, RedisCommands &redis, qint64 saleId,
                  std::function<void(const Result<Snapshot> &)> done);

// For tests only: hold a read between two of its steps, so that a test can book, or let the
// worker persist and trim, at that moment. The hook gets the step just done and the function
// that goes on with the read. One hook for the whole process; none (empty) in production.
enum class ReadStep {
    PgRead, // T1 done, T2 not sent
    Cut,    // T2 answered, nothing after it sent
};
void setReadHookForTest(std::function<void(ReadStep, std::function<void()>)> hook);

} // namespace reconcile
} // namespace flashsale
