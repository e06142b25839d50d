#pragma once

#include "core/fieldreader.h"
#include "core/result.h"
#include "redis/redisscript.h"

#include <QJsonObject>
#include <QList>
#include <QString>

#include <expected>
#include <functional>

namespace flashsale {

class PgConnection;
class RedisClient;
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

    // Validates the JSON body. Either "stock" (+ "price_cents") for a one-item sale, or "items":
    // [{"name","stock","price_cents"}]. Defaults come from `config`. Returns every problem found.
    [[nodiscard]] static std::expected<SaleSpec, FieldErrors>
    fromJson(const QJsonObject &body, const Config &config, qint64 nowMs);
};

// Stores sales in PostgreSQL, the source of truth, and warms them into Redis, where the hot
// path reads them. Owned by, and called on, the thread of the connections it is given.
class SaleCatalog {
public:
    SaleCatalog(PgConnection &pg, RedisClient &redis);

    // Inserts the sale and its items in one statement, then warms Redis. The result holds the
    // sale with its item ids. When the insert succeeded but warming failed, the error's code is
    // ErrorCode::Unavailable and its message names the sale id, which warm() can retry.
    //
    // With warmNow false the sale is only stored; the scheduler warms it before it starts. An
    // occurrence of a schedule (scheduleId set) that already exists fails with
    // ErrorCode::Conflict, so racing schedulers cannot create it twice.
    void create(const SaleSpec &spec, bool warmNow,
                std::function<void(const Result<SaleSpec> &, qint64 saleId)> done);

    // Loads the sale from PostgreSQL and warms Redis. Idempotent: a sale already in Redis is left
    // untouched (its stock may be partly sold). Result: true when written now, false when it was
    // already warm; NotFound when PostgreSQL has no such sale. Each item's stock in Redis is
    // what inventory has left (stock, adjustments included, minus sold). Sets sales.warmed_at.
    void warm(qint64 saleId, std::function<void(const Result<bool> &)> done);

private:
    void markWarmed(qint64 saleId);
    void warmRedis(qint64 saleId, const SaleSpec &spec,
                   std::function<void(const Result<bool> &)> done);

    PgConnection &m_pg;
    RedisClient &m_redis;
    RedisScript m_warm;
};

} // namespace flashsale
