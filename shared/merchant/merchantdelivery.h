#pragma once

#include "core/result.h"
#include "kafka/kafkaclient.h"
#include "webhook/merchantendpoints.h"

#include <QHash>
#include <QObject>
#include <QSet>
#include <QTimer>

#include <chrono>
#include <memory>

namespace flashsale {

class HttpClient;
class PgConnection;

struct MerchantDeliveryOptions {
    int maxAttempts = 8; // --merchant-webhook-max-attempts: then the delivery is a dead letter
    std::chrono::milliseconds backoffBase{5000};   // --merchant-webhook-backoff-ms: the first wait
    std::chrono::milliseconds backoffCap{3600000}; // no wait is longer than this
    std::chrono::milliseconds requestTimeout{10000};
    int maxInFlight = 32;                        // POSTs in flight at once, all endpoints together
    int maxInFlightPerEndpoint = 8;              // of those, to one endpoint
    std::chrono::milliseconds pollInterval{250}; // how often due deliveries are looked for
    QString caFile; // --merchant-webhook-ca-file: CA bundle for the endpoints; empty: the system's
};

// Merchant webhooks for the notify role (docs/MERCHANT_WEBHOOKS.md, sql/010):
//
//   Kafka order.* ──consumer "merchant-webhooks"──▶ one merchant_webhook_deliveries row per
//   subscribed endpoint (INSERT ... ON CONFLICT DO NOTHING), then the offset is committed
//        │
//   sender: every pollInterval claims due pending rows (a lease on next_attempt_at, SKIP LOCKED;
//   at most maxInFlightPerEndpoint per endpoint),
//   POSTs each with Flashsale-Signature, Flashsale-Event-Id and Flashsale-Delivery-Attempt;
//   2xx: delivered; anything else: attempts + 1 and a backoff, or dead at maxAttempts
//
// Everything a delivery needs is in its row, so a restart (or another notify process) resumes
// the pending rows; a crash during a POST sends it again once its lease ends: at least once,
// and merchants deduplicate by Flashsale-Event-Id. Replays (webhooks.replay, AdminWebhooks) set
// a dead row pending again; this sender picks it up on its next poll.
//
// Metrics: flashsale_merchant_webhook_deliveries_total{result="delivered|retry|dead"} (one per
// attempt) and flashsale_merchant_webhook_dead_letters (rows in status dead, every table-wide,
// refreshed every few seconds).
//
// Lives on, and is called on, the thread that created it (with an event loop).
class MerchantDelivery final : public QObject {
    Q_OBJECT
public:
    MerchantDelivery(const QString &brokers, const QString &pgUrl,
                     QList<MerchantEndpoint> endpoints, MerchantDeliveryOptions options,
                     QObject *parent = nullptr);
    ~MerchantDelivery() override;

    // Connects to PostgreSQL, records the endpoints once it is up, and starts the consumer
    // (none when no endpoint is configured) and the sender. Fails when the consumer cannot be
    // created.
    [[nodiscard]] Result<void> start();
    // Unfinished messages on the consumer's partitions (live stats); 0 without a consumer.
    qint64 consumerLag() const;

private:
    struct Claimed {
        qint64 id = 0;
        QString endpointId;
        QByteArray eventId;
        QByteArray payload;
        int attempts = 0; // before this one
    };
    void recordEndpoints();
    void handle(const KafkaMessage &message, std::function<void()> done, int attempt);
    void poll();
    void send(const Claimed &delivery);
    void finish(const Claimed &delivery, int status, const QString &error);
    void refreshDeadLetters();

    QString m_brokers;
    QList<MerchantEndpoint> m_endpoints;
    MerchantDeliveryOptions m_options;
    std::unique_ptr<PgConnection> m_pg;
    std::unique_ptr<HttpClient> m_http;
    KafkaConsumer *m_consumer = nullptr;
    QTimer m_poll;
    QTimer m_deadTimer;
    bool m_claiming = false;
    bool m_stopping = false;
    int m_inFlight = 0;
    QHash<QString, int> m_inFlightByEndpoint;
};

} // namespace flashsale
