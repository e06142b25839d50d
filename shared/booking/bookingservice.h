#pragma once

#include "booking/outcome.h"
#include "core/result.h"
#include "redis/redisscript.h"

#include <QByteArray>
#include <QHash>
#include <QJsonObject>

#include <chrono>
#include <functional>
#include <optional>

namespace flashsale {

class RedisCommands;
struct RedisValue;

// The error for a script reply that is not one of its outcomes: Unavailable (503, retryable)
// for a transient error reply (LOADING, BUSY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN: the script did
// not run), Protocol (500) for anything else. `script` names it in the message.
Error redisScriptError(const char *script, const RedisValue &reply);

struct BookingRequest {
    qint64 saleId = 0;
    QByteArray userId;
    qint64 itemId = 0; // 0: the sale's only item
    int quantity = 1;
    QByteArray idempotencyKey; // empty: none
    QByteArray clientIp;       // for the per-IP rate limit
    // A proof of work the API already checked (signature, user, sale, solution): its
    // difficulty (-1: none presented), nonce, and ms until its challenge expires.
    int powDifficulty = -1;
    QByteArray powNonce;
    qint64 powTtlMs = 0;
    qint64 arrivalUs = 0; // when the request reached the API (fairness measurement); 0 = unknown
    // The waiting-room entry an X-Admission-Token names, after the API checked its MAC, sale,
    // buyer and expiry (empty: none sent). book.lua spends it, in the booking's own call.
    QByteArray admissionEntry;
};

// Per-sale rate limits applied inside book.lua (0 = off).
struct RateLimits {
    int ipPerSecond = 0;
    int ipBurst = 20;
    int userPerSecond = 0;
    int userBurst = 5;
};

struct ConfirmOutcome {
    enum class Kind { Confirmed, Unknown, Expired, Ended, Forbidden };
    Kind kind = Kind::Unknown;
    QByteArray reservationId;
    QByteArray userId;
    qint64 itemId = 0;
    int quantity = 0;
    qint64 priceCents = 0;
    bool replayed = false;
    qint64 expiredAtMs = 0;
    QByteArray endedStatus;
};

// The booking hot path of one API thread: each decision is one EVALSHA on that thread's Redis
// connection. Owned by, and called on, the thread of the RedisCommands it is given.
// Every callback runs exactly once; an Err result means Redis was unreachable, slow or
// answered something unexpected (the caller answers 503).
class BookingService {
public:
    // `soldOutCache`: how long a sold-out answer is remembered per item (0 = never); requests
    // with an idempotency key always reach Redis, so a replay still gets its first answer.
    BookingService(RedisCommands &redis, std::chrono::milliseconds idempotencyTtl,
                   std::chrono::milliseconds soldOutCache);
    void setRateLimits(const RateLimits &limits) { m_limits = limits; }
    // After an accepted booking, WAIT until `replicas` Redis replicas acknowledge it, at most
    // `timeout`; fewer in time turns the answer into Unavailable (503), the booking standing
    // in Redis (0 replicas: off, the default).
    void setReplicaWait(int replicas, std::chrono::milliseconds timeout) {
        m_waitReplicas = replicas;
        m_waitTimeoutMs = timeout.count();
    }

    void book(const BookingRequest &request,
              std::function<void(const Result<BookingOutcome> &)> done);

    // Confirms the hold `reservationId` (a checkout code); see lua/purchase.lua.
    // `owner`, when not empty, must be the hold's user (Forbidden otherwise).
    void confirm(const QByteArray &reservationId,
                 std::function<void(const Result<ConfirmOutcome> &)> done,
                 const QByteArray &owner = {});

    // The public view of a sale, or nullopt when it is not known to Redis.
    void saleView(qint64 saleId,
                  std::function<void(const Result<std::optional<QJsonObject>> &)> done);

    // The sale an item belongs to (0 when unknown). Cached: an item never changes sale.
    void saleOfItem(qint64 itemId, std::function<void(const Result<qint64> &)> done);

private:
    void awaitReplicas(qint64 saleId, const BookingOutcome &accepted,
                       std::function<void(const Result<BookingOutcome> &)> done);

    RedisCommands &m_redis;
    qint64 m_idempotencyTtlMs;
    RedisScript m_book;
    RedisScript m_purchase;
    RedisScript m_view;
    QHash<qint64, qint64> m_itemOwner;
    RateLimits m_limits;
    int m_waitReplicas = 0;
    qint64 m_waitTimeoutMs = 0;
    qint64 m_soldOutCacheMs;
    // (sale id, item id as requested, 0 for the default item) -> steady-clock ms it expires at
    QHash<QPair<qint64, qint64>, qint64> m_soldOutUntil;
};

} // namespace flashsale
