#pragma once

#include <QStringList>

namespace flashsale::bench {

// `flashsale-bench load ...`: drives users against the API and writes the ledger and report
// (load.cpp). Returns the process exit code: 0 ran, 1 failed to run, 2 usage.
int runLoad(const QStringList &args);

// `flashsale-bench check ...`: waits for the sale to drain and checks I1-I7 against Redis,
// PostgreSQL and Kafka with the ledger (check.cpp). Returns 0 all PASS, 1 a FAIL, 2 usage,
// 3 could not check (a server unreachable, drain timeout).
int runCheck(const QStringList &args);

// `flashsale-bench flat ...`: judges a soak's samples (soakseries.h; soak.cpp). 0 flat, 1 a
// series grew beyond its bound, 2 usage.
int runFlat(const QStringList &args);

// `flashsale-bench chart ...`: draws a soak's samples as small multiples into a PNG (soak.cpp).
// Needs a QApplication (Qt Charts); main() makes one, offscreen, for this command.
int runChart(const QStringList &args);

} // namespace flashsale::bench
