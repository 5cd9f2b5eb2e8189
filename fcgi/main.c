/* main.c: start-up. Without arguments this process is the pool supervisor (started by
 * spawn-fcgi -n with the listening socket as fd 0); with "--worker SLOT" it is one worker:
 * the libfcgi accept loop with its own database connection. */
#include "clock.h"
#include "conf.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "netlist.h"
#include "pool.h"
#include "privs.h"
#include "router.h"

#include <fcgiapp.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* A worker's access lines reach its log in batches, at most this late (README, Logs). */
enum { ACCESS_LOG_DELAY_MS = 250 };

static volatile sig_atomic_t stopping;

static void
on_term(int sig)
{
	(void)sig;
	stopping = 1;
	FCGX_ShutdownPending(); /* makes a blocked accept give up */
}

static void
access_log(const struct http_req *req)
{
	char msg[512];
	double ms = (clock_mono_s() - req->start) * 1000.0;
	/* an erased user's id stays out of the worker's log (nginx's access log still has it) */
	const char *path = req->route == ROUTE_USERS ? router_pattern(ROUTE_USERS) : req->path;
	struct log_field f[] = {
	    {"method", req->method, 0},
	    {"path", path, 0},
	    {"route", router_pattern(req->route), 0},
	    {"status", NULL, req->status},
	    {"duration_ms", NULL, (double)(long)(ms * 1000) / 1000},
	    {"request_id", req->request_id, 0},
	};
	snprintf(msg, sizeof msg, "access method=%s path=%.100s status=%d request_id=%s",
		 req->method, path, req->status, req->request_id);
	log_event(LOGL_INFO, "access", msg, f, sizeof f / sizeof f[0]);
}

static int
worker_run(const struct conf *c, int slot)
{
	struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: accept must return */
	struct app app = {.conf = c, .stripe = slot};
	FCGX_Request fr;
	char name[32];
	pid_t parent = getppid();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (metrics_attach(slot) < 0)
		log_msg(LOGL_WARN, "worker", "no shared-memory metrics (EVENTS_METRICS_SHM)");
	/* settings read, segment mapped: root is not needed for anything after this */
	if (privs_drop(getenv("POOL_USER")) < 0)
		return 1;
	prctl(PR_SET_PDEATHSIG, SIGTERM); /* the supervisor is gone: stop too (after setuid,
					     which clears it) */
	if (getppid() != parent)
		return 0; /* the supervisor died before the line above */
	if (log_defer(ACCESS_LOG_DELAY_MS) < 0)
		log_msg(LOGL_WARN, "worker", "access lines are written one by one (no thread)");
	if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, 0, 0) != 0) {
		log_msg(LOGL_ERROR, "worker", "libfcgi initialisation failed");
		return 1;
	}
	event_set_raw_horizon_days(c->raw_retention_days);
	snprintf(name, sizeof name, "events-fcgi/%d", slot);
	if (!(app.db = db_new(c->database_url, name, c->db_statement_timeout_ms)))
		return 1;
	db_set_limits(app.db, c->db_lock_timeout_ms, c->db_stats_timeout_ms);
	if (db_connect(app.db) != DB_OK) /* not fatal: requests answer 503 until it is back */
		log_msg(LOGL_WARN, "worker", "database not reachable at start: %s",
			db_last_error(app.db));
	metrics_set_db_role(db_role(app.db));
	log_msg(LOGL_DEBUG, "worker", "slot %d accepting", slot);
	while (!stopping && FCGX_Accept_r(&fr) >= 0) {
		struct http_req req;
		http_begin(&req, &fr);
		log_set_request_id(req.request_id);
		router_dispatch(&app, &req);
		access_log(&req); /* before Finish: req points into the request's parameters */
		metrics_observe(req.route, req.method, req.status, clock_mono_s() - req.start);
		metrics_set_db_role(db_role(app.db));
		FCGX_Finish_r(&fr);
		log_set_request_id(NULL);
		http_end(&req);
	}
	FCGX_Free(&fr, 1);
	db_close(app.db);
	log_flush();
	return 0;
}

/* --prune: removes the raw events past RAW_RETENTION_DAYS in batches, then exits (make
 * prune; the supervisor runs it hourly). Started as root, it first becomes POOL_USER. */
static int
prune_run(const struct conf *c)
{
	enum { BATCH = 10000 };
	struct db *db;
	int64_t n = 0, total = 0;
	enum db_status st;
	if (!c->raw_retention_days) {
		log_msg(LOGL_INFO, "prune", "RAW_RETENTION_DAYS is 0: raw events are kept");
		return 0;
	}
	if (privs_drop(getenv("POOL_USER")) < 0)
		return 1;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	static const char *const stmts[] = {"prune", NULL};
	if (!(db = db_new(c->database_url, "events-fcgi/prune", c->db_statement_timeout_ms)))
		return 1;
	db_only_statements(db, stmts);
	db_set_limits(db, c->db_lock_timeout_ms, 0);
	while ((st = db_prune(db, c->raw_retention_days, BATCH, &n)) == DB_OK && n > 0)
		total += n;
	if (st == DB_OK)
		log_msg(LOGL_INFO, "prune", "removed %lld raw events older than %d days",
			(long long)total, c->raw_retention_days);
	else
		log_msg(LOGL_ERROR, "prune", "stopped after %lld events: %s", (long long)total,
			db_last_error(db));
	db_close(db);
	return st == DB_OK ? 0 : 1;
}

/* --fold: folds the events pending for the zone-aware summaries (ADR 7), then exits (the
 * supervisor runs it every 2 s; reads fold what is left first). Started as root, it first
 * becomes POOL_USER. */
static int
fold_run(const struct conf *c)
{
	struct db *db;
	int64_t n = 0;
	enum db_status st;
	if (privs_drop(getenv("POOL_USER")) < 0)
		return 1;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	static const char *const stmts[] = {"analytics_fold_due",    "analytics_take",
					    "analytics_users_write", "analytics_sets_of",
					    "analytics_store",	     NULL};
	if (!(db = db_new(c->database_url, "events-fcgi/fold", c->db_statement_timeout_ms)))
		return 1;
	db_only_statements(db, stmts);
	db_set_limits(db, c->db_lock_timeout_ms, 0);
	st = db_analytics_fold_pending(db, &n);
	if (st == DB_OK && n > 0)
		log_msg(LOGL_DEBUG, "fold", "folded %lld pages of pending events", (long long)n);
	else if (st != DB_OK)
		log_msg(LOGL_WARN, "fold", "folding pending events failed: %s", db_last_error(db));
	db_close(db);
	return st == DB_OK ? 0 : 1;
}

/* The path workers are started from: the file now at the path this binary was started
 * from, so that a reload picks up a rebuilt binary. */
static int
self_path(const char *argv0, char out[PATH_MAX])
{
	if (strchr(argv0, '/') && realpath(argv0, out))
		return 0;
	ssize_t n = readlink("/proc/self/exe", out, PATH_MAX - 1);
	if (n <= 0)
		return -1;
	out[n] = '\0';
	return 0;
}

/* --check-config: the settings the workers read (conf_load already said what is wrong) and
 * the address lists nginx is configured from; one line per problem, exit 2 on any. */
static int
check_config(void)
{
	static const char *const lists[] = {"RATE_LIMIT_EXEMPT", "METRICS_ALLOW"};
	char why[256];
	int rc = 0;
	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
		const char *v = getenv(lists[i]);
		if (netlist_check(v, why, sizeof why) < 0) {
			fprintf(stderr, "%s=%s: %s\n", lists[i], v, why);
			rc = 2;
		}
	}
	return rc;
}

static const char help_head[] =
    "usage: spawn-fcgi -n -s SOCKET -- events-fcgi     the worker pool (tools/stack.sh up)\n"
    "       events-fcgi --check-config                check the settings, start nothing\n"
    "       events-fcgi --settings                    the settings table, tab-separated\n"
    "       events-fcgi --prune                       remove raw events past RAW_RETENTION_DAYS\n"
    "       events-fcgi --fold                        fold pending events into the zone-aware\n"
    "                                                 summaries (the supervisor runs it)\n"
    "       events-fcgi --help\n"
    "\n"
    "Started by spawn-fcgi -n with the listening FastCGI socket as fd 0, this process is the\n"
    "supervisor: it starts WORKERS workers (events-fcgi --worker SLOT), replaces any that die,\n"
    "replaces all on SIGHUP (reload) and drains them on SIGTERM. Each worker keeps one\n"
    "PostgreSQL connection. Started as root, the workers switch to POOL_USER once they\n"
    "have read their settings.\n"
    "\n"
    "Settings (environment):\n";

static const char help_tail[] =
    "\n"
    "Exit status: 0 stopped cleanly (or settings fine), 1 start-up failed, 2 bad settings or\n"
    "usage (one line per problem on stderr).\n";

/* --help: the settings part comes from conf.c's table. */
static void
print_help(FILE *f)
{
	size_t n;
	const struct conf_setting *s = conf_settings(&n);
	fputs(help_head, f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-24s %s%s%s%s\n  %-24s %s\n", s[i].name, s[i].doc,
			*s[i].def ? " (default " : "", s[i].def, *s[i].def ? ")" : "", "",
			s[i].range);
	fputs(help_tail, f);
}

int
main(int argc, char **argv)
{
	struct conf c;
	char exe[PATH_MAX];
	int type;
	socklen_t len = sizeof type;
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		print_help(stdout);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--settings")) {
		conf_print_settings(stdout);
		return 0;
	}
	if (conf_load(&c) < 0)
		return 2;
	log_set_level(c.log_level);
	if (argc == 3 && strcmp(argv[1], "--worker") == 0)
		return worker_run(&c, atoi(argv[2]));
	if (argc == 2 && strcmp(argv[1], "--check-config") == 0)
		return check_config();
	if (argc == 2 && strcmp(argv[1], "--prune") == 0)
		return prune_run(&c);
	if (argc == 2 && strcmp(argv[1], "--fold") == 0)
		return fold_run(&c);
	if (argc != 1) {
		fprintf(stderr, "usage: spawn-fcgi -n -s SOCKET -- %s\n", argv[0]);
		return 2;
	}
	if (getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
		fprintf(stderr, "%s: fd 0 is not a listening socket; start it with spawn-fcgi -n\n",
			argv[0]);
		return 2;
	}
	if (self_path(argv[0], exe) < 0) {
		fprintf(stderr, "%s: cannot find my own path\n", argv[0]);
		return 2;
	}
	auth_warn_file_mode(&c.auth); /* once, here: the workers load the same file again */
	return pool_run(&c, exe);
}
