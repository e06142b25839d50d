#pragma once

#include "redisclient.h"
#include "rediscommands.h"

#include <QHash>
#include <QObject>
#include <QSet>
#include <QString>
#include <QTimer>

#include <chrono>
#include <memory>
#include <vector>

namespace flashsale {

// A Redis Cluster client on top of RedisClient: one pipelined RedisClient per node, a slot map,
// and routing by each command's first key (redisslots.h). It holds no connection code itself.
//
//   command(argv) --slot of first key--> slot map --> node's RedisClient --reply-->
//       -MOVED slot host:port  map[slot] = that node, full map refresh, resend there
//       -ASK slot host:port    ASKING + the command on that node (pipelined, adjacent), once
//       -TRYAGAIN/-CLUSTERDOWN resend after a backoff, at most maxRetries times, then
//                              ErrorCode::Unavailable (callers answer 503)
//       -NOSCRIPT (eval only)  resend as EVAL on the node that answered (preloadScript()
//                              loads scripts on every node as it connects)
//       anything else          delivered as it is
//
// Ownership and threads: as RedisClient. The client and its per-node connections belong to the
// thread that created it; every call must come from that thread; callbacks run there. For one
// connection per node per thread, give each thread its own RedisClusterClient.
//
// Failure: while the client lives every callback runs exactly once; destroying it runs none.
// - no slot map yet, or the node owning the slot not connected: the command is not sent; the map
//   is refreshed and the command retried after a backoff, up to maxRetries, then
//   ErrorCode::Unavailable;
// - a connection lost with the command in flight, or a reply timeout: that error is delivered
//   (the command may have run, so it is not resent) and the map is refreshed;
// - more than maxRedirects MOVED/ASK in one attempt (between two retries): the last redirect
//   reply is delivered as a Redis error reply. A retry starts a new count, so a script that is
//   ASKed over and answered TRYAGAIN on every attempt while its slot migrates is retried until
//   maxRetries, then ErrorCode::Unavailable.
// Commands without a key (PING, INFO, ...) go to any connected primary. Commands to one node
// keep their order; a redirected command may overtake later ones.
// Not done: reads from replicas (READONLY), MULTI/EXEC across redirects, pub/sub.
class RedisClusterClient final : public RedisCommands {
    Q_OBJECT
public:
    struct Options {
        // Seed nodes: any reachable one yields the whole map. Username, password and timeout of
        // the first seed apply to every node; db must be 0 (a cluster has one database).
        QList<RedisClient::Endpoint> seeds;
        std::chrono::milliseconds timeout{1000};
        int maxRedirects = 5;
        // TRYAGAIN, CLUSTERDOWN, slot map missing or node not connected: retries after
        // retryBackoff, doubling up to maxBackoff. Defaults: 25+50+...+400+400+400 ms, about
        // 2 s, which covers a failover with cluster-node-timeout 1000 ms only partly: callers
        // retry by their own rules beyond that.
        int maxRetries = 8;
        std::chrono::milliseconds retryBackoff{25};
        std::chrono::milliseconds maxBackoff{400};
    };

    // Counters since start, for metrics and tests (steady state: redirects stay at zero).
    struct Stats {
        quint64 moved = 0;
        quint64 ask = 0;
        quint64 retries = 0;  // TRYAGAIN, CLUSTERDOWN, no map, node not connected
        quint64 noscript = 0; // EVALSHA answered NOSCRIPT, resent as EVAL
        quint64 mapRefreshes = 0;
    };

    explicit RedisClusterClient(Options options, QObject *parent = nullptr);
    ~RedisClusterClient() override;

    // Connects to the seeds and loads the slot map; returns at once. ready() follows when the
    // first map is loaded, and connected() with it.
    void start() override;
    // The slot map is loaded and a node is connected.
    bool isReady() const override { return m_hasMap && m_up; }
    std::chrono::milliseconds timeout() const override { return m_options.timeout; }
    // Each node's connection is reported as "<client>@host:port" (a bounded set: the nodes).
    void setMetricsName(const QByteArray &client) override { m_metricsName = client; }
    void setRoundTripObserver(std::function<void(double seconds)> observer) override {
        m_roundTrip = std::move(observer);
    }

    // Routed by the slot of argv's first key (redisFirstKeyIndex).
    void command(const QList<QByteArray> &argv, Callback callback) override;
    // Routed by the slot of `routingKey`, for commands the key finder does not know, or WAIT
    // after a write (it must go to the node that took the write).
    void commandForKey(const QByteArray &routingKey, const QList<QByteArray> &argv,
                       Callback callback) override;
    void eval(const RedisScript &script, const QList<QByteArray> &keys,
              const QList<QByteArray> &args, Callback callback) override;

    // On the node of the first command's key, as it is now in the map (no redirect following:
    // a MOVED inside the transaction makes EXEC fail with EXECABORT, which refreshes the map).
    // No map or that node not connected: ErrorCode::Unavailable.
    void transaction(const QList<QList<QByteArray>> &commands, Callback callback) override;

    // Loads `script` (SCRIPT LOAD) on every node connected now and on every node when it
    // connects later (a promoted replica, a node after a restart), so EVALSHA seldom meets
    // NOSCRIPT; eval() still resends as EVAL when it does. A failed load is only logged.
    // eval() calls it for every script the first time it runs one.
    void preloadScript(const RedisScript &script);

    // The primaries in the current map as "host:port", sorted, and a command sent to one of
    // them as it is (no redirect following): for per-node work such as reading each node's
    // streams. An unknown node fails with ErrorCode::NotFound.
    QStringList primaries() const;
    void commandOnNode(const QString &node, const QList<QByteArray> &argv, Callback callback);

    // The primary serving `slot` in the current map as "host:port", or empty.
    QString nodeForSlot(int slot) const;
    bool hasSlotMap() const { return m_hasMap; }
    const Stats &stats() const { return m_stats; }

    // Reloads the slot map now (it is also reloaded after MOVED, CLUSTERDOWN and lost nodes).
    void refreshSlotMap();

Q_SIGNALS:
    void ready();          // the first slot map is loaded
    void slotMapChanged(); // a refresh changed the owner of at least one slot

private:
    struct Node {
        QString name; // host:port
        RedisClient *client = nullptr;
    };
    struct Request;
    using RequestPtr = std::shared_ptr<Request>;

    Node *nodeNamed(const QString &name); // creates and starts the connection when new
    Node *anyReadyNode() const;
    void loadScripts(Node *node, const QList<RedisScript> &scripts);
    void dispatch(const RequestPtr &request, Node *node, bool asking);
    void onReply(const RequestPtr &request, Node *node, const Result<RedisValue> &result);
    void retryLater(const RequestPtr &request, const QString &why);
    bool redirect(const RequestPtr &request, const RedisValue &reply, bool ask);
    void requestRefresh();
    void applySlotMap(const RedisValue &reply, const QString &askedHost);
    void updateUp();

    Options m_options;
    std::vector<std::unique_ptr<Node>> m_nodes;
    QHash<QString, Node *> m_byName;
    std::vector<Node *> m_slots;   // kRedisSlotCount entries; null: not covered
    QList<RedisScript> m_scripts;  // preloadScript(), and every script eval() has run
    QSet<QByteArray> m_scriptShas; // their SHA1s
    bool m_hasMap = false;
    bool m_up = false; // connected() emitted, disconnected() not since
    QByteArray m_metricsName;
    std::function<void(double seconds)> m_roundTrip;
    bool m_refreshInFlight = false;
    bool m_refreshAgain = false;
    QTimer m_refreshRetryTimer;
    Stats m_stats;
};

} // namespace flashsale
