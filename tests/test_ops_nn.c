/* test_ops_nn.c - the nn op family (Conv, ConvTranspose, MatMul, Gemm, pools,
   normalizations, Dropout) against plain reference loops written here.

   Each case builds a one-node graph through the public API and runs it
   with 1, 2 and 3 threads: results must match the reference within a
   float tolerance and be bit-identical across thread counts (the GEMM
   splits work on a fixed grid).  Error cases check status codes only. */
#include "nn_graph.h"
#include "check.h"
#include <stdlib.h>
#include <string.h>

/* ---- a one-node graph ---------------------------------------------------- */

#define T_MAX_IO 8

typedef struct t_io {
    nn_dtype dtype;
    nn_shape shape;
    const void *data; /* NULL: an omitted input */
    int constant;     /* an initializer rather than a graph input */
} t_io;

typedef struct t_run {
    nn_status status;
    nn_diag diag;
    nn_value out[T_MAX_IO]; /* copies of the outputs (data malloc'ed) */
} t_run;

static t_io t_f32(int32_t rank, const int64_t *dims, const float *data) {
    t_io io;
    memset(&io, 0, sizeof io);
    io.dtype = NN_DTYPE_FLOAT;
    io.shape = nn_shape_make(rank, dims);
    io.data = data;
    return io;
}

static nn_attr t_ints(const char *name, uint32_t count, const int64_t *v) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_INTS; a.count = count; a.ints = v;
    return a;
}

static nn_attr t_int(const char *name, int64_t v) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_INT; a.i = v;
    return a;
}

static nn_attr t_float(const char *name, float v) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_FLOAT; a.f = v;
    return a;
}

static nn_attr t_str(const char *name, const char *s) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_STRING; a.s = s; a.s_bytes = strlen(s);
    return a;
}

static void t_free(t_run *r) {
    for (int i = 0; i < T_MAX_IO; i++) free(r->out[i].data);
    memset(r, 0, sizeof *r);
}

/* Builds and runs op_type(ins) -> n_out outputs at the given opset. */
static t_run t_node(const char *op_type, int64_t opset, const t_io *ins, int n_in, int n_out, const nn_attr *attrs,
                    int n_attr, int threads) {
    t_run r;
    nn_graph *g = NULL;
    nn_exec *x = NULL;
    nn_tensor_id ids[2 * T_MAX_IO];
    memset(&r, 0, sizeof r);
    r.status = nn_graph_create(NULL, &g, &r.diag);
    if (r.status) return r;
    nn_graph_set_opset(g, "", opset, &r.diag);
    for (int i = 0; i < n_in; i++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        if (!ins[i].data && !ins[i].constant) { ids[i].id = NN_INVALID_ID; continue; }
        nn_graph_add_tensor(g, name, ins[i].dtype, &ins[i].shape, &ids[i], &r.diag);
        if (ins[i].constant) {
            size_t bytes;
            nn_dtype_bytes_for(ins[i].dtype, nn_shape_count(&ins[i].shape, NULL), &bytes);
            nn_graph_set_data(g, ids[i], ins[i].data, bytes, 1, &r.diag);
        } else {
            nn_graph_add_input(g, ids[i], &r.diag);
        }
    }
    for (int o = 0; o < n_out; o++) {
        char name[16];
        snprintf(name, sizeof name, "out%d", o);
        nn_graph_add_tensor(g, name, NN_DTYPE_UNDEFINED, NULL, &ids[T_MAX_IO + o], &r.diag);
        nn_graph_add_output(g, ids[T_MAX_IO + o], &r.diag);
    }
    nn_node_id nid;
    nn_graph_add_node(g, op_type, "", "node", ids, (uint32_t)n_in, ids + T_MAX_IO, (uint32_t)n_out, &nid, &r.diag);
    for (int a = 0; a < n_attr; a++) nn_graph_add_attr(g, nid, &attrs[a], 0, &r.diag);
    nn_exec_desc xd;
    memset(&xd, 0, sizeof xd);
    xd.threads = threads;
    r.status = r.diag.status ? r.diag.status : nn_exec_create(g, &xd, &x, &r.diag);
    uint32_t gi = 0;
    for (int i = 0; i < n_in && r.status == NN_OK; i++) {
        if (!ins[i].data || ins[i].constant) continue;
        nn_value v = nn_value_make(ins[i].dtype, ins[i].shape, (void *)(uintptr_t)ins[i].data);
        r.status = nn_exec_set_input(x, gi++, &v, &r.diag);
    }
    if (r.status == NN_OK) r.status = nn_exec_run(x, &r.diag);
    for (int o = 0; o < n_out && r.status == NN_OK; o++) {
        const nn_value *v = nn_exec_output(x, (uint32_t)o);
        r.out[o] = *v;
        r.out[o].data = malloc(v->bytes + 1);
        if (v->bytes) memcpy(r.out[o].data, v->data, v->bytes);
    }
    nn_exec_destroy(x);
    nn_graph_destroy(g);
    return r;
}

/* ---- helpers -------------------------------------------------------------- */

static uint32_t t_seed = 1u;

static float *t_random(size_t n) {
    float *p = (float *)malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        t_seed = t_seed * 1664525u + 1013904223u;
        p[i] = (float)((t_seed >> 8) & 0xFFFF) / 32768.0f - 1.0f;
    }
    return p;
}

/* Output 0 of r against ref (count values): max |err| <= tol * (1 + |ref|). */
static int t_close(const t_run *r, const double *ref, size_t count, double tol) {
    if (r->status != NN_OK || nn_value_count(&r->out[0]) != count) return 0;
    const float *y = (const float *)r->out[0].data;
    for (size_t i = 0; i < count; i++) {
        double e = y[i] - ref[i];
        if (e < 0) e = -e;
        if (!(e <= tol * (1.0 + (ref[i] < 0 ? -ref[i] : ref[i])))) {
            fprintf(stderr, "     element %zu: got %.7g, want %.7g\n", i, (double)y[i], ref[i]);
            return 0;
        }
    }
    return 1;
}

static int t_same_bits(const t_run *a, const t_run *b) {
    return a->status == NN_OK && b->status == NN_OK && a->out[0].bytes == b->out[0].bytes &&
           memcmp(a->out[0].data, b->out[0].data, a->out[0].bytes) == 0;
}

/* Runs at 1, 2 and 3 threads; checks each against ref and for equal bits. */
static void t_check_threads(const char *op, int64_t opset, const t_io *ins, int n_in, const nn_attr *attrs, int n_attr,
                            const double *ref, size_t count, double tol) {
    t_run r1 = t_node(op, opset, ins, n_in, 1, attrs, n_attr, 1);
    CHECK_STATUS(r1.status, NN_OK);
    if (r1.status) fprintf(stderr, "     %s: %s (%s)\n", op, r1.diag.message, r1.diag.where);
    CHECK(t_close(&r1, ref, count, tol));
    for (int t = 2; t <= 3; t++) {
        t_run rt = t_node(op, opset, ins, n_in, 1, attrs, n_attr, t);
        CHECK(t_same_bits(&r1, &rt));
        t_free(&rt);
    }
    t_free(&r1);
}

/* ---- MatMul / Gemm ---------------------------------------------------------- */

static void test_matmul_shapes(void) {
    static const int64_t cases[][3] = {{1, 1, 1}, {7, 5, 3}, {67, 129, 300}, {1, 1000, 33}, {200, 5, 64},
                                       {8, 32, 256}, {9, 33, 257}, {130, 70, 520}, {3, 4000, 16}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t M = cases[c][0], N = cases[c][1], K = cases[c][2];
        int64_t ad[2] = {M, K}, bd[2] = {K, N};
        float *a = t_random((size_t)(M * K)), *b = t_random((size_t)(K * N));
        double *ref = (double *)malloc((size_t)(M * N) * sizeof(double));
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) s += (double)a[i * K + k] * b[k * N + j];
                ref[i * N + j] = s;
            }
        t_io ins[2] = {t_f32(2, ad, a), t_f32(2, bd, b)};
        ins[1].constant = c % 2;
        t_check_threads("MatMul", 13, ins, 2, NULL, 0, ref, (size_t)(M * N), 1e-4);
        free(a); free(b); free(ref);
    }
}

/* (3,1,M,K) x (1,4,K,N): batch dims broadcast to (3,4). */
static void test_matmul_broadcast(void) {
    const int64_t M = 5, K = 6, N = 7;
    int64_t ad[4] = {3, 1, M, K}, bd[4] = {1, 4, K, N};
    float *a = t_random((size_t)(3 * M * K)), *b = t_random((size_t)(4 * K * N));
    double ref[3 * 4 * 5 * 7];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++) s += (double)a[(i * M + m) * K + k] * b[(j * K + k) * N + n];
                    ref[((i * 4 + j) * M + m) * N + n] = s;
                }
    t_io ins[2] = {t_f32(4, ad, a), t_f32(4, bd, b)};
    t_check_threads("MatMul", 13, ins, 2, NULL, 0, ref, sizeof ref / sizeof ref[0], 1e-5);
    /* 1-D times 3-D: (K) x (2, K, N) -> (2, N) */
    int64_t vd[1] = {K}, cd[3] = {2, K, N};
    t_io ins2[2] = {t_f32(1, vd, a), t_f32(3, cd, b)};
    double ref2[2 * 7];
    for (int j = 0; j < 2; j++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)a[k] * b[(j * K + k) * N + n];
            ref2[j * N + n] = s;
        }
    t_run r = t_node("MatMul", 13, ins2, 2, 1, NULL, 0, 1);
    CHECK_EQ_INT(r.out[0].shape.rank, 2);
    CHECK(t_close(&r, ref2, 14, 1e-5));
    t_free(&r);
    free(a); free(b);
}

static void test_gemm_attrs(void) {
    const int64_t M = 37, N = 45, K = 70;
    float *a = t_random((size_t)(M * K)), *b = t_random((size_t)(K * N)), *cm = t_random((size_t)(M * N));
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int cs = 0; cs < 4; cs++) { /* C: none, (N), (M,1), (M,N) */
                int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N};
                int64_t c1[1] = {N}, c2[2] = {M, 1}, c3[2] = {M, N};
                double *ref = (double *)malloc((size_t)(M * N) * sizeof(double));
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double s = 0;
                        for (int64_t k = 0; k < K; k++)
                            s += (double)a[ta ? k * M + i : i * K + k] * b[tb ? j * K + k : k * N + j];
                        double cv = cs == 1 ? cm[j] : cs == 2 ? cm[i] : cs == 3 ? cm[i * N + j] : 0.0;
                        ref[i * N + j] = 0.5 * s + 2.0 * cv;
                    }
                t_io ins[3] = {t_f32(2, ad, a), t_f32(2, bd, b), t_f32(1, c1, cm)};
                if (cs == 2) ins[2] = t_f32(2, c2, cm);
                if (cs == 3) ins[2] = t_f32(2, c3, cm);
                nn_attr at[4] = {t_int("transA", ta), t_int("transB", tb), t_float("alpha", 0.5f), t_float("beta", 2.0f)};
                t_check_threads("Gemm", 13, ins, cs ? 3 : 2, at, 4, ref, (size_t)(M * N), 1e-5);
                free(ref);
            }
    free(a); free(b); free(cm);
}

/* ---- Conv / ConvTranspose ------------------------------------------------- */

typedef struct t_conv {
    int nd;
    int64_t N, C, M, group, in[3], k[3], s[3], d[3], pb[3], pe[3];
    int bias;
} t_conv;

static int64_t t_conv_out(const t_conv *p, int i) {
    return (p->in[i] + p->pb[i] + p->pe[i] - ((p->k[i] - 1) * p->d[i] + 1)) / p->s[i] + 1;
}

/* Direct 3-D reference (1-D and 2-D as size-1 leading dims). */
static void t_conv_ref(const t_conv *p, const float *x, const float *w, const float *b, double *y) {
    int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pb[3] = {0, 0, 0}, out[3] = {1, 1, 1};
    for (int i = 0; i < p->nd; i++) {
        int j = 3 - p->nd + i;
        in[j] = p->in[i]; k[j] = p->k[i]; s[j] = p->s[i]; d[j] = p->d[i]; pb[j] = p->pb[i];
        out[j] = t_conv_out(p, i);
    }
    int64_t Cg = p->C / p->group, Mg = p->M / p->group;
    for (int64_t n = 0; n < p->N; n++)
        for (int64_t m = 0; m < p->M; m++)
            for (int64_t o0 = 0; o0 < out[0]; o0++)
                for (int64_t o1 = 0; o1 < out[1]; o1++)
                    for (int64_t o2 = 0; o2 < out[2]; o2++) {
                        double acc = b ? b[m] : 0.0;
                        int64_t g = m / Mg;
                        for (int64_t c = 0; c < Cg; c++)
                            for (int64_t k0 = 0; k0 < k[0]; k0++)
                                for (int64_t k1 = 0; k1 < k[1]; k1++)
                                    for (int64_t k2 = 0; k2 < k[2]; k2++) {
                                        int64_t i0 = o0 * s[0] - pb[0] + k0 * d[0], i1 = o1 * s[1] - pb[1] + k1 * d[1];
                                        int64_t i2 = o2 * s[2] - pb[2] + k2 * d[2];
                                        if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2]) continue;
                                        acc += (double)x[(((n * p->C + g * Cg + c) * in[0] + i0) * in[1] + i1) * in[2] + i2] *
                                               w[(((m * Cg + c) * k[0] + k0) * k[1] + k1) * k[2] + k2];
                                    }
                        y[(((n * p->M + m) * out[0] + o0) * out[1] + o1) * out[2] + o2] = acc;
                    }
}

static void t_conv_case(const t_conv *p) {
    int64_t xd[5] = {p->N, p->C}, wd[5] = {p->M, p->C / p->group}, bd[1] = {p->M}, pads[6];
    size_t xn = (size_t)(p->N * p->C), wn = (size_t)(p->M * (p->C / p->group)), yn = (size_t)(p->N * p->M);
    for (int i = 0; i < p->nd; i++) {
        xd[2 + i] = p->in[i]; wd[2 + i] = p->k[i];
        xn *= (size_t)p->in[i]; wn *= (size_t)p->k[i]; yn *= (size_t)t_conv_out(p, i);
        pads[i] = p->pb[i]; pads[p->nd + i] = p->pe[i];
    }
    float *x = t_random(xn), *w = t_random(wn), *b = t_random((size_t)p->M);
    double *ref = (double *)malloc(yn * sizeof(double));
    t_conv_ref(p, x, w, p->bias ? b : NULL, ref);
    t_io ins[3] = {t_f32(2 + p->nd, xd, x), t_f32(2 + p->nd, wd, w), t_f32(1, bd, b)};
    ins[1].constant = 1;
    nn_attr at[4] = {t_ints("strides", (uint32_t)p->nd, p->s), t_ints("dilations", (uint32_t)p->nd, p->d),
                     t_ints("pads", 2u * (uint32_t)p->nd, pads), t_int("group", p->group)};
    t_check_threads("Conv", 17, ins, p->bias ? 3 : 2, at, 4, ref, yn, 1e-4);
    free(x); free(w); free(b); free(ref);
}

static void test_conv_configs(void) {
    static const t_conv cases[] = {
        /* nd  N  C   M  grp  in            k          s          d          pb         pe       bias */
        {2, 1, 3, 8, 1, {9, 11}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1},
        {2, 2, 16, 24, 1, {20, 17}, {3, 3}, {2, 2}, {1, 1}, {1, 0}, {0, 1}, 1},
        {2, 1, 32, 40, 1, {30, 30}, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, 1},  /* pointwise */
        {2, 1, 64, 64, 1, {28, 28}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 0},  /* threaded GEMM */
        {2, 1, 12, 12, 12, {15, 16}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1}, /* depthwise */
        {2, 1, 8, 16, 8, {15, 16}, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1},   /* depthwise x2 */
        {2, 1, 8, 8, 8, {13, 14}, {5, 5}, {2, 1}, {2, 2}, {4, 0}, {2, 3}, 0},    /* dw dilated */
        {2, 1, 12, 18, 3, {10, 9}, {3, 2}, {1, 2}, {2, 1}, {2, 1}, {1, 0}, 1},   /* grouped */
        {2, 1, 3, 8, 1, {40, 40}, {7, 7}, {2, 2}, {1, 1}, {3, 3}, {3, 3}, 1},    /* stem-like */
        {1, 2, 6, 10, 2, {25}, {5}, {2}, {3}, {4}, {2}, 1},
        {1, 1, 4, 4, 4, {19}, {3}, {1}, {1}, {1}, {1}, 1},
        {3, 1, 4, 6, 2, {6, 7, 5}, {3, 2, 2}, {1, 2, 1}, {1, 1, 2}, {1, 0, 1}, {1, 1, 0}, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) t_conv_case(&cases[i]);
}

/* ConvTranspose as the adjoint of Conv: y[n,m,o] += x[n,c,i] w[c,m,k] with
   o = i*s - pb + k*d. */
static void test_convtranspose(void) {
    const int64_t N = 2, C = 4, M = 6, group = 2, H = 5, W = 4, KH = 3, KW = 2, s[2] = {2, 3}, d[2] = {1, 2};
    const int64_t pads[4] = {1, 0, 0, 1}, op[2] = {1, 0};
    int64_t OH = s[0] * (H - 1) + op[0] + (KH - 1) * d[0] + 1 - pads[0] - pads[2];
    int64_t OW = s[1] * (W - 1) + op[1] + (KW - 1) * d[1] + 1 - pads[1] - pads[3];
    int64_t xd[4] = {N, C, H, W}, wd[4] = {C, M / group, KH, KW}, bd[1] = {M};
    float *x = t_random((size_t)(N * C * H * W)), *w = t_random((size_t)(C * (M / group) * KH * KW)), *b = t_random((size_t)M);
    size_t yn = (size_t)(N * M * OH * OW);
    double *ref = (double *)calloc(yn, sizeof(double));
    int64_t Cg = C / group, Mg = M / group;
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t p = 0; p < OH * OW; p++) ref[(n * M + m) * OH * OW + p] = b[m];
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t mg = 0; mg < Mg; mg++)
                for (int64_t i = 0; i < H; i++)
                    for (int64_t j = 0; j < W; j++)
                        for (int64_t ky = 0; ky < KH; ky++)
                            for (int64_t kx = 0; kx < KW; kx++) {
                                int64_t oy = i * s[0] - pads[0] + ky * d[0], ox = j * s[1] - pads[1] + kx * d[1];
                                int64_t m = (c / Cg) * Mg + mg;
                                if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                                ref[((n * M + m) * OH + oy) * OW + ox] +=
                                    (double)x[((n * C + c) * H + i) * W + j] * w[((c * Mg + mg) * KH + ky) * KW + kx];
                            }
    t_io ins[3] = {t_f32(4, xd, x), t_f32(4, wd, w), t_f32(1, bd, b)};
    nn_attr at[5] = {t_ints("strides", 2, s), t_ints("dilations", 2, d), t_ints("pads", 4, pads),
                     t_ints("output_padding", 2, op), t_int("group", group)};
    t_check_threads("ConvTranspose", 17, ins, 3, at, 5, ref, yn, 1e-5);
    free(x); free(w); free(b); free(ref);
}

/* float16 Conv runs in float32 and rounds once. */
static void test_conv_f16(void) {
    int64_t xd[4] = {1, 2, 4, 4}, wd[4] = {3, 2, 3, 3}, pads[4] = {1, 1, 1, 1};
    float *x = t_random(32), *w = t_random(54);
    uint16_t xh[32], wh[54];
    for (int i = 0; i < 32; i++) { xh[i] = nn_f32_to_f16(x[i]); x[i] = nn_f16_to_f32(xh[i]); }
    for (int i = 0; i < 54; i++) { wh[i] = nn_f32_to_f16(w[i]); w[i] = nn_f16_to_f32(wh[i]); }
    t_conv p = {2, 1, 2, 3, 1, {4, 4}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 0};
    double ref[48];
    t_conv_ref(&p, x, w, NULL, ref);
    t_io ins[2] = {t_f32(4, xd, NULL), t_f32(4, wd, NULL)};
    ins[0].dtype = ins[1].dtype = NN_DTYPE_FLOAT16;
    ins[0].data = xh;
    ins[1].data = wh;
    nn_attr at[1] = {t_ints("pads", 4, pads)};
    t_run r = t_node("Conv", 17, ins, 2, 1, at, 1, 1);
    CHECK_STATUS(r.status, NN_OK);
    CHECK_EQ_INT(r.out[0].dtype, NN_DTYPE_FLOAT16);
    int ok = r.status == NN_OK;
    for (int i = 0; i < 48 && ok; i++) {
        double got = nn_f16_to_f32(((const uint16_t *)r.out[0].data)[i]);
        if (got - ref[i] > 2e-3 * (1 + (ref[i] < 0 ? -ref[i] : ref[i])) || ref[i] - got > 2e-3 * (1 + (ref[i] < 0 ? -ref[i] : ref[i]))) ok = 0;
    }
    CHECK(ok);
    t_free(&r);
    free(x); free(w);
}

/* ---- pools and normalizations (hand-computed) ------------------------------ */

static void test_maxpool_indices(void) {
    /* 1x1x3x4, kernel 2x2, stride 2, ceil_mode: windows cover cols 0-1, 2-3 and rows 0-1, 2 */
    const float x[12] = {1, 5, 2, 0, 3, 4, 9, 8, 7, 6, 1, 2};
    int64_t xd[4] = {1, 1, 3, 4}, k[2] = {2, 2}, s[2] = {2, 2};
    t_io ins[1] = {t_f32(4, xd, x)};
    nn_attr at[3] = {t_ints("kernel_shape", 2, k), t_ints("strides", 2, s), t_int("ceil_mode", 1)};
    t_run r = t_node("MaxPool", 12, ins, 1, 2, at, 3, 1);
    CHECK_STATUS(r.status, NN_OK);
    if (r.status == NN_OK) {
        const float *y = (const float *)r.out[0].data;
        const int64_t *idx = (const int64_t *)r.out[1].data;
        CHECK_EQ_INT(r.out[0].shape.dims[2], 2);
        CHECK_EQ_INT(r.out[0].shape.dims[3], 2);
        CHECK_NEAR(y[0], 5, 0); CHECK_NEAR(y[1], 9, 0); CHECK_NEAR(y[2], 7, 0); CHECK_NEAR(y[3], 2, 0);
        CHECK_EQ_INT(idx[0], 1); CHECK_EQ_INT(idx[1], 6); CHECK_EQ_INT(idx[2], 8); CHECK_EQ_INT(idx[3], 11);
    }
    t_free(&r);
    /* storage_order = 1 counts the first spatial dim fastest: (h, w) -> w*H + h */
    nn_attr at2[3] = {t_ints("kernel_shape", 2, k), t_ints("strides", 2, s), t_int("storage_order", 1)};
    r = t_node("MaxPool", 12, ins, 1, 2, at2, 3, 1);
    CHECK_STATUS(r.status, NN_OK);
    if (r.status == NN_OK) {
        const int64_t *idx = (const int64_t *)r.out[1].data;
        CHECK_EQ_INT(idx[0], 1 * 3 + 0); /* value 5 at (0, 1) */
        CHECK_EQ_INT(idx[1], 2 * 3 + 1); /* value 9 at (1, 2) */
    }
    t_free(&r);
}

static void test_avgpool_pads(void) {
    /* 1x1x2x2 of ones, kernel 3, pads 1: every window holds 4 real values */
    const float x[4] = {1, 2, 3, 4};
    int64_t xd[4] = {1, 1, 2, 2}, k[2] = {3, 3}, p[4] = {1, 1, 1, 1};
    t_io ins[1] = {t_f32(4, xd, x)};
    nn_attr at[3] = {t_ints("kernel_shape", 2, k), t_ints("pads", 4, p), t_int("count_include_pad", 0)};
    double ref[4] = {2.5, 2.5, 2.5, 2.5};
    t_check_threads("AveragePool", 19, ins, 1, at, 3, ref, 4, 1e-6);
    at[2] = t_int("count_include_pad", 1);
    double ref2[4] = {10.0 / 9, 10.0 / 9, 10.0 / 9, 10.0 / 9};
    t_check_threads("AveragePool", 19, ins, 1, at, 3, ref2, 4, 1e-6);
}

static void test_batchnorm_lrn(void) {
    const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const float scale[2] = {2, 0.5f}, bias[2] = {1, -1}, mean[2] = {2, 6}, var[2] = {4, 0.25f};
    int64_t xd[3] = {1, 2, 4}, cd[1] = {2};
    t_io ins[5] = {t_f32(3, xd, x), t_f32(1, cd, scale), t_f32(1, cd, bias), t_f32(1, cd, mean), t_f32(1, cd, var)};
    nn_attr eps = t_float("epsilon", 0.0f);
    double ref[8];
    for (int i = 0; i < 8; i++) {
        int c = i / 4;
        ref[i] = (x[i] - mean[c]) / sqrt(var[c]) * scale[c] + bias[c];
    }
    t_check_threads("BatchNormalization", 15, ins, 5, &eps, 1, ref, 8, 1e-6);
    /* LRN size 3 across the 2 channels */
    nn_attr la[4] = {t_int("size", 3), t_float("alpha", 0.3f), t_float("beta", 0.75f), t_float("bias", 1.0f)};
    double lref[8];
    for (int i = 0; i < 8; i++) {
        double sq = (double)x[i % 4] * x[i % 4] + (double)x[4 + i % 4] * x[4 + i % 4];
        lref[i] = x[i] / pow(1.0 + 0.3 / 3 * sq, 0.75);
    }
    t_check_threads("LRN", 13, ins, 1, la, 4, lref, 8, 1e-6);
}

/* ---- refusals and static shapes ------------------------------------------------ */

static void test_refusals(void) {
    float x[16] = {0}, w[9] = {0}, s[2] = {1, 1};
    int64_t xd[4] = {1, 1, 4, 4}, wd[4] = {1, 1, 3, 3}, cd[1] = {1}, k[2] = {2, 2};
    t_io ins[2] = {t_f32(4, xd, x), t_f32(4, wd, w)};
    nn_attr bad_pad = t_str("auto_pad", "SAME_SIDEWAYS");
    t_run r = t_node("Conv", 17, ins, 2, 1, &bad_pad, 1, 1);
    CHECK_STATUS(r.status, NN_ERR_UNSUPPORTED);
    t_free(&r);
    nn_attr unknown = t_int("winograd", 1); /* not a Conv attribute: refused at prepare */
    r = t_node("Conv", 17, ins, 2, 1, &unknown, 1, 1);
    CHECK_STATUS(r.status, NN_ERR_UNSUPPORTED);
    t_free(&r);
    int64_t wd2[4] = {1, 2, 3, 3}; /* W wants 2 channels, X has 1 */
    t_io ins2[2] = {t_f32(4, xd, x), t_f32(4, wd2, w)};
    r = t_node("Conv", 17, ins2, 2, 1, NULL, 0, 1);
    CHECK_STATUS(r.status, NN_ERR_SHAPE);
    t_free(&r);
    t_io bn[5] = {t_f32(4, xd, x), t_f32(1, cd, s), t_f32(1, cd, s), t_f32(1, cd, s), t_f32(1, cd, s)};
    nn_attr train = t_int("training_mode", 1);
    r = t_node("BatchNormalization", 15, bn, 5, 1, &train, 1, 1);
    CHECK_STATUS(r.status, NN_ERR_UNSUPPORTED);
    t_free(&r);
    t_io pool[1] = {t_f32(4, xd, x)};
    r = t_node("MaxPool", 12, pool, 1, 1, NULL, 0, 1); /* kernel_shape is required */
    CHECK_STATUS(r.status, NN_ERR_INVALID);
    t_free(&r);
    nn_attr ks = t_ints("kernel_shape", 2, k);
    t_io dbl[1] = {t_f32(4, xd, x)};
    dbl[0].dtype = NN_DTYPE_DOUBLE; /* float64 pools are refused, not approximated */
    double xdbl[16] = {0};
    dbl[0].data = xdbl;
    r = t_node("AveragePool", 19, dbl, 1, 1, &ks, 1, 1);
    CHECK_STATUS(r.status, NN_ERR_UNSUPPORTED);
    t_free(&r);
    /* Dropout in training mode with a non-zero ratio is random: refused */
    float ratio = 0.5f;
    uint8_t on = 1;
    t_io dr[3] = {t_f32(4, xd, x), t_f32(0, NULL, &ratio), t_f32(0, NULL, NULL)};
    dr[2].dtype = NN_DTYPE_BOOL;
    dr[2].data = &on;
    r = t_node("Dropout", 13, dr, 3, 1, NULL, 0, 1);
    CHECK_STATUS(r.status, NN_ERR_UNSUPPORTED);
    t_free(&r);
}

/* Static inference with an unknown batch and image size keeps what it can. */
static void test_static_shapes(void) {
    nn_diag d;
    nn_graph *g;
    nn_tensor_id ids[3];
    memset(&d, 0, sizeof d);
    nn_graph_create(NULL, &g, &d);
    nn_graph_set_opset(g, "", 17, &d);
    int64_t xd[4] = {NN_DIM_UNKNOWN, 3, NN_DIM_UNKNOWN, 32}, wd[4] = {8, 3, 3, 3}, s[2] = {2, 2};
    nn_shape xs = nn_shape_make(4, xd), ws = nn_shape_make(4, wd);
    float w[8 * 27] = {0};
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &xs, &ids[0], &d);
    nn_graph_add_tensor(g, "w", NN_DTYPE_FLOAT, &ws, &ids[1], &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_UNDEFINED, NULL, &ids[2], &d);
    nn_graph_set_data(g, ids[1], w, sizeof w, 1, &d);
    nn_graph_add_input(g, ids[0], &d);
    nn_graph_add_output(g, ids[2], &d);
    nn_node_id n;
    nn_graph_add_node(g, "Conv", "", "c", ids, 2, &ids[2], 1, &n, &d);
    nn_attr at[2] = {t_ints("strides", 2, s), t_str("auto_pad", "SAME_UPPER")};
    nn_graph_add_attr(g, n, &at[0], 0, &d);
    nn_graph_add_attr(g, n, &at[1], 0, &d);
    CHECK_STATUS(nn_graph_infer_shapes(g, NULL, 0, &d), NN_OK);
    const nn_tensor *y = nn_graph_tensor(g, ids[2]);
    CHECK_EQ_INT(y->dtype, NN_DTYPE_FLOAT);
    CHECK_EQ_INT(y->shape.rank, 4);
    CHECK_EQ_INT(y->shape.dims[0], NN_DIM_UNKNOWN);
    CHECK_EQ_INT(y->shape.dims[1], 8);
    CHECK_EQ_INT(y->shape.dims[2], NN_DIM_UNKNOWN);
    CHECK_EQ_INT(y->shape.dims[3], 16);
    nn_graph_destroy(g);
}

/* ---- integer paths (bit-exact) ----------------------------------------------- */

static t_io t_u8(int32_t rank, const int64_t *dims, const uint8_t *data) {
    t_io io = t_f32(rank, dims, NULL);
    io.dtype = NN_DTYPE_UINT8;
    io.data = data;
    return io;
}

static void test_integer_ops(void) {
    /* MatMulInteger: (A - 2) x (B - 1), per-tensor zero points */
    const uint8_t a[6] = {3, 4, 5, 6, 7, 8}, b[6] = {1, 2, 3, 4, 5, 6}, azp = 2, bzp = 1;
    int64_t ad[2] = {2, 3}, bd[2] = {3, 2};
    t_io ins[4] = {t_u8(2, ad, a), t_u8(2, bd, b), t_u8(0, NULL, &azp), t_u8(0, NULL, &bzp)};
    t_run r = t_node("MatMulInteger", 10, ins, 4, 1, NULL, 0, 1);
    CHECK_STATUS(r.status, NN_OK);
    if (r.status == NN_OK) {
        const int32_t *y = (const int32_t *)r.out[0].data;
        /* A-2 = [[1,2,3],[4,5,6]], B-1 = [[0,1],[2,3],[4,5]] */
        CHECK_EQ_INT(r.out[0].dtype, NN_DTYPE_INT32);
        CHECK_EQ_INT(y[0], 16); CHECK_EQ_INT(y[1], 22); CHECK_EQ_INT(y[2], 34); CHECK_EQ_INT(y[3], 49);
    }
    t_free(&r);
    /* QLinearMatMul: same sums, scale 0.5 * 1 / 4 = 1/8, y_zp 10: rint(acc/8) + 10,
       16/8 = 2 -> 12, 22/8 = 2.75 -> 13, 34/8 = 4.25 -> 14, 49/8 = 6.125 -> 16 */
    const float as = 0.5f, bs = 1.0f, ys = 4.0f;
    const uint8_t yzp = 10;
    t_io q[8] = {t_u8(2, ad, a), t_f32(0, NULL, &as), t_u8(0, NULL, &azp), t_u8(2, bd, b),
                 t_f32(0, NULL, &bs), t_u8(0, NULL, &bzp), t_f32(0, NULL, &ys), t_u8(0, NULL, &yzp)};
    r = t_node("QLinearMatMul", 10, q, 8, 1, NULL, 0, 1);
    CHECK_STATUS(r.status, NN_OK);
    if (r.status == NN_OK) {
        const uint8_t *y = (const uint8_t *)r.out[0].data;
        CHECK_EQ_INT(y[0], 12); CHECK_EQ_INT(y[1], 13); CHECK_EQ_INT(y[2], 14); CHECK_EQ_INT(y[3], 16);
    }
    t_free(&r);
    /* ConvInteger 1x1x3x3 image, 2x2 kernel of ones, x_zp 1: window sums of (x - 1) */
    const uint8_t x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 1, 1, 1}, xzp = 1;
    int64_t xd[4] = {1, 1, 3, 3}, wd[4] = {1, 1, 2, 2};
    t_io cv[3] = {t_u8(4, xd, x), t_u8(4, wd, w), t_u8(0, NULL, &xzp)};
    r = t_node("ConvInteger", 10, cv, 3, 1, NULL, 0, 1);
    CHECK_STATUS(r.status, NN_OK);
    if (r.status == NN_OK) {
        const int32_t *y = (const int32_t *)r.out[0].data;
        CHECK_EQ_INT(y[0], 8); CHECK_EQ_INT(y[1], 12); CHECK_EQ_INT(y[2], 20); CHECK_EQ_INT(y[3], 24);
    }
    t_free(&r);
}

/* Dropout at inference: the identity, mask all true. */
static void test_dropout_identity(void) {
    const float x[5] = {1, -2, 3, -4, 5};
    int64_t xd[1] = {5};
    t_io ins[1] = {t_f32(1, xd, x)};
    t_run r = t_node("Dropout", 13, ins, 1, 2, NULL, 0, 1);
    CHECK_STATUS(r.status, NN_OK);
    if (r.status == NN_OK) {
        CHECK(memcmp(r.out[0].data, x, sizeof x) == 0);
        CHECK_EQ_INT(r.out[1].dtype, NN_DTYPE_BOOL);
        int all = 1;
        for (int i = 0; i < 5; i++) all &= ((const uint8_t *)r.out[1].data)[i] == 1;
        CHECK(all);
    }
    t_free(&r);
}

int main(void) {
    test_matmul_shapes();
    test_matmul_broadcast();
    test_gemm_attrs();
    test_conv_configs();
    test_convtranspose();
    test_conv_f16();
    test_maxpool_indices();
    test_avgpool_pads();
    test_batchnorm_lrn();
    test_refusals();
    test_static_shapes();
    test_integer_ops();
    test_dropout_identity();
    return check_summary();
}
