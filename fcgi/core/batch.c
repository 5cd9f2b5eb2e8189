/* batch.c: the Event rules of API.md, in one place for the HTTP path and the CSV loader. */
#include "batch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
verrs_add(struct verrs *v, long index, const char *field, const char *fmt, ...)
{
	va_list ap;
	v->total++;
	if (v->n >= VERR_MAX)
		return;
	struct verr *e = &v->items[v->n++];
	e->index = index;
	snprintf(e->field, sizeof e->field, "%s", field);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
}

void
verrs_summary(const struct verrs *v, char *out, size_t cap)
{
	const struct verr *e = &v->items[0];
	int n;
	if (e->index >= 0 && e->field[0])
		n = snprintf(out, cap, "event %ld: %s: %s", e->index, e->field, e->message);
	else if (e->index >= 0)
		n = snprintf(out, cap, "event %ld: %s", e->index, e->message);
	else if (e->field[0])
		n = snprintf(out, cap, "%s: %s", e->field, e->message);
	else
		n = snprintf(out, cap, "%s", e->message);
	if (v->total > 1 && n > 0 && (size_t)n < cap)
		snprintf(out + n, cap - (size_t)n, " (and %zu more problem%s)", v->total - 1,
			 v->total > 2 ? "s" : "");
}

int
batch_push(struct batch *b, struct event *e)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct event *ev = realloc(b->ev, cap * sizeof *ev);
		if (!ev) {
			event_free(e);
			return -1;
		}
		b->ev = ev;
		b->cap = cap;
	}
	b->ev[b->n++] = *e;
	return 0;
}

void
event_free(struct event *e)
{
	free(e->user_id);
	free(e->event_type);
	free(e->properties);
	e->user_id = e->event_type = e->properties = NULL;
}

void
batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		event_free(&b->ev[i]);
	free(b->ev);
	memset(b, 0, sizeof *b);
}

char *
batch_strdup_n(const char *s, size_t len)
{
	char *p = malloc(len + 1);
	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

int64_t
batch_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
check_text(const char *s, size_t len, size_t max, const char *field, long index, struct verrs *v)
{
	const char *why;
	if (!s) {
		verrs_add(v, index, field, "required");
		return -1;
	}
	if (event_text_check(s, len, max, &why) < 0) {
		if (strcmp(why, "too long") == 0)
			verrs_add(v, index, field, "longer than %zu bytes", max);
		else
			verrs_add(v, index, field, "%s", why);
		return -1;
	}
	return 0;
}

static int
check_time(const struct event_input *in, int64_t now_us, long index, struct verrs *v, int64_t *us)
{
	const char *why;
	if (!in->occurred_at) {
		verrs_add(v, index, "occurred_at", "required");
		return -1;
	}
	if (event_time_parse(in->occurred_at, in->occurred_at_len, us, &why) < 0) {
		verrs_add(v, index, "occurred_at", "%s", why);
		return -1;
	}
	if (*us > now_us + INT64_C(86400) * 1000000) {
		verrs_add(v, index, "occurred_at", "more than 24 h in the future");
		return -1;
	}
	return 0;
}

int
event_validate(const struct event_input *in, int64_t now_us, long index, struct verrs *v,
	       struct event *out)
{
	const char *why;
	struct event e = {0};
	int bad = in->reported != 0;
	if (in->reported & EVENT_F_ID) {
		/* already recorded */
	} else if (!in->event_id) {
		verrs_add(v, index, "event_id", "required");
		bad = 1;
	} else if (event_uuid_parse(in->event_id, in->event_id_len, e.event_id, &why) < 0) {
		verrs_add(v, index, "event_id", "%s", why);
		bad = 1;
	}
	if (!(in->reported & EVENT_F_TIME))
		bad |= check_time(in, now_us, index, v, &e.occurred_us) < 0;
	if (!(in->reported & EVENT_F_USER))
		bad |= check_text(in->user_id, in->user_id_len, EVENT_USER_ID_MAX, "user_id", index,
				  v) < 0;
	if (!(in->reported & EVENT_F_TYPE))
		bad |= check_text(in->event_type, in->event_type_len, EVENT_TYPE_MAX, "event_type",
				  index, v) < 0;
	if (!(in->reported & EVENT_F_PROPS) && in->properties &&
	    in->properties_len > EVENT_PROPERTIES_MAX) {
		verrs_add(v, index, "properties", "larger than 64 KiB serialized (%zu bytes)",
			  in->properties_len);
		bad = 1;
	}
	if (bad)
		return -1;
	e.user_id = batch_strdup_n(in->user_id, in->user_id_len);
	e.event_type = batch_strdup_n(in->event_type, in->event_type_len);
	e.properties = in->properties ? batch_strdup_n(in->properties, in->properties_len)
				      : batch_strdup_n("{}", 2);
	if (!e.user_id || !e.event_type || !e.properties) {
		event_free(&e);
		verrs_add(v, index, "", "out of memory");
		return -1;
	}
	*out = e;
	return 0;
}
