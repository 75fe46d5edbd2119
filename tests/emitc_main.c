/* emitc_main.c - a harness for a model exported with
   `nnport compile QDQ.onnx --target mcu --emit-c OUT/model` (the identifier
   prefix must be "model"): reads the inputs (.npy: the header is skipped
   and the data size must match; anything else: raw bytes), runs
   model_run() REPEAT times, writes OUTDIR/output_<i>.raw and prints the
   fastest run time.  Used by tests/test_emitc.sh:

       cc -std=c99 -O2 -I OUT tests/emitc_main.c OUT/model.c -lm -o run
       ./run OUTDIR REPEAT IN0.npy [IN1.npy ...] */
#define _POSIX_C_SOURCE 199309L
#include "model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* The data of file path (past an .npy header): exactly `bytes` bytes. */
static void *read_input(const char *path, unsigned long bytes) {
    FILE *f = fopen(path, "rb");
    unsigned char head[12];
    long size, skip = 0;
    void *data;
    if (!f) { fprintf(stderr, "%s: cannot open\n", path); return NULL; }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (size >= 12 && fread(head, 1, 12, f) == 12 && memcmp(head, "\x93NUMPY", 6) == 0)
        skip = head[6] == 1 ? 10 + (head[8] | head[9] << 8) : 12 + (long)(head[8] | head[9] << 8 | (unsigned long)head[10] << 16);
    if (size - skip != (long)bytes) {
        fprintf(stderr, "%s: %ld data bytes, the model wants %lu\n", path, size - skip, bytes);
        fclose(f);
        return NULL;
    }
    data = malloc(bytes ? bytes : 1);
    fseek(f, skip, SEEK_SET);
    if (!data || fread(data, 1, bytes, f) != bytes) { fprintf(stderr, "%s: read failed\n", path); free(data); data = NULL; }
    fclose(f);
    return data;
}

int main(int argc, char **argv) {
    const void *in[MODEL_INPUT_COUNT + 1];
    void *out[MODEL_OUTPUT_COUNT + 1];
    int repeat, i, r, rc = 0;
    double best = 0;
    char path[4096];
    if (argc != 3 + MODEL_INPUT_COUNT) {
        fprintf(stderr, "usage: %s OUTDIR REPEAT INPUT... (%d inputs)\n", argv[0], MODEL_INPUT_COUNT);
        return 2;
    }
    repeat = atoi(argv[2]) > 0 ? atoi(argv[2]) : 1;
    for (i = 0; i < MODEL_INPUT_COUNT; i++)
        if (!(in[i] = read_input(argv[3 + i], model_input_bytes[i]))) return 1;
    for (i = 0; i < MODEL_OUTPUT_COUNT; i++)
        if (!(out[i] = malloc(model_output_bytes[i] ? model_output_bytes[i] : 1))) return 1;
    for (r = 0; r < repeat; r++) {
        double t0 = now_ms(), t;
        if (model_run(in, out) != 0) { fprintf(stderr, "model_run failed\n"); return 1; }
        t = now_ms() - t0;
        if (r == 0 || t < best) best = t;
    }
    for (i = 0; i < MODEL_OUTPUT_COUNT; i++) {
        FILE *f;
        snprintf(path, sizeof path, "%s/output_%d.raw", argv[1], i);
        f = fopen(path, "wb");
        if (!f || fwrite(out[i], 1, model_output_bytes[i], f) != model_output_bytes[i]) { fprintf(stderr, "%s: write failed\n", path); rc = 1; }
        if (f) fclose(f);
    }
    fprintf(stderr, "model_run: %.3f ms (fastest of %d)\n", best, repeat);
    for (i = 0; i < MODEL_INPUT_COUNT; i++) free((void *)in[i]);
    for (i = 0; i < MODEL_OUTPUT_COUNT; i++) free(out[i]);
    return rc;
}
