#pragma once

#include <QByteArray>
#include <QList>

#include <compare>
#include <optional>
#include <utility>

namespace flashsale {

struct RedisValue;

// A stream id "ms-seq", ordered as Redis orders them. Pure.
struct StreamId {
    quint64 ms = 0;
    quint64 seq = 0;

    // "1700000000000-3"; a missing "-seq" reads as seq 0, anything unparseable as 0.
    static StreamId parse(const QByteArray &text);
    auto operator<=>(const StreamId &) const = default;
};

// An accepted booking, as its "book" entry says: the row the stream worker writes to orders, and
// the order the payment service charges.
struct OrderRow {
    QByteArray reservationId;
    qint64 saleId = 0;
    qint64 itemId = 0;
    QByteArray userId;
    int quantity = 0;
    qint64 amountCents = 0; // the entry's unit price times the quantity
    qint64 acceptedMs = 0;  // the entry's "ts": when book.lua accepted it (Redis TIME)
    qint64 expiresMs = 0;   // when the hold ends

    bool operator==(const OrderRow &) const = default;
};

// One entry of a sale's stream, fs:{sale:ID}:stream, and the one place its fields are named,
// written and parsed. lua/book.lua and lua/purchase.lua write the same fields in Lua;
// tests/lua/tst_booklua.cpp parses book.lua's entry with parse() so the two cannot drift.
//
//   type=book      rid, user, item, qty, price, ts, expires_ms [, arr] [, first_ms]
//   type=confirm   rid, ts [, first_ms]
//
//   rid         reservation id, "<sale id>-<32 hex>" (booking/reservationid.h)
//   user        user id                       item   item id (> 0)
//   qty         units (1 to 1,000,000)        price  unit price in cents (>= 0)
//   ts          ms since the epoch: accepted (book) or confirmed (confirm), Redis TIME
//   expires_ms  when the hold ends
//   arr         arrival at the API in µs (docs/ADMISSION.md); optional, not parsed
//   first_ms    when the worker first tried it and put it back (retried()); optional
//
// Value type; pure and thread-safe.
struct StreamEntry {
    using Fields = QList<std::pair<QByteArray, QByteArray>>;

    static constexpr const char *kType = "type";
    static constexpr const char *kBook = "book"; // values of "type"
    static constexpr const char *kConfirm = "confirm";
    static constexpr const char *kReservation = "rid";
    static constexpr const char *kUser = "user";
    static constexpr const char *kItem = "item";
    static constexpr const char *kQuantity = "qty";
    static constexpr const char *kPrice = "price";
    static constexpr const char *kAccepted = "ts";
    static constexpr const char *kExpires = "expires_ms";
    static constexpr const char *kArrival = "arr";
    static constexpr const char *kFirstTried = "first_ms";

    qint64 saleId = 0; // the sale whose stream holds it
    QByteArray id;     // "1700000000000-0"; empty for an entry not yet appended
    Fields fields;     // in stream order

    // What an entry asks of the worker, or why it cannot be used.
    struct Parsed {
        enum class Kind { Book, Confirm, Poison };
        Kind kind = Kind::Poison;
        QByteArray reservationId; // as the entry names it; for Poison possibly empty or foreign
        OrderRow order;           // Book only
        QByteArray reason;        // Poison only: what the dead-letter stream records
    };

    // One entry of an XRANGE, XREADGROUP or XCLAIM reply: [id, [name, value, ...]].
    static StreamEntry fromReply(qint64 saleId, const RedisValue &entry);
    // The booking entry of `order`, as book.lua writes it (without "arr"). The price written is
    // amountCents / quantity, so parse() of it gives `order` back.
    static StreamEntry book(const OrderRow &order);
    // A confirmation: the buyer asked to pay for reservation `rid` at `tsMs`.
    static StreamEntry confirm(qint64 saleId, const QByteArray &rid, qint64 tsMs);

    // The value of `name`; empty when the entry has no such field (the first of a repeated one).
    QByteArray field(const QByteArray &name) const;
    QByteArray type() const { return field(kType); }
    QByteArray reservationId() const { return field(kReservation); }

    // Book, Confirm or Poison. Poison, with its reason, when the reservation id is missing or not
    // of saleId, the type is neither book nor confirm, or a book entry lacks a field or has one
    // out of range (see the layout above).
    Parsed parse() const;

    // The same entry to append again at the end of the stream, stamped with when it was first
    // tried: first_ms is kept if it is there, else set to `nowMs`.
    StreamEntry retried(qint64 nowMs) const;
    // When it was first tried (retried()); nullopt when never (no first_ms, or an empty one). A
    // first_ms that is not a number reads as 0, long ago.
    std::optional<qint64> firstTriedMs() const;

    // "XADD fs:{sale:ID}:stream * name value ...": the command that appends these fields.
    QList<QByteArray> xadd() const;
};

} // namespace flashsale
