/* Unit tests of auth.c: key entries, scopes, header forms. */
#include "auth.h"

#include <criterion/criterion.h>

#include <string.h>

static struct auth
keys(const char *const *entries, size_t n)
{
	struct auth a;
	const char *why;
	memset(&a, 0, sizeof a);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(auth_add(&a, entries[i], strlen(entries[i]), &why), 0, "%s: %s",
			     entries[i], why);
	return a;
}

Test(auth, entries)
{
	struct {
		const char *entry;
		int ok;
		unsigned scopes;
	} cases[] = {
	    {"abc", 1, AUTH_INGEST | AUTH_READ},
	    {"abc:ingest", 1, AUTH_INGEST},
	    {"abc:read", 1, AUTH_READ},
	    {"abc:read+ingest", 1, AUTH_INGEST | AUTH_READ},
	    {"abc:", 0, 0},
	    {"abc:write", 0, 0},
	    {":read", 0, 0},
	    {"a b", 0, 0},
	    {"k\"ey", 0, 0},
	    {"A-Za-z0.9_~+/=", 1, AUTH_INGEST | AUTH_READ},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct auth a;
		const char *why = NULL;
		memset(&a, 0, sizeof a);
		int rc = auth_add(&a, cases[i].entry, strlen(cases[i].entry), &why);
		cr_expect_eq(rc == 0, cases[i].ok, "case %zu (%s): rc %d %s", i, cases[i].entry, rc,
			     why ? why : "");
		if (rc == 0)
			cr_expect_eq(a.keys[0].scopes, cases[i].scopes, "case %zu scopes", i);
	}
	char long_key[200];
	memset(long_key, 'k', sizeof long_key);
	struct auth a;
	const char *why;
	memset(&a, 0, sizeof a);
	cr_expect_eq(auth_add(&a, long_key, 128, &why), 0);
	cr_expect_eq(auth_add(&a, long_key, 129, &why), -1, "129 characters is too long");
}

Test(auth, allows)
{
	const char *entries[] = {"ingest-key:ingest", "read-key:read", "both-key"};
	struct auth a = keys(entries, 3), none;
	const char *why;
	memset(&none, 0, sizeof none);
	struct {
		const struct auth *a;
		enum auth_scope need;
		const char *x_api_key, *authorization;
		int allowed;
	} cases[] = {
	    {&none, AUTH_INGEST, NULL, NULL, 1},
	    {&a, AUTH_NONE, NULL, NULL, 1},
	    {&a, AUTH_INGEST, NULL, NULL, 0},
	    {&a, AUTH_INGEST, "ingest-key", NULL, 1},
	    {&a, AUTH_READ, "ingest-key", NULL, 0},
	    {&a, AUTH_READ, "read-key", NULL, 1},
	    {&a, AUTH_READ, NULL, "Bearer read-key", 1},
	    {&a, AUTH_READ, NULL, "bearer   read-key  ", 1},
	    {&a, AUTH_READ, NULL, "Basic cmVhZC1rZXk=", 0},
	    {&a, AUTH_INGEST, NULL, "Bearer both-key", 1},
	    {&a, AUTH_READ, "both-key", NULL, 1},
	    {&a, AUTH_READ, "read-ke", NULL, 0},
	    {&a, AUTH_READ, "read-keyy", NULL, 0},
	    {&a, AUTH_READ, "", NULL, 0},
	    {&a, AUTH_READ, "wrong", "Bearer read-key", 1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		why = NULL;
		int ok = auth_allows(cases[i].a, cases[i].need, cases[i].x_api_key,
				     cases[i].authorization, &why);
		cr_expect_eq(ok, cases[i].allowed, "case %zu: got %d (%s)", i, ok, why ? why : "");
		if (!ok)
			cr_expect(why && *why, "case %zu says why", i);
	}
}
