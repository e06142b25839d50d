#pragma once

#include "redis/redisconnect.h"
#include "redis/redisscript.h"
#include "worker/orderbatch.h"

#include <QElapsedTimer>
#include <QObject>
#include <QSet>
#include <QTimer>

#include <functional>
#include <memory>
#include <optional>

namespace flashsale {

class PgConnection;

struct StreamWorkerOptions {
    QString consumer;       // unique per process: host-pid
    int batchSize = 1000;   // entries per XREADGROUP, and so per transaction
    int blockMs = 1000;     // XREADGROUP BLOCK, at most heartbeatMs / 3
    int claimIdleMs = 1000; // XCLAIM a dead consumer's entries once idle this long
    int heartbeatMs = 1500; // lifetime of our heartbeat key; renewed every heartbeatMs / 3
    int refreshMs = 2000;   // how often the set of sales (fs:sales) is read again
};

// The stream worker: turns every accepted booking into exactly one order row.
//
// It reads the streams of all warmed sales in one consumer group (SaleKeys::consumerGroup()) with
// XREADGROUP,
// writes each batch in one PostgreSQL statement (OrderBatch::persistSql), and XACKs only after
// that commits. A redelivered entry hits UNIQUE (reservation_id) and changes nothing. A poison
// entry (unparseable, or one the database refuses by a constraint) goes to the sale's
// dead-letter stream fs:{sale:ID}:dead with its reason, and is acknowledged.
//
// Takeover (issue 20: within 3 s, was 30 s). Each worker keeps a heartbeat key
// fs:workers:alive:<consumer> alive (SET PX heartbeatMs, renewed every heartbeatMs / 3
// on a connection of its own, so a blocking XREADGROUP never delays it). Every heartbeatMs / 3 a
// worker lists the consumers holding pending entries (XPENDING summary) and claims (XCLAIM,
// min-idle claimIdleMs) only the entries of consumers whose heartbeat is gone. So:
//   - a consumer killed with delivered entries loses them within heartbeatMs + heartbeatMs / 3
//     plus one batch (about 2 s by default; XREADGROUP blocks at most heartbeatMs / 3, so an
//     idle worker looks that often), to whichever worker looks first; the min-idle of XCLAIM
//     lets only one of several looking workers win each entry;
//   - a consumer that is alive but slow (a long PostgreSQL commit, PostgreSQL down and retried)
//     keeps its entries however long it takes; the old idle-time rule robbed it after 30 s;
//   - a consumer merely stalled (SIGSTOP, a long GC-like pause) for longer than heartbeatMs is
//     robbed, and when it resumes it may write the same entries again: the insert is ON CONFLICT
//     (reservation_id) DO NOTHING, so that writes no second order, and its XACK of entries now
//     owned by another consumer is harmless. This is why the short lifetime is safe;
//   - its own pending entries a worker claims in every round, with no idle time: rounds run
//     between batches, so they are deliveries or acknowledgements that were lost (Redis killed
//     or the connection dropped with an XREADGROUP reply or an XACK in flight).
// Stable consumer names per slot were the other option; they only help when the same slot is
// restarted, need an operator to assign slots, and a replacement elsewhere would still wait for
// an idle timeout. The heartbeat needs nothing configured.
//
// After each XACK the sale's stream is trimmed (lua/trim.lua, XTRIM MINID) up to the oldest entry
// still pending in the group: the stream holds the backlog, not the sale's history.
//
// When PostgreSQL is unreachable the batch is retried with backoff and nothing is acknowledged:
// Redis keeps the entries. Owns its Redis and PostgreSQL connections; runs on the thread it was
// created in. On one Redis node one blocking XREADGROUP reads every sale's stream; on a Redis
// Cluster (issue 21) each sale's stream is read by its own XREADGROUP, routed to the node that
// holds the sale's slot and pipelined there with that node's other sales (readEachSale()). Every
// other command of the worker names keys of one sale, or one global key (fs:sales, heartbeats).
class StreamWorker final : public QObject {
    Q_OBJECT
public:
    StreamWorker(RedisTarget redis, const QString &pgUrl, StreamWorkerOptions options,
                 QObject *parent = nullptr);
    ~StreamWorker() override;

    void start();

private:
    void cycle();
    void refreshSales();
    void dropRetired(const QList<qint64> &sales);
    void ensureGroups(const QList<qint64> &sales);
    QList<QByteArray> readCommand(bool block) const;
    void read();
    void readEachSale();
    void prefetch();
    void afterBatch();
    void claim();
    void claimFrom(const QList<QPair<qint64, QByteArray>> &silent);
    void beat();
    void startWhenReady();
    void handle(QList<StreamEntry> entries);
    void persist(const OrderBatch &batch, std::function<void(bool ok)> done);
    using PoisonDone = std::function<void(QList<QPair<StreamEntry, QByteArray>> poison)>;
    void requeueConfirmations(const OrderBatch &batch, const QList<QByteArray> &unmatched,
                              PoisonDone done);
    // Puts entries back at the end of their stream, stamped with when they were first tried
    // (first_ms), to be tried again; one first tried over 30 s ago is handed to `done` as poison
    // with `reason` instead.
    void requeue(const QList<StreamEntry> &entries, const QByteArray &reason, PoisonDone done);
    void persistOneByOne(OrderBatch batch, qsizetype index, std::function<void()> done);
    void deadLetter(const QList<QPair<StreamEntry, QByteArray>> &poison,
                    std::function<void()> done);
    void acknowledge(const QList<StreamEntry> &entries, std::function<void()> done);
    // Runs cycle() again after the backoff, or handle(entries) when given.
    void retryLater(QList<StreamEntry> entries = {});
    QList<StreamEntry> parseStreams(const RedisValue &streams);

    StreamWorkerOptions m_options;
    std::unique_ptr<RedisCommands> m_redis;
    std::unique_ptr<RedisCommands> m_heartbeat; // only SET of our heartbeat key: never blocked
    bool m_cluster = false; // Redis Cluster: one XREADGROUP per sale (readEachSale())
    QTimer m_beat;
    bool m_beating = false; // our heartbeat key has been written once
    bool m_connected = false;
    std::unique_ptr<PgConnection> m_pg;
    RedisScript m_trim;
    QList<qint64> m_sales;
    QSet<qint64> m_groupsMade;
    QElapsedTimer m_sinceRefresh;
    QElapsedTimer m_sinceClaim;
    bool m_claimAgain = false; // the last claim round took a full batch: another one next
    struct Prefetch {
        bool inFlight = false;
        QList<StreamEntry> entries;
        std::function<void()> continuation; // runs when the prefetch answers
    };
    std::optional<Prefetch> m_prefetch;
    // Redis Cluster: delivered to us by a node that answered after its round ended
    // (readEachSale()), written with the next round's entries.
    QList<StreamEntry> m_retained;
    QTimer m_retry;
    int m_backoffMs = 100;
    bool m_running = false;
};

} // namespace flashsale
