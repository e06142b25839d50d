#pragma once

#include "core/result.h"
#include "reconcile/analysis.h"

#include <functional>

namespace flashsale {

class PgConnection;
class RedisClient;

namespace reconcile {

// Reads one sale's Snapshot from Redis and PostgreSQL while bookings and the worker go on, in
// the order docs/RECONCILIATION.md gives ("Read order, and why"):
//
//   T0  Redis  the worker group's last-delivered id and pending ids  (what is in flight)
//   T1  PG     inventory and orders in one REPEATABLE READ transaction
//   T2  Redis  MULTI: meta, stock, users, released, the stream's last id; then the stream up to
//              that id, the sale's reservation set, and the stream's tail for ids found only there
//
// Reads nothing else and writes nothing. Every command is bounded (chunks of 5,000 entries, 1,000
// ids). Call on the thread of both connections; `done` runs there exactly once, with the
// snapshot, NotFound when PostgreSQL has no such sale, Unavailable when a connection (or its
// object) is gone, or the error of the first command that failed.
void readSnapshot(PgConnection &pg, RedisClient &redis, qint64 saleId,
                  std::function<void(const Result<Snapshot> &)> done);

} // namespace reconcile
} // namespace flashsale
