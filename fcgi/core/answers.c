/* answers.c: a connection's memo of zone-aware answers (answers.h). */
#include "answers.h"
#include "fnv.h"

#include <stdlib.h>
#include <string.h>

/* 64 answers of at most 8 kB (400 numbers: a year of days, a retention of 366 windows; or a
 * top-events list) and keys of at most 512 bytes: under 560 kB per worker when full,
 * allocated as filled. */
enum { SLOTS = 64 };

struct entry {
	char *key; /* NULL when free */
	struct answer_token t;
	size_t size;
	unsigned char *data;
};

struct answers {
	struct entry e[SLOTS];
};

struct answers *
answers_new(void)
{
	return calloc(1, sizeof(struct answers));
}

static void
entry_clear(struct entry *e)
{
	free(e->key);
	free(e->data);
	memset(e, 0, sizeof *e);
}

void
answers_clear(struct answers *a)
{
	if (!a)
		return;
	for (int i = 0; i < SLOTS; i++)
		entry_clear(&a->e[i]);
}

void
answers_free(struct answers *a)
{
	answers_clear(a);
	free(a);
}

static size_t
slot_of(const char *key)
{
	return fnv1a(FNV1A_SEED, key, strlen(key)) % SLOTS;
}

const void *
answers_find(const struct answers *a, const char *key, struct answer_token t, size_t *size)
{
	if (!a)
		return NULL;
	const struct entry *e = &a->e[slot_of(key)];
	if (!e->key || e->t.g != t.g || e->t.xid != t.xid || strcmp(e->key, key) != 0)
		return NULL;
	*size = e->size;
	return e->data;
}

void
answers_put_bytes(struct answers *a, const char *key, struct answer_token t, const void *data,
		  size_t size)
{
	size_t klen = strlen(key);
	if (!a || size == 0 || size > ANSWERS_BYTES_MAX || klen > ANSWERS_KEY_MAX)
		return;
	struct entry *e = &a->e[slot_of(key)];
	entry_clear(e);
	if (!(e->key = malloc(klen + 1)) || !(e->data = malloc(size))) {
		entry_clear(e);
		return;
	}
	memcpy(e->key, key, klen + 1);
	memcpy(e->data, data, size);
	e->t = t;
	e->size = size;
}

int
answers_get(const struct answers *a, const char *key, struct answer_token t, int64_t *vals,
	    size_t n)
{
	size_t size;
	const void *data = answers_find(a, key, t, &size);
	if (!data || size != n * sizeof *vals)
		return 0;
	memcpy(vals, data, size);
	return 1;
}

void
answers_put(struct answers *a, const char *key, struct answer_token t, const int64_t *vals,
	    size_t n)
{
	if (n <= ANSWERS_VALS_MAX)
		answers_put_bytes(a, key, t, vals, n * sizeof *vals);
}
