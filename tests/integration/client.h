/* client.h: helpers of the integration tests. An HTTP client (libcurl) that talks to the stack
 * at $EVENTS_BASE_URL, a libpq helper that checks what is stored in $DATABASE_URL, an RFC 4180
 * CSV reader for the sample file, and a model of the statistics computed from known events.
 * Functions whose name starts with check_ or expect_ make Criterion assertions: call them from
 * inside a test only. */
#ifndef IT_CLIENT_H
#define IT_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <libpq-fe.h>

/* ---- HTTP ---------------------------------------------------------------------------------- */

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

/* ---- common response assertions -------------------------------------------------------------- */

/* Content-Type application/json; charset=utf-8, exactly one X-Request-ID, a JSON body. what
 * names the request in assertion messages. */
void expect_json_response(const struct http_resp *r, const char *what);

/* Status, JSON error body with "error" == code and a "message" string, the headers above. */
void expect_error(const struct http_resp *r, long status, const char *code, const char *what);

/* 200 {"received": n, "accepted": a, "duplicates": d}; a or d < 0 means "don't check". */
void expect_ingest(const struct http_resp *r, long received, long accepted, long duplicates,
		   const char *what);

/* Returns details[i] of a 422/400 answer, asserting it exists and is an object. */
json_object *expect_detail(const struct http_resp *r, size_t i, const char *what);

/* Member lookup helpers: NULL when missing. */
json_object *jget(json_object *o, const char *key);
const char *jstr(json_object *o, const char *key);

/* ---- database -------------------------------------------------------------------------------- */

/* Connects to $DATABASE_URL (asserts success). Close with PQfinish. */
PGconn *db_open(void);

/* Runs sql with text params and returns the single value of its single row as a long long
 * (asserts the query succeeds and returns one row, one non-NULL column). */
long long db_scalar_ll(PGconn *db, const char *sql, int nparams, const char *const *params);
/* retention_cells (stripes summed) equals a recomputation from the raw events; fails if not */
void it_check_retention_cells(PGconn *db);

/* Same, returning the text value (malloc'd, caller frees), or NULL when there is no row or the
 * value is NULL. */
char *db_scalar_text(PGconn *db, const char *sql, int nparams, const char *const *params);

/* How many of the n event ids are stored. */
long long db_count_ids(PGconn *db, char *const *ids, size_t n);

/* ---- CSV ------------------------------------------------------------------------------------- */

struct csv_table {
	size_t nrows; /* data rows, header excluded */
	size_t ncols;
	char **header;	  /* ncols names */
	char ***rows;	  /* rows[i][j], NUL-terminated */
	size_t *row_cols; /* fields in row i */
};

/* Reads an RFC 4180 file (header line first; quoted fields with "" escapes may span lines; LF or
 * CRLF; optional UTF-8 BOM). Returns 0, or -1 with err set. Free with csv_free. */
int csv_read_file(const char *path, struct csv_table *t, char *err, size_t errlen);
void csv_free(struct csv_table *t);
/* Column index of name, or -1. */
int csv_col(const struct csv_table *t, const char *name);

/* ---- random ids ------------------------------------------------------------------------------ */

/* A random version-4 UUID in lower case. */
void it_uuid(char out[37]);
/* A random hex tag of 2*nbytes chars (out has room for it and the NUL). */
void it_hex(char *out, size_t nbytes);

/* A fresh valid event {"event_id", "occurred_at", "user_id", "event_type", "properties"}
 * (caller puts it). NULL arguments take defaults: 2010-05-05T10:00:00Z, user "it-user",
 * type "it_event". The new id is written to id_out when not NULL. */
json_object *it_event(char *id_out, const char *occurred_at, const char *user_id,
		      const char *event_type);

/* ---- statistics model ------------------------------------------------------------------------ */

struct model_event {
	char event_id[37];
	int64_t us;	  /* occurred_at, µs since the epoch */
	int64_t day;	  /* UTC day of occurred_at, days since 1970-01-01 */
	const char *user; /* canonical user id text (borrowed) */
	const char *type; /* event_type (borrowed) */
};

/* The stored events: duplicates by event_id removed (first occurrence wins). The array is
 * rewritten in place; returns the new count. */
size_t model_dedup(struct model_event *ev, size_t n);

/* GET /stats/dau for [from, to] and compares every entry with the model. */
void check_dau(const struct model_event *ev, size_t n, int64_t from, int64_t to);
/* GET /stats/top-events for [from, to] with limit, compared with the model. */
void check_top_events(const struct model_event *ev, size_t n, int64_t from, int64_t to, int limit);
/* GET /stats/retention, compared with the model (period 1 or 7 days). The model assumes ev is
 * every stored event of the users it names. */
void check_retention(const struct model_event *ev, size_t n, int64_t start, int windows,
		     int period);

/* ---- metrics --------------------------------------------------------------------------------- */

/* GET /metrics through c (asserts 200); the body, malloc'd, caller frees. */
char *it_metrics_text(struct http_client *c);

/* Sum of the samples of Prometheus text whose metric name is name and whose label set has every
 * label in labels (NULL-terminated "key=\"value\"" strings, or NULL for no condition). *matched
 * (when not NULL) is set to the number of samples summed. */
double it_metric_sum(const char *text, const char *name, const char *const *labels, int *matched);

/* ---- a second stack ------------------------------------------------------------------------- */

/* A worker pool + nginx of its own (2 workers, a free port, a temp VAR_DIR) on the same
 * database ($DATABASE_URL), for tests that need other settings or must stop a stack. env is
 * prepended to the tools/stack.sh command ("API_KEYS='k:read'"), or NULL. Asserts success. */
struct it_side_stack {
	char var_dir[64];
	int port;
};
void it_side_stack_up(struct it_side_stack *s, const char *env);
/* Stops it (tools/stack.sh down) and removes its directory; safe to call twice. */
void it_side_stack_down(struct it_side_stack *s);

/* ---- the pool's processes -------------------------------------------------------------------- */

/* These make no assertions, so load threads may call them too. */

/* $EVENTS_POOL_PID as a pid, 0 when it is not set. */
pid_t it_pool_pid(void);

/* Every child of the pool whose supervisor is pool (workers, old ones still finishing, children
 * not yet exec'd), in /proc's order; at most cap; -1 when the supervisor is not running. */
int it_pool_children(pid_t pool, pid_t *out, int cap);

/* The slot of a running worker ("events-fcgi --worker SLOT"), -1 for anything else (a child
 * not yet exec'd, a zombie, a process that is gone). */
int it_worker_slot(pid_t pid);

/* The running workers of the pool whose supervisor is pool: its children that are
 * "events-fcgi --worker SLOT" processes (not yet exec'd children and zombies are left out), read
 * from /proc. Writes at most cap pids to out in ascending order; returns how many, -1 when the
 * supervisor is not running. */
int it_pool_workers(pid_t pool, pid_t *out, int cap);

/* VmRSS of pid in KiB from /proc/PID/status, -1 when it cannot be read. */
long it_proc_rss_kb(pid_t pid);

/* CLOCK_MONOTONIC in seconds. */
double it_now(void);

/* Sleeps s seconds (fractions too), resuming after signals. */
void it_sleep(double s);

/* The pool size the harness started ($WORKERS, default 4). */
int it_want_workers(void);

/* Runs "VAR_DIR=$EVENTS_VAR_DIR tools/stack.sh CMD" (output to stderr); its system() status.
 * Asserts EVENTS_VAR_DIR is set. */
int it_stack(const char *cmd);

#endif
