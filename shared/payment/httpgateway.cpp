#include "httpgateway.h"

#include "http/httpclient.h"
#include "metrics/metrics.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>
#include <QPointer>
#include <QRegularExpression>
#include <QTimer>
#include <QUrl>

namespace flashsale {

Q_LOGGING_CATEGORY(lcProvider, "flashsale.payment.provider", QtInfoMsg)

namespace {

Counter &requestCounter(const QByteArray &status) {
    return Metrics::instance().counter(
        "flashsale_payment_provider_requests_total",
        "Requests to the payment provider, by HTTP status (or timeout, unavailable, error).",
        "status=\"" + status + '"');
}

QJsonObject jsonObject(const QByteArray &body) {
    return QJsonDocument::fromJson(body).object();
}

// The problem's slug: "/problems/card-declined" -> "card-declined" (Stripe-shaped providers
// put a code there; paysim a problem type).
QString problemSlug(const QJsonObject &problem) {
    const QString type = problem.value(QStringLiteral("type")).toString();
    return type.mid(type.lastIndexOf(QLatin1Char('/')) + 1);
}

// The wait a 429 or 503 asks for, in ms: retry_after_ms when the body has it, else Retry-After
// (delta seconds), else one second.
qint64 askedWaitMs(const HttpResponse &r, const QJsonObject &problem) {
    const qint64 ms = problem.value(QStringLiteral("retry_after_ms")).toInteger(-1);
    bool ok = false;
    const qint64 seconds = r.header("retry-after").trimmed().toLongLong(&ok);
    qint64 wait = ok && seconds >= 0 ? seconds * 1000 : -1;
    if (ms >= 0)
        wait = qMax(wait, ms);
    return wait >= 0 ? wait : 1000;
}

// The errors of an answer that is not the operation's success (shared by every call).
Error answerError(const QByteArray &what, const HttpResponse &r) {
    const QJsonObject problem = jsonObject(r.body);
    const QString slug = problemSlug(problem);
    const QString text = QStringLiteral("%1: the provider answered %2 %3")
                             .arg(QString::fromLatin1(what))
                             .arg(r.status)
                             .arg(slug.isEmpty() ? QStringLiteral("(no problem type)") : slug);
    if (r.status == 429 || r.status == 503)
        return Error{ErrorCode::Unavailable,
                     text + QStringLiteral(", retry after %1 ms").arg(askedWaitMs(r, problem))};
    if (r.status >= 500)
        return Error{ErrorCode::Unavailable, text};
    if (r.status == 409)
        return Error{ErrorCode::Conflict, text};
    if (r.status == 404)
        return Error{ErrorCode::NotFound, text};
    return Error{ErrorCode::Invalid, text};
}

Error transportError(const QByteArray &what, const Error &e) {
    // Timeout and connection errors alike: the request may have reached the provider, so the
    // only safe next step is the same request under the same key.
    return Error{ErrorCode::Unavailable,
                 QStringLiteral("%1: %2").arg(QString::fromLatin1(what), e.message)};
}

std::optional<ProviderPayment> providerPayment(const QJsonObject &o) {
    ProviderPayment p;
    p.id = o.value(QStringLiteral("id")).toString().toUtf8();
    bool ok = false;
    p.orderId = o.value(QStringLiteral("order_id")).toString().toLongLong(&ok);
    p.status = o.value(QStringLiteral("status")).toString().toUtf8();
    p.amountCents = o.value(QStringLiteral("amount_cents")).toInteger();
    p.createdMs = o.value(QStringLiteral("created_ms")).toInteger();
    p.idempotencyKey = o.value(QStringLiteral("idempotency_key")).toString().toUtf8();
    if (p.id.isEmpty() || p.status.isEmpty())
        return std::nullopt;
    if (!ok)
        p.orderId = 0; // not one of ours (order ids are decimal): reconciliation reports it
    return p;
}

} // namespace

HttpGateway::HttpGateway(Options options, QObject *parent)
    : QObject(parent)
    , m_options(std::move(options)) {
    while (m_options.baseUrl.endsWith('/'))
        m_options.baseUrl.chop(1);
    HttpClient::Options o;
    o.maxConnectionsPerHost = m_options.maxConnections;
    o.maxConnections = m_options.maxConnections;
    o.name = QStringLiteral("payment-provider");
    m_http = std::make_unique<HttpClient>(o);
}

HttpGateway::~HttpGateway() = default;

QByteArray HttpGateway::refundKey(qint64 orderId) {
    return "refund-order-" + QByteArray::number(orderId);
}

std::optional<qint64> HttpGateway::retryAfterMs(const Error &error) {
    static const QRegularExpression re(QStringLiteral("retry after (\\d+) ms$"));
    if (error.code != ErrorCode::Unavailable)
        return std::nullopt;
    const auto m = re.match(error.message);
    if (!m.hasMatch())
        return std::nullopt;
    return m.captured(1).toLongLong();
}

void HttpGateway::send(QByteArray method, const QByteArray &path, QByteArray body, QByteArray key,
                       std::function<void(const Result<HttpResponse> &)> done) {
    HttpRequest req;
    req.method = std::move(method);
    req.url = m_options.baseUrl + path;
    req.timeout = m_options.timeout;
    req.body = std::move(body);
    if (!req.body.isEmpty())
        req.headers.append(qMakePair(QByteArray("Content-Type"), QByteArray("application/json")));
    if (!key.isEmpty())
        req.headers.append(qMakePair(QByteArray("Idempotency-Key"), key));
    if (!m_options.apiKey.isEmpty())
        req.headers.append(qMakePair(QByteArray("Authorization"), "Bearer " + m_options.apiKey));
    const auto now = std::chrono::steady_clock::now();
    if (now < m_pausedUntil) {
        // The provider asked for a pause (429 or 503 with Retry-After) that has not passed:
        // refused here, without a request, so no retry loop can hammer it meanwhile.
        const qint64 left =
            std::chrono::ceil<std::chrono::milliseconds>(m_pausedUntil - now).count();
        requestCounter("held").inc();
        QTimer::singleShot(0, this, [left, done = std::move(done)] {
            done(fail(ErrorCode::Unavailable,
                      QStringLiteral("held back: the provider asked for a pause, retry after %1 ms")
                          .arg(left)));
        });
        return;
    }
    QPointer<HttpGateway> self(this);
    m_http->send(std::move(req), [self, done = std::move(done)](const Result<HttpResponse> &r) {
        if (!self)
            return;
        if (r)
            requestCounter(QByteArray::number(r->status)).inc();
        else
            requestCounter(r.error().code == ErrorCode::Timeout       ? "timeout"
                           : r.error().code == ErrorCode::Unavailable ? "unavailable"
                                                                      : "error")
                .inc();
        if (r && (r->status == 429 || r->status == 503)) {
            const auto until = std::chrono::steady_clock::now()
                               + std::chrono::milliseconds(askedWaitMs(*r, jsonObject(r->body)));
            self->m_pausedUntil = std::max(self->m_pausedUntil, until);
        }
        done(r);
    });
}

void HttpGateway::charge(const ChargeRequest &request,
                         std::function<void(const Result<ChargeOutcome> &)> done) {
    const QByteArray body = QJsonDocument(QJsonObject{
                                              {"order_id", QString::number(request.orderId)},
                                              {"amount_cents", request.amountCents},
                                              {"currency", QString::fromLatin1(m_options.currency)},
                                          })
                                .toJson(QJsonDocument::Compact);
    const qint64 orderId = request.orderId;
    const QByteArray key = request.idempotencyKey;
    send("POST", "/v1/payments", body, key,
         [orderId, key, done = std::move(done)](const Result<HttpResponse> &r) {
             const QByteArray what = "charge of order " + QByteArray::number(orderId);
             if (!r)
                 return done(std::unexpected(transportError(what, r.error())));
             const QJsonObject o = jsonObject(r->body);
             if (r->status == 201 || r->status == 200) {
                 const QString status = o.value(QStringLiteral("status")).toString();
                 ChargeOutcome c;
                 c.providerRef = o.value(QStringLiteral("id")).toString().toUtf8();
                 c.approved =
                     status == QLatin1String("succeeded") || status == QLatin1String("refunded");
                 if (c.providerRef.isEmpty() || !c.approved
                     || o.value(QStringLiteral("order_id")).toString()
                            != QString::number(orderId)) {
                     qCWarning(lcProvider).noquote()
                         << what << ": an unreadable 2xx answer:" << r->body.left(300);
                     return done(fail(ErrorCode::Protocol,
                                      QString::fromLatin1(what)
                                          + QStringLiteral(": the provider's 2xx answer is not a "
                                                           "succeeded payment of this order")));
                 }
                 return done(c);
             }
             if (r->status == 402) {
                 ChargeOutcome c;
                 c.approved = false;
                 c.providerRef = o.value(QStringLiteral("payment"))
                                     .toObject()
                                     .value(QStringLiteral("id"))
                                     .toString()
                                     .toUtf8();
                 c.declineReason = o.value(QStringLiteral("detail")).toString();
                 if (c.declineReason.isEmpty())
                     c.declineReason = o.value(QStringLiteral("title")).toString();
                 if (c.declineReason.isEmpty())
                     c.declineReason = QStringLiteral("declined by the provider");
                 return done(c);
             }
             const Error e = answerError(what, *r);
             if (r->status == 409)
                 // The same key was first used with another body: a defect (the order's amount
                 // changed?) that no retry can fix, and a new key could charge twice.
                 qCCritical(lcProvider).noquote()
                     << what << "under Idempotency-Key" << key
                     << "was refused 409 (idempotency mismatch): NOT retried, not re-keyed; "
                        "reconcile this order by hand";
             else if (e.code != ErrorCode::Unavailable)
                 qCWarning(lcProvider).noquote() << e.message << r->body.left(300);
             done(std::unexpected(e));
         });
}

void HttpGateway::refund(const ChargeRequest &request,
                         std::function<void(const Result<void> &)> done) {
    if (!request.providerRef.isEmpty())
        return refundPayment(request, request.providerRef, std::move(done));
    // No payment id recorded (a capture learnt elsewhere): the order's payment that took money.
    const QByteArray what = "refund of order " + QByteArray::number(request.orderId);
    QPointer<HttpGateway> self(this);
    send("GET", "/v1/payments?order_id=" + QByteArray::number(request.orderId), {}, {},
         [self, request, what, done = std::move(done)](const Result<HttpResponse> &r) {
             if (!r)
                 return done(std::unexpected(transportError(what, r.error())));
             if (r->status != 200)
                 return done(std::unexpected(answerError(what, *r)));
             const QJsonArray data = jsonObject(r->body).value(QStringLiteral("data")).toArray();
             for (const QJsonValue &v : data) {
                 const QJsonObject p = v.toObject();
                 const QString status = p.value(QStringLiteral("status")).toString();
                 if (status == QLatin1String("succeeded") || status == QLatin1String("refunded"))
                     return self->refundPayment(
                         request, p.value(QStringLiteral("id")).toString().toUtf8(), done);
             }
             done(fail(ErrorCode::NotFound,
                       QString::fromLatin1(what)
                           + QStringLiteral(": the provider holds no payment that took money")));
         });
}

void HttpGateway::refundPayment(const ChargeRequest &request, const QByteArray &paymentId,
                                std::function<void(const Result<void> &)> done) {
    const QByteArray what = "refund of order " + QByteArray::number(request.orderId);
    const QByteArray body = QJsonDocument(QJsonObject{{"payment_id", QString::fromUtf8(paymentId)}})
                                .toJson(QJsonDocument::Compact);
    send("POST", "/v1/refunds", body, refundKey(request.orderId),
         [what, done = std::move(done)](const Result<HttpResponse> &r) {
             if (!r)
                 return done(std::unexpected(transportError(what, r.error())));
             if (r->status == 201 || r->status == 200)
                 return done({});
             const QJsonObject o = jsonObject(r->body);
             if (r->status == 409 && problemSlug(o) == QLatin1String("charge-already-refunded"))
                 return done({}); // refunded before (another key, or by hand): the money is back
             const Error e = answerError(what, *r);
             if (r->status == 409 && problemSlug(o) == QLatin1String("idempotency-mismatch"))
                 qCCritical(lcProvider).noquote()
                     << what << "was refused 409 (idempotency mismatch): NOT retried";
             else if (e.code != ErrorCode::Unavailable)
                 qCWarning(lcProvider).noquote() << e.message << r->body.left(300);
             done(std::unexpected(e));
         });
}

void HttpGateway::listPayments(const QByteArray &startingAfter, int limit,
                               std::function<void(const Result<ProviderPage> &)> done) {
    QByteArray path = "/v1/payments?limit=" + QByteArray::number(qBound(1, limit, 1000));
    if (!startingAfter.isEmpty())
        path += "&starting_after=" + QUrl::toPercentEncoding(QString::fromUtf8(startingAfter));
    send("GET", path, {}, {}, [done = std::move(done)](const Result<HttpResponse> &r) {
        const QByteArray what = "list of payments";
        if (!r)
            return done(std::unexpected(transportError(what, r.error())));
        if (r->status != 200)
            return done(std::unexpected(answerError(what, *r)));
        QJsonParseError err;
        const QJsonDocument doc = QJsonDocument::fromJson(r->body, &err);
        const QJsonObject o = doc.object();
        if (err.error != QJsonParseError::NoError || !o.value(QStringLiteral("data")).isArray()) {
            return done(fail(ErrorCode::Protocol,
                             QStringLiteral("list of payments: the answer is not a list")));
        }
        ProviderPage page;
        page.hasMore = o.value(QStringLiteral("has_more")).toBool();
        for (const QJsonValue &v : o.value(QStringLiteral("data")).toArray()) {
            const auto p = providerPayment(v.toObject());
            if (!p)
                return done(fail(ErrorCode::Protocol,
                                 QStringLiteral("list of payments: an entry without id or "
                                                "status")));
            page.data.append(*p);
        }
        done(page);
    });
}

} // namespace flashsale
