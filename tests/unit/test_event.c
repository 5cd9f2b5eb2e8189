/* test_event.c: unit tests for fcgi/core/event.c. Inputs are copied into exact-size heap buffers
 * without a terminating NUL, so AddressSanitizer catches any read beyond len. */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

/* A string literal and its length in bytes (embedded NULs included). */
#define S(lit) lit, sizeof(lit) - 1

static const char ERR_TIME[] = "not an ISO-8601 date-time";
static const char ERR_DATE[] = "not a YYYY-MM-DD date";
static const char ERR_IMPOSSIBLE[] = "impossible date";
static const char ERR_YEAR[] = "year out of range (0001..9999)";
static const char ERR_RANGE[] = "time out of range";
static const char ERR_OFFSET[] = "offset out of range";
static const char ERR_UTC[] = "outside 0001-01-01..9999-12-31 in UTC";
static const char ERR_UTF8[] = "not valid UTF-8";
static const char ERR_CTRL[] = "contains a control character";

/* A heap copy of s[0..len) with nothing after it; the caller frees it. */
static char *
exact_copy(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	cr_assert_not_null(p);
	memcpy(p, s, len);
	return p;
}

/* ---- UUID ----------------------------------------------------------------------------- */

struct uuid_case {
	const char *in;
	size_t len;
	const char *want; /* lower-case form, or NULL for "not a UUID" */
};

static const struct uuid_case uuid_cases[] = {
    {S("123e4567-e89b-12d3-a456-426614174000"), "123e4567-e89b-12d3-a456-426614174000"},
    {S("123E4567-E89B-12D3-A456-426614174000"), "123e4567-e89b-12d3-a456-426614174000"},
    {S("123e4567-E89b-12D3-a456-42661417400A"), "123e4567-e89b-12d3-a456-42661417400a"},
    {S("00000000-0000-0000-0000-000000000000"), "00000000-0000-0000-0000-000000000000"},
    {S("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"), "ffffffff-ffff-ffff-ffff-ffffffffffff"},
    {S("01890a5d-ac96-774b-bcce-b302099a8057"), "01890a5d-ac96-774b-bcce-b302099a8057"},
    {S(""), NULL},
    {S("123e4567-e89b-12d3-a456-42661417400"), NULL},
    {S("123e4567-e89b-12d3-a456-4266141740000"), NULL},
    {S("123e4567e89b12d3a456426614174000"), NULL},
    {S("123e4567e-89b-12d3-a456-42661417400"), NULL},
    {S("123e456-7e89b-12d3-a456-426614174000"), NULL},
    {S("123e4567-e89b-12d3-a456-42661417400-"), NULL},
    {S("123e4567-e89b-12d3-a456_426614174000"), NULL},
    {S("123e4567-e89b-12d3-a456-42661417400g"), NULL},
    {S("g23e4567-e89b-12d3-a456-426614174000"), NULL},
    {S("123e4567-e89b-12d3-a456-42661417400 "), NULL},
    {S(" 23e4567-e89b-12d3-a456-426614174000"), NULL},
    {S("123e4567-e89b-12d3-a456-42661417400\0"), NULL},
    {S("{123e4567-e89b-12d3-a456-426614174000}"), NULL},
    {S("urn:uuid:123e4567-e89b-12d3-a456-426614174000"), NULL},
    {S("123e4567-e89b-12d3-a456-426614174000\n"), NULL},
    {S("------------------------------------"), NULL},
};

Test(event_uuid, table)
{
	for (size_t i = 0; i < sizeof(uuid_cases) / sizeof(uuid_cases[0]); i++) {
		const struct uuid_case *c = &uuid_cases[i];
		char *in = exact_copy(c->in, c->len);
		char out[EVENT_UUID_BUF] = "";
		const char *err = NULL;
		int rc = event_uuid_parse(in, c->len, out, &err);

		if (c->want) {
			cr_expect_eq(rc, 0, "uuid case %zu (%s): rejected: %s", i, c->want, err);
			cr_expect_str_eq(out, c->want, "uuid case %zu: got %s", i, out);
		} else {
			cr_expect_eq(rc, -1, "uuid case %zu (%.*s): accepted", i, (int)c->len,
				     c->in);
			cr_expect(err && strcmp(err, "not a UUID") == 0, "uuid case %zu: err %s", i,
				  err);
		}
		free(in);
	}
}

/* ---- timestamps ----------------------------------------------------------------------- */

/* An input of event_time_parse or event_date_parse and what it must give. */
struct parse_case {
	const char *in;
	size_t len;
	const char *err; /* NULL: must parse to want */
	int64_t want;
};

#define OK(lit, us)                                                                                \
	{                                                                                          \
		S(lit), NULL, INT64_C(us)                                                          \
	}
#define BAD(lit, e)                                                                                \
	{                                                                                          \
		S(lit), e, 0                                                                       \
	}

static const struct parse_case time_cases[] = {
    /* separators and zone designators */
    OK("2025-08-01T12:34:56Z", 1754051696000000),
    OK("2025-08-01t12:34:56z", 1754051696000000),
    OK("2025-08-01 12:34:56Z", 1754051696000000),
    OK("2025-08-01T12:34:56", 1754051696000000),
    OK("2025-08-01T12:34:56+00:00", 1754051696000000),
    OK("2025-08-01T12:34:56-00:00", 1754051696000000),
    /* offsets that move the instant across a UTC day */
    OK("2025-08-01T01:30:00+03:00", 1754001000000000),
    OK("2025-07-31T22:30:00Z", 1754001000000000),
    OK("2025-07-31T20:00:00-05:30", 1754011800000000),
    OK("2025-08-01T01:30:00Z", 1754011800000000),
    OK("2025-01-01T00:00:00-23:59", 1735775940000000),
    OK("2025-08-01T12:34:56.5+01:00", 1754048096500000),
    /* fractions: 1..9 digits, truncated (never rounded) to microseconds */
    OK("2025-08-01T12:34:56.1Z", 1754051696100000),
    OK("2025-08-01T12:34:56.12Z", 1754051696120000),
    OK("2025-08-01T12:34:56.123Z", 1754051696123000),
    OK("2025-08-01T12:34:56.1234Z", 1754051696123400),
    OK("2025-08-01T12:34:56.12345Z", 1754051696123450),
    OK("2025-08-01T12:34:56.123456Z", 1754051696123456),
    OK("2025-08-01T12:34:56.1234567Z", 1754051696123456),
    OK("2025-08-01T12:34:56.12345678Z", 1754051696123456),
    OK("2025-08-01T12:34:56.123456789Z", 1754051696123456),
    OK("2025-08-01T12:34:56.999999999Z", 1754051696999999),
    OK("2025-08-01T12:34:56.000001Z", 1754051696000001),
    OK("2025-08-01T12:34:56.0000009Z", 1754051696000000),
    OK("2025-08-01T12:34:56.000000000000000000000001", 1754051696000000),
    OK("2025-08-01T12:34:56.5", 1754051696500000),
    /* leap years */
    OK("2024-02-29T00:00:00Z", 1709164800000000),
    OK("2000-02-29T23:59:59Z", 951868799000000),
    BAD("2023-02-29T00:00:00Z", ERR_IMPOSSIBLE),
    BAD("1900-02-29T00:00:00Z", ERR_IMPOSSIBLE),
    BAD("2025-02-30T00:00:00Z", ERR_IMPOSSIBLE),
    BAD("2025-04-31T00:00:00Z", ERR_IMPOSSIBLE),
    BAD("2025-01-32T00:00:00Z", ERR_IMPOSSIBLE),
    BAD("2025-01-00T00:00:00Z", ERR_IMPOSSIBLE),
    BAD("2025-00-10T00:00:00Z", ERR_IMPOSSIBLE),
    BAD("2025-13-01T00:00:00Z", ERR_IMPOSSIBLE),
    BAD("0000-01-01T00:00:00Z", ERR_YEAR),
    /* times */
    OK("2025-08-01T23:59:59.999999Z", 1754092799999999),
    BAD("2025-08-01T24:00:00Z", ERR_RANGE),
    BAD("2025-08-01T23:59:60Z", ERR_RANGE),
    BAD("2025-08-01T23:60:00Z", ERR_RANGE),
    BAD("2025-08-01T99:99:99Z", ERR_RANGE),
    /* offsets */
    BAD("2025-08-01T12:00:00+24:00", ERR_OFFSET),
    BAD("2025-08-01T12:00:00-24:00", ERR_OFFSET),
    BAD("2025-08-01T12:00:00+23:60", ERR_OFFSET),
    BAD("2025-08-01T12:00:00+0300", ERR_TIME),
    BAD("2025-08-01T12:00:00+03", ERR_TIME),
    BAD("2025-08-01T12:00:00+3:00", ERR_TIME),
    BAD("2025-08-01T12:00:00+03:0", ERR_TIME),
    BAD("2025-08-01T12:00:00+03:000", ERR_TIME),
    BAD("2025-08-01T12:00:00+03:00Z", ERR_TIME),
    BAD("2025-08-01T12:00:00Z+03:00", ERR_TIME),
    BAD("2025-08-01T12:00:00 +03:00", ERR_TIME),
    BAD("2025-08-01T12:00:00UTC", ERR_TIME),
    /* the range of the instant in UTC */
    OK("0001-01-01T00:00:00Z", -62135596800000000),
    OK("0001-01-01T23:00:00+23:00", -62135596800000000),
    OK("9999-12-31T23:59:59Z", 253402300799000000),
    OK("9999-12-31T23:59:59.999999Z", 253402300799999999),
    OK("9999-12-31T00:30:00-23:29", 253402300740000000),
    BAD("9999-12-31T23:00:00-01:00", ERR_UTC),
    BAD("9999-12-31T23:59:59.999999-00:01", ERR_UTC),
    BAD("0001-01-01T00:30:00+01:00", ERR_UTC),
    BAD("0001-01-01T00:00:00+00:01", ERR_UTC),
    /* before 1970 */
    OK("1970-01-01T00:00:00Z", 0),
    OK("1969-12-31T23:59:59.999999Z", -1),
    OK("1970-01-01T00:59:59.999999+01:00", -1),
    OK("1900-01-01T00:00:00Z", -2208988800000000),
    /* syntax */
    BAD("", ERR_TIME),
    BAD("2025-08-01", ERR_TIME),
    BAD("2025-08-01T", ERR_TIME),
    BAD("2025-08-01T12:34", ERR_TIME),
    BAD("2025-08-01T12:34Z", ERR_TIME),
    BAD("2025-08-01T12:34:5Z", ERR_TIME),
    BAD("2025-08-01T12:34:56.", ERR_TIME),
    BAD("2025-08-01T12:34:56.Z", ERR_TIME),
    BAD("2025-08-01T12:34:56.5.5", ERR_TIME),
    BAD("2025-08-01T12:34:56,5Z", ERR_TIME),
    BAD("2025-08-01T12:34:56ZZ", ERR_TIME),
    BAD("2025-08-01T12:34:56Z ", ERR_TIME),
    BAD("2025-08-01T12:34:56 ", ERR_TIME),
    BAD("2025-08-01T12:34:56x", ERR_TIME),
    BAD("2025-08-01T12:34:56+03:00x", ERR_TIME),
    BAD("2025-08-01T12:34:56Z\n", ERR_TIME),
    BAD("2025-08-01T12:34:56Z\0", ERR_TIME),
    BAD("2025-08-01T12:34\0:56Z", ERR_TIME),
    BAD("2025-08-01T12:34:5\0Z", ERR_TIME),
    BAD("\0", ERR_TIME),
    BAD(" 2025-08-01T12:34:56Z", ERR_TIME),
    BAD("2025-08-01  12:34:56Z", ERR_TIME),
    BAD("2025-08-01X12:34:56Z", ERR_TIME),
    BAD("2025-08-01_12:34:56Z", ERR_TIME),
    BAD("25-08-01T12:34:56Z", ERR_TIME),
    BAD("2025-8-01T12:34:56Z", ERR_TIME),
    BAD("2025-08-1T12:34:56Z", ERR_TIME),
    BAD("2025/08/01T12:34:56Z", ERR_TIME),
    BAD("2025-08-01T12.34.56Z", ERR_TIME),
    BAD("2025-08-01T1:34:56Z", ERR_TIME),
    BAD("20250801T123456Z", ERR_TIME),
    BAD("+2025-08-01T12:34:56Z", ERR_TIME),
    BAD("-2025-08-01T12:34:56Z", ERR_TIME),
    BAD("12025-08-01T12:34:56Z", ERR_TIME),
    BAD("2025-08-01T-1:34:56Z", ERR_TIME),
    BAD("2025-08-01T+1:34:56Z", ERR_TIME),
    BAD("2025-08-01T12:34:56.+5", ERR_TIME),
    BAD("\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x95-08-01T12:34:56Z", ERR_TIME),
    BAD("2025-08-01T12:34:56.\xd9\xa1Z", ERR_TIME),
    BAD("1754051696", ERR_TIME),
};

/* Parses each case's input (an exact copy: nothing after len bytes) with parse and expects its
 * value or its error; kind names the cases in messages. */
static void
expect_parse_cases(const char *kind, const struct parse_case *cases, size_t n,
		   int (*parse)(const char *, size_t, int64_t *, const char **))
{
	for (size_t i = 0; i < n; i++) {
		const struct parse_case *c = &cases[i];
		char *in = exact_copy(c->in, c->len);
		int64_t v = INT64_MIN;
		const char *err = NULL;
		int rc = parse(in, c->len, &v, &err);

		if (!c->err) {
			cr_expect_eq(rc, 0, "%s case %zu (%s): rejected: %s", kind, i, c->in, err);
			cr_expect_eq(v, c->want, "%s case %zu (%s): got %" PRId64 " want %" PRId64,
				     kind, i, c->in, v, c->want);
		} else {
			cr_expect_eq(rc, -1, "%s case %zu (%s): accepted as %" PRId64, kind, i,
				     c->in, v);
			cr_expect(err && strcmp(err, c->err) == 0,
				  "%s case %zu (%s): err \"%s\", want \"%s\"", kind, i, c->in, err,
				  c->err);
		}
		free(in);
	}
}

Test(event_time, table)
{
	expect_parse_cases("time", time_cases, sizeof(time_cases) / sizeof(time_cases[0]),
			   event_time_parse);
}

/* Only the first len bytes count, whatever follows them in memory. */
Test(event_time, reads_only_len_bytes)
{
	static const char s[] = "2025-08-01T12:34:56.5Zgarbage";
	int64_t us = 0;
	const char *err = NULL;

	cr_assert_eq(event_time_parse(s, 22, &us, &err), 0, "%s", err);
	cr_assert_eq(us, INT64_C(1754051696500000));
	cr_assert_eq(event_time_parse(s, 19, &us, &err), 0, "%s", err);
	cr_assert_eq(us, INT64_C(1754051696000000));
	cr_assert_eq(event_time_parse(s, 20, &us, &err), -1);
	cr_assert_eq(event_time_parse(s, 0, &us, &err), -1);
}

struct format_case {
	int64_t us;
	const char *want;
};

static const struct format_case format_cases[] = {
    {0, "1970-01-01T00:00:00.000000Z"},
    {-1, "1969-12-31T23:59:59.999999Z"},
    {1, "1970-01-01T00:00:00.000001Z"},
    {-EVENT_US_PER_DAY, "1969-12-31T00:00:00.000000Z"},
    {-EVENT_US_PER_DAY - 1, "1969-12-30T23:59:59.999999Z"},
    {INT64_C(-999999), "1969-12-31T23:59:59.000001Z"},
    {INT64_C(-1000000), "1969-12-31T23:59:59.000000Z"},
    {INT64_C(1754001000000000), "2025-07-31T22:30:00.000000Z"},
    {INT64_C(1754051696123456), "2025-08-01T12:34:56.123456Z"},
    {INT64_C(951868799000000), "2000-02-29T23:59:59.000000Z"},
    {INT64_C(-2208988800000000), "1900-01-01T00:00:00.000000Z"},
    {INT64_C(-62135596800000000), "0001-01-01T00:00:00.000000Z"},
    {INT64_C(253402300799999999), "9999-12-31T23:59:59.999999Z"},
};

Test(event_time, format)
{
	for (size_t i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++) {
		char out[EVENT_TIME_BUF];

		event_time_format(format_cases[i].us, out);
		cr_expect_str_eq(out, format_cases[i].want, "format case %zu (%" PRId64 "): %s", i,
				 format_cases[i].us, out);
	}
}

static void
expect_round_trip(int64_t us)
{
	char out[EVENT_TIME_BUF];
	int64_t back = 0;
	const char *err = NULL;

	event_time_format(us, out);
	cr_expect_eq(strlen(out), 27, "%" PRId64 ": %s", us, out);
	cr_expect_eq(event_time_parse(out, strlen(out), &back, &err), 0, "%" PRId64 ": %s: %s", us,
		     out, err);
	cr_expect_eq(back, us, "%" PRId64 " -> %s -> %" PRId64, us, out, back);
}

/* Every formatted instant in range parses back to itself, negative ones included. */
Test(event_time, round_trip)
{
	const int64_t lo = INT64_C(-62135596800000000), hi = INT64_C(253402300799999999);
	uint64_t x = 88172645463325252u;

	for (int64_t d = -3; d <= 3; d++)
		for (int64_t e = -2; e <= 2; e++)
			expect_round_trip(d * EVENT_US_PER_DAY + e);
	expect_round_trip(lo);
	expect_round_trip(lo + 1);
	expect_round_trip(hi);
	expect_round_trip(hi - 1);
	for (int i = 0; i < 20000; i++) { /* xorshift64: reproducible spread over the range */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		expect_round_trip(lo + (int64_t)(x % (uint64_t)(hi - lo + 1)));
	}
}

Test(event_time, format_extremes_fit_buffer)
{
	char out[EVENT_TIME_BUF];

	event_time_format(INT64_MAX, out);
	cr_expect_lt(strlen(out), EVENT_TIME_BUF);
	event_time_format(INT64_MIN, out);
	cr_expect_lt(strlen(out), EVENT_TIME_BUF);
}

/* ---- dates ---------------------------------------------------------------------------- */

static const struct parse_case date_cases[] = {
    {S("1970-01-01"), NULL, 0},
    {S("1969-12-31"), NULL, -1},
    {S("2000-03-01"), NULL, 11017},
    {S("2025-08-01"), NULL, 20301},
    {S("2024-02-29"), NULL, 19782},
    {S("1900-03-01"), NULL, -25508},
    {S("1600-02-29"), NULL, -135081},
    {S("0001-01-01"), NULL, -719162},
    {S("9999-12-31"), NULL, 2932896},
    {S("0000-01-01"), ERR_YEAR, 0},
    {S("2025-02-29"), ERR_IMPOSSIBLE, 0},
    {S("1900-02-29"), ERR_IMPOSSIBLE, 0},
    {S("2024-02-30"), ERR_IMPOSSIBLE, 0},
    {S("2025-06-31"), ERR_IMPOSSIBLE, 0},
    {S("2025-13-01"), ERR_IMPOSSIBLE, 0},
    {S("2025-00-01"), ERR_IMPOSSIBLE, 0},
    {S("2025-01-00"), ERR_IMPOSSIBLE, 0},
    {S(""), ERR_DATE, 0},
    {S("2025-8-01"), ERR_DATE, 0},
    {S("2025-08-1"), ERR_DATE, 0},
    {S("2025/08/01"), ERR_DATE, 0},
    {S("20250801"), ERR_DATE, 0},
    {S("2025-08-01 "), ERR_DATE, 0},
    {S(" 2025-08-01"), ERR_DATE, 0},
    {S("2025-08-01T00:00:00Z"), ERR_DATE, 0},
    {S("+025-08-01"), ERR_DATE, 0},
    {S("-025-08-01"), ERR_DATE, 0},
    {S("2025-08-0\0"), ERR_DATE, 0},
    {S("2025-08-0a"), ERR_DATE, 0},
    {S("10000-01-01"), ERR_DATE, 0},
};

Test(event_date, table)
{
	expect_parse_cases("date", date_cases, sizeof(date_cases) / sizeof(date_cases[0]),
			   event_date_parse);
}

static int
leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Walks every day of 0001..9999 one by one and checks each conversion against the count. */
Test(event_date, every_day)
{
	static const unsigned dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t n = -719162;

	for (int64_t y = 1; y <= 9999; y++) {
		for (unsigned m = 1; m <= 12; m++) {
			unsigned last = dim[m - 1] + (m == 2 && leap(y));

			for (unsigned d = 1; d <= last; d++, n++) {
				int64_t yy;
				unsigned mm, dd;

				if (event_days_from_civil(y, m, d) != n)
					cr_assert_fail("days_from_civil(%" PRId64
						       "-%u-%u) != %" PRId64,
						       y, m, d, n);
				event_civil_from_days(n, &yy, &mm, &dd);
				if (yy != y || mm != m || dd != d)
					cr_assert_fail("civil_from_days(%" PRId64 ")", n);
			}
		}
	}
	cr_expect_eq(n, 2932897);
}

Test(event_date, format_round_trip)
{
	for (int64_t days = -719162; days <= 2932896; days += 997) {
		char out[EVENT_DATE_BUF];
		int64_t back = 0;
		const char *err = NULL;

		event_date_format(days, out);
		cr_assert_eq(strlen(out), 10, "%" PRId64 ": %s", days, out);
		cr_assert_eq(event_date_parse(out, 10, &back, &err), 0, "%s: %s", out, err);
		cr_assert_eq(back, days, "%" PRId64 " -> %s -> %" PRId64, days, out, back);
	}
}

struct civil_case {
	int64_t y;
	unsigned m, d;
	int64_t days;
	const char *text;
};

static const struct civil_case civil_cases[] = {
    {1970, 1, 1, 0, "1970-01-01"},	 {2000, 3, 1, 11017, "2000-03-01"},
    {1969, 12, 31, -1, "1969-12-31"},	 {2000, 2, 29, 11016, "2000-02-29"},
    {1, 1, 1, -719162, "0001-01-01"},	 {9999, 12, 31, 2932896, "9999-12-31"},
    {2024, 12, 31, 20088, "2024-12-31"}, {1600, 2, 29, -135081, "1600-02-29"},
};

Test(event_date, civil_known_values)
{
	for (size_t i = 0; i < sizeof(civil_cases) / sizeof(civil_cases[0]); i++) {
		const struct civil_case *c = &civil_cases[i];
		char out[EVENT_DATE_BUF];
		int64_t y;
		unsigned m, d;

		cr_expect_eq(event_days_from_civil(c->y, c->m, c->d), c->days,
			     "civil case %zu (%s)", i, c->text);
		event_civil_from_days(c->days, &y, &m, &d);
		cr_expect(y == c->y && m == c->m && d == c->d, "civil case %zu (%s)", i, c->text);
		event_date_format(c->days, out);
		cr_expect_str_eq(out, c->text, "civil case %zu", i);
	}
}

struct day_of_case {
	int64_t us;
	int64_t day;
};

static const struct day_of_case day_of_cases[] = {
    {0, 0},
    {1, 0},
    {-1, -1},
    {EVENT_US_PER_DAY - 1, 0},
    {EVENT_US_PER_DAY, 1},
    {-EVENT_US_PER_DAY, -1},
    {-EVENT_US_PER_DAY + 1, -1},
    {-EVENT_US_PER_DAY - 1, -2},
    {INT64_C(1754001000000000), 20300},
    {INT64_C(-62135596800000000), -719162},
    {INT64_C(253402300799999999), 2932896},
    {INT64_MAX, 106751991},
    {INT64_MIN, -106751992},
};

Test(event_date, day_of)
{
	for (size_t i = 0; i < sizeof(day_of_cases) / sizeof(day_of_cases[0]); i++)
		cr_expect_eq(event_day_of(day_of_cases[i].us), day_of_cases[i].day,
			     "day_of case %zu (%" PRId64 "): %" PRId64, i, day_of_cases[i].us,
			     event_day_of(day_of_cases[i].us));
}

/* ---- text ----------------------------------------------------------------------------- */

struct text_case {
	const char *in;
	size_t len;
	size_t max;
	const char *err;
};

static const struct text_case text_cases[] = {
    {S(""), 10, "empty"},
    {S("a"), 1, NULL},
    {S("ab"), 1, "too long"},
    {S("hello world"), 11, NULL},
    {S("\xc3\xa9"), 2, NULL}, /* é: 2 bytes */
    {S("\xc3\xa9"), 1, "too long"},
    {S("\xe2\x82\xac"), 3, NULL}, /* € */
    {S("\xe2\x82\xac"), 2, "too long"},
    {S("\xf0\x9f\x98\x80"), 4, NULL}, /* U+1F600 */
    {S("\xf0\x9f\x98\x80"), 3, "too long"},
    /* control-character boundaries */
    {S("\x1f"), 10, ERR_CTRL},	   /* U+001F */
    {S(" "), 10, NULL},		   /* U+0020 */
    {S("~"), 10, NULL},		   /* U+007E */
    {S("\x7f"), 10, ERR_CTRL},	   /* U+007F */
    {S("\xc2\x80"), 10, ERR_CTRL}, /* U+0080 */
    {S("\xc2\x85"), 10, ERR_CTRL}, /* U+0085 NEL */
    {S("\xc2\x9f"), 10, ERR_CTRL}, /* U+009F */
    {S("\xc2\xa0"), 10, NULL},	   /* U+00A0 */
    {S("\t"), 10, ERR_CTRL},
    {S("a\nb"), 10, ERR_CTRL},
    {S("\r"), 10, ERR_CTRL},
    {S("\x1b[31m"), 10, ERR_CTRL},
    {S("\0"), 10, ERR_CTRL},
    {S("a\0b"), 10, ERR_CTRL},
    {S("ab\0"), 10, ERR_CTRL},
    /* boundaries of valid UTF-8 */
    {S("\xc2\xa1"), 10, NULL},	       /* U+00A1 */
    {S("\xdf\xbf"), 10, NULL},	       /* U+07FF */
    {S("\xe0\xa0\x80"), 10, NULL},     /* U+0800 */
    {S("\xed\x9f\xbf"), 10, NULL},     /* U+D7FF */
    {S("\xee\x80\x80"), 10, NULL},     /* U+E000 */
    {S("\xef\xbf\xbf"), 10, NULL},     /* U+FFFF */
    {S("\xf0\x90\x80\x80"), 10, NULL}, /* U+10000 */
    {S("\xf4\x8f\xbf\xbf"), 10, NULL}, /* U+10FFFF */
    /* invalid UTF-8 */
    {S("\xc0\x80"), 10, ERR_UTF8},		   /* overlong NUL */
    {S("\xc1\xbf"), 10, ERR_UTF8},		   /* overlong U+007F */
    {S("\xe0\x80\x80"), 10, ERR_UTF8},		   /* overlong */
    {S("\xe0\x9f\xbf"), 10, ERR_UTF8},		   /* overlong U+07FF */
    {S("\xf0\x80\x80\x80"), 10, ERR_UTF8},	   /* overlong */
    {S("\xf0\x8f\xbf\xbf"), 10, ERR_UTF8},	   /* overlong U+FFFF */
    {S("\xed\xa0\x80"), 10, ERR_UTF8},		   /* U+D800 */
    {S("\xed\xbf\xbf"), 10, ERR_UTF8},		   /* U+DFFF */
    {S("\xed\xa0\xbd\xed\xb8\x80"), 10, ERR_UTF8}, /* CESU-8 surrogate pair */
    {S("\xf4\x90\x80\x80"), 10, ERR_UTF8},	   /* U+110000 */
    {S("\xf5\x80\x80\x80"), 10, ERR_UTF8},
    {S("\xf8\x88\x80\x80\x80"), 10, ERR_UTF8},
    {S("\xfe"), 10, ERR_UTF8},
    {S("\xff"), 10, ERR_UTF8},
    {S("\x80"), 10, ERR_UTF8}, /* lone continuation */
    {S("\xbf"), 10, ERR_UTF8},
    {S("a\x80z"), 10, ERR_UTF8},
    {S("\xc3"), 10, ERR_UTF8}, /* truncated */
    {S("a\xc3"), 10, ERR_UTF8},
    {S("\xe2\x82"), 10, ERR_UTF8},
    {S("\xf0\x9f\x98"), 10, ERR_UTF8},
    {S("\xc3\x28"), 10, ERR_UTF8}, /* bad continuation */
    {S("\xe2\x28\xa1"), 10, ERR_UTF8},
    {S("\xe2\x82\x28"), 10, ERR_UTF8},
    {S("\xf0\x9f\x28\x80"), 10, ERR_UTF8},
    {S("\xf0\x9f\x98\x28"), 10, ERR_UTF8},
    {S("\xc3\xc3\xa9"), 10, ERR_UTF8},
};

Test(event_text, table)
{
	for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
		const struct text_case *c = &text_cases[i];
		char *in = exact_copy(c->in, c->len);
		const char *err = NULL;
		int rc = event_text_check(in, c->len, c->max, &err);

		if (!c->err) {
			cr_expect_eq(rc, 0, "text case %zu: rejected: %s", i, err);
		} else {
			cr_expect_eq(rc, -1, "text case %zu: accepted", i);
			cr_expect(err && strcmp(err, c->err) == 0,
				  "text case %zu: err \"%s\", want \"%s\"", i, err, c->err);
		}
		/* event_utf8_valid agrees on everything except length and control characters */
		if (c->len > 0 && c->len <= c->max)
			cr_expect_eq(event_utf8_valid(in, c->len), c->err != ERR_UTF8,
				     "text case %zu: event_utf8_valid", i);
		free(in);
	}
}

/* The limits the API uses, with their messages, counted in bytes. */
Test(event_text, api_limits)
{
	static const struct {
		size_t max;
		const char *msg;
	} limits[] = {{EVENT_USER_ID_MAX, "longer than 256 bytes"},
		      {EVENT_TYPE_MAX, "longer than 128 bytes"}};
	char buf[EVENT_USER_ID_MAX + 2];
	const char *err = NULL;

	for (size_t i = 0; i < 2; i++) {
		size_t max = limits[i].max;

		memset(buf, 'x', sizeof(buf));
		cr_expect_eq(event_text_check(buf, max, max, &err), 0, "limit %zu: %s", max, err);
		cr_expect_eq(event_text_check(buf, max + 1, max, &err), -1, "limit %zu", max);
		cr_expect_str_eq(err, limits[i].msg, "limit %zu", max);
		/* a 2-byte character counts 2: max/2 of them fit, one more does not */
		for (size_t j = 0; j + 1 < sizeof(buf); j += 2)
			memcpy(buf + j, "\xc3\xa9", 2);
		cr_expect_eq(event_text_check(buf, max, max, &err), 0, "limit %zu: %s", max, err);
		cr_expect_eq(event_text_check(buf, max + 2, max, &err), -1, "limit %zu", max);
	}
}

struct utf8_case {
	const char *in;
	size_t len;
	int valid;
};

static const struct utf8_case utf8_cases[] = {
    {S(""), 1},
    {S("\0"), 1},
    {S("\x1f\x7f"), 1},
    {S("\xc2\x80\xc2\x9f"), 1},
    {S("plain ascii"), 1},
    {S("\xf4\x8f\xbf\xbf"), 1},
    {S("\xc0\x80"), 0},
    {S("\xed\xa0\x80"), 0},
    {S("\xf4\x90\x80\x80"), 0},
    {S("\x80"), 0},
    {S("\xe2\x82"), 0},
    {S("ok\xff"), 0},
};

Test(event_utf8, table)
{
	for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
		char *in = exact_copy(utf8_cases[i].in, utf8_cases[i].len);

		cr_expect_eq(event_utf8_valid(in, utf8_cases[i].len), utf8_cases[i].valid,
			     "utf8 case %zu", i);
		free(in);
	}
}
