/* db.h: the service's PostgreSQL connection (db.c), ingestion (db_ingest.c), the summaries'
 * fold and statistics (db_analytics*.c, db_fold.c), erasure and the horizon (db_lifecycle.c)
 * and the bulk loader's dry run (db_loader.c). Only db*.c know libpq. */
#ifndef DB_H
#define DB_H

#include "batch.h"

#include <stddef.h>
#include <stdint.h>

struct db; /* opaque: one connection, its prepared statements, its staging table */

enum db_status {
	DB_OK,
	DB_UNAVAILABLE, /* cannot reach the database: nothing was stored, retry later */
	DB_BUSY,	/* reachable but out of time: a lock wait past lock_timeout, a statement
			   past statement_timeout (or cancelled), or contention that outlasted the
			   retries; nothing was stored, retry later */
	DB_ERROR,	/* the database answered with an error: a bug, logged with detail */
	DB_INVALID	/* the question has no exact answer from the summaries: a day of the
			   time zone asked for does not start on a quarter hour (local mean
			   time, before the zone took a standard offset) */
	,
	DB_UNCONFIRMED /* committed on the primary, but its wait for the synchronous standby
			  was cancelled (statement_timeout, shutdown): not acknowledged, since
			  possibly not replicated; a resend is safe (its events are duplicates) */
};

/* Connection settings: conninfo is a DATABASE_URL / key=value string, or NULL for libpq's
 * PG* variables. application_name shows in pg_stat_activity. Connecting happens lazily, on
 * first use and again after the connection is lost. Caller frees with db_close. */
struct db *db_new(const char *conninfo, const char *application_name, int statement_timeout_ms);
void db_close(struct db *db);

/* Time limits in ms from the next call on: lock_timeout_ms bounds every wait for a lock (0:
 * none), read_timeout_ms is the statement_timeout of the statistics reads (0: the one given
 * to db_new, which every other statement keeps). Cheap when unchanged. */
void db_set_limits(struct db *db, int lock_timeout_ms, int read_timeout_ms);

/* For a process that runs a few statements, then exits (the supervisor's fold and prune runs,
 * every 2 s): its connections prepare only these (NULL-terminated, kept by the caller) and no
 * staging tables. Preparing all of them made each run wait for the locks of tables it never
 * touches, and creating the temporary tables churned the catalog. Call before the first
 * statement. */
void db_only_statements(struct db *db, const char *const *names);

/* Connects now if not connected. DB_OK or DB_UNAVAILABLE (reason logged). */
enum db_status db_connect(struct db *db) __attribute__((warn_unused_result));

/* The role of the server the connection is on, as the server last reported it (no query):
 * DB_ROLE_NONE when not connected. With target_session_attrs=read-write in the connection
 * string (HA) a new connection is always to the primary. */
enum db_role { DB_ROLE_NONE, DB_ROLE_PRIMARY, DB_ROLE_STANDBY };
enum db_role db_role(const struct db *db);

/* The last connection error, for messages (borrowed, valid until the next call). */
const char *db_last_error(const struct db *db);

/* How a writer expects its batches: DB_FRESH (live traffic: events are new, a resend is the
 * exception) or DB_MAY_REPEAT (files that may be loaded again: stored ids are looked up and
 * skipped before the insert, which makes a re-load about twice as fast and costs fresh
 * events one more index probe each). The result is the same either way. */
enum db_ingest_mode { DB_FRESH, DB_MAY_REPEAT };

/* Stores b idempotently (first write wins) in one transaction, its new events pending for the
 * next fold into the summaries; *accepted = events newly stored. stripe (0..32767) is passed
 * to the merge, which has had no striped counters to pick since migration 0016. */
enum db_status db_ingest(struct db *db, const struct batch *b, int stripe, enum db_ingest_mode mode,
			 size_t *accepted) __attribute__((warn_unused_result));

/* One row of the top event types. */
struct top_row {
	const char *event_type;
	int64_t count;
};

/* The statistics (db_analytics_read.c): tz is an IANA name already checked (tzname.h),
 * days are local days of tz, type NULL means any event type. DB_INVALID: a day of that zone
 * does not start on a quarter hour. */
enum db_status db_dau_tz(struct db *db, const char *tz, const char *type, int64_t from_day,
			 size_t ndays, int64_t *counts) __attribute__((warn_unused_result));

/* counts[i] = distinct users (with an event of type) in the window local days ending on day
 * from_day + i. */
enum db_status db_active_users(struct db *db, const char *tz, const char *type, int64_t from_day,
			       size_t ndays, int window, int64_t *counts)
    __attribute__((warn_unused_result));

enum db_status db_top_events_tz(struct db *db, const char *tz, int64_t from_day, int64_t to_day,
				int limit, struct top_row **rows, size_t *n)
    __attribute__((warn_unused_result));

/* A retention question in a zone, from a start event to a return event (NULL: any). */
struct retention_q {
	const char *tz, *start_event, *return_event;
	int64_t start_day;
	int period, windows;
};
enum db_status db_retention_tz(struct db *db, const struct retention_q *q, int64_t *cohort,
			       int64_t *counts) __attribute__((warn_unused_result));

/* Folds every pending event (stored, not yet in the zone-aware summaries) into them, in
 * transactions of a bounded size; *folded = how many of those found something. The supervisor's
 * "--fold" runs it every 2 s (db_analytics_fold_pending), the loader at its end; migrate after
 * migration 0011 (the events stored before it). Readers fold only their own quarters
 * (db_analytics_compact_in). */
enum db_status db_analytics_compact(struct db *db, int64_t *folded)
    __attribute__((warn_unused_result));
/* db_analytics_compact of the pending events of the quarters [lo, hi) only, the earliest
 * first when they do not fit in one transaction (migration 0017): a read's, before it reads
 * those quarters. */
enum db_status db_analytics_compact_in(struct db *db, int64_t lo, int64_t hi, int64_t *folded)
    __attribute__((warn_unused_result));
/* db_analytics_compact when something is pending and no bulk load runs (a loader folds its
 * own events: db_loader_begin), one cheap probe otherwise: the supervisor's "--fold".
 * *folded: transactions that folded. */
enum db_status db_analytics_fold_pending(struct db *db, int64_t *folded)
    __attribute__((warn_unused_result));

/* migrate's last step: db_analytics_compact when migration 0011 is applied (a migrations
 * directory may stop earlier), for the events stored before it. */
enum db_status db_analytics_backfill(struct db *db, int64_t *folded)
    __attribute__((warn_unused_result));
/* --- data lifecycle (db_lifecycle.c) --- */

/* Erases user_id (canonical text) in one transaction: its events and its trace in every
 * summary (migration 0005's erase_user); *deleted = events removed (0: nothing was stored).
 * stripe: as for db_ingest. Runs with the writes' statement timeout; waits for ingest
 * transactions in flight (lock_timeout bounds the wait: DB_BUSY). */
enum db_status db_erase_user(struct db *db, const char *user_id, int stripe, int64_t *deleted)
    __attribute__((warn_unused_result));

/* Removes up to batch raw events older than days days (migration 0005's prune_raw_events:
 * the summaries keep them) in one transaction; *deleted = how many. Call again until 0. */
enum db_status db_prune(struct db *db, int days, int batch, int64_t *deleted)
    __attribute__((warn_unused_result));

/* *known = 1 when tz is an IANA time-zone name the database knows. */
enum db_status db_tz_known(struct db *db, const char *tz, int *known)
    __attribute__((warn_unused_result));

enum db_export_format { DB_EXPORT_NDJSON, DB_EXPORT_CSV };

/* The events GET /events/export streams: occurred_at in the local days [from_day, to_day] of
 * tz (a name db_tz_known accepted), optionally of one user_id and/or event_type (NULL: any),
 * ordered by occurred_at then event_id. */
struct db_export_query {
	enum db_export_format format;
	int64_t from_day, to_day;
	const char *tz, *user_id, *event_type;
};

/* Receives the export: once with (NULL, 0) when the database has started answering, then
 * each line (NDJSON: one event object; CSV: the header, then one record; each ends in "\n").
 * Returns -1 to stop (the client is gone). */
typedef int (*db_export_sink)(void *arg, const char *line, size_t len);

/* Streams q to sink with COPY ... TO STDOUT: one line in memory at a time, whatever the size
 * of the export; no statement timeout (an export lasts as long as the client reads). DB_OK
 * when every line was handed over; a sink that stopped is DB_OK too (the connection, busy with
 * an unfinished COPY, is dropped and made again on next use). Any other status after the
 * (NULL, 0) call means the export broke off half-way. */
enum db_status db_export(struct db *db, const struct db_export_query *q, db_export_sink sink,
			 void *arg) __attribute__((warn_unused_result));

/* A trivial query answered within timeout_ms. */
enum db_status db_ping(struct db *db, int timeout_ms) __attribute__((warn_unused_result));

/* Runs sql, a statement of the caller's own, with nparams text params (0: sql may hold several
 * statements, and the last one's result counts), in the session as it is (no db_ready: for
 * the migrator, whose statements must not need the schema). With value, *value is the first
 * column of the first row, malloc'd (caller frees), or NULL when there is no row or it is
 * NULL. what names the statement in db_last_error and the log (NULL: sql itself). DB_BUSY
 * also for a deadlock or serialisation failure: a later try may pass. */
enum db_status db_query_single(struct db *db, const char *what, const char *sql, int nparams,
			       const char *const *params, char **value)
    __attribute__((warn_unused_result));

/* Rolls back the open transaction, if there is one (after a failed db_query_single). */
void db_rollback(struct db *db);

/* --- bulk loader --- */

/* Makes sure the connection is ready for the loader (connected, migrations applied, staging
 * tables made). Without dry_run, holds the bulk-load lock for the session (the supervisor's
 * fold skips its runs meanwhile: the loader folds its own events, db_loader_fold). With
 * dry_run, opens the one transaction a dry run lives in, with a temporary table of the event
 * ids seen so far; nothing of it survives db_loader_end. */
enum db_status db_loader_begin(struct db *db, int dry_run) __attribute__((warn_unused_result));

/* Dry run, inside db_loader_begin's transaction: *fresh = events of b that are neither stored
 * nor seen in an earlier batch (nor repeated earlier in b); b's ids join the seen set. A
 * database error leaves the transaction usable (savepoint). */
enum db_status db_loader_dry_count(struct db *db, const struct batch *b, size_t *fresh)
    __attribute__((warn_unused_result));

/* Folds what is pending into the summaries, the earliest quarters first (db_analytics_compact):
 * the loader calls it every LOAD_FOLD_EVENTS events and db_loader_end at its end. */
enum db_status db_loader_fold(struct db *db) __attribute__((warn_unused_result));

/* Ends a dry run: rolls its transaction back. Otherwise folds what is pending (a failure only
 * delays the summaries: the next fold or read does it). */
enum db_status db_loader_end(struct db *db, int dry_run) __attribute__((warn_unused_result));

#endif
