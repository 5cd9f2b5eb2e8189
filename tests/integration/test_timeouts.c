/* test_timeouts.c: a database that is busy (tables locked by a migration or by hand, a query
 * over its time limit) answers 503 JSON with Retry-After, soon, on every route, and stores
 * nothing; once the locks go, the same request succeeds. Locks are taken with libpq on
 * $DATABASE_URL. Events are dated 2008, users "it-tmo-*", away from every other suite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "client.h"

/* The tables the stats routes read (the summaries, and the pending events of which ingest
 * appends its own: a POST waits for these locks too). */
#define STATS_TABLES                                                                               \
	"analytics_pending, analytics_gen, day_sets, window_counts, activity_sets, cohort_sets,"   \
	" type_counts"
/* Every table a request reads or writes, as a migration would lock them. */
#define ALL_TABLES "events, user_keys, " STATS_TABLES

static const char *const stats_paths[] = {
    "/stats/top-events?from=2008-03-01&to=2008-03-31",
    "/stats/dau?from=2008-03-01&to=2008-03-31",
    "/stats/retention?start_date=2008-03-05&windows=3",
};
enum { NPATHS = sizeof stats_paths / sizeof stats_paths[0] };

/* A session of its own holding tables in mode until release(). */
static PGconn *
hold_locks(const char *tables, const char *mode)
{
	char sql[256];
	PGconn *c = db_open();
	snprintf(sql, sizeof sql, "BEGIN; LOCK TABLE %s IN %s MODE", tables, mode);
	PGresult *r = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return c;
}

static void
release(PGconn *c)
{
	PQclear(PQexec(c, "ROLLBACK"));
	PQfinish(c);
}

/* The workers' lock timeout in seconds: $DB_LOCK_TIMEOUT_MS as the stack got it, else the
 * documented default. */
static double
lock_timeout_s(void)
{
	const char *v = getenv("DB_LOCK_TIMEOUT_MS");
	return (v && *v ? atof(v) : 3000) / 1000;
}

/* 503 unavailable JSON with a Retry-After of at least one second, answered within `within`
 * seconds. */
static void
expect_busy(const struct http_resp *r, double within, const char *what)
{
	expect_error(r, 503, "unavailable", what);
	cr_expect(r->retry_after && atoi(r->retry_after) >= 1,
		  "%s: a Retry-After header of 1 s or more, got '%s'", what,
		  r->retry_after ? r->retry_after : "(none)");
	cr_expect_lt(r->seconds, within, "%s: answered after %.2f s, wanted under %.2f s", what,
		     r->seconds, within);
}

/* A new event of its own user, serialized (malloc'd); its id goes to id. */
static char *
new_event(char id[37])
{
	char tag[9], user[32];
	it_hex(tag, 4);
	snprintf(user, sizeof user, "it-tmo-%s", tag);
	json_object *e = it_event(id, "2008-03-05T10:00:00Z", user, "tmo_event");
	char *s = strdup(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
	cr_assert(s);
	json_object_put(e);
	return s;
}

static long long
stored(const char *id)
{
	char *ids[] = {(char *)id};
	PGconn *c = db_open();
	long long n = db_count_ids(c, ids, 1);
	PQfinish(c);
	return n;
}

Test(timeouts, locked_tables_answer_503_soon, .timeout = 120)
{
	struct http_client *c = http_client_new();
	struct http_resp r;
	char id[37], what[160];
	char *body = new_event(id);
	double within = lock_timeout_s() + 2.0;

	http_client_set_timeout(c, 12); /* before the fix a worker waited 30 s */
	PGconn *locker = hold_locks(ALL_TABLES, "ACCESS EXCLUSIVE");
	http_client_request(c, &r, "POST", "/events", "application/json", body, strlen(body), NULL);
	expect_busy(&r, within, "POST /events while the tables are locked");
	http_resp_free(&r);
	for (int i = 0; i < NPATHS; i++) {
		snprintf(what, sizeof what, "GET %s while the tables are locked", stats_paths[i]);
		http_client_request(c, &r, "GET", stats_paths[i], NULL, NULL, 0, NULL);
		expect_busy(&r, within, what);
		http_resp_free(&r);
	}
	release(locker);

	cr_expect_eq(stored(id), 0, "the event of the 503 answer was not stored");
	http_client_request(c, &r, "POST", "/events", "application/json", body, strlen(body), NULL);
	expect_ingest(&r, 1, 1, 0, "the same POST once the locks are gone");
	http_resp_free(&r);
	cr_expect_eq(stored(id), 1);
	/* every worker recovers, also one that was preparing its statements when it gave up */
	for (int i = 0; i < 4 * NPATHS * 2; i++) {
		http_client_request(c, &r, "GET", stats_paths[i % NPATHS], NULL, NULL, 0, NULL);
		cr_expect_eq(r.status, 200, "GET %s after the locks: %ld %s",
			     stats_paths[i % NPATHS], r.status, r.body);
		http_resp_free(&r);
	}
	free(body);
	http_client_free(c);
}

static struct it_side_stack side;

static void
side_down(void)
{
	it_side_stack_down(&side);
}

/* Stats answer 503 once DB_STATS_TIMEOUT_MS is spent (here by a lock wait, which
 * statement_timeout covers too); ingest keeps DB_STATEMENT_TIMEOUT_MS, so a POST waiting
 * longer than the stats limit is still stored. A stack of its own with a short stats limit
 * and a long lock timeout. */
Test(timeouts, stats_over_their_time_limit, .fini = side_down, .timeout = 180)
{
	struct http_client *c = http_client_new();
	struct http_resp r;
	char base[64], id[37], what[160];
	char *body = new_event(id);

	it_side_stack_up(&side, "DB_STATS_TIMEOUT_MS=300 DB_LOCK_TIMEOUT_MS=20000");
	snprintf(base, sizeof base, "http://127.0.0.1:%d", side.port);
	http_client_set_base_url(c, base);
	http_client_set_timeout(c, 12);
	for (int i = 0; i < NPATHS; i++) {
		http_client_request(c, &r, "GET", stats_paths[i], NULL, NULL, 0, NULL);
		cr_assert_eq(r.status, 200, "side stack GET %s: %ld %s", stats_paths[i], r.status,
			     r.body);
		http_resp_free(&r);
	}

	PGconn *locker = hold_locks(STATS_TABLES, "ACCESS EXCLUSIVE");
	for (int i = 0; i < NPATHS; i++) {
		snprintf(what, sizeof what, "GET %s over its 300 ms limit", stats_paths[i]);
		http_client_request(c, &r, "GET", stats_paths[i], NULL, NULL, 0, NULL);
		expect_busy(&r, 0.3 + 2.0, what);
		http_resp_free(&r);
	}
	/* the locks go 1.5 s from now, while the POST waits for them */
	cr_assert(PQsendQuery(locker, "SELECT pg_sleep(1.5); ROLLBACK"), "%s",
		  PQerrorMessage(locker));
	http_client_request(c, &r, "POST", "/events", "application/json", body, strlen(body), NULL);
	expect_ingest(&r, 1, 1, 0, "POST /events waiting longer than the stats limit");
	cr_expect_gt(r.seconds, 1.0, "the POST did wait for the locks (%.2f s)", r.seconds);
	http_resp_free(&r);
	for (PGresult *q; (q = PQgetResult(locker));)
		PQclear(q);
	PQfinish(locker);
	cr_expect_eq(stored(id), 1);
	free(body);
	http_client_free(c);
}
