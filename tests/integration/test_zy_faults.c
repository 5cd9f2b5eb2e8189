/* test_zy_faults.c: faults under load, with real processes (issue #6). PostgreSQL is stopped and
 * started again while clients keep ingesting, and workers are killed with SIGKILL while clients
 * keep ingesting. Each test runs on a stack of its own, PostgreSQL included (it_own_stack_up),
 * so stopping PostgreSQL touches no other suite and the suites may run in any order. (The name
 * zy_faults once made it run next to last, on the shared stack; the README's results cite it.)
 * Events are dated 2015 (database restart) and 2016 (killed workers) with user ids "it-zy-*".
 * Both tests leave their stack as they found it: PostgreSQL up and the pool with all its workers
 * serving. */
#include <errno.h>
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

enum { NCLIENTS = 4, MAX_WORKERS = 64, MAX_SAMPLES = 1 << 16 };

/* Every test on a stack of its own, PostgreSQL included, removed after the test even when an
 * assertion failed (so PostgreSQL is never left stopped for anyone else). */
TestSuite(zy_faults, .init = it_own_stack_init, .fini = it_own_stack_fini);

/* Waits up to timeout seconds for the pool to have it_want_workers() running workers; fills out
 * (ascending pids) and returns how many it has at the end. */
static int
wait_full_pool(pid_t *out, double timeout)
{
	double t0 = it_now();
	int n;

	for (;;) {
		n = it_pool_workers(it_pool_pid(), out, MAX_WORKERS);
		if (n == it_want_workers() || it_now() - t0 > timeout)
			return n;
		usleep(5 * 1000);
	}
}

static void
pids_str(const pid_t *p, int n, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = 0; i < n && o < cap; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%d", i ? " " : "", (int)p[i]);
}

/* ---- a load client ------------------------------------------------------------------------- */

struct sample {
	double start, end; /* monotonic seconds */
	long status;	   /* 0: transport error */
};

struct client {
	pthread_t thread;
	struct http_client *c;
	int idx, year, batch;
	const char *tag;   /* user id prefix */
	double retry_cap;  /* seconds: the longest pause after a 503 */
	double give_up_at; /* after stop: a batch still not stored by then is abandoned */
	atomic_int *stop;
	char *ids; /* every generated id, 37 bytes each */
	size_t nids, cap;
	char *acked; /* ids[i] got a 200 (acknowledged) */
	struct sample *samples;
	size_t nsamples;
	long requests, ok, unavailable, nginx_unavailable, other, curl_errors, abandoned;
	long accepted, duplicates, bad_counts, bad_503, max_retry_after;
	double max_503_s;
	char first_failure[512];
};

static void
fail_note(struct client *cl, const char *what, const struct http_resp *r)
{
	if (cl->first_failure[0])
		return;
	snprintf(cl->first_failure, sizeof(cl->first_failure),
		 "%s: status %ld, curl '%s', Content-Type '%s', body '%.300s'", what, r->status,
		 r->curl_error, r->content_type ? r->content_type : "(none)",
		 r->body ? r->body : "");
}

static long
jint(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_int) ? (long)json_object_get_int64(v) : -1;
}

/* A JSON array of n fresh events of cl's year; their ids are appended to cl->ids. */
static json_object *
fresh_batch(struct client *cl, long seq)
{
	json_object *a = json_object_new_array();

	if (cl->nids + (size_t)cl->batch > cl->cap) {
		cl->cap = cl->cap * 2 + (size_t)cl->batch * 64;
		cl->ids = realloc(cl->ids, cl->cap * 37);
		cl->acked = realloc(cl->acked, cl->cap);
		if (!cl->ids || !cl->acked)
			abort();
	}
	for (int i = 0; i < cl->batch; i++) {
		unsigned k = (unsigned)(seq * cl->batch + i);
		char at[32], user[48];

		snprintf(at, sizeof(at), "%04d-%02u-%02uT%02u:%02u:00Z", cl->year, 1 + k % 12,
			 1 + (k / 12) % 28, k % 24, (k / 7) % 60);
		snprintf(user, sizeof(user), "%s-%d-%u", cl->tag, cl->idx, k % 37);
		json_object_array_add(a,
				      it_event(cl->ids + 37 * cl->nids, at, user, "it_zy_fault"));
		cl->acked[cl->nids++] = 0;
	}
	return a;
}

static void
record(struct client *cl, double start, double end, long status)
{
	if (cl->nsamples < MAX_SAMPLES)
		cl->samples[cl->nsamples++] = (struct sample){start, end, status};
}

/* One answer to a 503: the worker's own (database unavailable, Retry-After) or nginx's (no worker
 * could answer: an upstream error or timeout, i.e. a 502/504 in disguise). */
static void
check_503(struct client *cl, const struct http_resp *r, double dt)
{
	const char *e = jstr(r->json, "error"), *m = jstr(r->json, "message");
	long ra = r->retry_after ? atol(r->retry_after) : -1;

	cl->unavailable++;
	if (dt > cl->max_503_s)
		cl->max_503_s = dt;
	if (ra > cl->max_retry_after)
		cl->max_retry_after = ra;
	if (m && strstr(m, "no worker could answer")) {
		cl->nginx_unavailable++;
		fail_note(cl, "POST /events: 503 made by nginx (upstream failed)", r);
	} else if (!e || strcmp(e, "unavailable") != 0 || ra < 1 || !r->content_type ||
		   !strstr(r->content_type, "application/json")) {
		cl->bad_503++;
		fail_note(cl, "POST /events: 503 without JSON error \"unavailable\" + Retry-After",
			  r);
	}
}

/* Posts one fresh batch, retrying it after each 503 until it is stored (or the client gives up
 * well after the stop). */
static void
post_batch(struct client *cl, long seq)
{
	size_t first = cl->nids;
	json_object *b = fresh_batch(cl, seq);
	const char *s = json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN);

	for (;;) {
		struct http_resp r;
		double t0 = it_now(), dt;
		long st;

		http_client_request(cl->c, &r, "POST", "/events", "application/json", s, strlen(s),
				    NULL);
		dt = it_now() - t0;
		st = r.status;
		cl->requests++;
		record(cl, t0, t0 + dt, st);
		if (st == 200) {
			long rec = jint(r.json, "received"), acc = jint(r.json, "accepted");
			long dup = jint(r.json, "duplicates");

			cl->ok++;
			if (rec != cl->batch || acc < 0 || dup < 0 || acc + dup != rec) {
				cl->bad_counts++;
				fail_note(cl, "POST /events: 200 with wrong counts", &r);
			}
			cl->accepted += acc > 0 ? acc : 0;
			cl->duplicates += dup > 0 ? dup : 0;
			memset(cl->acked + first, 1, (size_t)cl->batch);
			http_resp_free(&r);
			break;
		}
		if (st == 503) {
			double pause = r.retry_after ? atof(r.retry_after) : 1.0;

			check_503(cl, &r, dt);
			http_resp_free(&r);
			if (atomic_load(cl->stop) && it_now() > cl->give_up_at) {
				cl->abandoned++;
				break;
			}
			it_sleep(pause < cl->retry_cap ? pause : cl->retry_cap);
			continue;
		}
		if (st == 0)
			cl->curl_errors++;
		else
			cl->other++;
		fail_note(cl, "POST /events", &r);
		http_resp_free(&r);
		break; /* not retried: the test fails, and the ids are still checked below */
	}
	json_object_put(b);
}

static void *
client_run(void *arg)
{
	struct client *cl = arg;

	for (long seq = 0; !atomic_load(cl->stop); seq++)
		post_batch(cl, seq);
	return NULL;
}

static void
clients_start(struct client *cl, atomic_int *stop, int year, int batch, const char *tag,
	      double retry_cap)
{
	memset(cl, 0, NCLIENTS * sizeof(*cl));
	for (int i = 0; i < NCLIENTS; i++) {
		cl[i].c = http_client_new();
		http_client_set_timeout(cl[i].c, 15); /* a hang shows up as a transport error */
		cl[i].idx = i;
		cl[i].year = year;
		cl[i].batch = batch;
		cl[i].tag = tag;
		cl[i].retry_cap = retry_cap;
		cl[i].give_up_at = 1e300;
		cl[i].stop = stop;
		cl[i].samples = malloc(MAX_SAMPLES * sizeof(*cl[i].samples));
		cr_assert(cl[i].samples, "malloc");
		cr_assert_eq(pthread_create(&cl[i].thread, NULL, client_run, &cl[i]), 0,
			     "pthread_create");
	}
}

static void
clients_stop(struct client *cl, atomic_int *stop, double give_up_in)
{
	double g = it_now() + give_up_in;

	for (int i = 0; i < NCLIENTS; i++)
		cl[i].give_up_at = g;
	atomic_store(stop, 1);
	for (int i = 0; i < NCLIENTS; i++)
		pthread_join(cl[i].thread, NULL);
}

/* The counters of the NCLIENTS clients summed into t (of max_503_s and max_retry_after: the
 * largest); t's other members are zero. */
static void
clients_total(const struct client *cl, struct client *t)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < NCLIENTS; i++) {
		t->requests += cl[i].requests;
		t->ok += cl[i].ok;
		t->unavailable += cl[i].unavailable;
		t->nginx_unavailable += cl[i].nginx_unavailable;
		t->other += cl[i].other;
		t->curl_errors += cl[i].curl_errors;
		t->abandoned += cl[i].abandoned;
		t->accepted += cl[i].accepted;
		t->duplicates += cl[i].duplicates;
		t->bad_counts += cl[i].bad_counts;
		t->bad_503 += cl[i].bad_503;
		if (cl[i].max_503_s > t->max_503_s)
			t->max_503_s = cl[i].max_503_s;
		if (cl[i].max_retry_after > t->max_retry_after)
			t->max_retry_after = cl[i].max_retry_after;
	}
}

static void
clients_free(struct client *cl)
{
	for (int i = 0; i < NCLIENTS; i++) {
		http_client_free(cl[i].c);
		free(cl[i].ids);
		free(cl[i].acked);
		free(cl[i].samples);
	}
}

/* Every id the clients generated (acked_only: only the acknowledged ones); caller frees. */
static char **
collect_ids(struct client *cl, int acked_only, size_t *n)
{
	size_t total = 0, k = 0;
	char **ids;

	for (int i = 0; i < NCLIENTS; i++)
		total += cl[i].nids;
	ids = malloc((total + 1) * sizeof(*ids));
	cr_assert(ids, "malloc");
	for (int i = 0; i < NCLIENTS; i++)
		for (size_t j = 0; j < cl[i].nids; j++)
			if (!acked_only || cl[i].acked[j])
				ids[k++] = cl[i].ids + 37 * j;
	*n = k;
	return ids;
}

/* The summaries of year agree with the stored events: the users per block and type, the
 * events per block and type, and each first quarter of the users named prefix-*. */
static void
check_summaries(PGconn *db, int year, const char *prefix)
{
	char from[32], to[32], like[64];
	const char *u[1] = {like};

	snprintf(from, sizeof(from), "%04d-01-01Z", year);
	snprintf(to, sizeof(to), "%04d-01-01Z", year + 1);
	snprintf(like, sizeof(like), "%s-%%", prefix);
	it_check_summaries_between(db, from, to);
	long long bad = db_scalar_ll(
	    db,
	    "SELECT count(*) FROM"
	    " (SELECT user_id, min(floor(extract(epoch FROM occurred_at) / 900)::int) AS q"
	    "   FROM events WHERE user_id LIKE $1 GROUP BY 1) e"
	    " FULL JOIN (SELECT user_id, fqs[array_position(ftypes, '')] AS q FROM user_keys"
	    "   WHERE user_id LIKE $1) u USING (user_id)"
	    " WHERE e.q IS DISTINCT FROM u.q",
	    1, u);
	cr_assert_eq(bad, 0, "expected the first quarter right for every %s user: %lld differ",
		     prefix, bad);
}

/* ---- PostgreSQL restart under load ------------------------------------------------------- */

/* GET /healthz while the database is down: 503 JSON {"status":"unavailable","db":"down"}. */
static void
check_health_down(struct http_client *c, double *max_s)
{
	struct http_resp r;
	double t0 = it_now(), dt;

	http_client_request(c, &r, "GET", "/healthz", NULL, NULL, 0, NULL);
	dt = it_now() - t0;
	if (dt > *max_s)
		*max_s = dt;
	cr_assert_eq(r.status, 503,
		     "GET /healthz with PostgreSQL stopped: expected 503, got %ld (%s) %.300s",
		     r.status, r.curl_error, r.body);
	expect_json_response(&r, "GET /healthz with PostgreSQL stopped");
	cr_assert(jstr(r.json, "db") && strcmp(jstr(r.json, "db"), "down") == 0,
		  "GET /healthz with PostgreSQL stopped: expected \"db\":\"down\", got %s", r.body);
	cr_assert_lt(dt, 1.5,
		     "GET /healthz with PostgreSQL stopped: expected an answer within a "
		     "second (1.5 s with slack), took %.3f s",
		     dt);
	http_resp_free(&r);
}

Test(zy_faults, db_restart_under_load, .timeout = 120)
{
	enum { BATCH = 20 };
	struct http_client *hc = http_client_new();
	struct client cl[NCLIENTS];
	atomic_int stop = 0;
	pid_t before[MAX_WORKERS], after[MAX_WORKERS], pool = it_pool_pid();
	char sb[512], sa[512];
	int nb, na, health_checks = 0, rc_stop, rc_start;
	double t_stop0, t_down, t_start0, t_up, first_ok_after = -1, max_health = 0;
	double first_503 = -1, last_ok_before = -1;
	struct client t;
	long ok_down = 0;
	size_t ngen, nack;
	char **gen, **ack;
	PGconn *db;
	long long stored_ack, stored_gen;

	http_client_set_timeout(hc, 5);
	cr_assert(pool > 0, "EVENTS_POOL_PID must be set");
	nb = wait_full_pool(before, 5.0);
	cr_assert_eq(nb, it_want_workers(), "expected %d workers before the test, found %d",
		     it_want_workers(), nb);
	pids_str(before, nb, sb, sizeof(sb));

	clients_start(cl, &stop, 2015, BATCH, "it-zy-db", 0.2);
	it_sleep(1.0);
	t_stop0 = it_now();
	rc_stop = it_stack("pg-stop");
	t_down = it_now();
	/* down for ~4 s; /healthz checked from here meanwhile */
	while (rc_stop == 0 && it_now() - t_down < 4.0) {
		check_health_down(hc, &max_health);
		health_checks++;
		it_sleep(0.4);
	}
	t_start0 = it_now();
	rc_start = it_stack("pg-start");
	t_up = it_now();
	it_sleep(3.0);
	clients_stop(cl, &stop, 10.0);

	clients_total(cl, &t);
	for (int i = 0; i < NCLIENTS; i++) {
		for (size_t k = 0; k < cl[i].nsamples; k++) {
			const struct sample *s = &cl[i].samples[k];

			if (s->status == 200 && s->end >= t_up &&
			    (first_ok_after < 0 || s->end < first_ok_after))
				first_ok_after = s->end;
			if (s->status == 200 && s->start > t_down && s->end < t_start0)
				ok_down++;
			if (s->status == 200 && s->end < t_stop0 && s->end > last_ok_before)
				last_ok_before = s->end;
			if (s->status == 503 && (first_503 < 0 || s->end < first_503))
				first_503 = s->end;
		}
	}
	gen = collect_ids(cl, 0, &ngen);
	ack = collect_ids(cl, 1, &nack);
	db = db_open();
	stored_ack = db_count_ids(db, ack, nack);
	stored_gen = db_count_ids(db, gen, ngen);

	fprintf(
	    stderr,
	    "zy_faults/db_restart_under_load: %d clients, batches of %d; pg-stop took %.2f s, "
	    "down %.2f s, pg-start took %.2f s\n"
	    "  %ld requests: %ld x 200, %ld x 503 (%ld made by nginx, %ld malformed), %ld other, "
	    "%ld transport errors; %ld batches abandoned\n"
	    "  max 503 latency %.0f ms, max Retry-After %ld s; /healthz checked %d times while "
	    "down (max %.0f ms)\n"
	    "  first 503 %.2f s after pg-stop began (last 200 before it %.2f s before); first "
	    "200 %.0f ms after pg-start returned\n"
	    "  events: %zu generated, %zu acknowledged, accepted %ld + duplicates %ld; stored: "
	    "%lld of the acknowledged, %lld of the generated\n",
	    NCLIENTS, BATCH, t_down - t_stop0, t_start0 - t_down, t_up - t_start0, t.requests, t.ok,
	    t.unavailable, t.nginx_unavailable, t.bad_503, t.other, t.curl_errors, t.abandoned,
	    t.max_503_s * 1000, t.max_retry_after, health_checks, max_health * 1000,
	    first_503 < 0 ? -1 : first_503 - t_stop0,
	    last_ok_before < 0 ? -1 : t_stop0 - last_ok_before,
	    first_ok_after < 0 ? -1 : (first_ok_after - t_up) * 1000, ngen, nack, t.accepted,
	    t.duplicates, stored_ack, stored_gen);
	for (int i = 0; i < NCLIENTS; i++)
		if (cl[i].first_failure[0])
			fprintf(stderr, "  first failure of client %d: %s\n", i,
				cl[i].first_failure);

	cr_assert_eq(rc_stop, 0, "expected tools/stack.sh pg-stop to succeed");
	cr_assert_eq(rc_start, 0, "expected tools/stack.sh pg-start to succeed");
	cr_assert_eq(t.curl_errors, 0,
		     "expected no transport error (refused, reset, 15 s timeout), got %ld",
		     t.curl_errors);
	cr_assert_eq(t.other, 0, "expected only 200 and 503 answers, got %ld others", t.other);
	cr_assert_eq(t.nginx_unavailable, 0,
		     "expected every 503 to come from a worker (database unavailable), got %ld "
		     "made by nginx (an upstream 502/504)",
		     t.nginx_unavailable);
	cr_assert_eq(t.bad_503, 0,
		     "expected every 503 to be JSON {\"error\":\"unavailable\"} with Retry-After, "
		     "got %ld that were not",
		     t.bad_503);
	cr_assert_gt(t.unavailable, 0,
		     "expected 503 answers while PostgreSQL was stopped: the outage "
		     "was not seen by the clients");
	cr_assert_gt(health_checks, 0, "expected /healthz checked during the outage");
	cr_assert_eq(ok_down, 0,
		     "expected no 200 for a request sent and answered while PostgreSQL was "
		     "stopped, got %ld",
		     ok_down);
	cr_assert_lt(t.max_503_s, 1.0,
		     "expected every 503 within a second, the slowest took %.3f s", t.max_503_s);
	cr_assert_geq(first_ok_after, 0, "expected a 200 after PostgreSQL started again");
	cr_assert_leq(first_ok_after - t_up, 2.0,
		      "expected the first 200 within 2 s of pg-start returning, took %.3f s",
		      first_ok_after - t_up);
	cr_assert_eq(t.abandoned, 0,
		     "expected every 503'd batch to be stored on a retry once PostgreSQL was "
		     "back, %ld still 503 10 s after the stop",
		     t.abandoned);
	cr_assert_eq(t.bad_counts, 0, "expected every 200 to count %d events, %ld did not", BATCH,
		     t.bad_counts);

	cr_assert_eq(stored_ack, (long long)nack,
		     "expected every acknowledged event stored: %zu acknowledged, %lld stored",
		     nack, stored_ack);
	cr_assert_eq(stored_gen, (long long)ngen,
		     "expected every generated event stored (each batch was retried until 200): "
		     "%zu generated, %lld stored",
		     ngen, stored_gen);
	cr_assert_eq(t.accepted, (long)ngen,
		     "expected the sum of 'accepted' over all 200s (%ld) to equal the distinct "
		     "events generated (%zu): a 503 that stored something, or an event counted "
		     "twice",
		     t.accepted, ngen);
	cr_assert_eq(t.duplicates, 0,
		     "expected no duplicates (a 503 promises nothing was stored), got %ld",
		     t.duplicates);
	cr_assert_eq(db_scalar_ll(db,
				  "SELECT count(*) FROM events WHERE occurred_at >= '2015-01-01Z'"
				  " AND occurred_at < '2016-01-01Z'",
				  0, NULL),
		     (long long)ngen, "expected exactly the %zu generated events in 2015", ngen);
	check_summaries(db, 2015, "it-zy-db");
	PQfinish(db);

	/* the same supervisor and the same workers: nothing was restarted, nothing crashed */
	cr_assert_eq(kill(pool, 0), 0, "expected the pool supervisor %d still running", (int)pool);
	na = it_pool_workers(pool, after, MAX_WORKERS);
	pids_str(after, na > 0 ? na : 0, sa, sizeof(sa));
	cr_assert(na == nb && memcmp(before, after, (size_t)nb * sizeof(*before)) == 0,
		  "expected the same workers after the outage (no restart, no crash): before "
		  "'%s', after '%s'",
		  sb, sa);
	free(gen);
	free(ack);
	clients_free(cl);
	http_client_free(hc);
}

/* ---- workers killed under load ----------------------------------------------------------- */

Test(zy_faults, workers_killed_under_load, .timeout = 120)
{
	enum { BATCH = 50 };
	struct client cl[NCLIENTS];
	atomic_int stop = 0;
	pid_t before[MAX_WORKERS], after[MAX_WORKERS], pool = it_pool_pid();
	unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	int nb, na, kills = 0, none_alive = 0;
	struct client t;
	double t0, refill;
	size_t ngen;
	char **gen;
	char sa[512];
	PGconn *db;
	long long stored;

	cr_assert(pool > 0, "EVENTS_POOL_PID must be set");
	nb = wait_full_pool(before, 5.0);
	cr_assert_eq(nb, it_want_workers(), "expected %d workers before the test, found %d",
		     it_want_workers(), nb);

	/* a 503 is not expected here; it would be counted (and the batch retried) */
	clients_start(cl, &stop, 2016, BATCH, "it-zy-kill", 0.2);
	t0 = it_now();
	it_sleep(0.3);
	while (it_now() - t0 < 5.0) {
		pid_t w[MAX_WORKERS];
		int n = it_pool_workers(pool, w, MAX_WORKERS);

		if (n > 0 && kill(w[rand_r(&seed) % (unsigned)n], SIGKILL) == 0)
			kills++;
		else
			none_alive++;
		it_sleep(0.2 + (double)(rand_r(&seed) % 100) / 1000.0);
	}
	clients_stop(cl, &stop, 0.0);
	t0 = it_now();
	na = wait_full_pool(after, 15.0);
	refill = it_now() - t0;

	clients_total(cl, &t);
	gen = collect_ids(cl, 0, &ngen);
	db = db_open();
	stored = db_count_ids(db, gen, ngen);
	pids_str(after, na > 0 ? na : 0, sa, sizeof(sa));
	fprintf(stderr,
		"zy_faults/workers_killed_under_load: %d kills in 5 s (%d times no worker to "
		"kill); %ld requests by %d clients: %ld x 200, %ld x 503, %ld other, %ld transport "
		"errors; %zu events sent, accepted %ld + duplicates %ld, %lld stored; pool full "
		"again (%d workers: %s) %.0f ms after the load\n",
		kills, none_alive, t.requests, NCLIENTS, t.ok, t.unavailable, t.other,
		t.curl_errors, ngen, t.accepted, t.duplicates, stored, na, sa, refill * 1000);
	for (int i = 0; i < NCLIENTS; i++)
		if (cl[i].first_failure[0])
			fprintf(stderr, "  first failure of client %d: %s\n", i,
				cl[i].first_failure);

	cr_assert_gt(kills, 5, "expected several workers killed, got %d", kills);
	/* a floor that the clients ran, not a speed (exactly 20 at load average 15) */
	cr_assert_geq(t.requests, NCLIENTS, "expected the clients to send requests, got %ld",
		      t.requests);
	cr_assert_eq(t.curl_errors, 0, "expected no transport error, got %ld", t.curl_errors);
	cr_assert_eq(t.unavailable + t.other, 0,
		     "expected every answer 200 (nginx retries a request whose worker died on "
		     "another worker), got %ld x 503 and %ld others",
		     t.unavailable, t.other);
	cr_assert_eq(t.bad_counts, 0, "expected every 200 to count %d events, %ld did not", BATCH,
		     t.bad_counts);
	cr_assert_eq(t.accepted + t.duplicates, (long)ngen,
		     "expected accepted + duplicates (%ld + %ld) = events sent (%zu)", t.accepted,
		     t.duplicates, ngen);
	cr_assert_eq(stored, (long long)ngen,
		     "expected every one of the %zu events stored, %lld are", ngen, stored);
	cr_assert_eq(db_scalar_ll(db,
				  "SELECT count(*) FROM events WHERE occurred_at >= '2016-01-01Z'"
				  " AND occurred_at < '2017-01-01Z'",
				  0, NULL),
		     (long long)ngen, "expected exactly the %zu events sent in 2016, each once",
		     ngen);
	check_summaries(db, 2016, "it-zy-kill");
	PQfinish(db);
	cr_assert_eq(na, it_want_workers(), "expected the pool refilled to %d workers, has %d: %s",
		     it_want_workers(), na, sa);
	free(gen);
	clients_free(cl);
}
