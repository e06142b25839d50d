#pragma once

// What `flashsale-bench check` reads about one sale, from each place it can be seen, before it
// judges anything (invariants.h). Plain values: filled by salereader.h and kafkaread.h, read by
// the checks, never shared between threads.

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QMap>
#include <QSet>
#include <QString>
#include <QStringList>

namespace flashsale::bench {

struct OrderRecord {
    qint64 id = 0;
    QByteArray reservationId;
    qint64 itemId = 0;
    QByteArray userId;
    qint64 quantity = 0;
    QByteArray status; // pending | paid | cancelled
    QByteArray cancelReason;
};

struct InventoryRecord {
    qint64 stock = 0;
    qint64 sold = 0;
};

// PostgreSQL, read in one REPEATABLE READ transaction.
struct PgView {
    bool saleFound = false;
    qint64 perUserLimit = 0;
    QMap<qint64, InventoryRecord> inventory; // item id ->
    QList<OrderRecord> orders;
    QHash<qint64, QList<QByteArray>> history;  // order id -> statuses in order_history
    QHash<qint64, QList<QByteArray>> payments; // order id -> payments.status (one, if correct)
    QHash<QByteArray, qint64> notifications;   // event_id -> order id
    qint64 notificationsUndelivered = 0;
    // order.created rows in the outbox, by reservation id: how many, and how many published.
    QHash<QByteArray, int> outboxCreated;
    qint64 outboxUnpublished = 0;
    // Events still in the outbox, unpublished, as "<topic>:<reservation id>" (their event_id):
    // in flight, not missing, when Kafka lacks them.
    QSet<QByteArray> outboxInFlight;
    // Issue 20: dead-letter entries an operator replayed or cancelled
    // (stream_dead_letter_resolutions): decided, so no longer an offence.
    QSet<QByteArray> deadLettersResolved;
};

// One type=book entry of the sale's stream: what Redis accepted.
struct StreamBooking {
    QByteArray user;
    qint64 itemId = 0;
    qint64 quantity = 0;
};

// Redis, the counters read in one MULTI with the stream's end; the stream up to that end.
struct RedisView {
    bool warm = false;                       // fs:{sale:ID}:meta exists
    qint64 limit = 0;                        // meta "limit"
    QHash<qint64, qint64> remaining;         // item id -> units remaining
    QHash<QByteArray, qint64> users;         // user id -> units held
    QSet<QByteArray> released;               // reservation ids whose units were given back
    QSet<QByteArray> reservations;           // every reservation id accepted (the index set)
    QHash<QByteArray, StreamBooking> booked; // reservation id -> its first book entry
    qint64 bookEntries = 0;                  // book entries read (duplicates included)
    qint64 deadLetters = 0;
    QStringList deadSamples; // "entry id: reason" of the first few unresolved (PgView)
    // Issue 20: every dead-letter entry, id -> "source id (rid R): reason".
    QMap<QByteArray, QString> deadEntries;
    // The payment simulator's own ledger (fs:paysim:captured), when it exists: order id ->
    // charges captured. Empty when another provider is used.
    bool paysim = false;
    QHash<qint64, qint64> paysimCaptured;
};

// Kafka: the order events of this sale, read from the start of every partition to its end.
struct KafkaView {
    // topic -> reservation id -> messages
    QHash<QByteArray, QHash<QByteArray, int>> events;
    qint64 messages = 0;      // messages of this sale, all topics
    qint64 otherMessages = 0; // messages of other sales (skipped)
    qint64 malformed = 0;     // payloads that are not JSON objects with a sale_id
};

// The load generator's report (--report), the fields the checks use.
struct LoadReport {
    qint64 requests = 0;
    double p99Ms = -1;
    QMap<QString, qint64> byType;
    qint64 unknown = 0;
    qint64 users = 0;
    // --waiting-room runs: every user's outcome, told (by outcome) or untold (by why not).
    bool waitingRoom = false;
    QMap<QString, qint64> told;
    QMap<QString, qint64> untold;
};

} // namespace flashsale::bench
