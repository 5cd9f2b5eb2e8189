/* client.c: HTTP, database, CSV and statistics-model helpers of the integration tests. */
#include "client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#include "event.h"

struct http_client {
	CURL *curl;
	long timeout;
	char *interface; /* source address of later requests, NULL for the default */
	char *base_url;	 /* NULL: $EVENTS_BASE_URL */
};

/* ---- HTTP ---------------------------------------------------------------------------------- */

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
	r->content_type = r->request_id = r->allow = r->retry_after = NULL;
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

/* ---- common response assertions -------------------------------------------------------------- */

json_object *
jget(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

const char *
jstr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	if (!v || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* At most 300 bytes of the body, for messages. */
static const char *
snip(const struct http_resp *r)
{
	static _Thread_local char buf[320];

	snprintf(buf, sizeof(buf), "%.300s", r->body ? r->body : "");
	return buf;
}

void
expect_json_response(const struct http_resp *r, const char *what)
{
	cr_assert_neq(r->status, 0, "%s: expected an HTTP answer, the transfer failed: %s", what,
		      r->curl_error);
	cr_assert(
	    r->content_type && strcasecmp(r->content_type, "application/json; charset=utf-8") == 0,
	    "%s: expected Content-Type 'application/json; charset=utf-8', got '%s' (status %ld)",
	    what, r->content_type ? r->content_type : "(none)", r->status);
	cr_assert_eq(r->request_id_count, 1,
		     "%s: expected exactly one X-Request-ID header, got %d (status %ld)", what,
		     r->request_id_count, r->status);
	cr_assert(r->json, "%s: expected a JSON body, got status %ld body '%s'", what, r->status,
		  snip(r));
}

void
expect_error(const struct http_resp *r, long status, const char *code, const char *what)
{
	const char *e, *m;

	cr_assert_eq(r->status, status, "%s: expected status %ld, got %ld, body '%s'", what, status,
		     r->status, snip(r));
	expect_json_response(r, what);
	cr_assert(json_object_is_type(r->json, json_type_object),
		  "%s: expected a JSON object error body, got '%s'", what, snip(r));
	e = jstr(r->json, "error");
	m = jstr(r->json, "message");
	cr_assert(e, "%s: expected an \"error\" string in '%s'", what, snip(r));
	cr_assert(m && *m, "%s: expected a non-empty \"message\" string in '%s'", what, snip(r));
	cr_assert_str_eq(e, code, "%s: expected error \"%s\", got \"%s\"", what, code, e);
}

static long
jint_member(const struct http_resp *r, const char *key, const char *what)
{
	json_object *v = jget(r->json, key);

	cr_assert(v && json_object_is_type(v, json_type_int),
		  "%s: expected an integer \"%s\" in '%s'", what, key, snip(r));
	return (long)json_object_get_int64(v);
}

void
expect_ingest(const struct http_resp *r, long received, long accepted, long duplicates,
	      const char *what)
{
	long rec, acc, dup;

	cr_assert_eq(r->status, 200, "%s: expected 200, got %ld, body '%s'", what, r->status,
		     snip(r));
	expect_json_response(r, what);
	rec = jint_member(r, "received", what);
	acc = jint_member(r, "accepted", what);
	dup = jint_member(r, "duplicates", what);
	cr_assert_eq(rec, received, "%s: expected received=%ld, got %ld", what, received, rec);
	cr_assert_eq(acc + dup, rec,
		     "%s: expected accepted+duplicates=received, got %ld+%ld vs %ld", what, acc,
		     dup, rec);
	if (accepted >= 0)
		cr_assert_eq(acc, accepted, "%s: expected accepted=%ld, got %ld", what, accepted,
			     acc);
	if (duplicates >= 0)
		cr_assert_eq(dup, duplicates, "%s: expected duplicates=%ld, got %ld", what,
			     duplicates, dup);
}

json_object *
expect_detail(const struct http_resp *r, size_t i, const char *what)
{
	json_object *d = jget(r->json, "details");
	json_object *e;

	cr_assert(d && json_object_is_type(d, json_type_array),
		  "%s: expected a \"details\" array in '%s'", what, snip(r));
	cr_assert_gt(json_object_array_length(d), i, "%s: expected at least %zu details in '%s'",
		     what, i + 1, snip(r));
	e = json_object_array_get_idx(d, i);
	cr_assert(e && json_object_is_type(e, json_type_object),
		  "%s: expected details[%zu] to be an object in '%s'", what, i, snip(r));
	return e;
}

/* ---- database -------------------------------------------------------------------------------- */

PGconn *
db_open(void)
{
	const char *url = getenv("DATABASE_URL");
	PGconn *db;

	cr_assert(url && *url, "DATABASE_URL must be set (run through tests/integration/run.sh)");
	db = PQconnectdb(url);
	cr_assert(db && PQstatus(db) == CONNECTION_OK, "expected a database connection: %s",
		  db ? PQerrorMessage(db) : "out of memory");
	return db;
}

static PGresult *
db_exec1(PGconn *db, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0);

	cr_assert(res && PQresultStatus(res) == PGRES_TUPLES_OK,
		  "expected the verification query to succeed: %s: %s", sql, PQerrorMessage(db));
	return res;
}

long long
db_scalar_ll(PGconn *db, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = db_exec1(db, sql, nparams, params);
	long long v;

	cr_assert(PQntuples(res) == 1 && PQnfields(res) == 1 && !PQgetisnull(res, 0, 0),
		  "expected one non-NULL value from: %s", sql);
	v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

char *
db_scalar_text(PGconn *db, const char *sql, int nparams, const char *const *params)
{
	PGresult *res = db_exec1(db, sql, nparams, params);
	char *v = NULL;

	if (PQntuples(res) >= 1 && PQnfields(res) >= 1 && !PQgetisnull(res, 0, 0)) {
		v = strdup(PQgetvalue(res, 0, 0));
		cr_assert(v, "strdup");
	}
	PQclear(res);
	return v;
}

long long
db_count_ids(PGconn *db, char *const *ids, size_t n)
{
	size_t cap = n * 40 + 8, o = 0;
	char *arr = malloc(cap);
	const char *p[1];
	long long v;

	cr_assert(arr, "malloc");
	arr[o++] = '{';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(arr + o, cap - o, "%s%s", i ? "," : "", ids[i]);
	arr[o++] = '}';
	arr[o] = '\0';
	p[0] = arr;
	v = db_scalar_ll(db, "SELECT count(*) FROM events WHERE event_id = ANY($1::uuid[])", 1, p);
	free(arr);
	return v;
}

/* ---- CSV ------------------------------------------------------------------------------------- */

struct buf {
	char *s;
	size_t n, cap;
};

static int
buf_put(struct buf *b, char c)
{
	if (b->n + 1 >= b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		char *s = realloc(b->s, cap);

		if (!s)
			return -1;
		b->s = s;
		b->cap = cap;
	}
	b->s[b->n++] = c;
	b->s[b->n] = '\0';
	return 0;
}

static char *
buf_take(struct buf *b)
{
	char *s = b->s ? b->s : strdup("");

	b->s = NULL;
	b->n = b->cap = 0;
	return s;
}

struct rowbuf {
	char **f;
	size_t n, cap;
};

static int
row_push(struct rowbuf *r, char *s)
{
	if (!s)
		return -1;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		char **f = realloc(r->f, cap * sizeof(*f));

		if (!f) {
			free(s);
			return -1;
		}
		r->f = f;
		r->cap = cap;
	}
	r->f[r->n++] = s;
	return 0;
}

/* Parses one record starting at *pos. Returns 1 with a record, 0 at the end, -1 on error. */
static int
csv_record(const char *s, size_t len, size_t *pos, struct rowbuf *row, char *err, size_t errlen)
{
	struct buf f = {0};
	size_t i = *pos;

	if (i >= len)
		return 0;
	for (;;) {
		if (i < len && s[i] == '"') {
			i++;
			for (;;) {
				if (i >= len) {
					snprintf(err, errlen,
						 "unterminated quoted field at byte %zu", i);
					free(f.s);
					return -1;
				}
				if (s[i] == '"') {
					if (i + 1 < len && s[i + 1] == '"') {
						if (buf_put(&f, '"'))
							goto oom;
						i += 2;
						continue;
					}
					i++;
					break;
				}
				if (buf_put(&f, s[i++]))
					goto oom;
			}
		} else {
			while (i < len && s[i] != ',' && s[i] != '\n' && s[i] != '\r')
				if (buf_put(&f, s[i++]))
					goto oom;
		}
		if (row_push(row, buf_take(&f)))
			goto oom;
		if (i < len && s[i] == ',') {
			i++;
			continue;
		}
		if (i < len && s[i] == '\r')
			i++;
		if (i < len && s[i] == '\n')
			i++;
		else if (i < len) {
			snprintf(err, errlen, "garbage after a quoted field at byte %zu", i);
			return -1;
		}
		*pos = i;
		return 1;
	}
oom:
	free(f.s);
	snprintf(err, errlen, "out of memory");
	return -1;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *s = NULL;
	long n;

	if (!fp)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0) {
		s = malloc((size_t)n + 1);
		if (s && fread(s, 1, (size_t)n, fp) != (size_t)n) {
			free(s);
			s = NULL;
		} else if (s) {
			s[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(fp);
	return s;
}

int
csv_read_file(const char *path, struct csv_table *t, char *err, size_t errlen)
{
	size_t len = 0, pos = 0, cap = 0;
	char *s = slurp(path, &len);
	int rc = -1;

	memset(t, 0, sizeof(*t));
	if (!s) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	for (int first = 1;; first = 0) {
		struct rowbuf row = {0};
		int r = csv_record(s, len, &pos, &row, err, errlen);

		if (r <= 0) {
			rc = r == 0 && !first ? 0 : -1;
			if (r == 0 && first)
				snprintf(err, errlen, "%s: no header line", path);
			for (size_t i = 0; i < row.n; i++)
				free(row.f[i]);
			free(row.f);
			break;
		}
		if (first) {
			t->header = row.f;
			t->ncols = row.n;
			continue;
		}
		if (t->nrows == cap) {
			cap = cap ? cap * 2 : 1024;
			t->rows = realloc(t->rows, cap * sizeof(*t->rows));
			t->row_cols = realloc(t->row_cols, cap * sizeof(*t->row_cols));
			if (!t->rows || !t->row_cols) {
				snprintf(err, errlen, "out of memory");
				break;
			}
		}
		t->rows[t->nrows] = row.f;
		t->row_cols[t->nrows++] = row.n;
	}
	free(s);
	return rc;
}

void
csv_free(struct csv_table *t)
{
	for (size_t i = 0; i < t->nrows; i++) {
		for (size_t j = 0; j < t->row_cols[i]; j++)
			free(t->rows[i][j]);
		free(t->rows[i]);
	}
	for (size_t j = 0; j < t->ncols; j++)
		free(t->header[j]);
	free(t->header);
	free(t->rows);
	free(t->row_cols);
	memset(t, 0, sizeof(*t));
}

int
csv_col(const struct csv_table *t, const char *name)
{
	for (size_t j = 0; j < t->ncols; j++)
		if (strcmp(t->header[j], name) == 0)
			return (int)j;
	return -1;
}

/* ---- random ids ------------------------------------------------------------------------------ */

static void
random_bytes(unsigned char *b, size_t n)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	cr_assert_geq(fd, 0, "expected /dev/urandom to open");
	while (got < n) {
		ssize_t k = read(fd, b + got, n - got);

		cr_assert_gt(k, 0, "expected to read /dev/urandom");
		got += (size_t)k;
	}
	close(fd);
}

void
it_uuid(char out[37])
{
	unsigned char b[16];

	random_bytes(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

void
it_hex(char *out, size_t nbytes)
{
	unsigned char b[64];

	cr_assert_leq(nbytes, sizeof(b), "it_hex: at most 64 bytes");
	random_bytes(b, nbytes);
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

json_object *
it_event(char *id_out, const char *occurred_at, const char *user_id, const char *event_type)
{
	json_object *o = json_object_new_object();
	json_object *p = json_object_new_object();
	char id[37];

	it_uuid(id);
	if (id_out)
		memcpy(id_out, id, 37);
	json_object_object_add(p, "source", json_object_new_string("integration"));
	json_object_object_add(o, "event_id", json_object_new_string(id));
	json_object_object_add(
	    o, "occurred_at",
	    json_object_new_string(occurred_at ? occurred_at : "2010-05-05T10:00:00Z"));
	json_object_object_add(o, "user_id", json_object_new_string(user_id ? user_id : "it-user"));
	json_object_object_add(o, "event_type",
			       json_object_new_string(event_type ? event_type : "it_event"));
	json_object_object_add(o, "properties", p);
	return o;
}

/* ---- statistics model ------------------------------------------------------------------------ */

static int
cmp_id_pos(const void *a, const void *b)
{
	const struct model_event *x = *(const struct model_event *const *)a;
	const struct model_event *y = *(const struct model_event *const *)b;
	int c = strcmp(x->event_id, y->event_id);

	if (c)
		return c;
	return (x > y) - (x < y);
}

size_t
model_dedup(struct model_event *ev, size_t n)
{
	const struct model_event **p = malloc(n * sizeof(*p) + 1);
	char *drop = calloc(n + 1, 1);
	size_t o = 0;

	cr_assert(p && drop, "malloc");
	for (size_t i = 0; i < n; i++)
		p[i] = &ev[i];
	qsort(p, n, sizeof(*p), cmp_id_pos);
	for (size_t i = 1; i < n; i++)
		if (strcmp(p[i]->event_id, p[i - 1]->event_id) == 0)
			drop[p[i] - ev] = 1;
	for (size_t i = 0; i < n; i++)
		if (!drop[i])
			ev[o++] = ev[i];
	free(p);
	free(drop);
	return o;
}

struct day_user {
	int64_t day;
	const char *user;
};

static int
cmp_day_user(const void *a, const void *b)
{
	const struct day_user *x = a, *y = b;

	if (x->day != y->day)
		return (x->day > y->day) - (x->day < y->day);
	return strcmp(x->user, y->user);
}

static void
date_str(int64_t day, char out[EVENT_DATE_BUF])
{
	event_date_format(day, out);
}

/* A parsed, strictly checked "YYYY-MM-DD" string member of o, as days. */
static int64_t
expect_date_member(json_object *o, const char *key, const char *what)
{
	const char *s = jstr(o, key);
	const char *err = NULL;
	int64_t d;

	cr_assert(s, "%s: expected a string \"%s\" in %s", what, key,
		  json_object_to_json_string(o));
	cr_assert(strlen(s) == 10 && event_date_parse(s, 10, &d, &err) == 0,
		  "%s: expected \"%s\" to be YYYY-MM-DD, got '%s'", what, key, s);
	return d;
}

static long long
expect_int_member(json_object *o, const char *key, const char *what)
{
	json_object *v = jget(o, key);

	cr_assert(v && json_object_is_type(v, json_type_int),
		  "%s: expected an integer \"%s\" in %s", what, key, json_object_to_json_string(o));
	return (long long)json_object_get_int64(v);
}

void
check_dau(const struct model_event *ev, size_t n, int64_t from, int64_t to)
{
	size_t ndays = (size_t)(to - from + 1), m = 0;
	long long *want = calloc(ndays, sizeof(*want));
	struct day_user *du = malloc((n + 1) * sizeof(*du));
	char f[EVENT_DATE_BUF], t[EVENT_DATE_BUF], path[128], what[160];
	struct http_resp r;
	json_object *arr;

	cr_assert(want && du, "malloc");
	for (size_t i = 0; i < n; i++)
		if (ev[i].day >= from && ev[i].day <= to)
			du[m++] = (struct day_user){ev[i].day, ev[i].user};
	qsort(du, m, sizeof(*du), cmp_day_user);
	for (size_t i = 0; i < m; i++)
		if (i == 0 || cmp_day_user(&du[i], &du[i - 1]) != 0)
			want[du[i].day - from]++;
	date_str(from, f);
	date_str(to, t);
	snprintf(path, sizeof(path), "/stats/dau?from=%s&to=%s", f, t);
	snprintf(what, sizeof(what), "GET %s", path);
	http_get(&r, path);
	cr_assert_eq(r.status, 200, "%s: expected 200, got %ld: %.300s", what, r.status, r.body);
	expect_json_response(&r, what);
	arr = r.json;
	cr_assert(json_object_is_type(arr, json_type_array), "%s: expected a JSON array", what);
	cr_assert_eq(json_object_array_length(arr), ndays,
		     "%s: expected %zu entries (every day, zero-filled), got %zu", what, ndays,
		     json_object_array_length(arr));
	for (size_t i = 0; i < ndays; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		int64_t d = expect_date_member(e, "date", what);
		long long u = expect_int_member(e, "unique_users", what);
		char ds[EVENT_DATE_BUF];

		date_str(from + (int64_t)i, ds);
		cr_assert_eq(d, from + (int64_t)i,
			     "%s: entry %zu: expected date %s (ascending), got %s", what, i, ds,
			     jstr(e, "date"));
		cr_assert_eq(u, want[i], "%s: %s: expected unique_users=%lld, got %lld", what, ds,
			     want[i], u);
	}
	http_resp_free(&r);
	free(want);
	free(du);
}

struct type_count {
	const char *type;
	long long count;
};

static int
cmp_type(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
cmp_type_count(const void *a, const void *b)
{
	const struct type_count *x = a, *y = b;

	if (x->count != y->count)
		return (x->count < y->count) - (x->count > y->count);
	return strcmp(x->type, y->type);
}

void
check_top_events(const struct model_event *ev, size_t n, int64_t from, int64_t to, int limit)
{
	const char **types = malloc((n + 1) * sizeof(*types));
	struct type_count *tc = malloc((n + 1) * sizeof(*tc));
	size_t m = 0, nt = 0, want_n;
	char f[EVENT_DATE_BUF], t[EVENT_DATE_BUF], path[160], what[200];
	struct http_resp r;

	cr_assert(types && tc, "malloc");
	for (size_t i = 0; i < n; i++)
		if (ev[i].day >= from && ev[i].day <= to)
			types[m++] = ev[i].type;
	qsort(types, m, sizeof(*types), cmp_type);
	for (size_t i = 0; i < m; i++) {
		if (i == 0 || strcmp(types[i], types[i - 1]) != 0)
			tc[nt++] = (struct type_count){types[i], 0};
		tc[nt - 1].count++;
	}
	qsort(tc, nt, sizeof(*tc), cmp_type_count);
	want_n = nt < (size_t)limit ? nt : (size_t)limit;
	date_str(from, f);
	date_str(to, t);
	snprintf(path, sizeof(path), "/stats/top-events?from=%s&to=%s&limit=%d", f, t, limit);
	snprintf(what, sizeof(what), "GET %s", path);
	http_get(&r, path);
	cr_assert_eq(r.status, 200, "%s: expected 200, got %ld: %.300s", what, r.status, r.body);
	expect_json_response(&r, what);
	cr_assert(json_object_is_type(r.json, json_type_array), "%s: expected a JSON array", what);
	cr_assert_eq(json_object_array_length(r.json), want_n, "%s: expected %zu entries, got %zu",
		     what, want_n, json_object_array_length(r.json));
	for (size_t i = 0; i < want_n; i++) {
		json_object *e = json_object_array_get_idx(r.json, i);
		const char *ty = jstr(e, "event_type");
		long long c = expect_int_member(e, "count", what);

		cr_assert(ty, "%s: entry %zu: expected an \"event_type\" string", what, i);
		cr_assert_str_eq(ty, tc[i].type, "%s: entry %zu: expected event_type %s, got %s",
				 what, i, tc[i].type, ty);
		cr_assert_eq(c, tc[i].count, "%s: entry %zu (%s): expected count %lld, got %lld",
			     what, i, ty, tc[i].count, c);
	}
	http_resp_free(&r);
	free(types);
	free(tc);
}

static int
cmp_user_day(const void *a, const void *b)
{
	const struct day_user *x = a, *y = b;
	int c = strcmp(x->user, y->user);

	if (c)
		return c;
	return (x->day > y->day) - (x->day < y->day);
}

void
check_retention(const struct model_event *ev, size_t n, int64_t start, int windows, int period)
{
	struct day_user *ud = malloc((n + 1) * sizeof(*ud));
	long long *cnt = calloc((size_t)windows + 1, sizeof(*cnt));
	long long cohort = 0;
	char s[EVENT_DATE_BUF], path[160], what[200];
	struct http_resp r;
	json_object *w;

	cr_assert(ud && cnt, "malloc");
	for (size_t i = 0; i < n; i++)
		ud[i] = (struct day_user){ev[i].day, ev[i].user};
	qsort(ud, n, sizeof(*ud), cmp_user_day);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		int64_t first = ud[i].day; /* sorted by day within the user */
		int64_t seen = -1;

		while (j < n && strcmp(ud[j].user, ud[i].user) == 0)
			j++;
		if (first >= start && first < start + period) {
			cohort++;
			for (size_t k = i; k < j; k++) {
				int64_t wk = (ud[k].day - start) / period;

				if (ud[k].day >= start && wk <= windows && wk != seen) {
					cnt[wk]++;
					seen = wk;
				}
			}
		}
		i = j;
	}
	date_str(start, s);
	snprintf(path, sizeof(path), "/stats/retention?start_date=%s&windows=%d&granularity=%s", s,
		 windows, period == 1 ? "day" : "week");
	snprintf(what, sizeof(what), "GET %s", path);
	http_get(&r, path);
	cr_assert_eq(r.status, 200, "%s: expected 200, got %ld: %.300s", what, r.status, r.body);
	expect_json_response(&r, what);
	cr_assert(json_object_is_type(r.json, json_type_object), "%s: expected a JSON object",
		  what);
	cr_assert_eq(expect_date_member(r.json, "start_date", what), start,
		     "%s: expected start_date %s", what, s);
	cr_assert(jstr(r.json, "granularity") &&
		      strcmp(jstr(r.json, "granularity"), period == 1 ? "day" : "week") == 0,
		  "%s: expected granularity \"%s\", got %s", what, period == 1 ? "day" : "week",
		  jstr(r.json, "granularity") ? jstr(r.json, "granularity") : "(none)");
	cr_assert_eq(expect_int_member(r.json, "cohort_size", what), cohort,
		     "%s: expected cohort_size %lld, got %lld", what, cohort,
		     expect_int_member(r.json, "cohort_size", what));
	w = jget(r.json, "windows");
	cr_assert(w && json_object_is_type(w, json_type_array), "%s: expected a \"windows\" array",
		  what);
	cr_assert_eq(json_object_array_length(w), (size_t)windows + 1,
		     "%s: expected windows+1 = %d entries, got %zu", what, windows + 1,
		     json_object_array_length(w));
	for (int k = 0; k <= windows; k++) {
		json_object *e = json_object_array_get_idx(w, (size_t)k);
		json_object *rate = jget(e, "rate");
		double want_rate =
		    cohort ? round((double)cnt[k] / (double)cohort * 10000) / 10000 : 0;
		char ws[EVENT_DATE_BUF];
		long long c;
		double got;

		date_str(start + (int64_t)k * period, ws);
		cr_assert_eq(expect_int_member(e, "index", what), k,
			     "%s: entry %d: expected index %d", what, k, k);
		cr_assert_eq(expect_date_member(e, "start", what), start + (int64_t)k * period,
			     "%s: entry %d: expected start %s, got %s", what, k, ws,
			     jstr(e, "start"));
		c = expect_int_member(e, "count", what);
		cr_assert_eq(c, cnt[k], "%s: window %d (%s): expected count %lld, got %lld", what,
			     k, ws, cnt[k], c);
		cr_assert(rate && (json_object_is_type(rate, json_type_double) ||
				   json_object_is_type(rate, json_type_int)),
			  "%s: window %d: expected a number \"rate\"", what, k);
		got = json_object_get_double(rate);
		cr_assert(got == want_rate,
			  "%s: window %d: expected rate %.4f (%lld/%lld), got %.17g", what, k,
			  want_rate, cnt[k], cohort, got);
	}
	if (windows >= 0 && cohort > 0)
		cr_assert_eq(cnt[0], cohort, "model: window 0 must equal the cohort");
	http_resp_free(&r);
	free(ud);
	free(cnt);
}

/* ---- metrics --------------------------------------------------------------------------------- */

char *
it_metrics_text(struct http_client *c)
{
	struct http_resp r;
	char *text;

	http_client_request(c, &r, "GET", "/metrics", NULL, NULL, 0, NULL);
	cr_assert_eq(r.status, 200, "GET /metrics: expected 200, got %ld (%s) %.300s", r.status,
		     r.curl_error, r.body);
	text = r.body;
	r.body = NULL;
	http_resp_free(&r);
	return text;
}

/* label ("k=\"v\"") is one whole label of the label set set ("{...}", or "" for none). */
static int
has_label(const char *set, size_t setlen, const char *label)
{
	size_t n = strlen(label);

	for (const char *p = set; p && p + n <= set + setlen; p++) {
		p = memmem(p, (size_t)(set + setlen - p), label, n);
		if (!p)
			return 0;
		if ((p[-1] == '{' || p[-1] == ',') && (p[n] == ',' || p[n] == '}'))
			return 1;
	}
	return 0;
}

double
it_metric_sum(const char *text, const char *name, const char *const *labels, int *matched)
{
	size_t nl = strlen(name);
	double total = 0;
	int m = 0;

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		const char *set = line + nl, *p;
		size_t len = end ? (size_t)(end - line) : strlen(line);
		size_t setlen = 0;
		int ok;

		ok = len > nl && line[0] != '#' && strncmp(line, name, nl) == 0 &&
		     (line[nl] == '{' || line[nl] == ' ');
		if (ok && *set == '{') {
			int quoted = 0;

			for (p = set + 1; p < line + len && (quoted || *p != '}'); p++) {
				if (*p == '\\' && quoted)
					p++;
				else if (*p == '"')
					quoted = !quoted;
			}
			setlen = (size_t)(p - set) + 1;
			ok = p < line + len;
		}
		for (size_t i = 0; ok && labels && labels[i]; i++)
			ok = setlen && has_label(set, setlen, labels[i]);
		if (ok) {
			total += strtod(set + setlen, NULL);
			m++;
		}
		line = end ? end + 1 : NULL;
	}
	if (matched)
		*matched = m;
	return total;
}

/* ---- a second stack ------------------------------------------------------------------------- */

void
it_side_stack_up(struct it_side_stack *s, const char *env)
{
	char cmd[4096], urls[1536];
	const char *owner = getenv("DATABASE_URL");
	const char *at = owner ? strstr(owner, "@/") : NULL;
	cr_assert(at, "DATABASE_URL names the embedded cluster: %s", owner ? owner : "(unset)");
	/* the pool connects as the service role, migrations run as the owner */
	snprintf(urls, sizeof urls, "DATABASE_URL='postgresql://events_app%s' MIGRATE_DATABASE_URL='%s'",
		 at, owner);
	snprintf(s->var_dir, sizeof s->var_dir, "/tmp/events-side-XXXXXX");
	cr_assert(mkdtemp(s->var_dir), "mkdtemp");
	for (int attempt = 0; attempt < 5; attempt++) {
		s->port = 20000 + (int)(((unsigned)getpid() * 7919u + (unsigned)attempt * 104729u +
					 (unsigned)time(NULL)) %
					40000u);
		snprintf(
		    cmd, sizeof cmd,
		    "chmod 755 %s && VAR_DIR=%s PORT=%d WORKERS=2 EVENTS_ENV_FILE=/dev/null %s %s "
		    "tools/stack.sh up >%s/up.log 2>&1",
		    s->var_dir, s->var_dir, s->port, urls, env ? env : "", s->var_dir);
		int rc = system(cmd);
		if (rc == 0)
			return;
		if (!(WIFEXITED(rc) && WEXITSTATUS(rc) == 3)) /* 3: port taken, try another */
			break;
	}
	snprintf(cmd, sizeof cmd, "cat %s/up.log >&2", s->var_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "side stack: no up.log\n");
	cr_assert_fail("could not start a second stack under %s", s->var_dir);
}

void
it_side_stack_down(struct it_side_stack *s)
{
	char cmd[512];
	if (!s->var_dir[0])
		return;
	snprintf(cmd, sizeof cmd, "VAR_DIR=%s tools/stack.sh down >/dev/null 2>&1; rm -rf %s",
		 s->var_dir, s->var_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "side stack: cleanup of %s failed\n", s->var_dir);
	s->var_dir[0] = '\0';
}

/* ---- the pool's processes -------------------------------------------------------------------- */

pid_t
it_pool_pid(void)
{
	const char *p = getenv("EVENTS_POOL_PID");

	return p && atoi(p) > 0 ? (pid_t)atoi(p) : 0;
}

int
it_worker_slot(pid_t pid)
{
	char path[64], buf[512];
	size_t n, a;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (!(fp = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	a = strlen(buf) + 1; /* argv[1] */
	if (a >= n || strcmp(buf + a, "--worker") != 0 || a + 9 >= n)
		return -1;
	return atoi(buf + a + 9);
}

static int
cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

int
it_pool_children(pid_t pool, pid_t *out, int cap)
{
	char path[128], buf[4096];
	size_t n;
	int k = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pool, (int)pool);
	if (pool <= 0 || !(fp = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	for (char *s = buf, *e; k < cap; s = e) {
		long v = strtol(s, &e, 10);

		if (e == s)
			break;
		out[k++] = (pid_t)v;
	}
	return k;
}

int
it_pool_workers(pid_t pool, pid_t *out, int cap)
{
	int n = it_pool_children(pool, out, cap), k = 0;

	for (int i = 0; i < n; i++)
		if (it_worker_slot(out[i]) >= 0)
			out[k++] = out[i];
	if (n < 0)
		return -1;
	qsort(out, (size_t)k, sizeof(*out), cmp_pid);
	return k;
}

long
it_proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(fp = fopen(path, "r")))
		return -1;
	while (kb < 0 && fgets(line, sizeof(line), fp))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(fp);
	return kb;
}

double
it_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
it_sleep(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
it_want_workers(void)
{
	const char *w = getenv("WORKERS");

	return w && atoi(w) > 0 ? atoi(w) : 4;
}

int
it_stack(const char *cmd)
{
	const char *dir = getenv("EVENTS_VAR_DIR");
	char line[2048];

	cr_assert(dir && *dir, "EVENTS_VAR_DIR must be set");
	snprintf(line, sizeof(line), "VAR_DIR='%s' tools/stack.sh %s >&2", dir, cmd);
	return system(line);
}

/* The whole retention summary (every cohort, bucket and period, stripes summed) against a
 * recomputation from the raw events, in one snapshot so that other writers cannot skew it. */
void
it_check_retention_cells(PGconn *db)
{
	PGresult *q = PQexec(
	    db,
	    "WITH d AS (SELECT DISTINCT user_id, (occurred_at AT TIME ZONE 'UTC')::date AS day"
	    "   FROM events),"
	    " f AS (SELECT user_id, min(day) AS f FROM d GROUP BY user_id),"
	    " b AS (SELECT DISTINCT user_id, day - k AS s FROM d, generate_series(0, 6) k),"
	    " truth AS ("
	    "  SELECT 1 AS period, f.f AS cohort, d.day AS active, count(*) AS users"
	    "  FROM d JOIN f USING (user_id) GROUP BY 2, 3"
	    "  UNION ALL"
	    "  SELECT 7, f.f - ((f.f - b.s) % 7 + 7) % 7, b.s, count(*)"
	    "  FROM b JOIN f USING (user_id) GROUP BY 2, 3),"
	    " cells AS (SELECT period::int, cohort, active, sum(users)::bigint AS users"
	    "  FROM retention_cells GROUP BY 1, 2, 3 HAVING sum(users) <> 0)"
	    " SELECT (SELECT count(*) FROM truth),"
	    "  (SELECT count(*) FROM (TABLE truth EXCEPT TABLE cells) x),"
	    "  (SELECT count(*) FROM (TABLE cells EXCEPT TABLE truth) y)");
	cr_assert_eq(PQresultStatus(q), PGRES_TUPLES_OK, "%s", PQerrorMessage(db));
	cr_assert_gt(strtoll(PQgetvalue(q, 0, 0), NULL, 10), 100, "cells recomputed: %s", PQgetvalue(q, 0, 0));
	cr_expect_eq(strtoll(PQgetvalue(q, 0, 1), NULL, 10), 0, "cells missing or wrong");
	cr_expect_eq(strtoll(PQgetvalue(q, 0, 2), NULL, 10), 0, "cells that should not exist");
	PQclear(q);
}
