/* metrics.c: see metrics.h. Lock-free: writers only add to their own slot with relaxed
 * atomics; readers sum. A scrape may see one request's counter before its histogram bucket,
 * never a counter going backwards. */
#include "metrics.h"
#include "buf.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum {
	M_ROUTES = 12, /* >= ROUTE__MAX of router.h */
	M_METHODS = 8,
	M_STATUSES = 20,
	M_BUCKETS = 14, /* 13 bounds + Inf */
	M_MAX_SLOTS = 256
};

static const char *const methods[M_METHODS] = {"GET",	 "HEAD",    "POST",  "PUT",
					       "DELETE", "OPTIONS", "PATCH", "OTHER"};
static const int statuses[M_STATUSES] = {200, 204, 400, 401, 403, 404, 405, 408, 413,
					 414, 415, 422, 429, 500, 502, 503, 504, 0 /* other */};
static const double bounds[M_BUCKETS - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					     0.1,    0.25,  0.5,    1,	   2.5,	 5};

struct slot {
	_Atomic uint64_t requests[M_ROUTES][M_METHODS][M_STATUSES];
	_Atomic uint64_t buckets[M_ROUTES][M_BUCKETS]; /* not cumulative: summed when rendered */
	_Atomic uint64_t duration_ns[M_ROUTES];
	_Atomic uint64_t counters[METRIC__MAX];
	_Atomic int64_t db_role; /* 0: no worker; else 1 + enum db_role */
} __attribute__((aligned(64)));

struct segment {
	uint64_t magic;
	uint64_t size;
	_Atomic int64_t workers;
	_Atomic int64_t start_time;
	char pad[32];
	struct slot slots[M_MAX_SLOTS];
};

/* "evntmet3": the layout with 12 routes and the database role of each slot; a segment of an
 * older layout is started afresh */
#define METRICS_MAGIC UINT64_C(0x65766e746d657433)

/* events_db_role's labels, indexed by enum db_role (db.h) */
static const char *const db_roles[] = {"none", "primary", "standby"};
enum { M_ROLES = sizeof db_roles / sizeof db_roles[0] };

static struct segment *seg;
static struct slot *mine;

/* The segment's name: one per listening socket, so two pools on one host never mix. */
static void
segment_name(char out[64])
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	uint64_t h = UINT64_C(1469598103934665603);
	memset(&ss, 0, sizeof ss);
	if (getsockname(0, (struct sockaddr *)&ss, &len) == 0)
		for (socklen_t i = 0; i < len; i++)
			h = (h ^ ((unsigned char *)&ss)[i]) * UINT64_C(1099511628211);
	h ^= (uint64_t)getuid();
	snprintf(out, 64, "/events-metrics-%016llx", (unsigned long long)h);
}

static struct segment *
map_segment(int fd)
{
	void *p = mmap(NULL, sizeof(struct segment), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* What is wrong with the object open on fd for a segment we are to use, or NULL when it is
 * ours: a regular file owned by our effective uid, without group or other permission bits, of
 * exactly a segment's size (any size when any_size: our own older layout, re-initialised).
 * The owner check is what makes the segment trustworthy: only its owner (or root) can
 * truncate it, which would kill every process that has it mapped with SIGBUS, or write
 * counters into it. */
static const char *
segment_problem(int fd, int any_size, struct stat *st)
{
	if (fstat(fd, st) != 0)
		return strerror(errno);
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if (st->st_uid != geteuid())
		return "owned by another user";
	if (st->st_mode & 077)
		return "open to group or others";
	if (!any_size && st->st_size != (off_t)sizeof(struct segment))
		return "not the size of a segment";
	return NULL;
}

/* Checks the object open on fd; logs one line naming the object, its owner and what is wrong
 * when it is not ours. 0 / -1. */
static int
segment_check(const char *name, int fd, int any_size)
{
	struct stat st;
	const char *why = segment_problem(fd, any_size, &st);
	if (!why)
		return 0;
	log_msg(LOGL_ERROR, "metrics",
		"refusing metrics segment /dev/shm%s: %s (owner uid %ld, mode %04o, %lld bytes; "
		"expected owner uid %ld, mode 0600, %zu bytes); remove it to start a fresh one",
		name, why, (long)st.st_uid, (unsigned)(st.st_mode & 07777), (long long)st.st_size,
		(long)geteuid(), sizeof(struct segment));
	return -1;
}

/* Logs why the segment could not be opened, with its owner when something is at its path (a
 * symbolic link, which is never followed, for one). */
static void
open_failed(const char *name)
{
	int err = errno;
	char path[128];
	struct stat st;
	snprintf(path, sizeof path, "/dev/shm%s", name);
	if (lstat(path, &st) == 0)
		log_msg(LOGL_ERROR, "metrics",
			"cannot open metrics segment %s: %s (owner uid %ld, %s)", path,
			strerror(err), (long)st.st_uid,
			S_ISLNK(st.st_mode)   ? "a symbolic link"
			: S_ISREG(st.st_mode) ? "a regular file"
					      : "not a regular file");
	else
		log_msg(LOGL_ERROR, "metrics", "cannot open metrics segment %s: %s", path,
			strerror(err));
}

/* Opens the segment, creating it (mode 0600, exclusively) when there is none; *created says
 * which. Never follows a symbolic link. -1 with errno. */
static int
segment_open(const char *name, int *created)
{
	for (int tries = 0; tries < 3; tries++) {
		int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
		if (fd >= 0 || errno != EEXIST) {
			*created = fd >= 0;
			return fd;
		}
		fd = shm_open(name, O_RDWR | O_NOFOLLOW | O_NONBLOCK, 0);
		if (fd >= 0 || errno != ENOENT) {
			*created = 0;
			return fd;
		}
		/* removed between the two calls: try to create it again */
	}
	errno = EEXIST;
	return -1;
}

/* Makes the object open on fd a mapped segment of the right size, starting it afresh when it
 * was new or had another layout. 0 / -1 (logged). */
static int
segment_setup(const char *name, int fd, int created)
{
	struct stat st;
	if (created && fchmod(fd, 0600) != 0) /* exactly 0600, whatever the umask */
		log_msg(LOGL_WARN, "metrics", "fchmod /dev/shm%s: %s", name, strerror(errno));
	if (!created && segment_check(name, fd, 1) < 0)
		return -1;
	if (fstat(fd, &st) == 0 && st.st_size != 0 && st.st_size != (off_t)sizeof(struct segment)) {
		log_msg(LOGL_WARN, "metrics", "%s has another layout: starting it afresh", name);
		if (ftruncate(fd, 0) != 0)
			log_msg(LOGL_WARN, "metrics", "ftruncate: %s", strerror(errno));
	}
	if (ftruncate(fd, sizeof(struct segment)) != 0 || !(seg = map_segment(fd))) {
		log_msg(LOGL_ERROR, "metrics", "cannot map %s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

int
metrics_create(int max_slots)
{
	char name[64];
	int fd, created, rc;
	unsetenv("EVENTS_METRICS_SHM"); /* set again below once the segment is ours */
	if (max_slots > M_MAX_SLOTS)
		return -1;
	segment_name(name);
	if ((fd = segment_open(name, &created)) < 0) {
		open_failed(name);
		return -1;
	}
	if (seg)
		munmap(seg, sizeof *seg);
	seg = NULL;
	rc = segment_setup(name, fd, created);
	close(fd);
	if (rc < 0)
		return -1;
	if (seg->magic != METRICS_MAGIC) {
		memset(seg, 0, sizeof *seg);
		seg->magic = METRICS_MAGIC;
		seg->size = sizeof *seg;
	}
	atomic_store(&seg->start_time, (int64_t)time(NULL));
	setenv("EVENTS_METRICS_SHM", name, 1);
	return 0;
}

/* Supervisor, at a clean stop of a throwaway pool (EVENTS_METRICS_EPHEMERAL set, as the
 * integration tests do): remove the segment so /dev/shm does not fill up run after run. */
void
metrics_destroy(void)
{
	const char *name = getenv("EVENTS_METRICS_SHM");
	const char *eph = getenv("EVENTS_METRICS_EPHEMERAL");
	if (name && eph && *eph && strcmp(eph, "0") != 0 && shm_unlink(name) != 0)
		log_msg(LOGL_WARN, "metrics", "shm_unlink %s: %s", name, strerror(errno));
}

void
metrics_set_workers(int n)
{
	if (seg)
		atomic_store_explicit(&seg->workers, n, memory_order_relaxed);
}

int
metrics_attach(int slot)
{
	const char *name = getenv("EVENTS_METRICS_SHM");
	int fd;
	if (!name || slot < 0 || slot >= M_MAX_SLOTS)
		return -1;
	if ((fd = shm_open(name, O_RDWR | O_NOFOLLOW | O_NONBLOCK, 0)) < 0) {
		open_failed(name);
		return -1;
	}
	if (segment_check(name, fd, 0) < 0) {
		close(fd);
		seg = NULL;
		mine = NULL;
		return -1;
	}
	seg = map_segment(fd);
	close(fd);
	if (!seg || seg->magic != METRICS_MAGIC) {
		log_msg(LOGL_ERROR, "metrics", "%s is not a metrics segment", name);
		seg = NULL;
		return -1;
	}
	mine = &seg->slots[slot];
	return 0;
}

static int
method_index(const char *m)
{
	for (int i = 0; i < M_METHODS - 1; i++)
		if (strcmp(methods[i], m) == 0)
			return i;
	return M_METHODS - 1;
}

static int
status_index(int status)
{
	for (int i = 0; i < M_STATUSES && statuses[i]; i++)
		if (statuses[i] == status)
			return i;
	for (int i = 0; i < M_STATUSES; i++)
		if (statuses[i] == 0)
			return i;
	return M_STATUSES - 1;
}

static void
inc(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

void
metrics_observe(int route, const char *method, int status, double seconds)
{
	int b = 0;
	if (!mine || route < 0 || route >= M_ROUTES)
		return;
	while (b < M_BUCKETS - 1 && seconds > bounds[b])
		b++;
	inc(&mine->requests[route][method_index(method)][status_index(status)], 1);
	inc(&mine->buckets[route][b], 1);
	inc(&mine->duration_ns[route], (uint64_t)(seconds * 1e9));
}

void
metrics_add(enum metric_counter c, uint64_t n)
{
	if (mine && c < METRIC__MAX)
		inc(&mine->counters[c], n);
}

/* --- rendering --------------------------------------------------------------------------- */

struct out {
	struct buf b;
	int failed; /* out of memory: nothing more is written */
};

static void emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
emit(struct out *o, const char *fmt, ...)
{
	va_list ap;
	if (o->failed)
		return;
	va_start(ap, fmt);
	if (buf_vprintf(&o->b, fmt, ap) < 0)
		o->failed = 1;
	va_end(ap);
}

static uint64_t
sum(const _Atomic uint64_t *first, size_t stride_bytes)
{
	uint64_t total = 0;
	const char *p = (const char *)first;
	for (int s = 0; s < M_MAX_SLOTS; s++, p += stride_bytes)
		total += atomic_load_explicit((const _Atomic uint64_t *)p, memory_order_relaxed);
	return total;
}

#define SUM(field) sum(&seg->slots[0].field, sizeof(struct slot))

static void
render_requests(struct out *o, int nroutes, const char *(*label)(int))
{
	emit(o, "# HELP http_requests_total HTTP requests answered by the worker pool.\n"
		"# TYPE http_requests_total counter\n");
	for (int r = 0; r < nroutes && r < M_ROUTES; r++)
		for (int m = 0; m < M_METHODS; m++)
			for (int s = 0; s < M_STATUSES; s++) {
				uint64_t n = SUM(requests[r][m][s]);
				if (!n)
					continue;
				if (statuses[s])
					emit(o,
					     "http_requests_total{method=\"%s\",route=\"%s\","
					     "status=\"%d\"} %llu\n",
					     methods[m], label(r), statuses[s],
					     (unsigned long long)n);
				else
					emit(o,
					     "http_requests_total{method=\"%s\",route=\"%s\","
					     "status=\"other\"} %llu\n",
					     methods[m], label(r), (unsigned long long)n);
			}
}

static void
render_durations(struct out *o, int nroutes, const char *(*label)(int))
{
	emit(o,
	     "# HELP http_request_duration_seconds Time from accepting a request to its answer.\n"
	     "# TYPE http_request_duration_seconds histogram\n");
	for (int r = 0; r < nroutes && r < M_ROUTES; r++) {
		uint64_t cum = 0;
		for (int b = 0; b < M_BUCKETS; b++) {
			cum += SUM(buckets[r][b]);
			if (b < M_BUCKETS - 1)
				emit(o,
				     "http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
				     "%llu\n",
				     label(r), bounds[b], (unsigned long long)cum);
			else
				emit(o,
				     "http_request_duration_seconds_bucket{route=\"%s\",le=\"+"
				     "Inf\"} %llu\n",
				     label(r), (unsigned long long)cum);
		}
		emit(o, "http_request_duration_seconds_sum{route=\"%s\"} %.9f\n", label(r),
		     (double)SUM(duration_ns[r]) / 1e9);
		emit(o, "http_request_duration_seconds_count{route=\"%s\"} %llu\n", label(r),
		     (unsigned long long)cum);
	}
}

void
metrics_set_db_role(int role)
{
	if (mine && role >= 0 && role < M_ROLES)
		atomic_store_explicit(&mine->db_role, role + 1, memory_order_relaxed);
}

void
metrics_clear_db_role(int slot)
{
	if (seg && slot >= 0 && slot < M_MAX_SLOTS)
		atomic_store_explicit(&seg->slots[slot].db_role, 0, memory_order_relaxed);
}

/* events_db_role: how many workers are connected to a primary, to a standby, to nothing. */
static void
render_db_roles(struct out *o)
{
	int64_t n[M_ROLES] = {0};
	for (int s = 0; s < M_MAX_SLOTS; s++) {
		int64_t v = atomic_load_explicit(&seg->slots[s].db_role, memory_order_relaxed);
		if (v >= 1 && v <= M_ROLES)
			n[v - 1]++;
	}
	emit(o, "# HELP events_db_role Workers by the role of the database server they are "
		"connected to (none: not connected).\n# TYPE events_db_role gauge\n");
	for (int r = 0; r < M_ROLES; r++)
		emit(o, "events_db_role{role=\"%s\"} %lld\n", db_roles[r], (long long)n[r]);
}

static void
render_counter(struct out *o, const char *name, const char *help, enum metric_counter c)
{
	emit(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
	     (unsigned long long)SUM(counters[c]));
}

#ifndef EVENTS_VERSION
#define EVENTS_VERSION "dev"
#endif

char *
metrics_render(size_t *len, int nroutes, const char *(*label)(int))
{
	struct out o = {0};
	if (buf_reserve(&o.b, 16384) < 0)
		return NULL;
	o.b.p[0] = '\0';
	if (!seg) {
		emit(&o, "# metrics unavailable: no shared-memory segment\n");
		*len = o.b.len;
		return o.b.p;
	}
	render_requests(&o, nroutes, label);
	render_durations(&o, nroutes, label);
	render_counter(&o, "events_received_total", "Events in well-formed POST /events requests.",
		       METRIC_EVENTS_RECEIVED);
	render_counter(&o, "events_accepted_total", "Events newly stored.", METRIC_EVENTS_ACCEPTED);
	render_counter(&o, "events_duplicate_total", "Events already stored (not stored again).",
		       METRIC_EVENTS_DUPLICATE);
	render_counter(&o, "events_rejected_total",
		       "Events of requests refused with 422 (nothing of them stored).",
		       METRIC_EVENTS_REJECTED);
	render_counter(&o, "db_errors_total", "Requests that failed on the database.",
		       METRIC_DB_ERRORS);
	render_db_roles(&o);
	emit(&o,
	     "# HELP fcgi_workers Live worker processes of the pool.\n# TYPE fcgi_workers gauge\n"
	     "fcgi_workers %lld\n",
	     (long long)atomic_load(&seg->workers));
	emit(&o,
	     "# HELP process_start_time_seconds Start time of the pool supervisor, Unix time.\n"
	     "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %lld\n",
	     (long long)atomic_load(&seg->start_time));
	emit(&o,
	     "# HELP events_build_info Build of the running workers.\n"
	     "# TYPE events_build_info gauge\nevents_build_info{version=\"%s\"} 1\n",
	     EVENTS_VERSION);
	if (o.failed) {
		buf_free(&o.b);
		return NULL;
	}
	*len = o.b.len;
	return o.b.p;
}
