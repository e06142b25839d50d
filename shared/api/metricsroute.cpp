#include "metricsroute.h"

#include "booking/salekeys.h"
#include "metrics/metrics.h"
#include "pg/pgconnection.h"
#include "reconcile/deadletters.h"
#include "redis/redisconnect.h"
#include "redis/redisdurability.h"

#include <QDateTime>
#include <QMap>

#include <memory>
#include <optional>
#include <utility>

namespace flashsale {

// What one refresh read besides the registry.
struct MetricsRoute::Gauges {
    QMap<qint64, qint64> stock, pending, lag, dead;
    // Issue 20: per sale with dead letters, those no operator resolved yet and the age of the
    // oldest of them (reconcile/deadletters.h).
    QMap<qint64, qint64> deadUnresolved, deadOldestSeconds;
    // Per warmed sale (shared/stats/conservation.h).
    QList<ConservationTerms> conservation;
    std::optional<qint64> outboxRows; // unknown while PostgreSQL cannot be asked
    double outboxAgeSeconds = 0;
    RedisDurability durability;
    std::optional<qint64> redisUsedBytes, redisMaxBytes; // INFO memory; maxmemory 0 = no limit
    bool up = true;
    int left = 0;
};

namespace {

using Gauges = MetricsRoute::Gauges;

Counter &refreshCounter() {
    static Counter &c = Metrics::instance().counter(
        "flashsale_metrics_refreshes_total",
        "Reads of the Redis and PostgreSQL gauges behind /metrics (at most one per "
        "--metrics-cache-ms).");
    return c;
}

QByteArray render(const Gauges &g) {
    QByteArray out = Metrics::instance().render();
    out += "# HELP flashsale_postgres_up Whether this scrape could read PostgreSQL.\n"
           "# TYPE flashsale_postgres_up gauge\nflashsale_postgres_up "
           + QByteArray(g.outboxRows ? "1" : "0") + '\n';
    if (g.outboxRows) {
        out += "# HELP flashsale_outbox_unpublished Outbox rows not yet published to Kafka.\n"
               "# TYPE flashsale_outbox_unpublished gauge\nflashsale_outbox_unpublished "
               + QByteArray::number(*g.outboxRows) + '\n';
        out += "# HELP flashsale_outbox_oldest_unpublished_seconds Age of the oldest "
               "unpublished outbox row.\n# TYPE flashsale_outbox_oldest_unpublished_seconds "
               "gauge\nflashsale_outbox_oldest_unpublished_seconds "
               + QByteArray::number(g.outboxAgeSeconds, 'f', 3) + '\n';
    }
    out += "# HELP flashsale_redis_up Whether this scrape could read Redis.\n"
           "# TYPE flashsale_redis_up gauge\nflashsale_redis_up "
           + QByteArray(g.up ? "1" : "0") + '\n';
    if (g.durability.known)
        out += "# HELP flashsale_redis_durability Redis persistence: 1 for the append-only "
               "file's fsync policy in use (appendfsync=\"off\" without one).\n"
               "# TYPE flashsale_redis_durability gauge\nflashsale_redis_durability{"
               "appendfsync=\""
               + (g.durability.appendOnly ? g.durability.appendFsync : QByteArray("off"))
               + "\"} 1\n";
    if (g.redisUsedBytes && g.redisMaxBytes)
        out += "# HELP flashsale_redis_memory_used_bytes Memory Redis uses (INFO memory "
               "used_memory).\n# TYPE flashsale_redis_memory_used_bytes gauge\n"
               "flashsale_redis_memory_used_bytes "
               + QByteArray::number(*g.redisUsedBytes)
               + "\n# HELP flashsale_redis_memory_max_bytes Redis's maxmemory (0 = no limit: "
                 "writes are never refused, the host runs out instead).\n"
                 "# TYPE flashsale_redis_memory_max_bytes gauge\nflashsale_redis_memory_max_bytes "
               + QByteArray::number(*g.redisMaxBytes) + '\n';
    const struct {
        const char *name;
        const char *help;
        const QMap<qint64, qint64> &values;
    } families[] = {
        {"flashsale_sale_stock_remaining", "Units not yet sold or held, per sale.", g.stock},
        {"flashsale_stream_pending", "Stream entries delivered to a worker, not yet acknowledged.",
         g.pending},
        {"flashsale_stream_lag", "Stream entries not yet delivered to any worker.", g.lag},
        {"flashsale_stream_dead_letter_entries", "Entries in the sale's dead-letter stream.",
         g.dead},
        {"flashsale_stream_dead_letters_unresolved",
         "Dead-letter entries of the sale no operator has replayed or cancelled yet.",
         g.deadUnresolved},
        {"flashsale_stream_dead_letters_oldest_unresolved_seconds",
         "Age of the sale's oldest unresolved dead-letter entry (0 when none).",
         g.deadOldestSeconds},
    };
    for (const auto &f : families) {
        if (f.values.isEmpty())
            continue;
        out += QByteArray("# HELP ") + f.name + ' ' + f.help + "\n# TYPE " + f.name + " gauge\n";
        for (auto it = f.values.constBegin(); it != f.values.constEnd(); ++it)
            out += QByteArray(f.name) + "{sale=\"" + QByteArray::number(it.key()) + "\"} "
                   + QByteArray::number(it.value()) + '\n';
    }
    // The conservation line (conservation.h), the same read as the live stats' "conservation":
    // every term read, and the gap only for sales whose every term was read.
    if (!g.conservation.isEmpty()) {
        out += "# HELP flashsale_sale_units Units of a sale by where they are: stock = remaining "
               "+ in_flight + held + paying + paid (returned is already in remaining).\n"
               "# TYPE flashsale_sale_units gauge\n";
        for (const ConservationTerms &t : g.conservation)
            for (const auto &[term, value] : t.knownTerms())
                out += "flashsale_sale_units{sale=\"" + QByteArray::number(t.saleId) + "\",term=\""
                       + term + "\"} " + QByteArray::number(value) + '\n';
        QByteArray gaps;
        for (const ConservationTerms &t : g.conservation)
            if (t.exact())
                gaps += "flashsale_sale_conservation_gap{sale=\"" + QByteArray::number(t.saleId)
                        + "\"} " + QByteArray::number(t.gap()) + '\n';
        if (!gaps.isEmpty())
            out += "# HELP flashsale_sale_conservation_gap Stock minus the sum of the terms that "
                   "must add up to it; 0 while conservation holds.\n"
                   "# TYPE flashsale_sale_conservation_gap gauge\n"
                   + gaps;
    }
    return out;
}

// The conservation gauges of every sale listed: one PostgreSQL query for all of them, then one
// Redis call each (ConservationReader). Counts as one of the refresh's `left`.
void readConservation(ConservationReader &reader, const QList<qint64> &ids,
                      const std::shared_ptr<Gauges> &g, std::function<void()> done) {
    reader.read(ids, [g, done = std::move(done)](const Result<QList<ConservationTerms>> &r) {
        if (r)
            g->conservation = *r;
        if (--g->left == 0)
            done();
    });
}

} // namespace

MetricsRoute::MetricsRoute(RedisCommands &redis, PgConnection &pg, int cacheMs)
    : m_redis(redis)
    , m_pg(pg)
    , m_probe(redis)
    , m_conservation(redis, pg)
    , m_cacheMs(cacheMs) {}

MetricsRoute::~MetricsRoute() {
    *m_alive = false;
}

void MetricsRoute::serve(const ExchangePtr &ex) {
    if (m_snapshot && !m_refreshing && m_snapshotAge.isValid()
        && m_snapshotAge.elapsed() < m_cacheMs) {
        ex->send(200, "text/plain; version=0.0.4; charset=utf-8", render(*m_snapshot));
        return;
    }
    m_waiting << ex;
    if (!m_refreshing)
        refresh();
}

void MetricsRoute::refresh() {
    m_refreshing = true;
    refreshCounter().inc();
    auto g = std::make_shared<Gauges>();
    auto publish = [this, alive = m_alive, g] {
        if (!*alive)
            return;
        m_snapshot = g;
        m_snapshotAge.start();
        m_refreshing = false;
        const QByteArray body = render(*g);
        for (const ExchangePtr &ex : std::exchange(m_waiting, {}))
            ex->send(200, "text/plain; version=0.0.4; charset=utf-8", body);
    };
    // Sales with dead letters: which of them are unresolved, and since when (issue 20). Only
    // those sales, so a scrape of a stack without dead letters reads nothing more.
    auto done = [this, alive = m_alive, g, publish] {
        if (!*alive)
            return;
        if (g->dead.isEmpty())
            return publish();
        auto left = std::make_shared<int>(int(g->dead.size()));
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        for (auto it = g->dead.constBegin(); it != g->dead.constEnd(); ++it) {
            const qint64 sale = it.key();
            reconcile::readDeadLetters(
                m_pg, m_redis, sale, false,
                [g, sale, now, left, publish](const Result<QList<reconcile::DeadLetter>> &r) {
                    if (r) {
                        qint64 oldest = 0;
                        for (const reconcile::DeadLetter &d : *r)
                            oldest = qMax(oldest, (now - d.atMs()) / 1000);
                        g->deadUnresolved.insert(sale, r->size());
                        g->deadOldestSeconds.insert(sale, oldest);
                    }
                    if (--*left == 0)
                        publish();
                });
        }
    };
    // Outbox lag from PostgreSQL (one query on a partial index), then the Redis gauges.
    m_pg.query(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
        "FROM outbox WHERE published_at IS NULL",
        {}, [this, alive = m_alive, g, done](const Result<PgResult> &o) {
            if (!*alive)
                return;
            if (o) {
                g->outboxRows = o->rows.value(0).value(0).toLongLong();
                g->outboxAgeSeconds = o->rows.value(0).value(1).toDouble();
            }
            // One after the other, so they have answered before the gauges render (on a cluster
            // each may go to another node).
            readRedisDurability(m_redis, [this, alive, g, done](const RedisDurability &d) {
                if (!*alive)
                    return;
                g->durability = d;
                // Each primary of a cluster holds its own shard: the gauges are their sums.
                redisOnEveryPrimary(
                    m_redis, {"INFO", "memory"},
                    [this, alive, g, done](const QList<Result<RedisValue>> &replies) {
                        if (!*alive)
                            return;
                        for (const Result<RedisValue> &r : replies) {
                            if (!r || r->isError())
                                continue;
                            for (const QByteArray &line : r->bytes().split('\n')) {
                                const QByteArray l = line.trimmed();
                                if (l.startsWith("used_memory:"))
                                    g->redisUsedBytes =
                                        g->redisUsedBytes.value_or(0) + l.mid(12).toLongLong();
                                else if (l.startsWith("maxmemory:"))
                                    g->redisMaxBytes =
                                        g->redisMaxBytes.value_or(0) + l.mid(10).toLongLong();
                            }
                        }
                        m_redis.command(
                            {"SMEMBERS", SaleKeys::saleIndex()},
                            [this, alive, g, done](const Result<RedisValue> &members) {
                                if (!*alive)
                                    return;
                                if (!members || !members->isArray()) {
                                    g->up = false;
                                    done();
                                    return;
                                }
                                QList<qint64> ids;
                                for (const RedisValue &m : members->elements)
                                    ids << m.toInt();
                                std::sort(ids.begin(), ids.end(), std::greater<>());
                                ids = ids.mid(
                                    0, 500); // the newest sales; older ones are closed long ago
                                if (ids.isEmpty()) {
                                    done();
                                    return;
                                }
                                g->left = int(ids.size()) + 1;
                                readConservation(m_conservation, ids, g, done);
                                for (qint64 id : ids) {
                                    m_probe.read(id, [g, done](const SaleProbe::Reading &r) {
                                        // A sale whose stock cannot be read marks the scrape's
                                        // Redis down; no group (nothing booked yet) and no dead
                                        // letters are no gauge.
                                        if (r.stockRead)
                                            g->stock.insert(r.saleId, r.remaining);
                                        else
                                            g->up = false;
                                        if (r.pending)
                                            g->pending.insert(r.saleId, *r.pending);
                                        if (r.lag)
                                            g->lag.insert(r.saleId, *r.lag);
                                        if (r.deadLetters && *r.deadLetters > 0)
                                            g->dead.insert(r.saleId, *r.deadLetters);
                                        if (--g->left == 0)
                                            done();
                                    });
                                }
                            });
                    });
            });
        });
}

} // namespace flashsale
