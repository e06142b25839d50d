#include "livestats.h"

#include "booking/salekeys.h"
#include "booking/salephase.h"
#include "core/logging.h"
#include "metrics/metrics.h"
#include "pg/pgconnection.h"
#include "redis/redisclient.h"
#include "stats/saleprobe.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QEventLoop>
#include <QHostInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QPointer>
#include <QThread>

#include <atomic>
#include <cmath>
#include <memory>

#include <unistd.h>

namespace flashsale {

namespace livestats {

int bucketOf(double seconds) {
    const double ratio = seconds / 50e-6;
    if (ratio <= 1)
        return 0;
    const int b = int(std::ceil(std::log(ratio) / std::log(1.25)));
    return qBound(0, b, kBuckets - 1);
}

double bucketUpperMs(int bucket) {
    return 0.05 * std::pow(1.25, bucket);
}

QByteArray secondKey(qint64 saleId, qint64 unixSecond) {
    return SaleKeys(saleId).stats(unixSecond);
}

QByteArray processesKey() {
    return QByteArrayLiteral("fs:procs");
}

} // namespace livestats

// ---- StatsRecorder ----------------------------------------------------------------------------

StatsRecorder::StatsRecorder(RedisCommands &redis, int flushMs, QObject *parent)
    : QObject(parent)
    , m_redis(redis) {
    connect(&m_timer, &QTimer::timeout, this, &StatsRecorder::flush);
    m_timer.start(flushMs);
}

void StatsRecorder::record(qint64 saleId, const char *outcome, double seconds) {
    const qint64 second = QDateTime::currentSecsSinceEpoch();
    m_decided.insert(saleId, second);
    Second &s = m_pending[qMakePair(saleId, second)];
    ++s.outcomes[QByteArray::fromRawData(outcome, qstrlen(outcome))];
    ++s.latency[livestats::bucketOf(seconds)];
}

void StatsRecorder::recordUndecided(qint64 saleId, const char *outcome, double seconds) {
    const qint64 second = QDateTime::currentSecsSinceEpoch();
    const auto it = m_decided.constFind(saleId);
    if (it == m_decided.constEnd() || second - it.value() > livestats::kKeepSeconds)
        return;
    Second &s = m_pending[qMakePair(saleId, second)];
    ++s.outcomes[QByteArray::fromRawData(outcome, qstrlen(outcome))];
    ++s.latency[livestats::bucketOf(seconds)];
}

void StatsRecorder::flush() {
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    m_decided.removeIf(
        [now](const auto &it) { return now - it.value() > livestats::kKeepSeconds; });
    if (m_pending.isEmpty())
        return;
    const auto pending = std::exchange(m_pending, {});
    for (auto it = pending.constBegin(); it != pending.constEnd(); ++it) {
        const QByteArray key = livestats::secondKey(it.key().first, it.key().second);
        // Counts lost to a Redis hiccup only make the live rates briefly low; no retry.
        auto ignore = [](const Result<RedisValue> &) {};
        for (auto o = it->outcomes.constBegin(); o != it->outcomes.constEnd(); ++o)
            m_redis.command({"HINCRBY", key, "o:" + o.key(), QByteArray::number(o.value())},
                            ignore);
        for (int b = 0; b < livestats::kBuckets; ++b)
            if (it->latency[b] > 0)
                m_redis.command({"HINCRBY", key, "l:" + QByteArray::number(b),
                                 QByteArray::number(it->latency[b])},
                                ignore);
        m_redis.command({"EXPIRE", key, QByteArray::number(livestats::kKeepSeconds)}, ignore);
    }
}

// ---- LoopLagProbe -----------------------------------------------------------------------------

namespace {
std::atomic<qint64> g_maxLagUs{0};
constexpr int kProbeMs = 100;
} // namespace

// flashsale_event_loop_lag_seconds{thread}: the thread is the QThread's objectName (api-0,
// metrics, ...); the main thread, which has none, is "main".
static Histogram &lagHistogram() {
    const QThread *t = QThread::currentThread();
    QString name = t->objectName();
    if (name.isEmpty())
        name = QCoreApplication::instance() && t == QCoreApplication::instance()->thread()
                   ? QStringLiteral("main")
                   : QStringLiteral("other");
    return Metrics::instance().histogram(
        "flashsale_event_loop_lag_seconds",
        "How late the thread's event loop ran a periodic 100 ms timer.",
        "thread=\"" + labelValue(name.toUtf8()) + '"',
        {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0});
}

LoopLagProbe::LoopLagProbe(QObject *parent)
    : QObject(parent)
    , m_histogram(lagHistogram()) {
    m_timer.setTimerType(Qt::PreciseTimer);
    m_clock.start();
    m_expectedNs = m_clock.nsecsElapsed() + qint64(kProbeMs) * 1000000;
    connect(&m_timer, &QTimer::timeout, this, [this] {
        const qint64 now = m_clock.nsecsElapsed();
        const qint64 lagUs = qMax<qint64>(0, (now - m_expectedNs) / 1000);
        qint64 seen = g_maxLagUs.load();
        while (lagUs > seen && !g_maxLagUs.compare_exchange_weak(seen, lagUs)) {
        }
        m_histogram.observe(double(lagUs) / 1e6);
        m_expectedNs = now + qint64(kProbeMs) * 1000000;
    });
    m_timer.start(kProbeMs);
}

double LoopLagProbe::takeMaxMs() {
    return double(g_maxLagUs.exchange(0)) / 1000.0;
}

// ---- Heartbeat --------------------------------------------------------------------------------

Heartbeat::Heartbeat(RedisCommands &redis, QStringList roles, int intervalMs, QObject *parent)
    : QObject(parent)
    , m_redis(redis)
    , m_roles(std::move(roles))
    , m_id(QStringLiteral("%1-%2").arg(QHostInfo::localHostName()).arg(::getpid()))
    , m_startedMs(QDateTime::currentMSecsSinceEpoch()) {
    connect(&m_timer, &QTimer::timeout, this, &Heartbeat::beat);
    m_timer.start(intervalMs);
    connect(&m_redis, &RedisCommands::connected, this, &Heartbeat::beat);
}

void Heartbeat::addConsumer(const QString &group, std::function<qint64()> lag) {
    m_consumers.append(qMakePair(group, std::move(lag)));
}

void Heartbeat::beat() {
    QJsonObject consumers;
    for (const auto &c : std::as_const(m_consumers))
        consumers.insert(c.first, double(c.second()));
    const QJsonObject o{{"id", m_id},
                        {"host", QHostInfo::localHostName()},
                        {"pid", qint64(::getpid())},
                        {"roles", QJsonArray::fromStringList(m_roles)},
                        {"started_ms", double(m_startedMs)},
                        {"seen_ms", double(QDateTime::currentMSecsSinceEpoch())},
                        {"loop_lag_ms", LoopLagProbe::takeMaxMs()},
                        {"consumers", consumers}};
    m_redis.command({"HSET", livestats::processesKey(), m_id.toUtf8(),
                     QJsonDocument(o).toJson(QJsonDocument::Compact)},
                    [](const Result<RedisValue> &) {});
}

bool Heartbeat::deregister(int timeoutMs) {
    m_timer.stop();
    disconnect(&m_redis, &RedisCommands::connected, this, &Heartbeat::beat);
    QEventLoop loop;
    auto removed = std::make_shared<std::optional<bool>>();
    // Sent after any HSET already queued on this connection, so no late beat re-adds the entry.
    m_redis.command({"HDEL", livestats::processesKey(), m_id.toUtf8()},
                    [removed, waiting = QPointer<QEventLoop>(&loop)](const Result<RedisValue> &r) {
                        *removed = r.has_value() && !r->isError();
                        if (waiting)
                            waiting->quit();
                    });
    if (!removed->has_value()) {
        QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
        loop.exec();
    }
    return removed->value_or(false);
}

// ---- StatsCollector ---------------------------------------------------------------------------

StatsCollector::StatsCollector(RedisCommands &redis, PgConnection &pg)
    : m_redis(redis)
    , m_pg(pg)
    , m_probe(redis)
    , m_conservation(redis, pg) {}

namespace {

constexpr qint64 kRateWindowS = 3;
constexpr qint64 kLatencyWindowS = 10;
constexpr qint64 kProcessUpMs = 3000;
constexpr qint64 kProcessForgetMs = 600000;

struct Snapshot {
    qint64 saleId = 0;
    qint64 nowMs = 0;
    std::optional<qint64> remaining;
    QByteArray state;
    qint64 startsMs = 0, endsMs = 0;
    QHash<QByteArray, qint64> outcomes; // rate window
    std::array<qint64, livestats::kBuckets> latency{};
    qint64 streamLag = 0, streamPending = 0, dead = 0;
    QJsonArray processes;
    QJsonObject consumers;
    std::optional<PgResult> pg;
    std::optional<ConservationTerms> conservation;
    std::optional<Error> error;
    int left = 0;
};

double percentile(const std::array<qint64, livestats::kBuckets> &h, qint64 total, double q) {
    if (total == 0)
        return 0;
    const qint64 rank = qMax<qint64>(1, qint64(std::ceil(q * double(total))));
    qint64 seen = 0;
    for (int b = 0; b < livestats::kBuckets; ++b) {
        seen += h[b];
        if (seen >= rank)
            return livestats::bucketUpperMs(b);
    }
    return livestats::bucketUpperMs(livestats::kBuckets - 1);
}

QJsonObject render(const Snapshot &s) {
    QJsonObject o{{"sale_id", s.saleId}, {"at_ms", double(s.nowMs)}};
    const PgResult &pg = *s.pg;
    const auto &row = pg.rows.value(0);
    QString phase = salePhase(QString::fromUtf8(s.state.isEmpty() ? "active" : s.state),
                              !s.state.isEmpty(), s.nowMs, s.startsMs, s.endsMs);
    // Not in Redis and past its end in PostgreSQL: an ended sale whose keys were retired after
    // --sale-retention-seconds, not one still to be warmed.
    const qint64 pgEndsMs = row.value(11).toLongLong();
    if (s.state.isEmpty() && pgEndsMs > 0 && s.nowMs >= pgEndsMs)
        phase = QStringLiteral("closed");
    o.insert("phase", phase);
    o.insert("remaining", s.remaining ? QJsonValue(double(*s.remaining)) : QJsonValue());

    auto col = [&](int i) { return double(row.value(i).toLongLong()); };
    o.insert("orders",
             QJsonObject{
                 {"held", col(0)}, {"pending", col(2)}, {"paid", col(4)}, {"cancelled", col(6)}});
    o.insert("units",
             QJsonObject{
                 {"held", col(1)}, {"pending", col(3)}, {"paid", col(5)}, {"cancelled", col(7)}});
    o.insert("stock", col(8));

    QJsonObject rejected;
    double accepted = 0;
    for (auto it = s.outcomes.constBegin(); it != s.outcomes.constEnd(); ++it) {
        const double rate = double(it.value()) / double(kRateWindowS);
        if (it.key() == "accepted")
            accepted = rate;
        else
            rejected.insert(QString::fromUtf8(it.key()), rate);
    }
    o.insert("requests", QJsonObject{{"window_s", double(kRateWindowS)},
                                     {"accepted_per_s", accepted},
                                     {"rejected_per_s", rejected}});
    qint64 total = 0;
    for (qint64 n : s.latency)
        total += n;
    o.insert("latency_ms", QJsonObject{{"window_s", double(kLatencyWindowS)},
                                       {"count", double(total)},
                                       {"p50", percentile(s.latency, total, 0.50)},
                                       {"p95", percentile(s.latency, total, 0.95)},
                                       {"p99", percentile(s.latency, total, 0.99)}});
    o.insert("lag", QJsonObject{{"stream", double(s.streamLag)},
                                {"stream_pending", double(s.streamPending)},
                                {"dead_letters", double(s.dead)},
                                {"outbox", col(9)},
                                {"outbox_age_s", row.value(10).toDouble()},
                                {"consumers", s.consumers}});
    o.insert("processes", s.processes);
    if (s.conservation)
        o.insert("conservation", s.conservation->toJson());
    return o;
}

} // namespace

void StatsCollector::collect(qint64 saleId, std::function<void(const Result<QJsonObject> &)> done) {
    auto s = std::make_shared<Snapshot>();
    s->saleId = saleId;
    s->nowMs = QDateTime::currentMSecsSinceEpoch();
    const qint64 nowS = s->nowMs / 1000;
    const SaleKeys k(saleId);
    auto finish = [s, done = std::move(done)] {
        if (--s->left > 0)
            return;
        if (s->error)
            done(std::unexpected(*s->error));
        else
            done(render(*s));
    };
    auto redisFailed = [s](const Result<RedisValue> &r) {
        if (!r) {
            s->error = r.error();
            return true;
        }
        return false;
    };
    s->left = 5 + int(kLatencyWindowS) + 1;

    // The conservation line: its own PostgreSQL read, then its Redis read (conservation.h).
    m_conservation.read({saleId}, [s, finish](const Result<QList<ConservationTerms>> &r) {
        if (!r)
            s->error = r.error();
        else if (!r->isEmpty())
            s->conservation = r->first();
        finish();
    });

    m_pg.query(R"(
SELECT count(*) FILTER (WHERE status = 'pending' AND payment_started_at IS NULL),
       coalesce(sum(quantity) FILTER (WHERE status = 'pending' AND payment_started_at IS NULL), 0),
       count(*) FILTER (WHERE status = 'pending' AND payment_started_at IS NOT NULL),
       coalesce(sum(quantity) FILTER (WHERE status = 'pending' AND payment_started_at IS NOT NULL), 0),
       count(*) FILTER (WHERE status = 'paid'),
       coalesce(sum(quantity) FILTER (WHERE status = 'paid'), 0),
       count(*) FILTER (WHERE status = 'cancelled'),
       coalesce(sum(quantity) FILTER (WHERE status = 'cancelled'), 0),
       (SELECT coalesce(sum(stock), 0) FROM inventory WHERE sale_id = $1),
       (SELECT count(*) FROM outbox WHERE published_at IS NULL),
       (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)
        FROM outbox WHERE published_at IS NULL),
       (SELECT (extract(epoch FROM ends_at) * 1000)::bigint FROM sales WHERE id = $1)
FROM orders WHERE sale_id = $1)",
               {QByteArray::number(saleId)}, [s, finish](const Result<PgResult> &r) {
                   if (r)
                       s->pg = *r;
                   else
                       s->error = r.error();
                   finish();
               });
    m_redis.command({"HMGET", k.meta(), "state", "starts_ms", "ends_ms"},
                    [s, finish, redisFailed](const Result<RedisValue> &r) {
                        if (!redisFailed(r) && r->isArray() && r->elements.size() == 3
                            && !r->elements[0].isNil()) {
                            s->state = r->elements[0].bytes();
                            s->startsMs = r->elements[1].toInt();
                            s->endsMs = r->elements[2].toInt();
                        }
                        finish();
                    });
    // Stock, stream and dead letters as /metrics reads them. A sale without a stock hash has no
    // remaining (null), and a stream without the group no lag (0).
    m_probe.read(saleId, [s, finish](const SaleProbe::Reading &r) {
        if (r.stockError)
            s->error = *r.stockError;
        if (r.stockRead && r.items > 0)
            s->remaining = r.remaining;
        s->streamPending = r.pending.value_or(0);
        s->streamLag = r.lag.value_or(0);
        s->dead = r.deadLetters.value_or(0);
        finish();
    });
    m_redis.command({"HGETALL", livestats::processesKey()}, [this, s, finish, redisFailed](
                                                                const Result<RedisValue> &r) {
        if (!redisFailed(r)) {
            for (const auto &[id, heartbeat] : r->pairs()) {
                const QJsonObject p = QJsonDocument::fromJson(heartbeat).object();
                const qint64 age = s->nowMs - qint64(p.value("seen_ms").toDouble());
                if (age > kProcessForgetMs) {
                    m_redis.command({"HDEL", livestats::processesKey(), id},
                                    [](const Result<RedisValue> &) {});
                    continue;
                }
                const bool up = age < kProcessUpMs;
                s->processes.append(
                    QJsonObject{{"id", p.value("id")},
                                {"host", p.value("host")},
                                {"up_ms", s->nowMs - qint64(p.value("started_ms").toDouble())},
                                {"roles", p.value("roles")},
                                {"up", up},
                                {"seen_ms_ago", double(age)},
                                {"loop_lag_ms", p.value("loop_lag_ms")}});
                if (!up)
                    continue;
                const QJsonObject c = p.value("consumers").toObject();
                for (auto it = c.constBegin(); it != c.constEnd(); ++it)
                    s->consumers.insert(it.key(), s->consumers.value(it.key()).toDouble()
                                                      + it.value().toDouble());
            }
        }
        finish();
    });
    for (qint64 sec = nowS - kLatencyWindowS; sec <= nowS; ++sec) {
        const bool inRateWindow = sec >= nowS - kRateWindowS && sec < nowS;
        m_redis.command({"HGETALL", livestats::secondKey(saleId, sec)},
                        [s, finish, inRateWindow](const Result<RedisValue> &r) {
                            if (r) {
                                for (const auto &[f, count] : r->pairs()) {
                                    const qint64 n = count.toLongLong();
                                    if (f.startsWith("l:")) {
                                        const int b = f.mid(2).toInt();
                                        if (b >= 0 && b < livestats::kBuckets)
                                            s->latency[b] += n;
                                    } else if (f.startsWith("o:") && inRateWindow) {
                                        s->outcomes[f.mid(2)] += n;
                                    }
                                }
                            }
                            finish();
                        });
    }
}

} // namespace flashsale
