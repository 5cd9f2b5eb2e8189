/* http_client.c: the HTTP client of the integration tests (libcurl): requests to the stack at
 * $EVENTS_BASE_URL (or another base URL), the response with the headers the suites check, its
 * body parsed as JSON when it is JSON. */
#include "http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

struct http_client {
	CURL *curl;
	long timeout;
	char *interface; /* source address of later requests, NULL for the default */
	char *base_url;	 /* NULL: $EVENTS_BASE_URL */
};

const char *
it_base_url(void)
{
	const char *u = getenv("EVENTS_BASE_URL");

	cr_assert(u && *u, "EVENTS_BASE_URL must be set (run through tests/integration/run.sh)");
	return u;
}

struct http_client *
http_client_new(void)
{
	struct http_client *c = calloc(1, sizeof(*c));

	cr_assert(c, "calloc of an http client");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c->curl = curl_easy_init();
	cr_assert(c->curl, "curl_easy_init must give a handle");
	c->timeout = 120;
	return c;
}

void
http_client_free(struct http_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	free(c->interface);
	free(c->base_url);
	free(c);
}

void
http_client_set_timeout(struct http_client *c, long seconds)
{
	c->timeout = seconds;
}

void
http_client_set_interface(struct http_client *c, const char *addr)
{
	free(c->interface);
	c->interface = addr ? strdup(addr) : NULL;
	cr_assert(!addr || c->interface, "strdup");
}

void
http_client_set_base_url(struct http_client *c, const char *url)
{
	free(c->base_url);
	c->base_url = url ? strdup(url) : NULL;
	cr_assert(!url || c->base_url, "strdup");
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct http_resp *r = ud;
	size_t n = size * nmemb;
	char *b = realloc(r->body, r->len + n + 1);

	if (!b)
		return 0;
	memcpy(b + r->len, ptr, n);
	r->len += n;
	b[r->len] = '\0';
	r->body = b;
	return n;
}

/* Value of a header line "Name: value\r\n" when its name is name, malloc'd and trimmed. */
static char *
header_value(const char *line, size_t n, const char *name)
{
	size_t nl = strlen(name);
	size_t b, e;
	char *v;

	if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	b = nl + 1;
	e = n;
	while (b < e && (line[b] == ' ' || line[b] == '\t'))
		b++;
	while (e > b && (line[e - 1] == '\r' || line[e - 1] == '\n' || line[e - 1] == ' '))
		e--;
	v = malloc(e - b + 1);
	if (!v)
		return NULL;
	memcpy(v, line + b, e - b);
	v[e - b] = '\0';
	return v;
}

static void
reset_headers(struct http_resp *r)
{
	free(r->content_type);
	free(r->request_id);
	free(r->allow);
	free(r->retry_after);
	free(r->www_authenticate);
	r->content_type = r->request_id = r->allow = r->retry_after = NULL;
	r->www_authenticate = NULL;
	r->request_id_count = 0;
}

static void
keep(char **slot, char *v)
{
	free(*slot);
	*slot = v;
}

static size_t
on_header(char *line, size_t size, size_t nmemb, void *ud)
{
	struct http_resp *r = ud;
	size_t n = size * nmemb;
	char *v;

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		reset_headers(r); /* a new (possibly interim) response starts */
		return n;
	}
	if ((v = header_value(line, n, "Content-Type")))
		keep(&r->content_type, v);
	else if ((v = header_value(line, n, "X-Request-ID"))) {
		r->request_id_count++;
		if (r->request_id)
			free(v);
		else
			r->request_id = v;
	} else if ((v = header_value(line, n, "Allow")))
		keep(&r->allow, v);
	else if ((v = header_value(line, n, "Retry-After")))
		keep(&r->retry_after, v);
	else if ((v = header_value(line, n, "WWW-Authenticate")))
		keep(&r->www_authenticate, v);
	return n;
}

/* One request to an absolute URL; see http_client_request. */
static int
perform(struct http_client *c, struct http_resp *r, const char *method, const char *url,
	const char *content_type, const char *body, size_t body_len, const char *const *headers)
{
	struct curl_slist *hl = NULL;
	char ct[512];
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	if (c->interface)
		curl_easy_setopt(c->curl, CURLOPT_INTERFACE, c->interface);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, c->timeout);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, r->curl_error);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	hl = curl_slist_append(hl, "Expect:");
	if (content_type) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
		hl = curl_slist_append(hl, ct);
	} else {
		hl = curl_slist_append(hl, "Content-Type:"); /* curl would add its own */
	}
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hl);
	rc = curl_easy_perform(c->curl);
	curl_slist_free_all(hl);
	curl_easy_getinfo(c->curl, CURLINFO_TOTAL_TIME, &r->seconds);
	if (!r->body) {
		r->body = calloc(1, 1);
		cr_assert(r->body, "calloc");
	}
	if (rc != CURLE_OK) {
		if (!r->curl_error[0])
			snprintf(r->curl_error, sizeof(r->curl_error), "%s",
				 curl_easy_strerror(rc));
		r->status = 0;
		return -1;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->len > 0 && strlen(r->body) == r->len) {
		struct json_tokener *tok = json_tokener_new();
		json_object *j = json_tokener_parse_ex(tok, r->body, (int)r->len);

		if (j && json_tokener_get_error(tok) == json_tokener_success &&
		    (size_t)json_tokener_get_parse_end(tok) == r->len)
			r->json = j;
		else
			json_object_put(j);
		json_tokener_free(tok);
	}
	return 0;
}

int
http_client_request(struct http_client *c, struct http_resp *r, const char *method,
		    const char *path, const char *content_type, const char *body, size_t body_len,
		    const char *const *headers)
{
	char url[8192];

	snprintf(url, sizeof(url), "%s%s", c->base_url ? c->base_url : it_base_url(), path);
	return perform(c, r, method, url, content_type, body, body_len, headers);
}

int
http_client_get_url(struct http_client *c, struct http_resp *r, const char *url)
{
	return perform(c, r, "GET", url, NULL, NULL, 0, NULL);
}

static struct http_client *
default_client(void)
{
	static struct http_client *c;

	if (!c)
		c = http_client_new();
	return c;
}

int
http_request(struct http_resp *r, const char *method, const char *path, const char *content_type,
	     const char *body, size_t body_len, const char *const *headers)
{
	return http_client_request(default_client(), r, method, path, content_type, body, body_len,
				   headers);
}

int
http_get(struct http_resp *r, const char *path)
{
	return http_request(r, "GET", path, NULL, NULL, 0, NULL);
}

int
http_post_json(struct http_resp *r, const char *path, const char *body)
{
	return http_request(r, "POST", path, "application/json", body, strlen(body), NULL);
}

int
http_post_obj(struct http_resp *r, const char *path, json_object *j)
{
	const char *s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);

	return http_post_json(r, path, s);
}

void
http_resp_free(struct http_resp *r)
{
	reset_headers(r);
	free(r->body);
	r->body = NULL;
	json_object_put(r->json);
	r->json = NULL;
}
