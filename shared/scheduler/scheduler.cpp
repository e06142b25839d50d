#include "scheduler.h"

#include "audit/audit.h"
#include "booking/itemimage.h"
#include "booking/occurrence.h"
#include "booking/salecatalog.h"
#include "booking/salekeys.h"
#include "booking/waitingroom.h"
#include "core/config.h"
#include "core/logging.h"
#include "core/timeformat.h"
#include "fairness/seedbox.h"
#include "metrics/metrics.h"
#include "pg/pgconnection.h"
#include "reconcile/reconciler.h"
#include "redis/redisclusterclient.h"
#include "redis/redisconnect.h"
#include "redis/redisscript.h"
#include "waitingroom/sealer.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QPointer>
#include <QSet>

#include <array>
#include <memory>
#include <optional>
#include <vector>

namespace flashsale {

namespace {

QByteArray pgTime(qint64 ms) {
    return isoTime(ms).toUtf8();
}

QList<qint64> ids(const PgResult &r) {
    QList<qint64> out;
    out.reserve(r.rows.size());
    for (const auto &row : r.rows)
        out.append(row.value(0).toLongLong());
    return out;
}

// One row of sale_schedules, as the occurrence arithmetic needs it.
struct Schedule {
    qint64 id = 0;
    QString name;
    qint64 firstStartMs = 0;
    qint64 everyMs = 0;
    qint64 durationMs = 0;
    int itemCount = 0;
    int unitsPerItem = 0;
    qint64 priceCents = 0;
    int perUserLimit = 0;
    int holdSeconds = 0;
    int admissionRate = 0;
    int admissionBurst = 0;
    QList<qint64> existingStartsMs; // occurrences already stored that have not ended

    // The start of the first occurrence first_start + k * every (k >= 0) that ends after now.
    qint64 nextStartMs(qint64 nowMs) const {
        return nextOccurrenceMs(firstStartMs, everyMs, durationMs, nowMs);
    }
};

// The reconciler and the connections it runs on. Connections go first: their destructors answer
// the statements still queued, and those answers may still call into the reconciler.
struct ReconcileSide final : QObject {
    PgConnection *pg = nullptr;
    RedisCommands *redis = nullptr;
    std::unique_ptr<Reconciler> reconciler;
    // Warms again a live sale Redis lost whole (a restart without its data), so that the repair
    // has a sale to put in line (it leaves a sale that is not in Redis alone).
    std::unique_ptr<SaleCatalog> catalog;

    ~ReconcileSide() override {
        delete pg;
        delete redis;
    }
};

// The waiting rooms' sealer and the connections it runs on (a seal reads and writes a cohort
// of up to millions of entries: the lease renewal must not queue behind it). Connections go
// first, as for ReconcileSide.
struct SealSide final : QObject {
    PgConnection *pg = nullptr;
    RedisCommands *redis = nullptr;
    std::unique_ptr<Sealer> sealer;
    std::unique_ptr<WaitingRoomService> admission; // lua/queue_admit.lua's tick

    ~SealSide() override {
        delete pg;
        delete redis;
    }
};

// Issue 21: what made the scheduler reconcile outside its interval (docs/SCHEDULER.md,
// "Reconciliation after a topology change"), as the `cause` label of its metrics.
constexpr const char *kCauseRedisRestart = "redis_restart"; // a Redis primary's run_id changed
constexpr const char *kCauseRedisSlots = "redis_slots";     // the cluster's slot map changed
constexpr const char *kCausePgPrimary = "pg_primary";       // another PostgreSQL server answers
constexpr std::array kTopologyCauses{kCauseRedisRestart, kCauseRedisSlots, kCausePgPrimary};

constexpr int kTopologyProbeMs = 1000; // Redis run_ids (and a cluster's slot map) read this often
constexpr int kTopologyAttempts = 5;   // rounds after one change while some run fails

// A round started by a topology change, by its first cause; a change signal by its cause.
Counter &topologyRuns(const QByteArray &cause) {
    return Metrics::instance().counter(
        "flashsale_reconcile_topology_runs_total",
        "Reconciliation rounds of every live sale the scheduler started after a topology change "
        "(a Redis restart or failover, a slot map change, a new PostgreSQL primary), by the "
        "change's first signal.",
        "cause=\"" + cause + '"');
}
Counter &topologySignals(const QByteArray &cause) {
    return Metrics::instance().counter(
        "flashsale_reconcile_topology_signals_total",
        "Topology changes the scheduler noticed, by cause; a burst of them within "
        "--reconcile-topology-delay-ms makes one round.",
        "cause=\"" + cause + '"');
}

// The run_id line of an INFO server reply; empty when there is none.
QByteArray runIdOf(const RedisValue &info) {
    for (const QByteArray &line : info.string.split('\n')) {
        if (line.startsWith("run_id:"))
            return line.mid(7).trimmed();
    }
    return {};
}

// Checks a repair puts right: Redis's counters and holds from PostgreSQL, sold, lost bookings.
// Not orders_without_redis (reported only, docs/RECONCILIATION.md) nor dead_letters (an
// operator's decision).
bool repairableDrift(const QJsonObject &report) {
    static const QStringList repairable{QStringLiteral("conservation"),
                                        QStringLiteral("inventory_sold"),
                                        QStringLiteral("missing_orders"),
                                        QStringLiteral("user_counts"), QStringLiteral("hold_lost")};
    for (const QJsonValue &v : report.value(QStringLiteral("checks")).toArray()) {
        const QJsonObject row = v.toObject();
        if (row.value(QStringLiteral("drift")).toInteger() != 0
            && repairable.contains(row.value(QStringLiteral("check")).toString()))
            return true;
    }
    return false;
}

// One round of reconciliation: the live sales, one after another, either on the interval or
// after a topology change.
struct Round {
    QList<qint64> sales;
    bool topology = false;
    QStringList causes; // topology: the signals that made it, first first
    int total = 0;
    int failed = 0;
};

} // namespace

struct Scheduler::Impl {
    Scheduler *q;
    PgConnection &pg;
    RedisCommands &redis;
    QString holder;
    Clock clock;
    qint64 warmupMs;
    qint64 leaseSeconds;
    qint64 reconcileIntervalMs;
    qint64 retentionMs;
    int tickMs;
    RedisScript retireScript = RedisScript::load(QStringLiteral("retire"));
    QSet<qint64> retireAgain; // sales whose retire step failed: tried again next pass
    std::shared_ptr<SaleCatalog> catalog;

    // Reconciliation runs on connections of its own: a check may hold a transaction open across
    // several statements, and the lease renewal must not queue behind it or land inside it.
    ReconcileSide *reconcile = nullptr;
    // Seals waiting rooms whose cohort closed (issue 16), beside the pass like reconciliation.
    SealSide *seal = nullptr;
    bool sealing = false;
    bool admitting = false;
    double admitFactor = 1;

    QTimer timer;
    bool stopped = false;
    bool running = false;
    bool leader = false;
    bool reconciling = false; // a round (scheduled or after a topology change) is running

    // Issue 21: reconciliation after a topology change (docs/SCHEDULER.md). Signals within
    // topologyDelayMs of each other make one round, topologyDelayMs after the last of them (but
    // at most 5 x that after the first); a round never overlaps another.
    qint64 topologyDelayMs = 0; // 0: off
    QTimer topologyTimer;
    QElapsedTimer topologyFirstSignal;
    QStringList topologyCauses;   // signals not yet served by a round, first first
    bool topologyPending = false; // the delay ended while a round ran: one follows it
    int topologyAttempts = 0;     // rounds for the current change that had a failed run
    bool probing = false;
    QElapsedTimer lastProbe;
    QHash<QString, QByteArray> redisRunIds; // "host:port" (one node: "") -> run_id last read
    QByteArray pgServer;                    // the PostgreSQL server the lease was last renewed on
    quint64 epoch = 0; // bumped by stop(): callbacks of an abandoned pass do nothing
    std::optional<qint64> lastReconcileMs;
    std::vector<std::function<void()>> waiters;
    QString lastWarning;
    QElapsedTimer lastWarningAt;

    Impl(Scheduler *q, const Config &config, PgConnection &pg, RedisCommands &redis, QString holder,
         Clock clock)
        : q(q)
        , pg(pg)
        , redis(redis)
        , holder(std::move(holder))
        , clock(clock ? std::move(clock)
                      : Clock([] { return QDateTime::currentMSecsSinceEpoch(); }))
        , warmupMs(qint64(config.warmupSeconds) * 1000)
        , leaseSeconds(config.leaseSeconds)
        , reconcileIntervalMs(qint64(config.reconcileIntervalSeconds) * 1000)
        , retentionMs(qint64(config.saleRetentionSeconds) * 1000)
        , tickMs(config.schedulerTickMs)
        , catalog(std::make_shared<SaleCatalog>(pg, redis))
        , topologyDelayMs(config.reconcileTopologyDelayMs) {
        // Scheduled sales with a waiting room get their seeds sealed as the API's are.
        QString keyError;
        catalog->setSeedKey(
            fairness::SeedBox::sealingKey(config.waitingRoomSeedKey.toLatin1(),
                                          config.waitingRoomSeedPublicKey.toLatin1(), &keyError));
        if (!keyError.isEmpty())
            qCCritical(lcApp).noquote()
                << "scheduler: new sales' seeds are stored plain:" << keyError;
        if (reconcileIntervalMs > 0 || topologyDelayMs > 0) {
            const auto target = RedisTarget::fromConfig(config);
            if (!target) {
                qCWarning(lcApp).noquote()
                    << "scheduler: no scheduled reconciliation:" << target.error().message;
                reconcileIntervalMs = 0;
                topologyDelayMs = 0;
            } else {
                reconcile = new ReconcileSide;
                reconcile->pg = new PgConnection(config.pgUrl);
                reconcile->redis =
                    createRedis(*target,
                                std::chrono::milliseconds(std::max(config.redisTimeoutMs, 5000)))
                        .release();
                reconcile->reconciler =
                    std::make_unique<Reconciler>(*reconcile->pg, *reconcile->redis);
                reconcile->catalog =
                    std::make_unique<SaleCatalog>(*reconcile->pg, *reconcile->redis);
                reconcile->pg->setMetricsPool("reconcile");
                reconcile->redis->setMetricsName("reconcile");
            }
        }
        if (const auto target = RedisTarget::fromConfig(config); target) {
            seal = new SealSide;
            seal->pg = new PgConnection(config.pgUrl);
            seal->redis =
                createRedis(*target,
                            std::chrono::milliseconds(std::max(config.redisTimeoutMs, 10000)))
                    .release();
            Sealer::Options options;
            if (!config.waitingRoomSeedKey.isEmpty()) {
                options.seedKey =
                    fairness::SeedBox::fromSecretHex(config.waitingRoomSeedKey.toLatin1());
                // Public: what API-only processes take as --waiting-room-seed-public-key.
                if (options.seedKey)
                    qCInfo(lcApp).noquote() << "scheduler: waiting-room seed box, public key"
                                            << options.seedKey->publicKey().toHex();
            }
            seal->sealer =
                std::make_unique<Sealer>(*seal->pg, *seal->redis, actor(), std::move(options));
            seal->admission =
                std::make_unique<WaitingRoomService>(*seal->redis, config.waitingRoomMaxEntries);
            admitFactor = config.waitingRoomAdmitFactor;
            seal->pg->setMetricsPool("seal");
            seal->redis->setMetricsName("seal");
        }
    }

    ~Impl() {
        // A run still in flight answers from the event loop later; let it find everything alive.
        if (reconcile && reconciling)
            reconcile->deleteLater();
        else
            delete reconcile;
        if (seal && sealing)
            seal->deleteLater();
        else
            delete seal;
    }

    QString actor() const { return QStringLiteral("scheduler@") + holder; }

    // The same failure tick after tick (PostgreSQL down for a minute) is logged once a minute.
    void warn(const QString &what) {
        if (what == lastWarning && lastWarningAt.isValid() && lastWarningAt.elapsed() < 60'000) {
            qCDebug(lcApp).noquote() << "scheduler:" << what;
            return;
        }
        lastWarning = what;
        lastWarningAt.start();
        qCWarning(lcApp).noquote() << "scheduler:" << what;
    }

    void setLeader(bool value) {
        if (leader == value)
            return;
        leader = value;
        if (!value) {
            lastReconcileMs.reset();
            // A change heard but not yet served waits for this process to lead again (a
            // PostgreSQL failover makes the lease renewal fail first). The servers last seen
            // (pgServer, redisRunIds) are kept too: a lease renewed on another PostgreSQL server
            // after the outage is the change to notice.
            topologyTimer.stop();
            topologyPending = false;
        } else {
            retireClosedSince();
            if (!topologyCauses.isEmpty() && !topologyTimer.isActive()) {
                topologyFirstSignal.start();
                topologyTimer.start(int(topologyDelayMs));
            }
        }
        qCInfo(lcApp).noquote() << "scheduler" << holder
                                << (value ? "holds the lease and acts" : "does not hold the lease");
        Q_EMIT q->leadershipChanged(value);
    }

    void audit(const QString &action, qint64 saleId, const QJsonObject &after,
               const QJsonObject &detail = {}) {
        writeAudit(pg, AuditRecord{actor(), action, saleId, QJsonValue(), after, detail});
    }

    // Runs `step` with the rows of `sql` while this pass is still current; on failure logs and
    // ends the pass (the next tick retries). `step` gets the rows and the continuation.
    void query(const QByteArray &sql, const QList<QByteArray> &params, const char *what,
               std::function<void(const PgResult &)> step) {
        QPointer<Scheduler> self(q);
        const quint64 at = epoch;
        pg.query(sql, params, [self, at, what, step = std::move(step)](const Result<PgResult> &r) {
            if (!self || !self->d || self->d->epoch != at)
                return;
            if (!r) {
                self->d->warn(
                    QStringLiteral("%1 failed: %2").arg(QLatin1String(what), r.error().message));
                self->d->finishPass();
                return;
            }
            step(*r);
        });
    }

    // Guards a continuation of an async step: it runs only while the scheduler exists and the
    // pass it belongs to was not abandoned by stop().
    template<typename F>
    auto guarded(F f) {
        QPointer<Scheduler> self(q);
        const quint64 at = epoch;
        return [self, at, f = std::move(f)](auto &&...args) mutable {
            if (!self || !self->d || self->d->epoch != at)
                return;
            f(std::forward<decltype(args)>(args)...);
        };
    }

    // Like query(), for work beside the pass (retiring sales): a failure is logged, calls
    // `failed` and leaves the pass alone.
    void sideQuery(const QByteArray &sql, const QList<QByteArray> &params, const char *what,
                   std::function<void(const PgResult &)> step, std::function<void()> failed = {}) {
        pg.query(sql, params,
                 guarded([this, what, step = std::move(step),
                          failed = std::move(failed)](const Result<PgResult> &r) {
                     if (!r) {
                         warn(QStringLiteral("%1 failed: %2")
                                  .arg(QLatin1String(what), r.error().message));
                         if (failed)
                             failed();
                         return;
                     }
                     step(*r);
                 }));
    }

    void beginPass() {
        running = true;
        const qint64 now = clock();
        renewLease(now);
    }

    void finishPass() {
        running = false;
        auto done = std::move(waiters);
        waiters.clear();
        for (auto &f : done)
            f();
    }

    // Takes or renews the lease; a row back means this process holds it until expires_at.
    void renewLease(qint64 now) {
        static const QByteArray sql =
            "INSERT INTO leases (name, holder, expires_at) "
            "VALUES ('scheduler', $1, now() + $2::integer * interval '1 second') "
            "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, "
            "expires_at = EXCLUDED.expires_at "
            "WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < now() "
            // Which server answered (issue 21): a failover or restart changes it.
            "RETURNING holder, coalesce(host(inet_server_addr()), 'local') || ':' || "
            "current_setting('port') || ' up since ' || pg_postmaster_start_time()";
        QPointer<Scheduler> self(q);
        const quint64 at = epoch;
        pg.query(sql, {holder.toUtf8(), QByteArray::number(leaseSeconds)},
                 [self, at, now](const Result<PgResult> &r) {
                     if (!self || !self->d || self->d->epoch != at)
                         return;
                     Impl *d = self->d;
                     if (!r) {
                         // Not renewed: the lease may lapse at any moment, so stop acting.
                         d->warn(QStringLiteral("lease renewal failed: %1").arg(r.error().message));
                         d->setLeader(false);
                         d->finishPass();
                         return;
                     }
                     d->setLeader(!r->rows.isEmpty());
                     if (!d->leader) {
                         d->finishPass();
                         return;
                     }
                     d->checkPgServer(r->rows[0].value(1));
                     d->probeRedis();
                     d->createOccurrences(now);
                 });
    }

    void createOccurrences(qint64 now) {
        static const QByteArray sql =
            "SELECT sc.id, sc.name, (extract(epoch FROM sc.first_start) * 1000)::bigint, "
            "sc.every_seconds, sc.duration_seconds, sc.item_count, sc.units_per_item, "
            "sc.price_cents, sc.per_user_limit, sc.hold_seconds, sc.admission_rate, "
            "sc.admission_burst, "
            "(SELECT string_agg(((extract(epoch FROM s.starts_at) * 1000)::bigint)::text, ',') "
            " FROM sales s WHERE s.schedule_id = sc.id AND s.ends_at > $1) "
            "FROM sale_schedules sc WHERE sc.active ORDER BY sc.id";
        query(sql, {pgTime(now)}, "reading schedules", [this, now](const PgResult &r) {
            auto due = std::make_shared<QList<std::pair<Schedule, qint64>>>();
            for (const auto &row : r.rows) {
                Schedule s;
                s.id = row[0].toLongLong();
                s.name = QString::fromUtf8(row[1]);
                s.firstStartMs = row[2].toLongLong();
                s.everyMs = row[3].toLongLong() * 1000;
                s.durationMs = row[4].toLongLong() * 1000;
                s.itemCount = row[5].toInt();
                s.unitsPerItem = row[6].toInt();
                s.priceCents = row[7].toLongLong();
                s.perUserLimit = row[8].toInt();
                s.holdSeconds = row[9].toInt();
                s.admissionRate = row[10].toInt();
                s.admissionBurst = row[11].toInt();
                for (const QByteArray &v : row[12].split(','))
                    if (!v.isEmpty())
                        s.existingStartsMs.append(v.toLongLong());
                if (s.everyMs <= 0)
                    continue;
                const qint64 start = s.nextStartMs(now);
                if (now >= start - warmupMs && !s.existingStartsMs.contains(start))
                    due->append({s, start});
            }
            createNext(due, now);
        });
    }

    // Creates the due occurrences one after another, then goes on with the pass.
    void createNext(std::shared_ptr<QList<std::pair<Schedule, qint64>>> due, qint64 now) {
        if (due->isEmpty()) {
            warmDue(now);
            return;
        }
        const auto next = due->takeFirst();
        const Schedule &schedule = next.first;
        const qint64 start = next.second;
        SaleSpec spec;
        spec.name = schedule.name + QLatin1Char(' ')
                    + QDateTime::fromMSecsSinceEpoch(start, Qt::UTC)
                          .toString(QStringLiteral("yyyy-MM-dd HH:mm 'UTC'"));
        spec.perUserLimit = schedule.perUserLimit;
        spec.startsAtMs = start;
        spec.endsAtMs = start + schedule.durationMs;
        spec.holdSeconds = schedule.holdSeconds;
        spec.admissionRate = schedule.admissionRate;
        spec.admissionBurst = schedule.admissionBurst;
        spec.scheduleId = schedule.id;
        spec.items.reserve(schedule.itemCount);
        for (int i = 0; i < schedule.itemCount; ++i)
            spec.items.append(SaleSpec::Item{0, generatedItemName(schedule.id, start, i),
                                             schedule.unitsPerItem, schedule.priceCents});
        auto timer = std::make_shared<QElapsedTimer>();
        timer->start();
        const qint64 scheduleId = schedule.id;
        const int itemCount = schedule.itemCount;
        // The catalogue is captured so a create still in flight when the scheduler is deleted
        // finishes on a live object.
        catalog->create(
            spec, true,
            [catalog = catalog,
             cont = guarded([this, due, now, scheduleId, start, itemCount,
                             timer](const Result<SaleSpec> &r, qint64 saleId) {
                 const qint64 ms = timer->elapsed();
                 if (!r && r.error().code == ErrorCode::Conflict) {
                     // Another scheduler (or an earlier, in-doubt attempt) created it: fine.
                     qCDebug(lcApp).noquote() << "scheduler:" << r.error().message;
                 } else if (!r && saleId == 0) {
                     warn(QStringLiteral("occurrence of schedule %1 at %2 not created: %3")
                              .arg(scheduleId)
                              .arg(isoTime(start), r.error().message));
                 } else {
                     // Created; when warming failed (r holds the error) warmed_at stays NULL and
                     // the warm step retries it.
                     if (!r)
                         warn(r.error().message);
                     qCInfo(lcApp).noquote() << "scheduler: created sale" << saleId << "of schedule"
                                             << scheduleId << "starting" << isoTime(start) << "with"
                                             << itemCount << "items in" << ms << "ms";
                     Q_EMIT q->saleCreated(saleId, scheduleId);
                     if (r)
                         Q_EMIT q->saleWarmed(saleId);
                     audit(QStringLiteral("schedule.occurrence"), saleId,
                           QJsonObject{{"sale_id", saleId},
                                       {"schedule_id", scheduleId},
                                       {"starts_at", isoTime(start)},
                                       {"item_count", itemCount},
                                       {"warmed", bool(r)}},
                           QJsonObject{{"create_ms", ms}});
                 }
                 createNext(due, now);
             })](const Result<SaleSpec> &r, qint64 saleId) mutable { cont(r, saleId); });
    }

    // Warms every sale that starts within the warm-up and is not in Redis yet: one-off sales,
    // and occurrences whose warming failed when they were created. A sale with a waiting room
    // must be warm when its lobby opens (the lobby is before the start), so the warm-up counts
    // from lobby_opens_at for it.
    void warmDue(qint64 now) {
        static const QByteArray sql =
            "SELECT id FROM sales WHERE warmed_at IS NULL AND state <> 'stopped' "
            "AND coalesce(lobby_opens_at, starts_at) <= "
            "$1::timestamptz + $2::bigint * interval '1 millisecond' "
            "AND ends_at > $1 ORDER BY starts_at, id";
        query(sql, {pgTime(now), QByteArray::number(warmupMs)}, "finding sales to warm",
              [this, now](const PgResult &r) {
                  warmNext(std::make_shared<QList<qint64>>(ids(r)), now);
              });
    }

    void warmNext(std::shared_ptr<QList<qint64>> pending, qint64 now) {
        if (pending->isEmpty()) {
            recordOpened(now);
            return;
        }
        const qint64 saleId = pending->takeFirst();
        catalog->warm(saleId, [catalog = catalog,
                               cont = guarded([this, pending, now, saleId](const Result<bool> &r) {
                                   if (!r) {
                                       warn(QStringLiteral("sale %1 not warmed: %2")
                                                .arg(saleId)
                                                .arg(r.error().message));
                                   } else {
                                       qCInfo(lcApp) << "scheduler: warmed sale" << saleId;
                                       Q_EMIT q->saleWarmed(saleId);
                                       audit(QStringLiteral("sale.warm"), saleId,
                                             QJsonObject{{"warmed", true}},
                                             QJsonObject{{"written_now", *r}});
                                   }
                                   warmNext(pending, now);
                               })](const Result<bool> &r) mutable { cont(r); });
    }

    void recordOpened(qint64 now) {
        // A sale stopped before its start never opens; paused ones do (pausing is separate).
        static const QByteArray sql =
            "UPDATE sales SET opened_at = $1 WHERE opened_at IS NULL AND warmed_at IS NOT NULL "
            "AND state <> 'stopped' AND starts_at <= $1 RETURNING id";
        query(sql, {pgTime(now)}, "recording opened sales", [this, now](const PgResult &r) {
            for (const qint64 id : ids(r)) {
                qCInfo(lcApp) << "scheduler: sale" << id << "opened";
                audit(QStringLiteral("sale.open"), id, QJsonObject{{"opened_at", isoTime(now)}});
                Q_EMIT q->saleOpened(id);
            }
            recordClosed(now);
        });
    }

    void recordClosed(qint64 now) {
        static const QByteArray sql =
            "UPDATE sales SET closed_at = $1 WHERE closed_at IS NULL AND warmed_at IS NOT NULL "
            "AND ends_at <= $1 RETURNING id";
        query(sql, {pgTime(now)}, "recording closed sales", [this, now](const PgResult &r) {
            for (const qint64 id : ids(r)) {
                qCInfo(lcApp) << "scheduler: sale" << id << "closed";
                audit(QStringLiteral("sale.close"), id, QJsonObject{{"closed_at", isoTime(now)}});
                Q_EMIT q->saleClosed(id);
                retire(id, now);
            }
            for (const qint64 id : std::exchange(retireAgain, {}))
                retireFromPg(id);
            maybeSeal(now);
            maybeAdmit(now);
            maybeReconcile(now);
        });
    }

    // Gives the Redis keys of a sale that closed at `closedMs` their expiry, closedMs + the
    // retention (lua/retire.lua), and the item -> sale keys of its items the same. Runs beside
    // the pass (it never holds it up); a failure is logged and retried on the next pass.
    void retire(qint64 saleId, qint64 closedMs) {
        const qint64 at = closedMs + retentionMs;
        sideQuery(
            "SELECT id FROM sale_items WHERE sale_id = $1", {QByteArray::number(saleId)},
            "reading the items of a closed sale",
            [this, saleId, at](const PgResult &items) {
                const SaleKeys k(saleId);
                const QList<QByteArray> keys{
                    k.meta(), k.stock(), k.price(), k.items(), k.users(), k.bucket(), k.stream(),
                    k.reservations(), k.deadLetters(), k.released(),
                    // The waiting room's (docs/WAITING_ROOM.md); absent ones are skipped.
                    k.waitingRoomMeta(), k.waitingRoomBuyers(), k.waitingRoomCohort(),
                    k.waitingRoomFifo(), k.waitingRoomAddresses(), k.waitingRoomRanked(),
                    k.waitingRoomRanking(), k.waitingRoomRanks()};
                const QByteArray atText = QByteArray::number(at);
                for (const qint64 item : ids(items))
                    redis.command({"PEXPIREAT", SaleKeys::itemOwner(item), atText},
                                  [](const Result<RedisValue> &) {});
                redis.eval(
                    retireScript, keys, {atText},
                    guarded([this, saleId, at](const Result<RedisValue> &r) {
                        if (!r || r->isError()) {
                            warn(QStringLiteral("sale %1: keys not given their expiry: %2")
                                     .arg(saleId)
                                     .arg(r ? QString::fromUtf8(r->string) : r.error().message));
                            retireAgain.insert(saleId);
                            return;
                        }
                        qCInfo(lcApp).noquote()
                            << "scheduler: sale" << saleId << "keys expire at" << isoTime(at);
                        Q_EMIT q->saleRetired(saleId, at);
                    }));
            },
            [this, saleId] { retireAgain.insert(saleId); });
    }

    void retireFromPg(qint64 saleId) {
        sideQuery(
            "SELECT (extract(epoch FROM closed_at) * 1000)::bigint FROM sales "
            "WHERE id = $1 AND closed_at IS NOT NULL",
            {QByteArray::number(saleId)}, "reading when a sale closed",
            [this, saleId](const PgResult &r) {
                if (!r.rows.isEmpty())
                    retire(saleId, r.rows[0][0].toLongLong());
            },
            [this, saleId] { retireAgain.insert(saleId); });
    }

    // On taking the lease: a leader that died between recording a close and retiring the sale
    // left its keys without expiry. Every sale closed within the retention is retired again
    // (idempotent: the expiry is absolute).
    void retireClosedSince() {
        sideQuery("SELECT id, (extract(epoch FROM closed_at) * 1000)::bigint FROM sales "
                  "WHERE closed_at IS NOT NULL "
                  "AND closed_at > $1::timestamptz - $2::bigint * interval '1 millisecond' "
                  "ORDER BY id",
                  {pgTime(clock()), QByteArray::number(retentionMs)},
                  "reading recently closed sales", [this](const PgResult &r) {
                      for (const auto &row : r.rows)
                          retire(row.value(0).toLongLong(), row.value(1).toLongLong());
                  });
    }

    // Issue 16: seals the waiting rooms whose cohort has closed and whose seal is not done
    // (archived_at is set last), also of sales stopped or ended meanwhile while their Redis keys
    // live: the seal reveals the seed, so the commitment published at the lobby's opening can
    // be checked whatever became of the sale (nobody is admitted to a closed sale). The scheduler's
    // clock only picks candidates, a little early; Redis' clock decides (lua/queue_seal_begin.lua
    // answers `early` before the boundary). The round runs beside the pass, one sale after another;
    // a failed seal is tried again on the next tick and redoes the same bytes.
    void maybeSeal(qint64 now) {
        if (!seal || sealing)
            return;
        static const QByteArray sql =
            "SELECT s.id FROM sales s JOIN sale_fairness f ON f.sale_id = s.id "
            "WHERE s.waiting_room AND s.warmed_at IS NOT NULL "
            "AND (s.closed_at IS NULL "
            "OR s.closed_at > $1::timestamptz - $2::bigint * interval '1 millisecond') "
            "AND f.archived_at IS NULL AND s.lobby_opens_at <= $1 "
            "AND s.starts_at + s.grace_ms * interval '1 millisecond' "
            "<= $1::timestamptz + interval '2 seconds' ORDER BY s.starts_at, s.id";
        sealing = true;
        // Not guarded by the pass's epoch: `sealing` must be cleared whatever happens.
        QPointer<Scheduler> self(q);
        // A closed sale's keys expire retentionMs after its close; stop a minute before.
        const qint64 window = std::max<qint64>(0, retentionMs - 60000);
        pg.query(sql, {pgTime(now), QByteArray::number(window)}, [self](const Result<PgResult> &r) {
            if (!self || !self->d)
                return;
            Impl *d = self->d;
            if (!r) {
                d->warn(QStringLiteral("finding waiting rooms to seal failed: %1")
                            .arg(r.error().message));
                d->sealing = false;
                return;
            }
            d->sealNext(std::make_shared<QList<qint64>>(ids(*r)));
        });
    }

    void sealNext(std::shared_ptr<QList<qint64>> sales) {
        if (sales->isEmpty() || !leader || stopped) {
            sealing = false;
            return;
        }
        const qint64 saleId = sales->takeFirst();
        QPointer<Scheduler> self(q);
        seal->sealer->seal(
            saleId,
            [self, sales, saleId](const Result<Sealer::Report> &r) {
                if (!self || !self->d)
                    return;
                Impl *d = self->d;
                if (!r)
                    d->warn(QStringLiteral("seal of sale %1 failed: %2")
                                .arg(saleId)
                                .arg(r.error().message));
                else if (r->sealed)
                    Q_EMIT self->waitingRoomSealed(saleId, r->cohortSize);
                d->sealNext(sales);
            },
            [self] { return self && self->d && self->d->leader && !self->d->stopped; });
    }

    // Issue 16: admission. Every pass, each open waiting room whose cohort has closed gets one
    // lua/queue_admit.lua tick (no-shows out, the next in line admitted at the sale's rate while
    // admitted, unbooked entries stay within --waiting-room-admit-factor x the remaining units).
    // The script does nothing before the seal has ranked the cohort, so the boundary needs no
    // care here. Runs on the sealer's connection, one sale after another; a pass still admitting
    // when the next begins is skipped.
    void maybeAdmit(qint64 now) {
        if (!seal || admitting)
            return;
        static const QByteArray sql =
            "SELECT id FROM sales WHERE waiting_room AND warmed_at IS NOT NULL "
            "AND closed_at IS NULL AND state <> 'stopped' "
            "AND starts_at + grace_ms * interval '1 millisecond' <= $1 ORDER BY starts_at, id";
        admitting = true;
        QPointer<Scheduler> self(q);
        pg.query(sql, {pgTime(now)}, [self](const Result<PgResult> &r) {
            if (!self || !self->d)
                return;
            Impl *d = self->d;
            if (!r) {
                d->warn(QStringLiteral("finding waiting rooms to admit from failed: %1")
                            .arg(r.error().message));
                d->admitting = false;
                return;
            }
            d->admitNext(std::make_shared<QList<qint64>>(ids(*r)));
        });
    }

    void admitNext(std::shared_ptr<QList<qint64>> sales) {
        if (sales->isEmpty() || !leader || stopped) {
            admitting = false;
            return;
        }
        const qint64 saleId = sales->takeFirst();
        QPointer<Scheduler> self(q);
        seal->admission->admitTick(saleId, admitFactor,
                                   [self, sales, saleId](const Result<AdmitTick> &r) {
                                       if (!self || !self->d)
                                           return;
                                       Impl *d = self->d;
                                       if (!r)
                                           d->warn(QStringLiteral("admission tick of sale %1 "
                                                                  "failed: %2")
                                                       .arg(saleId)
                                                       .arg(r.error().message));
                                       d->admitNext(sales);
                                   });
    }

    // The live sales a round reconciles: opened, and not closed longer ago than an hour (or the
    // retention: a retired sale has nothing left in Redis to compare).
    void readLiveSales(qint64 now, std::function<void(const Result<PgResult> &)> done) {
        static const QByteArray sql =
            "SELECT id FROM sales WHERE opened_at IS NOT NULL "
            "AND (closed_at IS NULL OR closed_at > $1::timestamptz - "
            "least(interval '1 hour', $2::bigint * interval '1 millisecond')) "
            "ORDER BY id";
        pg.query(sql, {pgTime(now), QByteArray::number(retentionMs)}, std::move(done));
    }

    // Starts a round of dry runs when one is due; the round goes on by itself, so a slow
    // reconciliation never holds up the lease renewal or the lifecycle of other sales.
    void maybeReconcile(qint64 now) {
        // A round after a topology change is coming (or running): it reads the same sales and
        // repairs more, and counts as the interval's round.
        const bool due = reconcile && reconcileIntervalMs > 0 && !reconciling
                         && !topologyTimer.isActive() && !topologyPending
                         && (!lastReconcileMs || now - *lastReconcileMs >= reconcileIntervalMs);
        if (!due) {
            finishPass();
            return;
        }
        // Claimed before the read, so that a round after a topology change cannot start beside
        // it; cleared whatever the answer (not guarded by the pass's epoch).
        reconciling = true;
        QPointer<Scheduler> self(q);
        const quint64 at = epoch;
        readLiveSales(now, [self, at, now](const Result<PgResult> &r) {
            if (!self || !self->d)
                return;
            Impl *d = self->d;
            if (!r) {
                d->warn(
                    QStringLiteral("finding sales to reconcile failed: %1").arg(r.error().message));
                d->endRound(nullptr);
            } else {
                d->lastReconcileMs = now;
                auto round = std::make_shared<Round>();
                round->sales = ids(*r);
                round->total = int(round->sales.size());
                d->reconcileNext(round);
            }
            if (d->epoch == at && d->running)
                d->finishPass();
        });
    }

    void reconcileNext(std::shared_ptr<Round> round) {
        if (round->sales.isEmpty() || !leader || stopped)
            return endRound(round);
        const qint64 saleId = round->sales.takeFirst();
        if (round->topology)
            return ensureWarm(round, saleId);
        dryRun(round, saleId);
    }

    // After a topology change: a live sale that Redis lost whole (a node restarted without its
    // data) is warmed again from PostgreSQL (remaining = stock - sold, lua/warm.lua; a sale still
    // in Redis is left as it is), so that the repair that follows has a sale to put in line. A
    // closed one gets its expiry again.
    void ensureWarm(std::shared_ptr<Round> round, qint64 saleId) {
        QPointer<Scheduler> self(q);
        reconcile->redis->command(
            {"EXISTS", SaleKeys(saleId).meta()},
            [self, round, saleId](const Result<RedisValue> &r) {
                if (!self || !self->d)
                    return;
                if (!r || r->isError() || r->toInt() != 0)
                    return self->d->dryRun(round, saleId); // a failure shows in the run
                qCWarning(lcApp).noquote()
                    << "scheduler: sale" << saleId
                    << "is gone from Redis; warming it again from PostgreSQL";
                self->d->reconcile->catalog->warm(saleId, [self, round,
                                                           saleId](const Result<bool> &w) {
                    if (!self || !self->d)
                        return;
                    Impl *d = self->d;
                    if (!w) {
                        d->warn(QStringLiteral("sale %1 not warmed again: %2")
                                    .arg(saleId)
                                    .arg(w.error().message));
                    } else {
                        d->audit(QStringLiteral("sale.warm"), saleId, QJsonObject{{"warmed", true}},
                                 QJsonObject{{"written_now", *w}, {"reason", "topology"}});
                        d->retireFromPg(saleId); // a closed sale: its expiry again
                    }
                    d->dryRun(round, saleId);
                });
            });
    }

    void dryRun(std::shared_ptr<Round> round, qint64 saleId) {
        Reconciler::Options options;
        options.repair = false;
        options.actor = actor();
        options.trigger =
            round->topology ? Reconciler::Trigger::Topology : Reconciler::Trigger::Schedule;
        QPointer<Scheduler> self(q);
        reconcile->reconciler->run(
            saleId, options, [self, round, saleId](const Result<QJsonObject> &r) {
                if (!self || !self->d)
                    return;
                Impl *d = self->d;
                if (!r) {
                    ++round->failed;
                    d->warn(QStringLiteral("reconciliation of sale %1 failed: %2")
                                .arg(saleId)
                                .arg(r.error().message));
                } else if (!r->value(QStringLiteral("ok")).toBool(true)) {
                    qCWarning(lcApp).noquote()
                        << "scheduler: reconciliation of sale" << saleId << "found drift, run"
                        << r->value(QStringLiteral("run_id")).toInteger();
                    // Issue 20: orders whose hold Redis lost stay pending forever, their buyers
                    // told 202 and given nothing; they are not left for an operator to find.
                    // Issue 21: after a topology change, drift is what the failover or restart
                    // lost, and a repair puts Redis in line with PostgreSQL.
                    const qint64 lost = holdLost(*r);
                    if (lost > 0 || (round->topology && repairableDrift(*r)))
                        return d->repair(round, saleId, lost);
                }
                Q_EMIT self->reconcileFinished(saleId, bool(r));
                if (self && self->d)
                    self->d->reconcileNext(round);
            });
    }

    // The hold_lost row's count of a report (0 without one).
    static qint64 holdLost(const QJsonObject &report) {
        for (const QJsonValue &v : report.value(QStringLiteral("checks")).toArray()) {
            const QJsonObject row = v.toObject();
            if (row.value(QStringLiteral("check")).toString() == QLatin1String("hold_lost")
                && row.value(QStringLiteral("subject"))
                       .toString()
                       .startsWith(QLatin1String("sale")))
                return row.value(QStringLiteral("found")).toInteger();
        }
        return 0;
    }

    // A repair of the sale, as reconcile.run with repair would make it (audited, recorded with
    // the round's trigger): it ends the hold-lost orders and puts Redis in line.
    void repair(std::shared_ptr<Round> round, qint64 saleId, qint64 holdLostCount) {
        if (holdLostCount > 0)
            qCWarning(lcApp).noquote() << "scheduler: sale" << saleId << "has" << holdLostCount
                                       << "orders whose hold Redis lost; repairing";
        else
            qCWarning(lcApp).noquote()
                << "scheduler: sale" << saleId << "drifted after a topology change; repairing";
        Reconciler::Options options;
        options.repair = true;
        options.actor = actor();
        options.trigger =
            round->topology ? Reconciler::Trigger::Topology : Reconciler::Trigger::Schedule;
        QPointer<Scheduler> self(q);
        reconcile->reconciler->run(
            saleId, options, [self, round, saleId, holdLostCount](const Result<QJsonObject> &r) {
                if (!self || !self->d)
                    return;
                if (!r) {
                    ++round->failed;
                    self->d->warn(QStringLiteral("repair of sale %1 failed: %2")
                                      .arg(saleId)
                                      .arg(r.error().message));
                }
                Q_EMIT self->reconcileFinished(saleId, bool(r));
                if (holdLostCount > 0 && self && self->d)
                    Q_EMIT self->holdLostRepaired(saleId, bool(r));
                if (self && self->d)
                    self->d->reconcileNext(round);
            });
    }

    // A round ended (null: it could not read its sales). After a topology change, a round with a
    // failed run (a cluster still failing over, PostgreSQL reconnecting) is tried again after the
    // delay, a few times; a change noticed while it ran gets a round of its own now.
    void endRound(const std::shared_ptr<Round> &round) {
        reconciling = false;
        if (round && round->topology) {
            qCInfo(lcApp).noquote()
                << QStringLiteral("scheduler: reconciled %1 live sales after a topology change "
                                  "(%2), %3 failed")
                       .arg(round->total)
                       .arg(round->causes.join(QStringLiteral(", ")))
                       .arg(round->failed);
            Q_EMIT q->topologyReconciled(round->causes.value(0), round->total, round->failed);
            if (round->failed == 0 || !leader || stopped) {
                topologyAttempts = 0;
            } else if (++topologyAttempts < kTopologyAttempts) {
                for (const QString &cause : std::as_const(round->causes))
                    if (!topologyCauses.contains(cause))
                        topologyCauses << cause;
                if (!topologyTimer.isActive() && !topologyPending) {
                    topologyFirstSignal.start();
                    topologyTimer.start(int(topologyDelayMs));
                }
            } else {
                warn(QStringLiteral("reconciliation after a topology change still failed for %1 "
                                    "sales after %2 rounds; the next interval tries again")
                         .arg(round->failed)
                         .arg(kTopologyAttempts));
                topologyAttempts = 0;
            }
        }
        if (topologyPending && leader && !stopped)
            startTopologyRound();
    }

    // ---- Issue 21: topology changes ----

    // One signal of a change. The round comes topologyDelayMs after the last signal of a burst
    // (a failover makes several: a node lost, the slot map, a new run_id), at most 5 x the delay
    // after the first.
    void topologySignal(const char *cause, const QString &what) {
        if (topologyDelayMs <= 0 || !reconcile || !leader || stopped)
            return;
        topologySignals(cause).inc();
        qCWarning(lcApp).noquote() << QStringLiteral("scheduler: topology change (%1): %2")
                                          .arg(QLatin1String(cause), what);
        if (!topologyCauses.contains(QLatin1String(cause)))
            topologyCauses << QLatin1String(cause);
        if (topologyPending)
            return; // a round is already waiting for the running one
        if (!topologyTimer.isActive())
            topologyFirstSignal.start();
        else if (topologyFirstSignal.elapsed() + topologyDelayMs > 5 * topologyDelayMs)
            return; // settled long enough: no later than planned
        topologyTimer.start(int(topologyDelayMs));
    }

    void onTopologyDelay() {
        if (!leader || stopped)
            return; // served when this process leads again
        if (reconciling) {
            topologyPending = true; // right after the running round
            return;
        }
        startTopologyRound();
    }

    void startTopologyRound() {
        topologyPending = false;
        auto round = std::make_shared<Round>();
        round->topology = true;
        round->causes = std::exchange(topologyCauses, {});
        lastReconcileMs = clock(); // the interval's next round counts from this one
        if (round->causes.isEmpty())
            round->causes << QLatin1String(kCauseRedisRestart); // not reached: a signal was heard
        topologyRuns(round->causes.first().toLatin1()).inc();
        qCWarning(lcApp).noquote()
            << QStringLiteral("scheduler: reconciling every live sale after a topology change (%1)")
                   .arg(round->causes.join(QStringLiteral(", ")));
        reconciling = true;
        // The reconciler's own cluster client learns the new owners before its first command.
        if (auto *cluster = qobject_cast<RedisClusterClient *>(reconcile->redis))
            cluster->refreshSlotMap();
        QPointer<Scheduler> self(q);
        readLiveSales(clock(), [self, round](const Result<PgResult> &r) {
            if (!self || !self->d)
                return;
            Impl *d = self->d;
            if (!r) {
                d->warn(QStringLiteral("finding sales to reconcile after a topology change "
                                       "failed: %1")
                            .arg(r.error().message));
                ++round->failed;
                return d->endRound(round);
            }
            round->sales = ids(*r);
            round->total = int(round->sales.size());
            d->reconcileNext(round);
        });
    }

    // The lease was renewed on `server` ("address:port up since <start>"): another server than
    // last time means PostgreSQL failed over (pg_auto_failover promoted a standby, and the
    // multi-host connection found it) or restarted.
    void checkPgServer(const QByteArray &server) {
        if (topologyDelayMs <= 0 || server.isEmpty())
            return;
        if (!pgServer.isEmpty() && server != pgServer)
            topologySignal(kCausePgPrimary,
                           QStringLiteral("PostgreSQL server %1, was %2")
                               .arg(QString::fromUtf8(server), QString::fromUtf8(pgServer)));
        pgServer = server;
    }

    // Every kTopologyProbeMs while leading: INFO server on every Redis primary (the one node, or
    // each primary of the cluster's map, which is reloaded first so a promotion shows). A primary
    // at the same address with another run_id was restarted or replaced, and may have lost data.
    // A reconnect to the same server (same run_id) is no change. Runs beside the pass.
    void probeRedis() {
        if (topologyDelayMs <= 0 || !reconcile || probing
            || (lastProbe.isValid() && lastProbe.elapsed() < kTopologyProbeMs))
            return;
        probing = true;
        lastProbe.start();
        auto *cluster = qobject_cast<RedisClusterClient *>(&redis);
        if (cluster)
            cluster->refreshSlotMap(); // slotMapChanged() when a replica was promoted
        const QStringList nodes = cluster ? cluster->primaries() : QStringList{QString()};
        QPointer<Scheduler> self(q);
        redisOnEveryPrimary(redis, {"INFO", "server"},
                            [self, nodes](const QList<Result<RedisValue>> &replies) {
                                if (!self || !self->d)
                                    return;
                                self->d->probing = false;
                                if (replies.size() == nodes.size())
                                    self->d->compareRunIds(nodes, replies);
                            });
    }

    void compareRunIds(const QStringList &nodes, const QList<Result<RedisValue>> &replies) {
        QStringList restarted;
        for (qsizetype i = 0; i < nodes.size(); ++i) {
            const Result<RedisValue> &r = replies[i];
            if (!r || r->isError())
                continue; // down for now: its old run_id is kept, to compare when it is back
            const QByteArray runId = runIdOf(*r);
            if (runId.isEmpty())
                continue;
            const auto known = redisRunIds.constFind(nodes[i]);
            if (known != redisRunIds.cend() && *known != runId)
                restarted << (nodes[i].isEmpty() ? QStringLiteral("the Redis node") : nodes[i]);
            redisRunIds.insert(nodes[i], runId);
        }
        if (!restarted.isEmpty() && leader)
            topologySignal(kCauseRedisRestart,
                           QStringLiteral("%1 restarted or replaced (another run_id)")
                               .arg(restarted.join(QStringLiteral(", "))));
    }
};

Scheduler::Scheduler(const Config &config, PgConnection &pg, RedisCommands &redis, QString holder,
                     Clock clock, QObject *parent)
    : QObject(parent)
    , d(new Impl(this, config, pg, redis, std::move(holder), std::move(clock))) {
    d->timer.setInterval(std::max(config.schedulerTickMs, 1));
    connect(&d->timer, &QTimer::timeout, this, [this] { tick(); });
    d->topologyTimer.setSingleShot(true);
    connect(&d->topologyTimer, &QTimer::timeout, this, [this] { d->onTopologyDelay(); });
    if (d->topologyDelayMs > 0) {
        for (const char *cause : kTopologyCauses) {
            topologyRuns(cause); // listed at 0 from the start
            topologySignals(cause);
        }
        if (auto *cluster = qobject_cast<RedisClusterClient *>(&redis))
            connect(cluster, &RedisClusterClient::slotMapChanged, this, [this, cluster] {
                d->topologySignal(kCauseRedisSlots,
                                  QStringLiteral("Redis Cluster slot map changed, primaries %1")
                                      .arg(cluster->primaries().join(QLatin1Char(' '))));
            });
    }
    if (d->reconcile) {
        d->reconcile->pg->start();
        d->reconcile->redis->start();
    }
    if (d->seal) {
        d->seal->pg->start();
        d->seal->redis->start();
    }
}

Scheduler::~Scheduler() {
    if (!d->stopped)
        stop(); // best effort: the lease row goes if the event loop runs on
    // Callbacks that run while Impl is torn down (a connection answering its queue) see d null.
    Impl *dying = d;
    d = nullptr;
    delete dying;
}

void Scheduler::start() {
    d->stopped = false;
    d->timer.start();
    tick();
}

void Scheduler::stop(std::function<void()> released) {
    d->timer.stop();
    d->stopped = true;
    ++d->epoch;
    d->setLeader(false);
    // Always delete: a renewal still in flight may have granted the lease after all.
    const QString holder = d->holder;
    d->pg.query("DELETE FROM leases WHERE name = 'scheduler' AND holder = $1", {holder.toUtf8()},
                [holder, released = std::move(released)](const Result<PgResult> &r) {
                    if (!r)
                        qCWarning(lcApp).noquote()
                            << "scheduler" << holder
                            << "could not release its lease (it lapses by itself):"
                            << r.error().message;
                    else if (r->affected > 0)
                        qCInfo(lcApp).noquote() << "scheduler" << holder << "released the lease";
                    if (released)
                        released();
                });
    if (d->running)
        d->finishPass();
}

void Scheduler::tick(std::function<void()> done) {
    if (done)
        d->waiters.push_back(std::move(done));
    if (d->stopped) {
        if (!d->running)
            d->finishPass();
        return;
    }
    if (d->running)
        return;
    d->beginPass();
}

bool Scheduler::isLeader() const {
    return d->leader;
}

QString Scheduler::holder() const {
    return d->holder;
}

QString Scheduler::actor() const {
    return d->actor();
}

} // namespace flashsale
