/* cv_flow - the CV flow of the vendor NPU toolchains, stage by stage, with
   nnport's headers:

     import -> optimize (cv template) -> compare
            -> quantize (fixed precision, one calibrator; optional quantize
               table, as TPU-MLIR's model_deploy --quantize_table) -> compare
            -> compile (npu-small by default) -> compare on the simulator

   cv_flow MODEL.onnx --calib DIR --eval DIR --out RESULT_DIR
           [--method kl|minmax|percentile|mse|aciq_gauss|aciq_laplace|octav]
           [--scheme s8sym|u8asym|s8asym|s16] [--weight-rounding nearest|sum]
           [--preact16]      (Conv outputs read only by HardSwish/Sigmoid/... at int16)
           [--qtable FILE]   (layer/type/range overrides, docs/QUANTIZATION.md 5)
           [--samples N] [--shape NAME=DIMS] [--tol-optimize COS] [--tol-quantize COS]
           [--passes LIST]   (instead of the cv template)
           [--target npu-small|npu-large|mcu]

   DIR holds .npy samples (one sub-folder per input name for several inputs;
   nn_calib.h's datasets), calibration and evaluation disjoint.  Each stage
   writes its model under RESULT_DIR (1_optimized.onnx, 2_quantized.onnx: a
   QDQ model any ONNX runtime opens, 3_compiled.nnb), and its comparison
   against the float
   model on the evaluation samples is a gate, as TPU-MLIR's
   `--tolerance`: a failed gate stops the flow and prints the per-layer table
   that shows where the numbers went.  RESULT_DIR/record.json and
   RESULT_DIR/report.html summarise the run (docs/REPORT.md). */
#define _POSIX_C_SOURCE 200809L
#include "nn_graph.h"
#include "nn_onnx.h"
#include "nn_verify.h"
#include "nn_calib.h"
#include "nn_quant.h"
#include "nn_target.h"
#include "nnport/cli.h"
#include "nnport/config.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SAMPLES 64
#define MAX_OUTPUTS 16

typedef struct flow {
    const char *model, *calib, *eval, *out;
    const char *passes;           /* --passes: instead of the cv template */
    const char *target;           /* --target preset */
    const char *qtable;           /* --qtable: precision overrides */
    nn_quant_scheme scheme;       /* --scheme: activations (s8sym default) */
    nn_quant_rounding rounding;   /* --weight-rounding */
    int preact16;                 /* --preact16 (nn_quant_desc.preact16) */
    nn_calib_method method;
    uint32_t calib_samples;
    double tol_optimize, tol_quantize;
    cli_inputs shapes;            /* --shape only */
    nn_value eval_in[MAX_SAMPLES];   /* evaluation inputs (single-input models) */
    nn_value ref[MAX_SAMPLES][MAX_OUTPUTS]; /* float model outputs: the reference */
    uint32_t eval_count;
    cJSON *stages;                /* the record's stage rows */
} flow;

/* The quantizer's warnings (a quantize-table rule that matches nothing names itself). */
static void flow_log(void *user, const char *message) {
    (void)user;
    fprintf(stderr, "cv_flow: %s\n", message);
}

static int die(const char *what, const nn_diag *d) {
    fprintf(stderr, "cv_flow: %s: %s%s%s\n", what, d->where, d->where[0] ? ": " : "", d->message);
    return 1;
}

/* A deep copy of v (the executors own their outputs only until the next run). */
static nn_value copy_value(const nn_value *v) {
    nn_value c = *v;
    c.data = malloc(v->bytes ? v->bytes : 1);
    if (c.data) memcpy(c.data, v->data, v->bytes);
    return c;
}

/* Runs graph g (float executor, or the fake-quant executor for a QDQ graph)
   on every evaluation sample; compares with the reference or, when
   fill_ref, stores the outputs as the reference. */
static int run_and_compare(flow *f, const nn_graph *g, int qdq, int fill_ref, cli_agreement *a) {
    nn_diag d = {0};
    cli_agreement_reset(a);
    for (uint32_t s = 0; s < f->eval_count; s++) {
        nn_exec *x = NULL;
        nn_qexec *q = NULL;
        nn_exec_desc xd = {.input_shapes = f->shapes.shapes, .input_shape_count = (uint32_t)f->shapes.shape_count};
        nn_status st = qdq ? nn_qexec_create(g, NULL, &q, &d) : nn_exec_create(g, &xd, &x, &d);
        if (!st) st = qdq ? nn_qexec_set_input(q, 0, &f->eval_in[s], &d) : nn_exec_set_input(x, 0, &f->eval_in[s], &d);
        if (!st) st = qdq ? nn_qexec_run(q, &d) : nn_exec_run(x, &d);
        for (uint32_t o = 0; !st && o < g->output_count && o < MAX_OUTPUTS; o++) {
            const nn_value *v = qdq ? nn_qexec_output(q, o) : nn_exec_output(x, o);
            if (fill_ref) f->ref[s][o] = copy_value(v);
            else cli_agree(a, &f->ref[s][o], v);
        }
        nn_exec_destroy(x);
        nn_qexec_destroy(q);
        if (st) return die("run", &d);
    }
    return 0;
}

/* Prints the stage's line, adds it to the record and applies the gate. */
static int gate(flow *f, const char *stage, double ms, const cli_agreement *a, double min_cos, const char *file) {
    struct stat st;
    double bytes = file && stat(file, &st) == 0 ? (double)st.st_size : 0;
    int ok = a->cos >= min_cos;
    printf("%-10s %8.0f ms   cosine %.6f (gate >= %g)   max err %.2e x peak   %s%s\n", stage, ms, a->cos, min_cos,
           a->peak_rel, ok ? "ok" : "FAIL", file ? "" : "");
    if (file) printf("           wrote %s (%.0f bytes)\n", file, bytes);
    cJSON *row = cJSON_CreateObject();
    cJSON_AddStringToObject(row, "stage", stage);
    cJSON_AddNumberToObject(row, "time_ms", ms);
    cJSON_AddNumberToObject(row, "cos", a->cos);
    if (bytes > 0) cJSON_AddNumberToObject(row, "size_bytes", bytes);
    cJSON_AddItemToArray(f->stages, row);
    return ok;
}

/* Loads up to MAX_SAMPLES evaluation inputs through nn_calib.h's dataset. */
static int load_eval(flow *f, const nn_graph *g) {
    nn_calib_dataset *ds;
    nn_calib_dataset_desc dd = {.path = f->eval, .extension = "npy", .max_samples = MAX_SAMPLES};
    nn_diag d = {0};
    if (nn_calib_dataset_open(&dd, g, &ds, &d)) return die(f->eval, &d);
    f->eval_count = nn_calib_dataset_count(ds);
    for (uint32_t s = 0; s < f->eval_count; s++) {
        nn_value v;
        if (nn_calib_dataset_load(ds, s, &v, &d)) { nn_calib_dataset_destroy(ds); return die(f->eval, &d); }
        f->eval_in[s] = copy_value(&v);
    }
    nn_calib_dataset_destroy(ds);
    return 0;
}

/* Calibration: every calibration sample through the optimized float graph
   with a collector attached, then one threshold rule for every tensor. */
static int calibrate(flow *f, const nn_graph *g, nn_quant_range *ranges) {
    nn_calib_dataset *ds = NULL;
    nn_calib_collector *col = NULL;
    nn_exec *x = NULL;
    nn_calib_dataset_desc dd = {.path = f->calib, .extension = "npy", .max_samples = f->calib_samples};
    nn_calib_collector_desc cd = {0};
    nn_diag d = {0};
    nn_status st = nn_calib_dataset_open(&dd, g, &ds, &d);
    if (!st) st = nn_calib_collector_create(g, &cd, &col, &d);
    nn_exec_desc xd = {.observer = nn_calib_collector_exec_observer, .observer_user = col,
                       .input_shapes = f->shapes.shapes, .input_shape_count = (uint32_t)f->shapes.shape_count};
    if (!st) st = nn_exec_create(g, &xd, &x, &d);
    uint32_t n = ds ? nn_calib_dataset_count(ds) : 0;
    int tty = isatty(2);
    for (uint32_t s = 0; !st && s < n; s++) {
        nn_value v;
        st = nn_calib_dataset_load(ds, s, &v, &d);
        if (!st) st = nn_exec_set_input(x, 0, &v, &d);
        if (!st) st = nn_calib_collector_observe(col, g->inputs[0], &v, &d);
        if (!st) st = nn_exec_run(x, &d);
        /* a bar that redraws on a terminal, plain lines in a log */
        if (tty) fprintf(stderr, "\rcalibrating %u/%u", s + 1, n);
        else if ((s + 1) % 8 == 0 || s + 1 == n) fprintf(stderr, "calibrating %u/%u\n", s + 1, n);
    }
    if (tty) fprintf(stderr, "\n");
    nn_calib_desc rule = {.method = f->method,
                          .bits = cli_calib_bits(f->scheme == NN_QUANT_S16_SYM ? 16 : 0, f->method)};
    if (!st) st = nn_quant_ranges_from_collector(g, col, &rule, ranges, &d);
    nn_exec_destroy(x);
    nn_calib_collector_destroy(col);
    nn_calib_dataset_destroy(ds);
    return st ? die(f->calib, &d) : 0;
}

/* The per-layer table printed when the quantize gate fails: the ten layers
   with the lowest cosine against the float graph, with their ONNX names. */
static void worst_layers(flow *f, const nn_graph *g, const nn_graph *q) {
    nn_quant_eval_desc ed = {.int_kernels = 1, .input_shapes = f->shapes.shapes,
                             .input_shape_count = (uint32_t)f->shapes.shape_count};
    cli_print_worst_layers(g, q, f->eval_in, f->eval_count, &ed, "");
}

static void usage(void) {
    fprintf(stderr, "usage: cv_flow MODEL.onnx --calib DIR --eval DIR --out RESULT_DIR [--method percentile]\n"
                    "               [--samples N] [--shape NAME=DIMS] [--tol-optimize COS] [--tol-quantize COS]\n"
                    "               [--passes LIST] [--target npu-small|npu-large|mcu]\n"
                    "               [--scheme s8sym|u8asym|s8asym|s16] [--weight-rounding nearest|sum] [--preact16]\n"
                    "               [--qtable FILE]\n");
}

static int parse(flow *f, int argc, char **argv) {
    f->method = NN_CALIB_PERCENTILE;
    f->calib_samples = 32;
    f->tol_optimize = 0.99999;
    f->tol_quantize = 0.99;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = cli_take_input_option("cv_flow", argc, argv, &i, &f->shapes);
        if (r < 0) return 0;
        if (r) continue;
        if (!strcmp(a, "--preact16")) { f->preact16 = 1; continue; }
        if (!v && a[0] == '-') { usage(); return 0; }
        if (!strcmp(a, "--calib")) f->calib = v;
        else if (!strcmp(a, "--eval")) f->eval = v;
        else if (!strcmp(a, "--out")) f->out = v;
        else if (!strcmp(a, "--passes")) f->passes = v;
        else if (!strcmp(a, "--target")) f->target = v;
        else if (!strcmp(a, "--qtable")) f->qtable = v;
        else if (!strcmp(a, "--scheme")) {
            if (!cli_parse_scheme(v, &f->scheme)) { fprintf(stderr, "cv_flow: --scheme %s: s8sym, u8asym, s8asym or s16\n", v); return 0; }
        } else if (!strcmp(a, "--weight-rounding")) {
            if (!cli_parse_rounding(v, &f->rounding)) { fprintf(stderr, "cv_flow: --weight-rounding %s: nearest or sum\n", v); return 0; }
        }
        else if (!strcmp(a, "--samples")) f->calib_samples = (uint32_t)atoi(v);
        else if (!strcmp(a, "--tol-optimize")) f->tol_optimize = atof(v);
        else if (!strcmp(a, "--tol-quantize")) f->tol_quantize = atof(v);
        else if (!strcmp(a, "--method")) {
            int found = 0;
            for (int k = 1; k <= 16 && !found; k++)
                if (nn_calib_method_name((nn_calib_method)k) && !strcmp(v, nn_calib_method_name((nn_calib_method)k))) {
                    f->method = (nn_calib_method)k;
                    found = 1;
                }
            if (!found) { fprintf(stderr, "cv_flow: --method %s: unknown calibrator\n", v); return 0; }
        } else if (a[0] != '-' && !f->model) { f->model = a; continue; }
        else { usage(); return 0; }
        i++;
    }
    if (f->shapes.count) { fprintf(stderr, "cv_flow: inputs come from --eval and --calib, not --input\n"); return 0; }
    if (!f->model || !f->calib || !f->eval || !f->out) { usage(); return 0; }
    return 1;
}

int main(int argc, char **argv) {
    static flow f;
    if (!parse(&f, argc, argv)) return 2;
    if (mkdir(f.out, 0777) != 0 && errno != EEXIST) { perror(f.out); return 1; }
    f.stages = cJSON_CreateArray();
    char path[4096];
    nn_diag d = {0};
    cli_agreement a;
    int rc = 1;
    nn_graph *g0 = NULL, *g = NULL, *q = NULL;
    nn_quant_range *ranges = NULL;
    nn_quant_table table;
    nn_quant_table_init(&table, NULL);

    /* import: the model as given, and its outputs on the evaluation set. */
    double t0 = cli_now_ms();
    if (nn_onnx_load_file(f.model, NULL, &g0, &d)) { rc = die(f.model, &d); goto done; }
    if (g0->input_count != 1) { fprintf(stderr, "cv_flow: %s: one input expected\n", f.model); goto done; }
    if (load_eval(&f, g0) || run_and_compare(&f, g0, 0, 1, &a)) goto done;
    printf("import     %8.0f ms   %s: %u nodes, %u evaluation samples\n", cli_now_ms() - t0, f.model,
           g0->node_count, f.eval_count);

    /* optimize: simplify and fuse with the cv template; must not change the numbers. */
    t0 = cli_now_ms();
    nn_pass_desc up = {.target_opset = 14}; /* per-channel DequantizeLinear needs 13, HardSwish 14 */
    if (nn_onnx_load_file(f.model, NULL, &g, &d) ||
        nn_graph_infer_shapes(g, f.shapes.shapes, (uint32_t)f.shapes.shape_count, &d) ||
        (nn_graph_opset(g, "") < 14 && nn_graph_run_pass(g, "opset", &up, NULL, &d)) ||
        (f.passes ? nn_graph_run_passes(g, f.passes, NULL, NULL, &d) : nn_graph_run_template(g, "cv", NULL, NULL, &d))) {
        rc = die("optimize", &d);
        goto done;
    }
    snprintf(path, sizeof path, "%s/1_optimized.onnx", f.out);
    if (nn_onnx_save_file(g, path, NULL, &d)) { rc = die(path, &d); goto done; }
    if (run_and_compare(&f, g, 0, 0, &a)) goto done;
    if (!gate(&f, "optimize", cli_now_ms() - t0, &a, f.tol_optimize, path)) goto done;

    /* quantize: calibrate on the calibration set, all-int8 QDQ graph, from
       CLI_QUANT_PASSES (the cv passes without `act`: Relu/Clip become the
       requantize clamp in the lowering). */
    t0 = cli_now_ms();
    nn_graph_destroy(g);
    g = NULL;
    if (nn_onnx_load_file(f.model, NULL, &g, &d) ||
        nn_graph_infer_shapes(g, f.shapes.shapes, (uint32_t)f.shapes.shape_count, &d) ||
        (nn_graph_opset(g, "") < 14 && nn_graph_run_pass(g, "opset", &up, NULL, &d)) ||
        nn_graph_run_passes(g, CLI_QUANT_PASSES, NULL, NULL, &d)) {
        rc = die("quantize", &d);
        goto done;
    }
    ranges = (nn_quant_range *)calloc(g->tensor_count + 1, sizeof *ranges);
    if (!ranges || calibrate(&f, g, ranges)) goto done;
    nn_quant_desc qd = {.scheme = f.scheme, .weight_rounding = f.rounding, .preact16 = f.preact16};
    nn_quant_stats qs;
    if (f.qtable) {
        if (nn_quant_table_load_file(&table, f.qtable, &d)) { rc = die(f.qtable, &d); goto done; }
        qd.table = &table;
        qd.log = flow_log;
    }
    if (nn_quant_graph(g, ranges, &qd, &q, &qs, &d)) { rc = die("quantize", &d); goto done; }
    if (f.qtable)
        printf("           quantize table %s: %u rule(s), %u matching nothing; %u integer and %u float nodes\n",
               f.qtable, (unsigned)table.count, qs.unmatched_rules, qs.int_nodes, qs.float_nodes);
    snprintf(path, sizeof path, "%s/2_quantized.onnx", f.out);
    if (nn_onnx_save_file(q, path, NULL, &d)) { rc = die(path, &d); goto done; }
    if (run_and_compare(&f, q, 1, 0, &a)) goto done;
    if (!gate(&f, "quantize", cli_now_ms() - t0, &a, f.tol_quantize, path)) {
        worst_layers(&f, g, q);
        goto done;
    }
    /* compile: lower the QDQ graph to the target's program, save it, and
       run it on the simulator; the outputs must equal the fake-quant run's
       bit for bit (same integer kernels), so the gate is the quantize one. */
    t0 = cli_now_ms();
    uint32_t programs = 0;
    snprintf(path, sizeof path, "%s/3_compiled.nnb", f.out);
    nn_diag cd = {0};
    if (cli_compile_per_shape(q, f.target, &f.shapes, f.eval_in, f.eval_count, path, &f.ref[0][0], MAX_OUTPUTS, &a,
                              &programs, &cd) && die("compile", &cd))
        goto done;
    int compiled_ok = gate(&f, "compile", cli_now_ms() - t0, &a, f.tol_quantize, path);
    if (programs > 1)
        printf("           %u programs, one per evaluation input shape (the file holds the first sample's)\n", programs);
    if (!compiled_ok) goto done;
    rc = 0;

done:
    if (f.stages) {
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddStringToObject(rec, "title", "nnport CV flow");
        cJSON_AddStringToObject(rec, "model", f.model);
        cJSON_AddItemToObject(rec, "stages", f.stages);
        cli_flow_write_record(rec, f.out);
        cJSON_Delete(rec);
    }
    for (uint32_t s = 0; s < f.eval_count; s++) {
        free(f.eval_in[s].data);
        for (int o = 0; o < MAX_OUTPUTS; o++) free(f.ref[s][o].data);
    }
    free(ranges);
    nn_quant_table_deinit(&table);
    nn_graph_destroy(q);
    nn_graph_destroy(g);
    nn_graph_destroy(g0);
    return rc;
}
