/* test_qs.c: unit tests for fcgi/core/qs.c. Run under valgrind or ASan to check that failed
 * parses leak nothing. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "qs.h"

static const char ERR_PCT[] = "bad percent-encoding";
static const char ERR_NUL[] = "contains a NUL byte";
static const char ERR_UTF8[] = "not valid UTF-8";

struct qs_case {
	const char *query;
	const char *err; /* NULL: must parse */
	size_t n;	 /* parameters expected */
	const char *key; /* if set: qs_get(key) must equal value */
	const char *value;
	size_t value_len;
};

static const struct qs_case qs_cases[] = {
    {NULL, NULL, 0, NULL, NULL, 0},
    {"", NULL, 0, NULL, NULL, 0},
    {"&", NULL, 0, NULL, NULL, 0},
    {"&&&", NULL, 0, NULL, NULL, 0},
    {"a=1", NULL, 1, "a", "1", 1},
    {"a=1&b=2", NULL, 2, "b", "2", 1},
    {"&&a=1&", NULL, 1, "a", "1", 1},
    {"a=1&&b=2", NULL, 2, "a", "1", 1},
    {"a=1=2", NULL, 1, "a", "1=2", 3},
    {"a", NULL, 1, "a", "", 0},
    {"a=", NULL, 1, "a", "", 0},
    {"=", NULL, 1, "", "", 0},
    {"=x", NULL, 1, "", "x", 1},
    {"a&b", NULL, 2, "b", "", 0},
    {"from=2025-08-01&to=2025-08-31", NULL, 2, "to", "2025-08-31", 10},
    /* decoding */
    {"q=%2B", NULL, 1, "q", "+", 1},
    {"q=%2b", NULL, 1, "q", "+", 1},
    {"q=a+b", NULL, 1, "q", "a b", 3},
    {"q=a%20b", NULL, 1, "q", "a b", 3},
    {"q=+++", NULL, 1, "q", "   ", 3},
    {"q=%2F%2f%41%61", NULL, 1, "q", "//Aa", 4},
    {"q=%25", NULL, 1, "q", "%", 1},
    {"q=%2525", NULL, 1, "q", "%25", 3},
    {"q=%26%3D", NULL, 1, "q", "&=", 2},
    {"a%3Db=c", NULL, 1, "a=b", "c", 1},
    {"%61=1", NULL, 1, "a", "1", 1},
    {"a+b=1", NULL, 1, "a b", "1", 1},
    {"q=%C3%A9", NULL, 1, "q", "\xc3\xa9", 2},
    {"q=%c3%a9", NULL, 1, "q", "\xc3\xa9", 2},
    {"q=\xc3\xa9", NULL, 1, "q", "\xc3\xa9", 2},
    {"q=%E2%82%AC", NULL, 1, "q", "\xe2\x82\xac", 3},
    {"q=%01", NULL, 1, "q", "\x01", 1}, /* control characters are the caller's concern */
    /* bad escapes */
    {"q=%", ERR_PCT, 0, NULL, NULL, 0},
    {"q=%4", ERR_PCT, 0, NULL, NULL, 0},
    {"q=%zz", ERR_PCT, 0, NULL, NULL, 0},
    {"q=%4g", ERR_PCT, 0, NULL, NULL, 0},
    {"q=%g4", ERR_PCT, 0, NULL, NULL, 0},
    {"q=%%41", ERR_PCT, 0, NULL, NULL, 0},
    {"q=% 1", ERR_PCT, 0, NULL, NULL, 0},
    {"q=abc%", ERR_PCT, 0, NULL, NULL, 0},
    {"q=%4&r=1", ERR_PCT, 0, NULL, NULL, 0},
    {"%=1", ERR_PCT, 0, NULL, NULL, 0},
    {"a=1&b=2&c=%zz", ERR_PCT, 0, NULL, NULL, 0},
    {"a=1&%zz=2", ERR_PCT, 0, NULL, NULL, 0},
    /* decoded NUL */
    {"q=%00", ERR_NUL, 0, NULL, NULL, 0},
    {"q=a%00b", ERR_NUL, 0, NULL, NULL, 0},
    {"%00=1", ERR_NUL, 0, NULL, NULL, 0},
    /* invalid UTF-8 after decoding */
    {"q=%FF", ERR_UTF8, 0, NULL, NULL, 0},
    {"q=%ff", ERR_UTF8, 0, NULL, NULL, 0},
    {"%ff=1", ERR_UTF8, 0, NULL, NULL, 0},
    {"q=%C3", ERR_UTF8, 0, NULL, NULL, 0},
    {"q=%C3&r=%A9", ERR_UTF8, 0, NULL, NULL, 0},
    {"q=%C0%80", ERR_UTF8, 0, NULL, NULL, 0},
    {"q=%ED%A0%80", ERR_UTF8, 0, NULL, NULL, 0},
    {"q=\xff", ERR_UTF8, 0, NULL, NULL, 0},
    {"a=1&q=\xc3", ERR_UTF8, 0, NULL, NULL, 0},
};

Test(qs, table)
{
	for (size_t i = 0; i < sizeof(qs_cases) / sizeof(qs_cases[0]); i++) {
		const struct qs_case *c = &qs_cases[i];
		struct qs q = {0};
		const char *err = NULL;
		int rc = qs_parse(c->query, &q, &err);

		if (c->err) {
			cr_expect_eq(rc, -1, "qs case %zu (%s): accepted", i, c->query);
			cr_expect(err && strcmp(err, c->err) == 0,
				  "qs case %zu (%s): err \"%s\", want \"%s\"", i, c->query, err,
				  c->err);
			cr_expect(q.n == 0 && q.params == NULL, "qs case %zu: q not empty", i);
		} else {
			cr_expect_eq(rc, 0, "qs case %zu (%s): rejected: %s", i, c->query, err);
			cr_expect_eq(q.n, c->n, "qs case %zu (%s): n = %zu", i, c->query, q.n);
		}
		if (rc == 0 && c->key) {
			const char *v = qs_get(&q, c->key);

			cr_expect(v && strcmp(v, c->value) == 0, "qs case %zu (%s): %s = \"%s\"", i,
				  c->query, c->key, v);
			for (size_t j = 0; j < q.n; j++)
				if (q.params[j].value == v)
					cr_expect_eq(q.params[j].value_len, c->value_len,
						     "qs case %zu: value_len", i);
		}
		qs_free(&q);
		cr_expect(q.n == 0 && q.params == NULL, "qs case %zu: qs_free left data", i);
	}
}

Test(qs, repeated_keys)
{
	struct qs q = {0};
	const char *err = NULL;

	cr_assert_eq(qs_parse("a=1&b=x&a=2", &q, &err), 0, "%s", err);
	cr_assert_eq(q.n, 3);
	cr_expect_str_eq(qs_get(&q, "a"), "1");
	cr_expect_eq(qs_count(&q, "a"), 2);
	cr_expect_eq(qs_count(&q, "b"), 1);
	cr_expect_eq(qs_count(&q, "c"), 0);
	cr_expect_null(qs_get(&q, "c"));
	cr_expect_null(qs_get(&q, "A"));
	cr_expect_null(qs_get(&q, ""));
	cr_expect_str_eq(q.params[0].key, "a");
	cr_expect_str_eq(q.params[1].key, "b");
	cr_expect_str_eq(q.params[2].value, "2");
	qs_free(&q);
}

Test(qs, empty_struct_queries)
{
	struct qs q = {0};

	cr_expect_null(qs_get(&q, "a"));
	cr_expect_eq(qs_count(&q, "a"), 0);
	qs_free(&q);
	qs_free(&q);
	cr_expect(q.n == 0 && q.params == NULL);
}

/* A query of `pieces` parameters "k=v", optionally separated by extra '&'s. */
static char *
make_query(size_t pieces, size_t extra_amps)
{
	char *s = malloc(pieces * (4 + extra_amps) + 1);
	size_t n = 0;

	cr_assert_not_null(s);
	for (size_t i = 0; i < pieces; i++) {
		for (size_t j = 0; j < extra_amps; j++)
			s[n++] = '&';
		memcpy(s + n, "k=v&", 4);
		n += 4;
	}
	s[n] = '\0';
	return s;
}

struct limit_case {
	size_t pieces, extra_amps;
	int rc;
};

static const struct limit_case limit_cases[] = {
    {QS_MAX_PARAMS - 1, 0, 0},	{QS_MAX_PARAMS, 0, 0},
    {QS_MAX_PARAMS, 5, 0}, /* empty pieces do not count */
    {QS_MAX_PARAMS + 1, 0, -1}, {1000, 0, -1},
};

Test(qs, too_many_parameters)
{
	for (size_t i = 0; i < sizeof(limit_cases) / sizeof(limit_cases[0]); i++) {
		const struct limit_case *c = &limit_cases[i];
		char *s = make_query(c->pieces, c->extra_amps);
		struct qs q = {0};
		const char *err = NULL;
		int rc = qs_parse(s, &q, &err);

		cr_expect_eq(rc, c->rc, "limit case %zu (%zu pieces): %s", i, c->pieces, err);
		if (rc == 0) {
			cr_expect_eq(q.n, c->pieces, "limit case %zu", i);
			cr_expect_eq(qs_count(&q, "k"), c->pieces, "limit case %zu", i);
		} else {
			cr_expect_str_eq(err, "too many parameters", "limit case %zu", i);
		}
		qs_free(&q);
		free(s);
	}
}

Test(qs, too_long)
{
	char *s = malloc(QS_MAX_LEN + 2);
	struct qs q = {0};
	const char *err = NULL;

	cr_assert_not_null(s);
	memcpy(s, "a=", 2);
	memset(s + 2, 'x', QS_MAX_LEN - 2);
	s[QS_MAX_LEN] = '\0';
	cr_expect_eq(qs_parse(s, &q, &err), 0, "%s", err);
	cr_expect_eq(q.n, 1);
	cr_expect_eq(q.params[0].value_len, QS_MAX_LEN - 2);
	qs_free(&q);

	s[QS_MAX_LEN] = 'x';
	s[QS_MAX_LEN + 1] = '\0';
	cr_expect_eq(qs_parse(s, &q, &err), -1);
	cr_expect_str_eq(err, "query string too long");
	cr_expect(q.n == 0 && q.params == NULL);
	qs_free(&q);
	free(s);
}

/* After a failure q is empty and can be used again. */
Test(qs, reuse_after_failure)
{
	struct qs q = {0};
	const char *err = NULL;

	cr_assert_eq(qs_parse("a=1&b=%zz", &q, &err), -1);
	qs_free(&q);
	cr_assert_eq(qs_parse("a=1&b=2", &q, &err), 0, "%s", err);
	cr_expect_str_eq(qs_get(&q, "b"), "2");
	qs_free(&q);
	cr_assert_eq(qs_parse("x=%FF", &q, &err), -1);
	cr_expect(q.n == 0 && q.params == NULL);
	qs_free(&q);
}
