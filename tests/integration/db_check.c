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

/* The users of every stored set, as "level|type|bucket" -> count. */
static void
set_counts(PGconn *db, const char *table, const char *where, char ***keys, long long **counts,
	   int *n)
{
	char sql[512];
	snprintf(sql, sizeof sql,
		 "SELECT level || '|' || event_type || '|' || bucket, users FROM %s WHERE %s"
		 " ORDER BY level, event_type COLLATE \"C\", bucket",
		 table, where);
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

/* Every set of table (its rows where where holds) against the rows of sql ("level|type|bucket",
 * count), in the same order; a set with no users may exist (a moved cohort's old block), a
 * group may not be missing. */
static void
sets_match(PGconn *db, const char *table, const char *where, const char *sql)
{
	char **keys;
	long long *counts;
	int n, j = 0;
	set_counts(db, table, where, &keys, &counts, &n);
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
	sets_match(db, "activity_sets", "true", sql);
	snprintf(sql, sizeof sql,
		 "SELECT l || '|' || ty || '|' || qblock(f, l), count(*) FROM"
		 " (SELECT ukey, ty, min(q) AS f FROM %s x GROUP BY ukey, ty) m"
		 " CROSS JOIN (VALUES (1), (4), (24)) v(l) GROUP BY l, ty, qblock(f, l)"
		 " ORDER BY l, ty COLLATE \"C\", qblock(f, l)",
		 q);
	sets_match(db, "cohort_sets", "true", sql);
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

/* Every summary against the raw events: the user sets, the first quarters, the cached days and
 * windows (it_check_user_sets) and the event counts per block and type (type_counts: every
 * row a real count, none missing; a 0 would show in top events). */
void
it_check_summaries(PGconn *db)
{
	it_check_user_sets(db);
	PGresult *q = it_db_query(
	    db,
	    "WITH truth AS (SELECT l.l::smallint AS level,"
	    "  qblock(floor(extract(epoch FROM e.occurred_at) / 900)::int, l.l) AS bucket,"
	    "  e.event_type, count(*) AS events"
	    "  FROM events e CROSS JOIN (VALUES (1), (4), (24)) l(l) GROUP BY 1, 2, 3),"
	    " have AS (SELECT level, bucket, event_type, events FROM type_counts)"
	    " SELECT (SELECT count(*) FROM (TABLE truth EXCEPT TABLE have) x),"
	    "  (SELECT count(*) FROM (TABLE have EXCEPT TABLE truth) y)",
	    0, NULL);
	cr_expect_eq(strtoll(PQgetvalue(q, 0, 0), NULL, 10), 0,
		     "type_counts: rows missing or wrong");
	cr_expect_eq(strtoll(PQgetvalue(q, 0, 1), NULL, 10), 0,
		     "type_counts: rows that should not exist");
	PQclear(q);
}

void
it_check_summaries_between(PGconn *db, const char *from, const char *to)
{
	char where[256], sql[1024];
	const char *p[] = {from, to};
	fold_pending(db);
	/* the blocks of every level that lie in [from, to) */
	snprintf(where, sizeof where,
		 "bucket >= floor(extract(epoch FROM timestamptz '%s') / 900)"
		 " AND bucket + level <= floor(extract(epoch FROM timestamptz '%s') / 900)",
		 from, to);
	snprintf(sql, sizeof sql,
		 "SELECT l || '|' || ty || '|' || qblock(q, l), count(DISTINCT ukey) FROM %s x"
		 " CROSS JOIN (VALUES (1), (4), (24)) v(l)"
		 " WHERE q >= floor(extract(epoch FROM timestamptz '%s') / 900)"
		 " AND q < floor(extract(epoch FROM timestamptz '%s') / 900)"
		 " GROUP BY l, ty, qblock(q, l) ORDER BY l, ty COLLATE \"C\", qblock(q, l)",
		 key_type_quarter, from, to);
	sets_match(db, "activity_sets", where, sql);
	PGresult *q = it_db_query(
	    db,
	    "WITH truth AS (SELECT l.l::smallint AS level,"
	    "  qblock(floor(extract(epoch FROM e.occurred_at) / 900)::int, l.l) AS bucket,"
	    "  e.event_type, count(*) AS events"
	    "  FROM events e CROSS JOIN (VALUES (1), (4), (24)) l(l)"
	    "  WHERE e.occurred_at >= $1::timestamptz AND e.occurred_at < $2::timestamptz"
	    "  GROUP BY 1, 2, 3),"
	    " have AS (SELECT level, bucket, event_type, events FROM type_counts"
	    "  WHERE bucket >= floor(extract(epoch FROM $1::timestamptz) / 900)"
	    "  AND bucket + level <= floor(extract(epoch FROM $2::timestamptz) / 900))"
	    " SELECT (SELECT count(*) FROM (TABLE truth EXCEPT TABLE have) x),"
	    "  (SELECT count(*) FROM (TABLE have EXCEPT TABLE truth) y),"
	    "  (SELECT count(*) FROM truth)",
	    2, p);
	cr_assert_gt(strtoll(PQgetvalue(q, 0, 2), NULL, 10), 0, "no events in %s..%s", from, to);
	cr_expect_eq(strtoll(PQgetvalue(q, 0, 0), NULL, 10), 0,
		     "type_counts in %s..%s: rows missing or wrong", from, to);
	cr_expect_eq(strtoll(PQgetvalue(q, 0, 1), NULL, 10), 0,
		     "type_counts in %s..%s: rows that should not exist", from, to);
	PQclear(q);
}
