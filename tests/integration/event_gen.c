/* event_gen.c: random ids and fresh valid events for the suites to send. */
#include "event_gen.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

static void
random_bytes(unsigned char *b, size_t n)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	cr_assert_geq(fd, 0, "expected /dev/urandom to open");
	while (got < n) {
		ssize_t k = read(fd, b + got, n - got);

		cr_assert_gt(k, 0, "expected to read /dev/urandom");
		got += (size_t)k;
	}
	close(fd);
}

void
it_uuid(char out[37])
{
	unsigned char b[16];

	random_bytes(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

void
it_hex(char *out, size_t nbytes)
{
	unsigned char b[64];

	cr_assert_leq(nbytes, sizeof(b), "it_hex: at most 64 bytes");
	random_bytes(b, nbytes);
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

json_object *
it_event(char *id_out, const char *occurred_at, const char *user_id, const char *event_type)
{
	json_object *o = json_object_new_object();
	json_object *p = json_object_new_object();
	char id[37];

	it_uuid(id);
	if (id_out)
		memcpy(id_out, id, 37);
	json_object_object_add(p, "source", json_object_new_string("integration"));
	json_object_object_add(o, "event_id", json_object_new_string(id));
	json_object_object_add(
	    o, "occurred_at",
	    json_object_new_string(occurred_at ? occurred_at : "2010-05-05T10:00:00Z"));
	json_object_object_add(o, "user_id", json_object_new_string(user_id ? user_id : "it-user"));
	json_object_object_add(o, "event_type",
			       json_object_new_string(event_type ? event_type : "it_event"));
	json_object_object_add(o, "properties", p);
	return o;
}

json_object *
it_event_batch(char *ids, int n, unsigned first, const char *user, const char *event_type,
	       it_at_fn at)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < n; i++) {
		char when[32];

		at(first + (unsigned)i, when);
		json_object_array_add(a, it_event(ids + 37 * i, when, user, event_type));
	}
	return a;
}
