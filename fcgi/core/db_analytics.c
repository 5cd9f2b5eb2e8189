/* db_analytics.c: the fold of the zone-aware summaries (migrations 0011, 0014, 0015; ADR 7):
 * its transactions, and the stored user sets it and erasure edit. Writers only append pending
 * rows (in the merge); the fold (db_fold.c: its computing) takes them one compactor at a
 * time, erasure edits the sets that hold the user. The reads are in db_analytics_read.c. */
#include "buf.h"
#include "db.h"
#include "db_internal.h"
#include "db_sets.h"
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

int
db_array_int(struct buf *b, long long v)
{
	char num[24];
	snprintf(num, sizeof num, "%lld", v);
	return db_array_text(b, num);
}

int
db_array_close(struct buf *b)
{
	if (buf_reserve(b, 3) < 0)
		return -1;
	if (!b->len)
		b->p[b->len++] = '{';
	b->p[b->len++] = '}';
	b->p[b->len] = '\0';
	return 0;
}

/* --- folding and erasing ------------------------------------------------------------------ */

/* Pending events folded per transaction: bounds one fold's memory and time. */
enum { FOLD_ROWS = 50000 };

/* The keys of one "{1,2,3}" array (NULL-safe) into *keys, *n of them. 0, or -1 out of memory. */
static int
parse_keys(const char *arr, uint32_t **keys, size_t *n, size_t *cap)
{
	const char *p = arr;
	*n = 0;
	if (!p || *p != '{')
		return 0;
	for (p++; *p && *p != '}';) {
		char *end;
		unsigned long k = strtoul(p, &end, 10);
		if (end == p)
			break;
		if (*n + 1 > *cap &&
		    buf_array_reserve(keys, cap, *n, sizeof **keys, (size_t)1 << 30) < 0)
			return -1;
		(*keys)[(*n)++] = (uint32_t)k;
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

static int
target_cmp(const void *a, const void *b)
{
	const struct target *x = a, *y = b;
	int c;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->level != y->level)
		return x->level < y->level ? -1 : 1;
	if ((c = strcmp(x->type, y->type)) != 0)
		return c;
	return x->bucket < y->bucket ? -1 : x->bucket > y->bucket;
}

/* The block of level l holding quarter q (floor, also before 1970), as db_qblock() in SQL. */
long long
db_qblock(long long q, int l)
{
	return q - (((q % l) + l) % l);
}

/* The set of (kind, type, level, bucket) among t (sorted rows of r), loaded from its row at
 * its first use. NULL when it is missing or damaged, or out of memory. */
struct target *
db_target_find(const PGresult *r, struct target *t, size_t nt, char kind, const char *type,
	       int level, long long bucket)
{
	struct target key = {.kind = kind, .type = type, .level = level, .bucket = bucket};
	struct target *x = bsearch(&key, t, nt, sizeof *t, target_cmp);
	if (!x)
		return NULL;
	if (!x->s) {
		if (!(x->s = userset_new()))
			return NULL;
		if (userset_or_text(x->s, PQgetvalue(r, x->row, COL_USERS),
				    (size_t)PQgetlength(r, x->row, COL_USERS)) < 0)
			return NULL;
	}
	return x;
}

/* The sets an edit row changes, each loaded: the row's own set, or for a quarter's edit
 * the three that hold it. How many (0 when one is missing or damaged: the caller fails). */
static int
targets_of(const PGresult *r, int i, struct target *t, size_t nt, struct target **out)
{
	static const int levels[] = {1, 4, 24};
	char kind = *PQgetvalue(r, i, COL_KIND);
	const char *type = PQgetvalue(r, i, COL_TYPE);
	int own = atoi(PQgetvalue(r, i, COL_LEVEL));
	long long q = strtoll(PQgetvalue(r, i, COL_BUCKET), NULL, 10);
	int n = own ? 1 : 3;
	for (int j = 0; j < n; j++)
		if (!(out[j] = db_target_find(r, t, nt, kind, type, own ? own : levels[j],
					      own ? q : db_qblock(q, levels[j]))))
			return 0;
	return n;
}

/* Applies the rows' key lists of column col (COL_RM: take out, COL_ADD: put in). */
static int
apply_column(const PGresult *r, int col, struct target *t, size_t nt)
{
	uint32_t *keys = NULL;
	size_t n, cap = 0;
	int rc = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		struct target *to[3];
		int nto;
		if (*PQgetvalue(r, i, COL_KIND) == 'n' || PQgetisnull(r, i, col))
			continue;
		if (parse_keys(PQgetvalue(r, i, col), &keys, &n, &cap) < 0 ||
		    (nto = targets_of(r, i, t, nt, to)) == 0) {
			rc = -1;
			break;
		}
		for (int j = 0; j < nto; j++)
			for (size_t k = 0; k < n; k++)
				to[j]->changed +=
				    (size_t)(col == COL_ADD ? userset_add(to[j]->s, keys[k])
							    : userset_remove(to[j]->s, keys[k]));
	}
	free(keys);
	return rc;
}

/* One edited set into sa. */
static int
store_target(struct store_args *sa, const PGresult *r, struct target *x)
{
	char *hex = userset_hex(x->s);
	int rc = -1;
	if (!hex)
		return -1;
	const int cols[] = {COL_KIND, COL_LEVEL, COL_TYPE, COL_BUCKET};
	for (int c = 0; c < 4; c++)
		if (db_array_text(&sa->a[c], PQgetvalue(r, x->row, cols[c])) < 0)
			goto out;
	rc = db_array_text(&sa->a[4], hex);
out:
	free(hex);
	return rc;
}

/* The stored sets among r's rows (those with a level), sorted, none loaded yet; *nt of
 * them. NULL when out of memory. */
struct target *
db_targets_new(const PGresult *r, size_t *nt)
{
	struct target *t = calloc((size_t)PQntuples(r) + 1, sizeof *t);
	*nt = 0;
	if (!t)
		return NULL;
	for (int i = 0; i < PQntuples(r); i++) {
		int level = atoi(PQgetvalue(r, i, COL_LEVEL));
		if (*PQgetvalue(r, i, COL_KIND) == 'n' || level == 0)
			continue;
		t[(*nt)++] =
		    (struct target){.row = i,
				    .kind = *PQgetvalue(r, i, COL_KIND),
				    .level = level,
				    .type = PQgetvalue(r, i, COL_TYPE),
				    .bucket = strtoll(PQgetvalue(r, i, COL_BUCKET), NULL, 10)};
	}
	qsort(t, *nt, sizeof *t, target_cmp);
	return t;
}

/* The sets of t that changed into sa; every set freed, and t. 0, or -1 out of memory. */
int
db_targets_store(const PGresult *r, struct target *t, size_t nt, struct store_args *sa)
{
	int rc = 0;
	for (size_t j = 0; j < nt && rc == 0; j++)
		if (t[j].changed)
			rc = store_target(sa, r, &t[j]);
	for (size_t j = 0; j < nt; j++)
		userset_free(t[j].s);
	free(t);
	return rc;
}

/* Edits the sets of r (every key taken out before any is put in, as a first event that moves
 * leaves one block for another) and adds those that changed to sa. 0, or -1 when a set is
 * damaged or missing, or out of memory. */
static int
edit_rows(const PGresult *r, struct store_args *sa)
{
	size_t nt;
	struct target *t = db_targets_new(r, &nt);
	if (!t)
		return -1;
	if (apply_column(r, COL_RM, t, nt) < 0 || apply_column(r, COL_ADD, t, nt) < 0) {
		for (size_t j = 0; j < nt; j++)
			t[j].changed = 0;
		db_targets_store(r, t, nt, sa);
		return -1;
	}
	return db_targets_store(r, t, nt, sa);
}

/* Hands the edited rows of sa to analytics_store. */
enum db_status
db_sets_store(struct db *db, struct store_args *sa)
{
	const char *params[STORE_ARGS];
	PGresult *r;
	enum db_status st = DB_OK;
	for (int c = 0; c < STORE_ARGS; c++) {
		if (db_array_close(&sa->a[c]) < 0)
			return DB_ERROR;
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
	for (int i = 0; i < PQntuples(r); i++)
		if (*PQgetvalue(r, i, COL_KIND) == 'n')
			*next = strtoll(PQgetvalue(r, i, COL_BUCKET), NULL, 10);
	if (edit_rows(r, &sa) < 0) {
		db_set_error(db, rows_stmt, "a stored user set is damaged, or out of memory");
		log_msg(LOGL_ERROR, "db", "%s", db->err);
		st = DB_ERROR;
	}
	PQclear(r);
	if (st == DB_OK && sa.a[0].len > 0)
		st = db_sets_store(db, &sa);
	for (int c = 0; c < STORE_ARGS; c++)
		buf_free(&sa.a[c]);
	return st;
}

enum db_status
db_analytics_compact_in(struct db *db, int64_t lo, int64_t hi, int64_t *folded)
{
	char page[24], pages[16], l[24], h[24];
	const char *params[] = {page, pages, l, h};
	enum db_status st;
	int64_t next = 0;
	snprintf(pages, sizeof pages, "%d", FOLD_ROWS);
	snprintf(l, sizeof l, "%lld", (long long)(lo < INT32_MIN ? INT32_MIN : lo));
	snprintf(h, sizeof h, "%lld", (long long)(hi > INT32_MAX ? INT32_MAX : hi));
	*folded = 0;
	do {
		snprintf(page, sizeof page, "%lld", (long long)next);
		/* Only derived rows change here (the pending events are on the standby already,
		 * their ingest waited for it): a fold lost in a failover is done again on the new
		 * primary from the same pending rows, so its commit does not wait for a standby. A
		 * silent standby then holds no fold, and no read waiting for one, for ever. */
		if ((st = db_ready(db)) != DB_OK ||
		    (st = db_session_limits(db, db->statement_timeout_ms)) != DB_OK ||
		    (st = db_exec_ok(db, "BEGIN; SET LOCAL synchronous_commit = local",
				     PGRES_COMMAND_OK)) != DB_OK)
			return st;
		if ((st = db_fold_take(db, params, &next)) != DB_OK) {
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
db_analytics_compact(struct db *db, int64_t *folded)
{
	return db_analytics_compact_in(db, INT32_MIN, INT32_MAX, folded);
}

enum db_status
db_analytics_fold_pending(struct db *db, int64_t *folded)
{
	PGresult *r;
	enum db_status st;
	*folded = 0;
	if ((st = db_ready(db)) != DB_OK)
		return st;
	r = PQexecPrepared(db->conn, "analytics_fold_due", 0, NULL, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		st = db_failure(db, "analytics_fold_due", r);
		PQclear(r);
		return st;
	}
	int due = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return due ? db_analytics_compact(db, folded) : DB_OK;
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
	if (!present)
		return DB_OK;
	/* nothing pending: nothing prepared either (the statements of a fold may be those of
	 * migrations not applied here) */
	if ((st = db_exec_result(db, "backfill check", "SELECT 1 FROM analytics_pending LIMIT 1",
				 PGRES_TUPLES_OK, &r)) != DB_OK)
		return st;
	present = PQntuples(r) > 0;
	PQclear(r);
	return present ? db_analytics_compact(db, folded) : DB_OK;
}

enum db_status
db_analytics_erase(struct db *db, const char *user_id)
{
	int64_t next;
	return apply(db, "analytics_erase", 1, &user_id, &next);
}
