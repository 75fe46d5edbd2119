/* test_passes.c - the graph passes of nn_graph.h: each pass's effect on a
   small hand-built graph, idempotence, refusal of malformed graphs, and the
   default pass list on the real models in ~/.cache/nnport (skipped when the
   files are absent) with outputs compared before/after in the executor. */
#include "nn_graph.h"
#include "nn_onnx.h"
#include "nn_verify.h"
#include "check.h"
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PASSES "fold,identity,bn,dce"

static nn_shape shape4(int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t dims[4] = {a, b, c, d};
    return nn_shape_make(4, dims);
}

static nn_tensor_id tensor(nn_graph *g, const char *name, const nn_shape *s) {
    nn_tensor_id t;
    nn_diag d = {0};
    CHECK_STATUS(nn_graph_add_tensor(g, name, NN_DTYPE_FLOAT, s, &t, &d), NN_OK);
    return t;
}

static nn_tensor_id constant(nn_graph *g, const char *name, const nn_shape *s, const float *v) {
    nn_tensor_id t = tensor(g, name, s);
    nn_diag d = {0};
    int ok;
    CHECK_STATUS(nn_graph_set_data(g, t, v, nn_shape_count(s, &ok) * sizeof(float), 1, &d), NN_OK);
    return t;
}

static nn_node_id node(nn_graph *g, const char *op, const char *name, const nn_tensor_id *in, uint32_t nin,
                       nn_tensor_id out) {
    nn_node_id n;
    nn_diag d = {0};
    CHECK_STATUS(nn_graph_add_node(g, op, "", name, in, nin, &out, 1, &n, &d), NN_OK);
    return n;
}

static nn_graph *new_graph(void) {
    nn_graph *g;
    nn_diag d = {0};
    CHECK_STATUS(nn_graph_create(NULL, &g, &d), NN_OK);
    nn_graph_set_opset(g, "", 13, &d);
    return g;
}

static uint32_t count_op(const nn_graph *g, const char *op) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < g->node_count; i++) k += strcmp(g->nodes[i].op_type, op) == 0;
    return k;
}

static void fill(float *v, size_t n, uint32_t seed) {
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)((s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
    }
}

/* Runs g on a pseudo-random input of shape in_shape; returns output 0 as a
   malloc'd value copy (data owned by the caller), or data NULL on failure. */
static nn_value run_graph(const nn_graph *g, const nn_shape *in_shape, uint32_t seed) {
    nn_value r;
    memset(&r, 0, sizeof r);
    nn_exec *x;
    nn_diag d = {0};
    nn_input_shape is = {g->tensors[g->inputs[0].id].name, *in_shape};
    nn_exec_desc xd;
    memset(&xd, 0, sizeof xd);
    xd.threads = 4;
    xd.input_shapes = &is;
    xd.input_shape_count = 1;
    int ok;
    size_t n = nn_shape_count(in_shape, &ok);
    float *in = (float *)malloc(n * sizeof(float));
    fill(in, n, seed);
    if (nn_exec_create(g, &xd, &x, &d) == NN_OK) {
        nn_value v = nn_value_make(NN_DTYPE_FLOAT, *in_shape, in);
        if (nn_exec_set_input(x, 0, &v, &d) == NN_OK && nn_exec_run(x, &d) == NN_OK) {
            const nn_value *o = nn_exec_output(x, 0);
            r = *o;
            r.flags = 0;
            r.data = malloc(o->bytes ? o->bytes : 1);
            memcpy(r.data, o->data, o->bytes);
        }
        nn_exec_destroy(x);
    }
    if (!r.data) fprintf(stderr, "run failed: %s: %s\n", d.where, d.message);
    free(in);
    return r;
}

/* Outputs of a and b agree within the gate: cosine >= 0.999999 and
   max abs error <= 1e-5 x peak. */
static void check_same(const nn_value *a, const nn_value *b, const char *what) {
    nn_verify_stats s;
    nn_diag d = {0};
    CHECK(a->data && b->data);
    if (!a->data || !b->data) return;
    CHECK_STATUS(nn_verify_compare(a, b, NULL, &s, &d), NN_OK);
    printf("  %-34s cos %.9f  max abs %.3e  peak %.3e\n", what, s.cosine, s.max_abs_err, s.max_abs_ref);
    CHECK(s.cosine >= 0.999999);
    CHECK(s.max_abs_err <= 1e-5 * s.max_abs_ref);
}

static int stats_zero(const nn_pass_stats *s) {
    return s->nodes_removed == 0 && s->nodes_added == 0 && s->nodes_fused == 0 && s->tensors_added == 0 &&
           s->tensors_removed == 0;
}

static void test_identity(void) {
    nn_graph *g = new_graph();
    nn_shape s = shape4(1, 2, 3, 4);
    nn_diag d = {0};
    nn_tensor_id x = tensor(g, "x", &s), a = tensor(g, "a", &s), b = tensor(g, "b", &s), c = tensor(g, "c", &s),
                 y = tensor(g, "y", &s);
    nn_graph_add_input(g, x, &d);
    node(g, "Identity", "id1", &x, 1, a);
    node(g, "Dropout", "drop", &a, 1, b);
    node(g, "Relu", "relu", &b, 1, c);
    node(g, "Identity", "id_out", &c, 1, y); /* produces a graph output: kept */
    nn_graph_add_output(g, y, &d);
    nn_value before = run_graph(g, &s, 1);
    nn_pass_stats st;
    CHECK_STATUS(nn_graph_run_pass(g, "identity", NULL, &st, &d), NN_OK);
    CHECK_EQ_INT(st.nodes_removed, 2);
    CHECK_EQ_INT(g->node_count, 2);
    CHECK_EQ_INT(count_op(g, "Relu"), 1);
    CHECK(g->nodes[0].inputs[0].id == x.id);
    CHECK_STATUS(nn_graph_run_pass(g, "identity", NULL, &st, &d), NN_OK);
    CHECK(stats_zero(&st));
    nn_value after = run_graph(g, &s, 1);
    check_same(&before, &after, "identity chain");
    free(before.data);
    free(after.data);
    nn_graph_destroy(g);
}

static void test_dce_and_fold(void) {
    nn_graph *g = new_graph();
    int64_t n4 = 4;
    nn_shape s = nn_shape_make(1, &n4);
    float av[4] = {1, 2, 3, 4}, bv[4] = {0.5f, 0.25f, -1, 2};
    nn_diag d = {0};
    nn_tensor_id x = tensor(g, "x", &s), A = constant(g, "A", &s, av), B = constant(g, "B", &s, bv);
    nn_tensor_id ab = tensor(g, "ab", &s), ab2 = tensor(g, "ab2", &s), y = tensor(g, "y", &s), z = tensor(g, "z", &s);
    nn_graph_add_input(g, x, &d);
    nn_tensor_id in2[2] = {A, B};
    node(g, "Add", "add_c", in2, 2, ab);
    nn_tensor_id in3[2] = {ab, A};
    node(g, "Mul", "mul_c", in3, 2, ab2);
    nn_tensor_id in4[2] = {x, ab2};
    node(g, "Mul", "mul_x", in4, 2, y);
    node(g, "Sigmoid", "unused", &x, 1, z); /* reaches no output */
    nn_graph_add_output(g, y, &d);
    nn_value before = run_graph(g, &s, 2);
    nn_pass_stats st;
    CHECK_STATUS(nn_graph_run_pass(g, "dce", NULL, &st, &d), NN_OK);
    CHECK_EQ_INT(st.nodes_removed, 1);
    CHECK_EQ_INT(count_op(g, "Sigmoid"), 0);
    CHECK_STATUS(nn_graph_run_pass(g, "fold", NULL, &st, &d), NN_OK);
    CHECK_EQ_INT(st.nodes_removed, 2);
    CHECK_EQ_INT(g->node_count, 1);
    CHECK((g->tensors[ab2.id].flags & NN_TENSOR_CONST) != 0);
    if (g->tensors[ab2.id].data) CHECK_NEAR(((const float *)g->tensors[ab2.id].data)[3], (4 + 2) * 4, 0);
    CHECK_STATUS(nn_graph_run_pass(g, "dce", NULL, &st, &d), NN_OK);
    CHECK_EQ_INT(st.tensors_removed, 3); /* A, B and ab are no longer read */
    for (int k = 0; k < 2; k++) {
        CHECK_STATUS(nn_graph_run_passes(g, DEFAULT_PASSES, NULL, &st, &d), NN_OK);
        CHECK(stats_zero(&st));
    }
    nn_value after = run_graph(g, &s, 2);
    check_same(&before, &after, "constant Add/Mul folded");
    free(before.data);
    free(after.data);
    nn_graph_destroy(g);
}

/* Conv (+ optional bias) -> BatchNormalization -> Relu. */
static void test_bn(int with_bias) {
    nn_graph *g = new_graph();
    nn_shape xs = shape4(1, 3, 6, 6), ws = shape4(4, 3, 3, 3), ys = shape4(1, 4, 4, 4);
    int64_t four = 4;
    nn_shape cs = nn_shape_make(1, &four);
    float w[108], b[4], gam[4], bet[4], mean[4], var[4];
    fill(w, 108, 3);
    fill(b, 4, 4);
    fill(gam, 4, 5);
    fill(bet, 4, 6);
    fill(mean, 4, 7);
    fill(var, 4, 8);
    for (int i = 0; i < 4; i++) var[i] = var[i] * var[i] + 0.1f;
    nn_diag d = {0};
    nn_tensor_id x = tensor(g, "x", &xs), y0 = tensor(g, "conv_out", &ys), y1 = tensor(g, "bn_out", &ys),
                 y = tensor(g, "y", &ys);
    nn_graph_add_input(g, x, &d);
    nn_tensor_id cin[3] = {x, constant(g, "W", &ws, w), with_bias ? constant(g, "B", &cs, b) : x};
    node(g, "Conv", "conv", cin, with_bias ? 3 : 2, y0);
    nn_tensor_id bin[5] = {y0, constant(g, "gamma", &cs, gam), constant(g, "beta", &cs, bet),
                           constant(g, "mean", &cs, mean), constant(g, "var", &cs, var)};
    node(g, "BatchNormalization", "bn", bin, 5, y1);
    node(g, "Relu", "relu", &y1, 1, y);
    nn_graph_add_output(g, y, &d);
    nn_value before = run_graph(g, &xs, 9);
    nn_pass_stats st;
    CHECK_STATUS(nn_graph_run_pass(g, "bn", NULL, &st, &d), NN_OK);
    CHECK_EQ_INT(st.nodes_fused, 1);
    CHECK_EQ_INT(count_op(g, "BatchNormalization"), 0);
    CHECK_EQ_INT(g->node_count, 2);
    CHECK(strcmp(g->nodes[0].origin, "conv,bn") == 0);
    CHECK_STATUS(nn_graph_run_pass(g, "bn", NULL, &st, &d), NN_OK);
    CHECK(stats_zero(&st));
    nn_value after = run_graph(g, &xs, 9);
    check_same(&before, &after, with_bias ? "Conv+bias+BN folded" : "Conv+BN folded");
    free(before.data);
    free(after.data);
    nn_graph_destroy(g);
}

/* ConvTranspose (group 1) and Gemm (plain and transB) -> BatchNormalization:
   the per-channel axis of W differs in each. */
static void test_bn_other(int kind) {
    nn_graph *g = new_graph();
    int64_t four = 4, d2[2] = {2, 5}, wd[2] = {kind == 2 ? 4 : 5, kind == 2 ? 5 : 4}, yd[2] = {2, 4};
    nn_shape cs = nn_shape_make(1, &four);
    nn_shape xs = kind == 0 ? shape4(1, 3, 4, 4) : nn_shape_make(2, d2);
    nn_shape ws = kind == 0 ? shape4(3, 4, 3, 3) : nn_shape_make(2, wd);
    nn_shape ys = kind == 0 ? shape4(1, 4, 6, 6) : nn_shape_make(2, yd);
    float w[108], b[4], gam[4], bet[4], mean[4], var[4];
    fill(w, 108, 13);
    fill(b, 4, 14);
    fill(gam, 4, 15);
    fill(bet, 4, 16);
    fill(mean, 4, 17);
    fill(var, 4, 18);
    for (int i = 0; i < 4; i++) var[i] = var[i] * var[i] + 0.1f;
    nn_diag d = {0};
    nn_tensor_id x = tensor(g, "x", &xs), y0 = tensor(g, "p_out", &ys), y = tensor(g, "y", &ys);
    nn_graph_add_input(g, x, &d);
    nn_tensor_id pin[3] = {x, constant(g, "W", &ws, w), constant(g, "B", &cs, b)};
    nn_node_id pn = node(g, kind == 0 ? "ConvTranspose" : "Gemm", "p", pin, 3, y0);
    if (kind == 2) {
        nn_attr a;
        memset(&a, 0, sizeof a);
        a.name = "transB";
        a.type = NN_ATTR_INT;
        a.i = 1;
        CHECK_STATUS(nn_graph_add_attr(g, pn, &a, 0, &d), NN_OK);
    }
    nn_tensor_id bin[5] = {y0, constant(g, "gamma", &cs, gam), constant(g, "beta", &cs, bet),
                           constant(g, "mean", &cs, mean), constant(g, "var", &cs, var)};
    node(g, "BatchNormalization", "bn", bin, 5, y);
    nn_graph_add_output(g, y, &d);
    nn_value before = run_graph(g, &xs, 19);
    nn_pass_stats st;
    CHECK_STATUS(nn_graph_run_pass(g, "bn", NULL, &st, &d), NN_OK);
    CHECK_EQ_INT(st.nodes_fused, 1);
    CHECK_EQ_INT(g->node_count, 1);
    nn_value after = run_graph(g, &xs, 19);
    check_same(&before, &after, kind == 0 ? "ConvTranspose+BN folded" : kind == 1 ? "Gemm+BN folded" : "Gemm(transB)+BN folded");
    free(before.data);
    free(after.data);
    nn_graph_destroy(g);
}

/* A cycle and a dangling input: every pass refuses, the graph unchanged. */
static void test_malformed(void) {
    for (int kind = 0; kind < 2; kind++) {
        nn_graph *g = new_graph();
        nn_shape s = shape4(1, 1, 1, 2);
        nn_diag d = {0};
        nn_tensor_id x = tensor(g, "x", &s), a = tensor(g, "a", &s), b = tensor(g, "b", &s), y = tensor(g, "y", &s);
        nn_tensor_id ghost = tensor(g, "ghost", &s);
        nn_graph_add_input(g, x, &d);
        nn_tensor_id in[2] = {x, kind == 0 ? b : ghost};
        node(g, "Add", "add", in, 2, a);
        node(g, "Identity", "id", &a, 1, b); /* kind 0: b feeds add: a cycle */
        node(g, "Relu", "relu", &b, 1, y);
        node(g, "Identity", "spare", &x, 1, tensor(g, "spare_out", &s));
        nn_graph_add_output(g, y, &d);
        for (size_t p = 0; nn_pass_at(p); p++) {
            memset(&d, 0, sizeof d);
            CHECK_STATUS(nn_graph_run_pass(g, nn_pass_at(p)->name, NULL, NULL, &d), NN_ERR_INVALID);
            CHECK_EQ_INT(g->node_count, 4);
            CHECK(strcmp(g->nodes[1].op_type, "Identity") == 0 && g->nodes[1].inputs[0].id == a.id);
        }
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_graph_run_pass(g, "nope", NULL, NULL, &d), NN_ERR_ARG);
        nn_graph_destroy(g);
    }
}

/* A real model: the default pass list on fixed shapes, outputs compared. */
static void test_model(const char *path, nn_shape in_shape, int expect_no_bn) {
    nn_graph *g0, *g1;
    nn_diag d = {0};
    if (nn_onnx_load_file(path, NULL, &g0, &d) != NN_OK) { printf("  skip %s (not present)\n", path); return; }
    CHECK_STATUS(nn_onnx_load_file(path, NULL, &g1, &d), NN_OK);
    nn_input_shape is = {g1->tensors[g1->inputs[0].id].name, in_shape};
    CHECK_STATUS(nn_graph_infer_shapes(g1, &is, 1, &d), NN_OK);
    nn_pass_stats st;
    CHECK_STATUS(nn_graph_run_passes(g1, DEFAULT_PASSES, NULL, &st, &d), NN_OK);
    if (d.status) fprintf(stderr, "%s: %s: %s\n", path, d.where, d.message);
    nn_graph_stats s0, s1;
    nn_graph_get_stats(g0, &s0);
    nn_graph_get_stats(g1, &s1);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    printf("  %-34s nodes %u -> %u, BatchNormalization %u -> %u, params %llu -> %llu\n", base, g0->node_count,
           g1->node_count, count_op(g0, "BatchNormalization"), count_op(g1, "BatchNormalization"),
           (unsigned long long)s0.param_count, (unsigned long long)s1.param_count);
    CHECK(g1->node_count < g0->node_count);
    if (expect_no_bn) CHECK_EQ_INT(count_op(g1, "BatchNormalization"), 0);
    CHECK_STATUS(nn_graph_run_passes(g1, DEFAULT_PASSES, NULL, &st, &d), NN_OK);
    CHECK(stats_zero(&st)); /* idempotent */
    nn_value a = run_graph(g0, &in_shape, 11), b = run_graph(g1, &in_shape, 11);
    check_same(&a, &b, base);
    free(a.data);
    free(b.data);
    nn_graph_destroy(g0);
    nn_graph_destroy(g1);
}

int main(void) {
    test_identity();
    test_dce_and_fold();
    test_bn(1);
    test_bn(0);
    for (int k = 0; k < 3; k++) test_bn_other(k);
    test_malformed();
    const char *home = getenv("HOME");
    char p[512];
    snprintf(p, sizeof p, "%s/.cache/nnport/npm/package/assets/ch_PP-OCRv4_det_infer.onnx", home ? home : ".");
    test_model(p, shape4(1, 3, 96, 96), 0); /* one BN follows ConvTranspose + Add(bias) */
    snprintf(p, sizeof p, "%s/.cache/nnport/npm/package/assets/ch_PP-OCRv4_rec_infer.onnx", home ? home : ".");
    test_model(p, shape4(1, 3, 48, 96), 0);
    snprintf(p, sizeof p, "%s/.cache/nnport/npm/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx", home ? home : ".");
    test_model(p, shape4(1, 3, 48, 192), 1);
    snprintf(p, sizeof p, "%s/.cache/nnport/models/mobilenet_v2_bn_op13.onnx", home ? home : ".");
    test_model(p, shape4(1, 3, 224, 224), 1);
    return check_summary();
}
