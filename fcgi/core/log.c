/* log.c: JSON log lines. Deliberately free of json-c: logging must work when nothing else
 * does, and a line is built in one stack buffer and written with one write(2) so lines from
 * several workers sharing a file never interleave. A worker keeps its info lines (one access
 * line per request) and writes them together (log_defer): a write(2) per request was ~2 µs of
 * a line's ~5.6 µs, now ~1 µs (README, Logs). */
#include "log.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* A line's longest, and what is kept before it is written: PIPE_BUF, so that one write of
 * whole lines stays whole on a pipe too (compose: the container's stderr). */
enum { LOG_LINE_MAX = 4096, LOG_DEFER_MAX = 4096 };

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int on, idle; /* idle: the thread waits for a first line */
	long pid;     /* getpid() is a system call on every line otherwise */
	long delay_ms;
	size_t used;
	char buf[LOG_DEFER_MAX];
} kept = {.mu = PTHREAD_MUTEX_INITIALIZER};

static enum log_level min_level = LOGL_INFO;
static const char *request_id;
static const char *const level_names[LOGL__MAX] = {"debug", "info", "warn", "error"};

void
log_set_level(enum log_level level)
{
	min_level = level;
}

void
log_set_request_id(const char *id)
{
	request_id = id;
}

int
log_level_parse(const char *s)
{
	for (int i = 0; i < LOGL__MAX; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

static void
append(char *buf, size_t cap, size_t *pos, const char *s)
{
	size_t len = strlen(s);
	if (*pos + len >= cap)
		len = cap - *pos - 1;
	memcpy(buf + *pos, s, len);
	*pos += len;
}

void
log_escape(char *buf, size_t cap, size_t *pos, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = {(char)c};
		size_t n = 1;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		if (*pos + n >= cap - 4) /* the closing quote always fits */
			return;
		memcpy(buf + *pos, esc, n);
		*pos += n;
	}
}

const char *
log_quote(char *buf, size_t cap, const char *s)
{
	size_t pos = 0;
	log_escape(buf, cap, &pos, s, strlen(s));
	buf[pos] = '\0';
	return buf;
}

static void
append_str(char *buf, size_t cap, size_t *pos, const char *key, const char *val)
{
	append(buf, cap, pos, ",\"");
	log_escape(buf, cap, pos, key, strlen(key));
	append(buf, cap, pos, "\":\"");
	log_escape(buf, cap, pos, val, strlen(val));
	append(buf, cap, pos, "\"");
}

static int
has_field(const struct log_field *fields, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(fields[i].key, key) == 0)
			return 1;
	return 0;
}

/* The time now as 2006-01-02T15:04:05.123Z; the part before the milliseconds is made once
 * a second (gmtime_r and snprintf were a fifth of a line's cost). */
static void
timestamp(char out[64])
{
	static _Thread_local time_t sec = -1;
	static _Thread_local char head[48];
	static _Thread_local size_t head_len;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	if (tv.tv_sec != sec) {
		struct tm tm;
		gmtime_r(&tv.tv_sec, &tm);
		int n =
		    snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
			     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		head_len = n > 0 && (size_t)n < sizeof head ? (size_t)n : 0;
		sec = tv.tv_sec;
	}
	long ms = (long)(tv.tv_usec / 1000);
	memcpy(out, head, head_len);
	out[head_len] = (char)('0' + ms / 100);
	out[head_len + 1] = (char)('0' + ms / 10 % 10);
	out[head_len + 2] = (char)('0' + ms % 10);
	memcpy(out + head_len + 3, "Z", 2);
}

/* v as "%.15g" writes it; an integer (a status, a count, a pid: most numbers logged) without
 * printf's floating-point path. */
static void
number(char out[48], double v)
{
	if (!(v > -1e15 && v < 1e15) || v != (double)(long long)v) {
		snprintf(out, 48, "%.15g", v);
		return;
	}
	char digits[24];
	long long x = (long long)v;
	unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
	size_t n = 0, o = 0;
	do
		digits[n++] = (char)('0' + u % 10);
	while (u /= 10);
	if (x < 0)
		out[o++] = '-';
	while (n)
		out[o++] = digits[--n];
	out[o] = '\0';
}

/* Writes what is kept (kept.mu held). */
static void
write_kept(void)
{
	if (kept.used)
		(void)!write(STDERR_FILENO, kept.buf, kept.used);
	kept.used = 0;
}

/* Writes the kept lines once the first of them is kept.delay_ms old (or sooner, when the
 * buffer fills or a warning comes). Waits without a timer while nothing is kept. */
static void *
flusher(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&kept.mu);
	for (;;) {
		struct timespec until;
		while (!kept.used) {
			kept.idle = 1;
			pthread_cond_wait(&kept.cv, &kept.mu);
			kept.idle = 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += kept.delay_ms / 1000;
		until.tv_nsec += kept.delay_ms % 1000 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		/* 0: woken early (a line signalled, or spuriously): wait on; a timeout (or any
		 * error, which must not spin) writes */
		while (kept.used && pthread_cond_timedwait(&kept.cv, &kept.mu, &until) == 0)
			;
		write_kept();
	}
	return NULL;
}

int
log_defer(long delay_ms)
{
	pthread_condattr_t ca;
	pthread_t t;
	sigset_t all, old;
	int err;
	if (kept.on)
		return 0;
	if (pthread_condattr_init(&ca) || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
	    pthread_cond_init(&kept.cv, &ca))
		return -1;
	pthread_condattr_destroy(&ca);
	kept.delay_ms = delay_ms > 0 ? delay_ms : 1;
	/* the thread takes no signal: SIGTERM must reach the worker's accept, not it */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&t, NULL, flusher, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return -1;
	pthread_detach(t);
	kept.pid = (long)getpid();
	kept.on = 1;
	return 0;
}

void
log_flush(void)
{
	if (!kept.on)
		return;
	pthread_mutex_lock(&kept.mu);
	write_kept();
	pthread_mutex_unlock(&kept.mu);
}

/* One whole line: written at once, or kept (log_defer) when it is info or debug; a warning
 * first writes what is kept, so a process's lines stay in order. */
static void
emit(enum log_level level, const char *line, size_t len)
{
	if (!kept.on) {
		(void)!write(STDERR_FILENO, line, len);
		return;
	}
	pthread_mutex_lock(&kept.mu);
	if (level >= LOGL_WARN || kept.used + len > sizeof kept.buf)
		write_kept();
	if (level >= LOGL_WARN || len > sizeof kept.buf) {
		(void)!write(STDERR_FILENO, line, len);
	} else {
		memcpy(kept.buf + kept.used, line, len);
		kept.used += len;
		if (kept.idle) /* else it is already timing the lines it saw first */
			pthread_cond_signal(&kept.cv);
	}
	pthread_mutex_unlock(&kept.mu);
}

void
log_event(enum log_level level, const char *logger, const char *msg, const struct log_field *fields,
	  size_t nfields)
{
	char line[LOG_LINE_MAX], ts[64], num[48];
	const size_t cap = sizeof line - 64; /* room for the closing pid field, always written */
	size_t pos = 0;
	if (level < min_level)
		return;
	timestamp(ts);
	append(line, cap, &pos, "{\"ts\":\"");
	append(line, cap, &pos, ts);
	append(line, cap, &pos, "\"");
	append_str(line, cap, &pos, "level", level_names[level]);
	append_str(line, cap, &pos, "logger", logger);
	append_str(line, cap, &pos, "msg", msg);
	for (size_t i = 0; i < nfields && pos < cap - 256; i++) {
		if (fields[i].str) {
			append_str(line, cap, &pos, fields[i].key, fields[i].str);
			continue;
		}
		number(num, fields[i].num);
		append(line, cap, &pos, ",\"");
		append(line, cap, &pos, fields[i].key);
		append(line, cap, &pos, "\":");
		append(line, cap, &pos, num);
	}
	if (request_id && !has_field(fields, nfields, "request_id"))
		append_str(line, cap, &pos, "request_id", request_id);
	number(num, (double)(kept.on ? kept.pid : (long)getpid()));
	append(line, sizeof line, &pos, ",\"pid\":");
	append(line, sizeof line, &pos, num);
	append(line, sizeof line, &pos, "}\n");
	emit(level, line, pos);
}

void
log_msg(enum log_level level, const char *logger, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_event(level, logger, msg, NULL, 0);
}
