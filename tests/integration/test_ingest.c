/* test_ingest.c: what POST /events accepts and how it stores it. Every event stored here is dated
 * 2010 (or in the next 24 h) and uses user ids of its own, away from the sample's statistics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "client.h"
#include "event.h"

static long long
stored(const char *id)
{
	const char *p[1] = {id};

	return db_scalar_ll(it_db, "SELECT count(*) FROM events WHERE event_id = $1::uuid", 1, p);
}

/* A text column of the stored event, malloc'd. */
static char *
stored_col(const char *id, const char *expr)
{
	const char *p[1] = {id};
	char sql[256];
	char *v;

	snprintf(sql, sizeof(sql), "SELECT %s FROM events WHERE event_id = $1::uuid", expr);
	v = db_scalar_text(it_db, sql, 1, p);
	cr_assert(v, "expected event %s to be stored (reading %s)", id, expr);
	return v;
}

static long long
stored_us(const char *id)
{
	char *v = stored_col(id, "(extract(epoch FROM occurred_at) * 1000000)::bigint::text");
	long long us = strtoll(v, NULL, 10);

	free(v);
	return us;
}

static void
post_expect(json_object *body, long rec, long acc, long dup, const char *what)
{
	struct http_resp r;

	http_post_obj(&r, "/events", body);
	expect_ingest(&r, rec, acc, dup, what);
	http_resp_free(&r);
}

Test(ingest, all_or_nothing, .init = it_db_init, .fini = it_db_fini, .timeout = 30)
{
	char ids[10][37];
	char *idp[10];
	json_object *arr = json_object_new_array();
	struct http_resp r;
	json_object *d, *det;

	for (int i = 0; i < 10; i++) {
		json_object *e = it_event(ids[i], "2010-05-05T10:00:00Z", "it-aon", NULL);

		if (i == 7)
			json_object_object_add(e, "occurred_at",
					       json_object_new_string("yesterday"));
		json_object_array_add(arr, e);
		idp[i] = ids[i];
	}
	http_post_obj(&r, "/events", arr);
	expect_error(&r, 422, "validation_failed", "POST /events, 10 events, #7 bad occurred_at");
	d = expect_detail(&r, 0, "422 for a bad occurred_at at index 7");
	det = jget(r.json, "details");
	cr_assert_eq(json_object_array_length(det), 1, "expected exactly one detail, got %s",
		     r.body);
	cr_assert(jget(d, "index") && json_object_is_type(jget(d, "index"), json_type_int),
		  "expected an integer details[0].index in %s", r.body);
	cr_assert_eq(json_object_get_int(jget(d, "index")), 7,
		     "expected details[0].index == 7 (zero-based), got %s", r.body);
	cr_assert(jstr(d, "field") && strcmp(jstr(d, "field"), "occurred_at") == 0,
		  "expected details[0].field == \"occurred_at\", got %s", r.body);
	cr_assert(jstr(d, "message") && *jstr(d, "message"),
		  "expected a details[0].message string, got %s", r.body);
	http_resp_free(&r);
	cr_assert_eq(db_count_ids(it_db, idp, 10), 0,
		     "expected none of the 10 events stored after a 422 (all or nothing)");
	json_object_put(arr);
}

Test(ingest, accepted_forms, .init = it_db_init, .fini = it_db_fini, .timeout = 30)
{
	char a[37], b[37], c[37];
	struct http_resp r;

	{ /* {"events": [...]} */
		json_object *w = json_object_new_object();
		json_object *arr = json_object_new_array();

		json_object_array_add(arr, it_event(a, NULL, "it-forms", NULL));
		json_object_array_add(arr, it_event(b, NULL, "it-forms", NULL));
		json_object_object_add(w, "events", arr);
		post_expect(w, 2, 2, 0, "POST /events {\"events\": [2 events]}");
		cr_assert_eq(stored(a) + stored(b), 2,
			     "expected both events of the wrapper stored");
		json_object_put(w);
	}
	{ /* a single event object */
		json_object *e = it_event(a, NULL, "it-forms", NULL);

		post_expect(e, 1, 1, 0, "POST /events with a single event object");
		cr_assert_eq(stored(a), 1, "expected the single event stored");
		json_object_put(e);
	}
	{ /* no Content-Type at all: JSON */
		json_object *e = json_object_new_array();
		const char *s;

		json_object_array_add(e, it_event(a, NULL, "it-forms", NULL));
		s = json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN);
		http_request(&r, "POST", "/events", NULL, s, strlen(s), NULL);
		expect_ingest(&r, 1, 1, 0, "POST /events without Content-Type");
		http_resp_free(&r);
		cr_assert_eq(stored(a), 1, "expected the event sent without Content-Type stored");
		json_object_put(e);
	}
	{ /* Content-Type with a charset parameter */
		json_object *e = json_object_new_array();
		const char *s;

		json_object_array_add(e, it_event(a, NULL, "it-forms", NULL));
		s = json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN);
		http_request(&r, "POST", "/events", "application/json; charset=utf-8", s, strlen(s),
			     NULL);
		expect_ingest(&r, 1, 1, 0, "POST /events with application/json; charset=utf-8");
		http_resp_free(&r);
		json_object_put(e);
	}
	{ /* a chunked request body */
		json_object *e = json_object_new_array();
		const char *h[] = {"Transfer-Encoding: chunked", NULL};
		const char *s;

		json_object_array_add(e, it_event(a, NULL, "it-forms", NULL));
		s = json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN);
		http_request(&r, "POST", "/events", "application/json", s, strlen(s), h);
		expect_ingest(&r, 1, 1, 0, "POST /events with a chunked body");
		http_resp_free(&r);
		cr_assert_eq(stored(a), 1, "expected the event sent chunked stored");
		json_object_put(e);
	}
	{ /* properties missing, properties null, unknown top-level fields */
		json_object *arr = json_object_new_array();
		json_object *e1 = it_event(a, NULL, "it-forms", NULL);
		json_object *e2 = it_event(b, NULL, "it-forms", NULL);
		json_object *e3 = it_event(c, NULL, "it-forms", NULL);
		json_object *x = json_object_new_object();
		char *p;

		json_object_object_del(e1, "properties");
		json_object_object_add(e2, "properties", NULL);
		json_object_object_add(x, "nested", json_object_new_int(1));
		json_object_object_add(e3, "extra", x);
		json_object_object_add(e3, "received_at", json_object_new_string("whatever"));
		json_object_array_add(arr, e1);
		json_object_array_add(arr, e2);
		json_object_array_add(arr, e3);
		post_expect(arr, 3, 3, 0,
			    "POST /events: properties missing / null / unknown fields");
		p = stored_col(a, "(properties = '{}'::jsonb)::text");
		cr_assert_str_eq(p, "true", "expected missing properties stored as '{}'");
		free(p);
		p = stored_col(b, "(properties = '{}'::jsonb)::text");
		cr_assert_str_eq(p, "true", "expected null properties stored as '{}'");
		free(p);
		p = stored_col(c, "(properties = '{\"source\":\"integration\"}'::jsonb)::text");
		cr_assert_str_eq(p, "true",
				 "expected the properties of the event with unknown fields "
				 "stored unchanged, without the unknown fields");
		free(p);
		json_object_put(arr);
	}
	{ /* properties stored as sent */
		json_object *e = it_event(a, NULL, "it-forms", NULL);
		json_object *pr = json_tokener_parse(
		    "{\"s\":\"\\u00e9\\u4e2d\\ud83d\\ude00 \\\"q\\\" \\\\ /\",\"n\":-1.25e3,"
		    "\"i\":9007199254740993,\"b\":false,\"z\":null,\"a\":[1,{\"x\":[]}],\"o\":{}}");
		const char *params[2];
		long long eq;

		cr_assert(pr, "test bug: properties literal must parse");
		json_object_object_add(e, "properties", pr);
		post_expect(e, 1, 1, 0, "POST /events with rich properties");
		params[0] = a;
		params[1] = json_object_to_json_string_ext(pr, JSON_C_TO_STRING_PLAIN);
		eq = db_scalar_ll(it_db,
				  "SELECT count(*) FROM events WHERE event_id = $1::uuid AND "
				  "properties = $2::jsonb",
				  2, params);
		cr_assert_eq(eq, 1, "expected the stored properties to equal %s", params[1]);
		json_object_put(e);
	}
	{ /* occurred_at forms */
		static const struct {
			const char *sent, *utc;
		} tf[] = {
		    {"2010-05-06 11:12:13Z", "2010-05-06T11:12:13Z"},
		    {"2010-05-06t11:12:13z", "2010-05-06T11:12:13Z"},
		    {"2010-05-06T11:12:13", "2010-05-06T11:12:13Z"},
		    {"2010-05-06T05:06:07.123456789+02:00", "2010-05-06T03:06:07.123456Z"},
		    {"2010-05-06T05:06:07.9999999-01:30", "2010-05-06T06:36:07.999999Z"},
		    {"2010-05-06T23:30:00.5-05:00", "2010-05-07T04:30:00.500000Z"},
		    {"2010-05-06 00:00:00+14:00", "2010-05-05T10:00:00Z"},
		};

		for (size_t i = 0; i < sizeof(tf) / sizeof(*tf); i++) {
			json_object *e = it_event(a, tf[i].sent, "it-forms", NULL);
			char what[128];
			long long got, want = model_us(tf[i].utc);

			snprintf(what, sizeof(what), "POST /events occurred_at \"%s\"", tf[i].sent);
			post_expect(e, 1, 1, 0, what);
			got = stored_us(a);
			cr_assert_eq(
			    got, want,
			    "%s: expected stored occurred_at %s (µs %lld, fractions truncated "
			    "to µs), got µs %lld",
			    what, tf[i].utc, want, got);
			json_object_put(e);
		}
	}
}

Test(ingest, duplicates_first_write_wins, .init = it_db_init, .fini = it_db_fini, .timeout = 30)
{
	char id[37], upper[37];
	json_object *arr = json_object_new_array();
	json_object *e1 = it_event(id, "2010-05-07T10:00:00Z", "it-dup-1", "first");
	json_object *e2 = it_event(NULL, "2010-05-08T10:00:00Z", "it-dup-2", "second");
	char *v;

	json_object_object_add(e2, "event_id", json_object_new_string(id));
	json_object_array_add(arr, e1);
	json_object_array_add(arr, e2);
	post_expect(arr, 2, 1, 1, "POST /events with one event_id twice in the request");
	cr_assert_eq(stored(id), 1, "expected exactly one stored copy");
	v = stored_col(id, "event_type || '|' || user_id");
	cr_assert_str_eq(v, "first|it-dup-1",
			 "expected the first copy in the request stored, got '%s'", v);
	free(v);
	json_object_put(arr);

	/* later, with other content and the id in upper case: still a duplicate, nothing changes */
	for (int i = 0; i < 36; i++)
		upper[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
	upper[36] = '\0';
	e1 = it_event(NULL, "2010-05-09T10:00:00Z", "it-dup-3", "third");
	json_object_object_add(e1, "event_id", json_object_new_string(upper));
	post_expect(e1, 1, 0, 1, "POST /events resending a stored event_id in upper case");
	json_object_put(e1);
	v = stored_col(id, "event_type || '|' || user_id || '|' || "
			   "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')");
	cr_assert_str_eq(v, "first|it-dup-1|2010-05-07",
			 "expected the stored copy unchanged by a later duplicate, got '%s'", v);
	free(v);

	/* an upper-case id is accepted and stored as the same uuid */
	{
		char id2[37];

		e1 = it_event(id2, "2010-05-07T10:00:00Z", "it-dup-1", "upper");
		for (int i = 0; i < 36; i++)
			upper[i] = (char)(id2[i] >= 'a' && id2[i] <= 'f' ? id2[i] - 32 : id2[i]);
		json_object_object_add(e1, "event_id", json_object_new_string(upper));
		post_expect(e1, 1, 1, 0, "POST /events with an upper-case event_id");
		cr_assert_eq(stored(id2), 1, "expected the upper-case id stored as its uuid");
		json_object_object_add(e1, "event_id", json_object_new_string(id2));
		post_expect(e1, 1, 0, 1, "POST /events resending the lower-case form of that id");
		json_object_put(e1);
	}
}

Test(ingest, integer_and_string_user_are_one, .init = it_db_init, .fini = it_db_fini, .timeout = 30)
{
	char a[37], b[37], c[37], d[37], tag[9], user[32], *v;
	json_object *arr = json_object_new_array();
	json_object *e;
	struct http_resp r;
	long long n;

	it_hex(tag, 4);
	n = 7000000000LL + (long long)strtoul(tag, NULL, 16);
	snprintf(user, sizeof(user), "%lld", n);
	e = it_event(a, "2010-06-15T01:00:00Z", NULL, "int_user");
	json_object_object_add(e, "user_id", json_object_new_int64(n));
	json_object_array_add(arr, e);
	json_object_array_add(arr, it_event(b, "2010-06-15T22:00:00Z", user, "int_user"));
	post_expect(arr, 2, 2, 0, "POST /events user_id 7000000000+x as integer and as string");
	json_object_put(arr);
	v = stored_col(a, "user_id");
	cr_assert_str_eq(v, user, "expected integer user_id stored as its decimal text %s, got %s",
			 user, v);
	free(v);

	http_get(&r, "/stats/dau?from=2010-06-15&to=2010-06-15");
	cr_assert_eq(r.status, 200, "GET /stats/dau 2010-06-15: expected 200, got %ld", r.status);
	expect_json_response(&r, "GET /stats/dau 2010-06-15");
	cr_assert(json_object_is_type(r.json, json_type_array) &&
		      json_object_array_length(r.json) == 1,
		  "expected one DAU entry, got %s", r.body);
	cr_assert_eq(
	    json_object_get_int64(jget(json_object_array_get_idx(r.json, 0), "unique_users")), 1,
	    "expected 42 and \"42\" to count as one user on 2010-06-15, got %s", r.body);
	http_resp_free(&r);

	/* int64 bounds are valid user ids */
	arr = json_object_new_array();
	e = it_event(c, "2010-06-16T01:00:00Z", NULL, "int_user");
	json_object_object_add(e, "user_id", json_object_new_int64(INT64_MAX));
	json_object_array_add(arr, e);
	e = it_event(d, "2010-06-16T01:00:00Z", NULL, "int_user");
	json_object_object_add(e, "user_id", json_object_new_int64(INT64_MIN));
	json_object_array_add(arr, e);
	post_expect(arr, 2, 2, 0, "POST /events user_id INT64_MAX and INT64_MIN");
	json_object_put(arr);
	v = stored_col(c, "user_id");
	cr_assert_str_eq(v, "9223372036854775807", "expected INT64_MAX stored as text, got %s", v);
	free(v);
	v = stored_col(d, "user_id");
	cr_assert_str_eq(v, "-9223372036854775808", "expected INT64_MIN stored as text, got %s", v);
	free(v);
}

Test(ingest, limits_accepted, .init = it_db_init, .fini = it_db_fini, .timeout = 60)
{
	char id[37];
	char user[257], type[129], at[40];
	static char big[65536];
	json_object *e;
	time_t soon = time(NULL) + 23 * 3600;
	struct tm tm;

	memset(user, 'u', 256);
	user[256] = '\0';
	e = it_event(id, NULL, user, NULL);
	post_expect(e, 1, 1, 0, "POST /events user_id of 256 bytes");
	json_object_put(e);

	for (int i = 0; i < 128; i++) /* 128 two-byte characters: 256 bytes */
		memcpy(user + 2 * i, "\xc3\xa9", 2);
	user[256] = '\0';
	e = it_event(id, NULL, user, NULL);
	post_expect(e, 1, 1, 0, "POST /events user_id of 128 'é' (256 bytes)");
	json_object_put(e);
	{
		char *v = stored_col(id, "octet_length(user_id)::text");

		cr_assert_str_eq(v, "256",
				 "expected the 256-byte user_id stored whole, got %s bytes", v);
		free(v);
	}

	memset(type, 't', 128);
	type[128] = '\0';
	e = it_event(id, NULL, "it-limits", type);
	post_expect(e, 1, 1, 0, "POST /events event_type of 128 bytes");
	json_object_put(e);

	/* {"k":"..."} of exactly 65536 bytes */
	memset(big, 'p', 65536 - 8);
	big[65536 - 8] = '\0';
	e = it_event(id, NULL, "it-limits", NULL);
	{
		json_object *p = json_object_new_object();

		json_object_object_add(p, "k", json_object_new_string(big));
		cr_assert_eq(strlen(json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN)),
			     65536, "test bug: properties must serialize to 65536 bytes");
		json_object_object_add(e, "properties", p);
	}
	post_expect(e, 1, 1, 0, "POST /events properties of exactly 64 KiB");
	json_object_put(e);

	gmtime_r(&soon, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	e = it_event(id, at, "it-limits", NULL);
	post_expect(e, 1, 1, 0, "POST /events occurred_at 23 h in the future");
	json_object_put(e);
}
