/* test_zones.c: statistics in time zones, per event type, over rolling windows, and retention
 * from a start event to a return event. Days whose length is not 24 hours (DST: 23 and 25
 * hours, Lord Howe's 30-minute shift), quarter-hour zones, +14 and -11, a DST gap at
 * midnight and a repeated midnight; then a random mix with late events and duplicates. Every
 * answer must equal PostgreSQL's own recomputation from the raw events (AT TIME ZONE), and
 * a few are also written here by hand. Dated 2015 and 2016, away from other suites' data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "client.h"
#include "event.h"
#include "stats_sql.h"

TestSuite(zones, .init = it_db_init, .fini = it_db_fini);

struct at {
	const char *occurred_at, *user, *type;
};

/* Posts the events (users become "z-<tag>-<user>"); all must be new. */
static void
post_ats(const struct at *a, size_t n)
{
	json_object *arr = json_object_new_array();
	char tag[9], user[64];
	struct http_resp r;
	it_hex(tag, 4);
	for (size_t i = 0; i < n; i++) {
		snprintf(user, sizeof user, "z-%s-%s", tag, a[i].user);
		json_object_array_add(arr, it_event(NULL, a[i].occurred_at, user, a[i].type));
	}
	http_post_obj(&r, "/events", arr);
	expect_ingest(&r, (long)n, (long)n, 0, "POST /events (zone boundaries)");
	http_resp_free(&r);
	json_object_put(arr);
}

/* The unique_users of date in GET path's answer. */
static long long
dau_of(const char *path, const char *date)
{
	struct http_resp r;
	long long n = -1;
	http_get(&r, path);
	cr_assert_eq(r.status, 200, "%s: %ld %s", path, r.status, r.body);
	for (size_t i = 0; i < json_object_array_length(r.json); i++) {
		json_object *e = json_object_array_get_idx(r.json, i);
		if (strcmp(jstr(e, "date"), date) == 0)
			n = json_object_get_int64(jget(e, "unique_users"));
	}
	http_resp_free(&r);
	return n;
}

static const struct at boundary_events[] = {
    /* Asia/Kathmandu (+5:45): 2016-05-10 starts at 2016-05-09T18:15Z */
    {"2016-05-09T18:14:59Z", "ktm1", "open"},
    {"2016-05-09T18:15:00Z", "ktm2", "open"},
    {"2016-05-10T18:14:59.999999Z", "ktm3", "buy"},
    /* America/New_York: 2016-03-13 has 23 hours (05:00Z .. 04:00Z), 2016-11-06 has 25
     * (04:00Z .. 05:00Z next day) */
    {"2016-03-13T05:00:00Z", "ny1", "open"},
    {"2016-03-14T03:59:59Z", "ny2", "open"},
    {"2016-03-14T04:00:00Z", "ny3", "open"},
    {"2016-11-06T04:00:00Z", "ny4", "buy"},
    {"2016-11-07T04:59:59Z", "ny5", "buy"},
    {"2016-11-07T05:00:00Z", "ny6", "buy"},
    {"2016-11-06T05:30:00Z", "ny7", "open"}, /* 01:30, the first of two */
    {"2016-11-06T06:30:00Z", "ny7", "buy"},  /* 01:30 again */
    /* Australia/Lord_Howe: +11 until 2016-04-03 02:00, then +10:30 (a 24.5-hour day) */
    {"2016-04-02T13:00:00Z", "lh1", "open"}, /* 04-03 00:00 +11 */
    {"2016-04-03T13:29:59Z", "lh2", "open"}, /* 04-03 23:59:59 +10:30 */
    {"2016-04-03T13:30:00Z", "lh3", "open"}, /* 04-04 00:00 */
    /* Pacific/Kiritimati (+14) and Pacific/Pago_Pago (-11) */
    {"2016-07-01T09:59:59Z", "kir1", "open"},
    {"2016-07-01T10:00:00Z", "kir2", "open"},
    {"2016-07-01T10:59:59Z", "pago1", "open"},
    {"2016-07-01T11:00:00Z", "pago2", "open"},
    /* America/Sao_Paulo: 2016-10-16 00:00 did not exist (DST began at midnight): the day
     * starts at 01:00 -02 = 03:00Z */
    {"2016-10-16T02:59:59Z", "sp1", "open"},
    {"2016-10-16T03:00:00Z", "sp2", "open"},
    /* America/Havana: 2016-11-06 01:00 CDT went back to 00:00 CST, midnight came once */
    {"2016-11-06T04:00:00Z", "hav1", "open"},
    {"2016-11-06T03:59:59Z", "hav2", "open"},
};

Test(zones, day_boundaries, .timeout = 400)
{
	post_ats(boundary_events, sizeof boundary_events / sizeof boundary_events[0]);
	/* written by hand (only this test has events on these days) */
	cr_assert_eq(
	    dau_of("/stats/dau?from=2016-05-09&to=2016-05-10&tz=Asia/Kathmandu", "2016-05-09"), 1);
	cr_assert_eq(
	    dau_of("/stats/dau?from=2016-05-09&to=2016-05-10&tz=Asia/Kathmandu", "2016-05-10"), 2);
	cr_assert_eq(
	    dau_of("/stats/dau?from=2016-03-13&to=2016-03-13&tz=America/New_York", "2016-03-13"),
	    2);
	/* ny4, ny5, ny7 and hav1: all 25 hours */
	cr_assert_eq(
	    dau_of("/stats/dau?from=2016-11-06&to=2016-11-06&tz=America/New_York", "2016-11-06"),
	    4);
	cr_assert_eq(dau_of("/stats/dau?from=2016-11-06&to=2016-11-06&tz=America/New_York"
			    "&event_type=buy",
			    "2016-11-06"),
		     3);
	cr_assert_eq(
	    dau_of("/stats/dau?from=2016-04-03&to=2016-04-03&tz=Australia/Lord_Howe", "2016-04-03"),
	    2);
	cr_assert_eq(
	    dau_of("/stats/dau?from=2016-07-01&to=2016-07-01&tz=Pacific/Kiritimati", "2016-07-01"),
	    1); /* kir1: the day ended at 10:00Z */
	cr_assert_eq(
	    dau_of("/stats/dau?from=2016-07-01&to=2016-07-01&tz=Pacific/Pago_Pago", "2016-07-01"),
	    1); /* pago2: the day began at 11:00Z */
	cr_assert_eq(
	    dau_of("/stats/dau?from=2016-10-16&to=2016-10-16&tz=America/Sao_Paulo", "2016-10-16"),
	    1);
	cr_assert_eq(
	    dau_of("/stats/dau?from=2016-11-06&to=2016-11-06&tz=America/Havana", "2016-11-06"),
	    4); /* from the first midnight (04:00Z): hav1, ny4, ny7, ny5 */
	/* and everything against SQL, in every zone */
	static const char *const ranges[][2] = {
	    {"2016-03-10", "2016-03-16"}, {"2016-04-01", "2016-04-05"},
	    {"2016-05-08", "2016-05-12"}, {"2016-06-29", "2016-07-03"},
	    {"2016-10-14", "2016-10-18"}, {"2016-11-04", "2016-11-08"}};
	for (size_t z = 0; z < it_nzones; z++)
		for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
			int64_t f = model_day(ranges[k][0]), t = model_day(ranges[k][1]);
			check_dau_sql(it_db, &(struct stats_q){.tz = it_zones[z]}, f, t);
			check_dau_sql(it_db, &(struct stats_q){.tz = it_zones[z], .type = "buy"}, f,
				      t);
			check_active_sql(it_db, &(struct stats_q){.tz = it_zones[z]}, f, t, 3);
			check_top_sql(it_db, &(struct stats_q){.tz = it_zones[z]}, f, t, 10);
			check_retention_sql(it_db, &(struct stats_q){.tz = it_zones[z]}, f, 4, 1);
		}
}

Test(zones, parameters_are_checked, .timeout = 30)
{
	static const char *const bad[] = {
	    "/stats/dau?from=2016-01-01&to=2016-01-02&tz=../../etc/passwd",
	    "/stats/dau?from=2016-01-01&to=2016-01-02&tz=%2Fetc%2Fpasswd",
	    "/stats/dau?from=2016-01-01&to=2016-01-02&tz=utc",
	    "/stats/dau?from=2016-01-01&to=2016-01-02&tz=Mars/Olympus",
	    "/stats/dau?from=2016-01-01&to=2016-01-02&tz=",
	    "/stats/dau?from=2016-01-01&to=2016-01-02&tz=UTC&tz=UTC",
	    "/stats/dau?from=2016-01-01&to=2016-01-02&event_type=",
	    "/stats/top-events?from=2016-01-01&to=2016-01-02&tz=EST5EDTX",
	    "/stats/retention?start_date=2016-01-01&tz=Nowhere",
	    "/stats/retention?start_date=2016-01-01&start_event=",
	    "/stats/retention?start_date=2016-01-01&return_event=%01",
	    "/stats/active-users?from=2016-01-01&to=2016-01-02&window=0",
	    "/stats/active-users?from=2016-01-01&to=2016-01-02&window=91",
	    "/stats/active-users?from=2016-01-01&to=2016-01-02&window=x",
	    "/stats/active-users?from=2016-01-02&to=2016-01-01",
	    "/stats/active-users?from=0001-01-02&to=0001-01-03&window=7",
	    "/stats/dau?from=1890-01-01&to=1890-01-02&tz=Asia/Kathmandu",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct http_resp r;
		http_get(&r, bad[i]);
		expect_error(&r, 422, "validation_failed", bad[i]);
		http_resp_free(&r);
	}
	struct http_resp r;
	http_get(&r, "/stats/active-users?from=2016-01-01&to=2016-01-03");
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(json_object_array_length(r.json), 3);
	cr_assert_eq(json_object_get_int(jget(json_object_array_get_idx(r.json, 0), "window")), 7,
		     "window defaults to 7: %s", r.body);
	http_resp_free(&r);
}

/* A random mix: late events (random order), duplicates resent, several batches. */
enum { MIX_EVENTS = 1200, MIX_USERS = 40, MIX_DAYS = 45 };
#define MIX_FIRST INT64_C(16436) /* 2015-01-01 */

static void
post_mix(void)
{
	static const char *const types[] = {"m_open", "m_view", "m_buy", "m_b a"};
	static const char *const offs[] = {"Z", "+05:45", "-03:30", "+14:00", "-11:00"};
	static char json[MIX_EVENTS][300];
	unsigned seed = 2015;
	char tag[9];
	it_hex(tag, 4);
	for (int i = 0; i < MIX_EVENTS; i++) {
		int64_t y;
		unsigned m, d;
		char at[40], user[48], id[37];
		event_civil_from_days(MIX_FIRST + rand_r(&seed) % MIX_DAYS, &y, &m, &d);
		snprintf(at, sizeof at, "%04lld-%02u-%02uT%02u:%02u:%02u%s", (long long)y, m, d,
			 rand_r(&seed) % 24, rand_r(&seed) % 4 * 15, rand_r(&seed) % 2 * 59,
			 offs[rand_r(&seed) % 5]);
		snprintf(user, sizeof user, "mix-%s-%u", tag, rand_r(&seed) % MIX_USERS);
		it_uuid(id);
		json_object *o = it_event(NULL, at, user, types[rand_r(&seed) % 4]);
		json_object_object_add(o, "event_id", json_object_new_string(id));
		snprintf(json[i], sizeof json[i], "%s",
			 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
	for (int pos = 0; pos < MIX_EVENTS;) {
		int size = 1 + (int)(rand_r(&seed) % 200);
		struct it_buf b = {0};
		it_buf_str(&b, "[");
		for (int i = 0; i < size && pos < MIX_EVENTS; i++, pos++)
			it_buf_printf(&b, "%s%s", i ? "," : "", json[pos]);
		for (int i = 0; i < 5; i++) /* duplicates */
			it_buf_printf(&b, ",%s", json[rand_r(&seed) % (unsigned)(pos)]);
		it_buf_str(&b, "]");
		struct http_resp r;
		http_post_json(&r, "/events", b.p);
		cr_assert_eq(r.status, 200, "POST mix: %ld %s", r.status, r.body);
		http_resp_free(&r);
		free(b.p);
	}
}

Test(zones, random_mix_equals_recomputation, .timeout = 300)
{
	unsigned seed = 16;
	post_mix();
	for (size_t z = 0; z < it_nzones; z++) {
		struct stats_q any = {.tz = it_zones[z]},
			       buy = {.tz = it_zones[z], .type = "m_buy"};
		int64_t a = MIX_FIRST - 2 + rand_r(&seed) % 10, b = a + 20 + rand_r(&seed) % 30;
		check_dau_sql(it_db, &any, a, b);
		check_dau_sql(it_db, &buy, a, b);
		check_dau_sql(it_db, &(struct stats_q){.tz = it_zones[z], .type = "m_b a"}, a, b);
		check_active_sql(it_db, &any, a, b, 7);
		check_active_sql(it_db, &buy, a, b, 1 + (int)(rand_r(&seed) % 30));
		check_top_sql(it_db, &any, a, b, 3);
		int64_t s = MIX_FIRST - 1 + rand_r(&seed) % 20;
		check_retention_sql(it_db, &any, s, 10, 1);
		check_retention_sql(it_db, &(struct stats_q){it_zones[z], "m_open", "m_buy"}, s, 10,
				    1);
		check_retention_sql(it_db, &(struct stats_q){it_zones[z], "m_view", NULL}, s, 4, 7);
		check_retention_sql(it_db, &(struct stats_q){it_zones[z], NULL, "m_b a"}, s, 3, 7);
	}
}

#define CACHE_FIRST INT64_C(16071) /* 2014-01-01: no other test writes that year */

/* Every route's answers over [CACHE_FIRST, + 9] in zone tz against the recomputation. */
/* DELETE /users/{the user_id that sql returns} (200 expected). */
static void
erase_user_of(const char *sql)
{
	char *user = db_scalar_text(it_db, sql, 0, NULL), path[128];
	struct http_resp r;
	cr_assert(user, "%s: no user", sql);
	snprintf(path, sizeof path, "/users/%s", user);
	http_request(&r, "DELETE", path, NULL, NULL, 0, NULL);
	cr_assert_eq(r.status, 200, "DELETE %s: %ld %s", path, r.status, r.body);
	http_resp_free(&r);
	free(user);
}

static void
check_cache_range(const char *tz)
{
	struct stats_q any = {.tz = tz}, buy = {.tz = tz, .type = "c_buy"};
	check_dau_sql(it_db, &any, CACHE_FIRST, CACHE_FIRST + 9);
	check_dau_sql(it_db, &buy, CACHE_FIRST, CACHE_FIRST + 9);
	check_active_sql(it_db, &any, CACHE_FIRST + 3, CACHE_FIRST + 9, 3);
	check_retention_sql(it_db, &(struct stats_q){tz, "c_open", "c_buy"}, CACHE_FIRST, 6, 1);
	check_retention_sql(it_db, &any, CACHE_FIRST, 6, 1);
}

/* Local days are cached whole (day_sets) and windows of active users counted (window_counts)
 * once read; a late event, an earlier first event and an erasure must each drop what they
 * change, and a reader that read the blocks before a fold must not store its (now stale)
 * union. */
Test(zones, cached_days_follow_writes, .timeout = 400)
{
	static const struct at first[] = {
	    {"2014-01-01T10:00:00Z", "u1", "c_open"}, {"2014-01-02T10:00:00Z", "u1", "c_buy"},
	    {"2014-01-03T22:00:00Z", "u2", "c_open"}, {"2014-01-05T03:00:00Z", "u2", "c_buy"},
	    {"2014-01-06T18:20:00Z", "u3", "c_open"}, {"2014-01-08T12:00:00Z", "u3", "c_buy"},
	};
	static const struct at late[] = {
	    /* new users on cached days, one of them first active before u1 */
	    {"2014-01-02T18:16:00Z", "u4", "c_buy"},
	    {"2013-12-31T23:00:00Z", "u5", "c_open"},
	    {"2014-01-04T00:00:00Z", "u5", "c_buy"},
	};
	post_ats(first, sizeof first / sizeof first[0]);
	check_cache_range("Asia/Kathmandu");
	check_cache_range("UTC");
	cr_assert_gt(db_scalar_ll(it_db,
				  "SELECT count(*) FROM day_sets WHERE q0 >= 1388534400 / 900"
				  " - 96 AND q0 < 1388534400 / 900 + 10 * 96",
				  0, NULL),
		     0, "the days read were not cached");
	cr_assert_gt(db_scalar_ll(it_db,
				  "SELECT count(*) FROM window_counts WHERE q0 >= 1388534400 / 900"
				  " - 96 AND q0 < 1388534400 / 900 + 10 * 96",
				  0, NULL),
		     0, "the windows read were not kept");
	post_ats(late, sizeof late / sizeof late[0]);
	check_cache_range("Asia/Kathmandu");
	check_cache_range("UTC");
	it_check_user_sets(it_db);

	/* an erasure: the user's days and cohorts change */
	erase_user_of("SELECT user_id FROM events WHERE event_type = 'c_buy' ORDER BY occurred_at"
		      " LIMIT 1");
	check_cache_range("Asia/Kathmandu");
	it_check_user_sets(it_db);

	/* a store with a generation older than the last fold's is refused */
	long long g = db_scalar_ll(it_db, "SELECT g FROM analytics_gen", 0, NULL);
	char stale[32], now[32];
	snprintf(stale, sizeof stale, "%lld", g - 1);
	snprintf(now, sizeof now, "%lld", g);
	static const char *store = "SELECT day_sets_store($1::bigint, 'a', 'c_none', '{7}', '{9}',"
				   " '{0}', '{3a30000000000000}')";
	PQclear(it_db_query(it_db, store, 1, (const char *[]){stale}));
	cr_expect_eq(db_scalar_ll(it_db,
				  "SELECT count(*) FROM day_sets WHERE event_type = 'c_none'", 0,
				  NULL),
		     0, "a stale reader stored its union");
	PQclear(it_db_query(it_db, store, 1, (const char *[]){now}));
	cr_expect_eq(db_scalar_ll(it_db,
				  "SELECT count(*) FROM day_sets WHERE event_type = 'c_none'", 0,
				  NULL),
		     1, "a current reader could not store its union");
	static const char *wstore = "SELECT window_counts_store($1::bigint, 'c_none', '{7}', '{9}',"
				    " '{0}')";
	PQclear(it_db_query(it_db, wstore, 1, (const char *[]){stale}));
	cr_expect_eq(db_scalar_ll(it_db,
				  "SELECT count(*) FROM window_counts WHERE event_type = 'c_none'",
				  0, NULL),
		     0, "a stale reader stored its window counts");
	PQclear(it_db_query(it_db, wstore, 1, (const char *[]){now}));
	cr_expect_eq(db_scalar_ll(it_db,
				  "SELECT count(*) FROM window_counts WHERE event_type = 'c_none'",
				  0, NULL),
		     1, "a current reader could not keep its window counts");
	PQclear(it_db_query(
	    it_db, "DELETE FROM window_counts WHERE event_type = 'c_none' RETURNING 1", 0, NULL));
	PQclear(it_db_query(it_db, "DELETE FROM day_sets WHERE event_type = 'c_none' RETURNING 1",
			    0, NULL));
}

/* Events nobody reads are folded by the supervisor's scheduled run all the same. */
Test(zones, supervisor_folds_pending_events, .timeout = 120)
{
	static const struct at ev[] = {{"2014-03-01T10:00:00Z", "s1", "c_open"},
				       {"2014-03-01T11:00:00Z", "s2", "c_view"}};
	post_ats(ev, sizeof ev / sizeof ev[0]);
	long long left = -1;
	for (int i = 0; i < 600 && left != 0; i++) {
		left = db_scalar_ll(it_db, "SELECT count(*) FROM analytics_pending", 0, NULL);
		if (left)
			usleep(100 * 1000);
	}
	cr_assert_eq(left, 0, "events still pending after 60 s");
	cr_expect_eq(
	    db_scalar_ll(it_db,
			 "SELECT count(*) FROM activity_sets WHERE level = 1 AND event_type"
			 " IN ('c_open', 'c_view')"
			 " AND bucket IN (1393668000 / 900, 1393668000 / 900 + 4)",
			 0, NULL),
	    2, "the folded events' quarters are missing");
}

#define MEMO_FIRST INT64_C(15043) /* 2011-03-10: no other test writes that year */

/* Each route over MEMO_FIRST - 1 .. + 1, each asked 8 times in a row: with 4 workers each
 * answers every question at least once more, from its memo of answers (answers.h). */
static void
check_memo_range(void)
{
	struct stats_q kathmandu = {.tz = "Asia/Kathmandu"}, buy = {.tz = "UTC", .type = "m_buy"},
		       events = {"Asia/Kolkata", "m_open", "m_buy"};
	for (int k = 0; k < 8; k++)
		check_dau_sql(it_db, &kathmandu, MEMO_FIRST - 1, MEMO_FIRST + 1);
	for (int k = 0; k < 8; k++)
		check_dau_sql(it_db, &buy, MEMO_FIRST - 1, MEMO_FIRST + 1);
	for (int k = 0; k < 8; k++)
		check_active_sql(it_db, &kathmandu, MEMO_FIRST, MEMO_FIRST + 1, 2);
	for (int k = 0; k < 8; k++)
		check_retention_sql(it_db, &events, MEMO_FIRST, 1, 1);
}

/* Workers answer a question asked again from their memo while the summaries are unchanged:
 * every answer after a write (new users, an earlier first event, an erasure), on whatever
 * worker, must still equal the recomputation. Each write leaves a state no earlier one had,
 * so that an answer kept from before cannot pass for the new one. */
Test(zones, repeated_questions_see_every_write, .timeout = 300)
{
	static const struct at first[] = {
	    {"2011-03-10T06:00:00Z", "m1", "m_open"},
	    {"2011-03-10T07:00:00Z", "m2", "m_buy"},
	    {"2011-03-11T07:00:00Z", "m1", "m_buy"},
	};
	static const struct at more[] = {
	    {"2011-03-10T08:00:00Z", "m3", "m_buy"},  {"2011-03-10T05:00:00Z", "m3", "m_open"},
	    {"2011-03-11T09:00:00Z", "m3", "m_buy"},  {"2011-03-09T12:00:00Z", "m4", "m_buy"},
	    {"2011-03-10T10:00:00Z", "m4", "m_open"},
	};
	static const char *kathmandu = "/stats/dau?from=2011-03-09&to=2011-03-11&tz=Asia/Kathmandu";
	post_ats(first, sizeof first / sizeof first[0]);
	check_memo_range();
	cr_expect_eq(dau_of(kathmandu, "2011-03-09"), 0);
	cr_expect_eq(dau_of(kathmandu, "2011-03-10"), 2);
	post_ats(more, sizeof more / sizeof more[0]);
	check_memo_range();
	cr_expect_eq(dau_of(kathmandu, "2011-03-09"), 1, "a new user on a day answered before");
	cr_expect_eq(dau_of(kathmandu, "2011-03-10"), 4, "new users on a day answered before");

	erase_user_of("SELECT user_id FROM events WHERE event_type = 'm_open'"
		      " AND occurred_at = '2011-03-10T05:00:00Z'");
	check_memo_range();
	cr_expect_eq(dau_of(kathmandu, "2011-03-10"), 3, "the erased user still counted");
}
