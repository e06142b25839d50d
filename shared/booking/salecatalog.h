#pragma once

#include "core/fieldreader.h"
#include "core/result.h"
#include "redis/redisscript.h"

#include <QJsonObject>
#include <QList>
#include <QString>

#include <expected>
#include <functional>
#include <optional>

namespace flashsale {

class PgConnection;
class RedisCommands;
struct Config;

// A sale as an operator asks for it: POST /api/v1/admin/sales.
struct SaleSpec {
    struct Item {
        qint64 id = 0; // set once stored
        QString name;
        qint64 stock = 0;
        qint64 priceCents = 0;
    };
    QString name;
    int perUserLimit = 10;
    qint64 startsAtMs = 0;
    qint64 endsAtMs = 0;
    int holdSeconds = 300;
    int admissionRate = 0;
    int admissionBurst = 1;
    QString state = QStringLiteral("active");
    qint64 scheduleId = 0;
    int powDifficulty = 0; // leading zero bits a booking's proof of work must reach; 0 = none //
                           // the recurring schedule this sale is an occurrence of; 0 = one-off
    QList<Item> items;

    // The sale's waiting room (docs/WAITING_ROOM.md, "Parameters"); absent = first come, first
    // served, as without one. Defaults are the ones documented there.
    struct WaitingRoom {
        qint64 lobbyOpensAtMs = 0; // joins are taken from here; before startsAtMs
        int graceMs = 3000;        // the cohort stays open this long after startsAtMs
        int admitPerMinute = 600;
        int admissionTtlSeconds = 120;
        int entriesPerBuyer = 1;   // the only value (I8)
        int entriesPerAddress = 1; // cohort entries per client address (IPv6: per /64); 0 = off
        QByteArray commitment;     // hex SHA-256 of the sale's seed: set by create() and warm()
        bool paused = false; // admission paused by an operator (sales.admission_paused; warm())
    };
    std::optional<WaitingRoom> waitingRoom;

    // Validates the JSON body. Either "stock" (+ "price_cents") for a one-item sale, or "items":
    // [{"name","stock","price_cents"}]. Defaults come from `config`. A waiting room is asked for
    // with "waiting_room": true and the optional "lobby_opens_at", "grace_ms",
    // "admit_per_minute", "admission_ttl_seconds", "entries_per_buyer", "entries_per_address";
    // those fields without "waiting_room": true are an error. Returns every problem found.
    [[nodiscard]] static std::expected<SaleSpec, FieldErrors>
    fromJson(const QJsonObject &body, const Config &config, qint64 nowMs);
};

// Stores sales in PostgreSQL, the source of truth, and warms them into Redis, where the hot
// path reads them. Owned by, and called on, the thread of the connections it is given.
class SaleCatalog {
public:
    SaleCatalog(PgConnection &pg, RedisCommands &redis);

    // The public key new waiting rooms' seeds are sealed to (fairness::SeedBox::sealingKey; 32
    // bytes). Empty, the default: seeds are stored plain.
    void setSeedKey(const QByteArray &publicKey) { m_seedKey = publicKey; }

    // Inserts the sale and its items in one statement, then warms Redis. The result holds the
    // sale with its item ids. When the insert succeeded but warming failed, the error's code is
    // ErrorCode::Unavailable and its message names the sale id, which warm() can retry.
    //
    // With warmNow false the sale is only stored; the scheduler warms it before it starts. An
    // occurrence of a schedule (scheduleId set) that already exists fails with
    // ErrorCode::Conflict, so racing schedulers cannot create it twice.
    //
    // A sale with a waiting room gets its secret seed here, and its sale_fairness row (the
    // commitment, hex SHA-256 of the seed, and the seed sealed to setSeedKey's key) in the same
    // statement, so the commitment exists from the sale's birth; the result's
    // waitingRoom->commitment holds it. The seed itself is forgotten once sealed.
    void create(const SaleSpec &spec, bool warmNow,
                std::function<void(const Result<SaleSpec> &, qint64 saleId)> done);

    // Loads the sale from PostgreSQL and warms Redis. Idempotent: a sale already in Redis is left
    // untouched (its stock may be partly sold). Result: true when written now, false when it was
    // already warm; NotFound when PostgreSQL has no such sale. Each item's stock in Redis is
    // what inventory has left (stock, adjustments included, minus sold). Sets sales.warmed_at.
    // A waiting-room sale also gets fs:{sale:ID}:wr:meta with its commitment (lua/warm.lua).
    void warm(qint64 saleId, std::function<void(const Result<bool> &)> done);

    // The JSON of a waiting room as the admin answers echo it ("waiting_room"), null when off.
    static QJsonValue waitingRoomJson(const std::optional<SaleSpec::WaitingRoom> &room);

private:
    QByteArray m_seedKey;
    void markWarmed(qint64 saleId);
    void warmRedis(qint64 saleId, const SaleSpec &spec,
                   std::function<void(const Result<bool> &)> done);

    PgConnection &m_pg;
    RedisCommands &m_redis;
    RedisScript m_warm;
};

} // namespace flashsale
