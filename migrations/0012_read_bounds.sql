-- 0012_read_bounds: the zone-aware reads (0011) take the quarters of their local days from
-- the worker, which keeps each zone's day bounds once stats_day_bounds() has computed them,
-- instead of computing every day's bounds from AT TIME ZONE in every request (measured: the
-- larger part of a cached Kathmandu DAU's cost). Same rows as stats_sets and stats_windows,
-- which go.

-- The sets of the local days whose quarters are [q0s[k], q1s[k]) (i = k - 1): as stats_sets.
CREATE FUNCTION stats_days_q(p_kind "char", ty text, q0s integer[], q1s integer[],
                             p_sets boolean, p_check boolean)
RETURNS TABLE (i integer, q0 integer, q1 integer, cached boolean, size integer, users bytea,
               g bigint)
LANGUAGE plpgsql STABLE SET enable_hashjoin = off SET enable_mergejoin = off
    SET enable_seqscan = off SET jit = off AS $$
#variable_conflict use_column
DECLARE
    gen bigint := (SELECT a.g FROM analytics_gen a);
BEGIN
    IF p_check AND EXISTS (SELECT FROM analytics_pending) THEN
        i := -1;
        RETURN NEXT;
        RETURN;
    END IF;
    RETURN QUERY
    WITH d AS MATERIALIZED (
        SELECT (x.o - 1)::integer AS i, x.a AS q0, x.b AS q1
        FROM unnest(q0s, q1s) WITH ORDINALITY x(a, b, o)
    ), hit AS MATERIALIZED (
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

-- The windows whose quarters are [q0s[k], q1s[k]) (j = k - 1), with the count kept in
-- window_counts or NULL: as stats_windows.
CREATE FUNCTION stats_windows_q(ty text, q0s integer[], q1s integer[], p_check boolean)
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
    SELECT (x.o - 1)::integer, x.a, x.b, c.n, gen
    FROM unnest(q0s, q1s) WITH ORDINALITY x(a, b, o)
    LEFT JOIN window_counts c ON c.event_type = ty AND c.q0 = x.a AND c.q1 = x.b
    ORDER BY x.o;
END $$;

DROP FUNCTION stats_sets("char", text, date, integer, text, boolean, boolean);
DROP FUNCTION stats_windows(text, date, integer, integer, text, boolean);
