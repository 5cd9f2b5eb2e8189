/* netlist: the address lists of RATE_LIMIT_EXEMPT and METRICS_ALLOW. */
#include "netlist.h"

#include <criterion/criterion.h>

#include <string.h>

struct nl_case {
	const char *value;
	int ok;
	const char *names; /* part of the message for a bad list */
};

static const struct nl_case cases[] = {
    {"", 1, NULL},
    {"127.0.0.1", 1, NULL},
    {"10.0.0.0/8 192.168.0.0/16", 1, NULL},
    {"10.0.0.0/8,172.16.0.0/12", 1, NULL},
    {"::1 fe80::/10 2001:db8::/32", 1, NULL},
    {"::ffff:10.1.2.3", 1, NULL},
    {"0.0.0.0/0", 1, NULL},
    {"notanip", 0, "'notanip'"},
    {"10.0.0.0/8 300.1.1.1", 0, "'300.1.1.1'"},
    {"10.0.0.0/33", 0, "0..32"},
    {"fe80::/129", 0, "0..128"},
    {"10.0.0.0/", 0, "prefix"},
    {"10.0.0.0/8x", 0, "0..32"},
    {"1.2.3", 0, "'1.2.3'"},
    {"::1::2", 0, "'::1::2'"},
    {"fk2:ingest", 0, "fk2:ingest"},
    {"10.0.0.1/-1", 0, "prefix"},
};

Test(netlist, table)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char why[256] = "";
		int rc = netlist_check(cases[i].value, why, sizeof why);
		cr_expect_eq(rc, cases[i].ok ? 0 : -1, "'%s': rc %d (%s)", cases[i].value, rc, why);
		if (!cases[i].ok)
			cr_expect(strstr(why, cases[i].names), "'%s': message names %s: %s",
				  cases[i].value, cases[i].names, why);
	}
}

Test(netlist, null_is_empty)
{
	char why[64];
	cr_expect_eq(netlist_check(NULL, why, sizeof why), 0);
}

Test(netlist, contains)
{
	static const struct {
		const char *list, *addr;
		int want;
	} cases[] = {
	    {"127.0.0.0/8 ::1", "127.0.0.2", 1},
	    {"127.0.0.0/8 ::1", "::1", 1},
	    {"127.0.0.0/8 ::1", "10.0.0.1", 0},
	    {"10.1.0.0/16, 192.168.1.7", "10.1.255.3", 1},
	    {"10.1.0.0/16, 192.168.1.7", "10.2.0.1", 0},
	    {"10.1.0.0/16, 192.168.1.7", "192.168.1.7", 1},
	    {"10.1.0.0/16, 192.168.1.7", "192.168.1.8", 0},
	    {"10.0.0.0/9", "10.127.0.1", 1},
	    {"10.0.0.0/9", "10.128.0.1", 0},
	    {"fd00::/8", "fd12::1", 1},
	    {"fd00::/8", "fe80::1", 0},
	    {"0.0.0.0/0", "203.0.113.9", 1},
	    {"0.0.0.0/0", "::1", 0}, /* families never mix */
	    {"bogus 10.0.0.1", "10.0.0.1", 1},
	    {"10.0.0.1", "10.0.0.1/32", 0}, /* an address, not a network */
	    {"10.0.0.1", NULL, 0},
	    {NULL, "10.0.0.1", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		cr_expect_eq(netlist_contains(cases[i].list, cases[i].addr), cases[i].want,
			     "case %zu: %s in %s", i, cases[i].addr ? cases[i].addr : "NULL",
			     cases[i].list ? cases[i].list : "NULL");
}
