/* conf.c: the environment, read once at start-up. */
#include "conf.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* One line on stderr: NAME=VALUE (escaped: a value cannot forge a line) and what is expected. */
static void
bad_setting(const char *name, const char *value, const char *expected)
{
	char shown[256];
	fprintf(stderr, "%s=%s: expected %s\n", name, log_quote(shown, sizeof shown, value),
		expected);
}

static int
int_setting(const char *name, int def, int min, int max, int *out)
{
	const char *v = getenv(name);
	char *end, expected[96];
	long n;
	*out = def;
	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || end == v || n < min || n > max) {
		snprintf(expected, sizeof expected, "a whole number from %d to %d", min, max);
		bad_setting(name, v, expected);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static int
log_level_setting(int *out)
{
	const char *v = getenv("LOG_LEVEL");
	*out = LOGL_INFO;
	if (!v || !*v)
		return 0;
	if ((*out = log_level_parse(v)) >= 0)
		return 0;
	*out = LOGL_INFO;
	bad_setting("LOG_LEVEL", v, "debug, info, warn or error");
	return -1;
}

int
conf_load(struct conf *c)
{
	int bad = 0;
	c->database_url = getenv("DATABASE_URL");
	if (c->database_url && !*c->database_url)
		c->database_url = NULL;
	bad += int_setting("WORKERS", 8, 1, 256, &c->workers) < 0;
	bad += int_setting("DB_STATEMENT_TIMEOUT_MS", 30000, 100, 3600000,
			   &c->db_statement_timeout_ms) < 0;
	bad += int_setting("DB_LOCK_TIMEOUT_MS", 3000, 100, 3600000, &c->db_lock_timeout_ms) < 0;
	bad += int_setting("DB_STATS_TIMEOUT_MS", 5000, 100, 3600000, &c->db_stats_timeout_ms) < 0;
	bad += log_level_setting(&c->log_level) < 0;
	bad += auth_load(&c->auth) < 0;
	return bad ? -1 : 0;
}

int
conf_check(void)
{
	static struct conf c; /* 64 keys of 129 bytes: not on the stack */
	return conf_load(&c);
}
