/* metrics_text.c: GET /metrics and sums over the samples of its Prometheus text. */
#include "metrics_text.h"

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

char *
it_metrics_text(struct http_client *c)
{
	struct http_resp r;
	char *text;

	http_client_request(c, &r, "GET", "/metrics", NULL, NULL, 0, NULL);
	cr_assert_eq(r.status, 200, "GET /metrics: expected 200, got %ld (%s) %.300s", r.status,
		     r.curl_error, r.body);
	text = r.body;
	r.body = NULL;
	http_resp_free(&r);
	return text;
}

/* label ("k=\"v\"") is one whole label of the label set set ("{...}", or "" for none). */
static int
has_label(const char *set, size_t setlen, const char *label)
{
	size_t n = strlen(label);

	for (const char *p = set; p && p + n <= set + setlen; p++) {
		p = memmem(p, (size_t)(set + setlen - p), label, n);
		if (!p)
			return 0;
		if ((p[-1] == '{' || p[-1] == ',') && (p[n] == ',' || p[n] == '}'))
			return 1;
	}
	return 0;
}

double
it_metric_sum(const char *text, const char *name, const char *const *labels, int *matched)
{
	size_t nl = strlen(name);
	double total = 0;
	int m = 0;

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		const char *set = line + nl, *p;
		size_t len = end ? (size_t)(end - line) : strlen(line);
		size_t setlen = 0;
		int ok;

		ok = len > nl && line[0] != '#' && strncmp(line, name, nl) == 0 &&
		     (line[nl] == '{' || line[nl] == ' ');
		if (ok && *set == '{') {
			int quoted = 0;

			for (p = set + 1; p < line + len && (quoted || *p != '}'); p++) {
				if (*p == '\\' && quoted)
					p++;
				else if (*p == '"')
					quoted = !quoted;
			}
			setlen = (size_t)(p - set) + 1;
			ok = p < line + len;
		}
		for (size_t i = 0; ok && labels && labels[i]; i++)
			ok = setlen && has_label(set, setlen, labels[i]);
		if (ok) {
			total += strtod(set + setlen, NULL);
			m++;
		}
		line = end ? end + 1 : NULL;
	}
	if (matched)
		*matched = m;
	return total;
}
