/* db_analytics_read.c: the statistics reads, in any zone (ADR 7). Local days come from day_sets
 * when cached there (one plain query), else from stats_days_q: the day's blocks, unioned and
 * counted here and then cached; rolling windows of active users are counted once and kept in
 * window_counts.
 * Pending events are folded in first when the database says some lie in the read's own days
 * (fold_range). A question asked again while the summaries have not changed is answered from
 * the connection's memo (answers.h) after one check of their state. */
#include "answers.h"
#include "buf.h"
#include "db.h"
#include "daybounds.h"
#include "db_internal.h"
#include "event.h"
#include "log.h"
#include "userset.h"

#include <libpq-fe.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Local days fetched per query: bounds a worker's memory whatever the range. */
enum { DAYS_PER_QUERY = 64 };

/* Called with each local day's set in order (i = 0, 1, ...); owns it. size: the day's
 * cached size when the reader asked for no sets (set is then empty), else -1. -1 stops (no
 * memory). */
typedef int (*day_fn)(void *ctx, size_t i, struct userset *day, int64_t size);

/* 22009 from stats_day_bounds: a day of that zone does not start on a quarter hour. */
static enum db_status
read_failed(struct db *db, enum db_status st)
{
	return st == DB_ERROR && strcmp(db->sqlstate, "22009") == 0 ? DB_INVALID : st;
}

/* A 4- or 8-byte integer in network order (int4, int8 in binary result format). */
static int64_t
be_int(const char *p, int len)
{
	const unsigned char *u = (const unsigned char *)p;
	uint64_t v = 0;
	for (int k = 0; k < len; k++)
		v = v << 8 | u[k];
	return len == 4 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
}

/* --- answers kept between requests (answers.h) ------------------------------------------- */

/* The summaries' token, and whether events of the quarters [lo, hi) are pending. */
static enum db_status
answer_token(struct db *db, int64_t lo, int64_t hi, struct answer_token *t, int *pending)
{
	char l[24], h[24];
	const char *params[] = {l, h};
	PGresult *r;
	snprintf(l, sizeof l, "%lld", (long long)lo);
	snprintf(h, sizeof h, "%lld", (long long)hi);
	enum db_status st = db_query_binary(db, "analytics_token", 2, params, &r);
	if (st != DB_OK)
		return st;
	if (PQntuples(r) != 1 || PQgetlength(r, 0, 0) != 8 || PQgetlength(r, 0, 1) != 8 ||
	    PQgetlength(r, 0, 2) != 1) {
		db_set_error(db, "analytics_token", "not one row of the summaries' state");
		PQclear(r);
		return DB_ERROR;
	}
	t->g = be_int(PQgetvalue(r, 0, 0), 8);
	t->xid = be_int(PQgetvalue(r, 0, 1), 8);
	*pending = *PQgetvalue(r, 0, 2) != 0;
	PQclear(r);
	return DB_OK;
}

/* Before a read of the quarters [lo, hi): when events there are pending, folds them (the
 * answer then counts every event of the range committed before the read began); events of
 * other quarters cannot change it and are left to the supervisor or to a running bulk
 * load's own fold (a read of last month waits neither for the fold of today's ingest nor for
 * a load's backlog of other months). *t: the token after that, *pending: events of the
 * range still pending (committed meanwhile: the answer is then not kept). */
static enum db_status
fold_range(struct db *db, int64_t lo, int64_t hi, struct answer_token *t, int *pending)
{
	int64_t folded;
	enum db_status st = answer_token(db, lo, hi, t, pending);
	if (st != DB_OK || !*pending)
		return st;
	if ((st = db_analytics_compact_in(db, lo, hi, &folded)) != DB_OK)
		return st;
	return answer_token(db, lo, hi, t, pending);
}

/* Computes a question's n numbers into vals. */
typedef enum db_status (*answer_fn)(struct db *db, const void *q, int64_t *vals);

/* vals[0 .. n) for the question key (NULL: not kept) that fn answers, a read of the quarters
 * [lo, hi): what is pending there folded first (fold_range), then from the memo when the
 * summaries are as they were when it was answered, else from fn, then kept. fn answering
 * after the token was read is safe: whatever changed since changed the token, so the entry
 * is never found again. */
static enum db_status
memo_answer(struct db *db, const char *key, int64_t lo, int64_t hi, size_t n, int64_t *vals,
	    answer_fn fn, const void *q)
{
	struct answer_token t;
	int pending;
	enum db_status st;
	if ((st = fold_range(db, lo, hi, &t, &pending)) != DB_OK)
		return read_failed(db, st);
	int keep = key && db->answers && n <= ANSWERS_VALS_MAX && !pending;
	if (keep && answers_get(db->answers, key, t, vals, n))
		return DB_OK;
	if ((st = fn(db, q, vals)) == DB_OK && keep)
		answers_put(db->answers, key, t, vals, n);
	return st;
}

/* key = the fields joined by \x1f (no field holds one: names and types are checked text);
 * NULL when it does not fit. */
static const char *answer_key(char *key, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *
answer_key(char *key, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(key, size, fmt, ap);
	va_end(ap);
	return len >= 0 && (size_t)len < size ? key : NULL;
}

/* "{v0,v1,...}" into b (emptied first). -1: out of memory. */
static int
int_array(struct buf *b, const int32_t *v, size_t n)
{
	b->len = 0;
	if (buf_printf(b, "{") < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (buf_printf(b, "%s%d", i ? "," : "", (int)v[i]) < 0)
			return -1;
	return buf_printf(b, "}");
}

/* The quarters [q0[i], q1[i]) of local days d0 .. d0 + n - 1 of tz: from the worker's memo,
 * the missing ones from stats_day_bounds in one query for the span they cover. */
static enum db_status
day_bounds(struct db *db, const char *tz, int64_t d0, size_t n, int32_t *q0, int32_t *q1)
{
	size_t lo = n, hi = 0;
	char date[EVENT_DATE_BUF], count[24];
	const char *params[] = {tz, date, count};
	enum db_status st;
	PGresult *r;
	for (size_t i = 0; i < n; i++)
		if (!daybounds_get(tz, d0 + (int64_t)i, &q0[i], &q1[i])) {
			lo = lo < i ? lo : i;
			hi = i;
		}
	if (lo == n)
		return DB_OK;
	event_date_format(d0 + (int64_t)lo, date);
	snprintf(count, sizeof count, "%zu", hi - lo + 1);
	if ((st = db_query_binary(db, "analytics_bounds", 3, params, &r)) != DB_OK)
		return read_failed(db, st);
	for (int j = 0; j < PQntuples(r); j++) {
		int64_t i = be_int(PQgetvalue(r, j, 0), 4);
		if (i < 0 || (size_t)i > hi - lo)
			continue;
		q0[lo + (size_t)i] = (int32_t)be_int(PQgetvalue(r, j, 1), 4);
		q1[lo + (size_t)i] = (int32_t)be_int(PQgetvalue(r, j, 2), 4);
		daybounds_put(tz, d0 + (int64_t)lo + i, q0[lo + (size_t)i], q1[lo + (size_t)i]);
	}
	st = (size_t)PQntuples(r) == hi - lo + 1 ? DB_OK : DB_ERROR;
	if (st != DB_OK)
		db_set_error(db, "analytics_bounds", "not one row per day");
	PQclear(r);
	return st;
}

/* The quarters [*lo, *hi) from the start of local day d0 to the end of local day d1 in tz. */
static enum db_status
read_range(struct db *db, const char *tz, int64_t d0, int64_t d1, int64_t *lo, int64_t *hi)
{
	int32_t a0, a1, b0, b1;
	enum db_status st = day_bounds(db, tz, d0, 1, &a0, &a1);
	if (st == DB_OK)
		st = day_bounds(db, tz, d1, 1, &b0, &b1);
	*lo = a0;
	*hi = b1;
	return st;
}

/* One local day of a chunk as the rows of stats_sets describe it. */
struct day {
	struct userset *set;
	int64_t size; /* cached size (no sets asked for), else -1 */
	int64_t q0, q1;
	int from_blocks; /* unioned here from block rows: worth storing in day_sets */
	int seen;	 /* a row of it came (cached, or its first block) */
};

enum { SETS_I, SETS_Q0, SETS_Q1, SETS_CACHED, SETS_SIZE, SETS_USERS, SETS_G };

/* Row j of analytics_days_cached or analytics_sets into its day: the row's i is the day's
 * index in the chunk, or with map, in map (m entries, each the index of a day). -1 when the
 * row is damaged. */
static int
day_row(const PGresult *r, int j, struct day *day, int n, const int *map, int m)
{
	int64_t k = PQgetlength(r, j, SETS_I) == 4 ? be_int(PQgetvalue(r, j, SETS_I), 4) : -1;
	if (map)
		k = k >= 0 && k < m ? map[k] : -1;
	if (k < 0 || k >= n || PQgetlength(r, j, SETS_Q0) != 4 || PQgetlength(r, j, SETS_Q1) != 4)
		return -1;
	struct day *d = &day[k];
	d->seen = 1;
	d->q0 = be_int(PQgetvalue(r, j, SETS_Q0), 4);
	d->q1 = be_int(PQgetvalue(r, j, SETS_Q1), 4);
	if (*PQgetvalue(r, j, SETS_CACHED) && PQgetisnull(r, j, SETS_USERS)) {
		d->size = be_int(PQgetvalue(r, j, SETS_SIZE), PQgetlength(r, j, SETS_SIZE));
		return 0;
	}
	d->from_blocks = !*PQgetvalue(r, j, SETS_CACHED);
	return userset_or_bytes(d->set, PQgetvalue(r, j, SETS_USERS),
				(size_t)PQgetlength(r, j, SETS_USERS));
}

/* Appends v[c] to the array literal a[c] for each of the n columns. -1: out of memory. */
static int
array_ints(struct buf *a, const int64_t *v, int n)
{
	for (int c = 0; c < n; c++)
		if (db_array_int(&a[c], (long long)v[c]) < 0)
			return -1;
	return 0;
}

/* Closes the n array literals a. -1: out of memory. */
static int
arrays_close(struct buf *a, int n)
{
	for (int c = 0; c < n; c++)
		if (db_array_close(&a[c]) < 0)
			return -1;
	return 0;
}

/* Runs the memo statement name (what: for the log). Best effort: a failure costs only the
 * memo, for the next reader. */
static void
memo_store(struct db *db, const char *name, const char *what, int nparams,
	   const char *const *params)
{
	PGresult *r = PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		log_msg(LOGL_WARN, "db", "%s failed: %s", what, PQresultErrorMessage(r));
	PQclear(r);
}

/* The days of this chunk unioned from blocks go to day_sets for the next reader (g: the
 * generation the blocks were read at). */
static void
store_days(struct db *db, const char *kind, const char *type, const struct day *day, int n,
	   int64_t g)
{
	struct buf a[4] = {0};
	char gen[24];
	int rc = 0, any = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		if (!day[i].from_blocks)
			continue;
		char *hex = userset_hex(day[i].set);
		const int64_t v[3] = {day[i].q0, day[i].q1, (int64_t)userset_count(day[i].set)};
		rc = array_ints(a, v, 3) < 0 || !hex || db_array_text(&a[3], hex) < 0 ? -1 : 0;
		free(hex);
		any = 1;
	}
	if (rc == 0 && any && arrays_close(a, 4) == 0) {
		snprintf(gen, sizeof gen, "%lld", (long long)g);
		const char *params[] = {gen,	kind,  type ? type : "", a[0].p, a[1].p,
					a[2].p, a[3].p};
		memo_store(db, "analytics_days_store", "caching local days", 7, params);
	}
	for (int c = 0; c < 4; c++)
		buf_free(&a[c]);
}

/* The rows of r into day (through map, see day_row); *g, unless NULL: their generation. */
static enum db_status
day_rows(struct db *db, const PGresult *r, struct day *day, int n, const int *map, int m,
	 int64_t *g)
{
	for (int j = 0; j < PQntuples(r); j++) {
		if (day_row(r, j, day, n, map, m) < 0) {
			db_set_error(db, "analytics_sets", "a stored user set is damaged");
			return DB_ERROR;
		}
		if (g)
			*g = be_int(PQgetvalue(r, j, SETS_G), PQgetlength(r, j, SETS_G));
	}
	return DB_OK;
}

/* A run of local days d0 .. d0 + n - 1 of one kind ("a": users with an event of type, or
 * of any type when type is NULL, that day; "c": users whose first such event was that day).
 * A read is one or more runs, its days numbered in order across them. */
struct run {
	const char *kind, *type;
	int64_t d0;
	size_t n;
};

/* The part of a chunk (days i0 .. i0 + m - 1 of the read) in one run: its days are the
 * chunk's days off .. off + len - 1, the run's days first .. first + len - 1. */
struct part {
	const struct run *run;
	int off, len;
	int64_t first;
};

/* The parts of the chunk at read index i0 of m days; how many (at most nruns). */
static int
chunk_parts(const struct run *runs, int nruns, size_t i0, int m, struct part *out)
{
	int np = 0, off = 0;
	size_t base = 0;
	for (int k = 0; k < nruns && off < m; base += runs[k].n, k++) {
		if (i0 + (size_t)off >= base + runs[k].n)
			continue;
		size_t first = i0 + (size_t)off - base, left = runs[k].n - first;
		int len = left < (size_t)(m - off) ? (int)left : m - off;
		out[np++] = (struct part){&runs[k], off, len, (int64_t)first};
		off += len;
	}
	return np;
}

/* The days of one part that analytics_days_cached did not have, from their blocks
 * (analytics_sets): one more query, only when some are missing; then cached. */
static enum db_status
missing_days(struct db *db, const struct part *pt, int sets, const int32_t *q0,
	     const int32_t *q1, struct day *day, int n)
{
	int32_t m0[DAYS_PER_QUERY], m1[DAYS_PER_QUERY];
	int map[DAYS_PER_QUERY], m = 0;
	struct buf a0 = {0}, a1 = {0};
	enum db_status st;
	int64_t g = -1;
	PGresult *r = NULL;
	for (int i = pt->off; i < pt->off + pt->len; i++)
		if (!day[i].seen) {
			m0[m] = q0[i];
			m1[m] = q1[i];
			map[m++] = i;
		}
	if (m == 0)
		return DB_OK;
	const char *type = pt->run->type ? pt->run->type : "";
	if (int_array(&a0, m0, (size_t)m) < 0 || int_array(&a1, m1, (size_t)m) < 0) {
		st = DB_ERROR;
	} else {
		/* no pending check (stats_days_q's last argument, 0012): memo_answer folded
		 * what of these days was pending */
		const char *params[] = {pt->run->kind, type, a0.p, a1.p, sets ? "t" : "f", "f"};
		st = db_query_binary(db, "analytics_sets", 6, params, &r);
	}
	buf_free(&a0);
	buf_free(&a1);
	if (st != DB_OK)
		return st;
	st = day_rows(db, r, day, n, map, m, &g);
	PQclear(r);
	if (st == DB_OK)
		store_days(db, pt->run->kind, pt->run->type, day + pt->off, pt->len, g);
	return st;
}

/* The (kind, type) of each day of the parts as two array literals. -1: out of memory. */
static int
kind_type_arrays(const struct part *pt, int np, struct buf *kinds, struct buf *types)
{
	for (int k = 0; k < np; k++)
		for (int i = 0; i < pt[k].len; i++)
			if (db_array_text(kinds, pt[k].run->kind) < 0 ||
			    db_array_text(types, pt[k].run->type ? pt[k].run->type : "") < 0)
				return -1;
	return buf_printf(kinds, "}") < 0 || buf_printf(types, "}") < 0 ? -1 : 0;
}

/* Days i0 .. i0 + m - 1 of the read (m <= DAYS_PER_QUERY) as sets (or cached sizes when
 * !sets), handed to fn: the cached ones in one query whatever runs they are in, the others
 * from their blocks in one more per run (then cached). */
static enum db_status
days_chunk(struct db *db, const char *tz, const struct run *runs, int nruns, size_t i0, int m,
	   int sets, day_fn fn, void *ctx)
{
	int32_t q0[DAYS_PER_QUERY], q1[DAYS_PER_QUERY];
	struct part pt[DAYS_PER_QUERY];
	struct buf a0 = {0}, a1 = {0}, kinds = {0}, types = {0};
	struct day day[DAYS_PER_QUERY] = {0};
	enum db_status st = DB_OK;
	PGresult *r = NULL;
	int np = chunk_parts(runs, nruns, i0, m, pt);
	for (int k = 0; k < np && st == DB_OK; k++)
		st = day_bounds(db, tz, pt[k].run->d0 + pt[k].first, (size_t)pt[k].len,
				q0 + pt[k].off, q1 + pt[k].off);
	if (st != DB_OK)
		return st;
	if (int_array(&a0, q0, (size_t)m) < 0 || int_array(&a1, q1, (size_t)m) < 0 ||
	    kind_type_arrays(pt, np, &kinds, &types) < 0) {
		st = DB_ERROR;
	} else {
		/* pending events of these days were folded first (memo_answer) */
		const char *params[] = {kinds.p, types.p, a0.p, a1.p, sets ? "t" : "f"};
		st = db_query_binary(db, "analytics_days_cached", 5, params, &r);
	}
	buf_free(&a0);
	buf_free(&a1);
	buf_free(&kinds);
	buf_free(&types);
	if (st != DB_OK)
		return read_failed(db, st);
	for (int i = 0; i < m && st == DB_OK; i++) {
		day[i].size = -1;
		if (!(day[i].set = userset_new()))
			st = DB_ERROR;
	}
	if (st == DB_OK)
		st = day_rows(db, r, day, m, NULL, 0, NULL); /* cached days are not stored again */
	PQclear(r);
	for (int k = 0; k < np && st == DB_OK; k++)
		st = missing_days(db, &pt[k], sets, q0, q1, day, m);
	for (int i = 0; i < m; i++) {
		if (st == DB_OK && fn(ctx, i0 + (size_t)i, day[i].set, day[i].size) < 0)
			st = DB_ERROR;
		else if (st != DB_OK)
			userset_free(day[i].set);
	}
	if (st == DB_ERROR)
		log_msg(LOGL_ERROR, "db", "%s", db->err[0] ? db->err : "out of memory");
	else if (st != DB_OK)
		return read_failed(db, st);
	return st;
}

/* Every day of the runs, in order, to fn (sets 0: a cached day comes as its size alone). */
static enum db_status
for_each_day(struct db *db, const char *tz, const struct run *runs, int nruns, int sets,
	     day_fn fn, void *ctx)
{
	enum db_status st = DB_OK;
	size_t n = 0;
	for (int k = 0; k < nruns; k++)
		n += runs[k].n;
	for (size_t i = 0; i < n && st == DB_OK; i += DAYS_PER_QUERY) {
		int m = n - i < DAYS_PER_QUERY ? (int)(n - i) : DAYS_PER_QUERY;
		st = days_chunk(db, tz, runs, nruns, i, m, sets, fn, ctx);
	}
	return st;
}

static int
count_day(void *ctx, size_t i, struct userset *day, int64_t size)
{
	((int64_t *)ctx)[i] = size >= 0 ? size : (int64_t)userset_count(day);
	userset_free(day);
	return 0;
}

/* A DAU or active-users question (window 0: a DAU). */
struct days_q {
	const char *tz, *type;
	int64_t from_day;
	size_t ndays;
	int window;
};

static enum db_status
dau_answer(struct db *db, const void *qv, int64_t *counts)
{
	const struct days_q *q = qv;
	memset(counts, 0, q->ndays * sizeof *counts);
	const struct run run = {"a", q->type, q->from_day, q->ndays};
	return for_each_day(db, q->tz, &run, 1, 0, count_day, counts);
}

enum db_status
db_dau_tz(struct db *db, const char *tz, const char *type, int64_t from_day, size_t ndays,
	  int64_t *counts)
{
	const struct days_q q = {tz, type, from_day, ndays, 0};
	char key[ANSWERS_KEY_MAX + 1];
	int64_t lo, hi;
	enum db_status st = read_range(db, tz, from_day, from_day + (int64_t)ndays - 1, &lo, &hi);
	if (st != DB_OK)
		return st;
	return memo_answer(db,
			   answer_key(key, sizeof key, "dau\x1f%s\x1f%c%s\x1f%lld\x1f%zu", tz,
				      type ? 't' : '*', type ? type : "", (long long)from_day,
				      ndays),
			   lo, hi, ndays, counts, dau_answer, &q);
}

/* Rolling windows of w days over a run of days x_0, x_1, ... in blocks of w: the union of a
 * window that starts in block b and ends in block b + 1 is (suffix of block b from its
 * start) | (prefix of block b + 1 up to its end); so each day costs about three unions. */
struct rolling {
	size_t w;
	struct userset **day;	/* this block's days so far */
	struct userset **suf;	/* the previous block's suffix unions */
	struct userset *prefix; /* this block's union so far */
	int64_t *out;		/* out[j - (w - 1)]: the window ending on day j */
};

static void
free_sets(struct userset **s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		userset_free(s[i]);
		s[i] = NULL;
	}
}

/* The block just finished becomes the suffix unions; its day sets are reused as them. */
static int
close_block(struct rolling *R)
{
	free_sets(R->suf, R->w);
	for (size_t p = R->w; p-- > 0;) {
		R->suf[p] = R->day[p];
		R->day[p] = NULL;
		if (p + 1 < R->w)
			userset_or(R->suf[p], R->suf[p + 1]);
	}
	return 0;
}

static int
rolling_day(void *ctx, size_t j, struct userset *x, int64_t size)
{
	struct rolling *R = ctx;
	(void)size;
	size_t pos = j % R->w;
	if (pos == 0) {
		if (j > 0)
			close_block(R);
		userset_free(R->prefix);
		if (!(R->prefix = userset_copy(x))) {
			userset_free(x);
			return -1;
		}
	} else {
		userset_or(R->prefix, x);
	}
	R->day[pos] = x;
	if (j + 1 >= R->w)
		R->out[j + 1 - R->w] = pos == R->w - 1
					   ? (int64_t)userset_count(R->prefix)
					   : (int64_t)userset_or_count(R->suf[pos + 1], R->prefix);
	return 0;
}

/* The rolling windows over the days, computed from the day sets. */
static enum db_status
windows_from_days(struct db *db, const char *tz, const char *type, int64_t from_day, size_t ndays,
		  int window, int64_t *counts)
{
	struct rolling R = {.w = (size_t)window, .out = counts};
	enum db_status st = DB_ERROR;
	R.day = calloc(R.w, sizeof *R.day);
	R.suf = calloc(R.w, sizeof *R.suf);
	if (R.day && R.suf)
		st = for_each_day(db, tz,
				  &(const struct run){"a", type, from_day - (window - 1),
						      ndays + R.w - 1},
				  1, 1, rolling_day, &R);
	if (R.day)
		free_sets(R.day, R.w);
	if (R.suf)
		free_sets(R.suf, R.w);
	free(R.day);
	free(R.suf);
	userset_free(R.prefix);
	return st;
}

/* stats_windows' columns */
enum { WIN_J, WIN_Q0, WIN_Q1, WIN_SIZE, WIN_G };

/* The windows just counted go to window_counts for the next reader (g: the generation read
 * before the days were). */
static void
store_windows(struct db *db, const char *type, const PGresult *r, const int64_t *counts,
	      size_t ndays, int64_t g)
{
	struct buf a[3] = {0};
	char gen[24];
	int rc = 0;
	for (size_t j = 0; j < ndays && rc == 0; j++) {
		const int64_t v[3] = {be_int(PQgetvalue(r, (int)j, WIN_Q0), 4),
				      be_int(PQgetvalue(r, (int)j, WIN_Q1), 4), counts[j]};
		rc = array_ints(a, v, 3);
	}
	if (rc == 0 && ndays > 0 && arrays_close(a, 3) == 0) {
		snprintf(gen, sizeof gen, "%lld", (long long)g);
		const char *params[] = {gen, type ? type : "", a[0].p, a[1].p, a[2].p};
		memo_store(db, "analytics_windows_store", "caching window counts", 5, params);
	}
	for (int c = 0; c < 3; c++)
		buf_free(&a[c]);
}

/* Active users: each window's count from window_counts when every one is there (one row per
 * day asked), else all of them from the days, then kept for the next reader. */
static enum db_status
active_answer(struct db *db, const void *qv, int64_t *counts)
{
	const struct days_q *q = qv;
	const char *tz = q->tz, *type = q->type;
	int64_t from_day = q->from_day;
	size_t ndays = q->ndays;
	int window = q->window;
	size_t w = (size_t)window, ndb = ndays + w - 1, have = 0;
	int32_t *q0 = calloc(ndb, sizeof *q0), *q1 = calloc(ndb, sizeof *q1);
	struct buf a0 = {0}, a1 = {0};
	enum db_status st = DB_ERROR;
	int64_t g = -1;
	PGresult *r = NULL;
	memset(counts, 0, ndays * sizeof *counts);
	if (q0 && q1 && (st = day_bounds(db, tz, from_day - (window - 1), ndb, q0, q1)) == DB_OK) {
		/* window j: from the start of its first day to the end of day j */
		for (size_t j = 0; j < ndays; j++)
			q1[j] = q1[j + w - 1];
		if (int_array(&a0, q0, ndays) < 0 || int_array(&a1, q1, ndays) < 0) {
			st = DB_ERROR;
		} else {
			/* pending events of these days were folded first (memo_answer) */
			const char *params[] = {type ? type : "", a0.p, a1.p};
			st = db_query_binary(db, "analytics_windows", 3, params, &r);
		}
	}
	buf_free(&a0);
	buf_free(&a1);
	free(q0);
	free(q1);
	if (st != DB_OK)
		return read_failed(db, st);
	for (int j = 0; j < PQntuples(r) && (size_t)j < ndays; j++) {
		g = be_int(PQgetvalue(r, j, WIN_G), PQgetlength(r, j, WIN_G));
		if (PQgetisnull(r, j, WIN_SIZE))
			continue;
		counts[j] = be_int(PQgetvalue(r, j, WIN_SIZE), 4);
		have++;
	}
	if (have < ndays) {
		if ((size_t)PQntuples(r) != ndays) {
			db_set_error(db, "analytics_windows", "not one row per day");
			st = DB_ERROR;
		} else if ((st = windows_from_days(db, tz, type, from_day, ndays, window,
						   counts)) == DB_OK) {
			store_windows(db, type, r, counts, ndays, g);
		}
	}
	PQclear(r);
	return st;
}

enum db_status
db_active_users(struct db *db, const char *tz, const char *type, int64_t from_day, size_t ndays,
		int window, int64_t *counts)
{
	const struct days_q q = {tz, type, from_day, ndays, window};
	char key[ANSWERS_KEY_MAX + 1];
	int64_t lo, hi;
	enum db_status st =
	    read_range(db, tz, from_day - (window - 1), from_day + (int64_t)ndays - 1, &lo, &hi);
	if (st != DB_OK)
		return st;
	return memo_answer(db,
			   answer_key(key, sizeof key, "active\x1f%s\x1f%c%s\x1f%lld\x1f%zu\x1f%d",
				      tz, type ? 't' : '*', type ? type : "", (long long)from_day,
				      ndays, window),
			   lo, hi, ndays, counts, active_answer, &q);
}

/* Retention: the cohort's union, then each window's union of days met with it. */
struct windows {
	struct userset *cohort, *cur;
	size_t ncohort;
	int period;
	int64_t *counts;
};

/* Day i of the read: the cohort's days come first (ncohort), then the windows'. */
static int
retention_day(void *ctx, size_t i, struct userset *day, int64_t size)
{
	struct windows *W = ctx;
	(void)size;
	if (i < W->ncohort) {
		userset_or(W->cohort, day);
		userset_free(day);
		return 0;
	}
	i -= W->ncohort;
	userset_or(W->cur, day);
	userset_free(day);
	if ((i + 1) % (size_t)W->period == 0) {
		W->counts[i / (size_t)W->period] = (int64_t)userset_and_count(W->cur, W->cohort);
		userset_free(W->cur);
		if (!(W->cur = userset_new()))
			return -1;
	}
	return 0;
}

/* vals[0] = the cohort, vals[1 + k] = window k. */
static enum db_status
retention_answer(struct db *db, const void *qv, int64_t *vals)
{
	const struct retention_q *q = qv;
	int64_t *cohort = vals, *counts = vals + 1;
	struct windows W = {.period = q->period, .counts = counts};
	enum db_status st = DB_ERROR;
	memset(counts, 0, (size_t)(q->windows + 1) * sizeof *counts);
	*cohort = 0;
	W.cohort = userset_new();
	W.cur = userset_new();
	/* the cohort's days, then the windows' days: one query when they are cached */
	const struct run runs[] = {
	    {"c", q->start_event, q->start_day, (size_t)q->period},
	    {"a", q->return_event, q->start_day, (size_t)(q->windows + 1) * (size_t)q->period}};
	W.ncohort = (size_t)q->period;
	if (W.cohort && W.cur)
		st = for_each_day(db, q->tz, runs, 2, 1, retention_day, &W);
	if (st == DB_OK)
		*cohort = (int64_t)userset_count(W.cohort);
	userset_free(W.cohort);
	userset_free(W.cur);
	return st;
}

enum db_status
db_retention_tz(struct db *db, const struct retention_q *q, int64_t *cohort, int64_t *counts)
{
	int64_t vals[ANSWERS_VALS_MAX];
	size_t n = (size_t)q->windows + 2;
	char key[ANSWERS_KEY_MAX + 1];
	enum db_status st;
	*cohort = 0;
	if (n > ANSWERS_VALS_MAX) { /* the API asks for at most 365 windows */
		db_set_error(db, "retention", "too many windows");
		return DB_ERROR;
	}
	/* a pending event earlier than the windows' end may move a user into or out of the
	 * cohort (its first quarter): every quarter before that end counts */
	int64_t lo, hi;
	st = read_range(db, q->tz, q->start_day,
			q->start_day + (int64_t)(q->windows + 1) * q->period - 1, &lo, &hi);
	if (st != DB_OK)
		return st;
	lo = INT32_MIN;
	st = memo_answer(
	    db,
	    answer_key(key, sizeof key, "retention\x1f%s\x1f%c%s\x1f%c%s\x1f%lld\x1f%d\x1f%d",
		       q->tz, q->start_event ? 't' : '*', q->start_event ? q->start_event : "",
		       q->return_event ? 't' : '*', q->return_event ? q->return_event : "",
		       (long long)q->start_day, q->period, q->windows),
	    lo, hi, n, vals, retention_answer, q);
	if (st == DB_OK) {
		*cohort = vals[0];
		memcpy(counts, vals + 1, (n - 1) * sizeof *counts);
	}
	return st;
}

/* Top events rows in one malloc'd block, the strings inside it: n rows, text bytes of
 * strings. NULL: out of memory. */
static struct top_row *
top_block(size_t n, size_t text)
{
	size_t bytes = n * sizeof(struct top_row) + text;
	return malloc(bytes ? bytes : 1);
}

/* The rows (event type, count) of r as *rows (top_block). */
static enum db_status
db_top_rows(const PGresult *r, struct top_row **rows, size_t *n)
{
	size_t text = 0;
	for (int i = 0; i < PQntuples(r); i++)
		text += (size_t)PQgetlength(r, i, 0) + 1;
	if (!(*rows = top_block((size_t)PQntuples(r), text)))
		return DB_ERROR;
	char *p = (char *)(*rows + PQntuples(r));
	for (int i = 0; i < PQntuples(r); i++) {
		size_t len = (size_t)PQgetlength(r, i, 0) + 1;
		memcpy(p, PQgetvalue(r, i, 0), len);
		(*rows)[i].event_type = p;
		(*rows)[i].count = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		p += len;
	}
	*n = (size_t)PQntuples(r);
	return DB_OK;
}

/* Top events rows as the memo keeps them: per row its count (8 bytes) then its name and a
 * NUL. The encoding's size, into out when not NULL. */
static size_t
top_encode(const struct top_row *rows, size_t n, unsigned char *out)
{
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(rows[i].event_type) + 1;
		if (out) {
			memcpy(out + at, &rows[i].count, sizeof rows[i].count);
			memcpy(out + at + sizeof rows[i].count, rows[i].event_type, len);
		}
		at += sizeof rows[i].count + len;
	}
	return at;
}

/* The rows top_encode wrote (size bytes at p) as *rows (top_block). -1: out of memory, or
 * not such an encoding. */
static int
top_decode(const unsigned char *p, size_t size, struct top_row **rows, size_t *n)
{
	size_t count = 0, text = 0;
	for (size_t at = 0; at < size; count++) {
		const unsigned char *nul;
		if (size - at <= sizeof(int64_t) ||
		    !(nul = memchr(p + at + sizeof(int64_t), 0, size - at - sizeof(int64_t))))
			return -1;
		size_t len = (size_t)(nul - (p + at + sizeof(int64_t))) + 1;
		text += len;
		at += sizeof(int64_t) + len;
	}
	if (!(*rows = top_block(count, text)))
		return -1;
	char *s = (char *)(*rows + count);
	for (size_t i = 0, at = 0; i < count; i++) {
		size_t len = strlen((const char *)p + at + sizeof(int64_t)) + 1;
		memcpy(&(*rows)[i].count, p + at, sizeof(int64_t));
		memcpy(s, p + at + sizeof(int64_t), len);
		(*rows)[i].event_type = s;
		s += len;
		at += sizeof(int64_t) + len;
	}
	*n = count;
	return 0;
}

/* Is x the first quarter of a block of level l (qblock, migration 0011)? */
static int
block_start(int64_t x, int l)
{
	return ((x % l) + l) % l == 0;
}

enum { TOP_EDGE_BLOCKS = 16 }; /* level-4 or level-1 blocks at the two ends of a range */

/* The quarters [q0, q1) as the fewest aligned blocks (stats_range_blocks, migration 0011): the
 * level-24 ones are one run [*lo24, *hi24), the others (at the two ends) listed as array
 * literals in b4 and b1. */
static int
range_blocks(int64_t q0, int64_t q1, int64_t *lo24, int64_t *hi24, struct buf *b4, struct buf *b1)
{
	int32_t v4[TOP_EDGE_BLOCKS], v1[TOP_EDGE_BLOCKS];
	size_t n4 = 0, n1 = 0;
	*lo24 = *hi24 = 0;
	for (int64_t x = q0; x < q1;) {
		if (block_start(x, 24) && x + 24 <= q1) {
			if (*lo24 == *hi24)
				*lo24 = x;
			*hi24 = x += 24;
		} else if (block_start(x, 4) && x + 4 <= q1) {
			if (n4 == TOP_EDGE_BLOCKS)
				return -1;
			v4[n4++] = (int32_t)x;
			x += 4;
		} else {
			if (n1 == TOP_EDGE_BLOCKS)
				return -1;
			v1[n1++] = (int32_t)x++;
		}
	}
	return int_array(b4, v4, n4) < 0 || int_array(b1, v1, n1) < 0 ? -1 : 0;
}

enum db_status
db_top_events_tz(struct db *db, const char *tz, int64_t from_day, int64_t to_day, int limit,
		 struct top_row **rows, size_t *n)
{
	size_t ndays = (size_t)(to_day - from_day + 1);
	char lo[24], hi[24], lim[16], kb[ANSWERS_KEY_MAX + 1];
	struct buf b4 = {0}, b1 = {0};
	int32_t *q0 = malloc(ndays * sizeof *q0), *q1 = malloc(ndays * sizeof *q1);
	int64_t lo24, hi24;
	struct answer_token t;
	int pending;
	enum db_status st = DB_ERROR;
	PGresult *r;
	*rows = NULL;
	*n = 0;
	if (!q0 || !q1)
		goto out;
	/* every day's bounds (each one checked on a quarter hour), then the one range of them */
	if ((st = day_bounds(db, tz, from_day, ndays, q0, q1)) != DB_OK)
		goto out;
	/* what of these days is pending folded first; then, with the summaries as they were
	 * when it was answered, from the memo (fold_range, memo_answer) */
	if ((st = fold_range(db, q0[0], q1[ndays - 1], &t, &pending)) != DB_OK) {
		st = read_failed(db, st);
		goto out;
	}
	const char *key = pending || !db->answers
			      ? NULL
			      : answer_key(kb, sizeof kb, "top\x1f%s\x1f%lld\x1f%lld\x1f%d", tz,
					   (long long)from_day, (long long)to_day, limit);
	size_t size;
	const unsigned char *kept = key ? answers_find(db->answers, key, t, &size) : NULL;
	if (kept) {
		st = top_decode(kept, size, rows, n) < 0 ? DB_ERROR : DB_OK;
		goto out;
	}
	st = DB_ERROR;
	if (range_blocks(q0[0], q1[ndays - 1], &lo24, &hi24, &b4, &b1) < 0) {
		db_set_error(db, "analytics_top", "a range with too many partial blocks");
		goto out;
	}
	snprintf(lo, sizeof lo, "%lld", (long long)lo24);
	snprintf(hi, sizeof hi, "%lld", (long long)hi24);
	snprintf(lim, sizeof lim, "%d", limit);
	const char *params[] = {lo, hi, b4.p, b1.p, lim};
	if ((st = db_query(db, "analytics_top", 5, params, &r)) != DB_OK) {
		st = read_failed(db, st);
		goto out;
	}
	st = db_top_rows(r, rows, n);
	PQclear(r);
	/* kept, unless empty (a range with no events asks again) or over ANSWERS_BYTES_MAX */
	size = st == DB_OK && key ? top_encode(*rows, *n, NULL) : 0;
	unsigned char *enc = size && size <= ANSWERS_BYTES_MAX ? malloc(size) : NULL;
	if (enc) {
		top_encode(*rows, *n, enc);
		answers_put_bytes(db->answers, key, t, enc, size);
		free(enc);
	}
out:
	if (st != DB_OK) {
		free(*rows);
		*rows = NULL;
		*n = 0;
	}
	buf_free(&b4);
	buf_free(&b1);
	free(q0);
	free(q1);
	return st;
}
