/* test_check.c - compiler check levels (nn_target.h): a small
   QDQ network compiled for npu-small passes every level against nn_qexec;
   the same program with one weight byte of one convolution corrupted in
   its .nnb image (checksum made valid again, so the loader accepts it)
   fails every level, per output and per layer, and the check names that
   convolution as the first layer that diverges; a skip callback moves the
   blame to the next layer; and a QDQ graph saved to ONNX bytes and loaded
   back compiles to the same .nnb image, byte for byte, as the in-memory one;
   and nn_quant.h's importer turning a dynamically quantized Conv (ONNX
   Runtime's quantize_dynamic form) into the float Conv it stands for.

   The golden side is nn_qexec (test_quant.c checks its kernels against
   hand calculations and ONNX Runtime); what is asserted here is which
   layer the check names, known by construction (the corrupted one). */
#include "nn_graph.h"
#include "nn_onnx.h"
#include "nn_target.h"
#include "tests/check.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* x (1,3,8,8) -> conv1 3x3 pad 1 (+bias) -> Relu -> r;  r -> conv2 1x1 -> c2;
   Add(r, c2) -> GlobalAveragePool -> Flatten -> Gemm (transB, bias) -> y (1,5). */
static nn_graph *net_float(void) {
    nn_graph *g = NULL;
    nn_diag d;
    nn_tensor_id x, w1, b1, c1, r, w2, c2, s, p, f, wg, bg, y;
    nn_node_id n;
    nn_attr a;
    int64_t xd[4] = {1, 3, 8, 8}, w1d[4] = {4, 3, 3, 3}, b1d[1] = {4}, cd[4] = {1, 4, 8, 8}, w2d[4] = {4, 4, 1, 1},
            pd[4] = {1, 4, 1, 1}, fd[2] = {1, 4}, wgd[2] = {5, 4}, bgd[1] = {5}, yd[2] = {1, 5};
    int64_t pads[4] = {1, 1, 1, 1};
    static float w1v[108], w2v[16], wgv[20];
    static const float b1v[4] = {0.1f, -0.2f, 0.05f, 0.3f}, bgv[5] = {0.2f, -0.1f, 0.0f, 0.4f, -0.3f};
    int i;
    memset(&d, 0, sizeof d);
    for (i = 0; i < 108; i++) w1v[i] = (float)((i * 37 % 19) - 9) / 25.0f;
    for (i = 0; i < 16; i++) w2v[i] = (float)((i * 11 % 7) - 3) / 5.0f;
    for (i = 0; i < 20; i++) wgv[i] = (float)((i * 13 % 9) - 4) / 6.0f;
    if (nn_graph_create(NULL, &g, &d)) return NULL;
    nn_graph_set_opset(g, "", 13, &d);
#define T(name, var, dims, rank) { nn_shape s_ = nn_shape_make(rank, dims); nn_graph_add_tensor(g, name, NN_DTYPE_FLOAT, &s_, &var, &d); }
    T("x", x, xd, 4) T("w1", w1, w1d, 4) T("b1", b1, b1d, 1) T("c1", c1, cd, 4) T("r", r, cd, 4) T("w2", w2, w2d, 4)
    T("c2", c2, cd, 4) T("s", s, cd, 4) T("p", p, pd, 4) T("f", f, fd, 2) T("wg", wg, wgd, 2) T("bg", bg, bgd, 1)
    T("y", y, yd, 2)
#undef T
    nn_graph_set_data(g, w1, w1v, sizeof w1v, 1, &d);
    nn_graph_set_data(g, b1, b1v, sizeof b1v, 1, &d);
    nn_graph_set_data(g, w2, w2v, sizeof w2v, 1, &d);
    nn_graph_set_data(g, wg, wgv, sizeof wgv, 1, &d);
    nn_graph_set_data(g, bg, bgv, sizeof bgv, 1, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    {
        nn_tensor_id in1[3] = {x, w1, b1}, in2[2] = {r, w2}, ia[2] = {r, c2}, ig[3] = {f, wg, bg};
        nn_graph_add_node(g, "Conv", "", "conv1", in1, 3, &c1, 1, &n, &d);
        memset(&a, 0, sizeof a);
        a.name = "pads"; a.type = NN_ATTR_INTS; a.ints = pads; a.count = 4;
        nn_graph_add_attr(g, n, &a, 0, &d);
        nn_graph_add_node(g, "Relu", "", "relu", &c1, 1, &r, 1, &n, &d);
        nn_graph_add_node(g, "Conv", "", "conv2", in2, 2, &c2, 1, &n, &d);
        nn_graph_add_node(g, "Add", "", "add", ia, 2, &s, 1, &n, &d);
        nn_graph_add_node(g, "GlobalAveragePool", "", "gap", &s, 1, &p, 1, &n, &d);
        nn_graph_add_node(g, "Flatten", "", "flatten", &p, 1, &f, 1, &n, &d);
        nn_graph_add_node(g, "Gemm", "", "gemm", ig, 3, &y, 1, &n, &d);
        memset(&a, 0, sizeof a);
        a.name = "transB"; a.type = NN_ATTR_INT; a.i = 1;
        nn_graph_add_attr(g, n, &a, 0, &d);
    }
    if (d.status) { nn_graph_destroy(g); return NULL; }
    return g;
}

/* Ranges by hand, roomy for these weights and inputs in [-2, 2]; y gets
   one too so the Gemm is an integer group and the output is quantized. */
static nn_graph *net_qdq(const nn_graph *g) {
    static const struct { const char *name; double t; } th[] = {
        {"x", 2.0}, {"c1", 4.0}, {"r", 4.0}, {"c2", 6.0}, {"s", 8.0}, {"p", 4.0}, {"f", 4.0}, {"y", 4.0}};
    nn_quant_range *r = (nn_quant_range *)calloc(g->tensor_count, sizeof *r);
    nn_graph *q = NULL;
    nn_quant_desc qd;
    nn_diag d;
    size_t i;
    memset(&d, 0, sizeof d);
    memset(&qd, 0, sizeof qd);
    qd.scheme = NN_QUANT_S8_SYM;
    for (i = 0; i < sizeof th / sizeof th[0]; i++) {
        nn_tensor_id t = nn_graph_find_tensor(g, th[i].name);
        r[t.id].valid = 1;
        r[t.id].threshold = th[i].t;
        r[t.id].min = -th[i].t;
        r[t.id].max = th[i].t;
    }
    CHECK_STATUS(nn_quant_graph(g, r, &qd, &q, NULL, &d), NN_OK);
    free(r);
    if (q) CHECK_STATUS(nn_graph_infer_shapes(q, NULL, 0, &d), NN_OK);
    return q;
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

/* The header's CRC-32 (docs/FORMAT.md: bytes 24-27, computed with them zero). */
static void fix_crc(uint8_t *img, size_t n) {
    static const uint8_t zero[4] = {0, 0, 0, 0};
    uint32_t c = nn_verify_crc32(0, img, 24);
    c = nn_verify_crc32(c, zero, 4);
    c = nn_verify_crc32(c, img + 28, n - 28);
    img[24] = (uint8_t)c; img[25] = (uint8_t)(c >> 8); img[26] = (uint8_t)(c >> 16); img[27] = (uint8_t)(c >> 24);
}

#define SAMPLES 3
static float xs[SAMPLES][192];
static nn_value inputs[SAMPLES];

static void make_inputs(void) {
    int64_t xd[4] = {1, 3, 8, 8};
    int s, i;
    for (s = 0; s < SAMPLES; s++) {
        for (i = 0; i < 192; i++) xs[s][i] = (float)sin(i * 0.37 + s) * 1.9f;
        inputs[s] = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xs[s]);
        inputs[s].bytes = sizeof xs[s];
    }
}

/* The instruction that comes from ONNX node name (its integer group). */
static const nn_target_instr *instr_named(const nn_target_program *p, const char *name) {
    uint32_t i;
    for (i = 0; i < p->instr_count; i++)
        if (p->instrs[i].op != NN_TARGET_OP_CPU && !strcmp(p->instrs[i].name, name)) return &p->instrs[i];
    return NULL;
}

/* A copy of p's image with weight byte `byte` of instruction `name` given
   its top bit flipped (the largest change an int8 weight can take), the
   checksum made valid, loaded (copied). */
static nn_target_program *corrupted(const nn_target_program *p, const char *name, size_t byte) {
    const nn_target_instr *I = instr_named(p, name);
    nn_target_program *c = NULL;
    nn_target_load_desc ld;
    membuf m;
    nn_diag d;
    memset(&m, 0, sizeof m);
    memset(&d, 0, sizeof d);
    memset(&ld, 0, sizeof ld);
    ld.copy = 1;
    CHECK(I != NULL);
    if (!I) return NULL;
    CHECK(I->w != NN_TARGET_NO_OFFSET);
    CHECK_STATUS(nn_target_save(p, membuf_write, &m, &d), NN_OK);
    m.p[(size_t)(p->weights - p->image) + I->w + byte] ^= (char)0x80;
    fix_crc((uint8_t *)m.p, m.n);
    CHECK_STATUS(nn_target_load_memory(m.p, m.n, &ld, &c, &d), NN_OK);
    free(m.p);
    return c;
}

static int skip_c2(void *user, const char *name) {
    (void)user;
    return strstr(name, "c2") != NULL;
}

static void run_check(const nn_target_program *p, const nn_graph *q, nn_target_check_level level, int per_layer,
                      nn_target_check_report *rep) {
    nn_target_check_desc cd;
    nn_diag d;
    memset(&cd, 0, sizeof cd);
    memset(&d, 0, sizeof d);
    cd.level = level;
    cd.per_layer = per_layer;
    cd.atol = level == NN_TARGET_CHECK_ALLCLOSE ? 1e-3 : 0; /* well under one step of any tensor here */
    cd.min_cosine = 0.9999;
    CHECK_STATUS(nn_target_check(p, q, inputs, SAMPLES, &cd, rep, &d), NN_OK);
    if (d.status) fprintf(stderr, "     %s: %s\n", d.where, d.message);
}

static void test_levels(void) {
    static const nn_target_check_level levels[3] = {NN_TARGET_CHECK_ALLCLOSE, NN_TARGET_CHECK_BITEQUAL,
                                                    NN_TARGET_CHECK_COSINE};
    static const char *const victims[2] = {"conv1", "conv2"};
    nn_graph *g = net_float(), *q = g ? net_qdq(g) : NULL;
    nn_target_program *p = NULL;
    nn_diag d;
    int l, per, v;
    memset(&d, 0, sizeof d);
    CHECK(q != NULL);
    if (!q) { nn_graph_destroy(g); return; }
    CHECK_STATUS(nn_target_compile(q, NULL, NULL, &p, &d), NN_OK);
    if (!p) { nn_graph_destroy(q); nn_graph_destroy(g); return; }
    /* conv1 (Relu in its clamp), conv2, add, gap are integer instructions;
       the Gemm writing the float graph output stays a float island */
    CHECK(instr_named(p, "conv1") && instr_named(p, "conv2") && instr_named(p, "add") && instr_named(p, "gap"));
    for (l = 0; l < 3; l++)
        for (per = 0; per < 2; per++) {
            nn_target_check_report rep;
            run_check(p, q, levels[l], per, &rep);
            CHECK(rep.pass);
            CHECK_EQ_INT(rep.samples, SAMPLES);
            CHECK_EQ_INT(rep.mismatched, 0);
            CHECK(per ? rep.row_count >= 5 : rep.row_count == 1); /* x quantized, conv1, conv2, add, gap, ... */
            CHECK_NEAR(rep.worst_cosine, 1.0, 1e-12);
            nn_target_check_report_deinit(&rep);
        }
    /* one weight byte corrupted: every level, both scopes, names the conv */
    for (v = 0; v < 2; v++) {
        nn_target_program *bad = corrupted(p, victims[v], 5);
        if (!bad) continue;
        for (l = 0; l < 3; l++)
            for (per = 0; per < 2; per++) {
                nn_target_check_report rep;
                run_check(bad, q, levels[l], per, &rep);
                CHECK(!rep.pass);
                CHECK(rep.has_diverge);
                if (rep.has_diverge) {
                    CHECK(!strcmp(rep.diverge.layer, victims[v]));
                    if (strcmp(rep.diverge.layer, victims[v]))
                        fprintf(stderr, "     level %s per_layer %d: named %s, corrupted %s\n",
                                nn_target_check_level_name(levels[l]), per, rep.diverge.layer, victims[v]);
                    CHECK(!strcmp(rep.diverge.op, "conv"));
                    CHECK(rep.diverge.mismatched > 0);
                }
                nn_target_check_report_deinit(&rep);
            }
        /* skipping conv2's output moves the blame to its reader, the add */
        if (v == 1) {
            nn_target_check_report rep;
            nn_target_check_desc cd;
            memset(&cd, 0, sizeof cd);
            cd.per_layer = 1;
            cd.skip = skip_c2;
            CHECK_STATUS(nn_target_check(bad, q, inputs, SAMPLES, &cd, &rep, &d), NN_OK);
            CHECK(!rep.pass);
            CHECK(rep.skipped >= 1);
            CHECK(rep.has_diverge && !strcmp(rep.diverge.layer, "add"));
            nn_target_check_report_deinit(&rep);
        }
        nn_target_program_destroy(bad);
    }
    nn_target_program_destroy(p);
    nn_graph_destroy(q);
    nn_graph_destroy(g);
}

static void test_level_names(void) {
    nn_target_check_level l = NN_TARGET_CHECK_DEFAULT;
    CHECK(nn_target_check_level_find("cosine", &l) && l == NN_TARGET_CHECK_COSINE);
    CHECK(nn_target_check_level_find("allclose", &l) && l == NN_TARGET_CHECK_ALLCLOSE);
    CHECK(nn_target_check_level_find("bitequal", &l) && l == NN_TARGET_CHECK_BITEQUAL);
    CHECK(!nn_target_check_level_find("exact", &l));
    CHECK(!strcmp(nn_target_check_level_name(NN_TARGET_CHECK_DEFAULT), "bitequal"));
}

/* QDQ round trip: the graph saved as ONNX bytes and loaded back compiles
   to the same file image as the graph in memory. */
static void test_qdq_roundtrip(void) {
    nn_graph *g = net_float(), *q = g ? net_qdq(g) : NULL, *q2 = NULL;
    nn_target_program *p = NULL, *p2 = NULL;
    membuf a, b;
    void *bytes = NULL;
    size_t nbytes = 0;
    nn_diag d;
    memset(&d, 0, sizeof d);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (!q) { nn_graph_destroy(g); CHECK(0); return; }
    CHECK_STATUS(nn_onnx_save_memory(q, NULL, &bytes, &nbytes, &d), NN_OK);
    if (bytes) CHECK_STATUS(nn_onnx_load_memory(bytes, nbytes, NULL, &q2, &d), NN_OK);
    if (d.status) fprintf(stderr, "     %s: %s\n", d.where, d.message);
    CHECK_STATUS(nn_target_compile(q, NULL, NULL, &p, &d), NN_OK);
    if (q2) CHECK_STATUS(nn_target_compile(q2, NULL, NULL, &p2, &d), NN_OK);
    if (p && p2) {
        CHECK_STATUS(nn_target_save(p, membuf_write, &a, &d), NN_OK);
        CHECK_STATUS(nn_target_save(p2, membuf_write, &b, &d), NN_OK);
        CHECK_EQ_INT(a.n, b.n);
        CHECK(a.n == b.n && memcmp(a.p, b.p, a.n) == 0);
    }
    nn_target_program_destroy(p);
    nn_target_program_destroy(p2);
    free(a.p);
    free(b.p);
    nn_graph_destroy(q2);
    free(bytes); /* after q2: the loaded graph borrows its weights from the bytes */
    nn_graph_destroy(q);
    nn_graph_destroy(g);
}

/* ONNX Runtime's dynamic quantization of a 1x1 Conv, as in ISNet:
   x (1,2,1,1) -> DynamicQuantizeLinear -> ConvInteger(W_q uint8, zp 143)
   -> Cast -> Mul(., x_scale * W_scale) -> y.  nn_quant_import_dynamic
   makes it one float Conv with W = (W_q - 143) * 0.01:
     W = [[150-143, 140-143], [143-143, 100-143]] * 0.01 = [[0.07, -0.03], [0, -0.43]]
   so for x = (1, -2): y = (0.07 + 0.06, 0 + 0.86) = (0.13, 0.86). */
static void test_import_dynamic(void) {
    nn_graph *g = NULL, *f = NULL;
    nn_diag d;
    nn_tensor_id x, xq, xsc, xz, wq, wz, ws, acc, c, s, y;
    nn_node_id n;
    nn_attr a;
    nn_quant_import_stats st;
    int64_t xd[4] = {1, 2, 1, 1}, wd[4] = {2, 2, 1, 1}, one[1] = {1};
    static const uint8_t wv[4] = {150, 140, 143, 100}, zv = 143;
    static const float sv = 0.01f;
    float xv[2] = {1.0f, -2.0f};
    memset(&d, 0, sizeof d);
    memset(&st, 0, sizeof st);
    CHECK_STATUS(nn_graph_create(NULL, &g, &d), NN_OK);
    if (!g) return;
    nn_graph_set_opset(g, "", 13, &d);
#define T(name, var, dt, dims, rank) { nn_shape s_ = nn_shape_make(rank, dims); nn_graph_add_tensor(g, name, dt, &s_, &var, &d); }
    T("x", x, NN_DTYPE_FLOAT, xd, 4) T("x_q", xq, NN_DTYPE_UINT8, xd, 4) T("x_scale", xsc, NN_DTYPE_FLOAT, one, 0)
    T("x_zp", xz, NN_DTYPE_UINT8, one, 0) T("w_q", wq, NN_DTYPE_UINT8, wd, 4) T("w_zp", wz, NN_DTYPE_UINT8, one, 0)
    T("w_scale", ws, NN_DTYPE_FLOAT, one, 0) T("acc", acc, NN_DTYPE_INT32, xd, 4) T("c", c, NN_DTYPE_FLOAT, xd, 4)
    T("s", s, NN_DTYPE_FLOAT, one, 0) T("y", y, NN_DTYPE_FLOAT, xd, 4)
#undef T
    nn_graph_set_data(g, wq, wv, sizeof wv, 1, &d);
    nn_graph_set_data(g, wz, &zv, 1, 1, &d);
    nn_graph_set_data(g, ws, &sv, 4, 1, &d);
    nn_graph_add_input(g, x, &d);
    nn_graph_add_output(g, y, &d);
    {
        nn_tensor_id q3[3] = {xq, xsc, xz}, ci[4] = {xq, wq, xz, wz}, si[2] = {xsc, ws}, mi[2] = {c, s};
        nn_graph_add_node(g, "DynamicQuantizeLinear", "", "dql", &x, 1, q3, 3, &n, &d);
        nn_graph_add_node(g, "ConvInteger", "", "conv", ci, 4, &acc, 1, &n, &d);
        nn_graph_add_node(g, "Cast", "", "cast", &acc, 1, &c, 1, &n, &d);
        memset(&a, 0, sizeof a);
        a.name = "to"; a.type = NN_ATTR_INT; a.i = NN_DTYPE_FLOAT;
        nn_graph_add_attr(g, n, &a, 0, &d);
        nn_graph_add_node(g, "Mul", "", "scales", si, 2, &s, 1, &n, &d);
        nn_graph_add_node(g, "Mul", "", "rescale", mi, 2, &y, 1, &n, &d);
    }
    CHECK_STATUS(d.status, NN_OK);
    CHECK(nn_quant_graph_is_dynamic(g));
    CHECK_STATUS(nn_quant_import_dynamic(g, NULL, &f, &st, &d), NN_OK);
    CHECK_EQ_INT(st.convs, 1);
    CHECK_EQ_INT(st.dynamic_left, 0);
    if (f) {
        nn_exec *ex = NULL;
        nn_value in = nn_value_make(NN_DTYPE_FLOAT, nn_shape_make(4, xd), xv);
        uint32_t i, convs = 0;
        in.bytes = sizeof xv;
        CHECK(!nn_quant_graph_is_dynamic(f));
        for (i = 0; i < f->node_count; i++) convs += !strcmp(f->nodes[i].op_type, "Conv");
        CHECK_EQ_INT(f->node_count, 1);
        CHECK_EQ_INT(convs, 1);
        CHECK_STATUS(nn_exec_create(f, NULL, &ex, &d), NN_OK);
        if (ex) {
            CHECK_STATUS(nn_exec_set_input(ex, 0, &in, &d), NN_OK);
            CHECK_STATUS(nn_exec_run(ex, &d), NN_OK);
            if (!d.status) {
                const float *o = (const float *)nn_exec_output(ex, 0)->data;
                CHECK_NEAR(o[0], 0.13, 1e-6);
                CHECK_NEAR(o[1], 0.86, 1e-6);
            }
        }
        nn_exec_destroy(ex);
    }
    nn_graph_destroy(f);
    nn_graph_destroy(g);
}

int main(void) {
    make_inputs();
    test_import_dynamic();
    test_level_names();
    test_levels();
    test_qdq_roundtrip();
    return check_summary();
}
