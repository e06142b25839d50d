#include "orderbatch.h"

#include "pg/pgarray.h"

namespace flashsale {

OrderBatch OrderBatch::parse(const QList<StreamEntry> &entries) {
    OrderBatch b;
    for (const StreamEntry &e : entries) {
        StreamEntry::Parsed p = e.parse();
        switch (p.kind) {
        case StreamEntry::Parsed::Kind::Book:
            b.orders.append(std::move(p.order));
            b.orderEntries.append(e);
            break;
        case StreamEntry::Parsed::Kind::Confirm:
            b.confirmed.insert(p.reservationId);
            b.confirmEntries.append(e);
            break;
        case StreamEntry::Parsed::Kind::Poison:
            b.poison.append({e, p.reason});
            break;
        }
    }
    return b;
}

const QByteArray &OrderBatch::persistSql() {
    static const QByteArray sql = R"(
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::int[],
                         $6::bigint[], $7::bigint[], $8::bigint[], $9::bool[])
        AS t (reservation_id, sale_id, item_id, user_id, quantity, amount_cents, accepted_ms,
              expires_ms, confirmed)),
ins AS (
    INSERT INTO orders (reservation_id, sale_id, item_id, user_id, quantity, amount_cents, status,
                        accepted_at, expires_at, payment_started_at)
    SELECT reservation_id, sale_id, item_id, user_id, quantity, amount_cents, 'pending',
           to_timestamp(accepted_ms / 1000.0), to_timestamp(expires_ms / 1000.0),
           CASE WHEN confirmed THEN now() END
    FROM input
    ON CONFLICT (reservation_id) DO NOTHING
    RETURNING id, reservation_id, sale_id, item_id, user_id, quantity, amount_cents, created_at),
stock AS (
    UPDATE inventory v SET sold = v.sold + s.units
    FROM (SELECT item_id, sale_id, sum(quantity)::int AS units FROM ins GROUP BY item_id, sale_id) s
    WHERE v.item_id = s.item_id AND v.sale_id = s.sale_id
    RETURNING v.item_id),
events AS (
    INSERT INTO outbox (topic, key, payload)
    SELECT 'order.created', reservation_id,
           order_event('order.created', id, reservation_id, sale_id, item_id, user_id, quantity,
                       amount_cents, NULL, created_at)
    FROM ins),
-- Rows of earlier batches are locked in id order, as every statement that updates many orders
-- does (payment's payment_started_at, flashsale_cancel_pending, the outcomes): the payment
-- service sets payment_started_at on the same orders, and two statements locking overlapping
-- rows in different orders deadlock (40P01).
confirm_lock AS (
    SELECT id FROM orders
    WHERE reservation_id = ANY ($10::text[]) AND status = 'pending' AND payment_started_at IS NULL
    ORDER BY id
    FOR UPDATE),
confirm AS (
    UPDATE orders o SET payment_started_at = now(), updated_at = now()
    FROM confirm_lock l
    WHERE o.id = l.id AND o.status = 'pending' AND o.payment_started_at IS NULL
    RETURNING o.id)
SELECT (SELECT count(*) FROM ins) AS inserted, (SELECT count(*) FROM confirm) AS confirmed,
       -- Confirmations whose order is not committed yet: another worker may be writing it.
       array_to_string(ARRAY(SELECT r FROM unnest($10::text[]) r
                             WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.reservation_id = r)),
                       ',') AS unmatched,
       -- Every (item, sale) written is an inventory row that was updated, or nothing commits.
       flashsale_assert((SELECT count(*) FROM stock) =
                        (SELECT count(*) FROM (SELECT DISTINCT item_id, sale_id FROM ins) d),
                        'an order names an item that is not in its sale''s inventory'))";
    return sql;
}

QList<QByteArray> OrderBatch::persistParams() const {
    QList<QByteArray> rid, sale, item, user, qty, amount, accepted, expires, confirmedNow;
    for (const OrderRow &o : orders) {
        rid << o.reservationId;
        sale << QByteArray::number(o.saleId);
        item << QByteArray::number(o.itemId);
        user << o.userId;
        qty << QByteArray::number(o.quantity);
        amount << QByteArray::number(o.amountCents);
        accepted << QByteArray::number(o.acceptedMs);
        expires << QByteArray::number(o.expiresMs);
        confirmedNow << (confirmed.contains(o.reservationId) ? "true" : "false");
    }
    // Confirmations of orders written in this same statement are set on insert (a statement
    // does not see its own inserts); the UPDATE covers orders of earlier batches.
    const QSet<QByteArray> inBatch(rid.cbegin(), rid.cend());
    QList<QByteArray> earlier;
    for (const QByteArray &r : confirmed) {
        if (!inBatch.contains(r))
            earlier << r;
    }
    return {pgArray(rid),          pgArray(sale),   pgArray(item),     pgArray(user),
            pgArray(qty),          pgArray(amount), pgArray(accepted), pgArray(expires),
            pgArray(confirmedNow), pgArray(earlier)};
}

} // namespace flashsale
