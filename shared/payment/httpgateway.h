#pragma once

#include "payment/paymentgateway.h"

#include <QByteArray>
#include <QObject>

#include <chrono>
#include <memory>
#include <optional>

namespace flashsale {

class HttpClient;
struct HttpResponse;

// The payment provider over HTTP: a Stripe-shaped API (flashsale-paysim speaks it;
// docs/PAYSIM.md), through an HttpClient of its own (libcurl multi, keep-alive).
//
//   charge()        POST /v1/payments {order_id, amount_cents, currency}
//                   Idempotency-Key: request.idempotencyKey, Authorization: Bearer <api key>
//   refund()        POST /v1/refunds {payment_id}, Idempotency-Key: refund-order-<order id>;
//                   with no providerRef, the order's succeeded payment is looked up first
//                   (GET /v1/payments?order_id=)
//   listPayments()  GET /v1/payments?limit=N[&starting_after=<id>]
//
// How an answer maps (the one place; docs/PAYMENTS.md has the table):
//   201                          approved, providerRef = the payment's id
//   402 card-declined            declined (approved = false), reason = the problem's detail or
//                                title, providerRef = the declined payment's id
//   409 idempotency-mismatch     Err(Conflict), logged as critical: the same key was used for
//                                another body. Never retried under a new key (that could charge
//                                twice); an operator must look.
//   429, 503                     Err(Unavailable) with the wait the provider asked for
//                                (Retry-After, or retry_after_ms): read it with retryAfterMs().
//                                The gateway also pauses: until that wait has passed, every
//                                call fails at once with Err(Unavailable, "held back ... retry
//                                after N ms") without a request, so no retry loop can send
//                                before the provider allows it
//   other 5xx, timeout, refused  Err(Unavailable): retry with the same key
//   other 4xx, unreadable 2xx    Err(Invalid) / Err(Protocol): final, logged
// A refund answered 409 charge-already-refunded is a success (it was refunded before).
//
// Every request counts in flashsale_payment_provider_requests_total{status} (the HTTP status,
// or "timeout" / "unavailable" / "error"; "held" for calls refused during a pause).
//
// Threading: the owner's thread (an event loop); every callback runs there, exactly once, unless
// the gateway is destroyed first (then pending callbacks are dropped).
class HttpGateway final : public QObject, public PaymentGateway {
    Q_OBJECT
public:
    struct Options {
        QByteArray baseUrl; // "http://127.0.0.1:8090", no trailing slash needed
        QByteArray apiKey;  // sent as Authorization: Bearer; empty: no header
        QByteArray currency = "eur";
        std::chrono::milliseconds timeout{10000}; // per request, connect to last byte
        int maxConnections = 256;                 // to the provider, kept alive
    };

    explicit HttpGateway(Options options, QObject *parent = nullptr);
    ~HttpGateway() override;

    QString name() const override { return QStringLiteral("http"); }
    void charge(const ChargeRequest &request,
                std::function<void(const Result<ChargeOutcome> &)> done) override;
    void refund(const ChargeRequest &request,
                std::function<void(const Result<void> &)> done) override;
    void listPayments(const QByteArray &startingAfter, int limit,
                      std::function<void(const Result<ProviderPage> &)> done) override;

    // The wait the provider asked for before the next try, from an Unavailable error this
    // gateway returned after a 429 or 503 (it is carried in the message as "retry after N ms");
    // nullopt for any other error. A retry loop must wait at least this long.
    static std::optional<qint64> retryAfterMs(const Error &error);

    // The idempotency key of an order's refund: "refund-order-<id>" (stable, so a retried
    // refund refunds once).
    static QByteArray refundKey(qint64 orderId);

private:
    void send(QByteArray method, const QByteArray &path, QByteArray body, QByteArray key,
              std::function<void(const Result<HttpResponse> &)> done);
    void refundPayment(const ChargeRequest &request, const QByteArray &paymentId,
                       std::function<void(const Result<void> &)> done);

    Options m_options;
    std::unique_ptr<HttpClient> m_http;
    // No request before this (the provider's last Retry-After); the epoch: none.
    std::chrono::steady_clock::time_point m_pausedUntil{};
};

} // namespace flashsale
