/* test_hostile.c: hostile clients against the running stack (issue #6). Ten thousand malformed
 * requests of many kinds, sent by several threads through libcurl (HTTP-level garbage) and plain
 * sockets (garbage request lines, bodies that never finish, clients that vanish mid-body); every
 * answer must be a 4xx JSON error or a clean close, and the pool must come out with the same
 * workers and flat memory. Then SQL injection through every field and query parameter: stored
 * verbatim or rejected, never executed. Events are dated 2017 with user ids "it-hostile-*" (and,
 * for the injection test, the injection strings themselves on 2017-03-15, a day no other suite
 * uses). The stack is left healthy. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "client.h"

enum {
	MAX_WORKERS = 64,
	NTHREADS = 4,
	NREQUESTS = 10000, /* in all, the slow ones included */
	NSLOW = 8,	   /* bodies / headers that never finish, held open concurrently */
	NKINDS = 20,
	MAX_NOTES = 4,
/* Under AddressSanitizer (make asan) the workers' RSS also holds the quarantine of freed
 * blocks and shadow memory, which move by megabytes: flatness is judged on the normal
 * build (and by make rss / make soak), the ASan run checks only for gross growth. */
#if defined(__SANITIZE_ADDRESS__)
	RSS_SLACK_KB = 16384,
#else
	RSS_SLACK_KB = 2048,
#endif
};

/* ---- random bytes ------------------------------------------------------------------------- */

static void
buf_random(struct it_buf *b, unsigned *seed, size_t n, int printable)
{
	for (size_t i = 0; i < n; i++) {
		char c = (char)(printable ? 32 + rand_r(seed) % 95 : rand_r(seed) % 256);

		it_buf_add(b, &c, 1);
	}
}

/* ---- the stack's address -----------------------------------------------------------------------
 */

static int
base_port(void)
{
	const char *u = it_base_url();
	const char *colon = strrchr(u, ':');

	return colon ? atoi(colon + 1) : 0;
}

/* ---- raw sockets ------------------------------------------------------------------------------
 */

/* A TCP connection to the stack's nginx, or -1. */
static int
raw_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends all n bytes (no SIGPIPE); 0, or -1 when the peer closed or reset meanwhile. */
static int
raw_send(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

enum raw_end { RAW_EOF, RAW_RESET, RAW_TIMEOUT };

/* Reads until the peer closes (or resets) the connection, or until deadline (monotonic s). */
static enum raw_end
raw_read_all(int fd, struct it_buf *in, double deadline)
{
	char tmp[16384];

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		double left = deadline - it_now();
		ssize_t k;

		/* past the deadline, still look once at what already arrived: a test delayed on a
		 * loaded machine must not call "still open" a connection nginx closed in time */
		int n = poll(&p, 1, left > 0 ? (int)(left * 1000) + 1 : 0);
		if (n <= 0 && left <= 0)
			return RAW_TIMEOUT;
		if (n <= 0)
			continue;
		k = recv(fd, tmp, sizeof(tmp), 0);
		if (k == 0)
			return RAW_EOF;
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return RAW_RESET;
		it_buf_add(in, tmp, (size_t)k);
	}
}

/* Checks every HTTP response in the bytes a raw connection received: each must be a 4xx with
 * Content-Type application/json and a JSON object body with an "error" string. Returns NULL
 * when they all are, else what was wrong (in why). *statuses gets the status of each. */
static const char *
check_raw_answers(const struct it_buf *in, char *why, size_t whylen, int *nresp, int *first_status)
{
	size_t pos = 0;

	*nresp = 0;
	*first_status = 0;
	while (pos < in->len) {
		const char *s = in->p + pos, *hend, *cl, *ct, *te;
		size_t left = in->len - pos, hlen, blen;
		struct json_tokener *tok;
		json_object *j;
		int status, ok;
		char *head;

		if (left < 12 || strncmp(s, "HTTP/1.", 7) != 0) {
			snprintf(why, whylen, "not an HTTP response at byte %zu: '%.80s'", pos, s);
			return why;
		}
		status = atoi(s + 9);
		if (!*first_status)
			*first_status = status;
		(*nresp)++;
		hend = memmem(s, left, "\r\n\r\n", 4);
		if (!hend) {
			snprintf(why, whylen, "status %d: headers never end: '%.200s'", status, s);
			return why;
		}
		hlen = (size_t)(hend - s) + 4;
		head = strndup(s, hlen);
		if (!head)
			abort();
		for (char *c = head; *c; c++) /* header names compared in lower case */
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		cl = strstr(head, "\r\ncontent-length:");
		ct = strstr(head, "\r\ncontent-type:");
		te = strstr(head, "\r\ntransfer-encoding:");
		blen = cl ? strtoul(cl + 17, NULL, 10) : left - hlen;
		ok = ct && strncmp(ct + 15 + strspn(ct + 15, " "), "application/json", 16) == 0;
		free(head);
		if (status < 400 || status > 499) {
			snprintf(why, whylen, "status %d (want 4xx): '%.300s'", status, s);
			return why;
		}
		if (!ok || te) {
			snprintf(why, whylen,
				 "status %d without a plain JSON Content-Type: '%.300s'", status,
				 s);
			return why;
		}
		if (blen > left - hlen) {
			snprintf(why, whylen, "status %d: body cut short (%zu of %zu bytes)",
				 status, left - hlen, blen);
			return why;
		}
		tok = json_tokener_new();
		j = json_tokener_parse_ex(tok, s + hlen, (int)blen);
		ok = j && json_tokener_get_error(tok) == json_tokener_success &&
		     json_object_is_type(j, json_type_object) && jstr(j, "error");
		json_object_put(j);
		json_tokener_free(tok);
		if (!ok) {
			snprintf(why, whylen, "status %d: body is not a JSON error: '%.*s'", status,
				 (int)(blen < 300 ? blen : 300), s + hlen);
			return why;
		}
		pos += hlen + blen;
	}
	return NULL;
}

/* ---- one malformed request ---------------------------------------------------------------------
 */

enum raw_mode {
	VIA_CURL,  /* an HTTP request through libcurl */
	RAW_READ,  /* raw bytes, then read every answer until the server closes */
	RAW_ABORT, /* raw bytes (raw_partial of them when set), then close without reading */
};

struct hreq {
	const char *kind;
	enum raw_mode mode;
	const char *method;
	char path[9000];
	const char *ctype;
	struct it_buf body; /* request body, or every byte of a raw request */
	char *hdr;	    /* one extra header line (malloc'd), or NULL */
	size_t raw_partial;
};

static void
hreq_free(struct hreq *q)
{
	free(q->body.p);
	free(q->hdr);
	memset(q, 0, sizeof(*q));
}

/* A syntactically valid event that would be accepted: the base the generators break. */
static void
valid_event(struct it_buf *b, unsigned *seed)
{
	char id[37];

	it_uuid(id);
	it_buf_printf(b,
		      "{\"event_id\":\"%s\",\"occurred_at\":\"2017-06-%02uT10:00:00Z\","
		      "\"user_id\":\"it-hostile-bad\",\"event_type\":\"it_hostile_bad\","
		      "\"properties\":{\"k\":\"v\",\"n\":%u}}",
		      id, 1 + rand_r(seed) % 28, rand_r(seed) % 1000);
}

static void
valid_batch(struct it_buf *b, unsigned *seed, int n)
{
	it_buf_str(b, "[");
	for (int i = 0; i < n; i++) {
		if (i)
			it_buf_str(b, ",");
		valid_event(b, seed);
	}
	it_buf_str(b, "]");
}

/* An event with one field's raw JSON value replaced by value (field NULL: none). */
static void
event_with(struct it_buf *b, const char *field, const char *value, size_t vlen)
{
	static const char *const fields[] = {"event_id", "occurred_at", "user_id", "event_type",
					     "properties"};
	char id[37];

	it_uuid(id);
	it_buf_str(b, "[{");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		it_buf_printf(b, "%s\"%s\":", i ? "," : "", fields[i]);
		if (field && strcmp(field, fields[i]) == 0)
			it_buf_add(b, value, vlen);
		else if (i == 0)
			it_buf_printf(b, "\"%s\"", id);
		else if (i == 1)
			it_buf_str(b, "\"2017-06-02T10:00:00Z\"");
		else if (i == 2)
			it_buf_str(b, "\"it-hostile-bad\"");
		else if (i == 3)
			it_buf_str(b, "\"it_hostile_bad\"");
		else
			it_buf_str(b, "{\"k\":\"v\"}");
	}
	it_buf_str(b, "}]");
}

static void
gen_random_bytes(struct hreq *q, unsigned *seed, int variant)
{
	q->kind = "random bytes";
	q->mode = VIA_CURL;
	q->method = "POST";
	strcpy(q->path, "/events");
	q->ctype = variant % 3 == 2 ? "application/x-ndjson" : "application/json";
	buf_random(&q->body, seed, 1 + (size_t)rand_r(seed) % (variant % 5 == 4 ? 65536 : 3000),
		   variant % 2);
	if (q->body.p[0] == '[' || q->body.p[0] == '{' ||
	    (q->body.p[0] >= '0' && q->body.p[0] <= '9'))
		q->body.p[0] = '#'; /* never a well-formed prefix by chance */
}

static void
gen_truncated(struct hreq *q, unsigned *seed, int variant)
{
	struct it_buf full = {0};

	q->kind = "truncated JSON";
	q->mode = VIA_CURL;
	q->method = "POST";
	strcpy(q->path, "/events");
	q->ctype = variant % 4 == 3 ? "application/x-ndjson" : "application/json";
	if (variant % 4 == 3) { /* NDJSON cut short, never right after a complete line */
		size_t l1, cut;

		valid_event(&full, seed);
		it_buf_str(&full, "\n");
		l1 = full.len;
		valid_event(&full, seed);
		do
			cut = 1 + (size_t)rand_r(seed) % (full.len - 2);
		while (cut == l1 - 1 || cut == l1);
		it_buf_add(&q->body, full.p, cut);
	} else { /* an array is never complete before its last byte */
		valid_batch(&full, seed, 1 + variant % 3);
		it_buf_add(&q->body, full.p, 1 + (size_t)rand_r(seed) % (full.len - 2));
	}
	free(full.p);
}

static void
gen_deep(struct hreq *q, unsigned *seed, int variant)
{
	enum { DEPTH = 100000 };

	(void)seed;
	q->kind = "100 000-deep nesting";
	q->mode = VIA_CURL;
	q->method = "POST";
	strcpy(q->path, "/events");
	q->ctype = "application/json";
	switch (variant % 4) {
	case 0:
		it_buf_rep(&q->body, "[", DEPTH);
		break;
	case 1:
		it_buf_rep(&q->body, "{\"a\":", DEPTH);
		break;
	case 2:
		it_buf_rep(&q->body, "[", DEPTH);
		it_buf_rep(&q->body, "]", DEPTH);
		break;
	default: { /* balanced, inside the properties of an otherwise valid event */
		struct it_buf v = {0};

		it_buf_rep(&v, "{\"p\":", DEPTH);
		it_buf_str(&v, "1");
		it_buf_rep(&v, "}", DEPTH);
		event_with(&q->body, "properties", v.p, v.len);
		free(v.p);
	}
	}
}

static void
gen_long_number(struct hreq *q, unsigned *seed, int variant)
{
	static const char *const where[] = {NULL,	"user_id",    "occurred_at",
					    "event_id", "event_type", "properties"};
	struct it_buf n = {0};

	q->kind = "10 000-digit number";
	q->mode = VIA_CURL;
	q->method = "POST";
	strcpy(q->path, "/events");
	q->ctype = "application/json";
	if (variant % 3 == 1)
		it_buf_str(&n, "-");
	it_buf_str(&n, "9");
	for (int i = 1; i < 10000; i++) {
		char d = (char)('0' + rand_r(seed) % 10);

		it_buf_add(&n, &d, 1);
	}
	if (variant % 3 == 2)
		it_buf_str(&n, ".5e99999");
	if (!where[variant % 6]) {
		it_buf_add(&q->body, n.p, n.len);
	} else if (strcmp(where[variant % 6], "properties") == 0) {
		/* a huge number inside properties, and a broken event_type: 422 either way */
		struct it_buf p = {0};

		it_buf_str(&p, "{\"big\":");
		it_buf_add(&p, n.p, n.len);
		it_buf_str(&p, "},\"event_type\":\"\"");
		event_with(&q->body, "properties", p.p, p.len);
		free(p.p);
	} else {
		event_with(&q->body, where[variant % 6], n.p, n.len);
	}
	free(n.p);
}

static void
gen_bad_utf8(struct hreq *q, unsigned *seed, int variant)
{
	static const char *const bad[] = {"\xff",     "\xc0\xaf",	  "\xed\xa0\x80",
					  "\xe2\x82", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80",
					  "\x80",     "\xc3\x28",	  "\xfe\xfe\xff\xff"};
	static const char *const where[] = {"event_type", "user_id", "occurred_at", "event_id"};
	const char *s = bad[(unsigned)variant % 9];
	struct it_buf v = {0};

	(void)seed;
	q->kind = "invalid UTF-8";
	q->mode = VIA_CURL;
	q->method = "POST";
	strcpy(q->path, "/events");
	q->ctype = "application/json";
	switch ((variant / 9) % 7) {
	case 4: /* in a property key */
		it_buf_printf(&v, "{\"a%sb\":1}", s);
		event_with(&q->body, "properties", v.p, v.len);
		break;
	case 6: /* in a property value */
		it_buf_printf(&v, "{\"a\":\"x%sy\"}", s);
		event_with(&q->body, "properties", v.p, v.len);
		break;
	case 5: /* outside any string */
		it_buf_printf(&v, "[%s]", s);
		it_buf_add(&q->body, v.p, v.len);
		break;
	default:
		it_buf_printf(&v, "\"x%sy\"", s);
		event_with(&q->body, where[(variant / 9) % 7], v.p, v.len);
	}
	free(v.p);
}

static void
gen_nul(struct hreq *q, unsigned *seed, int variant)
{
	static const char nul[] = "\"it\0hostile\"";

	q->kind = "NUL bytes";
	q->mode = VIA_CURL;
	q->method = "POST";
	strcpy(q->path, "/events");
	q->ctype = "application/json";
	switch (variant % 7) {
	case 0: /* a raw NUL inside a string */
		event_with(&q->body, "event_type", nul, sizeof(nul) - 1);
		break;
	case 1: /* a body of NULs */
		for (int i = 0; i < 64; i++)
			it_buf_add(&q->body, "", 1);
		break;
	case 2: /* a NUL after a valid body */
		valid_batch(&q->body, seed, 1);
		it_buf_add(&q->body, "", 1);
		break;
	case 3: /* a NUL between tokens */
		valid_batch(&q->body, seed, 1);
		q->body.p[1] = '\0';
		break;
	case 4:
		event_with(&q->body, "event_type", "\"a\\u0000b\"", 10);
		break;
	case 5:
		event_with(&q->body, "user_id", "\"\\u0000\"", 8);
		break;
	default:
		event_with(&q->body, "properties", "{\"k\":\"\\u0000\"}", 14);
	}
}

static void
gen_huge_header(struct hreq *q, unsigned *seed, int variant)
{
	size_t n = 9000 + (size_t)rand_r(seed) % 20000;

	q->kind = "oversized header";
	q->mode = VIA_CURL;
	q->method = variant % 2 ? "POST" : "GET";
	strcpy(q->path, variant % 2 ? "/events" : "/healthz");
	q->ctype = variant % 2 ? "application/json" : NULL;
	if (variant % 2)
		valid_batch(&q->body, seed, 1);
	q->hdr = malloc(n + 16);
	if (!q->hdr)
		abort();
	strcpy(q->hdr, variant % 3 ? "X-Junk: " : "Cookie: ");
	memset(q->hdr + 8, 'a' + variant % 26, n);
	q->hdr[8 + n] = '\0';
}

static void
gen_bad_query(struct hreq *q, unsigned *seed, int variant)
{
	static const char *const paths[] = {
	    "/stats/dau?from=%zz&to=2017-01-02",
	    "/stats/dau?from=2017-01-01%00&to=2017-01-02",
	    "/stats/dau?from=2017-01-01&to=2017-01-0%",
	    "/stats/dau?from=2017-01-01%ff&to=2017-01-02",
	    "/stats/dau?from=2017-13-45&to=2017-01-02",
	    "/stats/dau?from=-2017-01-01&to=2017-01-02",
	    "/stats/dau?from=0000-00-00&to=9999-99-99",
	    "/stats/dau?from=2017-01-01&to=2017-01-02&from=x",
	    "/stats/top-events?from=2017-01-01&to=2017-01-02&limit=99999999999999999999999",
	    "/stats/top-events?from=2017-01-01&to=2017-01-02&limit=-1",
	    "/stats/top-events?from=2017-01-01&to=2017-01-02&limit=1e3",
	    "/stats/retention?start_date=2017-01-01&windows=-1",
	    "/stats/retention?start_date=2017-01-01&windows=99999999999999999999",
	    "/stats/retention?start_date=2017-01-01&granularity=%C0%AF",
	    "/stats/retention?start_date=9999-12-31&windows=365",
	    "/stats/retention?start_date=",
	    "/stats/dau?%%%%%%",
	    "/stats/dau?=&=&&&=",
	};
	size_t k = (size_t)variant % (sizeof(paths) / sizeof(paths[0]) + 1);

	q->kind = "malformed query string";
	q->mode = VIA_CURL;
	q->method = "GET";
	if (k < sizeof(paths) / sizeof(paths[0])) {
		snprintf(q->path, sizeof(q->path), "%s", paths[k]);
	} else { /* a long query of random escapes, under nginx's 8 KiB line */
		size_t o = (size_t)snprintf(q->path, sizeof(q->path), "/stats/dau?from=");

		for (int i = 0; i < 2000; i++)
			o += (size_t)snprintf(q->path + o, sizeof(q->path) - o, "%%%02X",
					      (unsigned)rand_r(seed) % 256);
		snprintf(q->path + o, sizeof(q->path) - o, "&to=2017-01-01");
	}
}

static void
gen_wrong_request(struct hreq *q, unsigned *seed, int variant)
{
	q->kind = "wrong method, route or media type";
	q->mode = VIA_CURL;
	strcpy(q->path, "/events");
	q->ctype = "application/json";
	switch (variant % 10) {
	case 0:
		q->method = "PUT";
		valid_batch(&q->body, seed, 1);
		break;
	case 1:
		q->method = "DELETE";
		break;
	case 2:
		q->method = "GET";
		q->ctype = NULL;
		break;
	case 3:
		q->method = "POST";
		q->ctype = "text/plain";
		valid_batch(&q->body, seed, 1);
		break;
	case 4:
		q->method = "POST";
		q->ctype = "multipart/form-data; boundary=xyz";
		it_buf_str(&q->body,
			   "--xyz\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--xyz--");
		break;
	case 5:
		q->method = "POST";
		strcpy(q->path, "/stats/dau?from=2017-01-01&to=2017-01-02");
		valid_batch(&q->body, seed, 1);
		break;
	case 6:
		q->method = "GET";
		strcpy(q->path, "/events/../../../../etc/passwd");
		break;
	case 7:
		q->method = "PATCH";
		strcpy(q->path, "/healthz");
		break;
	case 8:
		q->method = "POST";
		q->ctype = "application/json-patch+json";
		valid_batch(&q->body, seed, 1);
		break;
	default:
		q->method = "GET";
		strcpy(q->path, "/no/such/route%2e%2e%2f%00");
	}
}

static void
gen_bad_json(struct hreq *q, unsigned *seed, int variant)
{
	static const char *const bodies[] = {
	    "",
	    "   ",
	    "null",
	    "{}",
	    "[]",
	    "[1,2,3]",
	    "{\"events\":5}",
	    "{\"events\":[]}",
	    "[null]",
	    "[[]]",
	    "\"x\"",
	    "NaN",
	    "[NaN]",
	    "[Infinity]",
	    "[1,]",
	    "{,}",
	    "[\"\\ud800\"]",
	    "[\"\\x41\"]",
	    "[\"\\u12\"]",
	    "['single']",
	    "[{\"a\":1,}]",
	    "[{\"event_id\":}]",
	    "[{} {}]",
	    "[][]",
	    "{\"a\":1}{\"b\":2}",
	    "\xef\xbb\xbf[]",
	    "[true, false, nul]",
	    "[0x10]",
	    "[01]",
	    "[-]",
	    "[1.]",
	    "[.5]",
	    "[1e]",
	    "/* c */ []",
	};
	size_t nb = sizeof(bodies) / sizeof(bodies[0]);
	size_t k = (size_t)variant % (nb + 2);

	q->kind = "malformed or invalid JSON";
	q->mode = VIA_CURL;
	q->method = "POST";
	strcpy(q->path, "/events");
	q->ctype = variant % 5 == 4 ? "application/x-ndjson" : "application/json";
	if (k < nb) {
		it_buf_str(&q->body, bodies[k]);
	} else if (k == nb) { /* 10 001 events: 413 */
		it_buf_str(&q->body, "[");
		for (int i = 0; i < 10001; i++)
			it_buf_str(&q->body, i ? ",{}" : "{}");
		it_buf_str(&q->body, "]");
	} else { /* 1 000 invalid events: 422 with at most 100 details */
		it_buf_str(&q->body, "[");
		for (int i = 0; i < 1000; i++)
			it_buf_printf(&q->body, "%s{\"event_id\":\"%u\"}", i ? "," : "",
				      (unsigned)rand_r(seed));
		it_buf_str(&q->body, "]");
	}
}

/* Raw: request lines and headers nginx must refuse. */
static void
gen_garbage_line(struct hreq *q, unsigned *seed, int variant)
{
	static const char *const fixed[] = {
	    "GARBAGE\r\n\r\n",
	    "get /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n",
	    "GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
	    "GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n",
	    "GET /../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
	    "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	    "GET /healthz HTTP/1.1\r\n\r\n",
	    "GET\r\n\r\n",
	    "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n0\r\n\r\n",
	    "POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
	    "chunked\r\n\r\nzz\r\n[]\r\n0\r\n\r\n",
	    "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not TLS\r\n\r\n",
	    "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n",
	    "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
	    "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
	};
	size_t nf = sizeof(fixed) / sizeof(fixed[0]), k = (size_t)variant % (nf + 3);

	q->kind = "garbage request line or header";
	q->mode = RAW_READ;
	if (k < nf) {
		const char *s = fixed[k];
		size_t n = strlen(s);

		if (k == 4) /* the NUL in the header value */
			n = strlen(s) + 1 + strlen(s + strlen(s) + 1);
		it_buf_add(&q->body, s, n);
	} else if (k == nf) { /* random printable bytes */
		it_buf_str(&q->body, "~");
		buf_random(&q->body, seed, (size_t)rand_r(seed) % 300, 1);
		it_buf_str(&q->body, "\r\n\r\n");
	} else if (k == nf + 1) { /* random binary bytes */
		it_buf_str(&q->body, "\x01");
		buf_random(&q->body, seed, (size_t)rand_r(seed) % 600, 0);
		it_buf_str(&q->body, "\r\n\r\n");
	} else { /* a request line over nginx's 8 KiB buffers: 414 */
		it_buf_str(&q->body, "GET /");
		it_buf_rep(&q->body, "a", 9000 + (size_t)rand_r(seed) % 4000);
		it_buf_str(&q->body, " HTTP/1.1\r\nHost: x\r\n\r\n");
	}
}

/* Raw: wrong Content-Length values. */
static void
gen_wrong_length(struct hreq *q, unsigned *seed, int variant)
{
	struct it_buf body = {0};

	q->kind = "wrong Content-Length";
	q->mode = RAW_READ;
	valid_batch(&body, seed, 2);
	switch (variant % 5) {
	case 0: /* shorter than the body; the rest is read as the next request */
		it_buf_printf(
		    &q->body,
		    "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\n\r\n",
		    1 + (size_t)rand_r(seed) % (body.len - 2));
		it_buf_add(&q->body, body.p, body.len);
		break;
	case 1:
		it_buf_str(&q->body, "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n"
				     "Connection: close\r\n\r\n");
		it_buf_add(&q->body, body.p, body.len);
		break;
	case 2:
		it_buf_str(&q->body, "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n"
				     "Connection: close\r\n\r\n");
		it_buf_add(&q->body, body.p, body.len);
		break;
	case 3:
		it_buf_printf(&q->body,
			      "POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
			      "Content-Length: 3\r\nConnection: close\r\n\r\n",
			      body.len);
		it_buf_add(&q->body, body.p, body.len);
		break;
	default:
		it_buf_str(&q->body,
			   "POST /events HTTP/1.1\r\nHost: x\r\n"
			   "Content-Length: 99999999999999999999999\r\nConnection: close\r\n\r\n");
		it_buf_add(&q->body, body.p, body.len);
	}
	free(body.p);
}

/* Raw: a client that disconnects mid-body, or right after sending, without reading. */
static void
gen_disconnect(struct hreq *q, unsigned *seed, int variant)
{
	struct it_buf body = {0};

	q->kind = "client disconnects mid-body";
	q->mode = RAW_ABORT;
	if (variant % 25 == 24) { /* a 2 MiB body: nginx spills it to a temp file */
		buf_random(&body, seed, 2 << 20, 1);
	} else {
		valid_batch(&body, seed, 1 + variant % 20);
		/* Sent whole, the request is valid and may well be stored before nginx notices the
		 * client has gone: another user id keeps it out of "nothing malformed stored". */
		for (char *u = body.p;
		     variant % 2 && (u = memmem(u, body.len - (size_t)(u - body.p), "hostile", 7));)
			memcpy(u, "HOSTILE", 7);
	}
	it_buf_printf(&q->body,
		      "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		      "Content-Length: %zu\r\n\r\n",
		      body.len);
	/* every other one: the whole request, then gone before the answer */
	q->raw_partial = variant % 2 ? 0 : q->body.len + (size_t)rand_r(seed) % body.len;
	it_buf_add(&q->body, body.p, body.len);
	free(body.p);
}

typedef void (*gen_fn)(struct hreq *q, unsigned *seed, int variant);

/* The mix: request i is of kind i % NKINDS. */
static const gen_fn kinds[NKINDS] = {
    gen_random_bytes, gen_random_bytes, gen_truncated,	   gen_truncated,  gen_deep,
    gen_long_number,  gen_bad_utf8,	gen_bad_utf8,	   gen_nul,	   gen_huge_header,
    gen_bad_query,    gen_bad_query,	gen_wrong_request, gen_bad_json,   gen_bad_json,
    gen_garbage_line, gen_garbage_line, gen_wrong_length,  gen_disconnect, gen_disconnect,
};

/* ---- the load threads ---------------------------------------------------------------------------
 */

struct kind_fail {
	const char *kind;
	long n;
	char first[640];
};

struct outcome {
	long requests, answered_4xx, closed_clean, aborted, raw_multi, failures;
	long by_status[6]; /* 0: none, 1xx..5xx */
	int nkinds;
	struct kind_fail fails[NKINDS]; /* failures by kind, with the first of each */
};

struct hthread {
	pthread_t thread;
	struct http_client *c;
	unsigned seed;
	int port;
	atomic_int *next;
	int limit;
	struct outcome o;
};

static void note(struct outcome *o, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct kind_fail *
kind_fail(struct outcome *o, const char *kind)
{
	for (int i = 0; i < o->nkinds; i++)
		if (o->fails[i].kind == kind)
			return &o->fails[i];
	if (o->nkinds == NKINDS)
		abort();
	o->fails[o->nkinds].kind = kind;
	return &o->fails[o->nkinds++];
}

static void note(struct outcome *o, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
note(struct outcome *o, const char *kind, const char *fmt, ...)
{
	struct kind_fail *f = kind_fail(o, kind);
	va_list ap;

	o->failures++;
	if (f->n++)
		return;
	va_start(ap, fmt);
	vsnprintf(f->first, sizeof(f->first), fmt, ap);
	va_end(ap);
}

static void
merge(struct outcome *sum, const struct outcome *o)
{
	sum->requests += o->requests;
	sum->answered_4xx += o->answered_4xx;
	sum->closed_clean += o->closed_clean;
	sum->aborted += o->aborted;
	sum->raw_multi += o->raw_multi;
	sum->failures += o->failures;
	for (int k = 0; k < 6; k++)
		sum->by_status[k] += o->by_status[k];
	for (int k = 0; k < o->nkinds; k++) {
		struct kind_fail *f = kind_fail(sum, o->fails[k].kind);

		if (!f->n)
			memcpy(f->first, o->fails[k].first, sizeof(f->first));
		f->n += o->fails[k].n;
	}
}

/* Prints the failures of o by kind; returns how many kinds failed. */
static int
print_failures(const struct outcome *o, const char *phase)
{
	for (int k = 0; k < o->nkinds; k++)
		fprintf(stderr, "  %s: %ld failures of kind \"%s\", the first: %s\n", phase,
			o->fails[k].n, o->fails[k].kind, o->fails[k].first);
	return o->nkinds;
}

static void
count_status(struct outcome *o, long status)
{
	o->by_status[status >= 100 && status < 600 ? status / 100 : 0]++;
}

static void
run_curl(struct hthread *t, struct hreq *q)
{
	const char *headers[2] = {q->hdr, NULL};
	struct http_resp r;
	const char *err;

	http_client_request(t->c, &r, q->method, q->path, q->ctype, q->body.p ? q->body.p : NULL,
			    q->body.len, q->hdr ? headers : NULL);
	count_status(&t->o, r.status);
	if (r.status == 0 && strstr(r.curl_error, "Empty reply")) {
		t->o.closed_clean++;
	} else if (r.status < 400 || r.status > 499) {
		note(&t->o, q->kind,
		     "%s %.60s (%zu-byte body): status %ld, curl '%s', body '%.200s'", q->method,
		     q->path, q->body.len, r.status, r.curl_error, r.body);
	} else if (!r.json || !json_object_is_type(r.json, json_type_object) ||
		   !(err = jstr(r.json, "error")) || !r.content_type ||
		   strncasecmp(r.content_type, "application/json", 16) != 0) {
		note(&t->o, q->kind,
		     "%s %.60s: status %ld without a JSON error: type '%s', body '%.200s'",
		     q->method, q->path, r.status, r.content_type ? r.content_type : "(none)",
		     r.body);
	} else {
		t->o.answered_4xx++;
	}
	http_resp_free(&r);
}

static void
run_raw(struct hthread *t, struct hreq *q)
{
	int fd = raw_connect(t->port), nresp, first;
	struct it_buf in = {0};
	char why[512];
	enum raw_end end;
	const char *bad;

	if (fd < 0) {
		note(&t->o, q->kind, "connect: %s", strerror(errno));
		return;
	}
	if (q->mode == RAW_ABORT) {
		size_t n =
		    q->raw_partial && q->raw_partial < q->body.len ? q->raw_partial : q->body.len;

		(void)raw_send(fd, q->body.p, n); /* the server may already have given up */
		close(fd);
		t->o.aborted++;
		return;
	}
	(void)raw_send(fd, q->body.p, q->body.len); /* nginx may answer before reading it all */
	end = raw_read_all(fd, &in, it_now() + 5.0);
	close(fd);
	bad = check_raw_answers(&in, why, sizeof(why), &nresp, &first);
	count_status(&t->o, first);
	if (end == RAW_TIMEOUT)
		note(&t->o, q->kind,
		     "no close within 5 s after %zu bytes of answer ('%.100s'); sent '%.80s'",
		     in.len, in.p ? in.p : "", q->body.p);
	else if (bad)
		note(&t->o, q->kind, "%s; sent '%.80s'", bad, q->body.p);
	else if (nresp == 0)
		t->o.closed_clean++;
	else
		t->o.answered_4xx++;
	if (nresp > 1)
		t->o.raw_multi++;
	free(in.p);
}

static void *
hostile_run(void *arg)
{
	struct hthread *t = arg;
	int i;

	while ((i = atomic_fetch_add(t->next, 1)) < t->limit) {
		struct hreq q = {0};

		kinds[i % NKINDS](&q, &t->seed, i / NKINDS);
		t->o.requests++;
		if (q.mode == VIA_CURL)
			run_curl(t, &q);
		else
			run_raw(t, &q);
		hreq_free(&q);
	}
	return NULL;
}

/* Sends requests [from, to) of the mix with NTHREADS threads; adds the outcomes to *sum. */
static void
hostile_load(int from, int to, struct outcome *sum)
{
	struct hthread t[NTHREADS];
	atomic_int next = from;

	memset(t, 0, sizeof(t));
	for (int i = 0; i < NTHREADS; i++) {
		t[i].c = http_client_new();
		http_client_set_timeout(t[i].c, 10);
		t[i].seed = (unsigned)(time(NULL) * 31 + i * 7919 + from);
		t[i].port = base_port();
		t[i].next = &next;
		t[i].limit = to;
		cr_assert_eq(pthread_create(&t[i].thread, NULL, hostile_run, &t[i]), 0,
			     "pthread_create");
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i].thread, NULL);
		merge(sum, &t[i].o);
		http_client_free(t[i].c);
	}
}

/* The largest requests of the mix, several times each, so that every worker has had its
 * allocator's high-water mark raised before memory is measured: after a 2 MiB body glibc raises
 * its mmap threshold, and the next 10 001-event body then leaves ~5 MB in the heap for good (a
 * plateau, measured: the same on every later request, not a leak). */
static void
warm_up_large(struct http_client *c, unsigned *seed)
{
	for (int i = 0; i < 6 * it_want_workers(); i++) {
		struct hreq q[4] = {{0}};
		struct http_resp r;

		gen_deep(&q[0], seed, i % 4);	  /* up to 600 KB */
		gen_bad_json(&q[1], seed, 70);	  /* 10 001 events */
		gen_random_bytes(&q[2], seed, 4); /* up to 64 KB */
		q[3].method = "POST";		  /* 2 MiB of garbage */
		strcpy(q[3].path, "/events");
		q[3].ctype = "application/json";
		it_buf_str(&q[3].body, "#");
		buf_random(&q[3].body, seed, 2 << 20, 1);
		for (int k = 0; k < 4; k++) {
			http_client_request(c, &r, q[k].method, q[k].path, q[k].ctype, q[k].body.p,
					    q[k].body.len, NULL);
			cr_assert(
			    r.status >= 400 && r.status < 500,
			    "warm-up request %d (%zu bytes): expected 4xx, got %ld (%s) %.200s", k,
			    q[k].body.len, r.status, r.curl_error, r.body);
			http_resp_free(&r);
			hreq_free(&q[k]);
		}
		/* a fifth request per round: the workers take turns, so each sees every shape */
		http_client_request(c, &r, "GET", "/healthz", NULL, NULL, 0, NULL);
		http_resp_free(&r);
	}
}

/* ---- slow clients ------------------------------------------------------------------------------
 */

struct slow {
	int fd;
	double opened;
	const char *what;
};

/* Opens a connection that announces a body (or headers) it never finishes. */
static void
slow_open(struct slow *s, int i, int port)
{
	static const char body_req[] = "POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: "
				       "application/json\r\nContent-Length: 1000\r\n\r\n[{\"event_";
	static const char head_req[] = "POST /events HTTP/1.1\r\nHost: x\r\nContent-Le";
	const char *r = i % 4 == 3 ? head_req : body_req;

	s->what = i % 4 == 3 ? "headers that never end" : "a body that never finishes";
	s->fd = raw_connect(port);
	cr_assert_geq(s->fd, 0, "connect to nginx: %s", strerror(errno));
	s->opened = it_now();
	cr_assert_eq(raw_send(s->fd, r, strlen(r)), 0, "send: %s", strerror(errno));
}

/* nginx gives up on it after client_body_timeout / client_header_timeout (5 s): it must end
 * with a 408 JSON answer or a clean close by 15 s after it was opened. */
static void
slow_finish(struct slow *s, struct outcome *o)
{
	struct it_buf in = {0};
	enum raw_end end = raw_read_all(s->fd, &in, s->opened + 15.0);
	char why[512];
	int nresp, first;
	const char *bad = check_raw_answers(&in, why, sizeof(why), &nresp, &first);

	close(s->fd);
	o->requests++;
	count_status(o, first);
	fprintf(stderr, "hostile/malformed_requests: %s: %s after %.1f s%s%.*s\n", s->what,
		end == RAW_TIMEOUT ? "still open"
		: nresp		   ? "answered"
				   : "closed",
		it_now() - s->opened, nresp ? ": " : "", nresp ? 12 : 0, in.p ? in.p : "");
	cr_assert_neq(end, RAW_TIMEOUT, "%s: expected nginx to give up within 15 s, still open",
		      s->what);
	cr_assert_null(bad, "%s: %s", s->what, bad);
	if (nresp)
		o->answered_4xx++;
	else
		o->closed_clean++;
	free(in.p);
}

/* ---- the pool's state ------------------------------------------------------------------------ */

static int
pool_snapshot(pid_t *pids, long *rss)
{
	int n = it_pool_workers(it_pool_pid(), pids, MAX_WORKERS);

	for (int i = 0; i < n; i++)
		rss[i] = it_proc_rss_kb(pids[i]);
	return n;
}

/* Every worker answers /healthz 200 (a few rounds, so each is likely to be asked). */
static void
expect_healthy(struct http_client *c, const char *when)
{
	for (int i = 0; i < 4 * it_want_workers(); i++) {
		struct http_resp r;

		http_client_request(c, &r, "GET", "/healthz", NULL, NULL, 0, NULL);
		cr_assert_eq(r.status, 200, "GET /healthz %s: expected 200, got %ld (%s) %.200s",
			     when, r.status, r.curl_error, r.body);
		http_resp_free(&r);
	}
}

Test(hostile, malformed_requests, .timeout = 180)
{
	enum { WARMUP = 50 * NKINDS, HALF = WARMUP + (NREQUESTS - NSLOW) / 2 };
	struct http_client *c = http_client_new();
	pid_t before[MAX_WORKERS], mid[MAX_WORKERS], after[MAX_WORKERS];
	long rss0[MAX_WORKERS], rss1[MAX_WORKERS], rss2[MAX_WORKERS];
	struct slow slow[NSLOW];
	struct outcome o = {0}, warm = {0};
	unsigned seed = (unsigned)time(NULL);
	int nb, nm, na;
	double t0, dt;
	PGconn *db;

	http_client_set_timeout(c, 10);
	expect_healthy(c, "before the test");
	/* Warm-up: 50 of every kind (every variant shape, the large bodies included), so that
	 * memory the allocator keeps after its first large request is not taken for growth. */
	hostile_load(0, WARMUP, &warm);
	warm_up_large(c, &seed);
	nb = pool_snapshot(before, rss0);
	cr_assert_eq(nb, it_want_workers(), "expected %d workers before the test, found %d",
		     it_want_workers(), nb);

	t0 = it_now();
	for (int i = 0; i < NSLOW; i++)
		slow_open(&slow[i], i, base_port());
	hostile_load(WARMUP, HALF, &o);
	nm = pool_snapshot(mid, rss1);
	hostile_load(HALF, WARMUP + NREQUESTS - NSLOW, &o);
	for (int i = 0; i < NSLOW; i++)
		slow_finish(&slow[i], &o);
	dt = it_now() - t0;

	na = pool_snapshot(after, rss2);
	fprintf(
	    stderr,
	    "hostile/malformed_requests: %ld requests in %.1f s (after %ld warm-up): %ld "
	    "answered 4xx JSON, %ld closed cleanly without an answer, %ld abandoned by the "
	    "client mid-body or before the answer, %ld failures; %ld raw connections got two "
	    "answers (pipelined leftovers)\n"
	    "  first status per request: %ld none, %ld 1xx, %ld 2xx, %ld 3xx, %ld 4xx, %ld 5xx\n",
	    o.requests, dt, warm.requests, o.answered_4xx, o.closed_clean, o.aborted, o.failures,
	    o.raw_multi, o.by_status[0], o.by_status[1], o.by_status[2], o.by_status[3],
	    o.by_status[4], o.by_status[5]);
	print_failures(&warm, "warm-up");
	print_failures(&o, "load");
	for (int i = 0; i < nb; i++) {
		int same = i < na && after[i] == before[i] && i < nm && mid[i] == before[i];

		fprintf(stderr,
			"  worker %d: VmRSS %ld kB, %ld kB half-way, %ld kB after (%+ld kB)\n",
			(int)before[i], rss0[i], same ? rss1[i] : -1, same ? rss2[i] : -1,
			same ? rss2[i] - rss0[i] : 0);
	}

	cr_assert_eq(o.requests, NREQUESTS, "expected %d requests, sent %ld", NREQUESTS,
		     o.requests);
	cr_assert_eq(warm.failures + o.failures, 0,
		     "expected every answer to be 4xx JSON or a clean close, got %ld failures "
		     "(by kind above)",
		     warm.failures + o.failures);
	cr_assert_eq(o.by_status[5], 0, "expected no 5xx, got %ld", o.by_status[5]);
	cr_assert_gt(o.answered_4xx, NREQUESTS / 2, "expected most requests answered, got %ld",
		     o.answered_4xx);
	cr_assert_lt(dt, 90.0, "expected the load to take about a minute at most, took %.0f s", dt);
	cr_assert(na == nb && memcmp(before, after, (size_t)nb * sizeof(*before)) == 0,
		  "expected the same worker pids after the hostile load (none crashed)");
	for (int i = 0; i < nb; i++)
		cr_assert_lt(rss2[i] - rss0[i], RSS_SLACK_KB,
			     "expected worker %d's memory flat: VmRSS %ld kB -> %ld kB",
			     (int)before[i], rss0[i], rss2[i]);
	expect_healthy(c, "after the hostile load");
	db = db_open();
	cr_assert_eq(db_scalar_ll(db,
				  "SELECT count(*) FROM events WHERE user_id = 'it-hostile-bad'"
				  " OR event_type = 'it_hostile_bad'",
				  0, NULL),
		     0, "expected nothing stored from a malformed request");
	PQfinish(db);
	http_client_free(c);
}

/* ---- SQL injection -------------------------------------------------------------------------- */

/* Stored verbatim as event_type, user_id, property key and value (none has a control char). */
static const char *const inject[] = {
    "'",
    "''",
    "\\",
    "\\\\",
    "'; DROP TABLE events; --",
    "\"; DROP TABLE events; --",
    "Robert'); DROP TABLE users; --",
    "'); TRUNCATE daily_users; --",
    "$$",
    "$$; DROP TABLE events; $$",
    "$1",
    "%",
    "_",
    "%_%",
    "\\x",
    "\\x00",
    "\\N",
    "\\.",
    "\\t\\n\\r",
    "E'\\\\x41'",
    "' OR '1'='1",
    "1; SELECT pg_sleep(3); --",
    "'; SELECT pg_sleep(3); --",
    "/* */ --",
    "\\'",
    "'||'",
    "COPY events TO PROGRAM 'id'",
    "\\u0041",
    "  spaces around  ",
    "caf\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x8e\x89",
    "\xe2\x80\x8b\xef\xbb\xbfzero-width",
    "it-hostile-sqli",
};

/* Rejected with 422: a control character (NUL included) in event_type or user_id. */
static const char *const rejected[] = {
    "a\0b",	"'; DROP TABLE events; --\0", "\0",   "\x01",
    "a\tb",	"'\n; DROP TABLE events; --", "\x7f", "\xc2\x85",
    "\x1b[31m",
};
static const size_t rejected_len[] = {3, 25, 1, 1, 3, 26, 1, 2, 5};

static json_object *
sqli_event(char id[37], const char *type, size_t tlen, const char *user, size_t ulen,
	   json_object *props)
{
	json_object *e = json_object_new_object();

	it_uuid(id);
	json_object_object_add(e, "event_id", json_object_new_string(id));
	json_object_object_add(e, "occurred_at", json_object_new_string("2017-03-15T12:00:00Z"));
	json_object_object_add(e, "user_id", json_object_new_string_len(user, (int)ulen));
	json_object_object_add(e, "event_type", json_object_new_string_len(type, (int)tlen));
	json_object_object_add(e, "properties", props);
	return e;
}

static json_object *
sqli_props(const char *s, size_t len)
{
	json_object *p = json_object_new_object(), *nested = json_object_new_object();
	json_object *arr = json_object_new_array();
	char *key = strndup(s, len);

	cr_assert(key, "strndup");
	json_object_array_add(arr, json_object_new_string_len(s, (int)len));
	json_object_object_add(nested, key, arr);
	json_object_object_add(p, key, json_object_new_string_len(s, (int)len));
	json_object_object_add(p, "v", json_object_new_string_len(s, (int)len));
	json_object_object_add(p, "nested", nested);
	free(key);
	return p;
}

/* POSTs one event; returns the answer (caller frees). */
static void
post_one(struct http_client *c, json_object *e, struct http_resp *r)
{
	json_object *a = json_object_new_array();
	const char *s;

	json_object_array_add(a, e);
	s = json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN);
	http_client_request(c, r, "POST", "/events", "application/json", s, strlen(s), NULL);
	json_object_put(a);
}

static void
pct_encode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

static long long
table_count(PGconn *db)
{
	return db_scalar_ll(db,
			    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND"
			    " tablename IN ('events', 'user_keys', 'activity_sets', 'cohort_sets',"
			    " 'type_counts', 'schema_migrations')",
			    0, NULL);
}

static void
check_stored_verbatim(PGconn *db, const char *id, const char *s)
{
	const char *p[2] = {id, s};
	PGresult *res =
	    it_db_query(db,
			"SELECT event_type, user_id, properties->>$2, properties->>'v',"
			" properties->'nested'->$2->>0, length(event_type), octet_length(user_id)"
			" FROM events WHERE event_id = $1::uuid",
			2, p);

	cr_assert_eq(PQntuples(res), 1, "expected the event with [%s] stored once", s);
	for (int f = 0; f < 5; f++) {
		cr_assert(!PQgetisnull(res, 0, f), "[%s]: column %d is NULL", s, f);
		cr_assert_eq(strlen(PQgetvalue(res, 0, f)), strlen(s),
			     "[%s]: column %d: expected %zu bytes, got %zu ([%s])", s, f, strlen(s),
			     strlen(PQgetvalue(res, 0, f)), PQgetvalue(res, 0, f));
		cr_assert_str_eq(PQgetvalue(res, 0, f), s,
				 "expected [%s] stored verbatim in column %d, got [%s]", s, f,
				 PQgetvalue(res, 0, f));
	}
	PQclear(res);
}

Test(hostile, sql_injection, .timeout = 120)
{
	enum {
		NINJ = sizeof(inject) / sizeof(inject[0]),
		NREJ = sizeof(rejected) / sizeof(rejected[0])
	};
	static const char *const params[] = {
	    "/stats/dau?from=2017-03-15%s&to=2017-03-15",
	    "/stats/dau?from=2017-03-15&to=%s",
	    "/stats/top-events?from=%s&to=2017-03-15",
	    "/stats/top-events?from=2017-03-15&to=2017-03-15&limit=10%s",
	    "/stats/retention?start_date=2017-03-15%s&windows=3",
	    "/stats/retention?start_date=2017-03-15&windows=3%s",
	    "/stats/retention?start_date=2017-03-15&windows=3&granularity=day%s",
	};
	static const char *const raw_qs[] = {
	    "'",  "';DROP%20TABLE%20events;--", "'OR'1'='1", "%27%3B--", "%00", "%27%00", "$$",
	    "\\", "';SELECT%20pg_sleep(3);--",
	};
	struct http_client *c = http_client_new();
	char ids[NINJ][37], rid[37], path[2048], enc[1024];
	struct http_resp r;
	PGconn *db = db_open();
	long long events0, events1;
	long nq = 0;
	double slowest = 0;
	json_object *types;

	http_client_set_timeout(c, 10);
	cr_assert_eq(table_count(db), 6, "expected the six tables before the test");
	events0 = db_scalar_ll(db, "SELECT count(*) FROM events", 0, NULL);

	/* accepted: stored verbatim */
	for (size_t i = 0; i < NINJ; i++) {
		const char *s = inject[i];
		double t0 = it_now();

		post_one(c,
			 sqli_event(ids[i], s, strlen(s), s, strlen(s), sqli_props(s, strlen(s))),
			 &r);
		cr_assert_eq(r.status, 200,
			     "POST an event made of [%s]: expected 200, got %ld %.300s", s,
			     r.status, r.body);
		expect_ingest(&r, 1, 1, 0, "POST an event with injection strings");
		cr_assert_lt(it_now() - t0, 2.0, "POST [%s]: took %.1f s (was pg_sleep run?)", s,
			     it_now() - t0);
		http_resp_free(&r);
		check_stored_verbatim(db, ids[i], s);
	}

	/* rejected: control characters in event_type, user_id, property key or value */
	for (size_t i = 0; i < NREJ; i++) {
		const char *s = rejected[i];
		size_t n = rejected_len[i];
		char *one[1] = {rid};

		for (int where = 0; where < 4; where++) {
			json_object *props;
			char what[160];

			if (where >= 2 && !memchr(s, '\0', n))
				continue; /* only NUL is refused in properties; the rest is data */
			props = where == 2   ? sqli_props(s, n)
				: where == 3 ? json_object_new_object()
					     : NULL;

			if (where == 3)
				json_object_object_add(props, "k",
						       json_object_new_string_len(s, (int)n));
			post_one(c,
				 sqli_event(rid, where == 0 ? s : "it_hostile_sqli",
					    where == 0 ? n : 15, where == 1 ? s : "it-hostile-sqli",
					    where == 1 ? n : 15, props),
				 &r);
			snprintf(what, sizeof(what), "POST an event with rejected string %zu in %s",
				 i,
				 where == 0   ? "event_type"
				 : where == 1 ? "user_id"
				 : where == 2 ? "a property key and value"
					      : "a property value");
			expect_error(&r, 422, "validation_failed", what);
			http_resp_free(&r);
			cr_assert_eq(db_count_ids(db, one, 1), 0, "%s: expected nothing stored",
				     what);
		}
	}

	/* query parameters: 400 or 422, never executed */
	for (size_t p = 0; p < sizeof(params) / sizeof(params[0]); p++) {
		for (size_t i = 0; i < NINJ + sizeof(raw_qs) / sizeof(raw_qs[0]); i++) {
			double t0 = it_now(), dt;

			if (i < NINJ)
				pct_encode(inject[i], enc, sizeof(enc));
			else
				snprintf(enc, sizeof(enc), "%s", raw_qs[i - NINJ]);
			snprintf(path, sizeof(path), params[p], enc);
			http_client_request(c, &r, "GET", path, NULL, NULL, 0, NULL);
			dt = it_now() - t0;
			nq++;
			if (dt > slowest)
				slowest = dt;
			cr_assert(r.status == 400 || r.status == 422,
				  "GET %s: expected 400 or 422, got %ld (%s) %.300s", path,
				  r.status, r.curl_error, r.body);
			expect_error(&r, r.status,
				     r.status == 400 ? "bad_request" : "validation_failed", path);
			cr_assert_lt(dt, 2.0, "GET %s took %.1f s (was pg_sleep run?)", path, dt);
			http_resp_free(&r);
		}
	}

	/* the stats read the strings back verbatim: one event of each type that day */
	http_client_request(c, &r, "GET",
			    "/stats/top-events?from=2017-03-15&to=2017-03-15&limit=1000", NULL,
			    NULL, 0, NULL);
	cr_assert_eq(r.status, 200, "GET /stats/top-events for 2017-03-15: expected 200, got %ld",
		     r.status);
	types = r.json;
	cr_assert(types && json_object_is_type(types, json_type_array), "expected a JSON array");
	cr_assert_eq(json_object_array_length(types), NINJ,
		     "expected %d event types on 2017-03-15, got %zu: %.500s", (int)NINJ,
		     json_object_array_length(types), r.body);
	for (size_t i = 0; i < NINJ; i++) {
		int found = 0;

		for (size_t k = 0; k < NINJ && !found; k++) {
			json_object *e = json_object_array_get_idx(types, k);
			const char *t = jstr(e, "event_type");
			json_object *n = jget(e, "count");

			found =
			    t && strcmp(t, inject[i]) == 0 && n && json_object_get_int64(n) == 1;
		}
		cr_assert(found, "expected [%s] with count 1 in /stats/top-events: %.600s",
			  inject[i], r.body);
	}
	http_resp_free(&r);
	http_client_request(c, &r, "GET", "/stats/dau?from=2017-03-15&to=2017-03-15", NULL, NULL, 0,
			    NULL);
	cr_assert_eq(r.status, 200, "GET /stats/dau: expected 200, got %ld", r.status);
	cr_assert(r.json && json_object_array_length(r.json) == 1 &&
		      json_object_get_int64(
			  jget(json_object_array_get_idx(r.json, 0), "unique_users")) == NINJ,
		  "expected %d distinct users on 2017-03-15, got %.300s", (int)NINJ, r.body);
	http_resp_free(&r);

	/* nothing was executed: every table is there, the counts add up */
	cr_assert_eq(table_count(db), 6, "expected the six tables still there");
	events1 = db_scalar_ll(db, "SELECT count(*) FROM events", 0, NULL);
	cr_assert_eq(events1, events0 + NINJ,
		     "expected exactly %d events more (the accepted ones): %lld -> %lld", (int)NINJ,
		     events0, events1);
	cr_assert_gt(db_scalar_ll(db, "SELECT count(*) FROM user_keys", 0, NULL), 0,
		     "expected user_keys not emptied");
	cr_assert_gt(db_scalar_ll(db, "SELECT count(*) FROM activity_sets", 0, NULL), 0,
		     "expected activity_sets not emptied");
	fprintf(stderr,
		"hostile/sql_injection: %d events made of injection strings stored verbatim, %d "
		"strings with control characters rejected (4 places each), %ld query strings "
		"refused with 400/422 (slowest %.0f ms); events %lld -> %lld, tables intact\n",
		(int)NINJ, (int)NREJ, nq, slowest * 1000, events0, events1);
	PQfinish(db);
	http_client_free(c);
}
