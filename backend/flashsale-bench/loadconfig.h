#pragma once

#include <QByteArray>
#include <QList>
#include <QString>
#include <QStringList>

#include <expected>

namespace flashsale::bench {

// One --url: where the API listens, resolved once at start-up.
struct BaseUrl {
    QString text;        // as given, for the ledger and report
    QByteArray host;     // the Host header: "127.0.0.1:8080"
    QByteArray basePath; // a path prefix without the trailing slash ("" for none)
    quint32 address = 0; // IPv4, network order
    quint16 port = 0;
};

// `flashsale-bench load` settings, validated once by parseLoadConfig (load.cpp prints --help).
struct LoadConfig {
    enum class Flow { Book, Checkout };
    enum class Profile { Burst, Ramp };

    QList<BaseUrl> urls;
    qint64 saleId = 0;
    qint64 users = 1000;
    QByteArray userPrefix = "u";
    int threads = 1;
    int connections = 64;
    int timeoutMs = 5000;
    int connectTimeoutMs = 1000;
    bool retry = false;
    int maxRetries = 5;
    int backoffMs = 50; // first retry's backoff; doubles per retry
    int backoffMaxMs = 2000;
    double botFraction = 0.0;
    int botAttempts = 20;
    bool pow = false;
    // The sale has a waiting room (docs/WAITING_ROOM.md): every user joins it first, polls its
    // entry until admitted or told an outcome, and books with the admission token.
    bool waitingRoom = false;
    int pollMaxMs = 5000; // the longest a waiting user goes between two polls
    QByteArray tokenSecret;
    bool devUserIds = false;
    Flow flow = Flow::Book;
    QList<qint64> items; // empty: no item_id (a single-item sale)
    int quantity = 1;
    int unitsPerUser = 1;
    Profile profile = Profile::Burst;
    qint64 startAtMs = 0; // wall clock, 0: at once
    double rateFrom = 0.0;
    double rateTo = 0.0;
    double durationSeconds = 0.0;
    qint64 maxRequests = 0; // 0: no cap
    double maxSeconds = 300.0;
    quint64 seed = 1;
    QString reportPath;
    QString ledgerPath;
    bool quiet = false;
};

// Parses `flashsale-bench load [options]` (args[0] is the program). On a usage error returns
// the message to print before exiting with 2. --help is answered by loadHelpText().
[[nodiscard]] std::expected<LoadConfig, QString> parseLoadConfig(const QStringList &args,
                                                                 bool *helpWanted);
QString loadHelpText();

} // namespace flashsale::bench
