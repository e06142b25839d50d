-- 016_cancel_pending_lock_order: flashsale_cancel_pending locks its orders in id order.
--
-- Every statement that updates many orders locks them in id order: the worker's confirmations
-- (payment_started_at), the payment service's own payment_started_at, the payment outcomes
-- (FOR UPDATE ... ORDER BY order_id) and this function, which the expiry sweeper and
-- reconciliation call. Two statements that lock overlapping rows in different orders can
-- deadlock (40P01); PostgreSQL then cancels one, which is retried, but it costs a round.
-- Same contract as 013: cancels the orders of `ids` that are pending and not paying, with reason
-- `why`; gives their units back in inventory.sold, records the history and the order.cancelled
-- event. Returns the orders cancelled.

CREATE OR REPLACE FUNCTION flashsale_cancel_pending(ids bigint[], why text)
RETURNS TABLE (order_id bigint, reservation_id text) LANGUAGE sql AS $$
WITH l AS (
    SELECT id FROM orders
    WHERE id = ANY (ids) AND status = 'pending' AND payment_started_at IS NULL
    ORDER BY id
    FOR UPDATE),
c AS (
    UPDATE orders o SET status = 'cancelled', cancel_reason = why, updated_at = now()
    FROM l
    WHERE o.id = l.id AND o.status = 'pending' AND o.payment_started_at IS NULL
    RETURNING o.id, o.reservation_id, o.sale_id, o.item_id, o.user_id, o.quantity, o.amount_cents),
stock AS (
    UPDATE inventory v SET sold = v.sold - s.units
    FROM (SELECT item_id, sum(quantity)::int AS units FROM c GROUP BY item_id) s
    WHERE v.item_id = s.item_id),
history AS (
    INSERT INTO order_history (order_id, status, reason) SELECT id, 'cancelled', why FROM c),
events AS (
    INSERT INTO outbox (topic, key, payload)
    SELECT 'order.cancelled', c.reservation_id,
           order_event('order.cancelled', id, c.reservation_id, sale_id, item_id, user_id,
                       quantity, amount_cents, why, now())
    FROM c ORDER BY id)
SELECT id, c.reservation_id FROM c
$$;
