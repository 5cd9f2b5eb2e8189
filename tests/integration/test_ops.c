/* test_ops.c: the operational side of issue #4 against the running stack: a worker killed with
 * SIGKILL is replaced, a reload under traffic loses nothing, rate limiting per client address,
 * /metrics only for allowed addresses, and one request followed through nginx's and the
 * workers' logs by its id. Events here are dated 2004-2006 with user ids "it-ops-*", so no
 * other suite's statistics see them. Every test leaves the pool with all its workers serving. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "client.h"

enum { MAX_WORKERS = 64 };

static pid_t
pool_pid(void)
{
	pid_t p = it_pool_pid();

	cr_assert_gt(p, 0, "EVENTS_POOL_PID must be set");
	return p;
}

static const char *
var_dir(void)
{
	const char *d = getenv("EVENTS_VAR_DIR");

	cr_assert(d && *d, "EVENTS_VAR_DIR must be set");
	return d;
}

/* The pool's children (workers, and old ones still finishing), from /proc; returns how many. */
static int
pool_children(pid_t *out, int cap)
{
	int n = it_pool_children(pool_pid(), out, cap);

	cr_assert_geq(n, 0, "expected the pool (pid %d) to be running", (int)pool_pid());
	return n;
}

static int
in_set(pid_t p, const pid_t *set, int n)
{
	for (int i = 0; i < n; i++)
		if (set[i] == p)
			return 1;
	return 0;
}

/* The pool is complete: exactly it_want_workers() children, each a running worker of a distinct
 * slot, none of them in exclude. Fills out (sorted by slot). */
static int
pool_complete(const pid_t *exclude, int nex, pid_t *out)
{
	pid_t kids[MAX_WORKERS];
	int n = pool_children(kids, MAX_WORKERS), want = it_want_workers();

	if (n != want)
		return 0;
	for (int i = 0; i < want; i++)
		out[i] = 0;
	for (int i = 0; i < n; i++) {
		int s = it_worker_slot(kids[i]);

		if (s < 0 || s >= want || out[s] || in_set(kids[i], exclude, nex))
			return 0;
		out[s] = kids[i];
	}
	return 1;
}

/* Polls until pool_complete or timeout seconds; returns the seconds it took, or -1. */
static double
wait_pool(const pid_t *exclude, int nex, pid_t *out, double timeout)
{
	double t0 = it_now();

	for (;;) {
		if (pool_complete(exclude, nex, out))
			return it_now() - t0;
		if (it_now() - t0 > timeout)
			return -1;
		usleep(2 * 1000);
	}
}

/* Event k of a batch: somewhere in 2004-2006. */
static void
at_2004_2006(unsigned k, char out[32])
{
	snprintf(out, 32, "%04u-%02u-%02uT%02u:00:00Z", 2004 + k % 3, 1 + k % 12, 1 + k % 28,
		 k % 24);
}

/* A JSON array of n fresh events in 2004-2006 for user; ids written to ids (37 bytes each). */
static json_object *
fresh_batch(char *ids, int n, const char *user, unsigned seed)
{
	return it_event_batch(ids, n, seed, user, "it_ops", at_2004_2006);
}

/* Parses a log file's lines and returns the first JSON object whose member key is the string
 * val, whose "logger" is logger and whose "level" is level (NULL: any); NULL when none. Caller
 * puts it. */
static json_object *
find_log_line(const char *file, const char *logger, const char *level, const char *key,
	      const char *val)
{
	char path[1024], *line = NULL;
	size_t cap = 0;
	json_object *found = NULL;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/log/%s", var_dir(), file);
	if (!(fp = fopen(path, "r")))
		return NULL;
	while (!found && getline(&line, &cap, fp) > 0) {
		json_object *j;
		const char *v, *lg, *lv;

		if (!strstr(line, val) || !(j = json_tokener_parse(line)))
			continue;
		v = jstr(j, key);
		lg = jstr(j, "logger");
		lv = jstr(j, "level");
		if (v && strcmp(v, val) == 0 && (!logger || (lg && strcmp(lg, logger) == 0)) &&
		    (!level || (lv && strcmp(lv, level) == 0)))
			found = j;
		else
			json_object_put(j);
	}
	free(line);
	fclose(fp);
	return found;
}

/* find_log_line, retried for up to 3 s (a line may be written just after the answer). */
static json_object *
wait_log_line(const char *file, const char *logger, const char *level, const char *key,
	      const char *val)
{
	double t0 = it_now();
	json_object *j;

	while (!(j = find_log_line(file, logger, level, key, val)) && it_now() - t0 < 3.0)
		usleep(50 * 1000);
	return j;
}

static long long
jint(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
}

/* A worker pid answered at least one request (of route, when not NULL), per the access log. */
static int
served_by(pid_t pid, const char *route)
{
	char path[1024], *line = NULL, needle[32], rt[160];
	size_t cap = 0;
	int found = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/log/worker.log", var_dir());
	snprintf(needle, sizeof(needle), "\"pid\":%d}", (int)pid);
	snprintf(rt, sizeof(rt), "\"route\":\"%s\"", route ? route : "");
	if (!(fp = fopen(path, "r")))
		return 0;
	while (!found && getline(&line, &cap, fp) > 0)
		found = strstr(line, "\"logger\":\"access\"") && strstr(line, needle) &&
			(!route || strstr(line, rt));
	free(line);
	fclose(fp);
	return found;
}

Test(ops, kill9_refill, .timeout = 60)
{
	struct http_client *c = http_client_new();
	pid_t before[MAX_WORKERS], after[MAX_WORKERS], victim, fresh = 0;
	char slot_s[16], *since, *app;
	const char *params[2];
	struct http_resp r;
	PGconn *db = db_open();
	int slot, n = it_want_workers();
	long long conns = -1;
	double dt, t0;

	http_client_set_timeout(c, 10);
	cr_assert_geq(wait_pool(NULL, 0, before, 5.0), 0,
		      "expected the pool to have %d workers before the test", n);
	victim = before[n - 1];
	slot = it_worker_slot(victim);
	since = db_scalar_text(db, "SELECT clock_timestamp()::text", 0, NULL);
	cr_assert(since, "expected the database clock");

	t0 = it_now();
	cr_assert_eq(kill(victim, SIGKILL), 0, "kill -9 %d: %s", (int)victim, strerror(errno));
	(void)wait_pool(&victim, 1, after, 5.0);
	dt = it_now() - t0; /* from before the kill: the refill may happen before kill returns */
	fprintf(stderr,
		"ops/kill9_refill: worker %d (slot %d) killed with SIGKILL; the pool had %d "
		"running workers again after %.1f ms\n",
		(int)victim, slot, n, dt * 1000);
	cr_assert(pool_complete(&victim, 1, after),
		  "expected %d running workers, none of them the killed pid %d, within 5 s", n,
		  (int)victim);
	cr_assert_leq(dt, 1.5,
		      "expected the killed worker replaced within a second (1.5 s with "
		      "scheduling slack), took %.3f s",
		      dt);
	for (int i = 0; i < n; i++)
		if (!in_set(after[i], before, n))
			fresh = after[i];
	cr_assert_neq(fresh, 0, "expected one new worker pid");
	cr_assert_eq(it_worker_slot(fresh), slot,
		     "expected the new worker in the killed one's slot %d", slot);

	for (int i = 0; i < 20; i++) {
		char id[37 * 1], user[32];
		json_object *b;
		const char *s;

		http_client_request(c, &r, "GET", "/healthz", NULL, NULL, 0, NULL);
		cr_assert_eq(r.status, 200,
			     "GET /healthz %d after the refill: expected 200, got %ld "
			     "(%s) %.200s",
			     i, r.status, r.curl_error, r.body);
		http_resp_free(&r);
		snprintf(user, sizeof(user), "it-ops-kill9-%d", i % 5);
		b = fresh_batch(id, 1, user, (unsigned)i * 7);
		s = json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN);
		http_client_request(c, &r, "POST", "/events", "application/json", s, strlen(s),
				    NULL);
		expect_ingest(&r, 1, 1, 0, "POST /events after the refill");
		http_resp_free(&r);
		json_object_put(b);
	}
	/* The new worker itself serves (requests go round the idle workers; allow for more). */
	for (int i = 0; i < 40 && !served_by(fresh, NULL); i++) {
		for (int k = 0; k < 5; k++) {
			http_client_request(c, &r, "GET", "/healthz", NULL, NULL, 0, NULL);
			cr_assert_eq(r.status, 200, "GET /healthz: expected 200, got %ld",
				     r.status);
			http_resp_free(&r);
		}
		it_wait_worker_log();
	}
	cr_assert(served_by(fresh, NULL),
		  "expected the new worker %d to answer requests (access log)", (int)fresh);

	/* ...with a connection of its own, opened after the kill; the dead one's is gone */
	t0 = it_now();
	while (it_now() - t0 < 3.0) {
		conns = db_scalar_ll(db,
				     "SELECT count(*) FROM pg_stat_activity"
				     " WHERE application_name ~ '^events-fcgi/[0-9]+$'",
				     0, NULL);
		if (conns == n)
			break;
		usleep(50 * 1000);
	}
	cr_assert_eq(conns, n, "expected %d worker connections in pg_stat_activity, got %lld", n,
		     conns);
	snprintf(slot_s, sizeof(slot_s), "events-fcgi/%d", slot);
	params[0] = slot_s;
	params[1] = since;
	cr_assert_eq(
	    db_scalar_ll(db,
			 "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
			 " AND backend_start > $2::timestamptz",
			 2, params),
	    1, "expected the connection of slot %d (%s) to be a new one, opened after %s", slot,
	    slot_s, since);
	app = db_scalar_text(db,
			     "SELECT string_agg(application_name, ',' ORDER BY application_name)"
			     " FROM pg_stat_activity WHERE application_name ~ '^events-fcgi/[0-9]+$'",
			     0, NULL);
	fprintf(stderr, "ops/kill9_refill: worker connections: %s\n", app ? app : "(none)");
	free(app);
	free(since);
	PQfinish(db);
	http_client_free(c);
}

/* ---- reload under traffic ------------------------------------------------------------------- */

struct load {
	pthread_t thread;
	struct http_client *c;
	int idx, poster;
	atomic_int *stop;
	long requests, posts, failures, curl_errors;
	char first_failure[512];
	char *ids; /* 37 bytes per posted event id */
	size_t nids, cap;
};

enum { RELOAD_BATCH = 50 };

static void
load_fail(struct load *l, const char *what, const struct http_resp *r)
{
	if (r->status == 0)
		l->curl_errors++;
	else
		l->failures++;
	if (!l->first_failure[0])
		snprintf(l->first_failure, sizeof(l->first_failure),
			 "client %d %s: status %ld %s %.300s", l->idx, what, r->status,
			 r->curl_error, r->body ? r->body : "");
}

/* One request of a poster: a batch of fresh events, all of which must be accepted. */
static void
load_post(struct load *l)
{
	char user[32];
	struct http_resp r;
	json_object *b;
	const char *s;

	if (l->nids + RELOAD_BATCH > l->cap) {
		l->cap = l->cap * 2 + RELOAD_BATCH * 16;
		l->ids = realloc(l->ids, l->cap * 37);
		if (!l->ids)
			abort();
	}
	snprintf(user, sizeof(user), "it-ops-reload-%d-%ld", l->idx, l->posts % 16);
	b = fresh_batch(l->ids + 37 * l->nids, RELOAD_BATCH, user,
			(unsigned)(l->idx * 100003 + l->posts * 53));
	s = json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN);
	http_client_request(l->c, &r, "POST", "/events", "application/json", s, strlen(s), NULL);
	l->requests++;
	if (r.status != 200 || jint(r.json, "accepted") != RELOAD_BATCH)
		load_fail(l, "POST /events (50 fresh events)", &r);
	else
		l->posts++;
	l->nids += RELOAD_BATCH; /* sent: checked in the database whatever the answer */
	http_resp_free(&r);
	json_object_put(b);
}

static void
load_get(struct load *l)
{
	const char *path = l->requests % 2
			       ? "/stats/dau?from=2004-01-01&to=2006-12-31"
			       : "/stats/top-events?from=2004-01-01&to=2006-12-31&limit=5";
	struct http_resp r;

	http_client_request(l->c, &r, "GET", path, NULL, NULL, 0, NULL);
	l->requests++;
	if (r.status < 200 || r.status > 299 || !r.json)
		load_fail(l, path, &r);
	http_resp_free(&r);
}

static void *
load_run(void *arg)
{
	struct load *l = arg;

	while (!atomic_load(l->stop)) {
		if (l->poster)
			load_post(l);
		else
			load_get(l);
	}
	return NULL;
}

Test(ops, reload_zero_failures, .timeout = 120)
{
	enum { NCLIENTS = 6 };
	const char *const post200[] = {"method=\"POST\"", "route=\"/events\"", "status=\"200\"",
				       NULL};
	const char *const events_route[] = {"route=\"/events\"", NULL};
	struct http_client *mc = http_client_new();
	pid_t before[MAX_WORKERS], after[MAX_WORKERS];
	struct load l[NCLIENTS];
	atomic_int stop = 0;
	long requests = 0, posts = 0, failures = 0, curl_errors = 0;
	double ok0, ok1, all0, all1, acc0, acc1, t0, dt;
	size_t nids = 0;
	char *text, **ids;
	PGconn *db;
	int n = it_want_workers();

	http_client_set_timeout(mc, 10);
	cr_assert_geq(wait_pool(NULL, 0, before, 5.0), 0,
		      "expected the pool to have %d workers before the test", n);
	text = it_metrics_text(mc);
	ok0 = it_metric_sum(text, "http_requests_total", post200, NULL);
	all0 = it_metric_sum(text, "http_requests_total", events_route, NULL);
	acc0 = it_metric_sum(text, "events_accepted_total", NULL, NULL);
	free(text);

	memset(l, 0, sizeof(l));
	t0 = it_now();
	for (int i = 0; i < NCLIENTS; i++) {
		l[i].c = http_client_new();
		http_client_set_timeout(l[i].c, 20);
		l[i].idx = i;
		l[i].poster = i < NCLIENTS / 2;
		l[i].stop = &stop;
		cr_assert_eq(pthread_create(&l[i].thread, NULL, load_run, &l[i]), 0,
			     "pthread_create");
	}
	it_sleep(1.0);
	cr_assert_eq(it_stack("reload"), 0, "expected tools/stack.sh reload to succeed");
	it_sleep(1.5);
	cr_assert_eq(it_stack("reload"), 0, "expected the second tools/stack.sh reload to succeed");
	it_sleep(1.5);
	atomic_store(&stop, 1);
	for (int i = 0; i < NCLIENTS; i++) {
		pthread_join(l[i].thread, NULL);
		requests += l[i].requests;
		posts += l[i].posts;
		failures += l[i].failures;
		curl_errors += l[i].curl_errors;
		nids += l[i].nids;
	}
	dt = it_now() - t0;
	fprintf(stderr,
		"ops/reload_zero_failures: %ld requests in %.1f s by %d clients across 2 reloads "
		"(%ld batches of %d events posted), %ld non-2xx, %ld connection errors\n",
		requests, dt, NCLIENTS, posts, RELOAD_BATCH, failures, curl_errors);
	for (int i = 0; i < NCLIENTS; i++)
		if (l[i].first_failure[0])
			fprintf(stderr, "  first failure of client %d: %s\n", i,
				l[i].first_failure);
	cr_assert_eq(failures, 0, "expected no non-2xx answer during the reloads, got %ld",
		     failures);
	cr_assert_eq(curl_errors, 0, "expected no connection error during the reloads, got %ld",
		     curl_errors);
	/* traffic ran throughout (a floor, not a speed: ~1 600 alone, 248 under ASan at load 10) */
	cr_assert_geq(requests, 10L * NCLIENTS, "expected requests from every client, got %ld",
		      requests);
	cr_assert_gt(posts, 0, "expected some batches posted");

	/* every worker is new: none of the old pids, all slots served by a running worker */
	dt = wait_pool(before, n, after, 10.0);
	cr_assert_geq(dt, 0,
		      "expected %d workers, all new (none of the pids before the reload), "
		      "within 10 s of the last reload",
		      n);
	for (int i = 0; i < n; i++) {
		char path[64], exe[4096];
		ssize_t k;

		snprintf(path, sizeof(path), "/proc/%d/exe", (int)after[i]);
		k = readlink(path, exe, sizeof(exe) - 1);
		cr_assert_gt(k, 0, "expected to read %s", path);
		exe[k] = '\0';
		cr_assert_null(strstr(exe, " (deleted)"),
			       "expected worker %d to run the binary now on disk, runs %s",
			       (int)after[i], exe);
	}

	/* every posted event is stored exactly once */
	ids = malloc((nids + 1) * sizeof(*ids));
	cr_assert(ids, "malloc");
	nids = 0;
	for (int i = 0; i < NCLIENTS; i++)
		for (size_t k = 0; k < l[i].nids; k++)
			ids[nids++] = l[i].ids + 37 * k;
	db = db_open();
	cr_assert_eq(db_count_ids(db, ids, nids), (long long)nids,
		     "expected all %zu posted events stored", nids);
	PQfinish(db);
	free(ids);

	/* the counters continued from where they were */
	text = it_metrics_text(mc);
	ok1 = it_metric_sum(text, "http_requests_total", post200, NULL);
	all1 = it_metric_sum(text, "http_requests_total", events_route, NULL);
	acc1 = it_metric_sum(text, "events_accepted_total", NULL, NULL);
	free(text);
	fprintf(stderr,
		"ops/reload_zero_failures: http_requests_total{route=\"/events\"} %.0f -> %.0f, "
		"events_accepted_total %.0f -> %.0f\n",
		all0, all1, acc0, acc1);
	cr_assert_geq(all1, all0 + (double)posts,
		      "expected http_requests_total{route=\"/events\"} to continue across the "
		      "reloads: %.0f before + %ld posts, got %.0f",
		      all0, posts, all1);
	cr_assert_eq(
	    ok1 - ok0, (double)posts,
	    "expected http_requests_total{POST,/events,200} +%ld (every 200 counted once), "
	    "got %.0f -> %.0f",
	    posts, ok0, ok1);
	cr_assert_eq(acc1 - acc0, (double)(posts * RELOAD_BATCH),
		     "expected events_accepted_total +%ld, got %.0f -> %.0f", posts * RELOAD_BATCH,
		     acc0, acc1);
	for (int i = 0; i < NCLIENTS; i++) {
		http_client_free(l[i].c);
		free(l[i].ids);
	}
	http_client_free(mc);
}

/* ---- rate limiting -------------------------------------------------------------------------- */

Test(ops, rate_limit, .timeout = 60)
{
	/* 127.0.0.2 is not in RATE_LIMIT_EXEMPT (run.sh: 20 r/s, burst 20) */
	const char *path = "/stats/dau?from=2005-01-01&to=2005-01-02";
	struct http_client *c = http_client_new();
	struct http_resp r;
	int ok = 0, limited = 0, first429 = -1;
	double t0, dt;

	http_client_set_timeout(c, 10);
	http_client_set_interface(c, "127.0.0.2");
	t0 = it_now();
	for (int i = 0; i < 60; i++) {
		http_client_request(c, &r, "GET", path, NULL, NULL, 0, NULL);
		if (r.status == 429) {
			expect_error(&r, 429, "rate_limited", "GET /stats/dau over the limit");
			cr_assert(
			    r.retry_after && *r.retry_after &&
				strspn(r.retry_after, "0123456789") == strlen(r.retry_after) &&
				atoi(r.retry_after) > 0,
			    "429: expected a Retry-After header of whole seconds > 0, got '%s'",
			    r.retry_after ? r.retry_after : "(none)");
			limited++;
			if (first429 < 0)
				first429 = i;
		} else {
			cr_assert_eq(r.status, 200,
				     "GET /stats/dau from 127.0.0.2 (request %d): expected 200 or "
				     "429, got %ld (%s) %.200s",
				     i, r.status, r.curl_error, r.body);
			ok++;
		}
		http_resp_free(&r);
		/* the exempt routes, from the same limited address at the same time */
		http_client_request(c, &r, "GET", i % 2 ? "/healthz" : "/metrics", NULL, NULL, 0,
				    NULL);
		cr_assert_eq(
		    r.status, 200,
		    "GET %s from 127.0.0.2 while it is rate limited: expected 200, got %ld",
		    i % 2 ? "/healthz" : "/metrics", r.status);
		http_resp_free(&r);
	}
	dt = it_now() - t0;
	fprintf(stderr,
		"ops/rate_limit: 60 GET /stats/dau from 127.0.0.2 in %.0f ms: %d x 200, %d x 429 "
		"(first 429 at request %d)\n",
		dt * 1000, ok, limited, first429);
	cr_assert_gt(limited, 0, "expected some 429 answers over 20 r/s + burst 20");
	/* the burst of 20 (+1 for the current token, + what refills while we send) gets through */
	cr_assert_geq(ok, 20, "expected at least the burst (20) answered 200, got %d", ok);
	cr_assert_leq(ok, 21 + (int)(dt * 20) + 1,
		      "expected at most burst + 20 r/s x %.2f s answered 200, got %d", dt, ok);

	/* back under the limit: the bucket refills */
	it_sleep(2.0);
	for (int i = 0; i < 10; i++) {
		http_client_request(c, &r, "GET", path, NULL, NULL, 0, NULL);
		cr_assert_eq(r.status, 200,
			     "GET /stats/dau from 127.0.0.2 at 10 r/s after a 2 s pause (request "
			     "%d): expected 200, got %ld %.200s",
			     i, r.status, r.body);
		http_resp_free(&r);
		it_sleep(0.1);
	}
	/* the exempt address is never limited */
	http_client_set_interface(c, "127.0.0.1");
	for (int i = 0; i < 60; i++) {
		http_client_request(c, &r, "GET", path, NULL, NULL, 0, NULL);
		cr_assert_eq(r.status, 200,
			     "GET /stats/dau from the exempt 127.0.0.1 (request %d): expected 200, "
			     "got %ld",
			     i, r.status);
		http_resp_free(&r);
	}
	http_client_free(c);
}

/* ---- /metrics access ------------------------------------------------------------------------ */

/* A local IPv4 address outside 127/8 (a real interface's), or 0 when the host has none. */
static int
non_loopback_addr(char out[INET_ADDRSTRLEN])
{
	struct ifaddrs *ifs, *i;
	int found = 0;

	if (getifaddrs(&ifs) != 0)
		return 0;
	for (i = ifs; i && !found; i = i->ifa_next) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)i->ifa_addr;

		if (!a || a->sin_family != AF_INET || (ntohl(a->sin_addr.s_addr) >> 24) == 127)
			continue;
		found = inet_ntop(AF_INET, &a->sin_addr, out, INET_ADDRSTRLEN) != NULL;
	}
	freeifaddrs(ifs);
	return found;
}

Test(ops, metrics_forbidden_elsewhere, .timeout = 30)
{
	static const char *const froms[] = {"127.0.0.1", "127.0.0.2"};
	struct http_client *c = http_client_new();
	char path[1024], addr[INET_ADDRSTRLEN], *conf = NULL, *block, *end, *deny;
	size_t cap = 0;
	ssize_t k;
	struct http_resp r;
	FILE *fp;

	/* the rendered nginx configuration: loopback allowed, everything else denied */
	snprintf(path, sizeof(path), "%s/nginx/nginx.conf", var_dir());
	fp = fopen(path, "r");
	cr_assert(fp, "expected the rendered %s", path);
	k = getdelim(&conf, &cap, '\0', fp);
	fclose(fp);
	cr_assert_gt(k, 0, "expected %s to have content", path);
	block = strstr(conf, "location = /metrics {");
	cr_assert(block, "%s: expected a 'location = /metrics {' block", path);
	end = strchr(block, '}');
	cr_assert(end, "%s: expected the /metrics block to end", path);
	*end = '\0';
	deny = strstr(block, "deny all;");
	cr_assert(deny, "%s: expected 'deny all;' in the /metrics block:\n%s", path, block);
	cr_assert(strstr(block, "allow 127.0.0.0/8;") && strstr(block, "allow 127.0.0.0/8;") < deny,
		  "%s: expected 'allow 127.0.0.0/8;' before 'deny all;':\n%s", path, block);
	cr_assert(strstr(block, "allow ::1;") && strstr(block, "allow ::1;") < deny,
		  "%s: expected 'allow ::1;' before 'deny all;':\n%s", path, block);
	cr_assert(strstr(block, "fastcgi_pass"), "%s: expected /metrics passed to the pool", path);
	free(conf);

	http_client_set_timeout(c, 10);
	for (size_t i = 0; i < sizeof(froms) / sizeof(froms[0]); i++) {
		http_client_set_interface(c, froms[i]);
		http_client_request(c, &r, "GET", "/metrics", NULL, NULL, 0, NULL);
		cr_assert_eq(r.status, 200, "GET /metrics from %s: expected 200, got %ld (%s)",
			     froms[i], r.status, r.curl_error);
		cr_assert(strstr(r.body, "fcgi_workers"), "GET /metrics from %s: expected metrics",
			  froms[i]);
		http_resp_free(&r);
	}

	/* A live 403 needs a source address outside loopback: a real interface's, if the host has
	 * one (the kernel delivers it over lo to 127.0.0.1). The host's network is not changed. */
	if (!non_loopback_addr(addr)) {
		fprintf(stderr, "ops/metrics_forbidden_elsewhere: no non-loopback IPv4 address on "
				"this host: live 403 check skipped (configuration checked)\n");
		http_client_free(c);
		return;
	}
	http_client_set_interface(c, addr);
	http_client_request(c, &r, "GET", "/metrics", NULL, NULL, 0, NULL);
	if (r.status == 0) {
		fprintf(stderr,
			"ops/metrics_forbidden_elsewhere: cannot connect from %s (%s): live "
			"403 check skipped\n",
			addr, r.curl_error);
	} else {
		fprintf(stderr, "ops/metrics_forbidden_elsewhere: GET /metrics from %s: %ld\n",
			addr, r.status);
		expect_error(&r, 403, "forbidden", "GET /metrics from a non-loopback address");
		cr_assert_null(strstr(r.body, "fcgi_workers"),
			       "403: expected no metrics in the body");
		http_resp_free(&r);
		/* the same address may use the API: only /metrics is restricted */
		http_client_request(c, &r, "GET", "/healthz", NULL, NULL, 0, NULL);
		cr_assert_eq(r.status, 200, "GET /healthz from %s: expected 200, got %ld", addr,
			     r.status);
	}
	http_resp_free(&r);
	http_client_free(c);
}

/* ---- following a request through the logs --------------------------------------------------- */

Test(ops, access_log_follow, .timeout = 30)
{
	struct http_client *c = http_client_new();
	char id[64], hdr[96], tag[17];
	const char *headers[2] = {hdr, NULL};
	pid_t kids[MAX_WORKERS];
	struct http_resp r;
	json_object *ng, *wk, *dur;
	int nkids;

	it_hex(tag, 8);
	snprintf(id, sizeof(id), "follow-%s", tag);
	snprintf(hdr, sizeof(hdr), "X-Request-ID: %s", id);
	http_client_set_timeout(c, 10);
	http_client_request(c, &r, "GET", "/stats/dau?from=2005-01-01&to=2005-01-03", NULL, NULL, 0,
			    headers);
	cr_assert_eq(r.status, 200, "GET /stats/dau: expected 200, got %ld", r.status);
	cr_assert(r.request_id && strcmp(r.request_id, id) == 0,
		  "expected X-Request-ID %s back, got %s", id,
		  r.request_id ? r.request_id : "(none)");
	http_resp_free(&r);

	ng = wait_log_line("nginx-access.log", "nginx", NULL, "request_id", id);
	cr_assert(ng, "expected a JSON line with request_id %s in nginx-access.log", id);
	cr_assert_eq(jint(ng, "status"), 200, "nginx line: expected status 200: %s",
		     json_object_to_json_string(ng));
	cr_assert(jstr(ng, "method") && strcmp(jstr(ng, "method"), "GET") == 0,
		  "nginx line: expected method GET: %s", json_object_to_json_string(ng));
	cr_assert(jstr(ng, "path") && strcmp(jstr(ng, "path"), "/stats/dau") == 0,
		  "nginx line: expected path /stats/dau: %s", json_object_to_json_string(ng));
	cr_assert(jstr(ng, "ts"), "nginx line: expected a ts");
	json_object_put(ng);

	/* an answer nginx makes itself (405 through its /_err/ page) keeps the client's method */
	snprintf(id, sizeof(id), "follow405-%s", tag);
	snprintf(hdr, sizeof(hdr), "X-Request-ID: %s", id);
	http_client_request(c, &r, "POST", "/", NULL, "{}", 2, headers);
	cr_assert_eq(r.status, 405, "POST /: expected 405, got %ld", r.status);
	http_resp_free(&r);
	ng = wait_log_line("nginx-access.log", "nginx", NULL, "request_id", id);
	cr_assert(ng, "expected a JSON line with request_id %s in nginx-access.log", id);
	cr_assert(jstr(ng, "method") && strcmp(jstr(ng, "method"), "POST") == 0 &&
		      jstr(ng, "path") && strcmp(jstr(ng, "path"), "/") == 0,
		  "nginx line of its own error page: expected POST /: %s",
		  json_object_to_json_string(ng));
	snprintf(id, sizeof(id), "follow-%s", tag);

	wk = wait_log_line("worker.log", "access", "info", "request_id", id);
	cr_assert(wk, "expected an access line with request_id %s in worker.log", id);
	cr_assert(jstr(wk, "level") && strcmp(jstr(wk, "level"), "info") == 0,
		  "access line: expected level info: %s", json_object_to_json_string(wk));
	cr_assert(jstr(wk, "route") && strcmp(jstr(wk, "route"), "/stats/dau") == 0,
		  "access line: expected route /stats/dau: %s", json_object_to_json_string(wk));
	cr_assert_eq(jint(wk, "status"), 200, "access line: expected status 200: %s",
		     json_object_to_json_string(wk));
	dur = jget(wk, "duration_ms");
	cr_assert(dur &&
		      (json_object_is_type(dur, json_type_double) ||
		       json_object_is_type(dur, json_type_int)) &&
		      json_object_get_double(dur) >= 0 && json_object_get_double(dur) < 10000,
		  "access line: expected a duration_ms number: %s", json_object_to_json_string(wk));
	nkids = pool_children(kids, MAX_WORKERS);
	cr_assert(in_set((pid_t)jint(wk, "pid"), kids, nkids),
		  "access line: expected the pid of one of the pool's workers: %s",
		  json_object_to_json_string(wk));
	json_object_put(ng);
	json_object_put(wk);
	http_client_free(c);
}

/* Sends GET /stats/dau until every current worker has answered one (bounded). */
static void
warm_workers(struct http_client *c)
{
	pid_t kids[MAX_WORKERS];
	int n, all = 0;

	for (int i = 0; i < 50 && !all; i++) {
		for (int k = 0; k < 8; k++) {
			struct http_resp r;

			http_client_request(c, &r, "GET",
					    "/stats/dau?from=2006-02-01&to=2006-02-02", NULL, NULL,
					    0, NULL);
			cr_assert_eq(r.status, 200, "GET /stats/dau: expected 200, got %ld",
				     r.status);
			http_resp_free(&r);
		}
		it_wait_worker_log();
		n = pool_children(kids, MAX_WORKERS);
		all = n > 0;
		for (int k = 0; k < n && all; k++)
			all = served_by(kids[k], "/stats/dau");
	}
	cr_assert(all, "expected every worker to have answered GET /stats/dau after 400 requests");
}

struct blocked {
	struct http_client *c;
	const char *const *headers;
	struct http_resp r;
};

static void *
blocked_get(void *arg)
{
	struct blocked *b = arg;

	http_client_request(b->c, &b->r, "GET", "/stats/dau?from=2006-02-01&to=2006-02-02", NULL,
			    NULL, 0, b->headers);
	return NULL;
}

/* A database error inside a request: the service role has lost its SELECT privilege on a
 * table a stats query reads (42501; a lock wait cancelled from the outside is a 503 "busy"
 * now, see the timeouts suite). The answer is 500 with the request id, and the worker's error
 * line carries it. */
Test(ops, error_log_follow, .timeout = 60)
{
	struct http_client *c = http_client_new(), *mc = http_client_new();
	char id[64], hdr[96], tag[17], *text;
	const char *headers[2] = {hdr, NULL};
	struct blocked b = {.c = c, .headers = headers};
	PGconn *db = db_open();
	PGresult *res;
	json_object *err, *acc;
	double e0, e1;

	it_hex(tag, 8);
	snprintf(id, sizeof(id), "errfollow-%s", tag);
	snprintf(hdr, sizeof(hdr), "X-Request-ID: %s", id);
	http_client_set_timeout(c, 20);
	http_client_set_timeout(mc, 10);
	/* Every worker prepares its statements on its first database request, and a failure there
	 * is a 503 (not ready); the error path wanted here is a query of a ready worker. */
	warm_workers(mc);
	text = it_metrics_text(mc);
	e0 = it_metric_sum(text, "db_errors_total", NULL, NULL);
	free(text);

	res = PQexec(db, "REVOKE SELECT ON analytics_gen FROM events_writer");
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "REVOKE: %s", PQerrorMessage(db));
	PQclear(res);
	blocked_get(&b);
	res = PQexec(db, "GRANT SELECT ON analytics_gen TO events_writer");
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "GRANT: %s", PQerrorMessage(db));
	PQclear(res);
	PQfinish(db);

	expect_error(&b.r, 500, "internal", "GET /stats/dau failing in the database");
	cr_assert(b.r.request_id && strcmp(b.r.request_id, id) == 0,
		  "500: expected X-Request-ID %s, got %s", id,
		  b.r.request_id ? b.r.request_id : "(none)");
	http_resp_free(&b.r);

	acc = wait_log_line("worker.log", "access", "info", "request_id", id);
	cr_assert(acc, "expected an access line with request_id %s", id);
	cr_assert_eq(jint(acc, "status"), 500, "access line: expected status 500: %s",
		     json_object_to_json_string(acc));
	/* the error line: level error, with the same request id as a field */
	err = wait_log_line("worker.log", NULL, "error", "request_id", id);
	cr_assert(err, "expected a JSON line of level error with request_id %s in worker.log", id);
	fprintf(stderr, "ops/error_log_follow: %s\n", json_object_to_json_string(err));
	json_object_put(err);
	json_object_put(acc);

	text = it_metrics_text(mc);
	e1 = it_metric_sum(text, "db_errors_total", NULL, NULL);
	free(text);
	cr_assert_eq(e1 - e0, 1, "expected db_errors_total +1, got %.0f -> %.0f", e0, e1);

	/* the worker whose query was cancelled still serves: every worker answers */
	for (int i = 0; i < 8; i++) {
		struct http_resp r;

		http_client_request(mc, &r, "GET", "/stats/dau?from=2006-02-01&to=2006-02-02", NULL,
				    NULL, 0, NULL);
		cr_assert_eq(r.status, 200, "GET /stats/dau after the GRANT: expected 200, got %ld",
			     r.status);
		http_resp_free(&r);
	}
	http_client_free(c);
	http_client_free(mc);
}
