#pragma once

#include "booking/streamentry.h"

#include <QByteArray>
#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QSet>

// The checks of a reconciliation (docs/RECONCILIATION.md, "The checks"), as a pure function of
// what one read found. No I/O: snapshotreader.h reads a Snapshot, repair.h acts on an Analysis.

namespace flashsale::reconcile {

// How many rows and ids one report lists.
inline constexpr int kMaxItemRows = 200; // per-item rows, per check
inline constexpr int kMaxUserRows = 20;  // per-user rows
inline constexpr int kMaxRids = 50;      // reservation ids in one row's detail

// Everything one read knows of one reservation id, from the three places it can be seen.
struct Reservation {
    // Who, what and how many: PostgreSQL's order when there is one, else the stream entry's,
    // else the reservation hash's.
    QByteArray user;
    qint64 item = 0;
    qint64 qty = 0;
    bool inStream = false;  // a type=book entry up to the cut
    bool inRes = false;     // in the sale's reservation set, with its hash
    bool inPg = false;      // an orders row
    bool inFlight = false;  // its book entry was pending in the worker group, or not yet
                            // delivered, when the read began (T0): its order may still come
    bool confirmed = false; // a confirm entry, or the hash's status "confirmed"
    QByteArray pgStatus;    // the order's status: pending, paid or cancelled ("" without order)
    bool paying = false;    // PostgreSQL: pending with payment_started_at set (issue 20)
    qint64 orderId = 0;     // PostgreSQL's order id (0 without order)
    qint64 amountCents = 0; // PostgreSQL's order amount
    qint64 expiresMs = 0;   // PostgreSQL's end of the hold
    // The booking entry to append again if the order is missing: the entry as read, or rebuilt
    // from the reservation hash. No fields when there is neither.
    StreamEntry bookEntry;
};

struct InventoryRow {
    qint64 stock = 0;
    qint64 sold = 0;
};

// One sale's state as one run read it, in the read order of docs/RECONCILIATION.md.
struct Snapshot {
    // T1, PostgreSQL (one REPEATABLE READ transaction): item id -> inventory row.
    QMap<qint64, InventoryRow> inventory;
    // T2, Redis counters, read atomically with the stream's last id.
    bool warm = false;               // the sale's meta hash exists
    QHash<QByteArray, qint64> stock; // item id, as Redis spells it -> units remaining
    QHash<QByteArray, qint64> users; // user id -> units held
    QSet<QByteArray> released;       // reservation ids whose units were given back
    qint64 streamEntries = 0;        // entries read up to the cut
    qint64 resKeys = 0;              // ids in the sale's reservation set
    qint64 resLater = 0;             // of those, bookings made after the cut (next run's)
    qint64 cutMs = 0;    // Redis TIME at the cut, in ms (book.lua's clock for accepted_at)
    qint64 resAtCut = 0; // bookings found only in PostgreSQL, accepted in the cut's ms
    QHash<QByteArray, Reservation> reservations; // every reservation id seen, by id
    // The sale's dead-letter stream (reconcile/deadletters.h), read last: reservation id ->
    // dead-letter entry id, and the entries no operator resolved yet (entry ids, oldest first).
    QHash<QByteArray, QByteArray> deadLetterRids;
    QList<QByteArray> unresolvedDeadLetters;
};

// What the checks found, and what repairing it takes.
struct Analysis {
    // The report's rows, {"check","subject","expected","found","drift","detail"}: per check a
    // summary row (subject "sale ID"), then per-item or per-user rows where they differ.
    QJsonArray rows;
    bool ok = true;                     // no row has drift
    QMap<qint64, qint64> stockDelta;    // item -> expected - found, items PostgreSQL has (!= 0)
    QMap<QByteArray, qint64> userDelta; // user -> expected - found (!= 0)
    QList<QByteArray> missing;          // accepted in Redis, no order, not in flight; sorted
    QList<QByteArray> unreleased;       // cancelled in PostgreSQL, not released in Redis; sorted
    // Issue 20: orders whose hold Redis lost (no stream entry, no reservation hash). Pending and
    // unpaid ones are ended as hold-lost (lua/mark_lost.lua, then the cancel path); paid or
    // paying ones get their hold back (lua/restore_hold.lua). Sorted.
    QList<QByteArray> holdLost;
    QList<QByteArray> holdRestore;
    bool soldDrift = false; // inventory.sold differs from its orders somewhere
    QJsonObject stats;      // the report's "stats"
};

// Runs every check on `snapshot`. Pure and thread-safe; never fails.
Analysis analyse(qint64 saleId, const Snapshot &snapshot);

// Reservation ids as a report lists them: the first kMaxRids, then "and N more".
QString ridList(const QList<QByteArray> &rids);

} // namespace flashsale::reconcile
