#include "bookingservice.h"

#include "booking/reservationid.h"
#include "booking/salekeys.h"
#include "booking/stockbacknotices.h"
#include "core/logging.h"
#include "core/timeformat.h"
#include "metrics/metrics.h"
#include "redis/redisclient.h"

#include <QDateTime>
#include <QJsonArray>

namespace flashsale {

namespace {

// Error replies that only say "not now": Redis replaying its AOF or RDB after a restart
// (LOADING), busy with a long script (BUSY), a replica cut off from its primary (MASTERDOWN)
// or a cluster reshaping (TRYAGAIN, CLUSTERDOWN). The script did not run; the client may retry.
bool transientRedisError(const RedisValue &v) {
    if (!v.isError())
        return false;
    for (const char *prefix : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"}) {
        if (v.string.startsWith(prefix))
            return true;
    }
    return false;
}

// The key of the booking's Idempotency-Key record. A booking without one names the sale's fixed
// key for user "-" and key "-", which the scripts leave alone: Redis Cluster asks every key a
// script may touch to be declared, and in the sale's slot.
QByteArray idempotencyKey(const SaleKeys &k, const BookingRequest &req) {
    return req.idempotencyKey.isEmpty() ? k.idempotency("-", "-")
                                        : k.idempotency(req.userId, req.idempotencyKey);
}

// Unavailable (503, retryable) for a transient error reply, Protocol (500) for anything else.
Error protocolError(const char *script, const RedisValue &v) {
    if (transientRedisError(v))
        return Error{ErrorCode::Unavailable,
                     QStringLiteral("%1: Redis answered %2")
                         .arg(QLatin1String(script), QString::fromUtf8(v.string.left(200)))};
    return Error{ErrorCode::Protocol,
                 QStringLiteral("%1: unexpected reply %2")
                     .arg(QLatin1String(script),
                          QString::fromUtf8(v.isError() ? v.string : v.at(0).bytes()))};
}

// The wall-clock time after which Redis must not run a booking sent now: the API answers 503 once
// `timeout` has passed without a reply, and a booking Redis ran after that would be an order the
// buyer was told they did not get. The margin covers a Redis clock up to 100 ms behind the API's
// (NTP keeps hosts within a few ms); a Redis further behind can still run a booking late.
qint64 bookingDeadlineMs(std::chrono::milliseconds timeout) {
    const qint64 t = timeout.count();
    return QDateTime::currentMSecsSinceEpoch() + t - std::min<qint64>(100, t / 4);
}

qint64 steadyMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// A waiting room's public settings, read only, from the sale's meta hash and the commitment in
// its wr:meta: what the buyer page's lobby shows (docs/WAITING_ROOM.md, "The buyer page").
// null for a sale without one.
QJsonValue publicWaitingRoom(const QHash<QByteArray, RedisValue> &meta,
                             const QByteArray &commitment) {
    if (meta.value("wr").toInt() != 1)
        return QJsonValue();
    const qint64 grace = meta.value("grace_ms").toInt();
    return QJsonObject{{"lobby_opens_at", isoTime(meta.value("lobby_ms").toInt())},
                       {"cohort_closes_at", isoTime(meta.value("starts_ms").toInt() + grace)},
                       {"grace_ms", grace},
                       {"admit_per_minute", meta.value("admit_pm").toInt()},
                       {"admission_ttl_seconds", meta.value("adm_ttl_ms").toInt() / 1000},
                       {"commitment", commitment.isEmpty()
                                          ? QJsonValue()
                                          : QJsonValue(QString::fromLatin1(commitment))}};
}

} // namespace

Error redisScriptError(const char *script, const RedisValue &reply) {
    return protocolError(script, reply);
}

BookingService::BookingService(RedisCommands &redis, std::chrono::milliseconds idempotencyTtl,
                               std::chrono::milliseconds soldOutCache)
    : m_redis(redis)
    , m_idempotencyTtlMs(idempotencyTtl.count())
    , m_book(RedisScript::load(QStringLiteral("book")))
    , m_bookSoldOut(RedisScript::load(QStringLiteral("book_sold_out")))
    , m_purchase(RedisScript::load(QStringLiteral("purchase")))
    , m_view(RedisScript::load(QStringLiteral("sale_view")))
    , m_soldOutCacheMs(soldOutCache.count()) {}

BookingService::~BookingService() = default;

void BookingService::catchUpNotices() {
    if (!m_notices)
        return;
    const quint64 heard = m_notices->sequence();
    if (heard == m_noticesSeen)
        return;
    m_noticesSeen = heard;
    m_soldOutUntil.removeIf([this](const auto &it) {
        return !m_notices->stillSoldOut(it.key().first, it.value().asOf);
    });
    m_saleSoldOut.removeIf(
        [this](const auto &it) { return !m_notices->stillSoldOut(it.key(), it.value().asOf); });
}

bool BookingService::knownSoldOut(qint64 saleId) {
    if (m_saleSoldOut.isEmpty())
        return false;
    catchUpNotices();
    const auto it = m_saleSoldOut.constFind(saleId);
    if (it == m_saleSoldOut.constEnd())
        return false;
    if (steadyMs() < it->untilMs)
        return true;
    m_saleSoldOut.erase(it);
    return false;
}

void BookingService::book(const BookingRequest &req,
                          std::function<void(const Result<BookingOutcome> &)> done) {
    const auto cacheKey = qMakePair(req.saleId, req.itemId);
    if (m_soldOutCacheMs > 0 && !m_soldOutUntil.isEmpty()) {
        catchUpNotices();
        const auto it = m_soldOutUntil.constFind(cacheKey);
        if (it != m_soldOutUntil.constEnd()) {
            if (steadyMs() < it->untilMs) {
                if (req.idempotencyKey.isEmpty()) {
                    BookingOutcome o;
                    o.kind = BookingOutcome::Kind::SoldOut;
                    done(o);
                } else {
                    bookRememberedSoldOut(req, std::move(done));
                }
                return;
            }
            m_soldOutUntil.erase(it);
        }
    }
    bookInRedis(req, std::move(done));
}

void BookingService::bookRememberedSoldOut(
    const BookingRequest &req, std::function<void(const Result<BookingOutcome> &)> done) {
    // An item remembered sold out, and a key that may be a retry's: lua/book_sold_out.lua answers
    // the key's replay or the item's 0 in a few commands, or says to decide in full.
    static Counter &short_ = Metrics::instance().counter(
        "flashsale_bookings_sold_out_short_total",
        "Bookings with an Idempotency-Key for an item remembered sold out, decided by "
        "book_sold_out.lua instead of book.lua.");
    short_.inc();
    const quint64 asOf = m_notices ? m_notices->sequence() : 0;
    const SaleKeys k(req.saleId);
    m_redis.eval(m_bookSoldOut, {k.meta(), k.stock(), k.price(), idempotencyKey(k, req)},
                 {req.itemId ? QByteArray::number(req.itemId) : QByteArray(""),
                  QByteArray::number(req.quantity)},
                 [this, req, asOf, done = std::move(done)](const Result<RedisValue> &r) mutable {
                     if (r && r->isArray() && r->at(0).bytes() == "book") {
                         bookInRedis(req, std::move(done));
                         return;
                     }
                     answer(qMakePair(req.saleId, req.itemId), asOf, "book_sold_out.lua", r,
                            std::move(done));
                 });
}

void BookingService::bookInRedis(const BookingRequest &req,
                                 std::function<void(const Result<BookingOutcome> &)> done) {
    // A sold-out answer to this call holds as of the notices heard before it was sent: a notice
    // heard after may be about a unit returned after Redis ran it.
    const quint64 asOf = m_notices ? m_notices->sequence() : 0;
    const SaleKeys k(req.saleId);
    const QByteArray rid = newReservationId(req.saleId);
    m_redis.eval(m_book,
                 {k.meta(), k.stock(), k.price(), k.users(), k.bucket(), idempotencyKey(k, req),
                  k.reservation(rid), k.stream(), k.reservations(), k.rateLimitIp(req.clientIp),
                  k.rateLimitUser(req.userId), k.powNonce(req.powNonce), k.waitingRoomBuyers(),
                  k.waitingRoomAdmitted(), k.waitingRoomDone(), k.waitingRoomMeta()},
                 {req.userId, req.itemId ? QByteArray::number(req.itemId) : QByteArray(""),
                  QByteArray::number(req.quantity), rid, req.idempotencyKey,
                  QByteArray::number(m_idempotencyTtlMs),
                  QByteArray::number(req.clientIp.isEmpty() ? 0 : m_limits.ipPerSecond),
                  QByteArray::number(m_limits.ipBurst), QByteArray::number(m_limits.userPerSecond),
                  QByteArray::number(m_limits.userBurst), QByteArray::number(req.powDifficulty),
                  QByteArray::number(req.powTtlMs),
                  req.arrivalUs > 0 ? QByteArray::number(req.arrivalUs) : QByteArray(""),
                  QByteArray::number(bookingDeadlineMs(m_redis.timeout())), req.admissionEntry},
                 [this, cacheKey = qMakePair(req.saleId, req.itemId), asOf,
                  done = std::move(done)](const Result<RedisValue> &r) mutable {
                     answer(cacheKey, asOf, "book.lua", r, std::move(done));
                 });
}

void BookingService::answer(QPair<qint64, qint64> cacheKey, quint64 asOf, const char *script,
                            const Result<RedisValue> &r,
                            std::function<void(const Result<BookingOutcome> &)> done) {
    if (!r) {
        done(std::unexpected(r.error()));
        return;
    }
    if (r->isArray() && r->at(0).bytes() == "late") {
        static Counter &late = Metrics::instance().counter(
            "flashsale_bookings_late_total",
            "Bookings Redis refused to run because they reached it after their "
            "deadline, when the API had already answered 503.");
        late.inc();
        done(std::unexpected(
            Error{ErrorCode::Timeout, QStringLiteral("Redis ran the booking %1 ms after its "
                                                     "deadline; nothing was booked")
                                          .arg(r->at(1).toInt())}));
        return;
    }
    const auto o = BookingOutcome::fromReply(*r);
    if (!o) {
        done(std::unexpected(protocolError(script, *r)));
        return;
    }
    if (o->kind == BookingOutcome::Kind::SoldOut && m_soldOutCacheMs > 0
        && (!m_notices || m_notices->sequence() == asOf
            || m_notices->stillSoldOut(cacheKey.first, asOf))) {
        const SoldOutMemory m{steadyMs() + m_soldOutCacheMs, asOf};
        m_soldOutUntil.insert(cacheKey, m);
        if (o->wholeSaleSoldOut)
            m_saleSoldOut.insert(cacheKey.first, m);
    }
    // An acceptance, a replay too (a retry after a 503 here must not get its 202 before the
    // replicas have the booking), waits for the replicas.
    if (m_waitReplicas > 0 && o->kind == BookingOutcome::Kind::Accepted)
        return awaitReplicas(cacheKey.first, *o, std::move(done));
    done(*o);
}

void BookingService::awaitReplicas(qint64 saleId, const BookingOutcome &accepted,
                                   std::function<void(const Result<BookingOutcome> &)> done) {
    // WAIT covers every write this connection sent before it, the booking's included. It holds
    // the connection's later replies behind it for up to the timeout: the price of the option.
    // On a cluster it goes to the node that took the booking (the sale's slot).
    m_redis.commandForKey(
        SaleKeys(saleId).meta(),
        {"WAIT", QByteArray::number(m_waitReplicas), QByteArray::number(m_waitTimeoutMs)},
        [this, accepted, done = std::move(done)](const Result<RedisValue> &r) {
            static Counter &short_ = Metrics::instance().counter(
                "flashsale_bookings_unreplicated_total",
                "Accepted bookings answered 503 because fewer Redis replicas than "
                "--redis-wait-replicas acknowledged them in time (the booking stands).");
            if (!r) {
                done(std::unexpected(r.error()));
                return;
            }
            const qint64 acked = r->isError() ? -1 : r->toInt(-1);
            if (acked >= m_waitReplicas) {
                done(accepted);
                return;
            }
            short_.inc();
            qCWarning(lcRedis).noquote()
                << "booking" << accepted.reservationId << "acknowledged by"
                << qMax<qint64>(0, acked) << "of" << m_waitReplicas << "Redis replicas within"
                << m_waitTimeoutMs << "ms: answered 503";
            done(std::unexpected(
                Error{ErrorCode::Unavailable,
                      QStringLiteral("The booking was taken but %1 of %2 Redis replicas "
                                     "acknowledged it within %3 ms; retry with the same "
                                     "Idempotency-Key.")
                          .arg(qMax<qint64>(0, acked))
                          .arg(m_waitReplicas)
                          .arg(m_waitTimeoutMs)}));
        });
}

void BookingService::confirm(const QByteArray &rid,
                             std::function<void(const Result<ConfirmOutcome> &)> done,
                             const QByteArray &owner) {
    const qint64 sale = reservationSale(rid);
    if (sale == 0) {
        done(ConfirmOutcome{});
        return;
    }
    const SaleKeys k(sale);
    m_redis.eval(m_purchase, {k.reservation(rid), k.stream()}, {rid, owner},
                 [rid, done = std::move(done)](const Result<RedisValue> &r) {
                     if (!r) {
                         done(std::unexpected(r.error()));
                         return;
                     }
                     const RedisValue &v = *r;
                     const QByteArray code = v.at(0).bytes();
                     ConfirmOutcome o;
                     o.reservationId = rid;
                     if (code == "confirmed") {
                         o.kind = ConfirmOutcome::Kind::Confirmed;
                         o.userId = v.at(1).bytes();
                         o.itemId = v.at(2).toInt();
                         o.quantity = int(v.at(3).toInt());
                         o.priceCents = v.at(4).toInt();
                         o.replayed = v.at(5).toInt() == 1;
                     } else if (code == "unknown") {
                         o.kind = ConfirmOutcome::Kind::Unknown;
                     } else if (code == "expired") {
                         o.kind = ConfirmOutcome::Kind::Expired;
                         o.expiredAtMs = v.at(1).toInt();
                     } else if (code == "ended") {
                         o.kind = ConfirmOutcome::Kind::Ended;
                         o.endedStatus = v.at(1).bytes();
                     } else if (code == "forbidden") {
                         o.kind = ConfirmOutcome::Kind::Forbidden;
                     } else {
                         done(std::unexpected(protocolError("purchase.lua", v)));
                         return;
                     }
                     done(o);
                 });
}

void BookingService::saleView(
    qint64 saleId, std::function<void(const Result<std::optional<QJsonObject>> &)> done) {
    const SaleKeys k(saleId);
    const QList<QByteArray> viewKeys{k.meta(), k.stock(), k.price(), k.items(),
                                     k.waitingRoomMeta()};
    m_redis.eval(
        m_view, viewKeys, {}, [saleId, done = std::move(done)](const Result<RedisValue> &r) {
            if (!r) {
                done(std::unexpected(r.error()));
                return;
            }
            const RedisValue &v = *r;
            if (!v.isArray()) {
                done(std::unexpected(protocolError("sale_view.lua", v)));
                return;
            }
            if (v.elements.isEmpty()) {
                done(std::optional<QJsonObject>());
                return;
            }
            const qint64 now = v.at(0).toInt();
            const auto meta = v.at(1).fields();
            const auto stock = v.at(2).fields();
            const auto price = v.at(3).fields();
            const auto names = v.at(4).fields();
            const qint64 starts = meta.value("starts_ms").toInt();
            const qint64 ends = meta.value("ends_ms").toInt();
            const QByteArray stored = meta.value("state").bytes();
            QString state;
            if (stored == "stopped" || now >= ends)
                state = QStringLiteral("closed");
            else if (stored == "paused")
                state = QStringLiteral("paused");
            else if (now < starts)
                state = QStringLiteral("scheduled");
            else
                state = QStringLiteral("open");
            QList<qint64> ids;
            for (auto it = stock.constBegin(); it != stock.constEnd(); ++it)
                ids << it.key().toLongLong();
            std::sort(ids.begin(), ids.end());
            QJsonArray items;
            qint64 remaining = 0;
            for (qint64 id : ids) {
                const QByteArray key = QByteArray::number(id);
                const qint64 left = stock.value(key).toInt();
                remaining += left;
                items.append(QJsonObject{{"id", id},
                                         {"name", QString::fromUtf8(names.value(key).bytes())},
                                         {"price_cents", price.value(key).toInt()},
                                         {"remaining", left}});
            }
            done(QJsonObject{{"id", saleId},
                             {"name", QString::fromUtf8(meta.value("name").bytes())},
                             {"state", state},
                             {"starts_at", isoTime(starts)},
                             {"ends_at", isoTime(ends)},
                             {"server_time", isoTime(now)},
                             {"per_user_limit", meta.value("limit").toInt()},
                             {"hold_seconds", meta.value("hold_ms").toInt() / 1000},
                             {"pow_difficulty", meta.value("pow").toInt()},
                             {"remaining", remaining},
                             {"waiting_room", publicWaitingRoom(meta, v.at(5).bytes())},
                             {"items", items}});
        });
}

void BookingService::saleOfItem(qint64 itemId, std::function<void(const Result<qint64> &)> done) {
    if (const qint64 sale = m_itemOwner.value(itemId)) {
        done(sale);
        return;
    }
    m_redis.command({"GET", SaleKeys::itemOwner(itemId)},
                    [this, itemId, done = std::move(done)](const Result<RedisValue> &r) {
                        if (!r) {
                            done(std::unexpected(r.error()));
                            return;
                        }
                        // An error reply (LOADING after a restart) is not "no such item": 503.
                        if (r->isError()) {
                            done(std::unexpected(protocolError("GET item owner", *r)));
                            return;
                        }
                        const qint64 sale = r->toInt(0);
                        if (sale > 0)
                            m_itemOwner.insert(itemId, sale);
                        done(sale);
                    });
}

} // namespace flashsale
