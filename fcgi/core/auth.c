/* auth.c: see auth.h. */
#include "auth.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

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
		else if (n == 5 && memcmp(s, "admin", 5) == 0)
			*out |= AUTH_ADMIN;
		else
			return -1;
		s += n + (plus != NULL);
		len -= n + (plus != NULL);
		if (plus && !len)
			return -1; /* "ingest+" */
	}
	return *out ? 0 : -1;
}

/* 1 when s[0..len) is a scope list ("ingest", "read+admin"): a key written where its scopes
 * were meant, as in "KEY ingest" for "KEY:ingest". */
static int
scope_word(const char *s, size_t len)
{
	unsigned scopes;
	return len > 0 && parse_scopes(s, len, &scopes) == 0;
}

static const char why_scope_word[] =
    "a scope word, not a key: expected KEY:SCOPES, a colon between key and scopes";
static const char why_scopes[] =
    "expected scopes ingest, read or admin, or several joined by + (ingest+read)";

int
auth_add(struct auth *a, const char *entry, size_t len, const char **why)
{
	const char *colon = memchr(entry, ':', len);
	size_t klen = colon ? (size_t)(colon - entry) : len;
	struct auth_key *k;
	if (a->n >= AUTH_MAX_KEYS)
		return *why = "too many keys (at most 64)", -1;
	if (scope_word(entry, klen))
		return *why = why_scope_word, -1;
	if (klen < AUTH_KEY_MIN || klen > AUTH_KEY_MAX)
		return *why = "a key must be 16 to 128 characters", -1;
	for (size_t i = 0; i < klen; i++)
		if (!key_char(entry[i]))
			return *why = "a key may hold only A-Z a-z 0-9 . _ ~ + / = -", -1;
	k = &a->keys[a->n];
	k->scopes = AUTH_INGEST | AUTH_READ;
	if (colon && parse_scopes(colon + 1, len - klen - 1, &k->scopes) < 0)
		return *why = why_scopes, -1;
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

/* Where an entry came from, for messages: "API_KEYS entry 2" or "API_KEYS_FILE line 3". */
struct source {
	const char *path; /* the key file; NULL: the API_KEYS variable */
	int entries;	  /* entries seen so far */
	int errors;
};

/* One line on stderr about a bad entry: where it is and what is expected. Of the entry only
 * a scope word or the scopes are shown: the rest may be (most of) a key. */
static void
bad_entry(struct source *src, int line, const char *p, size_t n, const char *why)
{
	char where[320], path[256], scopes[64], shown[64];
	const char *colon = memchr(p, ':', n);
	size_t klen = colon ? (size_t)(colon - p) : n;
	if (src->path)
		snprintf(where, sizeof where, "API_KEYS_FILE line %d (%s)", line,
			 log_quote(path, sizeof path, src->path));
	else
		snprintf(where, sizeof where, "API_KEYS entry %d", src->entries);
	src->errors++;
	if (why == why_scope_word)
		fprintf(stderr, "%s: \"%.*s\" is %s\n", where, (int)klen, p, why);
	else if (why == why_scopes) {
		snprintf(scopes, sizeof scopes, "%.*s", (int)(n - klen - 1), colon + 1);
		fprintf(stderr, "%s: scopes \"%s\": %s\n", where,
			log_quote(shown, sizeof shown, scopes), why);
	} else
		fprintf(stderr, "%s: %s\n", where, why);
}

/* Adds every entry of text, writing one line per bad entry; -1 when there was one. */
static int
add_all(struct auth *a, const char *text, struct source *src)
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
		src->entries++;
		if (auth_add(a, p, n, &why) < 0) {
			bad_entry(src, line, p, n, why);
			if (a->n >= AUTH_MAX_KEYS)
				return -1; /* said once, not for every entry beyond */
		}
		p += n;
	}
	return src->errors ? -1 : 0;
}

/* One line on stderr about the key file as a whole: what is wrong, and detail (or NULL). */
static void
bad_file(const char *path, const char *what, const char *detail)
{
	char shown[256];
	fprintf(stderr, "API_KEYS_FILE=%s: %s%s%s\n", log_quote(shown, sizeof shown, path), what,
		detail ? ": " : "", detail ? detail : "");
}

/* Reads up to AUTH_FILE_MAX + 1 bytes of fd into buf; the count, or -1 with errno. */
static ssize_t
read_some(int fd, char *buf)
{
	size_t n = 0;
	while (n < AUTH_FILE_MAX + 1) {
		ssize_t r = read(fd, buf + n, AUTH_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

/* The whole key file, NUL-terminated (malloc'd; the caller frees), or NULL after one line on
 * stderr: it cannot be read, is over AUTH_FILE_MAX bytes (cut, a key could become a shorter
 * one that still works) or holds a NUL byte. Warns (one log line) when group or others have
 * any access to it. */
static char *
read_key_file(const char *path)
{
	char *buf = NULL;
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		bad_file(path, "cannot open it", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
		log_msg(LOGL_WARN, "auth",
			"API_KEYS_FILE=%s is open to group or others (mode %04o): chmod 600 it",
			path, (unsigned)(st.st_mode & 07777));
	if (!(buf = malloc(AUTH_FILE_MAX + 2))) {
		bad_file(path, "cannot read it", strerror(errno));
		goto out;
	}
	if ((n = read_some(fd, buf)) < 0) {
		bad_file(path, "cannot read it", strerror(errno));
		goto fail;
	}
	if (n > AUTH_FILE_MAX) {
		bad_file(path, "larger than 65536 bytes: refusing it rather than cutting a key",
			 NULL);
		goto fail;
	}
	if (memchr(buf, '\0', (size_t)n)) {
		bad_file(path, "holds a NUL byte: expected a text file of KEY[:SCOPES] lines",
			 NULL);
		goto fail;
	}
	buf[n] = '\0';
	goto out;
fail:
	free(buf);
	buf = NULL;
out:
	close(fd);
	return buf;
}

/* Keys of the key file; -1 after one line per problem. A file without any entry is refused:
 * keys were asked for, and running open instead would fail unsafe. */
static int
load_file(struct auth *a, const char *path)
{
	struct source src = {.path = path};
	char *text = read_key_file(path);
	int rc;
	if (!text)
		return -1;
	rc = add_all(a, text, &src);
	free(text);
	if (rc == 0 && src.entries == 0) {
		bad_file(path,
			 "no keys in it (empty or only comments): expected KEY[:SCOPES] lines, or "
			 "unset API_KEYS_FILE to run without keys",
			 NULL);
		return -1;
	}
	return rc;
}

int
auth_load(struct auth *a)
{
	const char *env = getenv("API_KEYS"), *file = getenv("API_KEYS_FILE");
	struct source src = {0};
	int rc = 0;
	memset(a, 0, sizeof *a);
	if (env && *env) {
		rc = add_all(a, env, &src);
		if (rc == 0 && src.entries == 0) {
			fprintf(stderr,
				"API_KEYS: set but holds no key (only separators or "
				"comments): expected KEY[:SCOPES] entries, or unset it to run "
				"without keys\n");
			rc = -1;
		}
	}
	if (file && *file && load_file(a, file) < 0)
		rc = -1;
	return rc;
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
auth_has_keys(const struct auth *a)
{
	return a->n > 0;
}

enum auth_verdict
auth_allows(const struct auth *a, enum auth_scope need, const char *x_api_key,
	    const char *authorization, const char **why)
{
	const char *cands[2];
	size_t lens[2] = {0, 0};
	unsigned scopes = 0;
	int found = 0;
	if (a->n == 0 || need == AUTH_NONE)
		return AUTH_ALLOWED;
	cands[0] = x_api_key;
	lens[0] = x_api_key ? strlen(x_api_key) : 0;
	cands[1] = bearer(authorization, &lens[1]);
	if (!cands[0] && !cands[1]) {
		*why = "an API key is required: send X-API-Key or Authorization: Bearer";
		return AUTH_DENIED;
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
		return AUTH_DENIED;
	}
	if (!(scopes & need)) {
		*why = need == AUTH_INGEST ? "this API key lacks the ingest scope"
		       : need == AUTH_READ ? "this API key lacks the read scope"
					   : "this API key lacks the admin scope";
		return AUTH_NO_SCOPE;
	}
	return AUTH_ALLOWED;
}
