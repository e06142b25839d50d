#pragma once

#include "protocol/adminclient.h"

#include <QObject>
#include <QPointer>
#include <QTimer>

namespace flashsale::console {

// What the status bar says about the link: connected / connecting / reconnecting in N s /
// refused by the server (401, 429) / not sent (AdminClient refused to send credentials, e.g.
// over ws:// to a remote host), plus the server clock skew and round trip from a ping every 10 s.
//
// AdminClient does not publish when it will retry, so this mirrors its backoff (250 ms doubling
// up to 5 s, reset on connect and on open()) to count down. Lives on the GUI thread; does not
// own the client.
class ConnectionStatus final : public QObject {
    Q_OBJECT
public:
    enum class Kind { Disconnected, Connecting, Connected, Reconnecting, Refused };
    Q_ENUM(Kind)

    explicit ConnectionStatus(admin::AdminClient *client, QObject *parent = nullptr);

    // Call right before AdminClient::open(): forgets a refusal and restarts the backoff mirror
    // (open() may refuse at once, e.g. credentials over ws:// to a remote host).
    void restarted();

    Kind kind() const { return m_kind; }
    QString stateText() const;
    // "server clock +12 ms · round trip 3 ms" (empty before the first ping answer).
    QString clockText() const;
    qint64 reconnectInMs() const;

    static constexpr int kPingIntervalMs = 10000;

Q_SIGNALS:
    void changed();

private:
    void onState(admin::AdminClient::State state);
    void setKind(Kind kind);

    QPointer<admin::AdminClient> m_client;
    Kind m_kind = Kind::Disconnected;
    bool m_refused = false;
    int m_refusedStatus = 0;
    QString m_refusedMessage;
    int m_nextBackoffMs = 250;
    qint64 m_reconnectAtMs = 0;
    bool m_pinged = false;
    QTimer m_ping;
    QTimer m_tick; // redraws the countdown
};

} // namespace flashsale::console
