/* fuzz_npy.c - libFuzzer harness for nn_verify.h's .npy / .npz readers and
   its comparison.

   build: clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -I/usr/include/stb \
              tests/fuzz/fuzz_npy.c -o build/fuzz_npy -lm -lpthread
   run:   build/fuzz_npy tests/fuzz/corpus_npy

   The first byte chooses what the rest is fed to:
     0  .npy (nn_verify_load_npy_memory); when it loads, it must save to the
        same dtype, shape and bytes, and compare equal to itself
     1  .npz (nn_verify_load_npz_memory); every member must round-trip as
        in mode 0
     2  comparison: bytes 1-3 pick the dtypes of ref and got and the desc;
        the rest is split into the two tensors; the statistics must keep
        their invariants (counts within range, cosine in [-1, 1], ...)
   Any status from a loader is fine; crashes, leaks, sanitizer reports,
   a broken round trip or a broken invariant are bugs.  stb_image's zlib
   decoder is compiled in (not taken from -lstb) so that it is instrumented
   too. */
#ifndef NN_FUZZ_SHARED_IMPL /* linked with build/fuzzimpl.o instead (tests/fuzz/impl.c) */
#define NN_IMPLEMENTATION
#define NN_VERIFY_STB_IMAGE_IMPLEMENTATION
#endif
#include "nn_verify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* v compared with itself: every pair matches under NN_VERIFY_NAN_EQUAL. */
static void fuzz_self_compare(const nn_value *v) {
    nn_verify_desc desc;
    nn_verify_stats s;
    nn_diag d;
    memset(&desc, 0, sizeof desc);
    memset(&d, 0, sizeof d);
    desc.nan_mode = NN_VERIFY_NAN_EQUAL;
    desc.exact = 1;
    if (nn_verify_compare(v, v, &desc, &s, &d) != NN_OK) __builtin_trap();
    if (!s.allclose || s.max_abs_err != 0 || s.nonfinite_count != 0) __builtin_trap();
}

/* Saves v and loads it back: same dtype, shape and bytes. */
static void fuzz_npy_roundtrip(const nn_value *v) {
    size_t n = 0, m = 0;
    nn_value back;
    nn_diag d;
    memset(&d, 0, sizeof d);
    if (nn_verify_save_npy_memory(v, NULL, 0, &n, &d) != NN_OK) __builtin_trap();
    unsigned char *buf = (unsigned char *)malloc(n);
    if (!buf) return;
    if (nn_verify_save_npy_memory(v, buf, n, &m, &d) != NN_OK || m != n) __builtin_trap();
    if (nn_verify_load_npy_memory(buf, n, "roundtrip", &back, NULL, &d) != NN_OK) __builtin_trap();
    if (back.dtype != v->dtype || !nn_shape_equal(&back.shape, &v->shape) || back.bytes != v->bytes ||
        (v->bytes && memcmp(back.data, v->data, v->bytes) != 0))
        __builtin_trap();
    nn_verify_value_free(&back, NULL);
    free(buf);
    fuzz_self_compare(v);
}

static void fuzz_npy(const uint8_t *p, size_t n) {
    nn_value v;
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_status st = nn_verify_load_npy_memory(p, n, "fuzz.npy", &v, NULL, &d);
    if (st != d.status) __builtin_trap(); /* a failure always fills the diag */
    if (st != NN_OK) return;
    fuzz_npy_roundtrip(&v);
    nn_verify_value_free(&v, NULL);
}

static void fuzz_npz(const uint8_t *p, size_t n) {
    nn_verify_npz z;
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_status st = nn_verify_load_npz_memory(p, n, "fuzz.npz", &z, NULL, &d);
    if (st != d.status) __builtin_trap();
    if (st != NN_OK) return;
    for (uint32_t i = 0; i < z.count; i++) {
        if (nn_verify_npz_find(&z, z.names[i]) != &z.values[i]) __builtin_trap(); /* names are unique */
        fuzz_npy_roundtrip(&z.values[i]);
    }
    nn_verify_npz_free(&z);
}

static void fuzz_compare(const uint8_t *p, size_t n) {
    static const nn_dtype types[] = {NN_DTYPE_FLOAT,  NN_DTYPE_DOUBLE, NN_DTYPE_FLOAT16, NN_DTYPE_BFLOAT16,
                                     NN_DTYPE_INT8,   NN_DTYPE_UINT8,  NN_DTYPE_INT16,   NN_DTYPE_UINT16,
                                     NN_DTYPE_INT32,  NN_DTYPE_UINT32, NN_DTYPE_INT64,   NN_DTYPE_UINT64,
                                     NN_DTYPE_BOOL,   NN_DTYPE_INT4,   NN_DTYPE_UINT4};
    const size_t nt = sizeof types / sizeof types[0];
    nn_verify_desc desc;
    nn_verify_stats s;
    nn_diag d;
    if (n < 3) return;
    nn_dtype tr = types[p[0] % nt], tg = types[p[1] % nt];
    memset(&desc, 0, sizeof desc);
    desc.nan_mode = (p[2] & 1) ? NN_VERIFY_NAN_EQUAL : NN_VERIFY_NAN_DEFAULT;
    desc.exact = (p[2] >> 1) & 1;
    if (p[2] & 4) desc.atol = (p[2] >> 3) / 4.0; /* 0 .. 7.75 with rtol 0 */
    p += 3;
    n -= 3;
    /* Equal element counts that fit each half (4-bit types: two per byte). */
    size_t half = n / 2, cr, cg;
    cr = nn_dtype_bits(tr) == 4 ? half * 2 : half / nn_dtype_size(tr);
    cg = nn_dtype_bits(tg) == 4 ? half * 2 : half / nn_dtype_size(tg);
    int64_t count = (int64_t)(cr < cg ? cr : cg);
    /* Copies give the tensors their own, exactly sized, aligned buffers. */
    void *a = malloc(half ? half : 1), *b = malloc(half ? half : 1);
    if (!a || !b) { free(a); free(b); return; }
    memcpy(a, p, half);
    memcpy(b, p + half, half);
    nn_value ref = nn_value_make(tr, nn_shape_make(1, &count), a);
    nn_value got = nn_value_make(tg, nn_shape_make(1, &count), b);
    memset(&d, 0, sizeof d);
    if (nn_verify_compare(&ref, &got, &desc, &s, &d) != NN_OK) __builtin_trap();
    if (s.count != (size_t)count || s.beyond_tol_count > s.count || s.nonfinite_count > s.beyond_tol_count ||
        s.allclose != (s.beyond_tol_count == 0) || (s.count ? s.worst_index >= s.count : s.worst_index != 0))
        __builtin_trap();
    if (s.nonfinite_count == 0 &&
        (!(s.cosine >= -1 && s.cosine <= 1) || !(s.mse >= 0) || !(s.max_abs_err >= 0) ||
         !(s.mean_abs_err <= s.max_abs_err * (1 + 1e-9)) || isnan(s.sqnr_db) || !(s.max_rel_err >= 0)))
        __builtin_trap();
    if (s.max_abs_err == 0 && !(s.sqnr_db > 0 && isinf(s.sqnr_db))) __builtin_trap();
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    switch (data[0] % 3) {
    case 0: fuzz_npy(data + 1, size - 1); break;
    case 1: fuzz_npz(data + 1, size - 1); break;
    default: fuzz_compare(data + 1, size - 1); break;
    }
    return 0;
}
