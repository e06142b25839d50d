-- 001_sales: sales and their items, the catalogue the booking hot path is warmed from.
--
--   sales 1 ──< sale_items
--
-- A sale is open for booking while state = 'active' and starts_at <= now < ends_at.
-- 'paused' and 'stopped' are operator states. Redis holds the live copy under
-- fs:{sale:ID}:*; PostgreSQL is the source of truth.

CREATE TABLE sales (
    id              bigserial PRIMARY KEY,
    name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    per_user_limit  integer     NOT NULL CHECK (per_user_limit > 0),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    hold_seconds    integer     NOT NULL CHECK (hold_seconds > 0),
    admission_rate  integer     NOT NULL CHECK (admission_rate >= 0),  -- bookings/s, 0 = no bucket
    admission_burst integer     NOT NULL CHECK (admission_burst > 0),
    state           text        NOT NULL DEFAULT 'active'
                                CHECK (state IN ('active', 'paused', 'stopped')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);

CREATE TABLE sale_items (
    id          bigserial PRIMARY KEY,
    sale_id     bigint  NOT NULL REFERENCES sales (id) ON DELETE CASCADE,
    name        text    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    price_cents bigint  NOT NULL CHECK (price_cents >= 0),
    stock       integer NOT NULL CHECK (stock >= 0)
);

CREATE INDEX sale_items_sale_id ON sale_items (sale_id);
