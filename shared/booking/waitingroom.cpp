#include "waitingroom.h"

#include "booking/salekeys.h"
#include "metrics/metrics.h"
#include "redis/redisclient.h"

#include <cmath>

namespace flashsale {

namespace {

// The entry fields of a 'joined', 'existing' or 'entry' reply, from index 1:
// entry, kind (c|f), pos, joined_ms, flag, now, close_ms, commitment[, open[, rank,
// cohort_n]] (rank and cohort_n -1 until the seal shows them).
std::optional<QueueEntry> entryFromReply(const RedisValue &r, qint64 &now) {
    if (r.elements.size() < 9)
        return std::nullopt;
    QueueEntry e;
    e.entryId = r.at(1).bytes();
    const QByteArray kind = r.at(2).bytes();
    if (e.entryId.isEmpty() || (kind != "c" && kind != "f"))
        return std::nullopt;
    e.cohort = kind == "c";
    e.position = r.at(3).toInt();
    e.joinedMs = r.at(4).toInt();
    e.addressCap = r.at(5).bytes() == "a";
    now = r.at(6).toInt();
    e.closeMs = r.at(7).toInt();
    e.commitment = r.at(8).bytes();
    if (r.elements.size() > 9)
        e.saleOpen = r.at(9).toInt() == 1;
    if (r.elements.size() > 11) {
        e.rank = r.at(10).toInt(-1);
        e.cohortSize = r.at(11).toInt(-1);
    }
    if (r.elements.size() > 13) {
        e.admittedUntilMs = r.at(12).toInt();
        e.done = r.at(13).bytes();
    }
    if (r.elements.size() > 14) {
        e.line = QueueLine::fromReply(r, 14);
        if (!e.line)
            return std::nullopt;
    }
    return e;
}

} // namespace

std::optional<QueueLine> QueueLine::fromReply(const RedisValue &r, qsizetype from) {
    if (!r.isArray() || r.elements.size() < from + kFields)
        return std::nullopt;
    QueueLine l;
    l.sealed = r.at(from).toInt() == 1;
    l.cohortSize = r.at(from + 1).toInt(-1);
    l.cursor = r.at(from + 2).toInt();
    l.outstanding = r.at(from + 3).toInt();
    l.remaining = r.at(from + 4).toInt();
    l.admitted = r.at(from + 5).toInt();
    l.rateMarkMs = r.at(from + 6).toInt();
    l.rateMarkCount = r.at(from + 7).toInt();
    l.paused = r.at(from + 8).toInt() == 1;
    l.admitPerMinute = r.at(from + 9).toInt();
    return l;
}

std::optional<double> QueueLine::measuredPerMinute(qint64 nowMs) const {
    if (rateMarkMs <= 0 || nowMs - rateMarkMs < 1000)
        return std::nullopt;
    return double(admitted - rateMarkCount) * 60000.0 / double(nowMs - rateMarkMs);
}

std::optional<qint64> QueueLine::etaSeconds(qint64 rank, qint64 nowMs) const {
    const qint64 before = ahead(rank);
    if (paused || likelySoldOut(rank))
        return std::nullopt;
    if (before == 0)
        return 0;
    const double perMinute = measuredPerMinute(nowMs).value_or(double(admitPerMinute));
    if (perMinute <= 0)
        return std::nullopt;
    return qint64(std::ceil(double(before) * 60.0 / perMinute));
}

std::optional<QueueOutcome> QueueOutcome::fromReply(const RedisValue &r) {
    if (!r.isArray() || r.elements.isEmpty())
        return std::nullopt;
    using K = QueueOutcome::Kind;
    const QByteArray code = r.at(0).bytes();
    QueueOutcome o;
    if (code == "joined" || code == "existing" || code == "entry") {
        auto e = entryFromReply(r, o.nowMs);
        if (!e)
            return std::nullopt;
        o.kind = code == "joined" ? K::Joined : K::Existing;
        o.entry = *e;
        return o;
    }
    static const QHash<QByteArray, K> simple{{"unknown_sale", K::UnknownSale},
                                             {"no_waiting_room", K::NoWaitingRoom},
                                             {"closed", K::Closed},
                                             {"pow_replayed", K::PowReplayed},
                                             {"not_in_queue", K::NotInQueue}};
    if (const auto it = simple.find(code); it != simple.end()) {
        o.kind = *it;
        if (o.kind == K::NotInQueue)
            o.nowMs = r.at(1).toInt();
        return o;
    }
    if (code == "lobby_not_open" && r.elements.size() == 3) {
        o.kind = K::LobbyNotOpen;
        o.lobbyMs = r.at(1).toInt();
        o.nowMs = r.at(2).toInt();
        return o;
    }
    if (code == "rate_limited" && r.elements.size() == 3) {
        o.kind = K::RateLimited;
        o.scope = r.at(1).bytes();
        o.retryAfterMs = r.at(2).toInt();
        return o;
    }
    if ((code == "pow_required" || code == "pow_too_easy") && r.elements.size() == 2) {
        o.kind = code == "pow_required" ? K::PowRequired : K::PowTooEasy;
        o.difficulty = int(r.at(1).toInt());
        return o;
    }
    if (code == "queue_full" && r.elements.size() == 2) {
        o.kind = K::QueueFull;
        o.maxEntries = r.at(1).toInt();
        return o;
    }
    return std::nullopt;
}

std::optional<AdmitTick> AdmitTick::fromReply(const RedisValue &r) {
    if (!r.isArray() || r.elements.isEmpty())
        return std::nullopt;
    using K = AdmitTick::Kind;
    static const QHash<QByteArray, K> kinds{{"ok", K::Admitted},
                                            {"paused", K::Paused},
                                            {"sold_out", K::SoldOut},
                                            {"not_sealed", K::NotSealed},
                                            {"unknown_sale", K::UnknownSale},
                                            {"no_waiting_room", K::NoWaitingRoom},
                                            {"closed", K::Closed}};
    const auto it = kinds.find(r.at(0).bytes());
    if (it == kinds.end())
        return std::nullopt;
    AdmitTick t;
    t.kind = *it;
    if (t.kind == K::Admitted || t.kind == K::Paused || t.kind == K::SoldOut) {
        if (r.elements.size() != 7)
            return std::nullopt;
        t.admitted = r.at(1).toInt();
        t.expired = r.at(2).toInt();
        t.cursor = r.at(3).toInt();
        t.outstanding = r.at(4).toInt();
        t.remaining = r.at(5).toInt();
        t.soldOut = r.at(6).toInt() == 1;
    }
    return t;
}

WaitingRoomService::WaitingRoomService(RedisCommands &redis, int maxEntries)
    : m_redis(redis)
    , m_maxEntries(maxEntries)
    , m_join(RedisScript::load(QStringLiteral("queue_join")))
    , m_status(RedisScript::load(QStringLiteral("queue_status")))
    , m_admit(RedisScript::load(QStringLiteral("queue_admit"))) {}

void WaitingRoomService::join(const JoinRequest &req, const QByteArray &entryId,
                              std::function<void(const Result<QueueOutcome> &)> done) {
    const SaleKeys k(req.saleId);
    m_redis.eval(m_join,
                 {k.meta(), k.waitingRoomMeta(), k.waitingRoomBuyers(), k.waitingRoomCohort(),
                  k.waitingRoomFifo(), k.waitingRoomAddresses(), k.powNonce(req.powNonce),
                  k.waitingRoomRateIp(req.clientAddress), k.waitingRoomRateUser(req.userId)},
                 {req.userId, entryId, req.clientAddress, QByteArray::number(req.powDifficulty),
                  QByteArray::number(req.powTtlMs),
                  QByteArray::number(req.clientAddress.isEmpty() ? 0 : m_limits.ipPerSecond),
                  QByteArray::number(m_limits.ipBurst), QByteArray::number(m_limits.userPerSecond),
                  QByteArray::number(m_limits.userBurst), QByteArray::number(m_maxEntries)},
                 [done = std::move(done)](const Result<RedisValue> &r) {
                     if (!r)
                         return done(std::unexpected(r.error()));
                     const auto o = QueueOutcome::fromReply(*r);
                     if (!o)
                         return done(std::unexpected(redisScriptError("queue_join.lua", *r)));
                     done(*o);
                 });
}

void WaitingRoomService::status(qint64 saleId, const QByteArray &userId,
                                std::function<void(const Result<QueueOutcome> &)> done) {
    const SaleKeys k(saleId);
    m_redis.eval(m_status,
                 {k.meta(), k.waitingRoomMeta(), k.waitingRoomBuyers(), k.waitingRoomRanks(),
                  k.waitingRoomAdmitted(), k.waitingRoomDone(), k.stock()},
                 {userId}, [done = std::move(done)](const Result<RedisValue> &r) {
                     if (!r)
                         return done(std::unexpected(r.error()));
                     const auto o = QueueOutcome::fromReply(*r);
                     if (!o)
                         return done(std::unexpected(redisScriptError("queue_status.lua", *r)));
                     done(*o);
                 });
}

void WaitingRoomService::admitTick(qint64 saleId, double factor,
                                   std::function<void(const Result<AdmitTick> &)> done) {
    const SaleKeys k(saleId);
    m_redis.eval(
        m_admit,
        {k.meta(), k.waitingRoomMeta(), k.waitingRoomRanked(), k.waitingRoomFifo(),
         k.waitingRoomAdmitted(), k.waitingRoomDone(), k.stock()},
        {QByteArray::number(factor, 'g', 6), QByteArrayLiteral("1000")},
        [saleId, done = std::move(done)](const Result<RedisValue> &r) {
            if (!r)
                return done(std::unexpected(r.error()));
            const auto t = AdmitTick::fromReply(*r);
            if (!t)
                return done(std::unexpected(redisScriptError("queue_admit.lua", *r)));
            if (t->kind == AdmitTick::Kind::Admitted || t->kind == AdmitTick::Kind::Paused
                || t->kind == AdmitTick::Kind::SoldOut) {
                const QByteArray label = "sale=\"" + QByteArray::number(saleId) + '"';
                Metrics &m = Metrics::instance();
                m.counter("flashsale_waiting_room_admitted_total",
                          "Waiting-room entries admitted (may book), by sale.", label)
                    .inc(quint64(t->admitted));
                m.counter("flashsale_waiting_room_noshows_total",
                          "Waiting-room admissions that expired unused (their places freed), by "
                          "sale.",
                          label)
                    .inc(quint64(t->expired));
                m.gauge("flashsale_waiting_room_cursor",
                        "Waiting-room entries admitted since the seal, in line order, by sale.",
                        label)
                    .set(t->cursor);
            }
            done(*t);
        });
}

} // namespace flashsale
