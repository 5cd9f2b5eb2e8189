-- 0014_fold_by_key: the fold costs what its events cost, not what the store holds:
-- analytics_fold, which the worker calls instead of 0011's analytics_compact. Same rows in the
-- same summaries; measured in ADR 7 (item 13). analytics_compact stays as it was, for a pool
-- of the previous binary still running between `make migrate` and `make reload` (its rows
-- have another shape; the compactor's lock keeps the two from running at once).
--
-- 0011 met each transaction's events with the summary tables in hash joins: the planner,
-- which cannot see how many rows a fold's arrays hold, read and hashed all of user_firsts,
-- activity_sets and cohort_sets (543 000, 309 000 and 219 000 rows at 1M events) in every
-- transaction of 50 000 events, a cost that grew with the store. Here every lookup is an
-- index probe per key (scalar subqueries), each user is looked up once per transaction (not
-- once per event), a new user's first quarters are not looked up at all (its key is new),
-- a user's first overall only when the first of one of its types moved, and first quarters
-- are inserted or updated, not upserted. The edits of the sets come per 15-minute quarter
-- (level 0) with the rows of the three levels that hold it: the worker
-- (fcgi/core/db_analytics.c) applies each quarter's keys to its three blocks, where 0011
-- sorted six rows per event into per-block lists. A transaction that takes every pending row
-- (a fold beside live writes) takes them in no order, without sorting the table by quarter.
-- Every plan is made for the arrays of the call (plan_cache_mode), in memory (work_mem) and
-- without parallel workers, which a fold of one compactor at a time does not need.

-- As analytics_compact, returns the 'n' row first, then rows of two kinds: a set to edit
-- (level 1, 4 or 24, its bytes, rm and add NULL) and an edit of a quarter (level 0, bucket
-- the quarter, users NULL, the keys to take out of and to put into the sets of its kind and
-- type whose blocks hold it). The caller takes out every key before it puts any in, as a
-- first event that moves leaves one block for another.
CREATE FUNCTION analytics_fold(p_last integer, p_rows integer)
RETURNS TABLE (kind "char", level smallint, event_type text, bucket integer, users bytea,
               rm integer[], add integer[])
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_custom_plan
    SET work_mem = '16MB' SET max_parallel_workers_per_gather = 0 AS $$
#variable_conflict use_column
DECLARE
    taken integer;
    last integer := p_last;
    e_user text[]; e_q integer[]; e_type text[];
    d_user text[]; d_key integer[]; d_old integer[];
    base integer;
    n_key integer[]; n_q integer[]; n_type text[];
    m_key integer[]; m_type text[]; m_old integer[]; m_new integer[];
    u_key integer[]; u_type text[]; u_q integer[];
BEGIN
    IF NOT EXISTS (SELECT FROM analytics_pending) THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(analytics_lock_key());
    IF last <= 0 THEN
        last := pg_relation_size('analytics_pending') / current_setting('block_size')::integer;
    END IF;
    -- the rows below last, in no order when they fit in one transaction (a fold beside live
    -- writes), else those of the earliest quarters (a big load)
    IF (SELECT count(*) FROM (SELECT FROM analytics_pending x
                              WHERE x.ctid < format('(%s,0)', last)::tid LIMIT p_rows + 1) c)
       <= p_rows THEN
        WITH d AS (
            DELETE FROM analytics_pending p
            WHERE p.ctid = ANY (ARRAY(
                SELECT x.ctid FROM analytics_pending x
                WHERE x.ctid < format('(%s,0)', last)::tid LIMIT p_rows))
            RETURNING p.user_id, p.q, p.event_type
        )
        SELECT count(*), array_agg(d.user_id), array_agg(d.q), array_agg(d.event_type)
        INTO taken, e_user, e_q, e_type FROM d;
    ELSE
        WITH d AS (
            DELETE FROM analytics_pending p
            WHERE p.ctid = ANY (ARRAY(
                SELECT x.ctid FROM analytics_pending x
                WHERE x.ctid < format('(%s,0)', last)::tid ORDER BY x.q LIMIT p_rows))
            RETURNING p.user_id, p.q, p.event_type
        )
        SELECT count(*), array_agg(d.user_id), array_agg(d.q), array_agg(d.event_type)
        INTO taken, e_user, e_q, e_type FROM d;
    END IF;
    kind := 'n';
    bucket := CASE WHEN taken < p_rows THEN -1 ELSE last END;
    RETURN NEXT;
    IF taken = 0 THEN
        RETURN;
    END IF;

    -- the users of these events, each looked up once (NULL: seen for the first time)
    SELECT array_agg(x.u ORDER BY x.u), array_agg(x.k ORDER BY x.u) INTO d_user, d_old
    FROM (SELECT t.u, (SELECT k.ukey FROM user_keys k WHERE k.user_id = t.u) AS k
          FROM (SELECT DISTINCT u COLLATE "C" AS u FROM unnest(e_user) u) t) x;
    -- new users get the next keys, in their ids' order (one compactor at a time: no race);
    -- every key given before is lower than base
    base := 2147483647;
    IF EXISTS (SELECT FROM unnest(d_old) k WHERE k IS NULL) THEN
        WITH ins AS (
            INSERT INTO user_keys (user_id, ukey)
            SELECT x.u, nextval('user_key_seq') FROM (
                SELECT t.u FROM unnest(d_user, d_old) t(u, o) WHERE t.o IS NULL ORDER BY 1) x
            RETURNING user_keys.user_id, user_keys.ukey
        ), m AS (
            SELECT t.u, t.o AS k, false AS fresh FROM unnest(d_user, d_old) t(u, o)
            WHERE t.o IS NOT NULL
            UNION ALL SELECT ins.user_id, ins.ukey, true FROM ins
        )
        SELECT array_agg(m.u), array_agg(m.k), min(m.k) FILTER (WHERE m.fresh)
        INTO d_user, d_key, base FROM m;
    ELSE
        d_key := d_old;
    END IF;

    SELECT array_agg(m.k), array_agg(t.q), array_agg(t.ty) INTO n_key, n_q, n_type
    FROM unnest(e_user, e_q, e_type) t(u, q, ty)
    JOIN unnest(d_user, d_key) m(u, k) ON m.u = t.u COLLATE "C";

    -- first quarters that are new or move earlier (a new user has none stored). Per type
    -- first; then overall ('') only for the users with a type whose first is new or earlier:
    -- for the others every event comes at or after a first of its type, so at or after the
    -- user's first overall, which is the earliest of them.
    WITH cand AS (
        SELECT t.k, t.ty, min(t.q) AS q FROM unnest(n_key, n_type, n_q) t(k, ty, q)
        GROUP BY t.k, t.ty
    ), f AS MATERIALIZED (
        SELECT c.k, c.ty, c.q,
               CASE WHEN c.k < base THEN
                   (SELECT f.first_q FROM user_firsts f
                    WHERE f.ukey = c.k AND f.event_type = c.ty COLLATE "C") END AS o
        FROM cand c
    ), fa AS MATERIALIZED (
        SELECT a.k, ''::text AS ty, a.q,
               CASE WHEN a.k < base THEN
                   (SELECT f.first_q FROM user_firsts f
                    WHERE f.ukey = a.k AND f.event_type = '') END AS o
        FROM (SELECT f.k, min(f.q) AS q FROM f WHERE f.o IS NULL OR f.q < f.o GROUP BY f.k) a
    )
    SELECT array_agg(x.k), array_agg(x.ty), array_agg(x.o), array_agg(x.q)
    INTO m_key, m_type, m_old, m_new
    FROM (SELECT f.k, f.ty, f.q, f.o FROM f UNION ALL SELECT fa.k, fa.ty, fa.q, fa.o FROM fa) x
    WHERE x.o IS NULL OR x.q < x.o;

    INSERT INTO user_firsts (ukey, event_type, first_q)
    SELECT m.k, m.ty, m.q FROM unnest(m_key, m_type, m_new, m_old) m(k, ty, q, o)
    WHERE m.o IS NULL;
    SELECT array_agg(m.k), array_agg(m.ty), array_agg(m.q) INTO u_key, u_type, u_q
    FROM unnest(m_key, m_type, m_new, m_old) m(k, ty, q, o) WHERE m.o IS NOT NULL;
    IF u_key IS NOT NULL THEN
        UPDATE user_firsts f SET first_q = u.q FROM unnest(u_key, u_type, u_q) u(k, ty, q)
        WHERE f.ukey = u.k AND f.event_type = u.ty COLLATE "C";
    END IF;

    INSERT INTO type_counts AS c (level, bucket, event_type, events)
    SELECT l.l, qblock(t.q, l.l), t.ty, count(*)
    FROM unnest(n_q, n_type) t(q, ty) CROSS JOIN (VALUES (1), (4), (24)) l(l)
    GROUP BY 1, 2, 3
    ON CONFLICT (level, bucket, event_type) DO UPDATE SET events = c.events + EXCLUDED.events;

    -- The edits come per quarter (level 0), each applied by the caller to the sets of the
    -- three levels that hold it, with those sets (users '' when not stored yet).
    --
    -- cohorts: the key goes into its new first block and out of its old one
    RETURN QUERY
    WITH ed AS MATERIALIZED (
        SELECT m.ty, m.q, NULL::integer[] AS r, array_agg(m.k) AS a
        FROM unnest(m_key, m_type, m_new) m(k, ty, q) GROUP BY m.ty, m.q
        UNION ALL
        SELECT m.ty, m.o, array_agg(m.k), NULL
        FROM unnest(m_key, m_type, m_old) m(k, ty, o) WHERE m.o IS NOT NULL GROUP BY m.ty, m.o
    ), b AS (
        SELECT DISTINCT l.l::smallint AS lv, ed.ty, qblock(ed.q, l.l) AS b
        FROM ed CROSS JOIN (VALUES (1), (4), (24)) l(l)
    )
    SELECT 'c'::"char", 0::smallint, ed.ty, ed.q, NULL::bytea, ed.r, ed.a FROM ed
    UNION ALL
    SELECT 'c'::"char", b.lv, b.ty, b.b,
           coalesce((SELECT c.users FROM cohort_sets c WHERE c.level = b.lv
                     AND c.event_type = b.ty COLLATE "C" AND c.bucket = b.b), ''::bytea),
           NULL, NULL
    FROM b;

    -- activity: the keys of every (quarter, type) and (quarter, any) of the events (a key
    -- twice in a list is added once)
    RETURN QUERY
    WITH ed AS MATERIALIZED (
        SELECT t.ty, t.q, array_agg(t.k) AS a
        FROM unnest(n_key, n_type, n_q) t(k, ty, q) GROUP BY t.ty, t.q
        UNION ALL
        SELECT '', t.q, array_agg(t.k) FROM unnest(n_key, n_q) t(k, q) GROUP BY t.q
    ), b AS (
        SELECT DISTINCT l.l::smallint AS lv, ed.ty, qblock(ed.q, l.l) AS b
        FROM ed CROSS JOIN (VALUES (1), (4), (24)) l(l)
    )
    SELECT 'a'::"char", 0::smallint, ed.ty, ed.q, NULL::bytea, NULL::integer[], ed.a FROM ed
    UNION ALL
    SELECT 'a'::"char", b.lv, b.ty, b.b,
           coalesce((SELECT s.users FROM activity_sets s WHERE s.level = b.lv
                     AND s.event_type = b.ty COLLATE "C" AND s.bucket = b.b), ''::bytea),
           NULL, NULL
    FROM b;
END $$;

REVOKE EXECUTE ON FUNCTION analytics_fold(integer, integer) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_writer') THEN
        GRANT EXECUTE ON FUNCTION analytics_fold(integer, integer) TO events_writer;
    END IF;
END $$;
