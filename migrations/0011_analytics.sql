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
-- Writes are insert-only: a trigger on events appends each stored event's (user, quarter,
-- type) to analytics_pending, in the writer's transaction. Folding the pending rows into the
-- summaries (analytics_compact, whose rows the worker edits and hands to analytics_store) is
-- done by one compactor at a time, under an advisory lock: by every zone-aware read before it
-- reads (so answers stay exact), by the loader at its end and by migrate after this
-- migration. A bitmap is so rewritten once per fold, not once per write; and one writer per
-- row needs no stripes, so a block is one row to read.
--
-- Erasure (analytics_erase, after erase_user in the same transaction) removes the user's key
-- from every set that can hold it. The quarters and types of a user's deleted events come
-- from pruned_quarters, which a trigger on DELETE FROM events fills (prune and erase alike):
-- raw events past the horizon are gone, their quarters are kept there.

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

CREATE FUNCTION analytics_note_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_pending (user_id, q, event_type)
    SELECT user_id, floor(extract(epoch FROM occurred_at) / 900)::integer, event_type
    FROM fresh;
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_note_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pruned_quarters AS p (user_id, q, event_type, events)
    SELECT user_id, floor(extract(epoch FROM occurred_at) / 900)::integer, event_type, count(*)
    FROM gone GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (user_id, q, event_type) DO UPDATE SET events = p.events + EXCLUDED.events;
    RETURN NULL;
END $$;

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

-- Local days d0 .. d0 + n - 1 in tz as blocks: (i, level, bucket) with day i the union of its
-- blocks. A day whose bounds are not on a quarter hour (local mean time, before a zone took a
-- standard offset) raises 22009, which the worker answers with 422.
CREATE FUNCTION stats_day_blocks(tz text, d0 date, n integer)
RETURNS TABLE (i integer, level smallint, bucket integer)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s bigint := local_day_start(tz, d0);
    e bigint;
    x integer;
    hi integer;
BEGIN
    FOR k IN 0 .. n - 1 LOOP
        e := local_day_start(tz, d0 + k + 1);
        IF s % 900 <> 0 OR e % 900 <> 0 THEN
            RAISE EXCEPTION 'day % in % does not start on a quarter hour', d0 + k, tz
                USING ERRCODE = 'invalid_time_zone_displacement_value';
        END IF;
        x := s / 900;
        hi := e / 900;
        i := k;
        WHILE x < hi LOOP
            IF qblock(x, 24) = x AND x + 24 <= hi THEN
                level := 24;
            ELSIF qblock(x, 4) = x AND x + 4 <= hi THEN
                level := 4;
            ELSE
                level := 1;
            END IF;
            bucket := x;
            RETURN NEXT;
            x := x + level;
        END LOOP;
        s := e;
    END LOOP;
END $$;

-- The sets of local days d0 .. d0 + n - 1: (day index, a bitmap), one row per block that the
-- reader unions. kind 'a' = activity_sets, 'c' = cohort_sets.
-- Nested loops over the primary key: the planner knows nothing of the blocks' count.
CREATE FUNCTION stats_sets(kind "char", tz text, d0 date, n integer, ty text)
RETURNS TABLE (i integer, users bytea)
LANGUAGE plpgsql STABLE SET enable_hashjoin = off SET enable_mergejoin = off
    SET enable_seqscan = off AS $$
BEGIN
    IF kind = 'a' THEN
        RETURN QUERY SELECT b.i, s.users FROM stats_day_blocks(tz, d0, n) b
            JOIN activity_sets s ON s.level = b.level AND s.event_type = ty
                AND s.bucket = b.bucket;
    ELSE
        RETURN QUERY SELECT b.i, s.users FROM stats_day_blocks(tz, d0, n) b
            JOIN cohort_sets s ON s.level = b.level AND s.event_type = ty
                AND s.bucket = b.bucket;
    END IF;
END $$;

-- Top event types over local days d0 .. d0 + n - 1.
CREATE FUNCTION stats_top(tz text, d0 date, n integer, lim integer)
RETURNS TABLE (event_type text, events bigint)
LANGUAGE sql STABLE SET enable_hashjoin = off SET enable_mergejoin = off
    SET enable_seqscan = off AS $$
    SELECT t.event_type, sum(t.events)::bigint AS n
    FROM stats_day_blocks(tz, d0, n) b
    JOIN type_counts t ON t.level = b.level AND t.bucket = b.bucket
    GROUP BY t.event_type ORDER BY n DESC, t.event_type COLLATE "C" LIMIT lim
$$;

-- Folds the pending events stored in pages p_page .. p_page + p_pages - 1 of
-- analytics_pending into the summaries (a TID range: read in one linear pass, however many
-- rows). Returns first a row of kind 'n' whose bucket is the page to go on from, or -1 when
-- this window reached the end of the table (no rows at all: nothing pending), then every
-- bitmap row to edit, with the user keys to take out and to put in ('' for a row not yet
-- stored); the caller stores the edited bitmaps with analytics_store in the same transaction.
-- A pending row committed before a call starts is in a page below the table's size then, so
-- a caller that goes on until -1 has folded every event stored before it started.
CREATE FUNCTION analytics_compact(p_page integer, p_pages integer)
RETURNS TABLE (kind "char", level smallint, event_type text, bucket integer, users bytea,
               rm integer[], add integer[])
LANGUAGE plpgsql SET jit = off AS $$
#variable_conflict use_column
DECLARE
    taken integer;
    last integer;
    e_user text[]; e_q integer[]; e_type text[];
    n_key integer[]; n_q integer[]; n_type text[];
    m_key integer[]; m_type text[]; m_old integer[]; m_new integer[];
BEGIN
    -- a pending row another compactor is taking still shows here: wait for it below
    IF NOT EXISTS (SELECT FROM analytics_pending) THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(analytics_lock_key());
    last := pg_relation_size('analytics_pending') / current_setting('block_size')::integer;
    WITH d AS (
        DELETE FROM analytics_pending p
        WHERE p.ctid >= format('(%s,0)', p_page)::tid
            AND p.ctid < format('(%s,0)', p_page + p_pages)::tid
        RETURNING p.user_id, p.q, p.event_type
    )
    SELECT count(*), array_agg(d.user_id), array_agg(d.q), array_agg(d.event_type)
    INTO taken, e_user, e_q, e_type FROM d;
    kind := 'n';
    bucket := CASE WHEN p_page + p_pages >= last THEN -1 ELSE p_page + p_pages END;
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
-- analytics_erase handed out in this transaction.
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
$$;

-- Erasure, after erase_user(p_user, ...) in the same transaction: forgets the user's key and
-- first quarters, takes its folded events out of type_counts, and returns every set row that
-- can hold the key (to edit and store as analytics_compact's).
CREATE FUNCTION analytics_erase(p_user text)
RETURNS TABLE (kind "char", level smallint, event_type text, bucket integer, users bytea,
               rm integer[], add integer[])
LANGUAGE plpgsql SET jit = off AS $$
#variable_conflict use_column
DECLARE
    k integer;
    d_q integer[]; d_type text[]; d_n bigint[];
BEGIN
    PERFORM pg_advisory_xact_lock(analytics_lock_key());
    DELETE FROM user_keys u WHERE u.user_id = p_user COLLATE "C" RETURNING u.ukey INTO k;
    -- the user's folded events per (quarter, type): its deleted events (erase_user's DELETE
    -- and earlier prunes put them in pruned_quarters) less those still pending
    WITH p AS (
        DELETE FROM analytics_pending x WHERE x.user_id = p_user COLLATE "C"
        RETURNING x.q, x.event_type
    ), g AS (
        DELETE FROM pruned_quarters x WHERE x.user_id = p_user COLLATE "C"
        RETURNING x.q, x.event_type, x.events
    ), f AS (
        SELECT a.q, a.ty, sum(a.n)::bigint AS n FROM (
            SELECT g.q, g.event_type AS ty, g.events AS n FROM g
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

CREATE TRIGGER analytics_pending AFTER INSERT ON events
    REFERENCING NEW TABLE AS fresh FOR EACH STATEMENT EXECUTE FUNCTION analytics_note_insert();
CREATE TRIGGER analytics_pruned AFTER DELETE ON events
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION analytics_note_delete();

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
