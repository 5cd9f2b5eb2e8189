/* API keys, end to end: a second worker pool and nginx, started with API_KEYS against the
 * same database, so the main stack of the other suites stays open. */
#include "client.h"

#include <criterion/criterion.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

static struct it_side_stack side;
static int port;

static void
keyed_stack_up(void)
{
	it_side_stack_up(&side, "API_KEYS='ingest-only-key-0123:ingest read-only-key-0123:read'");
	port = side.port;
}

static void
keyed_stack_down(void)
{
	it_side_stack_down(&side);
}

struct reply {
	long status;
	char body[4096];
	size_t len;
	char www_auth[128];
};

static size_t
on_body(char *p, size_t size, size_t n, void *u)
{
	struct reply *r = u;
	size_t len = size * n, room = sizeof r->body - 1 - r->len;
	memcpy(r->body + r->len, p, len < room ? len : room);
	r->len += len < room ? len : room;
	r->body[r->len] = '\0';
	return len;
}

static size_t
on_header(char *p, size_t size, size_t n, void *u)
{
	struct reply *r = u;
	if (strncasecmp(p, "WWW-Authenticate:", 17) == 0)
		snprintf(r->www_auth, sizeof r->www_auth, "%.*s", (int)(size * n), p);
	return size * n;
}

static struct reply
call(const char *method, const char *path, const char *body, const char *header)
{
	struct reply r = {0};
	char url[256];
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	if (header)
		h = curl_slist_append(h, header);
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s %s", method, path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r;
}

Test(auth, keys_and_scopes, .init = keyed_stack_up, .fini = keyed_stack_down, .timeout = 60)
{
	char id[37], body[512];
	json_object *ev = it_event(id, "2006-03-03T10:00:00Z", "auth-user", "auth_event");
	snprintf(body, sizeof body, "[%s]", json_object_to_json_string(ev));
	json_object_put(ev);
	const char *dau = "/stats/dau?from=2006-03-03&to=2006-03-03";
	struct {
		const char *method, *path, *body, *header;
		long want;
	} cases[] = {
	    {"POST", "/events", body, NULL, 401},
	    {"POST", "/events", body, "X-API-Key: wrong-key", 401},
	    {"POST", "/events", body, "X-API-Key: read-only-key-0123", 401},
	    {"POST", "/events", body, "Authorization: Bearer ingest-only-key-0123", 200},
	    {"GET", dau, NULL, NULL, 401},
	    {"GET", dau, NULL, "Authorization: Bearer ingest-only-key-0123", 401},
	    {"GET", dau, NULL, "X-API-Key: read-only-key-0123", 200},
	    {"GET", "/healthz", NULL, NULL, 200},
	    {"GET", "/metrics", NULL, NULL, 200},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct reply r =
		    call(cases[i].method, cases[i].path, cases[i].body, cases[i].header);
		cr_expect_eq(r.status, cases[i].want, "case %zu: %s %s with %s: %ld %s", i,
			     cases[i].method, cases[i].path,
			     cases[i].header ? cases[i].header : "no key", r.status, r.body);
		if (cases[i].want == 401) {
			cr_expect(strstr(r.body, "\"error\":\"unauthorized\"") != NULL,
				  "case %zu: %s", i, r.body);
			cr_expect(r.www_auth[0] != '\0', "case %zu: WWW-Authenticate", i);
		}
	}
	/* keys never reach the logs */
	char cmd[256];
	snprintf(cmd, sizeof cmd, "grep -rq -e ingest-only-key-0123 -e read-only-key-0123 %s/log",
		 side.var_dir);
	cr_expect_neq(system(cmd), 0, "an API key appears in a log under %s/log", side.var_dir);
	snprintf(cmd, sizeof cmd, "grep -q 'API keys configured' %s/log/worker.log", side.var_dir);
	cr_expect_eq(system(cmd), 0, "the pool logs that keys are configured");
}
