/* test_quant.c - nn_quant.h: requantization rounding on hand-calculated
   cases, the integer kernels against hand calculations and against a naive
   loop written here, lookup tables, the quantize table parser, the QDQ
   graph builder's structure, the fake-quant executor against the float
   executor, and a hand-written QDQ model against ONNX Runtime's output
   (tests/data/quant/, made by make_golden.py there). */
#include "nn_graph.h"
#include "nn_onnx.h"
#include "nn_verify.h"
#include "nn_calib.h"
#include "nn_quant.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

/* ---- requantization --------------------------------------------------- */

static void test_multiplier(void) {
    nn_quant_multiplier q = nn_quant_multiplier_make(0.5);
    /* 0.5 = 0.5 * 2^0: m = 0.5 * 2^31 = 2^30, shift = 31 */
    CHECK_EQ_INT(q.m, 1 << 30);
    CHECK_EQ_INT(q.shift, 31);
    q = nn_quant_multiplier_make(1.5); /* 0.75 * 2^1: m = 0.75 * 2^31, shift 30 */
    CHECK_EQ_INT(q.m, 1610612736);
    CHECK_EQ_INT(q.shift, 30);
    q = nn_quant_multiplier_make(0.0);
    CHECK_EQ_INT(q.m, 0);
    CHECK_EQ_INT(nn_quant_mul_shift(12345, q), 0);
}

static void test_rounding(void) {
    nn_quant_multiplier half = nn_quant_multiplier_make(0.5), m15 = nn_quant_multiplier_make(1.5);
    /* round half up: floor(x * M + 0.5) */
    CHECK_EQ_INT(nn_quant_mul_shift(5, half), 3);   /*  2.5 ->  3 */
    CHECK_EQ_INT(nn_quant_mul_shift(-5, half), -2); /* -2.5 -> -2 */
    CHECK_EQ_INT(nn_quant_mul_shift(7, half), 4);   /*  3.5 ->  4 */
    CHECK_EQ_INT(nn_quant_mul_shift(-7, half), -3); /* -3.5 -> -3 */
    CHECK_EQ_INT(nn_quant_mul_shift(-6, half), -3); /* exact */
    CHECK_EQ_INT(nn_quant_mul_shift(3, m15), 5);    /*  4.5 ->  5 */
    CHECK_EQ_INT(nn_quant_mul_shift(-3, m15), -4);  /* -4.5 -> -4 */
    CHECK_EQ_INT(nn_quant_mul_shift(-1, nn_quant_multiplier_make(0.25)), 0); /* -0.25 -> 0 */
    CHECK_EQ_INT(nn_quant_mul_shift(-3, nn_quant_multiplier_make(0.25)), -1); /* -0.75 -> -1 */
    /* 1000 * 0.1 = 100 (m = round(0.8 * 2^31), shift 34), zp -5 -> 95 */
    CHECK_EQ_INT(nn_quant_requantize(1000, nn_quant_multiplier_make(0.1), -5, -128, 127), 95);
    CHECK_EQ_INT(nn_quant_requantize(2000, nn_quant_multiplier_make(0.1), -5, -128, 127), 127);  /* 195 saturates */
    CHECK_EQ_INT(nn_quant_requantize(-2000, nn_quant_multiplier_make(0.1), -5, -128, 127), -128);
    CHECK_EQ_INT(nn_quant_requantize(-2000, nn_quant_multiplier_make(0.1), 0, 0, 6), 0); /* clamp = merged Relu6 */
    /* a large accumulator: 2^30 * 2^-20 = 1024 */
    CHECK_EQ_INT(nn_quant_mul_shift((int64_t)1 << 30, nn_quant_multiplier_make(1.0 / 1048576.0)), 1024);
}

/* Half to even (ONNX QuantizeLinear, ORT): hand-calculated ties and non-ties. */
static void test_rounding_rne(void) {
    nn_quant_multiplier half = nn_quant_multiplier_make(0.5), m15 = nn_quant_multiplier_make(1.5),
                        q25 = nn_quant_multiplier_make(0.25);
    CHECK_EQ_INT(nn_quant_mul_shift_rne(5, half), 2);    /*  2.5 ->  2 (even) */
    CHECK_EQ_INT(nn_quant_mul_shift_rne(7, half), 4);    /*  3.5 ->  4 */
    CHECK_EQ_INT(nn_quant_mul_shift_rne(-5, half), -2);  /* -2.5 -> -2 */
    CHECK_EQ_INT(nn_quant_mul_shift_rne(-7, half), -4);  /* -3.5 -> -4 (half up gives -3) */
    CHECK_EQ_INT(nn_quant_mul_shift_rne(1, half), 0);    /*  0.5 ->  0 */
    CHECK_EQ_INT(nn_quant_mul_shift_rne(-1, half), 0);   /* -0.5 ->  0 */
    CHECK_EQ_INT(nn_quant_mul_shift_rne(3, m15), 4);     /*  4.5 ->  4 (half up gives 5) */
    CHECK_EQ_INT(nn_quant_mul_shift_rne(-3, m15), -4);   /* -4.5 -> -4 */
    CHECK_EQ_INT(nn_quant_mul_shift_rne(-3, q25), -1);   /* -0.75 -> -1: not a tie */
    CHECK_EQ_INT(nn_quant_mul_shift_rne(5, q25), 1);     /*  1.25 ->  1 */
    CHECK_EQ_INT(nn_quant_mul_shift_rne(-6, half), -3);  /* exact */
    CHECK_EQ_INT(nn_quant_mul_shift_rne(12345, nn_quant_multiplier_make(0.0)), 0);
    /* agrees with the half-up rule off ties: 1000 * 0.1 = 100 */
    CHECK_EQ_INT(nn_quant_mul_shift_rne(1000, nn_quant_multiplier_make(0.1)), 100);
}

/* ---- kernels ----------------------------------------------------------- */

static void test_conv_hand(void) {
    /* x (1,1,2,2) = [1 2; 3 4], in_zp 1 -> [0 1; 2 3]; w (1,1,2,2) = [1 -1; 2 1]
       acc = 0*1 + 1*(-1) + 2*2 + 3*1 = 6, + bias 4 = 10, * 0.25 = 2.5 -> 3,
       + out_zp -1 = 2 */
    int8_t x[4] = {1, 2, 3, 4}, w[4] = {1, -1, 2, 1}, y[1] = {0};
    int32_t bias[1] = {4};
    nn_quant_multiplier m = nn_quant_multiplier_make(0.25);
    nn_quant_conv_params p;
    memset(&p, 0, sizeof p);
    p.n = 1; p.c = 1; p.h = 2; p.w = 2; p.m = 1; p.kh = 2; p.kw = 2; p.oh = 1; p.ow = 1;
    p.group = 1; p.stride_h = p.stride_w = p.dil_h = p.dil_w = 1;
    p.in_zp = 1; p.out_zp = -1; p.act_min = -128; p.act_max = 127;
    void *s = malloc(nn_quant_conv_s8_scratch_bytes(&p));
    nn_quant_conv_s8(&p, x, w, bias, &m, y, s);
    CHECK_EQ_INT(y[0], 2);
    free(s);
}

/* Naive reference: the convolution sum written the obvious way, requantized
   in double with round half up (the documented rule). */
static int32_t ref_requant(int64_t acc, double M, int32_t zp, int32_t lo, int32_t hi) {
    double v = floor((double)acc * M + 0.5) + zp;
    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

static void conv_case(int32_t c, int32_t m, int32_t group, int32_t k, int32_t stride, int32_t pad, int32_t dil,
                      int32_t h, unsigned seed) {
    nn_quant_conv_params p;
    memset(&p, 0, sizeof p);
    p.n = 2; p.c = c; p.h = h; p.w = h + 1; p.m = m; p.kh = k; p.kw = k; p.group = group;
    p.stride_h = p.stride_w = stride; p.dil_h = p.dil_w = dil; p.pad_top = p.pad_left = pad;
    p.oh = (p.h + 2 * pad - ((k - 1) * dil + 1)) / stride + 1;
    p.ow = (p.w + 2 * pad - ((k - 1) * dil + 1)) / stride + 1;
    p.in_zp = -7; p.out_zp = 3; p.act_min = -100; p.act_max = 120;
    size_t nx = (size_t)p.n * c * p.h * p.w, nw = (size_t)m * (c / group) * k * k, ny = (size_t)p.n * m * p.oh * p.ow;
    int8_t *x = malloc(nx), *w = malloc(nw), *y = malloc(ny);
    int32_t *bias = malloc((size_t)m * 4);
    nn_quant_multiplier *mu = malloc((size_t)m * sizeof *mu);
    double *M = malloc((size_t)m * sizeof *M);
    unsigned r = seed;
    for (size_t i = 0; i < nx; i++) { r = r * 1103515245u + 12345u; x[i] = (int8_t)(r >> 16); }
    for (size_t i = 0; i < nw; i++) { r = r * 1103515245u + 12345u; w[i] = (int8_t)(r >> 16); }
    for (int32_t i = 0; i < m; i++) {
        r = r * 1103515245u + 12345u;
        bias[i] = (int32_t)(r >> 20) - 2048;
        mu[i] = nn_quant_multiplier_make(0.0007 * (i + 1));
        M[i] = (double)mu[i].m / ldexp(1.0, mu[i].shift); /* the multiplier actually represented */
    }
    void *s = malloc(nn_quant_conv_s8_scratch_bytes(&p));
    nn_quant_conv_s8(&p, x, w, bias, mu, y, s);
    int bad = 0;
    int32_t cg = c / group, mg = m / group;
    for (int32_t n = 0; n < p.n; n++)
        for (int32_t o = 0; o < m; o++)
            for (int32_t oh = 0; oh < p.oh; oh++)
                for (int32_t ow = 0; ow < p.ow; ow++) {
                    int64_t acc = bias[o];
                    int32_t gi = o / mg;
                    for (int32_t ci = 0; ci < cg; ci++)
                        for (int32_t kh = 0; kh < k; kh++)
                            for (int32_t kw = 0; kw < k; kw++) {
                                int32_t ih = oh * stride - pad + kh * dil, iw = ow * stride - pad + kw * dil;
                                if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;
                                acc += (int64_t)w[(((size_t)o * cg + ci) * k + kh) * k + kw] *
                                       (x[(((size_t)n * c + gi * cg + ci) * p.h + ih) * p.w + iw] - p.in_zp);
                            }
                    int32_t want = ref_requant(acc, M[o], p.out_zp, p.act_min, p.act_max);
                    if (y[(((size_t)n * m + o) * p.oh + oh) * p.ow + ow] != want) bad++;
                }
    CHECK_EQ_INT(bad, 0);
    free(x); free(w); free(y); free(bias); free(mu); free(M); free(s);
}

static void test_conv_naive(void) {
    conv_case(3, 5, 1, 3, 1, 1, 1, 7, 1);   /* 3x3 pad 1 */
    conv_case(4, 6, 2, 3, 2, 1, 1, 9, 2);   /* groups, stride 2 */
    conv_case(6, 6, 6, 3, 1, 2, 2, 8, 3);   /* depthwise, dilation 2 */
    conv_case(16, 8, 1, 1, 1, 0, 1, 5, 4);  /* pointwise */
    conv_case(3, 4, 1, 7, 2, 3, 1, 12, 5);  /* 7x7 stride 2 pad 3 */
    conv_case(8, 9, 1, 3, 1, 1, 1, 23, 6);  /* more than 256 pixels, 9 = 4+4+1 channels */
}

static void test_matmul_hand(void) {
    /* a = [3 -2], a_zp 1 -> [2 -3]; b = [1 2; 3 4], b_zp 1 -> [0 1; 2 3]
       acc = [2*0 - 3*2, 2*1 - 3*3] = [-6 -7], + bias [1 1] = [-5 -6],
       * 0.5 = [-2.5 -3] -> [-2 -3] (half up) */
    int8_t a[2] = {3, -2}, b[4] = {1, 2, 3, 4}, y[2];
    int32_t bias[2] = {1, 1}, scratch[64];
    nn_quant_multiplier m = nn_quant_multiplier_make(0.5);
    nn_quant_matmul_params p;
    memset(&p, 0, sizeof p);
    p.m = 1; p.k = 2; p.n = 2; p.a_zp = 1; p.b_zp = 1; p.act_min = -128; p.act_max = 127; p.mult_count = 1;
    CHECK(nn_quant_matmul_s8_scratch_bytes(&p) <= sizeof scratch);
    nn_quant_matmul_s8(&p, a, b, bias, &m, y, scratch);
    CHECK_EQ_INT(y[0], -2);
    CHECK_EQ_INT(y[1], -3);
}

/* ---- 16-bit activations (W8A16) ------------------------------------------ */

static void test_requant_wide(void) {
    nn_quant_multiplier u = nn_quant_multiplier_make(1.0 / 1048576.0), half = nn_quant_multiplier_make(0.5),
                        m15 = nn_quant_multiplier_make(1.5);
    int64_t big = ((int64_t)3 << 40) + ((int64_t)1 << 19);
    int i, bad = 0;
    /* M = 2^-20 (m 2^30, shift 50): (3 * 2^40 + 2^19) * 2^-20 = 3 * 2^20 + 0.5, a tie: up to 3145729;
       the negative one, -3145728.5, also up: -3145728 */
    CHECK_EQ_INT(u.shift, 50);
    CHECK_EQ_INT(nn_quant_requantize_wide(big, u, 0, INT32_MIN, INT32_MAX), 3145729);
    CHECK_EQ_INT(nn_quant_requantize_wide(-big, u, 0, INT32_MIN, INT32_MAX), -3145728);
    CHECK_EQ_INT(nn_quant_requantize_wide(big, u, -5, -32768, 32767), 32767);        /* clamp to int16 */
    CHECK_EQ_INT(nn_quant_requantize_wide(-big, u, 7, -32768, 32767), -32768);
    /* 2^50 * 0.5 = 2^49: saturates to INT32_MAX before the zero point */
    CHECK_EQ_INT(nn_quant_requantize_wide((int64_t)1 << 50, half, 0, INT32_MIN, INT32_MAX), INT32_MAX);
    CHECK_EQ_INT(nn_quant_requantize_wide(-((int64_t)1 << 50), half, 0, INT32_MIN, INT32_MAX), INT32_MIN);
    /* shift below 32 (M = 1.5: shift 30): 3 * 1.5 = 4.5 -> 5, -4.5 -> -4, 10^9 * 1.5 = 1.5e9 exactly,
       2^31 * 1.5 = 3 * 2^30 saturates */
    CHECK_EQ_INT(nn_quant_requantize_wide(3, m15, 0, INT32_MIN, INT32_MAX), 5);
    CHECK_EQ_INT(nn_quant_requantize_wide(-3, m15, 0, INT32_MIN, INT32_MAX), -4);
    CHECK_EQ_INT(nn_quant_requantize_wide(1000000000, m15, 0, INT32_MIN, INT32_MAX), 1500000000);
    CHECK_EQ_INT(nn_quant_requantize_wide((int64_t)1 << 31, m15, 0, INT32_MIN, INT32_MAX), INT32_MAX);
    CHECK_EQ_INT(nn_quant_requantize_wide(-((int64_t)1 << 31), m15, 0, INT32_MIN, INT32_MAX), INT32_MIN);
    /* where nn_quant_requantize applies (|acc| < 2^31) the two agree */
    for (i = 0; i < 20000; i++) {
        uint32_t r = (uint32_t)i * 2654435761u;
        int64_t acc = (int64_t)(int32_t)(r ^ (r >> 7)) / (1 + (i % 5) * 1000);
        nn_quant_multiplier q = nn_quant_multiplier_make(ldexp(1.0 + (double)(i % 97) / 97.0, -(i % 40)));
        if (nn_quant_requantize_wide(acc, q, i % 11 - 5, -32768, 32767) != nn_quant_requantize(acc, q, i % 11 - 5, -32768, 32767))
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
#ifdef __SIZEOF_INT128__
    /* beyond 2^31: against floor((acc * m + 2^(shift-1)) / 2^shift) in 128 bits */
    for (i = 0, bad = 0; i < 20000; i++) {
        uint64_t r = (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull;
        int64_t acc = (int64_t)(r >> 17) - ((int64_t)1 << 46);
        nn_quant_multiplier q = nn_quant_multiplier_make(ldexp(1.0 + (double)(i % 89) / 89.0, -(i % 31)));  /* shift 30..60 */
        __int128 pr = (__int128)acc * q.m + ((__int128)1 << (q.shift - 1)), f;
        f = pr >= 0 ? pr >> q.shift : -((-(pr + 1)) >> q.shift) - 1;
        if (f > INT32_MAX) f = INT32_MAX;
        if (f < INT32_MIN) f = INT32_MIN;
        if (nn_quant_requantize_wide(acc, q, 0, INT32_MIN, INT32_MAX) != (int32_t)f) bad++;
    }
    CHECK_EQ_INT(bad, 0);
#endif
}

static void test_conv_s16_hand(void) {
    /* 1x1 conv, 600 input channels all 30000 (in_zp 0), output channel 0's
       weights all 127, channel 1's all -127: acc = +-600 x 30000 x 127 =
       +-2,286,000,000, beyond int32 (2,147,483,648); x 2^-20 = +-2180.0858
       -> +-2180.  Channel 1 has bias -2^19 (-0.5 after the multiplier):
       -2180.5858 -> -2181. */
    int16_t x[600], y[2];
    int8_t w[1200];
    int32_t bias[2] = {0, -(1 << 19)};
    nn_quant_multiplier m[2];
    nn_quant_conv_params p;
    void *s;
    int i;
    for (i = 0; i < 600; i++) { x[i] = 30000; w[i] = 127; w[600 + i] = -127; }
    m[0] = m[1] = nn_quant_multiplier_make(1.0 / 1048576.0);
    memset(&p, 0, sizeof p);
    p.n = 1; p.c = 600; p.h = 1; p.w = 1; p.m = 2; p.kh = 1; p.kw = 1; p.oh = 1; p.ow = 1;
    p.group = 1; p.stride_h = p.stride_w = p.dil_h = p.dil_w = 1;
    p.act_min = -32768; p.act_max = 32767;
    s = malloc(nn_quant_conv_s16_scratch_bytes(&p));
    nn_quant_conv_s16(&p, x, w, bias, m, y, s);
    CHECK_EQ_INT(y[0], 2180);
    CHECK_EQ_INT(y[1], -2181);
    /* out_zp 100 and a clamp at 0 (a merged Relu): 2280 and 0 */
    p.out_zp = 100; p.act_min = 0;
    nn_quant_conv_s16(&p, x, w, bias, m, y, s);
    CHECK_EQ_INT(y[0], 2280);
    CHECK_EQ_INT(y[1], 0);
    free(s);
}

static void test_eltwise_s16(void) {
    nn_quant_eltwise_params p;
    int16_t a[3] = {30000, -32768, 100}, b[3] = {20000, 32767, -100}, y[3];
    /* a * 0.5 + b * 0.25 with y at scale 1: 15000 + 5000 = 20000;
       -16384 + 8191.75 = -8192.25 -> -8192; 50 - 25 = 25 (left shift 15:
       every rescale here is exact, only the last rounding acts) */
    nn_quant_eltwise_params_make_s16(&p, 0, 0.5, 0, 0.25, 0, 1.0, 0);
    CHECK_EQ_INT(p.left_shift, 15);
    CHECK_EQ_INT(p.act_min, -32768);
    nn_quant_add_s16(&p, a, b, y, 3);
    CHECK_EQ_INT(y[0], 20000);
    CHECK_EQ_INT(y[1], -8192);
    CHECK_EQ_INT(y[2], 25);
    /* sub: 15000 - 5000 = 10000; -16384 - 8191.75 = -24575.75 -> -24576; 50 + 25 = 75 */
    nn_quant_sub_s16(&p, a, b, y, 3);
    CHECK_EQ_INT(y[0], 10000);
    CHECK_EQ_INT(y[1], -24576);
    CHECK_EQ_INT(y[2], 75);
    /* mul, zero points -32768: (32767 + 32768)^2 = 65535^2 = 4,294,836,225 (beyond int32),
       = 65536 x 65534 + 1, x (1/256)(1/256) / 1 = 65534.0000153 -> 65534, + zp -32768 = 32766;
       (-32768 + 32768) x ... = 0 -> -32768 */
    {
        int16_t ma[2] = {32767, -32768}, mb[2] = {32767, 5}, my[2];
        nn_quant_eltwise_params_make_s16(&p, 1, 1.0 / 256, -32768, 1.0 / 256, -32768, 1.0, -32768);
        nn_quant_mul_s16(&p, ma, mb, my, 2);
        CHECK_EQ_INT(my[0], 32766);
        CHECK_EQ_INT(my[1], -32768);
    }
    {   /* int16 broadcast: (2, 3) from (3) */
        int16_t src[3] = {-300, 7, 32767}, dst[6];
        int64_t sd[1] = {3}, od[2] = {2, 3};
        nn_shape ss = nn_shape_make(1, sd), os = nn_shape_make(2, od);
        CHECK_EQ_INT((int)nn_quant_broadcast_s16(src, &ss, &os, dst), 6);
        CHECK(dst[0] == -300 && dst[1] == 7 && dst[2] == 32767 && dst[3] == -300 && dst[4] == 7 && dst[5] == 32767);
    }
}

static void test_avgpool_s16(void) {
    /* global pool of (1,1,2,2) = [30000 30001; -5 32767], in_zp -100:
       (30100 + 30101 + 95 + 32867) / 4 = 93163 / 4 = 23290.75 -> 23291 (M = 1/4 by count 4),
       + out_zp -7 = 23284; a 2x1 window with stride 1 over the columns instead:
       (30100 + 95) / 2 = 15097.5 -> 15098 (half up), (30101 + 32867) / 2 = 31484, minus 7 */
    int16_t x[4] = {30000, 30001, -5, 32767}, y[2];
    nn_quant_multiplier mc[5];
    nn_quant_pool_params p;
    int i;
    mc[0] = nn_quant_multiplier_make(0);
    for (i = 1; i <= 4; i++) mc[i] = nn_quant_multiplier_make(1.0 / i);
    memset(&p, 0, sizeof p);
    p.n = 1; p.c = 1; p.h = 2; p.w = 2; p.kh = 2; p.kw = 2; p.oh = 1; p.ow = 1; p.stride_h = p.stride_w = 1;
    p.in_zp = -100; p.out_zp = -7; p.act_min = -32768; p.act_max = 32767;
    nn_quant_avgpool_s16(&p, x, mc, y);
    CHECK_EQ_INT(y[0], 23284);
    p.kw = 1; p.ow = 2;
    nn_quant_avgpool_s16(&p, x, mc, y);
    CHECK_EQ_INT(y[0], 15091);
    CHECK_EQ_INT(y[1], 31477);
}

/* Random int16 convolutions (padding, stride, dilation, groups, depthwise)
   against the sum written out directly; requantized by
   nn_quant_requantize_wide (hand-checked above). */
/* conv16_case's input zero point: -300, and 0 (the s16 scheme's symmetric
   activations, which the AVX-512 build runs with VNNI int16 pairs). */
static int32_t conv16_zp = -300;

static void conv16_case(int32_t c, int32_t m, int32_t group, int32_t k, int32_t stride, int32_t pad, int32_t dil,
                        int32_t h, unsigned seed) {
    nn_quant_conv_params p;
    size_t nx, nw, ny, i;
    int16_t *x, *y;
    int8_t *w;
    int32_t *bias, cg = c / group, mg = m / group, n, o, oh, ow;
    nn_quant_multiplier *mu;
    unsigned r = seed;
    void *s;
    int bad = 0;
    memset(&p, 0, sizeof p);
    p.n = 2; p.c = c; p.h = h; p.w = h + 3; p.m = m; p.kh = k; p.kw = k; p.group = group;
    p.stride_h = p.stride_w = stride; p.dil_h = p.dil_w = dil; p.pad_top = p.pad_left = pad;
    p.oh = (p.h + 2 * pad - ((k - 1) * dil + 1)) / stride + 1;
    p.ow = (p.w + 2 * pad - ((k - 1) * dil + 1)) / stride + 1;
    p.in_zp = conv16_zp; p.out_zp = 17; p.act_min = -30000; p.act_max = 32000;
    nx = (size_t)p.n * c * p.h * p.w; nw = (size_t)m * cg * k * k; ny = (size_t)p.n * m * p.oh * p.ow;
    x = (int16_t *)malloc(nx * 2); w = (int8_t *)malloc(nw); y = (int16_t *)malloc(ny * 2);
    bias = (int32_t *)malloc((size_t)m * 4); mu = (nn_quant_multiplier *)malloc((size_t)m * sizeof *mu);
    for (i = 0; i < nx; i++) { r = r * 1103515245u + 12345u; x[i] = (int16_t)(r >> 16); }
    for (i = 0; i < nw; i++) { r = r * 1103515245u + 12345u; w[i] = (int8_t)(r >> 16); }
    for (o = 0; o < m; o++) {
        r = r * 1103515245u + 12345u;
        bias[o] = (int32_t)(r >> 8) - (1 << 23);
        mu[o] = nn_quant_multiplier_make(ldexp(1.0 + 0.01 * o, -14 - (o % 5)));
    }
    s = malloc(nn_quant_conv_s16_scratch_bytes(&p));
    if (s) memset(s, 0x5a, nn_quant_conv_s16_scratch_bytes(&p)); /* stale data, as in a reused arena */
    nn_quant_conv_s16(&p, x, w, bias, mu, y, s);
    for (n = 0; n < p.n; n++)
        for (o = 0; o < m; o++)
            for (oh = 0; oh < p.oh; oh++)
                for (ow = 0; ow < p.ow; ow++) {
                    int64_t acc = bias[o];
                    int32_t gi = o / mg, ci, kh, kw;
                    for (ci = 0; ci < cg; ci++)
                        for (kh = 0; kh < k; kh++)
                            for (kw = 0; kw < k; kw++) {
                                int32_t ih = oh * stride - pad + kh * dil, iw = ow * stride - pad + kw * dil;
                                if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;
                                acc += (int64_t)w[(((size_t)o * cg + ci) * k + kh) * k + kw] *
                                       (x[(((size_t)n * c + gi * cg + ci) * p.h + ih) * p.w + iw] - p.in_zp);
                            }
                    if (y[(((size_t)n * m + o) * p.oh + oh) * p.ow + ow] !=
                        nn_quant_requantize_wide(acc, mu[o], p.out_zp, p.act_min, p.act_max))
                        bad++;
                }
    CHECK_EQ_INT(bad, 0);
    free(x); free(w); free(y); free(bias); free(mu); free(s);
}

/* Sums past 2^32 (the vector requantization must hand them to the scalar
   path: times a multiplier near 2^31 they overflow int64).  x = 32767 and
   in_zp = -300 everywhere, K = 134 * 3 * 3 = 1206 taps of w = 127 (or -128):
   every interior output sums 1206 * 33067 * 127 = 5,064,431,922 (or
   -5,103,307,776) with a multiplier of 0.99, far beyond int16, so each
   output is act_max = 32000 (or act_min = -30000), border outputs too
   (4 to 9 taps of 134 channels still give over 1.7e8).  Again with
   in_zp = 0 (the VNNI path): 1206 * 32767 * 127 = 5,018,483,886, the same
   outputs. */
static void test_conv_s16_wide_acc(void) {
    nn_quant_conv_params p;
    int16_t x[134 * 25], y[2 * 25];
    int8_t w[2 * 1206];
    nn_quant_multiplier mu[2];
    void *s;
    int i, bad = 0;
    memset(&p, 0, sizeof p);
    p.n = 1; p.c = 134; p.h = 5; p.w = 5; p.m = 2; p.kh = 3; p.kw = 3; p.group = 1;
    p.stride_h = p.stride_w = 1; p.dil_h = p.dil_w = 1; p.pad_top = p.pad_left = 1; p.oh = 5; p.ow = 5;
    p.out_zp = 0; p.act_min = -30000; p.act_max = 32000;
    for (i = 0; i < 134 * 25; i++) x[i] = 32767;
    for (i = 0; i < 1206; i++) { w[i] = 127; w[1206 + i] = -128; }
    mu[0] = mu[1] = nn_quant_multiplier_make(0.99);
    CHECK_EQ_INT(mu[0].shift, 31);
    s = malloc(nn_quant_conv_s16_scratch_bytes(&p));
    for (p.in_zp = -300; p.in_zp <= 0; p.in_zp += 300) {
        nn_quant_conv_s16(&p, x, w, NULL, mu, y, s);
        for (i = 0; i < 25; i++) bad += (y[i] != 32000) + (y[25 + i] != -30000);
    }
    CHECK_EQ_INT(bad, 0);
    free(s);
}

static void test_conv_s16_naive(void) {
  for (conv16_zp = -300; conv16_zp <= 0; conv16_zp += 300) {
    conv16_case(3, 4, 1, 3, 1, 1, 1, 9, 1u);     /* 3x3 padded */
    conv16_case(8, 8, 8, 3, 2, 1, 1, 11, 2u);    /* depthwise, stride 2 */
    conv16_case(6, 4, 2, 3, 1, 2, 2, 10, 3u);    /* groups, dilation 2 */
    conv16_case(300, 5, 1, 1, 1, 0, 1, 17, 4u);  /* K 300: two int32 chunks; 340 pixels: two blocks */
    conv16_case(40, 3, 1, 5, 3, 2, 1, 23, 5u);   /* 5x5 stride 3, K 1000 */
    /* 3x3 padded, stride 1, 20 x 23 outputs: the 256-pixel block ends inside
       row 11, so a row's run starts mid-row with padding on one side only;
       6 output channels: a pass of 4 and a pass of 2 */
    conv16_case(5, 6, 1, 3, 1, 1, 1, 20, 6u);
    conv16_case(4, 5, 1, 3, 2, 2, 1, 40, 7u);    /* stride 2, padding 2, two blocks */
    conv16_case(3, 1, 1, 3, 1, 1, 1, 9, 8u);     /* one output channel; K 27, odd */
    conv16_case(16, 16, 16, 3, 1, 1, 1, 12, 9u); /* depthwise, stride 1 */
    conv16_case(7, 3, 1, 1, 1, 0, 1, 9, 10u);    /* 1x1, 7 input channels: the last pair has one */
    conv16_case(6, 6, 6, 3, 1, 2, 2, 10, 11u);   /* depthwise, dilation 2, padding 2 */
    conv16_case(5, 5, 5, 5, 2, 2, 1, 13, 12u);   /* depthwise 5x5, stride 2 */
  }
  conv16_zp = -300;
}

static void test_matmul_s16(void) {
    /* a (2, 600): row 0 all 30000, row 1 all -30000 with a_zp 0; b (600, 2): column 0 all 127,
       column 1 all -127.  acc = +-2,286,000,000 x 2^-20 = +-2180.0858 -> +-2180 */
    int16_t a[1200], y[4];
    int8_t b[1200];
    nn_quant_multiplier m = nn_quant_multiplier_make(1.0 / 1048576.0);
    nn_quant_matmul_params p;
    void *s;
    int i;
    for (i = 0; i < 600; i++) { a[i] = 30000; a[600 + i] = -30000; b[2 * i] = 127; b[2 * i + 1] = -127; }
    memset(&p, 0, sizeof p);
    p.m = 2; p.k = 600; p.n = 2; p.act_min = -32768; p.act_max = 32767; p.mult_count = 1;
    s = malloc(nn_quant_matmul_s16_scratch_bytes(&p));
    nn_quant_matmul_s16(&p, a, b, NULL, &m, y, s);
    CHECK_EQ_INT(y[0], 2180);
    CHECK_EQ_INT(y[1], -2180);
    CHECK_EQ_INT(y[2], -2180);
    CHECK_EQ_INT(y[3], 2180);
    /* a_zp 30000: row 0 becomes all 0, row 1 all -60000: acc = -+4,572,000,000 -> -+4360.17 -> -+4360 */
    p.a_zp = 30000;
    nn_quant_matmul_s16(&p, a, b, NULL, &m, y, s);
    CHECK_EQ_INT(y[0], 0);
    CHECK_EQ_INT(y[1], 0);
    CHECK_EQ_INT(y[2], -4360);
    CHECK_EQ_INT(y[3], 4360);
    free(s);
}

static void test_eltwise(void) {
    nn_quant_eltwise_params p;
    int8_t a[3] = {10, -20, 127}, b[3] = {8, 6, 127}, y[3];
    /* a * 0.5, b * 0.25, y * 1: 5 + 2 = 7, -10 + 1.5 = -8.5 -> -8 (half up), 63.5 + 31.75 = 95.25 -> 95 */
    nn_quant_eltwise_params_make(&p, 0, 0.5, 0, 0.25, 0, 1.0, 0);
    nn_quant_add_s8(&p, a, b, y, 3);
    CHECK_EQ_INT(y[0], 7);
    CHECK_EQ_INT(y[1], -8);
    CHECK_EQ_INT(y[2], 95);
    /* sub: 5 - 2 = 3, -10 - 1.5 = -11.5 -> -11, 63.5 - 31.75 = 31.75 -> 32 */
    nn_quant_sub_s8(&p, a, b, y, 3);
    CHECK_EQ_INT(y[0], 3);
    CHECK_EQ_INT(y[1], -11);
    CHECK_EQ_INT(y[2], 32);
    /* mul with zero points: (10-2)*0.5 * (8+1)*0.25 = 4 * 2.25 = 9 -> /0.5 = 18, + zp 1 = 19 */
    nn_quant_eltwise_params_make(&p, 1, 0.5, 2, 0.25, -1, 0.5, 1);
    nn_quant_mul_s8(&p, a, b, y, 1);
    CHECK_EQ_INT(y[0], 19);
}

static void test_avgpool(void) {
    /* global 2x2 of [1 2 3 4] with in_zp 0, s_in = s_out: mean 2.5 -> 3; a
       3x3 window stride 1 pad 1 without count_include_pad at the corner
       averages 4 taps: (1+2+3+4)/4 = 2.5 -> 3 */
    int8_t x[4] = {1, 2, 3, 4}, y[4];
    nn_quant_multiplier mc[10];
    nn_quant_pool_params p;
    memset(&p, 0, sizeof p);
    p.n = 1; p.c = 1; p.h = 2; p.w = 2; p.kh = 2; p.kw = 2; p.oh = 1; p.ow = 1; p.stride_h = p.stride_w = 1;
    p.act_min = -128; p.act_max = 127;
    for (int i = 1; i < 10; i++) mc[i] = nn_quant_multiplier_make(1.0 / i);
    mc[0] = nn_quant_multiplier_make(0);
    nn_quant_avgpool_s8(&p, x, mc, y);
    CHECK_EQ_INT(y[0], 3);
    p.kh = p.kw = 3; p.oh = p.ow = 2; p.pad_top = p.pad_left = 1;
    nn_quant_avgpool_s8(&p, x, mc, y);
    CHECK_EQ_INT(y[0], 3);
    p.count_include_pad = 1; /* 10 / 9 = 1.11 -> 1 */
    nn_quant_avgpool_s8(&p, x, mc, y);
    CHECK_EQ_INT(y[0], 1);
}

static double sig(double v, const void *c) { (void)c; return 1.0 / (1.0 + exp(-v)); }

static void test_lut(void) {
    int8_t t[256], x[3] = {0, 127, -128}, y[3];
    /* in scale 0.1, out scale 1/256 zp -128: sigmoid(0) = 0.5 -> 128 - 128 = 0;
       sigmoid(12.7) ~ 0.999997 -> 256 - 128 = 128 saturates to 127;
       sigmoid(-12.8) ~ 2.8e-6 -> 0 - 128 = -128 */
    nn_quant_lut_build_s8(t, sig, NULL, 0.1, 0, 1.0 / 256, -128);
    nn_quant_lut_apply_s8(t, x, y, 3);
    CHECK_EQ_INT(y[0], 0);
    CHECK_EQ_INT(y[1], 127);
    CHECK_EQ_INT(y[2], -128);
    /* every entry within half a step of the exact value (rounding only) */
    int worst = 0;
    for (int q = -128; q < 128; q++) {
        double want = sig(0.1 * q, NULL) * 256 - 128;
        if (want > 127) want = 127;
        if (fabs(t[q + 128] - want) > 0.5 + 1e-9) worst++;
    }
    CHECK_EQ_INT(worst, 0);
    int16_t *t16 = malloc(65536 * sizeof *t16), x16[2] = {0, 16384}, y16[2];
    /* s16: sigmoid(16384 * 1e-4 = 1.6384) = 0.83731 * 32767 = 27436.1 -> 27436 */
    nn_quant_lut_build_s16(t16, sig, NULL, 1e-4, 0, 1.0 / 32767, 0);
    nn_quant_lut_apply_s16(t16, x16, y16, 2);
    CHECK_EQ_INT(y16[0], 16384); /* 0.5 * 32767 = 16383.5 -> even 16384 */
    CHECK_EQ_INT(y16[1], 27436);
    free(t16);
}

/* ---- quantize table ------------------------------------------------------ */

static void test_qtable(void) {
    nn_quant_table t;
    nn_diag d;
    const char *text = "# comment\n"
                       "conv1   F16\n"
                       "\n"
                       "type Softmax  F32   # trailing comment\n"
                       "range a b INT16\r\n"
                       "fc int4\n";
    memset(&d, 0, sizeof d);
    nn_quant_table_init(&t, NULL);
    CHECK_STATUS(nn_quant_table_parse(&t, text, strlen(text), &d), NN_OK);
    CHECK_EQ_INT(t.count, 4);
    if (t.count == 4) {
        CHECK(t.rules[0].kind == NN_QUANT_RULE_LAYER && !strcmp(t.rules[0].name, "conv1") &&
              t.rules[0].dtype == NN_QUANT_DTYPE_F16 && t.rules[0].line == 2);
        CHECK(t.rules[1].kind == NN_QUANT_RULE_TYPE && !strcmp(t.rules[1].name, "Softmax") && t.rules[1].line == 4);
        CHECK(t.rules[2].kind == NN_QUANT_RULE_RANGE && !strcmp(t.rules[2].end, "b") &&
              t.rules[2].dtype == NN_QUANT_DTYPE_INT16);
        CHECK(t.rules[3].dtype == NN_QUANT_DTYPE_INT4);
    }
    nn_quant_table_deinit(&t);

    const char *bad[] = {"conv1 F16\nconv2 F99\n", "a\n", "x y z F32\n", "a b c d e F32\n", "range a b\n"};
    const char *where[] = {"qtable line 2", "qtable line 1", "qtable line 1", "qtable line 1", "qtable line 1"};
    for (int i = 0; i < 5; i++) {
        memset(&d, 0, sizeof d);
        nn_quant_table_init(&t, NULL);
        CHECK_STATUS(nn_quant_table_parse(&t, bad[i], strlen(bad[i]), &d), NN_ERR_PARSE);
        CHECK(strcmp(d.where, where[i]) == 0);
        nn_quant_table_deinit(&t);
    }
}

typedef struct { char buf[4096]; size_t n; } sink;
static int sink_write(void *user, const char *text, size_t bytes) {
    sink *s = (sink *)user;
    if (s->n + bytes >= sizeof s->buf) return 1;
    memcpy(s->buf + s->n, text, bytes);
    s->n += bytes;
    return 0;
}

/* A layer rule after the optimizer fused its layer.  Conv "conv" -> BN
   "bnorm" -> Relu; the bn pass folds bnorm into conv: the fused node keeps
   the name "conv", writes bnorm's output "b" and lists "conv,bnorm" as its
   provenance.  So "conv" matches by name, "bnorm" through the provenance
   (with a log line saying so), the Conv's old output "c" and a prefix of a
   provenance name ("bnor") match nothing. */
typedef struct { char last[512]; int calls; } qlog_probe;
static void qlog_keep(void *user, const char *message) {
    qlog_probe *p = (qlog_probe *)user;
    snprintf(p->last, sizeof p->last, "%s", message);
    p->calls++;
}

static void test_qtable_provenance(void) {
    nn_graph *g = NULL;
    nn_diag d;
    nn_tensor_id x, w, c, b, y, bp[4];
    nn_node_id n;
    memset(&d, 0, sizeof d);
    if (nn_graph_create(NULL, &g, &d)) { CHECK(0); return; }
    int64_t xd[4] = {1, 2, 3, 3}, wd[4] = {2, 2, 1, 1}, cd[1] = {2};
    nn_shape xs = nn_shape_make(4, xd), ws = nn_shape_make(4, wd), cs = nn_shape_make(1, cd);
    float wv[4] = {1, 2, 3, 4}, pv[4][2] = {{1, 2}, {0.5f, -0.5f}, {0.1f, 0.2f}, {1, 4}};
    const char *pn[4] = {"gamma", "beta", "mean", "var"};
    nn_graph_set_opset(g, "", 14, &d);
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &xs, &x, &d);
    nn_graph_add_tensor(g, "W", NN_DTYPE_FLOAT, &ws, &w, &d);
    nn_graph_set_data(g, w, wv, sizeof wv, 1, &d);
    for (int i = 0; i < 4; i++) {
        nn_graph_add_tensor(g, pn[i], NN_DTYPE_FLOAT, &cs, &bp[i], &d);
        nn_graph_set_data(g, bp[i], pv[i], sizeof pv[i], 1, &d);
    }
    nn_graph_add_tensor(g, "c", NN_DTYPE_FLOAT, &xs, &c, &d);
    nn_graph_add_tensor(g, "b", NN_DTYPE_FLOAT, &xs, &b, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &xs, &y, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    nn_tensor_id ci[2] = {x, w}, bi[5] = {c, bp[0], bp[1], bp[2], bp[3]};
    nn_graph_add_node(g, "Conv", "", "conv", ci, 2, &c, 1, &n, &d);
    nn_graph_add_node(g, "BatchNormalization", "", "bnorm", bi, 5, &b, 1, &n, &d);
    nn_graph_add_node(g, "Relu", "", "relu", &b, 1, &y, 1, &n, &d);
    nn_pass_stats ps;
    CHECK_STATUS(nn_graph_run_pass(g, "bn", NULL, &ps, &d), NN_OK);
    CHECK_EQ_INT(g->node_count, 2);
    int conv = -1;
    for (uint32_t i = 0; i < g->node_count; i++)
        if (!strcmp(g->nodes[i].op_type, "Conv")) conv = (int)i;
    CHECK(conv >= 0 && !strcmp(g->nodes[conv].name, "conv") && !strcmp(g->tensors[g->nodes[conv].outputs[0].id].name, "b"));
    if (conv < 0) { nn_graph_destroy(g); return; }
    const char *text[4] = {"conv F32\n", "bnorm F32\n", "c F32\n", "bnor F32\n"};
    const uint32_t want_miss[4] = {0, 0, 1, 1};
    for (int k = 0; k < 4; k++) {
        nn_quant_table t;
        nn_quant_dtype out[2];
        uint32_t miss = 99;
        qlog_probe lp;
        memset(&lp, 0, sizeof lp);
        nn_quant_table_init(&t, NULL);
        CHECK_STATUS(nn_quant_table_parse(&t, text[k], strlen(text[k]), &d), NN_OK);
        CHECK_STATUS(nn_quant_resolve_table(g, &t, qlog_keep, &lp, out, &miss, &d), NN_OK);
        CHECK_EQ_INT(miss, want_miss[k]);
        CHECK_EQ_INT(out[conv], want_miss[k] ? NN_QUANT_DTYPE_DEFAULT : NN_QUANT_DTYPE_F32);
        CHECK_EQ_INT(out[1 - conv], NN_QUANT_DTYPE_DEFAULT); /* the Relu */
        if (k == 1) CHECK(strstr(lp.last, "bnorm is not in this graph; applied to the 1 node(s) made from it (conv)") != NULL);
        if (k == 0) CHECK_EQ_INT(lp.calls, 0);
        if (k >= 2) CHECK(strstr(lp.last, "matches no node") != NULL);
        nn_quant_table_deinit(&t);
    }
    nn_graph_destroy(g);
}

static void test_qtable_roundtrip(void) {
    nn_quant_table t, u;
    nn_diag d;
    sink s;
    memset(&d, 0, sizeof d);
    memset(&s, 0, sizeof s);
    nn_quant_table_init(&t, NULL);
    nn_quant_table_init(&u, NULL);
    CHECK_STATUS(nn_quant_table_add(&t, NN_QUANT_RULE_LAYER, "conv1", NULL, NN_QUANT_DTYPE_BF16, &d), NN_OK);
    CHECK_STATUS(nn_quant_table_add(&t, NN_QUANT_RULE_RANGE, "s", "e", NN_QUANT_DTYPE_UINT8, &d), NN_OK);
    CHECK_STATUS(nn_quant_table_write(&t, sink_write, &s, &d), NN_OK);
    CHECK_STATUS(nn_quant_table_parse(&u, s.buf, s.n, &d), NN_OK);
    CHECK_EQ_INT(u.count, 2);
    if (u.count == 2)
        CHECK(u.rules[1].kind == NN_QUANT_RULE_RANGE && !strcmp(u.rules[1].name, "s") && u.rules[1].dtype == NN_QUANT_DTYPE_UINT8);
    nn_quant_table_deinit(&t);
    nn_quant_table_deinit(&u);
}

/* ---- a tiny float graph: x -> Conv(+bias) -> Relu -> Sigmoid -> GlobalAveragePool -> y ---- */

static nn_graph *tiny_graph(void) {
    nn_graph *g;
    nn_diag d;
    nn_tensor_id x, w, b, c, r, s, y;
    nn_node_id n;
    memset(&d, 0, sizeof d);
    if (nn_graph_create(NULL, &g, &d)) return NULL;
    int64_t xd[4] = {1, 2, 5, 5}, wd[4] = {3, 2, 3, 3}, bd[1] = {3}, cd[4] = {1, 3, 5, 5}, yd[4] = {1, 3, 1, 1};
    nn_shape xs = nn_shape_make(4, xd), ws = nn_shape_make(4, wd), bs = nn_shape_make(1, bd), cs = nn_shape_make(4, cd),
             ys = nn_shape_make(4, yd);
    float wv[54], bv[3] = {0.1f, -0.2f, 0.05f};
    for (int i = 0; i < 54; i++) wv[i] = (float)((i * 37 % 19) - 9) / 20.0f;
    nn_graph_set_opset(g, "", 13, &d);
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &xs, &x, &d);
    nn_graph_add_tensor(g, "w", NN_DTYPE_FLOAT, &ws, &w, &d);
    nn_graph_set_data(g, w, wv, sizeof wv, 1, &d);
    nn_graph_add_tensor(g, "b", NN_DTYPE_FLOAT, &bs, &b, &d);
    nn_graph_set_data(g, b, bv, sizeof bv, 1, &d);
    nn_graph_add_tensor(g, "c", NN_DTYPE_FLOAT, &cs, &c, &d);
    nn_graph_add_tensor(g, "r", NN_DTYPE_FLOAT, &cs, &r, &d);
    nn_graph_add_tensor(g, "s", NN_DTYPE_FLOAT, &cs, &s, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &ys, &y, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    nn_tensor_id cin[3] = {x, w, b};
    nn_graph_add_node(g, "Conv", "", "conv", cin, 3, &c, 1, &n, &d);
    nn_attr a;
    int64_t pads[4] = {1, 1, 1, 1};
    memset(&a, 0, sizeof a);
    a.name = "pads"; a.type = NN_ATTR_INTS; a.ints = pads; a.count = 4;
    nn_graph_add_attr(g, n, &a, 0, &d);
    nn_graph_add_node(g, "Relu", "", "relu", &c, 1, &r, 1, &n, &d);
    nn_graph_add_node(g, "Sigmoid", "", "sig", &r, 1, &s, 1, &n, &d);
    nn_graph_add_node(g, "GlobalAveragePool", "", "gap", &s, 1, &y, 1, &n, &d);
    if (d.status) { nn_graph_destroy(g); return NULL; }
    return g;
}

static void fill_x(float *xv, int n) {
    for (int i = 0; i < n; i++) xv[i] = (float)sin(i * 0.7) * 2.0f;
}

/* Calibrates g on one input with minmax; returns ranges (caller frees). */
/* tiny_graph's input x (1, 2, 5, 5), the values of fill_x, in xv (50 floats). */
static nn_value tiny_input(float *xv) {
    int64_t xd[4] = {1, 2, 5, 5};
    nn_value in;
    fill_x(xv, 50);
    in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xv);
    in.bytes = 50 * sizeof(float);
    return in;
}

static nn_quant_range *calibrate(nn_graph *g, const nn_value *in) {
    nn_diag d;
    nn_calib_collector *col;
    nn_exec *x;
    memset(&d, 0, sizeof d);
    nn_calib_collector_create(g, NULL, &col, &d);
    nn_exec_desc xd;
    memset(&xd, 0, sizeof xd);
    xd.observer = nn_calib_collector_exec_observer;
    xd.observer_user = col;
    nn_exec_create(g, &xd, &x, &d);
    nn_exec_set_input(x, 0, in, &d);
    nn_calib_collector_observe(col, g->inputs[0], in, &d);
    nn_exec_run(x, &d);
    nn_quant_range *r = calloc(g->tensor_count, sizeof *r);
    nn_calib_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.method = NN_CALIB_MINMAX;
    nn_quant_ranges_from_collector(g, col, &cd, r, &d);
    CHECK_EQ_INT(d.status, NN_OK);
    nn_exec_destroy(x);
    nn_calib_collector_destroy(col);
    return r;
}

static int count_op(const nn_graph *g, const char *op) {
    int n = 0;
    for (uint32_t i = 0; i < g->node_count; i++) n += strcmp(g->nodes[i].op_type, op) == 0;
    return n;
}

/* nn_qexec_set_given: a run resumed from a known tensor.  tiny_graph's QDQ
   model runs x -> [Conv+Relu group] -> r_q -> [Sigmoid LUT group] -> s_q ->
   DQ -> GlobalAveragePool -> y.  With r_q given: the Conv group is dropped,
   a run without r_q's value fails naming it, r_q as a whole run computes it
   gives the whole run's y bit for bit, and r_q = 0 everywhere (r = 0) gives
   sigmoid(0) = 0.5 per channel, within half a step of s (GAP averages 25
   equal values). */
typedef struct given_keep { uint32_t t; int8_t v[75]; int seen; } given_keep;

static int given_observe(void *user, const nn_graph *g, uint32_t node_index, const nn_value *outputs, uint32_t count) {
    given_keep *k = (given_keep *)user;
    if (count >= 1 && g->nodes[node_index].outputs[0].id == k->t && outputs[0].bytes == sizeof k->v) {
        memcpy(k->v, outputs[0].data, sizeof k->v);
        k->seen = 1;
    }
    return 0;
}

static void test_qexec_given(void) {
    nn_graph *g = tiny_graph(), *q = NULL;
    nn_diag d;
    float xv[50];
    int64_t rd[4] = {1, 3, 5, 5};
    memset(&d, 0, sizeof d);
    CHECK(g != NULL);
    if (!g) return;
    nn_value in = tiny_input(xv);
    nn_quant_range *r = calibrate(g, &in);
    CHECK_STATUS(nn_quant_graph(g, r, NULL, &q, NULL, &d), NN_OK);
    nn_qexec *ix = NULL, *jx = NULL;
    given_keep keep;
    memset(&keep, 0, sizeof keep);
    keep.t = NN_INVALID_ID;
    uint32_t rid = q ? nn_graph_find_tensor(q, "r").id : NN_INVALID_ID;
    for (uint32_t i = 0; q && i < q->node_count; i++)
        if (!strcmp(q->nodes[i].op_type, "QuantizeLinear") && q->nodes[i].inputs[0].id == rid) keep.t = q->nodes[i].outputs[0].id;
    CHECK(keep.t != NN_INVALID_ID);
    nn_qexec_desc od;
    memset(&od, 0, sizeof od);
    od.observer = given_observe;
    od.observer_user = &keep;
    if (q && keep.t != NN_INVALID_ID && nn_qexec_create(q, &od, &ix, &d) == NN_OK && nn_qexec_create(q, NULL, &jx, &d) == NN_OK) {
        nn_qexec_stats s;
        float full[3];
        int8_t zero[75];
        double step = r[nn_graph_find_tensor(g, "s").id].threshold / 127.0;
        uint8_t *given = (uint8_t *)calloc(q->tensor_count, 1);
        CHECK_STATUS(nn_qexec_set_input(ix, 0, &in, &d), NN_OK);
        CHECK_STATUS(nn_qexec_run(ix, &d), NN_OK);
        CHECK(keep.seen);
        memcpy(full, nn_qexec_output(ix, 0)->data, sizeof full);
        /* not given yet: NN_ERR_ARG naming the tensor */
        nn_value rv = nn_value_make(NN_DTYPE_INT8, nn_shape_make(4, rd), keep.v);
        rv.bytes = sizeof keep.v;
        CHECK_STATUS(nn_qexec_set_value(jx, keep.t, &rv, &d), NN_ERR_ARG);
        CHECK(strstr(d.message, "not a given tensor") != NULL);
        given[keep.t] = 1;
        CHECK_STATUS(nn_qexec_set_given(jx, given, &d), NN_OK);
        nn_qexec_get_stats(jx, &s);
        CHECK_EQ_INT(s.int_groups, 1); /* only the Sigmoid LUT is left */
        CHECK(nn_qexec_reads(jx, keep.t));
        CHECK(!nn_qexec_reads(jx, nn_graph_find_tensor(q, "x").id));
        CHECK_STATUS(nn_qexec_set_input(jx, 0, &in, &d), NN_OK);
        memset(&d, 0, sizeof d); /* the first error stays in a diag */
        CHECK_STATUS(nn_qexec_run(jx, &d), NN_ERR_ARG);
        CHECK(strstr(d.message, "given value not set") != NULL);
        CHECK(!strcmp(d.where, q->tensors[keep.t].name));
        /* a wrong dtype is refused */
        nn_value bad = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, rd), xv);
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_qexec_set_value(jx, keep.t, &bad, &d), NN_ERR_ARG);
        CHECK(strstr(d.message, "tensor is int8, value is float") != NULL);
        memset(&d, 0, sizeof d);
        /* the whole run's r_q: the whole run's y, bit for bit */
        CHECK_STATUS(nn_qexec_set_value(jx, keep.t, &rv, &d), NN_OK);
        CHECK_STATUS(nn_qexec_run(jx, &d), NN_OK);
        CHECK(memcmp(nn_qexec_output(jx, 0)->data, full, sizeof full) == 0);
        /* r = 0: sigmoid(0) = 0.5 in every channel, whatever x is */
        memset(zero, 0, sizeof zero);
        nn_value zv = nn_value_make(NN_DTYPE_INT8, nn_shape_make(4, rd), zero);
        zv.bytes = sizeof zero;
        CHECK_STATUS(nn_qexec_set_value(jx, keep.t, &zv, &d), NN_OK);
        CHECK_STATUS(nn_qexec_run(jx, &d), NN_OK);
        for (int c = 0; c < 3; c++) CHECK(fabs(((const float *)nn_qexec_output(jx, 0)->data)[c] - 0.5) <= step / 2 + 1e-6);
        CHECK(fabs(full[0] - 0.5) > step); /* the real r gives something else: the check can tell */
        /* cleared: the whole graph runs again */
        CHECK_STATUS(nn_qexec_set_given(jx, NULL, &d), NN_OK);
        nn_qexec_get_stats(jx, &s);
        CHECK_EQ_INT(s.int_groups, 2);
        CHECK_STATUS(nn_qexec_set_input(jx, 0, &in, &d), NN_OK);
        CHECK_STATUS(nn_qexec_run(jx, &d), NN_OK);
        CHECK(memcmp(nn_qexec_output(jx, 0)->data, full, sizeof full) == 0);
        free(given);
    }
    nn_qexec_destroy(ix);
    nn_qexec_destroy(jx);
    nn_graph_destroy(q);
    free(r);
    nn_graph_destroy(g);
}

static void test_qdq_structure_and_exec(void) {
    nn_graph *g = tiny_graph(), *q = NULL;
    nn_diag d;
    float xv[50];
    memset(&d, 0, sizeof d);
    CHECK(g != NULL);
    if (!g) return;
    nn_value in = tiny_input(xv);
    nn_quant_range *r = calibrate(g, &in);
    nn_quant_stats st;
    CHECK_STATUS(nn_quant_graph(g, r, NULL, &q, &st, &d), NN_OK);
    if (!q) { free(r); nn_graph_destroy(g); return; }
    /* Q/DQ on x, r (Relu output; c is merged into Conv's clamp) and s:
       3 activations; DQ for w and b too */
    CHECK_EQ_INT(st.activations, 3);
    CHECK_EQ_INT(st.fused_acts, 1);
    CHECK_EQ_INT(count_op(q, "QuantizeLinear"), 3);
    CHECK_EQ_INT(count_op(q, "DequantizeLinear"), 5);
    nn_tensor_id wq = nn_graph_find_tensor(q, "w_quantized"), bq = nn_graph_find_tensor(q, "b_quantized");
    CHECK(wq.id != NN_INVALID_ID && q->tensors[wq.id].dtype == NN_DTYPE_INT8);
    CHECK(bq.id != NN_INVALID_ID && q->tensors[bq.id].dtype == NN_DTYPE_INT32);
    /* the conv reads DQ outputs; its weight DQ is per channel on axis 0 with
       scale max|w_c| / 127; the bias scale is s_x * s_w[c] */
    for (uint32_t i = 0; i < q->node_count; i++) {
        const nn_node *n = &q->nodes[i];
        if (strcmp(n->op_type, "DequantizeLinear") || n->inputs[0].id != wq.id) continue;
        CHECK_EQ_INT(nn_node_attr_int(n, "axis", 1), 0);
        const nn_tensor *s = &q->tensors[n->inputs[1].id];
        CHECK_EQ_INT(s->data_bytes, 12);
        float m0 = 0;
        for (int k = 0; k < 18; k++) m0 = fmaxf(m0, fabsf(((const float *)g->tensors[nn_graph_find_tensor(g, "w").id].data)[k]));
        CHECK_NEAR(((const float *)s->data)[0], m0 / 127.0, 1e-7);
    }
    /* Relu stays between Conv and its Q */
    nn_tensor_id c = nn_graph_find_tensor(q, "c");
    int relu_reads_c = 0;
    for (uint32_t i = 0; i < q->node_count; i++)
        if (!strcmp(q->nodes[i].op_type, "Relu") && q->nodes[i].inputs[0].id == c.id) relu_reads_c = 1;
    CHECK(relu_reads_c);
    CHECK(nn_quant_graph_is_qdq(q));
    CHECK(!nn_quant_graph_is_qdq(g));

    /* fake-quant (integer kernels) vs the same graph in float: within one output step */
    nn_qexec *fx = NULL, *ix = NULL;
    nn_qexec_desc fd;
    memset(&fd, 0, sizeof fd);
    fd.float_only = 1;
    CHECK_STATUS(nn_qexec_create(q, NULL, &ix, &d), NN_OK);
    CHECK_STATUS(nn_qexec_create(q, &fd, &fx, &d), NN_OK);
    if (ix && fx) {
        nn_qexec_stats s;
        nn_qexec_get_stats(ix, &s);
        CHECK_EQ_INT(s.int_groups, 2); /* Conv+Relu, Sigmoid LUT (GAP's output is float) */
        CHECK_STATUS(nn_qexec_set_input(ix, 0, &in, &d), NN_OK);
        CHECK_STATUS(nn_qexec_set_input(fx, 0, &in, &d), NN_OK);
        CHECK_STATUS(nn_qexec_run(ix, &d), NN_OK);
        CHECK_STATUS(nn_qexec_run(fx, &d), NN_OK);
        const nn_value *a = nn_qexec_output(ix, 0), *b = nn_qexec_output(fx, 0);
        double step = r[nn_graph_find_tensor(g, "s").id].threshold / 127.0, worst = 0;
        for (int i = 0; i < 3; i++) worst = fmax(worst, fabs(((float *)a->data)[i] - ((float *)b->data)[i]));
        CHECK(worst <= step + 1e-6);
        /* and the quantized model stays close to the float one */
        nn_exec *x;
        nn_exec_create(g, NULL, &x, &d);
        nn_exec_set_input(x, 0, &in, &d);
        nn_exec_run(x, &d);
        const nn_value *f = nn_exec_output(x, 0);
        worst = 0;
        for (int i = 0; i < 3; i++) worst = fmax(worst, fabs(((float *)a->data)[i] - ((float *)f->data)[i]));
        CHECK(worst < 0.02);
        nn_exec_destroy(x);
    }
    nn_qexec_destroy(ix);
    nn_qexec_destroy(fx);
    nn_graph_destroy(q);

    /* a table keeping the sigmoid float: no Q/DQ after it, Relu output still quantized */
    nn_quant_table t;
    nn_quant_table_init(&t, NULL);
    const char *text = "type Sigmoid F32\nnosuchlayer INT8\n";
    CHECK_STATUS(nn_quant_table_parse(&t, text, strlen(text), &d), NN_OK);
    nn_quant_desc qd;
    memset(&qd, 0, sizeof qd);
    qd.table = &t;
    CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, &st, &d), NN_OK);
    CHECK_EQ_INT(st.unmatched_rules, 1);
    CHECK_EQ_INT(st.float_nodes, 1);
    CHECK_EQ_INT(st.activations, 2);
    nn_graph_destroy(q);
    nn_quant_table_deinit(&t);
    free(r);
    nn_graph_destroy(g);
}

/* Add of a (1,3,2,4) activation and a (3,1,1) constant: the integer group
   broadcasts the constant; fake-quant vs float-only QDQ within one step. */
static void test_broadcast_add(void) {
    nn_graph *g, *q = NULL;
    nn_diag d;
    nn_tensor_id x, c, a, y;
    nn_node_id n;
    int64_t xd[4] = {1, 3, 2, 4}, cd3[3] = {3, 1, 1};
    nn_shape xs = nn_shape_make(4, xd), cs = nn_shape_make(3, cd3);
    float cv[3] = {0.5f, -1.0f, 2.0f}, xv[24];
    memset(&d, 0, sizeof d);
    if (nn_graph_create(NULL, &g, &d)) { CHECK(0); return; }
    nn_graph_set_opset(g, "", 13, &d);
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &xs, &x, &d);
    nn_graph_add_tensor(g, "c", NN_DTYPE_FLOAT, &cs, &c, &d);
    nn_graph_set_data(g, c, cv, sizeof cv, 1, &d);
    nn_graph_add_tensor(g, "a", NN_DTYPE_FLOAT, &xs, &a, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &xs, &y, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    nn_tensor_id in2[2] = {x, c};
    nn_graph_add_node(g, "Add", "", "add", in2, 2, &a, 1, &n, &d);
    nn_graph_add_node(g, "Tanh", "", "tanh", &a, 1, &y, 1, &n, &d);
    CHECK_EQ_INT(d.status, NN_OK);
    for (int i = 0; i < 24; i++) xv[i] = (float)cos(i * 1.3);
    nn_value in = nn_value_make(NN_DTYPE_FLOAT, xs, xv);
    in.bytes = sizeof xv;
    nn_quant_range *r = calibrate(g, &in);
    CHECK_STATUS(nn_quant_graph(g, r, NULL, &q, NULL, &d), NN_OK);
    nn_qexec *ix = NULL, *fx = NULL;
    nn_qexec_desc fd;
    memset(&fd, 0, sizeof fd);
    fd.float_only = 1;
    if (q) {
        CHECK_STATUS(nn_qexec_create(q, NULL, &ix, &d), NN_OK);
        CHECK_STATUS(nn_qexec_create(q, &fd, &fx, &d), NN_OK);
    }
    if (ix && fx) {
        nn_qexec_stats st;
        nn_qexec_get_stats(ix, &st);
        CHECK_EQ_INT(st.int_groups, 1); /* the Add (Tanh's output is the float graph output) */
        nn_qexec_set_input(ix, 0, &in, &d);
        nn_qexec_set_input(fx, 0, &in, &d);
        CHECK_STATUS(nn_qexec_run(ix, &d), NN_OK);
        CHECK_STATUS(nn_qexec_run(fx, &d), NN_OK);
        const nn_value *u = nn_qexec_output(ix, 0), *v = nn_qexec_output(fx, 0);
        /* one step of the Add output, through tanh (slope <= 1) */
        double step = r[a.id].threshold / 127.0, worst = 0;
        for (int i = 0; i < 24; i++) worst = fmax(worst, fabs(((float *)u->data)[i] - ((float *)v->data)[i]));
        CHECK(worst <= step + 1e-6);
        /* and against float: channel 2 (+2.0) differs from channel 1 (-1.0) */
        CHECK(((float *)u->data)[16] > ((float *)u->data)[8]);
    }
    nn_qexec_destroy(ix);
    nn_qexec_destroy(fx);
    if (q) nn_graph_destroy(q);
    free(r);
    nn_graph_destroy(g);
}

/* Data movement between two quantizations of one scale and zero point
   runs on the integers (an integer group, no float island): x (1, 2, 3)
   on the 0.5 grid -> Q(0.5, 0) -> DQ -> Transpose(0, 2, 1) -> Q -> DQ.
   x = [0 0.5 -1; 1.5 2 -2.5] transposes to [0 1.5; 0.5 2; -1 -2.5],
   exactly.  With the second Q at scale 0.25 it is a float island (same
   values: they lie on that grid too).  For 8 and 16 bits. */
static void move_case(nn_dtype qt, float s2) {
    nn_graph *g = NULL;
    nn_diag d;
    nn_tensor_id x, s, z, s2t, q1, d1, t, q2, y;
    nn_node_id n;
    int64_t xd[3] = {1, 2, 3}, td[3] = {1, 3, 2}, one = 1, perm[3] = {0, 2, 1};
    nn_shape xs = nn_shape_make(3, xd), ts = nn_shape_make(3, td), ss = nn_shape_make(0, &one);
    float sv = 0.5f, s2v = s2, xv[6] = {0.0f, 0.5f, -1.0f, 1.5f, 2.0f, -2.5f}, want[6] = {0.0f, 1.5f, 0.5f, 2.0f, -1.0f, -2.5f};
    int16_t zv = 0;
    nn_attr a;
    nn_qexec *ex = NULL;
    memset(&d, 0, sizeof d);
    if (nn_graph_create(NULL, &g, &d)) { CHECK(0); return; }
    nn_graph_set_opset(g, "", 21, &d);
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &xs, &x, &d);
    nn_graph_add_tensor(g, "s", NN_DTYPE_FLOAT, &ss, &s, &d);
    nn_graph_add_tensor(g, "s2", NN_DTYPE_FLOAT, &ss, &s2t, &d);
    nn_graph_add_tensor(g, "z", qt, &ss, &z, &d);
    nn_graph_set_data(g, s, &sv, 4, 1, &d);
    nn_graph_set_data(g, s2t, &s2v, 4, 1, &d);
    nn_graph_set_data(g, z, &zv, qt == NN_DTYPE_INT16 ? 2 : 1, 1, &d);
    nn_graph_add_tensor(g, "q1", qt, &xs, &q1, &d);
    nn_graph_add_tensor(g, "d1", NN_DTYPE_FLOAT, &xs, &d1, &d);
    nn_graph_add_tensor(g, "t", NN_DTYPE_FLOAT, &ts, &t, &d);
    nn_graph_add_tensor(g, "q2", qt, &ts, &q2, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &ts, &y, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    {
        nn_tensor_id i1[3] = {x, s, z}, i2[3] = {q1, s, z}, i3[3] = {t, s2t, z}, i4[3] = {q2, s2t, z};
        nn_graph_add_node(g, "QuantizeLinear", "", "q1", i1, 3, &q1, 1, &n, &d);
        nn_graph_add_node(g, "DequantizeLinear", "", "d1", i2, 3, &d1, 1, &n, &d);
        nn_graph_add_node(g, "Transpose", "", "tr", &d1, 1, &t, 1, &n, &d);
        memset(&a, 0, sizeof a);
        a.name = "perm"; a.type = NN_ATTR_INTS; a.ints = perm; a.count = 3;
        nn_graph_add_attr(g, n, &a, 1, &d);
        nn_graph_add_node(g, "QuantizeLinear", "", "q2", i3, 3, &q2, 1, &n, &d);
        nn_graph_add_node(g, "DequantizeLinear", "", "d2", i4, 3, &y, 1, &n, &d);
    }
    CHECK_EQ_INT(d.status, NN_OK);
    CHECK_STATUS(nn_qexec_create(g, NULL, &ex, &d), NN_OK);
    if (ex) {
        nn_qexec_stats st;
        nn_value in = nn_value_make(NN_DTYPE_FLOAT, xs, xv);
        const nn_value *o;
        in.bytes = sizeof xv;
        nn_qexec_get_stats(ex, &st);
        CHECK_EQ_INT(st.int_groups, (s2 == 0.5f ? 1 : 0)); /* the Transpose, only when the two scales agree */
        CHECK_STATUS(nn_qexec_set_input(ex, 0, &in, &d), NN_OK);
        CHECK_STATUS(nn_qexec_run(ex, &d), NN_OK);
        o = nn_qexec_output(ex, 0);
        CHECK(o && o->dtype == NN_DTYPE_FLOAT && o->bytes == sizeof want && memcmp(o->data, want, sizeof want) == 0);
    }
    nn_qexec_destroy(ex);
    nn_graph_destroy(g);
}

static void test_move_groups(void) {
    move_case(NN_DTYPE_INT8, 0.5f);
    move_case(NN_DTYPE_INT16, 0.5f);
    move_case(NN_DTYPE_INT8, 0.25f);
}

/* A hand-written QDQ model (tests/data/quant/make_golden.py, not our
   quantizer) against ONNX Runtime's output on it. */
static void test_ort_golden(void) {
    nn_graph *g = NULL;
    nn_diag d;
    nn_value in, want;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_onnx_load_file("tests/data/quant/tiny_qdq.onnx", NULL, &g, &d), NN_OK);
    CHECK_STATUS(nn_verify_load_npy_file("tests/data/quant/input.npy", &in, NULL, &d), NN_OK);
    CHECK_STATUS(nn_verify_load_npy_file("tests/data/quant/ort_output.npy", &want, NULL, &d), NN_OK);
    if (d.status) { if (g) nn_graph_destroy(g); return; }
    nn_qexec *x = NULL;
    CHECK_STATUS(nn_qexec_create(g, NULL, &x, &d), NN_OK);
    if (x) {
        nn_qexec_stats s;
        nn_qexec_get_stats(x, &s);
        CHECK_EQ_INT(s.int_groups, 5); /* conv, depthwise conv, add, sigmoid, global pool */
        CHECK_STATUS(nn_qexec_set_input(x, 0, &in, &d), NN_OK);
        CHECK_STATUS(nn_qexec_run(x, &d), NN_OK);
        const nn_value *y = nn_qexec_output(x, 0);
        CHECK(y && y->dtype == NN_DTYPE_FLOAT && nn_value_count(y) == 3);
        /* the output step is 0.005: allow one step */
        for (int i = 0; y && i < 3; i++) CHECK_NEAR(((float *)y->data)[i], ((float *)want.data)[i], 0.005 + 1e-6);
    }
    nn_qexec_destroy(x);
    nn_verify_value_free(&in, NULL);
    nn_verify_value_free(&want, NULL);
    nn_graph_destroy(g);
}

/* Conv 1x1, 1 -> 2 channels, w = {1, 1e-30}, bias {0, 5}: channel 1 is a
   "dead" channel whose output is its bias (PP-OCRv4 det's conv2d_96 has
   one).  x = {1, -1}: minmax s_x = 1/127.  Per-channel weight scale
   max|w_c|/127 would be 1e-30/127 for channel 1, and its int32 bias
   5 / (s_x * s_w1) = 5 * 127^2 * 1e30 saturates at 2^31 - 1, which
   dequantizes to ~1e-25: y_1 = 0 instead of 5.  With the floor
   s_w1 >= |b_1| / (s_x * 2^30) the bias is ~2^30 and y_1 = 5 (hand: the
   float model gives y = {1, -1, 5, 5}; the output step is 5/127). */
static void test_bias_floor(void) {
    nn_graph *g = NULL, *q = NULL;
    nn_diag d;
    nn_tensor_id x, w, b, y;
    nn_node_id n;
    memset(&d, 0, sizeof d);
    if (nn_graph_create(NULL, &g, &d)) { CHECK(0); return; }
    int64_t xd[4] = {1, 1, 1, 2}, wd[4] = {2, 1, 1, 1}, bd[1] = {2}, yd[4] = {1, 2, 1, 2};
    nn_shape xs = nn_shape_make(4, xd), ws = nn_shape_make(4, wd), bs = nn_shape_make(1, bd), ys = nn_shape_make(4, yd);
    float wv[2] = {1.0f, 1e-30f}, bv[2] = {0.0f, 5.0f}, xv[2] = {1.0f, -1.0f};
    nn_graph_set_opset(g, "", 13, &d);
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &xs, &x, &d);
    nn_graph_add_tensor(g, "w", NN_DTYPE_FLOAT, &ws, &w, &d);
    nn_graph_set_data(g, w, wv, sizeof wv, 1, &d);
    nn_graph_add_tensor(g, "b", NN_DTYPE_FLOAT, &bs, &b, &d);
    nn_graph_set_data(g, b, bv, sizeof bv, 1, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &ys, &y, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    nn_tensor_id cin[3] = {x, w, b};
    nn_graph_add_node(g, "Conv", "", "conv", cin, 3, &y, 1, &n, &d);
    CHECK_EQ_INT(d.status, NN_OK);
    if (d.status) { nn_graph_destroy(g); return; }
    nn_value in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xv);
    in.bytes = sizeof xv;
    nn_quant_range *r = calibrate(g, &in);
    CHECK_STATUS(nn_quant_graph(g, r, NULL, &q, NULL, &d), NN_OK);
    if (q) {
        nn_tensor_id bq = nn_graph_find_tensor(q, "b_quantized");
        CHECK(bq.id != NN_INVALID_ID && q->tensors[bq.id].dtype == NN_DTYPE_INT32);
        if (bq.id != NN_INVALID_ID && q->tensors[bq.id].data) {
            const int32_t *bi = (const int32_t *)q->tensors[bq.id].data;
            CHECK_EQ_INT(bi[0], 0);
            CHECK(bi[1] > 1073741824 - 1024 && bi[1] <= 1073741824 + 1024); /* ~2^30, not 2^31 - 1 */
        }
        nn_qexec *ix = NULL;
        CHECK_STATUS(nn_qexec_create(q, NULL, &ix, &d), NN_OK);
        if (ix) {
            CHECK_STATUS(nn_qexec_set_input(ix, 0, &in, &d), NN_OK);
            CHECK_STATUS(nn_qexec_run(ix, &d), NN_OK);
            const nn_value *o = nn_qexec_output(ix, 0);
            const float want[4] = {1, -1, 5, 5};
            CHECK(o && nn_value_count(o) == 4);
            for (int i = 0; o && i < 4; i++) CHECK_NEAR(((float *)o->data)[i], want[i], 5.0 / 127 + 1e-6);
        }
        nn_qexec_destroy(ix);
        nn_graph_destroy(q);
    }
    free(r);
    nn_graph_destroy(g);
}

/* One Conv without bias, x -> y, weights w (data borrowed: must outlive
   the graph); NULL (after a failed CHECK) when the graph cannot be made. */
static nn_graph *one_conv(const nn_shape *xs, const nn_shape *ws, const nn_shape *ys, const float *wv, size_t wbytes) {
    nn_graph *g = NULL;
    nn_diag d;
    nn_tensor_id x, w, y;
    nn_node_id n;
    memset(&d, 0, sizeof d);
    if (nn_graph_create(NULL, &g, &d)) { CHECK(0); return NULL; }
    nn_graph_set_opset(g, "", 13, &d);
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, xs, &x, &d);
    nn_graph_add_tensor(g, "w", NN_DTYPE_FLOAT, ws, &w, &d);
    nn_graph_set_data(g, w, wv, wbytes, 1, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, ys, &y, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    nn_tensor_id cin[2] = {x, w};
    nn_graph_add_node(g, "Conv", "", "conv", cin, 2, &y, 1, &n, &d);
    CHECK_EQ_INT(d.status, NN_OK);
    if (d.status) { nn_graph_destroy(g); return NULL; }
    return g;
}

/* NN_QUANT_ROUND_SUM on a 1 -> 2 channel 3x3 Conv (no bias).  Channel 0
   in steps of its scale 1.27 / 127 = 0.01: 127, -40.4, -40.4, -40.4, -5.8,
   0, 0, 0, 0 (a high-pass kernel: sum 0).  Nearest rounding gives 127, -40,
   -40, -40, -6 (sum +1 step: a flat input x reads 0.01 x instead of 0).
   The residuals x - q are 0, -0.4, -0.4, -0.4, +0.2: their sum -1 rounds to
   -1, so one tap moves down a step, the first of the three at -0.4:
   127, -41, -40, -40, -6 (sum 0).  Channel 1: 127, 20.3, 0 x 7 (sum 147.3):
   nearest 127, 20 leaves residual 0.3, which rounds to 0: unchanged.
   Nearest rounding must still give 127, -40, -40, -40, -6. */
static void test_weight_rounding_sum(void) {
    static const float ch0[9] = {1.27f, -0.404f, -0.404f, -0.404f, -0.058f, 0, 0, 0, 0};
    static const float ch1[9] = {1.27f, 0.203f, 0, 0, 0, 0, 0, 0, 0};
    static const int8_t want_sum[18] = {127, -41, -40, -40, -6, 0, 0, 0, 0, 127, 20, 0, 0, 0, 0, 0, 0, 0};
    static const int8_t want_near[18] = {127, -40, -40, -40, -6, 0, 0, 0, 0, 127, 20, 0, 0, 0, 0, 0, 0, 0};
    nn_graph *g;
    nn_diag d;
    float wv[18], xv[16];
    int i, mode;
    int64_t xd[4] = {1, 1, 4, 4}, wd[4] = {2, 1, 3, 3}, yd[4] = {1, 2, 2, 2};
    nn_shape xs = nn_shape_make(4, xd), ws = nn_shape_make(4, wd), ys = nn_shape_make(4, yd);
    memset(&d, 0, sizeof d);
    for (i = 0; i < 9; i++) { wv[i] = ch0[i]; wv[9 + i] = ch1[i]; }
    for (i = 0; i < 16; i++) xv[i] = (float)(i % 5) * 0.25f;
    if (!(g = one_conv(&xs, &ws, &ys, wv, sizeof wv))) return;
    nn_value in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xv);
    in.bytes = sizeof xv;
    nn_quant_range *r = calibrate(g, &in);
    for (mode = 0; mode < 2; mode++) {
        nn_quant_desc qd;
        nn_graph *q = NULL;
        memset(&qd, 0, sizeof qd);
        qd.weight_rounding = mode ? NN_QUANT_ROUND_SUM : NN_QUANT_ROUND_NEAREST;
        CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, NULL, &d), NN_OK);
        if (q) {
            nn_tensor_id wq = nn_graph_find_tensor(q, "w_quantized");
            CHECK(wq.id != NN_INVALID_ID && q->tensors[wq.id].data && q->tensors[wq.id].data_bytes == 18);
            if (wq.id != NN_INVALID_ID && q->tensors[wq.id].data)
                CHECK(memcmp(q->tensors[wq.id].data, mode ? want_sum : want_near, 18) == 0);
        }
        nn_graph_destroy(q);
    }
    { /* an unknown rounding is refused, naming the field */
        nn_quant_desc qd;
        nn_graph *q = NULL;
        memset(&qd, 0, sizeof qd);
        qd.weight_rounding = (nn_quant_rounding)7;
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, NULL, &d), NN_ERR_ARG);
        CHECK(strstr(d.where, "weight_rounding") != NULL && q == NULL);
    }
    free(r);
    nn_graph_destroy(g);
}

/* A Conv kept in F16 / BF16 by the quantize table: 1x1, one channel,
   x = 1.0001, w = 1/3, no bias.  The weight becomes a 16-bit initializer
   behind a Cast, the input a Cast pair; the product is computed in f32.
   By hand: x rounds to 1.0 in both formats (f16 spacing at 1 is 2^-10,
   bf16's 2^-7); 1/3 = 1.0101010101...b x 2^-2 rounds to
   f16 1.0101010101b x 2^-2 = 1365/4096 = 0.333251953125 (next bit 0: down),
   bf16 1.0101011b x 2^-2 = 171/512 = 0.333984375 (next bits 1010...: up). */
static void test_f16_layers(void) {
    static const char *const rules[2] = {"conv F16\n", "type Conv BF16\n"};
    static const double want[2] = {0.333251953125, 0.333984375};
    for (int k = 0; k < 2; k++) {
        nn_graph *g, *q = NULL;
        nn_diag d;
        int64_t one[4] = {1, 1, 1, 1};
        nn_shape s1 = nn_shape_make(4, one);
        float wv[1] = {1.0f / 3.0f}, xv[1] = {1.0001f};
        memset(&d, 0, sizeof d);
        if (!(g = one_conv(&s1, &s1, &s1, wv, sizeof wv))) return;
        nn_value in = nn_value_make(NN_DTYPE_FLOAT, s1, xv);
        in.bytes = sizeof xv;
        nn_quant_range *r = calibrate(g, &in);
        nn_quant_table t;
        nn_quant_table_init(&t, NULL);
        CHECK_STATUS(nn_quant_table_parse(&t, rules[k], strlen(rules[k]), &d), NN_OK);
        nn_quant_desc qd;
        memset(&qd, 0, sizeof qd);
        qd.table = &t;
        CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, NULL, &d), NN_OK);
        if (q) {
            nn_dtype half = k ? NN_DTYPE_BFLOAT16 : NN_DTYPE_FLOAT16;
            nn_tensor_id wh = nn_graph_find_tensor(q, k ? "w_bf16" : "w_f16");
            CHECK(wh.id != NN_INVALID_ID && q->tensors[wh.id].dtype == half && q->tensors[wh.id].data_bytes == 2);
            CHECK(nn_graph_find_tensor(q, "w").id == NN_INVALID_ID); /* no float32 copy of the weight */
            uint32_t casts = 0;
            for (uint32_t i = 0; i < q->node_count; i++) casts += strcmp(q->nodes[i].op_type, "Cast") == 0;
            CHECK_EQ_INT(casts, 3); /* weight -> f32; input -> 16-bit -> f32 */
            nn_qexec *ix = NULL;
            CHECK_STATUS(nn_qexec_create(q, NULL, &ix, &d), NN_OK);
            if (ix) {
                CHECK_STATUS(nn_qexec_set_input(ix, 0, &in, &d), NN_OK);
                CHECK_STATUS(nn_qexec_run(ix, &d), NN_OK);
                const nn_value *o = nn_qexec_output(ix, 0);
                CHECK(o && nn_value_count(o) == 1);
                if (o) CHECK_NEAR(((const float *)o->data)[0], want[k], 0);
            }
            nn_qexec_destroy(ix);
            nn_graph_destroy(q);
        }
        nn_quant_table_deinit(&t);
        free(r);
        nn_graph_destroy(g);
    }
}

/* Per-group (blocked) 4-bit weights, by hand.  MatMul x (1x4) @ W (4x1),
   W = [1, 2, 0.5, -4], groups of 2 along the input axis (axis 0):
     group 0 {1, 2}:    scale 2/7, stored as float32 0.2857142984867 (just
                        above 2/7), so 1 / scale = 3.49999997 and q = rint() = 3;
                        2 / scale = 6.99999995, q = 7
     group 1 {0.5, -4}: scale 4/7, q = rint(0.875) = 1, rint(-7) = -7
   so the DQ holds int8 [3, 7, 1, -7], scales [[2/7], [4/7]] (shape 2x1),
   axis 0, block_size 2; the bias of a blocked layer is not made int32.
   The product with x = [1, 1, 1, 1] (exact in int8 at scale 1/127):
   3*2/7 + 7*2/7 + 1*4/7 - 7*4/7 = (6 + 14 + 4 - 28) / 7 = -4/7.
   A graph below opset 21 is refused (block_size came with opset 21). */
static void test_weight_groups(void) {
    for (int k = 0; k < 2; k++) {
        nn_graph *g = NULL, *q = NULL;
        nn_diag d;
        nn_tensor_id x, w, y;
        nn_node_id n;
        memset(&d, 0, sizeof d);
        if (nn_graph_create(NULL, &g, &d)) { CHECK(0); return; }
        int64_t xd[2] = {1, 4}, wd[2] = {4, 1}, yd[2] = {1, 1};
        nn_shape sx = nn_shape_make(2, xd), sw = nn_shape_make(2, wd), sy = nn_shape_make(2, yd);
        float wv[4] = {1.0f, 2.0f, 0.5f, -4.0f}, xv[4] = {1, 1, 1, 1};
        nn_graph_set_opset(g, "", k == 0 ? 21 : 14, &d);
        nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &sx, &x, &d);
        nn_graph_add_tensor(g, "w", NN_DTYPE_FLOAT, &sw, &w, &d);
        nn_graph_set_data(g, w, wv, sizeof wv, 1, &d);
        nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &sy, &y, &d);
        nn_graph_add_input(g, x, &d);
        nn_graph_add_output(g, y, &d);
        nn_tensor_id cin[2] = {x, w};
        nn_graph_add_node(g, "MatMul", "", "mm", cin, 2, &y, 1, &n, &d);
        CHECK_EQ_INT(d.status, NN_OK);
        nn_value in = nn_value_make(NN_DTYPE_FLOAT, sx, xv);
        in.bytes = sizeof xv;
        nn_quant_range *r = calibrate(g, &in);
        nn_quant_desc qd;
        memset(&qd, 0, sizeof qd);
        qd.weight_bits = 4;
        qd.weight_group = 2;
        if (k == 1) {
            CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, NULL, &d), NN_ERR_ARG);
            CHECK(strcmp(d.where, "nn_quant_desc.weight_group") == 0);
        } else {
            CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, NULL, &d), NN_OK);
        }
        if (q) {
            nn_tensor_id wq = nn_graph_find_tensor(q, "w_quantized"), ws = nn_graph_find_tensor(q, "w_scale");
            CHECK(wq.id != NN_INVALID_ID && ws.id != NN_INVALID_ID);
            if (wq.id != NN_INVALID_ID && ws.id != NN_INVALID_ID) {
                /* stored as ONNX int4, two per byte, low nibble first:
                   (3, 7) -> 0x73; (1, -7) -> 1 | (-7 & 15) << 4 = 0x91 */
                const uint8_t *qv = (const uint8_t *)q->tensors[wq.id].data;
                const float *sv = (const float *)q->tensors[ws.id].data;
                CHECK_EQ_INT(q->tensors[wq.id].dtype, NN_DTYPE_INT4);
                CHECK_EQ_INT(q->tensors[wq.id].data_bytes, 2);
                CHECK_EQ_INT(qv[0], 0x73); CHECK_EQ_INT(qv[1], 0x91);
                CHECK_EQ_INT(q->tensors[ws.id].shape.rank, 2);
                CHECK_EQ_INT(q->tensors[ws.id].shape.dims[0], 2);
                CHECK_EQ_INT(q->tensors[ws.id].shape.dims[1], 1);
                CHECK_NEAR(sv[0], 2.0 / 7.0, 1e-7);
                CHECK_NEAR(sv[1], 4.0 / 7.0, 1e-7);
                const nn_node *dq = &q->nodes[q->tensors[nn_graph_find_tensor(q, "w_dequantized").id].producer.id];
                CHECK_EQ_INT(nn_node_attr_int(dq, "block_size", 0), 2);
                CHECK_EQ_INT(nn_node_attr_int(dq, "axis", 1), 0);
            }
            nn_qexec *ix = NULL;
            CHECK_STATUS(nn_qexec_create(q, NULL, &ix, &d), NN_OK);
            if (ix) {
                CHECK_STATUS(nn_qexec_set_input(ix, 0, &in, &d), NN_OK);
                CHECK_STATUS(nn_qexec_run(ix, &d), NN_OK);
                const nn_value *o = nn_qexec_output(ix, 0);
                /* the output goes through its own int8 QuantizeLinear: within half a step of -4/7 */
                CHECK(o && nn_value_count(o) == 1);
                if (o) CHECK_NEAR(((const float *)o->data)[0], -4.0 / 7.0, 0.5 * (4.0 / 7.0) / 127.0 + 1e-6);
            }
            nn_qexec_destroy(ix);
            nn_graph_destroy(q);
        }
        free(r);
        nn_graph_destroy(g);
    }
}

/* Observer keeping copies of the int8 outputs of integer groups (x's Q and
   the chain's Q) in node order. */
typedef struct chain_obs { int8_t v[2][64]; int n; } chain_obs;
static int chain_observe(void *user, const nn_graph *g, uint32_t node_index, const nn_value *outputs, uint32_t output_count) {
    chain_obs *o = (chain_obs *)user;
    (void)g; (void)node_index;
    if (output_count == 1 && outputs[0].dtype == NN_DTYPE_INT8 && nn_value_count(&outputs[0]) == 64 && o->n < 2)
        memcpy(o->v[o->n++], outputs[0].data, 64);
    return 0;
}

/* A table chain: x -> HardSwish -> Mul 0.5 -> Add -1 -> Tanh -> y (x 64
   values in [-4, 4)).  The quantizer leaves the HardSwish and Mul outputs
   unquantized (stats.chained = 2), the executor runs the three nodes as one
   256-entry table of x's int8 value.  The table is checked entry by entry
   against the formula done by hand here, 0.5 * hardswish(v) - 1 with
   hardswish(v) = v * min(max(v + 3, 0), 6) / 6, quantized with the Add
   output's scale (half to even): the group's int8 output must be that
   value for every x. */
static void test_table_chain(void) {
    nn_graph *g = NULL, *q = NULL;
    nn_diag d;
    nn_tensor_id x, h, m, a, y, c5, c1;
    nn_node_id n;
    memset(&d, 0, sizeof d);
    if (nn_graph_create(NULL, &g, &d)) { CHECK(0); return; }
    int64_t xd[2] = {1, 64}, one[1] = {1};
    nn_shape xs = nn_shape_make(2, xd), s1 = nn_shape_make(1, one);
    float xv[64], half = 0.5f, m1 = -1.0f;
    for (int i = 0; i < 64; i++) xv[i] = -4.0f + 0.125f * (float)i;
    nn_graph_set_opset(g, "", 14, &d);
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &xs, &x, &d);
    nn_graph_add_tensor(g, "h", NN_DTYPE_FLOAT, &xs, &h, &d);
    nn_graph_add_tensor(g, "m", NN_DTYPE_FLOAT, &xs, &m, &d);
    nn_graph_add_tensor(g, "a", NN_DTYPE_FLOAT, &xs, &a, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &xs, &y, &d);
    nn_graph_add_tensor(g, "half", NN_DTYPE_FLOAT, &s1, &c5, &d);
    nn_graph_set_data(g, c5, &half, 4, 1, &d);
    nn_graph_add_tensor(g, "minus1", NN_DTYPE_FLOAT, &s1, &c1, &d);
    nn_graph_set_data(g, c1, &m1, 4, 1, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    nn_graph_add_node(g, "HardSwish", "", "hs", &x, 1, &h, 1, &n, &d);
    nn_tensor_id mi[2] = {c5, h}, ai[2] = {m, c1}; /* constant first in the Mul, as paddle2onnx writes it */
    nn_graph_add_node(g, "Mul", "", "mul", mi, 2, &m, 1, &n, &d);
    nn_graph_add_node(g, "Add", "", "add", ai, 2, &a, 1, &n, &d);
    nn_graph_add_node(g, "Tanh", "", "tanh", &a, 1, &y, 1, &n, &d);
    CHECK_EQ_INT(d.status, NN_OK);
    nn_value in = nn_value_make(NN_DTYPE_FLOAT, xs, xv);
    in.bytes = sizeof xv;
    nn_quant_range *r = calibrate(g, &in);
    nn_quant_stats st;
    CHECK_STATUS(nn_quant_graph(g, r, NULL, &q, &st, &d), NN_OK);
    CHECK_EQ_INT(st.chained, 2);
    if (q) {
        CHECK(nn_graph_find_tensor(q, "h_quantized").id == NN_INVALID_ID);
        CHECK(nn_graph_find_tensor(q, "m_quantized").id == NN_INVALID_ID);
        nn_tensor_id aq = nn_graph_find_tensor(q, "a_quantized"), xq = nn_graph_find_tensor(q, "x_quantized");
        CHECK(aq.id != NN_INVALID_ID && xq.id != NN_INVALID_ID);
        nn_qexec *ix = NULL;
        chain_obs ob;
        nn_qexec_desc qd;
        memset(&ob, 0, sizeof ob);
        memset(&qd, 0, sizeof qd);
        qd.observer = chain_observe;
        qd.observer_user = &ob;
        CHECK_STATUS(nn_qexec_create(q, &qd, &ix, &d), NN_OK);
        if (ix && aq.id != NN_INVALID_ID) {
            nn_qexec_stats xs2;
            nn_qexec_get_stats(ix, &xs2);
            CHECK_EQ_INT(xs2.int_groups, 1); /* the chain; Tanh makes a float graph output */
            CHECK_STATUS(nn_qexec_set_input(ix, 0, &in, &d), NN_OK);
            CHECK_STATUS(nn_qexec_run(ix, &d), NN_OK);
            /* x's QuantizeLinear runs as a float node (int8 output), then the chain group */
            CHECK_EQ_INT(ob.n, 2);
            nn_value avv = nn_value_make(NN_DTYPE_INT8, xs, ob.v[1]), xvv = nn_value_make(NN_DTYPE_INT8, xs, ob.v[0]);
            const nn_value *av = ob.n == 2 ? &avv : NULL, *xvq = ob.n == 2 ? &xvv : NULL;
            /* scales from the Q nodes' initializers */
            double sx = 4.0 / 127, sa = 0;
            for (uint32_t i = 0; i < q->node_count; i++)
                if (!strcmp(q->nodes[i].op_type, "QuantizeLinear") && q->nodes[i].outputs[0].id == aq.id)
                    sa = ((const float *)q->tensors[q->nodes[i].inputs[1].id].data)[0];
                else if (!strcmp(q->nodes[i].op_type, "QuantizeLinear") && q->nodes[i].outputs[0].id == xq.id)
                    sx = ((const float *)q->tensors[q->nodes[i].inputs[1].id].data)[0];
            CHECK(sa > 0 && av && xvq);
            for (int i = 0; av && xvq && sa > 0 && i < 64; i++) {
                double v = sx * ((const int8_t *)xvq->data)[i];
                double hs = v * fmin(fmax(v + 3, 0), 6) / 6, want = rint((0.5 * hs - 1) / sa);
                want = want < -128 ? -128 : want > 127 ? 127 : want;
                CHECK_EQ_INT(((const int8_t *)av->data)[i], (int)want);
            }
        }
        nn_qexec_destroy(ix);
        nn_graph_destroy(q);
    }
    free(r);
    nn_graph_destroy(g);
}

/* nn_quant_desc.preact16.  x (1, 3, 1, 1) = (-1.5, 0.5, 2) -> depthwise
   1x1 Conv "c" with weights (100, 1, 1) -> h = (-150, 0.5039, 2) ->
   HardSwish -> y (a graph output, left float); a second depthwise Conv
   "c2" (weights 1) -> h2, read by a HardSwish -> y2 and by z = h2 + y2.
   minmax, s8sym.
   By hand: x's step is 2 / 127, so x1 = 0.5 quantizes to 32 * 2 / 127 =
   0.50394; the weights are exact per channel (q = 127 each).  h's int8
   step is 150 / 127 = 1.1811: h1 = 0.50394 rounds to 0, and
   hardswish(0) = 0.  At 16 bits h's step is 150 / 32767 = 0.0045778:
   h1 = 110 steps = 0.503555, so y1 = hardswish(0.503555) = 0.503555 *
   3.503555 / 6 = 0.29404 (float: 0.29428).  So: with the flag only h
   gets 16-bit Q/DQ (h2 is also read by the Add, not only by an
   activation) and y1 = 0.29404; without it y1 = 0.
   Then u8asym with the flag: x's zero point is round(1.5 / (3.5 / 255))
   = 109, which the 16-bit conv subtracts from the widened 8-bit input
   (session 19: before the kernel, so it runs at zero point 0).  The
   integer run must equal the QDQ graph's float reference (float_only)
   within one int16 step of h times HardSwish's largest slope (1.5):
   a zero point lost or taken twice moves h by 109 x-steps x 100. */
static void test_preact16(void) {
    nn_graph *g = NULL, *q = NULL;
    nn_diag d;
    nn_tensor_id x, w, w2, h, h2, y, y2, z;
    nn_node_id n;
    memset(&d, 0, sizeof d);
    if (nn_graph_create(NULL, &g, &d)) { CHECK(0); return; }
    int64_t xd[4] = {1, 3, 1, 1}, wd[4] = {3, 1, 1, 1};
    nn_shape xs = nn_shape_make(4, xd), ws = nn_shape_make(4, wd);
    float xv[3] = {-1.5f, 0.5f, 2.0f}, wv[3] = {100.0f, 1.0f, 1.0f}, wv2[3] = {1.0f, 1.0f, 1.0f};
    nn_attr grp;
    memset(&grp, 0, sizeof grp);
    grp.name = "group";
    grp.type = NN_ATTR_INT;
    grp.i = 3;
    nn_graph_set_opset(g, "", 14, &d);
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &xs, &x, &d);
    nn_graph_add_tensor(g, "w", NN_DTYPE_FLOAT, &ws, &w, &d);
    nn_graph_set_data(g, w, wv, sizeof wv, 1, &d);
    nn_graph_add_tensor(g, "w2", NN_DTYPE_FLOAT, &ws, &w2, &d);
    nn_graph_set_data(g, w2, wv2, sizeof wv2, 1, &d);
    nn_graph_add_tensor(g, "h", NN_DTYPE_FLOAT, &xs, &h, &d);
    nn_graph_add_tensor(g, "h2", NN_DTYPE_FLOAT, &xs, &h2, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &xs, &y, &d);
    nn_graph_add_tensor(g, "y2", NN_DTYPE_FLOAT, &xs, &y2, &d);
    nn_graph_add_tensor(g, "z", NN_DTYPE_FLOAT, &xs, &z, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    nn_graph_add_output(g, z, &d);
    nn_tensor_id ci[2] = {x, w}, ci2[2] = {x, w2};
    nn_graph_add_node(g, "Conv", "", "c", ci, 2, &h, 1, &n, &d);
    nn_graph_add_attr(g, n, &grp, 0, &d);
    nn_graph_add_node(g, "HardSwish", "", "hs", &h, 1, &y, 1, &n, &d);
    nn_graph_add_node(g, "Conv", "", "c2", ci2, 2, &h2, 1, &n, &d);
    nn_graph_add_attr(g, n, &grp, 0, &d);
    nn_graph_add_node(g, "HardSwish", "", "hs2", &h2, 1, &y2, 1, &n, &d);
    nn_tensor_id zi[2] = {h2, y2};
    nn_graph_add_node(g, "Add", "", "add", zi, 2, &z, 1, &n, &d);
    CHECK_EQ_INT(d.status, NN_OK);
    nn_value in = nn_value_make(NN_DTYPE_FLOAT, xs, xv);
    in.bytes = sizeof xv;
    nn_quant_range *r = calibrate(g, &in);
    for (int flag = 0; flag < 2; flag++) {
        nn_quant_desc qd;
        memset(&qd, 0, sizeof qd);
        qd.preact16 = flag;
        CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, NULL, &d), NN_OK);
        if (!q) break;
        nn_dtype hz = NN_DTYPE_UNDEFINED, h2z = NN_DTYPE_UNDEFINED;
        uint32_t hid = nn_graph_find_tensor(q, "h").id, h2id = nn_graph_find_tensor(q, "h2").id;
        for (uint32_t i = 0; i < q->node_count; i++) {
            const nn_node *k = &q->nodes[i];
            if (strcmp(k->op_type, "QuantizeLinear") || k->input_count < 3) continue;
            if (k->inputs[0].id == hid) hz = q->tensors[k->inputs[2].id].dtype;
            if (k->inputs[0].id == h2id) h2z = q->tensors[k->inputs[2].id].dtype;
        }
        CHECK_EQ_INT(hz, flag ? NN_DTYPE_INT16 : NN_DTYPE_INT8);
        CHECK_EQ_INT(h2z, NN_DTYPE_INT8);
        nn_qexec *ix = NULL;
        CHECK_STATUS(nn_qexec_create(q, NULL, &ix, &d), NN_OK);
        if (ix) {
            CHECK_STATUS(nn_qexec_set_input(ix, 0, &in, &d), NN_OK);
            CHECK_STATUS(nn_qexec_run(ix, &d), NN_OK);
            double y1 = ((const float *)nn_qexec_output(ix, 0)->data)[1];
            if (flag) CHECK(fabs(y1 - 0.503555 * 3.503555 / 6) < 1e-5);
            else CHECK(fabs(y1) < 1e-6);
        }
        nn_qexec_destroy(ix);
        nn_graph_destroy(q);
        q = NULL;
    }
    {
        nn_quant_desc qd;
        nn_qexec *ix = NULL, *fx = NULL;
        nn_qexec_desc fd;
        memset(&qd, 0, sizeof qd);
        memset(&fd, 0, sizeof fd);
        qd.preact16 = 1;
        qd.scheme = NN_QUANT_U8_ASYM;
        fd.float_only = 1;
        CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, NULL, &d), NN_OK);
        if (q && nn_qexec_create(q, NULL, &ix, &d) == NN_OK && nn_qexec_create(q, &fd, &fx, &d) == NN_OK) {
            CHECK_STATUS(nn_qexec_set_input(ix, 0, &in, &d), NN_OK);
            CHECK_STATUS(nn_qexec_set_input(fx, 0, &in, &d), NN_OK);
            CHECK_STATUS(nn_qexec_run(ix, &d), NN_OK);
            CHECK_STATUS(nn_qexec_run(fx, &d), NN_OK);
            for (int i = 0; i < 3; i++) {
                double yi = ((const float *)nn_qexec_output(ix, 0)->data)[i], yf = ((const float *)nn_qexec_output(fx, 0)->data)[i];
                CHECK(fabs(yi - yf) <= 1.5 * 150.0 / 32767 + 1e-6);
            }
            /* y1 by hand: x1 = 0.5 -> round(0.5 / (3.5 / 255)) + 109 = 145, back to
               36 x 3.5 / 255 = 0.494118; h1 at int16 (symmetric, step 150 / 32767):
               round(107.94) = 108 steps = 0.494400; hardswish = 0.4944 x 3.4944 / 6
               = 0.287938 */
            CHECK(fabs(((const float *)nn_qexec_output(ix, 0)->data)[1] - 0.287938) < 2e-5);
        } else {
            CHECK(0);
        }
        nn_qexec_destroy(ix);
        nn_qexec_destroy(fx);
        nn_graph_destroy(q);
        q = NULL;
    }
    free(r);
    nn_graph_destroy(g);
}

/* ---- precision analysis, mixed-precision search, recipe ------------------ */

/* x (1,16) -> p = x * 1.5 -> h = p + k -> o = h * m -> y = Tanh(o).
   k is 1000 at element 0 and 0 elsewhere; m is 0 at element 0 and 1
   elsewhere, so in float o = 1.5 x (o_0 = 0).  Per-tensor int8 h has scale
   ~1000/127 ~ 7.9, and every |1.5 x_i| < 3 rounds to 0: h is the layer made
   deliberately sensitive (a huge-range activation). */

/* The graph both huge-range tests start from: opset 13, input x (1,16),
   constants k = (1000, 0, ...) and m = (0, 1, ...) (static: the graph
   borrows them); NULL when the graph cannot be made. */
static nn_graph *huge_range_base(nn_tensor_id *x, nn_tensor_id *k, nn_tensor_id *m, nn_diag *d) {
    static float kv[16], mv[16];
    int64_t xd[2] = {1, 16}, kd[1] = {16};
    nn_shape xs = nn_shape_make(2, xd), ks = nn_shape_make(1, kd);
    nn_graph *g = NULL;
    for (int i = 0; i < 16; i++) { kv[i] = i == 0 ? 1000.0f : 0.0f; mv[i] = i == 0 ? 0.0f : 1.0f; }
    if (nn_graph_create(NULL, &g, d)) return NULL;
    nn_graph_set_opset(g, "", 13, d);
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &xs, x, d);
    nn_graph_add_tensor(g, "k", NN_DTYPE_FLOAT, &ks, k, d);
    nn_graph_set_data(g, *k, kv, sizeof kv, 1, d);
    nn_graph_add_tensor(g, "m", NN_DTYPE_FLOAT, &ks, m, d);
    nn_graph_set_data(g, *m, mv, sizeof mv, 1, d);
    nn_graph_add_input(g, *x, d);
    return g;
}

static nn_graph *sensitive_graph(void) {
    nn_graph *g = NULL;
    nn_diag d;
    nn_tensor_id x, c15, k, m, p, h, o, y;
    nn_node_id n;
    int64_t xd[2] = {1, 16}, sd[1] = {1};
    nn_shape xs = nn_shape_make(2, xd), ss = nn_shape_make(1, sd);
    float c15v[1] = {1.5f};
    memset(&d, 0, sizeof d);
    if (!(g = huge_range_base(&x, &k, &m, &d))) return NULL;
    nn_graph_add_tensor(g, "c15", NN_DTYPE_FLOAT, &ss, &c15, &d);
    nn_graph_set_data(g, c15, c15v, sizeof c15v, 1, &d);
    nn_graph_add_tensor(g, "p", NN_DTYPE_FLOAT, &xs, &p, &d);
    nn_graph_add_tensor(g, "h", NN_DTYPE_FLOAT, &xs, &h, &d);
    nn_graph_add_tensor(g, "o", NN_DTYPE_FLOAT, &xs, &o, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &xs, &y, &d);
    nn_graph_add_output(g, y, &d);
    nn_tensor_id i1[2] = {x, c15}, i2[2] = {p, k}, i3[2] = {h, m};
    nn_graph_add_node(g, "Mul", "", "scale", i1, 2, &p, 1, &n, &d);
    nn_graph_add_node(g, "Add", "", "offset", i2, 2, &h, 1, &n, &d);
    nn_graph_add_node(g, "Mul", "", "mask", i3, 2, &o, 1, &n, &d);
    nn_graph_add_node(g, "Tanh", "", "tanh", &o, 1, &y, 1, &n, &d);
    if (d.status) { nn_graph_destroy(g); return NULL; }
    return g;
}

static void sensitive_input(float *xv) {
    for (int i = 0; i < 16; i++) xv[i] = (float)sin(i * 0.9 + 0.3) * 1.2f; /* |1.5 x| <= 1.8 */
}

static void test_analysis(void) {
    nn_graph *g = sensitive_graph(), *q = NULL;
    nn_diag d;
    float xv[16];
    int64_t xd[2] = {1, 16};
    memset(&d, 0, sizeof d);
    CHECK(g != NULL);
    if (!g) return;
    sensitive_input(xv);
    nn_value in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(2, xd), xv);
    in.bytes = sizeof xv;
    nn_quant_range *r = calibrate(g, &in);
    CHECK_STATUS(nn_quant_graph(g, r, NULL, &q, NULL, &d), NN_OK);
    nn_quant_layer_report rows[16];
    uint32_t nrows = 0;
    nn_quant_eval_desc ed;
    memset(&ed, 0, sizeof ed);
    ed.int_kernels = 1;
    CHECK_STATUS(nn_quant_analyze(g, q, &in, 1, &ed, rows, &nrows, &d), NN_OK);
    /* p, h, o (y is a graph output: float in both, also reported) in order */
    CHECK(nrows >= 3);
    const nn_quant_layer_report *rp = NULL, *rh = NULL, *ro = NULL;
    for (uint32_t i = 0; i < nrows; i++) {
        const char *nm = g->tensors[rows[i].tensor].name;
        if (!strcmp(nm, "p")) rp = &rows[i];
        if (!strcmp(nm, "h")) rh = &rows[i];
        if (!strcmp(nm, "o")) ro = &rows[i];
    }
    CHECK(rp && rh && ro);
    if (rp && rh && ro) {
        CHECK(rp < rh && rh < ro); /* topological order */
        CHECK_EQ_INT(rh->qdtype, NN_DTYPE_INT8);
        CHECK_EQ_INT(rh->elements, 16);
        /* minmax threshold of h = max|h| = 1000 + 1.5 x_0 (p_0 quantized): scale T / 127 */
        CHECK_NEAR(rh->scale, r[nn_graph_find_tensor(g, "h").id].threshold / 127.0, 1e-6); /* stored as float */
        CHECK_NEAR(rh->saturation, 0.0, 0); /* minmax: nothing beyond the range */
        CHECK(rp->cosine > 0.999);          /* 1.5 x with its own scale */
        /* o: every quantized h_i (i > 0) is 0, so o_q = 0: cosine 0, MSE =
           mean(o_f^2) = mean over i > 0 of (1.5 x_i)^2 / 16, SQNR 0 dB */
        double mse = 0;
        for (int i = 1; i < 16; i++) mse += (1.5 * xv[i]) * (1.5 * xv[i]);
        mse /= 16;
        CHECK_NEAR(ro->cosine, 0.0, 1e-12);
        CHECK_NEAR(ro->mse, mse, 1e-5 * mse);
        CHECK_NEAR(ro->sqnr_db, 0.0, 1e-3);
    }
    double c = 2;
    CHECK_STATUS(nn_quant_output_cosine(g, q, &in, 1, &ed, &c, &d), NN_OK);
    CHECK(c < 0.1); /* tanh(0) everywhere against tanh(1.5 x) */
    nn_graph_destroy(q);
    free(r);
    nn_graph_destroy(g);
}

/* nn_quant_eval_desc.threads splits the samples over threads: the mean
   output cosine of 5 different samples must equal the mean of the 5
   one-sample cosines (summed in sample order, so equal to the last bit)
   whatever the thread count, which fails if a share skips or repeats a
   sample. */
static void test_score_threads(void) {
    nn_graph *g = sensitive_graph(), *q = NULL;
    nn_diag d;
    enum { NS = 5 };
    float xv[NS][16];
    int64_t xd[2] = {1, 16};
    nn_value in[NS];
    memset(&d, 0, sizeof d);
    CHECK(g != NULL);
    if (!g) return;
    for (int k = 0; k < NS; k++) {
        sensitive_input(xv[k]);
        for (int i = 0; i < 16; i++) xv[k][i] = xv[k][i] * (1.0f + 2.0f * (float)k); /* k > 0: some |1.5 x| pass half a step of h */
        in[k] = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(2, xd), xv[k]);
        in[k].bytes = sizeof xv[k];
    }
    nn_quant_range *r = calibrate(g, &in[NS - 1]); /* the widest sample */
    CHECK_STATUS(nn_quant_graph(g, r, NULL, &q, NULL, &d), NN_OK);
    if (q) {
        nn_quant_eval_desc ed;
        double one[NS], sum = 0, c1 = -2, c3 = -2, c8 = -2;
        memset(&ed, 0, sizeof ed);
        for (int k = 0; k < NS; k++) {
            one[k] = -2;
            CHECK_STATUS(nn_quant_output_cosine(g, q, &in[k], 1, &ed, &one[k], &d), NN_OK);
            sum += one[k];
        }
        /* the samples differ enough that dropping one would show: sample 0 has
           every |1.5 x| below half a step of h (cosine 0), sample 4 does not */
        CHECK(fabs(one[0] - one[NS - 1]) > 1e-6);
        ed.threads = 1;
        CHECK_STATUS(nn_quant_output_cosine(g, q, in, NS, &ed, &c1, &d), NN_OK);
        ed.threads = 3;
        CHECK_STATUS(nn_quant_output_cosine(g, q, in, NS, &ed, &c3, &d), NN_OK);
        ed.threads = 8; /* more threads than samples: capped at 5 */
        CHECK_STATUS(nn_quant_output_cosine(g, q, in, NS, &ed, &c8, &d), NN_OK);
        CHECK(c1 == sum / NS);
        CHECK(c3 == c1);
        CHECK(c8 == c1);
    }
    nn_graph_destroy(q);
    free(r);
    nn_graph_destroy(g);
}

typedef struct metric_probe { int calls, bad_shape; } metric_probe;

static double within_tenth(void *user, uint32_t sample, uint32_t output_count, const float *const *q,
                           const float *const *ref, const size_t *counts) {
    metric_probe *p = (metric_probe *)user;
    size_t i;
    p->calls++;
    if (sample != 0 || output_count != 1 || counts[0] != 16) p->bad_shape++;
    for (i = 0; i < counts[0]; i++)
        if (fabs((double)q[0][i] - ref[0][i]) > 0.1) return 0.0;
    return 1.0;
}

/* The huge-range graph and its input (xv: 16 floats); NULL on failure. */
static nn_graph *sensitive_setup(float *xv, nn_value *in) {
    int64_t xd[2] = {1, 16};
    nn_graph *g = sensitive_graph();
    CHECK(g != NULL);
    sensitive_input(xv);
    *in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(2, xd), xv);
    in->bytes = 16 * sizeof(float);
    return g;
}

static void test_search(void) {
    nn_diag d;
    float xv[16];
    nn_value in;
    nn_graph *g = sensitive_setup(xv, &in);
    memset(&d, 0, sizeof d);
    if (!g) return;
    nn_quant_range *r = calibrate(g, &in);
    nn_quant_table out;
    nn_quant_table_init(&out, NULL);
    nn_quant_search_layer layers[16];
    uint32_t nl = 0;
    nn_quant_search_desc sd;
    nn_quant_search_result res;
    memset(&sd, 0, sizeof sd);
    sd.expected_cos = 0.999;
    CHECK_STATUS(nn_quant_search(g, r, NULL, &in, 1, &sd, &out, layers, &nl, &res, &d), NN_OK);
    /* the huge-range h is the one layer promoted, and it fixes the output;
       the written rule names h's producer node, "offset" (node names survive
       the flows' fusions, nn_quant__layer_rule_name) */
    CHECK_EQ_INT(out.count, 1);
    if (out.count == 1) {
        CHECK(!strcmp(out.rules[0].name, "offset"));
        CHECK_EQ_INT(out.rules[0].kind, NN_QUANT_RULE_LAYER);
        CHECK_EQ_INT(out.rules[0].dtype, NN_QUANT_DTYPE_F32);
    }
    CHECK_EQ_INT(res.promoted, 1);
    CHECK(res.cos_before < 0.1);
    CHECK(res.cos_after > 0.999);
    CHECK(nl >= 1 && !strcmp(g->tensors[layers[0].tensor].name, "h") && layers[0].promoted);
    /* searching again under the table found: the expected cosine is already
       met, nothing more is promoted */
    nn_quant_desc qd;
    memset(&qd, 0, sizeof qd);
    qd.table = &out;
    nn_quant_table again;
    nn_quant_table_init(&again, NULL);
    CHECK_STATUS(nn_quant_search(g, r, &qd, &in, 1, &sd, &again, layers, &nl, &res, &d), NN_OK);
    CHECK_EQ_INT(again.count, 0);
    CHECK_EQ_INT(res.promoted, 0);
    CHECK(res.cos_before > 0.999);
    nn_quant_table_deinit(&again);
    nn_quant_table_deinit(&out);
    { /* a task metric instead of the output cosine: 1 when every output value is
         within 0.1 of the float model's.  All quantized, y = tanh(0) = 0 where
         float has tanh(1.5 x) (up to 0.96): 0.  With h float, y is within the
         int8 steps of o and y (a few hundredths): 1.  So the search promotes h,
         and its scores are exactly 0 -> 1. */
        metric_probe mp;
        memset(&mp, 0, sizeof mp);
        memset(&sd, 0, sizeof sd);
        sd.expected_cos = 0.99;
        sd.eval.metric = within_tenth;
        sd.eval.metric_user = &mp;
        nn_quant_table_init(&out, NULL);
        CHECK_STATUS(nn_quant_search(g, r, NULL, &in, 1, &sd, &out, layers, &nl, &res, &d), NN_OK);
        CHECK(out.count == 1 && !strcmp(out.rules[0].name, "offset"));
        CHECK_NEAR(res.cos_before, 0.0, 0);
        CHECK_NEAR(res.cos_after, 1.0, 0);
        CHECK(mp.calls > 2 && mp.bad_shape == 0);
        nn_quant_table_deinit(&out);
    }
    free(r);
    nn_graph_destroy(g);
}

/* nn_quant_sensitivity on the huge-range graph, with two range sets: A =
   minmax (h's threshold 1000: h's values, |h| <= 1.8, all round to 0 on its
   step of 1000/127 = 7.9, so y = tanh(0) = 0 and the output cosine is 0),
   and B = A with h's threshold 2 (step 0.0157: the outlier saturates, and
   the mask multiplies it by 0; the others keep their values within half a
   step).  With only `offset` quantized, A loses everything (loss 1) and B
   almost nothing, so B is offset's best; every other layer has the same
   range in both sets, so the same loss and best 0.  Each loss must equal
   the one a whole run of that one-layer QDQ graph gives (the measurement
   reuses the float run upstream of the layer). */
static void test_sensitivity(void) {
    nn_diag d;
    float xv[16];
    nn_value in;
    nn_graph *g = sensitive_setup(xv, &in);
    memset(&d, 0, sizeof d);
    if (!g) return;
    nn_quant_range *a = calibrate(g, &in), *b = calloc(g->tensor_count, sizeof *b), *mix = calloc(g->tensor_count, sizeof *mix);
    uint32_t h = nn_graph_find_tensor(g, "h").id, p = nn_graph_find_tensor(g, "p").id;
    memcpy(b, a, g->tensor_count * sizeof *b);
    CHECK(a[h].valid && a[h].threshold > 999);
    b[h].threshold = 2.0;
    b[h].min = -2.0;
    b[h].max = 2.0;
    const nn_quant_range *sets[2] = {a, b};
    nn_quant_sens_row rows[16];
    uint32_t nr = 0, i, k, seen_offset = 0;
    nn_quant_eval_desc ed;
    memset(&ed, 0, sizeof ed);
    CHECK_STATUS(nn_quant_sensitivity(g, sets, 2, NULL, &in, 1, &ed, rows, &nr, &d), NN_OK);
    CHECK(nr >= 3);
    for (i = 0; i < nr; i++) {
        const char *name = g->nodes[rows[i].node].name;
        if (!strcmp(name, "offset")) {
            seen_offset = 1;
            CHECK_EQ_INT(rows[i].tensor, h);
            CHECK(rows[i].loss[0] > 0.99);
            CHECK(rows[i].loss[1] < 1e-3);
            CHECK_EQ_INT(rows[i].best, 1);
        } else {
            CHECK(rows[i].loss[0] == rows[i].loss[1]);
            CHECK_EQ_INT(rows[i].best, 0);
            CHECK(rows[i].loss[0] < 1e-3);
        }
        for (k = 0; k < 2; k++) { /* the same figure from a whole run of the one-layer graph */
            nn_quant_table t;
            nn_quant_desc qd;
            nn_graph *q = NULL;
            double c = -2;
            nn_quant_table_init(&t, NULL);
            memset(&qd, 0, sizeof qd);
            for (uint32_t j = 0; j < g->node_count; j++)
                nn_quant_table_add(&t, NN_QUANT_RULE_TYPE, g->nodes[j].op_type, NULL, NN_QUANT_DTYPE_F32, &d);
            nn_quant_table_add(&t, NN_QUANT_RULE_LAYER, name, NULL, NN_QUANT_DTYPE_INT8, &d);
            qd.table = &t;
            CHECK_STATUS(nn_quant_graph(g, sets[k], &qd, &q, NULL, &d), NN_OK);
            if (q) CHECK_STATUS(nn_quant_output_cosine(g, q, &in, 1, &ed, &c, &d), NN_OK);
            CHECK(1.0 - c == rows[i].loss[k]);
            if (1.0 - c != rows[i].loss[k]) printf("  %s set %u: whole run %.17g, sensitivity %.17g\n", name, k, 1.0 - c, rows[i].loss[k]);
            if (q) nn_graph_destroy(q);
            nn_quant_table_deinit(&t);
        }
    }
    CHECK(seen_offset);
    /* the chosen ranges: h from B, the rest from A */
    nn_quant_sensitivity_ranges(g, sets, rows, nr, mix);
    CHECK_NEAR(mix[h].threshold, 2.0, 0);
    CHECK(mix[p].threshold == a[p].threshold && mix[p].valid);
    /* 0 or more than NN_QUANT_SENS_MAX sets are refused */
    CHECK_STATUS(nn_quant_sensitivity(g, sets, 0, NULL, &in, 1, &ed, rows, &nr, &d), NN_ERR_ARG);
    CHECK_STATUS(nn_quant_sensitivity(g, sets, NN_QUANT_SENS_MAX + 1, NULL, &in, 1, &ed, rows, &nr, &d), NN_ERR_ARG);
    free(a);
    free(b);
    free(mix);
    nn_graph_destroy(g);
}

typedef struct text_buf { char data[4096]; size_t n; } text_buf;

static int text_buf_write(void *user, const char *text, size_t bytes) {
    text_buf *t = (text_buf *)user;
    if (t->n + bytes > sizeof t->data) return 1;
    memcpy(t->data + t->n, text, bytes);
    t->n += bytes;
    return 0;
}

/* Ranges from a calibration table: a named tensor takes the entry's
   threshold and its min / max clipped to [-T, T]; an entry naming no tensor
   is not counted; an unnamed tensor gets no range.  The ranges written back
   with nn_quant_ranges_to_table, saved as text and read again, give the
   same thresholds (%.9g: relative error below 1e-8). */
static void test_ranges_table(void) {
    nn_graph *g = sensitive_graph();
    nn_diag d;
    memset(&d, 0, sizeof d);
    CHECK(g != NULL);
    if (!g) return;
    uint32_t h = nn_graph_find_tensor(g, "h").id, p = nn_graph_find_tensor(g, "p").id, o = nn_graph_find_tensor(g, "o").id;
    nn_calib_table t;
    nn_calib_table_init(&t, NULL);
    const char *text = "# hand-made\nh 2.0 -3.0 1.5\np 1.8 -1.7 1.8\nnosuch 1.0 -1.0 1.0\n";
    CHECK_STATUS(nn_calib_table_load(&t, text, strlen(text), "t", &d), NN_OK);
    nn_quant_range *r = calloc(g->tensor_count, sizeof *r);
    uint32_t matched = 99;
    CHECK_STATUS(nn_quant_ranges_from_table(g, &t, r, &matched, &d), NN_OK);
    CHECK_EQ_INT(matched, 2);
    CHECK(r[h].valid && r[h].threshold == 2.0 && r[h].min == -2.0 && r[h].max == 1.5);
    CHECK(r[p].valid && r[p].threshold == 1.8 && r[p].min == -1.7 && r[p].max == 1.8);
    CHECK(!r[o].valid);
    /* round trip through text */
    nn_calib_table u, v;
    nn_calib_table_init(&u, NULL);
    nn_calib_table_init(&v, NULL);
    r[p].threshold = 1.0 / 3.0;
    r[p].min = -1.0 / 7.0;
    r[p].max = 1.0 / 3.0;
    CHECK_STATUS(nn_quant_ranges_to_table(g, r, &u, &d), NN_OK);
    CHECK_EQ_INT(u.count, 2);
    text_buf tb;
    memset(&tb, 0, sizeof tb);
    CHECK_STATUS(nn_calib_table_save(&u, text_buf_write, &tb, &d), NN_OK);
    {
        CHECK_STATUS(nn_calib_table_load(&v, tb.data, tb.n, "u", &d), NN_OK);
        nn_quant_range *r2 = calloc(g->tensor_count, sizeof *r2);
        CHECK_STATUS(nn_quant_ranges_from_table(g, &v, r2, &matched, &d), NN_OK);
        CHECK_EQ_INT(matched, 2);
        CHECK_NEAR(r2[p].threshold, 1.0 / 3.0, 1e-8);
        CHECK_NEAR(r2[p].min, -1.0 / 7.0, 1e-8);
        CHECK(r2[h].threshold == 2.0 && r2[h].min == -2.0);
        free(r2);
    }
    nn_calib_table_deinit(&t);
    nn_calib_table_deinit(&u);
    nn_calib_table_deinit(&v);
    free(r);
    nn_graph_destroy(g);
}

/* A metric whose score is set by the sample alone: 0.9, 0.3, 0.6 for
   samples 0, 1, 2 (the outputs are not looked at). */
static double by_sample(void *user, uint32_t sample, uint32_t output_count, const float *const *q,
                        const float *const *ref, const size_t *counts) {
    static const double score[3] = {0.9, 0.3, 0.6};
    (void)user; (void)output_count; (void)q; (void)ref; (void)counts;
    return sample < 3 ? score[sample] : -1.0;
}

/* nn_quant_eval_desc.worst and nn_quant_search_desc.prescreen_samples, on
   sensitive_graph (p = 1.5 x, h = p + k, o = h * m, y = tanh(o); y stays
   float, so the quantized layers are p, h, o in that order).
   - worst: with by_sample's scores the mean of 3 samples is
     (0.9 + 0.3 + 0.6) / 3 = 0.6 and the worst is 0.3.
   - local drops: h's cosine stays near 1 (its 1000-wide channel k dominates
     it) although its step of ~7.9 zeroes every other channel; o = h * m
     drops that channel, so o's cosine falls and o carries the largest local
     drop.  With candidates = 1 the search measures o alone, and promoting o
     restores nothing (its input h is still int8): nothing is promoted.
   - prescreen 1: every layer is measured alone on the worst sample first;
     h alone restores the output, so h is the candidate and is promoted.
     The search samples are {0, x}: on x = 0 every model scores 1 (two zero
     maps), so a prescreen on the first sample would see three ties and keep
     p (the first node); it must take the second, the worse-scored one. */
static void test_search_prescreen(void) {
    nn_graph *g = sensitive_graph(), *q = NULL;
    nn_diag d;
    float xv[32];
    int64_t xd[2] = {1, 16};
    memset(&d, 0, sizeof d);
    CHECK(g != NULL);
    if (!g) return;
    memset(xv, 0, sizeof xv);
    sensitive_input(xv + 16);
    nn_value in[3];
    in[0] = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(2, xd), xv);
    in[1] = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(2, xd), xv + 16);
    in[0].bytes = in[1].bytes = 16 * sizeof(float);
    in[2] = in[1];
    nn_quant_range *r = calibrate(g, &in[1]);
    { /* the worst sample's score against the mean */
        nn_quant_eval_desc ed;
        double mean = 0, worst = 0;
        memset(&ed, 0, sizeof ed);
        ed.metric = by_sample;
        CHECK_STATUS(nn_quant_graph(g, r, NULL, &q, NULL, &d), NN_OK);
        CHECK_STATUS(nn_quant_output_cosine(g, q, in, 3, &ed, &mean, &d), NN_OK);
        ed.worst = 1;
        CHECK_STATUS(nn_quant_output_cosine(g, q, in, 3, &ed, &worst, &d), NN_OK);
        CHECK_NEAR(mean, 0.6, 1e-12);
        CHECK_NEAR(worst, 0.3, 0);
        nn_graph_destroy(q);
    }
    for (int pre = 0; pre <= 1; pre++) {
        nn_quant_table out;
        nn_quant_search_layer layers[16];
        nn_quant_search_desc sd;
        nn_quant_search_result res;
        uint32_t nl = 0;
        nn_quant_table_init(&out, NULL);
        memset(&sd, 0, sizeof sd);
        sd.expected_cos = 0.999;
        sd.candidates = 1;
        sd.prescreen_samples = (uint32_t)pre;
        CHECK_STATUS(nn_quant_search(g, r, NULL, in, 2, &sd, &out, layers, &nl, &res, &d), NN_OK);
        CHECK_EQ_INT(nl, 1);
        CHECK_EQ_INT(res.quantizable, 3);
        if (!pre) { /* o measured, no gain */
            CHECK(nl == 1 && !strcmp(g->tensors[layers[0].tensor].name, "o") && !layers[0].promoted);
            CHECK_EQ_INT(out.count, 0);
        } else {
            CHECK(nl == 1 && !strcmp(g->tensors[layers[0].tensor].name, "h") && layers[0].promoted);
            CHECK(layers[0].cos_prescreen > 0.999);
            CHECK(out.count == 1 && !strcmp(out.rules[0].name, "offset"));
            /* the mean over {0, x}: the zero sample scores 1, x about 0 before */
            CHECK(res.cos_before < 0.6 && res.cos_after > 0.999);
        }
        nn_quant_table_deinit(&out);
    }
    free(r);
    nn_graph_destroy(g);
}

/* Block search (nn_quant_search_desc.block_layers).  x (1,16), |x| < 1.8,
   through two huge-range activations: h1 = x + k, o1 = h1 * m, h2 = o1 + k,
   o2 = h2 * m, y = tanh(o2), with k = (1000, 0, ...) and m = (0, 1, ...).
   Per-tensor int8 h1 and h2 have a step of ~1000/127 ~ 7.9, so every
   |x_i| < 1.8 rounds to 0 in each: the output is lost while either is
   int8.  Promoting one of them alone changes nothing (the other still
   zeroes the signal), so the single-layer phase promotes nothing; the
   quantized layers in order are h1, o1, h2, o2 (the Tanh output y stays
   float), and a run of 2 holds at most one of h1, h2 (h1 o1 | h2 o2):
   nothing either; a run of 3 (h1 o1 h2 | o2) holds both and restores the
   output. */
static void test_search_blocks(void) {
    nn_graph *g = NULL;
    nn_diag d;
    nn_tensor_id x, k, m, h1, o1, h2, o2, y;
    nn_node_id n;
    int64_t xd[2] = {1, 16};
    nn_shape xs = nn_shape_make(2, xd);
    float xv[16];
    uint32_t blocks;
    memset(&d, 0, sizeof d);
    if (!(g = huge_range_base(&x, &k, &m, &d))) { CHECK(0); return; }
    nn_graph_add_tensor(g, "h1", NN_DTYPE_FLOAT, &xs, &h1, &d);
    nn_graph_add_tensor(g, "o1", NN_DTYPE_FLOAT, &xs, &o1, &d);
    nn_graph_add_tensor(g, "h2", NN_DTYPE_FLOAT, &xs, &h2, &d);
    nn_graph_add_tensor(g, "o2", NN_DTYPE_FLOAT, &xs, &o2, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &xs, &y, &d);
    nn_graph_add_output(g, y, &d);
    nn_tensor_id a1[2] = {x, k}, b1[2] = {h1, m}, a2[2] = {o1, k}, b2[2] = {h2, m};
    nn_graph_add_node(g, "Add", "", "add1", a1, 2, &h1, 1, &n, &d);
    nn_graph_add_node(g, "Mul", "", "mul1", b1, 2, &o1, 1, &n, &d);
    nn_graph_add_node(g, "Add", "", "add2", a2, 2, &h2, 1, &n, &d);
    nn_graph_add_node(g, "Mul", "", "mul2", b2, 2, &o2, 1, &n, &d);
    nn_graph_add_node(g, "Tanh", "", "tanh", &o2, 1, &y, 1, &n, &d);
    CHECK_EQ_INT(d.status, NN_OK);
    if (d.status) { nn_graph_destroy(g); return; }
    sensitive_input(xv);
    nn_value in = nn_value_make(NN_DTYPE_FLOAT, xs, xv);
    in.bytes = sizeof xv;
    nn_quant_range *r = calibrate(g, &in);
    for (blocks = 0; blocks <= 3; blocks++) {
        nn_quant_table out;
        nn_quant_search_layer layers[16];
        uint32_t nl = 0, i, has_h1 = 0, has_h2 = 0;
        nn_quant_search_desc sd;
        nn_quant_search_result res;
        if (blocks == 1) continue; /* runs of 1 are the single layers again */
        nn_quant_table_init(&out, NULL);
        memset(&sd, 0, sizeof sd);
        sd.expected_cos = 0.999;
        sd.block_layers = blocks;
        CHECK_STATUS(nn_quant_search(g, r, NULL, &in, 1, &sd, &out, layers, &nl, &res, &d), NN_OK);
        for (i = 0; i < out.count; i++) {
            has_h1 |= !strcmp(out.rules[i].name, "add1"); /* h1's producer */
            has_h2 |= !strcmp(out.rules[i].name, "add2");
        }
        CHECK(res.cos_before < 0.5);
        if (blocks < 3) { /* nothing restores the output */
            CHECK_EQ_INT(out.count, 0);
            CHECK_EQ_INT(res.blocks_promoted, 0);
            CHECK(res.cos_after < 0.5);
        } else { /* the run h1 o1 h2 */
            CHECK_EQ_INT(res.blocks_measured, 2); /* h1 o1 h2 | o2 */
            CHECK_EQ_INT(res.blocks_promoted, 1);
            CHECK_EQ_INT(out.count, 3);
            CHECK(has_h1 && has_h2);
            CHECK(res.cos_after > 0.999);
        }
        if (blocks == 2) CHECK_EQ_INT(res.blocks_measured, 2); /* h1 o1 | h2 o2 */
        nn_quant_table_deinit(&out);
    }
    free(r);
    nn_graph_destroy(g);
}

/* Decomposed LayerNorm over the last axis of x (2,4): row 0 has a large
   spread (variance 6.5), row 1 a small one (variance 3.25 (4/127)^2 =
   0.0032, below half the int8 step 6.5 / 127 of the variance tensor).  Default recipe: the 7 statistic/normalization nodes stay
   float; ALL_INT quantizes them and the tiny row's variance + eps rounds to
   0, so its normalized values are lost. */
static void test_recipe_layernorm(void) {
    nn_graph *g = NULL, *q = NULL;
    nn_diag d;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_graph_create(NULL, &g, &d), NN_OK);
    if (!g) return;
    int64_t xd[2] = {2, 4}, rd[2] = {2, 1}, sd[1] = {1}, gd[1] = {4};
    nn_shape xs = nn_shape_make(2, xd), rs = nn_shape_make(2, rd), ss = nn_shape_make(1, sd), gs = nn_shape_make(1, gd);
    float two[1] = {2.0f}, eps[1] = {1e-5f}, gam[4] = {1.0f, 0.5f, 2.0f, 1.5f};
    nn_tensor_id x, mu, dd, tw, pw, var, ep, ve, sq, nrm, ga, y;
    nn_node_id n;
    nn_graph_set_opset(g, "", 13, &d);
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &xs, &x, &d);
    nn_graph_add_tensor(g, "mu", NN_DTYPE_FLOAT, &rs, &mu, &d);
    nn_graph_add_tensor(g, "d", NN_DTYPE_FLOAT, &xs, &dd, &d);
    nn_graph_add_tensor(g, "two", NN_DTYPE_FLOAT, &ss, &tw, &d);
    nn_graph_set_data(g, tw, two, sizeof two, 1, &d);
    nn_graph_add_tensor(g, "pw", NN_DTYPE_FLOAT, &xs, &pw, &d);
    nn_graph_add_tensor(g, "var", NN_DTYPE_FLOAT, &rs, &var, &d);
    nn_graph_add_tensor(g, "eps", NN_DTYPE_FLOAT, &ss, &ep, &d);
    nn_graph_set_data(g, ep, eps, sizeof eps, 1, &d);
    nn_graph_add_tensor(g, "ve", NN_DTYPE_FLOAT, &rs, &ve, &d);
    nn_graph_add_tensor(g, "sq", NN_DTYPE_FLOAT, &rs, &sq, &d);
    nn_graph_add_tensor(g, "nrm", NN_DTYPE_FLOAT, &xs, &nrm, &d);
    nn_graph_add_tensor(g, "gamma", NN_DTYPE_FLOAT, &gs, &ga, &d);
    nn_graph_set_data(g, ga, gam, sizeof gam, 1, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &xs, &y, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    nn_attr a;
    int64_t axes[1] = {-1};
    memset(&a, 0, sizeof a);
    a.name = "axes"; a.type = NN_ATTR_INTS; a.ints = axes; a.count = 1;
    nn_graph_add_node(g, "ReduceMean", "", "rm0", &x, 1, &mu, 1, &n, &d);
    nn_graph_add_attr(g, n, &a, 0, &d);
    nn_tensor_id s1[2] = {x, mu}, p1[2] = {dd, tw}, a1[2] = {var, ep}, d1[2] = {dd, sq}, m1[2] = {nrm, ga};
    nn_graph_add_node(g, "Sub", "", "sub", s1, 2, &dd, 1, &n, &d);
    nn_graph_add_node(g, "Pow", "", "pow", p1, 2, &pw, 1, &n, &d);
    nn_graph_add_node(g, "ReduceMean", "", "rm1", &pw, 1, &var, 1, &n, &d);
    nn_graph_add_attr(g, n, &a, 0, &d);
    nn_graph_add_node(g, "Add", "", "addeps", a1, 2, &ve, 1, &n, &d);
    nn_graph_add_node(g, "Sqrt", "", "sqrt", &ve, 1, &sq, 1, &n, &d);
    nn_graph_add_node(g, "Div", "", "div", d1, 2, &nrm, 1, &n, &d);
    nn_graph_add_node(g, "Mul", "", "gam", m1, 2, &y, 1, &n, &d);
    CHECK_EQ_INT(d.status, NN_OK);
    /* row 1 on the input's int8 grid (scale 4/127, minmax) so that the
       input quantization itself is exact: k * 4/127 for k = 10, 13, 11, 8 */
    float xv[8] = {-3.0f, 1.0f, 4.0f, -2.0f, 40.0f / 127, 52.0f / 127, 44.0f / 127, 32.0f / 127};
    nn_value in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(2, xd), xv);
    in.bytes = sizeof xv;
    nn_quant_range *r = calibrate(g, &in);
    nn_quant_stats st;
    nn_quant_desc qd;
    memset(&qd, 0, sizeof qd);
    CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, &st, &d), NN_OK);
    CHECK_EQ_INT(st.float_nodes, 7); /* rm0 sub pow rm1 addeps sqrt div */
    nn_quant_eval_desc ed;
    memset(&ed, 0, sizeof ed);
    ed.int_kernels = 1;
    double c_norm = 0, c_int = 0;
    if (q) CHECK_STATUS(nn_quant_output_cosine(g, q, &in, 1, &ed, &c_norm, &d), NN_OK);
    nn_graph_destroy(q);
    q = NULL;
    qd.recipe = NN_QUANT_RECIPE_ALL_INT;
    CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, &st, &d), NN_OK);
    CHECK_EQ_INT(st.float_nodes, 0);
    if (q) CHECK_STATUS(nn_quant_output_cosine(g, q, &in, 1, &ed, &c_int, &d), NN_OK);
    /* float statistics: the output is int8-close; all-int8 loses row 1 */
    printf("recipe: output cosine %.6f norm-float, %.6f all-int\n", c_norm, c_int);
    CHECK(c_norm > 0.9999);
    CHECK(c_int < 0.99);
    nn_graph_destroy(q);
    qd.recipe = (nn_quant_recipe)7;
    CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, &st, &d), NN_ERR_ARG);
    free(r);
    nn_graph_destroy(g);
}

/* The residual stream feeding a fused LayerNormalization (opset 17):
   x -> MatMul W -> h, s = h + x, y = LayerNorm(s).  norm-float keeps the
   LayerNorm and the Add producing its input float (2 float nodes, the
   MatMul integer); all-int keeps none. */
static void test_recipe_residual_fused_ln(void) {
    nn_graph *g = NULL, *q = NULL;
    nn_diag d;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_graph_create(NULL, &g, &d), NN_OK);
    if (!g) return;
    int64_t xd[2] = {2, 4}, wd[2] = {4, 4}, gd[1] = {4};
    nn_shape xs = nn_shape_make(2, xd), ws = nn_shape_make(2, wd), gs = nn_shape_make(1, gd);
    float w[16], gam[4] = {1.0f, 0.5f, 2.0f, 1.5f}, bet[4] = {0.1f, 0.0f, -0.2f, 0.3f};
    for (int i = 0; i < 16; i++) w[i] = (float)((i * 7) % 11 - 5) / 8.0f;
    nn_tensor_id x, wt, h, sm, ga, be, y;
    nn_node_id n;
    nn_graph_set_opset(g, "", 17, &d);
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &xs, &x, &d);
    nn_graph_add_tensor(g, "W", NN_DTYPE_FLOAT, &ws, &wt, &d);
    nn_graph_set_data(g, wt, w, sizeof w, 1, &d);
    nn_graph_add_tensor(g, "h", NN_DTYPE_FLOAT, &xs, &h, &d);
    nn_graph_add_tensor(g, "s", NN_DTYPE_FLOAT, &xs, &sm, &d);
    nn_graph_add_tensor(g, "gamma", NN_DTYPE_FLOAT, &gs, &ga, &d);
    nn_graph_set_data(g, ga, gam, sizeof gam, 1, &d);
    nn_graph_add_tensor(g, "beta", NN_DTYPE_FLOAT, &gs, &be, &d);
    nn_graph_set_data(g, be, bet, sizeof bet, 1, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &xs, &y, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    nn_tensor_id mi[2] = {x, wt}, ai[2] = {h, x}, li[3] = {sm, ga, be};
    nn_graph_add_node(g, "MatMul", "", "mm", mi, 2, &h, 1, &n, &d);
    nn_graph_add_node(g, "Add", "", "residual", ai, 2, &sm, 1, &n, &d);
    nn_graph_add_node(g, "LayerNormalization", "", "ln", li, 3, &y, 1, &n, &d);
    CHECK_EQ_INT(d.status, NN_OK);
    float xv[8] = {-3.0f, 1.0f, 4.0f, -2.0f, 0.5f, 0.25f, -0.75f, 1.0f};
    nn_value in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(2, xd), xv);
    in.bytes = sizeof xv;
    nn_quant_range *r = calibrate(g, &in);
    nn_quant_stats st;
    nn_quant_desc qd;
    memset(&qd, 0, sizeof qd);
    CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, &st, &d), NN_OK);
    CHECK_EQ_INT(st.float_nodes, 2); /* ln, residual */
    CHECK_EQ_INT(st.int_nodes, 1);   /* mm */
    nn_graph_destroy(q);
    q = NULL;
    qd.recipe = NN_QUANT_RECIPE_ALL_INT;
    CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, &st, &d), NN_OK);
    CHECK_EQ_INT(st.float_nodes, 0);
    nn_graph_destroy(q);
    free(r);
    nn_graph_destroy(g);
}

int main(void) {
    test_multiplier();
    test_rounding();
    test_rounding_rne();
    test_conv_hand();
    test_conv_naive();
    test_matmul_hand();
    test_requant_wide();
    test_conv_s16_hand();
    test_conv_s16_naive();
    test_conv_s16_wide_acc();
    test_matmul_s16();
    test_eltwise_s16();
    test_avgpool_s16();
    test_eltwise();
    test_avgpool();
    test_lut();
    test_qtable();
    test_qtable_roundtrip();
    test_qtable_provenance();
    test_qdq_structure_and_exec();
    test_qexec_given();
    test_broadcast_add();
    test_move_groups();
    test_ort_golden();
    test_bias_floor();
    test_weight_rounding_sum();
    test_f16_layers();
    test_weight_groups();
    test_table_chain();
    test_preact16();
    test_analysis();
    test_search();
    test_sensitivity();
    test_ranges_table();
    test_search_blocks();
    test_search_prescreen();
    test_score_threads();
    test_recipe_layernorm();
    test_recipe_residual_fused_ln();
    return check_summary();
}
