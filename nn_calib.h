/* nn_calib.h - activation statistics and calibrators for post-training
   quantization: streaming per-tensor observers with fixed-size histograms,
   a collector that plugs into the reference executor, and the threshold
   rules MinMax, Percentile, MSE, KL (entropy), ACIQ and OCTAV.
   Version 0.1.0.

   BUILD
     In exactly one C or C++ file:
         #define NN_IMPLEMENTATION        (or NN_CALIB_IMPLEMENTATION)
         #include "nn_calib.h"
     NN_IMPLEMENTATION also expands nn_graph.h and nn_verify.h; with
     NN_CALIB_IMPLEMENTATION alone only this header's code is expanded
     (link the other two from elsewhere).  Needs -lm.

   CONFIG MACROS (define before the implementation include)
     NN_CALIB_DEFAULT_BINS   2048: histogram bins when a desc says 0.
     NN_MAX_CALIB_BINS       1<<20: most bins an observer may ask for.
     NN_ASSERT(x)            assert() by default; API misuse only.

   QUICK START
       nn_diag d = {0};
       nn_calib_collector *col;
       nn_calib_collector_desc cd = {0};              (2048 bins)
       nn_calib_collector_create(g, &cd, &col, &d);
       nn_exec_desc xd = { .observer = nn_calib_collector_exec_observer,
                           .observer_user = col };
       nn_exec *x;  nn_exec_create(g, &xd, &x, &d);
       for (each sample) {
           nn_exec_set_input(x, 0, &sample, &d);
           nn_calib_collector_observe(col, g->inputs[0], &sample, &d);
           nn_exec_run(x, &d);                          (fills the observers)
       }
       nn_calib_desc kl = { .method = NN_CALIB_KL };   (int8 by default)
       nn_calib_result r;
       const nn_calib_observer *o = nn_calib_collector_get(col, t);
       if (o && nn_calib_compute(o, &kl, &r, &d) == NN_OK)
           printf("%s threshold %g\n", g->tensors[t.id].name, r.threshold);
       nn_exec_destroy(x);  nn_calib_collector_destroy(col);

   DESIGN  One pass over the samples.  Each observer keeps min, max, moments
     and a histogram of |x| over [0, bins * bin_width).  The first tensor
     with a non-zero value fixes bin_width so its largest |x| falls in the
     last bin; when a later tensor holds a larger |x|, the histogram is
     re-binned by merging adjacent bins by a power-of-two factor, which
     keeps bin edges aligned (a merged bin is exactly the union of old
     bins) and keeps memory constant.  Two passes (min/max, then histogram)
     would need the samples twice: twice the executor time, or the samples
     cached.  The price of one pass is that early samples are binned at the
     resolution of the final range, which is what a two-pass histogram has
     anyway; only bins narrower than the final width are lost, never counts.
   OWNERSHIP  Observers and collectors own their histograms (allocator of
     their desc); destroy/deinit releases them.  Calibrators only read.
   ERRORS  Fallible functions return nn_status and fill the caller's nn_diag
     (first error wins).  NaN and +-Inf are not errors: they are counted in
     nan_count / inf_count and kept out of every statistic; a caller decides
     whether a non-zero count is fatal.  A tensor with no finite value has
     no threshold (NN_ERR_INVALID); an all-zero tensor has threshold 0.
   MEMORY  An observer holds `bins` 64-bit counters plus a fixed header,
     whatever the number of samples; a collector holds one observer per
     float32 tensor that has been seen (allocated the first time).
   THREADS  No global state.  One observer or collector must not be
     updated from two threads at once.
   LIMITS  bins above NN_MAX_CALIB_BINS are refused (NN_ERR_LIMIT).  Only
     float32 values are observed; other dtypes are skipped by the collector
     and refused by nn_calib_observe_value (NN_ERR_UNSUPPORTED).
*/
#ifndef NN_CALIB_H
#define NN_CALIB_H

/* A limit of the API (observers asking for more bins are refused), so it
   is visible to every includer, not only the implementation. */
#ifndef NN_MAX_CALIB_BINS
#define NN_MAX_CALIB_BINS (1u << 20)
#endif

#include "nn_graph.h"
#include "nn_verify.h"

#define NN_CALIB_VERSION_MAJOR 0
#define NN_CALIB_VERSION_MINOR 1
#define NN_CALIB_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* ---- streaming observer ------------------------------------------------ */

typedef struct nn_calib_observer_desc {
    nn_allocator alloc;
    uint32_t bins;         /* 0: NN_CALIB_DEFAULT_BINS (2048) */
    double initial_range;  /* > 0: histogram starts over [0, initial_range);
                              0: set by the first non-zero tensor */
} nn_calib_observer_desc;

/* Statistics of one tensor over every sample seen.  Fields are read-only
   for callers; hist[i] counts finite non-zero |x| in
   [i * bin_width, (i + 1) * bin_width).  Exact zeros are in zero_count. */
typedef struct nn_calib_observer {
    nn_allocator alloc;
    uint32_t bins;
    double bin_width;      /* 0 until a non-zero value has been seen */
    uint64_t *hist;        /* (bins) */
    uint64_t zero_count;
    uint64_t count;        /* finite values, zeros included */
    uint64_t nan_count, inf_count;
    uint64_t samples;      /* tensors observed */
    uint32_t rebin_count;  /* times the histogram was widened */
    double min, max;       /* of finite values; valid when count > 0 */
    double sum, sum_abs, sum_sq; /* moments of finite values */
} nn_calib_observer;

/* Prepares o in caller storage and allocates its histogram.
   NN_ERR_LIMIT for bins > NN_MAX_CALIB_BINS, NN_ERR_ARG for a negative or
   non-finite initial_range, NN_ERR_NOMEM. */
NN_API nn_status nn_calib_observer_init(nn_calib_observer *o, const nn_calib_observer_desc *desc,
                                        nn_diag *diag);
/* Adds one tensor's n values (x: any shape, flattened).  Never allocates;
   NaN/Inf are counted apart.  Cannot fail. */
NN_API void nn_calib_observe_f32(nn_calib_observer *o, const float *x /* (n) */, size_t n);
/* The same for an nn_value; NN_ERR_UNSUPPORTED unless dtype is float32. */
NN_API nn_status nn_calib_observe_value(nn_calib_observer *o, const nn_value *v, nn_diag *diag);
/* Largest finite |x| seen (0 when none). */
NN_API double nn_calib_observer_absmax(const nn_calib_observer *o);
/* Bytes an observer with `bins` bins holds in total (struct + histogram):
   independent of the number of samples. */
NN_API size_t nn_calib_observer_bytes(uint32_t bins);
NN_API void nn_calib_observer_deinit(nn_calib_observer *o);

/* ---- collector: one observer per float tensor of a graph ----------------- */

typedef struct nn_calib_collector nn_calib_collector;

typedef struct nn_calib_collector_desc {
    nn_allocator alloc;
    uint32_t bins;         /* 0: NN_CALIB_DEFAULT_BINS */
} nn_calib_collector_desc;

/* Creates a collector for g (borrowed; must outlive the collector).
   NN_ERR_NOMEM, NN_ERR_LIMIT (bins). */
NN_API nn_status nn_calib_collector_create(const nn_graph *g, const nn_calib_collector_desc *desc,
                                           nn_calib_collector **out, nn_diag *diag);
/* Adds one value of tensor t.  Non-float32 values are ignored (NN_OK).
   NN_ERR_NOMEM when t's observer cannot be allocated. */
NN_API nn_status nn_calib_collector_observe(nn_calib_collector *c, nn_tensor_id t,
                                            const nn_value *v, nn_diag *diag);
/* An nn_exec_observer: set nn_exec_desc.observer to this and observer_user
   to the collector.  Records every output of every node of the collector's
   graph (other graphs, e.g. subgraph bodies, are skipped).  Returns non-zero
   (stopping the run) only on allocation failure; the reason is then in
   nn_calib_collector_diag. */
NN_API int nn_calib_collector_exec_observer(void *user, const nn_graph *g, uint32_t node_index,
                                            const nn_value *outputs, uint32_t output_count);
/* The first error the exec observer hit (status NN_OK when none). */
NN_API const nn_diag *nn_calib_collector_diag(const nn_calib_collector *c);
/* Tensor t's observer, or NULL if no float32 value of t has been seen. */
NN_API const nn_calib_observer *nn_calib_collector_get(const nn_calib_collector *c, nn_tensor_id t);
/* Bytes the collector holds now (observers included). */
NN_API size_t nn_calib_collector_bytes(const nn_calib_collector *c);
NN_API void nn_calib_collector_destroy(nn_calib_collector *c);

/* ---- calibrators ----------------------------------------------------------- */

typedef enum nn_calib_method {
    NN_CALIB_DEFAULT = 0,   /* NN_CALIB_KL (TPU-MLIR's default too) */
    NN_CALIB_MINMAX,        /* T = max |x| */
    NN_CALIB_PERCENTILE,    /* T = the percentile of |x| */
    NN_CALIB_MSE,           /* T minimizing expected quantization + clipping MSE */
    NN_CALIB_KL,            /* TensorRT entropy calibration */
    NN_CALIB_ACIQ_GAUSS,    /* Banner et al. 2019, Gaussian fit */
    NN_CALIB_ACIQ_LAPLACE,  /* Banner et al. 2019, Laplace fit */
    NN_CALIB_OCTAV          /* Sakr et al. 2022, Newton-style iteration */
} nn_calib_method;

typedef struct nn_calib_desc {
    nn_calib_method method;
    int bits;                  /* 0: 8.  Symmetric grid of 2^(bits-1)-1 steps per side */
    double percentile;         /* 0: 99.99 (Percentile); in (0, 100] */
    uint32_t kl_levels;        /* 0: 2^(bits-1) (128 for int8) (KL) */
    uint32_t octav_iterations; /* 0: 30 (OCTAV) */
} nn_calib_desc;

typedef struct nn_calib_result {
    double threshold;          /* clip T for symmetric quantization, >= 0 */
    double min, max;           /* for asymmetric: observed range clipped to [-T, T] */
    uint64_t nonfinite_count;  /* NaN + Inf values left out */
} nn_calib_result;

/* Computes the threshold of o with the desc's method.  NN_ERR_ARG for bits
   outside 2..16 (ACIQ: 2..8, the widths the paper tabulates), a percentile
   outside (0, 100] or kl_levels < 2; NN_ERR_INVALID when o has no finite
   value.  *out is untouched on failure. */
NN_API nn_status nn_calib_compute(const nn_calib_observer *o, const nn_calib_desc *desc,
                                  nn_calib_result *out, nn_diag *diag);
/* "minmax", "percentile", ...; "?" for an unknown value. */
NN_API const char *nn_calib_method_name(nn_calib_method m);

#ifdef __cplusplus
}
#endif
#endif /* NN_CALIB_H */

/* ===================== end of API: implementation below ===================== */

#if defined(NN_IMPLEMENTATION) || defined(NN_CALIB_IMPLEMENTATION)
#ifndef NN_CALIB_IMPLEMENTATION_DONE
#define NN_CALIB_IMPLEMENTATION_DONE

#include <math.h>
#include <string.h>

#ifndef NN_ASSERT
#include <assert.h>
#define NN_ASSERT(x) assert(x)
#endif
#ifndef NN_CALIB_DEFAULT_BINS
#define NN_CALIB_DEFAULT_BINS 2048
#endif

/* ---- private helpers ------------------------------------------------------------ */

/* Merges adjacent bins by `factor` (a power of two): new bin j is the sum of
   old bins [j*factor, (j+1)*factor).  Since widths only ever double, every
   new edge is an old edge, so no count moves to a wrong bin. */
static void nn_calib__merge(nn_calib_observer *o, uint32_t factor) {
    uint32_t src;
    /* In place: bin src moves to src / factor <= src, and every bin above
       src is still unread, so one upward sweep is enough. */
    for (src = 0; src < o->bins; src++) {
        uint64_t v = o->hist[src];
        o->hist[src] = 0;
        o->hist[src / factor] += v;
    }
    o->bin_width *= (double)factor;
    o->rebin_count++;
}

/* Widens the histogram until absmax < bins * bin_width.  factor is capped
   at 2^30 per merge (a merge by >= bins already empties all but bin 0), so
   extreme jumps take a few rounds instead of overflowing. */
static void nn_calib__cover(nn_calib_observer *o, double absmax) {
    if (absmax <= 0) return;
    if (o->bin_width == 0) {
        /* First non-zero tensor: put absmax in the last bin, a hair inside. */
        o->bin_width = absmax / (double)o->bins * (1.0 + 1e-9);
        return;
    }
    while (absmax >= o->bin_width * (double)o->bins) {
        uint32_t factor = 2;
        while (factor < (1u << 30) && absmax >= o->bin_width * (double)factor * (double)o->bins) factor *= 2;
        nn_calib__merge(o, factor);
    }
}

/* ---- streaming observer ------------------------------------------------- */

NN_API nn_status nn_calib_observer_init(nn_calib_observer *o, const nn_calib_observer_desc *desc,
                                        nn_diag *diag) {
    nn_calib_observer_desc d;
    size_t bytes;
    NN_ASSERT(o);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (d.bins == 0) d.bins = NN_CALIB_DEFAULT_BINS;
    if (d.bins > NN_MAX_CALIB_BINS)
        return nn_diag_set(diag, NN_ERR_LIMIT, "nn_calib_observer_desc.bins",
                           "%u bins is above NN_MAX_CALIB_BINS (%u)", d.bins, (unsigned)NN_MAX_CALIB_BINS);
    if (!(d.initial_range >= 0) || !isfinite(d.initial_range))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_calib_observer_desc.initial_range",
                           "initial_range must be finite and >= 0");
    if (!nn_size_mul(d.bins, sizeof(uint64_t), &bytes))
        return nn_diag_set(diag, NN_ERR_LIMIT, "nn_calib_observer_desc.bins", "histogram too large");
    memset(o, 0, sizeof *o);
    o->alloc = d.alloc;
    o->bins = d.bins;
    o->hist = (uint64_t *)nn_alloc(&o->alloc, bytes);
    if (!o->hist) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_observer", "histogram of %u bins", d.bins);
    memset(o->hist, 0, bytes);
    if (d.initial_range > 0) o->bin_width = d.initial_range / (double)d.bins;
    return NN_OK;
}

NN_API void nn_calib_observe_f32(nn_calib_observer *o, const float *x, size_t n) {
    size_t i;
    double absmax = 0, inv;
    NN_ASSERT(o && o->hist && (x || n == 0));
    o->samples++;
    /* Pass 1 over this tensor: range and moments, so the histogram can be
       widened once before any value of this tensor is binned. */
    for (i = 0; i < n; i++) {
        double v = x[i], a;
        if (v != v) { o->nan_count++; continue; }
        if (!isfinite(v)) { o->inf_count++; continue; }
        if (o->count == 0 || v < o->min) o->min = v;
        if (o->count == 0 || v > o->max) o->max = v;
        o->count++;
        a = fabs(v);
        o->sum += v; o->sum_abs += a; o->sum_sq += v * v;
        if (a > absmax) absmax = a;
    }
    nn_calib__cover(o, absmax);
    if (o->bin_width == 0) { /* nothing non-zero yet: only zeros to count */
        for (i = 0; i < n; i++) if (x[i] == 0) o->zero_count++;
        return;
    }
    inv = 1.0 / o->bin_width;
    for (i = 0; i < n; i++) {
        double a = fabs((double)x[i]);
        size_t b;
        if (!isfinite(a)) continue; /* NaN and Inf were counted above */
        if (a == 0) { o->zero_count++; continue; }
        b = (size_t)(a * inv);
        if (b >= o->bins) b = o->bins - 1; /* rounding at the top edge only */
        o->hist[b]++;
    }
}

NN_API nn_status nn_calib_observe_value(nn_calib_observer *o, const nn_value *v, nn_diag *diag) {
    NN_ASSERT(o && v);
    if (v->dtype != NN_DTYPE_FLOAT)
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, "nn_calib_observe_value",
                           "only float32 values are observed, not %s", nn_dtype_name(v->dtype));
    nn_calib_observe_f32(o, (const float *)v->data, v->data ? nn_value_count(v) : 0);
    return NN_OK;
}

NN_API double nn_calib_observer_absmax(const nn_calib_observer *o) {
    NN_ASSERT(o);
    if (o->count == 0) return 0;
    return fabs(o->min) > fabs(o->max) ? fabs(o->min) : fabs(o->max);
}

NN_API size_t nn_calib_observer_bytes(uint32_t bins) {
    if (bins == 0) bins = NN_CALIB_DEFAULT_BINS;
    return sizeof(nn_calib_observer) + (size_t)bins * sizeof(uint64_t);
}

NN_API void nn_calib_observer_deinit(nn_calib_observer *o) {
    if (!o) return;
    nn_free(&o->alloc, o->hist);
    memset(o, 0, sizeof *o);
}

/* ---- collector ----------------------------------------------------------- */

struct nn_calib_collector {
    nn_allocator alloc;
    const nn_graph *g;
    uint32_t bins;
    uint32_t tensor_count;         /* g->tensor_count at creation */
    nn_calib_observer **obs;       /* (tensor_count), NULL until seen */
    uint32_t live;                 /* observers allocated */
    nn_diag diag;                  /* first error of the exec observer */
};

NN_API nn_status nn_calib_collector_create(const nn_graph *g, const nn_calib_collector_desc *desc,
                                           nn_calib_collector **out, nn_diag *diag) {
    nn_calib_collector_desc d;
    nn_calib_collector *c;
    size_t bytes;
    NN_ASSERT(g && out);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (d.bins == 0) d.bins = NN_CALIB_DEFAULT_BINS;
    if (d.bins > NN_MAX_CALIB_BINS)
        return nn_diag_set(diag, NN_ERR_LIMIT, "nn_calib_collector_desc.bins",
                           "%u bins is above NN_MAX_CALIB_BINS (%u)", d.bins, (unsigned)NN_MAX_CALIB_BINS);
    c = (nn_calib_collector *)nn_alloc(&d.alloc, sizeof *c);
    if (!c) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_collector", "out of memory");
    memset(c, 0, sizeof *c);
    c->alloc = d.alloc;
    c->g = g;
    c->bins = d.bins;
    c->tensor_count = g->tensor_count;
    if (!nn_size_mul(c->tensor_count ? c->tensor_count : 1, sizeof(*c->obs), &bytes) ||
        !(c->obs = (nn_calib_observer **)nn_alloc(&c->alloc, bytes))) {
        nn_free(&d.alloc, c);
        return nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_collector", "observer table for %u tensors",
                           (unsigned)g->tensor_count);
    }
    memset(c->obs, 0, bytes);
    *out = c;
    return NN_OK;
}

NN_API nn_status nn_calib_collector_observe(nn_calib_collector *c, nn_tensor_id t,
                                            const nn_value *v, nn_diag *diag) {
    nn_calib_observer *o;
    NN_ASSERT(c && v);
    if (t.id >= c->tensor_count)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_calib_collector_observe",
                           "tensor id %u is not in the collector's graph", (unsigned)t.id);
    if (v->dtype != NN_DTYPE_FLOAT) return NN_OK; /* integer tensors: not calibrated */
    o = c->obs[t.id];
    if (!o) {
        nn_calib_observer_desc od;
        nn_status st;
        o = (nn_calib_observer *)nn_alloc(&c->alloc, sizeof *o);
        if (!o) return nn_diag_set(diag, NN_ERR_NOMEM, c->g->tensors[t.id].name, "observer");
        memset(&od, 0, sizeof od);
        od.alloc = c->alloc;
        od.bins = c->bins;
        st = nn_calib_observer_init(o, &od, diag);
        if (st != NN_OK) { nn_free(&c->alloc, o); return st; }
        c->obs[t.id] = o;
        c->live++;
    }
    return nn_calib_observe_value(o, v, diag);
}

NN_API int nn_calib_collector_exec_observer(void *user, const nn_graph *g, uint32_t node_index,
                                            const nn_value *outputs, uint32_t output_count) {
    nn_calib_collector *c = (nn_calib_collector *)user;
    const nn_node *n;
    uint32_t i;
    NN_ASSERT(c);
    if (g != c->g || node_index >= g->node_count) return 0;
    n = &g->nodes[node_index];
    for (i = 0; i < output_count && i < n->output_count; i++) {
        if (n->outputs[i].id == NN_INVALID_ID) continue;
        if (nn_calib_collector_observe(c, n->outputs[i], &outputs[i], &c->diag) != NN_OK) return 1;
    }
    return 0;
}

NN_API const nn_diag *nn_calib_collector_diag(const nn_calib_collector *c) {
    NN_ASSERT(c);
    return &c->diag;
}

NN_API const nn_calib_observer *nn_calib_collector_get(const nn_calib_collector *c, nn_tensor_id t) {
    NN_ASSERT(c);
    return t.id < c->tensor_count ? c->obs[t.id] : NULL;
}

NN_API size_t nn_calib_collector_bytes(const nn_calib_collector *c) {
    NN_ASSERT(c);
    return sizeof *c + (size_t)c->tensor_count * sizeof(*c->obs) +
           (size_t)c->live * nn_calib_observer_bytes(c->bins);
}

NN_API void nn_calib_collector_destroy(nn_calib_collector *c) {
    uint32_t i;
    nn_allocator a;
    if (!c) return;
    a = c->alloc;
    for (i = 0; i < c->tensor_count; i++) {
        if (!c->obs[i]) continue;
        nn_calib_observer_deinit(c->obs[i]);
        nn_free(&a, c->obs[i]);
    }
    nn_free(&a, c->obs);
    nn_free(&a, c);
}

/* ---- calibrators: private helpers ---------------------------------------- */

/* Count of histogram bin i with the exact zeros folded into bin 0. */
static double nn_calib__h(const nn_calib_observer *o, uint32_t i) {
    return (double)o->hist[i] + (i == 0 ? (double)o->zero_count : 0.0);
}

/* One past the last non-empty bin (0 when the histogram is empty). */
static uint32_t nn_calib__used_bins(const nn_calib_observer *o) {
    uint32_t n = o->bins;
    while (n > 0 && nn_calib__h(o, n - 1) == 0) n--;
    return n;
}

/* Percentile p of |x|: the smallest t with a fraction p/100 of the values
   at or below it, interpolated linearly inside the bin that holds it. */
static double nn_calib__percentile(const nn_calib_observer *o, uint32_t nb, double p) {
    double target = p / 100.0 * (double)o->count, cum = 0;
    uint32_t i;
    for (i = 0; i < nb; i++) {
        double h = nn_calib__h(o, i);
        if (h > 0 && cum + h >= target)
            return ((double)i + (target - cum) / h) * o->bin_width;
        cum += h;
    }
    return (double)nb * o->bin_width;
}

/* Expected squared error of symmetric quantization with clip T and step
   T / qmax, over the histogram (values at bin centres):
     E(T) = step^2 / 12 * N(|x| <= T)  +  sum_{|x| > T} (|x| - T)^2
   the uniform-noise model of rounding plus the exact clipping error (the
   form used by Banner et al. 2019, eq. 3, and Sakr et al. 2022, eq. 5).
   Candidates are the bin edges T = k * w, k = 1..nb; the tail sums S0, S1,
   S2 over bins >= k are kept as suffix sums so the scan is O(nb). */
static double nn_calib__mse(const nn_calib_observer *o, uint32_t nb, double qmax) {
    double w = o->bin_width, n = (double)o->count;
    double s0 = 0, s1 = 0, s2 = 0, best_err = -1, best_t = (double)nb * w;
    uint32_t k;
    for (k = nb; k >= 1; k--) {
        double t = (double)k * w, step = t / qmax;
        double err = step * step / 12.0 * (n - s0) + (s2 - 2.0 * t * s1 + t * t * s0);
        if (best_err < 0 || err < best_err) { best_err = err; best_t = t; }
        { /* bin k-1 joins the tail for the next (smaller) candidate */
            double h = nn_calib__h(o, k - 1), c = ((double)k - 0.5) * w;
            s0 += h; s1 += h * c; s2 += h * c * c;
        }
    }
    return best_t;
}

/* Mass above s and E[|x| 1{|x| > s}], treating each bin as uniform. */
static void nn_calib__tail(const nn_calib_observer *o, uint32_t nb, double s,
                           double *out_n_above, double *out_sum_above) {
    double w = o->bin_width, na = 0, sa = 0;
    uint32_t i;
    for (i = 0; i < nb; i++) {
        double lo = (double)i * w, hi = lo + w, h = nn_calib__h(o, i);
        if (h == 0 || hi <= s) continue;
        if (lo >= s) { na += h; sa += h * (lo + hi) * 0.5; }
        else { double f = (hi - s) / w; na += h * f; sa += h * f * (s + hi) * 0.5; }
    }
    *out_n_above = na;
    *out_sum_above = sa;
}

/* OCTAV (Sakr et al. 2022, "Optimal Clipping and Magnitude-aware
   Differentiation for Improved Quantization-aware Training", eq. 6): the
   fixed point of
     s_{n+1} = E[|x| 1{|x| > s_n}] / (a P(|x| <= s_n) + P(|x| > s_n))
   with a = step^2 / (12 s^2) = 1 / (12 qmax^2) (the paper writes 4^-B / 3
   for a grid of 2^B levels over [-s, s]; ours is the int grid, the same a
   as nn_calib__mse uses, so both rules aim at the same minimum).  Started
   at E|x| (below the optimum for bell-shaped data, and the iteration
   climbs monotonically there); stops when a step moves less than 1e-3 of a
   bin. */
static double nn_calib__octav(const nn_calib_observer *o, uint32_t nb, double qmax, uint32_t iters) {
    double a = 1.0 / (12.0 * qmax * qmax), n = (double)o->count;
    double s = o->sum_abs / n, absmax = nn_calib_observer_absmax(o);
    uint32_t it;
    for (it = 0; it < iters; it++) {
        double na, sa, next;
        nn_calib__tail(o, nb, s, &na, &sa);
        next = sa / (a * (n - na) + na);
        if (next > absmax) next = absmax;
        if (fabs(next - s) < 1e-3 * o->bin_width) { s = next; break; }
        s = next;
    }
    return s;
}

/* TensorRT entropy calibration (Szymon Migacz, "8-bit Inference with
   TensorRT", NVIDIA GTC 2017, slides "Entropy calibration - pseudocode"):
   for each candidate i (levels .. nb bins kept):
     P = bins[0 .. i-1], with every count beyond folded into P[i-1];
     Q = bins[0 .. i-1] merged into `levels` groups, each group's sum
         spread evenly over its non-empty bins (empty bins stay empty);
     divergence[i] = KL(P || Q) after normalizing both.
   The threshold is the edge of the best i.  The talk takes (m + 0.5)
   bin widths; we take the upper edge i * w of the kept bins so every kept
   value is inside the range (half a bin higher).  A q of 0 under p > 0 (a
   group that is empty but for folded outliers) is scored with q = 1e-12. */
static nn_status nn_calib__kl(const nn_calib_observer *o, uint32_t nb, uint32_t levels,
                              double *out_t, nn_diag *diag) {
    double *p, *q, *suffix, best = -1;
    uint32_t i, j, best_i = nb;
    size_t bytes;
    nn_allocator a = o->alloc;
    if (nb <= levels) { *out_t = (double)nb * o->bin_width; return NN_OK; }
    if (!nn_size_mul((size_t)nb + 1, 3 * sizeof(double), &bytes) ||
        !(p = (double *)nn_alloc(&a, bytes)))
        return nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_compute", "KL scratch of %u bins", nb);
    q = p + nb + 1;
    suffix = q + nb + 1;
    suffix[nb] = 0;
    for (j = nb; j-- > 0;) suffix[j] = suffix[j + 1] + nn_calib__h(o, j);
    for (i = levels; i <= nb; i++) {
        double psum = 0, qsum = 0, kl = 0;
        uint32_t g;
        for (j = 0; j < i; j++) p[j] = nn_calib__h(o, j);
        p[i - 1] += suffix[i];
        for (g = 0; g < levels; g++) {
            uint32_t lo = (uint32_t)((uint64_t)g * i / levels);
            uint32_t hi = (uint32_t)((uint64_t)(g + 1) * i / levels);
            double s = 0, nz = 0;
            for (j = lo; j < hi; j++) { double h = nn_calib__h(o, j); s += h; nz += h > 0; }
            for (j = lo; j < hi; j++) q[j] = (nz > 0 && nn_calib__h(o, j) > 0) ? s / nz : 0;
        }
        for (j = 0; j < i; j++) { psum += p[j]; qsum += q[j]; }
        for (j = 0; j < i; j++) {
            double pn, qn;
            if (p[j] <= 0) continue;
            pn = p[j] / psum;
            qn = qsum > 0 ? q[j] / qsum : 0;
            if (qn < 1e-12) qn = 1e-12;
            kl += pn * log(pn / qn);
        }
        if (best < 0 || kl < best) { best = kl; best_i = i; }
    }
    nn_free(&a, p);
    *out_t = (double)best_i * o->bin_width;
    return NN_OK;
}

/* ACIQ (Banner, Nahshan, Soudry, "Post training 4-bit quantization of
   convolutional networks for rapid-deployment", NeurIPS 2019, sec. 4.1):
   alpha* = k(M) * b for a Laplace(0, b) fit and k(M) * sigma for a
   Gaussian(0, sigma) fit, M = 2..8 bits.  These constants also follow from
   minimizing the paper's MSE expressions numerically (we did so:
   2*b^2*exp(-a/b) + a^2/(3*4^M) and its Gaussian analogue). */
static const double nn_calib__aciq_laplace[7] = {2.83, 3.89, 5.03, 6.20, 7.41, 8.64, 9.89};
static const double nn_calib__aciq_gauss[7] = {1.71, 2.15, 2.55, 2.94, 3.29, 3.61, 3.92};

/* ---- calibrators ----------------------------------------------------------- */

NN_API nn_status nn_calib_compute(const nn_calib_observer *o, const nn_calib_desc *desc,
                                  nn_calib_result *out, nn_diag *diag) {
    nn_calib_desc d;
    nn_calib_result r;
    double absmax, qmax, n;
    uint32_t nb;
    NN_ASSERT(o && out);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (d.method == NN_CALIB_DEFAULT) d.method = NN_CALIB_KL;
    if (d.bits == 0) d.bits = 8;
    if (d.percentile == 0) d.percentile = 99.99;
    if (d.kl_levels == 0 && d.bits >= 2 && d.bits <= 16) d.kl_levels = 1u << (d.bits - 1);
    if (d.octav_iterations == 0) d.octav_iterations = 30;
    if ((int)d.method < (int)NN_CALIB_MINMAX || (int)d.method > (int)NN_CALIB_OCTAV)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_calib_desc.method", "unknown method %d", (int)d.method);
    if (d.bits < 2 || d.bits > 16 ||
        ((d.method == NN_CALIB_ACIQ_GAUSS || d.method == NN_CALIB_ACIQ_LAPLACE) && d.bits > 8))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_calib_desc.bits",
                           "%d bits is not supported by %s (2..16; ACIQ 2..8)", d.bits,
                           nn_calib_method_name(d.method));
    if (!(d.percentile > 0 && d.percentile <= 100))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_calib_desc.percentile",
                           "percentile %g is outside (0, 100]", d.percentile);
    if (d.kl_levels < 2)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_calib_desc.kl_levels", "need at least 2 levels");
    if (o->count == 0)
        return nn_diag_set(diag, NN_ERR_INVALID, "nn_calib_observer",
                           "no finite value observed (%llu NaN, %llu Inf): nothing to calibrate",
                           (unsigned long long)o->nan_count, (unsigned long long)o->inf_count);
    memset(&r, 0, sizeof r);
    r.nonfinite_count = o->nan_count + o->inf_count;
    absmax = nn_calib_observer_absmax(o);
    qmax = (double)((1u << (d.bits - 1)) - 1);
    n = (double)o->count;
    nb = o->bin_width > 0 ? nn_calib__used_bins(o) : 0;
    if (absmax == 0 || nb == 0) {
        r.threshold = 0; /* all zeros: any scale works; nn_quant picks one */
    } else {
        switch (d.method) {
        case NN_CALIB_MINMAX: r.threshold = absmax; break;
        case NN_CALIB_PERCENTILE: r.threshold = nn_calib__percentile(o, nb, d.percentile); break;
        case NN_CALIB_MSE: r.threshold = nn_calib__mse(o, nb, qmax); break;
        case NN_CALIB_OCTAV: r.threshold = nn_calib__octav(o, nb, qmax, d.octav_iterations); break;
        case NN_CALIB_KL: {
            nn_status st = nn_calib__kl(o, nb, d.kl_levels, &r.threshold, diag);
            if (st != NN_OK) return st;
            break;
        }
        case NN_CALIB_ACIQ_LAPLACE: /* b: maximum-likelihood scale about 0, E|x| */
            r.threshold = nn_calib__aciq_laplace[d.bits - 2] * (o->sum_abs / n);
            break;
        case NN_CALIB_ACIQ_GAUSS: /* sigma: root mean square about 0 */
            r.threshold = nn_calib__aciq_gauss[d.bits - 2] * sqrt(o->sum_sq / n);
            break;
        default: break;
        }
        /* Clipping above the largest value seen only wastes levels. */
        if (r.threshold > absmax) r.threshold = absmax;
    }
    r.min = o->min < -r.threshold ? -r.threshold : o->min;
    r.max = o->max > r.threshold ? r.threshold : o->max;
    *out = r;
    return NN_OK;
}

NN_API const char *nn_calib_method_name(nn_calib_method m) {
    switch (m) {
    case NN_CALIB_DEFAULT: return "default";
    case NN_CALIB_MINMAX: return "minmax";
    case NN_CALIB_PERCENTILE: return "percentile";
    case NN_CALIB_MSE: return "mse";
    case NN_CALIB_KL: return "kl";
    case NN_CALIB_ACIQ_GAUSS: return "aciq_gauss";
    case NN_CALIB_ACIQ_LAPLACE: return "aciq_laplace";
    case NN_CALIB_OCTAV: return "octav";
    }
    return "?";
}

#endif /* NN_CALIB_IMPLEMENTATION_DONE */
#endif /* NN_IMPLEMENTATION || NN_CALIB_IMPLEMENTATION */

/*
   nnport is available under the MIT License.
   Copyright (c) 2026 the nnport authors.
   Permission is hereby granted, free of charge, to any person obtaining a copy
   of this software and associated documentation files (the "Software"), to deal
   in the Software without restriction, including without limitation the rights
   to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
   copies of the Software, and to permit persons to whom the Software is
   furnished to do so, subject to the following conditions: the above copyright
   notice and this permission notice shall be included in all copies or
   substantial portions of the Software.  THE SOFTWARE IS PROVIDED "AS IS",
   WITHOUT WARRANTY OF ANY KIND.
*/
