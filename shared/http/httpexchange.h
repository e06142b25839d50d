#pragma once

#include "http/problem.h"

#include <QByteArray>
#include <QHostAddress>
#include <QHttpServerResponder>
#include <QJsonDocument>
#include <QPointer>
#include <QTcpSocket>
#include <QUrlQuery>

#include <chrono>
#include <memory>

#include <QHttpServerRequest>

namespace flashsale {

class Histogram;

// "GET", "POST", ...; "OTHER" for methods no route uses.
QByteArray httpMethodName(QHttpServerRequest::Method method);

// One HTTP request and the means to answer it, later, from the event loop.
//
// QHttpServerRequest is reused by the server once the handler returns, so everything a handler
// needs is copied here first. The client may disconnect before the answer is ready; the socket
// is then deleted, and writing through the responder would be a use-after-free. send() writes
// only while the socket is alive and connected, and otherwise drops the answer.
//
// Handlers receive it as std::shared_ptr and may keep it in callbacks. Exactly one send() per
// exchange; a second one is ignored with a warning.
class HttpExchange {
public:
    HttpExchange(const QHttpServerRequest &request, QHttpServerResponder &&responder,
                 QByteArray route);
    ~HttpExchange();

    QByteArray method() const { return m_method; }
    QString path() const { return m_path; }
    const QUrlQuery &query() const { return m_query; }
    const QByteArray &body() const { return m_body; }
    QHostAddress remoteAddress() const { return m_remote; }
    const QByteArray &route() const { return m_route; }
    // When the request was read, in microseconds since the epoch (wall clock).
    qint64 receivedAtUs() const { return m_receivedAtUs; }
    // Case-insensitive header lookup; empty when absent.
    QByteArray header(const QByteArray &name) const;

    void send(int status, const QByteArray &contentType, const QByteArray &body,
              const HeaderList &extra = {});
    void sendJson(int status, const QJsonObject &body, const HeaderList &extra = {});
    void sendProblem(const Problem &problem);
    bool answered() const { return m_answered; }
    // Whether the client has closed (or reset) its side of the connection since it sent this
    // request: it gave up waiting, typically its own timeout while this process was stalled, and
    // will retry elsewhere or not at all. Looks at the socket without reading from it (recv with
    // MSG_PEEK, as nginx does before it passes a request upstream). A client that pipelined
    // another request after this one, or sent nothing more, is still there.
    bool clientGone() const;

    // Observed with the total handling time when the answer is written.
    static void setLatencyHistogram(Histogram *h);
    // This exchange's answer is observed in `h` too (a route's own histogram, resolved once by
    // the route: no lookup per request). `h` must outlive the exchange.
    void alsoObserveIn(Histogram *h) { m_routeLatency = h; }

private:
    QByteArray m_method;
    QString m_path;
    QUrlQuery m_query;
    QByteArray m_body;
    QHostAddress m_remote;
    QList<QPair<QByteArray, QByteArray>> m_headers;
    QByteArray m_route;
    QPointer<QTcpSocket> m_socket;
    QHttpServerResponder m_responder;
    std::chrono::steady_clock::time_point m_started;
    qint64 m_receivedAtUs = 0;
    Histogram *m_routeLatency = nullptr;
    bool m_answered = false;
};

using ExchangePtr = std::shared_ptr<HttpExchange>;

} // namespace flashsale
