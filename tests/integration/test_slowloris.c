/* test_slowloris.c: slow clients against the running stack (security review point 6). From
 * 127.0.0.3, which run.sh does not exempt from the per-address limits, one thousand connections
 * trickle a request header one byte every 1-2 s, reconnecting whenever nginx drops them, while
 * CONN_LIMIT_PER_ADDR + 16 others send a complete POST header with a large Content-Length and
 * then trickle the body. Meanwhile a normal client on 127.0.0.1 must keep getting 200 for
 * GET /healthz and POST /events within a few seconds; connections over the per-address limit must
 * be refused with the 429 JSON error; header tricklers must be dropped within
 * client_header_timeout and a body that stops coming within client_body_timeout (both read from
 * the rendered nginx.conf). Events are dated 2008-04-04, user "it-slowloris". Every socket is
 * closed before the assertions, and the stack is left healthy. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "client.h"

#define ATTACKER "127.0.0.3"
#define NORMAL "127.0.0.1"

enum {
	NHEAD = 1000,	  /* header tricklers kept open at all times */
	NBODY_EXTRA = 16, /* body tricklers beyond the per-address limit */
	NSTALL = 4,	  /* bodies that stop coming after the header */
	DEFAULT_CONN_LIMIT = 64,
	DEFAULT_RATE_RPS = 100,
	MAX_TRICKLERS = 2 * NHEAD + 256,
	RESP_CAP = 2048,
};

/* Seconds. */
#define ATTACK_S 20.0	  /* the normal client's run, tricklers in place */
#define LATENCY_MAX_S 3.0 /* "within a few seconds" */
#define SLACK_S 2.0	  /* over a configured timeout before nginx counts as late */
#define REOPEN_MIN_S 0.2  /* a dropped header trickler comes back after 0.2-1 s */

enum kind { K_HEAD, K_BODY, K_STALL };
enum state { S_CONNECTING, S_OPEN, S_ANSWERED, S_CLOSED };

struct trickler {
	int fd;
	enum kind kind;
	enum state state;
	double opened, closed_at, next_send, reopen_at;
	size_t sent; /* bytes of the script sent */
	char resp[RESP_CAP];
	size_t resp_len;
	int done; /* removed from the attack: closed by us */
};

struct attack {
	struct trickler t[MAX_TRICKLERS];
	int n;
	int port;
	unsigned seed;
	double head_timeout; /* client_header_timeout of the stack, s */
	/* header tricklers: */
	long head_opened, head_closed, head_refused;
	double head_max_life;
	int head_late; /* closed later than client_header_timeout + slack */
	/* stalled bodies: */
	int stall_closed;
	double stall_max_life;
};

static const char head_script[] = "GET /healthz HTTP/1.1\r\nHost: slowloris\r\n"
				  "User-Agent: trickle/1.0\r\nX-Padding: ";
static const char body_header[] = "POST /events HTTP/1.1\r\nHost: slowloris\r\n"
				  "Content-Type: application/json\r\n"
				  "Content-Length: 1000000\r\n\r\n";

/* ---- settings of the stack under test ---------------------------------------------------- */

static int
base_port(void)
{
	const char *colon = strrchr(it_base_url(), ':');

	return colon ? atoi(colon + 1) : 0;
}

static int
env_int(const char *name, int dflt)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : dflt;
}

/* Seconds of "directive Ns;" in the rendered nginx.conf (asserts it is there). */
static int
conf_seconds(const char *directive)
{
	const char *dir = getenv("EVENTS_VAR_DIR");
	char path[1024], line[512];
	int secs = -1;
	size_t dl = strlen(directive);
	FILE *fp;

	cr_assert(dir && *dir, "EVENTS_VAR_DIR must be set");
	snprintf(path, sizeof(path), "%s/nginx/nginx.conf", dir);
	fp = fopen(path, "r");
	cr_assert(fp, "expected the rendered %s", path);
	while (secs < 0 && fgets(line, sizeof(line), fp)) {
		const char *p = line + strspn(line, " \t");

		if (strncmp(p, directive, dl) == 0 && (p[dl] == ' ' || p[dl] == '\t'))
			secs = atoi(p + dl);
	}
	fclose(fp);
	cr_assert_gt(secs, 0, "%s: expected '%s <N>s;'", path, directive);
	return secs;
}

/* Lets this process hold every trickler plus curl's sockets. */
static void
raise_nofile(rlim_t want)
{
	struct rlimit rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0, "getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (rl.rlim_max < want)
		rl.rlim_max = want; /* root only; the assertion says so otherwise */
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0,
		     "this test needs %lu open files (ulimit -n): %s", (unsigned long)want,
		     strerror(errno));
}

/* ---- the tricklers ----------------------------------------------------------------------- */

/* A non-blocking connection to the stack from ATTACKER; -1 when no socket could be made. */
static int
attacker_socket(int port)
{
	struct sockaddr_in src = {.sin_family = AF_INET};
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, ATTACKER, &src.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
#ifdef IP_BIND_ADDRESS_NO_PORT
	/* the port is picked at connect(): bind() alone would pick one per address, not 4-tuple */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
	    (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	return fd;
}

static double
jitter(struct attack *a, double lo, double hi)
{
	return lo + (hi - lo) * (double)rand_r(&a->seed) / (double)RAND_MAX;
}

/* (Re)opens trickler t as kind k. */
static void
trickler_open(struct attack *a, struct trickler *t, enum kind k)
{
	memset(t, 0, sizeof(*t));
	t->kind = k;
	t->opened = it_now();
	t->fd = attacker_socket(a->port);
	t->state = t->fd < 0 ? S_CLOSED : S_CONNECTING;
	t->closed_at = t->opened;
	t->reopen_at = t->opened + jitter(a, REOPEN_MIN_S, 1.0);
	if (k == K_HEAD)
		a->head_opened++;
}

static void
trickler_close(struct trickler *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

/* nginx closed (or reset, or refused) t: record how long it lived. */
static void
trickler_dropped(struct attack *a, struct trickler *t, double now)
{
	double life = now - t->opened;

	trickler_close(t);
	t->state = S_CLOSED;
	t->closed_at = now;
	t->reopen_at = now + jitter(a, REOPEN_MIN_S, 1.0);
	if (t->kind == K_HEAD) {
		a->head_closed++;
		if (life > a->head_max_life)
			a->head_max_life = life;
		if (life > a->head_timeout + SLACK_S)
			a->head_late++;
	} else if (t->kind == K_STALL) {
		a->stall_closed++;
		if (life > a->stall_max_life)
			a->stall_max_life = life;
	}
}

/* The next byte t sends: the header script, then padding that never ends the header line; for
 * bodies the whole header at once, then body bytes. Returns 0, or -1 when the peer is gone. */
static int
trickler_send(struct attack *a, struct trickler *t, double now)
{
	const char *p;
	size_t n;
	char pad = 'a';

	if (t->kind == K_HEAD) {
		p = t->sent < sizeof(head_script) - 1 ? head_script + t->sent : &pad;
		n = 1;
	} else if (t->sent == 0) {
		p = body_header;
		n = sizeof(body_header) - 1;
	} else if (t->kind == K_BODY) {
		p = t->sent == sizeof(body_header) - 1 ? "[" : " ";
		n = 1;
	} else {
		t->next_send = now + 3600; /* a stalled body: nothing after the header */
		return 0;
	}
	if (send(t->fd, p, n, MSG_NOSIGNAL) != (ssize_t)n)
		return errno == EAGAIN ? 0 : -1;
	t->sent += n;
	t->next_send = now + jitter(a, 1.0, 2.0);
	return 0;
}

/* Reads what nginx sent t; -1 when it closed or reset the connection. */
static int
trickler_read(struct trickler *t)
{
	char tmp[4096];

	for (;;) {
		ssize_t k = recv(t->fd, tmp, sizeof(tmp), 0);

		if (k == 0)
			return -1;
		if (k < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (t->resp_len + (size_t)k >= RESP_CAP)
			k = (ssize_t)(RESP_CAP - 1 - t->resp_len);
		memcpy(t->resp + t->resp_len, tmp, (size_t)k);
		t->resp_len += (size_t)k;
		t->resp[t->resp_len] = '\0';
		if (strstr(t->resp, "\r\n\r\n"))
			t->state = S_ANSWERED;
	}
}

/* One round of the attack: connects finish, bytes go out, drops are seen and header tricklers
 * come back. Waits at most wait_ms. */
static void
attack_step(struct attack *a, int wait_ms)
{
	static struct pollfd pfd[MAX_TRICKLERS];
	static int idx[MAX_TRICKLERS];
	double now = it_now();
	int np = 0;

	for (int i = 0; i < a->n; i++) {
		struct trickler *t = &a->t[i];

		if (t->done)
			continue;
		if (t->state == S_CLOSED) {
			if (t->kind == K_HEAD && now >= t->reopen_at)
				trickler_open(a, t, K_HEAD);
			if (t->state == S_CLOSED)
				continue;
		}
		if (t->state == S_OPEN && now >= t->next_send && trickler_send(a, t, now) != 0) {
			trickler_dropped(a, t, now);
			continue;
		}
		pfd[np].fd = t->fd;
		pfd[np].events = t->state == S_CONNECTING ? POLLOUT : POLLIN;
		idx[np++] = i;
	}
	if (poll(pfd, (nfds_t)np, wait_ms) <= 0)
		return;
	now = it_now();
	for (int j = 0; j < np; j++) {
		struct trickler *t = &a->t[idx[j]];
		int err = 0;
		socklen_t len = sizeof(err);

		if (!pfd[j].revents)
			continue;
		if (t->state == S_CONNECTING) {
			getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			if (err) {
				if (t->kind == K_HEAD)
					a->head_refused++;
				trickler_dropped(a, t, now);
				continue;
			}
			t->state = S_OPEN;
			t->next_send = now;
			continue;
		}
		if (trickler_read(t) != 0)
			trickler_dropped(a, t, now);
	}
}

/* Runs the attack for s seconds. */
static void
attack_run(struct attack *a, double s)
{
	double end = it_now() + s, left;

	while ((left = end - it_now()) > 0)
		attack_step(a, left < 0.05 ? (int)(left * 1000) + 1 : 50);
}

/* ---- the normal client ------------------------------------------------------------------- */

struct normal {
	struct http_client *c;
	atomic_int stop;
	int rounds, failures;
	double max_s, sum_s;
	long first_bad_status;
	char first_bad[512];
};

/* One request; records its latency and whether it was the expected 200. */
static void
normal_request(struct normal *n, const char *method, const char *path, const char *body)
{
	struct http_resp r;
	double t0 = it_now(), dt;

	if (body)
		http_client_request(n->c, &r, method, path, "application/json", body, strlen(body),
				    NULL);
	else
		http_client_request(n->c, &r, method, path, NULL, NULL, 0, NULL);
	dt = it_now() - t0;
	n->sum_s += dt;
	if (dt > n->max_s)
		n->max_s = dt;
	if (r.status != 200 && n->failures++ == 0) {
		n->first_bad_status = r.status;
		snprintf(n->first_bad, sizeof(n->first_bad), "%s %s: %ld %.200s %.120s", method,
			 path, r.status, r.curl_error, r.body ? r.body : "");
	}
	http_resp_free(&r);
}

/* The normal client's loop: GET /healthz and POST /events (one new event), every 0.5 s. No
 * assertions here (not the test's thread): the main thread judges the numbers. */
static void *
normal_main(void *arg)
{
	struct normal *n = arg;

	while (!atomic_load(&n->stop)) {
		json_object *arr = json_object_new_array();
		char *body;

		json_object_array_add(arr,
				      it_event(NULL, "2008-04-04T12:00:00Z", "it-slowloris", NULL));
		body = strdup(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
		json_object_put(arr);
		normal_request(n, "GET", "/healthz", NULL);
		if (body)
			normal_request(n, "POST", "/events", body);
		free(body);
		n->rounds++;
		it_sleep(0.5);
	}
	return NULL;
}

/* ---- the test ---------------------------------------------------------------------------- */

struct census {
	int open, rejected, conn_msgs, bad; /* body tricklers after phase 1 */
	char why[512];			    /* the first bad answer */
	int trickling, open_end;	    /* bodies left trickling; of them open at the end */
	int still_head;			    /* header tricklers open too long at the end */
};

/* Classifies the body tricklers: still open (counted by limit_conn) or answered; an answer
 * must be the 429 JSON error. */
static void
body_census(struct attack *a, struct census *c)
{
	for (int i = 0; i < a->n; i++) {
		struct trickler *t = &a->t[i];
		const char *body = strstr(t->resp, "\r\n\r\n");

		if (t->kind != K_BODY || t->done)
			continue;
		if (t->state == S_OPEN || t->state == S_CONNECTING) {
			c->open++;
		} else if (body && strncmp(t->resp, "HTTP/1.1 429 ", 13) == 0 &&
			   strcasestr(t->resp, "\r\nContent-Type: application/json") &&
			   strcasestr(t->resp, "\r\nRetry-After: ") &&
			   strstr(body, "{\"error\":\"rate_limited\"")) {
			c->rejected++;
			c->conn_msgs += strstr(body, "connections") != NULL;
		} else if (c->bad++ == 0) {
			snprintf(c->why, sizeof(c->why), "state %d after %.1f s: %.300s",
				 (int)t->state, t->closed_at - t->opened,
				 t->resp_len ? t->resp : "(nothing)");
		}
	}
}

/* Ends trickler t (we close it; it takes no further part). */
static void
trickler_done(struct trickler *t)
{
	trickler_close(t);
	t->done = 1;
}

/* Phase 1: limit + NBODY_EXTRA bodies that trickle after a complete header, opened no faster
 * than the per-address request rate (so that limit_req, not tested here, refuses none). The
 * first `limit` must be in progress, the others refused at once; those are then closed. */
static void
phase_bodies(struct attack *a, struct census *c, int limit, int rps)
{
	double t0 = it_now();

	for (int i = 0; i < limit + NBODY_EXTRA; i++) {
		trickler_open(a, &a->t[a->n++], K_BODY);
		attack_run(a, 1.2 / rps);
	}
	attack_run(a, 1.0);
	body_census(a, c);
	fprintf(stderr,
		"slowloris: %d bodies trickling from " ATTACKER " (limit %d): %d in progress, %d "
		"refused with 429 (%d for connections), %d other, in %.1f s\n",
		limit + NBODY_EXTRA, limit, c->open, c->rejected, c->conn_msgs, c->bad,
		it_now() - t0);
	for (int i = 0; i < a->n; i++)
		if (a->t[i].state != S_OPEN && a->t[i].state != S_CONNECTING)
			trickler_done(&a->t[i]);
}

/* Phase 2: NSTALL bodies that stop after the header, in room made by closing as many trickling
 * ones. Phase 3: NHEAD headers that never end, coming back whenever nginx drops them. */
static void
phase_stalls_and_headers(struct attack *a, struct census *c)
{
	int closed = 0;

	for (int i = 0; i < a->n && closed < NSTALL; i++)
		if (a->t[i].kind == K_BODY && !a->t[i].done && a->t[i].state == S_OPEN) {
			trickler_done(&a->t[i]);
			closed++;
		}
	c->trickling = c->open - closed;
	attack_run(a, 0.3);
	for (int i = 0; i < NSTALL; i++)
		trickler_open(a, &a->t[a->n++], K_STALL);
	for (int i = 0; i < NHEAD; i++) {
		trickler_open(a, &a->t[a->n++], K_HEAD);
		if (i % 100 == 99)
			attack_step(a, 0);
	}
	attack_run(a, 1.0);
}

/* Phase 4: the normal client runs for ATTACK_S while the attack goes on. Returns how long it
 * ran. */
static double
phase_normal_client(struct attack *a, struct normal *n)
{
	double t0 = it_now();
	pthread_t th;

	n->c = http_client_new();
	http_client_set_interface(n->c, NORMAL);
	http_client_set_timeout(n->c, 10);
	cr_assert_eq(pthread_create(&th, NULL, normal_main, n), 0, "pthread_create");
	attack_run(a, ATTACK_S);
	atomic_store(&n->stop, 1);
	while (pthread_tryjoin_np(th, NULL) != 0) /* keep trickling until it is done */
		attack_step(a, 50);
	return it_now() - t0;
}

/* The end: the last tallies, and every socket closed. */
static void
attack_end(struct attack *a, struct census *c)
{
	double now = it_now();

	for (int i = 0; i < a->n; i++) {
		struct trickler *t = &a->t[i];

		if (t->done)
			continue;
		if (t->kind == K_BODY && t->state == S_OPEN)
			c->open_end++;
		if (t->kind == K_HEAD && t->state == S_OPEN &&
		    now - t->opened > a->head_timeout + SLACK_S)
			c->still_head++;
		trickler_done(t);
	}
}

static void
report(const struct attack *a, const struct census *c, const struct normal *base,
       const struct normal *n, double secs, int body_timeout)
{
	fprintf(stderr,
		"slowloris: %.1f s with %d header tricklers from " ATTACKER
		" (%ld connections opened, %ld dropped by nginx, %ld refused at connect, longest "
		"%.1f s; client_header_timeout %.0f s) and %d trickling bodies (%d still open at "
		"the end: nginx cannot bound a body that keeps coming)\n",
		secs, NHEAD, a->head_opened, a->head_closed, a->head_refused, a->head_max_life,
		a->head_timeout, c->trickling, c->open_end);
	fprintf(stderr,
		"slowloris: stalled bodies: %d of %d dropped, longest %.1f s (client_body_timeout "
		"%d s)\n",
		a->stall_closed, NSTALL, a->stall_max_life, body_timeout);
	fprintf(stderr,
		"slowloris: normal client from " NORMAL
		": %d rounds (GET /healthz + POST /events), %d failed, latency mean %.1f ms, max "
		"%.1f ms (before the attack: mean %.1f ms, max %.1f ms)\n",
		n->rounds, n->failures, n->rounds ? n->sum_s * 1000 / (2 * n->rounds) : 0.0,
		n->max_s * 1000, base->sum_s * 1000 / base->rounds, base->max_s * 1000);
}

Test(slowloris, slow_clients_do_not_starve_others, .timeout = 120)
{
	static struct attack a;
	struct census c = {0};
	struct normal base = {0}, n = {0};
	int limit = env_int("CONN_LIMIT_PER_ADDR", DEFAULT_CONN_LIMIT);
	int body_timeout = conf_seconds("client_body_timeout");
	struct http_resp r;
	double secs;

	cr_assert(limit >= NSTALL && limit <= 1000, "CONN_LIMIT_PER_ADDR %d: test needs 4..1000",
		  limit);
	raise_nofile((rlim_t)(NHEAD + limit + NBODY_EXTRA + NSTALL + 256));
	a.port = base_port();
	a.seed = (unsigned)getpid();
	a.head_timeout = conf_seconds("client_header_timeout");

	/* a baseline for the normal client's latency, before any attack */
	base.c = http_client_new();
	http_client_set_interface(base.c, NORMAL);
	http_client_set_timeout(base.c, 10);
	for (base.rounds = 0; base.rounds < 5; base.rounds++)
		normal_request(&base, "GET", "/healthz", NULL);

	phase_bodies(&a, &c, limit, env_int("RATE_LIMIT_RPS", DEFAULT_RATE_RPS));
	phase_stalls_and_headers(&a, &c);
	secs = phase_normal_client(&a, &n);
	attack_end(&a, &c);
	report(&a, &c, &base, &n, secs, body_timeout);

	cr_assert_eq(n.failures, 0,
		     "normal client: %d requests failed during the attack; first: %s", n.failures,
		     n.first_bad);
	cr_assert_leq(n.max_s, LATENCY_MAX_S,
		      "normal client: slowest request took %.1f s during the attack (at most %.0f "
		      "s expected)",
		      n.max_s, LATENCY_MAX_S);
	cr_assert_geq(n.rounds, (int)(ATTACK_S / 2),
		      "normal client: expected at least %d rounds in %.0f s, got %d",
		      (int)(ATTACK_S / 2), ATTACK_S, n.rounds);
	cr_assert_eq(c.bad, 0, "body tricklers: an answer other than the 429 JSON error: %s",
		     c.why);
	cr_assert_eq(c.open, limit,
		     "expected exactly %d (CONN_LIMIT_PER_ADDR) trickling bodies in progress "
		     "from " ATTACKER ", got %d",
		     limit, c.open);
	cr_assert_eq(c.rejected, NBODY_EXTRA,
		     "expected the %d connections over the limit refused with 429, got %d",
		     NBODY_EXTRA, c.rejected);
	cr_assert_gt(c.conn_msgs, 0, "expected the 429 to say it is about connections");
	cr_assert_geq(a.head_closed, NHEAD,
		      "expected nginx to drop each of the %d header tricklers at least once in "
		      "%.0f s (client_header_timeout %.0f s), it dropped %ld",
		      NHEAD, secs, a.head_timeout, a.head_closed);
	cr_assert_eq(a.head_late + c.still_head, 0,
		     "header tricklers: %d dropped and %d still open later than "
		     "client_header_timeout %.0f s + %.0f s (longest %.1f s)",
		     a.head_late, c.still_head, a.head_timeout, SLACK_S, a.head_max_life);
	cr_assert_eq(a.stall_closed, NSTALL,
		     "expected nginx to drop the %d stalled bodies, it dropped %d", NSTALL,
		     a.stall_closed);
	cr_assert_leq(a.stall_max_life, body_timeout + SLACK_S,
		      "stalled body dropped after %.1f s (client_body_timeout %d s)",
		      a.stall_max_life, body_timeout);

	/* afterwards the attacker's address is an ordinary client again */
	it_sleep(0.5);
	http_client_set_interface(base.c, ATTACKER);
	http_client_request(base.c, &r, "GET", "/healthz", NULL, NULL, 0, NULL);
	cr_assert_eq(r.status, 200, "GET /healthz from " ATTACKER " after the attack: %ld (%s)",
		     r.status, r.curl_error);
	http_resp_free(&r);
	http_client_free(base.c);
	http_client_free(n.c);
}
