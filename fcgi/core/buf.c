/* buf.c: the growable byte buffer. */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
buf_reserve(struct buf *b, size_t more)
{
	size_t need, cap;
	char *p;
	if (more > SIZE_MAX - b->len)
		return -1;
	need = b->len + more;
	if (need <= b->cap)
		return 0;
	cap = b->cap <= SIZE_MAX / 2 && b->cap * 2 > need ? b->cap * 2 : need;
	if (!(p = realloc(b->p, cap)))
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

int
buf_array_reserve(void *items, size_t *cap, size_t n, size_t size, size_t max)
{
	size_t want;
	void *p, *old;
	if (n < *cap)
		return 0;
	if (n >= max || size == 0)
		return -1;
	want = *cap ? (*cap <= max / 2 ? *cap * 2 : max) : (max < 64 ? max : 64);
	/* items points at a typed pointer (struct event ** ...): copied, not read as a void *. */
	memcpy(&old, items, sizeof old);
	if (want > SIZE_MAX / size || !(p = realloc(old, want * size)))
		return -1;
	memcpy(items, &p, sizeof p);
	*cap = want;
	return 0;
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list again;
	int n;
	va_copy(again, ap);
	n = vsnprintf(b->p ? b->p + b->len : NULL, b->cap - b->len, fmt, ap);
	if (n >= 0 && (size_t)n >= b->cap - b->len)
		n = buf_reserve(b, (size_t)n + 1) < 0
			? -1
			: vsnprintf(b->p + b->len, b->cap - b->len, fmt, again);
	va_end(again);
	if (n < 0)
		return -1;
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;
	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
