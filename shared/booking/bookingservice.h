#pragma once

#include "booking/outcome.h"
#include "core/result.h"
#include "redis/redisscript.h"

#include <QByteArray>
#include <QHash>
#include <QJsonObject>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

namespace flashsale {

class RedisCommands;
class StockBackNotices;
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
    // `soldOutCache`: how long a sold-out answer is remembered per item (0 = never). A booking
    // of an item remembered sold out is answered from memory without an idempotency key; with
    // one it still reaches Redis (lua/book_sold_out.lua), so a replay gets its first answer.
    BookingService(RedisCommands &redis, std::chrono::milliseconds idempotencyTtl,
                   std::chrono::milliseconds soldOutCache);
    ~BookingService();
    void setRateLimits(const RateLimits &limits) { m_limits = limits; }
    // The process's stock-back notices (StockBackNotices, fed by its subscriber to
    // flashsale:stock-back): a sale remembered sold out is forgotten as soon as a notice says a
    // unit of it came back, within the --sold-out-cache-ms the memory lasts anyway. Without
    // (null, the default) only that time bounds it. Call before the first booking.
    void setStockBackNotices(std::shared_ptr<const StockBackNotices> notices) {
        m_notices = std::move(notices);
    }
    // Whether every item of `saleId` is remembered sold out (book.lua said so, less than
    // --sold-out-cache-ms ago, and no stock-back notice since): a booking without an
    // Idempotency-Key may then be answered sold-out without being read (ApiRoutes::book).
    bool knownSoldOut(qint64 saleId);
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
    // book.lua: the whole decision.
    void bookInRedis(const BookingRequest &req,
                     std::function<void(const Result<BookingOutcome> &)> done);
    // book_sold_out.lua, for a booking with an Idempotency-Key of an item remembered sold out:
    // the key's replay, the item's 0 again, or else bookInRedis.
    void bookRememberedSoldOut(const BookingRequest &req,
                               std::function<void(const Result<BookingOutcome> &)> done);
    // Turns either script's reply into the outcome, remembering a sold-out answer.
    void answer(QPair<qint64, qint64> cacheKey, quint64 asOf, const char *script,
                const Result<RedisValue> &r,
                std::function<void(const Result<BookingOutcome> &)> done);
    void awaitReplicas(qint64 saleId, const BookingOutcome &accepted,
                       std::function<void(const Result<BookingOutcome> &)> done);

    RedisCommands &m_redis;
    qint64 m_idempotencyTtlMs;
    RedisScript m_book;
    RedisScript m_bookSoldOut;
    RedisScript m_purchase;
    RedisScript m_view;
    QHash<qint64, qint64> m_itemOwner;
    RateLimits m_limits;
    int m_waitReplicas = 0;
    qint64 m_waitTimeoutMs = 0;
    // A sold-out answer remembered: until when (steady-clock ms), and the stock-back notice
    // sequence it was true as of (StockBackNotices::stillSoldOut).
    struct SoldOutMemory {
        qint64 untilMs = 0;
        quint64 asOf = 0;
    };
    // Drops what the notices heard since the last call say is no longer sold out.
    void catchUpNotices();

    qint64 m_soldOutCacheMs;
    std::shared_ptr<const StockBackNotices> m_notices;
    quint64 m_noticesSeen = 0;
    // (sale id, item id as requested, 0 for the default item) -> its memory
    QHash<QPair<qint64, qint64>, SoldOutMemory> m_soldOutUntil;
    // sale id -> its memory, when every item of the sale was at 0
    QHash<qint64, SoldOutMemory> m_saleSoldOut;
};

} // namespace flashsale
