-- 0005_lifecycle: erasing a user (DELETE /users/{user_id}) and a raw-data horizon
-- (RAW_RETENTION_DAYS).
--
-- Erasure: erase_user() removes one user from the store and every summary.
--
-- events gets an index on user_id: erasing a user (and GET /events/export?user_id=) must find
-- the user's events without reading the whole table.
--
-- erase_user(user, stripe) is the inverse of what ingest_merge did for that user, computed
-- from what is stored about the user (its events, its user_days rows, its first day):
--   daily_users        -1 on each of the user's days
--   daily_event_types  -(the user's events, stored and pruned) on each (day, type)
--   retention_cells    -1 on each cell the user counts in: (1, first day, day) for each of
--                      its days, and for period 7 each week bucket its days open (as the 0003
--                      backfill counts them)
--   user_days, users   the user's rows deleted; events: the user's rows deleted
-- The negative deltas go to the caller's stripe, as ingest's positive ones do: readers sum
-- the stripes. A (day, event type) whose stripes then sum to 0 is deleted (top events lists
-- every type it finds); zero sums elsewhere read as the zeros they are. Afterwards every
-- summary equals a recomputation from the events left.
--
-- Lock order shared with ingest: ingest_merge's first statement inserts into events (ROW
-- EXCLUSIVE on the table, held to its commit); erase_user's first statement takes SHARE ROW
-- EXCLUSIVE on events, which conflicts with it and with itself. So an erasure waits for the
-- merges in flight to commit, merges that start meanwhile wait at their first insert, and two
-- erasures run one after the other: nothing else writes a summary while one runs, no row of a
-- summary is locked by one before the other, and a merge of the same user either committed
-- before (its events are erased with the rest) or starts after (its events are new). Reads
-- do not conflict with the lock: the statistics routes go on answering. Erasures are rare
-- and short (one index scan of the user's events), so the pause they give ingest is short.
CREATE INDEX IF NOT EXISTS events_user_id ON events (user_id);

-- Horizon: raw events past RAW_RETENTION_DAYS are removed while every statistic keeps
-- answering for those days. The summaries are kept as they are; only rows of events go. One
-- thing the summaries cannot give back is how many events of each type a user had on a day,
-- which an erasure must take out of daily_event_types: pruned_user_types keeps it, per (user,
-- day, type), for the pruned events.
--
-- prune_raw_events(days, batch) deletes up to batch events older than the horizon (now() -
-- days days, less an hour of slack for a worker clock a little behind the database's) and
-- adds them to pruned_user_types, in one transaction; the caller repeats it until it returns
-- 0. A pruned event can never be stored again: the service rejects an event older than the
-- horizon (422), and the horizon only moves forward. Its DELETE conflicts with erase_user's
-- table lock, so a prune batch and an erasure run one after the other.
--
-- events_occurred_at finds the old events without reading the whole table (and gives
-- GET /events/export its order without a sort).
CREATE INDEX IF NOT EXISTS events_occurred_at ON events (occurred_at, event_id);

CREATE TABLE pruned_user_types (
    user_id    text COLLATE "C" NOT NULL,
    day        date NOT NULL,
    event_type text COLLATE "C" NOT NULL,
    events     bigint NOT NULL,
    PRIMARY KEY (user_id, day, event_type)
);

CREATE FUNCTION prune_raw_events(p_days integer, p_batch integer) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    n bigint;
    e_user text[]; e_day date[]; e_type text[];
BEGIN
    WITH old AS (
        SELECT event_id FROM events
        WHERE occurred_at < now() - make_interval(days => p_days) - interval '1 hour'
        ORDER BY occurred_at, event_id LIMIT p_batch
    ), del AS (
        DELETE FROM events e USING old WHERE e.event_id = old.event_id
        RETURNING e.user_id, e.occurred_at, e.event_type
    )
    SELECT count(*), array_agg(user_id), array_agg((occurred_at AT TIME ZONE 'UTC')::date),
           array_agg(event_type)
    INTO n, e_user, e_day, e_type FROM del;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    INSERT INTO pruned_user_types AS p (user_id, day, event_type, events)
    SELECT u, d, ty, count(*) FROM unnest(e_user, e_day, e_type) x(u, d, ty)
    GROUP BY u, d, ty ORDER BY u COLLATE "C", d, ty COLLATE "C"
    ON CONFLICT (user_id, day, event_type) DO UPDATE SET events = p.events + EXCLUDED.events;
    RETURN n;
END $$;

CREATE FUNCTION erase_user(p_user text, p_stripe integer) RETURNS bigint
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
        SELECT 7, retention_bucket(f, b.s), b.s
        FROM (SELECT ud.day, lag(ud.day) OVER (ORDER BY ud.day) AS prev
              FROM user_days ud WHERE ud.user_id = p_user COLLATE "C") d
        CROSS JOIN LATERAL (SELECT d.day - j AS s FROM generate_series(0, 6) j
                            WHERE j <= d.day - greatest(d.day - 6, d.prev + 1)) b
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

REVOKE EXECUTE ON FUNCTION erase_user(text, integer), prune_raw_events(integer, integer)
    FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_writer') THEN
        GRANT EXECUTE ON FUNCTION erase_user(text, integer), prune_raw_events(integer, integer)
            TO events_writer;
        GRANT SELECT, INSERT, UPDATE, DELETE ON pruned_user_types TO events_writer;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_reader') THEN
        GRANT SELECT ON pruned_user_types TO events_reader;
    END IF;
END $$;
