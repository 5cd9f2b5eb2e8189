/* privs.c: dropping root in a worker. The supervisor stays as it was started (like nginx's
 * master) so that it can start workers from a binary only root may reach and read the key
 * file; each worker reads its settings and attaches the metrics segment first, then becomes
 * POOL_USER before it opens its database connection or accepts a request. */
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
privs_drop(const char *user)
{
	struct passwd *pw;
	if (geteuid() != 0)
		return 0;
	if (!user || !*user) {
		fprintf(stderr, "events-fcgi: running as root: set POOL_USER to the unprivileged "
				"account the workers should run as\n");
		return -1;
	}
	errno = 0;
	if (!(pw = getpwnam(user))) {
		fprintf(stderr, "POOL_USER=%s: no such account%s%s\n", user, errno ? ": " : "",
			errno ? strerror(errno) : "");
		return -1;
	}
	if (pw->pw_uid == 0) {
		fprintf(stderr, "POOL_USER=%s: is root; expected an unprivileged account\n", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		fprintf(stderr, "POOL_USER=%s: cannot switch to it: %s\n", user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		fprintf(stderr, "POOL_USER=%s: root could be regained after the switch\n", user);
		return -1;
	}
	return 0;
}
