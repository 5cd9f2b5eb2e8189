/* h_stats.c: GET /stats/dau, /stats/top-events, /stats/retention, /stats/active-users.
 * Parameters are checked here (422 with every problem found); the numbers come from the
 * per-day UTC summaries when the zone is UTC and no event type is asked for, else from the
 * zone-aware user sets (db_analytics.c). */
#include "handlers.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "qs.h"
#include "tzname.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	STATS_MAX_DAYS = 3660,
	TOP_LIMIT_MAX = 1000,
	TOP_LIMIT_DEFAULT = 10,
	WINDOW_MAX = 90,
	WINDOW_DEFAULT = 7
};

/* 0001-01-01: the first day a window may reach back to. */
#define FIRST_DAY INT64_C(-719162)

/* 9999-12-31: the last day a window may reach. */
#define LAST_DAY INT64_C(2932896)

/* Decodes the query string; on failure answers 400 and returns -1. */
static int
parse_query(struct http_req *req, struct qs *q)
{
	const char *why;
	char msg[128];
	if (qs_parse(req->query, q, &why) == 0)
		return 0;
	snprintf(msg, sizeof msg, "query string: %s", why);
	http_error(req, 400, "bad_request", msg, NULL, NULL);
	return -1;
}

/* The single value of key, or NULL (missing; or repeated, which is recorded as a problem). */
static const char *
single(const struct qs *q, const char *key, struct verrs *v)
{
	if (qs_count(q, key) > 1) {
		verrs_add(v, -1, key, "given more than once");
		return NULL;
	}
	return qs_get(q, key);
}

static int
date_param(const struct qs *q, const char *key, int required, int64_t *day, struct verrs *v)
{
	const char *why, *s;
	if (qs_count(q, key) > 1)
		return single(q, key, v), -1;
	if (!(s = qs_get(q, key)) || !*s) {
		if (required)
			verrs_add(v, -1, key, "required (YYYY-MM-DD)");
		return -1;
	}
	if (event_date_parse(s, strlen(s), day, &why) < 0) {
		verrs_add(v, -1, key, "%s", why);
		return -1;
	}
	return 0;
}

/* A whole number in [min, max]; absent means def. */
static int
int_param(const struct qs *q, const char *key, int def, int min, int max, int *out, struct verrs *v)
{
	const char *s = single(q, key, v);
	long n = 0;
	if (qs_count(q, key) > 1)
		return -1;
	if (!s) {
		*out = def;
		return 0;
	}
	for (size_t i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i > 6) {
			verrs_add(v, -1, key, "must be a whole number from %d to %d", min, max);
			return -1;
		}
		n = n * 10 + (s[i] - '0');
	}
	if (!*s || n < min || n > max) {
		verrs_add(v, -1, key, "must be a whole number from %d to %d", min, max);
		return -1;
	}
	*out = (int)n;
	return 0;
}

/* from/to: both required, to >= from, at most STATS_MAX_DAYS days counted inclusively. */
static int
range_params(const struct qs *q, int64_t *from, int64_t *to, struct verrs *v)
{
	int bad = date_param(q, "from", 1, from, v) < 0;
	bad |= date_param(q, "to", 1, to, v) < 0;
	if (bad)
		return -1;
	if (*to < *from) {
		verrs_add(v, -1, "to", "must not be before from");
		return -1;
	}
	if (*to - *from + 1 > STATS_MAX_DAYS) {
		verrs_add(v, -1, "to", "range longer than %d days", STATS_MAX_DAYS);
		return -1;
	}
	return 0;
}

/* tz: an IANA name; absent means REPORT_TZ. */
static int
tz_param(const struct app *app, const struct qs *q, const char **tz, struct verrs *v)
{
	const char *s = single(q, "tz", v);
	*tz = app->conf->report_tz ? app->conf->report_tz : "UTC";
	if (qs_count(q, "tz") > 1)
		return -1;
	if (!s)
		return 0;
	if (!tzname_known(s)) {
		verrs_add(v, -1, "tz",
			  "not a time-zone name of the tz database (e.g. Europe/Kyiv)");
		return -1;
	}
	*tz = s;
	return 0;
}

/* An optional event type (event_type, start_event, return_event): NULL when absent. */
static int
type_param(const struct qs *q, const char *key, const char **type, struct verrs *v)
{
	const char *why, *s = single(q, key, v);
	*type = NULL;
	if (qs_count(q, key) > 1)
		return -1;
	if (!s)
		return 0;
	if (event_text_check(s, strlen(s), EVENT_TYPE_MAX, &why) < 0) {
		verrs_add(v, -1, key, "%s", why);
		return -1;
	}
	*type = s;
	return 0;
}

/* The summaries kept per UTC day answer only UTC without an event type. */
static int
utc_any(const char *tz, const char *type)
{
	return strcmp(tz, "UTC") == 0 && !type;
}

static void
invalid(struct http_req *req, const struct verrs *v)
{
	char msg[VERR_MSG + 96];
	verrs_summary(v, msg, sizeof msg);
	http_error(req, 422, "validation_failed", msg, v, NULL);
}

/* Answers a database failure; 0 when st is DB_OK. */
static int
db_failed(struct app *app, struct http_req *req, enum db_status st)
{
	if (st == DB_OK)
		return 0;
	metrics_add(METRIC_DB_ERRORS, 1);
	if (st == DB_UNAVAILABLE) {
		http_error(req, 503, "unavailable", "database unavailable", NULL,
			   "Retry-After: 1\r\n");
		return 1;
	}
	if (st == DB_BUSY) {
		http_error(req, 503, "unavailable",
			   "database busy: the query waited for a lock or ran past its time limit",
			   NULL, "Retry-After: 2\r\n");
		return 1;
	}
	if (st == DB_INVALID) {
		struct verrs v = {0};
		verrs_add(&v, -1, "tz",
			  "a day of this range does not start on a quarter hour in this zone (local"
			  " mean time); ask for a later range or another zone");
		invalid(req, &v);
		return 1;
	}
	log_msg(LOGL_ERROR, "stats", "query failed: %s", db_last_error(app->db));
	http_error(req, 500, "internal", "query failed; see the server log for this request id",
		   NULL, NULL);
	return 1;
}

/* Parses the query and checks from/to; on any problem answers and returns -1. */
static int
begin(struct http_req *req, struct qs *q, struct verrs *v, int64_t *from, int64_t *to)
{
	if (parse_query(req, q) < 0)
		return -1;
	(void)range_params(q, from, to, v);
	return 0;
}

void
h_stats_dau(struct app *app, struct http_req *req)
{
	struct qs q = {0};
	struct verrs v = {0};
	int64_t from, to, counts[STATS_MAX_DAYS];
	const char *tz, *type;
	enum db_status st;
	char *body;
	if (begin(req, &q, &v, &from, &to) < 0)
		goto out;
	(void)tz_param(app, &q, &tz, &v);
	(void)type_param(&q, "event_type", &type, &v);
	if (v.total) {
		invalid(req, &v);
		goto out;
	}
	st = utc_any(tz, type)
		 ? db_dau(app->db, from, (size_t)(to - from + 1), counts)
		 : db_dau_tz(app->db, tz, type, from, (size_t)(to - from + 1), counts);
	if (db_failed(app, req, st))
		goto out;
	body = json_render_dau(from, (size_t)(to - from + 1), counts);
	http_respond(req, 200, NULL, body);
	free(body);
out:
	qs_free(&q);
}

void
h_stats_top_events(struct app *app, struct http_req *req)
{
	struct qs q = {0};
	struct verrs v = {0};
	struct top_row *rows = NULL;
	size_t n;
	int64_t from, to;
	int limit;
	const char *tz;
	enum db_status st;
	char *body;
	if (begin(req, &q, &v, &from, &to) < 0)
		goto out;
	(void)int_param(&q, "limit", TOP_LIMIT_DEFAULT, 1, TOP_LIMIT_MAX, &limit, &v);
	(void)tz_param(app, &q, &tz, &v);
	if (v.total) {
		invalid(req, &v);
		goto out;
	}
	st = utc_any(tz, NULL) ? db_top_events(app->db, from, to, limit, &rows, &n)
			       : db_top_events_tz(app->db, tz, from, to, limit, &rows, &n);
	if (db_failed(app, req, st))
		goto out;
	body = json_render_top(rows, n);
	http_respond(req, 200, NULL, body);
	free(body);
out:
	free(rows);
	qs_free(&q);
}

/* granularity: "day" (default) or "week"; *period 1 or 7. */
static int
granularity_param(const struct qs *q, int *period, struct verrs *v)
{
	const char *s = single(q, "granularity", v);
	*period = 1;
	if (qs_count(q, "granularity") > 1)
		return -1;
	if (!s || strcmp(s, "day") == 0)
		return 0;
	if (strcmp(s, "week") == 0) {
		*period = 7;
		return 0;
	}
	verrs_add(v, -1, "granularity", "must be day or week");
	return -1;
}

void
h_stats_retention(struct app *app, struct http_req *req)
{
	struct qs q = {0};
	struct verrs v = {0};
	int64_t start, cohort, counts[366];
	int period, windows;
	struct retention_q rq;
	enum db_status st;
	char *body;
	if (parse_query(req, &q) < 0)
		goto out;
	(void)tz_param(app, &q, &rq.tz, &v);
	(void)type_param(&q, "start_event", &rq.start_event, &v);
	(void)type_param(&q, "return_event", &rq.return_event, &v);
	int bad = date_param(&q, "start_date", 1, &start, &v) < 0;
	if (granularity_param(&q, &period, &v) == 0)
		bad |= int_param(&q, "windows", 3, 0, period == 7 ? 104 : 365, &windows, &v) < 0;
	if (!bad && !v.total && start + (int64_t)(windows + 1) * period - 1 > LAST_DAY)
		verrs_add(&v, -1, "windows", "the last window would run past 9999-12-31");
	if (v.total) {
		invalid(req, &v);
		goto out;
	}
	rq.start_day = start;
	rq.period = period;
	rq.windows = windows;
	st = utc_any(rq.tz, rq.start_event) && !rq.return_event
		 ? db_retention(app->db, start, period, windows, &cohort, counts)
		 : db_retention_tz(app->db, &rq, &cohort, counts);
	if (db_failed(app, req, st))
		goto out;
	body = json_render_retention(start, period, cohort, (size_t)windows, counts);
	http_respond(req, 200, NULL, body);
	free(body);
out:
	qs_free(&q);
}

void
h_stats_active_users(struct app *app, struct http_req *req)
{
	struct qs q = {0};
	struct verrs v = {0};
	int64_t from, to, counts[STATS_MAX_DAYS];
	const char *tz, *type;
	int window;
	char *body;
	if (begin(req, &q, &v, &from, &to) < 0)
		goto out;
	int bad = int_param(&q, "window", WINDOW_DEFAULT, 1, WINDOW_MAX, &window, &v) < 0;
	(void)tz_param(app, &q, &tz, &v);
	(void)type_param(&q, "event_type", &type, &v);
	if (!bad && !v.total && from - (window - 1) < FIRST_DAY)
		verrs_add(&v, -1, "window", "the first window would reach before 0001-01-01");
	if (v.total) {
		invalid(req, &v);
		goto out;
	}
	if (db_failed(
		app, req,
		db_active_users(app->db, tz, type, from, (size_t)(to - from + 1), window, counts)))
		goto out;
	body = json_render_active(from, (size_t)(to - from + 1), counts, window);
	http_respond(req, 200, NULL, body);
	free(body);
out:
	qs_free(&q);
}
