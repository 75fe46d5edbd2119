/* test_ops_reduce.c - the reduce/normalize family of nn_graph.h's reference
   kernels (src/graph/ops_reduce.inc): behaviours the ONNX conformance cases
   do not reach (old opsets, integer exactness, unknown axes at static time,
   refusals, the non-float32 and strided paths, threads), each against a
   naive double-precision reference.

   make build/test_ops_reduce && build/test_ops_reduce */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn_graph.h"
#include "tests/check.h"

/* ---- a one-node graph runner ---- */

typedef struct t_in {
    nn_dtype dtype;
    int32_t rank;
    int64_t dims[NN_MAX_RANK];
    const void *data; /* NULL: an omitted optional input */
    int as_const;     /* an initializer rather than a graph input */
} t_in;

typedef struct t_node {
    const char *op;
    int64_t opset;
    t_in in[4];
    uint32_t n_in;
    nn_attr attr[4];
    uint32_t n_attr;
    uint32_t n_out;
    int threads;
    const nn_allocator *alloc; /* the exec's allocator; NULL: malloc */
} t_node;

typedef struct t_out {
    nn_value v[3];
    unsigned char *buf[3];
} t_out;

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

static nn_attr t_ints(const char *name, const int64_t *v, uint32_t n) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_INTS; a.ints = v; a.count = n;
    return a;
}

static nn_attr t_str(const char *name, const char *s) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_STRING; a.s = s; a.s_bytes = strlen(s);
    return a;
}

static t_in t_tensor(nn_dtype t, int32_t rank, const int64_t *dims, const void *data) {
    t_in v;
    memset(&v, 0, sizeof v);
    v.dtype = t; v.rank = rank; v.data = data;
    for (int32_t i = 0; i < rank; i++) v.dims[i] = dims[i];
    return v;
}

static void t_out_free(t_out *o) {
    for (int i = 0; i < 3; i++) free(o->buf[i]);
    memset(o, 0, sizeof *o);
}

/* Builds graph inputs x0..xk -> op -> y0..yn, creates an exec (the static
   pass), runs it once and copies the outputs.  The first failing status
   is returned and diag names it. */
static nn_status t_run(const t_node *tn, t_out *out, nn_diag *d) {
    nn_graph *g = NULL;
    nn_exec *x = NULL;
    nn_tensor_id ins[4], outs[3];
    nn_node_id nid;
    nn_value vals[4];
    nn_status st;
    uint32_t n_graph_in = 0;
    memset(out, 0, sizeof *out);
    memset(d, 0, sizeof *d);
    st = nn_graph_create(NULL, &g, d);
    if (st == NN_OK) st = nn_graph_set_opset(g, "", tn->opset, d);
    for (uint32_t i = 0; i < tn->n_in && st == NN_OK; i++) {
        char name[8] = {'x', (char)('0' + i), 0};
        nn_shape s = nn_shape_make(tn->in[i].rank, tn->in[i].dims);
        if (!tn->in[i].data) { ins[i].id = NN_INVALID_ID; continue; }
        st = nn_graph_add_tensor(g, name, tn->in[i].dtype, &s, &ins[i], d);
        vals[i] = nn_value_make(tn->in[i].dtype, s, (void *)tn->in[i].data);
        if (st == NN_OK && tn->in[i].as_const) st = nn_graph_set_data(g, ins[i], tn->in[i].data, vals[i].bytes, 1, d);
        else if (st == NN_OK) { st = nn_graph_add_input(g, ins[i], d); n_graph_in++; }
    }
    for (uint32_t o = 0; o < tn->n_out && st == NN_OK; o++) {
        char name[8] = {'y', (char)('0' + o), 0};
        st = nn_graph_add_tensor(g, name, NN_DTYPE_UNDEFINED, NULL, &outs[o], d);
        if (st == NN_OK) st = nn_graph_add_output(g, outs[o], d);
    }
    if (st == NN_OK) st = nn_graph_add_node(g, tn->op, "", "n", ins, tn->n_in, outs, tn->n_out, &nid, d);
    for (uint32_t a = 0; a < tn->n_attr && st == NN_OK; a++) st = nn_graph_add_attr(g, nid, &tn->attr[a], 0, d);
    if (st == NN_OK) {
        nn_exec_desc xd;
        memset(&xd, 0, sizeof xd);
        xd.threads = tn->threads;
        if (tn->alloc) xd.alloc = *tn->alloc;
        st = nn_exec_create(g, &xd, &x, d);
    }
    for (uint32_t i = 0, k = 0; i < tn->n_in && st == NN_OK; i++)
        if (tn->in[i].data && !tn->in[i].as_const) st = nn_exec_set_input(x, k++, &vals[i], d);
    if (st == NN_OK) st = nn_exec_run(x, d);
    for (uint32_t o = 0; o < tn->n_out && st == NN_OK; o++) {
        const nn_value *v = nn_exec_output(x, o);
        out->v[o] = *v;
        out->buf[o] = (unsigned char *)malloc(v->bytes + 1);
        if (v->bytes) memcpy(out->buf[o], v->data, v->bytes);
        out->v[o].data = out->buf[o];
    }
    (void)n_graph_in;
    nn_exec_destroy(x);
    nn_graph_destroy(g);
    return st;
}

/* Deterministic pseudo-random floats in [-scale, scale). */
static void t_fill(float *p, size_t n, unsigned seed, float scale) {
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = ((float)(s >> 8) / 16777216.0f * 2 - 1) * scale;
    }
}

static double t_max_rel(const float *a, const double *ref, size_t n) {
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - ref[i]) / (fabs(ref[i]) > 1e-3 ? fabs(ref[i]) : 1e-3);
        if (e > worst || e != e) { worst = e != e ? 1e30 : e; at = i; }
    }
    if (worst > 1e-6 && getenv("T_VERBOSE"))
        fprintf(stderr, "     worst relative error %.3g at %zu: %.9g vs %.9g\n", worst, at, a[at], ref[at]);
    return worst;
}

/* ---- Reduce* ---- */

/* Opset 11: axes attribute; keepdims 0 drops the dim. */
static void test_reduce_sum_axes_attr(void) {
    static const int64_t dims[3] = {2, 3, 4}, axes[1] = {1};
    float x[24];
    t_out o;
    nn_diag d;
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    t_node tn = {"ReduceSum", 11, {t_tensor(NN_DTYPE_FLOAT, 3, dims, x)}, 1, {t_ints("axes", axes, 1), t_int("keepdims", 0)}, 2, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK_EQ_INT(o.v[0].shape.rank, 2);
    CHECK_EQ_INT(o.v[0].shape.dims[1], 4);
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < 4; c++) CHECK_NEAR(((float *)o.v[0].data)[a * 4 + c], x[a * 12 + c] + x[a * 12 + 4 + c] + x[a * 12 + 8 + c], 0);
    t_out_free(&o);
}

/* Opset 18: axes {0, 2} are not one run, so the general path runs; the
   axes come from a graph input, unknown during the static pass. */
static void test_reduce_mean_split_axes(void) {
    static const int64_t dims[3] = {3, 4, 5}, ad[1] = {2}, axes[2] = {0, -1};
    float x[60];
    t_out o;
    nn_diag d;
    t_fill(x, 60, 1, 3);
    t_node tn = {"ReduceMean", 18, {t_tensor(NN_DTYPE_FLOAT, 3, dims, x), t_tensor(NN_DTYPE_INT64, 1, ad, axes)}, 2, {{0}}, 0, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK_EQ_INT(o.v[0].shape.rank, 3);
    CHECK_EQ_INT(o.v[0].shape.dims[0] * 10 + o.v[0].shape.dims[1] * 100 + o.v[0].shape.dims[2], 411);
    for (int j = 0; j < 4; j++) {
        double s = 0;
        for (int a = 0; a < 3; a++) for (int c = 0; c < 5; c++) s += x[a * 20 + j * 5 + c];
        CHECK_NEAR(((float *)o.v[0].data)[j], s / 15, 1e-6);
    }
    t_out_free(&o);
}

/* Last-axis rows of 5000: float lanes + double blocks keep ~1e-7. */
static void test_reduce_mean_long_rows(void) {
    static const int64_t dims[2] = {8, 5000}, ad[1] = {1}, axes[1] = {1};
    float *x = (float *)malloc(40000 * sizeof(float));
    double ref[8];
    t_out o;
    nn_diag d;
    t_fill(x, 40000, 2, 1);
    for (int r = 0; r < 8; r++) {
        ref[r] = 0;
        for (int i = 0; i < 5000; i++) ref[r] += x[r * 5000 + i] + 10.0f;
        for (int i = 0; i < 5000; i++) x[r * 5000 + i] += 10.0f;
        ref[r] /= 5000;
    }
    t_node tn = {"ReduceMean", 18, {t_tensor(NN_DTYPE_FLOAT, 2, dims, x), t_tensor(NN_DTYPE_INT64, 1, ad, axes)}, 2, {t_int("keepdims", 0)}, 1, 1, 0, NULL};
    tn.in[1].as_const = 1;
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(t_max_rel((float *)o.v[0].data, ref, 8) < 1e-6);
    t_out_free(&o);
    free(x);
}

/* Integers: int64 sums exact beyond 2^53, int32 wraps, mean truncates toward 0. */
static void test_reduce_int_exact(void) {
    static const int64_t d2[1] = {2}, d3[1] = {3};
    static const int64_t big[3] = {((int64_t)1 << 60) + 1, ((int64_t)1 << 60) + 1, 1};
    static const int32_t wrap[2] = {INT32_MAX, 1}, neg[2] = {-3, -4};
    t_out o;
    nn_diag d;
    t_node tn = {"ReduceSum", 13, {t_tensor(NN_DTYPE_INT64, 1, d3, big)}, 1, {{0}}, 0, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(((int64_t *)o.v[0].data)[0] == ((int64_t)1 << 61) + 3);
    t_out_free(&o);
    tn.in[0] = t_tensor(NN_DTYPE_INT32, 1, d2, wrap);
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK_EQ_INT(((int32_t *)o.v[0].data)[0], INT32_MIN);
    t_out_free(&o);
    tn.op = "ReduceMean";
    tn.opset = 17;
    tn.in[0] = t_tensor(NN_DTYPE_INT32, 1, d2, neg);
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK_EQ_INT(((int32_t *)o.v[0].data)[0], -3);
    t_out_free(&o);
}

/* Empty reduced set: the spec's identities (max: -inf or the lowest value). */
static void test_reduce_empty_set(void) {
    static const int64_t dims[2] = {2, 0}, axes[1] = {1};
    static const float fx[1] = {0};
    static const int32_t ix[1] = {0};
    t_out o;
    nn_diag d;
    t_node tn = {"ReduceMax", 13, {t_tensor(NN_DTYPE_FLOAT, 2, dims, fx)}, 1, {t_ints("axes", axes, 1)}, 1, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(isinf(((float *)o.v[0].data)[1]) && ((float *)o.v[0].data)[1] < 0);
    t_out_free(&o);
    tn.in[0].dtype = NN_DTYPE_INT32;
    tn.in[0].data = ix;
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK_EQ_INT(((int32_t *)o.v[0].data)[0], INT32_MIN);
    t_out_free(&o);
    tn.op = "ReduceProd";
    tn.in[0].dtype = NN_DTYPE_FLOAT;
    tn.in[0].data = fx;
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK_NEAR(((float *)o.v[0].data)[0], 1, 0);
    t_out_free(&o);
    tn.op = "ReduceLogSumExp";
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(isinf(((float *)o.v[0].data)[0]) && ((float *)o.v[0].data)[0] < 0);
    t_out_free(&o);
}

/* Bool and uint8 extremes; noop_with_empty_axes keeps the input. */
static void test_reduce_minmax_small_types(void) {
    static const int64_t dims[2] = {2, 3}, ad[1] = {0};
    static const uint8_t b[6] = {0, 1, 0, 0, 0, 0}, u[6] = {200, 7, 255, 3, 9, 1};
    static const int64_t none[1] = {0};
    t_out o;
    nn_diag d;
    t_node tn = {"ReduceMax", 20, {t_tensor(NN_DTYPE_BOOL, 2, dims, b)}, 1, {t_int("keepdims", 0)}, 1, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(o.v[0].shape.rank == 0 && ((uint8_t *)o.v[0].data)[0] == 1);
    t_out_free(&o);
    tn.op = "ReduceMin";
    tn.in[0] = t_tensor(NN_DTYPE_UINT8, 2, dims, u);
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK_EQ_INT(((uint8_t *)o.v[0].data)[0], 1);
    t_out_free(&o);
    tn.op = "ReduceL2";
    tn.in[0] = t_tensor(NN_DTYPE_UINT8, 2, dims, u);
    tn.in[1] = t_tensor(NN_DTYPE_INT64, 1, ad, none);
    tn.n_in = 2;
    tn.attr[0] = t_int("noop_with_empty_axes", 1);
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(o.v[0].shape.rank == 2 && memcmp(o.v[0].data, u, 6) == 0);
    t_out_free(&o);
}

/* Refusals: axes as an attribute at opset 18, an unknown attribute, an
   axis out of range, a string input. */
static void test_reduce_refusals(void) {
    static const int64_t dims[1] = {3}, axes[1] = {0}, bad[1] = {3};
    static const float x[3] = {1, 2, 3};
    t_out o;
    nn_diag d;
    t_node tn = {"ReduceMean", 18, {t_tensor(NN_DTYPE_FLOAT, 1, dims, x)}, 1, {t_ints("axes", axes, 1)}, 1, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_ERR_INVALID);
    tn.attr[0] = t_int("select_last_index", 1);
    CHECK_STATUS(t_run(&tn, &o, &d), NN_ERR_UNSUPPORTED);
    tn.opset = 13;
    tn.attr[0] = t_ints("axes", bad, 1);
    CHECK_STATUS(t_run(&tn, &o, &d), NN_ERR_INVALID);
}

/* A float16 and a double reduction over the generic path. */
static void test_reduce_other_floats(void) {
    static const int64_t dims[2] = {2, 3}, axes[1] = {1};
    uint16_t h[6];
    static const double x[6] = {1, 2, 3, -1, -5, 0.5};
    t_out o;
    nn_diag d;
    for (int i = 0; i < 6; i++) h[i] = nn_f32_to_f16((float)x[i]);
    t_node tn = {"ReduceL1", 13, {t_tensor(NN_DTYPE_FLOAT16, 2, dims, h)}, 1, {t_ints("axes", axes, 1)}, 1, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(o.v[0].dtype == NN_DTYPE_FLOAT16);
    CHECK_NEAR(nn_f16_to_f32(((uint16_t *)o.v[0].data)[1]), 6.5, 0);
    t_out_free(&o);
    tn.op = "ReduceLogSumExp";
    tn.in[0] = t_tensor(NN_DTYPE_DOUBLE, 2, dims, x);
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK_NEAR(((double *)o.v[0].data)[0], log(exp(1.0) + exp(2.0) + exp(3.0)), 1e-12);
    t_out_free(&o);
}

/* ---- ArgMax / ArgMin ---- */

static void test_argmax_ties_and_int64(void) {
    static const int64_t dims[2] = {2, 3};
    static const float x[6] = {1, 5, 5, 2, 2, 0};
    static const int64_t big[6] = {((int64_t)1 << 60) + 1, ((int64_t)1 << 60), 0, -1, -2, -3};
    t_out o;
    nn_diag d;
    t_node tn = {"ArgMax", 13, {t_tensor(NN_DTYPE_FLOAT, 2, dims, x)}, 1, {t_int("axis", 1), t_int("select_last_index", 1)}, 2, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(((int64_t *)o.v[0].data)[0] == 2 && ((int64_t *)o.v[0].data)[1] == 1);
    CHECK(o.v[0].shape.rank == 2 && o.v[0].shape.dims[1] == 1);
    t_out_free(&o);
    tn.n_attr = 1;
    tn.op = "ArgMin";
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(((int64_t *)o.v[0].data)[0] == 0 && ((int64_t *)o.v[0].data)[1] == 2);
    t_out_free(&o);
    tn.op = "ArgMax";
    tn.in[0] = t_tensor(NN_DTYPE_INT64, 2, dims, big);
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(((int64_t *)o.v[0].data)[0] == 0 && ((int64_t *)o.v[0].data)[1] == 0);
    t_out_free(&o);
}

/* ---- Softmax family ---- */

/* ref: softmax of x (outer, n, inner) along n. */
static void t_softmax_ref(const float *x, double *y, size_t outer, size_t n, size_t inner, int logsm) {
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            double m = -INFINITY, s = 0;
            for (size_t j = 0; j < n; j++) m = fmax(m, x[(o * n + j) * inner + i]);
            for (size_t j = 0; j < n; j++) s += exp(x[(o * n + j) * inner + i] - m);
            for (size_t j = 0; j < n; j++) {
                double v = x[(o * n + j) * inner + i] - m;
                y[(o * n + j) * inner + i] = logsm ? v - log(s) : exp(v) / s;
            }
        }
}

/* Opset 13 along axis 1 of (2, 300, 5) (the column path) against opset 11
   coercing to 2-D at axis 1 (rows of 1500), and LogSoftmax. */
static void test_softmax_both_conventions(void) {
    static const int64_t dims[3] = {2, 300, 5};
    float x[3000];
    double ref[3000];
    t_out o;
    nn_diag d;
    t_fill(x, 3000, 3, 20);
    t_node tn = {"Softmax", 13, {t_tensor(NN_DTYPE_FLOAT, 3, dims, x)}, 1, {t_int("axis", 1)}, 1, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    t_softmax_ref(x, ref, 2, 300, 5, 0);
    CHECK(t_max_rel((float *)o.v[0].data, ref, 3000) < 2e-6);
    t_out_free(&o);
    tn.opset = 11;
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    t_softmax_ref(x, ref, 2, 1500, 1, 0);
    CHECK(t_max_rel((float *)o.v[0].data, ref, 3000) < 2e-6);
    t_out_free(&o);
    tn.op = "LogSoftmax";
    tn.opset = 13;
    tn.n_attr = 0; /* default -1: rows of 5 */
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    t_softmax_ref(x, ref, 600, 5, 1, 1);
    CHECK(t_max_rel((float *)o.v[0].data, ref, 3000) < 2e-6);
    t_out_free(&o);
    tn.opset = 1; /* default axis 1: rows of 1500 */
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    t_softmax_ref(x, ref, 2, 1500, 1, 1);
    CHECK(t_max_rel((float *)o.v[0].data, ref, 3000) < 2e-6);
    t_out_free(&o);
}

/* Large negative spreads (the fast exp flushes below -87.3) and a row with
   -inf entries, as masked attention gives. */
static void test_softmax_extremes(void) {
    static const int64_t dims[2] = {2, 4};
    static const float x[8] = {0, -100, -87, 50, 1, -INFINITY, -INFINITY, 1};
    double ref[8];
    t_out o;
    nn_diag d;
    t_node tn = {"Softmax", 13, {t_tensor(NN_DTYPE_FLOAT, 2, dims, x)}, 1, {{0}}, 0, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    t_softmax_ref(x, ref, 2, 4, 1, 0);
    for (int i = 0; i < 8; i++) CHECK_NEAR(((float *)o.v[0].data)[i], ref[i], 1e-7);
    t_out_free(&o);
}

static void test_hardmax_first_max(void) {
    static const int64_t dims[2] = {2, 3};
    static const float x[6] = {3, 7, 7, 1, 1, 1};
    t_out o;
    nn_diag d;
    t_node tn = {"Hardmax", 13, {t_tensor(NN_DTYPE_FLOAT, 2, dims, x)}, 1, {{0}}, 0, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    static const float want[6] = {0, 1, 0, 1, 0, 0};
    CHECK(memcmp(o.v[0].data, want, sizeof want) == 0);
    t_out_free(&o);
    tn.attr[0] = t_int("axis", 0); /* the column path */
    tn.n_attr = 1;
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    static const float want0[6] = {1, 1, 1, 0, 0, 0};
    CHECK(memcmp(o.v[0].data, want0, sizeof want0) == 0);
    t_out_free(&o);
}

static void test_softmax_double(void) {
    static const int64_t dims[2] = {1, 3};
    static const double x[3] = {1, 2, 3};
    t_out o;
    nn_diag d;
    t_node tn = {"Softmax", 13, {t_tensor(NN_DTYPE_DOUBLE, 2, dims, x)}, 1, {{0}}, 0, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    double s = exp(1.0) + exp(2.0) + exp(3.0);
    CHECK_NEAR(((double *)o.v[0].data)[2], exp(3.0) / s, 1e-15);
    t_out_free(&o);
}

/* ---- CumSum ---- */

static void test_cumsum_modes(void) {
    static const int64_t dims[2] = {2, 3}, none[1] = {0};
    static const int64_t x[6] = {1, 2, 3, 4, 5, 6};
    static const int32_t axis1 = 1;
    t_out o;
    nn_diag d;
    t_node tn = {"CumSum", 14, {t_tensor(NN_DTYPE_INT64, 2, dims, x), t_tensor(NN_DTYPE_INT32, 0, none, &axis1)}, 2,
                 {t_int("exclusive", 1), t_int("reverse", 1)}, 2, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    static const int64_t want[6] = {5, 3, 0, 11, 6, 0};
    CHECK(memcmp(o.v[0].data, want, sizeof want) == 0);
    t_out_free(&o);
}

/* ---- normalizations ---- */

static void t_layernorm_ref(const float *x, const float *sc, const float *bi, double *y, double *mean, double *inv,
                            size_t rows, size_t n, double eps, int rms) {
    for (size_t r = 0; r < rows; r++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < n; i++) m += x[r * n + i];
        m = rms ? 0 : m / n;
        for (size_t i = 0; i < n; i++) v += (x[r * n + i] - m) * (x[r * n + i] - m);
        double iv = 1 / sqrt(v / n + eps);
        for (size_t i = 0; i < n; i++) y[r * n + i] = (x[r * n + i] - m) * iv * sc[i] + (bi ? bi[i] : 0);
        if (mean) mean[r] = m;
        if (inv) inv[r] = iv;
    }
}

/* LayerNorm over (3, 768) rows offset by 100 (cancellation-prone), with
   the optional Mean/InvStdDev outputs; the same with 4 threads must give
   the same bits. */
static void test_layernorm_rows(void) {
    static const int64_t dims[2] = {3, 768}, pd[1] = {768};
    float *x = (float *)malloc(3 * 768 * sizeof(float)), sc[768], bi[768];
    double y[3 * 768], m[3], iv[3];
    t_out o, o4;
    nn_diag d;
    t_fill(x, 3 * 768, 4, 1);
    for (int i = 0; i < 3 * 768; i++) x[i] += 100;
    t_fill(sc, 768, 5, 2);
    t_fill(bi, 768, 6, 1);
    t_node tn = {"LayerNormalization", 17,
                 {t_tensor(NN_DTYPE_FLOAT, 2, dims, x), t_tensor(NN_DTYPE_FLOAT, 1, pd, sc), t_tensor(NN_DTYPE_FLOAT, 1, pd, bi)}, 3,
                 {t_float("epsilon", 1e-5f)}, 1, 3, 1, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    t_layernorm_ref(x, sc, bi, y, m, iv, 3, 768, 1e-5, 0);
    CHECK(t_max_rel((float *)o.v[0].data, y, 3 * 768) < 1e-4);
    CHECK(o.v[1].shape.rank == 2 && o.v[1].shape.dims[1] == 1 && o.v[2].dtype == NN_DTYPE_FLOAT);
    CHECK(t_max_rel((float *)o.v[1].data, m, 3) < 1e-7);
    CHECK(t_max_rel((float *)o.v[2].data, iv, 3) < 1e-5);
    tn.threads = 4;
    CHECK_STATUS(t_run(&tn, &o4, &d), NN_OK);
    CHECK(memcmp(o.v[0].data, o4.v[0].data, o.v[0].bytes) == 0);
    t_out_free(&o);
    t_out_free(&o4);
    free(x);
}

/* Scale broadcast from (1,) over dims [1, 3) of (2, 3, 4); RMSNorm; stash_type refused. */
static void test_layernorm_variants(void) {
    static const int64_t dims[3] = {2, 3, 4}, one[1] = {1};
    float x[24], sc[12];
    static const float s1[1] = {0.5f};
    double y[24];
    t_out o;
    nn_diag d;
    t_fill(x, 24, 7, 2);
    for (int i = 0; i < 12; i++) sc[i] = 0.5f;
    t_node tn = {"LayerNormalization", 17, {t_tensor(NN_DTYPE_FLOAT, 3, dims, x), t_tensor(NN_DTYPE_FLOAT, 1, one, s1)}, 2,
                 {t_int("axis", 1)}, 1, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    t_layernorm_ref(x, sc, NULL, y, NULL, NULL, 2, 12, 1e-5, 0);
    CHECK(t_max_rel((float *)o.v[0].data, y, 24) < 1e-5);
    t_out_free(&o);
    tn.op = "RMSNormalization";
    tn.opset = 23;
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    t_layernorm_ref(x, sc, NULL, y, NULL, NULL, 2, 12, 1e-5, 1);
    CHECK(t_max_rel((float *)o.v[0].data, y, 24) < 1e-5);
    t_out_free(&o);
    tn.attr[1] = t_int("stash_type", 11);
    tn.n_attr = 2;
    CHECK_STATUS(t_run(&tn, &o, &d), NN_ERR_UNSUPPORTED);
}

/* The same LayerNorm in double goes through the generic path. */
static void test_layernorm_double(void) {
    static const int64_t dims[2] = {2, 3}, pd[1] = {3};
    static const double x[6] = {1, 2, 4, -1, 0, 1}, sc[3] = {1, 1, 1};
    t_out o;
    nn_diag d;
    t_node tn = {"LayerNormalization", 17, {t_tensor(NN_DTYPE_DOUBLE, 2, dims, x), t_tensor(NN_DTYPE_DOUBLE, 1, pd, sc)}, 2,
                 {t_float("epsilon", 0)}, 1, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK_NEAR(((double *)o.v[0].data)[3], -sqrt(1.5), 1e-12);
    t_out_free(&o);
}

/* Opset 18 scales per group, opset 21 per channel. */
static void test_groupnorm_opsets(void) {
    static const int64_t dims[3] = {1, 4, 2}, g2[1] = {2}, c4[1] = {4};
    static const float x[8] = {1, 3, 5, 7, 0, 0, 2, 2};
    static const float sg[2] = {1, 2}, bg[2] = {0, 1}, sc[4] = {1, 1, 2, 2}, bc[4] = {0, 0, 1, 1};
    t_out o18, o21;
    nn_diag d;
    t_node tn = {"GroupNormalization", 18,
                 {t_tensor(NN_DTYPE_FLOAT, 3, dims, x), t_tensor(NN_DTYPE_FLOAT, 1, g2, sg), t_tensor(NN_DTYPE_FLOAT, 1, g2, bg)}, 3,
                 {t_int("num_groups", 2), t_float("epsilon", 0)}, 2, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o18, &d), NN_OK);
    tn.opset = 21;
    tn.in[1] = t_tensor(NN_DTYPE_FLOAT, 1, c4, sc);
    tn.in[2] = t_tensor(NN_DTYPE_FLOAT, 1, c4, bc);
    CHECK_STATUS(t_run(&tn, &o21, &d), NN_OK);
    CHECK(memcmp(o18.v[0].data, o21.v[0].data, 8 * sizeof(float)) == 0);
    /* group 0 = {1,3,5,7}: mean 4, std sqrt(5) */
    CHECK_NEAR(((float *)o21.v[0].data)[0], -3 / sqrt(5.0), 1e-6);
    CHECK_NEAR(((float *)o21.v[0].data)[4], 2 * -1 + 1, 1e-6);
    t_out_free(&o18);
    t_out_free(&o21);
    tn.opset = 18; /* per-channel sizes at opset 18 are refused */
    CHECK_STATUS(t_run(&tn, &o18, &d), NN_ERR_SHAPE);
}

static void test_mvn_and_lpnorm(void) {
    static const int64_t dims[2] = {2, 2}, axes[1] = {1};
    static const float x[4] = {1, 3, 3, -4};
    t_out o;
    nn_diag d;
    t_node tn = {"MeanVarianceNormalization", 13, {t_tensor(NN_DTYPE_FLOAT, 2, dims, x)}, 1, {t_ints("axes", axes, 1)}, 1, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK_NEAR(((float *)o.v[0].data)[0], -1, 1e-6);
    CHECK_NEAR(((float *)o.v[0].data)[3], -1, 1e-6);
    t_out_free(&o);
    tn.op = "LpNormalization";
    tn.opset = 1;
    tn.attr[0] = t_int("p", 1);
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK_NEAR(((float *)o.v[0].data)[3], -4.0 / 7, 1e-6);
    t_out_free(&o);
    tn.attr[0] = t_int("p", 3);
    CHECK_STATUS(t_run(&tn, &o, &d), NN_ERR_UNSUPPORTED);
}

/* ---- Einsum ---- */

/* out = einsum(eq, a, b) against a hand loop, for the GEMM path (float)
   and the generic path (double) of the same contraction. */
static void test_einsum_batched_gemm(void) {
    static const int64_t da[3] = {2, 3, 4}, db[3] = {2, 4, 5};
    float a[24], b[40];
    double ad[24], bd[40], ref[30];
    t_out o;
    nn_diag d;
    t_fill(a, 24, 8, 1);
    t_fill(b, 40, 9, 1);
    for (int i = 0; i < 24; i++) ad[i] = a[i];
    for (int i = 0; i < 40; i++) bd[i] = b[i];
    /* out (k, b, i) = sum_j a(b, i, j) b(b, j, k): an output permuted away from bik */
    for (int bb = 0; bb < 2; bb++)
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 5; k++) {
                double s = 0;
                for (int j = 0; j < 4; j++) s += ad[bb * 12 + i * 4 + j] * bd[bb * 20 + j * 5 + k];
                ref[k * 6 + bb * 3 + i] = s;
            }
    t_node tn = {"Einsum", 12, {t_tensor(NN_DTYPE_FLOAT, 3, da, a), t_tensor(NN_DTYPE_FLOAT, 3, db, b)}, 2,
                 {t_str("equation", "bij, bjk -> kbi")}, 1, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(o.v[0].shape.rank == 3 && o.v[0].shape.dims[0] == 5 && o.v[0].shape.dims[2] == 3);
    CHECK(t_max_rel((float *)o.v[0].data, ref, 30) < 1e-5);
    t_out_free(&o);
    tn.in[0] = t_tensor(NN_DTYPE_DOUBLE, 3, da, ad);
    tn.in[1] = t_tensor(NN_DTYPE_DOUBLE, 3, db, bd);
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    for (int i = 0; i < 30; i++) CHECK_NEAR(((double *)o.v[0].data)[i], ref[i], 1e-12);
    t_out_free(&o);
}

/* Diagonal, implicit output, ellipsis broadcasting, an integer einsum, refusals. */
static void test_einsum_forms(void) {
    static const int64_t d33[2] = {3, 3}, d123[3] = {1, 2, 3}, d232[3] = {2, 3, 2}, d2[1] = {2};
    static const float m[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float a6[6], b12[12];
    static const int32_t iv[2] = {40000, 50000};
    t_out o;
    nn_diag d;
    t_node tn = {"Einsum", 12, {t_tensor(NN_DTYPE_FLOAT, 2, d33, m)}, 1, {t_str("equation", "ii->i")}, 1, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(((float *)o.v[0].data)[2] == 9 && o.v[0].shape.dims[0] == 3);
    t_out_free(&o);
    tn.attr[0] = t_str("equation", "ii"); /* implicit: no label once, so the trace */
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(o.v[0].shape.rank == 0 && ((float *)o.v[0].data)[0] == 15);
    t_out_free(&o);
    tn.attr[0] = t_str("equation", "ji"); /* implicit output "ij": a transpose */
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(((float *)o.v[0].data)[1] == 4);
    t_out_free(&o);
    /* ...ij,...jk with batch dims (1,) against (2,): the 1 broadcasts */
    t_fill(a6, 6, 10, 1);
    t_fill(b12, 12, 11, 1);
    tn.in[0] = t_tensor(NN_DTYPE_FLOAT, 3, d123, a6);
    tn.in[1] = t_tensor(NN_DTYPE_FLOAT, 3, d232, b12);
    tn.n_in = 2;
    tn.attr[0] = t_str("equation", "...ij,...jk");
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(o.v[0].shape.rank == 3 && o.v[0].shape.dims[0] == 2 && o.v[0].shape.dims[1] == 2 && o.v[0].shape.dims[2] == 2);
    {
        double s = 0; /* batch 1, i 1, k 0 */
        for (int j = 0; j < 3; j++) s += (double)a6[3 + j] * b12[6 + j * 2];
        CHECK_NEAR(((float *)o.v[0].data)[4 + 2], s, 1e-6);
    }
    t_out_free(&o);
    tn.in[0] = t_tensor(NN_DTYPE_INT32, 1, d2, iv);
    tn.in[1] = t_tensor(NN_DTYPE_INT32, 1, d2, iv);
    tn.attr[0] = t_str("equation", "i,i->");
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK_EQ_INT(((int32_t *)o.v[0].data)[0], (int32_t)(uint32_t)(40000ull * 40000 + 50000ull * 50000));
    t_out_free(&o);
    tn.attr[0] = t_str("equation", "i,j->k");
    CHECK_STATUS(t_run(&tn, &o, &d), NN_ERR_INVALID);
    tn.attr[0] = t_str("equation", "ij,i->i");
    CHECK_STATUS(t_run(&tn, &o, &d), NN_ERR_SHAPE);
}

/* ---- losses, Det ---- */

/* Mean NLL with weights and an ignored target divides by the weights kept. */
static void test_nll_and_sce(void) {
    static const int64_t dx[2] = {3, 2}, dt[1] = {3}, dw[1] = {2};
    static const float x[6] = {-1, -2, -3, -4, -5, -6}, w[2] = {0.5f, 2};
    static const int64_t t[3] = {0, 1, 1};
    t_out o;
    nn_diag d;
    t_node tn = {"NegativeLogLikelihoodLoss", 13,
                 {t_tensor(NN_DTYPE_FLOAT, 2, dx, x), t_tensor(NN_DTYPE_INT64, 1, dt, t), t_tensor(NN_DTYPE_FLOAT, 1, dw, w)}, 3,
                 {t_int("ignore_index", 0)}, 1, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(o.v[0].shape.rank == 0);
    CHECK_NEAR(((float *)o.v[0].data)[0], (4 * 2 + 6 * 2) / 4.0, 1e-6);
    t_out_free(&o);
    tn.op = "SoftmaxCrossEntropyLoss";
    tn.attr[1] = t_str("reduction", "none");
    tn.n_attr = 2;
    tn.n_out = 2;
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(o.v[0].shape.rank == 1 && o.v[1].shape.rank == 2);
    CHECK_NEAR(((float *)o.v[0].data)[0], 0, 0);
    CHECK_NEAR(((float *)o.v[0].data)[1], 2 * log(1 + exp(1.0)), 1e-6);
    CHECK_NEAR(((float *)o.v[1].data)[0], -log(1 + exp(-1.0)), 1e-6);
    t_out_free(&o);
    static const int64_t bad[3] = {0, 2, 1};
    tn.in[1].data = bad;
    CHECK_STATUS(t_run(&tn, &o, &d), NN_ERR_INVALID);
}

static void test_det(void) {
    static const int64_t dims[3] = {2, 3, 3};
    static const float x[18] = {2, 0, 1, 1, 3, 2, 1, 1, 2, /* det 6 */ 0, 1, 0, 1, 0, 0, 0, 0, 1 /* swap: -1 */};
    t_out o;
    nn_diag d;
    t_node tn = {"Det", 11, {t_tensor(NN_DTYPE_FLOAT, 3, dims, x)}, 1, {{0}}, 0, 1, 0, NULL};
    CHECK_STATUS(t_run(&tn, &o, &d), NN_OK);
    CHECK(o.v[0].shape.rank == 1);
    CHECK_NEAR(((float *)o.v[0].data)[0], 6, 1e-5);
    CHECK_NEAR(((float *)o.v[0].data)[1], -1, 0);
    t_out_free(&o);
}

/* ---- static shape inference with unknown dims ---- */

/* Infers y = op(x [, c]) where x has dims with NN_DIM_UNKNOWN and c is an
   optional int64 constant (or, when c_known is 0, a graph input). */
static nn_status t_infer(const char *op, int64_t opset, int32_t rank, const int64_t *dims, const int64_t *c,
                         int64_t c_count, int c_known, const nn_attr *attrs, uint32_t n_attr, uint32_t n_out,
                         nn_shape *out_shapes, nn_diag *d) {
    nn_graph *g;
    nn_tensor_id in[2], outs[3];
    nn_node_id nid;
    nn_shape xs = nn_shape_make(rank, dims), cs = nn_shape_make(1, &c_count);
    nn_status st = nn_graph_create(NULL, &g, d);
    if (st) return st;
    st = nn_graph_set_opset(g, "", opset, d);
    if (st == NN_OK) st = nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &xs, &in[0], d);
    if (st == NN_OK) st = nn_graph_add_input(g, in[0], d);
    if (st == NN_OK && c) st = nn_graph_add_tensor(g, "c", NN_DTYPE_INT64, &cs, &in[1], d);
    if (st == NN_OK && c) st = c_known ? nn_graph_set_data(g, in[1], c, (size_t)c_count * 8, 1, d) : nn_graph_add_input(g, in[1], d);
    for (uint32_t o = 0; o < n_out && st == NN_OK; o++) {
        char name[4] = {'y', (char)('0' + o), 0};
        st = nn_graph_add_tensor(g, name, NN_DTYPE_UNDEFINED, NULL, &outs[o], d);
        if (st == NN_OK) st = nn_graph_add_output(g, outs[o], d);
    }
    if (st == NN_OK) st = nn_graph_add_node(g, op, "", "n", in, c ? 2 : 1, outs, n_out, &nid, d);
    for (uint32_t a = 0; a < n_attr && st == NN_OK; a++) st = nn_graph_add_attr(g, nid, &attrs[a], 0, d);
    if (st == NN_OK) st = nn_graph_infer_shapes(g, NULL, 0, d);
    for (uint32_t o = 0; o < n_out && st == NN_OK; o++) out_shapes[o] = nn_graph_tensor(g, outs[o])->shape;
    nn_graph_destroy(g);
    return st;
}

static void test_infer_unknown_dims(void) {
    static const int64_t dims[3] = {NN_DIM_UNKNOWN, 4, 1}, ax1[1] = {1}, ax2[2] = {0, 1};
    nn_shape s[3];
    nn_diag d;
    nn_attr k0 = t_int("keepdims", 0), eq = t_str("equation", "bij->ib");
    /* known axes: the unknown batch dim passes through */
    CHECK_STATUS(t_infer("ReduceSum", 13, 3, dims, ax1, 1, 1, &k0, 1, 1, s, &d), NN_OK);
    CHECK(s[0].rank == 2 && s[0].dims[0] == NN_DIM_UNKNOWN && s[0].dims[1] == 1);
    /* axes from a graph input: keepdims keeps the rank, dims other than 1 become unknown */
    CHECK_STATUS(t_infer("ReduceMean", 18, 3, dims, ax1, 1, 0, NULL, 0, 1, s, &d), NN_OK);
    CHECK(s[0].rank == 3 && s[0].dims[1] == NN_DIM_UNKNOWN && s[0].dims[2] == 1);
    /* ... and keepdims 0 with two unknown axes removes two dims */
    CHECK_STATUS(t_infer("ReduceMax", 18, 3, dims, ax2, 2, 0, &k0, 1, 1, s, &d), NN_OK);
    CHECK(s[0].rank == 1 && s[0].dims[0] == NN_DIM_UNKNOWN);
    CHECK_STATUS(t_infer("Softmax", 13, 3, dims, NULL, 0, 0, NULL, 0, 1, s, &d), NN_OK);
    CHECK(s[0].rank == 3 && s[0].dims[0] == NN_DIM_UNKNOWN && s[0].dims[1] == 4);
    CHECK_STATUS(t_infer("Einsum", 12, 3, dims, NULL, 0, 0, &eq, 1, 1, s, &d), NN_OK);
    CHECK(s[0].rank == 2 && s[0].dims[0] == 4 && s[0].dims[1] == NN_DIM_UNKNOWN);
    CHECK_STATUS(t_infer("ArgMin", 13, 3, dims, NULL, 0, 0, &k0, 1, 1, s, &d), NN_OK);
    CHECK(s[0].rank == 2 && s[0].dims[0] == 4);
}

/* ---- allocation failures ---- */

/* Counts live blocks and fails the fail_at-th allocation (1-based). */
typedef struct t_failing { long calls, live, fail_at; } t_failing;

static void *t_failing_alloc(void *user, size_t bytes) {
    t_failing *f = (t_failing *)user;
    if (++f->calls == f->fail_at) return NULL;
    void *p = malloc(bytes);
    if (p) f->live++;
    return p;
}

static void t_failing_free(void *user, void *p) {
    t_failing *f = (t_failing *)user;
    if (p) f->live--;
    free(p);
}

/* Fails each allocation of the exec in turn: every run ends with NN_OK or
   NN_ERR_NOMEM and leaves nothing allocated. */
static void t_fail_each(const t_node *base) {
    t_failing f;
    nn_allocator a;
    a.alloc = t_failing_alloc;
    a.free = t_failing_free;
    a.user = &f;
    for (long k = 1; k < 400; k++) {
        t_node tn = *base;
        t_out o;
        nn_diag d;
        memset(&f, 0, sizeof f);
        f.fail_at = k;
        tn.alloc = &a;
        nn_status st = t_run(&tn, &o, &d);
        CHECK(st == NN_OK || st == NN_ERR_NOMEM);
        CHECK_EQ_INT(f.live, 0);
        t_out_free(&o);
        if (f.calls < k) break; /* ran to the end without reaching the failure */
    }
}

static void test_allocation_failures(void) {
    static const int64_t da[3] = {2, 3, 4}, db[3] = {2, 4, 5}, d1[1] = {1}, d2[2] = {3, 2}, dt[1] = {3};
    static const int64_t axes[1] = {-1}, t[3] = {0, 1, 1};
    float a[24], b[40];
    static const float s1[1] = {2};
    t_fill(a, 24, 13, 1);
    t_fill(b, 40, 14, 1);
    t_node ein = {"Einsum", 12, {t_tensor(NN_DTYPE_FLOAT, 3, da, a), t_tensor(NN_DTYPE_FLOAT, 3, db, b)}, 2,
                  {t_str("equation", "bij,bjk->bik")}, 1, 1, 0, NULL};
    t_fail_each(&ein);
    ein.in[0].dtype = ein.in[1].dtype = NN_DTYPE_INT32; /* the generic path */
    t_fail_each(&ein);
    t_node ln = {"LayerNormalization", 17, {t_tensor(NN_DTYPE_FLOAT, 3, da, a), t_tensor(NN_DTYPE_FLOAT, 1, d1, s1)}, 2,
                 {{0}}, 0, 3, 0, NULL};
    t_fail_each(&ln);
    t_node rd = {"ReduceLogSumExp", 18, {t_tensor(NN_DTYPE_DOUBLE, 2, d2, b), t_tensor(NN_DTYPE_INT64, 1, d1, axes)}, 2,
                 {{0}}, 0, 1, 0, NULL};
    t_fail_each(&rd);
    t_node sce = {"SoftmaxCrossEntropyLoss", 13, {t_tensor(NN_DTYPE_FLOAT, 2, d2, a), t_tensor(NN_DTYPE_INT64, 1, dt, t)}, 2,
                  {{0}}, 0, 2, 0, NULL};
    t_fail_each(&sce);
}

/* Many rows over 4 threads give the same bits as one thread. */
static void test_threads_deterministic(void) {
    static const int64_t dims[2] = {256, 333};
    float *x = (float *)malloc(256 * 333 * sizeof(float));
    static const char *ops[3] = {"Softmax", "ReduceSumSquare", "LogSoftmax"};
    t_fill(x, 256 * 333, 12, 5);
    for (int k = 0; k < 3; k++) {
        t_out o1, o4;
        nn_diag d;
        t_node tn = {ops[k], 13, {t_tensor(NN_DTYPE_FLOAT, 2, dims, x)}, 1, {{0}}, 0, 1, 1, NULL};
        CHECK_STATUS(t_run(&tn, &o1, &d), NN_OK);
        tn.threads = 4;
        CHECK_STATUS(t_run(&tn, &o4, &d), NN_OK);
        CHECK(o1.v[0].bytes == o4.v[0].bytes && memcmp(o1.v[0].data, o4.v[0].data, o1.v[0].bytes) == 0);
        t_out_free(&o1);
        t_out_free(&o4);
    }
    free(x);
}

int main(void) {
    test_reduce_sum_axes_attr();
    test_reduce_mean_split_axes();
    test_reduce_mean_long_rows();
    test_reduce_int_exact();
    test_reduce_empty_set();
    test_reduce_minmax_small_types();
    test_reduce_refusals();
    test_reduce_other_floats();
    test_argmax_ties_and_int64();
    test_softmax_both_conventions();
    test_softmax_extremes();
    test_hardmax_first_max();
    test_softmax_double();
    test_cumsum_modes();
    test_layernorm_rows();
    test_layernorm_variants();
    test_layernorm_double();
    test_groupnorm_opsets();
    test_mvn_and_lpnorm();
    test_einsum_batched_gemm();
    test_einsum_forms();
    test_nll_and_sce();
    test_det();
    test_threads_deterministic();
    test_allocation_failures();
    test_infer_unknown_dims();
    return check_summary();
}
