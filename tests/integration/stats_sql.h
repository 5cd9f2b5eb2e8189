/* stats_sql.h: every /stats route against a recomputation from the raw events table in SQL,
 * in any time zone (PostgreSQL's own AT TIME ZONE, independent of the service's quarter-hour
 * blocks) and with any event filter. These make Criterion assertions: call them from inside
 * a test only. A NULL zone sends no tz (the server's REPORT_TZ, UTC in tests); a NULL type
 * sends no filter. */
#ifndef IT_STATS_SQL_H
#define IT_STATS_SQL_H

#include <stdint.h>

#include <libpq-fe.h>

struct stats_q {
	const char *tz;
	const char *type;     /* event_type (dau, active-users) or start_event (retention) */
	const char *ret_type; /* return_event (retention) */
};

void check_dau_sql(PGconn *db, const struct stats_q *q, int64_t from, int64_t to);
void check_active_sql(PGconn *db, const struct stats_q *q, int64_t from, int64_t to, int window);
void check_top_sql(PGconn *db, const struct stats_q *q, int64_t from, int64_t to, int limit);
void check_retention_sql(PGconn *db, const struct stats_q *q, int64_t start, int windows,
			 int period);

/* Zones that test the hard cases: DST (23- and 25-hour days; Lord Howe's 30 minutes), a DST
 * gap at midnight (Sao Paulo), a repeated midnight (Havana), quarter and half hours, +14, -11,
 * a POSIX-style name with '+'. */
extern const char *const it_zones[];
extern const size_t it_nzones;

#endif
