/* json.c: request bodies in, response bodies out, with json-c.
 *
 * json-c is lenient where PostgreSQL's jsonb and RFC 8259 are not, so a body is first read
 * once by scan(): it rejects invalid UTF-8, NaN/Infinity literals and unpaired UTF-16 surrogate
 * escapes
 * (json-c accepts the first and silently replaces the second), and it notes integers beyond
 * 64 bits (json-c clamps them) and \u0000 escapes (jsonb cannot store them), so that the
 * events holding them can be rejected instead of stored changed. */
#include "json.h"

#include <json-c/json.h>

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { JSON_MAX_DEPTH = 64 };

enum scan_flag { SCAN_BIGINT = 1, SCAN_NUL = 2, SCAN_NUL_IN_KEY = 4 };

/* The code unit of a \uXXXX escape at s (s points at the backslash), or -1. */
static long
u_escape(const char *s, const char *end)
{
	long v = 0;
	if (end - s < 6 || s[1] != 'u')
		return -1;
	for (int i = 2; i < 6; i++) {
		int h = event_hex_value(s[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* Scans one string starting after its opening quote; returns the position after the closing
 * quote (or end). Sets SCAN_NUL for \u0000, fails on an unpaired surrogate. */
static const char *
scan_string(const char *p, const char *end, unsigned *flags, const char **why)
{
	while (p < end && *p != '"') {
		if (*p != '\\') {
			p++;
			continue;
		}
		long u = u_escape(p, end);
		if (u < 0) {
			p += 2;
			continue;
		}
		if (u == 0)
			*flags |= SCAN_NUL;
		if (u >= 0xDC00 && u <= 0xDFFF) {
			*why = "unpaired UTF-16 surrogate in a \\u escape";
			return NULL;
		}
		if (u >= 0xD800 && u <= 0xDBFF) {
			long lo = u_escape(p + 6, end);
			if (lo < 0xDC00 || lo > 0xDFFF) {
				*why = "unpaired UTF-16 surrogate in a \\u escape";
				return NULL;
			}
			p += 6;
		}
		p += 6;
	}
	return p < end ? p + 1 : end;
}

/* 1 when the integer literal s[0..len) (optional '-', digits) is outside what json-c keeps
 * exactly: [INT64_MIN, UINT64_MAX]. */
static int
int_out_of_range(const char *s, size_t len)
{
	const char *lim = "18446744073709551615";
	if (*s == '-') {
		s++;
		len--;
		lim = "9223372036854775808";
	}
	while (len > 1 && *s == '0') {
		s++;
		len--;
	}
	if (len != strlen(lim))
		return len > strlen(lim);
	return memcmp(s, lim, len) > 0;
}

static const char *
scan_number(const char *p, const char *end, unsigned *flags)
{
	const char *start = p;
	int integral = 1;
	while (p < end && ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' ||
			   *p == 'e' || *p == 'E')) {
		if (*p == '.' || *p == 'e' || *p == 'E')
			integral = 0;
		p++;
	}
	if (integral && p - start >= 19 && int_out_of_range(start, (size_t)(p - start)))
		*flags |= SCAN_BIGINT;
	return p;
}

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static const char *
skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* See the file comment. Returns 0, or -1 with *why for text json-c would wrongly accept. */
static int
scan(const char *p, size_t len, unsigned *flags, const char **why)
{
	const char *end = p + len;
	*flags = 0;
	/* strict UTF-8 (json-c lets overlong forms, surrogates and code points past U+10FFFF
	 * through, which PostgreSQL would then refuse) */
	if (!event_utf8_valid(p, len)) {
		*why = "not valid UTF-8";
		return -1;
	}
	while (p < end) {
		if (*p == '"') {
			unsigned before = *flags;
			*flags &= ~(unsigned)SCAN_NUL;
			p = scan_string(p + 1, end, flags, why);
			if (!p)
				return -1;
			int nul = (*flags & SCAN_NUL) != 0;
			*flags |= before;
			const char *q = skip_space(p, end);
			if (nul && q < end && *q == ':')
				*flags |= SCAN_NUL_IN_KEY;
		} else if (*p == '-' || (*p >= '0' && *p <= '9')) {
			p = scan_number(p, end, flags);
		} else if (is_alpha(*p)) {
			const char *w = p;
			while (p < end && is_alpha(*p))
				p++;
			size_t n = (size_t)(p - w);
			if (!((n == 4 && (!memcmp(w, "true", 4) || !memcmp(w, "null", 4))) ||
			      (n == 5 && !memcmp(w, "false", 5)))) {
				*why = "not a JSON literal (NaN and Infinity are not JSON)";
				return -1;
			}
		} else {
			p++;
		}
	}
	return 0;
}

/* Parses exactly text[0..len) (text[len] must be readable: the caller's NUL terminator).
 * 0 with the value in *out (caller puts it; NULL for the literal null), or -1 with a message
 * in why[]. */
static int
parse_text(const char *text, size_t len, char *why, size_t whylen, unsigned *flags,
	   struct json_object **out)
{
	const char *scan_why = NULL;
	struct json_tokener *tok;
	struct json_object *o;
	*out = NULL;
	if (scan(text, len, flags, &scan_why) < 0) {
		snprintf(why, whylen, "not well-formed JSON: %s", scan_why);
		return -1;
	}
	tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!tok) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)len);
	size_t at = json_tokener_get_parse_end(tok);
	if (!o && json_tokener_get_error(tok) == json_tokener_continue) {
		o = json_tokener_parse_ex(tok, "", 1); /* end of input: finishes a bare number */
		at = len;
	}
	int rc = -1;
	if (!o && skip_space(text, text + len) == text + len)
		snprintf(why, whylen, "not well-formed JSON: empty body");
	else if (!o && json_tokener_get_error(tok) != json_tokener_success)
		snprintf(why, whylen, "not well-formed JSON: %s at byte %zu",
			 json_tokener_error_desc(json_tokener_get_error(tok)), at);
	else if (skip_space(text + at, text + len) != text + len)
		snprintf(why, whylen, "not well-formed JSON: unexpected data at byte %zu", at);
	else
		rc = 0; /* o may be NULL: the literal null */
	json_tokener_free(tok);
	if (rc == 0)
		*out = o;
	else
		json_object_put(o);
	return rc;
}

/* Walks a properties value for what scan() flagged: strings holding NUL, and integers that
 * json-c clamped. Returns a reason, or NULL when the value can be stored as is. */
static const char *
props_problem(struct json_object *o, unsigned flags, int depth)
{
	const char *why = NULL;
	if (depth > JSON_MAX_DEPTH)
		return "nested too deeply";
	switch (json_object_get_type(o)) {
	case json_type_string:
		if ((flags & SCAN_NUL) &&
		    strlen(json_object_get_string(o)) != (size_t)json_object_get_string_len(o))
			return "contains \\u0000, which cannot be stored";
		return NULL;
	case json_type_int:
		if ((flags & SCAN_BIGINT) && (json_object_get_int64(o) == INT64_MIN ||
					      json_object_get_uint64(o) == UINT64_MAX))
			return "holds an integer beyond 64 bits; send it as a string";
		return NULL;
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o) && !why; i++)
			why = props_problem(json_object_array_get_idx(o, i), flags, depth + 1);
		return why;
	case json_type_object: {
		json_object_object_foreach(o, key, val)
		{
			(void)key;
			if ((why = props_problem(val, flags, depth + 1)))
				return why;
		}
		return NULL;
	}
	default:
		return NULL;
	}
}

static void
take_string(struct json_object *obj, const char *key, const char **s, size_t *len, unsigned bit,
	    struct event_input *in, long index, struct verrs *v)
{
	struct json_object *f;
	if (!json_object_object_get_ex(obj, key, &f) || json_object_is_type(f, json_type_null))
		return;
	if (!json_object_is_type(f, json_type_string)) {
		verrs_add(v, index, key, "must be a string");
		in->reported |= bit;
		return;
	}
	*s = json_object_get_string(f);
	*len = (size_t)json_object_get_string_len(f);
}

/* user_id: a string, or an integer in int64 range written as its decimal text into buf. */
static void
take_user_id(struct json_object *obj, unsigned flags, char buf[24], struct event_input *in,
	     long index, struct verrs *v)
{
	struct json_object *f;
	if (!json_object_object_get_ex(obj, "user_id", &f) ||
	    json_object_is_type(f, json_type_null))
		return;
	if (json_object_is_type(f, json_type_string)) {
		in->user_id = json_object_get_string(f);
		in->user_id_len = (size_t)json_object_get_string_len(f);
		return;
	}
	if (!json_object_is_type(f, json_type_int)) {
		verrs_add(v, index, "user_id", "must be a string or an integer");
		in->reported |= EVENT_F_USER;
		return;
	}
	int64_t n = json_object_get_int64(f);
	int beyond = (n == INT64_MAX && json_object_get_uint64(f) != (uint64_t)INT64_MAX) ||
		     (n == INT64_MIN && (flags & SCAN_BIGINT));
	if (beyond) {
		verrs_add(v, index, "user_id", "integer outside the int64 range");
		in->reported |= EVENT_F_USER;
		return;
	}
	in->user_id_len = (size_t)snprintf(buf, 24, "%lld", (long long)n);
	in->user_id = buf;
}

static void
take_properties(struct json_object *obj, unsigned flags, struct event_input *in, long index,
		struct verrs *v)
{
	struct json_object *f;
	const char *why;
	size_t len;
	if (!json_object_object_get_ex(obj, "properties", &f) ||
	    json_object_is_type(f, json_type_null))
		return;
	if (!json_object_is_type(f, json_type_object)) {
		verrs_add(v, index, "properties", "must be an object");
		in->reported |= EVENT_F_PROPS;
		return;
	}
	if ((flags & (SCAN_NUL | SCAN_BIGINT)) && (why = props_problem(f, flags, 0))) {
		verrs_add(v, index, "properties", "%s", why);
		in->reported |= EVENT_F_PROPS;
		return;
	}
	in->properties = json_object_to_json_string_length(
	    f, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	in->properties_len = len;
}

/* One event object at position index: validated into b, or its problems into v. */
static int
take_event(struct json_object *obj, unsigned flags, long index, int64_t now_us, struct batch *b,
	   struct verrs *v)
{
	struct event_input in = {0};
	struct event e;
	char user_buf[24];
	v->events++;
	if (!json_object_is_type(obj, json_type_object)) {
		verrs_add(v, index, "", "an event must be a JSON object");
		return -1;
	}
	take_string(obj, "event_id", &in.event_id, &in.event_id_len, EVENT_F_ID, &in, index, v);
	take_string(obj, "occurred_at", &in.occurred_at, &in.occurred_at_len, EVENT_F_TIME, &in,
		    index, v);
	take_user_id(obj, flags, user_buf, &in, index, v);
	take_string(obj, "event_type", &in.event_type, &in.event_type_len, EVENT_F_TYPE, &in, index,
		    v);
	take_properties(obj, flags, &in, index, v);
	if (event_validate(&in, now_us, index, v, &e) < 0)
		return -1;
	if (batch_push(b, &e) < 0) {
		verrs_add(v, index, "", "out of memory");
		return -1;
	}
	return 0;
}

static enum json_result
finish(struct batch *b, struct verrs *v)
{
	if (v->total == 0 && b->n == 0) {
		verrs_add(v, -1, "events", "no events: send at least one");
		return JSON_INVALID;
	}
	if (v->total == 0)
		return JSON_OK;
	batch_clear(b);
	return JSON_INVALID;
}

/* The events array of a parsed JSON body: the body itself, its "events" member, or NULL for
 * a single event object. */
static enum json_result
parse_json_body(const char *body, size_t len, int64_t now_us, struct batch *b, struct verrs *v)
{
	char why[160];
	unsigned flags;
	struct json_object *root, *arr = NULL;
	enum json_result r;
	if (parse_text(body, len, why, sizeof why, &flags, &root) < 0) {
		verrs_add(v, -1, "body", "%s", why);
		return JSON_MALFORMED;
	}
	if (flags & SCAN_NUL_IN_KEY) {
		verrs_add(v, -1, "body", "an object key contains \\u0000, which cannot be stored");
		json_object_put(root);
		return JSON_INVALID;
	}
	if (json_object_is_type(root, json_type_array))
		arr = root;
	else if (json_object_is_type(root, json_type_object) &&
		 json_object_object_get_ex(root, "events", &arr) &&
		 !json_object_is_type(arr, json_type_array))
		arr = NULL, verrs_add(v, -1, "events", "must be an array of events");
	if (v->total) {
		r = JSON_INVALID;
	} else if (arr && json_object_array_length(arr) > BATCH_MAX_EVENTS) {
		r = JSON_TOO_MANY;
	} else if (arr) {
		for (size_t i = 0; i < json_object_array_length(arr); i++)
			(void)take_event(json_object_array_get_idx(arr, i), flags, (long)i, now_us,
					 b, v);
		r = finish(b, v);
	} else {
		(void)take_event(root, flags, 0, now_us, b, v);
		r = finish(b, v);
	}
	json_object_put(root);
	return r;
}

static int
blank(const char *s, size_t len)
{
	return skip_space(s, s + len) == s + len;
}

/* NDJSON: one event per line, index = zero-based physical line; blank lines are skipped. */
static enum json_result
parse_ndjson_body(const char *body, size_t len, int64_t now_us, struct batch *b, struct verrs *v)
{
	const char *p = body, *end = body + len;
	size_t lines = 0;
	char why[160];
	for (const char *q = body; q < end; lines++) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		const char *e = nl ? nl : end;
		if (blank(q, (size_t)(e - q)))
			lines--;
		q = nl ? nl + 1 : end;
	}
	if (lines > BATCH_MAX_EVENTS)
		return JSON_TOO_MANY;
	for (long index = 0; p < end; index++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		size_t n = (size_t)(e - p);
		unsigned flags;
		if (!blank(p, n)) {
			/* a copy: parse_text wants its text NUL-terminated */
			char *line = batch_strdup_n(p, n);
			struct json_object *o = NULL;
			int rc = line ? parse_text(line, n, why, sizeof why, &flags, &o) : -1;
			free(line);
			if (rc < 0) {
				verrs_add(v, index, "", "%s", line ? why : "out of memory");
				batch_clear(b);
				return JSON_MALFORMED;
			}
			if (flags & SCAN_NUL_IN_KEY)
				verrs_add(v, index, "",
					  "an object key contains \\u0000, which cannot be stored");
			else
				(void)take_event(o, flags, index, now_us, b, v);
			json_object_put(o);
		}
		p = nl ? nl + 1 : end;
	}
	return finish(b, v);
}

enum json_result
json_parse_events(const char *body, size_t len, enum json_body kind, int64_t now_us,
		  struct batch *b, struct verrs *v)
{
	if (kind == JSON_BODY_NDJSON)
		return parse_ndjson_body(body, len, now_us, b, v);
	return parse_json_body(body, len, now_us, b, v);
}

int
json_properties_normalize(const char *s, size_t len, char **out, const char **why)
{
	static char msg[160];
	unsigned flags;
	struct json_object *o;
	char *text;
	if (blank(s, len)) {
		*out = strdup("{}");
		return *out ? 0 : -1;
	}
	if (!(text = batch_strdup_n(s, len)))
		return *why = "out of memory", -1;
	int rc = parse_text(text, len, msg, sizeof msg, &flags, &o);
	free(text);
	if (rc < 0)
		return *why = msg, -1;
	*why = NULL;
	if (!json_object_is_type(o, json_type_object))
		*why = "not a JSON object";
	else if (flags & SCAN_NUL_IN_KEY)
		*why = "an object key contains \\u0000, which cannot be stored";
	else if (flags & (SCAN_NUL | SCAN_BIGINT))
		*why = props_problem(o, flags, 0);
	if (!*why) {
		*out = strdup(json_object_to_json_string_ext(
		    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		if (!*out)
			*why = "out of memory";
	}
	json_object_put(o);
	return *why ? -1 : 0;
}

/* --- rendering --------------------------------------------------------------------------- */

static char *
render(struct json_object *o)
{
	char *s = o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE))
		    : NULL;
	json_object_put(o);
	return s;
}

char *
json_render_error(const char *code, const char *message, const struct verrs *v)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(message));
	if (v && v->n) {
		struct json_object *d = json_object_new_array_ext((int)v->n);
		for (size_t i = 0; i < v->n; i++) {
			struct json_object *e = json_object_new_object();
			if (v->items[i].index >= 0)
				json_object_object_add(e, "index",
						       json_object_new_int64(v->items[i].index));
			if (v->items[i].field[0])
				json_object_object_add(e, "field",
						       json_object_new_string(v->items[i].field));
			json_object_object_add(e, "message",
					       json_object_new_string(v->items[i].message));
			json_object_array_add(d, e);
		}
		json_object_object_add(o, "details", d);
	}
	return render(o);
}

char *
json_render_ingest(size_t received, size_t accepted)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "received", json_object_new_int64((int64_t)received));
	json_object_object_add(o, "accepted", json_object_new_int64((int64_t)accepted));
	json_object_object_add(o, "duplicates",
			       json_object_new_int64((int64_t)(received - accepted)));
	return render(o);
}

char *
json_render_health(int db_ok)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(db_ok ? "ok" : "unavailable"));
	json_object_object_add(o, "db", json_object_new_string(db_ok ? "ok" : "down"));
	return render(o);
}

/* The stats answers below hold only dates, integers and rates, none of which needs escaping,
 * so they are written straight into one buffer: building a json-c object per day cost more
 * than the query itself for a year of DAU (perf: malloc, printf and hash tables of json-c). */
struct text {
	char *p;
	size_t len, cap;
};

static int
text_reserve(struct text *t, size_t more)
{
	if (t->len + more < t->cap)
		return 0;
	size_t cap = (t->cap + more) * 2;
	char *p = realloc(t->p, cap);
	if (!p)
		return -1;
	t->p = p;
	t->cap = cap;
	return 0;
}

static void
text_date(char *out, int64_t day)
{
	char buf[EVENT_DATE_BUF];
	event_date_format(day, buf);
	memcpy(out, buf, EVENT_DATE_BUF - 1);
}

char *
json_render_dau(int64_t from_day, size_t ndays, const int64_t *counts)
{
	struct text t = {0};
	if (text_reserve(&t, 2 + ndays * 48) < 0)
		return NULL;
	t.p[t.len++] = '[';
	for (size_t i = 0; i < ndays; i++) {
		memcpy(t.p + t.len, i ? ",{\"date\":\"" : "{\"date\":\"", i ? 10 : 9);
		t.len += i ? 10 : 9;
		text_date(t.p + t.len, from_day + (int64_t)i);
		t.len += EVENT_DATE_BUF - 1;
		t.len += (size_t)snprintf(t.p + t.len, t.cap - t.len, "\",\"unique_users\":%lld}",
					  (long long)counts[i]);
	}
	t.p[t.len++] = ']';
	t.p[t.len] = '\0';
	return t.p;
}

char *
json_render_top(const struct top_row *rows, size_t n)
{
	struct json_object *a = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "event_type", json_object_new_string(rows[i].event_type));
		json_object_object_add(o, "count", json_object_new_int64(rows[i].count));
		json_object_array_add(a, o);
	}
	return render(a);
}

/* A rate as API.md wants it: rounded half away from zero to 4 decimals, written shortest
 * ("1.0", "0.3623"), never as a binary-float expansion like 0.36230000000000001. */
static void
rate_text(int64_t count, int64_t cohort, char out[32])
{
	double r = cohort ? (double)count / (double)cohort : 0.0;
	long scaled = lround(r * 10000.0);
	size_t len = (size_t)snprintf(out, 32, "%ld.%04ld", scaled / 10000, scaled % 10000);
	while (len > 0 && out[len - 1] == '0' && out[len - 2] != '.')
		out[--len] = '\0';
}

char *
json_render_retention(int64_t start_day, int period, int64_t cohort, size_t windows,
		      const int64_t *counts)
{
	struct text t = {0};
	char date[EVENT_DATE_BUF], rate[32];
	if (text_reserve(&t, 160 + (windows + 1) * 96) < 0)
		return NULL;
	event_date_format(start_day, date);
	t.len +=
	    (size_t)snprintf(t.p, t.cap,
			     "{\"start_date\":\"%s\",\"granularity\":\"%s\",\"cohort_size\":%lld,"
			     "\"windows\":[",
			     date, period == 7 ? "week" : "day", (long long)cohort);
	for (size_t k = 0; k <= windows; k++) {
		event_date_format(start_day + (int64_t)k * period, date);
		rate_text(counts[k], cohort, rate);
		t.len += (size_t)snprintf(
		    t.p + t.len, t.cap - t.len,
		    "%s{\"index\":%zu,\"start\":\"%s\",\"count\":%lld,\"rate\":%s}", k ? "," : "",
		    k, date, (long long)counts[k], rate);
	}
	memcpy(t.p + t.len, "]}", 3);
	t.len += 2;
	return t.p;
}
