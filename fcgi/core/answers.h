/* answers.h: a connection's memo of zone-aware answers (ADR 7). A question (its key: route
 * and parameters) maps to the numbers answered (or, for top events, to bytes); an entry
 * holds for one state of the summaries, the token: analytics_gen's g and the transaction
 * that wrote it, which every fold that takes events (sets or only counts changed) and every
 * erasure that edits a user set changes in the same transaction. A reader that
 * finds nothing pending and the token unchanged may answer from the memo: the numbers are
 * those a recomputation would give. Fixed size, direct-mapped: an entry that collides
 * replaces the older one; large answers and long keys are not kept. */
#ifndef ANSWERS_H
#define ANSWERS_H

#include <stddef.h>
#include <stdint.h>

/* The largest answer kept (numbers; bytes) and the longest key. */
enum { ANSWERS_VALS_MAX = 400, ANSWERS_BYTES_MAX = 8192, ANSWERS_KEY_MAX = 512 };

struct answer_token {
	int64_t g, xid;
};

struct answers;

struct answers *answers_new(void); /* NULL: out of memory */
void answers_free(struct answers *a);
/* Forgets every entry (a new connection may reach another database). */
void answers_clear(struct answers *a);

/* 1 and vals[0 .. n) when key was answered with n numbers under token t, else 0. */
int answers_get(const struct answers *a, const char *key, struct answer_token t, int64_t *vals,
		size_t n);
/* Keeps vals[0 .. n) as key's answer under token t (silently not, when too large or out
 * of memory). */
void answers_put(struct answers *a, const char *key, struct answer_token t, const int64_t *vals,
		 size_t n);

/* The same for an answer that is not numbers (top events: names and counts): its bytes as
 * the caller encoded them. answers_find's pointer holds until the next put or clear. */
const void *answers_find(const struct answers *a, const char *key, struct answer_token t,
			 size_t *size);
void answers_put_bytes(struct answers *a, const char *key, struct answer_token t, const void *data,
		       size_t size);

#endif
