#include "redisclusterclient.h"

#include "core/contract.h"
#include "core/logging.h"
#include "metrics/metrics.h"
#include "redisslots.h"

#include <algorithm>

namespace flashsale {

struct RedisClusterClient::Request {
    QList<QByteArray> argv;
    Callback callback;
    int slot = -1;         // -1: no key, any primary
    QByteArray scriptBody; // eval(): the body to resend as EVAL on NOSCRIPT
    int redirects = 0;
    int retries = 0;
    std::chrono::milliseconds backoff{0};
};

namespace {

// Process-wide counters of what the per-client stats() count (every thread's client adds to
// them): redirects per request in steady state should be zero (docs/REDIS_CLUSTER.md).
Counter &clusterEvents(const char *kind) {
    return Metrics::instance().counter(
        "flashsale_redis_cluster_events_total",
        "Redis Cluster redirects and retries: MOVED, ASK, retry (TRYAGAIN, CLUSTERDOWN, node not "
        "connected), noscript (EVALSHA resent as EVAL), refresh (slot map reloaded).",
        QByteArray("kind=\"") + kind + '"');
}

bool startsWith(const QByteArray &text, const char *word) {
    return text.startsWith(word)
           && (text.size() == qsizetype(qstrlen(word)) || text.at(qstrlen(word)) == ' ');
}

} // namespace

RedisClusterClient::RedisClusterClient(Options options, QObject *parent)
    : RedisCommands(parent)
    , m_options(std::move(options))
    , m_slots(kRedisSlotCount, nullptr) {
    m_refreshRetryTimer.setSingleShot(true);
    m_refreshRetryTimer.setInterval(100);
    connect(&m_refreshRetryTimer, &QTimer::timeout, this, &RedisClusterClient::refreshSlotMap);
}

RedisClusterClient::~RedisClusterClient() {
    // The connections go first and run no callback (RedisClient's rule), so no reply reaches the
    // members destroyed after this.
    for (const auto &node : m_nodes)
        delete node->client;
}

void RedisClusterClient::start() {
    assertOwnThread(this, "RedisClusterClient::start");
    for (const RedisClient::Endpoint &seed : m_options.seeds)
        nodeNamed(seed.host + QLatin1Char(':') + QString::number(seed.port));
}

RedisClusterClient::Node *RedisClusterClient::nodeNamed(const QString &name) {
    if (Node *known = m_byName.value(name))
        return known;
    const qsizetype colon = name.lastIndexOf(QLatin1Char(':'));
    RedisClient::Endpoint endpoint;
    if (!m_options.seeds.isEmpty()) {
        endpoint.username = m_options.seeds.first().username;
        endpoint.password = m_options.seeds.first().password;
    }
    endpoint.host = name.left(colon);
    endpoint.port = name.mid(colon + 1).toInt();
    endpoint.db = 0;
    auto node = std::make_unique<Node>();
    node->name = name;
    node->client = new RedisClient(endpoint, m_options.timeout, this);
    if (!m_metricsName.isEmpty())
        node->client->setMetricsName(m_metricsName + '@' + name.toUtf8());
    node->client->onRoundTrip = m_roundTrip;
    Node *raw = node.get();
    connect(node->client, &RedisClient::connected, this, [this, raw] {
        // Before anything a retry could send: a promoted replica gets the scripts first.
        loadScripts(raw, m_scripts);
        if (!m_hasMap)
            refreshSlotMap();
        updateUp();
    });
    // A node gone may be a primary that is failing over: learn the new owner early.
    connect(node->client, &RedisClient::disconnected, this, [this] {
        requestRefresh();
        updateUp();
    });
    m_byName.insert(name, raw);
    m_nodes.push_back(std::move(node));
    raw->client->start();
    return raw;
}

RedisClusterClient::Node *RedisClusterClient::anyReadyNode() const {
    // Primaries first (they know the map best), then whatever else is connected.
    for (Node *node : m_slots)
        if (node && node->client->isReady())
            return node;
    for (const auto &node : m_nodes)
        if (node->client->isReady())
            return node.get();
    return nullptr;
}

void RedisClusterClient::preloadScript(const RedisScript &script) {
    assertOwnThread(this, "RedisClusterClient::preloadScript");
    m_scripts << script;
    for (const auto &node : m_nodes)
        if (node->client->isReady())
            loadScripts(node.get(), {script});
}

void RedisClusterClient::loadScripts(Node *node, const QList<RedisScript> &scripts) {
    for (const RedisScript &script : scripts) {
        node->client->command(
            {QByteArrayLiteral("SCRIPT"), QByteArrayLiteral("LOAD"), script.body},
            [name = node->name, script = script.name](const Result<RedisValue> &r) {
                if (!r || r->isError())
                    qCWarning(lcRedis).noquote()
                        << "SCRIPT LOAD of" << script << "on" << name
                        << "failed:" << (r ? QString::fromUtf8(r->string) : r.error().message);
            });
    }
}

void RedisClusterClient::command(const QList<QByteArray> &argv, Callback callback) {
    const qsizetype keyIndex = redisFirstKeyIndex(argv);
    auto request = std::make_shared<Request>();
    request->argv = argv;
    request->callback = exactlyOnce(std::move(callback), "RedisClusterClient::command");
    request->slot = keyIndex >= 0 ? redisKeySlot(argv[keyIndex]) : -1;
    dispatch(request, nullptr, false);
}

void RedisClusterClient::commandForKey(const QByteArray &routingKey, const QList<QByteArray> &argv,
                                       Callback callback) {
    auto request = std::make_shared<Request>();
    request->argv = argv;
    request->callback = exactlyOnce(std::move(callback), "RedisClusterClient::commandForKey");
    request->slot = redisKeySlot(routingKey);
    dispatch(request, nullptr, false);
}

void RedisClusterClient::eval(const RedisScript &script, const QList<QByteArray> &keys,
                              const QList<QByteArray> &args, Callback callback) {
    // A script run once is loaded on every node from then on (and first of all on a node that
    // connects later: a promoted replica, a node a reshard added), so a failover or a reshard
    // costs no NOSCRIPT round trips. SCRIPT LOAD goes on each node's connection before this
    // EVALSHA can reach it.
    if (!m_scriptShas.contains(script.sha1)) {
        m_scriptShas.insert(script.sha1);
        preloadScript(script);
    }
    auto request = std::make_shared<Request>();
    request->argv.reserve(3 + keys.size() + args.size());
    request->argv << QByteArrayLiteral("EVALSHA") << script.sha1 << QByteArray::number(keys.size())
                  << keys << args;
    request->callback = exactlyOnce(std::move(callback), "RedisClusterClient::eval");
    request->slot = keys.isEmpty() ? -1 : redisKeySlot(keys.first());
    request->scriptBody = script.body;
    dispatch(request, nullptr, false);
}

void RedisClusterClient::transaction(const QList<QList<QByteArray>> &commands, Callback callback) {
    Node *node = nullptr;
    for (const QList<QByteArray> &c : commands) {
        const qsizetype keyIndex = redisFirstKeyIndex(c);
        if (keyIndex >= 0) {
            node = m_slots[size_t(redisKeySlot(c[keyIndex]))];
            break;
        }
    }
    if (!node || !node->client->isReady()) {
        requestRefresh();
        callback(fail(ErrorCode::Unavailable,
                      QStringLiteral("redis cluster: the transaction's slot is not served")));
        return;
    }
    node->client->transaction(commands,
                              [this, callback = std::move(callback)](const Result<RedisValue> &r) {
                                  if (r && r->isError() && startsWith(r->string, "EXECABORT"))
                                      requestRefresh();
                                  callback(r);
                              });
}

void RedisClusterClient::commandOnNode(const QString &name, const QList<QByteArray> &argv,
                                       Callback callback) {
    Node *node = m_byName.value(name);
    if (!node) {
        callback(fail(ErrorCode::NotFound, QStringLiteral("no redis cluster node %1").arg(name)));
        return;
    }
    node->client->command(argv, std::move(callback));
}

QStringList RedisClusterClient::primaries() const {
    QStringList names;
    for (Node *node : m_slots)
        if (node && (names.isEmpty() || names.last() != node->name))
            names << node->name;
    names.sort();
    names.removeDuplicates();
    return names;
}

QString RedisClusterClient::nodeForSlot(int slot) const {
    if (slot < 0 || slot >= kRedisSlotCount || !m_slots[size_t(slot)])
        return {};
    return m_slots[size_t(slot)]->name;
}

void RedisClusterClient::dispatch(const RequestPtr &request, Node *node, bool asking) {
    assertOwnThread(this, "RedisClusterClient::dispatch");
    if (!node) {
        if (request->slot >= 0) {
            node = m_slots[size_t(request->slot)];
        } else {
            for (Node *candidate : m_slots) {
                if (candidate && candidate->client->isReady()) {
                    node = candidate;
                    break;
                }
            }
        }
    }
    if (!node) {
        retryLater(request, !m_hasMap ? QStringLiteral("no slot map yet")
                            : request->slot >= 0
                                ? QStringLiteral("slot %1 not served").arg(request->slot)
                                : QStringLiteral("no primary connected"));
        return;
    }
    if (!node->client->isReady()) {
        retryLater(request, QStringLiteral("node %1 not connected").arg(node->name));
        return;
    }
    // ASKING and the command go out back to back on one connection: nothing else can be
    // pipelined between them, since only this thread writes to it.
    if (asking)
        node->client->command({QByteArrayLiteral("ASKING")}, [](const Result<RedisValue> &) {});
    node->client->command(request->argv,
                          [this, request, node, asking](const Result<RedisValue> &r) {
                              if (!r) {
                                  // Lost or timed out with the command in flight: it may have run,
                                  // so it is not resent; the map may be stale (a primary died).
                                  if (r.error().code == ErrorCode::Unavailable)
                                      requestRefresh();
                                  request->callback(r);
                                  return;
                              }
                              const RedisValue &value = *r;
                              if (value.isError()) {
                                  const QByteArray &e = value.string;
                                  if (startsWith(e, "MOVED") && redirect(request, value, false))
                                      return;
                                  if (startsWith(e, "ASK") && redirect(request, value, true))
                                      return;
                                  if (startsWith(e, "TRYAGAIN")) {
                                      retryLater(request, QString::fromUtf8(e));
                                      return;
                                  }
                                  if (startsWith(e, "CLUSTERDOWN")) {
                                      requestRefresh();
                                      retryLater(request, QString::fromUtf8(e));
                                      return;
                                  }
                                  if (startsWith(e, "NOSCRIPT") && !request->scriptBody.isEmpty()
                                      && request->argv[0] == "EVALSHA") {
                                      ++m_stats.noscript;
                                      clusterEvents("noscript").inc();
                                      request->argv[0] = QByteArrayLiteral("EVAL");
                                      request->argv[1] = request->scriptBody;
                                      dispatch(request, node, asking);
                                      return;
                                  }
                              }
                              request->callback(r);
                          });
}

bool RedisClusterClient::redirect(const RequestPtr &request, const RedisValue &reply, bool ask) {
    // "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381"
    const QList<QByteArray> parts = reply.string.split(' ');
    if (parts.size() < 3 || ++request->redirects > m_options.maxRedirects)
        return false;
    bool ok = false;
    const int slot = parts[1].toInt(&ok);
    const qsizetype colon = parts[2].lastIndexOf(':');
    if (!ok || slot < 0 || slot >= kRedisSlotCount || colon < 0)
        return false;
    Node *target = nodeNamed(QString::fromUtf8(parts[2]));
    if (ask) {
        ++m_stats.ask;
        clusterEvents("ask").inc();
        dispatch(request, target, true);
    } else {
        ++m_stats.moved;
        clusterEvents("moved").inc();
        m_slots[size_t(slot)] = target;
        requestRefresh();
        dispatch(request, target, false);
    }
    return true;
}

void RedisClusterClient::retryLater(const RequestPtr &request, const QString &why) {
    if (++request->retries > m_options.maxRetries) {
        qCWarning(lcRedis).noquote()
            << "redis cluster: giving up after" << m_options.maxRetries << "retries:" << why;
        request->callback(
            fail(ErrorCode::Unavailable, QStringLiteral("redis cluster: %1").arg(why)));
        return;
    }
    ++m_stats.retries;
    clusterEvents("retry").inc();
    // maxRedirects bounds one attempt's chain of redirects (a loop between nodes that disagree);
    // a retry is a new attempt, bounded by maxRetries. Mid-migration a multi-key script with an
    // absent key goes round ASK (source) then TRYAGAIN (target) on every attempt: counted across
    // attempts, the sixth ASK reached the caller as a raw error reply (a booking's 500).
    request->redirects = 0;
    if (!why.startsWith(QLatin1String("TRYAGAIN")))
        requestRefresh();
    request->backoff = request->backoff.count() == 0
                           ? m_options.retryBackoff
                           : std::min(request->backoff * 2, m_options.maxBackoff);
    QTimer::singleShot(request->backoff, this,
                       [this, request] { dispatch(request, nullptr, false); });
}

void RedisClusterClient::requestRefresh() {
    if (m_refreshInFlight) {
        m_refreshAgain = true;
        return;
    }
    refreshSlotMap();
}

void RedisClusterClient::refreshSlotMap() {
    if (m_refreshInFlight) {
        m_refreshAgain = true;
        return;
    }
    Node *node = anyReadyNode();
    if (!node) {
        if (!m_refreshRetryTimer.isActive())
            m_refreshRetryTimer.start();
        return;
    }
    m_refreshInFlight = true;
    const QString host = node->client->endpoint().host;
    node->client->command({QByteArrayLiteral("CLUSTER"), QByteArrayLiteral("SLOTS")},
                          [this, host](const Result<RedisValue> &r) {
                              m_refreshInFlight = false;
                              if (r && r->isArray()) {
                                  applySlotMap(*r, host);
                              } else {
                                  qCWarning(lcRedis).noquote()
                                      << "CLUSTER SLOTS failed:"
                                      << (r ? QString::fromUtf8(r->string) : r.error().message);
                                  m_refreshRetryTimer.start();
                              }
                              if (m_refreshAgain) {
                                  m_refreshAgain = false;
                                  refreshSlotMap();
                              }
                          });
}

void RedisClusterClient::applySlotMap(const RedisValue &reply, const QString &askedHost) {
    // CLUSTER SLOTS: [[start, end, [host, port, id, ...], replica..., ], ...]
    ++m_stats.mapRefreshes;
    clusterEvents("refresh").inc();
    std::vector<Node *> owners(kRedisSlotCount, nullptr);
    for (const RedisValue &range : reply.elements) {
        const qint64 first = range.at(0).toInt(-1);
        const qint64 last = range.at(1).toInt(-1);
        const RedisValue &primary = range.at(2);
        if (first < 0 || last >= kRedisSlotCount || first > last || !primary.isArray())
            continue;
        QString host = QString::fromUtf8(primary.at(0).bytes());
        if (host.isEmpty() || host == QLatin1String("?"))
            host = askedHost; // "the node you asked", as the spec puts it
        Node *node = nodeNamed(host + QLatin1Char(':') + QString::number(primary.at(1).toInt()));
        std::fill(owners.begin() + first, owners.begin() + last + 1, node);
    }
    const bool changed = owners != m_slots;
    m_slots = std::move(owners);
    if (changed)
        qCInfo(lcRedis).noquote() << "redis cluster slot map: primaries"
                                  << primaries().join(QLatin1Char(' '));
    if (!m_hasMap) {
        m_hasMap = true;
        Q_EMIT ready();
        updateUp();
    } else if (changed) {
        Q_EMIT slotMapChanged();
    }
}

void RedisClusterClient::updateUp() {
    const bool up = m_hasMap && anyReadyNode() != nullptr;
    if (up == m_up)
        return;
    m_up = up;
    if (up)
        Q_EMIT connected();
    else
        Q_EMIT disconnected();
}

} // namespace flashsale
