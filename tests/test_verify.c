/* test_verify.c - tests of nn_verify.h: comparison metrics against hand
   calculations, .npy / .npz round trips, files made by numpy (when
   /usr/bin/python3 has numpy), hostile and truncated inputs, allocation
   failures, and the layer table's text and JSON.  Linked with build/impl.o
   (the implementations) and -lstb (stb_image's zlib decoder). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "nn_verify.h"
#include "check.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers --------------------------------------------------------------------- */

static char g_tmp[256];  /* scratch directory for this run */
static int g_numpy;      /* /usr/bin/python3 can import numpy */

static const char *tmp_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_tmp, name);
    return buf;
}

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* Reads a whole file into a malloc'd buffer. */
static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    long len;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        p = (unsigned char *)malloc((size_t)len + 1);
        if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
            free(p);
            p = NULL;
        }
        *n = (size_t)len;
    }
    fclose(f);
    return p;
}

static int write_all(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static nn_value make_f32(int32_t rank, const int64_t *dims, float *data) {
    return nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(rank, dims), data);
}

static nn_value vec_f64(double *data, int64_t n) { return nn_value_make(NN_DTYPE_DOUBLE, nn_shape_make(1, &n), data); }

static nn_verify_stats compare_ok(const nn_value *r, const nn_value *g, const nn_verify_desc *d) {
    nn_verify_stats s;
    nn_diag diag;
    memset(&s, 0, sizeof s);
    memset(&diag, 0, sizeof diag);
    CHECK_STATUS(nn_verify_compare(r, g, d, &s, &diag), NN_OK);
    return s;
}

/* Counting allocator that can fail its n-th allocation. */
typedef struct test_alloc {
    long live, calls, fail_at;
} test_alloc;

static void *test_alloc_fn(void *user, size_t bytes) {
    test_alloc *a = (test_alloc *)user;
    if (++a->calls == a->fail_at) return NULL;
    void *p = malloc(bytes);
    if (p) a->live++;
    return p;
}

static void test_free_fn(void *user, void *p) {
    test_alloc *a = (test_alloc *)user;
    a->live--;
    free(p);
}

static nn_allocator counting(test_alloc *a) {
    nn_allocator al;
    al.alloc = test_alloc_fn;
    al.free = test_free_fn;
    al.user = a;
    return al;
}

/* A growing text buffer for the table writers. */
typedef struct text_buf {
    char data[65536];
    size_t n;
} text_buf;

static int text_write(void *user, const char *s, size_t n) {
    text_buf *b = (text_buf *)user;
    if (n >= sizeof b->data - b->n) return 1;
    memcpy(b->data + b->n, s, n);
    b->n += n;
    b->data[b->n] = 0;
    return 0;
}

static int failing_write(void *user, const char *s, size_t n) {
    (void)user;
    (void)s;
    (void)n;
    return 1;
}

/* ---- metrics ---------------------------------------------------------------------- */

static void test_cosine_half_angle(void) {
    /* ref [1,0], got [1,1]: <r,g> = 1, |r| = 1, |g| = sqrt(2): cosine 1/sqrt(2).
       errors [0,1]: mse (0+1)/2 = 0.5, mean |e| 0.5, max |e| 1 at index 1.
       signal 1^2+0^2 = 1 over noise 0+1 = 1: sqnr 10 log10(1) = 0 dB.
       rel error at index 1: 1 / max(|0|, 1e-6) = 1e6. */
    double r[] = {1, 0}, g[] = {1, 1};
    nn_value vr = vec_f64(r, 2), vg = vec_f64(g, 2);
    nn_verify_stats s = compare_ok(&vr, &vg, NULL);
    CHECK_NEAR(s.cosine, 1.0 / sqrt(2.0), 1e-15);
    CHECK_NEAR(s.mse, 0.5, 1e-15);
    CHECK_NEAR(s.mean_abs_err, 0.5, 1e-15);
    CHECK_NEAR(s.max_abs_err, 1.0, 0);
    CHECK_NEAR(s.sqnr_db, 0.0, 1e-12);
    CHECK_NEAR(s.max_rel_err, 1e6, 1e-6);
    CHECK_EQ_INT(s.worst_index, 1);
    CHECK_EQ_INT(s.count, 2);
    CHECK_NEAR(s.max_abs_ref, 1.0, 0);
    CHECK_NEAR(s.max_abs_got, 1.0, 0);
    CHECK_EQ_INT(s.beyond_tol_count, 1);
    CHECK(!s.allclose);
}

static void test_sqnr_known(void) {
    /* ref [3,4], got [3,5]: signal 9+16 = 25, noise 0+1 = 1:
       sqnr 10 log10(25) = 13.97940009 dB.  cosine (9+20)/(5 sqrt(34)) =
       29/29.15475947 = 0.99469243.  mse 1/2, max rel 1/4. */
    float r[] = {3, 4}, g[] = {3, 5};
    int64_t n = 2;
    nn_value vr = make_f32(1, &n, r), vg = make_f32(1, &n, g);
    nn_verify_stats s = compare_ok(&vr, &vg, NULL);
    CHECK_NEAR(s.sqnr_db, 10.0 * log10(25.0), 1e-12);
    CHECK_NEAR(s.sqnr_db, 13.97940009, 1e-8);
    CHECK_NEAR(s.cosine, 29.0 / (5.0 * sqrt(34.0)), 1e-15);
    CHECK_NEAR(s.mse, 0.5, 1e-15);
    CHECK_NEAR(s.max_rel_err, 0.25, 1e-15);
}

static void test_exact_and_zero_vectors(void) {
    double a[] = {1, 2, 3}, z[] = {0, 0}, z2[] = {0, 0}, one[] = {1, 0}, r12[] = {1, 2};
    nn_value va = vec_f64(a, 3);
    /* identical: no error at all, sqnr +inf */
    nn_verify_stats s = compare_ok(&va, &va, NULL);
    CHECK_NEAR(s.cosine, 1, 0);
    CHECK(s.mse == 0 && s.max_abs_err == 0 && s.mean_abs_err == 0 && s.max_rel_err == 0);
    CHECK(isinf(s.sqnr_db) && s.sqnr_db > 0);
    CHECK(s.allclose && s.worst_index == 0);
    /* two all-zero vectors: cosine 1 by definition, sqnr +inf */
    nn_value vz = vec_f64(z, 2), vz2 = vec_f64(z2, 2), v1 = vec_f64(one, 2), v12 = vec_f64(r12, 2);
    s = compare_ok(&vz, &vz2, NULL);
    CHECK_NEAR(s.cosine, 1, 0);
    CHECK(isinf(s.sqnr_db) && s.sqnr_db > 0);
    /* ref all zero, got not: cosine 0, zero signal over noise: sqnr -inf */
    s = compare_ok(&vz, &v1, NULL);
    CHECK_NEAR(s.cosine, 0, 0);
    CHECK(isinf(s.sqnr_db) && s.sqnr_db < 0);
    /* got all zero: cosine 0; signal 1+4 = 5 over noise 5: 0 dB; mse 5/2 */
    s = compare_ok(&v12, &vz, NULL);
    CHECK_NEAR(s.cosine, 0, 0);
    CHECK_NEAR(s.sqnr_db, 0, 1e-12);
    CHECK_NEAR(s.mse, 2.5, 1e-15);
    /* opposite vectors: cosine -1 */
    double m12[] = {-1, -2};
    nn_value vm = vec_f64(m12, 2);
    s = compare_ok(&v12, &vm, NULL);
    CHECK_NEAR(s.cosine, -1, 1e-15);
}

static void test_zero_length(void) {
    int64_t dims[] = {0, 3};
    float dummy = 0;
    nn_value a = make_f32(2, dims, &dummy), b = make_f32(2, dims, NULL);
    nn_verify_stats s = compare_ok(&a, &b, NULL);
    CHECK_EQ_INT(s.count, 0);
    CHECK_NEAR(s.cosine, 1, 0);
    CHECK(s.mse == 0 && s.max_abs_err == 0 && s.allclose);
    CHECK(isinf(s.sqnr_db) && s.sqnr_db > 0);
}

static void test_tolerances(void) {
    /* ref [100, 0, 1], got [100.05, 1e-9, 1.5] with rtol 1e-3, atol 1e-6:
       |e0| = 0.05 <= 1e-6 + 0.1 ok;  |e1| = 1e-9 <= 1e-6 ok;
       |e2| = 0.5 > 1e-6 + 1e-3: one element beyond, the worst (index 2). */
    double r[] = {100, 0, 1}, g[] = {100.05, 1e-9, 1.5};
    nn_value vr = vec_f64(r, 3), vg = vec_f64(g, 3);
    nn_verify_desc d;
    memset(&d, 0, sizeof d);
    d.rtol = 1e-3;
    d.atol = 1e-6;
    nn_verify_stats s = compare_ok(&vr, &vg, &d);
    CHECK_EQ_INT(s.beyond_tol_count, 1);
    CHECK_EQ_INT(s.worst_index, 2);
    CHECK(!s.allclose);
    CHECK_NEAR(s.max_abs_err, 0.5, 1e-15);
    CHECK(s.rtol == 1e-3 && s.atol == 1e-6);
    /* defaults are numpy's */
    s = compare_ok(&vr, &vg, NULL);
    CHECK(s.rtol == 1e-5 && s.atol == 1e-8);
    CHECK_EQ_INT(s.beyond_tol_count, 2); /* 0.05 > 1e-3 + 1e-8; 1e-9 is within atol */
    /* exact: every difference counts */
    memset(&d, 0, sizeof d);
    d.exact = 1;
    s = compare_ok(&vr, &vg, &d);
    CHECK(s.rtol == 0 && s.atol == 0);
    CHECK_EQ_INT(s.beyond_tol_count, 3);
    /* one LSB: atol 1, rtol 0 as given */
    int32_t ri[] = {5, -7, 100}, gi[] = {6, -7, 98};
    int64_t n = 3;
    nn_value a = nn_value_make(NN_DTYPE_INT32, nn_shape_make(1, &n), ri);
    nn_value b = nn_value_make(NN_DTYPE_INT32, nn_shape_make(1, &n), gi);
    memset(&d, 0, sizeof d);
    d.atol = 1;
    s = compare_ok(&a, &b, &d);
    CHECK(s.rtol == 0 && s.atol == 1);
    CHECK_EQ_INT(s.beyond_tol_count, 1); /* |98 - 100| = 2 */
    CHECK_EQ_INT(s.worst_index, 2);
    /* the relative-error floor: ref 0, got 1e-9 -> 1e-9 / max(0, floor) */
    memset(&d, 0, sizeof d);
    d.rel_floor = 1e-3;
    double r0[] = {0}, g0[] = {1e-9};
    nn_value v0 = vec_f64(r0, 1), w0 = vec_f64(g0, 1);
    s = compare_ok(&v0, &w0, &d);
    CHECK_NEAR(s.max_rel_err, 1e-6, 1e-18);
    s = compare_ok(&v0, &w0, NULL);
    CHECK_NEAR(s.max_rel_err, 1e-3, 1e-15); /* default floor 1e-6 */
}

static void test_nan_and_inf(void) {
    double r[] = {1, NAN}, g[] = {1, NAN};
    nn_value vr = vec_f64(r, 2), vg = vec_f64(g, 2);
    nn_verify_desc d;
    /* default: NaN never matches */
    nn_verify_stats s = compare_ok(&vr, &vg, NULL);
    CHECK_EQ_INT(s.nonfinite_count, 1);
    CHECK_EQ_INT(s.beyond_tol_count, 1);
    CHECK_EQ_INT(s.worst_index, 1);
    CHECK(!s.allclose);
    CHECK(isinf(s.mse) && isinf(s.max_abs_err) && isnan(s.cosine) && s.sqnr_db < 0);
    CHECK(!nn_verify_stats_within_peak(&s, 1e9));
    /* equal_nan: the NaN pair matches and leaves the sums */
    memset(&d, 0, sizeof d);
    d.nan_mode = NN_VERIFY_NAN_EQUAL;
    s = compare_ok(&vr, &vg, &d);
    CHECK(s.allclose && s.nonfinite_count == 0 && s.mse == 0);
    CHECK_NEAR(s.cosine, 1, 0);
    /* NaN on one side only is a mismatch in either mode */
    double g2[] = {NAN, 1};
    nn_value vg2 = vec_f64(g2, 2);
    s = compare_ok(&vr, &vg2, &d);
    CHECK_EQ_INT(s.nonfinite_count, 2);
    CHECK_EQ_INT(s.worst_index, 0);
    /* equal infinities match; a different one does not */
    double ri[] = {INFINITY, 2}, gi[] = {INFINITY, 2}, gj[] = {-INFINITY, 2};
    nn_value vri = vec_f64(ri, 2), vgi = vec_f64(gi, 2), vgj = vec_f64(gj, 2);
    s = compare_ok(&vri, &vgi, NULL);
    CHECK(s.allclose && s.mse == 0 && s.max_abs_ref == 2);
    s = compare_ok(&vri, &vgj, NULL);
    CHECK_EQ_INT(s.nonfinite_count, 1);
    /* a difference that overflows double is a mismatch, not a NaN in the sums */
    double rb[] = {-DBL_MAX}, gb[] = {DBL_MAX};
    nn_value vrb = vec_f64(rb, 1), vgb = vec_f64(gb, 1);
    s = compare_ok(&vrb, &vgb, NULL);
    CHECK_EQ_INT(s.nonfinite_count, 1);
}

static void test_extreme_magnitudes(void) {
    /* ref [1e200, 1e200], got [1e200, 2e200]: the squares overflow double
       but the ratios do not.  signal 2e400 / noise 1e400: 10 log10(2) =
       3.0103 dB; cosine (1+2)/(sqrt(2) sqrt(5)) = 3/sqrt(10); mse 1e400/2 is
       beyond double: +inf. */
    double r[] = {1e200, 1e200}, g[] = {1e200, 2e200};
    nn_value vr = vec_f64(r, 2), vg = vec_f64(g, 2);
    nn_verify_stats s = compare_ok(&vr, &vg, NULL);
    CHECK_NEAR(s.sqnr_db, 10 * log10(2.0), 1e-9);
    CHECK_NEAR(s.cosine, 3 / sqrt(10.0), 1e-12);
    CHECK(isinf(s.mse));
    CHECK_NEAR(s.mean_abs_err / 1e200, 0.5, 1e-12);
    /* ref [1e-200, 2e-200], got [1e-200, 3e-200]: squares underflow to 0
       but signal 5e-400 / noise 1e-400 = 5: 6.9897 dB. */
    double r2[] = {1e-200, 2e-200}, g2[] = {1e-200, 3e-200};
    nn_value vr2 = vec_f64(r2, 2), vg2 = vec_f64(g2, 2);
    s = compare_ok(&vr2, &vg2, NULL);
    CHECK_NEAR(s.sqnr_db, 10 * log10(5.0), 1e-9);
    CHECK(s.mse == 0 || s.mse < 1e-300); /* the true 5e-401 underflows */
    CHECK(isfinite(s.sqnr_db));
    /* subnormal maxima (found by fuzzing: 1/max overflowed): ref [-1], got
       [4.9e-324]: opposite signs, cosine -1; the error is ~|ref|: 0 dB. */
    double r3[] = {-1}, g3[] = {4.9406564584124654e-324};
    nn_value vr3 = vec_f64(r3, 1), vg3 = vec_f64(g3, 1);
    s = compare_ok(&vr3, &vg3, NULL);
    CHECK_NEAR(s.cosine, -1, 0);
    CHECK_NEAR(s.sqnr_db, 0, 1e-12);
    s = compare_ok(&vg3, &vg3, NULL);
    CHECK_NEAR(s.cosine, 1, 0);
    /* ref [1e308, 0], got [1e308, 4.9e-324]: max_ref / max_err overflows
       double, the SQNR does not: 20 log10(1e308 / 4.94e-324) = 12626.1 dB */
    double r4[] = {1e308, 0}, g4[] = {1e308, 4.9406564584124654e-324};
    nn_value vr4 = vec_f64(r4, 2), vg4 = vec_f64(g4, 2);
    s = compare_ok(&vr4, &vg4, NULL);
    CHECK(isfinite(s.sqnr_db));
    CHECK_NEAR(s.sqnr_db, 20 * (308 - log10(4.9406564584124654e-324)), 1e-6);
}

static void test_mixed_dtypes(void) {
    int64_t n = 3;
    /* float16 [0.5, -2, 65504] vs float32: exact */
    uint16_t h[] = {0x3800, 0xC000, 0x7BFF};
    float f[] = {0.5f, -2.0f, 65504.0f};
    nn_value vh = nn_value_make(NN_DTYPE_FLOAT16, nn_shape_make(1, &n), h);
    nn_value vf = make_f32(1, &n, f);
    nn_verify_stats s = compare_ok(&vh, &vf, NULL);
    CHECK(s.max_abs_err == 0 && s.allclose);
    /* bfloat16 0x3F80 = 1.0, 0xC040 = -3.0, 0x4049 = 3.140625 */
    uint16_t b[] = {0x3F80, 0xC040, 0x4049};
    double bd[] = {1.0, -3.0, 3.140625};
    nn_value vb = nn_value_make(NN_DTYPE_BFLOAT16, nn_shape_make(1, &n), b);
    nn_value vbd = vec_f64(bd, 3);
    s = compare_ok(&vb, &vbd, NULL);
    CHECK(s.max_abs_err == 0);
    /* int8 [-3, 4, 127] vs int64 [-3, 5, 127]: one error of 1 */
    int8_t i8[] = {-3, 4, 127};
    int64_t i64[] = {-3, 5, 127};
    nn_value v8 = nn_value_make(NN_DTYPE_INT8, nn_shape_make(1, &n), i8);
    nn_value v64 = nn_value_make(NN_DTYPE_INT64, nn_shape_make(1, &n), i64);
    s = compare_ok(&v8, &v64, NULL);
    CHECK_NEAR(s.max_abs_err, 1, 0);
    CHECK_EQ_INT(s.worst_index, 1);
    CHECK_NEAR(s.max_abs_ref, 127, 0);
    /* uint8 255, uint16 65535, uint32 4294967295, uint64 2^40 */
    uint8_t u8[] = {255, 0, 1};
    uint16_t u16[] = {255, 0, 1};
    nn_value vu8 = nn_value_make(NN_DTYPE_UINT8, nn_shape_make(1, &n), u8);
    nn_value vu16 = nn_value_make(NN_DTYPE_UINT16, nn_shape_make(1, &n), u16);
    s = compare_ok(&vu8, &vu16, NULL);
    CHECK(s.max_abs_err == 0 && s.max_abs_ref == 255);
    uint32_t u32[] = {4294967295u, 0, 1};
    uint64_t u64[] = {4294967295u, (uint64_t)1 << 40, 1};
    nn_value vu32 = nn_value_make(NN_DTYPE_UINT32, nn_shape_make(1, &n), u32);
    nn_value vu64 = nn_value_make(NN_DTYPE_UINT64, nn_shape_make(1, &n), u64);
    s = compare_ok(&vu32, &vu64, NULL);
    CHECK_NEAR(s.max_abs_err, 1099511627776.0, 0);
    /* int4 / uint4 packed low nibble first: byte 0x9F holds 0xF then 0x9:
       int4 -1, -7; uint4 15, 9 */
    uint8_t packed[] = {0x9F, 0x01};
    int64_t n4 = 3;
    double want_s[] = {-1, -7, 1}, want_u[] = {15, 9, 1};
    nn_value v4 = nn_value_make(NN_DTYPE_INT4, nn_shape_make(1, &n4), packed);
    nn_value vu4 = nn_value_make(NN_DTYPE_UINT4, nn_shape_make(1, &n4), packed);
    nn_value ws = vec_f64(want_s, 3), wu = vec_f64(want_u, 3);
    s = compare_ok(&v4, &ws, NULL);
    CHECK(s.max_abs_err == 0);
    s = compare_ok(&vu4, &wu, NULL);
    CHECK(s.max_abs_err == 0);
    /* bool: any non-zero byte is 1 */
    uint8_t bo[] = {0, 2, 1};
    double bw[] = {0, 1, 1};
    nn_value vbo = nn_value_make(NN_DTYPE_BOOL, nn_shape_make(1, &n), bo);
    nn_value vbw = vec_f64(bw, 3);
    s = compare_ok(&vbo, &vbw, NULL);
    CHECK(s.max_abs_err == 0);
    /* int16 / int32 / int64 negative extremes */
    int16_t i16[] = {-32768, 32767, 0};
    int32_t i32[] = {-32768, 32767, 0};
    nn_value v16 = nn_value_make(NN_DTYPE_INT16, nn_shape_make(1, &n), i16);
    nn_value v32 = nn_value_make(NN_DTYPE_INT32, nn_shape_make(1, &n), i32);
    s = compare_ok(&v16, &v32, NULL);
    CHECK(s.max_abs_err == 0 && s.max_abs_ref == 32768);
}

static void test_long_tensor_blocks(void) {
    /* 1000 elements cross the 256-element conversion blocks; ref i, got i
       except got[777] = 777 + 3: max err 3 at 777, mse 9/1000. */
    static float r[1000], g[1000];
    int64_t n = 1000;
    for (int i = 0; i < 1000; i++) r[i] = g[i] = (float)i;
    g[777] += 3;
    nn_value vr = make_f32(1, &n, r), vg = make_f32(1, &n, g);
    nn_verify_stats s = compare_ok(&vr, &vg, NULL);
    CHECK_EQ_INT(s.worst_index, 777);
    CHECK_NEAR(s.max_abs_err, 3, 0);
    CHECK_NEAR(s.mse, 9.0 / 1000, 1e-15);
    CHECK_NEAR(s.mean_abs_err, 3.0 / 1000, 1e-15);
    /* signal sum i^2 (i < 1000) = 999*1000*1999/6 = 332833500 over noise 9 */
    CHECK_NEAR(s.sqnr_db, 10 * log10(332833500.0 / 9.0), 1e-9);
}

static void test_compare_errors(void) {
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 2, 3, 4, 5, 6};
    int64_t d23[] = {2, 3}, d32[] = {3, 2}, d5[] = {5};
    nn_value va = make_f32(2, d23, a), vb = make_f32(2, d32, b), v5 = make_f32(1, d5, b);
    nn_verify_stats s, keep;
    nn_diag diag;
    nn_verify_desc d;
    memset(&s, 0x5A, sizeof s);
    memcpy(&keep, &s, sizeof s);
    memset(&diag, 0, sizeof diag);
    CHECK_STATUS(nn_verify_compare(&va, &vb, NULL, &s, &diag), NN_ERR_SHAPE);
    CHECK(diag.status == NN_ERR_SHAPE && strcmp(diag.where, "got") == 0);
    CHECK(memcmp(&s, &keep, sizeof s) == 0); /* untouched on failure */
    /* ignore_shape: same count compares flat */
    memset(&d, 0, sizeof d);
    d.ignore_shape = 1;
    s = compare_ok(&va, &vb, &d);
    CHECK(s.max_abs_err == 0 && s.count == 6);
    memset(&diag, 0, sizeof diag);
    CHECK_STATUS(nn_verify_compare(&va, &v5, &d, &s, &diag), NN_ERR_SHAPE);
    /* non-numeric dtype */
    nn_value vs = nn_value_make(NN_DTYPE_STRING, nn_shape_make(1, d5), a);
    memset(&diag, 0, sizeof diag);
    CHECK_STATUS(nn_verify_compare(&vs, &vs, NULL, &s, &diag), NN_ERR_UNSUPPORTED);
    CHECK(strcmp(diag.where, "ref") == 0);
    /* bytes too small for the shape */
    nn_value small = va;
    small.bytes = 8;
    memset(&diag, 0, sizeof diag);
    CHECK_STATUS(nn_verify_compare(&va, &small, NULL, &s, &diag), NN_ERR_INVALID);
    /* no data */
    nn_value nodata = va;
    nodata.data = NULL;
    memset(&diag, 0, sizeof diag);
    CHECK_STATUS(nn_verify_compare(&nodata, &va, NULL, &s, &diag), NN_ERR_ARG);
    /* dynamic shape */
    nn_value dyn = va;
    dyn.shape.dims[0] = NN_DIM_UNKNOWN;
    memset(&diag, 0, sizeof diag);
    CHECK_STATUS(nn_verify_compare(&dyn, &va, NULL, &s, &diag), NN_ERR_SHAPE);
}

static void test_within_peak(void) {
    /* ref [10, -20], got [10.1, -20]: max |err| 0.1 (to rounding), max |ref| 20:
       0.1 <= 0.01 * 20 = 0.2 holds; 0.1 <= 0.001 * 20 = 0.02 does not. */
    double r[] = {10, -20}, g[] = {10.1, -20};
    nn_value vr = vec_f64(r, 2), vg = vec_f64(g, 2);
    nn_verify_stats s = compare_ok(&vr, &vg, NULL);
    CHECK_NEAR(s.max_abs_ref, 20, 0);
    CHECK(nn_verify_stats_within_peak(&s, 0.01));
    CHECK(!nn_verify_stats_within_peak(&s, 0.001));
    /* all zero: 0 <= k * 0 */
    double z[] = {0, 0};
    nn_value vz = vec_f64(z, 2);
    s = compare_ok(&vz, &vz, NULL);
    CHECK(nn_verify_stats_within_peak(&s, 0));
}

static void test_crc32(void) {
    /* The check value of CRC-32/ISO-HDLC over "123456789" is 0xCBF43926. */
    CHECK(nn_verify_crc32(0, "123456789", 9) == 0xCBF43926u);
    CHECK(nn_verify_crc32(nn_verify_crc32(0, "1234", 4), "56789", 5) == 0xCBF43926u);
    CHECK(nn_verify_crc32(0, "", 0) == 0);
}

static void sha_hex(const void *p, size_t n, char out[65]) {
    nn_verify_sha256 s;
    nn_verify_sha256_init(&s);
    nn_verify_sha256_update(&s, p, n);
    nn_verify_sha256_final(&s, out);
}

static void test_sha256(void) {
    /* FIPS 180-4 examples (NIST CSRC "SHA256.pdf"): "abc", the 448-bit
       two-block message, and the empty string's well-known digest. */
    char h[65];
    sha_hex("abc", 3, h);
    CHECK(strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_hex(m, strlen(m), h);
    CHECK(strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
    sha_hex("", 0, h);
    CHECK(strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    /* Fed in uneven pieces: the same digest as in one piece. */
    nn_verify_sha256 s;
    char h2[65];
    nn_verify_sha256_init(&s);
    for (size_t i = 0; i < strlen(m); i += 7) nn_verify_sha256_update(&s, m + i, strlen(m) - i < 7 ? strlen(m) - i : 7);
    nn_verify_sha256_final(&s, h2);
    CHECK(strcmp(h2, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
    /* A file, against coreutils' sha256sum when it is there. */
    char path[300], cmd[700];
    snprintf(path, sizeof path, "%s/sha.bin", g_tmp);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    for (int i = 0; i < 100000; i++) fputc((i * 131) & 0xFF, f);
    fclose(f);
    nn_diag d = {0};
    CHECK_STATUS(nn_verify_sha256_file(path, h, &d), NN_OK);
    snprintf(cmd, sizeof cmd, "sha256sum '%s' 2>/dev/null | cut -c1-64", path);
    FILE *p = popen(cmd, "r");
    char want[80] = {0};
    if (p && fgets(want, sizeof want, p) && strlen(want) >= 64) {
        want[64] = 0;
        CHECK(strcmp(h, want) == 0);
    }
    if (p) pclose(p);
    snprintf(path, sizeof path, "%s/missing.bin", g_tmp);
    CHECK_STATUS(nn_verify_sha256_file(path, h, &d), NN_ERR_IO);
}

/* ---- .npy ------------------------------------------------------------------------- */

static const nn_dtype g_npy_types[] = {NN_DTYPE_FLOAT,  NN_DTYPE_DOUBLE, NN_DTYPE_FLOAT16, NN_DTYPE_INT8,
                                       NN_DTYPE_INT16,  NN_DTYPE_INT32,  NN_DTYPE_INT64,   NN_DTYPE_UINT8,
                                       NN_DTYPE_UINT16, NN_DTYPE_UINT32, NN_DTYPE_UINT64,  NN_DTYPE_BOOL};
#define NPY_TYPE_COUNT (sizeof g_npy_types / sizeof g_npy_types[0])

/* Fills a (3,4) value of type t with the pattern the numpy fixtures use:
   element i is (i % 7) - 3 (unsigned: i % 7; floats: ((i % 7) - 3) / 4;
   bool: i % 3 == 0). */
static void fill_pattern(nn_dtype t, void *data) {
    unsigned char *p = (unsigned char *)data;
    for (int i = 0; i < 12; i++) {
        int s = i % 7 - 3, u = i % 7;
        switch (t) {
        case NN_DTYPE_FLOAT: { float v = (float)s / 4; memcpy(p + 4 * i, &v, 4); } break;
        case NN_DTYPE_DOUBLE: { double v = (double)s / 4; memcpy(p + 8 * i, &v, 8); } break;
        case NN_DTYPE_FLOAT16: { uint16_t v = nn_f32_to_f16((float)s / 4); memcpy(p + 2 * i, &v, 2); } break;
        case NN_DTYPE_INT8: { int8_t v = (int8_t)s; memcpy(p + i, &v, 1); } break;
        case NN_DTYPE_INT16: { int16_t v = (int16_t)s; memcpy(p + 2 * i, &v, 2); } break;
        case NN_DTYPE_INT32: { int32_t v = s; memcpy(p + 4 * i, &v, 4); } break;
        case NN_DTYPE_INT64: { int64_t v = s; memcpy(p + 8 * i, &v, 8); } break;
        case NN_DTYPE_UINT8: p[i] = (unsigned char)u; break;
        case NN_DTYPE_UINT16: { uint16_t v = (uint16_t)u; memcpy(p + 2 * i, &v, 2); } break;
        case NN_DTYPE_UINT32: { uint32_t v = (uint32_t)u; memcpy(p + 4 * i, &v, 4); } break;
        case NN_DTYPE_UINT64: { uint64_t v = (uint64_t)u; memcpy(p + 8 * i, &v, 8); } break;
        case NN_DTYPE_BOOL: p[i] = i % 3 == 0; break;
        default: break;
        }
    }
}

/* 1 when v is the (3,4) pattern of type t. */
static int is_pattern(const nn_value *v, nn_dtype t) {
    unsigned char want[96];
    if (v->dtype != t || v->shape.rank != 2 || v->shape.dims[0] != 3 || v->shape.dims[1] != 4) return 0;
    fill_pattern(t, want);
    return v->bytes == 12 * nn_dtype_size(t) && memcmp(v->data, want, v->bytes) == 0;
}

static void test_npy_round_trip_all_dtypes(void) {
    int64_t dims[] = {3, 4};
    char path[512];
    for (size_t k = 0; k < NPY_TYPE_COUNT; k++) {
        nn_dtype t = g_npy_types[k];
        unsigned char data[96], buf[512];
        size_t n = 0;
        nn_diag d;
        nn_value v = nn_value_make(t, nn_shape_make(2, dims), data), back;
        fill_pattern(t, data);
        memset(&d, 0, sizeof d);
        /* memory */
        CHECK_STATUS(nn_verify_save_npy_memory(&v, buf, sizeof buf, &n, &d), NN_OK);
        CHECK_EQ_INT(n, 128 + 12 * nn_dtype_size(t));
        CHECK_STATUS(nn_verify_load_npy_memory(buf, n, "rt.npy", &back, NULL, &d), NN_OK);
        CHECK(is_pattern(&back, t));
        nn_verify_value_free(&back, NULL);
        /* file */
        char name[64];
        snprintf(name, sizeof name, "rt_%s.npy", nn_dtype_name(t));
        tmp_path(path, sizeof path, name);
        CHECK_STATUS(nn_verify_save_npy_file(path, &v, &d), NN_OK);
        CHECK_STATUS(nn_verify_load_npy_file(path, &back, NULL, &d), NN_OK);
        CHECK(is_pattern(&back, t));
        nn_verify_value_free(&back, NULL);
        if (d.status) fprintf(stderr, "  %s: %s\n", d.where, d.message);
    }
}

static void test_npy_header_bytes(void) {
    /* The header numpy writes for float32 (2, 3): 10-byte preamble, dict,
       space padding and '\n' up to 128 bytes. */
    float data[6] = {0, 1, 2, 3, 4, 5};
    int64_t dims[] = {2, 3};
    nn_value v = make_f32(2, dims, data);
    unsigned char buf[256];
    size_t n;
    nn_diag d;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_save_npy_memory(&v, buf, sizeof buf, &n, &d), NN_OK);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    CHECK_EQ_INT(n, 128 + 24);
    CHECK(memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0);
    CHECK_EQ_INT(buf[8] | (buf[9] << 8), 118);
    CHECK(memcmp(buf + 10, dict, strlen(dict)) == 0);
    CHECK(buf[127] == '\n' && buf[126] == ' ');
    /* size query and a buffer that is too small */
    size_t q = 0;
    CHECK_STATUS(nn_verify_save_npy_memory(&v, NULL, 0, &q, &d), NN_OK);
    CHECK_EQ_INT(q, n);
    CHECK_STATUS(nn_verify_save_npy_memory(&v, buf, 100, &q, &d), NN_ERR_LIMIT);
    /* rank 1 and rank 0 tuples */
    int64_t d3 = 3;
    nn_value v1 = make_f32(1, &d3, data), v0 = make_f32(0, NULL, data);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_save_npy_memory(&v1, buf, sizeof buf, &n, &d), NN_OK);
    CHECK(strstr((char *)buf + 10, "'shape': (3,), }") != NULL);
    CHECK_STATUS(nn_verify_save_npy_memory(&v0, buf, sizeof buf, &n, &d), NN_OK);
    CHECK(strstr((char *)buf + 10, "'shape': (), }") != NULL);
}

static void test_npy_shapes(void) {
    unsigned char buf[512];
    size_t n;
    nn_diag d;
    nn_value back;
    memset(&d, 0, sizeof d);
    /* 0-d */
    double x = 2.5;
    nn_value v0 = nn_value_make(NN_DTYPE_DOUBLE, nn_shape_make(0, NULL), &x);
    CHECK_STATUS(nn_verify_save_npy_memory(&v0, buf, sizeof buf, &n, &d), NN_OK);
    CHECK_STATUS(nn_verify_load_npy_memory(buf, n, NULL, &back, NULL, &d), NN_OK);
    CHECK(back.shape.rank == 0 && back.bytes == 8 && *(double *)back.data == 2.5);
    nn_verify_value_free(&back, NULL);
    /* zero elements */
    int64_t dz[] = {0, 3};
    nn_value vz = make_f32(2, dz, NULL);
    CHECK_STATUS(nn_verify_save_npy_memory(&vz, buf, sizeof buf, &n, &d), NN_OK);
    CHECK_STATUS(nn_verify_load_npy_memory(buf, n, NULL, &back, NULL, &d), NN_OK);
    CHECK(back.shape.rank == 2 && back.shape.dims[0] == 0 && back.shape.dims[1] == 3 && back.bytes == 0);
    nn_verify_value_free(&back, NULL);
    /* rank NN_MAX_RANK */
    int64_t d8[NN_MAX_RANK];
    for (int i = 0; i < NN_MAX_RANK; i++) d8[i] = i == 3 ? 2 : 1;
    int16_t two[2] = {-5, 7};
    nn_value v8 = nn_value_make(NN_DTYPE_INT16, nn_shape_make(NN_MAX_RANK, d8), two);
    CHECK_STATUS(nn_verify_save_npy_memory(&v8, buf, sizeof buf, &n, &d), NN_OK);
    CHECK_STATUS(nn_verify_load_npy_memory(buf, n, NULL, &back, NULL, &d), NN_OK);
    CHECK(back.shape.rank == NN_MAX_RANK && back.shape.dims[3] == 2 && memcmp(back.data, two, 4) == 0);
    nn_verify_value_free(&back, NULL);
    /* bool bytes other than 0/1 are written and read back as 1 */
    uint8_t b[] = {0, 7, 1};
    int64_t d3 = 3;
    nn_value vb = nn_value_make(NN_DTYPE_BOOL, nn_shape_make(1, &d3), b);
    CHECK_STATUS(nn_verify_save_npy_memory(&vb, buf, sizeof buf, &n, &d), NN_OK);
    CHECK(buf[n - 2] == 1);
    CHECK_STATUS(nn_verify_load_npy_memory(buf, n, NULL, &back, NULL, &d), NN_OK);
    CHECK(((uint8_t *)back.data)[1] == 1);
    nn_verify_value_free(&back, NULL);
}

static void test_npy_save_refusals(void) {
    char path[512], tmp[520];
    uint16_t bf[2] = {0x3F80, 0x4000};
    int64_t d2 = 2;
    nn_value v = nn_value_make(NN_DTYPE_BFLOAT16, nn_shape_make(1, &d2), bf);
    nn_diag d;
    memset(&d, 0, sizeof d);
    tmp_path(path, sizeof path, "bf16.npy");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK_STATUS(nn_verify_save_npy_file(path, &v, &d), NN_ERR_UNSUPPORTED);
    CHECK(!file_exists(path) && !file_exists(tmp));
    /* int4 and dynamic shapes */
    nn_value v4 = nn_value_make(NN_DTYPE_INT4, nn_shape_make(1, &d2), bf);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_save_npy_file(path, &v4, &d), NN_ERR_UNSUPPORTED);
    float f[2] = {1, 2};
    int64_t dyn = NN_DIM_UNKNOWN;
    nn_value vd = make_f32(1, &dyn, f);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_save_npy_file(path, &vd, &d), NN_ERR_SHAPE);
    /* a directory that does not exist */
    nn_value vf = make_f32(1, &d2, f);
    tmp_path(path, sizeof path, "no/such/dir/x.npy");
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_save_npy_file(path, &vf, &d), NN_ERR_IO);
    /* saving over an existing file replaces it whole */
    tmp_path(path, sizeof path, "replace.npy");
    CHECK(write_all(path, "old contents", 12));
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_save_npy_file(path, &vf, &d), NN_OK);
    nn_value back;
    CHECK_STATUS(nn_verify_load_npy_file(path, &back, NULL, &d), NN_OK);
    CHECK(back.bytes == 8 && memcmp(back.data, f, 8) == 0);
    nn_verify_value_free(&back, NULL);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!file_exists(tmp));
    /* loading a missing file */
    memset(&d, 0, sizeof d);
    tmp_path(path, sizeof path, "missing.npy");
    CHECK_STATUS(nn_verify_load_npy_file(path, &back, NULL, &d), NN_ERR_IO);
    CHECK(strstr(d.where, "missing.npy") != NULL);
    /* a directory opens on some systems but does not read */
    nn_verify_npz z;
    memset(&d, 0, sizeof d);
    CHECK(nn_verify_load_npy_file(g_tmp, &back, NULL, &d) != NN_OK && d.status != NN_OK);
    memset(&d, 0, sizeof d);
    CHECK(nn_verify_load_npz_file(g_tmp, &z, NULL, &d) != NN_OK && d.status != NN_OK);
}

/* Builds an .npy of the given version around a header dict and data. */
static size_t make_npy(unsigned char *out, int major, const char *dict, const void *data, size_t data_bytes) {
    size_t hl = strlen(dict), pre = major == 1 ? 10 : 12;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    out[8] = (unsigned char)hl;
    out[9] = (unsigned char)(hl >> 8);
    if (major != 1) {
        out[10] = (unsigned char)(hl >> 16);
        out[11] = (unsigned char)(hl >> 24);
    }
    memcpy(out + pre, dict, hl);
    if (data_bytes) memcpy(out + pre + hl, data, data_bytes);
    return pre + hl + data_bytes;
}

/* Loads an .npy built from dict and n data bytes; returns the status and
   leaves the diag in *d. */
static nn_status load_dict(const char *dict, size_t data_bytes, nn_diag *d) {
    static unsigned char buf[1 << 12], data[1 << 10];
    nn_value v;
    memset(d, 0, sizeof *d);
    size_t n = make_npy(buf, 1, dict, data, data_bytes);
    nn_status st = nn_verify_load_npy_memory(buf, n, "hostile.npy", &v, NULL, d);
    if (st == NN_OK) nn_verify_value_free(&v, NULL);
    return st;
}

static void test_npy_hostile_headers(void) {
    nn_diag d;
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
    CHECK_STATUS(load_dict(good, 8, &d), NN_OK);
    /* forms numpy or Python accept */
    CHECK_STATUS(load_dict("{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(2,)}", 8, &d), NN_OK);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }\n", 8, &d), NN_OK);
    CHECK_STATUS(load_dict("{'shape': (1, 2), 'fortran_order': False, 'descr': '>f4'}   \n", 8, &d), NN_OK);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1,), }", 8, &d), NN_OK);
    /* data size */
    CHECK_STATUS(load_dict(good, 7, &d), NN_ERR_PARSE);
    CHECK(strcmp(d.where, "hostile.npy: data") == 0);
    CHECK_STATUS(load_dict(good, 9, &d), NN_ERR_PARSE);
    /* dictionary syntax */
    CHECK_STATUS(load_dict("", 0, &d), NN_ERR_PARSE);
    CHECK(strcmp(d.where, "hostile.npy: header") == 0);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False}", 0, &d), NN_ERR_PARSE);
    CHECK(strstr(d.message, "shape") != NULL);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8, &d),
                 NN_ERR_PARSE);
    CHECK(strcmp(d.where, "hostile.npy: header.x") == 0);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8, &d),
                 NN_ERR_PARSE);
    CHECK_STATUS(load_dict("{'descr: '<f4', 'fortran_order': False, 'shape': (2,)}", 8, &d), NN_ERR_PARSE);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", 8, &d), NN_ERR_PARSE);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", 8, &d), NN_ERR_PARSE);
    CHECK_STATUS(load_dict("{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", 8, &d), NN_ERR_PARSE);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': Flase, 'shape': (2,)}", 8, &d), NN_ERR_PARSE);
    CHECK(strcmp(d.where, "hostile.npy: header.fortran_order") == 0);
    CHECK_STATUS(load_dict("{'descr': '<\\f4', 'fortran_order': False, 'shape': (2,)}", 8, &d), NN_ERR_PARSE);
    CHECK_STATUS(load_dict("{'descr': 4, 'fortran_order': False, 'shape': (2,)}", 8, &d), NN_ERR_PARSE);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", 8, &d), NN_ERR_PARSE);
    /* shapes */
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", 0, &d), NN_ERR_PARSE);
    CHECK(strcmp(d.where, "hostile.npy: header.shape") == 0);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 0, &d),
                 NN_ERR_PARSE);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16)}", 0,
                           &d),
                 NN_ERR_PARSE);
    CHECK(strcmp(d.where, "hostile.npy: header.shape") == 0);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807,)}", 0, &d),
                 NN_ERR_PARSE);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", 8, &d), NN_ERR_PARSE);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,,)}", 8, &d), NN_ERR_PARSE);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", 4, &d),
                 NN_ERR_LIMIT);
    /* dtypes and layout we do not handle */
    CHECK_STATUS(load_dict("{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", 8, &d), NN_ERR_UNSUPPORTED);
    CHECK(strcmp(d.where, "hostile.npy: header.descr") == 0);
    CHECK_STATUS(load_dict("{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", 8, &d), NN_ERR_UNSUPPORTED);
    CHECK_STATUS(load_dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", 4, &d),
                 NN_ERR_UNSUPPORTED);
    CHECK_STATUS(load_dict("{'descr': '|f4', 'fortran_order': False, 'shape': (1,)}", 4, &d), NN_ERR_PARSE);
    CHECK_STATUS(load_dict("{'descr': '!f4', 'fortran_order': False, 'shape': (1,)}", 4, &d), NN_ERR_PARSE);
    CHECK_STATUS(load_dict("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2)}", 16, &d), NN_ERR_UNSUPPORTED);
    CHECK(strcmp(d.where, "hostile.npy: header.fortran_order") == 0);
    /* 1-byte types in every byte order spelling */
    CHECK_STATUS(load_dict("{'descr': '<i1', 'fortran_order': False, 'shape': (2,)}", 2, &d), NN_OK);
    CHECK_STATUS(load_dict("{'descr': '<u1', 'fortran_order': False, 'shape': (2,)}", 2, &d), NN_OK);
    CHECK_STATUS(load_dict("{'descr': '=b1', 'fortran_order': False, 'shape': (2,)}", 2, &d), NN_OK);
}

static void test_npy_hostile_preamble(void) {
    static unsigned char buf[80000];
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}";
    float one = 1;
    nn_value v;
    nn_diag d;
    size_t n = make_npy(buf, 1, dict, &one, 4);
    /* bad magic */
    buf[1] = 'X';
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_load_npy_memory(buf, n, "p.npy", &v, NULL, &d), NN_ERR_PARSE);
    CHECK(strcmp(d.where, "p.npy: magic") == 0);
    buf[1] = 'N';
    /* versions */
    buf[6] = 4;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_load_npy_memory(buf, n, "p.npy", &v, NULL, &d), NN_ERR_UNSUPPORTED);
    CHECK(strcmp(d.where, "p.npy: version") == 0);
    buf[6] = 1;
    buf[7] = 1;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_load_npy_memory(buf, n, "p.npy", &v, NULL, &d), NN_ERR_UNSUPPORTED);
    buf[7] = 0;
    /* header length beyond the file */
    buf[8] = 0xFF;
    buf[9] = 0xFF;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_load_npy_memory(buf, n, "p.npy", &v, NULL, &d), NN_ERR_PARSE);
    CHECK(strcmp(d.where, "p.npy: header_len") == 0);
    /* too short for a preamble */
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_load_npy_memory(buf, 5, "p.npy", &v, NULL, &d), NN_ERR_PARSE);
    CHECK_STATUS(nn_verify_load_npy_memory(NULL, 0, "p.npy", &v, NULL, &d), NN_ERR_PARSE);
    /* version 2.0 and 3.0 */
    n = make_npy(buf, 2, dict, &one, 4);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_load_npy_memory(buf, n, "p.npy", &v, NULL, &d), NN_OK);
    CHECK(v.dtype == NN_DTYPE_FLOAT && *(float *)v.data == 1);
    nn_verify_value_free(&v, NULL);
    buf[6] = 3;
    CHECK_STATUS(nn_verify_load_npy_memory(buf, n, "p.npy", &v, NULL, &d), NN_OK);
    nn_verify_value_free(&v, NULL);
    buf[10] = buf[11] = 0xFF; /* 4 GiB header */
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_load_npy_memory(buf, n, "p.npy", &v, NULL, &d), NN_ERR_PARSE);
    CHECK_STATUS(nn_verify_load_npy_memory(buf, 11, "p.npy", &v, NULL, &d), NN_ERR_PARSE);
    /* a header longer than NN_MAX_NPY_HEADER_BYTES that the file does hold */
    char *big = (char *)malloc(70001);
    memset(big, ' ', 70000);
    memcpy(big, dict, strlen(dict));
    big[70000] = 0;
    n = make_npy(buf, 2, big, &one, 4);
    free(big);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_load_npy_memory(buf, n, "p.npy", &v, NULL, &d), NN_ERR_LIMIT);
}

/* Every prefix of a valid file must be refused, never crash. */
static void test_npy_truncation(void) {
    float data[6] = {1, 2, 3, 4, 5, 6};
    int64_t dims[] = {2, 3};
    nn_value v = make_f32(2, dims, data), back;
    unsigned char buf[256];
    size_t n;
    nn_diag d;
    int refused = 0;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_save_npy_memory(&v, buf, sizeof buf, &n, &d), NN_OK);
    for (size_t len = 0; len < n; len++) {
        unsigned char *copy = (unsigned char *)malloc(len ? len : 1); /* exact size: ASan sees overreads */
        memcpy(copy, buf, len);
        memset(&d, 0, sizeof d);
        nn_status st = nn_verify_load_npy_memory(copy, len, "t.npy", &back, NULL, &d);
        refused += st != NN_OK && d.status == st;
        if (st == NN_OK) nn_verify_value_free(&back, NULL);
        free(copy);
    }
    CHECK_EQ_INT(refused, n);
    /* the same through files */
    char path[512];
    tmp_path(path, sizeof path, "trunc.npy");
    refused = 0;
    for (size_t len = 0; len < n; len += 7) {
        CHECK(write_all(path, buf, len));
        memset(&d, 0, sizeof d);
        nn_status st = nn_verify_load_npy_file(path, &back, NULL, &d);
        refused += st == NN_ERR_PARSE;
        if (st == NN_OK) nn_verify_value_free(&back, NULL);
    }
    CHECK_EQ_INT(refused, (n + 6) / 7);
}

static uint32_t g_rng = 12345u;
static uint32_t rng(void) {
    g_rng = g_rng * 1664525u + 1013904223u; /* Numerical Recipes LCG */
    return g_rng >> 8;
}

/* Flips random bytes of a valid input 200 times; each load must return a
   status (under ASan: without touching memory it should not). */
static void flip_bytes(const unsigned char *orig, size_t n, int npz) {
    int statuses = 0;
    unsigned char *copy = (unsigned char *)malloc(n);
    for (int round = 0; round < 200; round++) {
        memcpy(copy, orig, n);
        int flips = 1 + (int)(rng() % 4);
        for (int k = 0; k < flips; k++) copy[rng() % n] ^= (unsigned char)(1u << (rng() % 8));
        nn_diag d;
        memset(&d, 0, sizeof d);
        test_alloc ta;
        memset(&ta, 0, sizeof ta);
        nn_allocator al = counting(&ta);
        nn_status st;
        if (npz) {
            nn_verify_npz z;
            st = nn_verify_load_npz_memory(copy, n, "flip.npz", &z, &al, &d);
            if (st == NN_OK) nn_verify_npz_free(&z);
        } else {
            nn_value v;
            st = nn_verify_load_npy_memory(copy, n, "flip.npy", &v, &al, &d);
            if (st == NN_OK) nn_verify_value_free(&v, &al);
        }
        statuses += (st == NN_OK || d.status == st) && ta.live == 0;
    }
    free(copy);
    CHECK_EQ_INT(statuses, 200);
}

static void test_npy_random_flips(void) {
    double data[16];
    int64_t dims[] = {4, 4};
    for (int i = 0; i < 16; i++) data[i] = i * 0.5;
    nn_value v = nn_value_make(NN_DTYPE_DOUBLE, nn_shape_make(2, dims), data);
    unsigned char buf[512];
    size_t n;
    nn_diag d;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_save_npy_memory(&v, buf, sizeof buf, &n, &d), NN_OK);
    flip_bytes(buf, n, 0);
    /* flips confined to the header hit the parser harder */
    int statuses = 0;
    for (int round = 0; round < 200; round++) {
        unsigned char copy[512];
        memcpy(copy, buf, n);
        copy[rng() % 128] = (unsigned char)rng();
        nn_value back;
        memset(&d, 0, sizeof d);
        nn_status st = nn_verify_load_npy_memory(copy, n, "flip.npy", &back, NULL, &d);
        statuses += st == NN_OK || d.status == st;
        if (st == NN_OK) nn_verify_value_free(&back, NULL);
    }
    CHECK_EQ_INT(statuses, 200);
}

static void test_npy_alloc_failures(void) {
    int64_t dims[] = {3, 4};
    unsigned char data[48], buf[512];
    size_t n;
    nn_diag d;
    char path[512];
    nn_value v = nn_value_make(NN_DTYPE_INT32, nn_shape_make(2, dims), data), back;
    fill_pattern(NN_DTYPE_INT32, data);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_save_npy_memory(&v, buf, sizeof buf, &n, &d), NN_OK);
    tmp_path(path, sizeof path, "alloc.npy");
    CHECK_STATUS(nn_verify_save_npy_file(path, &v, &d), NN_OK);
    for (int file = 0; file < 2; file++) {
        int ok = 0;
        for (long fail_at = 1; fail_at < 10 && !ok; fail_at++) {
            test_alloc ta;
            memset(&ta, 0, sizeof ta);
            ta.fail_at = fail_at;
            nn_allocator al = counting(&ta);
            memset(&d, 0, sizeof d);
            nn_status st = file ? nn_verify_load_npy_file(path, &back, &al, &d)
                                : nn_verify_load_npy_memory(buf, n, NULL, &back, &al, &d);
            if (st == NN_OK) {
                ok = 1;
                CHECK(is_pattern(&back, NN_DTYPE_INT32));
                nn_verify_value_free(&back, &al);
            } else {
                CHECK_STATUS(st, NN_ERR_NOMEM);
            }
            CHECK_EQ_INT(ta.live, 0);
        }
        CHECK(ok);
    }
}

/* ---- .npz ------------------------------------------------------------------------- */

static void test_npz_round_trip(void) {
    char path[512];
    float f[6] = {1.5f, -2, 3, 4, 5, 6};
    int64_t i64[2] = {-9000000000LL, 42};
    uint8_t b[3] = {1, 0, 1};
    double s = 3.25;
    int64_t d23[] = {2, 3}, d2 = 2, d3 = 3;
    nn_value vals[4];
    const char *names[4] = {"conv1/weight", "ids", "mask\xc3\xa9", "scalar"};
    vals[0] = make_f32(2, d23, f);
    vals[1] = nn_value_make(NN_DTYPE_INT64, nn_shape_make(1, &d2), i64);
    vals[2] = nn_value_make(NN_DTYPE_BOOL, nn_shape_make(1, &d3), b);
    vals[3] = nn_value_make(NN_DTYPE_DOUBLE, nn_shape_make(0, NULL), &s);
    nn_diag d;
    memset(&d, 0, sizeof d);
    tmp_path(path, sizeof path, "ours.npz");
    CHECK_STATUS(nn_verify_save_npz_file(path, names, vals, 4, &d), NN_OK);
    nn_verify_npz z;
    CHECK_STATUS(nn_verify_load_npz_file(path, &z, NULL, &d), NN_OK);
    CHECK_EQ_INT(z.count, 4);
    CHECK_EQ_INT(z.skipped_count, 0);
    for (int i = 0; i < 4; i++) {
        const nn_value *v = nn_verify_npz_find(&z, names[i]);
        CHECK(v != NULL && strcmp(z.names[i], names[i]) == 0);
        if (!v) continue;
        CHECK(v->dtype == vals[i].dtype && nn_shape_equal(&v->shape, &vals[i].shape) && v->bytes == vals[i].bytes);
        CHECK(memcmp(v->data, vals[i].data, v->bytes) == 0);
    }
    CHECK(nn_verify_npz_find(&z, "nope") == NULL);
    CHECK(nn_verify_npz_find(&z, "conv1/weight.npy") == NULL);
    nn_verify_npz_free(&z);
    CHECK(z.count == 0 && z.names == NULL);
    /* deterministic: the same arrays give the same bytes */
    char path2[512];
    size_t n1, n2;
    tmp_path(path2, sizeof path2, "ours2.npz");
    CHECK_STATUS(nn_verify_save_npz_file(path2, names, vals, 4, &d), NN_OK);
    unsigned char *a = read_all(path, &n1), *c = read_all(path2, &n2);
    CHECK(a && c && n1 == n2 && memcmp(a, c, n1) == 0);
    /* the UTF-8 name carries general purpose flag bit 11 (APPNOTE 4.4.4) */
    CHECK(a && a[0] == 'P' && a[1] == 'K');
    for (size_t i = 30; a && i + 9 < n1; i++)
        if (memcmp(a + i, "mask\xc3\xa9.npy", 10) == 0) {
            CHECK((a[i - 30 + 7] & 0x08) != 0);
            break;
        }
    free(a);
    free(c);
    /* an empty archive is the 22-byte end record alone */
    tmp_path(path, sizeof path, "empty.npz");
    CHECK_STATUS(nn_verify_save_npz_file(path, NULL, NULL, 0, &d), NN_OK);
    a = read_all(path, &n1);
    CHECK(n1 == 22);
    CHECK_STATUS(nn_verify_load_npz_memory(a, n1, "empty.npz", &z, NULL, &d), NN_OK);
    CHECK(z.count == 0);
    nn_verify_npz_free(&z);
    free(a);
    if (d.status) fprintf(stderr, "  %s: %s\n", d.where, d.message);
}

static void test_npz_save_refusals(void) {
    char path[512], tmp[520];
    float f[2] = {1, 2};
    uint16_t bf[2] = {0x3F80, 0x4000};
    int64_t d2 = 2;
    nn_value vals[2];
    const char *dup[2] = {"a", "a"}, *names[2] = {"a", "b"};
    vals[0] = make_f32(1, &d2, f);
    vals[1] = nn_value_make(NN_DTYPE_BFLOAT16, nn_shape_make(1, &d2), bf);
    nn_diag d;
    tmp_path(path, sizeof path, "refused.npz");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_save_npz_file(path, dup, vals, 1 + 1, &d), NN_ERR_ARG);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_save_npz_file(path, names, vals, 2, &d), NN_ERR_UNSUPPORTED);
    CHECK(!file_exists(path) && !file_exists(tmp));
    tmp_path(path, sizeof path, "no/dir/x.npz");
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_save_npz_file(path, names, vals, 1, &d), NN_ERR_IO);
}

/* Writes a small stored archive with two members and returns its bytes. */
static unsigned char *small_npz(size_t *n) {
    char path[512];
    float f[4] = {1, 2, 3, 4};
    int16_t s[3] = {-1, 0, 1};
    int64_t d4 = 4, d3 = 3;
    nn_value vals[2];
    const char *names[2] = {"a", "bb"};
    vals[0] = make_f32(1, &d4, f);
    vals[1] = nn_value_make(NN_DTYPE_INT16, nn_shape_make(1, &d3), s);
    nn_diag d;
    memset(&d, 0, sizeof d);
    tmp_path(path, sizeof path, "small.npz");
    if (nn_verify_save_npz_file(path, names, vals, 2, &d) != NN_OK) return NULL;
    return read_all(path, n);
}

static size_t find_sig(const unsigned char *p, size_t n, uint32_t sig, size_t from) {
    for (size_t i = from; i + 4 <= n; i++)
        if ((uint32_t)(p[i] | (p[i + 1] << 8) | (p[i + 2] << 16) | ((uint32_t)p[i + 3] << 24)) == sig) return i;
    return (size_t)-1;
}

static nn_status load_npz_bytes(const unsigned char *p, size_t n, nn_diag *d) {
    nn_verify_npz z;
    memset(d, 0, sizeof *d);
    nn_status st = nn_verify_load_npz_memory(p, n, "h.npz", &z, NULL, d);
    if (st == NN_OK) nn_verify_npz_free(&z);
    return st;
}

static void test_npz_hostile(void) {
    size_t n;
    unsigned char *orig = small_npz(&n), *p;
    nn_diag d;
    CHECK(orig != NULL);
    if (!orig) return;
    p = (unsigned char *)malloc(n + 64);
    size_t cd = find_sig(orig, n, 0x02014b50u, 0), end = find_sig(orig, n, 0x06054b50u, 0);
    CHECK(cd != (size_t)-1 && end == n - 22);
    CHECK_STATUS(load_npz_bytes(orig, n, &d), NN_OK);
    /* a flipped data byte: CRC-32 mismatch, named by member */
    memcpy(p, orig, n);
    p[30 + 5 + 128 + 2] ^= 0x40; /* inside member a's float data */
    CHECK_STATUS(load_npz_bytes(p, n, &d), NN_ERR_PARSE);
    CHECK(strcmp(d.where, "h.npz: a.npy") == 0 && strstr(d.message, "CRC") != NULL);
    /* compression method 12 (bzip2) */
    memcpy(p, orig, n);
    p[cd + 10] = 12;
    CHECK_STATUS(load_npz_bytes(p, n, &d), NN_ERR_UNSUPPORTED);
    /* encrypted */
    memcpy(p, orig, n);
    p[cd + 8] |= 1;
    CHECK_STATUS(load_npz_bytes(p, n, &d), NN_ERR_UNSUPPORTED);
    /* sizes deferred to zip64 */
    memcpy(p, orig, n);
    memset(p + cd + 20, 0xFF, 8);
    CHECK_STATUS(load_npz_bytes(p, n, &d), NN_ERR_UNSUPPORTED);
    /* a zip64 end locator before the end record */
    memcpy(p, orig, end);
    memset(p + end, 0, 20);
    p[end] = 0x50, p[end + 1] = 0x4b, p[end + 2] = 0x06, p[end + 3] = 0x07;
    memcpy(p + end + 20, orig + end, 22);
    CHECK_STATUS(load_npz_bytes(p, n + 20, &d), NN_ERR_UNSUPPORTED);
    /* multi-disk */
    memcpy(p, orig, n);
    p[end + 4] = 1;
    CHECK_STATUS(load_npz_bytes(p, n, &d), NN_ERR_UNSUPPORTED);
    /* central directory offset beyond the file; entry count too large */
    memcpy(p, orig, n);
    p[end + 19] = 0x7F;
    CHECK_STATUS(load_npz_bytes(p, n, &d), NN_ERR_PARSE);
    memcpy(p, orig, n);
    p[end + 8] = p[end + 10] = 200;
    CHECK_STATUS(load_npz_bytes(p, n, &d), NN_ERR_PARSE);
    /* local header offset pointing nowhere */
    memcpy(p, orig, n);
    p[cd + 42] = 3;
    CHECK_STATUS(load_npz_bytes(p, n, &d), NN_ERR_PARSE);
    /* stored member whose sizes disagree */
    memcpy(p, orig, n);
    p[cd + 24] ^= 1;
    CHECK_STATUS(load_npz_bytes(p, n, &d), NN_ERR_PARSE);
    /* a member not named *.npy is skipped and counted */
    memcpy(p, orig, n);
    memcpy(p + cd + 46 + 1, ".txt", 4);
    nn_verify_npz z;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_load_npz_memory(p, n, "h.npz", &z, NULL, &d), NN_OK);
    CHECK(z.count == 1 && z.skipped_count == 1 && strcmp(z.names[0], "bb") == 0);
    nn_verify_npz_free(&z);
    /* two members with one name: archive "a", "b", then rename "b" to "a" in
       the central directory (the reader keys on central names) */
    {
        float one[1] = {1};
        int64_t d1 = 1;
        nn_value two[2];
        const char *nm[2] = {"a", "b"};
        char path[512];
        size_t m;
        two[0] = two[1] = make_f32(1, &d1, one);
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_verify_save_npz_file(tmp_path(path, sizeof path, "dup.npz"), nm, two, 2, &d), NN_OK);
        unsigned char *q = read_all(path, &m);
        size_t c1 = find_sig(q, m, 0x02014b50u, 0), c2 = find_sig(q, m, 0x02014b50u, c1 + 4);
        CHECK(q && c2 != (size_t)-1 && q[c2 + 46] == 'b');
        if (q && c2 != (size_t)-1) {
            q[c2 + 46] = 'a';
            CHECK_STATUS(load_npz_bytes(q, m, &d), NN_ERR_PARSE);
            CHECK(strstr(d.message, "second member") != NULL);
        }
        free(q);
    }
    /* not a zip at all, and too short */
    CHECK_STATUS(load_npz_bytes((const unsigned char *)"hello, world, this is not a zip", 31, &d), NN_ERR_PARSE);
    CHECK_STATUS(load_npz_bytes(orig, 21, &d), NN_ERR_PARSE);
    free(p);
    free(orig);
}

static void test_npz_truncation_and_flips(void) {
    size_t n;
    unsigned char *orig = small_npz(&n);
    int refused = 0;
    CHECK(orig != NULL);
    if (!orig) return;
    for (size_t len = 0; len < n; len++) {
        unsigned char *copy = (unsigned char *)malloc(len ? len : 1);
        memcpy(copy, orig, len);
        nn_diag d;
        refused += load_npz_bytes(copy, len, &d) != NN_OK;
        free(copy);
    }
    CHECK_EQ_INT(refused, n);
    flip_bytes(orig, n, 1);
    free(orig);
}

static void test_npz_alloc_failures(void) {
    size_t n;
    unsigned char *orig = small_npz(&n);
    char path[512];
    CHECK(orig != NULL);
    if (!orig) return;
    tmp_path(path, sizeof path, "small.npz");
    for (int file = 0; file < 2; file++) {
        int ok = 0;
        for (long fail_at = 1; fail_at < 40 && !ok; fail_at++) {
            test_alloc ta;
            memset(&ta, 0, sizeof ta);
            ta.fail_at = fail_at;
            nn_allocator al = counting(&ta);
            nn_verify_npz z;
            nn_diag d;
            memset(&d, 0, sizeof d);
            nn_status st = file ? nn_verify_load_npz_file(path, &z, &al, &d)
                                : nn_verify_load_npz_memory(orig, n, "m.npz", &z, &al, &d);
            if (st == NN_OK) {
                ok = 1;
                CHECK(z.count == 2);
                nn_verify_npz_free(&z);
            } else {
                CHECK_STATUS(st, NN_ERR_NOMEM);
            }
            CHECK_EQ_INT(ta.live, 0);
        }
        CHECK(ok);
    }
    free(orig);
}

/* ---- numpy interoperability ---------------------------------------------------------- */

/* Fixture maker: the (3,4) pattern in every dtype and byte order, a 0-d
   array, an empty one, versions 2.0 and 3.0, a Fortran-ordered array, and
   npz archives stored (np.savez) and deflated (np.savez_compressed). */
static const char *g_make_fixtures =
    "import numpy as np, os, sys\n"
    "d = sys.argv[1]\n"
    "i = np.arange(12)\n"
    "def pat(code):\n"
    "    t = np.dtype(code)\n"
    "    if t.kind == 'f': v = ((i % 7) - 3) / 4\n"
    "    elif t.kind == 'u': v = i % 7\n"
    "    elif t.kind == 'b': v = i % 3 == 0\n"
    "    else: v = (i % 7) - 3\n"
    "    return np.asarray(v).astype(t).reshape(3, 4)\n"
    "codes = ['<f4','<f8','<f2','|i1','<i2','<i4','<i8','|u1','<u2','<u4','<u8','|b1',\n"
    "         '>f4','>f8','>f2','>i2','>i4','>i8','>u2','>u4','>u8']\n"
    "for c in codes:\n"
    "    np.save(os.path.join(d, 'np_' + c.replace('<','le').replace('>','be').replace('|','na') + '.npy'), pat(c))\n"
    "np.save(os.path.join(d, 'np_scalar.npy'), np.float32(2.5))\n"
    "np.save(os.path.join(d, 'np_empty.npy'), np.zeros((0, 3), np.int16))\n"
    "np.save(os.path.join(d, 'np_f23.npy'), np.arange(6, dtype=np.float32).reshape(2, 3))\n"
    "for v in (2, 3):\n"
    "    with open(os.path.join(d, 'np_v%d.npy' % v), 'wb') as f:\n"
    "        np.lib.format.write_array(f, pat('<f4'), version=(v, 0))\n"
    "np.save(os.path.join(d, 'np_fortran.npy'), np.asfortranarray(pat('<i4')))\n"
    "big = (np.arange(20000) % 13 - 6).astype(np.int16).reshape(100, 200)\n"
    "arrs = dict(x=pat('<f4'), y=pat('<i8'), s=np.float64(-1.5), big=big)\n"
    "np.savez(os.path.join(d, 'np_stored.npz'), **arrs)\n"
    "np.savez_compressed(os.path.join(d, 'np_deflated.npz'), **arrs)\n";

static int run_python(const char *script_name, const char *script, const char *arg) {
    char path[512], cmd[1200];
    tmp_path(path, sizeof path, script_name);
    if (!write_all(path, script, strlen(script))) return -1;
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", path, arg);
    return system(cmd);
}

static nn_dtype dtype_of_code(const char *c) {
    static const struct { const char *code; nn_dtype t; } m[] = {
        {"f4", NN_DTYPE_FLOAT}, {"f8", NN_DTYPE_DOUBLE}, {"f2", NN_DTYPE_FLOAT16}, {"i1", NN_DTYPE_INT8},
        {"i2", NN_DTYPE_INT16}, {"i4", NN_DTYPE_INT32},  {"i8", NN_DTYPE_INT64},   {"u1", NN_DTYPE_UINT8},
        {"u2", NN_DTYPE_UINT16}, {"u4", NN_DTYPE_UINT32}, {"u8", NN_DTYPE_UINT64}, {"b1", NN_DTYPE_BOOL}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (strcmp(m[i].code, c + 1) == 0) return m[i].t;
    return NN_DTYPE_UNDEFINED;
}

static void check_npz_fixture(const char *name) {
    char path[512];
    nn_verify_npz z;
    nn_diag d;
    memset(&d, 0, sizeof d);
    tmp_path(path, sizeof path, name);
    CHECK_STATUS(nn_verify_load_npz_file(path, &z, NULL, &d), NN_OK);
    if (d.status) {
        fprintf(stderr, "  %s: %s\n", d.where, d.message);
        return;
    }
    CHECK_EQ_INT(z.count, 4);
    const nn_value *x = nn_verify_npz_find(&z, "x"), *y = nn_verify_npz_find(&z, "y");
    const nn_value *s = nn_verify_npz_find(&z, "s"), *big = nn_verify_npz_find(&z, "big");
    CHECK(x && is_pattern(x, NN_DTYPE_FLOAT));
    CHECK(y && is_pattern(y, NN_DTYPE_INT64));
    CHECK(s && s->dtype == NN_DTYPE_DOUBLE && s->shape.rank == 0 && *(double *)s->data == -1.5);
    CHECK(big && big->dtype == NN_DTYPE_INT16 && big->shape.rank == 2 && big->shape.dims[1] == 200);
    if (big) {
        int bad = 0;
        for (int i = 0; i < 20000; i++) bad += ((int16_t *)big->data)[i] != i % 13 - 6;
        CHECK_EQ_INT(bad, 0);
    }
    /* every prefix and 200 flips of numpy's archive are refused cleanly */
    size_t n;
    unsigned char *bytes = read_all(path, &n);
    if (bytes) {
        int refused = 0;
        for (size_t len = 0; len < n; len += 3) refused += load_npz_bytes(bytes, len, &d) != NN_OK;
        CHECK_EQ_INT(refused, (n + 2) / 3);
        flip_bytes(bytes, n, 1);
        free(bytes);
    }
    nn_verify_npz_free(&z);
}

static void test_numpy_fixtures(void) {
    static const char *codes[] = {"<f4", "<f8", "<f2", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8",
                                  "|b1", ">f4", ">f8", ">f2", ">i2", ">i4", ">i8", ">u2", ">u4", ">u8"};
    char path[512], name[64];
    nn_value v;
    nn_diag d;
    if (!g_numpy) {
        printf("note: /usr/bin/python3 lacks numpy; skipping the numpy fixture checks\n");
        return;
    }
    CHECK_EQ_INT(run_python("make_fixtures.py", g_make_fixtures, g_tmp), 0);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char c[8];
        snprintf(c, sizeof c, "%s", codes[i]);
        snprintf(name, sizeof name, "np_%s%s.npy", c[0] == '<' ? "le" : c[0] == '>' ? "be" : "na", c + 1);
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_verify_load_npy_file(tmp_path(path, sizeof path, name), &v, NULL, &d), NN_OK);
        if (d.status) {
            fprintf(stderr, "  %s: %s\n", d.where, d.message);
            continue;
        }
        CHECK(is_pattern(&v, dtype_of_code(c)));
        nn_verify_value_free(&v, NULL);
    }
    /* 0-d, empty, versions 2.0 and 3.0 */
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_load_npy_file(tmp_path(path, sizeof path, "np_scalar.npy"), &v, NULL, &d), NN_OK);
    CHECK(v.shape.rank == 0 && v.dtype == NN_DTYPE_FLOAT && *(float *)v.data == 2.5f);
    nn_verify_value_free(&v, NULL);
    CHECK_STATUS(nn_verify_load_npy_file(tmp_path(path, sizeof path, "np_empty.npy"), &v, NULL, &d), NN_OK);
    CHECK(v.shape.rank == 2 && v.shape.dims[0] == 0 && v.dtype == NN_DTYPE_INT16 && v.bytes == 0);
    nn_verify_value_free(&v, NULL);
    for (int ver = 2; ver <= 3; ver++) {
        snprintf(name, sizeof name, "np_v%d.npy", ver);
        CHECK_STATUS(nn_verify_load_npy_file(tmp_path(path, sizeof path, name), &v, NULL, &d), NN_OK);
        CHECK(is_pattern(&v, NN_DTYPE_FLOAT));
        nn_verify_value_free(&v, NULL);
    }
    /* Fortran order is refused by name */
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_load_npy_file(tmp_path(path, sizeof path, "np_fortran.npy"), &v, NULL, &d),
                 NN_ERR_UNSUPPORTED);
    CHECK(strstr(d.where, "header.fortran_order") != NULL);
    /* our .npy of the same array is byte-for-byte numpy's */
    float f23[6] = {0, 1, 2, 3, 4, 5};
    int64_t dims[] = {2, 3};
    nn_value ours = make_f32(2, dims, f23);
    unsigned char buf[256];
    size_t n, m;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_save_npy_memory(&ours, buf, sizeof buf, &n, &d), NN_OK);
    unsigned char *theirs = read_all(tmp_path(path, sizeof path, "np_f23.npy"), &m);
    CHECK(theirs && m == n && memcmp(theirs, buf, n) == 0);
    free(theirs);
    check_npz_fixture("np_stored.npz");
    check_npz_fixture("np_deflated.npz");
}

/* numpy reads what we write: every dtype as .npy, and an .npz (zipfile's
   testzip() recomputes each member's CRC). */
static const char *g_check_ours =
    "import numpy as np, os, sys, zipfile\n"
    "d = sys.argv[1]\n"
    "i = np.arange(12)\n"
    "def pat(t):\n"
    "    t = np.dtype(t)\n"
    "    if t.kind == 'f': v = ((i % 7) - 3) / 4\n"
    "    elif t.kind == 'u': v = i % 7\n"
    "    elif t.kind == 'b': v = i % 3 == 0\n"
    "    else: v = (i % 7) - 3\n"
    "    return np.asarray(v).astype(t).reshape(3, 4)\n"
    "names = {'float32':'<f4','float64':'<f8','float16':'<f2','int8':'i1','int16':'<i2','int32':'<i4',\n"
    "         'int64':'<i8','uint8':'u1','uint16':'<u2','uint32':'<u4','uint64':'<u8','bool':'?'}\n"
    "for n, t in names.items():\n"
    "    a = np.load(os.path.join(d, 'rt_%s.npy' % n))\n"
    "    assert a.dtype == np.dtype(t) and a.shape == (3, 4), n\n"
    "    assert np.array_equal(a, pat(t)), n\n"
    "p = os.path.join(d, 'ours.npz')\n"
    "assert zipfile.ZipFile(p).testzip() is None\n"
    "z = np.load(p)\n"
    "assert sorted(z.files) == sorted(['conv1/weight', 'ids', 'mask\\u00e9', 'scalar']), z.files\n"
    "assert np.array_equal(z['conv1/weight'], np.array([[1.5, -2, 3], [4, 5, 6]], np.float32))\n"
    "assert z['ids'].dtype == np.int64 and list(z['ids']) == [-9000000000, 42]\n"
    "assert z['mask\\u00e9'].dtype == np.bool_ and list(z['mask\\u00e9']) == [True, False, True]\n"
    "assert z['scalar'].shape == () and z['scalar'] == 3.25\n"
    "assert len(np.load(os.path.join(d, 'empty.npz')).files) == 0\n";

static void test_numpy_reads_ours(void) {
    if (!g_numpy) {
        printf("note: /usr/bin/python3 lacks numpy; skipping numpy reading our files\n");
        return;
    }
    /* test_npy_round_trip_all_dtypes and test_npz_round_trip wrote the files */
    CHECK_EQ_INT(run_python("check_ours.py", g_check_ours, g_tmp), 0);
}

/* ---- tables ------------------------------------------------------------------------ */

static void test_table_text_and_json(void) {
    nn_verify_table t;
    nn_verify_stats s;
    nn_diag d;
    test_alloc ta;
    memset(&ta, 0, sizeof ta);
    nn_allocator al = counting(&ta);
    memset(&d, 0, sizeof d);
    nn_verify_table_init(&t, &al);
    float r[2] = {3, 4}, g[2] = {3, 5};
    int64_t n = 2;
    nn_value vr = make_f32(1, &n, r), vg = make_f32(1, &n, g);
    CHECK_STATUS(nn_verify_table_add_compare(&t, "conv1", "Conv", &vr, &vg, NULL, &d), NN_OK);
    CHECK_STATUS(nn_verify_table_add_compare(&t, "same", NULL, &vr, &vr, NULL, &d), NN_OK);
    memset(&s, 0, sizeof s);
    s.cosine = NAN;
    s.sqnr_db = -INFINITY;
    nn_shape sh = nn_shape_make(1, &n);
    CHECK_STATUS(nn_verify_table_add(&t, "a \"quoted\\\" name\n\t\x01 caf\xc3\xa9 \xff end", "Op",
                                     NN_DTYPE_INT8, &sh, &s, &d), NN_OK);
    CHECK_STATUS(nn_verify_table_add(&t, "model/encoder/layers.11/attention/output/dense/MatMul_output_0",
                                     "MatMul", NN_DTYPE_FLOAT, &sh, &s, &d), NN_OK);
    /* more rows than the first capacity */
    for (int i = 0; i < 40; i++) CHECK_STATUS(nn_verify_table_add(&t, "x", "Relu", NN_DTYPE_FLOAT, &sh, &s, &d), NN_OK);
    CHECK_EQ_INT(t.row_count, 44);
    CHECK(strcmp(t.rows[0].name, "conv1") == 0 && strcmp(t.rows[1].op, "") == 0);
    CHECK_NEAR(t.rows[0].stats.sqnr_db, 13.97940009, 1e-8);

    static text_buf tb;
    tb.n = 0;
    CHECK_STATUS(nn_verify_table_print(&t, text_write, &tb, &d), NN_OK);
    CHECK(strncmp(tb.data, "   #  name ", 11) == 0);
    CHECK(strstr(tb.data, "\n   0  conv1 ") != NULL);
    CHECK(strstr(tb.data, " 13.98 ") != NULL);   /* sqnr of row 0 */
    CHECK(strstr(tb.data, " 0.994692 ") != NULL); /* cosine of row 0 */
    CHECK(strstr(tb.data, " inf ") != NULL);     /* sqnr of the exact row */
    CHECK(strstr(tb.data, " nan ") != NULL && strstr(tb.data, " -inf ") != NULL);
    {   /* a long name keeps its last 31 characters after a '~' */
        const char *longname = t.rows[3].name;
        char want[40];
        snprintf(want, sizeof want, "~%s ", longname + strlen(longname) - 31);
        CHECK(strstr(tb.data, want) != NULL);
    }
    /* every line has the same width up to the last column */
    {
        const char *l0 = tb.data, *e0 = strchr(l0, '\n'), *l1 = e0 + 1, *e1 = strchr(l1, '\n');
        CHECK(e0 && e1 && e0 - l0 == e1 - l1);
    }
    tb.n = 0;
    CHECK_STATUS(nn_verify_table_write_json(&t, text_write, &tb, &d), NN_OK);
    {
        const char *want = "{\"rows\": [\n  {\"index\": 0, \"name\": \"conv1\", \"op\": \"Conv\", "
                           "\"dtype\": \"float32\", \"shape\": [2], \"count\": 2, \"cosine\": 0.99469";
        CHECK(strncmp(tb.data, want, strlen(want)) == 0);
    }
    CHECK(strstr(tb.data, "\"name\": \"a \\\"quoted\\\\\\\" name\\n\\t\\u0001 caf\xc3\xa9 \\ufffd end\"") != NULL);
    CHECK(strstr(tb.data, "\"cosine\": \"nan\", \"mse\": 0, \"sqnr_db\": \"-inf\"") != NULL);
    CHECK(strstr(tb.data, "\"sqnr_db\": \"inf\"") != NULL);
    CHECK(strstr(tb.data, "\"allclose\": false") != NULL);
    CHECK(tb.n > 2 && strcmp(tb.data + tb.n - 3, "]}\n") == 0);
    if (g_numpy) { /* Python's json module accepts it */
        char path[512];
        tmp_path(path, sizeof path, "table.json");
        CHECK(write_all(path, tb.data, tb.n));
        CHECK_EQ_INT(run_python("check_json.py",
                                "import json, sys\n"
                                "t = json.load(open(sys.argv[1], encoding='utf-8'))\n"
                                "assert len(t['rows']) == 44 and t['rows'][0]['name'] == 'conv1'\n"
                                "assert t['rows'][2]['name'].startswith('a \"quoted\\\\\" name\\n\\t\\x01 caf\\u00e9 ')\n",
                                path),
                     0);
    }
    /* a failing writer is NN_ERR_IO */
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_table_print(&t, failing_write, NULL, &d), NN_ERR_IO);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_table_write_json(&t, failing_write, NULL, &d), NN_ERR_IO);
    /* a failed comparison adds no row */
    int64_t n3 = 3;
    float r3[3] = {0, 0, 0};
    nn_value v3 = make_f32(1, &n3, r3);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_verify_table_add_compare(&t, "bad", "Add", &vr, &v3, NULL, &d), NN_ERR_SHAPE);
    CHECK_EQ_INT(t.row_count, 44);
    nn_verify_table_deinit(&t);
    CHECK_EQ_INT(ta.live, 0);
    /* an empty table */
    nn_verify_table_init(&t, NULL);
    tb.n = 0;
    CHECK_STATUS(nn_verify_table_write_json(&t, text_write, &tb, &d), NN_OK);
    CHECK(strcmp(tb.data, "{\"rows\": []}\n") == 0);
    nn_verify_table_deinit(&t);
}

static void test_table_alloc_failures(void) {
    nn_verify_stats s;
    memset(&s, 0, sizeof s);
    int saw_nomem = 0;
    for (long fail_at = 1; fail_at < 6; fail_at++) {
        test_alloc ta;
        memset(&ta, 0, sizeof ta);
        ta.fail_at = fail_at;
        nn_allocator al = counting(&ta);
        nn_verify_table t;
        nn_diag d;
        memset(&d, 0, sizeof d);
        nn_verify_table_init(&t, &al);
        nn_status st = nn_verify_table_add(&t, "n", "op", NN_DTYPE_FLOAT, NULL, &s, &d);
        saw_nomem += st == NN_ERR_NOMEM;
        CHECK(st == NN_OK || st == NN_ERR_NOMEM);
        CHECK(t.row_count == (st == NN_OK ? 1u : 0u));
        nn_verify_table_deinit(&t);
        CHECK_EQ_INT(ta.live, 0);
    }
    CHECK(saw_nomem >= 2);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/nn_verify_test_XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    g_numpy = system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;

    test_cosine_half_angle();
    test_sqnr_known();
    test_exact_and_zero_vectors();
    test_zero_length();
    test_tolerances();
    test_nan_and_inf();
    test_extreme_magnitudes();
    test_mixed_dtypes();
    test_long_tensor_blocks();
    test_compare_errors();
    test_within_peak();
    test_crc32();
    test_sha256();

    test_npy_round_trip_all_dtypes();
    test_npy_header_bytes();
    test_npy_shapes();
    test_npy_save_refusals();
    test_npy_hostile_headers();
    test_npy_hostile_preamble();
    test_npy_truncation();
    test_npy_random_flips();
    test_npy_alloc_failures();

    test_npz_round_trip();
    test_npz_save_refusals();
    test_npz_hostile();
    test_npz_truncation_and_flips();
    test_npz_alloc_failures();

    test_numpy_fixtures();
    test_numpy_reads_ours();

    test_table_text_and_json();
    test_table_alloc_failures();

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", g_tmp);
    return check_summary();
}
