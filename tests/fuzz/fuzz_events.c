/* libFuzzer harness: whole POST /events bodies, JSON or NDJSON (the first byte chooses). */
#include "json.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct batch b = {0};
	struct verrs *v = calloc(1, sizeof *v);
	char *body;
	if (size < 1 || !v || !(body = malloc(size))) {
		free(v);
		return 0;
	}
	/* the HTTP layer always hands over a NUL-terminated body */
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';
	enum json_body kind = data[0] & 1 ? JSON_BODY_NDJSON : JSON_BODY_JSON;
	(void)json_parse_events(body, size - 1, kind, INT64_C(1767225600000000), &b, v);
	batch_clear(&b);
	free(body);
	free(v);
	return 0;
}
