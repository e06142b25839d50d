#include "stockbacknotices.h"

#include <QMutexLocker>

namespace flashsale {

void StockBackNotices::saleRestocked(qint64 saleId) {
    QMutexLocker lock(&m_mutex);
    const quint64 n = m_sequence.load(std::memory_order_relaxed) + 1;
    m_lastNotice.insert(saleId, n);
    // Published after the entry: a reader that sees n finds the entry under the lock.
    m_sequence.store(n, std::memory_order_release);
}

void StockBackNotices::forgetAll() {
    QMutexLocker lock(&m_mutex);
    const quint64 n = m_sequence.load(std::memory_order_relaxed) + 1;
    m_lastForgetAll = n;
    // Older per-sale numbers are all below n now: they can no longer decide anything.
    m_lastNotice.clear();
    m_sequence.store(n, std::memory_order_release);
}

bool StockBackNotices::stillSoldOut(qint64 saleId, quint64 asOf) const {
    QMutexLocker lock(&m_mutex);
    return m_lastForgetAll <= asOf && m_lastNotice.value(saleId, 0) <= asOf;
}

} // namespace flashsale
