-- 013_dead_letter_resolutions (issue 20): no order pending forever, dead letters resolved.
--
--   orders.cancel_reason                 + 'hold-lost': the order's hold vanished from Redis (a
--                                          Redis data loss); reconciliation or the expiry sweeper
--                                          ended it. + 'dead-letter': an operator cancelled the
--                                          booking the stream worker had dead-lettered.
--   flashsale_cancel_pending(ids, why)   the one cancel path of unpaid pending orders: status,
--                                          inventory.sold, order_history and the order.cancelled
--                                          outbox event (the buyer's notification) together
--   stream_dead_letter_resolutions       one row per dead-letter entry (fs:{sale:ID}:dead) an
--                                          operator resolved: replayed or cancelled, by whom,
--                                          when. A refused replay resolves nothing (audit only).
--   flashsale_cancel_dead_letter(...)    orders.deadletters.cancel in one transaction

ALTER TABLE orders DROP CONSTRAINT orders_cancel_reason_check;
ALTER TABLE orders ADD CONSTRAINT orders_cancel_reason_check
    CHECK (cancel_reason IN ('expired', 'declined', 'admin', 'hold-lost', 'dead-letter'));

-- Cancels the orders of `ids` that are pending and not paying (the buyer has not confirmed),
-- with reason `why`; gives their units back in inventory.sold, records the history and the
-- order.cancelled event. Returns the orders cancelled. Orders in any other state are left.
CREATE FUNCTION flashsale_cancel_pending(ids bigint[], why text)
RETURNS TABLE (order_id bigint, reservation_id text) LANGUAGE sql AS $$
WITH c AS (
    UPDATE orders SET status = 'cancelled', cancel_reason = why, updated_at = now()
    WHERE id = ANY (ids) AND status = 'pending' AND payment_started_at IS NULL
    RETURNING id, reservation_id, sale_id, item_id, user_id, quantity, amount_cents),
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

CREATE TABLE stream_dead_letter_resolutions (
    sale_id     bigint      NOT NULL,
    entry_id    text        NOT NULL,  -- the dead-letter stream's entry id
    action      text        NOT NULL CHECK (action IN ('replayed', 'cancelled')),
    operator    text        NOT NULL,
    outcome     text        NOT NULL,  -- a sentence: what happened to the order
    order_id    bigint,                -- the order written or cancelled, when there is one
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sale_id, entry_id)
);

-- orders.deadletters.cancel: the dead letter's booking (rid, item, user, qty, amount, accepted
-- and expiry times; item NULL when the entry carried no booking) ends cancelled with reason
-- 'dead-letter'. An order row is written cancelled when the worker never wrote one (sold is not
-- touched: it never counted it; with its order.created event), or the pending order is
-- cancelled; the order.cancelled event (and so the buyer's notification) only when `notify`.
-- The resolution row and the audit record in the same transaction. Raises unique_violation
-- when the entry is already resolved, and check_violation when the order is paid or paying
-- (that is a refund, not a cancel). Returns the order id (NULL when there is none to cancel)
-- and the outcome sentence.
CREATE FUNCTION flashsale_cancel_dead_letter(
    sale bigint, entry text, rid text, item bigint, buyer text, qty integer, amount bigint,
    accepted_ms bigint, expires_ms bigint, notify boolean, actor text, reason text,
    OUT order_id bigint, OUT outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    o orders%ROWTYPE;
BEGIN
    IF EXISTS (SELECT 1 FROM stream_dead_letter_resolutions r
               WHERE r.sale_id = sale AND r.entry_id = entry) THEN
        RAISE EXCEPTION 'dead letter % of sale % is already resolved', entry, sale
            USING ERRCODE = 'unique_violation';
    END IF;
    IF rid IS NOT NULL THEN
        SELECT * INTO o FROM orders WHERE reservation_id = rid FOR UPDATE;
    END IF;
    IF o.id IS NULL AND item IS NOT NULL THEN
        INSERT INTO orders (reservation_id, sale_id, item_id, user_id, quantity, amount_cents,
                            status, cancel_reason, accepted_at, expires_at)
        VALUES (rid, sale, item, buyer, qty, amount, 'cancelled', 'dead-letter',
                to_timestamp(accepted_ms / 1000.0), to_timestamp(expires_ms / 1000.0))
        RETURNING * INTO o;
        INSERT INTO order_history (order_id, status, reason) VALUES (o.id, 'cancelled', 'dead-letter');
        -- Every order row has its order.created event, this one too: consumers see it begin
        -- and end (the order.cancelled below).
        INSERT INTO outbox (topic, key, payload)
        VALUES ('order.created', o.reservation_id,
                order_event('order.created', o.id, o.reservation_id, o.sale_id, o.item_id,
                            o.user_id, o.quantity, o.amount_cents, NULL, o.created_at));
        outcome := 'order ' || o.id || ' written cancelled (dead-letter)';
    ELSIF o.id IS NULL THEN
        outcome := 'no booking in the entry; nothing to cancel';
    ELSIF o.status = 'pending' AND o.payment_started_at IS NULL THEN
        UPDATE orders SET status = 'cancelled', cancel_reason = 'dead-letter', updated_at = now()
        WHERE id = o.id;
        UPDATE inventory SET sold = sold - o.quantity WHERE item_id = o.item_id;
        INSERT INTO order_history (order_id, status, reason) VALUES (o.id, 'cancelled', 'dead-letter');
        outcome := 'pending order ' || o.id || ' cancelled (dead-letter)';
    ELSIF o.status = 'cancelled' THEN
        outcome := 'order ' || o.id || ' was already cancelled (' || o.cancel_reason || ')';
        notify := false;
    ELSE
        RAISE EXCEPTION 'order % is % (paid or paying): refund it instead of cancelling', o.id,
            o.status USING ERRCODE = 'check_violation';
    END IF;
    order_id := o.id;
    IF notify AND o.id IS NOT NULL THEN
        INSERT INTO outbox (topic, key, payload)
        VALUES ('order.cancelled', o.reservation_id,
                order_event('order.cancelled', o.id, o.reservation_id, o.sale_id, o.item_id,
                            o.user_id, o.quantity, o.amount_cents, 'dead-letter', now()));
        outcome := outcome || ', buyer notified';
    END IF;
    INSERT INTO stream_dead_letter_resolutions (sale_id, entry_id, action, operator, outcome, order_id)
    VALUES (sale, entry, 'cancelled', actor, outcome, o.id);
    INSERT INTO audit_log (actor, action, sale_id, detail)
    VALUES (actor, 'orders.deadletters.cancel', sale,
            jsonb_build_object('entry_id', entry, 'reservation_id', rid, 'order_id', o.id,
                               'notify', notify, 'reason', reason, 'outcome', outcome));
END
$$;
