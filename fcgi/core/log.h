/* log.h: one JSON object per line on stderr. Control characters in every value are escaped,
 * so no input can forge a line. */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

enum log_level { LOGL_DEBUG, LOGL_INFO, LOGL_WARN, LOGL_ERROR, LOGL__MAX };

/* A typed extra field for log_event. */
struct log_field {
	const char *key;
	const char *str; /* string value, or NULL when num is meant */
	double num;
};

void log_set_level(enum log_level level);

/* The request being served (borrowed; NULL between requests): every line written meanwhile
 * carries it as "request_id", so an error line can be matched with its access line. */
void log_set_request_id(const char *id);

/* Parses "debug", "info", "warn", "error"; -1 when unknown. */
int log_level_parse(const char *s);

/* Writes {"ts":..,"level":..,"logger":..,"msg":..,<fields>,"pid":..} with one write(2)
 * (or keeps it, log_defer). */
void log_event(enum log_level level, const char *logger, const char *msg,
	       const struct log_field *fields, size_t nfields);

/* From now on this process keeps its info and debug lines and writes them together, at most
 * delay_ms after the first of them (a thread of its own does; warnings and errors are written
 * at once, after what was kept). 0, or -1 when the thread cannot start (lines are then written
 * one by one as before). For a worker: one write(2) per batch instead of per request. Call it
 * after the last fork: a child would inherit the mode without the thread. */
int log_defer(long delay_ms);
/* Writes the kept lines now (before exiting). */
void log_flush(void);
/* printf-style convenience for the common case of a plain message. */
void log_msg(enum log_level level, const char *logger, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends s[0..len) JSON-escaped (without quotes) to buf of size cap at *pos; never
 * overflows, truncating instead. */
void log_escape(char *buf, size_t cap, size_t *pos, const char *s, size_t len);

/* s escaped as log_escape does, into buf (cap >= 8 bytes, truncated to fit, NUL-terminated),
 * for plain messages outside log lines (start-up errors); returns buf. */
const char *log_quote(char *buf, size_t cap, const char *s);

#endif
