#pragma once

#include "booking/bookingservice.h"
#include "core/result.h"
#include "redis/redisscript.h"

#include <QByteArray>

#include <functional>
#include <optional>

namespace flashsale {

class RedisCommands;

// A buyer asking to join a sale's waiting room (POST /api/v1/sales/{id}/queue).
struct JoinRequest {
    qint64 saleId = 0;
    QByteArray userId;
    QByteArray clientAddress; // IPv4, or the IPv6 /64: the address cap and the per-IP limit
    // A proof of work the API already checked (signature, user, sale, solution), as in
    // BookingRequest: its difficulty (-1: none presented), nonce, ms until it expires.
    int powDifficulty = -1;
    QByteArray powNonce;
    qint64 powTtlMs = 0;
};

// The sale-wide state of a waiting room's line (lua/lib/queue_line.lua, read with every status
// poll and every live tick): what a buyer's position, ETA and "likely to sell out before your
// turn" are computed from (docs/WAITING_ROOM.md, "Position and ETA").
struct QueueLine {
    static constexpr int kFields = 10; // the values queue_line returns
    bool sealed = false;               // wr:ranked is complete: ranks and the cursor mean something
    qint64 cohortSize = -1;            // -1 before the seal
    qint64 cursor = 0;                 // entries admitted since the seal, in line order
    qint64 outstanding = 0;            // admitted, neither booked nor expired
    qint64 remaining = 0;              // units left in the sale's stock
    qint64 admitted = 0;               // admissions so far
    qint64 rateMarkMs = 0;     // the older 30 s rate mark of lua/queue_admit.lua (0: none yet)
    qint64 rateMarkCount = 0;  // admissions at that mark
    bool paused = false;       // admission (or the sale) is paused
    qint64 admitPerMinute = 0; // the sale's setting

    // The 10 values of queue_line from `reply.elements[from]`; nullopt when they are not there.
    static std::optional<QueueLine> fromReply(const RedisValue &reply, qsizetype from);
    // Admissions per minute measured since the older rate mark (30 to 60 s back once admission
    // has run that long); nullopt until the mark is a second old.
    std::optional<double> measuredPerMinute(qint64 nowMs) const;
    // Entries before rank `rank` (1 first) that are not admitted yet.
    qint64 ahead(qint64 rank) const { return qMax<qint64>(0, rank - 1 - cursor); }
    // Everyone ahead, and everyone admitted and not done yet, taking one unit each would leave
    // nothing for `rank`: only no-shows and declines could still reach it.
    bool likelySoldOut(qint64 rank) const { return ahead(rank) + outstanding >= remaining; }
    // Seconds until `rank` is admitted at the measured rate (the sale's setting until one is
    // measured); 0 when nobody is ahead; nullopt when paused, likely sold out, or no rate.
    std::optional<qint64> etaSeconds(qint64 rank, qint64 nowMs) const;
};

// A buyer's entry as Redis holds it (lua/queue_join.lua draws the layout).
struct QueueEntry {
    QByteArray entryId;
    bool cohort = false;     // in the shuffled cohort; else FIFO behind it
    qint64 position = 0;     // arrival position in the cohort, or in the FIFO (from 1)
    qint64 joinedMs = 0;     // Redis' clock when it was made
    bool addressCap = false; // put in the FIFO by the per-address cap
    QByteArray commitment;   // the sale's commitment (hex SHA-256 of its seed)
    qint64 closeMs = 0;      // when the cohort closes: starts_at + grace_ms
    bool saleOpen = true;    // false once the sale is stopped or past its end
    // After the seal (status only): the place in line, 1 first (a FIFO entry's is the cohort's
    // size + its FIFO position), and the cohort's size; -1 until the seal has set them.
    qint64 rank = -1;
    qint64 cohortSize = -1;
    // Status only: when the entry's admission expires (its score in wr:adm; 0 = not admitted
    // now), and how an admission ended (wr:done: "booked", "noshow", or empty).
    qint64 admittedUntilMs = 0;
    QByteArray done;
    // Status only: the line the entry stands in.
    std::optional<QueueLine> line;
};

// The answer of queue_join.lua or queue_status.lua.
struct QueueOutcome {
    enum class Kind {
        Joined,        // a new entry (201)
        Existing,      // the buyer's entry, unchanged (200): one entry per buyer
        UnknownSale,   // not in Redis (unknown, not warmed, or retired)
        NoWaitingRoom, // the sale has none
        Closed,        // stopped or past its end (join only)
        LobbyNotOpen,  // before lobby_opens_at: lobbyMs, nowMs
        RateLimited,   // scope, retryAfterMs
        PowRequired,   // difficulty
        PowTooEasy,    // difficulty
        PowReplayed,
        QueueFull,  // maxEntries
        NotInQueue, // the buyer has no entry (status only)
    };
    Kind kind = Kind::UnknownSale;
    QueueEntry entry; // Joined, Existing (and status's entry)
    qint64 nowMs = 0; // Redis' clock when the script ran
    qint64 lobbyMs = 0;
    QByteArray scope; // "ip" | "user"
    qint64 retryAfterMs = 0;
    int difficulty = 0;
    qint64 maxEntries = 0;

    // Parses a script's reply; nullopt for anything that is not one of its outcomes.
    static std::optional<QueueOutcome> fromReply(const RedisValue &reply);
};

// One admission tick of a sale (lua/queue_admit.lua; docs/WAITING_ROOM.md, "Admission").
struct AdmitTick {
    enum class Kind {
        Admitted,      // ran: `admitted` entries entered wr:adm (0 when the rate or cap said so)
        Paused,        // admission (or the sale) is paused: expired no-shows only
        SoldOut,       // no stock left: nothing admitted, sold_out set
        NotSealed,     // wr:ranked is not complete yet: nothing done
        UnknownSale,   // not in Redis
        NoWaitingRoom, // the sale has none
        Closed,        // stopped or past its end: nothing done
    };
    Kind kind = Kind::UnknownSale;
    qint64 admitted = 0;    // entries admitted by this tick
    qint64 expired = 0;     // no-shows this tick removed (their places freed)
    qint64 cursor = 0;      // entries admitted since the seal, in line order
    qint64 outstanding = 0; // admitted, not yet booked nor expired
    qint64 remaining = 0;   // units left in the sale's stock
    bool soldOut = false;

    static std::optional<AdmitTick> fromReply(const RedisValue &reply);
};

// The waiting room's hot path on one API thread: a join is one EVALSHA of lua/queue_join.lua, a
// status read one EVALSHA of lua/queue_status.lua, on that thread's Redis connection. Owned by,
// and called on, the thread of the RedisCommands it is given. Every callback runs exactly once; an
// Err result means Redis was unreachable, slow or answered something unexpected (503).
class WaitingRoomService {
public:
    // `maxEntries`: the most entries one sale's room holds (--waiting-room-max-entries).
    WaitingRoomService(RedisCommands &redis, int maxEntries);

    // The per-IP and per-user GCRA limits of joins (the booking's settings, their own keys).
    void setRateLimits(const RateLimits &limits) { m_limits = limits; }

    // Joins, or returns the buyer's existing entry. `entryId` is used only for a new entry.
    void join(const JoinRequest &request, const QByteArray &entryId,
              std::function<void(const Result<QueueOutcome> &)> done);
    // The buyer's own entry (Existing with its entry, NotInQueue, UnknownSale, NoWaitingRoom).
    void status(qint64 saleId, const QByteArray &userId,
                std::function<void(const Result<QueueOutcome> &)> done);

    // One admission tick of `saleId` (the scheduler's driver calls it every
    // --waiting-room-tick-ms for each sealed sale): expires no-shows, then admits the next in
    // line at the sale's rate while outstanding admissions stay <= ceil(factor x remaining
    // units). Counts flashsale_waiting_room_admitted_total and _noshows_total and sets the
    // gauge flashsale_waiting_room_cursor, each labelled with the sale.
    void admitTick(qint64 saleId, double factor,
                   std::function<void(const Result<AdmitTick> &)> done);

private:
    RedisCommands &m_redis;
    int m_maxEntries;
    RateLimits m_limits;
    RedisScript m_join;
    RedisScript m_status;
    RedisScript m_admit;
};

} // namespace flashsale
