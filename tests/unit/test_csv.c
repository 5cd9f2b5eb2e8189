/* test_csv.c: unit tests for fcgi/core/csv.c. Every case is read with several input buffer sizes
 * (down to 4 bytes), so that each state of the reader meets a buffer boundary. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

struct csv_case {
	const char *in;
	size_t len;	    /* 0: strlen(in) */
	size_t max;	    /* max_record; 0: 256 */
	const char *expect; /* records as "line:f1|f2 FLAGS\n", see describe() */
};

#define IN(s) s, sizeof(s) - 1

static const struct csv_case cases[] = {
    {IN(""), 0, ""},
    {IN("\xEF\xBB\xBF"), 0, ""},
    {IN("\n\n\r\n"), 0, ""},
    {IN("a,b,c\n1,2,3\n"), 0, "1:a|b|c\n2:1|2|3\n"},
    {IN("a,b\n1,2"), 0, "1:a|b\n2:1|2 E\n"},
    {IN("a,b\r\n1,2\r\n"), 0, "1:a|b\n2:1|2\n"},
    {IN("a,b\r"), 0, "1:a|b E\n"},
    {IN("\xEF\xBB\xBF"
	"a,b\r\n"),
     0, "1:a|b\n"},
    {IN("\xEF\xBB"
	"a\n"),
     0,
     "1:\xEF\xBB"
     "a\n"},
    {IN("a,\xEF\xBB\xBF\n"), 0, "1:a|\xEF\xBB\xBF\n"},
    {IN("\"a,b\",c\n"), 0, "1:a,b|c\n"},
    {IN("\"say \"\"hi\"\"\",x\n"), 0, "1:say \"hi\"|x\n"},
    {IN("\"\"\"\"\n"), 0, "1:\"\n"},
    {IN("\"\"\n"), 0, "1:\n"},
    {IN(",,\n"), 0, "1:||\n"},
    {IN("a,\n"), 0, "1:a|\n"},
    {IN("\"a\nb\",c\nd,e\n"), 0, "1:a\\nb|c\n3:d|e\n"},
    {IN("\"a\r\nb\"\r\nx\r\n"), 0, "1:a\\r\\nb\n3:x\n"},
    {IN("\n\na,b\n\r\n\nc,d\n\n"), 0, "3:a|b\n6:c|d\n"},
    {IN("h\n\"x\n\n\ny\",z\nw\n"), 0, "1:h\n2:x\\n\\n\\ny|z\n6:w\n"},
    {IN("a\rb,c\n"), 0, "1:a\\rb|c\n"},
    {IN("\"a\"\r\n"), 0, "1:a\n"},
    {IN("\"a\"\rb\n"), 0, "1:a\\rb Q0\n"},
    /* unterminated quote: runs to the end of the input, numbered by its first line */
    {IN("h\na,\"b\nc\n"), 0, "1:h\n2:a|b\\nc\\n UE\n"},
    {IN("\""), 0, "1: UE\n"},
    /* stray quotes */
    {IN("a\"b,c\n"), 0, "1:a\"b|c Q0\n"},
    {IN("\"a\"b,c\n"), 0, "1:ab|c Q0\n"},
    {IN("x,\"a\" ,c\n"), 0, "1:x|a |c Q1\n"},
    /* a JSON cell that was not quoted splits at its commas */
    {IN("1,{\"a\":1,\"b\":2}\n"), 0, "1:1|{\"a\":1|b:2} Q1\n"},
    {IN("1,{\"a\":1}\n2,{}\n"), 0, "1:1|{\"a\":1} Q1\n2:2|{}\n"},
    /* NUL bytes */
    {"a\0b,c\n", 6, 0, "1:a\\0b|c N\n"},
    /* records longer than max_record are flagged, and reading goes on after them */
    {IN("0123456789,x\nab\n"), 8, "1:# L\n2:ab\n"},
    {IN("\"0123\n456789\"\nab\n"), 8, "1:# L\n3:ab\n"},
    {IN("01234567\n"), 8, "1:01234567\n"},
};

/* "line:f1|f2 FLAGS" with \n \r \0 escaped; a too-long record shows "#" for its fields. */
static void
describe(const struct csv_record *rec, char *out, size_t cap)
{
	size_t pos = (size_t)snprintf(out, cap, "%ld:", rec->line);
	if (rec->flags & CSV_F_TOO_LONG) {
		pos += (size_t)snprintf(out + pos, cap - pos, "#");
	} else {
		for (size_t i = 0; i < rec->nfields; i++) {
			if (i)
				out[pos++] = '|';
			for (size_t j = 0; j < rec->fields[i].len && pos + 4 < cap; j++) {
				char c = rec->fields[i].p[j];
				const char *esc = c == '\n'   ? "\\n"
						  : c == '\r' ? "\\r"
						  : c	      ? NULL
							      : "\\0";
				if (esc)
					pos += (size_t)snprintf(out + pos, cap - pos, "%s", esc);
				else
					out[pos++] = c;
			}
			cr_assert_eq(rec->fields[i].p[rec->fields[i].len], '\0');
		}
	}
	if (rec->flags)
		out[pos++] = ' ';
	if (rec->flags & CSV_F_UNTERMINATED)
		out[pos++] = 'U';
	if (rec->flags & CSV_F_BAD_QUOTE)
		pos += (size_t)snprintf(out + pos, cap - pos, "Q%zu", rec->bad_field);
	if (rec->flags & CSV_F_TOO_LONG)
		out[pos++] = 'L';
	if (rec->flags & CSV_F_NUL)
		out[pos++] = 'N';
	if (rec->flags & CSV_F_NO_EOL)
		out[pos++] = 'E';
	out[pos++] = '\n';
	out[pos] = '\0';
}

static FILE *
input(const char *s, size_t len)
{
	FILE *f = tmpfile();
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(s, 1, len, f), len);
	rewind(f);
	return f;
}

/* Reads everything into one description string (malloc'd). */
static char *
read_all(const char *s, size_t len, size_t bufsize, size_t max)
{
	FILE *f = input(s, len);
	struct csv_reader *r = csv_reader_new(f, bufsize, max);
	struct csv_record rec;
	size_t cap = 4096, pos = 0;
	char *out = calloc(1, cap), line[1024];
	enum csv_status st;
	cr_assert_not_null(r);
	while ((st = csv_next(r, &rec)) == CSV_RECORD) {
		describe(&rec, line, sizeof line);
		cr_assert_lt(pos + strlen(line), cap);
		memcpy(out + pos, line, strlen(line) + 1);
		pos += strlen(line);
	}
	cr_assert_eq(st, CSV_END);
	cr_assert_eq(csv_bytes(r), len, "consumed %llu of %zu bytes",
		     (unsigned long long)csv_bytes(r), len);
	cr_assert_eq(csv_next(r, &rec), CSV_END, "CSV_END repeats");
	csv_reader_free(r);
	fclose(f);
	return out;
}

Test(csv, table)
{
	static const size_t bufsizes[] = {4, 5, 7, 13, 65536};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct csv_case *c = &cases[i];
		for (size_t b = 0; b < sizeof bufsizes / sizeof bufsizes[0]; b++) {
			char *got = read_all(c->in, c->len, bufsizes[b], c->max ? c->max : 256);
			cr_expect_str_eq(got, c->expect, "case %zu (buffer %zu): got\n%s\nwant\n%s",
					 i, bufsizes[b], got, c->expect);
			free(got);
		}
	}
}

struct raw_case {
	const char *in;
	size_t max;
	const char *raw[3]; /* original text of the first records */
};

static const struct raw_case raw_cases[] = {
    {"x,\"a\nb\"\r\ny\n", 256, {"x,\"a\nb\"", "y", NULL}},
    {"a,b\r\n\r\nc\r", 256, {"a,b", "c", NULL}},
    {"\xEF\xBB\xBF"
     "h\n\"u\"\"q\",z",
     256,
     {"h", "\"u\"\"q\",z", NULL}},
    {"a\rb\n", 256, {"a\rb", NULL}},
    {"0123456789abc\nok\n", 8, {"01234567", "ok", NULL}},
};

Test(csv, raw_text)
{
	for (size_t i = 0; i < sizeof raw_cases / sizeof raw_cases[0]; i++) {
		const struct raw_case *c = &raw_cases[i];
		FILE *f = input(c->in, strlen(c->in));
		struct csv_reader *r = csv_reader_new(f, 5, c->max);
		struct csv_record rec;
		for (size_t k = 0; c->raw[k]; k++) {
			cr_assert_eq(csv_next(r, &rec), CSV_RECORD, "case %zu record %zu", i, k);
			cr_expect_eq(rec.raw_len, strlen(c->raw[k]), "case %zu record %zu", i, k);
			cr_expect_str_eq(rec.raw, c->raw[k], "case %zu record %zu", i, k);
			cr_expect_eq(rec.raw_truncated, strlen(c->raw[k]) == c->max);
		}
		cr_expect_eq(csv_next(r, &rec), CSV_END, "case %zu", i);
		csv_reader_free(r);
		fclose(f);
	}
}

Test(csv, many_fields)
{
	size_t n = CSV_MAX_FIELDS + 500;
	char *s = malloc(n + 8);
	memset(s, ',', n);
	memcpy(s + n, "\nx,y\n", 6);
	FILE *f = input(s, n + 5);
	struct csv_reader *r = csv_reader_new(f, 4096, 1 << 16);
	struct csv_record rec;
	cr_assert_eq(csv_next(r, &rec), CSV_RECORD);
	cr_expect(rec.flags & CSV_F_TOO_LONG);
	cr_expect_eq(rec.nfields, n + 1);
	cr_assert_eq(csv_next(r, &rec), CSV_RECORD);
	cr_expect_eq(rec.flags, 0);
	cr_expect_eq(rec.nfields, 2);
	cr_expect_eq(rec.line, 2);
	csv_reader_free(r);
	fclose(f);
	free(s);
}

/* A 20 MB field (and an unterminated quote over 20 MB) pass through a reader whose buffers are
 * a few KiB: memory is bounded by max_record, not by the input. */
Test(csv, huge_record_bounded)
{
	size_t big = 20u << 20;
	FILE *f = tmpfile();
	char chunk[4096];
	memset(chunk, 'x', sizeof chunk);
	fputs("h1,h2\n1,\"", f);
	for (size_t i = 0; i < big / sizeof chunk; i++)
		fwrite(chunk, 1, sizeof chunk, f);
	fputs("\"\n2,ok\n3,\"", f);
	for (size_t i = 0; i < big / sizeof chunk; i++)
		fwrite(chunk, 1, sizeof chunk, f);
	rewind(f);
	struct csv_reader *r = csv_reader_new(f, 4096, 1024);
	struct csv_record rec;
	cr_assert_eq(csv_next(r, &rec), CSV_RECORD);
	cr_assert_eq(csv_next(r, &rec), CSV_RECORD);
	cr_expect_eq(rec.line, 2);
	cr_expect(rec.flags & CSV_F_TOO_LONG);
	cr_expect_eq(rec.raw_len, 1024);
	cr_expect(rec.raw_truncated);
	cr_assert_eq(csv_next(r, &rec), CSV_RECORD);
	cr_expect_eq(rec.line, 3);
	cr_expect_eq(rec.flags, 0);
	cr_expect_str_eq(rec.fields[1].p, "ok");
	cr_assert_eq(csv_next(r, &rec), CSV_RECORD);
	cr_expect_eq(rec.line, 4);
	cr_expect_eq(rec.flags, CSV_F_UNTERMINATED | CSV_F_TOO_LONG | CSV_F_NO_EOL);
	cr_assert_eq(csv_next(r, &rec), CSV_END);
	csv_reader_free(r);
	fclose(f);
}

Test(csv, read_error)
{
	FILE *f = fopen("/", "r"); /* a directory: fread fails with EISDIR */
	cr_assert_not_null(f);
	struct csv_reader *r = csv_reader_new(f, 64, 64);
	struct csv_record rec;
	cr_assert_not_null(r);
	cr_expect_eq(csv_next(r, &rec), CSV_ERROR);
	cr_expect_neq(strcmp(csv_error(r), "no error"), 0);
	csv_reader_free(r);
	fclose(f);
}

/* A properties_json cell that is the JSON literal null, JSON whitespace around it allowed, is
 * read as an empty cell ({}), as API.md says of "properties": null. Nothing else is. */
Test(csv, json_null_cell)
{
	static const struct {
		const char *cell;
		int is_null;
	} cases[] = {
	    {"null", 1},     {" null ", 1}, {"\t\r\nnull\n", 1}, {"", 0},	{"  ", 0},
	    {"NULL", 0},     {"Null", 0},   {"nul", 0},		 {"nullx", 0},	{"null null", 0},
	    {"\"null\"", 0}, {"{}", 0},	    {"\v null", 0},	 {"null\f", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(csv_cell_is_json_null(cases[i].cell, strlen(cases[i].cell)),
			     cases[i].is_null, "cell '%s'", cases[i].cell);
	cr_expect_eq(csv_cell_is_json_null("null\0", 5), 0, "a NUL after null");
}
