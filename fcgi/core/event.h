/* event.h: one event. Its fields parsed and normalised (event.c: pure functions, no I/O, no
 * allocation, no global state; every parser returns 0 on success or -1 with *err set to a
 * static, human-readable reason, which goes into API error details as is), and struct event,
 * made by event_validate (event_validate.c). */
#ifndef EVENT_H
#define EVENT_H

#include "verrs.h"

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
/* API.md: occurred_at at most 24 h after the request; fixed, not a setting. */
#define EVENT_MAX_FUTURE_US EVENT_US_PER_DAY

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

/* One valid event, normalised: lower-case UUID, UTC instant, user_id as text (an integer
 * user_id becomes its decimal form), properties as compact JSON. Strings are owned by the
 * batch that holds the event. */
struct event {
	char event_id[EVENT_UUID_BUF];
	int64_t occurred_us;
	char *user_id;
	char *event_type;
	char *properties;
};

/* Frees the strings of e (not e itself). */
void event_free(struct event *e);

/* The raw fields of one event as found in a request or a CSV row. Any may be NULL when
 * missing; user_id_is_int says the user_id was a JSON integer (already range-checked and
 * formatted as decimal text). properties is compact JSON of an object, or NULL for {}. */
struct event_input {
	const char *event_id;
	size_t event_id_len;
	const char *occurred_at;
	size_t occurred_at_len;
	const char *user_id;
	size_t user_id_len;
	const char *event_type;
	size_t event_type_len;
	const char *properties;
	size_t properties_len;
	unsigned reported; /* EVENT_F_* bits of fields whose problem the caller already recorded */
};

enum { EVENT_F_ID = 1, EVENT_F_TIME = 2, EVENT_F_USER = 4, EVENT_F_TYPE = 8, EVENT_F_PROPS = 16 };

/* Validates in against API.md's Event table (now_us is the request time, for the "at most
 * 24 h in the future" rule) and fills out with malloc'd copies. Every problem goes to v with
 * the given index; returns 0 when the event is valid, -1 otherwise (out untouched). */
/* RAW_RETENTION_DAYS for every later event_validate of this process: an occurred_at more
 * than days days before now_us is invalid ("older than the raw-data horizon"); 0: no limit. A
 * pruned event can then never be stored, and counted, a second time. */
void event_set_raw_horizon_days(int days);

int event_validate(const struct event_input *in, int64_t now_us, long index, struct verrs *v,
		   struct event *out) __attribute__((warn_unused_result));

#endif
