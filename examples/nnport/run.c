/* nnport run: the float reference executor on .npy inputs.

   Writes DIR/output_<i>.npy for the i-th graph output and DIR/outputs.json
   (index -> name, shape, dtype).  Every file is written under a temporary
   name first and renamed only when all of them are complete, so a failed
   run leaves no half-written outputs.

   --bundle DIR also writes a verification bundle in the ONNX backend-test
   layout, so any runtime can be diffed against us (the conformance runner
   reads it as it reads the ONNX test data):
     DIR/model.onnx                     byte copy of MODEL.onnx
     DIR/test_data_set_0/input_<i>.pb   TensorProto, named as the graph input
     DIR/test_data_set_0/output_<i>.pb  TensorProto, named as the graph output
     DIR/bundle.json                    SHA-256 of every file above, the source
                                        path and the producer
   The bundle is built in DIR.part and renamed to DIR when complete; DIR
   must not exist yet. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "bundle.h"
#include "nn_quant.h"

#define RUN_MAX_OUTPUTS 1024
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void run_help(void) {
    printf("usage: nnport run MODEL.onnx --input NAME=FILE.npy... --output-dir DIR\n"
           "                  [--shape NAME=DIMS]... [--threads N] [--bundle BUNDLE_DIR] [--float]\n"
           "  a compiled model.nnb runs on the simulator (nnport compile);\n"
           "  a QDQ model (QuantizeLinear/DequantizeLinear) runs through the fake-quant\n"
           "  executor with integer kernels; --float runs it with the float reference\n"
           "  writes DIR/output_<i>.npy for each model output and DIR/outputs.json;\n"
           "  --bundle also writes model, inputs and outputs in the ONNX backend-test\n"
           "  layout (test_data_set_0/*.pb) with SHA-256 hashes in bundle.json\n");
}

/* Writes the verification bundle (see the file comment; bundle.c); CLI exit code. */
static int write_bundle(const char *dir, const char *model_path, const nn_graph *g, const nn_value *const *outs,
                        const nn_value *inputs) {
    char prod[64];
    snprintf(prod, sizeof prod, "nnport run %d.%d.%d", NN_VERSION_MAJOR, NN_VERSION_MINOR, NN_VERSION_PATCH);
    int rc = cli_write_bundle(dir, model_path, g, outs, inputs, prod);
    if (rc == CLI_EXIT_OK)
        printf("wrote the verification bundle %s (model, %u inputs, %u outputs, bundle.json)\n", dir, g->input_count,
               g->output_count);
    return rc;
}

int cmd_run(int argc, char **argv) {
    const char *path = NULL, *outdir = NULL, *bundle = NULL;
    int use_float = 0;
    long threads = 1;
    cli_inputs in;
    memset(&in, 0, sizeof in);
    for (int i = 1; i < argc; i++) {
        int r = cli_take_input_option("run", argc, argv, &i, &in);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r) continue;
        if (strcmp(argv[i], "--help") == 0) { run_help(); return CLI_EXIT_OK; }
        if (strcmp(argv[i], "--output-dir") == 0 && i + 1 < argc) { outdir = argv[++i]; continue; }
        if (strcmp(argv[i], "--bundle") == 0 && i + 1 < argc) { bundle = argv[++i]; continue; }
        if (strcmp(argv[i], "--float") == 0) { use_float = 1; continue; }
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (!cli_parse_int(argv[++i], 1, 256, &threads)) return cli_usage_error("run", "--threads takes 1..256, got '%s'", argv[i]);
            continue;
        }
        if (argv[i][0] == '-') return cli_usage_error("run", "unknown option '%s' (or missing value)", argv[i]);
        if (path) return cli_usage_error("run", "one model at a time ('%s' and '%s')", path, argv[i]);
        path = argv[i];
    }
    if (!path) return cli_usage_error("run", "give a MODEL.onnx");
    if (!outdir) return cli_usage_error("run", "give --output-dir DIR");
    int nnb_rc = cli_run_nnb(path, &in, outdir); /* a compiled .nnb: the simulator */
    if (nnb_rc >= 0) return nnb_rc;

    nn_graph *g = NULL;
    nn_exec *x = NULL;
    nn_qexec *qx = NULL;
    nn_value values[64];
    const nn_value *outs[RUN_MAX_OUTPUTS];
    nn_diag d;
    int rc = CLI_EXIT_OK;
    memset(&d, 0, sizeof d);
    memset(values, 0, sizeof values);
    if (cli_load_model(path, &g, &d)) return cli_fail(path, &d);
    if (g->input_count > 64 || g->output_count > RUN_MAX_OUTPUTS) {
        nn_graph_destroy(g);
        fprintf(stderr, "nnport: %s: more than 64 inputs or %d outputs\n", path, RUN_MAX_OUTPUTS);
        return CLI_EXIT_FAIL;
    }
    if (!use_float && nn_quant_graph_is_qdq(g)) {
        /* A QDQ model runs through the fake-quant executor: integer kernels,
           bit-faithful to the compiled program (docs/QUANTIZATION.md). */
        if (in.shape_count) fprintf(stderr, "nnport run: --shape is ignored for a QDQ model (its shapes are fixed)\n");
        if (nn_qexec_create(g, NULL, &qx, &d)) { rc = cli_fail(path, &d); goto done; }
        rc = cli_load_inputs("run", g, &in, values);
        for (uint32_t i = 0; rc == CLI_EXIT_OK && i < g->input_count; i++)
            if (nn_qexec_set_input(qx, i, &values[i], &d)) rc = cli_fail(cli_input_file(g, &in, i), &d);
        if (rc) goto done;
        if (nn_qexec_run(qx, &d)) { rc = cli_fail(path, &d); goto done; }
        for (uint32_t i = 0; i < g->output_count; i++) outs[i] = nn_qexec_output(qx, i);
        fprintf(stderr, "nnport run: QDQ model: fake-quant executor (integer kernels); --float for the float reference\n");
    } else {
        nn_exec_desc xd;
        memset(&xd, 0, sizeof xd);
        xd.threads = (int)threads;
        xd.input_shapes = in.shapes;
        xd.input_shape_count = (uint32_t)in.shape_count;
        if (nn_exec_create(g, &xd, &x, &d)) { rc = cli_fail(path, &d); goto done; }
        rc = cli_bind_inputs("run", g, x, &in, values);
        if (rc) goto done;
        if (nn_exec_run(x, &d)) { rc = cli_fail(path, &d); goto done; }
        for (uint32_t i = 0; i < g->output_count; i++) outs[i] = nn_exec_output(x, i);
    }
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "nnport: %s: cannot create the output directory: %s\n", outdir, strerror(errno));
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    {
        /* All files go to .tmp names first; renamed together once complete. */
        size_t plen = strlen(outdir) + 64;
        char *tmp = (char *)malloc(plen), *fin = (char *)malloc(plen);
        uint32_t written = 0;
        for (uint32_t i = 0; tmp && fin && i < g->output_count && rc == CLI_EXIT_OK; i++) {
            snprintf(tmp, plen, "%s/output_%u.npy.part", outdir, i);
            if (nn_verify_save_npy_file(tmp, outs[i], &d)) rc = cli_fail(tmp, &d);
            else written++;
        }
        if (rc == CLI_EXIT_OK && tmp && fin) {
            snprintf(tmp, plen, "%s/outputs.json.part", outdir);
            const char **onames = (const char **)malloc(sizeof(char *) * (g->output_count + 1));
            for (uint32_t i = 0; onames && i < g->output_count; i++) onames[i] = g->tensors[g->outputs[i].id].name;
            int wrote = onames && cli_write_outputs_json(tmp, g->output_count, onames, outs);
            free(onames);
            if (!wrote) {
                fprintf(stderr, "nnport: %s: cannot write: %s\n", tmp, strerror(errno));
                rc = CLI_EXIT_FAIL;
            }
        }
        for (uint32_t i = 0; tmp && fin && i <= written; i++) {
            if (i < written) {
                snprintf(tmp, plen, "%s/output_%u.npy.part", outdir, i);
                snprintf(fin, plen, "%s/output_%u.npy", outdir, i);
            } else {
                snprintf(tmp, plen, "%s/outputs.json.part", outdir);
                snprintf(fin, plen, "%s/outputs.json", outdir);
            }
            if (rc != CLI_EXIT_OK) remove(tmp);
            else if (rename(tmp, fin) != 0) {
                fprintf(stderr, "nnport: %s: cannot rename into place: %s\n", fin, strerror(errno));
                rc = CLI_EXIT_FAIL;
            }
        }
        if (!tmp || !fin) { fprintf(stderr, "nnport: out of memory\n"); rc = CLI_EXIT_FAIL; }
        free(tmp);
        free(fin);
    }
    if (rc == CLI_EXIT_OK) printf("wrote %u outputs to %s\n", g->output_count, outdir);
    if (rc == CLI_EXIT_OK && bundle) rc = write_bundle(bundle, path, g, outs, values);
done:
    for (int i = 0; i < 64; i++) nn_verify_value_free(&values[i], NULL);
    nn_exec_destroy(x);
    nn_qexec_destroy(qx);
    nn_graph_destroy(g);
    return rc;
}
