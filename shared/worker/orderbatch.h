#pragma once

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QSet>

#include <optional>

namespace flashsale {

// One entry of a sale's stream, as XREADGROUP or XAUTOCLAIM delivered it.
struct StreamEntry {
    qint64 saleId = 0;
    QByteArray id; // "1700000000000-0"
    QList<QPair<QByteArray, QByteArray>> fields;

    QByteArray field(const QByteArray &name) const;
};

// An accepted booking, parsed from a "book" entry: the row the worker writes to orders.
struct OrderRow {
    QByteArray reservationId;
    qint64 saleId = 0;
    qint64 itemId = 0;
    QByteArray userId;
    int quantity = 0;
    qint64 amountCents = 0;
    qint64 acceptedMs = 0;
    qint64 expiresMs = 0;
};

// What a batch of entries asks of PostgreSQL: new orders, and confirmations (the buyer asked to
// pay) of orders written now or earlier. Entries that cannot be parsed are poison and carry
// their reason.
struct OrderBatch {
    QList<OrderRow> orders;
    QList<StreamEntry> orderEntries; // orders[i] came from orderEntries[i]
    QSet<QByteArray> confirmed;      // reservation ids
    QList<StreamEntry> confirmEntries;
    QList<QPair<StreamEntry, QByteArray>> poison; // entry, reason
    // Orders the inventory CHECK refused for now: an expired hold's units were given back in
    // Redis and sold again before the expiry sweep lowered inventory.sold in PostgreSQL.
    QList<StreamEntry> waitingForStock;

    // Sorts each entry into orders, confirmations or poison.
    static OrderBatch parse(const QList<StreamEntry> &entries);

    // The statement that writes the batch in one transaction, and its parameters: orders
    // inserted ON CONFLICT DO NOTHING in stream order, inventory raised by what was inserted (its
    // CHECK refuses oversell), an order.created outbox row per new order, and payment marked as
    // started for confirmed ones; it fails with SQLSTATE 23503 if an order names an item that is
    // not in its sale's inventory. Returns one row: inserted, confirmed, and the comma-separated
    // reservation ids of confirmations whose order was not there (not committed yet by another
    // worker, or never).
    static const QByteArray &persistSql();
    QList<QByteArray> persistParams() const;
};

} // namespace flashsale
