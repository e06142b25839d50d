#pragma once

#include "booking/streamentry.h"

#include <QByteArray>
#include <QList>
#include <QSet>

namespace flashsale {

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

    // Sorts each entry into orders, confirmations or poison (StreamEntry::parse).
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
