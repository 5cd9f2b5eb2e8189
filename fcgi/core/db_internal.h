/* db_internal.h: what the db*.c files share and nothing else
 * includes: the connection's state and the helpers that run statements on it. */
#ifndef DB_INTERNAL_H
#define DB_INTERNAL_H

#include "buf.h"
#include "db.h"

#include <libpq-fe.h>

#include <stdint.h>

struct db {
	PGconn *conn;
	char *conninfo;
	char appname[64];
	int statement_timeout_ms;	/* every statement but the reads (0: none) */
	int lock_timeout_ms;		/* every wait for a lock (0: none) */
	int read_timeout_ms;		/* the stats queries (0: statement_timeout_ms) */
	int sess_stmt_ms, sess_lock_ms; /* what the connection's session has now */
	int ready;	  /* statements prepared and staging tables made on this connection */
	int unreplicated; /* a commit stopped waiting for its synchronous standby (notice) */
	/* synchronous_commit as the server gave it to this session, which then runs with
	 * "local" and puts this back in each writing transaction (db_begin_write); "" when the
	 * session's default was left alone (connections without staging tables) */
	char sync_commit[16];
	char err[256];
	char sqlstate[6];	 /* of the last failure ("" when none was given) */
	struct answers *answers; /* zone-aware answers of this connection (NULL: none kept) */
	const char *const *only; /* db_only_statements (NULL: every statement, staging tables) */
	/* the bulk loader on a Citus cluster: batches are staged in the distributed load_stage
	 * and merged by ingest_merge_load (migration 0019, db_loader_begin); 0: ingest_stage */
	int load_stage;
};

/* Appends s to the text of an array literal being built in b ("{" first, then ","; the
 * caller closes it with "}"), quoted with \ and " escaped. -1: out of memory. */
int db_array_text(struct buf *b, const char *s);
/* Appends the number v to an array literal under construction, as db_array_text. */
int db_array_int(struct buf *b, long long v);
/* Closes an array literal under construction ("{}" when nothing was appended). 0, or -1 out
 * of memory. */
int db_array_close(struct buf *b);

/* BEGIN of a transaction that writes: the session's synchronous_commit as configured, and
 * the statement timeout of writes when the session has the reads' one. Every transaction
 * whose commit must wait for a synchronous standby starts here. */
enum db_status db_begin_write(struct db *db) __attribute__((warn_unused_result));

/* Drops the connection (if any); the next db_ready makes a new one. */
void db_disconnect(struct db *db);

/* db->err = "what: detail", without detail's trailing newline. */
void db_set_error(struct db *db, const char *what, const char *detail);

/* What a failed result r (may be NULL) means: connection lost (DB_UNAVAILABLE, connection
 * dropped), out of time (DB_BUSY) or an error the server reported (DB_ERROR). Logs once with
 * the statement's name what. */
enum db_status db_failure(struct db *db, const char *what, const PGresult *r);

/* Runs sql (simple protocol); DB_OK with *out its result (the caller clears it) when that has
 * status want, otherwise db_failure's answer for what, with *out NULL. */
enum db_status db_exec_result(struct db *db, const char *what, const char *sql, ExecStatusType want,
			      PGresult **out);

/* Runs sql (simple protocol: may hold several statements); DB_OK when its last result has
 * status want, otherwise db_failure's answer. */
enum db_status db_exec_ok(struct db *db, const char *sql, ExecStatusType want);

/* Runs sql (no rows) and cancels it when it has not answered within timeout_ms: for COMMIT,
 * whose wait for a synchronous standby statement_timeout does not cover. */
enum db_status db_exec_bounded(struct db *db, const char *sql, int timeout_ms);

/* Connected, session limits current, statements prepared, staging tables present. */
enum db_status db_ready(struct db *db) __attribute__((warn_unused_result));

/* Runs the prepared statement name (one of db.c's table) with the reads' statement timeout;
 * on DB_OK *out holds its rows and the caller clears it (PQclear), otherwise *out is NULL. */
enum db_status db_query(struct db *db, const char *name, int nparams, const char *const *params,
			PGresult **out) __attribute__((warn_unused_result));

/* db_query with the rows in binary format (PQexecPrepared's resultFormat 1): the statistics
 * reads, whose bitmaps arrive as their bytes, not as hex text twice their size. */
enum db_status db_query_binary(struct db *db, const char *name, int nparams,
			       const char *const *params, PGresult **out)
    __attribute__((warn_unused_result));

/* db_query with the statement timeout stmt_ms (0: none) instead of the reads' one. */
enum db_status db_query_ms(struct db *db, const char *name, int nparams, const char *const *params,
			   PGresult **out, int stmt_ms) __attribute__((warn_unused_result));

/* Brings the session to statement_timeout stmt_ms (0: none) and the configured lock_timeout,
 * in one round trip and only when it does not have them yet. */
enum db_status db_session_limits(struct db *db, int stmt_ms) __attribute__((warn_unused_result));

/* 1 for a deadlock or serialisation failure, which a second try may pass. */
int db_retryable(const PGresult *r);

/* The first column of the first row as an integer, 0 when there is none or it is NULL. */
int64_t db_first_int(const PGresult *r);

/* COPYs b into the session's staging table ingest_stage inside the open transaction, or into
 * load_stage when db->load_stage (db_ingest.c). */
enum db_status db_stage(struct db *db, const struct batch *b) __attribute__((warn_unused_result));

/* In the open transaction, after erase_user: takes the user out of the zone-aware summaries
 * (db_analytics.c). */
enum db_status db_analytics_erase(struct db *db, const char *user_id)
    __attribute__((warn_unused_result));

#endif
