/* tzname.h: is a string an IANA time-zone name? Checked against the names the system's tz
 * database lists (tzdata.zi: zones and links), loaded once per process; a name is never used
 * as a path, so "../../etc/passwd" is simply not a name. */
#ifndef TZNAME_H
#define TZNAME_H

/* 1 when name is a zone or link name of the tz database (case-sensitive), else 0. The list
 * is read on first use from TZNAME_FILE (default /usr/share/zoneinfo/tzdata.zi); when it
 * cannot be read only "UTC" is known (logged once). */
int tzname_known(const char *name);

#endif
