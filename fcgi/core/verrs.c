/* verrs.c: recording problems and summing them up in one line. */
#include "verrs.h"

#include <stdarg.h>
#include <stdio.h>

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
