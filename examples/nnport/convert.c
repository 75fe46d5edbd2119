/* nnport convert: read a model and write it back through nn_onnx.h.

   The written model has every weight as an initializer in raw_data (Constant
   nodes holding weights become initializers, external data is brought
   inline), nodes in graph order, and the same bytes for the same input.
   It is written to OUT.tmp and renamed, so a failure leaves no file. */
#include "cli.h"
#include <string.h>

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: nnport convert MODEL.onnx -o OUT.onnx\n");
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) { out = argv[++i]; continue; }
        if (argv[i][0] == '-') return cli_usage_error("convert", "unknown option '%s' (or missing value)", argv[i]);
        if (in) return cli_usage_error("convert", "one model at a time");
        in = argv[i];
    }
    if (!in || !out) return cli_usage_error("convert", "give MODEL.onnx and -o OUT.onnx");
    nn_graph *g;
    nn_diag d;
    memset(&d, 0, sizeof d);
    if (cli_load_model(in, &g, &d)) return cli_fail(in, &d);
    nn_status st = nn_onnx_save_file(g, out, NULL, &d);
    nn_graph_destroy(g);
    if (st) return cli_fail(out, &d);
    printf("wrote %s\n", out);
    return CLI_EXIT_OK;
}
