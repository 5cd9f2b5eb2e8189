/* Least privilege of the embedded stack (security review points 2, 3, 11): workers are not
 * root, the FastCGI socket is reachable only by nginx's group and the pool's account, the
 * database accepts only the stack's own accounts and the service role is not a superuser, and
 * a malformed security setting stops start-up before anything starts. As root (CI) the checks
 * are about the separate accounts; as another user about that user alone. */
#include "client.h"

#include <criterion/criterion.h>

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Real, effective, saved and file-system uid of pid from /proc/PID/status. */
static void
proc_uids(pid_t pid, long uids[4])
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert(f, "open %s", path);
	uids[0] = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Uid: %ld %ld %ld %ld", &uids[0], &uids[1], &uids[2], &uids[3]) ==
		    4)
			break;
	fclose(f);
	cr_assert_neq(uids[0], -1, "no Uid line in %s", path);
}

/* A value of the stack's state file ($EVENTS_VAR_DIR/run/stack.env), malloc'd. */
static char *
stack_state(const char *key)
{
	char path[512], line[1024];
	const char *var = getenv("EVENTS_VAR_DIR");
	size_t n = strlen(key);
	char *out = NULL;
	cr_assert(var, "EVENTS_VAR_DIR is set (run through tests/integration/run.sh)");
	snprintf(path, sizeof path, "%s/run/stack.env", var);
	FILE *f = fopen(path, "r");
	cr_assert(f, "open %s", path);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, n) == 0 && line[n] == '=') {
			line[strcspn(line, "\n")] = '\0';
			free(out);
			out = strdup(line + n + 1);
		}
	fclose(f);
	cr_assert(out, "%s not in %s", key, path);
	return out;
}

/* DATABASE_URL with the user part replaced by role. */
static char *
url_as(const char *role)
{
	const char *url = getenv("DATABASE_URL");
	cr_assert(url, "DATABASE_URL is set");
	const char *at = strstr(url, "@/");
	cr_assert(at && strncmp(url, "postgresql://", 13) == 0, "embedded URL form: %s", url);
	char *out = malloc(strlen(url) + strlen(role) + 16);
	sprintf(out, "postgresql://%s%s", role, at);
	return out;
}

/* In a child switched to the OS account user: connects to url; returns 1 when the
 * connection was made, 0 when it was refused. */
static int
connects_as_account(const char *user, const char *url)
{
	struct passwd *pw = getpwnam(user);
	cr_assert(pw, "account %s exists", user);
	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork");
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
			_exit(3);
		PGconn *c = PQconnectdb(url);
		int ok = PQstatus(c) == CONNECTION_OK;
		PQfinish(c);
		_exit(ok ? 1 : 0);
	}
	int st = 0;
	cr_assert_eq(waitpid(pid, &st, 0), pid, "waitpid");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 3, "could not switch to %s", user);
	return WEXITSTATUS(st);
}

Test(privileges, workers_are_not_root)
{
	pid_t pids[64];
	int n = it_pool_workers(it_pool_pid(), pids, 64);
	cr_assert_gt(n, 0, "the pool has workers");
	for (int i = 0; i < n; i++) {
		long u[4];
		proc_uids(pids[i], u);
		for (int k = 0; k < 4; k++) {
			if (geteuid() == 0)
				cr_expect_neq(u[k], 0, "worker %d runs with uid 0 (field %d)",
					      (int)pids[i], k);
			else
				cr_expect_eq(u[k], (long)geteuid(), "worker %d uid", (int)pids[i]);
		}
	}
}

Test(privileges, fcgi_socket_only_for_nginx_and_pool)
{
	char *sock = stack_state("FCGI_SOCK");
	struct stat st;
	cr_assert_eq(stat(sock, &st), 0, "stat %s", sock);
	cr_assert(S_ISSOCK(st.st_mode), "%s is a socket", sock);
	if (geteuid() == 0) {
		struct group *g = getgrnam("www-data");
		cr_assert(g, "group www-data exists");
		cr_expect_eq(st.st_mode & 07777, 0660, "%s mode %o, expected 0660", sock,
			     (unsigned)(st.st_mode & 07777));
		cr_expect_neq(st.st_uid, 0, "%s is not owned by root", sock);
		cr_expect_eq(st.st_gid, g->gr_gid, "%s belongs to nginx's group", sock);
	} else {
		cr_expect_eq(st.st_mode & 07777, 0600, "%s mode %o, expected 0600", sock,
			     (unsigned)(st.st_mode & 07777));
	}
	free(sock);
}

/* The workers' own sessions, seen from the owner's connection. */
Test(privileges, service_role_is_not_a_superuser)
{
	PGconn *db = db_open();
	long long n =
	    db_scalar_ll(db,
			 "SELECT count(*) FROM pg_stat_activity a JOIN pg_roles r"
			 " ON r.rolname = a.usename WHERE a.application_name LIKE"
			 " 'events-fcgi/%' AND NOT r.rolsuper AND a.usename = 'events_app'",
			 0, NULL);
	long long all = db_scalar_ll(db,
				     "SELECT count(*) FROM pg_stat_activity WHERE application_name"
				     " LIKE 'events-fcgi/%'",
				     0, NULL);
	cr_assert_gt(all, 0, "the workers are connected");
	cr_expect_eq(n, all, "every worker session is events_app, not a superuser (%lld of %lld)",
		     n, all);
	PQfinish(db);

	/* what the service role may not do */
	char *app = url_as("events_app");
	PGconn *c = PQconnectdb(app);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect as events_app: %s", PQerrorMessage(c));
	static const char *const refused[] = {
	    "CREATE TABLE privileges_probe (a int)", "TRUNCATE events",
	    "DELETE FROM schema_migrations",	     "ALTER TABLE events ADD COLUMN probe int",
	    "CREATE SCHEMA privileges_probe",	     "COPY events TO PROGRAM 'true'",
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		PGresult *r = PQexec(c, refused[i]);
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		cr_expect(PQresultStatus(r) == PGRES_FATAL_ERROR && state &&
			      strcmp(state, "42501") == 0,
			  "events_app may not: %s (got %s %s)", refused[i],
			  PQresStatus(PQresultStatus(r)), state ? state : "-");
		PQclear(r);
	}
	/* and what it needs: its functions and DML */
	PGresult *r = PQexec(c, "SELECT count(*) FROM events");
	cr_expect_eq(PQresultStatus(r), PGRES_TUPLES_OK, "events_app reads events: %s",
		     PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);

	char *ro = url_as("events_ro");
	c = PQconnectdb(ro);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect as events_ro: %s", PQerrorMessage(c));
	r = PQexec(c, "DELETE FROM type_counts");
	cr_expect_eq(PQresultStatus(r), PGRES_FATAL_ERROR, "events_ro cannot write");
	PQclear(r);
	r = PQexec(c, "SELECT count(*) FROM type_counts");
	cr_expect_eq(PQresultStatus(r), PGRES_TUPLES_OK, "events_ro reads: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	free(app);
	free(ro);
}

/* Another local account reaches neither the owner nor the service role (the review's
 * su nobody -c "psql ... -c 'show is_superuser'" answered "on"). */
Test(privileges, other_accounts_cannot_connect)
{
	if (geteuid() != 0) {
		/* a single-user stack: the socket directory is ours alone */
		char *url = getenv("DATABASE_URL");
		const char *h = strstr(url, "host=");
		cr_assert(h, "socket dir in %s", url);
		char dir[512];
		snprintf(dir, sizeof dir, "%.*s", (int)strcspn(h + 5, "&"), h + 5);
		struct stat st;
		cr_assert_eq(stat(dir, &st), 0, "stat %s", dir);
		cr_expect_eq(st.st_mode & 077, 0, "%s is closed to others", dir);
		return;
	}
	static const char *const roles[] = {"events", "events_app", "events_ro", "postgres"};
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		char *url = url_as(roles[i]);
		cr_expect_eq(connects_as_account("nobody", url), 0, "nobody connected as %s",
			     roles[i]);
		if (strcmp(roles[i], "events_app") != 0)
			cr_expect_eq(connects_as_account("eventsd", url), 0,
				     "the pool's account connected as %s", roles[i]);
		free(url);
	}
	char *app = url_as("events_app");
	cr_expect_eq(connects_as_account("eventsd", app), 1,
		     "the pool's account connects as events_app");
	free(app);
}

/* A malformed security setting stops start-up with one clear line before anything starts. */
static void
refused_before_start(const char *env, const char *needle)
{
	char dir[] = "/tmp/events-it-settings.XXXXXX", cmd[1024], out[4096];
	cr_assert(mkdtemp(dir), "mkdtemp");
	snprintf(cmd, sizeof cmd, "%s VAR_DIR=%s PORT=1 tools/stack.sh up 2>&1", env, dir);
	FILE *p = popen(cmd, "r");
	cr_assert(p, "popen");
	size_t n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) != 0, "%s: start-up refused (exit %d)\n%s", env,
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
	cr_expect(strstr(out, needle), "%s: the message names %s:\n%s", env, needle, out);
	char pg[600];
	snprintf(pg, sizeof pg, "%s/pg/data/PG_VERSION", dir);
	cr_expect_neq(access(pg, F_OK), 0, "%s: no cluster was created", env);
	snprintf(cmd, sizeof cmd, "VAR_DIR=%s tools/stack.sh down >/dev/null 2>&1; rm -rf %s", dir,
		 dir);
	cr_expect_eq(system(cmd), 0, "clean up %s", dir);
}

/* 14 runs of stack.sh (7 refused starts, 7 clean-ups): ~10 s alone, over 60 s on a loaded machine
 */
Test(privileges, malformed_address_lists_stop_start_up, .timeout = 240)
{
	refused_before_start("RATE_LIMIT_EXEMPT=notanip", "RATE_LIMIT_EXEMPT");
	refused_before_start("METRICS_ALLOW='10.0.0.0/8 300.1.1.1'", "METRICS_ALLOW");
	refused_before_start("METRICS_ALLOW=10.0.0.0/33", "METRICS_ALLOW");
	refused_before_start("RATE_LIMIT_EXEMPT='::1 fe80::/129'", "RATE_LIMIT_EXEMPT");
	refused_before_start("LOG_LEVEL=verbose", "LOG_LEVEL");
	/* a space where a colon was meant: "ingest" would have become a key with every scope */
	refused_before_start("API_KEYS='fk2-a-long-enough-key ingest'", "API_KEYS entry 2");
	refused_before_start("API_KEYS_FILE=/dev/null", "API_KEYS_FILE");
}

/* import_events without DATABASE_URL finds the embedded database through the service file the
 * stack writes, never by running a script: a tools/stack.sh planted in the current directory
 * (and none beside the binary) is not executed (review point 9). */
Test(privileges, loader_runs_no_script_it_finds, .timeout = 60)
{
	char dir[] = "/tmp/events-it-planted.XXXXXX", cmd[2048], out[4096], marker[600];
	cr_assert(mkdtemp(dir), "mkdtemp");
	snprintf(marker, sizeof marker, "%s/ran", dir);
	snprintf(cmd, sizeof cmd,
		 "mkdir -p %s/tools %s/build && cp build/import_events %s/build/ &&"
		 " printf '#!/bin/sh\\ntouch %s\\necho export DATABASE_URL=x\\n' >%s/tools/stack.sh"
		 " && chmod +x %s/tools/stack.sh",
		 dir, dir, dir, marker, dir, dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	snprintf(cmd, sizeof cmd,
		 "cd %s && env -u DATABASE_URL -u VAR_DIR -u PGSERVICE -u PGSERVICEFILE"
		 " ./build/import_events - </dev/null 2>&1",
		 dir);
	FILE *p = popen(cmd, "r");
	cr_assert(p, "popen");
	size_t n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	cr_expect_neq(access(marker, F_OK), 0, "import_events ran a planted tools/stack.sh");
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit 1 without a database:\n%s", out);
	cr_expect(strstr(out, "no database"), "one human message:\n%s", out);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);

	/* a database that is down: one message in words, no JSON log line before it */
	p = popen("DATABASE_URL='postgresql://events@/events?host=/nonexistent-events-dir'"
		  " build/import_events - </dev/null 2>&1",
		  "r");
	cr_assert(p, "popen");
	n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	st = pclose(p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit 1 with the database down:\n%s", out);
	cr_expect(strncmp(out, "import_events: no database", 26) == 0 && !strstr(out, "\"ts\""),
		  "one human message first, no JSON log line:\n%s", out);

	/* the stack's own service file: the sample loads (as the service role) */
	snprintf(cmd, sizeof cmd,
		 "env -u DATABASE_URL VAR_DIR=%s build/import_events --dry-run %s 2>&1",
		 getenv("EVENTS_VAR_DIR"), getenv("EVENTS_SAMPLE_CSV"));
	p = popen(cmd, "r");
	cr_assert(p, "popen");
	n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	cr_expect_eq(pclose(p), 0, "dry run through the service file:\n%s", out);
	cr_expect(strstr(out, "\"read\":5000"), "read the sample: %s", out);
}
