-- 0005_erasure: DELETE /users/{user_id} erases one user from the store and every summary.
--
-- events gets an index on user_id: erasing a user (and GET /events/export?user_id=) must find
-- the user's events without reading the whole table.
--
-- erase_user(user, stripe) is the inverse of what ingest_merge did for that user, computed
-- from what is stored about the user (its events, its user_days rows, its first day):
--   daily_users        -1 on each of the user's days
--   daily_event_types  -(the user's events) on each (day, type)
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
-- before (its events are erased with the rest) or starts after (its events are new). Nothing
-- reads the table lock: the statistics routes go on answering. Erasures are rare and short
-- (one index scan of the user's events), so the pause they give ingest is short too.
CREATE INDEX IF NOT EXISTS events_user_id ON events (user_id);

CREATE FUNCTION erase_user(p_user text, p_stripe integer) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    n bigint;
    f date;
    e_day date[]; e_type text[];
BEGIN
    LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE;
    SELECT first_day INTO f FROM users WHERE user_id = p_user COLLATE "C";

    WITH del AS (
        DELETE FROM events WHERE user_id = p_user COLLATE "C"
        RETURNING occurred_at, event_type
    )
    SELECT count(*), array_agg((occurred_at AT TIME ZONE 'UTC')::date), array_agg(event_type)
    INTO n, e_day, e_type FROM del;

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
    SELECT d, ty, p_stripe, -count(*) FROM unnest(e_day, e_type) x(d, ty)
    GROUP BY d, ty ORDER BY d, ty COLLATE "C"
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

REVOKE EXECUTE ON FUNCTION erase_user(text, integer) FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'events_writer') THEN
        GRANT EXECUTE ON FUNCTION erase_user(text, integer) TO events_writer;
    END IF;
END $$;
