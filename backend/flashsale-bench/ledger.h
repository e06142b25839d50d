#pragma once

// The ledger: what the load generator saw, written by `flashsale-bench load` and read by
// `flashsale-bench check`. One JSON object per line (JSON lines), in this order:
//
//   {"type":"run", "sale_id":12, "flow":"book", "users":1000000, "urls":["http://..."],
//    "started_at":"2026-11-21T12:00:00.000Z"}
//   {"type":"accepted", "user":"u42", "key":"u42-1", "reservation_id":"12-5f0c...",
//    "item_id":31, "quantity":1, "replayed":false}            one per 202 answer
//   {"type":"unknown", "user":"u7", "key":"u7-1", "item_id":31, "quantity":1,
//    "reason":"connection-reset"}       an attempt whose outcome the client never learnt
//                                       (connection lost, timeout, 503 with no later answer
//                                       for the same key): Redis may have accepted it
//   {"type":"confirmed", "user":"u42", "reservation_id":"12-5f0c..."}   purchase answered 202
//   {"type":"end", "finished_at":"...", "requests":1000000, "by_status":{"202":10,"409":999990}}
//
// "accepted" lines repeat for idempotent replays ("replayed":true, same reservation_id); the
// checker treats (user, key) -> reservation_id as a function and flags any key that came back
// with two different reservations (I7).

#include <QByteArray>
#include <QFile>
#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <optional>

namespace flashsale::bench {

struct LedgerBooking {
    QString user;
    QString key;
    QString reservationId; // empty for "unknown"
    qint64 itemId = 0;
    int quantity = 1;
    bool replayed = false;
    QString reason; // "unknown" only
};

struct Ledger {
    qint64 saleId = 0;
    QString flow;
    qint64 users = 0;
    QList<LedgerBooking> accepted; // every 202, replays included
    QList<LedgerBooking> unknown;
    QList<QPair<QString, QString>> confirmed; // (user, reservation id)
    qint64 requests = 0;
    QHash<QString, qint64> byStatus;
    bool ended = false; // the "end" line was read: the load finished writing
};

// Appends lines to a ledger file. Not thread-safe: one writer per file.
class LedgerWriter {
public:
    // Opens (truncates) `path`; false with `error` set when it cannot.
    bool open(const QString &path, QString *error);
    void write(const QJsonObject &line);
    void flush();

private:
    QFile m_file;
};

// Reads a whole ledger; nullopt with `error` set on an unreadable file or a malformed line
// (its number is named).
std::optional<Ledger> readLedger(const QString &path, QString *error);

} // namespace flashsale::bench
