# nnport - build, set-up and test entry points.  `make test` and `make demo`
# install what a fresh Debian machine lacks (scripts/setup.sh), then build.

CC      ?= cc
CXX     ?= c++
WARN    := -std=c99 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
# The flags we recommend for the headers: see README "Build flags".
OPT     ?= -O3 -march=native
CFLAGS  += $(WARN) $(OPT) -g -I. -I/usr/include/stb
LDLIBS  += -lprotobuf-nanopb -lcjson -lm -lpthread
SAN     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

HEADERS := $(wildcard nn_*.h) $(wildcard src/graph/*.inc)
B       := build
CACHE   ?= $(HOME)/.cache/nnport

NNPORT_SRC := $(wildcard examples/nnport/*.c)
TESTS      := $(patsubst tests/%.c,$(B)/%,$(wildcard tests/test_*.c))

.PHONY: all setup models test test-unit test-asan demo conformance parity bench fuzz clean headers-check

all: $(B)/nnport $(B)/conformance

$(B):
	@mkdir -p $(B) $(B)/asan

$(B)/impl.o: src/impl.c $(HEADERS) | $(B)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/nnport: $(NNPORT_SRC) $(B)/impl.o
	$(CC) $(CFLAGS) $(NNPORT_SRC) $(B)/impl.o -o $@ $(LDLIBS)

$(B)/conformance: tests/conformance.c $(B)/impl.o
	$(CC) $(CFLAGS) $< $(B)/impl.o -o $@ $(LDLIBS)

$(B)/test_%: tests/test_%.c tests/check.h $(B)/impl.o
	$(CC) $(CFLAGS) $< $(B)/impl.o -o $@ $(LDLIBS)

$(B)/asan/impl.o: src/impl.c $(HEADERS) | $(B)
	$(CC) $(WARN) $(SAN) -I. -I/usr/include/stb -c $< -o $@

$(B)/asan/test_%: tests/test_%.c tests/check.h $(B)/asan/impl.o
	$(CC) $(WARN) $(SAN) -I. -I/usr/include/stb $< $(B)/asan/impl.o -o $@ $(LDLIBS)

setup:
	@bash scripts/setup.sh

models: setup
	@bash scripts/fetch_models.sh

clean:
	rm -rf $(B)
