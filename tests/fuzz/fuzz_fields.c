/* libFuzzer harness: the field parsers (UUID, date-time, date, text rules) and the CSV
 * properties cell normaliser; the first byte chooses. Parsers must not read past len. */
#include "event.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *why;
	char uuid[EVENT_UUID_BUF], text[EVENT_TIME_BUF];
	int64_t n;
	char *buf, *out = NULL;
	if (size < 1 || !(buf = malloc(size)))
		return 0;
	memcpy(buf, data + 1, size - 1); /* exactly size-1 bytes: ASan sees any over-read */
	switch (data[0] % 5) {
	case 0:
		(void)event_uuid_parse(buf, size - 1, uuid, &why);
		break;
	case 1:
		if (event_time_parse(buf, size - 1, &n, &why) == 0) {
			event_time_format(n, text);
			int64_t again;
			if (event_time_parse(text, strlen(text), &again, &why) != 0 || again != n)
				abort(); /* format and parse must round-trip */
		}
		break;
	case 2:
		if (event_date_parse(buf, size - 1, &n, &why) == 0)
			event_date_format(n, text);
		break;
	case 3:
		(void)event_text_check(buf, size - 1, EVENT_USER_ID_MAX, &why);
		break;
	default:
		buf[size - 1] = '\0';
		if (json_properties_normalize(buf, size - 1, &out, &why) == 0)
			free(out);
	}
	free(buf);
	return 0;
}
