/* batch.h: validated events on their way to the database, and the problems found in the
 * ones that were not valid. Shared by the HTTP path and the CSV loader. */
#ifndef BATCH_H
#define BATCH_H

#include "event.h"

#include <stddef.h>
#include <stdint.h>

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

struct batch {
	struct event *ev;
	size_t n, cap;
};

enum { BATCH_MAX_EVENTS = 10000, VERR_MAX = 100, VERR_MSG = 160 };

/* One problem: index is the event's position (-1 when the problem is not about one event),
 * field may be "" when the problem is about the event as a whole. */
struct verr {
	long index;
	char field[32];
	char message[VERR_MSG];
};

/* Up to VERR_MAX problems are kept; total counts them all. */
struct verrs {
	struct verr items[VERR_MAX];
	size_t n;
	size_t total;
	size_t events; /* events looked at (valid or not), for the rejected-events counter */
};

/* Records a problem; beyond VERR_MAX it is only counted. */
void verrs_add(struct verrs *v, long index, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* API.md's top-level message: the first problem in words ("event 3: occurred_at: ..."), and
 * how many more there are. */
void verrs_summary(const struct verrs *v, char *out, size_t cap);

/* Frees the strings of e (not e itself). */
void event_free(struct event *e);

/* Appends a copy of e, taking ownership of its malloc'd strings: when out of memory they are
 * freed and -1 is returned. */
int batch_push(struct batch *b, struct event *e) __attribute__((warn_unused_result));

/* Frees every event's strings and the array; b is empty and reusable afterwards. */
void batch_clear(struct batch *b);

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
int event_validate(const struct event_input *in, int64_t now_us, long index, struct verrs *v,
		   struct event *out) __attribute__((warn_unused_result));

/* A NUL-terminated malloc'd copy of exactly len bytes of s (strndup would stop at a NUL
 * inside), or NULL when out of memory. */
char *batch_strdup_n(const char *s, size_t len);

/* Current time in microseconds since the epoch. */
int64_t batch_now_us(void);

#endif
