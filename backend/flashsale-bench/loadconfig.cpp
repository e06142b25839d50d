#include "loadconfig.h"

#include "commandhelp.h"

#include <QCommandLineParser>
#include <QDateTime>
#include <QProcessEnvironment>
#include <QUrl>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace flashsale::bench {

namespace {

struct Options {
    QCommandLineParser parser;
    Options() {
        parser.setApplicationDescription(QStringLiteral(
            "flashsale-bench load: simulated buyers against the HTTP API (docs/API.md).\n"
            "Each user books with its own Idempotency-Key; results go to a report (JSON) and a\n"
            "ledger (JSON lines, backend/flashsale-bench/ledger.h) that `flashsale-bench check`\n"
            "reads. Exit: 0 ran, 1 could not run, 2 usage.\n"
            "\n"
            "The report: {\"requests\", \"seconds\", \"rps\", \"latency_ms\": {p50, p90, p99, "
            "p999,\n"
            "max, mean}, \"by_status\": {\"202\": n, ...}, \"by_type\": {\"accepted\": n, "
            "\"sold-out\": n,\n"
            "...}, \"unknown\", \"retries\", \"replays\", \"accepted\", \"confirmed\", \"users\", "
            "\"bots\",\n"
            "\"behind_ms_max\", \"behind_requests\", \"arrivals_missed\"}. by_type names the "
            "problem\n"
            "slug, or accepted / confirmed / challenge, or transport:reset / transport:timeout /\n"
            "transport:refused for requests that got no answer. Latency covers answered requests:\n"
            "from the send (burst) or from the intended send time (ramp, so a client that falls\n"
            "behind shows it: behind_*). unknown counts bookings whose outcome never came back.\n"
            "With --waiting-room the report also has \"waiting_room\": {joined, cohort, polls,\n"
            "admitted, joins_seconds, joins_per_second, told: {booked, sold-out, ...}, "
            "told_total,\n"
            "untold: {why: n}, "
            "untold_total},\n"
            "and by_type counts joined and queue:<state> (each poll's answer).\n"
            "Ledger lines are kept in memory and written once the load is over."));
        parser.addHelpOption();
        const auto add = [this](const QStringList &names, const char *help,
                                const char *value = nullptr, const char *def = nullptr) {
            QString text = QString::fromUtf8(help);
            if (def)
                text += QStringLiteral(" Default: %1.").arg(QLatin1String(def));
            QCommandLineOption o(names, text);
            if (value)
                o.setValueName(QString::fromLatin1(value));
            if (def)
                o.setDefaultValue(QString::fromLatin1(def));
            parser.addOption(o);
        };
        add({"url"},
            "API base URL, http://host:port[/prefix]; repeatable or comma-separated. "
            "Connections are spread over them and move to the others when one stops answering.",
            "url");
        add({"sale"}, "Sale id to book (required).", "id");
        add({"users"}, "Distinct users; ids are <prefix><n>, n from 1.", "U", "1000");
        add({"user-prefix"}, "User id prefix.", "text", "u");
        add({"threads"}, "Client threads, each with its own epoll loop.", "T", "1");
        add({"connections"},
            "Keep-alive connections over all threads (requests in flight at most).", "C", "64");
        add({"timeout-ms"}, "Per-request timeout, from sending to the whole answer.", "ms", "5000");
        add({"connect-timeout-ms"}, "TCP connect timeout.", "ms", "1000");
        add({"retry"},
            "Humans retry after transport errors, timeouts, 5xx and 429 with exponential backoff "
            "and jitter (Retry-After / retry_after_ms honoured), and after 403 sale-not-started "
            "when the sale opens by the server's clock; always with the same Idempotency-Key.");
        add({"max-retries"}, "Retries per booking with --retry.", "n", "5");
        add({"backoff-ms"}, "First retry's backoff (doubles per retry, full jitter).", "ms", "50");
        add({"backoff-max-ms"}, "Backoff cap.", "ms", "2000");
        add({"bots"},
            "Fraction of users that are bots (0..1): each fires --bot-attempts bookings back to "
            "back, new key each, no backoff.",
            "F", "0");
        add({"bot-attempts"}, "Bookings per bot.", "n", "20");
        add({"pow"},
            "Solve a proof of work before every booking (POST /api/v1/sales/{id}/challenge).");
        add({"waiting-room"},
            "The sale has a waiting room: each user joins it (POST /api/v1/sales/{id}/queue), "
            "polls its entry (GET .../queue) until it is admitted, then books once with "
            "X-Admission-Token; or until it is told an outcome without one (sold-out, closed, "
            "expired). The report's waiting_room object counts every user's outcome.");
        add({"poll-max-ms"},
            "Waiting room: the longest between two polls of one user (a poll follows the ETA "
            "the server gives, with jitter, within 250 ms and this).",
            "ms", "5000");
        add({"token-secret"},
            "Mint an HS256 buyer token per user (Authorization: Bearer). Also "
            "FLASHSALE_BUYER_TOKEN_SECRET, which keeps it out of the process list.",
            "secret");
        add({"dev-user-ids"}, "Name the user in the body or query (a server in dev mode).");
        add({"flow"},
            "book: POST /api/v1/sales/{id}/book; checkout: POST /checkout?user_id=U&id=ITEM, then "
            "POST /purchase {\"code\": C} for the hold (needs --token-secret: only the "
            "hold's owner may confirm it).",
            "book|checkout", "book");
        add({"items"},
            "Item ids, A-B or a comma list; each booking picks one uniformly. Without it no "
            "item_id is sent (single-item sale). Required by --flow checkout.",
            "ids");
        add({"quantity"}, "Units per booking (book flow).", "q", "1");
        add({"units-per-user"}, "Bookings per human, each with its own key.", "K", "1");
        add({"profile"},
            "burst: every user ready at once, --connections in flight (closed loop); ramp: "
            "arrivals from --rate-from to --rate-to per second over --duration (open loop, "
            "latency from the intended send time).",
            "burst|ramp", "burst");
        add({"start-at"}, "Burst: wait for this instant (ISO 8601, local clock) before sending.",
            "time");
        add({"rate-from"}, "Ramp: arrivals per second at the start.", "R0");
        add({"rate-to"}, "Ramp: arrivals per second at the end.", "R1");
        add({"duration"}, "Ramp: seconds.", "S");
        add({"requests"}, "Cap on HTTP requests over all threads (0: none).", "N", "0");
        add({"max-seconds"}, "Stop sending after this long.", "s", "300");
        add({"seed"}, "Random seed (items, bots, jitter).", "n", "1");
        add({"report"}, "Write the report as JSON here.", "file");
        add({"ledger"}, "Write the ledger (JSON lines) here.", "file");
        add({"quiet"}, "No human summary on stdout.");
    }
};

[[nodiscard]] std::expected<BaseUrl, QString> resolveUrl(const QString &text) {
    const QUrl url(text, QUrl::StrictMode);
    if (!url.isValid() || url.scheme() != QLatin1String("http") || url.host().isEmpty())
        return std::unexpected(QStringLiteral("--url %1: expected http://host:port").arg(text));
    BaseUrl b;
    b.text = text;
    b.port = quint16(url.port(80));
    b.host = url.host().toUtf8() + (url.port() > 0 ? ":" + QByteArray::number(url.port()) : "");
    b.basePath = url.path(QUrl::FullyEncoded).toUtf8();
    while (b.basePath.endsWith('/'))
        b.basePath.chop(1);
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *res = nullptr;
    const QByteArray host = url.host().toUtf8();
    if (getaddrinfo(host.constData(), nullptr, &hints, &res) != 0 || !res)
        return std::unexpected(
            QStringLiteral("--url %1: cannot resolve %2 (IPv4)").arg(text, url.host()));
    b.address = reinterpret_cast<sockaddr_in *>(res->ai_addr)->sin_addr.s_addr;
    freeaddrinfo(res);
    return b;
}

[[nodiscard]] std::expected<QList<qint64>, QString> parseItems(const QString &text) {
    QList<qint64> items;
    const int dash = text.indexOf(QLatin1Char('-'));
    if (dash > 0 && !text.contains(QLatin1Char(','))) {
        bool okA = false, okB = false;
        const qint64 a = text.left(dash).toLongLong(&okA);
        const qint64 b = text.mid(dash + 1).toLongLong(&okB);
        if (!okA || !okB || a < 1 || b < a || b - a > 1000000)
            return std::unexpected(
                QStringLiteral("--items %1: expected A-B with 1 <= A <= B").arg(text));
        for (qint64 i = a; i <= b; ++i)
            items.append(i);
        return items;
    }
    for (const QString &part : text.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        bool ok = false;
        const qint64 v = part.trimmed().toLongLong(&ok);
        if (!ok || v < 1)
            return std::unexpected(QStringLiteral("--items: \"%1\" is not an item id").arg(part));
        items.append(v);
    }
    if (items.isEmpty())
        return std::unexpected(QStringLiteral("--items: no item ids"));
    return items;
}

} // namespace

QString loadHelpText() {
    Options o;
    return commandHelp(o.parser, QStringLiteral("load"));
}

std::expected<LoadConfig, QString> parseLoadConfig(const QStringList &args, bool *helpWanted) {
    Options o;
    QCommandLineParser &p = o.parser;
    if (!p.parse(args))
        return std::unexpected(p.errorText());
    *helpWanted = p.isSet(QStringLiteral("help"));
    if (*helpWanted)
        return LoadConfig();
    if (!p.positionalArguments().isEmpty())
        return std::unexpected(
            QStringLiteral("unexpected argument \"%1\"").arg(p.positionalArguments().first()));

    LoadConfig c;
    const auto value = [&p](const char *name) { return p.value(QString::fromLatin1(name)); };
    // Integers within [lo, hi]; the message names the option.
    QString error;
    const auto integer = [&](const char *name, qint64 lo, qint64 hi) -> qint64 {
        bool ok = false;
        const qint64 v = value(name).toLongLong(&ok);
        if ((!ok || v < lo || v > hi) && error.isEmpty())
            error = QStringLiteral("--%1: expected an integer from %2 to %3, got \"%4\"")
                        .arg(QLatin1String(name))
                        .arg(lo)
                        .arg(hi)
                        .arg(value(name));
        return v;
    };
    const auto real = [&](const char *name, double lo, double hi) -> double {
        bool ok = false;
        const double v = value(name).toDouble(&ok);
        if ((!ok || v < lo || v > hi) && error.isEmpty())
            error = QStringLiteral("--%1: expected a number from %2 to %3, got \"%4\"")
                        .arg(QLatin1String(name))
                        .arg(lo)
                        .arg(hi)
                        .arg(value(name));
        return v;
    };

    for (const QString &u : p.values(QStringLiteral("url"))) {
        for (const QString &part : u.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
            auto b = resolveUrl(part.trimmed());
            if (!b)
                return std::unexpected(b.error());
            c.urls.append(*b);
        }
    }
    if (c.urls.isEmpty())
        return std::unexpected(QStringLiteral("--url is required"));
    if (!p.isSet(QStringLiteral("sale")))
        return std::unexpected(QStringLiteral("--sale is required"));
    c.saleId = integer("sale", 1, Q_INT64_C(999999999999999999));
    c.users = integer("users", 1, 100000000);
    c.userPrefix = value("user-prefix").toUtf8();
    c.threads = int(integer("threads", 1, 64));
    c.connections = int(integer("connections", 1, 60000));
    c.timeoutMs = int(integer("timeout-ms", 1, 3600000));
    c.connectTimeoutMs = int(integer("connect-timeout-ms", 1, 600000));
    c.retry = p.isSet(QStringLiteral("retry"));
    c.maxRetries = int(integer("max-retries", 0, 1000));
    c.backoffMs = int(integer("backoff-ms", 0, 600000));
    c.backoffMaxMs = int(integer("backoff-max-ms", 0, 600000));
    c.botFraction = real("bots", 0.0, 1.0);
    c.botAttempts = int(integer("bot-attempts", 1, 1000000));
    c.pow = p.isSet(QStringLiteral("pow"));
    c.waitingRoom = p.isSet(QStringLiteral("waiting-room"));
    c.pollMaxMs = int(integer("poll-max-ms", 250, 600000));
    c.tokenSecret = value("token-secret").toUtf8();
    if (c.tokenSecret.isEmpty())
        c.tokenSecret = qgetenv("FLASHSALE_BUYER_TOKEN_SECRET");
    c.devUserIds = p.isSet(QStringLiteral("dev-user-ids"));
    c.quantity = int(integer("quantity", 1, 1000));
    c.unitsPerUser = int(integer("units-per-user", 1, 100000));
    c.maxRequests = integer("requests", 0, Q_INT64_C(1000000000000));
    c.maxSeconds = real("max-seconds", 0.001, 86400.0);
    c.seed = quint64(integer("seed", 0, Q_INT64_C(9000000000000000000)));
    c.reportPath = value("report");
    c.ledgerPath = value("ledger");
    c.quiet = p.isSet(QStringLiteral("quiet"));
    if (!error.isEmpty())
        return std::unexpected(error);

    const QByteArray allowed = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.@-";
    for (char ch : c.userPrefix) {
        if (!allowed.contains(ch))
            return std::unexpected(
                QStringLiteral("--user-prefix: only letters, digits and _ . @ - are allowed"));
    }
    if (c.userPrefix.size() + 12 > 64)
        return std::unexpected(QStringLiteral("--user-prefix: too long for 64-character ids"));
    if (c.devUserIds == !c.tokenSecret.isEmpty())
        return std::unexpected(QStringLiteral(
            "choose one identity: --token-secret (or FLASHSALE_BUYER_TOKEN_SECRET) or "
            "--dev-user-ids"));
    if (!c.tokenSecret.isEmpty() && c.tokenSecret.size() < 32)
        return std::unexpected(QStringLiteral("--token-secret: at least 32 characters"));

    const QString flow = value("flow");
    if (flow == QLatin1String("book"))
        c.flow = LoadConfig::Flow::Book;
    else if (flow == QLatin1String("checkout"))
        c.flow = LoadConfig::Flow::Checkout;
    else
        return std::unexpected(QStringLiteral("--flow: book or checkout, not \"%1\"").arg(flow));
    if (p.isSet(QStringLiteral("items"))) {
        auto items = parseItems(value("items"));
        if (!items)
            return std::unexpected(items.error());
        c.items = *items;
    }
    if (c.flow == LoadConfig::Flow::Checkout && c.items.isEmpty())
        return std::unexpected(QStringLiteral("--flow checkout needs --items"));
    if (c.flow == LoadConfig::Flow::Checkout && c.tokenSecret.isEmpty())
        return std::unexpected(QStringLiteral(
            "--flow checkout needs --token-secret: POST /purchase wants the owner's token"));
    if (c.waitingRoom
        && (c.botFraction > 0.0 || c.unitsPerUser != 1 || c.flow != LoadConfig::Flow::Book
            || c.pow))
        return std::unexpected(QStringLiteral(
            "--waiting-room: one booking per user, book flow, no --bots, no --pow (the join's "
            "proof of work is deploy/bench/botsim's business)"));
    if (c.flow == LoadConfig::Flow::Checkout && c.quantity != 1)
        return std::unexpected(QStringLiteral("--flow checkout holds one unit: no --quantity"));

    const QString profile = value("profile");
    if (profile == QLatin1String("burst")) {
        c.profile = LoadConfig::Profile::Burst;
    } else if (profile == QLatin1String("ramp")) {
        c.profile = LoadConfig::Profile::Ramp;
        for (const char *name : {"rate-from", "rate-to", "duration"}) {
            if (!p.isSet(QString::fromLatin1(name)))
                return std::unexpected(
                    QStringLiteral("--profile ramp needs --%1").arg(QLatin1String(name)));
        }
        c.rateFrom = real("rate-from", 0.0, 10000000.0);
        c.rateTo = real("rate-to", 0.0, 10000000.0);
        c.durationSeconds = real("duration", 0.001, 86400.0);
        if (!error.isEmpty())
            return std::unexpected(error);
        if (c.rateFrom + c.rateTo <= 0.0)
            return std::unexpected(QStringLiteral("--rate-from and --rate-to are both 0"));
    } else {
        return std::unexpected(QStringLiteral("--profile: burst or ramp, not \"%1\"").arg(profile));
    }
    if (p.isSet(QStringLiteral("start-at"))) {
        if (c.profile != LoadConfig::Profile::Burst)
            return std::unexpected(QStringLiteral("--start-at goes with --profile burst"));
        const QDateTime at = QDateTime::fromString(value("start-at"), Qt::ISODateWithMs);
        if (!at.isValid())
            return std::unexpected(
                QStringLiteral("--start-at: not an ISO 8601 time: \"%1\"").arg(value("start-at")));
        c.startAtMs = at.toMSecsSinceEpoch();
    }
    if (c.connections < c.threads)
        return std::unexpected(QStringLiteral("--connections must be at least --threads"));
    return c;
}

} // namespace flashsale::bench
