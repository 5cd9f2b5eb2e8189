/* pool.h: the supervisor. It owns the listening socket spawn-fcgi hands over as fd 0, keeps
 * conf->workers worker processes accepting on it, replaces any that die, and on SIGHUP
 * replaces them all with the binary now on disk without closing the socket. */
#ifndef POOL_H
#define POOL_H

#include "conf.h"

/* Runs until SIGTERM/SIGINT (drain: workers finish their request, then exit). exe is the
 * path workers are started from ("exe --worker SLOT"). Returns the process exit status. */
int pool_run(const struct conf *c, const char *exe);

#endif
