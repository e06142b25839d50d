-- 006_operators: named operator accounts with roles, for the admin WebSocket and the admin HTTP
-- routes (docs/ADMIN_PROTOCOL.md, "Logging in").
--
--   operators                             (one row per person; never deleted, only disabled)
--   audit_log.actor                       (holds operators.name, or "bootstrap" for the token)
--
-- password_hash is libsodium's crypto_pwhash_str (argon2id, with its salt and cost in the
-- string); the password itself is never stored, logged or audited. A disabled operator cannot
-- log in, and sessions already open are closed within about a second (the admin hub watches the
-- audit log). The name "bootstrap" is reserved for the bootstrap admin token.

CREATE TABLE operators (
    id                  bigserial   PRIMARY KEY,
    name                text        NOT NULL UNIQUE
                                    CHECK (name ~ '^[a-z0-9._-]{1,64}$' AND name <> 'bootstrap'),
    role                text        NOT NULL CHECK (role IN ('viewer', 'merchandiser', 'admin')),
    password_hash       text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    created_at          timestamptz NOT NULL DEFAULT now(),
    created_by          text        NOT NULL,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    disabled_at         timestamptz
);
