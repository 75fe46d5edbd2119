/* test_calib.c - streaming observers, the collector and every calibrator of
   nn_calib.h, against closed forms worked out in the comments.

   Data are deterministic.  Where a result depends on a distribution's tail,
   the "sample" is the distribution's quantiles x_k = F^-1((k + 0.5) / N)
   rather than random draws: then the histogram is the density up to
   midpoint-rule error and the golden values do not wobble with a seed. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "nn_calib.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double rng_uniform(void) { /* xorshift64*, in [0, 1) */
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* Standard normal quantile by bisection on erfc (slow but exact enough). */
static double norm_quantile(double u) {
    double lo = -12, hi = 12;
    int i;
    for (i = 0; i < 80; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(-mid / sqrt(2.0)) < u) lo = mid; else hi = mid;
    }
    return 0.5 * (lo + hi);
}

static nn_calib_observer make_observer(uint32_t bins) {
    nn_calib_observer o;
    nn_calib_observer_desc d;
    nn_diag diag;
    memset(&d, 0, sizeof d);
    memset(&diag, 0, sizeof diag);
    d.bins = bins;
    CHECK_STATUS(nn_calib_observer_init(&o, &d, &diag), NN_OK);
    return o;
}

static double threshold(const nn_calib_observer *o, nn_calib_method m) {
    nn_calib_desc d;
    nn_calib_result r;
    nn_diag diag;
    memset(&d, 0, sizeof d);
    memset(&diag, 0, sizeof diag);
    memset(&r, 0, sizeof r);
    d.method = m;
    CHECK_STATUS(nn_calib_compute(o, &d, &r, &diag), NN_OK);
    return r.threshold;
}

/* Gaussian quantile sample, sigma 1, N values (symmetric). */
static float *gauss_quantiles(size_t n) {
    float *x = (float *)malloc(n * sizeof *x);
    size_t k;
    for (k = 0; k < n / 2; k++) {
        double v = norm_quantile(0.5 + ((double)k + 0.5) / (double)n);
        x[2 * k] = (float)v; x[2 * k + 1] = (float)-v;
    }
    return x;
}

/* Uniform on [-1, 1] with both endpoints: MinMax must give exactly 1.
   |x| is uniform on [0, 1], so its 99.99th percentile is 0.9999; the
   histogram resolves it to within one bin, 1/2048 < 5e-4. */
static void test_uniform_minmax_percentile(void) {
    enum { N = 200001 };
    float *x = (float *)malloc(N * sizeof *x);
    nn_calib_observer o = make_observer(0);
    nn_calib_desc d;
    nn_calib_result r;
    nn_diag diag = {NN_OK, "", ""};
    size_t k;
    for (k = 0; k < N; k++) x[k] = (float)(-1.0 + 2.0 * (double)k / (N - 1));
    nn_calib_observe_f32(&o, x, N);
    CHECK_EQ_INT(o.bins, 2048);
    CHECK_EQ_INT(o.count, N);
    CHECK_NEAR(threshold(&o, NN_CALIB_MINMAX), 1.0, 0);
    CHECK_NEAR(threshold(&o, NN_CALIB_PERCENTILE), 0.9999, 5e-4);
    memset(&d, 0, sizeof d);
    d.method = NN_CALIB_PERCENTILE; d.percentile = 50; /* median of |x| = 0.5 */
    CHECK_STATUS(nn_calib_compute(&o, &d, &r, &diag), NN_OK);
    CHECK_NEAR(r.threshold, 0.5, 5e-4);
    CHECK_NEAR(r.min, -0.5, 5e-4);
    CHECK_NEAR(r.max, 0.5, 5e-4);
    nn_calib_observer_deinit(&o);
    free(x);
}

/* ACIQ closed forms (Banner et al. 2019): T = 9.89 b (Laplace, 8 bits) and
   T = 3.92 sigma (Gauss, 8 bits), 2.83 b at 2 bits.  Laplace(0, b=0.5)
   quantiles: |x| = -b ln(1 - v) for v = (k + 0.5) / M, so E|x| = b up to
   the midpoint rule (error < 1e-4 relative for M = 1e5). */
static void test_aciq_closed_forms(void) {
    enum { M = 100000, NG = 200000 };
    float *x = (float *)malloc(2 * M * sizeof *x), *g;
    nn_calib_observer o = make_observer(0), og = make_observer(0);
    nn_calib_desc d;
    nn_calib_result r;
    nn_diag diag = {NN_OK, "", ""};
    size_t k;
    for (k = 0; k < M; k++) {
        double a = -0.5 * log(1.0 - ((double)k + 0.5) / M);
        x[2 * k] = (float)a; x[2 * k + 1] = (float)-a;
    }
    nn_calib_observe_f32(&o, x, 2 * M);
    CHECK_NEAR(threshold(&o, NN_CALIB_ACIQ_LAPLACE), 9.89 * 0.5, 0.01 * 9.89 * 0.5);
    memset(&d, 0, sizeof d);
    d.method = NN_CALIB_ACIQ_LAPLACE; d.bits = 2;
    CHECK_STATUS(nn_calib_compute(&o, &d, &r, &diag), NN_OK);
    CHECK_NEAR(r.threshold, 2.83 * 0.5, 0.01 * 2.83 * 0.5);
    /* MSE/OCTAV on the same Laplace(0, 0.5), int8: with step T/127,
         J(T) = (T/127)^2/12 * (1 - e^{-T/b}) + 2 b^2 e^{-T/b}
       (2 * int_T^inf (x-T)^2 e^{-x/b}/(2b) dx = 2 b^2 e^{-T/b}) is minimal at
       T = 4.941 (numeric scan); tolerance 0.05 = 20 bins of 6.45/2048. */
    CHECK_NEAR(threshold(&o, NN_CALIB_MSE), 4.941, 0.05);
    CHECK_NEAR(threshold(&o, NN_CALIB_OCTAV), 4.941, 0.05);
    d.bits = 9; /* beyond the paper's table */
    CHECK_STATUS(nn_calib_compute(&o, &d, &r, &diag), NN_ERR_ARG);
    g = gauss_quantiles(NG);
    nn_calib_observe_f32(&og, g, NG);
    CHECK_NEAR(threshold(&og, NN_CALIB_ACIQ_GAUSS), 3.92, 0.01 * 3.92);
    nn_calib_observer_deinit(&o);
    nn_calib_observer_deinit(&og);
    free(x);
    free(g);
}

/* MSE and OCTAV on N(0, 1) for int8 (step T/127).  The expected error
     J(T) = (T/127)^2/12 * P(|X| <= T) + 2 * [(1 + T^2)(1 - Phi(T)) - T phi(T)]
   (the second term is 2 * int_T^inf (x - T)^2 phi(x) dx in closed form) is
   minimal at T = 3.92 (scanned numerically on a 1e-3 grid; J'(T) = 0 there),
   which is also Banner's Gaussian 8-bit constant, as it should be: the same
   error model.  The curve is flat near its minimum, so the tolerance is
   0.08: a few bins (bin width 4.6/2048 = 0.002) plus the quantile sample's
   tail, which stops at 4.6 sigma. */
static void test_mse_octav_gauss(void) {
    enum { N = 400000 };
    float *g = gauss_quantiles(N);
    nn_calib_observer o = make_observer(0);
    nn_calib_observe_f32(&o, g, N);
    CHECK_NEAR(threshold(&o, NN_CALIB_MSE), 3.92, 0.08);
    CHECK_NEAR(threshold(&o, NN_CALIB_OCTAV), 3.92, 0.08);
    /* KL on a clean Gaussian clips little (measured 4.48 of max 4.71): it
       must not cut into the bulk, and never exceeds the max. */
    CHECK(threshold(&o, NN_CALIB_KL) > 3.5);
    CHECK(threshold(&o, NN_CALIB_KL) <= nn_calib_observer_absmax(&o));
    nn_calib_observer_deinit(&o);
    free(g);
}

/* KL with far outliers: N(0, 1) plus 5 values at +-100.  Bins are 100/2048
   = 0.049 wide, so the Gaussian bulk fits in the first 128 bins (6.25) and
   the entropy rule keeps close to that, far below max |x| = 100.  MinMax
   must say 100; the KL threshold must still cover the bulk (> 3 sigma). */
static void test_kl_outliers(void) {
    enum { N = 200000 };
    float *g = gauss_quantiles(N + 6);
    nn_calib_observer o = make_observer(0);
    double t;
    g[N] = 100; g[N + 1] = -100; g[N + 2] = 100; g[N + 3] = 99; g[N + 4] = -98; g[N + 5] = 0;
    nn_calib_observe_f32(&o, g, N + 6);
    CHECK_NEAR(threshold(&o, NN_CALIB_MINMAX), 100, 0);
    t = threshold(&o, NN_CALIB_KL);
    CHECK(t < 0.1 * 100);
    CHECK(t > 3.0);
    CHECK_NEAR(threshold(&o, NN_CALIB_DEFAULT), threshold(&o, NN_CALIB_PERCENTILE), 0); /* the default */
    /* Percentile ignores 5 of 200006 values: 99.99% of |x| is about 3.9 */
    CHECK(threshold(&o, NN_CALIB_PERCENTILE) < 5.0);
    nn_calib_observer_deinit(&o);
    free(g);
}

/* KL on a ReLU output: half exact zeros, half |N(0,1)| (the quantiles of
   a Gaussian folded to >= 0, max about 4.4).  The zeros are exact under any
   threshold; KL should weigh the shape of the positive half.  Measured:
   4.33 with the zero bin neutralized, 1.995 before (the spike, spread over
   Q's first group, penalized every wide range).  For scale, the symmetric
   Gaussian above gets > 3.5. */
static void test_kl_relu_zeros(void) {
    enum { N = 100000 };
    float *g = gauss_quantiles(2 * N), *x = (float *)malloc(2 * N * sizeof *x);
    nn_calib_observer o = make_observer(0);
    size_t k;
    for (k = 0; k < 2 * N; k++) x[k] = g[k] > 0 ? g[k] : 0.0f;
    nn_calib_observe_f32(&o, x, 2 * N);
    printf("  KL threshold on relu(N(0,1)): %.3f\n", threshold(&o, NN_CALIB_KL));
    CHECK(threshold(&o, NN_CALIB_KL) > 3.0);
    CHECK(threshold(&o, NN_CALIB_KL) <= nn_calib_observer_absmax(&o));
    nn_calib_observer_deinit(&o);
    free(x);
    free(g);
}

/* Re-binning: tensors with growing ranges (0.1, 1, 10, 100) widen the
   histogram by power-of-two merges; an observer that started over the final
   range [0, bins * w) and saw the same tensors must hold the same counts.
   Merged edges are old edges, so counts agree except where x / w rounds
   differently at an exact edge: a handful at most. */
static void test_rebin_matches_single_histogram(void) {
    enum { N = 20000 };
    static const double range[4] = {0.1, 1.0, 10.0, 100.0};
    float *x = (float *)malloc(4 * N * sizeof *x);
    nn_calib_observer a = make_observer(0), b;
    nn_calib_observer_desc bd;
    nn_diag diag = {NN_OK, "", ""};
    uint64_t diff = 0, total = 0;
    size_t k, t;
    for (t = 0; t < 4; t++)
        for (k = 0; k < N; k++) x[t * N + k] = (float)((rng_uniform() * 2 - 1) * range[t]);
    for (t = 0; t < 4; t++) nn_calib_observe_f32(&a, x + t * N, N);
    CHECK(a.rebin_count >= 3);
    memset(&bd, 0, sizeof bd);
    bd.initial_range = a.bin_width * a.bins;
    CHECK_STATUS(nn_calib_observer_init(&b, &bd, &diag), NN_OK);
    for (t = 0; t < 4; t++) nn_calib_observe_f32(&b, x + t * N, N);
    CHECK_EQ_INT(b.rebin_count, 0);
    CHECK_NEAR(b.bin_width, a.bin_width, 1e-12 * a.bin_width);
    for (k = 0; k < a.bins; k++) {
        diff += a.hist[k] > b.hist[k] ? a.hist[k] - b.hist[k] : b.hist[k] - a.hist[k];
        total += a.hist[k];
    }
    CHECK_EQ_INT(total + a.zero_count, 4 * N);
    CHECK(diff <= 4);
    CHECK_NEAR(threshold(&a, NN_CALIB_PERCENTILE), threshold(&b, NN_CALIB_PERCENTILE), a.bin_width);
    nn_calib_observer_deinit(&a);
    nn_calib_observer_deinit(&b);
    /* An extreme jump (1e-30 then 1e30, 2^200 apart) takes several merges
       of at most 2^30 each and loses no count. */
    a = make_observer(0);
    x[0] = 1e-30f; x[1] = -1e-30f; x[2] = 1e30f;
    nn_calib_observe_f32(&a, x, 2);
    nn_calib_observe_f32(&a, x + 2, 1);
    total = 0;
    for (k = 0; k < a.bins; k++) total += a.hist[k];
    CHECK_EQ_INT(total, 3);
    CHECK_EQ_INT(a.hist[0], 2); /* 1e30 lands in the top half: widths double */
    CHECK(a.bin_width * a.bins > 1e30);
    nn_calib_observer_deinit(&a);
    free(x);
}

/* A two-node graph (Relu then Neg) run through the executor with the
   collector as observer: memory after 1 sample equals memory after 64, and
   each tensor's observer saw one tensor per run. */
static void test_collector_memory_constant(void) {
    nn_diag d = {NN_OK, "", ""};
    nn_graph *g = NULL;
    nn_tensor_id tin, tmid, tout;
    int64_t dims[2] = {4, 256};
    nn_shape s = nn_shape_make(2, dims);
    nn_calib_collector *col = NULL;
    nn_calib_collector_desc cd;
    nn_exec_desc xd;
    nn_exec *x = NULL;
    float data[4 * 256];
    size_t bytes1 = 0;
    int run, k;
    const nn_calib_observer *o;
    CHECK_STATUS(nn_graph_create(NULL, &g, &d), NN_OK);
    if (!g) return;
    CHECK_STATUS(nn_graph_add_tensor(g, "in", NN_DTYPE_FLOAT, &s, &tin, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_tensor(g, "mid", NN_DTYPE_FLOAT, &s, &tmid, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_tensor(g, "out", NN_DTYPE_FLOAT, &s, &tout, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_input(g, tin, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_output(g, tout, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_node(g, "Relu", "", "relu", &tin, 1, &tmid, 1, NULL, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_node(g, "Neg", "", "neg", &tmid, 1, &tout, 1, NULL, &d), NN_OK);
    CHECK_STATUS(nn_graph_set_opset(g, "", 17, &d), NN_OK);
    memset(&cd, 0, sizeof cd);
    CHECK_STATUS(nn_calib_collector_create(g, &cd, &col, &d), NN_OK);
    memset(&xd, 0, sizeof xd);
    xd.observer = nn_calib_collector_exec_observer;
    xd.observer_user = col;
    CHECK_STATUS(nn_exec_create(g, &xd, &x, &d), NN_OK);
    if (!col || !x) { fprintf(stderr, "     %s: %s\n", d.where, d.message); goto done; }
    for (run = 0; run < 64; run++) {
        nn_value v;
        for (k = 0; k < 4 * 256; k++) data[k] = (float)((rng_uniform() * 2 - 1) * (run + 1));
        v = nn_value_make(NN_DTYPE_FLOAT, s, data);
        CHECK_STATUS(nn_exec_set_input(x, 0, &v, &d), NN_OK);
        CHECK_STATUS(nn_calib_collector_observe(col, tin, &v, &d), NN_OK);
        CHECK_STATUS(nn_exec_run(x, &d), NN_OK);
        if (run == 0) bytes1 = nn_calib_collector_bytes(col);
    }
    CHECK_EQ_INT(nn_calib_collector_bytes(col), bytes1);
    CHECK_EQ_INT(nn_calib_observer_bytes(0), sizeof(nn_calib_observer) + 2048 * sizeof(uint64_t));
    CHECK_EQ_INT(nn_calib_collector_diag(col)->status, NN_OK);
    o = nn_calib_collector_get(col, tmid);
    CHECK(o != NULL);
    if (o) {
        CHECK_EQ_INT(o->samples, 64);
        CHECK(o->min >= 0);                 /* Relu output */
        CHECK(o->max <= 64 && o->max > 60); /* last run spans [-64, 64) */
    }
    o = nn_calib_collector_get(col, tout);
    CHECK(o != NULL && o->max <= 0);        /* -Relu */
    CHECK(nn_calib_collector_get(col, tin) != NULL);
done:
    nn_exec_destroy(x);
    nn_calib_collector_destroy(col);
    nn_graph_destroy(g);
}

/* NaN and +-Inf are counted apart and never reach min/max/histogram. */
static void test_nonfinite_counted_apart(void) {
    float x[8];
    nn_calib_observer o = make_observer(64);
    nn_calib_desc d;
    nn_calib_result r;
    nn_diag diag = {NN_OK, "", ""};
    uint64_t sum = 0;
    uint32_t k;
    x[0] = 1.0f; x[1] = (float)NAN; x[2] = (float)INFINITY; x[3] = -2.0f;
    x[4] = (float)-INFINITY; x[5] = 0.5f; x[6] = (float)NAN; x[7] = 0.0f;
    nn_calib_observe_f32(&o, x, 8);
    CHECK_EQ_INT(o.nan_count, 2);
    CHECK_EQ_INT(o.inf_count, 2);
    CHECK_EQ_INT(o.count, 4);
    CHECK_EQ_INT(o.zero_count, 1);
    for (k = 0; k < o.bins; k++) sum += o.hist[k];
    CHECK_EQ_INT(sum, 3);
    CHECK_NEAR(o.min, -2, 0);
    CHECK_NEAR(o.max, 1, 0);
    memset(&d, 0, sizeof d);
    for (k = NN_CALIB_MINMAX; k <= NN_CALIB_OCTAV; k++) {
        d.method = (nn_calib_method)k;
        CHECK_STATUS(nn_calib_compute(&o, &d, &r, &diag), NN_OK);
        CHECK(isfinite(r.threshold) && r.threshold > 0 && r.threshold <= 2);
        CHECK_EQ_INT(r.nonfinite_count, 4);
    }
    nn_calib_observer_deinit(&o);
    /* only NaN: nothing to calibrate */
    o = make_observer(0);
    nn_calib_observe_f32(&o, x + 1, 1);
    d.method = NN_CALIB_MINMAX;
    CHECK_STATUS(nn_calib_compute(&o, &d, &r, &diag), NN_ERR_INVALID);
    CHECK_EQ_INT(diag.status, NN_ERR_INVALID);
    nn_calib_observer_deinit(&o);
}

/* All zeros: threshold 0 from every method, no division by zero; a later
   non-zero tensor still starts the histogram normally. */
static void test_all_zero(void) {
    float z[100], one = 3.0f;
    nn_calib_observer o = make_observer(0);
    nn_calib_desc d;
    nn_calib_result r;
    nn_diag diag = {NN_OK, "", ""};
    int k;
    memset(z, 0, sizeof z);
    nn_calib_observe_f32(&o, z, 100);
    CHECK_NEAR(o.bin_width, 0, 0);
    memset(&d, 0, sizeof d);
    for (k = NN_CALIB_DEFAULT; k <= NN_CALIB_OCTAV; k++) {
        d.method = (nn_calib_method)k;
        CHECK_STATUS(nn_calib_compute(&o, &d, &r, &diag), NN_OK);
        CHECK_NEAR(r.threshold, 0, 0);
        CHECK_NEAR(r.min, 0, 0);
        CHECK_NEAR(r.max, 0, 0);
    }
    nn_calib_observe_f32(&o, &one, 1);
    CHECK_EQ_INT(o.zero_count, 100);
    CHECK_NEAR(threshold(&o, NN_CALIB_MINMAX), 3, 0);
    nn_calib_observer_deinit(&o);
}

/* Bad options give NN_ERR_ARG / NN_ERR_LIMIT; a failing allocator NN_ERR_NOMEM. */
static void *fail_alloc(void *user, size_t bytes) { (void)user; (void)bytes; return NULL; }
static void test_bad_options(void) {
    float one = 1.0f;
    nn_calib_observer o = make_observer(16), o2;
    nn_calib_observer_desc od;
    nn_calib_desc d;
    nn_calib_result r;
    nn_diag diag = {NN_OK, "", ""};
    nn_calib_observe_f32(&o, &one, 1);
    memset(&d, 0, sizeof d);
    d.method = NN_CALIB_MSE; d.bits = 1;
    CHECK_STATUS(nn_calib_compute(&o, &d, &r, &diag), NN_ERR_ARG);
    d.bits = 0; d.method = NN_CALIB_PERCENTILE; d.percentile = 101;
    CHECK_STATUS(nn_calib_compute(&o, &d, &r, &diag), NN_ERR_ARG);
    d.percentile = 0; d.method = (nn_calib_method)99;
    CHECK_STATUS(nn_calib_compute(&o, &d, &r, &diag), NN_ERR_ARG);
    memset(&od, 0, sizeof od);
    od.bins = NN_MAX_CALIB_BINS + 1;
    CHECK_STATUS(nn_calib_observer_init(&o2, &od, &diag), NN_ERR_LIMIT);
    od.bins = 0; od.initial_range = -1;
    CHECK_STATUS(nn_calib_observer_init(&o2, &od, &diag), NN_ERR_ARG);
    od.initial_range = 0; od.alloc.alloc = fail_alloc;
    CHECK_STATUS(nn_calib_observer_init(&o2, &od, &diag), NN_ERR_NOMEM);
    CHECK(strcmp(nn_calib_method_name(NN_CALIB_OCTAV), "octav") == 0);
    nn_calib_observer_deinit(&o);
}

/* Counting allocator that fails the allocation numbered fail_at (0-based):
   every failure point gives NN_ERR_NOMEM and frees what was taken. */
typedef struct count_alloc { int calls, fail_at, live; } count_alloc;
static void *count_alloc_fn(void *user, size_t bytes) {
    count_alloc *c = (count_alloc *)user;
    if (c->calls++ == c->fail_at) return NULL;
    c->live++;
    return malloc(bytes);
}
static void count_free_fn(void *user, void *p) {
    if (p) ((count_alloc *)user)->live--;
    free(p);
}
static void test_collector_alloc_failures(void) {
    nn_diag d = {NN_OK, "", ""};
    nn_graph *g = NULL;
    nn_tensor_id t;
    int64_t dims[1] = {3};
    nn_shape s = nn_shape_make(1, dims);
    float data[3] = {1, -2, 3};
    nn_value v = nn_value_make(NN_DTYPE_FLOAT, s, data);
    int fail_at, failures = 0;
    CHECK_STATUS(nn_graph_create(NULL, &g, &d), NN_OK);
    if (!g) return;
    CHECK_STATUS(nn_graph_add_tensor(g, "t", NN_DTYPE_FLOAT, &s, &t, &d), NN_OK);
    for (fail_at = 0; fail_at < 6; fail_at++) {
        count_alloc ca = {0, 0, 0};
        nn_calib_collector_desc cd;
        nn_calib_collector *col = NULL;
        nn_diag e = {NN_OK, "", ""};
        nn_status st;
        ca.fail_at = fail_at;
        memset(&cd, 0, sizeof cd);
        cd.alloc.alloc = count_alloc_fn; cd.alloc.free = count_free_fn; cd.alloc.user = &ca;
        st = nn_calib_collector_create(g, &cd, &col, &e);
        if (st == NN_OK) st = nn_calib_collector_observe(col, t, &v, &e);
        if (st != NN_OK) { CHECK_STATUS(st, NN_ERR_NOMEM); CHECK_EQ_INT(e.status, NN_ERR_NOMEM); failures++; }
        nn_calib_collector_destroy(col);
        CHECK_EQ_INT(ca.live, 0);
    }
    CHECK_EQ_INT(failures, 4); /* collector, table, observer, histogram */
    nn_graph_destroy(g);
}

/* ==== datasets, tables, the set check, auto choice, f16 (issue 4) ==== */

static char tmp_root[256];

/* path = tmp_root/rel (static buffer, one at a time per call site). */
static const char *tpath(char *buf, size_t cap, const char *rel) {
    snprintf(buf, cap, "%s/%s", tmp_root, rel);
    return buf;
}

static void make_dir(const char *rel) {
    char p[512];
    CHECK(mkdir(tpath(p, sizeof p, rel), 0700) == 0);
}

static void write_bytes(const char *rel, const void *bytes, size_t n) {
    char p[512];
    FILE *f = fopen(tpath(p, sizeof p, rel), "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(bytes, 1, n, f) == n);
    fclose(f);
}

/* A 24-bit BMP written by hand (BITMAPINFOHEADER, bottom-up rows padded to
   4 bytes, pixels stored B, G, R).  rgb is (h, w, 3) top row first. */
static void write_bmp(const char *rel, const unsigned char *rgb, int w, int h) {
    unsigned char buf[54 + 64 * 4 * 3];
    int row = (w * 3 + 3) & ~3, size = 54 + row * h, x, y;
    memset(buf, 0, sizeof buf);
    buf[0] = 'B'; buf[1] = 'M';
    buf[2] = (unsigned char)size; buf[3] = (unsigned char)(size >> 8);
    buf[10] = 54;                      /* pixel data offset */
    buf[14] = 40;                      /* header size */
    buf[18] = (unsigned char)w; buf[22] = (unsigned char)h;
    buf[26] = 1; buf[28] = 24;         /* planes, bits per pixel */
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            unsigned char *p = buf + 54 + (h - 1 - y) * row + x * 3;
            const unsigned char *s = rgb + (y * w + x) * 3;
            p[0] = s[2]; p[1] = s[1]; p[2] = s[0];
        }
    write_bytes(rel, buf, (size_t)size);
}

static void write_npy_f32(const char *rel, int rank, const int64_t *dims, const float *data) {
    char p[512];
    nn_diag d = {NN_OK, "", ""};
    nn_value v = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(rank, dims), (void *)data);
    CHECK_STATUS(nn_verify_save_npy_file(tpath(p, sizeof p, rel), &v, &d), NN_OK);
}

/* A graph with float inputs of the given names and shapes (no nodes: the
   dataset only reads g->inputs). */
static nn_graph *input_graph(int count, const char *const *names, const nn_shape *shapes) {
    nn_graph *g = NULL;
    nn_diag d = {NN_OK, "", ""};
    int i;
    CHECK_STATUS(nn_graph_create(NULL, &g, &d), NN_OK);
    for (i = 0; g && i < count; i++) {
        nn_tensor_id t;
        CHECK_STATUS(nn_graph_add_tensor(g, names[i], NN_DTYPE_FLOAT, &shapes[i], &t, &d), NN_OK);
        CHECK_STATUS(nn_graph_add_input(g, t, &d), NN_OK);
    }
    return g;
}

/* The 2x2 test image:   (10,20,30)  (40,50,60)
                         (70,80,90)  (100,110,120) */
static const unsigned char img2x2[12] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120};

/* Loads sample 0 of dir with the image desc into a (1,3,H,W)-or-given input. */
static int load_image(nn_graph *g, const char *dir, const nn_calib_image_desc *im, nn_value *out,
                      nn_calib_dataset **keep) {
    char p[512];
    nn_calib_dataset_desc dd;
    nn_diag d = {NN_OK, "", ""};
    memset(&dd, 0, sizeof dd);
    dd.path = tpath(p, sizeof p, dir);
    dd.image = *im;
    *keep = NULL;
    if (nn_calib_dataset_open(&dd, g, keep, &d) != NN_OK) { fprintf(stderr, "     %s: %s\n", d.where, d.message); return 0; }
    if (nn_calib_dataset_load(*keep, 0, out, &d) != NN_OK) { fprintf(stderr, "     %s: %s\n", d.where, d.message); return 0; }
    return 1;
}

/* Hand-calculated bilinear resizes (half-pixel centres) of img2x2.
   - 1x1: source coordinate (0 + 0.5) * 2 - 0.5 = 0.5 on both axes: the mean
     of the 4 pixels: R 55, G 65, B 75.  bgr: channel 0 = 75; mean 5, scale
     0.5: (75 - 5) * 0.5 = 35.
   - 4x4 (upscale): x -> (x + 0.5) / 2 - 0.5 = -0.25 (clamped 0), 0.25, 0.75,
     1.25 (clamped 1): row 0 of R is 10, 17.5, 32.5, 40; row 1 (y = 0.25):
     0.75 * row0 + 0.25 * row1(70, 77.5, 92.5, 100) = 25, 32.5, 47.5, 55. */
/* Channel conversion is nnport's (stb_image decodes in the file's own
   channel count), and PNM files are checked for truncation first.  By hand:
   - RGB (10,20,30) into a 1-channel input: luma (77*10 + 150*20 + 29*30) >> 8
     = (770 + 3000 + 870) >> 8 = 4640 >> 8 = 18.
   - a 16-bit PGM (maxval 65535) 1x1 of 0x8080 into a 3-channel input: the
     high byte, 0x80 = 128, copied to R, G and B (0x8080 reads the same in
     either byte order; stb_image 2.27 does not swap PNM's big-endian
     samples).  (stb_image 2.27
     itself converted this case's channels as 8-bit data and read past its
     buffer: the fuzz_image finding.)
   - a P6 header promising 2x2 RGB (12 bytes) with 5 bytes: NN_ERR_PARSE
     naming the file and the byte counts.
   - bytes that are not the format the name says, and a JPEG Huffman table
     with more than 256 codes: NN_ERR_PARSE before stb_image decodes. */
static void test_image_channels_pnm(void) {
    int64_t d1[4] = {1, 1, 1, 1}, d3[4] = {1, 3, 1, 1};
    nn_shape s1 = nn_shape_make(4, d1), s3 = nn_shape_make(4, d3);
    const char *names[1] = {"x"};
    nn_graph *g1 = input_graph(1, names, &s1), *g3 = input_graph(1, names, &s3);
    static const unsigned char rgb[3] = {10, 20, 30};
    static const unsigned char pgm16[] = {'P', '5', '\n', '1', ' ', '1', '\n', '6', '5', '5', '3', '5', '\n', 0x80, 0x80};
    static const unsigned char short_ppm[] = {'P', '6', ' ', '2', ' ', '2', ' ', '2', '5', '5', '\n', 1, 2, 3, 4, 5};
    nn_calib_image_desc im;
    nn_calib_dataset *ds = NULL;
    nn_calib_dataset_desc dd;
    nn_diag d = {NN_OK, "", ""};
    nn_value v;
    char p[512];
    memset(&im, 0, sizeof im);
    make_dir("chan");
    write_bmp("chan/a.bmp", rgb, 1, 1);
    if (g1 && load_image(g1, "chan", &im, &v, &ds)) CHECK_NEAR(((const float *)v.data)[0], 18, 1e-6);
    nn_calib_dataset_destroy(ds);
    ds = NULL;
    make_dir("pgm16");
    write_bytes("pgm16/a.pgm", pgm16, sizeof pgm16);
    if (g3 && load_image(g3, "pgm16", &im, &v, &ds)) {
        const float *f = (const float *)v.data;
        CHECK_NEAR(f[0], 128, 1e-6); CHECK_NEAR(f[1], 128, 1e-6); CHECK_NEAR(f[2], 128, 1e-6);
    }
    nn_calib_dataset_destroy(ds);
    ds = NULL;
    make_dir("shortpnm");
    write_bytes("shortpnm/a.ppm", short_ppm, sizeof short_ppm);
    memset(&dd, 0, sizeof dd);
    dd.path = tpath(p, sizeof p, "shortpnm");
    if (g3 && nn_calib_dataset_open(&dd, g3, &ds, &d) == NN_OK) {
        CHECK_STATUS(nn_calib_dataset_load(ds, 0, &v, &d), NN_ERR_PARSE);
        CHECK(strstr(d.where, "a.ppm") != NULL);
        CHECK(strstr(d.message, "truncated PNM image: 5 of 12") != NULL);
    } else CHECK(0);
    nn_calib_dataset_destroy(ds);
    ds = NULL;
    {   /* BMP bytes behind a .png name; a JPEG whose Huffman table counts
           255 + 45 = 300 codes (T.81 allows 256) */
        static const unsigned char jpg[] = {0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x13, 0x00, 255, 45, 0, 0, 0, 0, 0, 0,
                                            0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xD9};
        struct { const char *dir, *file, *text; } bad[2] = {
            {"named", "named/a.png", "named .png but its bytes are a bmp"},
            {"dht", "dht/a.jpg", "JPEG Huffman table with 300 codes"}};
        int k;
        make_dir("named");
        write_bmp("named/a.png", rgb, 1, 1);
        make_dir("dht");
        write_bytes("dht/a.jpg", jpg, sizeof jpg);
        for (k = 0; k < 2; k++) {
            memset(&d, 0, sizeof d); /* a diag keeps its first error */
            memset(&dd, 0, sizeof dd);
            dd.path = tpath(p, sizeof p, bad[k].dir);
            if (g3 && nn_calib_dataset_open(&dd, g3, &ds, &d) == NN_OK) {
                CHECK_STATUS(nn_calib_dataset_load(ds, 0, &v, &d), NN_ERR_PARSE);
                CHECK(strstr(d.where, bad[k].file + strlen(bad[k].dir) + 1) != NULL);
                CHECK(strstr(d.message, bad[k].text) != NULL);
            } else CHECK(0);
            nn_calib_dataset_destroy(ds);
            ds = NULL;
        }
    }
    nn_graph_destroy(g1);
    nn_graph_destroy(g3);
}

static void test_image_resize_hand(void) {
    int64_t d4[4] = {1, 3, 1, 1}, d44[4] = {1, 3, 4, 4};
    nn_shape s1 = nn_shape_make(4, d4), s4 = nn_shape_make(4, d44);
    const char *names[1] = {"x"};
    nn_graph *g1 = input_graph(1, names, &s1), *g4 = input_graph(1, names, &s4);
    nn_calib_image_desc im;
    nn_calib_dataset *ds = NULL;
    nn_value v;
    make_dir("img");
    write_bmp("img/a.bmp", img2x2, 2, 2);
    memset(&im, 0, sizeof im);
    if (g1 && load_image(g1, "img", &im, &v, &ds)) { /* default: stretch to the input's 1x1 */
        const float *f = (const float *)v.data;
        CHECK_EQ_INT(v.shape.rank, 4);
        CHECK_EQ_INT(v.shape.dims[1], 3);
        CHECK_NEAR(f[0], 55, 1e-4); CHECK_NEAR(f[1], 65, 1e-4); CHECK_NEAR(f[2], 75, 1e-4);
    }
    nn_calib_dataset_destroy(ds);
    im.bgr = 1; im.mean[0] = im.mean[1] = im.mean[2] = 5; im.scale[0] = im.scale[1] = im.scale[2] = 0.5f;
    if (g1 && load_image(g1, "img", &im, &v, &ds)) {
        const float *f = (const float *)v.data;
        CHECK_NEAR(f[0], 35, 1e-4);             /* (75 - 5) * 0.5 */
        CHECK_NEAR(f[2], (55 - 5) * 0.5, 1e-4); /* R last */
    }
    nn_calib_dataset_destroy(ds);
    memset(&im, 0, sizeof im);
    if (g4 && load_image(g4, "img", &im, &v, &ds)) {
        const float *f = (const float *)v.data; /* (1,3,4,4), R plane first */
        CHECK_NEAR(f[0], 10, 1e-4); CHECK_NEAR(f[1], 17.5, 1e-4); CHECK_NEAR(f[2], 32.5, 1e-4); CHECK_NEAR(f[3], 40, 1e-4);
        CHECK_NEAR(f[4], 25, 1e-4); CHECK_NEAR(f[5], 32.5, 1e-4); CHECK_NEAR(f[6], 47.5, 1e-4); CHECK_NEAR(f[7], 55, 1e-4);
        CHECK_NEAR(f[15], 100, 1e-4); /* R bottom-right */
        CHECK_NEAR(f[16 + 5], 32.5 + 10, 1e-4);   /* G = R + 10 everywhere */
    }
    nn_calib_dataset_destroy(ds);
    /* round_u8: 17.5 and 32.5 round half up (floor(v + 0.5)): 18, 33 */
    im.round_u8 = 1;
    if (g4 && load_image(g4, "img", &im, &v, &ds)) {
        const float *f = (const float *)v.data;
        CHECK_NEAR(f[1], 18, 0); CHECK_NEAR(f[2], 33, 0);
    }
    nn_calib_dataset_destroy(ds);
    nn_graph_destroy(g1);
    nn_graph_destroy(g4);
}

/* Layouts, u8 output and the aspect-keeping modes on img2x2.
   - NHWC (1,1,1,3) u8: the 1x1 mean 55, 65, 75 as bytes.
   - FIT_PAD into 2x4: scale min(2/2, 4/2) = 1, the image as is in columns
     0-1, pad_value -1 in columns 2-3.
   - HEIGHT_PAD to height 4, width 8: width ceil(4 * 2 / 2) = 4 (the 4x4
     upscale above), columns 4-7 padded with 0.
   - SHORT_CROP short side 4, crop 2x2: the 4x4 upscale, offset
     round((4 - 2) / 2) = 1: rows/cols 1-2, R (0,0) = 32.5. */
static void test_image_layouts_and_modes(void) {
    int64_t dh[4] = {1, 1, 1, 3}, dp[4] = {1, 3, 2, 4}, dr[4] = {1, 3, 4, 8}, dc[4] = {1, 3, 2, 2};
    nn_shape sh = nn_shape_make(4, dh), sp = nn_shape_make(4, dp), sr = nn_shape_make(4, dr), sc = nn_shape_make(4, dc);
    const char *names[1] = {"x"};
    nn_graph *gh = input_graph(1, names, &sh), *gp = input_graph(1, names, &sp), *gr = input_graph(1, names, &sr),
             *gc = input_graph(1, names, &sc);
    nn_calib_image_desc im;
    nn_calib_dataset *ds = NULL;
    nn_value v;
    memset(&im, 0, sizeof im); /* dtype 0: the input's, uint8 */
    if (gh) gh->tensors[gh->inputs[0].id].dtype = NN_DTYPE_UINT8;
    if (gh && load_image(gh, "img", &im, &v, &ds)) {
        const unsigned char *b = (const unsigned char *)v.data;
        CHECK_EQ_INT(v.dtype, NN_DTYPE_UINT8);
        CHECK_EQ_INT(v.shape.dims[3], 3);
        CHECK_EQ_INT(b[0], 55); CHECK_EQ_INT(b[1], 65); CHECK_EQ_INT(b[2], 75);
    }
    nn_calib_dataset_destroy(ds);
    memset(&im, 0, sizeof im);
    im.resize = NN_CALIB_RESIZE_FIT_PAD;
    im.pad_value = -1;
    if (gp && load_image(gp, "img", &im, &v, &ds)) {
        const float *f = (const float *)v.data; /* R plane (2, 4) */
        CHECK_NEAR(f[0], 10, 1e-4); CHECK_NEAR(f[1], 40, 1e-4); CHECK_NEAR(f[2], -1, 0); CHECK_NEAR(f[3], -1, 0);
        CHECK_NEAR(f[4], 70, 1e-4); CHECK_NEAR(f[5], 100, 1e-4); CHECK_NEAR(f[7], -1, 0);
    }
    nn_calib_dataset_destroy(ds);
    memset(&im, 0, sizeof im);
    im.resize = NN_CALIB_RESIZE_HEIGHT_PAD;
    if (gr && load_image(gr, "img", &im, &v, &ds)) {
        const float *f = (const float *)v.data; /* R plane (4, 8) */
        CHECK_NEAR(f[1], 17.5, 1e-4); CHECK_NEAR(f[3], 40, 1e-4); CHECK_NEAR(f[4], 0, 0); CHECK_NEAR(f[7], 0, 0);
        CHECK_NEAR(f[8 + 1], 32.5, 1e-4);
    }
    nn_calib_dataset_destroy(ds);
    memset(&im, 0, sizeof im);
    im.resize = NN_CALIB_RESIZE_SHORT_CROP;
    im.resize_short = 4;
    if (gc && load_image(gc, "img", &im, &v, &ds)) {
        const float *f = (const float *)v.data; /* R plane (2, 2) = rows/cols 1-2 of the 4x4 */
        CHECK_NEAR(f[0], 32.5, 1e-4); CHECK_NEAR(f[1], 47.5, 1e-4);
    }
    nn_calib_dataset_destroy(ds);
    nn_graph_destroy(gh); nn_graph_destroy(gp); nn_graph_destroy(gr); nn_graph_destroy(gc);
}

/* .npy, raw .bin, the cap (first / spread), and two inputs matched by stem
   in one sub-folder per input ("b/c" becomes folder "b_c"). */
static void test_npy_bin_cap_multi(void) {
    int64_t d2[2] = {1, 2};
    nn_shape s2 = nn_shape_make(2, d2);
    const char *one[1] = {"x"}, *two[2] = {"a", "b/c"};
    nn_shape ss[2];
    nn_graph *g1 = input_graph(1, one, &s2), *g2;
    nn_calib_dataset_desc dd;
    nn_calib_dataset *ds = NULL;
    nn_diag d = {NN_OK, "", ""};
    nn_value in[2];
    char p[512], rel[64];
    int k;
    float bin[2] = {7, 8};
    ss[0] = ss[1] = s2;
    g2 = input_graph(2, two, ss);
    make_dir("np");
    for (k = 0; k < 5; k++) { /* s0..s4, values k, 10k */
        float v[2];
        v[0] = (float)k; v[1] = (float)(10 * k);
        snprintf(rel, sizeof rel, "np/s%d.npy", k);
        write_npy_f32(rel, 2, d2, v);
    }
    write_bytes("np/notes.txt", "ignored", 7);
    memset(&dd, 0, sizeof dd);
    dd.path = tpath(p, sizeof p, "np");
    dd.max_samples = 2; /* spread: sorted indices floor(i * 5 / 2) = 0, 2 */
    CHECK_STATUS(nn_calib_dataset_open(&dd, g1, &ds, &d), NN_OK);
    if (ds) {
        CHECK_EQ_INT(nn_calib_dataset_count(ds), 2);
        CHECK(strcmp(nn_calib_dataset_name(ds, 1), "s2") == 0);
        CHECK_STATUS(nn_calib_dataset_load(ds, 1, in, &d), NN_OK);
        CHECK_NEAR(((const float *)in[0].data)[1], 20, 0);
        CHECK(nn_calib_dataset_name(ds, 2) == NULL);
        CHECK_STATUS(nn_calib_dataset_load(ds, 2, in, &d), NN_ERR_ARG);
    }
    nn_calib_dataset_destroy(ds);
    dd.pick = NN_CALIB_PICK_FIRST;
    CHECK_STATUS(nn_calib_dataset_open(&dd, g1, &ds, &d), NN_OK);
    if (ds) CHECK(strcmp(nn_calib_dataset_name(ds, 1), "s1") == 0);
    nn_calib_dataset_destroy(ds);
    /* raw .bin: float32 of the input's static shape (1, 2) = 8 bytes */
    make_dir("raw");
    write_bytes("raw/r.bin", bin, sizeof bin);
    memset(&dd, 0, sizeof dd);
    dd.path = tpath(p, sizeof p, "raw");
    CHECK_STATUS(nn_calib_dataset_open(&dd, g1, &ds, &d), NN_OK);
    if (ds) {
        CHECK_STATUS(nn_calib_dataset_load(ds, 0, in, &d), NN_OK);
        CHECK_NEAR(((const float *)in[0].data)[1], 8, 0);
    }
    nn_calib_dataset_destroy(ds);
    /* two inputs: a/ and b_c/ with stems t0, t1 */
    make_dir("multi"); make_dir("multi/a"); make_dir("multi/b_c");
    for (k = 0; k < 2; k++) {
        float va[2], vb[2];
        va[0] = va[1] = (float)k; vb[0] = vb[1] = (float)(100 + k);
        snprintf(rel, sizeof rel, "multi/a/t%d.npy", k); write_npy_f32(rel, 2, d2, va);
        snprintf(rel, sizeof rel, "multi/b_c/t%d.npy", k); write_npy_f32(rel, 2, d2, vb);
    }
    memset(&dd, 0, sizeof dd);
    dd.path = tpath(p, sizeof p, "multi");
    CHECK_STATUS(nn_calib_dataset_open(&dd, g2, &ds, &d), NN_OK);
    if (ds) {
        CHECK_EQ_INT(nn_calib_dataset_count(ds), 2);
        CHECK_STATUS(nn_calib_dataset_load(ds, 1, in, &d), NN_OK);
        CHECK_NEAR(((const float *)in[0].data)[0], 1, 0);
        CHECK_NEAR(((const float *)in[1].data)[0], 101, 0);
    }
    nn_calib_dataset_destroy(ds);
    /* a stem missing from b_c: INVALID, naming that folder */
    write_npy_f32("multi/a/t2.npy", 2, d2, bin);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_calib_dataset_open(&dd, g2, &ds, &d), NN_ERR_INVALID);
    CHECK(strstr(d.where, "b_c") != NULL);
    CHECK(strstr(d.message, "t2") != NULL);
    /* input_folders: each input's folder given (no parent path); the
       inputs swapped on purpose, so a values check tells which was read */
    {
        char pa[512], pb[512];
        const char *folders[2];
        make_dir("fa"); make_dir("fb");
        for (k = 0; k < 2; k++) {
            float va[2], vb[2];
            va[0] = va[1] = (float)(200 + k); vb[0] = vb[1] = (float)(300 + k);
            snprintf(rel, sizeof rel, "fa/u%d.npy", k); write_npy_f32(rel, 2, d2, va);
            snprintf(rel, sizeof rel, "fb/u%d.npy", k); write_npy_f32(rel, 2, d2, vb);
        }
        folders[0] = tpath(pb, sizeof pb, "fb");
        folders[1] = tpath(pa, sizeof pa, "fa");
        memset(&dd, 0, sizeof dd);
        dd.input_folders = folders;
        CHECK_STATUS(nn_calib_dataset_open(&dd, g2, &ds, &d), NN_OK);
        if (ds) {
            CHECK_EQ_INT(nn_calib_dataset_count(ds), 2);
            CHECK_STATUS(nn_calib_dataset_load(ds, 1, in, &d), NN_OK);
            CHECK_NEAR(((const float *)in[0].data)[0], 301, 0); /* input a from fb */
            CHECK_NEAR(((const float *)in[1].data)[0], 201, 0);
        }
        nn_calib_dataset_destroy(ds);
        /* one entry NULL: that input's folder is path/<name>, here multi/b_c */
        folders[1] = NULL;
        dd.path = tpath(p, sizeof p, "multi");
        write_npy_f32("fb/t0.npy", 2, d2, bin); /* stems t0 only in both */
        CHECK_STATUS(nn_calib_dataset_open(&dd, g2, &ds, &d), NN_ERR_INVALID); /* u0, u1 missing from b_c */
        /* a folder that does not exist: IO, naming it and the input */
        folders[0] = "/nonexistent/nnport-folder";
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_calib_dataset_open(&dd, g2, &ds, &d), NN_ERR_IO);
        CHECK(strstr(d.where, "nnport-folder") != NULL && strstr(d.message, "'a'") != NULL);
    }
    nn_graph_destroy(g1);
    nn_graph_destroy(g2);
}

/* Bad files are errors that name the file. */
static void test_bad_files_named(void) {
    int64_t d4[4] = {1, 3, 2, 2}, d2[2] = {1, 3};
    nn_shape s4 = nn_shape_make(4, d4);
    const char *names[1] = {"x"};
    nn_graph *g = input_graph(1, names, &s4);
    nn_calib_dataset_desc dd;
    nn_calib_dataset *ds = NULL;
    nn_diag d = {NN_OK, "", ""};
    nn_value in;
    char p[512];
    float v[3] = {1, 2, 3};
    make_dir("bad");
    write_bytes("bad/broken.png", "not a png at all", 16);
    write_npy_f32("bad/short.npy", 2, d2, v); /* (1,3) for a (1,3,2,2) input */
    memset(&dd, 0, sizeof dd);
    dd.path = tpath(p, sizeof p, "bad");
    CHECK_STATUS(nn_calib_dataset_open(&dd, g, &ds, &d), NN_OK);
    if (ds) {
        CHECK_STATUS(nn_calib_dataset_load(ds, 0, &in, &d), NN_ERR_PARSE);
        CHECK(strstr(d.where, "broken.png") != NULL);
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_calib_dataset_load(ds, 1, &in, &d), NN_ERR_SHAPE);
        CHECK(strstr(d.where, "short.npy") != NULL);
    }
    nn_calib_dataset_destroy(ds);
    /* two files with one stem */
    write_bytes("bad/short.bin", v, sizeof v);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_calib_dataset_open(&dd, g, &ds, &d), NN_ERR_INVALID);
    CHECK(strstr(d.message, "short.bin") != NULL && strstr(d.message, "short.npy") != NULL);
    dd.extension = "npy"; /* choosing one extension resolves it */
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_calib_dataset_open(&dd, g, &ds, &d), NN_OK);
    if (ds) CHECK_EQ_INT(nn_calib_dataset_count(ds), 1);
    nn_calib_dataset_destroy(ds);
    memset(&d, 0, sizeof d);
    dd.path = tpath(p, sizeof p, "does-not-exist");
    CHECK_STATUS(nn_calib_dataset_open(&dd, g, &ds, &d), NN_ERR_IO);
    CHECK(strstr(d.where, "does-not-exist") != NULL);
    nn_graph_destroy(g);
}

typedef struct text_buf { char data[4096]; size_t n; } text_buf;
static int text_write(void *user, const char *text, size_t bytes) {
    text_buf *b = (text_buf *)user;
    if (b->n + bytes >= sizeof b->data) return 1;
    memcpy(b->data + b->n, text, bytes);
    b->n += bytes;
    b->data[b->n] = 0;
    return 0;
}

/* Table: write, read back the same numbers (double-exact), and the
   header figures; errors carry "<label>:<line>". */
static void test_table_round_trip_and_errors(void) {
    nn_calib_table t, u;
    nn_diag d = {NN_OK, "", ""};
    text_buf b;
    const nn_calib_table_entry *e;
    static const struct { const char *text; nn_status st; const char *where; } bad[] = {
        {"# c\nx 1 -1 1\ny 2 -2\n", NN_ERR_PARSE, "t:3"},
        {"x 1 -1 1 7\n", NN_ERR_PARSE, "t:1"},
        {"\n\nx one -1 1\n", NN_ERR_PARSE, "t:3"},
        {"x 1 -1 1\nx 2 -2 2\n", NN_ERR_ARG, "t:2"},
        {"x -1 -1 1\n", NN_ERR_ARG, "t:1"},
        {"x 1 2 1\n", NN_ERR_ARG, "t:1"},
        {"x nan -1 1\n", NN_ERR_ARG, "t:1"},
        {"x 1 -1 1\n#weight_scale\nw 0.1 0.2\n", NN_ERR_UNSUPPORTED, "t:2"},
    };
    size_t i;
    nn_calib_table_init(&t, NULL);
    t.bins = 2048; t.samples = 16;
    CHECK_STATUS(nn_calib_table_add(&t, 0, "conv1/out:0", 4.123456789f, -3.25, 4.9, &d), NN_OK);
    CHECK_STATUS(nn_calib_table_add(&t, 0, "relu", 1e-7, 0, 2e-7, &d), NN_OK);
    /* 1/3 needs 16 significant digits to read back as the same double (15 give
       0.333333333333333, a different double), -0.1 needs 1 */
    CHECK_STATUS(nn_calib_table_add(&t, 0, "third", 1.0 / 3.0, -0.1, 1.0 / 3.0, &d), NN_OK);
    CHECK_STATUS(nn_calib_table_add(&t, 1, "relu", 0.5, 0, 2e-7, &d), NN_OK);
    CHECK_STATUS(nn_calib_table_add(&t, 0, "has space", 1, 0, 1, &d), NN_ERR_ARG);
    b.n = 0;
    CHECK_STATUS(nn_calib_table_save(&t, text_write, &b, &d), NN_OK);
    CHECK(strstr(b.data, "# histogram number: 2048\n") != NULL);
    CHECK(strstr(b.data, "#int4_th\nrelu 0.5 0 2e-07\n") != NULL);
    CHECK(strstr(b.data, "\nthird 0.3333333333333333 -0.1 0.3333333333333333\n") != NULL);
    nn_calib_table_init(&u, NULL);
    CHECK_STATUS(nn_calib_table_load(&u, b.data, b.n, "t", &d), NN_OK);
    CHECK_EQ_INT(u.count, 3); CHECK_EQ_INT(u.int4_count, 1);
    e = nn_calib_table_find(&u, 0, "third");
    CHECK(e && e->threshold == 1.0 / 3.0 && e->min == -0.1 && e->max == 1.0 / 3.0);
    CHECK_EQ_INT(u.bins, 2048); CHECK_EQ_INT(u.samples, 16);
    e = nn_calib_table_find(&u, 0, "conv1/out:0");
    CHECK(e != NULL);
    if (e) {
        CHECK(e->threshold == (double)4.123456789f); /* the same double */
        CHECK(e->min == -3.25 && e->max == 4.9);
    }
    e = nn_calib_table_find(&u, 1, "relu");
    CHECK(e && e->threshold == 0.5);
    CHECK(nn_calib_table_find(&u, 1, "conv1/out:0") == NULL);
    nn_calib_table_deinit(&u);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nn_diag e2 = {NN_OK, "", ""};
        nn_calib_table_init(&u, NULL);
        CHECK_STATUS(nn_calib_table_load(&u, bad[i].text, strlen(bad[i].text), "t", &e2), bad[i].st);
        CHECK(strcmp(e2.where, bad[i].where) == 0);
        if (strcmp(e2.where, bad[i].where) != 0) fprintf(stderr, "     case %u: where '%s'\n", (unsigned)i, e2.where);
        CHECK_EQ_INT(u.count, 0); /* unchanged on failure */
        nn_calib_table_deinit(&u);
    }
    /* a failed load leaves t as it was, its name index included */
    {
        static const char more[] = "fresh 1 0 1\nrelu 3 0 1\n"; /* relu is already there: line 2 fails */
        nn_diag e2 = {NN_OK, "", ""};
        CHECK_STATUS(nn_calib_table_load(&t, more, strlen(more), "t", &e2), NN_ERR_ARG);
        CHECK(strcmp(e2.where, "t:2") == 0);
        CHECK_EQ_INT(t.count, 3);
        CHECK(nn_calib_table_find(&t, 0, "fresh") == NULL);
        CHECK(nn_calib_table_find(&t, 0, "relu") != NULL);
        CHECK_STATUS(nn_calib_table_add(&t, 0, "fresh", 1, 0, 1, &e2), NN_OK);
        CHECK_STATUS(nn_calib_table_add(&t, 0, "#x", 1, 0, 1, &e2), NN_ERR_ARG);
    }
    nn_calib_table_deinit(&t);
}

/* expected_error in closed form, and AUTO = the argmin of it.
   |x| uniform on [0, 1] (N = 100000 midpoints), int8:
     T = 1:   step 1/127, every value rounded: step^2 / 12 = 5.167e-6
     T = 0.5: rounding on [0, 0.5] (half the mass): 0.5 * (0.5/127)^2 / 12
              + clipping int_0.5^1 (x - 0.5)^2 dx = 0.125 / 3. */
static void test_expected_error_and_auto(void) {
    enum { N = 100000 };
    float *x = (float *)malloc(N * sizeof *x);
    nn_calib_observer o = make_observer(0), z = make_observer(0);
    nn_calib_desc d;
    nn_calib_result r;
    nn_diag diag = {NN_OK, "", ""};
    double s = 0.5 / 127, best = -1;
    int m;
    size_t k;
    for (k = 0; k < N; k++) x[k] = (float)(((double)k + 0.5) / N);
    nn_calib_observe_f32(&o, x, N);
    CHECK_NEAR(nn_calib_expected_error(&o, 1.0, 8), 1.0 / (127.0 * 127.0 * 12.0), 1e-8);
    CHECK_NEAR(nn_calib_expected_error(&o, 0.5, 8), 0.5 * s * s / 12 + 0.125 / 3, 1e-5);
    memset(&d, 0, sizeof d);
    d.method = NN_CALIB_AUTO;
    CHECK_STATUS(nn_calib_compute(&o, &d, &r, &diag), NN_OK);
    for (m = NN_CALIB_MINMAX; m <= NN_CALIB_OCTAV; m++) {
        nn_calib_desc dm = d;
        nn_calib_result rm;
        dm.method = (nn_calib_method)m;
        CHECK_STATUS(nn_calib_compute(&o, &dm, &rm, &diag), NN_OK);
        if (best < 0 || rm.expected_error < best) best = rm.expected_error;
    }
    CHECK(r.method >= NN_CALIB_MINMAX && r.method <= NN_CALIB_OCTAV);
    CHECK_NEAR(r.expected_error, best, 0);
    CHECK(strcmp(nn_calib_method_name(NN_CALIB_AUTO), "auto") == 0);
    for (k = 0; k < N; k++) x[k] = 0; /* exact zeros are quantized exactly */
    nn_calib_observe_f32(&z, x, N);
    CHECK_NEAR(nn_calib_expected_error(&z, 0, 8), 0, 0);
    nn_calib_observer_deinit(&o);
    nn_calib_observer_deinit(&z);
    free(x);
}

/* float16 and bfloat16 tensors fill the same histogram as their float32
   values (all exactly representable: k/64 for k < 256). */
static void test_f16_bf16_observed(void) {
    enum { N = 600 };
    float f[N];
    uint16_t h[N], b[N];
    nn_calib_observer of = make_observer(0), oh = make_observer(0), ob = make_observer(0);
    int64_t dims[1] = {N};
    nn_value vh = nn_value_make(NN_DTYPE_FLOAT16, nn_shape_make(1, dims), h);
    nn_value vb = nn_value_make(NN_DTYPE_BFLOAT16, nn_shape_make(1, dims), b);
    nn_value vi = nn_value_make(NN_DTYPE_INT32, nn_shape_make(1, dims), h);
    nn_diag d = {NN_OK, "", ""};
    int k;
    for (k = 0; k < N; k++) {
        f[k] = (float)((k % 256) - 128) / 64.0f;
        h[k] = nn_f32_to_f16(f[k]);
        b[k] = nn_f32_to_bf16(f[k]);
    }
    nn_calib_observe_f32(&of, f, N);
    CHECK_STATUS(nn_calib_observe_value(&oh, &vh, &d), NN_OK);
    CHECK_STATUS(nn_calib_observe_value(&ob, &vb, &d), NN_OK);
    CHECK_EQ_INT(oh.count, N);
    CHECK(of.min == oh.min && of.max == ob.max && of.bin_width == oh.bin_width);
    CHECK(memcmp(of.hist, oh.hist, of.bins * sizeof *of.hist) == 0);
    CHECK(memcmp(of.hist, ob.hist, of.bins * sizeof *of.hist) == 0);
    CHECK_STATUS(nn_calib_observe_value(&of, &vi, &d), NN_ERR_UNSUPPORTED);
    nn_calib_observer_deinit(&of);
    nn_calib_observer_deinit(&oh);
    nn_calib_observer_deinit(&ob);
}

/* The set check on x (1,3,4,4) -> Conv 1x1 (out 0 = channel 0, out 1 =
   channel 2) -> BatchNormalization whose running stats are those of the
   right data: channel 0 ~ 0.8 + u, channel 2 ~ 0.2 + u, u uniform on
   [-0.1, 0.1] (variance 0.01/3).  Correct order: conv outputs match the BN
   (z ~ 0, r ~ 0); reversed: out 0 has mean 0.2 against 0.8, z = 0.6 /
   sqrt(0.01/3) ~ 10, so the reversed copy scores far better and the check
   reports CHANNEL_ORDER.  Plus few samples, a duplicate and a NaN. */
static nn_graph *conv_bn_graph(void) {
    nn_graph *g = NULL;
    nn_diag d = {NN_OK, "", ""};
    int64_t dx[4] = {1, 3, 4, 4}, dy[4] = {1, 2, 4, 4}, dw[4] = {2, 3, 1, 1}, dc[1] = {2};
    nn_shape sx = nn_shape_make(4, dx), sy = nn_shape_make(4, dy), sw = nn_shape_make(4, dw), sc = nn_shape_make(1, dc);
    static const float w[6] = {1, 0, 0, 0, 0, 1}, one[2] = {1, 1}, zero[2] = {0, 0}, mean[2] = {0.8f, 0.2f};
    static float var[2];
    nn_tensor_id t[9];
    const char *names[9] = {"x", "w", "y", "scale", "bias", "mean", "var", "z", ""};
    int i;
    var[0] = var[1] = 0.01f / 3;
    CHECK_STATUS(nn_graph_create(NULL, &g, &d), NN_OK);
    if (!g) return NULL;
    CHECK_STATUS(nn_graph_set_opset(g, "", 17, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &sx, &t[0], &d), NN_OK);
    CHECK_STATUS(nn_graph_add_tensor(g, "w", NN_DTYPE_FLOAT, &sw, &t[1], &d), NN_OK);
    CHECK_STATUS(nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &sy, &t[2], &d), NN_OK);
    for (i = 3; i < 7; i++) CHECK_STATUS(nn_graph_add_tensor(g, names[i], NN_DTYPE_FLOAT, &sc, &t[i], &d), NN_OK);
    CHECK_STATUS(nn_graph_add_tensor(g, "z", NN_DTYPE_FLOAT, &sy, &t[7], &d), NN_OK);
    CHECK_STATUS(nn_graph_set_data(g, t[1], w, sizeof w, 1, &d), NN_OK);
    CHECK_STATUS(nn_graph_set_data(g, t[3], one, sizeof one, 1, &d), NN_OK);
    CHECK_STATUS(nn_graph_set_data(g, t[4], zero, sizeof zero, 1, &d), NN_OK);
    CHECK_STATUS(nn_graph_set_data(g, t[5], mean, sizeof mean, 1, &d), NN_OK);
    CHECK_STATUS(nn_graph_set_data(g, t[6], var, sizeof var, 1, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_input(g, t[0], &d), NN_OK);
    CHECK_STATUS(nn_graph_add_output(g, t[7], &d), NN_OK);
    CHECK_STATUS(nn_graph_add_node(g, "Conv", "", "conv", t, 2, &t[2], 1, NULL, &d), NN_OK);
    {
        nn_tensor_id bn_in[5];
        bn_in[0] = t[2]; bn_in[1] = t[3]; bn_in[2] = t[4]; bn_in[3] = t[5]; bn_in[4] = t[6];
        CHECK_STATUS(nn_graph_add_node(g, "BatchNormalization", "", "bn1", bn_in, 5, &t[7], 1, NULL, &d), NN_OK);
    }
    if (d.status) fprintf(stderr, "     %s: %s\n", d.where, d.message);
    return g;
}

static const nn_calib_finding *find_code(const nn_calib_report *r, nn_calib_finding_code c) {
    uint32_t i;
    for (i = 0; i < r->finding_count; i++) if (r->findings[i].code == c) return &r->findings[i];
    return NULL;
}

/* Writes 20 samples to dir; swapped: channels 0 and 2 exchanged. */
static void write_check_set(const char *dir, int swapped) {
    int64_t dx[4] = {1, 3, 4, 4};
    char rel[128];
    int k, i;
    make_dir(dir);
    for (k = 0; k < 20; k++) {
        float x[48];
        for (i = 0; i < 16; i++) {
            /* u: a fixed spread of 16 values over [-0.1, 0.1], rotated per
               sample so samples differ */
            float u = (float)(((i * 7 + k) % 16) + 0.5) / 16.0f * 0.2f - 0.1f;
            x[i] = (swapped ? 0.2f : 0.8f) + u;
            x[16 + i] = 0.5f;
            x[32 + i] = (swapped ? 0.8f : 0.2f) - u;
        }
        snprintf(rel, sizeof rel, "%s/s%02d.npy", dir, k);
        write_npy_f32(rel, 4, dx, x);
    }
}

static void test_check_flags_swapped_channels(void) {
    nn_graph *g = conv_bn_graph();
    nn_calib_dataset_desc dd;
    nn_calib_dataset *ds = NULL;
    nn_calib_report r;
    nn_diag d = {NN_OK, "", ""};
    char p[512];
    if (!g) return;
    write_check_set("chk_ok", 0);
    write_check_set("chk_swap", 1);
    memset(&dd, 0, sizeof dd);
    dd.path = tpath(p, sizeof p, "chk_ok");
    CHECK_STATUS(nn_calib_dataset_open(&dd, g, &ds, &d), NN_OK);
    if (ds) {
        CHECK_STATUS(nn_calib_check(g, ds, NULL, &r, &d), NN_OK);
        if (d.status) fprintf(stderr, "     %s: %s\n", d.where, d.message);
        CHECK(r.bn_score >= 0 && r.bn_score < 0.5);
        CHECK(r.bn_score_swapped > 5);
        CHECK(find_code(&r, NN_CALIB_FINDING_CHANNEL_ORDER) == NULL);
        CHECK(find_code(&r, NN_CALIB_FINDING_BN_MISMATCH) == NULL);
        CHECK(find_code(&r, NN_CALIB_FINDING_BN_MATCH) != NULL);
        CHECK(find_code(&r, NN_CALIB_FINDING_FEW_SAMPLES) == NULL); /* 20 >= 16 */
        CHECK_EQ_INT(r.duplicate_count, 4); /* u rotates with period 16: s16..s19 repeat s00..s03 */
        CHECK(find_code(&r, NN_CALIB_FINDING_DUPLICATE) != NULL);
        CHECK(strcmp(r.bn_node, "bn1") == 0);
    }
    nn_calib_dataset_destroy(ds);
    dd.path = tpath(p, sizeof p, "chk_swap");
    dd.max_samples = 8;
    CHECK_STATUS(nn_calib_dataset_open(&dd, g, &ds, &d), NN_OK);
    if (ds) {
        const nn_calib_finding *f;
        CHECK_STATUS(nn_calib_check(g, ds, NULL, &r, &d), NN_OK);
        f = find_code(&r, NN_CALIB_FINDING_CHANNEL_ORDER);
        CHECK(f != NULL);
        if (f) {
            CHECK_EQ_INT(f->severity, NN_CALIB_ERROR);
            CHECK(strstr(f->what_to_do, "bgr") != NULL);
        }
        CHECK(r.findings[0].severity == NN_CALIB_ERROR); /* most severe first */
        CHECK(r.bn_score > 5 && r.bn_score_swapped < 0.5);
        f = find_code(&r, NN_CALIB_FINDING_FEW_SAMPLES);
        CHECK(f != NULL && f->severity == NN_CALIB_WARN); /* 8 < 16 */
    }
    nn_calib_dataset_destroy(ds);
    { /* a NaN in one sample */
        int64_t dx[4] = {1, 3, 4, 4};
        float x[48];
        int i;
        for (i = 0; i < 48; i++) x[i] = 0.5f;
        x[5] = (float)NAN;
        make_dir("chk_nan");
        write_npy_f32("chk_nan/a.npy", 4, dx, x);
        memset(&dd, 0, sizeof dd);
        dd.path = tpath(p, sizeof p, "chk_nan");
        CHECK_STATUS(nn_calib_dataset_open(&dd, g, &ds, &d), NN_OK);
        if (ds) {
            const nn_calib_finding *f;
            CHECK_STATUS(nn_calib_check(g, ds, NULL, &r, &d), NN_OK);
            CHECK_EQ_INT(r.nonfinite_count, 1);
            f = find_code(&r, NN_CALIB_FINDING_NONFINITE);
            CHECK(f != NULL && f->severity == NN_CALIB_ERROR && f->sample == 0);
        }
        nn_calib_dataset_destroy(ds);
    }
    nn_graph_destroy(g);
}

/* nn_calib_table_add_collector writes one line per observed tensor, input
   first, with the observed (unclipped) range. */
static void test_table_from_collector(void) {
    nn_graph *g = conv_bn_graph();
    nn_calib_collector *col = NULL;
    nn_calib_collector_desc cd;
    nn_calib_table t;
    nn_calib_desc md;
    nn_diag d = {NN_OK, "", ""};
    uint32_t skipped = 9;
    int64_t dx[4] = {1, 3, 4, 4};
    float x[48];
    nn_value v;
    int i;
    if (!g) return;
    for (i = 0; i < 48; i++) x[i] = (float)i / 47.0f - 0.25f;
    v = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, dx), x);
    memset(&cd, 0, sizeof cd);
    CHECK_STATUS(nn_calib_collector_create(g, &cd, &col, &d), NN_OK);
    if (!col) { nn_graph_destroy(g); return; }
    CHECK_STATUS(nn_calib_collector_observe(col, g->inputs[0], &v, &d), NN_OK);
    nn_calib_table_init(&t, NULL);
    memset(&md, 0, sizeof md);
    md.method = NN_CALIB_MINMAX;
    CHECK_STATUS(nn_calib_table_add_collector(&t, 0, col, &md, &skipped, &d), NN_OK);
    CHECK_EQ_INT(t.count, 1); /* only x was observed */
    CHECK_EQ_INT(skipped, 0);
    if (t.count) {
        CHECK(strcmp(t.entries[0].name, "x") == 0);
        CHECK_NEAR(t.entries[0].threshold, 0.75, 1e-6); /* max |x| = 1 - 0.25 */
        CHECK_NEAR(t.entries[0].min, -0.25, 1e-6);
    }
    nn_calib_table_deinit(&t);
    nn_calib_collector_destroy(col);
    nn_graph_destroy(g);
}

/* Every allocation of open + load (npy and image samples), the check and
   a table load failing in turn: NN_ERR_NOMEM and no leak each time. */
static void test_dataset_alloc_failures(void) {
    int64_t d2[2] = {1, 2}, d4[4] = {1, 3, 1, 1};
    nn_shape s2 = nn_shape_make(2, d2), s4 = nn_shape_make(4, d4);
    const char *names[1] = {"x"};
    nn_graph *g2 = input_graph(1, names, &s2), *g4 = input_graph(1, names, &s4);
    static const char text[] = "a 1 -1 1\nb 2 -2 2\n#int4_th\na 1 -1 1\n";
    int round, fail_at, failures[3] = {0, 0, 0};
    char p[512];
    for (round = 0; round < 3; round++) {
        for (fail_at = 0; fail_at < 40; fail_at++) {
            count_alloc ca = {0, 0, 0};
            nn_allocator a;
            nn_diag e = {NN_OK, "", ""};
            nn_status st;
            ca.fail_at = fail_at;
            a.alloc = count_alloc_fn; a.free = count_free_fn; a.user = &ca;
            if (round < 2) {
                nn_calib_dataset_desc dd;
                nn_calib_dataset *ds = NULL;
                nn_value in;
                memset(&dd, 0, sizeof dd);
                dd.alloc = a;
                dd.path = tpath(p, sizeof p, round == 0 ? "np" : "img");
                if (round == 0) dd.extension = "npy";
                st = nn_calib_dataset_open(&dd, round == 0 ? g2 : g4, &ds, &e);
                if (st == NN_OK) st = nn_calib_dataset_load(ds, 0, &in, &e);
                if (st == NN_OK && round == 0) {
                    nn_calib_check_desc cd;
                    nn_calib_report r;
                    memset(&cd, 0, sizeof cd);
                    cd.alloc = a;
                    st = nn_calib_check(g2, ds, &cd, &r, &e);
                }
                nn_calib_dataset_destroy(ds);
            } else {
                nn_calib_table t;
                nn_calib_table_init(&t, &a);
                st = nn_calib_table_load(&t, text, strlen(text), "t", &e);
                nn_calib_table_deinit(&t);
            }
            CHECK_EQ_INT(ca.live, 0);
            if (st != NN_OK) { CHECK_STATUS(st, NN_ERR_NOMEM); failures[round]++; }
            else break; /* every allocation point has been failed once */
        }
        CHECK(failures[round] > 2);
        CHECK(fail_at < 40);
    }
    nn_graph_destroy(g2);
    nn_graph_destroy(g4);
}

/* Removes what the tests wrote (a fixed list: no recursive delete). */
static void cleanup_tmp(void) {
    static const char *const files[] = {
        "img/a.bmp", "np/s0.npy", "np/s1.npy", "np/s2.npy", "np/s3.npy", "np/s4.npy", "np/notes.txt", "raw/r.bin",
        "multi/a/t0.npy", "multi/a/t1.npy", "multi/a/t2.npy", "multi/b_c/t0.npy", "multi/b_c/t1.npy",
        "bad/broken.png", "bad/short.npy", "bad/short.bin", "chk_nan/a.npy"};
    static const char *const dirs[] = {"img", "np", "raw", "multi/a", "multi/b_c", "multi", "bad", "chk_nan",
                                       "chk_ok", "chk_swap"};
    char p[512];
    size_t i;
    int k;
    for (i = 0; i < sizeof files / sizeof files[0]; i++) remove(tpath(p, sizeof p, files[i]));
    for (k = 0; k < 20; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "chk_ok/s%02d.npy", k); remove(tpath(p, sizeof p, rel));
        snprintf(rel, sizeof rel, "chk_swap/s%02d.npy", k); remove(tpath(p, sizeof p, rel));
    }
    for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) rmdir(tpath(p, sizeof p, dirs[i]));
    rmdir(tmp_root);
}

static void test_datasets_tables_check(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmp_root, sizeof tmp_root, "%s/nn_calib_test_XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(tmp_root)) { CHECK(!"mkdtemp"); return; }
    test_image_resize_hand();
    test_image_layouts_and_modes();
    test_image_channels_pnm();
    test_npy_bin_cap_multi();
    test_bad_files_named();
    test_check_flags_swapped_channels();
    test_table_from_collector();
    test_dataset_alloc_failures();
    cleanup_tmp();
}

int main(void) {
    test_collector_alloc_failures();
    test_uniform_minmax_percentile();
    test_aciq_closed_forms();
    test_mse_octav_gauss();
    test_kl_outliers();
    test_kl_relu_zeros();
    test_rebin_matches_single_histogram();
    test_collector_memory_constant();
    test_nonfinite_counted_apart();
    test_all_zero();
    test_bad_options();
    test_table_round_trip_and_errors();
    test_expected_error_and_auto();
    test_f16_bf16_observed();
    test_datasets_tables_check();
    return check_summary();
}
