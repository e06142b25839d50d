#include "adminclient.h"

#include <QDateTime>
#include <QNetworkRequest>
#include <QRegularExpression>

namespace flashsale::admin {

AdminClient::AdminClient(QObject *parent)
    : QObject(parent) {
    m_reconnect.setSingleShot(true);
    connect(&m_reconnect, &QTimer::timeout, this, &AdminClient::connectNow);
}

AdminClient::~AdminClient() {
    m_closing = true;
    failAll(AdminError::Disconnected, QStringLiteral("the client was closed"));
    delete m_socket;
}

void AdminClient::open(const QUrl &url, const QString &token, const QString &actor) {
    m_url = url;
    m_token = token;
    m_actor = actor;
    m_closing = false;
    m_backoffMs = 250;
    connectNow();
}

void AdminClient::close() {
    m_closing = true;
    m_reconnect.stop();
    if (m_socket)
        m_socket->close();
    failAll(AdminError::Disconnected, QStringLiteral("the client was closed"));
    setState(State::Disconnected);
}

void AdminClient::setState(State s) {
    if (s == m_state)
        return;
    m_state = s;
    Q_EMIT stateChanged(s);
}

void AdminClient::connectNow() {
    if (m_socket) {
        m_socket->disconnect(this);
        m_socket->abort();
        m_socket->deleteLater();
    }
    m_socket = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest, this);
    // Server pushes (stats of a 10,000-item sale) can be large; the server bounds them itself.
    m_socket->setMaxAllowedIncomingMessageSize(64 << 20);
    connect(m_socket, &QWebSocket::connected, this, [this] {
        m_backoffMs = 250;
        m_lastError.clear();
        setState(State::Connected);
        ping();
    });
    connect(m_socket, &QWebSocket::textMessageReceived, this, &AdminClient::onText);
    connect(m_socket, &QWebSocket::disconnected, this, &AdminClient::onDisconnected);
    connect(m_socket, qOverload<QAbstractSocket::SocketError>(&QWebSocket::error), this,
            [this](QAbstractSocket::SocketError) {
                m_lastError = m_socket->errorString();
                // A refused handshake reads "... Unhandled http status code: 401 (Unauthorized)."
                static const QRegularExpression status(QStringLiteral("status code: (\\d{3})"));
                const auto match = status.match(m_lastError);
                if (match.hasMatch()) {
                    const int code = match.captured(1).toInt();
                    if (code == 401 || code == 403) {
                        m_closing = true; // retrying with the same token cannot help
                        Q_EMIT refused(code, m_lastError);
                    }
                }
            });
    QNetworkRequest req(m_url);
    if (!m_token.isEmpty())
        req.setRawHeader("Authorization", "Bearer " + m_token.toUtf8());
    if (!m_actor.isEmpty())
        req.setRawHeader("X-Flashsale-Actor", m_actor.toUtf8());
    setState(State::Connecting);
    m_socket->open(req);
}

void AdminClient::onDisconnected() {
    failAll(AdminError::Disconnected, QStringLiteral("the connection to the server dropped"));
    if (m_lastError.isEmpty() && m_socket)
        m_lastError = m_socket->closeReason().isEmpty() ? QStringLiteral("connection closed")
                                                        : m_socket->closeReason();
    setState(State::Disconnected);
    if (m_autoReconnect && !m_closing) {
        m_reconnect.start(m_backoffMs);
        m_backoffMs = qMin(m_backoffMs * 2, 5000);
    }
}

QString AdminClient::request(Op op, const QJsonObject &args, Callback callback, int timeoutMs) {
    const QString id = QStringLiteral("c%1").arg(m_nextId++);
    if (m_state != State::Connected || !m_socket) {
        Reply r;
        r.failure = {AdminError::Disconnected, QStringLiteral("not connected to the server"), {}};
        if (callback)
            QTimer::singleShot(0, this, [callback, r] { callback(r); });
        return id;
    }
    Pending p;
    p.callback = std::move(callback);
    p.op = op;
    p.timer = new QTimer(this);
    p.timer->setSingleShot(true);
    connect(p.timer, &QTimer::timeout, this, [this, id, timeoutMs] {
        Reply r;
        r.failure = {
            AdminError::Timeout, QStringLiteral("no answer within %1 ms").arg(timeoutMs), {}};
        finish(id, r);
    });
    p.timer->start(timeoutMs);
    m_pending.insert(id, std::move(p));
    m_socket->sendTextMessage(QString::fromUtf8(encodeRequest(id, op, args)));
    return id;
}

void AdminClient::ping(Callback callback) {
    const qint64 sent = QDateTime::currentMSecsSinceEpoch();
    request(Op::Ping, {}, [this, sent, callback](const Reply &r) {
        if (r.ok) {
            const qint64 now = QDateTime::currentMSecsSinceEpoch();
            m_rttMs = now - sent;
            const qint64 server =
                qint64(r.result.value(QStringLiteral("server_time_ms")).toDouble());
            m_skewMs = server - (sent + now) / 2;
        }
        if (callback)
            callback(r);
    });
}

void AdminClient::onText(const QString &text) {
    auto m = decodeServerMessage(text.toUtf8());
    if (!m)
        return; // nothing to match it with; the protocol version check is in the hello
    switch (m->kind) {
    case ServerMessage::Kind::Event:
        Q_EMIT event(m->event, m->data);
        return;
    case ServerMessage::Kind::Result: {
        Reply r;
        r.ok = true;
        r.result = m->result;
        finish(m->id, r);
        return;
    }
    case ServerMessage::Kind::Failure: {
        Reply r;
        r.failure = m->failure;
        finish(m->id, r);
        return;
    }
    }
}

void AdminClient::finish(const QString &id, const Reply &reply) {
    auto it = m_pending.find(id);
    if (it == m_pending.end())
        return;
    Pending p = std::move(it.value());
    m_pending.erase(it);
    p.timer->stop();
    p.timer->deleteLater();
    if (p.callback)
        p.callback(reply);
}

void AdminClient::failAll(AdminError code, const QString &message) {
    const QStringList ids = m_pending.keys();
    for (const QString &id : ids) {
        Reply r;
        r.failure = {code, message, {}};
        finish(id, r);
    }
}

} // namespace flashsale::admin
