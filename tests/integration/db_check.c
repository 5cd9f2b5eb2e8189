/* db_check.c: checks of what the service stored, through libpq on $DATABASE_URL. These make
 * Criterion assertions: call them from inside a test only. */
#include "db_check.h"
#include "db.h"
#include "userset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

PGconn *
db_open(void)
{
	const char *url = getenv("DATABASE_URL");
	PGconn *db;

	cr_assert(url && *url, "DATABASE_URL must be set (run through tests/integration/run.sh)");
	db = PQconnectdb(url);
	cr_assert(db && PQstatus(db) == CONNECTION_OK, "expected a database connection: %s",
		  db ? PQerrorMessage(db) : "out of memory");
	return db;
}

PGconn *it_db;

void
it_db_init(void)
{
	it_db = db_open();
}

void
it_db_fini(void)
{
	if (it_db)
		PQfinish(it_db);
	it_db = NULL;
}

PGresult *
it_db_query(PGconn *db, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0);

	cr_assert(res && PQresultStatus(res) == PGRES_TUPLES_OK,
		  "expected the verification query to succeed: %s: %s", sql, PQerrorMessage(db));
	return res;
}

long long
db_scalar_ll(PGconn *db, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = it_db_query(db, sql, nparams, params);
	long long v;

	cr_assert(PQntuples(res) == 1 && PQnfields(res) == 1 && !PQgetisnull(res, 0, 0),
		  "expected one non-NULL value from: %s", sql);
	v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

char *
db_scalar_text(PGconn *db, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = it_db_query(db, sql, nparams, params);
	char *v = NULL;

	if (PQntuples(res) >= 1 && PQnfields(res) >= 1 && !PQgetisnull(res, 0, 0)) {
		v = strdup(PQgetvalue(res, 0, 0));
		cr_assert(v, "strdup");
	}
	PQclear(res);
	return v;
}

long long
db_count_ids(PGconn *db, char *const *ids, size_t n)
{
	size_t cap = n * 40 + 8, o = 0;
	char *arr = malloc(cap);
	const char *p[1];
	long long v;

	cr_assert(arr, "malloc");
	arr[o++] = '{';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(arr + o, cap - o, "%s%s", i ? "," : "", ids[i]);
	arr[o++] = '}';
	arr[o] = '\0';
	p[0] = arr;
	v = db_scalar_ll(db, "SELECT count(*) FROM events WHERE event_id = ANY($1::uuid[])", 1, p);
	free(arr);
	return v;
}

/* The whole retention summary (every cohort, bucket and period, stripes summed) against a
 * recomputation from the raw events, in one snapshot so that other writers cannot skew it. */
/* As it_check_retention_cells, with at least min_truth cells in the recomputation. */
static void
check_cells(PGconn *db, long long min_truth)
{
	PGresult *q = PQexec(
	    db, "WITH d AS (SELECT DISTINCT user_id, (occurred_at AT TIME ZONE 'UTC')::date AS day"
		"   FROM events),"
		" f AS (SELECT user_id, min(day) AS f FROM d GROUP BY user_id),"
		" b AS (SELECT DISTINCT user_id, day - k AS s FROM d, generate_series(0, 6) k),"
		" truth AS ("
		"  SELECT 1 AS period, f.f AS cohort, d.day AS active, count(*) AS users"
		"  FROM d JOIN f USING (user_id) GROUP BY 2, 3"
		"  UNION ALL"
		"  SELECT 7, f.f - ((f.f - b.s) % 7 + 7) % 7, b.s, count(*)"
		"  FROM b JOIN f USING (user_id) GROUP BY 2, 3),"
		" cells AS (SELECT period::int, cohort, active, sum(users)::bigint AS users"
		"  FROM retention_cells GROUP BY 1, 2, 3 HAVING sum(users) <> 0)"
		" SELECT (SELECT count(*) FROM truth),"
		"  (SELECT count(*) FROM (TABLE truth EXCEPT TABLE cells) x),"
		"  (SELECT count(*) FROM (TABLE cells EXCEPT TABLE truth) y)");
	cr_assert_eq(PQresultStatus(q), PGRES_TUPLES_OK, "%s", PQerrorMessage(db));
	cr_assert_geq(strtoll(PQgetvalue(q, 0, 0), NULL, 10), min_truth, "cells recomputed: %s",
		      PQgetvalue(q, 0, 0));
	cr_expect_eq(strtoll(PQgetvalue(q, 0, 1), NULL, 10), 0, "cells missing or wrong");
	cr_expect_eq(strtoll(PQgetvalue(q, 0, 2), NULL, 10), 0, "cells that should not exist");
	PQclear(q);
}

void
it_check_retention_cells(PGconn *db)
{
	check_cells(db, 101);
}

/* Rows of the recomputation q (one row: missing, extra) that the summaries lack or have. */
static void
expect_no_difference(PGconn *db, const char *what, const char *sql)
{
	PGresult *q = PQexec(db, sql);
	cr_assert_eq(PQresultStatus(q), PGRES_TUPLES_OK, "%s: %s", what, PQerrorMessage(db));
	cr_expect_eq(strtoll(PQgetvalue(q, 0, 0), NULL, 10), 0, "%s: rows missing or wrong", what);
	cr_expect_eq(strtoll(PQgetvalue(q, 0, 1), NULL, 10), 0, "%s: rows that should not exist",
		     what);
	PQclear(q);
}

/* truth and have (SQL of the same columns) as one statement: one snapshot for both. */
#define DIFF(truth, have)                                                                          \
	"WITH truth AS (" truth "), have AS (" have ") SELECT"                                     \
	" (SELECT count(*) FROM (TABLE truth EXCEPT TABLE have) x),"                               \
	" (SELECT count(*) FROM (TABLE have EXCEPT TABLE truth) y)"
#define EV_DAYS "SELECT DISTINCT user_id, (occurred_at AT TIME ZONE 'UTC')::date AS day FROM events"

void
it_check_summaries(PGconn *db)
{
	expect_no_difference(db, "user_days", DIFF(EV_DAYS, "SELECT user_id, day FROM user_days"));
	expect_no_difference(db, "users",
			     DIFF("SELECT user_id, min(day) FROM (" EV_DAYS ") d GROUP BY 1",
				  "SELECT user_id, first_day FROM users"));
	expect_no_difference(db, "daily_users",
			     DIFF("SELECT day, count(*) FROM (" EV_DAYS ") d GROUP BY 1",
				  "SELECT day, sum(users) FROM daily_users GROUP BY 1"
				  " HAVING sum(users) <> 0"));
	/* every (day, type) row group must be a real count: a 0 would show in top events */
	expect_no_difference(db, "daily_event_types",
			     DIFF("SELECT (occurred_at AT TIME ZONE 'UTC')::date, event_type,"
				  " count(*) FROM events GROUP BY 1, 2",
				  "SELECT day, event_type, sum(events) FROM daily_event_types"
				  " GROUP BY 1, 2"));
	check_cells(db, 1);
	it_check_user_sets(db);
}

/* The users of every stored set, as "level|type|bucket" -> count. */
static void
set_counts(PGconn *db, const char *table, char ***keys, long long **counts, int *n)
{
	char sql[256];
	snprintf(sql, sizeof sql,
		 "SELECT level || '|' || event_type || '|' || bucket, users FROM %s"
		 " ORDER BY level, event_type COLLATE \"C\", bucket",
		 table);
	PGresult *r = it_db_query(db, sql, 0, NULL);
	*keys = calloc((size_t)PQntuples(r) + 1, sizeof **keys);
	*counts = calloc((size_t)PQntuples(r) + 1, sizeof **counts);
	*n = 0;
	struct userset *s = NULL;
	for (int i = 0; i < PQntuples(r); i++) {
		if (*n == 0 || strcmp((*keys)[*n - 1], PQgetvalue(r, i, 0)) != 0) {
			if (s)
				(*counts)[*n - 1] = (long long)userset_count(s);
			userset_free(s);
			s = userset_new();
			(*keys)[(*n)++] = strdup(PQgetvalue(r, i, 0));
		}
		cr_assert_eq(userset_or_text(s, PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1)),
			     0, "%s %s: a damaged set", table, PQgetvalue(r, i, 0));
	}
	if (s)
		(*counts)[*n - 1] = (long long)userset_count(s);
	userset_free(s);
	PQclear(r);
}

/* Every set of table against the rows of sql ("level|type|bucket", count), in the same order;
 * a set with no users may exist (a moved cohort's old block), a group may not be missing. */
static void
sets_match(PGconn *db, const char *table, const char *sql)
{
	char **keys;
	long long *counts;
	int n, j = 0;
	set_counts(db, table, &keys, &counts, &n);
	PGresult *q = it_db_query(db, sql, 0, NULL);
	for (int i = 0; i < PQntuples(q); i++) {
		while (j < n && strcmp(keys[j], PQgetvalue(q, i, 0)) != 0) {
			cr_assert_eq(counts[j], 0, "%s %s: %lld users, none expected", table,
				     keys[j], counts[j]);
			j++;
		}
		cr_assert_lt(j, n, "%s: no set for %s", table, PQgetvalue(q, i, 0));
		cr_assert_eq(counts[j], strtoll(PQgetvalue(q, i, 1), NULL, 10),
			     "%s %s: %lld users, the events say %s", table, keys[j], counts[j],
			     PQgetvalue(q, i, 1));
		j++;
	}
	for (; j < n; j++)
		cr_assert_eq(counts[j], 0, "%s %s: %lld users, none expected", table, keys[j],
			     counts[j]);
	for (int i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(counts);
	PQclear(q);
}

/* Folds the pending events into the user bitmaps, as a read does (db_analytics.c). */
static void
fold_pending(PGconn *db)
{
	char conninfo[1024];
	snprintf(conninfo, sizeof conninfo, "host='%s' port='%s' dbname='%s' user='%s'", PQhost(db),
		 PQport(db), PQdb(db), PQuser(db));
	struct db *d = db_new(conninfo, "it-fold", 30000);
	int64_t folded;
	cr_assert(d, "out of memory");
	cr_assert_eq(db_analytics_compact(d, &folded), DB_OK, "fold: %s", db_last_error(d));
	db_close(d);
}

/* Each stored event as (key of its user, type, quarter), and once more as type '' (any). */
static const char *const key_type_quarter =
    "(SELECT u.ukey, e.event_type AS ty,"
    "  floor(extract(epoch FROM e.occurred_at) / 900)::int AS q"
    " FROM events e JOIN user_keys u USING (user_id)"
    " UNION ALL SELECT u.ukey, '', floor(extract(epoch FROM e.occurred_at) / 900)::int"
    " FROM events e JOIN user_keys u USING (user_id))";

void
it_check_user_firsts(PGconn *db, int fold)
{
	char sql[1024];
	if (fold)
		fold_pending(db);
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM (SELECT ukey, ty, min(q) AS f FROM %s x GROUP BY ukey, ty) m"
		 " FULL JOIN (SELECT k.ukey, f.ty AS event_type, f.q AS first_q"
		 "  FROM user_keys k, unnest(k.ftypes, k.fqs) f(ty, q)) uf"
		 "  ON uf.ukey = m.ukey AND uf.event_type = m.ty"
		 " WHERE uf.first_q IS DISTINCT FROM m.f",
		 key_type_quarter);
	cr_assert_eq(db_scalar_ll(db, sql, 0, NULL), 0,
		     "the users' first quarters (user_keys) differ from the events");
}

/* The user bitmaps (migration 0011) against the raw events: activity per block and type,
 * cohorts per first block; and the first quarters themselves. */
void
it_check_user_sets(PGconn *db)
{
	const char *const q = key_type_quarter;
	char sql[2048];
	it_check_user_firsts(db, 1);
	snprintf(sql, sizeof sql,
		 "SELECT l || '|' || ty || '|' || qblock(q, l), count(DISTINCT ukey) FROM %s x"
		 " CROSS JOIN (VALUES (1), (4), (24)) v(l) GROUP BY l, ty, qblock(q, l)"
		 " ORDER BY l, ty COLLATE \"C\", qblock(q, l)",
		 q);
	sets_match(db, "activity_sets", sql);
	snprintf(sql, sizeof sql,
		 "SELECT l || '|' || ty || '|' || qblock(f, l), count(*) FROM"
		 " (SELECT ukey, ty, min(q) AS f FROM %s x GROUP BY ukey, ty) m"
		 " CROSS JOIN (VALUES (1), (4), (24)) v(l) GROUP BY l, ty, qblock(f, l)"
		 " ORDER BY l, ty COLLATE \"C\", qblock(f, l)",
		 q);
	sets_match(db, "cohort_sets", sql);
	/* the local days and the windows of days a reader cached: each one's size is what the
	 * events give */
	snprintf(
	    sql, sizeof sql,
	    "WITH x AS MATERIALIZED %s, f AS (SELECT ukey, ty, min(q) AS q FROM x GROUP BY 1, 2),"
	    " a AS (SELECT 'a'::\"char\" AS kind, ukey, ty, q FROM x"
	    "  UNION ALL SELECT 'c', ukey, ty, q FROM f)"
	    " SELECT count(*) FROM (SELECT d.n, count(DISTINCT a.ukey) AS want FROM"
	    "  (SELECT kind, event_type, q0, q1, n FROM day_sets"
	    "   UNION ALL SELECT 'a', event_type, q0, q1, n FROM window_counts) d"
	    "  LEFT JOIN a ON a.kind = d.kind AND a.ty = d.event_type"
	    "   AND a.q >= d.q0 AND a.q < d.q1"
	    "  GROUP BY d.kind, d.event_type, d.q0, d.q1, d.n) z WHERE n <> want",
	    q);
	cr_assert_eq(
	    db_scalar_ll(db, sql, 0, NULL), 0,
	    "cached local days or windows (day_sets, window_counts) differ from the events");
}
