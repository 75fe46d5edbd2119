/* nnport report: one self-contained HTML file (inline CSS and SVG, a few
   lines of script, no network) from a build record JSON.

   nnport report RECORD.json -o report.html

   The record is what `nnport build` and the flow programs write beside
   their outputs (docs/REPORT.md lists its fields); every section is
   optional and is left out when its data is absent:
     title, model                   strings
     stages[]    {stage, time_ms, cos, size_bytes, arena_bytes, latency_ms,
                  ctc_same, ctc_outputs}
     layers[]    {name, origin, op, cos, sqnr}      per-layer similarity
     histograms[] {tensor, bin_width, counts[], thresholds{method: value}}
     memory      {arena_bytes, lower_bound, no_reuse, steps,
                  tensors[] {name, offset, size, first, last}}
     cycles[]    {group, compute, dma, cycles}
   The page sets data-rendered="1" on <body> when its script has run to the
   end; tests load it in headless Chromium and check that marker. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "config.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 900 /* chart width in px */

static void esc(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static double num(const cJSON *o, const char *key, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void cell_num(FILE *f, const cJSON *o, const char *key, const char *fmt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    fputs("<td>", f);
    if (cJSON_IsNumber(v)) fprintf(f, fmt, v->valuedouble);
    else fputs("&mdash;", f);
    fputs("</td>", f);
}

static void section_stages(FILE *f, const cJSON *stages) {
    if (!cJSON_IsArray(stages)) return;
    int ctc = 0; /* a CTC-gated flow (lvm_flow --gate ctc): one more column */
    for (const cJSON *s = stages->child; s; s = s->next) ctc |= num(s, "ctc_outputs", 0) > 0;
    fputs("<h2>Stages</h2>\n<table class=sortable><tr><th>stage</th><th>time (ms)</th><th>output cosine</th>", f);
    if (ctc) fputs("<th>read as float (CTC)</th>", f);
    fputs("<th>model bytes</th><th>arena bytes</th><th>est. latency (ms)</th></tr>\n", f);
    for (const cJSON *s = stages->child; s; s = s->next) {
        fputs("<tr><td>", f);
        esc(f, str(s, "stage"));
        fputs("</td>", f);
        cell_num(f, s, "time_ms", "%.1f");
        cell_num(f, s, "cos", "%.6f");
        if (ctc && num(s, "ctc_outputs", 0) > 0)
            fprintf(f, "<td>%.0f of %.0f</td>", num(s, "ctc_same", 0), num(s, "ctc_outputs", 0));
        else if (ctc)
            fputs("<td>&mdash;</td>", f);
        cell_num(f, s, "size_bytes", "%.0f");
        cell_num(f, s, "arena_bytes", "%.0f");
        cell_num(f, s, "latency_ms", "%.3f");
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* Cosine per layer as a polyline over layer index; the five worst layers
   get a marker and their original ONNX names. */
static void section_layers(FILE *f, const cJSON *layers) {
    int n = cJSON_GetArraySize(layers);
    if (n <= 0) return;
    double lo = 1.0;
    for (const cJSON *l = layers->child; l; l = l->next) lo = fmin(lo, num(l, "cos", 1.0));
    lo = fmax(0.0, fmin(lo, 0.999) - 0.0005);
    int worst[5] = {-1, -1, -1, -1, -1};
    for (int k = 0; k < 5 && k < n; k++) {
        double best = 2;
        int i = 0;
        for (const cJSON *l = layers->child; l; l = l->next, i++) {
            int taken = 0;
            for (int j = 0; j < k; j++) taken |= worst[j] == i;
            if (!taken && num(l, "cos", 1.0) < best) { best = num(l, "cos", 1.0); worst[k] = i; }
        }
    }
    const int H = 260, L = 60, R = 20, T = 20, B = 30;
    fprintf(f, "<h2>Per-layer similarity</h2>\n<p>Cosine of each layer's output against the float model, "
               "in graph order (y from %.4f to 1). Red dots: the five worst layers.</p>\n", lo);
    fprintf(f, "<svg width=%d height=%d class=chart role=img aria-label='per-layer cosine'>\n", W, H);
    fprintf(f, "<line x1=%d y1=%d x2=%d y2=%d class=axis />", L, H - B, W - R, H - B);
    fprintf(f, "<text x=4 y=%d>1.0</text><text x=4 y=%d>%.4f</text>\n", T + 4, H - B, lo);
    fputs("<polyline class=series points='", f);
    int i = 0;
    for (const cJSON *l = layers->child; l; l = l->next, i++) {
        double x = L + (n > 1 ? (double)i / (n - 1) : 0.5) * (W - L - R);
        double y = T + (1.0 - num(l, "cos", 1.0)) / (1.0 - lo) * (H - T - B);
        fprintf(f, "%.1f,%.1f ", x, y);
    }
    fputs("' />\n", f);
    for (int k = 0; k < 5 && worst[k] >= 0; k++) {
        const cJSON *l = cJSON_GetArrayItem(layers, worst[k]);
        double x = L + (n > 1 ? (double)worst[k] / (n - 1) : 0.5) * (W - L - R);
        double y = T + (1.0 - num(l, "cos", 1.0)) / (1.0 - lo) * (H - T - B);
        fprintf(f, "<circle cx=%.1f cy=%.1f r=4 class=worst><title>", x, y);
        esc(f, str(l, "name"));
        fprintf(f, " cos %.6f</title></circle>\n", num(l, "cos", 1.0));
    }
    fputs("</svg>\n<table class=sortable><tr><th>#</th><th>layer</th><th>original ONNX nodes</th><th>op</th>"
          "<th>cosine</th><th>SQNR (dB)</th></tr>\n", f);
    for (int k = 0; k < 5 && worst[k] >= 0; k++) {
        const cJSON *l = cJSON_GetArrayItem(layers, worst[k]);
        fprintf(f, "<tr><td>%d</td><td>", worst[k]);
        esc(f, str(l, "name"));
        fputs("</td><td>", f);
        esc(f, str(l, "origin"));
        fputs("</td><td>", f);
        esc(f, str(l, "op"));
        fputs("</td>", f);
        cell_num(f, l, "cos", "%.6f");
        cell_num(f, l, "sqnr", "%.1f");
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* |x| histogram (log counts) with one vertical line per calibrator threshold. */
static void section_histograms(FILE *f, const cJSON *hists) {
    if (cJSON_GetArraySize(hists) <= 0) return;
    static const char *colors[] = {"#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};
    fputs("<h2>Activation histograms</h2>\n<p>Histogram of |x| over the calibration set (log scale), with each "
          "calibrator's threshold.</p>\n", f);
    for (const cJSON *h = hists->child; h; h = h->next) {
        const cJSON *counts = cJSON_GetObjectItemCaseSensitive(h, "counts");
        int n = cJSON_GetArraySize(counts);
        double bw = num(h, "bin_width", 0), peak = 1;
        if (n <= 0 || !(bw > 0)) continue;
        for (const cJSON *c = counts->child; c; c = c->next) peak = fmax(peak, c->valuedouble);
        const int H = 160, L = 10, B = 20;
        double range = bw * n, bar = (double)(W - 2 * L) / n;
        fputs("<h3>", f);
        esc(f, str(h, "tensor"));
        fprintf(f, "</h3>\n<svg width=%d height=%d class=chart role=img aria-label='histogram'>\n", W, H + 20);
        int i = 0;
        for (const cJSON *c = counts->child; c; c = c->next, i++) {
            if (!(c->valuedouble > 0)) continue;
            double hh = log1p(c->valuedouble) / log1p(peak) * (H - B);
            fprintf(f, "<rect x=%.2f y=%.1f width=%.2f height=%.1f class=bin />", L + i * bar, H - B - hh, fmax(bar, 0.5), hh);
        }
        fputc('\n', f);
        const cJSON *th = cJSON_GetObjectItemCaseSensitive(h, "thresholds");
        int k = 0;
        for (const cJSON *t = th ? th->child : NULL; t; t = t->next, k++) {
            if (!cJSON_IsNumber(t)) continue;
            double x = L + fmin(t->valuedouble / range, 1.0) * (W - 2 * L);
            const char *col = colors[k % 7];
            fprintf(f, "<line x1=%.1f y1=0 x2=%.1f y2=%d stroke='%s' stroke-width=2><title>", x, x, H - B, col);
            esc(f, t->string);
            fprintf(f, " %g</title></line><text x=%.1f y=%d fill='%s'>", t->valuedouble, fmin(x + 3, W - 120.0), 12 + 12 * k, col);
            esc(f, t->string);
            fprintf(f, " %.4g</text>\n", t->valuedouble);
        }
        fprintf(f, "<text x=%d y=%d>0</text><text x=%d y=%d text-anchor=end>%.4g</text></svg>\n", L, H + 2, W - L, H + 2, range);
    }
}

/* Tensors as boxes: x = lifetime in steps, y = arena offset. */
static void section_memory(FILE *f, const cJSON *mem) {
    if (!cJSON_IsObject(mem)) return;
    double arena = num(mem, "arena_bytes", 0), bound = num(mem, "lower_bound", 0), steps = num(mem, "steps", 0);
    fputs("<h2>Memory</h2>\n<p>", f);
    fprintf(f, "Arena %.0f bytes; lower bound %.0f; no reuse %.0f.", arena, bound, num(mem, "no_reuse", 0));
    fputs("</p>\n", f);
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(mem, "tensors");
    if (!(arena > 0) || !(steps > 0) || cJSON_GetArraySize(ts) <= 0) return;
    const int H = 300, L = 10;
    fprintf(f, "<svg width=%d height=%d class=chart role=img aria-label='memory timeline'>\n", W, H + 20);
    for (const cJSON *t = ts->child; t; t = t->next) {
        double x0 = L + num(t, "first", 0) / steps * (W - 2 * L), x1 = L + (num(t, "last", 0) + 1) / steps * (W - 2 * L);
        double y0 = H - (num(t, "offset", 0) + num(t, "size", 0)) / arena * H, hh = num(t, "size", 0) / arena * H;
        fprintf(f, "<rect x=%.1f y=%.1f width=%.1f height=%.1f class=tensor><title>", x0, y0, fmax(x1 - x0, 1), fmax(hh, 0.5));
        esc(f, str(t, "name"));
        fprintf(f, " %.0f B @ %.0f, steps %.0f-%.0f</title></rect>\n", num(t, "size", 0), num(t, "offset", 0),
                num(t, "first", 0), num(t, "last", 0));
    }
    if (bound > 0 && bound <= arena)
        fprintf(f, "<line x1=%d x2=%d y1=%.1f y2=%.1f class=bound><title>lower bound</title></line>\n", L, W - L,
                H - bound / arena * H, H - bound / arena * H);
    fprintf(f, "<text x=%d y=%d>step 0</text><text x=%d y=%d text-anchor=end>step %.0f</text></svg>\n", L, H + 16, W - L,
            H + 16, steps);
}

static void section_cycles(FILE *f, const cJSON *cycles) {
    int n = cJSON_GetArraySize(cycles);
    if (n <= 0) return;
    double peak = 1;
    for (const cJSON *c = cycles->child; c; c = c->next) peak = fmax(peak, fmax(num(c, "compute", 0), num(c, "dma", 0)));
    const int H = 200, L = 10, B = 20;
    double bar = (double)(W - 2 * L) / n;
    fputs("<h2>Cycles per layer group</h2>\n<p>Blue: compute cycles; orange: DMA cycles (a group costs the larger "
          "of the two plus overheads).</p>\n", f);
    fprintf(f, "<svg width=%d height=%d class=chart role=img aria-label='cycles'>\n", W, H);
    int i = 0;
    for (const cJSON *c = cycles->child; c; c = c->next, i++) {
        double hc = num(c, "compute", 0) / peak * (H - B), hd = num(c, "dma", 0) / peak * (H - B);
        fprintf(f, "<rect x=%.1f y=%.1f width=%.1f height=%.1f class=compute><title>", L + i * bar, H - B - hc, bar * 0.45, hc);
        esc(f, str(c, "group"));
        fprintf(f, " compute %.0f</title></rect>", num(c, "compute", 0));
        fprintf(f, "<rect x=%.1f y=%.1f width=%.1f height=%.1f class=dma><title>", L + i * bar + bar * 0.45, H - B - hd,
                bar * 0.45, hd);
        esc(f, str(c, "group"));
        fprintf(f, " dma %.0f</title></rect>\n", num(c, "dma", 0));
    }
    fputs("</svg>\n", f);
}

static const char *report_css =
    "body{font-family:sans-serif;margin:24px;color:#222;max-width:960px}"
    "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "td:first-child,th:first-child,td:nth-child(2),td:nth-child(3){text-align:left}th{background:#f0f0f0;cursor:pointer;text-align:left}"
    ".chart{border:1px solid #ddd;background:#fff;display:block;margin:6px 0}.axis{stroke:#888}"
    ".series{fill:none;stroke:#1f77b4;stroke-width:1.5}.worst{fill:#d62728}.bin{fill:#7f9fbf}"
    ".tensor{fill:#9ecae1;stroke:#3182bd;stroke-width:.5}.bound{stroke:#d62728;stroke-dasharray:4 3}"
    ".compute{fill:#1f77b4}.dma{fill:#ff7f0e}text{font-size:11px}";

/* Click a header to sort the table by that column (numbers numerically). */
static const char *report_js =
    "document.querySelectorAll('table.sortable').forEach(function(t){"
    "t.querySelectorAll('th').forEach(function(th,col){th.addEventListener('click',function(){"
    "var rows=Array.prototype.slice.call(t.rows,1);var up=th.dataset.up!=='1';th.dataset.up=up?'1':'0';"
    "rows.sort(function(a,b){var x=a.cells[col].textContent,y=b.cells[col].textContent;"
    "var p=parseFloat(x),q=parseFloat(y);var r=(isNaN(p)||isNaN(q))?x.localeCompare(y):p-q;return up?r:-r;});"
    "rows.forEach(function(r){t.appendChild(r);});});});});"
    "document.body.dataset.rendered='1';";

/* Writes the page for record to path (via path.part, renamed); 1 on success. */
int cli_write_report(const cJSON *record, const char *path) {
    char part[4200];
    snprintf(part, sizeof part, "%s.part", path);
    FILE *f = fopen(part, "wb");
    if (!f) { fprintf(stderr, "nnport: %s: cannot write: %s\n", part, strerror(errno)); return 0; }
    const char *title = str(record, "title");
    fputs("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>", f);
    esc(f, *title ? title : "nnport report");
    fprintf(f, "</title><style>%s</style></head>\n<body>\n<h1>", report_css);
    esc(f, *title ? title : "nnport report");
    fputs("</h1>\n<p>Model: <code>", f);
    esc(f, str(record, "model"));
    fputs("</code></p>\n", f);
    section_stages(f, cJSON_GetObjectItemCaseSensitive(record, "stages"));
    section_layers(f, cJSON_GetObjectItemCaseSensitive(record, "layers"));
    section_histograms(f, cJSON_GetObjectItemCaseSensitive(record, "histograms"));
    section_memory(f, cJSON_GetObjectItemCaseSensitive(record, "memory"));
    section_cycles(f, cJSON_GetObjectItemCaseSensitive(record, "cycles"));
    fprintf(f, "<p class=foot>Written by nnport %d.%d.%d. Self-contained: no network access.</p>\n",
            NN_VERSION_MAJOR, NN_VERSION_MINOR, NN_VERSION_PATCH);
    fprintf(f, "<script>%s</script>\n</body></html>\n", report_js);
    int ok = !ferror(f);
    if (fclose(f) != 0) ok = 0;
    if (ok && rename(part, path) != 0) ok = 0;
    if (!ok) { fprintf(stderr, "nnport: %s: cannot write: %s\n", path, strerror(errno)); remove(part); }
    return ok;
}

int cmd_report(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: nnport report RECORD.json -o report.html\n"
                   "  one self-contained HTML page (stage table, per-layer similarity, histograms with\n"
                   "  calibrator thresholds, memory timeline, cycles per group) from a build record\n");
            return CLI_EXIT_OK;
        }
        if (!strcmp(argv[i], "-o") && i + 1 < argc) { out = argv[++i]; continue; }
        if (argv[i][0] == '-') return cli_usage_error("report", "unknown option '%s' (or missing value)", argv[i]);
        if (in) return cli_usage_error("report", "one record at a time");
        in = argv[i];
    }
    if (!in || !out) return cli_usage_error("report", "give RECORD.json and -o report.html");
    cJSON *rec = cli_load_json(in);
    if (!rec) return CLI_EXIT_FAIL;
    if (!cJSON_IsObject(rec)) {
        cJSON_Delete(rec);
        fprintf(stderr, "nnport: %s: the record must be a JSON object\n", in);
        return CLI_EXIT_FAIL;
    }
    int ok = cli_write_report(rec, out);
    cJSON_Delete(rec);
    if (ok) printf("wrote %s\n", out);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
