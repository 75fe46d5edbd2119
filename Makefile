# nnport - build, set-up and test entry points.  `make test` and `make demo`
# install what a fresh Debian machine lacks (scripts/setup.sh), then build.

CC      ?= cc
CXX     ?= c++
# -Wno-maybe-uninitialized: GCC 12 at -O3 reports false positives across
# inlined parsers; the ASan/UBSan and valgrind runs are the real check.
WARN    := -std=c99 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror -Wno-maybe-uninitialized
# The flags we recommend for the headers: see README "Build flags".
OPT     ?= -O3 -march=native
CFLAGS  += $(WARN) $(OPT) -g -I. -I/usr/include/stb
LDLIBS  += -lprotobuf-nanopb -lcjson -lstb -lm -lpthread
SAN     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

HEADERS := $(wildcard nn_*.h)
B       := build
CACHE   ?= $(HOME)/.cache/nnport
# Parallel compile jobs for `make test` (one per core).
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)

NNPORT_SRC := $(wildcard examples/nnport/*.c)
TESTS      := $(patsubst tests/%.c,$(B)/%,$(wildcard tests/test_*.c))

.PHONY: all setup models test build-all demo conformance parity bench fuzz clean install uninstall

all: $(B)/nnport $(B)/conformance $(B)/ocr_read $(B)/cv_flow $(B)/llm_flow $(B)/lvm_flow

$(B) $(B)/asan:
	@mkdir -p $@

$(B)/impl.o: src/impl.c $(HEADERS) | $(B)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/nnport: $(NNPORT_SRC) $(B)/impl.o
	$(CC) $(CFLAGS) $(NNPORT_SRC) $(B)/impl.o -o $@ $(LDLIBS)

$(B)/ocr_read: examples/ocr_read.c $(B)/impl.o
	$(CC) $(CFLAGS) $< $(B)/impl.o -o $@ $(LDLIBS)

# The flow sample programs share the CLI's report writer and helpers.
FLOW_DEPS := examples/nnport/cli.c examples/nnport/report.c examples/nnport/config.c examples/nnport/configcmd.c

$(B)/cv_flow: examples/cv_flow.c $(FLOW_DEPS) examples/nnport/cli.h examples/nnport/config.h $(B)/impl.o
	$(CC) $(CFLAGS) $< $(FLOW_DEPS) $(B)/impl.o -o $@ $(LDLIBS)

$(B)/llm_flow: examples/llm_flow.c $(FLOW_DEPS) examples/nnport/cli.h examples/nnport/config.h $(B)/impl.o
	$(CC) $(CFLAGS) $< $(FLOW_DEPS) $(B)/impl.o -o $@ $(LDLIBS)

$(B)/lvm_flow: examples/lvm_flow.c $(FLOW_DEPS) examples/nnport/cli.h examples/nnport/config.h $(B)/impl.o
	$(CC) $(CFLAGS) $< $(FLOW_DEPS) $(B)/impl.o -o $@ $(LDLIBS)

$(B)/bench_gemm: tests/bench_gemm.c $(B)/impl.o
	$(CC) $(CFLAGS) $< $(B)/impl.o -o $@ $(LDLIBS)

$(B)/conformance: tests/conformance.c $(B)/impl.o
	$(CC) $(CFLAGS) $< $(B)/impl.o -o $@ $(LDLIBS)

# test_flowcli tests the flows' shared helpers, so it links examples/nnport/cli.c.
$(B)/test_flowcli: tests/test_flowcli.c tests/check.h $(FLOW_DEPS) examples/nnport/cli.h $(B)/impl.o
	$(CC) $(CFLAGS) -Iexamples $< $(FLOW_DEPS) $(B)/impl.o -o $@ $(LDLIBS)

$(B)/test_%: tests/test_%.c tests/check.h $(B)/impl.o
	$(CC) $(CFLAGS) $< $(B)/impl.o -o $@ $(LDLIBS)

$(B)/asan/impl.o: src/impl.c $(HEADERS) | $(B)/asan
	$(CC) $(WARN) $(SAN) -I. -I/usr/include/stb -c $< -o $@

$(B)/asan/test_flowcli: tests/test_flowcli.c tests/check.h $(FLOW_DEPS) examples/nnport/cli.h $(B)/asan/impl.o
	$(CC) $(WARN) $(SAN) -I. -Iexamples -I/usr/include/stb $< $(FLOW_DEPS) $(B)/asan/impl.o -o $@ $(LDLIBS)

$(B)/asan/test_%: tests/test_%.c tests/check.h $(B)/asan/impl.o
	$(CC) $(WARN) $(SAN) -I. -I/usr/include/stb $< $(B)/asan/impl.o -o $@ $(LDLIBS)

ASAN_TESTS := $(patsubst tests/%.c,$(B)/asan/%,$(wildcard tests/test_*.c))
FUZZERS    := $(patsubst tests/fuzz/%.c,$(B)/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZFLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined -I. -I/usr/include/stb

# The headers' implementations are compiled once, instrumented, and linked
# into the harnesses that use only the public API (tests/fuzz/impl.c).
# fuzz_onnx and fuzz_qtable also call static internals, and fuzz_config
# has its own sources: those three expand what they need themselves.
FUZZ_ALONE := $(B)/fuzz_config $(B)/fuzz_onnx $(B)/fuzz_qtable

$(B)/fuzzimpl.o: tests/fuzz/impl.c $(HEADERS) | $(B)
	clang -g -O1 -fsanitize=fuzzer-no-link,address,undefined -I. -I/usr/include/stb -c $< -o $@

$(FUZZ_ALONE): $(B)/fuzz_%: tests/fuzz/fuzz_%.c $(HEADERS) | $(B)
	clang $(FUZZFLAGS) $< -o $@ $(LDLIBS)
$(B)/fuzz_config: examples/nnport/config.c examples/nnport/config.h

$(B)/fuzz_%: tests/fuzz/fuzz_%.c $(B)/fuzzimpl.o
	clang $(FUZZFLAGS) -DNN_FUZZ_SHARED_IMPL $< $(B)/fuzzimpl.o -o $@ $(LDLIBS)

setup:
	@bash scripts/setup.sh

# Everything the test suite runs, built with the recommended flags.
build-all: $(B)/nnport $(B)/conformance $(B)/ocr_read $(B)/cv_flow $(B)/llm_flow $(B)/lvm_flow $(TESTS) $(ASAN_TESTS) $(FUZZERS)

# `make test`: set up a fresh machine, fetch the OCR models, build, run all.
test: setup
	@bash scripts/fetch_models.sh ocr
	@$(MAKE) --no-print-directory -j$(JOBS) build-all
	@bash tests/run_all.sh

conformance: setup $(B)/conformance
	@bash scripts/conformance.sh

parity: setup
	@bash scripts/fetch_models.sh all
	@$(MAKE) --no-print-directory $(B)/nnport
	@/usr/bin/python3 tests/parity.py all

bench: setup
	@bash scripts/fetch_models.sh all
	@$(MAKE) --no-print-directory $(B)/nnport $(B)/bench_gemm
	@/usr/bin/python3 scripts/bench.py

fuzz: $(FUZZERS)
	@bash tests/fuzz/run.sh long

# `make demo`: read rendered text lines with PP-OCRv4 through nnport, then
# the CV flow on PP-OCRv4 det and the LVM flow on rec (docs/FLOWS.md).
demo: setup
	@bash scripts/fetch_models.sh ocr
	@$(MAKE) --no-print-directory $(B)/nnport $(B)/ocr_read $(B)/cv_flow $(B)/lvm_flow
	@B=$(B) bash examples/ocr_demo.sh

models: setup
	@bash scripts/fetch_models.sh

# `make install PREFIX=...`: the headers into PREFIX/include/nnport and a
# pkg-config file (nnport.pc) into PREFIX/lib/pkgconfig.  Nothing is compiled:
# users define NN_IMPLEMENTATION in one of their own .c files.
PREFIX  ?= /usr/local
VERSION := $(shell sed -n 's/^\#define NN_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' nn_graph.h | paste -sd.)

install:
	install -d $(DESTDIR)$(PREFIX)/include/nnport $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/nnport/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' nnport.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nnport.pc
	@echo "installed $(words $(HEADERS)) headers and nnport.pc under $(DESTDIR)$(PREFIX)"

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/include/nnport/,$(notdir $(HEADERS))) $(DESTDIR)$(PREFIX)/lib/pkgconfig/nnport.pc
	-rmdir $(DESTDIR)$(PREFIX)/include/nnport

clean:
	rm -rf $(B)
