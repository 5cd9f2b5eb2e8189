/* fnv.h: FNV-1a (32 bits), the hash of the workers' fixed-size memos (answers.c,
 * daybounds.c). Not for anything a client could aim at: a memo slot taken by another key
 * costs one recomputation. */
#ifndef FNV_H
#define FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_SEED 2166136261u

/* h (FNV1A_SEED to start) carried over the n bytes at p. */
static inline uint32_t
fnv1a(uint32_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

#endif
