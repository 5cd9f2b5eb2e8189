/* auth.h: optional API keys with scopes. When any key is configured, /events needs a key with
 * the ingest scope and /stats/... one with the read scope, sent as "X-API-Key: KEY" or
 * "Authorization: Bearer KEY". The admin scope is for administrative routes; it is given only
 * when listed, and gives neither ingest nor read. Keys are compared in constant time and never
 * logged. */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>

enum auth_scope { AUTH_NONE = 0, AUTH_INGEST = 1, AUTH_READ = 2, AUTH_ADMIN = 4 };

enum { AUTH_MAX_KEYS = 64, AUTH_KEY_MIN = 16, AUTH_KEY_MAX = 128, AUTH_FILE_MAX = 65536 };

struct auth_key {
	char key[AUTH_KEY_MAX + 1];
	size_t len;
	unsigned scopes; /* AUTH_INGEST | AUTH_READ | AUTH_ADMIN */
};

struct auth {
	struct auth_key keys[AUTH_MAX_KEYS];
	size_t n;
	unsigned
	    file_mode_open; /* the key file's mode when group or others may access it, else 0 */
};

/* One warning log line when the key file auth_load read is open to group or others (a process
 * that starts others calls it once, not every worker). */
void auth_warn_file_mode(const struct auth *a);

/* Reads API_KEYS ("KEY[:SCOPES] ...", SCOPES "ingest", "read", "admin" or several joined by
 * "+", default ingest+read; entries separated by white space or commas; '#' starts a comment)
 * and the file API_KEYS_FILE (the same entries, one a line). Keys are 16..128 characters of
 * [A-Za-z0-9._~+/=-] and not a scope word. Fails closed: -1 after one line on stderr per
 * problem (without the key) for a bad entry ("API_KEYS entry 2: ...", "API_KEYS_FILE line 3
 * (PATH): ..."), a non-empty API_KEYS without any entry, or a key file that cannot be read,
 * is over AUTH_FILE_MAX bytes, holds a NUL byte or no entry. An empty API_KEYS or
 * API_KEYS_FILE counts as unset. A key file open to group or others is used; its mode is kept
 * in a->file_mode_open for auth_warn_file_mode. */
int auth_load(struct auth *a) __attribute__((warn_unused_result));

/* Parses one entry into a->keys; -1 with *why on a bad entry. For tests and auth_load. */
int auth_add(struct auth *a, const char *entry, size_t len, const char **why)
    __attribute__((warn_unused_result));

/* What auth_allows decides: go on, no (or no known) key (HTTP 401), or a known key without
 * the route's scope (HTTP 403). */
enum auth_verdict { AUTH_DENIED = 0, AUTH_ALLOWED = 1, AUTH_NO_SCOPE = 2 };

/* Whether the request may proceed: AUTH_ALLOWED when no keys are configured, when need is
 * AUTH_NONE, or when one of the credentials (either may be NULL) is a key with the scope;
 * AUTH_NO_SCOPE when they name keys but none has the scope; else AUTH_DENIED. *why says what
 * was wrong. Takes the same time whichever key matches. */
enum auth_verdict auth_allows(const struct auth *a, enum auth_scope need, const char *x_api_key,
			      const char *authorization, const char **why);

/* 1 when any key is configured (routes are then guarded by scopes, not by address). */
int auth_has_keys(const struct auth *a);

#endif
