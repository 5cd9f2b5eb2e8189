-- 0001_init: the event store and the per-day summaries the stats routes read.
--
-- events is the source of truth; everything else is derived from it at ingest, in the same
-- transaction, from exactly the rows that insert stored (never from duplicates):
--   user_days          one row per (user, UTC day) with at least one event
--   users              each user's first UTC day (moves earlier when a late event arrives)
--   daily_users        distinct users per day, striped: the sum over stripes is the count
--   daily_event_types  events per (day, type), striped the same way
-- Stripes let concurrent writers (one stripe per worker) bump counters without waiting for
-- each other; readers sum them.

CREATE TABLE events (
    event_id    uuid        PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    user_id     text        COLLATE "C" NOT NULL,
    event_type  text        COLLATE "C" NOT NULL,
    properties  jsonb       NOT NULL DEFAULT '{}',
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_occurred_at_brin ON events USING brin (occurred_at);

CREATE TABLE user_days (
    user_id text COLLATE "C" NOT NULL,
    day     date NOT NULL,
    PRIMARY KEY (user_id, day)
);

CREATE TABLE users (
    user_id   text COLLATE "C" PRIMARY KEY,
    first_day date NOT NULL
);
CREATE INDEX users_first_day ON users (first_day);

CREATE TABLE daily_users (
    day    date     NOT NULL,
    stripe smallint NOT NULL,
    users  bigint   NOT NULL,
    PRIMARY KEY (day, stripe)
);

CREATE TABLE daily_event_types (
    day        date     NOT NULL,
    event_type text     COLLATE "C" NOT NULL,
    stripe     smallint NOT NULL,
    events     bigint   NOT NULL,
    PRIMARY KEY (day, event_type, stripe)
);

-- Per-session staging tables, emptied at every commit. A writer fills ingest_stage (COPY)
-- and calls ingest_merge() in the same transaction.
CREATE FUNCTION ingest_session_init() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS ingest_stage (
        event_id uuid, occurred_at timestamptz, user_id text COLLATE "C",
        event_type text COLLATE "C", properties jsonb, ord bigint
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS ingest_new (
        day date, user_id text COLLATE "C", event_type text COLLATE "C"
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS ingest_pairs (
        user_id text COLLATE "C", day date
    ) ON COMMIT DELETE ROWS;
END $$;

-- Moves ingest_stage into the store; returns how many events were new. Every statement takes
-- its row locks in key order (events by id, then user_days, daily_users, users,
-- daily_event_types, each sorted), so concurrent merges with overlapping ids cannot deadlock.
-- A repeated event_id within the stage keeps its first occurrence (lowest ord).
CREATE FUNCTION ingest_merge(p_stripe integer) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    WITH ins AS (
        INSERT INTO events (event_id, occurred_at, user_id, event_type, properties)
        SELECT DISTINCT ON (event_id) event_id, occurred_at, user_id, event_type, properties
        FROM ingest_stage
        ORDER BY event_id, ord
        ON CONFLICT (event_id) DO NOTHING
        RETURNING occurred_at, user_id, event_type
    )
    INSERT INTO ingest_new (day, user_id, event_type)
    SELECT (occurred_at AT TIME ZONE 'UTC')::date, user_id, event_type FROM ins;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN 0;
    END IF;

    WITH p AS (
        INSERT INTO user_days (user_id, day)
        SELECT DISTINCT user_id, day FROM ingest_new ORDER BY user_id, day
        ON CONFLICT DO NOTHING
        RETURNING user_id, day
    )
    INSERT INTO ingest_pairs (user_id, day) SELECT user_id, day FROM p;

    INSERT INTO daily_users AS d (day, stripe, users)
    SELECT day, p_stripe, count(*) FROM ingest_pairs GROUP BY day ORDER BY day
    ON CONFLICT (day, stripe) DO UPDATE SET users = d.users + EXCLUDED.users;

    -- Only a new (user, day) pair can move a user's first day.
    INSERT INTO users AS u (user_id, first_day)
    SELECT user_id, min(day) FROM ingest_pairs GROUP BY user_id ORDER BY user_id
    ON CONFLICT (user_id) DO UPDATE SET first_day = EXCLUDED.first_day
        WHERE EXCLUDED.first_day < u.first_day;

    INSERT INTO daily_event_types AS t (day, event_type, stripe, events)
    SELECT day, event_type, p_stripe, count(*) FROM ingest_new
    GROUP BY day, event_type ORDER BY day, event_type
    ON CONFLICT (day, event_type, stripe) DO UPDATE SET events = t.events + EXCLUDED.events;

    RETURN n;
END $$;
