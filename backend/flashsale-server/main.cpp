// flashsale-server: every backend role in one binary. --roles picks which run in this process,
// so the local stack runs them together and production runs one role per process.

#include "admin/operatorbootstrap.h"
#include "api/adminlistener.h"
#include "api/apiserver.h"
#include "core/config.h"
#include "core/logging.h"
#include "core/quitonsignals.h"
#include "kafka/kafkaclient.h"
#include "merchant/merchantdelivery.h"
#include "metrics/metrics.h"
#include "metrics/processmetrics.h"
#include "notify/notificationservice.h"
#include "notify/smtpsender.h" // issue 19: notify
#include "outbox/outboxrelay.h"
#include "payment/gatewayfactory.h"
#include "payment/paymentgateway.h"
#include "payment/paymentoutcomes.h"
#include "payment/paymentservice.h"
#include "payment/providerreconcile.h"
#include "pg/migrator.h"
#include "pg/pgconnection.h"
#include "redis/redisconnect.h"
#include "scheduler/scheduler.h"
#include "stats/livestats.h"
#include "worker/expirysweeper.h"
#include "worker/streamworker.h"

#include <QCoreApplication>
#include <QEventLoop>
#include <QFile>
#include <QPointer>
#include <QSaveFile>
#include <QSysInfo>
#include <QThread>
#include <QTimer>

using namespace flashsale;

namespace {

// Migrations at start-up: PostgreSQL may still be starting, so retry for a while.
bool migrate(const Config &config) {
    for (int attempt = 1;; ++attempt) {
        auto r = applyMigrations(config.pgUrl);
        if (r) {
            qCInfo(lcApp) << "schema up to date;" << r->size() << "migrations applied now";
            return true;
        }
        if (r.error().code != ErrorCode::Unavailable || attempt >= 30) {
            qCCritical(lcApp).noquote() << "migrations failed:" << r.error().message;
            return false;
        }
        qCWarning(lcApp).noquote() << "waiting for PostgreSQL:" << r.error().message;
        QThread::msleep(1000);
    }
}

} // namespace

int main(int argc, char *argv[]) {
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("flashsale-server"));
    QCoreApplication::setApplicationVersion(QStringLiteral(FLASHSALE_VERSION));

    auto parsed = Config::parse(app.arguments());
    if (!parsed) {
        std::fprintf(stderr, "flashsale-server: invalid configuration:\n%s\n",
                     qPrintable(parsed.error().message));
        return 2;
    }
    const Config config = *parsed;
    // Every PostgreSQL connection of the process drops an unanswered statement after this.
    PgConnection::setDefaultTimeoutMs(config.pgTimeoutMs);
    // H4: the merchant webhook endpoints are part of the configuration: refused before anything
    // starts, with every problem named (and never a secret).
    std::optional<QList<MerchantEndpoint>> merchantEndpoints;
    if (config.hasRole(QStringLiteral("notify")) && !config.merchantWebhooksFile.isEmpty()) {
        auto endpoints = merchantEndpointsLoad(config.merchantWebhooksFile);
        if (!endpoints) {
            std::fprintf(stderr,
                         "flashsale-server: invalid configuration:\n--merchant-webhooks-file "
                         "%s\n",
                         qPrintable(endpoints.error().message));
            return 2;
        }
        merchantEndpoints = std::move(*endpoints);
    }
    installLogHandler(config.logFormat == QLatin1String("json"));

    if (!migrate(config))
        return 1;
    if (config.migrateOnly)
        return 0;

    if (config.hasRole(QStringLiteral("api")) && !config.bootstrapOperatorFile.isEmpty()) {
        const auto created = bootstrapOperator(config.pgUrl, config.bootstrapOperatorFile);
        if (!created)
            qCWarning(lcApp).noquote() << "bootstrap operator:" << created.error().message;
        else if (*created)
            qCInfo(lcApp).noquote() << "created operator \"admin\" (role admin); its password is "
                                       "in"
                                    << config.bootstrapOperatorFile;
    }

    quitOnSignals(app);

    // Every process, whatever its roles, serves /metrics, /healthz and /readyz on its admin
    // listener (--metrics-port; -1, the default, serves nothing). Up before the roles start, so
    // /healthz answers and /readyz says what is missing while they connect.
    Metrics::instance().addCollector(renderProcessMetrics);
    Metrics::instance()
        .gauge("flashsale_build_info", "This process's version and roles (value 1).",
               "version=\"" + labelValue(QByteArrayLiteral(FLASHSALE_VERSION)) + "\",roles=\""
                   + labelValue(config.roles.join(QLatin1Char(',')).toUtf8()) + '"')
        .set(1);
    ApiServer api(config);
    AdminListener admin(config, api.openConnections());
    if (auto port = admin.start(); !port) {
        qCCritical(lcApp).noquote() << "cannot start the admin listener:" << port.error().message;
        return 1;
    }
    QString url;
    if (config.hasRole(QStringLiteral("api"))) {
        auto port = api.start();
        if (!port) {
            qCCritical(lcApp).noquote() << "cannot start the API:" << port.error().message;
            return 1;
        }
        const QString host = config.listen.contains(QLatin1Char(':'))
                                 ? QLatin1Char('[') + config.listen + QLatin1Char(']')
                                 : config.listen;
        url = QStringLiteral("http://%1:%2").arg(host).arg(*port);
        admin.addCheck(QStringLiteral("api"), [&api] {
            const int down = api.connectionsDown();
            return down == 0 ? QString()
                             : QStringLiteral("%1 Redis/PostgreSQL connections of API threads "
                                              "down")
                                   .arg(down);
        });
    }
    std::unique_ptr<StreamWorker> worker;
    std::unique_ptr<ExpirySweeper> sweeper;
    // One node (--redis-url) or a Redis Cluster (--redis-cluster-nodes): every role's own
    // connections are made from this.
    const auto redis = RedisTarget::fromConfig(config);
    if (!redis) {
        qCCritical(lcApp).noquote() << redis.error().message;
        return 1;
    }
    if (redis->isCluster())
        qCInfo(lcApp).noquote() << "redis: a cluster, seeds" << config.redisClusterNodes;
    if (config.hasRole(QStringLiteral("worker"))) {
        StreamWorkerOptions options;
        options.consumer = config.workerConsumer;
        options.batchSize = config.workerBatch;
        options.blockMs = config.workerBlockMs;
        options.claimIdleMs = config.workerClaimIdleMs;
        options.heartbeatMs = config.workerHeartbeatMs;
        worker = std::make_unique<StreamWorker>(*redis, config.pgUrl, options);
        sweeper = std::make_unique<ExpirySweeper>(*redis, config.pgUrl, config.expiryIntervalMs,
                                                  config.expiryBatch);
        worker->start();
        sweeper->start();
    }
    std::unique_ptr<KafkaProducer> producer;
    std::unique_ptr<OutboxRelay> relay;
    if (config.hasRole(QStringLiteral("relay"))) {
        auto p = KafkaProducer::create(config.kafkaBrokers);
        if (!p) {
            qCCritical(lcApp).noquote() << p.error().message;
            return 1;
        }
        producer.reset(*p);
        relay = std::make_unique<OutboxRelay>(config.pgUrl, *producer, config.relayBatch,
                                              config.relayPollMs, config.relayRetentionS);
        relay->start();
    }
    // The payment role's own Redis connection, beside the service's: the in-process simulator's
    // ledger, and the units provider reconciliation's repairs give back.
    std::unique_ptr<RedisCommands> paymentSideRedis;
    std::unique_ptr<PaymentService> payment;
    if (config.hasRole(QStringLiteral("payment"))) {
        paymentSideRedis = createRedis(*redis, std::chrono::milliseconds(2000));
        paymentSideRedis->setMetricsName("payment-side");
        paymentSideRedis->start();
        // The HTTP provider (--payment-provider http), or the in-process simulator for tests.
        std::unique_ptr<PaymentGateway> gateway = createPaymentGateway(config, *paymentSideRedis);
        payment = std::make_unique<PaymentService>(config.kafkaBrokers, *redis, config.pgUrl,
                                                   std::move(gateway));
        // issue 19, H1 (core): charges in flight, PostgreSQL pool and batches
        payment->setOptions({config.paymentWindow, config.paymentPgPool, config.paymentBatch});
        if (auto r = payment->start(); !r) {
            qCCritical(lcApp).noquote() << r.error().message;
            return 1;
        }
    }
    // ---- H5 (issue 19): provider reconciliation, every --provider-reconcile-interval-s ----
    std::unique_ptr<PgConnection> providerReconcilePg;
    std::unique_ptr<PaymentGateway> providerReconcileGateway;
    std::unique_ptr<PaymentOutcomes> providerReconcileOutcomes;
    std::unique_ptr<ProviderReconciler> providerReconciler;
    if (payment && config.providerReconcileIntervalS > 0) {
        providerReconcilePg = std::make_unique<PgConnection>(config.pgUrl);
        providerReconcilePg->setMetricsPool("provider-reconcile");
        providerReconcileGateway = createPaymentGateway(config, *paymentSideRedis);
        providerReconcileOutcomes =
            std::make_unique<PaymentOutcomes>(*providerReconcilePg, *paymentSideRedis);
        providerReconciler = std::make_unique<ProviderReconciler>(
            *providerReconcilePg, *providerReconcileGateway, *providerReconcileOutcomes);
        providerReconciler->startPeriodic(
            std::chrono::seconds(config.providerReconcileIntervalS),
            QStringLiteral("scheduler@") + QSysInfo::machineHostName() + QLatin1Char('-')
                + QString::number(QCoreApplication::applicationPid()));
        providerReconcilePg->start();
    }
    // ---- end H5 ----
    std::unique_ptr<NotificationService> notify;
    if (config.hasRole(QStringLiteral("notify"))) {
        // issue 19: notify. Email over SMTP with --smtp-url, else one log line per notification.
        std::unique_ptr<NotificationSender> sender;
        if (!config.smtpUrl.isEmpty()) {
            SmtpConfig smtp;
            smtp.url = config.smtpUrl;
            smtp.from = config.smtpFrom;
            smtp.fromName = config.smtpFromName;
            smtp.recipientTemplate = config.smtpRecipientTemplate;
            smtp.startTls = config.smtpStartTls;
            smtp.caFile = config.smtpCaFile;
            smtp.username = config.smtpUser;
            smtp.password = config.smtpPassword;
            qCInfo(lcApp).noquote()
                << "notify: email over" << smtp.url << (smtp.startTls ? "(STARTTLS required)" : "")
                << "from" << smtp.from << "to" << smtp.recipientTemplate;
            sender = std::make_unique<SmtpSender>(std::move(smtp));
        } else {
            qCInfo(lcApp) << "notify: no --smtp-url, notifications go to the log";
            sender = std::make_unique<LogSender>();
        }
        notify = std::make_unique<NotificationService>(config.kafkaBrokers, config.pgUrl,
                                                       std::move(sender));
        if (auto r = notify->start(); !r) {
            qCCritical(lcApp).noquote() << r.error().message;
            return 1;
        }
    }
    // H4: merchant webhooks, run by the notify role when an endpoints file is given.
    std::unique_ptr<MerchantDelivery> merchant;
    if (merchantEndpoints) {
        MerchantDeliveryOptions options;
        options.maxAttempts = config.merchantWebhookMaxAttempts;
        options.backoffBase = std::chrono::milliseconds(config.merchantWebhookBackoffMs);
        options.caFile = config.merchantWebhookCaFile;
        merchant = std::make_unique<MerchantDelivery>(config.kafkaBrokers, config.pgUrl,
                                                      std::move(*merchantEndpoints), options);
        if (auto r = merchant->start(); !r) {
            qCCritical(lcApp).noquote() << r.error().message;
            return 1;
        }
    }
    std::unique_ptr<PgConnection> schedulerPg;
    std::unique_ptr<RedisCommands> schedulerRedis;
    std::unique_ptr<Scheduler> scheduler;
    if (config.hasRole(QStringLiteral("scheduler"))) {
        schedulerPg = std::make_unique<PgConnection>(config.pgUrl);
        // Warming a 10,000-item sale is one large script call: allow it more than a booking.
        schedulerRedis =
            createRedis(*redis, std::chrono::milliseconds(std::max(config.redisTimeoutMs, 5000)));
        schedulerPg->setMetricsPool("scheduler");
        schedulerRedis->setMetricsName("scheduler");
        const QString holder = QSysInfo::machineHostName() + QLatin1Char('-')
                               + QString::number(QCoreApplication::applicationPid());
        scheduler = std::make_unique<Scheduler>(config, *schedulerPg, *schedulerRedis, holder);
        // First tick once PostgreSQL answers; after that, failures are retried tick by tick.
        QObject::connect(
            schedulerPg.get(), &PgConnection::connected, scheduler.get(),
            [s = scheduler.get()] { s->start(); }, Qt::SingleShotConnection);
        schedulerPg->start();
        schedulerRedis->start();
    }
    // The main thread's event-loop lag (issue 20, soak): the worker, relay, payment and notify
    // services run their loops here; the API and admin threads have probes of their own.
    LoopLagProbe mainLoopProbe;
    // Every process reports itself (roles, event-loop lag, consumer lag) for the live stats.
    const std::unique_ptr<RedisCommands> heartbeatRedis =
        createRedis(*redis, std::chrono::milliseconds(2000));
    heartbeatRedis->setMetricsName("heartbeat");
    Heartbeat heartbeat(*heartbeatRedis, config.roles, config.heartbeatMs);
    if (payment)
        heartbeat.addConsumer(QStringLiteral("payment"),
                              [&payment] { return payment->consumerLag(); });
    if (notify)
        heartbeat.addConsumer(QStringLiteral("notify"),
                              [&notify] { return notify->consumerLag(); });
    if (merchant)
        heartbeat.addConsumer(QStringLiteral("merchant-webhooks"),
                              [&merchant] { return merchant->consumerLag(); });
    heartbeatRedis->start();

    if (!config.readyFile.isEmpty()) {
        // The API's URL, or "ready" for a process without the API role.
        const QByteArray content = url.isEmpty() ? QByteArray("ready") : url.toUtf8();
        QSaveFile f(config.readyFile);
        if (!f.open(QIODevice::WriteOnly) || f.write(content + '\n') < 0 || !f.commit()) {
            qCCritical(lcApp) << "cannot write ready file" << config.readyFile;
            return 1;
        }
    }
    qCInfo(lcApp).noquote() << "ready:" << config.roles.join(QLatin1Char(',')) << url;
    const int rc = app.exec();
    admin.stop();
    api.stop();
    if (scheduler) {
        // Give the lease up so another scheduler takes over at once, not after --lease-seconds;
        // wait for that DELETE a little, since the main loop has already returned.
        QEventLoop loop;
        auto released = std::make_shared<bool>(false);
        scheduler->stop([released, waiting = QPointer<QEventLoop>(&loop)] {
            *released = true;
            if (waiting)
                waiting->quit();
        });
        if (!*released) {
            QTimer::singleShot(2000, &loop, &QEventLoop::quit);
            loop.exec();
        }
        scheduler.reset();
    }
    // Leave the live stats' process list at once rather than show as down (docs/CONSOLE.md).
    heartbeat.deregister(1000);
    if (!config.readyFile.isEmpty())
        QFile::remove(config.readyFile);
    return rc;
}
