/* h_users.c: DELETE /users/{user_id}, the erasure of one user (right to erasure). */
#include "handlers.h"
#include "db.h"
#include "event.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "netlist.h"
#include "params.h"
#include "qs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char prefix[] = "/users/";

/* The raw (still percent-encoded) user segment of the request: from REQUEST_URI, which nginx
 * passes as the client sent it (DOCUMENT_URI has %2F decoded to a slash already); NULL when
 * the path is not /users/ followed by one segment. */
static const char *
raw_segment(const struct http_req *req, size_t *len)
{
	const char *uri = req->request_uri ? req->request_uri : req->path;
	size_t n = strcspn(uri, "?#");
	if (n <= sizeof prefix - 1 || strncmp(uri, prefix, sizeof prefix - 1) != 0)
		return NULL;
	uri += sizeof prefix - 1;
	n -= sizeof prefix - 1;
	if (memchr(uri, '/', n))
		return NULL;
	*len = n;
	return uri;
}

/* Without API keys the route is open to the addresses /metrics is open to: loopback and
 * METRICS_ALLOW (nginx.conf.in). With keys, the admin scope decides (router.c). */
static int
address_allowed(const struct app *app, const struct http_req *req)
{
	if (auth_has_keys(&app->conf->auth))
		return 1;
	return netlist_contains("127.0.0.0/8 ::1", req->remote_addr) ||
	       netlist_contains(getenv("METRICS_ALLOW"), req->remote_addr);
}

static void
erase(struct app *app, struct http_req *req, const char *user)
{
	int64_t deleted;
	char *body;
	enum db_status st = db_erase_user(app->db, user, app->stripe, &deleted);
	if (st == DB_UNCONFIRMED) {
		metrics_add(METRIC_DB_ERRORS, 1);
		http_error(req, 503, "unavailable",
			   "erased on the primary but not confirmed by its standby; send it again",
			   NULL, "Retry-After: 2\r\n");
		return;
	}
	if (params_db_failed(app, req, st))
		return;
	/* the id is not logged: erasure should not leave it behind in the logs either */
	log_msg(LOGL_INFO, "users", "erased a user: %lld events", (long long)deleted);
	body = json_render_erased(user, deleted);
	http_respond(req, 200, NULL, body);
	free(body);
}

void
h_users_delete(struct app *app, struct http_req *req)
{
	const char *seg, *why;
	char *user = NULL;
	size_t len, ulen;
	struct verrs v = {0};
	if (!address_allowed(app, req)) {
		http_error(req, 403, "forbidden", "not allowed from this address", NULL, NULL);
		return;
	}
	if (!(seg = raw_segment(req, &len))) {
		http_error(req, 404, "not_found", "no such route: DELETE /users/{user_id}", NULL,
			   NULL);
		return;
	}
	if (qs_decode_segment(seg, len, &user, &ulen, &why) < 0) {
		char msg[96];
		snprintf(msg, sizeof msg, "user_id in the path: %s", why);
		http_error(req, 400, "bad_request", msg, NULL, NULL);
		return;
	}
	if (event_text_check(user, ulen, EVENT_USER_ID_MAX, &why) < 0) {
		verrs_add(&v, -1, "user_id", "%s", why);
		params_invalid(req, &v);
	} else {
		erase(app, req, user);
	}
	free(user);
}
