/* RAW_RETENTION_DAYS: a pool started with it prunes raw events past the horizon at once (and
 * hourly); every statistic answers as before for the pruned days; an erasure still takes a
 * pruned user out of every statistic; events older than the horizon are refused by
 * POST /events (422) and by the loader (a rejected row). On a stack of its own: pruning
 * leaves summaries that a recomputation from raw events can no longer give, which the
 * other suites' checks expect. */
#include "client.h"
#include "event.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { HORIZON = 60, USERS = 8, OLD_DAYS = 20, EVENTS = 400 };

static const char *const types[] = {"h_open", "h_view", "h_buy"};
static char names[USERS][16];
static struct model_event ev[EVENTS];

/* POSTs EVENTS events: half 80..99 days ago (past the horizon), half 1..20 days ago. */
static void
post_data(int64_t today)
{
	json_object *arr = json_object_new_array();
	struct http_resp r;
	srand(60);
	for (int i = 0; i < EVENTS; i++) {
		char at[32], date[11];
		int u = rand() % USERS;
		ev[i].day = today - (i % 2 ? 80 : 1) - rand() % OLD_DAYS;
		ev[i].type = types[rand() % 3];
		ev[i].user = names[u];
		event_date_format(ev[i].day, date);
		snprintf(at, sizeof at, "%sT%02d:00:00Z", date, rand() % 24);
		ev[i].us = model_us(at);
		json_object_array_add(arr, it_event(ev[i].event_id, at, names[u], ev[i].type));
	}
	http_post_obj(&r, "/events", arr);
	expect_ingest(&r, EVENTS, EVENTS, 0, "POST the horizon data set");
	http_resp_free(&r);
	json_object_put(arr);
}

static void
check_all(const struct model_event *e, size_t n, int64_t today)
{
	check_dau(e, n, today - 110, today);
	check_top_events(e, n, today - 110, today, 10);
	for (int64_t s = today - 100; s < today - 90; s += 3) {
		check_retention(e, n, s, 100, 1);
		check_retention(e, n, s, 14, 7);
	}
}

/* The zone-aware answers (user bitmaps, migration 0011) over the data set's days, as one
 * string: pruning must leave it as it was. */
static char *
zone_answers(int64_t today)
{
	static const char *const paths[] = {
	    "/stats/dau?tz=Asia/Kathmandu&from=%s&to=%s",
	    "/stats/dau?tz=America/New_York&event_type=h_buy&from=%s&to=%s",
	    "/stats/active-users?tz=Asia/Kathmandu&window=7&from=%s&to=%s",
	    "/stats/top-events?tz=Australia/Lord_Howe&from=%s&to=%s",
	    "/stats/retention?tz=Asia/Kolkata&start_event=h_open&return_event=h_buy&windows=30"
	    "&start_date=%s"}; /* (the retention path takes from only) */
	char from[11], to[11], path[256];
	size_t len = 0;
	char *all = NULL;
	event_date_format(today - 110, from);
	event_date_format(today, to);
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		struct http_resp r;
		snprintf(path, sizeof path, paths[i], from, to);
		expect_get_json(&r, path);
		all = realloc(all, len + r.len + 2);
		cr_assert(all, "out of memory");
		memcpy(all + len, r.body, r.len);
		len += r.len;
		all[len++] = '\n';
		all[len] = '\0';
		http_resp_free(&r);
	}
	return all;
}

static long long
old_events(PGconn *db)
{
	char sql[160];
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM events WHERE occurred_at < now() - interval '%d days'",
		 HORIZON + 1);
	return db_scalar_ll(db, sql, 0, NULL);
}

/* POST one event at occurred_at to the stack at base; its status. */
static long
post_one(const char *base, const char *at, struct http_resp *r)
{
	struct http_client *c = http_client_new();
	char id[37];
	json_object *e = it_event(id, at, "h-late", "h_late");
	const char *body = json_object_to_json_string(e);
	http_client_set_base_url(c, base);
	http_client_request(c, r, "POST", "/events", "application/json", body, strlen(body), NULL);
	json_object_put(e);
	http_client_free(c);
	return r->status;
}

Test(horizon, prune_keeps_statistics, .init = it_own_stack_init, .fini = it_own_stack_fini,
     .timeout = 240)
{
	struct it_side_stack side = {0};
	int64_t today = (int64_t)(time(NULL) / 86400);
	PGconn *db = db_open();
	char base[64], at[32], date[11], cmd[512];
	struct http_resp r;
	for (int k = 0; k < USERS; k++)
		snprintf(names[k], sizeof names[k], "h-%d", k);
	post_data(today);
	check_all(ev, EVENTS, today);
	cr_assert_gt(old_events(db), 0);
	char *zones = zone_answers(today);

	/* a pool with the horizon prunes at start */
	it_side_stack_up(&side, "RAW_RETENTION_DAYS=60");
	for (int i = 0; i < 300 && old_events(db) > 0; i++)
		it_sleep(0.1);
	cr_expect_eq(old_events(db), 0, "events past the horizon were pruned");
	cr_expect_eq(db_scalar_ll(db, "SELECT count(*) FROM events", 0, NULL), EVENTS / 2,
		     "the recent half is kept");
	check_all(ev, EVENTS, today);
	char *zones_after = zone_answers(today);
	cr_expect_str_eq(zones_after, zones, "the zone-aware answers after pruning");
	free(zones);
	free(zones_after);

	/* past the horizon: 422 from the pool with the horizon; inside: stored */
	snprintf(base, sizeof base, "http://127.0.0.1:%d", side.port);
	event_date_format(today - HORIZON - 2, date);
	snprintf(at, sizeof at, "%sT12:00:00Z", date);
	cr_expect_eq(post_one(base, at, &r), 422, "%s: %s", at, r.body);
	cr_expect(strstr(r.body, "occurred_at: older than the raw-data horizon") != NULL, "%s",
		  r.body);
	http_resp_free(&r);
	event_date_format(today - HORIZON + 2, date);
	snprintf(at, sizeof at, "%sT12:00:00Z", date);
	cr_expect_eq(post_one(base, at, &r), 200, "%s: %s", at, r.body);
	http_resp_free(&r);
	it_side_stack_down(&side);

	/* the loader refuses the same row (RAW_RETENTION_DAYS from its environment) */
	event_date_format(today - HORIZON - 2, date);
	snprintf(cmd, sizeof cmd,
		 "printf 'event_id,occurred_at,user_id,event_type,properties_json\\n"
		 "0b0e1d5a-6c1f-4a57-9d2b-4f3c2a1b0c9d,%sT12:00:00Z,h-late,h_late,\\n' |"
		 " RAW_RETENTION_DAYS=60 build/import_events - | grep -q '\"rejected\":1'",
		 date);
	cr_expect_eq(system(cmd), 0, "%s", cmd);

	/* erasing a user whose old events were pruned still takes them out of every answer */
	long long kept = 0;
	size_t m = 0;
	static struct model_event rest[EVENTS + 1];
	for (int i = 0; i < EVENTS; i++) {
		if (strcmp(ev[i].user, "h-3") != 0)
			rest[m++] = ev[i];
		else
			kept += i % 2 == 0;
	}
	http_request(&r, "DELETE", "/users/h-3", NULL, NULL, 0, NULL);
	cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
	cr_expect_eq(json_object_get_int64(jget(r.json, "deleted_events")), kept,
		     "the stored (recent) events of h-3: %s", r.body);
	http_resp_free(&r);
	/* the model: the events above minus h-3's, plus the late one stored inside the horizon */
	rest[m] =
	    (struct model_event){.day = today - HORIZON + 2, .user = "h-late", .type = "h_late"};
	rest[m].us = model_us(at);
	check_all(rest, m + 1, today);
	PQfinish(db);
}
