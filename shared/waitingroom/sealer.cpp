#include "sealer.h"

#include "audit/audit.h"
#include "booking/salekeys.h"
#include "core/logging.h"
#include "core/timeformat.h"
#include "fairness/cohortshuffle.h"
#include "pg/pgconnection.h"
#include "redis/redisclient.h"
#include "redis/redisscript.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QFuture>
#include <QPointer>
#include <QtConcurrent/QtConcurrentRun>

#include <memory>

namespace flashsale {

using fairness::CohortShuffle;

struct Sealer::Scripts {
    RedisScript begin = RedisScript::load(QStringLiteral("queue_seal_begin"));
    RedisScript finish = RedisScript::load(QStringLiteral("queue_seal_finish"));
};

struct Sealer::Run {
    qint64 saleId = 0;
    SaleKeys keys{0};
    std::function<void(const Result<Report> &)> done;
    std::function<bool()> proceed;
    Report report;
    QElapsedTimer total, lap;
    QByteArray commitment; // wr:meta's
    QByteArray seed;       // 32 bytes
    QList<QByteArray> cohort;
    CohortShuffle::Sealed sealed;
    qint64 sealedMs = 0;
    bool finished = false;

    explicit Run(qint64 id)
        : saleId(id)
        , keys(id) {}
};

namespace {

Error scriptError(const char *script, const RedisValue &v) {
    return Error{ErrorCode::Protocol,
                 QStringLiteral("%1 answered %2")
                     .arg(QLatin1String(script),
                          QString::fromUtf8(v.isArray() ? v.at(0).bytes() : v.bytes()))};
}

// A PostgreSQL text[] literal of entry ids (base64url: nothing to escape, quoted anyway).
QByteArray textArray(const QList<QByteArray> &ids, qsizetype from, qsizetype count) {
    QByteArray out;
    out.reserve(count * (fairness::kEntryIdSize + 3) + 2);
    out += '{';
    for (qsizetype i = from; i < from + count; ++i) {
        if (i > from)
            out += ',';
        out += '"';
        out += ids[i];
        out += '"';
    }
    out += '}';
    return out;
}

} // namespace

Sealer::Sealer(PgConnection &pg, RedisCommands &redis, QString actor, Options options,
               QObject *parent)
    : QObject(parent)
    , m_pg(pg)
    , m_redis(redis)
    , m_actor(std::move(actor))
    , m_options(options)
    , m_scripts(new Scripts) {}

Sealer::~Sealer() {
    delete m_scripts;
}

void Sealer::seal(qint64 saleId, std::function<void(const Result<Report> &)> done,
                  std::function<bool()> proceed) {
    if (m_inFlight.contains(saleId)) {
        done(flashsale::fail(ErrorCode::Conflict,
                             QStringLiteral("sale %1: a seal is already running").arg(saleId)));
        return;
    }
    auto run = std::make_shared<Run>(saleId);
    run->done = std::move(done);
    run->proceed = std::move(proceed);
    run->total.start();
    run->lap.start();
    m_inFlight.insert(saleId);
    begin(run);
}

void Sealer::fail(const std::shared_ptr<Run> &run, const Error &error) {
    if (run->finished)
        return;
    run->finished = true;
    m_inFlight.remove(run->saleId);
    qCWarning(lcApp).noquote() << "seal of sale" << run->saleId << "stopped:" << error.message;
    run->done(std::unexpected(error));
}

void Sealer::refused(qint64 saleId, const QString &what) {
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const auto it = m_refusedAtMs.constFind(saleId);
    if (it != m_refusedAtMs.cend() && now - *it < 60'000) {
        qCDebug(lcApp).noquote() << "seal of sale" << saleId << "REFUSED:" << what;
        return;
    }
    m_refusedAtMs.insert(saleId, now);
    qCCritical(lcApp).noquote() << "seal of sale" << saleId
                                << "REFUSED, the seal stops here:" << what;
}

void Sealer::stage(const std::shared_ptr<Run> &run, const char *name) {
    const qint64 ms = run->lap.restart();
    run->report.stageMs.insert(QLatin1String(name), ms);
    qCInfo(lcApp).noquote() << "seal of sale" << run->saleId << "stage" << name << "took" << ms
                            << "ms";
}

bool Sealer::keepGoing(const std::shared_ptr<Run> &run) {
    if (run->proceed && !run->proceed()) {
        fail(run, Error{ErrorCode::Unavailable, QStringLiteral("abandoned (no longer leader)")});
        return false;
    }
    return true;
}

void Sealer::begin(std::shared_ptr<Run> run) {
    const SaleKeys &k = run->keys;
    QPointer<Sealer> self(this);
    m_redis.eval(m_scripts->begin, {k.meta(), k.waitingRoomMeta(), k.waitingRoomCohort()}, {},
                 [self, run](const Result<RedisValue> &r) {
                     if (!self)
                         return;
                     if (!r)
                         return self->fail(run, r.error());
                     const QByteArray code = r->at(0).bytes();
                     if (code == "early") {
                         run->report.closeMs = r->at(1).toInt();
                         run->report.nowMs = r->at(2).toInt();
                         run->finished = true;
                         self->m_inFlight.remove(run->saleId);
                         return run->done(run->report);
                     }
                     if (code != "begun" || r->elements.size() != 6)
                         return self->fail(run, scriptError("queue_seal_begin.lua", *r));
                     run->report.cohortSize = r->at(1).toInt();
                     run->report.closeMs = r->at(2).toInt();
                     run->commitment = r->at(4).bytes();
                     run->report.nowMs = r->at(5).toInt();
                     self->stage(run, "begin");
                     self->readSeed(run);
                 });
}

void Sealer::readSeed(std::shared_ptr<Run> run) {
    if (!keepGoing(run))
        return;
    QPointer<Sealer> self(this);
    m_pg.query(
        "SELECT commitment, encode(seed_box, 'hex'), seed_box_kind FROM sale_fairness "
        "WHERE sale_id = $1",
        {QByteArray::number(run->saleId)}, [self, run](const Result<PgResult> &r) {
            if (!self)
                return;
            if (!r)
                return self->fail(run, r.error());
            if (r->rows.isEmpty())
                return self->fail(
                    run,
                    Error{ErrorCode::NotFound,
                          QStringLiteral("sale %1 has no sale_fairness row").arg(run->saleId)});
            const QByteArray pgCommitment = r->rows[0][0];
            const QByteArray kind = r->rows[0][2];
            const QByteArray box = QByteArray::fromHex(r->rows[0][1]);
            if (kind == fairness::SeedBox::kKind) {
                const auto &key = self->m_options.seedKey;
                const auto seed = key ? key->open(box) : std::nullopt;
                if (!seed) {
                    const QString why =
                        key ? QStringLiteral("the seed's box does not open with this "
                                             "scheduler's --waiting-room-seed-key (another key?)")
                            : QStringLiteral("the seed is sealed and this scheduler has no "
                                             "--waiting-room-seed-key");
                    self->refused(run->saleId, why);
                    return self->fail(
                        run, Error{ErrorCode::Internal,
                                   QStringLiteral("sale %1: %2").arg(run->saleId).arg(why)});
                }
                run->seed = *seed;
            } else if (kind == "plain") {
                run->seed = box;
            } else {
                return self->fail(
                    run, Error{ErrorCode::Internal,
                               QStringLiteral("sale %1: the seed is in a '%2' box, which this "
                                              "sealer cannot open")
                                   .arg(run->saleId)
                                   .arg(QString::fromUtf8(kind))});
            }
            const QByteArray computed = CohortShuffle::commitment(run->seed);
            if (run->seed.size() != fairness::kSeedSize || computed != pgCommitment
                || computed != run->commitment) {
                // Publishing would reveal a seed that does not open the commitment the buyers
                // saw: the shuffle could not be verified. Never publish; an operator must look.
                self->refused(run->saleId, QStringLiteral("the seed does not match the commitment "
                                                          "(sale_fairness %1, Redis wr:meta %2)")
                                               .arg(QString::fromLatin1(pgCommitment),
                                                    QString::fromLatin1(run->commitment)));
                return self->fail(run, Error{ErrorCode::Internal,
                                             QStringLiteral("sale %1: the seed does not match "
                                                            "the published commitment")
                                                 .arg(run->saleId)});
            }
            self->stage(run, "seed");
            self->readCohort(run);
        });
}

void Sealer::readCohort(std::shared_ptr<Run> run) {
    if (!keepGoing(run))
        return;
    const qint64 n = run->report.cohortSize;
    const qint64 chunk = std::max(1, m_options.readChunk);
    const qint64 chunks = (n + chunk - 1) / chunk;
    if (chunks == 0)
        return shuffle(run);
    auto parts = std::make_shared<QList<QList<QByteArray>>>(chunks);
    auto left = std::make_shared<qint64>(chunks);
    QPointer<Sealer> self(this);
    for (qint64 c = 0; c < chunks; ++c) {
        const qint64 from = c * chunk;
        const qint64 to = std::min(n, from + chunk) - 1;
        m_redis.command(
            {"LRANGE", run->keys.waitingRoomCohort(), QByteArray::number(from),
             QByteArray::number(to)},
            [self, run, parts, left, c, from, to](const Result<RedisValue> &r) {
                if (!self || run->finished)
                    return;
                if (!r)
                    return self->fail(run, r.error());
                if (!r->isArray() || r->elements.size() != to - from + 1)
                    return self->fail(run, Error{ErrorCode::Protocol,
                                                 QStringLiteral("sale %1: wr:cohort is shorter "
                                                                "than its frozen size")
                                                     .arg(run->saleId)});
                QList<QByteArray> &part = (*parts)[c];
                part.reserve(r->elements.size());
                for (const RedisValue &v : r->elements)
                    part.append(v.string);
                if (--*left > 0)
                    return;
                run->cohort.reserve(run->report.cohortSize);
                for (QList<QByteArray> &p : *parts)
                    run->cohort.append(std::move(p));
                parts->clear();
                for (const QByteArray &id : std::as_const(run->cohort))
                    if (!CohortShuffle::isEntryId(id))
                        return self->fail(run, Error{ErrorCode::Protocol,
                                                     QStringLiteral("sale %1: wr:cohort holds a "
                                                                    "malformed entry id")
                                                         .arg(run->saleId)});
                self->stage(run, "read");
                self->shuffle(run);
            });
    }
}

void Sealer::shuffle(std::shared_ptr<Run> run) {
    if (!keepGoing(run))
        return;
    const QByteArray seed = run->seed;
    const qint64 saleId = run->saleId;
    const int threads = std::max(1, m_options.threads);
    QList<QByteArray> ids = std::move(run->cohort);
    run->cohort.clear();
    QPointer<Sealer> self(this);
    QtConcurrent::run([seed, saleId, ids = std::move(ids), threads] {
        return CohortShuffle::seal(seed, saleId, ids, threads);
    }).then(this, [self, run](const CohortShuffle::Sealed &s) {
        if (!self)
            return;
        run->sealed = s;
        self->stage(run, "shuffle");
        self->writeRanked(run);
    });
}

void Sealer::sendBatches(std::shared_ptr<Run> run,
                         std::shared_ptr<QList<QList<QByteArray>>> batches, const char *stageName,
                         std::function<void()> next) {
    struct State {
        qsizetype sent = 0;
        qsizetype answered = 0;
    };
    auto state = std::make_shared<State>();
    QPointer<Sealer> self(this);
    auto pump = std::make_shared<std::function<void()>>();
    *pump = [self, run, batches, state, stageName, next, pumpWeak = std::weak_ptr(pump)] {
        if (!self)
            return;
        auto pumpRef = pumpWeak.lock();
        while (state->sent < batches->size()
               && state->sent - state->answered < std::max(1, self->m_options.inFlight)) {
            const QList<QByteArray> argv = std::move((*batches)[state->sent]);
            (*batches)[state->sent++].clear();
            self->m_redis.command(argv, [self, run, batches, state, stageName, next,
                                         pumpRef](const Result<RedisValue> &r) {
                if (!self || run->finished)
                    return;
                if (!r || r->isError())
                    return self->fail(
                        run, r ? Error{ErrorCode::Protocol,
                                       QStringLiteral("%1: %2").arg(QLatin1String(stageName),
                                                                    QString::fromUtf8(r->string))}
                               : r.error());
                if (++state->answered == batches->size())
                    return next();
                (*pumpRef)();
            });
        }
    };
    if (batches->isEmpty())
        return next();
    // The pump keeps itself alive through the callbacks it hands out.
    auto keep = pump;
    (*keep)();
}

void Sealer::writeRanked(std::shared_ptr<Run> run) {
    if (!keepGoing(run))
        return;
    const QList<QByteArray> &ranked = run->sealed.ranked;
    const qsizetype batch = std::max(1, m_options.writeBatch);
    auto batches = std::make_shared<QList<QList<QByteArray>>>();
    batches->append({"DEL", run->keys.waitingRoomRanking()});
    for (qsizetype from = 0; from < ranked.size(); from += batch) {
        QList<QByteArray> argv{"RPUSH", run->keys.waitingRoomRanking()};
        const qsizetype to = std::min(ranked.size(), from + batch);
        argv.reserve(to - from + 2);
        for (qsizetype i = from; i < to; ++i)
            argv.append(ranked[i]);
        batches->append(std::move(argv));
    }
    QPointer<Sealer> self(this);
    sendBatches(run, batches, "RPUSH wr:ranking", [self, run] {
        if (!self)
            return;
        self->stage(run, "write_ranked");
        self->finishRanked(run);
    });
}

void Sealer::finishRanked(std::shared_ptr<Run> run) {
    if (!keepGoing(run))
        return;
    const SaleKeys &k = run->keys;
    QPointer<Sealer> self(this);
    m_redis.eval(m_scripts->finish,
                 {k.waitingRoomMeta(), k.waitingRoomRanking(), k.waitingRoomRanked(),
                  k.waitingRoomRanks(), k.waitingRoomAddresses()},
                 {"ranked", QByteArray::number(run->report.cohortSize), run->seed.toHex(),
                  run->sealed.digest, run->sealed.shuffleSeed.toHex()},
                 [self, run](const Result<RedisValue> &r) {
                     if (!self)
                         return;
                     if (!r)
                         return self->fail(run, r.error());
                     if (r->at(0).bytes() != "ranked") {
                         self->refused(run->saleId, QStringLiteral("Redis answered %1 %2 %3")
                                                        .arg(QString::fromUtf8(r->at(0).bytes()),
                                                             QString::fromUtf8(r->at(1).bytes()),
                                                             QString::fromUtf8(r->at(2).bytes())));
                         return self->fail(run, scriptError("queue_seal_finish.lua", *r));
                     }
                     run->sealedMs = r->at(1).toInt();
                     self->stage(run, "finish_ranked");
                     qCInfo(lcApp).noquote()
                         << "seal of sale" << run->saleId << ": ranks of" << run->report.cohortSize
                         << "entries public" << run->total.elapsed() << "ms after the seal began";
                     self->writeRanks(run);
                 });
}

void Sealer::writeRanks(std::shared_ptr<Run> run) {
    if (!keepGoing(run))
        return;
    const QList<QByteArray> &ranked = run->sealed.ranked;
    const qsizetype batch = std::max(1, m_options.writeBatch);
    auto batches = std::make_shared<QList<QList<QByteArray>>>();
    for (qsizetype from = 0; from < ranked.size(); from += batch) {
        QList<QByteArray> argv{"HSET", run->keys.waitingRoomRanks()};
        const qsizetype to = std::min(ranked.size(), from + batch);
        argv.reserve(2 * (to - from) + 2);
        for (qsizetype i = from; i < to; ++i) {
            argv.append(ranked[i]);
            argv.append(QByteArray::number(i + 1));
        }
        batches->append(std::move(argv));
    }
    QPointer<Sealer> self(this);
    sendBatches(run, batches, "HSET wr:rank", [self, run] {
        if (!self)
            return;
        self->stage(run, "write_ranks");
        self->finishPositions(run);
    });
}

void Sealer::finishPositions(std::shared_ptr<Run> run) {
    if (!keepGoing(run))
        return;
    const SaleKeys &k = run->keys;
    QPointer<Sealer> self(this);
    m_redis.eval(m_scripts->finish,
                 {k.waitingRoomMeta(), k.waitingRoomRanking(), k.waitingRoomRanked(),
                  k.waitingRoomRanks(), k.waitingRoomAddresses()},
                 {"positions", QByteArray::number(run->report.cohortSize), run->seed.toHex(),
                  run->sealed.digest, run->sealed.shuffleSeed.toHex()},
                 [self, run](const Result<RedisValue> &r) {
                     if (!self)
                         return;
                     if (!r)
                         return self->fail(run, r.error());
                     if (r->at(0).bytes() != "positions")
                         return self->fail(run, scriptError("queue_seal_finish.lua", *r));
                     self->stage(run, "finish_positions");
                     self->recordSeal(run);
                 });
}

void Sealer::recordSeal(std::shared_ptr<Run> run) {
    if (!keepGoing(run))
        return;
    // The first seal's time stays (a redo changes nothing); a row whose published values
    // differ from these is not touched, and the seal fails loudly.
    static const QByteArray sql =
        "UPDATE sale_fairness SET seed = $2, digest = $3, shuffle_seed = $4, cohort_size = $5, "
        "sealed_at = coalesce(sealed_at, to_timestamp($6::bigint / 1000.0)) "
        "WHERE sale_id = $1 AND (seed IS NULL OR (seed = $2 AND digest = $3 "
        "AND shuffle_seed = $4 AND cohort_size = $5)) "
        "RETURNING (SELECT f.sealed_at IS NULL FROM sale_fairness f WHERE f.sale_id = $1)";
    QPointer<Sealer> self(this);
    m_pg.query(
        sql,
        {QByteArray::number(run->saleId), run->seed.toHex(), run->sealed.digest,
         run->sealed.shuffleSeed.toHex(), QByteArray::number(run->report.cohortSize),
         QByteArray::number(run->sealedMs)},
        [self, run](const Result<PgResult> &r) {
            if (!self)
                return;
            if (!r)
                return self->fail(run, r.error());
            if (r->rows.isEmpty()) {
                self->refused(run->saleId,
                              QStringLiteral("PostgreSQL's sale_fairness holds another seal"));
                return self->fail(
                    run, Error{ErrorCode::Conflict, QStringLiteral("sale %1: sale_fairness holds "
                                                                   "another seal")
                                                        .arg(run->saleId)});
            }
            run->report.first = r->rows[0][0] == "t";
            if (run->report.first)
                writeAudit(
                    self->m_pg,
                    AuditRecord{self->m_actor, QStringLiteral("waiting_room.seal"), run->saleId,
                                QJsonValue(),
                                QJsonObject{{"seed", QString::fromLatin1(run->seed.toHex())},
                                            {"digest", QString::fromLatin1(run->sealed.digest)},
                                            {"shuffle_seed",
                                             QString::fromLatin1(run->sealed.shuffleSeed.toHex())},
                                            {"cohort_size", run->report.cohortSize},
                                            {"sealed_at", isoTime(run->sealedMs)}},
                                QJsonObject{{"close_ms", run->report.closeMs}}});
            self->stage(run, "record");
            self->archive(run, 0);
        });
}

void Sealer::archive(std::shared_ptr<Run> run, qsizetype from) {
    const QList<QByteArray> &ranked = run->sealed.ranked;
    if (from >= ranked.size())
        return markArchived(run);
    if (!keepGoing(run))
        return;
    const qsizetype count =
        std::min<qsizetype>(std::max(1, m_options.archiveBatch), ranked.size() - from);
    QPointer<Sealer> self(this);
    m_pg.query(
        "INSERT INTO waiting_room_entries (sale_id, rank, entry_id) "
        "SELECT $1, $2::integer + t.r, t.e FROM unnest($3::text[]) WITH ORDINALITY "
        "AS t (e, r) ON CONFLICT (sale_id, rank) DO NOTHING",
        {QByteArray::number(run->saleId), QByteArray::number(from), textArray(ranked, from, count)},
        60'000, [self, run, from, count](const Result<PgResult> &r) {
            if (!self)
                return;
            if (!r)
                return self->fail(run, r.error());
            self->archive(run, from + count);
        });
}

void Sealer::markArchived(std::shared_ptr<Run> run) {
    QPointer<Sealer> self(this);
    m_pg.query("UPDATE sale_fairness SET archived_at = coalesce(archived_at, now()) "
               "WHERE sale_id = $1",
               {QByteArray::number(run->saleId)}, [self, run](const Result<PgResult> &r) {
                   if (!self)
                       return;
                   if (!r)
                       return self->fail(run, r.error());
                   self->stage(run, "archive");
                   run->report.sealed = true;
                   run->finished = true;
                   self->m_inFlight.remove(run->saleId);
                   qCInfo(lcApp).noquote()
                       << "seal of sale" << run->saleId << "done:" << run->report.cohortSize
                       << "entries in" << run->total.elapsed() << "ms"
                       << (run->report.first ? "" : "(again, same bytes)");
                   run->done(run->report);
               });
}

} // namespace flashsale
