#pragma once

#include <QHash>
#include <QMutex>

#include <atomic>

namespace flashsale {

// What an API process has heard about stock coming back, shared by its API threads so that each
// thread's sold-out memory (BookingService) can tell whether what it remembers is still true.
//
//   sequence   1   2   3   4 ...      one number per notice, in the order heard
//   sale 7     .   2   .   4          the last notice about each sale
//   everything .   .   3   .          the last "anything may have been missed" (a resubscribe)
//
// A thread remembers a sale as sold out "as of" a sequence number: the one current when it sent
// the booking that Redis answered sold out. The memory stands while no notice about that sale
// (and no forget-all) came after it. Reading sequence() is one atomic load, so the hot path pays
// nothing until a notice arrives; stillSoldOut() takes the lock.
//
// Thread-safe: notices come from the subscriber's thread, reads from every API thread.
class StockBackNotices {
public:
    // The number of the last notice (0: none yet). Acquire: a thread that sees a number also
    // sees the notice it numbers in stillSoldOut().
    quint64 sequence() const { return m_sequence.load(std::memory_order_acquire); }

    // A unit of `saleId` came back (the scripts' PUBLISH on flashsale:stock-back).
    void saleRestocked(qint64 saleId);
    // Notices may have been missed (the subscriber connected again, or for the first time):
    // nothing remembered before now stands.
    void forgetAll();

    // Whether a sale remembered sold out as of `asOf` still is: no notice about it, and no
    // forget-all, numbered above `asOf`.
    bool stillSoldOut(qint64 saleId, quint64 asOf) const;

private:
    mutable QMutex m_mutex;
    std::atomic<quint64> m_sequence{0};
    QHash<qint64, quint64> m_lastNotice; // sale -> its last notice's number (guarded)
    quint64 m_lastForgetAll = 0;         // guarded
};

} // namespace flashsale
