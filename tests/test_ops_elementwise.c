/* test_ops_elementwise.c - unit tests for src/graph/ops_elementwise.inc:
   broadcasting paths (flat, repeated scalar, per-channel rows, threads),
   exact integer arithmetic, float16/bfloat16 widening, Cast rounding and
   packing, the quantizers' rounding / saturation / granularities, static
   shape inference with unknown dims, refusals of unsupported attribute
   values, and allocation failures.  Each case builds a one-node graph and
   runs it through the reference executor.

   build: make build/test_ops_elementwise && build/test_ops_elementwise */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_graph.h"
#include "tests/check.h"

/* ---- a one-node graph harness ------------------------------------------------------- */

typedef struct tin {
    nn_dtype t;
    int32_t rank;
    int64_t dims[4];
    const void *data; /* NULL: an omitted optional input */
} tin;

typedef struct tcase {
    nn_graph *g;
    nn_exec *x;
    nn_diag d;
    nn_node_id node;
    nn_status st;
} tcase;

static nn_attr attr_i(const char *name, int64_t v) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.type = NN_ATTR_INT;
    a.i = v;
    return a;
}
static nn_attr attr_f(const char *name, float v) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.type = NN_ATTR_FLOAT;
    a.f = v;
    return a;
}
static nn_attr attr_s(const char *name, const char *v) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.type = NN_ATTR_STRING;
    a.s = v;
    a.s_bytes = strlen(v);
    return a;
}

/* Builds op(ins) -> n_out outputs at opset, creates an exec with
   `threads`, binds and runs.  tc->st is the first failing status. */
static void tc_run(tcase *tc, const char *op, int64_t opset, const tin *ins, int n_in, const nn_attr *attrs,
                   int n_attrs, int n_out, int threads, const nn_allocator *alloc) {
    nn_tensor_id in_ids[8], out_ids[4];
    nn_graph_desc gd;
    nn_exec_desc xd;
    int i, k = 0;
    char name[16];
    memset(tc, 0, sizeof *tc);
    memset(&gd, 0, sizeof gd);
    memset(&xd, 0, sizeof xd);
    if (alloc) gd.alloc = *alloc;
    tc->st = nn_graph_create(&gd, &tc->g, &tc->d);
    if (tc->st) return;
    nn_graph_set_opset(tc->g, "", opset, &tc->d);
    for (i = 0; i < n_in && tc->st == NN_OK; i++) {
        nn_shape s = nn_shape_make(ins[i].rank, ins[i].dims);
        if (!ins[i].data) {
            in_ids[i].id = NN_INVALID_ID;
            continue;
        }
        snprintf(name, sizeof name, "in%d", i);
        tc->st = nn_graph_add_tensor(tc->g, name, ins[i].t, &s, &in_ids[i], &tc->d);
        if (tc->st == NN_OK) tc->st = nn_graph_add_input(tc->g, in_ids[i], &tc->d);
    }
    for (i = 0; i < n_out && tc->st == NN_OK; i++) {
        snprintf(name, sizeof name, "out%d", i);
        tc->st = nn_graph_add_tensor(tc->g, name, NN_DTYPE_UNDEFINED, NULL, &out_ids[i], &tc->d);
        if (tc->st == NN_OK) tc->st = nn_graph_add_output(tc->g, out_ids[i], &tc->d);
    }
    if (tc->st == NN_OK)
        tc->st = nn_graph_add_node(tc->g, op, "", "n", in_ids, (uint32_t)n_in, out_ids, (uint32_t)n_out, &tc->node, &tc->d);
    for (i = 0; i < n_attrs && tc->st == NN_OK; i++) tc->st = nn_graph_add_attr(tc->g, tc->node, &attrs[i], 0, &tc->d);
    if (tc->st) return;
    xd.threads = threads;
    if (alloc) xd.alloc = *alloc;
    tc->st = nn_exec_create(tc->g, &xd, &tc->x, &tc->d);
    for (i = 0; i < n_in && tc->st == NN_OK; i++) {
        nn_value v;
        if (!ins[i].data) continue;
        v = nn_value_make(ins[i].t, nn_shape_make(ins[i].rank, ins[i].dims), (void *)(uintptr_t)ins[i].data);
        tc->st = nn_exec_set_input(tc->x, (uint32_t)k++, &v, &tc->d);
    }
    if (tc->st == NN_OK) tc->st = nn_exec_run(tc->x, &tc->d);
}

static const nn_value *tc_out(const tcase *tc, uint32_t i) { return tc->x ? nn_exec_output(tc->x, i) : NULL; }

static void tc_free(tcase *tc) {
    nn_exec_destroy(tc->x);
    nn_graph_destroy(tc->g);
    memset(tc, 0, sizeof *tc);
}

/* Runs op at opset on ins, expecting success and one output. */
static const nn_value *run1(tcase *tc, const char *op, int64_t opset, const tin *ins, int n_in, const nn_attr *attrs,
                            int n_attrs) {
    tc_run(tc, op, opset, ins, n_in, attrs, n_attrs, 1, 1, NULL);
    CHECK_STATUS(tc->st, NN_OK);
    if (tc->st) fprintf(stderr, "     %s: %s: %s\n", op, tc->d.where, tc->d.message);
    return tc->st == NN_OK ? tc_out(tc, 0) : NULL;
}

static tin in1(nn_dtype t, int64_t d0, const void *data) {
    tin v;
    memset(&v, 0, sizeof v);
    v.t = t;
    v.rank = 1;
    v.dims[0] = d0;
    v.data = data;
    return v;
}
static tin in0(nn_dtype t, const void *data) {
    tin v = in1(t, 1, data);
    v.rank = 0;
    return v;
}
static tin in4(nn_dtype t, int64_t a, int64_t b, int64_t c, int64_t d, int32_t rank, const void *data) {
    tin v;
    memset(&v, 0, sizeof v);
    v.t = t;
    v.rank = rank;
    v.dims[0] = a;
    v.dims[1] = b;
    v.dims[2] = c;
    v.dims[3] = d;
    v.data = data;
    return v;
}

/* ---- broadcasting ------------------------------------------------------------------------ */

/* Every broadcast path against a naive index computation, one and two threads. */
static void test_add_broadcast_paths(void) {
    static const int64_t shapes[][2][4] = {
        {{2, 3, 4, 5}, {2, 3, 4, 5}},  /* flat, both contiguous */
        {{2, 3, 4, 5}, {1, 1, 1, 1}},  /* b repeated */
        {{1, 1, 1, 1}, {2, 3, 4, 5}},  /* a repeated */
        {{2, 3, 4, 5}, {1, 3, 1, 1}},  /* per channel: rows with b repeated */
        {{2, 3, 4, 5}, {1, 1, 1, 5}},  /* per column */
        {{2, 1, 4, 1}, {1, 3, 1, 5}},  /* both broadcast */
        {{64, 3, 40, 40}, {1, 3, 1, 1}}, /* large: thread split by rows */
        {{1, 1, 1, 300000}, {1, 1, 1, 1}}, /* large: thread split of one row */
    };
    size_t k;
    int threads;
    for (threads = 1; threads <= 2; threads++)
        for (k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            const int64_t *sa = shapes[k][0], *sb = shapes[k][1];
            int64_t so[4], n_a = 1, n_b = 1, n_o = 1, i, bad = 0;
            float *a, *b;
            tin ins[2];
            tcase tc;
            int j;
            for (j = 0; j < 4; j++) {
                so[j] = sa[j] > sb[j] ? sa[j] : sb[j];
                n_a *= sa[j];
                n_b *= sb[j];
                n_o *= so[j];
            }
            a = (float *)malloc((size_t)n_a * sizeof(float));
            b = (float *)malloc((size_t)n_b * sizeof(float));
            for (i = 0; i < n_a; i++) a[i] = (float)(i % 1000) * 0.5f;
            for (i = 0; i < n_b; i++) b[i] = (float)(i % 777) * 0.25f - 3.0f;
            ins[0] = in4(NN_DTYPE_FLOAT, sa[0], sa[1], sa[2], sa[3], 4, a);
            ins[1] = in4(NN_DTYPE_FLOAT, sb[0], sb[1], sb[2], sb[3], 4, b);
            tc_run(&tc, "Add", 14, ins, 2, NULL, 0, 1, threads, NULL);
            CHECK_STATUS(tc.st, NN_OK);
            if (tc.st == NN_OK) {
                const float *y = (const float *)tc_out(&tc, 0)->data;
                CHECK_EQ_INT(nn_value_count(tc_out(&tc, 0)), n_o);
                for (i = 0; i < n_o; i++) {
                    int64_t idx[4], r = i, ia = 0, ib = 0;
                    for (j = 3; j >= 0; j--) {
                        idx[j] = r % so[j];
                        r /= so[j];
                    }
                    for (j = 0; j < 4; j++) {
                        ia = ia * sa[j] + (sa[j] == 1 ? 0 : idx[j]);
                        ib = ib * sb[j] + (sb[j] == 1 ? 0 : idx[j]);
                    }
                    if (y[i] != a[ia] + b[ib]) bad++;
                }
                CHECK_EQ_INT(bad, 0);
            }
            tc_free(&tc);
            free(a);
            free(b);
        }
}

/* Opset 1-6: with broadcast=1 and axis, B lines up with A from axis. */
static void test_add_legacy_axis(void) {
    float a[2 * 3 * 2], b[3] = {10, 20, 30};
    nn_attr at[2];
    tin ins[2];
    tcase tc;
    const nn_value *y;
    int i;
    for (i = 0; i < 12; i++) a[i] = (float)i;
    ins[0] = in4(NN_DTYPE_FLOAT, 2, 3, 2, 0, 3, a);
    ins[1] = in1(NN_DTYPE_FLOAT, 3, b);
    at[0] = attr_i("broadcast", 1);
    at[1] = attr_i("axis", 1);
    y = run1(&tc, "Add", 6, ins, 2, at, 2);
    if (y) {
        const float *v = (const float *)y->data;
        CHECK(v[0] == 10 && v[1] == 11 && v[2] == 22 && v[5] == 35 && v[6] == 16 && v[11] == 41);
    }
    tc_free(&tc);
}

/* PRelu: a per-channel slope (C,1,1) at opset 16; a one-element slope at
   opset 6, which had no broadcast attribute. */
static void test_prelu_slopes(void) {
    float x[2 * 2 * 2] = {-1, 2, -3, 4, -5, 6, -7, 8}, slope[2] = {0.5f, 0.25f}, one[1] = {0.1f};
    tin ins[2];
    tcase tc;
    const nn_value *y;
    ins[0] = in4(NN_DTYPE_FLOAT, 1, 2, 2, 2, 4, x);
    ins[1] = in4(NN_DTYPE_FLOAT, 2, 1, 1, 0, 3, slope);
    y = run1(&tc, "PRelu", 16, ins, 2, NULL, 0);
    if (y) {
        const float *v = (const float *)y->data;
        CHECK(v[0] == -0.5f && v[1] == 2 && v[2] == -1.5f && v[4] == -1.25f && v[6] == -1.75f);
    }
    tc_free(&tc);
    ins[1] = in1(NN_DTYPE_FLOAT, 1, one);
    y = run1(&tc, "PRelu", 6, ins, 2, NULL, 0);
    if (y) CHECK_NEAR(((const float *)y->data)[6], -0.7, 1e-6);
    tc_free(&tc);
}

/* ---- integer arithmetic --------------------------------------------------------------------- */

static void test_int64_exact_and_wrap(void) {
    int64_t a[3] = {(int64_t)1 << 60, INT64_MAX, -7}, b[3] = {3, 1, 2};
    tin ins[2];
    tcase tc;
    const nn_value *y;
    ins[0] = in1(NN_DTYPE_INT64, 3, a);
    ins[1] = in1(NN_DTYPE_INT64, 3, b);
    y = run1(&tc, "Add", 14, ins, 2, NULL, 0);
    if (y) {
        const int64_t *v = (const int64_t *)y->data;
        CHECK(v[0] == ((int64_t)1 << 60) + 3); /* not representable in double */
        CHECK(v[1] == INT64_MIN);               /* wraps */
        CHECK_EQ_INT(v[2], -5);
    }
    tc_free(&tc);
    y = run1(&tc, "Mul", 14, ins, 2, NULL, 0);
    if (y) CHECK(((const int64_t *)y->data)[0] == (int64_t)3 << 60);
    tc_free(&tc);
}

static void test_div_int_truncates(void) {
    int32_t a[5] = {-7, 7, -7, 5, INT32_MIN}, b[5] = {2, -2, -2, 0, -1};
    tin ins[2];
    tcase tc;
    const nn_value *y;
    ins[0] = in1(NN_DTYPE_INT32, 5, a);
    ins[1] = in1(NN_DTYPE_INT32, 5, b);
    y = run1(&tc, "Div", 14, ins, 2, NULL, 0);
    if (y) {
        const int32_t *v = (const int32_t *)y->data;
        CHECK_EQ_INT(v[0], -3);
        CHECK_EQ_INT(v[1], -3);
        CHECK_EQ_INT(v[2], 3);
        CHECK_EQ_INT(v[3], 0);         /* x / 0: defined as 0 here */
        CHECK_EQ_INT(v[4], INT32_MIN); /* wraps */
    }
    tc_free(&tc);
}

static void test_mod_signs(void) {
    int8_t a[6] = {-4, 7, 5, 4, -7, 8}, b[6] = {2, -3, 8, -2, 3, 5};
    float fa[2] = {-4.5f, 7.5f}, fb[2] = {2.0f, -2.0f};
    nn_attr f1 = attr_i("fmod", 1);
    tin ins[2];
    tcase tc;
    const nn_value *y;
    ins[0] = in1(NN_DTYPE_INT8, 6, a);
    ins[1] = in1(NN_DTYPE_INT8, 6, b);
    y = run1(&tc, "Mod", 13, ins, 2, NULL, 0); /* sign of the divisor */
    if (y) {
        const int8_t *v = (const int8_t *)y->data;
        CHECK(v[0] == 0 && v[1] == -2 && v[2] == 5 && v[3] == 0 && v[4] == 2 && v[5] == 3);
    }
    tc_free(&tc);
    y = run1(&tc, "Mod", 13, ins, 2, &f1, 1); /* sign of the dividend */
    if (y) {
        const int8_t *v = (const int8_t *)y->data;
        CHECK(v[0] == 0 && v[1] == 1 && v[2] == 5 && v[3] == 0 && v[4] == -1 && v[5] == 3);
    }
    tc_free(&tc);
    ins[0] = in1(NN_DTYPE_FLOAT, 2, fa);
    ins[1] = in1(NN_DTYPE_FLOAT, 2, fb);
    y = run1(&tc, "Mod", 13, ins, 2, &f1, 1);
    if (y) CHECK(((const float *)y->data)[0] == -0.5f && ((const float *)y->data)[1] == 1.5f);
    tc_free(&tc);
    tc_run(&tc, "Mod", 13, ins, 2, NULL, 0, 1, 1, NULL); /* floats need fmod=1 */
    CHECK_STATUS(tc.st, NN_ERR_INVALID);
    tc_free(&tc);
}

static void test_pow_mixed_types(void) {
    int64_t base[3] = {3, -2, 7}, e[3] = {39, 3, -1};
    float fb[3] = {2.0f, 3.0f, 4.0f};
    int32_t ie[3] = {3, 2, -1};
    tin ins[2];
    tcase tc;
    const nn_value *y;
    ins[0] = in1(NN_DTYPE_INT64, 3, base);
    ins[1] = in1(NN_DTYPE_INT64, 3, e);
    y = run1(&tc, "Pow", 15, ins, 2, NULL, 0);
    if (y) {
        const int64_t *v = (const int64_t *)y->data;
        CHECK(v[0] == 4052555153018976267LL); /* 3^39, beyond 2^53 */
        CHECK_EQ_INT(v[1], -8);
        CHECK_EQ_INT(v[2], 0); /* 1/7 truncated */
    }
    tc_free(&tc);
    ins[0] = in1(NN_DTYPE_FLOAT, 3, fb);
    ins[1] = in1(NN_DTYPE_INT32, 3, ie);
    y = run1(&tc, "Pow", 15, ins, 2, NULL, 0);
    if (y) {
        const float *v = (const float *)y->data;
        CHECK(y->dtype == NN_DTYPE_FLOAT && v[0] == 8.0f && v[1] == 9.0f && v[2] == 0.25f);
    }
    tc_free(&tc);
}

static void test_bitshift_and_bitwise(void) {
    uint8_t a[3] = {1, 255, 16}, b[3] = {7, 1, 8};
    int16_t c[2] = {-1, 0x0F0F}, d[2] = {0x00FF, 0x00F0};
    nn_attr left = attr_s("direction", "LEFT"), bad = attr_s("direction", "UP");
    tin ins[2];
    tcase tc;
    const nn_value *y;
    ins[0] = in1(NN_DTYPE_UINT8, 3, a);
    ins[1] = in1(NN_DTYPE_UINT8, 3, b);
    y = run1(&tc, "BitShift", 11, ins, 2, &left, 1);
    if (y) {
        const uint8_t *v = (const uint8_t *)y->data;
        CHECK(v[0] == 128 && v[1] == 254 && v[2] == 0); /* shift by the width gives 0 */
    }
    tc_free(&tc);
    tc_run(&tc, "BitShift", 11, ins, 2, &bad, 1, 1, 1, NULL);
    CHECK_STATUS(tc.st, NN_ERR_INVALID);
    tc_free(&tc);
    ins[0] = in1(NN_DTYPE_INT16, 2, c);
    ins[1] = in1(NN_DTYPE_INT16, 2, d);
    y = run1(&tc, "BitwiseXor", 18, ins, 2, NULL, 0);
    if (y) CHECK(((const int16_t *)y->data)[0] == (int16_t)0xFF00 && ((const int16_t *)y->data)[1] == 0x0FFF);
    tc_free(&tc);
}

/* ---- float16 / bfloat16 --------------------------------------------------------------------- */

static void test_half_types(void) {
    uint16_t a[300], b[1];
    tin ins[2];
    tcase tc;
    const nn_value *y;
    int i, bad = 0;
    for (i = 0; i < 300; i++) a[i] = nn_f32_to_f16((float)(i - 150) * 0.125f);
    b[0] = nn_f32_to_f16(1.5f);
    ins[0] = in1(NN_DTYPE_FLOAT16, 300, a); /* more than one widening block */
    ins[1] = in1(NN_DTYPE_FLOAT16, 1, b);
    y = run1(&tc, "Mul", 14, ins, 2, NULL, 0);
    if (y) {
        for (i = 0; i < 300; i++)
            if (nn_f16_to_f32(((const uint16_t *)y->data)[i]) != (float)(i - 150) * 0.125f * 1.5f) bad++;
        CHECK(y->dtype == NN_DTYPE_FLOAT16);
        CHECK_EQ_INT(bad, 0);
    }
    tc_free(&tc);
    y = run1(&tc, "Greater", 13, ins, 2, NULL, 0); /* bool out from half in */
    if (y) CHECK(y->dtype == NN_DTYPE_BOOL && ((const uint8_t *)y->data)[299] == 1 && ((const uint8_t *)y->data)[0] == 0);
    tc_free(&tc);
    for (i = 0; i < 300; i++) a[i] = nn_f32_to_bf16((float)(i - 150) * 0.05f);
    ins[0] = in1(NN_DTYPE_BFLOAT16, 300, a);
    y = run1(&tc, "Sigmoid", 13, ins, 1, NULL, 0);
    if (y) {
        for (i = 0, bad = 0; i < 300; i++) {
            float x = nn_bf16_to_f32(a[i]), want = 1.0f / (1.0f + expf(-x));
            if (fabsf(nn_bf16_to_f32(((const uint16_t *)y->data)[i]) - want) > 4e-3f) bad++;
        }
        CHECK_EQ_INT(bad, 0);
    }
    tc_free(&tc);
}

/* ---- unary math ------------------------------------------------------------------------------- */

/* The vectorizable exp / tanh / sigmoid / erf against double libm. */
static void test_fast_float_math(void) {
    static const char *const ops[] = {"Exp", "Tanh", "Sigmoid", "Erf"};
    float x[2001];
    size_t k;
    int i;
    for (i = 0; i < 2001; i++) x[i] = (float)(i - 1000) * 0.0123f;
    x[0] = -104.5f;
    x[1] = 88.0f;
    x[2] = 1e-30f;
    x[3] = -0.0f;
    for (k = 0; k < 4; k++) {
        tin in = in1(NN_DTYPE_FLOAT, 2001, x);
        tcase tc;
        const nn_value *y = run1(&tc, ops[k], 13, &in, 1, NULL, 0);
        double worst = 0;
        if (y)
            for (i = 0; i < 2001; i++) {
                double v = x[i], want = k == 0 ? exp(v) : k == 1 ? tanh(v) : k == 2 ? 1 / (1 + exp(-v)) : erf(v);
                double got = ((const float *)y->data)[i], err = fabs(got - want) / (fabs(want) + 1e-37);
                if (err > worst) worst = err;
            }
        CHECK(worst < 4e-7);
        tc_free(&tc);
    }
}

static void test_nan_and_specials(void) {
    float x[4] = {NAN, INFINITY, -INFINITY, 2.5f}, y_round[4];
    static const char *const ops[] = {"Exp", "Tanh", "Sigmoid", "Erf", "Relu", "Sqrt"};
    tin in = in1(NN_DTYPE_FLOAT, 4, x);
    tcase tc;
    const nn_value *y;
    size_t k;
    for (k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        y = run1(&tc, ops[k], 13, &in, 1, NULL, 0);
        if (y) CHECK(isnan(((const float *)y->data)[0]));
        tc_free(&tc);
    }
    y = run1(&tc, "Tanh", 13, &in, 1, NULL, 0);
    if (y) CHECK(((const float *)y->data)[1] == 1.0f && ((const float *)y->data)[2] == -1.0f);
    tc_free(&tc);
    y = run1(&tc, "Round", 11, &in, 1, NULL, 0); /* half to even */
    if (y) {
        memcpy(y_round, y->data, sizeof y_round);
        CHECK(y_round[3] == 2.0f);
    }
    tc_free(&tc);
}

static void test_activation_attrs(void) {
    float x[4] = {-2.0f, -0.5f, 0.5f, 3.0f};
    nn_attr a[2];
    tin in = in1(NN_DTYPE_FLOAT, 4, x);
    tcase tc;
    const nn_value *y;
    a[0] = attr_f("alpha", 0.1f);
    y = run1(&tc, "LeakyRelu", 16, &in, 1, a, 1);
    if (y) CHECK(((const float *)y->data)[0] == -0.2f && ((const float *)y->data)[3] == 3.0f);
    tc_free(&tc);
    a[0] = attr_f("lambd", 1.0f);
    a[1] = attr_f("bias", 0.5f);
    y = run1(&tc, "Shrink", 9, &in, 1, a, 2);
    if (y) {
        const float *v = (const float *)y->data;
        CHECK(v[0] == -1.5f && v[1] == 0.0f && v[2] == 0.0f && v[3] == 2.5f);
    }
    tc_free(&tc);
    a[0] = attr_s("approximate", "tanh");
    y = run1(&tc, "Gelu", 20, &in, 1, a, 1);
    if (y) CHECK_NEAR(((const float *)y->data)[3], 0.5 * 3 * (1 + tanh(0.7978845608 * (3 + 0.044715 * 27))), 1e-6);
    tc_free(&tc);
}

/* An attribute value the kernels do not implement is refused when the
   exec is created, naming the attribute; an unknown attribute too. */
static void test_refusals(void) {
    float x[2] = {1, 2};
    nn_attr a;
    tin in = in1(NN_DTYPE_FLOAT, 2, x);
    tcase tc;
    a = attr_s("approximate", "fast");
    tc_run(&tc, "Gelu", 20, &in, 1, &a, 1, 1, 1, NULL);
    CHECK_STATUS(tc.st, NN_ERR_UNSUPPORTED);
    CHECK(tc.x == NULL);
    tc_free(&tc);
    a = attr_f("alpha", 0.5f);
    tc_run(&tc, "Relu", 14, &in, 1, &a, 1, 1, 1, NULL);
    CHECK_STATUS(tc.st, NN_ERR_UNSUPPORTED);
    tc_free(&tc);
    a = attr_i("to", NN_DTYPE_STRING);
    tc_run(&tc, "Cast", 13, &in, 1, &a, 1, 1, 1, NULL);
    CHECK_STATUS(tc.st, NN_ERR_UNSUPPORTED);
    tc_free(&tc);
    tc_run(&tc, "Sqrt", 13, &in, 1, NULL, 0, 1, 1, NULL); /* fine at 13 */
    CHECK_STATUS(tc.st, NN_OK);
    tc_free(&tc);
    {
        int32_t ix[2] = {1, 2};
        tin ii = in1(NN_DTYPE_INT32, 2, ix);
        tc_run(&tc, "Sqrt", 13, &ii, 1, NULL, 0, 1, 1, NULL); /* not for integers */
        CHECK_STATUS(tc.st, NN_ERR_UNSUPPORTED);
        tc_free(&tc);
    }
}

/* ---- variadic, Where, Clip -------------------------------------------------------------------- */

static void test_variadic(void) {
    float a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {10, 20, 30}, c[1] = {NAN};
    float d[1] = {100};
    tin ins[3];
    tcase tc;
    const nn_value *y;
    ins[0] = in4(NN_DTYPE_FLOAT, 2, 3, 0, 0, 2, a);
    ins[1] = in1(NN_DTYPE_FLOAT, 3, b);
    ins[2] = in0(NN_DTYPE_FLOAT, d);
    y = run1(&tc, "Sum", 13, ins, 3, NULL, 0);
    if (y) CHECK(y->shape.rank == 2 && ((const float *)y->data)[0] == 111 && ((const float *)y->data)[5] == 136);
    tc_free(&tc);
    y = run1(&tc, "Mean", 13, ins, 3, NULL, 0);
    if (y) CHECK_NEAR(((const float *)y->data)[4], 125.0 / 3.0, 1e-5);
    tc_free(&tc);
    ins[2] = in0(NN_DTYPE_FLOAT, c);
    y = run1(&tc, "Max", 13, ins, 3, NULL, 0); /* NaN propagates */
    if (y) CHECK(isnan(((const float *)y->data)[0]));
    tc_free(&tc);
    y = run1(&tc, "Min", 13, ins, 2, NULL, 0);
    if (y) CHECK(((const float *)y->data)[3] == 4 && ((const float *)y->data)[2] == 3);
    tc_free(&tc);
}

static void test_where_three_way(void) {
    uint8_t cond[2] = {1, 0};
    int64_t x[3] = {1, 2, 3}, yv[1] = {-1};
    tin ins[3];
    tcase tc;
    const nn_value *y;
    ins[0] = in4(NN_DTYPE_BOOL, 2, 1, 0, 0, 2, cond);
    ins[1] = in1(NN_DTYPE_INT64, 3, x);
    ins[2] = in0(NN_DTYPE_INT64, yv);
    y = run1(&tc, "Where", 16, ins, 3, NULL, 0);
    if (y) {
        const int64_t *v = (const int64_t *)y->data;
        CHECK(y->shape.rank == 2 && y->shape.dims[0] == 2 && y->shape.dims[1] == 3);
        CHECK(v[0] == 1 && v[2] == 3 && v[3] == -1 && v[5] == -1);
    }
    tc_free(&tc);
    {   /* masked fill: a repeated scalar on either side */
        uint8_t c2[4] = {1, 0, 0, 1};
        float fx[4] = {1, 2, 3, 4}, fill = -1e9f;
        ins[0] = in1(NN_DTYPE_BOOL, 4, c2);
        ins[1] = in1(NN_DTYPE_FLOAT, 4, fx);
        ins[2] = in0(NN_DTYPE_FLOAT, &fill);
        y = run1(&tc, "Where", 16, ins, 3, NULL, 0);
        if (y) CHECK(((const float *)y->data)[0] == 1 && ((const float *)y->data)[1] == -1e9f);
        tc_free(&tc);
        ins[1] = in0(NN_DTYPE_FLOAT, &fill);
        ins[2] = in1(NN_DTYPE_FLOAT, 4, fx);
        y = run1(&tc, "Where", 16, ins, 3, NULL, 0);
        if (y) CHECK(((const float *)y->data)[0] == -1e9f && ((const float *)y->data)[2] == 3);
        tc_free(&tc);
    }
}

static void test_clip(void) {
    float x[4] = {-5, 0.5f, 5, NAN}, lo = 2, hi = 1;
    int8_t ix[3] = {-128, 0, 127}, ilo = -3;
    nn_attr a[2];
    tin ins[3];
    tcase tc;
    const nn_value *y;
    ins[0] = in1(NN_DTYPE_FLOAT, 4, x);
    a[0] = attr_f("min", -1.0f);
    a[1] = attr_f("max", 1.0f);
    y = run1(&tc, "Clip", 6, ins, 1, a, 2);
    if (y) {
        const float *v = (const float *)y->data;
        CHECK(v[0] == -1 && v[1] == 0.5f && v[2] == 1 && isnan(v[3]));
    }
    tc_free(&tc);
    ins[1] = in0(NN_DTYPE_FLOAT, &lo);
    ins[2] = in0(NN_DTYPE_FLOAT, &hi);
    y = run1(&tc, "Clip", 13, ins, 3, NULL, 0); /* min > max: all max */
    if (y) CHECK(((const float *)y->data)[0] == 1 && ((const float *)y->data)[2] == 1);
    tc_free(&tc);
    ins[0] = in1(NN_DTYPE_INT8, 3, ix);
    ins[1] = in0(NN_DTYPE_INT8, &ilo);
    y = run1(&tc, "Clip", 13, ins, 2, NULL, 0);
    if (y) CHECK(((const int8_t *)y->data)[0] == -3 && ((const int8_t *)y->data)[2] == 127);
    tc_free(&tc);
}

/* ---- Cast ------------------------------------------------------------------------------------------- */

static void test_cast_rounding(void) {
    /* 1 + 2^-11 is a tie between 1 and 1 + 2^-10 (float16): even is 1.
       The double below rounds to the float 1 + 2^-11 (a tie again) but is
       above it, so double -> float -> half would round down twice. */
    float f[3] = {1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 65520.0f};
    double dd[1] = {1.0 + 1.0 / 2048 + 1e-12};
    nn_attr to = attr_i("to", NN_DTYPE_FLOAT16);
    tin in = in1(NN_DTYPE_FLOAT, 3, f);
    tcase tc;
    const nn_value *y = run1(&tc, "Cast", 13, &in, 1, &to, 1);
    if (y) {
        const uint16_t *h = (const uint16_t *)y->data;
        CHECK(h[0] == 0x3C00 && h[1] == 0x3C02 && h[2] == 0x7C00); /* 65520 rounds to inf */
    }
    tc_free(&tc);
    in = in1(NN_DTYPE_DOUBLE, 1, dd);
    y = run1(&tc, "Cast", 13, &in, 1, &to, 1);
    if (y) CHECK_EQ_INT(((const uint16_t *)y->data)[0], 0x3C01);
    tc_free(&tc);
}

static void test_cast_int4_and_float8(void) {
    float f[5] = {-9, -8, 7, 8, 1.5f}, f8in[4] = {1e6f, INFINITY, NAN, -1e-7f};
    nn_attr a[2];
    tin in = in1(NN_DTYPE_FLOAT, 5, f);
    tcase tc;
    const nn_value *y;
    a[0] = attr_i("to", NN_DTYPE_INT4);
    y = run1(&tc, "Cast", 21, &in, 1, a, 1); /* wraps modulo 16, packed low nibble first */
    if (y) {
        const uint8_t *p = (const uint8_t *)y->data;
        CHECK(y->bytes == 3 && p[0] == 0x87 && p[1] == 0x87 && p[2] == 0x01);
    }
    tc_free(&tc);
    in = in1(NN_DTYPE_FLOAT, 4, f8in);
    a[0] = attr_i("to", NN_DTYPE_FLOAT8E4M3FN);
    y = run1(&tc, "Cast", 19, &in, 1, a, 1);
    if (y) {
        const uint8_t *p = (const uint8_t *)y->data;
        CHECK(p[0] == 0x7E && p[1] == 0x7E && p[2] == 0x7F && p[3] == 0x80); /* saturate: 448 */
    }
    tc_free(&tc);
    a[1] = attr_i("saturate", 0);
    y = run1(&tc, "Cast", 19, &in, 1, a, 2);
    if (y) CHECK(((const uint8_t *)y->data)[0] == 0x7F && ((const uint8_t *)y->data)[1] == 0x7F);
    tc_free(&tc);
    a[0] = attr_i("to", NN_DTYPE_FLOAT8E5M2FNUZ);
    y = run1(&tc, "Cast", 19, &in, 1, a, 2); /* no inf, no -0: NaN is 0x80 */
    if (y) CHECK(((const uint8_t *)y->data)[0] == 0x80 && ((const uint8_t *)y->data)[3] == 0x00);
    tc_free(&tc);
}

static void test_cast_legacy_string_to(void) {
    int32_t x[2] = {3, -1};
    nn_attr to = attr_s("to", "FLOAT");
    tin in = in1(NN_DTYPE_INT32, 2, x);
    tcase tc;
    const nn_value *y = run1(&tc, "Cast", 1, &in, 1, &to, 1);
    if (y) CHECK(y->dtype == NN_DTYPE_FLOAT && ((const float *)y->data)[1] == -1.0f);
    tc_free(&tc);
}

/* ---- quantization ---------------------------------------------------------------------------------- */

static void test_quantize_per_tensor(void) {
    float x[7] = {5, 7, -5, 1000, -1000, NAN, 3};
    float s = 2;
    uint8_t zp = 128;
    int8_t szp = 0;
    tin ins[3];
    tcase tc;
    const nn_value *y;
    ins[0] = in1(NN_DTYPE_FLOAT, 7, x);
    ins[1] = in0(NN_DTYPE_FLOAT, &s);
    ins[2] = in0(NN_DTYPE_UINT8, &zp);
    y = run1(&tc, "QuantizeLinear", 13, ins, 3, NULL, 0);
    if (y) {
        const uint8_t *q = (const uint8_t *)y->data;
        /* 2.5 -> 2 and 3.5 -> 4 (half to even), saturation both ways */
        CHECK(q[0] == 130 && q[1] == 132 && q[2] == 126 && q[3] == 255 && q[4] == 0 && q[6] == 130);
    }
    tc_free(&tc);
    ins[2] = in0(NN_DTYPE_INT8, &szp);
    y = run1(&tc, "QuantizeLinear", 13, ins, 3, NULL, 0);
    if (y) CHECK(((const int8_t *)y->data)[2] == -2 && ((const int8_t *)y->data)[4] == -128);
    tc_free(&tc);
    y = run1(&tc, "QuantizeLinear", 13, ins, 2, NULL, 0); /* no zero point: uint8 */
    if (y) CHECK(y->dtype == NN_DTYPE_UINT8 && ((const uint8_t *)y->data)[2] == 0);
    tc_free(&tc);
}

static void test_quantize_axis_block_int4(void) {
    float x[2 * 4] = {1, 2, 3, 4, -8, -9, 40, 0.5f}, s[2] = {1, 2}, bs[2 * 2] = {1, 2, 4, 8};
    int8_t izp[2] = {0, 0};
    nn_attr a[3];
    tin ins[3];
    tcase tc;
    const nn_value *y;
    ins[0] = in4(NN_DTYPE_FLOAT, 2, 4, 0, 0, 2, x);
    ins[1] = in1(NN_DTYPE_FLOAT, 2, s);
    ins[2] = in1(NN_DTYPE_INT8, 2, izp);
    a[0] = attr_i("axis", 0);
    y = run1(&tc, "QuantizeLinear", 13, ins, 3, a, 1);
    if (y) {
        const int8_t *q = (const int8_t *)y->data;
        CHECK(q[0] == 1 && q[3] == 4 && q[4] == -4 && q[5] == -4 && q[6] == 20 && q[7] == 0);
    }
    tc_free(&tc);
    /* blocked along axis 1, blocks of 2: scales (2, 2) */
    ins[1] = in4(NN_DTYPE_FLOAT, 2, 2, 0, 0, 2, bs);
    a[0] = attr_i("axis", 1);
    a[1] = attr_i("block_size", 2);
    a[2] = attr_i("output_dtype", NN_DTYPE_INT4);
    y = run1(&tc, "QuantizeLinear", 21, ins, 2, a, 3);
    if (y) {
        const uint8_t *p = (const uint8_t *)y->data;
        int v[8], i;
        for (i = 0; i < 8; i++) {
            int nib = (p[i / 2] >> ((i & 1) * 4)) & 15;
            v[i] = nib >= 8 ? nib - 16 : nib;
        }
        CHECK(y->dtype == NN_DTYPE_INT4 && y->bytes == 4);
        /* row 0: 1/1, 2/1, 3/2 -> 2, 4/2; row 1: -8/4, -9/4 -> -2, 40/8 -> 5, 0.5/8 -> 0 */
        CHECK(v[0] == 1 && v[1] == 2 && v[2] == 2 && v[3] == 2 && v[4] == -2 && v[5] == -2 && v[6] == 5 && v[7] == 0);
    }
    tc_free(&tc);
    ins[1] = in1(NN_DTYPE_FLOAT, 3, bs); /* a per-axis scale of the wrong length */
    a[0] = attr_i("axis", 1);
    tc_run(&tc, "QuantizeLinear", 13, ins, 2, a, 1, 1, 1, NULL);
    CHECK_STATUS(tc.st, NN_ERR_SHAPE);
    tc_free(&tc);
}

static void test_dequantize(void) {
    int8_t x[4] = {-128, 0, 5, 127}, zp[2] = {1, -1};
    float s[2] = {0.5f, 2.0f};
    uint16_t hs = nn_f32_to_f16(0.25f);
    nn_attr ax = attr_i("axis", 0);
    tin ins[3];
    tcase tc;
    const nn_value *y;
    ins[0] = in4(NN_DTYPE_INT8, 2, 2, 0, 0, 2, x);
    ins[1] = in1(NN_DTYPE_FLOAT, 2, s);
    ins[2] = in1(NN_DTYPE_INT8, 2, zp);
    y = run1(&tc, "DequantizeLinear", 13, ins, 3, &ax, 1);
    if (y) {
        const float *v = (const float *)y->data;
        CHECK(v[0] == -64.5f && v[1] == -0.5f && v[2] == 12.0f && v[3] == 256.0f);
    }
    tc_free(&tc);
    ins[1] = in0(NN_DTYPE_FLOAT16, &hs); /* output takes the scale's type */
    y = run1(&tc, "DequantizeLinear", 19, ins, 2, NULL, 0);
    if (y) CHECK(y->dtype == NN_DTYPE_FLOAT16 && nn_f16_to_f32(((const uint16_t *)y->data)[3]) == 31.75f);
    tc_free(&tc);
}

/* Per-tensor on a large tensor splits by elements across two threads. */
static void test_quantize_threads(void) {
    enum { N = 100003 };
    float *x = (float *)malloc(N * sizeof(float)), s = 0.37f;
    uint8_t zp = 11;
    tin ins[3];
    tcase tc;
    int i, bad = 0;
    for (i = 0; i < N; i++) x[i] = (float)((i * 7919) % 20001 - 10000) * 0.0137f;
    ins[0] = in1(NN_DTYPE_FLOAT, N, x);
    ins[1] = in0(NN_DTYPE_FLOAT, &s);
    ins[2] = in0(NN_DTYPE_UINT8, &zp);
    tc_run(&tc, "QuantizeLinear", 13, ins, 3, NULL, 0, 1, 2, NULL);
    CHECK_STATUS(tc.st, NN_OK);
    if (tc.st == NN_OK) {
        const uint8_t *q = (const uint8_t *)tc_out(&tc, 0)->data;
        for (i = 0; i < N; i++) {
            float v = rintf(x[i] / s) + 11.0f;
            v = v < 0 ? 0 : v > 255 ? 255 : v;
            if (q[i] != (uint8_t)v) bad++;
        }
        CHECK_EQ_INT(bad, 0);
        {
            tin dq[3];
            tcase t2;
            dq[0] = in1(NN_DTYPE_UINT8, N, q);
            dq[1] = ins[1];
            dq[2] = ins[2];
            tc_run(&t2, "DequantizeLinear", 13, dq, 3, NULL, 0, 1, 2, NULL);
            CHECK_STATUS(t2.st, NN_OK);
            if (t2.st == NN_OK) {
                const float *y = (const float *)tc_out(&t2, 0)->data;
                for (i = 0, bad = 0; i < N; i++)
                    if (y[i] != (float)((int)q[i] - 11) * s) bad++;
                CHECK_EQ_INT(bad, 0);
            }
            tc_free(&t2);
        }
    }
    tc_free(&tc);
    free(x);
}

static void test_dynamic_quantize(void) {
    float x[6] = {0, 2, -3, -2.5f, 1.34f, 0.5f}, z[2] = {0, 0};
    tin in = in1(NN_DTYPE_FLOAT, 6, x);
    tcase tc;
    tc_run(&tc, "DynamicQuantizeLinear", 11, &in, 1, NULL, 0, 3, 1, NULL);
    CHECK_STATUS(tc.st, NN_OK);
    if (tc.st == NN_OK) {
        const uint8_t *q = (const uint8_t *)tc_out(&tc, 0)->data;
        CHECK(q[0] == 153 && q[1] == 255 && q[2] == 0 && q[3] == 26 && q[4] == 221 && q[5] == 179);
        CHECK_NEAR(*(const float *)tc_out(&tc, 1)->data, 5.0 / 255.0, 1e-8);
        CHECK_EQ_INT(*(const uint8_t *)tc_out(&tc, 2)->data, 153);
    }
    tc_free(&tc);
    in = in1(NN_DTYPE_FLOAT, 2, z); /* all zero: scale 0, no division by it */
    tc_run(&tc, "DynamicQuantizeLinear", 11, &in, 1, NULL, 0, 3, 1, NULL);
    CHECK_STATUS(tc.st, NN_OK);
    if (tc.st == NN_OK) CHECK(*(const uint8_t *)tc_out(&tc, 0)->data == 0 && *(const float *)tc_out(&tc, 1)->data == 0);
    tc_free(&tc);
}

/* ---- shape inference and allocation failures ----------------------------------------------------- */

/* Unknown dims and ranks flow through at static time. */
static void test_static_infer_unknown_dims(void) {
    nn_graph *g;
    nn_diag d;
    nn_tensor_id a, b, y, z, ins[2];
    int64_t da[2] = {NN_DIM_UNKNOWN, 4}, db[1] = {4};
    nn_shape sa = nn_shape_make(2, da), sb = nn_shape_make(1, db), su;
    memset(&d, 0, sizeof d);
    su.rank = NN_RANK_UNKNOWN;
    CHECK_STATUS(nn_graph_create(NULL, &g, &d), NN_OK);
    nn_graph_set_opset(g, "", 17, &d);
    nn_graph_add_tensor(g, "a", NN_DTYPE_FLOAT, &sa, &a, &d);
    nn_graph_add_tensor(g, "b", NN_DTYPE_FLOAT, &sb, &b, &d);
    nn_graph_add_tensor(g, "u", NN_DTYPE_FLOAT, &su, &ins[1], &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_UNDEFINED, NULL, &y, &d);
    nn_graph_add_tensor(g, "z", NN_DTYPE_UNDEFINED, NULL, &z, &d);
    nn_graph_add_input(g, a, &d);
    nn_graph_add_input(g, b, &d);
    nn_graph_add_input(g, ins[1], &d);
    nn_graph_add_output(g, z, &d);
    ins[0] = a;
    {
        nn_tensor_id ab[2];
        ab[0] = a;
        ab[1] = b;
        nn_graph_add_node(g, "Less", "", "lt", ab, 2, &y, 1, NULL, &d);
    }
    ins[0] = y;
    {
        nn_tensor_id w[3];
        w[0] = y;
        w[1] = a;
        w[2] = ins[1];
        nn_graph_add_node(g, "Where", "", "w", w, 3, &z, 1, NULL, &d);
    }
    CHECK_STATUS(nn_graph_infer_shapes(g, NULL, 0, &d), NN_OK);
    CHECK(g->tensors[y.id].dtype == NN_DTYPE_BOOL && g->tensors[y.id].shape.rank == 2);
    CHECK(g->tensors[y.id].shape.dims[0] == NN_DIM_UNKNOWN && g->tensors[y.id].shape.dims[1] == 4);
    CHECK(g->tensors[z.id].dtype == NN_DTYPE_FLOAT && g->tensors[z.id].shape.rank == NN_RANK_UNKNOWN);
    nn_graph_destroy(g);
}

typedef struct fail_alloc { int allocs, frees, fail_at; } fail_alloc;
static void *fa_alloc(void *user, size_t bytes) {
    fail_alloc *f = (fail_alloc *)user;
    if (f->fail_at >= 0 && f->allocs == f->fail_at) return NULL;
    f->allocs++;
    return malloc(bytes);
}
static void fa_free(void *user, void *p) {
    ((fail_alloc *)user)->frees++;
    free(p);
}

/* Every single allocation failing gives NN_ERR_NOMEM and no leak. */
static void test_alloc_failures(void) {
    float a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[2] = {1, 2};
    tin ins[2];
    fail_alloc f;
    nn_allocator al;
    tcase tc;
    int k, total;
    ins[0] = in4(NN_DTYPE_FLOAT, 4, 2, 0, 0, 2, a);
    ins[1] = in1(NN_DTYPE_FLOAT, 2, b);
    al.alloc = fa_alloc;
    al.free = fa_free;
    al.user = &f;
    memset(&f, 0, sizeof f);
    f.fail_at = -1;
    tc_run(&tc, "Add", 14, ins, 2, NULL, 0, 1, 1, &al);
    CHECK_STATUS(tc.st, NN_OK);
    tc_free(&tc);
    CHECK_EQ_INT(f.allocs, f.frees);
    total = f.allocs;
    for (k = 0; k < total; k++) {
        memset(&f, 0, sizeof f);
        f.fail_at = k;
        tc_run(&tc, "Add", 14, ins, 2, NULL, 0, 1, 1, &al);
        CHECK_STATUS(tc.st, NN_ERR_NOMEM);
        tc_free(&tc);
        CHECK_EQ_INT(f.allocs, f.frees);
    }
}

int main(void) {
    test_add_broadcast_paths();
    test_add_legacy_axis();
    test_prelu_slopes();
    test_int64_exact_and_wrap();
    test_div_int_truncates();
    test_mod_signs();
    test_pow_mixed_types();
    test_bitshift_and_bitwise();
    test_half_types();
    test_fast_float_math();
    test_nan_and_specials();
    test_activation_attrs();
    test_refusals();
    test_variadic();
    test_where_three_way();
    test_clip();
    test_cast_rounding();
    test_cast_int4_and_float8();
    test_cast_legacy_string_to();
    test_quantize_per_tensor();
    test_quantize_axis_block_int4();
    test_dequantize();
    test_quantize_threads();
    test_dynamic_quantize();
    test_static_infer_unknown_dims();
    test_alloc_failures();
    return check_summary();
}
