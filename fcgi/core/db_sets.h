/* db_sets.h: the stored user sets that a fold or an erasure edits (db_analytics.c), shared
 * with the fold's computing (db_fold.c). Internal to db*.c. */
#ifndef DB_SETS_H
#define DB_SETS_H

#include "buf.h"
#include "db.h"

#include <libpq-fe.h>

#include <stddef.h>
#include <stdint.h>

/* analytics_fold's and analytics_erase's columns */
enum { COL_KIND, COL_LEVEL, COL_TYPE, COL_BUCKET, COL_USERS, COL_RM, COL_ADD };
enum { STORE_ARGS = 5 };

/* A stored set to edit (a row with a level): the set, loaded at its first edit, and how many
 * keys the edits changed. A row of level 0 is an edit of a quarter: its keys go into (or out
 * of) the sets of its type at the three levels whose blocks hold the quarter. */
struct target {
	int row;
	char kind;
	int level;
	const char *type;
	long long bucket;
	struct userset *s;
	size_t changed;
};

/* The array parameters of analytics_store, built from the sets that changed. */
struct store_args {
	struct buf a[STORE_ARGS];
};

/* The block of level l holding quarter q (floor, also before 1970), as qblock() in SQL. */
long long db_qblock(long long q, int l);

/* The stored sets among r's rows (those with a level), sorted, none loaded yet; *nt of
 * them. NULL when out of memory. */
struct target *db_targets_new(const PGresult *r, size_t *nt);

/* The set of (kind, type, level, bucket) among t (sorted rows of r), loaded from its row at
 * its first use. NULL when it is missing or damaged, or out of memory. */
struct target *db_target_find(const PGresult *r, struct target *t, size_t nt, char kind,
			      const char *type, int level, long long bucket);

/* The sets of t that changed into sa; every set freed, and t. 0, or -1 out of memory. */
int db_targets_store(const PGresult *r, struct target *t, size_t nt, struct store_args *sa);

/* Hands the edited sets of sa to analytics_store. */
enum db_status db_sets_store(struct db *db, struct store_args *sa);

/* In the open transaction: one fold transaction of the pending events of the quarters
 * [params[2], params[3]) below page params[0], at most params[1] of them (analytics_take).
 * *next = the next page (-1: none left below it; -2: nothing was pending). db_fold.c. */
enum db_status db_fold_take(struct db *db, const char *const *params, int64_t *next);

#endif
