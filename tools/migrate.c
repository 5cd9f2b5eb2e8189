/* migrate: applies migrations/NNNN_*.sql in order, each once, each in a transaction,
 * recording version and checksum; refuses an applied file that was edited since. Two
 * migrators at once serialise on an advisory lock. Connection: DATABASE_URL or PG*. */
#include "db.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Applies one file unless recorded; -1 on any failure (message printed). */
static int
migrate_one(struct db *db, const char *dir, const char *name, int *applied)
{
	char path[4096], version[256];
	char *sql, *have = NULL, *want = NULL;
	int rc = -1;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(version, sizeof version, "%.*s", (int)(strlen(name) - 4), name);
	if (!(sql = read_file(path))) {
		fprintf(stderr, "migrate: cannot read %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (db_checksum(db, sql, &want) != DB_OK ||
	    db_migration_checksum(db, version, &have) != DB_OK) {
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
		if (db_migration_apply(db, version, sql, want) != DB_OK) {
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

int
main(int argc, char **argv)
{
	const char *dir = "migrations";
	char *names[1024];
	size_t n = 0;
	int applied = 0, rc = 0;
	struct dirent *de;
	DIR *d;
	struct db *db;
	if (argc == 3 && strcmp(argv[1], "--dir") == 0)
		dir = argv[2];
	else if (argc != 1) {
		fprintf(stderr, "usage: %s [--dir DIR]\n", argv[0]);
		return 1;
	}
	log_set_level(LOG_ERROR);
	if (!(d = opendir(dir))) {
		fprintf(stderr, "migrate: cannot open %s: %s\n", dir, strerror(errno));
		return 1;
	}
	while ((de = readdir(d)) && n < sizeof names / sizeof names[0])
		if (is_migration(de->d_name))
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof names[0], by_name);
	db = db_new(getenv("DATABASE_URL"), "events-migrate", 0);
	if (!db || db_migrate_lock(db) != DB_OK) {
		fprintf(stderr, "migrate: cannot connect: %s\n",
			db ? db_last_error(db) : "out of memory");
		rc = 1;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		if (migrate_one(db, dir, names[i], &applied) < 0)
			rc = 1;
	if (rc == 0)
		printf("migrate: %d applied, %zu up to date\n", applied, n - (size_t)applied);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	db_close(db);
	return rc;
}
