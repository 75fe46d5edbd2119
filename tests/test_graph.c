/* test_graph.c - nn_graph.h core: IR building, topological order, refusal
   of what the executor does not handle, dtype conversions, executor memory
   behaviour, and clean failure when any single allocation fails. */
#include "nn_graph.h"
#include "check.h"
#include <stdlib.h>
#include <string.h>

/* ---- a counting, failure-injecting allocator ---- */
typedef struct { long live, total, fail_at; } counting;

static void *count_alloc(void *user, size_t bytes) {
    counting *c = (counting *)user;
    if (c->fail_at >= 0 && c->total == c->fail_at) { c->total++; return NULL; }
    c->total++;
    void *p = malloc(bytes);
    if (p) c->live++;
    return p;
}

static void count_free(void *user, void *p) {
    counting *c = (counting *)user;
    if (p) c->live--;
    free(p);
}

static nn_shape shape2(int64_t a, int64_t b) {
    int64_t d[2] = {a, b};
    return nn_shape_make(2, d);
}

/* y = Identity(Identity(x)), x float (2, 3). */
static nn_status build_chain(const nn_allocator *a, nn_graph **out, nn_diag *d) {
    nn_graph_desc gd;
    memset(&gd, 0, sizeof gd);
    if (a) gd.alloc = *a;
    nn_graph *g;
    nn_status st = nn_graph_create(&gd, &g, d);
    if (st) return st;
    nn_shape s = shape2(2, 3);
    nn_tensor_id x, m, y;
    if ((st = nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &s, &x, d)) ||
        (st = nn_graph_add_tensor(g, "m", NN_DTYPE_UNDEFINED, NULL, &m, d)) ||
        (st = nn_graph_add_tensor(g, "y", NN_DTYPE_UNDEFINED, NULL, &y, d)) ||
        (st = nn_graph_add_input(g, x, d)) || (st = nn_graph_add_output(g, y, d)) ||
        (st = nn_graph_add_node(g, "Identity", "", "second", &m, 1, &y, 1, NULL, d)) ||
        (st = nn_graph_add_node(g, "Identity", "", "first", &x, 1, &m, 1, NULL, d)) ||
        (st = nn_graph_set_opset(g, "", 17, d))) {
        nn_graph_destroy(g);
        return st;
    }
    *out = g;
    return NN_OK;
}

static void test_topo_order_sorts_out_of_order_nodes(void) {
    nn_graph *g;
    nn_diag d;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(build_chain(NULL, &g, &d), NN_OK);
    uint32_t order[2];
    CHECK_STATUS(nn_graph_topo_order(g, order, &d), NN_OK);
    /* node 1 ("first") feeds node 0 ("second") */
    CHECK_EQ_INT(order[0], 1);
    CHECK_EQ_INT(order[1], 0);
    nn_graph_destroy(g);
}

static void test_cycle_is_refused(void) {
    nn_graph *g;
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_graph_create(NULL, &g, &d);
    nn_tensor_id a, b, x;
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, NULL, &x, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_tensor(g, "a", NN_DTYPE_FLOAT, NULL, &a, &d);
    nn_graph_add_tensor(g, "b", NN_DTYPE_FLOAT, NULL, &b, &d);
    nn_graph_add_node(g, "Identity", "", "n1", &a, 1, &b, 1, NULL, &d);
    nn_graph_add_node(g, "Identity", "", "n2", &b, 1, &a, 1, NULL, &d);
    uint32_t order[2];
    CHECK_STATUS(nn_graph_topo_order(g, order, &d), NN_ERR_INVALID);
    CHECK(strcmp(d.where, "n1") == 0 || strcmp(d.where, "n2") == 0);
    nn_graph_destroy(g);
}

static void test_dangling_input_is_refused(void) {
    nn_graph *g;
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_graph_create(NULL, &g, &d);
    nn_tensor_id ghost, y;
    nn_graph_add_tensor(g, "ghost", NN_DTYPE_FLOAT, NULL, &ghost, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, NULL, &y, &d);
    nn_graph_add_output(g, y, &d);
    nn_graph_add_node(g, "Identity", "", "reader", &ghost, 1, &y, 1, NULL, &d);
    nn_exec *x;
    CHECK_STATUS(nn_exec_create(g, NULL, &x, &d), NN_ERR_INVALID);
    CHECK(strcmp(d.where, "reader") == 0);
    nn_graph_destroy(g);
}

static void test_duplicate_names_and_producers_refused(void) {
    nn_graph *g;
    nn_diag d;
    memset(&d, 0, sizeof d);
    CHECK_STATUS(build_chain(NULL, &g, &d), NN_OK);
    nn_tensor_id t;
    CHECK_STATUS(nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, NULL, &t, &d), NN_ERR_INVALID);
    memset(&d, 0, sizeof d);
    nn_tensor_id x = nn_graph_find_tensor(g, "x"), m = nn_graph_find_tensor(g, "m");
    CHECK_STATUS(nn_graph_add_node(g, "Identity", "", "again", &x, 1, &m, 1, NULL, &d), NN_ERR_INVALID);
    nn_graph_destroy(g);
}

static void test_unknown_op_and_attribute_refused_with_names(void) {
    nn_graph *g;
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_graph_create(NULL, &g, &d);
    nn_graph_set_opset(g, "", 17, &d);
    nn_tensor_id x, y;
    nn_shape s = shape2(1, 1);
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &s, &x, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_UNDEFINED, NULL, &y, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    nn_node_id n;
    nn_graph_add_node(g, "NoSuchOp", "", "mystery", &x, 1, &y, 1, &n, &d);
    nn_exec *ex;
    CHECK_STATUS(nn_exec_create(g, NULL, &ex, &d), NN_ERR_UNSUPPORTED);
    CHECK(strcmp(d.where, "mystery") == 0);
    CHECK(strstr(d.message, "NoSuchOp") != NULL);
    nn_graph_destroy(g);

    /* Identity accepts no attributes: one it does not know is refused. */
    memset(&d, 0, sizeof d);
    build_chain(NULL, &g, &d);
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = "color";
    a.type = NN_ATTR_INT;
    a.i = 3;
    nn_node_id first = {1};
    CHECK_STATUS(nn_graph_add_attr(g, first, &a, 0, &d), NN_OK);
    CHECK_STATUS(nn_exec_create(g, NULL, &ex, &d), NN_ERR_UNSUPPORTED);
    CHECK(strcmp(d.where, "first.color") == 0);
    nn_graph_destroy(g);
}

static void test_run_chain_and_bad_inputs(void) {
    nn_graph *g;
    nn_diag d;
    memset(&d, 0, sizeof d);
    build_chain(NULL, &g, &d);
    nn_exec *x;
    nn_exec_desc xd;
    memset(&xd, 0, sizeof xd);
    xd.threads = 2;
    CHECK_STATUS(nn_exec_create(g, &xd, &x, &d), NN_OK);
    float in[6] = {1, -2, 3, -4, 5, -6};
    nn_value v = nn_value_make(NN_DTYPE_FLOAT, shape2(2, 3), in);
    CHECK_STATUS(nn_exec_run(x, &d), NN_ERR_ARG); /* input not set */
    memset(&d, 0, sizeof d);
    nn_value wrong = nn_value_make(NN_DTYPE_FLOAT, shape2(3, 2), in);
    CHECK_STATUS(nn_exec_set_input(x, 0, &wrong, &d), NN_ERR_SHAPE);
    memset(&d, 0, sizeof d);
    nn_value wrong_type = nn_value_make(NN_DTYPE_INT32, shape2(2, 3), in);
    CHECK_STATUS(nn_exec_set_input(x, 0, &wrong_type, &d), NN_ERR_ARG);
    memset(&d, 0, sizeof d);
    CHECK_STATUS(nn_exec_set_input(x, 0, &v, &d), NN_OK);
    CHECK_STATUS(nn_exec_run(x, &d), NN_OK);
    const nn_value *y = nn_exec_output(x, 0);
    CHECK(y && y->shape.rank == 2 && y->shape.dims[0] == 2 && y->shape.dims[1] == 3);
    CHECK(y && memcmp(y->data, in, sizeof in) == 0);
    /* Only "m" and "y" are ever allocated (24 bytes each); m is freed after
       its last reader, but both are live while the second node runs. */
    CHECK_EQ_INT(nn_exec_peak_bytes(x), 48);
    nn_exec_destroy(x);
    nn_graph_destroy(g);
}

static void test_every_allocation_failure_is_clean(void) {
    /* Count the allocations of a full build + prepare + run, then fail each
       one in turn: every attempt must return a status (or succeed when the
       failure hits nothing fatal) and leave no live allocation. */
    counting c = {0, 0, -1};
    nn_allocator a = {count_alloc, count_free, &c};
    nn_graph *g;
    nn_diag d;
    float in[6] = {0};
    long total;
    {
        memset(&d, 0, sizeof d);
        CHECK_STATUS(build_chain(&a, &g, &d), NN_OK);
        nn_exec_desc xd;
        memset(&xd, 0, sizeof xd);
        xd.alloc = a;
        nn_exec *x;
        CHECK_STATUS(nn_exec_create(g, &xd, &x, &d), NN_OK);
        nn_value v = nn_value_make(NN_DTYPE_FLOAT, shape2(2, 3), in);
        nn_exec_set_input(x, 0, &v, &d);
        CHECK_STATUS(nn_exec_run(x, &d), NN_OK);
        nn_exec_destroy(x);
        nn_graph_destroy(g);
        CHECK_EQ_INT(c.live, 0);
        total = c.total;
    }
    int clean = 1, failures_seen = 0;
    for (long k = 0; k < total; k++) {
        c.live = 0;
        c.total = 0;
        c.fail_at = k;
        memset(&d, 0, sizeof d);
        nn_status st = build_chain(&a, &g, &d);
        if (st == NN_OK) {
            nn_exec_desc xd;
            memset(&xd, 0, sizeof xd);
            xd.alloc = a;
            nn_exec *x;
            st = nn_exec_create(g, &xd, &x, &d);
            if (st == NN_OK) {
                nn_value v = nn_value_make(NN_DTYPE_FLOAT, shape2(2, 3), in);
                nn_exec_set_input(x, 0, &v, &d);
                st = nn_exec_run(x, &d);
                nn_exec_destroy(x);
            }
            nn_graph_destroy(g);
        }
        if (st != NN_OK) {
            failures_seen++;
            if (st != NN_ERR_NOMEM) clean = 0;
        }
        if (c.live != 0) clean = 0;
    }
    CHECK(clean);
    CHECK(failures_seen > 0);
}

static void test_f16_bf16_hand_values(void) {
    /* binary16: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 (max) = 0x7BFF,
       smallest subnormal 2^-24 = 0x0001, 0.1 rounds to 0x2E66. */
    CHECK_EQ_INT(nn_f32_to_f16(1.0f), 0x3C00);
    CHECK_EQ_INT(nn_f32_to_f16(-2.0f), 0xC000);
    CHECK_EQ_INT(nn_f32_to_f16(65504.0f), 0x7BFF);
    CHECK_EQ_INT(nn_f32_to_f16(65520.0f), 0x7C00); /* halfway to 2^16 rounds to inf */
    CHECK_EQ_INT(nn_f32_to_f16(5.9604645e-8f), 0x0001);
    CHECK_EQ_INT(nn_f32_to_f16(0.1f), 0x2E66);
    CHECK_NEAR(nn_f16_to_f32(0x2E66), 0.0999755859375, 0);
    CHECK_NEAR(nn_f16_to_f32(0x0001), 5.960464477539063e-08, 0);
    CHECK_NEAR(nn_f16_to_f32(0x7BFF), 65504.0, 0);
    /* round half to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 */
    CHECK_EQ_INT(nn_f32_to_f16(1.0f + 1.0f / 2048.0f), 0x3C00);
    CHECK_EQ_INT(nn_f32_to_f16(1.0f + 3.0f / 2048.0f), 0x3C02);
    /* bfloat16 keeps the top 16 bits: 1.0 = 0x3F80; 1 + 2^-8 is halfway
       between 0x3F80 and 0x3F81 and rounds to even 0x3F80. */
    CHECK_EQ_INT(nn_f32_to_bf16(1.0f), 0x3F80);
    CHECK_EQ_INT(nn_f32_to_bf16(1.0f + 1.0f / 256.0f), 0x3F80);
    CHECK_EQ_INT(nn_f32_to_bf16(1.0f + 3.0f / 256.0f), 0x3F82);
    CHECK_NEAR(nn_bf16_to_f32(0xC040), -3.0, 0);
}

static void test_shapes_and_sizes(void) {
    nn_shape s = shape2(3, NN_DIM_UNKNOWN);
    int ok;
    CHECK(!nn_shape_is_static(&s));
    CHECK_EQ_INT(nn_shape_count(&s, &ok), 0);
    CHECK(!ok);
    char buf[32];
    CHECK(strcmp(nn_shape_str(&s, buf, sizeof buf), "3x?") == 0);
    int64_t huge[3] = {INT64_C(1) << 40, INT64_C(1) << 40, 1 << 20};
    nn_shape h = nn_shape_make(3, huge);
    nn_shape_count(&h, &ok);
    CHECK(!ok); /* 2^100 elements overflow size_t */
    size_t out;
    CHECK(!nn_size_mul(SIZE_MAX / 2 + 1, 2, &out));
    CHECK(nn_size_mul(6, 7, &out) && out == 42);
    CHECK(nn_dtype_bytes_for(NN_DTYPE_INT4, 5, &out) && out == 3); /* 4-bit packs two per byte */
}

static void test_stats_count_gemm_macs(void) {
    /* Gemm (4x8) x (8x16): 4*16 outputs, 8 MACs each = 512. */
    nn_graph *g;
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_graph_create(NULL, &g, &d);
    nn_shape sa = shape2(4, 8), sb = shape2(8, 16), sy = shape2(4, 16);
    nn_tensor_id a, b, y;
    nn_graph_add_tensor(g, "a", NN_DTYPE_FLOAT, &sa, &a, &d);
    nn_graph_add_tensor(g, "b", NN_DTYPE_FLOAT, &sb, &b, &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &sy, &y, &d);
    static float w[128];
    nn_graph_set_data(g, b, w, sizeof w, 0, &d);
    nn_graph_add_input(g, a, &d);
    nn_graph_add_output(g, y, &d);
    nn_tensor_id ins[2] = {a, b};
    nn_graph_add_node(g, "Gemm", "", "fc", ins, 2, &y, 1, NULL, &d);
    nn_graph_stats st;
    nn_graph_get_stats(g, &st);
    CHECK_EQ_INT(st.macs, 512);
    CHECK_EQ_INT(st.param_count, 128);
    CHECK_EQ_INT(st.param_bytes, 512);
    nn_graph_destroy(g);
}

int main(void) {
    test_topo_order_sorts_out_of_order_nodes();
    test_cycle_is_refused();
    test_dangling_input_is_refused();
    test_duplicate_names_and_producers_refused();
    test_unknown_op_and_attribute_refused_with_names();
    test_run_chain_and_bad_inputs();
    test_every_allocation_failure_is_clean();
    test_f16_bf16_hand_values();
    test_shapes_and_sizes();
    test_stats_count_gemm_macs();
    return check_summary();
}
