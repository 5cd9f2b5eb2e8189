-- 0016_one_summary: the zone-aware summaries of 0011 answer UTC too, and the UTC-only ones
-- of 0001-0006 go: user_days, users, daily_users, daily_event_types, retention_cells and
-- pruned_user_types. Every writer of events kept them in its own transaction (a (user, day)
-- insert per new pair, a users upsert, per-day counters and up to eight retention cells per
-- new pair, all under row locks shared by concurrent batches): about half of the machine's
-- CPU per ingested event, for answers the sets give as well (the same numbers: tested). The
-- merges now insert the events and their pending rows, nothing else; the fold is the one
-- writer of summaries (ADR 7, item 15).
--
-- Upgrading a running stack: `make migrate` then `make reload`, as always. A pool of the
-- binary before 0016 reads UTC statistics from the dropped tables: those reads answer 503
-- until the reload (and a worker of it that reconnects meanwhile cannot prepare its
-- statements: 503 for everything until the reload). Ingest of a worker still connected goes
-- on: its merge is the function redefined here.

-- The single node's merge (0011's, less the UTC summaries).
CREATE OR REPLACE FUNCTION ingest_merge_single(p_stripe integer, p_skip_stored boolean) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    n bigint;
BEGIN
    WITH ins AS (
        INSERT INTO events (event_id, occurred_at, user_id, event_type, properties)
        SELECT DISTINCT ON (s.event_id) s.event_id, s.occurred_at, s.user_id, s.event_type,
               s.properties
        FROM ingest_stage s
        -- a scalar subquery, not NOT EXISTS: the planner must not turn it into an anti join
        -- that reads the whole events table (and OR stops at NOT p_skip_stored when true)
        WHERE NOT p_skip_stored OR (SELECT true FROM events e WHERE e.event_id = s.event_id) IS NULL
        ORDER BY s.event_id, s.ord
        ON CONFLICT (event_id) DO NOTHING
        RETURNING occurred_at, user_id, event_type
    ), pending AS (
        -- the new events wait here for the next fold into the summaries
        INSERT INTO analytics_pending (user_id, q, event_type)
        SELECT user_id, floor(extract(epoch FROM occurred_at) / 900)::integer, event_type
        FROM ins
        RETURNING 1
    )
    SELECT count(*) INTO n FROM pending;
    RETURN n;
END $$;

-- The cluster's merge (0013's, less the UTC summaries): the events one shard at a time, in
-- shard order, so merges take their row locks in one cluster-wide order.
CREATE OR REPLACE FUNCTION ingest_merge_distributed(p_stripe integer, p_skip_stored boolean) RETURNS bigint
LANGUAGE plpgsql SET jit = off SET citus.multi_shard_modify_mode = 'sequential'
SET citus.max_adaptive_executor_pool_size = 1 SET citus.enable_deadlock_prevention = off AS $$
DECLARE
    n bigint;
    this_sh bigint;
    n1 bigint; a_user text[]; a_type text[]; a_q integer[];
    e_user text[]; e_type text[]; e_q integer[];   -- the events that were new
BEGIN
    -- The batch (first of each event_id), each row with its events shard, into a table of
    -- the session (0013).
    IF to_regclass('pg_temp.merge_events') IS NULL THEN
        CREATE TEMP TABLE merge_events (
            sh bigint, event_id uuid, occurred_at timestamptz, user_id text COLLATE "C",
            event_type text COLLATE "C", properties jsonb
        ) ON COMMIT DELETE ROWS;
    END IF;
    INSERT INTO merge_events
    SELECT get_shard_id_for_distribution_column('events', s.event_id), s.event_id,
           s.occurred_at, s.user_id, s.event_type, s.properties
    FROM (SELECT DISTINCT ON (x.event_id) x.* FROM ingest_stage x ORDER BY x.event_id, x.ord) s;
    n := 0; e_user := '{}'; e_type := '{}'; e_q := '{}';
    FOR this_sh IN SELECT DISTINCT m.sh FROM merge_events m ORDER BY 1 LOOP
        WITH ins AS (
            INSERT INTO events (event_id, occurred_at, user_id, event_type, properties)
            SELECT m.event_id, m.occurred_at, m.user_id, m.event_type, m.properties
            FROM merge_events m WHERE m.sh = this_sh ORDER BY m.event_id
            ON CONFLICT (event_id) DO NOTHING
            RETURNING occurred_at, user_id, event_type
        )
        SELECT count(*), array_agg(user_id), array_agg(event_type),
               array_agg(floor(extract(epoch FROM occurred_at) / 900)::integer)
        INTO n1, a_user, a_type, a_q FROM ins;
        IF n1 > 0 THEN
            n := n + n1; e_user := e_user || a_user; e_type := e_type || a_type;
            e_q := e_q || a_q;
        END IF;
    END LOOP;
    IF n > 0 THEN
        INSERT INTO analytics_pending (user_id, q, event_type)
        SELECT * FROM unnest(e_user, e_q, e_type);
    END IF;
    RETURN n;
END $$;

-- Erasure: analytics_erase (0015) has taken the user out of the sets, its cohorts and
-- type_counts, and its pruned quarters, under this same lock (taken first); what is left is
-- the user's stored events.
CREATE OR REPLACE FUNCTION erase_user(p_user text, p_stripe integer) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    n bigint;
BEGIN
    LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM events WHERE user_id = p_user COLLATE "C";
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- The horizon (0011's, less pruned_user_types): the quarters of the raw events that go are
-- kept for a later erasure of their users.
CREATE OR REPLACE FUNCTION prune_raw_events(p_days integer, p_batch integer) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    n bigint;
    e_user text[]; e_type text[]; e_q integer[];
BEGIN
    WITH del AS (
        DELETE FROM events
        WHERE event_id = ANY (ARRAY(
            SELECT event_id FROM events
            WHERE occurred_at < now() - make_interval(days => p_days) - interval '1 hour'
            ORDER BY occurred_at, event_id LIMIT p_batch))
        RETURNING user_id, occurred_at, event_type
    )
    SELECT count(*), array_agg(user_id), array_agg(event_type),
           array_agg(floor(extract(epoch FROM occurred_at) / 900)::integer)
    INTO n, e_user, e_type, e_q FROM del;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO pruned_quarters AS p (user_id, q, event_type, events)
    SELECT u, q, ty, count(*) FROM unnest(e_user, e_q, e_type) x(u, q, ty)
    GROUP BY u, q, ty ORDER BY u COLLATE "C", q, ty COLLATE "C"
    ON CONFLICT (user_id, q, event_type) DO UPDATE SET events = p.events + EXCLUDED.events;
    RETURN n;
END $$;

DROP TABLE user_days, users, daily_users, daily_event_types, retention_cells, pruned_user_types;

-- A read folds first only when events of its own quarters are pending (a probe by this index;
-- a read of last month does not wait for the fold of today's ingest), and a fold of a big
-- backlog takes its earliest quarters through it instead of sorting the backlog. Live ingest
-- appends at its right end (its events are "now").
CREATE INDEX analytics_pending_q ON analytics_pending (q);

-- Whether events of the quarters [lo, hi) are pending, by that index whatever the planner
-- last saw of the table (analysed empty after a load's fold, it would scan the whole
-- backlog and its dead rows for every read: 170 ms a read under live ingest, measured).
CREATE FUNCTION analytics_pending_in(lo integer, hi integer) RETURNS boolean
LANGUAGE sql STABLE SET enable_seqscan = off AS $$
    SELECT EXISTS (SELECT FROM analytics_pending WHERE q >= lo AND q < hi)
$$;

-- top events read type_counts by one range of blocks (db_top_events_tz), not day by day
DROP FUNCTION stats_top(text, date, integer, integer);
DELETE FROM store_distribution
WHERE table_name IN ('user_days', 'users', 'daily_users', 'daily_event_types',
                     'retention_cells', 'pruned_user_types');

-- A bulk load in progress: import_events holds this advisory lock (shared, for its session)
-- and folds its own events, in the earliest quarters' order, every million events and at its
-- end. Meanwhile the supervisor's fold skips its runs: every 2 s it would take the events of
-- the whole loaded period in small chunks and rewrite most blocks each time (ADR 7 item 15).
CREATE FUNCTION analytics_load_key() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 1634623853::bigint $$;
