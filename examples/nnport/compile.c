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
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int compile_write(void *user, const char *text, size_t bytes) {
    return fwrite(text, 1, bytes, (FILE *)user) != bytes;
}

static void compile_print_program(const nn_target_program *p, int all) {
    uint32_t counts[NN_TARGET_OP_COUNT], i, j, acts = 0;
    memset(counts, 0, sizeof counts);
    for (i = 0; i < p->instr_count; i++) {
        counts[p->instrs[i].op]++;
        acts += (p->instrs[i].flags & (NN_TARGET_INSTR_ACT | NN_TARGET_INSTR_ACT8)) != 0;
    }
    printf("\nprogram: %u instructions (%u integer, %u cpu; %u on the host), %u slots, %u constant nodes folded\n",
           p->instr_count, p->int_instrs, p->cpu_instrs, p->host_instrs, p->slot_count, p->folded_nodes);
    printf(" ");
    for (i = 1; i < NN_TARGET_OP_COUNT; i++)
        if (counts[i]) printf(" %s %u", nn_target_op_name((nn_target_op)i), counts[i]);
    if (acts) printf(" (%u conv/gemm with the activation fused)", acts);
    printf("\n");
    if (!all) return;
    printf("\n%4s %-8s %-32s %5s  %s\n", "#", "op", "node", "where", "operands (slot@arena offset, w: weights)");
    for (i = 0; i < p->instr_count; i++) {
        const nn_target_instr *I = &p->instrs[i];
        const char *nm = I->op == NN_TARGET_OP_CPU ? p->nodes[I->node].op_type : "";
        char op[16];
        snprintf(op, sizeof op, "%s%s", nn_target_op_name(I->op), (I->flags & (NN_TARGET_INSTR_ACT | NN_TARGET_INSTR_ACT8)) ? "+act" : "");
        printf("%4u %-8s %-32.32s %5s ", i, op, I->name[0] ? I->name : nm,
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

/* ---- --check: the program on the simulator against the QDQ model (nn_target.h) ---- */

#define COMPILE_MAX_CHECK 64 /* --check-input files, --check-skip patterns */

typedef struct compile_check_opts {
    const char *level;           /* NULL: no check */
    int per_layer;
    double rtol, atol, cos;
    const char *skip[COMPILE_MAX_CHECK];
    int skip_count;
    const char *files[COMPILE_MAX_CHECK]; /* [NAME=]FILE.npy, one per input per sample */
    int file_count;
} compile_check_opts;

typedef struct compile_skip { regex_t re[COMPILE_MAX_CHECK]; int count; } compile_skip;

static int compile_skip_fn(void *user, const char *name) {
    const compile_skip *s = (const compile_skip *)user;
    for (int i = 0; i < s->count; i++)
        if (regexec(&s->re[i], name, 0, NULL, 0) == 0) return 1;
    return 0;
}

/* Consumes a --check* option at argv[*i]: 1 taken, 0 not a check option,
   -1 after a usage error. */
static int compile_take_check_option(int argc, char **argv, int *i, compile_check_opts *o) {
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(a, "--check-per-layer")) { o->per_layer = 1; return 1; }
    if (strncmp(a, "--check", 7) != 0) return 0;
    if (!v) { cli_usage_error("compile", "%s needs a value", a); return -1; }
    if (!strcmp(a, "--check")) {
        nn_target_check_level l;
        if (!nn_target_check_level_find(v, &l)) { cli_usage_error("compile", "--check %s: give allclose, bitequal or cosine", v); return -1; }
        o->level = v;
    } else if (!strcmp(a, "--check-skip") || !strcmp(a, "--check-input")) {
        int *n = a[8] == 's' ? &o->skip_count : &o->file_count;
        if (*n == COMPILE_MAX_CHECK) { cli_usage_error("compile", "more than %d %s", COMPILE_MAX_CHECK, a); return -1; }
        (a[8] == 's' ? o->skip : o->files)[(*n)++] = v;
    } else if (!strcmp(a, "--check-rtol") || !strcmp(a, "--check-atol") || !strcmp(a, "--check-cos")) {
        char *end;
        double x = strtod(v, &end);
        if (*end || !(x >= 0) || (a[8] == 'c' && x > 1)) { cli_usage_error("compile", "%s %s: not a tolerance", a, v); return -1; }
        *(a[8] == 'r' ? &o->rtol : a[8] == 'a' ? &o->atol : &o->cos) = x;
    } else {
        return 0;
    }
    (*i)++;
    return 1;
}

/* Loads the --check-input samples (program input order: FILE.npy alone for
   a one-input program, else NAME=FILE.npy; the k-th file of each input is
   sample k), runs nn_target_check and prints the verdict, the worst rows
   and the first diverging layer.  Returns a CLI exit code. */
static int compile_check(const nn_target_program *p, const nn_graph *g, const compile_check_opts *o) {
    uint32_t ni = p->input_count, per[64], samples = 0, i;
    nn_value *vals = NULL;
    compile_skip sk;
    nn_diag d;
    nn_target_check_report rep;
    int rc = CLI_EXIT_FAIL;
    memset(&d, 0, sizeof d);
    memset(&rep, 0, sizeof rep);
    memset(per, 0, sizeof per);
    sk.count = 0;
    if (ni == 0 || ni > 64) { fprintf(stderr, "nnport compile: --check needs a program with 1 to 64 inputs\n"); return CLI_EXIT_FAIL; }
    if (o->file_count == 0) return cli_usage_error("compile", "--check needs --check-input [NAME=]FILE.npy");
    vals = (nn_value *)calloc((size_t)o->file_count, sizeof *vals); /* at most file_count samples x ni */
    if (!vals) return CLI_EXIT_FAIL;
    for (int k = 0; k < o->file_count; k++) {
        const char *eq = strchr(o->files[k], '='), *file = eq ? eq + 1 : o->files[k];
        for (i = 0; i < ni; i++)
            if (eq ? strlen(p->slots[p->inputs[i]].name) == (size_t)(eq - o->files[k]) &&
                         !strncmp(p->slots[p->inputs[i]].name, o->files[k], (size_t)(eq - o->files[k]))
                   : ni == 1)
                break;
        if (i == ni) { rc = cli_usage_error("compile", "--check-input %s: give NAME=FILE.npy naming a model input", o->files[k]); goto done; }
        size_t at = (size_t)per[i]++ * ni + i;
        if (at >= (size_t)o->file_count) { rc = cli_usage_error("compile", "--check-input: every input needs the same number of files"); goto done; }
        if (nn_verify_load_npy_file(file, &vals[at], NULL, &d)) { cli_fail(file, &d); goto done; }
    }
    samples = per[0];
    for (i = 1; i < ni; i++)
        if (per[i] != samples) { rc = cli_usage_error("compile", "--check-input: every input needs the same number of files"); goto done; }
    for (int k = 0; k < o->skip_count; k++) {
        int e = regcomp(&sk.re[sk.count], o->skip[k], REG_EXTENDED | REG_NOSUB);
        if (e) {
            char msg[256];
            regerror(e, &sk.re[sk.count], msg, sizeof msg);
            rc = cli_usage_error("compile", "--check-skip '%s': %s", o->skip[k], msg);
            goto done;
        }
        sk.count++;
    }
    nn_target_check_desc cd;
    memset(&cd, 0, sizeof cd);
    nn_target_check_level_find(o->level, &cd.level);
    cd.per_layer = o->per_layer;
    cd.rtol = o->rtol;
    cd.atol = o->atol;
    cd.min_cosine = o->cos;
    if (sk.count) { cd.skip = compile_skip_fn; cd.skip_user = &sk; }
    double t0 = cli_now_ms();
    if (nn_target_check(p, g, vals, samples, &cd, &rep, &d)) { cli_fail("check", &d); goto done; }
    printf("\ncheck %s %s against the quantized model (nn_qexec), %u sample%s, %u tensors compared: %s in %.0f ms\n",
           nn_target_check_level_name(rep.level), o->per_layer ? "per layer" : "per output", rep.samples,
           rep.samples == 1 ? "" : "s", rep.row_count, rep.pass ? "ok" : "FAIL", cli_now_ms() - t0);
    printf("  worst cosine %.6f; %llu of %llu elements %s; %u skipped, %u not produced by nn_qexec\n", rep.worst_cosine,
           (unsigned long long)rep.mismatched, (unsigned long long)rep.count,
           rep.level == NN_TARGET_CHECK_ALLCLOSE ? "outside the tolerance" : "not bit-equal", rep.skipped, rep.unmatched);
    if (!rep.pass) {
        int shown = 0;
        printf("  %4s %-8s %-32s %-32s %10s %12s %12s\n", "#", "op", "layer", "tensor", "cosine", "max abs err", "mismatched");
        for (i = 0; i < rep.row_count && shown < 10; i++) {
            const nn_target_check_row *r = &rep.rows[i];
            if (r->pass) continue;
            printf("  %4u %-8.8s %-32.32s %-32.32s %10.6f %12.6g %12llu\n", r->instr, r->op, r->layer, r->tensor, r->cosine,
                   r->max_abs_err, (unsigned long long)r->mismatched);
            shown++;
        }
        if (rep.has_diverge)
            printf("  first layer that diverges: %s (%s, instruction %u, tensor %s, sample %u%s)\n", rep.diverge.layer,
                   rep.diverge.op, rep.diverge.instr, rep.diverge.tensor, rep.diverge_sample,
                   rep.diverge_by_bits ? "; no single layer fails the level, first one not bit-equal" : "");
        fprintf(stderr, "nnport compile: check %s failed%s%s\n", nn_target_check_level_name(rep.level),
                rep.has_diverge ? ": first diverging layer " : "", rep.has_diverge ? rep.diverge.layer : "");
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    nn_target_check_report_deinit(&rep);
    for (int k = 0; k < sk.count; k++) regfree(&sk.re[k]);
    for (int k = 0; k < o->file_count; k++)
        if (vals[k].data) nn_verify_value_free(&vals[k], NULL);
    free(vals);
    return rc;
}

/* ---- --emit-c PREFIX: PREFIX.c + PREFIX.h (nn_target.h) ---- */

/* Writes PREFIX.c and PREFIX.h through .part names, renamed once both are
   complete; the C identifiers take PREFIX's last path component.  Returns
   a CLI exit code. */
int cli_emit_c(const nn_target_program *p, const char *prefix) {
    const char *base = strrchr(prefix, '/');
    size_t n = strlen(prefix) + 8;
    char *cp = (char *)malloc(n), *hp = (char *)malloc(n), *cf = (char *)malloc(n), *hf = (char *)malloc(n);
    FILE *c = NULL, *h = NULL;
    nn_diag d;
    nn_status st = NN_ERR_IO;
    int rc = CLI_EXIT_FAIL;
    struct stat sc, sh;
    memset(&d, 0, sizeof d);
    base = base ? base + 1 : prefix;
    if (!cp || !hp || !cf || !hf) goto done;
    snprintf(cf, n, "%s.c", prefix);
    snprintf(hf, n, "%s.h", prefix);
    snprintf(cp, n, "%s.c.part", prefix);
    snprintf(hp, n, "%s.h.part", prefix);
    nn_target_emit_desc ed;
    memset(&ed, 0, sizeof ed);
    ed.name = base;
    if (!(c = fopen(cp, "wb")) || !(h = fopen(hp, "wb"))) {
        fprintf(stderr, "nnport: %s: cannot create: %s\n", c ? hp : cp, strerror(errno));
        goto done;
    }
    double t0 = cli_now_ms();
    st = nn_target_emit_c(p, &ed, nn_verify_write_file, c, nn_verify_write_file, h, &d);
    if (fclose(c) != 0 && st == NN_OK) st = nn_diag_set(&d, NN_ERR_IO, cp, "write failed");
    if (fclose(h) != 0 && st == NN_OK) st = nn_diag_set(&d, NN_ERR_IO, hp, "write failed");
    c = h = NULL;
    if (st) { cli_fail(prefix, &d); goto done; }
    if (rename(cp, cf) != 0 || rename(hp, hf) != 0) { fprintf(stderr, "nnport: %s: cannot rename into place: %s\n", prefix, strerror(errno)); goto done; }
    if (stat(cf, &sc) == 0 && stat(hf, &sh) == 0)
        printf("wrote %s (%lld bytes) and %s (%lld bytes) in %.0f ms: %s_run(), static arena %llu bytes\n", cf, (long long)sc.st_size, hf,
               (long long)sh.st_size, cli_now_ms() - t0, base, (unsigned long long)p->arena_bytes);
    rc = CLI_EXIT_OK;
done:
    if (c) fclose(c);
    if (h) fclose(h);
    if (rc != CLI_EXIT_OK && cp && hp) { remove(cp); remove(hp); }
    free(cp); free(hp); free(cf); free(hf);
    return rc;
}

/* ---- deployment options: --batch-sizes, --max-batch, --input-format (docs/TARGET.md) ---- */

typedef struct compile_deploy_opts {
    uint32_t batches[NN_MAX_TARGET_PROGRAMS];
    uint32_t batch_count, max_batch;
    nn_target_input_format format;
    int limited, bgr, have_mean, have_scale;
    float mean[3], scale[3];
} compile_deploy_opts;

/* Up to max comma-separated numbers of v into out; returns the count, -1 on a bad list. */
static int compile_list(const char *v, double *out, int max) {
    int n = 0;
    while (*v) {
        char *end;
        if (n == max) return -1;
        out[n++] = strtod(v, &end);
        if (end == v || (*end && *end != ',')) return -1;
        v = *end ? end + 1 : end;
    }
    return n;
}

/* Consumes a deployment option at argv[*i]: 1 taken, 0 not one, -1 after a usage error. */
static int compile_take_deploy_option(int argc, char **argv, int *i, compile_deploy_opts *o) {
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    double x[NN_MAX_TARGET_PROGRAMS];
    int n;
    if (strcmp(a, "--batch-sizes") && strcmp(a, "--max-batch") && strcmp(a, "--input-format") && strcmp(a, "--input-range") &&
        strcmp(a, "--input-order") && strcmp(a, "--input-mean") && strcmp(a, "--input-scale"))
        return 0;
    if (!v) { cli_usage_error("compile", "%s needs a value", a); return -1; }
    (*i)++;
    if (!strcmp(a, "--batch-sizes") || !strcmp(a, "--max-batch")) {
        int many = a[2] == 'b';
        n = compile_list(v, x, many ? NN_MAX_TARGET_PROGRAMS - 1 : 1);
        if (n < 1) { cli_usage_error("compile", "%s %s: give %s", a, v, many ? "sizes like 1,2,4 (at most 15)" : "a number"); return -1; }
        for (int k = 0; k < n; k++)
            if (!(x[k] >= 1 && x[k] <= NN_MAX_TARGET_BATCH) || x[k] != (double)(uint32_t)x[k]) {
                cli_usage_error("compile", "%s %s: batch sizes are 1..%d", a, v, NN_MAX_TARGET_BATCH);
                return -1;
            }
        if (many) { for (int k = 0; k < n; k++) o->batches[k] = (uint32_t)x[k]; o->batch_count = (uint32_t)n; }
        else o->max_batch = (uint32_t)x[0];
    } else if (!strcmp(a, "--input-format")) {
        if (!strcmp(v, "nv12")) o->format = NN_TARGET_INPUT_NV12;
        else if (!strcmp(v, "nv21")) o->format = NN_TARGET_INPUT_NV21;
        else { cli_usage_error("compile", "--input-format %s: give nv12 or nv21", v); return -1; }
    } else if (!strcmp(a, "--input-range")) {
        if (strcmp(v, "full") && strcmp(v, "limited")) { cli_usage_error("compile", "--input-range %s: give full or limited", v); return -1; }
        o->limited = v[0] == 'l';
    } else if (!strcmp(a, "--input-order")) {
        if (strcmp(v, "rgb") && strcmp(v, "bgr")) { cli_usage_error("compile", "--input-order %s: give rgb or bgr", v); return -1; }
        o->bgr = v[0] == 'b';
    } else {
        int m = a[8] == 'm';
        if (compile_list(v, x, 3) != 3) { cli_usage_error("compile", "%s %s: give three numbers a,b,c (per model plane)", a, v); return -1; }
        for (int k = 0; k < 3; k++) (m ? o->mean : o->scale)[k] = (float)x[k];
        *(m ? &o->have_mean : &o->have_scale) = 1;
    }
    return 1;
}

/* Checks the combination and copies the options into cd; a CLI exit code. */
static int compile_apply_deploy(const compile_deploy_opts *o, nn_target_compile_desc *cd) {
    if (o->batch_count && o->max_batch) return cli_usage_error("compile", "give --batch-sizes or --max-batch, not both");
    if (!o->format && (o->limited || o->bgr || o->have_mean || o->have_scale))
        return cli_usage_error("compile", "--input-range/--input-order/--input-mean/--input-scale need --input-format nv12|nv21");
    cd->batch_sizes = o->batch_count ? o->batches : NULL;
    cd->batch_size_count = o->batch_count;
    cd->max_batch = o->max_batch;
    cd->input_format = o->format;
    cd->input_limited = (uint32_t)o->limited;
    cd->input_bgr = (uint32_t)o->bgr;
    memcpy(cd->input_mean, o->mean, sizeof o->mean);
    memcpy(cd->input_scale, o->scale, sizeof o->scale);
    return CLI_EXIT_OK;
}

/* The batch programs and their cost-model cycles per sample. */
static void compile_print_batches(const nn_target_program *p, const nn_target_desc *t) {
    const nn_target_program *q;
    double mhz = nn_target_desc_defaults(t).clock_mhz;
    if (p->batch == 0) return;
    printf("\nbatch programs (one file, weights stored once; any batch N runs as a sum of these, largest first):\n");
    printf("  %5s %14s %14s %10s %7s %12s  %s\n", "batch", "cycles", "cycles/sample", "ms/sample", "instrs", "arena", "");
    for (uint32_t k = 0; k < p->batch_cost_count; k++) {
        const nn_target_batch_cost *c = &p->batch_costs[k];
        for (q = p; q && q->batch != c->batch; q = q->next) {}
        printf("  %5u %14llu %14.0f %10.4f %7u %12llu  %s\n", c->batch, (unsigned long long)c->cycles, (double)c->cycles / c->batch,
               (double)c->cycles / c->batch / (mhz * 1000.0), q ? q->instr_count : 0, q ? (unsigned long long)q->arena_bytes : 0ull,
               c->kept ? "kept" : "dropped (no per-sample gain)");
    }
}

int cmd_compile(int argc, char **argv) {
    const char *in = NULL, *target = NULL, *out = NULL, *emit = NULL;
    int layers = 0, program = 0, patches = 0, qinput = 0, keep_act = 0;
    const char *patch_onnx = NULL, *patch_cut = NULL;
    long patch_rows = 0;
    cli_inputs inputs;
    compile_check_opts chk;
    compile_deploy_opts dep;
    memset(&inputs, 0, sizeof inputs);
    memset(&chk, 0, sizeof chk);
    memset(&dep, 0, sizeof dep);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: nnport compile QDQ.onnx --target npu-small|npu-large|mcu|TARGET.json -o MODEL.nnb\n"
                   "                       [--shape NAME=DIMS]... [--program] [--layers] [--emit-c OUT/NAME]\n"
                   "  QDQ.onnx    a quantized model (nnport quantize ... -o QDQ.onnx)\n"
                   "  --target    a preset or a JSON file of nn_target_desc fields (see nnport plan --help)\n"
                   "  --shape     fix an input's shape (the program needs static shapes)\n"
                   "  --program   print every instruction with its operands\n"
                   "  --layers    print the layers of every group with their MACs and cycles\n"
                   "  --check allclose|bitequal|cosine --check-input [NAME=]FILE.npy ...\n"
                   "              after compiling, run the simulator and the quantized model (nn_qexec)\n"
                   "              on each sample and compare (per output; --check-per-layer: every tensor\n"
                   "              both produce); --check-skip REGEX leaves tensors out (repeatable);\n"
                   "              --check-rtol/--check-atol (allclose, real values), --check-cos (0.999);\n"
                   "              a failure names the first layer that diverges and exits 1\n"
                   "  --keep-act  a conv whose output only an activation table reads (HardSwish, Sigmoid, ...)\n"
                   "              is one instruction with the activation fused; this keeps them apart, the\n"
                   "              conv's output in memory where --check-per-layer sees it\n"
                   "  --emit-c OUT/NAME  also write OUT/NAME.c + OUT/NAME.h: the program as C99 needing only the\n"
                   "              C library, int NAME_run(const void *const *in, void *const *out) (docs/TARGET.md)\n"
                   "  --batch-sizes 1,2,4  one program per batch size in one file (weights once); --max-batch N:\n"
                   "              try 1, 2, 4, ... N and keep those whose cycles per sample improve\n"
                   "  --input-format nv12|nv21 [--input-range full|limited] [--input-order rgb|bgr]\n"
                   "              [--input-mean a,b,c] [--input-scale a,b,c]: input 0 becomes a u8 frame\n"
                   "              (N, H*3/2, W) converted (BT.601) and quantized on the NPU; model value =\n"
                   "              (pixel - mean) * scale per model plane\n"
                   "  --patches   run the leading layers band by band (MCUNetV2 patches, docs/TARGET.md):\n"
                   "              the QDQ graph rewritten by nn_target_patchify before compiling; the cut\n"
                   "              and band height from nn_target_plan_patches unless --patch-cut NAME /\n"
                   "              --patch-rows N; --patch-onnx OUT.onnx also writes the rewritten graph;\n"
                   "              --quantized-input: the input's QuantizeLinear is left to the caller\n"
                   "  run it: nnport run MODEL.nnb --input NAME=FILE.npy --output-dir DIR\n");
            return CLI_EXIT_OK;
        }
        int r = cli_take_input_option("compile", argc, argv, &i, &inputs);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if ((r = compile_take_check_option(argc, argv, &i, &chk)) < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if ((r = compile_take_deploy_option(argc, argv, &i, &dep)) < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(argv[i], "--target") == 0 && i + 1 < argc) { target = argv[++i]; continue; }
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) { out = argv[++i]; continue; }
        if (strcmp(argv[i], "--layers") == 0) { layers = 1; continue; }
        if (strcmp(argv[i], "--emit-c") == 0 && i + 1 < argc) { emit = argv[++i]; continue; }
        if (strcmp(argv[i], "--program") == 0) { program = 1; continue; }
        if (strcmp(argv[i], "--keep-act") == 0) { keep_act = 1; continue; }
        if (strcmp(argv[i], "--patches") == 0) { patches = 1; continue; }
        if (strcmp(argv[i], "--quantized-input") == 0) { qinput = 1; continue; }
        if (strcmp(argv[i], "--patch-onnx") == 0 && i + 1 < argc) { patch_onnx = argv[++i]; continue; }
        if (strcmp(argv[i], "--patch-cut") == 0 && i + 1 < argc) { patch_cut = argv[++i]; continue; }
        if (strcmp(argv[i], "--patch-rows") == 0 && i + 1 < argc) {
            char *end;
            patch_rows = strtol(argv[++i], &end, 10);
            if (*end || patch_rows < 1 || patch_rows > 65536) return cli_usage_error("compile", "--patch-rows %s: give 1 to 65536", argv[i]);
            continue;
        }
        if (argv[i][0] == '-') return cli_usage_error("compile", "unknown option '%s' (or missing value)", argv[i]);
        if (in) return cli_usage_error("compile", "one model at a time");
        in = argv[i];
    }
    if (!in) return cli_usage_error("compile", "give QDQ.onnx");
    if (!target) return cli_usage_error("compile", "give --target npu-small, npu-large, mcu or a TARGET.json");
    if (!out && !emit) return cli_usage_error("compile", "give -o MODEL.nnb and/or --emit-c OUT/NAME");
    if (inputs.count) return cli_usage_error("compile", "--input is not used by compile (only --shape; --check-input for --check)");
    if (!chk.level && (chk.file_count || chk.skip_count || chk.per_layer))
        return cli_usage_error("compile", "--check-input/--check-skip/--check-per-layer need --check LEVEL");
    if (chk.level && !chk.file_count) return cli_usage_error("compile", "--check needs --check-input [NAME=]FILE.npy");
    if (!patches && (patch_onnx || patch_cut || patch_rows || qinput))
        return cli_usage_error("compile", "--patch-onnx/--patch-cut/--patch-rows/--quantized-input need --patches");

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
    if (patches) {
        nn_target_patchify_desc pd;
        nn_target_patchify_report pr;
        nn_graph *banded = NULL;
        memset(&pd, 0, sizeof pd);
        pd.cut = patch_cut;
        pd.band_rows = (uint32_t)patch_rows;
        pd.input_shapes = inputs.shapes;
        pd.input_shape_count = (uint32_t)inputs.shape_count;
        pd.flags = qinput ? NN_TARGET_PATCHIFY_QUANTIZED_INPUT : 0;
        nn_status pst = nn_target_patchify(g, &pd, &banded, &pr, &d);
        if (pst == NN_ERR_UNSUPPORTED && !patch_cut) {
            /* the planned prefix holds an op the rewrite cannot band: compile unbanded */
            printf("patches: not applied (%s: %s); compiled unbanded\n", d.where, d.message);
            memset(&d, 0, sizeof d);
            pd.flags |= NN_TARGET_PATCHIFY_NO_BANDS;
            if (nn_target_patchify(g, &pd, &banded, &pr, &d)) { cli_fail(in, &d); goto done; }
        } else if (pst) {
            cli_fail(in, &d);
            goto done;
        } else if (pr.bands)
            printf("patches: cut %s, %u bands of %u rows; %u prefix nodes -> %u banded nodes (%u Slice); prefix MACs %llu -> %llu (%.3fx)\n",
                   pr.cut, pr.bands, pr.band_rows, pr.prefix_nodes, pr.banded_nodes, pr.slices, (unsigned long long)pr.prefix_macs,
                   (unsigned long long)pr.banded_macs, pr.prefix_macs ? (double)pr.banded_macs / (double)pr.prefix_macs : 1.0);
        else
            printf("patches: no banded prefix lowers the peak (compiled unbanded)\n");
        if (banded) {
            nn_graph_destroy(g);
            g = banded;
        }
        if (patch_onnx && nn_onnx_save_file(g, patch_onnx, NULL, &d)) { cli_fail(patch_onnx, &d); goto done; }
    }
    nn_target_compile_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.input_shapes = inputs.shapes;
    cd.input_shape_count = (uint32_t)inputs.shape_count;
    cd.keep_act = (uint32_t)keep_act;
    if ((rc = compile_apply_deploy(&dep, &cd)) != CLI_EXIT_OK) goto done;
    rc = CLI_EXIT_FAIL;
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
    compile_print_batches(p, &tf.desc);
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
    if (out) {
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
    if (emit && cli_emit_c(p, emit) != CLI_EXIT_OK) goto done;
    rc = chk.level ? compile_check(p, g, &chk) : CLI_EXIT_OK;
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

/* A multi-batch program on inputs of any batch N (their first dim): the
   outputs go to one buffer (*obuf, freed by the caller). */
static nn_status compile_run_batch(const nn_target_program *p, void *mem, size_t mb, const nn_value *values, nn_value *outs,
                                   uint8_t **obuf, nn_diag *d) {
    uint64_t n = p->input_count && values[0].shape.rank ? (uint64_t)values[0].shape.dims[0] : 0, total = 0, at = 0;
    if (n < 1 || n > NN_MAX_TARGET_BATCH * 64)
        return nn_diag_set(d, NN_ERR_ARG, p->slots[p->inputs[0]].name, "first dim %llu: not a batch", (unsigned long long)n);
    for (uint32_t i = 0; i < p->output_count; i++) total += n * p->slots[p->outputs[i]].bytes;
    *obuf = (uint8_t *)malloc((size_t)total + 1);
    if (!*obuf) return nn_diag_set(d, NN_ERR_NOMEM, "nnport run", "out of memory for the outputs");
    for (uint32_t i = 0; i < p->output_count; i++) {
        memset(&outs[i], 0, sizeof outs[i]);
        outs[i].data = *obuf + at;
        outs[i].bytes = (size_t)(n * p->slots[p->outputs[i]].bytes);
        at += outs[i].bytes;
    }
    return nn_target_sim_run_batch(p, mem, mb, n, values, outs, d);
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
    uint8_t *obuf = NULL; /* batch outputs */
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
    size_t mb = p->batch ? nn_target_batch_scratch_bytes(p) : nn_target_sim_scratch_bytes(p);
    raw = (char *)malloc(mb + 64);
    if (!raw) { fprintf(stderr, "nnport: out of memory for %zu bytes of simulator memory\n", mb); goto done; }
    double t0 = cli_now_ms();
    if (p->batch ? compile_run_batch(p, raw + (64 - (uintptr_t)raw % 64) % 64, mb, values, outs, &obuf, &d)
                 : nn_target_sim_run(p, raw + (64 - (uintptr_t)raw % 64) % 64, mb, values, outs, &d)) { cli_fail(path, &d); goto done; }
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
        if (rc == CLI_EXIT_OK) { /* outputs.json, as for a graph */
            const char *names[64];
            const nn_value *ov[64];
            for (uint32_t i = 0; i < p->output_count; i++) {
                names[i] = p->slots[p->outputs[i]].name;
                ov[i] = &outs[i];
            }
            snprintf(tmp, plen, "%s/outputs.json.part", outdir);
            snprintf(fin, plen, "%s/outputs.json", outdir);
            if (!cli_write_outputs_json(tmp, p->output_count, names, ov) || rename(tmp, fin) != 0) {
                fprintf(stderr, "nnport: %s: cannot write: %s\n", fin, strerror(errno));
                remove(tmp);
                rc = CLI_EXIT_FAIL;
            }
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
    free(obuf);
    free(bytes);
    return rc;
}
