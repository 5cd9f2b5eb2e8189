/* router.c: the route table. Knows nothing of SQL or JSON bodies. */
#include "router.h"
#include "handlers.h"

#include <stdio.h>
#include <string.h>

struct route {
	const char *pattern; /* the label of logs and metrics */
	const char *method;  /* "GET" routes also answer HEAD */
	handler_fn fn;
	enum auth_scope scope; /* what an API key needs, when keys are configured */
	const char *prefix;    /* matched instead of pattern: the path starts with it (not only) */
};

/* metrics.c keeps counters for M_ROUTES = 12 routes */
_Static_assert(ROUTE__MAX <= 12, "raise M_ROUTES in metrics.c");

static const struct route routes[ROUTE__MAX] = {
    [ROUTE_EVENTS] = {"/events", "POST", h_events_post, AUTH_INGEST},
    [ROUTE_EXPORT] = {"/events/export", "GET", h_events_export, AUTH_READ},
    [ROUTE_DAU] = {"/stats/dau", "GET", h_stats_dau, AUTH_READ},
    [ROUTE_TOP_EVENTS] = {"/stats/top-events", "GET", h_stats_top_events, AUTH_READ},
    [ROUTE_RETENTION] = {"/stats/retention", "GET", h_stats_retention, AUTH_READ},
    [ROUTE_ACTIVE_USERS] = {"/stats/active-users", "GET", h_stats_active_users, AUTH_READ},
    [ROUTE_USERS] = {"/users/{user_id}", "DELETE", h_users_delete, AUTH_ADMIN, "/users/"},
    [ROUTE_HEALTHZ] = {"/healthz", "GET", h_healthz, AUTH_NONE},
    [ROUTE_METRICS] = {"/metrics", "GET", h_metrics, AUTH_NONE},
    [ROUTE_UNKNOWN] = {"unknown", NULL, NULL, AUTH_NONE},
};

const char *
router_pattern(enum route_id id)
{
	return id < ROUTE__MAX ? routes[id].pattern : "unknown";
}

const char *
router_label(int id)
{
	return router_pattern((enum route_id)id);
}

static int
method_ok(const struct route *rt, const char *method)
{
	return strcmp(rt->method, method) == 0 ||
	       (strcmp(rt->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

void
router_dispatch(struct app *app, struct http_req *req)
{
	char allow[64], msg[160];
	for (int i = 0; i < ROUTE_UNKNOWN; i++) {
		const struct route *rt = &routes[i];
		if (rt->prefix ? strncmp(req->path, rt->prefix, strlen(rt->prefix)) != 0 ||
				     !req->path[strlen(rt->prefix)]
			       : strcmp(req->path, rt->pattern) != 0)
			continue;
		req->route = i;
		if (method_ok(rt, req->method)) {
			const char *why;
			switch (auth_allows(&app->conf->auth, rt->scope, req->api_key,
					    req->authorization, &why)) {
			case AUTH_DENIED:
				http_error(req, 401, "unauthorized", why, NULL,
					   "WWW-Authenticate: Bearer\r\n");
				return;
			case AUTH_NO_SCOPE:
				http_error(req, 403, "forbidden", why, NULL, NULL);
				return;
			case AUTH_ALLOWED:
				break;
			}
			rt->fn(app, req);
			return;
		}
		snprintf(allow, sizeof allow, "Allow: %s\r\n",
			 strcmp(rt->method, "GET") == 0 ? "GET, HEAD" : rt->method);
		snprintf(msg, sizeof msg, "%s does not allow %s; use %s", rt->pattern, req->method,
			 rt->method);
		http_error(req, 405, "method_not_allowed", msg, NULL, allow);
		return;
	}
	req->route = ROUTE_UNKNOWN;
	http_error(req, 404, "not_found", "no such route", NULL, NULL);
}
