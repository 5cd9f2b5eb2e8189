/* netlist.c: address lists of the settings, parsed with inet_pton so that exactly what nginx
 * would take as an address passes. */
#include "netlist.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ENTRY_MAX = 64 };

/* One parsed entry: an address of family af and how many leading bits of it count. */
struct net {
	int af;
	unsigned char addr[16];
	int bits;
};

/* One entry: ADDR or ADDR/PREFIX, into *net. Returns NULL when valid, else what is wrong. */
static const char *
entry_parse(const char *e, size_t n, struct net *net)
{
	char buf[ENTRY_MAX];
	char *slash, *end;
	int max;
	if (n >= sizeof buf)
		return "too long for an address";
	memcpy(buf, e, n);
	buf[n] = '\0';
	if ((slash = strchr(buf, '/')))
		*slash = '\0';
	net->af = strchr(buf, ':') ? AF_INET6 : AF_INET;
	net->bits = max = net->af == AF_INET6 ? 128 : 32;
	if (inet_pton(net->af, buf, net->addr) != 1)
		return "not an IP address";
	if (!slash)
		return NULL;
	if (slash[1] < '0' || slash[1] > '9')
		return "not a prefix length after '/'";
	long len = strtol(slash + 1, &end, 10);
	if (*end || len > max || end - (slash + 1) > 3)
		return net->af == AF_INET6 ? "prefix length must be 0..128"
					   : "prefix length must be 0..32";
	net->bits = (int)len;
	return NULL;
}

static const char *
entry_problem(const char *e, size_t n)
{
	struct net net;
	return entry_parse(e, n, &net);
}

/* 1 when the address a (of the same family) lies in net. */
static int
net_holds(const struct net *net, const struct net *a)
{
	int full = net->bits / 8, rest = net->bits % 8;
	if (net->af != a->af || memcmp(net->addr, a->addr, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((net->addr[full] ^ a->addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

int
netlist_contains(const char *list, const char *addr)
{
	static const char sep[] = " \t\n,";
	struct net a, net;
	const char *p = list ? list : "";
	if (!addr || strchr(addr, '/') || entry_parse(addr, strlen(addr), &a))
		return 0;
	while (*p) {
		p += strspn(p, sep);
		size_t n = strcspn(p, sep);
		if (n == 0)
			break;
		if (!entry_parse(p, n, &net) && net_holds(&net, &a))
			return 1;
		p += n;
	}
	return 0;
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
