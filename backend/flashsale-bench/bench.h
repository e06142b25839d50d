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

} // namespace flashsale::bench
