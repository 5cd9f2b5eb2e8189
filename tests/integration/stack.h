/* stack.h: the stacks of the integration tests: tools/stack.sh on the harness's stack, and
 * side stacks of their own for suites that need other settings or must stop something. */
#ifndef IT_STACK_H
#define IT_STACK_H

/* A worker pool + nginx of its own (2 workers, a free port, a temp VAR_DIR) on the same
 * database ($DATABASE_URL), for tests that need other settings or must stop a stack. env is
 * prepended to the tools/stack.sh command ("API_KEYS='k:read'"), or NULL. Asserts success. */
struct it_side_stack {
	char var_dir[64];
	int port;
};
void it_side_stack_up(struct it_side_stack *s, const char *env);
/* A whole stack of its own (its own PostgreSQL cluster with the migrations, the harness's
 * worker count, nginx on a free port, a temp VAR_DIR), for suites that stop PostgreSQL, so
 * that no other suite has to run before them. Points this test process's environment
 * (EVENTS_BASE_URL, DATABASE_URL, EVENTS_POOL_PID, EVENTS_VAR_DIR) at it, so every helper
 * (http_request, db_open, it_pool_pid, it_stack) talks to it: call it from a test's or a
 * suite's .init (Criterion runs each test in a process of its own). Asserts success. */
void it_own_stack_up(struct it_side_stack *s);
/* The same as a suite's fixture: TestSuite(name, .init = it_own_stack_init, .fini =
 * it_own_stack_fini) gives each test of the suite a stack of its own, removed after it. */
void it_own_stack_init(void);
void it_own_stack_fini(void);
/* Stops it (tools/stack.sh down) and removes its directory; safe to call twice. */
void it_side_stack_down(struct it_side_stack *s);

/* Waits until what the workers logged so far is in their worker.log: a worker writes its
 * access lines in batches, at most 250 ms after their requests (log_defer, README "Logs"). */
void it_wait_worker_log(void);

/* The pool size the harness started ($WORKERS, default 4). */
int it_want_workers(void);

/* Runs "VAR_DIR=$EVENTS_VAR_DIR tools/stack.sh CMD" (output to stderr); its system() status.
 * Asserts EVENTS_VAR_DIR is set. */
int it_stack(const char *cmd);

#endif
