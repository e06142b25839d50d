#pragma once

#include "core/result.h"

#include <QJsonObject>
#include <QString>

#include <functional>

namespace flashsale {

class PgConnection;
class RedisClient;

// Compares one sale's live state in Redis with PostgreSQL, the source of truth, and on request
// repairs Redis from it. See docs/RECONCILIATION.md for the checks, the read order and repairs.
//
// Owned by, and called on, the thread of the connections it is given.
class Reconciler {
public:
    struct Options {
        bool repair = false;
        QString actor = QStringLiteral("operator");
        QString trigger = QStringLiteral("operator"); // "operator" or "schedule"
    };

    Reconciler(PgConnection &pg, RedisClient &redis);
    ~Reconciler();

    // Runs the checks (and, with repair, the repairs), stores the run in reconcile_runs (a repair
    // also writes an audit_log record) and answers the report as JSON (the "reconcile.run"
    // result in docs/ADMIN_PROTOCOL.md). NotFound when PostgreSQL has no such sale.
    void run(qint64 saleId, const Options &options,
             std::function<void(const Result<QJsonObject> &)> done);

private:
    struct Impl;
    Impl *d;
};

} // namespace flashsale
