/* nnport build: the whole flow from one JSON config (config.h's table).

   nnport build --config CFG.json --input MODEL.onnx --output-dir OUT
                [--eval DIR] [--bundle] [--KEY.PATH VALUE]...

   Stages, each driven by the config and each compared with the float
   model's outputs on the evaluation samples:
     import    the model as given; its outputs are the reference
     optimize  optimize.template / optimize.passes (opset raised to 13
               first), gate optimize.tolerance [min cosine, max err/peak]
     quantize  from the optimize pass list without act/attention (their
               fused ops stay float in QDQ); quant.cle, quant.smooth_quant,
               calibration on
               quant.calibration_data, quant.overrides / fpfwd_* as a
               quantize table, nn_quant_graph, fake-quant executor with
               integer kernels; gate quant.tolerance [min cosine]
     compile   nn_target_compile for target.preset / target.file, the
               simulator on the evaluation samples (compile.check:
               cosine / allclose / bitequal against the fake-quant executor)
   Writes OUT/config.resolved.json, OUT/optimized.onnx, OUT/quantized.onnx,
   OUT/model.nnb, OUT/record.json, OUT/report.html and, with --bundle (or
   output.bundle), OUT/bundle/{float,optimized,quantized}/ in the ONNX
   backend-test layout.  Every file goes to a .part name first.  A failed
   gate prints the per-layer table and exits 1; a bad config exits 1 naming
   the key. */
#define _XOPEN_SOURCE 700 /* nftw, strtok_r */
#include "cli.h"
#include "config.h"
#include "bundle.h"
#include "plan.h"
#include "nn_calib.h"
#include "nn_quant.h"
#include "nn_target.h"
#include <errno.h>
#include <regex.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUILD_MAX_EVAL 16     /* evaluation samples compared per stage */
#define BUILD_MAX_IO 64       /* model inputs / outputs */
#define BUILD_MAX_STAGES 8
#define BUILD_MAX_SMOOTH 32   /* calibration samples held for SmoothQuant */
#define BUILD_HIST_BINS 128   /* histogram bins in the record */

typedef struct build_stage {
    char name[32];
    double ms, cos, bytes, arena, latency; /* < 0: unknown */
} build_stage;

typedef struct build_ctx {
    const char *model, *out, *eval_dir, *calib_dir;
    const char *calib_folders[BUILD_MAX_IO]; /* quant.calibration_inputs by input; NULL: calib_dir/<name> */
    int have_calib_folders;
    cJSON *cfg;
    nn_input_shape shapes[BUILD_MAX_IO];
    uint32_t shape_count, nin, nout;
    nn_value eval[BUILD_MAX_EVAL][BUILD_MAX_IO]; /* owned copies */
    nn_value ref[BUILD_MAX_EVAL][BUILD_MAX_IO];  /* float model outputs */
    uint32_t eval_count;
    int tty, have_target;
    plan_target_file tf;
    cJSON *record, *stages_json;
    build_stage stages[BUILD_MAX_STAGES];
    int stage_count;
} build_ctx;

/* ---- small helpers ---- */

static const char *cfg_s(const build_ctx *b, const char *path) {
    const cJSON *v = cfg_get(b->cfg, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static double cfg_n(const build_ctx *b, const char *path, double def) {
    const cJSON *v = cfg_get(b->cfg, path);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}
static int cfg_b(const build_ctx *b, const char *path) { return cJSON_IsTrue(cfg_get(b->cfg, path)); }
static double cfg_at(const build_ctx *b, const char *path, int i, double def) {
    const cJSON *v = cJSON_GetArrayItem(cfg_get(b->cfg, path), i);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* Progress on stderr: one redrawn line on a terminal, plain lines in a log. */
static void progress(const build_ctx *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (b->tty) fputs("\r\033[K", stderr);
    vfprintf(stderr, fmt, ap);
    if (!b->tty) fputc('\n', stderr);
    fflush(stderr);
    va_end(ap);
}
/* A per-sample tick: redrawn on a terminal, left out of a log. */
static void progress_tick(const build_ctx *b, const char *stage, const char *what, uint32_t k, uint32_t n) {
    if (b->tty) progress(b, "%s: %s %u/%u", stage, what, k, n);
}
static void progress_end(const build_ctx *b) {
    if (b->tty) fputs("\r\033[K", stderr);
}

static int build_die(const build_ctx *b, const char *what, const nn_diag *d) {
    progress_end(b);
    int same = !strcmp(what, d->where); /* a dataset error names the folder already */
    fprintf(stderr, "nnport build: %s: %s%s%s\n", what, same ? "" : d->where, d->where[0] && !same ? ": " : "",
            d->message);
    return CLI_EXIT_FAIL;
}

static void out_path(const build_ctx *b, const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", b->out, name);
}

/* Renames path.part to path; 0 (after printing) on failure. */
/* path.part, written by path (an ONNX save), renamed into place. */
static int commit_part(const char *path) {
    char part[4200];
    snprintf(part, sizeof part, "%s.part", path);
    return cli_part_commit(NULL, part, path, 1);
}

static int write_text(const char *path, const char *text) {
    char part[4200];
    FILE *f = text ? cli_part_open(path, part, sizeof part) : NULL;
    return f && cli_part_commit(f, part, path, fputs(text, f) >= 0 && fputc('\n', f) != EOF);
}

static int save_onnx(const build_ctx *b, const nn_graph *g, const char *path) {
    char part[4200];
    nn_diag d = {0};
    snprintf(part, sizeof part, "%s.part", path);
    if (nn_onnx_save_file(g, part, NULL, &d)) { remove(part); build_die(b, part, &d); return 0; }
    return commit_part(path);
}

static double file_bytes(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size : -1;
}

static nn_value copy_value(const nn_value *v) {
    nn_value c = *v;
    c.data = malloc(v->bytes ? v->bytes : 1);
    if (c.data) memcpy(c.data, v->data, v->bytes);
    return c;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

/* ---- the evaluation samples and the comparisons ---- */

/* The dataset description from the config's preprocess.* keys (images). */
static void dataset_desc(const build_ctx *b, const char *dir, uint32_t max, nn_calib_dataset_desc *dd) {
    memset(dd, 0, sizeof *dd);
    dd->path = dir;
    dd->max_samples = max;
    nn_calib_image_desc *im = &dd->image;
    const cJSON *rs = cfg_get(b->cfg, "preprocess.resize");
    if (cJSON_GetArraySize(rs) == 2) {
        im->height = (uint32_t)cfg_at(b, "preprocess.resize", 0, 0);
        im->width = (uint32_t)cfg_at(b, "preprocess.resize", 1, 0);
        im->resize = cfg_b(b, "preprocess.keep_ratio") ? NN_CALIB_RESIZE_FIT_PAD : NN_CALIB_RESIZE_STRETCH;
    }
    if (cJSON_GetArraySize(cfg_get(b->cfg, "preprocess.crop")) == 2) {
        im->resize_short = im->height < im->width ? im->height : im->width;
        im->height = (uint32_t)cfg_at(b, "preprocess.crop", 0, 0);
        im->width = (uint32_t)cfg_at(b, "preprocess.crop", 1, 0);
        im->resize = NN_CALIB_RESIZE_SHORT_CROP;
    }
    for (int c = 0; c < 4; c++) {
        im->mean[c] = (float)cfg_at(b, "preprocess.mean", c, cfg_at(b, "preprocess.mean", 0, 0));
        im->scale[c] = (float)(1.0 / cfg_at(b, "preprocess.std", c, cfg_at(b, "preprocess.std", 0, 1)));
    }
    const char *color = cfg_s(b, "preprocess.color"), *layout = cfg_s(b, "preprocess.layout");
    im->bgr = color && !strcasecmp(color, "bgr");
    im->layout = layout && !strcasecmp(layout, "nhwc") ? NN_CALIB_LAYOUT_NHWC : NN_CALIB_LAYOUT_NCHW;
    im->pad_value = (float)cfg_n(b, "preprocess.pad_value", 0);
    dd->raw_shapes = b->shapes;
    dd->raw_shape_count = b->shape_count;
    if (b->have_calib_folders && dir == b->calib_dir) dd->input_folders = b->calib_folders;
}

/* quant.calibration_inputs.NAME: NAME must be an input of g; without
   quant.calibration_data every input needs one. */
static int calib_folders(build_ctx *b, const nn_graph *g) {
    const cJSON *ci = cfg_get(b->cfg, "quant.calibration_inputs"), *e;
    cJSON_ArrayForEach(e, ci) {
        uint32_t i;
        for (i = 0; i < g->input_count; i++)
            if (!strcmp(g->tensors[g->inputs[i].id].name, e->string)) break;
        if (i == g->input_count) {
            fprintf(stderr, "nnport build: quant.calibration_inputs.%s: the model has no input '%s' (inputs:", e->string,
                    e->string);
            for (i = 0; i < g->input_count; i++) fprintf(stderr, " %s", g->tensors[g->inputs[i].id].name);
            fprintf(stderr, ")\n");
            return CLI_EXIT_FAIL;
        }
        b->calib_folders[i] = e->valuestring;
        b->have_calib_folders = 1;
    }
    for (uint32_t i = 0; i < g->input_count && !cfg_s(b, "quant.calibration_data"); i++)
        if (!b->calib_folders[i]) {
            fprintf(stderr, "nnport build: quant.calibration_inputs: no folder for input '%s' (give quant.calibration_data"
                            " or quant.calibration_inputs.%s)\n", g->tensors[g->inputs[i].id].name, g->tensors[g->inputs[i].id].name);
            return CLI_EXIT_FAIL;
        }
    return CLI_EXIT_OK;
}

static int load_eval(build_ctx *b, const nn_graph *g) {
    nn_calib_dataset_desc dd;
    nn_calib_dataset *ds = NULL;
    nn_diag d = {0};
    dataset_desc(b, b->eval_dir, BUILD_MAX_EVAL, &dd);
    if (nn_calib_dataset_open(&dd, g, &ds, &d)) return build_die(b, b->eval_dir, &d);
    b->eval_count = nn_calib_dataset_count(ds);
    for (uint32_t s = 0; s < b->eval_count; s++) {
        nn_value v[BUILD_MAX_IO];
        if (nn_calib_dataset_load(ds, s, v, &d)) { nn_calib_dataset_destroy(ds); return build_die(b, b->eval_dir, &d); }
        for (uint32_t i = 0; i < b->nin; i++) b->eval[s][i] = copy_value(&v[i]);
    }
    nn_calib_dataset_destroy(ds);
    return CLI_EXIT_OK;
}

/* Runs g on every evaluation sample (the float executor; a QDQ graph with
   the fake-quant executor's integer kernels); fill_ref stores the outputs
   as the reference, otherwise they are compared with it. */
static int run_eval(build_ctx *b, const nn_graph *g, const char *stage, int fill_ref, cli_agreement *a) {
    nn_diag d = {0};
    nn_exec *x = NULL;
    nn_qexec *q = NULL;
    int qdq = nn_quant_graph_is_qdq(g);
    nn_exec_desc xd = {.input_shapes = b->shapes, .input_shape_count = b->shape_count};
    nn_status st = qdq ? nn_qexec_create(g, NULL, &q, &d) : nn_exec_create(g, &xd, &x, &d);
    cli_agreement_reset(a);
    for (uint32_t s = 0; !st && s < b->eval_count; s++) {
        progress_tick(b, stage, "sample", s + 1, b->eval_count);
        for (uint32_t i = 0; !st && i < b->nin; i++)
            st = qdq ? nn_qexec_set_input(q, i, &b->eval[s][i], &d) : nn_exec_set_input(x, i, &b->eval[s][i], &d);
        if (!st) st = qdq ? nn_qexec_run(q, &d) : nn_exec_run(x, &d);
        for (uint32_t o = 0; !st && o < b->nout; o++) {
            const nn_value *v = qdq ? nn_qexec_output(q, o) : nn_exec_output(x, o);
            if (fill_ref) b->ref[s][o] = copy_value(v);
            else cli_agree(a, &b->ref[s][o], v);
        }
    }
    nn_exec_destroy(x);
    nn_qexec_destroy(q);
    return st ? build_die(b, stage, &d) : CLI_EXIT_OK;
}

/* Arena bytes and estimated latency of g on the target (-1 when the
   planner cannot take it, e.g. a dynamic shape). */
static void plan_figures(const build_ctx *b, const nn_graph *g, double *arena, double *latency) {
    nn_target_memory_plan mp;
    nn_target_group_plan gp;
    nn_target_memory_desc md;
    nn_target_group_desc gd;
    nn_diag d = {0};
    memset(&mp, 0, sizeof mp);
    memset(&gp, 0, sizeof gp);
    memset(&md, 0, sizeof md);
    memset(&gd, 0, sizeof gd);
    *arena = *latency = -1;
    if (nn_target_plan_memory(g, &md, &mp, &d) == NN_OK) *arena = (double)mp.arena_bytes;
    nn_target_memory_plan_deinit(&mp);
    memset(&d, 0, sizeof d);
    if (b->have_target && nn_target_plan_groups(g, &b->tf.desc, &gd, &gp, &d) == NN_OK) *latency = gp.latency_ms;
    nn_target_group_plan_deinit(&gp);
}

static void add_stage(build_ctx *b, const char *name, double ms, double cos, double bytes, double arena,
                      double latency) {
    if (b->stage_count < BUILD_MAX_STAGES) {
        build_stage *s = &b->stages[b->stage_count++];
        snprintf(s->name, sizeof s->name, "%s", name);
        s->ms = ms; s->cos = cos; s->bytes = bytes; s->arena = arena; s->latency = latency;
    }
    cJSON *row = cJSON_CreateObject();
    cJSON_AddStringToObject(row, "stage", name);
    cJSON_AddNumberToObject(row, "time_ms", ms);
    if (cos > -2) cJSON_AddNumberToObject(row, "cos", cos);
    if (bytes >= 0) cJSON_AddNumberToObject(row, "size_bytes", bytes);
    if (arena >= 0) cJSON_AddNumberToObject(row, "arena_bytes", arena);
    if (latency >= 0) cJSON_AddNumberToObject(row, "latency_ms", latency);
    cJSON_AddItemToArray(b->stages_json, row);
}

static void print_summary(const build_ctx *b) {
    printf("\n%-10s %10s %12s %12s %12s %12s\n", "stage", "time ms", "cosine", "model bytes", "arena bytes",
           "latency ms");
    for (int i = 0; i < b->stage_count; i++) {
        const build_stage *s = &b->stages[i];
        char c[32] = "-", by[32] = "-", ar[32] = "-", la[32] = "-";
        if (s->cos > -2) snprintf(c, sizeof c, "%.6f", s->cos);
        if (s->bytes >= 0) snprintf(by, sizeof by, "%.0f", s->bytes);
        if (s->arena >= 0) snprintf(ar, sizeof ar, "%.0f", s->arena);
        if (s->latency >= 0) snprintf(la, sizeof la, "%.3f", s->latency);
        printf("%-10s %10.0f %12s %12s %12s %12s\n", s->name, s->ms, c, by, ar, la);
    }
}

/* ---- quantize ---- */

/* quant.overrides[] and quant.fpfwd_* as quantize-table rules. */
static int build_table(const build_ctx *b, const nn_graph *g, nn_quant_table *t) {
    nn_diag d = {0};
    nn_status st = NN_OK;
    const cJSON *ov = cfg_get(b->cfg, "quant.overrides");
    for (const cJSON *r = ov ? ov->child : NULL; r && !st; r = r->next) {
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(r, "dtype"), *ly = cJSON_GetObjectItemCaseSensitive(r, "layer"),
                    *op = cJSON_GetObjectItemCaseSensitive(r, "op_type"), *s0 = cJSON_GetObjectItemCaseSensitive(r, "start"),
                    *s1 = cJSON_GetObjectItemCaseSensitive(r, "end");
        nn_quant_dtype qd = cJSON_IsString(dt) ? nn_quant_dtype_parse(dt->valuestring, strlen(dt->valuestring)) : 0;
        if (!qd) { fprintf(stderr, "nnport build: quant.overrides[].dtype: required\n"); return CLI_EXIT_FAIL; }
        if (cJSON_IsString(ly)) st = nn_quant_table_add(t, NN_QUANT_RULE_LAYER, ly->valuestring, NULL, qd, &d);
        else if (cJSON_IsString(op)) st = nn_quant_table_add(t, NN_QUANT_RULE_TYPE, op->valuestring, NULL, qd, &d);
        else if (cJSON_IsString(s0) && cJSON_IsString(s1))
            st = nn_quant_table_add(t, NN_QUANT_RULE_RANGE, s0->valuestring, s1->valuestring, qd, &d);
        else { fprintf(stderr, "nnport build: quant.overrides[]: give layer, op_type, or start and end\n"); return CLI_EXIT_FAIL; }
    }
    /* TPU-MLIR's fp_forward lists as float ranges: inputs -> layer,
       layer -> outputs, start:end (tensor names), in quant.float_dtype
       (TPU-MLIR's fp_type) */
    const char *fts = cfg_s(b, "quant.float_dtype");
    nn_quant_dtype fdt = fts ? nn_quant_dtype_parse(fts, strlen(fts)) : NN_QUANT_DTYPE_F32;
    if (!fdt) fdt = NN_QUANT_DTYPE_F32;
    const cJSON *fi = cfg_get(b->cfg, "quant.fpfwd_inputs"), *fo = cfg_get(b->cfg, "quant.fpfwd_outputs"),
                *fb = cfg_get(b->cfg, "quant.fpfwd_blocks");
    for (const cJSON *e = fi ? fi->child : NULL; e && !st; e = e->next)
        for (uint32_t i = 0; i < g->input_count && !st; i++)
            st = nn_quant_table_add(t, NN_QUANT_RULE_RANGE, g->tensors[g->inputs[i].id].name, e->valuestring, fdt, &d);
    for (const cJSON *e = fo ? fo->child : NULL; e && !st; e = e->next)
        for (uint32_t i = 0; i < g->output_count && !st; i++)
            st = nn_quant_table_add(t, NN_QUANT_RULE_RANGE, e->valuestring, g->tensors[g->outputs[i].id].name, fdt, &d);
    for (const cJSON *e = fb ? fb->child : NULL; e && !st; e = e->next) {
        char buf[1024], *colon;
        snprintf(buf, sizeof buf, "%s", e->valuestring);
        if (!(colon = strchr(buf, ':'))) { fprintf(stderr, "nnport build: quant.fpfwd_blocks: \"%s\" is not start:end\n", buf); return CLI_EXIT_FAIL; }
        *colon = 0;
        st = nn_quant_table_add(t, NN_QUANT_RULE_RANGE, buf, colon + 1, fdt, &d);
    }
    return st ? build_die(b, "quant.overrides", &d) : CLI_EXIT_OK;
}

static void quant_log(void *user, const char *message) {
    (void)user;
    fprintf(stderr, "nnport build: quantize: %s\n", message);
}

/* Histograms of a few tensors with every calibrator's threshold. */
static void add_histograms(build_ctx *b, const nn_graph *g, const nn_calib_collector *col) {
    cJSON *arr = cJSON_AddArrayToObject(b->record, "histograms");
    uint32_t picks[4], np = 0;
    if (g->input_count) picks[np++] = g->inputs[0].id;
    for (int k = 1; k <= 3 && g->node_count; k++) {
        const nn_node *n = &g->nodes[(uint32_t)((uint64_t)g->node_count * (uint64_t)k / 4)];
        if (n->output_count) picks[np++] = n->outputs[0].id;
    }
    for (uint32_t p = 0; p < np; p++) {
        const nn_calib_observer *o = nn_calib_collector_get(col, (nn_tensor_id){picks[p]});
        if (!o || o->bin_width <= 0 || o->bins % BUILD_HIST_BINS) continue;
        uint32_t f = o->bins / BUILD_HIST_BINS;
        cJSON *h = cJSON_CreateObject(), *counts = cJSON_CreateArray(), *th = cJSON_CreateObject();
        cJSON_AddStringToObject(h, "tensor", g->tensors[picks[p]].name);
        cJSON_AddNumberToObject(h, "bin_width", o->bin_width * f);
        for (uint32_t i = 0; i < BUILD_HIST_BINS; i++) {
            double c = 0;
            for (uint32_t j = 0; j < f; j++) c += (double)o->hist[i * f + j];
            cJSON_AddItemToArray(counts, cJSON_CreateNumber(c));
        }
        for (int m = NN_CALIB_MINMAX; m <= NN_CALIB_OCTAV; m++) {
            nn_calib_desc cd = {.method = (nn_calib_method)m};
            nn_calib_result r;
            nn_diag d = {0};
            if (nn_calib_compute(o, &cd, &r, &d) == NN_OK)
                cJSON_AddNumberToObject(th, nn_calib_method_name((nn_calib_method)m), r.threshold);
        }
        cJSON_AddItemToObject(h, "counts", counts);
        cJSON_AddItemToObject(h, "thresholds", th);
        cJSON_AddItemToArray(arr, h);
    }
}

/* CLE and SmoothQuant on the float graph, then calibration: every
   calibration sample through g with a collector; ranges by the method. */
static int calibrate(build_ctx *b, nn_graph *g, nn_quant_range *ranges) {
    nn_diag d = {0};
    uint32_t max = (uint32_t)cfg_n(b, "quant.calibration_samples", 32);
    if (cfg_b(b, "quant.cle")) {
        nn_quant_cle_desc cd;
        nn_quant_cle_stats cs;
        memset(&cd, 0, sizeof cd);
        if (nn_quant_equalize(g, &cd, &cs, &d)) return build_die(b, "quant.cle", &d);
        progress(b, "quantize: cross-layer equalization: %u pairs in %u rounds", cs.pairs, cs.rounds);
    }
    nn_calib_dataset_desc dd;
    nn_calib_dataset *ds = NULL;
    dataset_desc(b, b->calib_dir, max, &dd);
    if (nn_calib_dataset_open(&dd, g, &ds, &d)) return build_die(b, b->calib_dir, &d);
    uint32_t n = nn_calib_dataset_count(ds);
    if (cfg_b(b, "quant.check_calibration")) {
        nn_calib_report rep;
        if (nn_calib_check(g, ds, NULL, &rep, &d) == NN_OK) {
            for (uint32_t i = 0; i < rep.finding_count; i++)
                if (rep.findings[i].severity >= NN_CALIB_WARN) {
                    progress_end(b);
                    fprintf(stderr, "nnport build: calibration set: %s: %s\n",
                            nn_calib_severity_name(rep.findings[i].severity), rep.findings[i].message);
                }
        }
        memset(&d, 0, sizeof d);
    }
    nn_status st = NN_OK;
    if (cfg_b(b, "quant.smooth_quant")) {
        uint32_t k = n < BUILD_MAX_SMOOTH ? n : BUILD_MAX_SMOOTH;
        nn_value *held = (nn_value *)calloc((size_t)k * b->nin + 1, sizeof *held);
        nn_quant_smooth_stats ss;
        nn_quant_smooth_desc sd;
        nn_quant_smooth_report sr;
        nn_exec_desc xd = {.input_shapes = b->shapes, .input_shape_count = b->shape_count};
        memset(&sd, 0, sizeof sd);
        sd.alpha = cfg_n(b, "quant.smooth_quant_alpha", 0.5);
        if (sd.alpha == 0) sd.alpha = -1; /* the desc's 0 means 0.5; the config's 0 means 0 */
        st = held ? nn_quant_smooth_stats_init(&ss, g, NULL, &d) : nn_diag_set(&d, NN_ERR_NOMEM, "smooth_quant", "out of memory");
        for (uint32_t s = 0; !st && s < k; s++) {
            nn_value v[BUILD_MAX_IO];
            st = nn_calib_dataset_load(ds, s, v, &d);
            for (uint32_t i = 0; !st && i < b->nin; i++) held[s * b->nin + i] = copy_value(&v[i]);
        }
        if (!st) st = nn_quant_smooth_stats_collect(&ss, held, k, &xd, &d);
        if (!st) st = nn_quant_smooth(g, &ss, &sd, &sr, &d);
        if (held) nn_quant_smooth_stats_deinit(&ss);
        for (uint32_t s = 0; held && s < k * b->nin; s++) free(held[s].data);
        free(held);
        if (st) { nn_calib_dataset_destroy(ds); return build_die(b, "quant.smooth_quant", &d); }
        progress(b, "quantize: SmoothQuant: %u of %u activations smoothed", sr.smoothed, sr.candidates);
    }
    nn_calib_collector *col = NULL;
    nn_exec *x = NULL;
    nn_calib_collector_desc cd = {.bins = (uint32_t)cfg_n(b, "quant.bins", 2048)};
    st = nn_calib_collector_create(g, &cd, &col, &d);
    nn_exec_desc xd = {.observer = nn_calib_collector_exec_observer, .observer_user = col,
                       .input_shapes = b->shapes, .input_shape_count = b->shape_count};
    if (!st) st = nn_exec_create(g, &xd, &x, &d);
    for (uint32_t s = 0; !st && s < n; s++) {
        nn_value v[BUILD_MAX_IO];
        progress_tick(b, "quantize", "calibrating", s + 1, n);
        st = nn_calib_dataset_load(ds, s, v, &d);
        for (uint32_t i = 0; !st && i < b->nin; i++) {
            st = nn_exec_set_input(x, i, &v[i], &d);
            if (!st) st = nn_calib_collector_observe(col, g->inputs[i], &v[i], &d);
        }
        if (!st) st = nn_exec_run(x, &d);
    }
    /* quant.calibration_method's choices are nn_calib_method in order, from MinMax = 1. */
    static const char *const methods[] = {"MinMax", "Percentile", "MSE", "KL", "ACIQ_Gauss", "ACIQ_Laplace", "OCTAV", "Auto"};
    const char *mname = cfg_s(b, "quant.calibration_method");
    nn_calib_desc rule = {.method = NN_CALIB_KL, .percentile = cfg_n(b, "quant.percentile", 99.99)};
    for (int m = 0; m < 8; m++)
        if (mname && !strcasecmp(mname, methods[m])) rule.method = (nn_calib_method)(m + 1);
    const char *act = cfg_s(b, "quant.activation");
    if (act && !strcasecmp(act, "s16")) rule.bits = 16;
    if (!st) st = nn_quant_ranges_from_collector(g, col, &rule, ranges, &d);
    if (!st) add_histograms(b, g, col);
    nn_exec_destroy(x);
    nn_calib_collector_destroy(col);
    nn_calib_dataset_destroy(ds);
    return st ? build_die(b, b->calib_dir, &d) : CLI_EXIT_OK;
}

/* The first min(eval_count, 4) evaluation samples as one input array
   (borrowed values; free the array): what the analysis, the search and
   the softmax measurement run on.  NULL when out of memory. */
static nn_value *eval_batch(const build_ctx *b, uint32_t *count) {
    nn_value *in;
    *count = b->eval_count < 4 ? b->eval_count : 4;
    in = (nn_value *)calloc((size_t)*count * b->nin + 1, sizeof *in);
    for (uint32_t s = 0; in && s < *count; s++)
        for (uint32_t i = 0; i < b->nin; i++) in[s * b->nin + i] = b->eval[s][i];
    return in;
}

/* The per-layer table (nn_quant_analyze) into the record, and printed
   (the ten worst layers with their ONNX names) when print is set. */
static void analyze_layers(build_ctx *b, const nn_graph *g, const nn_graph *q, int print) {
    nn_quant_layer_report *rows = (nn_quant_layer_report *)calloc(g->tensor_count + 1, sizeof *rows);
    uint32_t n = 0, count;
    nn_value *in = eval_batch(b, &count);
    nn_quant_eval_desc ed = {.int_kernels = 1, .input_shapes = b->shapes, .input_shape_count = b->shape_count};
    nn_diag d = {0};
    progress(b, "quantize: per-layer analysis on %u samples", count);
    if (!rows || !in || nn_quant_analyze(g, q, in, count, &ed, rows, &n, &d)) {
        if (d.status) build_die(b, "per-layer analysis", &d);
        free(rows);
        free(in);
        return;
    }
    progress_end(b);
    cJSON *arr = cJSON_AddArrayToObject(b->record, "layers");
    for (uint32_t i = 0; i < n; i++) {
        const nn_node *nd = &g->nodes[rows[i].node];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", g->tensors[rows[i].tensor].name);
        cJSON_AddStringToObject(o, "origin", nd->origin ? nd->origin : nd->name ? nd->name : "");
        cJSON_AddStringToObject(o, "op", nd->op_type);
        cJSON_AddNumberToObject(o, "cos", rows[i].cosine);
        cJSON_AddNumberToObject(o, "sqnr", rows[i].sqnr_db > 998 ? 999 : rows[i].sqnr_db);
        cJSON_AddItemToArray(arr, o);
    }
    if (print) {
        char what[48];
        snprintf(what, sizeof what, ", %u samples", count);
        cli_print_layer_rows(g, rows, n, what);
    }
    free(rows);
    free(in);
}

/* ---- compile ---- */

/* compile.check: the simulator against the fake-quant executor on the
   evaluation samples through nn_target_check (nn_target.h):
   level compile.check (allclose: compile.check_rtol/atol on real values;
   cosine: compile.check_cos), per output or, with compile.check_per_layer,
   every tensor both runs produce; compile.check_skip: POSIX extended
   regexes of tensor names left out.  Prints the verdict and, on a failure,
   the first layer that diverges; fills record.json's "check".  Returns 1
   when the check passes. */
static int check_skip_fn(void *user, const char *name) {
    const cJSON *list = (const cJSON *)user, *e;
    cJSON_ArrayForEach(e, list) {
        regex_t re;
        int hit;
        if (!cJSON_IsString(e) || regcomp(&re, e->valuestring, REG_EXTENDED | REG_NOSUB) != 0) continue;
        hit = regexec(&re, name, 0, NULL, 0) == 0;
        regfree(&re);
        if (hit) return 1;
    }
    return 0;
}

static int compile_check(build_ctx *b, const nn_target_program *p, const nn_graph *q, const char *level,
                         const nn_value *frames, const nn_value *planes, nn_diag *d) {
    nn_target_check_desc cd;
    nn_target_check_report rep;
    const cJSON *skip = cfg_get(b->cfg, "compile.check_skip"), *e;
    uint32_t ni = p->input_count;
    nn_value *in = (nn_value *)calloc((size_t)b->eval_count * (ni ? ni : 1), sizeof *in);
    nn_value *qin = frames ? (nn_value *)calloc((size_t)b->eval_count * (ni ? ni : 1), sizeof *qin) : NULL;
    memset(&cd, 0, sizeof cd);
    memset(&rep, 0, sizeof rep);
    if (!in || (frames && !qin)) { free(in); free(qin); nn_diag_set(d, NN_ERR_NOMEM, "compile.check", "out of memory"); return -1; }
    cJSON_ArrayForEach(e, skip) { /* a bad pattern is a config error, named */
        regex_t re;
        if (cJSON_IsString(e) && regcomp(&re, e->valuestring, REG_EXTENDED | REG_NOSUB) == 0) { regfree(&re); continue; }
        free(in);
        free(qin);
        nn_diag_set(d, NN_ERR_ARG, "compile.check_skip", "'%s' is not a POSIX extended regex", cJSON_IsString(e) ? e->valuestring : "?");
        return -1;
    }
    for (uint32_t i = 0; i < ni; i++) { /* program input i is the model input of the same name */
        uint32_t k;
        for (k = 0; k < q->input_count && k < b->nin; k++)
            if (!strcmp(q->tensors[q->inputs[k].id].name, p->slots[p->inputs[i]].name)) break;
        if (k == q->input_count || k == b->nin) {
            free(in);
            free(qin);
            nn_diag_set(d, NN_ERR_ARG, p->slots[p->inputs[i]].name, "no such model input");
            return -1;
        }
        for (uint32_t s = 0; s < b->eval_count; s++) {
            /* a YUV program's input 0 is the frame; the quantized model gets
               the planes the program converts it to */
            in[(size_t)s * ni + i] = frames && k == 0 ? frames[s] : b->eval[s][k];
            if (qin) qin[(size_t)s * ni + i] = k == 0 ? planes[s] : b->eval[s][k];
        }
    }
    cd.model_inputs = qin;
    nn_target_check_level_find(level, &cd.level);
    cd.per_layer = cfg_b(b, "compile.check_per_layer");
    cd.rtol = cfg_n(b, "compile.check_rtol", 0);
    cd.atol = cfg_n(b, "compile.check_atol", 0);
    cd.min_cosine = cfg_n(b, "compile.check_cos", 0.999);
    if (cJSON_GetArraySize(skip) > 0) { cd.skip = check_skip_fn; cd.skip_user = (void *)(uintptr_t)skip; }
    nn_status st = nn_target_check(p, q, in, b->eval_count, &cd, &rep, d);
    free(in);
    free(qin);
    if (st) return -1;
    printf("compile    check %s against the quantized model: %s (%s, %u tensors, worst cosine %.6f, %llu of %llu values %s)\n",
           level, rep.pass ? "ok" : "FAIL", cd.per_layer ? "per layer" : "per output", rep.row_count, rep.worst_cosine,
           (unsigned long long)rep.mismatched, (unsigned long long)rep.count,
           cd.level == NN_TARGET_CHECK_ALLCLOSE ? "outside" : "not bit-equal");
    if (rep.has_diverge)
        printf("compile    first layer that diverges: %s (%s, tensor %s, sample %u, cosine %.6f)\n", rep.diverge.layer,
               rep.diverge.op, rep.diverge.tensor, rep.diverge_sample, rep.diverge.cosine);
    cJSON *c = cJSON_AddObjectToObject(b->record, "check");
    cJSON_AddStringToObject(c, "level", level);
    cJSON_AddBoolToObject(c, "per_layer", cd.per_layer);
    cJSON_AddBoolToObject(c, "pass", rep.pass);
    cJSON_AddNumberToObject(c, "tensors", rep.row_count);
    cJSON_AddNumberToObject(c, "skipped", rep.skipped);
    cJSON_AddNumberToObject(c, "worst_cosine", rep.worst_cosine);
    cJSON_AddNumberToObject(c, "mismatched", (double)rep.mismatched);
    cJSON_AddNumberToObject(c, "values", (double)rep.count);
    if (rep.has_diverge) {
        cJSON_AddStringToObject(c, "first_diverging_layer", rep.diverge.layer);
        cJSON_AddStringToObject(c, "first_diverging_tensor", rep.diverge.tensor);
    }
    int ok = rep.pass;
    nn_target_check_report_deinit(&rep);
    return ok;
}

static int nnb_write(void *user, const char *text, size_t bytes) {
    return fwrite(text, 1, bytes, (FILE *)user) != bytes;
}

/* Lowers q for the target, writes OUT/model.nnb, runs the simulator on the
   evaluation samples.  Not available (printed, build goes on) when the
   lowering refuses the model. */
static int compile_stage(build_ctx *b, const nn_graph *q) {
    double t0 = cli_now_ms();
    nn_diag d = {0};
    nn_target_program *p = NULL;
    nn_target_compile_desc cd;
    uint32_t batches[NN_MAX_TARGET_PROGRAMS];
    memset(&cd, 0, sizeof cd);
    /* compile.batch_sizes / compile.max_batch: one program per batch size,
       the weights stored once (docs/TARGET.md "Multi-batch") */
    int nb = cJSON_GetArraySize(cfg_get(b->cfg, "compile.batch_sizes"));
    for (int k = 0; k < nb && k < NN_MAX_TARGET_PROGRAMS; k++) {
        double v = cfg_at(b, "compile.batch_sizes", k, 1);
        if (v > 1) batches[cd.batch_size_count++] = (uint32_t)v;
    }
    if (cd.batch_size_count) cd.batch_sizes = batches;
    cd.max_batch = (uint32_t)cfg_n(b, "compile.max_batch", 0);
    /* compile.input_format: YUV420SP frames in, preprocess.* folded into
       the conversion table (docs/TARGET.md "NV12 input") */
    const char *fmt = cfg_s(b, "compile.input_format"), *rg = cfg_s(b, "compile.input_range");
    int yuv = fmt && (!strcmp(fmt, "nv12") || !strcmp(fmt, "nv21"));
    if (yuv) { /* the images' own preprocessing (dataset_desc) */
        nn_calib_dataset_desc pre;
        dataset_desc(b, b->calib_dir, 0, &pre);
        cd.input_format = !strcmp(fmt, "nv21") ? NN_TARGET_INPUT_NV21 : NN_TARGET_INPUT_NV12;
        cd.input_limited = rg && !strcmp(rg, "limited");
        cd.input_bgr = (uint32_t)pre.image.bgr;
        for (int c = 0; c < 3; c++) {
            cd.input_mean[c] = pre.image.mean[c];
            cd.input_scale[c] = pre.image.scale[c];
        }
    }
    progress(b, "compile: lowering for %s", b->tf.desc.name ? b->tf.desc.name : "the target");
    if (!b->have_target || nn_target_compile(q, &b->tf.desc, &cd, &p, &d)) {
        progress_end(b);
        if (yuv && b->have_target) return build_die(b, "compile.input_format", &d); /* asked for: an error */
        printf("compile    not available for this model: %s%s%s\n", d.where, d.where[0] ? ": " : "",
               b->have_target ? d.message : "no target");
        return CLI_EXIT_OK;
    }
    char path[4096], part[4300];
    out_path(b, "model.nnb", path, sizeof path);
    snprintf(part, sizeof part, "%s.part", path);
    FILE *f = fopen(part, "wb");
    nn_status st = f ? nn_target_save(p, nnb_write, f, &d) : nn_diag_set(&d, NN_ERR_IO, part, "cannot create");
    if (f && fclose(f) != 0 && !st) st = nn_diag_set(&d, NN_ERR_IO, part, "write failed");
    if (st || !commit_part(path)) {
        if (st) build_die(b, part, &d);
        remove(part);
        nn_target_program_destroy(p);
        return CLI_EXIT_FAIL;
    }
    /* compile.emit_c: OUT/model.c + OUT/model.h (docs/TARGET.md "C export") */
    if (cfg_b(b, "compile.emit_c")) {
        char prefix[4096];
        out_path(b, "model", prefix, sizeof prefix);
        progress(b, "compile: writing the C export");
        if (cli_emit_c(p, prefix) != CLI_EXIT_OK) {
            progress_end(b);
            nn_target_program_destroy(p);
            return CLI_EXIT_FAIL;
        }
    }
    /* the simulator on the evaluation samples, against the float model and,
       for compile.check, against the quantized model's fake-quant executor */
    const char *chk = cfg_s(b, "compile.check");
    int check = chk && strcmp(chk, "none") != 0;
    size_t mb = nn_target_sim_scratch_bytes(p);
    char *raw = (char *)malloc(mb + 64);
    cli_agreement a = {.cos = 1};
    /* a YUV program runs on the evaluation samples encoded as frames (the
       reference stays the float model on the samples themselves, so the
       cosine includes what 4:2:0 drops) */
    nn_value frames[BUILD_MAX_EVAL], planes[BUILD_MAX_EVAL];
    memset(frames, 0, sizeof frames);
    memset(planes, 0, sizeof planes);
    if (!raw) st = nn_diag_set(&d, NN_ERR_NOMEM, "simulator", "out of memory");
    for (uint32_t s = 0; !st && yuv && s < b->eval_count; s++) {
        const nn_value *x = &b->eval[s][0];
        frames[s].bytes = x->bytes / 8; /* 3 float planes -> 1.5 bytes per pixel */
        planes[s].bytes = x->bytes;
        frames[s].data = malloc(frames[s].bytes + 1);
        planes[s].data = malloc(planes[s].bytes + 1);
        st = frames[s].data && planes[s].data ? nn_target_yuv_encode(&cd, x, &frames[s], &d)
                                              : nn_diag_set(&d, NN_ERR_NOMEM, "simulator", "out of memory");
        if (!st) st = nn_target_yuv_decode(&cd, &frames[s], &planes[s], &d);
    }
    for (uint32_t s = 0; !st && s < b->eval_count; s++) {
        nn_value outs[BUILD_MAX_IO], ins[BUILD_MAX_IO];
        progress_tick(b, "compile", "simulator sample", s + 1, b->eval_count);
        memcpy(ins, b->eval[s], sizeof ins);
        if (yuv) ins[0] = frames[s];
        st = nn_target_sim_run(p, raw + (64 - (uintptr_t)raw % 64) % 64, mb, ins, outs, &d);
        for (uint32_t o = 0; !st && o < b->nout && o < p->output_count; o++) cli_agree(&a, &b->ref[s][o], &outs[o]);
    }
    free(raw);
    if (st) {
        build_die(b, yuv ? "compile.input_format" : "compile: simulator", &d);
        for (uint32_t s = 0; s < BUILD_MAX_EVAL; s++) { free(frames[s].data); free(planes[s].data); }
        nn_target_program_destroy(p);
        return CLI_EXIT_FAIL;
    }
    /* memory timeline and cycles of the program */
    cJSON *mem = cJSON_AddObjectToObject(b->record, "memory");
    const nn_target_memory_plan *mp = &p->memory;
    cJSON_AddNumberToObject(mem, "arena_bytes", (double)mp->arena_bytes);
    cJSON_AddNumberToObject(mem, "lower_bound", (double)mp->ours_bound_bytes);
    cJSON_AddNumberToObject(mem, "no_reuse", (double)mp->no_reuse_bytes);
    cJSON_AddNumberToObject(mem, "steps", mp->step_count);
    cJSON *tens = cJSON_AddArrayToObject(mem, "tensors");
    for (uint32_t i = 0; i < mp->buffer_count && i < 2000; i++) {
        const nn_target_buffer *bf = &mp->buffers[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", p->graph->tensors[bf->tensor.id].name);
        cJSON_AddNumberToObject(o, "offset", (double)bf->offset);
        cJSON_AddNumberToObject(o, "size", (double)bf->bytes);
        cJSON_AddNumberToObject(o, "first", bf->first);
        cJSON_AddNumberToObject(o, "last", bf->last);
        cJSON_AddItemToArray(tens, o);
    }
    nn_target_group_plan gp;
    nn_target_group_desc gd;
    memset(&gp, 0, sizeof gp);
    memset(&gd, 0, sizeof gd);
    gd.bytes_rule = NN_TARGET_BYTES_DTYPE;
    gd.order = mp->order;
    gd.order_count = mp->step_count;
    double latency = -1;
    memset(&d, 0, sizeof d);
    if (nn_target_plan_groups(p->graph, &b->tf.desc, &gd, &gp, &d) == NN_OK) {
        latency = gp.latency_ms;
        cJSON *cyc = cJSON_AddArrayToObject(b->record, "cycles");
        for (uint32_t i = 0; i < gp.group_count; i++) {
            const nn_target_group *gr = &gp.groups[i];
            const nn_node *first = &p->graph->nodes[gp.layers[gr->first_layer].node];
            char label[160];
            snprintf(label, sizeof label, "%u %s", i, first->name ? first->name : first->op_type);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "group", label);
            cJSON_AddNumberToObject(o, "compute", (double)gr->compute_cycles);
            cJSON_AddNumberToObject(o, "dma", (double)gr->dma_cycles);
            cJSON_AddNumberToObject(o, "cycles", (double)gr->cycles);
            cJSON_AddItemToArray(cyc, o);
        }
    }
    nn_target_group_plan_deinit(&gp);
    progress_end(b);
    printf("compile    %8.0f ms   simulator cosine %.6f%s   %u instructions (%u integer)   wrote %s\n",
           cli_now_ms() - t0, a.cos, yuv ? (cd.input_format == NN_TARGET_INPUT_NV21 ? " (NV21 frames)" : " (NV12 frames)") : "",
           p->instr_count, p->int_instrs, path);
    add_stage(b, "compile", cli_now_ms() - t0, st ? -3 : a.cos, file_bytes(path), (double)p->arena_bytes, latency);
    int ok = 1;
    if (check) {
        memset(&d, 0, sizeof d);
        ok = compile_check(b, p, q, chk, yuv ? frames : NULL, yuv ? planes : NULL, &d);
    }
    for (uint32_t s = 0; s < BUILD_MAX_EVAL; s++) { free(frames[s].data); free(planes[s].data); }
    if (ok < 0) { build_die(b, "compile.check", &d); nn_target_program_destroy(p); return CLI_EXIT_FAIL; }
    if (!ok) fprintf(stderr, "nnport build: compile.check: the simulator does not match the quantized model (%s)\n", chk);
    nn_target_program_destroy(p);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* ---- bundle ---- */

/* One case per stage model: test_data_set_0 holds evaluation sample 0 and
   the outputs of that stage's model under ONNX semantics (the float
   reference executor, QDQ nodes included), so the conformance runner reads
   every case back exactly. */
static int write_bundles(build_ctx *b, nn_graph *const *graphs, const char *const *names, const char *const *files,
                         int count) {
    char dir[4096], part[4200], cdir[4400], prod[64];
    out_path(b, "bundle", dir, sizeof dir);
    snprintf(part, sizeof part, "%s.part", dir);
    nftw(part, rm_entry, 16, FTW_DEPTH | FTW_PHYS); /* a leftover of a killed build */
    if (mkdir(part, 0777) != 0) { fprintf(stderr, "nnport: %s: cannot create: %s\n", part, strerror(errno)); return CLI_EXIT_FAIL; }
    snprintf(prod, sizeof prod, "nnport build %d.%d.%d", NN_VERSION_MAJOR, NN_VERSION_MINOR, NN_VERSION_PATCH);
    int rc = CLI_EXIT_OK;
    for (int k = 0; k < count && rc == CLI_EXIT_OK; k++) {
        nn_diag d = {0};
        nn_exec *x = NULL;
        nn_exec_desc xd = {.input_shapes = b->shapes, .input_shape_count = b->shape_count};
        const nn_value *outs[BUILD_MAX_IO];
        nn_status st = nn_exec_create(graphs[k], &xd, &x, &d);
        for (uint32_t i = 0; !st && i < b->nin; i++) st = nn_exec_set_input(x, i, &b->eval[0][i], &d);
        if (!st) st = nn_exec_run(x, &d);
        for (uint32_t o = 0; !st && o < b->nout; o++) outs[o] = nn_exec_output(x, o);
        snprintf(cdir, sizeof cdir, "%s/%s", part, names[k]);
        rc = st ? build_die(b, names[k], &d) : cli_write_bundle(cdir, files[k], graphs[k], outs, b->eval[0], prod);
        nn_exec_destroy(x);
    }
    if (rc == CLI_EXIT_OK) {
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); /* the previous build's */
        if (rename(part, dir) != 0) { fprintf(stderr, "nnport: %s: cannot rename into place: %s\n", dir, strerror(errno)); rc = CLI_EXIT_FAIL; }
    }
    if (rc != CLI_EXIT_OK) nftw(part, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else printf("bundle     %s (%d cases in the ONNX backend-test layout)\n", dir, count);
    return rc;
}

/* ---- the command ---- */

static void build_help(void) {
    printf("usage: nnport build --config CFG.json --input MODEL.onnx --output-dir OUT\n"
           "                    [--eval DIR] [--bundle] [--KEY.PATH VALUE]...\n"
           "  runs import -> optimize -> calibrate + quantize -> compile as the config says\n"
           "  (nnport config reference lists every key); --KEY.PATH VALUE overrides a key\n"
           "  after the file (--quant.calibration_method KL, --model.input_shapes.x 1x3x48x192)\n"
           "  --eval DIR   samples for the stage comparisons (default: quant.eval_data, else\n"
           "               the calibration folder quant.calibration_data)\n"
           "  --bundle     also write OUT/bundle/{float,optimized,quantized}/ in the ONNX\n"
           "               backend-test layout (as output.bundle: true)\n"
           "  writes OUT/config.resolved.json, optimized.onnx, quantized.onnx, model.nnb,\n"
           "  record.json, report.html; progress on stderr, a summary table at the end.\n"
           "  exit 1 when a gate (optimize.tolerance, quant.tolerance) fails, after the\n"
           "  per-layer table, when compile.check fails, or on a bad config (the message\n"
           "  names the key).  Quantization starts from the optimize passes without\n"
           "  act/attention (fused ops would stay float in the QDQ model).\n"
           "  compile.input_format nv12|nv21: the program takes YUV420SP frames, converted\n"
           "  with preprocess.mean/std/color; the simulator runs on the evaluation samples\n"
           "  encoded as frames (nn_target_yuv_encode), compile.check on the same frames.\n");
}

static int parse_args(build_ctx *b, int argc, char **argv, const char **cfg_path, int *bundle, char **ov, int *nov) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { build_help(); return -1; }
        if (!strcmp(a, "--bundle")) { *bundle = 1; continue; }
        if (i + 1 >= argc) return cli_usage_error("build", "%s needs a value", a);
        if (!strcmp(a, "--config")) *cfg_path = argv[++i];
        else if (!strcmp(a, "--input")) b->model = argv[++i];
        else if (!strcmp(a, "--output-dir")) b->out = argv[++i];
        else if (!strcmp(a, "--eval")) b->eval_dir = argv[++i];
        else if (!strncmp(a, "--", 2) && strchr(a, '.') && *nov < 126) { ov[(*nov)++] = argv[i]; ov[(*nov)++] = argv[++i]; }
        else return cli_usage_error("build", "unexpected argument '%s'", a);
    }
    if (!*cfg_path || !b->model || !b->out) return cli_usage_error("build", "give --config CFG.json --input MODEL.onnx --output-dir OUT");
    return 0;
}

/* Reads, validates, overrides and resolves the config; input shapes. */
static int load_config(build_ctx *b, const char *path, char **ov, int nov) {
    char err[512];
    b->cfg = cli_load_json(path);
    if (!b->cfg) return CLI_EXIT_FAIL;
    if (!cfg_validate(b->cfg, err, sizeof err)) { fprintf(stderr, "nnport: %s: %s\n", path, err); return CLI_EXIT_FAIL; }
    int rc = cli_apply_overrides("build", b->cfg, nov, ov, 0);
    if (rc) return rc;
    cfg_fill_defaults(b->cfg);
    const cJSON *shp = cfg_get(b->cfg, "model.input_shapes");
    for (const cJSON *s = shp ? shp->child : NULL; s && b->shape_count < BUILD_MAX_IO; s = s->next) {
        nn_input_shape *is = &b->shapes[b->shape_count++];
        int64_t dims[NN_MAX_RANK];
        int r = 0;
        for (const cJSON *e = s->child; e && r < NN_MAX_RANK; e = e->next) dims[r++] = (int64_t)e->valuedouble;
        is->name = s->string;
        is->shape = nn_shape_make(r, dims);
    }
    b->calib_dir = cfg_s(b, "quant.calibration_data");
    const cJSON *ci = cfg_get(b->cfg, "quant.calibration_inputs");
    if (!b->calib_dir && ci && ci->child) b->calib_dir = ci->child->valuestring; /* every input named: checked on import */
    if (!b->calib_dir) {
        fprintf(stderr, "nnport: %s: quant.calibration_data: required (a folder of samples; or quant.calibration_inputs.NAME"
                        " per input)\n", path);
        return CLI_EXIT_FAIL;
    }
    if (!b->eval_dir) b->eval_dir = cfg_s(b, "quant.eval_data");
    if (!b->eval_dir) b->eval_dir = b->calib_dir;
    if (strlen(b->out) > 3000) { fprintf(stderr, "nnport: %.60s...: output path too long\n", b->out); return CLI_EXIT_FAIL; }
    if (mkdir(b->out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "nnport: %s: cannot create the output directory: %s\n", b->out, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    /* The outputs of an earlier build in OUT go first, so that OUT never
       mixes this build's files with older ones (a failed gate leaves no
       model.nnb of a previous success behind). */
    static const char *const stale[] = {"optimized.onnx", "quantized.onnx", "model.nnb", "record.json", "report.html", NULL};
    char out[4096], *text;
    for (int i = 0; stale[i]; i++) {
        out_path(b, stale[i], out, sizeof out);
        remove(out);
    }
    out_path(b, "bundle", out, sizeof out);
    nftw(out, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    text = cJSON_Print(b->cfg);
    out_path(b, "config.resolved.json", out, sizeof out);
    int ok = write_text(out, text);
    free(text);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* import and optimize; *g0 the model as given, *g the optimized one. */
static int front_stages(build_ctx *b, nn_graph **g0, nn_graph **g) {
    nn_diag d = {0};
    cli_agreement a;
    double t0 = cli_now_ms(), ar, la;
    progress(b, "import: %s", b->model);
    if (nn_onnx_load_file(b->model, NULL, g0, &d)) return build_die(b, b->model, &d);
    if ((*g0)->input_count > BUILD_MAX_IO || (*g0)->output_count > BUILD_MAX_IO) {
        fprintf(stderr, "nnport: %s: more than %d inputs or outputs\n", b->model, BUILD_MAX_IO);
        return CLI_EXIT_FAIL;
    }
    b->nin = (*g0)->input_count;
    b->nout = (*g0)->output_count;
    if (calib_folders(b, *g0)) return CLI_EXIT_FAIL;
    if (nn_graph_infer_shapes(*g0, b->shapes, b->shape_count, &d)) return build_die(b, "model.input_shapes", &d);
    if (load_eval(b, *g0) || run_eval(b, *g0, "import", 1, &a)) return CLI_EXIT_FAIL;
    plan_figures(b, *g0, &ar, &la);
    progress_end(b);
    printf("import     %8.0f ms   %s: %u nodes; %u evaluation samples from %s\n", cli_now_ms() - t0, b->model,
           (*g0)->node_count, b->eval_count, b->eval_dir);
    add_stage(b, "import", cli_now_ms() - t0, 1, file_bytes(b->model), ar, la);

    t0 = cli_now_ms();
    const char *passes = cfg_s(b, "optimize.passes"), *tmpl = cfg_s(b, "optimize.template");
    progress(b, "optimize: %s", passes ? passes : tmpl);
    nn_pass_desc up = {.target_opset = 14}; /* per-channel DequantizeLinear needs 13, HardSwish 14 */
    if (nn_onnx_load_file(b->model, NULL, g, &d) || nn_graph_infer_shapes(*g, b->shapes, b->shape_count, &d) ||
        (nn_graph_opset(*g, "") < 14 && nn_graph_run_pass(*g, "opset", &up, NULL, &d)) ||
        (passes ? nn_graph_run_passes(*g, passes, NULL, NULL, &d)
                : strcmp(tmpl, "none") != 0 && nn_graph_run_template(*g, tmpl, NULL, NULL, &d)))
        return build_die(b, "optimize", &d);
    char path[4096];
    out_path(b, "optimized.onnx", path, sizeof path);
    if (!save_onnx(b, *g, path) || run_eval(b, *g, "optimize", 0, &a)) return CLI_EXIT_FAIL;
    plan_figures(b, *g, &ar, &la);
    double min_cos = cfg_at(b, "optimize.tolerance", 0, 0.999999), max_pr = cfg_at(b, "optimize.tolerance", 1, 1e-5);
    int ok = a.cos >= min_cos && a.peak_rel <= max_pr;
    progress_end(b);
    printf("optimize   %8.0f ms   cosine %.6f (gate >= %g)   max err %.2e x peak (gate <= %g)   %s   %u -> %u nodes\n",
           cli_now_ms() - t0, a.cos, min_cos, a.peak_rel, max_pr, ok ? "ok" : "FAIL", (*g0)->node_count, (*g)->node_count);
    add_stage(b, "optimize", cli_now_ms() - t0, a.cos, file_bytes(path), ar, la);
    if (!ok) {
        fprintf(stderr, "nnport build: optimize.tolerance: the optimized model's outputs moved (cosine %.6f, max err %.2e x peak)\n",
                a.cos, a.peak_rel);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* search.*: TPU-MLIR-style sensitive-layer search (nn_quant_search) on the
   evaluation samples; the promoted layers are appended to the table. */
static int search_stage(build_ctx *b, const nn_graph *g, const nn_quant_range *ranges, nn_quant_desc *qd,
                        nn_quant_table *table) {
    uint32_t count, nl = 0;
    nn_value *in = eval_batch(b, &count);
    nn_quant_search_layer *layers = (nn_quant_search_layer *)calloc(g->node_count + 1, sizeof *layers);
    nn_quant_search_desc sd;
    nn_quant_search_result res;
    nn_diag d = {0};
    const char *to = cfg_s(b, "search.promote_to");
    memset(&sd, 0, sizeof sd);
    sd.eval.int_kernels = 1;
    sd.eval.input_shapes = b->shapes;
    sd.eval.input_shape_count = b->shape_count;
    sd.expected_cos = cfg_n(b, "search.expected_cos", 0.99);
    sd.max_float_layers = (uint32_t)cfg_n(b, "search.max_float_layers", 8);
    sd.block_layers = (uint32_t)cfg_n(b, "search.block_layers", 0);
    sd.promote = to ? nn_quant_dtype_parse(to, strlen(to)) : NN_QUANT_DTYPE_INT16;
    progress(b, "quantize: mixed-precision search on %u samples", count);
    const nn_quant_table *keep = qd->table;
    qd->table = table->count ? table : NULL; /* rules from the config stay in effect */
    nn_status st = in && layers ? nn_quant_search(g, ranges, qd, in, count, &sd, table, layers, &nl, &res, &d)
                                : nn_diag_set(&d, NN_ERR_NOMEM, "search", "out of memory");
    free(in);
    free(layers);
    if (st) { qd->table = keep; return build_die(b, "search", &d); }
    progress_end(b);
    printf("search     promoted %u of %u measured layers to %s: output cosine %.6f -> %.6f\n", res.promoted,
           res.measured, nn_quant_dtype_name(sd.promote), res.cos_before, res.cos_after);
    qd->table = table->count ? table : NULL;
    return CLI_EXIT_OK;
}

/* The graph the quantizer starts from: the optimize stage's pass list
   without the passes that fuse into ops nn_quant_graph keeps in float
   ("act": Conv + Add + Relu -> FusedConv, whose weights would stay float;
   the QDQ builder merges Relu/Clip into the output clamp itself;
   "attention": the fused attention op).  Measured on ppocr cls: 125
   instead of 92 integer instructions, 279 KB instead of 482 KB program. */
static int quant_input(build_ctx *b, nn_graph **gq) {
    static const char *const skip[] = {"act", "attention", NULL};
    const char *passes = cfg_s(b, "optimize.passes"), *tmpl = cfg_s(b, "optimize.template");
    char list[1024] = "", dropped[256] = "", buf[1024];
    nn_diag d = {0};
    if (!passes) passes = strcmp(tmpl, "none") != 0 ? nn_graph_template_passes(tmpl) : "";
    snprintf(buf, sizeof buf, "%s", passes ? passes : "");
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int drop = 0;
        for (int i = 0; skip[i]; i++) drop |= !strcmp(tok, skip[i]);
        char *to = drop ? dropped : list;
        size_t cap = drop ? sizeof dropped : sizeof list, n = strlen(to);
        snprintf(to + n, cap - n, "%s%s", n ? "," : "", tok);
    }
    nn_pass_desc up = {.target_opset = 14};
    if (nn_onnx_load_file(b->model, NULL, gq, &d) || nn_graph_infer_shapes(*gq, b->shapes, b->shape_count, &d) ||
        (nn_graph_opset(*gq, "") < 14 && nn_graph_run_pass(*gq, "opset", &up, NULL, &d)) ||
        (list[0] && nn_graph_run_passes(*gq, list, NULL, NULL, &d)) ||
        nn_graph_infer_shapes(*gq, b->shapes, b->shape_count, &d))
        return build_die(b, "quantize", &d);
    if (dropped[0]) progress(b, "quantize: from the optimize passes without %s (fused ops stay float in QDQ)", dropped);
    return CLI_EXIT_OK;
}

/* quant.adaround / quant.bias_correction: rewrite the float graph's weights
   and biases for the ranges and quantize settings nn_quant_graph will use
   (docs/QUANT_ALGOS.md), on the first quant.bc_inference_num calibration
   samples.  AdaRound first: bias correction measures the rounding it chose. */
static int quant_algorithms(build_ctx *b, nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd) {
    int ada = cfg_b(b, "quant.adaround"), bc = cfg_b(b, "quant.bias_correction");
    if (!ada && !bc) return CLI_EXIT_OK;
    nn_diag d = {0};
    nn_calib_dataset_desc dd;
    nn_calib_dataset *ds = NULL;
    uint32_t want = (uint32_t)cfg_n(b, "quant.bc_inference_num", 16);
    dataset_desc(b, b->calib_dir, want, &dd);
    if (nn_calib_dataset_open(&dd, g, &ds, &d)) return build_die(b, b->calib_dir, &d);
    uint32_t k = nn_calib_dataset_count(ds);
    if (k > want) k = want;
    nn_value *held = (nn_value *)calloc((size_t)k * b->nin + 1, sizeof *held);
    nn_status st = held ? NN_OK : nn_diag_set(&d, NN_ERR_NOMEM, "quantize", "out of memory");
    for (uint32_t s2 = 0; !st && s2 < k; s2++) {
        nn_value v[BUILD_MAX_IO];
        st = nn_calib_dataset_load(ds, s2, v, &d);
        for (uint32_t i = 0; !st && i < b->nin; i++) held[s2 * b->nin + i] = copy_value(&v[i]);
    }
    if (!st && ada) {
        nn_quant_adaround_desc ad;
        memset(&ad, 0, sizeof ad);
        ad.iterations = (uint32_t)cfg_n(b, "quant.adaround_iters", 500);
        const char *am = cfg_s(b, "quant.adaround_mode");
        ad.sequential = am && !strcmp(am, "sequential");
        ad.input_shapes = b->shapes;
        ad.input_shape_count = b->shape_count;
        progress(b, "quantize: AdaRound on %u samples", k);
        st = nn_quant_adaround(g, ranges, qd, held, k, &ad, NULL, &d);
    }
    if (!st && bc) {
        nn_quant_bc_desc bd;
        memset(&bd, 0, sizeof bd);
        bd.samples = k;
        bd.min_layer_cos = cfg_n(b, "quant.min_layer_cos", 0.99);
        const char *bm = cfg_s(b, "quant.bc_mode");
        bd.mode = bm && !strcmp(bm, "sequential") ? NN_QUANT_BC_SEQUENTIAL
                  : bm && !strcmp(bm, "total") ? NN_QUANT_BC_TOTAL : NN_QUANT_BC_LOCAL;
        bd.rounds = (uint32_t)cfg_n(b, "quant.bc_rounds", 1);
        bd.input_shapes = b->shapes;
        bd.input_shape_count = b->shape_count;
        progress(b, "quantize: bias correction on %u samples", k);
        st = nn_quant_bias_correct(g, ranges, qd, held, k, &bd, NULL, &d);
    }
    for (uint32_t s2 = 0; held && s2 < k * b->nin; s2++) free(held[s2].data);
    free(held);
    nn_calib_dataset_destroy(ds);
    return st ? build_die(b, ada && !bc ? "quant.adaround" : "quant.bias_correction", &d) : CLI_EXIT_OK;
}

/* quant.softmax_bias_correction: the mean row sum of each Softmax's
   quantized output (Pandey et al.'s softmax bias, nn_quant_softmax_bias_measure)
   on up to 4 evaluation samples, printed and in record.json.  nnport's
   recipe keeps Softmax outputs float, where there is nothing to correct;
   a quantized one's deficit is reported, not corrected (a QDQ graph's
   integer zero point cannot carry the fractional shift:
   docs/QUANT_ALGOS.md). */
static int softmax_bias(build_ctx *b, const nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd) {
    enum { CAP = 64 };
    nn_quant_softmax_bias sb[CAP];
    uint32_t nsb = 0, quantized, count;
    nn_value *in = eval_batch(b, &count);
    nn_diag d = {0};
    double worst;
    if (!in) { nn_diag_set(&d, NN_ERR_NOMEM, "softmax bias", "out of memory"); return build_die(b, "quant.softmax_bias_correction", &d); }
    progress(b, "quantize: softmax bias on %u samples", count);
    nn_status st = nn_quant_softmax_bias_measure(g, ranges, qd, in, count, sb, CAP, &nsb, &d);
    free(in);
    if (st) return build_die(b, "quant.softmax_bias_correction", &d);
    progress_end(b);
    cJSON *arr = cJSON_AddArrayToObject(b->record, "softmax_bias");
    for (uint32_t k = 0; k < nsb && k < CAP; k++) {
        cJSON *o = cJSON_CreateObject();
        const nn_node *n = &g->nodes[sb[k].node];
        cJSON_AddStringToObject(o, "node", n->name ? n->name : n->op_type);
        cJSON_AddBoolToObject(o, "quantized", sb[k].quantized);
        cJSON_AddNumberToObject(o, "row_sum", sb[k].row_sum);
        cJSON_AddNumberToObject(o, "zero_fraction", sb[k].zero_fraction);
        cJSON_AddItemToArray(arr, o);
    }
    quantized = cli_softmax_quantized(sb, nsb < CAP ? nsb : CAP, &worst);
    printf("softmax    %u Softmax, %u with a quantized output", nsb, quantized);
    if (quantized) printf("; worst mean row sum %.4f (reported, not corrected: needs a fractional zero point)\n", worst);
    else printf(": nothing to correct (their outputs stay float)\n");
    return CLI_EXIT_OK;
}

static int quant_stage(build_ctx *b, nn_graph *g, nn_graph **q) {
    nn_diag d = {0};
    double t0 = cli_now_ms(), ar, la;
    cli_agreement a;
    nn_quant_range *ranges = (nn_quant_range *)calloc(g->tensor_count + 1, sizeof *ranges);
    nn_quant_table table;
    nn_quant_table_init(&table, NULL);
    int rc = ranges ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    if (!rc && cfg_n(b, "quant.weight_group", 0) > 0 && nn_graph_opset(g, "") < 21) {
        /* per-group weights are blocked DequantizeLinear (opset 21): upgrade
           before calibrating, so the ranges index the final tensors */
        nn_pass_desc pd;
        memset(&pd, 0, sizeof pd);
        pd.target_opset = 21;
        if (nn_graph_run_passes(g, "opset", &pd, NULL, &d) || nn_graph_infer_shapes(g, NULL, 0, &d))
            rc = build_die(b, "quant.weight_group", &d);
        free(ranges);
        ranges = rc ? NULL : (nn_quant_range *)calloc(g->tensor_count + 1, sizeof *ranges);
        if (!rc && !ranges) rc = CLI_EXIT_FAIL;
    }
    if (!rc) rc = build_table(b, g, &table);
    if (!rc) rc = calibrate(b, g, ranges);
    if (!rc) {
        const char *act = cfg_s(b, "quant.activation"), *w = cfg_s(b, "quant.weight");
        nn_quant_desc qd;
        nn_quant_stats qs;
        memset(&qd, 0, sizeof qd);
        qd.scheme = act && !strcasecmp(act, "u8asym") ? NN_QUANT_U8_ASYM
                    : act && !strcasecmp(act, "s16")  ? NN_QUANT_S16_SYM
                                                      : NN_QUANT_S8_SYM;
        qd.weight_bits = w && !strcasecmp(w, "int4") ? 4 : 8;
        qd.weight_group = (uint32_t)cfg_n(b, "quant.weight_group", 0);
        const char *wr = cfg_s(b, "quant.weight_rounding");
        if (!wr || !cli_parse_rounding(wr, &qd.weight_rounding)) qd.weight_rounding = NN_QUANT_ROUND_NEAREST;
        qd.preact16 = cfg_b(b, "quant.preact16");
        qd.table = table.count ? &table : NULL;
        qd.log = quant_log;
        rc = quant_algorithms(b, g, ranges, &qd);
        if (!rc && cfg_b(b, "search.enable")) rc = search_stage(b, g, ranges, &qd, &table);
        progress(b, "quantize: building the QDQ graph");
        if (!rc && nn_quant_graph(g, ranges, &qd, q, &qs, &d)) rc = build_die(b, "quantize", &d);
        if (!rc && cfg_b(b, "quant.softmax_bias_correction")) rc = softmax_bias(b, g, ranges, &qd);
    }
    char path[4096];
    out_path(b, "quantized.onnx", path, sizeof path);
    if (!rc && (!save_onnx(b, *q, path) || run_eval(b, *q, "quantize", 0, &a))) rc = CLI_EXIT_FAIL;
    free(ranges);
    nn_quant_table_deinit(&table);
    if (rc) return rc;
    plan_figures(b, *q, &ar, &la);
    double min_cos = cfg_at(b, "quant.tolerance", 0, 0.99);
    int ok = a.cos >= min_cos;
    double ms = cli_now_ms() - t0;
    progress_end(b);
    printf("quantize   %8.0f ms   cosine %.6f (gate >= %.10g)   max err %.2e x peak   %s\n", ms, a.cos, min_cos,
           a.peak_rel, ok ? "ok" : "FAIL");
    add_stage(b, "quantize", ms, a.cos, file_bytes(path), ar, la);
    analyze_layers(b, g, *q, !ok);
    if (!ok) {
        fprintf(stderr, "nnport build: quant.tolerance: output cosine %.6f is below %g (the layer table above shows where)\n",
                a.cos, min_cos);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static void write_record(build_ctx *b) {
    char path[4096];
    char *text = cJSON_Print(b->record);
    out_path(b, "record.json", path, sizeof path);
    if (write_text(path, text)) printf("record     %s\n", path);
    free(text);
    if (cfg_b(b, "output.report")) {
        out_path(b, "report.html", path, sizeof path);
        if (cli_write_report(b->record, path)) printf("report     %s\n", path);
    }
}

int cmd_build(int argc, char **argv) {
    static build_ctx b; /* large (sample tables); one build per process */
    const char *cfg_path = NULL;
    char *ov[128];
    int nov = 0, bundle = 0, rc;
    memset(&b, 0, sizeof b);
    rc = parse_args(&b, argc, argv, &cfg_path, &bundle, ov, &nov);
    if (rc) return rc < 0 ? CLI_EXIT_OK : rc;
    b.tty = isatty(2);
    nn_graph *g0 = NULL, *g = NULL, *gq = NULL, *q = NULL;
    rc = load_config(&b, cfg_path, ov, nov);
    if (!rc) {
        const char *tfile = cfg_s(&b, "target.file");
        rc = plan_resolve_target("build", tfile ? tfile : cfg_s(&b, "target.preset"), &b.tf);
        b.have_target = rc == CLI_EXIT_OK;
        if (rc && tfile) goto done; /* a target file the user gave must be right */
        rc = CLI_EXIT_OK;
    }
    if (rc) goto done;
    b.record = cJSON_CreateObject();
    cJSON_AddStringToObject(b.record, "title", "nnport build");
    cJSON_AddStringToObject(b.record, "model", b.model);
    b.stages_json = cJSON_AddArrayToObject(b.record, "stages");
    rc = front_stages(&b, &g0, &g);
    if (!rc) rc = quant_input(&b, &gq);
    if (!rc) rc = quant_stage(&b, gq, &q);
    if (!rc) rc = compile_stage(&b, q);
    if (b.record && b.stage_count) write_record(&b);
    if (!rc && (bundle || cfg_b(&b, "output.bundle"))) {
        char p1[4096], p2[4096];
        out_path(&b, "optimized.onnx", p1, sizeof p1);
        out_path(&b, "quantized.onnx", p2, sizeof p2);
        nn_graph *graphs[3] = {g0, g, q};
        const char *names[3] = {"float", "optimized", "quantized"}, *files[3] = {b.model, p1, p2};
        rc = write_bundles(&b, graphs, names, files, 3);
    }
    if (b.stage_count) print_summary(&b);
done:
    for (uint32_t s = 0; s < BUILD_MAX_EVAL; s++)
        for (uint32_t i = 0; i < BUILD_MAX_IO; i++) { free(b.eval[s][i].data); free(b.ref[s][i].data); }
    free(b.tf.ops);
    cJSON_Delete(b.record);
    cJSON_Delete(b.cfg);
    nn_graph_destroy(q);
    nn_graph_destroy(gq);
    nn_graph_destroy(g);
    nn_graph_destroy(g0);
    return rc;
}
