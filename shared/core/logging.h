#pragma once

#include <QLoggingCategory>

namespace flashsale {

Q_DECLARE_LOGGING_CATEGORY(lcApp)
Q_DECLARE_LOGGING_CATEGORY(lcHttp)
Q_DECLARE_LOGGING_CATEGORY(lcRedis)
Q_DECLARE_LOGGING_CATEGORY(lcPg)
Q_DECLARE_LOGGING_CATEGORY(lcBooking)

// Installs the process-wide message handler. With json=true every message is one JSON object
// per line on stderr ({"ts","level","category","msg"}); otherwise a compact text line.
// Call once from main() before any thread starts.
void installLogHandler(bool json);

} // namespace flashsale
