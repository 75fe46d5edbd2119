/* quant_algos.h (staged for nn_quant.h) - data-driven post-training
   quantization algorithms that rewrite the FLOAT graph given the ranges the
   quantizer will use:
     - empirical bias correction (TPU-MLIR's run_calibration --bc with
       bc_inference_num / min_layer_cos; Nagel et al., "Data-Free
       Quantization Through Weight Equalization and Bias Correction",
       ICCV 2019, sec. 4.2, with E[x] measured on data),
     - AdaRound (Nagel et al., "Up or Down? Adaptive Rounding for
       Post-Training Quantization", ICML 2020),
     - a softmax quantization bias measurement (Pandey et al., "Softmax Bias
       Correction for Quantized Generative Models", arXiv 2309.01729).
   Staged here; the coordinator moves it into nn_quant.h.

   QUICK START
       nn_quant_range *r = ...;                 (ranges of g, nn_quant_ranges_from_collector)
       nn_quant_desc qd = {0};
       nn_quant_adaround_desc ad = {0};          (1000 iterations per layer)
       nn_quant_adaround(g, r, &qd, samples, n, &ad, NULL, &d);
       nn_quant_bc_desc bd = {0};                (30 samples, min_layer_cos 0.99)
       nn_quant_bias_correct(g, r, &qd, samples, n, &bd, NULL, &d);
       nn_quant_graph(g, r, &qd, &q, NULL, &d);  (quantize as usual)

   DESIGN
     Both take the same (g, ranges, qd) that nn_quant_graph will get and
     build the QDQ graph once internally to read the exact weight scales,
     bias scales and input activation scales it uses; they only change
     constant data of g (weights; biases, creating a bias input when a
     Conv/Gemm has none), never the node list, so ranges stay valid (a
     created bias is a constant: ranges are only read for node outputs and
     graph inputs).  Samples: inputs[k * g->input_count + i] = input i of
     sample k (borrowed).  Layers: Conv (1-D/2-D, any group), Gemm
     (transA 0) and MatMul with a constant 2-D float weight read only by
     that node, in a layer the table leaves in an integer mode.
   ERRORS  nn_status + nn_diag; NN_ERR_NOMEM may leave g partly rewritten
     (weights of the layers done so far).
   THREADS  No global state.
*/
#ifndef NN_QUANT_ALGOS_H
#define NN_QUANT_ALGOS_H

#include "nn_quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- AdaRound ----------------------------------------------------------- */

typedef struct nn_quant_adaround_layer {
    uint32_t node;                 /* node index in g */
    uint32_t channels;             /* output channels optimized (the others kept nearest) */
    uint32_t positions;            /* sampled output positions (rows of the reconstruction) */
    uint64_t flipped;              /* weights rounded the other way than nearest */
    double err_nearest;            /* mean over held-out positions of sum_c (y~_c - y_c)^2, nearest rounding */
    double err_adaround;           /* the same with the rounding kept (learned where it is lower, per channel) */
} nn_quant_adaround_layer;

typedef struct nn_quant_adaround_desc {
    uint32_t iterations;           /* 0: 1000 Adam steps per layer */
    uint32_t positions;            /* 0: 1024 output positions per layer, spread over the samples
                                      (fewer for wide layers: at most 4M patch floats per layer) */
    uint32_t batch;                /* 0: 32 positions per step */
    double reg;                    /* lambda of the rounding regularizer; 0: 1 (the loss is in grid
                                      units; with the paper's 0.01 most h stay between 0 and 1) */
    double beta_start, beta_end;   /* annealing of beta; 0: 20 and 2 */
    double warm_start;             /* fraction of steps without the regularizer; 0: 0.2 */
    double lr;                     /* Adam step; 0: 10 / iterations (0.01 at 1000 steps: Adam moves V
                                      by about lr per step, and V must travel a few units) */
    int float_input;               /* 1: reconstruct on the float input; 0: on the input
                                      fake-quantized with its QDQ scale (default) */
    uint32_t seed;                 /* 0: 1 */
    uint32_t max_samples;          /* 0: all samples given */
    const nn_input_shape *input_shapes; /* for the float executor */
    uint32_t input_shape_count;
    nn_quant_log_fn progress;      /* optional: one line per layer */
    void *progress_user;
    nn_quant_adaround_layer *layers; /* optional caller array, filled up to layer_cap */
    uint32_t layer_cap;
} nn_quant_adaround_desc;

typedef struct nn_quant_adaround_report {
    uint32_t layers;               /* layers optimized */
    uint32_t skipped;              /* linear layers left alone (shared weight, float layer, ...) */
    uint64_t weights, flipped;
    double err_nearest, err_adaround; /* sums over layers */
} nn_quant_adaround_report;

/* AdaRound: per layer, learns whether each int8 weight rounds up or down
   (soft rounding h(V) = clip(sigmoid(V) (zeta - gamma) + gamma, 0, 1),
   zeta 1.1, gamma -0.1, regularizer sum 1 - |2h - 1|^beta with beta
   annealed from beta_start to beta_end after a warm start), minimising
   ||W x - W~ x^||^2 over sampled output positions of the layer's
   calibration inputs (x from the float model; x^ = x fake-quantized with
   the layer's input scale unless float_input).  The weights written back
   lie exactly on the per-channel grid nn_quant_graph uses (s_c = max|w_c| /
   qmax; the max element keeps its value, so round(w / s_c) reproduces the
   learned rounding).  The sampled positions are split 3:1: the first part
   trains, and a channel keeps its nearest rounding when the learned one
   reconstructs worse on the held-out part.  out optional. */
NN_API nn_status nn_quant_adaround(nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd,
                                   const nn_value *inputs, uint32_t sample_count, const nn_quant_adaround_desc *d,
                                   nn_quant_adaround_report *out, nn_diag *diag);

/* ---- empirical bias correction ------------------------------------------ */

typedef enum nn_quant_bc_mode {
    NN_QUANT_BC_LOCAL = 0,         /* default: e_c = (W~ - W) E[x^] + (b~ - b), x^ the layer's
                                      input in the quantized model: the shift the layer itself adds */
    NN_QUANT_BC_TOTAL              /* e_c = E[y_q,c] - E[y_f,c] at the layer's output: its own shift
                                      plus what reaches it from upstream (corrected all at once,
                                      so upstream shifts are counted twice; see docs) */
} nn_quant_bc_mode;

typedef struct nn_quant_bc_layer {
    uint32_t node;                 /* node index in g */
    double cosine;                 /* output cosine before correction (float_only fake-quant) */
    double mean_abs_shift;         /* mean over channels of |e_c| (last round) */
    double rel_shift;              /* mean |e_c| / RMS of the float output */
    int corrected;                 /* cosine < min_layer_cos */
    int bias_created;
} nn_quant_bc_layer;

typedef struct nn_quant_bc_desc {
    uint32_t samples;              /* bc_inference_num; 0: 30 (TPU-MLIR's default), capped at sample_count */
    double min_layer_cos;          /* correct layers whose output cosine is below; 0: 0.99 (TPU-MLIR's
                                      default); >= 1: every layer */
    nn_quant_bc_mode mode;
    uint32_t rounds;               /* 0: 1; re-quantize, re-measure and correct again */
    const nn_input_shape *input_shapes; /* for the float executor */
    uint32_t input_shape_count;
    nn_quant_log_fn progress;
    void *progress_user;
    nn_quant_bc_layer *layers;     /* optional caller array, filled up to layer_cap */
    uint32_t layer_cap;
} nn_quant_bc_desc;

typedef struct nn_quant_bc_report {
    uint32_t layers;               /* linear layers measured */
    uint32_t corrected;
    uint32_t biases_created;
    uint32_t skipped;              /* no way to hold a bias (MatMul without Add) or not found in the QDQ graph */
} nn_quant_bc_report;

/* Empirical bias correction: quantizes g (nn_quant_graph with ranges, qd),
   runs the float model and the QDQ model (fake-quant executor, float
   kernels so that each layer's output before its QuantizeLinear is seen)
   on the first `samples` samples, and for every layer whose output cosine
   is below min_layer_cos subtracts the per-output-channel mean error e_c
   (see nn_quant_bc_mode) from its float bias (Gemm: divided by beta;
   MatMul: the constant of the Add after it).  out optional. */
NN_API nn_status nn_quant_bias_correct(nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd,
                                       const nn_value *inputs, uint32_t sample_count, const nn_quant_bc_desc *d,
                                       nn_quant_bc_report *out, nn_diag *diag);

/* ---- softmax quantization bias ------------------------------------------- */

typedef struct nn_quant_softmax_bias {
    uint32_t node;                 /* Softmax node in g */
    int quantized;                 /* 0: its output stays float in the QDQ graph (bias 0) */
    double scale;                  /* output scale when quantized */
    double row_sum;                /* mean over rows of sum_j q(p)_j (1 when float) */
    double zero_fraction;          /* fraction of probabilities that quantize to 0 */
} nn_quant_softmax_bias;

/* Measures, for each Softmax of g (up to cap), the expected row sum of its
   quantized output in the QDQ graph built from (ranges, qd) on the given
   samples (fake-quant executor, float kernels): the bias Pandey et al.
   correct.  *count = Softmax nodes seen.  Nothing is rewritten. */
NN_API nn_status nn_quant_softmax_bias_measure(const nn_graph *g, const nn_quant_range *ranges,
                                               const nn_quant_desc *qd, const nn_value *inputs,
                                               uint32_t sample_count, nn_quant_softmax_bias *out, uint32_t cap,
                                               uint32_t *count, nn_diag *diag);

#ifdef __cplusplus
}
#endif
#endif /* NN_QUANT_ALGOS_H */

/* ===================== end of API: implementation below ===================== */

#if defined(NN_IMPLEMENTATION) || defined(NN_QUANT_IMPLEMENTATION)
#ifndef NN_QUANT_ALGOS_IMPLEMENTATION_DONE
#define NN_QUANT_ALGOS_IMPLEMENTATION_DONE

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One linear layer of g. */
typedef struct nn_qa__lin {
    uint32_t node;                 /* in g */
    int kind;                      /* 1 Conv, 2 Gemm, 3 MatMul */
    int64_t cout, cin, kh, kw, group;  /* cin: input channels (Conv) or K (Gemm/MatMul) */
    int64_t sh, sw, dh, dw, pads[4];
    int autopad;                   /* 0 NOTSET, 1 VALID, 2 SAME_UPPER, 3 SAME_LOWER */
    int64_t K;                     /* weights per output channel */
    int64_t F;                     /* patch length: cin * kh * kw (Conv), K (Gemm/MatMul) */
    int wlayout;                   /* 0: w[c * K + k]; 1: w[k * cout + c] */
    double alpha, beta;            /* Gemm (1, 1 otherwise) */
    uint32_t wt, bt;               /* weight, bias tensor (bt NN_INVALID_ID: none) */
    uint32_t bias_add;             /* MatMul: Add node holding the bias, else NN_INVALID_ID */
    uint32_t in_t, out_t;          /* g: input 0 and output 0 */
    /* in the QDQ graph */
    uint32_t qnode, qin_t;         /* NN_INVALID_ID when not found */
    double in_scale;               /* input activation DQ (0: float input) */
    int32_t in_zp, in_lo, in_hi;
} nn_qa__lin;

static uint32_t nn_qa__rng(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    return *s = x;
}

/* w[c][k] of layer L in weight data w. */
static size_t nn_qa__widx(const nn_qa__lin *L, int64_t c, int64_t k) {
    return L->wlayout ? (size_t)(k * L->cout + c) : (size_t)(c * L->K + k);
}

/* Offset of output channel c's slice in a patch. */
static int64_t nn_qa__goff(const nn_qa__lin *L, int64_t c) {
    return L->group > 1 ? (c / (L->cout / L->group)) * L->K : 0;
}

static int nn_qa__is_std(const nn_node *n) { return !n->domain || !n->domain[0] || !strcmp(n->domain, "ai.onnx"); }

static int nn_qa__const_f32(const nn_graph *g, nn_tensor_id t) {
    const nn_tensor *tt;
    if (t.id == NN_INVALID_ID || t.id >= g->tensor_count) return 0;
    tt = &g->tensors[t.id];
    return (tt->flags & NN_TENSOR_CONST) && tt->dtype == NN_DTYPE_FLOAT && tt->data;
}

/* Fills L from node ni when it is a supported linear layer; 0 otherwise. */
static int nn_qa__describe(const nn_graph *g, uint32_t ni, const uint32_t *uses, nn_qa__lin *L) {
    const nn_node *n = &g->nodes[ni];
    const nn_tensor *w;
    const nn_attr *a;
    memset(L, 0, sizeof *L);
    L->node = ni;
    L->bt = L->bias_add = L->qnode = L->qin_t = NN_INVALID_ID;
    L->alpha = L->beta = 1.0;
    L->sh = L->sw = L->dh = L->dw = 1;
    L->group = 1;
    if (!nn_qa__is_std(n) || n->input_count < 2 || n->output_count < 1 || n->inputs[0].id == NN_INVALID_ID ||
        n->outputs[0].id == NN_INVALID_ID || !nn_qa__const_f32(g, n->inputs[1]) || uses[n->inputs[1].id] != 1)
        return 0;
    w = &g->tensors[n->inputs[1].id];
    L->wt = n->inputs[1].id;
    L->in_t = n->inputs[0].id;
    L->out_t = n->outputs[0].id;
    if (!strcmp(n->op_type, "Conv")) {
        int sp = w->shape.rank - 2;
        L->kind = 1;
        if (sp < 1 || sp > 2) return 0;
        L->group = nn_node_attr_int(n, "group", 1);
        L->cout = w->shape.dims[0];
        L->kh = sp == 2 ? w->shape.dims[2] : 1;
        L->kw = w->shape.dims[sp == 2 ? 3 : 2];
        if (L->group < 1 || L->cout <= 0 || L->cout % L->group) return 0;
        L->cin = w->shape.dims[1] * L->group;
        L->K = w->shape.dims[1] * L->kh * L->kw;
        L->F = L->cin * L->kh * L->kw;
        if ((a = nn_node_attr(n, "strides")) && a->count == (uint32_t)sp) {
            L->sh = sp == 2 ? a->ints[0] : 1;
            L->sw = a->ints[sp - 1];
        }
        if ((a = nn_node_attr(n, "dilations")) && a->count == (uint32_t)sp) {
            L->dh = sp == 2 ? a->ints[0] : 1;
            L->dw = a->ints[sp - 1];
        }
        if ((a = nn_node_attr(n, "pads")) && a->count == (uint32_t)(2 * sp)) {
            L->pads[0] = sp == 2 ? a->ints[0] : 0;
            L->pads[1] = a->ints[sp - 1];
        }
        {
            const char *ap = nn_node_attr_string(n, "auto_pad", "NOTSET");
            L->autopad = !strcmp(ap, "VALID") ? 1 : !strcmp(ap, "SAME_UPPER") ? 2 : !strcmp(ap, "SAME_LOWER") ? 3 : 0;
        }
        if (L->sh < 1 || L->sw < 1 || L->dh < 1 || L->dw < 1) return 0;
        if (n->input_count >= 3 && n->inputs[2].id != NN_INVALID_ID) {
            const nn_tensor *b = &g->tensors[n->inputs[2].id];
            if (!nn_qa__const_f32(g, n->inputs[2]) || b->shape.rank != 1 || b->shape.dims[0] != L->cout) return 0;
            L->bt = n->inputs[2].id;
        }
        return 1;
    }
    if (w->shape.rank != 2) return 0;
    if (!strcmp(n->op_type, "Gemm")) {
        L->kind = 2;
        if (nn_node_attr_int(n, "transA", 0)) return 0;
        L->wlayout = nn_node_attr_int(n, "transB", 0) ? 0 : 1;
        L->cout = w->shape.dims[L->wlayout ? 1 : 0];
        L->K = L->F = L->cin = w->shape.dims[L->wlayout ? 0 : 1];
        L->alpha = nn_node_attr_float(n, "alpha", 1.0f);
        L->beta = nn_node_attr_float(n, "beta", 1.0f);
        if (L->beta == 0 || L->alpha == 0) return 0;
        if (n->input_count >= 3 && n->inputs[2].id != NN_INVALID_ID) {
            const nn_tensor *b = &g->tensors[n->inputs[2].id];
            int ok;
            if (!nn_qa__const_f32(g, n->inputs[2]) || nn_shape_count(&b->shape, &ok) != (size_t)L->cout ||
                b->shape.dims[b->shape.rank - 1] != L->cout)
                return 0;
            L->bt = n->inputs[2].id;
        }
        return L->cout > 0 && L->K > 0;
    }
    if (!strcmp(n->op_type, "MatMul")) {
        uint32_t j, k, found = NN_INVALID_ID;
        L->kind = 3;
        L->wlayout = 1;
        L->cout = w->shape.dims[1];
        L->K = L->F = L->cin = w->shape.dims[0];
        /* the bias: the one reader of the output is Add(out, const[N]) */
        if (uses[L->out_t] == 1 && !(g->tensors[L->out_t].flags & NN_TENSOR_OUTPUT))
            for (j = 0; j < g->node_count && found == NN_INVALID_ID; j++) {
                const nn_node *an = &g->nodes[j];
                if (strcmp(an->op_type, "Add") || !nn_qa__is_std(an) || an->input_count != 2) continue;
                for (k = 0; k < 2; k++) {
                    nn_tensor_id o = an->inputs[1 - k];
                    if (an->inputs[k].id != L->out_t || !nn_qa__const_f32(g, o) || uses[o.id] != 1) continue;
                    if (g->tensors[o.id].shape.rank == 1 && g->tensors[o.id].shape.dims[0] == L->cout) {
                        found = j;
                        L->bt = o.id;
                    }
                }
            }
        L->bias_add = found;
        return L->cout > 0 && L->K > 0;
    }
    return 0;
}

/* Layers of g that nn_quant_graph will run in an integer mode, in
   topological order.  *out allocated (caller frees), *count set; skipped
   counts linear-looking nodes left out. */
static nn_status nn_qa__find(const nn_graph *g, const nn_quant_desc *qd, const nn_allocator *al, nn_qa__lin **out,
                             uint32_t *count, uint32_t *skipped, nn_diag *diag) {
    uint32_t *uses = NULL, *order = NULL, i, j, n = 0;
    nn_quant_dtype *mode = NULL;
    nn_qa__lin *v = NULL;
    nn_status st = NN_OK;
    *out = NULL;
    *count = 0;
    *skipped = 0;
    for (i = 0; i < g->node_count; i++)
        for (j = 0; j < g->nodes[i].attr_count; j++)
            if (g->nodes[i].attrs[j].type == NN_ATTR_GRAPH || g->nodes[i].attrs[j].type == NN_ATTR_GRAPHS)
                return nn_diag_set(diag, NN_ERR_UNSUPPORTED, g->nodes[i].name, "subgraph attributes");
    uses = (uint32_t *)nn_alloc(al, ((size_t)g->tensor_count + 1) * sizeof *uses);
    order = (uint32_t *)nn_alloc(al, ((size_t)g->node_count + 1) * sizeof *order);
    mode = (nn_quant_dtype *)nn_alloc(al, ((size_t)g->node_count + 1) * sizeof *mode);
    v = (nn_qa__lin *)nn_alloc(al, ((size_t)g->node_count + 1) * sizeof *v);
    if (!uses || !order || !mode || !v) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory"); goto done; }
    memset(uses, 0, ((size_t)g->tensor_count + 1) * sizeof *uses);
    for (i = 0; i < g->node_count; i++)
        for (j = 0; j < g->nodes[i].input_count; j++)
            if (g->nodes[i].inputs[j].id != NN_INVALID_ID && g->nodes[i].inputs[j].id < g->tensor_count)
                uses[g->nodes[i].inputs[j].id]++;
    if ((st = nn_graph_topo_order(g, order, diag))) goto done;
    if ((st = nn_quant_resolve_table(g, qd ? qd->table : NULL, NULL, NULL, mode, NULL, diag))) goto done;
    for (i = 0; i < g->node_count; i++) {
        uint32_t ni = order[i];
        const nn_node *nd = &g->nodes[ni];
        if (strcmp(nd->op_type, "Conv") && strcmp(nd->op_type, "Gemm") && strcmp(nd->op_type, "MatMul")) continue;
        if (mode[ni] == NN_QUANT_DTYPE_F32 || mode[ni] == NN_QUANT_DTYPE_F16 || mode[ni] == NN_QUANT_DTYPE_BF16 ||
            !nn_qa__describe(g, ni, uses, &v[n])) {
            (*skipped)++;
            continue;
        }
        n++;
    }
    *out = v;
    *count = n;
    v = NULL;
done:
    nn_free(al, uses);
    nn_free(al, order);
    nn_free(al, mode);
    nn_free(al, v);
    return st;
}

/* A DequantizeLinear of constants feeding tensor t of q: its int data
   dequantized into out (count elements, float), scales per channel in
   scale_out (ch entries when not NULL).  0 when t is not such a tensor. */
static int nn_qa__dq_const(const nn_graph *q, uint32_t t, float *out, size_t count, float *scale_out, int64_t ch) {
    const nn_node *dq;
    const nn_tensor *qt, *st, *zt;
    int64_t axis, outer = 1, inner = 1, c, r, nch;
    size_t i, nscale;
    int ok;
    if (t == NN_INVALID_ID || q->tensors[t].producer.id == NN_INVALID_ID) return 0;
    dq = &q->nodes[q->tensors[t].producer.id];
    if (strcmp(dq->op_type, "DequantizeLinear") || dq->input_count < 2) return 0;
    qt = &q->tensors[dq->inputs[0].id];
    st = &q->tensors[dq->inputs[1].id];
    zt = dq->input_count >= 3 && dq->inputs[2].id != NN_INVALID_ID ? &q->tensors[dq->inputs[2].id] : NULL;
    if (!(qt->flags & NN_TENSOR_CONST) || !qt->data || !(st->flags & NN_TENSOR_CONST) || st->dtype != NN_DTYPE_FLOAT ||
        !st->data || nn_shape_count(&qt->shape, &ok) != count || !ok)
        return 0;
    nscale = st->data_bytes / sizeof(float);
    axis = nscale > 1 ? nn_node_attr_int(dq, "axis", 1) : 0;
    if (axis < 0) axis += qt->shape.rank;
    if (nscale > 1) {
        if (axis < 0 || axis >= qt->shape.rank || (size_t)qt->shape.dims[axis] != nscale) return 0;
        for (r = 0; r < axis; r++) outer *= qt->shape.dims[r];
        for (r = axis + 1; r < qt->shape.rank; r++) inner *= qt->shape.dims[r];
        nch = (int64_t)nscale;
    } else {
        inner = (int64_t)count;
        nch = 1;
    }
    for (i = 0; i < count; i++) {
        int64_t cc = nch > 1 ? (int64_t)((i / (size_t)inner) % (size_t)nch) : 0;
        double s = ((const float *)st->data)[cc], z = 0, v;
        if (zt && zt->data) {
            size_t zi = (zt->data_bytes / nn_dtype_size(zt->dtype)) > 1 ? (size_t)cc : 0;
            if (zt->dtype == NN_DTYPE_INT8) z = ((const int8_t *)zt->data)[zi];
            else if (zt->dtype == NN_DTYPE_UINT8) z = ((const uint8_t *)zt->data)[zi];
            else if (zt->dtype == NN_DTYPE_INT32) z = ((const int32_t *)zt->data)[zi];
        }
        switch (qt->dtype) {
        case NN_DTYPE_INT8: v = ((const int8_t *)qt->data)[i]; break;
        case NN_DTYPE_UINT8: v = ((const uint8_t *)qt->data)[i]; break;
        case NN_DTYPE_INT32: v = ((const int32_t *)qt->data)[i]; break;
        default: return 0;
        }
        out[i] = (float)((v - z) * s);
    }
    (void)outer;
    if (scale_out)
        for (c = 0; c < ch; c++) scale_out[c] = ((const float *)st->data)[nch > 1 ? c % nch : 0];
    return 1;
}

/* Maps each layer to its node in q (same output name and op) and reads the
   DequantizeLinear before its input 0 (activation scale). */
static void nn_qa__map_q(const nn_graph *g, const nn_graph *q, nn_qa__lin *L, uint32_t n) {
    uint32_t i;
    for (i = 0; i < n; i++) {
        nn_tensor_id t = nn_graph_find_tensor(q, g->tensors[L[i].out_t].name);
        const nn_node *qn;
        L[i].qnode = L[i].qin_t = NN_INVALID_ID;
        L[i].in_scale = 0;
        if (t.id == NN_INVALID_ID || q->tensors[t.id].producer.id == NN_INVALID_ID) continue;
        qn = &q->nodes[q->tensors[t.id].producer.id];
        if (strcmp(qn->op_type, g->nodes[L[i].node].op_type) || qn->input_count < 2) continue;
        L[i].qnode = q->tensors[t.id].producer.id;
        L[i].qin_t = qn->inputs[0].id;
        if (L[i].qin_t != NN_INVALID_ID && q->tensors[L[i].qin_t].producer.id != NN_INVALID_ID) {
            const nn_node *dq = &q->nodes[q->tensors[L[i].qin_t].producer.id];
            const nn_tensor *st = dq->input_count >= 2 ? &q->tensors[dq->inputs[1].id] : NULL;
            const nn_tensor *zt = dq->input_count >= 3 && dq->inputs[2].id != NN_INVALID_ID ? &q->tensors[dq->inputs[2].id] : NULL;
            if (!strcmp(dq->op_type, "DequantizeLinear") && st && st->data && st->dtype == NN_DTYPE_FLOAT &&
                st->data_bytes == sizeof(float)) {
                L[i].in_scale = ((const float *)st->data)[0];
                L[i].in_zp = 0;
                L[i].in_lo = -128;
                L[i].in_hi = 127;
                if (zt && zt->data && zt->dtype == NN_DTYPE_UINT8) {
                    L[i].in_zp = ((const uint8_t *)zt->data)[0];
                    L[i].in_lo = 0;
                    L[i].in_hi = 255;
                } else if (zt && zt->data && zt->dtype == NN_DTYPE_INT8) {
                    L[i].in_zp = ((const int8_t *)zt->data)[0];
                } else if (zt && zt->data && zt->dtype == NN_DTYPE_INT16) {
                    L[i].in_zp = ((const int16_t *)zt->data)[0];
                    L[i].in_lo = -32768;
                    L[i].in_hi = 32767;
                }
            }
        }
    }
}

/* Begin pads of L for input (H, W) and output (OH, OW). */
static void nn_qa__pads(const nn_qa__lin *L, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t *ph, int64_t *pw) {
    if (L->autopad == 0) { *ph = L->pads[0]; *pw = L->pads[1]; return; }
    if (L->autopad == 1) { *ph = *pw = 0; return; }
    {
        int64_t th = (OH - 1) * L->sh + (L->kh - 1) * L->dh + 1 - H, tw = (OW - 1) * L->sw + (L->kw - 1) * L->dw + 1 - W;
        if (th < 0) th = 0;
        if (tw < 0) tw = 0;
        *ph = L->autopad == 2 ? th / 2 : th - th / 2;
        *pw = L->autopad == 2 ? tw / 2 : tw - tw / 2;
    }
}

/* Geometry of one observed call: positions (output rows) and spatial sizes.
   0 when x / y do not fit the layer. */
typedef struct nn_qa__geo {
    int64_t N, H, W, OH, OW, ph, pw, rows;
} nn_qa__geo;

static int nn_qa__geometry(const nn_qa__lin *L, const nn_value *x, const nn_value *y, nn_qa__geo *o) {
    memset(o, 0, sizeof *o);
    if (!x || !y || x->dtype != NN_DTYPE_FLOAT || y->dtype != NN_DTYPE_FLOAT || !x->data || !y->data) return 0;
    if (L->kind == 1) {
        int r = x->shape.rank;
        if ((r != 3 && r != 4) || y->shape.rank != r || x->shape.dims[1] != L->cin || y->shape.dims[1] != L->cout) return 0;
        o->N = x->shape.dims[0];
        o->H = r == 4 ? x->shape.dims[2] : 1;
        o->W = x->shape.dims[r - 1];
        o->OH = r == 4 ? y->shape.dims[2] : 1;
        o->OW = y->shape.dims[r - 1];
        if (y->shape.dims[0] != o->N) return 0;
        nn_qa__pads(L, o->H, o->W, o->OH, o->OW, &o->ph, &o->pw);
        if (r == 3) o->ph = 0;
        o->rows = o->N * o->OH * o->OW;
        return o->rows > 0;
    }
    if (x->shape.rank < 1 || x->shape.dims[x->shape.rank - 1] != L->K || y->shape.dims[y->shape.rank - 1] != L->cout)
        return 0;
    o->rows = (int64_t)(nn_value_count(x) / (size_t)L->K);
    return o->rows > 0 && (size_t)o->rows * (size_t)L->cout == nn_value_count(y);
}

/* Patch of output row r (Conv: all input channels, (ci, ky, kx) order). */
static void nn_qa__patch(const nn_qa__lin *L, const nn_qa__geo *G, const float *x, int64_t r, float *dst) {
    int64_t ci, ky, kx;
    if (L->kind != 1) { memcpy(dst, x + r * L->K, (size_t)L->K * sizeof(float)); return; }
    {
        int64_t n = r / (G->OH * G->OW), oy = (r / G->OW) % G->OH, ox = r % G->OW;
        for (ci = 0; ci < L->cin; ci++) {
            const float *xc = x + (n * L->cin + ci) * G->H * G->W;
            for (ky = 0; ky < L->kh; ky++) {
                int64_t iy = oy * L->sh - G->ph + ky * L->dh;
                for (kx = 0; kx < L->kw; kx++) {
                    int64_t ix = ox * L->sw - G->pw + kx * L->dw;
                    *dst++ = (iy >= 0 && iy < G->H && ix >= 0 && ix < G->W) ? xc[iy * G->W + ix] : 0.0f;
                }
            }
        }
    }
}

/* Sum over all output rows of the patches into acc (F entries). */
static void nn_qa__patch_sum(const nn_qa__lin *L, const nn_qa__geo *G, const float *x, double *acc) {
    int64_t ci, ky, kx, n, oy, ox, r;
    if (L->kind != 1) {
        for (r = 0; r < G->rows; r++)
            for (ci = 0; ci < L->K; ci++) acc[ci] += x[r * L->K + ci];
        return;
    }
    for (ci = 0; ci < L->cin; ci++)
        for (ky = 0; ky < L->kh; ky++)
            for (kx = 0; kx < L->kw; kx++) {
                double s = 0;
                for (n = 0; n < G->N; n++) {
                    const float *xc = x + (n * L->cin + ci) * G->H * G->W;
                    for (oy = 0; oy < G->OH; oy++) {
                        int64_t iy = oy * L->sh - G->ph + ky * L->dh;
                        if (iy < 0 || iy >= G->H) continue;
                        for (ox = 0; ox < G->OW; ox++) {
                            int64_t ix = ox * L->sw - G->pw + kx * L->dw;
                            if (ix >= 0 && ix < G->W) s += xc[iy * G->W + ix];
                        }
                    }
                }
                acc[(ci * L->kh + ky) * L->kw + kx] += s;
            }
}

/* Per-channel sums of output y (Conv: axis 1; Gemm/MatMul: last axis). */
static void nn_qa__chan_sum(const nn_qa__lin *L, const nn_value *y, double *acc) {
    const float *v = (const float *)y->data;
    size_t n = nn_value_count(y), i;
    if (L->kind == 1) {
        size_t inner = 1, c;
        int r;
        for (r = 2; r < y->shape.rank; r++) inner *= (size_t)y->shape.dims[r];
        for (i = 0; i < n; i++) {
            c = (i / inner) % (size_t)L->cout;
            acc[c] += v[i];
        }
        return;
    }
    for (i = 0; i < n; i++) acc[i % (size_t)L->cout] += v[i];
}

static float nn_qa__fq(const nn_qa__lin *L, float v) {
    double q;
    if (!(L->in_scale > 0)) return v;
    q = rint(v / L->in_scale) + L->in_zp;
    if (q < L->in_lo) q = L->in_lo;
    if (q > L->in_hi) q = L->in_hi;
    return (float)((q - L->in_zp) * L->in_scale);
}

/* sum a[k] b[k] with eight partial sums (vectorizes without -ffast-math). */
static float nn_qa__dot(const float *a, const float *b, int64_t n) {
    float p[8] = {0, 0, 0, 0, 0, 0, 0, 0}, s;
    int64_t k = 0;
    int j;
    for (; k + 8 <= n; k += 8)
        for (j = 0; j < 8; j++) p[j] += a[k + j] * b[k + j];
    s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

/* ---- shared observer ----------------------------------------------------- */

enum { NN_QA__ADA = 1, NN_QA__BC_FLOAT, NN_QA__BC_Q };

typedef struct nn_qa__acc {
    double *fsum, *qsum;           /* (cout) output channel sums, float and quantized runs */
    double *psum;                  /* (F) patch sums of the quantized input (LOCAL) */
    double rows_f, rows_q;
    double dot, ff, qq, fsq;       /* cosine and float RMS */
    float *ref;                    /* float output of the current sample (cosine) */
    size_t ref_count;
    /* AdaRound capture */
    float *X;                      /* (P, F) patches, fake-quantized unless float_input */
    float *T;                      /* (cout, P) float outputs W x (no bias) */
    uint32_t P, filled, quota;
} nn_qa__acc;

typedef struct nn_qa__obs {
    int what;
    const nn_graph *g;             /* the graph being run */
    nn_qa__lin *L;
    nn_qa__acc *acc;
    int32_t *lin_of;               /* (node_count of the run graph) layer index or -1 */
    uint8_t *watch;                /* (tensor_count) inputs to remember */
    nn_value *slot;                /* (tensor_count) */
    int float_input, want_cos;
    uint32_t rng;
    const nn_allocator *al;
    int nomem;
} nn_qa__obs;

static void nn_qa__ada_capture(nn_qa__obs *o, nn_qa__lin *L, nn_qa__acc *A, const nn_value *x, const nn_value *y) {
    nn_qa__geo G;
    uint32_t take, t;
    const float *w;
    if (!A->X || A->filled >= A->P || !nn_qa__geometry(L, x, y, &G)) return;
    take = A->quota;
    if (take > A->P - A->filled) take = A->P - A->filled;
    w = (const float *)o->g->tensors[L->wt].data;
    for (t = 0; t < take; t++) {
        int64_t r = (int64_t)(nn_qa__rng(&o->rng) % (uint32_t)(G.rows > 0x7fffffff ? 0x7fffffff : G.rows)), c, k;
        float *dst = A->X + (size_t)A->filled * (size_t)L->F;
        uint32_t p = A->filled++;
        nn_qa__patch(L, &G, (const float *)x->data, r, dst);
        for (c = 0; c < L->cout; c++) {
            int64_t off = nn_qa__goff(L, c);
            if (L->wlayout == 0) {
                A->T[(size_t)c * A->P + p] = nn_qa__dot(w + (size_t)c * (size_t)L->K, dst + off, L->K);
            } else {
                double s = 0;
                for (k = 0; k < L->K; k++) s += (double)w[nn_qa__widx(L, c, k)] * dst[off + k];
                A->T[(size_t)c * A->P + p] = (float)s;
            }
        }
        if (!o->float_input && L->in_scale > 0)
            for (k = 0; k < L->F; k++) dst[k] = nn_qa__fq(L, dst[k]);
    }
}

static int nn_qa__observer(void *user, const nn_graph *g, uint32_t ni, const nn_value *outs, uint32_t oc) {
    nn_qa__obs *o = (nn_qa__obs *)user;
    const nn_node *n = &g->nodes[ni];
    uint32_t j;
    int32_t li;
    for (j = 0; j < oc && j < n->output_count; j++)
        if (n->outputs[j].id != NN_INVALID_ID && o->watch[n->outputs[j].id]) o->slot[n->outputs[j].id] = outs[j];
    li = o->lin_of[ni];
    if (li < 0 || oc < 1) return 0;
    {
        nn_qa__lin *L = &o->L[li];
        nn_qa__acc *A = &o->acc[li];
        uint32_t xt = o->what == NN_QA__BC_Q ? L->qin_t : L->in_t;
        const nn_value *x = xt != NN_INVALID_ID ? &o->slot[xt] : NULL, *y = &outs[0];
        nn_qa__geo G;
        size_t cnt, i;
        if (o->what == NN_QA__ADA) { nn_qa__ada_capture(o, L, A, x, y); return 0; }
        if (y->dtype != NN_DTYPE_FLOAT || !y->data) return 0;
        cnt = nn_value_count(y);
        if (o->what == NN_QA__BC_FLOAT) {
            const float *v = (const float *)y->data;
            nn_qa__chan_sum(L, y, A->fsum);
            A->rows_f += (double)(cnt / (size_t)L->cout);
            for (i = 0; i < cnt; i++) A->fsq += (double)v[i] * v[i];
            if (o->want_cos) {
                if (A->ref_count != cnt) {
                    nn_free(o->al, A->ref);
                    A->ref = (float *)nn_alloc(o->al, cnt * sizeof(float) + 1);
                    A->ref_count = A->ref ? cnt : 0;
                    if (!A->ref) { o->nomem = 1; return 1; }
                }
                memcpy(A->ref, v, cnt * sizeof(float));
            }
            return 0;
        }
        /* the QDQ run */
        nn_qa__chan_sum(L, y, A->qsum);
        A->rows_q += (double)(cnt / (size_t)L->cout);
        if (A->psum && nn_qa__geometry(L, x, y, &G)) nn_qa__patch_sum(L, &G, (const float *)x->data, A->psum);
        if (o->want_cos && A->ref && A->ref_count == cnt) {
            const float *v = (const float *)y->data;
            for (i = 0; i < cnt; i++) {
                A->dot += (double)v[i] * A->ref[i];
                A->ff += (double)A->ref[i] * A->ref[i];
                A->qq += (double)v[i] * v[i];
            }
        }
    }
    return 0;
}

/* Watches and layer map for a run of graph rg (g or q). */
static nn_status nn_qa__obs_init(nn_qa__obs *o, int what, const nn_graph *rg, nn_qa__lin *L, nn_qa__acc *A, uint32_t n,
                                 const nn_allocator *al, nn_diag *diag) {
    uint32_t i;
    memset(o, 0, sizeof *o);
    o->what = what;
    o->g = rg;
    o->L = L;
    o->acc = A;
    o->al = al;
    o->rng = 12345u;
    o->lin_of = (int32_t *)nn_alloc(al, ((size_t)rg->node_count + 1) * sizeof *o->lin_of);
    o->watch = (uint8_t *)nn_alloc(al, (size_t)rg->tensor_count + 1);
    o->slot = (nn_value *)nn_alloc(al, ((size_t)rg->tensor_count + 1) * sizeof *o->slot);
    if (!o->lin_of || !o->watch || !o->slot) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
    for (i = 0; i < rg->node_count; i++) o->lin_of[i] = -1;
    memset(o->watch, 0, (size_t)rg->tensor_count + 1);
    memset(o->slot, 0, ((size_t)rg->tensor_count + 1) * sizeof *o->slot);
    for (i = 0; i < n; i++) {
        uint32_t node = what == NN_QA__BC_Q ? L[i].qnode : L[i].node;
        uint32_t xt = what == NN_QA__BC_Q ? L[i].qin_t : L[i].in_t;
        if (node == NN_INVALID_ID) continue;
        o->lin_of[node] = (int32_t)i;
        if (xt != NN_INVALID_ID) o->watch[xt] = 1;
    }
    return NN_OK;
}

static void nn_qa__obs_deinit(nn_qa__obs *o) {
    nn_free(o->al, o->lin_of);
    nn_free(o->al, o->watch);
    nn_free(o->al, o->slot);
}

/* Binds sample k's inputs (and remembers them for watched graph inputs). */
static void nn_qa__bind_slots(nn_qa__obs *o, const nn_graph *rg, const nn_value *inputs, uint32_t k) {
    uint32_t i;
    for (i = 0; i < rg->input_count; i++)
        if (o->watch[rg->inputs[i].id]) o->slot[rg->inputs[i].id] = inputs[(size_t)k * rg->input_count + i];
}

static nn_status nn_qa__run_float(const nn_graph *g, nn_qa__obs *o, const nn_value *inputs, uint32_t n,
                                  const nn_input_shape *shapes, uint32_t shape_count, nn_diag *diag) {
    nn_exec_desc xd;
    nn_exec *x = NULL;
    uint32_t k, i;
    nn_status st;
    memset(&xd, 0, sizeof xd);
    xd.input_shapes = shapes;
    xd.input_shape_count = shape_count;
    xd.observer = nn_qa__observer;
    xd.observer_user = o;
    if ((st = nn_exec_create(g, &xd, &x, diag))) return st;
    for (k = 0; k < n && st == NN_OK; k++) {
        nn_qa__bind_slots(o, g, inputs, k);
        for (i = 0; i < g->input_count && st == NN_OK; i++)
            st = nn_exec_set_input(x, i, &inputs[(size_t)k * g->input_count + i], diag);
        if (st == NN_OK) st = nn_exec_run(x, diag);
    }
    nn_exec_destroy(x);
    if (o->nomem) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
    return st;
}

static void nn_qa__logf(nn_quant_log_fn log, void *user, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void nn_qa__logf(nn_quant_log_fn log, void *user, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    if (!log) return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log(user, buf);
}

/* ---- AdaRound ------------------------------------------------------------- */

#define NN_QA__ZETA 1.1
#define NN_QA__GAMMA (-0.1)

static float nn_qa__h(float v) {
    float s = 1.0f / (1.0f + expf(-v)), h = s * (float)(NN_QA__ZETA - NN_QA__GAMMA) + (float)NN_QA__GAMMA;
    return h < 0 ? 0 : h > 1 ? 1 : h;
}

/* Optimizes one captured layer and writes its weights back into g. */
static nn_status nn_qa__ada_layer(nn_graph *g, const nn_graph *q, nn_qa__lin *L, nn_qa__acc *A,
                                  const nn_quant_adaround_desc *d, const nn_allocator *al, nn_quant_adaround_layer *rep,
                                  nn_diag *diag) {
    const nn_tensor *wt = &g->tensors[L->wt];
    const float *w = (const float *)wt->data;
    size_t nw = (size_t)L->cout * (size_t)L->K, i;
    uint32_t P = A->filled, iters = d->iterations ? d->iterations : 1000, B = d->batch ? d->batch : 32, it, b;
    uint32_t warm, rng = d->seed ? d->seed : 1u, Pt, i0;
    double lam = d->reg > 0 ? d->reg : 1.0, b0 = d->beta_start > 0 ? d->beta_start : 20.0,
           b1 = d->beta_end > 0 ? d->beta_end : 2.0, lr = d->lr > 0 ? d->lr : 10.0 / iters,
           ws = d->warm_start > 0 ? d->warm_start : 0.2, xn = 0;
    float *V = NULL, *M1 = NULL, *M2 = NULL, *fl = NULL, *scale = NULL, *wnew = NULL, *a = NULL, *e = NULL, *gr = NULL;
    float *sgv = NULL;
    double *mch = NULL;
    uint8_t *fixed = NULL, *chan_ok = NULL;
    uint32_t *idx = NULL;
    nn_status st = NN_OK;
    int64_t c, k;
    memset(rep, 0, sizeof *rep);
    rep->node = L->node;
    rep->positions = P;
    if (P == 0 || L->qnode == NN_INVALID_ID) return NN_OK;
    /* positions [0, Pt) train, [Pt, P) decide whether a channel keeps the
       learned rounding (held out: with few calibration images a wide layer
       can fit its sampled positions and generalize worse than nearest) */
    Pt = P >= 8 ? P - P / 4 : P;
    i0 = Pt < P ? Pt : 0;
    if (B > Pt) B = Pt;
    V = (float *)nn_alloc(al, nw * sizeof(float) + 1);
    M1 = (float *)nn_alloc(al, nw * sizeof(float) + 1);
    M2 = (float *)nn_alloc(al, nw * sizeof(float) + 1);
    fl = (float *)nn_alloc(al, nw * sizeof(float) + 1);
    wnew = (float *)nn_alloc(al, nw * sizeof(float) + 1);
    fixed = (uint8_t *)nn_alloc(al, nw + 1);
    scale = (float *)nn_alloc(al, (size_t)L->cout * sizeof(float) + 1);
    chan_ok = (uint8_t *)nn_alloc(al, (size_t)L->cout + 1);
    a = (float *)nn_alloc(al, (size_t)L->K * sizeof(float) + 1);
    gr = (float *)nn_alloc(al, (size_t)L->K * sizeof(float) + 1);
    sgv = (float *)nn_alloc(al, (size_t)L->K * sizeof(float) + 1);
    mch = (double *)nn_alloc(al, (size_t)L->cout * sizeof(double) + 1);
    e = (float *)nn_alloc(al, (size_t)B * sizeof(float) + 1);
    idx = (uint32_t *)nn_alloc(al, (size_t)B * sizeof(uint32_t) + 1);
    if (!V || !M1 || !M2 || !fl || !wnew || !fixed || !scale || !chan_ok || !a || !gr || !e || !idx || !sgv || !mch) {
        st = nn_diag_set(diag, NN_ERR_NOMEM, wt->name, "out of memory");
        goto done;
    }
    /* the grid nn_quant_graph uses: the DQ scales of the weight in q */
    if (!nn_qa__dq_const(q, q->nodes[L->qnode].inputs[1].id, wnew, nw, scale, L->cout)) goto done;
    {
        double gmax = 0;
        int per_tensor = 1;
        for (c = 1; c < L->cout; c++)
            if (scale[c] != scale[0]) per_tensor = 0;
        for (i = 0; i < nw; i++) if (fabs(w[i]) > gmax) gmax = fabs(w[i]);
        for (c = 0; c < L->cout; c++) {
            double m = 0, qmax;
            if (per_tensor && L->cout > 1) m = gmax;
            else for (k = 0; k < L->K; k++) if (fabs(w[nn_qa__widx(L, c, k)]) > m) m = fabs(w[nn_qa__widx(L, c, k)]);
            qmax = scale[c] > 0 ? rint(m / scale[c]) : 0;
            mch[c] = m;
            /* a channel whose scale is not max / qmax (raised by the bias
               floor of nn_quant_graph, or all zero) keeps nearest rounding */
            chan_ok[c] = m > 0 && (qmax == 127 || qmax == 7) && (float)(m / qmax) == scale[c];
            rep->channels += chan_ok[c];
            for (k = 0; k < L->K; k++) {
                size_t wi = nn_qa__widx(L, c, k);
                double r = w[wi] / (double)scale[c], f = floor(r), fr = r - f;
                fl[wi] = (float)f;
                fixed[wi] = !chan_ok[c] || fabs(w[wi]) >= m || f + 1 > qmax || f < -qmax;
                if (fixed[wi]) {
                    double nr = rint(r);
                    if (nr > qmax) nr = qmax;
                    if (nr < -qmax) nr = -qmax;
                    fl[wi] = (float)nr;
                    V[wi] = 0;
                } else {   /* h(V) = fractional part */
                    double p = (fr - NN_QA__GAMMA) / (NN_QA__ZETA - NN_QA__GAMMA);
                    V[wi] = (float)log(p / (1 - p));
                }
                M1[wi] = M2[wi] = 0;
            }
        }
    }
    for (i = 0; i < (size_t)P * (size_t)L->F; i++) xn += (double)A->X[i] * A->X[i];
    xn /= (double)P * (double)L->F;
    if (!(xn > 0)) goto done;
    for (c = 0; c < L->cout; c++)   /* targets in grid units */
        if (chan_ok[c])
            for (i = 0; i < P; i++) A->T[(size_t)c * A->P + i] /= scale[c];
    warm = (uint32_t)(ws * iters);
    for (it = 0; it < iters; it++) {
        double beta = 0, t1 = 1, t2 = 1;
        int reg_on = it >= warm;
        float gscale = (float)(2.0 / ((double)B * xn));
        if (reg_on) {
            double rel = iters > warm ? (double)(it - warm) / (double)(iters - warm) : 1.0;
            beta = b1 + 0.5 * (b0 - b1) * (1 + cos(rel * 3.14159265358979323846));
        }
        t1 = 1 - pow(0.9, it + 1);
        t2 = 1 - pow(0.999, it + 1);
        for (b = 0; b < B; b++) idx[b] = nn_qa__rng(&rng) % Pt;
        for (c = 0; c < L->cout; c++) {
            int64_t off = nn_qa__goff(L, c);
            if (!chan_ok[c]) continue;
            for (k = 0; k < L->K; k++) {
                size_t wi = nn_qa__widx(L, c, k);
                float sg = 0, h = 0;
                if (!fixed[wi]) {
                    sg = 1.0f / (1.0f + expf(-V[wi]));
                    h = sg * (float)(NN_QA__ZETA - NN_QA__GAMMA) + (float)NN_QA__GAMMA;
                    h = h < 0 ? 0 : h > 1 ? 1 : h;
                }
                sgv[k] = sg;
                a[k] = fl[wi] + h;
                gr[k] = 0;
            }
            for (b = 0; b < B; b++) {
                const float *xp = A->X + (size_t)idx[b] * (size_t)L->F + off;
                e[b] = nn_qa__dot(a, xp, L->K) - A->T[(size_t)c * A->P + idx[b]];
            }
            for (b = 0; b < B; b++) {
                const float *xp = A->X + (size_t)idx[b] * (size_t)L->F + off;
                float eb = e[b] * gscale;
                for (k = 0; k < L->K; k++) gr[k] += eb * xp[k];
            }
            for (k = 0; k < L->K; k++) {
                size_t wi = nn_qa__widx(L, c, k);
                float sg, h, dh, gv, mh, vh;
                if (fixed[wi]) continue;
                sg = sgv[k];
                h = sg * (float)(NN_QA__ZETA - NN_QA__GAMMA) + (float)NN_QA__GAMMA;
                if (h <= 0 || h >= 1) dh = 0;  /* clipped: no gradient (the paper's h) */
                else dh = sg * (1 - sg) * (float)(NN_QA__ZETA - NN_QA__GAMMA);
                gv = gr[k];
                if (reg_on && dh > 0) {
                    double u = 2.0 * h - 1.0, au = fabs(u);
                    /* d/dh (1 - |2h - 1|^beta) = -2 beta |u|^(beta-1) sign(u) */
                    double dreg = au > 0 ? -2.0 * beta * pow(au, beta - 1) * (u > 0 ? 1 : -1) : 0;
                    gv += (float)(lam * dreg);
                }
                gv *= dh;
                M1[wi] = 0.9f * M1[wi] + 0.1f * gv;
                M2[wi] = 0.999f * M2[wi] + 0.001f * gv * gv;
                mh = M1[wi] / (float)t1;
                vh = M2[wi] / (float)t2;
                V[wi] -= (float)lr * mh / (sqrtf(vh) + 1e-8f);
            }
        }
    }
    /* hard rounding; keep it per channel only when it reconstructs better */
    for (c = 0; c < L->cout; c++) {
        int64_t off = nn_qa__goff(L, c);
        double en = 0, ea = 0, s2 = (double)scale[c] * scale[c], m = mch[c], qmax;
        uint64_t flips = 0;
        if (!chan_ok[c]) continue;
        qmax = rint(m / scale[c]);
        for (k = 0; k < L->K; k++) {
            size_t wi = nn_qa__widx(L, c, k);
            double r = w[wi] / (double)scale[c];
            a[k] = fixed[wi] ? fl[wi] : fl[wi] + (nn_qa__h(V[wi]) >= 0.5f ? 1.0f : 0.0f);
            gr[k] = (float)rint(r);
            if (gr[k] > qmax) gr[k] = (float)qmax;
            if (gr[k] < -qmax) gr[k] = (float)-qmax;
            flips += a[k] != gr[k];
        }
        for (i = i0; i < P; i++) {
            const float *xp = A->X + i * (size_t)L->F + off;
            double sa = nn_qa__dot(a, xp, L->K), sn = nn_qa__dot(gr, xp, L->K), t = A->T[(size_t)c * A->P + i];
            ea += (sa - t) * (sa - t);
            en += (sn - t) * (sn - t);
        }
        rep->err_nearest += en * s2 / (P - i0);
        if (ea < en) {
            rep->err_adaround += ea * s2 / (P - i0);
            rep->flipped += flips;
        } else {   /* nearest rounding, written on the grid as well */
            rep->err_adaround += en * s2 / (P - i0);
            memcpy(a, gr, (size_t)L->K * sizeof(float));
        }
        for (k = 0; k < L->K; k++) {
            size_t wi = nn_qa__widx(L, c, k);
            double qv = a[k];
            if (fabs(w[wi]) >= m) wnew[wi] = w[wi];           /* the max stays put */
            else if (fabs(qv) >= qmax) wnew[wi] = (float)(qv > 0 ? m : -m);
            else wnew[wi] = (float)(qv * scale[c]);
        }
    }
    for (c = 0; c < L->cout; c++)
        if (!chan_ok[c])
            for (k = 0; k < L->K; k++) wnew[nn_qa__widx(L, c, k)] = w[nn_qa__widx(L, c, k)];
    st = nn_graph_set_data(g, nn_graph_find_tensor(g, wt->name), wnew, nw * sizeof(float), 1, diag);
done:
    nn_free(al, V); nn_free(al, M1); nn_free(al, M2); nn_free(al, fl); nn_free(al, wnew); nn_free(al, fixed);
    nn_free(al, scale); nn_free(al, chan_ok); nn_free(al, a); nn_free(al, gr); nn_free(al, e); nn_free(al, idx);
    nn_free(al, sgv); nn_free(al, mch);
    return st;
}

#ifndef NN_QA_ADAROUND_CHUNK_FLOATS
#define NN_QA_ADAROUND_CHUNK_FLOATS (48u << 20)   /* patch floats captured per float-model pass (192 MB) */
#endif
#define NN_QA__LAYER_FLOATS (4u << 20)

NN_API nn_status nn_quant_adaround(nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd,
                                   const nn_value *inputs, uint32_t sample_count, const nn_quant_adaround_desc *d,
                                   nn_quant_adaround_report *out, nn_diag *diag) {
    nn_allocator al;
    nn_quant_adaround_desc dd;
    nn_quant_desc qdd;
    nn_qa__lin *L = NULL;
    nn_qa__acc *A = NULL;
    nn_graph *q = NULL;
    nn_quant_adaround_report rep;
    uint32_t n = 0, skipped = 0, i, start, ns;
    nn_status st;
    memset(&al, 0, sizeof al);
    memset(&rep, 0, sizeof rep);
    if (d) dd = *d; else memset(&dd, 0, sizeof dd);
    if (qd) qdd = *qd; else memset(&qdd, 0, sizeof qdd);
    qdd.log = NULL;
    if (out) memset(out, 0, sizeof *out);
    if (!g || !ranges || !inputs || sample_count == 0) return nn_diag_set(diag, NN_ERR_ARG, "nn_quant_adaround", "no graph, ranges or samples");
    ns = dd.max_samples && dd.max_samples < sample_count ? dd.max_samples : sample_count;
    if ((st = nn_qa__find(g, &qdd, &al, &L, &n, &skipped, diag))) return st;
    rep.skipped = skipped;
    if ((st = nn_quant_graph(g, ranges, &qdd, &q, NULL, diag))) goto done;
    nn_qa__map_q(g, q, L, n);
    A = (nn_qa__acc *)nn_alloc(&al, ((size_t)n + 1) * sizeof *A);
    if (!A) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory"); goto done; }
    memset(A, 0, ((size_t)n + 1) * sizeof *A);
    for (start = 0; start < n && st == NN_OK;) {
        /* a chunk of layers whose patches fit the budget, one float pass */
        size_t used = 0;
        uint32_t end = start, P0 = dd.positions ? dd.positions : 1024;
        nn_qa__obs o;
        while (end < n) {
            uint32_t P = P0;
            size_t need;
            if ((size_t)P * (size_t)L[end].F > NN_QA__LAYER_FLOATS) P = (uint32_t)(NN_QA__LAYER_FLOATS / (size_t)L[end].F);
            if (P < 16) P = 16;
            need = (size_t)P * ((size_t)L[end].F + (size_t)L[end].cout);
            if (end > start && used + need > NN_QA_ADAROUND_CHUNK_FLOATS) break;
            used += need;
            A[end].P = L[end].qnode != NN_INVALID_ID ? P : 0;
            A[end].quota = (P + ns - 1) / ns;
            if (A[end].P) {
                A[end].X = (float *)nn_alloc(&al, (size_t)P * (size_t)L[end].F * sizeof(float) + 1);
                A[end].T = (float *)nn_alloc(&al, (size_t)P * (size_t)L[end].cout * sizeof(float) + 1);
                if (!A[end].X || !A[end].T) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_adaround", "out of memory"); break; }
            }
            end++;
        }
        if (st == NN_OK && (st = nn_qa__obs_init(&o, NN_QA__ADA, g, L + start, A + start, end - start, &al, diag)) == NN_OK) {
            o.float_input = dd.float_input;
            o.rng = dd.seed ? dd.seed * 2654435761u + 1u : 12345u;
            st = nn_qa__run_float(g, &o, inputs, ns, dd.input_shapes, dd.input_shape_count, diag);
        }
        nn_qa__obs_deinit(&o);
        for (i = start; i < end && st == NN_OK; i++) {
            nn_quant_adaround_layer lr;
            if (!A[i].P) continue;
            st = nn_qa__ada_layer(g, q, &L[i], &A[i], &dd, &al, &lr, diag);
            if (st) break;
            if (lr.channels) {
                rep.layers++;
                rep.weights += (uint64_t)L[i].cout * (uint64_t)L[i].K;
                rep.flipped += lr.flipped;
                rep.err_nearest += lr.err_nearest;
                rep.err_adaround += lr.err_adaround;
            } else {
                rep.skipped++;
            }
            if (dd.layers && rep.layers && rep.layers - 1 < dd.layer_cap && lr.channels) dd.layers[rep.layers - 1] = lr;
            nn_qa__logf(dd.progress, dd.progress_user,
                        "adaround %u/%u %s: %u positions, %llu of %lld weights flipped, error %.4g -> %.4g",
                        i + 1, n, g->nodes[L[i].node].name ? g->nodes[L[i].node].name : "", lr.positions,
                        (unsigned long long)lr.flipped, (long long)(L[i].cout * L[i].K), lr.err_nearest, lr.err_adaround);
        }
        for (i = start; i < end; i++) {
            nn_free(&al, A[i].X);
            nn_free(&al, A[i].T);
            A[i].X = A[i].T = NULL;
        }
        start = end;
    }
done:
    if (out) *out = rep;
    if (q) nn_graph_destroy(q);
    nn_free(&al, A);
    nn_free(&al, L);
    return st;
}

/* ---- bias correction ---------------------------------------------------- */

/* Sets a float bias of layer L (creating the tensor when missing). */
static nn_status nn_qa__set_bias(nn_graph *g, nn_qa__lin *L, const float *bias, int *created, nn_diag *diag) {
    nn_node *n;
    nn_tensor_id t, *ins;
    char name[512];
    int64_t dims[1];
    nn_shape s;
    int k;
    *created = 0;
    if (L->bt != NN_INVALID_ID) {
        nn_tensor_id id;
        id.id = L->bt;
        return nn_graph_set_data(g, id, bias, g->tensors[L->bt].data_bytes, 1, diag);
    }
    if (L->kind == 3) return NN_OK;
    n = &g->nodes[L->node];
    for (k = 0; k < 1000; k++) {
        snprintf(name, sizeof name, k ? "%.400s_bias_bc%d" : "%.400s_bias_bc", g->tensors[L->wt].name, k);
        if (nn_graph_find_tensor(g, name).id == NN_INVALID_ID) break;
    }
    dims[0] = L->cout;
    s = nn_shape_make(1, dims);
    {
        nn_status st = nn_graph_add_tensor(g, name, NN_DTYPE_FLOAT, &s, &t, diag);
        if (st) return st;
        if ((st = nn_graph_set_data(g, t, bias, (size_t)L->cout * sizeof(float), 1, diag))) return st;
    }
    n = &g->nodes[L->node];
    ins = (nn_tensor_id *)nn_arena_alloc(&g->arena, 4 * sizeof *ins);
    if (!ins) return nn_diag_set(diag, NN_ERR_NOMEM, n->name, "out of memory");
    ins[0] = n->inputs[0];
    ins[1] = n->inputs[1];
    ins[2] = t;
    n->inputs = ins;
    n->input_count = 3;
    L->bt = t.id;
    *created = 1;
    return NN_OK;
}

NN_API nn_status nn_quant_bias_correct(nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd,
                                       const nn_value *inputs, uint32_t sample_count, const nn_quant_bc_desc *d,
                                       nn_quant_bc_report *out, nn_diag *diag) {
    nn_allocator al;
    nn_quant_bc_desc dd;
    nn_quant_desc qdd;
    nn_qa__lin *L = NULL;
    nn_qa__acc *A = NULL;
    nn_quant_bc_report rep;
    double *cosv = NULL, *rel = NULL, *mabs = NULL;
    uint8_t *sel = NULL, *made = NULL;
    uint32_t n = 0, skipped = 0, i, ns, round, rounds;
    double minc;
    nn_status st;
    memset(&al, 0, sizeof al);
    memset(&rep, 0, sizeof rep);
    if (d) dd = *d; else memset(&dd, 0, sizeof dd);
    if (qd) qdd = *qd; else memset(&qdd, 0, sizeof qdd);
    qdd.log = NULL;
    if (out) memset(out, 0, sizeof *out);
    if (!g || !ranges || !inputs || sample_count == 0) return nn_diag_set(diag, NN_ERR_ARG, "nn_quant_bias_correct", "no graph, ranges or samples");
    ns = dd.samples ? dd.samples : 30;
    if (ns > sample_count) ns = sample_count;
    minc = dd.min_layer_cos > 0 ? dd.min_layer_cos : 0.99;
    rounds = dd.rounds ? dd.rounds : 1;
    if ((st = nn_qa__find(g, &qdd, &al, &L, &n, &skipped, diag))) return st;
    rep.layers = n;
    rep.skipped = skipped;
    A = (nn_qa__acc *)nn_alloc(&al, ((size_t)n + 1) * sizeof *A);
    cosv = (double *)nn_alloc(&al, ((size_t)n + 1) * sizeof *cosv);
    rel = (double *)nn_alloc(&al, ((size_t)n + 1) * sizeof *rel);
    mabs = (double *)nn_alloc(&al, ((size_t)n + 1) * sizeof *mabs);
    sel = (uint8_t *)nn_alloc(&al, (size_t)n + 1);
    made = (uint8_t *)nn_alloc(&al, (size_t)n + 1);
    if (!A || !cosv || !rel || !mabs || !sel || !made) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory"); goto done; }
    memset(A, 0, ((size_t)n + 1) * sizeof *A);
    memset(made, 0, (size_t)n + 1);
    memset(rel, 0, ((size_t)n + 1) * sizeof *rel);
    memset(mabs, 0, ((size_t)n + 1) * sizeof *mabs);
    for (round = 0; round < rounds && st == NN_OK; round++) {
        nn_graph *q = NULL;
        nn_qa__obs fo, qo;
        nn_qexec *x = NULL;
        nn_qexec_desc xd;
        uint32_t k, j;
        int need_float = round == 0 || dd.mode == NN_QUANT_BC_TOTAL;
        memset(&fo, 0, sizeof fo);
        memset(&qo, 0, sizeof qo);
        if ((st = nn_quant_graph(g, ranges, &qdd, &q, NULL, diag))) break;
        nn_qa__map_q(g, q, L, n);
        for (i = 0; i < n && st == NN_OK; i++) {
            A[i].fsum = (double *)nn_alloc(&al, ((size_t)L[i].cout + 1) * sizeof(double));
            A[i].qsum = (double *)nn_alloc(&al, ((size_t)L[i].cout + 1) * sizeof(double));
            A[i].psum = dd.mode == NN_QUANT_BC_LOCAL ? (double *)nn_alloc(&al, ((size_t)L[i].F + 1) * sizeof(double)) : NULL;
            if (!A[i].fsum || !A[i].qsum || (dd.mode == NN_QUANT_BC_LOCAL && !A[i].psum)) {
                st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
                break;
            }
            memset(A[i].fsum, 0, (size_t)L[i].cout * sizeof(double));
            memset(A[i].qsum, 0, (size_t)L[i].cout * sizeof(double));
            if (A[i].psum) memset(A[i].psum, 0, (size_t)L[i].F * sizeof(double));
            A[i].rows_f = A[i].rows_q = A[i].dot = A[i].ff = A[i].qq = A[i].fsq = 0;
        }
        if (st == NN_OK) st = nn_qa__obs_init(&fo, NN_QA__BC_FLOAT, g, L, A, n, &al, diag);
        if (st == NN_OK) st = nn_qa__obs_init(&qo, NN_QA__BC_Q, q, L, A, n, &al, diag);
        fo.want_cos = qo.want_cos = round == 0;
        memset(&xd, 0, sizeof xd);
        xd.float_only = 1;
        xd.observer = nn_qa__observer;
        xd.observer_user = &qo;
        if (st == NN_OK) st = nn_qexec_create(q, &xd, &x, diag);
        if (st == NN_OK && need_float) {
            /* one float run then one QDQ run per sample (the cosine needs both) */
            nn_exec_desc ed;
            nn_exec *fx = NULL;
            memset(&ed, 0, sizeof ed);
            ed.input_shapes = dd.input_shapes;
            ed.input_shape_count = dd.input_shape_count;
            ed.observer = nn_qa__observer;
            ed.observer_user = &fo;
            st = nn_exec_create(g, &ed, &fx, diag);
            for (k = 0; k < ns && st == NN_OK; k++) {
                for (j = 0; j < g->input_count && st == NN_OK; j++)
                    st = nn_exec_set_input(fx, j, &inputs[(size_t)k * g->input_count + j], diag);
                if (st == NN_OK) st = nn_exec_run(fx, diag);
                if (st == NN_OK && fo.nomem) st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
                nn_qa__bind_slots(&qo, q, inputs, k);
                for (j = 0; j < q->input_count && st == NN_OK; j++)
                    st = nn_qexec_set_input(x, j, &inputs[(size_t)k * q->input_count + j], diag);
                if (st == NN_OK) st = nn_qexec_run(x, diag);
                nn_qa__logf(dd.progress, dd.progress_user, "bias correction round %u: sample %u/%u", round + 1, k + 1, ns);
            }
            if (fx) nn_exec_destroy(fx);
        } else {
            for (k = 0; k < ns && st == NN_OK; k++) {
                nn_qa__bind_slots(&qo, q, inputs, k);
                for (j = 0; j < q->input_count && st == NN_OK; j++)
                    st = nn_qexec_set_input(x, j, &inputs[(size_t)k * q->input_count + j], diag);
                if (st == NN_OK) st = nn_qexec_run(x, diag);
            }
        }
        if (x) nn_qexec_destroy(x);
        if (round == 0)
            for (i = 0; i < n; i++) {
                cosv[i] = A[i].ff > 0 && A[i].qq > 0 ? A[i].dot / sqrt(A[i].ff * A[i].qq) : 1.0;
                sel[i] = L[i].qnode != NN_INVALID_ID && A[i].rows_q > 0 && A[i].rows_f > 0 &&
                         (cosv[i] < minc || minc >= 1) && (L[i].kind != 3 || L[i].bt != NN_INVALID_ID);
                if (L[i].kind == 3 && L[i].bt == NN_INVALID_ID) rep.skipped++;
            }
        /* corrections */
        for (i = 0; i < n && st == NN_OK; i++) {
            nn_qa__lin *Li = &L[i];
            size_t nw = (size_t)Li->cout * (size_t)Li->K;
            float *wq = NULL, *bq = NULL, *nb = NULL;
            const float *w = (const float *)g->tensors[Li->wt].data;
            const float *b = Li->bt != NN_INVALID_ID ? (const float *)g->tensors[Li->bt].data : NULL;
            double sum_abs = 0;
            int64_t c, kk;
            int created = 0;
            if (!sel[i] || A[i].rows_q <= 0) continue;
            wq = (float *)nn_alloc(&al, nw * sizeof(float) + 1);
            bq = (float *)nn_alloc(&al, (size_t)Li->cout * sizeof(float) + 1);
            nb = (float *)nn_alloc(&al, (size_t)Li->cout * sizeof(float) + 1);
            if (!wq || !bq || !nb) {
                st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
            } else {
                int have_wq = dd.mode == NN_QUANT_BC_LOCAL &&
                              nn_qa__dq_const(q, q->nodes[Li->qnode].inputs[1].id, wq, nw, NULL, 0);
                int have_bq = Li->kind != 3 && q->nodes[Li->qnode].input_count >= 3 &&
                              nn_qa__dq_const(q, q->nodes[Li->qnode].inputs[2].id, bq, (size_t)Li->cout, NULL, 0);
                if (dd.mode == NN_QUANT_BC_LOCAL && !have_wq) {
                    nn_free(&al, wq); nn_free(&al, bq); nn_free(&al, nb);
                    continue;
                }
                for (c = 0; c < Li->cout; c++) {
                    double ec;
                    if (dd.mode == NN_QUANT_BC_LOCAL) {
                        int64_t off = nn_qa__goff(Li, c);
                        double s = 0;
                        for (kk = 0; kk < Li->K; kk++) {
                            size_t wi = nn_qa__widx(Li, c, kk);
                            s += ((double)wq[wi] - w[wi]) * (A[i].psum[off + kk] / A[i].rows_q);
                        }
                        ec = Li->alpha * s;
                        if (have_bq && b) ec += Li->beta * ((double)bq[c] - b[c]);
                    } else {
                        ec = A[i].qsum[c] / A[i].rows_q - A[i].fsum[c] / A[i].rows_f;
                    }
                    sum_abs += fabs(ec);
                    nb[c] = (float)((b ? b[c] : 0.0) - ec / Li->beta);
                }
                mabs[i] = sum_abs / (double)Li->cout;
                if (round == 0 && A[i].rows_f > 0)
                    rel[i] = mabs[i] / (sqrt(A[i].fsq / (A[i].rows_f * (double)Li->cout)) + 1e-30);
                st = nn_qa__set_bias(g, Li, nb, &created, diag);
                if (created) made[i] = 1;
            }
            nn_free(&al, wq); nn_free(&al, bq); nn_free(&al, nb);
        }
        for (i = 0; i < n; i++) {
            nn_free(&al, A[i].fsum); nn_free(&al, A[i].qsum); nn_free(&al, A[i].psum); nn_free(&al, A[i].ref);
            A[i].fsum = A[i].qsum = A[i].psum = NULL;
            A[i].ref = NULL;
            A[i].ref_count = 0;
        }
        nn_qa__obs_deinit(&fo);
        nn_qa__obs_deinit(&qo);
        nn_graph_destroy(q);
    }
    for (i = 0; i < n; i++) {
        if (sel[i]) rep.corrected++;
        if (made[i]) rep.biases_created++;
        if (dd.layers && i < dd.layer_cap) {
            dd.layers[i].node = L[i].node;
            dd.layers[i].cosine = cosv[i];
            dd.layers[i].mean_abs_shift = mabs[i];
            dd.layers[i].rel_shift = rel[i];
            dd.layers[i].corrected = sel[i];
            dd.layers[i].bias_created = made[i];
        }
    }
done:
    if (out) *out = rep;
    nn_free(&al, A); nn_free(&al, cosv); nn_free(&al, rel); nn_free(&al, mabs); nn_free(&al, sel); nn_free(&al, made);
    nn_free(&al, L);
    return st;
}

/* ---- softmax quantization bias ------------------------------------------- */

typedef struct nn_qa__smx {
    const nn_graph *q;
    uint32_t *watch_node;          /* (q node_count) index into out or UINT32_MAX */
    nn_quant_softmax_bias *out;
    double *rows, *zeros, *elems;
} nn_qa__smx;

static int nn_qa__smx_obs(void *user, const nn_graph *q, uint32_t ni, const nn_value *outs, uint32_t oc) {
    nn_qa__smx *s = (nn_qa__smx *)user;
    uint32_t w = s->watch_node[ni];
    const nn_value *y;
    size_t n, i, len;
    const float *v;
    (void)q;
    if (w == UINT32_MAX || oc < 1) return 0;
    y = &outs[0];
    if (y->dtype != NN_DTYPE_FLOAT || !y->data || y->shape.rank < 1) return 0;
    n = nn_value_count(y);
    len = (size_t)y->shape.dims[y->shape.rank - 1];
    if (!len) return 0;
    v = (const float *)y->data;
    for (i = 0; i < n; i++) {
        s->out[w].row_sum += v[i];
        if (v[i] == 0) s->zeros[w] += 1;
    }
    s->rows[w] += (double)(n / len);
    s->elems[w] += (double)n;
    return 0;
}

NN_API nn_status nn_quant_softmax_bias_measure(const nn_graph *g, const nn_quant_range *ranges,
                                               const nn_quant_desc *qd, const nn_value *inputs,
                                               uint32_t sample_count, nn_quant_softmax_bias *out, uint32_t cap,
                                               uint32_t *count, nn_diag *diag) {
    nn_allocator al;
    nn_quant_desc qdd;
    nn_graph *q = NULL;
    nn_qexec *x = NULL;
    nn_qexec_desc xd;
    nn_qa__smx s;
    uint32_t i, k, j, m = 0;
    nn_status st;
    memset(&al, 0, sizeof al);
    memset(&s, 0, sizeof s);
    if (qd) qdd = *qd; else memset(&qdd, 0, sizeof qdd);
    qdd.log = NULL;
    *count = 0;
    if ((st = nn_quant_graph(g, ranges, &qdd, &q, NULL, diag))) return st;
    s.q = q;
    s.out = out;
    s.watch_node = (uint32_t *)nn_alloc(&al, ((size_t)q->node_count + 1) * sizeof(uint32_t));
    s.rows = (double *)nn_alloc(&al, ((size_t)cap + 1) * sizeof(double));
    s.zeros = (double *)nn_alloc(&al, ((size_t)cap + 1) * sizeof(double));
    s.elems = (double *)nn_alloc(&al, ((size_t)cap + 1) * sizeof(double));
    if (!s.watch_node || !s.rows || !s.zeros || !s.elems) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory"); goto done; }
    for (i = 0; i < q->node_count; i++) s.watch_node[i] = UINT32_MAX;
    memset(s.rows, 0, ((size_t)cap + 1) * sizeof(double));
    memset(s.zeros, 0, ((size_t)cap + 1) * sizeof(double));
    memset(s.elems, 0, ((size_t)cap + 1) * sizeof(double));
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        nn_tensor_id t;
        uint32_t obs_node = NN_INVALID_ID;
        if (strcmp(n->op_type, "Softmax") || n->output_count < 1 || n->outputs[0].id == NN_INVALID_ID) continue;
        (*count)++;
        if (m >= cap) continue;
        memset(&out[m], 0, sizeof out[m]);
        out[m].node = i;
        out[m].row_sum = 0;
        /* the quantized output: the DequantizeLinear reading "<name>_quantized" */
        t = nn_graph_find_tensor(q, g->tensors[n->outputs[0].id].name);
        if (t.id != NN_INVALID_ID)
            for (j = 0; j < q->node_count; j++) {
                const nn_node *qn = &q->nodes[j];
                if (!strcmp(qn->op_type, "QuantizeLinear") && qn->input_count >= 2 && qn->inputs[0].id == t.id) {
                    uint32_t qt = qn->outputs[0].id, c;
                    out[m].quantized = 1;
                    if (q->tensors[qn->inputs[1].id].data) out[m].scale = ((const float *)q->tensors[qn->inputs[1].id].data)[0];
                    for (c = 0; c < q->node_count; c++)
                        if (!strcmp(q->nodes[c].op_type, "DequantizeLinear") && q->nodes[c].inputs[0].id == qt) obs_node = c;
                }
            }
        if (obs_node == NN_INVALID_ID && t.id != NN_INVALID_ID) obs_node = q->tensors[t.id].producer.id;
        if (obs_node != NN_INVALID_ID) s.watch_node[obs_node] = m;
        m++;
    }
    memset(&xd, 0, sizeof xd);
    xd.float_only = 1;
    xd.observer = nn_qa__smx_obs;
    xd.observer_user = &s;
    if ((st = nn_qexec_create(q, &xd, &x, diag))) goto done;
    for (k = 0; k < sample_count && st == NN_OK; k++) {
        for (j = 0; j < q->input_count && st == NN_OK; j++)
            st = nn_qexec_set_input(x, j, &inputs[(size_t)k * q->input_count + j], diag);
        if (st == NN_OK) st = nn_qexec_run(x, diag);
    }
    for (i = 0; i < m; i++) {
        out[i].row_sum = s.rows[i] > 0 ? out[i].row_sum / s.rows[i] : 1.0;
        out[i].zero_fraction = s.elems[i] > 0 ? s.zeros[i] / s.elems[i] : 0;
    }
done:
    if (x) nn_qexec_destroy(x);
    nn_free(&al, s.watch_node); nn_free(&al, s.rows); nn_free(&al, s.zeros); nn_free(&al, s.elems);
    nn_graph_destroy(q);
    return st;
}

#endif /* NN_QUANT_ALGOS_IMPLEMENTATION_DONE */
#endif /* NN_IMPLEMENTATION || NN_QUANT_IMPLEMENTATION */
