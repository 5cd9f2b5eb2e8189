-- 0003_retention_cells: retention answered from a summary in O(windows) rows.
--
-- Until now /stats/retention joined the cohort's users with their user_days: O(cohort size x
-- active days), 25 answers/s for 12 weeks at 10M events. retention_cells holds, for each
-- period length (1 = day, 7 = week), cohort bucket and activity bucket, how many users of the
-- cohort were active in that bucket (striped like daily_users; readers sum the stripes):
--
--   period 1: cohort = the user's first day f,            active = a day the user had events
--   period 7: cohort = the 7-day bucket [c, c+7) holding f, active = a 7-day bucket [a, a+7)
--             in which the user had events, with c and a in the same phase (c = a mod 7)
--
-- A week of the API starts on any day, so buckets of all 7 phases are kept: a day x lies in
-- the 7 buckets starting at x-6 .. x, one per phase. GET /stats/retention?start_date=S reads
-- the cells (p, S, S + k*p) for k = 0..windows; window 0 is the cohort size.
--
-- ingest_merge maintains the cells in the ingest transaction from the new (user, day) pairs
-- only, holding the lock of each affected users row (taken in user_id order) so that the
-- stored days it reads cannot change under it:
--   * a user whose first day did not move gains the day cells of its new days, and the week
--     buckets that only its new days fill (found from the stored days within 6 days of each
--     new day);
--   * a new user, or one whose first day moved earlier (a late event), has all of its cells
--     recomputed: the old ones are subtracted from the old cohort and added to the new one.
-- A week bucket is counted at the earliest of the user's days in it, so no DISTINCT is needed.
-- Lock order: events, user_days, users, then daily_users, retention_cells, daily_event_types,
-- each in key order, so concurrent merges cannot deadlock. Every users row with a new day is
-- now locked (0002 touched only those that moved), which is what makes the reads consistent.

-- Upgrading a live database: merges already under way finish before this migration goes on
-- (so the backfill at the end sees them); merges that start meanwhile wait here. A merge call
-- that began before the commit still runs the 0002 body, which knows nothing of the cells:
-- user_days_guard below makes it fail with a serialization failure, which every writer
-- retries as a new call (running the new body). Old readers of users wait for the commit.
LOCK TABLE events, user_days, users IN SHARE ROW EXCLUSIVE MODE;

-- user_days is written only by ingest_merge(), which says so for its transaction; anything
-- else (an older merge body, a hand-written INSERT) would leave the summaries behind. To write
-- it by hand anyway: SET LOCAL events.merge_version = '3', then maintain every summary.
CREATE FUNCTION ingest_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('events.merge_version', true) IS DISTINCT FROM '3' THEN
        RAISE EXCEPTION 'user_days is written by ingest_merge() only; retry the call'
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER user_days_guard BEFORE INSERT ON user_days
    FOR EACH STATEMENT EXECUTE FUNCTION ingest_guard();

-- The bucket of phase s (mod 7) that holds day f.
CREATE FUNCTION retention_bucket(f date, s date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT f - (((f - s) % 7) + 7) % 7 $$;

CREATE TABLE retention_cells (
    period smallint NOT NULL CHECK (period IN (1, 7)),
    cohort date     NOT NULL,
    active date     NOT NULL,
    stripe smallint NOT NULL,
    users  bigint   NOT NULL,
    PRIMARY KEY (period, cohort, active, stripe)
);

-- Nothing reads users by first day any more.
DROP INDEX IF EXISTS users_first_day;

-- Only the COPY target stays a temp table. The merge's intermediate sets (new events, new
-- pairs, rebuilt users) now live in plpgsql arrays: every ON COMMIT DELETE ROWS table (and its
-- TOAST table and index) is truncated at each commit, and with five of them that was a fifth
-- of PostgreSQL's CPU time for single-event requests.
CREATE OR REPLACE FUNCTION ingest_session_init() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS ingest_stage (
        event_id uuid, occurred_at timestamptz, user_id text COLLATE "C",
        event_type text COLLATE "C", properties jsonb, ord bigint
    ) ON COMMIT DELETE ROWS;
END $$;

-- p_skip_stored: look up every staged id first and leave out those already stored (loaders:
-- a file loaded again goes about twice as fast), or let ON CONFLICT find them (live traffic:
-- one index probe less per new event, ~15 % more events/s in batches of 1 000). The result is
-- the same. jit = off: the planner knows nothing of the staging table's size, and its
-- guesses made it compile statements (0.6 s per 50 000-row batch, more than the work).
CREATE FUNCTION ingest_merge(p_stripe integer, p_skip_stored boolean) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    n bigint;
    e_day date[]; e_user text[]; e_type text[];   -- the events that were new
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
           array_agg(event_type)
    INTO n, e_day, e_user, e_type FROM ins;
    IF n = 0 THEN
        RETURN 0;
    END IF;

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
    -- before us. A week bucket is counted once per user, at the earliest of the user's days in
    -- it: day x opens the buckets starting at max(x - 6, previous day + 1) .. x. (Buckets come
    -- from generate_series(0, 6) filtered, not from computed bounds: the planner then expects
    -- a few rows, not 1 000, and does not zero a huge hash table per statement.)
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
        SELECT u.f, d.day,
               greatest(d.day - 6, x.prev_any + 1) AS lo, least(d.day, x.next_old - 7) AS hi
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
    -- Every contribution: a user's day in cohort f, opening the week buckets lo .. hi; sign
    -- -1 takes back what the old cohort of a moved user held.
    contrib (f, day, lo, hi, sign) AS (
        SELECT f, day, lo, hi, 1 FROM nb
        UNION ALL
        SELECT f, day, greatest(day - 6, prev_any + 1), day, 1 FROM q
        UNION ALL
        SELECT old_f, day, greatest(day - 6, prev_old + 1), day, -1 FROM q WHERE old
    ), deltas (period, cohort, active, delta) AS (
        SELECT 1, f, day, sign FROM contrib
        UNION ALL
        SELECT 7, retention_bucket(f, s), s, sign
        FROM contrib CROSS JOIN LATERAL (SELECT day - j AS s FROM generate_series(0, 6) j
                                         WHERE j BETWEEN day - hi AND day - lo) b
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

-- The one-argument form of 0001/0002, for a binary older than this migration.
CREATE OR REPLACE FUNCTION ingest_merge(p_stripe integer) RETURNS bigint LANGUAGE sql
AS $$ SELECT ingest_merge(p_stripe, true) $$;

-- The cells of the data already stored (writers wait at the lock taken at the top).

INSERT INTO retention_cells (period, cohort, active, stripe, users)
SELECT 1, u.first_day, ud.day, 0, count(*)
FROM user_days ud JOIN users u ON u.user_id = ud.user_id
GROUP BY u.first_day, ud.day;

INSERT INTO retention_cells (period, cohort, active, stripe, users)
SELECT 7, retention_bucket(u.first_day, b.s), b.s, 0, count(*)
FROM (SELECT user_id, day, lag(day) OVER (PARTITION BY user_id ORDER BY day) AS prev
      FROM user_days) d
JOIN users u ON u.user_id = d.user_id
CROSS JOIN LATERAL (SELECT d.day - j AS s
                    FROM generate_series(0, 6) j
                    WHERE j <= d.day - greatest(d.day - 6, d.prev + 1)) b
GROUP BY 2, 3;
