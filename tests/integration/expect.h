/* expect.h: assertions on the service's answers (JSON content type, one X-Request-ID, error
 * and ingest bodies) and JSON member lookups. The expect_ functions make Criterion assertions:
 * call them from inside a test only. */
#ifndef IT_EXPECT_H
#define IT_EXPECT_H

#include <stddef.h>

#include <json-c/json.h>

#include "http_client.h"

/* Content-Type application/json; charset=utf-8, exactly one X-Request-ID, a JSON body. what
 * names the request in assertion messages. */
void expect_json_response(const struct http_resp *r, const char *what);

/* GET path into r (free with http_resp_free): status 200 and the JSON response above. */
void expect_get_json(struct http_resp *r, const char *path);

/* Status, JSON error body with "error" == code and a "message" string, the headers above. */
void expect_error(const struct http_resp *r, long status, const char *code, const char *what);

/* 200 {"received": n, "accepted": a, "duplicates": d}; a or d < 0 means "don't check". */
void expect_ingest(const struct http_resp *r, long received, long accepted, long duplicates,
		   const char *what);

/* Returns details[i] of a 422/400 answer, asserting it exists and is an object. */
json_object *expect_detail(const struct http_resp *r, size_t i, const char *what);

/* Member lookup helpers: NULL when missing. */
json_object *jget(json_object *o, const char *key);
const char *jstr(json_object *o, const char *key);
/* o has the string member key equal to want. */
int jstr_is(json_object *o, const char *key, const char *want);

#endif
