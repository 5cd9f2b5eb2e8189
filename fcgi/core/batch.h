/* batch.h: validated events on their way to the database. Shared by the HTTP path and the CSV
 * loader. */
#ifndef BATCH_H
#define BATCH_H

#include "event.h"

#include <stddef.h>
#include <stdint.h>

struct batch {
	struct event *ev;
	size_t n, cap;
};

enum { BATCH_MAX_EVENTS = 10000 };

/* Appends a copy of e, taking ownership of its malloc'd strings: when out of memory they are
 * freed and -1 is returned. */
int batch_push(struct batch *b, struct event *e) __attribute__((warn_unused_result));

/* Frees every event's strings and the array; b is empty and reusable afterwards. */
void batch_clear(struct batch *b);

/* Current time in microseconds since the epoch. */
int64_t batch_now_us(void);

#endif
