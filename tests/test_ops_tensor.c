/* test_ops_tensor.c - the tensor family of nn_graph.h's reference kernels
   (src/graph/ops_tensor.inc): what the ONNX conformance cases do not reach.
   Static propagation through Shape/Gather/Concat/Reshape chains, unknown dims
   at static time, the strided-copy engine (Transpose, Slice, Expand, Tile,
   DepthToSpace) against naive loops for many shapes, element sizes and
   threads, index checking, refusals, old opsets, and a failure-injecting
   allocator.

   make build/test_ops_tensor && build/test_ops_tensor */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn_graph.h"
#include "tests/check.h"

/* ---- a small graph builder ---- */

typedef struct tg {
    nn_graph *g;
    nn_diag d;
    nn_node_id last;
} tg;

static void tg_init(tg *t, int64_t opset) {
    memset(t, 0, sizeof *t);
    nn_graph_create(NULL, &t->g, &t->d);
    nn_graph_set_opset(t->g, "", opset, &t->d);
}

/* A tensor; rank -1 leaves the shape unknown.  dims entries of -1 are unknown. */
static nn_tensor_id tg_tensor(tg *t, const char *name, nn_dtype dt, int32_t rank, const int64_t *dims) {
    nn_tensor_id id;
    nn_shape s = rank < 0 ? nn_shape_make(0, NULL) : nn_shape_make(rank, dims);
    if (rank < 0) s.rank = NN_RANK_UNKNOWN;
    nn_graph_add_tensor(t->g, name, dt, &s, &id, &t->d);
    return id;
}

static nn_tensor_id tg_input(tg *t, const char *name, nn_dtype dt, int32_t rank, const int64_t *dims) {
    nn_tensor_id id = tg_tensor(t, name, dt, rank, dims);
    nn_graph_add_input(t->g, id, &t->d);
    return id;
}

static nn_tensor_id tg_const(tg *t, const char *name, nn_dtype dt, int32_t rank, const int64_t *dims, const void *data) {
    nn_tensor_id id = tg_tensor(t, name, dt, rank, dims);
    nn_value v = nn_value_make(dt, nn_shape_make(rank, dims), NULL);
    nn_graph_set_data(t->g, id, data, v.bytes, 1, &t->d);
    return id;
}

static nn_tensor_id tg_i64(tg *t, const char *name, const int64_t *v, int64_t n) {
    return tg_const(t, name, NN_DTYPE_INT64, 1, &n, v);
}

/* Adds a node with one new output tensor named out (shape left to inference). */
static nn_tensor_id tg_node(tg *t, const char *op, const nn_tensor_id *ins, uint32_t n_in, const char *out) {
    nn_tensor_id o = tg_tensor(t, out, NN_DTYPE_UNDEFINED, -1, NULL);
    nn_graph_add_node(t->g, op, "", out, ins, n_in, &o, 1, &t->last, &t->d);
    return o;
}

static void tg_attr(tg *t, nn_attr a) { nn_graph_add_attr(t->g, t->last, &a, 0, &t->d); }

static nn_attr tg_int(const char *name, int64_t v) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_INT; a.i = v;
    return a;
}

static nn_attr tg_ints(const char *name, const int64_t *v, uint32_t n) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_INTS; a.ints = v; a.count = n;
    return a;
}

static nn_attr tg_floats(const char *name, const float *v, uint32_t n) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_FLOATS; a.floats = v; a.count = n;
    return a;
}

static nn_attr tg_str(const char *name, const char *s) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name; a.type = NN_ATTR_STRING; a.s = s; a.s_bytes = strlen(s);
    return a;
}

/* Runs g with one input value (or none) and threads; returns the status of the
   first failing step and copies output 0 into out (caller frees out->data). */
static nn_status tg_run(tg *t, nn_tensor_id out_id, const nn_value *input, int threads, nn_value *out) {
    nn_exec *x = NULL;
    nn_exec_desc xd;
    memset(&xd, 0, sizeof xd);
    xd.threads = threads;
    memset(out, 0, sizeof *out);
    nn_status st = nn_graph_add_output(t->g, out_id, &t->d);
    if (!st) st = nn_exec_create(t->g, &xd, &x, &t->d);
    if (!st && input) st = nn_exec_set_input(x, 0, input, &t->d);
    if (!st) st = nn_exec_run(x, &t->d);
    if (!st) {
        const nn_value *v = nn_exec_output(x, 0);
        *out = *v;
        out->data = malloc(v->bytes + 1);
        if (v->bytes) memcpy(out->data, v->data, v->bytes);
    }
    nn_exec_destroy(x);
    return st;
}

static void tg_free(tg *t) { nn_graph_destroy(t->g); }

static uint64_t t_rng = 88172645463325252ull;
static uint64_t t_rand(void) {
    t_rng ^= t_rng << 13;
    t_rng ^= t_rng >> 7;
    t_rng ^= t_rng << 17;
    return t_rng;
}

/* ---- static propagation ---- */

/* Shape -> Gather -> Unsqueeze -> Concat(-1) -> Reshape resolves to 2x60 before
   anything runs; with a symbolic batch it keeps the rank and leaves dims unknown. */
static void test_shape_chain_static(void) {
    for (int symbolic = 0; symbolic < 2; symbolic++) {
        tg t;
        tg_init(&t, 17);
        int64_t xd[4] = {symbolic ? -1 : 2, 3, 4, 5}, zero = 0, ax0 = 0, m1 = -1;
        nn_tensor_id x = tg_input(&t, "x", NN_DTYPE_FLOAT, 4, xd);
        nn_tensor_id s = tg_node(&t, "Shape", &x, 1, "s");
        nn_tensor_id gi[2] = {s, tg_const(&t, "i0", NN_DTYPE_INT64, 0, NULL, &zero)};
        nn_tensor_id b = tg_node(&t, "Gather", gi, 2, "b");
        nn_tensor_id ui[2] = {b, tg_i64(&t, "ax", &ax0, 1)};
        nn_tensor_id b1 = tg_node(&t, "Unsqueeze", ui, 2, "b1");
        nn_tensor_id ci[2] = {b1, tg_i64(&t, "m1", &m1, 1)};
        nn_tensor_id shp = tg_node(&t, "Concat", ci, 2, "shp");
        tg_attr(&t, tg_int("axis", 0));
        nn_tensor_id ri[2] = {x, shp};
        nn_tensor_id y = tg_node(&t, "Reshape", ri, 2, "y");
        CHECK_STATUS(nn_graph_infer_shapes(t.g, NULL, 0, &t.d), NN_OK);
        const nn_tensor *yt = nn_graph_tensor(t.g, y);
        CHECK_EQ_INT(yt->shape.rank, 2);
        CHECK_EQ_INT(yt->dtype, NN_DTYPE_FLOAT);
        CHECK_EQ_INT(yt->shape.dims[0], symbolic ? NN_DIM_UNKNOWN : 2);
        CHECK_EQ_INT(yt->shape.dims[1], symbolic ? NN_DIM_UNKNOWN : 60);
        /* overriding the symbolic input makes it static again */
        if (symbolic) {
            nn_input_shape is;
            is.name = "x";
            is.shape = nn_shape_make(4, xd);
            is.shape.dims[0] = 7;
            CHECK_STATUS(nn_graph_infer_shapes(t.g, &is, 1, &t.d), NN_OK);
            CHECK_EQ_INT(nn_graph_tensor(t.g, y)->shape.dims[0], 7);
            CHECK_EQ_INT(nn_graph_tensor(t.g, y)->shape.dims[1], 60);
        }
        tg_free(&t);
    }
}

/* Reshape's 0 copies a dim, -1 takes the rest, allowzero keeps a real 0. */
static void test_reshape_rules(void) {
    int64_t xd[3] = {2, 0, 3};
    struct { int64_t shp[3]; int n; int allowzero; nn_status st; int64_t want[3]; } cases[] = {
        {{0, 0, -1}, 3, 0, NN_ERR_INVALID, {0}},  /* -1 next to a zero dim */
        {{3, 0, 2}, 3, 1, NN_OK, {3, 0, 2}},
        {{0, -1, 3}, 3, 1, NN_ERR_INVALID, {0}},  /* allowzero with 0 and -1 */
        {{2, 0, 3}, 3, 0, NN_OK, {2, 0, 3}},
        {{-1, -1}, 2, 0, NN_ERR_INVALID, {0}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg t;
        tg_init(&t, 14);
        nn_tensor_id x = tg_input(&t, "x", NN_DTYPE_FLOAT, 3, xd);
        nn_tensor_id ri[2] = {x, tg_i64(&t, "s", cases[k].shp, cases[k].n)};
        nn_tensor_id y = tg_node(&t, "Reshape", ri, 2, "y");
        tg_attr(&t, tg_int("allowzero", cases[k].allowzero));
        CHECK_STATUS(nn_graph_infer_shapes(t.g, NULL, 0, &t.d), cases[k].st);
        if (cases[k].st == NN_OK)
            for (int i = 0; i < cases[k].n; i++) CHECK_EQ_INT(nn_graph_tensor(t.g, y)->shape.dims[i], cases[k].want[i]);
        tg_free(&t);
    }
}

/* Unknown shape-determining inputs give unknown dims, not errors. */
static void test_unknown_inputs_static(void) {
    tg t;
    tg_init(&t, 13);
    int64_t xd[4] = {1, 3, 8, 8}, sd[1] = {4}, kd[1] = {1};
    nn_tensor_id x = tg_input(&t, "x", NN_DTYPE_FLOAT, 4, xd);
    nn_tensor_id st = tg_input(&t, "starts", NN_DTYPE_INT64, 1, kd);
    nn_tensor_id sz = tg_input(&t, "sizes", NN_DTYPE_INT64, 1, sd);
    int64_t ends = 4, axes = 2;
    nn_tensor_id si[4] = {x, st, tg_i64(&t, "ends", &ends, 1), tg_i64(&t, "axes", &axes, 1)};
    nn_tensor_id y = tg_node(&t, "Slice", si, 4, "y");
    nn_tensor_id none = {NN_INVALID_ID};
    nn_tensor_id ri[4] = {x, none, none, sz};
    nn_tensor_id r = tg_node(&t, "Resize", ri, 4, "r");
    nn_tensor_id ei[2] = {x, sz};
    nn_tensor_id e = tg_node(&t, "Expand", ei, 2, "e");
    CHECK_STATUS(nn_graph_infer_shapes(t.g, NULL, 0, &t.d), NN_OK);
    const nn_tensor *yt = nn_graph_tensor(t.g, y), *rt = nn_graph_tensor(t.g, r), *et = nn_graph_tensor(t.g, e);
    CHECK_EQ_INT(yt->shape.rank, 4);
    CHECK_EQ_INT(yt->shape.dims[1], 3);
    CHECK_EQ_INT(yt->shape.dims[2], NN_DIM_UNKNOWN);
    CHECK_EQ_INT(yt->shape.dims[3], 8);
    CHECK_EQ_INT(rt->shape.rank, 4);
    CHECK_EQ_INT(rt->shape.dims[0], NN_DIM_UNKNOWN);
    CHECK_EQ_INT(et->shape.rank, 4);
    tg_free(&t);
}

/* ---- the strided-copy engine against naive loops ---- */

/* Naive transpose of a dense tensor of es-byte elements. */
static void naive_transpose(const uint8_t *src, uint8_t *dst, int32_t r, const int64_t *dims, const int64_t *perm, size_t es) {
    int64_t st[NN_MAX_RANK], od[NN_MAX_RANK], idx[NN_MAX_RANK] = {0}, n = 1;
    for (int32_t i = r - 1, s = 1; i >= 0; i--) { st[i] = s; s *= (int32_t)dims[i]; }
    for (int32_t i = 0; i < r; i++) { od[i] = dims[perm[i]]; n *= od[i]; }
    for (int64_t o = 0; o < n; o++) {
        int64_t off = 0;
        for (int32_t i = 0; i < r; i++) off += idx[i] * st[perm[i]];
        memcpy(dst + o * (int64_t)es, src + off * (int64_t)es, es);
        for (int32_t i = r - 1; i >= 0; i--) { if (++idx[i] < od[i]) break; idx[i] = 0; }
    }
}

static void test_transpose_random(void) {
    static const nn_dtype types[] = {NN_DTYPE_UINT8, NN_DTYPE_FLOAT16, NN_DTYPE_FLOAT, NN_DTYPE_INT64};
    int bad = 0;
    for (int trial = 0; trial < 120; trial++) {
        int32_t r = 1 + (int32_t)(t_rand() % 5);
        int64_t dims[NN_MAX_RANK], perm[NN_MAX_RANK], n = 1;
        nn_dtype dt = types[t_rand() % 4];
        size_t es = nn_dtype_size(dt);
        for (int32_t i = 0; i < r; i++) {
            dims[i] = 1 + (int64_t)(t_rand() % (trial % 3 == 0 ? 40 : 7));
            n *= dims[i];
            perm[i] = i;
        }
        for (int32_t i = r - 1; i > 0; i--) { int32_t j = (int32_t)(t_rand() % (uint64_t)(i + 1)); int64_t tmp = perm[i]; perm[i] = perm[j]; perm[j] = tmp; }
        uint8_t *src = (uint8_t *)malloc((size_t)n * es), *want = (uint8_t *)malloc((size_t)n * es);
        for (int64_t i = 0; i < n * (int64_t)es; i++) src[i] = (uint8_t)t_rand();
        naive_transpose(src, want, r, dims, perm, es);
        tg t;
        tg_init(&t, 13);
        nn_tensor_id x = tg_input(&t, "x", dt, r, dims);
        nn_tensor_id y = tg_node(&t, "Transpose", &x, 1, "y");
        tg_attr(&t, tg_ints("perm", perm, (uint32_t)r));
        nn_value in = nn_value_make(dt, nn_shape_make(r, dims), src), out;
        nn_status st = tg_run(&t, y, &in, trial % 2 ? 2 : 1, &out);
        if (st != NN_OK || out.bytes != (size_t)n * es || memcmp(out.data, want, out.bytes) != 0) bad++;
        free(out.data);
        free(src);
        free(want);
        tg_free(&t);
    }
    CHECK_EQ_INT(bad, 0);
}

/* Slice with negative steps, clamped ends and an axis left alone. */
static void test_slice_negative_steps(void) {
    tg t;
    tg_init(&t, 13);
    int64_t xd[2] = {3, 10}, starts[2] = {-1, 20}, ends[2] = {-INT64_MAX, -100}, axes[2] = {1, 0}, steps[2] = {-3, -1};
    float x[30];
    for (int i = 0; i < 30; i++) x[i] = (float)i;
    nn_tensor_id xi = tg_const(&t, "x", NN_DTYPE_FLOAT, 2, xd, x);
    nn_tensor_id in[5] = {xi, tg_i64(&t, "s", starts, 2), tg_i64(&t, "e", ends, 2), tg_i64(&t, "a", axes, 2), tg_i64(&t, "st", steps, 2)};
    nn_tensor_id y = tg_node(&t, "Slice", in, 5, "y");
    nn_value out;
    CHECK_STATUS(tg_run(&t, y, NULL, 1, &out), NN_OK);
    /* rows 2,1,0; columns 9,6,3,0 */
    CHECK_EQ_INT(out.shape.rank, 2);
    CHECK_EQ_INT(out.shape.dims[0], 3);
    CHECK_EQ_INT(out.shape.dims[1], 4);
    if (out.data) {
        const float *o = (const float *)out.data;
        CHECK_NEAR(o[0], 29, 0);
        CHECK_NEAR(o[3], 20, 0);
        CHECK_NEAR(o[4], 19, 0);
        CHECK_NEAR(o[11], 0, 0);
    }
    free(out.data);
    tg_free(&t);

    /* The spec clamps a negative-step start to [0, dim-1] (numpy would give an
       empty slice here): start -8 on an axis of 3 becomes 0, one element. */
    int64_t d1 = 3, s1 = -8, e1 = -INT64_MAX, st1 = -1;
    float v[3] = {4, 5, 6};
    tg_init(&t, 13);
    nn_tensor_id in1[5] = {tg_const(&t, "x", NN_DTYPE_FLOAT, 1, &d1, v), tg_i64(&t, "s", &s1, 1), tg_i64(&t, "e", &e1, 1),
                           {NN_INVALID_ID}, tg_i64(&t, "st", &st1, 1)};
    y = tg_node(&t, "Slice", in1, 5, "y");
    CHECK_STATUS(tg_run(&t, y, NULL, 1, &out), NN_OK);
    CHECK_EQ_INT(out.shape.dims[0], 1);
    if (out.data) CHECK(((const float *)out.data)[0] == 4);
    free(out.data);
    tg_free(&t);
}

/* Tile and Expand through the engine (stride-0 axes), int16 data, 2 threads. */
static void test_tile_expand(void) {
    int64_t xd[2] = {2, 3}, rep[2] = {2, 3}, shp[3] = {2, 1, 3};
    int16_t x[6] = {1, 2, 3, 4, 5, 6};
    for (int op = 0; op < 2; op++) {
        tg t;
        tg_init(&t, 13);
        nn_tensor_id xi = tg_const(&t, "x", NN_DTYPE_INT16, 2, xd, x);
        nn_tensor_id in[2] = {xi, op == 0 ? tg_i64(&t, "r", rep, 2) : tg_i64(&t, "r", shp, 3)};
        nn_tensor_id y = tg_node(&t, op == 0 ? "Tile" : "Expand", in, 2, "y");
        nn_value out;
        CHECK_STATUS(tg_run(&t, y, NULL, 2, &out), NN_OK);
        const int16_t *o = (const int16_t *)out.data;
        if (op == 0 && o) { /* 4x9 */
            CHECK_EQ_INT(out.shape.dims[0], 4);
            CHECK_EQ_INT(out.shape.dims[1], 9);
            int ok = 1;
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 9; j++) ok &= o[i * 9 + j] == x[(i % 2) * 3 + j % 3];
            CHECK(ok);
        }
        if (op == 1 && o) { /* 2x2x3: each (2,3) block repeated */
            CHECK_EQ_INT(out.shape.rank, 3);
            CHECK_EQ_INT(out.shape.dims[0], 2);
            CHECK(memcmp(o, x, sizeof x) == 0 && memcmp(o + 6, x, sizeof x) == 0);
        }
        free(out.data);
        tg_free(&t);
    }
}

/* DepthToSpace DCR then SpaceToDepth gives the input back; CRD matches its formula. */
static void test_depth_space_roundtrip(void) {
    int64_t xd[4] = {2, 8, 3, 5};
    float x[240];
    for (int i = 0; i < 240; i++) x[i] = (float)i;
    for (int crd = 0; crd < 2; crd++) {
        tg t;
        tg_init(&t, 13);
        nn_tensor_id xi = tg_const(&t, "x", NN_DTYPE_FLOAT, 4, xd, x);
        nn_tensor_id a = tg_node(&t, "DepthToSpace", &xi, 1, "a");
        tg_attr(&t, tg_int("blocksize", 2));
        tg_attr(&t, tg_str("mode", crd ? "CRD" : "DCR"));
        nn_tensor_id b = tg_node(&t, "SpaceToDepth", &a, 1, "b");
        tg_attr(&t, tg_int("blocksize", 2));
        nn_value out;
        CHECK_STATUS(tg_run(&t, crd ? a : b, NULL, 1, &out), NN_OK);
        if (!crd && out.data) CHECK(memcmp(out.data, x, sizeof x) == 0);
        if (crd && out.data) { /* y[n, c, h*2+i, w*2+j] = x[n, c*4 + i*2 + j, h, w] */
            const float *o = (const float *)out.data;
            int ok = 1;
            for (int n = 0; n < 2; n++)
                for (int c = 0; c < 2; c++)
                    for (int h = 0; h < 6; h++)
                        for (int w = 0; w < 10; w++)
                            ok &= o[((n * 2 + c) * 6 + h) * 10 + w] == x[((n * 8 + c * 4 + (h % 2) * 2 + w % 2) * 3 + h / 2) * 5 + w / 2];
            CHECK(ok);
        }
        free(out.data);
        tg_free(&t);
    }
}

/* ---- indices, refusals, old opsets ---- */

static void test_gather_index_checks(void) {
    int64_t xd[2] = {3, 2}, nd = 2;
    float x[6] = {0, 1, 2, 3, 4, 5};
    int64_t idx_ok[2] = {-1, 0}, idx_bad[2] = {0, 3};
    for (int bad = 0; bad < 2; bad++) {
        tg t;
        tg_init(&t, 13);
        nn_tensor_id in[2] = {tg_const(&t, "x", NN_DTYPE_FLOAT, 2, xd, x), tg_input(&t, "i", NN_DTYPE_INT64, 1, &nd)};
        nn_tensor_id y = tg_node(&t, "Gather", in, 2, "y");
        nn_value iv = nn_value_make(NN_DTYPE_INT64, nn_shape_make(1, &nd), bad ? idx_bad : idx_ok), out;
        CHECK_STATUS(tg_run(&t, y, &iv, 1, &out), bad ? NN_ERR_INVALID : NN_OK);
        if (!bad && out.data) {
            const float *o = (const float *)out.data;
            CHECK(o[0] == 4 && o[1] == 5 && o[2] == 0 && o[3] == 1);
        }
        free(out.data);
        tg_free(&t);
    }
}

static void test_scatter_nd_bad_index(void) {
    int64_t xd[1] = {4}, id[2] = {1, 1}, ud[1] = {1}, idx = 4;
    float x[4] = {0}, u = 1;
    tg t;
    tg_init(&t, 16);
    nn_tensor_id in[3] = {tg_const(&t, "x", NN_DTYPE_FLOAT, 1, xd, x), tg_const(&t, "i", NN_DTYPE_INT64, 2, id, &idx),
                          tg_const(&t, "u", NN_DTYPE_FLOAT, 1, ud, &u)};
    nn_tensor_id y = tg_node(&t, "ScatterND", in, 3, "y");
    nn_value out;
    CHECK_STATUS(tg_run(&t, y, NULL, 1, &out), NN_ERR_INVALID);
    free(out.data);
    tg_free(&t);
}

/* Attribute values the kernels do not implement are refused by name. */
static void test_refusals(void) {
    int64_t xd[4] = {1, 1, 2, 2};
    float sc[4] = {1, 1, 2, 2};
    int64_t sd = 4;
    struct { const char *attr, *value; nn_status st; } cases[] = {
        {"mode", "area", NN_ERR_UNSUPPORTED},
        {"coordinate_transformation_mode", "nonsense", NN_ERR_UNSUPPORTED},
        {"nearest_mode", "nope", NN_ERR_UNSUPPORTED},
        {"keep_aspect_ratio_policy", "nope", NN_ERR_UNSUPPORTED},
        {"bogus_attribute", "x", NN_ERR_UNSUPPORTED},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg t;
        tg_init(&t, 19);
        nn_tensor_id none = {NN_INVALID_ID};
        nn_tensor_id in[3] = {tg_input(&t, "x", NN_DTYPE_FLOAT, 4, xd), none, tg_const(&t, "s", NN_DTYPE_FLOAT, 1, &sd, sc)};
        nn_tensor_id y = tg_node(&t, "Resize", in, 3, "y");
        tg_attr(&t, tg_str(cases[k].attr, cases[k].value));
        nn_exec *x = NULL;
        nn_graph_add_output(t.g, y, &t.d);
        CHECK_STATUS(nn_exec_create(t.g, NULL, &x, &t.d), cases[k].st);
        nn_exec_destroy(x);
        tg_free(&t);
    }
    /* linear interpolation of integers is refused rather than guessed */
    tg t;
    tg_init(&t, 19);
    nn_tensor_id none = {NN_INVALID_ID};
    nn_tensor_id in[3] = {tg_input(&t, "x", NN_DTYPE_UINT8, 4, xd), none, tg_const(&t, "s", NN_DTYPE_FLOAT, 1, &sd, sc)};
    nn_tensor_id y = tg_node(&t, "Resize", in, 3, "y");
    tg_attr(&t, tg_str("mode", "linear"));
    nn_exec *x = NULL;
    nn_graph_add_output(t.g, y, &t.d);
    CHECK_STATUS(nn_exec_create(t.g, NULL, &x, &t.d), NN_ERR_UNSUPPORTED);
    nn_exec_destroy(x);
    tg_free(&t);
}

/* The PP-OCR detector's upsampling: nearest, asymmetric, floor, scale 2, on
   float and on uint8 (nearest moves elements of any type). */
static void test_resize_nearest_asymmetric(void) {
    int64_t xd[4] = {1, 2, 2, 3}, sd = 4;
    float sc[4] = {1, 1, 2, 2};
    for (int u8 = 0; u8 < 2; u8++) {
        float xf[12];
        uint8_t xb[12];
        for (int i = 0; i < 12; i++) { xf[i] = (float)i; xb[i] = (uint8_t)(i * 3); }
        tg t;
        tg_init(&t, 13);
        nn_tensor_id none = {NN_INVALID_ID};
        nn_tensor_id in[3] = {tg_const(&t, "x", u8 ? NN_DTYPE_UINT8 : NN_DTYPE_FLOAT, 4, xd, u8 ? (const void *)xb : (const void *)xf), none,
                              tg_const(&t, "s", NN_DTYPE_FLOAT, 1, &sd, sc)};
        nn_tensor_id y = tg_node(&t, "Resize", in, 3, "y");
        tg_attr(&t, tg_str("mode", "nearest"));
        tg_attr(&t, tg_str("coordinate_transformation_mode", "asymmetric"));
        tg_attr(&t, tg_str("nearest_mode", "floor"));
        nn_value out;
        CHECK_STATUS(tg_run(&t, y, NULL, 2, &out), NN_OK);
        CHECK_EQ_INT(out.shape.dims[2], 4);
        CHECK_EQ_INT(out.shape.dims[3], 6);
        int ok = out.data != NULL;
        for (int c = 0; ok && c < 2; c++)
            for (int h = 0; h < 4; h++)
                for (int w = 0; w < 6; w++) {
                    int src = (c * 2 + h / 2) * 3 + w / 2, dst = (c * 4 + h) * 6 + w;
                    ok &= u8 ? ((const uint8_t *)out.data)[dst] == xb[src] : ((const float *)out.data)[dst] == xf[src];
                }
        CHECK(ok);
        free(out.data);
        tg_free(&t);
    }
}

/* Upsample (opset 7: scales attribute) and Resize 10 share the legacy rules. */
static void test_upsample_opset7(void) {
    int64_t xd[2] = {2, 2};
    float x[4] = {1, 2, 3, 4}, sc[2] = {1, 3};
    tg t;
    tg_init(&t, 7);
    nn_tensor_id xi = tg_const(&t, "x", NN_DTYPE_FLOAT, 2, xd, x);
    nn_tensor_id y = tg_node(&t, "Upsample", &xi, 1, "y");
    tg_attr(&t, tg_floats("scales", sc, 2));
    nn_value out;
    CHECK_STATUS(tg_run(&t, y, NULL, 1, &out), NN_OK);
    CHECK_EQ_INT(out.shape.dims[1], 6);
    if (out.data) {
        const float *o = (const float *)out.data;
        CHECK(o[0] == 1 && o[2] == 1 && o[3] == 2 && o[6] == 3 && o[11] == 4);
    }
    free(out.data);
    tg_free(&t);
}

/* Pad reflect wider than the axis repeats the mirror (numpy.pad reflect);
   opset 2 reads pads and value from attributes. */
static void test_pad_modes(void) {
    int64_t xd[1] = {3}, pads[2] = {4, 4};
    float x[3] = {1, 2, 3}, want[11] = {1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3};
    tg t;
    tg_init(&t, 13);
    nn_tensor_id in[2] = {tg_const(&t, "x", NN_DTYPE_FLOAT, 1, xd, x), tg_i64(&t, "p", pads, 2)};
    nn_tensor_id y = tg_node(&t, "Pad", in, 2, "y");
    tg_attr(&t, tg_str("mode", "reflect"));
    nn_value out;
    CHECK_STATUS(tg_run(&t, y, NULL, 1, &out), NN_OK);
    CHECK(out.data && out.bytes == sizeof want && memcmp(out.data, want, sizeof want) == 0);
    free(out.data);
    tg_free(&t);

    int64_t p2[2] = {1, -1};
    nn_attr v = tg_int("x", 0);
    v.name = "value"; v.type = NN_ATTR_FLOAT; v.f = 9;
    tg_init(&t, 2);
    nn_tensor_id xi = tg_const(&t, "x", NN_DTYPE_FLOAT, 1, xd, x);
    y = tg_node(&t, "Pad", &xi, 1, "y");
    tg_attr(&t, tg_ints("pads", p2, 2));
    tg_attr(&t, v);
    CHECK_STATUS(tg_run(&t, y, NULL, 1, &out), NN_OK);
    if (out.data) {
        const float *o = (const float *)out.data;
        CHECK(out.shape.dims[0] == 3 && o[0] == 9 && o[1] == 1 && o[2] == 2);
    }
    free(out.data);
    tg_free(&t);
}

/* TopK: ties keep the lower index first, for largest and smallest. */
static void test_topk_ties(void) {
    int64_t xd[1] = {6}, k = 3;
    int32_t x[6] = {5, 7, 7, 1, 5, 1};
    for (int largest = 0; largest < 2; largest++) {
        tg t;
        tg_init(&t, 13);
        nn_tensor_id in[2] = {tg_const(&t, "x", NN_DTYPE_INT32, 1, xd, x), tg_i64(&t, "k", &k, 1)};
        nn_tensor_id outs[2] = {tg_tensor(&t, "v", NN_DTYPE_UNDEFINED, -1, NULL), tg_tensor(&t, "i", NN_DTYPE_UNDEFINED, -1, NULL)};
        nn_graph_add_node(t.g, "TopK", "", "topk", in, 2, outs, 2, &t.last, &t.d);
        tg_attr(&t, tg_int("largest", largest));
        nn_value out;
        CHECK_STATUS(tg_run(&t, outs[1], NULL, 1, &out), NN_OK);
        if (out.data) {
            const int64_t *o = (const int64_t *)out.data;
            if (largest) CHECK(o[0] == 1 && o[1] == 2 && (o[2] == 0));
            else CHECK(o[0] == 3 && o[1] == 5 && o[2] == 0);
        }
        free(out.data);
        tg_free(&t);
    }
}

/* NonZero of a constant is static after inference; Split with a zero part. */
static void test_nonzero_and_split(void) {
    int64_t xd[2] = {2, 3};
    uint8_t x[6] = {0, 1, 0, 1, 1, 0};
    tg t;
    tg_init(&t, 13);
    nn_tensor_id xi = tg_const(&t, "x", NN_DTYPE_BOOL, 2, xd, x);
    nn_tensor_id y = tg_node(&t, "NonZero", &xi, 1, "y");
    CHECK_STATUS(nn_graph_infer_shapes(t.g, NULL, 0, &t.d), NN_OK);
    CHECK_EQ_INT(nn_graph_tensor(t.g, y)->shape.dims[0], 2);
    CHECK_EQ_INT(nn_graph_tensor(t.g, y)->shape.dims[1], 3);
    tg_free(&t);

    int64_t sp[3] = {1, 0, 2};
    float f[6] = {1, 2, 3, 4, 5, 6};
    tg_init(&t, 13);
    nn_tensor_id in[2] = {tg_const(&t, "x", NN_DTYPE_FLOAT, 2, xd, f), tg_i64(&t, "sp", sp, 3)};
    nn_tensor_id outs[3] = {tg_tensor(&t, "a", NN_DTYPE_UNDEFINED, -1, NULL), tg_tensor(&t, "b", NN_DTYPE_UNDEFINED, -1, NULL),
                            tg_tensor(&t, "c", NN_DTYPE_UNDEFINED, -1, NULL)};
    nn_graph_add_node(t.g, "Split", "", "split", in, 2, outs, 3, &t.last, &t.d);
    tg_attr(&t, tg_int("axis", 1));
    nn_value out;
    CHECK_STATUS(tg_run(&t, outs[2], NULL, 1, &out), NN_OK);
    if (out.data) {
        const float *o = (const float *)out.data;
        CHECK(out.shape.dims[1] == 2 && o[0] == 2 && o[1] == 3 && o[2] == 5 && o[3] == 6);
    }
    free(out.data);
    tg_free(&t);
}

/* Linear and cubic resize give the same bits on 1 and 2 threads (static chunks). */
static void test_resize_threads_deterministic(void) {
    int64_t xd[4] = {1, 3, 37, 29}, sd = 4;
    float sc[4] = {1, 1, 1.7f, 0.6f};
    float *x = (float *)malloc(sizeof(float) * 3 * 37 * 29);
    for (int i = 0; i < 3 * 37 * 29; i++) x[i] = (float)(t_rand() % 1000) / 7.0f;
    for (int cubic = 0; cubic < 2; cubic++) {
        nn_value out[2];
        for (int th = 1; th <= 2; th++) {
            tg t;
            tg_init(&t, 19);
            nn_tensor_id none = {NN_INVALID_ID};
            nn_tensor_id in[3] = {tg_const(&t, "x", NN_DTYPE_FLOAT, 4, xd, x), none, tg_const(&t, "s", NN_DTYPE_FLOAT, 1, &sd, sc)};
            nn_tensor_id y = tg_node(&t, "Resize", in, 3, "y");
            tg_attr(&t, tg_str("mode", cubic ? "cubic" : "linear"));
            tg_attr(&t, tg_int("antialias", 1));
            CHECK_STATUS(tg_run(&t, y, NULL, th, &out[th - 1]), NN_OK);
            tg_free(&t);
        }
        CHECK(out[0].bytes == out[1].bytes && out[0].data && memcmp(out[0].data, out[1].data, out[0].bytes) == 0);
        CHECK_EQ_INT(out[0].shape.dims[2], 62);
        CHECK_EQ_INT(out[0].shape.dims[3], 17);
        free(out[0].data);
        free(out[1].data);
    }
    free(x);
}

/* ScatterElements add on int64 is exact beyond 2^53; Squeeze with empty axes
   removes every 1 (as ONNX Runtime does). */
static void test_scatter_int64_and_squeeze(void) {
    int64_t xd[1] = {2}, x[2] = {(int64_t)1 << 60, 5}, idx[2] = {0, 0}, upd[2] = {3, 4};
    tg t;
    tg_init(&t, 18);
    nn_tensor_id in[3] = {tg_const(&t, "x", NN_DTYPE_INT64, 1, xd, x), tg_i64(&t, "i", idx, 2), tg_i64(&t, "u", upd, 2)};
    nn_tensor_id y = tg_node(&t, "ScatterElements", in, 3, "y");
    tg_attr(&t, tg_str("reduction", "add"));
    nn_value out;
    CHECK_STATUS(tg_run(&t, y, NULL, 1, &out), NN_OK);
    if (out.data) CHECK(((int64_t *)out.data)[0] == ((int64_t)1 << 60) + 7 && ((int64_t *)out.data)[1] == 5);
    free(out.data);
    tg_free(&t);

    int64_t sd[3] = {1, 4, 1}, zero = 0;
    tg_init(&t, 13);
    nn_tensor_id si[2] = {tg_input(&t, "x", NN_DTYPE_FLOAT, 3, sd), tg_const(&t, "a", NN_DTYPE_INT64, 1, &zero, NULL)};
    y = tg_node(&t, "Squeeze", si, 2, "y");
    CHECK_STATUS(nn_graph_infer_shapes(t.g, NULL, 0, &t.d), NN_OK);
    CHECK_EQ_INT(nn_graph_tensor(t.g, y)->shape.rank, 1);
    CHECK_EQ_INT(nn_graph_tensor(t.g, y)->shape.dims[0], 4);
    tg_free(&t);
}

/* ---- allocation failures ---- */

typedef struct { long allocs, frees, fail_at; } t_counting;

static void *t_alloc(void *user, size_t bytes) {
    t_counting *c = (t_counting *)user;
    if (c->fail_at >= 0 && c->allocs == c->fail_at) { c->allocs++; return NULL; }
    c->allocs++;
    return malloc(bytes);
}

static void t_freefn(void *user, void *p) {
    t_counting *c = (t_counting *)user;
    c->frees++;
    free(p);
}

/* Every single failed allocation of an exec running Transpose/Concat/Gather/
   Unique ends in a clean NN_ERR_NOMEM and frees everything. */
static void test_alloc_failures(void) {
    int64_t xd[3] = {2, 3, 4}, perm[3] = {2, 0, 1}, idx[2] = {1, 0}, nd = 2;
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)(i % 5);
    tg t;
    tg_init(&t, 13);
    nn_tensor_id xi = tg_input(&t, "x", NN_DTYPE_FLOAT, 3, xd);
    nn_tensor_id a = tg_node(&t, "Transpose", &xi, 1, "a");
    tg_attr(&t, tg_ints("perm", perm, 3));
    nn_tensor_id ci[2] = {a, a};
    nn_tensor_id b = tg_node(&t, "Concat", ci, 2, "b");
    tg_attr(&t, tg_int("axis", 0));
    nn_tensor_id gi[2] = {b, tg_i64(&t, "i", idx, nd)};
    nn_tensor_id g2 = tg_node(&t, "Gather", gi, 2, "g");
    nn_tensor_id u = tg_node(&t, "Unique", &g2, 1, "u");
    nn_graph_add_output(t.g, u, &t.d);
    int unclean = 0, leaks = 0;
    long total = -1;
    for (long k = 0; k < 400; k++) {
        t_counting cnt = {0, 0, k};
        nn_exec_desc xd2;
        memset(&xd2, 0, sizeof xd2);
        xd2.alloc.alloc = t_alloc;
        xd2.alloc.free = t_freefn;
        xd2.alloc.user = &cnt;
        nn_exec *x2 = NULL;
        nn_diag d;
        memset(&d, 0, sizeof d);
        nn_value in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(3, xd), x);
        nn_status st = nn_exec_create(t.g, &xd2, &x2, &d);
        if (!st) st = nn_exec_set_input(x2, 0, &in, &d);
        if (!st) st = nn_exec_run(x2, &d);
        nn_exec_destroy(x2);
        if (st != NN_OK && st != NN_ERR_NOMEM) unclean++;
        if (cnt.allocs - (cnt.allocs > k ? 1 : 0) != cnt.frees) leaks++;
        if (st == NN_OK) { total = k; break; }
    }
    CHECK(total > 0);
    CHECK_EQ_INT(unclean, 0);
    CHECK_EQ_INT(leaks, 0);
    tg_free(&t);
}

int main(void) {
    test_shape_chain_static();
    test_reshape_rules();
    test_unknown_inputs_static();
    test_transpose_random();
    test_slice_negative_steps();
    test_tile_expand();
    test_depth_space_roundtrip();
    test_gather_index_checks();
    test_scatter_nd_bad_index();
    test_refusals();
    test_resize_nearest_asymmetric();
    test_upsample_opset7();
    test_pad_modes();
    test_topk_ties();
    test_nonzero_and_split();
    test_resize_threads_deterministic();
    test_scatter_int64_and_squeeze();
    test_alloc_failures();
    return check_summary();
}
