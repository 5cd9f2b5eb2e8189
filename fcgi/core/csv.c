/* csv.c: a streaming RFC 4180 reader. One pass over the bytes with a small state machine; the
 * record's unescaped data and its original text go to two buffers allocated once, so memory
 * stays constant whatever the input. Malformed input is never fatal: the record comes back
 * with flags saying what was wrong, and reading continues after it. */
#include "csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum state {
	S_START,    /* nothing of the record yet (an empty line is skipped here) */
	S_FIELD,    /* at the start of a field after a comma */
	S_UNQUOTED, /* inside an unquoted field */
	S_QUOTED,   /* inside a quoted field */
	S_QQ,	    /* a quote inside a quoted field: the end, or the first of "" */
	S_CR	    /* a CR outside quotes: a line end if LF follows, else data */
};

struct csv_reader {
	FILE *in;
	char *buf;
	size_t bufsize, pos, end, seg; /* seg: start of this record's bytes not yet in raw */
	int eof;
	const char *err;
	uint64_t total; /* bytes read from in */
	long line;	/* current physical line */
	size_t max;
	char *data; /* fields, each NUL-terminated */
	size_t dlen, dbytes, fstart;
	char *raw;
	size_t rlen;
	int raw_trunc;
	struct csv_field fields[CSV_MAX_FIELDS];
	size_t nfields, bad_field;
	unsigned flags;
	long rec_line;
	enum state st, cr_prev;
};

static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

struct csv_reader *
csv_reader_new(FILE *in, size_t bufsize, size_t max_record)
{
	struct csv_reader *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->in = in;
	r->bufsize = bufsize < 4 ? 4 : bufsize;
	r->max = max_record;
	r->buf = malloc(r->bufsize);
	r->data = malloc(max_record + CSV_MAX_FIELDS + 1);
	r->raw = malloc(max_record + 1);
	if (!r->buf || !r->data || !r->raw) {
		csv_reader_free(r);
		return NULL;
	}
	r->line = 1;
	/* the first bytes, to skip a byte-order mark */
	while (r->end < 3 && !r->eof) {
		size_t n = fread(r->buf + r->end, 1, 3 - r->end, in);
		r->end += n;
		r->eof = n == 0;
	}
	r->eof = 0;
	r->total = r->end;
	if (r->end == 3 && memcmp(r->buf, bom, 3) == 0)
		r->pos = 3;
	return r;
}

void
csv_reader_free(struct csv_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r->data);
	free(r->raw);
	free(r);
}

uint64_t
csv_bytes(const struct csv_reader *r)
{
	return r->total - (r->end - r->pos);
}

const char *
csv_error(const struct csv_reader *r)
{
	return r->err ? r->err : "no error";
}

static void
raw_append(struct csv_reader *r, const char *p, size_t n)
{
	if (r->rlen + n > r->max) {
		n = r->max - r->rlen;
		r->raw_trunc = 1;
	}
	memcpy(r->raw + r->rlen, p, n);
	r->rlen += n;
}

/* Moves the record's bytes up to (excluding) upto into raw. */
static void
raw_flush(struct csv_reader *r, size_t upto)
{
	raw_append(r, r->buf + r->seg, upto - r->seg);
	r->seg = upto;
}

static void
begin_record(struct csv_reader *r)
{
	r->dlen = r->dbytes = r->fstart = r->rlen = r->nfields = r->bad_field = 0;
	r->raw_trunc = 0;
	r->flags = 0;
	r->st = S_START;
	r->rec_line = r->line;
	r->seg = r->pos;
}

static inline void
put(struct csv_reader *r, char c)
{
	if (c == '\0')
		r->flags |= CSV_F_NUL;
	if (r->dbytes >= r->max) {
		r->flags |= CSV_F_TOO_LONG;
		return;
	}
	r->dbytes++;
	r->data[r->dlen++] = c;
}

static void
end_field(struct csv_reader *r)
{
	if (r->nfields < CSV_MAX_FIELDS) {
		r->fields[r->nfields].p = r->data + r->fstart;
		r->fields[r->nfields].len = r->dlen - r->fstart;
		r->data[r->dlen++] = '\0';
		r->fstart = r->dlen;
	} else {
		r->flags |= CSV_F_TOO_LONG;
	}
	r->nfields++;
}

static void
bad_quote(struct csv_reader *r)
{
	if (!(r->flags & CSV_F_BAD_QUOTE))
		r->bad_field = r->nfields;
	r->flags |= CSV_F_BAD_QUOTE;
}

/* An empty line: not a record; the next one starts after it. */
static void
blank_line(struct csv_reader *r)
{
	begin_record(r);
}

/* A byte outside quotes (states S_START, S_FIELD, S_UNQUOTED, S_QQ). 1 when it ends the
 * record. */
static int
outside(struct csv_reader *r, char c)
{
	switch (c) {
	case ',':
		end_field(r);
		r->st = S_FIELD;
		return 0;
	case '\n':
		r->line++;
		if (r->st == S_START) {
			blank_line(r);
			return 0;
		}
		end_field(r);
		return 1;
	case '\r':
		r->cr_prev = r->st;
		r->st = S_CR;
		return 0;
	case '"':
		if (r->st == S_START || r->st == S_FIELD) {
			r->st = S_QUOTED;
			return 0;
		}
		break;
	}
	if (r->st == S_QQ || (r->st == S_UNQUOTED && c == '"'))
		bad_quote(r);
	put(r, c);
	r->st = S_UNQUOTED;
	return 0;
}

/* Feeds one byte; 1 when it ended the record. */
static inline int
step(struct csv_reader *r, char c)
{
	switch (r->st) {
	case S_QUOTED:
		if (c == '"') {
			r->st = S_QQ;
			return 0;
		}
		if (c == '\n')
			r->line++;
		put(r, c);
		return 0;
	case S_QQ:
		if (c == '"') {
			put(r, c);
			r->st = S_QUOTED;
			return 0;
		}
		return outside(r, c);
	case S_CR:
		if (c == '\n') {
			r->line++;
			if (r->cr_prev == S_START) {
				blank_line(r);
				return 0;
			}
			end_field(r);
			return 1;
		}
		if (r->cr_prev == S_QQ)
			bad_quote(r);
		put(r, '\r');
		r->st = S_UNQUOTED;
		return outside(r, c);
	default:
		return outside(r, c);
	}
}

/* Refills the buffer; 1 when bytes came, 0 at the end of the input, -1 on a read error. */
static int
fill(struct csv_reader *r)
{
	size_t n;
	raw_flush(r, r->pos);
	r->pos = r->end = r->seg = 0;
	if (r->eof)
		return 0;
	n = fread(r->buf, 1, r->bufsize, r->in);
	if (n == 0) {
		if (ferror(r->in)) {
			r->err = strerror(errno ? errno : EIO);
			return -1;
		}
		r->eof = 1;
		return 0;
	}
	r->end = n;
	r->total += n;
	return 1;
}

static void
emit(struct csv_reader *r, struct csv_record *rec)
{
	rec->line = r->rec_line;
	rec->nfields = r->nfields;
	rec->fields = r->fields;
	rec->raw = r->raw;
	rec->raw_len = r->rlen;
	rec->raw_truncated = r->raw_trunc;
	rec->flags = r->flags;
	rec->bad_field = r->bad_field;
	r->raw[r->rlen] = '\0';
}

/* The input ended inside the record being read. */
static enum csv_status
at_eof(struct csv_reader *r, struct csv_record *rec)
{
	if (r->st == S_START || (r->st == S_CR && r->cr_prev == S_START))
		return CSV_END;
	if (r->st == S_QUOTED)
		r->flags |= CSV_F_UNTERMINATED;
	if (r->st == S_CR && r->rlen && !r->raw_trunc)
		r->rlen--; /* a final CR is a line end */
	end_field(r);
	r->flags |= CSV_F_NO_EOL;
	emit(r, rec);
	return CSV_RECORD;
}

enum csv_status
csv_next(struct csv_reader *r, struct csv_record *rec)
{
	begin_record(r);
	for (;;) {
		if (r->pos == r->end) {
			int n = fill(r);
			if (n < 0)
				return CSV_ERROR;
			if (n == 0)
				return at_eof(r, rec);
		}
		int cr = r->st == S_CR;
		if (step(r, r->buf[r->pos++])) {
			raw_flush(r, r->pos - 1);
			if (cr && r->rlen && !r->raw_trunc)
				r->rlen--; /* the CR of CR LF */
			r->seg = r->pos;
			emit(r, rec);
			return CSV_RECORD;
		}
	}
}

static int
json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int
csv_cell_is_json_null(const char *p, size_t len)
{
	while (len && json_space(p[len - 1]))
		len--;
	while (len && json_space(*p))
		p++, len--;
	return len == 4 && memcmp(p, "null", 4) == 0;
}

void
csv_write_quoted(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			fputc('"', f);
		fputc(s[i], f);
	}
	fputc('"', f);
}
