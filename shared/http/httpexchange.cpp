#include "httpexchange.h"

#include "core/logging.h"
#include "metrics/metrics.h"

#include <QHttpServerRequest>
#include <QJsonObject>

#include <sys/socket.h>

#include <cerrno>

namespace flashsale {

QByteArray httpMethodName(QHttpServerRequest::Method m) {
    switch (m) {
    case QHttpServerRequest::Method::Get:
        return "GET";
    case QHttpServerRequest::Method::Post:
        return "POST";
    case QHttpServerRequest::Method::Put:
        return "PUT";
    case QHttpServerRequest::Method::Delete:
        return "DELETE";
    case QHttpServerRequest::Method::Head:
        return "HEAD";
    case QHttpServerRequest::Method::Options:
        return "OPTIONS";
    case QHttpServerRequest::Method::Patch:
        return "PATCH";
    default:
        return "OTHER";
    }
}

namespace {

std::atomic<Histogram *> g_latency{nullptr};

Counter &requestCounter(const QByteArray &route, const QByteArray &method, int status) {
    // Cached per thread: the registry lookup takes a lock, the counter itself does not.
    thread_local QHash<QByteArray, Counter *> cache;
    const QByteArray key = method + ' ' + route + ' ' + QByteArray::number(status);
    if (Counter *c = cache.value(key))
        return *c;
    Counter &c = Metrics::instance().counter(
        "flashsale_http_requests_total", "HTTP requests answered, by route, method and status.",
        "route=\"" + labelValue(route) + "\",method=\"" + method + "\",code=\""
            + QByteArray::number(status) + '"');
    cache.insert(key, &c);
    return c;
}

} // namespace

void HttpExchange::setLatencyHistogram(Histogram *h) {
    g_latency.store(h);
}

HttpExchange::HttpExchange(const QHttpServerRequest &request, QHttpServerResponder &&responder,
                           QByteArray route)
    : m_method(httpMethodName(request.method()))
    , m_path(request.url().path())
    , m_query(request.query())
    , m_body(request.body())
    , m_remote(request.remoteAddress())
    , m_headers(request.headers())
    , m_route(std::move(route))
    , m_socket(responder.socket())
    , m_responder(std::move(responder))
    , m_started(std::chrono::steady_clock::now()) {
    m_receivedAtUs = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
}

HttpExchange::~HttpExchange() {
    if (!m_answered) {
        qCWarning(lcHttp) << "no answer for" << m_method << m_path << "- sending 500";
        sendProblem(Problem::make(500, QStringLiteral("internal"),
                                  QStringLiteral("The request was dropped.")));
    }
}

QByteArray HttpExchange::header(const QByteArray &name) const {
    for (const auto &h : m_headers) {
        if (h.first.compare(name, Qt::CaseInsensitive) == 0)
            return h.second;
    }
    return {};
}

void HttpExchange::send(int status, const QByteArray &contentType, const QByteArray &body,
                        const HeaderList &extra) {
    if (m_answered) {
        qCWarning(lcHttp) << "second answer for" << m_method << m_path << "ignored";
        return;
    }
    m_answered = true;
    requestCounter(m_route, m_method, status).inc();
    Histogram *all = g_latency.load();
    if (all || m_routeLatency) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - m_started).count();
        if (all)
            all->observe(seconds);
        if (m_routeLatency)
            m_routeLatency->observe(seconds);
    }
    if (!m_socket || m_socket->state() != QAbstractSocket::ConnectedState)
        return; // the client went away; nobody to answer
    m_responder.writeStatusLine(static_cast<QHttpServerResponder::StatusCode>(status));
    m_responder.writeHeader("Content-Type", contentType);
    m_responder.writeHeader("Content-Length", QByteArray::number(body.size()));
    m_responder.writeHeader("Cache-Control", "no-store");
    for (const auto &h : extra)
        m_responder.writeHeader(h.first, h.second);
    m_responder.writeBody(body);
}

bool HttpExchange::clientGone() const {
    if (!m_socket || m_socket->state() != QAbstractSocket::ConnectedState)
        return true;
    const qintptr fd = m_socket->socketDescriptor();
    if (fd < 0)
        return true;
    char next = 0;
    const ssize_t n = ::recv(int(fd), &next, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return true; // the client's FIN: everything it sent has been read, and it sends no more
    if (n < 0)
        return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR; // reset, or worse
    return false;
}

void HttpExchange::sendJson(int status, const QJsonObject &body, const HeaderList &extra) {
    send(status, "application/json", QJsonDocument(body).toJson(QJsonDocument::Compact), extra);
}

void HttpExchange::sendProblem(const Problem &problem) {
    send(problem.status, "application/problem+json", problem.toJson(m_path), problem.headers);
}

} // namespace flashsale
