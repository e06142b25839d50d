#pragma once

#include "http/httpexchange.h"
#include "stats/conservation.h"
#include "stats/saleprobe.h"

#include <QElapsedTimer>
#include <QList>

#include <memory>

namespace flashsale {

class PgConnection;
class RedisCommands;

// GET /metrics (docs/API.md, "Operations"), served on the process's metrics listener only
// (ApiServer; --metrics-listen, --metrics-port), never on the public API port.
//
// The answer is this process's registry (counters, gauges, histograms), always current, then a
// snapshot of gauges read from the shared stores, so every process reports the shared truth: the
// outbox lag from PostgreSQL; Redis's durability and memory used against maxmemory; per warmed
// sale (the 500 newest) its stock, stream and dead letters through SaleProbe, the read the admin
// live stats use too.
//
// The snapshot is refreshed at most once per `cacheMs` however many scrapes arrive: a scrape
// while it is fresh costs no Redis or PostgreSQL call; a scrape that finds it stale starts one
// refresh (2 queries, 3 + 4 per sale Redis calls) and every scrape arriving meanwhile waits for
// that same refresh. cacheMs 0 refreshes on every scrape (still one refresh for concurrent ones).
//
// The connections are owned by the caller, live on the caller's thread and must outlive this
// object; serve() is called on that thread.
class MetricsRoute {
public:
    MetricsRoute(RedisCommands &redis, PgConnection &pg, int cacheMs);
    ~MetricsRoute();

    // Answers 200 in the Prometheus text format. A dependency that cannot be read leaves its
    // gauges out and sets flashsale_postgres_up / flashsale_redis_up to 0; it never fails.
    void serve(const ExchangePtr &ex);

    struct Gauges;

private:
    void refresh();

    RedisCommands &m_redis;
    PgConnection &m_pg;
    SaleProbe m_probe;
    ConservationReader m_conservation; // flashsale_sale_units, flashsale_sale_conservation_gap
    int m_cacheMs;
    std::shared_ptr<const Gauges> m_snapshot;
    QElapsedTimer m_snapshotAge;
    QList<ExchangePtr> m_waiting; // scrapes answered by the refresh in flight
    bool m_refreshing = false;
    // Cleared on destruction, so a refresh answering later finds nobody to deliver to.
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);
};

} // namespace flashsale
