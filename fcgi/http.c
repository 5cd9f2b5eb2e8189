/* http.c: the FastCGI request, read and answered through libfcgi. */
#include "http.h"
#include "clock.h"
#include "buf.h"
#include "json.h"
#include "log.h"

#include <fcgiapp.h>

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

int
http_request_id_ok(const char *s)
{
	size_t n = 0;
	if (!s)
		return 0;
	for (; s[n]; n++) {
		char c = s[n];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok || n >= HTTP_REQUEST_ID_MAX)
			return 0;
	}
	return n > 0;
}

static void
new_request_id(char out[HTTP_REQUEST_ID_MAX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[16];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
		/* never expected; a time-and-address mix is still unique enough for a log key */
		unsigned long long t = (unsigned long long)(clock_mono_s() * 1e9) ^ (uintptr_t)out;
		memcpy(raw, &t, sizeof t);
		memcpy(raw + 8, &t, sizeof t);
	}
	for (size_t i = 0; i < sizeof raw; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[32] = '\0';
}

void
http_begin(struct http_req *r, void *fcgx_request)
{
	FCGX_Request *fr = fcgx_request;
	const char *cl, *id;
	memset(r, 0, sizeof *r);
	r->fcgx = fr;
	r->start = clock_mono_s();
	r->method = FCGX_GetParam("REQUEST_METHOD", fr->envp);
	r->path = FCGX_GetParam("DOCUMENT_URI", fr->envp);
	if (!r->path)
		r->path = FCGX_GetParam("SCRIPT_NAME", fr->envp);
	r->query = FCGX_GetParam("QUERY_STRING", fr->envp);
	r->request_uri = FCGX_GetParam("REQUEST_URI", fr->envp);
	r->remote_addr = FCGX_GetParam("REMOTE_ADDR", fr->envp);
	r->content_type = FCGX_GetParam("CONTENT_TYPE", fr->envp);
	if (r->content_type && !*r->content_type)
		r->content_type = NULL;
	r->api_key = FCGX_GetParam("HTTP_X_API_KEY", fr->envp);
	r->authorization = FCGX_GetParam("HTTP_AUTHORIZATION", fr->envp);
	cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
	r->content_length = cl && *cl ? strtol(cl, NULL, 10) : -1;
	if (!r->method)
		r->method = "GET";
	if (!r->path || !*r->path)
		r->path = "/";
	r->head = strcmp(r->method, "HEAD") == 0;
	id = FCGX_GetParam("HTTP_X_REQUEST_ID", fr->envp);
	if (!http_request_id_ok(id))
		id = FCGX_GetParam("REQUEST_ID", fr->envp);
	if (http_request_id_ok(id))
		snprintf(r->request_id, sizeof r->request_id, "%s", id);
	else
		new_request_id(r->request_id);
}

void
http_end(struct http_req *r)
{
	free(r->body);
	r->body = NULL;
	/* glibc keeps freed heap for later requests: after a large body (and the events built
	 * from it) a worker would stay at its peak. A heap that grew less is left alone: it is
	 * what the next requests reuse, and trimming it would only make them fault it in again. */
	if (r->heap_noted && mallinfo2().arena > r->heap_before + HTTP_TRIM_GROWTH)
		malloc_trim(0);
}

static void
drain(FCGX_Stream *in)
{
	char sink[65536];
	while (FCGX_GetStr(sink, sizeof sink, in) > 0)
		;
}

enum http_body
http_read_body(struct http_req *r)
{
	FCGX_Stream *in = ((FCGX_Request *)r->fcgx)->in;
	struct buf body = {0};
	size_t cap = r->content_length > 0 && r->content_length <= HTTP_BODY_MAX
			 ? (size_t)r->content_length + 1
			 : 65536;
	if (r->content_length > HTTP_BODY_MAX) {
		drain(in);
		return HTTP_BODY_TOO_LARGE;
	}
	if (r->content_length < 0 || r->content_length > HTTP_TRIM_AFTER) {
		r->heap_before = mallinfo2().arena; /* for http_end */
		r->heap_noted = 1;
	}
	if (buf_reserve(&body, cap) < 0)
		return HTTP_BODY_ERROR;
	r->body = body.p; /* http_end frees it */
	for (;;) {
		int n = FCGX_GetStr(body.p + body.len, (int)(body.cap - body.len - 1), in);
		if (n <= 0)
			break;
		r->body_len = body.len += (size_t)n;
		if (r->body_len > HTTP_BODY_MAX) {
			drain(in);
			return HTTP_BODY_TOO_LARGE;
		}
		if (body.len + 1 == body.cap) {
			if (buf_reserve(&body, body.cap) < 0)
				return HTTP_BODY_ERROR;
			r->body = body.p;
		}
	}
	r->body[r->body_len] = '\0';
	return HTTP_BODY_OK;
}

static const char *
reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

void
http_respond_typed(struct http_req *r, int status, const char *content_type,
		   const char *extra_headers, const char *body, size_t len)
{
	FCGX_Stream *out = ((FCGX_Request *)r->fcgx)->out;
	char head[512];
	/* formatted here: libfcgi's own FCGX_FPrintF knows no %zu */
	int n = snprintf(head, sizeof head,
			 "Status: %d %s\r\nContent-Type: %s\r\nX-Request-ID: %s\r\n"
			 "Cache-Control: no-store\r\nContent-Length: %zu\r\n%s\r\n",
			 status, reason(status), content_type, r->request_id, len,
			 extra_headers ? extra_headers : "");
	r->status = status;
	FCGX_PutStr(head, n < (int)sizeof head ? n : (int)sizeof head - 1, out);
	if (!r->head)
		FCGX_PutStr(body, (int)len, out);
}

void
http_respond(struct http_req *r, int status, const char *extra_headers, const char *body)
{
	static const char oom[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}";
	if (!body) {
		log_msg(LOGL_ERROR, "http", "out of memory building a response");
		status = 500;
		body = oom;
	}
	http_respond_typed(r, status, "application/json; charset=utf-8", extra_headers, body,
			   strlen(body));
}

void
http_error(struct http_req *r, int status, const char *code, const char *message,
	   const struct verrs *v, const char *extra_headers)
{
	char *body = json_render_error(code, message, v);
	http_respond(r, status, extra_headers, body);
	free(body);
}

void
http_stream_begin(struct http_req *r, int status, const char *content_type)
{
	FCGX_Stream *out = ((FCGX_Request *)r->fcgx)->out;
	char head[512];
	int n = snprintf(head, sizeof head,
			 "Status: %d %s\r\nContent-Type: %s\r\nX-Request-ID: %s\r\n"
			 "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\r\n",
			 status, reason(status), content_type, r->request_id);
	r->status = status;
	FCGX_PutStr(head, n < (int)sizeof head ? n : (int)sizeof head - 1, out);
}

int
http_stream_write(struct http_req *r, const char *data, size_t len)
{
	FCGX_Stream *out = ((FCGX_Request *)r->fcgx)->out;
	if (r->head)
		return 0;
	return FCGX_PutStr(data, (int)len, out) == (int)len ? 0 : -1;
}

int
http_stream_flush(struct http_req *r)
{
	return FCGX_FFlush(((FCGX_Request *)r->fcgx)->out) == 0 ? 0 : -1;
}

void
http_stream_abort(struct http_req *r)
{
	FCGX_Request *fr = r->fcgx;
	if (fr->ipcFd >= 0)
		shutdown(fr->ipcFd, SHUT_RDWR); /* closed as usual by FCGX_Finish_r */
}
