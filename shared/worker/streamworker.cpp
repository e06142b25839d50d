#include "streamworker.h"

#include "booking/salekeys.h"
#include "core/logging.h"
#include "metrics/metrics.h"
#include "pg/pgconnection.h"
#include "redis/redisclusterclient.h"

#include <QDateTime>
#include <QRegularExpression>

#include <chrono>
#include <utility>

namespace flashsale {

Q_LOGGING_CATEGORY(lcWorker, "flashsale.worker", QtInfoMsg)

namespace {

struct WorkerMetrics {
    Counter &persisted = Metrics::instance().counter(
        "flashsale_orders_persisted_total", "Orders written to PostgreSQL by the stream worker.");
    Counter &deadLetters = Metrics::instance().counter(
        "flashsale_stream_dead_letters_total", "Stream entries moved to a dead-letter stream.");
    Counter &claimed = Metrics::instance().counter(
        "flashsale_stream_claimed_total",
        "Entries taken over (XCLAIM) from consumers whose heartbeat is gone.");
    Counter &retries = Metrics::instance().counter(
        "flashsale_worker_retries_total", "Batches retried because PostgreSQL or Redis failed.");
    Histogram &batchSize = Metrics::instance().histogram(
        "flashsale_worker_batch_size", "Stream entries per committed batch.", {},
        {1, 10, 50, 100, 250, 500, 1000, 2500, 5000});
    Histogram &commit = Metrics::instance().histogram("flashsale_worker_commit_seconds",
                                                      "Time to write one batch to PostgreSQL.");

    static WorkerMetrics &get() {
        static WorkerMetrics m;
        return m;
    }
};

// A consumer's heartbeat (a string with a PX lifetime): while it exists the consumer is alive and
// no other worker claims its pending entries. Not tied to a sale, like fs:sales: a key of its own
// slot on a cluster, only ever read or written alone.
QByteArray consumerHeartbeat(const QByteArray &consumer) {
    return "fs:workers:alive:" + consumer;
}

qint64 saleOfStreamKey(const QByteArray &key) {
    static const QRegularExpression pattern(QStringLiteral("^fs:\\{sale:(\\d+)\\}:stream$"));
    const auto m = pattern.match(QString::fromLatin1(key));
    return m.hasMatch() ? m.captured(1).toLongLong() : 0;
}

// Answers to commands sent at once to several sales (on a cluster, several nodes): `done` runs
// when all have come, or, with a laggard time, that long after the first, so a shard failing over
// (its commands retried for about 2 s) does not hold up the others. A caller looks at over()
// first: an answer after `done` ran is late, and is not counted.
class Gather : public std::enable_shared_from_this<Gather> {
public:
    Gather(QObject *context, qsizetype expected, int laggardMs, std::function<void()> done)
        : m_context(context)
        , m_left(expected)
        , m_laggardMs(laggardMs)
        , m_done(std::move(done)) {}

    bool over() const { return m_over; }

    // Counts one answer, already taken in by the caller.
    void arrive() {
        if (m_over)
            return;
        if (--m_left == 0)
            return finish();
        if (!m_timing && m_laggardMs > 0) {
            m_timing = true;
            QTimer::singleShot(m_laggardMs, m_context,
                               [self = shared_from_this()] { self->finish(); });
        }
    }

private:
    void finish() {
        if (m_over)
            return;
        m_over = true;
        m_done();
    }

    QObject *m_context;
    qsizetype m_left;
    int m_laggardMs;
    std::function<void()> m_done;
    bool m_timing = false;
    bool m_over = false;
};

// A shard's answers may wait this long after another's (the round, the claim's and the refresh's
// per-sale commands) on a cluster; on one node every answer comes from the same server.
constexpr int kClusterLaggardMs = 200;

QList<StreamEntry> allEntries(const OrderBatch &b) {
    QList<StreamEntry> all = b.orderEntries + b.confirmEntries;
    for (const auto &p : b.poison)
        all << p.first;
    return all;
}

} // namespace

StreamWorker::StreamWorker(RedisTarget redis, const QString &pgUrl, StreamWorkerOptions options,
                           QObject *parent)
    : QObject(parent)
    , m_options(std::move(options))
    , m_redis(createRedis(redis, std::chrono::milliseconds(m_options.blockMs + 2000)))
    , m_heartbeat(createRedis(redis, std::chrono::milliseconds(m_options.heartbeatMs)))
    , m_cluster(redis.isCluster())
    , m_pg(std::make_unique<PgConnection>(pgUrl))
    , m_trim(RedisScript::load(QStringLiteral("trim"))) {
    m_retry.setSingleShot(true);
    connect(m_redis.get(), &RedisCommands::connected, this, [this] {
        m_connected = true;
        startWhenReady();
    });
    connect(m_heartbeat.get(), &RedisCommands::connected, this, &StreamWorker::beat);
    connect(&m_beat, &QTimer::timeout, this, &StreamWorker::beat);
}

void StreamWorker::startWhenReady() {
    // Nothing is read before our heartbeat exists: entries delivered to a consumer without one
    // would be claimed by another worker as soon as they are claimIdleMs old.
    if (m_running || !m_connected || !m_beating)
        return;
    m_running = true;
    cycle();
}

void StreamWorker::beat() {
    if (!m_beat.isActive())
        m_beat.start(std::max(m_options.heartbeatMs / 3, 50));
    m_heartbeat->command({"SET", consumerHeartbeat(m_options.consumer.toUtf8()), "1", "PX",
                          QByteArray::number(m_options.heartbeatMs)},
                         [this](const Result<RedisValue> &r) {
                             if (!r || r->isError()) {
                                 qCWarning(lcWorker).noquote()
                                     << "cannot renew the heartbeat:"
                                     << (r ? QString::fromUtf8(r->string) : r.error().message);
                                 return;
                             }
                             if (!m_beating) {
                                 m_beating = true;
                                 startWhenReady();
                             }
                         });
}

StreamWorker::~StreamWorker() = default;

void StreamWorker::start() {
    WorkerMetrics::get();
    qCInfo(lcWorker).noquote() << "stream worker" << m_options.consumer << "starting: batch"
                               << m_options.batchSize << "block" << m_options.blockMs << "ms";
    m_redis->setMetricsName("worker");
    m_heartbeat->setMetricsName("worker-heartbeat");
    m_pg->setMetricsPool("worker");
    m_heartbeat->start();
    m_redis->start();
    m_pg->start();
}

void StreamWorker::retryLater(QList<StreamEntry> entries) {
    WorkerMetrics::get().retries.inc();
    m_retry.disconnect();
    if (entries.isEmpty()) {
        connect(&m_retry, &QTimer::timeout, this, &StreamWorker::cycle);
    } else {
        // The same entries again: they stay pending in Redis meanwhile, unacknowledged.
        connect(&m_retry, &QTimer::timeout, this, [this, entries] { handle(entries); });
    }
    m_retry.start(m_backoffMs);
    m_backoffMs = std::min(m_backoffMs * 2, 5000);
}

void StreamWorker::cycle() {
    if (!m_sinceRefresh.isValid() || m_sinceRefresh.elapsed() >= m_options.refreshMs) {
        refreshSales();
        return;
    }
    if (m_sales.isEmpty()) {
        m_retry.disconnect();
        connect(&m_retry, &QTimer::timeout, this, &StreamWorker::cycle);
        m_retry.start(m_options.refreshMs);
        return;
    }
    if (m_claimAgain || !m_sinceClaim.isValid()
        || m_sinceClaim.elapsed() >= m_options.heartbeatMs / 3) {
        claim();
        return;
    }
    read();
}

void StreamWorker::refreshSales() {
    // On a cluster fs:sales is one node's, and a command to a node that is failing over waits for
    // its retries (about 2 s): with sales known, the round goes on with them after
    // kClusterLaggardMs, and an answer after that is not waited for (the list is asked for again
    // refreshMs later).
    auto given = std::make_shared<bool>(false);
    if (m_cluster && !m_sales.isEmpty()) {
        QTimer::singleShot(kClusterLaggardMs, this, [this, given] {
            if (std::exchange(*given, true))
                return;
            m_sinceRefresh.start();
            cycle();
        });
    }
    m_redis->command(
        {"SMEMBERS", SaleKeys::saleIndex()}, [this, given](const Result<RedisValue> &r) {
            if (std::exchange(*given, true))
                return;
            if (!r || !r->isArray()) {
                qCWarning(lcWorker) << "cannot list sales:"
                                    << (r ? QString::fromUtf8(r->string) : r.error().message);
                // On a cluster fs:sales is one node's: while that node fails over, the sales known
                // are read on the others, and the list is asked for again after refreshMs.
                if (m_cluster && !m_sales.isEmpty()) {
                    m_sinceRefresh.start();
                    cycle();
                    return;
                }
                retryLater();
                return;
            }
            QList<qint64> sales;
            for (const RedisValue &v : r->elements) {
                if (const qint64 id = v.toInt())
                    sales << id;
            }
            std::sort(sales.begin(), sales.end());
            m_sinceRefresh.start();
            dropRetired(sales);
        });
}

void StreamWorker::dropRetired(const QList<qint64> &sales) {
    if (sales.isEmpty()) {
        ensureGroups(sales);
        return;
    }
    // A sale whose keys expired after its retention (Scheduler) has no meta any more. Making its
    // group again (MKSTREAM) would bring back an empty stream with no expiry, so it leaves the
    // index instead. warm.lua writes meta before the sale enters the index, so a sale being
    // warmed is never taken for a retired one.
    // A sale whose answer does not come in time (its shard failing over) counts as live.
    auto retired = std::make_shared<QSet<qint64>>();
    auto gather = std::make_shared<Gather>(this, sales.size(), m_cluster ? kClusterLaggardMs : 0,
                                           [this, sales, retired] {
                                               QList<qint64> live;
                                               for (qint64 s : sales)
                                                   if (!retired->contains(s))
                                                       live << s;
                                               ensureGroups(live);
                                           });
    for (qint64 s : sales) {
        m_redis->command({"EXISTS", SaleKeys(s).meta()}, [this, s, retired,
                                                          gather](const Result<RedisValue> &r) {
            if (gather->over())
                return;
            if (r && !r->isError() && r->toInt() == 0) {
                qCInfo(lcWorker) << "sale" << s << "was retired from Redis; no longer read";
                retired->insert(s);
                m_groupsMade.remove(s);
                m_redis->command({"SREM", SaleKeys::saleIndex(), QByteArray::number(s)},
                                 [](const Result<RedisValue> &) {});
            }
            gather->arrive();
        });
    }
}

void StreamWorker::ensureGroups(const QList<qint64> &sales) {
    QList<qint64> fresh;
    for (qint64 s : sales) {
        if (!m_groupsMade.contains(s))
            fresh << s;
    }
    if (fresh.isEmpty()) {
        m_sales = sales;
        cycle();
        return;
    }
    auto left = std::make_shared<int>(int(fresh.size()));
    auto failed = std::make_shared<bool>(false);
    for (qint64 s : fresh) {
        // From id 0: entries written before any worker existed are read too.
        m_redis->command(
            {"XGROUP", "CREATE", SaleKeys(s).stream(), SaleKeys::consumerGroup(), "0", "MKSTREAM"},
            [this, s, sales, left, failed](const Result<RedisValue> &r) {
                if (r && (!r->isError() || r->string.startsWith("BUSYGROUP")))
                    m_groupsMade.insert(s);
                else
                    *failed = true;
                if (--*left > 0)
                    return;
                if (*failed) {
                    retryLater();
                    return;
                }
                m_sales = sales;
                cycle();
            });
    }
}

QList<StreamEntry> StreamWorker::parseStreams(const RedisValue &streams) {
    QList<StreamEntry> entries;
    for (const RedisValue &stream : streams.elements) {
        const qint64 sale = saleOfStreamKey(stream.at(0).bytes());
        for (const RedisValue &e : stream.at(1).elements) {
            if (!e.isNil())
                entries.append(StreamEntry::fromReply(sale, e));
        }
    }
    return entries;
}

void StreamWorker::read() {
    if (m_cluster) {
        readEachSale();
        return;
    }
    // An idle worker blocks here: no longer than a claim round, or a dead consumer's entries
    // would wait up to blockMs more for their takeover.
    const int blockMs = std::max(1, std::min(m_options.blockMs, m_options.heartbeatMs / 3));
    QList<QByteArray> argv{"XREADGROUP",
                           "GROUP",
                           SaleKeys::consumerGroup(),
                           m_options.consumer.toUtf8(),
                           "COUNT",
                           QByteArray::number(m_options.batchSize),
                           "BLOCK",
                           QByteArray::number(blockMs),
                           "STREAMS"};
    for (qint64 s : std::as_const(m_sales))
        argv << SaleKeys(s).stream();
    for (qsizetype i = 0; i < m_sales.size(); ++i)
        argv << ">";
    m_redis->command(argv, [this](const Result<RedisValue> &r) {
        if (!r || r->isError()) {
            qCWarning(lcWorker) << "XREADGROUP failed:"
                                << (r ? QString::fromUtf8(r->string) : r.error().message);
            if (r && r->string.startsWith("NOGROUP"))
                m_groupsMade.clear(); // the stream was deleted: make the groups again
            m_sinceRefresh.invalidate();
            retryLater();
            return;
        }
        handle(r->isNil() ? QList<StreamEntry>{} : parseStreams(*r));
    });
}

void StreamWorker::readEachSale() {
    // Redis Cluster: one XREADGROUP per sale, each routed to the node of its sale's slot and
    // pipelined there with the other sales of that node (a multi-stream XREADGROUP is CROSSSLOT
    // as soon as two sales are in different slots). No BLOCK: a blocked read would hold up its
    // node's connection for every other sale on it; an idle round waits kClusterIdleMs instead.
    // A sale whose read fails (its shard failing over) does not hold up the others: the round
    // ends kClusterLaggardMs after its first answer with what the nodes that answered gave, and
    // what a slower node delivers later is kept (m_retained) and written with the next round's.
    // Entries a lost reply delivered to us are claimed back by our next claim round (claim()).
    constexpr int kClusterIdleMs = 50;
    auto entries = std::make_shared<QList<StreamEntry>>();
    auto failed = std::make_shared<qsizetype>(0);
    const qsizetype asked = m_sales.size();
    auto gather =
        std::make_shared<Gather>(this, asked, kClusterLaggardMs, [this, entries, failed, asked] {
            QList<StreamEntry> batch = std::exchange(m_retained, {});
            batch += std::exchange(*entries, {});
            if (*failed == asked && batch.isEmpty()) {
                m_sinceRefresh.invalidate();
                retryLater();
                return;
            }
            if (!batch.isEmpty()) {
                handle(batch);
                return;
            }
            m_retry.disconnect();
            connect(&m_retry, &QTimer::timeout, this, &StreamWorker::cycle);
            m_retry.start(kClusterIdleMs);
        });
    const QByteArray me = m_options.consumer.toUtf8();
    for (qint64 s : std::as_const(m_sales)) {
        m_redis->command(
            {"XREADGROUP", "GROUP", SaleKeys::consumerGroup(), me, "COUNT",
             QByteArray::number(m_options.batchSize), "STREAMS", SaleKeys(s).stream(), ">"},
            [this, s, entries, failed, gather](const Result<RedisValue> &r) {
                QList<StreamEntry> got;
                if (!r || r->isError()) {
                    qCWarning(lcWorker)
                        << "XREADGROUP of sale" << s
                        << "failed:" << (r ? QString::fromUtf8(r->string) : r.error().message);
                    if (r && r->string.startsWith("NOGROUP")) {
                        m_groupsMade.remove(s); // the stream was deleted: make the group again
                        m_sinceRefresh.invalidate();
                    }
                    ++*failed;
                } else if (!r->isNil()) {
                    got = parseStreams(*r);
                }
                if (gather->over()) { // delivered to us after the round: the next round's
                    m_retained += got;
                    return;
                }
                *entries += got;
                gather->arrive();
            });
    }
}

void StreamWorker::claim() {
    // Which consumers hold pending entries, per sale (XPENDING summary, pipelined); then which of
    // them have no heartbeat (EXISTS); then their entries are claimed (claimFrom).
    const QByteArray me = m_options.consumer.toUtf8();
    // Our own pending entries are claimed too, in every round. A round runs only between
    // batches (a batch ends in its XACK, sent on this connection before this XPENDING), so any
    // entry still pending on us is one whose delivery or acknowledgement was lost: an XREADGROUP
    // answered just before Redis died or the connection dropped, an XACK that failed, or, with a
    // stable --worker-consumer, a previous run's. XREADGROUP ">" never delivers them again and no
    // other worker takes them while our heartbeat lives; they would stay pending forever.
    // On a cluster a sale whose shard does not answer in time is left for the next round.
    const int laggardMs = m_cluster ? kClusterLaggardMs : 0;
    auto holders = std::make_shared<QList<QPair<qint64, QByteArray>>>();
    auto pending =
        std::make_shared<Gather>(this, m_sales.size(), laggardMs, [this, me, holders, laggardMs] {
            QSet<QByteArray> consumers;
            for (const auto &h : std::as_const(*holders))
                consumers.insert(h.second);
            if (consumers.isEmpty()) {
                m_sinceClaim.start();
                m_claimAgain = false;
                handle({});
                return;
            }
            // An EXISTS unanswered (or not in time) counts as alive: never rob on doubt.
            auto dead = std::make_shared<QSet<QByteArray>>();
            auto beats =
                std::make_shared<Gather>(this, consumers.size(), laggardMs, [this, holders, dead] {
                    QList<QPair<qint64, QByteArray>> silent;
                    for (const auto &h : std::as_const(*holders))
                        if (dead->contains(h.second))
                            silent.append(h);
                    claimFrom(silent);
                });
            for (const QByteArray &c : std::as_const(consumers)) {
                m_redis->command({"EXISTS", consumerHeartbeat(c)},
                                 [c, me, dead, beats](const Result<RedisValue> &e) {
                                     if (beats->over())
                                         return;
                                     if (c == me || (e && !e->isError() && e->toInt() == 0))
                                         dead->insert(c);
                                     beats->arrive();
                                 });
            }
        });
    for (qint64 s : std::as_const(m_sales)) {
        m_redis->command({"XPENDING", SaleKeys(s).stream(), SaleKeys::consumerGroup()},
                         [s, holders, pending](const Result<RedisValue> &r) {
                             if (pending->over())
                                 return;
                             // [count, smallest id, greatest id, [[consumer, count], ...]]
                             if (r && r->isArray() && r->at(0).toInt() > 0) {
                                 for (const RedisValue &c : r->at(3).elements)
                                     holders->append({s, c.at(0).bytes()});
                             }
                             pending->arrive();
                         });
    }
}

void StreamWorker::claimFrom(const QList<QPair<qint64, QByteArray>> &silent) {
    if (silent.isEmpty()) {
        m_sinceClaim.start();
        m_claimAgain = false;
        handle({});
        return;
    }
    // Per (sale, dead consumer): its entries idle at least claimIdleMs, then XCLAIM with that
    // min-idle. XCLAIM resets the idle time, so when several workers claim the same consumer
    // at once each entry goes to one of them only.
    const QByteArray me = m_options.consumer.toUtf8();
    auto entries = std::make_shared<QList<StreamEntry>>();
    auto left = std::make_shared<int>(int(silent.size()));
    const qsizetype full = m_options.batchSize;
    auto finish = [this, entries, left, full] {
        if (--*left > 0)
            return;
        m_sinceClaim.start();
        // A full batch: the dead consumer may hold more; the next round follows this batch.
        m_claimAgain = entries->size() >= full;
        if (!entries->isEmpty()) {
            WorkerMetrics::get().claimed.inc(quint64(entries->size()));
            qCInfo(lcWorker) << "took over" << entries->size()
                             << "entries of consumers whose heartbeat is gone";
        }
        handle(*entries);
    };
    for (const auto &[sale, consumer] : silent) {
        const QByteArray stream = SaleKeys(sale).stream();
        // Our own pending entries need no idle time: no batch of ours holds them (see claim()).
        const QByteArray minIdle = QByteArray::number(consumer == me ? 0 : m_options.claimIdleMs);
        m_redis->command(
            {"XPENDING", stream, SaleKeys::consumerGroup(), "IDLE", minIdle, "-", "+",
             QByteArray::number(m_options.batchSize), consumer},
            [this, sale, stream, me, minIdle, entries, finish](const Result<RedisValue> &r) {
                QList<QByteArray> argv{"XCLAIM", stream, SaleKeys::consumerGroup(), me, minIdle};
                if (r && r->isArray()) {
                    for (const RedisValue &p : r->elements) // [id, consumer, idle, deliveries]
                        argv << p.at(0).bytes();
                }
                if (argv.size() == 5) {
                    finish();
                    return;
                }
                m_redis->command(argv, [sale, entries, finish](const Result<RedisValue> &c) {
                    if (c && c->isArray()) {
                        for (const RedisValue &e : c->elements) {
                            if (!e.isNil())
                                entries->append(StreamEntry::fromReply(sale, e));
                        }
                    }
                    finish();
                });
            });
    }
}

void StreamWorker::handle(QList<StreamEntry> entries) {
    if (entries.isEmpty()) {
        cycle();
        return;
    }
    const OrderBatch batch = OrderBatch::parse(entries);
    const auto started = std::chrono::steady_clock::now();
    persist(batch, [this, batch, entries, started](bool ok) {
        if (!ok) {
            retryLater(entries);
            return;
        }
        WorkerMetrics::get().batchSize.observe(double(entries.size()));
        WorkerMetrics::get().commit.observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        m_backoffMs = 100;
        acknowledge(entries, [this] { cycle(); });
    });
}

void StreamWorker::persist(const OrderBatch &batch, std::function<void(bool ok)> done) {
    if (batch.orders.isEmpty() && batch.confirmed.isEmpty()) {
        deadLetter(batch.poison, [done] { done(true); });
        return;
    }
    m_pg->query(OrderBatch::persistSql(), batch.persistParams(),
                [this, batch, done](const Result<PgResult> &r) {
                    if (r) {
                        const int inserted = r->rows.value(0).value(0).toInt();
                        WorkerMetrics::get().persisted.inc(quint64(inserted));
                        const QByteArray unmatched = r->rows.value(0).value(2);
                        requeueConfirmations(
                            batch, unmatched.isEmpty() ? QList<QByteArray>{} : unmatched.split(','),
                            [this, batch, done](QList<QPair<StreamEntry, QByteArray>> poison) {
                                poison += batch.poison;
                                deadLetter(poison, [done] { done(true); });
                            });
                        return;
                    }
                    if (r.error().code == ErrorCode::Conflict && !batch.orders.isEmpty()) {
                        // An entry breaks a constraint: find it by writing them one by one.
                        qCWarning(lcWorker).noquote()
                            << "batch refused (" << r.error().message << "); isolating the entry";
                        persistOneByOne(batch, 0, [done] { done(true); });
                        return;
                    }
                    qCWarning(lcWorker).noquote() << "cannot write batch:" << r.error().message;
                    done(false);
                });
}

void StreamWorker::requeueConfirmations(const OrderBatch &batch, const QList<QByteArray> &unmatched,
                                        PoisonDone done) {
    // With several workers, a confirmation can be read while the batch holding its booking is
    // still being written by another worker; the UPDATE then finds no order. Try it again later.
    QList<StreamEntry> unmatchedEntries;
    for (const StreamEntry &e : batch.confirmEntries)
        if (unmatched.contains(e.reservationId()))
            unmatchedEntries.append(e);
    requeue(unmatchedEntries, "confirmation of a reservation with no order after 30 s",
            std::move(done));
}

void StreamWorker::requeue(const QList<StreamEntry> &entries, const QByteArray &reason,
                           PoisonDone done) {
    constexpr qint64 kPatienceMs = 30000;
    QList<QPair<StreamEntry, QByteArray>> poison;
    QList<StreamEntry> again;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    for (const StreamEntry &e : entries) {
        const std::optional<qint64> first = e.firstTriedMs();
        if (first && now - *first > kPatienceMs)
            poison.append({e, reason});
        else
            again.append(e);
    }
    if (again.isEmpty()) {
        done(poison);
        return;
    }
    auto left = std::make_shared<int>(int(again.size()));
    for (const StreamEntry &e : again) {
        qCDebug(lcWorker).noquote()
            << "entry" << e.id << "of reservation" << e.reservationId() << "queued again";
        m_redis->command(e.retried(now).xadd(), [left, poison, done](const Result<RedisValue> &) {
            if (--*left == 0)
                done(poison);
        });
    }
}

void StreamWorker::persistOneByOne(OrderBatch batch, qsizetype index, std::function<void()> done) {
    if (index >= batch.orders.size()) {
        // Confirmations of orders from earlier batches, and the poison found on the way.
        requeue(batch.waitingForStock,
                "no stock in PostgreSQL for an order Redis accepted, after 30 s",
                [this, batch, done](QList<QPair<StreamEntry, QByteArray>> poison) {
                    OrderBatch rest;
                    rest.confirmed = batch.confirmed;
                    rest.confirmEntries = batch.confirmEntries;
                    rest.poison = batch.poison + poison;
                    persist(rest, [this, batch, done](bool ok) {
                        if (ok)
                            done();
                        else
                            retryLater(allEntries(batch));
                    });
                });
        return;
    }
    OrderBatch one;
    one.orders = {batch.orders[index]};
    one.orderEntries = {batch.orderEntries[index]};
    if (batch.confirmed.contains(batch.orders[index].reservationId))
        one.confirmed.insert(batch.orders[index].reservationId);
    m_pg->query(
        OrderBatch::persistSql(), one.persistParams(),
        [this, batch, index, done](const Result<PgResult> &r) mutable {
            if (r) {
                const int inserted = r->rows.value(0).value(0).toInt();
                WorkerMetrics::get().persisted.inc(quint64(inserted));
            } else if (r.error().code == ErrorCode::Conflict
                       && r.error().message.contains(QLatin1String("inventory_no_oversell"))) {
                // Redis had the units, so PostgreSQL will too once the expiry sweep (or decline)
                // that gave them back in Redis has committed its side: Redis is released first.
                // Not poison yet; try again from the end of the stream.
                batch.waitingForStock.append(batch.orderEntries[index]);
            } else if (r.error().code == ErrorCode::Conflict) {
                batch.poison.append({batch.orderEntries[index], r.error().message.toUtf8()});
            } else {
                qCWarning(lcWorker).noquote() << "cannot write entry:" << r.error().message;
                retryLater(allEntries(batch));
                return;
            }
            persistOneByOne(batch, index + 1, done);
        });
}

void StreamWorker::deadLetter(const QList<QPair<StreamEntry, QByteArray>> &poison,
                              std::function<void()> done) {
    if (poison.isEmpty()) {
        done();
        return;
    }
    auto left = std::make_shared<int>(int(poison.size()));
    for (const auto &[entry, reason] : poison) {
        qCWarning(lcWorker).noquote()
            << "dead letter: sale" << entry.saleId << "entry" << entry.id << "-" << reason;
        QList<QByteArray> argv{"XADD",
                               SaleKeys(entry.saleId).deadLetters(),
                               "*",
                               "reason",
                               reason,
                               "source_id",
                               entry.id,
                               "consumer",
                               m_options.consumer.toUtf8()};
        for (const auto &f : entry.fields)
            argv << "field:" + f.first << f.second;
        m_redis->command(argv, [left, done](const Result<RedisValue> &) {
            if (--*left == 0)
                done();
        });
        WorkerMetrics::get().deadLetters.inc();
    }
}

void StreamWorker::acknowledge(const QList<StreamEntry> &entries, std::function<void()> done) {
    QHash<qint64, QList<QByteArray>> bySale;
    for (const StreamEntry &e : entries)
        bySale[e.saleId] << e.id;
    // On a cluster, a sale whose shard is failing over does not hold up the next round: its
    // acknowledgement goes on being retried by the client (or is lost) after the others answered.
    auto gather = std::make_shared<Gather>(this, bySale.size(), m_cluster ? kClusterLaggardMs : 0,
                                           std::move(done));
    for (auto it = bySale.constBegin(); it != bySale.constEnd(); ++it) {
        QList<QByteArray> argv{"XACK", SaleKeys(it.key()).stream(), SaleKeys::consumerGroup()};
        argv << it.value();
        // A lost XACK only means the entries come back once more, and writing them again
        // changes nothing.
        m_redis->command(argv, [](const Result<RedisValue> &) {});
        // Pipelined behind the XACK: the stream keeps only what is not yet persisted. A trim
        // that fails is made good by the next one, which cuts at least as far.
        const SaleKeys k(it.key());
        m_redis->eval(m_trim, {k.stream()}, {SaleKeys::consumerGroup()},
                      [gather](const Result<RedisValue> &) { gather->arrive(); });
    }
}

} // namespace flashsale
