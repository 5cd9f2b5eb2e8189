/* conf.c: the environment, read once at start-up. */
#include "conf.h"
#include "tzname.h"
#include "log.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INT_SETTING(field, lo, hi) CONF_INT, lo, hi, offsetof(struct conf, field)

static const struct conf_setting settings[] = {
    {"DATABASE_URL", "", "libpq URI or key=value string",
     "the database (unset: libpq's PG* variables)", CONF_URL, 0, 0, 0},
    {"WORKERS", "8", "1..256", "worker processes", INT_SETTING(workers, 1, 256)},
    {"DB_STATEMENT_TIMEOUT_MS", "30000", "100..3600000", "longest SQL statement, in ms",
     INT_SETTING(db_statement_timeout_ms, 100, 3600000)},
    {"DB_LOCK_TIMEOUT_MS", "3000", "100..3600000", "longest wait for a lock, in ms",
     INT_SETTING(db_lock_timeout_ms, 100, 3600000)},
    {"DB_STATS_TIMEOUT_MS", "5000", "100..3600000", "longest statistics query, in ms",
     INT_SETTING(db_stats_timeout_ms, 100, 3600000)},
    {"RAW_RETENTION_DAYS", "0", "0..36500",
     "days raw events are kept; older ones are pruned, and refused (0: forever)",
     INT_SETTING(raw_retention_days, 0, 36500)},
    {"LOG_LEVEL", "info", "debug|info|warn|error", "least severe log line written", CONF_LOG_LEVEL,
     0, 0, 0},
    {"API_KEYS", "", "KEY[:SCOPES] entries, SCOPES ingest, read, admin joined by +",
     "API keys (with no keys at all the API is open)", CONF_AUTH, 0, 0, 0},
    {"API_KEYS_FILE", "", "a file of KEY[:SCOPES] entries, one a line",
     "more API keys, from a file", CONF_AUTH, 0, 0, 0},
    {"REPORT_TZ", "UTC", "an IANA time-zone name",
     "time zone of the statistics' days when a request names none", CONF_TZ, 0, 0, 0},
    {"POOL_USER", "", "an account name",
     "account the workers run as when started as root (required then)", CONF_ELSEWHERE, 0, 0, 0},
    {"RATE_LIMIT_EXEMPT", "", "addresses or networks", "clients nginx does not rate limit",
     CONF_ELSEWHERE, 0, 0, 0},
    {"METRICS_ALLOW", "", "addresses or networks",
     "clients nginx lets read /metrics (and, without API keys, DELETE /users/...)", CONF_ELSEWHERE,
     0, 0, 0},
    {"EVENTS_METRICS_EPHEMERAL", "", "set or unset",
     "remove the metrics segment at a clean stop (tests)", CONF_ELSEWHERE, 0, 0, 0},
};

const struct conf_setting *
conf_settings(size_t *n)
{
	*n = sizeof settings / sizeof settings[0];
	return settings;
}

void
conf_print_settings(FILE *f)
{
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
		fprintf(f, "%s\t%s\t%s\t%s\n", settings[i].name, settings[i].def, settings[i].range,
			settings[i].doc);
}

/* One line on stderr: NAME=VALUE (escaped: a value cannot forge a line) and what is expected. */
static void
bad_setting(const char *name, const char *value, const char *expected)
{
	char shown[256];
	fprintf(stderr, "%s=%s: expected %s\n", name, log_quote(shown, sizeof shown, value),
		expected);
}

static int
int_setting(const struct conf_setting *s, struct conf *c)
{
	const char *name = s->name, *v = getenv(name);
	int min = s->min, max = s->max, *out = (int *)(void *)((char *)c + s->offset);
	char *end, expected[96];
	long n;
	*out = (int)strtol(s->def, NULL, 10);
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
log_level_setting(const struct conf_setting *s, int *out)
{
	const char *v = getenv(s->name);
	*out = log_level_parse(s->def);
	if (!v || !*v)
		return 0;
	if ((*out = log_level_parse(v)) >= 0)
		return 0;
	*out = log_level_parse(s->def);
	bad_setting(s->name, v, "debug, info, warn or error");
	return -1;
}

int
conf_load(struct conf *c)
{
	int bad = 0, auth = 0;
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
		const struct conf_setting *s = &settings[i];
		switch (s->kind) {
		case CONF_URL:
			c->database_url = getenv(s->name);
			if (c->database_url && !*c->database_url)
				c->database_url = NULL;
			break;
		case CONF_INT:
			bad += int_setting(s, c) < 0;
			break;
		case CONF_LOG_LEVEL:
			bad += log_level_setting(s, &c->log_level) < 0;
			break;
		case CONF_AUTH: /* auth_load reads API_KEYS and API_KEYS_FILE together */
			if (!auth++)
				bad += auth_load(&c->auth) < 0;
			break;
		case CONF_TZ:
			c->report_tz = getenv(s->name);
			if (!c->report_tz || !*c->report_tz)
				c->report_tz = s->def;
			if (!tzname_known(c->report_tz)) {
				fprintf(stderr, "%s=%s: not a time-zone name of the tz database\n",
					s->name, c->report_tz);
				bad++;
			}
			break;
		case CONF_ELSEWHERE:
			break;
		}
	}
	return bad ? -1 : 0;
}

int
conf_load_int(const char *name, struct conf *c)
{
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
		if (settings[i].kind == CONF_INT && strcmp(settings[i].name, name) == 0)
			return int_setting(&settings[i], c);
	return -1;
}

int
conf_check(void)
{
	static struct conf c; /* 64 keys of 129 bytes: not on the stack */
	if (conf_load(&c) < 0)
		return -1;
	auth_warn_file_mode(&c.auth);
	return 0;
}
