/* stack.c: the stacks of the integration tests: tools/stack.sh on the harness's stack, and
 * side stacks of their own for suites that need other settings or must stop something. */
#include "stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

void
it_side_stack_up(struct it_side_stack *s, const char *env)
{
	char cmd[4096], urls[1536];
	const char *owner = getenv("DATABASE_URL");
	const char *at = owner ? strstr(owner, "@/") : NULL;
	cr_assert(at, "DATABASE_URL names the embedded cluster: %s", owner ? owner : "(unset)");
	/* the pool connects as the service role, migrations run as the owner */
	snprintf(urls, sizeof urls,
		 "DATABASE_URL='postgresql://events_app%s' MIGRATE_DATABASE_URL='%s'", at, owner);
	snprintf(s->var_dir, sizeof s->var_dir, "/tmp/events-side-XXXXXX");
	cr_assert(mkdtemp(s->var_dir), "mkdtemp");
	for (int attempt = 0; attempt < 5; attempt++) {
		s->port = 20000 + (int)(((unsigned)getpid() * 7919u + (unsigned)attempt * 104729u +
					 (unsigned)time(NULL)) %
					40000u);
		snprintf(
		    cmd, sizeof cmd,
		    "chmod 755 %s && VAR_DIR=%s PORT=%d WORKERS=2 EVENTS_ENV_FILE=/dev/null %s %s "
		    "tools/stack.sh up >%s/up.log 2>&1",
		    s->var_dir, s->var_dir, s->port, urls, env ? env : "", s->var_dir);
		int rc = system(cmd);
		if (rc == 0)
			return;
		if (!(WIFEXITED(rc) && WEXITSTATUS(rc) == 3)) /* 3: port taken, try another */
			break;
	}
	snprintf(cmd, sizeof cmd, "cat %s/up.log >&2", s->var_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "side stack: no up.log\n");
	cr_assert_fail("could not start a second stack under %s", s->var_dir);
}

void
it_side_stack_down(struct it_side_stack *s)
{
	char cmd[512];
	if (!s->var_dir[0])
		return;
	snprintf(cmd, sizeof cmd, "VAR_DIR=%s tools/stack.sh down >/dev/null 2>&1; rm -rf %s",
		 s->var_dir, s->var_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "side stack: cleanup of %s failed\n", s->var_dir);
	s->var_dir[0] = '\0';
}

int
it_want_workers(void)
{
	const char *w = getenv("WORKERS");

	return w && atoi(w) > 0 ? atoi(w) : 4;
}

int
it_stack(const char *cmd)
{
	const char *dir = getenv("EVENTS_VAR_DIR");
	char line[2048];

	cr_assert(dir && *dir, "EVENTS_VAR_DIR must be set");
	snprintf(line, sizeof(line), "VAR_DIR='%s' tools/stack.sh %s >&2", dir, cmd);
	return system(line);
}
