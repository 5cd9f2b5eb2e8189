/* json_parse.c: request bodies in. The scanner (json_scan.c) has checked a body whole and
 * found its events; only their known members are then built with json-c, one event at a
 * time, and put before the next is built (see json_scan.c for why). */
#include "json.h"
#include "json_scan.h"

#include <json-c/json.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes of text this thread has given json-c to build, for json_built_bytes(). */
static _Thread_local size_t built_bytes;

/* What a failed scan means for the request; index is the NDJSON line, or -1 for a body. */
static enum json_result
scan_failed(const struct scan *s, long index, struct verrs *v)
{
	char why[160];
	if (s->too_many)
		return JSON_TOO_MANY;
	if (s->nomem)
		return JSON_NOMEM;
	json_scan_message(s, why, sizeof why);
	verrs_add(v, index, index < 0 ? "body" : "", "%s", why);
	return JSON_MALFORMED;
}

/* --- building one event at a time ---------------------------------------------------------- */

/* 0 with json-c's value of text[0..len), which json_scan() found well-formed, in *out (caller puts
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

/* Walks a properties value for what json_scan() flagged: strings holding NUL, and integers that
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
	/* json-c refused what json_scan() took: a bug here, answered as a malformed body */
	memset(v, 0, sizeof *v);
	verrs_add(v, ev->index, json_field_name[f], "not well-formed JSON: %s",
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

/* One event found by json_scan(): built, validated, and its json-c values put. Anything but
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

/* The n events json_scan() found, one after the other. */
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
	if (json_scan(&s, body, len, &list) < 0) {
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
		lines += !json_blank(q, (size_t)(e - q));
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
		if (json_blank(p, n)) {
			/* skipped */
		} else if (json_scan(&s, p, n, NULL) < 0) {
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

/* The compact text of a properties cell that json_scan() found to be an object of at most
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
	if (json_blank(s, len)) {
		*out = strdup("{}");
		return *out ? 0 : (*why = "out of memory", -1);
	}
	if (json_scan(&sc, s, len, NULL) < 0) {
		json_scan_message(&sc, msg, sizeof msg);
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
