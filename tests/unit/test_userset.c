/* test_userset.c: the user sets (round trip through the stored hex form, unions, counts,
 * damaged input refused) and the time-zone name check (IANA names only, never a path). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tzname.h"
#include "userset.h"

/* The stored text PostgreSQL would send for s: "\x" and the hex. */
static char *
stored(struct userset *s)
{
	char *hex = userset_hex(s), *text;
	cr_assert_not_null(hex);
	text = malloc(strlen(hex) + 3);
	sprintf(text, "\\x%s", hex);
	free(hex);
	return text;
}

Test(userset, round_trip_union_and_counts)
{
	struct userset *a = userset_new(), *b = userset_new(), *c = userset_new();
	for (uint32_t k = 0; k < 100000; k += 3)
		userset_add(a, k);
	for (uint32_t k = 0; k < 100000; k += 5)
		userset_add(b, k);
	userset_add(b, 4000000000u);
	char *ta = stored(a), *tb = stored(b);
	cr_assert_eq(userset_or_text(c, ta, strlen(ta)), 0);
	cr_assert_eq(userset_count(c), userset_count(a));
	cr_assert_eq(userset_count(a), 33334);
	/* |a or b| = |a| + |b| - |a and b| */
	uint64_t both = userset_and_count(a, b);
	cr_assert_eq(both, 6667);
	cr_assert_eq(userset_or_count(a, b), userset_count(a) + userset_count(b) - both);
	cr_assert_eq(userset_or_text(c, tb, strlen(tb)), 0);
	cr_assert_eq(userset_count(c), userset_or_count(a, b));
	/* idempotent: the same set again changes nothing */
	cr_assert_eq(userset_or_text(c, tb, strlen(tb)), 0);
	cr_assert_eq(userset_count(c), userset_or_count(a, b));
	cr_assert_eq(userset_remove(c, 4000000000u), 1);
	cr_assert_eq(userset_remove(c, 4000000000u), 0, "a second removal changes nothing");
	cr_assert_eq(userset_add(c, 3), 0, "3 is in a already");
	cr_assert_eq(userset_count(c), userset_or_count(a, b) - 1);
	struct userset *d = userset_copy(c);
	userset_or(d, a);
	cr_assert_eq(userset_count(d), userset_count(c));
	free(ta);
	free(tb);
	userset_free(a);
	userset_free(b);
	userset_free(c);
	userset_free(d);
}

Test(userset, empty_and_damaged_text)
{
	struct userset *s = userset_new();
	cr_assert_eq(userset_or_text(s, "\\x", 2), 0);
	cr_assert_eq(userset_or_text(s, "", 0), 0);
	/* the binary form readers fetch: no bytes is the empty set, junk is refused */
	cr_assert_eq(userset_or_bytes(s, "", 0), 0);
	cr_assert_eq(userset_or_bytes(s, "\x01\x02\x03\x04", 4), -1);
	cr_assert_eq(userset_count(s), 0);
	static const char *const bad[] = {"\\x0", "\\xzz", "\\x3a300000ffffffff", "\\x01020304"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_eq(userset_or_text(s, bad[i], strlen(bad[i])), -1, "%s", bad[i]);
	cr_assert_eq(userset_count(s), 0);
	/* a truncated real set is refused too */
	struct userset *t = userset_new();
	for (uint32_t k = 0; k < 5000; k++)
		userset_add(t, k * 7);
	char *text = stored(t);
	cr_assert_eq(userset_or_text(s, text, strlen(text) - 6), -1);
	free(text);
	userset_free(t);
	userset_free(s);
}

Test(tzname, iana_names_only)
{
	static const char *const good[] = {"UTC",
					   "Europe/Kyiv",
					   "America/New_York",
					   "Asia/Kathmandu",
					   "Australia/Lord_Howe",
					   "Pacific/Kiritimati",
					   "Etc/GMT+5",
					   "America/Argentina/Buenos_Aires"};
	static const char *const bad[] = {"",
					  "utc",
					  "../../etc/passwd",
					  "/etc/passwd",
					  "Europe/",
					  "Europe/Kyiv/",
					  "posix/UTC",
					  "right/UTC",
					  "Mars/Olympus",
					  "europe/kyiv",
					  "Europe/Kyiv\n",
					  "tzdata.zi"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_assert(tzname_known(good[i]), "%s should be known", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert(!tzname_known(bad[i]), "%s should be unknown", bad[i]);
}
