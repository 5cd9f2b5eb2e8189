/* auth.h: optional API keys with scopes. When any key is configured, /events needs a key with
 * the ingest scope and /stats/... one with the read scope, sent as "X-API-Key: KEY" or
 * "Authorization: Bearer KEY". Keys are compared in constant time and never logged. */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>

enum auth_scope { AUTH_NONE = 0, AUTH_INGEST = 1, AUTH_READ = 2 };

enum { AUTH_MAX_KEYS = 64, AUTH_KEY_MAX = 128 };

struct auth_key {
	char key[AUTH_KEY_MAX + 1];
	size_t len;
	unsigned scopes; /* AUTH_INGEST | AUTH_READ */
};

struct auth {
	struct auth_key keys[AUTH_MAX_KEYS];
	size_t n;
};

/* Reads API_KEYS ("KEY[:SCOPES] ...", SCOPES "ingest", "read" or "ingest+read", default
 * both; entries separated by white space or commas) and the file API_KEYS_FILE (one entry a
 * line, '#' comments). Keys are 1..128 characters of [A-Za-z0-9._~+/=-]. On a bad entry writes
 * a clear message (without the key) to stderr and returns -1. */
int auth_load(struct auth *a) __attribute__((warn_unused_result));

/* Parses one entry into a->keys; -1 with *why on a bad entry. For tests and auth_load. */
int auth_add(struct auth *a, const char *entry, size_t len, const char **why)
    __attribute__((warn_unused_result));

/* Whether the request may proceed: 1 when no keys are configured, when need is AUTH_NONE, or
 * when one of the credentials (either may be NULL) is a key with the scope. *why says what
 * was wrong otherwise. Takes the same time whichever key matches. */
int auth_allows(const struct auth *a, enum auth_scope need, const char *x_api_key,
		const char *authorization, const char **why);

#endif
