#pragma once

#include "core/result.h"

#include <QByteArray>
#include <QObject>
#include <QString>

#include <functional>
#include <memory>

namespace flashsale {

class RedisCommands;

struct ChargeRequest {
    qint64 orderId = 0;
    QByteArray userId;
    qint64 amountCents = 0;
    // The same key for every attempt at one order: a provider charges once per key.
    QByteArray idempotencyKey;
    // refund(): the provider's id of the payment to refund (ChargeOutcome::providerRef).
    QByteArray providerRef;
};

// One payment as the provider's list shows it (provider reconciliation, issue 19).
struct ProviderPayment {
    QByteArray id; // the provider's payment id (providerRef)
    qint64 orderId = 0;
    QByteArray status; // "succeeded", "declined" or "refunded"
    qint64 amountCents = 0;
    qint64 createdMs = 0;      // unix ms
    QByteArray idempotencyKey; // the key it was created under
};

// A page of the provider's payments, oldest first.
struct ProviderPage {
    QList<ProviderPayment> data;
    bool hasMore = false; // ask again with startingAfter = data.last().id
};

struct ChargeOutcome {
    bool approved = false;
    QByteArray providerRef;
    QString declineReason;
};

// A payment provider. charge() and refund() answer exactly once, from the caller's event loop.
// An Err result (ErrorCode::Unavailable) means "not known, try again with the same key"; a
// decline is a successful result with approved == false.
class PaymentGateway {
public:
    virtual ~PaymentGateway() = default;
    virtual QString name() const = 0;
    virtual void charge(const ChargeRequest &request,
                        std::function<void(const Result<ChargeOutcome> &)> done) = 0;
    virtual void refund(const ChargeRequest &request,
                        std::function<void(const Result<void> &)> done) = 0;
    // The provider's payments created after the payment `startingAfter` (empty: from the first),
    // at most `limit`, oldest first. A gateway that cannot list answers Unavailable.
    virtual void listPayments(const QByteArray &startingAfter, int limit,
                              std::function<void(const Result<ProviderPage> &)> done) {
        Q_UNUSED(startingAfter);
        Q_UNUSED(limit);
        done(fail(ErrorCode::Unavailable, name() + QStringLiteral(" cannot list payments")));
    }
};

// The built-in provider: answers after `latencyMs`, declines `declinePercent` of orders (the
// same orders every time: the decision is a hash of the order id), and is down while the
// outage switch is on: the --payment-sim-outage flag, or at run time the Redis key
// fs:paysim:outage = 1. It keeps the ledger a real provider would, in Redis:
//   fs:paysim:charge:<key>       string  the outcome of the charge made under that key
//   fs:paysim:keys:<order id>    set     the keys an order was charged under (one, if correct)
//   fs:paysim:captured           hash    order id -> charges captured (1, if correct)
//   fs:paysim:refund:<key>       string  the payment refunded under that key (once per key)
//   fs:paysim:refunded           hash    order id -> refunds made (1, if correct)
// and, for listPayments() (H5, provider reconciliation; lua/paysim_record.lua has the layout),
// under one hash tag, since its scripts take them together (one slot on a Redis Cluster):
//   fs:{paysim}:payments         zset    payment id -> sequence number (creation order)
//   fs:{paysim}:payment          hash    payment id -> the payment as JSON (status succeeded,
//                                        declined or refunded)
// A payment's id is "sim-" + the idempotency key it was first charged under.
class SimulatorGateway final : public QObject, public PaymentGateway {
    Q_OBJECT
public:
    SimulatorGateway(RedisCommands &redis, int latencyMs, int declinePercent, bool outage,
                     QObject *parent = nullptr);
    QString name() const override { return QStringLiteral("simulator"); }
    void charge(const ChargeRequest &request,
                std::function<void(const Result<ChargeOutcome> &)> done) override;
    void refund(const ChargeRequest &request,
                std::function<void(const Result<void> &)> done) override;
    // Pages of fs:{paysim}:payments, oldest first; `limit` is clamped to 1..1000. NotFound when
    // `startingAfter` names no payment, Unavailable when Redis cannot be reached.
    void listPayments(const QByteArray &startingAfter, int limit,
                      std::function<void(const Result<ProviderPage> &)> done) override;

private:
    RedisCommands &m_redis;
    int m_latencyMs;
    int m_declinePercent;
    bool m_outage;
};

} // namespace flashsale
