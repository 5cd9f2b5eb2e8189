/* client.h: every helper of the integration tests, for suites that use many of them. Each
 * header is one concern:
 *   http_client.h   the HTTP client (libcurl) and its response
 *   expect.h        assertions on the service's answers, JSON member lookups
 *   event_gen.h     random ids and fresh valid events
 *   db_check.h      what is stored, through libpq
 *   csv_read.h      an RFC 4180 reader for the sample file
 *   model.h         the statistics reference model and checks against it
 *   metrics_text.h  GET /metrics and sums over its samples
 *   proc.h          the pool's processes from /proc, the clock
 *   stack.h         tools/stack.sh, side stacks
 *   textbuf.h       a growable byte buffer
 * Functions whose name starts with check_ or expect_ make Criterion assertions: call them from
 * inside a test only. */
#ifndef IT_CLIENT_H
#define IT_CLIENT_H

#include "csv_read.h"
#include "db_check.h"
#include "event_gen.h"
#include "expect.h"
#include "http_client.h"
#include "metrics_text.h"
#include "model.h"
#include "proc.h"
#include "stack.h"
#include "textbuf.h"

#endif
