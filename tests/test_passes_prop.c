/* test_passes_prop.c - property tests of the graph passes of nn_graph.h.

   1. Numbers kept: a seeded generator builds a thousand random valid
      graphs from the ops the passes touch (Conv with/without bias and
      groups, ConvTranspose, BatchNormalization after Conv/ConvTranspose/Gemm
      and alone, Gemm, MatMul 2-D
      and 3-D with and without a bias Add, attention blocks, Add/Mul/Sub/Div
      by constants and by activations, the activations, Sigmoid*x, Identity,
      Dropout, Reshape same/different, Transpose pairs and singles, Concat,
      Slice no-op/real, Pad zero/non-zero, Softmax, ReduceMean,
      Shape->Gather->Concat->Reshape chains, Cast, Erf- and Tanh-form GELU,
      split LayerNorm, duplicate constants, repeated subexpressions,
      constant-only chains, branches and several outputs).  Every registered
      pass (iterated through nn_pass_at, so passes added later are covered),
      the default list, the list of every pass, and the templates when they
      are registered run on a fresh copy (the graph is built again from the
      same seed: there is no clone); the reference executor runs the
      original and the rewritten graph on the same inputs and the outputs
      must agree.
   2. Idempotence: each pass run a second time reports zero changes and
      leaves the graph structurally identical.
   3. Malformed graphs (cycle, dangling input, shape mismatches) are refused
      or left alone by every pass, and the graph is unchanged.

   A failure prints the seed, the pass and the graph; rerun one graph with
   PROP_SEED=<seed> (which also prints it), more graphs with
   PROP_GRAPHS=<n>, and one pass list only with PROP_PASSES=a,b,c. */
#include "nn_graph.h"
#include "check.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROP_DEFAULT_GRAPHS 1000
#define PROP_MAX_ELEMS 2048 /* keeps every tensor small: the test must stay fast */
#define PROP_POOL 96
#define PROP_MAX_PRINTED 8 /* failing graphs printed in full */

/* ---- a growing string (graph dumps and structural snapshots) ---------------- */

typedef struct sbuf { char *s; size_t len, cap; } sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void sb_printf(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = b->cap ? vsnprintf(b->s + b->len, room, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && (size_t)n < room) { b->len += (size_t)n; return; }
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (n >= 0 && nc - b->len <= (size_t)n) nc *= 2;
        char *p = (char *)realloc(b->s, nc);
        if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
        b->s = p;
        b->cap = nc;
    }
}

static uint64_t fnv(const void *p, size_t n) {
    const unsigned char *c = (const unsigned char *)p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

static void sb_shape(sbuf *b, const nn_shape *s) {
    char buf[128];
    sb_printf(b, "%s", nn_shape_str(s, buf, sizeof buf));
}

/* Everything a pass could change: nodes (op, domain, name, inputs, outputs,
   attributes, origin), tensors (name, dtype, shape, flags, producer, data
   bytes and a hash of them), graph inputs and outputs. */
static void snapshot(const nn_graph *g, sbuf *b) {
    b->len = 0;
    sb_printf(b, "inputs");
    for (uint32_t i = 0; i < g->input_count; i++) sb_printf(b, " %u", g->inputs[i].id);
    sb_printf(b, "\noutputs");
    for (uint32_t i = 0; i < g->output_count; i++) sb_printf(b, " %u", g->outputs[i].id);
    sb_printf(b, "\n");
    for (uint32_t n = 0; n < g->node_count; n++) {
        const nn_node *nd = &g->nodes[n];
        sb_printf(b, "node %u %s:%s '%s' origin '%s' in", n, nd->domain, nd->op_type, nd->name ? nd->name : "",
                  nd->origin ? nd->origin : "");
        for (uint32_t i = 0; i < nd->input_count; i++) sb_printf(b, " %d", (int)nd->inputs[i].id);
        sb_printf(b, " out");
        for (uint32_t i = 0; i < nd->output_count; i++) sb_printf(b, " %d", (int)nd->outputs[i].id);
        for (uint32_t a = 0; a < nd->attr_count; a++) {
            const nn_attr *at = &nd->attrs[a];
            sb_printf(b, " @%s:%d", at->name, (int)at->type);
            if (at->type == NN_ATTR_INT) sb_printf(b, "=%lld", (long long)at->i);
            if (at->type == NN_ATTR_FLOAT) sb_printf(b, "=%a", (double)at->f);
            if (at->type == NN_ATTR_STRING) sb_printf(b, "=%s", at->s ? at->s : "");
            if (at->type == NN_ATTR_INTS)
                for (uint32_t k = 0; k < at->count; k++) sb_printf(b, ",%lld", (long long)at->ints[k]);
            if (at->type == NN_ATTR_FLOATS)
                for (uint32_t k = 0; k < at->count; k++) sb_printf(b, ",%a", (double)at->floats[k]);
            if (at->type == NN_ATTR_TENSOR && at->t.data)
                sb_printf(b, "#%llx", (unsigned long long)fnv(at->t.data, at->t.bytes));
        }
        sb_printf(b, "\n");
    }
    for (uint32_t t = 0; t < g->tensor_count; t++) {
        const nn_tensor *tt = &g->tensors[t];
        sb_printf(b, "tensor %u '%s' %d ", t, tt->name, (int)tt->dtype);
        sb_shape(b, &tt->shape);
        sb_printf(b, " flags %u producer %d bytes %zu", tt->flags, (int)tt->producer.id, tt->data_bytes);
        if (tt->data) sb_printf(b, " #%llx", (unsigned long long)fnv(tt->data, tt->data_bytes));
        sb_printf(b, "\n");
    }
}

/* The graph as an op list, for a failure report: one node a line with its
   input and output tensors and their shapes, then the outputs. */
static void dump_graph(const nn_graph *g, FILE *f) {
    char buf[128];
    for (uint32_t i = 0; i < g->input_count; i++) {
        const nn_tensor *t = &g->tensors[g->inputs[i].id];
        fprintf(f, "    input %s %s\n", t->name, nn_shape_str(&t->shape, buf, sizeof buf));
    }
    for (uint32_t n = 0; n < g->node_count; n++) {
        const nn_node *nd = &g->nodes[n];
        fprintf(f, "    %s %s(", nd->name, nd->op_type);
        for (uint32_t i = 0; i < nd->input_count; i++) {
            if (nd->inputs[i].id == NN_INVALID_ID) { fprintf(f, "%s-", i ? ", " : ""); continue; }
            const nn_tensor *t = &g->tensors[nd->inputs[i].id];
            fprintf(f, "%s%s%s %s", i ? ", " : "", t->flags & NN_TENSOR_CONST ? "=" : "", t->name,
                    nn_shape_str(&t->shape, buf, sizeof buf));
        }
        fprintf(f, ")");
        for (uint32_t a = 0; a < nd->attr_count; a++) {
            const nn_attr *at = &nd->attrs[a];
            fprintf(f, " %s=", at->name);
            if (at->type == NN_ATTR_INT) fprintf(f, "%lld", (long long)at->i);
            else if (at->type == NN_ATTR_FLOAT) fprintf(f, "%g", (double)at->f);
            else if (at->type == NN_ATTR_STRING) fprintf(f, "%s", at->s ? at->s : "");
            else if (at->type == NN_ATTR_INTS)
                for (uint32_t k = 0; k < at->count; k++) fprintf(f, "%s%lld", k ? "," : "[", (long long)at->ints[k]);
            else fprintf(f, "?");
            if (at->type == NN_ATTR_INTS) fprintf(f, "%s", at->count ? "]" : "[]");
        }
        fprintf(f, " ->");
        for (uint32_t o = 0; o < nd->output_count; o++) {
            if (nd->outputs[o].id == NN_INVALID_ID) continue;
            const nn_tensor *t = &g->tensors[nd->outputs[o].id];
            fprintf(f, " %s %s", t->name, nn_shape_str(&t->shape, buf, sizeof buf));
        }
        fprintf(f, "\n");
    }
    fprintf(f, "    outputs:");
    for (uint32_t i = 0; i < g->output_count; i++) fprintf(f, " %s", g->tensors[g->outputs[i].id].name);
    fprintf(f, "\n");
}

/* ---- the random graph generator --------------------------------------------- */

typedef struct rng { uint64_t s; } rng;

static uint32_t rnd(rng *r) { /* splitmix64, high half */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}
static int rint_(rng *r, int lo, int hi) { return lo + (int)(rnd(r) % (uint32_t)(hi - lo + 1)); } /* [lo, hi] */
static float rflt(rng *r, float lo, float hi) { return lo + (hi - lo) * (float)(rnd(r) >> 8) / 16777216.0f; }
static int chance(rng *r, int percent) { return (int)(rnd(r) % 100u) < percent; }

typedef struct gen {
    nn_graph *g;
    rng r;
    int opset;
    int names;  /* counter for unique tensor and node names */
    int failed; /* a builder call failed: a generator bug */
    int pool_n;
    nn_tensor_id pool[PROP_POOL]; /* float activations the next op may read */
    nn_shape pshape[PROP_POOL];
} gen;

static void gen_fail(gen *G, const nn_diag *d, const char *what) {
    if (!G->failed) fprintf(stderr, "generator: %s: %s: %s\n", what, d->where, d->message);
    G->failed = 1;
}

static nn_shape shp(int rank, const int64_t *dims) { return nn_shape_make(rank, dims); }

static size_t elems(const nn_shape *s) {
    int ok;
    return nn_shape_count(s, &ok);
}

static nn_tensor_id g_tensor(gen *G, nn_dtype t, const nn_shape *s) {
    char name[32];
    snprintf(name, sizeof name, "t%d", G->names++);
    nn_tensor_id id;
    id.id = NN_INVALID_ID;
    nn_diag d = {0};
    if (nn_graph_add_tensor(G->g, name, t, s, &id, &d)) gen_fail(G, &d, "add_tensor");
    return id;
}

static nn_tensor_id g_data(gen *G, nn_dtype t, const nn_shape *s, const void *data, size_t bytes) {
    nn_tensor_id id = g_tensor(G, t, s);
    nn_diag d = {0};
    if (id.id != NN_INVALID_ID && nn_graph_set_data(G->g, id, data, bytes, 1, &d)) gen_fail(G, &d, "set_data");
    return id;
}

/* A float initializer of shape s, uniform in [lo, hi]. */
static nn_tensor_id g_const(gen *G, const nn_shape *s, float lo, float hi) {
    size_t n = elems(s);
    float *v = (float *)malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = rflt(&G->r, lo, hi);
    nn_tensor_id id = g_data(G, NN_DTYPE_FLOAT, s, v, n * sizeof(float));
    free(v);
    return id;
}

static nn_tensor_id g_scalar(gen *G, float v) {
    nn_shape s = shp(0, NULL);
    return g_data(G, NN_DTYPE_FLOAT, &s, &v, sizeof v);
}

static nn_tensor_id g_ints(gen *G, const int64_t *v, int n) {
    int64_t n64 = n;
    nn_shape s = shp(1, &n64);
    return g_data(G, NN_DTYPE_INT64, &s, v, (size_t)n * sizeof(int64_t));
}

static nn_node_id g_node(gen *G, const char *op, const nn_tensor_id *in, uint32_t nin, nn_tensor_id out) {
    char name[32];
    snprintf(name, sizeof name, "n%d", G->names++);
    nn_node_id n;
    n.id = NN_INVALID_ID;
    nn_diag d = {0};
    if (nn_graph_add_node(G->g, op, "", name, in, nin, &out, 1, &n, &d)) gen_fail(G, &d, op);
    return n;
}

static void g_attr(gen *G, nn_node_id n, const nn_attr *a) {
    nn_diag d = {0};
    if (n.id != NN_INVALID_ID && nn_graph_add_attr(G->g, n, a, 0, &d)) gen_fail(G, &d, "add_attr");
}
static void attr_i(gen *G, nn_node_id n, const char *name, int64_t v) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.type = NN_ATTR_INT;
    a.i = v;
    g_attr(G, n, &a);
}
static void attr_f(gen *G, nn_node_id n, const char *name, float v) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.type = NN_ATTR_FLOAT;
    a.f = v;
    g_attr(G, n, &a);
}
static void attr_is(gen *G, nn_node_id n, const char *name, const int64_t *v, int cnt) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.type = NN_ATTR_INTS;
    a.ints = v;
    a.count = (uint32_t)cnt;
    g_attr(G, n, &a);
}

/* One-input float op: returns the output tensor (shape s). */
static nn_tensor_id op1(gen *G, const char *op, nn_tensor_id x, const nn_shape *s) {
    nn_tensor_id y = g_tensor(G, NN_DTYPE_FLOAT, s);
    g_node(G, op, &x, 1, y);
    return y;
}
static nn_tensor_id op2(gen *G, const char *op, nn_tensor_id a, nn_tensor_id b, const nn_shape *s) {
    nn_tensor_id y = g_tensor(G, NN_DTYPE_FLOAT, s), in[2] = {a, b};
    g_node(G, op, in, 2, y);
    return y;
}

static void push(gen *G, nn_tensor_id t, const nn_shape *s) {
    if (G->pool_n == PROP_POOL) return;
    G->pool[G->pool_n] = t;
    G->pshape[G->pool_n++] = *s;
}

static nn_shape last_dim_shape(const nn_shape *s) {
    int64_t d = s->dims[s->rank - 1];
    return shp(1, &d);
}

/* -- the op generators: each reads x (shape s) and pushes what it makes;
   returns 0 when the op does not apply to this shape. -- */

static void gen_bn(gen *G, nn_tensor_id x, const nn_shape *s) {
    int64_t c = s->dims[1];
    nn_shape cs = shp(1, &c);
    nn_tensor_id in[5] = {x, g_const(G, &cs, 0.5f, 1.5f), g_const(G, &cs, -0.5f, 0.5f), g_const(G, &cs, -0.5f, 0.5f),
                          g_const(G, &cs, 0.2f, 2.0f)};
    nn_tensor_id y = g_tensor(G, NN_DTYPE_FLOAT, s);
    nn_node_id n = g_node(G, "BatchNormalization", in, 5, y);
    if (chance(&G->r, 40)) attr_f(G, n, "epsilon", chance(&G->r, 50) ? 1e-3f : 1e-5f);
    push(G, y, s);
}

static int gen_conv(gen *G, nn_tensor_id x, const nn_shape *s) {
    if (s->rank != 4) return 0;
    rng *r = &G->r;
    int64_t C = s->dims[1], H = s->dims[2], W = s->dims[3];
    int64_t grp = 1;
    if (C > 1 && chance(r, 40)) grp = chance(r, 50) ? C : (C % 2 == 0 ? 2 : 1);
    int64_t M = grp * rint_(r, 1, grp > 2 ? 2 : 4), k = chance(r, 50) ? 3 : 1, st = chance(r, 25) ? 2 : 1;
    int64_t p = k == 3 ? rint_(r, 0, 1) : 0;
    if (H + 2 * p < k || W + 2 * p < k) return 0;
    int64_t yd[4] = {s->dims[0], M, (H + 2 * p - k) / st + 1, (W + 2 * p - k) / st + 1};
    int64_t wd[4] = {M, C / grp, k, k};
    nn_shape ys = shp(4, yd), ws = shp(4, wd);
    if (elems(&ys) > PROP_MAX_ELEMS) return 0;
    float sc = 1.0f / sqrtf((float)(C / grp * k * k));
    int bias = chance(r, 60);
    int64_t m64 = M;
    nn_shape bs = shp(1, &m64);
    nn_tensor_id in[3] = {x, g_const(G, &ws, -sc, sc), bias ? g_const(G, &bs, -0.5f, 0.5f) : x};
    nn_tensor_id y = g_tensor(G, NN_DTYPE_FLOAT, &ys);
    nn_node_id n = g_node(G, "Conv", in, bias ? 3 : 2, y);
    int64_t ks[2] = {k, k}, strides[2] = {st, st}, pads[4] = {p, p, p, p};
    if (chance(r, 70)) attr_is(G, n, "kernel_shape", ks, 2);
    if (st != 1 || chance(r, 30)) attr_is(G, n, "strides", strides, 2);
    if (p || chance(r, 30)) attr_is(G, n, "pads", pads, 4);
    if (grp != 1 || chance(r, 20)) attr_i(G, n, "group", grp);
    push(G, y, &ys);
    if (chance(r, 50)) gen_bn(G, y, &ys);
    return 1;
}

/* ConvTranspose, group 1 (what bn and affine fold into): W is (C, M, k, k),
   out = (in - 1) * stride - 2 pad + k. */
static int gen_convt(gen *G, nn_tensor_id x, const nn_shape *s) {
    if (s->rank != 4) return 0;
    rng *r = &G->r;
    int64_t C = s->dims[1], M = rint_(r, 1, 4), k = rint_(r, 1, 3), st = rint_(r, 1, 2), p = k == 3 ? rint_(r, 0, 1) : 0;
    int64_t yd[4] = {s->dims[0], M, (s->dims[2] - 1) * st - 2 * p + k, (s->dims[3] - 1) * st - 2 * p + k};
    int64_t wd[4] = {C, M, k, k}, ks[2] = {k, k}, strides[2] = {st, st}, pads[4] = {p, p, p, p};
    nn_shape ys = shp(4, yd), ws = shp(4, wd), bs = shp(1, &M);
    if (yd[2] < 1 || yd[3] < 1 || elems(&ys) > PROP_MAX_ELEMS) return 0;
    float sc = 1.0f / sqrtf((float)(C * k * k));
    int bias = chance(r, 60);
    nn_tensor_id in[3] = {x, g_const(G, &ws, -sc, sc), bias ? g_const(G, &bs, -0.5f, 0.5f) : x};
    nn_tensor_id y = g_tensor(G, NN_DTYPE_FLOAT, &ys);
    nn_node_id n = g_node(G, "ConvTranspose", in, bias ? 3 : 2, y);
    if (chance(r, 70)) attr_is(G, n, "kernel_shape", ks, 2);
    if (st != 1 || chance(r, 30)) attr_is(G, n, "strides", strides, 2);
    if (p || chance(r, 30)) attr_is(G, n, "pads", pads, 4);
    push(G, y, &ys);
    if (chance(r, 50)) gen_bn(G, y, &ys);
    return 1;
}

static int gen_gemm(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    nn_shape fs;
    if (s->rank > 2 && s->rank <= 4 && s->dims[0] > 0) { /* Flatten first, as classifier heads do */
        int64_t fd[2] = {s->dims[0], (int64_t)(elems(s) / (size_t)s->dims[0])};
        if (fd[1] > 256) return 0;
        fs = shp(2, fd);
        x = op1(G, "Flatten", x, &fs);
        s = &fs;
    }
    if (s->rank != 2) return 0;
    int64_t Mr = s->dims[0], K = s->dims[1], N = rint_(r, 1, 12);
    int tb = chance(r, 50);
    int64_t wd[2] = {tb ? N : K, tb ? K : N}, yd[2] = {Mr, N}, one_n[2] = {1, N};
    nn_shape ws = shp(2, wd), ys = shp(2, yd), ns = shp(1, &N), n1 = shp(2, one_n);
    float sc = 1.0f / sqrtf((float)K);
    int cform = rint_(r, 0, 3); /* no C, C (N), C (1,N), C (M,N) */
    nn_tensor_id in[3] = {x, g_const(G, &ws, -sc, sc), x};
    if (cform == 1) in[2] = g_const(G, &ns, -0.5f, 0.5f);
    if (cform == 2) in[2] = g_const(G, &n1, -0.5f, 0.5f);
    if (cform == 3) in[2] = g_const(G, &ys, -0.5f, 0.5f);
    nn_tensor_id y = g_tensor(G, NN_DTYPE_FLOAT, &ys);
    nn_node_id n = g_node(G, "Gemm", in, cform ? 3 : 2, y);
    if (tb || chance(r, 20)) attr_i(G, n, "transB", tb);
    if (chance(r, 25)) attr_f(G, n, "alpha", chance(r, 50) ? 0.5f : 2.0f);
    if (cform && chance(r, 25)) attr_f(G, n, "beta", chance(r, 50) ? 0.5f : 1.0f);
    push(G, y, &ys);
    if (chance(r, 50)) gen_bn(G, y, &ys);
    return 1;
}

static int gen_matmul(gen *G, nn_tensor_id x, const nn_shape *s) {
    if (s->rank < 2) return 0;
    rng *r = &G->r;
    nn_shape fs;
    if (s->rank > 2 && s->dims[0] > 0 && chance(r, 35)) { /* 2-D: the matmul_add / Gemm case */
        int64_t fd[2] = {s->dims[0], (int64_t)(elems(s) / (size_t)s->dims[0])};
        if (fd[1] > 256) return 0;
        fs = shp(2, fd);
        x = op1(G, "Flatten", x, &fs);
        s = &fs;
    }
    int64_t K = s->dims[s->rank - 1], N = rint_(r, 1, 12);
    int64_t wd[2] = {K, N};
    nn_shape ws = shp(2, wd), ys = *s, ns = shp(1, &N);
    ys.dims[ys.rank - 1] = N;
    if (elems(&ys) > PROP_MAX_ELEMS) return 0;
    float sc = 1.0f / sqrtf((float)K);
    nn_tensor_id w = g_const(G, &ws, -sc, sc);
    nn_tensor_id y = op2(G, "MatMul", x, w, &ys);
    if (chance(r, 50)) { /* MatMul + bias: the matmul_add / Gemm pattern */
        nn_tensor_id b = g_const(G, &ns, -0.5f, 0.5f);
        y = chance(r, 70) ? op2(G, "Add", y, b, &ys) : op2(G, "Add", b, y, &ys);
    }
    push(G, y, &ys);
    return 1;
}

/* Scaled dot-product attention on (B, S, D): softmax(q k^T / sqrt(dh) [+
   mask]) v, either on 3-D tensors or split into heads the way exporters
   write it: Reshape (B, S, h, dh) and Transpose to (B, h, S, dh), k to
   (B, h, dh, S), the result transposed back and merged. */
static int gen_attention(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    nn_shape tok;
    if (s->rank == 4 && s->dims[2] * s->dims[3] > 1) { /* image (N, C, H, W) to tokens (N, HW, C) first */
        int64_t rd[3] = {s->dims[0], s->dims[1], s->dims[2] * s->dims[3]}, td[3] = {rd[0], rd[2], rd[1]};
        int64_t perm[3] = {0, 2, 1};
        nn_shape rs = shp(3, rd);
        tok = shp(3, td);
        x = op2(G, "Reshape", x, g_ints(G, rd, 3), &rs);
        x = op1(G, "Transpose", x, &tok);
        attr_is(G, G->g->tensors[x.id].producer, "perm", perm, 3);
        s = &tok;
    }
    if (s->rank != 3) return 0;
    int64_t B = s->dims[0], S = s->dims[1], D = s->dims[2];
    int heads = chance(r, 50) ? rint_(r, 1, 2) : 0; /* 0: plain 3-D */
    int64_t dh = rint_(r, 1, 4), h = heads ? heads : 1, E = dh * h;
    int64_t wd[2] = {D, E}, qd[3] = {B, S, E};
    nn_shape ws = shp(2, wd), qs = shp(3, qd);
    float sc = 1.0f / sqrtf((float)D);
    nn_tensor_id q = op2(G, "MatMul", x, g_const(G, &ws, -sc, sc), &qs);
    nn_tensor_id k = op2(G, "MatMul", x, g_const(G, &ws, -sc, sc), &qs);
    nn_tensor_id v = op2(G, "MatMul", x, g_const(G, &ws, -sc, sc), &qs);
    nn_shape ss, os;
    nn_tensor_id kt;
    if (!heads) {
        int64_t ktd[3] = {B, E, S}, sd[3] = {B, S, S}, perm[3] = {0, 2, 1};
        nn_shape kts = shp(3, ktd);
        ss = shp(3, sd);
        os = qs;
        kt = op1(G, "Transpose", k, &kts);
        attr_is(G, G->g->tensors[kt.id].producer, "perm", perm, 3);
    } else {
        int64_t sp[4] = {B, S, h, dh}, hd[4] = {B, h, S, dh}, ktd[4] = {B, h, dh, S}, sd[4] = {B, h, S, S};
        int64_t p0213[4] = {0, 2, 1, 3}, p0231[4] = {0, 2, 3, 1};
        nn_shape sps = shp(4, sp), hs = shp(4, hd), kts = shp(4, ktd);
        ss = shp(4, sd);
        os = hs;
        nn_tensor_id split = g_ints(G, sp, 4);
        q = op2(G, "Reshape", q, split, &sps);
        q = op1(G, "Transpose", q, &hs);
        attr_is(G, G->g->tensors[q.id].producer, "perm", p0213, 4);
        k = op2(G, "Reshape", k, split, &sps);
        kt = op1(G, "Transpose", k, &kts);
        attr_is(G, G->g->tensors[kt.id].producer, "perm", p0231, 4);
        v = op2(G, "Reshape", v, split, &sps);
        v = op1(G, "Transpose", v, &hs);
        attr_is(G, G->g->tensors[v.id].producer, "perm", p0213, 4);
    }
    float scale = sqrtf((float)dh);
    if (chance(r, 25)) { q = op2(G, "Mul", q, g_scalar(G, 1.0f / scale), &os); scale = 1.0f; } /* q scaled first */
    nn_tensor_id sco = op2(G, "MatMul", q, kt, &ss);
    if (scale != 1.0f)
        sco = chance(r, 50) ? op2(G, "Div", sco, g_scalar(G, scale), &ss) : op2(G, "Mul", sco, g_scalar(G, 1.0f / scale), &ss);
    if (chance(r, 35)) { /* an additive mask, (S, S): causal-style 0 / -1e4 */
        int64_t md[2] = {S, S};
        nn_shape ms = shp(2, md);
        float *mv = (float *)malloc((size_t)(S * S) * sizeof(float));
        for (int64_t i = 0; i < S; i++)
            for (int64_t j = 0; j < S; j++) mv[i * S + j] = j > i ? -10000.0f : 0.0f;
        sco = op2(G, "Add", sco, g_data(G, NN_DTYPE_FLOAT, &ms, mv, (size_t)(S * S) * sizeof(float)), &ss);
        free(mv);
    }
    nn_tensor_id p = op1(G, "Softmax", sco, &ss);
    if (chance(r, 50)) attr_i(G, G->g->tensors[p.id].producer, "axis", -1);
    nn_tensor_id o = op2(G, "MatMul", p, v, &os);
    if (heads) {
        int64_t bd[4] = {B, S, h, dh}, p0213[4] = {0, 2, 1, 3};
        nn_shape bs = shp(4, bd);
        o = op1(G, "Transpose", o, &bs);
        attr_is(G, G->g->tensors[o.id].producer, "perm", p0213, 4);
        o = op2(G, "Reshape", o, g_ints(G, qd, 3), &qs);
    }
    push(G, o, &qs);
    return 1;
}

static const char *const bin_ops[4] = {"Add", "Mul", "Sub", "Div"};

/* x (op) constant; the constant is a scalar, a last-dim vector, per-channel
   (rank 4) or full shape; Div divides by a constant away from zero. */
static int gen_bin_const(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    int k = rint_(r, 0, 3), form = rint_(r, 0, 3);
    nn_shape cs;
    if (form == 0) cs = shp(0, NULL);
    else if (form == 1 && s->rank >= 1) cs = last_dim_shape(s);
    else if (form == 2 && s->rank == 4) {
        int64_t cd[4] = {1, s->dims[1], 1, 1};
        cs = shp(3, cd + 1);
        if (chance(r, 50)) cs = shp(4, cd);
    } else cs = *s;
    nn_shape ys = *s;
    if (cs.rank > s->rank) return 0;
    nn_tensor_id c;
    if (k == 3) {
        c = g_const(G, &cs, 0.5f, 2.0f);
        if (chance(r, 50)) c = op1(G, "Neg", c, &cs); /* a constant computed by a node: fold target */
    } else c = g_const(G, &cs, -1.0f, 1.0f);
    nn_tensor_id y = (k == 3 || chance(r, 60)) ? op2(G, bin_ops[k], x, c, &ys) : op2(G, bin_ops[k], c, x, &ys);
    push(G, y, &ys);
    return 1;
}

/* x (op) an activation of the same shape; Div by sigmoid(y) + 0.5 > 0.5. */
static int gen_bin_act(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    int j = -1;
    for (int tries = 0; tries < 8 && j < 0; tries++) {
        int c = rint_(r, 0, G->pool_n - 1);
        if (nn_shape_equal(&G->pshape[c], s)) j = c;
    }
    nn_tensor_id o = j >= 0 ? G->pool[j] : x;
    int k = rint_(r, 0, 3);
    if (k == 3) {
        nn_tensor_id sg = op1(G, "Sigmoid", o, s);
        o = op2(G, "Add", sg, g_scalar(G, 0.5f), s);
    }
    push(G, op2(G, bin_ops[k], x, o, s), s);
    return 1;
}

static int gen_act(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    int k = rint_(r, 0, 8);
    nn_tensor_id y;
    nn_node_id n;
    switch (k) {
    case 0: y = op1(G, "Relu", x, s); break;
    case 1: {
        nn_tensor_id in[3] = {x, g_scalar(G, rflt(r, -1.0f, 0.0f)), g_scalar(G, rflt(r, 0.1f, 2.0f))};
        int form = rint_(r, 0, 2); /* min and max, min only, max only */
        if (form == 2) in[1].id = NN_INVALID_ID;
        y = g_tensor(G, NN_DTYPE_FLOAT, s);
        g_node(G, "Clip", in, form == 1 ? 2 : 3, y);
        break;
    }
    case 2:
        y = op1(G, "LeakyRelu", x, s);
        if (chance(r, 70)) attr_f(G, G->g->tensors[y.id].producer, "alpha", rflt(r, 0.01f, 0.3f));
        break;
    case 3: y = op1(G, "Sigmoid", x, s); break;
    case 4: y = op1(G, "Tanh", x, s); break;
    case 5:
        y = op1(G, "HardSigmoid", x, s);
        n = G->g->tensors[y.id].producer;
        if (chance(r, 50)) attr_f(G, n, "alpha", 1.0f / 6.0f);
        if (chance(r, 50)) attr_f(G, n, "beta", 0.5f);
        break;
    case 6:
        if (G->opset >= 14) { y = op1(G, "HardSwish", x, s); break; }
        y = op1(G, "Relu", x, s);
        break;
    default: { /* x * sigmoid(x), either order (SiLU / Swish) */
        nn_tensor_id sg = op1(G, "Sigmoid", x, s);
        y = chance(r, 50) ? op2(G, "Mul", x, sg, s) : op2(G, "Mul", sg, x, s);
    }
    }
    push(G, y, s);
    return 1;
}

static int gen_ident(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    if (chance(r, 50)) { push(G, op1(G, "Identity", x, s), s); return 1; }
    nn_tensor_id in[2] = {x, g_scalar(G, 0.5f)};
    nn_tensor_id y = g_tensor(G, NN_DTYPE_FLOAT, s);
    g_node(G, "Dropout", in, chance(r, 50) ? 2 : 1, y);
    push(G, y, s);
    return 1;
}

static int gen_reshape(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    int64_t t[NN_MAX_RANK];
    int tr = 0, form = rint_(r, 0, 3);
    size_t n = elems(s);
    if (form == 0 || s->rank < 2) { /* the same shape, with a 0 or -1 code sometimes */
        for (int i = 0; i < s->rank; i++) t[tr++] = s->dims[i];
        if (s->rank && chance(r, 40)) t[rint_(r, 0, s->rank - 1)] = 0;
        else if (s->rank && chance(r, 40)) t[rint_(r, 0, s->rank - 1)] = -1;
    } else if (form == 1) { /* merge the last two dims */
        for (int i = 0; i < s->rank - 2; i++) t[tr++] = s->dims[i];
        t[tr++] = s->dims[s->rank - 2] * s->dims[s->rank - 1];
    } else if (form == 2 && s->rank < NN_MAX_RANK && s->dims[s->rank - 1] % 2 == 0) { /* split the last dim */
        for (int i = 0; i < s->rank - 1; i++) t[tr++] = s->dims[i];
        t[tr++] = s->dims[s->rank - 1] / 2;
        t[tr++] = chance(r, 50) ? 2 : -1;
    } else { /* flatten */
        t[tr++] = 1;
        t[tr++] = -1;
    }
    nn_shape ys = shp(tr, t);
    for (int i = 0; i < tr; i++) {
        if (t[i] == 0) ys.dims[i] = s->dims[i];
    }
    for (int i = 0; i < tr; i++)
        if (t[i] == -1) {
            size_t rest = 1;
            for (int j = 0; j < tr; j++)
                if (j != i) rest *= (size_t)ys.dims[j];
            ys.dims[i] = (int64_t)(rest ? n / rest : 0);
        }
    nn_tensor_id sh = g_ints(G, t, tr);
    push(G, op2(G, "Reshape", x, sh, &ys), &ys);
    return 1;
}

static void rand_perm(rng *r, int64_t *p, int n) {
    for (int i = 0; i < n; i++) p[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = rint_(r, 0, i);
        int64_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

static int gen_transpose(gen *G, nn_tensor_id x, const nn_shape *s) {
    if (s->rank < 1) return 0;
    rng *r = &G->r;
    int64_t p[NN_MAX_RANK], inv[NN_MAX_RANK];
    rand_perm(r, p, s->rank);
    nn_shape ys = *s;
    for (int i = 0; i < s->rank; i++) ys.dims[i] = s->dims[p[i]];
    nn_tensor_id y = op1(G, "Transpose", x, &ys);
    attr_is(G, G->g->tensors[y.id].producer, "perm", p, s->rank);
    if (chance(r, 60)) { /* the inverse: a pair that cancels */
        for (int i = 0; i < s->rank; i++) inv[p[i]] = i;
        y = op1(G, "Transpose", y, s);
        attr_is(G, G->g->tensors[y.id].producer, "perm", inv, s->rank);
        push(G, y, s);
    } else push(G, y, &ys);
    return 1;
}

static int gen_concat(gen *G, nn_tensor_id x, const nn_shape *s) {
    if (s->rank < 1) return 0;
    rng *r = &G->r;
    int axis = rint_(r, 0, s->rank - 1);
    nn_shape os = *s;
    int which = rint_(r, 0, 2);
    nn_tensor_id o = x;
    if (which == 0) { /* another activation that fits */
        for (int c = G->pool_n - 1; c >= 0; c--) {
            const nn_shape *q = &G->pshape[c];
            int fits = q->rank == s->rank;
            for (int i = 0; fits && i < s->rank; i++) fits = i == axis || q->dims[i] == s->dims[i];
            if (fits && G->pool[c].id != x.id) { o = G->pool[c]; os = *q; break; }
        }
    } else if (which == 1) { /* a constant */
        os.dims[axis] = rint_(r, 1, 3);
        o = g_const(G, &os, -1.0f, 1.0f);
    }
    nn_shape ys = *s;
    ys.dims[axis] += os.dims[axis];
    if (elems(&ys) > PROP_MAX_ELEMS) return 0;
    nn_tensor_id y = chance(r, 70) ? op2(G, "Concat", x, o, &ys) : op2(G, "Concat", o, x, &ys);
    attr_i(G, G->g->tensors[y.id].producer, "axis", chance(r, 50) ? axis : axis - s->rank);
    push(G, y, &ys);
    return 1;
}

static int gen_slice(gen *G, nn_tensor_id x, const nn_shape *s) {
    if (s->rank < 1) return 0;
    rng *r = &G->r;
    int64_t st[NN_MAX_RANK], en[NN_MAX_RANK], ax[NN_MAX_RANK], sp[NN_MAX_RANK];
    int n = 0;
    nn_shape ys = *s;
    if (chance(r, 40)) { /* no-op: every axis whole */
        for (int i = 0; i < s->rank; i++) {
            st[n] = 0;
            en[n] = chance(r, 50) ? s->dims[i] : INT64_MAX;
            ax[n] = i;
            sp[n++] = 1;
        }
    } else {
        int a = rint_(r, 0, s->rank - 1);
        int64_t d = s->dims[a];
        if (d < 2) return 0;
        int64_t b = rint_(r, 0, (int)d - 2), e = rint_(r, (int)b + 1, (int)d), step = chance(r, 30) ? 2 : 1;
        st[n] = b;
        en[n] = e;
        ax[n] = chance(r, 50) ? a : a - s->rank;
        sp[n++] = step;
        ys.dims[a] = (e - b + step - 1) / step;
    }
    int form = rint_(r, 0, 2); /* starts+ends(+axes)(+steps) */
    nn_tensor_id in[5] = {x, g_ints(G, st, n), g_ints(G, en, n), g_ints(G, ax, n), g_ints(G, sp, n)};
    int nin = 5;
    int trivial_axes = n == s->rank;
    for (int i = 0; i < n; i++) trivial_axes &= ax[i] == i;
    int unit = 1;
    for (int i = 0; i < n; i++) unit &= sp[i] == 1;
    if (form == 0 && trivial_axes && unit) nin = 3;
    else if (form == 1 && unit) nin = 4;
    nn_tensor_id y = g_tensor(G, NN_DTYPE_FLOAT, &ys);
    g_node(G, "Slice", in, (uint32_t)nin, y);
    push(G, y, &ys);
    return 1;
}

static int gen_pad(gen *G, nn_tensor_id x, const nn_shape *s) {
    if (s->rank < 1) return 0;
    rng *r = &G->r;
    int64_t pads[2 * NN_MAX_RANK];
    memset(pads, 0, sizeof pads);
    nn_shape ys = *s;
    if (chance(r, 60)) {
        for (int i = s->rank >= 2 ? s->rank - 2 : 0; i < s->rank; i++) {
            pads[i] = rint_(r, 0, 2);
            pads[i + s->rank] = rint_(r, 0, 2);
            ys.dims[i] += pads[i] + pads[i + s->rank];
        }
    }
    if (elems(&ys) > PROP_MAX_ELEMS) return 0;
    int cv = rint_(r, 0, 2); /* no constant_value, 0, non-zero */
    nn_tensor_id in[3] = {x, g_ints(G, pads, 2 * s->rank), g_scalar(G, cv == 1 ? 0.0f : rflt(r, -1.0f, 1.0f))};
    nn_tensor_id y = g_tensor(G, NN_DTYPE_FLOAT, &ys);
    g_node(G, "Pad", in, cv ? 3 : 2, y);
    push(G, y, &ys);
    return 1;
}

static int gen_softmax(gen *G, nn_tensor_id x, const nn_shape *s) {
    if (s->rank < 1) return 0;
    rng *r = &G->r;
    nn_tensor_id y = op1(G, "Softmax", x, s);
    if (chance(r, 60)) attr_i(G, G->g->tensors[y.id].producer, "axis", chance(r, 50) ? -1 : rint_(r, 0, s->rank - 1));
    push(G, y, s);
    return 1;
}

static int gen_reducemean(gen *G, nn_tensor_id x, const nn_shape *s) {
    if (s->rank < 1) return 0;
    rng *r = &G->r;
    int64_t axes[NN_MAX_RANK];
    int na = 0, keep = chance(r, 60);
    nn_shape ys;
    ys.rank = 0;
    for (int i = 0; i < s->rank; i++) {
        int red = chance(r, 40) || (i == s->rank - 1 && na == 0);
        if (red) axes[na++] = chance(r, 50) ? i : i - s->rank;
        if (!red) ys.dims[ys.rank++] = s->dims[i];
        else if (keep) ys.dims[ys.rank++] = 1;
    }
    nn_tensor_id y = op1(G, "ReduceMean", x, &ys);
    nn_node_id n = G->g->tensors[y.id].producer;
    attr_is(G, n, "axes", axes, na);
    if (!keep || chance(r, 30)) attr_i(G, n, "keepdims", keep);
    push(G, y, &ys);
    return 1;
}

/* Shape -> Gather -> (Unsqueeze) -> Concat(-1) -> Reshape, the pattern
   exporters write for a batch-preserving flatten. */
static int gen_shape_chain(gen *G, nn_tensor_id x, const nn_shape *s) {
    if (s->rank < 2) return 0;
    rng *r = &G->r;
    int64_t rk = s->rank, one = 1, two = 2, three = 3;
    nn_shape shs = shp(1, &rk), s1 = shp(1, &one), s2 = shp(1, &two), s3 = shp(1, &three), sc = shp(0, NULL);
    nn_tensor_id sh = g_tensor(G, NN_DTYPE_INT64, &shs);
    g_node(G, "Shape", &x, 1, sh);
    int keep2 = s->rank >= 3 && chance(r, 40);
    nn_tensor_id lead = g_tensor(G, NN_DTYPE_INT64, keep2 ? &s2 : &s1);
    if (keep2) {
        int64_t idx[2] = {0, 1};
        nn_tensor_id in[2] = {sh, g_ints(G, idx, 2)};
        g_node(G, "Gather", in, 2, lead);
    } else if (chance(r, 50)) {
        int64_t idx = 0;
        nn_tensor_id in[2] = {sh, g_ints(G, &idx, 1)};
        g_node(G, "Gather", in, 2, lead);
    } else {
        int64_t idx = 0, ax0 = 0;
        nn_tensor_id g0 = g_tensor(G, NN_DTYPE_INT64, &sc);
        nn_tensor_id in[2] = {sh, g_data(G, NN_DTYPE_INT64, &sc, &idx, sizeof idx)};
        nn_node_id gn = g_node(G, "Gather", in, 2, g0);
        attr_i(G, gn, "axis", 0);
        nn_tensor_id uin[2] = {g0, g_ints(G, &ax0, 1)};
        g_node(G, "Unsqueeze", uin, 2, lead);
    }
    int64_t m1 = -1;
    nn_tensor_id tgt = g_tensor(G, NN_DTYPE_INT64, keep2 ? &s3 : &s2);
    nn_tensor_id cin[2] = {lead, g_ints(G, &m1, 1)};
    attr_i(G, g_node(G, "Concat", cin, 2, tgt), "axis", 0);
    int64_t yd[3] = {s->dims[0], 0, 0};
    if (keep2) yd[1] = s->dims[1];
    yd[keep2 ? 2 : 1] = (int64_t)(elems(s) / (size_t)(s->dims[0] * (keep2 ? s->dims[1] : 1)));
    if (s->dims[0] == 0 || (keep2 && s->dims[1] == 0)) return 0;
    nn_shape ys = shp(keep2 ? 3 : 2, yd);
    push(G, op2(G, "Reshape", x, tgt, &ys), &ys);
    return 1;
}

static int gen_cast(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    if (chance(r, 50)) {
        nn_tensor_id y = op1(G, "Cast", x, s);
        attr_i(G, G->g->tensors[y.id].producer, "to", NN_DTYPE_FLOAT);
        push(G, y, s);
        return 1;
    }
    nn_tensor_id d = g_tensor(G, NN_DTYPE_DOUBLE, s); /* float -> double -> float is exact */
    attr_i(G, g_node(G, "Cast", &x, 1, d), "to", NN_DTYPE_DOUBLE);
    nn_tensor_id y = g_tensor(G, NN_DTYPE_FLOAT, s);
    attr_i(G, g_node(G, "Cast", &d, 1, y), "to", NN_DTYPE_FLOAT);
    push(G, y, s);
    return 1;
}

/* GELU, exact: 0.5 x (1 + erf(x / sqrt 2)), in the two orders exporters use. */
static int gen_gelu_erf(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    nn_tensor_id y;
    if (chance(r, 50)) {
        nn_tensor_id a = op2(G, "Div", x, g_scalar(G, 1.4142135381698608f), s);
        nn_tensor_id b = op1(G, "Erf", a, s);
        nn_tensor_id c = op2(G, "Add", b, g_scalar(G, 1.0f), s);
        nn_tensor_id d = op2(G, "Mul", x, c, s);
        y = op2(G, "Mul", d, g_scalar(G, 0.5f), s);
    } else {
        nn_tensor_id h = op2(G, "Mul", x, g_scalar(G, 0.5f), s);
        nn_tensor_id a = op2(G, "Mul", x, g_scalar(G, 0.7071067690849304f), s);
        nn_tensor_id b = op1(G, "Erf", a, s);
        nn_tensor_id c = op2(G, "Add", g_scalar(G, 1.0f), b, s);
        y = op2(G, "Mul", h, c, s);
    }
    push(G, y, s);
    return 1;
}

/* HardSwish written out (the hswish pass): x * Clip(x + 3, 0, 6) / 6,
   x * (Clip(3 + x, 0, 6) * 1/6), or x * HardSigmoid(x, 1/6, 1/2); at
   opset 13 the pass must leave them, at 17 fuse them. */
static int gen_hswish(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    int form = (int)(rnd(r) % 3);
    nn_tensor_id y;
    if (form == 2) {
        nn_tensor_id h = op1(G, "HardSigmoid", x, s);
        nn_node *n = &G->g->nodes[G->g->node_count - 1];
        nn_attr a;
        memset(&a, 0, sizeof a);
        a.name = "alpha";
        a.type = NN_ATTR_FLOAT;
        a.f = 1.0f / 6.0f;
        nn_node_id nid;
        nid.id = (uint32_t)(n - G->g->nodes);
        nn_graph_add_attr(G->g, nid, &a, 0, NULL);
        y = op2(G, "Mul", x, h, s);
    } else {
        nn_tensor_id a = form ? op2(G, "Add", g_scalar(G, 3.0f), x, s) : op2(G, "Add", x, g_scalar(G, 3.0f), s);
        nn_tensor_id in[3] = {a, g_scalar(G, 0.0f), g_scalar(G, 6.0f)};
        nn_tensor_id c = g_tensor(G, NN_DTYPE_FLOAT, s);
        g_node(G, "Clip", in, 3, c);
        if (form == 0) y = op2(G, "Div", op2(G, "Mul", x, c, s), g_scalar(G, 6.0f), s);
        else y = op2(G, "Mul", op2(G, "Mul", c, g_scalar(G, 1.0f / 6.0f), s), x, s);
    }
    push(G, y, s);
    return 1;
}

/* GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
static int gen_gelu_tanh(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    nn_tensor_id p;
    if (chance(r, 50)) p = op2(G, "Pow", x, g_scalar(G, 3.0f), s);
    else p = op2(G, "Mul", op2(G, "Mul", x, x, s), x, s);
    nn_tensor_id q = op2(G, "Mul", p, g_scalar(G, 0.044715f), s);
    nn_tensor_id a = op2(G, "Add", x, q, s);
    nn_tensor_id b = op2(G, "Mul", a, g_scalar(G, 0.7978845834732056f), s);
    nn_tensor_id t = op1(G, "Tanh", b, s);
    nn_tensor_id c = op2(G, "Add", t, g_scalar(G, 1.0f), s);
    nn_tensor_id d = op2(G, "Mul", x, c, s);
    push(G, op2(G, "Mul", d, g_scalar(G, 0.5f), s), s);
    return 1;
}

/* LayerNorm over the last axis written out as ReduceMean/Sub/Pow/ReduceMean/
   Add/Sqrt/Div(/Mul gamma/Add beta), as exporters emit it before opset 17. */
static int gen_layernorm(gen *G, nn_tensor_id x, const nn_shape *s) {
    if (s->rank < 1 || s->dims[s->rank - 1] < 4) return 0;
    rng *r = &G->r;
    nn_shape ms = *s, ds = last_dim_shape(s);
    ms.dims[ms.rank - 1] = 1;
    int64_t ax = chance(r, 70) ? -1 : s->rank - 1;
    nn_tensor_id m = op1(G, "ReduceMean", x, &ms);
    attr_is(G, G->g->tensors[m.id].producer, "axes", &ax, 1);
    nn_tensor_id d = op2(G, "Sub", x, m, s);
    nn_tensor_id sq = chance(r, 60) ? op2(G, "Pow", d, g_scalar(G, 2.0f), s) : op2(G, "Mul", d, d, s);
    nn_tensor_id v = op1(G, "ReduceMean", sq, &ms);
    attr_is(G, G->g->tensors[v.id].producer, "axes", &ax, 1);
    float eps = chance(r, 50) ? 1e-5f : (chance(r, 50) ? 1e-6f : 1e-12f);
    nn_tensor_id e = op2(G, "Add", v, g_scalar(G, eps), &ms);
    nn_tensor_id sd = op1(G, "Sqrt", e, &ms);
    nn_tensor_id y = op2(G, "Div", d, sd, s);
    if (chance(r, 80)) y = op2(G, "Mul", y, g_const(G, &ds, 0.5f, 1.5f), s);
    if (chance(r, 80)) y = op2(G, "Add", y, g_const(G, &ds, -0.5f, 0.5f), s);
    push(G, y, s);
    return 1;
}

/* The same subexpression twice on one input (sometimes with a duplicated
   constant: equal bytes, another name), both results used. */
static int gen_repeat(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    int k = rint_(r, 0, 3);
    nn_tensor_id a, b;
    if (k == 0) { a = op1(G, "Relu", x, s); b = op1(G, "Relu", x, s); }
    else if (k == 1) { a = op1(G, "Sigmoid", x, s); b = op1(G, "Sigmoid", x, s); }
    else {
        nn_shape cs = chance(r, 50) ? last_dim_shape(s) : shp(0, NULL);
        if (s->rank == 0) cs = shp(0, NULL);
        nn_tensor_id c = g_const(G, &cs, -1.0f, 1.0f), c2 = c;
        if (chance(r, 60)) { /* a duplicate initializer */
            const nn_tensor *ct = &G->g->tensors[c.id];
            size_t bytes = ct->data_bytes;
            void *copy = malloc(bytes ? bytes : 1);
            memcpy(copy, ct->data, bytes);
            c2 = g_data(G, NN_DTYPE_FLOAT, &cs, copy, bytes);
            free(copy);
        }
        const char *op = k == 2 ? "Add" : "Mul";
        a = op2(G, op, x, c, s);
        b = op2(G, op, x, c2, s);
    }
    push(G, op2(G, chance(r, 50) ? "Add" : "Mul", a, b, s), s);
    return 1;
}

/* A computation on constants only (fold target), then used with x. */
static int gen_const_chain(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    nn_shape cs = s->rank && chance(r, 60) ? last_dim_shape(s) : shp(0, NULL);
    nn_tensor_id c = op2(G, "Add", g_const(G, &cs, -1.0f, 1.0f), g_const(G, &cs, -1.0f, 1.0f), &cs);
    if (chance(r, 50)) c = op2(G, "Mul", c, g_const(G, &cs, 0.5f, 1.5f), &cs);
    if (chance(r, 30)) c = op1(G, "Identity", c, &cs);
    push(G, op2(G, chance(r, 50) ? "Add" : "Mul", x, c, s), s);
    return 1;
}

/* Rank changes, so that 2-D, 3-D and 4-D ops all find operands. */
static int gen_rank(gen *G, nn_tensor_id x, const nn_shape *s) {
    rng *r = &G->r;
    if (s->rank == 4) {
        int64_t N = s->dims[0], C = s->dims[1], HW = s->dims[2] * s->dims[3];
        int k = rint_(r, 0, 2);
        if (k == 0) { /* GlobalAveragePool + Flatten: (N, C) */
            int64_t pd[4] = {N, C, 1, 1}, fd[2] = {N, C};
            nn_shape ps = shp(4, pd), fs = shp(2, fd);
            nn_tensor_id p = op1(G, "GlobalAveragePool", x, &ps);
            push(G, op1(G, "Flatten", p, &fs), &fs);
        } else if (k == 1) { /* Flatten: (N, C*H*W) */
            int64_t fd[2] = {N, C * HW};
            nn_shape fs = shp(2, fd);
            push(G, op1(G, "Flatten", x, &fs), &fs);
        } else { /* (N, C, HW) -> (N, HW, C): image to tokens */
            int64_t rd[3] = {N, C, HW}, td[3] = {N, HW, C}, perm[3] = {0, 2, 1};
            nn_shape rs = shp(3, rd), ts = shp(3, td);
            nn_tensor_id y = op2(G, "Reshape", x, g_ints(G, rd, 3), &rs);
            y = op1(G, "Transpose", y, &ts);
            attr_is(G, G->g->tensors[y.id].producer, "perm", perm, 3);
            push(G, y, &ts);
        }
        return 1;
    }
    if (s->rank == 3 || s->rank == 2) { /* Unsqueeze to one rank more */
        int64_t ax = rint_(r, 0, s->rank);
        nn_shape ys;
        ys.rank = s->rank + 1;
        for (int i = 0, j = 0; i < ys.rank; i++) ys.dims[i] = i == ax ? 1 : s->dims[j++];
        push(G, op2(G, "Unsqueeze", x, g_ints(G, &ax, 1), &ys), &ys);
        return 1;
    }
    return 0;
}

typedef int (*gen_fn)(gen *G, nn_tensor_id x, const nn_shape *s);
static const gen_fn gen_table[] = {gen_conv,       gen_conv,      gen_convt,     gen_gemm,     gen_matmul,     gen_attention,
                                   gen_bin_const,  gen_bin_const, gen_bin_act,  gen_act,        gen_act,
                                   gen_ident,      gen_reshape,   gen_transpose, gen_concat,    gen_slice,
                                   gen_pad,        gen_softmax,   gen_reducemean, gen_shape_chain, gen_cast,
                                   gen_gelu_erf,   gen_gelu_tanh, gen_layernorm, gen_repeat,    gen_const_chain,
                                   gen_rank,       gen_rank,      gen_hswish};

/* Builds the graph of seed; the same seed gives the same graph (names, ids,
   constants) and the same inputs.  NULL on a generator bug (printed). */
static nn_graph *build(uint32_t seed) {
    gen G;
    memset(&G, 0, sizeof G);
    G.r.s = 0x5EEDull * 1000003ull + seed;
    nn_diag d = {0};
    if (nn_graph_create(NULL, &G.g, &d)) return NULL;
    rng *r = &G.r;
    G.opset = chance(r, 50) ? 13 : 17;
    nn_graph_set_opset(G.g, "", G.opset, &d);
    int64_t xd[4] = {rint_(r, 1, 2), rint_(r, 1, 6), rint_(r, 1, 7), rint_(r, 1, 7)};
    nn_shape xs = shp(4, xd);
    nn_tensor_id x = g_tensor(&G, NN_DTYPE_FLOAT, &xs);
    nn_graph_add_input(G.g, x, &d);
    push(&G, x, &xs);
    if (chance(r, 50)) {
        int64_t td[3] = {rint_(r, 1, 2), rint_(r, 1, 6), rint_(r, 2, 8)};
        nn_shape ts = shp(3, td);
        nn_tensor_id t = g_tensor(&G, NN_DTYPE_FLOAT, &ts);
        nn_graph_add_input(G.g, t, &d);
        push(&G, t, &ts);
    }
    int inputs = G.pool_n, steps = rint_(r, 3, 10);
    for (int k = 0; k < steps && !G.failed; k++) {
        int c = chance(r, 70) ? G.pool_n - 1 - rint_(r, 0, G.pool_n < 3 ? G.pool_n - 1 : 2) : rint_(r, 0, G.pool_n - 1);
        nn_tensor_id t = G.pool[c];
        nn_shape s = G.pshape[c];
        for (int tries = 0; tries < 6; tries++) {
            gen_fn f = gen_table[rnd(r) % (sizeof gen_table / sizeof gen_table[0])];
            if (f(&G, t, &s)) break;
        }
    }
    if (G.pool_n == inputs) gen_act(&G, G.pool[0], &G.pshape[0]); /* at least one node */
    /* Outputs: the last value, sometimes one or two earlier ones too;
       everything else is left for dce. */
    nn_graph_add_output(G.g, G.pool[G.pool_n - 1], &d);
    for (int k = 0; k < 2; k++) {
        if (!chance(r, 35) || G.pool_n - inputs < 2) continue;
        int c = rint_(r, inputs, G.pool_n - 2);
        int dup = 0;
        for (uint32_t o = 0; o < G.g->output_count; o++) dup |= G.g->outputs[o].id == G.pool[c].id;
        if (!dup) nn_graph_add_output(G.g, G.pool[c], &d);
    }
    if (d.status) gen_fail(&G, &d, "inputs/outputs");
    if (G.failed) {
        fprintf(stderr, "seed %u: generator failed\n", seed);
        nn_graph_destroy(G.g);
        return NULL;
    }
    return G.g;
}

/* ---- running and comparing --------------------------------------------------- */

typedef struct outs { uint32_t n; nn_value v[8]; } outs;

static void outs_free(outs *o) {
    for (uint32_t i = 0; i < o->n; i++) free(o->v[i].data);
    o->n = 0;
}

/* Runs g on inputs drawn from seed; copies the outputs into *o. */
static nn_status run_graph(const nn_graph *g, uint32_t seed, outs *o, nn_diag *d) {
    memset(o, 0, sizeof *o);
    nn_exec *x;
    nn_exec_desc xd;
    memset(&xd, 0, sizeof xd);
    xd.threads = 1;
    nn_status st = nn_exec_create(g, &xd, &x, d);
    if (st) return st;
    float *bufs[4] = {0};
    rng r;
    r.s = seed * 7919ull + 17;
    for (uint32_t i = 0; i < g->input_count && i < 4 && st == NN_OK; i++) {
        const nn_tensor *t = &g->tensors[g->inputs[i].id];
        size_t n = elems(&t->shape);
        bufs[i] = (float *)malloc((n ? n : 1) * sizeof(float));
        for (size_t k = 0; k < n; k++) bufs[i][k] = rflt(&r, -2.0f, 2.0f);
        nn_value v = nn_value_make(NN_DTYPE_FLOAT, t->shape, bufs[i]);
        st = nn_exec_set_input(x, i, &v, d);
    }
    if (st == NN_OK) st = nn_exec_run(x, d);
    for (uint32_t i = 0; i < g->output_count && i < 8 && st == NN_OK; i++) {
        const nn_value *v = nn_exec_output(x, i);
        o->v[i] = *v;
        o->v[i].flags = 0;
        o->v[i].data = malloc(v->bytes ? v->bytes : 1);
        memcpy(o->v[i].data, v->data, v->bytes);
        o->n = i + 1;
    }
    for (int i = 0; i < 4; i++) free(bufs[i]);
    nn_exec_destroy(x);
    return st;
}

/* Tolerance.  Passes that only rewire (identity, dce, Transpose/Slice/Pad
   no-ops, CSE) must give bit-identical results.  Folding evaluates
   constants with the executor's own kernels, so it is exact as well, but
   fusions reassociate float arithmetic: a BN folded into W rounds each
   product W[c] * s[c] once more (relative 2^-24 ~ 6e-8), x * a * b becomes
   x * (a*b), a fused LayerNorm/GELU kernel sums in another order.  Through
   up to ~40 nodes of small dot products (K <= ~150) that stays well below
   1e-5 of the output's peak magnitude; the 1e-6 floor covers outputs whose
   peak is itself ~0 (a ReduceMean of a Softmax difference).  Cosine >=
   0.99999 catches a wrong sign or permutation that a loose peak bound on a
   large-magnitude output could hide. */
static int outputs_agree(const outs *a, const outs *b, char *why, size_t why_bytes, double *worst) {
    if (a->n != b->n) { snprintf(why, why_bytes, "output count %u vs %u", a->n, b->n); return 0; }
    for (uint32_t i = 0; i < a->n; i++) {
        const nn_value *p = &a->v[i], *q = &b->v[i];
        char s1[96], s2[96];
        if (p->dtype != q->dtype || !nn_shape_equal(&p->shape, &q->shape)) {
            snprintf(why, why_bytes, "output %u: %s dtype %d vs %s dtype %d", i, nn_shape_str(&p->shape, s1, sizeof s1),
                     (int)p->dtype, nn_shape_str(&q->shape, s2, sizeof s2), (int)q->dtype);
            return 0;
        }
        if (p->dtype != NN_DTYPE_FLOAT) continue;
        size_t n = elems(&p->shape);
        const float *x = (const float *)p->data, *y = (const float *)q->data;
        double peak = 0, err = 0, dot = 0, nx = 0, ny = 0;
        int nonfinite = 0;
        for (size_t k = 0; k < n; k++) {
            double u = x[k], v = y[k];
            if (!(u == u) || !(v == v) || u - u != 0 || v - v != 0) {
                if (!(u == v || (u != u && v != v))) nonfinite = 1;
                continue;
            }
            if (fabs(u) > peak) peak = fabs(u);
            if (fabs(u - v) > err) err = fabs(u - v);
            dot += u * v;
            nx += u * u;
            ny += v * v;
        }
        double cosv = nx == 0 && ny == 0 ? 1.0 : (nx == 0 || ny == 0 ? 0.0 : dot / sqrt(nx * ny));
        if (worst && peak > 0 && err / peak > *worst) *worst = err / peak;
        if (nonfinite || err > 1e-5 * peak + 1e-6 || (peak > 1e-6 && cosv < 0.99999)) {
            snprintf(why, why_bytes, "output %u %s: max abs %.3e, peak %.3e, cosine %.9f%s", i,
                     nn_shape_str(&p->shape, s1, sizeof s1), err, peak, cosv, nonfinite ? ", non-finite differs" : "");
            return 0;
        }
    }
    return 1;
}

/* The comparison itself must be able to fail: a copy with one element off
   by 1e-4 of the peak, or of another shape, is rejected; an exact copy
   and one within 1e-7 of the peak are accepted. */
static void test_tolerance(void) {
    int64_t d4 = 64;
    float a[64], b[64];
    for (int i = 0; i < 64; i++) a[i] = b[i] = (float)sin(i * 0.7) * 3.0f;
    outs x, y;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    x.n = y.n = 1;
    x.v[0] = nn_value_make(NN_DTYPE_FLOAT, shp(1, &d4), a);
    y.v[0] = nn_value_make(NN_DTYPE_FLOAT, shp(1, &d4), b);
    char why[256];
    CHECK(outputs_agree(&x, &y, why, sizeof why, NULL));
    b[10] += 3e-7f;
    CHECK(outputs_agree(&x, &y, why, sizeof why, NULL));
    b[10] = a[10] + 3e-4f;
    CHECK(!outputs_agree(&x, &y, why, sizeof why, NULL));
    b[10] = a[10];
    int64_t d2[2] = {8, 8};
    y.v[0].shape = shp(2, d2);
    CHECK(!outputs_agree(&x, &y, why, sizeof why, NULL));
}

/* Every counter zero, including counters added to nn_pass_stats later. */
static int stats_zero(const nn_pass_stats *s) {
    nn_pass_stats z;
    memset(&z, 0, sizeof z);
    return memcmp(s, &z, sizeof z) == 0;
}

static void stats_str(const nn_pass_stats *s, char *buf, size_t n) {
    snprintf(buf, n, "removed %u added %u fused %u tensors +%u -%u merged %u", s->nodes_removed, s->nodes_added,
             s->nodes_fused, s->tensors_added, s->tensors_removed, s->tensors_merged);
}

/* ---- part 1 and 2: random graphs through every pass ---------------------------- */

#define MAX_VARIANTS 48

typedef struct variant {
    char names[512];   /* a pass or a comma-separated list */
    int idempotent;    /* a second run must change nothing */
    int is_template;   /* names is a template: run with nn_graph_run_template */
    uint32_t rerun_changed; /* (not required) graphs a second run changed */
    uint32_t failures; /* graphs on which it failed */
    uint32_t changed;  /* graphs it changed */
    uint32_t min_seed, min_nodes; /* the smallest failing graph: start there */
    double worst; /* largest max abs error / peak seen on a passing comparison */
    uint32_t worst_seed;
} variant;

static int printed;

static void report(uint32_t seed, const char *pass, const char *what, const nn_graph *original) {
    fprintf(stderr, "FAIL seed %u, pass '%s': %s   (rerun: PROP_SEED=%u)\n", seed, pass, what, seed);
    if (printed++ < PROP_MAX_PRINTED && original) dump_graph(original, stderr);
}

static int make_variants(variant *v) {
    int n = 0;
    memset(v, 0, MAX_VARIANTS * sizeof *v);
    const char *only = getenv("PROP_PASSES"); /* narrowing a failure down: one list only */
    if (only) {
        snprintf(v[0].names, sizeof v[0].names, "%s", only);
        v[0].is_template = nn_graph_template_passes(only) != NULL;
        return 1;
    }
    for (size_t p = 0; nn_pass_at(p) && n < MAX_VARIANTS - 6; p++, n++) {
        snprintf(v[n].names, sizeof v[n].names, "%s", nn_pass_at(p)->name);
        v[n].idempotent = 1;
    }
    snprintf(v[n].names, sizeof v[n].names, "fold,identity,bn,dce");
    v[n++].idempotent = 1; /* tests/test_passes.c asserts this list is idempotent on the real models */
    size_t len = 0; /* every registered pass in table order */
    for (size_t p = 0; nn_pass_at(p); p++) {
        int w = snprintf(v[n].names + len, sizeof v[n].names - len, "%s%s", p ? "," : "", nn_pass_at(p)->name);
        if (w < 0 || (size_t)w >= sizeof v[n].names - len) break;
        len += (size_t)w;
    }
    n++;
    /* The templates (nn_graph_run_template): cv, lvm, llm. */
    for (size_t t = 0; nn_graph_template_at(t) && n < MAX_VARIANTS; t++) {
        snprintf(v[n].names, sizeof v[n].names, "%s", nn_graph_template_at(t));
        v[n++].is_template = 1;
    }
    return n;
}

static nn_graph *build_inferred(uint32_t seed, nn_diag *d) {
    nn_graph *g = build(seed);
    if (g && nn_graph_infer_shapes(g, NULL, 0, d)) {
        nn_graph_destroy(g);
        return NULL;
    }
    return g;
}

static nn_status run_variant(nn_graph *g, const variant *v, nn_pass_stats *st, nn_diag *d) {
    return v->is_template ? nn_graph_run_template(g, v->names, NULL, st, d) : nn_graph_run_passes(g, v->names, NULL, st, d);
}

/* One graph through one variant: numbers, then idempotence. */
static void check_variant(uint32_t seed, variant *v, const nn_graph *original, const outs *ref, sbuf *s1, sbuf *s2) {
    nn_diag d = {0};
    char why[512], st1[128];
    nn_graph *g = build_inferred(seed, &d);
    CHECK(g != NULL);
    if (!g) return;
    nn_pass_stats st;
    nn_status rs = run_variant(g, v, &st, &d);
    int ok = rs == NN_OK;
    if (!ok) {
        snprintf(why, sizeof why, "returned %s: %s: %s", nn_status_name(rs), d.where, d.message);
        report(seed, v->names, why, original);
    }
    if (!stats_zero(&st)) v->changed++;
    outs after;
    memset(&after, 0, sizeof after);
    memset(&d, 0, sizeof d);
    if (ok && run_graph(g, seed, &after, &d) != NN_OK) {
        ok = 0;
        snprintf(why, sizeof why, "rewritten graph does not run: %s: %s", d.where, d.message);
        report(seed, v->names, why, original);
        fprintf(stderr, "    rewritten:\n");
        dump_graph(g, stderr);
    }
    double worst = 0;
    if (ok && !outputs_agree(ref, &after, why, sizeof why, &worst)) {
        ok = 0;
        stats_str(&st, st1, sizeof st1);
        char msg[700];
        snprintf(msg, sizeof msg, "outputs differ: %s (pass %s)", why, st1);
        report(seed, v->names, msg, original);
        fprintf(stderr, "    rewritten:\n");
        dump_graph(g, stderr);
    }
    if (ok && worst > v->worst) { /* passing comparisons only */
        v->worst = worst;
        v->worst_seed = seed;
    }
    outs_free(&after);
    if (ok && v->idempotent) {
        snapshot(g, s1);
        memset(&d, 0, sizeof d);
        rs = run_variant(g, v, &st, &d);
        snapshot(g, s2);
        if (rs != NN_OK || !stats_zero(&st) || s1->len != s2->len || memcmp(s1->s, s2->s, s1->len) != 0) {
            ok = 0;
            stats_str(&st, st1, sizeof st1);
            snprintf(why, sizeof why, "not idempotent: second run %s, %s, graph %s", nn_status_name(rs), st1,
                     s1->len == s2->len && memcmp(s1->s, s2->s, s1->len) == 0 ? "unchanged" : "changed");
            report(seed, v->names, why, original);
            nn_graph *once = build_inferred(seed, &d);
            if (once && run_variant(once, v, NULL, &d) == NN_OK) {
                fprintf(stderr, "    after one run:\n");
                dump_graph(once, stderr);
            }
            if (once) nn_graph_destroy(once);
            fprintf(stderr, "    after the second run:\n");
            dump_graph(g, stderr);
        }
    }
    if (ok && !v->idempotent) { /* counted for the report only */
        nn_pass_stats st2;
        memset(&d, 0, sizeof d);
        if (run_variant(g, v, &st2, &d) == NN_OK && !stats_zero(&st2)) v->rerun_changed++;
    }
    if (!ok) {
        v->failures++;
        if (!v->min_nodes || original->node_count < v->min_nodes) {
            v->min_nodes = original->node_count;
            v->min_seed = seed;
        }
    }
    CHECK(ok);
    nn_graph_destroy(g);
}

static void test_random_graphs(void) {
    const char *env_seed = getenv("PROP_SEED"), *env_n = getenv("PROP_GRAPHS");
    uint32_t first = env_seed ? (uint32_t)strtoul(env_seed, NULL, 10) : 1;
    uint32_t count = env_seed ? 1 : (env_n ? (uint32_t)strtoul(env_n, NULL, 10) : PROP_DEFAULT_GRAPHS);
    variant *v = (variant *)malloc(MAX_VARIANTS * sizeof *v);
    int nv = make_variants(v);
    sbuf s1 = {0}, s2 = {0};
    uint32_t nodes = 0, built = 0, opcount[64];
    const char *opname[64]; /* op types seen (names copied below: graphs are freed) */
    char opstore[64][32];
    int nops = 0;
    for (uint32_t seed = first; seed < first + count; seed++) {
        nn_diag d = {0};
        nn_graph *g0 = build_inferred(seed, &d);
        /* A graph the generator made that does not infer or run is a bug of
           the generator (or of the executor): reported, never skipped. */
        CHECK(g0 != NULL);
        if (!g0) { fprintf(stderr, "seed %u: shape inference: %s: %s\n", seed, d.where, d.message); continue; }
        outs ref;
        nn_status rs = run_graph(g0, seed, &ref, &d);
        CHECK_STATUS(rs, NN_OK);
        if (rs) {
            fprintf(stderr, "seed %u: original does not run: %s: %s\n", seed, d.where, d.message);
            dump_graph(g0, stderr);
            nn_graph_destroy(g0);
            continue;
        }
        if (env_seed) { /* one graph asked for: show it (an ASan report names no seed) */
            printf("  seed %u:\n", seed);
            dump_graph(g0, stdout);
        }
        built++;
        nodes += g0->node_count;
        for (uint32_t n = 0; n < g0->node_count; n++) {
            int j = 0;
            while (j < nops && strcmp(opname[j], g0->nodes[n].op_type) != 0) j++;
            if (j == nops && nops < 64) {
                snprintf(opstore[j], sizeof opstore[j], "%s", g0->nodes[n].op_type);
                opname[nops++] = opstore[j];
                opcount[j] = 0;
            }
            if (j < 64) opcount[j]++;
        }
        for (int k = 0; k < nv; k++) check_variant(seed, &v[k], g0, &ref, &s1, &s2);
        outs_free(&ref);
        nn_graph_destroy(g0);
    }
    printf("  %u random graphs (seeds %u..%u), %.1f nodes on average\n", built, first, first + count - 1,
           built ? (double)nodes / built : 0.0);
    printf("  nodes per op:");
    for (int j = 0; j < nops; j++) printf("%s %s %u", j % 8 ? "," : "\n   ", opname[j], opcount[j]);
    printf("\n");
    for (int k = 0; k < nv; k++) {
        printf("  %-40.40s changed %4u graphs, worst err/peak %.1e (seed %u), failed on %u", v[k].names, v[k].changed,
               v[k].worst, v[k].worst_seed, v[k].failures);
        if (!v[k].idempotent) printf(" (a second run changed %u more: not required)", v[k].rerun_changed);
        if (v[k].failures) printf(" - smallest: PROP_SEED=%u (%u nodes)", v[k].min_seed, v[k].min_nodes);
        printf("\n");
    }
    free(s1.s);
    free(s2.s);
    free(v);
}

/* ---- part 3: malformed graphs ------------------------------------------------------ */

static nn_shape s4(int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t v[4] = {a, b, c, d};
    return shp(4, v);
}
static nn_shape s2d(int64_t a, int64_t b) {
    int64_t v[2] = {a, b};
    return shp(2, v);
}

/* Conv(x, W) -> BatchNormalization, with the channel counts given: the bn
   pass's target.  Returns the BN output. */
static nn_tensor_id conv_bn(gen *G, nn_tensor_id x, int64_t wc, int64_t M, int64_t bn_c, int64_t hw) {
    nn_shape ws = s4(M, wc, 3, 3), ys = s4(1, M, hw - 2, hw - 2);
    int64_t m = M, b = bn_c;
    nn_shape ms = shp(1, &m), bs = shp(1, &b);
    nn_tensor_id cin[3] = {x, g_const(G, &ws, -0.3f, 0.3f), g_const(G, &ms, -0.5f, 0.5f)};
    nn_tensor_id c = g_tensor(G, NN_DTYPE_FLOAT, &ys);
    g_node(G, "Conv", cin, 3, c);
    nn_tensor_id bin[5] = {c, g_const(G, &bs, 0.5f, 1.5f), g_const(G, &ms, -0.5f, 0.5f), g_const(G, &ms, -0.5f, 0.5f),
                           g_const(G, &ms, 0.5f, 1.5f)};
    nn_tensor_id y = g_tensor(G, NN_DTYPE_FLOAT, &ys);
    g_node(G, "BatchNormalization", bin, 5, y);
    return y;
}

/* Malformed graph number k (no shape inference: it would refuse them).
   *must_fail: 1 when every pass has to return a non-OK status (the driver's
   topological check); 0 when OK with zero changes is also right. */
static nn_graph *build_malformed(int k, const char **what, int *must_fail) {
    gen G;
    memset(&G, 0, sizeof G);
    G.r.s = 99 + (uint64_t)k;
    nn_diag d = {0};
    if (nn_graph_create(NULL, &G.g, &d)) return NULL;
    nn_graph_set_opset(G.g, "", 13, &d);
    gen *P = &G;
    nn_shape xs = s4(1, 3, 6, 6), ys = s4(1, 4, 4, 4);
    nn_tensor_id x = g_tensor(P, NN_DTYPE_FLOAT, &xs), y;
    nn_graph_add_input(G.g, x, &d);
    *must_fail = 0;
    switch (k) {
    case 0: { /* a cycle through Conv -> BN -> Relu -> Identity -> Conv input, and
                 foldable, removable and dead nodes around it */
        *what = "cycle";
        *must_fail = 1;
        nn_tensor_id loop = g_tensor(P, NN_DTYPE_FLOAT, &xs);
        nn_tensor_id a = op2(P, "Add", x, loop, &xs);
        nn_tensor_id b = conv_bn(P, a, 3, 3, 3, 6);
        nn_tensor_id c = op1(P, "Relu", b, &ys);
        nn_tensor_id pin[2] = {c, g_ints(P, (const int64_t[]){0, 0, 1, 1, 0, 0, 1, 1}, 8)};
        g_node(P, "Pad", pin, 2, loop); /* back to 1x3x6x6... shape aside, the point is the loop */
        nn_shape cs = shp(0, NULL);
        nn_tensor_id k1 = op2(P, "Add", g_const(P, &cs, 1, 2), g_const(P, &cs, 1, 2), &cs);
        y = op2(P, "Mul", op1(P, "Identity", c, &ys), k1, &ys);
        op1(P, "Sigmoid", x, &xs); /* dead */
        break;
    }
    case 1: { /* a dangling input: the Add reads a tensor nobody produces */
        *what = "dangling input";
        *must_fail = 1;
        nn_tensor_id ghost = g_tensor(P, NN_DTYPE_FLOAT, &xs);
        nn_tensor_id a = op2(P, "Add", x, ghost, &xs);
        nn_tensor_id b = conv_bn(P, op1(P, "Identity", a, &xs), 3, 4, 4, 6);
        nn_shape cs = shp(0, NULL);
        nn_tensor_id k1 = op2(P, "Add", g_const(P, &cs, 1, 2), g_const(P, &cs, 1, 2), &cs);
        y = op2(P, "Mul", b, k1, &ys);
        op1(P, "Sigmoid", x, &xs); /* dead */
        break;
    }
    case 2: { /* a dangling BatchNormalization scale */
        *what = "dangling BN scale";
        *must_fail = 1;
        nn_shape ws = s4(4, 3, 3, 3);
        int64_t four = 4;
        nn_shape ms = shp(1, &four);
        nn_tensor_id cin[2] = {x, g_const(P, &ws, -0.3f, 0.3f)};
        nn_tensor_id c = g_tensor(P, NN_DTYPE_FLOAT, &ys);
        g_node(P, "Conv", cin, 2, c);
        nn_tensor_id bin[5] = {c, g_tensor(P, NN_DTYPE_FLOAT, &ms), g_const(P, &ms, -0.5f, 0.5f),
                               g_const(P, &ms, -0.5f, 0.5f), g_const(P, &ms, 0.5f, 1.5f)};
        y = g_tensor(P, NN_DTYPE_FLOAT, &ys);
        g_node(P, "BatchNormalization", bin, 5, y);
        break;
    }
    case 3: { /* Add of constants [2,3] and [4,5]: fold's target */
        *what = "Add [2,3] + [4,5] of constants";
        nn_shape a = s2d(2, 3), b = s2d(4, 5);
        nn_tensor_id k1 = op2(P, "Add", g_const(P, &a, -1, 1), g_const(P, &b, -1, 1), &a);
        nn_tensor_id r = op2(P, "Reshape", x, g_ints(P, (const int64_t[]){18, 6}, 2), &a);
        y = op2(P, "Add", r, k1, &a);
        break;
    }
    case 4: { /* Add of an activation [1,3,6,6] and a constant [4,5] */
        *what = "Add [1,3,6,6] + [4,5]";
        nn_shape b = s2d(4, 5);
        y = op2(P, "Add", x, g_const(P, &b, -1, 1), &xs);
        break;
    }
    case 5: { /* MatMul [2,3] x [4,5] of constants */
        *what = "MatMul [2,3] x [4,5] of constants";
        nn_shape a = s2d(2, 3), b = s2d(4, 5), o = s2d(2, 5);
        nn_tensor_id m = op2(P, "MatMul", g_const(P, &a, -1, 1), g_const(P, &b, -1, 1), &o);
        y = op2(P, "Add", op1(P, "ReduceMean", x, &xs), m, &xs);
        break;
    }
    case 6: /* Conv whose weight has 2 input channels for a 3-channel input, then BN */
        *what = "Conv weight channels 2 vs input 3, then BN";
        y = conv_bn(P, x, 2, 4, 4, 6);
        break;
    case 7: /* BN whose scale has 3 entries after a 4-channel Conv */
        *what = "BN scale length 3 after a 4-channel Conv";
        y = conv_bn(P, x, 3, 4, 3, 6);
        break;
    case 8: { /* Gemm whose B has K=7 for an input with K=5, then BN */
        *what = "Gemm K 5 vs 7, then BN";
        nn_shape as = s2d(2, 5), ws = s2d(7, 4), os = s2d(2, 4);
        int64_t four = 4;
        nn_shape ms = shp(1, &four);
        nn_tensor_id a = op2(P, "Reshape", x, g_ints(P, (const int64_t[]){2, 54}, 2), &as);
        nn_tensor_id gin[3] = {a, g_const(P, &ws, -0.3f, 0.3f), g_const(P, &ms, -0.5f, 0.5f)};
        nn_tensor_id gm = g_tensor(P, NN_DTYPE_FLOAT, &os);
        g_node(P, "Gemm", gin, 3, gm);
        nn_tensor_id bin[5] = {gm, g_const(P, &ms, 0.5f, 1.5f), g_const(P, &ms, -0.5f, 0.5f),
                               g_const(P, &ms, -0.5f, 0.5f), g_const(P, &ms, 0.5f, 1.5f)};
        y = g_tensor(P, NN_DTYPE_FLOAT, &os);
        g_node(P, "BatchNormalization", bin, 5, y);
        break;
    }
    default:
        nn_graph_destroy(G.g);
        return NULL;
    }
    nn_graph_add_output(G.g, y, &d);
    if (G.failed || d.status) {
        fprintf(stderr, "malformed case %d: builder failed: %s\n", k, d.message);
        nn_graph_destroy(G.g);
        return NULL;
    }
    return G.g;
}

static void test_malformed(void) {
    sbuf before = {0}, after = {0};
    for (int k = 0;; k++) {
        const char *what = "";
        int must_fail;
        nn_graph *probe = build_malformed(k, &what, &must_fail);
        if (!probe) break;
        nn_graph_destroy(probe);
        char verdicts[1024] = ""; /* per pass: invalid (refused), left (OK, no change), CHANGED */
        for (size_t p = 0; nn_pass_at(p); p++) {
            const char *name = nn_pass_at(p)->name;
            nn_graph *g = build_malformed(k, &what, &must_fail);
            snapshot(g, &before);
            nn_diag d = {0};
            nn_pass_stats st;
            nn_status rs = nn_graph_run_pass(g, name, NULL, &st, &d);
            snapshot(g, &after);
            int same = before.len == after.len && memcmp(before.s, after.s, before.len) == 0;
            int ok = same && (rs != NN_OK ? 1 : (!must_fail && stats_zero(&st)));
            if (!ok) {
                char s[128];
                stats_str(&st, s, sizeof s);
                fprintf(stderr, "FAIL malformed '%s', pass '%s': %s (%s), %s, graph %s\n", what, name, nn_status_name(rs),
                        d.message, s, same ? "unchanged" : "CHANGED");
                nn_graph *orig = build_malformed(k, &what, &must_fail);
                fprintf(stderr, "    before:\n");
                dump_graph(orig, stderr);
                fprintf(stderr, "    after:\n");
                dump_graph(g, stderr);
                nn_graph_destroy(orig);
            }
            CHECK(ok);
            size_t len = strlen(verdicts);
            snprintf(verdicts + len, sizeof verdicts - len, " %s:%s", name,
                     !same ? "CHANGED" : rs != NN_OK ? (rs == NN_ERR_INVALID ? "invalid" : nn_status_name(rs)) : "left");
            nn_graph_destroy(g);
        }
        printf("  malformed: %s\n   %s\n", what, verdicts);
    }
    free(before.s);
    free(after.s);
}

/* ---- the smallest graphs behind failures the random graphs found ------------------- */

static nn_graph *small_graph(gen *G, int opset) {
    memset(G, 0, sizeof *G);
    G->r.s = 7;
    nn_diag d = {0};
    if (nn_graph_create(NULL, &G->g, &d)) return NULL;
    G->opset = opset;
    nn_graph_set_opset(G->g, "", opset, &d);
    return G->g;
}

/* Runs names twice on g; the second run must change nothing. */
static void check_twice(nn_graph *g, const char *names, const char *what) {
    nn_diag d = {0};
    nn_pass_stats st;
    sbuf a = {0}, b = {0};
    CHECK_STATUS(nn_graph_infer_shapes(g, NULL, 0, &d), NN_OK);
    CHECK_STATUS(nn_graph_run_passes(g, names, NULL, &st, &d), NN_OK);
    snapshot(g, &a);
    CHECK_STATUS(nn_graph_run_passes(g, names, NULL, &st, &d), NN_OK);
    snapshot(g, &b);
    int same = a.len == b.len && memcmp(a.s, b.s, a.len) == 0;
    if (!stats_zero(&st) || !same) {
        char buf[128];
        stats_str(&st, buf, sizeof buf);
        fprintf(stderr, "FAIL %s: '%s' run twice: second run %s, graph %s\n", what, names, buf, same ? "unchanged" : "changed");
        dump_graph(g, stderr);
    }
    CHECK(stats_zero(&st));
    CHECK(same);
    free(a.s);
    free(b.s);
}

/* Conv -> BN -> output, and a dead Relu also reading the Conv output: bn
   refuses (two consumers), dce then removes the Relu, so a second run of
   "fold,identity,bn,dce" folds the BN (random seeds 102, 252). */
static void test_min_default_list(void) {
    gen G;
    if (!small_graph(&G, 13)) return;
    nn_shape xs = s4(1, 3, 6, 6);
    nn_diag d = {0};
    nn_tensor_id x = g_tensor(&G, NN_DTYPE_FLOAT, &xs);
    nn_graph_add_input(G.g, x, &d);
    nn_tensor_id y = conv_bn(&G, x, 3, 4, 4, 6);
    nn_shape cs = s4(1, 4, 4, 4);
    op1(&G, "Relu", G.g->nodes[0].outputs[0], &cs); /* dead second consumer of the Conv output */
    nn_graph_add_output(G.g, y, &d);
    check_twice(G.g, "fold,identity,bn,dce", "Conv->BN with a dead second consumer");
    nn_graph_destroy(G.g);
}

/* x -> Transpose(1,0,2) -> a; a -> Transpose(0,1,2) -> (dead); a ->
   Transpose(2,0,1) -> y.  The first noop run removes the identity
   Transpose; only the second merges the remaining pair (seeds 42, 3357). */
static void test_min_noop(void) {
    gen G;
    if (!small_graph(&G, 13)) return;
    int64_t xd[3] = {2, 1, 6}, ad[3] = {1, 2, 6}, yd[3] = {6, 1, 2};
    int64_t p1[3] = {1, 0, 2}, p0[3] = {0, 1, 2}, p2[3] = {2, 0, 1};
    nn_shape xs = shp(3, xd), as = shp(3, ad), ys = shp(3, yd);
    nn_diag d = {0};
    nn_tensor_id x = g_tensor(&G, NN_DTYPE_FLOAT, &xs);
    nn_graph_add_input(G.g, x, &d);
    nn_tensor_id a = op1(&G, "Transpose", x, &as);
    attr_is(&G, G.g->tensors[a.id].producer, "perm", p1, 3);
    nn_tensor_id b = op1(&G, "Transpose", a, &as);
    attr_is(&G, G.g->tensors[b.id].producer, "perm", p0, 3);
    nn_tensor_id y = op1(&G, "Transpose", a, &ys);
    attr_is(&G, G.g->tensors[y.id].producer, "perm", p2, 3);
    nn_graph_add_output(G.g, y, &d);
    int have = 0;
    for (size_t p = 0; nn_pass_at(p); p++) have |= strcmp(nn_pass_at(p)->name, "noop") == 0;
    if (have) check_twice(G.g, "noop", "Transpose pair behind an identity Transpose");
    nn_graph_destroy(G.g);
}

/* x (1,6) -> Gemm(W (6,3), no C) -> Sigmoid -> y: the act pass alone on
   the smallest graph of random seeds 14 and 213 (there cse first merged
   two Sigmoids, so that the Gemm had one consumer).  The rewritten graph
   must still run and give the same numbers. */
static nn_graph *build_gemm_sigmoid(void) {
    gen G;
    if (!small_graph(&G, 13)) return NULL;
    nn_shape xs = s2d(1, 6), ws = s2d(6, 3), ys = s2d(1, 3);
    nn_diag d = {0};
    nn_tensor_id x = g_tensor(&G, NN_DTYPE_FLOAT, &xs);
    nn_graph_add_input(G.g, x, &d);
    nn_tensor_id y = op1(&G, "Sigmoid", op2(&G, "Gemm", x, g_const(&G, &ws, -0.4f, 0.4f), &ys), &ys);
    nn_graph_add_output(G.g, y, &d);
    return G.g;
}

static void test_min_gemm_act(void) {
    int have = 0;
    for (size_t p = 0; nn_pass_at(p); p++) have |= strcmp(nn_pass_at(p)->name, "act") == 0;
    if (!have) return;
    nn_graph *g0 = build_gemm_sigmoid(), *g1 = build_gemm_sigmoid();
    nn_diag d = {0};
    outs a, b;
    CHECK_STATUS(nn_graph_infer_shapes(g1, NULL, 0, &d), NN_OK);
    CHECK_STATUS(nn_graph_run_pass(g1, "act", NULL, NULL, &d), NN_OK);
    CHECK_STATUS(run_graph(g0, 5, &a, &d), NN_OK);
    memset(&d, 0, sizeof d);
    nn_status st = run_graph(g1, 5, &b, &d);
    CHECK_STATUS(st, NN_OK);
    char why[512];
    if (st) {
        fprintf(stderr, "FAIL Gemm (no C) -> Sigmoid after 'act' does not run: %s: %s\n", d.where, d.message);
        dump_graph(g1, stderr);
    } else {
        int same = outputs_agree(&a, &b, why, sizeof why, NULL);
        if (!same) fprintf(stderr, "FAIL Gemm (no C) -> Sigmoid after 'act': %s\n", why);
        CHECK(same);
    }
    outs_free(&a);
    outs_free(&b);
    nn_graph_destroy(g0);
    nn_graph_destroy(g1);
}

/* One axis-bearing op on a 3-D input (2, 1, 6): the smallest graphs of
   the to4d failures of random seeds 334 (Softmax axis), 700 (Transpose
   perm), 919 (ReduceMean axes), 238 (Slice axes) and 588 (a graph output
   that other nodes read).  Every pass must keep the numbers. */
static nn_graph *build_axis_op(int k) {
    gen G;
    if (!small_graph(&G, 13)) return NULL;
    int64_t xd[3] = {2, 1, 6};
    nn_shape xs = shp(3, xd), ys = xs;
    nn_diag d = {0};
    nn_tensor_id x = g_tensor(&G, NN_DTYPE_FLOAT, &xs), y;
    nn_graph_add_input(G.g, x, &d);
    if (k == 0) {
        y = op1(&G, "Softmax", x, &xs);
        attr_i(&G, G.g->tensors[y.id].producer, "axis", 0);
    } else if (k == 1) {
        int64_t perm[3] = {2, 0, 1}, yd[3] = {6, 2, 1};
        ys = shp(3, yd);
        y = op1(&G, "Transpose", x, &ys);
        attr_is(&G, G.g->tensors[y.id].producer, "perm", perm, 3);
    } else if (k == 2) {
        int64_t ax = 2, yd[3] = {2, 1, 1};
        ys = shp(3, yd);
        y = op1(&G, "ReduceMean", x, &ys);
        attr_is(&G, G.g->tensors[y.id].producer, "axes", &ax, 1);
    } else if (k == 3) {
        int64_t st = 1, en = 2, ax = 0, yd[3] = {1, 1, 6};
        ys = shp(3, yd);
        nn_tensor_id in[4] = {x, g_ints(&G, &st, 1), g_ints(&G, &en, 1), g_ints(&G, &ax, 1)};
        y = g_tensor(&G, NN_DTYPE_FLOAT, &ys);
        g_node(&G, "Slice", in, 4, y);
    } else if (k == 4) { /* x (2,1,6) -> Reshape (2,2,3), a graph output also read by Add ->
                            Transpose (seed 588) */
        int64_t rd[3] = {2, 2, 3}, td[3] = {2, 2, 3}, perm[3] = {1, 0, 2}, three = 3;
        nn_shape rs = shp(3, rd), ts = shp(3, td), cs = shp(1, &three);
        nn_tensor_id r = op2(&G, "Reshape", x, g_ints(&G, rd, 3), &rs);
        nn_graph_add_output(G.g, r, &d);
        nn_tensor_id a = op2(&G, "Add", r, g_const(&G, &cs, -1, 1), &rs);
        y = op1(&G, "Transpose", a, &ts);
        attr_is(&G, G.g->tensors[y.id].producer, "perm", perm, 3);
    } else {
        nn_graph_destroy(G.g);
        return NULL;
    }
    nn_graph_add_output(G.g, y, &d);
    return G.g;
}

static void test_min_axes(void) {
    for (int k = 0;; k++) {
        nn_graph *g0 = build_axis_op(k);
        if (!g0) break;
        nn_diag d = {0};
        outs ref;
        CHECK_STATUS(run_graph(g0, 3, &ref, &d), NN_OK);
        for (size_t p = 0; nn_pass_at(p); p++) {
            nn_graph *g = build_axis_op(k);
            outs got;
            memset(&got, 0, sizeof got);
            memset(&d, 0, sizeof d);
            char why[512] = "";
            nn_status st = nn_graph_infer_shapes(g, NULL, 0, &d);
            if (st == NN_OK) st = nn_graph_run_pass(g, nn_pass_at(p)->name, NULL, NULL, &d);
            if (st == NN_OK) st = run_graph(g, 3, &got, &d);
            int ok = st == NN_OK && outputs_agree(&ref, &got, why, sizeof why, NULL);
            if (!ok) {
                fprintf(stderr, "FAIL %s on a 3-D input, pass '%s': %s %s%s\n", g0->nodes[0].op_type, nn_pass_at(p)->name,
                        nn_status_name(st), d.message, why);
                dump_graph(g, stderr);
            }
            CHECK(ok);
            outs_free(&got);
            nn_graph_destroy(g);
        }
        outs_free(&ref);
        nn_graph_destroy(g0);
    }
}

int main(void) {
    test_tolerance();
    test_random_graphs();
    test_malformed();
    test_min_default_list();
    test_min_noop();
    test_min_gemm_act();
    test_min_axes();
    return check_summary();
}
