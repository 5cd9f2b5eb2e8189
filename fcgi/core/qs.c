/* qs.c: query-string decoding. Every key and value is its own allocation, owned by the
 * struct qs and released by qs_free. */
#include "qs.h"

#include "event.h"

#include <stdlib.h>
#include <string.h>

/* Decodes s[0..len) into a new NUL-terminated string ('+' is a space when plus_is_space);
 * the caller frees *out. */
static int
decode(const char *s, size_t len, int plus_is_space, char **out, size_t *out_len, const char **err)
{
	char *buf = malloc(len + 1);
	size_t n = 0;

	if (!buf) {
		*err = "out of memory";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] != '%') {
			buf[n++] = s[i] == '+' && plus_is_space ? ' ' : s[i];
			continue;
		}
		if (len - i < 3 || (hi = event_hex_value(s[i + 1])) < 0 ||
		    (lo = event_hex_value(s[i + 2])) < 0) {
			*err = "bad percent-encoding";
			goto fail;
		}
		if (hi == 0 && lo == 0) {
			*err = "contains a NUL byte";
			goto fail;
		}
		buf[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	if (!event_utf8_valid(buf, n)) {
		*err = "not valid UTF-8";
		goto fail;
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return 0;
fail:
	free(buf);
	return -1;
}

/* Non-empty '&'-separated pieces of s[0..len). */
static size_t
count_pieces(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (s[i] != '&' && (i == 0 || s[i - 1] == '&'))
			n++;
	return n;
}

/* Decodes one "key[=value]" piece into p; on failure p owns nothing. */
static int
parse_piece(const char *s, size_t len, struct qs_param *p, const char **err)
{
	const char *eq = memchr(s, '=', len);
	size_t klen = eq ? (size_t)(eq - s) : len;
	size_t key_len;

	if (decode(s, klen, 1, &p->key, &key_len, err))
		return -1;
	if (eq ? decode(eq + 1, len - klen - 1, 1, &p->value, &p->value_len, err)
	       : decode("", 0, 1, &p->value, &p->value_len, err)) {
		free(p->key);
		p->key = NULL;
		return -1;
	}
	return 0;
}

/* Whatever q held before is overwritten, not freed. */
int
qs_parse(const char *query, struct qs *q, const char **err)
{
	size_t len = query ? strnlen(query, (size_t)QS_MAX_LEN + 1) : 0;
	size_t count;

	q->params = NULL;
	q->n = 0;
	if (len > QS_MAX_LEN) {
		*err = "query string too long";
		return -1;
	}
	count = count_pieces(query, len);
	if (count > QS_MAX_PARAMS) {
		*err = "too many parameters";
		return -1;
	}
	if (count == 0)
		return 0;
	q->params = calloc(count, sizeof(*q->params));
	if (!q->params) {
		*err = "out of memory";
		return -1;
	}
	for (size_t i = 0; i < len;) {
		const char *amp = memchr(query + i, '&', len - i);
		size_t end = amp ? (size_t)(amp - query) : len;

		if (end > i) {
			if (parse_piece(query + i, end - i, &q->params[q->n], err)) {
				qs_free(q);
				return -1;
			}
			q->n++;
		}
		i = end + 1;
	}
	return 0;
}

const char *
qs_get(const struct qs *q, const char *key)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->params[i].key, key) == 0)
			return q->params[i].value;
	return NULL;
}

size_t
qs_count(const struct qs *q, const char *key)
{
	size_t n = 0;

	for (size_t i = 0; i < q->n; i++)
		n += strcmp(q->params[i].key, key) == 0;
	return n;
}

/* Safe on a zeroed struct and after a failed qs_parse; leaves q empty and reusable. */
void
qs_free(struct qs *q)
{
	for (size_t i = 0; i < q->n; i++) {
		free(q->params[i].key);
		free(q->params[i].value);
	}
	free(q->params);
	q->params = NULL;
	q->n = 0;
}

int
qs_decode_segment(const char *s, size_t len, char **out, size_t *out_len, const char **err)
{
	return decode(s, len, 0, out, out_len, err);
}
