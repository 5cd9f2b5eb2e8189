/* auth.c: see auth.h. */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
key_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       strchr("._~+/=-", c) != NULL;
}

static int
parse_scopes(const char *s, size_t len, unsigned *out)
{
	*out = 0;
	while (len) {
		const char *plus = memchr(s, '+', len);
		size_t n = plus ? (size_t)(plus - s) : len;
		if (n == 6 && memcmp(s, "ingest", 6) == 0)
			*out |= AUTH_INGEST;
		else if (n == 4 && memcmp(s, "read", 4) == 0)
			*out |= AUTH_READ;
		else
			return -1;
		s += n + (plus != NULL);
		len -= n + (plus != NULL);
	}
	return *out ? 0 : -1;
}

int
auth_add(struct auth *a, const char *entry, size_t len, const char **why)
{
	const char *colon = memchr(entry, ':', len);
	size_t klen = colon ? (size_t)(colon - entry) : len;
	struct auth_key *k;
	if (a->n >= AUTH_MAX_KEYS)
		return *why = "too many keys (at most 64)", -1;
	if (klen == 0 || klen > AUTH_KEY_MAX)
		return *why = "a key must be 1..128 characters", -1;
	for (size_t i = 0; i < klen; i++)
		if (!key_char(entry[i]))
			return *why = "a key may hold only A-Z a-z 0-9 . _ ~ + / = -", -1;
	k = &a->keys[a->n];
	k->scopes = AUTH_INGEST | AUTH_READ;
	if (colon && parse_scopes(colon + 1, len - klen - 1, &k->scopes) < 0)
		return *why = "scopes must be ingest, read or ingest+read", -1;
	memset(k->key, 0, sizeof k->key);
	memcpy(k->key, entry, klen);
	k->len = klen;
	a->n++;
	return 0;
}

static int
is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',';
}

/* Adds every entry of text; where names the source in messages. */
static int
add_all(struct auth *a, const char *text, const char *where)
{
	const char *p = text, *why;
	int line = 1;
	while (*p) {
		if (*p == '#') {
			p += strcspn(p, "\n");
			continue;
		}
		if (is_sep(*p)) {
			line += *p++ == '\n';
			continue;
		}
		size_t n = 0;
		while (p[n] && !is_sep(p[n]) && p[n] != '#')
			n++;
		if (auth_add(a, p, n, &why) < 0) {
			fprintf(stderr, "%s, entry on line %d: %s\n", where, line, why);
			return -1;
		}
		p += n;
	}
	return 0;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;
	if (!f)
		return NULL;
	buf = calloc(1, 65537);
	n = buf ? fread(buf, 1, 65536, f) : 0;
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

int
auth_load(struct auth *a)
{
	const char *env = getenv("API_KEYS"), *file = getenv("API_KEYS_FILE");
	memset(a, 0, sizeof *a);
	if (env && add_all(a, env, "API_KEYS") < 0)
		return -1;
	if (file && *file) {
		char *text = slurp(file);
		int rc;
		if (!text) {
			fprintf(stderr, "API_KEYS_FILE=%s: cannot read it\n", file);
			return -1;
		}
		rc = add_all(a, text, file);
		free(text);
		return rc;
	}
	return 0;
}

/* 1 when cand equals k, in time that depends only on the key buffer size. */
static int
same_key(const struct auth_key *k, const char *cand, size_t len)
{
	unsigned char diff = (unsigned char)(len != k->len);
	for (size_t i = 0; i < sizeof k->key; i++) {
		unsigned char c = i < len ? (unsigned char)cand[i] : 0;
		diff |= c ^ (unsigned char)k->key[i];
	}
	return diff == 0;
}

/* The key in an "Authorization: Bearer KEY" value, or NULL. */
static const char *
bearer(const char *h, size_t *len)
{
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	*len = strlen(h);
	while (*len && h[*len - 1] == ' ')
		(*len)--;
	return h;
}

int
auth_allows(const struct auth *a, enum auth_scope need, const char *x_api_key,
	    const char *authorization, const char **why)
{
	const char *cands[2];
	size_t lens[2] = {0, 0};
	unsigned scopes = 0;
	int found = 0;
	if (a->n == 0 || need == AUTH_NONE)
		return 1;
	cands[0] = x_api_key;
	lens[0] = x_api_key ? strlen(x_api_key) : 0;
	cands[1] = bearer(authorization, &lens[1]);
	if (!cands[0] && !cands[1]) {
		*why = "an API key is required: send X-API-Key or Authorization: Bearer";
		return 0;
	}
	for (int c = 0; c < 2; c++) {
		if (!cands[c] || lens[c] > AUTH_KEY_MAX)
			continue;
		for (size_t i = 0; i < a->n; i++) /* no early exit: same time for every key */
			if (same_key(&a->keys[i], cands[c], lens[c])) {
				found = 1;
				scopes |= a->keys[i].scopes;
			}
	}
	if (!found) {
		*why = "invalid API key";
		return 0;
	}
	if (!(scopes & need)) {
		*why = need == AUTH_INGEST ? "this API key lacks the ingest scope"
					   : "this API key lacks the read scope";
		return 0;
	}
	return 1;
}
