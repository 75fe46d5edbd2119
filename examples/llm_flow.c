/* llm_flow - the LLM flow, stage by stage, on the character GPT that
   scripts/train_gpt.py trains (tokens (1,128) int64 -> logits (1,128,V)):

     import -> optimize (llm template: fused LayerNorm/GELU/attention,
               4-D tensors) -> compare
            -> quantize (weights int8 or int4, per channel or per group; activations int16) -> compare
            -> compile (npu-large) -> compare on the simulator
            -> greedy generation with the float model and on the simulator

   llm_flow MODEL.onnx --vocab VOCAB.json --data DIR --out RESULT_DIR
            [--weights int8|int4] [--group G] [--activations s16|s8] [--prompt TEXT] [--chars N]
            [--tol-optimize COS] [--tol-quantize COS]

   DIR holds windowNN.npy (tokens) and windowNN_targets.npy (the next
   characters) in calib/ and eval/ (scripts/make_inputs.py gpt).  The
   comparisons are next-character accuracy and cross-entropy on eval/
   against the targets, and the logits' worst cosine against the float
   model, which is the gate: --tol-optimize (0.99999) after optimize,
   --tol-quantize (0.99) after quantize and compile.  A failed gate prints
   the per-layer table (quantize) and stops the flow with status 1.  The
   generation says how many leading characters the two texts share and,
   where they part, the float model's two best next characters. */
#define _POSIX_C_SOURCE 200809L
#include "nn_graph.h"
#include "nn_onnx.h"
#include "nn_verify.h"
#include "nn_calib.h"
#include "nn_quant.h"
#include "nn_target.h"
#include "nnport/cli.h"
#include "nnport/config.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_WINDOWS 64
#define MAX_VOCAB 512

typedef struct windows { nn_value tokens[MAX_WINDOWS], targets[MAX_WINDOWS]; uint32_t count; } windows;

static int die(const char *what, const nn_diag *d) {
    fprintf(stderr, "llm_flow: %s: %s%s%s\n", what, d->where, d->where[0] ? ": " : "", d->message);
    return 1;
}

/* windowNN.npy and windowNN_targets.npy, NN = 00, 01, ... */
static int load_windows(const char *dir, windows *w) {
    char path[4200];
    nn_diag d = {0};
    for (w->count = 0; w->count < MAX_WINDOWS; w->count++) {
        snprintf(path, sizeof path, "%s/window%02u.npy", dir, w->count);
        FILE *f = fopen(path, "rb");
        if (!f) break;
        fclose(f);
        if (nn_verify_load_npy_file(path, &w->tokens[w->count], NULL, &d)) return die(path, &d);
        snprintf(path, sizeof path, "%s/window%02u_targets.npy", dir, w->count);
        if (nn_verify_load_npy_file(path, &w->targets[w->count], NULL, &d)) return die(path, &d);
    }
    if (!w->count) { fprintf(stderr, "llm_flow: %s: no window00.npy\n", dir); return 1; }
    return 0;
}

/* The vocabulary: the "chars" array of VOCAB.json, one character each. */
static int load_vocab(const char *path, char *chars, int *n) {
    cJSON *v = cli_load_json(path);
    const cJSON *arr = v ? cJSON_GetObjectItemCaseSensitive(v, "chars") : NULL;
    *n = 0;
    for (const cJSON *c = arr ? arr->child : NULL; c && *n < MAX_VOCAB; c = c->next)
        chars[(*n)++] = cJSON_IsString(c) && c->valuestring[0] ? c->valuestring[0] : '?';
    cJSON_Delete(v);
    if (!*n) fprintf(stderr, "llm_flow: %s: no \"chars\" array\n", path);
    return *n ? 0 : 1;
}

/* One forward pass; float executor or, for a QDQ graph, the fake-quant
   executor.  *out points into the executor, which the caller destroys. */
/* A model to run: a float graph (reference executor), a QDQ graph
   (fake-quant executor) or a compiled program (the simulator, in one block
   of caller memory: it never allocates). */
typedef struct runnable { const nn_graph *g; const nn_target_program *p; } runnable;
typedef struct runner { nn_exec *x; nn_qexec *q; const nn_target_program *p; void *mem; size_t mem_bytes; nn_value out; } runner;

static nn_status runner_init(runner *r, runnable m, nn_diag *d) {
    memset(r, 0, sizeof *r);
    if (m.p) {
        r->p = m.p;
        r->mem_bytes = nn_target_sim_scratch_bytes(m.p);
        return posix_memalign(&r->mem, 64, r->mem_bytes ? r->mem_bytes : 64) ? NN_ERR_NOMEM : NN_OK;
    }
    return nn_quant_graph_is_qdq(m.g) ? nn_qexec_create(m.g, NULL, &r->q, d) : nn_exec_create(m.g, NULL, &r->x, d);
}

static const nn_value *runner_run(runner *r, const nn_value *tokens, nn_diag *d) {
    if (r->p) return nn_target_sim_run(r->p, r->mem, r->mem_bytes, tokens, &r->out, d) ? NULL : &r->out;
    nn_status st = r->q ? nn_qexec_set_input(r->q, 0, tokens, d) : nn_exec_set_input(r->x, 0, tokens, d);
    if (!st) st = r->q ? nn_qexec_run(r->q, d) : nn_exec_run(r->x, d);
    return st ? NULL : r->q ? nn_qexec_output(r->q, 0) : nn_exec_output(r->x, 0);
}

static void runner_deinit(runner *r) { nn_exec_destroy(r->x); nn_qexec_destroy(r->q); free(r->mem); }

/* Next-character accuracy, mean cross-entropy (nats) over the eval windows,
   and the logits' worst cosine against ref_logits (kept when fill). */
typedef struct score { double acc, xent, cos; } score;

static int evaluate(runnable m, const windows *w, nn_value *ref_logits, int fill, score *s) {
    runner r;
    nn_diag d = {0};
    double hits = 0, xent = 0, total = 0;
    s->cos = 1;
    if (runner_init(&r, m, &d)) return die("evaluate", &d);
    for (uint32_t k = 0; k < w->count; k++) {
        const nn_value *y = runner_run(&r, &w->tokens[k], &d); /* (1, T, V) */
        if (!y) { runner_deinit(&r); return die("evaluate", &d); }
        const float *lg = (const float *)y->data;
        const int64_t *tg = (const int64_t *)w->targets[k].data;
        int64_t T = y->shape.dims[y->shape.rank - 2], V = y->shape.dims[y->shape.rank - 1];
        for (int64_t t = 0; t < T; t++) {
            const float *row = lg + t * V;
            int64_t best = 0;
            double mx = row[0], z = 0;
            for (int64_t v = 1; v < V; v++) if (row[v] > row[best]) best = v;
            mx = row[best];
            for (int64_t v = 0; v < V; v++) z += exp(row[v] - mx);
            hits += best == tg[t];
            xent += log(z) + mx - row[tg[t]];
            total += 1;
        }
        if (fill) {
            ref_logits[k] = *y;
            ref_logits[k].data = malloc(y->bytes);
            if (ref_logits[k].data) memcpy(ref_logits[k].data, y->data, y->bytes);
        } else {
            nn_verify_stats st;
            if (!nn_verify_compare(&ref_logits[k], y, NULL, &st, &d) && st.cosine < s->cos) s->cos = st.cosine;
        }
    }
    runner_deinit(&r);
    s->acc = hits / total;
    s->xent = xent / total;
    return 0;
}

/* The two best next characters of one generation step, with their
   softmax probabilities. */
typedef struct top2 { int64_t c[2]; double p[2]; } top2;

static top2 top_two(const float *row, int64_t V) {
    top2 t = {{0, V > 1 ? 1 : 0}, {0, 0}};
    if (V > 1 && row[1] > row[0]) { t.c[0] = 1; t.c[1] = 0; }
    for (int64_t v = 2; v < V; v++) {
        if (row[v] > row[t.c[0]]) { t.c[1] = t.c[0]; t.c[0] = v; }
        else if (row[v] > row[t.c[1]]) t.c[1] = v;
    }
    double z = 0, mx = row[t.c[0]];
    for (int64_t v = 0; v < V; v++) z += exp((double)row[v] - mx);
    t.p[0] = 1.0 / z;
    t.p[1] = exp((double)row[t.c[1]] - mx) / z;
    return t;
}

/* Greedy generation: the prompt at positions 0.., read the logits at the
   last filled position, append the argmax; slide the window when full.  The
   model is causal, so the unused positions after the text do not matter.
   steps[k] gets step k's two best characters. */
static int generate(runnable m, const char *vocab, int nv, const char *prompt, int n, char *out, top2 *steps) {
    runner r;
    nn_diag d = {0};
    int64_t toks[128] = {0}, dims[2] = {1, 128};
    int len = 0, o = 0;
    if (runner_init(&r, m, &d)) return die("generate", &d);
    for (const char *p = prompt; *p && len < 128; p++) {
        const char *hit = memchr(vocab, *p, (size_t)nv);
        toks[len++] = hit ? hit - vocab : 0;
    }
    for (int k = 0; k < n; k++) {
        nn_value in = nn_value_make(NN_DTYPE_INT64, nn_shape_make(2, dims), toks);
        const nn_value *y = runner_run(&r, &in, &d);
        if (!y) { runner_deinit(&r); return die("generate", &d); }
        int64_t V = y->shape.dims[y->shape.rank - 1];
        const float *row = (const float *)y->data + (len - 1) * V;
        steps[k] = top_two(row, V);
        int64_t best = steps[k].c[0];
        out[o++] = best < nv ? vocab[best] : '?';
        if (len == 128) { memmove(toks, toks + 1, 127 * sizeof *toks); len--; }
        toks[len++] = best;
    }
    out[o] = 0;
    runner_deinit(&r);
    return 0;
}

/* Ranges for every tensor from the calibration windows (MinMax: int16 has
   the headroom, and weights are per channel). */
static int calibrate(const nn_graph *g, const windows *w, nn_quant_range *ranges) {
    nn_calib_collector *col = NULL;
    nn_exec *x = NULL;
    nn_calib_collector_desc cd = {0};
    nn_diag d = {0};
    nn_status st = nn_calib_collector_create(g, &cd, &col, &d);
    nn_exec_desc xd = {.observer = nn_calib_collector_exec_observer, .observer_user = col};
    if (!st) st = nn_exec_create(g, &xd, &x, &d);
    for (uint32_t k = 0; !st && k < w->count; k++) {
        st = nn_exec_set_input(x, 0, &w->tokens[k], &d);
        if (!st) st = nn_exec_run(x, &d);
    }
    nn_calib_desc rule = {.method = NN_CALIB_MINMAX};
    if (!st) st = nn_quant_ranges_from_collector(g, col, &rule, ranges, &d);
    nn_exec_destroy(x);
    nn_calib_collector_destroy(col);
    return st ? die("calibrate", &d) : 0;
}

/* Prints a stage's line and adds it to the record; with gate >= 0 the
   logits' worst cosine must reach it.  Returns 1 when the stage passes. */
static int stage_row(cJSON *stages, const char *stage, double ms, const score *s, double gate) {
    int ok = gate < 0 || s->cos >= gate;
    printf("%-10s %7.0f ms   next-char accuracy %.4f   cross-entropy %.4f   logits cosine %.6f", stage, ms,
           s->acc, s->xent, s->cos);
    if (gate >= 0) printf(" (gate >= %g)   %s", gate, ok ? "ok" : "FAIL");
    printf("\n");
    cJSON *row = cJSON_CreateObject();
    cJSON_AddStringToObject(row, "stage", stage);
    cJSON_AddNumberToObject(row, "time_ms", ms);
    cJSON_AddNumberToObject(row, "cos", s->cos);
    cJSON_AddItemToArray(stages, row);
    return ok;
}

/* A printable character of the vocabulary, for messages. */
static const char *show_char(const char *vocab, int nv, int64_t c, char *buf) {
    char ch = c >= 0 && c < nv ? vocab[c] : '?';
    if (ch == '\n') return "\\n";
    buf[0] = ch;
    buf[1] = 0;
    return buf;
}

int main(int argc, char **argv) {
    const char *model = NULL, *vocab_path = NULL, *data = NULL, *out = NULL, *prompt = "The ";
    int weight_bits = 8, chars = 120, group = 0;
    double tol_optimize = 0.99999, tol_quantize = 0.99;
    nn_quant_scheme scheme = NN_QUANT_S16_SYM;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') { model = a; continue; }
        if (!v) { fprintf(stderr, "llm_flow: %s needs a value\n", a); return 2; }
        if (!strcmp(a, "--vocab")) vocab_path = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "--chars")) chars = atoi(v) > 0 && atoi(v) < 4096 ? atoi(v) : 120;
        else if (!strcmp(a, "--weights")) weight_bits = !strcmp(v, "int4") ? 4 : 8;
        else if (!strcmp(a, "--group")) group = atoi(v) > 0 && atoi(v) <= 65536 ? atoi(v) : 0;
        else if (!strcmp(a, "--activations")) scheme = !strcmp(v, "s8") ? NN_QUANT_S8_SYM : NN_QUANT_S16_SYM;
        else if (!strcmp(a, "--tol-optimize") || !strcmp(a, "--tol-quantize")) {
            char *end = NULL;
            double t = strtod(v, &end);
            if (!end || end == v || *end || !(t >= 0 && t <= 1)) {
                fprintf(stderr, "llm_flow: %s %s: a cosine from 0 to 1\n", a, v);
                return 2;
            }
            *(!strcmp(a, "--tol-optimize") ? &tol_optimize : &tol_quantize) = t;
        }
        else { fprintf(stderr, "llm_flow: unknown option %s\n", a); return 2; }
        i++;
    }
    if (!model || !vocab_path || !data || !out) {
        fprintf(stderr, "usage: llm_flow MODEL.onnx --vocab VOCAB.json --data DIR --out RESULT_DIR\n"
                        "                [--weights int8|int4] [--group G] [--activations s16|s8] [--prompt TEXT] [--chars N]\n"
                        "                [--tol-optimize COS] [--tol-quantize COS]\n");
        return 2;
    }
    if (mkdir(out, 0777) != 0 && errno != EEXIST) { perror(out); return 1; }
    static windows cal, ev;
    static nn_value ref[MAX_WINDOWS];
    static char vocab[MAX_VOCAB], text_f[4100], text_q[4100];
    static top2 steps_f[4100], steps_q[4100];
    char path[4200];
    int nv, rc = 1, gen_same = -1;
    nn_diag d = {0};
    score s;
    nn_graph *g = NULL, *q = NULL;
    nn_target_program *prog = NULL;
    nn_quant_range *ranges = NULL;
    cJSON *stages = cJSON_CreateArray();

    snprintf(path, sizeof path, "%s/calib", data);
    if (load_vocab(vocab_path, vocab, &nv) || load_windows(path, &cal)) goto done;
    snprintf(path, sizeof path, "%s/eval", data);
    if (load_windows(path, &ev)) goto done;

    /* import */
    double t0 = cli_now_ms();
    if (nn_onnx_load_file(model, NULL, &g, &d)) { rc = die(model, &d); goto done; }
    if (evaluate((runnable){g, NULL}, &ev, ref, 1, &s)) goto done;
    stage_row(stages, "import", cli_now_ms() - t0, &s, -1);

    /* optimize: the llm template (fused patterns, 4-D tensors) */
    t0 = cli_now_ms();
    if (nn_graph_run_template(g, "llm", NULL, NULL, &d)) { rc = die("optimize", &d); goto done; }
    snprintf(path, sizeof path, "%s/1_optimized.onnx", out);
    if (nn_onnx_save_file(g, path, NULL, &d) || evaluate((runnable){g, NULL}, &ev, ref, 0, &s)) { rc = die(path, &d); goto done; }
    if (!stage_row(stages, "optimize", cli_now_ms() - t0, &s, tol_optimize)) goto done;

    /* quantize: weights int8/int4 per channel (or per group of G input
       elements: blocked DequantizeLinear, opset 21), activations int16 */
    t0 = cli_now_ms();
    if (group) {
        nn_pass_desc pd = {.target_opset = 21};
        if (nn_graph_run_passes(g, "opset", &pd, NULL, &d) || nn_graph_infer_shapes(g, NULL, 0, &d)) {
            rc = die("opset 21 for --group", &d);
            goto done;
        }
    }
    ranges = (nn_quant_range *)calloc(g->tensor_count + 1, sizeof *ranges);
    nn_quant_desc qd = {.scheme = scheme, .weight_bits = weight_bits, .weight_group = (uint32_t)group};
    if (!ranges || calibrate(g, &cal, ranges)) goto done;
    if (nn_quant_graph(g, ranges, &qd, &q, NULL, &d)) { rc = die("quantize", &d); goto done; }
    snprintf(path, sizeof path, "%s/2_quantized.onnx", out);
    if (nn_onnx_save_file(q, path, NULL, &d) || evaluate((runnable){q, NULL}, &ev, ref, 0, &s)) { rc = die(path, &d); goto done; }
    if (!stage_row(stages, group ? (weight_bits == 4 ? "quantize (w4 g)" : "quantize (w8 g)")
                                 : weight_bits == 4 ? "quantize (w4)" : "quantize (w8)", cli_now_ms() - t0, &s, tol_quantize)) {
        nn_quant_eval_desc ed = {.int_kernels = 1};
        cli_print_worst_layers(g, q, ev.tokens, ev.count, &ed, "");
        goto done;
    }
    /* compile for npu-large and run the program on the simulator */
    t0 = cli_now_ms();
    nn_target_desc t;
    if (nn_target_preset("npu-large", &t, &d) || nn_target_compile(q, &t, NULL, &prog, &d)) { rc = die("compile", &d); goto done; }
    snprintf(path, sizeof path, "%s/3_compiled.nnb", out);
    FILE *fp = fopen(path, "wb");
    if (!fp || nn_target_save(prog, nn_verify_write_file, fp, &d)) { if (fp) fclose(fp); rc = die(path, &d); goto done; }
    fclose(fp);
    if (evaluate((runnable){NULL, prog}, &ev, ref, 0, &s)) goto done;
    if (!stage_row(stages, "compile", cli_now_ms() - t0, &s, tol_quantize)) goto done;

    /* generation: the float model, and the compiled program on the simulator */
    if (generate((runnable){g, NULL}, vocab, nv, prompt, chars, text_f, steps_f) ||
        generate((runnable){NULL, prog}, vocab, nv, prompt, chars, text_q, steps_q))
        goto done;
    printf("\nprompt: \"%s\"\nfloat:     %s%s\nsimulator: %s%s\n", prompt, prompt, text_f, prompt, text_q);
    int same = 0;
    while (same < chars && text_f[same] == text_q[same]) same++;
    printf("the simulator's text equals the float model's for %d of %d characters\n", same, chars);
    if (same < chars) {
        /* where they part: a near-tie in the float model's own choice is
           what a small quantization error can flip */
        const top2 *tf = &steps_f[same], *tq = &steps_q[same];
        char b0[2], b1[2], b2[2], b3[2];
        printf("at character %d the float model's two best are '%s' %.4f and '%s' %.4f; "
               "the simulator's '%s' %.4f and '%s' %.4f\n", same + 1,
               show_char(vocab, nv, tf->c[0], b0), tf->p[0], show_char(vocab, nv, tf->c[1], b1), tf->p[1],
               show_char(vocab, nv, tq->c[0], b2), tq->p[0], show_char(vocab, nv, tq->c[1], b3), tq->p[1]);
    }
    gen_same = same;
    rc = 0;
done:
    {
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddStringToObject(rec, "title", "nnport LLM flow");
        cJSON_AddStringToObject(rec, "model", model);
        if (gen_same >= 0) {
            cJSON_AddNumberToObject(rec, "generate_same_chars", gen_same);
            cJSON_AddNumberToObject(rec, "generate_chars", chars);
        }
        cJSON_AddItemToObject(rec, "stages", stages);
        cli_flow_write_record(rec, out);
        cJSON_Delete(rec);
    }
    for (uint32_t k = 0; k < MAX_WINDOWS; k++) {
        free(ref[k].data);
        nn_verify_value_free(&cal.tokens[k], NULL);
        nn_verify_value_free(&cal.targets[k], NULL);
        nn_verify_value_free(&ev.tokens[k], NULL);
        nn_verify_value_free(&ev.targets[k], NULL);
    }
    free(ranges);
    nn_target_program_destroy(prog);
    nn_graph_destroy(q);
    nn_graph_destroy(g);
    return rc;
}
