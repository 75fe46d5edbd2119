/* test_quant_algos.c - the float-side algorithms of nn_quant.h: cross-layer
   equalization (Nagel et al. 2019, sec. 4.1) and SmoothQuant (Xiao et al.
   2023, eq. 4) on hand-built graphs.  Both must leave the float outputs
   unchanged (checked through the reference executor against the original
   graph), move the ranges as computed by hand in the comments, converge
   (a second CLE call changes nothing), and refuse malformed graphs with the
   graph untouched. */
#include "nn_graph.h"
#include "nn_quant.h"
#include "check.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static nn_shape shp(int32_t r, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t dims[4] = {a, b, c, d};
    return nn_shape_make(r, dims);
}

static nn_tensor_id tensor(nn_graph *g, const char *name, nn_shape s) {
    nn_tensor_id t;
    nn_diag d = {0};
    CHECK_STATUS(nn_graph_add_tensor(g, name, NN_DTYPE_FLOAT, &s, &t, &d), NN_OK);
    return t;
}

static nn_tensor_id constant(nn_graph *g, const char *name, nn_shape s, const float *v) {
    nn_tensor_id t = tensor(g, name, s);
    nn_diag d = {0};
    CHECK_STATUS(nn_graph_set_data(g, t, v, nn_shape_count(&s, NULL) * sizeof(float), 1, &d), NN_OK);
    return t;
}

static nn_node_id node(nn_graph *g, const char *op, const char *name, const nn_tensor_id *in, uint32_t nin,
                       nn_tensor_id out) {
    nn_node_id n;
    nn_diag d = {0};
    CHECK_STATUS(nn_graph_add_node(g, op, "", name, in, nin, &out, 1, &n, &d), NN_OK);
    return n;
}

static void attr_int(nn_graph *g, nn_node_id n, const char *name, int64_t v) {
    nn_attr a;
    nn_diag d = {0};
    memset(&a, 0, sizeof a);
    a.name = name;
    a.type = NN_ATTR_INT;
    a.i = v;
    CHECK_STATUS(nn_graph_add_attr(g, n, &a, 0, &d), NN_OK);
}

static void attr_ints(nn_graph *g, nn_node_id n, const char *name, const int64_t *v, uint32_t count) {
    nn_attr a;
    nn_diag d = {0};
    memset(&a, 0, sizeof a);
    a.name = name;
    a.type = NN_ATTR_INTS;
    a.ints = v;
    a.count = count;
    CHECK_STATUS(nn_graph_add_attr(g, n, &a, 0, &d), NN_OK);
}

static nn_graph *new_graph(void) {
    nn_graph *g;
    nn_diag d = {0};
    CHECK_STATUS(nn_graph_create(NULL, &g, &d), NN_OK);
    nn_graph_set_opset(g, "", 17, &d);
    return g;
}

static void fill(float *v, size_t n, uint32_t seed, float scale) {
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = scale * ((float)((s >> 8) & 0xFFFF) / 32768.0f - 1.0f);
    }
}

/* Output 0 of g on input x, as a malloc'd float copy (count in *n). */
static float *run(const nn_graph *g, const nn_value *x, size_t *n) {
    nn_exec *e;
    nn_diag d = {0};
    float *r = NULL;
    *n = 0;
    if (nn_exec_create(g, NULL, &e, &d) != NN_OK) { fprintf(stderr, "exec: %s\n", d.message); return NULL; }
    if (nn_exec_set_input(e, 0, x, &d) == NN_OK && nn_exec_run(e, &d) == NN_OK) {
        const nn_value *y = nn_exec_output(e, 0);
        *n = nn_value_count(y);
        r = (float *)malloc(*n * sizeof(float) + 1);
        memcpy(r, y->data, *n * sizeof(float));
    } else {
        fprintf(stderr, "run: %s %s\n", d.where, d.message);
    }
    nn_exec_destroy(e);
    return r;
}

/* |a - b| <= rel * max|a| element-wise. */
static void check_same(const float *a, const float *b, size_t n, double rel, const char *what) {
    double peak = 0, worst = 0;
    size_t i;
    CHECK(a && b && n);
    if (!a || !b) return;
    for (i = 0; i < n; i++) if (fabs(a[i]) > peak) peak = fabs(a[i]);
    for (i = 0; i < n; i++) if (fabs(a[i] - b[i]) > worst) worst = fabs(a[i] - b[i]);
    if (worst > rel * peak) fprintf(stderr, "%s: max diff %g (peak %g)\n", what, worst, peak);
    CHECK(worst <= rel * peak);
}

static const float *data_of(const nn_graph *g, const char *name) {
    nn_tensor_id t = nn_graph_find_tensor(g, name);
    return t.id == NN_INVALID_ID ? NULL : (const float *)g->tensors[t.id].data;
}

/* ---- CLE: the two-channel example by hand ----
   x (1,1,2,2) -> Conv W1 (2,1,1,1) = [4, 0.5], B1 = [1, -2] -> Relu
               -> Conv W2 (1,2,1,1) = [1, 2] -> y
   r1 = (4, 0.5) (output channels of W1), r2 = (1, 2) (input channels of W2)
   s_i = sqrt(r1_i r2_i) / r2_i = (sqrt(4)/1, sqrt(1)/2) = (2, 0.5)
   W1' = W1 / s = (2, 1), B1' = B1 / s = (0.5, -4), W2' = W2 * s = (2, 1):
   both layers' channel ranges become the geometric means (2, 1). */
static void test_cle_by_hand(void) {
    nn_graph *g = new_graph();
    nn_diag d = {0};
    const float w1[2] = {4, 0.5f}, b1[2] = {1, -2}, w2[2] = {1, 2}, xv[4] = {1, -0.25f, 2, 3};
    nn_tensor_id x = tensor(g, "x", shp(4, 1, 1, 2, 2)), h = tensor(g, "h", shp(4, 1, 2, 2, 2));
    nn_tensor_id r = tensor(g, "r", shp(4, 1, 2, 2, 2)), y = tensor(g, "y", shp(4, 1, 1, 2, 2));
    nn_tensor_id in1[3] = {x, constant(g, "W1", shp(4, 2, 1, 1, 1), w1), constant(g, "B1", shp(1, 2, 0, 0, 0), b1)};
    nn_tensor_id in2[2] = {r, constant(g, "W2", shp(4, 1, 2, 1, 1), w2)};
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    node(g, "Conv", "c1", in1, 3, h);
    node(g, "Relu", "relu", &h, 1, r);
    node(g, "Conv", "c2", in2, 2, y);
    nn_value xval = nn_value_make(NN_DTYPE_FLOAT, shp(4, 1, 1, 2, 2), (void *)xv);
    size_t n0, n1;
    float *before = run(g, &xval, &n0);
    nn_quant_cle_pair pr[2];
    nn_quant_cle_desc cd = {.pairs = pr, .pair_cap = 2};
    nn_quant_cle_stats st;
    CHECK_STATUS(nn_quant_equalize(g, &cd, &st, &d), NN_OK);
    CHECK_EQ_INT(st.pairs, 1);
    const float *W1 = data_of(g, "W1"), *B1 = data_of(g, "B1"), *W2 = data_of(g, "W2");
    CHECK_NEAR(W1[0], 2.0, 1e-6);
    CHECK_NEAR(W1[1], 1.0, 1e-6);
    CHECK_NEAR(B1[0], 0.5, 1e-6);
    CHECK_NEAR(B1[1], -4.0, 1e-6);
    CHECK_NEAR(W2[0], 2.0, 1e-6);
    CHECK_NEAR(W2[1], 1.0, 1e-6);
    /* spreads: W1 4/0.5 = 8 -> 2/1 = 2; W2 2/1 = 2 -> 2 */
    CHECK_NEAR(pr[0].spread1_before, 8.0, 1e-9);
    CHECK_NEAR(pr[0].spread1_after, 2.0, 1e-6);
    CHECK_NEAR(pr[0].spread2_before, 2.0, 1e-9);
    CHECK_NEAR(pr[0].spread2_after, 2.0, 1e-6);
    float *after = run(g, &xval, &n1);
    CHECK_EQ_INT(n0, n1);
    check_same(before, after, n0, 1e-6, "cle by hand");
    free(before);
    free(after);
    nn_graph_destroy(g);
}

/* conv 3x3 (3 -> 6) -> act -> depthwise 3x3 (6, pad 1) -> Relu -> conv 1x1
   (6 -> 4), channel ranges made uneven (x 10^(c % 3)).  act: 0 Relu, 1
   Clip(0, 6). */
static nn_graph *chain_graph(int act) {
    nn_graph *g = new_graph();
    nn_diag d = {0};
    float w1[6 * 3 * 9], b1[6], wd[6 * 9], bd[6], w3[4 * 6], lo = 0, hi = 6;
    int c, k;
    fill(w1, 6 * 27, 1, 1);
    fill(b1, 6, 2, 1);
    fill(wd, 54, 3, 1);
    fill(bd, 6, 4, 1);
    fill(w3, 24, 5, 1);
    for (c = 0; c < 6; c++) {
        float m = c % 3 == 0 ? 1 : c % 3 == 1 ? 10 : 0.1f;
        for (k = 0; k < 27; k++) w1[c * 27 + k] *= m;
        for (k = 0; k < 9; k++) wd[c * 9 + k] *= 1 / m;
    }
    nn_tensor_id x = tensor(g, "x", shp(4, 1, 3, 8, 8)), h1 = tensor(g, "h1", shp(4, 1, 6, 6, 6));
    nn_tensor_id a1 = tensor(g, "a1", shp(4, 1, 6, 6, 6)), h2 = tensor(g, "h2", shp(4, 1, 6, 6, 6));
    nn_tensor_id a2 = tensor(g, "a2", shp(4, 1, 6, 6, 6)), y = tensor(g, "y", shp(4, 1, 4, 6, 6));
    nn_tensor_id in1[3] = {x, constant(g, "W1", shp(4, 6, 3, 3, 3), w1), constant(g, "B1", shp(1, 6, 0, 0, 0), b1)};
    nn_tensor_id ind[3] = {a1, constant(g, "Wd", shp(4, 6, 1, 3, 3), wd), constant(g, "Bd", shp(1, 6, 0, 0, 0), bd)};
    nn_tensor_id in3[2] = {a2, constant(g, "W3", shp(4, 4, 6, 1, 1), w3)};
    const int64_t pads[4] = {1, 1, 1, 1};
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    node(g, "Conv", "c1", in1, 3, h1);
    if (act == 1) {
        nn_tensor_id ci[3] = {h1, constant(g, "lo", shp(0, 0, 0, 0, 0), &lo), constant(g, "hi", shp(0, 0, 0, 0, 0), &hi)};
        node(g, "Clip", "clip", ci, 3, a1);
    } else {
        node(g, "Relu", "r1", &h1, 1, a1);
    }
    nn_node_id dw = node(g, "Conv", "dw", ind, 3, h2);
    attr_int(g, dw, "group", 6);
    attr_ints(g, dw, "pads", pads, 4);
    node(g, "Relu", "r2", &h2, 1, a2);
    node(g, "Conv", "c3", in3, 2, y);
    return g;
}

static nn_value chain_input(float *buf, float scale) {
    fill(buf, 3 * 64, 9, scale);
    return nn_value_make(NN_DTYPE_FLOAT, shp(4, 1, 3, 8, 8), buf);
}

static void test_cle_chain(void) {
    nn_graph *g = chain_graph(0);
    nn_diag d = {0};
    float xb[3 * 64], w1[6 * 27], wd[54], w3[24];
    nn_value x = chain_input(xb, 1);
    size_t n0, n1, i;
    float *before = run(g, &x, &n0);
    nn_quant_cle_pair pr[4];
    nn_quant_cle_desc cd = {.pairs = pr, .pair_cap = 4};
    nn_quant_cle_stats st;
    CHECK_STATUS(nn_quant_equalize(g, &cd, &st, &d), NN_OK);
    CHECK_EQ_INT(st.pairs, 2);                   /* c1 -> dw and dw -> c3 */
    CHECK(st.rounds > 1 && st.last_max_change < 1e-7);
    CHECK(pr[0].spread1_before > 50 && pr[0].spread1_after < pr[0].spread1_before / 10);
    float *after = run(g, &x, &n1);
    CHECK_EQ_INT(n0, n1);
    check_same(before, after, n0, 1e-5, "cle chain");
    /* converged: a second call moves ranges by < 1e-6 relative */
    memcpy(w1, data_of(g, "W1"), sizeof w1);
    memcpy(wd, data_of(g, "Wd"), sizeof wd);
    memcpy(w3, data_of(g, "W3"), sizeof w3);
    nn_quant_cle_desc one = {.rounds = 1};
    CHECK_STATUS(nn_quant_equalize(g, &one, &st, &d), NN_OK);
    CHECK_EQ_INT(st.pairs, 2);
    CHECK(st.last_max_change < 1e-6);
    double worst = 0;
    const float *n_w1 = data_of(g, "W1"), *n_wd = data_of(g, "Wd"), *n_w3 = data_of(g, "W3");
    for (i = 0; i < 162; i++) worst = fmax(worst, fabs(n_w1[i] - w1[i]) / fmax(fabs(w1[i]), 1e-30));
    for (i = 0; i < 54; i++) worst = fmax(worst, fabs(n_wd[i] - wd[i]) / fmax(fabs(wd[i]), 1e-30));
    for (i = 0; i < 24; i++) worst = fmax(worst, fabs(n_w3[i] - w3[i]) / fmax(fabs(w3[i]), 1e-30));
    CHECK(worst < 1e-6);
    free(before);
    free(after);
    nn_graph_destroy(g);
}

static uint32_t count_op(const nn_graph *g, const char *op) {
    uint32_t k = 0, i;
    for (i = 0; i < g->node_count; i++) k += strcmp(g->nodes[i].op_type, op) == 0;
    return k;
}

/* ReLU6 between the convs: SKIP leaves the pair alone, VECTOR stays exact
   (inputs scaled so that many activations exceed 6), RELU drops the bound. */
static void test_cle_clip(void) {
    float xb[3 * 64];
    nn_value x = chain_input(xb, 8);
    nn_diag d = {0};
    nn_quant_cle_stats st;
    size_t n0, n1;
    nn_graph *g = chain_graph(1);
    float *before = run(g, &x, &n0), *after;
    const float *w1 = data_of(g, "W1");
    nn_quant_cle_desc skip = {0};
    CHECK_STATUS(nn_quant_equalize(g, &skip, &st, &d), NN_OK);
    CHECK_EQ_INT(st.pairs, 1);                   /* dw -> c3 only */
    CHECK_EQ_INT(st.skipped_clip, 1);
    CHECK(data_of(g, "W1") == w1);               /* c1 untouched */
    nn_graph_destroy(g);

    g = chain_graph(1);
    nn_quant_cle_pair pr[2];
    nn_quant_cle_desc vec = {.clip = NN_QUANT_CLE_CLIP_VECTOR, .pairs = pr, .pair_cap = 2};
    CHECK_STATUS(nn_quant_equalize(g, &vec, &st, &d), NN_OK);
    CHECK_EQ_INT(st.pairs, 2);
    /* node ids in the report refer to the rewritten (re-sorted) graph */
    CHECK(pr[0].first < g->node_count && strcmp(g->nodes[pr[0].first].name, "c1") == 0);
    CHECK(pr[0].second < g->node_count && strcmp(g->nodes[pr[0].second].name, "dw") == 0);
    CHECK(pr[0].act < g->node_count && strcmp(g->nodes[pr[0].act].op_type, "Relu") == 0);
    CHECK(pr[1].second < g->node_count && strcmp(g->nodes[pr[1].second].name, "c3") == 0);
    CHECK_EQ_INT(st.clips_rewritten, 1);
    CHECK_EQ_INT(count_op(g, "Clip"), 0);
    CHECK_EQ_INT(count_op(g, "Min"), 1);
    after = run(g, &x, &n1);
    CHECK_EQ_INT(n0, n1);
    check_same(before, after, n0, 1e-5, "cle clip vector");
    free(after);
    nn_graph_destroy(g);

    g = chain_graph(1);
    nn_quant_cle_desc relu = {.clip = NN_QUANT_CLE_CLIP_RELU};
    CHECK_STATUS(nn_quant_equalize(g, &relu, &st, &d), NN_OK);
    CHECK_EQ_INT(st.pairs, 2);
    CHECK_EQ_INT(count_op(g, "Clip"), 0);
    CHECK_EQ_INT(count_op(g, "Relu"), 2);
    nn_graph_destroy(g);
    free(before);
}

/* A second conv reading 3 channels from a conv writing 2 (an inconsistent
   graph): NN_ERR_SHAPE, nothing rewritten.  A cycle: NN_ERR_INVALID. */
static void test_cle_malformed(void) {
    nn_graph *g = new_graph();
    nn_diag d = {0};
    const float w1[2] = {4, 0.5f}, w2[3] = {1, 2, 3};
    nn_tensor_id x = tensor(g, "x", shp(4, 1, 1, 2, 2)), h = tensor(g, "h", shp(4, 1, 2, 2, 2));
    nn_tensor_id y = tensor(g, "y", shp(4, 1, 1, 2, 2));
    nn_tensor_id in1[2] = {x, constant(g, "W1", shp(4, 2, 1, 1, 1), w1)};
    nn_tensor_id in2[2] = {h, constant(g, "W2", shp(4, 1, 3, 1, 1), w2)};
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    node(g, "Conv", "c1", in1, 2, h);
    node(g, "Conv", "c2", in2, 2, y);
    const float *p1 = data_of(g, "W1"), *p2 = data_of(g, "W2");
    nn_quant_cle_stats st = {.pairs = 77};
    CHECK_STATUS(nn_quant_equalize(g, NULL, &st, &d), NN_ERR_SHAPE);
    CHECK(d.message[0] != 0);
    CHECK_EQ_INT(st.pairs, 77);                  /* outputs untouched on failure */
    CHECK(data_of(g, "W1") == p1 && data_of(g, "W2") == p2);
    CHECK(p1[0] == 4.0f && p1[1] == 0.5f && p2[2] == 3.0f);
    nn_graph_destroy(g);

    /* a -> Relu -> b -> Relu -> a */
    g = new_graph();
    nn_diag d2 = {0};
    nn_tensor_id a = tensor(g, "a", shp(1, 2, 0, 0, 0)), b = tensor(g, "b", shp(1, 2, 0, 0, 0));
    node(g, "Relu", "r1", &a, 1, b);
    node(g, "Relu", "r2", &b, 1, a);
    nn_graph_add_output(g, b, &d2);
    CHECK_STATUS(nn_quant_equalize(g, NULL, NULL, &d2), NN_ERR_INVALID);
    CHECK_EQ_INT(g->node_count, 2);
    nn_graph_destroy(g);
}

/* ---- SmoothQuant by hand ----
   x (2,3) = [[1,-2,3],[-4,0.5,1]] -> MatMul A = diag(1, 10, 0.5) -> Add
   b = (1,-1,0.5) -> Y -> MatMul W (3,2) = [[1,2],[-0.5,0.25],[4,1]] -> out
   Y = [[2,-21,2],[-3,4,1]]: max|Y_j| = (3, 21, 2); max|W_j| = (2, 0.5, 4)
   alpha 0.5: s_j = sqrt(max|Y_j| / max|W_j|) = (sqrt 1.5, sqrt 42, sqrt 0.5)
   after: max|Y_j| / s_j = sqrt(max|Y_j| max|W_j|) = (sqrt 6, sqrt 10.5, sqrt 8);
   the absorber is the MatMul + Add (A's columns and b divided by s).
   outlier ratio max/median: before 21/3 = 7, after sqrt10.5/sqrt8 = 1.1456. */
static nn_graph *smooth_graph(void) {
    nn_graph *g = new_graph();
    nn_diag d = {0};
    const float A[9] = {1, 0, 0, 0, 10, 0, 0, 0, 0.5f}, b[3] = {1, -1, 0.5f}, W[6] = {1, 2, -0.5f, 0.25f, 4, 1};
    nn_tensor_id x = tensor(g, "x", shp(2, 2, 3, 0, 0)), m = tensor(g, "m", shp(2, 2, 3, 0, 0));
    nn_tensor_id Y = tensor(g, "Y", shp(2, 2, 3, 0, 0)), o = tensor(g, "o", shp(2, 2, 2, 0, 0));
    nn_tensor_id i1[2] = {x, constant(g, "A", shp(2, 3, 3, 0, 0), A)};
    nn_tensor_id i2[2] = {m, constant(g, "b", shp(1, 3, 0, 0, 0), b)};
    nn_tensor_id i3[2] = {Y, constant(g, "W", shp(2, 3, 2, 0, 0), W)};
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, o, &d);
    node(g, "MatMul", "mm0", i1, 2, m);
    node(g, "Add", "add0", i2, 2, Y);
    node(g, "MatMul", "mm1", i3, 2, o);
    return g;
}

static void test_smooth_by_hand(void) {
    nn_graph *g = smooth_graph();
    nn_diag d = {0};
    const float xv[6] = {1, -2, 3, -4, 0.5f, 1};
    nn_value x = nn_value_make(NN_DTYPE_FLOAT, shp(2, 2, 3, 0, 0), (void *)xv);
    nn_quant_smooth_stats st;
    size_t n0, n1;
    float *before = run(g, &x, &n0);
    uint32_t Y = nn_graph_find_tensor(g, "Y").id;
    CHECK_STATUS(nn_quant_smooth_stats_init(&st, g, NULL, &d), NN_OK);
    CHECK_STATUS(nn_quant_smooth_stats_collect(&st, &x, 1, NULL, &d), NN_OK);
    CHECK(st.chmax[Y] != NULL && st.channels[Y] == 3);
    CHECK_NEAR(st.chmax[Y][0], 3, 1e-6);
    CHECK_NEAR(st.chmax[Y][1], 21, 1e-6);
    CHECK_NEAR(st.chmax[Y][2], 2, 1e-6);
    nn_quant_smooth_layer lay[4];
    nn_quant_smooth_desc sd = {.alpha = 0.5, .threshold = 2, .layers = lay, .layer_cap = 4};
    nn_quant_smooth_report rep;
    CHECK_STATUS(nn_quant_smooth(g, &st, &sd, &rep, &d), NN_OK);
    CHECK_EQ_INT(rep.smoothed, 1);               /* Y; x (ratio 4/3 < 2) stays */
    CHECK_EQ_INT(rep.below_threshold, 1);
    uint32_t k, found = 0;
    for (k = 0; k < rep.candidates && k < 4; k++)
        if (lay[k].tensor == Y) {
            found = 1;
            CHECK(lay[k].smoothed);
            CHECK_NEAR(lay[k].ratio_before, 7.0, 1e-6);
            CHECK_NEAR(lay[k].ratio_after, sqrt(10.5) / sqrt(8.0), 1e-6);
        }
    CHECK(found);
    const float *b = data_of(g, "b");
    CHECK_NEAR(b[1], -1.0 / sqrt(42.0), 1e-6);
    nn_quant_smooth_stats_deinit(&st);
    float *after = run(g, &x, &n1);
    CHECK_EQ_INT(n0, n1);
    check_same(before, after, n0, 1e-6, "smooth by hand");
    /* re-collected: the activation channel max divided by s */
    CHECK_STATUS(nn_quant_smooth_stats_init(&st, g, NULL, &d), NN_OK);
    CHECK_STATUS(nn_quant_smooth_stats_collect(&st, &x, 1, NULL, &d), NN_OK);
    CHECK_NEAR(st.chmax[Y][0], sqrt(6.0), 1e-5);
    CHECK_NEAR(st.chmax[Y][1], sqrt(10.5), 1e-5);
    CHECK_NEAR(st.chmax[Y][2], sqrt(8.0), 1e-5);
    nn_quant_smooth_stats_deinit(&st);
    free(before);
    free(after);
    nn_graph_destroy(g);
}

/* LayerNormalization -> two MatMuls (Q and K style) with an outlier
   channel; then a graph input read by a MatMul (no absorber: refused
   unless insert_mul). */
static void test_smooth_layernorm_and_mul(void) {
    nn_graph *g = new_graph();
    nn_diag d = {0};
    float gam[8], bet[8], w1[8 * 5], w2[8 * 3], xv[4 * 8];
    fill(gam, 8, 11, 1);
    fill(bet, 8, 12, 0.5f);
    gam[3] = 40;                                 /* the outlier channel */
    fill(w1, 40, 13, 1);
    fill(w2, 24, 14, 1);
    fill(xv, 32, 15, 3);
    nn_tensor_id x = tensor(g, "x", shp(3, 1, 4, 8, 0)), n = tensor(g, "n", shp(3, 1, 4, 8, 0));
    nn_tensor_id o1 = tensor(g, "o1", shp(3, 1, 4, 5, 0)), o2 = tensor(g, "o2", shp(3, 1, 4, 3, 0));
    nn_tensor_id o = tensor(g, "o", shp(3, 1, 4, 8, 0));
    nn_tensor_id li[3] = {x, constant(g, "gamma", shp(1, 8, 0, 0, 0), gam), constant(g, "beta", shp(1, 8, 0, 0, 0), bet)};
    nn_tensor_id m1[2] = {n, constant(g, "W1", shp(2, 8, 5, 0, 0), w1)};
    nn_tensor_id m2[2] = {n, constant(g, "W2", shp(2, 8, 3, 0, 0), w2)};
    nn_tensor_id cat[2] = {o1, o2};
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, o, &d);
    nn_node_id ln = node(g, "LayerNormalization", "ln", li, 3, n);
    attr_int(g, ln, "axis", -1);
    node(g, "MatMul", "q", m1, 2, o1);
    node(g, "MatMul", "k", m2, 2, o2);
    nn_node_id c = node(g, "Concat", "cat", cat, 2, o);
    attr_int(g, c, "axis", -1);
    nn_value xval = nn_value_make(NN_DTYPE_FLOAT, shp(3, 1, 4, 8, 0), xv);
    size_t n0, n1;
    float *before = run(g, &xval, &n0);
    nn_quant_smooth_stats st;
    nn_quant_smooth_layer lay[2];
    nn_quant_smooth_desc sd = {.layers = lay, .layer_cap = 2};
    nn_quant_smooth_report rep;
    CHECK_STATUS(nn_quant_smooth_stats_init(&st, g, NULL, &d), NN_OK);
    CHECK_STATUS(nn_quant_smooth_stats_collect(&st, &xval, 1, NULL, &d), NN_OK);
    CHECK_STATUS(nn_quant_smooth(g, &st, &sd, &rep, &d), NN_OK);
    CHECK_EQ_INT(rep.smoothed, 1);
    CHECK_EQ_INT(lay[0].consumers, 2);
    CHECK(lay[0].ratio_after < lay[0].ratio_before);
    CHECK(lay[0].absorber != NN_INVALID_ID && strcmp(g->nodes[lay[0].absorber].op_type, "LayerNormalization") == 0);
    nn_quant_smooth_stats_deinit(&st);
    float *after = run(g, &xval, &n1);
    check_same(before, after, n0, 1e-5, "smooth layernorm");
    free(before);
    free(after);
    nn_graph_destroy(g);

    /* x -> MatMul: nothing absorbs 1/s */
    g = new_graph();
    nn_tensor_id x2 = tensor(g, "x", shp(2, 4, 8, 0, 0)), y2 = tensor(g, "y", shp(2, 4, 5, 0, 0));
    nn_tensor_id mi[2] = {x2, constant(g, "W", shp(2, 8, 5, 0, 0), w1)};
    nn_graph_add_input(g, x2, &d);
    nn_graph_add_output(g, y2, &d);
    node(g, "MatMul", "mm", mi, 2, y2);
    xv[5] = 60;                                  /* an outlier in channel 5 */
    nn_value xv2 = nn_value_make(NN_DTYPE_FLOAT, shp(2, 4, 8, 0, 0), xv);
    before = run(g, &xv2, &n0);
    CHECK_STATUS(nn_quant_smooth_stats_init(&st, g, NULL, &d), NN_OK);
    CHECK_STATUS(nn_quant_smooth_stats_collect(&st, &xv2, 1, NULL, &d), NN_OK);
    CHECK_NEAR(st.chmax[x2.id][5], 60, 0);       /* graph inputs are observed too */
    nn_quant_smooth_desc plain = {0};
    CHECK_STATUS(nn_quant_smooth(g, &st, &plain, &rep, &d), NN_OK);
    CHECK_EQ_INT(rep.no_absorber, 1);
    CHECK_EQ_INT(rep.smoothed, 0);
    nn_quant_smooth_desc ins = {.insert_mul = 1};
    CHECK_STATUS(nn_quant_smooth(g, &st, &ins, &rep, &d), NN_OK);
    CHECK_EQ_INT(rep.smoothed, 1);
    CHECK_EQ_INT(rep.muls_inserted, 1);
    CHECK_EQ_INT(count_op(g, "Mul"), 1);
    nn_quant_smooth_stats_deinit(&st);
    after = run(g, &xv2, &n1);
    check_same(before, after, n0, 1e-5, "smooth inserted mul");
    free(before);
    free(after);

    /* stats of another graph, bad alpha: NN_ERR_ARG */
    nn_graph *h = smooth_graph();
    nn_diag d2 = {0};
    CHECK_STATUS(nn_quant_smooth_stats_init(&st, h, NULL, &d2), NN_OK);
    CHECK_STATUS(nn_quant_smooth(g, &st, NULL, NULL, &d2), NN_ERR_ARG);
    nn_quant_smooth_desc bad = {.alpha = 1.5};
    nn_diag d3 = {0};
    CHECK_STATUS(nn_quant_smooth(h, &st, &bad, NULL, &d3), NN_ERR_ARG);
    nn_quant_smooth_stats_deinit(&st);
    nn_graph_destroy(h);
    nn_graph_destroy(g);
}

/* A LayerNorm decomposed below opset 17 ends in x_hat * gamma + beta (Mul,
   Add with per-channel constants): they absorb 1/s, so even with insert_mul
   no Mul is inserted.  By hand, K = 2, two tokens:
     x = [[1, -2], [3, 0.5]], gamma = [2, 8], beta = [0.5, -1]
     n = x * gamma + beta = [[2.5, -17], [6.5, 3]], max|n_j| = (6.5, 17)
     W = [[0.5, -0.25], [2, 1]], row maxima (0.5, 2)
     alpha 0.5: s = (sqrt(6.5 / 0.5), sqrt(17 / 2)) = (3.6055513, 2.9154759)
     gamma' = gamma / s = (0.5547002, 2.7439774)
     beta'  = beta / s  = (0.1386750, -0.3429972)
     W'     = diag(s) W = [[1.8027756, -0.9013878], [5.8309519, 2.9154759]] */
static void test_smooth_decomposed_layernorm(void) {
    nn_graph *g = new_graph();
    nn_diag d = {0};
    static const float gam[2] = {2, 8}, bet[2] = {0.5f, -1}, w[4] = {0.5f, -0.25f, 2, 1};
    static const float xv[4] = {1, -2, 3, 0.5f};
    nn_tensor_id x = tensor(g, "x", shp(3, 1, 2, 2, 0)), m = tensor(g, "m", shp(3, 1, 2, 2, 0));
    nn_tensor_id n = tensor(g, "n", shp(3, 1, 2, 2, 0)), o = tensor(g, "o", shp(3, 1, 2, 2, 0));
    nn_tensor_id mi[2] = {x, constant(g, "gamma", shp(1, 2, 0, 0, 0), gam)};
    nn_tensor_id ai[2] = {m, constant(g, "beta", shp(1, 2, 0, 0, 0), bet)};
    nn_tensor_id wi[2] = {n, constant(g, "W", shp(2, 2, 2, 0, 0), w)};
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, o, &d);
    node(g, "Mul", "ln_scale", mi, 2, m);
    node(g, "Add", "ln_shift", ai, 2, n);
    node(g, "MatMul", "mm", wi, 2, o);
    nn_value xval = nn_value_make(NN_DTYPE_FLOAT, shp(3, 1, 2, 2, 0), (void *)xv);
    size_t n0, n1;
    float *before = run(g, &xval, &n0);
    nn_quant_smooth_stats st;
    nn_quant_smooth_layer lay[2];
    nn_quant_smooth_desc sd = {.alpha = 0.5, .insert_mul = 1, .layers = lay, .layer_cap = 2};
    nn_quant_smooth_report rep;
    CHECK_STATUS(nn_quant_smooth_stats_init(&st, g, NULL, &d), NN_OK);
    CHECK_STATUS(nn_quant_smooth_stats_collect(&st, &xval, 1, NULL, &d), NN_OK);
    CHECK_STATUS(nn_quant_smooth(g, &st, &sd, &rep, &d), NN_OK);
    CHECK_EQ_INT(rep.smoothed, 1);
    CHECK_EQ_INT(rep.muls_inserted, 0);
    CHECK_EQ_INT(count_op(g, "Mul"), 1);
    CHECK(lay[0].absorber != NN_INVALID_ID && strcmp(g->nodes[lay[0].absorber].op_type, "Mul") == 0);
    CHECK_NEAR(data_of(g, "gamma")[0], 0.5547002, 1e-6);
    CHECK_NEAR(data_of(g, "gamma")[1], 2.7439774, 1e-6);
    CHECK_NEAR(data_of(g, "beta")[0], 0.1386750, 1e-6);
    CHECK_NEAR(data_of(g, "beta")[1], -0.3429972, 1e-6);
    CHECK_NEAR(data_of(g, "W")[0], 1.8027756, 1e-6);
    CHECK_NEAR(data_of(g, "W")[1], -0.9013878, 1e-6);
    CHECK_NEAR(data_of(g, "W")[2], 5.8309519, 1e-6);
    CHECK_NEAR(data_of(g, "W")[3], 2.9154759, 1e-6);
    nn_quant_smooth_stats_deinit(&st);
    float *after = run(g, &xval, &n1);
    check_same(before, after, n0, 1e-6, "smooth decomposed layernorm");
    free(before);
    free(after);
    nn_graph_destroy(g);
}

/* ViT style: LayerNormalization -> Transpose (1, 0, 2) -> MatMul; the
   Transpose keeps the channel axis last, so gamma/beta still absorb 1/s. */
static void test_smooth_through_transpose(void) {
    nn_graph *g = new_graph();
    nn_diag d = {0};
    float gam[6], bet[6], w[6 * 4], xv[2 * 3 * 6];
    const int64_t perm[3] = {1, 0, 2};
    fill(gam, 6, 21, 1);
    fill(bet, 6, 22, 1);
    gam[1] = 25;
    fill(w, 24, 23, 1);
    fill(xv, 36, 24, 2);
    nn_tensor_id x = tensor(g, "x", shp(3, 2, 3, 6, 0)), n = tensor(g, "n", shp(3, 2, 3, 6, 0));
    nn_tensor_id t = tensor(g, "t", shp(3, 3, 2, 6, 0)), o = tensor(g, "o", shp(3, 3, 2, 4, 0));
    nn_tensor_id li[3] = {x, constant(g, "gamma", shp(1, 6, 0, 0, 0), gam), constant(g, "beta", shp(1, 6, 0, 0, 0), bet)};
    nn_tensor_id mi[2] = {t, constant(g, "W", shp(2, 6, 4, 0, 0), w)};
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, o, &d);
    node(g, "LayerNormalization", "ln", li, 3, n);
    nn_node_id tp = node(g, "Transpose", "tp", &n, 1, t);
    attr_ints(g, tp, "perm", perm, 3);
    node(g, "MatMul", "mm", mi, 2, o);
    nn_value xval = nn_value_make(NN_DTYPE_FLOAT, shp(3, 2, 3, 6, 0), xv);
    size_t n0, n1;
    float *before = run(g, &xval, &n0);
    nn_quant_smooth_stats st;
    nn_quant_smooth_report rep;
    CHECK_STATUS(nn_quant_smooth_stats_init(&st, g, NULL, &d), NN_OK);
    CHECK_STATUS(nn_quant_smooth_stats_collect(&st, &xval, 1, NULL, &d), NN_OK);
    CHECK_STATUS(nn_quant_smooth(g, &st, NULL, &rep, &d), NN_OK);
    CHECK_EQ_INT(rep.smoothed, 1);
    CHECK(data_of(g, "gamma")[1] != 25.0f);
    nn_quant_smooth_stats_deinit(&st);
    float *after = run(g, &xval, &n1);
    check_same(before, after, n0, 1e-5, "smooth through transpose");
    free(before);
    free(after);
    nn_graph_destroy(g);
}

/* ---- quant_algos.h: bias correction, AdaRound, softmax bias ---- */

/* Ranges with threshold T for the named tensor. */
static void range_of(const nn_graph *g, nn_quant_range *r, const char *name, double t) {
    nn_tensor_id id = nn_graph_find_tensor(g, name);
    CHECK(id.id != NN_INVALID_ID);
    if (id.id == NN_INVALID_ID) return;
    r[id.id].valid = 1;
    r[id.id].threshold = t;
    r[id.id].min = -t;
    r[id.id].max = t;
}

/* x (1,2,1,4) -> Conv W (1,2,1,1) = [1.0, 0.3], no bias -> y -> Relu -> out.
   x channel 0 = [1,2,3,4], channel 1 = [10,20,30,40], input threshold 127:
   scale 1, so the quantized input equals x.  Per-channel weight scale
   s = max|w| / 127 = 1/127; 0.3 * 127 = 38.1 rounds to 38, so
   W~ = [1, 38/127] and the layer's mean error is
   e = (38/127 - 0.3) * E[x1] = (-0.1/127) * 25 = -0.0196850 (0.3 as the float
   0.3f: 38/127 - 0.3f = -7.874086e-4).  Bias correction must create a bias
   of -e = +0.019685 (LOCAL: (W~ - W) E[x^]; TOTAL: E[y_q] - E[y_f], the same
   here since x^ = x and there is no other error before the Relu). */
static nn_graph *bc_graph(void) {
    nn_graph *g = new_graph();
    nn_diag d = {0};
    static const float w[2] = {1.0f, 0.3f};
    nn_tensor_id x = tensor(g, "x", shp(4, 1, 2, 1, 4));
    nn_tensor_id wt = constant(g, "w", shp(4, 1, 2, 1, 1), w);
    nn_tensor_id y = tensor(g, "y", shp(4, 1, 1, 1, 4));
    nn_tensor_id o = tensor(g, "out", shp(4, 1, 1, 1, 4));
    nn_tensor_id ci[2] = {x, wt};
    CHECK_STATUS(nn_graph_add_input(g, x, &d), NN_OK);
    node(g, "Conv", "conv", ci, 2, y);
    node(g, "Relu", "relu", &y, 1, o);
    CHECK_STATUS(nn_graph_add_output(g, o, &d), NN_OK);
    return g;
}

static void test_bias_correction_by_hand(void) {
    static float xv[8] = {1, 2, 3, 4, 10, 20, 30, 40};
    const double expect = -((double)(38.0f / 127.0f) - (double)0.3f) * 25.0; /* -e, see bc_graph */
    for (int mode = 0; mode < 2; mode++) {
        nn_graph *g = bc_graph();
        nn_diag d = {0};
        nn_quant_range *r = (nn_quant_range *)calloc(g->tensor_count + 4, sizeof *r);
        nn_value xval = nn_value_make(NN_DTYPE_FLOAT, shp(4, 1, 2, 1, 4), xv);
        nn_quant_bc_desc bd;
        nn_quant_bc_report rep;
        nn_quant_bc_layer layer;
        range_of(g, r, "x", 127.0);
        range_of(g, r, "y", 16.0);
        range_of(g, r, "out", 16.0);
        memset(&bd, 0, sizeof bd);
        bd.min_layer_cos = 1.0; /* every layer */
        bd.mode = mode ? NN_QUANT_BC_TOTAL : NN_QUANT_BC_LOCAL;
        bd.layers = &layer;
        bd.layer_cap = 1;
        CHECK_STATUS(nn_quant_bias_correct(g, r, NULL, &xval, 1, &bd, &rep, &d), NN_OK);
        CHECK_EQ_INT(rep.layers, 1);
        CHECK_EQ_INT(rep.corrected, 1);
        CHECK_EQ_INT(rep.biases_created, 1);
        CHECK_EQ_INT(g->nodes[0].input_count, 3);
        if (g->nodes[0].input_count == 3) {
            const float *b = (const float *)g->tensors[g->nodes[0].inputs[2].id].data;
            CHECK(b != NULL);
            if (b) CHECK_NEAR(b[0], expect, 2e-6);
        }
        CHECK_NEAR(layer.mean_abs_shift, expect, 2e-6);
        /* the graph still quantizes and runs */
        nn_graph *q = NULL;
        CHECK_STATUS(nn_quant_graph(g, r, NULL, &q, NULL, &d), NN_OK);
        if (q) nn_graph_destroy(q);
        free(r);
        nn_graph_destroy(g);
    }
    /* min_layer_cos below the layer's cosine: nothing corrected */
    {
        nn_graph *g = bc_graph();
        nn_diag d = {0};
        nn_quant_range *r = (nn_quant_range *)calloc(g->tensor_count + 4, sizeof *r);
        nn_value xval = nn_value_make(NN_DTYPE_FLOAT, shp(4, 1, 2, 1, 4), xv);
        nn_quant_bc_desc bd;
        nn_quant_bc_report rep;
        range_of(g, r, "x", 127.0);
        range_of(g, r, "y", 16.0);
        range_of(g, r, "out", 16.0);
        memset(&bd, 0, sizeof bd);
        bd.min_layer_cos = 0.5;
        CHECK_STATUS(nn_quant_bias_correct(g, r, NULL, &xval, 1, &bd, &rep, &d), NN_OK);
        CHECK_EQ_INT(rep.corrected, 0);
        CHECK_EQ_INT(g->nodes[0].input_count, 2);
        free(r);
        nn_graph_destroy(g);
    }
}

/* Sequential bias correction against the one-pass modes, by hand.
   x (1,2,1,4) = 1 everywhere -> conv1 W1 = [1, 0.3] -> y1 -> conv2 W2 = [1]
   -> y2 -> Relu -> out.  Thresholds: x 1.27 (scale 0.01: x^ = 1), y1
   127 * 0.2888 (scale s1 = 0.2888), y2 2.54.
   conv1: W1~ = [1, 38/127] (per-channel scale 1/127), so its output is
   1 + 38/127 = 1.2992126 instead of 1.3: e1 = 38/127 - 0.3 = -7.874e-4, and
   every mode gives conv1 the bias -e1 = +7.874e-4 (10 int32 steps of
   0.01/127, so it survives the bias rounding).
   y1 quantizes with s1 = 0.2888: before conv1's correction 1.2992126 / s1 =
   4.4987 -> 4 (1.1552); after it 1.3 / s1 = 4.5014 -> 5 (1.444).
   conv2 (exact weight) sees that rounding only:
   - LOCAL: (W2~ - W2) E[x^] = 0, conv2's bias stays 0;
   - TOTAL (one pass, before any correction): e2 = 4 s1 - 1.3 = -0.1448,
     bias +0.1448, which is wrong once conv1 is corrected (y1 then rounds
     to 5 s1 and y2 = 1.444 + 0.1448 overshoots by 0.29);
   - SEQUENTIAL (conv2 measured with conv1 corrected): e2 = 5 s1 - 1.3 =
     +0.144, bias -0.144, and y2 = 1.3 up to the bias rounding (step
     s1 / 127 = 0.0023). */
/* x (1, C0, H, W) -> conv1 (1x1, C0 -> C1, no bias) -> y1 -> conv2 (1x1,
   C1 -> C2) -> y2 -> Relu -> out, with ranges tx, t1, t2 (out: t2). */
static nn_graph *conv_chain(int c0, int c1, int c2, int h, int w, const float *w1, const float *w2, double tx, double t1,
                            double t2, nn_quant_range **ranges) {
    nn_graph *g = new_graph();
    nn_diag d = {0};
    nn_tensor_id x = tensor(g, "x", shp(4, 1, c0, h, w));
    nn_tensor_id wa = constant(g, "w1", shp(4, c1, c0, 1, 1), w1);
    nn_tensor_id wb = constant(g, "w2", shp(4, c2, c1, 1, 1), w2);
    nn_tensor_id y1 = tensor(g, "y1", shp(4, 1, c1, h, w));
    nn_tensor_id y2 = tensor(g, "y2", shp(4, 1, c2, h, w));
    nn_tensor_id o = tensor(g, "out", shp(4, 1, c2, h, w));
    nn_tensor_id i1[2] = {x, wa}, i2[2] = {y1, wb};
    CHECK_STATUS(nn_graph_add_input(g, x, &d), NN_OK);
    node(g, "Conv", "conv1", i1, 2, y1);
    node(g, "Conv", "conv2", i2, 2, y2);
    node(g, "Relu", "relu", &y2, 1, o);
    CHECK_STATUS(nn_graph_add_output(g, o, &d), NN_OK);
    *ranges = (nn_quant_range *)calloc(g->tensor_count + 4, sizeof **ranges);
    range_of(g, *ranges, "x", tx);
    range_of(g, *ranges, "y1", t1);
    range_of(g, *ranges, "y2", t2);
    range_of(g, *ranges, "out", t2);
    return g;
}

/* The thread-count checks' inputs: NS random (1, 3, 6, 6) samples (seeds
   20..) in buf (NS * 108 floats), and conv_chain's weights w1 (4x3, seed
   3) and w2 (2x4, seed 5). */
static void chain_threads_inputs(int ns, float *buf, nn_value *xs, float *w1, float *w2) {
    fill(w1, 12, 3, 1.0f);
    fill(w2, 8, 5, 1.0f);
    for (int k = 0; k < ns; k++) {
        fill(buf + (size_t)k * 108, 108, 20 + (uint32_t)k, 1.0f);
        xs[k] = nn_value_make(NN_DTYPE_FLOAT, shp(4, 1, 3, 6, 6), buf + (size_t)k * 108);
    }
}

/* Bias of node i (count floats) into out; 0 when it has none. */
static void bias_of(const nn_graph *g, uint32_t i, float *out, int count) {
    memset(out, 0, (size_t)count * sizeof *out);
    if (g->nodes[i].input_count == 3) memcpy(out, g->tensors[g->nodes[i].inputs[2].id].data, (size_t)count * sizeof *out);
}

static void test_bias_correction_sequential(void) {
    static const float w1[2] = {1.0f, 0.3f}, w2[1] = {1.0f}, xv[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    const double s1 = 0.2888, e1 = (double)(38.0f / 127.0f) - (double)0.3f;
    const double want[3] = {0.0, -(4 * s1 - 1.3), -(5 * s1 - 1.3)}; /* conv2's bias: LOCAL, TOTAL, SEQUENTIAL */
    const double tol[3] = {1e-7, 1e-4, s1 / 127.0};
    for (int mode = 0; mode < 3; mode++) {
        nn_diag d = {0};
        nn_quant_range *r;
        nn_graph *g = conv_chain(2, 1, 1, 1, 4, w1, w2, 1.27, 127.0 * s1, 2.54, &r);
        nn_value xval = nn_value_make(NN_DTYPE_FLOAT, shp(4, 1, 2, 1, 4), (void *)xv);
        nn_quant_bc_desc bd;
        nn_quant_bc_report rep;
        float b1, b2;
        memset(&bd, 0, sizeof bd);
        bd.min_layer_cos = 1.0;
        bd.mode = mode == 0 ? NN_QUANT_BC_LOCAL : mode == 1 ? NN_QUANT_BC_TOTAL : NN_QUANT_BC_SEQUENTIAL;
        CHECK_STATUS(nn_quant_bias_correct(g, r, NULL, &xval, 1, &bd, &rep, &d), NN_OK);
        CHECK_EQ_INT(rep.corrected, 2);
        CHECK_EQ_INT(g->nodes[0].input_count, 3);
        CHECK_EQ_INT(g->nodes[1].input_count, 3);
        bias_of(g, 0, &b1, 1);
        bias_of(g, 1, &b2, 1);
        CHECK_NEAR(b1, -e1, 1e-6);
        CHECK_NEAR(b2, want[mode], tol[mode]);
        free(r);
        nn_graph_destroy(g);
    }
}

/* SEQUENTIAL with its per-layer measurements split over threads
   (nn_quant_bc_desc.threads).
   1. The hand-worked case above with its one sample given three times and
      two threads: the means are those of one sample, so conv2's bias is
      still -(5 s1 - 1.3) within the bias step s1 / 127, and conv1's -e1.
   2. A 3 -> 4 -> 2 channel 1x1 Conv chain with 5 different random samples,
      corrected once with 1 thread and once with 3 (a fresh graph each):
      the biases must be equal bit for bit (the per-sample sums are added in
      sample order whatever the thread count), and something must have been
      corrected. */
static void test_bias_correction_sequential_threads(void) {
    {
        static const float w1[2] = {1.0f, 0.3f}, w2[1] = {1.0f};
        const double s1 = 0.2888, e1 = (double)(38.0f / 127.0f) - (double)0.3f;
        float xv[3][8], b1, b2;
        nn_value xs[3];
        nn_diag d = {0};
        nn_quant_range *r;
        nn_graph *g = conv_chain(2, 1, 1, 1, 4, w1, w2, 1.27, 127.0 * s1, 2.54, &r);
        nn_quant_bc_desc bd;
        nn_quant_bc_report rep;
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < 8; i++) xv[k][i] = 1.0f;
            xs[k] = nn_value_make(NN_DTYPE_FLOAT, shp(4, 1, 2, 1, 4), xv[k]);
        }
        memset(&bd, 0, sizeof bd);
        bd.min_layer_cos = 1.0;
        bd.mode = NN_QUANT_BC_SEQUENTIAL;
        bd.threads = 2;
        CHECK_STATUS(nn_quant_bias_correct(g, r, NULL, xs, 3, &bd, &rep, &d), NN_OK);
        CHECK_EQ_INT(rep.corrected, 2);
        CHECK_EQ_INT(g->nodes[1].input_count, 3);
        bias_of(g, 0, &b1, 1);
        bias_of(g, 1, &b2, 1);
        CHECK_NEAR(b1, -e1, 1e-6);
        CHECK_NEAR(b2, -(5 * s1 - 1.3), s1 / 127.0);
        free(r);
        nn_graph_destroy(g);
    }
    {
        enum { NS = 5, HW = 36 };
        float w1[4 * 3], w2[2 * 4], xv[NS][3 * HW], bias[2][4 + 2];
        uint32_t corrected[2];
        nn_value xs[NS];
        chain_threads_inputs(NS, &xv[0][0], xs, w1, w2);
        for (int run = 0; run < 2; run++) {
            nn_diag d = {0};
            nn_quant_range *r;
            nn_graph *g = conv_chain(3, 4, 2, 6, 6, w1, w2, 1.0, 2.0, 3.0, &r);
            nn_quant_bc_desc bd;
            nn_quant_bc_report rep;
            memset(&bd, 0, sizeof bd);
            bd.min_layer_cos = 1.0;
            bd.mode = NN_QUANT_BC_SEQUENTIAL;
            bd.keep_worse = 1; /* compare the corrections themselves, kept or not */
            bd.threads = run == 0 ? 1 : 3;
            CHECK_STATUS(nn_quant_bias_correct(g, r, NULL, xs, NS, &bd, &rep, &d), NN_OK);
            corrected[run] = rep.corrected;
            bias_of(g, 0, bias[run], 4);
            bias_of(g, 1, bias[run] + 4, 2);
            free(r);
            nn_graph_destroy(g);
        }
        CHECK_EQ_INT(corrected[0], 2);
        CHECK_EQ_INT(corrected[1], corrected[0]);
        CHECK(memcmp(bias[0], bias[1], sizeof bias[0]) == 0);
        CHECK(bias[0][0] != 0.0f || bias[0][4] != 0.0f);
    }
}

/* Direct NCHW conv of x (1,Cin,H,W) with w (Cout,Cin,3,3), pad 1, stride 1. */
static void conv3x3(const float *x, const float *w, int cin, int cout, int h, int wd, double *y) {
    for (int o = 0; o < cout; o++)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < wd; j++) {
                double s = 0;
                for (int c = 0; c < cin; c++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = i + ky - 1, ix = j + kx - 1;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                            s += (double)w[((o * cin + c) * 3 + ky) * 3 + kx] * x[(c * h + iy) * wd + ix];
                        }
                y[(o * h + i) * wd + j] = s;
            }
}

/* AdaRound on one 3x3 Conv (4 -> 3 channels, 8x8, 4 samples, inputs uniform in [0, 1]
   so that E[x x^T] is far from diagonal and nearest rounding is not the
   best): the weights written back lie on the per-channel grid s_c =
   max|w_c| / 127 (|w / s - round(w / s)| tiny, the max element unchanged,
   every weight rounded up or down from w / s), and the reconstruction error
   sum ((W' - W) * x)^2 over every output position of the samples,
   computed here with a direct convolution, is below nearest rounding's. */
static void test_adaround_conv(void) {
    enum { CI = 4, CO = 3, H = 8, W = 8, K = CI * 9, NS = 4 };
    float w0[CO * K], xv[NS][CI * H * W];
    double y0[CO * H * W], y1[CO * H * W], yn[CO * H * W], err_ada = 0, err_near = 0;
    float wn[CO * K];
    nn_graph *g = new_graph();
    nn_diag d = {0};
    fill(w0, CO * K, 7, 1.0f);
    for (int s = 0; s < NS; s++) {
        fill(xv[s], CI * H * W, 11 + s, 0.5f);
        for (int i = 0; i < CI * H * W; i++) xv[s][i] += 0.5f;
    }
    nn_tensor_id x = tensor(g, "x", shp(4, 1, CI, H, W));
    nn_tensor_id wt = constant(g, "w", shp(4, CO, CI, 3, 3), w0);
    nn_tensor_id y = tensor(g, "y", shp(4, 1, CO, H, W));
    nn_tensor_id ci[2] = {x, wt};
    static const int64_t pads[4] = {1, 1, 1, 1};
    CHECK_STATUS(nn_graph_add_input(g, x, &d), NN_OK);
    nn_node_id cn = node(g, "Conv", "conv", ci, 2, y);
    attr_ints(g, cn, "pads", pads, 4);
    CHECK_STATUS(nn_graph_add_output(g, y, &d), NN_OK);
    nn_quant_range *r = (nn_quant_range *)calloc(g->tensor_count + 4, sizeof *r);
    range_of(g, r, "x", 1.0);
    nn_value xs[NS];
    for (int s = 0; s < NS; s++) xs[s] = nn_value_make(NN_DTYPE_FLOAT, shp(4, 1, CI, H, W), xv[s]);
    nn_quant_adaround_desc ad;
    nn_quant_adaround_report rep;
    memset(&ad, 0, sizeof ad);
    ad.iterations = 1000;
    ad.positions = 512;
    ad.float_input = 1;
    CHECK_STATUS(nn_quant_adaround(g, r, NULL, xs, NS, &ad, &rep, &d), NN_OK);
    CHECK_EQ_INT(rep.layers, 1);
    const float *w1 = data_of(g, "w");
    CHECK(w1 != NULL);
    if (!w1) { free(r); nn_graph_destroy(g); return; }
    int on_grid = 1, up_or_down = 1, max_kept = 1;
    for (int o = 0; o < CO; o++) {
        double m = 0;
        for (int k = 0; k < K; k++) if (fabs(w0[o * K + k]) > m) m = fabs(w0[o * K + k]);
        double sc = (float)(m / 127.0);
        for (int k = 0; k < K; k++) {
            double a = w1[o * K + k] / sc, r0 = w0[o * K + k] / sc;
            if (fabs(a - rint(a)) > 1e-3) { on_grid = 0; fprintf(stderr, "off grid: channel %d weight %d: %.6f (was %.6f)\n", o, k, a, r0); }
            if (rint(a) != floor(r0) && rint(a) != ceil(r0)) up_or_down = 0;
            if (fabs(w0[o * K + k]) == m && w1[o * K + k] != w0[o * K + k]) max_kept = 0;
            wn[o * K + k] = (float)(rint(r0) * sc);
        }
    }
    CHECK(on_grid);
    CHECK(up_or_down);
    CHECK(max_kept);
    for (int s = 0; s < NS; s++) {
        conv3x3(xv[s], w0, CI, CO, H, W, y0);
        conv3x3(xv[s], w1, CI, CO, H, W, y1);
        conv3x3(xv[s], wn, CI, CO, H, W, yn);
        for (int i = 0; i < CO * H * W; i++) {
            err_ada += (y1[i] - y0[i]) * (y1[i] - y0[i]);
            err_near += (yn[i] - y0[i]) * (yn[i] - y0[i]);
        }
    }
    fprintf(stderr, "adaround conv: reconstruction error nearest %.4g, adaround %.4g, %llu weights flipped\n",
            err_near, err_ada, (unsigned long long)rep.flipped);
    CHECK(err_ada < 0.95 * err_near);
    CHECK(rep.flipped > 0);
    free(r);
    nn_graph_destroy(g);
}

/* Sequential AdaRound by hand, on conv_chain (1x1 convs, every input 1):
   conv1 (2 -> 2): row 0 = [1, 0.3], row 1 = [0.2888, 0.2888]; conv2 (2 -> 1)
   = [a, 1] with a = 10.4 / 127 (grid step 1/127, the max 1 kept).  conv1's
   row 0 learns 0.3 -> 38 / 127 (0.3 * 127 = 38.1: 38 is exact to 0.1 step,
   39 to 0.9), so the QDQ model's y1[0] = 1 + 38/127 = 1.299213 against
   1.3 in float; y1's step s1 = 0.2888 puts the two on either side of a
   rounding boundary: 1.3 / s1 = 4.5014 -> 5 (1.4440), 1.299213 / s1 =
   4.4986 -> 4 (1.1552).  y1[1] = 0.5776 = 2 s1 either way.  conv2's target
   is a * 1.3 + 0.5776, so in grid units a~ should be 10.4 * 1.3 / x^[0]:
   - local (x^ = the float y1 fake-quantized, 1.4440): 9.363 -> 10 (down,
     as nearest rounding);
   - sequential (x^ = the QDQ model's y1, 1.1552): 11.704 -> 11 (up).
   Then the same on a random chain with 1 and 3 threads: the same weights,
   bit for bit. */
static void test_adaround_sequential(void) {
    static const float w1[4] = {1.0f, 0.3f, 0.2888f, 0.2888f}, xv[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    const float w2[2] = {(float)(10.4 / 127.0), 1.0f};
    const double s1 = 0.2888, want[2] = {10.0, 11.0}; /* conv2's a * 127: local, sequential */
    for (int mode = 0; mode < 2; mode++) {
        nn_diag d = {0};
        nn_quant_range *r;
        nn_graph *g = conv_chain(2, 2, 1, 1, 4, w1, w2, 1.27, 127.0 * s1, 2.54, &r);
        nn_value xs[2];
        nn_quant_adaround_desc ad;
        nn_quant_adaround_report rep;
        for (int k = 0; k < 2; k++) xs[k] = nn_value_make(NN_DTYPE_FLOAT, shp(4, 1, 2, 1, 4), (void *)xv);
        memset(&ad, 0, sizeof ad);
        ad.iterations = 500;
        ad.positions = 64;
        ad.sequential = mode;
        CHECK_STATUS(nn_quant_adaround(g, r, NULL, xs, 2, &ad, &rep, &d), NN_OK);
        CHECK_EQ_INT(rep.layers, 2);
        const float *a1 = data_of(g, "w1"), *a2 = data_of(g, "w2");
        CHECK(a1 && a2);
        if (a1 && a2) {
            CHECK_NEAR(a1[1] * 127.0, 38.0, 1e-4);
            CHECK_NEAR(a2[0] * 127.0, want[mode], 1e-4);
            CHECK(a2[1] == 1.0f);
        }
        free(r);
        nn_graph_destroy(g);
    }
    {
        enum { NS = 5, HW = 36 };
        float v1[4 * 3], v2[2 * 4], xr[NS][3 * HW], out[2][12 + 8];
        nn_value xs[NS];
        chain_threads_inputs(NS, &xr[0][0], xs, v1, v2);
        for (int run = 0; run < 2; run++) {
            nn_diag d = {0};
            nn_quant_range *r;
            nn_graph *g = conv_chain(3, 4, 2, 6, 6, v1, v2, 1.0, 2.0, 3.0, &r);
            nn_quant_adaround_desc ad;
            memset(&ad, 0, sizeof ad);
            ad.iterations = 200;
            ad.sequential = 1;
            ad.threads = run == 0 ? 1 : 3;
            CHECK_STATUS(nn_quant_adaround(g, r, NULL, xs, NS, &ad, NULL, &d), NN_OK);
            memcpy(out[run], data_of(g, "w1"), 12 * sizeof(float));
            memcpy(out[run] + 12, data_of(g, "w2"), 8 * sizeof(float));
            free(r);
            nn_graph_destroy(g);
        }
        CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
    }
}

/* Softmax over 64 logits [4, 0 x 63] -> Mul(1) -> out.  p_max = e^4 /
   (e^4 + 63) = 0.464280, p_small = 1 / (e^4 + 63) = 0.0085035.  With the
   recipe ALL_INT and threshold 1 the output scale is 1/127: p_small / s =
   1.080 rounds to 1, p_max / s = 58.96 to 59, so the quantized row sums to
   (59 + 63) / 127 = 0.960630 instead of 1; no zeros.  With the default recipe
   the Softmax output stays float: row sum 1 (to float rounding). */
static void test_softmax_bias(void) {
    float xv[64] = {4};
    static const float one = 1.0f;
    for (int recipe = 0; recipe < 2; recipe++) {
        nn_graph *g = new_graph();
        nn_diag d = {0};
        nn_tensor_id x = tensor(g, "x", shp(2, 1, 64, 0, 0));
        nn_tensor_id p = tensor(g, "p", shp(2, 1, 64, 0, 0));
        nn_tensor_id c = constant(g, "one", shp(0, 0, 0, 0, 0), &one);
        nn_tensor_id o = tensor(g, "out", shp(2, 1, 64, 0, 0));
        nn_tensor_id mi[2] = {p, c};
        CHECK_STATUS(nn_graph_add_input(g, x, &d), NN_OK);
        node(g, "Softmax", "sm", &x, 1, p);
        node(g, "Mul", "mul", mi, 2, o);
        CHECK_STATUS(nn_graph_add_output(g, o, &d), NN_OK);
        nn_quant_range *r = (nn_quant_range *)calloc(g->tensor_count + 4, sizeof *r);
        range_of(g, r, "x", 4.0);
        range_of(g, r, "p", 1.0);
        range_of(g, r, "out", 1.0);
        nn_quant_desc qd;
        memset(&qd, 0, sizeof qd);
        qd.recipe = recipe ? NN_QUANT_RECIPE_ALL_INT : NN_QUANT_RECIPE_NORM_FLOAT;
        nn_value xval = nn_value_make(NN_DTYPE_FLOAT, shp(2, 1, 64, 0, 0), xv);
        nn_quant_softmax_bias sb;
        uint32_t count = 0;
        CHECK_STATUS(nn_quant_softmax_bias_measure(g, r, &qd, &xval, 1, &sb, 1, &count, &d), NN_OK);
        CHECK_EQ_INT(count, 1);
        CHECK_EQ_INT(sb.quantized, recipe);
        if (recipe) {
            CHECK_NEAR(sb.row_sum, 122.0 / 127.0, 1e-6);
            CHECK_NEAR(sb.zero_fraction, 0.0, 1e-12);
        } else {
            CHECK_NEAR(sb.row_sum, 1.0, 1e-5);
        }
        free(r);
        nn_graph_destroy(g);
    }
}

int main(void) {
    test_cle_by_hand();
    test_cle_chain();
    test_cle_clip();
    test_cle_malformed();
    test_smooth_by_hand();
    test_smooth_layernorm_and_mul();
    test_smooth_through_transpose();
    test_smooth_decomposed_layernorm();
    test_bias_correction_by_hand();
    test_bias_correction_sequential();
    test_bias_correction_sequential_threads();
    test_adaround_conv();
    test_adaround_sequential();
    test_softmax_bias();
    return check_summary();
}
