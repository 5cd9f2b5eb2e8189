-- 0011_citus_conn_cache: on a Citus cluster, the coordinator keeps its connections to the
-- workers between transactions (README "Scale-out", ADR 6).
--
-- Why: a batch's merge (ingest_merge_distributed, 0007) is an INSERT ... SELECT from the
-- coordinator's staging table. Citus sends the rows to each shard as an intermediate result
-- with a COPY per shard, each over a connection of its own, so a worker holding 4 of a
-- table's 8 shards gets 4 connections from one merge, whatever citus.multi_shard_modify_mode
-- and citus.max_adaptive_executor_pool_size say. With Citus's default
-- citus.max_cached_conns_per_worker = 1 the coordinator closed 3 of them at every commit and
-- opened them again for the next batch: 3 new backends per worker per 1000-event batch, which
-- was most of the workers' CPU over HTTP (measured: 0.21 CPU s per batch per worker with
-- the default, 0.04 with the connections kept; bench/results/cluster.md).
--
-- The setting is read when a transaction ends, so a function's SET clause cannot carry it:
-- it goes on the database, for every session that connects after this (the pool's workers
-- are started after the migrator). Keeping as many connections as a table has shards is an
-- upper bound on what one merge opens to one worker; connections that are never opened cost
-- nothing. ALTER DATABASE needs the database's owner (the migrator's role here); another
-- role gets a warning that says what to set instead, and the store works as before.

ALTER FUNCTION distribute_store(integer) RENAME TO distribute_store_tables;

CREATE FUNCTION distribute_store(p_shard_count integer DEFAULT 8) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    done integer := distribute_store_tables(p_shard_count);
BEGIN
    IF current_setting('citus.max_cached_conns_per_worker')::integer < p_shard_count THEN
        BEGIN
            EXECUTE format('ALTER DATABASE %I SET citus.max_cached_conns_per_worker = %s',
                           current_database(), p_shard_count);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'distribute_store: only the owner of database % can keep % connections per worker: set citus.max_cached_conns_per_worker = % for it (every batch opens new ones to each worker otherwise)',
                current_database(), p_shard_count, p_shard_count;
        END;
    END IF;
    RETURN done;
END $$;
REVOKE EXECUTE ON FUNCTION distribute_store(integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION distribute_store_tables(integer) FROM PUBLIC;
