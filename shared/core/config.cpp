#include "config.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QFile>
#include <QHostAddress>
#include <QRegularExpression>
#include <QSysInfo>
#include <QThread>
#include <QUrl>

#include <functional>
#include <optional>
#include <vector>

namespace flashsale {

namespace {

struct Option {
    QString name; // flag name; the variable is FLASHSALE_ + upper snake case of it
    QString description;
    QString valueName;                                       // empty for a switch
    std::function<QString(Config &, const QString &)> apply; // returns an error, or empty
    std::function<QString(const Config &)> show;             // the default, for --help
    // A secret: also read from a file named by --NAME-file / FLASHSALE_NAME_FILE, so that it
    // need not appear in argv (visible to every local user in ps) or in a long-lived variable.
    bool secret = false;
};

// 64 hex digits: a 32-byte key.
bool isHexKey(const QString &v) {
    static const QRegularExpression hex(QStringLiteral("^[0-9a-fA-F]{64}$"));
    return hex.match(v).hasMatch();
}

// The largest secret file read; a secret is a token or a password, not a document.
constexpr qint64 kMaxSecretFileBytes = 64 * 1024;

// Reads the secret in the file at `path`: its content without trailing line breaks and spaces.
// Returns the value, or sets `error` (unreadable, empty, too large).
QString readSecretFile(const QString &path, QString *error) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("cannot read '%1': %2").arg(path, file.errorString());
        return {};
    }
    const QByteArray content = file.read(kMaxSecretFileBytes + 1);
    if (content.size() > kMaxSecretFileBytes) {
        *error = QStringLiteral("'%1' is larger than %2 bytes").arg(path).arg(kMaxSecretFileBytes);
        return {};
    }
    QByteArray value = content;
    while (!value.isEmpty()
           && (value.endsWith('\n') || value.endsWith('\r') || value.endsWith(' ')
               || value.endsWith('\t')))
        value.chop(1);
    if (value.isEmpty()) {
        *error = QStringLiteral("'%1' is empty").arg(path);
        return {};
    }
    return QString::fromUtf8(value);
}

QString envName(const QString &flag) {
    return QStringLiteral("FLASHSALE_")
           + QString(flag).replace(QLatin1Char('-'), QLatin1Char('_')).toUpper();
}

std::function<QString(Config &, const QString &)> intSetter(int Config::*field, int min, int max) {
    return [field, min, max](Config &c, const QString &v) -> QString {
        bool ok = false;
        const int n = v.toInt(&ok);
        if (!ok || n < min || n > max)
            return QStringLiteral("must be an integer from %1 to %2, got '%3'")
                .arg(min)
                .arg(max)
                .arg(v);
        c.*field = n;
        return {};
    };
}

// Every boolean setting: a switch on the command line gives "1"; a variable must say 1, true, 0
// or false. Anything else ("off", "yes", "") is an error rather than a guess.
std::function<QString(Config &, const QString &)> boolSetter(bool Config::*field) {
    return [field](Config &c, const QString &v) -> QString {
        if (v == QLatin1String("1") || v == QLatin1String("true")) {
            c.*field = true;
        } else if (v == QLatin1String("0") || v == QLatin1String("false")) {
            c.*field = false;
        } else {
            return QStringLiteral("must be 1, true, 0 or false, got '%1'").arg(v);
        }
        return {};
    };
}

std::function<QString(const Config &)> boolShow(bool Config::*field) {
    return [field](const Config &c) {
        return c.*field ? QStringLiteral("on") : QStringLiteral("off");
    };
}

std::function<QString(const Config &)> intShow(int Config::*field) {
    return [field](const Config &c) { return QString::number(c.*field); };
}

QString checkUrl(const QString &v, const QStringList &schemes) {
    const QUrl url(v, QUrl::StrictMode);
    // The message goes to stderr and logs: it names the URL without a password it may hold.
    if (!url.isValid() || !schemes.contains(url.scheme()) || url.host().isEmpty())
        return QStringLiteral("must be a %1 URL with a host, got '%2'")
            .arg(schemes.join(QLatin1Char('/')),
                 url.isValid() ? url.toString(QUrl::RemovePassword) : QStringLiteral("(invalid)"));
    return {};
}

QList<Option> options() {
    const Config d;
    QList<Option> o;
    o << Option{QStringLiteral("roles"),
                QStringLiteral("Comma-separated roles this process runs (%1), or 'all'.")
                    .arg(Config::knownRoles().join(QLatin1Char(','))),
                QStringLiteral("list"),
                [](Config &c, const QString &v) -> QString {
                    QStringList roles;
                    for (const QString &r : v.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
                        const QString role = r.trimmed();
                        if (role == QLatin1String("all")) {
                            roles << Config::knownRoles();
                        } else if (!Config::knownRoles().contains(role)) {
                            return QStringLiteral("unknown role '%1'").arg(role);
                        } else {
                            roles << role;
                        }
                    }
                    if (roles.isEmpty())
                        return QStringLiteral("needs at least one role");
                    roles.removeDuplicates();
                    c.roles = roles;
                    return {};
                },
                [](const Config &c) { return c.roles.join(QLatin1Char(',')); }};
    o << Option{QStringLiteral("listen"), QStringLiteral("Address the HTTP API listens on."),
                QStringLiteral("address"),
                [](Config &c, const QString &v) -> QString {
                    c.listen = v;
                    return {};
                },
                [](const Config &c) { return c.listen; }};
    o << Option{QStringLiteral("port"), QStringLiteral("HTTP port (0 picks a free one)."),
                QStringLiteral("port"), intSetter(&Config::port, 0, 65535), intShow(&Config::port)};
    o << Option{QStringLiteral("threads"),
                QStringLiteral("HTTP threads, each with its own SO_REUSEPORT socket and Redis "
                               "connection (0 = one per core)."),
                QStringLiteral("n"), intSetter(&Config::threads, 0, 256),
                intShow(&Config::threads)};
    o << Option{QStringLiteral("redis-url"),
                QStringLiteral("Redis server, redis://[:password@]host:port[/db]."),
                QStringLiteral("url"),
                [](Config &c, const QString &v) -> QString {
                    c.redisUrl = v;
                    return checkUrl(v, {QStringLiteral("redis")});
                },
                [](const Config &c) { return c.redisUrl; }};
    o << Option{
        QStringLiteral("redis-cluster-nodes"),
        QStringLiteral("Redis Cluster seed nodes, host:port,host:port,... (empty: one Redis "
                       "node at --redis-url). With seeds, --redis-url gives only the "
                       "credentials; every role then talks to the cluster."),
        QStringLiteral("nodes"),
        [](Config &c, const QString &v) -> QString {
            c.redisClusterNodes = v.trimmed();
            if (c.redisClusterNodes.isEmpty())
                return {};
            for (const QString &node : c.redisClusterNodes.split(QLatin1Char(','))) {
                const qsizetype colon = node.trimmed().lastIndexOf(QLatin1Char(':'));
                bool ok = false;
                const int port = colon > 0 ? node.trimmed().mid(colon + 1).toInt(&ok) : 0;
                if (!ok || port < 1 || port > 65535)
                    return QStringLiteral("'%1' is not host:port").arg(node);
            }
            return {};
        },
        [](const Config &c) { return c.redisClusterNodes; }};
    // Applied after --redis-url (options apply in this order): it replaces the URL's password.
    o << Option{QStringLiteral("redis-password"),
                QStringLiteral("Redis AUTH password; replaces a password in --redis-url. Prefer "
                               "--redis-password-file."),
                QStringLiteral("password"),
                [](Config &c, const QString &v) -> QString {
                    QUrl url(c.redisUrl, QUrl::StrictMode);
                    url.setPassword(v, QUrl::DecodedMode);
                    c.redisUrl = url.toString(QUrl::FullyEncoded);
                    return {};
                },
                [](const Config &) { return QStringLiteral("(none)"); },
                true};
    o << Option{QStringLiteral("pg-url"),
                QStringLiteral("PostgreSQL connection URI (libpq syntax)."), QStringLiteral("url"),
                [](Config &c, const QString &v) -> QString {
                    c.pgUrl = v;
                    return checkUrl(v, {QStringLiteral("postgresql"), QStringLiteral("postgres")});
                },
                [](const Config &c) { return c.pgUrl; }};
    o << Option{
        QStringLiteral("admin-token"),
        QStringLiteral("Bearer token for /api/v1/admin/*. Admin routes answer 401 when unset."),
        QStringLiteral("token"),
        [](Config &c, const QString &v) -> QString {
            if (!v.isEmpty() && v.size() < 16)
                return QStringLiteral("must be at least 16 characters");
            c.adminToken = v;
            return {};
        },
        [](const Config &) { return QStringLiteral("(none)"); },
        true};
    o << Option{QStringLiteral("ready-file"),
                QStringLiteral("Write the API base URL to this file once the process serves."),
                QStringLiteral("path"),
                [](Config &c, const QString &v) -> QString {
                    c.readyFile = v;
                    return {};
                },
                [](const Config &) { return QStringLiteral("(none)"); }};
    o << Option{QStringLiteral("migrate-only"),
                QStringLiteral("Apply the SQL migrations and exit."), QString(),
                boolSetter(&Config::migrateOnly), boolShow(&Config::migrateOnly)};
    o << Option{QStringLiteral("log-format"),
                QStringLiteral("Log output: text or json (one object per line)."),
                QStringLiteral("format"),
                [](Config &c, const QString &v) -> QString {
                    if (v != QLatin1String("text") && v != QLatin1String("json"))
                        return QStringLiteral("must be 'text' or 'json'");
                    c.logFormat = v;
                    return {};
                },
                [](const Config &c) { return c.logFormat; }};
    o << Option{QStringLiteral("max-connections"),
                QStringLiteral("Open HTTP connections per process; more get 503 and are closed."),
                QStringLiteral("n"), intSetter(&Config::maxConnections, 1, 1000000),
                intShow(&Config::maxConnections)};
    o << Option{QStringLiteral("idle-timeout-ms"),
                QStringLiteral("Close a keep-alive connection idle this long."),
                QStringLiteral("ms"), intSetter(&Config::idleTimeoutMs, 100, 3600000),
                intShow(&Config::idleTimeoutMs)};
    o << Option{QStringLiteral("request-timeout-ms"),
                QStringLiteral("A request must arrive whole within this time (answers 408)."),
                QStringLiteral("ms"), intSetter(&Config::requestTimeoutMs, 100, 3600000),
                intShow(&Config::requestTimeoutMs)};
    o << Option{QStringLiteral("max-header-bytes"),
                QStringLiteral("Largest request line plus headers (answers 431)."),
                QStringLiteral("bytes"), intSetter(&Config::maxHeaderBytes, 1024, 1 << 20),
                intShow(&Config::maxHeaderBytes)};
    o << Option{QStringLiteral("max-body-bytes"),
                QStringLiteral("Largest request body (answers 413)."), QStringLiteral("bytes"),
                intSetter(&Config::maxBodyBytes, 0, 64 << 20), intShow(&Config::maxBodyBytes)};
    o << Option{QStringLiteral("redis-timeout-ms"),
                QStringLiteral("A Redis reply later than this fails the request with 503."),
                QStringLiteral("ms"), intSetter(&Config::redisTimeoutMs, 10, 60000),
                intShow(&Config::redisTimeoutMs)};
    o << Option{QStringLiteral("redis-wait-replicas"),
                QStringLiteral("After an accepted booking, wait until this many Redis replicas "
                               "have it (WAIT) before answering 202; a replica slower than "
                               "--redis-wait-timeout-ms answers 503 instead (the booking stands: "
                               "a retry with its Idempotency-Key is answered 202). 0 = off "
                               "(docs/RELIABILITY.md)."),
                QStringLiteral("n"), intSetter(&Config::redisWaitReplicas, 0, 16),
                intShow(&Config::redisWaitReplicas)};
    o << Option{QStringLiteral("redis-wait-timeout-ms"),
                QStringLiteral("How long --redis-wait-replicas waits for the replicas."),
                QStringLiteral("ms"), intSetter(&Config::redisWaitTimeoutMs, 1, 10000),
                intShow(&Config::redisWaitTimeoutMs)};
    o << Option{QStringLiteral("pg-timeout-ms"),
                QStringLiteral("A PostgreSQL statement or connection attempt unanswered this long "
                               "drops the connection, which reconnects (0 = never)."),
                QStringLiteral("ms"), intSetter(&Config::pgTimeoutMs, 0, 3600000),
                intShow(&Config::pgTimeoutMs)};
    o << Option{QStringLiteral("idempotency-ttl-seconds"),
                QStringLiteral("How long an Idempotency-Key's first answer is kept."),
                QStringLiteral("s"), intSetter(&Config::idempotencyTtlSeconds, 1, 30 * 86400),
                intShow(&Config::idempotencyTtlSeconds)};
    o << Option{QStringLiteral("hold-seconds"),
                QStringLiteral("Default hold time of a new sale's reservations."),
                QStringLiteral("s"), intSetter(&Config::holdSeconds, 1, 86400),
                intShow(&Config::holdSeconds)};
    o << Option{
        QStringLiteral("admission-rate"),
        QStringLiteral("Default per-sale admission token bucket rate, bookings/s (0 = off)."),
        QStringLiteral("n"), intSetter(&Config::admissionRate, 0, 10000000),
        intShow(&Config::admissionRate)};
    o << Option{QStringLiteral("admission-burst"),
                QStringLiteral("Default per-sale admission token bucket size."),
                QStringLiteral("n"), intSetter(&Config::admissionBurst, 1, 10000000),
                intShow(&Config::admissionBurst)};
    o << Option{
        QStringLiteral("sold-out-cache-ms"),
        QStringLiteral("How long a thread answers 'sold out' from memory after Redis said so, "
                       "at most (0 = always ask Redis). Units that come back are forgotten at "
                       "once while subscribed to flashsale:stock-back; otherwise they wait this "
                       "long."),
        QStringLiteral("ms"), intSetter(&Config::soldOutCacheMs, 0, 60000),
        intShow(&Config::soldOutCacheMs)};
    o << Option{
        QStringLiteral("worker-consumer"),
        QStringLiteral("Consumer name of this stream worker in the group; unique per process."),
        QStringLiteral("name"),
        [](Config &c, const QString &v) -> QString {
            if (v.isEmpty() || v.size() > 100)
                return QStringLiteral("must be 1 to 100 characters");
            c.workerConsumer = v;
            return {};
        },
        [](const Config &) { return QStringLiteral("<host>-<pid>"); }};
    o << Option{QStringLiteral("worker-batch"),
                QStringLiteral("Stream entries read, and written to PostgreSQL, per transaction."),
                QStringLiteral("n"), intSetter(&Config::workerBatch, 1, 100000),
                intShow(&Config::workerBatch)};
    o << Option{QStringLiteral("worker-block-ms"),
                QStringLiteral("How long one XREADGROUP waits for new entries (at most a "
                               "third of --worker-heartbeat-ms)."),
                QStringLiteral("ms"), intSetter(&Config::workerBlockMs, 1, 60000),
                intShow(&Config::workerBlockMs)};
    o << Option{QStringLiteral("worker-claim-idle-ms"),
                QStringLiteral("Entries of a consumer whose heartbeat is gone are taken over "
                               "(XCLAIM) once they have been idle this long."),
                QStringLiteral("ms"), intSetter(&Config::workerClaimIdleMs, 100, 3600000),
                intShow(&Config::workerClaimIdleMs)};
    o << Option{QStringLiteral("worker-heartbeat-ms"),
                QStringLiteral("Lifetime of a worker's heartbeat key, renewed every third of it; "
                               "a worker silent this long is taken for dead."),
                QStringLiteral("ms"), intSetter(&Config::workerHeartbeatMs, 300, 600000),
                intShow(&Config::workerHeartbeatMs)};
    o << Option{QStringLiteral("expiry-interval-ms"),
                QStringLiteral("How often expired holds are looked for."), QStringLiteral("ms"),
                intSetter(&Config::expiryIntervalMs, 10, 3600000),
                intShow(&Config::expiryIntervalMs)};
    o << Option{QStringLiteral("expiry-batch"),
                QStringLiteral("Expired holds cancelled per sweep."), QStringLiteral("n"),
                intSetter(&Config::expiryBatch, 1, 100000), intShow(&Config::expiryBatch)};
    o << Option{
        QStringLiteral("kafka-brokers"),
        QStringLiteral("Kafka bootstrap servers, host:port,... Needed by the relay, payment "
                       "and notify roles; deploy/local/run starts a mock cluster when unset."),
        QStringLiteral("list"),
        [](Config &c, const QString &v) -> QString {
            c.kafkaBrokers = v;
            return {};
        },
        [](const Config &) { return QStringLiteral("(none)"); }};
    o << Option{QStringLiteral("relay-batch"), QStringLiteral("Outbox rows published per round."),
                QStringLiteral("n"), intSetter(&Config::relayBatch, 1, 100000),
                intShow(&Config::relayBatch)};
    o << Option{QStringLiteral("relay-poll-ms"),
                QStringLiteral("The relay looks at the outbox this often even without a NOTIFY."),
                QStringLiteral("ms"), intSetter(&Config::relayPollMs, 10, 3600000),
                intShow(&Config::relayPollMs)};
    o << Option{QStringLiteral("relay-retention-s"),
                QStringLiteral("Published outbox rows are kept this long, and republished if "
                               "Kafka loses them within it."),
                QStringLiteral("s"), intSetter(&Config::relayRetentionS, 60, 365 * 24 * 3600),
                intShow(&Config::relayRetentionS)};
    o << Option{QStringLiteral("payment-sim-latency-ms"),
                QStringLiteral("Latency of the built-in payment simulator."), QStringLiteral("ms"),
                intSetter(&Config::paymentSimLatencyMs, 0, 60000),
                intShow(&Config::paymentSimLatencyMs)};
    o << Option{
        QStringLiteral("payment-sim-decline-percent"),
        QStringLiteral("Share of orders the simulator declines (the same orders every time)."),
        QStringLiteral("pct"), intSetter(&Config::paymentSimDeclinePercent, 0, 100),
        intShow(&Config::paymentSimDeclinePercent)};
    o << Option{
        QStringLiteral("payment-sim-outage"),
        QStringLiteral("Start the simulator in an outage (also switchable at run time: Redis key "
                       "fs:paysim:outage = 1)."),
        QString(), boolSetter(&Config::paymentSimOutage), boolShow(&Config::paymentSimOutage)};
    // issue 19, H1 (core): payment throughput
    o << Option{QStringLiteral("payment-window"),
                QStringLiteral("Charges in flight per payment process: order.created messages "
                               "held at once (the Kafka consumer pauses beyond it)."),
                QStringLiteral("n"), intSetter(&Config::paymentWindow, 1, 100000),
                intShow(&Config::paymentWindow)};
    o << Option{QStringLiteral("payment-pg-pool"),
                QStringLiteral("PostgreSQL connections of the payment service."),
                QStringLiteral("n"), intSetter(&Config::paymentPgPool, 1, 64),
                intShow(&Config::paymentPgPool)};
    o << Option{QStringLiteral("payment-batch"),
                QStringLiteral("Rows per PostgreSQL statement of the payment service (claims, "
                               "outcomes)."),
                QStringLiteral("n"), intSetter(&Config::paymentBatch, 1, 10000),
                intShow(&Config::paymentBatch)};
    o << Option{QStringLiteral("stats-flush-ms"),
                QStringLiteral("How often each API thread adds its live-stats counters to Redis."),
                QStringLiteral("ms"), intSetter(&Config::statsFlushMs, 50, 10000),
                intShow(&Config::statsFlushMs)};
    o << Option{QStringLiteral("heartbeat-ms"),
                QStringLiteral("How often a process reports itself (up, event-loop lag) in Redis."),
                QStringLiteral("ms"), intSetter(&Config::heartbeatMs, 50, 10000),
                intShow(&Config::heartbeatMs)};
    o << Option{QStringLiteral("scheduler-tick-ms"),
                QStringLiteral("Period of the scheduler loop (role scheduler)."),
                QStringLiteral("ms"), intSetter(&Config::schedulerTickMs, 10, 60000),
                intShow(&Config::schedulerTickMs)};
    o << Option{QStringLiteral("lease-seconds"),
                QStringLiteral("The scheduler lease; another scheduler takes over once it lapses."),
                QStringLiteral("s"), intSetter(&Config::leaseSeconds, 1, 3600),
                intShow(&Config::leaseSeconds)};
    o << Option{QStringLiteral("warmup-seconds"),
                QStringLiteral("A scheduled sale is written to Redis this long before it starts."),
                QStringLiteral("s"), intSetter(&Config::warmupSeconds, 0, 86400),
                intShow(&Config::warmupSeconds)};
    o << Option{QStringLiteral("waiting-room-max-entries"),
                QStringLiteral("Entries one sale's waiting room holds at most; later joins get "
                               "queue-full (taken when the sale is warmed)."),
                QStringLiteral("n"), intSetter(&Config::waitingRoomMaxEntries, 1, 100000000),
                intShow(&Config::waitingRoomMaxEntries)};
    o << Option{QStringLiteral("waiting-room-seed-key"),
                QStringLiteral("The waiting room's seed-box secret, 64 hex digits (32 bytes): "
                               "new sales' seeds are sealed to its public key and the scheduler "
                               "opens them at the seal."),
                QStringLiteral("secret"),
                [](Config &c, const QString &v) -> QString {
                    if (!v.isEmpty() && !isHexKey(v))
                        return QStringLiteral("must be 64 hex digits (32 bytes)");
                    c.waitingRoomSeedKey = v;
                    return {};
                },
                [](const Config &) { return QStringLiteral("(none)"); },
                true};
    o << Option{QStringLiteral("waiting-room-seed-public-key"),
                QStringLiteral("The seed box's public key, 64 hex digits: an API process with it "
                               "(and without the secret) seals new sales' seeds it cannot open."),
                QStringLiteral("hex"),
                [](Config &c, const QString &v) -> QString {
                    if (!v.isEmpty() && !isHexKey(v))
                        return QStringLiteral("must be 64 hex digits (32 bytes)");
                    c.waitingRoomSeedPublicKey = v;
                    return {};
                },
                [](const Config &c) {
                    return c.waitingRoomSeedPublicKey.isEmpty() ? QStringLiteral("(none)")
                                                                : c.waitingRoomSeedPublicKey;
                }};
    o << Option{QStringLiteral("waiting-room-admit-factor"),
                QStringLiteral("A waiting room admits while its admitted, unbooked entries stay "
                               "within this many times its remaining units (scheduler)."),
                QStringLiteral("k"), intSetter(&Config::waitingRoomAdmitFactor, 1, 100),
                intShow(&Config::waitingRoomAdmitFactor)};
    o << Option{QStringLiteral("sale-retention-seconds"),
                QStringLiteral("An ended sale's Redis keys expire this long after it closes."),
                QStringLiteral("s"), intSetter(&Config::saleRetentionSeconds, 60, 30 * 86400),
                intShow(&Config::saleRetentionSeconds)};
    o << Option{QStringLiteral("reconcile-interval-seconds"),
                QStringLiteral("Dry-run reconciliation of live sales this often (0 = never)."),
                QStringLiteral("s"), intSetter(&Config::reconcileIntervalSeconds, 0, 86400),
                intShow(&Config::reconcileIntervalSeconds)};
    o << Option{QStringLiteral("reconcile-topology-delay-ms"),
                QStringLiteral("After a Redis restart or failover, a slot map change or a new "
                               "PostgreSQL primary, reconcile live sales this long after the last "
                               "signal (0 = never)."),
                QStringLiteral("ms"), intSetter(&Config::reconcileTopologyDelayMs, 0, 600000),
                intShow(&Config::reconcileTopologyDelayMs)};
    // H5 (issue 19): provider reconciliation
    o << Option{QStringLiteral("provider-reconcile-interval-s"),
                QStringLiteral("The payment role compares the provider's payments with the orders "
                               "and repairs what is safe this often (0 = never)."),
                QStringLiteral("s"), intSetter(&Config::providerReconcileIntervalS, 0, 86400),
                intShow(&Config::providerReconcileIntervalS)};
    o << Option{QStringLiteral("buyer-token-secret"),
                QStringLiteral("HS256 key of buyer tokens (JWT) and proof-of-work challenges."),
                QStringLiteral("secret"),
                [](Config &c, const QString &v) -> QString {
                    if (!v.isEmpty() && v.size() < 32)
                        return QStringLiteral("must be at least 32 characters");
                    c.buyerTokenSecret = v;
                    return {};
                },
                [](const Config &) { return QStringLiteral("(none)"); },
                true};
    o << Option{QStringLiteral("buyer-token-keys"),
                QStringLiteral("Buyer-token keys for rotation: kid=secret,... (secrets of at "
                               "least 32 characters). The first signs dev tokens; every one "
                               "verifies tokens whose header names its kid. Set it in the "
                               "environment or a file: a flag shows in ps."),
                QStringLiteral("list"),
                [](Config &c, const QString &v) -> QString {
                    static const QRegularExpression kidChars(
                        QStringLiteral("^[A-Za-z0-9._-]{1,64}$"));
                    QStringList keys, kids;
                    for (const QString &pair : v.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
                        const qsizetype eq = pair.indexOf(QLatin1Char('='));
                        const QString kid = pair.left(eq).trimmed();
                        // Never echo the value: it holds secrets.
                        if (eq < 0 || !kidChars.match(kid).hasMatch())
                            return QStringLiteral("each entry must be kid=secret with a kid of "
                                                  "1 to 64 letters, digits, '.', '_' or '-'");
                        if (pair.size() - eq - 1 < 32)
                            return QStringLiteral("the secret of kid '%1' must be at least 32 "
                                                  "characters")
                                .arg(kid);
                        if (kids.contains(kid))
                            return QStringLiteral("kid '%1' is listed twice").arg(kid);
                        kids << kid;
                        keys << kid + QLatin1Char('=') + pair.mid(eq + 1);
                    }
                    c.buyerTokenKeys = keys;
                    return {};
                },
                [](const Config &) { return QStringLiteral("(none)"); },
                true};
    o << Option{QStringLiteral("buyer-token-issuer"),
                QStringLiteral("The \"iss\" every buyer token must carry."), QStringLiteral("iss"),
                [](Config &c, const QString &v) -> QString {
                    if (v.isEmpty() || v.size() > 200)
                        return QStringLiteral("must be 1 to 200 characters");
                    c.buyerTokenIssuer = v;
                    return {};
                },
                [](const Config &c) { return c.buyerTokenIssuer; }};
    o << Option{QStringLiteral("buyer-token-audience"),
                QStringLiteral("The audience every buyer token's \"aud\" must name."),
                QStringLiteral("aud"),
                [](Config &c, const QString &v) -> QString {
                    if (v.isEmpty() || v.size() > 200)
                        return QStringLiteral("must be 1 to 200 characters");
                    c.buyerTokenAudience = v;
                    return {};
                },
                [](const Config &c) { return c.buyerTokenAudience; }};
    o << Option{QStringLiteral("buyer-token-max-lifetime-seconds"),
                QStringLiteral("Longest buyer-token lifetime accepted (exp - iat)."),
                QStringLiteral("s"),
                intSetter(&Config::buyerTokenMaxLifetimeSeconds, 60, 30 * 86400),
                intShow(&Config::buyerTokenMaxLifetimeSeconds)};
    o << Option{QStringLiteral("buyer-token-clock-skew-seconds"),
                QStringLiteral("Leeway for the token issuer's clock on exp, nbf and iat."),
                QStringLiteral("s"), intSetter(&Config::buyerTokenClockSkewSeconds, 0, 300),
                intShow(&Config::buyerTokenClockSkewSeconds)};
    o << Option{QStringLiteral("dev-user-ids"),
                QStringLiteral("Development: accept user_id without a buyer token, and issue "
                               "tokens at POST /api/v1/dev/tokens. 1/true or 0/false; refused "
                               "unless --listen is a loopback address. Off in production."),
                QString(), boolSetter(&Config::devUserIds), boolShow(&Config::devUserIds)};
    o << Option{QStringLiteral("rate-limit-ip"),
                QStringLiteral("Bookings per second per client IP (IPv6: per /64) per sale "
                               "(0 = off). For a hot sale: 2, burst 1 (docs/ADMISSION.md)."),
                QStringLiteral("n"), intSetter(&Config::rateLimitIp, 0, 1000000),
                intShow(&Config::rateLimitIp)};
    o << Option{
        QStringLiteral("rate-limit-ip-burst"),
        QStringLiteral("Bookings a client IP may send at once before --rate-limit-ip applies."),
        QStringLiteral("n"), intSetter(&Config::rateLimitIpBurst, 1, 1000000),
        intShow(&Config::rateLimitIpBurst)};
    o << Option{QStringLiteral("rate-limit-user"),
                QStringLiteral("Bookings per second per user per sale (0 = off). For a hot "
                               "sale: 1, burst 1 (docs/ADMISSION.md)."),
                QStringLiteral("n"), intSetter(&Config::rateLimitUser, 0, 1000000),
                intShow(&Config::rateLimitUser)};
    o << Option{
        QStringLiteral("rate-limit-user-burst"),
        QStringLiteral("Bookings a user may send at once before --rate-limit-user applies."),
        QStringLiteral("n"), intSetter(&Config::rateLimitUserBurst, 1, 1000000),
        intShow(&Config::rateLimitUserBurst)};
    o << Option{QStringLiteral("trusted-proxies"),
                QStringLiteral("Comma-separated proxy addresses whose X-Forwarded-For names the "
                               "client (nginx)."),
                QStringLiteral("list"),
                [](Config &c, const QString &v) -> QString {
                    QStringList list;
                    for (const QString &p : v.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
                        if (QHostAddress(p.trimmed()).isNull())
                            return QStringLiteral("'%1' is not an IP address").arg(p.trimmed());
                        list << QHostAddress(p.trimmed()).toString();
                    }
                    c.trustedProxies = list;
                    return {};
                },
                [](const Config &c) {
                    return c.trustedProxies.isEmpty() ? QStringLiteral("(none)")
                                                      : c.trustedProxies.join(QLatin1Char(','));
                }};
    o << Option{QStringLiteral("metrics-listen"),
                QStringLiteral("Address of the /metrics listener (an operator network, not the "
                               "public one)."),
                QStringLiteral("address"),
                [](Config &c, const QString &v) -> QString {
                    if (QHostAddress(v).isNull())
                        return QStringLiteral("'%1' is not an IP address").arg(v);
                    c.metricsListen = v;
                    return {};
                },
                [](const Config &c) { return c.metricsListen; }};
    o << Option{QStringLiteral("metrics-port"),
                QStringLiteral("Port of the /metrics listener (0 picks a free one, -1 = no "
                               "metrics). The API port never serves /metrics."),
                QStringLiteral("port"), intSetter(&Config::metricsPort, -1, 65535),
                intShow(&Config::metricsPort)};
    o << Option{QStringLiteral("metrics-cache-ms"),
                QStringLiteral("/metrics reads Redis and PostgreSQL at most this often, however "
                               "often it is scraped (0 = on every scrape)."),
                QStringLiteral("ms"), intSetter(&Config::metricsCacheMs, 0, 600000),
                intShow(&Config::metricsCacheMs)};
    o << Option{QStringLiteral("max-admin-message-bytes"),
                QStringLiteral("Largest admin WebSocket message; larger ones get a typed error."),
                QStringLiteral("bytes"), intSetter(&Config::maxAdminMessageBytes, 1024, 1 << 24),
                intShow(&Config::maxAdminMessageBytes)};
    o << Option{QStringLiteral("websocket-idle-ms"),
                QStringLiteral("A WebSocket client (admin or buyer) silent for half this is "
                               "pinged, for all of it closed with 1001 (0 = never)."),
                QStringLiteral("ms"), intSetter(&Config::webSocketIdleMs, 0, 3600000),
                intShow(&Config::webSocketIdleMs)};
    o << Option{QStringLiteral("max-failed-logins"),
                QStringLiteral("Failed admin logins per minute from one address before it gets "
                               "429 too-many-login-attempts."),
                QStringLiteral("n"), intSetter(&Config::maxFailedLogins, 1, 1000000),
                intShow(&Config::maxFailedLogins)};
    // ---- issue 19: provider (H3) ----
    o << Option{QStringLiteral("payment-provider"),
                QStringLiteral("The payment role's provider: 'http' (a Stripe-shaped API such as "
                               "flashsale-paysim, at --payment-provider-url) or 'simulator' (in "
                               "process, for tests)."),
                QStringLiteral("http|simulator"),
                [](Config &c, const QString &v) -> QString {
                    if (v != QLatin1String("http") && v != QLatin1String("simulator"))
                        return QStringLiteral("must be http or simulator, got '%1'").arg(v);
                    c.paymentProvider = v;
                    return {};
                },
                [](const Config &c) { return c.paymentProvider; }};
    o << Option{QStringLiteral("payment-provider-url"),
                QStringLiteral("Base URL of the HTTP payment provider (http:// or https://)."),
                QStringLiteral("url"),
                [](Config &c, const QString &v) -> QString {
                    const QUrl url(v, QUrl::StrictMode);
                    if (!url.isValid() || url.host().isEmpty()
                        || (url.scheme() != QLatin1String("http")
                            && url.scheme() != QLatin1String("https")))
                        return QStringLiteral("must be an http(s) URL, got '%1'").arg(v);
                    c.paymentProviderUrl = v;
                    return {};
                },
                [](const Config &) { return QStringLiteral("(none)"); }};
    o << Option{QStringLiteral("payment-provider-key-file"),
                QStringLiteral("A file holding the provider's API key (sent as Authorization: "
                               "Bearer); keep it mode 0600."),
                QStringLiteral("path"),
                [](Config &c, const QString &v) -> QString {
                    QString err;
                    c.paymentProviderKey = readSecretFile(v, &err);
                    return err;
                },
                [](const Config &) { return QStringLiteral("(none)"); }};
    o << Option{QStringLiteral("payment-webhook-secret-file"),
                QStringLiteral("Secrets of POST /api/v1/payments/webhook, one a line; any of them "
                               "verifies (rotation: new and old). Mode 0600."),
                QStringLiteral("path"),
                [](Config &c, const QString &v) -> QString {
                    QString err;
                    const QString content = readSecretFile(v, &err);
                    if (!err.isEmpty())
                        return err;
                    c.paymentWebhookSecrets.clear();
                    for (const QString &line : content.split(QLatin1Char('\n'))) {
                        const QByteArray secret = line.trimmed().toUtf8();
                        if (!secret.isEmpty())
                            c.paymentWebhookSecrets.append(secret);
                    }
                    return {};
                },
                [](const Config &) { return QStringLiteral("(none)"); }};
    o << Option{QStringLiteral("payment-webhook-tolerance-s"),
                QStringLiteral("Largest |now - t| of a webhook's Flashsale-Signature timestamp."),
                QStringLiteral("s"), intSetter(&Config::paymentWebhookToleranceSeconds, 1, 86400),
                intShow(&Config::paymentWebhookToleranceSeconds)};
    // ---- end issue 19: provider ----
    o << Option{QStringLiteral("bootstrap-operator-file"),
                QStringLiteral("When no operator exists, create operator 'admin' (role admin) "
                               "and write its random password to this file (mode 0600)."),
                QStringLiteral("path"),
                [](Config &c, const QString &v) -> QString {
                    c.bootstrapOperatorFile = v;
                    return {};
                },
                [](const Config &) { return QStringLiteral("(none)"); }};
    // ---- H4 merchant webhooks (issue 19) ----
    o << Option{QStringLiteral("merchant-webhooks-file"),
                QStringLiteral("JSON list of merchant webhook endpoints {id, url (https), "
                               "secret_file, events} the notify role delivers order events to "
                               "(docs/MERCHANT_WEBHOOKS.md)."),
                QStringLiteral("path"),
                [](Config &c, const QString &v) -> QString {
                    c.merchantWebhooksFile = v;
                    return {};
                },
                [](const Config &) { return QStringLiteral("(none)"); }};
    o << Option{QStringLiteral("merchant-webhook-max-attempts"),
                QStringLiteral("Attempts of one merchant webhook delivery before it is moved to "
                               "the dead-letter list."),
                QStringLiteral("n"), intSetter(&Config::merchantWebhookMaxAttempts, 1, 100),
                intShow(&Config::merchantWebhookMaxAttempts)};
    o << Option{QStringLiteral("merchant-webhook-backoff-ms"),
                QStringLiteral("Wait after a merchant webhook's first failed attempt; doubles "
                               "with each attempt (jittered, at most an hour)."),
                QStringLiteral("ms"), intSetter(&Config::merchantWebhookBackoffMs, 10, 3600000),
                intShow(&Config::merchantWebhookBackoffMs)};
    o << Option{QStringLiteral("merchant-webhook-ca-file"),
                QStringLiteral("CA bundle that merchant webhook endpoints' certificates are "
                               "checked against (default: the system's)."),
                QStringLiteral("path"),
                [](Config &c, const QString &v) -> QString {
                    c.merchantWebhookCaFile = v;
                    if (!QFile::exists(v))
                        return QStringLiteral("no such file '%1'").arg(v);
                    return {};
                },
                [](const Config &) { return QStringLiteral("(system)"); }};
    // issue 19: notify. The password has no flag of its own, only a file (ps shows argv).
    o << Option{QStringLiteral("smtp-url"),
                QStringLiteral("SMTP relay of the notify role, smtp://host:port (with "
                               "--smtp-starttls to require TLS) or smtps://host:port. Unset: "
                               "notifications are only logged."),
                QStringLiteral("url"),
                [](Config &c, const QString &v) -> QString {
                    c.smtpUrl = v;
                    if (v.isEmpty())
                        return {};
                    const QUrl url(v, QUrl::StrictMode);
                    if (url.isValid() && !url.password().isEmpty())
                        return QStringLiteral("must not hold a password; use "
                                              "--smtp-user and --smtp-password-file");
                    if (url.isValid() && !url.userName().isEmpty())
                        return QStringLiteral("must not hold a user; use --smtp-user");
                    if (url.isValid() && !url.path().isEmpty() && url.path() != QLatin1String("/"))
                        return QStringLiteral("must have no path, got '%1'").arg(url.path());
                    return checkUrl(v, {QStringLiteral("smtp"), QStringLiteral("smtps")});
                },
                [](const Config &) { return QStringLiteral("(none)"); }};
    o << Option{QStringLiteral("smtp-from"),
                QStringLiteral("Sender of notification email: address or \"Name <address>\". "
                               "Required with --smtp-url."),
                QStringLiteral("address"),
                [](Config &c, const QString &v) -> QString {
                    static const QRegularExpression named(
                        QStringLiteral("^\\s*([^<>]*[^<>\\s])\\s*<([^<>]+)>\\s*$"));
                    static const QRegularExpression address(
                        QStringLiteral("^[^@\\s<>\"(),;:]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*$"));
                    QString name, addr = v.trimmed();
                    if (const auto m = named.match(v); m.hasMatch()) {
                        name = m.captured(1);
                        addr = m.captured(2).trimmed();
                    }
                    if (!address.match(addr).hasMatch())
                        return QStringLiteral("must be an address (orders@shop.example) or "
                                              "\"Name <address>\", got '%1'")
                            .arg(v);
                    if (name.contains(QLatin1Char('\n')) || name.contains(QLatin1Char('\r')))
                        return QStringLiteral("the name must be one line");
                    c.smtpFrom = addr;
                    c.smtpFromName = name;
                    return {};
                },
                [](const Config &) { return QStringLiteral("(none)"); }};
    o << Option{QStringLiteral("smtp-recipient-template"),
                QStringLiteral("The buyer's address, {user} replaced by the order's user id "
                               "(orders carry no email address yet)."),
                QStringLiteral("template"),
                [](Config &c, const QString &v) -> QString {
                    static const QRegularExpression shape(QStringLiteral(
                        "^[^@\\s<>\"(),;:]*\\{user\\}[^@\\s<>\"(),;:]*@[A-Za-z0-9.-]+$"));
                    if (!shape.match(v).hasMatch())
                        return QStringLiteral("must be an address with {user} in its local "
                                              "part, such as {user}@example.test, got '%1'")
                            .arg(v);
                    c.smtpRecipientTemplate = v;
                    return {};
                },
                [](const Config &c) { return c.smtpRecipientTemplate; }};
    o << Option{QStringLiteral("smtp-starttls"),
                QStringLiteral("Require STARTTLS on an smtp:// relay: no message goes in "
                               "plaintext (a relay without it is retried, never bypassed)."),
                QString(), boolSetter(&Config::smtpStartTls), boolShow(&Config::smtpStartTls)};
    o << Option{QStringLiteral("smtp-ca-file"),
                QStringLiteral("CA certificates (PEM) that sign the SMTP relay's certificate; "
                               "unset: the system's."),
                QStringLiteral("path"),
                [](Config &c, const QString &v) -> QString {
                    if (!QFile(v).open(QIODevice::ReadOnly))
                        return QStringLiteral("cannot read '%1'").arg(v);
                    c.smtpCaFile = v;
                    return {};
                },
                [](const Config &) { return QStringLiteral("(none)"); }};
    o << Option{QStringLiteral("smtp-user"),
                QStringLiteral("SMTP AUTH user; its password comes from --smtp-password-file."),
                QStringLiteral("user"),
                [](Config &c, const QString &v) -> QString {
                    if (v.isEmpty() || v.size() > 256)
                        return QStringLiteral("must be 1 to 256 characters");
                    c.smtpUser = v;
                    return {};
                },
                [](const Config &) { return QStringLiteral("(none)"); }};
    o << Option{QStringLiteral("smtp-password-file"),
                QStringLiteral("File holding the SMTP AUTH password (mode 0600; there is no "
                               "password flag: argv is visible to every local user)."),
                QStringLiteral("path"),
                [](Config &c, const QString &v) -> QString {
                    QString err;
                    c.smtpPassword = readSecretFile(v, &err);
                    return err;
                },
                [](const Config &) { return QStringLiteral("(none)"); }};
    return o;
}

} // namespace

QStringList Config::knownRoles() {
    return {QStringLiteral("api"),     QStringLiteral("worker"), QStringLiteral("relay"),
            QStringLiteral("payment"), QStringLiteral("notify"), QStringLiteral("scheduler")};
}

bool Config::hasRole(const QString &role) const {
    return roles.contains(role);
}

Result<Config> Config::parse(const QStringList &arguments) {
    const QList<Option> opts = options();
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Flash-sale backend. Every flag is also read from the environment variable "
                       "named FLASHSALE_<FLAG> (upper case, '-' as '_'); a flag wins."));
    parser.addHelpOption();
    parser.addVersionOption();
    QList<QCommandLineOption> cliOptions;
    // For a secret option, its --NAME-file flag; nullopt for the others.
    std::vector<std::optional<QCommandLineOption>> fileOptions;
    for (const Option &o : opts) {
        const QString where = o.secret ? QStringLiteral("env %1, or a file: --%2-file, env %1_FILE")
                                             .arg(envName(o.name), o.name)
                                       : QStringLiteral("env %1").arg(envName(o.name));
        const QString help =
            QStringLiteral("%1 [%2; default %3]").arg(o.description, where, o.show(Config{}));
        cliOptions << (o.valueName.isEmpty() ? QCommandLineOption(o.name, help)
                                             : QCommandLineOption(o.name, help, o.valueName));
        parser.addOption(cliOptions.last());
        fileOptions.emplace_back();
        if (o.secret) {
            fileOptions.back().emplace(
                o.name + QStringLiteral("-file"),
                QStringLiteral("Read --%1 from this file: its content without trailing line "
                               "breaks (keep it mode 0600).")
                    .arg(o.name),
                QStringLiteral("path"));
            parser.addOption(*fileOptions.back());
        }
    }
    parser.process(arguments);

    Config config;
    QStringList errors;
    for (qsizetype i = 0; i < opts.size(); ++i) {
        const Option &o = opts[i];
        const std::optional<QCommandLineOption> &fileOption = fileOptions[size_t(i)];
        const QByteArray env = envName(o.name).toUtf8();
        const QByteArray fileEnv = env + "_FILE";
        QString value;
        QString source;
        QString filePath; // with fromFile, the value is this file's content
        bool fromFile = false;
        if (parser.isSet(cliOptions[i])) {
            if (fileOption && parser.isSet(*fileOption))
                errors << QStringLiteral("--%1 and --%1-file: set one of them").arg(o.name);
            value = o.valueName.isEmpty() ? QStringLiteral("1") : parser.value(cliOptions[i]);
            source = QStringLiteral("--") + o.name;
        } else if (fileOption && parser.isSet(*fileOption)) {
            filePath = parser.value(*fileOption);
            fromFile = true;
            source = QStringLiteral("--%1-file").arg(o.name);
        } else if (qEnvironmentVariableIsSet(env.constData())) {
            if (o.secret && qEnvironmentVariableIsSet(fileEnv.constData()))
                errors << QStringLiteral("%1 and %2: set one of them")
                              .arg(QString::fromLatin1(env), QString::fromLatin1(fileEnv));
            value = qEnvironmentVariable(env.constData());
            source = QString::fromLatin1(env);
        } else if (o.secret && qEnvironmentVariableIsSet(fileEnv.constData())) {
            filePath = qEnvironmentVariable(fileEnv.constData());
            fromFile = true;
            source = QString::fromLatin1(fileEnv);
        } else {
            continue;
        }
        if (fromFile) {
            QString err;
            value = readSecretFile(filePath, &err);
            if (!err.isEmpty()) {
                errors << QStringLiteral("%1: %2").arg(source, err);
                continue;
            }
        }
        if (const QString err = o.apply(config, value); !err.isEmpty())
            errors << QStringLiteral("%1: %2").arg(source, err);
    }
    if (config.threads == 0)
        config.threads = qMax(1, QThread::idealThreadCount());
    if (config.workerConsumer.isEmpty())
        config.workerConsumer = QSysInfo::machineHostName() + QLatin1Char('-')
                                + QString::number(QCoreApplication::applicationPid());
    if (!parser.positionalArguments().isEmpty())
        errors << QStringLiteral("unexpected arguments: %1")
                      .arg(parser.positionalArguments().join(QLatin1Char(' ')));
    for (const char *role : {"relay", "payment", "notify"}) {
        if (config.hasRole(QLatin1String(role)) && config.kafkaBrokers.isEmpty())
            errors << QStringLiteral("--kafka-brokers is required by the %1 role")
                          .arg(QLatin1String(role));
    }
    // issue 19: provider (H3)
    if (config.hasRole(QStringLiteral("payment")) && config.paymentProvider == QLatin1String("http")
        && config.paymentProviderUrl.isEmpty())
        errors << QStringLiteral("--payment-provider http needs --payment-provider-url");
    // Dev mode turns buyer authentication off: only for a process nobody else can reach.
    if (config.devUserIds && !QHostAddress(config.listen).isLoopback())
        errors << QStringLiteral("--dev-user-ids is refused with --listen %1: dev mode is for a "
                                 "loopback address only")
                      .arg(config.listen);
    // issue 19: notify. The SMTP settings agree with each other.
    if (config.smtpUrl.isEmpty()) {
        if (!config.smtpFrom.isEmpty() || config.smtpStartTls || !config.smtpCaFile.isEmpty()
            || !config.smtpUser.isEmpty() || !config.smtpPassword.isEmpty())
            errors << QStringLiteral("--smtp-from, --smtp-starttls, --smtp-ca-file, --smtp-user "
                                     "and --smtp-password-file need --smtp-url");
    } else {
        const QUrl smtp(config.smtpUrl);
        const bool implicitTls = smtp.scheme() == QLatin1String("smtps");
        if (config.smtpFrom.isEmpty())
            errors << QStringLiteral("--smtp-url needs --smtp-from (the sender's address)");
        if (implicitTls && config.smtpStartTls)
            errors << QStringLiteral("--smtp-starttls is for smtp:// URLs; smtps:// is TLS from "
                                     "the first byte");
        if (config.smtpUser.isEmpty() != config.smtpPassword.isEmpty())
            errors << QStringLiteral("--smtp-user and --smtp-password-file go together");
        // AUTH PLAIN in the clear is only acceptable to a relay on this machine.
        if (!config.smtpUser.isEmpty() && !implicitTls && !config.smtpStartTls
            && !QHostAddress(smtp.host()).isLoopback() && smtp.host() != QLatin1String("localhost"))
            errors << QStringLiteral("--smtp-user over smtp:// without --smtp-starttls would send "
                                     "the password in the clear to %1; add --smtp-starttls or use "
                                     "smtps://")
                          .arg(smtp.host());
    }
    if (!errors.isEmpty())
        return fail(ErrorCode::Invalid, errors.join(QLatin1Char('\n')));
    return config;
}

} // namespace flashsale
