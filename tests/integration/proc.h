/* proc.h: the pool's processes read from /proc (supervisor, workers, their slots and RSS)
 * and the clock. */
#ifndef IT_PROC_H
#define IT_PROC_H

#include <sys/types.h>

/* These make no assertions, so load threads may call them too. */

/* $EVENTS_POOL_PID as a pid, 0 when it is not set. */
pid_t it_pool_pid(void);

/* Every child of the pool whose supervisor is pool (workers, old ones still finishing, children
 * not yet exec'd), in /proc's order; at most cap; -1 when the supervisor is not running. */
int it_pool_children(pid_t pool, pid_t *out, int cap);

/* The slot of a running worker ("events-fcgi --worker SLOT"), -1 for anything else (a child
 * not yet exec'd, a zombie, a process that is gone). */
int it_worker_slot(pid_t pid);

/* The running workers of the pool whose supervisor is pool: its children that are
 * "events-fcgi --worker SLOT" processes (not yet exec'd children and zombies are left out), read
 * from /proc. Writes at most cap pids to out in ascending order; returns how many, -1 when the
 * supervisor is not running. */
int it_pool_workers(pid_t pool, pid_t *out, int cap);

/* VmRSS of pid in KiB from /proc/PID/status, -1 when it cannot be read. */
long it_proc_rss_kb(pid_t pid);

/* CLOCK_MONOTONIC in seconds. */
/* The value in kB of the line key ("VmRSS", "VmHWM") of /proc/PID/status: 0, or -1. */
int it_proc_status_kb(pid_t pid, const char *key, long *kb);
/* Sets the process's VmHWM back to its current RSS (proc(5), clear_refs "5"; needs root):
 * 0, or -1. */
int it_proc_reset_peak(pid_t pid);

double it_now(void);

/* Sleeps s seconds (fractions too), resuming after signals. */
void it_sleep(double s);

#endif
