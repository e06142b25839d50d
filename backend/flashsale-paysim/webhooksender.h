#pragma once

#include "core/result.h"

#include <QByteArray>
#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QRandomGenerator>

#include <memory>

namespace flashsale {
class HttpClient;
}

namespace flashsale::paysim {

// How webhooks are delivered (flags --webhook-*, and POST /admin/settings at run time).
struct WebhookSettings {
    QByteArray url;              // POST target; empty: no webhooks are sent
    QList<QByteArray> secrets;   // each signs (one v1= per secret: rotation); first line first
    int retries = 8;             // attempts after the first, on a non-2xx answer or a timeout
    int backoffMs = 500;         // before retry n: backoffMs * 2^(n-1), at most 60 s
    double duplicatePercent = 0; // 0..100: events delivered twice (the same id and body)
    int reorderMs = 0;           // each event waits a random 0..reorderMs before its first try
    int timeoutMs = 5000;        // one attempt, connect to last byte
    quint64 seed = 1;            // of the duplicate and reorder draws
};

// The secrets of a secret file: one a line (the first signs first), blank lines skipped; an
// error when the file cannot be read, is over 64 KiB, or holds none.
Result<QList<QByteArray>> readWebhookSecrets(const QString &path);

// Delivers PaySimServer's events to one URL, signed with the Flashsale-Signature scheme
// (shared/webhook/signature.h, t = the time of each attempt), as a real provider does: at least
// once, retried with exponential backoff, sometimes twice, sometimes out of order.
//
//   event ──(reorder hold 0..reorderMs)──> attempt 1 ──non-2xx/timeout──> backoff ──> attempt 2
//     └─(duplicatePercent)─> a second delivery of the same event, drawn and held on its own
//
// Every delivery is counted for GET /ledger ("webhooks"): events, deliveries, attempts,
// delivered, failed (retries exhausted), pending, and the ids of events not delivered yet or
// never. Memory: one small record per event (its id and counters; the body only while a
// delivery of it is pending).
//
// Threading: the owner's thread; HttpClient answers there.
class WebhookSender final : public QObject {
    Q_OBJECT
public:
    explicit WebhookSender(WebhookSettings settings, QObject *parent = nullptr);
    ~WebhookSender() override;

    const WebhookSettings &settings() const { return m_settings; }
    // Takes effect for deliveries scheduled from now on (a pending retry keeps its URL).
    void setSettings(const WebhookSettings &settings);

    // Queues `event` for delivery (a no-op without a URL).
    void deliver(const QJsonObject &event);

    // The counts and undelivered event ids, for GET /ledger.
    QJsonObject stats() const;

private:
    struct Event {
        QByteArray id;
        QByteArray body;
        int deliveries = 0; // planned (1, or 2 with a duplicate)
        int attempts = 0;   // HTTP requests made
        int delivered = 0;  // 2xx answers
        int failed = 0;     // deliveries that exhausted their retries
        // The body is dropped once no delivery of it is pending: a million events keep their
        // ids and counters (about 60 bytes each), not their bodies.
        void release() {
            if (delivered + failed == deliveries)
                body = QByteArray();
        }
    };
    void schedule(const std::shared_ptr<Event> &event, int attempt, int delayMs);
    void attempt(const std::shared_ptr<Event> &event, int attempt);

    WebhookSettings m_settings;
    std::unique_ptr<HttpClient> m_http;
    QRandomGenerator m_random;
    QList<std::shared_ptr<Event>> m_events;
    qint64 m_attempts = 0;
    qint64 m_delivered = 0;
    qint64 m_failed = 0;
    qint64 m_pending = 0; // deliveries not yet delivered nor failed
    qint64 m_duplicates = 0;
};

} // namespace flashsale::paysim
