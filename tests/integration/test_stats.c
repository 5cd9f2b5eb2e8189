/* test_stats.c: statistics on small hand-made data sets whose answers are known: UTC day
 * boundaries, byte-order ties, rounding half away from zero, and a late event that moves a
 * user's cohort. Dated 2011 with user ids of their own, away from every other suite's data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "client.h"
#include "event.h"

struct spec {
	const char *at;	     /* occurred_at as sent */
	const char *utc_day; /* its UTC day, written by hand */
	const char *user;    /* suffix of the user id */
	const char *type;
};

/* Posts the events in one request (all must be accepted) and fills the model; users become
 * "<prefix>-<tag>-<user>" in users[] (room for n). */
static void
post_specs(const struct spec *s, size_t n, const char *prefix, struct model_event *ev,
	   char (*users)[64])
{
	json_object *arr = json_object_new_array();
	char tag[9];
	struct http_resp r;

	it_hex(tag, 4);
	for (size_t i = 0; i < n; i++) {
		snprintf(users[i], 64, "%s-%s-%s", prefix, tag, s[i].user);
		json_object_array_add(arr, it_event(ev[i].event_id, s[i].at, users[i], s[i].type));
		ev[i].day = model_day(s[i].utc_day);
		ev[i].user = users[i];
		ev[i].type = s[i].type;
	}
	http_post_obj(&r, "/events", arr);
	expect_ingest(&r, (long)n, (long)n, 0, "POST /events (hand-made statistics data)");
	http_resp_free(&r);
	json_object_put(arr);
}

Test(stats, dau_utc_day_boundaries, .timeout = 30)
{
	static const struct spec s[] = {
	    {"2011-05-01T23:59:59.999999Z", "2011-05-01", "a", "b1"},
	    {"2011-05-02T00:00:00Z", "2011-05-02", "b", "b1"},
	    {"2011-05-02T01:00:00+02:00", "2011-05-01", "c", "b1"},
	    {"2011-05-01T22:00:00-03:00", "2011-05-02", "d", "b1"},
	    {"2011-05-02 23:30:00-00:30", "2011-05-03", "a", "b1"},
	    {"2011-05-03T00:00:00+23:59", "2011-05-02", "e", "b1"},
	    {"2011-05-03T10:00:00", "2011-05-03", "a", "b1"},
	    {"2011-05-03T10:00:00Z", "2011-05-03", "b", "b1"},
	    {"2011-05-05T12:00:00Z", "2011-05-05", "f", "b1"},
	};
	enum { N = sizeof(s) / sizeof(*s) };
	struct model_event ev[N];
	char users[N][64];

	post_specs(s, N, "it-days", ev, users);
	/* 05-01: a, c; 05-02: b, d, e; 05-03: a, b; 05-04: none; 05-05: f */
	check_dau(ev, N, model_day("2011-04-29"), model_day("2011-05-07"));
	check_dau(ev, N, model_day("2011-05-02"), model_day("2011-05-02"));
	check_top_events(ev, N, model_day("2011-05-01"), model_day("2011-05-01"), 10);
}

Test(stats, top_events_ties_in_byte_order, .timeout = 30)
{
	/* three each of "b", "B", "a", "_", "\xc3\xa9" and "a b"; four of "z"; one of "Z" */
	static const char *const types[] = {"b", "B", "a", "_", "\xc3\xa9", "a b"};
	struct spec s[32];
	struct model_event ev[32];
	char users[32][64];
	size_t n = 0;

	for (size_t t = 0; t < 6; t++)
		for (int k = 0; k < 3; k++)
			s[n++] = (struct spec){"2011-06-01T12:00:00Z", "2011-06-01", "u", types[t]};
	for (int k = 0; k < 4; k++)
		s[n++] = (struct spec){"2011-06-02T12:00:00Z", "2011-06-02", "u", "z"};
	s[n++] = (struct spec){"2011-06-02T12:00:00Z", "2011-06-02", "u", "Z"};
	post_specs(s, n, "it-ties", ev, users);
	/* want: z 4, then B, _, a, a b, b, é (3 each, byte order), then Z 1 */
	check_top_events(ev, n, model_day("2011-06-01"), model_day("2011-06-02"), 1000);
	check_top_events(ev, n, model_day("2011-06-01"), model_day("2011-06-02"), 3);
	check_top_events(ev, n, model_day("2011-06-01"), model_day("2011-06-01"), 1);
	{
		struct http_resp r;
		const char *path = "/stats/top-events?from=2011-06-01&to=2011-06-02&limit=3";
		static const char *const want[] = {"z", "B", "_"};

		http_get(&r, path);
		cr_assert_eq(r.status, 200, "GET %s: expected 200, got %ld", path, r.status);
		cr_assert(r.json && json_object_array_length(r.json) == 3,
			  "GET %s: expected 3 entries", path);
		for (size_t i = 0; i < 3; i++)
			cr_assert_str_eq(
			    jstr(json_object_array_get_idx(r.json, i), "event_type"), want[i],
			    "GET %s: expected entry %zu to be \"%s\" (count desc, ties in "
			    "byte order, COLLATE \"C\"): %s",
			    path, i, want[i], r.body);
		http_resp_free(&r);
	}
}

/* Posts one event of user at time at (accepted) into the model's ev. */
static void
post_one(const char *user, const char *at, const char *utc_day, const char *type,
	 struct model_event *ev)
{
	json_object *arr = json_object_new_array();
	struct http_resp r;

	json_object_array_add(arr, it_event(ev->event_id, at, user, type));
	ev->day = model_day(utc_day);
	ev->user = user;
	ev->type = type;
	http_post_obj(&r, "/events", arr);
	expect_ingest(&r, 1, 1, 0, "POST /events (one event)");
	http_resp_free(&r);
	json_object_put(arr);
}

/* A worker keeps its top-events answers (answers.h) until the summaries change: an event of
 * a user already counted in its quarter changes no user set, only the counts, and must still
 * reach every worker's next answer. Each check is asked of every worker several times. */
Test(stats, top_events_kept_answer_follows_the_counts, .timeout = 60)
{
	struct model_event ev[3];
	char user[64], tag[9];
	int asks = 4 * it_want_workers();
	int64_t day = model_day("2011-08-01");

	it_hex(tag, 4);
	snprintf(user, sizeof user, "it-kept-%s", tag);
	post_one(user, "2011-08-01T12:00:00Z", "2011-08-01", "k", &ev[0]);
	for (int i = 0; i < asks; i++)
		check_top_events(ev, 1, day, day, 10);
	/* the same user, type and quarter: the counts change, no set does */
	post_one(user, "2011-08-01T12:01:00Z", "2011-08-01", "k", &ev[1]);
	for (int i = 0; i < asks; i++)
		check_top_events(ev, 2, day, day, 10);
	post_one(user, "2011-08-01T12:02:00Z", "2011-08-01", "k", &ev[2]);
	for (int i = 0; i < asks; i++)
		check_top_events(ev, 3, day, day, 10);
}

Test(stats, retention_rate_rounds_half_away_from_zero, .timeout = 30)
{
	/* cohort of 32 on 2011-07-01; day 1: 1 user (1/32 = 0.03125 -> 0.0313), day 2: 5 users
	 * (0.15625 -> 0.1563), day 3: 3 users (0.09375 -> 0.0938), day 4: 32 (1.0) */
	struct spec s[80];
	struct model_event ev[80];
	char users[80][64];
	static char names[32][8];
	size_t n = 0;

	for (int u = 0; u < 32; u++) {
		snprintf(names[u], sizeof(names[u]), "r%02d", u);
		s[n++] = (struct spec){"2011-07-01T08:00:00Z", "2011-07-01", names[u], "ret"};
	}
	s[n++] = (struct spec){"2011-07-02T08:00:00Z", "2011-07-02", names[0], "ret"};
	for (int u = 0; u < 5; u++)
		s[n++] = (struct spec){"2011-07-03T08:00:00Z", "2011-07-03", names[u], "ret"};
	for (int u = 10; u < 13; u++)
		s[n++] = (struct spec){"2011-07-04T08:00:00Z", "2011-07-04", names[u], "ret"};
	for (int u = 0; u < 32; u++)
		s[n++] = (struct spec){"2011-07-05T08:00:00Z", "2011-07-05", names[u], "ret"};
	post_specs(s, n, "it-round", ev, users);
	check_retention(ev, n, model_day("2011-07-01"), 5, 1);
	check_retention(ev, n, model_day("2011-06-28"), 2, 7);
	{
		struct http_resp r;
		const char *path = "/stats/retention?start_date=2011-07-01&windows=3";
		static const double want[] = {1.0, 0.0313, 0.1563, 0.0938};

		http_get(&r, path);
		cr_assert_eq(r.status, 200, "GET %s: expected 200, got %ld", path, r.status);
		for (size_t k = 0; k < 4; k++) {
			json_object *w = json_object_array_get_idx(jget(r.json, "windows"), k);

			cr_assert(
			    json_object_get_double(jget(w, "rate")) == want[k],
			    "GET %s: expected window %zu rate %.4f (half away from zero), got %s",
			    path, k, want[k], r.body);
		}
		http_resp_free(&r);
	}
}

Test(stats, late_event_moves_cohort, .timeout = 30)
{
	/* x first seen 2011-08-10 joins that cohort; a late event dated 2011-08-05 moves x to the
	 * 2011-08-05 cohort, and the 2011-08-10 cohort keeps only y. */
	struct spec s[] = {
	    {"2011-08-10T10:00:00Z", "2011-08-10", "x", "late"},
	    {"2011-08-11T10:00:00Z", "2011-08-11", "x", "late"},
	    {"2011-08-10T11:00:00Z", "2011-08-10", "y", "late"},
	    {"2011-08-05T10:00:00Z", "2011-08-05", "x", "late"},
	};
	struct model_event ev[4];
	char users[4][64];
	char tag[9];

	it_hex(tag, 4);
	for (size_t i = 0; i < 4; i++) {
		json_object *e;
		struct http_resp r;

		snprintf(users[i], 64, "it-late-%s-%s", tag, s[i].user);
		e = it_event(ev[i].event_id, s[i].at, users[i], s[i].type);
		ev[i].day = model_day(s[i].utc_day);
		ev[i].user = users[i];
		ev[i].type = s[i].type;
		http_post_obj(&r, "/events", e);
		expect_ingest(&r, 1, 1, 0, "POST /events (cohort data)");
		http_resp_free(&r);
		json_object_put(e);
		if (i == 2) {
			check_retention(ev, 3, model_day("2011-08-10"), 2, 1);
			check_retention(ev, 3, model_day("2011-08-05"), 6, 1);
			check_retention(ev, 3, model_day("2011-08-08"), 1, 7);
		}
	}
	check_retention(ev, 4, model_day("2011-08-10"), 2, 1);
	check_retention(ev, 4, model_day("2011-08-05"), 6, 1);
	check_retention(ev, 4, model_day("2011-08-08"), 1, 7);
	check_retention(ev, 4, model_day("2011-08-01"), 2, 7);
}
