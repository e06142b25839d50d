#pragma once

#include "booking/streamentry.h"
#include "core/result.h"

#include <QByteArray>
#include <QList>
#include <QString>

#include <functional>
#include <optional>

namespace flashsale {

class PgConnection;
class RedisCommands;

namespace reconcile {

// The order streams' dead letters (issue 20): what the stream worker could not write to
// PostgreSQL, kept in fs:{sale:ID}:dead by StreamWorker::deadLetter with the fields
//   reason, source_id (the order stream's entry id), consumer, field:<name> <value> ...
// (the original entry's fields, each prefixed "field:"), and what operators did about them
// (sql/013, stream_dead_letter_resolutions).

struct DeadLetterResolution {
    QString action; // "replayed" or "cancelled"
    QString operatorName;
    QString outcome;
    qint64 atMs = 0;
};

struct DeadLetter {
    qint64 saleId = 0;
    QByteArray entryId;  // in the dead-letter stream
    QByteArray reason;   // why the worker refused it
    QByteArray sourceId; // its id in the order stream
    StreamEntry entry;   // the original entry, as the worker read it (fields unprefixed)
    std::optional<DeadLetterResolution> resolution;

    qint64 atMs() const { return qint64(StreamId::parse(entryId).ms); }
    QByteArray reservationId() const { return entry.reservationId(); }

    // One entry of an XRANGE of the dead-letter stream: [id, [name, value, ...]].
    static DeadLetter fromReply(qint64 saleId, const RedisValue &reply);
};

// The dead letters of `sale` (every sale in fs:sales when nullopt), oldest first per sale,
// sales in id order, each with its resolution if any; resolved ones only with
// `includeResolved`. Reads at most 10,000 entries a sale. Call on the thread of both
// connections; `done` runs there once.
void readDeadLetters(PgConnection &pg, RedisCommands &redis, std::optional<qint64> sale,
                     bool includeResolved,
                     std::function<void(const Result<QList<DeadLetter>> &)> done);

// One dead letter, with its resolution if any; NotFound when the sale's dead-letter stream has
// no such entry.
void readDeadLetter(PgConnection &pg, RedisCommands &redis, qint64 sale, const QByteArray &entryId,
                    std::function<void(const Result<DeadLetter> &)> done);

} // namespace reconcile
} // namespace flashsale
