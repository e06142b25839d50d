#pragma once

#include <QtGlobal>

namespace flashsale {

// The maths of a recurring sale schedule (sale_schedules): an occurrence k starts at
// first + k * every (k >= 0) and lasts `duration`. Pure; callable from any thread.

// The start of the first occurrence that has not ended at `now`; all in milliseconds.
// `everyMs` must be positive.
qint64 nextOccurrenceMs(qint64 firstStartMs, qint64 everyMs, qint64 durationMs, qint64 nowMs);

} // namespace flashsale
