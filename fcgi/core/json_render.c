/* json_render.c: response bodies out: errors and small answers through json-c, the stats
 * answers written straight into one buffer. */
#include "buf.h"
#include "db.h"
#include "json.h"

#include <json-c/json.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
render(struct json_object *o)
{
	char *s = o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE))
		    : NULL;
	json_object_put(o);
	return s;
}

char *
json_render_error(const char *code, const char *message, const struct verrs *v)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string(code));
	json_object_object_add(o, "message", json_object_new_string(message));
	if (v && v->n) {
		struct json_object *d = json_object_new_array_ext((int)v->n);
		for (size_t i = 0; i < v->n; i++) {
			struct json_object *e = json_object_new_object();
			if (v->items[i].index >= 0)
				json_object_object_add(e, "index",
						       json_object_new_int64(v->items[i].index));
			if (v->items[i].field[0])
				json_object_object_add(e, "field",
						       json_object_new_string(v->items[i].field));
			json_object_object_add(e, "message",
					       json_object_new_string(v->items[i].message));
			json_object_array_add(d, e);
		}
		json_object_object_add(o, "details", d);
	}
	return render(o);
}

char *
json_render_erased(const char *user_id, int64_t deleted)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "user_id", json_object_new_string(user_id));
	json_object_object_add(o, "deleted_events", json_object_new_int64(deleted));
	return render(o);
}

char *
json_render_ingest(size_t received, size_t accepted)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "received", json_object_new_int64((int64_t)received));
	json_object_object_add(o, "accepted", json_object_new_int64((int64_t)accepted));
	json_object_object_add(o, "duplicates",
			       json_object_new_int64((int64_t)(received - accepted)));
	return render(o);
}

char *
json_render_health(int db_ok)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(db_ok ? "ok" : "unavailable"));
	json_object_object_add(o, "db", json_object_new_string(db_ok ? "ok" : "down"));
	return render(o);
}

/* The stats answers below hold only dates, integers and rates, none of which needs escaping,
 * so they are written straight into one buffer: building a json-c object per day cost more
 * than the query itself for a year of DAU (perf: malloc, printf and hash tables of json-c). */
static void
text_date(char *out, int64_t day)
{
	char buf[EVENT_DATE_BUF];
	event_date_format(day, buf);
	memcpy(out, buf, EVENT_DATE_BUF - 1);
}

/* The most one day of DAU takes: ,{"date":"YYYY-MM-DD","unique_users":-9223372036854775808}
 * is 10 + 10 + 17 + 20 + 1 bytes. */
enum { DAU_DAY_MAX = 58 };

/* [{"date": ..., "<field>": counts[i]<tail>}, ...] */
static char *
render_days(int64_t from_day, size_t ndays, const int64_t *counts, const char *field,
	    const char *tail)
{
	struct buf t = {0};
	/* the brackets, the days, the NUL */
	if (buf_reserve(&t, 3 + ndays * (DAU_DAY_MAX + strlen(tail) + 8)) < 0)
		return NULL;
	t.p[t.len++] = '[';
	for (size_t i = 0; i < ndays; i++) {
		memcpy(t.p + t.len, i ? ",{\"date\":\"" : "{\"date\":\"", i ? 10 : 9);
		t.len += i ? 10 : 9;
		text_date(t.p + t.len, from_day + (int64_t)i);
		t.len += EVENT_DATE_BUF - 1;
		t.len += (size_t)snprintf(t.p + t.len, t.cap - t.len, "\",\"%s\":%lld%s}", field,
					  (long long)counts[i], tail);
	}
	t.p[t.len++] = ']';
	t.p[t.len] = '\0';
	return t.p;
}

char *
json_render_dau(int64_t from_day, size_t ndays, const int64_t *counts)
{
	return render_days(from_day, ndays, counts, "unique_users", "");
}

char *
json_render_active(int64_t from_day, size_t ndays, const int64_t *counts, int window)
{
	char tail[32];
	snprintf(tail, sizeof tail, ",\"window\":%d", window);
	return render_days(from_day, ndays, counts, "active_users", tail);
}

char *
json_render_top(const struct top_row *rows, size_t n)
{
	struct json_object *a = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "event_type", json_object_new_string(rows[i].event_type));
		json_object_object_add(o, "count", json_object_new_int64(rows[i].count));
		json_object_array_add(a, o);
	}
	return render(a);
}

/* A rate as API.md wants it: rounded half away from zero to 4 decimals, written shortest
 * ("1.0", "0.3623"), never as a binary-float expansion like 0.36230000000000001. */
static void
rate_text(int64_t count, int64_t cohort, char out[32])
{
	double r = cohort ? (double)count / (double)cohort : 0.0;
	long scaled = lround(r * 10000.0);
	size_t len = (size_t)snprintf(out, 32, "%ld.%04ld", scaled / 10000, scaled % 10000);
	while (len > 0 && out[len - 1] == '0' && out[len - 2] != '.')
		out[--len] = '\0';
}

char *
json_render_retention(int64_t start_day, int period, int64_t cohort, size_t windows,
		      const int64_t *counts)
{
	struct buf t = {0};
	char date[EVENT_DATE_BUF], rate[32];
	/* room for the usual answer at once: rates are short */
	if (buf_reserve(&t, 160 + (windows + 1) * 96) < 0)
		return NULL;
	event_date_format(start_day, date);
	if (buf_printf(&t,
		       "{\"start_date\":\"%s\",\"granularity\":\"%s\",\"cohort_size\":%lld,"
		       "\"windows\":[",
		       date, period == 7 ? "week" : "day", (long long)cohort) < 0)
		goto fail;
	for (size_t k = 0; k <= windows; k++) {
		event_date_format(start_day + (int64_t)k * period, date);
		rate_text(counts[k], cohort, rate);
		if (buf_printf(&t, "%s{\"index\":%zu,\"start\":\"%s\",\"count\":%lld,\"rate\":%s}",
			       k ? "," : "", k, date, (long long)counts[k], rate) < 0)
			goto fail;
	}
	if (buf_printf(&t, "]}") < 0)
		goto fail;
	return t.p;
fail:
	buf_free(&t);
	return NULL;
}
