#include "reconciler.h"

#include "booking/salekeys.h"
#include "metrics/metrics.h"
#include "reconcile/analysis.h"
#include "reconcile/job.h"
#include "reconcile/repair.h"
#include "reconcile/runrecord.h"
#include "reconcile/snapshotreader.h"

#include <QDateTime>
#include <QLoggingCategory>
#include <QRandomGenerator>

namespace flashsale {

Q_LOGGING_CATEGORY(lcReconcile, "flashsale.reconcile", QtInfoMsg)

namespace {

using namespace reconcile;

constexpr int kLockMs = 120000; // a crashed repair's lock ends by itself after this

// The check's name in flashsale_reconcile_drift: the report's, except "conservation" (Redis's
// remaining stock against PostgreSQL's), which is "stock" there, the StockMismatch alert's input
// (and not to be confused with the live stats' conservation equation).
QByteArray metricCheck(const QString &check) {
    return check == QLatin1String("conservation") ? QByteArray("stock") : check.toUtf8();
}

// A run's end in the reconciliation metrics (docs/OPERATIONS.md): runs by result, the time of
// the last one, and per check the drift the run's final measurement found for the sale (0 when
// clean), so a sale that stops drifting goes back to 0. `final` is null for a failed run.
void recordRun(qint64 saleId, const Analysis *final) {
    auto &m = Metrics::instance();
    static Counter &clean = m.counter("flashsale_reconcile_runs_total",
                                      "Reconciliation runs by result: clean (no drift), drift "
                                      "(drift left at the end), failed (no result).",
                                      "result=\"clean\"");
    static Counter &drift = m.counter("flashsale_reconcile_runs_total", {}, "result=\"drift\"");
    static Counter &failed = m.counter("flashsale_reconcile_runs_total", {}, "result=\"failed\"");
    static Gauge &last = m.gauge("flashsale_reconcile_last_run_timestamp_seconds",
                                 "Unix time the last reconciliation run in this process ended.");
    last.set(QDateTime::currentSecsSinceEpoch());
    if (!final) {
        failed.inc();
        return;
    }
    (final->ok ? clean : drift).inc();
    // Per check: the larger of the summed drift and the per-item drifts added up (items can
    // cancel out in the sum; the per-item rows are capped, the sum is not).
    QMap<QByteArray, qint64> size;
    const QString summary = QStringLiteral("sale %1").arg(saleId);
    for (const QJsonValue &v : final->rows) {
        const QJsonObject row = v.toObject();
        const QByteArray check = metricCheck(row.value(QStringLiteral("check")).toString());
        const qint64 d = std::abs(row.value(QStringLiteral("drift")).toInteger());
        if (row.value(QStringLiteral("subject")).toString() == summary)
            size[check] = std::max(size.value(check), d);
        else
            size[check] += 0; // listed even when only item rows follow
    }
    QMap<QByteArray, qint64> items;
    for (const QJsonValue &v : final->rows) {
        const QJsonObject row = v.toObject();
        if (row.value(QStringLiteral("subject")).toString() != summary)
            items[metricCheck(row.value(QStringLiteral("check")).toString())] +=
                std::abs(row.value(QStringLiteral("drift")).toInteger());
    }
    const QByteArray sale = QByteArray::number(saleId);
    for (auto it = size.cbegin(); it != size.cend(); ++it)
        m.gauge("flashsale_reconcile_drift",
                "Size of the drift the latest reconciliation run found, per sale and check "
                "(0: clean).",
                "sale=\"" + sale + "\",check=\"" + labelValue(it.key()) + '"')
            .set(std::max(it.value(), items.value(it.key())));
}

// One run:
//
//   dry run   measure ───────────────────────────────────────────▶ store
//   repair    lock ─▶ measure ─▶ repair ─▶ measure again ─▶ store ─▶ audit ─▶ unlock
//
// where measure = readSnapshot() then analyse(). It ends by calling `done` once, unless the
// Reconciler was destroyed meanwhile, and releases the lock however it ends.
class ReconcileRun final : public Job<ReconcileRun, QJsonObject> {
public:
    ReconcileRun(PgConnection &pg, RedisCommands &redis, qint64 saleId, Reconciler::Options options,
                 Done done, std::weak_ptr<int> owner)
        : Job(pg, redis,
              [this, done = std::move(done)](const Result<QJsonObject> &r) { onEnd(r, done); })
        , m_sale(saleId)
        , m_keys(saleId)
        , m_owner(std::move(owner)) {
        m_record.saleId = saleId;
        m_record.options = std::move(options);
    }

    void start() {
        m_record.startedMs = QDateTime::currentMSecsSinceEpoch();
        if (m_record.options.repair)
            return lock();
        measure([self = shared_from_this()](const Snapshot &, const Analysis &a) {
            self->m_record.first = a;
            self->m_record.final = a;
            self->store();
        });
    }

private:
    bool alive() const { return !m_owner.expired() && connected(); }

    void onEnd(const Result<QJsonObject> &result, const Done &done) {
        recordRun(m_sale, result ? &m_record.final : nullptr);
        if (!result)
            qCWarning(lcReconcile).noquote()
                << "sale" << m_sale << "reconciliation failed:" << result.error().message;
        if (m_locked && m_redis) {
            static const RedisScript unlock = RedisScript::load(QStringLiteral("reconcile_unlock"));
            m_redis->eval(unlock, {m_keys.reconcileLock()}, {m_token},
                          [](const Result<RedisValue> &) {});
        }
        if (!m_owner.expired() && done)
            done(result);
    }

    // Repairs of one sale must not overlap: each applies deltas measured before it started.
    void lock() {
        if (!alive())
            return failGone();
        m_token = QByteArray::number(QRandomGenerator::global()->generate64(), 16);
        redis(
            {"SET", m_keys.reconcileLock(), m_token, "NX", "PX", QByteArray::number(kLockMs)},
            [self = shared_from_this()](const RedisValue &v) {
                if (v.isNil())
                    return self->fail(
                        ErrorCode::Conflict,
                        QStringLiteral("a repair of sale %1 is already running").arg(self->m_sale));
                self->m_locked = true;
                self->measure([self](const Snapshot &s, const Analysis &a) {
                    self->m_record.first = a;
                    self->repairDrift(s);
                });
            });
    }

    void measure(std::function<void(const Snapshot &, const Analysis &)> next) {
        if (!alive())
            return failGone();
        readSnapshot(*m_pg, *m_redis, m_sale,
                     [self = shared_from_this(), next](const Result<Snapshot> &s) {
                         if (self->ended())
                             return;
                         if (!s)
                             return self->fail(s.error().code, s.error().message);
                         next(*s, analyse(self->m_sale, *s));
                     });
    }

    void repairDrift(const Snapshot &s) {
        if (!alive())
            return failGone();
        repair(*m_pg, *m_redis, m_sale, s, m_record.first,
               [self = shared_from_this()](const Result<QJsonArray> &r) {
                   if (self->ended())
                       return;
                   if (!r)
                       return self->fail(r.error().code, r.error().message);
                   self->m_record.repairs = *r;
                   self->measure([self](const Snapshot &, const Analysis &a) {
                       self->m_record.final = a;
                       self->store();
                   });
               });
    }

    void store() {
        if (!alive())
            return failGone();
        m_record.finishedMs = QDateTime::currentMSecsSinceEpoch();
        storeRun(*m_pg, m_record, [self = shared_from_this()](const Result<QJsonObject> &report) {
            if (self->ended())
                return;
            if (!report)
                return self->fail(report.error().code, report.error().message);
            const qint64 runId = report->value(QStringLiteral("run_id")).toInteger();
            const bool repair = self->m_record.options.repair;
            qCInfo(lcReconcile).noquote()
                << QStringLiteral("sale %1 reconciled (run %2, %3): %4")
                       .arg(self->m_sale)
                       .arg(runId)
                       .arg(repair ? "repair" : "dry run",
                            self->m_record.final.ok ? "no drift" : "drift left");
            if (!repair)
                return self->finish(*report);
            self->audit(runId, *report);
        });
    }

    void audit(qint64 runId, const QJsonObject &report) {
        if (!alive())
            return failGone();
        auditRepair(
            *m_pg, m_record, runId, [self = shared_from_this(), report](const Result<void> &r) {
                if (self->ended())
                    return;
                if (!r)
                    return self->fail(r.error().code, QStringLiteral("run stored, audit record not "
                                                                     "written: ")
                                                          + r.error().message);
                self->finish(report);
            });
    }

    const qint64 m_sale;
    const SaleKeys m_keys;
    const std::weak_ptr<int> m_owner; // expires with the Reconciler
    RunRecord m_record;
    QByteArray m_token; // this run's value of the lock key
    bool m_locked = false;
};

} // namespace

struct Reconciler::Impl {
    PgConnection &pg;
    RedisCommands &redis;
    // Runs hold it weakly: once the Reconciler is gone, they stop and answer no one.
    std::shared_ptr<int> owner = std::make_shared<int>(0);
};

Reconciler::Reconciler(PgConnection &pg, RedisCommands &redis)
    : d(std::make_unique<Impl>(Impl{pg, redis})) {}

Reconciler::~Reconciler() = default;

void Reconciler::run(qint64 saleId, const Options &options,
                     std::function<void(const Result<QJsonObject> &)> done) {
    if (saleId <= 0) {
        done(fail(ErrorCode::Invalid, QStringLiteral("sale id must be positive")));
        return;
    }
    std::make_shared<ReconcileRun>(d->pg, d->redis, saleId, options, std::move(done), d->owner)
        ->start();
}

} // namespace flashsale
