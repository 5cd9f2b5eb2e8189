/* test_metrics.c: GET /metrics (issue #4). The exposition is checked twice: by `promtool check
 * metrics`, and by a real Prometheus server that scrapes the pool and reports, through its HTTP
 * API, the target up and the counter values this test caused. Events here are dated 2004-2006
 * with user ids "it-metrics-*", so no other suite's statistics see them. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "client.h"

enum { WAIT_S = 20 };

/* The value of one unlabelled sample, asserting it is present exactly once. */
static double
scalar(const char *text, const char *name)
{
	int n;
	double v = it_metric_sum(text, name, NULL, &n);

	cr_assert_eq(n, 1, "/metrics: expected exactly one %s sample, found %d", name, n);
	return v;
}

/* Reads a whole file (malloc'd, NUL-terminated), or NULL. */
static char *
read_text(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *s = NULL;
	size_t len = 0, cap = 0, k;
	char buf[4096];

	if (!fp)
		return NULL;
	while ((k = fread(buf, 1, sizeof(buf), fp)) > 0) {
		if (len + k + 1 > cap) {
			cap = (len + k + 1) * 2;
			s = realloc(s, cap);
			cr_assert(s, "realloc");
		}
		memcpy(s + len, buf, k);
		len += k;
	}
	fclose(fp);
	if (!s)
		s = calloc(1, 1);
	else
		s[len] = '\0';
	return s;
}

/* Event k of a batch: 2005-04-0x. */
static void
at_2005_04(unsigned k, char out[32])
{
	snprintf(out, 32, "2005-04-%02uT12:00:00Z", 1 + k % 9);
}

/* A JSON array of n fresh events (ids in ids[i]) of 2005-04-0x; caller puts it. */
static json_object *
fresh_batch(char (*ids)[37], int n, const char *user)
{
	return it_event_batch(ids[0], n, 0, user, "it_metrics", at_2005_04);
}

Test(metrics, exposition, .timeout = 60)
{
	static const char *const names[] = {
	    "http_requests_total",
	    "http_request_duration_seconds_bucket",
	    "http_request_duration_seconds_sum",
	    "http_request_duration_seconds_count",
	    "events_received_total",
	    "events_accepted_total",
	    "events_duplicate_total",
	    "events_rejected_total",
	    "db_errors_total",
	    "fcgi_workers",
	    "process_start_time_seconds",
	    "events_build_info",
	};
	const char *const unknown404[] = {"method=\"GET\"", "route=\"unknown\"", "status=\"404\"",
					  NULL};
	struct http_client *c = http_client_new();
	char tmpl[] = "/tmp/it-metrics-XXXXXX", cmd[256], tag[17], path[64], *text, *out;
	struct http_resp r;
	double before, after, start;
	int fd, rc, n;

	http_client_set_timeout(c, 10);
	http_client_request(c, &r, "GET", "/healthz", NULL, NULL, 0, NULL);
	cr_assert_eq(r.status, 200, "GET /healthz: expected 200, got %ld", r.status);
	http_resp_free(&r);

	http_client_request(c, &r, "GET", "/metrics", NULL, NULL, 0, NULL);
	cr_assert_eq(r.status, 200, "GET /metrics: expected 200, got %ld (%s)", r.status,
		     r.curl_error);
	cr_assert(r.content_type && strncmp(r.content_type, "text/plain; version=0.0.4", 25) == 0,
		  "GET /metrics: expected Content-Type 'text/plain; version=0.0.4...', got '%s'",
		  r.content_type ? r.content_type : "(none)");
	cr_assert_eq(r.request_id_count, 1, "GET /metrics: expected one X-Request-ID, got %d",
		     r.request_id_count);

	/* promtool reads the exposition on stdin; its lint remarks do not fail the test */
	fd = mkstemp(tmpl);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	cr_assert_eq(write(fd, r.body, r.len), (ssize_t)r.len, "writing %s", tmpl);
	close(fd);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s > %s.out 2>&1", tmpl, tmpl);
	rc = system(cmd);
	snprintf(path, sizeof(path), "%s.out", tmpl);
	out = read_text(path);
	if (out && *out)
		fprintf(stderr, "promtool check metrics says:\n%s\n", out);
	unlink(path);
	unlink(tmpl);
	cr_assert(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) != 127,
		  "expected promtool to run (package prometheus; tools/deps.sh test)");
	cr_assert_eq(
	    WEXITSTATUS(rc), 0,
	    "expected `promtool check metrics` to accept the exposition, exit status %d: %s",
	    WEXITSTATUS(rc), out ? out : "");
	free(out);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		it_metric_sum(r.body, names[i], NULL, &n);
		cr_assert_gt(n, 0, "/metrics: expected at least one %s sample", names[i]);
	}
	cr_assert_eq(scalar(r.body, "fcgi_workers"), (double)it_want_workers(),
		     "/metrics: expected fcgi_workers %d, got %g", it_want_workers(),
		     scalar(r.body, "fcgi_workers"));
	start = scalar(r.body, "process_start_time_seconds");
	cr_assert(start > 1e9 && start <= (double)time(NULL),
		  "/metrics: expected process_start_time_seconds to be a past Unix time, got %.0f",
		  start);
	cr_assert_eq(it_metric_sum(r.body, "events_build_info", NULL, &n), (double)n,
		     "/metrics: expected every events_build_info sample to be 1");
	it_metric_sum(r.body, "http_request_duration_seconds_bucket",
		      (const char *const[]){"route=\"/healthz\"", "le=\"+Inf\"", NULL}, &n);
	cr_assert_eq(n, 1, "/metrics: expected one +Inf bucket for route /healthz, got %d", n);
	cr_assert_eq(it_metric_sum(r.body, "http_request_duration_seconds_bucket",
				   (const char *const[]){"route=\"/healthz\"", "le=\"+Inf\"", NULL},
				   NULL),
		     it_metric_sum(r.body, "http_request_duration_seconds_count",
				   (const char *const[]){"route=\"/healthz\"", NULL}, NULL),
		     "/metrics: expected the +Inf bucket of /healthz to equal its _count");
	before = it_metric_sum(r.body, "http_requests_total", unknown404, NULL);
	http_resp_free(&r);

	/* unknown paths share one label value: no request can create a series */
	it_hex(tag, 8);
	for (int i = 0; i < 5; i++) {
		snprintf(path, sizeof(path), "/no/such/path/%s", tag);
		http_client_request(c, &r, "GET", path, NULL, NULL, 0, NULL);
		expect_error(&r, 404, "not_found", "GET /no/such/path/<random>");
		http_resp_free(&r);
	}
	text = it_metrics_text(c);
	after = it_metric_sum(text, "http_requests_total", unknown404, NULL);
	cr_assert_eq(
	    after - before, 5,
	    "expected http_requests_total{method=\"GET\",route=\"unknown\",status=\"404\"} "
	    "to grow by 5 (from %.0f), got %.0f",
	    before, after);
	cr_assert_null(strstr(text, tag), "/metrics: expected no series naming the raw path %s",
		       tag);
	cr_assert_null(strstr(text, "/no/such"), "/metrics: expected no series naming /no/such");
	free(text);
	http_client_free(c);
}

Test(metrics, counters_match, .timeout = 60)
{
	static const char *const names[] = {"events_received_total", "events_accepted_total",
					    "events_duplicate_total", "events_rejected_total",
					    "db_errors_total"};
	static const double want[] = {23, 10, 10, 3, 0};
	const char *const post200[] = {"method=\"POST\"", "route=\"/events\"", "status=\"200\"",
				       NULL};
	const char *const post422[] = {"method=\"POST\"", "route=\"/events\"", "status=\"422\"",
				       NULL};
	struct http_client *c = http_client_new();
	char ids[10][37], bad_ids[3][37];
	double b[5], a[5], ok0, ok1, bad0, bad1;
	struct http_resp r;
	json_object *batch, *bad;
	char *text;

	http_client_set_timeout(c, 10);
	text = it_metrics_text(c);
	for (int i = 0; i < 5; i++)
		b[i] = scalar(text, names[i]);
	ok0 = it_metric_sum(text, "http_requests_total", post200, NULL);
	bad0 = it_metric_sum(text, "http_requests_total", post422, NULL);
	free(text);

	batch = fresh_batch(ids, 10, "it-metrics-counters");
	for (int round = 0; round < 2; round++) {
		const char *s = json_object_to_json_string_ext(batch, JSON_C_TO_STRING_PLAIN);

		http_client_request(c, &r, "POST", "/events", "application/json", s, strlen(s),
				    NULL);
		expect_ingest(&r, 10, round ? 0 : 10, round ? 10 : 0,
			      round ? "POST of the same 10 events again"
				    : "POST of 10 fresh events");
		http_resp_free(&r);
	}
	json_object_put(batch);

	bad = fresh_batch(bad_ids, 3, "it-metrics-counters");
	json_object_object_add(json_object_array_get_idx(bad, 1), "occurred_at",
			       json_object_new_string("not a date"));
	{
		const char *s = json_object_to_json_string_ext(bad, JSON_C_TO_STRING_PLAIN);

		http_client_request(c, &r, "POST", "/events", "application/json", s, strlen(s),
				    NULL);
		expect_error(&r, 422, "validation_failed", "POST of 3 events, one invalid");
		http_resp_free(&r);
	}
	json_object_put(bad);

	text = it_metrics_text(c);
	for (int i = 0; i < 5; i++) {
		a[i] = scalar(text, names[i]);
		cr_assert_eq(a[i] - b[i], want[i],
			     "expected %s to grow by %.0f (10 new + the same 10 again + 3 in a 422 "
			     "batch), got %.0f -> %.0f",
			     names[i], want[i], b[i], a[i]);
	}
	ok1 = it_metric_sum(text, "http_requests_total", post200, NULL);
	bad1 = it_metric_sum(text, "http_requests_total", post422, NULL);
	free(text);
	cr_assert_eq(ok1 - ok0, 2, "expected http_requests_total POST /events 200 +2, got %.0f",
		     ok1 - ok0);
	cr_assert_eq(bad1 - bad0, 1, "expected http_requests_total POST /events 422 +1, got %.0f",
		     bad1 - bad0);
	http_client_free(c);
}

/* ---- a real Prometheus server ------------------------------------------------------------- */

static pid_t prom_pid;
static char prom_dir[64];
static int prom_passed;

/* Runs even when an assertion failed: the server is stopped and reaped, its files removed. */
static void
prom_stop(void)
{
	char cmd[128], *log;
	double t0 = it_now();

	if (prom_pid > 0) {
		kill(prom_pid, SIGTERM);
		while (waitpid(prom_pid, NULL, WNOHANG) == 0) {
			if (it_now() - t0 > 5.0) {
				kill(prom_pid, SIGKILL);
				waitpid(prom_pid, NULL, 0);
				break;
			}
			usleep(20 * 1000);
		}
		prom_pid = 0;
	}
	if (!prom_dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "%s/prometheus.log", prom_dir);
	if (!prom_passed && (log = read_text(cmd))) {
		fprintf(stderr, "prometheus log:\n%s\n", log);
		free(log);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", prom_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", prom_dir);
	prom_dir[0] = '\0';
}

static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), port;

	cr_assert_geq(s, 0, "socket: %s", strerror(errno));
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0, "getsockname");
	port = ntohs(a.sin_port);
	close(s);
	return port;
}

static void
prom_start(const char *target, int port)
{
	char conf[128], data[128], logf[128], listen[64], cflag[160], dflag[160], lflag[96];
	FILE *fp;
	int fd;

	cr_assert(mkdtemp(strcpy(prom_dir, "/tmp/it-prometheus-XXXXXX")), "mkdtemp: %s",
		  strerror(errno));
	snprintf(conf, sizeof(conf), "%s/prometheus.yml", prom_dir);
	snprintf(data, sizeof(data), "%s/data", prom_dir);
	snprintf(logf, sizeof(logf), "%s/prometheus.log", prom_dir);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	fp = fopen(conf, "w");
	cr_assert(fp, "cannot write %s", conf);
	fprintf(fp,
		"global:\n"
		"  scrape_interval: 1s\n"
		"  scrape_timeout: 1s\n"
		"  evaluation_interval: 1s\n"
		"scrape_configs:\n"
		"  - job_name: events\n"
		"    metrics_path: /metrics\n"
		"    static_configs:\n"
		"      - targets: ['%s']\n",
		target);
	fclose(fp);
	snprintf(cflag, sizeof(cflag), "--config.file=%s", conf);
	snprintf(dflag, sizeof(dflag), "--storage.tsdb.path=%s", data);
	snprintf(lflag, sizeof(lflag), "--web.listen-address=%s", listen);
	prom_pid = fork();
	cr_assert_geq(prom_pid, 0, "fork: %s", strerror(errno));
	if (prom_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a test killed by its timeout */
		fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execlp("prometheus", "prometheus", cflag, dflag, lflag, (char *)NULL);
		fprintf(stderr, "exec prometheus: %s\n", strerror(errno));
		_exit(127);
	}
}

/* Percent-encodes s for a query string. */
static void
qs_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

/* Instant query: 1 with *value set when the answer is a vector with one sample, else 0. */
static int
prom_query(struct http_client *c, int port, const char *promql, double *value)
{
	char esc[512], url[640];
	struct http_resp r;
	json_object *res, *v;
	int ok = 0;

	qs_escape(promql, esc, sizeof(esc));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/query?query=%s", port, esc);
	http_client_get_url(c, &r, url);
	res = jget(jget(r.json, "data"), "result");
	if (r.status == 200 && res && json_object_is_type(res, json_type_array) &&
	    json_object_array_length(res) == 1) {
		v = jget(json_object_array_get_idx(res, 0), "value");
		if (v && json_object_is_type(v, json_type_array) &&
		    json_object_array_length(v) == 2) {
			*value =
			    strtod(json_object_get_string(json_object_array_get_idx(v, 1)), NULL);
			ok = 1;
		}
	}
	http_resp_free(&r);
	return ok;
}

/* Polls promql until it equals want or WAIT_S pass; returns the last value (NAN-free: -1 when
 * Prometheus never had a sample). */
static double
prom_wait_value(struct http_client *c, int port, const char *promql, double want)
{
	double t0 = it_now(), v = -1, got;

	while (it_now() - t0 < WAIT_S) {
		if (prom_query(c, port, promql, &got)) {
			v = got;
			if (v == want)
				break;
		}
		usleep(250 * 1000);
	}
	return v;
}

Test(metrics, prometheus_scrapes, .fini = prom_stop, .timeout = 90)
{
	const char *base = it_base_url();
	const char *const post200[] = {"method=\"POST\"", "route=\"/events\"", "status=\"200\"",
				       NULL};
	struct http_client *c = http_client_new(), *pc = http_client_new();
	char target[128], ids[7][37], url[96], *text;
	double t0, a0, a1, posts, up, v;
	struct http_resp r;
	json_object *batch;
	int port, st = 0;

	http_client_set_timeout(c, 10);
	http_client_set_timeout(pc, 5);
	/* EVENTS_BASE_URL is http://host:port */
	cr_assert(strncmp(base, "http://", 7) == 0, "EVENTS_BASE_URL: expected http://, got %s",
		  base);
	snprintf(target, sizeof(target), "%s", base + 7);
	target[strcspn(target, "/")] = '\0';

	port = free_port();
	prom_start(target, port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/-/ready", port);
	t0 = it_now();
	for (;;) {
		cr_assert_eq(waitpid(prom_pid, &st, WNOHANG), 0,
			     "expected prometheus to keep running; it exited (status %d)", st);
		http_client_get_url(pc, &r, url);
		http_resp_free(&r);
		if (r.status == 200)
			break;
		cr_assert_lt(it_now() - t0, WAIT_S, "expected prometheus ready within %d s on :%d",
			     WAIT_S, port);
		usleep(100 * 1000);
	}
	fprintf(stderr, "prometheus ready after %.1f s\n", it_now() - t0);

	up = prom_wait_value(pc, port, "up{job=\"events\"}", 1);
	cr_assert_eq(up, 1,
		     "expected Prometheus to report up{job=\"events\"} == 1 within %d s, "
		     "last value %g (-1: no sample)",
		     WAIT_S, up);

	text = it_metrics_text(c);
	a0 = scalar(text, "events_accepted_total");
	free(text);
	batch = fresh_batch(ids, 7, "it-metrics-prometheus");
	{
		const char *s = json_object_to_json_string_ext(batch, JSON_C_TO_STRING_PLAIN);

		http_client_request(c, &r, "POST", "/events", "application/json", s, strlen(s),
				    NULL);
		expect_ingest(&r, 7, 7, 0, "POST of 7 fresh events");
		http_resp_free(&r);
	}
	json_object_put(batch);
	text = it_metrics_text(c);
	a1 = scalar(text, "events_accepted_total");
	posts = it_metric_sum(text, "http_requests_total", post200, NULL);
	free(text);
	cr_assert_eq(a1 - a0, 7, "expected events_accepted_total +7 on /metrics, got %.0f -> %.0f",
		     a0, a1);

	v = prom_wait_value(pc, port, "events_accepted_total{job=\"events\"}", a1);
	cr_assert_eq(v, a1,
		     "expected Prometheus to report events_accepted_total == %.0f (what /metrics "
		     "says after 7 accepted events; %.0f before) within %d s, last value %g",
		     a1, a0, WAIT_S, v);
	v = prom_wait_value(pc, port,
			    "sum(http_requests_total{job=\"events\",method=\"POST\","
			    "route=\"/events\",status=\"200\"})",
			    posts);
	cr_assert_eq(v, posts,
		     "expected Prometheus to report http_requests_total{POST,/events,200} == %.0f, "
		     "last value %g",
		     posts, v);
	cr_assert(prom_query(pc, port, "up{job=\"events\"}", &up) && up == 1,
		  "expected the target still up at the end, got %g", up);
	prom_passed = 1;
	http_client_free(pc);
	http_client_free(c);
}
