/* db_analytics.c: the fold of the zone-aware summaries (migration 0011, ADR 7). Writers only
 * append pending rows (in the merge); the fold edits the user bitmaps analytics_compact()
 * hands out, one compactor at a time, and erasure edits those that hold the user. The reads
 * are in db_analytics_read.c. */
#include "buf.h"
#include "db.h"
#include "db_internal.h"
#include "log.h"
#include "userset.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends s to an array literal under construction: quoted, with \ and " escaped. */
int
db_array_text(struct buf *b, const char *s)
{
	size_t len = strlen(s);
	if (buf_reserve(b, 2 * len + 4) < 0)
		return -1;
	char sep = b->len ? ',' : '{';
	b->p[b->len++] = sep;
	b->p[b->len++] = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			b->p[b->len++] = '\\';
		b->p[b->len++] = *s;
	}

	b->p[b->len++] = '"';
	return 0;
}

/* --- folding and erasing ------------------------------------------------------------------ */

/* Pending events folded per transaction: bounds one fold's memory and time. */
enum { FOLD_ROWS = 50000 };

/* Removes (add 0) or adds the keys of one "{1,2,3}" array (NULL-safe); how many changed s. */
static size_t
apply_keys(struct userset *s, const char *arr, int add)
{
	const char *p = arr;
	size_t changed = 0;
	if (!p || *p != '{')
		return 0;
	for (p++; *p && *p != '}';) {
		char *end;
		unsigned long k = strtoul(p, &end, 10);
		if (end == p)
			break;
		changed +=
		    (size_t)(add ? userset_add(s, (uint32_t)k) : userset_remove(s, (uint32_t)k));
		p = *end == ',' ? end + 1 : end;
	}
	return changed;
}

/* analytics_compact's and analytics_erase's columns */
enum { COL_KIND, COL_LEVEL, COL_TYPE, COL_BUCKET, COL_USERS, COL_RM, COL_ADD };
enum { STORE_ARGS = 5 };

/* The array parameters of analytics_store, built from the rows to edit. */
struct store_args {
	struct buf a[STORE_ARGS];
};

/* One edited row into sa; a row the edit leaves as it was is not written again. */
static int
store_row(struct store_args *sa, const PGresult *r, int i)
{
	struct userset *s = userset_new();
	char *hex = NULL;
	size_t changed;
	int rc = -1;
	if (!s || userset_or_text(s, PQgetvalue(r, i, COL_USERS),
				  (size_t)PQgetlength(r, i, COL_USERS)) < 0)
		goto out;
	changed = apply_keys(s, PQgetisnull(r, i, COL_RM) ? NULL : PQgetvalue(r, i, COL_RM), 0);
	changed += apply_keys(s, PQgetisnull(r, i, COL_ADD) ? NULL : PQgetvalue(r, i, COL_ADD), 1);
	if (!changed) {
		rc = 0;
		goto out;
	}
	if (!(hex = userset_hex(s)))
		goto out;
	const int cols[] = {COL_KIND, COL_LEVEL, COL_TYPE, COL_BUCKET};
	for (int c = 0; c < 4; c++)
		if (db_array_text(&sa->a[c], PQgetvalue(r, i, cols[c])) < 0)
			goto out;
	rc = db_array_text(&sa->a[4], hex);
out:
	free(hex);
	userset_free(s);
	return rc;
}

/* Hands the edited rows of sa to analytics_store. */
static enum db_status
store(struct db *db, struct store_args *sa)
{
	const char *params[STORE_ARGS];
	PGresult *r;
	enum db_status st = DB_OK;
	for (int c = 0; c < STORE_ARGS; c++) {
		if (buf_reserve(&sa->a[c], 2) < 0)
			return DB_ERROR;
		sa->a[c].p[sa->a[c].len++] = '}';
		sa->a[c].p[sa->a[c].len] = '\0';
		params[c] = sa->a[c].p;
	}
	r = PQexecPrepared(db->conn, "analytics_store", STORE_ARGS, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		st = db_failure(db, "analytics_store", r);
	PQclear(r);
	return st;
}

/* In the open transaction: the prepared statement rows_stmt (n parameters) returns rows to
 * edit; they are edited here and stored. *next = the bucket of its 'n' row (-2 without). */
static enum db_status
apply(struct db *db, const char *rows_stmt, int n, const char *const *params, int64_t *next)
{
	struct store_args sa = {0};
	enum db_status st = DB_OK;
	PGresult *r = PQexecPrepared(db->conn, rows_stmt, n, params, NULL, NULL, 0);
	*next = -2;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		st = db_failure(db, rows_stmt, r);
		PQclear(r);
		return st;
	}
	for (int i = 0; i < PQntuples(r) && st == DB_OK; i++) {
		if (*PQgetvalue(r, i, COL_KIND) == 'n')
			*next = strtoll(PQgetvalue(r, i, COL_BUCKET), NULL, 10);
		else if (store_row(&sa, r, i) < 0) {
			db_set_error(db, rows_stmt,
				     "a stored user set is damaged, or out of memory");
			log_msg(LOGL_ERROR, "db", "%s", db->err);
			st = DB_ERROR;
		}
	}
	PQclear(r);
	if (st == DB_OK && sa.a[0].len > 0)
		st = store(db, &sa);
	for (int c = 0; c < STORE_ARGS; c++)
		buf_free(&sa.a[c]);
	return st;
}

enum db_status
db_analytics_compact(struct db *db, int64_t *folded)
{
	char page[24], pages[16];
	const char *params[] = {page, pages};
	enum db_status st;
	int64_t next = 0;
	snprintf(pages, sizeof pages, "%d", FOLD_ROWS);
	*folded = 0;
	do {
		snprintf(page, sizeof page, "%lld", (long long)next);
		if ((st = db_ready(db)) != DB_OK ||
		    (st = db_session_limits(db, db->statement_timeout_ms)) != DB_OK ||
		    (st = db_exec_ok(db, "BEGIN", PGRES_COMMAND_OK)) != DB_OK)
			return st;
		if ((st = apply(db, "analytics_compact", 2, params, &next)) != DB_OK) {
			db_rollback(db);
			return st;
		}
		if ((st = db_exec_ok(db, "COMMIT", PGRES_COMMAND_OK)) != DB_OK)
			return st;
		*folded += next != -2;
	} while (next >= 0);
	return DB_OK;
}

enum db_status
db_analytics_fold_pending(struct db *db, int64_t *folded)
{
	PGresult *r;
	enum db_status st;
	*folded = 0;
	if ((st = db_ready(db)) != DB_OK)
		return st;
	r = PQexecPrepared(db->conn, "analytics_pending_any", 0, NULL, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		st = db_failure(db, "analytics_pending_any", r);
		PQclear(r);
		return st;
	}
	int any = PQntuples(r) > 0;
	PQclear(r);
	return any ? db_analytics_compact(db, folded) : DB_OK;
}

enum db_status
db_analytics_backfill(struct db *db, int64_t *folded)
{
	enum db_status st;
	PGresult *r;
	*folded = 0;
	if ((st = db_connect(db)) != DB_OK ||
	    (st = db_exec_result(db, "backfill check", "SELECT to_regclass('analytics_pending')",
				 PGRES_TUPLES_OK, &r)) != DB_OK)
		return st;
	int present = !PQgetisnull(r, 0, 0);
	PQclear(r);
	return present ? db_analytics_compact(db, folded) : DB_OK;
}

enum db_status
db_analytics_erase(struct db *db, const char *user_id)
{
	int64_t next;
	return apply(db, "analytics_erase", 1, &user_id, &next);
}
