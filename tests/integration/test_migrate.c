/* Migrations: applied once, in order, recorded with a checksum; an edited applied file is
 * refused; two migrators at once do not collide. Runs build/migrate against fresh databases
 * created in the throwaway cluster. */
#include "client.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <unistd.h>

/* DATABASE_URL with the database name replaced ("postgresql://u@/events?host=..."). */
static char *
url_for(const char *dbname)
{
	const char *url = getenv("DATABASE_URL");
	cr_assert(url, "DATABASE_URL is set");
	const char *slash = strstr(url, "@/");
	cr_assert(slash, "DATABASE_URL has the form postgresql://user@/db?...: %s", url);
	const char *q = strchr(slash, '?');
	char *out = malloc(strlen(url) + strlen(dbname) + 1);
	sprintf(out, "%.*s@/%s%s", (int)(slash - url), url, dbname, q ? q : "");
	return out;
}

static char *
fresh_db(void)
{
	char name[40], sql[96];
	char tag[9];
	it_hex(tag, 4);
	snprintf(name, sizeof name, "mig_%s", tag);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
	PGconn *db = db_open();
	PGresult *r = PQexec(db, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(db));
	PQclear(r);
	PQfinish(db);
	return strdup(name);
}

static void
drop_db(const char *name)
{
	char sql[96];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
	PGconn *db = db_open();
	PQclear(PQexec(db, sql));
	PQfinish(db);
}

/* Runs build/migrate [--dir dir] against url; returns its exit status, output in out. */
static int
run_migrate(const char *url, const char *dir, char *out, size_t cap)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "DATABASE_URL='%s' build/migrate %s%s 2>&1", url,
		 dir ? "--dir " : "", dir ? dir : "");
	FILE *p = popen(cmd, "r");
	cr_assert(p, "popen %s", cmd);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long long
count_in(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect %s", url);
	long long n = db_scalar_ll(c, sql, 0, NULL);
	PQfinish(c);
	return n;
}

Test(migrate, applies_once_and_records_checksums)
{
	char out[4096];
	char *name = fresh_db(), *url = url_for(name);
	cr_assert_eq(run_migrate(url, NULL, out, sizeof out), 0, "first run: %s", out);
	cr_expect(strstr(out, "applied 0001_init") != NULL, "first run applies 0001: %s", out);
	long long files = count_in(url, "SELECT count(*) FROM schema_migrations");
	cr_expect_geq(files, 1);
	cr_expect_eq(
	    count_in(url, "SELECT count(*) FROM schema_migrations WHERE length(checksum) = 32"),
	    files, "every migration recorded with an md5 checksum");
	cr_assert_eq(run_migrate(url, NULL, out, sizeof out), 0, "second run: %s", out);
	cr_expect(strstr(out, "0 applied") != NULL, "second run applies nothing: %s", out);
	drop_db(name);
	free(name);
	free(url);
}

Test(migrate, edited_applied_migration_is_refused)
{
	char out[4096], dir[] = "/tmp/events-mig-XXXXXX", cmd[512];
	char *name = fresh_db(), *url = url_for(name);
	cr_assert_eq(run_migrate(url, NULL, out, sizeof out), 0, "%s", out);
	cr_assert(mkdtemp(dir));
	snprintf(cmd, sizeof cmd,
		 "cp migrations/*.sql %s/ && echo '-- edited afterwards' >> %s/0001_init.sql", dir,
		 dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	int rc = run_migrate(url, dir, out, sizeof out);
	cr_expect_eq(rc, 1, "an edited applied migration must stop the migrator: %s", out);
	cr_expect(strstr(out, "0001_init") && strstr(out, "must not change"),
		  "the message names the file and says why: %s", out);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
	drop_db(name);
	free(name);
	free(url);
}

Test(migrate, concurrent_migrators_do_not_collide)
{
	char *name = fresh_db(), *url = url_for(name);
	pid_t pids[4];
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0) {
			setenv("DATABASE_URL", url, 1);
			if (!freopen("/dev/null", "w", stdout))
				_exit(126);
			execl("build/migrate", "migrate", (char *)NULL);
			_exit(127);
		}
	}
	for (int i = 0; i < 4; i++) {
		int st;
		cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "migrator %d exit status %d", i,
			  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	cr_expect_eq(
	    count_in(url, "SELECT count(*) FROM schema_migrations WHERE version = '0001_init'"), 1,
	    "applied exactly once");
	cr_expect_eq(count_in(url, "SELECT count(*) FROM pg_proc WHERE proname = 'ingest_merge'"),
		     1);
	drop_db(name);
	free(name);
	free(url);
}
