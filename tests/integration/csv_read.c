/* csv_read.c: an RFC 4180 CSV reader for the sample file (independent of tools/csv.c, so that
 * the importer is checked against a second reading of the file). */
#include "csv_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
