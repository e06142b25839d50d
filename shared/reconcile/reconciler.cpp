#include "reconciler.h"

#include "booking/salekeys.h"
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

// One run:
//
//   dry run   measure ───────────────────────────────────────────▶ store
//   repair    lock ─▶ measure ─▶ repair ─▶ measure again ─▶ store ─▶ audit ─▶ unlock
//
// where measure = readSnapshot() then analyse(). It ends by calling `done` once, unless the
// Reconciler was destroyed meanwhile, and releases the lock however it ends.
class ReconcileRun final : public Job<ReconcileRun, QJsonObject> {
public:
    ReconcileRun(PgConnection &pg, RedisClient &redis, qint64 saleId, Reconciler::Options options,
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
    RedisClient &redis;
    // Runs hold it weakly: once the Reconciler is gone, they stop and answer no one.
    std::shared_ptr<int> owner = std::make_shared<int>(0);
};

Reconciler::Reconciler(PgConnection &pg, RedisClient &redis)
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
