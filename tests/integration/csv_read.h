/* csv_read.h: an RFC 4180 CSV reader for the sample file (independent of tools/csv.c, so that
 * the importer is checked against a second reading of the file). */
#ifndef IT_CSV_READ_H
#define IT_CSV_READ_H

#include <stddef.h>

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

#endif
