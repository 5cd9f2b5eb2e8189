/* test_zx_sync_wait.c: a commit whose wait for a synchronous standby is cancelled. The
 * server then reports the commit as done, with a warning ("canceling wait for synchronous
 * replication"): the batch is stored on this server but not known to be on the standby, so the
 * service must not acknowledge it (503, Retry-After), and a resend must give duplicates. With
 * HA the standby's machine going silent while the monitor is unreachable does this; here one
 * cluster waits for a standby that does not exist (synchronous_standby_names), on a stack of
 * its own, with a pool whose statement timeout is short.
 *
 * The same silent standby must not keep a worker's database session from ending: a session
 * with temporary tables drops them as it exits, in a commit of its own, and an exiting backend
 * ignores SIGTERM, so a commit that waited for the standby there would keep the server from
 * shutting down (a demotion in a switchover under load hung that way). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "client.h"

static struct it_side_stack side;

static void
stacks_down(void)
{
	it_side_stack_down(&side);
	it_own_stack_fini();
}

static void
exec_ok(PGconn *db, const char *sql)
{
	PGresult *r = PQexec(db, sql);
	cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
		  "%s: %s", sql, PQerrorMessage(db));
	PQclear(r);
}

Test(zx_sync_wait, unconfirmed_commit_is_not_acknowledged, .fini = stacks_down, .timeout = 180)
{
	struct http_client *c = http_client_new();
	struct http_resp r;
	char base[64], id[37];
	char *ids[] = {id};
	json_object *batch = json_object_new_array();
	const char *body;
	PGconn *db;

	it_own_stack_init();
	it_side_stack_up(&side, "DB_STATEMENT_TIMEOUT_MS=1000");
	snprintf(base, sizeof base, "http://127.0.0.1:%d", side.port);
	http_client_set_base_url(c, base);
	http_client_set_timeout(c, 20);
	json_object_array_add(batch, it_event(id, "2011-02-03T04:05:06Z", "it-syncwait", NULL));
	body = json_object_to_json_string_ext(batch, JSON_C_TO_STRING_PLAIN);

	db = db_open();
	exec_ok(db, "ALTER SYSTEM SET synchronous_standby_names = 'it_no_such_standby'");
	exec_ok(db, "SELECT pg_reload_conf()");
	it_sleep(0.5); /* the reload reaches the backends at their next command */

	http_client_request(c, &r, "POST", "/events", "application/json", body, strlen(body), NULL);
	cr_expect_eq(r.status, 503, "POST with a commit that no standby confirms: %ld %s", r.status,
		     r.body ? r.body : r.curl_error);
	cr_expect(r.retry_after, "expected Retry-After");
	cr_expect(r.body && strstr(r.body, "not confirmed by its standby"), "body: %s",
		  r.body ? r.body : "");
	http_resp_free(&r);
	/* stored here all the same: the commit happened, only its confirmation is missing */
	cr_expect_eq(db_count_ids(db, ids, 1), 1, "the unconfirmed batch should be stored");

	exec_ok(db, "ALTER SYSTEM RESET synchronous_standby_names");
	exec_ok(db, "SELECT pg_reload_conf()");
	it_sleep(0.5);
	/* the client's resend is acknowledged, as a duplicate */
	http_client_request(c, &r, "POST", "/events", "application/json", body, strlen(body), NULL);
	cr_expect_eq(r.status, 200, "resend: %ld %s", r.status, r.body ? r.body : r.curl_error);
	cr_expect(r.body && strstr(r.body, "\"duplicates\":1"), "resend: %s", r.body ? r.body : "");
	http_resp_free(&r);

	/* an erasure is answered the same way, and its resend is acknowledged */
	exec_ok(db, "ALTER SYSTEM SET synchronous_standby_names = 'it_no_such_standby'");
	exec_ok(db, "SELECT pg_reload_conf()");
	it_sleep(0.5);
	http_client_request(c, &r, "DELETE", "/users/it-syncwait", NULL, NULL, 0, NULL);
	cr_expect_eq(r.status, 503, "DELETE with a commit that no standby confirms: %ld %s",
		     r.status, r.body ? r.body : r.curl_error);
	cr_expect(r.retry_after, "expected Retry-After");
	cr_expect(r.body && strstr(r.body, "not confirmed by its standby"), "body: %s",
		  r.body ? r.body : "");
	http_resp_free(&r);
	exec_ok(db, "ALTER SYSTEM RESET synchronous_standby_names");
	exec_ok(db, "SELECT pg_reload_conf()");
	it_sleep(0.5);
	http_client_request(c, &r, "DELETE", "/users/it-syncwait", NULL, NULL, 0, NULL);
	cr_expect_eq(r.status, 200, "DELETE resent: %ld %s", r.status,
		     r.body ? r.body : r.curl_error);
	http_resp_free(&r);
	cr_expect_eq(db_count_ids(db, ids, 1), 0, "the erased user's event should be gone");
	PQfinish(db);
	json_object_put(batch);
	http_client_free(c);
}

/* The pool's sessions (workers, made with staging tables), as pg_stat_activity shows them. */
static long long
worker_sessions(PGconn *db)
{
	return db_scalar_ll(db,
			    "SELECT count(*) FROM pg_stat_activity"
			    " WHERE application_name ~ '^events-fcgi/[0-9]+$'",
			    0, NULL);
}

Test(zx_sync_wait, worker_sessions_end_while_the_standby_is_silent, .init = it_own_stack_init,
     .fini = it_own_stack_fini, .timeout = 180)
{
	struct http_client *c = http_client_new();
	struct http_resp r;
	char id[37];
	json_object *batch = json_object_new_array();
	const char *body;
	long long left = -1;
	PGconn *db = db_open();

	http_client_set_timeout(c, 20);
	json_object_array_add(batch, it_event(id, "2011-02-03T04:05:06Z", "it-syncexit", NULL));
	body = json_object_to_json_string_ext(batch, JSON_C_TO_STRING_PLAIN);
	/* every worker connected, with its staging tables (requests go round the idle workers) */
	for (int i = 0; i < 4 * it_want_workers(); i++) {
		http_client_request(c, &r, "POST", "/events", "application/json", body,
				    strlen(body), NULL);
		cr_assert_eq(r.status, 200, "POST: %ld %s", r.status,
			     r.body ? r.body : r.curl_error);
		http_resp_free(&r);
	}
	cr_assert_eq(worker_sessions(db), it_want_workers(), "one session per worker expected");

	exec_ok(db, "ALTER SYSTEM SET synchronous_standby_names = 'it_no_such_standby'");
	exec_ok(db, "SELECT pg_reload_conf()");
	it_sleep(0.5);
	/* reads commit nothing that has to wait for a standby */
	http_client_request(c, &r, "GET",
			    "/stats/dau?from=2011-02-01&to=2011-02-05&tz=Asia/Kathmandu", NULL,
			    NULL, 0, NULL);
	cr_expect_eq(r.status, 200, "GET /stats/dau with the standby silent: %ld %s", r.status,
		     r.body ? r.body : r.curl_error);
	http_resp_free(&r);

	/* what a fast shutdown does to each backend: they all end, none waits for the standby */
	exec_ok(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
		    " WHERE application_name ~ '^events-fcgi/[0-9]+$'");
	for (double t0 = it_now(); it_now() - t0 < 10.0; usleep(100 * 1000))
		if ((left = worker_sessions(db)) == 0)
			break;
	cr_expect_eq(left, 0,
		     "%lld worker sessions still there 10 s after their termination (waiting for"
		     " the standby as they drop their temporary tables?)",
		     left);

	exec_ok(db, "ALTER SYSTEM RESET synchronous_standby_names");
	exec_ok(db, "SELECT pg_reload_conf()");
	it_sleep(0.5);
	/* the pool reconnects by itself; the batch was stored before: a duplicate */
	http_client_request(c, &r, "POST", "/events", "application/json", body, strlen(body), NULL);
	cr_expect_eq(r.status, 200, "POST after the sessions ended: %ld %s", r.status,
		     r.body ? r.body : r.curl_error);
	cr_expect(r.body && strstr(r.body, "\"duplicates\":1"), "resend: %s", r.body ? r.body : "");
	http_resp_free(&r);
	PQfinish(db);
	json_object_put(batch);
	http_client_free(c);
}
