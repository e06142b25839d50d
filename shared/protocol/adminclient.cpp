#include "adminclient.h"

#include <QDateTime>
#include <QFile>
#include <QHostAddress>
#include <QJsonArray>
#include <QNetworkRequest>
#include <QRegularExpression>
#include <QSslCertificate>
#include <QSslError>

namespace flashsale::admin {

namespace {

bool isLoopbackHost(const QString &host) {
    if (host.compare(QLatin1String("localhost"), Qt::CaseInsensitive) == 0)
        return true;
    const QHostAddress address(host);
    return !address.isNull() && address.isLoopback();
}

// The HTTP status a typed login failure stands for, for refused().
int statusOfFailure(AdminError code) {
    switch (code) {
    case AdminError::Unauthorized:
        return 401;
    case AdminError::Forbidden:
        return 403;
    case AdminError::TooManyLoginAttempts:
        return 429;
    default:
        return 0;
    }
}

} // namespace

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

void AdminClient::open(const QUrl &url, const Credentials &credentials) {
    m_reconnect.stop();
    m_url = url;
    m_credentials = credentials;
    m_closing = false;
    m_backoffMs = 250;
    m_lastError.clear();
    const QString scheme = url.scheme().toLower();
    const bool hasCredential = !credentials.operatorName.isEmpty()
                               || !credentials.password.isEmpty() || !credentials.token.isEmpty();
    // Refusals found here are reported from the event loop, so that whoever called open()
    // sees them as it sees every other refusal, after the call returns.
    const auto refuseLater = [this](const QString &message) {
        m_closing = true;
        m_lastError = message;
        if (m_socket)
            m_socket->abort();
        setState(State::Disconnected);
        QTimer::singleShot(0, this, [this, message] { Q_EMIT refused(0, message); });
    };
    if (scheme == QLatin1String("ws") && hasCredential && !isLoopbackHost(url.host())) {
        return refuseLater(
            QStringLiteral("refusing to send credentials over unencrypted ws:// to %1; use "
                           "wss:// (plain ws:// is allowed only to 127.0.0.1, ::1 or "
                           "localhost)")
                .arg(url.host()));
    }
    if (scheme != QLatin1String("ws") && scheme != QLatin1String("wss")) {
        return refuseLater(
            QStringLiteral("\"%1\" is not a ws:// or wss:// URL").arg(url.toString()));
    }
    m_ssl = QSslConfiguration::defaultConfiguration(); // the system CAs
    m_ssl.setPeerVerifyMode(QSslSocket::VerifyPeer);
    if (!m_caFile.isEmpty()) {
        QFile file(m_caFile);
        if (!file.open(QIODevice::ReadOnly)) {
            return refuseLater(
                QStringLiteral("cannot read the CA file %1: %2").arg(m_caFile, file.errorString()));
        }
        const QList<QSslCertificate> cas = QSslCertificate::fromData(file.readAll(), QSsl::Pem);
        if (cas.isEmpty()) {
            return refuseLater(
                QStringLiteral("the CA file %1 holds no PEM certificate").arg(m_caFile));
        }
        m_ssl.addCaCertificates(cas);
    }
    connectNow();
}

void AdminClient::refuse(int httpStatus, const QString &message) {
    m_closing = true; // retrying with the same credentials cannot help
    m_reconnect.stop();
    m_lastError = message;
    Q_EMIT refused(httpStatus, message);
    if (m_socket && m_socket->state() != QAbstractSocket::UnconnectedState)
        m_socket->abort();
    else
        setState(State::Disconnected);
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
    m_loggedIn = false;
    m_operatorName.clear();
    m_role.clear();
    m_allowedOps.clear();
    m_socket = new QWebSocket(QString(), QWebSocketProtocol::VersionLatest, this);
    // Server pushes (stats of a 10,000-item sale) can be large; the server bounds them itself.
    m_socket->setMaxAllowedIncomingMessageSize(64 << 20);
    m_socket->setSslConfiguration(m_ssl);
    // Connected only once the server's hello says who we are (onHello).
    connect(m_socket, &QWebSocket::connected, this, [this] { m_lastError.clear(); });
    connect(m_socket, &QWebSocket::sslErrors, this, [this](const QList<QSslError> &errors) {
        QStringList texts;
        for (const QSslError &e : errors)
            texts << e.errorString();
        // Never ignored: the socket aborts the handshake after this signal.
        refuse(0, QStringLiteral("the server's TLS certificate was not accepted: %1")
                      .arg(texts.join(QStringLiteral("; "))));
    });
    connect(m_socket, &QWebSocket::textMessageReceived, this, &AdminClient::onText);
    connect(m_socket, &QWebSocket::disconnected, this, &AdminClient::onDisconnected);
    connect(m_socket, qOverload<QAbstractSocket::SocketError>(&QWebSocket::error), this,
            [this](QAbstractSocket::SocketError) {
                if (m_closing)
                    return; // already refused (TLS), or closed on purpose
                m_lastError = m_socket->errorString();
                // A refused handshake reads "... Unhandled http status code: 401 (Unauthorized)."
                static const QRegularExpression status(QStringLiteral("status code: (\\d{3})"));
                const auto match = status.match(m_lastError);
                if (match.hasMatch()) {
                    const int code = match.captured(1).toInt();
                    if (code == 401 || code == 403 || code == 429)
                        refuse(code, m_lastError);
                }
            });
    QNetworkRequest req(m_url);
    if (!m_credentials.operatorName.isEmpty())
        req.setRawHeader("Authorization", "Basic "
                                              + (m_credentials.operatorName.toUtf8() + ':'
                                                 + m_credentials.password.toUtf8())
                                                    .toBase64());
    else if (!m_credentials.token.isEmpty())
        req.setRawHeader("Authorization", "Bearer " + m_credentials.token.toUtf8());
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
        if (m->event == QLatin1String(kEventHello))
            onHello(m->data);
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
        // A failure with no id before the hello is the server refusing the login.
        if (!m_loggedIn && m->id.isEmpty()) {
            const int status = statusOfFailure(m->failure.code);
            if (status != 0) {
                refuse(status, QStringLiteral("%1: %2").arg(errorName(m->failure.code),
                                                            m->failure.message));
                return;
            }
        }
        Reply r;
        r.failure = m->failure;
        finish(m->id, r);
        return;
    }
    }
}

void AdminClient::onHello(const QJsonObject &data) {
    const QJsonObject op = data.value(QStringLiteral("operator")).toObject();
    m_operatorName = op.value(QStringLiteral("name")).toString();
    m_role = op.value(QStringLiteral("role")).toString();
    m_allowedOps.clear();
    for (const QJsonValue &v : data.value(QStringLiteral("allowed_ops")).toArray())
        m_allowedOps.insert(v.toString());
    if (m_loggedIn)
        return;
    m_loggedIn = true;
    m_backoffMs = 250;
    m_lastError.clear();
    setState(State::Connected);
    ping();
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
