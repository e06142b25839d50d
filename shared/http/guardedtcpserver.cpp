#include "guardedtcpserver.h"

#include "core/logging.h"
#include "http/problem.h"
#include "metrics/metrics.h"

#include <QHash>
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

// The four addresses of a connection, as both ends of an upgrade see them.
QByteArray connectionKey(const QHostAddress &local, quint16 localPort, const QHostAddress &peer,
                         quint16 peerPort) {
    return local.toString().toLatin1() + ' ' + QByteArray::number(localPort) + ' '
           + peer.toString().toLatin1() + ' ' + QByteArray::number(peerPort);
}

// The GuardedSockets of this thread that have become WebSockets (GuardedSocket::underWebSocket).
thread_local QHash<QByteArray, GuardedSocket *> t_webSockets;

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

GuardedSocket::GuardedSocket(const ConnectionLimits &limits, std::function<void()> onClosed,
                             QObject *parent)
    : QTcpSocket(parent)
    , m_limits(limits)
    , m_framer(limits)
    , m_onClosed(std::move(onClosed)) {
    m_idle.setSingleShot(true);
    m_idle.setInterval(m_limits.idleTimeoutMs);
    m_request.setSingleShot(true);
    m_request.setInterval(m_limits.requestTimeoutMs);
    connect(&m_idle, &QTimer::timeout, this, [this] {
        if (m_webSocket || m_request.isActive())
            return;
        rejectedCounter("idle").inc();
        disconnectFromHost();
    });
    connect(&m_request, &QTimer::timeout, this, [this] {
        rejectedCounter(m_framer.state() == RequestFramer::State::Passthrough ? "handshake_timeout"
                                                                              : "request_timeout")
            .inc();
        reject(Problem::make(408, QStringLiteral("request-timeout"),
                             QStringLiteral("The request was not complete after %1 ms.")
                                 .arg(m_limits.requestTimeoutMs)));
    });
    m_connectingOwn = true;
    connect(this, &QTcpSocket::readyRead, this, &GuardedSocket::beforeServer);
    connect(this, &QTcpSocket::bytesWritten, this, [this] {
        if (m_framer.state() != RequestFramer::State::Passthrough)
            m_idle.start();
    });
    m_connectingOwn = false;
    m_idle.start();
}

GuardedSocket::~GuardedSocket() {
    if (!m_webSocketKey.isEmpty() && t_webSockets.value(m_webSocketKey) == this)
        t_webSockets.remove(m_webSocketKey);
    if (m_onClosed)
        m_onClosed();
}

GuardedSocket *GuardedSocket::underWebSocket(const QWebSocket &webSocket) {
    return t_webSockets.value(connectionKey(webSocket.localAddress(), webSocket.localPort(),
                                            webSocket.peerAddress(), webSocket.peerPort()));
}

void GuardedSocket::writeFrames(QByteArrayView frames) {
    qint64 sent = 0;
    if (!m_dropping && bytesToWrite() == 0 && state() == QAbstractSocket::ConnectedState) {
        const ssize_t n = ::send(int(socketDescriptor()), frames.data(), size_t(frames.size()),
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        // An error (the peer is gone) is left to QTcpSocket: the rest is written its way and it
        // finds the error as it would have.
        if (n > 0)
            sent = n;
    }
    if (sent < frames.size())
        write(frames.data() + sent, frames.size() - sent);
}

qint64 GuardedSocket::writeData(const char *data, qint64 len) {
    if (m_dropping)
        return len; // the connection is being aborted; what it would have said is moot
    if (m_framer.state() == RequestFramer::State::Passthrough && !m_webSocket
        && QByteArrayView(data, len).startsWith("HTTP/1.1 101 ")) {
        // QWebSocketServer accepted the handshake: a WebSocket now, with its own limits.
        m_webSocket = true;
        m_request.stop();
        m_idle.stop();
        m_webSocketKey = connectionKey(localAddress(), localPort(), peerAddress(), peerPort());
        t_webSockets.insert(m_webSocketKey, this);
    } else if (m_webSocket && bytesToWrite() + len > m_limits.maxWebSocketQueueBytes
               && (flush(), bytesToWrite() + len > m_limits.maxWebSocketQueueBytes)) {
        // A client that does not read (while it makes us write, as with a ping flood). Aborting
        // here would destroy the QWebSocket inside its own write: drop, then abort when it
        // returns.
        m_dropping = true;
        rejectedCounter("websocket_queue").inc();
        qCInfo(lcHttp) << "dropping WebSocket from" << peerAddress().toString() << ":"
                       << bytesToWrite() << "bytes queued";
        QMetaObject::invokeMethod(this, &QAbstractSocket::abort, Qt::QueuedConnection);
        return len;
    }
    return QTcpSocket::writeData(data, len);
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
    if (m_rejected) {
        drain();
        return;
    }
    const qint64 available = bytesAvailable();
    const qint64 fresh = available - m_carry;
    m_carry = available;
    if (m_framer.state() == RequestFramer::State::Passthrough || fresh <= 0)
        return;
    m_idle.start();
    // Peeked into a buffer the thread reuses: no allocation per read.
    thread_local QByteArray bytes;
    bytes.resize(available);
    const qint64 seen = available - fresh; // fed by an earlier call
    const qint64 n = peek(bytes.data(), available);
    m_carry = qMax(n, seen); // n is available: what bytesAvailable() counts is buffered
    if (n > seen)
        feed(QByteArrayView(bytes.constData(), n).sliced(seen));
}

void GuardedSocket::feed(QByteArrayView data) {
    const RequestFramer::Progress p = m_framer.feed(data);
    switch (m_framer.state()) {
    case RequestFramer::State::Rejected:
        rejectedCounter(m_framer.rejection()->reason).inc();
        reject(m_framer.rejection()->problem);
        return;
    case RequestFramer::State::Passthrough:
        // The request timer keeps running: the handshake is done only when the 101 is written
        // (writeData), and a handshake nobody answers is closed with the 408 as any request.
        m_idle.stop();
        return;
    case RequestFramer::State::Headers:
    case RequestFramer::State::Body:
        // The timeout runs from the first byte of the request now in progress.
        if (p.started > 0)
            m_request.start();
        return;
    case RequestFramer::State::Idle:
        m_request.stop();
        return;
    }
}

void GuardedSocket::drain() {
    // QtHttpServer reads inside a transaction it starts at every readyRead, and a transaction
    // keeps what is read: without the commit, everything drained after a refusal would stay in
    // the buffer (the 100 MB bodies of the upgrade-smuggling attack did).
    if (isTransactionStarted())
        commitTransaction();
    (void)skip(bytesAvailable());
}

void GuardedSocket::reject(const Problem &problem) {
    if (m_rejected)
        return;
    m_rejected = true;
    m_idle.stop();
    m_request.stop();
    qCDebug(lcHttp) << "closing connection from" << peerAddress().toString() << ":"
                    << problem.status << problem.slug;
    write(rawProblemResponse(problem));
    drain();
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
    openGauge().add(1);
    // Counted down by the socket's destructor, not through destroyed(): QtHttpServer disconnects
    // every signal of a socket it hands to its WebSocket server, and the count of those would
    // never come down.
    auto *s = new GuardedSocket(
        m_limits,
        [open = m_open] {
            open->fetch_sub(1);
            openGauge().add(-1);
            qCDebug(lcHttp) << "connection closed; open now" << open->load();
        },
        this);
    if (!s->setSocketDescriptor(descriptor)) {
        delete s;
        return;
    }
    s->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    s->rememberPeer();
    qCDebug(lcHttp) << "connection opened; open now" << m_open->load();
    addPendingConnection(s);
}

} // namespace flashsale
