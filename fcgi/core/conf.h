/* conf.h: settings from the environment, each with a documented default (README table). */
#ifndef CONF_H
#define CONF_H

#include "auth.h"

struct conf {
	const char *database_url;    /* DATABASE_URL; NULL: libpq's PG* variables and defaults */
	int workers;		     /* WORKERS, 1..256, default 8 */
	int log_level;		     /* LOG_LEVEL: debug|info|warn|error, default info */
	int db_statement_timeout_ms; /* DB_STATEMENT_TIMEOUT_MS, default 30000 */
	int db_lock_timeout_ms;	     /* DB_LOCK_TIMEOUT_MS, default 3000 */
	int db_stats_timeout_ms;     /* DB_STATS_TIMEOUT_MS, default 5000 */
	struct auth auth;	     /* API_KEYS / API_KEYS_FILE; none: open */
};

/* Fills c from the environment. Every bad value gets one line on stderr naming the variable,
 * its value (never a key) and what is expected; then -1: the caller stops (start-up only). */
int conf_load(struct conf *c) __attribute__((warn_unused_result));

/* For "events-fcgi --check-config", before anything is started: loads and checks every
 * setting (API keys and the key file included) as conf_load does, one line on stderr per
 * problem; 0 when all are good, else -1. Warnings (a key file open to group or others) are
 * logged but do not fail the check. DATABASE_URL is not parsed here (libpq is db.c's). */
int conf_check(void) __attribute__((warn_unused_result));

#endif
