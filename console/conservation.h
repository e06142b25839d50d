#pragma once

#include <QJsonObject>
#include <QString>

namespace flashsale::console {

// The live conservation equation of a sale, as the stats event's "conservation" object gives it
// (docs/ADMIN_PROTOCOL.md, "Stats"):
//
//   stock = remaining + in_flight + held + paying + paid      (returned is inside remaining)
//
// State of one snapshot: Unknown when the object is missing or a term could not be read
// (exact false), Holds when the gap is 0, Broken otherwise. Pure functions; any thread.
namespace conservation {

enum class State { Unknown, Holds, Broken };

State stateOf(const QJsonObject &c);
// "stock 10 = remaining 3 (1 returned) + in flight 1 + held 2 + paying 1 + paid 3", with "≠" and
// the gap when it is broken; "unknown: ..." when the snapshot is not exact.
QString line(const QJsonObject &c);
// The term whose change from `before` to `after` is not matched by the others: the one that alone
// accounts for the change of the gap ("remaining", "paid", "stock", ...); several names joined by
// " or " when more than one does. When none does alone (other units moved in the same push), the
// term that moved furthest in the direction that opened the gap. Empty when the gap did not
// change.
QString movedTerm(const QJsonObject &before, const QJsonObject &after);

} // namespace conservation
} // namespace flashsale::console
