-- 0010_prune_by_key: a prune batch deletes its events through the primary key.
--
-- 0005's prune_raw_events() joined the batch's oldest ids (found through the time index) to
-- events in a DELETE ... USING, and the planner joined them with a hash join over a
-- sequential scan of the whole table: every batch of 10 000 read all of events (measured on a
-- 6.5M-event store: ~11 s a batch, 910 events/s, most of it the scan). The ids now go to the
-- DELETE as an array, `event_id = ANY (ARRAY(...))`, which the planner answers with the
-- primary key index whatever the table's size (it cannot join what is already a value), so a
-- batch costs its own rows, not the store. The same form works on a Citus cluster (events is
-- distributed by event_id; a ctid list would not be: ctids are per shard). Results are the
-- same rows as before.
CREATE OR REPLACE FUNCTION prune_raw_events(p_days integer, p_batch integer) RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    n bigint;
    e_user text[]; e_day date[]; e_type text[];
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
