#include "guardedtcpserver.h"

#include "core/logging.h"
#include "http/problem.h"
#include "metrics/metrics.h"

#include <QMetaMethod>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace flashsale {

namespace {

Counter &rejectedCounter(const char *reason) {
    return Metrics::instance().counter("flashsale_http_connections_rejected_total",
                                       "Connections or requests refused by connection limits.",
                                       QByteArray("reason=\"") + reason + '"');
}

Gauge &openGauge() {
    static Gauge &g = Metrics::instance().gauge("flashsale_http_connections_open",
                                                "HTTP connections open in this process.");
    return g;
}

} // namespace

Result<int> openReusePortSocket(const QHostAddress &address, quint16 port, quint16 *boundPort) {
    const bool v6 = address.protocol() == QAbstractSocket::IPv6Protocol;
    const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(ErrorCode::Internal,
                    QStringLiteral("socket: %1").arg(QString::fromLocal8Bit(std::strerror(errno))));
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        const int e = errno;
        ::close(fd);
        return fail(
            ErrorCode::Internal,
            QStringLiteral("SO_REUSEPORT: %1").arg(QString::fromLocal8Bit(std::strerror(e))));
    }
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (v6) {
        auto *a = reinterpret_cast<sockaddr_in6 *>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        const Q_IPV6ADDR ip = address.toIPv6Address();
        std::memcpy(&a->sin6_addr, &ip, sizeof ip);
        len = sizeof *a;
    } else {
        auto *a = reinterpret_cast<sockaddr_in *>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        a->sin_addr.s_addr = htonl(address.toIPv4Address());
        len = sizeof *a;
    }
    if (::bind(fd, reinterpret_cast<sockaddr *>(&ss), len) != 0 || ::listen(fd, 4096) != 0) {
        const int e = errno;
        ::close(fd);
        return fail(ErrorCode::Unavailable, QStringLiteral("bind %1:%2: %3")
                                                .arg(address.toString())
                                                .arg(port)
                                                .arg(QString::fromLocal8Bit(std::strerror(e))));
    }
    sockaddr_storage actual{};
    socklen_t alen = sizeof actual;
    ::getsockname(fd, reinterpret_cast<sockaddr *>(&actual), &alen);
    if (boundPort) {
        *boundPort = v6 ? ntohs(reinterpret_cast<sockaddr_in6 *>(&actual)->sin6_port)
                        : ntohs(reinterpret_cast<sockaddr_in *>(&actual)->sin_port);
    }
    return fd;
}

GuardedSocket::GuardedSocket(const ConnectionLimits &limits, QObject *parent)
    : QTcpSocket(parent)
    , m_limits(limits) {
    m_idle.setSingleShot(true);
    m_idle.setInterval(m_limits.idleTimeoutMs);
    m_request.setSingleShot(true);
    m_request.setInterval(m_limits.requestTimeoutMs);
    connect(&m_idle, &QTimer::timeout, this, [this] {
        if (m_phase == Phase::Passthrough || m_request.isActive())
            return;
        rejectedCounter("idle").inc();
        disconnectFromHost();
    });
    connect(&m_request, &QTimer::timeout, this, [this] {
        rejectedCounter("request_timeout").inc();
        reject(Problem::make(408, QStringLiteral("request-timeout"),
                             QStringLiteral("The request was not complete after %1 ms.")
                                 .arg(m_limits.requestTimeoutMs)));
    });
    m_connectingOwn = true;
    connect(this, &QTcpSocket::readyRead, this, &GuardedSocket::beforeServer);
    connect(this, &QTcpSocket::bytesWritten, this, [this] {
        if (m_phase != Phase::Passthrough)
            m_idle.start();
    });
    m_connectingOwn = false;
    m_idle.start();
}

void GuardedSocket::connectNotify(const QMetaMethod &signal) {
    // The HTTP server connects to readyRead after this socket did. Connecting our second slot
    // now puts it after the server's, so it sees what the server left unread.
    if (m_connectingOwn || m_afterConnected
        || signal != QMetaMethod::fromSignal(&QTcpSocket::readyRead))
        return;
    m_connectingOwn = true;
    m_afterConnected = true;
    connect(this, &QTcpSocket::readyRead, this, &GuardedSocket::afterServer);
    m_connectingOwn = false;
}

void GuardedSocket::afterServer() {
    m_carry = bytesAvailable();
}

void GuardedSocket::beforeServer() {
    if (m_phase == Phase::Rejected) {
        (void)readAll(); // draining until the connection closes
        return;
    }
    const qint64 available = bytesAvailable();
    const qint64 fresh = available - m_carry;
    m_carry = available;
    if (m_phase == Phase::Passthrough || fresh <= 0)
        return;
    m_idle.start();
    feed(peek(available).mid(available - fresh));
}

void GuardedSocket::feed(QByteArray data) {
    while (!data.isEmpty() && m_phase != Phase::Rejected && m_phase != Phase::Passthrough) {
        if (m_phase == Phase::Headers) {
            if (m_header.isEmpty()) {
                // Tolerate stray CRLFs between requests (RFC 9112 section 2.2).
                qsizetype skip = 0;
                while (skip < data.size() && (data[skip] == '\r' || data[skip] == '\n'))
                    ++skip;
                data.remove(0, skip);
                if (data.isEmpty())
                    return;
                m_request.start();
            }
            const qsizetype searchFrom = qMax<qsizetype>(0, m_header.size() - 3);
            m_header += data;
            data.clear();
            const qsizetype end = m_header.indexOf("\r\n\r\n", searchFrom);
            if (end < 0) {
                if (m_header.size() > m_limits.maxHeaderBytes) {
                    rejectedCounter("headers_too_large").inc();
                    reject(Problem::make(
                        431, QStringLiteral("headers-too-large"),
                        QStringLiteral("Headers exceed %1 bytes.").arg(m_limits.maxHeaderBytes)));
                }
                return;
            }
            const qsizetype headerLen = end + 4;
            data = m_header.mid(headerLen);
            const QByteArray header = m_header.left(headerLen);
            m_header.clear();
            if (headerLen > m_limits.maxHeaderBytes) {
                rejectedCounter("headers_too_large").inc();
                reject(Problem::make(
                    431, QStringLiteral("headers-too-large"),
                    QStringLiteral("Headers exceed %1 bytes.").arg(m_limits.maxHeaderBytes)));
                return;
            }
            if (!headerComplete(header))
                return;
        }
        if (m_phase == Phase::Body) {
            const qint64 take = qMin<qint64>(m_bodyLeft, data.size());
            m_bodyLeft -= take;
            data.remove(0, take);
            if (m_bodyLeft == 0) {
                m_phase = Phase::Headers;
                m_request.stop();
            }
        }
    }
}

bool GuardedSocket::headerComplete(const QByteArray &header) {
    qint64 contentLength = 0;
    bool upgrade = false;
    HeaderList headers;
    const QList<QByteArray> lines = header.split('\n');
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArray line = lines[i].trimmed();
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            continue;
        const QByteArray name = line.left(colon).trimmed().toLower();
        const QByteArray value = line.mid(colon + 1).trimmed();
        headers.append(qMakePair(name, value));
        if (name == "content-length") {
            bool ok = false;
            const qint64 n = value.toLongLong(&ok);
            if (!ok || n < 0) {
                // Let the HTTP parser answer the malformed header itself.
                continue;
            }
            contentLength = n;
        } else if (name == "transfer-encoding") {
            rejectedCounter("chunked").inc();
            reject(Problem::make(411, QStringLiteral("length-required"),
                                 QStringLiteral("Send the body with Content-Length.")));
            return false;
        } else if (name == "upgrade") {
            upgrade = true;
        }
    }
    if (contentLength > m_limits.maxBodyBytes) {
        rejectedCounter("body_too_large").inc();
        reject(Problem::make(413, QStringLiteral("request-too-large"),
                             QStringLiteral("The body is %1 bytes; the limit is %2.")
                                 .arg(contentLength)
                                 .arg(m_limits.maxBodyBytes)));
        return false;
    }
    if (upgrade && m_limits.upgradeGate) {
        // "GET /path HTTP/1.1": the target is the second word of the request line.
        const QList<QByteArray> words = lines.value(0).trimmed().split(' ');
        if (auto refused = m_limits.upgradeGate(words.value(1), headers)) {
            rejectedCounter("upgrade_refused").inc();
            reject(*refused);
            return false;
        }
    }
    if (upgrade) {
        m_phase = Phase::Passthrough;
        m_request.stop();
        m_idle.stop();
        return false;
    }
    m_bodyLeft = contentLength;
    m_phase = Phase::Body;
    if (m_bodyLeft == 0) {
        m_phase = Phase::Headers;
        m_request.stop();
    }
    return true;
}

void GuardedSocket::reject(const Problem &problem) {
    if (m_phase == Phase::Rejected)
        return;
    m_phase = Phase::Rejected;
    m_idle.stop();
    m_request.stop();
    qCDebug(lcHttp) << "closing connection from" << peerAddress().toString() << ":"
                    << problem.status << problem.slug;
    write(rawProblemResponse(problem));
    (void)readAll();
    m_carry = 0;
    // Linger briefly, reading and dropping what the client still sends, so the kernel does not
    // answer it with a reset that would destroy our response before the client reads it.
    QTimer::singleShot(500, this, [this] { disconnectFromHost(); });
}

GuardedTcpServer::GuardedTcpServer(const ConnectionLimits &limits,
                                   std::shared_ptr<std::atomic<int>> open, QObject *parent)
    : QTcpServer(parent)
    , m_limits(limits)
    , m_open(std::move(open)) {}

void GuardedTcpServer::incomingConnection(qintptr descriptor) {
    if (m_open->fetch_add(1) >= m_limits.maxConnections) {
        m_open->fetch_sub(1);
        rejectedCounter("max_connections").inc();
        auto *s = new QTcpSocket(this);
        s->setSocketDescriptor(descriptor);
        s->write(rawProblemResponse(Problem::make(503, QStringLiteral("too-many-connections"),
                                                  QStringLiteral("Try again shortly."))
                                        .header("Retry-After", "1")));
        s->disconnectFromHost();
        connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
        QTimer::singleShot(2000, s, &QObject::deleteLater);
        return;
    }
    auto *s = new GuardedSocket(m_limits, this);
    if (!s->setSocketDescriptor(descriptor)) {
        m_open->fetch_sub(1);
        delete s;
        return;
    }
    s->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    openGauge().add(1);
    qCDebug(lcHttp) << "connection opened; open now" << m_open->load();
    connect(s, &QObject::destroyed, this, [open = m_open] {
        open->fetch_sub(1);
        openGauge().add(-1);
        qCDebug(lcHttp) << "connection closed; open now" << open->load();
    });
    addPendingConnection(s);
}

} // namespace flashsale
