/* test_zx_sync_wait.c: a commit whose wait for a synchronous standby is cancelled. The
 * server then reports the commit as done, with a warning ("canceling wait for synchronous
 * replication"): the batch is stored on this server but not known to be on the standby, so the
 * service must not acknowledge it (503, Retry-After), and a resend must give duplicates. With
 * HA the standby's machine going silent while the monitor is unreachable does this; here one
 * cluster waits for a standby that does not exist (synchronous_standby_names), on a stack of
 * its own, with a pool whose statement timeout is short. */
#include <stdio.h>
#include <string.h>

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
	PQfinish(db);
	json_object_put(batch);
	http_client_free(c);
}
