/* pgservice.c: the tools' database, from the environment or the stack's libpq service file
 * (replaces asking tools/stack.sh through a shell: a tool must not run a script it found). */
#include "pgservice.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
pgservice_repo_dir(char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	for (int up = 0; up < 2; up++) {
		char *slash = strrchr(exe, '/');
		if (!slash)
			return -1;
		*slash = '\0';
	}
	return snprintf(out, cap, "%s", exe) < (int)cap ? 0 : -1;
}

/* The stack's service file for this binary: $VAR_DIR/run/..., else <repo>/var/run/...
 * 0 with path[] filled, -1 when it cannot be named. */
static int
service_file(char *path, size_t cap)
{
	const char *var = getenv("VAR_DIR");
	char repo[PATH_MAX];
	if (var && *var)
		return snprintf(path, cap, "%s/run/pg_service.conf", var) < (int)cap ? 0 : -1;
	if (pgservice_repo_dir(repo, sizeof repo) < 0)
		return -1;
	return snprintf(path, cap, "%s/var/run/pg_service.conf", repo) < (int)cap ? 0 : -1;
}

int
pgservice_conninfo(const char *service, const char **out, char *why, size_t whylen)
{
	static const char *const pgvars[] = {
	    "PGHOST", "PGHOSTADDR", "PGDATABASE", "PGSERVICE", "PGSERVICEFILE", "PGPORT", "PGUSER"};
	static char conninfo[96];
	char path[PATH_MAX];
	struct stat st;
	const char *url = getenv("DATABASE_URL");
	*out = NULL;
	if (url && *url)
		return *out = url, 0;
	for (size_t i = 0; i < sizeof pgvars / sizeof pgvars[0]; i++)
		if (getenv(pgvars[i]))
			return 0;
	if (service_file(path, sizeof path) < 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen,
			 "no database: set DATABASE_URL (or the PG* variables), or start the "
			 "embedded one with make run (it writes var/run/pg_service.conf)");
		return -1;
	}
	if (setenv("PGSERVICEFILE", path, 1) != 0 ||
	    snprintf(conninfo, sizeof conninfo, "service=%s", service) >= (int)sizeof conninfo) {
		snprintf(why, whylen, "cannot use %s", path);
		return -1;
	}
	*out = conninfo;
	return 0;
}
