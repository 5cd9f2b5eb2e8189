/* params.h: query parameters of the GET routes (h_stats.c, h_export.c), checked with every
 * problem recorded in a struct verrs, and the answers shared by those routes. */
#ifndef PARAMS_H
#define PARAMS_H

#include "db.h"
#include "router.h"
#include "qs.h"
#include "verrs.h"

#include <stdint.h>

enum { STATS_MAX_DAYS = 3660 }; /* longest from..to range, days counted inclusively */

/* Decodes the query string; on failure answers 400 and returns -1. */
int params_query(struct http_req *req, struct qs *q) __attribute__((warn_unused_result));

/* The single value of key, or NULL (missing; or repeated, which is recorded as a problem). */
const char *params_single(const struct qs *q, const char *key, struct verrs *v);

/* A YYYY-MM-DD date as days since 1970-01-01; -1 when missing (a problem when required) or
 * bad (recorded). */
int params_date(const struct qs *q, const char *key, int required, int64_t *day, struct verrs *v);

/* A whole number in [min, max]; absent means def. -1 on a recorded problem. */
int params_int(const struct qs *q, const char *key, int def, int min, int max, int *out,
	       struct verrs *v);

/* from/to: both required, to >= from, at most STATS_MAX_DAYS days counted inclusively. */
int params_range(const struct qs *q, int64_t *from, int64_t *to, struct verrs *v);

/* Answers 422 with the problems of v. */
void params_invalid(struct http_req *req, const struct verrs *v);

/* Answers a database failure (503 for unavailable or busy, else 500); 0 when st is DB_OK. */
int params_db_failed(struct app *app, struct http_req *req, enum db_status st);

#endif
