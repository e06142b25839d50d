#pragma once

#include "checkdata.h"

#include "core/result.h"

#include <QString>
#include <QUrl>

struct redisContext;
struct pg_conn;

namespace flashsale::bench {

// What still moves for a sale: the checks wait until all of it is zero (drain).
struct DrainStatus {
    qint64 streamUndelivered = 0; // entries the "workers" group has not read yet
    qint64 streamPending = 0;     // read, not acknowledged (not committed yet)
    qint64 outboxUnpublished = 0; // events of the sale not yet on Kafka
    // With all-ended only:
    qint64 ordersPending = 0;        // holds not paid, expired or declined yet
    qint64 paymentsCharging = 0;     // charges under way
    qint64 endingsNotNotified = 0;   // ended orders without a delivered notification
    qint64 cancelledNotReleased = 0; // cancelled in PostgreSQL, units not back in Redis yet

    // Whether nothing the checks depend on is still moving.
    bool settled(bool allEnded) const {
        return streamUndelivered == 0 && streamPending == 0 && outboxUnpublished == 0
               && (!allEnded
                   || (ordersPending == 0 && paymentsCharging == 0 && endingsNotNotified == 0));
    }
    // One line for progress and for the timeout message.
    QString describe(bool allEnded) const;
};

// Blocking reads of one sale's state in Redis and PostgreSQL, for the checker (a tool, not a
// server, so it blocks). One connection to each; not thread-safe. Every read returns an Error
// when a server cannot be reached or answers something unexpected; nothing is written.
class SaleReader {
public:
    explicit SaleReader(qint64 saleId);
    ~SaleReader();
    SaleReader(const SaleReader &) = delete;
    SaleReader &operator=(const SaleReader &) = delete;

    // `redisUrl`: redis://[:password@]host:port[/db]; `pgUrl`: any libpq connection string.
    [[nodiscard]] Result<void> connect(const QString &redisUrl, const QString &pgUrl);

    [[nodiscard]] Result<DrainStatus> drainStatus(bool allEnded);

    // The sale's rows, in one REPEATABLE READ READ ONLY transaction: the sale, inventory,
    // orders, order_history, payments, notifications and its order.created outbox rows.
    [[nodiscard]] Result<PgView> readPg();

    // The counters (stock, users, released) atomically with the stream's last id, then the
    // stream up to that id, the reservation index, the dead letters, and the simulator's
    // capture ledger for `orderIds`. Read after readPg(): every order it saw was accepted by
    // Redis before this, so its traces are all in what this reads.
    [[nodiscard]] Result<RedisView> readRedis(const QList<qint64> &orderIds);

private:
    qint64 m_saleId;
    QUrl m_url; // the Redis URL given (its credentials, for another node of a cluster)
    redisContext *m_redis = nullptr;
    pg_conn *m_pg = nullptr;
};

} // namespace flashsale::bench
