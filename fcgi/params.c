/* params.c: the query parameters the GET routes share (dates, ranges, whole numbers), their
 * 422 answer, and the answer to a failed database call. */
#include "params.h"
#include "log.h"
#include "metrics.h"

#include <stdio.h>
#include <string.h>

/* Decodes the query string; on failure answers 400 and returns -1. */
int
params_query(struct http_req *req, struct qs *q)
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
const char *
params_single(const struct qs *q, const char *key, struct verrs *v)
{
	if (qs_count(q, key) > 1) {
		verrs_add(v, -1, key, "given more than once");
		return NULL;
	}
	return qs_get(q, key);
}

int
params_date(const struct qs *q, const char *key, int required, int64_t *day, struct verrs *v)
{
	const char *why, *s;
	if (qs_count(q, key) > 1)
		return params_single(q, key, v), -1;
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
int
params_int(const struct qs *q, const char *key, int def, int min, int max, int *out,
	   struct verrs *v)
{
	const char *s = params_single(q, key, v);
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
int
params_range(const struct qs *q, int64_t *from, int64_t *to, struct verrs *v)
{
	int bad = params_date(q, "from", 1, from, v) < 0;
	bad |= params_date(q, "to", 1, to, v) < 0;
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

void
params_invalid(struct http_req *req, const struct verrs *v)
{
	char msg[VERR_MSG + 96];
	verrs_summary(v, msg, sizeof msg);
	http_error(req, 422, "validation_failed", msg, v, NULL);
}

/* Answers a database failure; 0 when st is DB_OK. */
int
params_db_failed(struct app *app, struct http_req *req, enum db_status st)
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
	if (st == DB_INVALID) { /* only the zone-aware statistics answer it */
		struct verrs v = {0};
		verrs_add(&v, -1, "tz",
			  "a day of this range does not start on a quarter hour in this zone (local"
			  " mean time); ask for a later range or another zone");
		params_invalid(req, &v);
		return 1;
	}
	log_msg(LOGL_ERROR, "db", "query failed: %s", db_last_error(app->db));
	http_error(req, 500, "internal", "query failed; see the server log for this request id",
		   NULL, NULL);
	return 1;
}
