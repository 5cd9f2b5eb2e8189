/* pgservice.h: how the command-line tools find their database without being told. */
#ifndef PGSERVICE_H
#define PGSERVICE_H

#include <stddef.h>

/* The connection string a tool should use: DATABASE_URL when set; NULL (libpq's own PG*
 * variables, PGSERVICE/PGSERVICEFILE included) when any of those is set; otherwise
 * "service=SERVICE" in the libpq service file that tools/stack.sh writes for the embedded
 * database, $VAR_DIR/run/pg_service.conf, or <repository>/var/run/pg_service.conf where the
 * binary is <repository>/build/NAME (PGSERVICEFILE is set to it). Nothing is executed and
 * nothing is looked up relative to the current directory.
 * Returns 0 with *out set (static storage or the environment's; do not free), or -1 with a
 * one-line explanation in why[] when there is no database to use. */
int pgservice_conninfo(const char *service, const char **out, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* The repository a tool was built in: <repo> for /proc/self/exe = <repo>/build/NAME, into
 * out[cap]. 0, or -1 when it cannot be named. */
int pgservice_repo_dir(char *out, size_t cap) __attribute__((warn_unused_result));

#endif
