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
};

// The console's remembered settings, kept with QSettings ("flashsale" / "flashsale-console").
// The admin token is stored in clear text in the user's settings file: this is a desktop tool
// for one operator, and the token is what the server checks. Not thread-safe; GUI thread only.
class ConsoleSettings {
public:
    QString url;   // as the user typed it (ws:// or http://)
    QString token; // admin bearer token
    QString actor; // who the operator is, for the audit log
    Thresholds thresholds;
    int statsIntervalMs = 500;

    // Reads QSettings; empty connection fields are filled from FLASHSALE_ADMIN_URL, then
    // FLASHSALE_API_URL, FLASHSALE_ADMIN_TOKEN and USER in `env`.
    static ConsoleSettings load(const QProcessEnvironment &env);
    void save() const;

    static constexpr const char *kDefaultUrl = "ws://127.0.0.1:8080/admin/v1/ws";

    // The admin WebSocket URL from what the user gave: ws(s):// as is (the admin path added
    // when there is none), an http(s):// API base URL mapped to ws(s)://host:port/admin/v1/ws.
    // Fails with a sentence for the user on other schemes or a URL without a host.
    [[nodiscard]] static std::expected<QUrl, QString> resolveAdminUrl(const QString &text);
};

} // namespace flashsale::console
