/* test_patch.c - nn_target_patchify (nn_target.h): the leading layers of a small QDQ CNN
   rewritten to run band by band (MCUNetV2 patches) and compiled for the
   mcu preset; the banded program's outputs must equal the unbanded
   program's byte for byte (the integer arithmetic of every output element
   is unchanged) and its arena must be smaller.  The band geometry is
   checked against a hand calculation, and bad cuts are refused.

   The network (float, then nn_quant_graph with hand-set ranges, s8):
     x (1,3,32,32) -> conv1 3x3 pad 1 -> Relu -> a (1,16,32,32)
       -> dw1 3x3 stride 2 pad 1 group 16 -> Relu -> b (1,16,16,16)
       -> pw1 1x1 -> c (1,8,16,16)
       -> ex 1x1 -> Relu -> e (1,32,16,16) -> dw2 3x3 pad 1 group 32 -> Relu -> f
       -> pj 1x1 -> h (1,8,16,16);  s = Add(h, c)      (an inverted residual)
       -> conv2 3x3 stride 2 pad 1 -> k (1,8,8,8) -> GlobalAveragePool -> Flatten -> y (1,8)
   Cut at s (the prefix is everything before conv2). */
#include "nn_graph.h"
#include "nn_quant.h"
#include "nn_target.h"
#include "tests/check.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct pnet { nn_graph *g; nn_diag d; } pnet;

static nn_tensor_id pt_tensor(pnet *n, const char *name, int64_t c, int64_t h, int64_t w, int rank) {
    int64_t dims[4] = {1, c, h, w};
    nn_shape s = nn_shape_make(rank, dims);
    nn_tensor_id t;
    if (rank == 2) { dims[1] = c; s = nn_shape_make(2, dims); }
    nn_graph_add_tensor(n->g, name, NN_DTYPE_FLOAT, &s, &t, &n->d);
    return t;
}

/* A Conv with pseudo-random weights (seeded by the name) and a bias. */
static void pt_conv(pnet *n, const char *name, nn_tensor_id x, nn_tensor_id y, int64_t m, int64_t cin, int64_t k, int64_t stride,
                    int64_t group) {
    char wn[64], bn[64];
    int64_t wd[4] = {m, cin / group, k, k}, bd[1] = {m}, pads[4], strides[2] = {stride, stride};
    nn_shape ws = nn_shape_make(4, wd), bs = nn_shape_make(1, bd);
    nn_tensor_id w, b, ins[3];
    nn_node_id id;
    nn_attr a;
    size_t cnt = (size_t)(m * (cin / group) * k * k), i;
    float *wv = (float *)malloc(cnt * sizeof(float)), bv[64];
    unsigned seed = (unsigned)strlen(name) * 2654435761u + (unsigned)name[0];
    for (i = 0; i < cnt; i++) {
        seed = seed * 1103515245u + 12345u;
        wv[i] = (float)((int)(seed >> 16 & 0xFF) - 128) / (128.0f * (float)(k * k * (cin / group)) * 0.35f);
    }
    for (i = 0; i < (size_t)m; i++) bv[i] = (float)((int)(i * 7 % 5) - 2) * 0.05f;
    snprintf(wn, sizeof wn, "%s.w", name);
    snprintf(bn, sizeof bn, "%s.b", name);
    nn_graph_add_tensor(n->g, wn, NN_DTYPE_FLOAT, &ws, &w, &n->d);
    nn_graph_add_tensor(n->g, bn, NN_DTYPE_FLOAT, &bs, &b, &n->d);
    nn_graph_set_data(n->g, w, wv, cnt * sizeof(float), 1, &n->d);
    nn_graph_set_data(n->g, b, bv, (size_t)m * sizeof(float), 1, &n->d);
    free(wv);
    ins[0] = x; ins[1] = w; ins[2] = b;
    nn_graph_add_node(n->g, "Conv", "", name, ins, 3, &y, 1, &id, &n->d);
    pads[0] = pads[1] = pads[2] = pads[3] = k / 2;
    memset(&a, 0, sizeof a);
    a.name = "pads"; a.type = NN_ATTR_INTS; a.ints = pads; a.count = 4;
    nn_graph_add_attr(n->g, id, &a, 0, &n->d);
    a.name = "strides"; a.ints = strides; a.count = 2;
    nn_graph_add_attr(n->g, id, &a, 0, &n->d);
    memset(&a, 0, sizeof a);
    a.name = "group"; a.type = NN_ATTR_INT; a.i = group;
    nn_graph_add_attr(n->g, id, &a, 0, &n->d);
}

static void pt_op(pnet *n, const char *type, const char *name, const nn_tensor_id *ins, uint32_t nin, nn_tensor_id y) {
    nn_graph_add_node(n->g, type, "", name, ins, nin, &y, 1, NULL, &n->d);
}

static nn_graph *pt_float(void) {
    pnet n;
    nn_tensor_id x, a0, a, b0, b, c, e0, e, f0, f, h, s, k, p, y;
    memset(&n, 0, sizeof n);
    if (nn_graph_create(NULL, &n.g, &n.d)) return NULL;
    nn_graph_set_opset(n.g, "", 13, &n.d);
    x = pt_tensor(&n, "x", 3, 32, 32, 4);
    a0 = pt_tensor(&n, "a0", 16, 32, 32, 4); a = pt_tensor(&n, "a", 16, 32, 32, 4);
    b0 = pt_tensor(&n, "b0", 16, 16, 16, 4); b = pt_tensor(&n, "b", 16, 16, 16, 4);
    c = pt_tensor(&n, "c", 8, 16, 16, 4);
    e0 = pt_tensor(&n, "e0", 32, 16, 16, 4); e = pt_tensor(&n, "e", 32, 16, 16, 4);
    f0 = pt_tensor(&n, "f0", 32, 16, 16, 4); f = pt_tensor(&n, "f", 32, 16, 16, 4);
    h = pt_tensor(&n, "h", 8, 16, 16, 4); s = pt_tensor(&n, "s", 8, 16, 16, 4);
    k = pt_tensor(&n, "k", 8, 8, 8, 4); p = pt_tensor(&n, "p", 8, 1, 1, 4); y = pt_tensor(&n, "y", 8, 0, 0, 2);
    nn_graph_add_input(n.g, x, &n.d);
    nn_graph_add_output(n.g, y, &n.d);
    pt_conv(&n, "conv1", x, a0, 16, 3, 3, 1, 1);
    pt_op(&n, "Relu", "relu1", &a0, 1, a);
    pt_conv(&n, "dw1", a, b0, 16, 16, 3, 2, 16);
    pt_op(&n, "Relu", "relu2", &b0, 1, b);
    pt_conv(&n, "pw1", b, c, 8, 16, 1, 1, 1);
    pt_conv(&n, "ex", c, e0, 32, 8, 1, 1, 1);
    pt_op(&n, "Relu", "relu3", &e0, 1, e);
    pt_conv(&n, "dw2", e, f0, 32, 32, 3, 1, 32);
    pt_op(&n, "Relu", "relu4", &f0, 1, f);
    pt_conv(&n, "pj", f, h, 8, 32, 1, 1, 1);
    {
        nn_tensor_id ia[2];
        ia[0] = h; ia[1] = c;
        pt_op(&n, "Add", "add", ia, 2, s);
    }
    pt_conv(&n, "conv2", s, k, 8, 8, 3, 2, 1);
    pt_op(&n, "GlobalAveragePool", "gap", &k, 1, p);
    pt_op(&n, "Flatten", "flatten", &p, 1, y);
    if (n.d.status) {
        fprintf(stderr, "     building the test network: %s: %s\n", n.d.where, n.d.message);
        nn_graph_destroy(n.g);
        return NULL;
    }
    return n.g;
}

/* Ranges by hand, roomy for inputs in [-2, 2]: the numbers only need to
   make a valid QDQ graph. */
static nn_graph *pt_qdq(const nn_graph *g) {
    static const struct { const char *name; double t; } th[] = {
        {"x", 2.0}, {"a0", 4.0}, {"a", 4.0}, {"b0", 4.0}, {"b", 4.0}, {"c", 4.0}, {"e0", 4.0}, {"e", 4.0},
        {"f0", 4.0}, {"f", 4.0}, {"h", 4.0}, {"s", 6.0}, {"k", 6.0}, {"p", 4.0}, {"y", 4.0}};
    nn_quant_range *r = (nn_quant_range *)calloc(g->tensor_count, sizeof *r);
    nn_graph *q = NULL;
    nn_quant_desc qd;
    nn_diag d;
    size_t i;
    memset(&d, 0, sizeof d);
    memset(&qd, 0, sizeof qd);
    qd.scheme = NN_QUANT_S8_SYM;
    for (i = 0; r && i < sizeof th / sizeof th[0]; i++) {
        nn_tensor_id t = nn_graph_find_tensor(g, th[i].name);
        r[t.id].valid = 1;
        r[t.id].threshold = th[i].t;
        r[t.id].min = -th[i].t;
        r[t.id].max = th[i].t;
    }
    CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, NULL, &d), NN_OK);
    if (d.status) fprintf(stderr, "     %s: %s\n", d.where, d.message);
    free(r);
    return q;
}

/* Compiles q for mcu and runs it on input in; the outputs are copied to
   *out (malloc'd, *bytes long).  Returns the arena bytes, 0 on failure. */
static uint64_t pt_run(const nn_graph *q, const nn_value *in, uint8_t **out, size_t *bytes) {
    nn_target_desc t;
    nn_target_program *p = NULL;
    nn_diag d;
    nn_value outs[4];
    uint64_t arena = 0;
    memset(&d, 0, sizeof d);
    *out = NULL;
    *bytes = 0;
    CHECK_STATUS(nn_target_preset("mcu", &t, &d), NN_OK);
    CHECK_STATUS(nn_target_compile(q, &t, NULL, &p, &d), NN_OK);
    if (d.status) fprintf(stderr, "     compile: %s: %s\n", d.where, d.message);
    if (!p) return 0;
    {
        size_t mb = nn_target_sim_scratch_bytes(p);
        char *raw = (char *)malloc(mb + 64), *mem = raw ? raw + (64 - (uintptr_t)raw % 64) % 64 : NULL;
        CHECK(raw != NULL && p->output_count == 1);
        if (raw && p->output_count == 1) {
            CHECK_STATUS(nn_target_sim_run(p, mem, mb, in, outs, &d), NN_OK);
            if (d.status) fprintf(stderr, "     run: %s: %s\n", d.where, d.message);
            if (!d.status) {
                *out = (uint8_t *)malloc(outs[0].bytes);
                if (*out) { memcpy(*out, outs[0].data, outs[0].bytes); *bytes = outs[0].bytes; }
                arena = p->arena_bytes;
            }
        }
        free(raw);
    }
    nn_target_program_destroy(p);
    return arena;
}

/* The n-th node of op type op in g (NULL when fewer). */
static const nn_node *pt_nth(const nn_graph *g, const char *op, int nth) {
    uint32_t i;
    for (i = 0; i < g->node_count; i++)
        if (!strcmp(g->nodes[i].op_type, op) && nth-- == 0) return &g->nodes[i];
    return NULL;
}

static void test_banded_equals_unbanded(void) {
    nn_graph *g = pt_float(), *q = NULL;
    float xv[3 * 32 * 32];
    int8_t xq[3 * 32 * 32];
    int64_t xd[4] = {1, 3, 32, 32};
    int i, variant;
    CHECK(g != NULL);
    if (!g) return;
    q = pt_qdq(g);
    nn_graph_destroy(g);
    CHECK(q != NULL);
    if (!q) return;
    for (i = 0; i < 3 * 32 * 32; i++) xv[i] = (float)sin(i * 0.173) * 1.9f + (float)((i * 7) % 11) * 0.01f;
    for (i = 0; i < 3 * 32 * 32; i++) xq[i] = (int8_t)((i * 37 % 201) - 100);
    /* variant 0: the float input; 1: the input quantized by the caller
       (int8 x_quantized; the unbanded program to compare is the NO_BANDS
       rewrite with the same flag) */
    for (variant = 0; variant < 2; variant++) {
        nn_target_patchify_desc pd;
        nn_target_patchify_report rep;
        nn_graph *ub = NULL, *bd = NULL;
        nn_diag d;
        uint8_t *o1 = NULL, *o2 = NULL;
        size_t n1 = 0, n2 = 0;
        uint64_t a1, a2;
        nn_value in = variant ? nn_value_make(NN_DTYPE_INT8, nn_shape_make(4, xd), xq)
                              : nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xv);
        in.bytes = variant ? sizeof xq : sizeof xv;
        memset(&d, 0, sizeof d);
        memset(&pd, 0, sizeof pd);
        pd.flags = NN_TARGET_PATCHIFY_NO_BANDS | (variant ? NN_TARGET_PATCHIFY_QUANTIZED_INPUT : 0);
        CHECK_STATUS(nn_target_patchify(q, &pd, &ub, &rep, &d), NN_OK);
        CHECK_EQ_INT(rep.bands, 0);
        pd.flags = variant ? NN_TARGET_PATCHIFY_QUANTIZED_INPUT : 0;
        pd.cut = "s";
        pd.band_rows = 2;
        CHECK_STATUS(nn_target_patchify(q, &pd, &bd, &rep, &d), NN_OK);
        if (d.status) fprintf(stderr, "     patchify: %s: %s\n", d.where, d.message);
        if (!ub || !bd) { nn_graph_destroy(ub); nn_graph_destroy(bd); continue; }
        if (variant) {
            CHECK_EQ_INT(bd->input_count, 1);
            CHECK_EQ_INT(bd->tensors[bd->inputs[0].id].dtype, NN_DTYPE_INT8);
        }
        /* the float cut s is read by one QuantizeLinear: the cut is its output */
        CHECK(strcmp(rep.cut, "s") != 0 && strncmp(rep.cut, "s", 1) == 0);
        CHECK_EQ_INT(rep.bands, 8); /* 16 rows of s in bands of 2 */
        CHECK_EQ_INT(rep.band_rows, 2);
        /* the residual Add needs rows of c that a band computed with the
           halo of dw2: sliced (int8) and dequantized again, in every band */
        CHECK(rep.slices >= 16);
        CHECK(rep.banded_macs > rep.prefix_macs);
        CHECK(rep.banded_macs < rep.prefix_macs * 2);
        /* hand calculation of the input rows of band 0 and band 3 (rows
           [0,2) and [6,8) of s): h -> f (dw2 3x3 pad 1) rows [-1,3) ->
           [0,3) and [5,9); c (and e) the same; b the same; dw1 (stride 2,
           pad 1) needs a rows [2r-1, 2r'+2): [0,6) and [9,18); conv1 (3x3
           pad 1) needs x rows [0,7) and [8,19): 7 and 11 rows */
        {
            const nn_node *s0 = pt_nth(bd, "Slice", 0), *c0 = pt_nth(bd, "Conv", 0), *c3 = NULL;
            int found3 = 0;
            uint32_t k;
            CHECK(s0 != NULL && c0 != NULL);
            if (s0) CHECK_EQ_INT(bd->tensors[s0->outputs[0].id].shape.dims[2], 7);
            /* the first Conv of band 3: conv1's fourth copy */
            for (k = 0; k < bd->node_count && !found3; k++)
                if (!strcmp(bd->nodes[k].op_type, "Conv") && !strncmp(bd->nodes[k].name, "conv1#b3", 8)) { c3 = &bd->nodes[k]; found3 = 1; }
            CHECK(c3 != NULL);
            if (c3) {
                const nn_attr *pa = nn_node_attr(c3, "pads");
                uint32_t xin = c3->inputs[0].id;
                const nn_node *dq = bd->tensors[xin].producer.id != NN_INVALID_ID ? &bd->nodes[bd->tensors[xin].producer.id] : NULL;
                CHECK_EQ_INT(bd->tensors[c3->outputs[0].id].shape.dims[2], 9); /* a rows [9,18) */
                CHECK(dq != NULL);
                if (dq) CHECK_EQ_INT(bd->tensors[dq->inputs[0].id].shape.dims[2], 11);
                /* inside the image: no pad at the top or bottom, 1 left and right */
                CHECK(pa && pa->count == 4 && pa->ints[0] == 0 && pa->ints[1] == 1 && pa->ints[2] == 0 && pa->ints[3] == 1);
            }
            if (c0) {
                const nn_attr *pa = nn_node_attr(c0, "pads");
                /* band 0 of conv1: a rows [0,6) from x rows [0,7): pad 1 on top only */
                CHECK(pa && pa->count == 4 && pa->ints[0] == 1 && pa->ints[2] == 0);
            }
        }
        a1 = pt_run(ub, &in, &o1, &n1);
        a2 = pt_run(bd, &in, &o2, &n2);
        CHECK(a1 > 0 && a2 > 0);
        CHECK(n1 == 8 * sizeof(float) && n1 == n2);
        CHECK(o1 && o2 && n1 == n2 && memcmp(o1, o2, n1) == 0);
        /* some outputs are not zero (the comparison is not vacuous) */
        if (o1 && n1 == 8 * sizeof(float)) {
            int nz = 0;
            for (i = 0; i < 8; i++) nz += ((const float *)o1)[i] != 0.0f;
            CHECK(nz >= 4);
        }
        CHECK(a2 < a1);
        if (a2 >= a1) fprintf(stderr, "     variant %d: banded arena %llu, unbanded %llu\n", variant, (unsigned long long)a2, (unsigned long long)a1);
        free(o1);
        free(o2);
        nn_graph_destroy(ub);
        nn_graph_destroy(bd);
    }
    nn_graph_destroy(q);
}

static void test_refusals(void) {
    nn_graph *g = pt_float(), *q = NULL, *o = NULL;
    nn_target_patchify_desc pd;
    nn_target_patchify_report rep;
    nn_diag d;
    CHECK(g != NULL);
    if (!g) return;
    q = pt_qdq(g);
    nn_graph_destroy(g);
    if (!q) return;
    memset(&d, 0, sizeof d);
    memset(&pd, 0, sizeof pd);
    pd.cut = "no such tensor";
    pd.band_rows = 2;
    CHECK_STATUS(nn_target_patchify(q, &pd, &o, &rep, &d), NN_ERR_ARG);
    CHECK(o == NULL);
    pd.cut = "s";
    pd.band_rows = 16; /* all of s's rows: not a band */
    CHECK_STATUS(nn_target_patchify(q, &pd, &o, &rep, &d), NN_ERR_ARG);
    /* cut at h: c (the residual) is read after it by the Add */
    pd.cut = "h";
    pd.band_rows = 4;
    CHECK_STATUS(nn_target_patchify(q, &pd, &o, &rep, &d), NN_ERR_UNSUPPORTED);
    /* cut past the global pool: not a row tensor */
    pd.cut = "p";
    pd.band_rows = 1;
    CHECK(nn_target_patchify(q, &pd, &o, &rep, &d) != NN_OK);
    CHECK(o == NULL);
    nn_graph_destroy(q);
}

/* No cut given: nn_target_plan_patches chooses on the graph without Q/DQ;
   whatever it chooses, the program's outputs are unchanged. */
static void test_planned(void) {
    nn_graph *g = pt_float(), *q = NULL, *o = NULL;
    nn_target_patchify_desc pd;
    nn_target_patchify_report rep;
    nn_diag d;
    float xv[3 * 32 * 32];
    int64_t xd[4] = {1, 3, 32, 32};
    uint8_t *o1 = NULL, *o2 = NULL;
    size_t n1 = 0, n2 = 0;
    int i;
    nn_value in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xv);
    in.bytes = sizeof xv;
    CHECK(g != NULL);
    if (!g) return;
    q = pt_qdq(g);
    nn_graph_destroy(g);
    if (!q) return;
    for (i = 0; i < 3 * 32 * 32; i++) xv[i] = (float)cos(i * 0.291) * 1.7f;
    memset(&d, 0, sizeof d);
    memset(&pd, 0, sizeof pd);
    CHECK_STATUS(nn_target_patchify(q, &pd, &o, &rep, &d), NN_OK);
    if (d.status) fprintf(stderr, "     %s: %s\n", d.where, d.message);
    /* the plan's tensors are the float graph's: its peak is at most the
       whole-tensor one, and a chosen prefix has at least 2 bands */
    CHECK(rep.plan.peak_bytes > 0 && rep.plan.peak_bytes <= rep.plan.arena_bytes);
    CHECK(rep.bands == 0 || rep.bands >= 2);
    if (o) {
        CHECK(pt_run(q, &in, &o1, &n1) > 0);
        CHECK(pt_run(o, &in, &o2, &n2) > 0);
        CHECK(o1 && o2 && n1 == n2 && memcmp(o1, o2, n1) == 0);
    }
    free(o1);
    free(o2);
    nn_graph_destroy(o);
    nn_graph_destroy(q);
}

int main(void) {
    test_banded_equals_unbanded();
    test_planned();
    test_refusals();
    return check_summary();
}
