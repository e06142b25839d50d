#pragma once

#include "pg/pgconnection.h"

#include <QObject>

#include <memory>
#include <vector>

namespace flashsale {

// A fixed set of PgConnections to one database, for a component whose statements are
// independent of each other (no transaction spans two statements). query() sends each statement
// to the connection with the fewest statements running or queued, ties to the next in turn, so
// up to size() statements run at once. A connection that is down answers its statements with
// ErrorCode::Unavailable (PgConnection's rules) and reconnects by itself; the pool does not move
// them to another connection (the caller retries, as it would with one connection).
// Thread: the owner's, as its connections.
class PgPool final : public QObject {
    Q_OBJECT
public:
    PgPool(const QString &conninfo, int size, QObject *parent = nullptr);
    ~PgPool() override;

    // Reports every connection in the pool gauges of `pool` (PgConnection::setMetricsPool).
    // Call once, before start().
    void setMetricsPool(const QByteArray &pool);
    void start();
    void query(const QByteArray &sql, const QList<QByteArray> &params,
               PgConnection::Callback callback);

    int size() const { return int(m_connections.size()); }
    PgConnection &connection(int i) { return *m_connections[size_t(i)]; }

private:
    std::vector<std::unique_ptr<PgConnection>> m_connections;
    size_t m_next = 0;
};

} // namespace flashsale
