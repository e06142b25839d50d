#pragma once

#include "core/result.h"

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>

#include <chrono>

// Merchant webhooks, the parts with no I/O beyond reading the configuration: the endpoints of
// --merchant-webhooks-file, the body a merchant receives, and the retry schedule
// (docs/MERCHANT_WEBHOOKS.md). The delivery itself is shared/merchant/merchantdelivery.h.
//
// The file is a JSON array of endpoints (or {"endpoints": [...]}):
//
//   [{"id": "shop-a",                          1-64 of [a-z0-9._-], unique, starts alphanumeric
//     "url": "https://hooks.shop-a.example/fs", https:// with a host; no user:password in it
//     "secret_file": "/etc/flashsale/shop-a.secret",  one secret per line (the first is the
//                                              current one; all sign, for a rotation); the file
//                                              must not be readable by group or others (0600)
//     "events": ["order.paid", "order.cancelled"]}]   order.created, order.paid, order.cancelled
//
// A relative secret_file is relative to the directory of the endpoints file. Secrets are kept
// in memory only, never logged, never written to PostgreSQL.
namespace flashsale {

struct MerchantEndpoint {
    QString id;
    QByteArray url;
    QStringList events;
    QList<QByteArray> secrets; // signing secrets, in file order

    bool subscribes(const QByteArray &eventType) const {
        return events.contains(QString::fromLatin1(eventType));
    }
};

// Reads and validates the endpoints file at `path`. Fails with ErrorCode::Invalid and one line
// per problem, each naming the endpoint by JSON pointer ("/1/url: ..."); a message never holds
// a secret. An empty list is valid (webhooks off).
[[nodiscard]] Result<QList<MerchantEndpoint>> merchantEndpointsLoad(const QString &path);

// The body POSTed for one order event, identical on every attempt and for every endpoint:
//   {"id": <event_id>, "type": "order.paid", "created_ms": <ms>, "data": <the order event>}
// `event` is the Kafka message's JSON object (shared/outbox); `createdMs` is when the delivery
// was first recorded.
QByteArray merchantWebhookBody(const QString &eventId, const QByteArray &eventType,
                               qint64 createdMs, const QJsonObject &event);

// The wait before attempt `attempt` + 1 after `attempt` failed (attempt >= 1): base * 2^(attempt
// - 1), capped at `cap`, then "equal jitter": uniformly in [half, full] of that, so that many
// deliveries failing together do not retry together. `unit` is a number in [0, 1) (random in
// production, fixed in tests).
std::chrono::milliseconds merchantWebhookBackoff(int attempt, std::chrono::milliseconds base,
                                                 std::chrono::milliseconds cap, double unit);

// The HTTP header that carries the event id, stable across attempts, endpoints and replays, so
// that a merchant can deduplicate.
inline constexpr char kMerchantEventIdHeader[] = "Flashsale-Event-Id";
// The attempt number (1, 2, ...; a replay starts again at 1), for the merchant's logs.
inline constexpr char kMerchantAttemptHeader[] = "Flashsale-Delivery-Attempt";

} // namespace flashsale
