/* json_scan.c: the first pass over a request body, without json-c.
 *
 * A body is never handed to json-c whole. json_scan() first reads it once, building nothing (it
 * only fills a table of at most BATCH_MAX_EVENTS event positions): it checks that it is
 * well-formed JSON of at most JSON_MAX_DEPTH nested containers, counts the events (more than
 * BATCH_MAX_EVENTS: the request is refused at once) and notes where each event's five known
 * members are. Only those are then built with json-c, one event at a time,
 * and put before the next is built: a worker's memory follows one event, not the body (a
 * 10 MiB array of {} took 2.7 GB as one json-c tree), and members API.md ignores are never
 * built at all.
 *
 * json-c is also lenient where PostgreSQL's jsonb and RFC 8259 are not, so json_scan() rejects
 * invalid UTF-8, NaN/Infinity literals, numbers outside the RFC grammar (json-c takes 1., 00
 * and -01, stores the first as is, which jsonb refuses, and changes the others) and unpaired
 * UTF-16 surrogate escapes (json-c silently replaces them); it notes integers beyond 64 bits
 * (json-c clamps them) and \u0000 escapes (jsonb cannot store them), so that the events
 * holding them can be rejected instead of stored changed. Like json-c, it lets control
 * characters through inside strings: json-c writes them back escaped. */
#include "json_scan.h"

#include "buf.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const json_field_name[FIELD__MAX] = {"event_id", "occurred_at", "user_id", "event_type",
						 "properties"};

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

int
json_blank(const char *s, size_t len)
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
		if (key_is(key, json_field_name[f]))
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
	if (buf_array_reserve(&l->ev, &l->cap, l->n, sizeof *l->ev, BATCH_MAX_EVENTS) < 0) {
		s->nomem = 1;
		return NULL;
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

/* Contract in json_scan.h. */
int
json_scan(struct scan *s, const char *text, size_t len, struct found_list *list)
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

void
json_scan_message(const struct scan *s, char *out, size_t cap)
{
	if (s->at == SIZE_MAX)
		snprintf(out, cap, "not well-formed JSON: %s", s->why);
	else
		snprintf(out, cap, "not well-formed JSON: %s at byte %zu", s->why, s->at);
}
