/* test_concurrency.c: eight clients post the same 2000 fresh events at once, each in its own
 * order. Every answer is 200, every event is accepted exactly once over all clients, and the
 * statistics equal the model. The events are dated 2003 so the sample's statistics don't move. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "client.h"
#include "event.h"

enum { NEV = 2000, NTHREADS = 8, CBATCH = 250, NUSERS = 60 };

static const char *const types[] = {"c_view", "c_click", "c_buy", "c_share",
				    "c_open", "c_B",	 "c_a"};

struct job {
	int id;
	char **json; /* NEV serialized events, shared, read-only */
	pthread_barrier_t *barrier;
	/* results */
	long accepted, duplicates, received;
	int requests, bad;
	long bad_status;
	char bad_body[256];
};

static void *
run_job(void *arg)
{
	struct job *j = arg;
	struct http_client *c = http_client_new();
	int order[NEV];
	unsigned seed = 7919u * (unsigned)(j->id + 1);

	http_client_set_timeout(c, 60);
	for (int i = 0; i < NEV; i++)
		order[i] = i;
	for (int i = NEV - 1; i > 0; i--) {
		int k = rand_r(&seed) % (i + 1), t = order[i];

		order[i] = order[k];
		order[k] = t;
	}
	pthread_barrier_wait(j->barrier);
	for (int b = 0; b < NEV; b += CBATCH) {
		size_t cap = 2, o = 0;
		char *body;
		struct http_resp r;

		for (int i = b; i < b + CBATCH; i++)
			cap += strlen(j->json[order[i]]) + 1;
		body = malloc(cap + 1);
		if (!body) {
			j->bad++;
			break;
		}
		body[o++] = '[';
		for (int i = b; i < b + CBATCH; i++) {
			size_t l = strlen(j->json[order[i]]);

			if (i > b)
				body[o++] = ',';
			memcpy(body + o, j->json[order[i]], l);
			o += l;
		}
		body[o++] = ']';
		body[o] = '\0';
		http_client_request(c, &r, "POST", "/events", "application/json", body, o, NULL);
		j->requests++;
		if (r.status == 200 && r.json && jget(r.json, "accepted") &&
		    jget(r.json, "duplicates")) {
			j->accepted += (long)json_object_get_int64(jget(r.json, "accepted"));
			j->duplicates += (long)json_object_get_int64(jget(r.json, "duplicates"));
			j->received += (long)json_object_get_int64(jget(r.json, "received"));
		} else {
			j->bad++;
			j->bad_status = r.status;
			snprintf(j->bad_body, sizeof(j->bad_body), "%.150s%.100s", r.body,
				 r.status ? "" : r.curl_error);
		}
		http_resp_free(&r);
		free(body);
	}
	http_client_free(c);
	return NULL;
}

Test(concurrency, eight_clients_same_events, .timeout = 180)
{
	static struct model_event ev[NEV];
	static char users[NUSERS][48];
	static char *json[NEV];
	char *ids[NEV];
	char tag[13];
	unsigned seed = 12345;
	struct job jobs[NTHREADS];
	pthread_t th[NTHREADS];
	pthread_barrier_t barrier;
	long accepted = 0;
	PGconn *db;

	it_hex(tag, 6);
	for (int u = 0; u < NUSERS; u++)
		snprintf(users[u], sizeof(users[u]), "conc-%s-%d", tag, u);
	for (int i = 0; i < NEV; i++) {
		char at[64];
		const char *err = NULL;
		json_object *o = json_object_new_object();
		/* mixed offsets put some events on the neighbouring UTC day */
		static const char *const offs[] = {"Z", "+05:00", "-07:30", "+00:00"};
		const char *off = offs[rand_r(&seed) % 4];

		snprintf(at, sizeof(at), "2003-03-%02dT%02d:%02d:%02d%s", 1 + rand_r(&seed) % 20,
			 rand_r(&seed) % 24, rand_r(&seed) % 60, rand_r(&seed) % 60, off);
		it_uuid(ev[i].event_id);
		cr_assert_eq(event_time_parse(at, strlen(at), &ev[i].us, &err), 0,
			     "model: expected %s to parse", at);
		ev[i].day = event_day_of(ev[i].us);
		ev[i].user = users[rand_r(&seed) % NUSERS];
		/* skewed type counts so the order by count is not all ties */
		ev[i].type = types[(rand_r(&seed) % 28) % 7 * (rand_r(&seed) % 2)];
		json_object_object_add(o, "event_id", json_object_new_string(ev[i].event_id));
		json_object_object_add(o, "occurred_at", json_object_new_string(at));
		json_object_object_add(o, "user_id", json_object_new_string(ev[i].user));
		json_object_object_add(o, "event_type", json_object_new_string(ev[i].type));
		json_object_object_add(o, "properties", json_object_new_object());
		json[i] = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		cr_assert(json[i], "strdup");
		json_object_put(o);
		ids[i] = ev[i].event_id;
	}

	cr_assert_eq(pthread_barrier_init(&barrier, NULL, NTHREADS), 0, "pthread_barrier_init");
	for (int t = 0; t < NTHREADS; t++) {
		memset(&jobs[t], 0, sizeof(jobs[t]));
		jobs[t].id = t;
		jobs[t].json = json;
		jobs[t].barrier = &barrier;
		cr_assert_eq(pthread_create(&th[t], NULL, run_job, &jobs[t]), 0, "pthread_create");
	}
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	pthread_barrier_destroy(&barrier);

	for (int t = 0; t < NTHREADS; t++) {
		cr_assert_eq(jobs[t].bad, 0,
			     "client %d: expected every answer to be 200 with counts; %d were not, "
			     "last: status %ld body '%s'",
			     t, jobs[t].bad, jobs[t].bad_status, jobs[t].bad_body);
		cr_assert_eq(jobs[t].requests, NEV / CBATCH, "client %d: expected %d requests", t,
			     NEV / CBATCH);
		cr_assert_eq(jobs[t].received, NEV,
			     "client %d: expected received to sum to %d, got %ld", t, NEV,
			     jobs[t].received);
		cr_assert_eq(jobs[t].accepted + jobs[t].duplicates, NEV,
			     "client %d: expected accepted+duplicates to sum to %d, got %ld+%ld", t,
			     NEV, jobs[t].accepted, jobs[t].duplicates);
		accepted += jobs[t].accepted;
	}
	cr_assert_eq(accepted, NEV,
		     "expected the accepted counts of all clients to sum to exactly %d, got %ld",
		     NEV, accepted);

	db = db_open();
	cr_assert_eq(db_count_ids(db, ids, NEV), NEV, "expected exactly %d of the ids stored", NEV);
	{
		const char *p[1] = {"conc-%"};
		char like[64];

		snprintf(like, sizeof(like), "conc-%s-%%", tag);
		p[0] = like;
		cr_assert_eq(
		    db_scalar_ll(db, "SELECT count(*) FROM events WHERE user_id LIKE $1", 1, p),
		    NEV, "expected exactly %d rows of this test's users", NEV);
	}
	PQfinish(db);

	{
		int64_t from, to;
		const char *err = NULL;

		cr_assert_eq(event_date_parse("2003-01-01", 10, &from, &err), 0, "date");
		cr_assert_eq(event_date_parse("2003-12-31", 10, &to, &err), 0, "date");
		check_dau(ev, NEV, from + 57, from + 82); /* 2003-02-27 .. 2003-03-24 */
		check_dau(ev, NEV, from, to);
		check_top_events(ev, NEV, from, to, 1000);
		check_top_events(ev, NEV, from + 59, from + 61, 2);
		check_retention(ev, NEV, from + 58, 10, 1);
		check_retention(ev, NEV, from + 59, 3, 7);
	}
	for (int i = 0; i < NEV; i++)
		free(json[i]);
}
