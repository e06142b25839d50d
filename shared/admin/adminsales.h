#pragma once

#include "admin/adminservice.h"
#include "redis/redisscript.h"

#include <QJsonObject>

#include <functional>

namespace flashsale {

class PgConnection;
class RedisCommands;
class SaleCatalog;
struct Config;

// The sale.* operations of docs/ADMIN_PROTOCOL.md: list, get, create, pause / resume / stop and
// adjust stock, each audited when it changes something; and the sale objects those answers and
// the session's pushes carry (PostgreSQL's row with the remaining stock summed in Redis).
//
// Owned by AdminService; called on the thread of the connections it is given, which must
// outlive it. Every Reply runs exactly once.
class AdminSales {
public:
    using Reply = AdminService::Reply;

    AdminSales(const Config &config, PgConnection &pg, RedisCommands &redis, SaleCatalog &catalog);

    void list(const QJsonObject &args, Reply reply);
    void get(const QJsonObject &args, Reply reply);
    void create(const QJsonObject &args, const QString &actor, Reply reply);
    // sale.pause, sale.resume or sale.stop (`op`): PostgreSQL first, then Redis.
    void changeState(admin::Op op, const QJsonObject &args, const QString &actor, Reply reply);
    // sale.adjust: PostgreSQL's stock and Redis's remaining units, in the order that never
    // sells units PostgreSQL does not have.
    void adjust(const QJsonObject &args, const QString &actor, Reply reply);

    // Loads sale objects (docs/ADMIN_PROTOCOL.md) matching `where` (SQL over alias s, with $1..),
    // newest first, with their remaining stock from Redis (null while Redis cannot say).
    void loadSales(const QByteArray &where, const QList<QByteArray> &params, int limit,
                   std::function<void(const Result<QList<QJsonObject>> &)> done);
    // One sale object; NotFound when there is no such sale.
    void loadSale(qint64 saleId, std::function<void(const Result<QJsonObject> &)> done);

private:
    const Config &m_config;
    PgConnection &m_pg;
    RedisCommands &m_redis;
    SaleCatalog &m_catalog;
    RedisScript m_adjust;
    RedisScript m_setState;
    RedisScript m_stockTotal;
};

} // namespace flashsale
