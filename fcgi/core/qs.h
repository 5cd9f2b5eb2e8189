/* qs.h: application/x-www-form-urlencoded query strings, decoded. */
#ifndef QS_H
#define QS_H

#include <stddef.h>

struct qs_param {
	char *key;   /* decoded, NUL-terminated */
	char *value; /* decoded, NUL-terminated; "" for "k=" and for a bare "k" */
	size_t value_len;
};

struct qs {
	struct qs_param *params;
	size_t n;
};

enum { QS_MAX_PARAMS = 64, QS_MAX_LEN = 8192 };

/* Splits on '&' (empty pieces skipped), decodes %XX and '+' (space). Fails (-1, *err set, q
 * left empty) on a bad %-escape, a decoded key or value that is not valid UTF-8, or a decoded
 * NUL, more than QS_MAX_PARAMS pieces, or a query longer than QS_MAX_LEN. query may be NULL
 * (empty). The caller frees with qs_free, also after a failure. */
int qs_parse(const char *query, struct qs *q, const char **err) __attribute__((warn_unused_result));

/* The value of the first parameter named key, or NULL. Borrowed from q. */
const char *qs_get(const struct qs *q, const char *key);

/* How many parameters are named key. */
size_t qs_count(const struct qs *q, const char *key);

void qs_free(struct qs *q);

/* Decodes one path segment s[0..len) (%XX; '+' stays '+') into *out (malloc'd, NUL-
 * terminated; the caller frees). -1 with *err on a bad %-escape, a NUL or invalid UTF-8. */
int qs_decode_segment(const char *s, size_t len, char **out, size_t *out_len, const char **err)
    __attribute__((warn_unused_result));

#endif
