# Events analytics service. `make` builds, `make run` starts the whole stack on an embedded
# PostgreSQL under var/, `make test` runs every test. See README.md.

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP
PKG_CFLAGS := $(shell pkg-config --cflags libpq json-c 2>/dev/null || echo -I/usr/include/postgresql -I/usr/include/json-c)
PKG_LIBS   := $(shell pkg-config --libs libpq json-c 2>/dev/null || echo -lpq -ljson-c)
CPPFLAGS += -Ifcgi $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lm

# Code shared by the worker and the command-line tools (no libfcgi in here).
CORE_SRC := fcgi/event.c fcgi/qs.c fcgi/json.c fcgi/db.c fcgi/log.c fcgi/conf.c fcgi/batch.c \
	fcgi/auth.c
# The FastCGI worker: router, handlers, process management.
WORKER_SRC := fcgi/main.c fcgi/pool.c fcgi/router.c fcgi/http.c fcgi/h_events.c fcgi/h_stats.c \
	fcgi/h_health.c fcgi/h_metrics.c fcgi/metrics.c
UNIT_SRC := $(wildcard tests/unit/test_*.c)
ITEST_SRC := $(wildcard tests/integration/test_*.c) tests/integration/client.c
# Code of the command-line tools that unit tests also link.
TOOLS_CORE_SRC := tools/csv.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
CORE_OBJ   := $(call obj,$(CORE_SRC))
WORKER_OBJ := $(call obj,$(WORKER_SRC))

BINS := $(BUILD)/events-fcgi $(BUILD)/migrate $(BUILD)/import_events $(BUILD)/gen_csv

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
$(BUILD)/obj/fcgi/metrics.o: CPPFLAGS += -DEVENTS_VERSION='"$(VERSION)"'


.PHONY: all run stop status migrate psql test unit integration compose-check deps deps-test clean \
	format reload import bench-import bench web web-test adminer
all: $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/events-fcgi: $(WORKER_OBJ) $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ -lfcgi $(LDLIBS) -lrt

$(BUILD)/migrate: $(call obj,tools/migrate.c) $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/import_events: $(call obj,tools/import_events.c $(TOOLS_CORE_SRC)) $(CORE_OBJ)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

$(BUILD)/gen_csv: $(call obj,tools/gen_csv.c) $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/test_unit: $(call obj,$(UNIT_SRC) $(TOOLS_CORE_SRC)) $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion $(LDLIBS)

$(BUILD)/test_integration: $(call obj,$(ITEST_SRC)) $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion -lcurl $(LDLIBS)

# --- running the stack -------------------------------------------------------------------
deps:
	@tools/deps.sh run

run: deps
	@$(MAKE) --no-print-directory all web
	@tools/stack.sh up

stop:
	@tools/stack.sh down

status:
	@tools/stack.sh status

reload: all
	@tools/stack.sh reload

migrate: all
	@tools/stack.sh migrate

psql:
	@tools/stack.sh psql

# make import FILE=data/events_sample.csv [ARGS='--batch-size 5000 --rejects rejects.csv']
import: all
	@test -n "$(FILE)" || { echo "usage: make import FILE=path/to/events.csv [ARGS=...]" >&2; exit 1; }
	$(BUILD)/import_events $(FILE) $(ARGS)

bench-import: all
	tools/bench_import.sh

# The whole service at scale: 10M generated events loaded, then every scenario under wrk
# (pinned to one core) against a hello-world FastCGI ceiling; writes bench/results/latest.md.
bench: all
	tools/bench.sh

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

test: deps-test
	@$(MAKE) --no-print-directory all web $(BUILD)/test_unit $(BUILD)/test_integration
	@$(MAKE) --no-print-directory unit compose-check integration web-test

unit: $(BUILD)/test_unit
	$(BUILD)/test_unit --jobs 2

integration: $(BINS) $(BUILD)/test_integration
	tests/integration/run.sh $(BUILD)/test_integration

# /docs, /openapi.yaml and /dashboard: their browser tests (headless Chromium via playwright-core)
# and the OpenAPI checks (route set, real responses against the schemas, redocly lint).
web-test: $(BINS) web
	tests/integration/run.sh --cmd "node --test tests/web/openapi.test.mjs tests/web/dashboard.test.mjs"

compose-check: web
	@tools/compose_check.sh

format:
	clang-format -i fcgi/*.c fcgi/*.h tools/*.c tests/*/*.c

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
