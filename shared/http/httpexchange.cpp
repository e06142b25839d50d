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
        return QByteArrayLiteral("GET");
    case QHttpServerRequest::Method::Post:
        return QByteArrayLiteral("POST");
    case QHttpServerRequest::Method::Put:
        return QByteArrayLiteral("PUT");
    case QHttpServerRequest::Method::Delete:
        return QByteArrayLiteral("DELETE");
    case QHttpServerRequest::Method::Head:
        return QByteArrayLiteral("HEAD");
    case QHttpServerRequest::Method::Options:
        return QByteArrayLiteral("OPTIONS");
    case QHttpServerRequest::Method::Patch:
        return QByteArrayLiteral("PATCH");
    default:
        return QByteArrayLiteral("OTHER");
    }
}

namespace {

std::atomic<Histogram *> g_latency{nullptr};

// Appends n in decimal without a temporary QByteArray.
void appendDecimal(QByteArray &out, qint64 n) {
    char digits[24];
    int i = sizeof digits;
    const bool negative = n < 0;
    quint64 u = negative ? 0 - quint64(n) : quint64(n);
    do {
        digits[--i] = char('0' + u % 10);
        u /= 10;
    } while (u);
    if (negative)
        digits[--i] = '-';
    out.append(digits + i, qsizetype(sizeof digits) - i);
}

Counter &requestCounter(const QByteArray &route, const QByteArray &method, int status) {
    // Cached per thread: the registry lookup takes a lock, the counter itself does not. The key
    // is built in a buffer the thread reuses (no allocation once it is large enough); only a
    // new combination copies it.
    thread_local QHash<QByteArray, Counter *> cache;
    thread_local QByteArray key;
    key.resize(0);
    key.append(method).append(' ').append(route).append(' ');
    appendDecimal(key, status);
    if (Counter *c = cache.value(key))
        return *c;
    Counter &c = Metrics::instance().counter(
        "flashsale_http_requests_total", "HTTP requests answered, by route, method and status.",
        "route=\"" + labelValue(route) + "\",method=\"" + method + "\",code=\""
            + QByteArray::number(status) + '"');
    cache.insert(QByteArray(key.constData(), key.size()), &c);
    return c;
}

// The reason phrase of the status line (RFC 9110 section 15); empty for others, which RFC 9112
// allows.
const char *reasonPhrase(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 425:
        return "Too Early";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
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
    // The whole answer in one buffer and one write to the socket (QHttpServerResponder 6.4 makes
    // four QIODevice::write calls per header line). The socket copies it, so the buffer is the
    // thread's, reused. What QHttpServerResponder would write, byte for byte but the reason
    // phrase of statuses it does not know.
    thread_local QByteArray out;
    out.resize(0);
    out.reserve(160 + body.size());
    out.append("HTTP/1.1 ");
    appendDecimal(out, status);
    out.append(' ').append(reasonPhrase(status)).append("\r\nContent-Type: ").append(contentType);
    out.append("\r\nContent-Length: ");
    appendDecimal(out, body.size());
    out.append("\r\nCache-Control: no-store\r\n");
    for (const auto &h : extra)
        out.append(h.first).append(": ").append(h.second).append("\r\n");
    out.append("\r\n").append(body);
    m_socket->write(out);
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
