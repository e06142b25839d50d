#include "occurrence.h"

namespace flashsale {

qint64 nextOccurrenceMs(qint64 firstStartMs, qint64 everyMs, qint64 durationMs, qint64 nowMs) {
    const qint64 sinceFirstEnd = nowMs - firstStartMs - durationMs;
    if (sinceFirstEnd < 0)
        return firstStartMs;
    return firstStartMs + (sinceFirstEnd / everyMs + 1) * everyMs;
}

} // namespace flashsale
