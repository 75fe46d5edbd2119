/* nnport compile: a QDQ model (nnport quantize) lowered to an integer
   program for an NPU target, written as a binary model file (.nnb,
   docs/FORMAT.md); and the simulator behind `nnport run model.nnb`.

   nnport compile QDQ.onnx --target npu-small|npu-large|mcu|TARGET.json -o MODEL.nnb
                  [--shape NAME=DIMS]... [--program] [--layers]

   Shapes are propagated from the inputs (fix symbolic ones with --shape); no
   graph pass runs (they would fold the Q/DQ structure the lowering reads).
   Prints the program (integer and cpu instructions), the activation plan of
   the lowered graph, the layer groups with their cycle estimate, and the
   file's size.  The file is written to MODEL.nnb.part and renamed. */
#include "cli.h"
#include "plan.h"
#include "nn_target.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int compile_write(void *user, const char *text, size_t bytes) {
    return fwrite(text, 1, bytes, (FILE *)user) != bytes;
}

static void compile_print_program(const nn_target_program *p, int all) {
    uint32_t counts[NN_TARGET_OP_COUNT], i, j;
    memset(counts, 0, sizeof counts);
    for (i = 0; i < p->instr_count; i++) counts[p->instrs[i].op]++;
    printf("\nprogram: %u instructions (%u integer, %u cpu; %u on the host), %u slots, %u constant nodes folded\n",
           p->instr_count, p->int_instrs, p->cpu_instrs, p->host_instrs, p->slot_count, p->folded_nodes);
    printf(" ");
    for (i = 1; i < NN_TARGET_OP_COUNT; i++)
        if (counts[i]) printf(" %s %u", nn_target_op_name((nn_target_op)i), counts[i]);
    printf("\n");
    if (!all) return;
    printf("\n%4s %-8s %-32s %5s  %s\n", "#", "op", "node", "where", "operands (slot@arena offset, w: weights)");
    for (i = 0; i < p->instr_count; i++) {
        const nn_target_instr *I = &p->instrs[i];
        const char *nm = I->op == NN_TARGET_OP_CPU ? p->nodes[I->node].op_type : "";
        printf("%4u %-8s %-32.32s %5s ", i, nn_target_op_name(I->op), I->name[0] ? I->name : nm,
               (I->flags & NN_TARGET_INSTR_HOST) ? "host" : "npu");
        for (j = 0; j < I->in_count + I->out_count; j++) {
            uint32_t s = p->operands[I->first_operand + j];
            if (j == I->in_count) printf(" ->");
            if (s == NN_TARGET_NO_SLOT) { printf(" -"); continue; }
            if (p->slots[s].region == NN_TARGET_REGION_WEIGHTS) printf(" w");
            else printf(" %u@%llu", s, (unsigned long long)p->slots[s].offset);
        }
        printf("\n");
    }
}

int cmd_compile(int argc, char **argv) {
    const char *in = NULL, *target = NULL, *out = NULL;
    int layers = 0, program = 0;
    cli_inputs inputs;
    memset(&inputs, 0, sizeof inputs);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: nnport compile QDQ.onnx --target npu-small|npu-large|mcu|TARGET.json -o MODEL.nnb\n"
                   "                       [--shape NAME=DIMS]... [--program] [--layers]\n"
                   "  QDQ.onnx    a quantized model (nnport quantize ... -o QDQ.onnx)\n"
                   "  --target    a preset or a JSON file of nn_target_desc fields (see nnport plan --help)\n"
                   "  --shape     fix an input's shape (the program needs static shapes)\n"
                   "  --program   print every instruction with its operands\n"
                   "  --layers    print the layers of every group with their MACs and cycles\n"
                   "  run it: nnport run MODEL.nnb --input NAME=FILE.npy --output-dir DIR\n");
            return CLI_EXIT_OK;
        }
        int r = cli_take_input_option("compile", argc, argv, &i, &inputs);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(argv[i], "--target") == 0 && i + 1 < argc) { target = argv[++i]; continue; }
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) { out = argv[++i]; continue; }
        if (strcmp(argv[i], "--layers") == 0) { layers = 1; continue; }
        if (strcmp(argv[i], "--program") == 0) { program = 1; continue; }
        if (argv[i][0] == '-') return cli_usage_error("compile", "unknown option '%s' (or missing value)", argv[i]);
        if (in) return cli_usage_error("compile", "one model at a time");
        in = argv[i];
    }
    if (!in) return cli_usage_error("compile", "give QDQ.onnx");
    if (!target) return cli_usage_error("compile", "give --target npu-small, npu-large, mcu or a TARGET.json");
    if (!out) return cli_usage_error("compile", "give -o MODEL.nnb");
    if (inputs.count) return cli_usage_error("compile", "--input is not used by compile (only --shape)");

    plan_target_file tf;
    int rc = plan_resolve_target("compile", target, &tf);
    if (rc) return rc;
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_graph *g = NULL;
    nn_target_program *p = NULL;
    nn_target_group_plan gp;
    memset(&gp, 0, sizeof gp);
    rc = CLI_EXIT_FAIL;
    if (cli_load_model(in, &g, &d)) { cli_fail(in, &d); goto done; }
    if (!nn_quant_graph_is_qdq(g)) {
        fprintf(stderr, "nnport: %s: not a QDQ model (make one with nnport quantize)\n", in);
        goto done;
    }
    nn_target_compile_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.input_shapes = inputs.shapes;
    cd.input_shape_count = (uint32_t)inputs.shape_count;
    double t0 = cli_now_ms();
    if (nn_target_compile(g, &tf.desc, &cd, &p, &d)) {
        cli_fail(in, &d);
        if (d.status == NN_ERR_SHAPE) fprintf(stderr, "nnport compile: give the inputs fixed shapes with --shape NAME=DIMS\n");
        goto done;
    }
    double t1 = cli_now_ms();
    printf("model: %s (%u nodes); target: %s; compiled in %.0f ms\n", in, g->node_count,
           nn_target_desc_defaults(&tf.desc).name, t1 - t0);
    compile_print_program(p, program);
    plan_print_memory(&p->memory);
    {
        nn_target_group_desc gd;
        memset(&gd, 0, sizeof gd);
        gd.bytes_rule = NN_TARGET_BYTES_DTYPE;
        gd.order = p->memory.order;
        gd.order_count = p->memory.step_count;
        if (nn_target_plan_groups(p->graph, &tf.desc, &gd, &gp, &d)) { cli_fail(in, &d); goto done; }
        plan_print_groups(p->graph, &gp, layers);
    }
    {
        char part[4096], a[32], b[32], c[32], e[32];
        snprintf(part, sizeof part, "%s.part", out);
        FILE *f = fopen(part, "wb");
        if (!f) { fprintf(stderr, "nnport: %s: cannot create: %s\n", part, strerror(errno)); goto done; }
        nn_status st = nn_target_save(p, compile_write, f, &d);
        if (fclose(f) != 0 && st == NN_OK) st = nn_diag_set(&d, NN_ERR_IO, part, "write failed");
        if (st) { cli_fail(part, &d); remove(part); goto done; }
        if (rename(part, out) != 0) { fprintf(stderr, "nnport: %s: cannot rename into place: %s\n", out, strerror(errno)); goto done; }
        printf("\nwrote %s: %s (weights %s from offset %llu, 64-byte aligned); simulator memory %s (arena %s + scratch)\n", out,
               plan_kib(p->image_bytes, a, sizeof a), plan_kib(p->weight_bytes, b, sizeof b),
               (unsigned long long)(p->weights - p->image), plan_kib(nn_target_sim_scratch_bytes(p), c, sizeof c),
               plan_kib(p->arena_bytes, e, sizeof e));
    }
    rc = CLI_EXIT_OK;
done:
    nn_target_group_plan_deinit(&gp);
    nn_target_program_destroy(p);
    nn_graph_destroy(g);
    free(tf.ops);
    return rc;
}

/* Reads a whole file (up to 4 GiB); NULL on failure with errno set. */
static uint8_t *compile_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && (unsigned long)n < (4ul << 30) && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = (uint8_t *)malloc((size_t)n + 64)) != NULL) {
        /* 64-byte aligned copy so the weights are used in place */
        uint8_t *al = buf;
        if (fread(al, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
        *size = (size_t)n;
    }
    fclose(f);
    return buf;
}

int cli_run_nnb(const char *path, const struct cli_inputs *in, const char *outdir) {
    char magic[8];
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t got = fread(magic, 1, 8, f);
    fclose(f);
    if (got != 8 || memcmp(magic, "NNPORTNB", 8) != 0) return -1;

    size_t size = 0;
    uint8_t *bytes = compile_read_file(path, &size);
    if (!bytes) { fprintf(stderr, "nnport: %s: cannot read: %s\n", path, strerror(errno)); return CLI_EXIT_FAIL; }
    nn_diag d;
    memset(&d, 0, sizeof d);
    nn_target_program *p = NULL;
    nn_value values[64], outs[64];
    char *raw = NULL;
    int rc = CLI_EXIT_FAIL;
    memset(values, 0, sizeof values);
    if (nn_target_load_memory(bytes, size, NULL, &p, &d)) { cli_fail(path, &d); goto done; }
    if (p->input_count > 64 || p->output_count > 64) { fprintf(stderr, "nnport: %s: more than 64 inputs or outputs\n", path); goto done; }
    for (int k = 0; k < in->count; k++) {
        uint32_t i;
        for (i = 0; i < p->input_count; i++)
            if (strcmp(p->slots[p->inputs[i]].name, in->names[k]) == 0) break;
        if (i == p->input_count) { fprintf(stderr, "nnport run: %s has no input '%s'\n", path, in->names[k]); rc = CLI_EXIT_USAGE; goto done; }
        if (nn_verify_load_npy_file(in->files[k], &values[i], NULL, &d)) { cli_fail(in->files[k], &d); goto done; }
    }
    for (uint32_t i = 0; i < p->input_count; i++)
        if (!values[i].data) {
            fprintf(stderr, "nnport run: give --input %s=FILE.npy\n", p->slots[p->inputs[i]].name);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
    size_t mb = nn_target_sim_scratch_bytes(p);
    raw = (char *)malloc(mb + 64);
    if (!raw) { fprintf(stderr, "nnport: out of memory for %zu bytes of simulator memory\n", mb); goto done; }
    double t0 = cli_now_ms();
    if (nn_target_sim_run(p, raw + (64 - (uintptr_t)raw % 64) % 64, mb, values, outs, &d)) { cli_fail(path, &d); goto done; }
    double t1 = cli_now_ms();
    if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "nnport: %s: cannot create the output directory: %s\n", outdir, strerror(errno));
        goto done;
    }
    {
        size_t plen = strlen(outdir) + 64;
        char *tmp = (char *)malloc(plen), *fin = (char *)malloc(plen);
        rc = tmp && fin ? CLI_EXIT_OK : CLI_EXIT_FAIL;
        for (uint32_t i = 0; rc == CLI_EXIT_OK && i < p->output_count; i++) {
            snprintf(tmp, plen, "%s/output_%u.npy.part", outdir, i);
            if (nn_verify_save_npy_file(tmp, &outs[i], &d)) rc = cli_fail(tmp, &d);
        }
        for (uint32_t i = 0; rc == CLI_EXIT_OK && i < p->output_count; i++) {
            snprintf(tmp, plen, "%s/output_%u.npy.part", outdir, i);
            snprintf(fin, plen, "%s/output_%u.npy", outdir, i);
            if (rename(tmp, fin) != 0) { fprintf(stderr, "nnport: %s: cannot rename: %s\n", fin, strerror(errno)); rc = CLI_EXIT_FAIL; }
            else printf("%s: %s -> %s\n", p->slots[p->outputs[i]].name, nn_dtype_name(outs[i].dtype), fin);
        }
        free(tmp);
        free(fin);
    }
    if (rc == CLI_EXIT_OK)
        fprintf(stderr, "nnport run: %s: simulator, %u instructions in %.1f ms (%zu bytes of memory, no allocation while running)\n",
                path, p->instr_count, t1 - t0, mb);
done:
    for (int i = 0; i < 64; i++)
        if (values[i].data) nn_verify_value_free(&values[i], NULL);
    nn_target_program_destroy(p);
    free(raw);
    free(bytes);
    return rc;
}
