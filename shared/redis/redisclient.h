#pragma once

#include "core/result.h"
#include "hiredisqt.h"
#include "rediscommands.h"
#include "redisscript.h"
#include "redisvalue.h"

#include <QByteArray>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QSocketNotifier>
#include <QTimer>

#include <chrono>
#include <deque>
#include <functional>

struct redisAsyncContext;

namespace flashsale {

class Gauge;

// One asynchronous hiredis connection driven by the Qt event loop of the thread that owns the
// client. Commands issued back to back are pipelined; replies arrive in order.
//
// Ownership and threads: the client belongs to the thread it was created in, and every call
// must come from that thread. Callbacks run on that thread, from the event loop.
//
// Failure: a command never blocks and, while the client lives, every callback runs exactly once:
// - not connected (yet, or any more): the callback runs at once with ErrorCode::Unavailable;
// - no reply within the timeout: ErrorCode::Timeout (a late reply is then dropped);
// - connection lost with the command in flight: ErrorCode::Unavailable.
// Destroying the client runs no callback: its owner is going away, and a callback run from
// inside the owner's destructor would touch members already destroyed.
// A Redis error reply (-ERR ...) is a successful Result holding a RedisValue of type Error.
// The client reconnects by itself with exponential backoff (50 ms up to 2 s).
// Authentication: with a password, AUTH [username] password is the first command on every
// connection. A refused AUTH (wrong password, unknown user) is logged as critical, once per
// connection, without the password; the commands behind it then get Redis's NOAUTH error reply.
class RedisClient final : public RedisCommands {
    Q_OBJECT
public:
    struct Endpoint {
        QString host = QStringLiteral("127.0.0.1");
        int port = 6379;
        QByteArray username; // an ACL user; empty: the default user (requirepass)
        QByteArray password; // sent with AUTH before any command; empty: no AUTH
        int db = 0;

        // redis://[[username]:password@]host[:port][/db]; user and password percent-decoded.
        // Fails with ErrorCode::Invalid, naming the URL without its password.
        [[nodiscard]] static Result<Endpoint> fromUrl(const QString &url);
    };

    using Callback = RedisCommands::Callback;

    RedisClient(Endpoint endpoint, std::chrono::milliseconds timeout, QObject *parent = nullptr);
    ~RedisClient() override;

    // Starts connecting; returns at once. connected() is emitted when commands can flow.
    void start() override;

    void command(const QList<QByteArray> &argv, Callback callback) override;
    // One node holds every key: the same as command().
    void commandForKey(const QByteArray &, const QList<QByteArray> &argv,
                       Callback callback) override {
        command(argv, std::move(callback));
    }

    // Whether commands can flow now: connected (AUTH may still be on the wire ahead of them).
    // When false, command() fails at once with ErrorCode::Unavailable without sending anything.
    bool isReady() const override { return m_ctx && m_ready; }

    // The node this client talks to.
    const Endpoint &endpoint() const { return m_endpoint; }

    // How long a command waits for its reply before its callback gets ErrorCode::Timeout.
    std::chrono::milliseconds timeout() const override { return m_timeout; }

    // EVALSHA the script; on NOSCRIPT (after a restart, failover or SCRIPT FLUSH) re-sends it as
    // EVAL, which also caches it again, and delivers that answer.
    void eval(const RedisScript &script, const QList<QByteArray> &keys,
              const QList<QByteArray> &args, Callback callback) override;

    void transaction(const QList<QList<QByteArray>> &commands, Callback callback) override;

    // Reports this connection as flashsale_redis_connected{client} (0/1) and
    // flashsale_redis_pending_commands{client} (sent, not yet answered or given up on). `client`
    // names the connection within the process (api-0, worker, heartbeat, ...), a bounded set.
    // Call once, before start().
    void setMetricsName(const QByteArray &client) override;

    // Called with the round-trip time of every answered command (for metrics).
    std::function<void(double seconds)> onRoundTrip;
    void setRoundTripObserver(std::function<void(double seconds)> observer) override {
        onRoundTrip = std::move(observer);
    }

private:
    struct Pending {
        Callback callback;
        std::chrono::steady_clock::time_point sentAt;
        bool done = false;
    };

    static void onConnect(const redisAsyncContext *ctx, int status);
    static void onDisconnect(const redisAsyncContext *ctx, int status);
    static void onReply(redisAsyncContext *ctx, void *reply, void *privdata);

    void connectNow();
    void scheduleReconnect();
    void complete(Pending *pending, void *reply);
    void checkTimeouts();
    void dropConnection(const char *why);
    void setConnectedGauge(bool up);
    void addPendingGauge(qint64 delta);

    Endpoint m_endpoint;
    std::chrono::milliseconds m_timeout;
    redisAsyncContext *m_ctx = nullptr;
    bool m_ready = false;
    HiredisQtEvents m_events;
    std::deque<Pending *> m_pending; // in send order; hiredis answers in this order
    QTimer m_timeoutTimer;
    ReconnectBackoff m_backoff{this, &RedisClient::connectNow};
    Gauge *m_connectedGauge = nullptr; // registry-owned; null when not reported
    Gauge *m_pendingGauge = nullptr;
};

} // namespace flashsale
