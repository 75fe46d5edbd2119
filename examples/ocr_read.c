/* ocr_read - reads text-line images with the PP-OCRv4 recognizer through
   the nnport headers, and prints what it read beside the truth.

   Shows: loading an ONNX model (nn_onnx.h), preparing an executor with a
   fixed input shape, running it per image (nn_graph.h), and CTC greedy
   decoding of the output.  `make demo` runs it on rendered text lines.

     build/ocr_read --model ch_PP-OCRv4_rec_infer.onnx --dict ppocr_keys_v1.txt
                    --list truth.tsv [--threads N] [--save-inputs DIR]
     build/ocr_read --dict ppocr_keys_v1.txt --decode logits.npy

   truth.tsv lines are "image.png<TAB>text" (an optional first row
   "file<TAB>text" is skipped); image paths are relative to the list file.  --decode decodes logits made elsewhere (e.g. by ONNX Runtime),
   so two runtimes' readings can be compared. */
#define _POSIX_C_SOURCE 200809L
#include "nn_graph.h"
#include "nn_onnx.h"
#include "nn_verify.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stb_image.h>

#define REC_H 48       /* PP-OCRv4 rec input height (rec_image_shape 3,48,320) */
#define REC_MIN_W 320  /* narrowest input: shorter lines are padded on the right */
#define MAX_CHARS 8000

typedef struct { char *text; char *entries[MAX_CHARS]; int count; } dict;

/* ppocr_keys_v1.txt: one character per line.  Class 0 of the model is the
   CTC blank, classes 1..n the dictionary lines, and n+1 a space
   (PaddleOCR's use_space_char). */
static int dict_load(const char *path, dict *d) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    d->text = (char *)malloc((size_t)n + 1);
    if (!d->text || fread(d->text, 1, (size_t)n, f) != (size_t)n) { fclose(f); return 0; }
    fclose(f);
    d->text[n] = 0;
    d->count = 0;
    char *p = d->text;
    while (*p && d->count < MAX_CHARS - 1) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        size_t len = strlen(p);
        if (len && p[len - 1] == '\r') p[len - 1] = 0;
        d->entries[d->count++] = p;
        if (!e) break;
        p = e + 1;
    }
    d->entries[d->count++] = (char *)" ";
    return 1;
}

/* CTC greedy decoding: argmax per time step, merge repeats, drop blanks.
   logits is (T, C). */
static void ctc_decode(const float *logits, int64_t steps, int64_t classes, const dict *d, char *out, size_t cap) {
    size_t n = 0;
    int64_t prev = -1;
    out[0] = 0;
    for (int64_t t = 0; t < steps; t++) {
        const float *row = logits + t * classes;
        int64_t best = 0;
        for (int64_t c = 1; c < classes; c++)
            if (row[c] > row[best]) best = c;
        if (best != 0 && best != prev && best - 1 < d->count) {
            const char *s = d->entries[best - 1];
            size_t len = strlen(s);
            if (n + len + 1 < cap) { memcpy(out + n, s, len); n += len; out[n] = 0; }
        }
        prev = best;
    }
}

/* PaddleOCR's rec preprocessing: BGR, resize to height 48 keeping the
   aspect ratio (bilinear, half-pixel centres as cv2.INTER_LINEAR), scale to
   [-1, 1], pad on the right with 0.  out is (1, 3, 48, W). */
static float *preprocess(const unsigned char *rgb, int w, int h, int *out_w) {
    int rw = (int)ceil((double)REC_H * w / h);
    if (rw < 1) rw = 1;
    int W = rw > REC_MIN_W ? rw : REC_MIN_W;
    float *x = (float *)calloc((size_t)3 * REC_H * W, sizeof(float));
    if (!x) return NULL;
    double sx = (double)w / rw, sy = (double)h / REC_H;
    for (int y = 0; y < REC_H; y++) {
        double fy = (y + 0.5) * sy - 0.5;
        if (fy < 0) fy = 0;
        int y0 = (int)fy, y1 = y0 + 1 < h ? y0 + 1 : h - 1;
        double wy = fy - y0;
        for (int xx = 0; xx < rw; xx++) {
            double fx = (xx + 0.5) * sx - 0.5;
            if (fx < 0) fx = 0;
            int x0 = (int)fx, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
            double wx = fx - x0;
            for (int c = 0; c < 3; c++) {
                int src = 2 - c; /* BGR plane c takes RGB channel 2-c */
                double v = (1 - wy) * ((1 - wx) * rgb[(y0 * w + x0) * 3 + src] + wx * rgb[(y0 * w + x1) * 3 + src]) +
                           wy * ((1 - wx) * rgb[(y1 * w + x0) * 3 + src] + wx * rgb[(y1 * w + x1) * 3 + src]);
                x[((size_t)c * REC_H + y) * W + xx] = (float)((v / 255.0 - 0.5) / 0.5);
            }
        }
    }
    *out_w = W;
    return x;
}

static int fail(const char *file, const nn_diag *d) {
    fprintf(stderr, "ocr_read: %s: %s%s%s\n", file, d->where, d->where[0] ? ": " : "", d->message);
    return 1;
}

int main(int argc, char **argv) {
    const char *model = NULL, *dict_path = NULL, *list = NULL, *decode = NULL, *save_dir = NULL;
    int threads = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--model") == 0) model = argv[i + 1];
        else if (strcmp(argv[i], "--dict") == 0) dict_path = argv[i + 1];
        else if (strcmp(argv[i], "--list") == 0) list = argv[i + 1];
        else if (strcmp(argv[i], "--decode") == 0) decode = argv[i + 1];
        else if (strcmp(argv[i], "--save-inputs") == 0) save_dir = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
        else { fprintf(stderr, "ocr_read: unknown option %s\n", argv[i]); return 2; }
    }
    static dict d;
    if (!dict_path || !dict_load(dict_path, &d)) {
        fprintf(stderr, "ocr_read: give --dict ppocr_keys_v1.txt (a readable file)\n");
        return 2;
    }
    nn_diag diag;
    memset(&diag, 0, sizeof diag);
    static char text[16384];
    if (decode) { /* decode logits produced elsewhere: (1, T, C) */
        nn_value v;
        if (nn_verify_load_npy_file(decode, &v, NULL, &diag)) return fail(decode, &diag);
        if (v.dtype != NN_DTYPE_FLOAT || v.shape.rank != 3) { fprintf(stderr, "ocr_read: %s: want (1,T,C) float32\n", decode); return 1; }
        ctc_decode((const float *)v.data, v.shape.dims[1], v.shape.dims[2], &d, text, sizeof text);
        printf("%s\n", text);
        nn_verify_value_free(&v, NULL);
        free(d.text);
        return 0;
    }
    if (!model || !list) { fprintf(stderr, "ocr_read: give --model REC.onnx and --list truth.tsv\n"); return 2; }
    nn_graph *g;
    if (nn_onnx_load_file(model, NULL, &g, &diag)) return fail(model, &diag);
    FILE *lf = fopen(list, "r");
    if (!lf) { fprintf(stderr, "ocr_read: %s: cannot open\n", list); nn_graph_destroy(g); return 1; }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", list);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = 0; else dir[0] = 0;

    char line[8192];
    int lines = 0, exact = 0, rc = 0;
    printf("%-4s %-40s %-40s %s\n", "ok", "truth", "read", "");
    while (fgets(line, sizeof line, lf)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        if (strcmp(line, "file") == 0) continue; /* the header row */
        char *truth = tab + 1;
        truth[strcspn(truth, "\r\n")] = 0;
        char img_path[8192];
        if (snprintf(img_path, sizeof img_path, "%s%s", line[0] == '/' ? "" : dir, line) >= (int)sizeof img_path) {
            fprintf(stderr, "ocr_read: %s: image path too long\n", line);
            rc = 1;
            break;
        }
        int w, h, ch;
        unsigned char *rgb = stbi_load(img_path, &w, &h, &ch, 3);
        if (!rgb) { fprintf(stderr, "ocr_read: %s: %s\n", img_path, stbi_failure_reason()); rc = 1; break; }
        int W;
        float *x = preprocess(rgb, w, h, &W);
        stbi_image_free(rgb);
        if (!x) { rc = 1; break; }
        /* The model's width is symbolic: fix it per image. */
        int64_t dims[4] = {1, 3, REC_H, W};
        nn_input_shape shape = {g->tensors[g->inputs[0].id].name, nn_shape_make(4, dims)};
        nn_exec_desc xd;
        memset(&xd, 0, sizeof xd);
        xd.threads = threads;
        xd.input_shapes = &shape;
        xd.input_shape_count = 1;
        nn_exec *ex;
        nn_value in = nn_value_make(NN_DTYPE_FLOAT, shape.shape, x);
        if (save_dir) {
            char p[8192];
            snprintf(p, sizeof p, "%s/line_%03d.npy", save_dir, lines);
            if (nn_verify_save_npy_file(p, &in, &diag)) { rc = fail(p, &diag); free(x); break; }
        }
        if (nn_exec_create(g, &xd, &ex, &diag) || nn_exec_set_input(ex, 0, &in, &diag) || nn_exec_run(ex, &diag)) {
            rc = fail(model, &diag);
            free(x);
            break;
        }
        const nn_value *out = nn_exec_output(ex, 0); /* (1, T, classes) softmax */
        ctc_decode((const float *)out->data, out->shape.dims[1], out->shape.dims[2], &d, text, sizeof text);
        int ok = strcmp(text, truth) == 0;
        exact += ok;
        lines++;
        printf("%-4s %-40s %-40s\n", ok ? "yes" : "NO", truth, text);
        nn_exec_destroy(ex);
        free(x);
    }
    fclose(lf);
    if (!rc) printf("\nread %d of %d lines exactly as written\n", exact, lines);
    nn_graph_destroy(g);
    free(d.text);
    return rc;
}
