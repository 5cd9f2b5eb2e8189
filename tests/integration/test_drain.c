/* make stop drains: a request in flight when the stack is told to stop is answered, then
 * everything exits. On a second stack, so the one the other suites use keeps running. */
#include "client.h"

#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct it_side_stack side;

static void
down(void)
{
	it_side_stack_down(&side);
}

struct inflight {
	char url[256];
	struct http_resp r;
};

static void *
send_request(void *arg)
{
	struct inflight *f = arg;
	struct http_client *c = http_client_new();
	http_client_set_timeout(c, 30);
	(void)http_client_get_url(c, &f->r, f->url);
	http_client_free(c);
	return NULL;
}

static long
read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	long pid = 0;
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return pid;
}

/* Gone, or a zombie nobody reaped (the stack's processes are not our children). */
static int
exited(long pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] == 'Z';
}

Test(drain, stop_answers_requests_in_flight, .fini = down, .timeout = 90)
{
	char path[128], cmd[256];
	struct inflight f = {0};
	pthread_t t;
	it_side_stack_up(&side, NULL);
	snprintf(path, sizeof path, "%s/run/pool.pid", side.var_dir);
	long pool = read_pid(path);
	snprintf(path, sizeof path, "%s/run/nginx.pid", side.var_dir);
	long nginx = read_pid(path);
	cr_assert(pool > 0 && nginx > 0, "pid files of the side stack");

	/* hold the stats query inside PostgreSQL until we let go (the supervisors' fold runs,
	 * events-fcgi/fold, wait on the lock too when they prepare their statements: only
	 * workers, events-fcgi/<slot>, count) */
	PGconn *db = db_open();
	PQclear(PQexec(db, "BEGIN"));
	PGresult *r = PQexec(db, "LOCK TABLE day_sets IN ACCESS EXCLUSIVE MODE");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(db));
	PQclear(r);
	snprintf(f.url, sizeof f.url, "http://127.0.0.1:%d/stats/dau?from=2005-01-01&to=2005-01-02",
		 side.port);
	cr_assert_eq(pthread_create(&t, NULL, send_request, &f), 0);
	long waiting = 0;
	for (int i = 0; i < 100 && waiting == 0; i++) {
		usleep(50 * 1000);
		waiting = db_scalar_ll(
		    db,
		    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
		    " AND application_name ~ '^events-fcgi/[0-9]+$'",
		    0, NULL);
	}
	cr_assert_eq(waiting, 1, "the request is waiting on the lock inside a worker");

	/* stop the stack while the request is in flight */
	pid_t stopper = fork();
	cr_assert_geq(stopper, 0);
	if (stopper == 0) {
		snprintf(cmd, sizeof cmd, "VAR_DIR=%s tools/stack.sh down >/dev/null 2>&1",
			 side.var_dir);
		_exit(system(cmd) == 0 ? 0 : 1);
	}
	sleep(1);
	cr_expect_eq(waitpid(stopper, NULL, WNOHANG), 0, "stop waits for the request in flight");
	PQclear(PQexec(db, "COMMIT")); /* let the query finish */
	cr_assert_eq(pthread_join(t, NULL), 0);
	int st = -1;
	cr_assert_eq(waitpid(stopper, &st, 0), stopper);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tools/stack.sh down succeeded");
	cr_expect_eq(f.r.status, 200, "the request in flight was answered: %ld %s", f.r.status,
		     f.r.body ? f.r.body : f.r.curl_error);
	cr_expect(exited(pool), "the pool supervisor %ld has exited", pool);
	cr_expect(exited(nginx), "nginx %ld has exited", nginx);
	http_resp_free(&f.r);
	PQfinish(db);
}
