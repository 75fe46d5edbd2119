/* cli.c - argument helpers and shared loading for the nnport subcommands. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "nn_target.h"
#include "config.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_fail(const char *file, const nn_diag *d) {
    /* loaders that know the path put it in d->where already: say it once */
    if (file && d->where[0] && strncmp(d->where, file, strlen(file)) == 0) file = NULL;
    fprintf(stderr, "nnport: %s%s%s%s%s\n", file ? file : "", file ? ": " : "", d->where[0] ? d->where : "",
            d->where[0] ? ": " : "", d->message[0] ? d->message : nn_status_name(d->status));
    /* Command-line mistakes go through cli_usage_error; anything reported
       by the headers is about a file or a value: status 1. */
    return CLI_EXIT_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "nnport %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(run 'nnport %s --help' for the options)\n", cmd);
    return CLI_EXIT_USAGE;
}

int cli_parse_shape(const char *text, nn_shape *out) {
    memset(out, 0, sizeof *out);
    if (strcmp(text, "scalar") == 0) return 1;
    const char *p = text;
    while (*p) {
        if (out->rank >= NN_MAX_RANK) return 0;
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0) return 0;
        out->dims[out->rank++] = v;
        if (*end == 0) break;
        if (*end != 'x' && *end != ',') return 0;
        p = end + 1;
        if (*p == 0) return 0;
    }
    return out->rank > 0;
}

const char *cli_split_pair(const char *arg, char *name, size_t name_cap) {
    const char *eq = strrchr(arg, '=');
    if (!eq || eq == arg || (size_t)(eq - arg) >= name_cap) return NULL;
    memcpy(name, arg, (size_t)(eq - arg));
    name[eq - arg] = 0;
    return eq + 1;
}

int cli_parse_int(const char *text, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno || v < min || v > max) return 0;
    *out = v;
    return 1;
}

int cli_parse_rounding(const char *text, nn_quant_rounding *out) {
    if (!strcmp(text, "nearest")) *out = NN_QUANT_ROUND_NEAREST;
    else if (!strcmp(text, "sum")) *out = NN_QUANT_ROUND_SUM;
    else return 0;
    return 1;
}

int cli_calib_bits(int act_bits, nn_calib_method m) {
    if ((m == NN_CALIB_ACIQ_GAUSS || m == NN_CALIB_ACIQ_LAPLACE) && act_bits > 8) return 8;
    return act_bits;
}

int cli_parse_scheme(const char *text, nn_quant_scheme *out) {
    if (!strcmp(text, "s8sym")) *out = NN_QUANT_S8_SYM;
    else if (!strcmp(text, "u8asym")) *out = NN_QUANT_U8_ASYM;
    else if (!strcmp(text, "s8asym")) *out = NN_QUANT_S8_ASYM;
    else if (!strcmp(text, "s16")) *out = NN_QUANT_S16_SYM;
    else return 0;
    return 1;
}

uint32_t cli_softmax_quantized(const nn_quant_softmax_bias *sb, uint32_t n, double *worst) {
    uint32_t k, quantized = 0;
    *worst = 1;
    for (k = 0; k < n; k++)
        if (sb[k].quantized) {
            quantized++;
            if (fabs(sb[k].row_sum - 1) > fabs(*worst - 1)) *worst = sb[k].row_sum;
        }
    return quantized;
}

long cli_peak_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) { kib = strtol(line + 6, NULL, 10); break; }
    fclose(f);
    return kib;
}

double cli_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

char *cli_human(double v, char *buf, size_t cap) {
    const char *unit[] = {"", " K", " M", " G", " T"};
    int u = 0;
    while (v >= 1000.0 && u < 4) { v /= 1000.0; u++; }
    snprintf(buf, cap, u ? "%.2f%s" : "%.0f%s", v, unit[u]);
    return buf;
}

nn_status cli_load_model(const char *path, nn_graph **out, nn_diag *d) {
    return nn_onnx_load_file(path, NULL, out, d);
}

int cli_take_input_option(const char *cmd, int argc, char **argv, int *i, cli_inputs *in) {
    const char *opt = argv[*i];
    int is_input = strcmp(opt, "--input") == 0, is_shape = strcmp(opt, "--shape") == 0;
    if (!is_input && !is_shape) return 0;
    if (*i + 1 >= argc) { cli_usage_error(cmd, "%s needs NAME=VALUE", opt); return -1; }
    const char *arg = argv[++*i];
    if (is_input) {
        if (in->count >= 64) { cli_usage_error(cmd, "at most 64 --input options"); return -1; }
        const char *file = cli_split_pair(arg, in->names[in->count], sizeof in->names[0]);
        if (!file || !*file) { cli_usage_error(cmd, "--input '%s' is not NAME=FILE.npy", arg); return -1; }
        in->files[in->count++] = file;
    } else {
        if (in->shape_count >= 64) { cli_usage_error(cmd, "at most 64 --shape options"); return -1; }
        int k = in->shape_count;
        const char *dims = cli_split_pair(arg, in->shape_names[k], sizeof in->shape_names[0]);
        if (!dims || !cli_parse_shape(dims, &in->shapes[k].shape)) {
            cli_usage_error(cmd, "--shape '%s' is not NAME=DIMS like images=1x3x224x224", arg);
            return -1;
        }
        in->shapes[k].name = in->shape_names[k];
        in->shape_count++;
    }
    return 1;
}

int cli_load_inputs(const char *cmd, const nn_graph *g, const cli_inputs *in, nn_value *values) {
    nn_diag d;
    for (int k = 0; k < in->count; k++) {
        nn_tensor_id id = nn_graph_find_tensor(g, in->names[k]);
        if (id.id == NN_INVALID_ID || !(g->tensors[id.id].flags & NN_TENSOR_INPUT))
            return cli_usage_error(cmd, "--input '%s': the model has no input of that name", in->names[k]);
    }
    for (uint32_t i = 0; i < g->input_count; i++) {
        const char *name = g->tensors[g->inputs[i].id].name;
        int k = 0;
        while (k < in->count && strcmp(in->names[k], name) != 0) k++;
        if (k == in->count) return cli_usage_error(cmd, "model input '%s' needs --input %s=FILE.npy", name, name);
        memset(&d, 0, sizeof d);
        if (nn_verify_load_npy_file(in->files[k], &values[i], NULL, &d)) return cli_fail(in->files[k], &d);
    }
    return CLI_EXIT_OK;
}

const char *cli_input_file(const nn_graph *g, const cli_inputs *in, uint32_t index) {
    const char *name = g->tensors[g->inputs[index].id].name;
    for (int k = 0; k < in->count; k++)
        if (strcmp(in->names[k], name) == 0) return in->files[k];
    return name;
}

int cli_bind_inputs(const char *cmd, const nn_graph *g, nn_exec *x, const cli_inputs *in, nn_value *values) {
    int rc = cli_load_inputs(cmd, g, in, values);
    for (uint32_t i = 0; rc == CLI_EXIT_OK && i < g->input_count; i++) {
        nn_diag d;
        memset(&d, 0, sizeof d);
        if (nn_exec_set_input(x, i, &values[i], &d)) return cli_fail(cli_input_file(g, in, i), &d);
    }
    return rc;
}

size_t cli_argmax(const float *row, size_t c) {
    size_t k, best = 0;
    for (k = 1; k < c; k++)
        if (row[k] > row[best]) best = k;
    return best;
}

/* The next character of a greedy CTC reading of `rows` rows of `c` scores,
   from row *i on (*last: the previous row's class); (size_t)-1 at the end. */
static size_t cli_ctc_next(const float *scores, size_t rows, size_t c, size_t *i, size_t *last) {
    size_t out = (size_t)-1;
    for (; *i < rows && out == (size_t)-1; (*i)++) {
        size_t k = cli_argmax(scores + *i * c, c);
        if (k != *last && k != 0) out = k;
        *last = k;
    }
    return out;
}

int cli_ctc_same(const float *a, const float *b, size_t rows, size_t classes) {
    size_t ia = 0, ib = 0, la = (size_t)-1, lb = (size_t)-1;
    if (!classes) return 1;
    for (;;) { /* walk both readings together; any difference is a miss */
        size_t ca = cli_ctc_next(a, rows, classes, &ia, &la), cb = cli_ctc_next(b, rows, classes, &ib, &lb);
        if (ca != cb) return 0;
        if (ca == (size_t)-1) return 1;
    }
}

void cli_agreement_reset(cli_agreement *a) {
    a->cos = 1;
    a->peak_rel = 0;
    a->ctc_same = a->ctc_outputs = 0;
}

void cli_agree(cli_agreement *a, const nn_value *ref, const nn_value *got) {
    nn_verify_stats s;
    nn_diag d = {0};
    if (a->ctc) a->ctc_outputs++;
    if (nn_verify_compare(ref, got, NULL, &s, &d)) { a->cos = -1; a->peak_rel = 1e9; return; }
    double pr = s.max_abs_ref > 0 ? s.max_abs_err / s.max_abs_ref : s.max_abs_err;
    if (!(s.cosine >= a->cos)) a->cos = s.cosine;
    if (!(pr <= a->peak_rel)) a->peak_rel = pr;
    /* nn_verify_compare checked equal shapes; a non-float output is not read */
    if (a->ctc && ref->dtype == NN_DTYPE_FLOAT && got->dtype == NN_DTYPE_FLOAT && ref->shape.rank >= 1) {
        size_t classes = ref->shape.dims[ref->shape.rank - 1] > 0 ? (size_t)ref->shape.dims[ref->shape.rank - 1] : 0;
        size_t count = ref->bytes / sizeof(float);
        a->ctc_same += (uint32_t)cli_ctc_same((const float *)ref->data, (const float *)got->data,
                                              classes ? count / classes : 0, classes);
    }
}

FILE *cli_part_open(const char *path, char *part, size_t cap) {
    FILE *f;
    snprintf(part, cap, "%s.part", path);
    f = fopen(part, "wb");
    if (!f) fprintf(stderr, "nnport: %s: cannot write: %s\n", part, strerror(errno));
    return f;
}

int cli_part_commit(FILE *f, const char *part, const char *path, int ok) {
    if (f) {
        int bad = ferror(f);
        if (fclose(f) != 0) bad = 1;
        if (bad) {
            fprintf(stderr, "nnport: %s: cannot write: %s\n", part, strerror(errno));
            ok = 0;
        }
    }
    if (ok && rename(part, path) != 0) {
        fprintf(stderr, "nnport: %s: cannot rename into place: %s\n", path, strerror(errno));
        ok = 0;
    }
    if (!ok) remove(part);
    return ok;
}

int cli_write_outputs_json(const char *path, uint32_t count, const char *const *names, const nn_value *const *outs) {
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "outputs");
    for (uint32_t i = 0; i < count; i++) {
        const nn_value *v = outs[i];
        cJSON *o = cJSON_CreateObject();
        char file[64];
        snprintf(file, sizeof file, "output_%u.npy", i);
        cJSON_AddNumberToObject(o, "index", i);
        cJSON_AddStringToObject(o, "name", names[i]);
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

void cli_flow_write_record(const cJSON *rec, const char *dir) {
    char path[4200], part[4210];
    char *text = cJSON_Print(rec);
    snprintf(path, sizeof path, "%s/record.json", dir);
    FILE *fp = text ? cli_part_open(path, part, sizeof part) : NULL;
    if (fp) cli_part_commit(fp, part, path, fputs(text, fp) >= 0 && fputc('\n', fp) != EOF);
    free(text);
    snprintf(path, sizeof path, "%s/report.html", dir);
    if (cli_write_report(rec, path)) printf("report     %s\n", path);
}

void cli_print_layer_rows(const nn_graph *g, nn_quant_layer_report *rows, uint32_t n, const char *what) {
    printf("\nthe layers that lose the most (cosine against the float model%s):\n", what ? what : "");
    printf("  %-40s %-20s %10s %9s %9s\n", "tensor", "op", "cosine", "sqnr dB", "saturated");
    for (int k = 0; k < 10 && k < (int)n; k++) {
        uint32_t w = 0;
        for (uint32_t i = 1; i < n; i++)
            if (rows[i].cosine < rows[w].cosine) w = i;
        const nn_node *nd = &g->nodes[rows[w].node];
        printf("  %-40.40s %-20.20s %10.6f %9.1f %8.2f%%   (ONNX: %s)\n", g->tensors[rows[w].tensor].name,
               nd->op_type, rows[w].cosine, rows[w].sqnr_db, 100 * rows[w].saturation,
               nd->origin ? nd->origin : nd->name ? nd->name : "?");
        rows[w].cosine = 3; /* taken */
    }
}

void cli_print_worst_layers(const nn_graph *g, const nn_graph *q, const nn_value *in, uint32_t n,
                            const nn_quant_eval_desc *ed, const char *what) {
    nn_quant_layer_report *rows = (nn_quant_layer_report *)calloc(g->tensor_count + 1, sizeof *rows);
    uint32_t count = 0;
    nn_diag d = {0};
    if (rows && !nn_quant_analyze(g, q, in, n, ed, rows, &count, &d)) cli_print_layer_rows(g, rows, count, what);
    free(rows);
}

nn_status cli_compile_per_shape(const nn_graph *q, const char *target, const cli_inputs *shapes, const nn_value *in,
                                uint32_t n, const char *nnb_path, const nn_value *refs, uint32_t ref_stride,
                                cli_agreement *a, uint32_t *programs, nn_diag *d) {
    nn_target_desc t;
    nn_target_program *p = NULL;
    nn_status st = nn_target_preset(target ? target : "npu-small", &t, d);
    uint8_t *done = (uint8_t *)calloc(n ? n : 1, 1);
    nn_value *outs = (nn_value *)calloc(q->output_count ? q->output_count : 1, sizeof *outs);
    void *mem = NULL;
    char part[4200];
    *programs = 0;
    cli_agreement_reset(a);
    if (!st && (!done || !outs)) st = nn_diag_set(d, NN_ERR_NOMEM, "compile", "out of memory");
    for (uint32_t s0 = 0; !st && s0 < n; s0++) {
        if (done[s0]) continue;
        /* the --shape list, or the shape of sample s0 for the graph's input */
        nn_input_shape one = {q->tensors[q->inputs[0].id].name, in[s0].shape};
        nn_target_compile_desc cd = {.input_shapes = shapes->shapes, .input_shape_count = (uint32_t)shapes->shape_count};
        if (!shapes->shape_count) { cd.input_shapes = &one; cd.input_shape_count = 1; }
        if ((st = nn_target_compile(q, &t, &cd, &p, d))) break;
        (*programs)++;
        if (s0 == 0) {
            snprintf(part, sizeof part, "%s.part", nnb_path);
            FILE *fp = fopen(part, "wb");
            st = fp ? nn_target_save(p, nn_verify_write_file, fp, d) : nn_diag_set(d, NN_ERR_IO, part, "cannot create");
            if (fp && fclose(fp) != 0 && !st) st = nn_diag_set(d, NN_ERR_IO, part, "write failed");
            if (!st && rename(part, nnb_path) != 0) st = nn_diag_set(d, NN_ERR_IO, nnb_path, "rename failed");
            if (st && fp) remove(part);
        }
        size_t mb = nn_target_sim_scratch_bytes(p);
        free(mem);
        mem = NULL;
        if (!st && posix_memalign(&mem, 64, mb ? mb : 64) != 0) st = nn_diag_set(d, NN_ERR_NOMEM, "compile", "out of memory");
        /* every sample of this shape (all of them when --shape fixed it) */
        for (uint32_t s = s0; !st && s < n; s++) {
            if (done[s] || (!shapes->shape_count && !nn_shape_equal(&in[s].shape, &in[s0].shape))) continue;
            done[s] = 1;
            if ((st = nn_target_sim_run(p, mem, mb, &in[s], outs, d))) break;
            for (uint32_t o = 0; o < q->output_count && o < ref_stride; o++) cli_agree(a, &refs[(size_t)s * ref_stride + o], &outs[o]);
        }
        nn_target_program_destroy(p);
        p = NULL;
    }
    free(mem);
    free(outs);
    free(done);
    return st;
}
