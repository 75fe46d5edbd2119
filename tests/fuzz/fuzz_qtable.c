/* fuzz_qtable.c - libFuzzer harness for nn_quant.h's quantize-table parser.

   build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -I/usr/include/stb \
              tests/fuzz/fuzz_qtable.c -o build/fuzz_qtable -lm -lpthread
   run:   build/fuzz_qtable tests/fuzz/corpus_qtable

   The input is parsed as a table.  Any status is fine; on NN_ERR_PARSE the
   diag must name a line.  When it parses, writing the table and parsing the
   text again must give the same rules (kind, names, dtype).  Crashes,
   leaks, sanitizer reports or a broken round trip are bugs. */
#define NN_IMPLEMENTATION
#include "nn_quant.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct { char *buf; size_t n, cap; } fuzz_sink;

static int fuzz_write(void *user, const char *text, size_t bytes) {
    fuzz_sink *s = (fuzz_sink *)user;
    if (s->n + bytes > s->cap) {
        size_t cap = (s->n + bytes) * 2;
        char *nb = (char *)realloc(s->buf, cap);
        if (!nb) return 1;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->n, text, bytes);
    s->n += bytes;
    return 0;
}

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nn_quant_table t, u;
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_quant_table_init(&t, NULL);
    nn_status st = nn_quant_table_parse(&t, (const char *)data, size, &d);
    if (st == NN_ERR_PARSE && strncmp(d.where, "qtable line ", 12) != 0) __builtin_trap();
    if (st == NN_OK) {
        fuzz_sink s = {NULL, 0, 0};
        nn_diag d2;
        memset(&d2, 0, sizeof d2);
        nn_quant_table_init(&u, NULL);
        if (nn_quant_table_write(&t, fuzz_write, &s, &d2) == NN_OK) {
            if (nn_quant_table_parse(&u, s.buf, s.n, &d2) != NN_OK || u.count != t.count) __builtin_trap();
            for (uint32_t i = 0; i < t.count; i++)
                if (u.rules[i].kind != t.rules[i].kind || u.rules[i].dtype != t.rules[i].dtype ||
                    !same(u.rules[i].name, t.rules[i].name) || !same(u.rules[i].end, t.rules[i].end))
                    __builtin_trap();
        }
        free(s.buf);
        nn_quant_table_deinit(&u);
    }
    nn_quant_table_deinit(&t);
    return 0;
}
