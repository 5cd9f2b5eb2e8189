-- 0004_roles.sql: what the service may do, as two group roles that login roles are made
-- members of. The migrating role owns every table and function; the service never needs to.
--
--   events_writer  the worker pool and the CSV loader: read and write rows of the store, call
--                  its functions; no DDL, no TRUNCATE, no changes to schema_migrations.
--   events_reader  read-only sessions (Adminer, reporting): SELECT on every table.
--
-- The roles are cluster-wide and created here only when missing and when the migrating role
-- may create roles (superuser or CREATEROLE); otherwise a NOTICE says so and an administrator
-- creates them (README "Security"). Login roles are the deployment's business: the embedded
-- stack makes events_app and events_ro (tools/stack.sh), compose makes them from .env.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['events_writer', 'events_reader'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            IF (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            ELSE
                RAISE NOTICE 'role % is missing and % may not create it: grants skipped',
                    r, current_user;
            END IF;
        END IF;
    END LOOP;

    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_writer') THEN
        GRANT USAGE ON SCHEMA public TO events_writer;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO events_writer;
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO events_writer;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO events_writer;
        REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM events_writer;
        -- later migrations' tables and functions, created by this same role
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
            GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO events_writer;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO events_writer;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO events_writer;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_reader') THEN
        GRANT USAGE ON SCHEMA public TO events_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO events_reader;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO events_reader;
    END IF;
END $$;

-- Functions are executable by PUBLIC by default; only the writer group calls these.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
