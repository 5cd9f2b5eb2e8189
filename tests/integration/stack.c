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

/* Runs a command without the harness's database settings, which tools/stack.sh would take for
 * an external database in place of a stack's embedded cluster. */
#define UNSET_DB                                                                                   \
	"env -u DATABASE_URL -u MIGRATE_DATABASE_URL -u PGHOST -u PGPORT -u PGDATABASE -u PGUSER " \
	"-u PGSERVICE"

/* tools/stack.sh up under a new temp VAR_DIR on a free port, with settings (shell words put
 * before the command); asserts it started. */
static void
stack_up(struct it_side_stack *s, const char *settings, const char *what)
{
	char cmd[4096];

	snprintf(s->var_dir, sizeof s->var_dir, "/tmp/events-side-XXXXXX");
	cr_assert(mkdtemp(s->var_dir), "mkdtemp");
	for (int attempt = 0; attempt < 5; attempt++) {
		s->port = 20000 + (int)(((unsigned)getpid() * 7919u + (unsigned)attempt * 104729u +
					 (unsigned)time(NULL)) %
					40000u);
		snprintf(cmd, sizeof cmd,
			 "chmod 755 %s && VAR_DIR=%s PORT=%d EVENTS_ENV_FILE=/dev/null %s "
			 "tools/stack.sh up >%s/up.log 2>&1",
			 s->var_dir, s->var_dir, s->port, settings, s->var_dir);
		int rc = system(cmd);
		if (rc == 0)
			return;
		if (!(WIFEXITED(rc) && WEXITSTATUS(rc) == 3)) /* 3: port taken, try another */
			break;
	}
	snprintf(cmd, sizeof cmd, "cat %s/up.log >&2", s->var_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "side stack: no up.log\n");
	cr_assert_fail("could not start %s under %s", what, s->var_dir);
}

void
it_side_stack_up(struct it_side_stack *s, const char *env)
{
	char settings[2048];
	const char *owner = getenv("DATABASE_URL");
	const char *at = owner ? strstr(owner, "@/") : NULL;
	cr_assert(at, "DATABASE_URL names the embedded cluster: %s", owner ? owner : "(unset)");
	/* the pool connects as the service role, migrations run as the owner */
	snprintf(settings, sizeof settings,
		 "WORKERS=2 DATABASE_URL='postgresql://events_app%s' MIGRATE_DATABASE_URL='%s' %s",
		 at, owner, env ? env : "");
	stack_up(s, settings, "a second stack");
}

/* Reads "NAME=value" lines of the stack's environment (tools/stack.sh env, unquoted by the
 * shell) into this process's environment. */
static void
adopt_env(const struct it_side_stack *s)
{
	static const char *const names[] = {"DATABASE_URL", "EVENTS_BASE_URL", "EVENTS_POOL_PID"};
	char cmd[512], line[1024];
	size_t i = 0;
	FILE *p;

	snprintf(cmd, sizeof cmd,
		 "eval \"$(VAR_DIR=%s " UNSET_DB " tools/stack.sh env)\" && "
		 "printf '%%s\\n' \"$DATABASE_URL\" \"$EVENTS_BASE_URL\" \"$EVENTS_POOL_PID\"",
		 s->var_dir);
	p = popen(cmd, "r");
	cr_assert(p, "popen of tools/stack.sh env");
	for (; i < 3 && fgets(line, sizeof line, p); i++) {
		line[strcspn(line, "\n")] = '\0';
		cr_assert(*line, "tools/stack.sh env under %s: no %s", s->var_dir, names[i]);
		setenv(names[i], line, 1);
	}
	cr_assert_eq(pclose(p), 0, "tools/stack.sh env under %s failed", s->var_dir);
	cr_assert_eq(i, 3, "tools/stack.sh env under %s: %zu of 3 values", s->var_dir, i);
	setenv("EVENTS_VAR_DIR", s->var_dir, 1);
}

void
it_own_stack_up(struct it_side_stack *s)
{
	char settings[256];

	snprintf(settings, sizeof settings, "WORKERS=%d " UNSET_DB, it_want_workers());
	stack_up(s, settings, "a stack of its own");
	adopt_env(s);
}

static struct it_side_stack own_stack; /* of this test process */

void
it_own_stack_init(void)
{
	it_own_stack_up(&own_stack);
}

void
it_own_stack_fini(void)
{
	it_side_stack_down(&own_stack);
}

void
it_side_stack_down(struct it_side_stack *s)
{
	char cmd[1024];
	if (!s->var_dir[0])
		return;
	/* an embedded cluster may live elsewhere, behind the link VAR_DIR/pg */
	snprintf(cmd, sizeof cmd,
		 "VAR_DIR=%s tools/stack.sh down >/dev/null 2>&1; "
		 "if [ -L %s/pg ]; then rm -rf -- \"$(readlink -- %s/pg)\"; fi; rm -rf -- %s",
		 s->var_dir, s->var_dir, s->var_dir, s->var_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "side stack: cleanup of %s failed\n", s->var_dir);
	s->var_dir[0] = '\0';
}

void
it_wait_worker_log(void)
{
	usleep(400 * 1000);
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
