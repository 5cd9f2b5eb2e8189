/* router.h: method + path -> handler, and the route labels logs and metrics use. */
#ifndef ROUTER_H
#define ROUTER_H

#include "conf.h"
#include "http.h"

struct db;

enum route_id {
	ROUTE_EVENTS,
	ROUTE_EXPORT,
	ROUTE_DAU,
	ROUTE_TOP_EVENTS,
	ROUTE_RETENTION,
	ROUTE_ACTIVE_USERS,
	ROUTE_USERS,
	ROUTE_HEALTHZ,
	ROUTE_METRICS,
	ROUTE_UNKNOWN, /* every path that matches no route shares this label */
	ROUTE__MAX
};

/* What handlers share within one worker process. */
struct app {
	const struct conf *conf;
	struct db *db;
	int stripe; /* this worker's summary-counter stripe */
};

typedef void (*handler_fn)(struct app *app, struct http_req *req);

/* Answers req: the handler of its route, or 404 / 405 JSON. Sets req->route. */
void router_dispatch(struct app *app, struct http_req *req);

/* The route's pattern ("/stats/dau"), or "unknown". */
const char *router_pattern(enum route_id id);

/* The same, by number, for the metrics renderer. */
const char *router_label(int id);

#endif
