-- 007_app_role: what the application processes may do, as the group role flashsale_rw.
--
-- Migrations run as the schema's owner (the role of --migrate-only: in the local stack the
-- cluster's superuser over its peer-authenticated socket); the processes connect as a login role
-- that is a member of flashsale_rw (the local stack's flashsale_app, deploy/lib/pg.sh) and is
-- neither a superuser nor an owner of any table, so it cannot ALTER, DROP or re-GRANT anything.
--
--   flashsale_rw    NOLOGIN; SELECT, INSERT, UPDATE, DELETE on every table of schema public,
--                   USAGE/SELECT/UPDATE on its sequences, and the same on the tables and sequences
--                   later migrations create (ALTER DEFAULT PRIVILEGES of the migrating role)
--   audit_log       append-only for flashsale_rw: SELECT and INSERT only; no UPDATE, DELETE or
--                   TRUNCATE, so a compromised process cannot rewrite who did what
--
-- A cluster's roles are shared by its databases: the role is created once and only if missing
-- (the migrating role needs CREATEROLE for that, or a DBA creates flashsale_rw first); two
-- databases migrating at once may race to create it, which the handler below absorbs.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'flashsale_rw') THEN
        CREATE ROLE flashsale_rw NOLOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN
        NULL; -- created by a concurrent migration of another database
END
$$;

GRANT USAGE ON SCHEMA public TO flashsale_rw;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO flashsale_rw;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO flashsale_rw;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO flashsale_rw;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO flashsale_rw;

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM flashsale_rw;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
