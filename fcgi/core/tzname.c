/* tzname.c: the set of IANA zone names, from tzdata.zi ("Z NAME ..." zone lines, "L TARGET
 * NAME" link lines), sorted once and searched with bsearch. */
#include "tzname.h"
#include "buf.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char **names;
static size_t count;
static int loaded;

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The name a tzdata.zi line defines, or NULL. */
static const char *
line_name(char *line)
{
	char *save, *kind = strtok_r(line, " \t\n", &save), *a, *b;
	if (!kind || strlen(kind) != 1 || (*kind != 'Z' && *kind != 'L'))
		return NULL;
	a = strtok_r(NULL, " \t\n", &save);
	b = strtok_r(NULL, " \t\n", &save);
	return *kind == 'Z' ? a : b;
}

static void
load(void)
{
	const char *path = getenv("TZNAME_FILE");
	char line[512];
	size_t cap = 0;
	FILE *f = fopen(path && *path ? path : "/usr/share/zoneinfo/tzdata.zi", "r");
	loaded = 1;
	if (!f) {
		log_msg(LOGL_WARN, "tz", "no tz database list (tzdata.zi): only UTC is known");
		return;
	}
	while (fgets(line, sizeof line, f)) {
		const char *name = line_name(line);
		char *copy;
		if (!name)
			continue;
		if (buf_array_reserve(&names, &cap, count, sizeof *names, 1 << 20) < 0)
			break;
		if ((copy = strdup(name)))
			names[count++] = copy;
	}
	fclose(f);
	qsort(names, count, sizeof *names, by_name);
}

int
tzname_known(const char *name)
{
	if (!loaded)
		load();
	if (strcmp(name, "UTC") == 0)
		return 1;
	return count && bsearch(&name, names, count, sizeof *names, by_name) != NULL;
}
