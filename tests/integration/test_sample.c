/* test_sample.c: the sample file goes in through POST /events, and every statistic equals a
 * recomputation from the file. Criterion runs the tests of a suite in name order, so t1 loads
 * and t2 resends. Other suites store events only outside the sample's dates and with user ids
 * the sample does not use, so they cannot move these numbers. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "client.h"
#include "event.h"

enum { BATCH = 500 };

struct sample {
	struct csv_table csv;
	struct model_event *ev; /* one per row, file order */
	size_t n;
	size_t distinct; /* distinct event ids */
	int c_id, c_at, c_user, c_type, c_props;
};

/* A user id the API reads as the same user whether sent as a string or as an integer: all
 * digits, no leading zero, in int64 range. */
static int
integer_user(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 18 || (s[0] == '0' && n > 1))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static void
sample_read(struct sample *s)
{
	const char *path = getenv("EVENTS_SAMPLE_CSV");
	char err[256];

	memset(s, 0, sizeof(*s));
	cr_assert(path && *path, "EVENTS_SAMPLE_CSV must be set");
	cr_assert_eq(csv_read_file(path, &s->csv, err, sizeof(err)), 0,
		     "expected the sample CSV to be readable RFC 4180: %s", err);
	cr_assert_eq(s->csv.nrows, 5000, "expected 5000 rows in the sample, got %zu", s->csv.nrows);
	s->c_id = csv_col(&s->csv, "event_id");
	s->c_at = csv_col(&s->csv, "occurred_at");
	s->c_user = csv_col(&s->csv, "user_id");
	s->c_type = csv_col(&s->csv, "event_type");
	s->c_props = csv_col(&s->csv, "properties_json");
	cr_assert(s->c_id >= 0 && s->c_at >= 0 && s->c_user >= 0 && s->c_type >= 0 &&
		      s->c_props >= 0,
		  "expected the sample header to name every column");
	s->ev = calloc(s->csv.nrows, sizeof(*s->ev));
	cr_assert(s->ev, "calloc");
	for (size_t i = 0; i < s->csv.nrows; i++) {
		char **row = s->csv.rows[i];
		struct model_event *e = &s->ev[i];
		const char *at = row[s->c_at], *err2 = NULL;

		cr_assert_eq(s->csv.row_cols[i], s->csv.ncols,
			     "expected %zu fields on data row %zu", s->csv.ncols, i + 1);
		cr_assert_eq(strlen(row[s->c_id]), 36, "row %zu: expected a 36-char event_id",
			     i + 1);
		for (size_t k = 0; k < 36; k++)
			e->event_id[k] = (char)((row[s->c_id][k] >= 'A' && row[s->c_id][k] <= 'F')
						    ? row[s->c_id][k] + 32
						    : row[s->c_id][k]);
		cr_assert_eq(event_time_parse(at, strlen(at), &e->us, &err2), 0,
			     "row %zu: expected a valid occurred_at '%s': %s", i + 1, at,
			     err2 ? err2 : "");
		e->day = event_day_of(e->us);
		e->user = row[s->c_user];
		e->type = row[s->c_type];
	}
	s->n = s->csv.nrows;
	{
		struct model_event *copy = malloc(s->n * sizeof(*copy));

		cr_assert(copy, "malloc");
		memcpy(copy, s->ev, s->n * sizeof(*copy));
		s->distinct = model_dedup(copy, s->n);
		free(copy);
	}
}

static json_object *
row_event(const struct sample *s, size_t i)
{
	char **row = s->csv.rows[i];
	json_object *o = json_object_new_object();
	const char *user = row[s->c_user], *props = row[s->c_props];

	json_object_object_add(o, "event_id", json_object_new_string(row[s->c_id]));
	json_object_object_add(o, "occurred_at", json_object_new_string(row[s->c_at]));
	if (i % 2 == 1 && integer_user(user))
		json_object_object_add(o, "user_id",
				       json_object_new_int64(strtoll(user, NULL, 10)));
	else
		json_object_object_add(o, "user_id", json_object_new_string(user));
	json_object_object_add(o, "event_type", json_object_new_string(row[s->c_type]));
	if (*props) {
		json_object *p = json_tokener_parse(props);

		cr_assert(p && json_object_is_type(p, json_type_object),
			  "row %zu: expected properties_json to be a JSON object: %s", i + 1,
			  props);
		json_object_object_add(o, "properties", p);
	}
	return o;
}

/* Posts every row in batches; returns the sum of accepted. want_accepted < 0: not checked. */
static long
sample_post(const struct sample *s, long want_accepted_each)
{
	long total = 0;

	for (size_t b = 0; b < s->n; b += BATCH) {
		size_t end = b + BATCH < s->n ? b + BATCH : s->n;
		json_object *arr = json_object_new_array();
		struct http_resp r;
		char what[96];

		for (size_t i = b; i < end; i++)
			json_object_array_add(arr, row_event(s, i));
		snprintf(what, sizeof(what), "POST /events rows %zu..%zu", b + 1, end);
		http_post_obj(&r, "/events", arr);
		expect_ingest(&r, (long)(end - b), want_accepted_each,
			      want_accepted_each < 0 ? -1 : (long)(end - b) - want_accepted_each,
			      what);
		total += (long)json_object_get_int64(jget(r.json, "accepted"));
		http_resp_free(&r);
		json_object_put(arr);
	}
	return total;
}

static void
sample_check_stats(struct sample *s)
{
	struct model_event *ev = malloc(s->n * sizeof(*ev));
	int64_t lo, hi;
	size_t n;

	cr_assert(ev, "malloc");
	memcpy(ev, s->ev, s->n * sizeof(*ev));
	n = model_dedup(ev, s->n);
	lo = hi = ev[0].day;
	for (size_t i = 0; i < n; i++) {
		if (ev[i].day < lo)
			lo = ev[i].day;
		if (ev[i].day > hi)
			hi = ev[i].day;
	}
	check_dau(ev, n, lo - 2, hi + 2);
	check_dau(ev, n, lo + 5, lo + 5);
	check_top_events(ev, n, lo - 2, hi + 2, 1000);
	check_top_events(ev, n, lo - 2, hi + 2, 3);
	check_top_events(ev, n, lo + 10, lo + 12, 10);
	check_top_events(ev, n, hi + 1, hi + 2, 10); /* no events: [] */
	{
		const int64_t day_starts[] = {lo - 1,  lo,     lo + 1, lo + 2, lo + 7,
					      lo + 15, hi - 3, hi,     hi + 1};
		const int64_t week_starts[] = {lo - 1, lo, lo + 3, lo + 14, hi - 6, hi + 1};

		for (size_t i = 0; i < sizeof(day_starts) / sizeof(*day_starts); i++)
			check_retention(ev, n, day_starts[i], 7, 1);
		for (size_t i = 0; i < sizeof(week_starts) / sizeof(*week_starts); i++)
			check_retention(ev, n, week_starts[i], 4, 7);
		check_retention(ev, n, lo, 0, 1);
	}
	free(ev);
}

static void
sample_free(struct sample *s)
{
	csv_free(&s->csv);
	free(s->ev);
}

Test(sample, t1_load_and_stats, .timeout = 240)
{
	struct sample s;
	long accepted;

	sample_read(&s);
	accepted = sample_post(&s, -1);
	cr_assert_eq(accepted, (long)s.distinct,
		     "expected the total accepted over all batches to equal the %zu distinct event "
		     "ids of the file, got %ld",
		     s.distinct, accepted);
	{
		PGconn *db = db_open();
		char **ids = malloc(s.n * sizeof(*ids));

		cr_assert(ids, "malloc");
		for (size_t i = 0; i < s.n; i++)
			ids[i] = s.ev[i].event_id;
		cr_assert_eq(db_count_ids(db, ids, s.n), (long long)s.distinct,
			     "expected %zu of the sample's ids stored", s.distinct);
		free(ids);
		PQfinish(db);
	}
	sample_check_stats(&s);
	sample_free(&s);
}

Test(sample, t2_resend_is_duplicate, .timeout = 240)
{
	struct sample s;
	long accepted;

	sample_read(&s);
	accepted = sample_post(&s, 0);
	cr_assert_eq(accepted, 0, "expected every resent event to be a duplicate, %ld accepted",
		     accepted);
	sample_check_stats(&s);
	sample_free(&s);
}
