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

/* Runs build/migrate [--dir dir] [args] against url; returns its exit status, output in out. */
static int
run_migrate_args(const char *url, const char *dir, const char *args, char *out, size_t cap)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "DATABASE_URL='%s' build/migrate %s%s %s 2>&1", url,
		 dir ? "--dir " : "", dir ? dir : "", args ? args : "");
	FILE *p = popen(cmd, "r");
	cr_assert(p, "popen %s", cmd);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
run_migrate(const char *url, const char *dir, char *out, size_t cap)
{
	return run_migrate_args(url, dir, NULL, out, cap);
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
	/* the current form and the one-argument form kept for older binaries, once each */
	cr_expect_eq(count_in(url, "SELECT count(*) FROM pg_proc WHERE proname = 'ingest_merge'"),
		     2);
	cr_expect_eq(count_in(url, "SELECT count(DISTINCT pronargs) FROM pg_proc"
				   " WHERE proname = 'ingest_merge'"),
		     2);
	drop_db(name);
	free(name);
	free(url);
}

/* Stages n random events of users mg1..mg800 in [start, start + days) and merges them with
 * whatever ingest_merge() the database has (the one of the migrations applied so far). */
static void
load_via_merge(PGconn *c, int n, const char *start, int days, double seed)
{
	char sql[1024];
	snprintf(
	    sql, sizeof sql,
	    "BEGIN; SELECT ingest_session_init(); SELECT setseed(%g);"
	    " INSERT INTO ingest_stage (event_id, occurred_at, user_id, event_type, properties, "
	    "ord)"
	    " SELECT gen_random_uuid(),"
	    "  '%s'::timestamptz + random() * %d * interval '1 day',"
	    "  'mg' || (1 + floor(random() * 800))::int, 'e' || floor(random() * 5)::int, '{}', g"
	    " FROM generate_series(1, %d) g;"
	    " SELECT ingest_merge(0); COMMIT",
	    seed, start, days, n);
	PGresult *r = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
	PQclear(r);
}

/* An existing database upgrades: events merged under 0001+0002 (no retention summary yet),
 * then the remaining migrations build the summaries from what is stored (0011's backfill) and
 * drop the UTC-only ones (0016); a second load that moves users to earlier cohorts keeps them
 * equal to a recomputation. */
Test(migrate, upgrade_builds_summaries_of_stored_data, .timeout = 240)
{
	char out[4096], dir[] = "/tmp/events-mig-XXXXXX", cmd[256];
	char *name = fresh_db(), *url = url_for(name);
	cr_assert(mkdtemp(dir));
	snprintf(cmd, sizeof cmd, "cp migrations/0001_*.sql migrations/0002_*.sql %s/", dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	cr_assert_eq(run_migrate(url, dir, out, sizeof out), 0, "%s", out);
	PGconn *c = PQconnectdb(url);
	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	cr_assert_eq(db_scalar_ll(c,
				  "SELECT count(*) FROM pg_tables"
				  " WHERE tablename = 'retention_cells'",
				  0, NULL),
		     0, "0001+0002 only");
	load_via_merge(c, 20000, "2019-03-01", 60, 0.25);
	cr_assert_eq(db_scalar_ll(c, "SELECT count(*) FROM events", 0, NULL), 20000);

	cr_assert_eq(run_migrate(url, NULL, out, sizeof out), 0, "upgrade: %s", out);
	cr_expect(strstr(out, "applied 0003") != NULL, "the upgrade applies 0003: %s", out);
	cr_expect(strstr(out, "analytics backfill done") != NULL, "0011's backfill: %s", out);
	cr_expect(strstr(out, "applied 0016") != NULL, "the upgrade applies 0016: %s", out);
	cr_assert_eq(db_scalar_ll(c,
				  "SELECT count(*) FROM pg_tables WHERE tablename IN ('user_days',"
				  " 'users', 'daily_users', 'daily_event_types', 'retention_cells',"
				  " 'pruned_user_types')",
				  0, NULL),
		     0, "0016 drops the UTC-only summaries");
	it_check_summaries(c);

	/* earlier days for the same users: their cohorts move */
	PQfinish(c);
	c = PQconnectdb(url); /* a new session: the new staging tables */
	load_via_merge(c, 6000, "2019-02-10", 25, 0.5);
	cr_assert_eq(db_scalar_ll(c, "SELECT count(*) FROM events", 0, NULL), 26000);
	it_check_summaries(c); /* folds the second load first */
	cr_expect_gt(db_scalar_ll(c,
				  "SELECT count(*) FROM user_keys k"
				  " WHERE k.fqs[array_position(k.ftypes, '')]"
				  "  < extract(epoch FROM timestamptz '2019-03-01') / 900"
				  " AND k.user_id IN (SELECT user_id FROM events"
				  "  WHERE occurred_at >= '2019-03-01')",
				  0, NULL),
		     100, "the second load moved users to earlier cohorts");
	PQfinish(c);

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
	drop_db(name);
	free(name);
	free(url);
}

/* A temp directory (path written to dir, room for 32) with the real migrations and one more,
 * 9000_lock_test, that ALTERs events: it needs events' ACCESS EXCLUSIVE lock. */
static void
dir_with_alter(char *dir)
{
	char cmd[256];
	strcpy(dir, "/tmp/events-mig-XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(cmd, sizeof cmd,
		 "cp migrations/*.sql %s/ && echo 'ALTER TABLE events ADD COLUMN lock_test int;'"
		 " > %s/9000_lock_test.sql",
		 dir, dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void
rm_dir(const char *dir)
{
	char cmd[64];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

/* One digest of the users' first quarters: rows (ukey, event_type, first_q) of user_firsts
 * (0014) or of user_keys (0015). */
static void
firsts_digest(PGconn *c, const char *rows, char *out, size_t len)
{
	char sql[512];
	snprintf(sql, sizeof sql,
		 "SELECT md5(string_agg(ukey || '|' || event_type || '|' || first_q, ','"
		 " ORDER BY ukey, event_type COLLATE \"C\")) FROM %s x",
		 rows);
	PGresult *r = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

/* 0015 moves each user's first quarters from user_firsts into its user_keys row. The first
 * quarters 0014's fold kept (here its SQL part alone, analytics_fold: this binary folds with
 * 0015's functions), late events that moved them included, come out the same, and the
 * worker's fold goes on from the moved rows: earlier events of the same users move their
 * firsts again, equal to the events' after the fold. */
Test(migrate, user_rows_keep_the_first_quarters, .timeout = 240)
{
	char out[4096], dir[] = "/tmp/events-mig-XXXXXX", cmd[256], before[64], after[64];
	char *name = fresh_db(), *url = url_for(name);
	cr_assert(mkdtemp(dir));
	/* 0001-0014 only: the upgrade then applies 0015 and every later one, in order */
	snprintf(cmd, sizeof cmd, "cp migrations/000*.sql migrations/001[0-4]_*.sql %s/", dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	cr_assert_eq(run_migrate(url, dir, out, sizeof out), 0, "%s", out);
	PGconn *c = PQconnectdb(url);
	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	static const char *const fold = "SELECT count(*) FROM analytics_fold(0, 1000000)";
	load_via_merge(c, 20000, "2019-03-01", 60, 0.25);
	PQclear(it_db_query(c, fold, 0, NULL));
	load_via_merge(c, 5000, "2019-02-20", 20, 0.5);
	PQclear(it_db_query(c, fold, 0, NULL));
	cr_assert_eq(db_scalar_ll(c, "SELECT count(*) FROM analytics_pending", 0, NULL), 0);
	cr_assert_gt(
	    db_scalar_ll(c, "SELECT count(*) FROM user_firsts WHERE event_type <> ''", 0, NULL),
	    3000, "0014's layout: a row per (user, type)");
	firsts_digest(c, "user_firsts", before, sizeof before);

	cr_assert_eq(run_migrate(url, NULL, out, sizeof out), 0, "upgrade: %s", out);
	cr_expect(strstr(out, "applied 0015") != NULL, "the upgrade applies 0015: %s", out);
	firsts_digest(c,
		      "(SELECT k.ukey, f.ty AS event_type, f.q AS first_q"
		      " FROM user_keys k, unnest(k.ftypes, k.fqs) f(ty, q))",
		      after, sizeof after);
	cr_expect_str_eq(after, before, "the first quarters are those 0014 kept");
	cr_expect_eq(db_scalar_ll(c, "SELECT (to_regclass('user_firsts') IS NULL)::int", 0, NULL),
		     1);
	it_check_user_firsts(c, 0);

	PQfinish(c);
	c = PQconnectdb(url); /* a new session */
	load_via_merge(c, 6000, "2019-02-10", 25, 0.75);
	it_check_user_firsts(c, 1);
	PQfinish(c);
	rm_dir(dir);
	drop_db(name);
	free(name);
	free(url);
}

/* A session of url holding events in ACCESS SHARE mode (a long reader) until PQfinish. */
static PGconn *
long_reader(const char *url)
{
	PGconn *c = PQconnectdb(url);
	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	PGresult *r = PQexec(c, "BEGIN; LOCK TABLE events IN ACCESS SHARE MODE");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
	PQclear(r);
	return c;
}

/* Seconds one INSERT into events took in a new session of url (at most 8: its own
 * statement_timeout); -1 when it failed. */
static double
timed_insert(const char *url)
{
	PGconn *c = PQconnectdb(url);
	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	PQclear(PQexec(c, "SET statement_timeout = 8000"));
	double t0 = it_now();
	PGresult *r = PQexec(c, "INSERT INTO events (event_id, occurred_at, user_id, event_type)"
				" VALUES (gen_random_uuid(), now(), 'mig-writer', 'w')");
	double dt = PQresultStatus(r) == PGRES_COMMAND_OK ? it_now() - t0 : -1;
	if (dt < 0)
		cr_log_warn("insert during the migration: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return dt;
}

/* The migrator waits for a lock at most its lock timeout (2 s by default) at a time, so a
 * writer queued behind its ALTER is not stalled longer than that; it retries with a pause,
 * and succeeds once the lock is free within its budget. */
Test(migrate, waits_for_locks_without_stalling_writers, .timeout = 120)
{
	char out[4096], dir[32], path[64];
	char *name = fresh_db(), *url = url_for(name);
	cr_assert_eq(run_migrate(url, NULL, out, sizeof out), 0, "%s", out);
	dir_with_alter(dir);
	snprintf(path, sizeof path, "%s/out.txt", dir);
	PGconn *reader = long_reader(url);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		setenv("DATABASE_URL", url, 1);
		if (!freopen(path, "w", stdout) || dup2(fileno(stdout), 2) < 0)
			_exit(126);
		execl("build/migrate", "migrate", "--dir", dir, (char *)NULL);
		_exit(127);
	}
	it_sleep(
	    0.5); /* the ALTER now waits behind the reader, and a writer would wait behind it */
	double dt = timed_insert(url);
	cr_expect(dt >= 0 && dt < 3.0, "a writer waited %.2f s behind the migrator (-1: failed)",
		  dt);
	it_sleep(3.0);
	PQfinish(reader); /* the lock goes within the migrator's retry budget */
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
	out[n] = '\0';
	if (f)
		fclose(f);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "migrate exit status %d: %s",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
	cr_expect(strstr(out, "applied 9000_lock_test") != NULL, "%s", out);
	cr_expect(strstr(out, "lock") != NULL, "the retries are reported: %s", out);
	cr_expect_eq(count_in(url, "SELECT count(*) FROM information_schema.columns"
				   " WHERE table_name = 'events' AND column_name = 'lock_test'"),
		     1);
	rm_dir(dir);
	drop_db(name);
	free(name);
	free(url);
}

/* A lock that stays taken: the migrator gives up after its attempts with a clear message,
 * nothing of the migration applied or recorded. */
Test(migrate, gives_up_cleanly_when_locks_stay_taken, .timeout = 120)
{
	char out[4096], dir[32];
	char *name = fresh_db(), *url = url_for(name);
	cr_assert_eq(run_migrate(url, NULL, out, sizeof out), 0, "%s", out);
	dir_with_alter(dir);
	PGconn *reader = long_reader(url);
	double t0 = it_now();
	int rc = run_migrate_args(url, dir, "--lock-timeout 300 --attempts 3", out, sizeof out);
	double took = it_now() - t0;
	PQfinish(reader);
	cr_expect_eq(rc, 1, "a migration that cannot get its locks fails: %s", out);
	cr_expect(strstr(out, "9000_lock_test") && strstr(out, "lock") && strstr(out, "3 attempts"),
		  "the message names the migration, the cause and the attempts: %s", out);
	cr_expect_lt(took, 10.0, "gave up after %.1f s", took);
	cr_expect_eq(count_in(url, "SELECT count(*) FROM schema_migrations"
				   " WHERE version = '9000_lock_test'"),
		     0);
	cr_expect_eq(count_in(url, "SELECT count(*) FROM information_schema.columns"
				   " WHERE table_name = 'events' AND column_name = 'lock_test'"),
		     0);
	rm_dir(dir);
	drop_db(name);
	free(name);
	free(url);
}

/* The week-bucket rule (retention_week_starts, 0006) counts each (user, bucket) exactly once:
 * over whole day lists (erasure, a moved user: prev = the day before, no next), and when new
 * days join days already counted (the merge's incremental path: prev = any earlier day, next
 * = the earliest counted day after). Compared with the definition: a user is in bucket
 * [s, s + 6] when one of its days is. Random day lists, several densities. */
Test(migrate, week_rule_counts_each_bucket_once)
{
	char out[4096];
	char *name = fresh_db(), *url = url_for(name);
	cr_assert_eq(run_migrate(url, NULL, out, sizeof out), 0, "%s", out);
	PGconn *c = PQconnectdb(url);
	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	PQclear(PQexec(c, "SELECT setseed(0.42)"));
	PGresult *r =
	    PQexec(c, "CREATE TEMP TABLE d AS"
		      " SELECT DISTINCT ON (u, day) u, day, old FROM ("
		      "  SELECT u, date '2025-01-01' + (random() * (5 + u % 60))::int AS day,"
		      "         random() < 0.5 AS old"
		      "  FROM generate_series(1, 400) u, generate_series(1, 1 + u % 12)) x");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
	PQclear(r);
	r = it_db_query(
	    c,
	    "WITH truth AS (SELECT DISTINCT u, day - k AS s FROM d, generate_series(0, 6) k),"
	    " whole AS (SELECT u, s FROM (SELECT u, day, lag(day) OVER (PARTITION BY u ORDER BY "
	    "day)"
	    "                             AS prev FROM d) x, retention_week_starts(day, prev, "
	    "NULL) s),"
	    " old AS (SELECT u, s FROM (SELECT u, day, lag(day) OVER (PARTITION BY u ORDER BY day)"
	    "                           AS prev FROM d WHERE old) x,"
	    "         retention_week_starts(day, prev, NULL) s),"
	    " added AS (SELECT n.u, s FROM d n"
	    "   CROSS JOIN LATERAL (SELECT max(a.day) FILTER (WHERE a.day < n.day) AS prev,"
	    "                              min(a.day) FILTER (WHERE a.old AND a.day > n.day) AS "
	    "next"
	    "                       FROM d a WHERE a.u = n.u) x,"
	    "   retention_week_starts(n.day, x.prev, x.next) s WHERE NOT n.old),"
	    " inc AS (TABLE old UNION ALL TABLE added)"
	    " SELECT (SELECT count(*) FROM truth),"
	    "  (SELECT count(*) FROM (TABLE truth EXCEPT ALL TABLE whole) a)"
	    "  + (SELECT count(*) FROM (TABLE whole EXCEPT ALL TABLE truth) b),"
	    "  (SELECT count(*) FROM (TABLE truth EXCEPT ALL TABLE inc) a)"
	    "  + (SELECT count(*) FROM (TABLE inc EXCEPT ALL TABLE truth) b)",
	    0, NULL);
	cr_assert_gt(strtoll(PQgetvalue(r, 0, 0), NULL, 10), 3000, "buckets: %s",
		     PQgetvalue(r, 0, 0));
	cr_expect_eq(strtoll(PQgetvalue(r, 0, 1), NULL, 10), 0,
		     "whole day lists: buckets missing or counted twice");
	cr_expect_eq(strtoll(PQgetvalue(r, 0, 2), NULL, 10), 0,
		     "new days joining counted ones: buckets missing or counted twice");
	PQclear(r);
	PQfinish(c);
	drop_db(name);
	free(name);
	free(url);
}
