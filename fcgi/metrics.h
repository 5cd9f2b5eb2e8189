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
 * starts. The name is predictable (/dev/shm/events-metrics-<hash of socket and uid>), so a
 * new segment is created exclusively with mode 0600, and an existing one is reused only when
 * it is a regular file (never through a symbolic link) owned by our effective uid, without
 * group or other permission bits, and of a segment's size; our own of another size (an
 * older layout) is started afresh. Anything else is refused: -1 with one error line naming
 * the path, the owner and what is wrong, EVENTS_METRICS_SHM unset. -1 on any failure
 * (logged; pool.c then runs without metrics rather than not at all).
 *
 * A segment mapped by the pool can still be truncated by its owner or root, which would kill
 * the processes that touch it with SIGBUS; the checks above leave no one else able to. */
int metrics_create(int max_slots) __attribute__((warn_unused_result));

/* Supervisor, clean stop: removes the segment when EVENTS_METRICS_EPHEMERAL is set. */
void metrics_destroy(void);

/* Supervisor: the number of live workers, for the fcgi_workers gauge. */
void metrics_set_workers(int n);

/* Worker: maps the segment named in the environment; slot is the worker's slot. The segment
 * must pass the same checks as in metrics_create (owner = our effective uid, so call it before
 * dropping privileges: the supervisor's uid owns it), its size exactly a segment's; -1 with
 * one error line otherwise. Without a segment every call below is a no-op and rendering says
 * so. */
int metrics_attach(int slot) __attribute__((warn_unused_result));

/* Worker: one answered request. route is an enum route_id, label its pattern. */
void metrics_observe(int route, const char *method, int status, double seconds);

void metrics_add(enum metric_counter c, uint64_t n);
/* Worker: the role of the database server its connection is on now, an enum db_role value
 * (0 none, 1 primary, 2 standby), for the events_db_role gauge. */
void metrics_set_db_role(int role);
/* Supervisor: slot's worker is gone; its role no longer counts. */
void metrics_clear_db_role(int slot);

/* The text exposition (version 0.0.4) of the whole pool; malloc'd, caller frees; *len set.
 * route_label(i) names route i for i < nroutes. */
char *metrics_render(size_t *len, int nroutes, const char *(*route_label)(int));

#endif
