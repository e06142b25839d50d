#pragma once

#include "payment/paymentoutcomes.h"

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QString>

#include <expected>
#include <optional>

namespace flashsale {

class HttpServer;
class PgConnection;
class RedisCommands;
struct Config;

// A provider event as POST /api/v1/payments/webhook reads it (paysim's, Stripe-shaped):
//   {"id": "evt_N", "type": "payment.succeeded" | "payment.failed" | "refund.succeeded" | ...,
//    "created_ms": <integer>, "data": {"object": {payment or refund}}}
// A payment object has "id" and "order_id" (decimal string) and "status" ("succeeded" for
// payment.succeeded, "declined" for payment.failed); a refund has "id", "payment_id" and
// "order_id". Members not named here are ignored (providers add fields); those named must have
// the type and form given.
struct PaymentWebhookEvent {
    QByteArray id;
    QByteArray type;
    // The outcome for the three types above (eventId = id, source "webhook"); nullopt for any
    // other type, which is acknowledged and ignored.
    std::optional<ProviderOutcome> outcome;
};

// Why an event body was refused (400 webhook-event-invalid; `pointer` is a JSON pointer).
struct PaymentWebhookEventError {
    enum class Kind {
        NotJson,       // the body does not parse as JSON
        NotAnObject,   // the body (or "data", "data.object") is not a JSON object
        MissingMember, // a required member is absent
        WrongType,     // a member has another JSON type
        BadValue,      // the right type, but not a valid value (an order id that is not a
                       // positive decimal, a status that contradicts the type, an empty id)
    };
    Kind kind = Kind::NotJson;
    QString pointer;
    QString detail;
};

// Parses an event body strictly (see PaymentWebhookEvent). Pure.
std::expected<PaymentWebhookEvent, PaymentWebhookEventError>
parsePaymentWebhookEvent(const QByteArray &body);

// POST /api/v1/payments/webhook: the payment provider's signed events, applied once each
// (docs/PAYMENTS.md, "Incoming webhooks"). In order:
//   1. a body over maxBodyBytes                       413 request-too-large
//   2. Flashsale-Signature against every secret, over the raw body, |now - t| <= tolerance:
//      missing, malformed or forged                   401 webhook-signature-invalid
//      genuine but outside the tolerance              401 webhook-signature-stale
//   3. the event, strictly (parsePaymentWebhookEvent) 400 webhook-event-invalid, with errors
//   4. a type this system does not act on             200 {"result": "ignored"}
//   5. PaymentOutcomes::apply                         200 {"result": "applied" | "duplicate" |
//      "ignored" | "refund_queued" | "unknown_order"}; PostgreSQL or Redis down: 503
//      backend-unavailable with Retry-After (the provider retries: nothing is lost)
// UnknownOrder is 200, not 404: the payment service writes the payments row before it calls the
// provider, so an event of an order without a row is not one of ours (another environment
// sharing the provider account) and no redelivery can change that; a 404 would only make the
// provider retry it for days. It is logged and counted (result="unknown_order"), and provider
// reconciliation reports any charge without an order.
// Every answer counts in flashsale_payment_webhooks_total{result}.
// Threading: the API thread that installed it, with that thread's PgConnection and RedisClient.
class PaymentWebhook final : public QObject {
    Q_OBJECT
public:
    struct Settings {
        QList<QByteArray> secrets; // any verifies (rotation)
        qint64 toleranceSeconds = 300;
        qsizetype maxBodyBytes = 64 * 1024;
    };

    PaymentWebhook(Settings settings, PgConnection &pg, RedisCommands &redis,
                   QObject *parent = nullptr);

    // Adds the route to `server`.
    void install(HttpServer &server);

private:
    Settings m_settings;
    PaymentOutcomes m_outcomes;
};

// The one line ApiRoutes::install calls: a PaymentWebhook owned by `server`, from the config's
// --payment-webhook-secret-file and --payment-webhook-tolerance-s.
void installPaymentWebhook(HttpServer &server, const Config &config, PgConnection &pg,
                           RedisCommands &redis);

} // namespace flashsale
