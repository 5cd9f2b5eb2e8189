/* model.c: a reference model of the statistics (DAU, top events, retention) computed from
 * known events, and checks of the service's answers against it. The check_ functions make
 * Criterion assertions: call them from inside a test only. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "event.h"
#include "expect.h"
#include "http_client.h"

static int
cmp_id_pos(const void *a, const void *b)
{
	const struct model_event *x = *(const struct model_event *const *)a;
	const struct model_event *y = *(const struct model_event *const *)b;
	int c = strcmp(x->event_id, y->event_id);

	if (c)
		return c;
	return (x > y) - (x < y);
}

size_t
model_dedup(struct model_event *ev, size_t n)
{
	const struct model_event **p = malloc(n * sizeof(*p) + 1);
	char *drop = calloc(n + 1, 1);
	size_t o = 0;

	cr_assert(p && drop, "malloc");
	for (size_t i = 0; i < n; i++)
		p[i] = &ev[i];
	qsort(p, n, sizeof(*p), cmp_id_pos);
	for (size_t i = 1; i < n; i++)
		if (strcmp(p[i]->event_id, p[i - 1]->event_id) == 0)
			drop[p[i] - ev] = 1;
	for (size_t i = 0; i < n; i++)
		if (!drop[i])
			ev[o++] = ev[i];
	free(p);
	free(drop);
	return o;
}

struct day_user {
	int64_t day;
	const char *user;
};

static int
cmp_day_user(const void *a, const void *b)
{
	const struct day_user *x = a, *y = b;

	if (x->day != y->day)
		return (x->day > y->day) - (x->day < y->day);
	return strcmp(x->user, y->user);
}

static void
date_str(int64_t day, char out[EVENT_DATE_BUF])
{
	event_date_format(day, out);
}

int64_t
model_day(const char *date)
{
	int64_t v;
	const char *err = NULL;

	cr_assert_eq(event_date_parse(date, strlen(date), &v, &err), 0, "test bug: date %s", date);
	return v;
}

int64_t
model_us(const char *occurred_at)
{
	int64_t us;
	const char *err = NULL;

	cr_assert_eq(event_time_parse(occurred_at, strlen(occurred_at), &us, &err), 0,
		     "test bug: time %s", occurred_at);
	return us;
}

/* A parsed, strictly checked "YYYY-MM-DD" string member of o, as days. */
static int64_t
expect_date_member(json_object *o, const char *key, const char *what)
{
	const char *s = jstr(o, key);
	const char *err = NULL;
	int64_t d;

	cr_assert(s, "%s: expected a string \"%s\" in %s", what, key,
		  json_object_to_json_string(o));
	cr_assert(strlen(s) == 10 && event_date_parse(s, 10, &d, &err) == 0,
		  "%s: expected \"%s\" to be YYYY-MM-DD, got '%s'", what, key, s);
	return d;
}

static long long
expect_int_member(json_object *o, const char *key, const char *what)
{
	json_object *v = jget(o, key);

	cr_assert(v && json_object_is_type(v, json_type_int),
		  "%s: expected an integer \"%s\" in %s", what, key, json_object_to_json_string(o));
	return (long long)json_object_get_int64(v);
}

void
check_dau(const struct model_event *ev, size_t n, int64_t from, int64_t to)
{
	size_t ndays = (size_t)(to - from + 1), m = 0;
	long long *want = calloc(ndays, sizeof(*want));
	struct day_user *du = malloc((n + 1) * sizeof(*du));
	char f[EVENT_DATE_BUF], t[EVENT_DATE_BUF], path[128], what[160];
	struct http_resp r;
	json_object *arr;

	cr_assert(want && du, "malloc");
	for (size_t i = 0; i < n; i++)
		if (ev[i].day >= from && ev[i].day <= to)
			du[m++] = (struct day_user){ev[i].day, ev[i].user};
	qsort(du, m, sizeof(*du), cmp_day_user);
	for (size_t i = 0; i < m; i++)
		if (i == 0 || cmp_day_user(&du[i], &du[i - 1]) != 0)
			want[du[i].day - from]++;
	date_str(from, f);
	date_str(to, t);
	snprintf(path, sizeof(path), "/stats/dau?from=%s&to=%s", f, t);
	snprintf(what, sizeof(what), "GET %s", path);
	http_get(&r, path);
	cr_assert_eq(r.status, 200, "%s: expected 200, got %ld: %.300s", what, r.status, r.body);
	expect_json_response(&r, what);
	arr = r.json;
	cr_assert(json_object_is_type(arr, json_type_array), "%s: expected a JSON array", what);
	cr_assert_eq(json_object_array_length(arr), ndays,
		     "%s: expected %zu entries (every day, zero-filled), got %zu", what, ndays,
		     json_object_array_length(arr));
	for (size_t i = 0; i < ndays; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		int64_t d = expect_date_member(e, "date", what);
		long long u = expect_int_member(e, "unique_users", what);
		char ds[EVENT_DATE_BUF];

		date_str(from + (int64_t)i, ds);
		cr_assert_eq(d, from + (int64_t)i,
			     "%s: entry %zu: expected date %s (ascending), got %s", what, i, ds,
			     jstr(e, "date"));
		cr_assert_eq(u, want[i], "%s: %s: expected unique_users=%lld, got %lld", what, ds,
			     want[i], u);
	}
	http_resp_free(&r);
	free(want);
	free(du);
}

struct type_count {
	const char *type;
	long long count;
};

static int
cmp_type(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
cmp_type_count(const void *a, const void *b)
{
	const struct type_count *x = a, *y = b;

	if (x->count != y->count)
		return (x->count < y->count) - (x->count > y->count);
	return strcmp(x->type, y->type);
}

void
check_top_events(const struct model_event *ev, size_t n, int64_t from, int64_t to, int limit)
{
	const char **types = malloc((n + 1) * sizeof(*types));
	struct type_count *tc = malloc((n + 1) * sizeof(*tc));
	size_t m = 0, nt = 0, want_n;
	char f[EVENT_DATE_BUF], t[EVENT_DATE_BUF], path[160], what[200];
	struct http_resp r;

	cr_assert(types && tc, "malloc");
	for (size_t i = 0; i < n; i++)
		if (ev[i].day >= from && ev[i].day <= to)
			types[m++] = ev[i].type;
	qsort(types, m, sizeof(*types), cmp_type);
	for (size_t i = 0; i < m; i++) {
		if (i == 0 || strcmp(types[i], types[i - 1]) != 0)
			tc[nt++] = (struct type_count){types[i], 0};
		tc[nt - 1].count++;
	}
	qsort(tc, nt, sizeof(*tc), cmp_type_count);
	want_n = nt < (size_t)limit ? nt : (size_t)limit;
	date_str(from, f);
	date_str(to, t);
	snprintf(path, sizeof(path), "/stats/top-events?from=%s&to=%s&limit=%d", f, t, limit);
	snprintf(what, sizeof(what), "GET %s", path);
	http_get(&r, path);
	cr_assert_eq(r.status, 200, "%s: expected 200, got %ld: %.300s", what, r.status, r.body);
	expect_json_response(&r, what);
	cr_assert(json_object_is_type(r.json, json_type_array), "%s: expected a JSON array", what);
	cr_assert_eq(json_object_array_length(r.json), want_n, "%s: expected %zu entries, got %zu",
		     what, want_n, json_object_array_length(r.json));
	for (size_t i = 0; i < want_n; i++) {
		json_object *e = json_object_array_get_idx(r.json, i);
		const char *ty = jstr(e, "event_type");
		long long c = expect_int_member(e, "count", what);

		cr_assert(ty, "%s: entry %zu: expected an \"event_type\" string", what, i);
		cr_assert_str_eq(ty, tc[i].type, "%s: entry %zu: expected event_type %s, got %s",
				 what, i, tc[i].type, ty);
		cr_assert_eq(c, tc[i].count, "%s: entry %zu (%s): expected count %lld, got %lld",
			     what, i, ty, tc[i].count, c);
	}
	http_resp_free(&r);
	free(types);
	free(tc);
}

static int
cmp_user_day(const void *a, const void *b)
{
	const struct day_user *x = a, *y = b;
	int c = strcmp(x->user, y->user);

	if (c)
		return c;
	return (x->day > y->day) - (x->day < y->day);
}

void
check_retention(const struct model_event *ev, size_t n, int64_t start, int windows, int period)
{
	struct day_user *ud = malloc((n + 1) * sizeof(*ud));
	long long *cnt = calloc((size_t)windows + 1, sizeof(*cnt));
	long long cohort = 0;
	char s[EVENT_DATE_BUF], path[160], what[200];
	struct http_resp r;
	json_object *w;

	cr_assert(ud && cnt, "malloc");
	for (size_t i = 0; i < n; i++)
		ud[i] = (struct day_user){ev[i].day, ev[i].user};
	qsort(ud, n, sizeof(*ud), cmp_user_day);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		int64_t first = ud[i].day; /* sorted by day within the user */
		int64_t seen = -1;

		while (j < n && strcmp(ud[j].user, ud[i].user) == 0)
			j++;
		if (first >= start && first < start + period) {
			cohort++;
			for (size_t k = i; k < j; k++) {
				int64_t wk = (ud[k].day - start) / period;

				if (ud[k].day >= start && wk <= windows && wk != seen) {
					cnt[wk]++;
					seen = wk;
				}
			}
		}
		i = j;
	}
	date_str(start, s);
	snprintf(path, sizeof(path), "/stats/retention?start_date=%s&windows=%d&granularity=%s", s,
		 windows, period == 1 ? "day" : "week");
	snprintf(what, sizeof(what), "GET %s", path);
	http_get(&r, path);
	cr_assert_eq(r.status, 200, "%s: expected 200, got %ld: %.300s", what, r.status, r.body);
	expect_json_response(&r, what);
	cr_assert(json_object_is_type(r.json, json_type_object), "%s: expected a JSON object",
		  what);
	cr_assert_eq(expect_date_member(r.json, "start_date", what), start,
		     "%s: expected start_date %s", what, s);
	cr_assert(jstr(r.json, "granularity") &&
		      strcmp(jstr(r.json, "granularity"), period == 1 ? "day" : "week") == 0,
		  "%s: expected granularity \"%s\", got %s", what, period == 1 ? "day" : "week",
		  jstr(r.json, "granularity") ? jstr(r.json, "granularity") : "(none)");
	cr_assert_eq(expect_int_member(r.json, "cohort_size", what), cohort,
		     "%s: expected cohort_size %lld, got %lld", what, cohort,
		     expect_int_member(r.json, "cohort_size", what));
	w = jget(r.json, "windows");
	cr_assert(w && json_object_is_type(w, json_type_array), "%s: expected a \"windows\" array",
		  what);
	cr_assert_eq(json_object_array_length(w), (size_t)windows + 1,
		     "%s: expected windows+1 = %d entries, got %zu", what, windows + 1,
		     json_object_array_length(w));
	for (int k = 0; k <= windows; k++) {
		json_object *e = json_object_array_get_idx(w, (size_t)k);
		json_object *rate = jget(e, "rate");
		double want_rate =
		    cohort ? round((double)cnt[k] / (double)cohort * 10000) / 10000 : 0;
		char ws[EVENT_DATE_BUF];
		long long c;
		double got;

		date_str(start + (int64_t)k * period, ws);
		cr_assert_eq(expect_int_member(e, "index", what), k,
			     "%s: entry %d: expected index %d", what, k, k);
		cr_assert_eq(expect_date_member(e, "start", what), start + (int64_t)k * period,
			     "%s: entry %d: expected start %s, got %s", what, k, ws,
			     jstr(e, "start"));
		c = expect_int_member(e, "count", what);
		cr_assert_eq(c, cnt[k], "%s: window %d (%s): expected count %lld, got %lld", what,
			     k, ws, cnt[k], c);
		cr_assert(rate && (json_object_is_type(rate, json_type_double) ||
				   json_object_is_type(rate, json_type_int)),
			  "%s: window %d: expected a number \"rate\"", what, k);
		got = json_object_get_double(rate);
		cr_assert(got == want_rate,
			  "%s: window %d: expected rate %.4f (%lld/%lld), got %.17g", what, k,
			  want_rate, cnt[k], cohort, got);
	}
	if (windows >= 0 && cohort > 0)
		cr_assert_eq(cnt[0], cohort, "model: window 0 must equal the cohort");
	http_resp_free(&r);
	free(ud);
	free(cnt);
}
