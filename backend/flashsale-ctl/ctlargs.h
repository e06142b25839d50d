#pragma once

#include "protocol/adminprotocol.h"

#include <QJsonObject>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>
#include <QUrl>

#include <expected>
#include <functional>

// Command-line parsing for flashsale-ctl, kept free of I/O on the network so that it can be
// tested on its own: turns argv into one admin operation with its JSON args.
namespace flashsale::ctl {

// Process exit codes, also listed by --help.
enum ExitCode {
    kExitOk = 0,
    kExitServerError = 1, // the server answered with a typed error (or did not answer in time)
    kExitUsage = 2,       // bad command line; nothing was sent
    kExitConnect = 3,     // cannot connect, the login was refused, or the link dropped
    kExitDrift = 4,       // reconcile: the report found drift
    kExitUnfair = 5,      // fairness verify: the publication does not recompute (issue 16)
};

inline constexpr char kDefaultAdminUrl[] = "ws://127.0.0.1:8080/admin/v1/ws";
inline constexpr char kDefaultApiUrl[] = "http://127.0.0.1:8080";
using admin::kAdminPath;

struct Invocation {
    bool help = false;
    QString helpText; // set when help is true

    QUrl url;
    // The login: an operator with a password (HTTP Basic), else the bootstrap token (Bearer).
    // Secrets come from files, stdin or the environment, never from argv.
    QString operatorName;
    QString password;
    QString token;
    QString caFile; // extra CA certificates for wss://
    bool json = false;
    int timeoutMs = 10000;

    QString command; // "sale create", "stats", ...
    admin::Op op = admin::Op::Ping;
    QJsonObject args;

    // stats: keep printing (watch) until `count` events (0 = until interrupted).
    bool watch = false;
    int count = 0; // stats --count, ping --count

    // A command run here instead of an admin operation (op is unused): "fairness verify".
    QString local;
    // fairness verify SALE: where the publication comes from, what to expect, where to save it.
    struct Fairness {
        qint64 saleId = 0;
        QUrl api;              // --api, else $FLASHSALE_API_URL, else kDefaultApiUrl
        QByteArray commitment; // --commitment, lowercase hex; empty: none
        QString inputPath;     // --input: read this file instead of the API
        QString savePath;      // --save: write the merged publication here
    } fairness;

    // operator create / rotate without --new-password-file: the password generated here (and
    // already in args), printed once after the server accepted it.
    QString generatedPassword;
};

// Where secrets are read from; tests pass their own stdin.
struct SecretSources {
    std::function<QByteArray()> readStdin; // all of standard input
};

// Parses `arguments` (argv, program name first). `env` supplies FLASHSALE_ADMIN_URL,
// FLASHSALE_API_URL, FLASHSALE_OPERATOR, FLASHSALE_OPERATOR_PASSWORD, FLASHSALE_ADMIN_TOKEN and
// FLASHSALE_CA_FILE; `nowMs` anchors relative times. Files named by --items, --password-file
// and --new-password-file are read here ("-" reads `sources.readStdin`). Fails with a one-line
// message meant for a human (exit 2).
[[nodiscard]] std::expected<Invocation, QString> parseInvocation(const QStringList &arguments,
                                                                 const QProcessEnvironment &env,
                                                                 qint64 nowMs,
                                                                 const SecretSources &sources = {});

// The full --help text: commands, options and exit codes.
QString usageText();

// "now", "now+10m", "+10m", "-1h30m", or an RFC 3339 time with a zone ("2026-11-21T12:00:00Z",
// "...+01:00"). Returns the time in UTC as "2026-11-21T12:00:00.000Z". Fails on anything else,
// including a time without a zone (ambiguous).
[[nodiscard]] std::expected<QString, QString> parseTime(const QString &spec, qint64 nowMs);

// "3600", "90s", "10m", "1h", "1d", "1h30m" -> seconds. Fails on empty, signs, unknown units.
[[nodiscard]] std::expected<qint64, QString> parseDuration(const QString &spec);

using admin::resolveAdminUrl; // in the protocol library, shared with the console

} // namespace flashsale::ctl
