/* The indexes the data lifecycle stands on, checked through the planner: an erasure finds a
 * user's events through an index (not a scan of the store under the table lock that holds
 * ingestion back), an export reads its (occurred_at, event_id) order from the time index (at
 * most an Incremental Sort of the events of one instant, never a Sort of the whole range that
 * would hold its first bytes back until the range is read), and a prune batch finds the oldest
 * events through the same index. Seq scans and sorts are priced out for these plans, so a
 * missing index shows as a Seq Scan or a Sort however small the table is.
 * The statements are the shapes of erase_user(), db_lifecycle.c's export and
 * prune_raw_events(). */
#include "client.h"

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

/* The plan of sql (one parameter, text) with seq scans and sorts priced out, one string. */
static char *
plan_of(const char *sql, const char *param)
{
	PGresult *r = PQexec(it_db, "BEGIN; SET LOCAL enable_seqscan = off;"
				    " SET LOCAL enable_sort = off");
	char explain[1024], *out = calloc(1, 1);
	size_t len = 0;
	cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK, "BEGIN: %s", PQerrorMessage(it_db));
	PQclear(r);
	snprintf(explain, sizeof explain, "EXPLAIN %s", sql);
	r = it_db_query(it_db, explain, param ? 1 : 0, param ? &param : NULL);
	for (int i = 0; i < PQntuples(r); i++) {
		const char *line = PQgetvalue(r, i, 0);
		out = realloc(out, len + strlen(line) + 2);
		cr_assert(out);
		len += (size_t)sprintf(out + len, "%s\n", line);
	}
	PQclear(r);
	PQclear(PQexec(it_db, "ROLLBACK"));
	return out;
}

static void
expect_no(const char *plan, const char *node, const char *what)
{
	cr_expect(strstr(plan, node) == NULL, "%s: expected no %s in the plan:\n%s", what, node,
		  plan);
}

/* No node sorts the whole input: a plan line is "Sort ..." or "->  Sort ..." only for that
 * (an Incremental Sort sorts one group of equal leading keys at a time and streams). */
static void
expect_no_full_sort(const char *plan, const char *what)
{
	cr_expect(strncmp(plan, "Sort ", 5) != 0 && strstr(plan, "->  Sort ") == NULL,
		  "%s: expected no Sort of the whole input in the plan:\n%s", what, plan);
}

static void
expect_index(const char *plan, const char *index, const char *what)
{
	cr_expect(strstr(plan, index) != NULL, "%s: expected the plan to use %s:\n%s", what, index,
		  plan);
	expect_no(plan, "Seq Scan", what);
}

Test(lifecycle_plans, erasure_finds_a_user_through_an_index, .init = it_db_init, .fini = it_db_fini)
{
	char *p = plan_of("DELETE FROM events WHERE user_id = $1 COLLATE \"C\"", "plan-user");
	expect_index(p, "events_user_id", "erasure");
	free(p);
}

/* sql (one parameter) reads events in (occurred_at, event_id) order from the time index. */
static void
expect_time_ordered(const char *sql, const char *param, const char *what)
{
	char *p = plan_of(sql, param);
	expect_index(p, "events_occurred_at", what);
	expect_no_full_sort(p, what);
	free(p);
}

Test(lifecycle_plans, export_reads_its_order_from_an_index, .init = it_db_init, .fini = it_db_fini)
{
	expect_time_ordered(
	    "SELECT e.event_id FROM events e"
	    " WHERE e.occurred_at >= ('2025-01-01'::date::timestamp AT TIME ZONE $1)"
	    " AND e.occurred_at < ('2025-02-01'::date::timestamp AT TIME ZONE $1)"
	    " ORDER BY e.occurred_at, e.event_id",
	    "Europe/Berlin", "export");
}

Test(lifecycle_plans, prune_finds_the_oldest_through_an_index, .init = it_db_init,
     .fini = it_db_fini)
{
	expect_time_ordered("SELECT event_id FROM events"
			    " WHERE occurred_at < now() - make_interval(days => $1::int)"
			    " ORDER BY occurred_at, event_id LIMIT 10000",
			    "30", "prune");
}

/* A prune batch deletes its rows through the primary key, with the planner's own settings
 * (nothing priced out): 0005's DELETE ... USING of the batch's ids was planned as a hash join
 * over a sequential scan of all of events, every batch reading the whole store. */
Test(lifecycle_plans, prune_deletes_through_the_primary_key, .init = it_db_init, .fini = it_db_fini)
{
	const char *sql = "EXPLAIN DELETE FROM events WHERE event_id = ANY (ARRAY("
			  " SELECT event_id FROM events"
			  " WHERE occurred_at < now() - make_interval(days => $1::int)"
			  " ORDER BY occurred_at, event_id LIMIT 10000))";
	const char *days = "30";
	PGresult *r = it_db_query(it_db, sql, 1, &days);
	int keyed = 0, joins = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *line = PQgetvalue(r, i, 0);
		keyed += strstr(line, "events_pkey") != NULL;
		joins += strstr(line, " Join ") != NULL || strstr(line, "Hash Join") != NULL;
	}
	PQclear(r);
	cr_expect_gt(keyed, 0, "the batch's rows are found through events_pkey");
	cr_expect_eq(joins, 0, "no join of the batch with the whole table");
	/* and prune_raw_events() is that statement (0010), not 0005's join */
	char *body = db_scalar_text(
	    it_db, "SELECT prosrc FROM pg_proc WHERE proname = 'prune_raw_events'", 0, NULL);
	cr_assert(body, "prune_raw_events exists");
	cr_expect(strstr(body, "event_id = ANY (ARRAY(") && !strstr(body, "USING old"),
		  "prune_raw_events deletes by key:\n%s", body);
	free(body);
}
