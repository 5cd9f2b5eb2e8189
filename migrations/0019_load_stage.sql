-- 0019_load_stage: on a Citus cluster the bulk loader stages its batches on the workers, beside
-- the events shards they go to, and merges each batch with one statement that every worker runs
-- on its own shards.
--
-- Until now a loaded batch went as every other one (0013, 0018): COPY into the coordinator's
-- temporary ingest_stage, each row's shard looked up there, then one statement per shard in
-- shard order, each shipping that shard's rows from the coordinator to its worker. Per
-- 50 000-event batch on a throwaway 3-node stack (CPU of each node's processes, 4 batches):
-- the coordinator 0.7 s (COPY 0.2, the shard lookup 0.2, the per-shard writes 0.3), the
-- workers 0.4-0.5 s each, one after the other: ~1.4 s a batch against one node's ~1.1 s.
--
-- load_stage is a table distributed by event_id and co-located with events, so a row is
-- COPYed once to the worker of its events shard; the merge is one INSERT ... SELECT from it
-- that Citus pushes down to every shard (each shard reads its own staged rows), and the
-- events it stored come back as the rows of analytics_pending (0018's tuplestore, not a
-- modifying CTE). Measured the same way: the coordinator 0.3 s, the workers 0.5-0.55 s each
-- at the same time, ~0.9 s a batch. A file loaded again: ~0.1-0.2 s per batch for the merge
-- (the stored ids are probed on their shards, a co-located join).
--
-- Lock order. Under citus.multi_shard_modify_mode = sequential (set by the loader for its
-- transaction, db_stage) each worker runs its shards' tasks one at a time in shard order, on
-- one connection, with rows in event_id order; the workers run at the same time. Two loads
-- cannot meet at all: each batch first takes load_stage in ACCESS EXCLUSIVE mode (db_stage),
-- so loads take turns batch by batch, and the TRUNCATE that empties the table at the end
-- of the batch needs no stronger lock than the one held. A load and live ingest (0013's
-- merge, shard by shard) can wait on each other only for the same event_ids at the same
-- moment; if that ever closes a cycle across two workers, Citus's deadlock detection
-- cancels one transaction and the service retries it (40P01, db_ingest.c), as for any
-- writer.
--
-- The staged rows live only inside the batch's transaction: nothing commits in load_stage (the
-- merge truncates it before the commit), so a shard move or a crash cannot leave staged rows
-- behind unmerged. REPLICA IDENTITY FULL: the rebalancer moves shards by logical replication,
-- which needs one on every distributed table (load_stage has no key).
--
-- On one PostgreSQL nothing changes: the loader keeps the temporary ingest_stage and
-- ingest_merge (load_stage is an unused empty table there until the store is distributed).

CREATE TABLE load_stage (
    event_id uuid NOT NULL, occurred_at timestamptz NOT NULL, user_id text COLLATE "C" NOT NULL,
    event_type text COLLATE "C" NOT NULL, properties jsonb NOT NULL, ord bigint NOT NULL
);
ALTER TABLE load_stage REPLICA IDENTITY FULL;

INSERT INTO store_distribution VALUES ('load_stage', 'hash', 'event_id', 'events', 20);

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_writer') THEN
        GRANT TRUNCATE ON load_stage TO events_writer;
    END IF;
END $$;

-- true when load_stage is a distributed table (Citus, after distribute_store()): the loader
-- then stages there (db_loader_begin). Dynamic SQL: pg_dist_partition exists only with citus.
CREATE FUNCTION ingest_load_distributed() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    d boolean := false;
BEGIN
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT FROM pg_dist_partition'
                ' WHERE logicalrelid = ''load_stage''::regclass)' INTO d;
    END IF;
    RETURN d;
END $$;

-- The batch in load_stage (first row of each event_id), stored unless its event_id is; returns
-- the new events as analytics_pending rows. One statement over every shard: Citus pushes it
-- down (load_stage and events are co-located and the DISTINCT ON and the probe are on the
-- distribution column). p_skip_stored: probe the stored ids first (a file loaded again).
CREATE FUNCTION merge_load_events(p_skip_stored boolean)
RETURNS TABLE (user_id text, q integer, event_type text)
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    IF p_skip_stored THEN
        RETURN QUERY
        INSERT INTO events AS e (event_id, occurred_at, user_id, event_type, properties)
        SELECT DISTINCT ON (s.event_id) s.event_id, s.occurred_at, s.user_id, s.event_type,
               s.properties
        FROM load_stage s
        WHERE NOT EXISTS (SELECT FROM events x WHERE x.event_id = s.event_id)
        ORDER BY s.event_id, s.ord
        ON CONFLICT (event_id) DO NOTHING
        RETURNING e.user_id::text, floor(extract(epoch FROM e.occurred_at) / 900)::integer,
                  e.event_type::text;
    ELSE
        RETURN QUERY
        INSERT INTO events AS e (event_id, occurred_at, user_id, event_type, properties)
        SELECT DISTINCT ON (s.event_id) s.event_id, s.occurred_at, s.user_id, s.event_type,
               s.properties
        FROM load_stage s
        ORDER BY s.event_id, s.ord
        ON CONFLICT (event_id) DO NOTHING
        RETURNING e.user_id::text, floor(extract(epoch FROM e.occurred_at) / 900)::integer,
                  e.event_type::text;
    END IF;
END $$;

-- The loader's merge on a cluster: the batch staged in load_stage into events, its new events
-- pending for the fold, load_stage emptied; returns how many events were new.
CREATE FUNCTION ingest_merge_load(p_skip_stored boolean) RETURNS bigint
LANGUAGE plpgsql SET jit = off SET citus.multi_shard_modify_mode = 'sequential' AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO analytics_pending (user_id, q, event_type)
    SELECT * FROM merge_load_events(p_skip_stored);
    GET DIAGNOSTICS n = ROW_COUNT;
    TRUNCATE load_stage;
    RETURN n;
END $$;

REVOKE EXECUTE ON FUNCTION ingest_load_distributed(), merge_load_events(boolean),
    ingest_merge_load(boolean) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_writer') THEN
        GRANT EXECUTE ON FUNCTION ingest_load_distributed(), merge_load_events(boolean),
            ingest_merge_load(boolean) TO events_writer;
    END IF;
END $$;
