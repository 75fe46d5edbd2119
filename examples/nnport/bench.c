/* nnport bench: load, prepare and run times of the reference executor on
   given inputs, as one JSON line (read by scripts/bench.sh). */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

/* --profile: time between observer calls, summed per op type over the
   timed runs (top-level nodes; a subgraph's nodes count in their parent). */
typedef struct { const char *op; double ms; long calls; } prof_row;
typedef struct { prof_row rows[256]; int count; double last; int on; const nn_graph *g; } prof_state;

static int prof_observe(void *user, const nn_graph *g, uint32_t node_index, const nn_value *outputs, uint32_t n) {
    prof_state *p = (prof_state *)user;
    (void)outputs; (void)n;
    if (g != p->g) return 0;
    double now = cli_now_ms();
    if (p->on) {
        const nn_node *nd = &g->nodes[node_index];
        /* depthwise and grouped convolutions run other kernels: own rows */
        const char *op = strcmp(nd->op_type, "Conv") == 0 && nn_node_attr_int(nd, "group", 1) > 1 ? "Conv (grouped)" : nd->op_type;
        int k = 0;
        while (k < p->count && strcmp(p->rows[k].op, op) != 0) k++;
        if (k == p->count && p->count < 256) { p->rows[k].op = op; p->rows[k].ms = 0; p->rows[k].calls = 0; p->count++; }
        if (k < 256) { p->rows[k].ms += now - p->last; p->rows[k].calls++; }
    }
    p->last = cli_now_ms();
    return 0;
}

static int by_ms(const void *a, const void *b) {
    const prof_row *x = (const prof_row *)a, *y = (const prof_row *)b;
    return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int cmd_bench(int argc, char **argv) {
    const char *path = NULL;
    long threads = 1, repeat = 10, warmup = 2;
    int profile = 0;
    static prof_state prof;
    cli_inputs in;
    memset(&in, 0, sizeof in);
    for (int i = 1; i < argc; i++) {
        int r = cli_take_input_option("bench", argc, argv, &i, &in);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r) continue;
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: nnport bench MODEL.onnx --input NAME=FILE.npy... [--threads N] [--repeat N] [--warmup N]\n"
                   "                    [--profile]   (per-op-type time on stderr)\n");
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--profile") == 0) { profile = 1; continue; }
        long *dst = strcmp(argv[i], "--threads") == 0 ? &threads : strcmp(argv[i], "--repeat") == 0 ? &repeat
                  : strcmp(argv[i], "--warmup") == 0 ? &warmup : NULL;
        if (dst && i + 1 < argc) {
            if (!cli_parse_int(argv[++i], dst == &warmup ? 0 : 1, 100000, dst))
                return cli_usage_error("bench", "%s takes a positive count, got '%s'", argv[i - 1], argv[i]);
            continue;
        }
        if (argv[i][0] == '-') return cli_usage_error("bench", "unknown option '%s' (or missing value)", argv[i]);
        path = argv[i];
    }
    if (!path) return cli_usage_error("bench", "give a MODEL.onnx");
    nn_graph *g = NULL;
    nn_exec *x = NULL;
    nn_value values[64];
    nn_diag d;
    int rc = CLI_EXIT_OK;
    memset(&d, 0, sizeof d);
    memset(values, 0, sizeof values);
    double t0 = cli_now_ms();
    if (cli_load_model(path, &g, &d)) return cli_fail(path, &d);
    double t1 = cli_now_ms();
    nn_exec_desc xd;
    memset(&xd, 0, sizeof xd);
    xd.threads = (int)threads;
    xd.input_shapes = in.shapes;
    xd.input_shape_count = (uint32_t)in.shape_count;
    if (profile) {
        prof.g = g;
        xd.observer = prof_observe;
        xd.observer_user = &prof;
    }
    double *times = (double *)calloc((size_t)repeat, sizeof(double));
    if (!times || g->input_count > 64) { rc = CLI_EXIT_FAIL; fprintf(stderr, "nnport: cannot bench %s\n", path); goto done; }
    if (nn_exec_create(g, &xd, &x, &d)) { rc = cli_fail(path, &d); goto done; }
    double t2 = cli_now_ms();
    rc = cli_bind_inputs("bench", g, x, &in, values);
    if (rc) goto done;
    for (long r = 0; r < warmup + repeat; r++) {
        double s = cli_now_ms();
        prof.on = r >= warmup;
        prof.last = s;
        if (nn_exec_run(x, &d)) { rc = cli_fail(path, &d); goto done; }
        if (r >= warmup) times[r - warmup] = cli_now_ms() - s;
    }
    qsort(times, (size_t)repeat, sizeof(double), cmp_double);
    if (profile) {
        double total = 0;
        qsort(prof.rows, (size_t)prof.count, sizeof prof.rows[0], by_ms);
        for (int k = 0; k < prof.count; k++) total += prof.rows[k].ms;
        fprintf(stderr, "%-24s %10s %7s %8s\n", "op", "ms/run", "share", "nodes");
        for (int k = 0; k < prof.count; k++)
            fprintf(stderr, "%-24s %10.3f %6.1f%% %8ld\n", prof.rows[k].op, prof.rows[k].ms / repeat,
                    total > 0 ? 100.0 * prof.rows[k].ms / total : 0.0, prof.rows[k].calls / repeat);
    }
    printf("{\"model\": \"%s\", \"threads\": %ld, \"load_ms\": %.3f, \"prepare_ms\": %.3f, \"median_ms\": %.3f, "
           "\"min_ms\": %.3f, \"runs\": %ld, \"peak_activation_bytes\": %zu, \"peak_rss_kib\": %ld}\n",
           path, threads, t1 - t0, t2 - t1, times[repeat / 2], times[0], repeat, nn_exec_peak_bytes(x),
           cli_peak_rss_kib());
done:
    for (int i = 0; i < 64; i++) nn_verify_value_free(&values[i], NULL);
    free(times);
    nn_exec_destroy(x);
    nn_graph_destroy(g);
    return rc;
}
