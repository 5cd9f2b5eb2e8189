/* libFuzzer harness: query-string decoding. */
#include "qs.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct qs q = {0};
	const char *why;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (qs_parse(s, &q, &why) == 0) {
		(void)qs_get(&q, "from");
		(void)qs_count(&q, "to");
	}
	qs_free(&q);
	free(s);
	return 0;
}
