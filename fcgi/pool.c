/* pool.c: a small pre-fork supervisor (kcgi's kfcgi.c is the model). Signals are blocked
 * and taken synchronously with sigtimedwait, so there is no async-signal-safety to get
 * wrong: the loop is the only place anything happens.
 *
 * EVENTS_WORKER_WRAPPER (unset by default): a command the workers are started under, for the
 * leak checks, e.g. "valgrind --leak-check=full --log-file=/tmp/vg.%p" (make valgrind). It is
 * split at spaces (no quoting), looked up in PATH, and given the worker's own command line
 * ("EXE --worker SLOT") as its last arguments. */
#include "pool.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { POOL_MAX = 256, STOP_GRACE_S = 10, WRAPPER_ARGS_MAX = 64 };

/* The supervisor's scheduled runs of "EXE ARG", one at a time each (they drop to POOL_USER as
 * the workers do): the prune of raw events past the horizon, hourly (with
 * RAW_RETENTION_DAYS), and the fold of pending events into the zone-aware summaries every 2 s,
 * so that a read seldom has to fold first (ADR 7). */
enum { JOB_PRUNE, JOB_FOLD, JOBS };
static const struct job_kind {
	const char *arg, *name;
	double every_s;
} job_kinds[JOBS] = {{"--prune", "prune", 3600}, {"--fold", "fold", 2}};

struct pool {
	const char *exe;
	int n;
	pid_t slot[POOL_MAX];	  /* the current worker of each slot, 0 when none */
	pid_t retiring[POOL_MAX]; /* old workers finishing their last request after a reload */
	double started[POOL_MAX]; /* when each slot's worker started, for crash-loop backoff */
	int failures[POOL_MAX];	  /* quick deaths in a row */
	pid_t job[JOBS];	  /* the running run of each job_kinds[j], 0 when none */
	double job_started[JOBS]; /* when its last run started (0: never) */
	sigset_t mask;
};

/* In the child: becomes the worker of slot, under EVENTS_WORKER_WRAPPER when it is set.
 * Returns only when exec failed. */
static void
exec_worker(const char *exe, const char *slot)
{
	const char *wrapper = getenv("EVENTS_WORKER_WRAPPER");
	char *argv[WRAPPER_ARGS_MAX + 4], *copy, *save = NULL;
	int n = 0;
	if (wrapper && *wrapper && (copy = strdup(wrapper))) {
		for (char *w = strtok_r(copy, " ", &save); w && n < WRAPPER_ARGS_MAX;
		     w = strtok_r(NULL, " ", &save))
			argv[n++] = w;
	}
	if (n == 0) {
		execl(exe, exe, "--worker", slot, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
		return;
	}
	argv[n++] = (char *)exe;
	argv[n++] = "--worker";
	argv[n++] = (char *)slot;
	argv[n] = NULL;
	execvp(argv[0], argv);
	fprintf(stderr, "exec %s (EVENTS_WORKER_WRAPPER): %s\n", argv[0], strerror(errno));
}

static pid_t
spawn(struct pool *p, int i)
{
	char slot[16];
	pid_t pid = fork();
	if (pid < 0) {
		log_msg(LOGL_ERROR, "pool", "fork: %s", strerror(errno));
		return 0;
	}
	if (pid == 0) {
		sigprocmask(SIG_UNBLOCK, &p->mask, NULL);
		snprintf(slot, sizeof slot, "%d", i);
		exec_worker(p->exe, slot);
		_exit(127);
	}
	p->slot[i] = pid;
	p->started[i] = clock_mono_s();
	return pid;
}

static void
spawn_all(struct pool *p)
{
	for (int i = 0; i < p->n; i++)
		if (!p->slot[i])
			spawn(p, i);
}

static void
count_workers(const struct pool *p)
{
	int n = 0;
	for (int i = 0; i < p->n; i++)
		n += p->slot[i] != 0;
	metrics_set_workers(n);
}

/* Reaps every exited child; a slot whose worker died is refilled at once, unless it keeps
 * dying within a second of starting (then after a growing pause, so a broken binary or
 * config does not become a fork storm). */
static void
reap(struct pool *p, int stopping)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		int j = 0;
		while (j < JOBS && p->job[j] != pid)
			j++;
		if (j < JOBS) {
			p->job[j] = 0;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				log_msg(LOGL_WARN, "pool", "%s run %d failed (status %d)",
					job_kinds[j].name, (int)pid, status);
			continue;
		}
		for (int i = 0; i < POOL_MAX; i++) {
			if (p->retiring[i] == pid)
				p->retiring[i] = 0;
			if (p->slot[i] != pid)
				continue;
			p->slot[i] = 0;
			metrics_clear_db_role(i);
			if (WIFSIGNALED(status) || WEXITSTATUS(status) != 0)
				log_msg(LOGL_WARN, "pool", "worker %d (slot %d) %s %d", (int)pid, i,
					WIFSIGNALED(status) ? "killed by signal" : "exited with",
					WIFSIGNALED(status) ? WTERMSIG(status)
							    : WEXITSTATUS(status));
			p->failures[i] =
			    clock_mono_s() - p->started[i] < 1.0 ? p->failures[i] + 1 : 0;
		}
	}
	for (int i = 0; i < p->n && !stopping; i++) {
		if (p->slot[i])
			continue;
		if (p->failures[i] > 3 &&
		    clock_mono_s() - p->started[i] < (p->failures[i] > 10 ? 5.0 : 1.0))
			continue; /* retried by the next tick */
		spawn(p, i);
	}
	count_workers(p);
}

/* Starts a new worker for every slot, then asks the old ones to finish and exit. The new
 * ones accept on the same socket before the old ones stop, so no connection is refused. */
static void
reload(struct pool *p)
{
	int n = 0;
	for (int i = 0; i < p->n; i++) {
		pid_t old = p->slot[i];
		p->slot[i] = 0;
		if (!spawn(p, i)) {
			p->slot[i] = old; /* keep the old one rather than leave the slot empty */
			continue;
		}
		if (old) {
			for (int j = 0; j < POOL_MAX; j++)
				if (!p->retiring[j]) {
					p->retiring[j] = old;
					break;
				}
			kill(old, SIGTERM);
			n++;
		}
	}
	log_msg(LOGL_INFO, "pool", "reload: %d workers started from %s, %d retiring", p->n, p->exe,
		n);
}

static int
alive(const struct pool *p)
{
	int n = 0;
	for (int j = 0; j < JOBS; j++)
		n += p->job[j] != 0;
	for (int i = 0; i < POOL_MAX; i++)
		n += (p->slot[i] != 0) + (p->retiring[i] != 0);
	return n;
}

static void
signal_all(const struct pool *p, int sig)
{
	for (int j = 0; j < JOBS; j++)
		if (p->job[j])
			kill(p->job[j], sig);
	for (int i = 0; i < POOL_MAX; i++) {
		if (p->slot[i])
			kill(p->slot[i], sig);
		if (p->retiring[i])
			kill(p->retiring[i], sig);
	}
}

/* Drain: SIGTERM to every worker; each finishes its request and exits. */
static int
stop(struct pool *p)
{
	double deadline = clock_mono_s() + STOP_GRACE_S;
	struct timespec tick = {0, 100 * 1000 * 1000};
	signal_all(p, SIGTERM);
	while (alive(p) && clock_mono_s() < deadline) {
		(void)sigtimedwait(&p->mask, NULL, &tick);
		reap(p, 1);
	}
	if (alive(p)) {
		log_msg(LOGL_WARN, "pool", "%d workers still busy after %d s: killing", alive(p),
			STOP_GRACE_S);
		signal_all(p, SIGKILL);
		while (alive(p) && waitpid(-1, NULL, 0) > 0)
			reap(p, 1);
	}
	metrics_destroy();
	log_msg(LOGL_INFO, "pool", "stopped");
	return 0;
}

/* Starts the runs that are due: each job at start and every_s after its last start. */
static void
jobs_tick(struct pool *p, const struct conf *c)
{
	for (int j = 0; j < JOBS; j++) {
		pid_t pid;
		if ((j == JOB_PRUNE && !c->raw_retention_days) || p->job[j] ||
		    (p->job_started[j] > 0 &&
		     clock_mono_s() - p->job_started[j] < job_kinds[j].every_s))
			continue;
		p->job_started[j] = clock_mono_s();
		if ((pid = fork()) < 0) {
			log_msg(LOGL_ERROR, "pool", "fork: %s", strerror(errno));
			return;
		}
		if (pid == 0) {
			sigprocmask(SIG_UNBLOCK, &p->mask, NULL);
			execl(p->exe, p->exe, job_kinds[j].arg, (char *)NULL);
			fprintf(stderr, "exec %s %s: %s\n", p->exe, job_kinds[j].arg,
				strerror(errno));
			_exit(127);
		}
		p->job[j] = pid;
	}
}

int
pool_run(const struct conf *c, const char *exe)
{
	static struct pool p;
	struct timespec tick = {1, 0};
	p.exe = exe;
	p.n = c->workers;
	sigemptyset(&p.mask);
	sigaddset(&p.mask, SIGCHLD);
	sigaddset(&p.mask, SIGTERM);
	sigaddset(&p.mask, SIGINT);
	sigaddset(&p.mask, SIGHUP);
	sigaddset(&p.mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &p.mask, NULL);
	if (c->auth.n == 0)
		log_msg(
		    LOGL_WARN, "pool",
		    "no API keys configured (API_KEYS, API_KEYS_FILE): /events and /stats/* are "
		    "open to every client nginx lets through");
	else
		log_msg(LOGL_INFO, "pool", "%zu API keys configured", c->auth.n);
	/* a segment someone else planted (or that cannot be made) stops start-up: counters
	 * another account can forge or truncate are worse than none (metrics_create said why) */
	if (metrics_create(p.n) < 0) {
		log_msg(LOGL_ERROR, "pool", "no usable metrics segment: not starting");
		return 1;
	}
	spawn_all(&p);
	count_workers(&p);
	log_msg(LOGL_INFO, "pool", "started %d workers from %s", p.n, exe);
	for (;;) {
		int sig = sigtimedwait(&p.mask, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)
			return stop(&p);
		if (sig == SIGHUP)
			reload(&p);
		reap(&p, 0);
		jobs_tick(&p, c);
	}
}
