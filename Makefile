# Sentinel build. `make` builds ./sentinel; `make SANITIZE=1` builds an
# ASan/UBSan binary into build-asan/ (the tests pick it via SENTINEL_BIN).
CC      ?= cc
# V=1 shows the compiler command lines.
Q := $(if $(V),,@)
# Each module that needs a library adds its pkg-config name here.
PKGS    := jansson libsodium libprotobuf-c
# Needed at build time only: the seccomp filter is compiled to BPF by
# tools/gen_seccomp.c into build/gen/sbx_bpf.h.
PKGS_BUILD := libseccomp
CFLAGS_BASE := -std=gnu17 -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE -Isrc -Ibuild/gen -pthread
LDLIBS_EXTRA := -pthread -lm -ldl

ifeq ($(SANITIZE),1)
BUILD   := build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
BIN     := $(BUILD)/sentinel
else
BUILD   := build
SANFLAGS :=
BIN     := sentinel
endif

# `make fuzz` builds every fuzz/fuzz_*.c as a libFuzzer binary with clang into
# build-fuzz/ (clang's own warnings do not fail it); `make fuzz-run` runs each
# for FUZZ_SECONDS from the committed seeds in fuzz/corpus/NAME/ (new inputs
# go to build-fuzz/corpus/NAME/); an UBSan report counts as a crash.
ifeq ($(FUZZ),1)
CC      := clang
BUILD   := build-fuzz
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
BIN     := $(BUILD)/sentinel
CFLAGS_BASE += -Wno-error
endif
FUZZ_SECONDS ?= 30

# `make coverage` builds with gcov instrumentation into build-cov/, runs the
# unit and integration suites and prints line and branch coverage per module
# and file with gcovr (scripts/coverage.sh; FILES="src/http/server.c ..."
# narrows the file list).
ifeq ($(COVERAGE),1)
BUILD   := build-cov
SANFLAGS := --coverage
BIN     := $(BUILD)/sentinel
CFLAGS_BASE := $(filter-out -O2,$(CFLAGS_BASE)) -O0
endif

# Loaded with dlopen on first use (headers only at build time): see http/client.c.
PKGS_LAZY := libmicrohttpd libcurl libarchive openblas libcrypto sqlite3 zlib libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(PKGS_LAZY) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Tests and fuzz targets may call the lazy libraries directly (to craft input).
LAZY_LIBS  := $(shell pkg-config --libs $(PKGS_LAZY) 2>/dev/null)
# Where `make install` puts the console; the server looks there when no
# web/dist lies beside its binary.
PREFIX ?= /usr/local
CFLAGS  := $(CFLAGS_BASE) $(SANFLAGS) $(PKG_CFLAGS) -DSN_WEB_SHARE_DIR='"$(PREFIX)/share/sentinel/web"' $(EXTRA_CFLAGS)
LDFLAGS := $(SANFLAGS)
LDLIBS  := $(PKG_LIBS) $(LDLIBS_EXTRA)

SRCS    := $(shell find src -name '*.c' | sort)
# Generated sources (protoc-c from the onnx.proto Debian's libonnx-dev installs);
# shared by build/ and build-asan/, objects go under $(BUILD)/build/gen/.
ONNX_PROTO := /usr/include/onnx/onnx.proto
GEN_SRCS := build/gen/onnx.pb-c.c build/gen/openapi_json.c
OBJS    := $(SRCS:%.c=$(BUILD)/%.o) $(GEN_SRCS:%.c=$(BUILD)/%.o)
LIBOBJS := $(filter-out $(BUILD)/src/main.o,$(OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Small programs the integration tests drive (e.g. a node request signer),
# linked with the library; tests find them in $$SENTINEL_HELPERS.
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(BUILD)/tests/helpers/%)

.PHONY: all run test test-pg install deps check-pkgs unit unit-bins integration clean bench fuzz fuzz-bins fuzz-run coverage web web-test
# WEB=0 skips the console (builds into other BUILD dirs that share web/dist).
WEB ?= 1
all: check-pkgs $(BIN) $(if $(filter 1,$(WEB)),web)

# The web console (web/): built into web/dist when Node.js is present
# (scripts/web.sh); rebuilt when its sources or lock file change.
WEB_SRCS := $(shell find web/src web/public web/index.html web/vite.config.ts web/package-lock.json web/scripts -type f 2>/dev/null)
web: web/dist/index.html
web/dist/index.html: $(WEB_SRCS)
	@bash scripts/web.sh build

# tsc, ESLint, Vitest and the browser suite against the real binary.
web-test: $(BIN) web
	SENTINEL_BIN=$(abspath $(BIN)) bash scripts/web.sh test

check-pkgs:
	@pkg-config --exists $(PKGS) $(PKGS_LAZY) $(PKGS_BUILD) || { echo "missing libraries: run scripts/deps.sh (as root)" >&2; \
	  for p in $(PKGS) $(PKGS_LAZY) $(PKGS_BUILD); do pkg-config --exists $$p || echo "  not found: $$p" >&2; done; exit 1; }

$(BIN): $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# Every object may include generated headers: generate them first (order only).
$(OBJS): | build/gen/onnx.pb-c.h build/gen/sbx_bpf.h
build/gen/sbx_bpf.h: tools/gen_seccomp.c src/sandbox/sbx_seccomp_rules.h
	@mkdir -p build/gen
	$(Q)cc -std=gnu17 -O2 -D_GNU_SOURCE -Isrc -o build/gen/gen_seccomp tools/gen_seccomp.c \
	  $$(pkg-config --cflags --libs libseccomp)
	$(Q)build/gen/gen_seccomp > build/gen/sbx_bpf.h.tmp && mv build/gen/sbx_bpf.h.tmp build/gen/sbx_bpf.h
build/gen/onnx.pb-c.c build/gen/onnx.pb-c.h &:
	@test -r $(ONNX_PROTO) || { echo "missing $(ONNX_PROTO): install Debian package libonnx-dev (scripts/deps.sh)" >&2; exit 1; }
	@command -v protoc-c >/dev/null || { echo "missing protoc-c: install Debian package protobuf-c-compiler (scripts/deps.sh)" >&2; exit 1; }
	@rm -rf build/gen.tmp.$$$$ && mkdir -p build/gen build/gen.tmp.$$$$ && \
	  protoc-c --proto_path=$(dir $(ONNX_PROTO)) --c_out=build/gen.tmp.$$$$ $(ONNX_PROTO) && \
	  mv build/gen.tmp.$$$$/onnx.pb-c.c build/gen.tmp.$$$$/onnx.pb-c.h build/gen/ && rmdir build/gen.tmp.$$$$

# docs/openapi.json as bytes (server/openapi.c serves it and checks it against
# the route table at start); od and awk only, no other tool needed.
build/gen/openapi_json.c: docs/openapi.json
	@mkdir -p build/gen
	$(Q){ echo '/* Generated by make from docs/openapi.json: do not edit. */'; \
	  echo '#include <stddef.h>'; echo 'const unsigned char openapi_json[] = {'; \
	  od -An -v -tu1 docs/openapi.json | awk '{ for (i = 1; i <= NF; i++) printf "%s,", $$i; print "" }'; \
	  echo '0 };'; echo 'const size_t openapi_json_len = sizeof openapi_json - 1;'; } > $@.tmp.$$$$ && mv $@.tmp.$$$$ $@

$(BUILD)/libsentinel.a: $(LIBOBJS)
	ar rcs $@ $^

# test_db.h: the store URL helper the tests that open a store include.
$(BUILD)/tests/%: tests/unit/%.c tests/unit/test_db.h $(BUILD)/libsentinel.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(shell pkg-config --cflags cmocka) -o $@ $< $(BUILD)/libsentinel.a $(LDFLAGS) $(LDLIBS) $(LAZY_LIBS) $(shell pkg-config --libs cmocka)

deps:
	@bash scripts/deps.sh

# The quick start: install what is missing, build, start a server on defaults.
run: deps
	@$(MAKE) --no-print-directory all
	./sentinel up

$(BUILD)/tests/helpers/%: tests/helpers/%.c $(BUILD)/libsentinel.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsentinel.a $(LDFLAGS) $(LDLIBS) $(LAZY_LIBS)

unit-bins: $(UNIT_BINS)

unit: check-pkgs $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "# $$t"; $$t; done

integration: check-pkgs $(BIN) $(HELPER_BINS)
	SENTINEL_BIN=$(abspath $(BIN)) SENTINEL_HELPERS=$(abspath $(BUILD)/tests/helpers) prove -f --exec bash $(sort $(wildcard tests/integration/t*.sh))

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory web-test

# The unit and integration suites again, on a throwaway PostgreSQL cluster
# (scripts/pg.sh run: started in a temporary directory, stopped afterwards).
test-pg: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/pg.sh run $(MAKE) --no-print-directory unit integration

bench: deps all
	bash scripts/deps.sh --bench
	@set -e; for b in bench/*.sh; do echo "## $$b"; bash $$b; done

FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=build-fuzz/fuzz/%)

fuzz:
	@bash scripts/deps.sh --fuzz
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-bins

fuzz-bins: $(FUZZ_BINS)

build-fuzz/fuzz/%: fuzz/%.c $(BUILD)/libsentinel.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libsentinel.a $(LDFLAGS) $(LDLIBS) $(LAZY_LIBS)

fuzz-run: fuzz
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p build-fuzz/corpus/$$n fuzz/corpus/$$n; \
	  echo "# $$n"; UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 build-fuzz/corpus/$$n fuzz/corpus/$$n \
	    >/dev/null 2>build-fuzz/$$n.log || \
	  { tail -40 build-fuzz/$$n.log; exit 1; }; done

coverage: deps
	@bash scripts/deps.sh --coverage
	@rm -rf build-cov
	@$(MAKE) --no-print-directory COVERAGE=1 -j2 all
	@# Processes inside a sandbox cannot reach build-cov/ (their coverage
	@# is lost): GCOV_ERROR_FILE keeps libgcov's complaint out of job output.
	@# Failures are shown but do not stop the report.
	-@$(MAKE) --no-print-directory COVERAGE=1 unit-bins
	@# Every unit suite runs, also after one fails (make unit stops at the first).
	-@for t in $(patsubst $(BUILD)/%,build-cov/%,$(UNIT_BINS)); do \
	  GCOV_ERROR_FILE=/dev/null $$t >/dev/null 2>&1 || echo "# $$t failed under coverage"; done
	-@GCOV_ERROR_FILE=/dev/null $(MAKE) --no-print-directory COVERAGE=1 integration
	@bash scripts/coverage.sh build-cov $(FILES)

# Installs the binary, the systemd units and the docs (PREFIX=/usr/local,
# DESTDIR for packaging); creates the sentinel system user when run as root
# on a live system. Enable with: systemctl enable --now sentinel-server
# (and sentinel-node on each worker machine).
PREFIX ?= /usr/local
UNITDIR ?= /etc/systemd/system
install: all
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/sentinel
	install -D -m 0644 dist/systemd/sentinel-server.service $(DESTDIR)$(UNITDIR)/sentinel-server.service
	install -D -m 0644 dist/systemd/sentinel-node.service $(DESTDIR)$(UNITDIR)/sentinel-node.service
	sed -i 's|/usr/local/|$(PREFIX)/|g' $(DESTDIR)$(UNITDIR)/sentinel-server.service $(DESTDIR)$(UNITDIR)/sentinel-node.service
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/sentinel/README.md
	@if [ -f web/dist/index.html ]; then install -d -m 0755 $(DESTDIR)$(PREFIX)/share/sentinel/web && \
	  cp -R web/dist/. $(DESTDIR)$(PREFIX)/share/sentinel/web/; fi
	install -d -m 0755 $(DESTDIR)$(PREFIX)/share/doc/sentinel/docs
	install -m 0644 docs/*.md $(DESTDIR)$(PREFIX)/share/doc/sentinel/docs/
	install -d -m 0750 $(DESTDIR)/etc/sentinel
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && ! id sentinel >/dev/null 2>&1; then \
	  useradd --system --home-dir /var/lib/sentinel --shell /usr/sbin/nologin sentinel; fi
	@if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then \
	  systemctl daemon-reload; fi

clean:
	rm -rf build build-asan build-fuzz build-cov sentinel

-include $(OBJS:.o=.d)
