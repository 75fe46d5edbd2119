/* nnport compare: two runs' outputs, output by output, with tolerance gates.

   REF and GOT are directories written by `nnport run` or scripts/ort_run.js
   (output_<i>.npy + outputs.json), or two .npy files.  A gate fails when
   cosine < --cos or max abs error > --peak-rel x max(max |ref|, --abs-floor);
   the exit status is then 1 and the table shows which output.  The floor
   keeps near-empty outputs (a probability map of 1e-7 everywhere) from
   turning rounding noise into a failure (below it the cosine is not
   checked either); it is 0 unless given. */
#include "cli.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Compares one pair of .npy files and prints a row; returns 1 when it passes,
   0 when the gate fails, -1 on bad input (message printed). */
static int compare_pair(const char *label, const char *ref_path, const char *got_path, double min_cos, double peak_rel,
                        double abs_floor) {
    nn_value ref, got;
    nn_diag d;
    memset(&d, 0, sizeof d);
    memset(&ref, 0, sizeof ref);
    memset(&got, 0, sizeof got);
    if (nn_verify_load_npy_file(ref_path, &ref, NULL, &d)) { cli_fail(ref_path, &d); return -1; }
    if (nn_verify_load_npy_file(got_path, &got, NULL, &d)) { cli_fail(got_path, &d); nn_verify_value_free(&ref, NULL); return -1; }
    nn_verify_stats s;
    int rc = -1;
    if (nn_verify_compare(&ref, &got, NULL, &s, &d)) cli_fail(got_path, &d);
    else {
        double scale = s.max_abs_ref > abs_floor ? s.max_abs_ref : abs_floor;
        /* Below the floor the output is numerically empty: its direction
           (cosine) is rounding noise, so only the absolute bound applies. */
        int ok = (s.max_abs_ref < abs_floor || s.cosine >= min_cos) && s.max_abs_err <= peak_rel * scale;
        char shape[64];
        printf("%-28s %-14s %12.9f %11.3e %11.3e %9.3e %8.1f  %s\n", label, nn_shape_str(&ref.shape, shape, sizeof shape),
               s.cosine, s.max_abs_err, s.max_abs_ref, s.max_abs_ref > 0 ? s.max_abs_err / s.max_abs_ref : s.max_abs_err,
               s.sqnr_db, ok ? "ok" : "FAIL");
        rc = ok;
    }
    nn_verify_value_free(&ref, NULL);
    nn_verify_value_free(&got, NULL);
    return rc;
}

int cmd_compare(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL};
    int np = 0;
    double min_cos = 0.99999, peak_rel = 1e-4, abs_floor = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: nnport compare REF GOT [--cos MIN] [--peak-rel K] [--abs-floor F]\n"
                   "  REF, GOT: output directories of `nnport run` / ort_run.js, or two .npy files\n"
                   "  gate per output: cosine >= MIN (default 0.99999) and\n"
                   "  max abs error <= K x max(max |ref|, F) (defaults K 1e-4, F 0)\n");
            return CLI_EXIT_OK;
        }
        if ((strcmp(argv[i], "--cos") == 0 || strcmp(argv[i], "--peak-rel") == 0 || strcmp(argv[i], "--abs-floor") == 0) &&
            i + 1 < argc) {
            char *end;
            double v = strtod(argv[i + 1], &end);
            if (*end || !(v >= 0)) return cli_usage_error("compare", "%s takes a number, got '%s'", argv[i], argv[i + 1]);
            if (argv[i][2] == 'c') min_cos = v;
            else if (argv[i][2] == 'p') peak_rel = v;
            else abs_floor = v;
            i++;
            continue;
        }
        if (argv[i][0] == '-') return cli_usage_error("compare", "unknown option '%s'", argv[i]);
        if (np == 2) return cli_usage_error("compare", "give exactly two runs");
        paths[np++] = argv[i];
    }
    if (np != 2) return cli_usage_error("compare", "give REF and GOT");
    printf("%-28s %-14s %12s %11s %11s %9s %8s\n", "output", "shape", "cosine", "max_abs", "max|ref|", "rel_peak", "sqnr_db");
    int all_ok = 1;
    if (!is_dir(paths[0]) || !is_dir(paths[1])) {
        int r = compare_pair("output", paths[0], paths[1], min_cos, peak_rel, abs_floor);
        return r == 1 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
    /* Directories: walk output_<i>.npy in REF and require each in GOT. */
    size_t cap = strlen(paths[0]) + strlen(paths[1]) + 64;
    char *a = (char *)malloc(cap), *b = (char *)malloc(cap);
    int compared = 0;
    for (int i = 0; a && b; i++) {
        snprintf(a, cap, "%s/output_%d.npy", paths[0], i);
        snprintf(b, cap, "%s/output_%d.npy", paths[1], i);
        struct stat st;
        if (stat(a, &st) != 0) break;
        char label[32];
        snprintf(label, sizeof label, "output_%d", i);
        int r = compare_pair(label, a, b, min_cos, peak_rel, abs_floor);
        if (r < 0) { free(a); free(b); return CLI_EXIT_FAIL; }
        if (!r) all_ok = 0;
        compared++;
    }
    free(a);
    free(b);
    if (!compared) {
        fprintf(stderr, "nnport: %s: no output_0.npy to compare\n", paths[0]);
        return CLI_EXIT_FAIL;
    }
    if (!all_ok)
        fprintf(stderr, "nnport compare: an output is outside the gate (cos >= %g, max abs <= %g x max(max|ref|, %g))\n",
                min_cos, peak_rel, abs_floor);
    return all_ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
