#pragma once

#include "result.h"

#include <QByteArray>
#include <QList>
#include <QString>
#include <QStringList>

namespace flashsale {

// Process configuration. Every field is a command-line flag (--redis-url) and an environment
// variable of the same name (FLASHSALE_REDIS_URL); a flag wins over the environment, which
// wins over the default. Validated once, at start-up, by Config::parse().
struct Config {
    QStringList roles{QStringLiteral("api")};
    QString listen = QStringLiteral("127.0.0.1");
    int port = 8080;
    int threads = 0; // 0 = one per core
    QString redisUrl = QStringLiteral("redis://127.0.0.1:6379/0");
    // Issue 21: seed nodes of a Redis Cluster, "host:port,host:port,..." (empty: one node, at
    // redisUrl). With seeds, redisUrl gives only the credentials (its password, or
    // --redis-password[-file]'s), and every Redis connection of the process is a cluster client.
    QString redisClusterNodes;
    QString pgUrl = QStringLiteral("postgresql://flashsale@127.0.0.1:5432/flashsale");
    QString adminToken;
    QString readyFile;
    bool migrateOnly = false;
    QString logFormat = QStringLiteral("text");

    // Connection hardening that QtHttpServer 6.4 lacks.
    int maxConnections = 20000;   // per process; beyond it new connections get 503 and close
    int idleTimeoutMs = 30000;    // keep-alive connection with no request in progress
    int requestTimeoutMs = 10000; // first byte of a request to its last byte (slowloris)
    int maxHeaderBytes = 16384;   // request line plus headers
    int maxBodyBytes = 65536;

    // Booking.
    int redisTimeoutMs = 500; // a Redis reply later than this answers 503
    // A PostgreSQL statement (or connection attempt) unanswered this long drops the connection
    // (PgConnection): a silent network partition is noticed, not waited out (0 = no timer).
    int pgTimeoutMs = 10000;
    int idempotencyTtlSeconds = 86400;
    int holdSeconds = 300;     // default hold time of a new sale
    int admissionRate = 20000; // default per-sale token bucket, bookings per second (0 = off)
    int admissionBurst = 20000;
    // How long an API thread remembers that an item sold out and answers 409 without asking
    // Redis (0 = always ask). Requests with an Idempotency-Key always go to Redis.
    int soldOutCacheMs = 200;
    // Issue 21: after an accepted booking, WAIT for this many replicas to acknowledge it before
    // answering 202 (0 = off); a replica later than redisWaitTimeoutMs answers 503.
    int redisWaitReplicas = 0;
    int redisWaitTimeoutMs = 100;

    // Stream worker and expiry sweeper (role "worker").
    QString workerConsumer; // default: <host>-<pid>
    int workerBatch = 1000;
    int workerBlockMs = 1000;
    int workerClaimIdleMs = 1000; // only entries of consumers without a heartbeat are claimed
    int workerHeartbeatMs = 1500; // heartbeat key lifetime (PX), renewed every third of it
    int expiryIntervalMs = 1000;
    int expiryBatch = 500;

    // Event bus (roles "relay", "payment", "notify").
    QString kafkaBrokers; // bootstrap list; required by those roles
    int relayBatch = 1000;
    int relayPollMs = 1000;
    int relayRetentionS = 7 * 24 * 3600; // published outbox rows kept (Kafka data loss window)
    int paymentSimLatencyMs = 50;
    int paymentSimDeclinePercent = 10;
    bool paymentSimOutage = false;
    // issue 19, H1 (core): payment throughput (shared/payment/paymentservice.h)
    int paymentWindow = 512; // charges in flight per payment process
    int paymentPgPool = 4;   // PostgreSQL connections of the payment service
    int paymentBatch = 256;  // rows per claim/outcome statement
    // H5 (issue 19): provider reconciliation by the payment role, this often (0 = never).
    int providerReconcileIntervalS = 300;

    // Operations: the admin WebSocket, live stats, the scheduler and reconciliation.
    int statsFlushMs = 250;    // how often each API thread adds its counters to Redis
    int heartbeatMs = 500;     // how often each process reports itself in Redis
    int schedulerTickMs = 250; // scheduler loop period (role "scheduler")
    int leaseSeconds = 5;      // the scheduler lease; another process takes over after it lapses
    int warmupSeconds = 60;    // a sale is written to Redis this long before it starts
                               // (a waiting-room sale: before its lobby opens)
    // Entries one waiting room holds at most (I9; docs/WAITING_ROOM.md): joins past it are
    // refused with queue-full. Written into the sale's Redis meta when it is warmed.
    int waitingRoomMaxEntries = 2000000;
    // Admitted-but-unbooked entries of a waiting room stay <= this x its remaining units.
    int waitingRoomAdmitFactor = 1;
    // The waiting room's seed box (docs/WAITING_ROOM.md, "The seed"): the secret (64 hex; the
    // scheduler opens seeds with it at the seal) and the public key (64 hex; enough to seal a new
    // sale's seed, for API processes that must not read seeds). Either one makes new seeds
    // sealed; with neither they are stored plain.
    QString waitingRoomSeedKey;
    QString waitingRoomSeedPublicKey;
    int reconcileIntervalSeconds = 60; // dry-run reconciliation of live sales (0 = never)
    // After a topology change (a Redis node restarted or replaced, the cluster's slot map changed,
    // PostgreSQL's primary changed) the scheduler reconciles every live sale this long after the
    // last signal of the change (docs/SCHEDULER.md, "Reconciliation after a topology change");
    // 0 = never.
    int reconcileTopologyDelayMs = 2000;
    // How long an ended sale's Redis keys are kept after it closes (docs/ARCHITECTURE.md,
    // "Bounds and retention"); the scheduler sets their expiry when it records the close.
    int saleRetentionSeconds = 86400;
    int maxAdminMessageBytes = 65536; // larger admin frames get a typed error
    // Both WebSocket endpoints: a client silent for half this is pinged, for all of it closed
    // (shared/http/websocketlimits.h); 0 = never.
    int webSocketIdleMs = 60000;
    // Operator accounts (docs/ADMIN_PROTOCOL.md, "Logging in").
    int maxFailedLogins = 10; // failed admin logins per minute per address; then 429
    // With no operator yet, the api role creates "admin" (role admin) with a random password
    // written to this file, mode 0600 (empty: no bootstrap operator).
    QString bootstrapOperatorFile;

    // Admission: buyer tokens, proof of work, rate limits (docs/ADMISSION.md).
    QString buyerTokenSecret; // HS256 key of buyer tokens (no kid) and of proof-of-work challenges
    // Rotating buyer-token keys as "kid=secret" (first signs dev tokens; all verify).
    QStringList buyerTokenKeys;
    QString buyerTokenIssuer = QStringLiteral("flashsale");       // required "iss"
    QString buyerTokenAudience = QStringLiteral("flashsale-api"); // required in "aud"
    int buyerTokenMaxLifetimeSeconds = 86400;                     // exp - iat at most
    int buyerTokenClockSkewSeconds = 30;                          // leeway on exp, nbf and iat
    bool devUserIds = false; // accept user_id without a token; POST /api/v1/dev/tokens
    // Per sale GCRA limits, on by default (0 = off); production values in docs/ADMISSION.md.
    // IPv6 clients are limited per /64.
    int rateLimitIp = 10; // bookings per second per client IP per sale
    int rateLimitIpBurst = 20;
    int rateLimitUser = 2; // bookings per second per user per sale
    int rateLimitUserBurst = 5;
    QStringList trustedProxies; // peers whose X-Forwarded-For names the client

    // GET /metrics, on its own listener (never on the public port); -1 = not served.
    QString metricsListen = QStringLiteral("127.0.0.1");
    int metricsPort = -1;
    int metricsCacheMs = 5000; // Redis and PostgreSQL gauges are read at most this often

    // H4 merchant webhooks (issue 19; role "notify"; docs/MERCHANT_WEBHOOKS.md). The endpoints
    // file is read and validated by the notify role at start-up (webhook/merchantendpoints.h).
    QString merchantWebhooksFile;        // JSON endpoints; empty: no merchant webhooks
    int merchantWebhookMaxAttempts = 8;  // then a delivery is a dead letter
    QString merchantWebhookCaFile;       // CA bundle for the endpoints; empty: the system's
    int merchantWebhookBackoffMs = 5000; // wait after the first failure; doubles, jittered
    // ---- issue 19: provider (H3) ----
    // The payment role's gateway: "simulator" (in-process, unit tests) or "http" (a Stripe-shaped
    // provider such as flashsale-paysim, at paymentProviderUrl).
    QString paymentProvider = QStringLiteral("simulator");
    QString paymentProviderUrl;
    QString paymentProviderKey; // read from --payment-provider-key-file (Bearer), never argv
    // POST /api/v1/payments/webhook: the secrets of --payment-webhook-secret-file, one a line
    // (every one verifies: rotation), and the tolerance on the signature's timestamp.
    QList<QByteArray> paymentWebhookSecrets;
    int paymentWebhookToleranceSeconds = 300;
    // ---- end issue 19: provider ----
    // issue 19: notify. Email over SMTP for the notify role (docs/NOTIFICATIONS.md); with no
    // smtpUrl the notify role logs notifications instead (LogSender).
    QString smtpUrl;      // smtp://host:port or smtps://host:port
    QString smtpFrom;     // the envelope sender and From: address (bare address)
    QString smtpFromName; // the display name of From:, from --smtp-from "Name <address>"
    QString smtpRecipientTemplate = QStringLiteral("{user}@example.test");
    bool smtpStartTls = false; // require STARTTLS on smtp:// (no plaintext fallback)
    QString smtpCaFile;        // CA bundle of the relay's certificate; empty: the system's
    QString smtpUser;          // AUTH user; needs smtpPassword
    QString smtpPassword;      // read from --smtp-password-file only, never a flag

    bool hasRole(const QString &role) const;

    // Parses argv and the environment. Returns the config, or an error listing every invalid
    // setting. --help and --version print and exit(0) from inside, as QCommandLineParser does.
    [[nodiscard]] static Result<Config> parse(const QStringList &arguments);

    // Every role this build knows; "all" in --roles expands to these.
    static QStringList knownRoles();
};

} // namespace flashsale
