#pragma once

#include "redis/hiredisqt.h"
#include "redis/redisclient.h"

#include <QByteArray>
#include <QByteArrayList>
#include <QObject>
#include <QSocketNotifier>
#include <QTimer>

struct redisAsyncContext;

namespace flashsale {

class Gauge;

// One Redis connection in subscribed mode (SUBSCRIBE), driven by the Qt event loop of the thread
// that owns it: every message published on its channels arrives as message(). RedisClient has a
// one-callback-per-command contract that a subscription, with its endless stream of replies,
// does not fit; this class is that stream's own.
//
// Ownership and threads: belongs to the thread it was created in; call it and receive its
// signals there.
//
// Connection: AUTH [username] password first when the endpoint has one (a refusal is logged as
// critical and the connection dropped and retried), then SUBSCRIBE; subscribed() is emitted once
// Redis confirms every channel. Pub/sub does not queue messages: whatever was published while the
// connection was down or not yet subscribed is lost, which is why subscribed() is emitted after
// every (re)subscription, for the owner to forget what those messages would have corrected.
// A lost connection emits unsubscribed() and is retried with exponential backoff (50 ms up to
// 2 s). TCP keepalive finds a peer that vanished without closing. Pub/sub channels are not per
// database, so the endpoint's db is not used; on Redis Cluster any node hears every PUBLISH.
class RedisSubscriber final : public QObject {
    Q_OBJECT
public:
    RedisSubscriber(RedisClient::Endpoint endpoint, QByteArrayList channels,
                    QObject *parent = nullptr);
    ~RedisSubscriber() override;

    // Starts connecting; returns at once.
    void start();
    // Whether every channel is subscribed now (between subscribed() and unsubscribed()).
    bool isSubscribed() const { return m_subscribed; }

    // Reports the connection as flashsale_redis_connected{client} (1 while subscribed).
    // Call once, before start().
    void setMetricsName(const QByteArray &client);

Q_SIGNALS:
    void subscribed();
    void unsubscribed();
    void message(const QByteArray &channel, const QByteArray &payload);

private:
    static void onConnect(const redisAsyncContext *ctx, int status);
    static void onDisconnect(const redisAsyncContext *ctx, int status);
    static void onAuth(redisAsyncContext *ctx, void *reply, void *privdata);
    static void onPush(redisAsyncContext *ctx, void *reply, void *privdata);

    void connectNow();
    void subscribeNow();
    void scheduleReconnect();
    void setSubscribed(bool now);

    RedisClient::Endpoint m_endpoint;
    QByteArrayList m_channels;
    redisAsyncContext *m_ctx = nullptr;
    HiredisQtEvents m_events;
    ReconnectBackoff m_backoff{this, &RedisSubscriber::connectNow};
    int m_confirmed = 0; // channels Redis confirmed on this connection
    bool m_subscribed = false;
    Gauge *m_connectedGauge = nullptr; // registry-owned; null when not reported
};

} // namespace flashsale
