/* db.c: one libpq connection, its session limits and prepared statements, the query helpers
 * the other db*.c files share, and the one single-row helper the migrator runs its own SQL
 * with. db*.c are the only files that include libpq-fe.h. Every PGresult is checked and
 * cleared on every path. */
#include "db.h"
#include "answers.h"
#include "db_internal.h"
#include "clock.h"
#include "log.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct stmt {
	const char *name, *sql;
};

static const struct stmt statements[] = {
    {"merge", "SELECT ingest_merge($1::int, false)"},
    /* the zone-aware summaries (migrations 0011, 0014, 0015, db_analytics.c): the pending
     * events of the quarters [$3, $4) (0017) */
    {"analytics_take", "SELECT kind, user_id, q, event_type, ukey, at, ftypes, fqs"
		       " FROM analytics_take_in($1::int, $2::int, $3::int, $4::int)"},
    {"analytics_users_write",
     "SELECT user_id, ukey FROM analytics_users_write($1::text[],"
     " $2::text[], $3::text[], $4::tid[], $5::text[], $6::text[], $7::int[],"
     " $8::text[], $9::bigint[])"},
    {"analytics_sets_of", "SELECT kind, level, event_type, bucket, users, rm, add"
			  " FROM analytics_block_sets('a', $1::text[], $2::int[]) UNION ALL"
			  " SELECT kind, level, event_type, bucket, users, rm, add"
			  " FROM analytics_block_sets('c', $3::text[], $4::int[])"},
    {"analytics_erase", "SELECT kind, level, event_type, bucket, users, rm, add"
			" FROM analytics_erase($1)"},
    {"analytics_store", "SELECT analytics_store($1::\"char\"[], $2::smallint[], $3::text[],"
			" $4::int[], $5::text[])"},
    {"analytics_sets", "SELECT i, q0, q1, cached, size, users, g FROM stats_days_q("
		       "$1::\"char\", $2, $3::int[], $4::int[], $5::boolean, $6::boolean)"},
    {"analytics_bounds", "SELECT i, q0, q1 FROM stats_day_bounds($1, $2::date, $3::int)"},
    {"analytics_days_store", "SELECT day_sets_store($1::bigint, $2::\"char\", $3, $4::int[],"
			     " $5::int[], $6::int[], $7::text[])"},
    /* events pending (probed as analytics_token's) and no bulk load running (migration
     * 0016: a loader folds its own) */
    {"analytics_fold_due", "SELECT pg_try_advisory_xact_lock(analytics_load_key())"
			   " AND (SELECT p.q FROM analytics_pending p ORDER BY p.q LIMIT 1)"
			   " IS NOT NULL"},
    /* the windows of $2/$3 with their kept counts (NULL: none). Plain SQL, not a PL/pgSQL
     * function: a function call, its SET options and its RETURN QUERY more than doubled the
     * cost of the read (measured). What of these days was pending the reader folded first
     * (memo_answer). */
    {"analytics_windows",
     "SELECT (w.o - 1)::int, w.a, w.b, c.n, (SELECT g FROM analytics_gen)"
     " FROM unnest($2::int[], $3::int[]) WITH ORDINALITY w(a, b, o)"
     " LEFT JOIN window_counts c ON c.event_type = $1 AND c.q0 = w.a AND c.q1 = w.b"
     " ORDER BY 1"},
    /* the days of $3/$4 that day_sets holds (each day's kind and type in $1, $2), with
     * their bitmaps when $5; the others are analytics_sets' to read. Plain SQL, as
     * analytics_windows */
    {"analytics_days_cached",
     "SELECT (d.o - 1)::int, d.a, d.b, true, c.n, CASE WHEN $5::boolean THEN c.users END,"
     " (SELECT g FROM analytics_gen)"
     " FROM unnest($1::\"char\"[], $2::text[], $3::int[], $4::int[])"
     " WITH ORDINALITY d(k, t, a, b, o)"
     " JOIN day_sets c ON c.kind = d.k AND c.event_type = d.t AND c.q0 = d.a"
     " AND c.q1 = d.b"},
    /* the summaries' state (g and the transaction that wrote it: what a memo answer is
     * checked against, answers.h) and whether events of the quarters [$1, $2) are pending
     * (0016: a read folds only when its own range has some). The probe is written so that
     * only the index analytics_pending_q can answer it cheaply: any other plan reads and sorts
     * every pending row to find the first, whatever the planner believes of the table
     * (analysed empty after a load's fold, an EXISTS may be planned as a scan that stops at
     * its first match, and none of a backlog of today's events matches last month's read).
     * Written here rather than calling 0016's analytics_pending_in() (dropped by 0018): that
     * function's SET option was saved and restored on every call, ~0.04 ms of a ~0.09 ms query
     * (measured). */
    {"analytics_token", "SELECT g, xmin::text::bigint, (SELECT p.q FROM analytics_pending p"
			" WHERE p.q >= $1::int AND p.q < $2::int ORDER BY p.q LIMIT 1) IS NOT NULL"
			" FROM analytics_gen"},
    {"analytics_windows_store", "SELECT window_counts_store($1::bigint, $2, $3::int[],"
				" $4::int[], $5::int[])"},
    /* top event types over the quarters that the level-24 blocks [$1, $2) and the level-4 and
     * level-1 blocks $3, $4 cover (one contiguous range of local days, db_top_events_tz);
     * what of these days was pending the reader folded first (fold_range) */
    {"analytics_top",
     "SELECT t.event_type, sum(t.events)::bigint AS n FROM type_counts t"
     " WHERE (t.level = 24 AND t.bucket >= $1::int AND t.bucket < $2::int)"
     "  OR (t.level = 4 AND t.bucket = ANY ($3::int[]))"
     "  OR (t.level = 1 AND t.bucket = ANY ($4::int[]))"
     " GROUP BY t.event_type ORDER BY n DESC, t.event_type COLLATE \"C\" LIMIT $5::int"},
    {"merge_skip_stored", "SELECT ingest_merge($1::int, true)"},
    /* the bulk loader's merge on a cluster, from load_stage (migration 0019) */
    {"merge_load", "SELECT ingest_merge_load(true)"},
    {"erase", "SELECT erase_user($1, $2::int)"},	    /* migration 0005 */
    {"prune", "SELECT prune_raw_events($1::int, $2::int)"}, /* migration 0005 */
    /* the IANA names PostgreSQL knows (AT TIME ZONE also takes POSIX strings and
     * abbreviations, which the API does not) */
    {"tz_known", "SELECT count(*) FROM pg_timezone_names WHERE name = $1"},
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
	db->answers = answers_new(); /* NULL: answers are not kept, nothing else changes */
	return db;
}

void
db_set_limits(struct db *db, int lock_timeout_ms, int read_timeout_ms)
{
	db->lock_timeout_ms = lock_timeout_ms;
	db->read_timeout_ms = read_timeout_ms;
}

void
db_disconnect(struct db *db)
{
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
	db->ready = 0;
	answers_clear(db->answers);
}

void
db_close(struct db *db)
{
	if (!db)
		return;
	db_disconnect(db);
	answers_free(db->answers);
	free(db->conninfo);
	free(db);
}

const char *
db_last_error(const struct db *db)
{
	return db->err;
}

void
db_set_error(struct db *db, const char *what, const char *detail)
{
	size_t n;
	snprintf(db->err, sizeof db->err, "%s: %s", what, detail ? detail : "");
	n = strlen(db->err);
	while (n && (db->err[n - 1] == '\n' || db->err[n - 1] == ' '))
		db->err[--n] = '\0';
}

/* The server's notices (client_min_messages = warning: warnings only) go to the log. One of
 * them matters: a COMMIT whose wait for the synchronous standby was cancelled has committed
 * locally but may not be replicated ("canceling wait for synchronous replication ..."; the
 * server gives it no SQLSTATE of its own, so the text is matched; our clusters run with C
 * messages). */
static void
on_notice(void *arg, const PGresult *r)
{
	struct db *db = arg;
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	if (msg && strstr(msg, "synchronous replication"))
		db->unreplicated = 1;
	log_msg(LOGL_WARN, "db", "server: %s", msg ? msg : "(notice)");
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
	db_disconnect(db);
	db->conn = PQconnectdbParams(keys, vals, 1);
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
		db_set_error(db, "connect", db->conn ? PQerrorMessage(db->conn) : "out of memory");
		log_msg(LOGL_WARN, "db", "%s", db->err);
		db_disconnect(db);
		return DB_UNAVAILABLE;
	}
	PQsetNoticeReceiver(db->conn, on_notice, db);
	snprintf(sql, sizeof sql,
		 "SET statement_timeout = %d; SET lock_timeout = %d; SET TIME ZONE 'UTC';"
		 " SET client_min_messages = warning",
		 db->statement_timeout_ms, db->lock_timeout_ms);
	r = PQexec(db->conn, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		db_set_error(db, "session setup", PQerrorMessage(db->conn));
		log_msg(LOGL_ERROR, "db", "%s", db->err);
		PQclear(r);
		db_disconnect(db);
		return DB_UNAVAILABLE;
	}
	PQclear(r);
	db->sess_stmt_ms = db->statement_timeout_ms;
	db->sess_lock_ms = db->lock_timeout_ms;
	return DB_OK;
}

enum db_role
db_role(const struct db *db)
{
	const char *hot;
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK)
		return DB_ROLE_NONE;
	/* reported by servers since PostgreSQL 14 at connection and when it changes */
	hot = PQparameterStatus(db->conn, "in_hot_standby");
	return hot && !strcmp(hot, "on") ? DB_ROLE_STANDBY : DB_ROLE_PRIMARY;
}

/* 1 for errors that mean the server is going or gone even though libpq may not have noticed
 * yet: class 08 (connection exception) and 57P (administrator or crash shutdown, "cannot
 * connect now"), e.g. the FATAL a session gets while PostgreSQL is being stopped. */
static int
server_gone(const PGresult *r)
{
	const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (code && (!strncmp(code, "08", 2) || !strncmp(code, "57P", 3)))
		return 1;
	/* A Citus coordinator that lost a worker in the middle of a transaction says so with an
	 * internal error (XX000), not a connection error: the node is away, not the data wrong. */
	return code && msg && !strcmp(code, "XX000") &&
	       !strncmp(msg, "failure on connection marked as essential", 41);
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
enum db_status
db_failure(struct db *db, const char *what, const PGresult *r)
{
	const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	snprintf(db->sqlstate, sizeof db->sqlstate, "%s", code ? code : "");
	db_set_error(db, what, PQerrorMessage(db->conn));
	if (PQstatus(db->conn) != CONNECTION_OK || server_gone(r)) {
		log_msg(LOGL_WARN, "db", "connection lost: %s", db->err);
		db_disconnect(db);
		return DB_UNAVAILABLE;
	}
	if (timed_out(r)) {
		log_msg(LOGL_WARN, "db", "out of time: %s", db->err);
		return DB_BUSY;
	}
	/* 22009: a zone whose days do not start on a quarter hour, the request's problem */
	log_msg(strcmp(db->sqlstate, "22009") ? LOGL_ERROR : LOGL_INFO, "db", "%s", db->err);
	return DB_ERROR;
}

enum db_status
db_exec_result(struct db *db, const char *what, const char *sql, ExecStatusType want,
	       PGresult **out)
{
	PGresult *r = PQexec(db->conn, sql);
	enum db_status st = DB_OK;
	if (PQresultStatus(r) != want) {
		st = db_failure(db, what, r);
		PQclear(r);
		r = NULL;
	}
	*out = r;
	return st;
}

enum db_status
db_exec_ok(struct db *db, const char *sql, ExecStatusType want)
{
	PGresult *r;
	enum db_status st = db_exec_result(db, sql, sql, want, &r);
	PQclear(r);
	return st;
}

/* Brings the session to statement_timeout stmt_ms and the configured lock_timeout, in one
 * round trip and only when it does not have them yet. (Both SETs run in one implicit
 * transaction: if one fails, the session keeps what it had.) */
enum db_status
db_session_limits(struct db *db, int stmt_ms)
{
	char sql[96];
	enum db_status st;
	if (db->sess_stmt_ms == stmt_ms && db->sess_lock_ms == db->lock_timeout_ms)
		return DB_OK;
	snprintf(sql, sizeof sql, "SET statement_timeout = %d; SET lock_timeout = %d", stmt_ms,
		 db->lock_timeout_ms);
	if ((st = db_exec_ok(db, sql, PGRES_COMMAND_OK)) == DB_OK) {
		db->sess_stmt_ms = stmt_ms;
		db->sess_lock_ms = db->lock_timeout_ms;
	}
	return st;
}

void
db_only_statements(struct db *db, const char *const *names)
{
	db->only = names;
}

/* 1 when statement name is one this connection prepares. */
static int
wanted(const struct db *db, const char *name)
{
	if (!db->only)
		return 1;
	for (const char *const *n = db->only; *n; n++)
		if (strcmp(*n, name) == 0)
			return 1;
	return 0;
}

/* Makes the staging tables and prepares the statements (only those of db_only_statements, and
 * then no staging tables, when it was called). Preparing takes the tables' locks, so it can
 * run out of time behind a migration.
 *
 * A session with temporary tables drops them when it ends, in a transaction of its own that
 * commits with the session's synchronous_commit. Ended by a demotion (the standby already
 * promoted) or with its standby silent, that commit would wait for a standby that never
 * answers, and a backend that is exiting ignores every further SIGTERM: the server could not
 * shut down (seen in a switchover under load). So such a session runs with "local", and
 * db_begin_write gives each writing transaction the configured value back. What commits
 * outside db_begin_write (the folds, the memo rows of the reads) is derived from rows that
 * are on the standby and is made again when lost. */
static enum db_status
prepare(struct db *db)
{
	enum db_status st;
	PGresult *r;
	if (!db->only) {
		if ((st = db_exec_result(db, "synchronous_commit",
					 "SELECT current_setting('synchronous_commit')",
					 PGRES_TUPLES_OK, &r)) != DB_OK)
			return st;
		snprintf(db->sync_commit, sizeof db->sync_commit, "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
		/* one of the setting's words (on, remote_apply, ...), as it goes into a SET */
		if (!db->sync_commit[0] || strspn(db->sync_commit, "abcdefghijklmnopqrstuvwxyz_") !=
					       strlen(db->sync_commit))
			snprintf(db->sync_commit, sizeof db->sync_commit, "on");
		if ((st = db_exec_ok(db,
				     "SET synchronous_commit = local; SELECT ingest_session_init()",
				     PGRES_TUPLES_OK)) != DB_OK)
			return st;
	}
	for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++) {
		if (!wanted(db, statements[i].name))
			continue;
		PGresult *r = PQprepare(db->conn, statements[i].name, statements[i].sql, 0, NULL);
		st = PQresultStatus(r) == PGRES_COMMAND_OK ? DB_OK
							   : db_failure(db, statements[i].name, r);
		PQclear(r);
		if (st != DB_OK)
			return st;
	}
	return DB_OK;
}

/* Connected, session limits current, statements prepared, staging tables present. A
 * preparation that failed half-way leaves no connection behind: its statements would exist
 * twice on the next try. */
enum db_status
db_ready(struct db *db)
{
	enum db_status st = db_connect(db);
	if (st == DB_OK)
		st = db_session_limits(db, db->sess_stmt_ms);
	if (st != DB_OK || db->ready)
		return st;
	if ((st = prepare(db)) != DB_OK) {
		db_disconnect(db);
		return st == DB_BUSY ? DB_BUSY : DB_UNAVAILABLE; /* e.g. migrations not applied */
	}
	db->ready = 1;
	return DB_OK;
}

/* Runs a prepared statement that returns rows; *out owned by the caller (PQclear). A lost
 * connection that was idle is retried once on a new one: the first request after a database
 * restart then succeeds instead of failing. */
static enum db_status
query(struct db *db, const char *name, int nparams, const char *const *params, PGresult **out,
      int stmt_ms, int binary)
{
	*out = NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		/* a connection the server closed while it was idle (a restart: "terminating
		 * connection due to administrator command") fails at its first statement, which
		 * may be one of ready()'s: that too is retried on a new connection */
		int was_connected = db->conn != NULL;
		enum db_status st = db_ready(db);
		if (st == DB_OK && (st = db_session_limits(db, stmt_ms)) == DB_OK) {
			*out = PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, binary);
			if (PQresultStatus(*out) == PGRES_TUPLES_OK)
				return DB_OK;
			st = db_failure(db, name, *out);
			PQclear(*out);
			*out = NULL;
		}
		if (st != DB_UNAVAILABLE || !was_connected)
			return st;
	}
	return DB_UNAVAILABLE;
}

enum db_status
db_query(struct db *db, const char *name, int nparams, const char *const *params, PGresult **out)
{
	int stmt_ms = db->read_timeout_ms ? db->read_timeout_ms : db->statement_timeout_ms;
	return query(db, name, nparams, params, out, stmt_ms, 0);
}

enum db_status
db_query_binary(struct db *db, const char *name, int nparams, const char *const *params,
		PGresult **out)
{
	int stmt_ms = db->read_timeout_ms ? db->read_timeout_ms : db->statement_timeout_ms;
	return query(db, name, nparams, params, out, stmt_ms, 1);
}

enum db_status
db_query_ms(struct db *db, const char *name, int nparams, const char *const *params, PGresult **out,
	    int stmt_ms)
{
	return query(db, name, nparams, params, out, stmt_ms, 0);
}

int
db_retryable(const PGresult *r)
{
	const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return code && (!strcmp(code, "40P01") || !strcmp(code, "40001"));
}

int64_t
db_first_int(const PGresult *r)
{
	return PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
							 : 0;
}

void
db_rollback(struct db *db)
{
	if (db->conn && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		(void)db_exec_ok(db, "ROLLBACK", PGRES_COMMAND_OK);
}

/* Shared by the migrator's statements: a parameterless sql runs on the simple protocol, so it
 * may hold several statements (a migration file). */
enum db_status
db_query_single(struct db *db, const char *what, const char *sql, int nparams,
		const char *const *params, char **value)
{
	PGresult *r = nparams ? PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0)
			      : PQexec(db->conn, sql);
	enum db_status st = DB_OK;
	if (value)
		*value = NULL;
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		st = db_failure(db, what ? what : sql, r);
		/* a deadlock or serialisation failure: a later try may pass */
		if (st == DB_ERROR && db_retryable(r))
			st = DB_BUSY;
	} else if (value && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) &&
		   !(*value = strdup(PQgetvalue(r, 0, 0)))) {
		st = DB_ERROR;
	}
	PQclear(r);
	return st;
}

static int64_t
now_ms(void)
{
	return (int64_t)(clock_mono_s() * 1000);
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
db_begin_write(struct db *db)
{
	char sql[128];
	int n = snprintf(sql, sizeof sql, "BEGIN");
	if (db->sync_commit[0])
		n += snprintf(sql + n, sizeof sql - (size_t)n,
			      "; SET LOCAL synchronous_commit = %s", db->sync_commit);
	if (db->sess_stmt_ms != db->statement_timeout_ms)
		snprintf(sql + n, sizeof sql - (size_t)n, "; SET LOCAL statement_timeout = %d",
			 db->statement_timeout_ms);
	return db_exec_ok(db, sql, PGRES_COMMAND_OK);
}

/* The server turns statement_timeout off before it commits, so a COMMIT waiting for a
 * synchronous standby that does not answer would wait for ever: this one is cancelled after
 * timeout_ms (the server then reports the commit done, with the warning on_notice looks for). */
enum db_status
db_exec_bounded(struct db *db, const char *sql, int timeout_ms)
{
	PGresult *r, *last = NULL;
	enum db_status st = DB_OK;
	if (timeout_ms <= 0) /* no time limit (the tools) */
		return db_exec_ok(db, sql, PGRES_COMMAND_OK);
	if (!PQsendQuery(db->conn, sql))
		return db_failure(db, sql, NULL);
	if (wait_result(db, now_ms() + timeout_ms) < 0 && PQstatus(db->conn) == CONNECTION_OK) {
		char why[256];
		PGcancel *c = PQgetCancel(db->conn);
		if (!c || !PQcancel(c, why, sizeof why))
			log_msg(LOGL_WARN, "db", "cancel of %s failed", sql);
		PQfreeCancel(c);
	}
	while ((r = PQgetResult(db->conn))) {
		PQclear(last);
		last = r;
	}
	if (PQresultStatus(last) != PGRES_COMMAND_OK)
		st = db_failure(db, sql, last);
	PQclear(last);
	return st;
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
			db_set_error(db, "ping", PQerrorMessage(db->conn));
			log_msg(LOGL_WARN, "db", "%s", db->err);
			db_disconnect(db); /* a late answer would confuse the next query */
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
		db_disconnect(db);
	}
	return st;
}
