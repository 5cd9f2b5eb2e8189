/* json.c: request bodies in, response bodies out, with json-c.
 *
 * A body is never handed to json-c whole. scan() first reads it once, building nothing (it
 * only fills a table of at most BATCH_MAX_EVENTS event positions): it checks that it is
 * well-formed JSON of at most JSON_MAX_DEPTH nested containers, counts the events (more than
 * BATCH_MAX_EVENTS: the request is refused at once) and notes where each event's five known
 * members are. Only those are then built with json-c, one event at a time,
 * and put before the next is built: a worker's memory follows one event, not the body (a
 * 10 MiB array of {} took 2.7 GB as one json-c tree), and members API.md ignores are never
 * built at all.
 *
 * json-c is also lenient where PostgreSQL's jsonb and RFC 8259 are not, so scan() rejects
 * invalid UTF-8, NaN/Infinity literals, numbers outside the RFC grammar (json-c takes 1., 00
 * and -01, stores the first as is, which jsonb refuses, and changes the others) and unpaired
 * UTF-16 surrogate escapes (json-c silently replaces them); it notes integers beyond 64 bits
 * (json-c clamps them) and \u0000 escapes (jsonb cannot store them), so that the events
 * holding them can be rejected instead of stored changed. Like json-c, it lets control
 * characters through inside strings: json-c writes them back escaped. */
#include "json.h"
#include "db.h"

#include <json-c/json.h>

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { JSON_MAX_DEPTH = 64 };

/* A properties object with n values nested inside takes at least 2n + 1 bytes serialized (by
 * induction: a container of k values takes two brackets, k - 1 commas and its values), so one
 * with more values than this is over EVENT_PROPERTIES_MAX whatever they are, and is refused
 * from the scan without being built. */
enum { PROPS_MAX_VALUES = (EVENT_PROPERTIES_MAX - 1) / 2 };

enum scan_flag { SCAN_BIGINT = 1, SCAN_NUL = 2 };

enum field { FIELD_ID, FIELD_TIME, FIELD_USER, FIELD_TYPE, FIELD_PROPS, FIELD__MAX };

static const char *const field_name[FIELD__MAX] = {"event_id", "occurred_at", "user_id",
						   "event_type", "properties"};

/* The value of one known member of an event, as scan() found it. */
struct span {
	const char *p; /* its text; NULL when the event has no such member */
	size_t len;
	size_t values;	/* values nested inside it */
	unsigned flags; /* SCAN_* seen inside it */
};

/* One event as scan() found it. Of duplicate members the last counts, as in json-c. */
struct found {
	long index;  /* position in the request (NDJSON: the line) */
	int object;  /* 0: the event is not a JSON object */
	int nul_key; /* NDJSON: an object key in the line holds \u0000 */
	struct span f[FIELD__MAX];
};

struct found_list {
	struct found *ev;
	size_t n, cap;
};

/* One scan of base[0..end). */
struct scan {
	const char *base, *end;
	const char *why; /* not well-formed: what */
	size_t at;	 /* and where (SIZE_MAX: nowhere in particular) */
	int too_many;	 /* more than BATCH_MAX_EVENTS events */
	int nomem;
	int nul_key;		 /* an object key holds \u0000 */
	unsigned flags;		 /* SCAN_* seen so far (in the member being noted) */
	size_t values;		 /* values seen so far */
	struct found_list *list; /* a POST body's events; NULL when the text is one value */
	int events;		 /* the list holds the events: 1; a root "events" that is not an
				    array: -1; neither (the root is the event): 0 */
	struct found root;	 /* the root object's known members */
};

/* Bytes of text this thread has given json-c to build, for json_built_bytes(). */
static _Thread_local size_t built_bytes;

/* The code unit of a \uXXXX escape at s (s points at the backslash), or -1. */
static long
u_escape(const char *s, const char *end)
{
	long v = 0;
	if (end - s < 6 || s[0] != '\\' || s[1] != 'u')
		return -1;
	for (int i = 2; i < 6; i++) {
		int h = event_hex_value(s[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
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

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static const char *
skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int
blank(const char *s, size_t len)
{
	return skip_space(s, s + len) == s + len;
}

/* --- scan: well-formedness, limits and where the events are, without allocating ---------- */

static const char *
fail(struct scan *s, const char *p, const char *why)
{
	s->why = why;
	s->at = (size_t)(p - s->base);
	return NULL;
}

/* The next non-space character at or after p, which must exist. */
static const char *
next(struct scan *s, const char *p)
{
	p = skip_space(p, s->end);
	return p < s->end ? p : fail(s, p, "unexpected end of data");
}

/* A \uXXXX escape at p (its backslash); returns the position after it, or after both halves
 * of a surrogate pair. */
static const char *
scan_u_escape(struct scan *s, const char *p)
{
	long u = u_escape(p, s->end), lo;
	if (u < 0)
		return fail(s, p, "invalid \\u escape");
	if (u == 0)
		s->flags |= SCAN_NUL;
	if (u >= 0xDC00 && u <= 0xDFFF)
		return fail(s, p, "unpaired UTF-16 surrogate in a \\u escape");
	if (u < 0xD800 || u > 0xDBFF)
		return p + 6;
	lo = u_escape(p + 6, s->end);
	if (lo < 0xDC00 || lo > 0xDFFF)
		return fail(s, p, "unpaired UTF-16 surrogate in a \\u escape");
	return p + 12;
}

/* A string at p (its opening quote); returns the position after its closing quote. */
static const char *
scan_string(struct scan *s, const char *p)
{
	for (p++; p && p < s->end;) {
		if (*p == '"')
			return p + 1;
		if (*p == '\0')
			return fail(s, p, "NUL byte");
		if (*p != '\\')
			p++;
		else if (p + 1 == s->end)
			break;
		else if (p[1] == 'u')
			p = scan_u_escape(s, p);
		else if (p[1] && strchr("\"\\/bfnrt", p[1]))
			p += 2;
		else
			return fail(s, p, "invalid escape in a string");
	}
	return p ? fail(s, s->end, "unexpected end of data") : NULL;
}

/* An object key, noted when it holds \u0000 (jsonb cannot store such a key). */
static const char *
scan_key(struct scan *s, const char *p)
{
	unsigned flags = s->flags;
	s->flags = 0;
	p = scan_string(s, p);
	if (s->flags & SCAN_NUL)
		s->nul_key = 1;
	s->flags = flags;
	return p;
}

static const char *
scan_digits(const char *p, const char *end)
{
	while (p < end && is_digit(*p))
		p++;
	return p;
}

/* A number as RFC 8259 writes it. */
static const char *
scan_number(struct scan *s, const char *p)
{
	const char *start = p, *end = s->end;
	int integral = 1;
	if (*p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && is_digit(*p))
		p = scan_digits(p, end);
	else
		return fail(s, p, "number expected");
	if (p < end && *p == '.') {
		integral = 0;
		if (scan_digits(p + 1, end) == p + 1)
			return fail(s, p + 1, "number expected");
		p = scan_digits(p + 1, end);
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		integral = 0;
		p += p + 1 < end && (p[1] == '+' || p[1] == '-') ? 2 : 1;
		if (scan_digits(p, end) == p)
			return fail(s, p, "number expected");
		p = scan_digits(p, end);
	}
	if (p < end && (is_digit(*p) || is_alpha(*p) || *p == '.' || *p == '-' || *p == '+'))
		return fail(s, p, "not a JSON number");
	if (integral && p - start >= 19 && int_out_of_range(start, (size_t)(p - start)))
		s->flags |= SCAN_BIGINT;
	return p;
}

static const char *
scan_literal(struct scan *s, const char *p)
{
	const char *w = p;
	size_t n;
	while (p < s->end && is_alpha(*p))
		p++;
	n = (size_t)(p - w);
	if (n == 0)
		return fail(s, w, "unexpected character");
	if ((n == 4 && (!memcmp(w, "true", 4) || !memcmp(w, "null", 4))) ||
	    (n == 5 && !memcmp(w, "false", 5)))
		return p;
	return fail(s, w, "not a JSON literal (NaN and Infinity are not JSON)");
}

static char
unescape(char c)
{
	switch (c) {
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	default:
		return c; /* " \ / */
	}
}

/* 1 when the string at p (well-formed: scanned already; p at its opening quote) is the ASCII
 * text name once its escapes are decoded: "ev\u0065nts" is "events" for json-c too. */
static int
key_is(const char *p, const char *name)
{
	for (p++; *p != '"'; name++) {
		long c = (unsigned char)*p;
		if (c == '\\' && p[1] == 'u') {
			c = u_escape(p, p + 6);
			p += 6;
		} else if (c == '\\') {
			c = unescape(p[1]);
			p += 2;
		} else {
			p++;
		}
		if (!*name || c != (unsigned char)*name)
			return 0;
	}
	return *name == '\0';
}

static int
field_of(const char *key)
{
	for (int f = 0; f < FIELD__MAX; f++)
		if (key_is(key, field_name[f]))
			return f;
	return -1;
}

static const char *scan_value(struct scan *s, const char *p, int depth);
static const char *scan_array(struct scan *s, const char *p, int depth, int events);

/* A new event in the list; NULL when there would be more than BATCH_MAX_EVENTS. */
static struct found *
found_add(struct scan *s)
{
	struct found_list *l = s->list;
	struct found *ev;
	if (l->n == BATCH_MAX_EVENTS) {
		s->too_many = 1;
		return NULL;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		cap = cap < BATCH_MAX_EVENTS ? cap : BATCH_MAX_EVENTS;
		if (!(ev = realloc(l->ev, cap * sizeof *ev))) {
			s->nomem = 1;
			return NULL;
		}
		l->ev = ev;
		l->cap = cap;
	}
	ev = &l->ev[l->n];
	memset(ev, 0, sizeof *ev);
	ev->index = (long)l->n++;
	return ev;
}

/* The value of a member of an event object ev whose key is at key. In the root object of a
 * body (root), an "events" member holds the events, and a later one replaces an earlier one,
 * as in json-c. */
static const char *
scan_member(struct scan *s, const char *key, const char *p, int depth, struct found *ev, int root)
{
	unsigned flags = s->flags;
	size_t values = s->values;
	int f;
	if (root && key_is(key, "events")) {
		s->list->n = 0;
		s->events = *p == '[' ? 1 : -1;
		return *p == '[' ? scan_array(s, p, depth, 1) : scan_value(s, p, depth);
	}
	if ((f = field_of(key)) < 0)
		return scan_value(s, p, depth);
	s->flags = 0;
	const char *q = scan_value(s, p, depth);
	if (q)
		ev->f[f] = (struct span){p, (size_t)(q - p), s->values - values - 1, s->flags};
	s->flags |= flags;
	return q;
}

/* An object at p inside depth containers; ev (when not NULL) gets its known members. */
static const char *
scan_object(struct scan *s, const char *p, int depth, struct found *ev, int root)
{
	if (depth >= JSON_MAX_DEPTH)
		return fail(s, p, "nesting too deep");
	if (!(p = next(s, p + 1)))
		return NULL;
	if (*p == '}')
		return p + 1;
	for (;;) {
		const char *key = p;
		if (*p != '"')
			return fail(s, p, "quoted object property name expected");
		if (!(p = scan_key(s, p)) || !(p = next(s, p)))
			return NULL;
		if (*p != ':')
			return fail(s, p, "object property name separator ':' expected");
		if (!(p = next(s, p + 1)))
			return NULL;
		p = ev ? scan_member(s, key, p, depth + 1, ev, root) : scan_value(s, p, depth + 1);
		if (!p || !(p = next(s, p)))
			return NULL;
		if (*p == '}')
			return p + 1;
		if (*p != ',')
			return fail(s, p, "object value separator ',' expected");
		if (!(p = next(s, p + 1)))
			return NULL;
	}
}

/* One element of the events array: an event of the list. */
static const char *
scan_event(struct scan *s, const char *p, int depth)
{
	struct found *ev = found_add(s);
	if (!ev)
		return NULL;
	if (*p != '{')
		return scan_value(s, p, depth);
	ev->object = 1;
	return scan_object(s, p, depth, ev, 0);
}

/* An array at p inside depth containers; with events set, its elements are the events. */
static const char *
scan_array(struct scan *s, const char *p, int depth, int events)
{
	if (depth >= JSON_MAX_DEPTH)
		return fail(s, p, "nesting too deep");
	if (!(p = next(s, p + 1)))
		return NULL;
	if (*p == ']')
		return p + 1;
	for (;;) {
		p = events ? scan_event(s, p, depth + 1) : scan_value(s, p, depth + 1);
		if (!p || !(p = next(s, p)))
			return NULL;
		if (*p == ']')
			return p + 1;
		if (*p != ',')
			return fail(s, p, "array value separator ',' expected");
		if (!(p = next(s, p + 1)))
			return NULL;
	}
}

/* Any value at p (not at the end of the text) inside depth containers. */
static const char *
scan_value(struct scan *s, const char *p, int depth)
{
	s->values++;
	if (*p == '{')
		return scan_object(s, p, depth, NULL, 0);
	if (*p == '[')
		return scan_array(s, p, depth, 0);
	if (*p == '"')
		return scan_string(s, p);
	if (*p == '-' || is_digit(*p))
		return scan_number(s, p);
	return scan_literal(s, p);
}

/* Scans text[0..len) as one JSON value into *s. With a list (a POST /events body), the
 * events are a root array's elements, or those of a root object's "events" member; a root
 * object's known members go to s->root either way. Returns 0, or -1 with s saying why. */
static int
scan(struct scan *s, const char *text, size_t len, struct found_list *list)
{
	const char *p;
	memset(s, 0, sizeof *s);
	s->base = text;
	s->end = text + len;
	s->list = list;
	s->at = SIZE_MAX;
	/* strict UTF-8: json-c lets overlong forms, surrogates and code points past U+10FFFF
	 * through, which PostgreSQL would then refuse */
	if (!event_utf8_valid(text, len))
		return s->why = "not valid UTF-8", -1;
	if ((p = skip_space(text, s->end)) == s->end)
		return s->why = "empty body", -1;
	if (list && *p == '[') {
		s->events = 1;
		p = scan_array(s, p, 0, 1);
	} else if (*p == '{') {
		s->root.object = 1;
		p = scan_object(s, p, 0, &s->root, list != NULL);
	} else {
		p = scan_value(s, p, 0);
	}
	if (p && (p = skip_space(p, s->end)) != s->end)
		p = fail(s, p, "unexpected data");
	return p ? 0 : -1;
}

static void
scan_message(const struct scan *s, char *out, size_t cap)
{
	if (s->at == SIZE_MAX)
		snprintf(out, cap, "not well-formed JSON: %s", s->why);
	else
		snprintf(out, cap, "not well-formed JSON: %s at byte %zu", s->why, s->at);
}

/* What a failed scan means for the request; index is the NDJSON line, or -1 for a body. */
static enum json_result
scan_failed(const struct scan *s, long index, struct verrs *v)
{
	char why[160];
	if (s->too_many)
		return JSON_TOO_MANY;
	if (s->nomem)
		return JSON_NOMEM;
	scan_message(s, why, sizeof why);
	verrs_add(v, index, index < 0 ? "body" : "", "%s", why);
	return JSON_MALFORMED;
}

/* --- building one event at a time ---------------------------------------------------------- */

/* 0 with json-c's value of text[0..len), which scan() found well-formed, in *out (caller puts
 * it; NULL for null); -1 when json-c could not build it: *err says why, json_tokener_success
 * meaning out of memory (json-c 0.16 has no error for that). */
static int
build(struct json_tokener *tok, const char *text, size_t len, struct json_object **out,
      enum json_tokener_error *err)
{
	struct json_object *o;
	*out = NULL;
	*err = json_tokener_error_size;
	if (len > INT_MAX)
		return -1;
	json_tokener_reset(tok);
	built_bytes += len;
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o && json_tokener_get_error(tok) == json_tokener_continue)
		o = json_tokener_parse_ex(tok, "", 1); /* end of input: finishes a bare number */
	*err = json_tokener_get_error(tok);
	if (!o && (*err != json_tokener_success || len != 4 || memcmp(text, "null", 4) != 0))
		return -1;
	*out = o;
	return 0;
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

/* f: the member's value, NULL when missing or null. */
static void
take_string(struct json_object *f, const char *key, const char **s, size_t *len, unsigned bit,
	    struct event_input *in, long index, struct verrs *v)
{
	if (!f)
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
take_user_id(struct json_object *f, unsigned flags, char buf[24], struct event_input *in,
	     long index, struct verrs *v)
{
	if (!f)
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
take_properties(struct json_object *f, const struct span *sp, struct event_input *in, long index,
		struct verrs *v)
{
	const char *why;
	size_t len;
	if (sp->p && *sp->p == '{' && sp->values > PROPS_MAX_VALUES) {
		verrs_add(v, index, "properties",
			  "larger than 64 KiB serialized (more than %d values)", PROPS_MAX_VALUES);
		in->reported |= EVENT_F_PROPS;
		return;
	}
	if (!f)
		return;
	if (!json_object_is_type(f, json_type_object)) {
		verrs_add(v, index, "properties", "must be an object");
		in->reported |= EVENT_F_PROPS;
		return;
	}
	if ((sp->flags & (SCAN_NUL | SCAN_BIGINT)) && (why = props_problem(f, sp->flags, 0))) {
		verrs_add(v, index, "properties", "%s", why);
		in->reported |= EVENT_F_PROPS;
		return;
	}
	in->properties = json_object_to_json_string_length(
	    f, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	in->properties_len = len;
}

/* The json-c value of the known member f of ev (NULL when missing or null). A member whose
 * type alone makes it invalid is not built from its text: an empty container of its type
 * stands for it; nor is a properties object too large to be stored (take_properties says so). */
static enum json_result
build_member(const struct found *ev, int f, struct json_tokener *tok, struct json_object **out,
	     struct verrs *v)
{
	const struct span *sp = &ev->f[f];
	enum json_tokener_error err;
	*out = NULL;
	if (!sp->p)
		return JSON_OK;
	if (*sp->p == '[' || (*sp->p == '{' && f != FIELD_PROPS)) {
		*out = *sp->p == '[' ? json_object_new_array() : json_object_new_object();
		return *out ? JSON_OK : JSON_NOMEM;
	}
	if (*sp->p == '{' && sp->values > PROPS_MAX_VALUES)
		return JSON_OK;
	if (build(tok, sp->p, sp->len, out, &err) == 0)
		return JSON_OK;
	if (err == json_tokener_success)
		return JSON_NOMEM;
	/* json-c refused what scan() took: a bug here, answered as a malformed body */
	memset(v, 0, sizeof *v);
	verrs_add(v, ev->index, field_name[f], "not well-formed JSON: %s",
		  json_tokener_error_desc(err));
	return JSON_MALFORMED;
}

/* An object's known members, built: validated into b, or its problems into v. */
static void
validate_event(const struct found *ev, struct json_object *const val[FIELD__MAX], int64_t now_us,
	       struct batch *b, struct verrs *v)
{
	struct event_input in = {0};
	struct event e;
	char user_buf[24];
	long index = ev->index;
	take_string(val[FIELD_ID], "event_id", &in.event_id, &in.event_id_len, EVENT_F_ID, &in,
		    index, v);
	take_string(val[FIELD_TIME], "occurred_at", &in.occurred_at, &in.occurred_at_len,
		    EVENT_F_TIME, &in, index, v);
	take_user_id(val[FIELD_USER], ev->f[FIELD_USER].flags, user_buf, &in, index, v);
	take_string(val[FIELD_TYPE], "event_type", &in.event_type, &in.event_type_len, EVENT_F_TYPE,
		    &in, index, v);
	take_properties(val[FIELD_PROPS], &ev->f[FIELD_PROPS], &in, index, v);
	if (event_validate(&in, now_us, index, v, &e) < 0)
		return;
	if (batch_push(b, &e) < 0)
		verrs_add(v, index, "", "out of memory");
}

/* One event found by scan(): built, validated, and its json-c values put. Anything but
 * JSON_OK ends the request. */
static enum json_result
take_event(const struct found *ev, struct json_tokener *tok, int64_t now_us, struct batch *b,
	   struct verrs *v)
{
	struct json_object *val[FIELD__MAX] = {0};
	enum json_result r = JSON_OK;
	if (ev->nul_key) {
		verrs_add(v, ev->index, "",
			  "an object key contains \\u0000, which cannot be stored");
		return JSON_OK;
	}
	v->events++;
	if (!ev->object) {
		verrs_add(v, ev->index, "", "an event must be a JSON object");
		return JSON_OK;
	}
	for (int f = 0; f < FIELD__MAX && r == JSON_OK; f++)
		r = build_member(ev, f, tok, &val[f], v);
	if (r == JSON_OK)
		validate_event(ev, val, now_us, b, v);
	for (int f = 0; f < FIELD__MAX; f++)
		json_object_put(val[f]);
	return r;
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

/* The n events scan() found, one after the other. */
static enum json_result
take_events(const struct found *ev, size_t n, int64_t now_us, struct batch *b, struct verrs *v)
{
	struct json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	enum json_result r = JSON_OK;
	if (!tok)
		return JSON_NOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	for (size_t i = 0; i < n && r == JSON_OK; i++)
		r = take_event(&ev[i], tok, now_us, b, v);
	json_tokener_free(tok);
	if (r == JSON_OK)
		return finish(b, v);
	batch_clear(b);
	return r;
}

/* A JSON body: an array of events, {"events": [...]}, or one event object. */
static enum json_result
parse_json_body(const char *body, size_t len, int64_t now_us, struct batch *b, struct verrs *v)
{
	struct found_list list = {0};
	struct scan s;
	enum json_result r;
	if (scan(&s, body, len, &list) < 0) {
		r = scan_failed(&s, -1, v);
	} else if (s.nul_key) {
		verrs_add(v, -1, "body", "an object key contains \\u0000, which cannot be stored");
		r = JSON_INVALID;
	} else if (s.events < 0) {
		verrs_add(v, -1, "events", "must be an array of events");
		r = JSON_INVALID;
	} else if (s.events > 0) {
		r = take_events(list.ev, list.n, now_us, b, v);
	} else {
		r = take_events(&s.root, 1, now_us, b, v);
	}
	free(list.ev);
	return r;
}

static size_t
count_lines(const char *body, size_t len)
{
	const char *end = body + len;
	size_t lines = 0;
	for (const char *q = body; q < end;) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		const char *e = nl ? nl : end;
		lines += !blank(q, (size_t)(e - q));
		q = nl ? nl + 1 : end;
	}
	return lines;
}

/* NDJSON: one event per line, index = zero-based physical line; blank lines are skipped.
 * Every line is scanned before any is built (well-formedness before content). */
static enum json_result
parse_ndjson_body(const char *body, size_t len, int64_t now_us, struct batch *b, struct verrs *v)
{
	const char *p = body, *end = body + len;
	size_t lines = count_lines(body, len);
	struct found_list list = {0};
	enum json_result r = JSON_OK;
	struct scan s;
	if (lines > BATCH_MAX_EVENTS)
		return JSON_TOO_MANY;
	if (!(list.ev = calloc(lines ? lines : 1, sizeof *list.ev)))
		return JSON_NOMEM;
	for (long index = 0; p < end && r == JSON_OK; index++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		if (blank(p, n)) {
			/* skipped */
		} else if (scan(&s, p, n, NULL) < 0) {
			r = scan_failed(&s, index, v);
		} else {
			list.ev[list.n] = s.root;
			list.ev[list.n].index = index;
			list.ev[list.n++].nul_key = s.nul_key;
		}
		p = nl ? nl + 1 : end;
	}
	if (r == JSON_OK)
		r = take_events(list.ev, list.n, now_us, b, v);
	free(list.ev);
	return r;
}

enum json_result
json_parse_events(const char *body, size_t len, enum json_body kind, int64_t now_us,
		  struct batch *b, struct verrs *v)
{
	if (kind == JSON_BODY_NDJSON)
		return parse_ndjson_body(body, len, now_us, b, v);
	return parse_json_body(body, len, now_us, b, v);
}

size_t
json_built_bytes(void)
{
	return built_bytes;
}

/* The compact text of a properties cell that scan() found to be an object of at most
 * PROPS_MAX_VALUES values; NULL with *why on failure. */
static char *
normalize(const struct scan *sc, const char **why)
{
	struct json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	enum json_tokener_error err;
	struct json_object *o = NULL;
	char *out = NULL;
	*why = "out of memory";
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	if (build(tok, sc->base, (size_t)(sc->end - sc->base), &o, &err) < 0) {
		if (err != json_tokener_success)
			*why = json_tokener_error_desc(err);
	} else if (!(sc->flags & (SCAN_NUL | SCAN_BIGINT)) ||
		   !(*why = props_problem(o, sc->flags, 0))) {
		out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
		*why = out ? NULL : "out of memory";
	}
	json_object_put(o);
	json_tokener_free(tok);
	return out;
}

int
json_properties_normalize(const char *s, size_t len, char **out, const char **why)
{
	static char msg[160];
	struct scan sc;
	*why = NULL;
	if (blank(s, len)) {
		*out = strdup("{}");
		return *out ? 0 : (*why = "out of memory", -1);
	}
	if (scan(&sc, s, len, NULL) < 0) {
		scan_message(&sc, msg, sizeof msg);
		*why = msg;
	} else if (!sc.root.object) {
		*why = "not a JSON object";
	} else if (sc.nul_key) {
		*why = "an object key contains \\u0000, which cannot be stored";
	} else if (sc.values > PROPS_MAX_VALUES) {
		snprintf(msg, sizeof msg, "larger than 64 KiB serialized (more than %d values)",
			 PROPS_MAX_VALUES);
		*why = msg;
	} else {
		*out = normalize(&sc, why);
	}
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
