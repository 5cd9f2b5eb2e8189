/* db_ingest.c: a batch into the database: the COPY text encoding of its events into the
 * session's staging table, then the merge into events and the per-day summaries, in one
 * transaction retried on deadlock or a connection lost while idle. */
#include "buf.h"
#include "db.h"
#include "db_internal.h"
#include "log.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DB_RETRIES = 3, COPY_CHUNK = 256 * 1024 };

/* --- COPY text encoding of a batch -------------------------------------------------------- */

/* Appends s with COPY text escaping (backslash, tab, newline, carriage return). */
static int
copy_field(struct buf *b, const char *s)
{
	size_t len = strlen(s);
	if (buf_reserve(b, 2 * len + 1) < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
			b->p[b->len++] = '\\';
			c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
		}
		b->p[b->len++] = c;
	}
	b->p[b->len++] = '\t';
	return 0;
}

static int
copy_row(struct buf *b, const struct event *e, size_t ord)
{
	char ts[EVENT_TIME_BUF];
	event_time_format(e->occurred_us, ts);
	if (copy_field(b, e->event_id) < 0 || copy_field(b, ts) < 0 ||
	    copy_field(b, e->user_id) < 0 || copy_field(b, e->event_type) < 0 ||
	    copy_field(b, e->properties) < 0 || buf_reserve(b, 24) < 0)
		return -1;
	b->len += (size_t)snprintf(b->p + b->len, 24, "%zu\n", ord);
	return 0;
}

/* COPYs b into ingest_stage (or load_stage) inside the open transaction. */
enum db_status
db_stage(struct db *db, const struct batch *b)
{
	struct buf buf = {0};
	enum db_status st = DB_OK;
	const char *what = db->load_stage ? "COPY load_stage" : "COPY ingest_stage";
	PGresult *r;
	/* load_stage (0019): loads take turns batch by batch, the COPY and the merge on one
	 * connection per worker, each worker's shards in shard order */
	if (db->load_stage &&
	    (st = db_exec_ok(db,
			     "SET LOCAL citus.multi_shard_modify_mode = 'sequential';"
			     " LOCK TABLE load_stage IN ACCESS EXCLUSIVE MODE",
			     PGRES_COMMAND_OK)) != DB_OK)
		return st;
	if ((st = db_exec_result(db, what,
				 db->load_stage ? "COPY load_stage (event_id, occurred_at, user_id,"
						  " event_type, properties, ord) FROM STDIN"
						: "COPY ingest_stage (event_id, occurred_at, user_id,"
						  " event_type, properties, ord) FROM STDIN",
				 PGRES_COPY_IN, &r)) != DB_OK)
		return st;
	PQclear(r);
	for (size_t i = 0; i < b->n && st == DB_OK; i++) {
		if (copy_row(&buf, &b->ev[i], i) < 0) {
			PQputCopyEnd(db->conn, "out of memory");
			st = DB_ERROR;
		} else if (buf.len >= COPY_CHUNK || i + 1 == b->n) {
			if (PQputCopyData(db->conn, buf.p, (int)buf.len) != 1)
				st = DB_UNAVAILABLE;
			buf.len = 0;
		}
	}
	buf_free(&buf);
	if (st == DB_OK && PQputCopyEnd(db->conn, NULL) != 1)
		st = DB_UNAVAILABLE;
	while ((r = PQgetResult(db->conn))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && st == DB_OK)
			st = db_failure(db, what, r);
		PQclear(r);
	}
	if (st == DB_UNAVAILABLE && db->conn)
		st = db_failure(db, what, NULL);
	return st;
}

/* One attempt: BEGIN, COPY, then the prepared statement name with param, then COMMIT or
 * ROLLBACK. *retry says a deadlock or serialisation failure may pass on a second try. */
static enum db_status
staged_call(struct db *db, const struct batch *b, const char *name, const char *param, int commit,
	    int64_t *n, int *retry)
{
	enum db_status st;
	PGresult *r;
	*retry = 0;
	if ((st = db_begin_write(db)) != DB_OK)
		return st;
	if ((st = db_stage(db, b)) != DB_OK) {
		db_rollback(db);
		return st;
	}
	r = PQexecPrepared(db->conn, name, param ? 1 : 0, &param, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		*retry = db_retryable(r);
		st = db_failure(db, name, r);
		PQclear(r);
		db_rollback(db);
		return st;
	}
	*n = db_first_int(r);
	PQclear(r);
	db->unreplicated = 0;
	st = commit ? db_exec_bounded(db, "COMMIT", db->statement_timeout_ms)
		    : db_exec_ok(db, "ROLLBACK", PGRES_COMMAND_OK);
	if (st == DB_OK && db->unreplicated) { /* stored here, maybe not on the standby */
		db_set_error(db, "COMMIT", "the wait for the synchronous standby was cancelled");
		return DB_UNCONFIRMED;
	}
	return st;
}

static enum db_status
staged(struct db *db, const struct batch *b, const char *name, const char *param, int commit,
       int64_t *n)
{
	enum db_status st = DB_UNAVAILABLE;
	for (int attempt = 0; attempt < DB_RETRIES; attempt++) {
		int retry;
		int was_connected = db->conn != NULL;
		retry = 0;
		if ((st = db_ready(db)) == DB_OK)
			st = staged_call(db, b, name, param, commit, n, &retry);
		if (st == DB_OK)
			return DB_OK;
		/* A connection that died while idle is retried on a new one; ingestion is
		 * idempotent, so even a COMMIT whose answer was lost is safe to repeat. */
		if (!(retry || (st == DB_UNAVAILABLE && was_connected)))
			return st;
		if (retry && attempt + 1 == DB_RETRIES)
			return DB_BUSY; /* contention outlasted the retries */
		log_msg(LOGL_WARN, "db", "retrying %s (attempt %d): %s", name, attempt + 2,
			db->err);
	}
	return st;
}

enum db_status
db_ingest(struct db *db, const struct batch *b, int stripe, enum db_ingest_mode mode,
	  size_t *accepted)
{
	char param[16];
	int64_t n = 0;
	enum db_status st;
	snprintf(param, sizeof param, "%d", stripe);
	if (db->load_stage) /* the bulk loader on a cluster: it probes stored ids (0019) */
		st = staged(db, b, "merge_load", NULL, 1, &n);
	else
		st = staged(db, b, mode == DB_MAY_REPEAT ? "merge_skip_stored" : "merge", param,
			    1, &n);
	*accepted = st == DB_OK ? (size_t)n : 0;
	return st;
}
