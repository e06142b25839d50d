-- 003_payments: what the event bus records. payments has one row per order (UNIQUE), so a
-- redelivered order.created never charges twice; notifications one row per event (UNIQUE),
-- so each is recorded once. Inserting into the outbox wakes the relay (LISTEN outbox).

CREATE TABLE payments (
    id           bigserial   PRIMARY KEY,
    order_id     bigint      NOT NULL UNIQUE REFERENCES orders (id),
    -- charging: a charge may be under way; void: no charge, the hold had ended first
    status       text        NOT NULL CHECK (status IN ('charging', 'captured', 'declined', 'refunded', 'void')),
    amount_cents bigint      NOT NULL CHECK (amount_cents >= 0),
    provider     text        NOT NULL,
    provider_ref text,
    reason       text,
    attempts     integer     NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notifications (
    id           bigserial   PRIMARY KEY,
    event_id     text        NOT NULL UNIQUE,
    order_id     bigint      NOT NULL,
    user_id      text        NOT NULL,
    kind         text        NOT NULL,
    body         text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);

CREATE FUNCTION outbox_wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END
$$;

-- Once per statement, delivered at commit: one wake-up per batch, not per row.
CREATE TRIGGER outbox_wake AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_wake();
