/* bundle.c - the verification bundle writer (see bundle.h): the model, its
   inputs and outputs in the ONNX backend-test layout, so any runtime (and
   tests/conformance.c) can be diffed against nnport. */
#define _POSIX_C_SOURCE 200809L
#include "bundle.h"
#include "cli.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Copies a file byte for byte; 0 on failure (errno set). */
static int bundle_copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    char buf[1 << 16];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    if (in && ferror(in)) ok = 0;
    if (in) fclose(in);
    if (out && fclose(out) != 0) ok = 0;
    return ok;
}

/* Adds {"name","file","sha256"} for a file of the bundle; 0 on failure. */
static int bundle_entry(cJSON *arr, const char *dir, const char *file, const char *name, nn_diag *d) {
    char path[4200], hex[65];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (nn_verify_sha256_file(path, hex, d)) return 0;
    cJSON *o = cJSON_CreateObject();
    if (name) cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "file", file);
    cJSON_AddStringToObject(o, "sha256", hex);
    cJSON_AddItemToArray(arr, o);
    return 1;
}

/* Removes what a failed bundle wrote under dir (a flat, known layout). */
static void bundle_remove(const char *dir, uint32_t nin, uint32_t nout) {
    char path[4200];
    for (uint32_t i = 0; i < nin || i < nout; i++) {
        snprintf(path, sizeof path, "%s/test_data_set_0/input_%u.pb", dir, i);
        if (i < nin) remove(path);
        snprintf(path, sizeof path, "%s/test_data_set_0/output_%u.pb", dir, i);
        if (i < nout) remove(path);
    }
    snprintf(path, sizeof path, "%s/test_data_set_0", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/bundle.json", dir);
    remove(path);
    remove(dir);
}

int cli_write_bundle(const char *dir, const char *model_path, const nn_graph *g, const nn_value *const *outs,
                     const nn_value *inputs, const char *producer) {
    char part[4100], path[4200];
    nn_diag d;
    memset(&d, 0, sizeof d);
    if (strlen(dir) > 4000) { fprintf(stderr, "nnport: %s: path too long\n", dir); return CLI_EXIT_FAIL; }
    struct stat st;
    if (stat(dir, &st) == 0) {
        fprintf(stderr, "nnport: %s: already exists; give a new directory for --bundle\n", dir);
        return CLI_EXIT_FAIL;
    }
    snprintf(part, sizeof part, "%s.part", dir);
    snprintf(path, sizeof path, "%s/test_data_set_0", part);
    if (mkdir(part, 0777) != 0 || mkdir(path, 0777) != 0) {
        fprintf(stderr, "nnport: %s: cannot create: %s (remove a leftover %s.part)\n", part, strerror(errno), dir);
        return CLI_EXIT_FAIL;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "onnx-backend-test");
    cJSON_AddStringToObject(root, "producer", producer);
    cJSON_AddStringToObject(root, "source_model", model_path);
    cJSON *files = cJSON_AddArrayToObject(root, "files");
    int ok = 1;
    snprintf(path, sizeof path, "%s/model.onnx", part);
    if (!bundle_copy_file(model_path, path)) {
        fprintf(stderr, "nnport: %s: cannot copy the model: %s\n", path, strerror(errno));
        ok = 0;
    }
    if (ok) ok = bundle_entry(files, part, "model.onnx", NULL, &d);
    for (uint32_t i = 0; ok && i < g->input_count + g->output_count; i++) {
        int is_in = i < g->input_count;
        uint32_t k = is_in ? i : i - g->input_count;
        const char *name = g->tensors[is_in ? g->inputs[k].id : g->outputs[k].id].name;
        char file[64];
        snprintf(file, sizeof file, "test_data_set_0/%s_%u.pb", is_in ? "input" : "output", k);
        snprintf(path, sizeof path, "%s/%s", part, file);
        ok = nn_onnx_save_tensor_file(path, is_in ? &inputs[k] : outs[k], name, &d) == NN_OK &&
             bundle_entry(files, part, file, name, &d);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (ok) {
        snprintf(path, sizeof path, "%s/bundle.json", part);
        FILE *f = text ? fopen(path, "wb") : NULL;
        ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
        if (f && fclose(f) != 0) ok = 0;
        if (!ok) fprintf(stderr, "nnport: %s: cannot write: %s\n", path, strerror(errno));
    } else if (d.status) {
        cli_fail(part, &d);
    }
    free(text);
    if (ok && rename(part, dir) != 0) {
        fprintf(stderr, "nnport: %s: cannot rename into place: %s\n", dir, strerror(errno));
        ok = 0;
    }
    if (!ok) bundle_remove(part, g->input_count, g->output_count);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
