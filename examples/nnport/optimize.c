/* nnport optimize: run graph passes over a model, check that its numbers did
   not change, and write it back.

   The optimized and the original model run in the reference executor on the
   same pseudo-random inputs (float inputs uniform in [-1, 1), other types
   zero) of the fixed input shapes; every output must reach cosine >= --cos
   (default 0.999999) and max abs error <= --peak-rel (1e-5) x max |original|.
   A failed gate exits 1 and writes nothing. */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

#define OPTIMIZE_DEFAULT_PASSES "fold,identity,bn,dce"

static void log_pass(void *user, const char *pass, const char *message) {
    (void)user;
    printf("  pass %-9s %s\n", pass, message);
}

/* Prints nodes per op type of a and b side by side, then totals. */
static void print_table(const nn_graph *a, const nn_graph *b) {
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
static int compare_runs(const char *in, const nn_graph *g0, const nn_graph *g1, double min_cos, double peak_rel) {
    uint32_t ni = g1->input_count;
    nn_value *vals = (nn_value *)calloc(ni + 1, sizeof(nn_value));
    nn_input_shape *shapes = (nn_input_shape *)calloc(ni + 1, sizeof(nn_input_shape));
    nn_diag d;
    memset(&d, 0, sizeof d);
    int rc = -1;
    nn_exec *x0 = NULL, *x1 = NULL;
    for (uint32_t i = 0; i < ni; i++) {
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
    if (run_model(g0, shapes, ni, vals, &x0, &d)) { cli_fail(in, &d); goto done; }
    if (run_model(g1, shapes, ni, vals, &x1, &d)) { cli_fail("optimized model", &d); goto done; }
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
    for (uint32_t i = 0; i < ni; i++) free(vals[i].data);
    free(vals);
    free(shapes);
    return rc;
}

int cmd_optimize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *passes = OPTIMIZE_DEFAULT_PASSES;
    int provenance = 0;
    double min_cos = 0.999999, peak_rel = 1e-5;
    cli_inputs inputs;
    memset(&inputs, 0, sizeof inputs);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: nnport optimize MODEL.onnx -o OUT.onnx [--passes a,b,c] [--shape NAME=DIMS]...\n"
                   "                        [--provenance] [--cos MIN] [--peak-rel K]\n"
                   "  --passes      comma-separated pass list (default %s)\n"
                   "  --shape       fix an input's shape (Shape chains then fold to constants)\n"
                   "  --provenance  print each optimized node with the ONNX nodes it came from\n"
                   "  gate per output on pseudo-random inputs: cosine >= MIN (default 0.999999) and\n"
                   "  max abs error <= K x max |original| (default 1e-5); a failure writes nothing\n"
                   "passes:\n",
                   OPTIMIZE_DEFAULT_PASSES);
            for (size_t p = 0; nn_pass_at(p); p++) printf("  %-10s %s\n", nn_pass_at(p)->name, nn_pass_at(p)->help);
            return CLI_EXIT_OK;
        }
        int r = cli_take_input_option("optimize", argc, argv, &i, &inputs);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) { out = argv[++i]; continue; }
        if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc) { passes = argv[++i]; continue; }
        if (strcmp(argv[i], "--provenance") == 0) { provenance = 1; continue; }
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
    if (inputs.count) return cli_usage_error("optimize", "--input is not supported yet; inputs are pseudo-random");
    for (const char *p = passes; *p;) { /* check the names before any work */
        size_t len = strcspn(p, ","), k = 0;
        while (len && nn_pass_at(k) && !(strlen(nn_pass_at(k)->name) == len && strncmp(nn_pass_at(k)->name, p, len) == 0)) k++;
        if (len && !nn_pass_at(k)) return cli_usage_error("optimize", "no pass named '%.*s' (see --help)", (int)len, p);
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
    nn_pass_stats st;
    if (nn_graph_infer_shapes(g1, inputs.shapes, (uint32_t)inputs.shape_count, &d) ||
        nn_graph_run_passes(g1, passes, &pd, &st, &d)) {
        cli_fail(in, &d);
        goto done;
    }
    printf("\n");
    print_table(g0, g1);
    if (provenance) {
        printf("\n%-40s %s\n", "node", "from ONNX nodes");
        for (uint32_t i = 0; i < g1->node_count; i++)
            printf("%-40s %s\n", g1->nodes[i].name, g1->nodes[i].origin ? g1->nodes[i].origin : "");
    }
    int cmp = compare_runs(in, g0, g1, min_cos, peak_rel);
    if (cmp < 0) goto done;
    if (cmp == 0) {
        fprintf(stderr, "nnport optimize: an output is outside the gate (cos >= %g, max abs <= %g x peak); %s not written\n",
                min_cos, peak_rel, out);
        goto done;
    }
    if (nn_onnx_save_file(g1, out, NULL, &d)) { cli_fail(out, &d); goto done; }
    printf("\nwrote %s\n", out);
    rc = CLI_EXIT_OK;
done:
    nn_graph_destroy(g0);
    nn_graph_destroy(g1);
    return rc;
}
