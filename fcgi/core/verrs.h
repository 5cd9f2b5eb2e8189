/* verrs.h: the problems found in a request or a CSV row, as API.md reports them: one per
 * event and field, the first VERR_MAX kept and all counted. */
#ifndef VERRS_H
#define VERRS_H

#include <stddef.h>

enum { VERR_MAX = 100, VERR_MSG = 160 };

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

#endif
