#include "loginthrottle.h"

namespace flashsale {

void LoginThrottle::prune(QList<qint64> &times, qint64 nowMs) const {
    while (!times.isEmpty() && times.first() <= nowMs - kWindowMs)
        times.removeFirst();
}

int LoginThrottle::retryAfterSeconds(const QByteArray &address, qint64 nowMs) {
    std::lock_guard lock(m_mutex);
    auto it = m_failures.find(address);
    if (it == m_failures.end())
        return 0;
    prune(*it, nowMs);
    if (it->isEmpty()) {
        m_failures.erase(it);
        return 0;
    }
    if (it->size() < m_limit)
        return 0;
    // Free again when enough failures have aged out to fall below the limit.
    const qint64 freeAt = it->at(it->size() - m_limit) + kWindowMs;
    return int(qMax<qint64>(1, (freeAt - nowMs + 999) / 1000));
}

void LoginThrottle::recordFailure(const QByteArray &address, qint64 nowMs) {
    std::lock_guard lock(m_mutex);
    if (!m_failures.contains(address) && m_failures.size() >= kMaxAddresses) {
        // Forget the address whose latest failure is oldest (a linear scan, only when full).
        auto oldest = m_failures.begin();
        for (auto it = m_failures.begin(); it != m_failures.end() && !oldest->isEmpty(); ++it)
            if (it->isEmpty() || it->last() < oldest->last())
                oldest = it;
        m_failures.erase(oldest);
    }
    QList<qint64> &times = m_failures[address];
    prune(times, nowMs);
    times.append(nowMs);
    // More than the limit need not be kept: the limit is what decides.
    while (times.size() > m_limit)
        times.removeFirst();
}

} // namespace flashsale
