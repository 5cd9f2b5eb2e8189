/* test_errors.c: every error status the service owns, the order of the checks, and NDJSON. Every
 * error answer is JSON {"error", "message"} with Content-Type application/json; charset=utf-8
 * and one X-Request-ID (expect_error checks that on each). Nothing here may be stored: the
 * events that would be valid are dated 2010. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "client.h"
#include "event.h"

enum { MIB10 = 10 * 1024 * 1024 };

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	cr_assert(d, "strdup");
	return d;
}

/* Serialized valid event, malloc'd; its id goes to id. */
static char *
event_text(char id[37])
{
	json_object *e = it_event(id, "2010-05-10T10:00:00Z", "it-errors", NULL);
	char *s = xstrdup(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));

	json_object_put(e);
	return s;
}

/* A JSON object with "field": raw (raw JSON text) instead of the base event's field, or with the
 * field removed when raw is NULL. malloc'd; its id (when kept) goes to id. */
static char *
event_with(char id[37], const char *field, const char *raw)
{
	json_object *e = it_event(id, "2010-05-10T10:00:00Z", "it-errors", NULL);
	const char *s;
	char *out;
	size_t n;

	json_object_object_del(e, field);
	s = json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN);
	n = strlen(s);
	out = malloc(n + strlen(field) + (raw ? strlen(raw) : 0) + 16);
	cr_assert(out, "malloc");
	if (!raw)
		strcpy(out, s);
	else
		sprintf(out, "%.*s,\"%s\":%s}", (int)(n - 1), s, field, raw);
	json_object_put(e);
	return out;
}

static void
post_raw(struct http_resp *r, const char *ct, const char *body, size_t len)
{
	http_request(r, "POST", "/events", ct, body, len, NULL);
}

/* POSTs len bytes of body as ct and expects the error answer status with code. */
static void
post_refused(const char *ct, const char *body, size_t len, long status, const char *code,
	     const char *what)
{
	struct http_resp r;

	post_raw(&r, ct, body, len);
	expect_error(&r, status, code, what);
	http_resp_free(&r);
}

static long long
count_stored(char *const *ids, size_t n)
{
	return db_count_ids(it_db, ids, n);
}

/* 422 whose details all carry field + message and no index; field is one of want (NULL: any). */
static void
expect_param_error(const char *path, const char *want1, const char *want2)
{
	struct http_resp r;
	json_object *det;
	char what[512];

	snprintf(what, sizeof(what), "GET %s", path);
	http_get(&r, path);
	expect_error(&r, 422, "validation_failed", what);
	expect_detail(&r, 0, what);
	det = jget(r.json, "details");
	for (size_t i = 0; i < json_object_array_length(det); i++) {
		json_object *d = json_object_array_get_idx(det, i);
		const char *f = jstr(d, "field");

		cr_assert(f && *f, "%s: expected details[%zu].field string in %s", what, i, r.body);
		cr_assert(jstr(d, "message") && *jstr(d, "message"),
			  "%s: expected details[%zu].message string in %s", what, i, r.body);
		cr_assert(!jget(d, "index"), "%s: expected no index in a parameter error: %s", what,
			  r.body);
		if (i == 0 && want1)
			cr_assert(strcmp(f, want1) == 0 || (want2 && strcmp(f, want2) == 0),
				  "%s: expected details[0].field \"%s\"%s%s%s, got \"%s\"", what,
				  want1, want2 ? " or \"" : "", want2 ? want2 : "",
				  want2 ? "\"" : "", f);
	}
	http_resp_free(&r);
}

/* ---- 400 ------------------------------------------------------------------------------------ */

Test(errors, bad_request_malformed_json, .init = it_db_init, .fini = it_db_fini, .timeout = 30)
{
	char id[37];
	char *ev = event_text(id);
	char body[4096];
	const char *bodies[6];

	snprintf(body, sizeof(body), "[%s", ev); /* truncated */
	bodies[0] = xstrdup(body);
	snprintf(body, sizeof(body), "[%s] xyz", ev); /* trailing garbage */
	bodies[1] = xstrdup(body);
	snprintf(body, sizeof(body), "[%s]]", ev);
	bodies[2] = xstrdup(body);
	snprintf(body, sizeof(body), "[%.*s", (int)(strlen(ev) / 2), ev); /* cut mid-string */
	bodies[3] = xstrdup(body);
	bodies[4] = xstrdup("");
	bodies[5] = xstrdup("{\"event_id\": 'single quotes'}");
	for (size_t i = 0; i < 6; i++) {
		char what[96];

		snprintf(what, sizeof(what), "POST /events malformed body #%zu", i);
		post_refused("application/json", bodies[i], strlen(bodies[i]), 400, "bad_request",
			     what);
		free((char *)bodies[i]);
	}
	{
		char *idp[1] = {id};

		cr_assert_eq(count_stored(idp, 1), 0,
			     "expected nothing stored from malformed bodies");
	}
	free(ev);
}

Test(errors, bad_request_query_string, .timeout = 30)
{
	static const char *const paths[] = {
	    "/stats/dau?from=%zz&to=2025-08-01",
	    "/stats/dau?from=2025-08-01&to=2025-08-0%",
	    "/stats/top-events?from=2025-08-01&to=2025-08-02&limit=%4",
	    "/stats/retention?start_date=%zz",
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
		struct http_resp r;
		char what[128];

		snprintf(what, sizeof(what), "GET %s", paths[i]);
		http_get(&r, paths[i]);
		expect_error(&r, 400, "bad_request", what);
		http_resp_free(&r);
	}
}

/* ---- 404, 405 ------------------------------------------------------------------------------- */

Test(errors, not_found, .timeout = 30)
{
	static const struct {
		const char *method, *path;
	} c[] = {
	    {"GET", "/nope"},	     {"GET", "/stats/nope"},	    {"POST", "/eventsx"},
	    {"GET", "/stats/dau/x"}, {"DELETE", "/does/not/exist"},
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++) {
		struct http_resp r;
		char what[128];
		int post = strcmp(c[i].method, "POST") == 0;

		snprintf(what, sizeof(what), "%s %s", c[i].method, c[i].path);
		http_request(&r, c[i].method, c[i].path, post ? "application/json" : NULL,
			     post ? "[]" : NULL, post ? 2 : 0, NULL);
		expect_error(&r, 404, "not_found", what);
		http_resp_free(&r);
	}
}

/* 1 if the comma-separated list has the token. */
static int
has_token(const char *list, const char *tok)
{
	size_t n = strlen(tok);

	for (const char *p = list; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (strncasecmp(p, tok, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return 1;
		p = strchr(p, ',');
	}
	return 0;
}

Test(errors, method_not_allowed, .timeout = 30)
{
	static const struct {
		const char *method, *path, *allowed;
	} c[] = {
	    {"DELETE", "/events", "POST"},
	    {"GET", "/events", "POST"},
	    {"PUT", "/events", "POST"},
	    {"POST", "/stats/dau?from=2025-08-01&to=2025-08-01", "GET"},
	    {"POST", "/stats/top-events", "GET"},
	    {"DELETE", "/stats/retention", "GET"},
	    {"POST", "/healthz", "GET"},
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++) {
		struct http_resp r;
		char what[128];
		int body = strcmp(c[i].method, "POST") == 0 || strcmp(c[i].method, "PUT") == 0;

		snprintf(what, sizeof(what), "%s %s", c[i].method, c[i].path);
		http_request(&r, c[i].method, c[i].path, body ? "application/json" : NULL,
			     body ? "{}" : NULL, body ? 2 : 0, NULL);
		expect_error(&r, 405, "method_not_allowed", what);
		cr_assert(r.allow, "%s: expected an Allow header on 405", what);
		cr_assert(has_token(r.allow, c[i].allowed),
			  "%s: expected Allow to list %s, got '%s'", what, c[i].allowed, r.allow);
		cr_assert(!has_token(r.allow, c[i].method),
			  "%s: expected Allow not to list %s, got '%s'", what, c[i].method,
			  r.allow);
		http_resp_free(&r);
	}
}

/* ---- 413 and the order of checks ------------------------------------------------------------ */

/* "[" + n copies of ev joined by "," + "]", malloc'd. */
static char *
repeat_events(size_t n, int bad_ids, size_t *len)
{
	size_t cap = 2, o = 0;
	char **evs = malloc(n * sizeof(*evs));
	char *s;

	cr_assert(evs, "malloc");
	for (size_t i = 0; i < n; i++) {
		char id[37];

		evs[i] = bad_ids ? event_with(id, "event_id", "\"not-a-uuid\"") : event_text(id);
		cap += strlen(evs[i]) + 1;
	}
	s = malloc(cap + 1);
	cr_assert(s, "malloc");
	s[o++] = '[';
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(evs[i]);

		if (i)
			s[o++] = ',';
		memcpy(s + o, evs[i], l);
		o += l;
		free(evs[i]);
	}
	s[o++] = ']';
	s[o] = '\0';
	free(evs);
	*len = o;
	return s;
}

/* One event whose properties pad the whole body to exactly total bytes. */
static char *
padded_body(size_t total, char id[37])
{
	char *ev = event_with(id, "properties", NULL);
	size_t el = strlen(ev);
	const char *pre = ",\"properties\":{\"k\":\"", *post = "\"}}]";
	size_t fixed = 1 + (el - 1) + strlen(pre) + strlen(post);
	char *s = malloc(total + 1);
	size_t o = 0;

	cr_assert(s && total > fixed, "malloc");
	s[o++] = '[';
	memcpy(s + o, ev, el - 1);
	o += el - 1;
	memcpy(s + o, pre, strlen(pre));
	o += strlen(pre);
	memset(s + o, 'p', total - fixed);
	o += total - fixed;
	memcpy(s + o, post, strlen(post));
	o += strlen(post);
	s[o] = '\0';
	cr_assert_eq(o, total, "test bug: padded body length");
	free(ev);
	return s;
}

/* A large body: its form, its size (bytes of PADDED and BRACKETS, events of the others) and
 * the error it must get. */
struct big_body {
	enum { PADDED, VALID_EVENTS, BAD_EVENTS, BRACKETS } form;
	size_t n;
	long status;
	const char *code, *what;
};

/* Builds and posts each body, expecting its error; the PADDED ones write their event id to id. */
static void
post_big_bodies(const struct big_body *b, size_t n, char id[37])
{
	for (size_t i = 0; i < n; i++) {
		size_t len = b[i].n;
		char *s;

		if (b[i].form == PADDED) {
			s = padded_body(b[i].n, id);
		} else if (b[i].form == BRACKETS) {
			s = malloc(b[i].n + 1);
			cr_assert(s, "malloc");
			memset(s, '[', b[i].n);
			s[b[i].n] = '\0';
		} else {
			s = repeat_events(b[i].n, b[i].form == BAD_EVENTS, &len);
		}
		post_refused("application/json", s, len, b[i].status, b[i].code, b[i].what);
		free(s);
	}
}

Test(errors, payload_too_large, .init = it_db_init, .fini = it_db_fini, .timeout = 120)
{
	static const struct big_body oversized[] = {
	    {PADDED, MIB10 + 1, 413, "payload_too_large", "POST /events body of 10 MiB + 1 byte"},
	    {PADDED, MIB10 + 512 * 1024, 413, "payload_too_large", "POST /events body of 10.5 MiB"},
	};
	/* exactly 10 MiB is not too large: it fails later, on content (properties > 64 KiB) */
	static const struct big_body at_limit[] = {
	    {PADDED, MIB10, 422, "validation_failed",
	     "POST /events body of exactly 10 MiB with properties over 64 KiB"},
	    {VALID_EVENTS, 10001, 413, "payload_too_large",
	     "POST /events with 10 001 valid events"},
	};
	char id[37];
	char *idp[1] = {id};

	post_big_bodies(oversized, 2, id);
	cr_assert_eq(count_stored(idp, 1), 0, "expected nothing stored from an oversized body");
	post_big_bodies(at_limit, 2, id);
}

Test(errors, order_of_checks, .timeout = 120)
{
	static const struct big_body size_first[] = {
	    /* size before well-formedness */
	    {BRACKETS, MIB10 + 1, 413, "payload_too_large",
	     "POST /events 10 MiB + 1 of '[' (malformed)"},
	    /* size before content */
	    {BAD_EVENTS, 10001, 413, "payload_too_large",
	     "POST /events 10 001 events with bad ids"},
	};
	struct http_resp r;
	char id[37];
	size_t len;
	char *s;

	post_big_bodies(size_first, 2, id);

	/* 10 000 is not too many: content errors, details capped */
	s = repeat_events(10000, 1, &len);
	post_raw(&r, "application/json", s, len);
	expect_error(&r, 422, "validation_failed", "POST /events 10 000 events with bad ids");
	cr_assert_leq(json_object_array_length(jget(r.json, "details")), 100,
		      "expected at most 100 details, got %zu",
		      json_object_array_length(jget(r.json, "details")));
	http_resp_free(&r);

	/* well-formedness before content: bad events, then a broken tail */
	s[len - 1] = ','; /* "...}," and cut */
	post_refused("application/json", s, len, 400, "bad_request",
		     "POST /events bad events in a truncated array");
	free(s);
}

/* ---- 415 ------------------------------------------------------------------------------------ */

Test(errors, unsupported_media_type, .init = it_db_init, .fini = it_db_fini, .timeout = 30)
{
	static const char *const types[] = {"text/plain", "application/xml",
					    "application/x-www-form-urlencoded", "text/csv"};
	char id[37];
	char *idp[1] = {id};
	char *ev = event_text(id);
	char body[4096];

	snprintf(body, sizeof(body), "[%s]", ev);
	for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
		char what[128];

		snprintf(what, sizeof(what), "POST /events with Content-Type %s", types[i]);
		post_refused(types[i], body, strlen(body), 415, "unsupported_media_type", what);
	}
	cr_assert_eq(count_stored(idp, 1), 0, "expected nothing stored from a 415");
	free(ev);
}

/* ---- 422: event rules ----------------------------------------------------------------------- */

struct rule_case {
	const char *field; /* the field changed, and the detail's expected field */
	char *raw;	   /* its new raw JSON value, NULL: removed */
};

static char *
json_str_of(const char *s)
{
	json_object *o = json_object_new_string(s);
	char *r = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));

	json_object_put(o);
	return r;
}

static char *
repeat_char(char c, size_t n)
{
	char *s = malloc(n + 1);

	cr_assert(s, "malloc");
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static size_t
rule_cases(struct rule_case *c)
{
	static const struct {
		const char *field, *raw;
	} fixed[] = {
	    {"event_id", "\"not-a-uuid\""},
	    {"event_id", "\"25a4b866040b466f945c148e4720f511\""},
	    {"event_id", "\"{25a4b866-040b-466f-945c-148e4720f511}\""},
	    {"event_id", "\"25a4b866-040b-466f-945c-148e4720f51\""},
	    {"event_id", "\"25a4b866-040b-466f-945c-148e4720f5111\""},
	    {"event_id", "\"25a4b866-040b-466f-945c-148e4720f51g\""},
	    {"event_id", "\"\""},
	    {"event_id", "123"},
	    {"event_id", "null"},
	    {"event_id", NULL},
	    {"occurred_at", NULL},
	    {"user_id", NULL},
	    {"event_type", NULL},
	    {"user_id", "\"\""},
	    {"user_id", "\"ab\\u0001c\""},
	    {"user_id", "\"ab\\u0000c\""},
	    {"event_type", "\"x\\u0000\""},
	    {"user_id", "\"ab\\nc\""},
	    {"user_id", "\"ab\\u007fc\""},
	    {"user_id", "\"ab\\u0085c\""},
	    {"user_id", "1.5"},
	    {"user_id", "9223372036854775808"},
	    {"user_id", "-9223372036854775809"},
	    {"user_id", "1e3"},
	    {"user_id", "true"},
	    {"user_id", "null"},
	    {"user_id", "[1]"},
	    {"user_id", "{}"},
	    {"event_type", "\"\""},
	    {"event_type", "\"a\\tb\""},
	    {"event_type", "5"},
	    {"event_type", "null"},
	    {"occurred_at", "\"2025-02-30T10:00:00Z\""},
	    {"occurred_at", "\"2025-08-01T24:00:00Z\""},
	    {"occurred_at", "\"2025-08-01T23:59:60Z\""},
	    {"occurred_at", "\"2025-08-01\""},
	    {"occurred_at", "\"2025-08-01T10:00Z\""},
	    {"occurred_at", "\"01/08/2025 10:00:00\""},
	    {"occurred_at", "\"2025-08-01T10:00:00+25:00\""},
	    {"occurred_at", "\"2025-13-01T10:00:00Z\""},
	    {"occurred_at", "\"\""},
	    {"occurred_at", "1754042400"},
	    {"occurred_at", "null"},
	    {"properties", "[]"},
	    {"properties", "\"{}\""},
	    {"properties", "5"},
	    {"properties", "true"},
	};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++) {
		c[n].field = fixed[i].field;
		c[n++].raw = fixed[i].raw ? xstrdup(fixed[i].raw) : NULL;
	}
	{ /* more than 24 h in the future */
		time_t t = time(NULL) + 25 * 3600;
		struct tm tm;
		char at[40];

		gmtime_r(&t, &tm);
		strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
		c[n].field = "occurred_at";
		c[n++].raw = json_str_of(at);
		c[n].field = "occurred_at";
		c[n++].raw = xstrdup("\"2999-01-01T00:00:00Z\"");
	}
	{
		char *s = repeat_char('u', 257);

		c[n].field = "user_id";
		c[n++].raw = json_str_of(s);
		free(s);
		s = repeat_char('t', 129);
		c[n].field = "event_type";
		c[n++].raw = json_str_of(s);
		free(s);
	}
	{ /* {"k":"..."} of 65537 bytes */
		char *v = repeat_char('p', 65537 - 8);
		size_t l = strlen(v) + 16;
		char *raw = malloc(l);

		cr_assert(raw, "malloc");
		snprintf(raw, l, "{\"k\":\"%s\"}", v);
		free(v);
		c[n].field = "properties";
		c[n++].raw = raw;
	}
	return n;
}

Test(errors, event_rules, .init = it_db_init, .fini = it_db_fini, .timeout = 120)
{
	struct rule_case c[80];
	size_t n = rule_cases(c);

	for (size_t i = 0; i < n; i++) {
		char ida[37], idb[37], idc[37];
		char *idp[2] = {ida, idc};
		char *a = event_text(ida), *b = event_with(idb, c[i].field, c[i].raw),
		     *cc = event_text(idc);
		size_t len = strlen(a) + strlen(b) + strlen(cc) + 8;
		char *body = malloc(len);
		char what[200];
		struct http_resp r;
		json_object *d;
		const char *f;

		cr_assert(body, "malloc");
		snprintf(body, len, "[%s,%s,%s]", a, b, cc);
		snprintf(what, sizeof(what), "POST /events [good, %s=%.60s%s, good]", c[i].field,
			 c[i].raw ? c[i].raw : "(missing)",
			 c[i].raw && strlen(c[i].raw) > 60 ? "..." : "");
		post_raw(&r, "application/json", body, strlen(body));
		expect_error(&r, 422, "validation_failed", what);
		d = expect_detail(&r, 0, what);
		cr_assert_eq(json_object_array_length(jget(r.json, "details")), 1,
			     "%s: expected exactly one detail, got %.300s", what, r.body);
		cr_assert(
		    jget(d, "index") && json_object_is_type(jget(d, "index"), json_type_int) &&
			json_object_get_int(jget(d, "index")) == 1,
		    "%s: expected details[0].index == 1 (zero-based), got %.300s", what, r.body);
		f = jstr(d, "field");
		cr_assert(f && strcmp(f, c[i].field) == 0,
			  "%s: expected details[0].field \"%s\", got %.300s", what, c[i].field,
			  r.body);
		cr_assert(jstr(d, "message") && *jstr(d, "message"),
			  "%s: expected a details[0].message, got %.300s", what, r.body);
		http_resp_free(&r);
		cr_assert_eq(count_stored(idp, 2), 0, "%s: expected the valid events not stored",
			     what);
		free(a);
		free(b);
		free(cc);
		free(body);
		free(c[i].raw);
	}
}

Test(errors, validation_details, .init = it_db_init, .fini = it_db_fini, .timeout = 60)
{
	struct http_resp r;
	size_t len;
	char *s;
	json_object *det;
	char seen[150] = {0};

	/* first event bad: index 0 */
	{
		char ida[37], idb[37];
		char *a = event_with(ida, "event_type", "\"\""), *b = event_text(idb);
		char body[4096];

		snprintf(body, sizeof(body), "[%s,%s]", a, b);
		post_raw(&r, "application/json", body, strlen(body));
		expect_error(&r, 422, "validation_failed", "POST /events [bad event_type, good]");
		cr_assert_eq(
		    json_object_get_int(jget(expect_detail(&r, 0, "[bad, good]"), "index")), 0,
		    "expected details[0].index == 0 for the first event, got %s", r.body);
		http_resp_free(&r);
		free(a);
		free(b);
	}

	/* 150 bad events: at most 100 details, each a real index */
	s = repeat_events(150, 1, &len);
	post_raw(&r, "application/json", s, len);
	expect_error(&r, 422, "validation_failed", "POST /events with 150 bad events");
	det = jget(r.json, "details");
	cr_assert(det && json_object_is_type(det, json_type_array), "expected details: %.300s",
		  r.body);
	cr_assert(json_object_array_length(det) >= 1 && json_object_array_length(det) <= 100,
		  "expected 1..100 details for 150 bad events, got %zu",
		  json_object_array_length(det));
	for (size_t i = 0; i < json_object_array_length(det); i++) {
		json_object *d = json_object_array_get_idx(det, i);
		json_object *ix = jget(d, "index");
		int k;

		cr_assert(ix && json_object_is_type(ix, json_type_int),
			  "expected an integer details[%zu].index", i);
		k = json_object_get_int(ix);
		cr_assert(k >= 0 && k < 150, "expected details[%zu].index in 0..149, got %d", i, k);
		cr_assert(!seen[k], "expected event %d listed once in details", k);
		seen[k] = 1;
		cr_assert(jstr(d, "field") && strcmp(jstr(d, "field"), "event_id") == 0,
			  "expected details[%zu].field \"event_id\"", i);
	}
	http_resp_free(&r);
	free(s);

	/* empty array, and an empty wrapper: 422 without index */
	{
		static const char *const bodies[] = {"[]", "{\"events\": []}"};

		for (size_t i = 0; i < 2; i++) {
			char what[64];
			json_object *d;

			snprintf(what, sizeof(what), "POST /events %s", bodies[i]);
			post_raw(&r, "application/json", bodies[i], strlen(bodies[i]));
			expect_error(&r, 422, "validation_failed", what);
			d = expect_detail(&r, 0, what);
			cr_assert(jstr(d, "field") && jstr(d, "message"),
				  "%s: expected field and message in details[0]: %s", what, r.body);
			cr_assert(!jget(d, "index"), "%s: expected no index for an empty array: %s",
				  what, r.body);
			http_resp_free(&r);
		}
	}
	/* well-formed JSON that is not events */
	{
		static const char *const bodies[] = {"\"hello\"", "[1, 2]", "42",  "-1.5",
						     "true",	  "false",  "null"};

		for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++) {
			char what[64];

			snprintf(what, sizeof(what), "POST /events %s", bodies[i]);
			post_refused("application/json", bodies[i], strlen(bodies[i]), 422,
				     "validation_failed", what);
		}
	}
}

/* ---- 422: query parameters ------------------------------------------------------------------ */

static void
date_plus(const char *d0, int64_t add, char out[EVENT_DATE_BUF])
{
	event_date_format(model_day(d0) + add, out);
}

Test(errors, stats_parameters, .timeout = 60)
{
	static const struct {
		const char *path, *f1, *f2;
	} c[] = {
	    {"/stats/dau?to=2025-08-01", "from", NULL},
	    {"/stats/dau?from=2025-08-01", "to", NULL},
	    {"/stats/dau", "from", "to"},
	    {"/stats/dau?from=2025-08-02&to=2025-08-01", "to", "from"},
	    {"/stats/dau?from=2025-13-01&to=2025-12-01", "from", NULL},
	    {"/stats/dau?from=2025-02-30&to=2025-03-01", "from", NULL},
	    {"/stats/dau?from=20250801&to=2025-08-02", "from", NULL},
	    {"/stats/dau?from=2025-08-01&to=2025-8-2", "to", NULL},
	    {"/stats/dau?from=2025-08-01T00:00:00Z&to=2025-08-02", "from", NULL},
	    {"/stats/top-events?to=2025-08-01", "from", NULL},
	    {"/stats/top-events?from=2025-08-01&to=2025-07-31", "to", "from"},
	    {"/stats/top-events?from=2025-08-01&to=2025-08-31&limit=0", "limit", NULL},
	    {"/stats/top-events?from=2025-08-01&to=2025-08-31&limit=1001", "limit", NULL},
	    {"/stats/top-events?from=2025-08-01&to=2025-08-31&limit=-1", "limit", NULL},
	    {"/stats/top-events?from=2025-08-01&to=2025-08-31&limit=abc", "limit", NULL},
	    {"/stats/top-events?from=2025-08-01&to=2025-08-31&limit=99999999999999999999", "limit",
	     NULL},
	    {"/stats/top-events?from=2025-13-01&to=2025-12-01", "from", NULL},
	    {"/stats/retention?start_date=2025-08-01&windows=366", "windows", NULL},
	    {"/stats/retention?start_date=2025-08-01&windows=366&granularity=day", "windows", NULL},
	    {"/stats/retention?start_date=2025-08-01&windows=105&granularity=week", "windows",
	     NULL},
	    {"/stats/retention?start_date=2025-08-01&windows=-1", "windows", NULL},
	    {"/stats/retention?start_date=2025-08-01&windows=x", "windows", NULL},
	    {"/stats/retention?start_date=2025-08-01&granularity=month", "granularity", NULL},
	    {"/stats/retention?start_date=2025-13-01", "start_date", NULL},
	    {"/stats/retention?start_date=2025-02-29", "start_date", NULL},
	    {"/stats/retention", "start_date", NULL},
	    {"/stats/dau?from=0000-12-31&to=0001-01-01", "from", NULL},
	    {"/stats/dau?from=9999-12-31&to=10000-01-01", "to", NULL},
	    {"/stats/retention?start_date=9999-12-30&windows=3", NULL, NULL},
	    {"/stats/retention?start_date=9999-12-20&windows=2&granularity=week", NULL, NULL},
	};
	char path[160], to[EVENT_DATE_BUF];

	for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++)
		expect_param_error(c[i].path, c[i].f1, c[i].f2);

	/* more than 3660 days */
	date_plus("2000-01-01", 3660, to);
	snprintf(path, sizeof(path), "/stats/dau?from=2000-01-01&to=%s", to);
	expect_param_error(path, "to", "from");
	snprintf(path, sizeof(path), "/stats/top-events?from=2000-01-01&to=%s", to);
	expect_param_error(path, "to", "from");
}

Test(errors, stats_parameter_limits_accepted, .timeout = 60)
{
	char path[160], to[EVENT_DATE_BUF];
	struct http_resp r;

	date_plus("2000-01-01", 3659, to);
	snprintf(path, sizeof(path), "/stats/dau?from=2000-01-01&to=%s", to);
	http_get(&r, path);
	cr_assert_eq(r.status, 200, "GET %s (3660 days): expected 200, got %ld %.300s", path,
		     r.status, r.body);
	expect_json_response(&r, path);
	cr_assert_eq(json_object_array_length(r.json), 3660, "GET %s: expected 3660 days, got %zu",
		     path, json_object_array_length(r.json));
	http_resp_free(&r);

	{ /* the ends of the calendar, and unknown parameters are ignored */
		static const struct {
			const char *path, *first, *last;
			size_t n;
		} c[] = {
		    {"/stats/dau?from=0001-01-01&to=0001-01-03", "0001-01-01", "0001-01-03", 3},
		    {"/stats/dau?from=9999-12-30&to=9999-12-31", "9999-12-30", "9999-12-31", 2},
		    {"/stats/dau?from=2024-02-28&to=2024-03-01&utm_source=x", "2024-02-28",
		     "2024-03-01", 3},
		};

		for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++) {
			json_object *a;

			http_get(&r, c[i].path);
			cr_assert_eq(r.status, 200, "GET %s: expected 200, got %ld %.300s",
				     c[i].path, r.status, r.body);
			expect_json_response(&r, c[i].path);
			a = r.json;
			cr_assert(json_object_is_type(a, json_type_array) &&
				      json_object_array_length(a) == c[i].n,
				  "GET %s: expected %zu days, got %s", c[i].path, c[i].n, r.body);
			cr_assert(strcmp(jstr(json_object_array_get_idx(a, 0), "date"),
					 c[i].first) == 0 &&
				      strcmp(jstr(json_object_array_get_idx(a, c[i].n - 1), "date"),
					     c[i].last) == 0,
				  "GET %s: expected dates %s..%s, got %s", c[i].path, c[i].first,
				  c[i].last, r.body);
			http_resp_free(&r);
		}
	}

	snprintf(path, sizeof(path), "/stats/top-events?from=2000-01-01&to=%s", to);
	http_get(&r, path);
	cr_assert_eq(r.status, 200, "GET %s (3660 days): expected 200, got %ld", path, r.status);
	expect_json_response(&r, path);
	cr_assert_leq(json_object_array_length(r.json), 10, "GET %s: expected the default limit 10",
		      path);
	http_resp_free(&r);

	{
		static const struct {
			const char *path;
			size_t n;
		} c[] = {
		    {"/stats/retention?start_date=2025-08-01&windows=365", 366},
		    {"/stats/retention?start_date=2025-08-01&windows=104&granularity=week", 105},
		    {"/stats/retention?start_date=2025-08-01&windows=0", 1},
		    {"/stats/retention?start_date=2025-08-01", 4},
		    {"/stats/retention?start_date=9999-12-28&windows=3", 4},
		};

		for (size_t i = 0; i < sizeof(c) / sizeof(*c); i++) {
			http_get(&r, c[i].path);
			cr_assert_eq(r.status, 200, "GET %s: expected 200, got %ld %.300s",
				     c[i].path, r.status, r.body);
			expect_json_response(&r, c[i].path);
			cr_assert_eq(json_object_array_length(jget(r.json, "windows")), c[i].n,
				     "GET %s: expected %zu windows", c[i].path, c[i].n);
			cr_assert(jstr(r.json, "granularity") &&
				      strcmp(jstr(r.json, "granularity"),
					     strstr(c[i].path, "week") ? "week" : "day") == 0,
				  "GET %s: expected granularity %s (day is the default)", c[i].path,
				  strstr(c[i].path, "week") ? "week" : "day");
			http_resp_free(&r);
		}
	}
}

/* ---- NDJSON --------------------------------------------------------------------------------- */

Test(errors, ndjson, .init = it_db_init, .fini = it_db_fini, .timeout = 30)
{
	char ids[3][37];
	char *idp[3] = {ids[0], ids[1], ids[2]};
	char *l[3];
	char body[8192];
	struct http_resp r;
	json_object *d;

	/* line 1 malformed */
	l[0] = event_text(ids[0]);
	l[1] = xstrdup("{\"event_id\": \"x\", ");
	l[2] = event_text(ids[2]);
	snprintf(body, sizeof(body), "%s\n%s\n%s\n", l[0], l[1], l[2]);
	post_raw(&r, "application/x-ndjson", body, strlen(body));
	expect_error(&r, 400, "bad_request", "POST /events NDJSON with malformed line 1");
	d = expect_detail(&r, 0, "NDJSON malformed line");
	cr_assert(jget(d, "index") && json_object_get_int(jget(d, "index")) == 1,
		  "expected details[0].index == 1 (the zero-based malformed line), got %s", r.body);
	http_resp_free(&r);
	idp[1] = ids[2]; /* line 1 has no id */
	cr_assert_eq(count_stored(idp, 2), 0, "expected nothing stored after a 400");
	idp[1] = ids[1];
	for (int i = 0; i < 3; i++)
		free(l[i]);

	/* line 2 breaks a rule */
	l[0] = event_text(ids[0]);
	l[1] = event_text(ids[1]);
	l[2] = event_with(ids[2], "occurred_at", "\"2025-02-30T00:00:00Z\"");
	snprintf(body, sizeof(body), "%s\n%s\n%s\n", l[0], l[1], l[2]);
	post_raw(&r, "application/x-ndjson", body, strlen(body));
	expect_error(&r, 422, "validation_failed", "POST /events NDJSON with a bad date on line 2");
	d = expect_detail(&r, 0, "NDJSON invalid line");
	cr_assert(jget(d, "index") && json_object_get_int(jget(d, "index")) == 2,
		  "expected details[0].index == 2, got %s", r.body);
	cr_assert(jstr(d, "field") && strcmp(jstr(d, "field"), "occurred_at") == 0,
		  "expected details[0].field occurred_at, got %s", r.body);
	http_resp_free(&r);
	cr_assert_eq(count_stored(idp, 3), 0, "expected nothing stored after a 422");
	for (int i = 0; i < 3; i++)
		free(l[i]);

	/* all valid */
	for (int i = 0; i < 3; i++)
		l[i] = event_text(ids[i]);
	snprintf(body, sizeof(body), "%s\n%s\n%s\n", l[0], l[1], l[2]);
	post_raw(&r, "application/x-ndjson", body, strlen(body));
	expect_ingest(&r, 3, 3, 0, "POST /events NDJSON with 3 valid lines");
	http_resp_free(&r);
	cr_assert_eq(count_stored(idp, 3), 3, "expected the 3 NDJSON events stored");
	for (int i = 0; i < 3; i++)
		free(l[i]);
}
