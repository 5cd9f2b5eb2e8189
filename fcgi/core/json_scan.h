/* json_scan.h: the scanner shared by json_scan.c and json_parse.c, not included elsewhere.
 * json_scan reads a text once, building nothing: it checks well-formedness and limits and
 * notes where each event's known members are (see json_scan.c). */
#ifndef JSON_SCAN_H
#define JSON_SCAN_H

#include "batch.h"

#include <stddef.h>

enum { JSON_MAX_DEPTH = 64 };

/* A properties object with n values nested inside takes at least 2n + 1 bytes serialized (by
 * induction: a container of k values takes two brackets, k - 1 commas and its values), so one
 * with more values than this is over EVENT_PROPERTIES_MAX whatever they are, and is refused
 * from the scan without being built. */
enum { PROPS_MAX_VALUES = (EVENT_PROPERTIES_MAX - 1) / 2 };

enum scan_flag { SCAN_BIGINT = 1, SCAN_NUL = 2 };

enum field { FIELD_ID, FIELD_TIME, FIELD_USER, FIELD_TYPE, FIELD_PROPS, FIELD__MAX };

/* The members' names, by enum field. */
extern const char *const json_field_name[FIELD__MAX];

/* The value of one known member of an event, as json_scan() found it. */
struct span {
	const char *p; /* its text; NULL when the event has no such member */
	size_t len;
	size_t values;	/* values nested inside it */
	unsigned flags; /* SCAN_* seen inside it */
};

/* One event as json_scan() found it. Of duplicate members the last counts, as in json-c. */
struct found {
	long index;  /* position in the request (NDJSON: the line) */
	int object;  /* 0: the event is not a JSON object */
	int nul_key; /* NDJSON: an object key in the line holds \u0000 */
	struct span f[FIELD__MAX];
};

struct found_list {
	struct found *ev;
	size_t n, cap;
};

/* One scan of base[0..end). */
struct scan {
	const char *base, *end;
	const char *why; /* not well-formed: what */
	size_t at;	 /* and where (SIZE_MAX: nowhere in particular) */
	int too_many;	 /* more than BATCH_MAX_EVENTS events */
	int nomem;
	int nul_key;		 /* an object key holds \u0000 */
	unsigned flags;		 /* SCAN_* seen so far (in the member being noted) */
	size_t values;		 /* values seen so far */
	struct found_list *list; /* a POST body's events; NULL when the text is one value */
	int events;		 /* the list holds the events: 1; a root "events" that is not an
				    array: -1; neither (the root is the event): 0 */
	struct found root;	 /* the root object's known members */
};

/* 1 when s[0..len) is only JSON whitespace. */
int json_blank(const char *s, size_t len);

/* Scans text[0..len) as one JSON value into *s. With a list (a POST /events body), the
 * events are a root array's elements, or those of a root object's "events" member; a root
 * object's known members go to s->root either way. Returns 0, or -1 with s saying why. The
 * caller frees list->ev, which the scan may have allocated, whatever it returns. */
int json_scan(struct scan *s, const char *text, size_t len, struct found_list *list)
    __attribute__((warn_unused_result));

/* What a failed scan found wrong, as "not well-formed JSON: ..." in out[0..cap). */
void json_scan_message(const struct scan *s, char *out, size_t cap);

#endif
