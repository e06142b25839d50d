#pragma once

#include "core/result.h"
#include "http/problem.h"
#include "http/requestframer.h"

#include <QHostAddress>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>
#include <QWebSocket>

#include <atomic>
#include <functional>
#include <memory>

namespace flashsale {

// Opens a listening TCP socket with SO_REUSEADDR and SO_REUSEPORT, so that every API thread
// can listen on the same port with its own socket and the kernel spreads connections across
// them. Port 0 picks a free port; the port actually bound is returned through `boundPort`.
// Returns the descriptor, non-blocking, or an error with errno's text.
[[nodiscard]] Result<int> openReusePortSocket(const QHostAddress &address, quint16 port,
                                              quint16 *boundPort);

// A socket that enforces ConnectionLimits before QtHttpServer sees the bytes. It frames
// requests itself with a RequestFramer (request line and headers up to the blank line, then
// Content-Length bytes of body) and answers on its own, then closes:
//   400 a head that is not strict HTTP/1.1, 505 another HTTP version,
//   431 headers larger than maxHeaderBytes, 413 Content-Length above maxBodyBytes,
//   411 chunked bodies, 408 a request not whole within requestTimeoutMs.
// A refusal drops whatever QtHttpServer has not read yet, pipelined requests included.
// A keep-alive connection with no request in progress is closed after idleTimeoutMs.
// After a WebSocket opening handshake the framer let through, the socket stops framing and
// passes bytes through; the handshake must still be answered with 101 within requestTimeoutMs
// of its first byte (else 408 and close). Only a connection whose 101 was written escapes the
// idle timeout, and from then on a write that would queue more than maxWebSocketQueueBytes for
// the client aborts the connection.
//
// `onClosed` runs once, from the destructor, on the socket's thread: the connection count goes
// down there, because QtHttpServer disconnects every signal of a socket it upgrades
// (destroyed included).
class GuardedSocket final : public QTcpSocket {
    Q_OBJECT
public:
    GuardedSocket(const ConnectionLimits &limits, std::function<void()> onClosed,
                  QObject *parent = nullptr);
    ~GuardedSocket() override;
    // Gives the request framer the peer address for ConnectionLimits::upgradeGate; call once the
    // descriptor is set.
    void rememberPeer() { m_framer.setPeer(peerAddress()); }

    // The GuardedSocket under `webSocket`, a QWebSocket that QtHttpServer upgraded from one on
    // the calling thread, found by the connection's addresses (QWebSocket does not expose its
    // device); nullptr when there is none. The QWebSocket owns it: keep it in a QPointer.
    static GuardedSocket *underWebSocket(const QWebSocket &webSocket);
    // Writes `frames`, whole WebSocket frames, straight to the kernel when nothing waits in Qt's
    // write buffer: a QTcpSocket::write arms the write notifier and the flush disarms it, and in
    // Qt's event dispatchers each of those costs a pass over every socket of the thread (a tick
    // to 10,000 buyer sockets took 1.5 s of CPU that way; docs/BENCHMARKS.md, "100,000 buyer
    // live sockets"). What the kernel does not take goes through QTcpSocket::write, so order and
    // the queue bounds hold as for any write. One thread: the socket's.
    void writeFrames(QByteArrayView frames);

protected:
    void connectNotify(const QMetaMethod &signal) override;
    qint64 writeData(const char *data, qint64 len) override;

private:
    void beforeServer();
    void afterServer();
    void feed(QByteArrayView data);
    void reject(const Problem &problem);
    void drain(); // drops what the client sent, once refused

    const ConnectionLimits &m_limits;
    RequestFramer m_framer;
    bool m_rejected = false;
    qint64 m_carry = 0; // bytes already inspected that the HTTP server has not consumed yet
    bool m_connectingOwn = false;
    bool m_afterConnected = false;
    bool m_webSocket = false; // the 101 was written: frames flow both ways, no idle timeout
    bool m_dropping = false;  // over maxWebSocketQueueBytes: writes are dropped until the abort
    std::function<void()> m_onClosed;
    QByteArray m_webSocketKey; // in underWebSocket()'s registry while not empty
    QTimer m_idle;
    QTimer m_request;
};

// A QTcpServer over a descriptor from openReusePortSocket() that creates GuardedSockets and
// applies the process-wide connection cap: over the cap, a connection gets 503 and is closed.
class GuardedTcpServer final : public QTcpServer {
    Q_OBJECT
public:
    GuardedTcpServer(const ConnectionLimits &limits, std::shared_ptr<std::atomic<int>> open,
                     QObject *parent = nullptr);

protected:
    void incomingConnection(qintptr descriptor) override;

private:
    const ConnectionLimits &m_limits;
    std::shared_ptr<std::atomic<int>> m_open;
};

} // namespace flashsale
