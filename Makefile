# Bulkhead — build, run and test.
#
#   make run     build the server and the example plugins, serve them over stdio
#   make test    build everything and run the whole test suite
#   make check-plugins   run `bulkhead check` on every example plugin
#
# Plugins are plain C: each plugins/<name>/ builds to plugins/<name>/lib<name>.so.

SWIFT       ?= swift
CC          ?= cc
PYTHON      ?= python3
VENV        ?= .venv
CONFIG      ?= release
# The test suite builds once: release, with testing enabled, in a scratch path of
# its own. Unit and end-to-end tests then share one compilation of the
# dependencies (a debug build for `swift test` plus a release one for the binary
# would compile them twice), and the .build/ of `make build` is left alone.
# BULKHEAD_TEST_BUILD=1 (set by `make test` for what it runs) points every
# target at that build, so a test's own `make run` finds it up to date.
TEST_SCRATCH := .build-test
SWIFT_TEST_FLAGS := -c release --scratch-path $(TEST_SCRATCH) -Xswiftc -enable-testing
ifeq ($(BULKHEAD_TEST_BUILD),1)
CONFIG      := release
SCRATCH     := $(TEST_SCRATCH)
SWIFT_BUILD_FLAGS := $(SWIFT_TEST_FLAGS)
else
SCRATCH     := .build
SWIFT_BUILD_FLAGS := -c $(CONFIG)
endif
BIN         := $(SCRATCH)/$(CONFIG)/bulkhead
WORKER      := $(SCRATCH)/$(CONFIG)/bulkhead-worker
TEST_BIN    := $(TEST_SCRATCH)/release/bulkhead
TEST_WORKER := $(TEST_SCRATCH)/release/bulkhead-worker
CFLAGS_PLUGIN := -std=c11 -O2 -g -Wall -Wextra -Werror -fPIC -shared -I$(CURDIR)/include
# The worker tier's process (Sources/bulkhead-worker): a plain C program, built by
# make with its own flags and -lseccomp rather than as a SwiftPM target.
CFLAGS_WORKER := -std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -I$(CURDIR)/include -I$(CURDIR)/Sources/CBulkhead/include
WORKER_SRCS   := $(wildcard Sources/bulkhead-worker/*.c)
WORKER_DEPS   := $(WORKER_SRCS) $(wildcard Sources/bulkhead-worker/*.h) include/bulkhead/bulkhead.h \
                 Sources/CBulkhead/include/bh_worker_protocol.h

# Passed to the plugin sub-makes only: exported, CC would also reach SwiftPM,
# which compiles its C targets with clang-only flags.
# SwiftPM is run without them for the same reason, even when they come from the environment.
SWIFT_RUN = env -u CC -u CFLAGS $(SWIFT)
PLUGIN_MAKE = $(MAKE) -s CC="$(CC)" CFLAGS_PLUGIN="$(CFLAGS_PLUGIN)"

.PHONY: all deps test-deps build test-build worker plugins fixtures run run-http test swift-test worker-test e2e-test check-plugins venv clean

# The Debian packages in scripts/debian-packages, checked (and installed where
# this may) before anything compiles.
deps:
	@scripts/require-packages build
test-deps:
	@scripts/require-packages test

all: build

build: deps plugins
	$(SWIFT_RUN) build $(SWIFT_BUILD_FLAGS) --product bulkhead
	@$(MAKE) --no-print-directory worker

# `build` runs it after the Swift build, by when $(SCRATCH)/$(CONFIG) is SwiftPM's symlink.
worker: $(WORKER)

$(WORKER): $(WORKER_DEPS)
	mkdir -p $(dir $@)
	$(CC) $(CFLAGS_WORKER) -o $@ $(WORKER_SRCS) -ldl -lpthread -lseccomp

plugins:
	$(PLUGIN_MAKE) -C plugins

fixtures:
	$(PLUGIN_MAKE) -C Tests/fixtures

# As the example configuration's default principal (alice); `make run PRINCIPAL=ops` for another.
PRINCIPAL ?=
# Every line of the build goes to stderr: stdout carries only the protocol, so
# `make -s run` can itself be a desktop client's command.
run:
	@$(MAKE) --no-print-directory -s build >&2
	@exec $(BIN) serve --plugins plugins --config bulkhead.toml --audit var/audit.jsonl $(if $(PRINCIPAL),--principal $(PRINCIPAL))

# Streamable HTTP on loopback (http://127.0.0.1:8080/mcp unless HTTP=host:port), as
# the default principal, since the example configuration issues no tokens.
HTTP ?= 127.0.0.1:8080
run-http:
	@$(MAKE) --no-print-directory -s build >&2
	@exec $(BIN) serve --plugins plugins --config bulkhead.toml --audit var/audit.jsonl --http $(HTTP)

check-plugins: build
	@for m in plugins/*/manifest.toml; do $(BIN) check $$(dirname $$m) || exit 1; done

$(VENV)/.installed: Tests/e2e/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -r Tests/e2e/requirements.txt
	touch $@

venv: $(VENV)/.installed

test-build: test-deps plugins
	$(SWIFT_RUN) build $(SWIFT_TEST_FLAGS) --build-tests
	@$(MAKE) --no-print-directory worker BULKHEAD_TEST_BUILD=1

swift-test: test-build
	$(SWIFT_RUN) test $(SWIFT_TEST_FLAGS) --skip-build

e2e-test: test-build fixtures venv
	BULKHEAD_TEST_BUILD=1 BULKHEAD_BIN=$(CURDIR)/$(TEST_BIN) $(VENV)/bin/python -m pytest -q Tests/e2e

# The worker alone: its walls checked from inside (built with gcc and clang), and
# its channel driven by a stand-in core; the worker also compiled with clang.
worker-test: test-build
	Tests/worker-sandbox/run.sh
	BULKHEAD_WORKER=$(CURDIR)/$(TEST_WORKER) $(PYTHON) Tests/worker-sandbox/drive.py
	@command -v clang >/dev/null && clang $(CFLAGS_WORKER) -o $(TEST_SCRATCH)/bulkhead-worker-clang $(WORKER_SRCS) -ldl -lpthread -lseccomp && echo "worker: clang build ok"

# The whole suite: Swift unit tests, the worker's own tests, then end-to-end and
# interop tests against the built binary.
test: swift-test worker-test e2e-test

clean:
	$(MAKE) -s -C plugins clean
	$(MAKE) -s -C Tests/fixtures clean
	rm -rf .build $(TEST_SCRATCH)
