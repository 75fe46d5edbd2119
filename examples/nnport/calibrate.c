/* nnport calibrate: run a model over a folder of samples, record every
   float tensor's statistics (nn_calib.h) and write a calibration table in
   TPU-MLIR's text format (op_name threshold min max).

     nnport calibrate MODEL.onnx --calib-data DIR -o cali_table.txt
         [--method kl|minmax|percentile|mse|aciq_gauss|aciq_laplace|octav|auto]
         [--samples N] [--pick spread|first] [--bins N] [--bits N] [--int4]
         [--ext EXT] [--shape NAME=DIMS]... [--threads N] [--progress N]
         [--preprocess TOKENS] [--check | --check-only]

   --preprocess is a comma-separated list (images only):
     mean=R,G,B  scale=R,G,B   out = (pixel - mean) * scale, pixels 0..255,
                               per output channel; a value may be "1/127.5"
     bgr | rgb                 output channel order (default rgb)
     size=HxW                  target size (default: the input's static dims)
     resize=stretch|crop|fit|height|none   (see nn_calib_resize)
     short=N                   crop: short side before the centre crop
     pad=V                     padded pixels (output units)
     grow                      resize=height: width grows past W (ocr_read)
     round                     round resized pixels like cv2 on uint8 images
     nchw | nhwc | u8 | f32    layout and output dtype
   Example (PP-OCRv4 rec, as scripts/make_inputs.py prepares it):
     --preprocess bgr,mean=127.5,127.5,127.5,scale=1/127.5,1/127.5,1/127.5,size=48x640,resize=height,round

   --check runs nn_calib_check over the set first and prints its findings;
   --check-only stops there (exit 1 when a finding is an ERROR).
   Progress goes to stderr (a line every --progress samples, with an ETA);
   the check's findings and the summary (tensors, samples, time, peak RSS)
   to stdout.  The table is written to OUT.part and renamed when complete. */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include "cli.h"
#include "nn_calib.h"
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: nnport calibrate MODEL.onnx --calib-data DIR -o cali_table.txt\n"
            "         [--method kl|minmax|percentile|mse|aciq_gauss|aciq_laplace|octav|auto]\n"
            "         [--samples N] [--pick spread|first] [--bins N] [--bits N] [--int4]\n"
            "         [--ext EXT] [--shape NAME=DIMS]... [--threads N] [--progress N]\n"
            "         [--preprocess mean=..,scale=..,bgr,size=HxW,resize=stretch|crop|fit|height,...]\n"
            "         [--check | --check-only]\n");
}

/* "123.5" or "1/127.5". */
static int parse_number(const char *s, float *out) {
    char *end;
    double a = strtod(s, &end);
    if (end == s) return 0;
    if (*end == '/') {
        const char *t = end + 1;
        double b = strtod(t, &end);
        if (end == t || b == 0) return 0;
        a /= b;
    }
    if (*end) return 0;
    *out = (float)a;
    return 1;
}

/* Parses --preprocess TOKENS into im; 0 with a message on error. */
static int parse_preprocess(const char *text, nn_calib_image_desc *im) {
    char buf[1024], *tok, *save = NULL;
    float *list = NULL;
    int list_n = 0;
    if (strlen(text) >= sizeof buf) return cli_usage_error("calibrate", "--preprocess is too long"), 0;
    strcpy(buf, text);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        const char *val = eq ? eq + 1 : NULL;
        if (eq) *eq = 0;
        if (!eq && list && list_n < 4 && parse_number(tok, &list[list_n])) { list_n++; continue; }
        list = NULL;
        if (!eq) {
            if (strcmp(tok, "bgr") == 0) im->bgr = 1;
            else if (strcmp(tok, "rgb") == 0) im->bgr = 0;
            else if (strcmp(tok, "nchw") == 0) im->layout = NN_CALIB_LAYOUT_NCHW;
            else if (strcmp(tok, "nhwc") == 0) im->layout = NN_CALIB_LAYOUT_NHWC;
            else if (strcmp(tok, "u8") == 0) im->dtype = NN_DTYPE_UINT8;
            else if (strcmp(tok, "f32") == 0) im->dtype = NN_DTYPE_FLOAT;
            else if (strcmp(tok, "grow") == 0) im->grow_width = 1;
            else if (strcmp(tok, "round") == 0) im->round_u8 = 1;
            else return cli_usage_error("calibrate", "--preprocess: unknown token '%s'", tok), 0;
        } else if (strcmp(tok, "mean") == 0 || strcmp(tok, "scale") == 0) {
            list = strcmp(tok, "mean") == 0 ? im->mean : im->scale;
            if (!parse_number(val, &list[0]))
                return cli_usage_error("calibrate", "--preprocess: %s=%s is not a number", tok, val), 0;
            list_n = 1;
            list[1] = list[2] = list[3] = list[0]; /* one value: every channel */
        } else if (strcmp(tok, "size") == 0) {
            long h, w;
            char hb[32];
            const char *x = strchr(val, 'x');
            if (!x || (size_t)(x - val) >= sizeof hb) return cli_usage_error("calibrate", "--preprocess: size=HxW"), 0;
            memcpy(hb, val, (size_t)(x - val));
            hb[x - val] = 0;
            if (!cli_parse_int(hb, 1, 16384, &h) || !cli_parse_int(x + 1, 0, 16384, &w))
                return cli_usage_error("calibrate", "--preprocess: size=HxW with sides 1..16384"), 0;
            im->height = (uint32_t)h;
            im->width = (uint32_t)w;
        } else if (strcmp(tok, "resize") == 0) {
            if (strcmp(val, "stretch") == 0) im->resize = NN_CALIB_RESIZE_STRETCH;
            else if (strcmp(val, "crop") == 0) im->resize = NN_CALIB_RESIZE_SHORT_CROP;
            else if (strcmp(val, "fit") == 0) im->resize = NN_CALIB_RESIZE_FIT_PAD;
            else if (strcmp(val, "height") == 0) im->resize = NN_CALIB_RESIZE_HEIGHT_PAD;
            else if (strcmp(val, "none") == 0) im->resize = NN_CALIB_RESIZE_NONE;
            else return cli_usage_error("calibrate", "--preprocess: resize=stretch|crop|fit|height|none"), 0;
        } else if (strcmp(tok, "short") == 0) {
            long s;
            if (!cli_parse_int(val, 1, 16384, &s)) return cli_usage_error("calibrate", "--preprocess: short=N"), 0;
            im->resize_short = (uint32_t)s;
        } else if (strcmp(tok, "pad") == 0) {
            if (!parse_number(val, &im->pad_value)) return cli_usage_error("calibrate", "--preprocess: pad=V"), 0;
        } else {
            return cli_usage_error("calibrate", "--preprocess: unknown key '%s'", tok), 0;
        }
    }
    return 1;
}

static int parse_method(const char *s, nn_calib_method *m) {
    for (int k = NN_CALIB_MINMAX; k <= NN_CALIB_AUTO; k++)
        if (strcmp(s, nn_calib_method_name((nn_calib_method)k)) == 0) { *m = (nn_calib_method)k; return 1; }
    return 0;
}

/* Prints the check's findings; returns the number of errors. */
static int print_report(const nn_calib_report *r) {
    int errors = 0;
    printf("calibration-set check: %u samples, %u duplicates, %llu NaN/Inf input values", r->samples,
           r->duplicate_count, (unsigned long long)r->nonfinite_count);
    if (r->bn_score >= 0)
        printf("; BN '%s': median score %.2f, RMS %.2f, channels reversed %.2f, spread x%.3g, %u/%u flat channels",
               r->bn_node, r->bn_median_score, r->bn_score, r->bn_score_swapped, r->bn_spread_ratio,
               r->bn_flat_channels, r->bn_channels);
    printf("\n");
    for (uint32_t i = 0; i < r->finding_count; i++) {
        const nn_calib_finding *f = &r->findings[i];
        const char *tag = f->severity == NN_CALIB_ERROR ? "ERROR" : f->severity == NN_CALIB_WARN ? "WARNING" : "info";
        printf("  %-7s %s\n          what to do: %s\n", tag, f->message, f->what_to_do);
        errors += f->severity == NN_CALIB_ERROR;
    }
    if (errors)
        fprintf(stderr, "nnport calibrate: %d ERROR%s in the calibration set (see above): the thresholds are "
                        "likely wrong until it is fixed\n", errors, errors == 1 ? "" : "S");
    return errors;
}

/* Runs the graph on one sample, (re)creating the exec when shapes change. */
static nn_status run_sample(const nn_graph *g, nn_calib_collector *col, int threads, nn_exec **x, nn_shape *shapes,
                            const nn_value *in, nn_diag *d) {
    int same = *x != NULL;
    for (uint32_t i = 0; i < g->input_count; i++)
        if (!nn_shape_equal(&shapes[i], &in[i].shape)) same = 0;
    if (!same) {
        nn_input_shape is[64];
        nn_exec_desc xd;
        nn_exec_destroy(*x);
        *x = NULL;
        for (uint32_t i = 0; i < g->input_count && i < 64; i++) {
            is[i].name = g->tensors[g->inputs[i].id].name;
            is[i].shape = shapes[i] = in[i].shape;
        }
        memset(&xd, 0, sizeof xd);
        xd.threads = threads;
        xd.input_shapes = is;
        xd.input_shape_count = g->input_count < 64 ? g->input_count : 64;
        xd.observer = nn_calib_collector_exec_observer;
        xd.observer_user = col;
        nn_status st = nn_exec_create(g, &xd, x, d);
        if (st) return st;
    }
    for (uint32_t i = 0; i < g->input_count; i++) {
        nn_status st = nn_calib_collector_observe(col, g->inputs[i], &in[i], d);
        if (!st) st = nn_exec_set_input(*x, i, &in[i], d);
        if (st) return st;
    }
    nn_status st = nn_exec_run(*x, d);
    if (st && nn_calib_collector_diag(col)->status) *d = *nn_calib_collector_diag(col);
    return st;
}

/* One table line per observed tensor (inputs, then node outputs in order);
   counts the methods chosen and the tensors skipped. */
static nn_status fill_table(const nn_graph *g, const nn_calib_collector *col, const nn_calib_desc *cd, int int4,
                            nn_calib_table *t, uint32_t *method_counts, uint32_t *skipped, nn_diag *d) {
    uint32_t total = g->input_count;
    for (uint32_t i = 0; i < g->node_count; i++) total += g->nodes[i].output_count;
    for (uint32_t k = 0; k < total; k++) {
        nn_tensor_id id;
        if (k < g->input_count) {
            id = g->inputs[k];
        } else {
            uint32_t j = k - g->input_count, n = 0;
            while (j >= g->nodes[n].output_count) j -= g->nodes[n++].output_count;
            id = g->nodes[n].outputs[j];
            if (id.id == NN_INVALID_ID) continue;
        }
        const nn_calib_observer *o = nn_calib_collector_get(col, id);
        const char *name = g->tensors[id.id].name;
        if (!o || nn_calib_table_find(t, int4, name)) continue;
        if (o->count == 0) { (*skipped)++; continue; }
        nn_calib_result r;
        nn_status st = nn_calib_compute(o, cd, &r, d);
        if (!st) st = nn_calib_table_add(t, int4, name, r.threshold, o->min, o->max, d);
        if (st) return st;
        if (method_counts && (int)r.method <= (int)NN_CALIB_AUTO) method_counts[r.method]++;
    }
    return NN_OK;
}

static int calibrate_main(int argc, char **argv) {
    const char *model = NULL, *dir = NULL, *outp = NULL, *ext = NULL;
    nn_calib_desc cd;
    nn_calib_dataset_desc dd;
    long samples = 0, bins = 0, bits = 8, threads = 1, every = 0;
    int check = 0, int4 = 0, check_only = 0;
    cli_inputs shapes_opt;
    nn_diag d;
    memset(&cd, 0, sizeof cd);
    memset(&dd, 0, sizeof dd);
    memset(&shapes_opt, 0, sizeof shapes_opt);
    memset(&d, 0, sizeof d);
    cd.method = NN_CALIB_PERCENTILE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); return CLI_EXIT_OK; }
        int took = cli_take_input_option("calibrate", argc, argv, &i, &shapes_opt);
        if (took < 0) return CLI_EXIT_USAGE;
        if (took) continue;
        if (strcmp(a, "--check") == 0) { check = 1; continue; }
        if (strcmp(a, "--check-only") == 0) { check = check_only = 1; continue; }
        if (strcmp(a, "--int4") == 0) { int4 = 1; continue; }
        if (a[0] == '-' && !has) return cli_usage_error("calibrate", "%s needs a value", a);
        if (strcmp(a, "--calib-data") == 0) dir = argv[++i];
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) outp = argv[++i];
        else if (strcmp(a, "--ext") == 0) ext = argv[++i];
        else if (strcmp(a, "--method") == 0) {
            if (!parse_method(argv[++i], &cd.method))
                return cli_usage_error("calibrate", "unknown --method '%s'", argv[i]);
        } else if (strcmp(a, "--samples") == 0) {
            if (!cli_parse_int(argv[++i], 1, 100000000, &samples)) return cli_usage_error("calibrate", "bad --samples");
        } else if (strcmp(a, "--pick") == 0) {
            const char *p = argv[++i];
            if (strcmp(p, "spread") == 0) dd.pick = NN_CALIB_PICK_SPREAD;
            else if (strcmp(p, "first") == 0) dd.pick = NN_CALIB_PICK_FIRST;
            else return cli_usage_error("calibrate", "--pick spread|first");
        } else if (strcmp(a, "--bins") == 0) {
            if (!cli_parse_int(argv[++i], 16, NN_MAX_CALIB_BINS, &bins)) return cli_usage_error("calibrate", "bad --bins");
        } else if (strcmp(a, "--bits") == 0) {
            if (!cli_parse_int(argv[++i], 2, 16, &bits)) return cli_usage_error("calibrate", "--bits is 2..16");
        } else if (strcmp(a, "--threads") == 0) {
            if (!cli_parse_int(argv[++i], 1, 256, &threads)) return cli_usage_error("calibrate", "bad --threads");
        } else if (strcmp(a, "--progress") == 0) {
            if (!cli_parse_int(argv[++i], 1, 100000000, &every)) return cli_usage_error("calibrate", "bad --progress");
        } else if (strcmp(a, "--preprocess") == 0) {
            if (!parse_preprocess(argv[++i], &dd.image)) return CLI_EXIT_USAGE;
        } else if (a[0] == '-') {
            return cli_usage_error("calibrate", "unknown option %s", a);
        } else if (!model) {
            model = a;
        } else {
            return cli_usage_error("calibrate", "unexpected argument %s", a);
        }
    }
    if (!model || !dir || (!outp && !check_only))
        return cli_usage_error("calibrate", "give MODEL.onnx, --calib-data DIR and -o TABLE");
    cd.bits = (int)bits;

    double t0 = cli_now_ms();
    nn_graph *g = NULL;
    nn_calib_dataset *ds = NULL;
    nn_calib_collector *col = NULL;
    nn_exec *x = NULL;
    nn_value *in = NULL;
    nn_shape *cur = NULL;
    nn_calib_table table;
    int rc = CLI_EXIT_FAIL, check_errors = 0;
    const char *fail_file = model;
    nn_calib_table_init(&table, NULL);
    if (cli_load_model(model, &g, &d)) goto done;
    fail_file = "--calib-data"; /* diag.where names the file */
    dd.path = dir;
    dd.extension = ext;
    dd.max_samples = (uint32_t)samples;
    dd.raw_shapes = shapes_opt.shapes;
    dd.raw_shape_count = (uint32_t)shapes_opt.shape_count;
    if (nn_calib_dataset_open(&dd, g, &ds, &d)) goto done;
    uint32_t n = nn_calib_dataset_count(ds);
    if (check) {
        nn_calib_report rep;
        if (nn_calib_check(g, ds, NULL, &rep, &d)) goto done;
        check_errors = print_report(&rep);
        if (check_only) { rc = check_errors ? CLI_EXIT_FAIL : CLI_EXIT_OK; goto done; }
    }
    nn_calib_collector_desc cold;
    memset(&cold, 0, sizeof cold);
    cold.bins = (uint32_t)bins;
    fail_file = model;
    if (nn_calib_collector_create(g, &cold, &col, &d)) goto done;
    in = (nn_value *)calloc(g->input_count ? g->input_count : 1, sizeof *in);
    cur = (nn_shape *)calloc(g->input_count ? g->input_count : 1, sizeof *cur);
    if (!in || !cur) { fprintf(stderr, "nnport calibrate: out of memory\n"); goto done; }
    if (every == 0) every = n >= 10 ? n / 10 : 1;
    double t_run = cli_now_ms();
    for (uint32_t k = 0; k < n; k++) {
        fail_file = "--calib-data"; /* diag.where names the file */
        if (nn_calib_dataset_load(ds, k, in, &d)) goto done;
        fail_file = model;
        if (run_sample(g, col, (int)threads, &x, cur, in, &d)) {
            fprintf(stderr, "nnport calibrate: sample '%s' failed\n", nn_calib_dataset_name(ds, k));
            goto done;
        }
        if ((k + 1) % (uint32_t)every == 0 || k + 1 == n) {
            double el = (cli_now_ms() - t_run) / 1e3, eta = el / (k + 1) * (n - k - 1);
            fprintf(stderr, "calibrate: %u/%u samples, %.1f s, ETA %.1f s, peak RSS %.1f MiB\n", k + 1, n, el, eta,
                    cli_peak_rss_kib() / 1024.0);
        }
    }
    nn_exec_destroy(x);
    x = NULL;
    table.bins = cold.bins ? cold.bins : 2048;
    table.samples = n;
    uint32_t counts[NN_CALIB_AUTO + 1], skipped = 0;
    memset(counts, 0, sizeof counts);
    double t_th = cli_now_ms();
    if (fill_table(g, col, &cd, 0, &table, counts, &skipped, &d)) goto done;
    if (int4) {
        nn_calib_desc c4 = cd;
        c4.bits = 4;
        if (fill_table(g, col, &c4, 1, &table, NULL, &skipped, &d)) goto done;
    }
    double th_s = (cli_now_ms() - t_th) / 1e3;
    char part[4096];
    snprintf(part, sizeof part, "%s.part", outp);
    FILE *f = fopen(part, "wb");
    if (!f) { perror(part); goto done; }
    fail_file = outp;
    if (nn_calib_table_save(&table, nn_verify_write_file, f, &d)) { fclose(f); remove(part); goto done; }
    if (fclose(f) != 0 || rename(part, outp) != 0) { perror(outp); remove(part); goto done; }

    printf("%-24s %s\n", "model", model);
    printf("%-24s %s (%u samples)\n", "calibration data", dir, n);
    printf("%-24s %u (int8)%s\n", "tensors", table.count, int4 ? " + int4 section" : "");
    if (skipped) printf("%-24s %u (no finite value)\n", "tensors skipped", skipped);
    printf("%-24s %s, %ld bits, %u bins\n", "method", nn_calib_method_name(cd.method), bits, table.bins);
    if (cd.method == NN_CALIB_AUTO) {
        printf("%-24s", "auto chose");
        for (int m = NN_CALIB_MINMAX; m <= NN_CALIB_OCTAV; m++)
            if (counts[m]) printf(" %s %u", nn_calib_method_name((nn_calib_method)m), counts[m]);
        printf("\n");
    }
    printf("%-24s %.1f s (samples %.1f s, thresholds %.1f s)\n", "time", (cli_now_ms() - t0) / 1e3,
           (t_th - t_run) / 1e3, th_s);
    printf("%-24s %.1f MiB\n", "peak RSS", cli_peak_rss_kib() / 1024.0);
    printf("%-24s %.2f MiB\n", "collector", nn_calib_collector_bytes(col) / 1048576.0);
    printf("%-24s %s\n", "table", outp);
    if (check_errors) printf("%-24s %d error%s (see the check above)\n", "calibration set", check_errors,
                             check_errors == 1 ? "" : "s");
    rc = CLI_EXIT_OK;
done:
    if (rc != CLI_EXIT_OK && d.status) cli_fail(fail_file, &d);
    nn_exec_destroy(x);
    free(in);
    free(cur);
    nn_calib_table_deinit(&table);
    nn_calib_collector_destroy(col);
    nn_calib_dataset_destroy(ds);
    nn_graph_destroy(g);
    return rc;
}

int cmd_calibrate(int argc, char **argv) { return calibrate_main(argc, argv); }
