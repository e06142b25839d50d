-- 014_waiting_room (issue 16): a sale's waiting room (docs/WAITING_ROOM.md, "Parameters").
--
--   sales.waiting_room            off by default: a sale without it admits bookings first come,
--                                   first served, exactly as before
--   sales.lobby_opens_at          when joins are first taken (required with the waiting room;
--                                   before starts_at); the commitment is public from then on
--   sales.admission_paused        an operator paused the admission cursor (later step)
--   sales.grace_ms                the cohort stays open this long after starts_at
--   sales.admit_per_minute        the outflow of the admission cursor
--   sales.admission_ttl_seconds   how long an admitted buyer has to book
--   sales.entries_per_buyer       one buyer holds one entry (I8); kept as a column for clarity
--   sales.entries_per_address     cohort entries per client address (IPv6: per /64); 0 = no cap
--   sale_fairness                 one row per waiting-room sale, inserted by the same statement
--                                   as the sale: the commitment SHA-256(seed) from birth, the
--                                   seed in a box (`plain` until the sealed box is built), and
--                                   what the seal publishes (seed, digest, shuffle seed, size)
--   waiting_room_entries          the published ranks, archived after the seal

ALTER TABLE sales
    ADD COLUMN waiting_room boolean NOT NULL DEFAULT false,
    ADD COLUMN lobby_opens_at timestamptz,
    ADD COLUMN admission_paused boolean NOT NULL DEFAULT false,
    ADD COLUMN grace_ms integer NOT NULL DEFAULT 3000 CHECK (grace_ms BETWEEN 0 AND 60000),
    ADD COLUMN admit_per_minute integer NOT NULL DEFAULT 600
        CHECK (admit_per_minute BETWEEN 1 AND 1000000),
    ADD COLUMN admission_ttl_seconds integer NOT NULL DEFAULT 120
        CHECK (admission_ttl_seconds BETWEEN 10 AND 3600),
    ADD COLUMN entries_per_buyer integer NOT NULL DEFAULT 1 CHECK (entries_per_buyer = 1),
    ADD COLUMN entries_per_address integer NOT NULL DEFAULT 1
        CHECK (entries_per_address BETWEEN 0 AND 1000),
    ADD CONSTRAINT sales_waiting_room_lobby_check
        CHECK (NOT waiting_room OR (lobby_opens_at IS NOT NULL AND lobby_opens_at < starts_at));

CREATE TABLE sale_fairness (
    sale_id bigint PRIMARY KEY REFERENCES sales (id) ON DELETE CASCADE,
    commitment text NOT NULL CHECK (commitment ~ '^[0-9a-f]{64}$'),
    seed_box bytea NOT NULL,
    seed_box_kind text NOT NULL CHECK (seed_box_kind IN ('x25519', 'plain')),
    -- Set at the seal.
    seed text,
    digest text,
    shuffle_seed text,
    cohort_size integer,
    sealed_at timestamptz,
    archived_at timestamptz
);

CREATE TABLE waiting_room_entries (
    sale_id bigint NOT NULL REFERENCES sales (id) ON DELETE CASCADE,
    rank integer NOT NULL,
    entry_id text NOT NULL,
    PRIMARY KEY (sale_id, rank)
);
