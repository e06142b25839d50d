#pragma once

#include <QProcessEnvironment>
#include <QString>
#include <QUrl>

#include <expected>

namespace flashsale::console {

// Where alerts fire and lag indicators turn red. Defaults follow docs/CONSOLE.md.
struct Thresholds {
    qint64 streamLag = 1000;       // entries accepted by Redis, not yet in PostgreSQL
    qint64 outboxRows = 1000;      // outbox rows not yet relayed to Kafka
    double outboxAgeSeconds = 5.0; // age of the oldest outbox row
    qint64 consumerLag = 1000;     // messages behind, per consumer group
    double p99Ms = 100.0;          // booking latency, 99th percentile
    double loopLagMs = 100.0;      // a process's largest event-loop delay
    // Hysteresis: a condition raises once its value has stayed above the threshold for
    // holdSeconds, and clears once it has stayed under clearFraction × threshold as long.
    double clearFraction = 0.7;
    double holdSeconds = 3.0;
    // A process silent this long (down, never deregistered) is archived: no longer listed, its
    // alert cleared as archived.
    double processArchiveSeconds = 120.0;
    // A cleared alert stays listed this long, then ages out.
    double clearedKeepSeconds = 300.0;
};

// The console's remembered settings, kept with QSettings ("flashsale" / "flashsale-console").
// No secret is ever kept here: the password or bootstrap token lives in the OS keychain
// (CredentialStore), or nowhere. Not thread-safe; GUI thread only.
class ConsoleSettings {
public:
    QString url;            // as the user typed it (ws(s):// or http(s)://)
    QString operatorName;   // the operator's login name; empty with the bootstrap token
    bool bootstrap = false; // log in with the server's bootstrap admin token, not as an operator
    QString caFile;         // extra CA certificates (PEM) trusted for wss://, or empty
    Thresholds thresholds;
    int statsIntervalMs = 500;

    // Reads QSettings; an empty URL is filled from FLASHSALE_ADMIN_URL, then FLASHSALE_API_URL,
    // an empty CA file from FLASHSALE_CA_FILE, and an empty operator name from
    // FLASHSALE_OPERATOR in `env`.
    static ConsoleSettings load(const QProcessEnvironment &env);
    // Writes everything above; never a password or token.
    void save() const;

    // Migration from the console before operator accounts, which kept the admin token in
    // clear text under connection/token (and a self-declared name under connection/actor).
    // Removes both from QSettings at once and returns the token, if there was one, for the
    // caller to move into the keychain.
    [[nodiscard]] static QString takeLegacyToken();

    static constexpr const char *kDefaultUrl = "ws://127.0.0.1:8080/admin/v1/ws";

    // The admin WebSocket URL from what the user gave: ws(s):// as is (the admin path added
    // when there is none), an http(s):// API base URL mapped to ws(s)://host:port/admin/v1/ws.
    // Fails with a sentence for the user on other schemes or a URL without a host.
    [[nodiscard]] static std::expected<QUrl, QString> resolveAdminUrl(const QString &text);
};

} // namespace flashsale::console
