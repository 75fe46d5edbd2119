/* nnport inspect: what a model is - inputs, outputs, ops, parameters, MACs. */
#include "cli.h"
#include <stdlib.h>
#include <string.h>

static void inspect_help(void) {
    printf("usage: nnport inspect MODEL.onnx [--shape NAME=DIMS]...\n"
           "  --shape NAME=DIMS  fix an input's symbolic dims (e.g. x=1x3x48x320) so MACs can be counted\n");
}

typedef struct { const char *op; unsigned count; } op_count;

static int by_count(const void *a, const void *b) {
    const op_count *x = (const op_count *)a, *y = (const op_count *)b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->op, y->op);
}

static void print_tensor_line(const nn_graph *g, nn_tensor_id id) {
    const nn_tensor *t = &g->tensors[id.id];
    char dims[256] = "";
    size_t n = 0;
    if (t->shape.rank < 0) snprintf(dims, sizeof dims, "?");
    for (int32_t i = 0; i < t->shape.rank && n < sizeof dims; i++) {
        int w;
        if (t->shape.dims[i] >= 0) w = snprintf(dims + n, sizeof dims - n, "%s%lld", i ? "x" : "", (long long)t->shape.dims[i]);
        else w = snprintf(dims + n, sizeof dims - n, "%s%s", i ? "x" : "", t->dim_param[i] ? t->dim_param[i] : "?");
        if (w > 0) n += (size_t)w;
    }
    if (t->shape.rank == 0) snprintf(dims, sizeof dims, "scalar");
    printf("  %-32s %-8s %s\n", t->name, nn_dtype_name(t->dtype), dims);
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    cli_inputs in;
    memset(&in, 0, sizeof in);
    for (int i = 1; i < argc; i++) {
        int r = cli_take_input_option("inspect", argc, argv, &i, &in);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r) continue;
        if (strcmp(argv[i], "--help") == 0) { inspect_help(); return CLI_EXIT_OK; }
        if (argv[i][0] == '-') return cli_usage_error("inspect", "unknown option '%s'", argv[i]);
        if (path) return cli_usage_error("inspect", "one model at a time ('%s' and '%s')", path, argv[i]);
        path = argv[i];
    }
    if (!path) return cli_usage_error("inspect", "give a MODEL.onnx");
    if (in.count) return cli_usage_error("inspect", "--input belongs to 'nnport run'");

    nn_graph *g;
    nn_diag d;
    memset(&d, 0, sizeof d);
    if (cli_load_model(path, &g, &d)) return cli_fail(path, &d);
    /* Shapes are inferred for MACs; a model we cannot run is still described. */
    nn_status inferred = nn_graph_infer_shapes(g, in.shapes, (uint32_t)in.shape_count, &d);

    printf("model: %s\n", path);
    printf("ir_version: %lld   producer: %s %s\n", (long long)g->ir_version,
           g->producer_name ? g->producer_name : "", g->producer_version ? g->producer_version : "");
    printf("opsets:");
    for (uint32_t i = 0; i < g->opset_count; i++)
        printf(" %s=%lld", g->opsets[i].domain[0] ? g->opsets[i].domain : "ai.onnx", (long long)g->opsets[i].version);
    printf("\ninputs (%u):\n", g->input_count);
    for (uint32_t i = 0; i < g->input_count; i++) print_tensor_line(g, g->inputs[i]);
    printf("outputs (%u):\n", g->output_count);
    for (uint32_t i = 0; i < g->output_count; i++) print_tensor_line(g, g->outputs[i]);

    op_count *ops = (op_count *)calloc(g->node_count + 1, sizeof *ops);
    unsigned kinds = 0;
    if (!ops) { fprintf(stderr, "nnport: out of memory\n"); nn_graph_destroy(g); return CLI_EXIT_FAIL; }
    for (uint32_t i = 0; i < g->node_count; i++) {
        unsigned k = 0;
        while (k < kinds && strcmp(ops[k].op, g->nodes[i].op_type) != 0) k++;
        if (k == kinds) { ops[kinds].op = g->nodes[i].op_type; ops[kinds++].count = 0; }
        ops[k].count++;
    }
    qsort(ops, kinds, sizeof *ops, by_count);
    printf("ops (%u nodes, %u kinds):", g->node_count, kinds);
    for (unsigned k = 0; k < kinds; k++) printf("%s %s %u", k % 6 ? "," : "\n ", ops[k].op, ops[k].count);
    printf("\n");
    free(ops);

    nn_graph_stats st;
    nn_graph_get_stats(g, &st);
    char b1[32], b2[32], b3[32];
    printf("parameters: %s (%s bytes)\n", cli_human((double)st.param_count, b1, sizeof b1),
           cli_human((double)st.param_bytes, b2, sizeof b2));
    if (inferred != NN_OK)
        printf("MACs: unknown (shape inference stopped at %s: %s)\n", d.where, d.message);
    else if (st.unknown_mac_nodes)
        printf("MACs: >= %s (%u nodes have symbolic shapes; fix them with --shape NAME=DIMS)\n",
               cli_human((double)st.macs, b3, sizeof b3), st.unknown_mac_nodes);
    else
        printf("MACs: %s\n", cli_human((double)st.macs, b3, sizeof b3));
    nn_graph_destroy(g);
    return CLI_EXIT_OK;
}
