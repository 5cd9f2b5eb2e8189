/* http_client.h: the HTTP client of the integration tests (libcurl): requests to the stack at
 * $EVENTS_BASE_URL (or another base URL), the response with the headers the suites check, its
 * body parsed as JSON when it is JSON. */
#ifndef IT_HTTP_CLIENT_H
#define IT_HTTP_CLIENT_H

#include <stddef.h>

#include <json-c/json.h>

struct http_client; /* one curl handle; use one per thread */

struct http_resp {
	long status; /* HTTP status, 0 when the transfer failed */
	char *body;  /* NUL-terminated (may contain NULs before len) */
	size_t len;
	char *content_type;   /* NULL when absent; the last one seen */
	char *request_id;     /* NULL when absent; the first one seen */
	int request_id_count; /* how many X-Request-ID headers the response had */
	char *allow;
	char *retry_after;
	char *www_authenticate;
	double seconds;	      /* total time of the transfer */
	char curl_error[256]; /* set when status is 0 */
	json_object *json;    /* the parsed body, NULL when it is not JSON; owned */
};

/* A new client with its own curl handle; freed with http_client_free. */
struct http_client *http_client_new(void);
void http_client_free(struct http_client *c);

/* Sets the whole-transfer timeout in seconds of later requests (default 120). */
void http_client_set_timeout(struct http_client *c, long seconds);

/* Binds later requests to the local source address addr (e.g. "127.0.0.2"); NULL: default. */
void http_client_set_interface(struct http_client *c, const char *addr);

/* Sends later requests to url ("http://127.0.0.1:PORT", e.g. a side stack) instead of
 * $EVENTS_BASE_URL; NULL: back to $EVENTS_BASE_URL. */
void http_client_set_base_url(struct http_client *c, const char *url);

/* Sends method path (path includes the query string) to $EVENTS_BASE_URL. content_type NULL
 * sends no Content-Type header at all; body NULL sends no body. headers is a NULL-terminated
 * list of "Name: value" lines, or NULL. Fills *r (free it with http_resp_free). Returns 0, or -1
 * when the transfer failed (r->status 0, r->curl_error says why). */
int http_client_request(struct http_client *c, struct http_resp *r, const char *method,
			const char *path, const char *content_type, const char *body,
			size_t body_len, const char *const *headers);

/* GET of an absolute URL (another server than the stack, e.g. Prometheus); as above. */
int http_client_get_url(struct http_client *c, struct http_resp *r, const char *url);

/* Same with a per-process default client. */
int http_request(struct http_resp *r, const char *method, const char *path,
		 const char *content_type, const char *body, size_t body_len,
		 const char *const *headers);

/* GET path; POST path with a JSON body (Content-Type application/json). */
int http_get(struct http_resp *r, const char *path);
int http_post_json(struct http_resp *r, const char *path, const char *body);
/* POSTs the plain serialization of j (not consumed). */
int http_post_obj(struct http_resp *r, const char *path, json_object *j);

void http_resp_free(struct http_resp *r);

/* Base URL from the environment (asserts it is set). */
const char *it_base_url(void);

#endif
