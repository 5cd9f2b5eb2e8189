-- 0017_fold_by_range: a read folds only the pending events of its own quarters, and a bulk
-- load folds once, at its end (ADR 7, item 16).
--
-- Until now a read that found events of its quarters pending folded everything pending, so a
-- loader had to fold its own events every million (else a read during a long load would wait
-- for the fold of the whole backlog). Each of those folds rewrites the sets of every quarter
-- the million touches: a load spread over a year rewrote nearly all of its sets once per
-- million loaded. A read now takes only the events of its quarters (through the index on
-- analytics_pending (q)); what it does not take cannot change its answer (the reads'
-- ranges: db_analytics_read.c, a retention read's starts at the first quarter, as a late
-- event moves cohorts). The loader folds at its end, in the earliest quarters' order, each
-- set then written about once.
--
-- Upgrading a running stack: `make migrate` then `make reload`, as always. Nothing is
-- redefined: a pool of the previous binary keeps folding through analytics_take.

-- analytics_take_events for the quarters [lo, hi) only: up to p_rows of their pending events
-- below page p_last (0: the pages there are now), in no order when they fit in one
-- transaction, else those of the earliest quarters. taken NULL: nothing of the range was
-- pending (no lock taken); next_page -1 when no more than these were there below p_last,
-- else p_last, for the next transaction of the same fold.
CREATE FUNCTION analytics_take_events_in(p_last integer, p_rows integer, lo integer,
                                         hi integer, OUT taken integer, OUT next_page integer,
                                         OUT users text[], OUT qs integer[], OUT types text[])
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    last integer := p_last;
BEGIN
    -- as analytics_token's probe: only the index on q answers this cheaply
    IF (SELECT x.q FROM analytics_pending x WHERE x.q >= lo AND x.q < hi
        ORDER BY x.q LIMIT 1) IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(analytics_lock_key());
    IF last <= 0 THEN
        last := pg_relation_size('analytics_pending') / current_setting('block_size')::integer;
    END IF;
    WITH d AS (
        DELETE FROM analytics_pending p
        WHERE p.ctid = ANY (CASE
            WHEN (SELECT count(*) FROM (SELECT FROM analytics_pending x
                                        WHERE x.q >= lo AND x.q < hi
                                          AND x.ctid < format('(%s,0)', last)::tid
                                        LIMIT p_rows + 1) c) <= p_rows
            THEN ARRAY(SELECT x.ctid FROM analytics_pending x
                       WHERE x.q >= lo AND x.q < hi
                         AND x.ctid < format('(%s,0)', last)::tid)
            ELSE ARRAY(SELECT x.ctid FROM analytics_pending x
                       WHERE x.q >= lo AND x.q < hi
                         AND x.ctid < format('(%s,0)', last)::tid
                       ORDER BY x.q LIMIT p_rows)
            END)
        RETURNING p.user_id, p.q, p.event_type
    )
    SELECT count(*), array_agg(d.user_id), array_agg(d.q), array_agg(d.event_type)
    INTO taken, users, qs, types FROM d;
    next_page := CASE WHEN taken < p_rows THEN -1 ELSE last END;
END $$;

-- analytics_take (0015) for the quarters [lo, hi): the same rows, the 'n' row first, then an
-- 'e' row per event taken and a 'u' row per user of them. Nothing when nothing of the range
-- is pending.
CREATE FUNCTION analytics_take_in(p_last integer, p_rows integer, lo integer, hi integer)
RETURNS TABLE (kind "char", user_id text, q integer, event_type text, ukey integer, at tid,
               ftypes text[], fqs integer[])
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_custom_plan
    SET work_mem = '16MB' SET max_parallel_workers_per_gather = 0 AS $$
#variable_conflict use_column
DECLARE
    t record;
BEGIN
    SELECT * INTO t FROM analytics_take_events_in(p_last, p_rows, lo, hi);
    IF t.taken IS NULL THEN
        RETURN;
    END IF;
    kind := 'n';
    q := t.next_page;
    RETURN NEXT;
    IF t.taken = 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT 'e'::"char", x.u, x.q, x.ty, NULL::integer, NULL::tid, NULL::text[], NULL::integer[]
    FROM unnest(t.users, t.qs, t.types) x(u, q, ty);
    -- one index probe per user, in key order
    RETURN QUERY
    SELECT 'u'::"char", d.u, NULL::integer, NULL::text, k.ukey, k.at, k.ftypes, k.fqs
    FROM (SELECT DISTINCT x.u COLLATE "C" AS u FROM unnest(t.users) x(u) ORDER BY 1) d
    LEFT JOIN LATERAL (SELECT k.ukey, k.ctid AS at, k.ftypes, k.fqs FROM user_keys k
                       WHERE k.user_id = d.u LIMIT 1) k ON true;
END $$;
