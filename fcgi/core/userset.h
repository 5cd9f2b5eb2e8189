/* userset.h: sets of users as compressed bitmaps of their dense keys (user_keys), in the
 * bytes PostgreSQL stores for activity_sets and cohort_sets (migration 0011). Only userset.c
 * knows the bitmap library (CRoaring, portable serialization). */
#ifndef USERSET_H
#define USERSET_H

#include <stddef.h>
#include <stdint.h>

struct userset; /* opaque */

/* An empty set, or NULL when out of memory. Free with userset_free (NULL is fine). */
struct userset *userset_new(void);
void userset_free(struct userset *s);

/* s |= the set stored as text (PostgreSQL's bytea output: "\x" then hex; "\x" alone or ""
 * is the empty set). -1 when the text is not a well-formed set (s unchanged). */
int userset_or_text(struct userset *s, const char *text, size_t len);

/* s |= the set stored as bytes (bytea in binary result format; none: the empty set). */
int userset_or_bytes(struct userset *s, const char *bytes, size_t len);

/* s |= o. */
void userset_or(struct userset *s, const struct userset *o);

/* A new set equal to o; NULL when out of memory. */
struct userset *userset_copy(const struct userset *o);

/* How many users s holds; how many of them a holds too. */
uint64_t userset_count(const struct userset *s);
uint64_t userset_and_count(const struct userset *s, const struct userset *a);
uint64_t userset_or_count(const struct userset *s, const struct userset *a);

/* 1 when s changed, else 0. */
int userset_add(struct userset *s, uint32_t key);
int userset_remove(struct userset *s, uint32_t key);

/* The set as hex of its serialization (no "\x": for decode(..., 'hex')), malloc'd; NULL when
 * out of memory. */
char *userset_hex(struct userset *s);

#endif
