/* event.c: parsing and formatting of event fields. Byte comparisons only (no <ctype.h>, no
 * locale) and home-made calendar maths (no mktime/timegm), so the results never depend on the
 * process environment. */
#include "event.h"

#include <inttypes.h>
#include <stdio.h>

#define US_PER_SEC INT64_C(1000000)

static const char ERR_TIME[] = "not an ISO-8601 date-time";
static const char ERR_DATE[] = "not a YYYY-MM-DD date";
static const char ERR_IMPOSSIBLE[] = "impossible date";
static const char ERR_YEAR[] = "year out of range (0001..9999)";

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int
event_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly n decimal digits at s; n is small enough that int cannot overflow. */
static int
parse_digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int
event_uuid_parse(const char *s, size_t len, char out[EVENT_UUID_BUF], const char **err)
{
	if (len != 36) {
		*err = "not a UUID";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int want_hyphen = i == 8 || i == 13 || i == 18 || i == 23;

		if (want_hyphen ? c != '-' : event_hex_value(c) < 0) {
			*err = "not a UUID";
			return -1;
		}
		out[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
	}
	out[36] = '\0';
	return 0;
}

static int
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned
days_in_month(int64_t y, unsigned m)
{
	static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Proleptic Gregorian calendar on a year that starts on 1 March, so the leap day is the last
 * day of the year; 400-year eras make negative years work with plain integer division. */
int64_t
event_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	if (m <= 2)
		y -= 1;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;				     /* 0..399 */
	unsigned mar = m > 2 ? m - 3 : m + 9;			     /* 0 = March */
	int64_t doy = (153 * (int64_t)mar + 2) / 5 + (int64_t)d - 1; /* 0..365 */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;	     /* 0..146096 */

	return era * 146097 + doe - 719468; /* 719468 = days from 0000-03-01 to 1970-01-01 */
}

/* Inverse of event_days_from_civil, for |days| well below INT64_MAX (any day of an int64 µs
 * instant is fine). */
void
event_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mar = (5 * doy + 2) / 153;

	*d = (unsigned)(doy - (153 * mar + 2) / 5 + 1);
	*m = (unsigned)(mar < 10 ? mar + 3 : mar - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t
event_day_of(int64_t us)
{
	return floor_div(us, EVENT_US_PER_DAY);
}

/* "YYYY-MM-DD" at s (10 bytes available), checked against the calendar. */
static int
parse_ymd(const char *s, int64_t *days, const char **err, const char *syntax_err)
{
	int y, m, d;

	if (parse_digits(s, 4, &y) || s[4] != '-' || parse_digits(s + 5, 2, &m) || s[7] != '-' ||
	    parse_digits(s + 8, 2, &d)) {
		*err = syntax_err;
		return -1;
	}
	if (y == 0) {
		*err = ERR_YEAR;
		return -1;
	}
	if (m < 1 || m > 12 || d < 1 || (unsigned)d > days_in_month(y, (unsigned)m)) {
		*err = ERR_IMPOSSIBLE;
		return -1;
	}
	*days = event_days_from_civil(y, (unsigned)m, (unsigned)d);
	return 0;
}

int
event_date_parse(const char *s, size_t len, int64_t *days, const char **err)
{
	if (len != 10) {
		*err = ERR_DATE;
		return -1;
	}
	return parse_ymd(s, days, err, ERR_DATE);
}

/* "HH:MM:SS" at s (8 bytes available), as microseconds into the day. */
static int
parse_hms(const char *s, int64_t *us, const char **err)
{
	int h, m, sec;

	if (parse_digits(s, 2, &h) || s[2] != ':' || parse_digits(s + 3, 2, &m) || s[5] != ':' ||
	    parse_digits(s + 6, 2, &sec)) {
		*err = ERR_TIME;
		return -1;
	}
	if (h > 23 || m > 59 || sec > 59) {
		*err = "time out of range";
		return -1;
	}
	*us = ((int64_t)h * 3600 + m * 60 + sec) * US_PER_SEC;
	return 0;
}

/* '.' and 1+ digits at s[*pos]; only the first six count (truncation, not rounding). */
static int
parse_fraction(const char *s, size_t len, size_t *pos, int64_t *us)
{
	size_t i = *pos + 1;
	int64_t scale = 100000;

	*us = 0;
	if (i >= len || !is_digit(s[i]))
		return -1;
	for (; i < len && is_digit(s[i]); i++) {
		*us += (s[i] - '0') * scale;
		scale /= 10;
	}
	*pos = i;
	return 0;
}

/* The rest of the input from s[pos]: nothing, Z/z, or +HH:MM/-HH:MM. *off_us is the signed
 * offset of local time from UTC. */
static int
parse_offset(const char *s, size_t len, size_t pos, int64_t *off_us, const char **err)
{
	int h, m;

	*off_us = 0;
	if (pos == len)
		return 0;
	if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == len)
		return 0;
	if ((s[pos] != '+' && s[pos] != '-') || len - pos != 6 ||
	    parse_digits(s + pos + 1, 2, &h) || s[pos + 3] != ':' ||
	    parse_digits(s + pos + 4, 2, &m)) {
		*err = ERR_TIME;
		return -1;
	}
	if (h > 23 || m > 59) {
		*err = "offset out of range";
		return -1;
	}
	*off_us = ((int64_t)h * 3600 + m * 60) * US_PER_SEC;
	if (s[pos] == '-')
		*off_us = -*off_us;
	return 0;
}

int
event_time_parse(const char *s, size_t len, int64_t *us, const char **err)
{
	int64_t days, tod, frac = 0, off;
	size_t pos = 19;

	if (len < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')) {
		*err = ERR_TIME;
		return -1;
	}
	if (parse_ymd(s, &days, err, ERR_TIME) || parse_hms(s + 11, &tod, err))
		return -1;
	if (pos < len && s[pos] == '.' && parse_fraction(s, len, &pos, &frac)) {
		*err = ERR_TIME;
		return -1;
	}
	if (parse_offset(s, len, pos, &off, err))
		return -1;

	int64_t t = days * EVENT_US_PER_DAY + tod + frac - off;
	int64_t lo = event_days_from_civil(1, 1, 1) * EVENT_US_PER_DAY;
	int64_t hi = (event_days_from_civil(9999, 12, 31) + 1) * EVENT_US_PER_DAY;

	if (t < lo || t >= hi) {
		*err = "outside 0001-01-01..9999-12-31 in UTC";
		return -1;
	}
	*us = t;
	return 0;
}

/* Years outside 0000..9999 (instants event_time_parse never returns) print with more digits
 * or a sign; EVENT_TIME_BUF leaves room for any int64 input. */
void
event_time_format(int64_t us, char out[EVENT_TIME_BUF])
{
	int64_t days = event_day_of(us);
	int64_t rem = us % EVENT_US_PER_DAY; /* days * EVENT_US_PER_DAY may overflow */
	int64_t sec;
	int64_t y;
	unsigned m, d;

	if (rem < 0)
		rem += EVENT_US_PER_DAY;
	sec = rem / US_PER_SEC;
	event_civil_from_days(days, &y, &m, &d);
	snprintf(out, EVENT_TIME_BUF, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%06uZ", y, m, d,
		 (unsigned)(sec / 3600), (unsigned)(sec / 60 % 60), (unsigned)(sec % 60),
		 (unsigned)(rem % US_PER_SEC));
}

/* Only days in years 0000..9999 fit EVENT_DATE_BUF; others come out truncated (still
 * NUL-terminated). Callers validate ranges first. */
void
event_date_format(int64_t days, char out[EVENT_DATE_BUF])
{
	int64_t y;
	unsigned m, d;

	event_civil_from_days(days, &y, &m, &d);
	snprintf(out, EVENT_DATE_BUF, "%04" PRId64 "-%02u-%02u", y, m, d);
}

/* Length of the well-formed UTF-8 sequence at s (Unicode Table 3-7), 0 if there is none;
 * the decoded code point goes to *cp. */
static size_t
utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0; /* continuation byte, overlong C0/C1, or F5..FF */
	if (c == 0xE0)
		lo = 0xA0; /* overlong */
	else if (c == 0xED)
		hi = 0x9F; /* surrogates */
	else if (c == 0xF0)
		lo = 0x90; /* overlong */
	else if (c == 0xF4)
		hi = 0x8F; /* above U+10FFFF */
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	*cp = c & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3F);
	}
	return n;
}

int
event_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_next(p + i, len - i, &cp);

		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

static const char *
too_long(size_t max)
{
	_Static_assert(EVENT_USER_ID_MAX == 256, "message below");
	_Static_assert(EVENT_TYPE_MAX == 128, "message below");

	switch (max) {
	case EVENT_USER_ID_MAX:
		return "longer than 256 bytes";
	case EVENT_TYPE_MAX:
		return "longer than 128 bytes";
	default:
		return "too long";
	}
}

int
event_text_check(const char *s, size_t len, size_t max, const char **err)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;

	if (len == 0) {
		*err = "empty";
		return -1;
	}
	if (len > max) {
		*err = too_long(max);
		return -1;
	}
	for (size_t i = 0; i < len;) {
		size_t n = utf8_next(p + i, len - i, &cp);

		if (n == 0) {
			*err = "not valid UTF-8";
			return -1;
		}
		if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
			*err = "contains a control character";
			return -1;
		}
		i += n;
	}
	return 0;
}
