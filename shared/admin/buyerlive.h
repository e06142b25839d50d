#pragma once

#include "redis/redisscript.h"

#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QTimer>
#include <QWebSocket>

#include <memory>

namespace flashsale {

class GuardedSocket;
class PgConnection;
class RedisCommands;

// The public buyer socket /api/v1/sales/{id}/live of one API thread: a countdown to the sale's
// start, carrying the server clock so pages can correct their own.
//
// Server to buyer (JSON text frames):
//   {"type":"tick", "sale_id", "server_time_ms", "phase", "state", "starts_at_ms", "ends_at_ms",
//    "starts_in_ms", "ends_in_ms", "remaining"[, "queue"]}
//     ("queue" only for a sale with a waiting room: its line, sale-wide — "state" lobby |
//     sealing | admitting | paused | sold-out | closed, "lobby_opens_at_ms",
//     "cohort_closes_at_ms", "cohort_size" (null before the seal), "cursor", "outstanding",
//     "remaining", "admit_rate_per_minute" (measured; null before), "admit_per_minute")
//     once on connect, every second, and at the exact opening when it is less than a second away;
//   {"type":"pong", "client_time_ms", "server_time_ms"}  answering
//   {"type":"ping","client_time_ms"};
//   {"type":"error", "code", "message"}  for a malformed message (the socket stays open), or for
//     an unknown sale (then the socket closes with code 4404).
// The server clock is Redis' (the clock book.lua opens sales by), read with each tick; pongs use
// the local clock corrected by the offset seen at the last tick.
//
// One timer and one Redis read per sale and thread, shared by every buyer watching it.
class BuyerLiveHub final : public QObject {
    Q_OBJECT
public:
    // idleMs: --websocket-idle-ms, a watcher silent this long is closed (WebSocketLimits::apply).
    BuyerLiveHub(RedisCommands &redis, PgConnection &pg, int idleMs = 0, QObject *parent = nullptr);
    ~BuyerLiveHub() override;

    void accept(std::unique_ptr<QWebSocket> socket, qint64 saleId);
    qsizetype watcherCount() const;

private:
    struct Channel {
        QList<QWebSocket *> sockets;
        QHash<QWebSocket *, qsizetype> at; // each socket's index in `sockets`: O(1) removal

        QTimer timer;
        QTimer opening;
        QJsonObject last;
        bool reading = false;
    };
    void tick(qint64 saleId);
    void publish(qint64 saleId, const QJsonObject &tick);
    void dropSale(qint64 saleId, const QString &message);
    void onText(QWebSocket *socket, const QString &text);
    void remove(QWebSocket *socket, qint64 saleId);

    RedisCommands &m_redis;
    PgConnection &m_pg;
    RedisScript m_live;
    int m_idleMs;
    QHash<qint64, Channel *> m_channels;
    // The socket under each buyer's QWebSocket, written to directly by publish()
    // (GuardedSocket::writeFrames); null when there is none.
    QHash<QWebSocket *, QPointer<GuardedSocket>> m_raw;
    qint64 m_offsetMs = 0; // Redis clock minus local clock
};

} // namespace flashsale
