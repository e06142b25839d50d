#pragma once

class QCoreApplication;

namespace flashsale {

// SIGINT and SIGTERM end `app`'s event loop (after logging "signal received, shutting down" in
// flashsale.app), so that destructors run and connections close cleanly; SIGPIPE is ignored (a
// peer that went away is a write error, not the end of the process). A signal handler may only
// write, so it writes a byte to a socket pair that a QSocketNotifier on the main thread reads.
// Call once, from main(), before app.exec().
void quitOnSignals(QCoreApplication &app);

} // namespace flashsale
