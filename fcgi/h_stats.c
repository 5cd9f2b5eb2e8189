/* h_stats.c: GET /stats/dau, /stats/top-events, /stats/retention, /stats/active-users.
 * Parameters are checked here (422 with every problem found); the numbers come from the
 * per-day UTC summaries when the zone is UTC and no event type is asked for, else from the
 * zone-aware user sets (db_analytics.c). */
#include "handlers.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "params.h"
#include "qs.h"
#include "tzname.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TOP_LIMIT_MAX = 1000, TOP_LIMIT_DEFAULT = 10, WINDOW_MAX = 90, WINDOW_DEFAULT = 7 };

/* 0001-01-01: the first day a window may reach back to. */
#define FIRST_DAY INT64_C(-719162)

/* 9999-12-31: the last day a window may reach. */
#define LAST_DAY INT64_C(2932896)

/* tz: an IANA name; absent means REPORT_TZ. */
static int
tz_param(const struct app *app, const struct qs *q, const char **tz, struct verrs *v)
{
	const char *s = params_single(q, "tz", v);
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
	const char *why, *s = params_single(q, key, v);
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

/* Parses the query and checks from/to; on any problem answers and returns -1. */
static int
begin(struct http_req *req, struct qs *q, struct verrs *v, int64_t *from, int64_t *to)
{
	if (params_query(req, q) < 0)
		return -1;
	(void)params_range(q, from, to, v);
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
		params_invalid(req, &v);
		goto out;
	}
	st = db_dau_tz(app->db, tz, type, from, (size_t)(to - from + 1), counts);
	if (params_db_failed(app, req, st))
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
	(void)params_int(&q, "limit", TOP_LIMIT_DEFAULT, 1, TOP_LIMIT_MAX, &limit, &v);
	(void)tz_param(app, &q, &tz, &v);
	if (v.total) {
		params_invalid(req, &v);
		goto out;
	}
	st = db_top_events_tz(app->db, tz, from, to, limit, &rows, &n);
	if (params_db_failed(app, req, st))
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
	const char *s = params_single(q, "granularity", v);
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
	if (params_query(req, &q) < 0)
		goto out;
	(void)tz_param(app, &q, &rq.tz, &v);
	(void)type_param(&q, "start_event", &rq.start_event, &v);
	(void)type_param(&q, "return_event", &rq.return_event, &v);
	int bad = params_date(&q, "start_date", 1, &start, &v) < 0;
	if (granularity_param(&q, &period, &v) == 0)
		bad |= params_int(&q, "windows", 3, 0, period == 7 ? 104 : 365, &windows, &v) < 0;
	if (!bad && !v.total && start + (int64_t)(windows + 1) * period - 1 > LAST_DAY)
		verrs_add(&v, -1, "windows", "the last window would run past 9999-12-31");
	if (v.total) {
		params_invalid(req, &v);
		goto out;
	}
	rq.start_day = start;
	rq.period = period;
	rq.windows = windows;
	st = db_retention_tz(app->db, &rq, &cohort, counts);
	if (params_db_failed(app, req, st))
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
	int bad = params_int(&q, "window", WINDOW_DEFAULT, 1, WINDOW_MAX, &window, &v) < 0;
	(void)tz_param(app, &q, &tz, &v);
	(void)type_param(&q, "event_type", &type, &v);
	if (!bad && !v.total && from - (window - 1) < FIRST_DAY)
		verrs_add(&v, -1, "window", "the first window would reach before 0001-01-01");
	if (v.total) {
		params_invalid(req, &v);
		goto out;
	}
	if (params_db_failed(
		app, req,
		db_active_users(app->db, tz, type, from, (size_t)(to - from + 1), window, counts)))
		goto out;
	body = json_render_active(from, (size_t)(to - from + 1), counts, window);
	http_respond(req, 200, NULL, body);
	free(body);
out:
	qs_free(&q);
}
