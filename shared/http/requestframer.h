#pragma once

#include "http/problem.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QHostAddress>

#include <functional>
#include <optional>

namespace flashsale {

// The connection-level limits QtHttpServer 6.4 lacks (it has no QHttpServerConfiguration).
struct ConnectionLimits {
    // Decides a WebSocket upgrade request before QtHttpServer sees it, from its target
    // ("/admin/v1/ws?x=1"), headers and the connection's peer address: nullopt lets it through,
    // a problem is answered instead (401, 404, 429) and the connection closed. It sees only valid
    // WebSocket handshakes (anything else with Upgrade is refused before it); without a gate every
    // valid handshake passes. Called on the connection's thread: it must be thread-safe.
    std::function<std::optional<Problem>(const QByteArray &target, const HeaderList &headers,
                                         const QHostAddress &peer)>
        upgradeGate;
    int maxConnections = 20000; // per process, shared by every thread's server
    int idleTimeoutMs = 30000;
    int requestTimeoutMs = 10000;
    int maxHeaderBytes = 16384;
    int maxBodyBytes = 65536;
    // Once a connection is a WebSocket: a write that would leave more than this waiting for a
    // client that does not read (pongs to a ping flood included) drops the connection. The
    // endpoints' own, lower bounds (WebSocketLimits) close with a code before this is reached.
    qint64 maxWebSocketQueueBytes = 8 << 20;
};

// Finds where HTTP/1.1 requests begin and end in the bytes of one connection, and refuses the
// ones that break ConnectionLimits, before QtHttpServer sees them. No socket, no timers: the
// caller (GuardedSocket) feeds what arrives and acts on the state, so it can be fuzzed alone.
//
//   bytes:  [CRLF*] request-line CRLF headers CRLF CRLF [Content-Length bytes of body] ...
//   state:  Idle -> Headers ------------------------> Body ----------------------> Idle
//                     \-> Rejected (400 malformed, 505, 431, 411, 413, an upgrade refused)
//                     \-> Passthrough (a WebSocket handshake let through: frames follow)
//
// A head with an Upgrade header is either a WebSocket opening handshake that QtHttpServer and
// QWebSocketServer will both take (GET, HTTP/1.1, one Host, one "Connection: ...upgrade...",
// one "Upgrade: websocket", one 16-byte Sec-WebSocket-Key, Sec-WebSocket-Version 13, no body)
// and that ConnectionLimits::upgradeGate lets through, or it is refused: 400 invalid-upgrade
// (Upgrade without Connection: Upgrade included), or the gate's problem. Nothing else stops
// framing. Heads QtHttpServer's header parser would read as having no headers at all (more than
// kMaxHeaderFields fields, or a line over kMaxHeaderLineBytes) are 431.
//
// Rejected and Passthrough are final; later bytes are ignored. The limits are borrowed and must
// outlive the framer. One thread.
class RequestFramer {
public:
    enum class State { Idle, Headers, Body, Passthrough, Rejected };
    // QHttpHeaderParser's limits (qtbase, src/network/access/qhttpheaderparser.cpp).
    static constexpr qsizetype kMaxHeaderFields = 100;
    static constexpr qsizetype kMaxHeaderLineBytes = 8192;
    struct Rejection {
        Problem problem;
        const char *reason = ""; // the label of flashsale_http_connections_rejected_total
    };
    // What one feed() call saw.
    struct Progress {
        int started = 0;        // requests whose first byte was in this data
        int completed = 0;      // requests whose last byte was in this data
        qint64 bodyBytes = 0;   // bytes of this data that were request bodies
        qint64 skipped = 0;     // stray CRLFs between requests (RFC 9112 section 2.2)
        qint64 headerBytes = 0; // bytes of this data taken into request heads
    };

    explicit RequestFramer(const ConnectionLimits &limits);

    // Takes the next bytes of the connection. Never fails; a refusal shows in state() and
    // rejection(). Bytes after a rejection or an upgrade are not looked at (and not counted).
    Progress feed(QByteArrayView data);
    // The connection's peer, handed to ConnectionLimits::upgradeGate (null until set).
    void setPeer(const QHostAddress &peer) { m_peer = peer; }

    State state() const { return m_state; }
    // Whether a request has begun and is not whole yet (the request timeout runs).
    bool inRequest() const { return m_state == State::Headers || m_state == State::Body; }
    // Set once state() is Rejected.
    const std::optional<Rejection> &rejection() const { return m_rejection; }
    // Body bytes the current request still expects.
    qint64 bodyLeft() const { return m_bodyLeft; }

    // The length of the head (up to and with its blank line) at the start of `head`, looking for
    // the blank line from `from` on; -1 while it is not whole.
    static qsizetype headEnd(const QByteArray &head, qsizetype from);

private:
    // Checks the syntax of the lines of m_head that are whole, within its first headLen and
    // maxHeaderBytes bytes, from where the last call stopped; rejects (400) at the first bad
    // one and returns false.
    bool checkLines(qsizetype headLen);
    // The head (request line and headers, with the blank line; every line checked) is whole:
    // decides the body.
    void headComplete(const QByteArray &head);
    void reject(Problem problem, const char *reason);

    const ConnectionLimits &m_limits;
    QHostAddress m_peer;
    State m_state = State::Idle;
    QByteArray m_head;
    qsizetype m_checked = 0;       // m_head's lines before this offset passed checkLines()
    qsizetype m_lines = 0;         // and there are this many of them
    qsizetype m_methodChecked = 0; // the bytes of the method seen so far are tchars
    qint64 m_bodyLeft = 0;
    std::optional<Rejection> m_rejection;
};

} // namespace flashsale
