#pragma once

#include <QByteArray>

namespace flashsale {

// Redis key names of one sale. Every key carries the hash tag {sale:ID}, so all keys one script
// touches live in one Redis Cluster slot. The layout is drawn in lua/book.lua.
class SaleKeys {
public:
    explicit SaleKeys(qint64 saleId)
        : m_prefix("fs:{sale:" + QByteArray::number(saleId) + "}:") {}

    QByteArray meta() const { return m_prefix + "meta"; }
    QByteArray stock() const { return m_prefix + "stock"; }
    QByteArray price() const { return m_prefix + "price"; }
    QByteArray items() const { return m_prefix + "items"; }
    QByteArray users() const { return m_prefix + "users"; }
    QByteArray bucket() const { return m_prefix + "bucket"; }
    QByteArray stream() const { return m_prefix + "stream"; }
    QByteArray deadLetters() const { return m_prefix + "dead"; }
    QByteArray released() const { return m_prefix + "released"; }
    QByteArray reservation(const QByteArray &rid) const { return m_prefix + "res:" + rid; }
    // Every reservation id the sale accepted (for reconciliation, without scanning the keyspace).
    QByteArray reservations() const { return m_prefix + "reservations"; }
    // Live stats of one unix second (docs/ARCHITECTURE.md, Redis key layout).
    QByteArray stats(qint64 unixSecond) const {
        return m_prefix + "stats:" + QByteArray::number(unixSecond);
    }
    // The lock a repairing reconciliation holds (released by lua/reconcile_unlock.lua).
    QByteArray reconcileLock() const { return m_prefix + "reconcile:lock"; }
    // Rate-limit state of one client IP / one user in this sale, and a spent PoW challenge.
    QByteArray rateLimitIp(const QByteArray &ip) const { return m_prefix + "rl:ip:" + ip; }
    QByteArray rateLimitUser(const QByteArray &user) const { return m_prefix + "rl:u:" + user; }
    QByteArray powNonce(const QByteArray &nonce) const { return m_prefix + "pow:" + nonce; }
    QByteArray idempotency(const QByteArray &user, const QByteArray &key) const {
        return m_prefix + "idem:" + user + ':' + key;
    }

    // The waiting room (docs/WAITING_ROOM.md; the layout is drawn in lua/queue_join.lua).
    QByteArray waitingRoomMeta() const { return m_prefix + "wr:meta"; }
    QByteArray waitingRoomBuyers() const { return m_prefix + "wr:buyer"; }
    QByteArray waitingRoomCohort() const { return m_prefix + "wr:cohort"; }
    QByteArray waitingRoomFifo() const { return m_prefix + "wr:fifo"; }
    QByteArray waitingRoomAddresses() const { return m_prefix + "wr:addr"; }
    // The seal's (shared/waitingroom/sealer.h): the cohort in rank order (admission reads it
    // from the cursor), the list being written before it is renamed onto wr:ranked, and entry
    // id -> rank.
    QByteArray waitingRoomRanked() const { return m_prefix + "wr:ranked"; }
    QByteArray waitingRoomRanking() const { return m_prefix + "wr:ranking"; }
    QByteArray waitingRoomRanks() const { return m_prefix + "wr:rank"; }
    // Admitted, not yet booked: entry -> admission expiry (ms). lua/queue_admit.lua adds,
    // book.lua removes on the booking, queue_admit.lua removes the expired (no-shows).
    QByteArray waitingRoomAdmitted() const { return m_prefix + "wr:adm"; }
    // How an admission ended: entry -> booked | noshow.
    QByteArray waitingRoomDone() const { return m_prefix + "wr:done"; }
    // The join's own rate limits, apart from the booking's, so a crowd polling the lobby does
    // not spend the budget its buyers need to book.
    QByteArray waitingRoomRateIp(const QByteArray &ip) const { return m_prefix + "wr:rl:ip:" + ip; }
    QByteArray waitingRoomRateUser(const QByteArray &user) const {
        return m_prefix + "wr:rl:u:" + user;
    }

    // Not tied to one sale: item id -> sale id, for the /checkout?id=ITEM route, and the set of
    // warmed sale ids, for metrics.
    static QByteArray itemOwner(qint64 itemId) { return "fs:item:" + QByteArray::number(itemId); }
    static QByteArray saleIndex() { return QByteArrayLiteral("fs:sales"); }
    // The consumer group that reads every sale's stream (the stream workers).
    static QByteArray consumerGroup() { return QByteArrayLiteral("workers"); }

private:
    QByteArray m_prefix;
};

} // namespace flashsale
