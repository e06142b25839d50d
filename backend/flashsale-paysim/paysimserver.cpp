#include "paysimserver.h"

#include "core/fieldreader.h"
#include "core/logging.h"
#include "http/guardedtcpserver.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTimer>

#include <cmath>

namespace flashsale::paysim {

namespace {

// A problem of the simulator's own types (the shared table names the backend's).
Problem problem(int status, const QString &slug, const QString &title, const QString &detail = {}) {
    Problem p = Problem::make(status, slug, detail);
    if (p.title.isEmpty())
        p.title = title;
    return p;
}

Problem invalid(const FieldErrors &errors) {
    QJsonArray list;
    for (const FieldError &e : errors)
        list.append(QJsonObject{{"pointer", e.pointer}, {"detail", e.detail}});
    return problem(400, QStringLiteral("invalid-request"),
                   QStringLiteral("The request is malformed"))
        .with(QStringLiteral("errors"), list);
}

// The body as a JSON object, or the problem to answer.
Result<QJsonObject> jsonBody(const QByteArray &body) {
    QJsonParseError err;
    const QJsonDocument doc = QJsonDocument::fromJson(body, &err);
    if (err.error != QJsonParseError::NoError || !doc.isObject())
        return fail(ErrorCode::Internal,
                    err.error != QJsonParseError::NoError
                        ? QStringLiteral("the body is not JSON: %1 at offset %2")
                              .arg(err.errorString())
                              .arg(err.offset)
                        : QStringLiteral("the body must be a JSON object"));
    return doc.object();
}

// Stripe's keys are up to 255 printable ASCII characters.
bool validKey(const QByteArray &key) {
    if (key.isEmpty() || key.size() > 255)
        return false;
    for (const char c : key) {
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

QByteArray retryAfter(qint64 ms) {
    return QByteArray::number(std::max<qint64>(1, (ms + 999) / 1000));
}

} // namespace

PaySimServer::PaySimServer(const Settings &settings, QObject *parent)
    : QObject(parent)
    , m_settings(settings)
    , m_ledger(settings.ledgerCapacity) {
    m_limits.maxConnections = settings.maxConnections;
    m_limits.maxBodyBytes = settings.maxBodyBytes;
    m_limits.maxHeaderBytes = 8192;
    m_webhooks = std::make_unique<WebhookSender>(settings.webhooks);
    connect(this, &PaySimServer::event, m_webhooks.get(), &WebhookSender::deliver);
}

PaySimServer::~PaySimServer() = default;

Result<quint16> PaySimServer::start() {
    m_clock.start();
    if (m_settings.outageFromS >= 0 && m_settings.outageSeconds > 0) {
        m_outageFromMs = m_settings.outageFromS * 1000;
        m_outageUntilMs = m_outageFromMs + m_settings.outageSeconds * 1000;
    }
    m_tokens = std::max(1.0, m_settings.rateLimitPerS);
    m_http = std::make_unique<HttpServer>();
    m_http->addRoute("POST", QStringLiteral("/v1/payments"),
                     [this](const ExchangePtr &ex, const Params &) { createPayment(ex); });
    m_http->addRoute("GET", QStringLiteral("/v1/payments"),
                     [this](const ExchangePtr &ex, const Params &) { listPayments(ex); });
    m_http->addRoute("GET", QStringLiteral("/v1/payments/{id}"),
                     [this](const ExchangePtr &ex, const Params &p) { getPayment(ex, p.at(0)); });
    m_http->addRoute("POST", QStringLiteral("/v1/refunds"),
                     [this](const ExchangePtr &ex, const Params &) { createRefund(ex); });
    m_http->addRoute(
        "GET", QStringLiteral("/ledger"), [this](const ExchangePtr &ex, const Params &) {
            QByteArray out = m_ledger.ledgerJson();
            out.chop(1); // the closing brace: the webhooks' counts follow
            out += ",\"webhooks\":"
                   + QJsonDocument(m_webhooks->stats()).toJson(QJsonDocument::Compact) + '}';
            ex->send(200, "application/json", out);
        });
    m_http->addRoute("POST", QStringLiteral("/admin/outage"),
                     [this](const ExchangePtr &ex, const Params &) { setOutage(ex); });
    m_http->addRoute("POST", QStringLiteral("/admin/settings"),
                     [this](const ExchangePtr &ex, const Params &) { changeSettings(ex); });
    m_http->addRoute("GET", QStringLiteral("/healthz"), [](const ExchangePtr &ex, const Params &) {
        ex->sendJson(200, QJsonObject{{"status", "ok"}});
    });
    auto *tcp = new GuardedTcpServer(m_limits, m_open);
    if (!tcp->listen(m_settings.listen, m_settings.port)) {
        const QString err = tcp->errorString();
        delete tcp;
        return fail(ErrorCode::Internal, QStringLiteral("cannot listen on %1 port %2: %3")
                                             .arg(m_settings.listen.toString())
                                             .arg(m_settings.port)
                                             .arg(err));
    }
    const quint16 port = tcp->serverPort();
    m_http->bind(tcp); // takes ownership
    return port;
}

qint64 PaySimServer::nowMs() const {
    return QDateTime::currentMSecsSinceEpoch();
}

std::optional<Problem> PaySimServer::gate() {
    const qint64 t = m_clock.elapsed();
    if (m_outageUntilMs > t && t >= m_outageFromMs) {
        return problem(503, QStringLiteral("provider-unavailable"),
                       QStringLiteral("The provider is unavailable"),
                       QStringLiteral("A simulated outage; retry after Retry-After."))
            .header("Retry-After", retryAfter(m_outageUntilMs - t));
    }
    const double rate = m_settings.rateLimitPerS;
    if (rate > 0) {
        // A token bucket holding one second of requests.
        m_tokens = std::min(std::max(1.0, rate), m_tokens + (t - m_tokensAtMs) * rate / 1000.0);
        m_tokensAtMs = t;
        if (m_tokens < 1.0) {
            const qint64 waitMs = qint64(std::ceil((1.0 - m_tokens) * 1000.0 / rate));
            return problem(429, QStringLiteral("rate-limited"), QStringLiteral("Too many requests"),
                           QStringLiteral("The provider's rate limit is %1 requests per second.")
                               .arg(rate))
                .header("Retry-After", retryAfter(waitMs))
                .with(QStringLiteral("retry_after_ms"), waitMs);
        }
        m_tokens -= 1.0;
    }
    return std::nullopt;
}

void PaySimServer::answer(const ExchangePtr &ex, int status, const QJsonObject &body,
                          const HeaderList &extra) {
    if (m_settings.latencyMs <= 0) {
        ex->sendJson(status, body, extra);
        return;
    }
    QTimer::singleShot(m_settings.latencyMs, this,
                       [ex, status, body, extra] { ex->sendJson(status, body, extra); });
}

void PaySimServer::answerProblem(const ExchangePtr &ex, const Problem &p) {
    if (m_settings.latencyMs <= 0) {
        ex->sendProblem(p);
        return;
    }
    QTimer::singleShot(m_settings.latencyMs, this, [ex, p] { ex->sendProblem(p); });
}

void PaySimServer::emitEvent(const QString &type, const QJsonObject &object) {
    emit event(QJsonObject{{"id", QStringLiteral("evt_%1").arg(++m_events)},
                           {"type", type},
                           {"created_ms", nowMs()},
                           {"data", QJsonObject{{"object", object}}}});
}

void PaySimServer::createPayment(const ExchangePtr &ex) {
    if (auto refused = gate())
        return answerProblem(ex, *refused);
    const QByteArray key = ex->header("idempotency-key");
    if (!validKey(key)) {
        return answerProblem(
            ex,
            problem(400, QStringLiteral("idempotency-key-required"),
                    QStringLiteral("An Idempotency-Key is required"),
                    QStringLiteral("Send Idempotency-Key: 1 to 255 printable ASCII characters.")));
    }
    const auto body = jsonBody(ex->body());
    if (!body)
        return answerProblem(ex, invalid({FieldError{QString(), body.error().message}}));
    FieldReader in(*body);
    const auto orderId = in.string(QStringLiteral("order_id"), true, 1, 200);
    const auto amount = in.integer(QStringLiteral("amount_cents"), true, 1, 1'000'000'000'000);
    const auto currency =
        in.string(QStringLiteral("currency"), true, 3, 3,
                  QStringLiteral("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                  QStringLiteral("letters"));
    in.rejectUnknown();
    if (!in.ok())
        return answerProblem(ex, invalid(in.errors()));
    const QString cur = currency->toLower();
    Ledger::Payment first;
    switch (m_ledger.replayPayment(QString::fromLatin1(key), *orderId, *amount, cur, &first)) {
    case Ledger::Replay::Hit:
        return answerPayment(ex, first, true);
    case Ledger::Replay::Mismatch:
        return answerProblem(
            ex, problem(409, QStringLiteral("idempotency-mismatch"),
                        QStringLiteral("Idempotency-Key reused with a different request"),
                        QStringLiteral("This key was first used with another order_id, "
                                       "amount_cents or currency.")));
    case Ledger::Replay::Miss:
        break;
    }
    if (m_ledger.full()) {
        return answerProblem(ex, problem(507, QStringLiteral("ledger-full"),
                                         QStringLiteral("The simulator's ledger is full"),
                                         QStringLiteral("Restart it or raise --ledger-cap.")));
    }
    const bool ok = !Ledger::declines(m_settings.seed, *orderId, m_settings.declinePercent);
    const Ledger::Payment &payment =
        m_ledger.addPayment(QString::fromLatin1(key), *orderId, *amount, cur, ok, nowMs());
    emitEvent(ok ? QStringLiteral("payment.succeeded") : QStringLiteral("payment.failed"),
              Ledger::toJson(payment));
    answerPayment(ex, payment, false);
}

void PaySimServer::answerPayment(const ExchangePtr &ex, const Ledger::Payment &payment,
                                 bool replayed) {
    const HeaderList extra = replayed ? HeaderList{{"Idempotent-Replayed", "true"}} : HeaderList{};
    if (payment.status != QLatin1String("declined"))
        return answer(ex, 201, Ledger::toJson(payment), extra);
    Problem p =
        problem(402, QStringLiteral("card-declined"), QStringLiteral("The payment was declined"));
    p.with(QStringLiteral("payment"), Ledger::toJson(payment));
    p.headers = extra;
    answerProblem(ex, p);
}

void PaySimServer::createRefund(const ExchangePtr &ex) {
    if (auto refused = gate())
        return answerProblem(ex, *refused);
    const QByteArray key = ex->header("idempotency-key");
    if (!key.isEmpty() && !validKey(key)) {
        return answerProblem(
            ex, invalid({FieldError{QString(), QStringLiteral("Idempotency-Key must be 1 to "
                                                              "255 printable ASCII "
                                                              "characters")}}));
    }
    const auto body = jsonBody(ex->body());
    if (!body)
        return answerProblem(ex, invalid({FieldError{QString(), body.error().message}}));
    FieldReader in(*body);
    const auto paymentId = in.string(QStringLiteral("payment_id"), true, 1, 64);
    in.rejectUnknown();
    if (!in.ok())
        return answerProblem(ex, invalid(in.errors()));
    if (!key.isEmpty()) {
        Ledger::Refund first;
        switch (m_ledger.replayRefund(QString::fromLatin1(key), *paymentId, &first)) {
        case Ledger::Replay::Hit:
            return answer(ex, 201, Ledger::toJson(first), {{"Idempotent-Replayed", "true"}});
        case Ledger::Replay::Mismatch:
            return answerProblem(
                ex, problem(409, QStringLiteral("idempotency-mismatch"),
                            QStringLiteral("Idempotency-Key reused with a different request"),
                            QStringLiteral("This key was first used with another payment_id.")));
        case Ledger::Replay::Miss:
            break;
        }
    }
    Ledger::Refund refund;
    switch (m_ledger.refund(QString::fromLatin1(key), *paymentId, nowMs(), &refund)) {
    case Ledger::RefundError::NotFound:
        return answerProblem(ex, problem(404, QStringLiteral("payment-not-found"),
                                         QStringLiteral("No such payment")));
    case Ledger::RefundError::NotRefundable:
        return answerProblem(ex, problem(409, QStringLiteral("payment-not-refundable"),
                                         QStringLiteral("Only a succeeded payment is refunded"),
                                         QStringLiteral("The payment was declined.")));
    case Ledger::RefundError::AlreadyRefunded:
        return answerProblem(ex, problem(409, QStringLiteral("charge-already-refunded"),
                                         QStringLiteral("The payment was already refunded")));
    case Ledger::RefundError::LedgerFull:
        return answerProblem(ex, problem(507, QStringLiteral("ledger-full"),
                                         QStringLiteral("The simulator's ledger is full")));
    case Ledger::RefundError::None:
        break;
    }
    const QJsonObject object = Ledger::toJson(refund);
    emitEvent(QStringLiteral("refund.succeeded"), object);
    answer(ex, 201, object);
}

void PaySimServer::getPayment(const ExchangePtr &ex, const QString &id) {
    if (auto refused = gate())
        return answerProblem(ex, *refused);
    if (const Ledger::Payment *p = m_ledger.payment(id))
        return answer(ex, 200, Ledger::toJson(*p));
    answerProblem(
        ex, problem(404, QStringLiteral("payment-not-found"), QStringLiteral("No such payment")));
}

void PaySimServer::listPayments(const ExchangePtr &ex) {
    if (auto refused = gate())
        return answerProblem(ex, *refused);
    const QUrlQuery &q = ex->query();
    const QString orderId = q.queryItemValue(QStringLiteral("order_id"), QUrl::FullyDecoded);
    if (!orderId.isEmpty()) {
        QJsonArray data;
        for (const Ledger::Payment *p : m_ledger.paymentsOfOrder(orderId))
            data.append(Ledger::toJson(*p));
        return answer(ex, 200,
                      QJsonObject{{"object", "list"}, {"data", data}, {"has_more", false}});
    }
    // Every payment, a page at a time (provider reconciliation): Stripe's limit/starting_after.
    qint64 limit = 100;
    if (q.hasQueryItem(QStringLiteral("limit"))) {
        bool ok = false;
        limit = q.queryItemValue(QStringLiteral("limit")).toLongLong(&ok);
        if (!ok || limit < 1 || limit > 1000)
            return answerProblem(
                ex, invalid({FieldError{QStringLiteral("/limit"), QStringLiteral("1 to 1000")}}));
    }
    const QString after = q.queryItemValue(QStringLiteral("starting_after"), QUrl::FullyDecoded);
    QList<const Ledger::Payment *> page;
    bool hasMore = false;
    if (!m_ledger.paymentsAfter(after, limit, &page, &hasMore))
        return answerProblem(ex, invalid({FieldError{QStringLiteral("/starting_after"),
                                                     QStringLiteral("no such payment")}}));
    QJsonArray data;
    for (const Ledger::Payment *p : page)
        data.append(Ledger::toJson(*p));
    answer(ex, 200, QJsonObject{{"object", "list"}, {"data", data}, {"has_more", hasMore}});
}

void PaySimServer::setOutage(const ExchangePtr &ex) {
    const auto body = jsonBody(ex->body());
    if (!body)
        return ex->sendProblem(invalid({FieldError{QString(), body.error().message}}));
    FieldReader in(*body);
    const auto seconds = in.integer(QStringLiteral("seconds"), true, 0, 86400);
    in.rejectUnknown();
    if (!in.ok())
        return ex->sendProblem(invalid(in.errors()));
    const qint64 t = m_clock.elapsed();
    m_outageFromMs = t;
    m_outageUntilMs = t + *seconds * 1000;
    qCWarning(lcApp) << "outage for" << *seconds << "s";
    ex->sendJson(200, QJsonObject{{"outage_seconds", *seconds}});
}

void PaySimServer::changeSettings(const ExchangePtr &ex) {
    const auto body = jsonBody(ex->body());
    if (!body)
        return ex->sendProblem(invalid({FieldError{QString(), body.error().message}}));
    FieldReader in(*body);
    const auto latency = in.integer(QStringLiteral("latency_ms"), false, 0, 600000);
    const auto decline = in.integer(QStringLiteral("decline_percent"), false, 0, 100);
    const auto rate = in.integer(QStringLiteral("rate_limit_per_s"), false, 0, 1'000'000);
    const auto hookUrl = in.string(QStringLiteral("webhook_url"), false, 0, 2000);
    const auto hookSecretFile = in.string(QStringLiteral("webhook_secret_file"), false, 1, 4096);
    const auto hookRetries = in.integer(QStringLiteral("webhook_retries"), false, 0, 100);
    const auto hookBackoff = in.integer(QStringLiteral("webhook_backoff_ms"), false, 0, 600000);
    const auto hookDuplicate =
        in.integer(QStringLiteral("webhook_duplicate_percent"), false, 0, 100);
    const auto hookReorder = in.integer(QStringLiteral("webhook_reorder_ms"), false, 0, 600000);
    in.rejectUnknown();
    if (!in.ok())
        return ex->sendProblem(invalid(in.errors()));
    WebhookSettings hooks = m_webhooks->settings();
    if (hookUrl) {
        if (!hookUrl->isEmpty() && !hookUrl->startsWith(QLatin1String("http://"))
            && !hookUrl->startsWith(QLatin1String("https://")))
            return ex->sendProblem(invalid({FieldError{
                QStringLiteral("/webhook_url"), QStringLiteral("an http(s) URL, or empty")}}));
        hooks.url = hookUrl->toUtf8();
    }
    if (hookSecretFile) {
        auto secrets = readWebhookSecrets(*hookSecretFile);
        if (!secrets)
            return ex->sendProblem(invalid(
                {FieldError{QStringLiteral("/webhook_secret_file"), secrets.error().message}}));
        hooks.secrets = *secrets;
    }
    if (!hooks.url.isEmpty() && hooks.secrets.isEmpty())
        return ex->sendProblem(
            invalid({FieldError{QStringLiteral("/webhook_url"),
                                QStringLiteral("webhooks need a secret: --webhook-secret-file, or "
                                               "webhook_secret_file here")}}));
    if (latency)
        m_settings.latencyMs = int(*latency);
    if (decline)
        m_settings.declinePercent = double(*decline);
    if (rate) {
        m_settings.rateLimitPerS = double(*rate);
        m_tokens = std::max(1.0, m_settings.rateLimitPerS);
        m_tokensAtMs = m_clock.elapsed();
    }
    if (hookRetries)
        hooks.retries = int(*hookRetries);
    if (hookBackoff)
        hooks.backoffMs = int(*hookBackoff);
    if (hookDuplicate)
        hooks.duplicatePercent = double(*hookDuplicate);
    if (hookReorder)
        hooks.reorderMs = int(*hookReorder);
    m_webhooks->setSettings(hooks);
    ex->sendJson(200, QJsonObject{{"latency_ms", m_settings.latencyMs},
                                  {"decline_percent", m_settings.declinePercent},
                                  {"rate_limit_per_s", m_settings.rateLimitPerS},
                                  {"webhook_url", QString::fromUtf8(hooks.url)},
                                  {"webhook_secrets", int(hooks.secrets.size())},
                                  {"webhook_retries", hooks.retries},
                                  {"webhook_backoff_ms", hooks.backoffMs},
                                  {"webhook_duplicate_percent", hooks.duplicatePercent},
                                  {"webhook_reorder_ms", hooks.reorderMs}});
}

} // namespace flashsale::paysim
