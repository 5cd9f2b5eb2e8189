-- 0015_user_rows: one row per user for the fold. Each user's first quarters (overall, '',
-- and per event type) move into its row of user_keys, as two arrays of the same length
-- (ftypes[i] first seen in quarter fqs[i]); user_firsts goes. The fold (analytics_fold,
-- redefined with the same arguments and rows) then looks each user of a transaction up once
-- and gets its key and all its firsts, inserts one row per new user instead of a key row and
-- one row per (user, type), and updates only the users whose firsts move. Measured in ADR 7
-- (item 14). The summaries it keeps are the same rows as before.
--
-- Upgrading a running stack: `make migrate` then `make reload`, as always. A pool of the
-- binary before 0014 (which folds with 0011's analytics_compact, dropped here) fails its folds
-- and zone-aware reads with 503 until the reload; the binary of 0014 calls analytics_fold,
-- which keeps its arguments and rows, and goes on working.

-- no fold or erasure meanwhile (each holds this lock while it edits keys and firsts)
SELECT pg_advisory_xact_lock(analytics_lock_key());

ALTER TABLE user_keys ADD COLUMN ftypes text[] COLLATE "C" NOT NULL DEFAULT '{}',
                      ADD COLUMN fqs integer[] NOT NULL DEFAULT '{}';
UPDATE user_keys k SET ftypes = f.ts, fqs = f.qs
FROM (SELECT f.ukey, array_agg(f.event_type ORDER BY f.event_type) AS ts,
             array_agg(f.first_q ORDER BY f.event_type) AS qs
      FROM user_firsts f GROUP BY f.ukey) f
WHERE k.ukey = f.ukey;
DROP FUNCTION analytics_compact(integer, integer);
DROP TABLE user_firsts;
DELETE FROM store_distribution WHERE table_name = 'user_firsts';

-- The stored sets of kind p_kind ('a' activity, 'c' cohort) at the three levels whose blocks
-- hold the quarters qs[i] of types ts[i], as rows of analytics_fold: users '' when none is
-- stored yet, rm and add NULL.
CREATE FUNCTION analytics_block_sets(p_kind "char", ts text[], qs integer[])
RETURNS TABLE (kind "char", level smallint, event_type text, bucket integer, users bytea,
               rm integer[], add integer[])
LANGUAGE sql STABLE AS $$
    SELECT p_kind, b.lv, b.ty, b.b,
           coalesce(CASE p_kind
                        WHEN 'c' THEN (SELECT c.users FROM cohort_sets c WHERE c.level = b.lv
                                       AND c.event_type = b.ty AND c.bucket = b.b)
                        ELSE (SELECT s.users FROM activity_sets s WHERE s.level = b.lv
                              AND s.event_type = b.ty AND s.bucket = b.b)
                    END, ''::bytea),
           NULL::integer[], NULL::integer[]
    FROM (SELECT DISTINCT l.l::smallint AS lv, t.ty COLLATE "C" AS ty, qblock(t.q, l.l) AS b
          FROM unnest(ts, qs) t(ty, q) CROSS JOIN (VALUES (1), (4), (24)) l(l)) b
$$;

-- Adds ns[i] events (negative: takes them away) of type ts[i] in quarter qs[i] to the counts
-- of the three blocks that hold it; a (block, type) left with no event goes (top events
-- must not show a count of 0).
CREATE FUNCTION analytics_count_types(qs integer[], ts text[], ns bigint[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO type_counts AS c (level, bucket, event_type, events)
    SELECT l.l, qblock(t.q, l.l), t.ty, sum(t.n)
    FROM unnest(qs, ts, ns) t(q, ty, n) CROSS JOIN (VALUES (1), (4), (24)) l(l)
    GROUP BY 1, 2, 3
    ON CONFLICT (level, bucket, event_type) DO UPDATE SET events = c.events + EXCLUDED.events;
    DELETE FROM type_counts c
    USING (SELECT DISTINCT l.l AS lv, qblock(t.q, l.l) AS b, t.ty
           FROM unnest(qs, ts, ns) t(q, ty, n) CROSS JOIN (VALUES (1), (4), (24)) l(l)
           WHERE t.n < 0) x
    WHERE c.level = x.lv AND c.bucket = x.b AND c.event_type = x.ty COLLATE "C"
        AND c.events = 0;
$$;

-- The pending events a fold takes, under the compactor's lock: up to p_rows of those below
-- page p_last (0: the pages there are now), in no order when they fit in one transaction (a
-- fold beside live writes), else those of the earliest quarters (a big load). taken NULL:
-- nothing was pending (no lock taken); next_page -1 when no more than these were below
-- p_last, else p_last, for the next transaction of the same fold.
CREATE FUNCTION analytics_take_events(p_last integer, p_rows integer, OUT taken integer,
                                      OUT next_page integer, OUT users text[],
                                      OUT qs integer[], OUT types text[])
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    last integer := p_last;
BEGIN
    IF NOT EXISTS (SELECT FROM analytics_pending) THEN
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
                                        WHERE x.ctid < format('(%s,0)', last)::tid
                                        LIMIT p_rows + 1) c) <= p_rows
            THEN ARRAY(SELECT x.ctid FROM analytics_pending x
                       WHERE x.ctid < format('(%s,0)', last)::tid)
            ELSE ARRAY(SELECT x.ctid FROM analytics_pending x
                       WHERE x.ctid < format('(%s,0)', last)::tid ORDER BY x.q LIMIT p_rows)
            END)
        RETURNING p.user_id, p.q, p.event_type
    )
    SELECT count(*), array_agg(d.user_id), array_agg(d.q), array_agg(d.event_type)
    INTO taken, users, qs, types FROM d;
    next_page := CASE WHEN taken < p_rows THEN -1 ELSE last END;
END $$;

-- As 0014's: returns the 'n' row first, then the sets to edit (level 1, 4 or 24, their
-- bytes) and the edits per quarter (level 0: the keys to take out of and to put into the sets
-- of its kind and type whose blocks hold it). The caller takes out every key before it puts
-- any in, as a first event that moves leaves one block for another.
CREATE OR REPLACE FUNCTION analytics_fold(p_last integer, p_rows integer)
RETURNS TABLE (kind "char", level smallint, event_type text, bucket integer, users bytea,
               rm integer[], add integer[])
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_custom_plan
    SET work_mem = '16MB' SET max_parallel_workers_per_gather = 0 AS $$
#variable_conflict use_column
DECLARE
    t record;
    taken integer;
    e_user text[]; e_q integer[]; e_type text[];
    d_user text[]; d_key integer[]; d_old integer[];
    f_user text[]; f_type text[]; f_new integer[]; f_old integer[]; f_known boolean[];
    n_key integer[]; n_q integer[]; n_type text[];
    m_key integer[]; m_type text[]; m_old integer[]; m_new integer[];
BEGIN
    SELECT * INTO t FROM analytics_take_events(p_last, p_rows);
    IF t.taken IS NULL THEN
        RETURN;
    END IF;
    kind := 'n';
    bucket := t.next_page;
    RETURN NEXT;
    IF t.taken = 0 THEN
        RETURN;
    END IF;
    taken := t.taken;
    e_user := t.users;
    e_q := t.qs;
    e_type := t.types;

    -- Each user of these events looked up once (an index probe): its key and first quarters,
    -- none when it is new. f: the firsts, per type and overall (''), that these events set
    -- or move earlier, with the quarter they move from (NULL: a first of a new type or user).
    WITH c AS MATERIALIZED (
        SELECT t.u COLLATE "C" AS u, t.ty COLLATE "C" AS ty, min(t.q) AS q
        FROM unnest(e_user, e_type, e_q) t(u, ty, q) GROUP BY 1, 2
    ), s AS MATERIALIZED (
        SELECT d.u, (SELECT k FROM user_keys k WHERE k.user_id = d.u) AS r
        FROM (SELECT DISTINCT c.u FROM c) d
    ), f AS MATERIALIZED (
        SELECT x.u, x.ty, x.q, (s.r).ukey IS NOT NULL AS known,
               (s.r).fqs[array_position((s.r).ftypes, x.ty)] AS o
        FROM (SELECT c.u, c.ty, c.q FROM c
              UNION ALL SELECT c.u, ''::text COLLATE "C", min(c.q) FROM c GROUP BY c.u) x
        JOIN s ON s.u = x.u
    )
    SELECT (SELECT array_agg(s.u ORDER BY s.u) FROM s),
           (SELECT array_agg((s.r).ukey ORDER BY s.u) FROM s),
           array_agg(f.u), array_agg(f.ty), array_agg(f.q), array_agg(f.o), array_agg(f.known)
    INTO d_user, d_old, f_user, f_type, f_new, f_old, f_known
    FROM f WHERE f.o IS NULL OR f.q < f.o;

    -- new users: one row each, with the next keys in their ids' order (one compactor at a
    -- time: no race) and their firsts
    IF EXISTS (SELECT FROM unnest(d_old) k WHERE k IS NULL) THEN
        WITH n AS (
            SELECT f.u COLLATE "C" AS u, array_agg(f.ty) AS ts, array_agg(f.q) AS qs
            FROM unnest(f_user, f_type, f_new, f_known) f(u, ty, q, known)
            WHERE NOT f.known GROUP BY 1 ORDER BY 1
        ), ins AS (
            INSERT INTO user_keys (user_id, ukey, ftypes, fqs)
            SELECT n.u, nextval('user_key_seq'), n.ts, n.qs FROM n
            RETURNING user_keys.user_id, user_keys.ukey
        )
        SELECT array_agg(m.u), array_agg(m.k) INTO d_user, d_key
        FROM (SELECT t.u, t.o AS k FROM unnest(d_user, d_old) t(u, o) WHERE t.o IS NOT NULL
              UNION ALL SELECT ins.user_id, ins.ukey FROM ins) m;
    ELSE
        d_key := d_old;
    END IF;
    -- known users whose firsts move: their arrays merged with the moves
    UPDATE user_keys k
    SET (ftypes, fqs) = (SELECT array_agg(z.ty ORDER BY z.ty), array_agg(z.q ORDER BY z.ty)
                         FROM (SELECT y.ty, min(y.q) AS q
                               FROM (SELECT t.ty COLLATE "C", t.q
                                     FROM unnest(k.ftypes, k.fqs) t(ty, q)
                                     UNION ALL SELECT t.ty COLLATE "C", t.q
                                     FROM unnest(m.ts, m.qs) t(ty, q)) y(ty, q)
                               GROUP BY y.ty) z)
    FROM (SELECT f.u COLLATE "C" AS u, array_agg(f.ty) AS ts, array_agg(f.q) AS qs
          FROM unnest(f_user, f_type, f_new, f_known) f(u, ty, q, known)
          WHERE f.known GROUP BY 1) m
    WHERE k.user_id = m.u;

    SELECT array_agg(m.k), array_agg(t.q), array_agg(t.ty) INTO n_key, n_q, n_type
    FROM unnest(e_user, e_q, e_type) t(u, q, ty)
    JOIN unnest(d_user, d_key) m(u, k) ON m.u = t.u COLLATE "C";
    SELECT array_agg(m.k), array_agg(f.ty), array_agg(f.o), array_agg(f.q)
    INTO m_key, m_type, m_old, m_new
    FROM unnest(f_user, f_type, f_new, f_old) f(u, ty, q, o)
    JOIN unnest(d_user, d_key) m(u, k) ON m.u = f.u COLLATE "C";

    PERFORM analytics_count_types(n_q, n_type, array_fill(1::bigint, ARRAY[taken]));

    -- cohorts: the key goes into its new first block and out of its old one
    RETURN QUERY
    WITH ed AS MATERIALIZED (
        SELECT m.ty, m.q, NULL::integer[] AS r, array_agg(m.k) AS a
        FROM unnest(m_key, m_type, m_new) m(k, ty, q) GROUP BY m.ty, m.q
        UNION ALL
        SELECT m.ty, m.o, array_agg(m.k), NULL
        FROM unnest(m_key, m_type, m_old) m(k, ty, o) WHERE m.o IS NOT NULL GROUP BY m.ty, m.o
    )
    SELECT 'c'::"char", 0::smallint, ed.ty, ed.q, NULL::bytea, ed.r, ed.a FROM ed
    UNION ALL
    SELECT b.* FROM (SELECT array_agg(ed.ty) AS ts, array_agg(ed.q) AS qs FROM ed) x,
                    analytics_block_sets('c', x.ts, x.qs) b;

    -- activity: the keys of every (quarter, type) and (quarter, any) of the events (a key
    -- twice in a list is added once)
    RETURN QUERY
    WITH ed AS MATERIALIZED (
        SELECT t.ty, t.q, array_agg(t.k) AS a
        FROM unnest(n_key, n_type, n_q) t(k, ty, q) GROUP BY t.ty, t.q
        UNION ALL
        SELECT '', t.q, array_agg(t.k) FROM unnest(n_key, n_q) t(k, q) GROUP BY t.q
    )
    SELECT 'a'::"char", 0::smallint, ed.ty, ed.q, NULL::bytea, NULL::integer[], ed.a FROM ed
    UNION ALL
    SELECT b.* FROM (SELECT array_agg(ed.ty) AS ts, array_agg(ed.q) AS qs FROM ed) x,
                    analytics_block_sets('a', x.ts, x.qs) b;
END $$;

-- The fold of the worker (fcgi/core/db_fold.c), three calls in one transaction. First the
-- events it takes (analytics_take_events) as rows: the 'n' row (q: the next page, as
-- analytics_fold's bucket), an 'e' row per event (user_id, q, event_type), and a 'u' row per
-- user of them: its key, row and first quarters, ukey NULL when it is new. Nothing when
-- nothing is pending.
CREATE FUNCTION analytics_take(p_last integer, p_rows integer)
RETURNS TABLE (kind "char", user_id text, q integer, event_type text, ukey integer, at tid,
               ftypes text[], fqs integer[])
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_custom_plan
    SET work_mem = '16MB' SET max_parallel_workers_per_gather = 0 AS $$
#variable_conflict use_column
DECLARE
    t record;
BEGIN
    SELECT * INTO t FROM analytics_take_events(p_last, p_rows);
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

-- Then what the worker computed: the new users (their first quarters as array literals) get
-- the next keys, returned; the rows of the users whose first quarters moved (at: their row, as
-- analytics_take gave it; the compactor's lock keeps it there) get their new arrays; the
-- events are counted per (quarter, type). Last, the sets to edit (analytics_block_sets) are
-- read, edited by the worker and stored (analytics_store).
CREATE FUNCTION analytics_users_write(n_ids text[], n_types text[], n_qs text[], u_at tid[],
                                      u_types text[], u_qs text[], c_q integer[],
                                      c_type text[], c_n bigint[])
RETURNS TABLE (user_id text, ukey integer)
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
BEGIN
    UPDATE user_keys k SET ftypes = v.ts::text[], fqs = v.qs::integer[]
    FROM unnest(u_at, u_types, u_qs) v(at, ts, qs)
    WHERE k.ctid = v.at;
    PERFORM analytics_count_types(c_q, c_type, c_n);
    RETURN QUERY
    INSERT INTO user_keys AS k (user_id, ukey, ftypes, fqs)
    SELECT v.u, nextval('user_key_seq'), v.ts::text[], v.qs::integer[]
    FROM unnest(n_ids, n_types, n_qs) v(u, ts, qs)
    RETURNING k.user_id, k.ukey;
END $$;

-- Erasure, before erase_user(p_user, ...) in the same transaction: forgets the user's row
-- (key and first quarters), takes its folded events out of type_counts, and returns every set
-- row that holds the key (to edit and store as analytics_fold's), as 0011's did.
CREATE OR REPLACE FUNCTION analytics_erase(p_user text)
RETURNS TABLE (kind "char", level smallint, event_type text, bucket integer, users bytea,
               rm integer[], add integer[])
LANGUAGE plpgsql SET jit = off AS $$
#variable_conflict use_column
DECLARE
    k integer; k_types text[]; k_qs integer[];
    l_q integer[]; l_type text[]; l_n bigint[];
    d_q integer[]; d_type text[]; d_n bigint[];
BEGIN
    -- erase_user's lock, taken first: no merge adds an event (or a pending row) of the user
    -- between what is read here and erase_user's DELETE
    LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE;
    PERFORM pg_advisory_xact_lock(analytics_lock_key());
    DELETE FROM user_keys u WHERE u.user_id = p_user COLLATE "C"
    RETURNING u.ukey, u.ftypes, u.fqs INTO k, k_types, k_qs;
    -- the user's stored events per (quarter, type), read on their own (on a cluster a
    -- statement may not join the shards of events with the coordinator's tables)
    SELECT array_agg(x.q), array_agg(x.ty), array_agg(x.n) INTO l_q, l_type, l_n
    FROM (SELECT floor(extract(epoch FROM e.occurred_at) / 900)::integer AS q,
                 e.event_type AS ty, count(*) AS n
          FROM events e WHERE e.user_id = p_user COLLATE "C" GROUP BY 1, 2) x;
    -- its folded events: those stored and those pruned, less those still pending
    WITH p AS (
        DELETE FROM analytics_pending x WHERE x.user_id = p_user COLLATE "C"
        RETURNING x.q, x.event_type
    ), g AS (
        DELETE FROM pruned_quarters x WHERE x.user_id = p_user COLLATE "C"
        RETURNING x.q, x.event_type, x.events
    ), f AS (
        SELECT a.q, a.ty, sum(a.n)::bigint AS n FROM (
            SELECT g.q, g.event_type AS ty, g.events AS n FROM g
            UNION ALL SELECT l.q, l.ty, l.n FROM unnest(l_q, l_type, l_n) l(q, ty, n)
            UNION ALL SELECT p.q, p.event_type, -1 FROM p) a
        GROUP BY a.q, a.ty HAVING sum(a.n) > 0
    )
    SELECT array_agg(f.q), array_agg(f.ty), array_agg(-f.n) INTO d_q, d_type, d_n FROM f;
    IF k IS NULL THEN
        RETURN; -- never folded: no summary here holds the user
    END IF;
    PERFORM analytics_count_types(d_q, d_type, d_n);

    -- the sets of its first quarters and of the quarters of its events
    RETURN QUERY
    SELECT b.kind, b.level, b.event_type, b.bucket, b.users, ARRAY[k], NULL::integer[]
    FROM analytics_block_sets('c', k_types, k_qs) b WHERE b.users <> ''::bytea
    UNION ALL
    SELECT b.kind, b.level, b.event_type, b.bucket, b.users, ARRAY[k], NULL::integer[]
    FROM (SELECT array_agg(x.ty) AS ts, array_agg(x.q) AS qs
          FROM (SELECT d.q, d.ty FROM unnest(d_q, d_type) d(q, ty)
                UNION ALL SELECT d.q, '' FROM unnest(d_q) d(q)) x) y,
         analytics_block_sets('a', y.ts, y.qs) b
    WHERE b.users <> ''::bytea;
END $$;

REVOKE EXECUTE ON FUNCTION analytics_block_sets("char", text[], integer[]),
    analytics_count_types(integer[], text[], bigint[]), analytics_take_events(integer, integer),
    analytics_take(integer, integer),
    analytics_users_write(text[], text[], text[], tid[], text[], text[], integer[], text[],
                          bigint[]) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_writer') THEN
        GRANT EXECUTE ON FUNCTION analytics_block_sets("char", text[], integer[]),
            analytics_count_types(integer[], text[], bigint[]),
            analytics_take_events(integer, integer), analytics_take(integer, integer),
            analytics_users_write(text[], text[], text[], tid[], text[], text[], integer[],
                                  text[], bigint[]) TO events_writer;
    END IF;
END $$;
