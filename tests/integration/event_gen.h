/* event_gen.h: random ids and fresh valid events for the suites to send. */
#ifndef IT_EVENT_GEN_H
#define IT_EVENT_GEN_H

#include <stddef.h>

#include <json-c/json.h>

/* A random version-4 UUID in lower case. */
void it_uuid(char out[37]);
/* A random hex tag of 2*nbytes chars (out has room for it and the NUL). */
void it_hex(char *out, size_t nbytes);

/* A fresh valid event {"event_id", "occurred_at", "user_id", "event_type", "properties"}
 * (caller puts it). NULL arguments take defaults: 2010-05-05T10:00:00Z, user "it-user",
 * type "it_event". The new id is written to id_out when not NULL. */
json_object *it_event(char *id_out, const char *occurred_at, const char *user_id,
		      const char *event_type);

/* Writes the occurred_at of the k-th event of a batch ("YYYY-MM-DDTHH:MM:SSZ") to out. */
typedef void (*it_at_fn)(unsigned k, char out[32]);

/* A JSON array of n fresh events (it_event) of user and event_type, event i dated
 * at(first + i), its id written to ids + 37 * i. Caller puts the array. */
json_object *it_event_batch(char *ids, int n, unsigned first, const char *user,
			    const char *event_type, it_at_fn at);

#endif
