#pragma once

#include "core/result.h"
#include "reconcile/analysis.h"

#include <QJsonArray>

#include <functional>

namespace flashsale {

class PgConnection;
class RedisCommands;

namespace reconcile {

// Repairs what `analysis` found in `snapshot` (docs/RECONCILIATION.md, "Repair", steps 2 to 5):
//
//   0. orders whose hold Redis lost (issue 20): pending ones cancelled as hold-lost after an
//      atomic recheck (lua/mark_lost.lua, then flashsale_cancel_pending), paid or paying ones
//      given their hold back (lua/restore_hold.lua); then the sale is read again and the steps
//      below work from that reading
//   1. Redis counters moved by the measured deltas, and cancelled orders marked released
//      (lua/reconcile_apply.lua, one script); skipped when the sale is not warm in Redis
//   2. inventory.sold rebuilt from the orders, when it drifted (before re-enqueueing)
//   3. missing bookings appended to the stream again (a confirm entry after a confirmed one)
//   4. PostgreSQL polled every 100 ms for up to 10 s until the worker wrote them; then sold is
//      rebuilt once more
//
// The caller holds the sale's repair lock: the deltas are only right once. Call on the thread
// of both connections; `done` runs there exactly once, with the repairs made (the report's
// "repairs": {"action","subject","detail"}), or the error of the first step that failed, or
// Unavailable when a connection object is gone. Orders the worker did not write in time are not
// an error: the repairs say so (orders_not_persisted).
void repair(PgConnection &pg, RedisCommands &redis, qint64 saleId, const Snapshot &snapshot,
            const Analysis &analysis, std::function<void(const Result<QJsonArray> &)> done);

} // namespace reconcile
} // namespace flashsale
