/* test_request_id.c: X-Request-ID is kept when sane, made when absent or insane, and the
 * worker's access log line carries it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "client.h"

static int
sane_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Sends method path with header (NULL: no X-Request-ID); returns the answer's id (malloc'd). */
static char *
send_with(const char *method, const char *path, const char *header, long want_status)
{
	const char *h[2] = {header, NULL};
	struct http_resp r;
	char what[400];
	char *id;

	snprintf(what, sizeof(what), "%s %s with '%.200s'", method, path,
		 header ? header : "(none)");
	http_request(&r, method, path, NULL, NULL, 0, header ? h : NULL);
	cr_assert_eq(r.status, want_status, "%s: expected %ld, got %ld", what, want_status,
		     r.status);
	expect_json_response(&r, what);
	cr_assert(r.request_id, "%s: expected an X-Request-ID header", what);
	cr_assert(sane_id(r.request_id),
		  "%s: expected the answer's X-Request-ID to match [A-Za-z0-9._-]{1,128}, got '%s'",
		  what, r.request_id);
	id = strdup(r.request_id);
	cr_assert(id, "strdup");
	http_resp_free(&r);
	return id;
}

Test(request_id, sane_value_echoed, .timeout = 30)
{
	char id128[129], hdr[200], *got;

	got = send_with("GET", "/healthz", "X-Request-ID: abc-123_x.Y", 200);
	cr_assert_str_eq(got, "abc-123_x.Y", "expected the sane id echoed, got '%s'", got);
	free(got);

	got = send_with("GET", "/nope", "X-Request-ID: abc-123_x.Y", 404);
	cr_assert_str_eq(got, "abc-123_x.Y", "expected the sane id echoed on a 404, got '%s'", got);
	free(got);

	memset(id128, 'a', 128);
	id128[128] = '\0';
	id128[0] = 'Z';
	id128[127] = '9';
	snprintf(hdr, sizeof(hdr), "X-Request-ID: %s", id128);
	got = send_with("GET", "/healthz", hdr, 200);
	cr_assert_str_eq(got, id128, "expected a 128-char sane id echoed, got '%s'", got);
	free(got);
}

Test(request_id, insane_or_absent_replaced, .timeout = 30)
{
	char id129[130], hdr[200];
	const char *bad[6] = {"X-Request-ID: has space", hdr,
			      "X-Request-ID: abc/def",	 "X-Request-ID: a\"b<c>",
			      "X-Request-ID;",		 "X-Request-ID: \xc3\xa9t\xc3\xa9"};
	char *got, *got2;

	memset(id129, 'b', 129);
	id129[129] = '\0';
	snprintf(hdr, sizeof(hdr), "X-Request-ID: %s", id129);
	for (size_t i = 0; i < 6; i++) {
		got = send_with("GET", "/healthz", bad[i], 200);
		cr_assert(strcmp(got, id129) != 0 && strcmp(got, "has space") != 0 &&
			      strcmp(got, "abc/def") != 0,
			  "expected an insane id (%s) replaced, got '%s'", bad[i], got);
		free(got);
	}
	got = send_with("GET", "/healthz", NULL, 200);
	got2 = send_with("GET", "/healthz", NULL, 200);
	cr_assert_str_neq(got, got2, "expected generated ids to differ between requests, both '%s'",
			  got);
	free(got);
	free(got2);
	got = send_with("POST", "/stats/dau", NULL, 405);
	free(got);
}

/* Finds the JSON log line whose request_id is id, polling the log for up to 5 s. The caller
 * puts the result. */
static json_object *
log_line(const char *id)
{
	const char *dir = getenv("EVENTS_VAR_DIR");
	char path[1024];

	cr_assert(dir && *dir, "EVENTS_VAR_DIR must be set");
	snprintf(path, sizeof(path), "%s/log/worker.log", dir);
	for (int tries = 0; tries < 50; tries++) {
		FILE *fp = fopen(path, "r");
		char *line = NULL;
		size_t cap = 0;
		json_object *found = NULL;

		if (fp) {
			while (!found && getline(&line, &cap, fp) > 0) {
				json_object *j;

				if (!strstr(line, id))
					continue;
				j = json_tokener_parse(line);
				if (j && jstr(j, "request_id") &&
				    strcmp(jstr(j, "request_id"), id) == 0 && jstr(j, "logger") &&
				    strcmp(jstr(j, "logger"), "access") == 0)
					found = j;
				else
					json_object_put(j);
			}
			free(line);
			fclose(fp);
		}
		if (found)
			return found;
		usleep(100 * 1000);
	}
	cr_assert_fail("expected a JSON access line with request_id \"%s\" in %s", id, path);
	return NULL;
}

static void
check_access(const char *id, const char *method, const char *path, int status)
{
	json_object *j = log_line(id);
	json_object *v;

	cr_assert(jstr(j, "method") && strcmp(jstr(j, "method"), method) == 0,
		  "log line of %s: expected method \"%s\": %s", id, method,
		  json_object_to_json_string(j));
	cr_assert(jstr(j, "path") && strcmp(jstr(j, "path"), path) == 0,
		  "log line of %s: expected path \"%s\": %s", id, path,
		  json_object_to_json_string(j));
	v = jget(j, "status");
	cr_assert(v && json_object_is_type(v, json_type_int) && json_object_get_int(v) == status,
		  "log line of %s: expected integer status %d: %s", id, status,
		  json_object_to_json_string(j));
	v = jget(j, "duration_ms");
	cr_assert(v &&
		      (json_object_is_type(v, json_type_double) ||
		       json_object_is_type(v, json_type_int)) &&
		      json_object_get_double(v) >= 0,
		  "log line of %s: expected a number duration_ms >= 0: %s", id,
		  json_object_to_json_string(j));
	v = jget(j, "pid");
	cr_assert(v && json_object_is_type(v, json_type_int) && json_object_get_int(v) > 0,
		  "log line of %s: expected an integer pid: %s", id, json_object_to_json_string(j));
	cr_assert(jstr(j, "ts") && jstr(j, "level") && jstr(j, "msg"),
		  "log line of %s: expected ts, level and msg strings: %s", id,
		  json_object_to_json_string(j));
	json_object_put(j);
}

Test(request_id, access_log_line, .timeout = 60)
{
	char tag[17], id[64], hdr[96], *got;

	it_hex(tag, 8);
	snprintf(id, sizeof(id), "it.%s_Z-9", tag);
	snprintf(hdr, sizeof(hdr), "X-Request-ID: %s", id);
	got = send_with("GET", "/healthz", hdr, 200);
	cr_assert_str_eq(got, id, "expected '%s' echoed, got '%s'", id, got);
	free(got);
	check_access(id, "GET", "/healthz", 200);

	snprintf(id, sizeof(id), "it.%s_404", tag);
	snprintf(hdr, sizeof(hdr), "X-Request-ID: %s", id);
	free(send_with("GET", "/no-such-route", hdr, 404));
	check_access(id, "GET", "/no-such-route", 404);

	got = send_with("GET", "/healthz", NULL, 200); /* a generated id is logged too */
	check_access(got, "GET", "/healthz", 200);
	free(got);
}
