/* stats_sql.c: the /stats routes against SQL over the raw events (see stats_sql.h). */
#include "stats_sql.h"
#include "db_check.h"
#include "event.h"
#include "expect.h"
#include "http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

/* Local days and types of the events near [$1 - 2, $2 + 2] (UTC days), $3 the zone, $4 the
 * type filter or NULL. */
#define LOCAL_EVENTS                                                                               \
	"e AS (SELECT (occurred_at AT TIME ZONE $3)::date AS day, user_id, event_type"             \
	" FROM events WHERE occurred_at >= ($1::date - 2)::timestamp AT TIME ZONE 'UTC'"           \
	"  AND occurred_at < ($2::date + 3)::timestamp AT TIME ZONE 'UTC'"                         \
	"  AND ($4::text IS NULL OR event_type = $4))"

/* Appends "&key=value" with value percent-encoded where a query string needs it. */
static void
add_param(char *path, size_t cap, const char *key, const char *value)
{
	size_t len = strlen(path);
	if (!value)
		return;
	len += (size_t)snprintf(path + len, cap - len, "&%s=", key);
	for (const unsigned char *p = (const unsigned char *)value; *p && len + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-_./", *p))
			path[len++] = (char)*p;
		else
			len += (size_t)snprintf(path + len, cap - len, "%%%02X", *p);
	}
	path[len] = '\0';
}

static void
zone_path(char *path, size_t cap, const struct stats_q *q, const char *type_key,
	  const char *ret_key)
{
	add_param(path, cap, "tz", q->tz);
	add_param(path, cap, type_key, q->type);
	add_param(path, cap, ret_key, q->ret_type);
}

/* GET path (200 expected) against the rows of sql: column 0 = key's text, column 1 = count's
 * number, in the same order. */
static void
rows_match(PGconn *db, const char *path, const char *sql, int np, const char *const *params,
	   const char *key, const char *count)
{
	struct http_resp r;
	http_get(&r, path);
	cr_assert_eq(r.status, 200, "%s: %ld %s", path, r.status, r.body);
	PGresult *q = it_db_query(db, sql, np, params);
	cr_assert_eq((int)json_object_array_length(r.json), PQntuples(q), "%s: rows", path);
	for (int i = 0; i < PQntuples(q); i++) {
		json_object *e = json_object_array_get_idx(r.json, (size_t)i);
		cr_assert_str_eq(jstr(e, key), PQgetvalue(q, i, 0), "%s: %s #%d", path, key, i);
		cr_assert_eq(json_object_get_int64(jget(e, count)),
			     strtoll(PQgetvalue(q, i, 1), NULL, 10), "%s: %s: API vs SQL", path,
			     PQgetvalue(q, i, 0));
	}
	PQclear(q);
	http_resp_free(&r);
}

/* DAU (window 1, /stats/dau) or active users (/stats/active-users) of the local days from .. to
 * against SQL: the users with an event in the window days ending on each day. */
static void
days_match(PGconn *db, const struct stats_q *q, int64_t from, int64_t to, int window, int dau)
{
	char f[EVENT_DATE_BUF], f0[EVENT_DATE_BUF], t[EVENT_DATE_BUF], w[16], path[512];
	const char *params[] = {f, t, q->tz ? q->tz : "UTC", q->type, w};
	event_date_format(from - window + 1, f); /* the SQL's $1 reaches back a window */
	event_date_format(from, f0);
	event_date_format(to, t);
	snprintf(w, sizeof w, "%d", window);
	if (dau)
		snprintf(path, sizeof path, "/stats/dau?from=%s&to=%s", f0, t);
	else
		snprintf(path, sizeof path, "/stats/active-users?from=%s&to=%s&window=%d", f0, t,
			 window);
	zone_path(path, sizeof path, q, "event_type", NULL);
	rows_match(db, path,
		   "WITH " LOCAL_EVENTS " SELECT d::date, count(DISTINCT e.user_id)"
		   " FROM generate_series($1::date + ($5::int - 1), $2::date, '1 day') d"
		   " LEFT JOIN e ON e.day BETWEEN d::date - ($5::int - 1) AND d::date"
		   " GROUP BY 1 ORDER BY 1",
		   5, params, "date", dau ? "unique_users" : "active_users");
}

void
check_dau_sql(PGconn *db, const struct stats_q *q, int64_t from, int64_t to)
{
	days_match(db, q, from, to, 1, 1);
}

void
check_active_sql(PGconn *db, const struct stats_q *q, int64_t from, int64_t to, int window)
{
	days_match(db, q, from, to, window, 0);
}

const char *const it_zones[] = {"UTC",
				"Asia/Kathmandu",
				"America/New_York",
				"Australia/Lord_Howe",
				"Pacific/Kiritimati",
				"Pacific/Pago_Pago",
				"America/Sao_Paulo",
				"America/Havana",
				"Asia/Kolkata",
				"America/St_Johns",
				"Etc/GMT+5",
				"Europe/Kyiv"};
const size_t it_nzones = sizeof it_zones / sizeof it_zones[0];

void
check_top_sql(PGconn *db, const struct stats_q *q, int64_t from, int64_t to, int limit)
{
	char f[EVENT_DATE_BUF], t[EVENT_DATE_BUF], l[16], path[512];
	const char *params[] = {f, t, q->tz ? q->tz : "UTC", NULL, l};
	event_date_format(from, f);
	event_date_format(to, t);
	snprintf(l, sizeof l, "%d", limit);
	snprintf(path, sizeof path, "/stats/top-events?from=%s&to=%s&limit=%d", f, t, limit);
	zone_path(path, sizeof path, &(struct stats_q){.tz = q->tz}, NULL, NULL);
	rows_match(db, path,
		   "WITH " LOCAL_EVENTS " SELECT event_type, count(*) AS n FROM e"
		   " WHERE day BETWEEN $1::date AND $2::date"
		   " GROUP BY 1 ORDER BY n DESC, event_type COLLATE \"C\" LIMIT $5::int",
		   5, params, "event_type", "count");
}

void
check_retention_sql(PGconn *db, const struct stats_q *q, int64_t start, int windows, int period)
{
	char s[EVENT_DATE_BUF], w[16], p[16], path[512];
	const char *params[] = {s, w, p, q->tz ? q->tz : "UTC", q->type, q->ret_type};
	struct http_resp r;
	event_date_format(start, s);
	snprintf(w, sizeof w, "%d", windows);
	snprintf(p, sizeof p, "%d", period);
	snprintf(path, sizeof path, "/stats/retention?start_date=%s&windows=%d&granularity=%s", s,
		 windows, period == 7 ? "week" : "day");
	zone_path(path, sizeof path, q, "start_event", "return_event");
	http_get(&r, path);
	cr_assert_eq(r.status, 200, "%s: %ld %s", path, r.status, r.body);
	PGresult *res = it_db_query(
	    db,
	    "WITH d AS (SELECT user_id, event_type, (occurred_at AT TIME ZONE $4)::date AS day"
	    "  FROM events),"
	    " firsts AS (SELECT user_id, min(day) AS first FROM d"
	    "  WHERE $5::text IS NULL OR event_type = $5 GROUP BY user_id),"
	    " cohort AS (SELECT user_id FROM firsts WHERE first >= $1::date"
	    "   AND first < $1::date + $3::int)"
	    " SELECT k, (SELECT count(DISTINCT d.user_id) FROM d JOIN cohort c USING (user_id)"
	    "   WHERE d.day >= $1::date + k * $3::int AND d.day < $1::date + (k + 1) * $3::int"
	    "   AND ($6::text IS NULL OR d.event_type = $6)),"
	    "  (SELECT count(*) FROM cohort)"
	    " FROM generate_series(0, $2::int) k ORDER BY k",
	    6, params);
	json_object *wins = jget(r.json, "windows");
	cr_assert_eq(json_object_get_int64(jget(r.json, "cohort_size")),
		     strtoll(PQgetvalue(res, 0, 2), NULL, 10), "%s: cohort", path);
	cr_assert_eq((int)json_object_array_length(wins), PQntuples(res), "%s: windows", path);
	for (int k = 0; k < PQntuples(res); k++)
		cr_assert_eq(json_object_get_int64(
				 jget(json_object_array_get_idx(wins, (size_t)k), "count")),
			     strtoll(PQgetvalue(res, k, 1), NULL, 10), "%s: window %d", path, k);
	PQclear(res);
	http_resp_free(&r);
}
