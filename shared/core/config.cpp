#include "config.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QHostAddress>
#include <QSysInfo>
#include <QThread>
#include <QUrl>

#include <functional>

namespace flashsale {

namespace {

struct Option {
    QString name; // flag name; the variable is FLASHSALE_ + upper snake case of it
    QString description;
    QString valueName;                                       // empty for a switch
    std::function<QString(Config &, const QString &)> apply; // returns an error, or empty
    std::function<QString(const Config &)> show;             // the default, for --help
};

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

std::function<QString(const Config &)> intShow(int Config::*field) {
    return [field](const Config &c) { return QString::number(c.*field); };
}

QString checkUrl(const QString &v, const QStringList &schemes) {
    const QUrl url(v, QUrl::StrictMode);
    if (!url.isValid() || !schemes.contains(url.scheme()) || url.host().isEmpty())
        return QStringLiteral("must be a %1 URL with a host, got '%2'")
            .arg(schemes.join(QLatin1Char('/')), v);
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
        [](const Config &) { return QStringLiteral("(none)"); }};
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
                [](Config &c, const QString &v) -> QString {
                    c.migrateOnly = v != QLatin1String("0") && v != QLatin1String("false");
                    return {};
                },
                [](const Config &) { return QStringLiteral("off"); }};
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
        QStringLiteral("How long a thread answers 'sold out' from memory after Redis said so "
                       "(0 = always ask Redis). Units released meanwhile wait this long."),
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
                QStringLiteral("How long one XREADGROUP waits for new entries."),
                QStringLiteral("ms"), intSetter(&Config::workerBlockMs, 1, 60000),
                intShow(&Config::workerBlockMs)};
    o << Option{QStringLiteral("worker-claim-idle-ms"),
                QStringLiteral("Entries another consumer left unacknowledged this long are taken "
                               "over (XAUTOCLAIM)."),
                QStringLiteral("ms"), intSetter(&Config::workerClaimIdleMs, 100, 3600000),
                intShow(&Config::workerClaimIdleMs)};
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
        QString(),
        [](Config &c, const QString &v) -> QString {
            c.paymentSimOutage = v != QLatin1String("0") && v != QLatin1String("false");
            return {};
        },
        [](const Config &) { return QStringLiteral("off"); }};
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
    o << Option{QStringLiteral("reconcile-interval-seconds"),
                QStringLiteral("Dry-run reconciliation of live sales this often (0 = never)."),
                QStringLiteral("s"), intSetter(&Config::reconcileIntervalSeconds, 0, 86400),
                intShow(&Config::reconcileIntervalSeconds)};
    o << Option{QStringLiteral("buyer-token-secret"),
                QStringLiteral("HS256 key of buyer tokens (JWT) and proof-of-work challenges."),
                QStringLiteral("secret"),
                [](Config &c, const QString &v) -> QString {
                    if (!v.isEmpty() && v.size() < 32)
                        return QStringLiteral("must be at least 32 characters");
                    c.buyerTokenSecret = v;
                    return {};
                },
                [](const Config &) { return QStringLiteral("(none)"); }};
    o << Option{QStringLiteral("dev-user-ids"),
                QStringLiteral("Development: accept user_id without a buyer token, and issue "
                               "tokens at POST /api/v1/dev/tokens. Off in production."),
                QString(),
                [](Config &c, const QString &v) -> QString {
                    c.devUserIds = v != QLatin1String("0") && v != QLatin1String("false");
                    return {};
                },
                [](const Config &c) {
                    return c.devUserIds ? QStringLiteral("on") : QStringLiteral("off");
                }};
    o << Option{QStringLiteral("rate-limit-ip"),
                QStringLiteral("Bookings per second per client IP per sale (0 = off)."),
                QStringLiteral("n"), intSetter(&Config::rateLimitIp, 0, 1000000),
                intShow(&Config::rateLimitIp)};
    o << Option{
        QStringLiteral("rate-limit-ip-burst"),
        QStringLiteral("Bookings a client IP may send at once before --rate-limit-ip applies."),
        QStringLiteral("n"), intSetter(&Config::rateLimitIpBurst, 1, 1000000),
        intShow(&Config::rateLimitIpBurst)};
    o << Option{QStringLiteral("rate-limit-user"),
                QStringLiteral("Bookings per second per user per sale (0 = off)."),
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
    o << Option{QStringLiteral("max-admin-message-bytes"),
                QStringLiteral("Largest admin WebSocket message; larger ones get a typed error."),
                QStringLiteral("bytes"), intSetter(&Config::maxAdminMessageBytes, 1024, 1 << 24),
                intShow(&Config::maxAdminMessageBytes)};
    o << Option{QStringLiteral("max-failed-logins"),
                QStringLiteral("Failed admin logins per minute from one address before it gets "
                               "429 too-many-login-attempts."),
                QStringLiteral("n"), intSetter(&Config::maxFailedLogins, 1, 1000000),
                intShow(&Config::maxFailedLogins)};
    o << Option{QStringLiteral("bootstrap-operator-file"),
                QStringLiteral("When no operator exists, create operator 'admin' (role admin) "
                               "and write its random password to this file (mode 0600)."),
                QStringLiteral("path"),
                [](Config &c, const QString &v) -> QString {
                    c.bootstrapOperatorFile = v;
                    return {};
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
    for (const Option &o : opts) {
        const QString help = QStringLiteral("%1 [env %2; default %3]")
                                 .arg(o.description, envName(o.name), o.show(Config{}));
        cliOptions << (o.valueName.isEmpty() ? QCommandLineOption(o.name, help)
                                             : QCommandLineOption(o.name, help, o.valueName));
        parser.addOption(cliOptions.last());
    }
    parser.process(arguments);

    Config config;
    QStringList errors;
    for (qsizetype i = 0; i < opts.size(); ++i) {
        const Option &o = opts[i];
        QString value;
        QString source;
        if (parser.isSet(cliOptions[i])) {
            value = o.valueName.isEmpty() ? QStringLiteral("1") : parser.value(cliOptions[i]);
            source = QStringLiteral("--") + o.name;
        } else if (qEnvironmentVariableIsSet(envName(o.name).toUtf8().constData())) {
            value = qEnvironmentVariable(envName(o.name).toUtf8().constData());
            source = envName(o.name);
        } else {
            continue;
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
    if (!errors.isEmpty())
        return fail(ErrorCode::Invalid, errors.join(QLatin1Char('\n')));
    return config;
}

} // namespace flashsale
