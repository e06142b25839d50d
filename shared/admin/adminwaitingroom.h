#pragma once

#include "booking/waitingroomview.h"
#include "core/fieldreader.h"
#include "protocol/adminprotocol.h"
#include "redis/redisscript.h"

#include <QJsonObject>

#include <expected>
#include <functional>
#include <optional>

namespace flashsale {

class PgConnection;
class RedisCommands;

// Operating one sale's waiting room (docs/WAITING_ROOM.md, "Operating it"), shared by the admin
// WebSocket (sale.waiting_room.get / .set, through AdminService) and the admin HTTP routes
// (GET / PATCH /api/v1/admin/sales/{id}/waiting-room, ApiRoutes):
//
//   get   the view (lua/queue_view.lua) with its sell-out estimate
//   set   {paused?, admit_per_minute?}: the rate into PostgreSQL (sales.admit_per_minute) first,
//         then the rate and the pause into Redis (lua/queue_settings.lua), then one audit row
//         `sale.waiting_room.set` naming the operator, before and after
//
// Each answer is {"waiting_room": <view>} (set adds "audit_id"), or a failure whose Kind each
// caller maps: AdminService to typed errors, ApiRoutes to problem JSON.
//
// Owned by AdminService or ApiRoutes; called on the thread of the connections it is given,
// which must outlive it. Every callback runs exactly once.
class AdminWaitingRoom {
public:
    struct Failure {
        enum class Kind {
            InvalidArgs,   // details name each field (JSON pointers)
            UnknownSale,   // no such sale
            NoWaitingRoom, // the sale has none
            NotWarm,       // not in Redis yet (or retired): nothing to read or pause there
            Unavailable,   // Redis or PostgreSQL unreachable or slow; PostgreSQL may be ahead
            Internal,      // a defect (logged)
        };
        Kind kind = Kind::Internal;
        QString message;
        FieldErrors details;

        // The admin protocol's error: InvalidArgs, NotFound (unknown sale, no waiting room),
        // Conflict (not warm), Unavailable, Internal.
        admin::AdminFailure toAdmin() const;
    };
    using Answer = std::expected<QJsonObject, Failure>;
    using Done = std::function<void(const Answer &)>;

    // What a set asks for; at least one member is set.
    struct Settings {
        std::optional<bool> paused;
        std::optional<qint64> admitPerMinute; // 1..1,000,000 (sql/014_waiting_room.sql)
    };
    static constexpr qint64 kMinAdmitPerMinute = 1;
    static constexpr qint64 kMaxAdmitPerMinute = 1'000'000;

    AdminWaitingRoom(PgConnection &pg, RedisCommands &redis);

    // Reads `object` (sale.waiting_room.set's args without sale_id, or PATCH's body): paused
    // (bool), admit_per_minute (integer in range); unknown members and an empty request are
    // errors, named with `pointerPrefix` ("/args" over the WebSocket, "" over HTTP).
    static std::expected<Settings, FieldErrors>
    decodeSettings(const QJsonObject &object, const QString &pointerPrefix, bool withSaleId);

    void get(qint64 saleId, Done done);
    // `actor` is the operator's name; `via` ("ws" or "http") goes into the audit row's detail.
    void set(qint64 saleId, const Settings &settings, const QString &actor, const QString &via,
             Done done);

private:
    // The sale's row: NotFound / NoWaitingRoom failures, else its admit_per_minute.
    void loadSale(qint64 saleId, std::function<void(const std::expected<qint64, Failure> &)> done);
    static Failure dependency(const Error &error);

    PgConnection &m_pg;
    RedisCommands &m_redis;
    WaitingRoomViewReader m_views;
    RedisScript m_settings;
};

} // namespace flashsale
