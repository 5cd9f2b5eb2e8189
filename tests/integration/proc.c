/* proc.c: the pool's processes read from /proc (supervisor, workers, their slots and RSS)
 * and the clock. */
#include "proc.h"
#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

pid_t
it_pool_pid(void)
{
	const char *p = getenv("EVENTS_POOL_PID");

	return p && atoi(p) > 0 ? (pid_t)atoi(p) : 0;
}

int
it_worker_slot(pid_t pid)
{
	char path[64], buf[512];
	size_t n, a;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (!(fp = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	a = strlen(buf) + 1; /* argv[1] */
	if (a >= n || strcmp(buf + a, "--worker") != 0 || a + 9 >= n)
		return -1;
	return atoi(buf + a + 9);
}

static int
cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

int
it_pool_children(pid_t pool, pid_t *out, int cap)
{
	char path[128], buf[4096];
	size_t n;
	int k = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pool, (int)pool);
	if (pool <= 0 || !(fp = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	for (char *s = buf, *e; k < cap; s = e) {
		long v = strtol(s, &e, 10);

		if (e == s)
			break;
		out[k++] = (pid_t)v;
	}
	return k;
}

int
it_pool_workers(pid_t pool, pid_t *out, int cap)
{
	int n = it_pool_children(pool, out, cap), k = 0;

	for (int i = 0; i < n; i++)
		if (it_worker_slot(out[i]) >= 0)
			out[k++] = out[i];
	if (n < 0)
		return -1;
	qsort(out, (size_t)k, sizeof(*out), cmp_pid);
	return k;
}

long
it_proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(fp = fopen(path, "r")))
		return -1;
	while (kb < 0 && fgets(line, sizeof(line), fp))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(fp);
	return kb;
}

int
it_proc_status_kb(pid_t pid, const char *key, long *kb)
{
	char path[64], line[256];
	size_t n = strlen(key);
	FILE *f;
	*kb = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (*kb < 0 && fgets(line, sizeof line, f))
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			*kb = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return *kb < 0 ? -1 : 0;
}

int
it_proc_reset_peak(pid_t pid)
{
	char path[64];
	FILE *f;
	snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
	if (!(f = fopen(path, "w")))
		return -1;
	fputs("5\n", f);
	return fclose(f) == 0 ? 0 : -1;
}

double
it_now(void)
{
	return clock_mono_s();
}

void
it_sleep(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
