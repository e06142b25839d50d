#pragma once

#include "core/result.h"
#include "stats/conservation.h"
#include "stats/saleprobe.h"

#include <QElapsedTimer>
#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QStringList>
#include <QTimer>

#include <array>
#include <functional>

namespace flashsale {

class Histogram;
class PgConnection;
class RedisCommands;

// Live stats, shared by every API process through Redis (docs/ADMIN_PROTOCOL.md, "Stats").
//
//   fs:{sale:ID}:stats:<unix second>   hash   o:<outcome> -> requests answered that second
//                                             l:<bucket>  -> of those, how many took that long
//   fs:procs                           hash   process id -> JSON heartbeat
//
// Each API thread counts locally and adds its counts with HINCRBY every --stats-flush-ms; the
// per-second hashes expire after two minutes. Latency buckets are logarithmic: bucket i holds
// answers of up to 50 µs × 1.25^i, so a percentile is known to within 25%.
namespace livestats {
inline constexpr int kBuckets = 64;
inline constexpr int kKeepSeconds = 120;
int bucketOf(double seconds);
double bucketUpperMs(int bucket);
QByteArray secondKey(qint64 saleId, qint64 unixSecond);
QByteArray processesKey();
} // namespace livestats

// Per API thread: counts booking outcomes and latencies per sale and second, and adds them to
// Redis periodically. Lives on, and is called from, the thread of its Redis client.
//
// Every recorded (sale, second) becomes a Redis key, so the caller records only answers that
// prove the sale exists and is open (not unknown_sale or closed): requests about sales that are
// not there create nothing. `outcome` must outlive the recorder (a string literal).
class StatsRecorder final : public QObject {
    Q_OBJECT
public:
    StatsRecorder(RedisCommands &redis, int flushMs, QObject *parent = nullptr);
    void record(qint64 saleId, const char *outcome, double seconds);
    // An answer Redis could not decide (unreachable, slow): it cannot tell whether the sale
    // exists, so it is counted only for a sale this recorder recorded a decision for in the last
    // livestats::kKeepSeconds; otherwise dropped.
    void recordUndecided(qint64 saleId, const char *outcome, double seconds);
    void flush();

private:
    struct Second {
        QHash<QByteArray, qint64> outcomes;
        std::array<qint64, livestats::kBuckets> latency{};
    };
    RedisCommands &m_redis;
    QHash<QPair<qint64, qint64>, Second> m_pending; // (sale, unix second)
    QHash<qint64, qint64> m_decided; // sale -> last unix second a decision was recorded for it
    QTimer m_timer;
};

// Measures how late a thread's event loop runs a 100 ms timer; every probe in the process feeds
// one process-wide maximum that the heartbeat reads and resets, and its thread's series of
// flashsale_event_loop_lag_seconds{thread} (the thread it is created on, by objectName).
class LoopLagProbe final : public QObject {
    Q_OBJECT
public:
    explicit LoopLagProbe(QObject *parent = nullptr);
    // The largest lag any probe saw since the last call, in ms; resets it.
    static double takeMaxMs();

private:
    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_expectedNs = 0;
    Histogram &m_histogram;
};

// Per process: writes its heartbeat into fs:procs every --heartbeat-ms: id (<host>-<pid>),
// roles, start time, last seen, event-loop lag, and the lag of its Kafka consumers.
//
// A process that stops cleanly calls deregister() so its entry goes at once; one that dies
// without it (kill -9, a crash) leaves its last heartbeat behind, which the stats list as down
// until the console archives it (docs/CONSOLE.md, "Processes").
class Heartbeat final : public QObject {
    Q_OBJECT
public:
    Heartbeat(RedisCommands &redis, QStringList roles, int intervalMs, QObject *parent = nullptr);
    // A consumer group whose lag this process reports (payment, notify).
    void addConsumer(const QString &group, std::function<qint64()> lag);
    QString processId() const { return m_id; }
    // Stops beating and removes this process's entry from fs:procs (HDEL). For the end of
    // main(), after the application's loop has returned: waits up to `timeoutMs` for Redis's
    // answer in a local loop. Returns whether Redis confirmed the removal; false when Redis did
    // not answer in time or failed (the entry then ages out as a process that vanished).
    bool deregister(int timeoutMs);

private:
    void beat();
    RedisCommands &m_redis;
    QStringList m_roles;
    QString m_id;
    qint64 m_startedMs;
    QList<QPair<QString, std::function<qint64()>>> m_consumers;
    LoopLagProbe m_probe;
    QTimer m_timer;
};

// Builds one sale's stats snapshot from Redis (counters, heartbeats, and stock and stream through
// SaleProbe, as /metrics reads them) and PostgreSQL (orders by status, outbox). A sale whose keys
// were retired after its retention reads as phase "closed" with remaining null (PostgreSQL still
// has its orders). The "conservation" object comes from ConservationReader, the read /metrics
// uses for its conservation gauges. Owned by, and called on, its connections' thread.
class StatsCollector {
public:
    StatsCollector(RedisCommands &redis, PgConnection &pg);
    void collect(qint64 saleId, std::function<void(const Result<QJsonObject> &)> done);

private:
    RedisCommands &m_redis;
    PgConnection &m_pg;
    SaleProbe m_probe;
    ConservationReader m_conservation;
};

} // namespace flashsale
