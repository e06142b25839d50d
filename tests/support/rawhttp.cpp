#include "rawhttp.h"

#include <QEventLoop>
#include <QJsonDocument>
#include <QTest>
#include <QTimer>

namespace flashsale::test {

void verifyProblem(const HttpResponse &r, int status, const QString &slug) {
    QCOMPARE(r.status, status);
    QCOMPARE(r.headers.value("content-type"), QByteArray("application/problem+json"));
    QCOMPARE(r.problemType(), QStringLiteral("/problems/") + slug);
}

QJsonObject HttpResponse::json() const {
    return QJsonDocument::fromJson(body).object();
}

RawHttpConnection::RawHttpConnection(quint16 port, QObject *parent)
    : QObject(parent)
    , m_port(port) {
    connect(&m_socket, &QTcpSocket::readyRead, this, &RawHttpConnection::onReadable);
    connect(&m_socket, &QTcpSocket::disconnected, this, [this] { finish(true); });
    connect(&m_socket, &QTcpSocket::connected, this, [this] {
        if (!m_pendingWrite.isEmpty()) {
            m_socket.write(m_pendingWrite);
            m_pendingWrite.clear();
        }
    });
    connect(&m_socket, &QTcpSocket::errorOccurred, this, [this](QAbstractSocket::SocketError e) {
        if (e != QAbstractSocket::RemoteHostClosedError)
            finish(true);
    });
}

RawHttpConnection::~RawHttpConnection() {
    // The socket, destroyed after m_done, says it disconnected: nothing may hear it by then.
    m_socket.disconnect(this);
}

QByteArray RawHttpConnection::format(const QByteArray &method, const QByteArray &path,
                                     const QByteArray &body,
                                     const QList<QPair<QByteArray, QByteArray>> &headers) {
    QByteArray raw = method + ' ' + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    bool hasType = false;
    for (const auto &h : headers) {
        raw += h.first + ": " + h.second + "\r\n";
        hasType = hasType || h.first.compare("Content-Type", Qt::CaseInsensitive) == 0;
    }
    if (!body.isNull()) {
        if (!hasType)
            raw += "Content-Type: application/json\r\n";
        raw += "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
    }
    raw += "\r\n" + body;
    return raw;
}

void RawHttpConnection::send(const QByteArray &raw,
                             std::function<void(const HttpResponse &)> done) {
    m_done = std::move(done);
    m_buffer.clear();
    if (m_socket.state() == QAbstractSocket::ConnectedState) {
        m_socket.write(raw);
    } else {
        m_pendingWrite = raw;
        if (m_socket.state() == QAbstractSocket::UnconnectedState)
            m_socket.connectToHost(QHostAddress::LocalHost, m_port);
    }
}

void RawHttpConnection::sendRequest(const QByteArray &method, const QByteArray &path,
                                    const QByteArray &body,
                                    const QList<QPair<QByteArray, QByteArray>> &headers,
                                    std::function<void(const HttpResponse &)> done) {
    send(format(method, path, body, headers), std::move(done));
}

void RawHttpConnection::onReadable() {
    m_buffer += m_socket.readAll();
    const qsizetype end = m_buffer.indexOf("\r\n\r\n");
    if (end < 0 || !m_done)
        return;
    qint64 length = 0;
    const QList<QByteArray> lines = m_buffer.left(end).split('\n');
    for (const QByteArray &l : lines) {
        if (l.toLower().startsWith("content-length:"))
            length = l.mid(15).trimmed().toLongLong();
    }
    if (m_buffer.size() - end - 4 < length)
        return;
    finish(false);
}

void RawHttpConnection::finish(bool closed) {
    if (!m_done)
        return;
    HttpResponse r;
    r.closed = closed;
    const qsizetype end = m_buffer.indexOf("\r\n\r\n");
    if (end >= 0) {
        const QList<QByteArray> lines = m_buffer.left(end).split('\n');
        const QList<QByteArray> statusLine = lines.value(0).split(' ');
        r.status = statusLine.value(1).toInt();
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const qsizetype colon = lines[i].indexOf(':');
            if (colon > 0)
                r.headers.insert(lines[i].left(colon).trimmed().toLower(),
                                 lines[i].mid(colon + 1).trimmed());
        }
        const qint64 length = r.headers.value("content-length").toLongLong();
        r.body = m_buffer.mid(end + 4, length);
        m_buffer.remove(0, end + 4 + length);
    }
    auto done = std::move(m_done);
    m_done = nullptr;
    done(r);
}

HttpResponse httpRaw(quint16 port, const QByteArray &raw, int timeoutMs) {
    RawHttpConnection c(port);
    HttpResponse out;
    bool finished = false;
    QEventLoop loop;
    c.send(raw, [&](const HttpResponse &r) {
        out = r;
        finished = true;
        loop.quit();
    });
    QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
    if (!finished)
        loop.exec();
    return out;
}

HttpResponse http(quint16 port, const QByteArray &method, const QByteArray &path,
                  const QByteArray &body, const QList<QPair<QByteArray, QByteArray>> &headers,
                  int timeoutMs) {
    return httpRaw(port, RawHttpConnection::format(method, path, body, headers), timeoutMs);
}

QList<HttpResponse> sendAll(quint16 port, const QList<QByteArray> &requests, int connections,
                            int timeoutMs) {
    QList<HttpResponse> answers(requests.size());
    qsizetype next = 0;
    qsizetype done = 0;
    QEventLoop loop;
    std::vector<std::unique_ptr<RawHttpConnection>> pool;
    std::function<void(RawHttpConnection *)> sendNext = [&](RawHttpConnection *c) {
        if (next >= requests.size())
            return;
        const qsizetype i = next++;
        c->send(requests[i], [&, c, i](const HttpResponse &r) {
            answers[i] = r;
            if (++done == requests.size())
                loop.quit();
            else if (!r.closed)
                sendNext(c);
        });
    };
    for (int i = 0; i < connections && i < requests.size(); ++i) {
        pool.push_back(std::make_unique<RawHttpConnection>(port));
        sendNext(pool.back().get());
    }
    QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
    if (done < requests.size())
        loop.exec();
    return answers;
}

HttpResponse postJson(quint16 port, const QByteArray &path, const QJsonObject &body,
                      const QByteArray &bearer,
                      const QList<QPair<QByteArray, QByteArray>> &headers) {
    auto h = headers;
    if (!bearer.isEmpty())
        h.append({"Authorization", "Bearer " + bearer});
    return http(port, "POST", path, QJsonDocument(body).toJson(QJsonDocument::Compact), h);
}

double metricValue(const QByteArray &scrape, const QByteArray &series) {
    const QByteArray line = series + ' ';
    qsizetype at = 0;
    if (!scrape.startsWith(line)) {
        at = scrape.indexOf('\n' + line);
        if (at < 0)
            return 0;
        ++at; // past the newline
    }
    const qsizetype from = at + line.size();
    const qsizetype end = scrape.indexOf('\n', from);
    return scrape.mid(from, end < 0 ? -1 : end - from).toDouble();
}

} // namespace flashsale::test
