/* test_quant_fast.c - nn_quant.h's integer kernels (whatever fast path the
   build selects: AVX-512 VNNI panels, the direct depthwise kernel, vector
   requantization) against plain reference loops written here from the
   kernels' definitions: direct convolution / matrix product / element-wise
   sums accumulated in int64, then nn_quant_requantize per element (its
   rounding is checked by hand in test_quant.c).  Random shapes with odd
   sizes, groups, depthwise and channel multipliers, strides, dilations,
   pads, K not a multiple of 4, pixel counts off the 16/32 lanes, and the
   zero points a uint8 tensor gets once flipped to int8 (zp - 128); plus
   the largest sums the kernels promise to hold (K = 65536, |x - zp| = 255,
   w = -128). */
#include "nn_graph.h"
#include "nn_quant.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static uint32_t rng_state = 12345u;
static uint32_t rnd(void) { /* xorshift32 */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}
static int32_t rnd_in(int32_t lo, int32_t hi) { return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1)); }
static double rnd_u(void) { return (rnd() >> 8) / 16777216.0; }

static void fill_s8(int8_t *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = (int8_t)rnd_in(-128, 127);
}

/* A multiplier around 1 / (64 sqrt(k)) so outputs spread over int8, with
   an occasional large or tiny one (saturation, zero). */
static nn_quant_multiplier rnd_mult(double k) {
    int r = rnd_in(0, 19);
    if (r == 0) return nn_quant_multiplier_make(3.0);
    if (r == 1) return nn_quant_multiplier_make(1e-12);
    return nn_quant_multiplier_make((0.25 + 2.0 * rnd_u()) / (64.0 * sqrt(k)));
}

/* ---- convolution ----------------------------------------------------- */

static void ref_conv(const nn_quant_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                     const nn_quant_multiplier *mult, int8_t *y) {
    int32_t cg = p->c / p->group, mg = p->m / p->group, n, m, oh, ow, ci, kh, kw;
    for (n = 0; n < p->n; n++)
        for (m = 0; m < p->m; m++)
            for (oh = 0; oh < p->oh; oh++)
                for (ow = 0; ow < p->ow; ow++) {
                    int64_t acc = bias ? bias[m] : 0;
                    int32_t c0 = (m / mg) * cg;
                    for (ci = 0; ci < cg; ci++)
                        for (kh = 0; kh < p->kh; kh++)
                            for (kw = 0; kw < p->kw; kw++) {
                                int32_t ih = oh * p->stride_h - p->pad_top + kh * p->dil_h;
                                int32_t iw = ow * p->stride_w - p->pad_left + kw * p->dil_w;
                                int32_t xv;
                                if (ih < 0 || ih >= p->h || iw < 0 || iw >= p->w) continue; /* padding: x = zp */
                                xv = x[(((size_t)n * p->c + c0 + ci) * p->h + ih) * p->w + iw];
                                acc += (int64_t)w[(((size_t)m * cg + ci) * p->kh + kh) * p->kw + kw] * (xv - p->in_zp);
                            }
                    y[(((size_t)n * p->m + m) * p->oh + oh) * p->ow + ow] =
                        (int8_t)nn_quant_requantize(acc, mult[m], p->out_zp, p->act_min, p->act_max);
                }
}

/* Runs the kernel and the reference on p; returns 1 when every byte agrees. */
static int conv_case(const nn_quant_conv_params *p, int with_bias, int8_t xfill, int8_t wfill) {
    size_t nx = (size_t)p->n * p->c * p->h * p->w, nw = (size_t)p->m * (p->c / p->group) * p->kh * p->kw;
    size_t ny = (size_t)p->n * p->m * p->oh * p->ow, i, sb = nn_quant_conv_s8_scratch_bytes(p);
    int8_t *x = (int8_t *)malloc(nx), *w = (int8_t *)malloc(nw), *y = (int8_t *)malloc(ny + 64), *r = (int8_t *)malloc(ny);
    int32_t *b = (int32_t *)malloc((size_t)p->m * sizeof *b);
    nn_quant_multiplier *q = (nn_quant_multiplier *)malloc((size_t)p->m * sizeof *q);
    unsigned char *scratch = (unsigned char *)malloc(sb + 16);
    int ok = 1;
    if (xfill) memset(x, xfill, nx); else fill_s8(x, nx);
    if (wfill) memset(w, wfill, nw); else fill_s8(w, nw);
    for (i = 0; i < (size_t)p->m; i++) {
        b[i] = rnd_in(-(1 << 20), 1 << 20);
        q[i] = rnd_mult((double)nw / p->m);
    }
    memset(y + ny, 0x5a, 64); /* guard bytes: the kernel must not write past y */
    nn_quant_conv_s8(p, x, w, with_bias ? b : NULL, q, y, scratch + 8 * (rnd() & 1)); /* 8-aligned scratch too */
    ref_conv(p, x, w, with_bias ? b : NULL, q, r);
    if (memcmp(y, r, ny) != 0) ok = 0;
    for (i = 0; i < 64; i++)
        if ((unsigned char)y[ny + i] != 0x5a) ok = 0;
    free(x); free(w); free(y); free(r); free(b); free(q); free(scratch);
    return ok;
}

static int out_dim(int32_t in, int32_t pad_a, int32_t pad_b, int32_t k, int32_t s, int32_t d) {
    int32_t span = (k - 1) * d + 1;
    return in + pad_a + pad_b < span ? 0 : (in + pad_a + pad_b - span) / s + 1;
}

static void test_conv_random(void) {
    int it, bad = 0, done = 0, dw = 0;
    for (it = 0; it < 400; it++) {
        nn_quant_conv_params p;
        int32_t kind = rnd_in(0, 3), pb, pr, gm;
        memset(&p, 0, sizeof p);
        p.n = rnd_in(1, 2);
        p.kh = rnd_in(1, 5); p.kw = rnd_in(1, 5);
        if (it % 5 == 0) p.kh = p.kw = 1;
        p.stride_h = rnd_in(1, 3); p.stride_w = rnd_in(1, 3);
        p.dil_h = rnd_in(1, 2); p.dil_w = rnd_in(1, 2);
        p.pad_top = rnd_in(0, 2); p.pad_left = rnd_in(0, 2); pb = rnd_in(0, 2); pr = rnd_in(0, 2);
        p.h = rnd_in(1, 23); p.w = rnd_in(1, 37);
        if (kind == 0) { p.group = 1; p.c = rnd_in(1, 19); p.m = rnd_in(1, 21); }               /* dense */
        else if (kind == 1) { p.c = rnd_in(1, 13); p.group = p.c; p.m = p.c; dw++; }           /* depthwise */
        else if (kind == 2) { gm = rnd_in(2, 3); p.group = rnd_in(2, 4); p.c = p.group * rnd_in(1, 5); p.m = p.group * gm * rnd_in(1, 4); }
        else { p.c = rnd_in(1, 6); p.group = p.c; p.m = p.c * rnd_in(2, 3); }                   /* channel multiplier */
        p.oh = out_dim(p.h, p.pad_top, pb, p.kh, p.stride_h, p.dil_h);
        p.ow = out_dim(p.w, p.pad_left, pr, p.kw, p.stride_w, p.dil_w);
        if (p.oh < 1 || p.ow < 1) continue;
        p.in_zp = rnd_in(0, 3) == 0 ? rnd_in(0, 255) - 128 : rnd_in(-128, 127); /* uint8 zero points flip to zp - 128 */
        p.out_zp = rnd_in(-128, 127);
        p.act_min = -128; p.act_max = 127;
        if (rnd_in(0, 3) == 0) { p.act_min = rnd_in(-128, 0); p.act_max = rnd_in(p.act_min, 127); }
        done++;
        if (!conv_case(&p, (int)(rnd() & 3) != 0, 0, 0)) {
            bad++;
            fprintf(stderr, "conv mismatch: n%d c%d h%d w%d m%d k%dx%d s%d,%d d%d,%d pad%d,%d o%dx%d g%d zp%d\n", p.n, p.c, p.h,
                    p.w, p.m, p.kh, p.kw, p.stride_h, p.stride_w, p.dil_h, p.dil_w, p.pad_top, p.pad_left, p.oh, p.ow, p.group,
                    p.in_zp);
        }
    }
    CHECK(done > 300);
    CHECK(dw > 50);
    CHECK_EQ_INT(bad, 0);
}

/* Shapes of the real models: 1x1 expand (K % 4 == 0, weights used in
   place), a 7x7 stride-2 stem (K = 147), a 3x3 layer of 512 channels on a
   7x7 map (49 pixels: two panels, the second partial), a stride-2
   depthwise layer and a stride-2 layer on wide rows. */
static void test_conv_model_shapes(void) {
    nn_quant_conv_params p;
    memset(&p, 0, sizeof p);
    p.n = 1; p.c = 24; p.h = p.w = 28; p.m = 144; p.kh = p.kw = 1; p.oh = p.ow = 28; p.group = 1;
    p.stride_h = p.stride_w = p.dil_h = p.dil_w = 1; p.in_zp = -3; p.out_zp = 5; p.act_min = -128; p.act_max = 127;
    CHECK(conv_case(&p, 1, 0, 0));
    p.c = 3; p.h = p.w = 56; p.m = 16; p.kh = p.kw = 7; p.stride_h = p.stride_w = 2; p.pad_top = p.pad_left = 3;
    p.oh = p.ow = 28;
    CHECK(conv_case(&p, 1, 0, 0));
    p.c = 512; p.h = p.w = 7; p.m = 24; p.kh = p.kw = 3; p.stride_h = p.stride_w = 1; p.pad_top = p.pad_left = 1;
    p.oh = p.ow = 7;
    CHECK(conv_case(&p, 1, 0, 0));
    p.c = p.m = p.group = 32; p.h = p.w = 29; p.stride_h = p.stride_w = 2; p.oh = p.ow = 15;
    CHECK(conv_case(&p, 0, 0, 0));
    /* stride 2 over rows of more than 32 outputs (81 -> 41: a full 32 and a partial load) */
    p.c = 5; p.m = 12; p.group = 1; p.h = 9; p.w = 81; p.oh = 5; p.ow = 41;
    CHECK(conv_case(&p, 1, 0, 0));
}

/* The largest sum: K = C * KH * KW = 65536 taps of |x - zp| = 255 times
   w = -128 gives -255 * 128 * 65536 = -2139095040, still an int32
   (x = 127, zp = -128), and +2139095040 with x = -128, zp = 127. */
static void test_conv_extreme(void) {
    nn_quant_conv_params p;
    memset(&p, 0, sizeof p);
    p.n = 1; p.c = 4096; p.h = p.w = 4; p.m = 9; p.kh = p.kw = 4; p.oh = p.ow = 1; p.group = 1;
    p.stride_h = p.stride_w = p.dil_h = p.dil_w = 1; p.in_zp = -128; p.out_zp = 0; p.act_min = -128; p.act_max = 127;
    CHECK(conv_case(&p, 0, 127, -128));
    p.in_zp = 127;                       /* x - zp = -255: +2139095040 */
    CHECK(conv_case(&p, 0, -128, -128));
    /* K = 65536 as 65536 channels of a 1x1 kernel */
    p.c = 65536; p.kh = p.kw = 1; p.h = p.w = p.oh = p.ow = 1; p.m = 3;
    CHECK(conv_case(&p, 0, -128, -128));
}

/* ---- matmul ------------------------------------------------------------ */

static void test_matmul_random(void) {
    int it, bad = 0;
    for (it = 0; it < 150; it++) {
        nn_quant_matmul_params p;
        int8_t *a, *b, *y, *r;
        int32_t *bias;
        nn_quant_multiplier *q;
        void *scratch;
        int32_t i, j, k, use_bias = (int)(rnd() & 1);
        memset(&p, 0, sizeof p);
        p.m = rnd_in(1, 23); p.k = rnd_in(1, 70); p.n = rnd_in(1, 90);
        if (it % 10 == 0) { p.k = rnd_in(200, 700); p.n = rnd_in(60, 300); }
        p.a_zp = rnd_in(-128, 127); p.b_zp = (it & 1) ? 0 : rnd_in(-128, 127); p.out_zp = rnd_in(-128, 127);
        p.act_min = -128; p.act_max = 127;
        if (rnd_in(0, 3) == 0) { p.act_min = rnd_in(-128, 0); p.act_max = rnd_in(p.act_min, 127); }
        p.mult_count = (it & 2) ? p.n : 1;
        a = (int8_t *)malloc((size_t)p.m * p.k); b = (int8_t *)malloc((size_t)p.k * p.n);
        y = (int8_t *)malloc((size_t)p.m * p.n); r = (int8_t *)malloc((size_t)p.m * p.n);
        bias = (int32_t *)malloc((size_t)p.n * sizeof *bias); q = (nn_quant_multiplier *)malloc((size_t)p.n * sizeof *q);
        scratch = malloc(nn_quant_matmul_s8_scratch_bytes(&p));
        fill_s8(a, (size_t)p.m * p.k); fill_s8(b, (size_t)p.k * p.n);
        for (j = 0; j < p.n; j++) { bias[j] = rnd_in(-(1 << 20), 1 << 20); q[j] = rnd_mult(4.0 * p.k); }
        nn_quant_matmul_s8(&p, a, b, use_bias ? bias : NULL, q, y, scratch);
        for (i = 0; i < p.m; i++)
            for (j = 0; j < p.n; j++) {
                int64_t acc = use_bias ? bias[j] : 0;
                for (k = 0; k < p.k; k++)
                    acc += (int64_t)(a[(size_t)i * p.k + k] - p.a_zp) * (b[(size_t)k * p.n + j] - p.b_zp);
                r[(size_t)i * p.n + j] =
                    (int8_t)nn_quant_requantize(acc, q[p.mult_count > 1 ? j : 0], p.out_zp, p.act_min, p.act_max);
            }
        if (memcmp(y, r, (size_t)p.m * p.n) != 0) bad++;
        free(a); free(b); free(y); free(r); free(bias); free(q); free(scratch);
    }
    CHECK_EQ_INT(bad, 0);
}

/* ---- element-wise and pooling ----------------------------------------- */

/* The scalar definition of one add (op 0), sub (1) or mul (2) element,
   before requantization: mul multiplies the zero-point-free inputs; add and
   sub follow TFLite's reference add, both inputs rescaled to the shared
   scale (2^20 at 8 bits, 2^15 at 16) first. */
static int64_t eltwise_ref_acc(const nn_quant_eltwise_params *p, int op, int32_t a, int32_t b) {
    int64_t va, vb;
    if (op == 2) return (int64_t)(a - p->a_zp) * (b - p->b_zp);
    va = nn_quant_mul_shift((int64_t)(a - p->a_zp) * ((int64_t)1 << p->left_shift), p->a_mult);
    vb = nn_quant_mul_shift((int64_t)(b - p->b_zp) * ((int64_t)1 << p->left_shift), p->b_mult);
    return op == 0 ? va + vb : va - vb;
}

static void test_eltwise_random(void) {
    int it, bad = 0;
    for (it = 0; it < 300; it++) {
        nn_quant_eltwise_params p;
        size_t n = (size_t)rnd_in(1, 100), i;
        int op = it % 3;
        int8_t a[100], b[100], y[100], r[100];
        double sa = 0.001 + rnd_u(), sb = 0.001 + rnd_u(), sy = 0.001 + rnd_u() * (op == 2 ? 0.5 : 2.0);
        if (it % 7 == 0) sy *= 1e-3; /* saturating outputs */
        nn_quant_eltwise_params_make(&p, op == 2, sa, rnd_in(-128, 127), sb, rnd_in(-128, 127), sy, rnd_in(-128, 127));
        if (rnd_in(0, 3) == 0) { p.act_min = rnd_in(-128, 0); p.act_max = rnd_in(p.act_min, 127); }
        fill_s8(a, n); fill_s8(b, n);
        if (op == 0) nn_quant_add_s8(&p, a, b, y, n);
        else if (op == 1) nn_quant_sub_s8(&p, a, b, y, n);
        else nn_quant_mul_s8(&p, a, b, y, n);
        for (i = 0; i < n; i++)
            r[i] = (int8_t)nn_quant_requantize(eltwise_ref_acc(&p, op, a[i], b[i]), p.out_mult, p.out_zp, p.act_min, p.act_max);
        if (memcmp(y, r, n) != 0) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

/* The same at 16 bits (W8A16): nn_quant_add/sub/mul_s16 against the scalar
   definition (nn_quant_mul_shift to the shared scale at 2^15, then
   nn_quant_requantize_wide), with values at both int16 ends, random zero
   points for add/sub, and for mul half the cases with zero points 0 (the
   vector path's condition) and half without. */
static void test_eltwise_s16_random(void) {
    int it, bad = 0;
    for (it = 0; it < 600; it++) {
        nn_quant_eltwise_params p;
        size_t n = (size_t)rnd_in(1, 100), i;
        int op = it % 3, sym = op == 2 && (it / 3) % 2 == 0;
        int16_t a[100], b[100], y[100], r[100];
        double sa = 0.001 + rnd_u(), sb = 0.001 + rnd_u(), sy = 0.001 + rnd_u() * (op == 2 ? 0.5 : 2.0);
        if (op == 2) sy *= 3e4; /* products of two int16 back into int16 */
        if (it % 7 == 0) sy *= 1e-3; /* saturating outputs */
        nn_quant_eltwise_params_make_s16(&p, op == 2, sa, sym ? 0 : rnd_in(-32768, 32767), sb, sym ? 0 : rnd_in(-32768, 32767),
                                         sy, rnd_in(-32768, 32767));
        if (rnd_in(0, 3) == 0) { p.act_min = rnd_in(-32768, 0); p.act_max = rnd_in(p.act_min, 32767); }
        for (i = 0; i < n; i++) {
            int e = rnd_in(0, 9);
            a[i] = (int16_t)(e == 0 ? -32768 : e == 1 ? 32767 : rnd_in(-32768, 32767));
            e = rnd_in(0, 9);
            b[i] = (int16_t)(e == 0 ? -32768 : e == 1 ? 32767 : rnd_in(-32768, 32767));
        }
        if (op == 0) nn_quant_add_s16(&p, a, b, y, n);
        else if (op == 1) nn_quant_sub_s16(&p, a, b, y, n);
        else nn_quant_mul_s16(&p, a, b, y, n);
        for (i = 0; i < n; i++)
            r[i] = (int16_t)nn_quant_requantize_wide(eltwise_ref_acc(&p, op, a[i], b[i]), p.out_mult, p.out_zp, p.act_min,
                                                     p.act_max);
        if (memcmp(y, r, n * sizeof *y) != 0) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_avgpool_random(void) {
    int it, bad = 0;
    for (it = 0; it < 150; it++) {
        nn_quant_pool_params p;
        nn_quant_multiplier mc[64];
        int8_t *x, *y, *r;
        int32_t c, oh, ow, kh, kw, cnt, pb, pr;
        double s = 0.2 + rnd_u();
        memset(&p, 0, sizeof p);
        p.n = rnd_in(1, 2); p.c = rnd_in(1, 9); p.h = rnd_in(1, 20); p.w = rnd_in(1, 20);
        p.kh = rnd_in(1, 7); p.kw = rnd_in(1, 7);
        if (it % 4 == 0) { p.kh = p.h; p.kw = p.w; } /* GlobalAveragePool */
        if (p.kh * p.kw > 63) p.kh = p.kw = 7;
        if (p.kh > p.h + 2) p.kh = p.h; /* keep at least one in-image tap per window */
        if (p.kw > p.w + 2) p.kw = p.w;
        p.stride_h = rnd_in(1, 3); p.stride_w = rnd_in(1, 3);
        p.pad_top = rnd_in(0, p.kh - 1 < 2 ? p.kh - 1 : 2); p.pad_left = rnd_in(0, p.kw - 1 < 2 ? p.kw - 1 : 2);
        pb = rnd_in(0, p.kh - 1 < 2 ? p.kh - 1 : 2); pr = rnd_in(0, p.kw - 1 < 2 ? p.kw - 1 : 2);
        p.oh = out_dim(p.h, p.pad_top, pb, p.kh, p.stride_h, 1);
        p.ow = out_dim(p.w, p.pad_left, pr, p.kw, p.stride_w, 1);
        if (p.oh < 1 || p.ow < 1) continue;
        p.count_include_pad = (int32_t)(rnd() & 1);
        p.in_zp = rnd_in(-128, 127); p.out_zp = rnd_in(-128, 127); p.act_min = -128; p.act_max = 127;
        mc[0] = nn_quant_multiplier_make(0);
        for (cnt = 1; cnt <= p.kh * p.kw; cnt++) mc[cnt] = nn_quant_multiplier_make(s / cnt);
        x = (int8_t *)malloc((size_t)p.n * p.c * p.h * p.w);
        y = (int8_t *)malloc((size_t)p.n * p.c * p.oh * p.ow);
        r = (int8_t *)malloc((size_t)p.n * p.c * p.oh * p.ow);
        fill_s8(x, (size_t)p.n * p.c * p.h * p.w);
        nn_quant_avgpool_s8(&p, x, mc, y);
        for (c = 0; c < p.n * p.c; c++)
            for (oh = 0; oh < p.oh; oh++)
                for (ow = 0; ow < p.ow; ow++) {
                    int64_t sum = 0;
                    int32_t taps = 0;
                    for (kh = 0; kh < p.kh; kh++)
                        for (kw = 0; kw < p.kw; kw++) {
                            int32_t ih = oh * p.stride_h - p.pad_top + kh, iw = ow * p.stride_w - p.pad_left + kw;
                            if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;
                            sum += x[((size_t)c * p.h + ih) * p.w + iw] - p.in_zp;
                            taps++;
                        }
                    r[((size_t)c * p.oh + oh) * p.ow + ow] = (int8_t)nn_quant_requantize(
                        sum, mc[p.count_include_pad ? p.kh * p.kw : taps], p.out_zp, p.act_min, p.act_max);
                }
        if (memcmp(y, r, (size_t)p.n * p.c * p.oh * p.ow) != 0) bad++;
        free(x); free(y); free(r);
    }
    CHECK_EQ_INT(bad, 0);
}

/* Operands of >= 4096 elements where one side is a single value repeated
   (as callers broadcast x + 3): the kernels answer from a 256-entry table;
   every element must still be the reference formula's. */
static void test_eltwise_uniform(void) {
    enum { N = 5003 };
    static int8_t a[N], b[N], y[N];
    int it, bad = 0;
    size_t i;
    for (it = 0; it < 24; it++) {
        nn_quant_eltwise_params p;
        int op = it % 3, side = (it / 3) % 4; /* 0: b uniform, 1: a uniform, 2: both, 3: neither */
        double sa = 0.001 + rnd_u(), sb = 0.001 + rnd_u(), sy = 0.001 + rnd_u();
        nn_quant_eltwise_params_make(&p, op == 2, sa, rnd_in(-128, 127), sb, rnd_in(-128, 127), sy, rnd_in(-128, 127));
        fill_s8(a, N); fill_s8(b, N);
        if (side == 0 || side == 2) memset(b, rnd_in(-128, 127), N);
        if (side == 1 || side == 2) memset(a, rnd_in(-128, 127), N);
        if (op == 0) nn_quant_add_s8(&p, a, b, y, N);
        else if (op == 1) nn_quant_sub_s8(&p, a, b, y, N);
        else nn_quant_mul_s8(&p, a, b, y, N);
        for (i = 0; i < N; i++) {
            int8_t r;
            if (op == 2) {
                r = (int8_t)nn_quant_requantize((int64_t)(a[i] - p.a_zp) * (b[i] - p.b_zp), p.out_mult, p.out_zp, p.act_min,
                                                p.act_max);
            } else {
                int64_t va = nn_quant_mul_shift((int64_t)(a[i] - p.a_zp) * ((int64_t)1 << p.left_shift), p.a_mult);
                int64_t vb = nn_quant_mul_shift((int64_t)(b[i] - p.b_zp) * ((int64_t)1 << p.left_shift), p.b_mult);
                r = (int8_t)nn_quant_requantize(op == 0 ? va + vb : va - vb, p.out_mult, p.out_zp, p.act_min, p.act_max);
            }
            if (y[i] != r) { bad++; break; }
        }
    }
    CHECK_EQ_INT(bad, 0);
}

/* nn_quant_lut_apply_s8 on a long run (the byte-table path) against
   table[x + 128] element by element. */
static void test_lut_apply(void) {
    static int8_t x[3001], y[3001], table[256];
    size_t i;
    int bad = 0;
    fill_s8(table, 256);
    fill_s8(x, 3001);
    x[0] = -128; x[1] = 127; x[2] = 0; x[3] = -1; /* both ends and the sign boundary */
    nn_quant_lut_apply_s8(table, x, y, 3001);
    for (i = 0; i < 3001; i++)
        if (y[i] != table[x[i] + 128]) bad++;
    CHECK_EQ_INT(bad, 0);
}

int main(void) {
    test_conv_random();
    test_conv_model_shapes();
    test_conv_extreme();
    test_matmul_random();
    test_eltwise_random();
    test_eltwise_s16_random();
    test_avgpool_random();
    test_eltwise_uniform();
    test_lut_apply();
    return check_summary();
}
