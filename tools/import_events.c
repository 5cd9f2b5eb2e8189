/* import_events: the CSV bulk loader (API.md "CSV bulk loader").
 *
 *   import_events PATH|- [--batch-size N] [--dry-run] [--rejects FILE]
 *
 * Streams the CSV through fcgi/core/csv.c, validates every row with the HTTP path's own
 * event_validate / json_properties_normalize, and stores batches with db_ingest: one COPY into
 * the session's staging table and one ingest_merge per transaction, so a batch is stored (its
 * events pending for the summaries) or not at all, and a re-run after a crash only finds
 * duplicates. The loader folds its pending events into the summaries itself, every
 * LOAD_FOLD_EVENTS accepted events and at its end, in the earliest quarters' order, while the
 * supervisor's fold waits for it (db_loader_begin): when it says done, the statistics are. */
#include "batch.h"
#include "clock.h"
#include "conf.h"
#include "csv.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "pgservice.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	DEFAULT_BATCH = 50000, /* see README: amortises each COMMIT and merge; ~30 MB RSS */
	MAX_BATCH = 1000000,
	READ_BUF = 1 << 20,
	MAX_RECORD = 1 << 20, /* bytes of one CSV record; properties alone may be 64 KiB compact */
	REASON_MAX = 512,
	DB_REJECT_LIMIT = 20, /* rows in a row refused by the database before giving up */
	/* accepted events between the loader's folds: bounds the pending rows a long load leaves
	 * (and a read of its whole period during it folds). Each fold rewrites the sets of every
	 * quarter its events touch, so fewer folds cost less (ADR 7 items 15, 16) */
	LOAD_FOLD_EVENTS = 10000000
};

enum col { COL_ID, COL_TIME, COL_USER, COL_TYPE, COL_PROPS, COL__MAX };

static const char *const col_names[COL__MAX] = {"event_id", "occurred_at", "user_id", "event_type",
						"properties_json"};

struct options {
	const char *path;
	const char *rejects;
	size_t batch_size;
	int dry_run;
};

struct slot {
	struct batch b;
	long *lines; /* lines[i]: CSV line of b.ev[i] */
};

struct loader {
	struct options opt;
	FILE *in, *rej;
	struct csv_reader *csv;
	struct db *db;
	int stripe;
	enum log_level log_level; /* LOG_LEVEL, default info */
	int col[COL__MAX];	  /* column index of each known field */
	size_t ncols;		  /* fields in the header */
	/* Two batches: the reader fills one while the writer thread stores the other, so that
	 * parsing and validating (client CPU) overlaps with COPY and merge (server CPU). */
	struct slot slots[2];
	int filling; /* the slot the reader fills */
	pthread_t writer;
	int writer_started, db_begun;
	pthread_mutex_t mu; /* guards busy, done, failed, rejected and the rejects file */
	pthread_cond_t cv;
	struct slot *busy; /* the slot the writer stores, or NULL */
	int done, failed;
	size_t read, accepted, dups, rejected, db_refused_run;
	size_t unfolded; /* events accepted since the last fold (the writer's) */
	int64_t now_us;
	double t0, last_progress;
	uint64_t size; /* input bytes, 0 when unknown */
	int progress;
};

static void
usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: import_events PATH|- [--batch-size N] [--dry-run] [--rejects FILE]\n"
	    "\n"
	    "Loads events from a CSV file (or stdin for -) with the header\n"
	    "event_id,occurred_at,user_id,event_type,properties_json (any order, extra columns\n"
	    "ignored) under the same rules as POST /events. Every row ends as exactly one of\n"
	    "accepted, duplicate (its event_id is stored already) or rejected. Safe to re-run.\n"
	    "The loaded events are folded into the statistics' summaries every 10 million and\n"
	    "at the end (the service's own fold waits meanwhile; a read of loaded days folds\n"
	    "their events first): the statistics are current when it is done.\n"
	    "\n"
	    "  --batch-size N   rows per transaction, 1..%d (default %d)\n"
	    "  --dry-run        read, validate and count (duplicates too); write nothing\n"
	    "  --rejects FILE   write rejected rows there as CSV: line,reason,record\n"
	    "  -h, --help       this text\n"
	    "\n"
	    "Database: DATABASE_URL; else the libpq PG* variables (PGSERVICE, PGSERVICEFILE\n"
	    "too); else the embedded database of make run, through the service file the stack\n"
	    "writes ($VAR_DIR/run/pg_service.conf, or var/run/ beside this binary's build/).\n"
	    "LOG_LEVEL (debug|info|warn|error, default info) for log lines on stderr.\n"
	    "\n"
	    "The last line on stdout is {\"read\":N,\"accepted\":A,\"duplicates\":D,"
	    "\"rejected\":R,\"seconds\":S}.\n"
	    "Exit status: 0 every row accepted or duplicate, 3 finished with rejected rows,\n"
	    "1 could not run (bad arguments, unreadable file, no database).\n",
	    MAX_BATCH, DEFAULT_BATCH);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "import_events: ..." on stderr; returns exit status 1. */
static int
fail(const char *fmt, ...)
{
	va_list ap;
	fputs("import_events: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int
parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < 1 || v > MAX_BATCH)
		return -1;
	*out = (size_t)v;
	return 0;
}

/* The value of --name VALUE or --name=VALUE at argv[*i]; NULL when argv[*i] is not --name. */
static const char *
opt_value(char **argv, int argc, int *i, const char *name, int *missing)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

static int
parse_args(int argc, char **argv, struct options *o)
{
	o->batch_size = DEFAULT_BATCH;
	for (int i = 1; i < argc; i++) {
		const char *v;
		int missing = 0;
		if (!strcmp(argv[i], "--dry-run")) {
			o->dry_run = 1;
		} else if ((v = opt_value(argv, argc, &i, "--batch-size", &missing))) {
			if (parse_size(v, &o->batch_size) < 0)
				return fail("--batch-size: expected 1..%d, not '%s'", MAX_BATCH, v);
		} else if ((v = opt_value(argv, argc, &i, "--rejects", &missing))) {
			o->rejects = v;
		} else if (missing) {
			return fail("%s needs a value", argv[i]);
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			exit(0);
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return fail("unknown option %s", argv[i]);
		} else if (o->path) {
			return fail("one input file only ('%s' and '%s')", o->path, argv[i]);
		} else {
			o->path = argv[i];
		}
	}
	if (!o->path) {
		usage(stderr);
		return 1;
	}
	return 0;
}

/* --- rejects ------------------------------------------------------------------------------ */

/* Counts a rejected row and writes it to the rejects file; called from both threads. */
static void
reject(struct loader *L, long line, const char *reason, const char *raw, size_t raw_len)
{
	pthread_mutex_lock(&L->mu);
	L->rejected++;
	if (L->rej) {
		fprintf(L->rej, "%ld,", line);
		csv_write_quoted(L->rej, reason, strlen(reason));
		fputc(',', L->rej);
		csv_write_quoted(L->rej, raw, raw_len);
		fputc('\n', L->rej);
	}
	pthread_mutex_unlock(&L->mu);
}

/* --- the header --------------------------------------------------------------------------- */

static void
trim(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

static int
header(struct loader *L, const struct csv_record *rec)
{
	if (rec->flags & (CSV_F_TOO_LONG | CSV_F_UNTERMINATED | CSV_F_BAD_QUOTE | CSV_F_NUL))
		return fail("line %ld: malformed header", rec->line);
	for (int c = 0; c < COL__MAX; c++)
		L->col[c] = -1;
	for (size_t i = 0; i < rec->nfields; i++) {
		const char *s = rec->fields[i].p;
		size_t len = rec->fields[i].len;
		trim(&s, &len);
		for (int c = 0; c < COL__MAX; c++) {
			if (strlen(col_names[c]) != len || strncasecmp(s, col_names[c], len))
				continue;
			if (L->col[c] >= 0)
				return fail("line %ld: column %s appears twice", rec->line,
					    col_names[c]);
			L->col[c] = (int)i;
		}
	}
	for (int c = 0; c < COL__MAX; c++)
		if (L->col[c] < 0)
			return fail(
			    "line %ld: the header has no column %s (expected %s,%s,%s,%s,%s "
			    "in any order)",
			    rec->line, col_names[c], col_names[0], col_names[1], col_names[2],
			    col_names[3], col_names[4]);
	L->ncols = rec->nfields;
	return 0;
}

/* --- one row ------------------------------------------------------------------------------ */

/* Problems of the record's shape, before its values are looked at. */
static int
shape_problem(const struct loader *L, const struct csv_record *rec, char *why, size_t cap)
{
	if (rec->flags & CSV_F_UNTERMINATED)
		snprintf(why, cap,
			 "unterminated quoted field: no closing quote before the end of the"
			 " input");
	else if ((rec->flags & CSV_F_TOO_LONG) && rec->nfields > CSV_MAX_FIELDS)
		snprintf(why, cap, "more than %d fields", CSV_MAX_FIELDS);
	else if (rec->flags & CSV_F_TOO_LONG)
		snprintf(why, cap, "record longer than %d bytes", MAX_RECORD);
	else if (rec->nfields != L->ncols)
		snprintf(why, cap, "%zu field%s, header has %zu%s", rec->nfields,
			 rec->nfields == 1 ? "" : "s", L->ncols,
			 rec->nfields > L->ncols       ? " (unquoted JSON with commas?)"
			 : (rec->flags & CSV_F_NO_EOL) ? " (truncated last line?)"
						       : "");
	else if (rec->flags & CSV_F_NUL)
		snprintf(why, cap, "NUL byte in the record");
	else if (rec->flags & CSV_F_BAD_QUOTE)
		snprintf(why, cap,
			 "field %zu: stray quote (a quote inside an unquoted field or text after a "
			 "closing quote; unquoted JSON?)",
			 rec->bad_field + 1);
	else
		return 0;
	return -1;
}

/* "field: message; field: message" of every problem found. */
static void
join_problems(const struct verrs *v, char *why, size_t cap)
{
	size_t pos = 0;
	why[0] = '\0';
	for (size_t i = 0; i < v->n && pos < cap; i++) {
		const char *name = v->items[i].field;
		if (!strcmp(name, "properties"))
			name = "properties_json";
		int n = snprintf(why + pos, cap - pos, "%s%s%s%s", i ? "; " : "", name,
				 *name ? ": " : "", v->items[i].message);
		if (n < 0)
			break;
		pos += (size_t)n;
	}
}

static void
cell(const struct csv_record *rec, int col, const char **p, size_t *len)
{
	*p = rec->fields[col].p;
	*len = rec->fields[col].len;
	if (*len == 0)
		*p = NULL; /* an empty cell is a missing value */
}

/* Validates a well-shaped record into *ev; -1 with the reason in why. */
static int
to_event(const struct loader *L, const struct csv_record *rec, struct event *ev, char *why,
	 size_t cap)
{
	struct event_input in = {0};
	struct verrs v = {0};
	char *props = NULL;
	const char *pwhy;
	int rc;
	cell(rec, L->col[COL_ID], &in.event_id, &in.event_id_len);
	cell(rec, L->col[COL_TIME], &in.occurred_at, &in.occurred_at_len);
	cell(rec, L->col[COL_USER], &in.user_id, &in.user_id_len);
	cell(rec, L->col[COL_TYPE], &in.event_type, &in.event_type_len);
	const struct csv_field *pf = &rec->fields[L->col[COL_PROPS]];
	/* null is {} (API.md), like an empty cell */
	size_t plen = csv_cell_is_json_null(pf->p, pf->len) ? 0 : pf->len;
	if (json_properties_normalize(pf->p, plen, &props, &pwhy) < 0) {
		verrs_add(&v, 0, "properties", "%s", pwhy ? pwhy : "out of memory");
		in.reported |= EVENT_F_PROPS;
	} else {
		in.properties = props;
		in.properties_len = strlen(props);
	}
	rc = event_validate(&in, L->now_us, 0, &v, ev);
	free(props);
	if (rc < 0)
		join_problems(&v, why, cap);
	return rc;
}

/* --- storing batches ---------------------------------------------------------------------- */

/* A row the database refused: its record is rebuilt from the normalised event. */
static void
reject_stored(struct loader *L, const struct slot *sl, size_t i, const char *err)
{
	const struct event *e = &sl->b.ev[i];
	char ts[EVENT_TIME_BUF], reason[REASON_MAX];
	char *rec = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&rec, &len);
	event_time_format(e->occurred_us, ts);
	if (m) {
		fprintf(m, "%s,%s,", e->event_id, ts);
		csv_write_quoted(m, e->user_id, strlen(e->user_id));
		fputc(',', m);
		csv_write_quoted(m, e->event_type, strlen(e->event_type));
		fputc(',', m);
		csv_write_quoted(m, e->properties, strlen(e->properties));
		fclose(m);
	}
	snprintf(reason, sizeof reason, "the database refused the row: %s", err);
	reject(L, sl->lines[i], reason, rec ? rec : "", rec ? len : 0);
	free(rec);
}

/* Stores ev[off, off + n) of the slot; on a database error halves the range until the rows
 * at fault are found and rejected. -1 when the database cannot be used any more. */
static int
store_range(struct loader *L, const struct slot *sl, size_t off, size_t n)
{
	struct batch view = {.ev = sl->b.ev + off, .n = n, .cap = n};
	size_t fresh = 0;
	enum db_status st = L->opt.dry_run
				? db_loader_dry_count(L->db, &view, &fresh)
				: db_ingest(L->db, &view, L->stripe, DB_MAY_REPEAT, &fresh);
	if (st == DB_OK) {
		L->accepted += fresh;
		L->dups += n - fresh;
		L->db_refused_run = 0;
		L->unfolded += fresh;
		if (!L->opt.dry_run && L->unfolded >= LOAD_FOLD_EVENTS) {
			L->unfolded = 0;
			if (db_loader_fold(L->db) != DB_OK) /* stored: a later fold does it */
				log_msg(LOGL_WARN, "import", "folding the loaded events: %s",
					db_last_error(L->db));
		}
		return 0;
	}
	/* not the rows' fault: stop, a re-run is safe */
	if (st == DB_UNAVAILABLE || st == DB_BUSY || st == DB_UNCONFIRMED)
		return -1;
	if (n == 1) {
		reject_stored(L, sl, off, db_last_error(L->db));
		return ++L->db_refused_run > DB_REJECT_LIMIT ? -1 : 0;
	}
	if (store_range(L, sl, off, n / 2) < 0)
		return -1;
	return store_range(L, sl, off + n / 2, n - n / 2);
}

/* Stores a slot and empties it (its event array is kept for the next batch). */
static int
store(struct loader *L, struct slot *sl)
{
	int rc = sl->b.n ? store_range(L, sl, 0, sl->b.n) : 0;
	for (size_t i = 0; i < sl->b.n; i++) {
		free(sl->b.ev[i].user_id);
		free(sl->b.ev[i].event_type);
		free(sl->b.ev[i].properties);
	}
	sl->b.n = 0;
	if (rc < 0)
		fail("database: %s (stopped; the batches before this one are committed)",
		     db_last_error(L->db));
	return rc;
}

/* The writer thread: stores each slot handed over until told it is done. */
static void *
writer_main(void *arg)
{
	struct loader *L = arg;
	pthread_mutex_lock(&L->mu);
	for (;;) {
		while (!L->busy && !L->done)
			pthread_cond_wait(&L->cv, &L->mu);
		if (!L->busy)
			break;
		struct slot *sl = L->busy;
		int skip = L->failed;
		pthread_mutex_unlock(&L->mu);
		int rc = skip ? 0 : store(L, sl);
		pthread_mutex_lock(&L->mu);
		if (rc < 0)
			L->failed = 1;
		L->busy = NULL;
		pthread_cond_broadcast(&L->cv);
	}
	pthread_mutex_unlock(&L->mu);
	return NULL;
}

/* Waits until the writer is idle; -1 when it has failed. */
static int
wait_idle(struct loader *L)
{
	pthread_mutex_lock(&L->mu);
	while (L->busy)
		pthread_cond_wait(&L->cv, &L->mu);
	int failed = L->failed;
	pthread_mutex_unlock(&L->mu);
	return failed ? -1 : 0;
}

/* Hands the filled slot to the writer and switches to the other one. */
static int
flush(struct loader *L)
{
	struct slot *sl = &L->slots[L->filling];
	if (wait_idle(L) < 0)
		return -1;
	if (!sl->b.n)
		return 0;
	pthread_mutex_lock(&L->mu);
	L->busy = sl;
	pthread_cond_broadcast(&L->cv);
	pthread_mutex_unlock(&L->mu);
	L->filling ^= 1;
	return 0;
}

/* Stores what is left and stops the writer; -1 when any batch failed. */
static int
drain(struct loader *L)
{
	int rc = flush(L);
	if (wait_idle(L) < 0)
		rc = -1;
	if (L->writer_started) {
		pthread_mutex_lock(&L->mu);
		L->done = 1;
		pthread_cond_broadcast(&L->cv);
		pthread_mutex_unlock(&L->mu);
		pthread_join(L->writer, NULL);
		L->writer_started = 0;
	}
	return rc;
}

/* --- the main loop ------------------------------------------------------------------------ */

static void
progress(struct loader *L, int last)
{
	double t = clock_mono_s();
	if (!L->progress || (!last && t - L->last_progress < 0.5))
		return;
	L->last_progress = t;
	double rate = t > L->t0 ? (double)L->read / (t - L->t0) : 0;
	fprintf(stderr, "\r%zu rows  %.0f rows/s", L->read, rate);
	if (L->size)
		fprintf(stderr, "  %.1f%%", 100.0 * (double)csv_bytes(L->csv) / (double)L->size);
	fputs(last ? "\n" : "   ", stderr);
}

static int
row(struct loader *L, const struct csv_record *rec)
{
	char why[REASON_MAX];
	struct event ev;
	L->read++;
	if (shape_problem(L, rec, why, sizeof why) < 0 ||
	    to_event(L, rec, &ev, why, sizeof why) < 0) {
		reject(L, rec->line, why, rec->raw, rec->raw_len);
		return 0;
	}
	struct slot *sl = &L->slots[L->filling];
	sl->lines[sl->b.n] = rec->line;
	if (batch_push(&sl->b, &ev) < 0)
		return fail("out of memory");
	if (sl->b.n >= L->opt.batch_size && flush(L) < 0)
		return 1;
	if ((L->read & 4095) == 0)
		progress(L, 0);
	return 0;
}

static int
load(struct loader *L)
{
	struct csv_record rec;
	enum csv_status cs = csv_next(L->csv, &rec);
	if (cs == CSV_END) {
		fprintf(stderr, "import_events: %s is empty\n", L->opt.path);
		return 0;
	}
	if (cs == CSV_RECORD && header(L, &rec))
		return 1;
	while (cs == CSV_RECORD && (cs = csv_next(L->csv, &rec)) == CSV_RECORD)
		if (row(L, &rec))
			return 1;
	if (cs == CSV_ERROR)
		return fail("%s: %s", L->opt.path, csv_error(L->csv));
	if (drain(L) < 0)
		return 1;
	progress(L, 1);
	return 0;
}

/* --- setup -------------------------------------------------------------------------------- */

static int
open_files(struct loader *L)
{
	struct stat sb;
	if (!strcmp(L->opt.path, "-"))
		L->in = stdin;
	else if (!(L->in = fopen(L->opt.path, "rb")))
		return fail("%s: %s", L->opt.path, strerror(errno));
	if (fstat(fileno(L->in), &sb) == 0 && S_ISDIR(sb.st_mode))
		return fail("%s: is a directory", L->opt.path);
	if (fstat(fileno(L->in), &sb) == 0 && S_ISREG(sb.st_mode))
		L->size = (uint64_t)sb.st_size;
	if (L->opt.rejects && !(L->rej = fopen(L->opt.rejects, "w")))
		return fail("%s: %s", L->opt.rejects, strerror(errno));
	if (L->rej)
		fputs("line,reason,record\n", L->rej);
	L->csv = csv_reader_new(L->in, READ_BUF, MAX_RECORD);
	for (int i = 0; i < 2; i++)
		if (!(L->slots[i].lines = malloc(L->opt.batch_size * sizeof(long))))
			return fail("out of memory");
	if (!L->csv)
		return fail("out of memory");
	return 0;
}

static int
open_db(struct loader *L)
{
	char why[256];
	const char *ci;
	if (pgservice_conninfo("events", &ci, why, sizeof why) < 0)
		return fail("%s", why);
	L->db = db_new(ci, "import_events", 0);
	if (!L->db)
		return fail("out of memory");
	/* loaders bump their own counter rows, apart from the workers' (0..N-1); a small fixed
	 * set, so that summary rows per day stay bounded however many loads run */
	L->stripe = 1000 + (int)(getpid() % 8);
	/* the first connection's failure is said once, in words, by fail() below; not also as
	 * the db module's JSON warning line */
	log_set_level(LOGL_ERROR);
	enum db_status st = db_loader_begin(L->db, L->opt.dry_run);
	log_set_level(L->log_level);
	if (st != DB_OK)
		return fail("no database: %s", db_last_error(L->db));
	L->db_begun = 1;
	if (pthread_create(&L->writer, NULL, writer_main, L) != 0)
		return fail("cannot start the writer thread");
	L->writer_started = 1;
	return 0;
}

static int
finish(struct loader *L, int rc)
{
	if (drain(L) < 0 && rc == 0)
		rc = 1;
	/* not after the database failed: the next fold of the service does it */
	if (L->db && L->db_begun && !L->failed && db_loader_end(L->db, L->opt.dry_run) != DB_OK)
		log_msg(LOGL_WARN, "import",
			"folding the loaded events: %s (the service's fold "
			"or the next read does it)",
			db_last_error(L->db));
	if (L->rej && fclose(L->rej) != 0 && rc == 0)
		rc = fail("%s: %s", L->opt.rejects, strerror(errno));
	if (rc == 0) {
		printf("{\"read\":%zu,\"accepted\":%zu,\"duplicates\":%zu,\"rejected\":%zu,"
		       "\"seconds\":%.3f}\n",
		       L->read, L->accepted, L->dups, L->rejected, clock_mono_s() - L->t0);
		rc = L->rejected ? 3 : 0;
	}
	if (L->in && L->in != stdin)
		fclose(L->in);
	csv_reader_free(L->csv);
	for (int i = 0; i < 2; i++) {
		batch_clear(&L->slots[i].b);
		free(L->slots[i].lines);
	}
	db_close(L->db);
	pthread_mutex_destroy(&L->mu);
	pthread_cond_destroy(&L->cv);
	return rc;
}

int
main(int argc, char **argv)
{
	struct loader L = {0};
	int rc;
	pthread_mutex_init(&L.mu, NULL);
	pthread_cond_init(&L.cv, NULL);
	L.t0 = clock_mono_s();
	L.now_us = batch_now_us();
	L.log_level = LOGL_INFO;
	if (getenv("LOG_LEVEL") && log_level_parse(getenv("LOG_LEVEL")) >= 0)
		L.log_level = (enum log_level)log_level_parse(getenv("LOG_LEVEL"));
	log_set_level(L.log_level);
	if ((rc = parse_args(argc, argv, &L.opt)) != 0)
		return rc;
	static struct conf conf; /* API keys inside: not on the stack */
	if (conf_load_int("RAW_RETENTION_DAYS", &conf) < 0)
		return 1;
	/* rows past the service's raw-data horizon are rejected, as POST /events does */
	event_set_raw_horizon_days(conf.raw_retention_days);
	L.progress = isatty(STDERR_FILENO);
	if (!(rc = open_files(&L)) && !(rc = open_db(&L)))
		rc = load(&L);
	return finish(&L, rc);
}
