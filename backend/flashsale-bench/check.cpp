// `flashsale-bench check`: after a load run, wait for the sale to drain, read it from Redis,
// PostgreSQL and Kafka, and judge invariants I1-I7 against the ledger the load generator wrote.
// It reads on its own, never through the Reconciler, so a bug there cannot hide one here.
//
//   drain   bounded wait until nothing the checks depend on moves (DrainStatus)
//   read    PostgreSQL (one snapshot), then Redis (counters in one MULTI), then Kafka to EOF
//   judge   checkInvariants(): one "PASS|FAIL <id> <name>: <figures>" line per check
//
// Exit codes: 0 every check passed, 1 a check failed, 2 usage, 3 could not check.

#include "bench.h"
#include "commandhelp.h"
#include "invariants.h"
#include "kafkaread.h"
#include "ledger.h"
#include "providerledger.h"
#include "salereader.h"

#include <QCommandLineParser>
#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QThread>

#include <cstdio>

namespace flashsale::bench {

namespace {

constexpr int kExitPass = 0;
constexpr int kExitFail = 1;
constexpr int kExitUsage = 2;
constexpr int kExitCannotCheck = 3;
constexpr int kPollMs = 500;
constexpr int kProgressMs = 3000;
// After everything else drained, how long a cancellation may take to reach Redis (a declined
// payment is cancelled in PostgreSQL first, released after). Longer is a failure of I4.
constexpr int kReleaseGraceMs = 10000;
constexpr int kKafkaTimeoutMs = 60000;

void say(const QString &line) {
    std::fprintf(stdout, "%s\n", qPrintable(line));
    std::fflush(stdout);
}

struct Outcome {
    int exitCode = kExitPass;
    QString error;
    QJsonObject drain;
    QList<CheckResult> checks;
};

void writeJson(const QString &path, qint64 saleId, const Outcome &o) {
    if (path.isEmpty())
        return;
    QJsonArray checks;
    for (const CheckResult &c : o.checks)
        checks.append(c.toJson());
    QJsonObject doc{{QStringLiteral("sale_id"), saleId},
                    {QStringLiteral("ok"), o.exitCode == kExitPass},
                    {QStringLiteral("exit_code"), o.exitCode},
                    {QStringLiteral("drain"), o.drain},
                    {QStringLiteral("checks"), checks}};
    if (!o.error.isEmpty())
        doc.insert(QStringLiteral("error"), o.error);
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        std::fprintf(stderr, "flashsale-bench check: cannot write %s: %s\n", qPrintable(path),
                     qPrintable(f.errorString()));
        return;
    }
    f.write(QJsonDocument(doc).toJson(QJsonDocument::Indented));
}

QJsonObject drainJson(const DrainStatus &d, qint64 ms, bool settled) {
    return {{QStringLiteral("seconds"), double(ms) / 1000.0},
            {QStringLiteral("settled"), settled},
            {QStringLiteral("stream_undelivered"), d.streamUndelivered},
            {QStringLiteral("stream_pending"), d.streamPending},
            {QStringLiteral("outbox_unpublished"), d.outboxUnpublished},
            {QStringLiteral("orders_pending"), d.ordersPending},
            {QStringLiteral("payments_charging"), d.paymentsCharging},
            {QStringLiteral("endings_not_notified"), d.endingsNotNotified},
            {QStringLiteral("cancelled_not_released"), d.cancelledNotReleased}};
}

// Waits until the sale settles (see DrainStatus), printing progress. Returns false, with
// `o.error` set, when a server fails or the timeout passes first.
bool drain(SaleReader &reader, bool allEnded, int timeoutSeconds, Outcome &o) {
    QElapsedTimer t;
    t.start();
    const QDeadlineTimer deadline(qint64(timeoutSeconds) * 1000);
    qint64 lastProgress = -kProgressMs;
    qint64 settledAt = -1;
    for (;;) {
        const Result<DrainStatus> d = reader.drainStatus(allEnded);
        if (!d) {
            o.error = d.error().message;
            return false;
        }
        const bool settled = d->settled(allEnded);
        if (settled && settledAt < 0)
            settledAt = t.elapsed();
        const bool released = !allEnded || d->cancelledNotReleased == 0;
        if (settled && (released || t.elapsed() - settledAt >= kReleaseGraceMs)) {
            o.drain = drainJson(*d, t.elapsed(), true);
            say(QStringLiteral("drained in %1 s: %2")
                    .arg(t.elapsed() / 1000.0, 0, 'f', 1)
                    .arg(d->describe(allEnded)));
            return true;
        }
        if (deadline.hasExpired()) {
            o.drain = drainJson(*d, t.elapsed(), false);
            o.error = QStringLiteral("not drained after %1 s: %2")
                          .arg(timeoutSeconds)
                          .arg(d->describe(allEnded));
            return false;
        }
        if (t.elapsed() - lastProgress >= kProgressMs) {
            lastProgress = t.elapsed();
            say(QStringLiteral("draining %1 s: %2")
                    .arg(t.elapsed() / 1000.0, 0, 'f', 1)
                    .arg(d->describe(allEnded)));
        }
        QThread::msleep(kPollMs);
    }
}

} // namespace

int runCheck(const QStringList &args) {
    QCommandLineParser p;
    p.setApplicationDescription(QStringLiteral(
        "After a load run: wait for the sale to drain, then check invariants I1-I7 against "
        "Redis, PostgreSQL, Kafka and the ledger. Exit 0 all PASS, 1 a FAIL, 2 usage, 3 could "
        "not check."));
    p.addHelpOption();
    const QCommandLineOption saleOpt(QStringLiteral("sale"), QStringLiteral("The sale id."),
                                     QStringLiteral("id"));
    const QCommandLineOption redisOpt(
        QStringLiteral("redis-url"),
        QStringLiteral("Redis, redis://host:port/db (FLASHSALE_REDIS_URL)."), QStringLiteral("url"),
        qEnvironmentVariable("FLASHSALE_REDIS_URL"));
    const QCommandLineOption pgOpt(QStringLiteral("pg-url"),
                                   QStringLiteral("PostgreSQL connection URL (FLASHSALE_PG_URL)."),
                                   QStringLiteral("url"), qEnvironmentVariable("FLASHSALE_PG_URL"));
    const QCommandLineOption kafkaOpt(
        QStringLiteral("kafka-brokers"),
        QStringLiteral("Kafka bootstrap list host:port,... (FLASHSALE_KAFKA_BROKERS)."),
        QStringLiteral("list"), qEnvironmentVariable("FLASHSALE_KAFKA_BROKERS"));
    const QCommandLineOption ledgerOpt(QStringLiteral("ledger"),
                                       QStringLiteral("The ledger flashsale-bench load wrote."),
                                       QStringLiteral("file"));
    const QCommandLineOption reportOpt(
        QStringLiteral("report"),
        QStringLiteral("The load report: enables the latency and errors checks."),
        QStringLiteral("file"));
    const QCommandLineOption soldOpt(
        QStringLiteral("expect-sold"),
        QStringLiteral("Units sold (in orders not cancelled) must be exactly n."),
        QStringLiteral("n"));
    const QCommandLineOption p99Opt(QStringLiteral("max-p99-ms"),
                                    QStringLiteral("The report's p99 latency must not exceed ms."),
                                    QStringLiteral("ms"));
    const QCommandLineOption allowOpt(
        QStringLiteral("allow-types"),
        QStringLiteral("Answer types (the report's by_type) allowed besides accepted, "
                       "comma-separated; a trailing * matches a prefix (transport:*)."),
        QStringLiteral("list"));
    const QCommandLineOption endedOpt(
        QStringLiteral("expect-all-ended"),
        QStringLiteral("Wait until no order is pending and every ending is consumed; then "
                       "every order must be paid or cancelled (I4)."));
    const QCommandLineOption drainOpt(QStringLiteral("drain-timeout-seconds"),
                                      QStringLiteral("Give up draining after s (exit 3)."),
                                      QStringLiteral("s"), QStringLiteral("120"));
    const QCommandLineOption jsonOpt(QStringLiteral("json"),
                                     QStringLiteral("Also write the results as JSON to file."),
                                     QStringLiteral("file"));
    const QCommandLineOption dataLossOpt(
        QStringLiteral("redis-data-loss"),
        QStringLiteral("Redis lost data on purpose (a power-loss fault case): bookings lost in "
                       "the fsync window and orders ended hold-lost are reported, not failed."));
    const QCommandLineOption paysimOpt(
        QStringLiteral("paysim-url"),
        QStringLiteral("flashsale-paysim's base URL: read its GET /ledger and check \"I5 charged "
                       "at most once\" from the provider's side (FLASHSALE_PAYSIM_URL)."),
        QStringLiteral("url"), qEnvironmentVariable("FLASHSALE_PAYSIM_URL"));
    p.addOptions({saleOpt, redisOpt, pgOpt, kafkaOpt, ledgerOpt, reportOpt, soldOpt, p99Opt,
                  allowOpt, endedOpt, drainOpt, jsonOpt, paysimOpt, dataLossOpt});

    auto usage = [&p](const QString &message) {
        std::fprintf(stderr, "flashsale-bench check: %s\n\n%s", qPrintable(message),
                     qPrintable(commandHelp(p, QStringLiteral("check"))));
        return kExitUsage;
    };
    if (!p.parse(args))
        return usage(p.errorText());
    if (p.isSet(QStringLiteral("help"))) {
        std::fprintf(stdout, "%s", qPrintable(commandHelp(p, QStringLiteral("check"))));
        return kExitPass;
    }
    bool ok = false;
    const qint64 saleId = p.value(saleOpt).toLongLong(&ok);
    if (!ok || saleId <= 0)
        return usage(QStringLiteral("--sale must be a sale id"));
    for (const QCommandLineOption *o : {&redisOpt, &pgOpt, &kafkaOpt, &ledgerOpt}) {
        if (p.value(*o).isEmpty())
            return usage(QStringLiteral("--%1 is required").arg(o->names().first()));
    }
    const int drainSeconds = p.value(drainOpt).toInt(&ok);
    if (!ok || drainSeconds < 0)
        return usage(QStringLiteral("--drain-timeout-seconds must be a number of seconds"));
    CheckOptions options;
    options.expectAllEnded = p.isSet(endedOpt);
    options.redisDataLoss = p.isSet(dataLossOpt);
    if (p.isSet(soldOpt)) {
        options.expectSold = p.value(soldOpt).toLongLong(&ok);
        if (!ok || *options.expectSold < 0)
            return usage(QStringLiteral("--expect-sold must be a number of units"));
    }
    if (p.isSet(p99Opt)) {
        options.maxP99Ms = p.value(p99Opt).toDouble(&ok);
        if (!ok || !p.isSet(reportOpt))
            return usage(QStringLiteral("--max-p99-ms needs a number and --report"));
    }
    for (const QString &v : p.values(allowOpt)) {
        for (const QString &t : v.split(QLatin1Char(','), Qt::SkipEmptyParts))
            options.allowTypes << t.trimmed();
    }

    QString error;
    QElapsedTimer ledgerTime;
    ledgerTime.start();
    const std::optional<Ledger> ledger = readLedger(p.value(ledgerOpt), &error);
    if (!ledger)
        return usage(error);
    if (ledger->saleId != saleId)
        return usage(
            QStringLiteral("the ledger is of sale %1, not %2").arg(ledger->saleId).arg(saleId));
    std::optional<LoadReport> report;
    if (p.isSet(reportOpt)) {
        report = readLoadReport(p.value(reportOpt), &error);
        if (!report)
            return usage(error);
    }
    const QString jsonPath = p.value(jsonOpt);

    say(QStringLiteral("flashsale-bench check: sale %1; ledger %2 accepted, %3 unknown (read in "
                       "%4 s)%5")
            .arg(saleId)
            .arg(ledger->accepted.size())
            .arg(ledger->unknown.size())
            .arg(ledgerTime.elapsed() / 1000.0, 0, 'f', 1)
            .arg(ledger->ended ? QString()
                               : QStringLiteral(" (no end line: the load did not finish)")));

    Outcome o;
    auto cannot = [&](const QString &why) {
        o.exitCode = kExitCannotCheck;
        o.error = why;
        say(QStringLiteral("could not check: %1").arg(why));
        writeJson(jsonPath, saleId, o);
        return kExitCannotCheck;
    };

    SaleReader reader(saleId);
    if (auto c = reader.connect(p.value(redisOpt), p.value(pgOpt)); !c)
        return cannot(c.error().message);
    if (!drain(reader, options.expectAllEnded, drainSeconds, o))
        return cannot(o.error);

    QElapsedTimer phase;
    phase.start();
    const Result<PgView> pg = reader.readPg();
    if (!pg)
        return cannot(pg.error().message);
    if (!pg->saleFound)
        return cannot(QStringLiteral("sale %1 is not in PostgreSQL").arg(saleId));
    QList<qint64> orderIds;
    orderIds.reserve(pg->orders.size());
    for (const OrderRecord &r : pg->orders)
        orderIds << r.id;
    const qint64 pgMs = phase.restart();
    const Result<RedisView> redis = reader.readRedis(orderIds);
    if (!redis)
        return cannot(redis.error().message);
    if (!redis->warm)
        return cannot(QStringLiteral("sale %1 is not in Redis (never warmed, or its keys are "
                                     "gone): nothing to compare")
                          .arg(saleId));
    const qint64 redisMs = phase.restart();
    const Result<KafkaView> kafka =
        readSaleEvents(p.value(kafkaOpt),
                       {QByteArrayLiteral("order.created"), QByteArrayLiteral("order.paid"),
                        QByteArrayLiteral("order.cancelled")},
                       saleId, kKafkaTimeoutMs);
    if (!kafka)
        return cannot(kafka.error().message);
    say(QStringLiteral("read: PostgreSQL %1 orders in %2 s; Redis %3 stream bookings in %4 s; "
                       "Kafka %5 messages of the sale (%6 of others) in %7 s")
            .arg(pg->orders.size())
            .arg(pgMs / 1000.0, 0, 'f', 1)
            .arg(redis->bookEntries)
            .arg(redisMs / 1000.0, 0, 'f', 1)
            .arg(kafka->messages)
            .arg(kafka->otherMessages)
            .arg(phase.elapsed() / 1000.0, 0, 'f', 1));

    phase.restart();
    o.checks = checkInvariants({*ledger, *pg, *redis, *kafka, report}, options);
    if (!p.value(paysimOpt).isEmpty()) {
        QString why;
        const auto providerLedger = fetchPaysimLedger(p.value(paysimOpt), 60000, &why);
        if (!providerLedger)
            return cannot(why);
        o.checks << checkProviderCharges(*providerLedger, *pg);
    }
    const qint64 judgeMs = phase.elapsed();
    qsizetype failed = 0;
    for (const CheckResult &c : std::as_const(o.checks)) {
        say(c.line());
        failed += !c.pass;
    }
    o.exitCode = failed > 0 ? kExitFail : kExitPass;
    const QString verdict =
        failed > 0
            ? QStringLiteral("RESULT FAIL: %1 of %2 checks failed").arg(failed).arg(o.checks.size())
            : QStringLiteral("RESULT PASS: %1 checks").arg(o.checks.size());
    say(verdict + QStringLiteral(" (judged in %1 s)").arg(judgeMs / 1000.0, 0, 'f', 1));
    writeJson(jsonPath, saleId, o);
    return o.exitCode;
}

} // namespace flashsale::bench
