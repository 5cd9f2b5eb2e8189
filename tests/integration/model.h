/* model.h: a reference model of the statistics (DAU, top events, retention) computed from
 * known events, and checks of the service's answers against it. The check_ functions make
 * Criterion assertions: call them from inside a test only. */
#ifndef IT_MODEL_H
#define IT_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct model_event {
	char event_id[37];
	int64_t us;	  /* occurred_at, µs since the epoch */
	int64_t day;	  /* UTC day of occurred_at, days since 1970-01-01 */
	const char *user; /* canonical user id text (borrowed) */
	const char *type; /* event_type (borrowed) */
};

/* A date ("YYYY-MM-DD") or an occurred_at text the test wrote itself, parsed as the service
 * does (event.h), as days or microseconds since the epoch; asserts that it parses. */
int64_t model_day(const char *date);
int64_t model_us(const char *occurred_at);

/* The stored events: duplicates by event_id removed (first occurrence wins). The array is
 * rewritten in place; returns the new count. */
size_t model_dedup(struct model_event *ev, size_t n);

/* GET /stats/dau for [from, to] and compares every entry with the model. */
void check_dau(const struct model_event *ev, size_t n, int64_t from, int64_t to);
/* GET /stats/top-events for [from, to] with limit, compared with the model. */
void check_top_events(const struct model_event *ev, size_t n, int64_t from, int64_t to, int limit);
/* GET /stats/retention, compared with the model (period 1 or 7 days). The model assumes ev is
 * every stored event of the users it names. */
void check_retention(const struct model_event *ev, size_t n, int64_t start, int windows,
		     int period);

#endif
