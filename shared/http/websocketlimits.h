#pragma once

#include <QString>
#include <QWebSocket>

namespace flashsale {

class GuardedSocket;

// The bounds of one WebSocket endpoint (/admin/v1/ws, /api/v1/sales/{id}/live), in one place
// for both: how much a client may send, and how much may wait for a client that does not read.
//
//   incoming: a frame announcing more than maxFrameBytes is refused from its header, before its
//             payload is read; a message growing past maxMessageBytes is refused at the frame
//             that crosses it. Both close the socket with 1009 (CloseCodeTooMuchData).
//   outgoing: sendText() refuses to queue behind more than maxQueuedBytes that the kernel will
//             not take (QWebSocket::bytesToWrite() after a flush): the socket is closed with 1008
//             (CloseCodePolicyViolated, "not reading").
//   closing:  once the server sends a close frame, for any reason, the connection is aborted
//             kCloseGraceMs later if the client has not closed it: a client that does not read
//             never answers, and QAbstractSocket would wait for its queue forever.
//   silence:  with idleMs > 0 (--websocket-idle-ms), a client heard from (any frame, a pong
//             included) less than idleMs / 2 ago is left alone; after that the server pings it,
//             and one silent for idleMs is closed with 1001 (CloseCodeGoingAway, "idle"). A
//             client that vanished (a phone out of coverage: no FIN, no RST) holds a connection
//             and the server's writes to it otherwise, until TCP gives up some 15 minutes later.
//             Every WebSocket client answers pings by itself (browsers, QWebSocket).
// Each drop counts in flashsale_websocket_dropped_total{endpoint, reason} (reasons
// "message_too_large", "slow_reader", "idle"). Below GuardedSocket enforces a hard queue bound of
// its own (ConnectionLimits::maxWebSocketQueueBytes) for writes that do not come through here, such
// as the pongs QWebSocket answers pings with.
//
// Plain values, copied freely. apply() and sendText() run on the socket's thread; they fail
// only by dropping the socket as described, never by throwing.
struct WebSocketLimits {
    const char *endpoint = "";  // the metric's endpoint label
    qint64 maxMessageBytes = 0; // incoming message, all its frames
    qint64 maxFrameBytes = 0;   // incoming frame
    qint64 maxQueuedBytes = 0;  // outgoing bytes waiting for the client

    static constexpr int kCloseGraceMs = 1000;

    // Sets the incoming bounds on a socket just accepted, and arms the drop accounting, the
    // abort after a close and, when idleMs > 0, the pings and the close after silence. Call
    // once per socket.
    void apply(QWebSocket &socket, int idleMs = 0) const;
    // Sends one text message; returns false when it was not sent because the socket is not
    // connected, or because the client does not read (then the socket is being dropped).
    bool sendText(QWebSocket &socket, const QString &text) const;

    // A text message encoded once for many sockets: the UTF-8 JSON as the text, and as a whole
    // server frame (FIN, opcode 1, unmasked; RFC 6455 5.2).
    struct TextFrame {
        explicit TextFrame(const QByteArray &utf8);
        QString text;
        QByteArray frame;
    };
    // sendText() for a message encoded once: the same checks, then the frame is written in one
    // call through `raw`, the socket under `socket` (GuardedSocket::underWebSocket), or, when
    // raw is null, through QWebSocket. The same bytes reach the client either way.
    bool sendText(QWebSocket &socket, GuardedSocket *raw, const TextFrame &message) const;

private:
    bool mayWrite(QWebSocket &socket) const;
    void watchSilence(QWebSocket &socket, int idleMs) const;
};

} // namespace flashsale
