/* h_events.c: POST /events. Checks run in API.md's order: size, media type,
 * well-formedness, content; the answer goes out only after the commit. */
#include "handlers.h"
#include "db.h"
#include "json.h"
#include "log.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The media type of a Content-Type value, compared without parameters or case. */
static int
media_is(const char *ct, const char *type)
{
	size_t n = strlen(type);
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, type, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* -1 for a type that is neither JSON nor NDJSON. A missing type is JSON (API.md). */
static int
body_kind(const char *ct, enum json_body *kind)
{
	*kind = JSON_BODY_JSON;
	if (!ct || media_is(ct, "application/json"))
		return 0;
	*kind = JSON_BODY_NDJSON;
	if (media_is(ct, "application/x-ndjson") || media_is(ct, "application/ndjson") ||
	    media_is(ct, "application/jsonl") || media_is(ct, "application/json-lines"))
		return 0;
	return -1;
}

static void
store(struct app *app, struct http_req *req, const struct batch *b)
{
	size_t accepted;
	char *body;
	enum db_status st;
	st = db_ingest(app->db, b, app->stripe, DB_FRESH, &accepted);
	if (st != DB_OK)
		metrics_add(METRIC_DB_ERRORS, 1);
	switch (st) {
	case DB_OK:
		metrics_add(METRIC_EVENTS_ACCEPTED, accepted);
		metrics_add(METRIC_EVENTS_DUPLICATE, b->n - accepted);
		body = json_render_ingest(b->n, accepted);
		http_respond(req, 200, NULL, body);
		free(body);
		return;
	case DB_UNAVAILABLE:
		http_error(req, 503, "unavailable", "database unavailable; nothing was stored",
			   NULL, "Retry-After: 1\r\n");
		return;
	case DB_BUSY:
		http_error(req, 503, "unavailable",
			   "database busy (a lock or the time limit); nothing was stored", NULL,
			   "Retry-After: 2\r\n");
		return;
	case DB_UNCONFIRMED:
		http_error(req, 503, "unavailable",
			   "stored on the primary but not confirmed by its standby; send it again "
			   "(its events will count as duplicates)",
			   NULL, "Retry-After: 2\r\n");
		return;
	default:
		log_msg(LOGL_ERROR, "events", "ingest failed: %s", db_last_error(app->db));
		http_error(req, 500, "internal",
			   "ingest failed; see the server log for this request id", NULL, NULL);
	}
}

void
h_events_post(struct app *app, struct http_req *req)
{
	enum json_body kind;
	struct batch b = {0};
	struct verrs *v;
	char msg[VERR_MSG + 96];
	switch (http_read_body(req)) {
	case HTTP_BODY_OK:
		break;
	case HTTP_BODY_TOO_LARGE:
		http_error(req, 413, "payload_too_large", "request body over 10 MiB", NULL, NULL);
		return;
	default:
		http_error(req, 500, "internal", "could not read the request body", NULL, NULL);
		return;
	}
	if (body_kind(req->content_type, &kind) < 0) {
		http_error(req, 415, "unsupported_media_type",
			   "send application/json or application/x-ndjson", NULL, NULL);
		return;
	}
	if (!(v = calloc(1, sizeof *v))) {
		http_error(req, 500, "internal", "out of memory", NULL, NULL);
		return;
	}
	switch (json_parse_events(req->body, req->body_len, kind, batch_now_us(), &b, v)) {
	case JSON_OK:
		metrics_add(METRIC_EVENTS_RECEIVED, b.n);
		store(app, req, &b);
		break;
	case JSON_MALFORMED:
		verrs_summary(v, msg, sizeof msg);
		http_error(req, 400, "bad_request", msg, v, NULL);
		break;
	case JSON_TOO_MANY:
		snprintf(msg, sizeof msg, "more than %d events in one request", BATCH_MAX_EVENTS);
		http_error(req, 413, "payload_too_large", msg, NULL, NULL);
		break;
	case JSON_INVALID:
		metrics_add(METRIC_EVENTS_RECEIVED, v->events);
		metrics_add(METRIC_EVENTS_REJECTED, v->events);
		verrs_summary(v, msg, sizeof msg);
		http_error(req, 422, "validation_failed", msg, v, NULL);
		break;
	default:
		http_error(req, 500, "internal", "out of memory", NULL, NULL);
	}
	batch_clear(&b);
	free(v);
}
