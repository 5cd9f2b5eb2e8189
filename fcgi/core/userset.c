/* userset.c: struct userset over CRoaring's 32-bit bitmaps. The stored form is Roaring's
 * portable serialization (the same bytes in every implementation), read back with the bounds
 * checked variant: a damaged row is an error, never a read past the buffer. */
#include "userset.h"
#include "event.h"

#include <roaring/roaring.h>

#include <stdlib.h>

struct userset {
	roaring_bitmap_t *r;
};

struct userset *
userset_new(void)
{
	struct userset *s = malloc(sizeof *s);
	if (s && !(s->r = roaring_bitmap_create())) {
		free(s);
		return NULL;
	}
	return s;
}

void
userset_free(struct userset *s)
{
	if (!s)
		return;
	roaring_bitmap_free(s->r);
	free(s);
}

int
userset_or_text(struct userset *s, const char *text, size_t len)
{
	char *bytes;
	size_t n;
	if (len >= 2 && text[0] == '\\' && text[1] == 'x') {
		text += 2;
		len -= 2;
	}
	if (len == 0)
		return 0;
	if (len % 2 || !(bytes = malloc(len / 2)))
		return -1;
	for (n = 0; n < len / 2; n++) {
		int hi = event_hex_value(text[2 * n]), lo = event_hex_value(text[2 * n + 1]);
		if (hi < 0 || lo < 0) {
			free(bytes);
			return -1;
		}
		bytes[n] = (char)(hi << 4 | lo);
	}
	int rc = userset_or_bytes(s, bytes, n);
	free(bytes);
	return rc;
}

int
userset_or_bytes(struct userset *s, const char *bytes, size_t len)
{
	roaring_bitmap_t *r;
	if (len == 0)
		return 0;
	if (!(r = roaring_bitmap_portable_deserialize_safe(bytes, len)))
		return -1;
	roaring_bitmap_or_inplace(s->r, r);
	roaring_bitmap_free(r);
	return 0;
}

void
userset_or(struct userset *s, const struct userset *o)
{
	roaring_bitmap_or_inplace(s->r, o->r);
}

struct userset *
userset_copy(const struct userset *o)
{
	struct userset *s = malloc(sizeof *s);
	if (s && !(s->r = roaring_bitmap_copy(o->r))) {
		free(s);
		return NULL;
	}
	return s;
}

uint64_t
userset_or_count(const struct userset *s, const struct userset *a)
{
	return roaring_bitmap_or_cardinality(s->r, a->r);
}

uint64_t
userset_count(const struct userset *s)
{
	return roaring_bitmap_get_cardinality(s->r);
}

uint64_t
userset_and_count(const struct userset *s, const struct userset *a)
{
	return roaring_bitmap_and_cardinality(s->r, a->r);
}

int
userset_add(struct userset *s, uint32_t key)
{
	return roaring_bitmap_add_checked(s->r, key);
}

int
userset_remove(struct userset *s, uint32_t key)
{
	return roaring_bitmap_remove_checked(s->r, key);
}

char *
userset_hex(struct userset *s)
{
	static const char digits[] = "0123456789abcdef";
	size_t n;
	char *bytes, *hex;
	roaring_bitmap_run_optimize(s->r);
	n = roaring_bitmap_portable_size_in_bytes(s->r);
	if (!(bytes = malloc(n ? n : 1)))
		return NULL;
	n = roaring_bitmap_portable_serialize(s->r, bytes);
	if ((hex = malloc(2 * n + 1))) {
		for (size_t i = 0; i < n; i++) {
			hex[2 * i] = digits[(unsigned char)bytes[i] >> 4];
			hex[2 * i + 1] = digits[(unsigned char)bytes[i] & 15];
		}
		hex[2 * n] = '\0';
	}
	free(bytes);
	return hex;
}
