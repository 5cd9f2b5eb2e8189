/* textbuf.h: a growable byte buffer, always NUL-terminated, for request bodies built piece by
 * piece. Out of memory aborts (no assertion), so load threads may use it too. */
#ifndef IT_TEXTBUF_H
#define IT_TEXTBUF_H

#include <stddef.h>

struct it_buf {
	char *p; /* NULL until the first append; the owner frees it */
	size_t len, cap;
};

/* Appends n bytes of s. */
void it_buf_add(struct it_buf *b, const void *s, size_t n);
/* Appends the string s. */
void it_buf_str(struct it_buf *b, const char *s);
/* Appends s times times. */
void it_buf_rep(struct it_buf *b, const char *s, size_t times);
/* Appends the formatted text, cut at 1023 bytes. */
void it_buf_printf(struct it_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
