#pragma once

#include <QByteArray>
#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QTcpSocket>

#include <functional>

namespace flashsale::test {

struct HttpResponse {
    int status = 0;                        // 0: no response (connection closed or timed out)
    QHash<QByteArray, QByteArray> headers; // names in lower case
    QByteArray body;
    bool closed = false; // the server closed the connection after (or instead of) answering

    QJsonObject json() const;
    QString problemType() const { return json().value(QStringLiteral("type")).toString(); }
};

// Checks (QCOMPARE) that `r` is an RFC 9457 problem: `status`, application/problem+json, type
// /problems/<slug>. Like any QCOMPARE outside a test slot, a failure returns from here only.
void verifyProblem(const HttpResponse &r, int status, const QString &slug);

// A keep-alive HTTP/1.1 client on one QTcpSocket, written for tests: it sends exactly the
// bytes it is given (so malformed requests are possible) and parses the answer by
// Content-Length. One request at a time; the callback runs from the event loop.
class RawHttpConnection : public QObject {
    Q_OBJECT
public:
    explicit RawHttpConnection(quint16 port, QObject *parent = nullptr);
    // A request still waiting is not answered: its callback may refer to what is gone by now.
    ~RawHttpConnection() override;

    void send(const QByteArray &raw, std::function<void(const HttpResponse &)> done);
    void sendRequest(const QByteArray &method, const QByteArray &path, const QByteArray &body = {},
                     const QList<QPair<QByteArray, QByteArray>> &headers = {},
                     std::function<void(const HttpResponse &)> done = {});
    QTcpSocket &socket() { return m_socket; }

    static QByteArray format(const QByteArray &method, const QByteArray &path,
                             const QByteArray &body,
                             const QList<QPair<QByteArray, QByteArray>> &headers);

private:
    void onReadable();
    void finish(bool closed);

    quint16 m_port;
    QTcpSocket m_socket;
    QByteArray m_buffer;
    QByteArray m_pendingWrite;
    std::function<void(const HttpResponse &)> m_done;
};

// Blocking helpers for simple cases: one request on a fresh connection, waiting up to
// `timeoutMs` while the event loop runs.
HttpResponse httpRaw(quint16 port, const QByteArray &raw, int timeoutMs = 10000);
HttpResponse http(quint16 port, const QByteArray &method, const QByteArray &path,
                  const QByteArray &body = {},
                  const QList<QPair<QByteArray, QByteArray>> &headers = {}, int timeoutMs = 10000);
// Sends every raw request over `connections` keep-alive connections at once and returns the
// answers in the order of the requests (status 0 where none came within `timeoutMs`).
QList<HttpResponse> sendAll(quint16 port, const QList<QByteArray> &requests, int connections,
                            int timeoutMs = 120000);

// POST JSON with an optional bearer token.
HttpResponse postJson(quint16 port, const QByteArray &path, const QJsonObject &body,
                      const QByteArray &bearer = {},
                      const QList<QPair<QByteArray, QByteArray>> &headers = {});

// The value of one series (name and labels, as written) in a Prometheus text scrape, 0 when
// absent.
double metricValue(const QByteArray &scrape, const QByteArray &series);

} // namespace flashsale::test
