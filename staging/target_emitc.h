/* staging/target_emitc.h - C source export of a compiled nn_target program
   (issue 6, "C export for MCUs"): writes MODEL.c + MODEL.h that build with
   the C standard library alone and compute what nn_target_sim_run computes,
   bit for bit.  To be merged into nn_target.h ("emit C" section).

   BUILD
     Included by src/impl.c after nn_target.h; the implementation expands
     with NN_IMPLEMENTATION (or NN_TARGET_IMPLEMENTATION).

   QUICK START
       nn_target_program *p;                              (nn_target_compile or _load_memory)
       nn_target_emit_desc ed = {0};
       ed.name = "model";                                 (identifier prefix: model_run, MODEL_*)
       FILE *c = fopen("model.c", "w"), *h = fopen("model.h", "w");
       if (nn_target_emit_c(p, &ed, nn_verify_write_file, c, nn_verify_write_file, h, &d))
           fprintf(stderr, "%s: %s\n", d.where, d.message);

   THE GENERATED FILES
     MODEL.h  MODEL_ARENA_BYTES, MODEL_SCRATCH_BYTES, MODEL_INPUT_COUNT,
              MODEL_OUTPUT_COUNT, MODEL_INPUT_<i>_BYTES, MODEL_OUTPUT_<i>_BYTES
              (with a comment giving each tensor's name, dtype and shape),
              the arrays model_input_bytes[] / model_output_bytes[] and
                  int model_run(const void *const *inputs, void *const *outputs);
              inputs[i] / outputs[i]: the i-th graph input / output, raw
              little-endian elements of the dtype and shape in the comment
              (float inputs for a QDQ model: the program quantizes them).
              Returns 0; -1 when an argument is NULL.  Not reentrant: the
              arena is one static object.
     MODEL.c  <stdint.h> <string.h> <math.h> <float.h> only.  The planned
              arena (nn_target's memory plan, unchanged offsets) as one
              static union; every integer instruction as a function of
              plain loops with its shapes, zero points, clamps and (per
              tensor) multipliers as literals, weights, biases,
              per-channel multipliers and tables as const arrays; float
              islands the generator can express (Quantize/DequantizeLinear,
              float Add/Sub/Mul/Div, Relu, Sigmoid, MaxPool, GlobalAveragePool,
              Reshape & co., Transpose, Concat, Gemm with one row, Softmax)
              written to follow nn_graph.h's kernels operation for
              operation, so their float results are the same bits.
     Float islands need IEEE single precision evaluated in float
     (FLT_EVAL_METHOD 0: x86-64, AArch64, Cortex-M with an FPU; the file
     refuses to compile otherwise) and no contraction of a*b+c into FMA:
     the file turns it off itself (#pragma GCC optimize("fp-contract=off")
     for GCC, whose GNU modes contract by default, #pragma STDC FP_CONTRACT
     OFF elsewhere); nnport's own build is ISO C99 (no contraction).

   ERRORS  NN_ERR_UNSUPPORTED naming the instruction's ONNX node and op for
     a float island without an exact C form (LayerNorm pieces, Resize,
     float MatMul with more than one row, ...), NN_ERR_ARG for a name that is not a C identifier, NN_ERR_IO when
     a writer fails, NN_ERR_NOMEM.  Nothing is written when the program is
     refused (every instruction is checked before the first byte). */
#ifndef NN_TARGET_EMITC_H
#define NN_TARGET_EMITC_H

#include "nn_target.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_target_emit_desc {
    nn_allocator alloc;
    const char *name;       /* C identifier prefix of the public symbols and macros; NULL: "model" */
    const char *header;     /* what the .c #includes; NULL: "<name>.h" */
} nn_target_emit_desc;

/* Writes p as C: the source through write_c, the header through write_h
   (either may be NULL: not written; both NULL only checks that p can be
   exported).  p is only read; its weights are copied into the source.
   Allocates two blocks through d->alloc (freed before returning).  For a
   multi-batch file, p is the program exported (the first: batch 1).
   Statuses as above. */
NN_API nn_status nn_target_emit_c(const nn_target_program *p, const nn_target_emit_desc *d,
                                  nn_verify_write_fn write_c, void *c_user, nn_verify_write_fn write_h,
                                  void *h_user, nn_diag *diag);

#ifdef __cplusplus
}
#endif
#endif /* NN_TARGET_EMITC_H */

/* ===================== end of API: implementation below ===================== */

#if defined(NN_IMPLEMENTATION) || defined(NN_TARGET_IMPLEMENTATION)
#ifndef NN_TARGET_EMITC_IMPLEMENTATION_DONE
#define NN_TARGET_EMITC_IMPLEMENTATION_DONE

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct nn_target__ec {
    const nn_target_program *p;
    nn_verify_write_fn fn;        /* NULL: checking pass, nothing written */
    void *user;
    char buf[8192];
    size_t n;
    nn_status st;
    nn_diag *diag;
    uint8_t *done;                /* (slot_count) const array of a weights slot emitted */
    uint64_t scratch;             /* bytes of scratch the instructions need */
    uint64_t acc;                 /* int32 accumulators the instructions need */
    uint32_t uses;                /* NN_TARGET__EC_* helpers used */
    uint32_t instr;               /* instruction being emitted */
    uint64_t sc_off[64];          /* per input operand (at most 64, FORMAT.md): scratch offset + 1 when read from a copy */
    char nm[160];                 /* the instruction's node name, safe inside a C comment */
} nn_target__ec;

enum { NN_TARGET__EC_RQ = 1u, NN_TARGET__EC_MS = 2u, NN_TARGET__EC_EXP = 4u, NN_TARGET__EC_SIG = 8u };

static void nn_target__ec_flush(nn_target__ec *e) {
    if (e->fn && e->n && e->st == NN_OK && e->fn(e->user, e->buf, e->n) != 0)
        e->st = nn_diag_set(e->diag, NN_ERR_IO, "nn_target_emit_c", "write failed");
    e->n = 0;
}

#if defined(__GNUC__)
static void nn_target__ec_put(nn_target__ec *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
static void nn_target__ec_put(nn_target__ec *e, const char *fmt, ...) {
    va_list ap;
    int k;
    if (!e->fn || e->st) return;
    if (e->n > sizeof e->buf / 2) nn_target__ec_flush(e);
    va_start(ap, fmt);
    k = vsnprintf(e->buf + e->n, sizeof e->buf - e->n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof e->buf - e->n) {
        e->st = nn_diag_set(e->diag, NN_ERR_LIMIT, "nn_target_emit_c", "generated line too long");
        return;
    }
    e->n += (size_t)k;
}

static nn_status nn_target__ec_unsup(nn_target__ec *e, const char *what) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const char *op = I->op == NN_TARGET_OP_CPU ? e->p->nodes[I->node].op_type : nn_target_op_name(I->op);
    return nn_diag_set(e->diag, NN_ERR_UNSUPPORTED, I->name, "instruction %u (%s, node '%s'): no C export: %s", e->instr,
                       op, I->name, what);
}

static const char *nn_target__ec_safe(const char *s, char *out, size_t cap);

/* The union member holding a dtype's elements ("f", "s8", ...); NULL when none. */
static const char *nn_target__ec_member(nn_dtype t) {
    switch (t) {
    case NN_DTYPE_FLOAT: return "f";
    case NN_DTYPE_INT8: return "s8";
    case NN_DTYPE_UINT8: case NN_DTYPE_BOOL: return "u8";
    case NN_DTYPE_INT16: return "s16";
    case NN_DTYPE_UINT16: return "u16";
    case NN_DTYPE_INT32: return "s32";
    case NN_DTYPE_UINT32: return "u32";
    case NN_DTYPE_INT64: return "s64";
    default: return NULL;
    }
}

static const char *nn_target__ec_ctype(nn_dtype t) {
    switch (t) {
    case NN_DTYPE_FLOAT: return "float";
    case NN_DTYPE_INT8: return "int8_t";
    case NN_DTYPE_UINT8: case NN_DTYPE_BOOL: return "uint8_t";
    case NN_DTYPE_INT16: return "int16_t";
    case NN_DTYPE_UINT16: return "uint16_t";
    case NN_DTYPE_INT32: return "int32_t";
    case NN_DTYPE_UINT32: return "uint32_t";
    case NN_DTYPE_INT64: return "int64_t";
    default: return NULL;
    }
}

/* Operand k (an index into the instruction's operand list) as an lvalue
   at element index idx: an arena slot through the arena union's member
   (element offset baked in), a copy in scratch, or a weights slot's const
   array.  Accesses go through the union so type-based alias analysis sees
   every reuse of the arena's bytes. */
static const char *nn_target__ec_at(const nn_target__ec *e, uint32_t k, const char *idx, char *out, size_t cap) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    uint32_t s = e->p->operands[I->first_operand + k];
    const nn_target_slot *sl = &e->p->slots[s];
    size_t es = nn_dtype_size(sl->dtype);
    if (sl->region == NN_TARGET_REGION_WEIGHTS) snprintf(out, cap, "nn_c%u[%s]", s, idx);
    else if (k < I->in_count && k < sizeof e->sc_off / sizeof e->sc_off[0] && e->sc_off[k])
        snprintf(out, cap, "nn_s.%s[%llu + (%s)]", nn_target__ec_member(sl->dtype), (unsigned long long)((e->sc_off[k] - 1) / es), idx);
    else
        snprintf(out, cap, "nn_a.%s[%llu + (%s)]", nn_target__ec_member(sl->dtype), (unsigned long long)(sl->offset / es), idx);
    return out;
}

static const nn_target_slot *nn_target__ec_slot(const nn_target__ec *e, uint32_t k) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    uint32_t s = e->p->operands[I->first_operand + k];
    return s == NN_TARGET_NO_SLOT ? NULL : &e->p->slots[s];
}

static const void *nn_target__ec_wdata(const nn_target__ec *e, const nn_target_slot *s) {
    return s->region == NN_TARGET_REGION_WEIGHTS ? (const void *)(e->p->weights + s->offset) : NULL;
}

static uint64_t nn_target__ec_count(const nn_shape *s) {
    uint64_t n = 1;
    int32_t r;
    for (r = 0; r < s->rank; r++) n *= (uint64_t)s->dims[r];
    return n;
}

/* A float as a C99 hexadecimal constant: exact. */
static const char *nn_target__ec_flt(float v, char *out, size_t cap) {
    if (v != v) snprintf(out, cap, "NAN");
    else if (isinf(v)) snprintf(out, cap, v > 0 ? "INFINITY" : "(-INFINITY)");
    else snprintf(out, cap, "%af", (double)v);
    return out;
}

/* Writes count values of dtype t from data as a const array named name. */
static void nn_target__ec_array(nn_target__ec *e, const char *name, nn_dtype t, const void *data, uint64_t count) {
    uint64_t i;
    char f[48];
    if (!e->fn) return;
    nn_target__ec_put(e, "static const %s %s[%llu] = {", nn_target__ec_ctype(t), name,
                      (unsigned long long)(count ? count : 1));
    for (i = 0; i < count && e->st == NN_OK; i++) {
        if (i % 24 == 0) nn_target__ec_put(e, "\n   ");
        switch (t) {
        case NN_DTYPE_FLOAT: {
            float v;
            memcpy(&v, (const char *)data + 4 * i, 4);
            nn_target__ec_put(e, " %s,", nn_target__ec_flt(v, f, sizeof f));
            break;
        }
        case NN_DTYPE_INT8: nn_target__ec_put(e, "%d,", ((const int8_t *)data)[i]); break;
        case NN_DTYPE_UINT8: case NN_DTYPE_BOOL: nn_target__ec_put(e, "%u,", ((const uint8_t *)data)[i]); break;
        case NN_DTYPE_INT16: { int16_t v; memcpy(&v, (const char *)data + 2 * i, 2); nn_target__ec_put(e, "%d,", v); break; }
        case NN_DTYPE_UINT16: { uint16_t v; memcpy(&v, (const char *)data + 2 * i, 2); nn_target__ec_put(e, "%u,", v); break; }
        case NN_DTYPE_INT32: {
            int32_t v;
            memcpy(&v, (const char *)data + 4 * i, 4);
            if (v == INT32_MIN) nn_target__ec_put(e, "INT32_MIN,");
            else nn_target__ec_put(e, "%ld,", (long)v);
            break;
        }
        case NN_DTYPE_UINT32: { uint32_t v; memcpy(&v, (const char *)data + 4 * i, 4); nn_target__ec_put(e, "%luu,", (unsigned long)v); break; }
        case NN_DTYPE_INT64: {
            int64_t v;
            memcpy(&v, (const char *)data + 8 * i, 8);
            if (v == INT64_MIN) nn_target__ec_put(e, "INT64_MIN,");
            else nn_target__ec_put(e, "INT64_C(%lld),", (long long)v);
            break;
        }
        default: break;
        }
    }
    if (!count) nn_target__ec_put(e, "0");
    nn_target__ec_put(e, "\n};\n");
}

/* The const array of every weights-region operand of the current
   instruction that reads one (emitted once per slot). */
static nn_status nn_target__ec_consts(nn_target__ec *e) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    uint32_t k;
    char name[32], cm[160];
    for (k = 0; k < I->in_count; k++) {
        uint32_t s = e->p->operands[I->first_operand + k];
        const nn_target_slot *sl;
        if (s == NN_TARGET_NO_SLOT) continue;
        sl = &e->p->slots[s];
        if (sl->region != NN_TARGET_REGION_WEIGHTS || e->done[s]) continue;
        if (!nn_target__ec_ctype(sl->dtype)) return nn_target__ec_unsup(e, "a constant of an unsupported dtype");
        e->done[s] = 1;
        snprintf(name, sizeof name, "nn_c%u", s);
        nn_target__ec_put(e, "/* %s */\n", nn_target__ec_safe(sl->name, cm, sizeof cm));
        nn_target__ec_array(e, name, sl->dtype, e->p->weights + sl->offset, nn_target__ec_count(&sl->shape));
    }
    return e->st;
}

/* Opens nested loops over shape `out` (row-major) and declares, inside,
   size_t e (the output element) and, for each operand shape in[j]
   broadcast to `out` (numpy rules), size_t e<j> (its element).  Returns
   the number of braces to close. */
static int nn_target__ec_loops(nn_target__ec *e, const nn_shape *out, int n_in, const nn_shape *const *in) {
    int32_t r, R = out->rank;
    int j;
    nn_target__ec_put(e, "    size_t e = 0;\n");
    for (r = 0; r < R; r++) nn_target__ec_put(e, "    size_t i%d;\n", (int)r);
    for (r = 0; r < R; r++)
        nn_target__ec_put(e, "%*sfor (i%d = 0; i%d < %lld; i%d++) {\n", 4 + 4 * (int)r, "", (int)r, (int)r,
                          (long long)out->dims[r], (int)r);
    for (j = 0; j < n_in; j++) {
        const nn_shape *s = in[j];
        int32_t off = R - s->rank;
        int64_t acc = 1;
        char expr[512];
        size_t len = 0;
        int same = s->rank == R;
        for (r = 0; same && r < R; r++) same = s->dims[r] == out->dims[r];
        if (same) {
            nn_target__ec_put(e, "%*sconst size_t e%d = e;\n", 4 + 4 * (int)R, "", j);
            continue;
        }
        expr[0] = '0';
        expr[1] = 0;
        for (r = R - 1; r >= 0; r--) {
            int64_t sd = r - off >= 0 ? s->dims[r - off] : 1;
            if (sd != 1 && len + 40 < sizeof expr) {
                len += (size_t)snprintf(expr + len, sizeof expr - len, "%si%d * %lld", len ? " + " : "", (int)r, (long long)acc);
            }
            acc *= sd;
        }
        nn_target__ec_put(e, "%*sconst size_t e%d = %s;\n", 4 + 4 * (int)R, "", j, expr);
    }
    return (int)R;
}

static void nn_target__ec_close(nn_target__ec *e, int R) {
    int r;
    nn_target__ec_put(e, "%*se++;\n", 4 + 4 * R, "");
    for (r = R - 1; r >= 0; r--) nn_target__ec_put(e, "%*s}\n", 4 + 4 * r, "");
}

/* ---- integer instructions ---- */

/* zero point as seen on the stored bytes: a uint8 operand's kernel zero
   point was moved by -128 (its bytes are flipped in the simulator). */
static int32_t nn_target__ec_zp(const nn_target_slot *s, int32_t zp) {
    return s->dtype == NN_DTYPE_UINT8 ? zp + 128 : zp;
}

/* "Y[idx] = (int8_t)(v)" or the uint8 form (top bit flipped back). */
static void nn_target__ec_store(nn_target__ec *e, const char *y, const char *v) {
    const nn_target_slot *sy = nn_target__ec_slot(e, e->p->instrs[e->instr].in_count);
    if (sy->dtype == NN_DTYPE_UINT8) nn_target__ec_put(e, "%s = (uint8_t)(%s + 128);\n", y, v);
    else nn_target__ec_put(e, "%s = (int8_t)(%s);\n", y, v);
}

/* Writes "    <indent>Y = store(v);" for the output at index idx. */
static void nn_target__ec_store_at(nn_target__ec *e, int indent, const char *idx, const char *v) {
    char ys[256];
    nn_target__ec_at(e, e->p->instrs[e->instr].in_count, idx, ys, sizeof ys);
    nn_target__ec_put(e, "%*s", indent, "");
    nn_target__ec_store(e, ys, v);
}

/* The multiplier pair of entry i as C text: literals from the weights. */
static void nn_target__ec_mult(const nn_target__ec *e, uint32_t i, char *out, size_t cap) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    int32_t m[2];
    memcpy(m, e->p->weights + I->mult + 8 * (uint64_t)i, 8);
    snprintf(out, cap, "%ld, %ld", (long)m[0], (long)m[1]);
}

/* The conv body for M/group a multiple of 4: four output channels per
   pass share each input load (the order of the int32 sums changes nothing:
   they cannot overflow, see nn_quant_conv_s8). */
static void nn_target__ec_conv4(nn_target__ec *e, const nn_quant_conv_params *c, int32_t zp) {
    const int32_t cg = c->c / c->group, mg = c->m / c->group, K = cg * c->kh * c->kw;
    char ix[160], xs[256], bias[48];
    int j;
    nn_target__ec_put(e, "    int32_t n, g, mo, ci, kh, kw, oh, ow, j;\n");
    nn_target__ec_put(e, "    for (n = 0; n < %d; n++)\n        for (g = 0; g < %d; g++)\n", c->n, c->group);
    nn_target__ec_put(e, "            for (mo = 0; mo < %d; mo += 4) {\n                const int32_t oc = g * %d + mo;\n", mg, mg);
    nn_target__ec_put(e, "                const int8_t *wk = nn_w%u + (size_t)oc * %d;\n", e->instr, K);
    nn_target__ec_put(e, "                for (oh = 0; oh < %d; oh++) {\n", c->oh);
    nn_target__ec_put(e, "                    for (ow = 0; ow < %d; ow++) nn_acc[ow] = 0;\n", 4 * c->ow);
    nn_target__ec_put(e, "                    for (ci = 0; ci < %d; ci++) {\n", cg);
    nn_target__ec_put(e, "                        const size_t xb = ((size_t)n * %d + (size_t)g * %d + (size_t)ci) * %lld;\n", c->c,
                      cg, (long long)c->h * c->w);
    nn_target__ec_put(e, "                        for (kh = 0; kh < %d; kh++) {\n", c->kh);
    nn_target__ec_put(e, "                            const int32_t ih = oh * %d - %d + kh * %d;\n", c->stride_h, c->pad_top, c->dil_h);
    nn_target__ec_put(e, "                            if (ih < 0 || ih >= %d) continue;\n", c->h);
    nn_target__ec_put(e, "                            for (kw = 0; kw < %d; kw++) {\n", c->kw);
    nn_target__ec_put(e, "                                const int32_t t = (ci * %d + kh) * %d + kw, iw0 = kw * %d - %d;\n", c->kh,
                      c->kw, c->dil_w, c->pad_left);
    nn_target__ec_put(e, "                                const int32_t w0 = wk[t], w1 = wk[%d + t], w2 = wk[%d + t], w3 = wk[%d + t];\n",
                      K, 2 * K, 3 * K);
    nn_target__ec_put(e, "                                const int32_t lo = iw0 >= 0 ? 0 : (-iw0 + %d) / %d;\n", c->stride_w - 1,
                      c->stride_w);
    nn_target__ec_put(e, "                                int32_t hi = %d - iw0 < 0 ? 0 : (%d - iw0) / %d + 1;\n", c->w - 1, c->w - 1,
                      c->stride_w);
    nn_target__ec_put(e, "                                if (hi > %d) hi = %d;\n", c->ow, c->ow);
    /* a row pointer and a plain int index: the loop vectorizes at -O3 */
    snprintf(ix, sizeof ix, "xb + (size_t)ih * %d", c->w);
    nn_target__ec_put(e, "                                const %s *xr = &%s;\n",
                      nn_target__ec_ctype(nn_target__ec_slot(e, 0)->dtype), nn_target__ec_at(e, 0, ix, xs, sizeof xs));
    nn_target__ec_put(e, "                                for (ow = lo; ow < hi; ow++) {\n"
                         "                                    const int32_t v = xr[iw0 + ow * %d] - %d;\n", c->stride_w, zp);
    nn_target__ec_put(e, "                                    nn_acc[ow] += w0 * v;\n");
    for (j = 1; j < 4; j++) nn_target__ec_put(e, "                                    nn_acc[%d + ow] += w%d * v;\n", j * c->ow, j);
    nn_target__ec_put(e, "                                }\n                            }\n                        }\n                    }\n");
    nn_target__ec_put(e, "                    for (j = 0; j < 4; j++)\n                        for (ow = 0; ow < %d; ow++) {\n", c->ow);
    if (e->p->instrs[e->instr].bias != NN_TARGET_NO_OFFSET) snprintf(bias, sizeof bias, "nn_b%u[oc + j]", e->instr);
    else snprintf(bias, sizeof bias, "0");
    nn_target__ec_put(e, "                            const int32_t r = nn_rq((int64_t)nn_acc[j * %d + ow] + %s, nn_m%u[2 * (oc + j)],"
                         " nn_m%u[2 * (oc + j) + 1], %d, %d, %d);\n", c->ow, bias, e->instr, e->instr, c->out_zp, c->act_min,
                      c->act_max);
    snprintf(ix, sizeof ix, "((size_t)n * %d + (size_t)(oc + j)) * %lld + (size_t)oh * %d + (size_t)ow", c->m,
             (long long)c->oh * c->ow, c->ow);
    nn_target__ec_store_at(e, 28, ix, "r");
    nn_target__ec_put(e, "                        }\n                }\n            }\n}\n\n");
}

/* A 1x1, stride-1, unpadded conv with M/group a multiple of 4 reads each
   channel plane as one contiguous run: blocks of up to 256 pixels, four
   output channels per pass (nn_quant_conv_s8's own blocking). */
static int nn_target__ec_pointwise(const nn_quant_conv_params *c) {
    return c->kh == 1 && c->kw == 1 && c->stride_h == 1 && c->stride_w == 1 && c->pad_top == 0 && c->pad_left == 0 &&
           c->oh == c->h && c->ow == c->w && (c->m / c->group) % 4 == 0;
}

static void nn_target__ec_conv_pw(nn_target__ec *e, const nn_quant_conv_params *c, int32_t zp) {
    const int32_t cg = c->c / c->group, mg = c->m / c->group;
    const long long hw = (long long)c->h * c->w;
    char ix[160], xs[256], bias[48];
    nn_target__ec_put(e, "    int32_t n, g, mo, ci, j;\n    size_t p0, p, pn;\n");
    nn_target__ec_put(e, "    for (n = 0; n < %d; n++)\n        for (g = 0; g < %d; g++)\n", c->n, c->group);
    nn_target__ec_put(e, "            for (p0 = 0; p0 < %lld; p0 += 256) {\n                pn = %lld - p0 < 256 ? %lld - p0 : 256;\n",
                      hw, hw, hw);
    nn_target__ec_put(e, "                for (mo = 0; mo < %d; mo += 4) {\n                    const int32_t oc = g * %d + mo;\n", mg, mg);
    nn_target__ec_put(e, "                    const int8_t *wk = nn_w%u + (size_t)oc * %d;\n", e->instr, cg);
    nn_target__ec_put(e, "                    for (p = 0; p < 4 * 256; p++) nn_acc[p] = 0;\n");
    nn_target__ec_put(e, "                    for (ci = 0; ci < %d; ci++) {\n", cg);
    nn_target__ec_put(e, "                        const int32_t w0 = wk[ci], w1 = wk[%d + ci], w2 = wk[%d + ci], w3 = wk[%d + ci];\n",
                      cg, 2 * cg, 3 * cg);
    snprintf(ix, sizeof ix, "((size_t)n * %d + (size_t)g * %d + (size_t)ci) * %lld + p0", c->c, cg, hw);
    nn_target__ec_put(e, "                        const %s *xr = &%s;\n", nn_target__ec_ctype(nn_target__ec_slot(e, 0)->dtype),
                      nn_target__ec_at(e, 0, ix, xs, sizeof xs));
    nn_target__ec_put(e, "                        for (p = 0; p < pn; p++) {\n                            const int32_t v = xr[p] - %d;\n", zp);
    nn_target__ec_put(e, "                            nn_acc[p] += w0 * v;\n                            nn_acc[256 + p] += w1 * v;\n"
                         "                            nn_acc[512 + p] += w2 * v;\n                            nn_acc[768 + p] += w3 * v;\n"
                         "                        }\n                    }\n");
    nn_target__ec_put(e, "                    for (j = 0; j < 4; j++)\n                        for (p = 0; p < pn; p++) {\n");
    if (e->p->instrs[e->instr].bias != NN_TARGET_NO_OFFSET) snprintf(bias, sizeof bias, "nn_b%u[oc + j]", e->instr);
    else snprintf(bias, sizeof bias, "0");
    nn_target__ec_put(e, "                            const int32_t r = nn_rq((int64_t)nn_acc[j * 256 + p] + %s, nn_m%u[2 * (oc + j)],"
                         " nn_m%u[2 * (oc + j) + 1], %d, %d, %d);\n", bias, e->instr, e->instr, c->out_zp, c->act_min, c->act_max);
    snprintf(ix, sizeof ix, "((size_t)n * %d + (size_t)(oc + j)) * %lld + p0 + p", c->m, hw);
    nn_target__ec_store_at(e, 28, ix, "r");
    nn_target__ec_put(e, "                        }\n                }\n            }\n}\n\n");
}

static nn_status nn_target__ec_conv(nn_target__ec *e) {
    nn_status st;
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0);
    nn_quant_conv_params c;
    int32_t cg, mg, K;
    char ix[160], xs[256], nm[32];
    memcpy(&c, I->p, sizeof c);
    cg = c.c / c.group;
    mg = c.m / c.group;
    K = cg * c.kh * c.kw;
    if ((uint64_t)c.ow * (mg % 4 == 0 ? 4 : 1) > e->acc) e->acc = (uint64_t)c.ow * (mg % 4 == 0 ? 4 : 1);
    if (nn_target__ec_pointwise(&c) && e->acc < 4 * 256) e->acc = 4 * 256;
    e->uses |= NN_TARGET__EC_RQ;
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    snprintf(nm, sizeof nm, "nn_w%u", e->instr);
    nn_target__ec_array(e, nm, NN_DTYPE_INT8, e->p->weights + I->w, (uint64_t)c.m * (uint64_t)K);
    if (I->bias != NN_TARGET_NO_OFFSET) {
        snprintf(nm, sizeof nm, "nn_b%u", e->instr);
        nn_target__ec_array(e, nm, NN_DTYPE_INT32, e->p->weights + I->bias, (uint64_t)c.m);
    }
    snprintf(nm, sizeof nm, "nn_m%u", e->instr);
    nn_target__ec_array(e, nm, NN_DTYPE_INT32, e->p->weights + I->mult, 2 * (uint64_t)c.m);
    nn_target__ec_put(e, "/* %u conv '%s': (%d,%d,%d,%d) -> (%d,%d,%d,%d), kernel %dx%d, stride %d,%d, dilation %d,%d, pads %d,%d,"
                         " group %d */\n", e->instr, e->nm, c.n, c.c, c.h, c.w, c.n, c.m, c.oh, c.ow, c.kh, c.kw,
                      c.stride_h, c.stride_w, c.dil_h, c.dil_w, c.pad_top, c.pad_left, c.group);
    nn_target__ec_put(e, "static void nn_i%u(void) {\n", e->instr);
    if (nn_target__ec_pointwise(&c)) {
        nn_target__ec_conv_pw(e, &c, nn_target__ec_zp(sx, c.in_zp));
        return e->st;
    }
    if (mg % 4 == 0) {
        nn_target__ec_conv4(e, &c, nn_target__ec_zp(sx, c.in_zp));
        return e->st;
    }
    nn_target__ec_put(e, "    int32_t n, g, mo, ci, kh, kw, oh, ow;\n");
    nn_target__ec_put(e, "    for (n = 0; n < %d; n++)\n        for (g = 0; g < %d; g++)\n", c.n, c.group);
    nn_target__ec_put(e, "            for (mo = 0; mo < %d; mo++) {\n                const int32_t oc = g * %d + mo;\n", mg, mg);
    nn_target__ec_put(e, "                const int8_t *wk = nn_w%u + (size_t)oc * %d;\n", e->instr, K);
    nn_target__ec_put(e, "                for (oh = 0; oh < %d; oh++) {\n", c.oh);
    nn_target__ec_put(e, "                    for (ow = 0; ow < %d; ow++) nn_acc[ow] = 0;\n", c.ow);
    nn_target__ec_put(e, "                    for (ci = 0; ci < %d; ci++) {\n", cg);
    nn_target__ec_put(e, "                        const size_t xb = ((size_t)n * %d + (size_t)g * %d + (size_t)ci) * %lld;\n", c.c,
                      cg, (long long)c.h * c.w);
    nn_target__ec_put(e, "                        for (kh = 0; kh < %d; kh++) {\n", c.kh);
    nn_target__ec_put(e, "                            const int32_t ih = oh * %d - %d + kh * %d;\n", c.stride_h, c.pad_top, c.dil_h);
    nn_target__ec_put(e, "                            if (ih < 0 || ih >= %d) continue;\n", c.h);
    nn_target__ec_put(e, "                            for (kw = 0; kw < %d; kw++) {\n", c.kw);
    nn_target__ec_put(e, "                                const int32_t wv = wk[(ci * %d + kh) * %d + kw], iw0 = kw * %d - %d;\n", c.kh,
                      c.kw, c.dil_w, c.pad_left);
    nn_target__ec_put(e, "                                const int32_t lo = iw0 >= 0 ? 0 : (-iw0 + %d) / %d;\n", c.stride_w - 1,
                      c.stride_w);
    nn_target__ec_put(e, "                                int32_t hi = %d - iw0 < 0 ? 0 : (%d - iw0) / %d + 1;\n", c.w - 1, c.w - 1,
                      c.stride_w);
    nn_target__ec_put(e, "                                if (hi > %d) hi = %d;\n                                if (wv == 0) continue;\n",
                      c.ow, c.ow);
    snprintf(ix, sizeof ix, "xb + (size_t)ih * %d", c.w);
    nn_target__ec_put(e, "                                const %s *xr = &%s;\n", nn_target__ec_ctype(sx->dtype),
                      nn_target__ec_at(e, 0, ix, xs, sizeof xs));
    nn_target__ec_put(e, "                                for (ow = lo; ow < hi; ow++) nn_acc[ow] += wv * (xr[iw0 + ow * %d] - %d);\n",
                      c.stride_w, nn_target__ec_zp(sx, c.in_zp));
    nn_target__ec_put(e, "                            }\n                        }\n                    }\n");
    nn_target__ec_put(e, "                    for (ow = 0; ow < %d; ow++) {\n", c.ow);
    if (I->bias != NN_TARGET_NO_OFFSET) snprintf(nm, sizeof nm, "nn_b%u[oc]", e->instr);
    else snprintf(nm, sizeof nm, "0");
    nn_target__ec_put(e, "                        const int32_t r = nn_rq((int64_t)nn_acc[ow] + %s, nn_m%u[2 * oc], nn_m%u[2 * oc + 1],"
                         " %d, %d, %d);\n", nm, e->instr, e->instr, c.out_zp, c.act_min, c.act_max);
    snprintf(ix, sizeof ix, "((size_t)n * %d + (size_t)oc) * %lld + (size_t)oh * %d + (size_t)ow", c.m,
             (long long)c.oh * c.ow, c.ow);
    nn_target__ec_store_at(e, 24, ix, "r");
    nn_target__ec_put(e, "                    }\n                }\n            }\n}\n\n");
    return e->st;
}

/* Gemm (constant B packed (K, N)) and MatMul (two activations), batched. */
static nn_status nn_target__ec_matmul(nn_target__ec *e) {
    nn_status st;
    const nn_target_instr *I = &e->p->instrs[e->instr];
    int gemm = I->op == NN_TARGET_OP_GEMM;
    nn_quant_matmul_params m;
    long long batches = I->p[20], bb = I->p[21];
    char ix[192], as[256], bs[256], nm[32], mu[64];
    memcpy(&m, I->p, sizeof m);
    if ((uint64_t)m.n > e->acc) e->acc = (uint64_t)m.n;
    e->uses |= NN_TARGET__EC_RQ;
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    if (gemm) {
        snprintf(nm, sizeof nm, "nn_w%u", e->instr);
        nn_target__ec_array(e, nm, NN_DTYPE_INT8, e->p->weights + I->w, (uint64_t)m.k * (uint64_t)m.n);
    }
    if (I->bias != NN_TARGET_NO_OFFSET) {
        snprintf(nm, sizeof nm, "nn_b%u", e->instr);
        nn_target__ec_array(e, nm, NN_DTYPE_INT32, e->p->weights + I->bias, (uint64_t)m.n);
    }
    if (m.mult_count > 1) {
        snprintf(nm, sizeof nm, "nn_m%u", e->instr);
        nn_target__ec_array(e, nm, NN_DTYPE_INT32, e->p->weights + I->mult, 2 * (uint64_t)m.mult_count);
        snprintf(mu, sizeof mu, "nn_m%u[2 * j], nn_m%u[2 * j + 1]", e->instr, e->instr);
    } else {
        nn_target__ec_mult(e, 0, mu, sizeof mu);
    }
    nn_target__ec_put(e, "/* %u %s '%s': %lld x (%d, %d) x (%d, %d) */\nstatic void nn_i%u(void) {\n    size_t bi, i, k, j;\n",
                      e->instr, gemm ? "gemm" : "matmul", e->nm, batches, m.m, m.k, m.k, m.n, e->instr);
    nn_target__ec_put(e, "    for (bi = 0; bi < %lld; bi++)\n        for (i = 0; i < %d; i++) {\n", batches, m.m);
    nn_target__ec_put(e, "            for (j = 0; j < %d; j++) nn_acc[j] = 0;\n            for (k = 0; k < %d; k++) {\n", m.n, m.k);
    snprintf(ix, sizeof ix, "bi * %lld + i * %d + k", (long long)m.m * m.k, m.k);
    nn_target__ec_put(e, "                const int32_t av = %s - %d;\n                if (av == 0) continue;\n",
                      nn_target__ec_at(e, 0, ix, as, sizeof as), nn_target__ec_zp(nn_target__ec_slot(e, 0), m.a_zp));
    if (gemm) {
        snprintf(bs, sizeof bs, "nn_w%u[k * %d + j] - %d", e->instr, m.n, m.b_zp);
    } else {
        char b1[256];
        snprintf(ix, sizeof ix, "%s%lld + k * %d + j", bb > 1 ? "bi * " : "0 * bi + ", (long long)m.k * m.n, m.n);
        snprintf(bs, sizeof bs, "%s - %d", nn_target__ec_at(e, 1, ix, b1, sizeof b1),
                 nn_target__ec_zp(nn_target__ec_slot(e, 1), m.b_zp));
    }
    nn_target__ec_put(e, "                for (j = 0; j < %d; j++) nn_acc[j] += av * (%s);\n            }\n", m.n, bs);
    nn_target__ec_put(e, "            for (j = 0; j < %d; j++) {\n", m.n);
    if (I->bias != NN_TARGET_NO_OFFSET) snprintf(nm, sizeof nm, "nn_b%u[j]", e->instr);
    else snprintf(nm, sizeof nm, "0");
    nn_target__ec_put(e, "                const int32_t r = nn_rq((int64_t)nn_acc[j] + %s, %s, %d, %d, %d);\n", nm, mu, m.out_zp,
                      m.act_min, m.act_max);
    snprintf(ix, sizeof ix, "bi * %lld + i * %d + j", (long long)m.m * m.n, m.n);
    nn_target__ec_store_at(e, 16, ix, "r");
    nn_target__ec_put(e, "            }\n        }\n}\n\n");
    return e->st;
}

/* Add / Sub (TFLite's shifted rescale) and Mul, with broadcasting. */
static nn_status nn_target__ec_eltwise(nn_target__ec *e) {
    nn_status st;
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sa = nn_target__ec_slot(e, 0), *sb = nn_target__ec_slot(e, 1), *sy = nn_target__ec_slot(e, 2);
    const nn_shape *sh[2];
    nn_quant_eltwise_params q;
    char as[256], bs[256], v[1024];
    int R;
    memcpy(&q, I->p, sizeof q);
    e->uses |= NN_TARGET__EC_RQ | (I->op == NN_TARGET_OP_MUL ? 0u : (uint32_t)NN_TARGET__EC_MS);
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    sh[0] = (I->flags & NN_TARGET_INSTR_A_BCAST) ? &sa->shape : &sy->shape;
    sh[1] = (I->flags & NN_TARGET_INSTR_B_BCAST) ? &sb->shape : &sy->shape;
    nn_target__ec_put(e, "/* %u %s '%s' */\nstatic void nn_i%u(void) {\n", e->instr, nn_target_op_name(I->op), e->nm, e->instr);
    R = nn_target__ec_loops(e, &sy->shape, 2, sh);
    nn_target__ec_at(e, 0, "e0", as, sizeof as);
    nn_target__ec_at(e, 1, "e1", bs, sizeof bs);
    if (I->op == NN_TARGET_OP_MUL)
        snprintf(v, sizeof v, "nn_rq((int64_t)(%s - %d) * (%s - %d), %ld, %ld, %d, %d, %d)", as, nn_target__ec_zp(sa, q.a_zp), bs,
                 nn_target__ec_zp(sb, q.b_zp), (long)q.out_mult.m, (long)q.out_mult.shift, q.out_zp, q.act_min, q.act_max);
    else
        snprintf(v, sizeof v,
                 "nn_rq((int64_t)nn_ms((int64_t)(%s - %d) * %ld, %ld, %ld) %c (int64_t)nn_ms((int64_t)(%s - %d) * %ld, %ld, %ld),"
                 " %ld, %ld, %d, %d, %d)",
                 as, nn_target__ec_zp(sa, q.a_zp), 1L << q.left_shift, (long)q.a_mult.m, (long)q.a_mult.shift,
                 I->op == NN_TARGET_OP_ADD ? '+' : '-', bs, nn_target__ec_zp(sb, q.b_zp), 1L << q.left_shift, (long)q.b_mult.m,
                 (long)q.b_mult.shift, (long)q.out_mult.m, (long)q.out_mult.shift, q.out_zp, q.act_min, q.act_max);
    nn_target__ec_store_at(e, 4 + 4 * R, "e", v);
    nn_target__ec_close(e, R);
    nn_target__ec_put(e, "}\n\n");
    return e->st;
}

static nn_status nn_target__ec_avgpool(nn_target__ec *e) {
    nn_status st;
    const nn_target_instr *I = &e->p->instrs[e->instr];
    nn_quant_pool_params q;
    char ix[192], xs[256], nm[32];
    memcpy(&q, I->p, sizeof q);
    e->uses |= NN_TARGET__EC_RQ;
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    snprintf(nm, sizeof nm, "nn_m%u", e->instr);
    nn_target__ec_array(e, nm, NN_DTYPE_INT32, e->p->weights + I->mult, 2 * ((uint64_t)q.kh * q.kw + 1));
    nn_target__ec_put(e, "/* %u avgpool '%s': (%d,%d,%d,%d) -> (%d,%d), kernel %dx%d, stride %d,%d, pads %d,%d */\n", e->instr,
                      e->nm, q.n, q.c, q.h, q.w, q.oh, q.ow, q.kh, q.kw, q.stride_h, q.stride_w, q.pad_top, q.pad_left);
    nn_target__ec_put(e, "static void nn_i%u(void) {\n    int32_t n, c, oh, ow, kh, kw;\n", e->instr);
    nn_target__ec_put(e, "    for (n = 0; n < %d; n++)\n        for (c = 0; c < %d; c++) {\n", q.n, q.c);
    nn_target__ec_put(e, "            const size_t xb = ((size_t)n * %d + (size_t)c) * %lld, yb = ((size_t)n * %d + (size_t)c) * %lld;\n",
                      q.c, (long long)q.h * q.w, q.c, (long long)q.oh * q.ow);
    nn_target__ec_put(e, "            for (oh = 0; oh < %d; oh++)\n                for (ow = 0; ow < %d; ow++) {\n", q.oh, q.ow);
    nn_target__ec_put(e, "                    int64_t sum = 0;\n                    int32_t cnt = 0, r;\n");
    nn_target__ec_put(e, "                    for (kh = 0; kh < %d; kh++) {\n", q.kh);
    nn_target__ec_put(e, "                        const int32_t ih = oh * %d - %d + kh;\n", q.stride_h, q.pad_top);
    nn_target__ec_put(e, "                        if (ih < 0 || ih >= %d) continue;\n", q.h);
    nn_target__ec_put(e, "                        for (kw = 0; kw < %d; kw++) {\n", q.kw);
    nn_target__ec_put(e, "                            const int32_t iw = ow * %d - %d + kw;\n", q.stride_w, q.pad_left);
    nn_target__ec_put(e, "                            if (iw < 0 || iw >= %d) continue;\n", q.w);
    snprintf(ix, sizeof ix, "xb + (size_t)ih * %d + (size_t)iw", q.w);
    nn_target__ec_put(e, "                            sum += %s - %d;\n                            cnt++;\n",
                      nn_target__ec_at(e, 0, ix, xs, sizeof xs), nn_target__ec_zp(nn_target__ec_slot(e, 0), q.in_zp));
    nn_target__ec_put(e, "                        }\n                    }\n");
    if (q.count_include_pad) nn_target__ec_put(e, "                    cnt = %d;\n", q.kh * q.kw);
    nn_target__ec_put(e, "                    r = nn_rq(sum, nn_m%u[2 * cnt], nn_m%u[2 * cnt + 1], %d, %d, %d);\n", e->instr,
                      e->instr, q.out_zp, q.act_min, q.act_max);
    snprintf(ix, sizeof ix, "yb + (size_t)oh * %d + (size_t)ow", q.ow);
    nn_target__ec_store_at(e, 20, ix, "r");
    nn_target__ec_put(e, "                }\n        }\n}\n\n");
    return e->st;
}

/* LUT8: y = table[raw byte of x]; LUT16: y = table[x + 32768]. */
static nn_status nn_target__ec_lut(nn_target__ec *e) {
    nn_status st;
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, 1);
    int wide = I->op == NN_TARGET_OP_LUT16;
    char xs[256], ys[256], nm[32];
    if (wide && (sx->dtype != NN_DTYPE_INT16 || sy->dtype != NN_DTYPE_INT16)) return nn_target__ec_unsup(e, "lut16 on non-int16");
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    snprintf(nm, sizeof nm, "nn_t%u", e->instr);
    /* the table in the output's type: its bytes are the output's bytes */
    nn_target__ec_array(e, nm, wide ? NN_DTYPE_INT16 : sy->dtype, e->p->weights + I->table, wide ? 65536 : 256);
    nn_target__ec_put(e, "/* %u %s '%s' */\nstatic void nn_i%u(void) {\n    size_t e;\n", e->instr, nn_target_op_name(I->op),
                      e->nm, e->instr);
    nn_target__ec_put(e, "    for (e = 0; e < %llu; e++) %s = nn_t%u[%s%s%s];\n}\n\n",
                      (unsigned long long)nn_target__ec_count(&sy->shape), nn_target__ec_at(e, 1, "e", ys, sizeof ys), e->instr,
                      wide ? "" : "(uint8_t)", nn_target__ec_at(e, 0, "e", xs, sizeof xs), wide ? " + 32768" : "");
    return e->st;
}

/* ---- float islands (cpu instructions) ---- */

/* Per-tensor or per-axis geometry of a Q/DQ node: x as (outer, dim, inner). */
static nn_status nn_target__ec_qgeom(nn_target__ec *e, const nn_node *nd, int64_t opset, uint64_t *outer, uint64_t *dim,
                                     uint64_t *inner) {
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *ss = nn_target__ec_slot(e, 1);
    uint64_t sc = nn_target__ec_count(&ss->shape);
    int64_t axis = opset >= 13 ? nn_node_attr_int(nd, "axis", 1) : 1;
    int32_t r;
    if (opset >= 21 && nn_node_attr_int(nd, "block_size", 0) != 0) return nn_target__ec_unsup(e, "blocked quantization");
    if (ss->shape.rank <= 1 && sc == 1) {
        *outer = *dim = 1;
        *inner = nn_target__ec_count(&sx->shape);
        return NN_OK;
    }
    if (axis < 0) axis += sx->shape.rank;
    if (ss->shape.rank != 1 || axis < 0 || axis >= sx->shape.rank || sx->shape.dims[axis] != (int64_t)sc)
        return nn_target__ec_unsup(e, "a scale that is neither per-tensor nor per-axis");
    *outer = *inner = 1;
    for (r = 0; r < sx->shape.rank; r++) {
        if (r < axis) *outer *= (uint64_t)sx->shape.dims[r];
        if (r > axis) *inner *= (uint64_t)sx->shape.dims[r];
    }
    *dim = sc;
    return NN_OK;
}

/* QuantizeLinear, float32 x and scale to int8/uint8: nn_graph.h's fast
   path, v = rintf(x / s) + zp then the clamp (NaN -> lo). */
static nn_status nn_target__ec_quant(nn_target__ec *e, const nn_node *nd, int64_t opset, int dq) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *ss = nn_target__ec_slot(e, 1), *sy = nn_target__ec_slot(e, I->in_count);
    const nn_target_slot *sz = I->in_count > 2 ? nn_target__ec_slot(e, 2) : NULL;
    uint64_t outer, dim, inner;
    nn_status st;
    char xs[256], ys[256], f[48], sv[64], zv[64];
    if (!ss || ss->dtype != NN_DTYPE_FLOAT || ss->region != NN_TARGET_REGION_WEIGHTS)
        return nn_target__ec_unsup(e, "the scale must be a float32 constant");
    if (sz && sz->region != NN_TARGET_REGION_WEIGHTS) return nn_target__ec_unsup(e, "the zero point must be a constant");
    if (!dq && (sx->dtype != NN_DTYPE_FLOAT || (sy->dtype != NN_DTYPE_INT8 && sy->dtype != NN_DTYPE_UINT8) ||
                (opset >= 23 && nn_node_attr_int(nd, "precision", 0) != 0)))
        return nn_target__ec_unsup(e, "only float32 -> int8/uint8 quantization");
    if (dq && (sy->dtype != NN_DTYPE_FLOAT ||
               (sx->dtype != NN_DTYPE_INT8 && sx->dtype != NN_DTYPE_UINT8 && sx->dtype != NN_DTYPE_INT32)))
        return nn_target__ec_unsup(e, "only int8/uint8/int32 -> float32 dequantization");
    if ((st = nn_target__ec_qgeom(e, nd, opset, &outer, &dim, &inner)) != NN_OK) return st;
    if (!e->fn) return NN_OK;
    if (dim > 1 && (st = nn_target__ec_consts(e)) != NN_OK) return st;
    if (dim == 1) {
        float s;
        memcpy(&s, nn_target__ec_wdata(e, ss), 4);
        snprintf(sv, sizeof sv, "%s", nn_target__ec_flt(s, f, sizeof f));
        snprintf(zv, sizeof zv, "0");
        if (sz && sz->dtype == NN_DTYPE_INT8) snprintf(zv, sizeof zv, "%d", *(const int8_t *)nn_target__ec_wdata(e, sz));
        if (sz && sz->dtype == NN_DTYPE_UINT8) snprintf(zv, sizeof zv, "%d", *(const uint8_t *)nn_target__ec_wdata(e, sz));
        if (sz && sz->dtype == NN_DTYPE_INT32) {
            int32_t z;
            memcpy(&z, nn_target__ec_wdata(e, sz), 4);
            snprintf(zv, sizeof zv, "%ld", (long)z);
        }
        if (sz && sz->dtype != NN_DTYPE_INT8 && sz->dtype != NN_DTYPE_UINT8 && sz->dtype != NN_DTYPE_INT32)
            return nn_target__ec_unsup(e, "zero point type");
    } else {
        snprintf(sv, sizeof sv, "nn_c%u[d]", e->p->operands[I->first_operand + 1]);
        if (sz) snprintf(zv, sizeof zv, "nn_c%u[d]", e->p->operands[I->first_operand + 2]);
        else snprintf(zv, sizeof zv, "0");
    }
    nn_target__ec_put(e, "/* %u %s '%s' (%s) */\nstatic void nn_i%u(void) {\n    size_t o, d, i;\n", e->instr,
                      dq ? "DequantizeLinear" : "QuantizeLinear", e->nm, dim > 1 ? "per axis" : "per tensor", e->instr);
    nn_target__ec_put(e, "    for (o = 0; o < %llu; o++)\n        for (d = 0; d < %llu; d++)\n            for (i = 0; i < %llu; i++) {\n",
                      (unsigned long long)outer, (unsigned long long)dim, (unsigned long long)inner);
    {
        char ix[128];
        snprintf(ix, sizeof ix, "(o * %llu + d) * %llu + i", (unsigned long long)dim, (unsigned long long)inner);
        nn_target__ec_at(e, 0, ix, xs, sizeof xs);
        nn_target__ec_at(e, I->in_count, ix, ys, sizeof ys);
    }
    if (dq) {
        nn_target__ec_put(e, "                %s = (float)((%s)%s - (%s)%s) * %s;\n", ys,
                          sx->dtype == NN_DTYPE_INT32 ? "int64_t" : "int32_t", xs, sx->dtype == NN_DTYPE_INT32 ? "int64_t" : "int32_t",
                          zv, sv);
    } else {
        const char *lo = sy->dtype == NN_DTYPE_INT8 ? "-128.0f" : "0.0f", *hi = sy->dtype == NN_DTYPE_INT8 ? "127.0f" : "255.0f";
        nn_target__ec_put(e, "                float v = rintf(%s / %s) + (float)%s;\n", xs, sv, zv);
        nn_target__ec_put(e, "                v = !(v >= %s) ? %s : v;\n", lo, lo);
        nn_target__ec_put(e, "                %s = (%s)(v > %s ? %s : v);\n", ys, nn_target__ec_ctype(sy->dtype), hi, hi);
    }
    nn_target__ec_put(e, "            }\n}\n\n");
    return e->st;
}

/* Add, Sub, Mul, Div on float32 with numpy broadcasting (opset >= 7). */
static nn_status nn_target__ec_fbin(nn_target__ec *e, const nn_node *nd, char op) {
    const nn_target_slot *sa = nn_target__ec_slot(e, 0), *sb = nn_target__ec_slot(e, 1), *sy = nn_target__ec_slot(e, 2);
    const nn_shape *sh[2];
    char as[256], bs[256], ys[256];
    int R;
    nn_status st;
    if (!sa || !sb || sa->dtype != NN_DTYPE_FLOAT || sb->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT)
        return nn_target__ec_unsup(e, "only float32 operands");
    if (nn_node_attr(nd, "broadcast") || nn_node_attr(nd, "axis")) return nn_target__ec_unsup(e, "legacy broadcast attributes");
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    sh[0] = &sa->shape;
    sh[1] = &sb->shape;
    nn_target__ec_put(e, "/* %u %s '%s' (float) */\nstatic void nn_i%u(void) {\n", e->instr, nd->op_type, e->nm, e->instr);
    R = nn_target__ec_loops(e, &sy->shape, 2, sh);
    nn_target__ec_put(e, "%*s%s = %s %c %s;\n", 4 + 4 * R, "", nn_target__ec_at(e, 2, "e", ys, sizeof ys),
                      nn_target__ec_at(e, 0, "e0", as, sizeof as), op, nn_target__ec_at(e, 1, "e1", bs, sizeof bs));
    nn_target__ec_close(e, R);
    nn_target__ec_put(e, "}\n\n");
    return e->st;
}

static nn_status nn_target__ec_relu(nn_target__ec *e, const nn_node *nd) {
    const nn_target_slot *sx = nn_target__ec_slot(e, 0);
    char xs[256], ys[256];
    if (sx->dtype != NN_DTYPE_FLOAT) return nn_target__ec_unsup(e, "only float32 Relu");
    if (!e->fn) return NN_OK;
    nn_target__ec_put(e, "/* %u Relu '%s' (float) */\nstatic void nn_i%u(void) {\n    size_t e;\n", e->instr, e->nm, e->instr);
    nn_target__ec_put(e, "    for (e = 0; e < %llu; e++) {\n        const float x = %s;\n        %s = x < 0.0f ? 0.0f : x;\n    }\n}\n\n",
                      (unsigned long long)nn_target__ec_count(&sx->shape), nn_target__ec_at(e, 0, "e", xs, sizeof xs),
                      nn_target__ec_at(e, 1, "e", ys, sizeof ys));
    (void)nd;
    return e->st;
}

/* Sigmoid on float32: nn_graph.h's libm-free logistic (nn_ew__sigmoidf),
   written out in nn_sigmoidf. */
static nn_status nn_target__ec_sigmoid(nn_target__ec *e) {
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, 1);
    char xs[256], ys[256];
    if (sx->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT) return nn_target__ec_unsup(e, "only float32 Sigmoid");
    e->uses |= NN_TARGET__EC_SIG;
    if (!e->fn) return NN_OK;
    nn_target__ec_put(e, "/* %u Sigmoid '%s' (float) */\nstatic void nn_i%u(void) {\n    size_t e;\n", e->instr, e->nm, e->instr);
    nn_target__ec_put(e, "    for (e = 0; e < %llu; e++) %s = nn_sigmoidf(%s);\n}\n\n",
                      (unsigned long long)nn_target__ec_count(&sx->shape), nn_target__ec_at(e, 1, "e", ys, sizeof ys),
                      nn_target__ec_at(e, 0, "e", xs, sizeof xs));
    return e->st;
}

/* Reshape, Flatten, Squeeze, Unsqueeze, Identity that the plan did not
   make a view: the bytes moved as they are. */
static nn_status nn_target__ec_move(nn_target__ec *e) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, I->in_count);
    nn_status st;
    if (!sx || sx->bytes != sy->bytes) return nn_target__ec_unsup(e, "input and output sizes differ");
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    nn_target__ec_put(e, "/* %u %s '%s' */\nstatic void nn_i%u(void) {\n", e->instr, e->p->nodes[I->node].op_type, e->nm,
                      e->instr);
    if (sx->region == NN_TARGET_REGION_WEIGHTS)
        nn_target__ec_put(e, "    memcpy(nn_a.u8 + %llu, nn_c%u, %llu);\n}\n\n", (unsigned long long)sy->offset,
                          e->p->operands[I->first_operand], (unsigned long long)sy->bytes);
    else if (sx->offset != sy->offset)
        nn_target__ec_put(e, "    memmove(nn_a.u8 + %llu, nn_a.u8 + %llu, %llu);\n}\n\n", (unsigned long long)sy->offset,
                          (unsigned long long)sx->offset, (unsigned long long)sy->bytes);
    else
        nn_target__ec_put(e, "}\n\n");
    return e->st;
}

/* MaxPool (no Indices) on float32 or 8-bit x, 1-D or 2-D: nn_graph.h's
   plane loop with tap ranges per output row and column. */
static nn_status nn_target__ec_maxpool(nn_target__ec *e, const nn_node *nd) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, I->in_count);
    int64_t k[2] = {1, 1}, s[2] = {1, 1}, dl[2] = {1, 1}, pb[2] = {0, 0};
    const nn_attr *a;
    const char *ap = nn_node_attr_string(nd, "auto_pad", "NOTSET");
    int two, i, nd_ = sx->shape.rank - 2;
    int64_t H, W, OH, OW;
    char xs[256], ys[256];
    if (I->out_count > 1 && nn_target__ec_slot(e, I->in_count + 1)) return nn_target__ec_unsup(e, "the Indices output");
    if (nd_ < 1 || nd_ > 2) return nn_target__ec_unsup(e, "only 1-D and 2-D pooling");
    if (sx->dtype != NN_DTYPE_FLOAT && sx->dtype != NN_DTYPE_INT8 && sx->dtype != NN_DTYPE_UINT8)
        return nn_target__ec_unsup(e, "x must be float32, int8 or uint8");
    if (strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0) return nn_target__ec_unsup(e, "auto_pad SAME_*");
    two = nd_ == 2;
    if ((a = nn_node_attr(nd, "kernel_shape")) && a->count == (uint32_t)nd_) for (i = 0; i < nd_; i++) k[i] = a->ints[i];
    if ((a = nn_node_attr(nd, "strides")) && a->count == (uint32_t)nd_) for (i = 0; i < nd_; i++) s[i] = a->ints[i];
    if ((a = nn_node_attr(nd, "dilations")) && a->count == (uint32_t)nd_) for (i = 0; i < nd_; i++) dl[i] = a->ints[i];
    if (strcmp(ap, "NOTSET") == 0 && (a = nn_node_attr(nd, "pads")) && a->count == 2u * (uint32_t)nd_)
        for (i = 0; i < nd_; i++) pb[i] = a->ints[i];
    if (!e->fn) return NN_OK;
    H = two ? sx->shape.dims[2] : 1;
    W = sx->shape.dims[1 + nd_];
    OH = two ? sy->shape.dims[2] : 1;
    OW = sy->shape.dims[1 + nd_];
    {
        int64_t KH = two ? k[0] : 1, KW = k[nd_ - 1], SY = two ? s[0] : 1, SX = s[nd_ - 1], DY = two ? dl[0] : 1;
        int64_t DX = dl[nd_ - 1], PY = two ? pb[0] : 0, PX = pb[nd_ - 1];
        char ix[160];
        nn_target__ec_put(e, "/* %u MaxPool '%s' */\nstatic void nn_i%u(void) {\n    size_t p;\n    int64_t oy, ox, ky, kx;\n",
                          e->instr, e->nm, e->instr);
        nn_target__ec_put(e, "    for (p = 0; p < %lld; p++)\n        for (oy = 0; oy < %lld; oy++) {\n",
                          (long long)(sx->shape.dims[0] * sx->shape.dims[1]), (long long)OH);
        nn_target__ec_put(e, "            const int64_t y0 = oy * %lld - %lld;\n", (long long)SY, (long long)PY);
        nn_target__ec_put(e, "            int64_t ylo = y0 >= 0 ? 0 : (-y0 + %lld) / %lld, yhi = %lld - y0 < 0 ? 0 : (%lld - y0) / %lld + 1;\n",
                          (long long)DY - 1, (long long)DY, (long long)H - 1, (long long)H - 1, (long long)DY);
        nn_target__ec_put(e, "            if (yhi > %lld) yhi = %lld;\n            if (ylo > yhi) ylo = yhi;\n", (long long)KH, (long long)KH);
        nn_target__ec_put(e, "            for (ox = 0; ox < %lld; ox++) {\n", (long long)OW);
        nn_target__ec_put(e, "                const int64_t x0 = ox * %lld - %lld;\n", (long long)SX, (long long)PX);
        nn_target__ec_put(e, "                int64_t xlo = x0 >= 0 ? 0 : (-x0 + %lld) / %lld, xhi = %lld - x0 < 0 ? 0 : (%lld - x0) / %lld + 1;\n",
                          (long long)DX - 1, (long long)DX, (long long)W - 1, (long long)W - 1, (long long)DX);
        nn_target__ec_put(e, "                float r;\n                if (xhi > %lld) xhi = %lld;\n                if (xlo > xhi) xlo = xhi;\n",
                          (long long)KW, (long long)KW);
        snprintf(ix, sizeof ix, "p * %lld + (size_t)((y0 + ylo * %lld) * %lld + x0 + xlo * %lld)", (long long)(H * W), (long long)DY,
                 (long long)W, (long long)DX);
        nn_target__ec_put(e, "                r = ylo < yhi && xlo < xhi ? (float)%s : -INFINITY;\n", nn_target__ec_at(e, 0, ix, xs, sizeof xs));
        nn_target__ec_put(e, "                for (ky = ylo; ky < yhi; ky++)\n                    for (kx = xlo; kx < xhi; kx++) {\n");
        snprintf(ix, sizeof ix, "p * %lld + (size_t)((y0 + ky * %lld) * %lld + x0 + kx * %lld)", (long long)(H * W), (long long)DY,
                 (long long)W, (long long)DX);
        nn_target__ec_put(e, "                        const float v = (float)%s;\n                        r = v > r ? v : r;\n                    }\n",
                          nn_target__ec_at(e, 0, ix, xs, sizeof xs));
        snprintf(ix, sizeof ix, "p * %lld + (size_t)(oy * %lld + ox)", (long long)(OH * OW), (long long)OW);
        nn_target__ec_put(e, "                %s = (%s)r;\n            }\n        }\n}\n\n", nn_target__ec_at(e, I->in_count, ix, ys, sizeof ys),
                          nn_target__ec_ctype(sy->dtype));
    }
    return e->st;
}

/* GlobalAveragePool on float32: a double sum per plane, in order. */
static nn_status nn_target__ec_gavg(nn_target__ec *e) {
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, 1);
    uint64_t planes = nn_target__ec_count(&sy->shape), size = planes ? nn_target__ec_count(&sx->shape) / planes : 0;
    char xs[256], ys[256];
    if (sx->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT) return nn_target__ec_unsup(e, "only float32");
    if (!e->fn) return NN_OK;
    nn_target__ec_put(e, "/* %u GlobalAveragePool '%s' (float) */\nstatic void nn_i%u(void) {\n    size_t q, i;\n", e->instr, e->nm,
                      e->instr);
    {
        char ix[64], dv[64];
        snprintf(ix, sizeof ix, "q * %llu + i", (unsigned long long)size);
        snprintf(dv, sizeof dv, "(float)(s / (double)%llu)", (unsigned long long)size);
        nn_target__ec_put(e, "    for (q = 0; q < %llu; q++) {\n        double s = 0;\n        for (i = 0; i < %llu; i++) s += %s;\n",
                          (unsigned long long)planes, (unsigned long long)size, nn_target__ec_at(e, 0, ix, xs, sizeof xs));
        nn_target__ec_put(e, "        %s = %s;\n    }\n}\n\n", nn_target__ec_at(e, 1, "q", ys, sizeof ys), size ? dv : "0.0f");
    }
    return e->st;
}

/* Gemm on float32 with one row (M == 1): nn_graph.h's matrix-vector path
   (nn_nn__gemv): with transB a dot product per column in 16 float lanes
   over whole blocks of 16, a sequential tail, then the lanes added in
   order; without, a sequential sum over k.  The C term is added last. */
static nn_status nn_target__ec_fgemm(nn_target__ec *e, const nn_node *nd) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sa = nn_target__ec_slot(e, 0), *sb = nn_target__ec_slot(e, 1), *sy = nn_target__ec_slot(e, I->in_count);
    const nn_target_slot *sc = I->in_count > 2 ? nn_target__ec_slot(e, 2) : NULL;
    int ta = nn_node_attr_int(nd, "transA", 0) != 0, tb = nn_node_attr_int(nd, "transB", 0) != 0;
    float alpha = nn_node_attr_float(nd, "alpha", 1.0f), beta = nn_node_attr_float(nd, "beta", 1.0f);
    int64_t M, N, K, ccs = 0;
    char as[256], bs[256], cs[256], ys[256], ix[128], av[320], f[48], cterm[400];
    nn_status st;
    if (!sa || !sb || sa->dtype != NN_DTYPE_FLOAT || sb->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT ||
        (sc && sc->dtype != NN_DTYPE_FLOAT) || sa->shape.rank != 2 || sy->shape.rank != 2)
        return nn_target__ec_unsup(e, "only float32 2-D operands");
    M = sy->shape.dims[0];
    N = sy->shape.dims[1];
    K = sa->shape.dims[ta ? 0 : 1];
    if (M != 1)
        return nn_target__ec_unsup(e, "a float Gemm with more than one row (the blocked SGEMM sums with FMA in an order fixed by the host's vector width)");
    if (sc && beta == 0.0f) sc = NULL;
    if (sc) {
        int64_t d1 = sc->shape.rank >= 1 ? sc->shape.dims[sc->shape.rank - 1] : 1;
        ccs = d1 == 1 ? 0 : 1;
    }
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    nn_target__ec_at(e, 0, "k", as, sizeof as);
    if (alpha == 1.0f) snprintf(av, sizeof av, "%s", as);
    else snprintf(av, sizeof av, "(%s * %s)", nn_target__ec_flt(alpha, f, sizeof f), as);
    if (sc) {
        snprintf(ix, sizeof ix, "n * %lld", (long long)ccs);
        snprintf(cterm, sizeof cterm, "(%s * %s)", nn_target__ec_flt(beta, f, sizeof f), nn_target__ec_at(e, 2, ix, cs, sizeof cs));
    } else {
        snprintf(cterm, sizeof cterm, "0.0f");
    }
    nn_target__ec_put(e, "/* %u Gemm '%s' (float, 1 x %lld x %lld%s) */\nstatic void nn_i%u(void) {\n    size_t n, k;\n", e->instr,
                      e->nm, (long long)K, (long long)N, tb ? ", transB" : "", e->instr);
    nn_target__ec_put(e, "    for (n = 0; n < %lld; n++) {\n        float t = 0.0f;\n", (long long)N);
    if (tb) {
        char a2[320], b2[256], as2[256];
        nn_target__ec_at(e, 0, "k + q", as2, sizeof as2);
        if (alpha == 1.0f) snprintf(a2, sizeof a2, "%s", as2);
        else snprintf(a2, sizeof a2, "(%s * %s)", nn_target__ec_flt(alpha, f, sizeof f), as2);
        snprintf(ix, sizeof ix, "n * %lld + k + q", (long long)K);
        nn_target__ec_at(e, 1, ix, b2, sizeof b2);
        nn_target__ec_put(e, "        float s[16];\n        size_t q;\n        for (q = 0; q < 16; q++) s[q] = 0.0f;\n");
        nn_target__ec_put(e, "        for (k = 0; k + 16 <= %lld; k += 16)\n            for (q = 0; q < 16; q++) s[q] += %s * %s;\n",
                          (long long)K, a2, b2);
        snprintf(ix, sizeof ix, "n * %lld + k", (long long)K);
        nn_target__ec_put(e, "        for (; k < %lld; k++) t += %s * %s;\n", (long long)K, av, nn_target__ec_at(e, 1, ix, bs, sizeof bs));
        nn_target__ec_put(e, "        for (q = 0; q < 16; q++) t += s[q];\n");
    } else {
        snprintf(ix, sizeof ix, "k * %lld + n", (long long)N);
        nn_target__ec_put(e, "        for (k = 0; k < %lld; k++) t += %s * %s;\n", (long long)K, av,
                          nn_target__ec_at(e, 1, ix, bs, sizeof bs));
    }
    nn_target__ec_put(e, "        %s = t + %s;\n    }\n}\n\n", nn_target__ec_at(e, I->in_count, "n", ys, sizeof ys), cterm);
    return e->st;
}

/* Softmax on float32 along a contiguous axis (inner == 1): nn_graph.h's
   row path, written out in nn_smx_row. */
static nn_status nn_target__ec_softmax(nn_target__ec *e, const nn_node *nd, int64_t opset) {
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, 1);
    int64_t a = nn_node_attr_int(nd, "axis", opset >= 13 ? -1 : 1);
    int32_t R = sx->shape.rank, r;
    uint64_t outer = 1, n = 1, inner = 1;
    char xs[256], ys[256], ix[64];
    if (sx->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT) return nn_target__ec_unsup(e, "only float32");
    if (a < 0) a += R;
    if (a < 0 || a > R || (a == R && opset >= 13)) return nn_target__ec_unsup(e, "axis out of range");
    for (r = 0; r < R; r++) {
        if (r < a) outer *= (uint64_t)sx->shape.dims[r];
        else if (r == a || opset < 13) n *= (uint64_t)sx->shape.dims[r];
        else inner *= (uint64_t)sx->shape.dims[r];
    }
    if (inner != 1) return nn_target__ec_unsup(e, "a Softmax over a non-innermost axis");
    e->uses |= NN_TARGET__EC_EXP;
    if (!e->fn) return NN_OK;
    snprintf(ix, sizeof ix, "o * %llu", (unsigned long long)n);
    nn_target__ec_put(e, "/* %u Softmax '%s' (float, %llu rows of %llu) */\nstatic void nn_i%u(void) {\n    size_t o;\n", e->instr,
                      e->nm, (unsigned long long)outer, (unsigned long long)n, e->instr);
    nn_target__ec_put(e, "    for (o = 0; o < %llu; o++) nn_smx_row(&%s, &%s, %llu);\n}\n\n", (unsigned long long)outer,
                      nn_target__ec_at(e, 0, ix, xs, sizeof xs), nn_target__ec_at(e, 1, ix, ys, sizeof ys),
                      (unsigned long long)n);
    return e->st;
}

/* Transpose of any element type. */
static nn_status nn_target__ec_transpose(nn_target__ec *e, const nn_node *nd) {
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, 1);
    const nn_attr *pa = nn_node_attr(nd, "perm");
    int32_t R = sx->shape.rank, r, perm[NN_MAX_RANK];
    int64_t st[NN_MAX_RANK], acc = 1;
    char expr[512], xs[700], ys[256];
    size_t len = 0;
    if (!nn_target__ec_member(sx->dtype) || R < 1) return nn_target__ec_unsup(e, "element type");
    for (r = 0; r < R; r++) perm[r] = pa && pa->count == (uint32_t)R ? (int32_t)pa->ints[r] : R - 1 - r;
    for (r = R - 1; r >= 0; r--) { st[r] = acc; acc *= sx->shape.dims[r]; }
    if (!e->fn) return NN_OK;
    nn_target__ec_put(e, "/* %u Transpose '%s' */\nstatic void nn_i%u(void) {\n    size_t e = 0;\n", e->instr, e->nm, e->instr);
    for (r = 0; r < R; r++) nn_target__ec_put(e, "    size_t i%d;\n", (int)r);
    for (r = 0; r < R; r++)
        nn_target__ec_put(e, "%*sfor (i%d = 0; i%d < %lld; i%d++) {\n", 4 + 4 * (int)r, "", (int)r, (int)r,
                          (long long)sy->shape.dims[r], (int)r);
    expr[0] = '0';
    expr[1] = 0;
    for (r = 0; r < R; r++)
        if (len + 40 < sizeof expr)
            len += (size_t)snprintf(expr + len, sizeof expr - len, "%si%d * %lld", len ? " + " : "", (int)r, (long long)st[perm[r]]);
    nn_target__ec_put(e, "%*s%s = %s;\n", 4 + 4 * (int)R, "", nn_target__ec_at(e, 1, "e", ys, sizeof ys),
                      nn_target__ec_at(e, 0, expr, xs, sizeof xs));
    nn_target__ec_close(e, (int)R);
    nn_target__ec_put(e, "}\n\n");
    return e->st;
}

/* Concat: each input's rows copied into its slice of the output. */
static nn_status nn_target__ec_concat(nn_target__ec *e, const nn_node *nd) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sy = nn_target__ec_slot(e, I->in_count);
    int64_t a = nn_node_attr_int(nd, "axis", 0), outer = 1, row = 1, off = 0;
    int32_t R = sy->shape.rank, r;
    uint32_t k;
    char xs[256], ys[256], ix[128];
    nn_status st;
    if (!nn_target__ec_member(sy->dtype)) return nn_target__ec_unsup(e, "element type");
    if (a < 0) a += R;
    if (a < 0 || a >= R) return nn_target__ec_unsup(e, "axis out of range");
    for (r = 0; r < a; r++) outer *= sy->shape.dims[r];
    for (r = (int32_t)a; r < R; r++) row *= sy->shape.dims[r];
    for (k = 0; k < I->in_count; k++) {
        const nn_target_slot *sx = nn_target__ec_slot(e, k);
        if (!sx || sx->dtype != sy->dtype) return nn_target__ec_unsup(e, "inputs of another type");
    }
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    nn_target__ec_put(e, "/* %u Concat '%s' */\nstatic void nn_i%u(void) {\n    size_t o, i;\n", e->instr, e->nm, e->instr);
    for (k = 0; k < I->in_count; k++) {
        const nn_target_slot *sx = nn_target__ec_slot(e, k);
        int64_t chunk = outer ? (int64_t)(nn_target__ec_count(&sx->shape) / (uint64_t)outer) : 0;
        snprintf(ix, sizeof ix, "o * %lld + i", (long long)chunk);
        nn_target__ec_at(e, k, ix, xs, sizeof xs);
        snprintf(ix, sizeof ix, "o * %lld + %lld + i", (long long)row, (long long)off);
        nn_target__ec_put(e, "    for (o = 0; o < %lld; o++)\n        for (i = 0; i < %lld; i++) %s = %s;\n", (long long)outer,
                          (long long)chunk, nn_target__ec_at(e, I->in_count, ix, ys, sizeof ys), xs);
        off += chunk;
    }
    nn_target__ec_put(e, "}\n\n");
    return e->st;
}

/* Ops that stream element i -> element i and may run over their input
   (the planner's in-place rule) when the output starts on the input's
   first byte and is not larger. */
static int nn_target__ec_inplace_ok(const char *op) {
    static const char *const ok[] = {"QuantizeLinear", "DequantizeLinear", "Add", "Sub", "Mul", "Div", "Relu", "Sigmoid",
                                     "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"};
    size_t i;
    for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(op, ok[i]) == 0) return 1;
    return 0;
}

/* Which inputs of the current cpu instruction are read from a copy in
   scratch (they share bytes with an output otherwise than in place),
   as the simulator does; fills e->sc_off and grows e->scratch. */
static void nn_target__ec_plan_copies(nn_target__ec *e) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    uint64_t used = 0;
    uint32_t k, j;
    memset(e->sc_off, 0, sizeof e->sc_off);
    if (I->op != NN_TARGET_OP_CPU || (I->flags & NN_TARGET_INSTR_VIEW)) return;
    for (k = 0; k < I->in_count && k < sizeof e->sc_off / sizeof e->sc_off[0]; k++) {
        const nn_target_slot *sx = nn_target__ec_slot(e, k);
        if (!sx || sx->region != NN_TARGET_REGION_ARENA) continue;
        for (j = 0; j < I->out_count; j++) {
            const nn_target_slot *so = nn_target__ec_slot(e, I->in_count + j);
            if (!so || so->region != NN_TARGET_REGION_ARENA || !sx->bytes || !so->bytes) continue;
            if (!(sx->offset < so->offset + so->bytes && so->offset < sx->offset + sx->bytes)) continue;
            if (nn_target__ec_inplace_ok(e->p->nodes[I->node].op_type) && sx->offset == so->offset && so->bytes <= sx->bytes) continue;
            e->sc_off[k] = used + 1;
            used += (sx->bytes + 63) / 64 * 64;
            break;
        }
    }
    if (used > e->scratch) e->scratch = used;
}

static nn_status nn_target__ec_cpu(nn_target__ec *e) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_node *nd = &e->p->nodes[I->node];
    int64_t opset = e->p->node_opsets[I->node];
    const char *op = nd->op_type;
    const nn_target_slot *sy = I->out_count ? nn_target__ec_slot(e, I->in_count) : NULL;
    if (nd->domain && nd->domain[0]) return nn_target__ec_unsup(e, "an op outside the default ONNX domain");
    if (!sy || sy->region != NN_TARGET_REGION_ARENA || !nn_target__ec_member(sy->dtype))
        return nn_target__ec_unsup(e, "an output of an unsupported type");
    if (I->flags & NN_TARGET_INSTR_VIEW) {
        nn_target__ec_put(e, "/* %u %s '%s': a view of its input's bytes, nothing to run */\n\n", e->instr, op, e->nm);
        return e->st;
    }
    if (strcmp(op, "QuantizeLinear") == 0) return nn_target__ec_quant(e, nd, opset, 0);
    if (strcmp(op, "DequantizeLinear") == 0) return nn_target__ec_quant(e, nd, opset, 1);
    if (strcmp(op, "Add") == 0) return nn_target__ec_fbin(e, nd, '+');
    if (strcmp(op, "Sub") == 0) return nn_target__ec_fbin(e, nd, '-');
    if (strcmp(op, "Mul") == 0) return nn_target__ec_fbin(e, nd, '*');
    if (strcmp(op, "Div") == 0) return nn_target__ec_fbin(e, nd, '/');
    if (strcmp(op, "Relu") == 0) return nn_target__ec_relu(e, nd);
    if (strcmp(op, "Sigmoid") == 0) return nn_target__ec_sigmoid(e);
    if (strcmp(op, "Reshape") == 0 || strcmp(op, "Flatten") == 0 || strcmp(op, "Squeeze") == 0 ||
        strcmp(op, "Unsqueeze") == 0 || strcmp(op, "Identity") == 0)
        return nn_target__ec_move(e);
    if (strcmp(op, "MaxPool") == 0) return nn_target__ec_maxpool(e, nd);
    if (strcmp(op, "GlobalAveragePool") == 0) return nn_target__ec_gavg(e);
    if (strcmp(op, "Gemm") == 0) return nn_target__ec_fgemm(e, nd);
    if (strcmp(op, "Softmax") == 0) return nn_target__ec_softmax(e, nd, opset);
    if (strcmp(op, "Transpose") == 0) return nn_target__ec_transpose(e, nd);
    if (strcmp(op, "Concat") == 0) return nn_target__ec_concat(e, nd);
    return nn_target__ec_unsup(e, "a float island whose nn_graph.h kernel has no exact C form here");
}

static nn_status nn_target__ec_instr(nn_target__ec *e) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    nn_target__ec_safe(I->name, e->nm, sizeof e->nm);
    nn_target__ec_plan_copies(e);
    switch (I->op) {
    case NN_TARGET_OP_CONV: return nn_target__ec_conv(e);
    case NN_TARGET_OP_GEMM:
    case NN_TARGET_OP_MATMUL: return nn_target__ec_matmul(e);
    case NN_TARGET_OP_ADD:
    case NN_TARGET_OP_SUB:
    case NN_TARGET_OP_MUL: return nn_target__ec_eltwise(e);
    case NN_TARGET_OP_AVGPOOL: return nn_target__ec_avgpool(e);
    case NN_TARGET_OP_LUT8:
    case NN_TARGET_OP_LUT16: return nn_target__ec_lut(e);
    case NN_TARGET_OP_CPU: return nn_target__ec_cpu(e);
    default: return nn_target__ec_unsup(e, "an instruction kind the generator does not write (the NV12/NV21 input conversion)");
    }
}

/* A name for a comment: printable, no comment terminator. */
static const char *nn_target__ec_safe(const char *s, char *out, size_t cap) {
    size_t i;
    for (i = 0; s && s[i] && i + 1 < cap; i++) out[i] = (s[i] < 32 || s[i] > 126 || s[i] == '*' || s[i] == '\\') ? '_' : s[i];
    out[i] = 0;
    return out;
}

static void nn_target__ec_shape(const nn_shape *s, char *out, size_t cap) {
    size_t len = 0;
    int32_t r;
    len += (size_t)snprintf(out, cap, "(");
    for (r = 0; r < s->rank && len + 24 < cap; r++)
        len += (size_t)snprintf(out + len, cap - len, "%s%lld", r ? "," : "", (long long)s->dims[r]);
    snprintf(out + len, cap - len, ")");
}

static void nn_target__ec_prelude(nn_target__ec *e, const char *name, const char *header) {
    const nn_target_program *p = e->p;
    nn_target__ec_put(e, "/* %s.c - generated by nnport (nn_target_emit_c) from a program for target '%s': %u instructions.\n"
                         "   Builds with the C standard library alone (cc -std=c99 -O2 -c %s.c; link -lm).  Float islands,\n"
                         "   if any, follow nn_graph.h's kernels operation for operation, so the outputs are the simulator's\n"
                         "   bits (IEEE float evaluated in float, no FMA contraction: both enforced below).  Do not edit. */\n",
                      name, p->target_name ? p->target_name : "?", p->instr_count, name);
    nn_target__ec_put(e, "#include <float.h>\n#include <math.h>\n#include <stdint.h>\n#include <string.h>\n#include \"%s\"\n\n", header);
    nn_target__ec_put(e, "#if FLT_EVAL_METHOD != 0\n#error \"float arithmetic must be evaluated in float (FLT_EVAL_METHOD 0) to match the simulator\"\n#endif\n\n");
    nn_target__ec_put(e, "/* No contraction of a * b + c into one FMA (nnport's kernels are built in ISO C mode, which has\n"
                         "   none): GCC in GNU mode contracts by default (-ffp-contract=fast). */\n"
                         "#if defined(__GNUC__) && !defined(__clang__)\n#pragma GCC optimize(\"fp-contract=off\")\n#else\n"
                         "#pragma STDC FP_CONTRACT OFF\n#endif\n\n");
}

/* A static union of byte size `bytes` (rounded up to 8) named name. */
static void nn_target__ec_union(nn_target__ec *e, const char *name, uint64_t bytes) {
    uint64_t b = (bytes + 7) / 8 * 8;
    if (!b) b = 8;
    nn_target__ec_put(e, "static union {\n    uint8_t u8[%llu];\n    int8_t s8[%llu];\n    int16_t s16[%llu];\n    uint16_t u16[%llu];\n"
                         "    int32_t s32[%llu];\n    uint32_t u32[%llu];\n    int64_t s64[%llu];\n    float f[%llu];\n} %s;\n\n",
                      (unsigned long long)b, (unsigned long long)b, (unsigned long long)b / 2, (unsigned long long)b / 2,
                      (unsigned long long)b / 4, (unsigned long long)b / 4, (unsigned long long)b / 8, (unsigned long long)b / 4,
                      name);
}

static void nn_target__ec_helpers(nn_target__ec *e) {
    if (e->uses & (NN_TARGET__EC_RQ | NN_TARGET__EC_MS))
        nn_target__ec_put(e,
            "/* round(x * m / 2^shift), ties up, saturated to int32 (nn_quant_mul_shift; floor without >> of negatives). */\n"
            "static int32_t nn_ms(int64_t x, int32_t m, int32_t shift) {\n"
            "    int64_t p = x * m, r;\n"
            "    if (shift > 0) {\n"
            "        p += (int64_t)1 << (shift - 1);\n"
            "        r = p >= 0 ? p >> shift : -((-(p + 1)) >> shift) - 1;\n"
            "    } else {\n"
            "        r = p;\n"
            "    }\n"
            "    return r > INT32_MAX ? INT32_MAX : r < INT32_MIN ? INT32_MIN : (int32_t)r;\n"
            "}\n\n");
    if (e->uses & NN_TARGET__EC_RQ)
        nn_target__ec_put(e,
            "/* clamp(nn_ms(acc, m, shift) + zp, lo, hi) (nn_quant_requantize). */\n"
            "static int32_t nn_rq(int64_t acc, int32_t m, int32_t shift, int32_t zp, int32_t lo, int32_t hi) {\n"
            "    const int64_t v = (int64_t)nn_ms(acc, m, shift) + zp;\n"
            "    return (int32_t)(v < lo ? lo : v > hi ? hi : v);\n"
            "}\n\n");
    if (e->uses & NN_TARGET__EC_SIG)
        nn_target__ec_put(e,
            "/* nn_graph.h's float exp without libm: n = round(x / ln 2) by the 1.5 * 2^23 trick, r = x - n ln 2\n"
            "   in two parts, e^r by its Taylor polynomial to r^7, 2^n as two power-of-two factors. */\n"
            "static float nn_u2f(uint32_t u) {\n    float f;\n    memcpy(&f, &u, 4);\n    return f;\n}\n\n"
            "static float nn_expf(float x) {\n"
            "    const float magic = 12582912.0f;\n"
            "    float xc = x > 88.8f ? 88.8f : x, t, n, r, q, p;\n"
            "    uint32_t tb, mb;\n"
            "    int32_t ni, n1;\n"
            "    xc = xc < -104.0f ? -104.0f : xc;\n"
            "    t = xc * 1.44269504088896341f + magic;\n"
            "    n = t - magic;\n"
            "    memcpy(&tb, &t, 4);\n"
            "    memcpy(&mb, &magic, 4);\n"
            "    ni = (int32_t)((int64_t)tb - (int64_t)mb);\n"
            "    r = xc - n * 0.693359375f;\n"
            "    r = r - n * -2.12194440e-4f;\n"
            "    q = 1.0f / 5040.0f;\n"
            "    q = q * r + 1.0f / 720.0f;\n"
            "    q = q * r + 1.0f / 120.0f;\n"
            "    q = q * r + 1.0f / 24.0f;\n"
            "    q = q * r + 1.0f / 6.0f;\n"
            "    q = q * r + 0.5f;\n"
            "    p = 1.0f + (r + r * r * q);\n"
            "    n1 = ni > 100 ? 64 : ni < -100 ? -64 : 0;\n"
            "    return p * nn_u2f((uint32_t)(n1 + 127) << 23) * nn_u2f((uint32_t)(ni - n1 + 127) << 23);\n"
            "}\n\n"
            "/* The logistic function with one exp and no overflow (nn_ew__sigmoidf). */\n"
            "static float nn_sigmoidf(float x) {\n"
            "    const float e = nn_expf(-fabsf(x)), s = 1.0f / (1.0f + e);\n"
            "    return x >= 0.0f ? s : e * s;\n"
            "}\n\n");
    if (e->uses & NN_TARGET__EC_EXP)
        nn_target__ec_put(e,
            "/* One Softmax row as nn_graph.h computes it: the max over 16 lanes, exp(x - max) by a Cody-Waite\n"
            "   reduction and a degree-7 Taylor polynomial (2^k built in the exponent field), the sum in 16 double\n"
            "   lanes added pairwise, then y *= (float)(1 / sum). */\n"
            "static void nn_smx_row(const float *x, float *y, size_t n) {\n"
            "    float mx[16], m, inv;\n"
            "    double s[16];\n"
            "    size_t i;\n"
            "    int l, w;\n"
            "    for (l = 0; l < 16; l++) mx[l] = -INFINITY;\n"
            "    for (i = 0; i + 16 <= n; i += 16)\n"
            "        for (l = 0; l < 16; l++) mx[l] = x[i + l] > mx[l] ? x[i + l] : mx[l];\n"
            "    for (; i < n; i++) mx[0] = x[i] > mx[0] ? x[i] : mx[0];\n"
            "    for (l = 1; l < 16; l++) mx[0] = mx[l] > mx[0] ? mx[l] : mx[0];\n"
            "    m = mx[0];\n"
            "    for (i = 0; i < n; i++) {\n"
            "        const float v = x[i] - m;\n"
            "        y[i] = v < -87.3f ? -87.3f : v;\n"
            "    }\n"
            "    for (i = 0; i < n; i++) {\n"
            "        float v = y[i], t = v * 1.44269504f + 12582912.0f, k, r, p, scale;\n"
            "        uint32_t tb, sb;\n"
            "        memcpy(&tb, &t, 4);\n"
            "        k = (float)((int32_t)(tb & 0x7FFFFFu) - 0x400000);\n"
            "        r = (v - k * 0.693359375f) + k * 2.12194440e-4f;\n"
            "        p = 1.0f / 5040;\n"
            "        p = p * r + 1.0f / 720;\n"
            "        p = p * r + 1.0f / 120;\n"
            "        p = p * r + 1.0f / 24;\n"
            "        p = p * r + 1.0f / 6;\n"
            "        p = p * r + 0.5f;\n"
            "        p = p * r + 1.0f;\n"
            "        p = p * r + 1.0f;\n"
            "        sb = ((tb - 0x4B400000u + 127u) << 23) & (0u - (uint32_t)(v > -87.3f));\n"
            "        memcpy(&scale, &sb, 4);\n"
            "        y[i] = p * scale;\n"
            "    }\n"
            "    for (l = 0; l < 16; l++) s[l] = 0;\n"
            "    for (i = 0; i + 16 <= n; i += 16)\n"
            "        for (l = 0; l < 16; l++) s[l] += (double)y[i + l];\n"
            "    for (; i < n; i++) s[0] += (double)y[i];\n"
            "    for (w = 8; w > 0; w /= 2)\n"
            "        for (l = 0; l < w; l++) s[l] += s[l + w];\n"
            "    inv = (float)(1.0 / s[0]);\n"
            "    for (i = 0; i < n; i++) y[i] *= inv;\n"
            "}\n\n");
}

static int nn_target__ec_ident(const char *s) {
    size_t i;
    if (!s || !s[0] || strlen(s) > 64 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_')) return 0;
    for (i = 1; s[i]; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return 0;
    return 1;
}

static void nn_target__ec_header(nn_target__ec *e, const char *name, const char *up) {
    const nn_target_program *p = e->p;
    uint32_t i;
    char nm[160], sh[200];
    nn_target__ec_put(e, "/* %s.h - generated by nnport (nn_target_emit_c); do not edit.\n\n"
                         "   int %s_run(const void *const *inputs, void *const *outputs);\n"
                         "     inputs[i]: the i-th input, %s_INPUT_<i>_BYTES bytes of raw little-endian elements (dtype and\n"
                         "     shape below); outputs[i]: room for %s_OUTPUT_<i>_BYTES bytes.  Copies the inputs into the\n"
                         "     arena, runs %u instructions, copies the outputs out.  Returns 0, or -1 for a NULL pointer.\n"
                         "     Not reentrant: the arena (%s_ARENA_BYTES) and scratch are static objects in %s.c. */\n",
                      name, name, up, up, p->instr_count, up, name);
    nn_target__ec_put(e, "#ifndef %s_H_INCLUDED\n#define %s_H_INCLUDED\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n", up, up);
    nn_target__ec_put(e, "#define %s_ARENA_BYTES %lluu\n#define %s_SCRATCH_BYTES %lluu\n#define %s_WEIGHT_BYTES %lluu\n", up,
                      (unsigned long long)p->arena_bytes, up, (unsigned long long)e->scratch, up,
                      (unsigned long long)p->weight_bytes);
    nn_target__ec_put(e, "#define %s_INPUT_COUNT %u\n#define %s_OUTPUT_COUNT %u\n\n", up, p->input_count, up, p->output_count);
    for (i = 0; i < p->input_count; i++) {
        const nn_target_slot *s = &p->slots[p->inputs[i]];
        nn_target__ec_shape(&s->shape, sh, sizeof sh);
        nn_target__ec_put(e, "/* input %u '%s': %s %s */\n#define %s_INPUT_%u_BYTES %lluu\n", i, nn_target__ec_safe(s->name, nm, sizeof nm),
                          nn_dtype_name(s->dtype), sh, up, i, (unsigned long long)s->bytes);
    }
    for (i = 0; i < p->output_count; i++) {
        const nn_target_slot *s = &p->slots[p->outputs[i]];
        nn_target__ec_shape(&s->shape, sh, sizeof sh);
        nn_target__ec_put(e, "/* output %u '%s': %s %s */\n#define %s_OUTPUT_%u_BYTES %lluu\n", i, nn_target__ec_safe(s->name, nm, sizeof nm),
                          nn_dtype_name(s->dtype), sh, up, i, (unsigned long long)s->bytes);
    }
    nn_target__ec_put(e, "\nextern const unsigned long %s_input_bytes[%u];\nextern const unsigned long %s_output_bytes[%u];\n", name,
                      p->input_count ? p->input_count : 1, name, p->output_count ? p->output_count : 1);
    nn_target__ec_put(e, "int %s_run(const void *const *inputs, void *const *outputs);\n\n", name);
    nn_target__ec_put(e, "#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

static void nn_target__ec_run(nn_target__ec *e, const char *name) {
    const nn_target_program *p = e->p;
    uint32_t i, k;
    nn_target__ec_put(e, "const unsigned long %s_input_bytes[%u] = {", name, p->input_count ? p->input_count : 1);
    for (i = 0; i < p->input_count; i++) nn_target__ec_put(e, "%s%lluu", i ? ", " : "", (unsigned long long)p->slots[p->inputs[i]].bytes);
    nn_target__ec_put(e, "%s};\nconst unsigned long %s_output_bytes[%u] = {", p->input_count ? "" : "0", name,
                      p->output_count ? p->output_count : 1);
    for (i = 0; i < p->output_count; i++)
        nn_target__ec_put(e, "%s%lluu", i ? ", " : "", (unsigned long long)p->slots[p->outputs[i]].bytes);
    nn_target__ec_put(e, "%s};\n\n", p->output_count ? "" : "0");
    nn_target__ec_put(e, "int %s_run(const void *const *inputs, void *const *outputs) {\n", name);
    nn_target__ec_put(e, "    if (!inputs || !outputs) return -1;\n");
    for (i = 0; i < p->input_count; i++) nn_target__ec_put(e, "    if (!inputs[%u]) return -1;\n", i);
    for (i = 0; i < p->output_count; i++) nn_target__ec_put(e, "    if (!outputs[%u]) return -1;\n", i);
    for (i = 0; i < p->input_count; i++) {
        const nn_target_slot *s = &p->slots[p->inputs[i]];
        nn_target__ec_put(e, "    memcpy(nn_a.u8 + %llu, inputs[%u], %llu);\n", (unsigned long long)s->offset, i,
                          (unsigned long long)s->bytes);
    }
    for (i = 0; i < p->instr_count; i++) {
        const nn_target_instr *I = &p->instrs[i];
        e->instr = i;
        if (I->op == NN_TARGET_OP_CPU && (I->flags & NN_TARGET_INSTR_VIEW)) continue;
        nn_target__ec_plan_copies(e);
        for (k = 0; k < I->in_count && k < sizeof e->sc_off / sizeof e->sc_off[0]; k++)
            if (e->sc_off[k]) {
                const nn_target_slot *s = nn_target__ec_slot(e, k);
                nn_target__ec_put(e, "    memcpy(nn_s.u8 + %llu, nn_a.u8 + %llu, %llu); /* input %u shares bytes with the output */\n",
                                  (unsigned long long)(e->sc_off[k] - 1), (unsigned long long)s->offset,
                                  (unsigned long long)s->bytes, k);
            }
        nn_target__ec_put(e, "    nn_i%u();\n", i);
    }
    for (i = 0; i < p->output_count; i++) {
        const nn_target_slot *s = &p->slots[p->outputs[i]];
        nn_target__ec_put(e, "    memcpy(outputs[%u], nn_a.u8 + %llu, %llu);\n", i, (unsigned long long)s->offset,
                          (unsigned long long)s->bytes);
    }
    nn_target__ec_put(e, "    return 0;\n}\n");
}

NN_API nn_status nn_target_emit_c(const nn_target_program *p, const nn_target_emit_desc *d, nn_verify_write_fn write_c,
                                  void *c_user, nn_verify_write_fn write_h, void *h_user, nn_diag *diag) {
    nn_target_emit_desc dd;
    nn_target__ec *e;
    char up[72], hdr[96];
    nn_status st = NN_OK;
    uint32_t i;
    NN_ASSERT(p);
    memset(&dd, 0, sizeof dd);
    if (d) dd = *d;
    if (!dd.name) dd.name = "model";
    if (!nn_target__ec_ident(dd.name))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_emit_desc.name", "'%s' is not a C identifier of at most 64 characters", dd.name);
    for (i = 0; dd.name[i]; i++) up[i] = (char)(dd.name[i] >= 'a' && dd.name[i] <= 'z' ? dd.name[i] - 32 : dd.name[i]);
    up[i] = 0;
    snprintf(hdr, sizeof hdr, "%s.h", dd.name);
    if (!dd.header) dd.header = hdr;
    for (i = 0; i < p->input_count; i++)
        if (p->slots[p->inputs[i]].region != NN_TARGET_REGION_ARENA)
            return nn_diag_set(diag, NN_ERR_UNSUPPORTED, p->slots[p->inputs[i]].name, "a graph input outside the arena");
    for (i = 0; i < p->output_count; i++)
        if (p->slots[p->outputs[i]].region != NN_TARGET_REGION_ARENA)
            return nn_diag_set(diag, NN_ERR_UNSUPPORTED, p->slots[p->outputs[i]].name, "a constant graph output");
    e = (nn_target__ec *)nn_alloc(&dd.alloc, sizeof *e);
    if (!e) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_emit_c", "out of memory");
    memset(e, 0, sizeof *e);
    e->p = p;
    e->diag = diag;
    e->done = (uint8_t *)nn_alloc(&dd.alloc, p->slot_count ? p->slot_count : 1);
    if (!e->done) {
        nn_free(&dd.alloc, e);
        return nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_emit_c", "out of memory");
    }
    memset(e->done, 0, p->slot_count ? p->slot_count : 1);
    /* pass 1: check every instruction, size the scratch and accumulators */
    for (i = 0; i < p->instr_count && st == NN_OK; i++) {
        e->instr = i;
        st = nn_target__ec_instr(e);
    }
    /* pass 2: the source */
    if (st == NN_OK && write_c) {
        e->fn = write_c;
        e->user = c_user;
        nn_target__ec_prelude(e, dd.name, dd.header);
        nn_target__ec_put(e, "/* The activation arena: nn_target's memory plan, offsets as in the .nnb file; accessed through\n"
                             "   the union's members so alias analysis sees every reuse of its bytes. */\n");
        nn_target__ec_union(e, "nn_a", p->arena_bytes);
        if (e->scratch) {
            nn_target__ec_put(e, "/* Copies of inputs that share bytes with an instruction's output. */\n");
            nn_target__ec_union(e, "nn_s", e->scratch);
        }
        if (e->acc) nn_target__ec_put(e, "/* int32 accumulators of one output row */\nstatic int32_t nn_acc[%llu];\n\n", (unsigned long long)e->acc);
        nn_target__ec_helpers(e);
        for (i = 0; i < p->instr_count && e->st == NN_OK; i++) {
            e->instr = i;
            st = nn_target__ec_instr(e);
            if (st) break;
        }
        if (st == NN_OK) nn_target__ec_run(e, dd.name);
        nn_target__ec_flush(e);
        if (st == NN_OK) st = e->st;
    }
    if (st == NN_OK && write_h) {
        e->fn = write_h;
        e->user = h_user;
        e->n = 0;
        nn_target__ec_header(e, dd.name, up);
        nn_target__ec_flush(e);
        st = e->st;
    }
    nn_free(&dd.alloc, e->done);
    nn_free(&dd.alloc, e);
    return st;
}

#endif /* NN_TARGET_EMITC_IMPLEMENTATION_DONE */
#endif
