/* json.h: request bodies in, response bodies out. The only module that knows json-c. */
#ifndef JSON_H
#define JSON_H

#include "batch.h"
#include "verrs.h"

#include <stddef.h>
#include <stdint.h>

enum json_body { JSON_BODY_JSON, JSON_BODY_NDJSON };

enum json_result {
	JSON_OK,	/* every event valid, all in the batch */
	JSON_MALFORMED, /* 400: v says where */
	JSON_TOO_MANY,	/* 413: more than BATCH_MAX_EVENTS */
	JSON_INVALID,	/* 422: v lists the problems; the batch is empty */
	JSON_NOMEM
};

/* Parses and validates a POST /events body (array, {"events": [...]}, one object, or NDJSON
 * lines). On JSON_OK b holds the valid events in request order; on any other result b is
 * empty. The caller owns b (batch_clear). The body is checked whole before anything is built
 * and then built one event at a time, only the members API.md names: memory does not grow with
 * the body's values. */
enum json_result json_parse_events(const char *body, size_t len, enum json_body kind,
				   int64_t now_us, struct batch *b, struct verrs *v)
    __attribute__((warn_unused_result));

/* Validates one properties cell (the CSV loader's properties_json): a JSON object, stored
 * compact. On success *out is a malloc'd compact serialisation (caller frees) and 0 is
 * returned; otherwise -1 and *why says what is wrong. An empty cell means {}. An object of
 * more values than 64 KiB can hold is refused without being built. */
int json_properties_normalize(const char *s, size_t len, char **out, const char **why)
    __attribute__((warn_unused_result));

/* Bytes of request text this thread has handed to json-c to build objects from, since it
 * started: lets the tests see that a refused body or an ignored member is never built. */
size_t json_built_bytes(void);

/* Renderers: each returns a malloc'd NUL-terminated JSON text the caller frees, or NULL when
 * out of memory. */
char *json_render_error(const char *code, const char *message, const struct verrs *v);
char *json_render_ingest(size_t received, size_t accepted);
char *json_render_health(int db_ok);
char *json_render_erased(const char *user_id, int64_t deleted);

/* DAU: counts[i] is the number of users of day from_day + i. */
char *json_render_dau(int64_t from_day, size_t ndays, const int64_t *counts);

/* Active users: [{"date": ..., "active_users": n, "window": window}, ...]. */
char *json_render_active(int64_t from_day, size_t ndays, const int64_t *counts, int window);

/* Top event types (struct top_row: db.h). */
struct top_row;
char *json_render_top(const struct top_row *rows, size_t n);

/* Retention: counts[k] for k = 0..windows; period in days (1 or 7). */
char *json_render_retention(int64_t start_day, int period, int64_t cohort, size_t windows,
			    const int64_t *counts);

#endif
