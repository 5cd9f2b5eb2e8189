/* h_export.c: GET /events/export: the stored events of a range of local days, streamed as
 * NDJSON or as the loader's CSV while the database produces them. */
#include "handlers.h"
#include "db.h"
#include "event.h"
#include "log.h"
#include "params.h"
#include "qs.h"

#include <string.h>

static const char ndjson_type[] = "application/x-ndjson";
static const char csv_type[] = "text/csv; charset=utf-8";

struct export_out {
	struct http_req *req;
	const char *content_type;
	int started; /* the status line went out: errors can no longer be answered */
	int gone;    /* a write failed: the client (or nginx) is gone */
};

/* db_export's sink: headers at the start, then each line as it comes. */
static int
sink(void *arg, const char *line, size_t len)
{
	struct export_out *o = arg;
	if (!line) {
		http_stream_begin(o->req, 200, o->content_type);
		o->started = 1;
		/* the first bytes leave now, before the database has sorted anything */
		o->gone = http_stream_flush(o->req) < 0;
	} else {
		o->gone = http_stream_write(o->req, line, len) < 0;
	}
	return o->gone ? -1 : 0;
}

/* An optional text filter: 1..max bytes of UTF-8 without control characters. */
static const char *
text_param(const struct qs *q, const char *key, size_t max, struct verrs *v)
{
	const char *s = params_single(q, key, v), *why;
	if (!s)
		return NULL;
	if (event_text_check(s, strlen(s), max, &why) < 0) {
		verrs_add(v, -1, key, "%s", why);
		return NULL;
	}
	return s;
}

static void
format_param(const struct qs *q, struct db_export_query *e, const char **ctype, struct verrs *v)
{
	const char *s = params_single(q, "format", v);
	e->format = DB_EXPORT_NDJSON;
	*ctype = ndjson_type;
	if (!s || strcmp(s, "ndjson") == 0)
		return;
	if (strcmp(s, "csv") == 0) {
		e->format = DB_EXPORT_CSV;
		*ctype = csv_type;
		return;
	}
	verrs_add(v, -1, "format", "must be ndjson or csv");
}

/* The query parameters into *e; 0, or -1 after answering (400, 422 or 503). */
static int
export_params(struct app *app, struct http_req *req, struct qs *q, struct db_export_query *e,
	      const char **ctype)
{
	struct verrs v = {0};
	int known = 1;
	if (params_query(req, q) < 0)
		return -1;
	(void)params_range(q, &e->from_day, &e->to_day, &v);
	e->user_id = text_param(q, "user_id", EVENT_USER_ID_MAX, &v);
	e->event_type = text_param(q, "event_type", EVENT_TYPE_MAX, &v);
	format_param(q, e, ctype, &v);
	e->tz = params_single(q, "tz", &v);
	if (!e->tz) /* the /stats routes' default */
		e->tz = app->conf->report_tz ? app->conf->report_tz : "UTC";
	else if (!*e->tz || strlen(e->tz) > 64)
		known = 0;
	else if (!v.total && params_db_failed(app, req, db_tz_known(app->db, e->tz, &known)))
		return -1;
	if (!known)
		verrs_add(&v, -1, "tz",
			  "not a time-zone name of the tz database (e.g. Europe/Kyiv)");
	if (v.total) {
		params_invalid(req, &v);
		return -1;
	}
	return 0;
}

void
h_events_export(struct app *app, struct http_req *req)
{
	struct qs q = {0};
	struct db_export_query e = {0};
	struct export_out o = {.req = req};
	enum db_status st;
	if (export_params(app, req, &q, &e, &o.content_type) < 0)
		goto out;
	if (req->head) { /* the headers only: no reason to run the query */
		http_stream_begin(req, 200, o.content_type);
		goto out;
	}
	st = db_export(app->db, &e, sink, &o);
	if (!o.started) {
		(void)params_db_failed(app, req, st == DB_OK ? DB_ERROR : st);
	} else if (st != DB_OK) {
		log_msg(LOGL_ERROR, "export", "export broke off: %s", db_last_error(app->db));
		http_stream_abort(req);
	} else if (o.gone) {
		log_msg(LOGL_INFO, "export", "the client went away during an export");
	}
out:
	qs_free(&q);
}
