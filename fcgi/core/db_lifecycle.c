/* db_lifecycle.c: the data lifecycle's statements: erasing a user, and streaming an export
 * of raw events with COPY ... TO STDOUT. */
#include "buf.h"
#include "db.h"
#include "db_internal.h"
#include "log.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs the prepared statement name with two parameters and the writes' statement timeout
 * (one statement: its own transaction); *out = the integer it returns. */
static enum db_status
write_call(struct db *db, const char *name, const char *p1, const char *p2, int64_t *out)
{
	const char *params[] = {p1, p2};
	PGresult *r;
	enum db_status st;
	*out = 0;
	if ((st = db_query_ms(db, name, 2, params, &r, db->statement_timeout_ms)) != DB_OK)
		return st;
	*out = db_first_int(r);
	PQclear(r);
	return DB_OK;
}

enum db_status
db_erase_user(struct db *db, const char *user_id, int stripe, int64_t *deleted)
{
	char s[16];
	const char *params[] = {user_id, s};
	enum db_status st;
	PGresult *r;
	snprintf(s, sizeof s, "%d", stripe);
	*deleted = 0;
	/* a deadlock cannot happen: analytics_erase's first statement is erase_user's table lock,
	 * which orders the erasure against every writer; then it waits for a running fold (which
	 * waits for nothing an erasure holds). The sets are edited first, while the user's events
	 * are still there to say which sets hold the user. */
	if ((st = db_ready(db)) != DB_OK ||
	    (st = db_session_limits(db, db->statement_timeout_ms)) != DB_OK ||
	    (st = db_begin_write(db)) != DB_OK)
		return st;
	if ((st = db_analytics_erase(db, user_id)) == DB_OK) {
		r = PQexecPrepared(db->conn, "erase", 2, params, NULL, NULL, 0);
		st = PQresultStatus(r) == PGRES_TUPLES_OK ? DB_OK : db_failure(db, "erase", r);
		*deleted = st == DB_OK ? db_first_int(r) : 0;
		PQclear(r);
	}
	if (st != DB_OK) {
		db_rollback(db);
		return st;
	}
	/* as an ingest's: a commit that no standby confirms in time is done here only */
	db->unreplicated = 0;
	st = db_exec_bounded(db, "COMMIT", db->statement_timeout_ms);
	if (st == DB_OK && db->unreplicated) {
		db_set_error(db, "COMMIT", "the wait for the synchronous standby was cancelled");
		return DB_UNCONFIRMED;
	}
	return st;
}

enum db_status
db_prune(struct db *db, int days, int batch, int64_t *deleted)
{
	char d[16], b[16];
	snprintf(d, sizeof d, "%d", days);
	snprintf(b, sizeof b, "%d", batch);
	return write_call(db, "prune", d, b, deleted);
}

enum db_status
db_tz_known(struct db *db, const char *tz, int *known)
{
	PGresult *r;
	enum db_status st;
	*known = 0;
	if ((st = db_query(db, "tz_known", 1, &tz, &r)) != DB_OK)
		return st;
	*known = db_first_int(r) > 0;
	PQclear(r);
	return DB_OK;
}

/* --- export --------------------------------------------------------------------------------- */

/* Appends s as an SQL literal (PQescapeLiteral: quotes doubled, E'' when needed). */
static int
add_literal(struct db *db, struct buf *b, const char *s)
{
	char *lit = PQescapeLiteral(db->conn, s, strlen(s));
	int rc = lit ? buf_printf(b, "%s", lit) : -1;
	PQfreemem(lit);
	return rc;
}

static int
add(struct buf *b, const char *s)
{
	return buf_printf(b, "%s", s);
}

/* occurred_at in UTC with microseconds and Z, the form the API and the loader read */
#define UTC_TIME "to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* The COPY statement of q. Parameters cannot be bound in COPY, hence the literals; the dates
 * are formatted here from numbers, the strings escaped by libpq. */
static int
export_sql(struct db *db, const struct db_export_query *q, struct buf *b)
{
	char from[EVENT_DATE_BUF], to[EVENT_DATE_BUF];
	int rc = 0;
	event_date_format(q->from_day, from);
	event_date_format(q->to_day, to);
	rc |= add(b, "COPY (SELECT ");
	if (q->format == DB_EXPORT_CSV)
		rc |= add(b, "e.event_id, " UTC_TIME " AS occurred_at, e.user_id, e.event_type,"
			     " e.properties::text AS properties_json");
	else /* one compact object a line, members in the API's order */
		rc |= add(b,
			  "'{\"event_id\":\"' || e.event_id || '\",\"occurred_at\":\"' || " UTC_TIME
			  " || '\",\"user_id\":' || to_json(e.user_id)::text"
			  " || ',\"event_type\":' || to_json(e.event_type)::text"
			  " || ',\"properties\":' || e.properties::text || '}'");
	/* a local day runs from its midnight in tz to the next one; a midnight that does not
	 * exist (DST) is read with the offset before it: the first instant of the day */
	rc |= add(b, " FROM events e WHERE e.occurred_at >= ('");
	rc |= add(b, from);
	rc |= add(b, "'::date::timestamp AT TIME ZONE ");
	rc |= add_literal(db, b, q->tz);
	rc |= add(b, ") AND e.occurred_at < (('");
	rc |= add(b, to);
	rc |= add(b, "'::date + 1)::timestamp AT TIME ZONE ");
	rc |= add_literal(db, b, q->tz);
	rc |= add(b, ")");
	if (q->user_id) {
		rc |= add(b, " AND e.user_id = ");
		rc |= add_literal(db, b, q->user_id);
	}
	if (q->event_type) {
		rc |= add(b, " AND e.event_type = ");
		rc |= add_literal(db, b, q->event_type);
	}
	rc |= add(b, " ORDER BY e.occurred_at, e.event_id) TO STDOUT");
	if (q->format == DB_EXPORT_CSV)
		rc |= add(b, " WITH (FORMAT csv, HEADER true)");
	return rc ? -1 : 0; /* buf_printf keeps it NUL-terminated */
}

/* Undoes COPY's text-format escaping of a one-column row in place; returns the new length.
 * The column is JSON text: it holds no raw tab or newline, so only the escapes COPY makes of
 * backslashes and control characters can occur. */
static size_t
copy_unescape(char *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '\\' && i + 1 < len) {
			c = s[++i];
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
		}
		s[o++] = c;
	}
	return o;
}

/* Hands every row of the running COPY to sink; -1 when the sink stopped. */
static enum db_status
copy_rows(struct db *db, const struct db_export_query *q, db_export_sink sink, void *arg)
{
	char *row;
	int n;
	while ((n = PQgetCopyData(db->conn, &row, 0)) > 0) {
		size_t len = (size_t)n;
		int rc;
		if (q->format == DB_EXPORT_NDJSON)
			len = copy_unescape(row, len);
		rc = sink(arg, row, len);
		PQfreemem(row);
		if (rc < 0) {
			/* the server is still sending: drop the connection rather than read on */
			log_msg(LOGL_INFO, "db", "export stopped by the client");
			db_disconnect(db);
			return DB_OK;
		}
	}
	return n == -1 ? DB_OK : DB_UNAVAILABLE;
}

enum db_status
db_export(struct db *db, const struct db_export_query *q, db_export_sink sink, void *arg)
{
	struct buf sql = {0};
	enum db_status st;
	PGresult *r;
	if ((st = db_ready(db)) != DB_OK || (st = db_session_limits(db, 0)) != DB_OK)
		return st;
	if (export_sql(db, q, &sql) < 0) {
		buf_free(&sql);
		return DB_ERROR;
	}
	st = db_exec_result(db, "export", sql.p, PGRES_COPY_OUT, &r);
	buf_free(&sql);
	if (st != DB_OK)
		return st;
	PQclear(r);
	if (sink(arg, NULL, 0) < 0) {
		db_disconnect(db);
		return DB_OK;
	}
	if ((st = copy_rows(db, q, sink, arg)) != DB_OK || !db->conn)
		return st == DB_OK ? DB_OK : db_failure(db, "export", NULL);
	while ((r = PQgetResult(db->conn))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && st == DB_OK)
			st = db_failure(db, "export", r);
		PQclear(r);
	}
	return st;
}
