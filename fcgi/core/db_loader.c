/* db_loader.c: what the bulk loader (tools/import_events) needs beyond db_ingest: session
 * sizing for whole batches, on a Citus cluster the staging of its batches on the workers
 * (load_stage, migration 0019), the fold of its own events (ADR 7 item 15), and the dry run
 * that counts fresh events inside one transaction that is rolled back. */
#include "db.h"
#include "db_internal.h"
#include "log.h"

#include <libpq-fe.h>

#include <stdint.h>
#include <string.h>

enum db_status
db_loader_begin(struct db *db, int dry_run)
{
	/* Room for a whole batch in the session's temp tables and for its sorts: temp_buffers
	 * only takes effect before the first temp table is touched, so before ready(). */
	enum db_status st = db_connect(db);
	if (st == DB_OK && !db->ready)
		st = db_exec_ok(db, "SET temp_buffers = '256MB'; SET work_mem = '64MB'",
				PGRES_COMMAND_OK);
	if (st == DB_OK)
		st = db_ready(db);
	/* a load in progress: the supervisor's fold skips its runs until this session ends */
	if (st == DB_OK && !dry_run)
		st = db_exec_ok(db, "SELECT pg_advisory_lock_shared(analytics_load_key())",
				PGRES_TUPLES_OK);
	/* on a Citus cluster, batches are staged beside their shards (migration 0019) */
	if (st == DB_OK && !dry_run) {
		PGresult *r;
		st = db_exec_result(db, "load stage", "SELECT ingest_load_distributed()",
				    PGRES_TUPLES_OK, &r);
		if (st == DB_OK) {
			db->load_stage = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
			PQclear(r);
		}
	}
	if (st != DB_OK || !dry_run)
		return st;
	if ((st = db_exec_ok(db, "BEGIN", PGRES_COMMAND_OK)) != DB_OK)
		return st;
	st = db_exec_ok(db,
			"CREATE TEMP TABLE loader_seen (event_id uuid PRIMARY KEY) ON COMMIT DROP",
			PGRES_COMMAND_OK);
	if (st != DB_OK)
		db_rollback(db);
	return st;
}

/* The staged ids not stored yet, recorded in loader_seen and counted. The stored ones among
 * them are a subquery of its own, not a join of the two tables: on Citus, events is
 * distributed and the staging table is the coordinator's, and only such a subquery (run first,
 * its result shipped) can be planned there. */
static const char dry_count_sql[] =
    "WITH fresh AS (INSERT INTO loader_seen"
    " SELECT DISTINCT s.event_id FROM ingest_stage s WHERE s.event_id NOT IN"
    " (SELECT e.event_id FROM events e WHERE e.event_id IN (SELECT event_id FROM ingest_stage))"
    " ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM fresh";

/* The dry-run count of one batch, inside savepoint "batch". */
static enum db_status
dry_count(struct db *db, const struct batch *b, int64_t *n)
{
	enum db_status st;
	PGresult *r;
	if ((st = db_stage(db, b)) != DB_OK)
		return st;
	if ((st = db_exec_result(db, "dry-run count", dry_count_sql, PGRES_TUPLES_OK, &r)) != DB_OK)
		return st;
	*n = db_first_int(r);
	PQclear(r);
	return db_exec_ok(db, "TRUNCATE ingest_stage", PGRES_COMMAND_OK);
}

enum db_status
db_loader_dry_count(struct db *db, const struct batch *b, size_t *fresh)
{
	int64_t n = 0;
	enum db_status st;
	*fresh = 0;
	if (!db->conn || PQtransactionStatus(db->conn) != PQTRANS_INTRANS)
		return DB_UNAVAILABLE; /* the dry run's transaction is gone with its connection */
	if ((st = db_exec_ok(db, "SAVEPOINT batch", PGRES_COMMAND_OK)) != DB_OK)
		return st;
	st = dry_count(db, b, &n);
	if (st == DB_ERROR)
		(void)db_exec_ok(db, "ROLLBACK TO SAVEPOINT batch", PGRES_COMMAND_OK);
	else if (st == DB_OK)
		st = db_exec_ok(db, "RELEASE SAVEPOINT batch", PGRES_COMMAND_OK);
	*fresh = st == DB_OK ? (size_t)n : 0;
	return st;
}

enum db_status
db_loader_fold(struct db *db)
{
	int64_t folded;
	return db_analytics_compact(db, &folded);
}

enum db_status
db_loader_end(struct db *db, int dry_run)
{
	if (dry_run) {
		db_rollback(db);
		return DB_OK;
	}
	/* the last of the loaded events into the summaries; the load's lock goes with the
	 * session (db_close) */
	return db_loader_fold(db);
}
