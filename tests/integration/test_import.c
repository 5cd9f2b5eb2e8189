/* test_import.c: the CSV bulk loader (build/import_events) and the generator (build/gen_csv),
 * run as subprocesses against the stack of run.sh. Every event loaded here falls in 2012-2014
 * (test_stats uses 2011) and every user id starts with "imp", so other suites' numbers cannot
 * move. After loads, the /stats routes (and so the summaries they read) are compared with a
 * recomputation from the events table. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "client.h"

#define IMPORT_BIN "build/import_events"
#define GEN_BIN "build/gen_csv"

struct run {
	int status; /* exit status, or 128 + signal */
	char out[8192], err[8192];
	json_object *summary; /* last stdout line parsed, or NULL */
};

static char tmpdir[64], out_path[128], err_path[128];

static void
setup_tmp(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/it-import.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(out_path, sizeof out_path, "%s/stdout", tmpdir);
	snprintf(err_path, sizeof err_path, "%s/stderr", tmpdir);
}

static void
teardown_tmp(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", tmpdir);
}

static char *
tmp_path(const char *name)
{
	static char paths[8][256];
	static int next;
	char *p = paths[next++ % 8];
	snprintf(p, 256, "%s/%s", tmpdir, name);
	return p;
}

static void
write_file(const char *path, const char *s, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(s, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

static void
read_small(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Starts argv with stdin from in_path (or /dev/null), stdout and stderr to files; extra_env
 * is one "K=V" (or NULL). Returns the pid. */
static pid_t
spawn(const char *const *argv, const char *in_path, const char *extra_env)
{
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (in < 0 || out < 0 || err < 0)
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		if (extra_env)
			putenv((char *)extra_env);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static void
collect(struct run *r, pid_t pid)
{
	int ws;
	char *last, *nl;
	cr_assert_eq(waitpid(pid, &ws, 0), pid);
	r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	read_small(out_path, r->out, sizeof r->out);
	read_small(err_path, r->err, sizeof r->err);
	r->summary = NULL;
	nl = r->out + strlen(r->out);
	while (nl > r->out && nl[-1] == '\n')
		*--nl = '\0';
	last = strrchr(r->out, '\n');
	last = last ? last + 1 : r->out;
	if (*last == '{')
		r->summary = json_tokener_parse(last);
}

static void
run_full(struct run *r, const char *const *argv, const char *in_path, const char *extra_env)
{
	collect(r, spawn(argv, in_path, extra_env));
}

static void
run_free(struct run *r)
{
	if (r->summary)
		json_object_put(r->summary);
	r->summary = NULL;
}

static long long
sum_field(const struct run *r, const char *key)
{
	json_object *v = jget(r->summary, key);
	cr_assert_not_null(v, "summary has no %s: %s", key, r->out);
	return json_object_get_int64(v);
}

/* Exit status and the four counts of the summary (which must add up). */
static void
expect_summary(const struct run *r, int status, long long read, long long acc, long long dup,
	       long long rej)
{
	cr_assert_eq(r->status, status, "exit %d, want %d; stdout: %s; stderr: %s", r->status,
		     status, r->out, r->err);
	cr_assert_not_null(r->summary, "no JSON summary as the last stdout line: %s", r->out);
	long long R = sum_field(r, "read"), A = sum_field(r, "accepted"),
		  D = sum_field(r, "duplicates"), J = sum_field(r, "rejected");
	cr_expect_eq(A + D + J, R, "counts do not add up: %s", r->out);
	cr_expect_not_null(jget(r->summary, "seconds"));
	if (read >= 0)
		cr_expect_eq(R, read, "read: %s", r->out);
	if (acc >= 0)
		cr_expect_eq(A, acc, "accepted: %s", r->out);
	if (dup >= 0)
		cr_expect_eq(D, dup, "duplicates: %s", r->out);
	if (rej >= 0)
		cr_expect_eq(J, rej, "rejected: %s", r->out);
}

static void
import(struct run *r, const char *path, const char *a1, const char *a2, const char *a3)
{
	const char *argv[] = {IMPORT_BIN, path, a1, a2, a3, NULL};
	run_full(r, argv, NULL, NULL);
}

static void
gen(const char *out, const char *rows, const char *start, const char *seed, const char *dup,
    const char *bad)
{
	struct run r;
	const char *argv[] = {GEN_BIN,	    out,  "--rows",	   rows,  "--start",	start,
			      "--days",	    "60", "--seed",	   seed,  "--dup-rate", dup,
			      "--bad-rate", bad,  "--user-prefix", "imp", NULL};
	run_full(&r, argv, NULL, NULL);
	cr_assert_eq(r.status, 0, "gen_csv failed: %s", r.err);
}

static long long
q_ll(PGconn *db, const char *sql)
{
	return db_scalar_ll(db, sql, 0, NULL);
}

/* --- /stats against a recomputation ----------------------------------------------------- */

/* Equal as JSON, numbers compared by value (1 and 1.0 are the same rate). */
static int
json_same(json_object *a, json_object *b)
{
	json_type ta = json_object_get_type(a), tb = json_object_get_type(b);
	int na = ta == json_type_int || ta == json_type_double;
	int nb = tb == json_type_int || tb == json_type_double;
	if (na && nb)
		return fabs(json_object_get_double(a) - json_object_get_double(b)) < 1e-9;
	if (ta != tb)
		return 0;
	if (ta == json_type_array) {
		size_t n = json_object_array_length(a);
		if (n != json_object_array_length(b))
			return 0;
		for (size_t i = 0; i < n; i++)
			if (!json_same(json_object_array_get_idx(a, i),
				       json_object_array_get_idx(b, i)))
				return 0;
		return 1;
	}
	if (ta == json_type_object) {
		if (json_object_object_length(a) != json_object_object_length(b))
			return 0;
		json_object_object_foreach(a, key, va)
		{
			json_object *vb;
			if (!json_object_object_get_ex(b, key, &vb) || !json_same(va, vb))
				return 0;
		}
		return 1;
	}
	return json_object_equal(a, b);
}

/* The JSON text of a recomputation and of the route must be equal as JSON. */
static void
expect_same_json(const char *path, json_object *want)
{
	struct http_resp r = {0};
	cr_assert_eq(http_get(&r, path), 0, "GET %s failed", path);
	cr_assert_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.body);
	cr_assert_not_null(r.json, "GET %s: not JSON", path);
	cr_expect(json_same(r.json, want), "GET %s:\n got %s\nwant %s", path,
		  json_object_to_json_string(r.json), json_object_to_json_string(want));
	http_resp_free(&r);
}

static json_object *
sql_json(PGconn *db, const char *sql, int n, const char *const *p)
{
	char *text = db_scalar_text(db, sql, n, p);
	cr_assert_not_null(text, "%s", sql);
	json_object *j = json_tokener_parse(text);
	cr_assert_not_null(j, "%s", text);
	free(text);
	return j;
}

/* /stats/dau, /stats/top-events and /stats/retention over [from, to] equal SQL over events. */
static void
check_stats(PGconn *db, const char *from, const char *to)
{
	char path[256];
	const char *p[] = {from, to};
	json_object *want = sql_json(
	    db,
	    /* joins, not correlated subqueries: Citus plans these over distributed events */
	    "SELECT json_agg(json_build_object('date', to_char(d, 'YYYY-MM-DD'), 'unique_users', "
	    "coalesce(e.n, 0)) ORDER BY d) FROM generate_series($1::date, $2::date, '1 day') d "
	    "LEFT JOIN (SELECT occurred_at::date AS day, count(DISTINCT user_id) AS n FROM events "
	    "WHERE occurred_at >= $1::date AND occurred_at < $2::date + 1 GROUP BY 1) e "
	    "ON e.day = d::date",
	    2, p);
	snprintf(path, sizeof path, "/stats/dau?from=%s&to=%s", from, to);
	expect_same_json(path, want);
	json_object_put(want);
	want = sql_json(
	    db,
	    "SELECT coalesce(json_agg(json_build_object('event_type', t, 'count', n) "
	    "ORDER BY n DESC, t COLLATE \"C\"), '[]') FROM (SELECT event_type t, "
	    "count(*) n FROM events WHERE occurred_at >= $1::date AND occurred_at < "
	    "$2::date + 1 GROUP BY 1 ORDER BY 2 DESC, event_type COLLATE \"C\" LIMIT 1000) x",
	    2, p);
	snprintf(path, sizeof path, "/stats/top-events?from=%s&to=%s&limit=1000", from, to);
	expect_same_json(path, want);
	json_object_put(want);
	for (int week = 0; week < 2; week++) {
		const char *gran = week ? "week" : "day";
		const char *rp[] = {from, week ? "7" : "1", "5"};
		want = sql_json(
		    db,
		    "WITH f AS (SELECT user_id, min((occurred_at AT TIME ZONE 'UTC')::date) d FROM "
		    "events GROUP BY 1), c AS (SELECT user_id FROM f WHERE d >= $1::date AND d < "
		    "$1::date + $2::int), x AS (SELECT (e.occurred_at::date - $1::date) / $2::int "
		    "k,"
		    " count(DISTINCT e.user_id) n FROM events e JOIN c USING (user_id) WHERE "
		    "e.occurred_at >= $1::date GROUP BY 1), w AS (SELECT k, coalesce(x.n, 0) n "
		    "FROM "
		    "generate_series(0, $3::int) k LEFT JOIN x USING (k)), s AS (SELECT count(*) n "
		    "FROM c) SELECT json_build_object("
		    "'start_date', to_char($1::date, 'YYYY-MM-DD'), 'granularity', CASE $2::int "
		    "WHEN 1 THEN 'day' ELSE 'week' END, 'cohort_size', s.n, 'windows', (SELECT "
		    "json_agg(json_build_object('index', k, 'start', to_char($1::date + k * "
		    "$2::int, 'YYYY-MM-DD'), 'count', w.n, 'rate', CASE WHEN s.n = 0 THEN 0 ELSE "
		    "round(w.n::numeric / s.n, 4)::float8 END) ORDER BY k) FROM w)) FROM s",
		    3, rp);
		snprintf(path, sizeof path,
			 "/stats/retention?start_date=%s&windows=5&granularity=%s", from, gran);
		expect_same_json(path, want);
		json_object_put(want);
	}
}

/* --- messy CSV ------------------------------------------------------------------------------ */

struct messy_reject {
	long line;
	const char *reason; /* a substring of the reason */
};

TestSuite(import, .init = setup_tmp, .fini = teardown_tmp, .timeout = 300);

Test(import, messy_csv)
{
	char id[7][37], csv[4096], sql[256];
	for (int i = 0; i < 7; i++)
		it_uuid(id[i]);
	/* BOM, CRLF, columns in another order, an extra column, a quoted newline, an empty
	 * properties cell, unquoted JSON, a bad UUID, a repeat, an empty line, bad JSON, an
	 * impossible date, and a truncated last line. */
	int n = snprintf(
	    csv, sizeof csv,
	    "\xEF\xBB\xBFuser_id,event_type,extra,occurred_at,event_id,properties_json\r\n"
	    "impm1,open,x,2014-01-01T10:00:00Z,%s,\"{\"\"a\"\":1}\"\r\n"
	    "impm2,open,,2014-01-01T23:30:00-02:00,%s,\r\n"
	    "impm1,view,y,2014-01-02 08:00:00+03:00,%s,\"{\"\"multi\"\":\r\n \"\"line\"\",\r\n"
	    " \"\"n\"\": 2}\"\r\n"
	    "impm3,open,z,2014-01-02T10:00:00Z,%s,{\"a\":1,\"b\":2}\r\n"
	    "impm4,open,,2014-01-02T10:00:00Z,not-a-uuid,{}\r\n"
	    "impm1,open,x,2014-01-01T10:00:00Z,%s,\"{\"\"a\"\":1}\"\r\n"
	    "\r\n"
	    "impm5,open,,2014-01-03T10:00:00Z,%s,\"{\"\"a\"\": [1,2]}\"\r\n"
	    "impm6,open,,2014-01-03T10:00:00Z,%s,\"{\"\"a\"\":}\"\r\n"
	    "impm7,open,,2014-02-29T10:00:00Z,%s,\r\n"
	    "impm8,open,,2014-01-03T11:00:00Z,%s,\"{\"\"a",
	    id[0], id[1], id[2], id[3], id[0], id[4], id[5], id[6], id[6]);
	const char *path = tmp_path("messy.csv"), *rej = tmp_path("messy_rejects.csv");
	write_file(path, csv, (size_t)n);
	struct run r;
	import(&r, path, "--rejects", rej, NULL);
	expect_summary(&r, 3, 10, 4, 1, 5);
	run_free(&r);

	static const struct messy_reject want[] = {
	    {7, "7 fields, header has 6 (unquoted JSON with commas?)"},
	    {8, "event_id"},
	    {12, "properties_json: not well-formed JSON"},
	    {13, "occurred_at: impossible date"},
	    {14, "unterminated quoted field"},
	};
	struct csv_table t;
	char err[256];
	cr_assert_eq(csv_read_file(rej, &t, err, sizeof err), 0, "rejects file: %s", err);
	cr_assert_eq(t.ncols, 3);
	cr_expect_str_eq(t.header[0], "line");
	cr_expect_str_eq(t.header[1], "reason");
	cr_expect_str_eq(t.header[2], "record");
	cr_assert_eq(t.nrows, 5);
	for (size_t i = 0; i < 5; i++) {
		cr_expect_eq(atol(t.rows[i][0]), want[i].line, "reject %zu line %s", i,
			     t.rows[i][0]);
		cr_expect_not_null(strstr(t.rows[i][1], want[i].reason), "line %ld: reason '%s'",
				   want[i].line, t.rows[i][1]);
	}
	char orig[256];
	snprintf(orig, sizeof orig, "impm3,open,z,2014-01-02T10:00:00Z,%s,{\"a\":1,\"b\":2}",
		 id[3]);
	cr_expect_str_eq(t.rows[0][2], orig, "the original text of the rejected row");
	snprintf(orig, sizeof orig, "impm8,open,,2014-01-03T11:00:00Z,%s,\"{\"\"a", id[6]);
	cr_expect_str_eq(t.rows[4][2], orig);
	csv_free(&t);

	PGconn *db = db_open();
	snprintf(sql, sizeof sql, "SELECT properties::text FROM events WHERE event_id = '%s'",
		 id[2]);
	char *props = db_scalar_text(db, sql, 0, NULL);
	cr_expect_str_eq(props, "{\"n\": 2, \"multi\": \"line\"}");
	free(props);
	snprintf(sql, sizeof sql,
		 "SELECT properties::text || ' ' || to_char(occurred_at AT TIME ZONE 'UTC', "
		 "'YYYY-MM-DD HH24:MI') || ' ' || user_id FROM events WHERE event_id = '%s'",
		 id[1]);
	props = db_scalar_text(db, sql, 0, NULL);
	cr_expect_str_eq(props, "{} 2014-01-02 01:30 impm2");
	free(props);
	snprintf(sql, sizeof sql, "SELECT user_id || event_type FROM events WHERE event_id = '%s'",
		 id[0]);
	props = db_scalar_text(db, sql, 0, NULL);
	cr_expect_str_eq(props, "impm1open", "the first write wins");
	free(props);
	check_stats(db, "2014-01-01", "2014-01-03");
	PQfinish(db);
}

/* A properties_json cell that says null (JSON whitespace around it allowed) means {}, as
 * "properties": null does in the API; NULL is not JSON and stays a rejected row. */
Test(import, null_properties_cell)
{
	char id[4][37], csv[1024], sql[256];
	for (int i = 0; i < 4; i++)
		it_uuid(id[i]);
	int n = snprintf(csv, sizeof csv,
			 "event_id,occurred_at,user_id,event_type,properties_json\n"
			 "%s,2013-06-01T10:00:00Z,impn1,open,null\n"
			 "%s,2013-06-01T11:00:00Z,impn1,open, null \n"
			 "%s,2013-06-01T12:00:00Z,impn2,open,\"\tnull\r\n\"\n"
			 "%s,2013-06-01T13:00:00Z,impn2,open,NULL\n",
			 id[0], id[1], id[2], id[3]);
	const char *path = tmp_path("null.csv"), *rej = tmp_path("null_rejects.csv");
	write_file(path, csv, (size_t)n);
	struct run r;
	import(&r, path, "--rejects", rej, NULL);
	expect_summary(&r, 3, 4, 3, 0, 1);
	run_free(&r);
	PGconn *db = db_open();
	for (int i = 0; i < 3; i++) {
		snprintf(sql, sizeof sql,
			 "SELECT properties::text FROM events WHERE event_id = '%s'", id[i]);
		char *props = db_scalar_text(db, sql, 0, NULL);
		cr_expect_str_eq(props ? props : "(not stored)", "{}", "row %d", i + 2);
		free(props);
	}
	snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE event_id = '%s'", id[3]);
	cr_expect_eq(q_ll(db, sql), 0, "NULL is not JSON: rejected");
	PQfinish(db);
}

/* Empty input, a header alone, a header without a required column. */
Test(import, empty_and_header_only)
{
	struct run r;
	const char *path = tmp_path("e.csv");
	write_file(path, "", 0);
	import(&r, path, NULL, NULL, NULL);
	expect_summary(&r, 0, 0, 0, 0, 0);
	run_free(&r);
	write_file(path, "\xEF\xBB\xBF", 3);
	import(&r, path, NULL, NULL, NULL);
	expect_summary(&r, 0, 0, 0, 0, 0);
	run_free(&r);
	const char h[] = "event_id,occurred_at,user_id,event_type,properties_json\n";
	write_file(path, h, sizeof h - 1);
	import(&r, path, NULL, NULL, NULL);
	expect_summary(&r, 0, 0, 0, 0, 0);
	run_free(&r);
	write_file(path, h, sizeof h - 2); /* no line end */
	import(&r, path, NULL, NULL, NULL);
	expect_summary(&r, 0, 0, 0, 0, 0);
	run_free(&r);
	const char nohdr[] = "event_id,occurred_at,user,event_type,properties_json\nx,y,z,w,v\n";
	write_file(path, nohdr, sizeof nohdr - 1);
	import(&r, path, NULL, NULL, NULL);
	cr_expect_eq(r.status, 1, "a header without user_id: %s", r.err);
	cr_expect_null(r.summary);
	cr_expect_not_null(strstr(r.err, "user_id"), "%s", r.err);
	run_free(&r);
}

Test(import, exit_codes)
{
	struct run r;
	char id[37], csv[512];
	const char *path = tmp_path("ok.csv");
	it_uuid(id);
	int n = snprintf(csv, sizeof csv,
			 "event_id,occurred_at,user_id,event_type,properties_json\n"
			 "%s,2012-01-05T05:05:05Z,impx1,open,\n",
			 id);
	write_file(path, csv, (size_t)n);
	import(&r, path, "--batch-size", "0", NULL);
	cr_expect_eq(r.status, 1, "--batch-size 0");
	cr_expect_null(r.summary);
	run_free(&r);
	import(&r, path, "--frobnicate", NULL, NULL);
	cr_expect_eq(r.status, 1, "unknown option");
	run_free(&r);
	import(&r, tmp_path("missing.csv"), NULL, NULL, NULL);
	cr_expect_eq(r.status, 1, "unreadable file");
	cr_expect_null(r.summary);
	run_free(&r);
	const char *argv[] = {IMPORT_BIN, path, NULL};
	run_full(&r, argv, NULL, "DATABASE_URL=postgresql://nobody@/nodb?host=/nonexistent");
	cr_expect_eq(r.status, 1, "no database: %s", r.err);
	cr_expect_null(r.summary);
	cr_expect_not_null(strstr(r.err, "database"), "%s", r.err);
	run_free(&r);
	import(&r, path, "--batch-size=1", NULL, NULL);
	expect_summary(&r, 0, 1, 1, 0, 0);
	run_free(&r);
	import(&r, path, NULL, NULL, NULL);
	expect_summary(&r, 0, 1, 0, 1, 0);
	run_free(&r);
}

/* --dry-run writes nothing, counts exactly what a real load then does (repeats within the file
 * included), and the stats agree after the real load. */
Test(import, dry_run_then_load)
{
	struct run r;
	const char *path = tmp_path("dry.csv"), *rej = tmp_path("dry_rej.csv");
	PGconn *db = db_open();
	gen(path, "20000", "2012-03-01", "12", "0.05", "0.02");
	/* the events of 2012, their counts in the summaries, and the users' keys; what is
	 * pending folded first (a read does it), so that no fold changes them meanwhile */
	const char *count_sql =
	    "SELECT (SELECT count(*) FROM events WHERE occurred_at >= '2012-01-01' AND occurred_at "
	    "< '2013-01-01') + (SELECT coalesce(sum(events), 0) FROM type_counts WHERE level = 1"
	    " AND bucket >= extract(epoch FROM timestamptz '2012-01-01') / 900 AND bucket"
	    " < extract(epoch FROM timestamptz '2013-01-01') / 900)"
	    " + (SELECT count(*) FROM user_keys WHERE user_id LIKE 'imp%')";
	check_stats(db, "2012-03-01", "2012-03-01");
	long long before = q_ll(db, count_sql);
	import(&r, path, "--dry-run", "--batch-size", "3000");
	expect_summary(&r, 3, 20000, -1, -1, -1);
	long long acc = sum_field(&r, "accepted"), dup = sum_field(&r, "duplicates"),
		  rej_n = sum_field(&r, "rejected");
	cr_expect_gt(dup, 0);
	cr_expect_gt(rej_n, 0);
	run_free(&r);
	cr_expect_eq(q_ll(db, count_sql), before, "--dry-run changed the store");

	import(&r, path, "--rejects", rej, NULL);
	expect_summary(&r, 3, 20000, acc, dup, rej_n);
	run_free(&r);
	struct csv_table t;
	char err[256];
	cr_assert_eq(csv_read_file(rej, &t, err, sizeof err), 0, "%s", err);
	cr_expect_eq((long long)t.nrows, rej_n);
	csv_free(&t);

	import(&r, path, "--dry-run", NULL, NULL);
	expect_summary(&r, 3, 20000, 0, acc + dup, rej_n);
	run_free(&r);
	check_stats(db, "2012-03-01", "2012-04-29");
	check_stats(db, "2012-03-10", "2012-03-20");
	PQfinish(db);
}

/* "-" reads stdin. */
Test(import, stdin)
{
	struct run r;
	const char *path = tmp_path("stdin.csv");
	gen(path, "3000", "2014-06-01", "14", "0", "0");
	const char *argv[] = {IMPORT_BIN, "-", "--batch-size", "1000", NULL};
	run_full(&r, argv, path, NULL);
	expect_summary(&r, 0, 3000, 3000, 0, 0);
	run_free(&r);
	run_full(&r, argv, path, NULL);
	expect_summary(&r, 0, 3000, 0, 3000, 0);
	run_free(&r);
	PGconn *db = db_open();
	cr_expect_eq(q_ll(db, "SELECT count(*) FROM events WHERE occurred_at >= '2014-06-01' AND "
			      "occurred_at < '2014-08-01'"),
		     3000);
	check_stats(db, "2014-06-01", "2014-07-30");
	PQfinish(db);
}

/* Pending events (not folded yet) whose time is in [from, to). */
static long long
pending_between(PGconn *db, const char *from, const char *to)
{
	const char *p[] = {from, to};
	return db_scalar_ll(db,
			    "SELECT count(*) FROM analytics_pending"
			    " WHERE q >= extract(epoch FROM $1::timestamptz) / 900"
			    " AND q < extract(epoch FROM $2::timestamptz) / 900",
			    2, p);
}

/* POSTs one new event of user imp-fold-http at occurred_at. */
static void
post_one(struct http_client *c, const char *occurred_at)
{
	struct http_resp h;
	json_object *e = json_object_new_array();
	json_object_array_add(e, it_event(NULL, occurred_at, "imp-fold-http", NULL));
	const char *body = json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN);
	http_client_request(c, &h, "POST", "/events", "application/json", body, strlen(body), NULL);
	cr_assert_eq(h.status, 200, "POST: %ld %s", h.status, h.body);
	cr_assert_eq(json_object_get_int64(jget(h.json, "accepted")), 1, "%s", h.body);
	http_resp_free(&h);
	json_object_put(e);
}

/* GET path: 200, and its body holds needle (NULL: any body). */
static void
get_expect(struct http_client *c, const char *path, const char *needle, const char *what)
{
	struct http_resp h;
	http_client_request(c, &h, "GET", path, NULL, NULL, 0, NULL);
	cr_assert_eq(h.status, 200, "GET %s: %ld %s", path, h.status, h.body);
	cr_expect(!needle || strstr(h.body, needle) != NULL, "%s: %s", what, h.body);
	http_resp_free(&h);
}

/* While a load holds the bulk-load lock the supervisor's fold (every 2 s) leaves pending events
 * alone, a read of their days still counts them (it folds the events of its own days first,
 * and only those: a read of other days leaves them; a retention read those before its end
 * too, as a late event moves cohorts), and a loader folds its own events before it reports;
 * once no load runs, the supervisor folds again. The lock is held here by the test's own
 * session, as import_events holds it, so that only the loader can fold its events. */
Test(import, loader_folds_its_events)
{
	struct run r;
	const char *path = tmp_path("fold.csv");
	PGconn *db = db_open(), *load = db_open();
	PGresult *res = PQexec(load, "SELECT pg_advisory_lock_shared(analytics_load_key())");
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(load));
	PQclear(res);

	/* an HTTP event: not folded by the supervisor while the lock is held... */
	struct http_client *c = http_client_new();
	post_one(c, "2014-09-10T10:00:00Z");
	it_sleep(5.0); /* two runs of the supervisor's fold */
	cr_expect_eq(pending_between(db, "2014-09-10", "2014-09-11"), 1,
		     "the supervisor folded while a load held the lock");
	/* ... nor by a read of other days, which it cannot change ... */
	get_expect(c, "/stats/dau?from=2014-08-01&to=2014-09-09", NULL, NULL);
	get_expect(c, "/stats/top-events?from=2014-09-11&to=2014-09-30", NULL, NULL);
	cr_expect_eq(pending_between(db, "2014-09-10", "2014-09-11"), 1,
		     "a read of other days folded the pending event");
	/* ... but counted by a read of its day, which folds no other day's events */
	post_one(c, "2014-12-20T10:00:00Z");
	get_expect(c, "/stats/dau?from=2014-09-10&to=2014-09-10", "\"unique_users\":1",
		   "the read counts it");
	cr_expect_eq(pending_between(db, "2014-09-10", "2014-09-11"), 0, "the read did not fold");
	cr_expect_eq(pending_between(db, "2014-12-20", "2014-12-21"), 1,
		     "a read of 2014-09-10 folded an event of 2014-12-20");
	/* a late event (before the user's first) moves the user's cohort: a retention read of the
	 * old first day folds it, although it lies before that day */
	get_expect(c, "/stats/retention?start_date=2014-09-10&windows=1", "\"cohort_size\":1",
		   "the cohort before");
	post_one(c, "2014-09-05T10:00:00Z");
	get_expect(c, "/stats/retention?start_date=2014-09-10&windows=1", "\"cohort_size\":0",
		   "the late event not counted");
	cr_expect_eq(pending_between(db, "2014-09-05", "2014-09-06"), 0, "the late event pending");
	cr_expect_eq(pending_between(db, "2014-12-20", "2014-12-21"), 1,
		     "a retention read of 2014-09-10 folded an event of 2014-12-20");
	/* ... and a read of that day counts it */
	get_expect(c, "/stats/dau?from=2014-12-20&to=2014-12-20", "\"unique_users\":1",
		   "the read counts it");
	cr_expect_eq(pending_between(db, "2014-12-20", "2014-12-21"), 0, "the read did not fold");

	/* a loader folds its own events before it reports */
	gen(path, "20000", "2014-10-01", "15", "0", "0");
	import(&r, path, NULL, NULL, NULL);
	expect_summary(&r, 0, 20000, 20000, 0, 0);
	run_free(&r);
	cr_expect_eq(pending_between(db, "2014-10-01", "2014-12-01"), 0,
		     "events of the load left pending after it reported");
	check_stats(db, "2014-10-01", "2014-11-29");

	/* no load: the supervisor folds again */
	post_one(c, "2014-09-12T10:00:00Z");
	PQfinish(load);
	long long left = 1;
	for (int i = 0; i < 100 && left; i++) {
		it_sleep(0.1);
		left = pending_between(db, "2014-09-12", "2014-09-13");
	}
	cr_expect_eq(left, 0, "the supervisor did not fold once the load's lock was gone");
	http_client_free(c);
	PQfinish(db);
}

/* kill -9 after the first commits, run again: the state of one clean load. */
Test(import, kill_and_rerun)
{
	struct run r;
	const char *path = tmp_path("kill.csv");
	const char *count_sql = "SELECT count(*) FROM events WHERE occurred_at >= '2013-01-01' AND "
				"occurred_at < '2014-01-01'";
	PGconn *db = db_open();
	gen(path, "200000", "2013-02-01", "13", "0", "0");
	const char *argv[] = {IMPORT_BIN, path, "--batch-size", "2000", NULL};
	pid_t pid = spawn(argv, NULL, NULL);
	long long stored = 0;
	for (int i = 0; i < 6000 && stored == 0; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
		stored = q_ll(db, count_sql);
	}
	cr_assert_gt(stored, 0, "nothing was committed in 60 s");
	kill(pid, SIGKILL);
	collect(&r, pid);
	cr_expect_eq(r.status, 128 + SIGKILL, "the loader finished before it was killed");
	run_free(&r);
	/* a COMMIT already sent may still be finishing: wait until its backend is gone */
	for (int i = 0; i < 1000; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		if (q_ll(db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
			     "'import_events'") == 0)
			break;
		nanosleep(&ts, NULL);
	}
	stored = q_ll(db, count_sql);
	cr_expect_lt(stored, 200000, "killed half-way");

	const char *again[] = {IMPORT_BIN, path, NULL};
	run_full(&r, again, NULL, NULL);
	expect_summary(&r, 0, 200000, 200000 - stored, stored, 0);
	run_free(&r);
	cr_expect_eq(q_ll(db, count_sql), 200000);
	check_stats(db, "2013-02-01", "2013-04-01");
	check_stats(db, "2013-02-15", "2013-02-15");
	PQfinish(db);
}

static void
file_bytes(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	*buf = malloc(*len + 1);
	cr_assert_eq(fread(*buf, 1, *len, f), *len);
	fclose(f);
}

Test(import, gen_csv_deterministic)
{
	char *a, *b, *c;
	size_t la, lb, lc;
	gen(tmp_path("g1.csv"), "5000", "2011-09-01", "5", "0.1", "0.1");
	gen(tmp_path("g2.csv"), "5000", "2011-09-01", "5", "0.1", "0.1");
	gen(tmp_path("g3.csv"), "5000", "2011-09-01", "6", "0.1", "0.1");
	file_bytes(tmp_path("g1.csv"), &a, &la);
	file_bytes(tmp_path("g2.csv"), &b, &lb);
	file_bytes(tmp_path("g3.csv"), &c, &lc);
	cr_expect(la == lb && memcmp(a, b, la) == 0, "same seed, different bytes");
	cr_expect(la != lc || memcmp(a, c, la) != 0, "another seed, same bytes");
	size_t lines = 0;
	for (size_t i = 0; i < la; i++)
		lines += a[i] == '\n';
	cr_expect_eq(lines, 5001);
	free(a);
	free(b);
	free(c);
}
