/* test_target.c - nn_target.h: target presets, memory planning on graphs
   whose best arena is worked out by hand (a chain, a diamond, a branch that
   reordering helps, a concat, in place and views), the overlap checker on a
   broken plan, tiling and the cycle formula on one convolution by hand, and
   the working set of every layer group of the real CV models on npu-small
   (skipped with a note when a model is not cached); and programs: QDQ
   graphs lowered, saved, loaded and simulated, with outputs equal byte for
   byte to nn_qexec's (a small network, ppocr cls), the loader on truncated,
   bit-flipped and field-corrupted files, and a failing allocator.

   Hand-built graphs use uint8 tensors of shape (1, n) so a tensor's bytes
   are n, align 1, and ops of a private domain ("test") that no planner rule
   treats as a view or element-wise, unless the test says otherwise. */
#include "nn_graph.h"
#include "nn_onnx.h"
#include "nn_target.h"
#include <math.h>
#include "tests/check.h"
#include <stdlib.h>
#include <string.h>

static nn_tensor_id tens(nn_graph *g, const char *name, int64_t n) {
    nn_diag d;
    nn_tensor_id t;
    int64_t dims[2] = {1, n};
    nn_shape s = nn_shape_make(2, dims);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_graph_add_tensor(g, name, NN_DTYPE_UINT8, &s, &t, &d), NN_OK);
    return t;
}

static nn_node_id op(nn_graph *g, const char *type, const char *domain, const char *name, const nn_tensor_id *in,
                     uint32_t nin, nn_tensor_id out) {
    nn_diag d;
    nn_node_id n;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_graph_add_node(g, type, domain, name, in, nin, &out, 1, &n, &d), NN_OK);
    return n;
}

static nn_graph *new_graph(void) {
    nn_graph *g = NULL;
    nn_diag d;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_graph_create(NULL, &g, &d), NN_OK);
    return g;
}

static nn_target_memory_desc mem_desc(uint32_t flags) {
    nn_target_memory_desc md;
    memset(&md, 0, sizeof md);
    md.bytes_rule = NN_TARGET_BYTES_DTYPE;
    md.align = 1;
    md.flags = flags;
    return md;
}

static const nn_target_buffer *buf_of(const nn_target_memory_plan *p, nn_tensor_id t) {
    for (uint32_t i = 0; i < p->buffer_count; i++)
        if (p->buffers[i].tensor.id == t.id) return &p->buffers[i];
    return NULL;
}

/* A bytes callback: every tensor twice its element count (int16). */
static uint64_t twice_bytes(void *user, const nn_graph *g, nn_tensor_id t) {
    int ok;
    (void)user;
    return 2 * (uint64_t)nn_shape_count(&g->tensors[t.id].shape, &ok);
}

/* x(100) -A-> t1(200) -B-> t2(50) -C-> y(300).  Alive per step:
   step 0 x+t1 = 300, step 1 t1+t2 = 250, step 2 t2+y = 350: bound 350,
   and 350 is reachable (y and t1 never meet: both at offset 0). */
static void test_chain(void) {
    nn_graph *g = new_graph();
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_tensor_id x = tens(g, "x", 100), t1 = tens(g, "t1", 200), t2 = tens(g, "t2", 50), y = tens(g, "y", 300);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    op(g, "A", "test", "A", &x, 1, t1);
    op(g, "B", "test", "B", &t1, 1, t2);
    op(g, "C", "test", "C", &t2, 1, y);
    nn_target_memory_desc md = mem_desc(0);
    nn_target_memory_plan p;
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_OK);
    CHECK_EQ_INT(p.buffer_count, 4);
    CHECK_EQ_INT(p.no_reuse_bytes, 650);
    CHECK_EQ_INT(p.bound_bytes, 350);
    CHECK_EQ_INT(p.greedy_size_bytes, 350);
    CHECK_EQ_INT(p.arena_bytes, 350);
    CHECK_EQ_INT(buf_of(&p, t1)->first, 0);
    CHECK_EQ_INT(buf_of(&p, t1)->last, 1);
    CHECK_EQ_INT(buf_of(&p, y)->last, 2);
    CHECK_STATUS(nn_target_plan_check(&p, 1, &d), NN_OK);

    /* A deliberately broken plan: t2 (alive at steps 1-2) moved onto t1
       (alive at 0-1) must be caught; so must a buffer past the arena. */
    nn_target_buffer *b2 = (nn_target_buffer *)buf_of(&p, t2);
    uint64_t keep = b2->offset;
    b2->offset = buf_of(&p, t1)->offset + 10;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_target_plan_check(&p, 1, &d), NN_ERR_INVALID);
    b2->offset = p.arena_bytes - 10;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_target_plan_check(&p, 1, &d), NN_ERR_INVALID);
    b2->offset = keep;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_target_plan_check(&p, 1, &d), NN_OK);

    /* the timeline names every tensor; the snprintf contract holds */
    size_t need = nn_target_memory_timeline(g, &p, NULL, 0);
    char *text = (char *)malloc(need);
    CHECK(text != NULL);
    if (text) {
        CHECK_EQ_INT(nn_target_memory_timeline(g, &p, text, need), need);
        CHECK_EQ_INT(strlen(text) + 1, need);
        /* t1 is written at step 0 and read at step 1 of 3 */
        CHECK(strstr(text, "t1") != NULL && strstr(text, " W#.\n") != NULL);
        free(text);
    }
    nn_target_memory_plan_deinit(&p);

    /* the callback overrides the dtype: every figure doubles */
    md.bytes_fn = twice_bytes;
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_OK);
    CHECK_EQ_INT(p.no_reuse_bytes, 1300);
    CHECK_EQ_INT(p.bound_bytes, 700);
    CHECK_EQ_INT(p.arena_bytes, 700);
    nn_target_memory_plan_deinit(&p);
    nn_graph_destroy(g);
}

/* Diamond: x(64) feeds A -> a(64) and B -> b(32); C(a, b) -> y(16).
   Alive: step 0 x+a = 128, step 1 x+a+b = 160, step 2 a+b+y = 112.
   Bound and optimum 160 (y reuses x's bytes). */
static void test_diamond(void) {
    nn_graph *g = new_graph();
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_tensor_id x = tens(g, "x", 64), a = tens(g, "a", 64), b = tens(g, "b", 32), y = tens(g, "y", 16);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    op(g, "A", "test", "A", &x, 1, a);
    op(g, "B", "test", "B", &x, 1, b);
    nn_tensor_id ab[2] = {a, b};
    op(g, "C", "test", "C", ab, 2, y);
    nn_target_memory_desc md = mem_desc(NN_TARGET_MEM_NO_REORDER);
    nn_target_memory_plan p;
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_OK);
    CHECK_EQ_INT(p.no_reuse_bytes, 176);
    CHECK_EQ_INT(p.bound_bytes, 160);
    CHECK_EQ_INT(p.arena_bytes, 160);
    CHECK_EQ_INT(p.best_fit_bytes, 160);
    CHECK_STATUS(nn_target_plan_check(&p, 1, &d), NN_OK);
    nn_target_memory_plan_deinit(&p);
    nn_graph_destroy(g);
}

/* Two branches from x(10): P -> p(100) -> P2 -> p2(1), Q -> q(100) -> Q2
   -> q2(1), C(p2, q2) -> y(1).  In the order P, Q, P2, Q2, C both 100-byte
   tensors are alive at step 1: x+p+q = 210.  Finishing one branch first
   (P, P2, Q, Q2, C) peaks at 111 (step 1: x+p+p2, step 2: x+p2+q), and a
   placement reaches 111 (p and q share offset 0). */
static void test_reorder(void) {
    nn_graph *g = new_graph();
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_tensor_id x = tens(g, "x", 10), p_ = tens(g, "p", 100), q = tens(g, "q", 100), p2 = tens(g, "p2", 1),
                 q2 = tens(g, "q2", 1), y = tens(g, "y", 1);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    op(g, "P", "test", "P", &x, 1, p_);
    op(g, "Q", "test", "Q", &x, 1, q);
    op(g, "P2", "test", "P2", &p_, 1, p2);
    op(g, "Q2", "test", "Q2", &q, 1, q2);
    nn_tensor_id pq[2] = {p2, q2};
    op(g, "C", "test", "C", pq, 2, y);
    uint32_t order[5] = {0, 1, 2, 3, 4};
    nn_target_memory_desc md = mem_desc(0);
    md.order = order;
    nn_target_memory_plan p;
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_OK);
    CHECK_EQ_INT(p.bound_bytes, 210);
    CHECK_EQ_INT(p.reordered, 1);
    CHECK_EQ_INT(p.ours_bound_bytes, 111);
    CHECK_EQ_INT(p.arena_bytes, 111);
    CHECK_STATUS(nn_target_plan_check(&p, 1, &d), NN_OK);
    /* the order kept is topological: P2 after P, C last */
    CHECK_EQ_INT(p.order[4], 4);
    nn_target_memory_plan_deinit(&p);
    md.flags = NN_TARGET_MEM_NO_REORDER;
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_OK);
    CHECK_EQ_INT(p.reordered, 0);
    CHECK_EQ_INT(p.arena_bytes, 210);
    nn_target_memory_plan_deinit(&p);
    /* an order that breaks an edge is refused */
    uint32_t bad[5] = {2, 0, 1, 3, 4};
    md.order = bad;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_ERR_ARG);
    nn_graph_destroy(g);
}

/* Concat by address: A(x) -> a(40), B(x) -> b(60), Concat(a, b) axis 1 ->
   y(100), Z(y) -> z(10).  Copying: step 2 holds a+b+y = 200 (the bound).
   By address a and b are y's slices: steps hold 110, 110, 100, 110. */
static void test_concat(void) {
    nn_graph *g = new_graph();
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_tensor_id x = tens(g, "x", 10), a = tens(g, "a", 40), b = tens(g, "b", 60), y = tens(g, "y", 100),
                 z = tens(g, "z", 10);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, z, &d);
    op(g, "A", "test", "A", &x, 1, a);
    op(g, "B", "test", "B", &x, 1, b);
    nn_tensor_id ab[2] = {a, b};
    nn_node_id c = op(g, "Concat", "", "cat", ab, 2, y);
    nn_attr at;
    memset(&at, 0, sizeof at);
    at.name = "axis";
    at.type = NN_ATTR_INT;
    at.i = 1;
    CHECK_STATUS(nn_graph_add_attr(g, c, &at, 0, &d), NN_OK);
    op(g, "Z", "test", "Z", &y, 1, z);
    nn_target_memory_desc md = mem_desc(NN_TARGET_MEM_NO_REORDER);
    nn_target_memory_plan p;
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_OK);
    CHECK_EQ_INT(p.bound_bytes, 200);
    CHECK_EQ_INT(p.slice_count, 2);
    CHECK_EQ_INT(p.ours_bound_bytes, 110);
    CHECK_EQ_INT(p.arena_bytes, 110);
    CHECK_EQ_INT(buf_of(&p, a)->offset, buf_of(&p, y)->offset);
    CHECK_EQ_INT(buf_of(&p, b)->offset, buf_of(&p, y)->offset + 40);
    CHECK_EQ_INT(buf_of(&p, a)->kind, NN_TARGET_BUF_SLICE);
    CHECK_STATUS(nn_target_plan_check(&p, 1, &d), NN_OK);
    nn_target_memory_plan_deinit(&p);
    md.flags |= NN_TARGET_MEM_NO_CONCAT;
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_OK);
    CHECK_EQ_INT(p.slice_count, 0);
    CHECK_EQ_INT(p.arena_bytes, 200);
    nn_target_memory_plan_deinit(&p);
    nn_graph_destroy(g);
}

/* In place: x(100) -A-> t(100) -Relu-> r(100); Y(r, x) -> y(10).  Copying,
   step 1 holds x+t+r = 300.  Relu over t (its last read): steps hold 200,
   200, 210.  And a view: Reshape of r shares its bytes. */
static void test_inplace_and_view(void) {
    nn_graph *g = new_graph();
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_tensor_id x = tens(g, "x", 100), t = tens(g, "t", 100), r = tens(g, "r", 100), y = tens(g, "y", 10);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    op(g, "A", "test", "A", &x, 1, t);
    op(g, "Relu", "", "relu", &t, 1, r);
    nn_tensor_id rx[2] = {r, x};
    op(g, "Y", "test", "Y", rx, 2, y);
    nn_target_memory_desc md = mem_desc(NN_TARGET_MEM_NO_REORDER);
    nn_target_memory_plan p;
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_OK);
    CHECK_EQ_INT(p.bound_bytes, 300);
    CHECK_EQ_INT(p.inplace_count, 1);
    CHECK_EQ_INT(p.arena_bytes, 210);
    CHECK_EQ_INT(buf_of(&p, r)->offset, buf_of(&p, t)->offset);
    CHECK_EQ_INT(buf_of(&p, r)->kind, NN_TARGET_BUF_INPLACE);
    CHECK_STATUS(nn_target_plan_check(&p, 1, &d), NN_OK);
    nn_target_memory_plan_deinit(&p);
    md.flags |= NN_TARGET_MEM_NO_INPLACE;
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_OK);
    CHECK_EQ_INT(p.inplace_count, 0);
    CHECK_EQ_INT(p.arena_bytes, 300);
    nn_target_memory_plan_deinit(&p);
    nn_graph_destroy(g);

    /* The Relu may not write over t while t is still read later: the
       Y(r, t) graph keeps t alive past the Relu. */
    g = new_graph();
    x = tens(g, "x", 100); t = tens(g, "t", 100); r = tens(g, "r", 100); y = tens(g, "y", 10);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    op(g, "A", "test", "A", &x, 1, t);
    op(g, "Relu", "", "relu", &t, 1, r);
    nn_tensor_id rt[2] = {r, t};
    op(g, "Y", "test", "Y", rt, 2, y);
    md = mem_desc(NN_TARGET_MEM_NO_REORDER);
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_OK);
    CHECK_EQ_INT(p.inplace_count, 0);
    CHECK(buf_of(&p, r)->offset != buf_of(&p, t)->offset);
    CHECK_STATUS(nn_target_plan_check(&p, 1, &d), NN_OK);
    nn_target_memory_plan_deinit(&p);
    nn_graph_destroy(g);

    /* View: A(x) -> t(100), Reshape(t, shape) -> v(100), B(v) -> y(10).
       Copying, step 1 holds t+v = 200; as a view 110 at most. */
    g = new_graph();
    x = tens(g, "x", 10); t = tens(g, "t", 100); y = tens(g, "y", 10);
    nn_tensor_id v = tens(g, "v", 100), shp;
    int64_t two = 2, target[2] = {1, 100};
    nn_shape s1 = nn_shape_make(1, &two);
    CHECK_STATUS(nn_graph_add_tensor(g, "shape", NN_DTYPE_INT64, &s1, &shp, &d), NN_OK);
    CHECK_STATUS(nn_graph_set_data(g, shp, target, sizeof target, 1, &d), NN_OK);
    g->tensors[shp.id].flags |= NN_TENSOR_CONST;
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    op(g, "A", "test", "A", &x, 1, t);
    nn_tensor_id ts[2] = {t, shp};
    op(g, "Reshape", "", "reshape", ts, 2, v);
    op(g, "B", "test", "B", &v, 1, y);
    md = mem_desc(NN_TARGET_MEM_NO_REORDER);
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_OK);
    CHECK_EQ_INT(p.bound_bytes, 200);
    CHECK_EQ_INT(p.view_count, 1);
    CHECK_EQ_INT(p.arena_bytes, 110);
    CHECK_EQ_INT(buf_of(&p, v)->offset, buf_of(&p, t)->offset);
    /* the shape constant is a weight: 16 bytes at offset 0 */
    CHECK_EQ_INT(p.weight_count, 1);
    CHECK_EQ_INT(p.weight_bytes, 64);
    CHECK_STATUS(nn_target_plan_check(&p, 1, &d), NN_OK);
    nn_target_memory_plan_deinit(&p);
    nn_graph_destroy(g);
}

/* A QDQ graph: x (float input) -> QuantizeLinear -> q (int8) ->
   DequantizeLinear -> y (float output), 100 elements each.  AUTO sizes a
   graph with QuantizeLinear as int8: 100 bytes each, no reuse 300.  DQ
   writes over q (its last read): steps hold x+q = 200 and q/y = 100.
   The scale (float32) and zero point (int8) keep their sizes: weights at
   0 and 64, region 128.  Without the Q node (DTYPE), floats are 4 bytes. */
static void test_qdq_bytes(void) {
    nn_graph *g = new_graph();
    nn_diag d;
    memset(&d, 0, sizeof d);
    int64_t dims[2] = {1, 100};
    nn_shape s = nn_shape_make(2, dims), sc = nn_shape_make(0, dims);
    nn_tensor_id x, q, y, scale, zp;
    float sv = 0.1f;
    int8_t zv = 0;
    CHECK_STATUS(nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &s, &x, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_tensor(g, "q", NN_DTYPE_INT8, &s, &q, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &s, &y, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_tensor(g, "scale", NN_DTYPE_FLOAT, &sc, &scale, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_tensor(g, "zp", NN_DTYPE_INT8, &sc, &zp, &d), NN_OK);
    CHECK_STATUS(nn_graph_set_data(g, scale, &sv, sizeof sv, 1, &d), NN_OK);
    CHECK_STATUS(nn_graph_set_data(g, zp, &zv, sizeof zv, 1, &d), NN_OK);
    g->tensors[scale.id].flags |= NN_TENSOR_CONST;
    g->tensors[zp.id].flags |= NN_TENSOR_CONST;
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    nn_tensor_id qi[3] = {x, scale, zp}, di[3] = {q, scale, zp};
    op(g, "QuantizeLinear", "", "quant", qi, 3, q);
    op(g, "DequantizeLinear", "", "dequant", di, 3, y);
    nn_target_memory_desc md = mem_desc(NN_TARGET_MEM_NO_REORDER);
    md.bytes_rule = NN_TARGET_BYTES_AUTO;
    nn_target_memory_plan p;
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_OK);
    CHECK_EQ_INT(p.no_reuse_bytes, 300);
    CHECK_EQ_INT(p.bound_bytes, 200);
    CHECK_EQ_INT(p.inplace_count, 1);
    CHECK_EQ_INT(p.arena_bytes, 200);
    CHECK_EQ_INT(p.weight_count, 2);
    CHECK_EQ_INT(p.weight_bytes, 128);
    CHECK_STATUS(nn_target_plan_check(&p, 1, &d), NN_OK);
    nn_target_memory_plan_deinit(&p);
    md.bytes_rule = NN_TARGET_BYTES_DTYPE;
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_OK);
    CHECK_EQ_INT(p.no_reuse_bytes, 900);   /* 400 + 100 + 400 */
    nn_target_memory_plan_deinit(&p);
    nn_graph_destroy(g);
}

/* A tensor without a static shape is refused with its name. */
static void test_unknown_shape(void) {
    nn_graph *g = new_graph();
    nn_diag d;
    memset(&d, 0, sizeof d);
    int64_t dims[2] = {1, NN_DIM_UNKNOWN};
    nn_shape s = nn_shape_make(2, dims);
    nn_tensor_id x, y = tens(g, "y", 4);
    CHECK_STATUS(nn_graph_add_tensor(g, "x", NN_DTYPE_UINT8, &s, &x, &d), NN_OK);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    op(g, "A", "test", "A", &x, 1, y);
    nn_target_memory_desc md = mem_desc(0);
    nn_target_memory_plan p;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_target_plan_memory(g, &md, &p, &d), NN_ERR_SHAPE);
    CHECK(strcmp(d.where, "x") == 0);
    nn_graph_destroy(g);
}

static void test_presets(void) {
    nn_target_desc t;
    nn_diag d;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_target_preset("npu-small", &t, &d), NN_OK);
    CHECK_EQ_INT(t.local_bytes, 256 * 1024);
    CHECK_EQ_INT(t.cores, 1);
    CHECK_EQ_INT(t.macs_s8, 256);
    CHECK_STATUS(nn_target_validate(&t, &d), NN_OK);
    CHECK_STATUS(nn_target_preset("npu-large", &t, &d), NN_OK);
    CHECK_EQ_INT(t.cores, 2);
    CHECK_EQ_INT(t.local_bytes, 2 * 1024 * 1024);
    CHECK_STATUS(nn_target_validate(&t, &d), NN_OK);
    CHECK_STATUS(nn_target_preset("mcu", &t, &d), NN_OK);
    CHECK(t.macs_s8 < 16);                               /* a CPU, not a MAC array */
    CHECK((t.dtypes & (1u << NN_DTYPE_INT8)) != 0);
    CHECK((t.dtypes & (1u << NN_DTYPE_INT16)) == 0);     /* int8 only */
    CHECK_STATUS(nn_target_validate(&t, &d), NN_OK);
    CHECK(nn_target_preset_name(0) != NULL && nn_target_preset_name(3) == NULL);
    CHECK_STATUS(nn_target_preset("tpu-9000", &t, &d), NN_ERR_ARG);
    /* a zero desc is npu-small's numbers */
    nn_target_desc z;
    memset(&z, 0, sizeof z);
    z = nn_target_desc_defaults(&z);
    CHECK_EQ_INT(z.local_bytes, 256 * 1024);
    CHECK_EQ_INT(z.macs_s16, 128);
    /* validation names the field */
    memset(&z, 0, sizeof z);
    z.cores = 1000;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_target_validate(&z, &d), NN_ERR_LIMIT);
    CHECK(strcmp(d.where, "nn_target_desc.cores") == 0);
    memset(&z, 0, sizeof z);
    z.local_bytes = 10;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_target_validate(&z, &d), NN_ERR_ARG);
    CHECK(strcmp(d.where, "nn_target_desc.local_bytes") == 0);
    z.local_bytes = 0;
    z.ops = "Conv, Relu,Add";
    CHECK(nn_target_supports_op(&z, "Relu"));
    CHECK(nn_target_supports_op(&z, "Add"));
    CHECK(!nn_target_supports_op(&z, "Softmax"));
}

/* One 3x3 convolution, stride 1, on a 1x1x32x32 uint8 image, 1 output
   channel, 1024 bytes of local memory.  R output rows need R+2 input rows:
   working set (R+2)*32 + R*32 + 9 (weights) = 64R + 73 <= 1024 gives
   R = 14, ceil(32/14) = 3 tiles, 969 bytes.  Cycles by the documented
   model with npu-small's rates: compute 9216 MACs / 256 + 1024 elements /
   16 = 100; DMA 3 tiles x 16 rows x 32 + 9 + 1024 = 2569 bytes / 8 = 322
   (rounded up); overhead 256 + 3 x (64 + 16) = 496; total 322 + 496. */
static void test_tile_conv(void) {
    nn_graph *g = new_graph();
    nn_diag d;
    memset(&d, 0, sizeof d);
    int64_t xd[4] = {1, 1, 32, 32}, wd[4] = {1, 1, 3, 3};
    nn_shape xs = nn_shape_make(4, xd), ws = nn_shape_make(4, wd);
    nn_tensor_id x, w, y;
    uint8_t wv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK_STATUS(nn_graph_add_tensor(g, "x", NN_DTYPE_UINT8, &xs, &x, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_tensor(g, "w", NN_DTYPE_UINT8, &ws, &w, &d), NN_OK);
    CHECK_STATUS(nn_graph_add_tensor(g, "y", NN_DTYPE_UINT8, &xs, &y, &d), NN_OK);
    CHECK_STATUS(nn_graph_set_data(g, w, wv, sizeof wv, 1, &d), NN_OK);
    g->tensors[w.id].flags |= NN_TENSOR_CONST;
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    nn_tensor_id xw[2] = {x, w};
    nn_node_id c = op(g, "Conv", "", "conv", xw, 2, y);
    int64_t k[2] = {3, 3}, one[2] = {1, 1}, pads[4] = {1, 1, 1, 1};
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.type = NN_ATTR_INTS;
    a.count = 2;
    a.name = "kernel_shape"; a.ints = k;
    CHECK_STATUS(nn_graph_add_attr(g, c, &a, 0, &d), NN_OK);
    a.name = "strides"; a.ints = one;
    CHECK_STATUS(nn_graph_add_attr(g, c, &a, 0, &d), NN_OK);
    a.name = "pads"; a.ints = pads; a.count = 4;
    CHECK_STATUS(nn_graph_add_attr(g, c, &a, 0, &d), NN_OK);
    nn_target_desc t;
    CHECK_STATUS(nn_target_preset("npu-small", &t, &d), NN_OK);
    t.local_bytes = 1024;
    t.dtypes = 1u << NN_DTYPE_UINT8;
    nn_target_group_desc gd;
    memset(&gd, 0, sizeof gd);
    gd.bytes_rule = NN_TARGET_BYTES_DTYPE;
    nn_target_group_plan gp;
    CHECK_STATUS(nn_target_plan_groups(g, &t, &gd, &gp, &d), NN_OK);
    CHECK_EQ_INT(gp.group_count, 1);
    if (gp.group_count == 1) {
        const nn_target_group *G = &gp.groups[0];
        CHECK_EQ_INT(G->tile_rows, 14);
        CHECK_EQ_INT(G->rows, 32);
        CHECK_EQ_INT(G->tiles, 3);
        CHECK_EQ_INT(G->working_bytes, 969);
        CHECK_EQ_INT(G->fits, 1);
        CHECK_EQ_INT(G->macs, 9216);
        CHECK_EQ_INT(G->compute_cycles, 100);
        CHECK_EQ_INT(G->dma_bytes, 2569);
        CHECK_EQ_INT(G->cycles, 322 + 496);
        CHECK_NEAR(gp.latency_ms, 818.0 / 500e3, 1e-12);
    }
    nn_target_group_plan_deinit(&gp);
    nn_graph_destroy(g);
}

/* Every layer group of the real CV models fits npu-small's 256 KiB. */
static void test_models_fit(void) {
    const char *home = getenv("HOME");
    char root[400];
    const char *cache = getenv("NNPORT_CACHE");
    if (cache) snprintf(root, sizeof root, "%s", cache);
    else snprintf(root, sizeof root, "%s/.cache/nnport", home ? home : ".");
    static const struct { const char *file; int64_t h, w; } models[] = {
        {"models/mobilenet_v2_op13.onnx", 0, 0},
        {"models/resnet18_op13.onnx", 0, 0},
        {"npm/package/assets/ch_PP-OCRv4_det_infer.onnx", 640, 640},
        {"npm/package/assets/ch_PP-OCRv4_rec_infer.onnx", 48, 320},
        {"npm/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx", 48, 192},
    };
    nn_target_desc t;
    nn_diag d;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_target_preset("npu-small", &t, &d), NN_OK);
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", root, models[m].file);
        FILE *f = fopen(path, "rb");
        if (!f) { printf("note: %s not cached; its tiling check is skipped\n", path); continue; }
        fclose(f);
        nn_graph *g;
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_onnx_load_file(path, NULL, &g, &d), NN_OK);
        if (d.status) continue;
        nn_input_shape sh;
        uint32_t ns = 0;
        if (models[m].h) {
            int64_t dims[4] = {1, 3, models[m].h, models[m].w};
            sh.name = g->tensors[g->inputs[0].id].name;
            sh.shape = nn_shape_make(4, dims);
            ns = 1;
        }
        CHECK_STATUS(nn_graph_infer_shapes(g, &sh, ns, &d), NN_OK);
        CHECK_STATUS(nn_graph_run_passes(g, "fold,identity,bn,dce", NULL, NULL, &d), NN_OK);
        nn_target_memory_desc md;
        memset(&md, 0, sizeof md);
        md.bytes_rule = NN_TARGET_BYTES_INT8;
        nn_target_memory_plan mp;
        CHECK_STATUS(nn_target_plan_memory(g, &md, &mp, &d), NN_OK);
        CHECK_STATUS(nn_target_plan_check(&mp, 16, &d), NN_OK);
        CHECK(mp.arena_bytes >= mp.ours_bound_bytes);
        CHECK(mp.arena_bytes < mp.bound_bytes);   /* sharing goes below the plain bound */
        nn_target_group_desc gd;
        memset(&gd, 0, sizeof gd);
        gd.bytes_rule = NN_TARGET_BYTES_INT8;
        gd.order = mp.order;
        gd.order_count = mp.step_count;
        nn_target_group_plan gp;
        CHECK_STATUS(nn_target_plan_groups(g, &t, &gd, &gp, &d), NN_OK);
        uint32_t bad = 0, tiled = 0;
        for (uint32_t i = 0; i < gp.group_count; i++) {
            if (gp.groups[i].working_bytes > t.local_bytes || !gp.groups[i].fits || gp.groups[i].on_host) bad++;
            if (gp.groups[i].tiles > 1) tiled++;
        }
        CHECK_EQ_INT(bad, 0);
        CHECK_EQ_INT(gp.unfit_groups, 0);
        CHECK(gp.max_working_bytes <= t.local_bytes);
        /* a model whose whole tensors fit needs no tiles; the others do */
        CHECK(tiled > 0 || mp.bound_bytes <= t.local_bytes);
        CHECK(gp.cycles > 0 && gp.latency_ms > 0);
        printf("%-44s arena %8llu (bound %8llu), %3u groups, max working set %6llu, %.3f ms\n", models[m].file,
               (unsigned long long)mp.arena_bytes, (unsigned long long)mp.bound_bytes, gp.group_count,
               (unsigned long long)gp.max_working_bytes, gp.latency_ms);
        nn_target_group_plan_deinit(&gp);
        nn_target_memory_plan_deinit(&mp);
        nn_graph_destroy(g);
    }
}

/* MCUNetV2-style bands on mobilenet_v2: the peak of patch-based execution
   of the leading layers is at most a quarter of the whole-tensor bound,
   with the prefix MACs grown by at most the allowed 1.5x. */
static void test_patches(void) {
    const char *home = getenv("HOME"), *cache = getenv("NNPORT_CACHE");
    char path[600];
    if (cache) snprintf(path, sizeof path, "%s/models/mobilenet_v2_op13.onnx", cache);
    else snprintf(path, sizeof path, "%s/.cache/nnport/models/mobilenet_v2_op13.onnx", home ? home : ".");
    FILE *f = fopen(path, "rb");
    if (!f) { printf("note: %s not cached; the patch check is skipped\n", path); return; }
    fclose(f);
    nn_graph *g;
    nn_diag d;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_onnx_load_file(path, NULL, &g, &d), NN_OK);
    if (d.status) return;
    CHECK_STATUS(nn_graph_infer_shapes(g, NULL, 0, &d), NN_OK);
    nn_target_patch_desc pd;
    memset(&pd, 0, sizeof pd);
    pd.memory.bytes_rule = NN_TARGET_BYTES_INT8;
    nn_target_patch_plan pp;
    CHECK_STATUS(nn_target_plan_patches(g, &pd, &pp, &d), NN_OK);
    CHECK(pp.prefix_steps > 0);
    CHECK(pp.peak_bytes * 4 <= pp.bound_bytes);
    CHECK(pp.recompute >= 1.0 && pp.recompute <= 1.5);
    CHECK(pp.peak_bytes >= pp.stage_bytes && pp.peak_bytes >= pp.rest_bytes);
    /* the cut tensor is held whole: the stage holds at least it and the input */
    CHECK(pp.stage_bytes >= (uint64_t)224 * 224 * 3);
    printf("mobilenet_v2 patches: prefix %u steps, %u bands of %u rows, peak %llu of bound %llu, %.3fx MACs\n",
           pp.prefix_steps, pp.bands, pp.band_rows, (unsigned long long)pp.peak_bytes, (unsigned long long)pp.bound_bytes,
           pp.recompute);
    nn_graph_destroy(g);
}

/* A counting allocator that fails the n-th call: every planner returns
   NN_ERR_NOMEM cleanly and frees what it took. */
static long alloc_live, alloc_calls, alloc_fail_at = -1;
static void *count_alloc(void *user, size_t bytes) {
    (void)user;
    if (alloc_calls++ == alloc_fail_at) return NULL;
    /* calloc, not malloc: nn_qexec_create (nn_quant.h) frees x->vals,
       allocated but not yet zeroed, when its x->defs allocation fails; with
       malloc's garbage that crashes (reported; the fix is in nn_quant.h). */
    void *p = calloc(1, bytes ? bytes : 1);
    if (p) alloc_live++;
    return p;
}
static void count_free(void *user, void *p) {
    (void)user;
    if (p) { alloc_live--; free(p); }
}

static void test_alloc_failures(void) {
    nn_graph *g = new_graph();
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_tensor_id x = tens(g, "x", 10), a = tens(g, "a", 40), b = tens(g, "b", 60), y = tens(g, "y", 100),
                 z = tens(g, "z", 10);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, z, &d);
    op(g, "A", "test", "A", &x, 1, a);
    op(g, "Relu", "", "B", &a, 1, b);
    nn_tensor_id ab[2] = {a, b};
    op(g, "Concat", "", "cat", ab, 2, y);
    op(g, "Z", "test", "Z", &y, 1, z);
    nn_allocator al;
    al.alloc = count_alloc;
    al.free = count_free;
    al.user = NULL;
    nn_target_desc t;
    memset(&t, 0, sizeof t);
    int kinds_ok[3] = {1, 1, 1};
    for (int kind = 0; kind < 3; kind++) {
        long calls_ok;
        alloc_calls = 0;
        alloc_fail_at = -1;
        alloc_live = 0;
        /* count the calls of a successful run, then fail each in turn */
        for (long k = -1;; k++) {
            nn_status st;
            alloc_calls = 0;
            alloc_fail_at = k;
            memset(&d, 0, sizeof d);
            if (kind == 0) {
                nn_target_memory_desc md = mem_desc(0);
                nn_target_memory_plan p;
                md.alloc = al;
                st = nn_target_plan_memory(g, &md, &p, &d);
                if (st == NN_OK) nn_target_memory_plan_deinit(&p);
            } else if (kind == 1) {
                nn_target_group_desc gd;
                nn_target_group_plan p;
                memset(&gd, 0, sizeof gd);
                gd.alloc = al;
                gd.bytes_rule = NN_TARGET_BYTES_DTYPE;
                st = nn_target_plan_groups(g, &t, &gd, &p, &d);
                if (st == NN_OK) nn_target_group_plan_deinit(&p);
            } else {
                nn_target_patch_desc pd;
                nn_target_patch_plan p;
                memset(&pd, 0, sizeof pd);
                pd.memory = mem_desc(0);
                pd.memory.alloc = al;
                st = nn_target_plan_patches(g, &pd, &p, &d);
            }
            if (alloc_live != 0) kinds_ok[kind] = 0;
            if (k < 0) { calls_ok = alloc_calls; if (st != NN_OK) kinds_ok[kind] = 0; continue; }
            if (k >= calls_ok) break;
            if (st != NN_ERR_NOMEM) kinds_ok[kind] = 0;
        }
    }
    CHECK(kinds_ok[0]);
    CHECK(kinds_ok[1]);
    CHECK(kinds_ok[2]);
    nn_graph_destroy(g);
}

/* ---- lowering, model file, simulator ---------------------------------------------------- */

/* x (1,3,8,8) -> Conv 3x3 pad 1 (+bias) -> Relu -> r;  x -> Conv 1x1 -> c2;
   Add(r, c2) -> GlobalAveragePool -> Flatten -> Gemm (transB, bias) -> Sigmoid -> y (1,5).
   Weights are a fixed pseudo-random pattern. */
static nn_graph *qnet_float(void) {
    nn_graph *g = NULL;
    nn_diag d;
    nn_tensor_id x, w1, b1, c1, r, w2, c2, s, p, f, wg, bg, gm, y;
    nn_node_id n;
    nn_attr a;
    int64_t xd[4] = {1, 3, 8, 8}, w1d[4] = {4, 3, 3, 3}, b1d[1] = {4}, cd[4] = {1, 4, 8, 8}, w2d[4] = {4, 3, 1, 1},
            pd[4] = {1, 4, 1, 1}, fd[2] = {1, 4}, wgd[2] = {5, 4}, bgd[1] = {5}, yd[2] = {1, 5};
    int64_t pads[4] = {1, 1, 1, 1};
    float w1v[108], b1v[4] = {0.1f, -0.2f, 0.05f, 0.3f}, w2v[12], wgv[20], bgv[5] = {0.2f, -0.1f, 0.0f, 0.4f, -0.3f};
    int i;
    memset(&d, 0, sizeof d);
    for (i = 0; i < 108; i++) w1v[i] = (float)((i * 37 % 19) - 9) / 25.0f;
    for (i = 0; i < 12; i++) w2v[i] = (float)((i * 11 % 7) - 3) / 5.0f;
    for (i = 0; i < 20; i++) wgv[i] = (float)((i * 13 % 9) - 4) / 6.0f;
    if (nn_graph_create(NULL, &g, &d)) return NULL;
    nn_graph_set_opset(g, "", 13, &d);
#define T(name, var, dims, rank) { nn_shape s_ = nn_shape_make(rank, dims); nn_graph_add_tensor(g, name, NN_DTYPE_FLOAT, &s_, &var, &d); }
    T("x", x, xd, 4) T("w1", w1, w1d, 4) T("b1", b1, b1d, 1) T("c1", c1, cd, 4) T("r", r, cd, 4) T("w2", w2, w2d, 4)
    T("c2", c2, cd, 4) T("s", s, cd, 4) T("p", p, pd, 4) T("f", f, fd, 2) T("wg", wg, wgd, 2) T("bg", bg, bgd, 1)
    T("gm", gm, yd, 2) T("y", y, yd, 2)
#undef T
    nn_graph_set_data(g, w1, w1v, sizeof w1v, 1, &d);
    nn_graph_set_data(g, b1, b1v, sizeof b1v, 1, &d);
    nn_graph_set_data(g, w2, w2v, sizeof w2v, 1, &d);
    nn_graph_set_data(g, wg, wgv, sizeof wgv, 1, &d);
    nn_graph_set_data(g, bg, bgv, sizeof bgv, 1, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    {
        nn_tensor_id in1[3] = {x, w1, b1}, in2[2] = {x, w2}, ia[2] = {r, c2}, ig[3] = {f, wg, bg};
        nn_graph_add_node(g, "Conv", "", "conv1", in1, 3, &c1, 1, &n, &d);
        memset(&a, 0, sizeof a);
        a.name = "pads"; a.type = NN_ATTR_INTS; a.ints = pads; a.count = 4;
        nn_graph_add_attr(g, n, &a, 0, &d);
        nn_graph_add_node(g, "Relu", "", "relu", &c1, 1, &r, 1, &n, &d);
        nn_graph_add_node(g, "Conv", "", "conv2", in2, 2, &c2, 1, &n, &d);
        nn_graph_add_node(g, "Add", "", "add", ia, 2, &s, 1, &n, &d);
        nn_graph_add_node(g, "GlobalAveragePool", "", "gap", &s, 1, &p, 1, &n, &d);
        nn_graph_add_node(g, "Flatten", "", "flatten", &p, 1, &f, 1, &n, &d);
        nn_graph_add_node(g, "Gemm", "", "gemm", ig, 3, &gm, 1, &n, &d);
        memset(&a, 0, sizeof a);
        a.name = "transB"; a.type = NN_ATTR_INT; a.i = 1;
        nn_graph_add_attr(g, n, &a, 0, &d);
        nn_graph_add_node(g, "Sigmoid", "", "sigmoid", &gm, 1, &y, 1, &n, &d);
    }
    if (d.status) { nn_graph_destroy(g); return NULL; }
    return g;
}

/* Ranges by hand (symmetric thresholds, roomy enough for these weights
   and inputs in [-2, 2]); nn_quant_graph makes the QDQ graph. */
static nn_graph *qnet_qdq_desc(const nn_graph *g, const nn_quant_desc *desc) {
    static const struct { const char *name; double t; } th[] = {
        {"x", 2.0}, {"c1", 4.0}, {"r", 4.0}, {"c2", 3.0}, {"s", 6.0}, {"p", 3.0}, {"f", 3.0}, {"gm", 4.0}, {"y", 1.0}};
    nn_quant_range *r = (nn_quant_range *)calloc(g->tensor_count, sizeof *r);
    nn_graph *q = NULL;
    nn_quant_desc qd;
    nn_diag d;
    size_t i;
    memset(&d, 0, sizeof d);
    qd = *desc;
    for (i = 0; i < sizeof th / sizeof th[0]; i++) {
        nn_tensor_id t = nn_graph_find_tensor(g, th[i].name);
        r[t.id].valid = 1;
        r[t.id].threshold = th[i].t;
        r[t.id].min = i == 2 ? 0.0 : -th[i].t * 0.8;
        r[t.id].max = th[i].t;
    }
    CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, NULL, &d), NN_OK);
    free(r);
    if (q) CHECK_STATUS(nn_graph_infer_shapes(q, NULL, 0, &d), NN_OK);
    return q;
}

static nn_graph *qnet_qdq(const nn_graph *g, nn_quant_scheme scheme) {
    nn_quant_desc qd;
    memset(&qd, 0, sizeof qd);
    qd.scheme = scheme;
    return qnet_qdq_desc(g, &qd);
}

typedef struct membuf { char *p; size_t n, cap; } membuf;

static int membuf_write(void *user, const char *text, size_t bytes) {
    membuf *m = (membuf *)user;
    if (m->n + bytes > m->cap) {
        size_t cap = (m->n + bytes) * 2;
        char *np = (char *)realloc(m->p, cap);
        if (!np) return 1;
        m->p = np;
        m->cap = cap;
    }
    memcpy(m->p + m->n, text, bytes);
    m->n += bytes;
    return 0;
}

/* Runs q with nn_qexec and p with the simulator on the same inputs;
   returns how many output elements were compared (all must be equal
   byte for byte), -1 on a failure. */
static long sim_vs_qexec(const nn_graph *q, const nn_target_program *p, const nn_value *inputs) {
    nn_qexec *x = NULL;
    nn_diag d;
    nn_value outs[8];
    size_t mb = nn_target_sim_scratch_bytes(p);
    char *raw = (char *)malloc(mb + 64), *mem = raw ? raw + (64 - (uintptr_t)raw % 64) % 64 : NULL;
    long compared = 0;
    uint32_t i;
    memset(&d, 0, sizeof d);
    if (p->output_count > 8 || !raw) { free(raw); return -1; }
    CHECK_STATUS(nn_qexec_create(q, NULL, &x, &d), NN_OK);
    for (i = 0; x && i < q->input_count; i++) CHECK_STATUS(nn_qexec_set_input(x, i, &inputs[i], &d), NN_OK);
    if (x) CHECK_STATUS(nn_qexec_run(x, &d), NN_OK);
    CHECK_STATUS(nn_target_sim_run(p, mem, mb, inputs, outs, &d), NN_OK);
    if (d.status) { fprintf(stderr, "     %s: %s\n", d.where, d.message); compared = -1; }
    for (i = 0; compared >= 0 && x && i < p->output_count; i++) {
        const nn_value *e = nn_qexec_output(x, i);
        CHECK(e && e->dtype == outs[i].dtype && e->bytes == outs[i].bytes);
        if (!e || e->bytes != outs[i].bytes) { compared = -1; break; }
        CHECK(memcmp(e->data, outs[i].data, e->bytes) == 0);
        if (memcmp(e->data, outs[i].data, e->bytes)) compared = -1;
        else compared += (long)nn_value_count(e);
    }
    nn_qexec_destroy(x);
    free(raw);
    return x ? compared : -1;
}

static void test_compile_small(void) {
    static const nn_quant_scheme schemes[2] = {NN_QUANT_S8_SYM, NN_QUANT_U8_ASYM};
    nn_graph *g = qnet_float();
    float xv[192];
    int64_t xd[4] = {1, 3, 8, 8};
    int si, i;
    CHECK(g != NULL);
    if (!g) return;
    for (i = 0; i < 192; i++) xv[i] = (float)sin(i * 0.37) * 1.9f;
    for (si = 0; si < 2; si++) {
        nn_graph *q = qnet_qdq(g, schemes[si]);
        nn_target_program *p = NULL, *p2 = NULL;
        nn_target_desc t;
        nn_diag d;
        membuf m;
        nn_value in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xv);
        memset(&d, 0, sizeof d);
        memset(&m, 0, sizeof m);
        in.bytes = sizeof xv;
        if (!q) continue;
        CHECK_STATUS(nn_target_preset("npu-small", &t, &d), NN_OK);
        CHECK_STATUS(nn_target_compile(q, &t, NULL, &p, &d), NN_OK);
        if (d.status) fprintf(stderr, "     %s: %s\n", d.where, d.message);
        if (!p) { nn_graph_destroy(q); continue; }
        /* the int8 program: two convs (Relu in the first's clamp), the add,
           the pool and the gemm run as integer instructions */
        if (si == 0) CHECK(p->int_instrs >= 5);
        CHECK(p->cpu_instrs >= 1); /* quantizing the input, dequantizing y at least */
        CHECK_EQ_INT((p->weights - p->image) % 64, 0);
        CHECK_STATUS(nn_target_save(p, membuf_write, &m, &d), NN_OK);
        CHECK_EQ_INT(m.n, p->image_bytes);
        CHECK_STATUS(nn_target_load_memory(m.p, m.n, NULL, &p2, &d), NN_OK);
        if (p2) {
            long n1 = sim_vs_qexec(q, p, &in), n2 = sim_vs_qexec(q, p2, &in);
            CHECK_EQ_INT(n1, 5);
            CHECK_EQ_INT(n2, 5);
            CHECK_EQ_INT(p2->instr_count, p->instr_count);
        }
        nn_target_program_destroy(p2);
        nn_target_program_destroy(p);
        free(m.p);
        nn_graph_destroy(q);
    }
    nn_graph_destroy(g);
}

static void fix_crc(uint8_t *img, size_t n) {
    static const uint8_t zero[4] = {0, 0, 0, 0};
    uint32_t c = nn_verify_crc32(0, img, 24);
    c = nn_verify_crc32(c, zero, 4);
    c = nn_verify_crc32(c, img + 28, n - 28);
    img[24] = (uint8_t)c; img[25] = (uint8_t)(c >> 8); img[26] = (uint8_t)(c >> 16); img[27] = (uint8_t)(c >> 24);
}

static uint32_t rd32(const uint8_t *b) { return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24; }
static void wr32(uint8_t *b, uint32_t v) { b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); b[2] = (uint8_t)(v >> 16); b[3] = (uint8_t)(v >> 24); }

/* Loads a copy of img with one 32-bit field at off set to v (checksum
   fixed, so the field checks are what refuses it); returns the status and
   leaves the diag in *d. */
static nn_status load_patched(const uint8_t *img, size_t n, size_t off, uint32_t v, nn_diag *d) {
    uint8_t *c = (uint8_t *)malloc(n);
    nn_target_program *p = NULL;
    nn_status st;
    memcpy(c, img, n);
    wr32(c + off, v);
    fix_crc(c, n);
    memset(d, 0, sizeof *d);
    st = nn_target_load_memory(c, n, NULL, &p, d);
    nn_target_program_destroy(p);
    free(c);
    return st;
}

/* The loader on damaged files: every truncation and a bit flip in every
   byte are refused (header size or checksum); fields made wrong with a
   valid checksum are refused naming the field; a misaligned copy loads
   (weights copied) and runs to the same outputs. */
static void test_nnb_robust(void) {
    nn_graph *g = qnet_float(), *q = g ? qnet_qdq(g, NN_QUANT_S8_SYM) : NULL;
    nn_target_program *p = NULL, *p2 = NULL;
    nn_diag d;
    uint8_t *img, *c;
    size_t n, i, bad = 0, slots, conv = (size_t)-1;
    float xv[192];
    int64_t xd[4] = {1, 3, 8, 8};
    nn_value in;
    memset(&d, 0, sizeof d);
    if (!q) { CHECK(q != NULL); nn_graph_destroy(g); return; }
    CHECK_STATUS(nn_target_compile(q, NULL, NULL, &p, &d), NN_OK);
    if (!p) { nn_graph_destroy(q); nn_graph_destroy(g); return; }
    n = p->image_bytes;
    img = (uint8_t *)malloc(n + 1);
    memcpy(img, p->image, n);
    for (i = 0; i < n; i++) {
        nn_target_program *t = NULL;
        memset(&d, 0, sizeof d);
        if (nn_target_load_memory(img, i, NULL, &t, &d) == NN_OK || t) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    c = (uint8_t *)malloc(n);
    for (i = 0, bad = 0; i < n; i++) {
        nn_target_program *t = NULL;
        memcpy(c, img, n);
        c[i] ^= (uint8_t)(1u << (i % 8));
        memset(&d, 0, sizeof d);
        if (nn_target_load_memory(c, n, NULL, &t, &d) == NN_OK || t) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    free(c);
    /* fields with a valid checksum */
    CHECK_STATUS(load_patched(img, n, 32, 0x7fffffffu, &d), NN_ERR_LIMIT);
    CHECK(strcmp(d.where, "header.slot_count") == 0);
    CHECK_STATUS(load_patched(img, n, 8, 1, &d), NN_ERR_UNSUPPORTED); /* version 1 files are refused */
    CHECK(strcmp(d.where, "header.version") == 0);
    slots = rd32(img + 32);
    CHECK_STATUS(load_patched(img, n, 128 + 16, 0x40000000u, &d), NN_ERR_INVALID); /* slot 0's offset */
    CHECK(strcmp(d.where, "slot[0].offset") == 0);
    CHECK_STATUS(load_patched(img, n, 128 + 4, 999, &d), NN_ERR_INVALID);
    CHECK(strcmp(d.where, "slot[0].dtype") == 0);
    for (i = 0; i < p->instr_count; i++)
        if (p->instrs[i].op == NN_TARGET_OP_CONV) { conv = i; break; }
    CHECK(conv != (size_t)-1);
    if (conv != (size_t)-1) {
        size_t rec = 128 + slots * 96 + conv * 168;
        char want[64];
        CHECK_STATUS(load_patched(img, n, rec + 32 + 5 * 4, 70000, &d), NN_ERR_INVALID); /* p.kh: K above 65536 */
        snprintf(want, sizeof want, "instr[%u].p", (unsigned)conv);
        CHECK(strncmp(d.where, want, strlen(want)) == 0);
        CHECK_STATUS(load_patched(img, n, rec + 32 + 9 * 4, 3, &d), NN_ERR_INVALID); /* p.group 3 does not divide 4 */
        CHECK(strstr(d.where, ".p.group") != NULL);
        CHECK_STATUS(load_patched(img, n, rec + 12, 60, &d), NN_ERR_INVALID); /* in_count */
        CHECK_STATUS(load_patched(img, n, rec + 0, 77, &d), NN_ERR_INVALID); /* op */
        snprintf(want, sizeof want, "instr[%u].op", (unsigned)conv);
        CHECK(strcmp(d.where, want) == 0);
        CHECK_STATUS(load_patched(img, n, rec + 128, 0xfffff000u, &d), NN_ERR_INVALID); /* w offset */
        snprintf(want, sizeof want, "instr[%u].w", (unsigned)conv);
        CHECK(strcmp(d.where, want) == 0);
    }
    /* misaligned bytes: copied, same results */
    c = (uint8_t *)malloc(n + 1);
    memcpy(c + 1, img, n);
    CHECK_STATUS(nn_target_load_memory(c + 1, n, NULL, &p2, &d), NN_OK);
    for (i = 0; i < 192; i++) xv[i] = (float)cos(i * 0.21) * 1.5f;
    in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xv);
    in.bytes = sizeof xv;
    if (p2) {
        CHECK(p2->image != c + 1);
        CHECK_EQ_INT(sim_vs_qexec(q, p2, &in), 5);
    }
    /* too little memory for the simulator */
    if (p2) {
        nn_value outs[2];
        char *mem = (char *)malloc(64);
        CHECK_STATUS(nn_target_sim_run(p2, mem, 64, &in, outs, &d), NN_ERR_ARG);
        free(mem);
    }
    nn_target_program_destroy(p2);
    free(c);
    free(img);
    nn_target_program_destroy(p);
    nn_graph_destroy(q);
    nn_graph_destroy(g);
}

/* W8A16 (the s16 scheme): the convolutions, the Add, the
   GlobalAveragePool and the Gemm are integer instructions on int16 slots
   (nn_quant_conv_s16, _add_s16, _avgpool_s16, _matmul_s16),
   not float islands; the simulator equals nn_qexec byte for byte on
   inputs of growing scale; a zero point outside int16 is refused naming
   the field. */
static void test_w8a16_program(void) {
    nn_graph *g = qnet_float(), *q = g ? qnet_qdq(g, NN_QUANT_S16_SYM) : NULL;
    nn_target_program *p = NULL;
    nn_diag d;
    uint32_t i, conv16 = 0, gemm16 = 0, add16 = 0, pool16 = 0, cpu_mac = 0, first = UINT32_MAX, add_at = UINT32_MAX;
    int64_t xd[4] = {1, 3, 8, 8};
    float xv[192];
    int k;
    memset(&d, 0, sizeof d);
    if (!q) { CHECK(q != NULL); nn_graph_destroy(g); return; }
    CHECK_STATUS(nn_target_compile(q, NULL, NULL, &p, &d), NN_OK);
    if (!p) { nn_graph_destroy(q); nn_graph_destroy(g); return; }
    for (i = 0; i < p->instr_count; i++) {
        const nn_target_instr *I = &p->instrs[i];
        const nn_target_slot *sa = I->in_count ? &p->slots[p->operands[I->first_operand]] : NULL;
        if (I->op == NN_TARGET_OP_CONV && sa && sa->dtype == NN_DTYPE_INT16) { conv16++; if (first == UINT32_MAX) first = i; }
        if (I->op == NN_TARGET_OP_GEMM && sa && sa->dtype == NN_DTYPE_INT16) gemm16++;
        if (I->op == NN_TARGET_OP_ADD && sa && sa->dtype == NN_DTYPE_INT16) { add16++; add_at = i; }
        if (I->op == NN_TARGET_OP_AVGPOOL && sa && sa->dtype == NN_DTYPE_INT16) pool16++;
        if (I->op == NN_TARGET_OP_CPU && (!strcmp(p->nodes[I->node].op_type, "Conv") || !strcmp(p->nodes[I->node].op_type, "Gemm")))
            cpu_mac++;
    }
    CHECK_EQ_INT(conv16, 2);
    CHECK_EQ_INT(gemm16, 1);
    CHECK_EQ_INT(add16, 1);
    CHECK_EQ_INT(pool16, 1);
    CHECK_EQ_INT(cpu_mac, 0);
    for (k = 0; k < 3; k++) {
        nn_value in;
        for (i = 0; i < 192; i++) xv[i] = (float)sin(i * 0.37 + k) * (k == 0 ? 0.5f : k == 1 ? 3.0f : 40.0f);
        in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xv);
        in.bytes = sizeof xv;
        CHECK_EQ_INT(sim_vs_qexec(q, p, &in), 5);
    }
    if (first != UINT32_MAX) {
        size_t rec = 128 + (size_t)p->slot_count * 96 + (size_t)first * 168;
        char want[64];
        CHECK_STATUS(load_patched(p->image, p->image_bytes, rec + 32 + 16 * 4, 40000, &d), NN_ERR_INVALID); /* p.in_zp */
        snprintf(want, sizeof want, "instr[%u].p.in_zp", first);
        CHECK(strcmp(d.where, want) == 0);
    }
    if (add_at != UINT32_MAX) { /* a 16-bit add shifts by 15 (p[5], left_shift); 20 is the 8-bit shift */
        size_t rec = 128 + (size_t)p->slot_count * 96 + (size_t)add_at * 168;
        char want[64];
        CHECK_STATUS(load_patched(p->image, p->image_bytes, rec + 32 + 5 * 4, 20, &d), NN_ERR_INVALID);
        snprintf(want, sizeof want, "instr[%u].p.left_shift", add_at);
        CHECK(strcmp(d.where, want) == 0);
    }
    nn_target_program_destroy(p);
    nn_graph_destroy(q);
    nn_graph_destroy(g);
}

/* Writes img to $NNPORT_WRITE_NNB_CORPUS/name when that is set (how
   tests/fuzz/corpus_nnb's version-2 seeds were made). */
static void corpus_write(const char *name, const uint8_t *img, size_t n) {
    const char *dir = getenv("NNPORT_WRITE_NNB_CORPUS");
    char path[1024];
    FILE *f;
    if (!dir) return;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f) { fwrite(img, 1, n, f); fclose(f); }
}

/* nn_quant_desc.preact16 on the NPU: x (1, 3, 8, 8) -> Conv 3x3 (4
   outputs, pads 1) -> h -> HardSwish -> a -> Conv 1x1 -> c -> Sigmoid ->
   y.  h is read only by the HardSwish and c only by the Sigmoid, so both
   get int16 Q/DQ; x and a stay 8-bit.  The program runs each Conv as one
   conv instruction reading its 8-bit input (widened) and writing int16,
   and the HardSwish as one lut16 instruction from int16 to 8 bits (a
   table of output bytes over the inputs p[0] .. p[1], the flat runs at
   either end cut: HardSwish is flat below -3, so p[0] > -32768); no Conv
   falls to the host.  (The
   Sigmoid's output y is the graph output and stays float: a cpu
   instruction.)  The simulator equals nn_qexec byte for byte on three
   inputs, for s8 and u8 schemes, also after a save/load round trip; the
   u8 program is a fuzz seed (tests/fuzz/corpus_nnb/preact16_u8.nnb,
   written with NNPORT_WRITE_NNB_CORPUS set).  The loader refuses the
   lut16 table moved to end past the weights, and p[0] > p[1].
   That is the program with keep_act set.  By default (session 19) the
   first Conv and the HardSwish are one conv instruction with the
   activation fused (NN_TARGET_INSTR_ACT, 8-bit input and output, the
   table over p[22] .. p[23]) and no lut16 is left: h has no slot, so the
   program has one slot less.  It equals nn_qexec byte for byte as well
   (fuzz seed preact16_act_u8.nnb), and the loader refuses its table moved
   past the weights, p[22] > p[23], and the fused flag on the second conv,
   whose output is int16.  Without preact16 (all 8-bit) the HardSwish is a
   lut8 and fuses into the 8-bit conv (NN_TARGET_INSTR_ACT8: the kernel's
   int8 result through a table over p[22] .. p[23] in -128 .. 127, no
   uint8 flag on the output): one 8-bit conv, one fused, no lut8 left, one
   slot fewer than with keep_act (fuzz seed act8_u8.nnb); the loader
   refuses that table moved past the weights, p[22] = -129, and both fused
   flags on one instruction.  The int16 -> 8-bit tables (the lut16's and
   the 16-bit fused one) are stored as runs (NN_TARGET_INSTR_RUNS: fewer
   bytes than one per input); the loader refuses 0 runs, a first run that
   does not start at the range's low end, and starts out of order.  (The
   dense form of session 18 stays as the seed preact16_dense_u8.nnb.) */
static void test_preact16_program(void) {
    static const nn_quant_scheme schemes[2] = {NN_QUANT_S8_SYM, NN_QUANT_U8_ASYM};
    static const struct { const char *name; double lo, hi; } th[] = {
        {"x", -2.0, 2.0}, {"h", -6.0, 8.0}, {"a", -0.375, 8.0}, {"c", -5.0, 6.0}};
    nn_graph *g = NULL;
    nn_diag d;
    nn_tensor_id x, w1, h, a, w2, c, y;
    nn_node_id n;
    nn_attr at;
    int64_t xd[4] = {1, 3, 8, 8}, w1d[4] = {4, 3, 3, 3}, hd[4] = {1, 4, 8, 8}, w2d[4] = {4, 4, 1, 1}, pads[4] = {1, 1, 1, 1};
    float w1v[108], w2v[16], xv[192];
    int i, si, k;
    memset(&d, 0, sizeof d);
    for (i = 0; i < 108; i++) w1v[i] = (float)((i * 37 % 19) - 9) / 12.0f;
    for (i = 0; i < 16; i++) w2v[i] = (float)((i * 11 % 7) - 3) / 4.0f;
    if (nn_graph_create(NULL, &g, &d)) { CHECK(0); return; }
    nn_graph_set_opset(g, "", 14, &d);
#define T(name, var, dims, rank) { nn_shape s_ = nn_shape_make(rank, dims); nn_graph_add_tensor(g, name, NN_DTYPE_FLOAT, &s_, &var, &d); }
    T("x", x, xd, 4) T("w1", w1, w1d, 4) T("h", h, hd, 4) T("a", a, hd, 4) T("w2", w2, w2d, 4) T("c", c, hd, 4) T("y", y, hd, 4)
#undef T
    nn_graph_set_data(g, w1, w1v, sizeof w1v, 1, &d);
    nn_graph_set_data(g, w2, w2v, sizeof w2v, 1, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    {
        nn_tensor_id i1[2] = {x, w1}, i2[2] = {a, w2};
        nn_graph_add_node(g, "Conv", "", "conv1", i1, 2, &h, 1, &n, &d);
        memset(&at, 0, sizeof at);
        at.name = "pads"; at.type = NN_ATTR_INTS; at.ints = pads; at.count = 4;
        nn_graph_add_attr(g, n, &at, 0, &d);
        nn_graph_add_node(g, "HardSwish", "", "hswish", &h, 1, &a, 1, &n, &d);
        nn_graph_add_node(g, "Conv", "", "conv2", i2, 2, &c, 1, &n, &d);
        nn_graph_add_node(g, "Sigmoid", "", "sigmoid", &c, 1, &y, 1, &n, &d);
    }
    CHECK_EQ_INT(d.status, NN_OK);
    for (si = 0; si < 8; si++) {
        nn_quant_range *r = (nn_quant_range *)calloc(g->tensor_count, sizeof *r);
        nn_graph *q = NULL;
        nn_target_program *p = NULL, *p2 = NULL;
        nn_quant_desc qd;
        nn_target_compile_desc cd;
        membuf m;
        uint32_t conv_w = 0, lut_n = 0, cpu_conv = 0, lut_at = UINT32_MAX, conv_act = 0, act_at = UINT32_MAX, wide_at = UINT32_MAX;
        uint32_t conv_8 = 0, lut8_n = 0, conv_act8 = 0, act8_at = UINT32_MAX;
        int pre = si < 4, keep = si % 4 < 2, sch = si % 2;
        static uint32_t kept_slots[2][2];
        memset(&qd, 0, sizeof qd);
        memset(&cd, 0, sizeof cd);
        cd.keep_act = (uint32_t)keep;
        memset(&m, 0, sizeof m);
        memset(&d, 0, sizeof d); /* the previous scheme's load_patched left its refusal here */
        qd.scheme = schemes[sch];
        qd.preact16 = pre;
        for (i = 0; r && i < (int)(sizeof th / sizeof th[0]); i++) {
            nn_tensor_id t = nn_graph_find_tensor(g, th[i].name);
            r[t.id].valid = 1;
            r[t.id].threshold = fmax(-th[i].lo, th[i].hi);
            r[t.id].min = th[i].lo;
            r[t.id].max = th[i].hi;
        }
        CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, NULL, &d), NN_OK);
        free(r);
        if (q) CHECK_STATUS(nn_graph_infer_shapes(q, NULL, 0, &d), NN_OK);
        if (q) CHECK_STATUS(nn_target_compile(q, NULL, &cd, &p, &d), NN_OK);
        if (!p) { nn_graph_destroy(q); break; }
        for (i = 0; i < (int)p->instr_count; i++) {
            const nn_target_instr *I = &p->instrs[i];
            const nn_target_slot *sa = I->in_count ? &p->slots[p->operands[I->first_operand]] : NULL;
            const nn_target_slot *sy = &p->slots[p->operands[I->first_operand + I->in_count]];
            int a8 = sa && (sa->dtype == NN_DTYPE_INT8 || sa->dtype == NN_DTYPE_UINT8);
            if (I->op == NN_TARGET_OP_CONV && a8 && sy->dtype == NN_DTYPE_INT16) {
                conv_w++;
                wide_at = (uint32_t)i;
            }
            if (I->op == NN_TARGET_OP_CONV && a8 && (I->flags & NN_TARGET_INSTR_ACT) && sy->dtype == (sch ? NN_DTYPE_UINT8 : NN_DTYPE_INT8)) {
                conv_act++;
                act_at = (uint32_t)i;
                CHECK(I->p[22] > -32768 && I->p[22] < I->p[23] && I->p[23] <= 32767);
            }
            if (I->op == NN_TARGET_OP_CONV && a8 && !(I->flags & (NN_TARGET_INSTR_ACT | NN_TARGET_INSTR_ACT8)) && sy->dtype == (sch ? NN_DTYPE_UINT8 : NN_DTYPE_INT8))
                conv_8++;
            if (I->op == NN_TARGET_OP_CONV && a8 && (I->flags & NN_TARGET_INSTR_ACT8) && sy->dtype == (sch ? NN_DTYPE_UINT8 : NN_DTYPE_INT8)) {
                conv_act8++;
                act8_at = (uint32_t)i;
                CHECK(!(I->flags & NN_TARGET_INSTR_Y_U8));
                CHECK(I->p[22] > -128 && I->p[22] < I->p[23] && I->p[23] <= 127);
            }
            if (I->op == NN_TARGET_OP_LUT8) lut8_n++;
            if (I->op == NN_TARGET_OP_LUT16 && sa && sa->dtype == NN_DTYPE_INT16 && sy->dtype == (sch ? NN_DTYPE_UINT8 : NN_DTYPE_INT8)) {
                lut_n++;
                lut_at = (uint32_t)i;
                CHECK(I->p[0] > -32768 && I->p[0] < I->p[1] && I->p[1] <= 32767);
            }
            if (I->op == NN_TARGET_OP_CPU && !strcmp(p->nodes[I->node].op_type, "Conv")) cpu_conv++;
        }
        CHECK_EQ_INT(conv_w, pre ? (keep ? 2 : 1) : 0);
        CHECK_EQ_INT(lut_n, pre && keep ? 1 : 0);
        CHECK_EQ_INT(conv_act, pre && !keep ? 1 : 0);
        CHECK_EQ_INT(conv_8, pre ? 0 : keep ? 2 : 1);
        CHECK_EQ_INT(lut8_n, !pre && keep ? 1 : 0);
        CHECK_EQ_INT(conv_act8, !pre && !keep ? 1 : 0);
        CHECK_EQ_INT(cpu_conv, 0);
        if (keep) kept_slots[pre][sch] = p->slot_count;
        else CHECK_EQ_INT(p->slot_count + 1, kept_slots[pre][sch]);
        CHECK_STATUS(nn_target_save(p, membuf_write, &m, &d), NN_OK);
        CHECK_STATUS(nn_target_load_memory(m.p, m.n, NULL, &p2, &d), NN_OK);
        for (k = 0; k < 3 && p2; k++) {
            nn_value in;
            for (i = 0; i < 192; i++) xv[i] = (float)sin(i * 0.29 + k) * (k == 0 ? 0.3f : k == 1 ? 1.5f : 9.0f);
            in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xv);
            in.bytes = sizeof xv;
            CHECK_EQ_INT(sim_vs_qexec(q, p, &in), 256);
            CHECK_EQ_INT(sim_vs_qexec(q, p2, &in), 256);
        }
        if (si == 1 && m.p) corpus_write("preact16_u8.nnb", (const uint8_t *)m.p, m.n);
        if (si == 3 && m.p) corpus_write("preact16_act_u8.nnb", (const uint8_t *)m.p, m.n);
        if (si == 7 && m.p) corpus_write("act8_u8.nnb", (const uint8_t *)m.p, m.n);
        if (act8_at != UINT32_MAX && m.p) { /* the fused 8-bit conv: table, p[22], both flags */
            size_t rec = 128 + (size_t)p->slot_count * 96 + (size_t)act8_at * 168;
            uint64_t wl = p->image_bytes - (uint64_t)(p->weights - p->image);
            CHECK_STATUS(load_patched(p->image, p->image_bytes, rec + 152, (uint32_t)(wl - 1), &d), NN_ERR_INVALID);
            CHECK(strstr(d.where, ".table") != NULL);
            CHECK_STATUS(load_patched(p->image, p->image_bytes, rec + 32 + 22 * 4, (uint32_t)-129, &d), NN_ERR_INVALID);
            CHECK(strstr(d.where, ".p") != NULL);
            CHECK_STATUS(load_patched(p->image, p->image_bytes, rec + 4, p->instrs[act8_at].flags | NN_TARGET_INSTR_ACT, &d),
                         NN_ERR_INVALID);
            CHECK(strstr(d.where, ".flags") != NULL);
        }
        if (act_at != UINT32_MAX && wide_at != UINT32_MAX && m.p) { /* the fused conv: table, p[22] .. p[23]; the flag on the int16 conv */
            size_t rec = 128 + (size_t)p->slot_count * 96 + (size_t)act_at * 168;
            size_t rec2 = 128 + (size_t)p->slot_count * 96 + (size_t)wide_at * 168;
            uint64_t wl = p->image_bytes - (uint64_t)(p->weights - p->image);
            CHECK_STATUS(load_patched(p->image, p->image_bytes, rec + 152, (uint32_t)(wl - 1), &d), NN_ERR_INVALID);
            CHECK(strstr(d.where, ".table") != NULL);
            CHECK_STATUS(load_patched(p->image, p->image_bytes, rec + 32 + 22 * 4, (uint32_t)(p->instrs[act_at].p[23] + 1), &d),
                         NN_ERR_INVALID);
            CHECK(strstr(d.where, ".p") != NULL);
            CHECK_STATUS(load_patched(p->image, p->image_bytes, rec2 + 4, p->instrs[wide_at].flags | NN_TARGET_INSTR_ACT, &d),
                         NN_ERR_INVALID);
            CHECK(strstr(d.where, ".flags") != NULL);
        }
        if (pre) { /* the int16 -> 8-bit table as runs: R, R starts, R bytes */
            uint32_t ti = keep ? lut_at : act_at;
            int32_t lo16 = ti == UINT32_MAX ? 0 : keep ? p->instrs[ti].p[0] : p->instrs[ti].p[22];
            CHECK(ti != UINT32_MAX && (p->instrs[ti].flags & NN_TARGET_INSTR_RUNS));
            if (ti != UINT32_MAX && (p->instrs[ti].flags & NN_TARGET_INSTR_RUNS) && m.p) {
                const uint8_t *t = p->weights + p->instrs[ti].table;
                uint32_t R = (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
                size_t toff = (size_t)(p->weights - p->image) + (size_t)p->instrs[ti].table;
                uint32_t s0 = (uint32_t)t[4] | (uint32_t)t[5] << 8;
                CHECK(R > 1 && R < 512);
                CHECK_EQ_INT((int16_t)s0, lo16);
                CHECK_STATUS(load_patched(p->image, p->image_bytes, toff, 0, &d), NN_ERR_INVALID);
                CHECK(strstr(d.where, ".table") != NULL);
                CHECK_STATUS(load_patched(p->image, p->image_bytes, toff + 4, (s0 + 1) | (s0 + 2) << 16, &d), NN_ERR_INVALID);
                CHECK(strstr(d.where, ".table") != NULL);
                CHECK_STATUS(load_patched(p->image, p->image_bytes, toff + 4, s0 | s0 << 16, &d), NN_ERR_INVALID);
                CHECK(strstr(d.where, ".table") != NULL);
            }
        }
        if (lut_at != UINT32_MAX && m.p) { /* the table offset moved to the weights' last byte; p[0] > p[1] */
            size_t rec = 128 + (size_t)p->slot_count * 96 + (size_t)lut_at * 168;
            uint64_t wl = p->image_bytes - (uint64_t)(p->weights - p->image);
            /* the record's table field (offset 152, docs/FORMAT.md) */
            CHECK_STATUS(load_patched(p->image, p->image_bytes, rec + 152, (uint32_t)(wl - 1), &d), NN_ERR_INVALID);
            CHECK(strstr(d.where, ".table") != NULL);
            CHECK_STATUS(load_patched(p->image, p->image_bytes, rec + 32, (uint32_t)(p->instrs[lut_at].p[1] + 1), &d), NN_ERR_INVALID);
            CHECK(strstr(d.where, ".p") != NULL);
        }
        nn_target_program_destroy(p2);
        nn_target_program_destroy(p);
        free(m.p);
        nn_graph_destroy(q);
    }
    nn_graph_destroy(g);
}

/* 4-bit weight groups (weight_bits 4, weight_group 2, the graph at opset
   21): the Gemm's (5, 4) weights become a blocked int4 DequantizeLinear
   (the convs, whose 3 input channels do not split in 2, stay per channel).
   The compiler keeps those weights packed: an int4 slot of 10 bytes for
   the 20 values (and one of 5 bytes for the (5, 2) zero points) in the
   weights region, dequantized at run time, not folded to 80 bytes of
   float32.  The simulator equals nn_qexec byte for byte, also
   after a save/load round trip.  The loader refuses that slot moved to
   the arena and a byte count other than ceil(20 / 2). */
static void test_int4_weights(void) {
    nn_graph *g = qnet_float(), *q = NULL;
    nn_target_program *p = NULL, *p2 = NULL;
    nn_quant_desc qd;
    nn_diag d;
    float xv[192];
    int64_t xd[4] = {1, 3, 8, 8};
    nn_value in;
    uint32_t i, s4 = NN_TARGET_NO_SLOT, n4 = 0;
    memset(&d, 0, sizeof d);
    memset(&qd, 0, sizeof qd);
    if (!g) { CHECK(g != NULL); return; }
    CHECK_STATUS(nn_graph_set_opset(g, "", 21, &d), NN_OK);
    qd.weight_bits = 4;
    qd.weight_group = 2;
    q = qnet_qdq_desc(g, &qd);
    if (!q) { nn_graph_destroy(g); return; }
    CHECK_STATUS(nn_target_compile(q, NULL, NULL, &p, &d), NN_OK);
    if (d.status) fprintf(stderr, "     %s: %s\n", d.where, d.message);
    for (i = 0; p && i < p->slot_count; i++)
        if (p->slots[i].dtype == NN_DTYPE_INT4) {
            n4++;
            if (nn_shape_count(&p->slots[i].shape, NULL) == 20) s4 = i;
            else CHECK_EQ_INT(p->slots[i].bytes, 5); /* the zero points */
        }
    CHECK_EQ_INT(n4, 2);
    if (p && s4 != NN_TARGET_NO_SLOT) {
        membuf m;
        size_t rec = 128 + (size_t)s4 * 96;
        CHECK_EQ_INT(p->slots[s4].region, NN_TARGET_REGION_WEIGHTS);
        CHECK_EQ_INT(p->slots[s4].bytes, 10);
        for (i = 0; i < 192; i++) xv[i] = (float)sin(i * 0.29) * 1.7f;
        in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xv);
        in.bytes = sizeof xv;
        CHECK_EQ_INT(sim_vs_qexec(q, p, &in), 5);
        memset(&m, 0, sizeof m);
        CHECK_STATUS(nn_target_save(p, membuf_write, &m, &d), NN_OK);
        corpus_write("int4.nnb", (const uint8_t *)m.p, m.n);
        CHECK_STATUS(nn_target_load_memory(m.p, m.n, NULL, &p2, &d), NN_OK);
        if (p2) CHECK_EQ_INT(sim_vs_qexec(q, p2, &in), 5);
        CHECK_STATUS(load_patched((const uint8_t *)m.p, m.n, rec + 8, NN_TARGET_REGION_ARENA, &d), NN_ERR_INVALID);
        CHECK(strncmp(d.where, "slot[", 5) == 0 && strstr(d.message, "weights region") != NULL);
        CHECK_STATUS(load_patched((const uint8_t *)m.p, m.n, rec + 24, 20, &d), NN_ERR_INVALID);
        CHECK(strstr(d.where, "].bytes") != NULL);
        free(m.p);
    }
    nn_target_program_destroy(p2);
    nn_target_program_destroy(p);
    nn_graph_destroy(q);
    nn_graph_destroy(g);
}

/* PP-OCR cls (ppocr mobile v2.0, 1x3x48x192): fold,identity,bn,dce, MinMax
   ranges from 4 calibration samples, nn_quant_graph (s8 symmetric), then
   compiled for npu-small; the simulator must equal nn_qexec byte for byte
   on 6 samples (4 of them not seen in calibration).  Skipped with a note
   when the model or data is not cached. */
static void test_compile_cls(void) {
    static const char *const files[] = {"line00_0.npy", "line00_180.npy", "line02_0.npy", "line02_180.npy",
                                        "line04_0.npy", "line04_180.npy"};
    const char *home = getenv("HOME"), *cache = getenv("NNPORT_CACHE");
    char path[1024], dpath[1024];
    nn_graph *g = NULL, *q = NULL;
    nn_calib_collector *col = NULL;
    nn_exec *x = NULL;
    nn_quant_range *r = NULL;
    nn_target_program *p = NULL;
    nn_value samples[6];
    nn_diag d;
    nn_calib_desc cd;
    nn_exec_desc xd;
    long total = 0;
    int k, have = 0;
    FILE *f;
    memset(&d, 0, sizeof d);
    memset(samples, 0, sizeof samples);
    snprintf(path, sizeof path, "%s/npm/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx", cache ? cache : "");
    if (!cache) snprintf(path, sizeof path, "%s/.cache/nnport/npm/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx", home ? home : "");
    f = fopen(path, "rb");
    if (!f) { printf("skip: %s not cached\n", path); return; }
    fclose(f);
    for (k = 0; k < 6; k++) {
        snprintf(dpath, sizeof dpath, "%s/.cache/nnport/data/ocr_cls/calib/%s", home ? home : "", files[k]);
        if (nn_verify_load_npy_file(dpath, &samples[k], NULL, &d) != NN_OK) break;
        have++;
    }
    if (have < 6) { printf("skip: ocr_cls calibration data not cached\n"); goto done; }
    CHECK_STATUS(nn_onnx_load_file(path, NULL, &g, &d), NN_OK);
    if (!g) goto done;
    CHECK_STATUS(nn_graph_run_passes(g, "fold,identity,bn,dce", NULL, NULL, &d), NN_OK);
    CHECK_STATUS(nn_graph_infer_shapes(g, NULL, 0, &d), NN_OK);
    CHECK_STATUS(nn_calib_collector_create(g, NULL, &col, &d), NN_OK);
    memset(&xd, 0, sizeof xd);
    xd.observer = nn_calib_collector_exec_observer;
    xd.observer_user = col;
    CHECK_STATUS(nn_exec_create(g, &xd, &x, &d), NN_OK);
    for (k = 0; x && col && k < 4; k++) {
        CHECK_STATUS(nn_exec_set_input(x, 0, &samples[k], &d), NN_OK);
        CHECK_STATUS(nn_calib_collector_observe(col, g->inputs[0], &samples[k], &d), NN_OK);
        CHECK_STATUS(nn_exec_run(x, &d), NN_OK);
    }
    r = (nn_quant_range *)calloc(g->tensor_count, sizeof *r);
    memset(&cd, 0, sizeof cd);
    cd.method = NN_CALIB_MINMAX;
    CHECK_STATUS(nn_quant_ranges_from_collector(g, col, &cd, r, &d), NN_OK);
    CHECK_STATUS(nn_quant_graph(g, r, NULL, &q, NULL, &d), NN_OK);
    if (!q) goto done;
    {
        nn_target_compile_desc tcd;
        nn_input_shape is;
        memset(&tcd, 0, sizeof tcd);
        is.name = q->tensors[q->inputs[0].id].name;
        is.shape = samples[0].shape;
        tcd.input_shapes = &is;
        tcd.input_shape_count = 1;
        CHECK_STATUS(nn_target_compile(q, NULL, &tcd, &p, &d), NN_OK);
        if (d.status) fprintf(stderr, "     %s: %s\n", d.where, d.message);
    }
    if (!p) goto done;
    CHECK(p->int_instrs >= 100); /* convs, adds, muls, pools and LUTs on integer kernels */
    for (k = 0; k < 6; k++) {
        long n = sim_vs_qexec(q, p, &samples[k]);
        CHECK_EQ_INT(n, 2);
        if (n > 0) total += n;
    }
    printf("ppocr cls: %u instructions (%u integer, %u cpu), file %zu bytes, weights %llu, arena %llu; "
           "simulator == nn_qexec on 6 inputs (%ld output elements)\n",
           p->instr_count, p->int_instrs, p->cpu_instrs, p->image_bytes, (unsigned long long)p->weight_bytes,
           (unsigned long long)p->arena_bytes, total);
done:
    nn_target_program_destroy(p);
    for (k = 0; k < 6; k++) nn_verify_value_free(&samples[k], NULL);
    free(r);
    if (x) nn_exec_destroy(x);
    if (col) nn_calib_collector_destroy(col);
    nn_graph_destroy(q);
    nn_graph_destroy(g);
}

/* The failing allocator on compile and load: each allocation in turn
   fails; the call returns NN_ERR_NOMEM and nothing stays allocated. */
static void test_program_alloc_failures(void) {
    nn_graph *g = qnet_float(), *q = g ? qnet_qdq(g, NN_QUANT_S8_SYM) : NULL;
    nn_target_program *p0 = NULL;
    nn_allocator al;
    nn_diag d;
    long k, bad_status = 0, leaks = 0, calls = 0;
    memset(&d, 0, sizeof d);
    if (!q) { CHECK(q != NULL); nn_graph_destroy(g); return; }
    al.alloc = count_alloc;
    al.free = count_free;
    al.user = NULL;
    CHECK_STATUS(nn_target_compile(q, NULL, NULL, &p0, &d), NN_OK);
    for (k = -1;; k++) {
        nn_target_compile_desc cd;
        nn_target_program *p = NULL;
        nn_status st;
        memset(&cd, 0, sizeof cd);
        cd.alloc = al;
        alloc_calls = 0;
        alloc_fail_at = k;
        alloc_live = 0;
        memset(&d, 0, sizeof d);
        st = nn_target_compile(q, NULL, &cd, &p, &d);
        if (k == -1) calls = alloc_calls;
        if (st == NN_OK) nn_target_program_destroy(p);
        else if (st != NN_ERR_NOMEM) { bad_status++; fprintf(stderr, "     alloc %ld: %s: %s: %s\n", k, nn_status_name(st), d.where, d.message); }
        if (alloc_live != 0) leaks++;
        if (st == NN_OK && k >= 0) break;
        if (k > 100000) break;
    }
    CHECK(calls > 10);
    CHECK_EQ_INT(bad_status, 0);
    CHECK_EQ_INT(leaks, 0);
    bad_status = leaks = 0;
    for (k = -1; p0; k++) {
        nn_target_load_desc ld;
        nn_target_program *p = NULL;
        nn_status st;
        memset(&ld, 0, sizeof ld);
        ld.alloc = al;
        ld.copy = 1;
        alloc_calls = 0;
        alloc_fail_at = k;
        alloc_live = 0;
        memset(&d, 0, sizeof d);
        st = nn_target_load_memory(p0->image, p0->image_bytes, &ld, &p, &d);
        if (st == NN_OK) nn_target_program_destroy(p);
        else if (st != NN_ERR_NOMEM) bad_status++;
        if (alloc_live != 0) leaks++;
        if (st == NN_OK && k >= 0) break;
    }
    CHECK_EQ_INT(bad_status, 0);
    CHECK_EQ_INT(leaks, 0);
    alloc_fail_at = -1;
    nn_target_program_destroy(p0);
    nn_graph_destroy(q);
    nn_graph_destroy(g);
}

/* Multi-batch: the test network compiled for batch sizes 1, 2 and 4 in one
   file.  The golden side is the batch-1 program, itself bit-exact with
   nn_qexec (checked again here): batches 3 (2 + 1) and 9 (4 + 4 + 1) must
   give every sample's output byte for byte; the file must be smaller than
   the three single-batch builds together, with one weights region; the
   loader refuses programs whose batch dims disagree, naming the program. */
static void test_batch_programs(void) {
    nn_graph *g = qnet_float(), *q = g ? qnet_qdq(g, NN_QUANT_S8_SYM) : NULL;
    nn_target_program *p = NULL, *s = NULL;
    nn_target_compile_desc cd;
    nn_diag d;
    uint32_t bs[2] = {4, 2}, k;
    size_t sum = 0, mb, i;
    float *xv = (float *)malloc(9 * 192 * sizeof(float));
    uint8_t y9[9 * 5 * 4], y3[3 * 5 * 4], y1[9][5 * 4];
    int64_t xd[4] = {9, 3, 8, 8};
    char *raw = NULL, *mem;
    memset(&d, 0, sizeof d);
    memset(&cd, 0, sizeof cd);
    if (!q || !xv) { CHECK(q != NULL); free(xv); nn_graph_destroy(q); nn_graph_destroy(g); return; }
    cd.batch_sizes = bs;
    cd.batch_size_count = 2;
    CHECK_STATUS(nn_target_compile(q, NULL, &cd, &p, &d), NN_OK);
    if (!p) { free(xv); nn_graph_destroy(q); nn_graph_destroy(g); return; }
    CHECK_EQ_INT(p->program_count, 3);
    CHECK_EQ_INT(p->batch, 1);
    CHECK(p->next && p->next->batch == 2 && p->next->next && p->next->next->batch == 4 && !p->next->next->next);
    CHECK_EQ_INT(p->batch_cost_count, 3);
    for (k = 0; k < 3; k++) { /* each size alone, for the size comparison */
        nn_input_shape sh;
        int64_t dims[4] = {1, 3, 8, 8};
        nn_target_compile_desc c1;
        dims[0] = k == 0 ? 1 : k == 1 ? 2 : 4;
        sh.name = "x";
        sh.shape = nn_shape_make(4, dims);
        memset(&c1, 0, sizeof c1);
        c1.input_shapes = &sh;
        c1.input_shape_count = 1;
        CHECK_STATUS(nn_target_compile(q, NULL, &c1, &s, &d), NN_OK);
        if (!s) break;
        sum += s->image_bytes;
        if (k == 0) CHECK_EQ_INT(p->weight_bytes, s->weight_bytes); /* the weights once */
        nn_target_program_destroy(s);
        s = NULL;
    }
    fprintf(stderr, "     batch 1,2,4 file %zu bytes; three single builds %zu bytes; weights %llu bytes\n", p->image_bytes, sum,
            (unsigned long long)p->weight_bytes);
    CHECK(p->image_bytes < sum);
    CHECK(p->next && p->next->weights == p->weights && p->next->image == p->image);
    for (i = 0; i < 9 * 192; i++) xv[i] = (float)sin(i * 0.37 + 0.1 * (double)(i / 192)) * 1.9f;
    mb = nn_target_batch_scratch_bytes(p);
    CHECK(mb >= nn_target_sim_scratch_bytes(p));
    raw = (char *)malloc(mb + 64);
    mem = raw + (64 - (uintptr_t)raw % 64) % 64;
    for (k = 0; k < 9; k++) { /* batch 1, one sample at a time */
        int64_t d1[4] = {1, 3, 8, 8};
        nn_value in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, d1), xv + 192 * k), out[1];
        in.bytes = 192 * sizeof(float);
        if (k == 0) CHECK_EQ_INT(sim_vs_qexec(q, p, &in), 5);
        CHECK_STATUS(nn_target_sim_run(p, mem, mb, &in, out, &d), NN_OK);
        CHECK_EQ_INT(out[0].bytes, sizeof y1[k]);
        if (out[0].bytes == sizeof y1[k]) memcpy(y1[k], out[0].data, sizeof y1[k]);
    }
    {
        nn_value in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xv), out[1];
        int same = 1;
        in.bytes = 9 * 192 * sizeof(float);
        memset(out, 0, sizeof out);
        out[0].data = y9;
        out[0].bytes = sizeof y9;
        CHECK_STATUS(nn_target_sim_run_batch(p, mem, mb, 9, &in, out, &d), NN_OK);
        CHECK(out[0].shape.rank == 2 && out[0].shape.dims[0] == 9 && out[0].shape.dims[1] == 5 && out[0].bytes == sizeof y9);
        for (k = 0; k < 9; k++) same &= memcmp(y9 + k * 20, y1[k], 20) == 0;
        CHECK(same); /* 9 = 4 + 4 + 1 */
        in.shape.dims[0] = 3;
        in.bytes = 3 * 192 * sizeof(float);
        out[0].data = y3;
        out[0].bytes = sizeof y3;
        CHECK_STATUS(nn_target_sim_run_batch(p, mem, mb, 3, &in, out, &d), NN_OK);
        for (k = 0, same = 1; k < 3; k++) same &= memcmp(y3 + k * 20, y1[k], 20) == 0;
        CHECK(same); /* 3 = 2 + 1 */
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_target_sim_run_batch(p, mem, mb, 4, &in, out, &d), NN_ERR_ARG); /* first dim 3, not 4 */
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_target_sim_run_batch(p, mem, 64, 3, &in, out, &d), NN_ERR_ARG);
        out[0].bytes = 10;
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_target_sim_run_batch(p, mem, mb, 3, &in, out, &d), NN_ERR_ARG); /* output memory too small */
    }
    { /* the loader on the multi-program layout */
        size_t n = p->image_bytes, bad = 0;
        uint8_t *img = (uint8_t *)malloc(n);
        memcpy(img, p->image, n);
        corpus_write("batch.nnb", img, n);
        CHECK(p->next && p->next->image_record > p->image_tables);
        if (p->next) {
            CHECK_STATUS(load_patched(img, n, (size_t)p->next->image_record + 8, 3, &d), NN_ERR_INVALID); /* batch 3, dims say 2 */
            CHECK(strncmp(d.where, "program[1].", 11) == 0);
            CHECK_STATUS(load_patched(img, n, (size_t)p->next->next->image_record + 8, 2, &d), NN_ERR_INVALID); /* 2 after 2 */
            CHECK(strcmp(d.where, "program[2].batch") == 0);
            CHECK_STATUS(load_patched(img, n, (size_t)p->next->image_record, 8, &d), NN_ERR_INVALID); /* tables inside the header */
            CHECK(strcmp(d.where, "program[1].tables_offset") == 0);
            CHECK_STATUS(load_patched(img, n, (size_t)p->next->next->image_record + 32, 0x7fffffffu, &d), NN_ERR_LIMIT);
            CHECK(strcmp(d.where, "program[2].header.slot_count") == 0);
        }
        CHECK_STATUS(load_patched(img, n, 120, 2, &d), NN_ERR_INVALID); /* program 0 must be batch 1 */
        CHECK(strcmp(d.where, "program[0].batch") == 0);
        CHECK_STATUS(load_patched(img, n, 116, 17, &d), NN_ERR_LIMIT);
        CHECK(strcmp(d.where, "header.program_count") == 0);
        CHECK_STATUS(load_patched(img, n, 116, 2, &d), NN_OK); /* fewer programs: the first two */
        for (i = 0; i < n; i += 7) {
            nn_target_program *t = NULL;
            memset(&d, 0, sizeof d);
            if (nn_target_load_memory(img, i, NULL, &t, &d) == NN_OK || t) bad++;
        }
        CHECK_EQ_INT(bad, 0);
        free(img);
    }
    { /* --max-batch: 1 always kept; a larger size only when its cycles per sample are 1% lower */
        nn_target_program *m = NULL;
        nn_target_compile_desc c2;
        memset(&c2, 0, sizeof c2);
        c2.max_batch = 4;
        CHECK_STATUS(nn_target_compile(q, NULL, &c2, &m, &d), NN_OK);
        if (m) {
            const nn_target_program *t = m;
            uint64_t best_c = m->batch_costs[0].cycles, best_b = 1;
            CHECK_EQ_INT(m->batch_cost_count, 3); /* 1, 2, 4 */
            CHECK(m->batch_costs[0].kept && m->batch == 1);
            for (k = 1; k < m->batch_cost_count; k++) {
                const nn_target_batch_cost *c = &m->batch_costs[k];
                int better = c->cycles * best_b * 100 < best_c * c->batch * 99; /* 1% or more per sample */
                CHECK_EQ_INT(c->kept, better);
                if (better) {
                    best_c = c->cycles; best_b = c->batch;
                    t = t->next;
                    CHECK(t && t->batch == c->batch);
                    if (!t) break;
                }
            }
            fprintf(stderr, "     --max-batch 4: cycles per sample %llu (b1) %llu (b2) %llu (b4); %u programs kept\n",
                    (unsigned long long)m->batch_costs[0].cycles, (unsigned long long)(m->batch_costs[1].cycles / 2),
                    (unsigned long long)(m->batch_costs[2].cycles / 4), m->program_count);
        }
        nn_target_program_destroy(m);
    }
    { /* both options at once: refused */
        nn_target_program *m = NULL;
        cd.max_batch = 8;
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_target_compile(q, NULL, &cd, &m, &d), NN_ERR_ARG);
    }
    free(raw);
    free(xv);
    nn_target_program_destroy(p);
    nn_graph_destroy(q);
    nn_graph_destroy(g);
}

/* BT.601 YUV -> RGB.  Hand-computed pixels (coefficients in
   nn_target_yuv_pixel's comment):
   full range (Y,U,V) = (100,150,200): R = 100 + 1.402*72 = 200.944 -> 201,
     G = 100 - 0.344136*22 - 0.714136*72 = 41.011 -> 41, B = 100 + 1.772*22 = 138.984 -> 139;
   limited (16,128,128) -> 0,0,0; (235,128,128): 1.164383*219 = 255 -> 255,255,255;
   limited (81,90,240) (BT.601 red): R = 1.164383*65 + 1.596027*112 = 254.44 -> 254,
     G = 75.685 + 0.391762*38 - 0.812968*112 = -0.48 -> 0, B = 75.685 - 2.017232*38 = -0.97 -> 0;
   limited (145,54,34) (green): R = 0.18 -> 0, G = 255.61 -> 255, B = 0.93 -> 1;
   a tie: full (156,78,178): G = 156 + 0.344136*50 - 0.714136*50 = 137.5
   exactly -> 138 (half up; 16.16 fixed-point coefficients gave 137).
   Then every (Y,U,V) on a grid against the float formulas: within 0.5
   (the arithmetic is exact, so only the final rounding differs). */
static void yuv_float(int y, int u, int v, int limited, double out[3]) {
    double cy = limited ? 255.0 / 219.0 : 1.0, cc = limited ? 255.0 / 224.0 : 1.0, yy = cy * (y - (limited ? 16 : 0));
    double r = yy + cc * 1.402 * (v - 128), g = yy - cc * 0.344136 * (u - 128) - cc * 0.714136 * (v - 128), b = yy + cc * 1.772 * (u - 128);
    out[0] = r < 0 ? 0 : r > 255 ? 255 : r;
    out[1] = g < 0 ? 0 : g > 255 ? 255 : g;
    out[2] = b < 0 ? 0 : b > 255 ? 255 : b;
}

static void test_yuv_pixels(void) {
    uint8_t c[3];
    int y, u, v, lim, worse = 0;
    double worst = 0;
    nn_target_yuv_pixel(100, 150, 200, 0, c);
    CHECK(c[0] == 201 && c[1] == 41 && c[2] == 139);
    nn_target_yuv_pixel(16, 128, 128, 1, c);
    CHECK(c[0] == 0 && c[1] == 0 && c[2] == 0);
    nn_target_yuv_pixel(235, 128, 128, 1, c);
    CHECK(c[0] == 255 && c[1] == 255 && c[2] == 255);
    nn_target_yuv_pixel(81, 90, 240, 1, c);
    CHECK(c[0] == 254 && c[1] == 0 && c[2] == 0);
    nn_target_yuv_pixel(145, 54, 34, 1, c);
    CHECK(c[0] == 0 && c[1] == 255 && c[2] == 1);
    nn_target_yuv_pixel(128, 128, 128, 0, c);
    CHECK(c[0] == 128 && c[1] == 128 && c[2] == 128);
    nn_target_yuv_pixel(156, 78, 178, 0, c);
    CHECK(c[1] == 138);
    for (lim = 0; lim < 2; lim++)
        for (y = 0; y < 256; y += 3)
            for (u = 0; u < 256; u += 5)
                for (v = 0; v < 256; v += 7) {
                    double f[3];
                    int k;
                    nn_target_yuv_pixel(y, u, v, lim, c);
                    yuv_float(y, u, v, lim, f);
                    for (k = 0; k < 3; k++) {
                        double e = fabs(c[k] - f[k]);
                        if (e > worst) worst = e;
                        if (e > 0.5 + 1e-9) worse++;
                    }
                }
    fprintf(stderr, "     yuv: largest |integer - float| %.4f\n", worst);
    CHECK_EQ_INT(worse, 0);
}

/* NV12/NV21 input: the test network compiled with the frame as its input
   must give, byte for byte, what the plain program gives on the float
   planes made from the same frame (nearest chroma, nn_target_yuv_pixel,
   then (pixel - mean) * scale): the conversion instruction quantizes
   through a table computed as QuantizeLinear computes.  With the s16
   scheme the input's QuantizeLinear is int16 and so is the table. */
static void nv12_program(nn_quant_scheme scheme) {
    nn_graph *g = qnet_float(), *q = g ? qnet_qdq(g, scheme) : NULL;
    nn_target_program *pr = NULL;
    nn_diag d;
    int variant;
    memset(&d, 0, sizeof d);
    if (!q) { CHECK(q != NULL); nn_graph_destroy(g); return; }
    CHECK_STATUS(nn_target_compile(q, NULL, NULL, &pr, &d), NN_OK);
    for (variant = 0; pr && variant < 2; variant++) { /* nv12 full rgb; nv21 limited bgr */
        nn_target_program *pn = NULL;
        nn_target_compile_desc cd;
        uint8_t frame[12 * 8];
        float xv[192];
        int64_t fd[3] = {1, 12, 8}, xd[4] = {1, 3, 8, 8};
        int i, j, k;
        memset(&cd, 0, sizeof cd);
        cd.input_format = variant ? NN_TARGET_INPUT_NV21 : NN_TARGET_INPUT_NV12;
        cd.input_limited = (uint32_t)variant;
        cd.input_bgr = (uint32_t)variant;
        for (k = 0; k < 3; k++) { cd.input_mean[k] = 120.0f + 5.0f * (float)k; cd.input_scale[k] = 1.0f / (60.0f + 4.0f * (float)k); }
        CHECK_STATUS(nn_target_compile(q, NULL, &cd, &pn, &d), NN_OK);
        if (d.status) fprintf(stderr, "     %s: %s\n", d.where, d.message);
        if (!pn) break;
        CHECK(pn->instrs[0].op == NN_TARGET_OP_YUV);
        CHECK(pn->slots[pn->inputs[0]].dtype == NN_DTYPE_UINT8 && pn->slots[pn->inputs[0]].shape.rank == 3);
        CHECK_EQ_INT(pn->slots[pn->operands[pn->instrs[0].first_operand + 1]].dtype,
                     scheme == NN_QUANT_S16_SYM ? NN_DTYPE_INT16 : NN_DTYPE_UINT8);
        for (i = 0; i < 96; i++) frame[i] = (uint8_t)((i * 97 + 31) % 256);
        for (i = 0; i < 8; i++)
            for (j = 0; j < 8; j++) {
                const uint8_t *uv = frame + 64 + (i / 2) * 8 + (j / 2) * 2;
                uint8_t rgb[3];
                nn_target_yuv_pixel(frame[i * 8 + j], uv[variant ? 1 : 0], uv[variant ? 0 : 1], variant, rgb);
                for (k = 0; k < 3; k++)
                    xv[k * 64 + i * 8 + j] = ((float)rgb[variant ? 2 - k : k] - cd.input_mean[k]) * cd.input_scale[k];
            }
        {
            nn_value fin = nn_value_make(NN_DTYPE_UINT8, nn_shape_make(3, fd), frame), xin = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xv);
            nn_value o1[1], o2[1];
            size_t m1 = nn_target_sim_scratch_bytes(pn), m2 = nn_target_sim_scratch_bytes(pr);
            char *r1 = (char *)malloc(m1 + 64), *r2 = (char *)malloc(m2 + 64);
            fin.bytes = sizeof frame;
            xin.bytes = sizeof xv;
            CHECK_STATUS(nn_target_sim_run(pn, r1 + (64 - (uintptr_t)r1 % 64) % 64, m1, &fin, o1, &d), NN_OK);
            CHECK_STATUS(nn_target_sim_run(pr, r2 + (64 - (uintptr_t)r2 % 64) % 64, m2, &xin, o2, &d), NN_OK);
            CHECK(d.status == NN_OK && o1[0].bytes == o2[0].bytes && memcmp(o1[0].data, o2[0].data, o1[0].bytes) == 0);
            if (variant == 0) corpus_write(scheme == NN_QUANT_S16_SYM ? "nv12_s16.nnb" : "nv12.nnb", pn->image, pn->image_bytes);
            { /* nn_target_yuv_decode gives the planes computed above, bit for bit, and
                 with them as the quantized model's inputs the check is bit-equal */
                float dec[192];
                nn_value pl = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(0, NULL), dec);
                nn_target_check_desc kd;
                nn_target_check_report rep;
                pl.bytes = sizeof dec;
                CHECK_STATUS(nn_target_yuv_decode(&cd, &fin, &pl, &d), NN_OK);
                CHECK(pl.shape.rank == 4 && pl.shape.dims[1] == 3 && pl.shape.dims[2] == 8 && memcmp(dec, xv, sizeof xv) == 0);
                memset(&kd, 0, sizeof kd);
                kd.model_inputs = &pl;
                CHECK_STATUS(nn_target_check(pn, q, &fin, 1, &kd, &rep, &d), NN_OK);
                CHECK(rep.pass && rep.mismatched == 0 && rep.row_count > 0);
                nn_target_check_report_deinit(&rep);
                /* the frame itself is no input for the float planes: named error */
                kd.model_inputs = NULL;
                memset(&d, 0, sizeof d);
                CHECK(nn_target_check(pn, q, &fin, 1, &kd, &rep, &d) != NN_OK && d.where[0]);
                nn_target_check_report_deinit(&rep);
                memset(&d, 0, sizeof d);
                pl.bytes = sizeof dec - 4; /* too small: refused, nothing written past it */
                CHECK_STATUS(nn_target_yuv_decode(&cd, &fin, &pl, &d), NN_ERR_ARG);
                memset(&d, 0, sizeof d);
            }
            free(r1);
            free(r2);
        }
        nn_target_program_destroy(pn);
    }
    { /* a graph whose input is read by more than the QuantizeLinear: refused */
        nn_target_program *pn = NULL;
        nn_target_compile_desc cd;
        memset(&cd, 0, sizeof cd);
        cd.input_format = NN_TARGET_INPUT_NV12;
        memset(&d, 0, sizeof d);
        CHECK_STATUS(nn_target_compile(g, NULL, &cd, &pn, &d), NN_ERR_UNSUPPORTED); /* the float graph: x read by Conv */
        nn_target_program_destroy(pn);
    }
    nn_target_program_destroy(pr);
    nn_graph_destroy(q);
    nn_graph_destroy(g);
}

static void test_nv12_program(void) {
    nv12_program(NN_QUANT_U8_ASYM);
    nv12_program(NN_QUANT_S16_SYM);
}

/* nn_target_yuv_encode on hand-computed pixels.  2x4 RGB image: a red
   2x2 block and a grey block (10, 20, 30, 40).  Full range (JFIF):
   red Y = 0.299 x 255 = 76.245 -> 76, U = 128 - 0.168736 x 255 = 84.97 -> 85,
   V = 128 + 0.5 x 255 = 255.5 -> 256 -> 255; grey: Y = the grey level,
   U = V = 128 (each chroma row sums to 0); block mean of the grey block is
   used for its chroma (still 128).  Limited range: red Y = 16 + 76.245 x
   219/255 = 81.48 -> 81, U = 128 - 43.028 x 224/255 = 90.20 -> 90,
   V = 128 + 127.5 x 224/255 = 240; grey 10 -> 16 + 8.59 = 24.59 -> 25,
   40 -> 16 + 34.35 = 50.35 -> 50.  The planes are in the model's units and
   order (BGR, mean and scale), so the encoder has to undo them. */
static void test_yuv_encode(void) {
    static const uint8_t rgb[2][4][3] = {{{255, 0, 0}, {255, 0, 0}, {10, 10, 10}, {20, 20, 20}},
                                         {{255, 0, 0}, {255, 0, 0}, {30, 30, 30}, {40, 40, 40}}};
    static const uint8_t want_full[12] = {76, 76, 10, 20, 76, 76, 30, 40, 85, 255, 128, 128};
    static const uint8_t want_lim_nv21[12] = {81, 81, 25, 33, 81, 81, 42, 50, 240, 90, 128, 128};
    float x[24];
    uint8_t f[12];
    int64_t xd[4] = {1, 3, 2, 4};
    nn_target_compile_desc cd;
    nn_diag d;
    int c, i, j;
    memset(&cd, 0, sizeof cd);
    memset(&d, 0, sizeof d);
    cd.input_format = NN_TARGET_INPUT_NV12;
    cd.input_bgr = 1;
    for (c = 0; c < 3; c++) { cd.input_mean[c] = 10.0f * (float)(c + 1); cd.input_scale[c] = 0.25f * (float)(c + 1); }
    for (c = 0; c < 3; c++) /* plane c holds B, G, R */
        for (i = 0; i < 2; i++)
            for (j = 0; j < 4; j++) x[(c * 2 + i) * 4 + j] = ((float)rgb[i][j][2 - c] - cd.input_mean[c]) * cd.input_scale[c];
    {
        nn_value xv = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), x), fv = nn_value_make(NN_DTYPE_UINT8, nn_shape_make(0, NULL), f);
        xv.bytes = sizeof x;
        fv.bytes = sizeof f;
        CHECK_STATUS(nn_target_yuv_encode(&cd, &xv, &fv, &d), NN_OK);
        CHECK(fv.shape.rank == 3 && fv.shape.dims[1] == 3 && fv.shape.dims[2] == 4 && memcmp(f, want_full, 12) == 0);
        cd.input_format = NN_TARGET_INPUT_NV21;
        cd.input_limited = 1;
        CHECK_STATUS(nn_target_yuv_encode(&cd, &xv, &fv, &d), NN_OK);
        CHECK(memcmp(f, want_lim_nv21, 12) == 0);
        for (i = 0; i < 12; i++)
            if (f[i] != want_lim_nv21[i]) fprintf(stderr, "     yuv encode limited: byte %d is %d, want %d\n", i, f[i], want_lim_nv21[i]);
        xd[3] = 3; /* odd width: refused */
        xv.shape = nn_shape_make(4, xd);
        CHECK_STATUS(nn_target_yuv_encode(&cd, &xv, &fv, &d), NN_ERR_ARG);
        cd.input_format = NN_TARGET_INPUT_TENSOR;
        xd[3] = 4;
        xv.shape = nn_shape_make(4, xd);
        CHECK_STATUS(nn_target_yuv_encode(&cd, &xv, &fv, &d), NN_ERR_ARG);
    }
}

int main(void) {
    test_presets();
    test_chain();
    test_diamond();
    test_reorder();
    test_concat();
    test_inplace_and_view();
    test_unknown_shape();
    test_qdq_bytes();
    test_tile_conv();
    test_alloc_failures();
    test_models_fit();
    test_patches();
    test_compile_small();
    test_int4_weights();
    test_nnb_robust();
    test_w8a16_program();
    test_preact16_program();
    test_compile_cls();
    test_program_alloc_failures();
    test_batch_programs();
    test_yuv_pixels();
    test_nv12_program();
    test_yuv_encode();
    return check_summary();
}
