#pragma once

#include <QByteArray>
#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <optional>

namespace flashsale::paysim {

// What the simulated provider has done, in the order it did it: every payment attempt it
// decided (succeeded or declined) and every refund. Pure bookkeeping, no sockets, no clock
// (callers pass the time): one thread.
//
//   payments   id "pay_N"  -> Payment       (order_id, amount, currency, status)
//   refunds    id "re_N"   -> Refund        (payment_id, amount)
//   keys       Idempotency-Key -> the payment (or refund) it made; the first answer is rendered
//              again from it, as first answered, so nothing but an index is kept per key
//   entries    every payment and refund, in order (GET /ledger)
//
// Memory is bounded by `capacity`: once payments + refunds reach it, new ones are refused
// (LedgerFull) rather than old ones forgotten, because the ledger is the proof that nothing was
// charged twice and a ledger that forgets proves nothing.
class Ledger {
public:
    struct Payment {
        QString id;
        QString orderId;
        qint64 amountCents = 0;
        QString currency;
        QString status; // "succeeded", "declined" or "refunded"
        qint64 createdMs = 0;
        QString refundId; // set once refunded
        QString idempotencyKey;
    };
    struct Refund {
        QString id;
        QString paymentId;
        QString orderId;
        qint64 amountCents = 0;
        qint64 createdMs = 0;
    };
    // What an Idempotency-Key finds: nothing yet, the request it was first used for (the same
    // one again), or another request.
    enum class Replay { Miss, Hit, Mismatch };
    enum class RefundError { None, NotFound, NotRefundable, AlreadyRefunded, LedgerFull };

    explicit Ledger(qsizetype capacity)
        : m_capacity(capacity) {}

    // Whether the order declines: a pure function of the seed and the order id (FNV-1a 64 of
    // "<seed>:<order_id>", modulo 10,000, below declinePercent * 100), so a test or the integrator
    // can predict every outcome and the same order always gets the same answer.
    static bool declines(quint64 seed, const QString &orderId, double declinePercent);

    bool full() const { return m_payments.size() + m_refunds.size() >= m_capacity; }

    // The payment first made with `key`, as it was answered then (a refunded one as succeeded),
    // when the request is the same (order, amount, currency); Mismatch when it is not.
    Replay replayPayment(const QString &key, const QString &orderId, qint64 amountCents,
                         const QString &currency, Payment *first) const;
    // The refund first made with `key`, when it was of the same payment.
    Replay replayRefund(const QString &key, const QString &paymentId, Refund *first) const;

    // Records a payment attempt with its outcome, under `key`; the caller checked full() and
    // replayPayment() first.
    const Payment &addPayment(const QString &key, const QString &orderId, qint64 amountCents,
                              const QString &currency, bool succeeded, qint64 nowMs);
    // Refunds a succeeded payment in full, under `key` when it is not empty; on an error nothing
    // changes.
    RefundError refund(const QString &key, const QString &paymentId, qint64 nowMs, Refund *out);

    const Payment *payment(const QString &id) const;
    QList<const Payment *> paymentsOfOrder(const QString &orderId) const;
    // The payments made after the payment `startingAfter` (empty: from the first), oldest first,
    // at most `limit`; `hasMore` says whether more follow. False when `startingAfter` is not a
    // payment of this ledger.
    bool paymentsAfter(const QString &startingAfter, qsizetype limit, QList<const Payment *> *out,
                       bool *hasMore) const;

    static QJsonObject toJson(const Payment &p);
    static QJsonObject toJson(const Refund &r);
    // GET /ledger: counts, the ids of orders charged more than once (two payments not declined),
    // then every entry in order, as compact JSON bytes. Written entry by
    // entry, so the peak is the answer's size (about 200 bytes an entry), not a JSON tree of it.
    QByteArray ledgerJson() const;

private:
    struct Entry {
        bool refund = false;
        qsizetype index = 0;
    };
    qsizetype m_capacity;
    QList<Payment> m_payments;
    QList<Refund> m_refunds;
    QList<Entry> m_entries;
    QHash<QString, qsizetype> m_paymentById;
    QHash<QString, QList<qsizetype>> m_paymentsByOrder;
    QHash<QString, qsizetype> m_paymentKeys; // Idempotency-Key -> index in m_payments
    QHash<QString, qsizetype> m_refundKeys;  // Idempotency-Key -> index in m_refunds
};

} // namespace flashsale::paysim
