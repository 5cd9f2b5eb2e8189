/* http.h: one HTTP request as the FastCGI front end hands it over, and its answer. Handlers
 * see only this; http.c is the only file of the request path that includes fcgiapp.h. */
#ifndef HTTP_H
#define HTTP_H

#include "batch.h"

#include <stddef.h>

/* A request with a body over HTTP_TRIM_AFTER bytes that made the heap grow by more than
 * HTTP_TRIM_GROWTH bytes gives the heap glibc holds free back to the system when it ends. */
enum {
	HTTP_BODY_MAX = 10 * 1024 * 1024,
	HTTP_TRIM_AFTER = 1024 * 1024,
	HTTP_TRIM_GROWTH = 8 * 1024 * 1024,
	HTTP_REQUEST_ID_MAX = 128
};

struct http_req {
	void *fcgx; /* FCGX_Request * */
	const char *method;
	const char *path; /* without the query string */
	const char *query;
	const char *request_uri;   /* as the client sent it (not decoded), NULL when absent */
	const char *remote_addr;   /* the client's address as nginx saw it, NULL when absent */
	const char *content_type;  /* NULL when absent */
	const char *api_key;	   /* X-API-Key, NULL when absent */
	const char *authorization; /* Authorization, NULL when absent */
	long content_length;	   /* -1 when absent */
	char request_id[HTTP_REQUEST_ID_MAX + 1];
	char *body; /* NUL-terminated, owned; after http_read_body */
	size_t body_len;
	int head;     /* a HEAD request: answer without a body */
	int status;   /* what was answered, for the access log */
	int route;    /* enum route_id, for the access log */
	double start; /* monotonic seconds */
	/* the heap's size (mallinfo2 arena) before a large body was read, when heap_noted */
	size_t heap_before;
	int heap_noted;
};

/* Fills r from the FastCGI request's parameters (the request id: the client's X-Request-ID
 * when it is 1..128 of [A-Za-z0-9._-], else nginx's REQUEST_ID when sane, else a new one). */
void http_begin(struct http_req *r, void *fcgx_request);

/* Releases what http_begin and http_read_body allocated; after a large body that made the
 * heap grow (see HTTP_TRIM_GROWTH) also the heap glibc keeps free, so that a worker's RSS
 * returns near its baseline. */
void http_end(struct http_req *r);

enum http_body { HTTP_BODY_OK, HTTP_BODY_TOO_LARGE, HTTP_BODY_ERROR };

/* Reads the whole body, at most HTTP_BODY_MAX bytes (more: HTTP_BODY_TOO_LARGE, the rest is
 * drained and discarded). */
enum http_body http_read_body(struct http_req *r) __attribute__((warn_unused_result));

/* Sends status, Content-Type application/json, X-Request-ID, the extra header lines (each
 * ending in "\r\n", may be NULL) and body. A NULL body (out of memory) becomes a 500. */
void http_respond(struct http_req *r, int status, const char *extra_headers, const char *body);

/* Sends an API.md error body: {"error": code, "message": message, "details": [...]}. */
void http_error(struct http_req *r, int status, const char *code, const char *message,
		const struct verrs *v, const char *extra_headers);

/* Like http_respond for a body of another type (e.g. Prometheus text). */
void http_respond_typed(struct http_req *r, int status, const char *content_type,
			const char *extra_headers, const char *body, size_t len);

/* A streamed answer (GET /events/export): http_stream_begin sends the status line and headers
 * (no Content-Length: nginx sends the body chunked), http_stream_write appends body bytes
 * (nothing for HEAD), http_stream_flush hands what is buffered to nginx now. Write and flush
 * return -1 once the connection is gone. http_stream_abort breaks an answer that cannot be
 * finished (the database failed half-way): the connection to nginx is shut down, so the client
 * sees a cut transfer rather than a complete-looking one. */
void http_stream_begin(struct http_req *r, int status, const char *content_type);
int http_stream_write(struct http_req *r, const char *data, size_t len);
int http_stream_flush(struct http_req *r);
void http_stream_abort(struct http_req *r);

/* 1 when s is 1..128 characters of [A-Za-z0-9._-]. */
int http_request_id_ok(const char *s);

#endif
