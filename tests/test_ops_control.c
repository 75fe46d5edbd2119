/* test_ops_control.c - If, Loop, Scan, RNN, GRU and LSTM kernels, and the
   executor's subgraph machinery they drive (child scopes, outer-scope
   captures, output hand-over).

   Graphs are built by hand through the nn_graph API, so the tests need no
   model files and use only ops of the core and control families: RNN with
   identity weights and the Affine activation serves as an adder inside
   loop bodies (Y_h = X + initial_h).  The recurrent kernels are checked
   against a naive double-precision reference written here, one scalar loop
   per equation of the ONNX spec.

   Build and run:  make build/test_ops_control && build/test_ops_control */
#include "nn_graph.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

/* The library's default; the implementation's macro is not visible here. */
#ifndef NN_MAX_LOOP_ITERATIONS
#define NN_MAX_LOOP_ITERATIONS (1 << 24)
#endif

/* ---- graph building ----------------------------------------------------------------------- */

static nn_diag g_diag;

static nn_shape shp(int rank, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t d[4] = {d0, d1, d2, d3};
    return nn_shape_make(rank, d);
}

/* The tensor named name in g, added untyped when new. */
static nn_tensor_id ref(nn_graph *g, const char *name) {
    nn_tensor_id id = nn_graph_find_tensor(g, name);
    if (id.id == NN_INVALID_ID) nn_graph_add_tensor(g, name, NN_DTYPE_UNDEFINED, NULL, &id, &g_diag);
    return id;
}

static nn_tensor_id typed(nn_graph *g, const char *name, nn_dtype t, nn_shape s) {
    nn_tensor_id id = ref(g, name);
    nn_graph_tensor(g, id)->dtype = t;
    nn_graph_tensor(g, id)->shape = s;
    return id;
}

static void input(nn_graph *g, const char *name, nn_dtype t, nn_shape s) { nn_graph_add_input(g, typed(g, name, t, s), &g_diag); }
static void output(nn_graph *g, const char *name) { nn_graph_add_output(g, ref(g, name), &g_diag); }
static void output_typed(nn_graph *g, const char *name, nn_dtype t, nn_shape s) {
    nn_graph_add_output(g, typed(g, name, t, s), &g_diag);
}

/* A subgraph's reference to a tensor of an enclosing scope. */
static void outer(nn_graph *body, const char *name) { nn_graph_tensor(body, ref(body, name))->flags |= NN_TENSOR_OUTER; }

static void constant(nn_graph *g, const char *name, nn_dtype t, nn_shape s, const void *data) {
    nn_tensor_id id = typed(g, name, t, s);
    size_t bytes;
    nn_dtype_bytes_for(t, nn_shape_count(&s, NULL), &bytes);
    nn_graph_set_data(g, id, data, bytes, 1, &g_diag);
}

/* Adds a node; ins/outs are comma-separated names, an empty name omits. */
static nn_node_id node(nn_graph *g, const char *op, const char *ins, const char *outs) {
    nn_tensor_id io[2][16];
    uint32_t n[2] = {0, 0};
    const char *lists[2] = {ins, outs};
    for (int k = 0; k < 2; k++) {
        const char *p = lists[k];
        while (p && *p) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            char name[64];
            memcpy(name, p, len);
            name[len] = 0;
            if (len) io[k][n[k]] = ref(g, name);
            else io[k][n[k]].id = NN_INVALID_ID;
            n[k]++;
            if (!e) break;
            p = e + 1;
            if (!*p) { io[k][n[k]++].id = NN_INVALID_ID; break; } /* trailing "," */
        }
    }
    nn_node_id id;
    nn_graph_add_node(g, op, "", "", io[0], n[0], io[1], n[1], &id, &g_diag);
    return id;
}

static void attr_i(nn_graph *g, nn_node_id n, const char *name, int64_t v) {
    nn_attr a; memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_INT; a.i = v;
    nn_graph_add_attr(g, n, &a, 0, &g_diag);
}
static void attr_f(nn_graph *g, nn_node_id n, const char *name, float v) {
    nn_attr a; memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_FLOAT; a.f = v;
    nn_graph_add_attr(g, n, &a, 0, &g_diag);
}
static void attr_ints(nn_graph *g, nn_node_id n, const char *name, const int64_t *v, uint32_t count) {
    nn_attr a; memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_INTS; a.ints = v; a.count = count;
    nn_graph_add_attr(g, n, &a, 0, &g_diag);
}
static void attr_floats(nn_graph *g, nn_node_id n, const char *name, const float *v, uint32_t count) {
    nn_attr a; memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_FLOATS; a.floats = v; a.count = count;
    nn_graph_add_attr(g, n, &a, 0, &g_diag);
}
static void attr_s(nn_graph *g, nn_node_id n, const char *name, const char *v) {
    nn_attr a; memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_STRING; a.s = v; a.s_bytes = strlen(v);
    nn_graph_add_attr(g, n, &a, 0, &g_diag);
}
static void attr_strings(nn_graph *g, nn_node_id n, const char *name, const char *const *v, uint32_t count) {
    nn_attr a; memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_STRINGS; a.strings = v; a.count = count;
    nn_graph_add_attr(g, n, &a, 0, &g_diag);
}
static void attr_g(nn_graph *g, nn_node_id n, const char *name, nn_graph *body) {
    nn_attr a; memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_GRAPH; a.g = body;
    nn_graph_add_attr(g, n, &a, 0, &g_diag);
}

static nn_graph *new_graph(int64_t opset) {
    nn_graph *g = NULL;
    memset(&g_diag, 0, sizeof g_diag);
    nn_graph_create(NULL, &g, &g_diag);
    nn_graph_set_opset(g, "", opset, &g_diag);
    return g;
}

static nn_graph *new_body(nn_graph *g) {
    nn_graph *b = NULL;
    nn_graph_create_subgraph(g, &b, &g_diag);
    return b;
}

/* Inside a body: out = a + b for (1, 1, h) float tensors, as an RNN with
   identity weights, Affine activation (Y_h = X I + initial_h I).  The body
   needs constants "eye" (1, h, h). */
static void adder(nn_graph *body, const char *a, const char *b, const char *out, int h) {
    float *eye = (float *)calloc((size_t)(h * h), sizeof(float));
    for (int i = 0; i < h; i++) eye[i * h + i] = 1.0f;
    if (nn_graph_find_tensor(body, "eye").id == NN_INVALID_ID)
        constant(body, "eye", NN_DTYPE_FLOAT, shp(3, 1, h, h, 0), eye);
    free(eye);
    char ins[160];
    snprintf(ins, sizeof ins, "%s,eye,eye,,,%s", a, b);
    char outs[80];
    snprintf(outs, sizeof outs, ",%s", out);
    nn_node_id n = node(body, "RNN", ins, outs);
    static const char *const affine[] = {"Affine"};
    attr_strings(body, n, "activations", affine, 1);
    attr_i(body, n, "hidden_size", h);
}

typedef struct run_result {
    nn_status create, run;
    nn_exec *x;
} run_result;

/* Creates an exec for g, binds inputs (values[i] for g->inputs[i]), runs. */
static run_result run_graph(nn_graph *g, const nn_value *values, uint32_t count) {
    run_result r;
    memset(&r, 0, sizeof r);
    memset(&g_diag, 0, sizeof g_diag);
    r.create = nn_exec_create(g, NULL, &r.x, &g_diag);
    r.run = r.create;
    if (r.create) return r;
    for (uint32_t i = 0; i < count && r.run == NN_OK; i++) r.run = nn_exec_set_input(r.x, i, &values[i], &g_diag);
    if (r.run == NN_OK) r.run = nn_exec_run(r.x, &g_diag);
    if (r.run) fprintf(stderr, "     diag: %s: %s\n", g_diag.where, g_diag.message);
    return r;
}

static const float *out_f32(const run_result *r, uint32_t i) {
    const nn_value *v = r->x ? nn_exec_output(r->x, i) : NULL;
    return v && v->dtype == NN_DTYPE_FLOAT ? (const float *)v->data : NULL;
}

static int shape_is(const nn_value *v, int rank, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    nn_shape s = shp(rank, d0, d1, d2, d3);
    return v && nn_shape_equal(&v->shape, &s);
}

/* ---- If ---------------------------------------------------------------------------------------- */

/* then: Identity(outer x); else: constant.  Both branches declare (3). */
static nn_graph *if_graph(void) {
    nn_graph *g = new_graph(13);
    input(g, "c", NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0));
    input(g, "x", NN_DTYPE_FLOAT, shp(1, 3, 0, 0, 0));
    nn_graph *tb = new_body(g), *eb = new_body(g);
    outer(tb, "x");
    node(tb, "Identity", "x", "t_out");
    output_typed(tb, "t_out", NN_DTYPE_FLOAT, shp(1, 3, 0, 0, 0));
    static const float k[3] = {7, 8, 9};
    constant(eb, "k", NN_DTYPE_FLOAT, shp(1, 3, 0, 0, 0), k);
    node(eb, "Identity", "k", "e_out");
    output_typed(eb, "e_out", NN_DTYPE_FLOAT, shp(1, 3, 0, 0, 0));
    nn_node_id n = node(g, "If", "c", "y");
    attr_g(g, n, "then_branch", tb);
    attr_g(g, n, "else_branch", eb);
    output(g, "y");
    return g;
}

static void test_if_branches(void) {
    nn_graph *g = if_graph();
    CHECK_EQ_INT(g_diag.status, NN_OK);
    float x[3] = {1, 2, 3};
    for (int which = 0; which < 2; which++) {
        uint8_t c = (uint8_t)which;
        nn_value in[2] = {nn_value_make(NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0), &c),
                          nn_value_make(NN_DTYPE_FLOAT, shp(1, 3, 0, 0, 0), x)};
        run_result r = run_graph(g, in, 2);
        CHECK_EQ_INT(r.run, NN_OK);
        const float *y = out_f32(&r, 0);
        CHECK(y != NULL);
        if (y) for (int i = 0; i < 3; i++) CHECK_NEAR(y[i], which ? x[i] : 7 + i, 0);
        CHECK(shape_is(nn_exec_output(r.x, 0), 1, 3, 0, 0, 0));
        nn_exec_destroy(r.x);
    }
    nn_graph_destroy(g);
}

/* A branch whose value contradicts its declared shape is refused. */
static void test_if_declared_shape_mismatch(void) {
    nn_graph *g = new_graph(13);
    input(g, "c", NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0));
    nn_graph *tb = new_body(g), *eb = new_body(g);
    static const float k[2] = {1, 2};
    constant(tb, "k", NN_DTYPE_FLOAT, shp(1, 2, 0, 0, 0), k);
    node(tb, "Identity", "k", "t_out");
    output_typed(tb, "t_out", NN_DTYPE_FLOAT, shp(1, 5, 0, 0, 0)); /* wrong: the value is (2) */
    constant(eb, "k2", NN_DTYPE_FLOAT, shp(1, 2, 0, 0, 0), k);
    node(eb, "Identity", "k2", "e_out");
    output_typed(eb, "e_out", NN_DTYPE_FLOAT, shp(1, 5, 0, 0, 0));
    nn_node_id n = node(g, "If", "c", "y");
    attr_g(g, n, "then_branch", tb);
    attr_g(g, n, "else_branch", eb);
    output(g, "y");
    uint8_t c = 1;
    nn_value in = nn_value_make(NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0), &c);
    run_result r = run_graph(g, &in, 1);
    CHECK_EQ_INT(r.run, NN_ERR_SHAPE);
    nn_exec_destroy(r.x);
    nn_graph_destroy(g);
}

/* Branches of different shapes (If-11+): the output shape is unknown until
   run time and taken from the branch that ran. */
static void test_if_different_shapes(void) {
    nn_graph *g = new_graph(16);
    input(g, "c", NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0));
    nn_graph *tb = new_body(g), *eb = new_body(g);
    static const float k[4] = {1, 2, 3, 4};
    constant(tb, "k", NN_DTYPE_FLOAT, shp(1, 4, 0, 0, 0), k);
    node(tb, "Identity", "k", "t_out");
    output_typed(tb, "t_out", NN_DTYPE_FLOAT, shp(1, 4, 0, 0, 0));
    constant(eb, "k2", NN_DTYPE_FLOAT, shp(2, 1, 2, 0, 0), k);
    node(eb, "Identity", "k2", "e_out");
    output_typed(eb, "e_out", NN_DTYPE_FLOAT, shp(2, 1, 2, 0, 0));
    nn_node_id n = node(g, "If", "c", "y");
    attr_g(g, n, "then_branch", tb);
    attr_g(g, n, "else_branch", eb);
    output(g, "y");
    /* Static inference: rank and dims unknown. */
    CHECK_EQ_INT(nn_graph_infer_shapes(g, NULL, 0, &g_diag), NN_OK);
    CHECK_EQ_INT(nn_graph_tensor(g, nn_graph_find_tensor(g, "y"))->shape.rank, NN_RANK_UNKNOWN);
    uint8_t c = 0;
    nn_value in = nn_value_make(NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0), &c);
    run_result r = run_graph(g, &in, 1);
    CHECK_EQ_INT(r.run, NN_OK);
    CHECK(shape_is(nn_exec_output(r.x, 0), 2, 1, 2, 0, 0));
    nn_exec_destroy(r.x);
    nn_graph_destroy(g);
}

/* ---- Loop -------------------------------------------------------------------------------------- */

#define H4 4

/* Loop(M, cond?, v0) with body: v_out = v_in + step (outer), scan outputs
   Identity(v_out) and Identity(iteration_num); cond_out = Identity(cmode). */
static nn_graph *loop_graph(int with_cond, int dup_outputs) {
    nn_graph *g = new_graph(17);
    input(g, "M", NN_DTYPE_INT64, shp(0, 0, 0, 0, 0));
    if (with_cond) input(g, "cond", NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0));
    input(g, "v0", NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0));
    input(g, "step", NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0));
    input(g, "cout", NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0));
    /* step2 = step, computed by a node of the main graph: the body's capture
       must keep it alive until the Loop has run. */
    node(g, "Identity", "step", "step2");
    nn_graph *b = new_body(g);
    input(b, "i", NN_DTYPE_INT64, shp(0, 0, 0, 0, 0));
    input(b, "c_in", NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0));
    input(b, "v_in", NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0));
    outer(b, "step2");
    outer(b, "cout");
    node(b, "Identity", "cout", "c_out");
    adder(b, "step2", "v_in", "v_out", H4);
    node(b, "Identity", "i", "i_out");
    output(b, "c_out");
    output_typed(b, "v_out", NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0));
    if (dup_outputs) {
        output(b, "v_out"); /* the same tensor as loop-carried and scan output */
    } else {
        node(b, "Identity", "v_out", "v_scan");
        output_typed(b, "v_scan", NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0));
    }
    output_typed(b, "i_out", NN_DTYPE_INT64, shp(0, 0, 0, 0, 0));
    nn_node_id n = node(g, "Loop", with_cond ? "M,cond,v0" : "M,,v0", "v_final,v_stack,i_stack");
    attr_g(g, n, "body", b);
    output(g, "v_final");
    output(g, "v_stack");
    output(g, "i_stack");
    return g;
}

static void check_loop_result(const run_result *r, int iters, const float *v0, const float *step) {
    const nn_value *vf = nn_exec_output(r->x, 0), *vs = nn_exec_output(r->x, 1), *is = nn_exec_output(r->x, 2);
    CHECK(shape_is(vf, 3, 1, 1, H4, 0));
    CHECK(shape_is(vs, 4, iters, 1, 1, H4));
    CHECK(shape_is(is, 1, iters, 0, 0, 0));
    if (!vf || !vs || !is || !vf->data) return;
    for (int j = 0; j < H4; j++) CHECK_NEAR(((const float *)vf->data)[j], v0[j] + iters * step[j], 1e-5);
    for (int t = 0; t < iters && vs->data; t++)
        for (int j = 0; j < H4; j++) CHECK_NEAR(((const float *)vs->data)[t * H4 + j], v0[j] + (t + 1) * step[j], 1e-5);
    for (int t = 0; t < iters && is->data; t++) CHECK_EQ_INT(((const int64_t *)is->data)[t], t);
}

static void test_loop_for(void) {
    float v0[H4] = {1, 2, 3, 4}, step[H4] = {0.5f, -1, 2, 0};
    for (int dup = 0; dup < 2; dup++) {
        nn_graph *g = loop_graph(0, dup);
        CHECK_EQ_INT(g_diag.status, NN_OK);
        int64_t m = 5;
        uint8_t cout = 0; /* ignored without a cond input */
        nn_value in[4] = {nn_value_make(NN_DTYPE_INT64, shp(0, 0, 0, 0, 0), &m),
                          nn_value_make(NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0), v0),
                          nn_value_make(NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0), step),
                          nn_value_make(NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0), &cout)};
        run_result r = run_graph(g, in, 4);
        CHECK_EQ_INT(r.run, NN_OK);
        if (r.run == NN_OK) check_loop_result(&r, 5, v0, step);
        /* Second run of the same exec: no state leaks between runs. */
        if (r.run == NN_OK) {
            m = 2;
            CHECK_EQ_INT(nn_exec_run(r.x, &g_diag), NN_OK);
            check_loop_result(&r, 2, v0, step);
        }
        nn_exec_destroy(r.x);
        nn_graph_destroy(g);
    }
}

/* cond false on entry: zero iterations, finals are the initial values and
   scan outputs are empty with the body's declared per-iteration shape. */
static void test_loop_zero_and_do_while(void) {
    float v0[H4] = {1, 2, 3, 4}, step[H4] = {1, 1, 1, 1};
    nn_graph *g = loop_graph(1, 0);
    int64_t m = 10;
    for (int mode = 0; mode < 2; mode++) {
        uint8_t cond = (uint8_t)mode, cout = 0; /* mode 1: runs once, the body says stop */
        nn_value in[5] = {nn_value_make(NN_DTYPE_INT64, shp(0, 0, 0, 0, 0), &m),
                          nn_value_make(NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0), &cond),
                          nn_value_make(NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0), v0),
                          nn_value_make(NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0), step),
                          nn_value_make(NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0), &cout)};
        run_result r = run_graph(g, in, 5);
        CHECK_EQ_INT(r.run, NN_OK);
        if (r.run == NN_OK) check_loop_result(&r, mode, v0, step);
        nn_exec_destroy(r.x);
    }
    nn_graph_destroy(g);
}

/* A trip count above NN_MAX_LOOP_ITERATIONS is refused with NN_ERR_LIMIT. */
static void test_loop_limit(void) {
    float v0[H4] = {0}, step[H4] = {0};
    nn_graph *g = loop_graph(0, 0);
    int64_t m = (int64_t)NN_MAX_LOOP_ITERATIONS + 1;
    uint8_t cout = 1;
    nn_value in[4] = {nn_value_make(NN_DTYPE_INT64, shp(0, 0, 0, 0, 0), &m),
                      nn_value_make(NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0), v0),
                      nn_value_make(NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0), step),
                      nn_value_make(NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0), &cout)};
    run_result r = run_graph(g, in, 4);
    CHECK_EQ_INT(r.run, NN_ERR_LIMIT);
    nn_exec_destroy(r.x);
    nn_graph_destroy(g);
}

/* A loop-carried value with no tensor type (a sequence in ONNX) is refused. */
static void test_loop_untyped_carried(void) {
    nn_graph *g = new_graph(13);
    input(g, "M", NN_DTYPE_INT64, shp(0, 0, 0, 0, 0));
    nn_graph *b = new_body(g);
    input(b, "i", NN_DTYPE_INT64, shp(0, 0, 0, 0, 0));
    input(b, "c_in", NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0));
    input(b, "s_in", NN_DTYPE_UNDEFINED, shp(-1, 0, 0, 0, 0));
    node(b, "Identity", "c_in", "c_out");
    node(b, "Identity", "s_in", "s_out");
    output(b, "c_out");
    output(b, "s_out");
    nn_node_id n = node(g, "Loop", "M,,", "s_final"); /* v_initial omitted */
    attr_g(g, n, "body", b);
    output(g, "s_final");
    int64_t m = 1;
    nn_value in = nn_value_make(NN_DTYPE_INT64, shp(0, 0, 0, 0, 0), &m);
    run_result r = run_graph(g, &in, 1);
    CHECK_EQ_INT(r.run, NN_ERR_UNSUPPORTED);
    nn_exec_destroy(r.x);
    nn_graph_destroy(g);
}

/* If inside a Loop body, whose then-branch reads a tensor of the main graph
   two scopes up and the Loop's iteration counter one scope up. */
static void test_nested_scopes(void) {
    nn_graph *g = new_graph(17);
    input(g, "M", NN_DTYPE_INT64, shp(0, 0, 0, 0, 0));
    input(g, "k", NN_DTYPE_FLOAT, shp(1, 2, 0, 0, 0));
    input(g, "flag", NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0));
    node(g, "Identity", "k", "k2");
    nn_graph *b = new_body(g);
    input(b, "i", NN_DTYPE_INT64, shp(0, 0, 0, 0, 0));
    input(b, "c_in", NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0));
    outer(b, "flag");
    node(b, "Identity", "c_in", "c_out");
    nn_graph *tb = new_body(b), *eb = new_body(b);
    outer(tb, "k2");
    node(tb, "Identity", "k2", "t_out");
    output_typed(tb, "t_out", NN_DTYPE_FLOAT, shp(1, 2, 0, 0, 0));
    static const float z[2] = {-1, -2};
    constant(eb, "z", NN_DTYPE_FLOAT, shp(1, 2, 0, 0, 0), z);
    node(eb, "Identity", "z", "e_out");
    output_typed(eb, "e_out", NN_DTYPE_FLOAT, shp(1, 2, 0, 0, 0));
    nn_node_id nif = node(b, "If", "flag", "picked");
    attr_g(b, nif, "then_branch", tb);
    attr_g(b, nif, "else_branch", eb);
    output(b, "c_out");
    output(b, "picked");
    nn_node_id n = node(g, "Loop", "M,", "stack");
    attr_g(g, n, "body", b);
    output(g, "stack");
    CHECK_EQ_INT(g_diag.status, NN_OK);
    int64_t m = 3;
    float k[2] = {4, 5};
    uint8_t flag = 1;
    nn_value in[3] = {nn_value_make(NN_DTYPE_INT64, shp(0, 0, 0, 0, 0), &m),
                      nn_value_make(NN_DTYPE_FLOAT, shp(1, 2, 0, 0, 0), k),
                      nn_value_make(NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0), &flag)};
    run_result r = run_graph(g, in, 3);
    CHECK_EQ_INT(r.run, NN_OK);
    const float *y = out_f32(&r, 0);
    CHECK(shape_is(nn_exec_output(r.x, 0), 2, 3, 2, 0, 0));
    if (y) for (int t = 0; t < 3; t++) { CHECK_NEAR(y[2 * t], 4, 0); CHECK_NEAR(y[2 * t + 1], 5, 0); }
    nn_exec_destroy(r.x);
    nn_graph_destroy(g);
}

/* Body outputs that are not computed in the body are copied out: a body
   input (passthrough), an outer-scope value and a body initializer.  The
   outer value here has zero elements and no data pointer. */
static void test_loop_passthrough_outputs(void) {
    nn_graph *g = new_graph(17);
    input(g, "M", NN_DTYPE_INT64, shp(0, 0, 0, 0, 0));
    input(g, "v0", NN_DTYPE_FLOAT, shp(1, 2, 0, 0, 0));
    input(g, "empty", NN_DTYPE_FLOAT, shp(2, 0, 3, 0, 0));
    nn_graph *b = new_body(g);
    input(b, "i", NN_DTYPE_INT64, shp(0, 0, 0, 0, 0));
    input(b, "c_in", NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0));
    input(b, "v_in", NN_DTYPE_FLOAT, shp(1, 2, 0, 0, 0));
    outer(b, "empty");
    static const float k[2] = {3, 4};
    constant(b, "kb", NN_DTYPE_FLOAT, shp(1, 2, 0, 0, 0), k);
    output(b, "c_in");   /* body input as condition output */
    output(b, "v_in");   /* body input as loop-carried output */
    output(b, "empty");  /* outer value as scan output */
    output(b, "kb");     /* initializer as scan output */
    nn_node_id n = node(g, "Loop", "M,,v0", "v_final,e_stack,k_stack");
    attr_g(g, n, "body", b);
    output(g, "v_final");
    output(g, "e_stack");
    output(g, "k_stack");
    CHECK_EQ_INT(g_diag.status, NN_OK);
    int64_t m = 3;
    float v0[2] = {1, 2};
    nn_value in[3] = {nn_value_make(NN_DTYPE_INT64, shp(0, 0, 0, 0, 0), &m),
                      nn_value_make(NN_DTYPE_FLOAT, shp(1, 2, 0, 0, 0), v0),
                      nn_value_make(NN_DTYPE_FLOAT, shp(2, 0, 3, 0, 0), NULL)};
    run_result r = run_graph(g, in, 3);
    CHECK_EQ_INT(r.run, NN_OK);
    if (r.run == NN_OK) {
        const float *vf = out_f32(&r, 0), *ks = out_f32(&r, 2);
        CHECK(vf && vf[0] == 1 && vf[1] == 2);
        CHECK(shape_is(nn_exec_output(r.x, 1), 3, 3, 0, 3, 0));
        CHECK(shape_is(nn_exec_output(r.x, 2), 2, 3, 2, 0, 0));
        for (int t = 0; t < 3 && ks; t++) CHECK(ks[2 * t] == 3 && ks[2 * t + 1] == 4);
    }
    nn_exec_destroy(r.x);
    nn_graph_destroy(g);
}

/* ---- Scan -------------------------------------------------------------------------------------- */

/* Scan-9+: state s (1,1,H4), scan input x scanned on in_axis; body
   s_out = s_in + x_t, scan output Identity(s_out). */
static nn_graph *scan9_graph(int64_t in_axis, int64_t in_dir, int64_t out_axis, int64_t out_dir, int steps) {
    nn_graph *g = new_graph(16);
    input(g, "s0", NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0));
    if (in_axis == 0) input(g, "x", NN_DTYPE_FLOAT, shp(4, steps, 1, 1, H4));
    else input(g, "x", NN_DTYPE_FLOAT, shp(4, 1, steps, 1, H4));
    nn_graph *b = new_body(g);
    input(b, "s_in", NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0));
    input(b, "x_t", NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0));
    adder(b, "x_t", "s_in", "s_out", H4);
    node(b, "Identity", "s_out", "y_t");
    output_typed(b, "s_out", NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0));
    output_typed(b, "y_t", NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0));
    nn_node_id n = node(g, "Scan", "s0,x", "s_final,y");
    attr_g(g, n, "body", b);
    attr_i(g, n, "num_scan_inputs", 1);
    attr_ints(g, n, "scan_input_axes", &in_axis, 1);
    attr_ints(g, n, "scan_input_directions", &in_dir, 1);
    attr_ints(g, n, "scan_output_axes", &out_axis, 1);
    attr_ints(g, n, "scan_output_directions", &out_dir, 1);
    output(g, "s_final");
    output(g, "y");
    return g;
}

static void test_scan9(void) {
    enum { S = 5 };
    float s0[H4] = {1, 0, -1, 2}, x[S * H4];
    for (int i = 0; i < S * H4; i++) x[i] = (float)(i % 7) - 2.5f;
    for (int mode = 0; mode < 16; mode++) {
        int64_t in_axis = mode & 1, in_dir = (mode >> 1) & 1, out_axis = (mode >> 2) & 1, out_dir = (mode >> 3) & 1;
        nn_graph *g = scan9_graph(in_axis, in_dir, out_axis, out_dir, S);
        nn_value in[2] = {nn_value_make(NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0), s0),
                          nn_value_make(NN_DTYPE_FLOAT, in_axis ? shp(4, 1, S, 1, H4) : shp(4, S, 1, 1, H4), x)};
        run_result r = run_graph(g, in, 2);
        CHECK_EQ_INT(r.run, NN_OK);
        const nn_value *sf = r.x ? nn_exec_output(r.x, 0) : NULL, *y = r.x ? nn_exec_output(r.x, 1) : NULL;
        CHECK(shape_is(y, 4, out_axis ? 1 : S, out_axis ? S : 1, 1, H4));
        if (r.run == NN_OK && sf && y) {
            float acc[H4];
            memcpy(acc, s0, sizeof acc);
            for (int t = 0; t < S; t++) {
                int src = in_dir ? S - 1 - t : t, dst = out_dir ? S - 1 - t : t;
                for (int j = 0; j < H4; j++) {
                    acc[j] += x[src * H4 + j];
                    CHECK_NEAR(((const float *)y->data)[dst * H4 + j], acc[j], 1e-5);
                }
            }
            for (int j = 0; j < H4; j++) CHECK_NEAR(((const float *)sf->data)[j], acc[j], 1e-5);
        }
        nn_exec_destroy(r.x);
        nn_graph_destroy(g);
    }
}

/* Scan-8: batch axis, sequence_lens (shorter rows keep their state and
   leave zero rows in the scan output), a reversed scan input. */
static void test_scan8(void) {
    enum { B = 3, S = 4 };
    nn_graph *g = new_graph(8);
    input(g, "lens", NN_DTYPE_INT64, shp(1, B, 0, 0, 0));
    input(g, "s0", NN_DTYPE_FLOAT, shp(4, B, 1, 1, H4));
    nn_shape xs = shp(4, B, S, 1, 1);
    xs.rank = 5;
    xs.dims[4] = H4;
    input(g, "x", NN_DTYPE_FLOAT, xs);
    nn_graph *b = new_body(g);
    input(b, "s_in", NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0));
    input(b, "x_t", NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0));
    adder(b, "x_t", "s_in", "s_out", H4);
    node(b, "Identity", "s_out", "y_t");
    output(b, "s_out");
    output(b, "y_t");
    nn_node_id n = node(g, "Scan", "lens,s0,x", "s_final,y");
    attr_g(g, n, "body", b);
    attr_i(g, n, "num_scan_inputs", 1);
    int64_t dir = 1;
    attr_ints(g, n, "directions", &dir, 1);
    output(g, "s_final");
    output(g, "y");
    CHECK_EQ_INT(g_diag.status, NN_OK);
    int64_t lens[B] = {4, 2, 0};
    float s0[B * H4], x[B * S * H4];
    for (int i = 0; i < B * H4; i++) s0[i] = (float)i;
    for (int i = 0; i < B * S * H4; i++) x[i] = (float)((i * 5) % 11) - 5;
    nn_value in[3] = {nn_value_make(NN_DTYPE_INT64, shp(1, B, 0, 0, 0), lens),
                      nn_value_make(NN_DTYPE_FLOAT, shp(4, B, 1, 1, H4), s0), nn_value_make(NN_DTYPE_FLOAT, xs, x)};
    run_result r = run_graph(g, in, 3);
    CHECK_EQ_INT(r.run, NN_OK);
    const nn_value *sf = r.x ? nn_exec_output(r.x, 0) : NULL, *y = r.x ? nn_exec_output(r.x, 1) : NULL;
    CHECK(shape_is(sf, 4, B, 1, 1, H4));
    CHECK(y && y->shape.rank == 5 && y->shape.dims[0] == B && y->shape.dims[1] == S);
    if (r.run == NN_OK && sf && y) {
        for (int bb = 0; bb < B; bb++) {
            float acc[H4];
            for (int j = 0; j < H4; j++) acc[j] = s0[bb * H4 + j];
            for (int t = 0; t < S; t++) {
                int src = (int)lens[bb] - 1 - t; /* reversed within the row's own length */
                for (int j = 0; j < H4; j++) {
                    float want = 0;
                    if (t < lens[bb]) { acc[j] += x[(bb * S + src) * H4 + j]; want = acc[j]; }
                    CHECK_NEAR(((const float *)y->data)[(bb * S + t) * H4 + j], want, 1e-5);
                }
            }
            for (int j = 0; j < H4; j++) CHECK_NEAR(((const float *)sf->data)[bb * H4 + j], acc[j], 1e-5);
        }
    }
    nn_exec_destroy(r.x);
    nn_graph_destroy(g);
}

/* ---- recurrent layers: a naive reference ---------------------------------------------------- */

typedef struct rnn_case {
    int gates;                /* 1 RNN, 3 GRU, 4 LSTM */
    const char *direction;
    int layout, lbr, input_forget, peep, bias, init, lens;
    float clip;               /* 0: none */
    const char *const *acts;  /* NULL: defaults */
    uint32_t act_count;
    const float *alpha, *beta;
    uint32_t alpha_count, beta_count;
    nn_dtype dtype;
} rnn_case;

static double ref_act(const char *name, double x, double a, double b) {
    if (!strcmp(name, "Relu")) return x > 0 ? x : 0;
    if (!strcmp(name, "Tanh")) return tanh(x);
    if (!strcmp(name, "Sigmoid")) return 1 / (1 + exp(-x));
    if (!strcmp(name, "Affine")) return a * x + b;
    if (!strcmp(name, "LeakyRelu")) return x >= 0 ? x : a * x;
    if (!strcmp(name, "ThresholdedRelu")) return x > a ? x : 0;
    if (!strcmp(name, "ScaledTanh")) return a * tanh(b * x);
    if (!strcmp(name, "HardSigmoid")) { double v = a * x + b; return v < 0 ? 0 : v > 1 ? 1 : v; }
    if (!strcmp(name, "Elu")) return x >= 0 ? x : a * (exp(x) - 1);
    if (!strcmp(name, "Softsign")) return x / (1 + fabs(x));
    if (!strcmp(name, "Softplus")) return log(1 + exp(x));
    return NAN;
}

static double ref_clip(double x, float clip) { return clip > 0 ? (x < -clip ? -clip : x > clip ? clip : x) : x; }

/* Reference: dims S, B, I, H, D; tensors in the layouts of the spec with
   layout 0 (the caller transposes for layout 1). */
static void ref_rnn(const rnn_case *k, int S, int B, int I, int H, int D, const float *X, const float *W,
                    const float *R, const float *Bias, const int32_t *lens, const float *h0, const float *c0,
                    const float *P, double *Y, double *Yh, double *Yc) {
    static const char *const defaults[3][3] = {{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
    int G = k->gates, nf = G == 4 ? 3 : G == 3 ? 2 : 1;
    for (int d = 0; d < D; d++) {
        /* Listed functions in order; alpha/beta go, in list order, to the
           functions that take them. */
        const char *listed[6];
        double la[6], lb[6];
        uint32_t nl = k->acts ? k->act_count : (uint32_t)nf, ai = 0, bi = 0;
        for (uint32_t q = 0; q < nl; q++) {
            const char *f = listed[q] = k->acts ? k->acts[q] : defaults[nf - 1][q];
            int ha = !strcmp(f, "Affine") || !strcmp(f, "LeakyRelu") || !strcmp(f, "ThresholdedRelu") ||
                     !strcmp(f, "ScaledTanh") || !strcmp(f, "HardSigmoid") || !strcmp(f, "Elu");
            int hb = !strcmp(f, "Affine") || !strcmp(f, "ScaledTanh") || !strcmp(f, "HardSigmoid");
            la[q] = ha && ai < k->alpha_count ? k->alpha[ai++] : !strcmp(f, "LeakyRelu") ? 0.01 : !strcmp(f, "HardSigmoid") ? 0.2 : 1.0;
            lb[q] = hb && bi < k->beta_count ? k->beta[bi++] : !strcmp(f, "HardSigmoid") ? 0.5 : 0.0;
        }
        const char *fn[3];
        double al[3], be[3];
        for (int q = 0; q < nf; q++) {
            uint32_t idx = nl == (uint32_t)nf ? (uint32_t)q : (uint32_t)(d * nf + q);
            fn[q] = listed[idx];
            al[q] = la[idx];
            be[q] = lb[idx];
            if (!strcmp(fn[q], "sigmoid")) fn[q] = "Sigmoid"; /* names are case-insensitive */
        }
        int rev = strcmp(k->direction, "reverse") == 0 || d == 1;
        const float *w = W + (size_t)d * G * H * I, *r = R + (size_t)d * G * H * H;
        const float *wb = Bias ? Bias + (size_t)d * 2 * G * H : NULL, *rb = wb ? wb + G * H : NULL;
        const float *p = P ? P + (size_t)d * 3 * H : NULL;
        for (int b = 0; b < B; b++) {
            double h[64], c[64], nh[64], g4[4][64];
            int len = lens ? lens[b] : S;
            for (int j = 0; j < H; j++) {
                h[j] = h0 ? h0[((size_t)d * B + b) * H + j] : 0;
                c[j] = c0 ? c0[((size_t)d * B + b) * H + j] : 0;
            }
            for (int s = 0; s < len; s++) {
                int t = rev ? len - 1 - s : s;
                const float *x = X + ((size_t)t * B + b) * I;
                for (int q = 0; q < G; q++)
                    for (int j = 0; j < H; j++) {
                        int u = q * H + j;
                        double xs = 0, hs = 0;
                        for (int i = 0; i < I; i++) xs += (double)x[i] * w[(size_t)u * I + i];
                        for (int i = 0; i < H; i++) hs += h[i] * r[(size_t)u * H + i];
                        g4[q][j] = xs + (wb ? wb[u] : 0) + hs + (rb ? rb[u] : 0);
                    }
                if (G == 1) {
                    for (int j = 0; j < H; j++) nh[j] = ref_act(fn[0], ref_clip(g4[0][j], k->clip), al[0], be[0]);
                } else if (G == 3) {
                    for (int j = 0; j < H; j++) {
                        double z = ref_act(fn[0], ref_clip(g4[0][j], k->clip), al[0], be[0]);
                        double rr = ref_act(fn[0], ref_clip(g4[1][j], k->clip), al[0], be[0]);
                        double pre;
                        int u = 2 * H + j;
                        double xs = 0;
                        for (int i = 0; i < I; i++) xs += (double)x[i] * w[(size_t)u * I + i];
                        xs += wb ? wb[u] : 0;
                        if (k->lbr) {
                            double hr = 0;
                            for (int i = 0; i < H; i++) hr += h[i] * r[(size_t)u * H + i];
                            pre = xs + rr * (hr + (rb ? rb[u] : 0));
                        } else {
                            double hr = 0;
                            for (int i = 0; i < H; i++) {
                                double zz = ref_act(fn[0], ref_clip(g4[1][i], k->clip), al[0], be[0]);
                                hr += zz * h[i] * r[(size_t)u * H + i];
                            }
                            pre = xs + hr + (rb ? rb[u] : 0);
                        }
                        double hh = ref_act(fn[1], ref_clip(pre, k->clip), al[1], be[1]);
                        nh[j] = (1 - z) * hh + z * h[j];
                    }
                } else {
                    for (int j = 0; j < H; j++) {
                        double i_ = ref_act(fn[0], ref_clip(g4[0][j] + (p ? p[j] * c[j] : 0), k->clip), al[0], be[0]);
                        double f_ = k->input_forget ? 1 - i_
                                                    : ref_act(fn[0], ref_clip(g4[2][j] + (p ? p[2 * H + j] * c[j] : 0), k->clip), al[0], be[0]);
                        double c_ = ref_act(fn[1], ref_clip(g4[3][j], k->clip), al[1], be[1]);
                        double C = f_ * c[j] + i_ * c_;
                        double o_ = ref_act(fn[0], ref_clip(g4[1][j] + (p ? p[H + j] * C : 0), k->clip), al[0], be[0]);
                        nh[j] = o_ * ref_act(fn[2], C, al[2], be[2]);
                        c[j] = C;
                    }
                }
                for (int j = 0; j < H; j++) {
                    h[j] = nh[j];
                    Y[(((size_t)t * D + d) * B + b) * H + j] = h[j];
                }
            }
            for (int j = 0; j < H; j++) {
                Yh[((size_t)d * B + b) * H + j] = h[j];
                if (Yc) Yc[((size_t)d * B + b) * H + j] = c[j];
            }
        }
    }
}

static uint32_t g_seed = 12345;
static float frand(void) {
    g_seed = g_seed * 1664525u + 1013904223u;
    return ((float)(g_seed >> 8) / 16777216.0f) * 2.0f - 1.0f;
}

/* Stores float data as dtype t into a new buffer. */
static void *as_dtype(const float *src, size_t n, nn_dtype t) {
    size_t es = nn_dtype_size(t);
    void *p = malloc(n * es + 1);
    for (size_t i = 0; i < n; i++) {
        if (t == NN_DTYPE_FLOAT) ((float *)p)[i] = src[i];
        else if (t == NN_DTYPE_DOUBLE) ((double *)p)[i] = src[i];
        else ((uint16_t *)p)[i] = nn_f32_to_f16(src[i]);
    }
    return p;
}

static double from_dtype(const void *p, size_t i, nn_dtype t) {
    if (t == NN_DTYPE_FLOAT) return ((const float *)p)[i];
    if (t == NN_DTYPE_DOUBLE) return ((const double *)p)[i];
    return nn_f16_to_f32(((const uint16_t *)p)[i]);
}

/* Runs one RNN/GRU/LSTM node (inputs fed at run time) against ref_rnn. */
static void check_rnn_case(const rnn_case *k, int S, int B, int I, int H) {
    static const char *const ops[5] = {"", "RNN", "", "GRU", "LSTM"};
    int G = k->gates, D = strcmp(k->direction, "bidirectional") == 0 ? 2 : 1;
    size_t nx = (size_t)S * B * I, nw = (size_t)D * G * H * I, nr = (size_t)D * G * H * H, nb = (size_t)D * 2 * G * H;
    size_t ns = (size_t)D * B * H, np = (size_t)D * 3 * H, ny = (size_t)S * D * B * H;
    float *X = (float *)malloc(nx * 4), *W = (float *)malloc(nw * 4), *R = (float *)malloc(nr * 4);
    float *Bi = (float *)malloc(nb * 4), *h0 = (float *)malloc(ns * 4), *c0 = (float *)malloc(ns * 4);
    float *P = (float *)malloc(np * 4);
    int32_t lens[16];
    for (size_t i = 0; i < nx; i++) X[i] = frand();
    for (size_t i = 0; i < nw; i++) W[i] = frand() * 0.6f;
    for (size_t i = 0; i < nr; i++) R[i] = frand() * 0.6f;
    for (size_t i = 0; i < nb; i++) Bi[i] = frand() * 0.5f;
    for (size_t i = 0; i < ns; i++) { h0[i] = frand(); c0[i] = frand(); }
    for (size_t i = 0; i < np; i++) P[i] = frand() * 0.5f;
    for (int b = 0; b < B; b++) lens[b] = k->lens ? (S - b % (S + 1)) : S; /* S, S-1, ..., 0 */
    double *Y = (double *)calloc(ny, sizeof(double)), *Yh = (double *)calloc(ns, sizeof(double)),
           *Yc = (double *)calloc(ns, sizeof(double));
    /* The reference reads values rounded to the run's dtype. */
    if (k->dtype == NN_DTYPE_FLOAT16) {
        float *arrs[7] = {X, W, R, Bi, h0, c0, P};
        size_t cnt[7] = {nx, nw, nr, nb, ns, ns, np};
        for (int a = 0; a < 7; a++)
            for (size_t i = 0; i < cnt[a]; i++) arrs[a][i] = nn_f16_to_f32(nn_f32_to_f16(arrs[a][i]));
    }
    ref_rnn(k, S, B, I, H, D, X, W, R, k->bias ? Bi : NULL, k->lens ? lens : NULL, k->init ? h0 : NULL,
            k->init ? c0 : NULL, k->peep ? P : NULL, Y, Yh, G == 4 ? Yc : NULL);

    /* Layout 1 feeds (batch, seq, input) and (batch, dirs, hidden). */
    float *Xl = (float *)malloc(nx * 4), *h0l = (float *)malloc(ns * 4), *c0l = (float *)malloc(ns * 4);
    for (int t = 0; t < S; t++)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < I; i++)
                Xl[k->layout ? ((size_t)b * S + t) * I + i : ((size_t)t * B + b) * I + i] = X[((size_t)t * B + b) * I + i];
    for (int d = 0; d < D; d++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++) {
                size_t src = ((size_t)d * B + b) * H + j, dst = k->layout ? ((size_t)b * D + d) * H + j : src;
                h0l[dst] = h0[src];
                c0l[dst] = c0[src];
            }

    nn_graph *g = new_graph(k->layout ? 14 : 13);
    nn_dtype t = k->dtype;
    input(g, "X", t, k->layout ? shp(3, B, S, I, 0) : shp(3, S, B, I, 0));
    input(g, "W", t, shp(3, D, G * H, I, 0));
    input(g, "R", t, shp(3, D, G * H, H, 0));
    input(g, "B", t, shp(2, D, 2 * G * H, 0, 0));
    input(g, "L", NN_DTYPE_INT32, shp(1, B, 0, 0, 0));
    input(g, "h0", t, k->layout ? shp(3, B, D, H, 0) : shp(3, D, B, H, 0));
    input(g, "c0", t, k->layout ? shp(3, B, D, H, 0) : shp(3, D, B, H, 0));
    input(g, "P", t, shp(2, D, 3 * H, 0, 0));
    char ins[96];
    snprintf(ins, sizeof ins, "X,W,R,%s,%s,%s%s%s", k->bias ? "B" : "", k->lens ? "L" : "", k->init ? "h0" : "",
             G == 4 ? (k->init ? ",c0" : ",") : "", G == 4 ? (k->peep ? ",P" : ",") : "");
    nn_node_id n = node(g, ops[G], ins, G == 4 ? "Y,Yh,Yc" : "Y,Yh");
    attr_i(g, n, "hidden_size", H);
    attr_s(g, n, "direction", k->direction);
    if (k->layout) attr_i(g, n, "layout", 1);
    if (k->clip > 0) attr_f(g, n, "clip", k->clip);
    if (G == 3) attr_i(g, n, "linear_before_reset", k->lbr);
    if (G == 4 && k->input_forget) attr_i(g, n, "input_forget", 1);
    if (k->acts) attr_strings(g, n, "activations", k->acts, k->act_count);
    if (k->alpha) attr_floats(g, n, "activation_alpha", k->alpha, k->alpha_count);
    if (k->beta) attr_floats(g, n, "activation_beta", k->beta, k->beta_count);
    output(g, "Y");
    output(g, "Yh");
    if (G == 4) output(g, "Yc");
    void *bufs[8] = {as_dtype(Xl, nx, t), as_dtype(W, nw, t), as_dtype(R, nr, t), as_dtype(Bi, nb, t), lens,
                     as_dtype(h0l, ns, t), as_dtype(c0l, ns, t), as_dtype(P, np, t)};
    nn_value in[8];
    for (uint32_t i = 0; i < g->input_count; i++) {
        const nn_tensor *tt = nn_graph_tensor(g, g->inputs[i]);
        in[i] = nn_value_make(tt->dtype, tt->shape, bufs[i]);
    }
    run_result r = run_graph(g, in, g->input_count);
    CHECK_EQ_INT(r.run, NN_OK);
    double tol = t == NN_DTYPE_FLOAT16 ? 2e-2 : 2e-5;
    if (r.run == NN_OK) {
        const nn_value *y = nn_exec_output(r.x, 0), *yh = nn_exec_output(r.x, 1);
        const nn_value *yc = G == 4 ? nn_exec_output(r.x, 2) : NULL;
        CHECK(y->dtype == t && yh->dtype == t);
        CHECK(k->layout ? shape_is(y, 4, B, S, D, H) : shape_is(y, 4, S, D, B, H));
        CHECK(k->layout ? shape_is(yh, 3, B, D, H, 0) : shape_is(yh, 3, D, B, H, 0));
        int bad = 0;
        for (int s = 0; s < S; s++)
            for (int d = 0; d < D; d++)
                for (int b = 0; b < B; b++)
                    for (int j = 0; j < H; j++) {
                        size_t ri = (((size_t)s * D + d) * B + b) * H + j;
                        size_t oi = k->layout ? (((size_t)b * S + s) * D + d) * H + j : ri;
                        if (fabs(from_dtype(y->data, oi, t) - Y[ri]) > tol) bad++;
                    }
        for (int d = 0; d < D; d++)
            for (int b = 0; b < B; b++)
                for (int j = 0; j < H; j++) {
                    size_t ri = ((size_t)d * B + b) * H + j, oi = k->layout ? ((size_t)b * D + d) * H + j : ri;
                    if (fabs(from_dtype(yh->data, oi, t) - Yh[ri]) > tol) bad++;
                    if (yc && fabs(from_dtype(yc->data, oi, t) - Yc[ri]) > tol) bad++;
                }
        CHECK_EQ_INT(bad, 0);
        if (bad)
            fprintf(stderr, "     case %s dir=%s layout=%d lbr=%d if=%d peep=%d clip=%g lens=%d dtype=%s\n", ops[G],
                    k->direction, k->layout, k->lbr, k->input_forget, k->peep, (double)k->clip, k->lens,
                    nn_dtype_name(t));
    }
    nn_exec_destroy(r.x);
    nn_graph_destroy(g);
    for (int i = 0; i < 8; i++) if (i != 4) free(bufs[i]);
    free(X); free(W); free(R); free(Bi); free(h0); free(c0); free(P); free(Xl); free(h0l); free(c0l);
    free(Y); free(Yh); free(Yc);
}

static void test_recurrent_matrix(void) {
    static const char *const dirs[3] = {"forward", "reverse", "bidirectional"};
    for (int G = 1; G <= 4; G++) {
        if (G == 2) continue;
        for (int di = 0; di < 3; di++)
            for (int variant = 0; variant < 4; variant++) {
                rnn_case k;
                memset(&k, 0, sizeof k);
                k.gates = G;
                k.direction = dirs[di];
                k.dtype = NN_DTYPE_FLOAT;
                k.layout = variant & 1;
                k.bias = variant != 0;
                k.init = variant >= 2;
                k.lens = variant == 3;
                k.lbr = variant & 1;
                k.peep = variant >= 2;
                k.input_forget = variant == 3;
                k.clip = variant == 2 ? 0.7f : 0;
                /* H = 11 and I = 9 exercise the dot product's 8-wide body and tail. */
                check_rnn_case(&k, 4, 3, 9, 11);
            }
    }
}

static void test_recurrent_activations(void) {
    static const char *const lstm_acts[6] = {"HardSigmoid", "LeakyRelu", "Softsign", "sigmoid", "Elu", "ScaledTanh"};
    static const float alpha[5] = {0.3f, 0.05f, 0.9f, 1.5f, 0.25f}, beta[3] = {0.4f, 0.8f, 0.6f};
    rnn_case k;
    memset(&k, 0, sizeof k);
    k.gates = 4;
    k.direction = "bidirectional";
    k.dtype = NN_DTYPE_FLOAT;
    k.bias = k.init = 1;
    k.acts = lstm_acts;
    k.act_count = 6;
    k.alpha = alpha; k.alpha_count = 5;
    k.beta = beta; k.beta_count = 3;
    check_rnn_case(&k, 3, 2, 5, 6);
    static const char *const gru_acts[2] = {"Softplus", "ThresholdedRelu"};
    static const float ga[1] = {0.1f};
    memset(&k, 0, sizeof k);
    k.gates = 3;
    k.direction = "bidirectional"; /* one list for both directions */
    k.dtype = NN_DTYPE_FLOAT;
    k.acts = gru_acts; k.act_count = 2;
    k.alpha = ga; k.alpha_count = 1;
    check_rnn_case(&k, 3, 2, 5, 6);
    static const char *const rnn_acts[1] = {"Relu"};
    memset(&k, 0, sizeof k);
    k.gates = 1;
    k.direction = "reverse";
    k.dtype = NN_DTYPE_FLOAT;
    k.acts = rnn_acts; k.act_count = 1;
    k.bias = 1;
    check_rnn_case(&k, 5, 2, 3, 4);
}

static void test_recurrent_other_dtypes(void) {
    rnn_case k;
    memset(&k, 0, sizeof k);
    k.gates = 4;
    k.direction = "forward";
    k.bias = k.init = k.peep = 1;
    k.dtype = NN_DTYPE_FLOAT16;
    check_rnn_case(&k, 3, 2, 4, 5);
    k.dtype = NN_DTYPE_DOUBLE;
    k.gates = 3;
    check_rnn_case(&k, 3, 2, 4, 5);
}

/* Unsupported or undefined attribute values are refused before running. */
static void test_recurrent_refusals(void) {
    struct { const char *attr; int kind; int opset; nn_status want; } cases[] = {
        {"activations=Swish", 0, 17, NN_ERR_UNSUPPORTED},
        {"activations=ScaledTanh", 0, 17, NN_ERR_UNSUPPORTED}, /* needs alpha and beta */
        {"layout=1", 0, 13, NN_ERR_INVALID},
        {"direction=sideways", 0, 17, NN_ERR_INVALID},
        {"clip=-1", 0, 17, NN_ERR_INVALID},
        {"foo=1", 0, 17, NN_ERR_UNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nn_graph *g = new_graph(cases[i].opset);
        input(g, "X", NN_DTYPE_FLOAT, shp(3, 2, 1, 3, 0));
        input(g, "W", NN_DTYPE_FLOAT, shp(3, 1, 4, 3, 0));
        input(g, "R", NN_DTYPE_FLOAT, shp(3, 1, 4, 4, 0));
        nn_node_id n = node(g, "RNN", "X,W,R", ",Yh");
        attr_i(g, n, "hidden_size", 4);
        const char *a = cases[i].attr;
        if (!strncmp(a, "activations=", 12)) { const char *v = a + 12; attr_strings(g, n, "activations", &v, 1); }
        else if (!strcmp(a, "layout=1")) attr_i(g, n, "layout", 1);
        else if (!strncmp(a, "direction=", 10)) attr_s(g, n, "direction", a + 10);
        else if (!strcmp(a, "clip=-1")) attr_f(g, n, "clip", -1);
        else attr_i(g, n, "foo", 1);
        output(g, "Yh");
        nn_exec *x = NULL;
        memset(&g_diag, 0, sizeof g_diag);
        CHECK_EQ_INT(nn_exec_create(g, NULL, &x, &g_diag), cases[i].want);
        nn_exec_destroy(x);
        nn_graph_destroy(g);
    }
}

/* The shapes of the ONNX test "test_lstm_batchwise": layout 1, Y and Y_h. */
static void test_recurrent_infer(void) {
    nn_graph *g = new_graph(22);
    input(g, "X", NN_DTYPE_FLOAT, shp(3, 3, 1, 2, 0));
    input(g, "W", NN_DTYPE_FLOAT, shp(3, 1, 28, 2, 0));
    input(g, "R", NN_DTYPE_FLOAT, shp(3, 1, 28, 7, 0));
    nn_node_id n = node(g, "LSTM", "X,W,R", "Y,Y_h");
    attr_i(g, n, "hidden_size", 7);
    attr_i(g, n, "layout", 1);
    output(g, "Y");
    output(g, "Y_h");
    CHECK_EQ_INT(nn_graph_infer_shapes(g, NULL, 0, &g_diag), NN_OK);
    nn_shape y = nn_graph_tensor(g, nn_graph_find_tensor(g, "Y"))->shape;
    nn_shape yh = nn_graph_tensor(g, nn_graph_find_tensor(g, "Y_h"))->shape;
    nn_shape wy = shp(4, 3, 1, 1, 7), wyh = shp(3, 3, 1, 7, 0);
    CHECK(nn_shape_equal(&y, &wy));
    CHECK(nn_shape_equal(&yh, &wyh));
    nn_graph_destroy(g);
}

/* The gate matmuls split across threads give bit-identical results: each
   hidden unit is computed whole by one thread. */
static void test_recurrent_threads(void) {
    enum { S = 3, B = 8, I = 64, H = 64, G = 4 };
    nn_graph *g = new_graph(17);
    input(g, "X", NN_DTYPE_FLOAT, shp(3, S, B, I, 0));
    input(g, "W", NN_DTYPE_FLOAT, shp(3, 2, G * H, I, 0));
    input(g, "R", NN_DTYPE_FLOAT, shp(3, 2, G * H, H, 0));
    nn_node_id n = node(g, "LSTM", "X,W,R", "Y,Yh,Yc");
    attr_s(g, n, "direction", "bidirectional");
    output(g, "Y");
    output(g, "Yh");
    output(g, "Yc");
    static float x[S * B * I], w[2 * G * H * I], r[2 * G * H * H];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = frand();
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) w[i] = frand() * 0.2f;
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) r[i] = frand() * 0.2f;
    nn_value in[3] = {nn_value_make(NN_DTYPE_FLOAT, shp(3, S, B, I, 0), x),
                      nn_value_make(NN_DTYPE_FLOAT, shp(3, 2, G * H, I, 0), w),
                      nn_value_make(NN_DTYPE_FLOAT, shp(3, 2, G * H, H, 0), r)};
    nn_exec *xs[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        nn_exec_desc xd;
        memset(&xd, 0, sizeof xd);
        xd.threads = k ? 2 : 1;
        CHECK_EQ_INT(nn_exec_create(g, &xd, &xs[k], &g_diag), NN_OK);
        for (uint32_t i = 0; i < 3 && xs[k]; i++) nn_exec_set_input(xs[k], i, &in[i], &g_diag);
        if (xs[k]) CHECK_EQ_INT(nn_exec_run(xs[k], &g_diag), NN_OK);
    }
    for (uint32_t o = 0; o < 3 && xs[0] && xs[1]; o++) {
        const nn_value *a = nn_exec_output(xs[0], o), *b = nn_exec_output(xs[1], o);
        CHECK(a->bytes == b->bytes && a->bytes > 0 && memcmp(a->data, b->data, a->bytes) == 0);
    }
    nn_exec_destroy(xs[0]);
    nn_exec_destroy(xs[1]);
    nn_graph_destroy(g);
}

/* ---- allocation failures --------------------------------------------------------------------- */

typedef struct counting { long live, count, fail_at; } counting;

static void *count_alloc(void *user, size_t bytes) {
    counting *c = (counting *)user;
    if (c->fail_at >= 0 && c->count++ == c->fail_at) return NULL;
    void *p = malloc(bytes);
    if (p) c->live++;
    return p;
}
static void count_free(void *user, void *p) {
    counting *c = (counting *)user;
    if (p) c->live--;
    free(p);
}

/* Every single failing allocation of a run through Loop -> If -> RNN gives
   a clean NN_ERR_NOMEM and frees everything. */
static void test_alloc_failures(void) {
    float v0[H4] = {1, 2, 3, 4}, step[H4] = {1, 1, 1, 1};
    nn_graph *g = loop_graph(0, 1);
    int64_t m = 3;
    uint8_t cout = 1;
    nn_value in[4] = {nn_value_make(NN_DTYPE_INT64, shp(0, 0, 0, 0, 0), &m),
                      nn_value_make(NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0), v0),
                      nn_value_make(NN_DTYPE_FLOAT, shp(3, 1, 1, H4, 0), step),
                      nn_value_make(NN_DTYPE_BOOL, shp(0, 0, 0, 0, 0), &cout)};
    int clean = 1, failures_seen = 0;
    for (long fail = 0; fail < 2000; fail++) {
        counting cnt = {0, 0, -1};
        nn_exec_desc xd;
        memset(&xd, 0, sizeof xd);
        xd.alloc.alloc = count_alloc;
        xd.alloc.free = count_free;
        xd.alloc.user = &cnt;
        nn_exec *x = NULL;
        nn_diag d;
        memset(&d, 0, sizeof d);
        nn_status st = nn_exec_create(g, &xd, &x, &d);
        for (uint32_t i = 0; i < 4 && st == NN_OK; i++) st = nn_exec_set_input(x, i, &in[i], &d);
        cnt.fail_at = cnt.count + fail; /* fail the fail-th allocation of the run */
        if (st == NN_OK) st = nn_exec_run(x, &d);
        if (st == NN_OK) {
            check_loop_result(&(run_result){NN_OK, NN_OK, x}, 3, v0, step);
            nn_exec_destroy(x);
            CHECK_EQ_INT(cnt.live, 0);
            break; /* past the last allocation */
        }
        failures_seen++;
        if (st != NN_ERR_NOMEM) { clean = 0; fprintf(stderr, "     fail %ld: status %d %s\n", fail, st, d.message); }
        nn_exec_destroy(x);
        if (cnt.live != 0) { clean = 0; fprintf(stderr, "     fail %ld: %ld blocks leaked\n", fail, cnt.live); }
    }
    CHECK(clean);
    CHECK(failures_seen > 10);
    nn_graph_destroy(g);
}

int main(void) {
    test_if_branches();
    test_if_declared_shape_mismatch();
    test_if_different_shapes();
    test_loop_for();
    test_loop_zero_and_do_while();
    test_loop_limit();
    test_loop_untyped_carried();
    test_nested_scopes();
    test_loop_passthrough_outputs();
    test_scan9();
    test_scan8();
    test_recurrent_matrix();
    test_recurrent_activations();
    test_recurrent_other_dtypes();
    test_recurrent_refusals();
    test_recurrent_infer();
    test_recurrent_threads();
    test_alloc_failures();
    return check_summary();
}
