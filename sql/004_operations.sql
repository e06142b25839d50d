-- 004_operations: what operators need around the sales themselves: recurring schedules, the
-- sale lifecycle the scheduler drives, the audit log, reconciliation runs and the scheduler lease.
--
--   sale_schedules 1 ──< sales            (a recurring schedule materialises one sale per start)
--   audit_log                             (every change an operator or the scheduler makes)
--   reconcile_runs                        (every reconciliation, dry run or repair, with its report)
--   leases                                (one row per singleton job; the holder renews it)

CREATE TABLE sale_schedules (
    id               bigserial   PRIMARY KEY,
    name             text        NOT NULL CHECK (length(name) BETWEEN 1 AND 150),
    first_start      timestamptz NOT NULL,
    every_seconds    integer     NOT NULL CHECK (every_seconds >= 60),
    duration_seconds integer     NOT NULL CHECK (duration_seconds > 0),
    item_count       integer     NOT NULL CHECK (item_count BETWEEN 1 AND 100000),
    units_per_item   integer     NOT NULL CHECK (units_per_item > 0),
    price_cents      bigint      NOT NULL CHECK (price_cents >= 0),
    per_user_limit   integer     NOT NULL CHECK (per_user_limit > 0),
    hold_seconds     integer     NOT NULL CHECK (hold_seconds > 0),
    admission_rate   integer     NOT NULL CHECK (admission_rate >= 0),
    admission_burst  integer     NOT NULL CHECK (admission_burst > 0),
    active           boolean     NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text        NOT NULL,
    CHECK (duration_seconds <= every_seconds)
);

-- The lifecycle the scheduler records. warmed_at: written to Redis (bookings are answered
-- "not started" from then on); opened_at / closed_at: when the scheduler saw the start and the
-- end pass. The hot path itself opens and closes on the Redis clock, to the millisecond.
ALTER TABLE sales
    ADD COLUMN schedule_id bigint REFERENCES sale_schedules (id),
    ADD COLUMN warmed_at   timestamptz,
    ADD COLUMN opened_at   timestamptz,
    ADD COLUMN closed_at   timestamptz;
-- One sale per occurrence of a schedule, however many schedulers race.
CREATE UNIQUE INDEX sales_schedule_occurrence ON sales (schedule_id, starts_at)
    WHERE schedule_id IS NOT NULL;
-- Sales created before this migration were warmed when they were created.
UPDATE sales SET warmed_at = created_at;

CREATE TABLE audit_log (
    id      bigserial   PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text        NOT NULL,  -- "admin@127.0.0.1 (alice)", "scheduler@host-pid"
    action  text        NOT NULL,  -- "sale.pause", "sale.adjust", "reconcile.repair", ...
    sale_id bigint,
    before  jsonb,
    after   jsonb,
    detail  jsonb
);
CREATE INDEX audit_log_sale ON audit_log (sale_id, id);

CREATE TABLE reconcile_runs (
    id          bigserial   PRIMARY KEY,
    sale_id     bigint      NOT NULL,
    mode        text        NOT NULL CHECK (mode IN ('dry_run', 'repair')),
    trigger     text        NOT NULL CHECK (trigger IN ('operator', 'schedule')),
    actor       text        NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    ok          boolean     NOT NULL,  -- no drift found (dry run) / none left (repair)
    report      jsonb       NOT NULL
);
CREATE INDEX reconcile_runs_sale ON reconcile_runs (sale_id, id);

CREATE TABLE leases (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Recomputes inventory.sold of one sale from its orders, the source of truth, and returns the
-- items it changed. The rows are locked first, so a worker batch committing meanwhile is either
-- wholly counted or waits until this transaction ends.
CREATE FUNCTION flashsale_rebuild_sold(sale bigint)
RETURNS TABLE (item_id bigint, sold_before integer, sold_after integer)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM inventory i WHERE i.sale_id = sale ORDER BY i.item_id FOR UPDATE;
    RETURN QUERY
    WITH truth AS (
        SELECT i.item_id, i.sold AS before,
               coalesce((SELECT sum(o.quantity)::integer FROM orders o
                         WHERE o.item_id = i.item_id AND o.status <> 'cancelled'), 0) AS after
        FROM inventory i WHERE i.sale_id = sale
    ), changed AS (
        UPDATE inventory i SET sold = t.after
        FROM truth t WHERE i.item_id = t.item_id AND t.before <> t.after
        RETURNING i.item_id, t.before, t.after
    )
    SELECT c.item_id, c.before, c.after FROM changed c;
END
$$;
