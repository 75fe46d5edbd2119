/* bench_gemm.c - GFLOP/s of nnport's float GEMM path (MatMul and Conv nodes
   run through the executor) at 1 and 2 threads.

   Build and run (from the repository root):
       make build/impl.o
       cc -std=c99 -O3 -march=native -I. tests/bench_gemm.c build/impl.o -o build/bench_gemm \
          -lprotobuf-nanopb -lcjson -lstb -lm -lpthread
       build/bench_gemm            (or: build/bench_gemm 3 to use up to 3 threads)

   Each case builds a one-node graph, runs it once to warm up, then times
   the best of several runs (wall clock, so a busy machine reads low).
   FLOPs count 2 per multiply-add. */
#define _POSIX_C_SOURCE 199309L
#include "nn_graph.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double bench__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *bench__random(size_t n) {
    float *p = (float *)malloc(n * sizeof(float));
    uint32_t s = 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)((s >> 8) & 0xFFFF) / 65536.0f - 0.5f;
    }
    return p;
}

/* One node of op_type with input X (fed each run) and constant W (and
   optional attributes); returns seconds per run (best of reps). */
static double bench__node(const char *op_type, int threads, const nn_shape *xs, const nn_shape *ws,
                          const nn_attr *attrs, int attr_count) {
    nn_diag d;
    nn_graph *g;
    nn_tensor_id ids[3];
    memset(&d, 0, sizeof d);
    nn_graph_create(NULL, &g, &d);
    nn_graph_set_opset(g, "", 17, &d);
    size_t xn = nn_shape_count(xs, NULL), wn = nn_shape_count(ws, NULL);
    float *x = bench__random(xn), *w = bench__random(wn);
    nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, xs, &ids[0], &d);
    nn_graph_add_tensor(g, "w", NN_DTYPE_FLOAT, ws, &ids[1], &d);
    nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, NULL, &ids[2], &d);
    nn_graph_set_data(g, ids[1], w, wn * sizeof(float), 1, &d);
    nn_graph_add_input(g, ids[0], &d);
    nn_graph_add_output(g, ids[2], &d);
    nn_node_id n;
    nn_graph_add_node(g, op_type, "", "node", ids, 2, &ids[2], 1, &n, &d);
    for (int i = 0; i < attr_count; i++) nn_graph_add_attr(g, n, &attrs[i], 0, &d);
    nn_exec *ex = NULL;
    nn_exec_desc xd;
    memset(&xd, 0, sizeof xd);
    xd.threads = threads;
    double best = 1e30;
    if (nn_exec_create(g, &xd, &ex, &d) == NN_OK) {
        nn_value v = nn_value_make(NN_DTYPE_FLOAT, *xs, x);
        nn_exec_set_input(ex, 0, &v, &d);
        nn_exec_run(ex, &d);
        double budget = bench__now() + 1.0;
        for (int r = 0; r < 50 && (r < 3 || bench__now() < budget); r++) {
            double t0 = bench__now();
            nn_exec_run(ex, &d);
            double t = bench__now() - t0;
            if (t < best) best = t;
        }
    }
    if (d.status) fprintf(stderr, "%s: %s (%s)\n", op_type, d.message, d.where);
    nn_exec_destroy(ex);
    nn_graph_destroy(g);
    free(x);
    free(w);
    return best;
}

static void bench__matmul(int max_threads, int64_t M, int64_t N, int64_t K, const char *label) {
    int64_t xd[2] = {M, K}, wd[2] = {K, N};
    nn_shape xs = nn_shape_make(2, xd), ws = nn_shape_make(2, wd);
    printf("%-34s", label);
    for (int t = 1; t <= max_threads; t++) {
        double s = bench__node("MatMul", t, &xs, &ws, NULL, 0);
        printf("  %2dT %7.1f GFLOP/s (%7.3f ms)", t, 2.0 * (double)M * (double)N * (double)K / s * 1e-9, s * 1e3);
    }
    printf("\n");
}

static void bench__conv(int max_threads, int64_t C, int64_t H, int64_t M, int64_t k, int64_t stride, int64_t group,
                        const char *label) {
    int64_t pad = k / 2, OH = (H + 2 * pad - k) / stride + 1;
    int64_t xd[4] = {1, C, H, H}, wd[4] = {M, C / group, k, k}, pads[4] = {pad, pad, pad, pad};
    int64_t strides[2] = {stride, stride};
    nn_shape xs = nn_shape_make(4, xd), ws = nn_shape_make(4, wd);
    nn_attr a[3];
    memset(a, 0, sizeof a);
    a[0].name = "pads"; a[0].type = NN_ATTR_INTS; a[0].count = 4; a[0].ints = pads;
    a[1].name = "strides"; a[1].type = NN_ATTR_INTS; a[1].count = 2; a[1].ints = strides;
    a[2].name = "group"; a[2].type = NN_ATTR_INT; a[2].i = group;
    double flops = 2.0 * (double)M * (double)(OH * OH) * (double)(C / group * k * k);
    printf("%-34s", label);
    for (int t = 1; t <= max_threads; t++) {
        double s = bench__node("Conv", t, &xs, &ws, a, 3);
        printf("  %2dT %7.1f GFLOP/s (%7.3f ms)", t, flops / s * 1e-9, s * 1e3);
    }
    printf("\n");
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (threads < 1) threads = 1;
    printf("MatMul (M x N x K)\n");
    bench__matmul(threads, 256, 3136, 576, "256x3136x576 (conv-like)");
    bench__matmul(threads, 1024, 1024, 1024, "1024x1024x1024");
    bench__matmul(threads, 197, 768, 768, "197x768x768 (ViT qkv/proj)");
    bench__matmul(threads, 197, 3072, 768, "197x3072x768 (ViT mlp up)");
    bench__matmul(threads, 64, 768, 768, "64x768x768 (GPT prefill)");
    bench__matmul(threads, 1, 3072, 768, "1x3072x768 (GPT decode)");
    printf("Conv (NCHW, batch 1)\n");
    bench__conv(threads, 64, 56, 64, 3, 1, 1, "3x3 64->64 @56 (ResNet18)");
    bench__conv(threads, 256, 14, 256, 3, 1, 1, "3x3 256->256 @14 (ResNet18)");
    bench__conv(threads, 512, 7, 512, 3, 1, 1, "3x3 512->512 @7 (ResNet18)");
    bench__conv(threads, 3, 224, 64, 7, 2, 1, "7x7/2 3->64 @224 (ResNet18 stem)");
    bench__conv(threads, 96, 56, 24, 1, 1, 1, "1x1 96->24 @56 (MobileNetV2)");
    bench__conv(threads, 144, 56, 144, 3, 1, 144, "dw3x3 144 @56 (MobileNetV2)");
    bench__conv(threads, 96, 112, 96, 3, 2, 96, "dw3x3/2 96 @112 (MobileNetV2)");
    return 0;
}
