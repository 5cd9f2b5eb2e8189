-- 0011_analytics: statistics in any time zone, per event type, over rolling windows, and
-- retention from a start event to a return event, answered from summaries (ADR 7).
--
-- Every zone offset in use is a multiple of 15 minutes, so a local day is a union of
-- 15-minute UTC "quarters" (q = floor(epoch / 900)). Sets of users are kept per aligned block
-- of quarters at three levels (1 quarter, 4 = an hour, 24 = six hours): a local day is the
-- union of at most ~12 blocks, whatever the zone. A set is a Roaring bitmap of dense user keys
-- (user_keys), serialized in the portable format; the database only stores the bytes, the
-- worker (fcgi/core/userset.c) reads, unions and counts them, and edits them.
--
--   activity_sets  (level, event_type, bucket): users with an event of that type in the
--                  block; event_type '' = any type
--   cohort_sets    same key: users whose FIRST event (of that type; '' = any) is in the block
--   type_counts    events per (level, bucket, type)
--   user_firsts    each user's first quarter, overall ('') and per event type
--
-- Writes are insert-only: every writer of events appends each new event's (user, quarter,
-- type) to analytics_pending in its own transaction (the merges, redefined below with that one
-- statement added; not a trigger, which Citus would refuse on a distributed events). Folding
-- the pending rows into the summaries (analytics_compact, whose rows the worker edits and
-- hands to analytics_store) is done by one compactor at a time, under an advisory lock: by
-- every zone-aware read before it reads (so answers stay exact), by the supervisor on a
-- schedule, and by migrate after this migration. A bitmap is so rewritten once per fold, not
-- once per write; and one writer per row needs no stripes, so a block is one row to read.
--
-- Erasure (analytics_erase, before erase_user in the same transaction) removes the user's key
-- from every set that can hold it: the quarters and types of the user's events are read from
-- events and, for events already pruned, from pruned_quarters, which prune_raw_events fills.
-- On a Citus cluster every table here is a plain table of the coordinator (store_distribution),
-- like the counters of 0003: a read stays one local index probe per block.

-- The compactor's advisory lock (an arbitrary constant: 'anal' in ASCII).
CREATE FUNCTION analytics_lock_key() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 1634623852::bigint $$;

CREATE SEQUENCE user_key_seq AS integer;
CREATE TABLE user_keys (
    user_id text    COLLATE "C" PRIMARY KEY,
    ukey    integer NOT NULL
);

CREATE TABLE user_firsts (
    ukey       integer NOT NULL,
    event_type text    COLLATE "C" NOT NULL,
    first_q    integer NOT NULL,
    PRIMARY KEY (ukey, event_type)
);

CREATE TABLE type_counts (
    level      smallint NOT NULL,
    bucket     integer  NOT NULL,
    event_type text     COLLATE "C" NOT NULL,
    events     bigint   NOT NULL,
    PRIMARY KEY (level, bucket, event_type)
);

CREATE TABLE activity_sets (
    level      smallint NOT NULL,
    event_type text     COLLATE "C" NOT NULL,
    bucket     integer  NOT NULL,
    users      bytea    NOT NULL,
    PRIMARY KEY (level, event_type, bucket)
);
CREATE TABLE cohort_sets (LIKE activity_sets INCLUDING ALL);

-- Stored events not yet folded into the summaries (no key: only appended and taken whole).
CREATE TABLE analytics_pending (
    user_id    text    COLLATE "C" NOT NULL,
    q          integer NOT NULL,
    event_type text    COLLATE "C" NOT NULL
);

-- Events deleted from events (pruned or erased), per (user, quarter, type).
CREATE TABLE pruned_quarters (
    user_id    text    COLLATE "C" NOT NULL,
    q          integer NOT NULL,
    event_type text    COLLATE "C" NOT NULL,
    events     bigint  NOT NULL,
    PRIMARY KEY (user_id, q, event_type)
);

-- The block of level l holding quarter q (floor, also before 1970).
CREATE FUNCTION qblock(q integer, l integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT q - ((q % l) + l) % l $$;

-- The first instant (epoch seconds) whose local date in tz is d or later. Usually local
-- midnight; when midnight is skipped (a DST gap) or repeated (a fold), found by the minute.
CREATE FUNCTION local_day_start(tz text, d date) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c timestamptz := d::timestamp AT TIME ZONE tz;
    t timestamptz;
BEGIN
    IF (c AT TIME ZONE tz) = d::timestamp
       AND ((c - interval '1 microsecond') AT TIME ZONE tz)::date < d THEN
        RETURN extract(epoch FROM c)::bigint;
    END IF;
    t := date_trunc('minute', c) - interval '3 hours';
    WHILE (t AT TIME ZONE tz)::date < d LOOP
        t := t + interval '1 minute';
    END LOOP;
    -- off the minute (local mean time): the caller sees it is not on a quarter
    IF ((t - interval '1 second') AT TIME ZONE tz)::date >= d THEN
        RETURN extract(epoch FROM t)::bigint - 1;
    END IF;
    RETURN extract(epoch FROM t)::bigint;
END $$;

-- Local days d0 .. d0 + n - 1 in tz as ranges of quarters [q0, q1). A day whose bounds are
-- not on a quarter hour (local mean time, before a zone took a standard offset) raises 22009,
-- which the worker answers with 422.
CREATE FUNCTION stats_day_bounds(tz text, d0 date, n integer)
RETURNS TABLE (i integer, q0 integer, q1 integer)
LANGUAGE plpgsql STABLE ROWS 31 AS $$
DECLARE
    s bigint := local_day_start(tz, d0);
    e bigint;
BEGIN
    FOR k IN 0 .. n - 1 LOOP
        e := local_day_start(tz, d0 + k + 1);
        IF s % 900 <> 0 OR e % 900 <> 0 THEN
            RAISE EXCEPTION 'day % in % does not start on a quarter hour', d0 + k, tz
                USING ERRCODE = 'invalid_time_zone_displacement_value';
        END IF;
        i := k;
        q0 := s / 900;
        q1 := e / 900;
        RETURN NEXT;
        s := e;
    END LOOP;
END $$;

-- The quarters [q0, q1) as the fewest aligned blocks of the three levels: (level, bucket).
CREATE FUNCTION stats_range_blocks(q0 integer, q1 integer)
RETURNS TABLE (level smallint, bucket integer)
LANGUAGE plpgsql IMMUTABLE ROWS 12 AS $$
DECLARE
    x integer := q0;
BEGIN
    WHILE x < q1 LOOP
        IF qblock(x, 24) = x AND x + 24 <= q1 THEN
            level := 24;
        ELSIF qblock(x, 4) = x AND x + 4 <= q1 THEN
            level := 4;
        ELSE
            level := 1;
        END IF;
        bucket := x;
        RETURN NEXT;
        x := x + level;
    END LOOP;
END $$;

-- Local days d0 .. d0 + n - 1 in tz as blocks: (i, level, bucket), day i the union of its
-- blocks.
CREATE FUNCTION stats_day_blocks(tz text, d0 date, n integer)
RETURNS TABLE (i integer, level smallint, bucket integer)
LANGUAGE sql STABLE ROWS 372 AS $$
    SELECT d.i, b.level, b.bucket
    FROM stats_day_bounds(tz, d0, n) d CROSS JOIN LATERAL stats_range_blocks(d.q0, d.q1) b
$$;

-- Whole local days already unioned, by their quarters [q0, q1): a cache of what a reader
-- computed from the blocks, shared by every worker and every zone whose day has those bounds.
-- n is the union's size (a DAU answer needs no bitmap). A fold that edits a block deletes the
-- days that overlap it (analytics_store); a reader stores a day only if no fold committed
-- since it read the blocks (analytics_gen, checked under the compactor's lock: day_sets_store).
CREATE TABLE day_sets (
    kind       "char"  NOT NULL,
    event_type text    COLLATE "C" NOT NULL,
    q0         integer NOT NULL,
    q1         integer NOT NULL,
    n          integer NOT NULL,
    users      bytea   NOT NULL,
    PRIMARY KEY (kind, event_type, q0, q1)
);
-- Bumped by every fold or erasure that edits a set, in its transaction.
CREATE TABLE analytics_gen (g bigint NOT NULL);
INSERT INTO analytics_gen VALUES (0);

-- The sets of local days d0 .. d0 + n - 1 (kind 'a' = activity_sets, 'c' = cohort_sets):
-- for a day in day_sets one row (cached, its size n, and its bitmap when p_sets), else one
-- row per block that the reader unions (not cached). g: analytics_gen before the blocks were
-- read, for day_sets_store. Nested loops over the primary keys: the planner knows nothing of
-- the days' count.
CREATE FUNCTION stats_sets(p_kind "char", tz text, d0 date, n integer, ty text, p_sets boolean,
                           p_check boolean)
RETURNS TABLE (i integer, q0 integer, q1 integer, cached boolean, size integer, users bytea,
               g bigint)
LANGUAGE plpgsql STABLE SET enable_hashjoin = off SET enable_mergejoin = off
    SET enable_seqscan = off SET jit = off AS $$
#variable_conflict use_column
DECLARE
    gen bigint := (SELECT a.g FROM analytics_gen a);
BEGIN
    -- with p_check, pending events make this one row (i = -1): the reader folds them first
    -- and asks again without the check (a read costs one round trip when nothing is pending)
    IF p_check AND EXISTS (SELECT FROM analytics_pending) THEN
        i := -1;
        RETURN NEXT;
        RETURN;
    END IF;
    RETURN QUERY
    WITH d AS MATERIALIZED (SELECT * FROM stats_day_bounds(tz, d0, n)),
    hit AS MATERIALIZED (
        SELECT d.i, d.q0, d.q1, c.n, c.users FROM d JOIN day_sets c
            ON c.kind = p_kind AND c.event_type = ty AND c.q0 = d.q0 AND c.q1 = d.q1
    ), miss AS (
        SELECT d.i, d.q0, d.q1, b.level, b.bucket FROM d
        CROSS JOIN LATERAL stats_range_blocks(d.q0, d.q1) b
        WHERE NOT EXISTS (SELECT FROM hit h WHERE h.i = d.i)
    )
    SELECT h.i, h.q0, h.q1, true, h.n, CASE WHEN p_sets THEN h.users END, gen FROM hit h
    UNION ALL
    SELECT m.i, m.q0, m.q1, false, NULL::integer, s.users, gen
    FROM miss m JOIN activity_sets s
        ON p_kind = 'a' AND s.level = m.level AND s.event_type = ty AND s.bucket = m.bucket
    UNION ALL
    SELECT m.i, m.q0, m.q1, false, NULL::integer, s.users, gen
    FROM miss m JOIN cohort_sets s
        ON p_kind = 'c' AND s.level = m.level AND s.event_type = ty AND s.bucket = m.bucket;
END $$;

-- Stores the local days a reader unioned (bitmaps as hex), unless a fold or an erasure
-- edited a set since it read them (p_g is no longer analytics_gen): taken under the
-- compactor's lock, shared, so none runs between the check and the insert.
CREATE FUNCTION day_sets_store(p_g bigint, p_kind "char", ty text, q0s integer[],
                               q1s integer[], ns integer[], hex text[]) RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(analytics_lock_key());
    IF (SELECT g FROM analytics_gen) <> p_g THEN
        RETURN;
    END IF;
    INSERT INTO day_sets (kind, event_type, q0, q1, n, users)
    SELECT p_kind, ty, v.a, v.b, v.n, decode(v.h, 'hex')
    FROM unnest(q0s, q1s, ns, hex) v(a, b, n, h)
    ON CONFLICT DO NOTHING;
END $$;

-- Rolling windows of active users already counted: the users with an event (of event_type,
-- '' = any) in the local days [q0, q1). Kept and dropped as day_sets are (a window spans at
-- most 90 days of at most 100 quarters: 9 200 is a safe bound).
CREATE TABLE window_counts (
    event_type text    COLLATE "C" NOT NULL,
    q0         integer NOT NULL,
    q1         integer NOT NULL,
    n          integer NOT NULL,
    PRIMARY KEY (event_type, q0, q1)
);

-- For each local day d0 .. d0 + n - 1 of tz, its window of w days ending on it: (j, its
-- quarters, the count kept in window_counts or NULL, analytics_gen before). With p_check,
-- pending events make this one row (j = -1), as stats_sets.
CREATE FUNCTION stats_windows(tz text, d0 date, n integer, w integer, ty text, p_check boolean)
RETURNS TABLE (j integer, q0 integer, q1 integer, size integer, g bigint)
LANGUAGE plpgsql STABLE SET jit = off AS $$
#variable_conflict use_column
DECLARE
    gen bigint := (SELECT a.g FROM analytics_gen a);
BEGIN
    IF p_check AND EXISTS (SELECT FROM analytics_pending) THEN
        j := -1;
        RETURN NEXT;
        RETURN;
    END IF;
    RETURN QUERY
    WITH b AS MATERIALIZED (SELECT * FROM stats_day_bounds(tz, d0 - (w - 1), n + w - 1))
    SELECT s.i, s.q0, e.q1, c.n, gen
    FROM b s JOIN b e ON e.i = s.i + w - 1
    LEFT JOIN window_counts c ON c.event_type = ty AND c.q0 = s.q0 AND c.q1 = e.q1
    ORDER BY s.i;
END $$;

-- Keeps the window counts a reader computed, unless a fold or an erasure edited a set since
-- (as day_sets_store).
CREATE FUNCTION window_counts_store(p_g bigint, ty text, q0s integer[], q1s integer[],
                                    ns integer[]) RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(analytics_lock_key());
    IF (SELECT g FROM analytics_gen) <> p_g THEN
        RETURN;
    END IF;
    INSERT INTO window_counts (event_type, q0, q1, n)
    SELECT ty, v.a, v.b, v.n FROM unnest(q0s, q1s, ns) v(a, b, n)
    WHERE v.b - v.a <= 9200
    ON CONFLICT DO NOTHING;
END $$;

-- Top event types over local days d0 .. d0 + n - 1.
CREATE FUNCTION stats_top(tz text, d0 date, n integer, lim integer)
RETURNS TABLE (event_type text, events bigint)
LANGUAGE sql STABLE SET enable_hashjoin = off SET enable_mergejoin = off
    SET enable_seqscan = off SET jit = off AS $$
    SELECT t.event_type, sum(t.events)::bigint AS n
    FROM stats_day_blocks(tz, d0, n) b
    JOIN type_counts t ON t.level = b.level AND t.bucket = b.bucket
    GROUP BY t.event_type ORDER BY n DESC, t.event_type COLLATE "C" LIMIT lim
$$;

-- Folds up to p_rows pending events into the summaries, those of the earliest quarters first
-- among the rows stored in the pages below p_last of analytics_pending (0: below the table's
-- size now). Taking them in quarter order, not in the order they came, makes a fold of a big
-- load in random time order rewrite each block's bitmap about once, not once per chunk.
-- Returns first a row of kind 'n' whose bucket is the page bound to go on with, or -1 when
-- no row below it is left (no rows at all: nothing pending), then every bitmap row to edit,
-- with the user keys to take out and to put in ('' for a row not yet stored); the caller
-- stores the edited bitmaps with analytics_store in the same transaction. A pending row
-- committed before a first call starts is in a page below the table's size then, so a
-- caller that goes on until -1 has folded every event stored before it started.
CREATE FUNCTION analytics_compact(p_last integer, p_rows integer)
RETURNS TABLE (kind "char", level smallint, event_type text, bucket integer, users bytea,
               rm integer[], add integer[])
LANGUAGE plpgsql SET jit = off AS $$
#variable_conflict use_column
DECLARE
    taken integer;
    last integer := p_last;
    e_user text[]; e_q integer[]; e_type text[];
    n_key integer[]; n_q integer[]; n_type text[];
    m_key integer[]; m_type text[]; m_old integer[]; m_new integer[];
BEGIN
    -- a pending row another compactor is taking still shows here: wait for it below
    IF NOT EXISTS (SELECT FROM analytics_pending) THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(analytics_lock_key());
    IF last <= 0 THEN
        last := pg_relation_size('analytics_pending') / current_setting('block_size')::integer;
    END IF;
    WITH d AS (
        DELETE FROM analytics_pending p
        WHERE p.ctid = ANY (ARRAY(
            SELECT x.ctid FROM analytics_pending x WHERE x.ctid < format('(%s,0)', last)::tid
            ORDER BY x.q LIMIT p_rows))
        RETURNING p.user_id, p.q, p.event_type
    )
    SELECT count(*), array_agg(d.user_id), array_agg(d.q), array_agg(d.event_type)
    INTO taken, e_user, e_q, e_type FROM d;
    kind := 'n';
    bucket := CASE WHEN taken < p_rows THEN -1 ELSE last END;
    RETURN NEXT;
    IF taken = 0 THEN
        RETURN;
    END IF;

    -- dense keys for users seen for the first time (one compactor at a time: no race)
    INSERT INTO user_keys (user_id, ukey)
    SELECT x.u, nextval('user_key_seq') FROM (
        SELECT DISTINCT t.u FROM unnest(e_user) t(u)
        WHERE NOT EXISTS (SELECT FROM user_keys k WHERE k.user_id = t.u COLLATE "C")) x;

    SELECT array_agg(k.ukey), array_agg(t.q), array_agg(t.ty) INTO n_key, n_q, n_type
    FROM unnest(e_user, e_q, e_type) t(u, q, ty)
    JOIN user_keys k ON k.user_id = t.u COLLATE "C";

    -- first quarters that are new or move earlier
    WITH cand AS (
        SELECT a.k, a.ty, min(a.q) AS q FROM (
            SELECT t.k, t.ty, t.q FROM unnest(n_key, n_type, n_q) t(k, ty, q)
            UNION ALL SELECT t.k, '', t.q FROM unnest(n_key, n_q) t(k, q)) a
        GROUP BY a.k, a.ty
    )
    SELECT array_agg(c.k), array_agg(c.ty), array_agg(f.first_q), array_agg(c.q)
    INTO m_key, m_type, m_old, m_new
    FROM cand c LEFT JOIN user_firsts f ON f.ukey = c.k AND f.event_type = c.ty COLLATE "C"
    WHERE f.first_q IS NULL OR c.q < f.first_q;

    INSERT INTO user_firsts AS f (ukey, event_type, first_q)
    SELECT m.k, m.ty, m.q FROM unnest(m_key, m_type, m_new) m(k, ty, q)
    ON CONFLICT (ukey, event_type) DO UPDATE SET first_q = EXCLUDED.first_q;

    INSERT INTO type_counts AS c (level, bucket, event_type, events)
    SELECT l.l, qblock(t.q, l.l), t.ty, count(*)
    FROM unnest(n_q, n_type) t(q, ty) CROSS JOIN (VALUES (1), (4), (24)) l(l)
    GROUP BY 1, 2, 3
    ON CONFLICT (level, bucket, event_type) DO UPDATE SET events = c.events + EXCLUDED.events;

    -- cohorts: the key goes into its new first block and out of its old one
    RETURN QUERY
    WITH ed AS (
        SELECT l.l::smallint AS lv, m.ty, qblock(m.q, l.l) AS b, NULL::integer AS r, m.k AS a
        FROM unnest(m_key, m_type, m_new) m(k, ty, q) CROSS JOIN (VALUES (1), (4), (24)) l(l)
        UNION ALL
        SELECT l.l::smallint, m.ty, qblock(m.o, l.l), m.k, NULL
        FROM unnest(m_key, m_type, m_old) m(k, ty, o) CROSS JOIN (VALUES (1), (4), (24)) l(l)
        WHERE m.o IS NOT NULL
    ), g AS (
        SELECT ed.lv, ed.ty, ed.b, array_agg(ed.r) FILTER (WHERE ed.r IS NOT NULL) AS r,
               array_agg(ed.a) FILTER (WHERE ed.a IS NOT NULL) AS a
        FROM ed GROUP BY ed.lv, ed.ty, ed.b
    )
    SELECT 'c'::"char", g.lv, g.ty, g.b, coalesce(c.users, ''::bytea), g.r, g.a
    FROM g LEFT JOIN cohort_sets c
        ON c.level = g.lv AND c.event_type = g.ty COLLATE "C" AND c.bucket = g.b;

    -- activity: every (block, type) and (block, any) of the events
    RETURN QUERY
    WITH g AS (
        SELECT l.l::smallint AS lv, x.ty, qblock(x.q, l.l) AS b, array_agg(DISTINCT x.k) AS a
        FROM (SELECT t.k, t.ty, t.q FROM unnest(n_key, n_type, n_q) t(k, ty, q)
              UNION ALL SELECT t.k, '', t.q FROM unnest(n_key, n_q) t(k, q)) x
        CROSS JOIN (VALUES (1), (4), (24)) l(l)
        GROUP BY 1, 2, 3
    )
    SELECT 'a'::"char", g.lv, g.ty, g.b, coalesce(s.users, ''::bytea), NULL::integer[], g.a
    FROM g LEFT JOIN activity_sets s
        ON s.level = g.lv AND s.event_type = g.ty COLLATE "C" AND s.bucket = g.b;
END $$;

-- Stores the edited bitmaps (hex of the portable serialization) that analytics_compact or
-- analytics_erase handed out in this transaction; forgets the cached days they change.
CREATE FUNCTION analytics_store(kinds "char"[], levels smallint[], types text[], buckets integer[],
                                hex text[]) RETURNS void
LANGUAGE sql SET jit = off AS $$
    INSERT INTO activity_sets AS s (level, event_type, bucket, users)
    SELECT v.l, v.t, v.b, decode(v.h, 'hex')
    FROM unnest(kinds, levels, types, buckets, hex) v(k, l, t, b, h)
    WHERE v.k = 'a'
    ON CONFLICT (level, event_type, bucket) DO UPDATE SET users = EXCLUDED.users;
    INSERT INTO cohort_sets AS s (level, event_type, bucket, users)
    SELECT v.l, v.t, v.b, decode(v.h, 'hex')
    FROM unnest(kinds, levels, types, buckets, hex) v(k, l, t, b, h)
    WHERE v.k = 'c'
    ON CONFLICT (level, event_type, bucket) DO UPDATE SET users = EXCLUDED.users;
    -- the cached days that overlap an edited block (a day spans at most 100 quarters)
    DELETE FROM day_sets d
    USING (SELECT DISTINCT v.k, v.t, v.b, v.b + v.l AS e
           FROM unnest(kinds, levels, types, buckets) v(k, l, t, b)) x
    WHERE d.kind = x.k AND d.event_type = x.t COLLATE "C" AND d.q0 > x.b - 100
        AND d.q0 < x.e AND d.q1 > x.b;
    -- the windows counted over them: per type, one range from the first to the last edited
    -- block (a window spans at most 9 200 quarters)
    DELETE FROM window_counts w
    USING (SELECT v.t, min(v.b) AS lo, max(v.b + v.l) AS hi
           FROM unnest(kinds, levels, types, buckets) v(k, l, t, b) WHERE v.k = 'a'
           GROUP BY v.t) x
    WHERE w.event_type = x.t COLLATE "C" AND w.q0 > x.lo - 9200 AND w.q0 < x.hi
        AND w.q1 > x.lo;
    UPDATE analytics_gen SET g = g + 1;
$$;

-- Erasure, before erase_user(p_user, ...) in the same transaction: forgets the user's key
-- and first quarters, takes its folded events out of type_counts, and returns every set row
-- that can hold the key (to edit and store as analytics_compact's).
CREATE FUNCTION analytics_erase(p_user text)
RETURNS TABLE (kind "char", level smallint, event_type text, bucket integer, users bytea,
               rm integer[], add integer[])
LANGUAGE plpgsql SET jit = off AS $$
#variable_conflict use_column
DECLARE
    k integer;
    l_q integer[]; l_type text[]; l_n bigint[];
    d_q integer[]; d_type text[]; d_n bigint[];
BEGIN
    -- erase_user's lock, taken first: no merge adds an event (or a pending row) of the user
    -- between what is read here and erase_user's DELETE
    LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE;
    PERFORM pg_advisory_xact_lock(analytics_lock_key());
    DELETE FROM user_keys u WHERE u.user_id = p_user COLLATE "C" RETURNING u.ukey INTO k;
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
    SELECT array_agg(f.q), array_agg(f.ty), array_agg(f.n) INTO d_q, d_type, d_n FROM f;
    IF k IS NULL THEN
        RETURN; -- never folded: no summary here holds the user
    END IF;

    UPDATE type_counts t SET events = t.events - x.n
    FROM (SELECT l.l AS lv, qblock(d.q, l.l) AS b, d.ty, sum(d.n) AS n
          FROM unnest(d_q, d_type, d_n) d(q, ty, n) CROSS JOIN (VALUES (1), (4), (24)) l(l)
          GROUP BY 1, 2, 3) x
    WHERE t.level = x.lv AND t.bucket = x.b AND t.event_type = x.ty COLLATE "C";
    -- a (block, type) left with no event must not show in top events as a count of 0
    DELETE FROM type_counts t
    USING (SELECT DISTINCT l.l AS lv, qblock(d.q, l.l) AS b, d.ty
           FROM unnest(d_q, d_type) d(q, ty) CROSS JOIN (VALUES (1), (4), (24)) l(l)) x
    WHERE t.level = x.lv AND t.bucket = x.b AND t.event_type = x.ty COLLATE "C"
        AND t.events = 0;

    RETURN QUERY
    WITH f AS (DELETE FROM user_firsts u WHERE u.ukey = k RETURNING u.event_type, u.first_q)
    SELECT 'c'::"char", c.level, c.event_type::text, c.bucket, c.users, ARRAY[k], NULL::integer[]
    FROM f CROSS JOIN (VALUES (1), (4), (24)) l(l)
    JOIN cohort_sets c ON c.level = l.l AND c.event_type = f.event_type
        AND c.bucket = qblock(f.first_q, l.l);

    RETURN QUERY
    WITH b AS (
        SELECT DISTINCT l.l::smallint AS lv, x.ty, qblock(x.q, l.l) AS bk
        FROM (SELECT d.q, d.ty FROM unnest(d_q, d_type) d(q, ty)
              UNION ALL SELECT d.q, '' FROM unnest(d_q) d(q)) x
        CROSS JOIN (VALUES (1), (4), (24)) l(l)
    )
    SELECT 'a'::"char", s.level, s.event_type::text, s.bucket, s.users, ARRAY[k], NULL::integer[]
    FROM b JOIN activity_sets s ON s.level = b.lv AND s.event_type = b.ty COLLATE "C"
        AND s.bucket = b.bk;
END $$;

-- Events stored before this migration go through the same fold (migrate runs it right after).
LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE;

-- The writers of events feed the summaries themselves (no trigger: Citus distributes no table
-- that has one). The bodies are those of 0006 (the single-node merge, renamed
-- ingest_merge_single by 0007), 0007 (the cluster's merge) and 0010 (prune), each with one
-- statement added where marked "0011"; a later change to one of them is made here too.

CREATE OR REPLACE FUNCTION ingest_merge_single(p_stripe integer, p_skip_stored boolean) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    n bigint;
    e_day date[]; e_user text[]; e_type text[];   -- the events that were new
    e_q integer[];                                -- their 15-minute quarters (0011)
    p_user text[]; p_day date[];                  -- the (user, day) pairs that were new
    r_user text[]; r_first date[];                -- users inserted, or moved to an earlier day
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
    )
    SELECT count(*), array_agg((occurred_at AT TIME ZONE 'UTC')::date), array_agg(user_id),
           array_agg(event_type), array_agg(floor(extract(epoch FROM occurred_at) / 900)::integer)
    INTO n, e_day, e_user, e_type, e_q FROM ins;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    -- 0011: the new events wait here for the next fold into the zone-aware summaries
    INSERT INTO analytics_pending (user_id, q, event_type)
    SELECT * FROM unnest(e_user, e_q, e_type);

    PERFORM set_config('events.merge_version', '3', true);
    WITH p AS (
        INSERT INTO user_days (user_id, day)
        SELECT DISTINCT u COLLATE "C", d FROM unnest(e_user, e_day) t(u, d) ORDER BY 1, 2
        ON CONFLICT DO NOTHING
        RETURNING user_id, day
    )
    SELECT array_agg(user_id), array_agg(day) INTO p_user, p_day FROM p;

    -- Every user with a new day is locked here (ON CONFLICT DO UPDATE locks the row even when
    -- its WHERE is false); the rows that come back were inserted or moved earlier.
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

    -- The retention cells. This statement sees every transaction that held these users' locks
    -- before us. The week buckets a day opens: retention_week_starts().
    INSERT INTO retention_cells AS c (period, cohort, active, stripe, users)
    WITH pairs AS (
        SELECT u AS user_id, d AS day FROM unnest(p_user, p_day) t(u, d)
    ), rebuilt AS (
        SELECT u AS user_id, f AS first_day FROM unnest(r_user, r_first) t(u, f)
    ),
    -- Users whose cohort stayed: each new day d opens the buckets that hold no earlier day of
    -- the user and no stored day after d. Reads at most 13 days around each new day.
    pu AS (
        SELECT p.user_id, array_agg(p.day) AS days FROM pairs p
        WHERE NOT EXISTS (SELECT 1 FROM rebuilt r WHERE r.user_id = p.user_id)
        GROUP BY p.user_id
    ), nb AS (
        SELECT u.f, d.day, x.prev_any, x.next_old
        FROM pu
        -- OFFSET 0 keeps these lookups per user: flattened, the planner (which has no idea
        -- how many rows the arrays hold) likes to scan all users or all user_days
        CROSS JOIN LATERAL (SELECT first_day AS f FROM users WHERE user_id = pu.user_id
                            OFFSET 0) u
        CROSS JOIN LATERAL unnest(pu.days) d(day)
        CROSS JOIN LATERAL (
            SELECT max(ud.day) FILTER (WHERE ud.day < d.day) AS prev_any,
                   min(ud.day) FILTER (WHERE ud.day > d.day AND ud.day <> ALL (pu.days)) AS next_old
            FROM user_days ud
            WHERE ud.user_id = pu.user_id AND ud.day BETWEEN d.day - 6 AND d.day + 6) x
    ),
    -- New and moved users: every day they have goes to the new cohort, and what the old
    -- cohort held of them (their stored days) is taken back.
    rn AS (
        SELECT r.user_id, r.first_day, array_agg(p.day) AS new_days
        FROM rebuilt r JOIN pairs p ON p.user_id = r.user_id
        GROUP BY r.user_id, r.first_day
    ), rd AS (
        SELECT rn.user_id, rn.first_day AS f, ud.day, ud.day <> ALL (rn.new_days) AS old
        FROM rn
        CROSS JOIN LATERAL (SELECT x.day FROM user_days x WHERE x.user_id = rn.user_id
                            OFFSET 0) ud
    ), q AS (
        SELECT f, day, old,
               lag(day) OVER w AS prev_any,
               max(day) FILTER (WHERE old) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                   AS prev_old,
               min(day) FILTER (WHERE old) OVER (PARTITION BY user_id) AS old_f
        FROM rd WINDOW w AS (PARTITION BY user_id ORDER BY day)
    ),
    -- Every contribution: a user's day in cohort f, between the user's day before it (prev)
    -- and the stored day after it whose buckets are already counted (next); sign -1 takes
    -- back what the old cohort of a moved user held.
    contrib (f, day, prev, next, sign) AS (
        SELECT f, day, prev_any, next_old, 1 FROM nb
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

CREATE OR REPLACE FUNCTION ingest_merge_distributed(p_stripe integer, p_skip_stored boolean) RETURNS bigint
LANGUAGE plpgsql SET jit = off SET citus.multi_shard_modify_mode = 'sequential'
SET citus.max_adaptive_executor_pool_size = 1 SET citus.enable_deadlock_prevention = off AS $$
DECLARE
    n bigint;
    e_day date[]; e_user text[]; e_type text[];   -- the events that were new
    e_q integer[];                                -- their 15-minute quarters (0011)
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
           array_agg(event_type), array_agg(floor(extract(epoch FROM occurred_at) / 900)::integer)
    INTO n, e_day, e_user, e_type, e_q FROM ins;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    -- 0011: the new events wait here for the next fold into the zone-aware summaries
    INSERT INTO analytics_pending (user_id, q, event_type)
    SELECT * FROM unnest(e_user, e_q, e_type);

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

CREATE OR REPLACE FUNCTION prune_raw_events(p_days integer, p_batch integer) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    n bigint;
    e_user text[]; e_day date[]; e_type text[];
    e_q integer[];
BEGIN
    WITH del AS (
        DELETE FROM events
        WHERE event_id = ANY (ARRAY(
            SELECT event_id FROM events
            WHERE occurred_at < now() - make_interval(days => p_days) - interval '1 hour'
            ORDER BY occurred_at, event_id LIMIT p_batch))
        RETURNING user_id, occurred_at, event_type
    )
    SELECT count(*), array_agg(user_id), array_agg((occurred_at AT TIME ZONE 'UTC')::date),
           array_agg(event_type), array_agg(floor(extract(epoch FROM occurred_at) / 900)::integer)
    INTO n, e_user, e_day, e_type, e_q FROM del;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    -- 0011: the quarters of the raw events that go, for a later erasure of their users
    INSERT INTO pruned_quarters AS p (user_id, q, event_type, events)
    SELECT u, q, ty, count(*) FROM unnest(e_user, e_q, e_type) x(u, q, ty)
    GROUP BY u, q, ty ORDER BY u COLLATE "C", q, ty COLLATE "C"
    ON CONFLICT (user_id, q, event_type) DO UPDATE SET events = p.events + EXCLUDED.events;
    INSERT INTO pruned_user_types AS p (user_id, day, event_type, events)
    SELECT u, d, ty, count(*) FROM unnest(e_user, e_day, e_type) x(u, d, ty)
    GROUP BY u, d, ty ORDER BY u COLLATE "C", d, ty COLLATE "C"
    ON CONFLICT (user_id, day, event_type) DO UPDATE SET events = p.events + EXCLUDED.events;
    RETURN n;
END $$;

INSERT INTO analytics_pending (user_id, q, event_type)
SELECT user_id, floor(extract(epoch FROM occurred_at) / 900)::integer, event_type FROM events;

REVOKE EXECUTE ON FUNCTION analytics_compact(integer, integer), analytics_erase(text),
    analytics_store("char"[], smallint[], text[], integer[], text[]) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_writer') THEN
        GRANT EXECUTE ON FUNCTION analytics_compact(integer, integer), analytics_erase(text),
            analytics_store("char"[], smallint[], text[], integer[], text[]) TO events_writer;
    END IF;
END $$;

-- On a cluster (0007): every table above is a plain table of the coordinator.
INSERT INTO store_distribution VALUES
    ('user_keys',         'coordinator', NULL, NULL, 10),
    ('user_firsts',       'coordinator', NULL, NULL, 11),
    ('type_counts',       'coordinator', NULL, NULL, 12),
    ('activity_sets',     'coordinator', NULL, NULL, 13),
    ('cohort_sets',       'coordinator', NULL, NULL, 14),
    ('analytics_pending', 'coordinator', NULL, NULL, 15),
    ('pruned_quarters',   'coordinator', NULL, NULL, 16),
    ('day_sets',          'coordinator', NULL, NULL, 17),
    ('analytics_gen',     'coordinator', NULL, NULL, 18),
    ('window_counts',     'coordinator', NULL, NULL, 19);
