/* Unit tests of auth.c: key entries, scopes, header forms, the key file and the messages of a
 * bad configuration. Keys are at least AUTH_KEY_MIN (16) characters. */
#include "auth.h"
#include "capture.h"

#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	    {"abcdefghijklmnop", 1, AUTH_INGEST | AUTH_READ},
	    {"abcdefghijklmnop:ingest", 1, AUTH_INGEST},
	    {"abcdefghijklmnop:read", 1, AUTH_READ},
	    {"abcdefghijklmnop:read+ingest", 1, AUTH_INGEST | AUTH_READ},
	    {"abcdefghijklmnop:", 0, 0},
	    {"abcdefghijklmnop:write", 0, 0},
	    {":read", 0, 0},
	    {"abcdefgh ijklmnop", 0, 0},
	    {"k\"ey-abcdefghijklm", 0, 0},
	    {"A-Za-z0.9_~+/=00", 1, AUTH_INGEST | AUTH_READ},
	    /* admin: only when listed, and it brings nothing else */
	    {"abcdefghijklmnop:admin", 1, AUTH_ADMIN},
	    {"abcdefghijklmnop:ingest+admin", 1, AUTH_INGEST | AUTH_ADMIN},
	    {"abcdefghijklmnop:admin+read+ingest", 1, AUTH_INGEST | AUTH_READ | AUTH_ADMIN},
	    {"abcdefghijklmnop:admin+", 0, 0},
	    {"abcdefghijklmnop:Admin", 0, 0},
	    /* a scope word is not a key ("KEY ingest" where "KEY:ingest" was meant) */
	    {"ingest", 0, 0},
	    {"read", 0, 0},
	    {"admin", 0, 0},
	    {"ingest+read", 0, 0},
	    {"admin+ingest+read", 0, 0},
	    {"read+ingest+admin:read", 0, 0},
	    /* at least 16 characters */
	    {"abcdefghijklmno", 0, 0},
	    {"abcdefghijklmno:read", 0, 0},
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
	const char *entries[] = {"ingest-key-01234:ingest", "read-key-0123456:read",
				 "both-key-0123456", "admin-key-012345:admin"};
	struct auth a = keys(entries, 4), none;
	const char *why;
	memset(&none, 0, sizeof none);
	struct {
		const struct auth *a;
		enum auth_scope need;
		const char *x_api_key, *authorization;
		enum auth_verdict allowed; /* 0 denied (401), 1 allowed, 2 no scope (403) */
	} cases[] = {
	    {&none, AUTH_INGEST, NULL, NULL, 1},
	    {&a, AUTH_NONE, NULL, NULL, 1},
	    {&a, AUTH_INGEST, NULL, NULL, 0},
	    {&a, AUTH_INGEST, "ingest-key-01234", NULL, 1},
	    {&a, AUTH_READ, "ingest-key-01234", NULL, AUTH_NO_SCOPE},
	    {&a, AUTH_READ, "read-key-0123456", NULL, 1},
	    {&a, AUTH_READ, NULL, "Bearer read-key-0123456", 1},
	    {&a, AUTH_READ, NULL, "bearer   read-key-0123456  ", 1},
	    {&a, AUTH_READ, NULL, "Basic cmVhZC1rZXktMDEyMzQ1Ng==", 0},
	    {&a, AUTH_INGEST, NULL, "Bearer both-key-0123456", 1},
	    {&a, AUTH_READ, "both-key-0123456", NULL, 1},
	    {&a, AUTH_READ, "read-key-012345", NULL, 0},
	    {&a, AUTH_READ, "read-key-01234567", NULL, 0},
	    {&a, AUTH_READ, "", NULL, 0},
	    {&a, AUTH_READ, "wrong", "Bearer read-key-0123456", 1},
	    /* admin is its own scope: neither given by the default nor giving the others */
	    {&a, AUTH_ADMIN, "admin-key-012345", NULL, 1},
	    {&a, AUTH_ADMIN, "both-key-0123456", NULL, AUTH_NO_SCOPE},
	    {&a, AUTH_INGEST, "admin-key-012345", NULL, AUTH_NO_SCOPE},
	    {&a, AUTH_READ, NULL, "Bearer admin-key-012345", AUTH_NO_SCOPE},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		why = NULL;
		enum auth_verdict ok = auth_allows(cases[i].a, cases[i].need, cases[i].x_api_key,
						   cases[i].authorization, &why);
		cr_expect_eq(ok, cases[i].allowed, "case %zu: got %d (%s)", i, ok, why ? why : "");
		if (ok != AUTH_ALLOWED)
			cr_expect(why && *why, "case %zu says why", i);
	}
}

/* Runs auth_load with API_KEYS=env (unset when NULL) and API_KEYS_FILE=file (likewise);
 * returns its result and leaves what it wrote to stderr in cap. */
static int
load(const char *env, const char *file, struct auth *a, struct capture *cap)
{
	int rc;
	if (env)
		setenv("API_KEYS", env, 1);
	else
		unsetenv("API_KEYS");
	if (file)
		setenv("API_KEYS_FILE", file, 1);
	else
		unsetenv("API_KEYS_FILE");
	capture_begin(cap);
	rc = auth_load(a);
	capture_end(cap);
	return rc;
}

Test(auth, load_api_keys)
{
	struct {
		const char *env;
		int rc, lines;
		const char *says[2];
	} cases[] = {
	    {"fk2-0123456789abcdef ingest", -1, 1, {"API_KEYS entry 2", "ingest"}},
	    {"fk2 ingest", -1, 2, {"API_KEYS entry 1", "API_KEYS entry 2"}},
	    {"good-key-0123456789, short-key", -1, 1, {"API_KEYS entry 2", "16"}},
	    {"good-key-0123456789:ingest read+admin", -1, 1, {"API_KEYS entry 2", "read+admin"}},
	    {"good-key-0123456789:write", -1, 1, {"API_KEYS entry 1", "admin"}},
	    {",", -1, 1, {"API_KEYS", "no key"}},
	    {"# fk2-0123456789abcdef", -1, 1, {"API_KEYS", "no key"}},
	    {"", 0, 0, {NULL, NULL}},
	    {"fk2-0123456789abcdef:ingest, fk3-0123456789abcdef:read+admin", 0, 0, {NULL, NULL}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct auth a;
		struct capture cap;
		int rc = load(cases[i].env, NULL, &a, &cap);
		cr_expect_eq(rc, cases[i].rc, "case %zu (%s): rc %d", i, cases[i].env, rc);
		cr_expect_eq(capture_lines(cap.text), cases[i].lines, "case %zu (%s): lines:\n%s",
			     i, cases[i].env, cap.text);
		for (int j = 0; j < 2; j++)
			if (cases[i].says[j])
				cr_expect(strstr(cap.text, cases[i].says[j]),
					  "case %zu (%s): says \"%s\":\n%s", i, cases[i].env,
					  cases[i].says[j], cap.text);
		cr_expect_null(strstr(cap.text, "0123456789abcdef"),
			       "case %zu: a key is shown:\n%s", i, cap.text);
		cr_expect_null(strstr(cap.text, "entry on line"), "case %zu: %s", i, cap.text);
	}
}

static char dir[64];

static void
make_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/events-test-auth-XXXXXX");
	cr_assert(mkdtemp(dir), "mkdtemp");
}

static void
remove_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (dir[0] && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* Writes len bytes of text to dir/name with mode; returns the path (static buffer). */
static const char *
key_file(const char *name, const char *text, size_t len, mode_t mode)
{
	static char path[128];
	int fd;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0, "%s", path);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

/* A key file over the 64 KiB limit whose cut would fall inside a valid entry: what is left
 * of the key at the cut is still a key, with every scope. */
static char *
oversized(size_t *len)
{
	const char *tail = "cut-here-0123456789abcdef:read\n";
	size_t pad = 65536 - 20;
	char *text = malloc(pad + strlen(tail) + 1);
	cr_assert(text);
	memset(text, '#', pad);
	text[pad - 1] = '\n';
	strcpy(text + pad, tail);
	*len = pad + strlen(tail);
	return text;
}

Test(auth, load_key_file, .init = make_dir, .fini = remove_dir)
{
	size_t big_len;
	char *big = oversized(&big_len);
	const char *nul = "fk2-0123456789abcdef:read\n\0fk3-0123456789abcdef\n";
	struct {
		const char *name, *text;
		size_t len;
		mode_t mode;
		int rc, lines;
		const char *says;
	} cases[] = {
	    {"empty", "", 0, 0600, -1, 1, "no keys"},
	    {"comments", "# keys\n\n   # none yet\n", 0, 0600, -1, 1, "no keys"},
	    {"big", big, big_len, 0600, -1, 1, "65536"},
	    {"nul", nul, 48, 0600, -1, 1, "NUL"},
	    {"bad-line-3", "# keys\nfk2-0123456789abcdef:read\nshort:read\n", 0, 0600, -1, 1,
	     "API_KEYS_FILE line 3"},
	    {"space", "fk2-0123456789abcdef:read\nfk3-0123456789abcdef ingest\n", 0, 0600, -1, 1,
	     "API_KEYS_FILE line 2"},
	    {"group-readable", "fk2-0123456789abcdef:read\n", 0, 0640, 0, 1, "0640"},
	    {"world-readable", "fk2-0123456789abcdef:read\n", 0, 0604, 0, 1, "0604"},
	    {"good", "# ops\nfk2-0123456789abcdef:read\nfk3-0123456789abcdef:admin\n", 0, 0600, 0,
	     0, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct auth a;
		struct capture cap;
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
		const char *path = key_file(cases[i].name, cases[i].text, len, cases[i].mode);
		int rc = load(NULL, path, &a, &cap);
		cr_expect_eq(rc, cases[i].rc, "case %zu (%s): rc %d", i, cases[i].name, rc);
		cr_expect_eq(capture_lines(cap.text), cases[i].lines, "case %zu (%s): lines:\n%s",
			     i, cases[i].name, cap.text);
		if (cases[i].lines) {
			cr_expect(strstr(cap.text, "API_KEYS_FILE"), "case %zu: names the variable",
				  i);
			cr_expect(strstr(cap.text, path), "case %zu: names %s:\n%s", i, path,
				  cap.text);
		}
		if (cases[i].says)
			cr_expect(strstr(cap.text, cases[i].says), "case %zu (%s): says %s:\n%s", i,
				  cases[i].name, cases[i].says, cap.text);
		cr_expect_null(strstr(cap.text, "0123456789abcdef"), "case %zu: a key is shown", i);
	}
	free(big);
}

Test(auth, unreadable_key_file, .init = make_dir, .fini = remove_dir)
{
	char missing[128];
	const char *paths[] = {missing, dir}; /* no such file; a directory */
	snprintf(missing, sizeof missing, "%s/missing", dir);
	for (size_t i = 0; i < 2; i++) {
		struct auth a;
		struct capture cap;
		int rc = load("fk2-0123456789abcdef", paths[i], &a, &cap);
		cr_expect_eq(rc, -1, "%s: rc %d", paths[i], rc);
		cr_expect_eq(capture_lines(cap.text), 1, "%s: lines:\n%s", paths[i], cap.text);
		cr_expect(strstr(cap.text, "API_KEYS_FILE") && strstr(cap.text, paths[i]),
			  "names the variable and %s:\n%s", paths[i], cap.text);
	}
}
