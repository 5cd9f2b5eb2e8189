/* test_daybounds.c: the worker's memo of local day bounds. */
#include <criterion/criterion.h>

#include <string.h>

#include "daybounds.h"

Test(daybounds, remembers_by_zone_and_day)
{
	int32_t q0 = 0, q1 = 0;
	cr_assert_not(daybounds_get("Asia/Kathmandu", 20000, &q0, &q1));
	daybounds_put("Asia/Kathmandu", 20000, 1919977, 1920073);
	cr_assert(daybounds_get("Asia/Kathmandu", 20000, &q0, &q1));
	cr_expect_eq(q0, 1919977);
	cr_expect_eq(q1, 1920073);
	/* another zone or another day is another entry */
	cr_expect_not(daybounds_get("Asia/Kolkata", 20000, &q0, &q1));
	cr_expect_not(daybounds_get("Asia/Kathmandu", 20001, &q0, &q1));
}

Test(daybounds, many_days_of_many_zones)
{
	static const char *const zones[] = {"UTC", "Europe/Kyiv", "America/New_York",
					    "Australia/Lord_Howe", "Pacific/Kiritimati"};
	int32_t q0, q1;
	for (int z = 0; z < 5; z++)
		for (int64_t d = -400; d < 400; d++)
			daybounds_put(zones[z], d, (int32_t)(d * 96 + z),
				      (int32_t)(d * 96 + 96 + z));
	int found = 0;
	for (int z = 0; z < 5; z++)
		for (int64_t d = -400; d < 400; d++)
			if (daybounds_get(zones[z], d, &q0, &q1)) {
				/* what comes back is always what was put for that zone and day */
				cr_assert_eq(q0, (int32_t)(d * 96 + z));
				cr_assert_eq(q1, (int32_t)(d * 96 + 96 + z));
				found++;
			}
	cr_expect_gt(found, 4000 * 6 / 10, "most of 4 000 entries kept: %d", found);
}

Test(daybounds, a_name_too_long_is_not_kept)
{
	char name[100];
	int32_t q0, q1;
	memset(name, 'A', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	daybounds_put(name, 5, 1, 2);
	cr_expect_not(daybounds_get(name, 5, &q0, &q1));
}
