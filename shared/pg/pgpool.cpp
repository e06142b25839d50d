#include "pgpool.h"

namespace flashsale {

PgPool::PgPool(const QString &conninfo, int size, QObject *parent)
    : QObject(parent) {
    for (int i = 0; i < std::max(size, 1); ++i)
        m_connections.push_back(std::make_unique<PgConnection>(conninfo));
}

PgPool::~PgPool() = default;

void PgPool::setMetricsPool(const QByteArray &pool) {
    for (auto &c : m_connections)
        c->setMetricsPool(pool);
}

void PgPool::start() {
    for (auto &c : m_connections)
        c->start();
}

void PgPool::query(const QByteArray &sql, const QList<QByteArray> &params,
                   PgConnection::Callback callback) {
    // The least busy of the connected ones; a down connection only when all are down (it
    // answers Unavailable at once).
    const size_t n = m_connections.size();
    size_t best = m_next % n;
    for (size_t k = 1; k < n; ++k) {
        const size_t i = (m_next + k) % n;
        const PgConnection &c = *m_connections[i];
        const PgConnection &b = *m_connections[best];
        if ((c.isReady() && !b.isReady())
            || (c.isReady() == b.isReady() && c.queued() < b.queued()))
            best = i;
    }
    m_next = best + 1;
    m_connections[best]->query(sql, params, std::move(callback));
}

} // namespace flashsale
