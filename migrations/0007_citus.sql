-- 0007_citus: the same store on a Citus cluster (README "Scale-out", ADR 6).
--
-- On one PostgreSQL nothing changes: ingest_merge(int, boolean) still runs the body of 0003
-- (renamed ingest_merge_single). The migrator (tools/migrate.c) calls distribute_store() after
-- the migrations whenever the database has the citus extension; that places every table as
-- store_distribution says and points ingest_merge at ingest_merge_distributed. It is
-- idempotent, so it also moves an existing single-node store (populated tables are copied
-- into their shards) when citus is created in it later.
--
-- The layout keeps global first-write-wins by event_id: events is hash-distributed by
-- event_id (a unique key must contain the distribution column), the per-user tables by
-- user_id, co-located with each other; the counters that every stats query reads stay plain
-- tables on the coordinator (one local index probe per answer instead of a fan-out to every
-- shard).
--
-- 0005_lifecycle on a cluster, unchanged: erase_user()'s LOCK TABLE events is taken on the
-- coordinator's events (Citus 12 also takes it on the workers' copies of the table's
-- metadata), and every merge runs through the coordinator, where its INSERT INTO events
-- takes ROW EXCLUSIVE on that same table: erasures and merges keep the order of one node.
-- prune_raw_events() and the export's COPY read and delete across the shards of events.

CREATE TABLE store_distribution (
    table_name    text PRIMARY KEY,
    -- hash: sharded by column_name; reference: a copy on every node; coordinator: a plain
    -- table of the coordinator (written in the same distributed transaction)
    placement     text NOT NULL CHECK (placement IN ('hash', 'reference', 'coordinator')),
    column_name   text,
    colocate_with text,
    position      integer NOT NULL UNIQUE,
    CHECK ((placement = 'hash') = (column_name IS NOT NULL))
);

-- A later migration that adds a table adds its row here (the cluster refuses unlisted ones).
INSERT INTO store_distribution VALUES
    ('events',             'hash',        'event_id', NULL,    1),
    ('users',              'hash',        'user_id',  NULL,    2),
    ('user_days',          'hash',        'user_id',  'users', 3),
    ('daily_users',        'coordinator', NULL,       NULL,    4),
    ('daily_event_types',  'coordinator', NULL,       NULL,    5),
    ('retention_cells',    'coordinator', NULL,       NULL,    6),
    ('schema_migrations',  'coordinator', NULL,       NULL,    7),
    ('store_distribution', 'coordinator', NULL,       NULL,    8),
    -- 0005_lifecycle's per (user, day, type) counts of pruned events: read and deleted only by
    -- erase_user for one user, so beside that user's users and user_days rows
    ('pruned_user_types',  'hash',        'user_id',  'users', 9);

ALTER FUNCTION ingest_merge(integer, boolean) RENAME TO ingest_merge_single;
CREATE FUNCTION ingest_merge(p_stripe integer, p_skip_stored boolean) RETURNS bigint
LANGUAGE sql AS $$ SELECT ingest_merge_single(p_stripe, p_skip_stored) $$;

-- The merge of 0003 for a cluster, with the same results. What differs, and why:
--   * No probe of stored ids (p_skip_stored is ignored): it would join the coordinator's
--     staging table with the distributed events. ON CONFLICT settles duplicates on each shard.
--   * The retention cells read the users and user_days they need into arrays first (two
--     statements that go only to the shards of the batch's users) instead of joining those
--     distributed tables laterally, which Citus cannot plan.
--   * citus.multi_shard_modify_mode = sequential: a statement's shard tasks run one after
--     the other in shard order, and within a shard rows come in key order. Every merge thus
--     takes its row locks in one global order (table, shard, key), so merges with
--     overlapping ids or users wait for each other but never deadlock across shards. Merges
--     without common keys still run at the same time.
--   * citus.enable_deadlock_prevention = off: by default Citus lets only one multi-shard
--     modification at a time touch a shard (a ShareUpdateExclusive lock per shard), which
--     made every merge of a large batch wait for every other one. The global lock order
--     above already rules out the deadlocks that lock is there for.
--   * citus.max_adaptive_executor_pool_size = 1: the reads, too, use the one cached
--     connection per worker that the writes opened, instead of opening more per merge.
--   * No user_days_guard (Citus distributes no table with triggers): only this function and
--     ingest_merge_single write user_days, and only one of them is ingest_merge.
CREATE FUNCTION ingest_merge_distributed(p_stripe integer, p_skip_stored boolean) RETURNS bigint
LANGUAGE plpgsql SET jit = off SET citus.multi_shard_modify_mode = 'sequential'
SET citus.max_adaptive_executor_pool_size = 1 SET citus.enable_deadlock_prevention = off AS $$
DECLARE
    n bigint;
    e_day date[]; e_user text[]; e_type text[];   -- the events that were new
    p_user text[]; p_day date[];                  -- the (user, day) pairs that were new
    r_user text[]; r_first date[];                -- users inserted, or moved to an earlier day
    u_user text[]; u_first date[];                -- first days of the users with new pairs
    d_user text[]; d_day date[];                  -- their stored days that the cells read
    d_lo date; d_hi date;
BEGIN
    WITH ins AS (
        INSERT INTO events (event_id, occurred_at, user_id, event_type, properties)
        SELECT DISTINCT ON (s.event_id) s.event_id, s.occurred_at, s.user_id, s.event_type,
               s.properties
        FROM ingest_stage s
        ORDER BY s.event_id, s.ord
        ON CONFLICT (event_id) DO NOTHING
        RETURNING occurred_at, user_id, event_type
    )
    SELECT count(*), array_agg((occurred_at AT TIME ZONE 'UTC')::date), array_agg(user_id),
           array_agg(event_type)
    INTO n, e_day, e_user, e_type FROM ins;
    IF n = 0 THEN
        RETURN 0;
    END IF;

    WITH p AS (
        INSERT INTO user_days (user_id, day)
        SELECT DISTINCT u COLLATE "C", d FROM unnest(e_user, e_day) t(u, d) ORDER BY 1, 2
        ON CONFLICT DO NOTHING
        RETURNING user_id, day
    )
    SELECT array_agg(user_id), array_agg(day) INTO p_user, p_day FROM p;
    IF p_user IS NULL THEN
        p_user := '{}'; p_day := '{}';
    END IF;

    WITH u AS (
        INSERT INTO users AS x (user_id, first_day)
        SELECT u, min(d) FROM unnest(p_user, p_day) t(u, d) GROUP BY u ORDER BY u COLLATE "C"
        ON CONFLICT (user_id) DO UPDATE SET first_day = EXCLUDED.first_day
            WHERE EXCLUDED.first_day < x.first_day
        RETURNING x.user_id, x.first_day
    )
    SELECT array_agg(user_id), array_agg(first_day) INTO r_user, r_first FROM u;

    INSERT INTO daily_users AS d (day, stripe, users)
    SELECT t.d, p_stripe, count(*) FROM unnest(p_day) t(d) GROUP BY t.d ORDER BY t.d
    ON CONFLICT (day, stripe) DO UPDATE SET users = d.users + EXCLUDED.users;

    -- What the cells read, under the users' locks taken above: the first day of every user
    -- with a new pair, all days of the rebuilt users, the others' days near the new ones.
    SELECT min(x) - 6, max(x) + 6 INTO d_lo, d_hi FROM unnest(p_day) x;
    SELECT array_agg(user_id), array_agg(first_day) INTO u_user, u_first
    FROM users WHERE user_id = ANY (p_user);
    SELECT array_agg(user_id), array_agg(day) INTO d_user, d_day
    FROM user_days
    WHERE user_id = ANY (r_user) OR (user_id = ANY (p_user) AND day BETWEEN d_lo AND d_hi);

    -- The cells as in 0003, from the arrays (hash joins, not per-user lookups).
    INSERT INTO retention_cells AS c (period, cohort, active, stripe, users)
    WITH pairs AS (
        SELECT u AS user_id, d AS day FROM unnest(p_user, p_day) t(u, d)
    ), rebuilt AS (
        SELECT u AS user_id, f AS first_day FROM unnest(r_user, r_first) t(u, f)
    ), su AS (
        SELECT u AS user_id, f FROM unnest(u_user, u_first) t(u, f)
    ), sd AS (
        SELECT t.u AS user_id, t.d AS day,
               EXISTS (SELECT 1 FROM pairs q WHERE q.user_id = t.u AND q.day = t.d) AS is_new
        FROM unnest(d_user, d_day) t(u, d)
    ),
    -- Users whose cohort stayed: each new day opens the buckets that hold no earlier day of
    -- the user and no stored day after it.
    nb AS (
        SELECT su.f, p.day, max(sd.day) FILTER (WHERE sd.day < p.day) AS prev,
               min(sd.day) FILTER (WHERE sd.day > p.day AND NOT sd.is_new) AS next
        FROM pairs p
        JOIN su ON su.user_id = p.user_id
        LEFT JOIN sd ON sd.user_id = p.user_id AND sd.day BETWEEN p.day - 6 AND p.day + 6
        WHERE NOT EXISTS (SELECT 1 FROM rebuilt r WHERE r.user_id = p.user_id)
        GROUP BY p.user_id, su.f, p.day
    ),
    -- New and moved users: every day they have goes to the new cohort, and what the old
    -- cohort held of them (their stored days) is taken back.
    rd AS (
        SELECT r.user_id, r.first_day AS f, sd.day, NOT sd.is_new AS old
        FROM rebuilt r JOIN sd ON sd.user_id = r.user_id
    ), q AS (
        SELECT f, day, old,
               lag(day) OVER w AS prev_any,
               max(day) FILTER (WHERE old) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                   AS prev_old,
               min(day) FILTER (WHERE old) OVER (PARTITION BY user_id) AS old_f
        FROM rd WINDOW w AS (PARTITION BY user_id ORDER BY day)
    ),
    -- the week buckets each day opens: retention_week_starts() (0006)
    contrib (f, day, prev, next, sign) AS (
        SELECT f, day, prev, next, 1 FROM nb
        UNION ALL
        SELECT f, day, prev_any, NULL::date, 1 FROM q
        UNION ALL
        SELECT old_f, day, prev_old, NULL::date, -1 FROM q WHERE old
    ), deltas (period, cohort, active, delta) AS (
        SELECT 1, f, day, sign FROM contrib
        UNION ALL
        SELECT 7, retention_bucket(f, s), s, sign
        FROM contrib CROSS JOIN LATERAL retention_week_starts(day, prev, next) s
    )
    SELECT period, cohort, active, p_stripe, sum(delta) FROM deltas
    GROUP BY period, cohort, active HAVING sum(delta) <> 0 ORDER BY period, cohort, active
    ON CONFLICT (period, cohort, active, stripe) DO UPDATE SET users = c.users + EXCLUDED.users;

    INSERT INTO daily_event_types AS t (day, event_type, stripe, events)
    SELECT d, ty, p_stripe, count(*) FROM unnest(e_day, e_type) x(d, ty)
    GROUP BY d, ty ORDER BY d, ty COLLATE "C"
    ON CONFLICT (day, event_type, stripe) DO UPDATE SET events = t.events + EXCLUDED.events;

    RETURN n;
END $$;

-- Places every table of the store on the Citus cluster this database is the coordinator of,
-- as store_distribution says; tables already placed are left alone. Returns how many tables
-- it distributed. Refuses a table of the schema that store_distribution does not list.
-- Sequential: Citus creates the function below on the workers too, which it does only over
-- the one connection per worker that a transaction has used so far.
CREATE FUNCTION distribute_store(p_shard_count integer DEFAULT 8) RETURNS integer
LANGUAGE plpgsql SET citus.multi_shard_modify_mode = 'sequential' AS $$
DECLARE
    t record;
    done integer := 0;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'distribute_store: the citus extension is not in this database';
    END IF;
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
             WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p')
               AND c.relname NOT IN (SELECT table_name FROM store_distribution) LOOP
        RAISE EXCEPTION 'distribute_store: table % has no row in store_distribution', t.relname;
    END LOOP;
    -- (Citus refuses even DROP TRIGGER IF EXISTS on a distributed table: ask first)
    IF EXISTS (SELECT FROM pg_trigger WHERE tgname = 'user_days_guard') THEN
        DROP TRIGGER user_days_guard ON user_days;
    END IF;
    FOR t IN SELECT * FROM store_distribution WHERE placement <> 'coordinator'
             ORDER BY position LOOP
        CONTINUE WHEN EXISTS (SELECT FROM pg_dist_partition
                              WHERE logicalrelid = t.table_name::regclass);
        IF t.placement = 'reference' THEN
            PERFORM create_reference_table(t.table_name::regclass);
        ELSIF t.colocate_with IS NULL THEN
            PERFORM create_distributed_table(t.table_name::regclass, t.column_name,
                                             colocate_with => 'none', shard_count => p_shard_count);
        ELSE
            PERFORM create_distributed_table(t.table_name::regclass, t.column_name,
                                             colocate_with => t.colocate_with);
        END IF;
        done := done + 1;
    END LOOP;
    IF (SELECT prosrc NOT LIKE '%ingest_merge_distributed%' FROM pg_proc
        WHERE oid = 'ingest_merge(integer, boolean)'::regprocedure) THEN
        CREATE OR REPLACE FUNCTION ingest_merge(p_stripe integer, p_skip_stored boolean)
        RETURNS bigint LANGUAGE sql AS 'SELECT ingest_merge_distributed(p_stripe, p_skip_stored)';
    END IF;
    RETURN done;
END $$;
REVOKE EXECUTE ON FUNCTION distribute_store(integer) FROM PUBLIC;
