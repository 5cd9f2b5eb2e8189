-- 0018_shard_returns: on a Citus cluster each shard's write of the merge hands its new events
-- back as the result of a statement, not of a modifying CTE; and the fold's functions that no
-- binary calls any more go.
--
-- The cluster's merge (0016) wrote each shard's events in `WITH ins AS (INSERT ... RETURNING)
-- SELECT array_agg(...) FROM ins`. Citus plans such a CTE apart: its RETURNING rows go to an
-- intermediate result, a file on the coordinator written a row at a time, that the outer
-- query reads back (perf on the coordinator during a 1M load: ~14 % of its merge's CPU in
-- pwrite). merge_shard_events returns the INSERT's rows to its caller (RETURN QUERY: a
-- tuplestore in memory), and the merge puts them into analytics_pending shard by shard; the
-- quarter of each event is computed on its worker, in the RETURNING list. The statements, their
-- order (shard by shard, in shard order) and their locks are 0016's: the lock order of ADR 6
-- item 5 holds. Measured on a throwaway 3-node stack, 1M events loaded, interleaved runs: the
-- coordinator's PostgreSQL CPU 24.7 -> 21.3 s, the median 50 000-event merge 1125 -> 1008 ms.
--
-- Dropped: 0015's analytics_take, analytics_take_events and analytics_fold (its SQL fold,
-- dead since 0015 moved the fold into the worker), and 0016's analytics_pending_in. The fold
-- takes its events with 0017's analytics_take_in (the binary before this migration does too),
-- and reads probe the pending rows in their own statement (db.c).
--
-- Upgrading a running stack: `make migrate` then `make reload`, as always; nothing the previous
-- binary calls changes its results.

-- One shard's events of the batch in merge_events (the merge's table of the session), stored
-- unless their event_id is; returns the ones that were new as analytics_pending rows.
CREATE FUNCTION merge_shard_events(p_shard bigint)
RETURNS TABLE (user_id text, q integer, event_type text)
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    RETURN QUERY
    INSERT INTO events AS e (event_id, occurred_at, user_id, event_type, properties)
    SELECT m.event_id, m.occurred_at, m.user_id, m.event_type, m.properties
    FROM merge_events m WHERE m.sh = p_shard ORDER BY m.event_id
    ON CONFLICT (event_id) DO NOTHING
    RETURNING e.user_id::text, floor(extract(epoch FROM e.occurred_at) / 900)::integer,
              e.event_type::text;
END $$;

-- The cluster's merge: 0016's, each shard's new events straight into analytics_pending.
CREATE OR REPLACE FUNCTION ingest_merge_distributed(p_stripe integer, p_skip_stored boolean) RETURNS bigint
LANGUAGE plpgsql SET jit = off SET citus.multi_shard_modify_mode = 'sequential'
SET citus.max_adaptive_executor_pool_size = 1 SET citus.enable_deadlock_prevention = off AS $$
DECLARE
    n bigint := 0;
    n1 bigint;
    this_sh bigint;
BEGIN
    -- The batch (first of each event_id), each row with its events shard (0013).
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
    FOR this_sh IN SELECT DISTINCT m.sh FROM merge_events m ORDER BY 1 LOOP
        INSERT INTO analytics_pending (user_id, q, event_type)
        SELECT * FROM merge_shard_events(this_sh);
        GET DIAGNOSTICS n1 = ROW_COUNT;
        n := n + n1;
    END LOOP;
    RETURN n;
END $$;

REVOKE EXECUTE ON FUNCTION merge_shard_events(bigint) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_writer') THEN
        GRANT EXECUTE ON FUNCTION merge_shard_events(bigint) TO events_writer;
    END IF;
END $$;

DROP FUNCTION analytics_fold(integer, integer);
DROP FUNCTION analytics_take(integer, integer);
DROP FUNCTION analytics_take_events(integer, integer);
DROP FUNCTION analytics_pending_in(integer, integer);
