#pragma once

#include "http/httpexchange.h"
#include "stats/saleprobe.h"

namespace flashsale {

class PgConnection;
class RedisClient;

// GET /metrics (docs/API.md, Operations): this process's registry (counters, gauges,
// histograms), then gauges read at scrape time, so every API process reports the shared truth
// rather than what it happened to see: the outbox lag from PostgreSQL, Redis's durability, and
// per warmed sale (the 500 newest) its stock, stream and dead letters through SaleProbe, the
// read the admin live stats use too.
//
// The connections are owned by the caller, live on the caller's thread and must outlive it.
class MetricsRoute {
public:
    MetricsRoute(RedisClient &redis, PgConnection &pg);

    // Answers 200 in the Prometheus text format. A dependency that cannot be read leaves its
    // gauges out and sets flashsale_postgres_up / flashsale_redis_up to 0; it never fails.
    void serve(const ExchangePtr &ex);

private:
    RedisClient &m_redis;
    PgConnection &m_pg;
    SaleProbe m_probe;
};

} // namespace flashsale
