/* handlers.h: one function per route; one file per resource (h_*.c). */
#ifndef HANDLERS_H
#define HANDLERS_H

#include "router.h"

void h_events_post(struct app *app, struct http_req *req);
void h_events_export(struct app *app, struct http_req *req);
void h_users_delete(struct app *app, struct http_req *req);
void h_stats_dau(struct app *app, struct http_req *req);
void h_stats_top_events(struct app *app, struct http_req *req);
void h_stats_retention(struct app *app, struct http_req *req);
void h_stats_active_users(struct app *app, struct http_req *req);
void h_healthz(struct app *app, struct http_req *req);
void h_metrics(struct app *app, struct http_req *req);

#endif
