/* staging/target_check.h - compiler check levels (issue 7): a compiled
   program run by the simulator against the quantized model it came from,
   run by nn_qexec (the fake-quant executor), on sample inputs.

   Levels (Pulsar2's compiler.check):
     bitequal  every compared element has the same bytes (the default: the
               simulator and nn_qexec share their kernels, so anything else
               is a compiler or file bug)
     allclose  |sim - ref| <= atol + rtol |ref| on real values (a tensor
               written by a QuantizeLinear with a constant per-tensor scale
               is dequantized with it first, so atol is in the model's units)
     cosine    cosine of the real values >= min_cosine
   Scope: the graph outputs only, or every tensor an instruction writes that
   nn_qexec also produces ("per layer": integer groups are compared at
   their QuantizeLinear output, float-island nodes at their outputs).  A
   skip callback leaves tensors out by name (the CLI passes POSIX regexes).

   A failed check names the first layer that diverges: per layer, the first
   failing tensor in instruction order (a topological order of the lowered
   graph); per output, the same search is run on the first failing sample
   (the level's criterion, else the first tensor that is not bit-equal, as
   a cosine drop can build up over layers that each pass).

   Stepping: nn_target.h's simulator has no per-instruction hook yet, so
   nn_target_check__step runs a window of the instruction list through
   nn_target_sim_run on a shallow copy of the program (arena carried over in
   mem, inputs copied on the first window only).  It is the contract of the
   nn_target_sim_step proposed for nn_target.h (report of issue 7); when
   that lands the helper becomes a call to it.

   Memory: nn_qexec's values of the compared tensors are copied for one
   sample (per layer: about every activation of the model once, int8 where
   the model is integer); the simulator needs nn_target_sim_scratch_bytes. */
#ifndef NN_TARGET_CHECK_H
#define NN_TARGET_CHECK_H

#include "nn_target.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nn_target_check_level {
    NN_TARGET_CHECK_DEFAULT = 0,  /* bitequal */
    NN_TARGET_CHECK_ALLCLOSE,
    NN_TARGET_CHECK_BITEQUAL,
    NN_TARGET_CHECK_COSINE
} nn_target_check_level;

/* Non-zero: leave tensor name out of the check. */
typedef int (*nn_target_check_skip_fn)(void *user, const char *tensor_name);

typedef struct nn_target_check_desc {
    nn_allocator alloc;
    nn_target_check_level level;
    int per_layer;                /* 1: every instruction output nn_qexec also has; 0: graph outputs */
    double rtol, atol;            /* allclose; both 0: equal real values */
    double min_cosine;            /* cosine; 0: 0.999 */
    nn_target_check_skip_fn skip; /* optional */
    void *skip_user;
} nn_target_check_desc;

/* One compared tensor, worst over the samples. */
typedef struct nn_target_check_row {
    const char *tensor;           /* slot name (borrowed from the program) */
    const char *layer;            /* the ONNX node of the instruction that wrote it */
    const char *op;               /* "conv", ... or the cpu node's op type */
    uint32_t instr;               /* instruction index */
    double cosine;                /* lowest, on real values */
    double max_abs_err;           /* largest |sim - ref|, real values */
    uint64_t mismatched, count;   /* elements failing the level / compared (summed over samples) */
    int pass;
} nn_target_check_row;

typedef struct nn_target_check_report {
    nn_allocator alloc;
    int pass;
    nn_target_check_level level;
    uint32_t samples;
    uint32_t skipped, unmatched;  /* tensors skipped by name / that nn_qexec does not produce */
    nn_target_check_row *rows;    /* (row_count) in instruction order */
    uint32_t row_count;
    double worst_cosine;
    uint64_t mismatched, count;
    int has_diverge;              /* 1 on failure when a first diverging layer was found */
    nn_target_check_row diverge;  /* that layer (on the sample diverge_sample) */
    uint32_t diverge_sample;
    int diverge_by_bits;          /* 1: found as the first non-bit-equal tensor (no layer fails the level) */
} nn_target_check_report;

/* Runs program p (compiled from qdq, or loaded from a file made from it)
   and nn_qexec on qdq over sample_count samples, inputs[k * p->input_count
   + i] = input i of sample k (program input order; matched to qdq's inputs
   by name), and compares as d says (NULL: bitequal per output).  *out is
   filled (free with nn_target_check_report_deinit) and out->pass says the
   verdict; a failed check is not an error.  NN_ERR_ARG: a program input
   qdq lacks, or no output of qdq matched; a run's status otherwise (diag
   names the node or instruction); NN_ERR_NOMEM. */
NN_API nn_status nn_target_check(const nn_target_program *p, const nn_graph *qdq, const nn_value *inputs,
                                 uint32_t sample_count, const nn_target_check_desc *d, nn_target_check_report *out,
                                 nn_diag *diag);
NN_API void nn_target_check_report_deinit(nn_target_check_report *r);
/* "bitequal", "allclose", "cosine" ("?" out of range). */
NN_API const char *nn_target_check_level_name(nn_target_check_level l);
/* The level named name (as above); 0 when unknown. */
NN_API int nn_target_check_level_find(const char *name, nn_target_check_level *out);

#ifdef __cplusplus
}
#endif
#endif /* NN_TARGET_CHECK_H */

/* ===================== end of API: implementation below ===================== */

#if defined(NN_IMPLEMENTATION) || defined(NN_TARGET_IMPLEMENTATION)
#ifndef NN_TARGET_CHECK_IMPLEMENTATION_DONE
#define NN_TARGET_CHECK_IMPLEMENTATION_DONE

static const char *const nn_target_check__names[4] = {"bitequal", "allclose", "bitequal", "cosine"};

NN_API const char *nn_target_check_level_name(nn_target_check_level l) {
    return (unsigned)l < 4 ? nn_target_check__names[l] : "?";
}

NN_API int nn_target_check_level_find(const char *name, nn_target_check_level *out) {
    int i;
    for (i = 1; name && i < 4; i++)
        if (!strcmp(name, nn_target_check__names[i])) {
            *out = (nn_target_check_level)i;
            return 1;
        }
    return 0;
}

/* One tensor to compare: written by instruction instr into slot, produced
   by nn_qexec as tensor t of the QDQ graph. */
typedef struct nn_target_check__probe {
    uint32_t instr, slot;
    nn_tensor_id t;
    double scale;                 /* > 0: dequantize raw values as (v - zp) * scale */
    int32_t zp;
} nn_target_check__probe;

typedef struct nn_target_check__ctx {
    const nn_target_program *p;
    const nn_graph *g;
    nn_target_check_desc d;
    nn_target_check__probe *probes;
    uint32_t probe_count;
    int32_t *probe_of;            /* (g->tensor_count) probe index of a tensor, -1 */
    nn_value *ref;                /* (probe_count) nn_qexec's copies for the current sample */
    nn_status copy_status;
} nn_target_check__ctx;

/* Runs instructions [first, first + count) of p in mem: see the file's
   header (the proposed nn_target_sim_step). */
static nn_status nn_target_check__step(const nn_target_program *p, void *mem, size_t mem_bytes, const nn_value *inputs,
                                       uint32_t first, uint32_t count, nn_diag *diag) {
    nn_target_program w = *p; /* shallow: same records, a window of the instruction list */
    w.instrs = p->instrs + first;
    w.instr_count = count;
    if (first) w.input_count = 0; /* the arena carries the earlier results */
    return nn_target_sim_run(&w, mem, mem_bytes, inputs, NULL, diag);
}

/* Scale and zero point of a tensor written by a QuantizeLinear with a
   constant per-tensor scale; 0 otherwise. */
static int nn_target_check__qparams(const nn_graph *g, nn_tensor_id t, double *scale, int32_t *zp) {
    const nn_node *n;
    const nn_tensor *s, *z;
    if (t.id == NN_INVALID_ID || g->tensors[t.id].producer.id == NN_INVALID_ID) return 0;
    n = &g->nodes[g->tensors[t.id].producer.id];
    if (strcmp(n->op_type, "QuantizeLinear") != 0 || n->input_count < 2 || n->inputs[1].id == NN_INVALID_ID) return 0;
    s = &g->tensors[n->inputs[1].id];
    if (!(s->flags & NN_TENSOR_CONST) || !s->data || s->dtype != NN_DTYPE_FLOAT || s->data_bytes != 4) return 0;
    *scale = ((const float *)s->data)[0];
    *zp = 0;
    if (n->input_count > 2 && n->inputs[2].id != NN_INVALID_ID) {
        z = &g->tensors[n->inputs[2].id];
        if (!(z->flags & NN_TENSOR_CONST) || !z->data) return 0;
        if (z->dtype == NN_DTYPE_INT8) *zp = ((const int8_t *)z->data)[0];
        else if (z->dtype == NN_DTYPE_UINT8) *zp = ((const uint8_t *)z->data)[0];
        else if (z->dtype == NN_DTYPE_INT16) *zp = ((const int16_t *)z->data)[0];
        else if (z->dtype == NN_DTYPE_UINT16) *zp = ((const uint16_t *)z->data)[0];
        else return 0;
    }
    return *scale > 0;
}

/* nn_qexec's observer: copies the values of probed tensors. */
static int nn_target_check__observe(void *user, const nn_graph *g, uint32_t node_index, const nn_value *outputs,
                                    uint32_t output_count) {
    nn_target_check__ctx *c = (nn_target_check__ctx *)user;
    uint32_t j;
    for (j = 0; j < output_count && j < g->nodes[node_index].output_count; j++) {
        nn_tensor_id t = g->nodes[node_index].outputs[j];
        int32_t k;
        nn_value *r;
        if (t.id == NN_INVALID_ID || (k = c->probe_of[t.id]) < 0 || !outputs[j].data) continue;
        r = &c->ref[k];
        if (r->data) nn_free(&c->d.alloc, r->data);
        *r = outputs[j];
        r->flags = 0;
        r->data = nn_alloc(&c->d.alloc, outputs[j].bytes ? outputs[j].bytes : 1);
        if (!r->data) { c->copy_status = NN_ERR_NOMEM; return 1; }
        memcpy(r->data, outputs[j].data, outputs[j].bytes);
    }
    return 0;
}

/* A float copy of v's real values (dequantized with the probe's
   parameters when it has them); NULL on no memory. */
static float *nn_target_check__real(const nn_target_check__ctx *c, const nn_value *v, const nn_target_check__probe *pr,
                                    size_t n) {
    float *f = (float *)nn_alloc(&c->d.alloc, (n ? n : 1) * sizeof(float));
    size_t i;
    if (!f) return NULL;
    for (i = 0; i < n; i++) {
        double x;
        switch (v->dtype) {
        case NN_DTYPE_FLOAT: x = ((const float *)v->data)[i]; break;
        case NN_DTYPE_DOUBLE: x = ((const double *)v->data)[i]; break;
        case NN_DTYPE_INT8: x = ((const int8_t *)v->data)[i]; break;
        case NN_DTYPE_UINT8: case NN_DTYPE_BOOL: x = ((const uint8_t *)v->data)[i]; break;
        case NN_DTYPE_INT16: x = ((const int16_t *)v->data)[i]; break;
        case NN_DTYPE_UINT16: x = ((const uint16_t *)v->data)[i]; break;
        case NN_DTYPE_INT32: x = ((const int32_t *)v->data)[i]; break;
        case NN_DTYPE_UINT32: x = ((const uint32_t *)v->data)[i]; break;
        case NN_DTYPE_INT64: x = (double)((const int64_t *)v->data)[i]; break;
        default: x = 0; break;
        }
        if (pr->scale > 0 && !nn_dtype_is_float(v->dtype)) x = (x - pr->zp) * pr->scale;
        f[i] = (float)x;
    }
    return f;
}

/* Compares the simulator's value got with nn_qexec's ref for probe pr
   under the level; folds the result into row.  Returns 1 when it passes. */
static nn_status nn_target_check__compare(const nn_target_check__ctx *c, const nn_target_check__probe *pr,
                                          const nn_value *ref, const nn_value *got, nn_target_check_row *row, int *pass,
                                          int *bitequal) {
    size_t n = nn_value_count(ref), es, i;
    uint64_t diff = 0;
    nn_verify_desc vd;
    nn_verify_stats vs;
    nn_value rv, gv;
    float *rf, *gf;
    nn_diag dd;
    int same_type = ref->dtype == got->dtype && nn_value_count(got) == n && ref->bytes == got->bytes;
    *pass = 0;
    *bitequal = 0;
    if (!same_type) { /* a dtype or size the two runs disagree on: a mismatch everywhere */
        row->cosine = -1;
        row->max_abs_err = HUGE_VAL;
        row->mismatched += n;
        row->count += n;
        return NN_OK;
    }
    es = n ? ref->bytes / n : 0;
    if (memcmp(ref->data, got->data, ref->bytes) != 0)
        for (i = 0; i < n; i++) diff += memcmp((const char *)ref->data + i * es, (const char *)got->data + i * es, es) != 0;
    *bitequal = diff == 0;
    rf = nn_target_check__real(c, ref, pr, n);
    gf = rf ? nn_target_check__real(c, got, pr, n) : NULL;
    if (!gf) { nn_free(&c->d.alloc, rf); return NN_ERR_NOMEM; }
    rv = nn_value_make(NN_DTYPE_FLOAT, ref->shape, rf);
    gv = nn_value_make(NN_DTYPE_FLOAT, ref->shape, gf);
    memset(&vd, 0, sizeof vd);
    vd.ignore_shape = 1;
    vd.rtol = c->d.rtol;
    vd.atol = c->d.atol;
    vd.exact = c->d.rtol == 0 && c->d.atol == 0;
    memset(&dd, 0, sizeof dd);
    memset(&vs, 0, sizeof vs);
    if (nn_verify_compare(&rv, &gv, &vd, &vs, &dd) != NN_OK) { vs.cosine = -1; vs.max_abs_err = HUGE_VAL; vs.beyond_tol_count = n; }
    nn_free(&c->d.alloc, rf);
    nn_free(&c->d.alloc, gf);
    if (!(vs.cosine >= row->cosine)) row->cosine = vs.cosine; /* NaN lands too */
    if (!(vs.max_abs_err <= row->max_abs_err)) row->max_abs_err = vs.max_abs_err;
    row->count += n;
    switch (c->d.level) {
    case NN_TARGET_CHECK_ALLCLOSE:
        row->mismatched += vs.beyond_tol_count;
        *pass = vs.beyond_tol_count == 0;
        break;
    case NN_TARGET_CHECK_COSINE:
        row->mismatched += diff;
        *pass = vs.cosine >= c->d.min_cosine;
        break;
    default:
        row->mismatched += diff;
        *pass = diff == 0;
        break;
    }
    return NN_OK;
}

static void nn_target_check__row_init(const nn_target_check__ctx *c, uint32_t k, nn_target_check_row *row) {
    const nn_target_check__probe *pr = &c->probes[k];
    const nn_target_instr *I = &c->p->instrs[pr->instr];
    memset(row, 0, sizeof *row);
    row->tensor = c->p->slots[pr->slot].name;
    row->layer = I->name;
    row->op = I->op == NN_TARGET_OP_CPU ? c->p->nodes[I->node].op_type : nn_target_op_name(I->op);
    row->instr = pr->instr;
    row->cosine = 1;
    row->pass = 1;
}

/* Probes: per layer every arena output of every instruction; else the
   program's outputs (attributed to the instruction that writes them). */
static nn_status nn_target_check__probes(nn_target_check__ctx *c, int per_layer, nn_target_check_report *out,
                                         nn_diag *diag) {
    const nn_target_program *p = c->p;
    uint32_t i, j, cap = 0;
    for (i = 0; i < p->instr_count; i++) cap += p->instrs[i].out_count;
    c->probes = (nn_target_check__probe *)nn_alloc(&c->d.alloc, (cap ? cap : 1) * sizeof *c->probes);
    if (!c->probes) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_check", "out of memory");
    for (i = 0; i < c->g->tensor_count; i++) c->probe_of[i] = -1;
    c->probe_count = 0;
    for (i = 0; i < p->instr_count; i++) {
        const nn_target_instr *I = &p->instrs[i];
        for (j = 0; j < I->out_count; j++) {
            uint32_t s = p->operands[I->first_operand + I->in_count + j], o;
            nn_target_check__probe *pr;
            nn_tensor_id t;
            if (s == NN_TARGET_NO_SLOT || p->slots[s].region != NN_TARGET_REGION_ARENA) continue;
            for (o = 0; !per_layer && o < p->output_count; o++)
                if (p->outputs[o] == s) break;
            if (!per_layer && o == p->output_count) continue;
            t = nn_graph_find_tensor(c->g, p->slots[s].name);
            if (t.id == NN_INVALID_ID || (c->g->tensors[t.id].flags & NN_TENSOR_CONST)) { out->unmatched++; continue; }
            if (c->probe_of[t.id] >= 0) continue; /* written twice (in-place views): the first */
            if (c->d.skip && c->d.skip(c->d.skip_user, p->slots[s].name)) { out->skipped++; continue; }
            pr = &c->probes[c->probe_count];
            pr->instr = i;
            pr->slot = s;
            pr->t = t;
            pr->scale = 0;
            if (!nn_target_check__qparams(c->g, t, &pr->scale, &pr->zp)) pr->scale = 0;
            c->probe_of[t.id] = (int32_t)c->probe_count++;
        }
    }
    return NN_OK;
}

static void nn_target_check__free_refs(nn_target_check__ctx *c) {
    uint32_t k;
    for (k = 0; c->ref && k < c->probe_count; k++) {
        if (c->ref[k].data) nn_free(&c->d.alloc, c->ref[k].data);
        memset(&c->ref[k], 0, sizeof c->ref[k]);
    }
}

/* One sample: nn_qexec with the observer, then the simulator instruction by
   instruction, each probe compared right after its instruction (the arena
   reuses its bytes later).  rows (probe_count) accumulate; *first_fail is
   the first failing probe (-1), *first_diff the first not bit-equal. */
static nn_status nn_target_check__sample(nn_target_check__ctx *c, nn_qexec *qx, const nn_value *in, const uint32_t *qin,
                                         uint8_t *mem, size_t mb, nn_target_check_row *rows, int32_t *first_fail,
                                         int32_t *first_diff, nn_diag *diag) {
    const nn_target_program *p = c->p;
    nn_status st = NN_OK;
    uint32_t i, k = 0;
    *first_fail = *first_diff = -1;
    nn_target_check__free_refs(c);
    c->copy_status = NN_OK;
    for (i = 0; i < p->input_count && !st; i++) st = nn_qexec_set_input(qx, qin[i], &in[i], diag);
    if (!st) st = nn_qexec_run(qx, diag);
    if (c->copy_status) return nn_diag_set(diag, c->copy_status, "nn_target_check", "out of memory");
    if (st) return st;
    if ((st = nn_target_check__step(p, mem, mb, in, 0, 0, diag)) != NN_OK) return st; /* inputs into the arena */
    for (i = 0; i < p->instr_count && k < c->probe_count; i++) {
        if ((st = nn_target_check__step(p, mem, mb, in, i, 1, diag)) != NN_OK) return st;
        for (; k < c->probe_count && c->probes[k].instr == i; k++) {
            const nn_target_slot *s = &p->slots[c->probes[k].slot];
            nn_value got = nn_value_make(s->dtype, s->shape, mem + s->offset);
            int pass, same;
            got.bytes = (size_t)s->bytes;
            if (!c->ref[k].data) continue; /* nn_qexec did not produce it (skipped DQ) */
            if ((st = nn_target_check__compare(c, &c->probes[k], &c->ref[k], &got, &rows[k], &pass, &same)) != NN_OK)
                return nn_diag_set(diag, st, "nn_target_check", "out of memory");
            rows[k].pass &= pass;
            if (!pass && *first_fail < 0) *first_fail = (int32_t)k;
            if (!same && *first_diff < 0) *first_diff = (int32_t)k;
        }
    }
    return NN_OK;
}

NN_API nn_status nn_target_check(const nn_target_program *p, const nn_graph *qdq, const nn_value *inputs,
                                 uint32_t sample_count, const nn_target_check_desc *d, nn_target_check_report *out,
                                 nn_diag *diag) {
    nn_target_check__ctx c;
    nn_qexec_desc xd;
    nn_qexec *qx = NULL;
    uint32_t qin[NN_TARGET__MAX_IO > 64 ? NN_TARGET__MAX_IO : 64], i, k, s;
    size_t mb = nn_target_sim_scratch_bytes(p);
    uint8_t *raw = NULL, *mem;
    nn_status st = NN_OK;
    int pass_all = 1, locate_sample = -1;
    NN_ASSERT(p && qdq && out && (inputs || !p->input_count));
    memset(&c, 0, sizeof c);
    memset(out, 0, sizeof *out);
    if (d) c.d = *d;
    if (!c.d.level) c.d.level = NN_TARGET_CHECK_BITEQUAL;
    if (c.d.min_cosine == 0) c.d.min_cosine = 0.999;
    c.p = p;
    c.g = qdq;
    out->alloc = c.d.alloc;
    out->level = c.d.level;
    out->worst_cosine = 1;
    if (p->input_count > sizeof qin / sizeof qin[0]) return nn_diag_set(diag, NN_ERR_LIMIT, "nn_target_check", "too many inputs");
    for (i = 0; i < p->input_count; i++) {
        for (k = 0; k < qdq->input_count; k++)
            if (!strcmp(qdq->tensors[qdq->inputs[k].id].name, p->slots[p->inputs[i]].name)) break;
        if (k == qdq->input_count)
            return nn_diag_set(diag, NN_ERR_ARG, p->slots[p->inputs[i]].name, "the quantized model has no such input");
        qin[i] = k;
    }
    c.probe_of = (int32_t *)nn_alloc(&c.d.alloc, (qdq->tensor_count ? qdq->tensor_count : 1) * sizeof(int32_t));
    raw = (uint8_t *)nn_alloc(&c.d.alloc, mb + 64);
    if (!c.probe_of || !raw) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_check", "out of memory"); goto done; }
    mem = raw + (64 - (uintptr_t)raw % 64) % 64;
    if ((st = nn_target_check__probes(&c, c.d.per_layer, out, diag)) != NN_OK) goto done;
    if (!c.d.per_layer && c.probe_count == 0 && out->skipped == 0) {
        st = nn_diag_set(diag, NN_ERR_ARG, "nn_target_check", "no output of the program is an output of the quantized model");
        goto done;
    }
    c.ref = (nn_value *)nn_alloc(&c.d.alloc, (c.probe_count ? c.probe_count : 1) * sizeof *c.ref);
    out->rows = (nn_target_check_row *)nn_alloc(&c.d.alloc, (c.probe_count ? c.probe_count : 1) * sizeof *out->rows);
    if (!c.ref || !out->rows) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_check", "out of memory"); goto done; }
    memset(c.ref, 0, (c.probe_count ? c.probe_count : 1) * sizeof *c.ref);
    out->row_count = c.probe_count;
    for (k = 0; k < c.probe_count; k++) nn_target_check__row_init(&c, k, &out->rows[k]);
    memset(&xd, 0, sizeof xd);
    xd.alloc = c.d.alloc;
    xd.observer = nn_target_check__observe;
    xd.observer_user = &c;
    if ((st = nn_qexec_create(qdq, &xd, &qx, diag)) != NN_OK) goto done;
    for (s = 0; s < sample_count; s++) {
        int32_t ff, fd;
        st = nn_target_check__sample(&c, qx, inputs + (size_t)s * p->input_count, qin, mem, mb, out->rows, &ff, &fd, diag);
        if (st) goto done;
        out->samples++;
        if (ff >= 0 && pass_all) {
            pass_all = 0;
            locate_sample = (int)s;
            if (c.d.per_layer) { /* the first failing tensor is the first diverging layer */
                out->has_diverge = 1;
                out->diverge = out->rows[ff];
                out->diverge_sample = s;
            }
        }
    }
    for (k = 0; k < out->row_count; k++) {
        const nn_target_check_row *r = &out->rows[k];
        if (!(r->cosine >= out->worst_cosine)) out->worst_cosine = r->cosine;
        out->mismatched += r->mismatched;
        out->count += r->count;
    }
    out->pass = pass_all;
    if (!pass_all && !c.d.per_layer) { /* locate: every tensor of the first failing sample */
        nn_target_check_row *rows;
        int32_t ff, fd;
        nn_qexec_destroy(qx);
        qx = NULL;
        nn_target_check__free_refs(&c);
        nn_free(&c.d.alloc, c.probes);
        nn_free(&c.d.alloc, c.ref);
        c.probes = NULL;
        c.ref = NULL;
        {
            nn_target_check_report scratch_rep;
            memset(&scratch_rep, 0, sizeof scratch_rep);
            if ((st = nn_target_check__probes(&c, 1, &scratch_rep, diag)) != NN_OK) goto done;
        }
        c.ref = (nn_value *)nn_alloc(&c.d.alloc, (c.probe_count ? c.probe_count : 1) * sizeof *c.ref);
        rows = (nn_target_check_row *)nn_alloc(&c.d.alloc, (c.probe_count ? c.probe_count : 1) * sizeof *rows);
        if (!c.ref || !rows) {
            nn_free(&c.d.alloc, rows);
            st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_check", "out of memory");
            goto done;
        }
        memset(c.ref, 0, (c.probe_count ? c.probe_count : 1) * sizeof *c.ref);
        for (k = 0; k < c.probe_count; k++) nn_target_check__row_init(&c, k, &rows[k]);
        st = nn_qexec_create(qdq, &xd, &qx, diag);
        if (!st)
            st = nn_target_check__sample(&c, qx, inputs + (size_t)locate_sample * p->input_count, qin, mem, mb, rows, &ff,
                                         &fd, diag);
        if (!st && (ff >= 0 || fd >= 0)) {
            out->has_diverge = 1;
            out->diverge = rows[ff >= 0 ? ff : fd];
            out->diverge_sample = (uint32_t)locate_sample;
            out->diverge_by_bits = ff < 0;
        }
        nn_free(&c.d.alloc, rows);
    }
done:
    nn_qexec_destroy(qx);
    nn_target_check__free_refs(&c);
    nn_free(&c.d.alloc, c.ref);
    nn_free(&c.d.alloc, c.probes);
    nn_free(&c.d.alloc, c.probe_of);
    nn_free(&c.d.alloc, raw);
    if (st) nn_target_check_report_deinit(out);
    return st;
}

NN_API void nn_target_check_report_deinit(nn_target_check_report *r) {
    if (!r) return;
    nn_free(&r->alloc, r->rows);
    r->rows = NULL;
    r->row_count = 0;
}

#endif /* NN_TARGET_CHECK_IMPLEMENTATION_DONE */
#endif /* NN_IMPLEMENTATION */
