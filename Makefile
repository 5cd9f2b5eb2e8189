# Events analytics service. `make` builds, `make run` starts the whole stack on an embedded
# PostgreSQL under var/, `make check` runs the fast tier of tests (unit + integration, before
# every commit), `make test` runs every test. See README.md.

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP -pthread
# Sanitizer flags, on compile and link (make asan sets them for its build in build/asan).
SAN     ?=
CFLAGS  += $(SAN)
LDFLAGS += $(SAN) -pthread
PKG_CFLAGS := $(shell pkg-config --cflags libpq json-c 2>/dev/null || echo -I/usr/include/postgresql -I/usr/include/json-c)
PKG_LIBS   := $(shell pkg-config --libs libpq json-c 2>/dev/null || echo -lpq -ljson-c)
CPPFLAGS += -Ifcgi -Ifcgi/core $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lroaring -lm

# Code shared by the worker, the command-line tools and the tests (no libfcgi in here), built
# once into a static library: each binary gets only the objects it uses.
CORE_SRC := $(wildcard fcgi/core/*.c)
# The FastCGI worker: router, handlers, process management.
WORKER_SRC := fcgi/main.c fcgi/pool.c fcgi/privs.c fcgi/router.c fcgi/http.c fcgi/h_events.c fcgi/h_stats.c \
	fcgi/params.c fcgi/h_export.c fcgi/h_users.c \
	fcgi/h_health.c fcgi/h_metrics.c fcgi/metrics.c
UNIT_SRC := $(wildcard tests/unit/test_*.c)
ITEST_SRC := $(wildcard tests/integration/*.c)
# Worker code (no libfcgi in it) that unit tests also link.
UNIT_WORKER_SRC := fcgi/metrics.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
CORE_OBJ   := $(call obj,$(CORE_SRC))
CORE_LIB   := $(BUILD)/libevents.a
WORKER_OBJ := $(call obj,$(WORKER_SRC))

BINS := $(BUILD)/events-fcgi $(BUILD)/migrate $(BUILD)/import_events $(BUILD)/gen_csv

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
$(BUILD)/obj/fcgi/metrics.o: CPPFLAGS += -DEVENTS_VERSION='"$(VERSION)"'


.PHONY: asan fuzz valgrind soak rss
.PHONY: all run stop status migrate psql prune test unit integration compose-check compose-smoke \
	compose-clean deps deps-test clean format reload import bench-import bench web web-test adminer \
	failover ha-test deps-ha
.PHONY: check check-it-a check-it-b add-node integration-cluster citus
all: $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(CORE_LIB): $(CORE_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/events-fcgi: $(WORKER_OBJ) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ -lfcgi $(LDLIBS) -lrt

$(BUILD)/migrate: $(call obj,tools/migrate.c) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/import_events: $(call obj,tools/import_events.c) $(CORE_LIB)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

$(BUILD)/gen_csv: $(call obj,tools/gen_csv.c) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test_unit: $(call obj,$(UNIT_SRC) $(UNIT_WORKER_SRC)) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion $(LDLIBS) -lrt

$(BUILD)/test_integration: $(call obj,$(ITEST_SRC)) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion -lcurl $(LDLIBS)

# The HA suite: its own binary (it needs the HA=1 stack), with the integration helpers.
ITEST_HELPERS := $(filter-out tests/integration/test_%.c,$(ITEST_SRC))
$(BUILD)/obj/tests/ha/%.o: CPPFLAGS += -Itests/integration
$(BUILD)/test_ha: $(call obj,tests/ha/test_ha.c $(ITEST_HELPERS)) $(CORE_LIB)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ -lcriterion -lcurl $(LDLIBS)

# --- running the stack -------------------------------------------------------------------
deps:
	@tools/deps.sh run

# make run NODES=3: the embedded database as a Citus cluster, a coordinator and 2 workers
# (README "Scale-out"); Citus is built from its tarball first when none is installed.
run: deps
	@if [ "$${HA:-0}" = 1 ]; then tools/deps.sh ha; fi
	@$(MAKE) --no-print-directory all web
	@tools/stack.sh up

# One more Citus worker for a running cluster, the shards rebalanced onto it (returns when done).
add-node:
	@tools/stack.sh add-node

# Citus for the PostgreSQL the stack runs (tools/citus.sh; CITUS_TARBALL names the source).
citus:
	@tools/citus.sh ensure

stop:
	@tools/stack.sh down

status:
	@tools/stack.sh status || true  # "not running" is an answer, not a make error

reload: all
	@tools/stack.sh reload

migrate: all
	@tools/stack.sh migrate

psql:
	@tools/stack.sh psql

# Removes raw events past RAW_RETENTION_DAYS now (the running pool also does it hourly).
# Connects with DATABASE_URL or the PG* variables, as make import does.
prune: all
	$(BUILD)/events-fcgi --prune

# HA=1 make run: planned switchover to the standby (the old primary rejoins as the standby).
failover:
	@tools/stack.sh failover

# make import FILE=data/events_sample.csv [ARGS='--batch-size 5000 --rejects rejects.csv']
import: all
	@test -n "$(FILE)" || { echo "usage: make import FILE=path/to/events.csv [ARGS=...]" >&2; exit 1; }
	$(BUILD)/import_events $(FILE) $(ARGS)

bench-import: all
	tools/bench_import.sh

# The whole service at scale: 10M generated events loaded, then every scenario under wrk
# (pinned to one core) against a hello-world FastCGI ceiling; writes bench/results/latest.md.
# NODES=3 (more than 1): tools/bench_cluster.sh instead, one node against a Citus cluster.
bench: all
	@if [ "$${NODES:-1}" -gt 1 ]; then tools/bench_cluster.sh; else tools/bench.sh; fi

# The npm packages of the static pages (swagger-ui-dist, uplot) and of their tests; "npm ci"
# only when node_modules is missing or older than package-lock.json. No install scripts run:
# none of these packages needs one (swagger-ui-dist's would only phone home).
web: node_modules/.package-lock.json

node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

# Adminer on http://127.0.0.1:8080, pointed at the running stack's embedded database.
adminer:
	@tools/deps.sh adminer
	@tools/adminer.sh up

# --- tests -------------------------------------------------------------------------------
deps-test:
	@tools/deps.sh test
	@tools/deps.sh ha

test: deps-test
	@$(MAKE) --no-print-directory all web $(BUILD)/test_unit $(BUILD)/test_integration $(BUILD)/test_ha
	@$(MAKE) --no-print-directory unit compose-check compose-smoke integration integration-cluster web-test ha-test
	@$(MAKE) --no-print-directory asan fuzz rss

# pg_auto_failover under load on a stack of its own (HA=1): a killed primary, a switchover, a
# killed standby (tests/ha/test_ha.c; prints the time without writes of each).
ha-test: $(BINS) $(BUILD)/test_ha
	HA=1 tests/integration/run.sh $(BUILD)/test_ha

deps-ha:
	@tools/deps.sh ha

unit: $(BUILD)/test_unit
	$(BUILD)/test_unit --jobs 2

integration: $(BINS) $(BUILD)/test_integration
	tests/integration/run.sh $(BUILD)/test_integration

# The cluster leg (tests/cluster/leg.sh): one Citus cluster (a coordinator and 2 workers)
# started once for the integration suites, then a worker stopped and a worker added under
# ingest on it; and a populated single-node store moved to a cluster.
integration-cluster: $(BINS) $(BUILD)/test_integration
	BUILD=$(BUILD) tests/cluster/leg.sh

# The fast tier, before every commit: the unit suite, then the integration suites on two
# throwaway stacks at once (make -j2: two run.sh, each with its own PostgreSQL, pool and nginx).
# Half B names its suites; half A runs every other suite, so a new suite lands in A. The split
# only balances time: no suite relies on another (those that stop PostgreSQL, zy_faults and
# zz_db_outage, start a stack of their own per test).
CHECK_IT_B := cli|consistency|drain|errors|export|hostile|memory|metrics|migrate|ops|privileges
CHECK_IT_B := $(CHECK_IT_B)|slowloris|timeouts|zones
check: $(BINS) $(BUILD)/test_unit $(BUILD)/test_integration
	$(BUILD)/test_unit --jobs 2
	@$(MAKE) --no-print-directory -j2 check-it-a check-it-b

check-it-a: $(BINS) $(BUILD)/test_integration
	tests/integration/run.sh $(BUILD)/test_integration --filter '!($(CHECK_IT_B))/*'

check-it-b: $(BINS) $(BUILD)/test_integration
	tests/integration/run.sh $(BUILD)/test_integration --filter '@($(CHECK_IT_B))/*'

# /docs, /openapi.yaml and /dashboard: their browser tests (headless Chromium via playwright-core)
# and the OpenAPI checks (route set, real responses against the schemas, redocly lint).
web-test: $(BINS) web
	tests/integration/run.sh --cmd "node --test tests/web/openapi.test.mjs tests/web/dashboard.test.mjs tests/web/dashboard_keys.test.mjs"

compose-check: web
	@tools/compose_check.sh

# docker-compose.yml for real: the four images built (podman, or docker when one runs), the
# stack started, loaded, checked and taken down (README "Docker"). Cached under build/compose/.
compose-smoke: web
	@tools/deps.sh compose
	@tools/compose_smoke.sh

# podman's image store and the Debian root filesystem that compose-smoke keeps under build/.
compose-clean:
	@tools/compose_smoke.sh clean

# --- sanitizers, fuzzing, leaks (README "Sanitizers, fuzzing, leaks") ----------------------
ASAN_BUILD := build/asan
# Reports of every process of the stack. Workers drop to an unprivileged account when the
# tests run as root, and a checkout may sit where that account cannot reach: so a directory
# under /tmp (one per checkout) that every account may write to and none may list.
ASAN_LOGS  := /tmp/events-asan-$(shell printf %s '$(CURDIR)' | sha1sum | cut -c1-8)
# GCC's UBSan instrumentation blurs value ranges: -Wformat-truncation stays a warning there.
ASAN_SAN   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
	-Wno-error=format-truncation
ASAN_LOG   := abort_on_error=0:log_path=$(ASAN_LOGS)/asan
ASAN_UBSAN := UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(ASAN_LOGS)/ubsan
# Leak checks in the unit suite and in every process of the stack. A small quarantine (freed
# blocks kept poisoned to catch use after free): the default 256 MB would make each worker's
# RSS grow for a long while, which the memory-flatness tests would take for a leak.
ASAN_ENV   := ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=8:$(ASAN_LOG) $(ASAN_UBSAN)
# The Criterion integration binary itself: no leak check (a failed assertion ends a test
# without its clean-up, so its leaks only repeat the failure).
ASAN_ITEST := ASAN_OPTIONS=detect_leaks=0:$(ASAN_LOG) $(ASAN_UBSAN) \
	$(ASAN_BUILD)/test_integration --jobs 1

# Everything built with ASan + UBSan into build/asan, then the unit suite and the integration
# suite against a stack whose supervisor, workers and migrate are the ASan binaries (tests
# still run build/migrate and build/import_events themselves). Reports go to files in
# ASAN_LOGS, not into worker.log; LeakSanitizer runs when a process exits (workers at
# the stack's shutdown). Any report fails the target.
asan: $(BINS)
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) OPT=-O1 SAN='$(ASAN_SAN)' \
		all $(ASAN_BUILD)/test_unit $(ASAN_BUILD)/test_integration
	@rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS) && chmod 1733 $(ASAN_LOGS)
	@rc=0; \
	$(ASAN_ENV) $(ASAN_BUILD)/test_unit --jobs 2 || rc=1; \
	BUILD=$(ASAN_BUILD) $(ASAN_ENV) tests/integration/run.sh --cmd '$(ASAN_ITEST)' || rc=1; \
	for f in $(ASAN_LOGS)/*; do \
		[ -f "$$f" ] || continue; echo "== $$f" >&2; cat "$$f" >&2; rc=1; \
	done; \
	[ $$rc -ne 0 ] || echo "asan: unit and integration suites clean under ASan + UBSan"; \
	exit $$rc

# libFuzzer harnesses (clang, ASan + UBSan), each run for FUZZ_SECONDS on a copy of its seed
# corpus (tests/fuzz/run.sh). make fuzz FUZZ_SECONDS=3600 for a long run.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -g -O1 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_NAMES   := events fields qs csv
FUZZ_BINS    := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_NAMES))
$(BUILD)/fuzz/fuzz_events: tests/fuzz/fuzz_events.c fcgi/core/json_scan.c fcgi/core/json_parse.c fcgi/core/event.c \
	fcgi/core/event_validate.c fcgi/core/verrs.c fcgi/core/batch.c fcgi/core/buf.c
$(BUILD)/fuzz/fuzz_fields: tests/fuzz/fuzz_fields.c fcgi/core/json_scan.c fcgi/core/json_parse.c fcgi/core/event.c \
	fcgi/core/event_validate.c fcgi/core/verrs.c fcgi/core/batch.c fcgi/core/buf.c
$(BUILD)/fuzz/fuzz_qs: tests/fuzz/fuzz_qs.c fcgi/core/qs.c fcgi/core/event.c
$(BUILD)/fuzz/fuzz_csv: tests/fuzz/fuzz_csv.c fcgi/core/csv.c
$(FUZZ_BINS): $(wildcard fcgi/*.h fcgi/core/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(CPPFLAGS) -o $@ $(filter %.c,$^) $(LDLIBS)

fuzz: $(FUZZ_BINS)
	tests/fuzz/run.sh $(BUILD)/fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)

# A worker's RSS stays flat: 10k requests of a mixed workload, then 100k more (make test);
# make soak: 1M. One worker takes them all (tests/soak/rss.sh).
rss: $(BINS)
	tests/soak/rss.sh 10000 110000

soak: $(BINS)
	tests/soak/rss.sh 10000 1000000

# The workers under valgrind memcheck through a mixed workload: no errors, no leaks.
valgrind: $(BINS)
	tests/soak/valgrind.sh 5000

format:
	clang-format -i fcgi/*.c fcgi/*.h fcgi/core/*.c fcgi/core/*.h tools/*.c tests/*/*.c

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
