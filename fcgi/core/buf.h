/* buf.h: a growable byte buffer, the one every module that builds text of unknown length
 * uses (the HTTP body, the COPY stream, the stats answers, the metrics page), and the same
 * growth rule for typed arrays (a batch's events, the scanner's list). */
#ifndef BUF_H
#define BUF_H

#include <stdarg.h>
#include <stddef.h>

/* p[0..len) holds the bytes, cap is what p has room for. {0} is an empty buffer; whoever
 * owns the struct frees p (buf_free, or free(p) once the text is handed over). */
struct buf {
	char *p;
	size_t len, cap;
};

/* Makes cap >= len + more. A buffer that must grow takes twice its capacity, or exactly
 * len + more when that is more (so the first reserve of an empty buffer is exact): appending
 * n bytes piece by piece costs O(n). 0, or -1 when out of memory (b unchanged). */
int buf_reserve(struct buf *b, size_t more) __attribute__((warn_unused_result));

/* Appends printf-style text, NUL-terminated after len (the NUL is not counted). 0, or -1 when
 * out of memory (b unchanged but for its capacity). */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)))
__attribute__((warn_unused_result));

/* buf_printf with a va_list (which it consumes). */
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)))
__attribute__((warn_unused_result));

/* The same growth rule for an array of elements of size bytes at *items, holding n with room
 * for *cap: makes *cap >= n + 1, doubling (64 elements first) but never beyond max elements.
 * 0, or -1 when out of memory or n + 1 > max (*items and *cap unchanged). */
int buf_array_reserve(void *items, size_t *cap, size_t n, size_t size, size_t max)
    __attribute__((warn_unused_result));

/* Frees p; b is empty and reusable afterwards. */
void buf_free(struct buf *b);

#endif
