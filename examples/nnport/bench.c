/* nnport bench: load, prepare and run times of the reference executor on
   given inputs, as one JSON line (read by scripts/bench.sh). */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int cmd_bench(int argc, char **argv) {
    const char *path = NULL;
    long threads = 1, repeat = 10, warmup = 2;
    cli_inputs in;
    memset(&in, 0, sizeof in);
    for (int i = 1; i < argc; i++) {
        int r = cli_take_input_option("bench", argc, argv, &i, &in);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r) continue;
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: nnport bench MODEL.onnx --input NAME=FILE.npy... [--threads N] [--repeat N] [--warmup N]\n");
            return CLI_EXIT_OK;
        }
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
    double *times = (double *)calloc((size_t)repeat, sizeof(double));
    if (!times || g->input_count > 64) { rc = CLI_EXIT_FAIL; fprintf(stderr, "nnport: cannot bench %s\n", path); goto done; }
    if (nn_exec_create(g, &xd, &x, &d)) { rc = cli_fail(path, &d); goto done; }
    double t2 = cli_now_ms();
    rc = cli_bind_inputs("bench", g, x, &in, values);
    if (rc) goto done;
    for (long r = 0; r < warmup + repeat; r++) {
        double s = cli_now_ms();
        if (nn_exec_run(x, &d)) { rc = cli_fail(path, &d); goto done; }
        if (r >= warmup) times[r - warmup] = cli_now_ms() - s;
    }
    qsort(times, (size_t)repeat, sizeof(double), cmp_double);
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
