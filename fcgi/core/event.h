/* event.h: the fields of one event, parsed and normalised. Pure functions: no I/O, no
 * allocation, no global state. Every parser returns 0 on success or -1 with *err set to a
 * static, human-readable reason (it goes into API error details as is). */
#ifndef EVENT_H
#define EVENT_H

#include <stddef.h>
#include <stdint.h>

enum {
	EVENT_UUID_BUF = 37,	     /* 36 chars + NUL */
	EVENT_TIME_BUF = 32,	     /* "YYYY-MM-DDTHH:MM:SS.ffffffZ" + NUL */
	EVENT_DATE_BUF = 11,	     /* "YYYY-MM-DD" + NUL */
	EVENT_USER_ID_MAX = 256,     /* bytes */
	EVENT_TYPE_MAX = 128,	     /* bytes */
	EVENT_PROPERTIES_MAX = 65536 /* bytes of compact JSON */
};

#define EVENT_US_PER_DAY INT64_C(86400000000)

/* Canonical 8-4-4-4-12 hex UUID, any version, any case. Writes the lower-case form to out. */
int event_uuid_parse(const char *s, size_t len, char out[EVENT_UUID_BUF], const char **err)
    __attribute__((warn_unused_result));

/* ISO-8601 / RFC 3339 date-time: YYYY-MM-DD(T|t| )HH:MM:SS[.fraction][(Z|z|+HH:MM|-HH:MM)].
 * No offset means UTC. Fractions finer than microseconds are truncated. 24:00:00, :60 leap
 * seconds, impossible dates (2025-02-30) and offsets beyond +-23:59 are errors. The year is
 * 0001..9999 and the UTC instant must fall in 0001-01-01..9999-12-31 too.
 * *us = microseconds since 1970-01-01T00:00:00Z. */
int event_time_parse(const char *s, size_t len, int64_t *us, const char **err)
    __attribute__((warn_unused_result));

/* Formats microseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.ffffffZ". */
void event_time_format(int64_t us, char out[EVENT_TIME_BUF]);

/* Strict calendar date YYYY-MM-DD (year 0001..9999). *days = days since 1970-01-01. */
int event_date_parse(const char *s, size_t len, int64_t *days, const char **err)
    __attribute__((warn_unused_result));

/* Formats days since 1970-01-01 as "YYYY-MM-DD". */
void event_date_format(int64_t days, char out[EVENT_DATE_BUF]);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t event_days_from_civil(int64_t y, unsigned m, unsigned d);
void event_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Floor division of a microsecond instant to its UTC day (correct for negative instants). */
int64_t event_day_of(int64_t us);

/* 1..max bytes of valid UTF-8 without control characters (U+0000-U+001F, U+007F,
 * U+0080-U+009F). Overlong forms, surrogates and code points above U+10FFFF are invalid. */
int event_text_check(const char *s, size_t len, size_t max, const char **err)
    __attribute__((warn_unused_result));

/* The value of a hexadecimal digit (either case), or -1. */
int event_hex_value(char c);

/* 1 if s[0..len) is valid UTF-8 (same rules as above, control characters allowed), else 0. */
int event_utf8_valid(const char *s, size_t len);

#endif
