#include "connectionstatus.h"

#include <QDateTime>

#include <cmath>

namespace flashsale::console {

using admin::AdminClient;

ConnectionStatus::ConnectionStatus(AdminClient *client, QObject *parent)
    : QObject(parent)
    , m_client(client) {
    connect(client, &AdminClient::stateChanged, this, &ConnectionStatus::onState);
    connect(client, &AdminClient::refused, this, [this](int status, const QString &message) {
        m_refused = true;
        m_refusedStatus = status;
        m_refusedMessage = message;
        setKind(Kind::Refused);
    });
    m_ping.setInterval(kPingIntervalMs);
    connect(&m_ping, &QTimer::timeout, this, [this] {
        if (!m_client || m_client->state() != AdminClient::State::Connected)
            return;
        m_client->ping([self = QPointer(this)](const AdminClient::Reply &r) {
            if (self && r.ok) {
                self->m_pinged = true;
                Q_EMIT self->changed();
            }
        });
    });
    m_tick.setInterval(250);
    connect(&m_tick, &QTimer::timeout, this, [this] {
        if (m_kind == Kind::Reconnecting)
            Q_EMIT changed();
    });
}

void ConnectionStatus::restarted() {
    m_refused = false;
    m_refusedMessage.clear();
    m_nextBackoffMs = 250;
    m_pinged = false;
    m_ping.stop();
    // From here the client's own signals tell: Connecting, or a refusal from inside open().
    setKind(Kind::Disconnected);
}

void ConnectionStatus::onState(AdminClient::State state) {
    switch (state) {
    case AdminClient::State::Connected:
        m_nextBackoffMs = 250;
        m_ping.start();
        // AdminClient pings on connect by itself; pick up the skew when that answer lands.
        QTimer::singleShot(500, this, [this] {
            if (m_client && m_client->lastRoundTripMs() >= 0)
                m_pinged = true;
            Q_EMIT changed();
        });
        setKind(Kind::Connected);
        break;
    case AdminClient::State::Connecting:
        // A retry after a drop still reads "reconnecting" until it succeeds.
        setKind(m_kind == Kind::Reconnecting ? Kind::Reconnecting : Kind::Connecting);
        break;
    case AdminClient::State::Disconnected:
        m_ping.stop();
        if (m_refused) {
            setKind(Kind::Refused);
        } else if (m_client && m_kind != Kind::Disconnected) {
            m_reconnectAtMs = QDateTime::currentMSecsSinceEpoch() + m_nextBackoffMs;
            m_nextBackoffMs = qMin(m_nextBackoffMs * 2, 5000);
            m_tick.start();
            setKind(Kind::Reconnecting);
        }
        break;
    }
}

void ConnectionStatus::setKind(Kind kind) {
    if (kind != Kind::Reconnecting)
        m_tick.stop();
    m_kind = kind;
    Q_EMIT changed();
}

qint64 ConnectionStatus::reconnectInMs() const {
    return qMax<qint64>(0, m_reconnectAtMs - QDateTime::currentMSecsSinceEpoch());
}

QString ConnectionStatus::stateText() const {
    const QString where = m_client ? m_client->url().authority() : QString();
    switch (m_kind) {
    case Kind::Disconnected:
        return QStringLiteral("disconnected");
    case Kind::Connecting:
        return QStringLiteral("connecting to %1…").arg(where);
    case Kind::Connected:
        return QStringLiteral("connected to %1").arg(where);
    case Kind::Reconnecting: {
        const QString error = m_client ? m_client->lastError() : QString();
        const qint64 ms = reconnectInMs();
        const QString when =
            ms > 0 ? QStringLiteral("reconnecting in %1 s").arg(int(std::ceil(double(ms) / 1000.0)))
                   : QStringLiteral("reconnecting…");
        return error.isEmpty() ? when : QStringLiteral("%1 (%2)").arg(when, error);
    }
    case Kind::Refused:
        if (m_refusedStatus == 0) // refused by the console itself: nothing was sent
            return QStringLiteral("not sent: %1").arg(m_refusedMessage);
        if (m_refusedStatus == 401)
            return QStringLiteral("refused: wrong name, password or token (HTTP 401)");
        if (m_refusedStatus == 429)
            return QStringLiteral("refused: too many failed logins, wait a minute (HTTP 429)");
        return QStringLiteral("refused (HTTP %1)").arg(m_refusedStatus);
    }
    return {};
}

QString ConnectionStatus::clockText() const {
    if (!m_client || !m_pinged || m_client->lastRoundTripMs() < 0)
        return {};
    const qint64 skew = m_client->serverSkewMs();
    return QStringLiteral("server clock %1%2 ms · round trip %3 ms")
        .arg(skew >= 0 ? QStringLiteral("+") : QString())
        .arg(skew)
        .arg(m_client->lastRoundTripMs());
}

} // namespace flashsale::console
