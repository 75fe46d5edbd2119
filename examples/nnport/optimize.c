/* nnport optimize: run graph passes over a model, check that its numbers did
   not change, and write it back.

   The optimized and the original model run in the reference executor on the
   same inputs: the --input .npy files, else pseudo-random (float inputs
   uniform in [-1, 1), other types zero) of the fixed input shapes; every
   output must reach cosine >= --cos (default 0.999999) and max abs error
   <= --peak-rel (1e-5) x max |original|.  A failed gate exits 1 and writes
   nothing.  The before/after table counts nodes per op type, parameters,
   MACs (nn_graph_get_stats) and the executor's peak activation bytes. */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

#define OPTIMIZE_DEFAULT_PASSES "fold,identity,bn,dce"

static void log_pass(void *user, const char *pass, const char *message) {
    (void)user;
    printf("  pass %-10s %s\n", pass, message);
}

typedef struct run_figures { size_t peak[2]; } run_figures;

/* Prints nodes per op type of a and b side by side, then totals. */
static void print_table(const nn_graph *a, const nn_graph *b, const run_figures *f) {
    const char *ops[512];
    uint32_t n = 0;
    const nn_graph *gs[2] = {a, b};
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < gs[k]->node_count; i++) {
            uint32_t j = 0;
            while (j < n && strcmp(ops[j], gs[k]->nodes[i].op_type) != 0) j++;
            if (j == n && n < 512) ops[n++] = gs[k]->nodes[i].op_type;
        }
    printf("%-28s %10s %10s\n", "op", "before", "after");
    for (uint32_t j = 0; j < n; j++) {
        uint32_t c[2] = {0, 0};
        for (int k = 0; k < 2; k++)
            for (uint32_t i = 0; i < gs[k]->node_count; i++) c[k] += strcmp(ops[j], gs[k]->nodes[i].op_type) == 0;
        printf("%-28s %10u %10u%s\n", ops[j], c[0], c[1], c[0] != c[1] ? "  *" : "");
    }
    nn_graph_stats sa, sb;
    nn_graph_get_stats(a, &sa);
    nn_graph_get_stats(b, &sb);
    printf("%-28s %10u %10u\n", "nodes", a->node_count, b->node_count);
    printf("%-28s %10llu %10llu\n", "parameters", (unsigned long long)sa.param_count, (unsigned long long)sb.param_count);
    char h0[32], h1[32];
    printf("%-28s %10s %10s%s\n", "MACs", cli_human((double)sa.macs, h0, sizeof h0), cli_human((double)sb.macs, h1, sizeof h1),
           sa.unknown_mac_nodes || sb.unknown_mac_nodes ? "  (some shapes unknown)" : "");
    if (f) printf("%-28s %10s %10s\n", "peak activation bytes", cli_human((double)f->peak[0], h0, sizeof h0),
                  cli_human((double)f->peak[1], h1, sizeof h1));
}

static void fill_input(nn_value *v, uint32_t seed) {
    size_t n = nn_value_count(v);
    memset(v->data, 0, v->bytes);
    if (v->dtype != NN_DTYPE_FLOAT) return;
    uint32_t s = seed * 2654435761u + 7u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        ((float *)v->data)[i] = (float)((s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
    }
}

/* Runs g on values[] (one per input); the exec is returned for its outputs. */
static nn_status run_model(const nn_graph *g, const nn_input_shape *shapes, uint32_t count, const nn_value *values,
                           nn_exec **out, nn_diag *d) {
    nn_exec_desc xd;
    memset(&xd, 0, sizeof xd);
    xd.threads = 4;
    xd.input_shapes = shapes;
    xd.input_shape_count = count;
    nn_status st = nn_exec_create(g, &xd, out, d);
    for (uint32_t i = 0; st == NN_OK && i < g->input_count; i++) st = nn_exec_set_input(*out, i, &values[i], d);
    if (st == NN_OK) st = nn_exec_run(*out, d);
    if (st && *out) { nn_exec_destroy(*out); *out = NULL; }
    return st;
}

/* Compares every output of the two runs; returns 1 when all pass the gate,
   0 when one fails, -1 on error (printed). */
/* The preprocessing folded into the model (--preprocess): the original model
   gets x' = (x[perm c] - mean[c]) * scale[c] of what the optimized one gets. */
static const nn_preprocess_desc *g_pre;

/* Returns a malloc'd copy of v with g_pre applied (v float32 NCHW). */
static void *preprocess_copy(const nn_value *v) {
    float *x = (float *)malloc(v->bytes ? v->bytes : 1);
    if (!x) return NULL;
    memcpy(x, v->data, v->bytes);
    if (v->dtype != NN_DTYPE_FLOAT || v->shape.rank < 2 || v->shape.dims[1] != (int64_t)g_pre->channels) return x;
    size_t C = g_pre->channels, N = (size_t)v->shape.dims[0], plane = N * C > 0 ? nn_value_count(v) / (N * C) : 0;
    const float *src = (const float *)v->data;
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++) {
            size_t from = g_pre->swap_channels ? C - 1 - c : c;
            float mu = g_pre->mean ? g_pre->mean[c] : 0.0f, sc = g_pre->scale ? g_pre->scale[c] : 1.0f;
            for (size_t e = 0; e < plane; e++)
                x[(n * C + c) * plane + e] = (src[(n * C + from) * plane + e] - mu) * sc;
        }
    return x;
}

static int compare_runs(const char *in, const nn_graph *g0, const nn_graph *g1, const cli_inputs *inputs, double min_cos,
                        double peak_rel, run_figures *fig) {
    uint32_t ni = g1->input_count;
    nn_value *vals = (nn_value *)calloc(ni + 1, sizeof(nn_value));
    nn_input_shape *shapes = (nn_input_shape *)calloc(ni + 1, sizeof(nn_input_shape));
    nn_diag d;
    memset(&d, 0, sizeof d);
    int rc = -1;
    nn_exec *x0 = NULL, *x1 = NULL;
    for (uint32_t i = 0; i < ni && inputs->count; i++) { /* real inputs: --input NAME=FILE.npy */
        const nn_tensor *t = &g1->tensors[g1->inputs[i].id];
        int k = 0;
        while (k < inputs->count && strcmp(inputs->names[k], t->name) != 0) k++;
        if (k == inputs->count) {
            fprintf(stderr, "nnport optimize: model input '%s' needs --input %s=FILE.npy\n", t->name, t->name);
            goto done;
        }
        if (nn_verify_load_npy_file(inputs->files[k], &vals[i], NULL, &d)) { cli_fail(inputs->files[k], &d); goto done; }
        shapes[i].name = t->name;
        shapes[i].shape = vals[i].shape;
    }
    for (uint32_t i = 0; i < ni && !inputs->count; i++) {
        const nn_tensor *t = &g1->tensors[g1->inputs[i].id];
        char buf[64];
        size_t bytes;
        int ok;
        if (!nn_shape_is_static(&t->shape) || !nn_dtype_bytes_for(t->dtype, nn_shape_count(&t->shape, &ok), &bytes)) {
            fprintf(stderr, "nnport optimize: input '%s' has shape %s: fix it with --shape %s=DIMS\n", t->name,
                    nn_shape_str(&t->shape, buf, sizeof buf), t->name);
            goto done;
        }
        vals[i] = nn_value_make(t->dtype, t->shape, malloc(bytes ? bytes : 1));
        fill_input(&vals[i], i + 1);
        shapes[i].name = t->name;
        shapes[i].shape = t->shape;
    }
    void *saved[64] = {0};
    for (uint32_t i = 0; g_pre && i < ni && i < 64; i++)
        if (strcmp(g1->tensors[g1->inputs[i].id].name, g_pre->input) == 0) {
            saved[i] = vals[i].data;
            vals[i].data = preprocess_copy(&vals[i]);
        }
    nn_status st0 = run_model(g0, shapes, ni, vals, &x0, &d);
    for (uint32_t i = 0; i < ni && i < 64; i++)
        if (saved[i]) { free(vals[i].data); vals[i].data = saved[i]; }
    if (st0) { cli_fail(in, &d); goto done; }
    if (run_model(g1, shapes, ni, vals, &x1, &d)) { cli_fail("optimized model", &d); goto done; }
    fig->peak[0] = nn_exec_peak_bytes(x0);
    fig->peak[1] = nn_exec_peak_bytes(x1);
    printf("\n%-28s %-14s %12s %11s %11s  %s\n", "output", "shape", "cosine", "max_abs", "max|ref|", "gate");
    rc = 1;
    for (uint32_t o = 0; o < g0->output_count; o++) {
        nn_verify_stats s;
        const nn_value *a = nn_exec_output(x0, o), *b = nn_exec_output(x1, o);
        char buf[64];
        if (nn_verify_compare(a, b, NULL, &s, &d)) { cli_fail("compare", &d); rc = -1; break; }
        int ok = s.cosine >= min_cos && s.max_abs_err <= peak_rel * s.max_abs_ref;
        printf("%-28.28s %-14s %12.9f %11.3e %11.3e  %s\n", g0->tensors[g0->outputs[o].id].name,
               nn_shape_str(&a->shape, buf, sizeof buf), s.cosine, s.max_abs_err, s.max_abs_ref, ok ? "ok" : "FAIL");
        if (!ok) rc = 0;
    }
done:
    if (x0) nn_exec_destroy(x0);
    if (x1) nn_exec_destroy(x1);
    for (uint32_t i = 0; i < ni; i++) {
        if (inputs->count) nn_verify_value_free(&vals[i], NULL);
        else free(vals[i].data);
    }
    free(vals);
    free(shapes);
    return rc;
}

/* "a,b,c" into up to cap floats; returns the count or -1. */
static int parse_floats(const char *text, float *out, int cap) {
    int n = 0;
    while (*text) {
        char *end;
        if (n == cap) return -1;
        out[n++] = strtof(text, &end);
        if (end == text || (*end && *end != ',')) return -1;
        text = *end ? end + 1 : end;
    }
    return n;
}

/* The user edits, in command-line order, applied before the passes. */
typedef struct edit { int kind; const char *a, *b, *c; } edit; /* 0 attr (node, attr, value), 1 const (name, file) */

static nn_status apply_edits(nn_graph *g, const edit *e, int count, const nn_preprocess_desc *pre, nn_diag *d) {
    for (int i = 0; i < count; i++) {
        nn_status st;
        if (e[i].kind == 0) st = nn_graph_patch_attr(g, e[i].a, e[i].b, e[i].c, d);
        else {
            nn_value v;
            memset(&v, 0, sizeof v);
            st = nn_verify_load_npy_file(e[i].b, &v, NULL, d);
            if (st == NN_OK) st = nn_graph_patch_const(g, e[i].a, &v, d);
            nn_verify_value_free(&v, NULL);
        }
        if (st) return st;
    }
    return pre ? nn_graph_fold_preprocess(g, pre, d) : NN_OK;
}

int cmd_optimize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *passes = OPTIMIZE_DEFAULT_PASSES, *tmpl = NULL;
    int provenance = 0, verbose = 0, n_edits = 0;
    double min_cos = 0.999999, peak_rel = 1e-5;
    edit edits[64];
    static float mean[64], scale[64];
    int n_mean = 0, n_scale = 0;
    long target_opset = 0;
    nn_preprocess_desc pre;
    memset(&pre, 0, sizeof pre);
    cli_inputs inputs;
    memset(&inputs, 0, sizeof inputs);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: nnport optimize MODEL.onnx -o OUT.onnx [--template cv|lvm|llm | --passes a,b,c]\n"
                   "                        [--shape NAME=DIMS]... [--input NAME=FILE.npy]...\n"
                   "                        [--set-attr NODE ATTR=VALUE]... [--set-const NAME=FILE.npy]...\n"
                   "                        [--preprocess INPUT [--mean a,b,c] [--scale a,b,c] [--swap-channels] [--approx]]\n"
                   "                        [--provenance] [--verbose] [--cos MIN] [--peak-rel K] [--opset N]\n"
                   "  --template    a named pass list (below); --passes a comma-separated list (default %s)\n"
                   "  --shape       fix an input's shape (Shape chains then fold to constants)\n"
                   "  --input       real inputs for the gate (else pseudo-random); their shapes count the MACs\n"
                   "                (only --shape fixes shapes for the passes)\n"
                   "  --set-attr    set an attribute of a node (\"3\", \"0.5\", \"1,1,2,2\", a string)\n"
                   "  --set-const   replace an initializer's data (same dtype and shape)\n"
                   "  --preprocess  fold x' = (x[perm c] - mean) * scale into the Conv(s) reading INPUT; the\n"
                   "                model then takes raw x.  A mean does not fold exactly through zero padding:\n"
                   "                refused unless --approx.  The gate feeds the original model x'.\n"
                   "  --provenance  print each optimized node with the ONNX nodes it came from\n"
                   "  --verbose     log every rewrite of every pass\n"
                   "  --opset       the version the opset pass upgrades to (default 23; 13 suffices for\n"
                   "                per-channel quantization)\n"
                   "  gate per output: cosine >= MIN (default 0.999999) and max abs error <= K x max |original|\n"
                   "  (default 1e-5); a failure writes nothing\n"
                   "templates:\n",
                   OPTIMIZE_DEFAULT_PASSES);
            for (size_t t = 0; nn_graph_template_at(t); t++)
                printf("  %-10s %s\n", nn_graph_template_at(t), nn_graph_template_passes(nn_graph_template_at(t)));
            printf("passes:\n");
            for (size_t p = 0; nn_pass_at(p); p++) printf("  %-10s %s\n", nn_pass_at(p)->name, nn_pass_at(p)->help);
            return CLI_EXIT_OK;
        }
        int r = cli_take_input_option("optimize", argc, argv, &i, &inputs);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) { out = argv[++i]; continue; }
        if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc) { passes = argv[++i]; continue; }
        if (strcmp(argv[i], "--template") == 0 && i + 1 < argc) {
            tmpl = argv[++i];
            if (!nn_graph_template_passes(tmpl)) return cli_usage_error("optimize", "no template named '%s' (cv, lvm, llm)", tmpl);
            continue;
        }
        if (strcmp(argv[i], "--provenance") == 0) { provenance = 1; continue; }
        if (strcmp(argv[i], "--verbose") == 0) { verbose = 1; continue; }
        if (strcmp(argv[i], "--opset") == 0 && i + 1 < argc) {
            if (!cli_parse_int(argv[++i], 7, 23, &target_opset))
                return cli_usage_error("optimize", "--opset takes 7..23, got '%s'", argv[i]);
            continue;
        }
        if (strcmp(argv[i], "--set-attr") == 0 && i + 2 < argc) {
            const char *eq = strchr(argv[i + 2], '=');
            if (!eq || eq == argv[i + 2] || n_edits == 64)
                return cli_usage_error("optimize", "--set-attr takes NODE ATTR=VALUE, got '%s'", argv[i + 2]);
            static char attr_names[64][128];
            snprintf(attr_names[n_edits], sizeof attr_names[0], "%.*s", (int)(eq - argv[i + 2]), argv[i + 2]);
            edits[n_edits].kind = 0;
            edits[n_edits].a = argv[i + 1];
            edits[n_edits].b = attr_names[n_edits];
            edits[n_edits].c = eq + 1;
            n_edits++;
            i += 2;
            continue;
        }
        if (strcmp(argv[i], "--set-const") == 0 && i + 1 < argc) {
            static char const_names[64][256];
            const char *file = n_edits < 64 ? cli_split_pair(argv[i + 1], const_names[n_edits], sizeof const_names[0]) : NULL;
            if (!file || !*file) return cli_usage_error("optimize", "--set-const takes NAME=FILE.npy, got '%s'", argv[i + 1]);
            edits[n_edits].kind = 1;
            edits[n_edits].a = const_names[n_edits];
            edits[n_edits].b = file;
            n_edits++;
            i++;
            continue;
        }
        if (strcmp(argv[i], "--preprocess") == 0 && i + 1 < argc) { pre.input = argv[++i]; continue; }
        if ((strcmp(argv[i], "--mean") == 0 || strcmp(argv[i], "--scale") == 0) && i + 1 < argc) {
            int is_mean = argv[i][2] == 'm';
            int n = parse_floats(argv[i + 1], is_mean ? mean : scale, 64);
            if (n <= 0) return cli_usage_error("optimize", "%s takes comma-separated numbers, got '%s'", argv[i], argv[i + 1]);
            if (is_mean) n_mean = n;
            else n_scale = n;
            i++;
            continue;
        }
        if (strcmp(argv[i], "--swap-channels") == 0) { pre.swap_channels = 1; continue; }
        if (strcmp(argv[i], "--approx") == 0) { pre.allow_approx = 1; continue; }
        if ((strcmp(argv[i], "--cos") == 0 || strcmp(argv[i], "--peak-rel") == 0) && i + 1 < argc) {
            char *end;
            double v = strtod(argv[i + 1], &end);
            if (*end || !(v >= 0)) return cli_usage_error("optimize", "%s takes a number, got '%s'", argv[i], argv[i + 1]);
            if (argv[i][2] == 'c') min_cos = v;
            else peak_rel = v;
            i++;
            continue;
        }
        if (argv[i][0] == '-') return cli_usage_error("optimize", "unknown option '%s' (or missing value)", argv[i]);
        if (in) return cli_usage_error("optimize", "one model at a time");
        in = argv[i];
    }
    if (!in || !out) return cli_usage_error("optimize", "give MODEL.onnx and -o OUT.onnx");
    if ((n_mean || n_scale || pre.swap_channels || pre.allow_approx) && !pre.input)
        return cli_usage_error("optimize", "--mean/--scale/--swap-channels/--approx go with --preprocess INPUT");
    if (pre.input) {
        if (n_mean && n_scale && n_mean != n_scale) return cli_usage_error("optimize", "--mean and --scale need the same count");
        pre.channels = (uint32_t)(n_mean ? n_mean : n_scale ? n_scale : 3);
        pre.mean = n_mean ? mean : NULL;
        pre.scale = n_scale ? scale : NULL;
        g_pre = &pre;
    }
    if (tmpl) passes = nn_graph_template_passes(tmpl);
    for (const char *p = passes; *p;) { /* check the names before any work */
        size_t len = strcspn(p, ","), k = 0;
        while (len && nn_pass_at(k) && !(strlen(nn_pass_at(k)->name) == len && strncmp(nn_pass_at(k)->name, p, len) == 0)) k++;
        if (len && !nn_pass_at(k))
            return cli_usage_error("optimize", "%s%s%sno pass named '%.*s' (see --help)", tmpl ? "template " : "",
                                   tmpl ? tmpl : "", tmpl ? ": " : "", (int)len, p);
        p += len + (p[len] == ',');
    }
    nn_graph *g0, *g1;
    nn_diag d;
    memset(&d, 0, sizeof d);
    if (cli_load_model(in, &g0, &d)) return cli_fail(in, &d);
    if (cli_load_model(in, &g1, &d)) { nn_graph_destroy(g0); return cli_fail(in, &d); }
    int rc = CLI_EXIT_FAIL;
    nn_pass_desc pd;
    memset(&pd, 0, sizeof pd);
    pd.log = log_pass;
    pd.verbose = verbose;
    pd.target_opset = (int)target_opset;
    nn_pass_stats st;
    /* Only --shape fixes shapes for the passes (a model optimized on one
       --input keeps its symbolic dims); the --input shapes (a --shape for
       the same input wins) count MACs in the table, after the model is
       written. */
    cli_inputs stat_shapes = inputs;
    for (int j = 0; j < stat_shapes.shape_count; j++) stat_shapes.shapes[j].name = stat_shapes.shape_names[j];
    for (int k = 0; k < inputs.count && stat_shapes.shape_count < 64; k++) {
        int seen = 0;
        for (int j = 0; j < stat_shapes.shape_count; j++) seen |= strcmp(stat_shapes.shape_names[j], inputs.names[k]) == 0;
        nn_value v;
        if (seen) continue;
        if (nn_verify_load_npy_file(inputs.files[k], &v, NULL, &d)) { cli_fail(inputs.files[k], &d); goto done; }
        int j = stat_shapes.shape_count++;
        snprintf(stat_shapes.shape_names[j], sizeof stat_shapes.shape_names[0], "%s", inputs.names[k]);
        stat_shapes.shapes[j].name = stat_shapes.shape_names[j];
        stat_shapes.shapes[j].shape = v.shape;
        nn_verify_value_free(&v, NULL);
    }
    if (nn_graph_infer_shapes(g0, stat_shapes.shapes, (uint32_t)stat_shapes.shape_count, &d) ||
        nn_graph_infer_shapes(g1, inputs.shapes, (uint32_t)inputs.shape_count, &d) ||
        apply_edits(g1, edits, n_edits, pre.input ? &pre : NULL, &d) ||
        nn_graph_run_passes(g1, passes, &pd, &st, &d)) {
        cli_fail(in, &d);
        goto done;
    }
    if (n_edits && nn_graph_infer_shapes(g1, inputs.shapes, (uint32_t)inputs.shape_count, &d)) {
        cli_fail("edited model", &d);
        goto done;
    }
    if (provenance) {
        printf("\n%-40s %s\n", "node", "from ONNX nodes");
        for (uint32_t i = 0; i < g1->node_count; i++)
            printf("%-40s %s\n", g1->nodes[i].name, g1->nodes[i].origin ? g1->nodes[i].origin : "");
    }
    run_figures fig;
    memset(&fig, 0, sizeof fig);
    int cmp = compare_runs(in, g0, g1, &inputs, min_cos, peak_rel, &fig);
    if (cmp == 0)
        fprintf(stderr, "nnport optimize: an output is outside the gate (cos >= %g, max abs <= %g x peak); %s not written\n",
                min_cos, peak_rel, out);
    if (cmp > 0 && nn_onnx_save_file(g1, out, NULL, &d)) { cli_fail(out, &d); cmp = -1; }
    if (cmp > 0) rc = CLI_EXIT_OK;
    /* the table: g1 is written, so its shapes may now be fixed for the MAC count */
    if (stat_shapes.shape_count > inputs.shape_count)
        nn_graph_infer_shapes(g1, stat_shapes.shapes, (uint32_t)stat_shapes.shape_count, &d);
    printf("\n");
    print_table(g0, g1, cmp >= 0 ? &fig : NULL);
    if (rc == CLI_EXIT_OK) printf("\nwrote %s\n", out);
done:
    nn_graph_destroy(g0);
    nn_graph_destroy(g1);
    return rc;
}
