-- 009_payments_async: payment outcomes that arrive from several places (the charge call's answer,
-- the provider's webhooks, provider reconciliation), in any order, each applied once
-- (shared/payment/paymentoutcomes.h holds the state table).
--
--   payments 1 ──< payment_events     (the webhook events applied to a payment, by event id)
--
-- payments.status gains 'refund_due': the provider captured money for an order that is no
-- longer pending (declined first, expired, cancelled); the payment service's refund sweep
-- refunds it under the idempotency key "refund-order-<id>" and sets 'refunded'.
-- payments.source records where the outcome that last moved the payment came from: 'api' (the
-- charge call's answer), 'webhook' or 'reconcile'.
--
-- payment_events: one row per provider event applied, inserted by the same statement as the
-- effect, so a duplicate delivery (the same event id) changes nothing and an event is never
-- remembered without its effect. event_id is the provider's ("evt_..."), never a body hash.

ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('charging', 'captured', 'declined', 'refund_due', 'refunded', 'void'));
ALTER TABLE payments ADD COLUMN source text
    CHECK (source IN ('api', 'webhook', 'reconcile'));

-- The refund sweep's work list, small by construction (refunds are rare).
CREATE INDEX payments_refund_due ON payments (order_id) WHERE status = 'refund_due';

CREATE TABLE payment_events (
    event_id    text        PRIMARY KEY,
    order_id    bigint,
    type        text,
    received_at timestamptz DEFAULT now()
);
CREATE INDEX payment_events_order_id ON payment_events (order_id);
