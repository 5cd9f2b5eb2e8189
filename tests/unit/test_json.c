/* Unit tests of json.c: POST /events bodies against API.md's Event table, and the renderers. */
#include "json.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define NOW INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define ID "25a4b866-040b-466f-945c-148e4720f511"

static enum json_result
parse(const char *body, enum json_body kind, struct batch *b, struct verrs *v)
{
	memset(b, 0, sizeof *b);
	memset(v, 0, sizeof *v);
	return json_parse_events(body, strlen(body), kind, NOW, b, v);
}

/* One event with one field replaced: the tables below describe only that field. */
static char *
event_with(const char *field, const char *json_value)
{
	const char *names[] = {"event_id", "occurred_at", "user_id", "event_type", "properties"};
	const char *defaults[] = {"\"" ID "\"", "\"2025-08-01T10:00:00Z\"", "\"u1\"", "\"login\"",
				  "{\"a\":1}"};
	char *out = malloc(200000), *p = out;
	p += sprintf(p, "[{");
	for (int i = 0; i < 5; i++) {
		const char *v = strcmp(names[i], field) == 0 ? json_value : defaults[i];
		if (v)
			p += sprintf(p, "%s\"%s\":%s", p[-1] == '{' ? "" : ",", names[i], v);
	}
	sprintf(p, "}]");
	return out;
}

struct field_case {
	const char *field;
	const char *value; /* JSON text; NULL = field left out */
	enum json_result want;
	const char *stored; /* for valid cases: the normalised value */
};

static char *
repeat(char c, size_t n, int quoted)
{
	char *s = malloc(n + 3), *p = s;
	if (quoted)
		*p++ = '"';
	memset(p, c, n);
	p += n;
	if (quoted)
		*p++ = '"';
	*p = '\0';
	return s;
}

Test(json, field_rules)
{
	char *u256 = repeat('u', 256, 1), *u257 = repeat('u', 257, 1);
	char *t128 = repeat('t', 128, 1), *t129 = repeat('t', 129, 1);
	const struct field_case cases[] = {
	    {"event_id", "\"" ID "\"", JSON_OK, ID},
	    {"event_id", "\"25A4B866-040B-466F-945C-148E4720F511\"", JSON_OK, ID},
	    {"event_id", "\"25a4b866040b466f945c148e4720f511\"", JSON_INVALID, NULL},
	    {"event_id", "42", JSON_INVALID, NULL},
	    {"event_id", NULL, JSON_INVALID, NULL},
	    {"event_id", "null", JSON_INVALID, NULL},
	    {"user_id", "42", JSON_OK, "42"},
	    {"user_id", "\"42\"", JSON_OK, "42"},
	    {"user_id", "-9223372036854775808", JSON_OK, "-9223372036854775808"},
	    {"user_id", "9223372036854775807", JSON_OK, "9223372036854775807"},
	    {"user_id", "9223372036854775808", JSON_INVALID, NULL},
	    {"user_id", "-9223372036854775809", JSON_INVALID, NULL},
	    {"user_id", "1.5", JSON_INVALID, NULL},
	    {"user_id", "1.0", JSON_INVALID, NULL},
	    {"user_id", "true", JSON_INVALID, NULL},
	    {"user_id", "\"\"", JSON_INVALID, NULL},
	    {"user_id", "\"a\\u0001b\"", JSON_INVALID, NULL},
	    {"user_id", "\"a\\u0085b\"", JSON_INVALID, NULL},
	    {"user_id", "\"ünï\"", JSON_OK, "ünï"},
	    {"user_id", u256, JSON_OK, NULL},
	    {"user_id", u257, JSON_INVALID, NULL},
	    {"user_id", NULL, JSON_INVALID, NULL},
	    {"event_type", t128, JSON_OK, NULL},
	    {"event_type", t129, JSON_INVALID, NULL},
	    {"event_type", "\"\"", JSON_INVALID, NULL},
	    {"event_type", "\"a\\nb\"", JSON_INVALID, NULL},
	    {"event_type", "7", JSON_INVALID, NULL},
	    {"occurred_at", "\"2025-08-01T10:00:00+03:00\"", JSON_OK, NULL},
	    {"occurred_at", "\"2025-08-01 10:00:00.123456789z\"", JSON_OK, NULL},
	    {"occurred_at", "\"2025-02-30T10:00:00Z\"", JSON_INVALID, NULL},
	    {"occurred_at", "\"2025-08-01T24:00:00Z\"", JSON_INVALID, NULL},
	    {"occurred_at", "\"2026-01-01T23:59:59Z\"", JSON_OK, NULL}, /* 24 h ahead: allowed */
	    {"occurred_at", "\"2026-01-02T00:00:01Z\"", JSON_INVALID, NULL}, /* beyond 24 h */
	    {"occurred_at", "1700000000", JSON_INVALID, NULL},
	    {"properties", NULL, JSON_OK, "{}"},
	    {"properties", "null", JSON_OK, "{}"},
	    {"properties", "{}", JSON_OK, "{}"},
	    {"properties", "{ \"b\" : [1, 2.50, \"x/y\"] }", JSON_OK, "{\"b\":[1,2.50,\"x/y\"]}"},
	    {"properties", "{\"big\":1e400}", JSON_OK, "{\"big\":1e400}"},
	    {"properties", "{\"n\":18446744073709551615}", JSON_OK, "{\"n\":18446744073709551615}"},
	    {"properties", "{\"n\":18446744073709551616}", JSON_INVALID, NULL},
	    {"properties", "{\"n\":-9223372036854775809}", JSON_INVALID, NULL},
	    {"properties", "{\"s\":\"a\\u0000b\"}", JSON_INVALID, NULL},
	    {"properties", "[1]", JSON_INVALID, NULL},
	    {"properties", "\"x\"", JSON_INVALID, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct field_case *c = &cases[i];
		struct batch b;
		struct verrs v;
		char *body = event_with(c->field, c->value);
		enum json_result r = parse(body, JSON_BODY_JSON, &b, &v);
		cr_expect_eq(r, c->want, "case %zu (%s = %s): got %d, want %d (%s)", i, c->field,
			     c->value ? c->value : "(missing)", r, c->want,
			     v.n ? v.items[0].message : "");
		if (r == JSON_INVALID && c->want == JSON_INVALID) {
			cr_expect_eq(v.items[0].index, 0, "case %zu: index", i);
			cr_expect_str_eq(v.items[0].field, c->field, "case %zu: field", i);
		}
		if (r == JSON_OK && c->stored) {
			const struct event *e = &b.ev[0];
			const char *got = !strcmp(c->field, "user_id")	    ? e->user_id
					  : !strcmp(c->field, "event_id")   ? e->event_id
					  : !strcmp(c->field, "properties") ? e->properties
									    : e->event_type;
			cr_expect_str_eq(got, c->stored, "case %zu: stored %s", i, got);
		}
		batch_clear(&b);
		free(body);
	}
	free(u256);
	free(u257);
	free(t128);
	free(t129);
}

Test(json, properties_size_limit)
{
	/* {"p":"xxx..."} is 8 bytes of overhead plus the string */
	char *at = malloc(70000), *over = malloc(70000);
	struct batch b;
	struct verrs v;
	char *s1 = repeat('x', 65536 - 8, 0), *s2 = repeat('x', 65536 - 7, 0);
	sprintf(at, "{\"p\":\"%s\"}", s1);
	sprintf(over, "{\"p\":\"%s\"}", s2);
	cr_assert_eq(strlen(at), 65536);
	char *body = event_with("properties", at);
	cr_expect_eq(parse(body, JSON_BODY_JSON, &b, &v), JSON_OK, "64 KiB exactly is allowed");
	batch_clear(&b);
	free(body);
	body = event_with("properties", over);
	cr_expect_eq(parse(body, JSON_BODY_JSON, &b, &v), JSON_INVALID, "64 KiB + 1 is rejected");
	batch_clear(&b);
	free(body);
	free(at);
	free(over);
	free(s1);
	free(s2);
}

struct body_case {
	const char *body;
	enum json_body kind;
	enum json_result want;
	size_t events;
	long index; /* of the first problem, -2 = don't care */
};

/* Parses each case's body and expects its result, its number of events and the index of its
 * first problem; with last_type, the last event of each accepted body has that event_type. */
static void
expect_body_cases(const struct body_case *cases, size_t n, const char *last_type)
{
	for (size_t i = 0; i < n; i++) {
		struct batch b;
		struct verrs v;
		enum json_result r = parse(cases[i].body, cases[i].kind, &b, &v);
		cr_expect_eq(r, cases[i].want, "case %zu: got %d want %d (%s)", i, r, cases[i].want,
			     v.n ? v.items[0].message : "");
		cr_expect_eq(b.n, cases[i].events, "case %zu: %zu events", i, b.n);
		if (cases[i].index != -2 && v.n)
			cr_expect_eq(v.items[0].index, cases[i].index, "case %zu: index %ld", i,
				     v.items[0].index);
		if (last_type && r == JSON_OK)
			cr_expect_str_eq(b.ev[b.n - 1].event_type, last_type, "case %zu", i);
		batch_clear(&b);
	}
}

Test(json, body_forms)
{
	const char *ev = "{\"event_id\":\"" ID "\",\"occurred_at\":\"2025-08-01T10:00:00Z\","
			 "\"user_id\":1,\"event_type\":\"a\",\"extra\":[1]}";
	char b1[512], b2[512], b3[512], b4[1024], b5[1024], b6[512];
	snprintf(b1, sizeof b1, "[%s]", ev);
	snprintf(b2, sizeof b2, "{\"events\":[%s,%s],\"meta\":1}", ev, ev);
	snprintf(b3, sizeof b3, "%s", ev);
	snprintf(b4, sizeof b4, "%s\n\n%s\r\n", ev, ev);
	snprintf(b5, sizeof b5, "%s\n{\"a\":\n%s\n", ev, ev);
	snprintf(b6, sizeof b6, "[%s,%s,1]", ev, ev);
	const struct body_case cases[] = {
	    {b1, JSON_BODY_JSON, JSON_OK, 1, -2},
	    {b2, JSON_BODY_JSON, JSON_OK, 2, -2},
	    {b3, JSON_BODY_JSON, JSON_OK, 1, -2},
	    {b4, JSON_BODY_NDJSON, JSON_OK, 2, -2},
	    {b5, JSON_BODY_NDJSON, JSON_MALFORMED, 0, 1},
	    {b6, JSON_BODY_JSON, JSON_INVALID, 0, 2},
	    {"[]", JSON_BODY_JSON, JSON_INVALID, 0, -1},
	    {"", JSON_BODY_JSON, JSON_MALFORMED, 0, -1},
	    {"\n\n", JSON_BODY_NDJSON, JSON_INVALID, 0, -1},
	    {"[1,", JSON_BODY_JSON, JSON_MALFORMED, 0, -1},
	    {"[1] x", JSON_BODY_JSON, JSON_MALFORMED, 0, -1},
	    {"[NaN]", JSON_BODY_JSON, JSON_MALFORMED, 0, -1},
	    {"[Infinity]", JSON_BODY_JSON, JSON_MALFORMED, 0, -1},
	    {"[\"\\ud800\"]", JSON_BODY_JSON, JSON_MALFORMED, 0, -1},
	    {"[\"\xff\"]", JSON_BODY_JSON, JSON_MALFORMED, 0, -1},
	    /* overlong, surrogate, beyond U+10FFFF: json-c alone lets these through */
	    {"[{\"properties\":{\"a\":\"x\xc0\xafy\"}}]", JSON_BODY_JSON, JSON_MALFORMED, 0, -1},
	    {"[{\"properties\":{\"\xed\xa0\x80\":1}}]", JSON_BODY_JSON, JSON_MALFORMED, 0, -1},
	    {"{\"a\":\"\xf4\x90\x80\x80\"}\n", JSON_BODY_NDJSON, JSON_MALFORMED, 0, 0},
	    {"{\"events\":5}", JSON_BODY_JSON, JSON_INVALID, 0, -1},
	    {"42", JSON_BODY_JSON, JSON_INVALID, 0, 0},
	    {"null", JSON_BODY_JSON, JSON_INVALID, 0, 0},
	    {"7\nnull\n", JSON_BODY_NDJSON, JSON_INVALID, 0, 0},
	    {"[{\"a\\u0000\":1}]", JSON_BODY_JSON, JSON_INVALID, 0, -1},
	};
	expect_body_cases(cases, sizeof cases / sizeof cases[0], NULL);
}

Test(json, deep_nesting_and_many_events)
{
	size_t depth = 100000;
	char *deep = malloc(2 * depth + 1);
	memset(deep, '[', depth);
	memset(deep + depth, ']', depth);
	deep[2 * depth] = '\0';
	struct batch b;
	struct verrs v;
	cr_expect_eq(parse(deep, JSON_BODY_JSON, &b, &v), JSON_MALFORMED);
	free(deep);

	size_t n = BATCH_MAX_EVENTS + 1;
	char *many = malloc(n * 2 + 2), *p = many;
	*p++ = '[';
	for (size_t i = 0; i < n; i++) {
		*p++ = '1';
		*p++ = i + 1 < n ? ',' : ']';
	}
	*p = '\0';
	cr_expect_eq(parse(many, JSON_BODY_JSON, &b, &v), JSON_TOO_MANY);
	free(many);
}

Test(json, details_capped_at_100)
{
	char *body = malloc(200 * 8 + 4), *p = body;
	*p++ = '[';
	for (int i = 0; i < 150; i++)
		p += sprintf(p, "%s{}", i ? "," : "");
	strcpy(p, "]");
	struct batch b;
	struct verrs v;
	cr_expect_eq(parse(body, JSON_BODY_JSON, &b, &v), JSON_INVALID);
	cr_expect_eq(v.n, 100);
	cr_expect_eq(v.total, 150 * 4, "4 required fields x 150 events, got %zu", v.total);
	free(body);
}

/* Found by fuzzing: an NDJSON line holding a NUL byte was copied with strndup, which stops at
 * the NUL, and then parsed for its full length (a heap over-read). */
Test(json, ndjson_line_with_nul_byte)
{
	static const char body[] = "{\"a\":\"x\0yyyyyyyyyyyyyyyyyyyy\"}\n{\"b\":1}\n";
	struct batch b = {0};
	struct verrs v = {0};
	enum json_result r =
	    json_parse_events(body, sizeof body - 1, JSON_BODY_NDJSON, NOW, &b, &v);
	cr_expect_eq(r, JSON_MALFORMED, "a NUL byte is not JSON: got %d", r);
	cr_expect_eq(v.items[0].index, 0);
	batch_clear(&b);
	char *out = NULL;
	const char *why;
	static const char cell[] = "{\"a\":\"x\0yyyyyyyyyyyyyyy\"}";
	cr_expect_eq(json_properties_normalize(cell, sizeof cell - 1, &out, &why), -1);
	free(out);
}

Test(json, renderers)
{
	int64_t counts[] = {69, 25, 0};
	char *s = json_render_retention(20301, 1, 69, 2, counts);
	cr_expect(strstr(s, "\"rate\":1.0") != NULL, "%s", s);
	cr_expect(strstr(s, "\"rate\":0.3623") != NULL, "%s", s);
	cr_expect(strstr(s, "\"rate\":0.0") != NULL, "%s", s);
	cr_expect(strstr(s, "\"start_date\":\"2025-08-01\"") != NULL, "%s", s);
	free(s);
	int64_t half[] = {1, 1};
	s = json_render_retention(20301, 7, 80000, 1, half); /* 0.0000125 -> 0.0 */
	cr_expect(strstr(s, "\"rate\":0.0") != NULL, "%s", s);
	free(s);
	int64_t dau[] = {72, 81};
	s = json_render_dau(20301, 2, dau);
	cr_expect_str_eq(s, "[{\"date\":\"2025-08-01\",\"unique_users\":72},"
			    "{\"date\":\"2025-08-02\",\"unique_users\":81}]");
	free(s);
	s = json_render_ingest(3, 2);
	cr_expect_str_eq(s, "{\"received\":3,\"accepted\":2,\"duplicates\":1}");
	free(s);
}

/* --- memory: what a body may cost (security review, point 1) ------------------------------ */

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

enum { MEM_CAP = 1 << 30, BODY_10MIB = 10 * 1024 * 1024 };

/* Caps this test's address space (Criterion runs each test in a process of its own), so that
 * building a json-c tree of a whole 10 MiB body (2.7 GB before the scan) fails at once instead
 * of slowly succeeding. Not under ASan, whose shadow memory needs a huge address space. */
static void
cap_memory(void)
{
#ifndef TEST_ASAN
	struct rlimit rl = {MEM_CAP, MEM_CAP};
	cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0, "setrlimit");
#endif
}

/* head, then "{},{},..." up to about size bytes in all, then tail; malloc'd. */
static char *
empty_objects(const char *head, size_t size, const char *tail)
{
	size_t h = strlen(head), t = strlen(tail), n = (size - h - t + 1) / 3;
	char *s = malloc(h + 3 * n + t + 1), *p = s;
	cr_assert(s, "malloc");
	memcpy(p, head, h);
	p += h;
	for (size_t i = 0; i < n; i++) {
		memcpy(p, i ? ",{}" : "{}", i ? 3 : 2);
		p += i ? 3 : 2;
	}
	memcpy(p, tail, t + 1);
	return s;
}

#define EV_HEAD                                                                                    \
	"{\"event_id\":\"" ID "\",\"occurred_at\":\"2025-08-01T10:00:00Z\",\"user_id\":\"u1\","    \
	"\"event_type\":\"login\""

/* The reported 3.5 million {}: 413 as soon as the 10 001st event starts, nothing built. */
Test(json, huge_array_of_empty_objects_is_refused_unbuilt, .timeout = 60)
{
	char *body = empty_objects("[", BODY_10MIB, "]");
	struct batch b;
	struct verrs v;
	cap_memory();
	size_t built = json_built_bytes();
	cr_expect_eq(parse(body, JSON_BODY_JSON, &b, &v), JSON_TOO_MANY);
	cr_expect_eq(json_built_bytes(), built, "nothing of a refused body is built: %zu bytes",
		     json_built_bytes() - built);
	free(body);
	body = empty_objects("{\"meta\":1,\"events\":[", BODY_10MIB, "]}");
	cr_expect_eq(parse(body, JSON_BODY_JSON, &b, &v), JSON_TOO_MANY, "{\"events\": [...]}");
	cr_expect_eq(json_built_bytes(), built);
	free(body);
}

/* A huge unknown member is ignored (API.md) without being built; a properties object of more
 * values than 64 KiB can hold is refused for its event without being built, and the other
 * events are still reported. */
Test(json, huge_members_are_not_built, .timeout = 60)
{
	/* event 0: properties of 33 333 {}; event 1: valid, with an ignored member of 3 million */
	char *first = empty_objects("[" EV_HEAD ",\"properties\":{\"a\":[", 100000, "]}},");
	char *second = empty_objects(EV_HEAD ",\"junk\":[", BODY_10MIB - strlen(first), "]}]");
	char *body = malloc(strlen(first) + strlen(second) + 1);
	struct batch b;
	struct verrs v;
	cap_memory();
	strcat(strcpy(body, first), second);
	free(first);
	free(second);
	size_t built = json_built_bytes();
	cr_assert_eq(parse(body, JSON_BODY_JSON, &b, &v), JSON_INVALID, "%s",
		     v.n ? v.items[0].message : "");
	cr_expect_eq(v.total, 1, "only event 0 is invalid: %zu problems", v.total);
	cr_expect_eq(v.items[0].index, 0);
	cr_expect_str_eq(v.items[0].field, "properties");
	cr_expect(strstr(v.items[0].message, "more than 32767 values") != NULL, "%s",
		  v.items[0].message);
	cr_expect_eq(v.events, 2);
	cr_expect_eq(b.n, 0);
	cr_expect_lt(json_built_bytes() - built, 1000, "built %zu bytes",
		     json_built_bytes() - built);
	free(body);

	/* NDJSON: one line, the same two ways */
	const char *heads[] = {EV_HEAD ",\"properties\":{\"a\":[", EV_HEAD ",\"junk\":["};
	const enum json_result want[] = {JSON_INVALID, JSON_OK};
	for (int i = 0; i < 2; i++) {
		body = empty_objects(heads[i], BODY_10MIB, i ? "]}\n" : "]}}\n");
		built = json_built_bytes();
		cr_expect_eq(parse(body, JSON_BODY_NDJSON, &b, &v), want[i], "line %d: %s", i,
			     v.n ? v.items[0].message : "");
		cr_expect_lt(json_built_bytes() - built, 1000, "line %d: built %zu bytes", i,
			     json_built_bytes() - built);
		batch_clear(&b);
		free(body);
	}
}

/* Which member holds the events: the last "events" (json-c keeps the last of duplicate keys),
 * however its key is escaped; unknown root members are never built. */
Test(json, events_member_escaped_and_duplicated, .timeout = 60)
{
	const char *ev = EV_HEAD "}";
	char b1[1024], b2[1024], b3[1024], b4[1024], b5[1024], b6[1024], b7[1024];
	snprintf(b1, sizeof b1, "{\"ev\\u0065nts\":[%s,%s]}", ev, ev);
	snprintf(b2, sizeof b2, "{\"events\":[%s],\"events\":[%s,%s]}", ev, ev, ev);
	snprintf(b3, sizeof b3, "{\"events\":[%s],\"events\":5}", ev);
	snprintf(b4, sizeof b4, "{\"events\":5,\"events\":[%s]}", ev);
	snprintf(b5, sizeof b5, "{\"events\":[{}],\"\\u0065vents\":[%s]}", ev);
	snprintf(b6, sizeof b6, "{\"Events\":[%s]}", ev);
	snprintf(b7, sizeof b7,
		 "{\"event\\u005fid\":\"" ID "\",\"occurred_at\":\"2025-08-01T10:00:00Z\","
		 "\"user\\u005Fid\":\"u1\",\"event_type\":\"x\",\"event_type\":\"login\"}");
	const struct body_case cases[] = {
	    {b1, JSON_BODY_JSON, JSON_OK, 2, -2},      {b2, JSON_BODY_JSON, JSON_OK, 2, -2},
	    {b3, JSON_BODY_JSON, JSON_INVALID, 0, -1}, {b4, JSON_BODY_JSON, JSON_OK, 1, -2},
	    {b5, JSON_BODY_JSON, JSON_OK, 1, -2},      {b6, JSON_BODY_JSON, JSON_INVALID, 0, 0},
	    {b7, JSON_BODY_JSON, JSON_OK, 1, -2},
	};
	expect_body_cases(cases, sizeof cases / sizeof cases[0], "login");

	/* 10 MiB: a huge unknown root member, an events member replaced by an escaped one */
	snprintf(b1, sizeof b1, "],\"events\":[{}],\"ev\\u0065nts\":[%s,%s]}", ev, ev);
	char *body = empty_objects("{\"meta\":[", BODY_10MIB, b1);
	struct batch b;
	struct verrs v;
	cap_memory();
	size_t built = json_built_bytes();
	cr_expect_eq(parse(body, JSON_BODY_JSON, &b, &v), JSON_OK, "%s",
		     v.n ? v.items[0].message : "");
	cr_expect_eq(b.n, 2);
	cr_expect_lt(json_built_bytes() - built, 1000, "built %zu bytes",
		     json_built_bytes() - built);
	batch_clear(&b);
	free(body);
}

/* JSON_MAX_DEPTH (64) nested containers in the whole body, wherever they are. */
Test(json, nesting_limit)
{
	const char *forms[] = {"[%s]", "[" EV_HEAD ",\"properties\":{\"p\":%s}}]",
			       "[" EV_HEAD ",\"junk\":%s}]", "{\"meta\":%s,\"events\":[]}"};
	const int around[] = {1, 3, 2, 1}; /* containers around the nested value */
	for (int f = 0; f < 4; f++) {
		for (int extra = 0; extra < 2; extra++) {
			int n = 64 - around[f] + extra;
			char *nest = malloc((size_t)n * 2 + 1), *body = malloc((size_t)n * 2 + 400);
			memset(nest, '[', (size_t)n);
			memset(nest + n, ']', (size_t)n);
			nest[2 * n] = '\0';
			sprintf(body, forms[f], nest);
			struct batch b;
			struct verrs v;
			enum json_result r = parse(body, JSON_BODY_JSON, &b, &v);
			if (extra) {
				cr_expect_eq(r, JSON_MALFORMED, "form %d, depth 65: got %d", f, r);
				cr_expect(v.n && strstr(v.items[0].message, "nesting too deep"),
					  "form %d: %s", f, v.n ? v.items[0].message : "");
			} else {
				cr_expect_neq(r, JSON_MALFORMED, "form %d, depth 64: %s", f,
					      v.n ? v.items[0].message : "");
			}
			batch_clear(&b);
			free(nest);
			free(body);
		}
	}
	/* NDJSON: per line */
	char line[200];
	memset(line, '[', 65);
	memset(line + 65, ']', 65);
	strcpy(line + 130, "\n");
	struct batch b;
	struct verrs v;
	cr_expect_eq(parse(line, JSON_BODY_NDJSON, &b, &v), JSON_MALFORMED);
	cr_expect_eq(v.items[0].index, 0);
}

/* Numbers outside RFC 8259 and single-quoted keys are not JSON: json-c took them, and kept
 * "1." as is in properties, which PostgreSQL's jsonb refuses. */
Test(json, strict_numbers_and_keys)
{
	const char *props[] = {
	    "{\"a\":1.}",	 "{\"a\":00}",	      "{\"a\":-01}",  "{\"a\":1.e5}", "{\"a\":.5}",
	    "{\"a\":+1}",	 "{\"a\":1e}",	      "{\"a\":0x1}",  "{\"a\":-}",    "{'a':1}",
	    "{\"a\":1}x",	 "{\"a\":\"\\x\"}",   "{\"a\":[1,]}", "{\"a\":tru}",  "{\"a\":\"b}",
	    "{\"a\":-Infinity}", "{\"a\":\"\\u12\"}", "{\"a\":1 2}"};
	for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
		struct batch b;
		struct verrs v;
		char *body = event_with("properties", props[i]);
		enum json_result r = parse(body, JSON_BODY_JSON, &b, &v);
		cr_expect_eq(r, JSON_MALFORMED, "%s: got %d (%s)", props[i], r,
			     b.n   ? b.ev[0].properties
			     : v.n ? v.items[0].message
				   : "");
		cr_expect(v.n && strncmp(v.items[0].message, "not well-formed JSON: ", 22) == 0,
			  "%s: %s", props[i], v.n ? v.items[0].message : "");
		batch_clear(&b);
		free(body);
		char *out = NULL;
		const char *why;
		cr_expect_eq(json_properties_normalize(props[i], strlen(props[i]), &out, &why), -1,
			     "cell %s: %s", props[i], out ? out : "");
		free(out);
	}
	/* found by a differential fuzz run against the old code: a high surrogate followed by
	 * a NUL byte and "ude00" passed for a pair, in a member nothing else reads */
	static const char nul_pair[] = "[" EV_HEAD ",\"x\":\"\\ud83d\0ude00\"}]";
	struct batch nb;
	struct verrs nv;
	cr_expect_eq(
	    json_parse_events(nul_pair, sizeof nul_pair - 1, JSON_BODY_JSON, NOW, &nb, &nv),
	    JSON_MALFORMED, "%s", nv.n ? nv.items[0].message : "");
	batch_clear(&nb);
	const char *ok[] = {"{\"a\":-0}", "{\"a\":0.5e-3}", "{\"a\":1E+2}", "{\"a\":\"\t\"}"};
	const char *stored[] = {"{\"a\":0}", "{\"a\":0.5e-3}", "{\"a\":1E+2}", "{\"a\":\"\\t\"}"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct batch b;
		struct verrs v;
		char *body = event_with("properties", ok[i]);
		cr_expect_eq(parse(body, JSON_BODY_JSON, &b, &v), JSON_OK, "%s", ok[i]);
		if (b.n)
			cr_expect_str_eq(b.ev[0].properties, stored[i]);
		batch_clear(&b);
		free(body);
	}
}

/* A 64-bit edge value is checked against what was scanned inside its own member: an integer
 * beyond 64 bits elsewhere in the body made INT64_MIN look clamped. */
Test(json, bigint_flag_is_per_member)
{
	char *body = malloc(1024);
	struct batch b;
	struct verrs v;
	snprintf(body, 1024,
		 "[" EV_HEAD ",\"user_id\":-9223372036854775808,\"properties\":"
		 "{\"n\":18446744073709551615}}," EV_HEAD
		 ",\"properties\":{\"n\":18446744073709551616}}]");
	cr_expect_eq(parse(body, JSON_BODY_JSON, &b, &v), JSON_INVALID);
	cr_expect_eq(v.total, 1, "only event 1: %s", v.items[0].message);
	cr_expect_eq(v.items[0].index, 1);
	cr_expect_str_eq(v.items[0].field, "properties");
	free(body);
}

/* Many valid events in every form still come out as before: same order, same values. */
Test(json, many_valid_events_unchanged, .timeout = 60)
{
	enum { N = BATCH_MAX_EVENTS };
	size_t cap = (size_t)N * 300 + 64;
	char *arr = malloc(cap), *wrap = malloc(cap + 64), *nd = malloc(cap), *p = arr, *q = nd;
	p += sprintf(p, "[");
	for (int i = 0; i < N; i++) {
		char ev[300], user[32];
		if (i % 2)
			snprintf(user, sizeof user, "%d", i);
		else
			snprintf(user, sizeof user, "\"u%d\"", i);
		snprintf(
		    ev, sizeof ev,
		    "{ \"junk\" : {\"a\":[1,{\"b\":null}]}, \"event_id\":\"%08x-0000-4000-8000-"
		    "%012x\",\"occurred_at\":\"2025-08-01T10:00:%02dZ\",\"user_id\":%s,"
		    "\"event_type\":\"t\\/%d\",\"properties\":{ \"i\" : %d, \"s\":\"\\u00e9\\/\" "
		    "}}",
		    i, i, i % 60, user, i % 7, i);
		p += sprintf(p, "%s%s", i ? "," : "", ev);
		q += sprintf(q, "%s\n", ev);
	}
	strcpy(p, "]");
	sprintf(wrap, "{\"meta\":[1],\"events\":%s}", arr);
	const char *bodies[] = {arr, wrap, nd};
	for (int k = 0; k < 3; k++) {
		struct batch b;
		struct verrs v;
		cr_assert_eq(parse(bodies[k], k == 2 ? JSON_BODY_NDJSON : JSON_BODY_JSON, &b, &v),
			     JSON_OK, "form %d: %s", k, v.n ? v.items[0].message : "");
		cr_assert_eq(b.n, N);
		for (int i = 0; i < N; i++) {
			char id[40], user[32], type[16], props[64];
			snprintf(id, sizeof id, "%08x-0000-4000-8000-%012x", i, i);
			snprintf(user, sizeof user, i % 2 ? "%d" : "u%d", i);
			snprintf(type, sizeof type, "t/%d", i % 7);
			snprintf(props, sizeof props, "{\"i\":%d,\"s\":\"\xc3\xa9/\"}", i);
			const struct event *e = &b.ev[i];
			cr_assert_str_eq(e->event_id, id, "form %d, event %d", k, i);
			cr_assert_eq(e->occurred_us, INT64_C(1754042400000000) + (i % 60) * 1000000,
				     "form %d, event %d", k, i);
			cr_assert_str_eq(e->user_id, user, "form %d, event %d", k, i);
			cr_assert_str_eq(e->event_type, type, "form %d, event %d", k, i);
			cr_assert_str_eq(e->properties, props, "form %d, event %d", k, i);
		}
		batch_clear(&b);
	}
	free(arr);
	free(wrap);
	free(nd);
}
