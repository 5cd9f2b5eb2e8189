/* Unit tests of conf.c: conf_check (events-fcgi --check-config) says every problem of the
 * environment, one line each, naming the variable, its value and what is expected. */
#include "conf.h"
#include "capture.h"

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

static const char *const settings[] = {"LOG_LEVEL", "WORKERS",	     "DB_STATEMENT_TIMEOUT_MS",
				       "API_KEYS",  "API_KEYS_FILE", "DATABASE_URL"};

static void
clear_env(void)
{
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
		unsetenv(settings[i]);
}

static int
check(struct capture *cap)
{
	int rc;
	capture_begin(cap);
	rc = conf_check();
	capture_end(cap);
	return rc;
}

Test(conf, one_line_per_bad_setting, .init = clear_env)
{
	struct {
		const char *var, *value;
		const char *says[3];
	} cases[] = {
	    {"LOG_LEVEL", "verbose", {"LOG_LEVEL", "verbose", "debug, info, warn or error"}},
	    {"WORKERS", "0", {"WORKERS=0", "1 to 256", NULL}},
	    {"WORKERS", "257", {"WORKERS=257", "1 to 256", NULL}},
	    {"WORKERS", "4x", {"WORKERS=4x", "1 to 256", NULL}},
	    {"DB_STATEMENT_TIMEOUT_MS", "abc", {"DB_STATEMENT_TIMEOUT_MS=abc", "100 to 3600000"}},
	    {"API_KEYS",
	     "fk2-0123456789abcdef ingest",
	     {"API_KEYS entry 2", "\"ingest\"", "colon"}},
	    {"API_KEYS", "fk2-0123456789abcdef:wrte", {"API_KEYS entry 1", "wrte", "admin"}},
	    {"API_KEYS", "fk2-0123456789abcdef,short-key", {"API_KEYS entry 2", "16 to 128"}},
	    {"API_KEYS", " , ", {"API_KEYS", "no key", NULL}},
	    {"API_KEYS_FILE", "/nonexistent/keys", {"API_KEYS_FILE=/nonexistent/keys", "cannot"}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct capture cap;
		clear_env();
		setenv(cases[i].var, cases[i].value, 1);
		int rc = check(&cap);
		cr_expect_eq(rc, -1, "case %zu (%s=%s): rc %d", i, cases[i].var, cases[i].value,
			     rc);
		cr_expect_eq(capture_lines(cap.text), 1, "case %zu (%s=%s): one line:\n%s", i,
			     cases[i].var, cases[i].value, cap.text);
		for (int j = 0; j < 3; j++)
			if (cases[i].says[j])
				cr_expect(strstr(cap.text, cases[i].says[j]),
					  "case %zu (%s=%s): says %s:\n%s", i, cases[i].var,
					  cases[i].value, cases[i].says[j], cap.text);
		cr_expect_null(strstr(cap.text, "0123456789abcdef"), "case %zu: a key is shown", i);
	}
}

Test(conf, every_problem_at_once, .init = clear_env)
{
	struct capture cap;
	setenv("LOG_LEVEL", "verbose", 1);
	setenv("WORKERS", "0", 1);
	setenv("DB_STATEMENT_TIMEOUT_MS", "abc", 1);
	setenv("API_KEYS", "fk2 ingest", 1);
	cr_expect_eq(check(&cap), -1);
	cr_expect_eq(capture_lines(cap.text), 5, "5 problems, 5 lines:\n%s", cap.text);
	const char *says[] = {"LOG_LEVEL=verbose", "WORKERS=0", "DB_STATEMENT_TIMEOUT_MS=abc",
			      "API_KEYS entry 1", "API_KEYS entry 2"};
	for (size_t i = 0; i < sizeof says / sizeof says[0]; i++)
		cr_expect(strstr(cap.text, says[i]), "says %s:\n%s", says[i], cap.text);
}

Test(conf, good_settings_say_nothing, .init = clear_env)
{
	struct capture cap;
	cr_expect_eq(check(&cap), 0, "defaults:\n%s", cap.text);
	cr_expect_str_empty(cap.text);
	setenv("LOG_LEVEL", "warn", 1);
	setenv("WORKERS", "16", 1);
	setenv("DB_STATEMENT_TIMEOUT_MS", "5000", 1);
	setenv("API_KEYS", "fk2-0123456789abcdef:ingest,fk3-0123456789abcdef:read+admin", 1);
	cr_expect_eq(check(&cap), 0, "good values:\n%s", cap.text);
	cr_expect_str_empty(cap.text);
}

Test(conf, a_value_cannot_forge_a_line, .init = clear_env)
{
	struct capture cap;
	setenv("WORKERS", "4\nLOG_LEVEL=fine: all good", 1);
	cr_expect_eq(check(&cap), -1);
	cr_expect_eq(capture_lines(cap.text), 1, "one line:\n%s", cap.text);
}
