/* test_log.c: log lines, written at once and kept (log_defer, a worker's access lines).
 * Criterion runs each test in a process of its own, so each starts with lines written at
 * once. */
#include "capture.h"
#include "log.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
access_line(const char *id)
{
	struct log_field f[] = {{"status", NULL, 200}, {"request_id", id, 0}};
	log_event(LOGL_INFO, "access", "access", f, 2);
}

/* the position of needle in s, or -1 */
static long
at(const char *s, const char *needle)
{
	const char *p = strstr(s, needle);
	return p ? p - s : -1;
}

Test(log, line_is_one_json_object)
{
	struct capture c;
	capture_begin(&c);
	log_msg(LOGL_WARN, "unit", "a \"quoted\"\nmessage");
	const char *out = capture_end(&c);
	cr_assert_eq(capture_lines(out), 1, "one line: %s", out);
	json_object *j = json_tokener_parse(out);
	cr_assert(j, "not JSON: %s", out);
	cr_expect_str_eq(json_object_get_string(json_object_object_get(j, "level")), "warn");
	cr_expect_str_eq(json_object_get_string(json_object_object_get(j, "msg")),
			 "a \"quoted\"\nmessage");
	cr_expect_eq(json_object_get_int(json_object_object_get(j, "pid")), getpid());
	json_object_put(j);
}

/* Kept info lines wait; a warning writes them first, then itself; log_flush writes the
 * rest. The delay is long (10 s) so that nothing is written by the thread meanwhile. */
Test(log, kept_lines_in_order)
{
	struct capture c;
	capture_begin(&c);
	cr_assert_eq(log_defer(10000), 0);
	access_line("r-one");
	access_line("r-two");
	cr_expect_eq(lseek(2, 0, SEEK_END), 0, "info lines are kept, not written at once");
	log_msg(LOGL_ERROR, "unit", "after two");
	access_line("r-three");
	log_flush();
	const char *out = capture_end(&c);
	cr_assert_eq(capture_lines(out), 4, "four lines: %s", out);
	long one = at(out, "r-one"), two = at(out, "r-two"), err = at(out, "after two"),
	     three = at(out, "r-three");
	cr_expect(one >= 0 && one < two && two < err && err < three, "in order: %s", out);
	cr_expect(at(out, "\"pid\":") > 0 && strstr(out, "\"status\":200"), "%s", out);
}

/* Without log_flush, the thread writes a kept line once it is delay_ms old. */
Test(log, kept_lines_written_after_the_delay)
{
	struct capture c;
	capture_begin(&c);
	cr_assert_eq(log_defer(50), 0);
	access_line("r-late");
	off_t n = 0;
	for (int i = 0; i < 200 && (n = lseek(2, 0, SEEK_END)) == 0; i++)
		usleep(10 * 1000);
	const char *out = capture_end(&c);
	cr_expect_gt(n, 0, "the line was not written within 2 s");
	cr_expect(strstr(out, "r-late"), "%s", out);
}

/* A batch is at most 4 KiB: more lines than that are written in several whole batches,
 * each line once. */
Test(log, many_lines_each_once)
{
	struct capture c;
	char id[32];
	capture_begin(&c);
	cr_assert_eq(log_defer(10000), 0);
	for (int i = 0; i < 60; i++) {
		snprintf(id, sizeof id, "r-%03d-", i);
		access_line(id);
	}
	log_flush();
	const char *out = capture_end(&c);
	cr_assert_eq(capture_lines(out), 60, "60 lines");
	for (int i = 0; i < 60; i++) {
		snprintf(id, sizeof id, "\"r-%03d-\"", i);
		cr_expect(strstr(out, id), "line %d missing", i);
	}
}

/* Numbers as "%.15g" writes them, integers included; the time as 2006-01-02T15:04:05.123Z. */
Test(log, numbers_and_time)
{
	struct capture c;
	struct log_field f[] = {{"status", NULL, 200}, {"neg", NULL, -5},
				{"zero", NULL, 0},     {"ms", NULL, 0.241},
				{"big", NULL, 1e20},   {"max", NULL, 999999999999999},
				{"half", NULL, -2.5}};
	capture_begin(&c);
	log_event(LOGL_WARN, "unit", "n", f, sizeof f / sizeof f[0]);
	const char *out = capture_end(&c);
	const char *want[] = {"\"status\":200,", "\"neg\":-5,",	   "\"zero\":0,",
			      "\"ms\":0.241,",	 "\"big\":1e+20,", "\"max\":999999999999999,",
			      "\"half\":-2.5,"};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		cr_expect(strstr(out, want[i]), "%s not in %s", want[i], out);
	json_object *j = json_tokener_parse(out);
	cr_assert(j, "not JSON: %s", out);
	const char *ts = json_object_get_string(json_object_object_get(j, "ts"));
	cr_assert(ts && strlen(ts) == 24, "ts %s", ts ? ts : "(none)");
	int y, mo, d, h, mi, s, ms;
	char z;
	cr_expect_eq(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z),
		     8, "ts %s", ts);
	cr_expect(z == 'Z' && y >= 2024 && mo >= 1 && mo <= 12 && ms >= 0 && ms <= 999, "ts %s",
		  ts);
	json_object_put(j);
}
