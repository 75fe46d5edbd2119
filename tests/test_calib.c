/* test_calib.c - streaming observers, the collector and every calibrator of
   nn_calib.h, against closed forms worked out in the comments.

   Data are deterministic.  Where a result depends on a distribution's tail,
   the "sample" is the distribution's quantiles x_k = F^-1((k + 0.5) / N)
   rather than random draws: then the histogram is the density up to
   midpoint-rule error and the golden values do not wobble with a seed. */
#include "nn_calib.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

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
    CHECK_NEAR(threshold(&o, NN_CALIB_DEFAULT), t, 0); /* default is KL */
    /* Percentile ignores 5 of 200006 values: 99.99% of |x| is about 3.9 */
    CHECK(threshold(&o, NN_CALIB_PERCENTILE) < 5.0);
    nn_calib_observer_deinit(&o);
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

int main(void) {
    test_collector_alloc_failures();
    test_uniform_minmax_percentile();
    test_aciq_closed_forms();
    test_mse_octav_gauss();
    test_kl_outliers();
    test_rebin_matches_single_histogram();
    test_collector_memory_constant();
    test_nonfinite_counted_apart();
    test_all_zero();
    test_bad_options();
    return check_summary();
}
