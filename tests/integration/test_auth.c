/* API keys, end to end: a second worker pool and nginx, started with API_KEYS against the
 * same database, so the main stack of the other suites stays open. */
#include "client.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct it_side_stack side;
static int port;

static void
keyed_stack_up(void)
{
	it_side_stack_up(&side, "API_KEYS='ingest-only-key-0123:ingest read-only-key-0123:read"
				" admin-only-key-0123:admin'");
	port = side.port;
}

static void
keyed_stack_down(void)
{
	it_side_stack_down(&side);
}

/* method path on the keyed stack, with one extra header line (or none); asserts an answer. */
static void
call(struct http_resp *r, const char *method, const char *path, const char *body,
     const char *header)
{
	struct http_client *c = http_client_new();
	const char *headers[] = {header, NULL};
	char url[64];

	snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
	http_client_set_base_url(c, url);
	http_client_set_timeout(c, 10);
	cr_assert_eq(http_client_request(c, r, method, path, "application/json", body,
					 body ? strlen(body) : 0, headers),
		     0, "%s %s: %s", method, path, r->curl_error);
	http_client_free(c);
}

Test(auth, keys_and_scopes, .init = keyed_stack_up, .fini = keyed_stack_down, .timeout = 60)
{
	char id[37], body[512];
	json_object *ev = it_event(id, "2006-03-03T10:00:00Z", "auth-user", "auth_event");
	snprintf(body, sizeof body, "[%s]", json_object_to_json_string(ev));
	json_object_put(ev);
	const char *dau = "/stats/dau?from=2006-03-03&to=2006-03-03";
	const char *export = "/events/export?from=2006-03-03&to=2006-03-03";
	const char *user = "/users/auth-user-erased";
	struct {
		const char *method, *path, *body, *header;
		long want;
	} cases[] = {
	    {"POST", "/events", body, NULL, 401},
	    {"POST", "/events", body, "X-API-Key: wrong-key", 401},
	    /* a known key without the route's scope: 403, not 401 */
	    {"POST", "/events", body, "X-API-Key: read-only-key-0123", 403},
	    {"POST", "/events", body, "Authorization: Bearer ingest-only-key-0123", 200},
	    {"GET", dau, NULL, NULL, 401},
	    {"GET", dau, NULL, "Authorization: Bearer ingest-only-key-0123", 403},
	    {"GET", dau, NULL, "X-API-Key: read-only-key-0123", 200},
	    {"GET", dau, NULL, "X-API-Key: admin-only-key-0123", 403},
	    {"GET", export, NULL, NULL, 401},
	    {"GET", export, NULL, "X-API-Key: ingest-only-key-0123", 403},
	    {"GET", export, NULL, "X-API-Key: read-only-key-0123", 200},
	    {"DELETE", user, NULL, NULL, 401},
	    {"DELETE", user, NULL, "X-API-Key: wrong-key", 401},
	    {"DELETE", user, NULL, "X-API-Key: read-only-key-0123", 403},
	    {"DELETE", user, NULL, "X-API-Key: ingest-only-key-0123", 403},
	    {"DELETE", user, NULL, "Authorization: Bearer admin-only-key-0123", 200},
	    {"GET", "/healthz", NULL, NULL, 200},
	    {"GET", "/metrics", NULL, NULL, 200},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct http_resp r;

		call(&r, cases[i].method, cases[i].path, cases[i].body, cases[i].header);
		cr_expect_eq(r.status, cases[i].want, "case %zu: %s %s with %s: %ld %s", i,
			     cases[i].method, cases[i].path,
			     cases[i].header ? cases[i].header : "no key", r.status, r.body);
		if (cases[i].want == 403)
			cr_expect(strstr(r.body, "\"error\":\"forbidden\"") != NULL, "case %zu: %s",
				  i, r.body);
		if (cases[i].want == 401) {
			cr_expect(strstr(r.body, "\"error\":\"unauthorized\"") != NULL,
				  "case %zu: %s", i, r.body);
			cr_expect(r.www_authenticate && r.www_authenticate[0] != '\0',
				  "case %zu: WWW-Authenticate", i);
		}
		http_resp_free(&r);
	}
	/* keys never reach the logs */
	char cmd[256];
	it_wait_worker_log();
	snprintf(
	    cmd, sizeof cmd,
	    "grep -rq -e ingest-only-key-0123 -e read-only-key-0123 -e admin-only-key-0123 %s/log",
	    side.var_dir);
	cr_expect_neq(system(cmd), 0, "an API key appears in a log under %s/log", side.var_dir);
	snprintf(cmd, sizeof cmd, "grep -q 'API keys configured' %s/log/worker.log", side.var_dir);
	cr_expect_eq(system(cmd), 0, "the pool logs that keys are configured");
}

/* A key file open to group or others is used, with one warning for the pool, not one per
 * worker (the supervisor warns; the workers it starts read the same file quietly). */
Test(auth, loose_key_file_warned_once, .timeout = 60)
{
	char path[] = "/tmp/events-keys-XXXXXX", env[96], log[128], *line = NULL;
	size_t cap = 0;
	int fd = mkstemp(path), warned = 0;
	cr_assert(fd >= 0, "mkstemp");
	cr_assert_eq(write(fd, "loose-file-key-0123:read\n", 25), 25);
	cr_assert_eq(fchmod(fd, 0644), 0);
	close(fd);
	snprintf(env, sizeof env, "API_KEYS_FILE=%s", path);
	it_side_stack_up(&side, env);
	port = side.port;

	struct http_resp r;
	call(&r, "GET", "/stats/dau?from=2005-01-01&to=2005-01-02", NULL,
	     "X-API-Key: loose-file-key-0123");
	cr_expect_eq(r.status, 200, "the key of a loose file works: %ld", r.status);
	http_resp_free(&r);

	snprintf(log, sizeof log, "%s/log/worker.log", side.var_dir);
	FILE *f = fopen(log, "r");
	cr_assert(f, "open %s", log);
	while (getline(&line, &cap, f) > 0)
		warned += strstr(line, "is open to group or others") != NULL;
	free(line);
	fclose(f);
	it_side_stack_down(&side);
	unlink(path);
	cr_expect_eq(warned, 1, "one warning for the pool in %s, got %d", log, warned);
}
