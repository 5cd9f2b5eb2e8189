/* migrate: applies migrations/NNNN_*.sql in order, each once, each in a transaction,
 * recording version and checksum; refuses an applied file that was edited since. Two
 * migrators at once serialise on an advisory lock. Connection: DATABASE_URL, PG*, or the
 * embedded database's service file (pgservice.c), as the owning role.
 *
 * A migration waits at most --lock-timeout ms (default 2000) for each lock it needs: while an
 * ALTER waits for a table, every writer that comes later queues behind it, so a long wait
 * would stall the service. A migration that times out is rolled back and tried again after
 * a growing pause (250 ms, doubling up to 5 s), --attempts times in all (default 10). */
#include "db.h"
#include "log.h"
#include "pgservice.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct opts {
	const char *dir;
	int lock_timeout_ms; /* each wait for a lock */
	int attempts;	     /* tries of one migration that runs out of time */
};

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
is_migration(const char *name)
{
	size_t n = strlen(name);
	return n > 4 && strcmp(name + n - 4, ".sql") == 0 && name[0] >= '0' && name[0] <= '9';
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n)
		buf[n] = '\0';
	else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static void
pause_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A session-level advisory lock held while migrating: one migrator at a time. */
static enum db_status
migrate_lock(struct db *db)
{
	enum db_status st = db_connect(db);
	if (st != DB_OK)
		return st;
	/* 0x65766e74 = "evnt": one lock for every migrator of this schema */
	return db_query_single(db, NULL, "SELECT pg_advisory_lock(1702260340)", 0, NULL, NULL);
}

/* The checksum recorded for a migration (malloc'd hex text in *checksum, NULL when not
 * applied), after making sure the bookkeeping table exists. */
static enum db_status
migration_checksum(struct db *db, const char *version, char **checksum)
{
	enum db_status st = db_query_single(db, NULL,
					    "CREATE TABLE IF NOT EXISTS schema_migrations ("
					    " version text PRIMARY KEY, checksum text NOT NULL,"
					    " applied_at timestamptz NOT NULL DEFAULT now())",
					    0, NULL, NULL);
	*checksum = NULL;
	if (st != DB_OK)
		return st;
	return db_query_single(db, NULL,
			       "SELECT checksum FROM schema_migrations WHERE version = $1", 1,
			       &version, checksum);
}

/* The checksum the database computes for sql (md5 hex), malloc'd. */
static enum db_status
sql_checksum(struct db *db, const char *sql, char **checksum)
{
	return db_query_single(db, NULL, "SELECT md5($1)", 1, &sql, checksum);
}

/* Runs sql and records version + checksum, in one transaction in which every wait for a lock
 * lasts at most lock_timeout_ms (0: no limit). DB_BUSY when a lock was not had in time (or a
 * deadlock or serialisation failure): nothing was applied, and a later try may pass. */
static enum db_status
migration_apply(struct db *db, const char *version, const char *sql, const char *checksum,
		int lock_timeout_ms)
{
	const char *params[] = {version, checksum};
	char begin[64];
	enum db_status st;
	/* LOCAL: the session's advisory lock (migrate_lock) waits for other migrators */
	snprintf(begin, sizeof begin, "BEGIN; SET LOCAL lock_timeout = %d", lock_timeout_ms);
	if ((st = db_query_single(db, NULL, begin, 0, NULL, NULL)) != DB_OK)
		return st;
	if ((st = db_query_single(db, version, sql, 0, NULL, NULL)) != DB_OK ||
	    (st = db_query_single(db, "record migration",
				  "INSERT INTO schema_migrations (version, checksum)"
				  " VALUES ($1, $2)",
				  2, params, NULL)) != DB_OK) {
		db_rollback(db);
		return st;
	}
	return db_query_single(db, NULL, "COMMIT", 0, NULL, NULL);
}

/* Runs one migration, again after a pause when it could not have its locks in time. */
static enum db_status
apply_with_retries(struct db *db, const struct opts *o, const char *version, const char *sql,
		   const char *checksum)
{
	enum db_status st = DB_BUSY;
	for (int attempt = 1; attempt <= o->attempts; attempt++) {
		int wait_ms = attempt > 5 ? 5000 : 250 << (attempt - 1);
		if ((st = migration_apply(db, version, sql, checksum, o->lock_timeout_ms)) !=
		    DB_BUSY)
			return st;
		if (attempt == o->attempts)
			break;
		fprintf(stderr,
			"migrate: %s: a lock was not free within %d ms (%s); attempt %d of %d,"
			" next in %.2f s\n",
			version, o->lock_timeout_ms, db_last_error(db), attempt, o->attempts,
			wait_ms / 1000.0);
		pause_ms(wait_ms);
	}
	return st;
}

/* Applies one file unless recorded; -1 on any failure (message printed). */
static int
migrate_one(struct db *db, const struct opts *o, const char *name, int *applied)
{
	const char *dir = o->dir;
	enum db_status st;
	char path[PATH_MAX + 256], version[256];
	char *sql, *have = NULL, *want = NULL;
	int rc = -1;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(version, sizeof version, "%.*s", (int)(strlen(name) - 4), name);
	if (!(sql = read_file(path))) {
		fprintf(stderr, "migrate: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (sql_checksum(db, sql, &want) != DB_OK ||
	    migration_checksum(db, version, &have) != DB_OK) {
		fprintf(stderr, "migrate: %s\n", db_last_error(db));
		goto out;
	}
	if (have && strcmp(have, want) != 0) {
		fprintf(stderr,
			"migrate: %s was applied with checksum %s but the file now has %s;"
			" an applied migration must not change: add a new migration instead\n",
			version, have, want);
		goto out;
	}
	if (!have) {
		if ((st = apply_with_retries(db, o, version, sql, want)) == DB_BUSY) {
			fprintf(
			    stderr,
			    "migrate: %s not applied: its locks were not free within %d ms in"
			    " %d attempts (last: %s); nothing of it was applied, run migrate again"
			    " when the tables are less busy\n",
			    version, o->lock_timeout_ms, o->attempts, db_last_error(db));
			goto out;
		}
		if (st != DB_OK) {
			fprintf(stderr, "migrate: %s failed: %s\n", version, db_last_error(db));
			goto out;
		}
		printf("migrate: applied %s\n", version);
		(*applied)++;
	}
	rc = 0;
out:
	free(sql);
	free(have);
	free(want);
	return rc;
}

/* The user sets of events stored before migration 0011 are folded here, where the bitmap
 * code is (db_analytics.c), right after that migration (a no-op when nothing is pending). */
static int
backfill(struct db *db)
{
	int64_t done = 0;
	if (db_analytics_backfill(db, &done) != DB_OK) {
		fprintf(stderr, "migrate: analytics backfill failed: %s\n", db_last_error(db));
		return 1;
	}
	if (done)
		printf("migrate: analytics backfill done\n");
	return 0;
}

/* On a Citus coordinator (the citus extension is in the database), places the store's tables
 * on the cluster (distribute_store(), migration 0007): every run, so tables of new migrations
 * and a store that was made on one node and got the extension later are distributed too.
 * Nothing on a plain PostgreSQL. -1 on failure (message printed). */
static int
distribute(struct db *db)
{
	char *have = NULL, *done = NULL;
	int rc = 0;
	if (db_query_single(db, "citus check",
			    "SELECT 1 FROM pg_extension WHERE extname = 'citus'"
			    " AND to_regproc('distribute_store') IS NOT NULL",
			    0, NULL, &have) != DB_OK) {
		fprintf(stderr, "migrate: %s\n", db_last_error(db));
		return -1;
	}
	if (have && db_query_single(db, "distribute_store", "SELECT distribute_store()", 0, NULL,
				    &done) != DB_OK) {
		fprintf(stderr, "migrate: distributing the tables on Citus failed: %s\n",
			db_last_error(db));
		rc = -1;
	} else if (have) {
		printf("migrate: Citus coordinator: %s table(s) distributed now\n", done);
	}
	free(have);
	free(done);
	return rc;
}

/* A whole number in [min, max] from s, or -1. */
static int
number(const char *s, int min, int max)
{
	char *end;
	long v;
	errno = 0;
	v = strtol(s, &end, 10);
	return errno || end == s || *end || v < min || v > max ? -1 : (int)v;
}

static const char help_text[] =
    "usage: migrate [--dir DIR] [--lock-timeout MS] [--attempts N]\n"
    "\n"
    "Applies DIR/NNNN_*.sql in order, each once and in its own transaction, recording version\n"
    "and checksum in schema_migrations; refuses an applied file that was edited since. Two\n"
    "migrators at once wait for each other. On a Citus coordinator (citus extension present)\n"
    "it then distributes the tables that are not yet (distribute_store(), 0007_citus).\n"
    "\n"
    "  --dir DIR          the migrations (default: migrations/ of the repository this binary\n"
    "                     was built in, <repo>/build/migrate -> <repo>/migrations)\n"
    "  --lock-timeout MS  longest wait for each lock a migration needs, 1..3600000 (default\n"
    "                     2000): a waiting ALTER queues every later writer behind it\n"
    "  --attempts N       tries of a migration that timed out, 1..1000 (default 10; pauses\n"
    "                     0.25 s doubling to 5 s)\n"
    "  -h, --help         this text\n"
    "\n"
    "Database, as the owning role: DATABASE_URL; else the libpq PG* variables; else the\n"
    "embedded database of make run through the service file the stack writes (service\n"
    "events_owner in $VAR_DIR/run/pg_service.conf, or var/run/ beside this binary's build/).\n"
    "\n"
    "Exit status: 0 every migration applied or up to date, 1 a migration failed (nothing of\n"
    "it applied), no database, or bad arguments.\n";

/* <repo>/migrations for <repo>/build/migrate, into out; -1 when it is not there. */
static int
default_dir(char *out, size_t cap)
{
	char repo[PATH_MAX];
	if (pgservice_repo_dir(repo, sizeof repo) < 0 ||
	    snprintf(out, cap, "%s/migrations", repo) >= (int)cap)
		return -1;
	DIR *d = opendir(out);
	if (!d)
		return -1;
	closedir(d);
	return 0;
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.dir = NULL, .lock_timeout_ms = 2000, .attempts = 10};
	for (int i = 1; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(help_text, stdout);
			exit(0);
		}
		if (!v)
			return -1;
		if (strcmp(argv[i], "--dir") == 0)
			o->dir = v;
		else if (strcmp(argv[i], "--lock-timeout") == 0)
			o->lock_timeout_ms = number(v, 1, 3600000);
		else if (strcmp(argv[i], "--attempts") == 0)
			o->attempts = number(v, 1, 1000);
		else
			return -1;
		if (o->lock_timeout_ms < 0 || o->attempts < 0)
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o;
	char *names[1024];
	size_t n = 0;
	int applied = 0, rc = 0;
	struct dirent *de;
	DIR *d;
	struct db *db;
	char dir[PATH_MAX], why[256];
	const char *conninfo;
	if (parse_args(argc, argv, &o) < 0) {
		fputs(help_text, stderr);
		return 1;
	}
	if (!o.dir && default_dir(dir, sizeof dir) == 0)
		o.dir = dir;
	if (!o.dir) {
		fprintf(stderr,
			"migrate: no migrations directory beside this binary; give --dir\n");
		return 1;
	}
	if (pgservice_conninfo("events_owner", &conninfo, why, sizeof why) < 0) {
		fprintf(stderr, "migrate: %s\n", why);
		return 1;
	}
	log_set_level(LOGL_ERROR);
	if (!(d = opendir(o.dir))) {
		fprintf(stderr, "migrate: cannot open %s: %s\n", o.dir, strerror(errno));
		return 1;
	}
	while ((de = readdir(d)) && n < sizeof names / sizeof names[0])
		if (is_migration(de->d_name))
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof names[0], by_name);
	db = db_new(conninfo, "events-migrate", 0);
	if (!db || migrate_lock(db) != DB_OK) {
		fprintf(stderr, "migrate: cannot connect: %s\n",
			db ? db_last_error(db) : "out of memory");
		rc = 1;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		if (migrate_one(db, &o, names[i], &applied) < 0)
			rc = 1;
	if (rc == 0 && distribute(db) < 0)
		rc = 1;
	if (rc == 0)
		rc = backfill(db);
	if (rc == 0)
		printf("migrate: %d applied, %zu up to date\n", applied, n - (size_t)applied);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	db_close(db);
	return rc;
}
