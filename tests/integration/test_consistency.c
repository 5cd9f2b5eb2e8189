/* test_consistency.c: the per-day summaries against the truth. Four HTTP clients and a CSV
 * load write one pool of events concurrently, in random batches, with duplicates and late
 * events (older than what their user had so far), all in 2018. Then every stats route, over
 * many ranges, must equal both a SQL recomputation from the raw events table and the test's
 * own model; and in many time zones, with event filters, rolling windows and start/return
 * events, the recomputation (stats_sql.c). Any difference fails. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "client.h"
#include "event.h"
#include "stats_sql.h"

enum { NEV = 6000, NUSERS = 250, NCLIENTS = 4, CSV_SHARE = 1500 };

#define FIRST_DAY INT64_C(17532) /* 2018-01-01 */
#define NDAYS 90

static const char *const types[] = {"k_open",	"k_view", "k_view", "k_view", "k_buy",
				    "k_search", "k_open", "K_Z",    "k_open", "k_b a"};

static struct model_event ev[NEV];
static char *json_of[NEV];
static char at_of[NEV][40];
static char users[NUSERS][32];

struct client {
	int id;
	long bad;
	char bad_body[256];
};

/* Each client owns a quarter of the events (outside the CSV share) and also resends random
 * events of the others, in random batch sizes and random order. */
static void *
run_client(void *arg)
{
	struct client *c = arg;
	struct http_client *h = http_client_new();
	unsigned seed = 104729u * (unsigned)(c->id + 3);
	int *mine = malloc(sizeof(int) * NEV), n = 0;
	for (int i = CSV_SHARE; i < NEV; i++)
		if (i % NCLIENTS == c->id)
			mine[n++] = i;
	for (int i = n - 1; i > 0; i--) {
		int k = (int)(rand_r(&seed) % (unsigned)(i + 1)), t = mine[i];
		mine[i] = mine[k];
		mine[k] = t;
	}
	http_client_set_timeout(h, 60);
	for (int pos = 0; pos < n;) {
		int size = 1 + (int)(rand_r(&seed) % 300), extra = (int)(rand_r(&seed) % 20);
		size_t cap = 16, len = 0;
		for (int i = 0; i < size && pos + i < n; i++)
			cap += strlen(json_of[mine[pos + i]]) + 1;
		for (int i = 0; i < extra; i++)
			cap += 600;
		char *body = malloc(cap);
		body[len++] = '[';
		for (int i = 0; i < size && pos < n; i++, pos++)
			len += (size_t)sprintf(body + len, "%s%s", len > 1 ? "," : "",
					       json_of[mine[pos]]);
		for (int i = 0; i < extra; i++) /* duplicates of anybody's events */
			len += (size_t)sprintf(body + len, ",%s", json_of[rand_r(&seed) % NEV]);
		body[len++] = ']';
		body[len] = '\0';
		struct http_resp r;
		http_client_request(h, &r, "POST", "/events", "application/json", body, len, NULL);
		if (r.status != 200) {
			c->bad++;
			snprintf(c->bad_body, sizeof c->bad_body, "%ld %.200s", r.status,
				 r.body ? r.body : r.curl_error);
		}
		http_resp_free(&r);
		free(body);
	}
	free(mine);
	http_client_free(h);
	return NULL;
}

/* The CSV share, plus duplicates of random others, loaded with the bulk loader. */
static pid_t
start_csv_load(const char *path)
{
	unsigned seed = 99;
	FILE *f = fopen(path, "w");
	cr_assert(f, "write %s", path);
	fprintf(f, "event_id,occurred_at,user_id,event_type,properties_json\n");
	for (int k = 0; k < CSV_SHARE + 300; k++) {
		int i = k < CSV_SHARE ? CSV_SHARE - 1 - k : (int)(rand_r(&seed) % NEV);
		fprintf(f, "%s,%s,%s,%s,\"{\"\"via\"\":\"\"csv\"\"}\"\n", ev[i].event_id, at_of[i],
			ev[i].user, ev[i].type);
	}
	fclose(f);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(126);
		execl("build/import_events", "import_events", path, "--batch-size", "200",
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void
make_events(void)
{
	unsigned seed = 4242;
	char tag[9];
	it_hex(tag, 4);
	for (int u = 0; u < NUSERS; u++)
		snprintf(users[u], sizeof users[u], "cons-%s-%d", tag, u);
	for (int i = 0; i < NEV; i++) {
		static const char *const offs[] = {"Z", "+03:00", "-05:00", "+09:30"};
		/* users arrive over time; each is active on a few days after arriving */
		int u = (int)(rand_r(&seed) % NUSERS);
		int arrive = u * NDAYS / NUSERS / 2;
		int day = arrive + (int)(rand_r(&seed) % (unsigned)(NDAYS - arrive));
		int64_t y;
		unsigned m, d;
		const char *err;
		event_civil_from_days(FIRST_DAY + day, &y, &m, &d);
		snprintf(at_of[i], sizeof at_of[i], "%04lld-%02u-%02uT%02u:%02u:%02u%s",
			 (long long)y, m, d, rand_r(&seed) % 24, rand_r(&seed) % 60,
			 rand_r(&seed) % 60, offs[rand_r(&seed) % 4]);
		it_uuid(ev[i].event_id);
		cr_assert_eq(event_time_parse(at_of[i], strlen(at_of[i]), &ev[i].us, &err), 0);
		ev[i].day = event_day_of(ev[i].us);
		ev[i].user = users[u];
		ev[i].type = types[rand_r(&seed) % (sizeof types / sizeof types[0])];
		json_object *o = json_object_new_object();
		json_object_object_add(o, "event_id", json_object_new_string(ev[i].event_id));
		json_object_object_add(o, "occurred_at", json_object_new_string(at_of[i]));
		json_object_object_add(o, "user_id", json_object_new_string(ev[i].user));
		json_object_object_add(o, "event_type", json_object_new_string(ev[i].type));
		json_of[i] = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	}
}

/* Every zone, filter and window over random ranges against the SQL recomputation. */
static void
zones_match_sql(PGconn *db, unsigned *seed)
{
	/* in 2018: New York's 23-hour day on 03-11, Kyiv's on 03-25, Lord Howe's on 04-01 */
	for (size_t z = 0; z < it_nzones; z++) {
		const char *tz = it_zones[z];
		int64_t a = FIRST_DAY - 1 + rand_r(seed) % NDAYS, b = a + rand_r(seed) % 40;
		check_dau_sql(db, &(struct stats_q){tz, NULL, NULL}, a, b);
		check_dau_sql(db, &(struct stats_q){tz, "k_buy", NULL}, a, b);
		check_dau_sql(db, &(struct stats_q){tz, "k_b a", NULL}, a, b);
		check_active_sql(db, &(struct stats_q){tz, NULL, NULL}, a, b, 7);
		check_active_sql(db, &(struct stats_q){tz, "k_view", NULL}, a, b,
				 1 + (int)(rand_r(seed) % 30));
		check_top_sql(db, &(struct stats_q){tz, NULL, NULL}, a, b,
			      1 + (int)(rand_r(seed) % 8));
		int64_t s = FIRST_DAY - 2 + rand_r(seed) % (NDAYS + 4);
		check_retention_sql(db, &(struct stats_q){tz, NULL, NULL}, s, 7, 1);
		check_retention_sql(db, &(struct stats_q){tz, "k_open", "k_buy"}, s, 7, 1);
		check_retention_sql(db, &(struct stats_q){tz, "K_Z", NULL}, s, 4, 7);
		check_retention_sql(db, &(struct stats_q){tz, NULL, "k_search"}, s, 4, 7);
	}
}

Test(consistency, concurrent_mix_equals_recomputation, .timeout = 300)
{
	char csv[] = "/tmp/events-consistency-XXXXXX.csv";
	struct client clients[NCLIENTS];
	pthread_t th[NCLIENTS];
	unsigned seed = 777;
	make_events();
	int fd = mkstemps(csv, 4);
	cr_assert_geq(fd, 0);
	close(fd);
	pid_t loader = start_csv_load(csv);
	for (int t = 0; t < NCLIENTS; t++) {
		memset(&clients[t], 0, sizeof clients[t]);
		clients[t].id = t;
		cr_assert_eq(pthread_create(&th[t], NULL, run_client, &clients[t]), 0);
	}
	for (int t = 0; t < NCLIENTS; t++)
		pthread_join(th[t], NULL);
	int st;
	cr_assert_eq(waitpid(loader, &st, 0), loader);
	unlink(csv);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "import_events exit status %d",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	for (int t = 0; t < NCLIENTS; t++)
		cr_assert_eq(clients[t].bad, 0, "client %d: %ld failed requests, last: %s", t,
			     clients[t].bad, clients[t].bad_body);

	PGconn *db = db_open();
	char *ids[NEV];
	for (int i = 0; i < NEV; i++)
		ids[i] = ev[i].event_id;
	cr_assert_eq(db_count_ids(db, ids, NEV), NEV, "every event stored once");
	int64_t last = FIRST_DAY + NDAYS + 1;
	/* the whole period, then random ranges */
	struct stats_q utc = {0}; /* no tz: the server's default, UTC */
	check_dau(ev, NEV, FIRST_DAY - 1, last);
	check_dau_sql(db, &utc, FIRST_DAY - 1, last);
	check_top_events(ev, NEV, FIRST_DAY - 1, last, 1000);
	check_top_sql(db, &utc, FIRST_DAY - 1, last, 1000);
	for (int i = 0; i < 12; i++) {
		int64_t a = FIRST_DAY + rand_r(&seed) % NDAYS, b = a + rand_r(&seed) % 40;
		int limit = 1 + (int)(rand_r(&seed) % 8);
		check_dau(ev, NEV, a, b);
		check_dau_sql(db, &utc, a, b);
		check_top_events(ev, NEV, a, b, limit);
		check_top_sql(db, &utc, a, b, limit);
	}
	/* retention from every start day (every phase of the week buckets) against the model,
	 * some of them against SQL too */
	for (int64_t start = FIRST_DAY - 8; start <= FIRST_DAY + NDAYS + 2; start++) {
		check_retention(ev, NEV, start, 7, 1);
		check_retention(ev, NEV, start, 13, 7);
	}
	for (int i = 0; i < 10; i++) {
		int64_t start = FIRST_DAY - 2 + rand_r(&seed) % (NDAYS + 4);
		check_retention_sql(db, &utc, start, 7, 1);
		check_retention_sql(db, &utc, start, 4, 7);
	}
	zones_match_sql(db, &seed);
	it_check_summaries(db);
	PQfinish(db);
	for (int i = 0; i < NEV; i++)
		free(json_of[i]);
}
