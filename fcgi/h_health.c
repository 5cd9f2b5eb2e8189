/* h_health.c: GET /healthz, answered from this worker's own connection within a second. */
#include "handlers.h"
#include "db.h"
#include "json.h"

#include <stdlib.h>

enum { HEALTH_TIMEOUT_MS = 1000 };

void
h_healthz(struct app *app, struct http_req *req)
{
	int ok = db_ping(app->db, HEALTH_TIMEOUT_MS) == DB_OK;
	char *body = json_render_health(ok);
	http_respond(req, ok ? 200 : 503, ok ? NULL : "Retry-After: 1\r\n", body);
	free(body);
}
