/* conf.h: settings from the environment. conf.c holds the one table of them (name, default,
 * range, doc), which conf_load reads by and events-fcgi --help / --settings print. */
#ifndef CONF_H
#define CONF_H

#include "auth.h"

#include <stddef.h>
#include <stdio.h>

struct conf {
	const char *database_url;    /* DATABASE_URL; NULL: libpq's PG* variables and defaults */
	int workers;		     /* WORKERS */
	int log_level;		     /* LOG_LEVEL */
	int db_statement_timeout_ms; /* DB_STATEMENT_TIMEOUT_MS */
	int db_lock_timeout_ms;	     /* DB_LOCK_TIMEOUT_MS */
	int db_stats_timeout_ms;     /* DB_STATS_TIMEOUT_MS */
	int raw_retention_days;	     /* RAW_RETENTION_DAYS; 0: raw events are kept forever */
	struct auth auth;	     /* API_KEYS / API_KEYS_FILE; none: open */
	const char *report_tz;	     /* REPORT_TZ: the statistics' default time zone */
};

/* How conf_load takes a setting: an integer in [min, max] into the int at offset of struct
 * conf, a log level, the database URL, the API keys (auth_load), or not at all (read where
 * it is used: POOL_USER by main.c, the address lists by --check-config and nginx, ...). */
enum conf_kind { CONF_INT, CONF_LOG_LEVEL, CONF_URL, CONF_AUTH, CONF_TZ, CONF_ELSEWHERE };

/* One setting of the worker. def is the default as text ("": none). */
struct conf_setting {
	const char *name; /* the environment variable */
	const char *def;
	const char *range; /* the values it accepts, in words */
	const char *doc;   /* one line */
	enum conf_kind kind;
	int min, max;  /* CONF_INT */
	size_t offset; /* CONF_INT: of the int in struct conf */
};

/* The table of every setting, in the order conf_load reads them; *n entries (static). */
const struct conf_setting *conf_settings(size_t *n);

/* Writes the table to f (events-fcgi --settings), one setting a line: NAME, DEFAULT, RANGE,
 * DOC separated by tabs, for scripts and docs that need the defaults. */
void conf_print_settings(FILE *f);

/* Fills c from the environment. Every bad value gets one line on stderr naming the variable,
 * its value (never a key) and what is expected; then -1: the caller stops (start-up only). */
int conf_load(struct conf *c) __attribute__((warn_unused_result));

/* Reads only the integer setting name into c, as conf_load would (for tools that need one
 * setting of the service, e.g. the loader's RAW_RETENTION_DAYS): 0, or -1 after one line on
 * stderr for a bad value (or an unknown name). */
int conf_load_int(const char *name, struct conf *c) __attribute__((warn_unused_result));

/* For "events-fcgi --check-config", before anything is started: loads and checks every
 * setting (API keys and the key file included) as conf_load does, one line on stderr per
 * problem; 0 when all are good, else -1. Warnings (a key file open to group or others) are
 * logged but do not fail the check. DATABASE_URL is not parsed here (libpq is db.c's). */
int conf_check(void) __attribute__((warn_unused_result));

#endif
