-- 010_merchant_webhooks: order events delivered to merchants' HTTPS endpoints (issue 19, part 6;
-- docs/MERCHANT_WEBHOOKS.md). The notify role writes one delivery row per (endpoint, event)
-- before it commits the Kafka offset, then a sender POSTs each due row until the endpoint answers
-- 2xx or the attempts run out (the row is then a dead letter, replayable by an operator).
--
--   merchant_webhook_endpoints    the endpoints of the notify role's --merchant-webhooks-file,
--                                 written at its start (no secrets: those stay in files); an
--                                 endpoint no longer in the file keeps its rows, configured=false
--   merchant_webhook_deliveries   one row per (endpoint_id, event_id):
--
--     status     pending ──2xx──▶ delivered
--                   │ └─non-2xx/timeout: attempts+1, next_attempt_at = now + backoff
--                   └─attempts = max──▶ dead ──webhooks.replay──▶ pending (attempts = 0)
--
--     next_attempt_at  when a pending row is due; a sender claims a row by moving it ahead by
--                      the lease (FOR UPDATE SKIP LOCKED), so two notify processes never send
--                      the same row at once, and a crashed sender's rows come back when the
--                      lease ends
--     payload          the exact body sent (and signed), identical on every attempt
--     last_error       "HTTP 500", "timeout: ...", "unavailable: ..." from the latest attempt

CREATE TABLE merchant_webhook_endpoints (
    id         text        PRIMARY KEY,
    url        text        NOT NULL,
    events     text[]      NOT NULL,
    configured boolean     NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE merchant_webhook_deliveries (
    id              bigserial   PRIMARY KEY,
    endpoint_id     text        NOT NULL,
    event_id        text        NOT NULL,
    event_type      text        NOT NULL,
    order_id        bigint,
    payload         text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    last_status     integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    dead_at         timestamptz,
    replays         integer     NOT NULL DEFAULT 0,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX merchant_webhook_deliveries_due ON merchant_webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX merchant_webhook_deliveries_dead ON merchant_webhook_deliveries (endpoint_id, id)
    WHERE status = 'dead';
