/* privs.h: a worker started as root gives up root before it serves anything. */
#ifndef PRIVS_H
#define PRIVS_H

/* When the effective uid is 0: switches group list, gid and uid to those of the account named
 * user (POOL_USER) and checks that root cannot be regained. Not root: nothing to do, returns
 * 0. Returns -1 with one line on stderr when user is NULL/empty while root (running workers as
 * root is refused), unknown, or a switch failed. */
int privs_drop(const char *user) __attribute__((warn_unused_result));

#endif
