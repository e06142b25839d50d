-- 011_provider_reconcile: provider reconciliation (issue 19). A run pages through the payment
-- provider's payments (PaymentGateway::listPayments), compares them with payments and orders,
-- applies the outcomes that were missed (PaymentOutcomes, source "reconcile") and flags the rest
-- for a person (shared/payment/providerreconcile.h).
--
--   provider_reconcile_runs 1 ──< provider_reconcile_repairs
--
-- Each run, dry run or repair, is one row with its report; each outcome a repair applied, one
-- row. Both are written in one statement with their audit_log rows (payments.reconcile,
-- payments.reconcile.repair), so a run is recorded whole or not at all.
--
-- The cursor: a run lists the provider's payments created after cursor_after (from the first
-- when NULL) and moves the cursor to the last payment created more than the look-back before
-- the run began. The next run of the same provider starts from the newest run's cursor, so a
-- run reads a bounded window: the look-back plus what is newer.

CREATE TABLE provider_reconcile_runs (
    id                bigserial   PRIMARY KEY,
    provider          text        NOT NULL,  -- PaymentGateway::name(): "simulator", "http"
    mode              text        NOT NULL CHECK (mode IN ('dry_run', 'repair')),
    trigger           text        NOT NULL CHECK (trigger IN ('operator', 'schedule')),
    actor             text        NOT NULL,
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz NOT NULL DEFAULT now(),
    ok                boolean     NOT NULL,  -- no drift found (dry run) / none left (repair)
    listed            integer     NOT NULL CHECK (listed >= 0), -- provider payments read
    cursor_after      text,                  -- where the next run starts listing (NULL: first)
    cursor_created_ms bigint,                -- that payment's creation time at the provider
    report            jsonb       NOT NULL
);
CREATE INDEX provider_reconcile_runs_provider ON provider_reconcile_runs (provider, id);

CREATE TABLE provider_reconcile_repairs (
    id           bigserial   PRIMARY KEY,
    run_id       bigint      NOT NULL REFERENCES provider_reconcile_runs (id),
    order_id     bigint      NOT NULL,
    check_name   text        NOT NULL,  -- captured_not_paid, refunded_not_cancelled
    provider_ref text        NOT NULL,  -- the provider's payment id the outcome is about
    outcome      text        NOT NULL CHECK (outcome IN ('succeeded', 'refunded')),
    -- What PaymentOutcomes::apply answered: applied, duplicate, refund_queued, ignored,
    -- unknown_order, or failed (the error is in detail)
    result       text        NOT NULL,
    detail       jsonb,                 -- {before: {order, payment}, error?}
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX provider_reconcile_repairs_order ON provider_reconcile_repairs (order_id);
CREATE INDEX provider_reconcile_repairs_run ON provider_reconcile_repairs (run_id);
-- Finding a window's captured payments (the "paid with no capture" check).
CREATE INDEX IF NOT EXISTS payments_created_at ON payments (created_at);
