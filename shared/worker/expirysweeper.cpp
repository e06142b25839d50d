#include "expirysweeper.h"

#include "booking/salekeys.h"
#include "core/logging.h"
#include "metrics/metrics.h"
#include "pg/pgarray.h"
#include "pg/pgconnection.h"

#include <chrono>

namespace flashsale {

Q_DECLARE_LOGGING_CATEGORY(lcWorker)

namespace {

Counter &expiredCounter() {
    static Counter &c =
        Metrics::instance().counter("flashsale_orders_expired_total",
                                    "Holds cancelled because they were not confirmed in time.");
    return c;
}

} // namespace

ExpirySweeper::ExpirySweeper(RedisTarget redis, const QString &pgUrl, int intervalMs, int batch,
                             QObject *parent)
    : QObject(parent)
    , m_redis(createRedis(redis, std::chrono::milliseconds(2000)))
    , m_pg(std::make_unique<PgConnection>(pgUrl))
    , m_intervalMs(intervalMs)
    , m_batch(batch) {
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, &ExpirySweeper::sweep);
}

ExpirySweeper::~ExpirySweeper() = default;

void ExpirySweeper::start() {
    expiredCounter();
    m_redis->setMetricsName("sweeper");
    m_pg->setMetricsPool("sweeper");
    m_redis->start();
    m_pg->start();
    m_timer.start(m_intervalMs);
}

void ExpirySweeper::scheduleNext() {
    m_busy = false;
    m_timer.start(m_intervalMs);
}

void ExpirySweeper::sweep() {
    if (m_busy)
        return;
    m_busy = true;
    static const QByteArray sql = R"(
SELECT id, reservation_id, sale_id, item_id, user_id, quantity
FROM orders
WHERE status = 'pending' AND payment_started_at IS NULL AND expires_at <= now()
ORDER BY expires_at
LIMIT $1)";
    m_pg->query(sql, {QByteArray::number(m_batch)}, [this](const Result<PgResult> &r) {
        if (!r) {
            qCWarning(lcWorker).noquote()
                << "expiry: cannot read expired holds:" << r.error().message;
            scheduleNext();
            return;
        }
        if (r->rows.isEmpty()) {
            scheduleNext();
            return;
        }
        static const RedisScript release = RedisScript::load(QStringLiteral("release"));
        auto toCancel = std::make_shared<QList<QByteArray>>();
        auto lost = std::make_shared<QList<QByteArray>>();
        auto left = std::make_shared<int>(int(r->rows.size()));
        for (const QList<QByteArray> &row : r->rows) {
            const QByteArray orderId = row[0];
            const SaleKeys k(row[2].toLongLong());
            m_redis->eval(
                release, {k.stock(), k.users(), k.released(), k.reservation(row[1]), k.meta()},
                {row[1], row[3], row[4], row[5], "expire"},
                [this, orderId, toCancel, lost, left](const Result<RedisValue> &v) {
                    const QByteArray outcome = v ? v->at(0).bytes() : QByteArray();
                    // 'in_flight': the buyer confirmed in Redis; the worker will mark
                    // payment as started, so the order is left alone.
                    // 'retired': the sale's keys are gone after its retention, so
                    // PostgreSQL alone records the cancellation.
                    // 'lost' (issue 20): Redis has no hold for it (a data loss); nothing would
                    // ever end it otherwise, so it ends now, as hold-lost.
                    if (outcome == "released" || outcome == "already" || outcome == "retired")
                        toCancel->append(orderId);
                    else if (outcome == "lost")
                        lost->append(orderId);
                    if (--*left > 0)
                        return;
                    if (toCancel->isEmpty() && lost->isEmpty())
                        scheduleNext();
                    else
                        cancel(*toCancel, *lost);
                });
        }
    });
}

void ExpirySweeper::cancel(const QList<QByteArray> &expired, const QList<QByteArray> &lost) {
    // The cancel path of sql/013 (status, inventory.sold, history, the order.cancelled event).
    static const QByteArray sql = "SELECT count(*) FROM flashsale_cancel_pending($1::bigint[], $2)";
    m_pg->query(sql, {pgArray(expired), "expired"}, [this, lost](const Result<PgResult> &r) {
        if (!r) {
            qCWarning(lcWorker).noquote() << "expiry: cannot cancel:" << r.error().message;
        } else {
            const int n = r->rows.value(0).value(0).toInt();
            expiredCounter().inc(quint64(n));
            if (n)
                qCInfo(lcWorker) << "expired" << n << "holds";
        }
        if (lost.isEmpty())
            return scheduleNext();
        m_pg->query(sql, {pgArray(lost), "hold-lost"}, [this](const Result<PgResult> &r) {
            if (!r)
                qCWarning(lcWorker).noquote() << "expiry: cannot cancel:" << r.error().message;
            else if (const int n = r->rows.value(0).value(0).toInt())
                qCWarning(lcWorker)
                    << "ended" << n << "orders whose hold Redis lost (cancelled as hold-lost)";
            scheduleNext();
        });
    });
}

} // namespace flashsale
