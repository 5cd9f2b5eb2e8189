/* db_stats.c: the statistics reads (DAU, top event types, retention) over the per-day
 * summaries, with the read statement timeout. */
#include "db.h"
#include "db_internal.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum db_status
db_dau(struct db *db, int64_t from_day, size_t ndays, int64_t *counts)
{
	char from[EVENT_DATE_BUF], to[EVENT_DATE_BUF];
	const char *params[] = {from, to};
	PGresult *r;
	enum db_status st;
	event_date_format(from_day, from);
	event_date_format(from_day + (int64_t)ndays - 1, to);
	memset(counts, 0, ndays * sizeof *counts);
	if ((st = db_query(db, "dau", 2, params, &r)) != DB_OK)
		return st;
	for (int i = 0; i < PQntuples(r); i++) {
		long long k = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		if (k >= 0 && (size_t)k < ndays)
			counts[k] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
	}
	PQclear(r);
	return DB_OK;
}

enum db_status
db_top_events(struct db *db, int64_t from_day, int64_t to_day, int limit, struct top_row **rows,
	      size_t *n)
{
	char from[EVENT_DATE_BUF], to[EVENT_DATE_BUF], lim[16];
	const char *params[] = {from, to, lim};
	PGresult *r;
	enum db_status st;
	event_date_format(from_day, from);
	event_date_format(to_day, to);
	snprintf(lim, sizeof lim, "%d", limit);
	*rows = NULL;
	*n = 0;
	if ((st = db_query(db, "top", 3, params, &r)) != DB_OK)
		return st;
	st = db_top_rows(r, rows, n);
	PQclear(r);
	return st;
}

enum db_status
db_top_rows(const PGresult *r, struct top_row **rows, size_t *n)
{
	size_t bytes;
	/* one block: the rows, then their strings */
	bytes = (size_t)PQntuples(r) * sizeof **rows;
	for (int i = 0; i < PQntuples(r); i++)
		bytes += (size_t)PQgetlength(r, i, 0) + 1;
	if (!(*rows = malloc(bytes ? bytes : 1)))
		return DB_ERROR;
	char *text = (char *)(*rows + PQntuples(r));
	for (int i = 0; i < PQntuples(r); i++) {
		size_t len = (size_t)PQgetlength(r, i, 0) + 1;
		memcpy(text, PQgetvalue(r, i, 0), len);
		(*rows)[i].event_type = text;
		(*rows)[i].count = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		text += len;
	}
	*n = (size_t)PQntuples(r);
	return DB_OK;
}

enum db_status
db_retention(struct db *db, int64_t start_day, int period, int windows, int64_t *cohort,
	     int64_t *counts)
{
	char start[EVENT_DATE_BUF], p[16], w[16];
	const char *params[] = {start, p, w};
	PGresult *r;
	enum db_status st;
	event_date_format(start_day, start);
	snprintf(p, sizeof p, "%d", period);
	snprintf(w, sizeof w, "%d", windows);
	memset(counts, 0, (size_t)(windows + 1) * sizeof *counts);
	*cohort = 0;
	if ((st = db_query(db, "retention", 3, params, &r)) != DB_OK)
		return st;
	for (int i = 0; i < PQntuples(r); i++) {
		long long k = strtoll(PQgetvalue(r, i, 0), NULL, 10);
		long long v = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		if (k >= 0 && k <= windows)
			counts[k] = v;
	}
	*cohort = counts[0];
	PQclear(r);
	return DB_OK;
}
