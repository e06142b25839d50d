#pragma once

#include "core/result.h"
#include "fairness/seedbox.h"

#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QSet>
#include <QString>

#include <functional>

namespace flashsale {

class PgConnection;
class RedisCommands;

// The seal of a waiting room (docs/WAITING_ROOM.md "The seal"; issue 16, plan16 §3): once the
// cohort has closed (Redis' clock: starts_at + grace_ms), freezes its size, reveals the seed,
// shuffles the cohort and publishes the ranks, in stages:
//   1. lua/queue_seal_begin.lua: `early` before the boundary; else HSETNX cohort_n = LLEN
//      wr:cohort and close_ms (the size is frozen once).
//   2. The seed from PostgreSQL (sale_fairness, kind 'plain'); SHA-256(seed) must equal the
//      commitment in sale_fairness and in wr:meta, else the seal stops, loudly (critical log).
//      LRANGE wr:cohort 50,000 at a time.
//   3. On a worker thread (QtConcurrent::run, never the event loop): digest, shuffle seed and
//      ranks (fairness::CohortShuffle, the keyed hashes over `threads` threads).
//   4. DEL wr:ranking, RPUSH it in batches of 2,000, then lua/queue_seal_finish.lua stage
//      `ranked` (LLEN == cohort_n; RENAME onto wr:ranked; seed, digest, shuffle_seed,
//      sealed_ms, ranked = 1). The ranks are public from here (GET .../fairness).
//   5. HSET wr:rank id -> rank in batches of 2,000, then stage `positions` (positions = 1):
//      GET .../queue shows the buyer's rank.
//   6. PostgreSQL: sale_fairness gets seed, digest, shuffle_seed, cohort_size, sealed_at; an
//      audit row waiting_room.seal (first seal only); the ranks are archived into
//      waiting_room_entries 100,000 rows a statement; archived_at set last (the seal is done).
// Deterministic and idempotent: every stage can run again (a new leader after a crash in the
// middle) and writes the same bytes; sealed_ms and sealed_at keep the first seal's time. Each
// stage's time is logged (flashsale.app, info) and returned in the report.
//
// Ownership and threads: lives on the thread of `pg` and `redis`, which must outlive it (the
// scheduler gives it connections of its own, so a seal never holds up the lease renewal).
// Every callback runs exactly once, on that thread.
class Sealer final : public QObject {
    Q_OBJECT
public:
    struct Options {
        int threads = 2;            // for the keyed hashes
        int readChunk = 50'000;     // ids per LRANGE
        int writeBatch = 2'000;     // ids per RPUSH / HSET
        int archiveBatch = 100'000; // rows per INSERT
        int inFlight = 8;           // write batches sent ahead of their answers
        // Opens seeds sealed in an x25519 box (--waiting-room-seed-key); without it only plain
        // seeds can be sealed, and a boxed one stops the seal with an error.
        std::optional<fairness::SeedBox> seedKey;
    };

    // What a call did. `sealed` false: the cohort is still open (early; nothing written).
    struct Report {
        bool sealed = false;
        qint64 cohortSize = 0;
        qint64 closeMs = 0;
        qint64 nowMs = 0;    // Redis' clock at the first stage
        bool first = false;  // this call recorded the seal in PostgreSQL (not a redo)
        QJsonObject stageMs; // stage -> milliseconds
    };

    Sealer(PgConnection &pg, RedisCommands &redis, QString actor, Options options,
           QObject *parent = nullptr);
    Sealer(PgConnection &pg, RedisCommands &redis, QString actor, QObject *parent = nullptr)
        : Sealer(pg, redis, std::move(actor), Options{}, parent) {}
    ~Sealer() override;

    // Seals sale `saleId` if its cohort has closed; every stage runs (again) when it has. An
    // Err result: a stage failed (Redis or PostgreSQL unreachable, the seed does not match the
    // commitment, the sizes disagree); nothing published is ever changed by a failed stage.
    // `proceed` (optional) is asked between stages; false abandons the seal (lease lost).
    void seal(qint64 saleId, std::function<void(const Result<Report> &)> done,
              std::function<bool()> proceed = {});

    bool isSealing(qint64 saleId) const { return m_inFlight.contains(saleId); }

private:
    struct Run;
    void begin(std::shared_ptr<Run> run);
    void readSeed(std::shared_ptr<Run> run);
    void readCohort(std::shared_ptr<Run> run);
    void shuffle(std::shared_ptr<Run> run);
    void writeRanked(std::shared_ptr<Run> run);
    void finishRanked(std::shared_ptr<Run> run);
    void writeRanks(std::shared_ptr<Run> run);
    void finishPositions(std::shared_ptr<Run> run);
    void recordSeal(std::shared_ptr<Run> run);
    void archive(std::shared_ptr<Run> run, qsizetype from);
    void markArchived(std::shared_ptr<Run> run);
    // Sends the commands in batches, `inFlight` at a time; `next` after the last answer.
    void sendBatches(std::shared_ptr<Run> run, std::shared_ptr<QList<QList<QByteArray>>> batches,
                     const char *stage, std::function<void()> next);
    void fail(const std::shared_ptr<Run> &run, const Error &error);
    void stage(const std::shared_ptr<Run> &run, const char *name);
    bool keepGoing(const std::shared_ptr<Run> &run);

    PgConnection &m_pg;
    RedisCommands &m_redis;
    QString m_actor;
    Options m_options;
    QSet<qint64> m_inFlight;
    // Sales whose seal was refused (seed against commitment, a redo that differs): the critical
    // line is logged at most once a minute per sale, though the scheduler retries every tick.
    QHash<qint64, qint64> m_refusedAtMs;
    void refused(qint64 saleId, const QString &what);
    struct Scripts;
    Scripts *m_scripts;
};

} // namespace flashsale
