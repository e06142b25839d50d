#include "paymentwebhook.h"

#include "api/apiroutes.h"
#include "core/config.h"
#include "http/httpserver.h"
#include "metrics/metrics.h"
#include "webhook/signature.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>

namespace flashsale {

Q_LOGGING_CATEGORY(lcPaymentWebhook, "flashsale.payment.webhook", QtInfoMsg)

namespace {

using Kind = PaymentWebhookEventError::Kind;

Counter &webhookCounter(const char *result) {
    return Metrics::instance().counter(
        "flashsale_payment_webhooks_total",
        "Payment provider webhooks received, by how they ended (applied, duplicate, ignored, "
        "refund_queued, unknown_order, unhandled_type, forged, stale, invalid, too_large, "
        "unavailable).",
        QByteArray("result=\"") + result + '"');
}

std::unexpected<PaymentWebhookEventError> eventError(Kind kind, const QString &pointer,
                                                     const QString &detail) {
    return std::unexpected(PaymentWebhookEventError{kind, pointer, detail});
}

// Reads members of one JSON object strictly, remembering the first error.
class Members {
public:
    Members(const QJsonObject &o, QString base)
        : m_o(o)
        , m_base(std::move(base)) {}

    std::optional<QString> string(const char *name) {
        const QString pointer = m_base + QLatin1Char('/') + QLatin1String(name);
        const QJsonValue v = m_o.value(QLatin1String(name));
        if (v.isUndefined())
            return failed(Kind::MissingMember, pointer, QStringLiteral("is required"));
        if (!v.isString())
            return failed(Kind::WrongType, pointer, QStringLiteral("must be a string"));
        if (v.toString().isEmpty() || v.toString().size() > 255)
            return failed(Kind::BadValue, pointer, QStringLiteral("must be 1 to 255 characters"));
        return v.toString();
    }
    std::optional<QJsonObject> object(const char *name) {
        const QString pointer = m_base + QLatin1Char('/') + QLatin1String(name);
        const QJsonValue v = m_o.value(QLatin1String(name));
        if (v.isUndefined())
            return failed<QJsonObject>(Kind::MissingMember, pointer, QStringLiteral("is required"));
        if (!v.isObject())
            return failed<QJsonObject>(Kind::NotAnObject, pointer,
                                       QStringLiteral("must be an object"));
        return v.toObject();
    }
    bool integer(const char *name) {
        const QString pointer = m_base + QLatin1Char('/') + QLatin1String(name);
        const QJsonValue v = m_o.value(QLatin1String(name));
        if (v.isUndefined())
            return failed<bool>(Kind::MissingMember, pointer, QStringLiteral("is required"))
                .has_value();
        if (!v.isDouble() || v.toDouble() != double(v.toInteger()) || v.toInteger() < 0)
            return failed<bool>(Kind::WrongType, pointer,
                                QStringLiteral("must be a non-negative integer"))
                .has_value();
        return true;
    }
    // A positive decimal order id ("42"), as the provider echoes what it was sent.
    std::optional<qint64> orderId(const char *name) {
        const auto s = string(name);
        if (!s)
            return std::nullopt;
        bool ok = false;
        const qint64 id = s->toLongLong(&ok);
        if (!ok || id <= 0 || QString::number(id) != *s)
            return failed<qint64>(Kind::BadValue, m_base + QLatin1Char('/') + QLatin1String(name),
                                  QStringLiteral("must be a positive decimal order id"));
        return id;
    }
    std::optional<PaymentWebhookEventError> error;

    template<typename T = QString>
    std::optional<T> failed(Kind kind, const QString &pointer, const QString &detail) {
        if (!error)
            error = PaymentWebhookEventError{kind, pointer, detail};
        return std::nullopt;
    }

private:
    QJsonObject m_o;
    QString m_base;
};

void acknowledge(const ExchangePtr &ex, const QByteArray &eventId, const char *result,
                 const QString &note = {}) {
    QJsonObject body{{"received", true},
                     {"event", QString::fromUtf8(eventId)},
                     {"result", QLatin1String(result)}};
    if (!note.isEmpty())
        body.insert(QStringLiteral("note"), note);
    ex->sendJson(200, body);
}

} // namespace

std::expected<PaymentWebhookEvent, PaymentWebhookEventError>
parsePaymentWebhookEvent(const QByteArray &body) {
    QJsonParseError err;
    const QJsonDocument doc = QJsonDocument::fromJson(body, &err);
    if (err.error != QJsonParseError::NoError)
        return eventError(
            Kind::NotJson, QString(),
            QStringLiteral("not JSON: %1 at offset %2").arg(err.errorString()).arg(err.offset));
    if (!doc.isObject())
        return eventError(Kind::NotAnObject, QString(), QStringLiteral("must be a JSON object"));
    Members top(doc.object(), QString());
    const auto id = top.string("id");
    const auto type = top.string("type");
    top.integer("created_ms");
    const auto data = top.object("data");
    if (top.error)
        return std::unexpected(*top.error);
    Members dataMembers(*data, QStringLiteral("/data"));
    const auto object = dataMembers.object("object");
    if (dataMembers.error)
        return std::unexpected(*dataMembers.error);

    PaymentWebhookEvent event;
    event.id = id->toUtf8();
    event.type = type->toUtf8();
    Members o(*object, QStringLiteral("/data/object"));
    ProviderOutcome outcome;
    outcome.eventId = event.id;
    outcome.source = "webhook";
    if (*type == QLatin1String("payment.succeeded") || *type == QLatin1String("payment.failed")) {
        const bool succeeded = *type == QLatin1String("payment.succeeded");
        const auto ref = o.string("id");
        const auto orderId = o.orderId("order_id");
        const auto status = o.string("status");
        if (o.error)
            return std::unexpected(*o.error);
        const QLatin1String expected(succeeded ? "succeeded" : "declined");
        if (*status != expected)
            return eventError(Kind::BadValue, QStringLiteral("/data/object/status"),
                              QStringLiteral("must be '%1' in a %2 event").arg(expected, *type));
        outcome.kind = succeeded ? ProviderOutcome::Kind::Succeeded : ProviderOutcome::Kind::Failed;
        outcome.orderId = *orderId;
        outcome.providerRef = ref->toUtf8();
        if (!succeeded)
            outcome.reason = QStringLiteral("declined by the provider");
        event.outcome = outcome;
    } else if (*type == QLatin1String("refund.succeeded")) {
        o.string("id");
        const auto paymentId = o.string("payment_id");
        const auto orderId = o.orderId("order_id");
        if (o.error)
            return std::unexpected(*o.error);
        outcome.kind = ProviderOutcome::Kind::Refunded;
        outcome.orderId = *orderId;
        outcome.providerRef = paymentId->toUtf8();
        event.outcome = outcome;
    }
    return event;
}

PaymentWebhook::PaymentWebhook(Settings settings, PgConnection &pg, RedisCommands &redis,
                               QObject *parent)
    : QObject(parent)
    , m_settings(std::move(settings))
    , m_outcomes(pg, redis) {
    // A provider delivers one webhook per payment: at thousands of payments a second, one
    // statement per webhook would cost the API thread's PostgreSQL connection more than the
    // payment service's batched writes. Webhooks arriving within 2 ms share one statement.
    m_outcomes.setBatching(256, 2);
}

void PaymentWebhook::install(HttpServer &server) {
    server.addRoute(
        "POST", QStringLiteral("/api/v1/payments/webhook"),
        [this](const ExchangePtr &ex, const QStringList &) {
            if (ex->body().size() > m_settings.maxBodyBytes) {
                webhookCounter("too_large").inc();
                return ex->sendProblem(
                    Problem::make(413, QStringLiteral("request-too-large"),
                                  QStringLiteral("A webhook body is at most %1 bytes.")
                                      .arg(m_settings.maxBodyBytes)));
            }
            // The signature covers the raw bytes as they arrived: verified before any parsing.
            const WebhookVerdict verdict =
                webhookVerify(ex->header(kWebhookSignatureHeader), ex->body(), m_settings.secrets,
                              QDateTime::currentSecsSinceEpoch(), m_settings.toleranceSeconds);
            if (!verdict.ok()) {
                const bool stale = verdict.status == WebhookVerdict::Status::Stale;
                webhookCounter(stale ? "stale" : "forged").inc();
                qCWarning(lcPaymentWebhook).noquote()
                    << "refused a webhook from" << ex->remoteAddress().toString() << ":"
                    << webhookVerdictText(verdict);
                return ex->sendProblem(
                    Problem::make(401,
                                  stale ? QStringLiteral("webhook-signature-stale")
                                        : QStringLiteral("webhook-signature-invalid"),
                                  webhookVerdictText(verdict)));
            }
            auto event = parsePaymentWebhookEvent(ex->body());
            if (!event) {
                webhookCounter("invalid").inc();
                qCWarning(lcPaymentWebhook).noquote()
                    << "a signed webhook is not a valid event:" << event.error().pointer
                    << event.error().detail;
                return ex->sendProblem(
                    Problem::make(400, QStringLiteral("webhook-event-invalid"),
                                  event.error().detail)
                        .with(QStringLiteral("errors"),
                              QJsonArray{QJsonObject{{"pointer", event.error().pointer},
                                                     {"detail", event.error().detail}}}));
            }
            if (!event->outcome) {
                webhookCounter("unhandled_type").inc();
                return acknowledge(ex, event->id, "ignored",
                                   QStringLiteral("event type %1 is not acted on")
                                       .arg(QString::fromUtf8(event->type)));
            }
            const QByteArray eventId = event->id;
            const qint64 orderId = event->outcome->orderId;
            m_outcomes.apply(*event->outcome, [ex, eventId,
                                               orderId](const Result<OutcomeApplied> &applied) {
                if (!applied) {
                    webhookCounter("unavailable").inc();
                    qCWarning(lcPaymentWebhook).noquote()
                        << "webhook" << eventId << "of order" << orderId
                        << "not applied (the provider will retry):" << applied.error().message;
                    return ex->sendProblem(ApiRoutes::dependencyProblem(applied.error()));
                }
                const char *result = outcomeAppliedName(*applied);
                webhookCounter(result).inc();
                if (*applied == OutcomeApplied::UnknownOrder) {
                    qCWarning(lcPaymentWebhook).noquote()
                        << "webhook" << eventId << "names order" << orderId
                        << "which has no payment here: acknowledged, not applied";
                    return acknowledge(
                        ex, eventId, result,
                        QStringLiteral("no payment of order %1 here; not applied").arg(orderId));
                }
                acknowledge(ex, eventId, result);
            });
        });
}

void installPaymentWebhook(HttpServer &server, const Config &config, PgConnection &pg,
                           RedisCommands &redis) {
    PaymentWebhook::Settings s;
    s.secrets = config.paymentWebhookSecrets;
    s.toleranceSeconds = config.paymentWebhookToleranceSeconds;
    if (s.secrets.isEmpty())
        qCInfo(lcPaymentWebhook) << "no --payment-webhook-secret-file: every provider webhook is "
                                    "refused (401)";
    auto *webhook = new PaymentWebhook(s, pg, redis, &server);
    webhook->install(server);
}

} // namespace flashsale
