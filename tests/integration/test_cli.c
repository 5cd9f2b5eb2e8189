/* Every command a user can run answers --help (exit 0, text on stdout that names its exit
 * codes) and refuses an unknown flag before it starts any work (exit non-zero, quickly). */
#include "client.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const char *const commands[] = {
    "build/events-fcgi",     "build/import_events",   "build/gen_csv",	"build/migrate",
    "tools/import_events",   "tools/gen_csv",	      "tools/stack.sh", "tools/adminer.sh",
    "tools/bench.sh",	     "tools/bench_import.sh", "tools/deps.sh",	"tools/compose_check.sh",
    "tools/render_nginx.sh", "tools/request_cost.sh",
};

/* Runs cmd under a 20 s time-out, up to cap bytes of its stdout (and of its stderr too when
 * with_stderr) into out; its exit status. */
static int
run_cmd(const char *cmd, int with_stderr, char *out, size_t cap)
{
	char line[1200];
	snprintf(line, sizeof line, "timeout 20 sh -c '%s' %s </dev/null", cmd,
		 with_stderr ? "2>&1" : "2>/dev/null");
	FILE *p = popen(line, "r");
	cr_assert(p, "popen %s", line);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The whole file at path (up to cap - 1 bytes), NUL-terminated, into buf. */
static void
read_text(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	cr_assert(f, "open %s", path);
	buf[fread(buf, 1, cap - 1, f)] = '\0';
	fclose(f);
}

/* Runs every command with flag (its stdout only) and hands each exit status and output to
 * check. */
static void
each_command(const char *flag, void (*check)(const char *cmd, int rc, const char *out))
{
	static char out[65536];
	char cmd[512];
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		snprintf(cmd, sizeof cmd, "%s %s", commands[i], flag);
		check(cmd, run_cmd(cmd, 0, out, sizeof out), out);
	}
}

static void
check_help(const char *cmd, int rc, const char *out)
{
	cr_expect_eq(rc, 0, "%s: exit %d", cmd, rc);
	cr_expect_gt(strlen(out), 80, "%s says something on stdout:\n%s", cmd, out);
	cr_expect(strstr(out, "xit status") || strstr(out, "xit code"),
		  "%s names its exit codes:\n%s", cmd, out);
}

static void
check_refused(const char *cmd, int rc, const char *out)
{
	(void)out;
	/* 124: still running after 20 s, i.e. it started work */
	cr_expect(rc != 0 && rc != 124, "%s: exit %d (refused, not run or timed out)", cmd, rc);
}

Test(cli, help_everywhere, .timeout = 300)
{
	each_command("--help", check_help);
}

Test(cli, unknown_flag_starts_nothing, .timeout = 300)
{
	each_command("--no-such-flag", check_refused);
}

/* conf/events.env.example lists every setting of README's configuration table, and where the
 * table gives a plain default the example's commented line carries the same value. */
Test(cli, env_example_lists_every_setting)
{
	static char readme[262144], example[65536];
	read_text("README.md", readme, sizeof readme);
	read_text("conf/events.env.example", example, sizeof example);
	const char *sec = strstr(readme, "\n## Configuration");
	cr_assert(sec, "README has a Configuration section");
	const char *end = strstr(sec + 1, "\n## ");
	int rows = 0;
	for (const char *p = strstr(sec, "\n| `"); p && (!end || p < end);
	     p = strstr(p + 1, "\n| `")) {
		char name[64], def[128] = "", want[256];
		if (sscanf(p, "\n| `%63[A-Z_]` | `%127[^`]`", name, def) < 1)
			continue;
		if (!strcmp(name, "EVENTS_METRICS_EPHEMERAL")) /* the tests' own setting */
			continue;
		rows++;
		snprintf(want, sizeof want, "\n#%s=", name);
		cr_expect(strstr(example, want), "conf/events.env.example lacks %s", name);
		/* no plain default: "<repo>/var", "newest ...", another variable's name */
		if (!def[0] || strpbrk(def, " <>/") ||
		    strspn(def, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == strlen(def))
			continue;
		snprintf(want, sizeof want, "\n#%s=%s\n", name, def);
		cr_expect(strstr(example, want), "conf/events.env.example: %s default should be %s",
			  name, def);
	}
	cr_expect_gt(rows, 15, "read the configuration table (%d rows)", rows);
}

/* A running stack asked to start with other settings says which differ and how to apply them
 * (it used to say "already running" and keep its own silently); make status on a stopped
 * stack is an answer, not a make error. */
Test(cli, running_stack_names_settings_that_differ, .timeout = 60)
{
	static char out[8192];
	char cmd[1024];
	const char *var = getenv("EVENTS_VAR_DIR");
	cr_assert(var, "EVENTS_VAR_DIR is set");
	snprintf(cmd, sizeof cmd, "VAR_DIR=%s WORKERS=%d tools/stack.sh up", var,
		 it_want_workers() + 3);
	int rc = run_cmd(cmd, 1, out, sizeof out);
	cr_expect_eq(rc, 0, "up on a running stack: exit %d\n%s", rc, out);
	cr_expect(strstr(out, "differs: WORKERS="), "names WORKERS:\n%s", out);
	cr_expect(strstr(out, "make stop && WORKERS="), "says how to apply it:\n%s", out);

	char dir[] = "/tmp/events-it-status.XXXXXX";
	cr_assert(mkdtemp(dir), "mkdtemp");
	snprintf(cmd, sizeof cmd, "VAR_DIR=%s make -s status", dir);
	rc = run_cmd(cmd, 1, out, sizeof out);
	cr_expect_eq(rc, 0, "make status on a stopped stack: exit %d\n%s", rc, out);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

/* The workers' settings have one table, the binary's (events-fcgi --settings): README's
 * configuration table gives the same default for each (and conf/events.env.example follows
 * README: env_example_lists_every_setting). */
Test(cli, settings_table_is_the_source)
{
	static char readme[262144], table[16384];
	read_text("README.md", readme, sizeof readme);
	int rc = run_cmd("build/events-fcgi --settings", 0, table, sizeof table);
	cr_assert_eq(rc, 0, "events-fcgi --settings: exit %d", rc);
	int rows = 0;
	for (char *line = strtok(table, "\n"); line; line = strtok(NULL, "\n")) {
		char want[160];
		char *tab = strchr(line, '\t'), *tab2 = tab ? strchr(tab + 1, '\t') : NULL;
		if (!tab2 || tab2 == tab + 1)
			continue; /* no default */
		*tab = *tab2 = '\0';
		const char *name = line, *def = tab + 1;
		rows++;
		snprintf(want, sizeof want, "\n| `%s` | `%s` |", name, def);
		cr_expect(strstr(readme, want), "README's configuration table: %s default %s", name,
			  def);
	}
	cr_expect_gt(rows, 4, "read the settings table (%d rows with a default)", rows);
}
