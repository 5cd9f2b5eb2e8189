/* db_check.h: checks of what the service stored, through libpq on $DATABASE_URL. These make
 * Criterion assertions: call them from inside a test only. */
#ifndef IT_DB_CHECK_H
#define IT_DB_CHECK_H

#include <stddef.h>

#include <libpq-fe.h>

/* Connects to $DATABASE_URL (asserts success). Close with PQfinish. */
PGconn *db_open(void);

/* A test's own connection as a Criterion fixture: .init = it_db_init opens it_db,
 * .fini = it_db_fini closes it. */
extern PGconn *it_db;
void it_db_init(void);
void it_db_fini(void);

/* Runs sql with text params and returns its rows (asserts the query succeeds and returns
 * rows). Free with PQclear. */
PGresult *it_db_query(PGconn *db, const char *sql, int nparams, const char *const *params);

/* Runs sql with text params and returns the single value of its single row as a long long
 * (asserts the query succeeds and returns one row, one non-NULL column). */
long long db_scalar_ll(PGconn *db, const char *sql, int nparams, const char *const *params);

/* Same, returning the text value (malloc'd, caller frees), or NULL when there is no row or the
 * value is NULL. */
char *db_scalar_text(PGconn *db, const char *sql, int nparams, const char *const *params);

/* How many of the n event ids are stored. */
long long db_count_ids(PGconn *db, char *const *ids, size_t n);

/* activity_sets, cohort_sets and the first quarters in user_keys (stripes unioned) equal a
 * recomputation from the raw events, what is pending folded first; fails if not */
void it_check_user_sets(PGconn *db);
/* The first quarters in user_keys alone against the raw events, what is pending folded first
 * when fold; fails if not */
void it_check_user_firsts(PGconn *db, int fold);
/* Every summary (it_check_user_sets, and type_counts with no row at 0) equals a recomputation
 * from the raw events, what is pending folded first; fails if not. Each comparison is one
 * statement, so concurrent writers cannot make it see half a transaction. */
void it_check_summaries(PGconn *db);
/* The activity sets and type_counts of the blocks within [from, to) (timestamps, on 6-hour
 * UTC boundaries) against the raw events of that time, what is pending folded first; fails if
 * not (and when no event lies there). */
void it_check_summaries_between(PGconn *db, const char *from, const char *to);

#endif
