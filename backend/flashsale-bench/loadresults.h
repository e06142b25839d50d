#pragma once

#include "histogram.h"
#include "ledger.h"

#include <QByteArray>
#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QPair>
#include <QString>

namespace flashsale::bench {

// What one load thread saw, merged over threads at the end: counts, the latency histogram,
// and the ledger lines (kept in memory so no thread writes a file while it drives requests).
// Plain data, one per thread; merge() runs on the main thread after the threads are joined.
struct LoadResults {
    Histogram latency;                // HTTP answers only, in µs (transport failures are counted)
    QHash<int, qint64> byStatus;      // HTTP status -> answers
    QHash<QByteArray, qint64> byType; // "accepted", problem slug, "transport:reset", ...
    qint64 requests = 0;              // requests that ended: answered or failed in transport
    qint64 retries = 0;
    qint64 replays = 0;
    qint64 unknown = 0;
    qint64 accepted = 0;    // 202 answers to bookings, replays included
    qint64 confirmed = 0;   // purchases confirmed (first 202 per hold)
    qint64 behindMaxUs = 0; // open loop: the longest a request was sent after its intended time
    qint64 behindCount = 0; // open loop: requests sent more than 10 ms late
    qint64 firstSendUs = 0; // steady clock µs; 0 when nothing was sent
    qint64 lastDoneUs = 0;
    qint64 usersStarted = 0;
    qint64 bots = 0;
    qint64 arrivalsMissed = 0; // open loop: arrivals never sent (the run stopped first)

    // --waiting-room: entries made (cohort: inside the shuffled cohort), polls answered 2xx,
    // admissions seen, and every user's outcome: told (by outcome) or untold (by why not).
    qint64 wrJoined = 0;
    qint64 wrCohort = 0;
    qint64 wrPolls = 0;
    qint64 wrAdmitted = 0;
    qint64 wrLastJoinUs = 0; // steady clock µs of the last join answered 2xx
    QHash<QByteArray, qint64> wrTold;
    QHash<QByteArray, qint64> wrUntold;
    bool waitingRoom = false;

    QList<LedgerBooking> acceptedLines;
    QList<LedgerBooking> unknownLines;
    QList<QPair<QString, QString>> confirmedLines; // (user, reservation id)

    void merge(const LoadResults &other);
    double seconds() const;
    // From the first request to the last join answered (--waiting-room).
    double joinSeconds() const;
    // The --report JSON (documented in `flashsale-bench load --help`).
    QJsonObject report() const;
    // A few lines for a person reading the terminal.
    QString summary() const;
    static QJsonObject byStatusJson(const QHash<int, qint64> &byStatus);
};

} // namespace flashsale::bench
