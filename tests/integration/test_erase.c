/* DELETE /users/{user_id}: the user's events and its trace in every summary go, in one
 * transaction; afterwards the statistics equal those of a store that never had the user
 * (checked against the reference model through the API, and every summary against a
 * recomputation from the raw events). Also: percent-encoded and integer ids, idempotence,
 * refusals, and erasure racing ingestion of the same user. */
#include "client.h"
#include "event.h"

#include <criterion/criterion.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { USERS = 12, DAYS = 24, EVENTS = 900 };

static const char *const types[] = {"open", "view", "buy", "share"};

/* User k's id; 0 and 1 are the ones erased: one with a space and a slash, one integer. */
static void
user_name(int k, char out[32])
{
	if (k == 0)
		snprintf(out, 32, "erase me/%s", "x y");
	else if (k == 1)
		snprintf(out, 32, "%d", 1991000 + k);
	else
		snprintf(out, 32, "erase-keep-%d", k);
}

/* DELETE path, answer checked: 200 {"user_id": user, "deleted_events": want}. */
static void
expect_erased(const char *path, const char *user, long long want)
{
	struct http_resp r;
	char what[160];
	snprintf(what, sizeof what, "DELETE %s", path);
	http_request(&r, "DELETE", path, NULL, NULL, 0, NULL);
	cr_assert_eq(r.status, 200, "%s: %ld %s", what, r.status, r.body);
	expect_json_response(&r, what);
	cr_expect(jstr_is(r.json, "user_id", user), "%s: user_id in %s", what, r.body);
	cr_expect_eq(json_object_get_int64(jget(r.json, "deleted_events")), want,
		     "%s: deleted_events in %s", what, r.body);
	http_resp_free(&r);
}

/* Posts the events (only those of users 0 and 1 when only_erased) as one batch, each with a
 * new event_id written into ev[i]; ev[i]'s user is names[u[i]]. */
static void
post_events(struct model_event *ev, size_t n, char names[][32], const int *u, int only_erased)
{
	json_object *arr = json_object_new_array();
	struct http_resp r;
	size_t sent = 0;
	for (size_t i = 0; i < n; i++) {
		if (only_erased && u[i] > 1)
			continue;
		char at[32], date[11];
		json_object *e;
		event_date_format(ev[i].day, date);
		snprintf(at, sizeof at, "%sT%02d:%02d:00Z", date, (int)(i % 24), (int)(i % 60));
		e = it_event(ev[i].event_id, at, names[u[i]], ev[i].type);
		if (u[i] == 1) /* the integer form of the same user */
			json_object_object_add(e, "user_id",
					       json_object_new_int64(strtoll(names[1], NULL, 10)));
		json_object_array_add(arr, e);
		ev[i].us = model_us(at);
		ev[i].user = names[u[i]];
		sent++;
	}
	http_post_obj(&r, "/events", arr);
	expect_ingest(&r, (long)sent, (long)sent, 0, "POST the erase data set");
	http_resp_free(&r);
	json_object_put(arr);
}

/* The model's events without those of users 0 and 1. */
static size_t
keep_others(struct model_event *ev, size_t n, const int *u, struct model_event *out)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (u[i] > 1)
			out[m++] = ev[i];
	return m;
}

static void
check_stats(const struct model_event *ev, size_t n, int64_t from)
{
	check_dau(ev, n, from, from + DAYS + 2);
	check_top_events(ev, n, from, from + DAYS + 2, 10);
	for (int64_t s = from; s < from + 6; s++) {
		check_retention(ev, n, s, 10, 1);
		check_retention(ev, n, s, 3, 7);
	}
}

Test(erase, as_if_never_sent, .init = it_db_init, .fini = it_db_fini, .timeout = 120)
{
	static struct model_event ev[EVENTS], kept[EVENTS];
	static int u[EVENTS];
	char names[USERS][32];
	int64_t from = model_day("1991-03-01");
	long long mine[2] = {0, 0};
	size_t m;
	srand(1991);
	for (int k = 0; k < USERS; k++)
		user_name(k, names[k]);
	for (size_t i = 0; i < EVENTS; i++) {
		u[i] = rand() % USERS;
		/* the erased users share days, types and cohorts with the others; user 0's
		 * first event comes last (a late event that moved its cohort) */
		ev[i].day = from + (u[i] == 0 && i == EVENTS - 1 ? -1 : rand() % DAYS);
		ev[i].type = types[rand() % 4];
		if (u[i] < 2)
			mine[u[i]]++;
	}
	post_events(ev, EVENTS, names, u, 0);
	cr_assert_gt(mine[0], 10);
	cr_assert_gt(mine[1], 10);

	/* space as %20, the slash as %2F (a raw slash would be a path separator) */
	expect_erased("/users/erase%20me%2Fx%20y", names[0], mine[0]);
	expect_erased("/users/1991001", names[1], mine[1]);
	m = keep_others(ev, EVENTS, u, kept);
	it_check_summaries(it_db);
	check_stats(kept, m, from - 1);
	const char *p[] = {names[0], names[1]};
	cr_expect_eq(
	    db_scalar_ll(it_db, "SELECT count(*) FROM events WHERE user_id IN ($1, $2)", 2, p), 0,
	    "events of the erased users are gone");

	/* the worker's log holds no trace of the erased ids (nginx's access log does: README) */
	char cmd[256];
	it_wait_worker_log();
	snprintf(cmd, sizeof cmd, "grep -q -e 'erase me' -e 1991001 %s/log/worker.log",
		 getenv("EVENTS_VAR_DIR"));
	cr_expect_neq(system(cmd), 0, "an erased user's id is in the worker log");

	/* idempotent: nothing left to erase */
	expect_erased("/users/erase%20me%2Fx%20y", names[0], 0);
	expect_erased("/users/never-seen-1991", "never-seen-1991", 0);

	/* the erased users' events sent again later are stored as new ones */
	post_events(ev, EVENTS, names, u, 1);
	check_stats(ev, EVENTS, from - 1);
	it_check_summaries(it_db);
}

static void
expect_status(const char *method, const char *path, long status, const char *code)
{
	struct http_resp r;
	char what[160];
	snprintf(what, sizeof what, "%s %s", method, path);
	http_request(&r, method, path, NULL, NULL, 0, NULL);
	expect_error(&r, status, code, what);
	http_resp_free(&r);
}

Test(erase, refusals)
{
	struct http_client *c = http_client_new();
	struct http_resp r;
	expect_status("DELETE", "/users/a/b", 404, "not_found");
	expect_status("DELETE", "/users/", 404, "not_found");
	expect_status("GET", "/users/someone", 405, "method_not_allowed");
	expect_status("DELETE", "/users/%FF%FE", 400, "bad_request");
	expect_status("DELETE", "/users/a%01b", 422, "validation_failed");
	/* without API keys the route is open to the addresses /metrics is open to */
	http_client_set_interface(c, "127.0.0.2");
	cr_assert_eq(http_client_request(c, &r, "DELETE", "/users/someone", NULL, NULL, 0, NULL), 0,
		     "%s", r.curl_error);
	cr_expect_eq(r.status, 200, "loopback 127.0.0.2 may erase: %ld %s", r.status, r.body);
	http_resp_free(&r);
	http_client_free(c);
}

/* Erasure racing ingestion of the same user: every batch either committed before an erasure
 * (and is erased with the user) or after it (and stays): the events erased plus those left
 * are exactly those accepted, and every summary matches the events left. */
enum { RACE_BATCHES = 40, RACE_PER_BATCH = 25, RACE_ERASURES = 25 };

struct race {
	long long accepted;
	atomic_int done;
};

static void *
race_ingest(void *arg)
{
	struct http_client *c = http_client_new();
	struct race *race = arg;
	char ids[RACE_PER_BATCH * 37];
	for (int b = 0; b < RACE_BATCHES; b++) {
		json_object *arr = json_object_new_array();
		struct http_resp r;
		for (int i = 0; i < RACE_PER_BATCH; i++) {
			char at[32];
			snprintf(at, sizeof at, "1995-06-%02dT10:%02d:00Z", 1 + (b + i) % 20, i);
			json_object_array_add(arr, it_event(ids + 37 * i, at, "race-user-1995",
							    i % 2 ? "race_a" : "race_b"));
		}
		const char *body = json_object_to_json_string(arr);
		http_client_request(c, &r, "POST", "/events", "application/json", body,
				    strlen(body), NULL);
		if (r.status == 200)
			race->accepted += json_object_get_int64(jget(r.json, "accepted"));
		http_resp_free(&r);
		json_object_put(arr);
	}
	http_client_free(c);
	atomic_store(&race->done, 1);
	return NULL;
}

Test(erase, races_ingest, .init = it_db_init, .fini = it_db_fini, .timeout = 120)
{
	struct http_client *c = http_client_new();
	pthread_t t;
	struct race race = {0};
	long long erased = 0, left, accepted;
	const char *p[] = {"race-user-1995"};
	cr_assert_eq(pthread_create(&t, NULL, race_ingest, &race), 0);
	/* at least RACE_ERASURES, and on until the ingestion is over */
	for (int k = 0; k < RACE_ERASURES || !atomic_load(&race.done); k++) {
		struct http_resp r;
		http_client_request(c, &r, "DELETE", "/users/race-user-1995", NULL, NULL, 0, NULL);
		cr_expect_eq(r.status, 200, "erasure %d: %ld %s", k, r.status, r.body);
		if (r.status == 200)
			erased += json_object_get_int64(jget(r.json, "deleted_events"));
		http_resp_free(&r);
		it_sleep(0.01);
	}
	pthread_join(t, NULL);
	http_client_free(c);
	accepted = race.accepted;
	cr_expect_eq(accepted, RACE_BATCHES * RACE_PER_BATCH, "every batch was stored");
	left = db_scalar_ll(it_db, "SELECT count(*) FROM events WHERE user_id = $1", 1, p);
	cr_expect_eq(erased + left, accepted, "erased %lld + left %lld = accepted %lld", erased,
		     left, accepted);
	cr_expect_gt(erased, 0, "the erasures overlapped the ingestion");
	it_check_summaries(it_db);
}
