/* log.c: JSON log lines. Deliberately free of json-c: logging must work when nothing else
 * does, and a line is built in one stack buffer and written with one write(2) so lines from
 * several workers sharing a file never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { LOG_LINE_MAX = 4096 };

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
		char esc[7] = {0};
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
		} else {
			esc[0] = (char)c;
		}
		size_t n = strlen(esc) ? strlen(esc) : 1;
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

static void
timestamp(char out[64])
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000));
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
		snprintf(num, sizeof num, "%.15g", fields[i].num);
		append(line, cap, &pos, ",\"");
		append(line, cap, &pos, fields[i].key);
		append(line, cap, &pos, "\":");
		append(line, cap, &pos, num);
	}
	if (request_id && !has_field(fields, nfields, "request_id"))
		append_str(line, cap, &pos, "request_id", request_id);
	snprintf(num, sizeof num, ",\"pid\":%ld}\n", (long)getpid());
	append(line, sizeof line, &pos, num);
	(void)!write(STDERR_FILENO, line, pos);
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
