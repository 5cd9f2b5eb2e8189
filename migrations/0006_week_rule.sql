-- 0006_week_rule: the week-bucket rule of retention in one function.
--
-- 0003 wrote the rule inline twice (the merge's incremental path and its backfill) and 0005's
-- erase_user a third time. A migration that has run cannot change, so its backfill keeps its
-- text; everything that runs from now on (ingest_merge, erase_user, and any later summary
-- code) takes the rule from retention_week_starts(). Behaviour is unchanged: the functions are
-- replaced with the same statements, the rule now called instead of spelled out.

-- A week bucket is the 7 days [s, s + 6] starting at any day s (every phase is kept), and a
-- user counts in it once, at the earliest of the user's days in it. So the user's day d opens
-- the buckets s with d - 6 <= s <= d that hold no earlier day of the user (s > prev, prev =
-- the user's latest day before d) and not the day next (s + 7 <= next, next = a later day of
-- the user whose buckets are already counted; NULL when there is none to respect).
-- Buckets come from generate_series(0, 6) filtered, not from computed bounds: the planner
-- then expects a few rows, not 1 000, and does not zero a huge hash table per statement. A
-- one-SELECT SQL function, not STRICT: the planner inlines it into the calling statement.
CREATE FUNCTION retention_week_starts(d date, prev date, next date) RETURNS SETOF date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT d - j FROM generate_series(0, 6) j
    WHERE (prev IS NULL OR d - j > prev) AND (next IS NULL OR d - j + 7 <= next)
$$;

-- The merge of 0003, its week buckets from retention_week_starts().
CREATE OR REPLACE FUNCTION ingest_merge(p_stripe integer, p_skip_stored boolean) RETURNS bigint
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

-- The erasure of 0005, its week buckets from retention_week_starts(). (Its grants stay: CREATE
-- OR REPLACE keeps a function's privileges.)
CREATE OR REPLACE FUNCTION erase_user(p_user text, p_stripe integer) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    n bigint;
    f date;
    e_day date[]; e_type text[]; e_n bigint[];
BEGIN
    LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE;
    SELECT first_day INTO f FROM users WHERE user_id = p_user COLLATE "C";

    -- the user's events per (day, type): the stored ones (deleted here) and the pruned ones
    WITH del AS (
        DELETE FROM events WHERE user_id = p_user COLLATE "C"
        RETURNING occurred_at, event_type
    ), pruned AS (
        DELETE FROM pruned_user_types WHERE user_id = p_user COLLATE "C"
        RETURNING day, event_type, events
    ), all_events (day, event_type, events) AS (
        SELECT (occurred_at AT TIME ZONE 'UTC')::date, event_type, 1::bigint FROM del
        UNION ALL
        SELECT day, event_type, events FROM pruned
    ), g AS (
        SELECT day, event_type, sum(events)::bigint AS events FROM all_events GROUP BY 1, 2
    )
    SELECT (SELECT count(*) FROM del), array_agg(day), array_agg(event_type), array_agg(events)
    INTO n, e_day, e_type, e_n FROM g;

    IF f IS NULL THEN
        RETURN n; -- no summary holds the user
    END IF;

    INSERT INTO daily_users AS d (day, stripe, users)
    SELECT day, p_stripe, -1 FROM user_days WHERE user_id = p_user COLLATE "C" ORDER BY day
    ON CONFLICT (day, stripe) DO UPDATE SET users = d.users + EXCLUDED.users;

    INSERT INTO retention_cells AS c (period, cohort, active, stripe, users)
    SELECT period, cohort, active, p_stripe, -count(*) FROM (
        SELECT 1 AS period, f AS cohort, ud.day AS active
        FROM user_days ud WHERE ud.user_id = p_user COLLATE "C"
        UNION ALL
        SELECT 7, retention_bucket(f, s), s
        FROM (SELECT ud.day, lag(ud.day) OVER (ORDER BY ud.day) AS prev
              FROM user_days ud WHERE ud.user_id = p_user COLLATE "C") d
        CROSS JOIN LATERAL retention_week_starts(d.day, d.prev, NULL) s
    ) x
    GROUP BY period, cohort, active ORDER BY period, cohort, active
    ON CONFLICT (period, cohort, active, stripe) DO UPDATE SET users = c.users + EXCLUDED.users;

    INSERT INTO daily_event_types AS t (day, event_type, stripe, events)
    SELECT d, ty, p_stripe, -k FROM unnest(e_day, e_type, e_n) x(d, ty, k)
    ORDER BY d, ty COLLATE "C"
    ON CONFLICT (day, event_type, stripe) DO UPDATE SET events = t.events + EXCLUDED.events;
    -- A (day, type) left with no event at all must not show in top events as a count of 0.
    DELETE FROM daily_event_types t
    USING (SELECT day, event_type FROM daily_event_types
           WHERE (day, event_type) IN (SELECT d, ty FROM unnest(e_day, e_type) x(d, ty))
           GROUP BY day, event_type HAVING sum(events) = 0) z
    WHERE t.day = z.day AND t.event_type = z.event_type;

    DELETE FROM user_days WHERE user_id = p_user COLLATE "C";
    DELETE FROM users WHERE user_id = p_user COLLATE "C";
    RETURN n;
END $$;

