/* GET /events/export: NDJSON and the loader's CSV, filters, local days, order; an export
 * loaded into an empty store answers every statistic as the original does; a 1M-event
 * export streams (first bytes while the database is still sending) in flat worker memory. */
#include "client.h"
#include "event.h"

#include <criterion/criterion.h>
#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- lines, filters, local days ----------------------------------------------------------------
 */

struct sent {
	char id[37];
	const char *at, *want_at, *user, *type;
};

static struct sent sent[] = {
    {"", "1993-04-01T18:30:00Z", "1993-04-01T18:30:00.000000Z", "exp-a", "t1"},
    {"", "1993-04-01T10:00:00.123456789+02:00", "1993-04-01T08:00:00.123456Z", "exp-b", "t2"},
    {"", "1993-04-02T18:30:00Z", "1993-04-02T18:30:00.000000Z", "19930", "t1"},
    {"", "1993-04-02T00:00:00Z", "1993-04-02T00:00:00.000000Z", "exp-a", "t2"},
    {"", "1993-04-03T23:59:59.999999Z", "1993-04-03T23:59:59.999999Z", "exp-a", "t1"},
    {"", "1993-04-04T00:00:00Z", "1993-04-04T00:00:00.000000Z", "exp-a", "t1"},
};
enum { NSENT = sizeof sent / sizeof sent[0] };

static const char props[] =
    "{\"q\":\"a\\\"b\\\\c\\nd\",\"u\":\"\xc3\xbc\xe2\x82\xac\",\"n\":1.5,\"arr\":[1,{\"x\":null}]}";

static void
post_sent(void)
{
	json_object *arr = json_object_new_array();
	struct http_resp r;
	for (size_t i = 0; i < NSENT; i++) {
		json_object *e = it_event(sent[i].id, sent[i].at, sent[i].user, sent[i].type);
		if (strcmp(sent[i].user, "19930") == 0)
			json_object_object_add(e, "user_id", json_object_new_int(19930));
		json_object_object_add(e, "properties", json_tokener_parse(props));
		json_object_array_add(arr, e);
	}
	http_post_obj(&r, "/events", arr);
	expect_ingest(&r, NSENT, NSENT, 0, "POST the export events");
	http_resp_free(&r);
	json_object_put(arr);
}

/* GET path: 200 NDJSON; checks every line against sent[] and that the lines are exactly the
 * sent events of the indexes in want (ascending occurred_at, as sent[] is not), in order. */
static void
expect_ndjson(const char *path, const int *want, size_t nwant)
{
	struct http_resp r;
	json_object *p = json_tokener_parse(props);
	char *save = NULL, *line;
	size_t k = 0;
	http_get(&r, path);
	cr_assert_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.body);
	cr_expect_str_eq(r.content_type, "application/x-ndjson", "GET %s: Content-Type", path);
	for (line = strtok_r(r.body, "\n", &save); line; line = strtok_r(NULL, "\n", &save), k++) {
		json_object *o = json_tokener_parse(line);
		cr_assert(o, "GET %s: line %zu is not JSON: %s", path, k, line);
		cr_assert_lt(k, nwant, "GET %s: more lines than %zu: %s", path, nwant, line);
		const struct sent *s = &sent[want[k]];
		cr_expect(jstr_is(o, "event_id", s->id), "line %zu: event_id: %s", k, line);
		cr_expect(jstr_is(o, "occurred_at", s->want_at), "line %zu: occurred_at %s", k,
			  line);
		cr_expect(jstr_is(o, "user_id", s->user), "line %zu: user_id: %s", k, line);
		cr_expect(jstr_is(o, "event_type", s->type), "line %zu: event_type: %s", k, line);
		cr_expect(json_object_equal(jget(o, "properties"), p), "line %zu: properties: %s",
			  k, line);
		json_object_put(o);
	}
	cr_expect_eq(k, nwant, "GET %s: %zu lines, want %zu", path, k, nwant);
	json_object_put(p);
	http_resp_free(&r);
}

Test(export, lines_filters_local_days)
{
	post_sent();
	/* by occurred_at: 1 (08:00 Apr 1), 0, 3, 2, 4; 5 is past the range */
	expect_ndjson("/events/export?from=1993-04-01&to=1993-04-03", (int[]){1, 0, 3, 2, 4}, 5);
	expect_ndjson("/events/export?from=1993-04-01&to=1993-04-03&format=ndjson&user_id=exp-a",
		      (int[]){0, 3, 4}, 3);
	expect_ndjson("/events/export?from=1993-04-01&to=1993-04-04&user_id=19930&event_type=t1",
		      (int[]){2}, 1);
	/* Kathmandu is UTC+05:45: 18:30Z is 00:15 of the next local day */
	expect_ndjson("/events/export?from=1993-04-02&to=1993-04-02&tz=Asia/Kathmandu",
		      (int[]){0, 3}, 2);
	expect_ndjson("/events/export?from=1993-04-02&to=1993-04-02&event_type=t9", NULL, 0);
}

Test(export, csv_and_errors)
{
	struct http_resp r;
	char id[37];
	json_object *arr = json_object_new_array();
	json_object_array_add(arr, it_event(id, "1993-05-01T10:00:00Z", "csv,\"quoted\"", "t1"));
	http_post_obj(&r, "/events", arr);
	expect_ingest(&r, 1, 1, 0, "POST");
	http_resp_free(&r);
	json_object_put(arr);
	http_get(&r, "/events/export?from=1993-05-01&to=1993-05-01&format=csv");
	cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
	cr_expect_str_eq(r.content_type, "text/csv; charset=utf-8");
	char want[256];
	snprintf(want, sizeof want,
		 "event_id,occurred_at,user_id,event_type,properties_json\n"
		 "%s,1993-05-01T10:00:00.000000Z,\"csv,\"\"quoted\"\"\",t1,"
		 "\"{\"\"source\"\": \"\"integration\"\"}\"\n",
		 id);
	cr_expect_str_eq(r.body, want);
	http_resp_free(&r);

	static const char *const bad[] = {
	    "/events/export?to=1993-05-01",
	    "/events/export?from=1993-05-02&to=1993-05-01",
	    "/events/export?from=1993-05-01&to=1993-05-01&format=xml",
	    "/events/export?from=1993-05-01&to=1993-05-01&tz=Mars/Olympus_Mons",
	    "/events/export?from=1993-05-01&to=1993-05-01&tz=",
	    "/events/export?from=1993-05-01&to=1993-05-01&user_id=",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		http_get(&r, bad[i]);
		expect_error(&r, 422, "validation_failed", bad[i]);
		http_resp_free(&r);
	}
	http_request(&r, "POST", "/events/export", NULL, NULL, 0, NULL);
	expect_error(&r, 405, "method_not_allowed", "POST /events/export");
	http_resp_free(&r);
}

/* --- round trip ------------------------------------------------------------------------------- */

enum { RT_EVENTS = 800, RT_USERS = 60, RT_DAYS = 30 };

/* The answers of every statistic over the 1994 range, concatenated. */
static char *
stats_text(void)
{
	static const char *const paths[] = {
	    "/stats/dau?from=1994-01-01&to=1994-02-10",
	    "/stats/top-events?from=1994-01-01&to=1994-02-10&limit=100",
	    "/stats/retention?start_date=1994-01-01&windows=20",
	    "/stats/retention?start_date=1994-01-03&windows=5&granularity=week",
	    "/stats/retention?start_date=1994-01-10&windows=10",
	};
	struct it_buf b = {0};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		struct http_resp r;
		http_get(&r, paths[i]);
		cr_assert_eq(r.status, 200, "GET %s: %ld %s", paths[i], r.status, r.body);
		it_buf_str(&b, r.body);
		it_buf_str(&b, "\n");
		http_resp_free(&r);
	}
	return b.p;
}

/* curl -o file for the export at path of the current stack; asserts success. */
static void
fetch(const char *path, const char *file)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "curl -sSf -o %s '%s%s'", file, it_base_url(), path);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(export, round_trip_into_empty_store, .timeout = 180)
{
	struct it_side_stack own = {0};
	char dir[] = "/tmp/events-export-XXXXXX", csv[64], nd[64], cmd[256], *before, *after;
	json_object *arr = json_object_new_array();
	struct http_resp r;
	cr_assert(mkdtemp(dir));
	snprintf(csv, sizeof csv, "%s/e.csv", dir);
	snprintf(nd, sizeof nd, "%s/e.ndjson", dir);
	srand(1994);
	for (int i = 0; i < RT_EVENTS; i++) {
		char at[40], user[32], id[37];
		snprintf(at, sizeof at, "1994-01-%02dT%02d:%02d:%02d.%06dZ", 1 + rand() % RT_DAYS,
			 rand() % 24, rand() % 60, rand() % 60, rand() % 1000000);
		snprintf(user, sizeof user, "rt-%d", rand() % RT_USERS);
		json_object_array_add(arr, it_event(id, at, user, i % 3 ? "rt_view" : "rt_buy"));
	}
	http_post_obj(&r, "/events", arr);
	expect_ingest(&r, RT_EVENTS, RT_EVENTS, 0, "POST the round-trip events");
	http_resp_free(&r);
	json_object_put(arr);
	before = stats_text();
	fetch("/events/export?from=1994-01-01&to=1994-02-10&format=csv", csv);
	fetch("/events/export?from=1994-01-01&to=1994-02-10", nd);

	it_own_stack_up(&own); /* an empty store; this process now talks to it */
	snprintf(cmd, sizeof cmd, "build/import_events %s >%s/import.out", csv, dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	after = stats_text();
	cr_expect_str_eq(after, before, "statistics after the round trip");
	/* the NDJSON export is the same events: all duplicates now */
	char *body;
	size_t len;
	FILE *f = fopen(nd, "r");
	cr_assert(f);
	body = malloc(1 << 20);
	len = fread(body, 1, (1 << 20) - 1, f);
	fclose(f);
	const char *h[] = {NULL};
	http_request(&r, "POST", "/events", "application/x-ndjson", body, len, h);
	expect_ingest(&r, RT_EVENTS, 0, RT_EVENTS, "POST the NDJSON export back");
	http_resp_free(&r);
	free(body);
	free(before);
	free(after);
	it_side_stack_down(&own);
	snprintf(cmd, sizeof cmd, "rm -rf -- %s", dir);
	cr_expect_eq(system(cmd), 0);
}

/* --- 1M events: streaming and memory ------------------------------------------------------------
 */

/* A worker's peak may grow by PEAK_GROWTH_MAX_KB while it streams BIG events (~165 MB of
 * NDJSON). Under AddressSanitizer (make asan) the peak also holds the quarantine of freed
 * blocks (256 MB by default in the workers) and its shadow: measured 273 MB there against
 * 52-60 kB on the normal build. The ASan bound still fails an export held in memory whole
 * (the quarantine + 165 MB + shadow, over 420 MB); flatness itself is judged on the normal
 * build. */
#if defined(__SANITIZE_ADDRESS__)
enum { PEAK_GROWTH_MAX_KB = 384 * 1024 };
#else
enum { PEAK_GROWTH_MAX_KB = 32 * 1024 };
#endif
enum { BIG = 1000000, WORKERS_MAX = 64 };

struct reader {
	PGconn *db;
	size_t bytes, lines;
	long copies_at_first_byte; /* COPYs the database was still running then */
};

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct reader *rd = arg;
	if (rd->bytes == 0)
		rd->copies_at_first_byte =
		    db_scalar_ll(rd->db,
				 "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
				 " AND query LIKE 'COPY (SELECT%'",
				 0, NULL);
	rd->bytes += size * n;
	for (size_t i = 0; i < size * n; i++)
		rd->lines += p[i] == '\n';
	return size * n;
}

Test(export, million_events_flat_memory, .init = it_own_stack_init, .fini = it_own_stack_fini,
     .timeout = 300)
{
	pid_t pids[WORKERS_MAX];
	long rss[WORKERS_MAX], peak = 0;
	struct reader rd = {.db = db_open()};
	char url[256];
	CURL *c = curl_easy_init();
	int n = it_pool_workers(it_pool_pid(), pids, WORKERS_MAX);
	PGresult *ins = PQexec(
	    rd.db, "INSERT INTO events (event_id, occurred_at, user_id, event_type, properties)"
		   " SELECT gen_random_uuid(), timestamptz '1996-01-01' + i * interval '2 s',"
		   " 'u' || i % 5000, 't' || i % 7, '{\"k\": \"some value\"}'"
		   " FROM generate_series(1, 1000000) i");
	cr_assert_eq(PQresultStatus(ins), PGRES_COMMAND_OK, "%s", PQerrorMessage(rd.db));
	PQclear(ins);
	cr_assert_gt(n, 0);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(it_proc_reset_peak(pids[i]), 0, "reset VmHWM (needs root)");
		cr_assert_eq(it_proc_status_kb(pids[i], "VmRSS", &rss[i]), 0);
	}
	snprintf(url, sizeof url, "%s/events/export?from=1996-01-01&to=1996-02-01", it_base_url());
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &rd);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK);
	long status;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	cr_expect_eq(status, 200);
	cr_expect_eq(rd.lines, BIG, "every event, one a line: %zu", rd.lines);
	cr_expect_geq(rd.copies_at_first_byte, 1, "the first bytes came while the COPY still ran");
	for (int i = 0; i < n; i++) {
		long hwm;
		cr_assert_eq(it_proc_status_kb(pids[i], "VmHWM", &hwm), 0);
		if (hwm - rss[i] > peak)
			peak = hwm - rss[i];
	}
	fprintf(stderr, "export of %d events (%zu bytes): worker peak RSS growth %ld kB\n", BIG,
		rd.bytes, peak);
	cr_expect_lt(peak, PEAK_GROWTH_MAX_KB, "a worker's peak grew %ld kB", peak);
	PQfinish(rd.db);
}
