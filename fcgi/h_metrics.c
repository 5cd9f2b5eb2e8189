/* h_metrics.c: GET /metrics, the whole pool's counters from shared memory. nginx restricts
 * who may ask (loopback and configured networks). */
#include "handlers.h"
#include "metrics.h"

#include <stdlib.h>

void
h_metrics(struct app *app, struct http_req *req)
{
	size_t len;
	char *text = metrics_render(&len, ROUTE__MAX, router_label);
	(void)app;
	if (!text) {
		http_error(req, 500, "internal", "out of memory rendering metrics", NULL, NULL);
		return;
	}
	http_respond_typed(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, text, len);
	free(text);
}
