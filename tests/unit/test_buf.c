/* test_buf.c: the growable byte buffer and the typed-array growth rule. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

Test(buf, printf_appends_and_grows)
{
	struct buf b = {0};
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(buf_printf(&b, "%d,", i % 10), 0);
	cr_assert_eq(b.len, 2000);
	cr_assert_eq(b.p[b.len], '\0');
	cr_assert_eq(strncmp(b.p, "0,1,2,", 6), 0);
	cr_assert_geq(b.cap, b.len + 1);
	buf_free(&b);
	cr_assert_null(b.p);
	cr_assert_eq(b.len + b.cap, 0);
}

Test(buf, reserve_refuses_overflow)
{
	struct buf b = {0};
	cr_assert_eq(buf_printf(&b, "x"), 0);
	cr_assert_eq(buf_reserve(&b, SIZE_MAX), -1);
	cr_assert_eq(b.len, 1);
	buf_free(&b);
}

Test(buf, array_doubles_from_64)
{
	long *items = NULL;
	size_t cap = 0, n;
	for (n = 0; n < 1000; n++) {
		cr_assert_eq(
		    buf_array_reserve(&items, &cap, n, sizeof *items, SIZE_MAX / sizeof *items), 0);
		items[n] = (long)n;
	}
	cr_assert_eq(cap, 1024); /* 64, 128, ... 1024 */
	for (n = 0; n < 1000; n++)
		cr_assert_eq(items[n], (long)n);
	free(items);
}

Test(buf, array_stops_at_max_and_keeps_what_it_had)
{
	int *items = NULL;
	size_t cap = 0, n;
	for (n = 0; n < 100; n++)
		cr_assert_eq(buf_array_reserve(&items, &cap, n, sizeof *items, 100), 0);
	cr_assert_eq(cap, 100); /* 64, then clipped to the maximum */
	int *before = items;
	cr_assert_eq(buf_array_reserve(&items, &cap, 100, sizeof *items, 100), -1);
	cr_assert_eq(items, before);
	cr_assert_eq(cap, 100);
	free(items);
}

Test(buf, array_refuses_a_size_that_overflows)
{
	char *items = NULL;
	size_t cap = 0;
	cr_assert_eq(buf_array_reserve(&items, &cap, 0, SIZE_MAX / 8, SIZE_MAX), -1);
	cr_assert_null(items);
	cr_assert_eq(cap, 0);
}
