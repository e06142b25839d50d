#pragma once

#include "core/result.h"
#include "redis/redisscript.h"

#include <QByteArray>
#include <QJsonObject>

#include <functional>
#include <optional>

namespace flashsale {

class RedisCommands;
struct RedisValue;

// An operator's read of one sale's waiting room (lua/queue_view.lua; docs/WAITING_ROOM.md,
// "Operating it"): the line, admission's counters and its measured pace, as Redis holds them at
// one instant (Redis' clock).
struct WaitingRoomView {
    enum class Kind {
        View,          // the fields below are set
        UnknownSale,   // not in Redis: unknown, not warmed yet, or retired
        NoWaitingRoom, // the sale has none
    };
    Kind kind = Kind::UnknownSale;
    qint64 saleId = 0;
    QByteArray saleState;      // active, paused, stopped
    qint64 lobby = 0;          // entries in the lobby / cohort (LLEN wr:cohort)
    qint64 fifo = 0;           // entries behind the cohort (LLEN wr:fifo)
    qint64 cohortSize = -1;    // frozen at the seal's begin; -1 before
    bool sealed = false;       // the cohort is ranked (admission runs from here)
    qint64 cursor = 0;         // entries admitted so far, in line order
    qint64 admitted = 0;       // the same, as admission counts it
    qint64 outstanding = 0;    // admitted, not yet booked nor expired (ZCARD wr:adm)
    qint64 noshows = 0;        // admissions that expired unused
    qint64 booked = 0;         // admissions that booked (book.lua)
    bool paused = false;       // admission paused by an operator (wr:meta paused)
    bool soldOut = false;      // admission's last tick found no stock
    qint64 remaining = 0;      // units left (the sum of the stock hash)
    qint64 admitPerMinute = 0; // the setting (meta admit_pm)
    // Entries admitted per minute since admission's older 30 s rate mark, as the buyers' ETA
    // measures it (QueueLine::measuredPerMinute); nullopt until the mark is a second old.
    std::optional<double> admittedPerMinute;
    qint64 nowMs = 0;

    // Entries still waiting for their turn: after the seal cohort_n + fifo - cursor, before it
    // everyone who joined.
    qint64 waiting() const;
    // An estimate of the seconds until the remaining units are gone: remaining / the measured
    // admission rate, assuming every admitted buyer books (no-shows make it later, a change of
    // rate changes it). 0 when nothing remains; nullopt while admission is paused or the measured
    // rate is unknown or 0.
    std::optional<double> sellOutSeconds() const;

    // The view's JSON (docs/ADMIN_PROTOCOL.md, "A waiting-room view"); only for Kind::View.
    QJsonObject toJson() const;
    // Parses queue_view.lua's reply; nullopt for anything that is not one of its outcomes.
    static std::optional<WaitingRoomView> fromReply(qint64 saleId, const RedisValue &reply);
};

// Runs lua/queue_view.lua on one thread's Redis connection. Owned by, and called on, the thread
// of the RedisCommands it is given, which must outlive it. The callback runs exactly once; an Err
// means Redis was unreachable, slow, or answered something unexpected.
class WaitingRoomViewReader {
public:
    explicit WaitingRoomViewReader(RedisCommands &redis);

    void read(qint64 saleId, std::function<void(const Result<WaitingRoomView> &)> done);

private:
    RedisCommands &m_redis;
    RedisScript m_script;
};

} // namespace flashsale
