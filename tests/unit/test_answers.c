/* test_answers.c: a connection's memo of zone-aware answers. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "answers.h"

static const struct answer_token T1 = {7, 1234}, T2 = {8, 1240};

Test(answers, found_only_for_the_same_question_size_and_token)
{
	struct answers *a = answers_new();
	const int64_t v[3] = {10, 20, 30};
	int64_t out[3] = {0};
	cr_assert_not_null(a);
	cr_assert_not(answers_get(a, "dau\x1fUTC", T1, out, 3));
	answers_put(a, "dau\x1fUTC", T1, v, 3);
	cr_assert(answers_get(a, "dau\x1fUTC", T1, out, 3));
	cr_expect_arr_eq(out, v, sizeof v);
	/* the summaries changed (g, or the transaction that wrote it): not found */
	cr_expect_not(answers_get(a, "dau\x1fUTC", T2, out, 3));
	cr_expect_not(answers_get(a, "dau\x1fUTC", (struct answer_token){7, 999}, out, 3));
	/* another question, or another length */
	cr_expect_not(answers_get(a, "dau\x1fAsia/Kathmandu", T1, out, 3));
	cr_expect_not(answers_get(a, "dau\x1fUTC", T1, out, 2));
	/* a new connection forgets everything */
	answers_clear(a);
	cr_expect_not(answers_get(a, "dau\x1fUTC", T1, out, 3));
	answers_free(a);
}

Test(answers, a_newer_answer_replaces_the_older)
{
	struct answers *a = answers_new();
	const int64_t v1[2] = {1, 2}, v2[2] = {3, 4};
	int64_t out[2];
	answers_put(a, "k", T1, v1, 2);
	answers_put(a, "k", T2, v2, 2);
	cr_expect_not(answers_get(a, "k", T1, out, 2));
	cr_assert(answers_get(a, "k", T2, out, 2));
	cr_expect_arr_eq(out, v2, sizeof v2);
	answers_free(a);
}

Test(answers, bounded_whatever_is_put)
{
	struct answers *a = answers_new();
	static int64_t big[ANSWERS_VALS_MAX + 1];
	char key[ANSWERS_KEY_MAX + 2], k[32];
	int64_t out[ANSWERS_VALS_MAX + 1];
	/* too many numbers, or too long a key: not kept */
	answers_put(a, "big", T1, big, ANSWERS_VALS_MAX + 1);
	cr_expect_not(answers_get(a, "big", T1, out, ANSWERS_VALS_MAX + 1));
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	answers_put(a, key, T1, big, 1);
	cr_expect_not(answers_get(a, key, T1, out, 1));
	/* many questions: what comes back is always what was put for that question */
	for (int i = 0; i < 1000; i++) {
		const int64_t v = i;
		snprintf(k, sizeof k, "q%d", i);
		answers_put(a, k, T1, &v, 1);
	}
	int found = 0;
	for (int i = 0; i < 1000; i++) {
		snprintf(k, sizeof k, "q%d", i);
		if (answers_get(a, k, T1, out, 1)) {
			cr_assert_eq(out[0], i);
			found++;
		}
	}
	cr_expect_gt(found, 0);
	cr_expect_leq(found, 64, "at most 64 entries kept: %d", found);
	answers_free(a);
}

Test(answers, none_kept_without_a_memo)
{
	int64_t v = 1;
	answers_put(NULL, "k", T1, &v, 1);
	cr_expect_not(answers_get(NULL, "k", T1, &v, 1));
	answers_clear(NULL);
	answers_free(NULL);
}

Test(answers, bytes_kept_as_put_and_bounded)
{
	struct answers *a = answers_new();
	static unsigned char big[ANSWERS_BYTES_MAX + 1];
	const char top[] = "\x02\0\0\0\0\0\0\0k\0";
	size_t size = 0;
	const void *p;
	cr_assert_not(answers_find(a, "top\x1fUTC", T1, &size));
	answers_put_bytes(a, "top\x1fUTC", T1, top, sizeof top);
	cr_assert((p = answers_find(a, "top\x1fUTC", T1, &size)));
	cr_expect_eq(size, sizeof top);
	cr_expect_arr_eq(p, top, sizeof top);
	cr_expect_not(answers_find(a, "top\x1fUTC", T2, &size));
	/* numbers asked of a key that holds bytes of another length: not found */
	int64_t out[1];
	cr_expect_not(answers_get(a, "top\x1fUTC", T1, out, 1));
	/* too large, or empty: not kept */
	answers_put_bytes(a, "big", T1, big, sizeof big);
	cr_expect_not(answers_find(a, "big", T1, &size));
	answers_put_bytes(a, "none", T1, big, 0);
	cr_expect_not(answers_find(a, "none", T1, &size));
	answers_put_bytes(a, "max", T1, big, ANSWERS_BYTES_MAX);
	cr_expect(answers_find(a, "max", T1, &size) && size == ANSWERS_BYTES_MAX);
	answers_free(a);
}
