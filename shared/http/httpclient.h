#pragma once

#include "core/result.h"
#include "http/problem.h"

#include <QByteArray>
#include <QObject>
#include <QString>

#include <chrono>
#include <functional>
#include <memory>

namespace flashsale {

// One outgoing HTTP request.
struct HttpRequest {
    QByteArray method = "GET";
    QByteArray url; // http:// or https:// only; redirects are not followed
    HeaderList headers;
    QByteArray body;
    std::chrono::milliseconds timeout{5000}; // the whole exchange, connect to last byte

    static HttpRequest get(QByteArray url, HeaderList headers = {}) {
        HttpRequest r;
        r.url = std::move(url);
        r.headers = std::move(headers);
        return r;
    }
    static HttpRequest post(QByteArray url, QByteArray body, HeaderList headers = {}) {
        HttpRequest r;
        r.method = "POST";
        r.url = std::move(url);
        r.body = std::move(body);
        r.headers = std::move(headers);
        return r;
    }
};

// Its answer, whatever the status (a 4xx or 5xx is a response, not an error).
struct HttpResponse {
    int status = 0;
    HeaderList headers; // names lowercased, in the order received
    QByteArray body;

    // The first header of that name (give it lowercased), or an empty value.
    QByteArray header(QByteArrayView lowercaseName) const;
};

// An HTTP/1.1 client for the outside world (the payment provider, merchant webhooks), over
// libcurl's multi interface on one worker thread owned by the client: many requests in flight,
// connections kept alive and reused per host, TLS through libcurl's OpenSSL with the system's
// CA bundle or Options::caFile.
//
// Threading: create and use it on one thread with an event loop; send()'s callback runs on that
// thread, exactly once per request, unless the client is destroyed first (then pending callbacks
// are dropped and requests in flight are abandoned). Never blocks the caller.
//
// Errors (the request may or may not have reached the server; retry only what is idempotent):
//   Timeout      request.timeout passed
//   Unavailable  could not connect, the connection dropped, TLS failed
//   Protocol     the response body passed Options::maxResponseBytes (it is not read further),
//                or the answer is not HTTP
//   Invalid      the request itself is unusable (not an http(s) URL)
class HttpClient final : public QObject {
    Q_OBJECT
public:
    struct Options {
        int maxConnectionsPerHost = 256; // requests beyond it wait in libcurl's queue
        int maxConnections = 512;        // all hosts; also the size of the connection cache
        qsizetype maxResponseBytes = 1 << 20;
        QString caFile;                        // CA bundle for https; empty: the system's
        bool verifyPeer = true;                // false only for tests against a self-signed server
        QString name = QStringLiteral("http"); // the worker thread's name, logs and metrics
    };

    explicit HttpClient(Options options, QObject *parent = nullptr);
    HttpClient()
        : HttpClient(Options{}) {}
    ~HttpClient() override;

    void send(HttpRequest request, std::function<void(const Result<HttpResponse> &)> done);

    // Requests sent and not answered yet.
    int inFlight() const { return m_inFlight; }

private:
    class Worker;
    void deliver(quint64 id, Result<HttpResponse> result);

    Options m_options;
    std::unique_ptr<Worker> m_worker;
    QHash<quint64, std::function<void(const Result<HttpResponse> &)>> m_pending;
    quint64 m_nextId = 1;
    int m_inFlight = 0;
};

} // namespace flashsale
