/* event_validate.c: the Event rules of API.md, in one place for the HTTP path and the CSV
 * loader, and the lifetime of the struct event they produce. */
#include "event.h"

#include <stdlib.h>
#include <string.h>

void
event_free(struct event *e)
{
	free(e->user_id);
	free(e->event_type);
	free(e->properties);
	e->user_id = e->event_type = e->properties = NULL;
}

/* A NUL-terminated malloc'd copy of exactly len bytes of s (strndup would stop at a NUL
 * inside), or NULL when out of memory. */
static char *
strdup_n(const char *s, size_t len)
{
	char *p = malloc(len + 1);
	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
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

static int64_t raw_horizon_days; /* 0: none */

void
event_set_raw_horizon_days(int days)
{
	raw_horizon_days = days > 0 ? days : 0;
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
	if (*us > now_us + EVENT_MAX_FUTURE_US) {
		verrs_add(v, index, "occurred_at", "more than 24 h in the future");
		return -1;
	}
	if (raw_horizon_days && *us < now_us - raw_horizon_days * EVENT_US_PER_DAY) {
		verrs_add(v, index, "occurred_at", "older than the raw-data horizon");
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
	e.user_id = strdup_n(in->user_id, in->user_id_len);
	e.event_type = strdup_n(in->event_type, in->event_type_len);
	e.properties =
	    in->properties ? strdup_n(in->properties, in->properties_len) : strdup_n("{}", 2);
	if (!e.user_id || !e.event_type || !e.properties) {
		event_free(&e);
		verrs_add(v, index, "", "out of memory");
		return -1;
	}
	*out = e;
	return 0;
}
