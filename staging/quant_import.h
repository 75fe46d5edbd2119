/* staging/quant_import.h - pre-quantized models made by other tools
   (issue 7, docs/TARGET.md "Pre-quantized models").

   A static QDQ model (QuantizeLinear/DequantizeLinear with constant scales
   and zero points, e.g. ONNX Runtime's quantize_static or
   scripts/make_qdq4.py) needs nothing here: nn_qexec and nn_target_compile
   read its groups as they read nnport's own, keeping its scales and zero
   points.  A *dynamically* quantized model (ONNX Runtime's
   quantize_dynamic: DynamicQuantizeLinear computes each activation's scale
   from its own min/max at every run) has no static activation scales to
   keep, and its weights are uint8 with a zero point (ISNet: 143), which
   nnport's int8 kernels (weights int8, zero point 0) do not take.

   nn_quant_import_dynamic turns such a model back into the float model it
   approximates: each chain

       x -> DynamicQuantizeLinear -> (x_q, x_scale, x_zp)
       ConvInteger(x_q, W_q, x_zp, W_zp) | MatMulInteger(x_q, W_q, x_zp, W_zp) -> acc (int32)
       Cast(acc, to=float) -> c;   Mul(x_scale, W_scale) -> S;   Mul(c, S) -> y

   becomes one float Conv(x, W) / MatMul(x, W) -> y with W = (W_q - W_zp) *
   W_scale (exact in float32: an 8-bit integer times one float), attributes
   kept.  The DynamicQuantizeLinear goes when nothing else reads it.  The
   result runs with the float kernels (no ConvInteger) and goes through the
   ordinary static flow: calibrate on it, nn_quant_graph (int8 per-channel
   weights: the 8-bit asymmetric grid of the original weights is not kept,
   the values are requantized), nn_target_compile.  What the dynamic model
   decided per run (activation ranges) is replaced by calibrated ranges, as
   ONNX Runtime's own static quantization would.

   The result is a new graph; g is only read and must outlive it (weights
   are copied only where rewritten: the others are lent from g). */
#ifndef NN_QUANT_IMPORT_H
#define NN_QUANT_IMPORT_H

#include "nn_quant.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_quant_import_desc {
    nn_allocator alloc;
} nn_quant_import_desc;

typedef struct nn_quant_import_stats {
    uint32_t convs;          /* ConvInteger chains rewritten */
    uint32_t matmuls;        /* MatMulInteger chains rewritten */
    uint32_t dynamic_left;   /* DynamicQuantizeLinear nodes still in the result (read elsewhere) */
    uint32_t integer_left;   /* ConvInteger/MatMulInteger not in the pattern (left as they are) */
} nn_quant_import_stats;

/* Rewrites g's dynamic-quantization chains (above) into float Conv/MatMul
   in a new graph *out (destroy it before g).  stats optional.
   NN_ERR_UNSUPPORTED: a node with a subgraph attribute; NN_ERR_NOMEM. */
NN_API nn_status nn_quant_import_dynamic(const nn_graph *g, const nn_quant_import_desc *d, nn_graph **out,
                                         nn_quant_import_stats *stats, nn_diag *diag);
/* 1 when g holds a DynamicQuantizeLinear (a dynamically quantized model). */
NN_API int nn_quant_graph_is_dynamic(const nn_graph *g);

#ifdef __cplusplus
}
#endif
#endif /* NN_QUANT_IMPORT_H */

/* ===================== end of API: implementation below ===================== */

#if defined(NN_IMPLEMENTATION) || defined(NN_QUANT_IMPLEMENTATION)
#ifndef NN_QUANT_IMPORT_IMPLEMENTATION_DONE
#define NN_QUANT_IMPORT_IMPLEMENTATION_DONE

/* One matched chain: node indices and the dequantized weights. */
typedef struct nn_quant_import__chain {
    uint32_t dql, integer, cast, mul, scale_mul;
    int matmul;
} nn_quant_import__chain;

static int nn_quant_import__is(const nn_node *n, const char *op) {
    return !strcmp(n->op_type, op) && (!n->domain[0] || !strcmp(n->domain, "ai.onnx"));
}

static const nn_tensor *nn_quant_import__const(const nn_graph *g, nn_tensor_id t) {
    if (t.id == NN_INVALID_ID) return NULL;
    return (g->tensors[t.id].flags & NN_TENSOR_CONST) && g->tensors[t.id].data ? &g->tensors[t.id] : NULL;
}

/* The only node reading tensor t (none, several, or a graph output: -1). */
static int64_t nn_quant_import__only_reader(const nn_graph *g, const uint32_t *readers, const uint32_t *reader_of,
                                            nn_tensor_id t) {
    if (t.id == NN_INVALID_ID || readers[t.id] != 1 || (g->tensors[t.id].flags & NN_TENSOR_OUTPUT)) return -1;
    return reader_of[t.id];
}

/* Element e of an integer constant (uint8/int8/int32) as int32. */
static int32_t nn_quant_import__int(const nn_tensor *t, size_t e) {
    switch (t->dtype) {
    case NN_DTYPE_UINT8: return ((const uint8_t *)t->data)[e];
    case NN_DTYPE_INT8: return ((const int8_t *)t->data)[e];
    case NN_DTYPE_INT32: return ((const int32_t *)t->data)[e];
    default: return 0;
    }
}

/* Matches the chain through integer node k; fills *c. */
static int nn_quant_import__match(const nn_graph *g, const uint32_t *readers, const uint32_t *reader_of, uint32_t k,
                                  nn_quant_import__chain *c) {
    const nn_node *n = &g->nodes[k], *q, *cast, *mul, *sm;
    const nn_tensor *w, *wz, *ws;
    int64_t r;
    uint32_t side;
    size_t wcount, i;
    int matmul = nn_quant_import__is(n, "MatMulInteger");
    if (!matmul && !nn_quant_import__is(n, "ConvInteger")) return 0;
    if (n->input_count < 2 || n->inputs[0].id == NN_INVALID_ID || g->tensors[n->inputs[0].id].producer.id == NN_INVALID_ID)
        return 0;
    q = &g->nodes[g->tensors[n->inputs[0].id].producer.id];
    if (!nn_quant_import__is(q, "DynamicQuantizeLinear") || q->output_count < 3 || q->outputs[0].id != n->inputs[0].id) return 0;
    if (n->input_count > 2 && n->inputs[2].id != NN_INVALID_ID && n->inputs[2].id != q->outputs[2].id) return 0;
    w = nn_quant_import__const(g, n->inputs[1]);
    wz = n->input_count > 3 ? nn_quant_import__const(g, n->inputs[3]) : NULL;
    if (!w || (w->dtype != NN_DTYPE_UINT8 && w->dtype != NN_DTYPE_INT8) || !nn_shape_is_static(&w->shape)) return 0;
    if (n->input_count > 3 && n->inputs[3].id != NN_INVALID_ID && (!wz || wz->dtype != w->dtype)) return 0;
    /* acc -> Cast(float) -> Mul(c, S) with S = Mul(x_scale, W_scale) */
    if ((r = nn_quant_import__only_reader(g, readers, reader_of, n->outputs[0])) < 0) return 0;
    cast = &g->nodes[r];
    if (!nn_quant_import__is(cast, "Cast") || nn_node_attr_int(cast, "to", 0) != NN_DTYPE_FLOAT) return 0;
    c->cast = (uint32_t)r;
    if ((r = nn_quant_import__only_reader(g, readers, reader_of, cast->outputs[0])) < 0) return 0;
    mul = &g->nodes[r];
    if (!nn_quant_import__is(mul, "Mul") || mul->input_count != 2) return 0;
    c->mul = (uint32_t)r;
    side = mul->inputs[0].id == cast->outputs[0].id ? 1 : 0;
    if (mul->inputs[side].id == NN_INVALID_ID || g->tensors[mul->inputs[side].id].producer.id == NN_INVALID_ID) return 0;
    c->scale_mul = g->tensors[mul->inputs[side].id].producer.id;
    sm = &g->nodes[c->scale_mul];
    if (!nn_quant_import__is(sm, "Mul") || sm->input_count != 2 || readers[mul->inputs[side].id] != 1) return 0;
    if (sm->inputs[0].id == q->outputs[1].id) ws = nn_quant_import__const(g, sm->inputs[1]);
    else if (sm->inputs[1].id == q->outputs[1].id) ws = nn_quant_import__const(g, sm->inputs[0]);
    else return 0;
    if (!ws || ws->dtype != NN_DTYPE_FLOAT) return 0;
    /* scales and zero points: one, or one per output channel (Conv: M =
       dim 0 of W; MatMul: N = last dim of W) */
    wcount = nn_shape_count(&w->shape, NULL);
    {
        size_t chans = (size_t)(matmul ? w->shape.dims[w->shape.rank - 1] : w->shape.dims[0]);
        size_t ns = ws->data_bytes / 4, nz = wz ? nn_shape_count(&wz->shape, NULL) : 1;
        if (w->shape.rank < 2 || (ns != 1 && ns != chans) || (nz != 1 && nz != chans) || wcount == 0) return 0;
        for (i = 0; i < ns; i++)
            if (!isfinite(((const float *)ws->data)[i])) return 0;
    }
    c->dql = g->tensors[n->inputs[0].id].producer.id;
    c->integer = k;
    c->matmul = matmul;
    return 1;
}

/* W = (W_q - W_zp) * W_scale as float32 (channel of element e: Conv dim 0,
   MatMul last dim). */
static float *nn_quant_import__dequant(const nn_graph *g, const nn_quant_import__chain *c, const nn_allocator *al) {
    const nn_node *n = &g->nodes[c->integer], *sm = &g->nodes[c->scale_mul];
    const nn_tensor *w = &g->tensors[n->inputs[1].id];
    const nn_tensor *wz = n->input_count > 3 ? nn_quant_import__const(g, n->inputs[3]) : NULL;
    const nn_tensor *ws = nn_quant_import__const(g, sm->inputs[0]) ? nn_quant_import__const(g, sm->inputs[0])
                                                                    : nn_quant_import__const(g, sm->inputs[1]);
    size_t count = nn_shape_count(&w->shape, NULL), e;
    size_t chans = (size_t)(c->matmul ? w->shape.dims[w->shape.rank - 1] : w->shape.dims[0]);
    size_t per = count / chans, ns = ws->data_bytes / 4, nz = wz ? nn_shape_count(&wz->shape, NULL) : 1;
    float *out = (float *)nn_alloc(al, count * sizeof(float));
    if (!out) return NULL;
    for (e = 0; e < count; e++) {
        size_t ch = c->matmul ? e % chans : e / per;
        int32_t z = wz ? nn_quant_import__int(wz, nz == 1 ? 0 : ch) : 0;
        out[e] = (float)(nn_quant_import__int(w, e) - z) * ((const float *)ws->data)[ns == 1 ? 0 : ch];
    }
    return out;
}

NN_API int nn_quant_graph_is_dynamic(const nn_graph *g) {
    uint32_t i;
    for (i = 0; i < g->node_count; i++)
        if (nn_quant_import__is(&g->nodes[i], "DynamicQuantizeLinear")) return 1;
    return 0;
}

/* Copies tensor i of g into o under the same id (o is built tensor by
   tensor in g's order, so ids agree). */
static nn_status nn_quant_import__copy_tensor(const nn_graph *g, nn_graph *o, uint32_t i, nn_diag *diag) {
    const nn_tensor *t = &g->tensors[i];
    nn_tensor_id id;
    nn_status st = nn_graph_add_tensor(o, t->name, t->dtype, &t->shape, &id, diag);
    if (st) return st;
    if (t->flags & NN_TENSOR_CONST) { /* lent: g outlives o */
        if (t->data) return nn_graph_set_data(o, id, t->data, t->data_bytes, 0, diag);
        o->tensors[id.id].flags |= NN_TENSOR_CONST;
    }
    return NN_OK;
}

NN_API nn_status nn_quant_import_dynamic(const nn_graph *g, const nn_quant_import_desc *d, nn_graph **out,
                                         nn_quant_import_stats *stats, nn_diag *diag) {
    nn_allocator al;
    nn_quant_import_stats s;
    nn_graph *o = NULL;
    uint32_t *readers = NULL, *reader_of = NULL, *role = NULL, i, j;
    nn_quant_import__chain *chains = NULL;
    uint32_t nchains = 0;
    nn_graph_desc gd;
    nn_status st = NN_OK;
    enum { KEEP = 0, DROP = 1, REPLACE = 2 };
    NN_ASSERT(g && out);
    memset(&al, 0, sizeof al);
    if (d) al = d->alloc;
    memset(&s, 0, sizeof s);
    for (i = 0; i < g->node_count; i++)
        for (j = 0; j < g->nodes[i].attr_count; j++)
            if (g->nodes[i].attrs[j].type == NN_ATTR_GRAPH || g->nodes[i].attrs[j].type == NN_ATTR_GRAPHS)
                return nn_diag_set(diag, NN_ERR_UNSUPPORTED, g->nodes[i].name, "subgraphs are not imported");
    readers = (uint32_t *)nn_alloc(&al, (g->tensor_count + 1) * sizeof(uint32_t));
    reader_of = (uint32_t *)nn_alloc(&al, (g->tensor_count + 1) * sizeof(uint32_t));
    role = (uint32_t *)nn_alloc(&al, (g->node_count + 1) * sizeof(uint32_t));
    chains = (nn_quant_import__chain *)nn_alloc(&al, (g->node_count + 1) * sizeof *chains);
    if (!readers || !reader_of || !role || !chains) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_import_dynamic", "out of memory"); goto done; }
    memset(readers, 0, (g->tensor_count + 1) * sizeof(uint32_t));
    memset(role, 0, (g->node_count + 1) * sizeof(uint32_t));
    for (i = 0; i < g->node_count; i++)
        for (j = 0; j < g->nodes[i].input_count; j++) {
            uint32_t t = g->nodes[i].inputs[j].id;
            if (t == NN_INVALID_ID) continue;
            readers[t]++;
            reader_of[t] = i;
        }
    /* match every chain; mark its nodes */
    for (i = 0; i < g->node_count; i++) {
        nn_quant_import__chain c;
        if (!nn_quant_import__match(g, readers, reader_of, i, &c)) {
            if (nn_quant_import__is(&g->nodes[i], "ConvInteger") || nn_quant_import__is(&g->nodes[i], "MatMulInteger")) s.integer_left++;
            continue;
        }
        chains[nchains++] = c;
        role[c.integer] = REPLACE;
        role[c.cast] = role[c.mul] = role[c.scale_mul] = DROP;
        if (c.matmul) s.matmuls++;
        else s.convs++;
    }
    /* a DynamicQuantizeLinear goes when every reader of its outputs went */
    for (i = 0; i < g->node_count; i++) {
        const nn_node *q = &g->nodes[i];
        uint32_t left = 0, k;
        if (!nn_quant_import__is(q, "DynamicQuantizeLinear")) continue;
        for (k = 0; k < g->node_count; k++) {
            if (role[k] != KEEP) continue;
            for (j = 0; j < g->nodes[k].input_count; j++) {
                uint32_t t = g->nodes[k].inputs[j].id, m;
                for (m = 0; m < q->output_count; m++)
                    if (t != NN_INVALID_ID && t == q->outputs[m].id) left++;
            }
        }
        for (j = 0; j < q->output_count; j++)
            if (q->outputs[j].id != NN_INVALID_ID && (g->tensors[q->outputs[j].id].flags & NN_TENSOR_OUTPUT)) left++;
        if (left) s.dynamic_left++;
        else role[i] = DROP;
    }
    /* the new graph: every tensor under the same id, the kept nodes, the
       rewritten ones */
    memset(&gd, 0, sizeof gd);
    gd.alloc = al;
    gd.name = g->name;
    if ((st = nn_graph_create(&gd, &o, diag)) != NN_OK) goto done;
    for (i = 0; i < g->opset_count && !st; i++) st = nn_graph_set_opset(o, g->opsets[i].domain, g->opsets[i].version, diag);
    for (i = 0; i < g->tensor_count && !st; i++) st = nn_quant_import__copy_tensor(g, o, i, diag);
    for (i = 0; i < g->input_count && !st; i++) st = nn_graph_add_input(o, g->inputs[i], diag);
    for (i = 0; i < g->output_count && !st; i++) st = nn_graph_add_output(o, g->outputs[i], diag);
    o->ir_version = g->ir_version;
    for (i = 0; i < g->node_count && !st; i++) {
        const nn_node *n = &g->nodes[i];
        nn_node_id nid;
        if (role[i] == DROP) continue;
        if (role[i] == KEEP) {
            st = nn_graph_add_node(o, n->op_type, n->domain, n->name, n->inputs, n->input_count, n->outputs,
                                   n->output_count, &nid, diag);
            for (j = 0; j < n->attr_count && !st; j++) st = nn_graph_add_attr(o, nid, &n->attrs[j], 0, diag);
            continue;
        }
        {
            const nn_quant_import__chain *c = NULL;
            const nn_tensor *w = &g->tensors[n->inputs[1].id];
            nn_tensor_id in[2], y;
            char name[512];
            float *wf;
            uint32_t k;
            for (k = 0; k < nchains; k++)
                if (chains[k].integer == i) c = &chains[k];
            NN_ASSERT(c);
            in[0] = g->nodes[c->dql].inputs[0];
            y = g->nodes[c->mul].outputs[0];
            snprintf(name, sizeof name, "%s_dequantized", w->name ? w->name : "W");
            if (!(wf = nn_quant_import__dequant(g, c, &al))) { st = nn_diag_set(diag, NN_ERR_NOMEM, n->name, "out of memory"); break; }
            st = nn_graph_add_tensor(o, name, NN_DTYPE_FLOAT, &w->shape, &in[1], diag);
            if (!st) st = nn_graph_set_data(o, in[1], wf, nn_shape_count(&w->shape, NULL) * sizeof(float), 1, diag);
            nn_free(&al, wf);
            if (!st) st = nn_graph_add_node(o, c->matmul ? "MatMul" : "Conv", "", n->name, in, 2, &y, 1, &nid, diag);
            for (j = 0; j < n->attr_count && !st; j++) st = nn_graph_add_attr(o, nid, &n->attrs[j], 0, diag);
        }
    }
    if (!st) st = nn_graph_run_pass(o, "dce", NULL, NULL, diag); /* the integer weights, zero points, scales */
done:
    nn_free(&al, readers);
    nn_free(&al, reader_of);
    nn_free(&al, role);
    nn_free(&al, chains);
    if (st) { nn_graph_destroy(o); return st; }
    if (stats) *stats = s;
    *out = o;
    return NN_OK;
}

#endif /* NN_QUANT_IMPORT_IMPLEMENTATION_DONE */
#endif /* NN_IMPLEMENTATION */
