/* fuzz_calitable.c - libFuzzer harness for nn_calib.h's calibration-table
   reader and writer (TPU-MLIR's text format).

   build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -I/usr/include/stb \
              tests/fuzz/fuzz_calitable.c -o build/fuzz_calitable -lstb -lm -lpthread
   run:   build/fuzz_calitable tests/fuzz/corpus_calitable

   The input is table text.  When nn_calib_table_load accepts it, every line
   must keep the invariants the loader promises (finite numbers, threshold
   >= 0, min <= max, names without blanks and not starting with '#', no name
   twice in a section), and the table must survive a round trip: saved
   with nn_calib_table_save and read back, the same names in the same order
   with numbers equal to 9 significant digits.  When it refuses, the table
   must be as before the call (empty) and diag.where must name a line
   ("fuzz:<n>").  Crashes, leaks and sanitizer reports are bugs. */
#ifndef NN_FUZZ_SHARED_IMPL /* linked with build/fuzzimpl.o instead (tests/fuzz/impl.c) */
#define NN_IMPLEMENTATION
#endif
#define NN_CALIB_NO_STB /* the table code needs no images */
#include "nn_calib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_buf { char *p; size_t n, cap; } fuzz_buf;

static int fuzz_write(void *user, const char *text, size_t bytes) {
    fuzz_buf *b = (fuzz_buf *)user;
    if (b->n + bytes + 1 > b->cap) {
        size_t cap = (b->n + bytes + 1) * 2;
        char *p = (char *)realloc(b->p, cap);
        if (!p) return 1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, text, bytes);
    b->n += bytes;
    return 0;
}

static int fuzz_close(double a, double b) { return fabs(a - b) <= 1e-8 * fabs(a) + 1e-300; }

static void fuzz_check_section(const nn_calib_table_entry *e, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        if (!isfinite(e[i].threshold) || !isfinite(e[i].min) || !isfinite(e[i].max)) __builtin_trap();
        if (e[i].threshold < 0 || e[i].min > e[i].max) __builtin_trap();
        if (!e[i].name[0] || e[i].name[0] == '#') __builtin_trap();
        for (const char *c = e[i].name; *c; c++)
            if ((unsigned char)*c <= ' ' || *c == 127) __builtin_trap();
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(e[i].name, e[j].name) == 0) __builtin_trap();
    }
}

static void fuzz_same(const nn_calib_table_entry *a, const nn_calib_table_entry *b, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(a[i].name, b[i].name) != 0) __builtin_trap();
        if (!fuzz_close(a[i].threshold, b[i].threshold) || !fuzz_close(a[i].min, b[i].min) ||
            !fuzz_close(a[i].max, b[i].max))
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    nn_calib_table t, u;
    nn_diag d;
    fuzz_buf b = {NULL, 0, 0};
    memset(&d, 0, sizeof d);
    nn_calib_table_init(&t, NULL);
    if (nn_calib_table_load(&t, (const char *)data, size, "fuzz", &d) != NN_OK) {
        if (t.count || t.int4_count || t.bins || t.samples) __builtin_trap();
        if (strncmp(d.where, "fuzz:", 5) != 0 && d.status != NN_ERR_NOMEM) __builtin_trap();
        nn_calib_table_deinit(&t);
        return 0;
    }
    fuzz_check_section(t.entries, t.count);
    fuzz_check_section(t.int4_entries, t.int4_count);
    if (nn_calib_table_save(&t, fuzz_write, &b, &d) != NN_OK) __builtin_trap();
    nn_calib_table_init(&u, NULL);
    memset(&d, 0, sizeof d);
    if (nn_calib_table_load(&u, b.p ? b.p : "", b.n, "again", &d) != NN_OK) __builtin_trap();
    if (u.count != t.count || u.int4_count != t.int4_count || u.bins != t.bins || u.samples != t.samples)
        __builtin_trap();
    fuzz_same(t.entries, u.entries, t.count);
    fuzz_same(t.int4_entries, u.int4_entries, t.int4_count);
    nn_calib_table_deinit(&u);
    nn_calib_table_deinit(&t);
    free(b.p);
    return 0;
}
