/* A project that vendors one nnport header: nn_graph.h copied into
   third_party/, no other nnport file, only libc and libm/libpthread.

   Builds y = Relu(x + b) by hand and runs it in the reference executor.
   x = [-2, -0.5, 1, 3], b = [1, 1, 1, 1]
   x + b = [-1, 0.5, 2, 4], Relu -> [0, 0.5, 2, 4]  (hand calculation)
   Exit status 0 when the executor gives exactly that. */
#define NN_IMPLEMENTATION
#include "nn_graph.h"

#include <stdio.h>

static int fail(const nn_diag *d) {
    fprintf(stderr, "vendored nn_graph.h: %s: %s\n", d->where, d->message);
    return 1;
}

int main(void) {
    static const float x_data[4] = {-2.0f, -0.5f, 1.0f, 3.0f};
    static const float b_data[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    static const float want[4] = {0.0f, 0.5f, 2.0f, 4.0f};
    int64_t dims[1] = {4};
    nn_shape s = nn_shape_make(1, dims);
    nn_diag d = {0};
    nn_graph *g;
    nn_tensor_id x, b, sum, y;
    if (nn_graph_create(NULL, &g, &d)) return fail(&d);
    if (nn_graph_set_opset(g, "", 17, &d) ||
        nn_graph_add_tensor(g, "x", NN_DTYPE_FLOAT, &s, &x, &d) ||
        nn_graph_add_tensor(g, "b", NN_DTYPE_FLOAT, &s, &b, &d) ||
        nn_graph_set_data(g, b, b_data, sizeof b_data, 1, &d) ||
        nn_graph_add_tensor(g, "sum", NN_DTYPE_FLOAT, &s, &sum, &d) ||
        nn_graph_add_tensor(g, "y", NN_DTYPE_FLOAT, &s, &y, &d) ||
        nn_graph_add_input(g, x, &d) || nn_graph_add_output(g, y, &d))
        return fail(&d);
    nn_tensor_id add_in[2] = {x, b};
    if (nn_graph_add_node(g, "Add", "", "add", add_in, 2, &sum, 1, NULL, &d) ||
        nn_graph_add_node(g, "Relu", "", "relu", &sum, 1, &y, 1, NULL, &d))
        return fail(&d);

    nn_exec *ex;
    if (nn_exec_create(g, NULL, &ex, &d)) return fail(&d);
    nn_value in = nn_value_make(NN_DTYPE_FLOAT, s, (void *)x_data);
    if (nn_exec_set_input(ex, 0, &in, &d) || nn_exec_run(ex, &d)) return fail(&d);
    const float *out = (const float *)nn_exec_output(ex, 0)->data; /* (4) */
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        printf("y[%d] = %g (want %g)\n", i, out[i], want[i]);
        if (out[i] != want[i]) bad = 1;
    }
    nn_exec_destroy(ex);
    nn_graph_destroy(g);
    puts(bad ? "FAILED" : "ok");
    return bad;
}
