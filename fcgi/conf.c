/* conf.c: the environment, read once at start-up. */
#include "conf.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static int
int_setting(const char *name, int def, int min, int max, int *out)
{
	const char *v = getenv(name);
	char *end;
	long n;
	if (!v || !*v) {
		*out = def;
		return 0;
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < min || n > max) {
		fprintf(stderr, "%s=%s: expected a whole number from %d to %d\n", name, v, min,
			max);
		return -1;
	}
	*out = (int)n;
	return 0;
}

int
conf_load(struct conf *c)
{
	const char *lvl = getenv("LOG_LEVEL");
	c->database_url = getenv("DATABASE_URL");
	if (c->database_url && !*c->database_url)
		c->database_url = NULL;
	c->max_future_seconds = 86400;
	if (int_setting("WORKERS", 8, 1, 256, &c->workers) ||
	    int_setting("DB_STATEMENT_TIMEOUT_MS", 30000, 100, 3600000,
			&c->db_statement_timeout_ms) ||
	    int_setting("DB_LOCK_TIMEOUT_MS", 3000, 100, 3600000, &c->db_lock_timeout_ms) ||
	    int_setting("DB_STATS_TIMEOUT_MS", 5000, 100, 3600000, &c->db_stats_timeout_ms))
		return -1;
	if (auth_load(&c->auth) < 0)
		return -1;
	c->log_level = LOG_INFO;
	if (lvl && *lvl && (c->log_level = log_level_parse(lvl)) < 0) {
		fprintf(stderr, "LOG_LEVEL=%s: expected debug, info, warn or error\n", lvl);
		return -1;
	}
	return 0;
}
