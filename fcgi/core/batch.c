/* batch.c: the growing array of valid events a request or a CSV batch becomes. */
#include "batch.h"
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
batch_push(struct batch *b, struct event *e)
{
	if (buf_array_reserve(&b->ev, &b->cap, b->n, sizeof *b->ev, SIZE_MAX / sizeof *b->ev) < 0) {
		event_free(e);
		return -1;
	}
	b->ev[b->n++] = *e;
	return 0;
}

void
batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		event_free(&b->ev[i]);
	free(b->ev);
	memset(b, 0, sizeof *b);
}

int64_t
batch_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
