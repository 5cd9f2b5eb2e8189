/* h_stats.c: GET /stats/dau, /stats/top-events, /stats/retention. Parameters are checked
 * here (422 with every problem found); the numbers come from the per-day summaries. */
#include "handlers.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "params.h"
#include "qs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TOP_LIMIT_MAX = 1000, TOP_LIMIT_DEFAULT = 10 };

/* 9999-12-31: the last day a window may reach. */
#define LAST_DAY INT64_C(2932896)

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
	char *body;
	if (begin(req, &q, &v, &from, &to) < 0)
		goto out;
	if (v.total) {
		params_invalid(req, &v);
		goto out;
	}
	if (params_db_failed(app, req, db_dau(app->db, from, (size_t)(to - from + 1), counts)))
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
	char *body;
	if (begin(req, &q, &v, &from, &to) < 0)
		goto out;
	(void)params_int(&q, "limit", TOP_LIMIT_DEFAULT, 1, TOP_LIMIT_MAX, &limit, &v);
	if (v.total) {
		params_invalid(req, &v);
		goto out;
	}
	if (params_db_failed(app, req, db_top_events(app->db, from, to, limit, &rows, &n)))
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
	char *body;
	if (params_query(req, &q) < 0)
		goto out;
	int bad = params_date(&q, "start_date", 1, &start, &v) < 0;
	if (granularity_param(&q, &period, &v) == 0)
		bad |= params_int(&q, "windows", 3, 0, period == 7 ? 104 : 365, &windows, &v) < 0;
	if (!bad && !v.total && start + (int64_t)(windows + 1) * period - 1 > LAST_DAY)
		verrs_add(&v, -1, "windows", "the last window would run past 9999-12-31");
	if (v.total) {
		params_invalid(req, &v);
		goto out;
	}
	if (params_db_failed(app, req,
			     db_retention(app->db, start, period, windows, &cohort, counts)))
		goto out;
	body = json_render_retention(start, period, cohort, (size_t)windows, counts);
	http_respond(req, 200, NULL, body);
	free(body);
out:
	qs_free(&q);
}
