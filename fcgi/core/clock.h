/* clock.h: the one monotonic clock of the service, the tools and the tests. */
#ifndef CLOCK_H
#define CLOCK_H

/* Seconds on CLOCK_MONOTONIC (arbitrary origin): for durations and deadlines only. */
double clock_mono_s(void);

#endif
