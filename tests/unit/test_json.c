/* Unit tests of json.c: POST /events bodies against API.md's Event table, and the renderers. */
#include "json.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct batch b;
		struct verrs v;
		enum json_result r = parse(cases[i].body, cases[i].kind, &b, &v);
		cr_expect_eq(r, cases[i].want, "case %zu: got %d want %d (%s)", i, r, cases[i].want,
			     v.n ? v.items[0].message : "");
		cr_expect_eq(b.n, cases[i].events, "case %zu: %zu events", i, b.n);
		if (cases[i].index != -2 && v.n)
			cr_expect_eq(v.items[0].index, cases[i].index, "case %zu: index %ld", i,
				     v.items[0].index);
		batch_clear(&b);
	}
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
