/* expect.c: assertions on the service's answers (JSON content type, one X-Request-ID, error
 * and ingest bodies) and JSON member lookups. The expect_ functions make Criterion assertions:
 * call them from inside a test only. */
#include "expect.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <criterion/criterion.h>

json_object *
jget(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

const char *
jstr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	if (!v || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int
jstr_is(json_object *o, const char *key, const char *want)
{
	const char *v = jstr(o, key);

	return v && strcmp(v, want) == 0;
}

/* At most 300 bytes of the body, for messages. */
static const char *
snip(const struct http_resp *r)
{
	static _Thread_local char buf[320];

	snprintf(buf, sizeof(buf), "%.300s", r->body ? r->body : "");
	return buf;
}

void
expect_json_response(const struct http_resp *r, const char *what)
{
	cr_assert_neq(r->status, 0, "%s: expected an HTTP answer, the transfer failed: %s", what,
		      r->curl_error);
	cr_assert(
	    r->content_type && strcasecmp(r->content_type, "application/json; charset=utf-8") == 0,
	    "%s: expected Content-Type 'application/json; charset=utf-8', got '%s' (status %ld)",
	    what, r->content_type ? r->content_type : "(none)", r->status);
	cr_assert_eq(r->request_id_count, 1,
		     "%s: expected exactly one X-Request-ID header, got %d (status %ld)", what,
		     r->request_id_count, r->status);
	cr_assert(r->json, "%s: expected a JSON body, got status %ld body '%s'", what, r->status,
		  snip(r));
}

void
expect_get_json(struct http_resp *r, const char *path)
{
	char what[256];

	snprintf(what, sizeof what, "GET %s", path);
	http_get(r, path);
	cr_assert_eq(r->status, 200, "%s: expected 200, got %ld %.300s", what, r->status, r->body);
	expect_json_response(r, what);
}

void
expect_error(const struct http_resp *r, long status, const char *code, const char *what)
{
	const char *e, *m;

	cr_assert_eq(r->status, status, "%s: expected status %ld, got %ld, body '%s'", what, status,
		     r->status, snip(r));
	expect_json_response(r, what);
	cr_assert(json_object_is_type(r->json, json_type_object),
		  "%s: expected a JSON object error body, got '%s'", what, snip(r));
	e = jstr(r->json, "error");
	m = jstr(r->json, "message");
	cr_assert(e, "%s: expected an \"error\" string in '%s'", what, snip(r));
	cr_assert(m && *m, "%s: expected a non-empty \"message\" string in '%s'", what, snip(r));
	cr_assert_str_eq(e, code, "%s: expected error \"%s\", got \"%s\"", what, code, e);
}

static long
jint_member(const struct http_resp *r, const char *key, const char *what)
{
	json_object *v = jget(r->json, key);

	cr_assert(v && json_object_is_type(v, json_type_int),
		  "%s: expected an integer \"%s\" in '%s'", what, key, snip(r));
	return (long)json_object_get_int64(v);
}

void
expect_ingest(const struct http_resp *r, long received, long accepted, long duplicates,
	      const char *what)
{
	long rec, acc, dup;

	cr_assert_eq(r->status, 200, "%s: expected 200, got %ld, body '%s'", what, r->status,
		     snip(r));
	expect_json_response(r, what);
	rec = jint_member(r, "received", what);
	acc = jint_member(r, "accepted", what);
	dup = jint_member(r, "duplicates", what);
	cr_assert_eq(rec, received, "%s: expected received=%ld, got %ld", what, received, rec);
	cr_assert_eq(acc + dup, rec,
		     "%s: expected accepted+duplicates=received, got %ld+%ld vs %ld", what, acc,
		     dup, rec);
	if (accepted >= 0)
		cr_assert_eq(acc, accepted, "%s: expected accepted=%ld, got %ld", what, accepted,
			     acc);
	if (duplicates >= 0)
		cr_assert_eq(dup, duplicates, "%s: expected duplicates=%ld, got %ld", what,
			     duplicates, dup);
}

json_object *
expect_detail(const struct http_resp *r, size_t i, const char *what)
{
	json_object *d = jget(r->json, "details");
	json_object *e;

	cr_assert(d && json_object_is_type(d, json_type_array),
		  "%s: expected a \"details\" array in '%s'", what, snip(r));
	cr_assert_gt(json_object_array_length(d), i, "%s: expected at least %zu details in '%s'",
		     what, i + 1, snip(r));
	e = json_object_array_get_idx(d, i);
	cr_assert(e && json_object_is_type(e, json_type_object),
		  "%s: expected details[%zu] to be an object in '%s'", what, i, snip(r));
	return e;
}
