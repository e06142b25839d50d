#pragma once

#include "core/result.h"

#include <QByteArray>
#include <QObject>
#include <QString>

#include <functional>

namespace flashsale {

class PgConnection;
class RedisClient;

// What the provider said about one order's payment, from wherever it was learnt: the answer to
// the charge call, a webhook, or provider reconciliation.
struct ProviderOutcome {
    enum class Kind { Succeeded, Failed, Refunded };
    Kind kind = Kind::Succeeded;
    qint64 orderId = 0;
    QByteArray providerRef; // the provider's payment id
    QString reason;         // Failed: the decline reason
    QByteArray eventId;     // a webhook's event id (deduplicated); empty otherwise
    QByteArray source;      // "api", "webhook" or "reconcile": recorded with the outcome
};

// How apply() ended.
enum class OutcomeApplied {
    Applied,     // this call changed the payment (and ended the order, or queued a refund)
    Duplicate,   // this event id was applied before, or the payment already has this outcome
    Ignored,     // the payment's state makes this outcome stale (a Failed after a capture)
    RefundQueued, // money captured for an order that is no longer pending: a refund is due
    UnknownOrder, // no payment row for this order (not ours, or not claimed yet)
};

// Applies provider outcomes to PostgreSQL (payments, orders, order_history, outbox) and Redis
// (units of a declined order go back), each exactly once whatever the order of arrival:
//   charging  + Succeeded -> captured, order paid, outbox order.paid
//   charging  + Failed    -> declined, order cancelled ('declined'), units released
//   declined  + Succeeded -> refund_due (the money was taken for a cancelled order)
//   captured  + Failed    -> Ignored (a capture is final; logged)
//   captured|refund_due + Refunded -> refunded
// A webhook's event id is recorded in the same transaction as its effect, so a duplicate
// delivery is a Duplicate. Refunds are not made here: a 'refund_due' payment is refunded by the
// payment service's refund sweep, with a stable idempotency key, so any process may apply
// outcomes (the API process for webhooks) without holding a gateway.
// Thread: the owner's, as its PgConnection and RedisClient.
class PaymentOutcomes final : public QObject {
    Q_OBJECT
public:
    PaymentOutcomes(PgConnection &pg, RedisClient &redis, QObject *parent = nullptr);
    void apply(const ProviderOutcome &outcome,
               std::function<void(const Result<OutcomeApplied> &)> done);

private:
    PgConnection &m_pg;
    RedisClient &m_redis;
};

} // namespace flashsale
