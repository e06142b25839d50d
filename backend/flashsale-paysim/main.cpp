// flashsale-paysim: a payment provider simulator shaped like Stripe's HTTP API, for the local
// stack, the payment service's HTTP adapter, the benchmarks and the fault matrix. It keeps
// everything in memory (gone when it stops) and serves its ledger over HTTP so that
// `flashsale-bench check` can prove every order was charged at most once. The routes and the
// order of checks are in paysimserver.h. It runs until SIGINT or SIGTERM.

#include "core/logging.h"
#include "core/quitonsignals.h"
#include "paysimserver.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QFile>
#include <QSaveFile>

#include <cstdio>

using namespace flashsale;

namespace {

int usage(const QString &message) {
    std::fprintf(stderr, "flashsale-paysim: %s\n", qPrintable(message));
    return 2;
}

} // namespace

int main(int argc, char *argv[]) {
    QCoreApplication app(argc, argv);
    QCommandLineParser p;
    p.setApplicationDescription(QStringLiteral(
        "A payment provider simulator (Stripe-shaped HTTP API) for the local stack."));
    p.addHelpOption();
    auto option = [&p](const char *name, const char *help, const char *value, const char *def) {
        QCommandLineOption o(QString::fromLatin1(name), QString::fromLatin1(help),
                             QString::fromLatin1(value), QString::fromLatin1(def));
        p.addOption(o);
        return o;
    };
    const auto listen = option("listen", "Address to listen on.", "address", "127.0.0.1");
    const auto port = option("port", "Port; 0 picks a free one.", "port", "0");
    const auto latency = option("latency-ms", "Added to every /v1 answer.", "ms", "0");
    const auto decline =
        option("decline-percent", "Orders declined (402), 0-100, by seed and order.", "pct", "0");
    const auto rate =
        option("rate-limit-per-s", "/v1 requests per second before 429; 0: none.", "n", "0");
    const auto outageFrom = option(
        "outage-from", "Seconds after start when an outage (503) begins; -1: none.", "s", "-1");
    const auto outageSeconds = option("outage-seconds", "Length of that outage.", "s", "0");
    const auto seed = option("seed", "Seed of the decline decision.", "n", "1");
    const auto cap =
        option("ledger-cap", "Payments and refunds kept; then 507 ledger-full.", "n", "1000000");
    const auto conns = option("max-connections", "Open connections at most.", "n", "1000");
    const auto body = option("max-body-bytes", "Largest request body.", "bytes", "16384");
    const auto hookUrl =
        option("webhook-url", "POST every event here, signed; empty: no webhooks.", "url", "");
    const auto hookSecrets =
        option("webhook-secret-file",
               "Webhook secrets, one a line: each signs (a v1= each, for rotation). Required with "
               "--webhook-url.",
               "path", "");
    const auto hookRetries =
        option("webhook-retries", "Retries of a webhook after a non-2xx or a timeout.", "n", "8");
    const auto hookBackoff = option(
        "webhook-backoff-ms", "Before retry n: this times 2^(n-1), at most 60 s.", "ms", "500");
    const auto hookDuplicate =
        option("webhook-duplicate-percent", "Events delivered twice (same id and body), 0-100.",
               "pct", "0");
    const auto hookReorder =
        option("webhook-reorder-ms",
               "Each event waits a random 0..N ms before delivery, so events arrive out of order.",
               "ms", "0");
    const auto hookTimeout =
        option("webhook-timeout-ms", "One delivery attempt, connect to last byte.", "ms", "5000");
    const auto ready = option(
        "ready-file", "Write the base URL here once listening (removed at exit).", "path", "");
    p.process(app);
    installLogHandler(false);

    paysim::Settings s;
    bool ok = false;
    s.listen = QHostAddress(p.value(listen));
    if (s.listen.isNull())
        return usage(QStringLiteral("--listen: not an address"));
    const uint portValue = p.value(port).toUInt(&ok);
    if (!ok || portValue > 65535)
        return usage(QStringLiteral("--port: 0 to 65535"));
    s.port = quint16(portValue);
    s.latencyMs = p.value(latency).toInt(&ok);
    if (!ok || s.latencyMs < 0 || s.latencyMs > 600000)
        return usage(QStringLiteral("--latency-ms: 0 to 600000"));
    s.declinePercent = p.value(decline).toDouble(&ok);
    if (!ok || s.declinePercent < 0 || s.declinePercent > 100)
        return usage(QStringLiteral("--decline-percent: 0 to 100"));
    s.rateLimitPerS = p.value(rate).toDouble(&ok);
    if (!ok || s.rateLimitPerS < 0)
        return usage(QStringLiteral("--rate-limit-per-s: 0 or more"));
    s.outageFromS = p.value(outageFrom).toLongLong(&ok);
    if (!ok || s.outageFromS < -1)
        return usage(QStringLiteral("--outage-from: -1 or more"));
    s.outageSeconds = p.value(outageSeconds).toLongLong(&ok);
    if (!ok || s.outageSeconds < 0)
        return usage(QStringLiteral("--outage-seconds: 0 or more"));
    s.seed = p.value(seed).toULongLong(&ok);
    if (!ok)
        return usage(QStringLiteral("--seed: a non-negative integer"));
    s.ledgerCapacity = p.value(cap).toLongLong(&ok);
    if (!ok || s.ledgerCapacity < 1 || s.ledgerCapacity > 50'000'000)
        return usage(QStringLiteral("--ledger-cap: 1 to 50000000"));
    s.maxConnections = p.value(conns).toInt(&ok);
    if (!ok || s.maxConnections < 1)
        return usage(QStringLiteral("--max-connections: 1 or more"));
    s.maxBodyBytes = p.value(body).toInt(&ok);
    if (!ok || s.maxBodyBytes < 256 || s.maxBodyBytes > (1 << 20))
        return usage(QStringLiteral("--max-body-bytes: 256 to 1048576"));

    s.webhooks.url = p.value(hookUrl).toUtf8();
    if (!s.webhooks.url.isEmpty() && !s.webhooks.url.startsWith("http://")
        && !s.webhooks.url.startsWith("https://"))
        return usage(QStringLiteral("--webhook-url: an http(s) URL"));
    if (!p.value(hookSecrets).isEmpty()) {
        auto secrets = paysim::readWebhookSecrets(p.value(hookSecrets));
        if (!secrets)
            return usage(QStringLiteral("--webhook-secret-file: ") + secrets.error().message);
        s.webhooks.secrets = *secrets;
    } else if (!s.webhooks.url.isEmpty()) {
        return usage(QStringLiteral("--webhook-url needs --webhook-secret-file"));
    }
    s.webhooks.retries = p.value(hookRetries).toInt(&ok);
    if (!ok || s.webhooks.retries < 0 || s.webhooks.retries > 100)
        return usage(QStringLiteral("--webhook-retries: 0 to 100"));
    s.webhooks.backoffMs = p.value(hookBackoff).toInt(&ok);
    if (!ok || s.webhooks.backoffMs < 0 || s.webhooks.backoffMs > 600000)
        return usage(QStringLiteral("--webhook-backoff-ms: 0 to 600000"));
    s.webhooks.duplicatePercent = p.value(hookDuplicate).toDouble(&ok);
    if (!ok || s.webhooks.duplicatePercent < 0 || s.webhooks.duplicatePercent > 100)
        return usage(QStringLiteral("--webhook-duplicate-percent: 0 to 100"));
    s.webhooks.reorderMs = p.value(hookReorder).toInt(&ok);
    if (!ok || s.webhooks.reorderMs < 0 || s.webhooks.reorderMs > 600000)
        return usage(QStringLiteral("--webhook-reorder-ms: 0 to 600000"));
    s.webhooks.timeoutMs = p.value(hookTimeout).toInt(&ok);
    if (!ok || s.webhooks.timeoutMs < 1 || s.webhooks.timeoutMs > 600000)
        return usage(QStringLiteral("--webhook-timeout-ms: 1 to 600000"));
    s.webhooks.seed = s.seed;

    quitOnSignals(app);
    paysim::PaySimServer server(s);
    const auto bound = server.start();
    if (!bound) {
        std::fprintf(stderr, "flashsale-paysim: %s\n", qPrintable(bound.error().message));
        return 1;
    }
    const QString url = QStringLiteral("http://%1:%2").arg(s.listen.toString()).arg(*bound);
    const QString readyFile = p.value(ready);
    if (!readyFile.isEmpty()) {
        QSaveFile f(readyFile);
        if (!f.open(QIODevice::WriteOnly) || f.write(url.toUtf8() + '\n') < 0 || !f.commit()) {
            std::fprintf(stderr, "flashsale-paysim: cannot write %s\n", qPrintable(readyFile));
            return 1;
        }
    }
    qCInfo(lcApp).noquote() << "payment simulator ready:" << url << "latency" << s.latencyMs
                            << "ms, decline" << s.declinePercent << "%, rate limit"
                            << s.rateLimitPerS << "/s, seed" << s.seed << "; webhooks"
                            << (s.webhooks.url.isEmpty() ? QByteArray("off") : s.webhooks.url)
                            << "with" << s.webhooks.secrets.size() << "secret(s)";
    const int rc = app.exec();
    if (!readyFile.isEmpty())
        QFile::remove(readyFile);
    return rc;
}
