#pragma once

#include <QByteArray>
#include <QHash>
#include <QList>

#include <mutex>

namespace flashsale {

// Failed admin logins per client address over the last minute, shared by every API thread of
// one process (one instance, owned by ApiServer; every method is thread-safe). An address with
// `limit` failures in the last 60 s is refused (429 too-many-login-attempts) until the oldest
// of them is a minute old, whatever credential it sends next.
//
// Bounded: at most kMaxAddresses addresses are remembered; when full, the address whose last
// failure is oldest is forgotten. Per process: several API processes each count on their own,
// so the effective limit behind a load balancer is `limit` times the number of processes.
class LoginThrottle {
public:
    static constexpr int kWindowMs = 60000;
    static constexpr qsizetype kMaxAddresses = 100000;

    explicit LoginThrottle(int limit)
        : m_limit(limit) {}

    // Seconds until `address` may try again, or 0 when it may try now.
    int retryAfterSeconds(const QByteArray &address, qint64 nowMs);
    void recordFailure(const QByteArray &address, qint64 nowMs);
    int limit() const { return m_limit; }

private:
    void prune(QList<qint64> &times, qint64 nowMs) const;

    const int m_limit;
    std::mutex m_mutex;
    QHash<QByteArray, QList<qint64>> m_failures; // address -> failure times (ms), oldest first
};

} // namespace flashsale
