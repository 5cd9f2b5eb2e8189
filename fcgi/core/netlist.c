/* netlist.c: address lists of the settings, parsed with inet_pton so that exactly what nginx
 * would take as an address passes. */
#include "netlist.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ENTRY_MAX = 64 };

/* One entry: ADDR or ADDR/PREFIX. Returns NULL when valid, else what is wrong. */
static const char *
entry_problem(const char *e, size_t n)
{
	char buf[ENTRY_MAX], addr[16];
	char *slash, *end;
	int af, max;
	if (n >= sizeof buf)
		return "too long for an address";
	memcpy(buf, e, n);
	buf[n] = '\0';
	if ((slash = strchr(buf, '/')))
		*slash = '\0';
	af = strchr(buf, ':') ? AF_INET6 : AF_INET;
	max = af == AF_INET6 ? 128 : 32;
	if (inet_pton(af, buf, addr) != 1)
		return "not an IP address";
	if (!slash)
		return NULL;
	if (slash[1] < '0' || slash[1] > '9')
		return "not a prefix length after '/'";
	long len = strtol(slash + 1, &end, 10);
	if (*end || len > max || end - (slash + 1) > 3)
		return af == AF_INET6 ? "prefix length must be 0..128"
				      : "prefix length must be 0..32";
	return NULL;
}

int
netlist_check(const char *value, char *why, size_t whylen)
{
	static const char sep[] = " \t\n,";
	const char *p = value ? value : "";
	while (*p) {
		p += strspn(p, sep);
		size_t n = strcspn(p, sep);
		if (n == 0)
			break;
		const char *bad = entry_problem(p, n);
		if (bad) {
			snprintf(why, whylen,
				 "'%.*s': %s (expected addresses or networks such as 10.0.0.0/8 "
				 "or ::1, separated by spaces)",
				 (int)(n > 64 ? 64 : n), p, bad);
			return -1;
		}
		p += n;
	}
	return 0;
}
