/* db.c: one libpq connection with its prepared statements. The only file that includes
 * libpq-fe.h. Every PGresult is checked and cleared on every path. */
#include "db.h"
#include "log.h"

#include <libpq-fe.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { DB_RETRIES = 3, COPY_CHUNK = 256 * 1024 };

struct db {
	PGconn *conn;
	char *conninfo;
	char appname[64];
	int statement_timeout_ms;	/* every statement but the reads (0: none) */
	int lock_timeout_ms;		/* every wait for a lock (0: none) */
	int read_timeout_ms;		/* the stats queries (0: statement_timeout_ms) */
	int sess_stmt_ms, sess_lock_ms; /* what the connection's session has now */
	int ready; /* statements prepared and staging tables made on this connection */
	char err[256];
};

struct stmt {
	const char *name, *sql;
};

static const struct stmt statements[] = {
    {"dau", "SELECT day - $1::date, sum(users)::bigint FROM daily_users"
	    " WHERE day BETWEEN $1::date AND $2::date GROUP BY day"},
    {"top", "SELECT event_type, sum(events)::bigint AS n FROM daily_event_types"
	    " WHERE day BETWEEN $1::date AND $2::date GROUP BY event_type"
	    " ORDER BY n DESC, event_type COLLATE \"C\" LIMIT $3::int"},
    /* window k of the cohort starting at $1 is the cell (period, $1, $1 + k * period);
     * window 0 is the cohort size (migration 0003) */
    {"retention", "SELECT (active - $1::date) / $2::int, sum(users)::bigint FROM retention_cells"
		  " WHERE period = $2::int AND cohort = $1::date"
		  "  AND active BETWEEN $1::date AND $1::date + $2::int * $3::int"
		  " GROUP BY active"},
    {"merge", "SELECT ingest_merge($1::int, false)"},
    {"merge_skip_stored", "SELECT ingest_merge($1::int, true)"},
};

struct db *
db_new(const char *conninfo, const char *application_name, int statement_timeout_ms)
{
	struct db *db = calloc(1, sizeof *db);
	if (!db)
		return NULL;
	if (conninfo && !(db->conninfo = strdup(conninfo))) {
		free(db);
		return NULL;
	}
	snprintf(db->appname, sizeof db->appname, "%s", application_name);
	db->statement_timeout_ms = statement_timeout_ms;
	return db;
}

void
db_set_limits(struct db *db, int lock_timeout_ms, int read_timeout_ms)
{
	db->lock_timeout_ms = lock_timeout_ms;
	db->read_timeout_ms = read_timeout_ms;
}

static void
disconnect(struct db *db)
{
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
	db->ready = 0;
}

void
db_close(struct db *db)
{
	if (!db)
		return;
	disconnect(db);
	free(db->conninfo);
	free(db);
}

const char *
db_last_error(const struct db *db)
{
	return db->err;
}

static void
set_error(struct db *db, const char *what, const char *detail)
{
	size_t n;
	snprintf(db->err, sizeof db->err, "%s: %s", what, detail ? detail : "");
	n = strlen(db->err);
	while (n && (db->err[n - 1] == '\n' || db->err[n - 1] == ' '))
		db->err[--n] = '\0';
}

enum db_status
db_connect(struct db *db)
{
	const char *keys[] = {"dbname",
			      "application_name",
			      "connect_timeout",
			      "keepalives_idle",
			      "keepalives_interval",
			      "keepalives_count",
			      NULL};
	const char *vals[] = {db->conninfo, db->appname, "2", "10", "3", "3", NULL};
	char sql[200];
	PGresult *r;
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
		return DB_OK;
	disconnect(db);
	db->conn = PQconnectdbParams(keys, vals, 1);
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
		set_error(db, "connect", db->conn ? PQerrorMessage(db->conn) : "out of memory");
		log_msg(LOG_WARN, "db", "%s", db->err);
		disconnect(db);
		return DB_UNAVAILABLE;
	}
	snprintf(sql, sizeof sql,
		 "SET statement_timeout = %d; SET lock_timeout = %d; SET TIME ZONE 'UTC';"
		 " SET client_min_messages = warning",
		 db->statement_timeout_ms, db->lock_timeout_ms);
	r = PQexec(db->conn, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		set_error(db, "session setup", PQerrorMessage(db->conn));
		log_msg(LOG_ERROR, "db", "%s", db->err);
		PQclear(r);
		disconnect(db);
		return DB_UNAVAILABLE;
	}
	PQclear(r);
	db->sess_stmt_ms = db->statement_timeout_ms;
	db->sess_lock_ms = db->lock_timeout_ms;
	return DB_OK;
}

/* 1 for errors that mean the server is going or gone even though libpq may not have noticed
 * yet: class 08 (connection exception) and 57P (administrator or crash shutdown, "cannot
 * connect now"), e.g. the FATAL a session gets while PostgreSQL is being stopped. */
static int
server_gone(const PGresult *r)
{
	const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return code && (!strncmp(code, "08", 2) || !strncmp(code, "57P", 3));
}

/* 1 for a statement that ran out of time: a lock not had within lock_timeout (55P03
 * lock_not_available), or statement_timeout or a cancel request (57014 query_canceled). The
 * connection stays usable. */
static int
timed_out(const PGresult *r)
{
	const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return code && (!strcmp(code, "55P03") || !strcmp(code, "57014"));
}

/* What a failed result r (may be NULL) means: connection lost (DB_UNAVAILABLE, connection
 * dropped), out of time (DB_BUSY) or an error the server reported (DB_ERROR). Logs once with
 * the statement's name. */
static enum db_status
failure(struct db *db, const char *what, const PGresult *r)
{
	set_error(db, what, PQerrorMessage(db->conn));
	if (PQstatus(db->conn) != CONNECTION_OK || server_gone(r)) {
		log_msg(LOG_WARN, "db", "connection lost: %s", db->err);
		disconnect(db);
		return DB_UNAVAILABLE;
	}
	if (timed_out(r)) {
		log_msg(LOG_WARN, "db", "out of time: %s", db->err);
		return DB_BUSY;
	}
	log_msg(LOG_ERROR, "db", "%s", db->err);
	return DB_ERROR;
}

static enum db_status
exec_ok(struct db *db, const char *sql, ExecStatusType want)
{
	PGresult *r = PQexec(db->conn, sql);
	enum db_status st = DB_OK;
	if (PQresultStatus(r) != want)
		st = failure(db, sql, r);
	PQclear(r);
	return st;
}

/* Brings the session to statement_timeout stmt_ms and the configured lock_timeout, in one
 * round trip and only when it does not have them yet. (Both SETs run in one implicit
 * transaction: if one fails, the session keeps what it had.) */
static enum db_status
session_limits(struct db *db, int stmt_ms)
{
	char sql[96];
	enum db_status st;
	if (db->sess_stmt_ms == stmt_ms && db->sess_lock_ms == db->lock_timeout_ms)
		return DB_OK;
	snprintf(sql, sizeof sql, "SET statement_timeout = %d; SET lock_timeout = %d", stmt_ms,
		 db->lock_timeout_ms);
	if ((st = exec_ok(db, sql, PGRES_COMMAND_OK)) == DB_OK) {
		db->sess_stmt_ms = stmt_ms;
		db->sess_lock_ms = db->lock_timeout_ms;
	}
	return st;
}

/* Makes the staging table and prepares the statements. Preparing takes the tables' locks, so
 * it can run out of time behind a migration. */
static enum db_status
prepare(struct db *db)
{
	enum db_status st;
	if ((st = exec_ok(db, "SELECT ingest_session_init()", PGRES_TUPLES_OK)) != DB_OK)
		return st;
	for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++) {
		PGresult *r = PQprepare(db->conn, statements[i].name, statements[i].sql, 0, NULL);
		st = PQresultStatus(r) == PGRES_COMMAND_OK ? DB_OK
							   : failure(db, statements[i].name, r);
		PQclear(r);
		if (st != DB_OK)
			return st;
	}
	return DB_OK;
}

/* Connected, session limits current, statements prepared, staging tables present. A
 * preparation that failed half-way leaves no connection behind: its statements would exist
 * twice on the next try. */
static enum db_status
ready(struct db *db)
{
	enum db_status st = db_connect(db);
	if (st == DB_OK)
		st = session_limits(db, db->sess_stmt_ms);
	if (st != DB_OK || db->ready)
		return st;
	if ((st = prepare(db)) != DB_OK) {
		disconnect(db);
		return st == DB_BUSY ? DB_BUSY : DB_UNAVAILABLE; /* e.g. migrations not applied */
	}
	db->ready = 1;
	return DB_OK;
}

/* Runs a prepared statement that returns rows; *out owned by the caller (PQclear). A lost
 * connection that was idle is retried once on a new one: the first request after a database
 * restart then succeeds instead of failing. */
static enum db_status
query(struct db *db, const char *name, int nparams, const char *const *params, PGresult **out)
{
	int stmt_ms = db->read_timeout_ms ? db->read_timeout_ms : db->statement_timeout_ms;
	*out = NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		/* a connection the server closed while it was idle (a restart: "terminating
		 * connection due to administrator command") fails at its first statement, which
		 * may be one of ready()'s: that too is retried on a new connection */
		int was_connected = db->conn != NULL;
		enum db_status st = ready(db);
		if (st == DB_OK && (st = session_limits(db, stmt_ms)) == DB_OK) {
			*out = PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0);
			if (PQresultStatus(*out) == PGRES_TUPLES_OK)
				return DB_OK;
			st = failure(db, name, *out);
			PQclear(*out);
			*out = NULL;
		}
		if (st != DB_UNAVAILABLE || !was_connected)
			return st;
	}
	return DB_UNAVAILABLE;
}

/* --- COPY text encoding of a batch -------------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
};

static int
buf_reserve(struct buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Appends s with COPY text escaping (backslash, tab, newline, carriage return). */
static int
buf_copy_field(struct buf *b, const char *s)
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
buf_copy_row(struct buf *b, const struct event *e, size_t ord)
{
	char ts[EVENT_TIME_BUF];
	event_time_format(e->occurred_us, ts);
	if (buf_copy_field(b, e->event_id) < 0 || buf_copy_field(b, ts) < 0 ||
	    buf_copy_field(b, e->user_id) < 0 || buf_copy_field(b, e->event_type) < 0 ||
	    buf_copy_field(b, e->properties) < 0 || buf_reserve(b, 24) < 0)
		return -1;
	b->len += (size_t)snprintf(b->p + b->len, 24, "%zu\n", ord);
	return 0;
}

/* COPYs b into ingest_stage inside the open transaction. */
static enum db_status
stage(struct db *db, const struct batch *b)
{
	struct buf buf = {0};
	enum db_status st = DB_OK;
	PGresult *r = PQexec(db->conn, "COPY ingest_stage (event_id, occurred_at, user_id,"
				       " event_type, properties, ord) FROM STDIN");
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		st = failure(db, "COPY ingest_stage", r);
		PQclear(r);
		return st;
	}
	PQclear(r);
	for (size_t i = 0; i < b->n && st == DB_OK; i++) {
		if (buf_copy_row(&buf, &b->ev[i], i) < 0) {
			PQputCopyEnd(db->conn, "out of memory");
			st = DB_ERROR;
		} else if (buf.len >= COPY_CHUNK || i + 1 == b->n) {
			if (PQputCopyData(db->conn, buf.p, (int)buf.len) != 1)
				st = DB_UNAVAILABLE;
			buf.len = 0;
		}
	}
	free(buf.p);
	if (st == DB_OK && PQputCopyEnd(db->conn, NULL) != 1)
		st = DB_UNAVAILABLE;
	while ((r = PQgetResult(db->conn))) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK && st == DB_OK)
			st = failure(db, "COPY ingest_stage", r);
		PQclear(r);
	}
	if (st == DB_UNAVAILABLE && db->conn)
		st = failure(db, "COPY ingest_stage", NULL);
	return st;
}

static int
retryable(const PGresult *r)
{
	const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return code && (!strcmp(code, "40P01") || !strcmp(code, "40001"));
}

static int64_t
first_int(const PGresult *r)
{
	return PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
							 : 0;
}

static void
rollback(struct db *db)
{
	if (db->conn && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		(void)exec_ok(db, "ROLLBACK", PGRES_COMMAND_OK);
}

/* BEGIN, with the statement timeout of writes when the session has the reads' one. */
static enum db_status
begin_write(struct db *db)
{
	char sql[64];
	if (db->sess_stmt_ms == db->statement_timeout_ms)
		return exec_ok(db, "BEGIN", PGRES_COMMAND_OK);
	snprintf(sql, sizeof sql, "BEGIN; SET LOCAL statement_timeout = %d",
		 db->statement_timeout_ms);
	return exec_ok(db, sql, PGRES_COMMAND_OK);
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
	if ((st = begin_write(db)) != DB_OK)
		return st;
	if ((st = stage(db, b)) != DB_OK) {
		rollback(db);
		return st;
	}
	r = PQexecPrepared(db->conn, name, param ? 1 : 0, &param, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		*retry = retryable(r);
		st = failure(db, name, r);
		PQclear(r);
		rollback(db);
		return st;
	}
	*n = first_int(r);
	PQclear(r);
	return exec_ok(db, commit ? "COMMIT" : "ROLLBACK", PGRES_COMMAND_OK);
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
		if ((st = ready(db)) == DB_OK)
			st = staged_call(db, b, name, param, commit, n, &retry);
		if (st == DB_OK)
			return DB_OK;
		/* A connection that died while idle is retried on a new one; ingestion is
		 * idempotent, so even a COMMIT whose answer was lost is safe to repeat. */
		if (!(retry || (st == DB_UNAVAILABLE && was_connected)))
			return st;
		if (retry && attempt + 1 == DB_RETRIES)
			return DB_BUSY; /* contention outlasted the retries */
		log_msg(LOG_WARN, "db", "retrying %s (attempt %d): %s", name, attempt + 2, db->err);
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
	st = staged(db, b, mode == DB_MAY_REPEAT ? "merge_skip_stored" : "merge", param, 1, &n);
	*accepted = st == DB_OK ? (size_t)n : 0;
	return st;
}

/* --- stats --------------------------------------------------------------------------------- */

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
	if ((st = query(db, "dau", 2, params, &r)) != DB_OK)
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
	size_t bytes;
	event_date_format(from_day, from);
	event_date_format(to_day, to);
	snprintf(lim, sizeof lim, "%d", limit);
	*rows = NULL;
	*n = 0;
	if ((st = query(db, "top", 3, params, &r)) != DB_OK)
		return st;
	/* one block: the rows, then their strings */
	bytes = (size_t)PQntuples(r) * sizeof **rows;
	for (int i = 0; i < PQntuples(r); i++)
		bytes += (size_t)PQgetlength(r, i, 0) + 1;
	if (!(*rows = malloc(bytes ? bytes : 1))) {
		PQclear(r);
		return DB_ERROR;
	}
	char *text = (char *)(*rows + PQntuples(r));
	for (int i = 0; i < PQntuples(r); i++) {
		size_t len = (size_t)PQgetlength(r, i, 0) + 1;
		memcpy(text, PQgetvalue(r, i, 0), len);
		(*rows)[i].event_type = text;
		(*rows)[i].count = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		text += len;
	}
	*n = (size_t)PQntuples(r);
	PQclear(r);
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
	if ((st = query(db, "retention", 3, params, &r)) != DB_OK)
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

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the answer to a sent query until deadline; 0 when a result is ready. */
static int
wait_result(struct db *db, int64_t deadline)
{
	while (PQisBusy(db->conn)) {
		struct pollfd pfd = {.fd = PQsocket(db->conn), .events = POLLIN};
		int64_t left = deadline - now_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		if (!PQconsumeInput(db->conn))
			return -1;
	}
	return 0;
}

enum db_status
db_ping(struct db *db, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	enum db_status st = DB_OK;
	PGresult *r;
	for (int attempt = 0; attempt < 2; attempt++) {
		int was_connected = db->conn != NULL;
		if ((st = db_connect(db)) != DB_OK)
			return st;
		if (!PQsendQuery(db->conn, "SELECT 1") || wait_result(db, deadline) < 0) {
			set_error(db, "ping", PQerrorMessage(db->conn));
			log_msg(LOG_WARN, "db", "%s", db->err);
			disconnect(db); /* a late answer would confuse the next query */
			st = DB_UNAVAILABLE;
			if (was_connected && now_ms() < deadline)
				continue;
			return st;
		}
		while ((r = PQgetResult(db->conn))) {
			if (PQresultStatus(r) != PGRES_TUPLES_OK)
				st = DB_UNAVAILABLE;
			PQclear(r);
		}
		if (st == DB_OK)
			return DB_OK;
		disconnect(db);
	}
	return st;
}

/* --- migrations --------------------------------------------------------------------------- */

enum db_status
db_migrate_lock(struct db *db)
{
	enum db_status st = db_connect(db);
	if (st != DB_OK)
		return st;
	/* 0x65766e74 = "evnt": one lock for every migrator of this schema */
	return exec_ok(db, "SELECT pg_advisory_lock(1702260340)", PGRES_TUPLES_OK);
}

static enum db_status
one_text(struct db *db, const char *sql, int nparams, const char *const *params, char **out)
{
	PGresult *r = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	enum db_status st = DB_OK;
	*out = NULL;
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		st = failure(db, sql, r);
	else if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) && !(*out = strdup(PQgetvalue(r, 0, 0))))
		st = DB_ERROR;
	PQclear(r);
	return st;
}

enum db_status
db_migration_checksum(struct db *db, const char *version, char **checksum)
{
	enum db_status st = exec_ok(db,
				    "CREATE TABLE IF NOT EXISTS schema_migrations ("
				    " version text PRIMARY KEY, checksum text NOT NULL,"
				    " applied_at timestamptz NOT NULL DEFAULT now())",
				    PGRES_COMMAND_OK);
	if (st != DB_OK)
		return st;
	return one_text(db, "SELECT checksum FROM schema_migrations WHERE version = $1", 1,
			&version, checksum);
}

enum db_status
db_checksum(struct db *db, const char *sql, char **checksum)
{
	return one_text(db, "SELECT md5($1)", 1, &sql, checksum);
}

enum db_status
db_migration_apply(struct db *db, const char *version, const char *sql, const char *checksum,
		   int lock_timeout_ms)
{
	const char *params[] = {version, checksum};
	char begin[64];
	enum db_status st;
	PGresult *r;
	/* LOCAL: the session's advisory lock (db_migrate_lock) waits for other migrators */
	snprintf(begin, sizeof begin, "BEGIN; SET LOCAL lock_timeout = %d", lock_timeout_ms);
	if ((st = exec_ok(db, begin, PGRES_COMMAND_OK)) != DB_OK)
		return st;
	r = PQexec(db->conn, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		st = failure(db, version, r);
		/* a deadlock or serialisation failure: a later try may pass */
		if (st == DB_ERROR && retryable(r))
			st = DB_BUSY;
		PQclear(r);
		rollback(db);
		return st;
	}
	PQclear(r);
	r = PQexecParams(db->conn,
			 "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", 2,
			 NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		st = failure(db, "record migration", r);
		PQclear(r);
		rollback(db);
		return st;
	}
	PQclear(r);
	return exec_ok(db, "COMMIT", PGRES_COMMAND_OK);
}

/* --- bulk loader --- */

enum db_status
db_loader_begin(struct db *db, int dry_run)
{
	/* Room for a whole batch in the session's temp tables and for its sorts: temp_buffers
	 * only takes effect before the first temp table is touched, so before ready(). */
	enum db_status st = db_connect(db);
	if (st == DB_OK && !db->ready)
		st = exec_ok(db, "SET temp_buffers = '256MB'; SET work_mem = '64MB'",
			     PGRES_COMMAND_OK);
	if (st == DB_OK)
		st = ready(db);
	if (st != DB_OK || !dry_run)
		return st;
	if ((st = exec_ok(db, "BEGIN", PGRES_COMMAND_OK)) != DB_OK)
		return st;
	st = exec_ok(db, "CREATE TEMP TABLE loader_seen (event_id uuid PRIMARY KEY) ON COMMIT DROP",
		     PGRES_COMMAND_OK);
	if (st != DB_OK)
		rollback(db);
	return st;
}

/* The dry-run count of one batch, inside savepoint "batch". */
static enum db_status
dry_count(struct db *db, const struct batch *b, int64_t *n)
{
	enum db_status st;
	PGresult *r;
	if ((st = stage(db, b)) != DB_OK)
		return st;
	r = PQexec(db->conn, "WITH fresh AS (INSERT INTO loader_seen"
			     " SELECT DISTINCT s.event_id FROM ingest_stage s WHERE NOT EXISTS"
			     " (SELECT 1 FROM events e WHERE e.event_id = s.event_id)"
			     " ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM fresh");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		st = failure(db, "dry-run count", r);
		PQclear(r);
		return st;
	}
	*n = first_int(r);
	PQclear(r);
	return exec_ok(db, "TRUNCATE ingest_stage", PGRES_COMMAND_OK);
}

enum db_status
db_loader_dry_count(struct db *db, const struct batch *b, size_t *fresh)
{
	int64_t n = 0;
	enum db_status st;
	*fresh = 0;
	if (!db->conn || PQtransactionStatus(db->conn) != PQTRANS_INTRANS)
		return DB_UNAVAILABLE; /* the dry run's transaction is gone with its connection */
	if ((st = exec_ok(db, "SAVEPOINT batch", PGRES_COMMAND_OK)) != DB_OK)
		return st;
	st = dry_count(db, b, &n);
	if (st == DB_ERROR)
		(void)exec_ok(db, "ROLLBACK TO SAVEPOINT batch", PGRES_COMMAND_OK);
	else if (st == DB_OK)
		st = exec_ok(db, "RELEASE SAVEPOINT batch", PGRES_COMMAND_OK);
	*fresh = st == DB_OK ? (size_t)n : 0;
	return st;
}

void
db_loader_end(struct db *db, int dry_run)
{
	if (dry_run)
		rollback(db);
}
