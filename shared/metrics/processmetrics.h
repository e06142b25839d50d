#pragma once

#include <QByteArray>

namespace flashsale {

// The standard process metrics, named as the Prometheus client libraries name them, read from
// /proc at scrape time (Linux): process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds, process_start_time_seconds.
// Families whose source cannot be read are left out. Thread-safe.
QByteArray renderProcessMetrics();

} // namespace flashsale
