/* netlist.h: lists of IP addresses and networks given in settings (RATE_LIMIT_EXEMPT,
 * METRICS_ALLOW), checked before nginx is configured from them. */
#ifndef NETLIST_H
#define NETLIST_H

#include <stddef.h>

/* Checks value, a list of IPv4/IPv6 addresses or networks (ADDR or ADDR/PREFIX) separated by
 * spaces, tabs or commas; an empty list is valid. Returns 0, or -1 with one line in why[]
 * naming the first bad entry and what is expected. */
int netlist_check(const char *value, char *why, size_t whylen) __attribute__((warn_unused_result));

/* 1 when addr, one IPv4 or IPv6 address, lies in one of the list's entries (a list as
 * netlist_check takes; bad entries match nothing), else 0. */
int netlist_contains(const char *list, const char *addr);

#endif
