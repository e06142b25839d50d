#include "websocketlimits.h"

#include "core/logging.h"
#include "http/guardedtcpserver.h"
#include "metrics/metrics.h"

#include <QElapsedTimer>
#include <QPointer>
#include <QTimer>

#include <memory>

namespace flashsale {

namespace {

Counter &droppedCounter(const char *endpoint, const char *reason) {
    return Metrics::instance().counter(
        "flashsale_websocket_dropped_total",
        "WebSockets closed by their bounds: a message or frame too large, a client not reading, "
        "a client silent too long.",
        QByteArray("endpoint=\"") + endpoint + "\",reason=\"" + reason + '"');
}

} // namespace

void WebSocketLimits::apply(QWebSocket &socket, int idleMs) const {
    socket.setMaxAllowedIncomingFrameSize(quint64(maxFrameBytes));
    socket.setMaxAllowedIncomingMessageSize(quint64(maxMessageBytes));
    const char *label = endpoint;
    QObject::connect(&socket, &QWebSocket::aboutToClose, &socket, [s = &socket, label] {
        // aboutToClose follows our close frame; its code is ours.
        if (s->closeCode() == QWebSocketProtocol::CloseCodeTooMuchData)
            droppedCounter(label, "message_too_large").inc();
        QTimer::singleShot(kCloseGraceMs, s, [guard = QPointer<QWebSocket>(s)] {
            if (guard && guard->state() != QAbstractSocket::UnconnectedState)
                guard->abort();
        });
    });
    if (idleMs > 0)
        watchSilence(socket, idleMs);
}

void WebSocketLimits::watchSilence(QWebSocket &socket, int idleMs) const {
    // A look every quarter of idleMs: a silent client is pinged after idleMs / 2 to 3/4 and
    // closed after idleMs to 1.25 x idleMs. The timer and the clock live as long as the socket.
    auto *look = new QTimer(&socket);
    look->setTimerType(Qt::CoarseTimer);
    auto heard = std::make_shared<QElapsedTimer>();
    heard->start();
    const auto hear = [heard] { heard->start(); };
    QObject::connect(&socket, &QWebSocket::textFrameReceived, look, hear);
    QObject::connect(&socket, &QWebSocket::binaryFrameReceived, look, hear);
    QObject::connect(&socket, &QWebSocket::pong, look, hear);
    QObject::connect(&socket, &QWebSocket::aboutToClose, look, &QTimer::stop);
    const char *label = endpoint;
    QObject::connect(look, &QTimer::timeout, &socket, [s = &socket, look, heard, idleMs, label] {
        if (s->state() != QAbstractSocket::ConnectedState)
            return;
        const qint64 silent = heard->elapsed();
        if (silent >= idleMs) {
            look->stop();
            droppedCounter(label, "idle").inc();
            qCInfo(lcHttp) << "closing" << label << "WebSocket from" << s->peerAddress().toString()
                           << ": silent for" << silent << "ms";
            s->close(QWebSocketProtocol::CloseCodeGoingAway, QStringLiteral("idle"));
        } else if (silent >= idleMs / 2) {
            s->ping();
        }
    });
    look->start(qMax(1, idleMs / 4));
}

bool WebSocketLimits::sendText(QWebSocket &socket, const QString &text) const {
    if (!mayWrite(socket))
        return false;
    socket.sendTextMessage(text);
    return true;
}

WebSocketLimits::TextFrame::TextFrame(const QByteArray &utf8)
    : text(QString::fromUtf8(utf8)) {
    const qsizetype n = utf8.size();
    frame.reserve(n + 10);
    frame.append(char(0x81)); // FIN, text
    if (n < 126) {
        frame.append(char(n));
    } else if (n <= 0xffff) {
        frame.append(char(126));
        frame.append(char(n >> 8));
        frame.append(char(n & 0xff));
    } else {
        frame.append(char(127));
        for (int shift = 56; shift >= 0; shift -= 8)
            frame.append(char((quint64(n) >> shift) & 0xff));
    }
    frame.append(utf8);
}

bool WebSocketLimits::sendText(QWebSocket &socket, GuardedSocket *raw,
                               const TextFrame &message) const {
    if (!raw)
        return sendText(socket, message.text);
    if (!mayWrite(socket))
        return false;
    raw->writeFrames(message.frame);
    return true;
}

bool WebSocketLimits::mayWrite(QWebSocket &socket) const {
    if (socket.state() != QAbstractSocket::ConnectedState)
        return false;
    // Replies written in one burst sit in Qt's buffer until the event loop flushes them: only
    // what the kernel will not take now is waiting for the client.
    if (socket.bytesToWrite() > maxQueuedBytes)
        socket.flush();
    if (socket.bytesToWrite() > maxQueuedBytes) {
        droppedCounter(endpoint, "slow_reader").inc();
        qCInfo(lcHttp) << "dropping" << endpoint << "WebSocket from"
                       << socket.peerAddress().toString() << ":" << socket.bytesToWrite()
                       << "bytes queued";
        socket.close(QWebSocketProtocol::CloseCodePolicyViolated, QStringLiteral("not reading"));
        return false;
    }
    return true;
}

} // namespace flashsale
