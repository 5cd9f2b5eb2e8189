-- 0005_analytics: statistics in any time zone, per event type, over rolling windows, and
-- retention from a start event to a return event, answered from summaries (ADR 3).
--
-- Every zone offset in use is a multiple of 15 minutes, so a local day is a union of
-- 15-minute UTC "quarters" (q = floor(epoch / 900)). Sets of users are kept per aligned block
-- of quarters at three levels (1 quarter, 4 = an hour, 24 = six hours): a local day is the
-- union of at most ~12 blocks, whatever the zone. A set is a Roaring bitmap of dense user keys
-- (users.ukey), serialized in the portable format; the database only stores the bytes, the
-- worker (fcgi/core/userset.c) reads, unions and counts them, and the writer edits them.
--
--   activity_sets  (level, event_type, bucket, stripe): users with an event of that type in
--                  the block; event_type '' = any type
--   cohort_sets    same key: users whose FIRST event (of that type; '' = any) is in the block
--   type_counts    events per (level, bucket, type), striped like daily_event_types
--   user_firsts    each user's first quarter, overall ('') and per event type
--
-- Writers (ingest, after ingest_merge, in the same transaction) call analytics_collect(),
-- which returns the rows to edit, locked, with the keys to add and remove; the writer edits
-- the bitmaps and hands them back to analytics_store(). Lock order, after ingest_merge's:
-- user_firsts, type_counts, cohort_sets, activity_sets, each in key order; so concurrent
-- writers never deadlock. Stripes (the writer's) keep concurrent writers of the same block
-- apart; readers union the stripes. A late event that moves a user's first quarter removes
-- the key from the old cohort block (every stripe) and adds it to the new one.

CREATE SEQUENCE user_key_seq AS integer;
ALTER TABLE users ADD COLUMN ukey integer;

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
    stripe     smallint NOT NULL,
    events     bigint   NOT NULL,
    PRIMARY KEY (level, bucket, event_type, stripe)
);

CREATE TABLE activity_sets (
    level      smallint NOT NULL,
    event_type text     COLLATE "C" NOT NULL,
    bucket     integer  NOT NULL,
    stripe     smallint NOT NULL,
    users      bytea    NOT NULL,
    PRIMARY KEY (level, event_type, bucket, stripe)
);
CREATE TABLE cohort_sets (LIKE activity_sets INCLUDING ALL);

-- Rows the worker still has to fill from the stored events (migrate runs the backfill).
CREATE TABLE analytics_backfill (pending boolean PRIMARY KEY);
INSERT INTO analytics_backfill VALUES (true);

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

-- The sets of local days d0 .. d0 + n - 1: (day index, a bitmap), several rows per day (one
-- per block and stripe) that the reader unions. kind 'a' = activity_sets, 'c' = cohort_sets.
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

-- The summaries' part of a write, after ingest_merge in the same transaction: the events this
-- transaction stored are those of ingest_stage whose row it created (xmin). Returns every
-- bitmap row to edit (locked), with the user keys to take out and to put in; the caller
-- stores the edited bitmaps with analytics_store.
CREATE FUNCTION analytics_collect(p_stripe integer)
RETURNS TABLE (kind "char", level smallint, event_type text, bucket integer, stripe smallint,
               users bytea, rm integer[], add integer[])
LANGUAGE plpgsql SET jit = off AS $$
#variable_conflict use_column
DECLARE
    e_user text[]; e_q integer[]; e_type text[]; k_new text[];
    n_key integer[]; n_q integer[]; n_type text[];
    m_key integer[]; m_type text[]; m_old integer[]; m_new integer[];
BEGIN
    -- the events this transaction stored (a repeated id in the stage counts once)
    SELECT array_agg(e.user_id), array_agg(floor(extract(epoch FROM e.occurred_at) / 900)::integer),
           array_agg(e.event_type)
    INTO e_user, e_q, e_type
    FROM (SELECT DISTINCT event_id FROM ingest_stage) s
    CROSS JOIN LATERAL (SELECT x.user_id, x.occurred_at, x.event_type FROM events x
                        WHERE x.event_id = s.event_id AND x.xmin = pg_current_xact_id()::xid
                        OFFSET 0) e;
    IF e_user IS NULL THEN
        RETURN;
    END IF;

    -- dense keys for users seen for the first time. Only rows this transaction inserted can
    -- lack one (a committed writer gave its own); found by a plain read first, so that the
    -- UPDATE never waits for a row another writer holds (that wait, after ingest_merge's later
    -- locks, could close a cycle)
    SELECT array_agg(u.user_id) INTO k_new FROM users u
    WHERE u.user_id = ANY (e_user) AND u.ukey IS NULL;
    IF k_new IS NOT NULL THEN
        UPDATE users u SET ukey = nextval('user_key_seq')
        WHERE u.user_id = ANY (k_new) AND u.ukey IS NULL;
    END IF;

    SELECT array_agg(k.ukey), array_agg(t.q), array_agg(t.ty) INTO n_key, n_q, n_type
    FROM unnest(e_user, e_q, e_type) t(u, q, ty)
    CROSS JOIN LATERAL (SELECT x.ukey FROM users x WHERE x.user_id = t.u COLLATE "C" OFFSET 0) k;

    -- first quarters: lock every (user, type) and (user, any) touched, in key order, then
    -- keep those that move earlier or are new
    WITH cand AS (
        SELECT k, ty, min(q) AS q FROM (
            SELECT k, ty, q FROM unnest(n_key, n_type, n_q) t(k, ty, q)
            UNION ALL SELECT k, '', q FROM unnest(n_key, n_q) t(k, q)) a
        GROUP BY k, ty
    ), lk AS (
        INSERT INTO user_firsts AS f (ukey, event_type, first_q)
        SELECT k, ty, q FROM cand ORDER BY k, ty COLLATE "C"
        ON CONFLICT (ukey, event_type) DO UPDATE SET first_q = f.first_q
        RETURNING f.ukey, f.event_type, f.first_q, f.xmax = 0 AS fresh
    )
    SELECT array_agg(c.k), array_agg(c.ty), array_agg(CASE WHEN lk.fresh THEN NULL ELSE lk.first_q END),
           array_agg(c.q)
    INTO m_key, m_type, m_old, m_new
    FROM cand c JOIN lk ON lk.ukey = c.k AND lk.event_type = c.ty COLLATE "C"
    WHERE lk.fresh OR c.q < lk.first_q;

    UPDATE user_firsts f SET first_q = m.q
    FROM unnest(m_key, m_type, m_new) m(k, ty, q)
    WHERE f.ukey = m.k AND f.event_type = m.ty COLLATE "C" AND f.first_q > m.q;

    INSERT INTO type_counts AS c (level, bucket, event_type, stripe, events)
    SELECT l.l, qblock(t.q, l.l), t.ty, p_stripe, count(*)
    FROM unnest(n_q, n_type) t(q, ty) CROSS JOIN (VALUES (1), (4), (24)) l(l)
    GROUP BY 1, 2, 3 ORDER BY 1, 2, t.ty COLLATE "C"
    ON CONFLICT (level, bucket, event_type, stripe) DO UPDATE SET events = c.events + EXCLUDED.events;

    -- cohort edits: add at the new first block (this stripe), take out of the old one (every
    -- stripe that has a row there; none can gain this user meanwhile: we hold its firsts)
    RETURN QUERY
    WITH ed AS (
        SELECT l.l::smallint AS lv, m.ty, qblock(m.q, l.l) AS b, p_stripe::smallint AS st,
               NULL::integer AS r, m.k AS a
        FROM unnest(m_key, m_type, m_new) m(k, ty, q) CROSS JOIN (VALUES (1), (4), (24)) l(l)
        UNION ALL
        SELECT l.l::smallint, m.ty, qblock(m.o, l.l), x.stripe, m.k, NULL
        FROM unnest(m_key, m_type, m_old) m(k, ty, o) CROSS JOIN (VALUES (1), (4), (24)) l(l)
        CROSS JOIN LATERAL (SELECT c.stripe FROM cohort_sets c WHERE c.level = l.l
                            AND c.event_type = m.ty COLLATE "C" AND c.bucket = qblock(m.o, l.l)
                            OFFSET 0) x
        WHERE m.o IS NOT NULL
    ), g AS (
        SELECT lv, ty, b, st, array_agg(r) FILTER (WHERE r IS NOT NULL) AS r,
               array_agg(a) FILTER (WHERE a IS NOT NULL) AS a
        FROM ed GROUP BY lv, ty, b, st
    ), up AS (
        INSERT INTO cohort_sets AS c (level, event_type, bucket, stripe, users)
        SELECT lv, ty, b, st, '' FROM g ORDER BY lv, ty COLLATE "C", b, st
        ON CONFLICT (level, event_type, bucket, stripe) DO UPDATE SET users = c.users
        RETURNING c.level, c.event_type, c.bucket, c.stripe, c.users
    )
    SELECT 'c'::"char", up.level, up.event_type, up.bucket, up.stripe, up.users, g.r, g.a
    FROM up JOIN g ON (g.lv, g.ty, g.b, g.st) = (up.level, up.event_type COLLATE "C", up.bucket, up.stripe);

    -- activity edits: every (block, type) and (block, any) of the new events, this stripe
    RETURN QUERY
    WITH g AS (
        SELECT l.l::smallint AS lv, x.ty, qblock(x.q, l.l) AS b,
               array_agg(DISTINCT x.k) AS a
        FROM (SELECT k, ty, q FROM unnest(n_key, n_type, n_q) t(k, ty, q)
              UNION ALL SELECT k, '', q FROM unnest(n_key, n_q) t(k, q)) x
        CROSS JOIN (VALUES (1), (4), (24)) l(l)
        GROUP BY 1, 2, 3
    ), up AS (
        INSERT INTO activity_sets AS s (level, event_type, bucket, stripe, users)
        SELECT lv, ty, b, p_stripe, '' FROM g ORDER BY lv, ty COLLATE "C", b
        ON CONFLICT (level, event_type, bucket, stripe) DO UPDATE SET users = s.users
        RETURNING s.level, s.event_type, s.bucket, s.users
    )
    SELECT 'a'::"char", up.level, up.event_type, up.bucket, p_stripe::smallint, up.users,
           NULL::integer[], g.a
    FROM up JOIN g ON (g.lv, g.ty, g.b) = (up.level, up.event_type COLLATE "C", up.bucket);
END $$;

-- Stores the edited bitmaps (hex of the portable serialization): rows analytics_collect
-- locked in this transaction, or the backfill's new rows.
CREATE FUNCTION analytics_store(kinds "char"[], levels smallint[], types text[], buckets integer[],
                                stripes smallint[], hex text[]) RETURNS void
LANGUAGE sql SET jit = off AS $$
    INSERT INTO activity_sets AS s (level, event_type, bucket, stripe, users)
    SELECT v.l, v.t, v.b, v.st, decode(v.h, 'hex')
    FROM unnest(kinds, levels, types, buckets, stripes, hex) v(k, l, t, b, st, h)
    WHERE v.k = 'a'
    ON CONFLICT (level, event_type, bucket, stripe) DO UPDATE SET users = EXCLUDED.users;
    INSERT INTO cohort_sets AS s (level, event_type, bucket, stripe, users)
    SELECT v.l, v.t, v.b, v.st, decode(v.h, 'hex')
    FROM unnest(kinds, levels, types, buckets, stripes, hex) v(k, l, t, b, st, h)
    WHERE v.k = 'c'
    ON CONFLICT (level, event_type, bucket, stripe) DO UPDATE SET users = EXCLUDED.users;
$$;

-- Data stored before this migration: keys and first quarters here; the bitmaps from them are
-- written by `migrate` (analytics_backfill_rows below, then analytics_store) before anything
-- else runs.
LOCK TABLE events, users IN SHARE ROW EXCLUSIVE MODE;

UPDATE users u SET ukey = k.n
FROM (SELECT user_id, nextval('user_key_seq') AS n FROM users ORDER BY user_id) k
WHERE u.user_id = k.user_id;

INSERT INTO user_firsts (ukey, event_type, first_q)
SELECT u.ukey, a.ty, a.q FROM (
    SELECT user_id, event_type AS ty, min(floor(extract(epoch FROM occurred_at) / 900))::integer AS q
    FROM events GROUP BY user_id, event_type
    UNION ALL
    SELECT user_id, '', min(floor(extract(epoch FROM occurred_at) / 900))::integer
    FROM events GROUP BY user_id) a
JOIN users u ON u.user_id = a.user_id;

INSERT INTO type_counts (level, bucket, event_type, stripe, events)
SELECT l.l, qblock(floor(extract(epoch FROM e.occurred_at) / 900)::integer, l.l), e.event_type,
       0, count(*)
FROM events e CROSS JOIN (VALUES (1), (4), (24)) l(l)
GROUP BY 1, 2, 3;

-- The bitmaps' contents for the stored data, one row per set: migrate serializes them.
CREATE FUNCTION analytics_backfill_rows()
RETURNS TABLE (kind "char", level smallint, event_type text, bucket integer, stripe smallint,
               users bytea, rm integer[], add integer[])
LANGUAGE sql SET jit = off AS $$
    SELECT 'a'::"char", l.l::smallint, x.ty, qblock(x.q, l.l), 0::smallint, ''::bytea,
           NULL::integer[], array_agg(DISTINCT x.k)
    FROM (SELECT u.ukey AS k, e.event_type AS ty,
                 floor(extract(epoch FROM e.occurred_at) / 900)::integer AS q
          FROM events e JOIN users u ON u.user_id = e.user_id
          UNION ALL
          SELECT u.ukey, '', floor(extract(epoch FROM e.occurred_at) / 900)::integer
          FROM events e JOIN users u ON u.user_id = e.user_id) x
    CROSS JOIN (VALUES (1), (4), (24)) l(l)
    GROUP BY 2, 3, 4
    UNION ALL
    SELECT 'c', l.l::smallint, f.event_type, qblock(f.first_q, l.l), 0::smallint, ''::bytea,
           NULL, array_agg(f.ukey)
    FROM user_firsts f CROSS JOIN (VALUES (1), (4), (24)) l(l)
    GROUP BY 2, 3, 4
$$;
