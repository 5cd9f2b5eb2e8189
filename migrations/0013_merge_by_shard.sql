-- 0013_merge_by_shard: on a Citus cluster the merge writes events, user_days and users one
-- shard at a time, in shard order (ADR 6). Each write was one statement over every shard:
-- Citus runs its tasks in shard order on each worker but the workers at the same time, so two
-- merges could take rows on two workers in opposite orders (distributed deadlocks, cancelled
-- by Citus and retried by the service, 503 after the third); and it copied each shard's rows
-- over a connection of their own (new backends on the workers for every batch). Now each
-- statement goes to one shard, every merge takes its row locks in one cluster-wide order
-- (table, shard, key), and one connection per worker carries them. The rows' shards are read
-- once per batch (get_shard_id_for_distribution_column); only shards with rows are visited.
-- The rest of the merge is 0011's. One node (ingest_merge_single) is unchanged.

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
    -- 0013: rows to write with the shard each goes to, and one shard's results
    this_sh bigint; b_sh bigint[]; b_user text[]; b_day date[];
    n1 bigint; a_day date[]; a_user text[]; a_type text[]; a_q integer[];
    s_user text[]; s_day date[];
BEGIN
    -- The batch (first of each event_id), each row with its events shard, into a table of
    -- the session (a local copy; the statements that go to the shards then read it as they
    -- read ingest_stage before: an array passed to a distributed statement is handed over
    -- as its value, once per statement).
    IF to_regclass('pg_temp.merge_events') IS NULL THEN
        CREATE TEMP TABLE merge_events (
            sh bigint, event_id uuid, occurred_at timestamptz, user_id text COLLATE "C",
            event_type text COLLATE "C", properties jsonb
        ) ON COMMIT DELETE ROWS;
    END IF;
    INSERT INTO merge_events
    SELECT get_shard_id_for_distribution_column('events', s.event_id), s.event_id,
           s.occurred_at, s.user_id, s.event_type, s.properties
    FROM (SELECT DISTINCT ON (x.event_id) x.* FROM ingest_stage x ORDER BY x.event_id, x.ord) s;
    n := 0; e_day := '{}'; e_user := '{}'; e_type := '{}'; e_q := '{}';
    FOR this_sh IN SELECT DISTINCT m.sh FROM merge_events m ORDER BY 1 LOOP
        WITH ins AS (
            INSERT INTO events (event_id, occurred_at, user_id, event_type, properties)
            SELECT m.event_id, m.occurred_at, m.user_id, m.event_type, m.properties
            FROM merge_events m WHERE m.sh = this_sh ORDER BY m.event_id
            ON CONFLICT (event_id) DO NOTHING
            RETURNING occurred_at, user_id, event_type
        )
        SELECT count(*), array_agg((occurred_at AT TIME ZONE 'UTC')::date), array_agg(user_id),
               array_agg(event_type),
               array_agg(floor(extract(epoch FROM occurred_at) / 900)::integer)
        INTO n1, a_day, a_user, a_type, a_q FROM ins;
        IF n1 > 0 THEN
            n := n + n1; e_day := e_day || a_day; e_user := e_user || a_user;
            e_type := e_type || a_type; e_q := e_q || a_q;
        END IF;
    END LOOP;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    -- 0011: the new events wait here for the next fold into the zone-aware summaries
    INSERT INTO analytics_pending (user_id, q, event_type)
    SELECT * FROM unnest(e_user, e_q, e_type);

    SELECT array_agg(get_shard_id_for_distribution_column('user_days', t.u) ORDER BY t.u, t.d),
           array_agg(t.u ORDER BY t.u, t.d), array_agg(t.d ORDER BY t.u, t.d)
    INTO b_sh, b_user, b_day
    FROM (SELECT DISTINCT u COLLATE "C" AS u, d FROM unnest(e_user, e_day) x(u, d)) t;
    p_user := '{}'; p_day := '{}';
    FOR this_sh IN SELECT DISTINCT x FROM unnest(b_sh) x ORDER BY x LOOP
        SELECT array_agg(u), array_agg(d) INTO s_user, s_day
        FROM unnest(b_sh, b_user, b_day) z(s, u, d) WHERE z.s = this_sh;
        WITH p AS (
            INSERT INTO user_days (user_id, day)
            SELECT u, d FROM unnest(s_user, s_day) z(u, d) ORDER BY u COLLATE "C", d
            ON CONFLICT DO NOTHING
            RETURNING user_id, day
        )
        SELECT array_agg(user_id), array_agg(day) INTO a_user, a_day FROM p;
        IF a_user IS NOT NULL THEN
            p_user := p_user || a_user; p_day := p_day || a_day;
        END IF;
    END LOOP;

    SELECT array_agg(get_shard_id_for_distribution_column('users', t.u) ORDER BY t.u),
           array_agg(t.u ORDER BY t.u), array_agg(t.f ORDER BY t.u)
    INTO b_sh, b_user, b_day
    FROM (SELECT u COLLATE "C" AS u, min(d) AS f FROM unnest(p_user, p_day) x(u, d) GROUP BY 1) t;
    FOR this_sh IN SELECT DISTINCT x FROM unnest(b_sh) x ORDER BY x LOOP
        SELECT array_agg(u), array_agg(f) INTO s_user, s_day
        FROM unnest(b_sh, b_user, b_day) z(s, u, f) WHERE z.s = this_sh;
        WITH u AS (
            INSERT INTO users AS x (user_id, first_day)
            SELECT u, f FROM unnest(s_user, s_day) z(u, f) ORDER BY u COLLATE "C"
            ON CONFLICT (user_id) DO UPDATE SET first_day = EXCLUDED.first_day
                WHERE EXCLUDED.first_day < x.first_day
            RETURNING x.user_id, x.first_day
        )
        SELECT array_agg(user_id), array_agg(first_day) INTO a_user, a_day FROM u;
        IF a_user IS NOT NULL THEN
            r_user := coalesce(r_user, '{}') || a_user; r_first := coalesce(r_first, '{}') || a_day;
        END IF;
    END LOOP;

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
