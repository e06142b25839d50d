#pragma once

#include "core/result.h"
#include "protocol/adminprotocol.h"
#include "redis/redisscript.h"

#include <QJsonObject>

#include <expected>
#include <functional>

namespace flashsale {

class PgConnection;
class RedisClient;
class Reconciler;
class SaleCatalog;
struct Config;

// The admin operations of docs/ADMIN_PROTOCOL.md, for one API thread: validation, the changes
// in PostgreSQL and Redis, and their audit records. Subscriptions are the session's business
// (AdminSession); everything else is answered here.
//
// Owned by, and called on, the thread of the connections it is given.
class AdminService {
public:
    using Answer = std::expected<QJsonObject, admin::AdminFailure>;
    using Reply = std::function<void(const Answer &)>;

    AdminService(const Config &config, PgConnection &pg, RedisClient &redis, SaleCatalog &catalog,
                 Reconciler &reconciler);

    void handle(const admin::AdminRequest &request, const QString &actor, Reply reply);

    // A sale was changed through this service (state, stock, created): its new sale object.
    std::function<void(const QJsonObject &sale)> onSaleChanged;
    // A reconciliation run finished through this service: its report.
    std::function<void(const QJsonObject &report)> onReconciled;

    // The failure for a dependency error (Redis, PostgreSQL).
    static admin::AdminFailure dependencyFailure(const Error &error);

private:
    void listSales(const QJsonObject &args, Reply reply);
    void getSale(const QJsonObject &args, Reply reply);
    void createSale(const QJsonObject &args, const QString &actor, Reply reply);
    void changeState(admin::Op op, const QJsonObject &args, const QString &actor, Reply reply);
    void adjustStock(const QJsonObject &args, const QString &actor, Reply reply);
    void createSchedule(const QJsonObject &args, const QString &actor, Reply reply);
    void listSchedules(Reply reply);
    void cancelSchedule(const QJsonObject &args, const QString &actor, Reply reply);
    void reconcile(const QJsonObject &args, const QString &actor, Reply reply);
    void listReconciliations(const QJsonObject &args, Reply reply);
    void listAudit(const QJsonObject &args, Reply reply);

    // Loads sale objects (docs/ADMIN_PROTOCOL.md) matching `where` (SQL over alias s, with $1..),
    // with their remaining stock from Redis.
    void loadSales(const QByteArray &where, const QList<QByteArray> &params, int limit,
                   std::function<void(const Result<QList<QJsonObject>> &)> done);
    void loadSale(qint64 saleId, std::function<void(const Result<QJsonObject> &)> done);

    const Config &m_config;
    PgConnection &m_pg;
    RedisClient &m_redis;
    SaleCatalog &m_catalog;
    Reconciler &m_reconciler;
    RedisScript m_adjust;
    RedisScript m_setState;
};

} // namespace flashsale
