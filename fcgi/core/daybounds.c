/* daybounds.c: the worker's memo of local day bounds (daybounds.h). */
#include "daybounds.h"
#include "fnv.h"

#include <string.h>

/* 4096 days: 11 years of one zone, or 30 days of 136 zones (~400 kB, touched as filled). */
enum { SLOTS = 4096, TZ_MAX = 64 };

struct slot {
	int64_t day;
	int32_t q0, q1;
	char tz[TZ_MAX + 1]; /* "" when free */
};

static struct slot slots[SLOTS];

/* Over the name, then the day's bytes (least significant first). */
static uint32_t
slot_of(const char *tz, int64_t day)
{
	unsigned char d[8];
	for (int k = 0; k < 8; k++)
		d[k] = (unsigned char)((uint64_t)day >> (8 * k));
	return fnv1a(fnv1a(FNV1A_SEED, tz, strlen(tz)), d, sizeof d) % SLOTS;
}

int
daybounds_get(const char *tz, int64_t day, int32_t *q0, int32_t *q1)
{
	const struct slot *s = &slots[slot_of(tz, day)];
	if (s->day != day || !s->tz[0] || strcmp(s->tz, tz) != 0)
		return 0;
	*q0 = s->q0;
	*q1 = s->q1;
	return 1;
}

void
daybounds_put(const char *tz, int64_t day, int32_t q0, int32_t q1)
{
	if (strlen(tz) > TZ_MAX)
		return;
	struct slot *s = &slots[slot_of(tz, day)];
	s->day = day;
	s->q0 = q0;
	s->q1 = q1;
	strcpy(s->tz, tz);
}
