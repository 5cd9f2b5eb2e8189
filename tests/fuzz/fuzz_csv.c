/* libFuzzer harness: the CSV reader of the bulk loader (fcgi/core/csv.c). The input is the file as
 * is (the corpus holds plain CSV). Each input is read three times:
 *  - with a 4-byte input buffer (a refill between almost every pair of bytes) and with one
 *    buffer holding the whole input, in lockstep: both must return the same records, so no
 *    state is lost at a buffer boundary;
 *  - with records capped at 8 bytes, to drive the truncation paths.
 * Every record's fields and raw text must be NUL-terminated where the header says, and at
 * CSV_END the reader must have consumed every byte. */
#include "csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

enum { MAX_RECORD = 1024, SMALL_RECORD = 8 };

/* Reading whole records and their fields: ASan sees any byte the reader did not own. */
static void
check_record(const struct csv_record *rec, size_t max)
{
	size_t n = rec->nfields < CSV_MAX_FIELDS ? rec->nfields : CSV_MAX_FIELDS;
	size_t total = 0;
	if (rec->nfields == 0 || rec->raw_len > max || rec->raw[rec->raw_len] != '\0')
		abort();
	for (size_t i = 0; i < n; i++) {
		if (rec->fields[i].p[rec->fields[i].len] != '\0')
			abort();
		total += rec->fields[i].len;
	}
	if (total > max)
		abort();
	if ((rec->flags & CSV_F_BAD_QUOTE) && rec->bad_field >= rec->nfields)
		abort();
}

static int
same_record(const struct csv_record *a, const struct csv_record *b)
{
	size_t n = a->nfields < CSV_MAX_FIELDS ? a->nfields : CSV_MAX_FIELDS;
	if (a->line != b->line || a->nfields != b->nfields || a->flags != b->flags ||
	    a->raw_len != b->raw_len || a->raw_truncated != b->raw_truncated ||
	    memcmp(a->raw, b->raw, a->raw_len) != 0)
		return 0;
	if ((a->flags & CSV_F_BAD_QUOTE) && a->bad_field != b->bad_field)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (a->fields[i].len != b->fields[i].len ||
		    memcmp(a->fields[i].p, b->fields[i].p, a->fields[i].len) != 0)
			return 0;
	return 1;
}

/* The input as a stream; fmemopen refuses a zero size, so an empty input is /dev/null. */
static FILE *
open_input(const unsigned char *data, size_t size)
{
	if (size == 0)
		return fopen("/dev/null", "r");
	return fmemopen((void *)data, size, "r");
}

static void
lockstep(const unsigned char *data, size_t size)
{
	FILE *fa = open_input(data, size), *fb = open_input(data, size);
	struct csv_reader *a = NULL, *b = NULL;
	struct csv_record ra, rb;
	enum csv_status sa, sb;
	if (!fa || !fb)
		goto out;
	a = csv_reader_new(fa, 4, MAX_RECORD);
	b = csv_reader_new(fb, size + 4, MAX_RECORD);
	if (!a || !b)
		goto out;
	do {
		sa = csv_next(a, &ra);
		sb = csv_next(b, &rb);
		if (sa != sb)
			abort();
		if (sa == CSV_RECORD) {
			check_record(&ra, MAX_RECORD);
			check_record(&rb, MAX_RECORD);
			if (!same_record(&ra, &rb))
				abort(); /* the result depends on where the buffer was refilled */
		}
	} while (sa == CSV_RECORD);
	if (sa != CSV_END || csv_bytes(a) != size || csv_bytes(b) != size)
		abort();
	if (csv_next(a, &ra) != CSV_END)
		abort(); /* CSV_END repeats */
out:
	csv_reader_free(a);
	csv_reader_free(b);
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
}

static void
small_records(const unsigned char *data, size_t size)
{
	FILE *f = open_input(data, size);
	struct csv_reader *r;
	struct csv_record rec;
	enum csv_status st;
	if (!f)
		return;
	if (!(r = csv_reader_new(f, 7, SMALL_RECORD))) {
		fclose(f);
		return;
	}
	while ((st = csv_next(r, &rec)) == CSV_RECORD)
		check_record(&rec, SMALL_RECORD);
	if (st != CSV_END || csv_bytes(r) != size)
		abort();
	csv_reader_free(r);
	fclose(f);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	lockstep(data, size);
	small_records(data, size);
	return 0;
}
