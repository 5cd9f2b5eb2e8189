/* daybounds.h: a worker's memo of local day bounds, (zone, day) -> the day's 15-minute UTC
 * quarters [q0, q1). A zone's days do not change while the worker lives (a tz database
 * update reaches the workers with a reload). Fixed size, direct-mapped: an entry that
 * collides replaces the older one. */
#ifndef DAYBOUNDS_H
#define DAYBOUNDS_H

#include <stdint.h>

/* 1 and the bounds when (tz, day) is known, else 0. */
int daybounds_get(const char *tz, int64_t day, int32_t *q0, int32_t *q1);
void daybounds_put(const char *tz, int64_t day, int32_t q0, int32_t q1);

#endif
