/* csv.h: a streaming RFC 4180 reader for the bulk loader. Memory is fixed when the reader is
 * made (an input buffer and two record buffers of max_record bytes), however large the input.
 * Each record carries its physical line number and its original text (capped), so a rejected
 * row can be reported exactly as it was written. */
#ifndef CSV_H
#define CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { CSV_MAX_FIELDS = 1024 };

/* What was odd about a record. The reader never stops at a malformed record: it returns it with
 * flags, and the next call continues after it. */
enum csv_flag {
	CSV_F_UNTERMINATED = 1, /* a quoted field ran to the end of the input */
	CSV_F_BAD_QUOTE = 2, /* a quote inside an unquoted field, or text after a closing quote */
	CSV_F_TOO_LONG = 4,  /* more than max_record bytes of data, or CSV_MAX_FIELDS fields */
	CSV_F_NUL = 8,	     /* a NUL byte in a field */
	CSV_F_NO_EOL = 16    /* the input ended without a line end after this record */
};

struct csv_field {
	const char *p; /* unescaped bytes; p[len] is a NUL */
	size_t len;
};

/* One record; the pointers stay valid until the next csv_next. */
struct csv_record {
	long line;	/* physical line (1-based) of the record's first byte */
	size_t nfields; /* fields in the record (all of them, even beyond the cap) */
	const struct csv_field *fields; /* min(nfields, CSV_MAX_FIELDS) entries */
	const char *raw;		/* original text without the line end, up to max_record */
	size_t raw_len;
	int raw_truncated; /* raw is the first max_record bytes only */
	unsigned flags;	   /* enum csv_flag bits */
	size_t bad_field;  /* with CSV_F_BAD_QUOTE: the first field (0-based) quoted wrongly */
};

enum csv_status { CSV_RECORD, CSV_END, CSV_ERROR };

struct csv_reader;

/* A reader of in (not closed by the reader) with an input buffer of bufsize bytes and records
 * of at most max_record bytes. NULL when out of memory. Free with csv_reader_free. */
struct csv_reader *csv_reader_new(FILE *in, size_t bufsize, size_t max_record);
void csv_reader_free(struct csv_reader *r);

/* The next record. A UTF-8 byte-order mark at the start of the input is skipped, and so are
 * empty lines (they are not records). CR LF and LF both end a record; a CR elsewhere is data.
 * CSV_END at the end of the input; CSV_ERROR when reading failed (csv_error says why). */
enum csv_status csv_next(struct csv_reader *r, struct csv_record *rec)
    __attribute__((warn_unused_result));

/* Bytes of input consumed so far (for progress). */
uint64_t csv_bytes(const struct csv_reader *r);

/* Why the last CSV_ERROR happened (static text or strerror). */
const char *csv_error(const struct csv_reader *r);

/* 1 when the cell is the JSON literal null with only JSON whitespace (space, tab, CR, LF)
 * around it. The loader reads such a properties_json cell as an empty one ({}), as API.md
 * reads "properties": null. */
int csv_cell_is_json_null(const char *p, size_t len);

/* Writes s[0..len) to f as one quoted CSV field ("" for each "): the loader's rejects file. */
void csv_write_quoted(FILE *f, const char *s, size_t len);

#endif
