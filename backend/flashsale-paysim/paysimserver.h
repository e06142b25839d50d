#pragma once

#include "core/result.h"
#include "http/httpexchange.h"
#include "http/httpserver.h"
#include "http/requestframer.h"
#include "ledger.h"
#include "webhooksender.h"

#include <QElapsedTimer>
#include <QHostAddress>
#include <QJsonObject>
#include <QObject>

#include <atomic>
#include <memory>

namespace flashsale::paysim {

// The simulator's settings (flags of flashsale-paysim; docs in main.cpp's --help).
struct Settings {
    QHostAddress listen = QHostAddress::LocalHost;
    quint16 port = 0;          // 0: a free port, written to the ready file
    int latencyMs = 0;         // added to every /v1 answer, by timer
    double declinePercent = 0; // 0..100, per order (Ledger::declines)
    double rateLimitPerS = 0;  // /v1 requests per second, burst of one second; 0: no limit
    qint64 outageFromS = -1;   // an outage window this many seconds after start; -1: none
    qint64 outageSeconds = 0;  // its length
    quint64 seed = 1;          // the decline decision's seed
    qsizetype ledgerCapacity = 1'000'000; // payments + refunds; then 507 ledger-full
    int maxConnections = 1000;
    int maxBodyBytes = 16384;
    WebhookSettings webhooks; // no url: none sent
};

// flashsale-paysim's HTTP API, a payment provider shaped like Stripe's, on one thread:
//
//   POST /v1/payments       {order_id, amount_cents, currency}, Idempotency-Key required
//                           201 succeeded | 402 declined | 409 idempotency-mismatch
//   POST /v1/refunds        {payment_id}, Idempotency-Key optional: 201 | 404 | 409
//   GET  /v1/payments/{id}  200 | 404
//   GET  /v1/payments?order_id=X    {"object": "list", "data": [...]}
//   GET  /ledger            every payment and refund in order, with counts (not delayed, never
//                           refused: the observer's view, for flashsale-bench check)
//   POST /admin/outage      {"seconds": N}: 503 on /v1 for N seconds from now (0 ends it)
//   POST /admin/settings    {"latency_ms", "decline_percent", "rate_limit_per_s",
//                            "webhook_url", "webhook_secret_file", "webhook_retries",
//                            "webhook_backoff_ms", "webhook_duplicate_percent",
//                            "webhook_reorder_ms"}, any subset
//   GET  /healthz
//
// Every /v1 request is checked, in order: outage (503 provider-unavailable, Retry-After), rate
// limit (429 rate-limited, Retry-After), then input (400 invalid-request, problem+json). The
// decision, and its entry in the ledger, are made when the request arrives; the answer is
// written latencyMs later by a timer, so a slow provider never blocks other requests, and a
// client that times out may still have been charged, as with a real provider. A replayed
// Idempotency-Key answers the first answer again with "Idempotent-Replayed: true" (rendered
// from the ledger: a payment refunded since is answered as succeeded, as it was); only payments
// and refunds made are remembered, so a 429, 503 or 400 may be retried with the same key.
//
// Webhooks: `event` is emitted once per decision, in ledger order, with a Stripe-shaped event
// {"id": "evt_N", "type": "payment.succeeded" | "payment.failed" | "refund.succeeded",
// "created_ms", "data": {"object": ...}}, and handed to the WebhookSender (signed, retried,
// sometimes duplicated or held back); GET /ledger shows its counts under "webhooks".
class PaySimServer final : public QObject {
    Q_OBJECT
public:
    explicit PaySimServer(const Settings &settings, QObject *parent = nullptr);
    ~PaySimServer() override;

    // Listens on settings.listen:port; returns the port bound.
    [[nodiscard]] Result<quint16> start();

signals:
    void event(const QJsonObject &event);

private:
    using Params = QStringList;
    void createPayment(const ExchangePtr &ex);
    void createRefund(const ExchangePtr &ex);
    void getPayment(const ExchangePtr &ex, const QString &id);
    void listPayments(const ExchangePtr &ex);
    void setOutage(const ExchangePtr &ex);
    void changeSettings(const ExchangePtr &ex);

    // The outage or rate-limit refusal of a /v1 request, if any.
    std::optional<Problem> gate();
    // Writes the answer after the configured latency.
    void answer(const ExchangePtr &ex, int status, const QJsonObject &body,
                const HeaderList &extra = {});
    // 201 with a succeeded payment, 402 card-declined with a declined one.
    void answerPayment(const ExchangePtr &ex, const Ledger::Payment &payment, bool replayed);
    void answerProblem(const ExchangePtr &ex, const Problem &problem);
    void emitEvent(const QString &type, const QJsonObject &object);
    qint64 nowMs() const;

    Settings m_settings;
    ConnectionLimits m_limits;
    std::shared_ptr<std::atomic<int>> m_open = std::make_shared<std::atomic<int>>(0);
    std::unique_ptr<HttpServer> m_http;
    Ledger m_ledger;
    QElapsedTimer m_clock;      // since start(): outages and the token bucket
    qint64 m_outageFromMs = -1; // on m_clock
    qint64 m_outageUntilMs = -1;
    double m_tokens = 0;
    qint64 m_tokensAtMs = 0;
    qint64 m_events = 0;
    std::unique_ptr<WebhookSender> m_webhooks;
};

} // namespace flashsale::paysim
