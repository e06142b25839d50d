#include "merchantdelivery.h"

#include "http/httpclient.h"
#include "metrics/metrics.h"
#include "pg/pgarray.h"
#include "pg/pgconnection.h"
#include "webhook/signature.h"

#include <QDateTime>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>
#include <QRandomGenerator>

namespace flashsale {

Q_LOGGING_CATEGORY(lcMerchant, "flashsale.merchant", QtInfoMsg)

namespace {

Counter &deliveries(const char *result) {
    return Metrics::instance().counter(
        "flashsale_merchant_webhook_deliveries_total",
        "Merchant webhook attempts by result: delivered (2xx), retry (will be tried again), dead "
        "(moved to the dead-letter list).",
        QByteArray("result=\"") + result + '"');
}

Gauge &deadLetters() {
    return Metrics::instance().gauge("flashsale_merchant_webhook_dead_letters",
                                     "Merchant webhook deliveries in the dead-letter list.");
}

// How long a claimed delivery stays away from other senders: the request's timeout and a margin
// for recording its outcome.
qint64 leaseMs(const MerchantDeliveryOptions &o) {
    return o.requestTimeout.count() + 5000;
}

} // namespace

MerchantDelivery::MerchantDelivery(const QString &brokers, const QString &pgUrl,
                                   QList<MerchantEndpoint> endpoints,
                                   MerchantDeliveryOptions options, QObject *parent)
    : QObject(parent)
    , m_brokers(brokers)
    , m_endpoints(std::move(endpoints))
    , m_options(std::move(options))
    , m_pg(std::make_unique<PgConnection>(pgUrl)) {
    HttpClient::Options http;
    http.caFile = m_options.caFile;
    http.maxConnectionsPerHost = m_options.maxInFlight;
    http.maxConnections = m_options.maxInFlight * 2;
    http.name = QStringLiteral("merchant-webhooks");
    m_http = std::make_unique<HttpClient>(http);
    m_poll.setInterval(m_options.pollInterval);
    connect(&m_poll, &QTimer::timeout, this, &MerchantDelivery::poll);
    m_deadTimer.setInterval(2000);
    connect(&m_deadTimer, &QTimer::timeout, this, &MerchantDelivery::refreshDeadLetters);
}

MerchantDelivery::~MerchantDelivery() {
    // PgConnection answers its queued statements while it is destroyed: they must find this
    // object stopping, not half gone.
    m_stopping = true;
    delete m_consumer;
    m_http.reset();
    m_pg.reset();
}

Result<void> MerchantDelivery::start() {
    m_pg->setMetricsPool("merchant-webhooks");
    connect(m_pg.get(), &PgConnection::connected, this, &MerchantDelivery::recordEndpoints);
    m_pg->start();
    deliveries("delivered");
    deliveries("retry");
    deliveries("dead");
    deadLetters();
    QStringList topics;
    for (const MerchantEndpoint &e : m_endpoints)
        for (const QString &t : e.events)
            if (!topics.contains(t))
                topics << t;
    if (!topics.isEmpty()) {
        auto c = KafkaConsumer::create(m_brokers, QStringLiteral("merchant-webhooks"), topics,
                                       [this](const KafkaMessage &m, std::function<void()> done) {
                                           handle(m, std::move(done), 0);
                                       });
        if (!c)
            return std::unexpected(c.error());
        m_consumer = *c;
    }
    m_poll.start();
    m_deadTimer.start();
    qCInfo(lcMerchant).noquote() << "merchant webhooks:" << m_endpoints.size() << "endpoint(s),"
                                 << "events" << topics.join(QLatin1Char(','));
    return {};
}

qint64 MerchantDelivery::consumerLag() const {
    return m_consumer ? m_consumer->lag() : 0;
}

// The endpoints table is what the admin messages show; it is rewritten on every (re)connect so
// it follows the file of the notify process that started last.
void MerchantDelivery::recordEndpoints() {
    QList<QByteArray> ids, urls, events;
    for (const MerchantEndpoint &e : m_endpoints) {
        ids << e.id.toUtf8();
        urls << e.url;
        events << e.events.join(QLatin1Char(',')).toUtf8();
    }
    m_pg->query("WITH cfg AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) "
                "AS c(id, url, events)), "
                "up AS (INSERT INTO merchant_webhook_endpoints (id, url, events, configured) "
                "SELECT id, url, string_to_array(events, ','), true FROM cfg "
                "ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, events = EXCLUDED.events, "
                "configured = true, updated_at = now() RETURNING id) "
                "UPDATE merchant_webhook_endpoints SET configured = false, updated_at = now() "
                "WHERE configured AND id <> ALL($1::text[])",
                {pgArray(ids), pgArray(urls), pgArray(events)}, [](const Result<PgResult> &r) {
                    if (!r)
                        qCWarning(lcMerchant).noquote()
                            << "cannot record the endpoints:" << r.error().message;
                });
    refreshDeadLetters();
}

void MerchantDelivery::handle(const KafkaMessage &message, std::function<void()> done,
                              int attempt) {
    const QJsonObject event = QJsonDocument::fromJson(message.value).object();
    const QString eventId = event.value(QStringLiteral("event_id")).toString();
    QList<QByteArray> subscribed;
    for (const MerchantEndpoint &e : m_endpoints)
        if (e.subscribes(message.topic))
            subscribed << e.id.toUtf8();
    if (eventId.isEmpty() || subscribed.isEmpty()) {
        done(); // not an order event this code can name, or nobody wants it
        return;
    }
    const qint64 orderId = event.value(QStringLiteral("order_id")).toInteger();
    const QByteArray body =
        merchantWebhookBody(eventId, message.topic, QDateTime::currentMSecsSinceEpoch(), event);
    m_pg->query(
        "INSERT INTO merchant_webhook_deliveries (endpoint_id, event_id, event_type, order_id, "
        "payload) SELECT unnest($1::text[]), $2, $3, $4, $5 "
        "ON CONFLICT (endpoint_id, event_id) DO NOTHING",
        {pgArray(subscribed), eventId.toUtf8(), message.topic,
         orderId > 0 ? QByteArray::number(orderId) : QByteArray(), body},
        [this, message, done, attempt](const Result<PgResult> &r) {
            if (m_stopping)
                return;
            if (!r) {
                // Not committed: the offset waits, and so do the messages behind it.
                qCWarning(lcMerchant).noquote()
                    << "cannot record deliveries, retrying:" << r.error().message;
                QTimer::singleShot(
                    std::min(100 << std::min(attempt, 7), 10000), this,
                    [this, message, done, attempt] { handle(message, done, attempt + 1); });
                return;
            }
            done();
            if (r->affected > 0)
                poll();
        });
}

void MerchantDelivery::poll() {
    const int room = m_options.maxInFlight - m_inFlight;
    if (m_claiming || room <= 0 || m_endpoints.isEmpty())
        return;
    // Each endpoint gets at most maxInFlightPerEndpoint POSTs at once, so an endpoint that hangs
    // until the timeout cannot hold every slot while the others' deliveries wait.
    QList<QByteArray> ids, rooms;
    for (const MerchantEndpoint &e : m_endpoints) {
        const int free = m_options.maxInFlightPerEndpoint - m_inFlightByEndpoint.value(e.id);
        if (free <= 0)
            continue;
        ids << e.id.toUtf8();
        rooms << QByteArray::number(free);
    }
    if (ids.isEmpty())
        return;
    m_claiming = true;
    m_pg->query(
        "WITH cand AS (SELECT id, endpoint_id, next_attempt_at FROM merchant_webhook_deliveries "
        "WHERE status = 'pending' AND next_attempt_at <= now() AND endpoint_id = ANY($1::text[]) "
        "ORDER BY next_attempt_at LIMIT $2::int * 4 FOR UPDATE SKIP LOCKED), "
        "fair AS (SELECT c.id, c.next_attempt_at, r.room, row_number() OVER "
        "(PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id) AS n FROM cand c "
        "JOIN unnest($1::text[], $4::int[]) AS r(endpoint_id, room) USING (endpoint_id)), "
        "due AS (SELECT id, row_number() OVER (ORDER BY next_attempt_at, id) AS g FROM fair "
        "WHERE n <= room) "
        "UPDATE merchant_webhook_deliveries d "
        "SET next_attempt_at = now() + $3::bigint * interval '1 millisecond' "
        "FROM due WHERE d.id = due.id AND due.g <= $2::int "
        "RETURNING d.id, d.endpoint_id, d.event_id, d.payload, d.attempts",
        {pgArray(ids), QByteArray::number(room), QByteArray::number(leaseMs(m_options)),
         pgArray(rooms)},
        [this](const Result<PgResult> &r) {
            m_claiming = false;
            if (m_stopping)
                return;
            if (!r) {
                qCWarning(lcMerchant).noquote() << "cannot claim deliveries:" << r.error().message;
                return; // the next tick tries again
            }
            for (const auto &row : r->rows)
                send(Claimed{row[0].toLongLong(), QString::fromUtf8(row[1]), row[2], row[3],
                             row[4].toInt()});
        });
}

void MerchantDelivery::send(const Claimed &delivery) {
    const MerchantEndpoint *endpoint = nullptr;
    for (const MerchantEndpoint &e : m_endpoints)
        if (e.id == delivery.endpointId)
            endpoint = &e;
    if (!endpoint)
        return; // claimed only for configured endpoints; cannot happen
    HttpRequest request;
    request.method = "POST";
    request.url = endpoint->url;
    request.timeout = m_options.requestTimeout;
    request.body = delivery.payload;
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    request.headers = {
        {"Content-Type", "application/json"},
        {"User-Agent", "flashsale-webhooks/1"},
        {kWebhookSignatureHeader, webhookSign(endpoint->secrets, now, delivery.payload)},
        {kMerchantEventIdHeader, delivery.eventId},
        {kMerchantAttemptHeader, QByteArray::number(delivery.attempts + 1)},
    };
    ++m_inFlight;
    ++m_inFlightByEndpoint[delivery.endpointId];
    m_http->send(std::move(request), [this, delivery](const Result<HttpResponse> &r) {
        --m_inFlight;
        --m_inFlightByEndpoint[delivery.endpointId];
        if (!r) {
            const char *kind = r.error().code == ErrorCode::Timeout ? "timeout" : "unavailable";
            finish(delivery, 0,
                   QStringLiteral("%1: %2").arg(QLatin1String(kind), r.error().message));
        } else if (r->status >= 200 && r->status < 300) {
            finish(delivery, r->status, {});
        } else {
            finish(delivery, r->status, QStringLiteral("HTTP %1").arg(r->status));
        }
        poll();
    });
}

void MerchantDelivery::finish(const Claimed &delivery, int status, const QString &error) {
    const int attempts = delivery.attempts + 1;
    const QByteArray statusText = status > 0 ? QByteArray::number(status) : QByteArray();
    auto logged = [id = delivery.id](const Result<PgResult> &r) {
        // The lease ends and the delivery is sent again: at least once.
        if (!r)
            qCWarning(lcMerchant).noquote()
                << "cannot record the outcome of delivery" << id << ":" << r.error().message;
    };
    if (error.isEmpty()) {
        deliveries("delivered").inc();
        m_pg->query("UPDATE merchant_webhook_deliveries SET status = 'delivered', attempts = $2, "
                    "delivered_at = now(), last_status = $3, last_error = NULL "
                    "WHERE id = $1 AND status = 'pending'",
                    {QByteArray::number(delivery.id), QByteArray::number(attempts), statusText},
                    logged);
        return;
    }
    if (attempts >= m_options.maxAttempts) {
        deliveries("dead").inc();
        qCWarning(lcMerchant).noquote()
            << "delivery" << delivery.id << "of event" << delivery.eventId << "to"
            << delivery.endpointId << "is a dead letter after" << attempts << "attempts:" << error;
        m_pg->query("UPDATE merchant_webhook_deliveries SET status = 'dead', attempts = $2, "
                    "dead_at = now(), last_status = $3, last_error = $4 "
                    "WHERE id = $1 AND status = 'pending'",
                    {QByteArray::number(delivery.id), QByteArray::number(attempts), statusText,
                     error.toUtf8()},
                    [this, logged](const Result<PgResult> &r) {
                        logged(r);
                        if (!m_stopping)
                            refreshDeadLetters();
                    });
        return;
    }
    deliveries("retry").inc();
    const auto wait = merchantWebhookBackoff(attempts, m_options.backoffBase, m_options.backoffCap,
                                             QRandomGenerator::global()->generateDouble());
    m_pg->query("UPDATE merchant_webhook_deliveries SET attempts = $2, last_status = $3, "
                "last_error = $4, next_attempt_at = now() + $5::bigint * interval '1 millisecond' "
                "WHERE id = $1 AND status = 'pending'",
                {QByteArray::number(delivery.id), QByteArray::number(attempts), statusText,
                 error.toUtf8(), QByteArray::number(qint64(wait.count()))},
                logged);
}

void MerchantDelivery::refreshDeadLetters() {
    m_pg->query("SELECT count(*) FROM merchant_webhook_deliveries WHERE status = 'dead'", {},
                [](const Result<PgResult> &r) {
                    if (r && !r->rows.isEmpty())
                        deadLetters().set(r->rows[0][0].toLongLong());
                });
}

} // namespace flashsale
