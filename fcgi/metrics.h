/* metrics.h: pool-wide counters in shared memory, rendered as Prometheus text.
 *
 * One POSIX shared-memory object per pool (named after the pool's socket), created by the
 * supervisor before any worker serves. Each worker slot owns a cache-line-aligned block of
 * counters and only ever adds to it with atomic operations; a scrape sums every block. The
 * object outlives workers, reloads and the supervisor itself, so counters never go backwards
 * while the host is up (nginx's stub_status counters are the model). */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metric_counter {
	METRIC_EVENTS_RECEIVED,
	METRIC_EVENTS_ACCEPTED,
	METRIC_EVENTS_DUPLICATE,
	METRIC_EVENTS_REJECTED,
	METRIC_DB_ERRORS,
	METRIC__MAX
};

/* Supervisor: creates (or reopens, keeping its counters) the segment for the pool listening
 * on fd 0 and records the name in the environment (EVENTS_METRICS_SHM) for the workers it
 * starts. 0 / -1 (logged; the pool then runs without metrics rather than not at all). */
int metrics_create(int max_slots) __attribute__((warn_unused_result));

/* Supervisor, clean stop: removes the segment when EVENTS_METRICS_EPHEMERAL is set. */
void metrics_destroy(void);

/* Supervisor: the number of live workers, for the fcgi_workers gauge. */
void metrics_set_workers(int n);

/* Worker: maps the segment named in the environment; slot is the worker's slot. Without a
 * segment every call below is a no-op and rendering says so. */
int metrics_attach(int slot) __attribute__((warn_unused_result));

/* Worker: one answered request. route is an enum route_id, label its pattern. */
void metrics_observe(int route, const char *method, int status, double seconds);

void metrics_add(enum metric_counter c, uint64_t n);

/* The text exposition (version 0.0.4) of the whole pool; malloc'd, caller frees; *len set.
 * route_label(i) names route i for i < nroutes. */
char *metrics_render(size_t *len, int nroutes, const char *(*route_label)(int));

#endif
