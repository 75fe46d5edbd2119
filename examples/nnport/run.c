/* nnport run: the float reference executor on .npy inputs.

   Writes DIR/output_<i>.npy for the i-th graph output and DIR/outputs.json
   (index -> name, shape, dtype).  Every file is written under a temporary
   name first and renamed only when all of them are complete, so a failed
   run leaves no half-written outputs. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void run_help(void) {
    printf("usage: nnport run MODEL.onnx --input NAME=FILE.npy... --output-dir DIR\n"
           "                  [--shape NAME=DIMS]... [--threads N]\n"
           "  writes DIR/output_<i>.npy for each model output and DIR/outputs.json\n");
}

/* Writes outputs.json (through a temporary file) describing the outputs. */
static int write_outputs_json(const char *path, const nn_graph *g, nn_exec *x) {
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "outputs");
    for (uint32_t i = 0; i < g->output_count; i++) {
        const nn_value *v = nn_exec_output(x, i);
        cJSON *o = cJSON_CreateObject();
        char file[64];
        snprintf(file, sizeof file, "output_%u.npy", i);
        cJSON_AddNumberToObject(o, "index", i);
        cJSON_AddStringToObject(o, "name", g->tensors[g->outputs[i].id].name);
        cJSON_AddStringToObject(o, "file", file);
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        for (int32_t k = 0; k < v->shape.rank; k++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)v->shape.dims[k]));
        cJSON_AddStringToObject(o, "dtype", nn_dtype_name(v->dtype));
        cJSON_AddItemToArray(arr, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return 0;
    FILE *f = fopen(path, "wb");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    free(text);
    return ok;
}

int cmd_run(int argc, char **argv) {
    const char *path = NULL, *outdir = NULL;
    long threads = 1;
    cli_inputs in;
    memset(&in, 0, sizeof in);
    for (int i = 1; i < argc; i++) {
        int r = cli_take_input_option("run", argc, argv, &i, &in);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r) continue;
        if (strcmp(argv[i], "--help") == 0) { run_help(); return CLI_EXIT_OK; }
        if (strcmp(argv[i], "--output-dir") == 0 && i + 1 < argc) { outdir = argv[++i]; continue; }
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

    nn_graph *g = NULL;
    nn_exec *x = NULL;
    nn_value values[64];
    nn_diag d;
    int rc = CLI_EXIT_OK;
    memset(&d, 0, sizeof d);
    memset(values, 0, sizeof values);
    if (cli_load_model(path, &g, &d)) return cli_fail(path, &d);
    if (g->input_count > 64) { nn_graph_destroy(g); fprintf(stderr, "nnport: %s: more than 64 inputs\n", path); return CLI_EXIT_FAIL; }
    nn_exec_desc xd;
    memset(&xd, 0, sizeof xd);
    xd.threads = (int)threads;
    xd.input_shapes = in.shapes;
    xd.input_shape_count = (uint32_t)in.shape_count;
    if (nn_exec_create(g, &xd, &x, &d)) { rc = cli_fail(path, &d); goto done; }
    rc = cli_bind_inputs("run", g, x, &in, values);
    if (rc) goto done;
    if (nn_exec_run(x, &d)) { rc = cli_fail(path, &d); goto done; }
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
            if (nn_verify_save_npy_file(tmp, nn_exec_output(x, i), &d)) rc = cli_fail(tmp, &d);
            else written++;
        }
        if (rc == CLI_EXIT_OK && tmp && fin) {
            snprintf(tmp, plen, "%s/outputs.json.part", outdir);
            if (!write_outputs_json(tmp, g, x)) {
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
done:
    for (int i = 0; i < 64; i++) nn_verify_value_free(&values[i], NULL);
    nn_exec_destroy(x);
    nn_graph_destroy(g);
    return rc;
}
