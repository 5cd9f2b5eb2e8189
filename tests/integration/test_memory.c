/* test_memory.c: what one request may cost a worker in memory (security review, point 1).
 * Bodies within the limits (<= 10 MiB, nginx enforces that) that are cheap to send and were
 * expensive to build as json-c trees: a 10 MiB array of {}, an NDJSON line whose properties
 * hold millions of values, a huge ignored field, a huge ignored root member, and a legitimate
 * 10 MiB batch. For each, every worker's peak RSS (VmHWM, reset before the request through
 * /proc/PID/clear_refs: the tests run as root on the same machine) must stay under 256 MB, and
 * its RSS must come back near where it was before. The peak per body is printed. */
#include "client.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

enum {
	MAX_WORKERS = 64,
	MIB = 1024 * 1024,
	BODY_MAX = 10 * MIB,	  /* nginx client_max_body_size 10m */
	PEAK_MAX_KB = 256 * 1024, /* the limit of the security review */
/* RSS after a request: at most this above the worker's at the start. Under ASan the
 * workers' RSS also holds its quarantine and allocator, which malloc_trim does not
 * reach: there only gross growth is checked (as in test_hostile.c). */
#if defined(__SANITIZE_ADDRESS__)
	RSS_SLACK_KB = 64 * 1024,
#else
	RSS_SLACK_KB = 16 * 1024,
#endif
	LEGIT_PROPS = 60 * 1024, /* properties of one legitimate event, compact bytes */
	LEGIT_EVENTS = 150
};

/* Appends "{}" elements separated by commas until the body is within tail bytes of size. */
static void
fill_empty_objects(struct it_buf *b, size_t size, size_t tail)
{
	int first = 1;
	while (b->len + 3 + tail <= size) {
		it_buf_add(b, first ? "{}" : ",{}", first ? 2 : 3);
		first = 0;
	}
}

/* A valid event's members without the closing brace: {"event_id":..,"event_type":"it_memory" */
static void
event_head(struct it_buf *b)
{
	char id[37], s[256];
	it_uuid(id);
	snprintf(s, sizeof s,
		 "{\"event_id\":\"%s\",\"occurred_at\":\"2010-06-01T10:00:00Z\","
		 "\"user_id\":\"it-memory\",\"event_type\":\"it_memory\"",
		 id);
	it_buf_str(b, s);
}

/* A body of {} elements around at most one valid event: in text, '@' stands for event_head,
 * '*' for {} elements up to within tail bytes of the size (fill_empty_objects), every other
 * character for itself. */
struct form {
	const char *text;
	size_t tail;
};

/* [{}, {}, ...] */
static const struct form empty_objects = {"[*]", 1};
/* NDJSON, one line: an event whose properties hold an array of {} */
static const struct form ndjson_line = {"@,\"properties\":{\"a\":[*]}}\n", 5};
/* one valid event with an unknown field of {} (API.md: ignored) */
static const struct form ignored_field = {"[@,\"junk\":[*]}]", 3};
/* {"meta": [{}, ...], "events": [one valid event]} */
static const struct form ignored_member = {"{\"meta\":[*],\"events\":[@}]}", 300};

static void
gen_form(struct it_buf *b, size_t size, const struct form *form)
{
	for (const char *c = form->text; *c; c++) {
		if (*c == '@')
			event_head(b);
		else if (*c == '*')
			fill_empty_objects(b, size, form->tail);
		else
			it_buf_add(b, c, 1);
	}
}

/* LEGIT_EVENTS valid events, each with about LEGIT_PROPS bytes of small properties values
 * ({"v":[0,1,2,...]}): the largest legitimate batch that fits in 10 MiB. */
static void
gen_legit(struct it_buf *b, size_t size)
{
	(void)size;
	it_buf_str(b, "[");
	for (int i = 0; i < LEGIT_EVENTS; i++) {
		char n[16];
		size_t start;
		if (i)
			it_buf_str(b, ",");
		event_head(b);
		it_buf_str(b, ",\"properties\":{\"v\":[0");
		start = b->len;
		for (int k = 1; b->len - start < LEGIT_PROPS - 16; k++) {
			snprintf(n, sizeof n, ",%d", k % 1000);
			it_buf_str(b, n);
		}
		it_buf_str(b, "]}}");
	}
	it_buf_str(b, "]");
}

struct mem_case {
	const char *what;
	const struct form *form; /* NULL: the legitimate batch (gen_legit) */
	size_t size;
	const char *ctype;
	long status;
};

/* The running workers' pids and VmRSS at the start. */
struct pool {
	pid_t pids[MAX_WORKERS];
	long base[MAX_WORKERS];
	int n;
};

static void
reset_peaks(const struct pool *p, long *rss)
{
	long kb;
	*rss = 0;
	for (int i = 0; i < p->n; i++) {
		cr_assert_eq(it_proc_reset_peak(p->pids[i]), 0,
			     "reset VmHWM (the integration tests run as root)");
		cr_assert_eq(it_proc_status_kb(p->pids[i], "VmRSS", &kb), 0, "VmRSS");
		*rss = kb > *rss ? kb : *rss;
	}
}

/* The largest VmHWM and VmRSS of any worker; checks each worker's RSS against its start. */
static void
read_peaks(const struct pool *p, const char *what, long *peak, long *rss)
{
	long hwm, kb;
	*peak = *rss = 0;
	for (int i = 0; i < p->n; i++) {
		cr_assert_eq(it_proc_status_kb(p->pids[i], "VmHWM", &hwm), 0, "VmHWM");
		cr_assert_eq(it_proc_status_kb(p->pids[i], "VmRSS", &kb), 0, "VmRSS");
		*peak = hwm > *peak ? hwm : *peak;
		*rss = kb > *rss ? kb : *rss;
		cr_expect_lt(kb, p->base[i] + RSS_SLACK_KB,
			     "%s: worker %d kept VmRSS %ld kB (%ld kB at the start): expected it "
			     "back within %d MB",
			     what, (int)p->pids[i], kb, p->base[i], RSS_SLACK_KB / 1024);
	}
	cr_expect_lt(*peak, PEAK_MAX_KB, "%s: a worker's peak RSS was %ld kB (limit %d MB)", what,
		     *peak, PEAK_MAX_KB / 1024);
}

/* Sends one case and prints what it cost the busiest worker. */
static void
measure(struct http_client *c, const struct mem_case *mc, const struct pool *p)
{
	struct it_buf b = {0};
	struct http_resp r;
	long before, peak, after;
	if (mc->form)
		gen_form(&b, mc->size, mc->form);
	else
		gen_legit(&b, mc->size);
	cr_assert_leq(b.len, BODY_MAX, "test bug: %s is %zu bytes", mc->what, b.len);
	reset_peaks(p, &before);
	double t0 = it_now();
	http_client_request(c, &r, "POST", "/events", mc->ctype, b.p, b.len, NULL);
	double dt = it_now() - t0;
	it_sleep(0.5); /* the worker frees and trims after it has answered */
	read_peaks(p, mc->what, &peak, &after);
	printf("memory: %-42s %8zu bytes: %ld in %5.2f s, worker VmHWM %7ld kB (%6.1f MB), "
	       "VmRSS %ld kB before, %ld kB after\n",
	       mc->what, b.len, r.status, dt, peak, peak / 1024.0, before, after);
	fflush(stdout);
	cr_expect_eq(r.status, mc->status, "%s: expected %ld, got %ld (%s) %.300s", mc->what,
		     mc->status, r.status, r.curl_error, r.body ? r.body : "");
	http_resp_free(&r);
	free(b.p);
}

Test(memory, large_bodies_stay_small, .timeout = 600)
{
	const struct mem_case cases[] = {
	    {"[{},{},...] 1 MiB", &empty_objects, 1 * MIB, "application/json", 413},
	    {"[{},{},...] 4 MiB", &empty_objects, 4 * MIB, "application/json", 413},
	    {"[{},{},...] 10 MiB", &empty_objects, BODY_MAX, "application/json", 413},
	    {"NDJSON line, properties [{},...] 10 MiB", &ndjson_line, BODY_MAX,
	     "application/x-ndjson", 422},
	    {"event with ignored field [{},...] 1 MiB", &ignored_field, 1 * MIB, "application/json",
	     200},
	    {"event with ignored field [{},...] 10 MiB", &ignored_field, BODY_MAX,
	     "application/json", 200},
	    {"ignored root member [{},...] 10 MiB", &ignored_member, BODY_MAX, "application/json",
	     200},
	    {"150 events x 60 KiB properties", NULL, BODY_MAX, "application/json", 200},
	};
	struct http_client *c = http_client_new();
	struct pool p;

	p.n = it_pool_workers(it_pool_pid(), p.pids, MAX_WORKERS);
	cr_assert_gt(p.n, 0, "expected running workers under pool pid %d", (int)it_pool_pid());
	for (int i = 0; i < p.n; i++)
		cr_assert_eq(it_proc_status_kb(p.pids[i], "VmRSS", &p.base[i]), 0, "VmRSS");
	http_client_set_timeout(c, 120);
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
		measure(c, &cases[k], &p);
	cr_expect_eq(it_pool_workers(it_pool_pid(), p.pids, MAX_WORKERS), p.n,
		     "expected the same workers (none died)");
	http_client_free(c);
}
