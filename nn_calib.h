/* nn_calib.h - activation statistics and calibrators for post-training
   quantization: streaming per-tensor observers with fixed-size histograms,
   a collector that plugs into the reference executor, the threshold rules
   MinMax, Percentile, MSE, KL (entropy), ACIQ and OCTAV plus a per-tensor
   automatic choice, calibration datasets (image folders with the model's
   preprocessing, .npy/.npz/.bin samples), a check of the calibration set,
   and calibration tables in TPU-MLIR's text format.
   Version 0.2.0.

   BUILD
     In exactly one C or C++ file:
         #define NN_IMPLEMENTATION        (or NN_CALIB_IMPLEMENTATION)
         #include "nn_calib.h"
     NN_IMPLEMENTATION also expands nn_graph.h and nn_verify.h; with
     NN_CALIB_IMPLEMENTATION alone only this header's code is expanded
     (link the other two from elsewhere).  Needs -lm.  Image samples are
     decoded by stb_image: link a library that has it (Debian: -lstb, with
     -I/usr/include/stb) or define NN_CALIB_NO_STB.  Folders are listed
     with POSIX opendir/readdir (<dirent.h>).

   CONFIG MACROS (define before the implementation include)
     NN_CALIB_DEFAULT_BINS      2048: histogram bins when a desc says 0.
     NN_MAX_CALIB_BINS          1<<20: most bins an observer may ask for.
     NN_MAX_CALIB_FILES         1<<20: most sample files in one folder.
     NN_MAX_CALIB_IMAGE_SIDE    16384: widest/tallest image or target.
     NN_MAX_CALIB_IMAGE_PIXELS  1<<25: most pixels in one image file (checked
                                from the header, before anything is decoded).
     NN_MAX_CALIB_TABLE_BYTES   256 MiB; NN_MAX_CALIB_TABLE_ENTRIES 1<<20;
     NN_MAX_CALIB_NAME_BYTES    4096: calibration-table file caps.
     NN_CALIB_NO_STB            no image support (images: NN_ERR_UNSUPPORTED).
     NN_CALIB_STB_IMAGE_H       "stb_image.h": how to include it.
     NN_ASSERT(x)               assert() by default; API misuse only.

   QUICK START
       nn_diag d = {0};
       nn_calib_dataset_desc dd = { .path = "calib/", .max_samples = 256,
           .image = { .bgr = 1, .mean = {127.5f, 127.5f, 127.5f},
                      .scale = {1/127.5f, 1/127.5f, 1/127.5f} } };
       nn_calib_dataset *ds;  nn_calib_dataset_open(&dd, g, &ds, &d);
       nn_calib_collector *col;
       nn_calib_collector_create(g, NULL, &col, &d);   (2048 bins)
       nn_exec_desc xd = { .observer = nn_calib_collector_exec_observer,
                           .observer_user = col };
       nn_exec *x;  nn_exec_create(g, &xd, &x, &d);
       nn_value in;                                    (one input here)
       for (uint32_t k = 0; k < nn_calib_dataset_count(ds); k++) {
           nn_calib_dataset_load(ds, k, &in, &d);
           nn_calib_collector_observe(col, g->inputs[0], &in, &d);
           nn_exec_set_input(x, 0, &in, &d);
           nn_exec_run(x, &d);                          (fills the observers)
       }
       nn_calib_desc kl = { .method = NN_CALIB_KL };   (int8 by default)
       nn_calib_table t;  nn_calib_table_init(&t, NULL);
       nn_calib_table_add_collector(&t, 0, col, &kl, NULL, &d);
       nn_calib_table_save(&t, nn_verify_write_file, stdout_file, &d);
       nn_calib_table_deinit(&t);  nn_exec_destroy(x);
       nn_calib_collector_destroy(col);  nn_calib_dataset_destroy(ds);

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
     A dataset lists file names once and loads one sample at a time.
   OWNERSHIP  Observers and collectors own their histograms (allocator of
     their desc); destroy/deinit releases them.  Calibrators only read.  A
     loaded sample belongs to the dataset until the next load or destroy.
     Table entries' names live in the table's arena.
   ERRORS  Fallible functions return nn_status and fill the caller's nn_diag
     (first error wins).  NaN and +-Inf are not errors: they are counted in
     nan_count / inf_count and kept out of every statistic; a caller decides
     whether a non-zero count is fatal (nn_calib_check reports them).  A
     tensor with no finite value has no threshold (NN_ERR_INVALID); an
     all-zero tensor has threshold 0.  Dataset errors name the file in
     diag.where; table errors name "<file>:<line>".
   MEMORY  An observer holds `bins` 64-bit counters plus a fixed header,
     whatever the number of samples; a collector holds one observer per
     float tensor that has been seen (allocated the first time).  A
     dataset holds its file names and the current sample; the check adds
     8 bytes per sample (hashes).
   THREADS  No global state of ours (stb_image's failure reason is global:
     load images from one thread).  One observer, collector, dataset or
     table must not be used from two threads at once.
   LIMITS  bins above NN_MAX_CALIB_BINS are refused (NN_ERR_LIMIT).
     float32, float16 and bfloat16 values are observed (the halves widened
     to float while binning); other dtypes are skipped by the collector and
     refused by nn_calib_observe_value (NN_ERR_UNSUPPORTED).  Files, image
     sides and table sizes are capped by the NN_MAX_CALIB_* macros above.
*/
#ifndef NN_CALIB_H
#define NN_CALIB_H

/* A limit of the API (observers asking for more bins are refused), so it
   is visible to every includer, not only the implementation. */
#ifndef NN_MAX_CALIB_BINS
#define NN_MAX_CALIB_BINS (1u << 20)
#endif
/* Calibration tables: bytes of a file, lines, bytes of a tensor name. */
#ifndef NN_MAX_CALIB_TABLE_BYTES
#define NN_MAX_CALIB_TABLE_BYTES (256u << 20)
#endif
#ifndef NN_MAX_CALIB_TABLE_ENTRIES
#define NN_MAX_CALIB_TABLE_ENTRIES (1u << 20)
#endif
#ifndef NN_MAX_CALIB_NAME_BYTES
#define NN_MAX_CALIB_NAME_BYTES 4096u
#endif
/* Most files a calibration folder may list (each costs a name in memory). */
#ifndef NN_MAX_CALIB_FILES
#define NN_MAX_CALIB_FILES (1u << 20)
#endif

#include "nn_graph.h"
#include "nn_verify.h"

#define NN_CALIB_VERSION_MAJOR 0
#define NN_CALIB_VERSION_MINOR 2
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
/* The same for an nn_value of float32, float16 or bfloat16 (widened to
   float while binning); NN_ERR_UNSUPPORTED for other dtypes. */
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
/* Adds one value of tensor t.  Values that are not float32/16 or bfloat16
   are ignored (NN_OK).
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
/* Tensor t's observer, or NULL if no float value of t has been seen. */
NN_API const nn_calib_observer *nn_calib_collector_get(const nn_calib_collector *c, nn_tensor_id t);
/* Bytes the collector holds now (observers included). */
NN_API size_t nn_calib_collector_bytes(const nn_calib_collector *c);
NN_API void nn_calib_collector_destroy(nn_calib_collector *c);

/* ---- calibrators ----------------------------------------------------------- */

typedef enum nn_calib_method {
    NN_CALIB_DEFAULT = 0,   /* NN_CALIB_PERCENTILE (99.99).  TPU-MLIR defaults to KL;
                               on the real models here percentile is as good or
                               better everywhere, and KL fails PP-OCRv4 rec and det
                               (docs/CALIBRATION.md, QUANTIZATION.md 6e) */
    NN_CALIB_MINMAX,        /* T = max |x| */
    NN_CALIB_PERCENTILE,    /* T = the percentile of |x| */
    NN_CALIB_MSE,           /* T minimizing expected quantization + clipping MSE */
    NN_CALIB_KL,            /* TensorRT entropy calibration */
    NN_CALIB_ACIQ_GAUSS,    /* Banner et al. 2019, Gaussian fit */
    NN_CALIB_ACIQ_LAPLACE,  /* Banner et al. 2019, Laplace fit */
    NN_CALIB_OCTAV,         /* Sakr et al. 2022, Newton-style iteration */
    NN_CALIB_AUTO           /* per tensor: the rule above with the smallest
                               nn_calib_expected_error */
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
    nn_calib_method method;    /* the rule used (AUTO: the one chosen) */
    double expected_error;     /* nn_calib_expected_error at threshold */
} nn_calib_result;

/* Computes the threshold of o with the desc's method.  NN_ERR_ARG for bits
   outside 2..16 (ACIQ: 2..8, the widths the paper tabulates), a percentile
   outside (0, 100] or kl_levels < 2; NN_ERR_INVALID when o has no finite
   value.  *out is untouched on failure. */
NN_API nn_status nn_calib_compute(const nn_calib_observer *o, const nn_calib_desc *desc,
                                  nn_calib_result *out, nn_diag *diag);
/* Expected squared error per value of symmetric `bits` quantization with
   clip `threshold` (step T / (2^(bits-1) - 1)) over o's histogram, each
   bin's values spread evenly over the bin and integrated exactly (rounding
   inside [-T, T], clipping outside); exact zeros add nothing.  Unlike the
   MSE rule's step^2/12 model, this sees grids coarser than a bin and
   spikes of zeros.  0 for an empty observer.  bits 2..16 (NN_ASSERT). */
NN_API double nn_calib_expected_error(const nn_calib_observer *o, double threshold, int bits);
/* "minmax", "percentile", ...; "?" for an unknown value. */
NN_API const char *nn_calib_method_name(nn_calib_method m);

/* ---- calibration datasets -------------------------------------------------- */

/* A folder of samples for a graph's inputs, loaded one at a time (memory
   does not grow with the number of samples).  Files by extension:
     .png .jpg .jpeg .bmp .ppm .pgm .tga   images, preprocessed by `image`
                                           (needs stb_image; see NN_CALIB_NO_STB)
     .npy                                  one array
     .npz                                  one array per input, keyed by the
                                           input name (or the only array)
     .bin                                  raw little-endian bytes of raw_dtype
                                           and the raw shape
   One input: the files in `path` (or in path/<input name>/ when that
   folder exists).  Several inputs: one sub-folder per input (named as the
   input, characters other than [A-Za-z0-9._-] replaced by '_'), the same
   file stem in each; or .npz files in `path` holding every input.
   Samples are sorted by file name (byte order) before the cap applies. */
typedef struct nn_calib_dataset nn_calib_dataset;

typedef enum nn_calib_resize {
    NN_CALIB_RESIZE_DEFAULT = 0, /* STRETCH when a target size is known, else NONE */
    NN_CALIB_RESIZE_NONE,        /* keep the image's size */
    NN_CALIB_RESIZE_STRETCH,     /* to height x width, aspect ratio not kept */
    NN_CALIB_RESIZE_SHORT_CROP,  /* short side to resize_short, centre crop height x width */
    NN_CALIB_RESIZE_FIT_PAD,     /* keep aspect ratio, fit inside, pad right/bottom */
    NN_CALIB_RESIZE_HEIGHT_PAD   /* PaddleOCR rec: height fixed, width min(width,
                                    ceil(height*w/h)), pad right */
} nn_calib_resize;

typedef enum nn_calib_layout {
    NN_CALIB_LAYOUT_DEFAULT = 0, /* NHWC when the input's last dim is 3 and dim 1
                                    is not (or last 1 and dim 1 > 4), else NCHW */
    NN_CALIB_LAYOUT_NCHW,
    NN_CALIB_LAYOUT_NHWC
} nn_calib_layout;

typedef enum nn_calib_pick {
    NN_CALIB_PICK_DEFAULT = 0,   /* SPREAD */
    NN_CALIB_PICK_FIRST,         /* the first max_samples names */
    NN_CALIB_PICK_SPREAD         /* evenly spaced: sorted index floor(i * n / max_samples) */
} nn_calib_pick;

/* Image preprocessing.  Resizing is bilinear with half-pixel centres
   (align_corners = false, source coordinate (x + 0.5) * in / out - 0.5,
   clamped at the edges, no antialiasing): cv2.resize INTER_LINEAR, as
   examples/ocr_read.c and PaddleOCR use. */
typedef struct nn_calib_image_desc {
    nn_calib_resize resize;
    uint32_t height, width;      /* 0: from the input's static shape */
    uint32_t resize_short;       /* SHORT_CROP: 0 = max(height, width) * 256 / 224 */
    float mean[4];               /* out = (pixel - mean[c]) * scale[c], pixel in 0..255, */
    float scale[4];              /*   c the output channel; all scales 0: scale 1 */
    int bgr;                     /* 1: output channel 0 is blue (cv2 order) */
    nn_calib_layout layout;
    nn_dtype dtype;              /* 0: the input's dtype; float32 or uint8 */
    float pad_value;             /* padded pixels, in output units (after mean/scale) */
    int grow_width;              /* HEIGHT_PAD: width grows past `width` for wider
                                    images (ocr_read's dynamic width) */
    int round_u8;                /* 1: round resized pixels to integers, as cv2 does on
                                    uint8 images (scripts/make_inputs.py); 0: keep the
                                    fraction (ocr_read) */
} nn_calib_image_desc;

typedef struct nn_calib_dataset_desc {   /* zero = defaults */
    nn_allocator alloc;
    const char *path;            /* the folder (required) */
    const char *extension;       /* only files with this extension ("npy");
                                    NULL: every supported one */
    uint32_t max_samples;        /* 0: all */
    nn_calib_pick pick;
    nn_calib_image_desc image;
    nn_dtype raw_dtype;          /* .bin: 0 = the input's dtype */
    const nn_input_shape *raw_shapes; /* .bin shapes by input name; an input not
                                    listed uses its static shape */
    uint32_t raw_shape_count;
    const char *const *input_folders; /* optional, one entry per graph input (order of
                                    g->inputs): that input's folder; a NULL entry
                                    means path/<input name>.  path may be NULL
                                    when every entry is given */
} nn_calib_dataset_desc;

/* Lists the samples of d->path for g's inputs (g borrowed; must outlive the
   dataset).  NN_ERR_IO: the folder or a sub-folder cannot be read;
   NN_ERR_INVALID: no sample, a stem missing from one input's folder, two
   files with the same stem (set d->extension); NN_ERR_ARG: bad options;
   NN_ERR_LIMIT: more than NN_MAX_CALIB_FILES files; NN_ERR_NOMEM. */
NN_API nn_status nn_calib_dataset_open(const nn_calib_dataset_desc *d, const nn_graph *g,
                                       nn_calib_dataset **out, nn_diag *diag);
/* Number of samples (after the cap). */
NN_API uint32_t nn_calib_dataset_count(const nn_calib_dataset *ds);
/* Loads sample `index` into inputs[0..g->input_count) (order of g->inputs),
   owned by the dataset until the next load or destroy.  Errors name the
   file in diag.where: NN_ERR_IO, NN_ERR_PARSE (not an image / npy),
   NN_ERR_SHAPE (rank or a static dim differs from the input),
   NN_ERR_INVALID (dtype), NN_ERR_UNSUPPORTED (images with NN_CALIB_NO_STB). */
NN_API nn_status nn_calib_dataset_load(nn_calib_dataset *ds, uint32_t index, nn_value *inputs, nn_diag *diag);
/* The sample's file stem ("line00"); NULL for an index out of range. */
NN_API const char *nn_calib_dataset_name(const nn_calib_dataset *ds, uint32_t index);
NN_API void nn_calib_dataset_destroy(nn_calib_dataset *ds);

/* ---- calibration tables (TPU-MLIR's text format) ---------------------------- */

/* The text run_calibration writes and TPU-MLIR's import-calibration-table
   reads:
       # histogram number: 2048        (comments: '#' first; these two are read back)
       # sample number: 16
       ###
       # op_name    threshold    min    max
       conv1_out 4.1234560 -3.2000000 4.9000000
       ...
       #int4_th                        (optional: the same lines for int4)
       conv1_out 2.5000000 -3.2000000 4.9000000
   A line is a tensor name (no blanks) and three numbers separated by spaces
   or tabs; min and max are the observed range (not clipped), threshold the
   symmetric clip.  Sections TPU-MLIR has for other purposes (#weight_scale,
   fp8, asym_op, int4_op) are refused, as are NaN, a negative threshold,
   min > max and a name twice in one section. */
typedef struct nn_calib_table_entry {
    const char *name;          /* in the table's arena */
    double threshold, min, max;
} nn_calib_table_entry;

typedef struct nn_calib_table {
    nn_allocator alloc;
    nn_arena arena;
    nn_calib_table_entry *entries;      /* (count) int8 section, file order */
    uint32_t count, cap;
    nn_calib_table_entry *int4_entries; /* (int4_count) the #int4_th section */
    uint32_t int4_count, int4_cap;
    uint32_t bins, samples;             /* header figures; 0 when absent */
    uint32_t *index[2];                 /* private: name hash -> entry + 1, per section */
    uint32_t index_cap[2];
} nn_calib_table;

NN_API void nn_calib_table_init(nn_calib_table *t, const nn_allocator *alloc);
/* Appends (name copied).  int4: 1 for the #int4_th section.  NN_ERR_ARG for
   a name that is empty, starts with '#' or holds blanks/control bytes, a
   non-finite number, threshold < 0, min > max, or a name already in that
   section; NN_ERR_LIMIT above
   NN_MAX_CALIB_TABLE_ENTRIES; NN_ERR_NOMEM. */
NN_API nn_status nn_calib_table_add(nn_calib_table *t, int int4, const char *name, double threshold,
                                    double min, double max, nn_diag *diag);
/* The entry for name in a section, or NULL (hashed). */
NN_API const nn_calib_table_entry *nn_calib_table_find(const nn_calib_table *t, int int4, const char *name);
/* Parses bytes of table text into t (appending; t unchanged on failure).  Errors are NN_ERR_PARSE
   (or NN_ERR_ARG as for _add, NN_ERR_UNSUPPORTED for unknown sections,
   NN_ERR_LIMIT) with diag.where = "<label>:<line>", e.g. "cali_table:12". */
NN_API nn_status nn_calib_table_load(nn_calib_table *t, const char *text, size_t bytes, const char *label,
                                     nn_diag *diag);
/* Reads a file (at most NN_MAX_CALIB_TABLE_BYTES) and parses it; NN_ERR_IO. */
NN_API nn_status nn_calib_table_load_file(nn_calib_table *t, const char *path, nn_diag *diag);
/* Writes t as text through write (nn_verify_write_file with a FILE*, ...):
   the header, the int8 lines, then "#int4_th" and its lines if any.  Numbers
   as the shortest of %.9g .. %.17g that reads back the same double.  NN_ERR_IO when write
   returns non-zero. */
NN_API nn_status nn_calib_table_save(const nn_calib_table *t, nn_verify_write_fn write, void *user,
                                     nn_diag *diag);
/* Adds one line per tensor of g that c has observed (graph inputs first,
   then tensors in id order): threshold from nn_calib_compute with desc,
   min/max observed.  Tensors without a finite value are skipped and
   counted in *out_skipped (optional).  Errors of nn_calib_compute/_add. */
NN_API nn_status nn_calib_table_add_collector(nn_calib_table *t, int int4, const nn_calib_collector *c,
                                              const nn_calib_desc *desc, uint32_t *out_skipped,
                                              nn_diag *diag);
NN_API void nn_calib_table_deinit(nn_calib_table *t);

/* ---- calibration-set check ----------------------------------------------- */

typedef enum nn_calib_severity {
    NN_CALIB_INFO = 1,
    NN_CALIB_WARN,
    NN_CALIB_ERROR          /* the thresholds would be wrong: fix the set first */
} nn_calib_severity;

typedef enum nn_calib_finding_code {
    NN_CALIB_FINDING_FEW_SAMPLES = 1, /* fewer than min_samples (16) */
    NN_CALIB_FINDING_NONFINITE,       /* NaN or Inf in an input */
    NN_CALIB_FINDING_DUPLICATE,       /* samples with identical input bytes */
    NN_CALIB_FINDING_CHANNEL_ORDER,   /* reversed channels match the first BN better */
    NN_CALIB_FINDING_BN_MISMATCH,     /* first conv's output far from the BN's running stats */
    NN_CALIB_FINDING_BN_MATCH,        /* INFO: the comparison ran and found nothing */
    NN_CALIB_FINDING_NO_BN,           /* INFO: no input -> Conv -> BatchNormalization to compare */
    NN_CALIB_FINDING_FLAT_CHANNELS    /* first-conv channels constant over the set (e.g. grayscale) */
} nn_calib_finding_code;

#define NN_CALIB_MAX_FINDINGS 8

typedef struct nn_calib_finding {
    nn_calib_severity severity;
    nn_calib_finding_code code;
    uint32_t sample;          /* first sample concerned (dataset index), or UINT32_MAX */
    double value;             /* the figure behind it (count, score, ratio) */
    char message[256];        /* what was found */
    char what_to_do[256];
} nn_calib_finding;

typedef struct nn_calib_check_desc {   /* zero = defaults */
    nn_allocator alloc;
    uint32_t min_samples;     /* 0: 16 */
    double bn_warn_score;     /* 0: 2.0, on nn_calib_report.bn_median_score */
    int skip_bn;              /* 1: no BatchNormalization comparison */
} nn_calib_check_desc;

typedef struct nn_calib_report {
    nn_calib_finding findings[NN_CALIB_MAX_FINDINGS]; /* most severe first */
    uint32_t finding_count;
    uint32_t samples;
    uint32_t duplicate_count; /* samples equal to an earlier one */
    uint64_t nonfinite_count; /* NaN/Inf input values over the set */
    /* The first BatchNormalization fed by a Conv of a graph input: per
       channel c, with m_c, v_c the mean and variance of the conv output
       over the whole set and mu_c, s2_c the BN's running mean/var,
         z_c = (m_c - mu_c) / sqrt(s2_c + eps),  r_c = ln((v_c + eps) / (s2_c + eps)),
         bn_score        = sqrt(mean_c (z_c^2 + r_c^2))   (0: a perfect match)
         bn_median_score = sqrt(median_c (z_c^2 + r_c^2)) (robust: the absolute test)
       bn_score_swapped is bn_score with the input's 3 channels reversed;
       bn_spread_ratio = exp(median_c r_c / 2), the typical std ratio;
       bn_flat_channels counts r_c < ln 0.01.  -1 when not measured. */
    double bn_score, bn_score_swapped, bn_median_score, bn_spread_ratio;
    uint32_t bn_channels, bn_flat_channels;
    char bn_node[128];        /* the BatchNormalization compared ("" when none) */
} nn_calib_report;

/* Loads every sample of ds once and reports what would make calibration
   wrong (see nn_calib_finding_code).  The BN comparison runs the graph only
   up to that Conv (the executor is stopped there), twice per sample
   (as given, channels reversed).  Memory: 8 bytes per sample (hashes) plus
   one sample.  Errors: a sample that does not load (diag names the file),
   NN_ERR_NOMEM, executor errors.  Findings are results, not errors. */
NN_API nn_status nn_calib_check(const nn_graph *g, nn_calib_dataset *ds, const nn_calib_check_desc *desc,
                                nn_calib_report *out, nn_diag *diag);
NN_API const char *nn_calib_severity_name(nn_calib_severity s); /* "info", "warning", "error" */

#ifdef __cplusplus
}
#endif
#endif /* NN_CALIB_H */

/* ===================== end of API: implementation below ===================== */

#if defined(NN_IMPLEMENTATION) || defined(NN_CALIB_IMPLEMENTATION)
#ifndef NN_CALIB_IMPLEMENTATION_DONE
#define NN_CALIB_IMPLEMENTATION_DONE

#ifndef NN_CALIB_STB_IMAGE_H
#define NN_CALIB_STB_IMAGE_H "stb_image.h"
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>   /* POSIX: listing calibration folders */
#include <errno.h>
#include <sys/stat.h>
#ifndef NN_CALIB_NO_STB
/* nn_verify.h may have included it already (and expanded its
   implementation under NN_VERIFY_STB_IMAGE_IMPLEMENTATION): once only. */
#ifndef STBI_INCLUDE_STB_IMAGE_H
#include NN_CALIB_STB_IMAGE_H
#endif
#endif

#ifndef NN_ASSERT
#include <assert.h>
#define NN_ASSERT(x) assert(x)
#endif
#ifndef NN_CALIB_DEFAULT_BINS
#define NN_CALIB_DEFAULT_BINS 2048
#endif
#ifndef NN_MAX_CALIB_IMAGE_SIDE
#define NN_MAX_CALIB_IMAGE_SIDE 16384
#endif
#ifndef NN_MAX_CALIB_IMAGE_PIXELS
#define NN_MAX_CALIB_IMAGE_PIXELS (1u << 25)
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

/* Pass 1 over n values: range and moments; returns the largest finite |x|,
   so the histogram can be widened once before any value is binned. */
static double nn_calib__scan(nn_calib_observer *o, const float *x, size_t n) {
    size_t i;
    double absmax = 0;
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
    return absmax;
}

/* Pass 2: bins the finite values (after nn_calib__cover). */
static void nn_calib__bin(nn_calib_observer *o, const float *x, size_t n) {
    size_t i;
    double inv;
    if (o->bin_width == 0) { /* nothing non-zero yet: only zeros to count */
        for (i = 0; i < n; i++) if (x[i] == 0) o->zero_count++;
        return;
    }
    inv = 1.0 / o->bin_width;
    for (i = 0; i < n; i++) {
        double a = fabs((double)x[i]);
        size_t b;
        if (!isfinite(a)) continue; /* NaN and Inf were counted in the scan */
        if (a == 0) { o->zero_count++; continue; }
        b = (size_t)(a * inv);
        if (b >= o->bins) b = o->bins - 1; /* rounding at the top edge only */
        o->hist[b]++;
    }
}

NN_API void nn_calib_observe_f32(nn_calib_observer *o, const float *x, size_t n) {
    NN_ASSERT(o && o->hist && (x || n == 0));
    o->samples++;
    nn_calib__cover(o, nn_calib__scan(o, x, n));
    nn_calib__bin(o, x, n);
}

/* Converts values [i, i + n) of a float16/bfloat16 array to float32. */
static void nn_calib__widen(nn_dtype t, const uint16_t *h, size_t i, size_t n, float *out) {
    size_t k;
    for (k = 0; k < n; k++) out[k] = t == NN_DTYPE_FLOAT16 ? nn_f16_to_f32(h[i + k]) : nn_bf16_to_f32(h[i + k]);
}

NN_API nn_status nn_calib_observe_value(nn_calib_observer *o, const nn_value *v, nn_diag *diag) {
    NN_ASSERT(o && v);
    if (v->dtype == NN_DTYPE_FLOAT) {
        nn_calib_observe_f32(o, (const float *)v->data, v->data ? nn_value_count(v) : 0);
        return NN_OK;
    }
    if (v->dtype == NN_DTYPE_FLOAT16 || v->dtype == NN_DTYPE_BFLOAT16) {
        /* Widened in chunks on the stack, twice (scan, then bin): no
           allocation, and the same two passes as float32. */
        float buf[512];
        const uint16_t *h = (const uint16_t *)v->data;
        size_t n = v->data ? nn_value_count(v) : 0, i, m;
        double absmax = 0;
        o->samples++;
        for (i = 0; i < n; i += m) {
            double a;
            m = n - i < 512 ? n - i : 512;
            nn_calib__widen(v->dtype, h, i, m, buf);
            a = nn_calib__scan(o, buf, m);
            if (a > absmax) absmax = a;
        }
        nn_calib__cover(o, absmax);
        for (i = 0; i < n; i += m) {
            m = n - i < 512 ? n - i : 512;
            nn_calib__widen(v->dtype, h, i, m, buf);
            nn_calib__bin(o, buf, m);
        }
        return NN_OK;
    }
    return nn_diag_set(diag, NN_ERR_UNSUPPORTED, "nn_calib_observe_value",
                       "only float32, float16 and bfloat16 values are observed, not %s", nn_dtype_name(v->dtype));
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
    if (v->dtype != NN_DTYPE_FLOAT && v->dtype != NN_DTYPE_FLOAT16 && v->dtype != NN_DTYPE_BFLOAT16)
        return NN_OK; /* integer tensors: not calibrated */
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
   group that is empty but for folded outliers) is scored with q = 1e-12.
   The first bin's count is replaced by the second's, as NVIDIA's
   pytorch-quantization does in its entropy calibrator (calib/histogram.py,
   `bins[0] = bins[1]`): after a ReLU, or around zero padding, bin 0 holds
   half of all values, exact zeros that every threshold represents exactly;
   left in, that spike dominates P, and spreading it over the first group of
   Q scores every wide range badly, so the threshold collapsed (resnet18's
   first ReLU: 1.74 against a maximum of 14.0, final cosine 0.72). */
static double nn_calib__kl_h(const nn_calib_observer *o, uint32_t nb, uint32_t j) {
    return nn_calib__h(o, j == 0 && nb > 1 ? 1 : j);
}

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
    for (j = nb; j-- > 0;) suffix[j] = suffix[j + 1] + nn_calib__kl_h(o, nb, j);
    for (i = levels; i <= nb; i++) {
        double psum = 0, qsum = 0, kl = 0;
        uint32_t g;
        for (j = 0; j < i; j++) p[j] = nn_calib__kl_h(o, nb, j);
        p[i - 1] += suffix[i];
        for (g = 0; g < levels; g++) {
            uint32_t lo = (uint32_t)((uint64_t)g * i / levels);
            uint32_t hi = (uint32_t)((uint64_t)(g + 1) * i / levels);
            double s = 0, nz = 0;
            for (j = lo; j < hi; j++) { double h = nn_calib__kl_h(o, nb, j); s += h; nz += h > 0; }
            for (j = lo; j < hi; j++) q[j] = (nz > 0 && nn_calib__kl_h(o, nb, j) > 0) ? s / nz : 0;
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

/* Threshold of one method (d resolved, o non-empty with a histogram). */
static nn_status nn_calib__threshold(const nn_calib_observer *o, const nn_calib_desc *d, nn_calib_method m,
                                     uint32_t nb, double *out_t, nn_diag *diag) {
    double qmax = (double)((1u << (d->bits - 1)) - 1), n = (double)o->count, t = 0;
    switch (m) {
    case NN_CALIB_MINMAX: t = nn_calib_observer_absmax(o); break;
    case NN_CALIB_PERCENTILE: t = nn_calib__percentile(o, nb, d->percentile); break;
    case NN_CALIB_MSE: t = nn_calib__mse(o, nb, qmax); break;
    case NN_CALIB_OCTAV: t = nn_calib__octav(o, nb, qmax, d->octav_iterations); break;
    case NN_CALIB_KL: {
        nn_status st = nn_calib__kl(o, nb, d->kl_levels, &t, diag);
        if (st != NN_OK) return st;
        break;
    }
    case NN_CALIB_ACIQ_LAPLACE: /* b: maximum-likelihood scale about 0, E|x| */
        t = nn_calib__aciq_laplace[d->bits - 2] * (o->sum_abs / n);
        break;
    case NN_CALIB_ACIQ_GAUSS: /* sigma: root mean square about 0 */
        t = nn_calib__aciq_gauss[d->bits - 2] * sqrt(o->sum_sq / n);
        break;
    default: break;
    }
    /* Clipping above the largest value seen only wastes levels. */
    if (t > nn_calib_observer_absmax(o)) t = nn_calib_observer_absmax(o);
    *out_t = t;
    return NN_OK;
}

/* H(u) = integral over [-1/2, u] of (s - round(s))^2 ds, the rounding error
   of a unit grid accumulated from -1/2: whole cells give 1/12 each, and the
   partial cell [-1/2, r - 1/2] gives ((r - 1/2)^3 + 1/8) / 3. */
static double nn_calib__round_integral(double u) {
    double c = floor(u + 0.5), r = u + 0.5 - c;
    return c / 12.0 + ((r - 0.5) * (r - 0.5) * (r - 0.5) + 0.125) / 3.0;
}

NN_API double nn_calib_expected_error(const nn_calib_observer *o, double threshold, int bits) {
    double w, step, total = 0;
    uint32_t i;
    NN_ASSERT(o && bits >= 2 && bits <= 16);
    if (o->count == 0 || o->bin_width == 0) return 0; /* nothing, or only zeros: exact */
    if (threshold < 0) threshold = 0;
    w = o->bin_width;
    step = threshold / (double)((1u << (bits - 1)) - 1);
    for (i = 0; i < o->bins; i++) {
        double a = (double)i * w, b = a + w, h = (double)o->hist[i], e = 0;
        if (h == 0) continue;
        if (step > 0 && a < threshold) { /* rounding inside [a, min(b, T)] */
            double hi = b < threshold ? b : threshold;
            e += step * step * step * (nn_calib__round_integral(hi / step) - nn_calib__round_integral(a / step));
        }
        if (b > threshold) { /* clipping to T over [max(a, T), b] */
            double lo = (a > threshold ? a : threshold) - threshold, hi = b - threshold;
            e += (hi * hi * hi - lo * lo * lo) / 3.0;
        }
        total += h * e / w; /* h values spread evenly over the bin */
    }
    return total / (double)o->count; /* exact zeros add no error */
}

NN_API nn_status nn_calib_compute(const nn_calib_observer *o, const nn_calib_desc *desc,
                                  nn_calib_result *out, nn_diag *diag) {
    nn_calib_desc d;
    nn_calib_result r;
    uint32_t nb;
    NN_ASSERT(o && out);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (d.method == NN_CALIB_DEFAULT) d.method = NN_CALIB_PERCENTILE;
    if (d.bits == 0) d.bits = 8;
    if (d.percentile == 0) d.percentile = 99.99;
    if (d.kl_levels == 0 && d.bits >= 2 && d.bits <= 16) d.kl_levels = 1u << (d.bits - 1);
    if (d.octav_iterations == 0) d.octav_iterations = 30;
    if ((int)d.method < (int)NN_CALIB_MINMAX || (int)d.method > (int)NN_CALIB_AUTO)
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
    r.method = d.method;
    nb = o->bin_width > 0 ? nn_calib__used_bins(o) : 0;
    if (nn_calib_observer_absmax(o) == 0 || nb == 0) {
        r.threshold = 0; /* all zeros: any scale works; nn_quant picks one */
        if (d.method == NN_CALIB_AUTO) r.method = NN_CALIB_MINMAX;
    } else if (d.method != NN_CALIB_AUTO) {
        nn_status st = nn_calib__threshold(o, &d, d.method, nb, &r.threshold, diag);
        if (st != NN_OK) return st;
    } else {
        /* Every rule, scored by nn_calib_expected_error; ties keep the
           earlier method of the enum. */
        int m;
        double best = -1;
        for (m = NN_CALIB_MINMAX; m <= NN_CALIB_OCTAV; m++) {
            double t, e;
            nn_status st;
            if ((m == NN_CALIB_ACIQ_GAUSS || m == NN_CALIB_ACIQ_LAPLACE) && d.bits > 8) continue;
            st = nn_calib__threshold(o, &d, (nn_calib_method)m, nb, &t, diag);
            if (st != NN_OK) return st;
            e = nn_calib_expected_error(o, t, d.bits);
            if (best < 0 || e < best) { best = e; r.threshold = t; r.method = (nn_calib_method)m; }
        }
    }
    r.expected_error = nn_calib_expected_error(o, r.threshold, d.bits);
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
    case NN_CALIB_AUTO: return "auto";
    }
    return "?";
}


/* ---- calibration datasets ------------------------------------------------ */

/* How one input's file of a sample is read. */
typedef enum nn_calib__kind {
    NN_CALIB__NONE = 0, NN_CALIB__IMAGE, NN_CALIB__NPY, NN_CALIB__NPZ, NN_CALIB__BIN
} nn_calib__kind;

struct nn_calib_dataset {
    nn_allocator alloc;
    nn_arena arena;                /* names and paths */
    const nn_graph *g;
    nn_calib_dataset_desc d;       /* copy; image defaults filled at load */
    uint32_t inputs;               /* g->input_count */
    uint32_t count;                /* samples after the cap */
    const char **stems;            /* (count) */
    const char **paths;            /* (count, inputs) full paths; the npz path
                                      repeated when one .npz holds every input */
    int npz_all;                   /* 1: one .npz per sample holds every input */
    nn_value *held;                /* (inputs) the last loaded values, owned */
    nn_verify_npz npz;             /* the last loaded .npz (npz_all mode) */
};

/* name's extension in lower case, without the dot, into ext; 0 when name
   has none (or one of 8 characters or more). */
static int nn_calib__ext(const char *name, char ext[8]) {
    const char *dot = strrchr(name, '.');
    size_t i;
    if (!dot || dot == name || strlen(dot + 1) >= 8) return 0;
    for (i = 0; dot[1 + i]; i++) {
        char ch = dot[1 + i];
        ext[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    }
    ext[i] = 0;
    return 1;
}

static nn_calib__kind nn_calib__kind_of(const char *name) {
    static const char *const images[] = {"png", "jpg", "jpeg", "bmp", "ppm", "pgm", "tga"};
    size_t i;
    char ext[8];
    if (!nn_calib__ext(name, ext)) return NN_CALIB__NONE;
    if (strcmp(ext, "npy") == 0) return NN_CALIB__NPY;
    if (strcmp(ext, "npz") == 0) return NN_CALIB__NPZ;
    if (strcmp(ext, "bin") == 0) return NN_CALIB__BIN;
    for (i = 0; i < sizeof images / sizeof images[0]; i++)
        if (strcmp(ext, images[i]) == 0) return NN_CALIB__IMAGE;
    return NN_CALIB__NONE;
}

/* 1 when name's extension equals ext (case-insensitive, without the dot). */
static int nn_calib__has_ext(const char *name, const char *ext) {
    const char *dot = strrchr(name, '.');
    size_t i;
    if (!dot) return 0;
    for (i = 0;; i++) {
        char a = dot[1 + i], b = ext[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
        if (a != b) return 0;
        if (!a) return 1;
    }
}

static int nn_calib__cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* dir + "/" + name in the arena (NULL: out of memory). */
static char *nn_calib__join(nn_arena *a, const char *dir, const char *name) {
    size_t n1 = strlen(dir), n2 = strlen(name);
    char *p = (char *)nn_arena_alloc(a, n1 + n2 + 2);
    if (!p) return NULL;
    memcpy(p, dir, n1);
    p[n1] = '/';
    memcpy(p + n1 + 1, name, n2 + 1);
    return p;
}

static int nn_calib__is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The sample files of one folder: names with a supported extension (and
   desc's extension filter), sorted; *out_names in the arena.  Two files
   with one stem are an error (which one is meant is unknowable). */
static nn_status nn_calib__list(nn_calib_dataset *ds, const char *dir, const char ***out_names,
                                uint32_t *out_count, nn_diag *diag) {
    DIR *dh = opendir(dir);
    struct dirent *e;
    const char **names = NULL;
    uint32_t n = 0, cap = 0, i;
    if (!dh) return nn_diag_set(diag, NN_ERR_IO, dir, "cannot open the folder");
    while ((e = readdir(dh)) != NULL) {
        char *full;
        if (e->d_name[0] == '.' || nn_calib__kind_of(e->d_name) == NN_CALIB__NONE) continue;
        if (ds->d.extension && !nn_calib__has_ext(e->d_name, ds->d.extension)) continue;
        if (n == NN_MAX_CALIB_FILES) {
            closedir(dh);
            nn_free(&ds->alloc, (void *)names);
            return nn_diag_set(diag, NN_ERR_LIMIT, dir, "more than NN_MAX_CALIB_FILES (%u) sample files",
                               (unsigned)NN_MAX_CALIB_FILES);
        }
        full = nn_calib__join(&ds->arena, dir, e->d_name);
        if (!full || nn_calib__is_dir(full)) {
            if (full) continue;
            closedir(dh);
            nn_free(&ds->alloc, (void *)names);
            return nn_diag_set(diag, NN_ERR_NOMEM, dir, "out of memory listing the folder");
        }
        if (n == cap) {
            uint32_t ncap = cap ? cap * 2 : 64;
            const char **nn = (const char **)nn_alloc(&ds->alloc, (size_t)ncap * sizeof *nn);
            if (!nn) {
                closedir(dh);
                nn_free(&ds->alloc, (void *)names);
                return nn_diag_set(diag, NN_ERR_NOMEM, dir, "out of memory listing the folder");
            }
            if (n) memcpy((void *)nn, names, (size_t)n * sizeof *nn);
            nn_free(&ds->alloc, (void *)names);
            names = nn;
            cap = ncap;
        }
        names[n++] = full + strlen(dir) + 1; /* the name part of the arena copy */
    }
    closedir(dh);
    if (n) qsort((void *)names, n, sizeof *names, nn_calib__cmp_str);
    /* Same stem twice: after sorting by full name, "a.npy" and "a.png" are
       not always adjacent ("a.npy" < "a_1.npy" < "a.png" is impossible since
       '.' < '_', but "a.npy" < "a.npy2"...); compare each with its
       successors while they share the stem prefix. */
    for (i = 0; i + 1 < n; i++) {
        const char *d1 = strrchr(names[i], '.');
        size_t sl = (size_t)(d1 - names[i]);
        uint32_t j;
        for (j = i + 1; j < n && strncmp(names[j], names[i], sl) == 0; j++) {
            const char *d2 = strrchr(names[j], '.');
            if ((size_t)(d2 - names[j]) == sl) {
                nn_status st = nn_diag_set(diag, NN_ERR_INVALID, dir,
                                           "%s and %s have the same stem: keep one, or choose an "
                                           "extension (nn_calib_dataset_desc.extension, --ext)",
                                           names[i], names[j]);
                nn_free(&ds->alloc, (void *)names);
                return st;
            }
        }
    }
    *out_names = names;
    *out_count = n;
    return NN_OK;
}

/* The stem of name (without the extension) in the arena. */
static const char *nn_calib__stem(nn_arena *a, const char *name) {
    const char *dot = strrchr(name, '.');
    return nn_arena_strdup(a, name, dot ? (size_t)(dot - name) : strlen(name));
}

/* An input name as a folder name: [A-Za-z0-9._-] kept, others '_'. */
static void nn_calib__folder_name(const char *name, char *out, size_t cap) {
    size_t i;
    for (i = 0; name[i] && i + 1 < cap; i++) {
        char ch = name[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == '-';
        out[i] = ok ? ch : '_';
    }
    out[i] = 0;
    if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0) out[0] = '_';
}

/* Which sorted indices of n survive a cap of m (see nn_calib_pick). */
static uint32_t nn_calib__pick(uint32_t n, uint32_t m, nn_calib_pick pick, uint32_t i) {
    if (m == 0 || m >= n || pick == NN_CALIB_PICK_FIRST) return i;
    return (uint32_t)((uint64_t)i * n / m);
}

typedef struct nn_calib__entry { const char *stem, *name; } nn_calib__entry;

static int nn_calib__cmp_entry(const void *a, const void *b) {
    return strcmp(((const nn_calib__entry *)a)->stem, ((const nn_calib__entry *)b)->stem);
}

/* The file of `folder` whose stem is `stem` (entries sorted by stem), or NULL. */
static const char *nn_calib__find_stem(const nn_calib__entry *e, uint32_t n, const char *stem) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(e[mid].stem, stem);
        if (c == 0) return e[mid].name;
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

/* Fills stems/paths from one folder per input (folders[i]); the first
   folder's names (sorted) decide the samples and every other folder must
   hold a file with the same stem. */
static nn_status nn_calib__match(nn_calib_dataset *ds, char **folders, nn_diag *diag) {
    const char **names0 = NULL, **other = NULL;
    nn_calib__entry *ent = NULL;
    uint32_t n0 = 0, no = 0, i, k, m;
    nn_status st = nn_calib__list(ds, folders[0], &names0, &n0, diag);
    size_t bytes;
    if (st != NN_OK) return st;
    if (n0 == 0) {
        nn_free(&ds->alloc, (void *)names0);
        return nn_diag_set(diag, NN_ERR_INVALID, folders[0],
                           "no sample files (.png .jpg .bmp .ppm .pgm .tga .npy .npz .bin)%s%s",
                           ds->d.extension ? " with extension " : "", ds->d.extension ? ds->d.extension : "");
    }
    m = ds->d.max_samples && ds->d.max_samples < n0 ? ds->d.max_samples : n0;
    if (!nn_size_mul((size_t)m * ds->inputs, sizeof(char *), &bytes) ||
        !(ds->paths = (const char **)nn_arena_alloc(&ds->arena, bytes)) ||
        !(ds->stems = (const char **)nn_arena_alloc(&ds->arena, (size_t)m * sizeof(char *)))) {
        nn_free(&ds->alloc, (void *)names0);
        return nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_dataset", "out of memory for %u samples", m);
    }
    for (k = 0; k < m; k++) {
        const char *name = names0[nn_calib__pick(n0, m, ds->d.pick, k)];
        ds->stems[k] = nn_calib__stem(&ds->arena, name);
        ds->paths[(size_t)k * ds->inputs] = nn_calib__join(&ds->arena, folders[0], name);
        if (!ds->stems[k] || !ds->paths[(size_t)k * ds->inputs]) st = NN_ERR_NOMEM;
    }
    nn_free(&ds->alloc, (void *)names0);
    if (st != NN_OK) return nn_diag_set(diag, st, "nn_calib_dataset", "out of memory");
    for (i = 1; i < ds->inputs && st == NN_OK; i++) {
        st = nn_calib__list(ds, folders[i], &other, &no, diag);
        if (st != NN_OK) return st;
        ent = (nn_calib__entry *)nn_alloc(&ds->alloc, (size_t)(no ? no : 1) * sizeof *ent);
        if (!ent) st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_dataset", "out of memory");
        for (k = 0; k < no && st == NN_OK; k++) {
            ent[k].name = other[k];
            ent[k].stem = nn_calib__stem(&ds->arena, other[k]);
            if (!ent[k].stem) st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_dataset", "out of memory");
        }
        if (st == NN_OK && no) qsort(ent, no, sizeof *ent, nn_calib__cmp_entry);
        for (k = 0; k < m && st == NN_OK; k++) {
            const char *name = nn_calib__find_stem(ent, no, ds->stems[k]);
            if (!name) {
                st = nn_diag_set(diag, NN_ERR_INVALID, folders[i],
                                 "no file with stem '%s' (present in %s): every input folder needs the same stems",
                                 ds->stems[k], folders[0]);
                break;
            }
            ds->paths[(size_t)k * ds->inputs + i] = nn_calib__join(&ds->arena, folders[i], name);
            if (!ds->paths[(size_t)k * ds->inputs + i])
                st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_dataset", "out of memory");
        }
        nn_free(&ds->alloc, ent);
        nn_free(&ds->alloc, (void *)other);
        ent = NULL;
        other = NULL;
    }
    if (st == NN_OK) ds->count = m;
    return st;
}

NN_API nn_status nn_calib_dataset_open(const nn_calib_dataset_desc *d, const nn_graph *g,
                                       nn_calib_dataset **out, nn_diag *diag) {
    nn_calib_dataset *ds;
    char **folders = NULL;
    nn_status st = NN_OK;
    uint32_t i;
    int have_all = 1, d_path_free = 0;
    NN_ASSERT(d && g && out);
    if (g->input_count == 0) return nn_diag_set(diag, NN_ERR_ARG, "nn_calib_dataset_open", "the graph has no input");
    for (i = 0; d->input_folders && i < g->input_count; i++) {
        if (!d->input_folders[i]) have_all = 0;
        else if (!nn_calib__is_dir(d->input_folders[i]))
            return nn_diag_set(diag, NN_ERR_IO, d->input_folders[i], "not a readable folder (input '%s')",
                               g->tensors[g->inputs[i].id].name);
    }
    if (d->input_folders && have_all && (!d->path || !d->path[0])) d_path_free = 1;
    else if (!d->path || !d->path[0])
        return nn_diag_set(diag, NN_ERR_ARG, "nn_calib_dataset_desc.path", "no folder given");
    have_all = 1;
    if ((int)d->pick < 0 || (int)d->pick > (int)NN_CALIB_PICK_SPREAD)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_calib_dataset_desc.pick", "unknown pick %d", (int)d->pick);
    if (!d_path_free && !nn_calib__is_dir(d->path)) return nn_diag_set(diag, NN_ERR_IO, d->path, "not a readable folder");
    ds = (nn_calib_dataset *)nn_alloc(&d->alloc, sizeof *ds);
    if (!ds) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_dataset", "out of memory");
    memset(ds, 0, sizeof *ds);
    ds->alloc = d->alloc;
    ds->d = *d;
    ds->g = g;
    ds->inputs = g->input_count;
    nn_arena_init(&ds->arena, &ds->alloc);
    ds->d.path = d_path_free ? d->input_folders[0] : d->path;
    ds->d.path = nn_arena_strdup(&ds->arena, ds->d.path, strlen(ds->d.path));
    ds->d.input_folders = NULL; /* copied into folders[] below */
    if (d->extension) ds->d.extension = nn_arena_strdup(&ds->arena, d->extension, strlen(d->extension));
    ds->held = (nn_value *)nn_arena_alloc(&ds->arena, (size_t)ds->inputs * sizeof *ds->held);
    folders = (char **)nn_arena_alloc(&ds->arena, (size_t)ds->inputs * sizeof *folders);
    if (!ds->d.path || (d->extension && !ds->d.extension) || !ds->held || !folders) {
        nn_calib_dataset_destroy(ds);
        return nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_dataset", "out of memory");
    }
    /* One sub-folder per input name when they all exist (or the folders
       d->input_folders names). */
    for (i = 0; i < ds->inputs && st == NN_OK; i++) {
        char fname[256];
        const char *given = d->input_folders ? d->input_folders[i] : NULL;
        nn_calib__folder_name(g->tensors[g->inputs[i].id].name, fname, sizeof fname);
        folders[i] = given ? nn_arena_strdup(&ds->arena, given, strlen(given)) : nn_calib__join(&ds->arena, ds->d.path, fname);
        if (!folders[i]) st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_dataset", "out of memory");
        else if (!nn_calib__is_dir(folders[i])) {
            have_all = 0;
            if (d->input_folders) /* some folders named: every input needs one */
                st = nn_diag_set(diag, NN_ERR_IO, folders[i], "not a readable folder (input '%s')", g->tensors[g->inputs[i].id].name);
        }
    }
    if (st == NN_OK) {
        if (have_all) {
            st = nn_calib__match(ds, folders, diag);
        } else if (ds->inputs == 1) {
            folders[0] = (char *)ds->d.path;
            st = nn_calib__match(ds, folders, diag);
        } else {
            /* Several inputs without sub-folders: one .npz per sample. */
            const char *ext = ds->d.extension;
            if (ext && !nn_calib__has_ext("x.npz", ext)) {
                st = nn_diag_set(diag, NN_ERR_INVALID, ds->d.path,
                                 "the model has %u inputs: give one sub-folder per input or .npz files",
                                 ds->inputs);
            } else {
                uint32_t saved = ds->inputs;
                ds->d.extension = "npz";
                ds->inputs = 1; /* list as one "input", then spread the path */
                folders[0] = (char *)ds->d.path;
                st = nn_calib__match(ds, folders, diag);
                ds->inputs = saved;
                ds->d.extension = ext;
                if (st == NN_OK) {
                    const char **one = ds->paths;
                    size_t bytes;
                    if (!nn_size_mul((size_t)ds->count * saved, sizeof(char *), &bytes) ||
                        !(ds->paths = (const char **)nn_arena_alloc(&ds->arena, bytes))) {
                        st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_dataset", "out of memory");
                    } else {
                        uint32_t k;
                        for (k = 0; k < ds->count; k++)
                            for (i = 0; i < saved; i++) ds->paths[(size_t)k * saved + i] = one[k];
                        ds->npz_all = 1;
                    }
                }
            }
        }
    }
    if (st != NN_OK) { nn_calib_dataset_destroy(ds); return st; }
    *out = ds;
    return NN_OK;
}

NN_API uint32_t nn_calib_dataset_count(const nn_calib_dataset *ds) {
    NN_ASSERT(ds);
    return ds->count;
}

NN_API const char *nn_calib_dataset_name(const nn_calib_dataset *ds, uint32_t index) {
    NN_ASSERT(ds);
    return index < ds->count ? ds->stems[index] : NULL;
}

/* Frees what the last load left in held[] and the npz. */
static void nn_calib__release(nn_calib_dataset *ds) {
    uint32_t i;
    for (i = 0; i < ds->inputs; i++) {
        if (ds->held[i].flags & NN_VALUE_OWNED) nn_free(&ds->alloc, ds->held[i].data);
        memset(&ds->held[i], 0, sizeof ds->held[i]);
    }
    if (ds->npz.count || ds->npz.names) nn_verify_npz_free(&ds->npz);
    memset(&ds->npz, 0, sizeof ds->npz);
}

/* rank, dtype and every static dim of v agree with input i. */
static nn_status nn_calib__fits(const nn_calib_dataset *ds, uint32_t i, const nn_value *v, const char *path,
                                nn_diag *diag) {
    const nn_tensor *t = &ds->g->tensors[ds->g->inputs[i].id];
    char want[96], got[96];
    int k;
    if (t->dtype != NN_DTYPE_UNDEFINED && v->dtype != t->dtype)
        return nn_diag_set(diag, NN_ERR_INVALID, path, "dtype %s, but input '%s' is %s", nn_dtype_name(v->dtype),
                           t->name, nn_dtype_name(t->dtype));
    if (t->shape.rank < 0) return NN_OK;
    if (t->shape.rank == v->shape.rank) {
        for (k = 0; k < t->shape.rank; k++)
            if (t->shape.dims[k] >= 0 && t->shape.dims[k] != v->shape.dims[k]) break;
        if (k == t->shape.rank) return NN_OK;
    }
    return nn_diag_set(diag, NN_ERR_SHAPE, path, "shape %s does not fit input '%s' (%s)",
                       nn_shape_str(&v->shape, got, sizeof got), t->name,
                       nn_shape_str(&t->shape, want, sizeof want));
}

/* Reads a whole small file into an allocation (raw .bin samples). */
static nn_status nn_calib__read_file(const nn_allocator *a, const char *path, size_t want, void **out,
                                     nn_diag *diag) {
    FILE *f = fopen(path, "rb");
    long size;
    void *p;
    if (!f) return nn_diag_set(diag, NN_ERR_IO, path, "cannot open");
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return nn_diag_set(diag, NN_ERR_IO, path, "cannot read");
    }
    if ((unsigned long)size != (unsigned long)want) {
        fclose(f);
        return nn_diag_set(diag, NN_ERR_SHAPE, path, "%ld bytes; the declared dtype and shape need %lu",
                           size, (unsigned long)want);
    }
    p = nn_alloc(a, want ? want : 1);
    if (!p) { fclose(f); return nn_diag_set(diag, NN_ERR_NOMEM, path, "out of memory"); }
    if (want && fread(p, 1, want, f) != want) {
        fclose(f);
        nn_free(a, p);
        return nn_diag_set(diag, NN_ERR_IO, path, "short read");
    }
    fclose(f);
    *out = p;
    return NN_OK;
}

static nn_status nn_calib__load_bin(nn_calib_dataset *ds, uint32_t i, const char *path, nn_value *v,
                                    nn_diag *diag) {
    const nn_tensor *t = &ds->g->tensors[ds->g->inputs[i].id];
    nn_shape shape = t->shape;
    nn_dtype dt = ds->d.raw_dtype ? ds->d.raw_dtype : t->dtype;
    size_t count, bytes;
    uint32_t k;
    int ok = 0;
    void *data = NULL;
    nn_status st;
    for (k = 0; k < ds->d.raw_shape_count; k++)
        if (ds->d.raw_shapes[k].name && strcmp(ds->d.raw_shapes[k].name, t->name) == 0) shape = ds->d.raw_shapes[k].shape;
    if (!nn_shape_is_static(&shape))
        return nn_diag_set(diag, NN_ERR_ARG, path, "raw .bin: input '%s' has no static shape; declare it "
                           "(nn_calib_dataset_desc.raw_shapes, --shape)", t->name);
    count = nn_shape_count(&shape, &ok);
    if (!ok || dt == NN_DTYPE_UNDEFINED || !nn_dtype_bytes_for(dt, count, &bytes))
        return nn_diag_set(diag, NN_ERR_ARG, path, "raw .bin: no usable dtype/shape for input '%s'", t->name);
    st = nn_calib__read_file(&ds->alloc, path, bytes, &data, diag);
    if (st != NN_OK) return st;
    *v = nn_value_make(dt, shape, data);
    v->bytes = bytes;
    v->flags = NN_VALUE_OWNED;
    return NN_OK;
}

#ifndef NN_CALIB_NO_STB
/* Bilinear resize with half-pixel centres (cv2.resize INTER_LINEAR,
   align_corners = false) of an 8-bit image src (sh, sw, ch) to an (rh, rw)
   image of which the window at (oy, ox) of size (oh, ow) is written to dst
   (oh, ow, ch) in pixel units.  Source coordinate of output x:
   (x + 0.5) * sw / rw - 0.5, clamped to [0, sw - 1]; the right neighbour is
   clamped too.  The same arithmetic as examples/ocr_read.c (double). */
static void nn_calib__resize(const unsigned char *src, int sw, int sh, int ch, int rw, int rh,
                             int ox, int oy, int ow, int oh, int round_u8, float *dst /* (oh, ow, ch) */) {
    double sx = (double)sw / rw, sy = (double)sh / rh;
    int x, y, c;
    for (y = 0; y < oh; y++) {
        double fy = (y + oy + 0.5) * sy - 0.5, wy;
        int y0, y1;
        if (fy < 0) fy = 0;
        if (fy > sh - 1) fy = sh - 1;
        y0 = (int)fy;
        y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
        wy = fy - y0;
        for (x = 0; x < ow; x++) {
            double fx = (x + ox + 0.5) * sx - 0.5, wx;
            int x0, x1;
            if (fx < 0) fx = 0;
            if (fx > sw - 1) fx = sw - 1;
            x0 = (int)fx;
            x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
            wx = fx - x0;
            for (c = 0; c < ch; c++) {
                const unsigned char *r0 = src + (size_t)y0 * sw * ch, *r1 = src + (size_t)y1 * sw * ch;
                double v = (1 - wy) * ((1 - wx) * r0[x0 * ch + c] + wx * r0[x1 * ch + c]) +
                           wy * ((1 - wx) * r1[x0 * ch + c] + wx * r1[x1 * ch + c]);
                if (round_u8) v = floor(v + 0.5);
                dst[((size_t)y * ow + x) * ch + c] = (float)v;
            }
        }
    }
}

/* Python's round() of a half-integer d/2 (banker's rounding), as
   torchvision's CenterCrop uses for the offset. */
static int nn_calib__half_even(int d) {
    int f = d / 2;
    return (d % 2 == 0 || f % 2 == 0) ? f : f + 1;
}

/* A binary PNM (P5 gray, P6 RGB) shorter than its header promises: stb_image
   2.27 reads what is there and leaves the rest of its buffer unset, so the
   check is ours.  Returns 1 when the file is such a PNM and is short
   (*have, *need: data bytes present and promised); -1 when a header
   number is above 2^24 (stb_image 2.27 would overflow an int reading it);
   0 otherwise (other formats, a header stb_image rejects itself, or a
   whole file). */
static int nn_calib__pnm_short(FILE *f, long *have, unsigned long long *need) {
    unsigned long long v[3] = {0, 0, 0};
    long start, end;
    int ch, k, channels;
    if (fgetc(f) != 'P') return 0;
    ch = fgetc(f);
    if (ch != '5' && ch != '6') return 0;
    channels = ch == '6' ? 3 : 1;
    for (k = 0; k < 3; k++) { /* width, height, maxval; '#' comments between */
        ch = fgetc(f);
        for (;;) {
            while (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f') ch = fgetc(f);
            if (ch != '#') break;
            while (ch != EOF && ch != '\n' && ch != '\r') ch = fgetc(f);
        }
        if (ch < '0' || ch > '9') return 0;
        while (ch >= '0' && ch <= '9') {
            v[k] = v[k] * 10 + (unsigned)(ch - '0');
            if (v[k] > 0xFFFFFFu) return -1;
            ch = fgetc(f);
        }
    }
    if (ch == EOF) { *have = 0; *need = v[0] * v[1] * (unsigned)channels * (v[2] > 255 ? 2u : 1u); return *need > 0; }
    start = ftell(f); /* one whitespace byte after maxval has been read */
    if (start < 0 || fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0) return 0;
    *have = end - start;
    *need = v[0] * v[1] * (unsigned)channels * (v[2] > 255 ? 2u : 1u);
    return (unsigned long long)*have < *need;
}

/* The format the file's first bytes announce, as a file extension ("png",
   "jpg", "bmp", "pnm"); NULL when none of those (TGA has no signature). */
static const char *nn_calib__sniff(FILE *f) {
    unsigned char b[8];
    size_t n = fread(b, 1, sizeof b, f);
    rewind(f);
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return "png";
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "jpg";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "bmp";
    if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6') return "pnm";
    return NULL;
}

/* Walks a JPEG's segments and checks each Huffman table (DHT) before
   stb_image sees it: the 16 code-length counts of a table may hold at most
   256 symbols (ITU T.81, B.2.4.2), and stb_image 2.27 writes past its
   table arrays when they hold more (found by tests/fuzz/fuzz_image.c).
   Returns 0 and fills why when the file is corrupt in that way. */
static int nn_calib__jpeg_ok(FILE *f, char *why, size_t cap) {
    int c, m;
    long len, k;
    rewind(f);
    if (fgetc(f) != 0xFF || fgetc(f) != 0xD8) { rewind(f); return 1; }
    for (;;) {
        c = fgetc(f);
        if (c == EOF) break;
        if (c != 0xFF) continue; /* entropy-coded data between scans */
        do m = fgetc(f); while (m == 0xFF);
        if (m == EOF || m == 0xD9) break;
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue; /* stuffed byte, TEM, RSTn */
        c = fgetc(f);
        len = fgetc(f);
        if (c == EOF || len == EOF) break;
        len |= (long)c << 8;
        if (len < 2) { snprintf(why, cap, "JPEG segment 0x%02X with length %ld", m, len); rewind(f); return 0; }
        if (m != 0xC4) {
            if (fseek(f, len - 2, SEEK_CUR) != 0) break;
            continue;
        }
        for (k = 2; k < len;) { /* one DHT segment may hold several tables */
            int i, total = 0;
            if (fgetc(f) == EOF) break; /* table class and id */
            for (i = 0; i < 16; i++) {
                c = fgetc(f);
                if (c == EOF) break;
                total += c;
            }
            if (total > 256) {
                snprintf(why, cap, "JPEG Huffman table with %d codes (at most 256)", total);
                rewind(f);
                return 0;
            }
            k += 17 + total;
            if (fseek(f, total, SEEK_CUR) != 0) break;
        }
    }
    rewind(f);
    return 1;
}

/* Decodes path into w x h pixels of C channels (8-bit, interleaved), in
   memory from ds->alloc.  stb_image decodes in the file's own channel
   count and the conversion to C is done here, with stb_image's formulas
   (luma (77 R + 150 G + 29 B) >> 8, alpha dropped, 255 added): stb_image
   2.27 converts a 16-bit PNM's channels as if it were 8-bit and then reads
   past its buffer (found by tests/fuzz/fuzz_image.c). */
static nn_status nn_calib__decode(nn_calib_dataset *ds, const char *path, int C, int *w, int *h,
                                  unsigned char **pixels, nn_diag *diag) {
    unsigned char *px, *out;
    size_t count, i;
    long have = 0;
    unsigned long long need = 0;
    int n;
    FILE *f = fopen(path, "rb");
    if (!f) return nn_diag_set(diag, NN_ERR_IO, path, "cannot open: %s", strerror(errno));
    switch (nn_calib__pnm_short(f, &have, &need)) {
    case 1:
        fclose(f);
        return nn_diag_set(diag, NN_ERR_PARSE, path, "truncated PNM image: %ld of %llu pixel bytes", have, need);
    case -1:
        fclose(f);
        return nn_diag_set(diag, NN_ERR_PARSE, path, "PNM header: a width, height or maxval above 2^24");
    default: break;
    }
    rewind(f);
    {   /* the bytes must be the format the name says (stb_image would decode
           GIF, PSD, HDR, ... behind any name), the size is checked from the
           header before decoding, and JPEG Huffman tables before stb_image */
        const char *dot = strrchr(path, '.'), *got = nn_calib__sniff(f);
        char want[8] = "", why[96];
        int iw = 0, ih = 0, in = 0;
        if (!nn_calib__ext(path, want)) want[0] = 0; /* (listing admitted only image extensions) */
        if (!strcmp(want, "jpeg")) strcpy(want, "jpg");
        if (!strcmp(want, "ppm") || !strcmp(want, "pgm")) strcpy(want, "pnm");
        if (strcmp(want, "tga") ? !got || strcmp(got, want) : got != NULL) {
            fclose(f);
            return nn_diag_set(diag, NN_ERR_PARSE, path, "the file is named .%s but its bytes are %s%s", dot ? dot + 1 : "",
                               got ? "a " : "not a known image format", got ? got : "");
        }
        if (got && !strcmp(got, "jpg") && !nn_calib__jpeg_ok(f, why, sizeof why)) {
            fclose(f);
            return nn_diag_set(diag, NN_ERR_PARSE, path, "corrupt image: %s", why);
        }
        if (!stbi_info_from_file(f, &iw, &ih, &in)) {
            fclose(f);
            return nn_diag_set(diag, NN_ERR_PARSE, path, "not a readable image: %s", stbi_failure_reason());
        }
        rewind(f);
        if (iw < 1 || ih < 1 || iw > NN_MAX_CALIB_IMAGE_SIDE || ih > NN_MAX_CALIB_IMAGE_SIDE ||
            (unsigned long long)iw * (unsigned long long)ih > NN_MAX_CALIB_IMAGE_PIXELS) {
            fclose(f);
            return nn_diag_set(diag, NN_ERR_LIMIT, path, "%dx%d image: above NN_MAX_CALIB_IMAGE_SIDE (%d) or "
                               "NN_MAX_CALIB_IMAGE_PIXELS (%u)", iw, ih, NN_MAX_CALIB_IMAGE_SIDE,
                               (unsigned)NN_MAX_CALIB_IMAGE_PIXELS);
        }
    }
    px = stbi_load_from_file(f, w, h, &n, 0);
    fclose(f);
    if (!px) return nn_diag_set(diag, NN_ERR_PARSE, path, "not a readable image: %s", stbi_failure_reason());
    if (*w < 1 || *h < 1 || *w > NN_MAX_CALIB_IMAGE_SIDE || *h > NN_MAX_CALIB_IMAGE_SIDE || n < 1 || n > 4) {
        stbi_image_free(px);
        return nn_diag_set(diag, NN_ERR_LIMIT, path, "%dx%d image with %d channels: a side is above "
                           "NN_MAX_CALIB_IMAGE_SIDE", *w, *h, n);
    }
    count = (size_t)*w * (size_t)*h; /* each side <= 2^16: no overflow in 64-bit */
    out = (unsigned char *)nn_alloc(&ds->alloc, count * (size_t)C);
    if (!out) {
        stbi_image_free(px);
        return nn_diag_set(diag, NN_ERR_NOMEM, path, "out of memory for a %dx%d image", *w, *h);
    }
    for (i = 0; i < count; i++) {
        const unsigned char *s = px + i * (size_t)n;
        unsigned char *o = out + i * (size_t)C, r = s[0], g = n >= 3 ? s[1] : s[0], b = n >= 3 ? s[2] : s[0];
        unsigned char a = n == 2 ? s[1] : n == 4 ? s[3] : 255;
        if (C == 1) o[0] = n >= 3 ? (unsigned char)((r * 77 + g * 150 + b * 29) >> 8) : r;
        else {
            o[0] = r; o[1] = g; o[2] = b;
            if (C == 4) o[3] = a;
        }
    }
    stbi_image_free(px);
    *pixels = out;
    return NN_OK;
}

/* Decodes path with stb_image and preprocesses it into input i. */
static nn_status nn_calib__load_image(nn_calib_dataset *ds, uint32_t i, const char *path, nn_value *v,
                                      nn_diag *diag) {
    const nn_tensor *t = &ds->g->tensors[ds->g->inputs[i].id];
    const nn_calib_image_desc *im = &ds->d.image;
    nn_calib_layout layout = im->layout;
    nn_calib_resize mode = im->resize;
    nn_dtype dt = im->dtype ? im->dtype : (t->dtype ? t->dtype : NN_DTYPE_FLOAT);
    int rank = t->shape.rank == 3 ? 3 : 4, cdim, hdim, wdim, C, w, h, rw, rh, ox = 0, oy = 0, H, W, c, x, y;
    int64_t dims[4];
    unsigned char *px;
    float *tmp, scale[4];
    size_t count, bytes, tmp_bytes;
    void *data;
    if (dt != NN_DTYPE_FLOAT && dt != NN_DTYPE_UINT8)
        return nn_diag_set(diag, NN_ERR_INVALID, path, "images become float32 or uint8, not %s (input '%s')",
                           nn_dtype_name(dt), t->name);
    if (t->shape.rank >= 0 && t->shape.rank != 3 && t->shape.rank != 4)
        return nn_diag_set(diag, NN_ERR_SHAPE, path, "input '%s' has rank %d; images fill rank 3 or 4",
                           t->name, (int)t->shape.rank);
    if (layout == NN_CALIB_LAYOUT_DEFAULT) {
        int64_t d1 = t->shape.rank == rank ? t->shape.dims[rank - 3] : -1;
        int64_t dl = t->shape.rank == rank ? t->shape.dims[rank - 1] : -1;
        layout = (dl == 3 && d1 != 3) || (dl == 1 && d1 > 4) ? NN_CALIB_LAYOUT_NHWC : NN_CALIB_LAYOUT_NCHW;
    }
    cdim = layout == NN_CALIB_LAYOUT_NCHW ? rank - 3 : rank - 1;
    hdim = layout == NN_CALIB_LAYOUT_NCHW ? rank - 2 : rank - 3;
    wdim = hdim + 1;
    C = t->shape.rank == rank && t->shape.dims[cdim] > 0 ? (int)t->shape.dims[cdim] : 3;
    if (C != 1 && C != 3 && C != 4)
        return nn_diag_set(diag, NN_ERR_SHAPE, path, "input '%s' has %d channels; images give 1, 3 or 4",
                           t->name, C);
    H = im->height ? (int)im->height : (t->shape.rank == rank && t->shape.dims[hdim] > 0 ? (int)t->shape.dims[hdim] : 0);
    W = im->width ? (int)im->width : (t->shape.rank == rank && t->shape.dims[wdim] > 0 ? (int)t->shape.dims[wdim] : 0);
    if (H > NN_MAX_CALIB_IMAGE_SIDE || W > NN_MAX_CALIB_IMAGE_SIDE)
        return nn_diag_set(diag, NN_ERR_LIMIT, path, "target size above NN_MAX_CALIB_IMAGE_SIDE");
    if (mode == NN_CALIB_RESIZE_DEFAULT) mode = (H && W) ? NN_CALIB_RESIZE_STRETCH : NN_CALIB_RESIZE_NONE;
    if (mode != NN_CALIB_RESIZE_NONE && (!H || (!W && !(mode == NN_CALIB_RESIZE_HEIGHT_PAD && im->grow_width))))
        return nn_diag_set(diag, NN_ERR_ARG, path, "input '%s' has no static height/width: give the size "
                           "(nn_calib_image_desc.height/width, --preprocess size=HxW)", t->name);
    {
        nn_status st = nn_calib__decode(ds, path, C, &w, &h, &px, diag);
        if (st != NN_OK) return st;
    }
    /* Resized size (rh, rw), window offset (oy, ox), output size (H, W). */
    switch (mode) {
    case NN_CALIB_RESIZE_NONE: rh = H = h; rw = W = w; break;
    case NN_CALIB_RESIZE_SHORT_CROP: {
        int s = im->resize_short ? (int)im->resize_short : (H > W ? H : W) * 256 / 224;
        if (w <= h) { rw = s; rh = (int)((double)s * h / w); } /* int(): PIL-style truncation */
        else { rh = s; rw = (int)((double)s * w / h); }
        if (rh < H || rw < W) {
            nn_free(&ds->alloc, px);
            return nn_diag_set(diag, NN_ERR_ARG, path, "resize_short %d is smaller than the crop %dx%d", s, H, W);
        }
        oy = nn_calib__half_even(rh - H);
        ox = nn_calib__half_even(rw - W);
        break;
    }
    case NN_CALIB_RESIZE_FIT_PAD: {
        double s = (double)H / h < (double)W / w ? (double)H / h : (double)W / w;
        rh = (int)floor(h * s + 0.5); rw = (int)floor(w * s + 0.5);
        if (rh < 1) rh = 1;
        if (rh > H) rh = H;
        if (rw < 1) rw = 1;
        if (rw > W) rw = W;
        break;
    }
    case NN_CALIB_RESIZE_HEIGHT_PAD:
        rh = H;
        rw = (int)ceil((double)H * w / h); /* PaddleOCR resize_norm_img, ocr_read */
        if (rw < 1) rw = 1;
        if (im->grow_width) { if (rw > W) W = rw; }
        else if (rw > W) rw = W;
        break;
    default: rh = H; rw = W; break; /* STRETCH */
    }
    if (W > NN_MAX_CALIB_IMAGE_SIDE) {
        nn_free(&ds->alloc, px);
        return nn_diag_set(diag, NN_ERR_LIMIT, path, "resized width %d is above NN_MAX_CALIB_IMAGE_SIDE", W);
    }
    {   /* the drawn area: the whole window, or the resized image inside the pad */
        int dh = rh < H ? rh : H, dw = rw < W ? rw : W;
        count = (size_t)H * (size_t)W * (size_t)C; /* each side <= 2^16, C <= 4: no overflow in 64-bit */
        tmp_bytes = (size_t)dh * (size_t)dw * (size_t)C * sizeof(float);
        if (!nn_dtype_bytes_for(dt, count, &bytes) ||
            !(data = nn_alloc(&ds->alloc, bytes ? bytes : 1))) {
            nn_free(&ds->alloc, px);
            return nn_diag_set(diag, NN_ERR_NOMEM, path, "out of memory for a %dx%d image", H, W);
        }
        tmp = (float *)nn_alloc(&ds->alloc, tmp_bytes ? tmp_bytes : 1);
        if (!tmp) {
            nn_free(&ds->alloc, px);
            nn_free(&ds->alloc, data);
            return nn_diag_set(diag, NN_ERR_NOMEM, path, "out of memory for a %dx%d image", H, W);
        }
        if (mode == NN_CALIB_RESIZE_NONE) {
            for (y = 0; y < dh * dw * C; y++) tmp[y] = px[y];
        } else {
            nn_calib__resize(px, w, h, C, rw, rh, ox, oy, dw, dh, im->round_u8, tmp);
        }
        nn_free(&ds->alloc, px);
        for (c = 0; c < 4; c++) scale[c] = im->scale[c];
        if (scale[0] == 0 && scale[1] == 0 && scale[2] == 0 && scale[3] == 0) scale[0] = scale[1] = scale[2] = scale[3] = 1;
        for (c = 0; c < C; c++) {
            int src_c = (im->bgr && C >= 3 && c < 3) ? 2 - c : c; /* BGR: channel c is RGB's 2-c */
            for (y = 0; y < H; y++) {
                for (x = 0; x < W; x++) {
                    size_t o = layout == NN_CALIB_LAYOUT_NCHW ? ((size_t)c * H + y) * W + x
                                                              : ((size_t)y * W + x) * C + c;
                    float val = (y < dh && x < dw)
                                    ? (tmp[((size_t)y * dw + x) * C + src_c] - im->mean[c]) * scale[c]
                                    : im->pad_value;
                    if (dt == NN_DTYPE_FLOAT) ((float *)data)[o] = val;
                    else ((unsigned char *)data)[o] = (unsigned char)(val <= 0 ? 0 : val >= 255 ? 255 : floor(val + 0.5));
                }
            }
        }
        nn_free(&ds->alloc, tmp);
    }
    if (rank == 4) dims[0] = 1;
    dims[cdim] = C;
    dims[hdim] = H;
    dims[wdim] = W;
    *v = nn_value_make(dt, nn_shape_make(rank, dims), data);
    v->bytes = bytes;
    v->flags = NN_VALUE_OWNED;
    return NN_OK;
}
#endif

NN_API nn_status nn_calib_dataset_load(nn_calib_dataset *ds, uint32_t index, nn_value *inputs, nn_diag *diag) {
    uint32_t i;
    nn_status st = NN_OK;
    NN_ASSERT(ds && inputs);
    if (index >= ds->count)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_calib_dataset_load", "sample %u of %u", index, ds->count);
    nn_calib__release(ds);
    for (i = 0; i < ds->inputs && st == NN_OK; i++) {
        const char *path = ds->paths[(size_t)index * ds->inputs + i];
        nn_value *v = &ds->held[i];
        switch (nn_calib__kind_of(path)) {
        case NN_CALIB__IMAGE:
#ifndef NN_CALIB_NO_STB
            st = nn_calib__load_image(ds, i, path, v, diag);
#else
            st = nn_diag_set(diag, NN_ERR_UNSUPPORTED, path, "images need stb_image (built with NN_CALIB_NO_STB)");
#endif
            break;
        case NN_CALIB__NPY:
            st = nn_verify_load_npy_file(path, v, &ds->alloc, diag);
            if (st == NN_OK) v->flags |= NN_VALUE_OWNED;
            break;
        case NN_CALIB__NPZ: {
            const nn_tensor *t = &ds->g->tensors[ds->g->inputs[i].id];
            const nn_value *a;
            if (!ds->npz.names && (st = nn_verify_load_npz_file(path, &ds->npz, &ds->alloc, diag)) != NN_OK) break;
            a = nn_verify_npz_find(&ds->npz, t->name);
            if (!a && ds->inputs == 1 && ds->npz.count == 1) a = &ds->npz.values[0];
            if (!a) { st = nn_diag_set(diag, NN_ERR_INVALID, path, "no array named '%s' (an input of the model)", t->name); break; }
            *v = *a;
            v->flags &= ~NN_VALUE_OWNED; /* the npz owns it */
            break;
        }
        case NN_CALIB__BIN: st = nn_calib__load_bin(ds, i, path, v, diag); break;
        default: st = nn_diag_set(diag, NN_ERR_INVALID, path, "not a sample file"); break;
        }
        if (st == NN_OK) st = nn_calib__fits(ds, i, v, path, diag);
    }
    if (st != NN_OK) { nn_calib__release(ds); return st; }
    for (i = 0; i < ds->inputs; i++) inputs[i] = ds->held[i];
    return NN_OK;
}

NN_API void nn_calib_dataset_destroy(nn_calib_dataset *ds) {
    nn_allocator a;
    if (!ds) return;
    a = ds->alloc;
    if (ds->held) nn_calib__release(ds);
    nn_arena_deinit(&ds->arena);
    nn_free(&a, ds);
}


/* ---- calibration tables ---------------------------------------------------- */

NN_API void nn_calib_table_init(nn_calib_table *t, const nn_allocator *alloc) {
    NN_ASSERT(t);
    memset(t, 0, sizeof *t);
    if (alloc) t->alloc = *alloc;
    nn_arena_init(&t->arena, &t->alloc);
}

NN_API void nn_calib_table_deinit(nn_calib_table *t) {
    if (!t) return;
    nn_free(&t->alloc, t->index[0]);
    nn_free(&t->alloc, t->index[1]);
    nn_free(&t->alloc, t->entries);
    nn_free(&t->alloc, t->int4_entries);
    nn_arena_deinit(&t->arena);
    memset(t, 0, sizeof *t);
}

static uint32_t nn_calib__name_hash(const char *s) {
    uint32_t h = 2166136261u; /* FNV-1a */
    while (*s) { h ^= (unsigned char)*s++; h *= 16777619u; }
    return h;
}

/* Inserts section k's entries into ix (cap slots, a power of two > 2 *
   count): open addressing, linear probing, slot = entry + 1. */
static void nn_calib__fill_index(const nn_calib_table *t, int k, uint32_t *ix, uint32_t cap) {
    const nn_calib_table_entry *e = k ? t->int4_entries : t->entries;
    uint32_t n = k ? t->int4_count : t->count, i;
    memset(ix, 0, (size_t)cap * sizeof *ix);
    for (i = 0; i < n; i++) {
        uint32_t h = nn_calib__name_hash(e[i].name) & (cap - 1);
        while (ix[h]) h = (h + 1) & (cap - 1);
        ix[h] = i + 1;
    }
}

/* Rebuilds section k's index at a new capacity. */
static int nn_calib__reindex(nn_calib_table *t, int k, uint32_t cap) {
    uint32_t *ix = (uint32_t *)nn_alloc(&t->alloc, (size_t)cap * sizeof *ix);
    if (!ix) return 0;
    nn_calib__fill_index(t, k, ix, cap);
    nn_free(&t->alloc, t->index[k]);
    t->index[k] = ix;
    t->index_cap[k] = cap;
    return 1;
}

NN_API const nn_calib_table_entry *nn_calib_table_find(const nn_calib_table *t, int int4, const char *name) {
    const nn_calib_table_entry *e;
    uint32_t h, k = int4 ? 1 : 0, cap;
    NN_ASSERT(t && name);
    e = k ? t->int4_entries : t->entries;
    cap = t->index_cap[k];
    if (!cap) return NULL;
    for (h = nn_calib__name_hash(name) & (cap - 1); t->index[k][h]; h = (h + 1) & (cap - 1))
        if (strcmp(e[t->index[k][h] - 1].name, name) == 0) return &e[t->index[k][h] - 1];
    return NULL;
}

NN_API nn_status nn_calib_table_add(nn_calib_table *t, int int4, const char *name, double threshold,
                                    double min, double max, nn_diag *diag) {
    nn_calib_table_entry **arr, *e;
    uint32_t *count, *cap;
    size_t i, len;
    NN_ASSERT(t && name);
    len = strlen(name);
    if (len == 0 || len > NN_MAX_CALIB_NAME_BYTES)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_calib_table_add", "a tensor name must have 1..%u bytes",
                           (unsigned)NN_MAX_CALIB_NAME_BYTES);
    for (i = 0; i < len; i++)
        if ((unsigned char)name[i] <= ' ' || name[i] == 127)
            return nn_diag_set(diag, NN_ERR_ARG, name, "a name in a calibration table cannot hold blanks or "
                               "control characters");
    if (name[0] == '#') /* it would read back as a comment */
        return nn_diag_set(diag, NN_ERR_ARG, name, "a name in a calibration table cannot start with '#'");
    if (!isfinite(threshold) || !isfinite(min) || !isfinite(max))
        return nn_diag_set(diag, NN_ERR_ARG, name, "threshold, min and max must be finite numbers");
    if (threshold < 0) return nn_diag_set(diag, NN_ERR_ARG, name, "negative threshold %g", threshold);
    if (min > max) return nn_diag_set(diag, NN_ERR_ARG, name, "min %g is above max %g", min, max);
    if (nn_calib_table_find(t, int4, name))
        return nn_diag_set(diag, NN_ERR_ARG, name, "'%s' is already in the %s section", name, int4 ? "int4" : "int8");
    arr = int4 ? &t->int4_entries : &t->entries;
    count = int4 ? &t->int4_count : &t->count;
    cap = int4 ? &t->int4_cap : &t->cap;
    if (*count >= NN_MAX_CALIB_TABLE_ENTRIES)
        return nn_diag_set(diag, NN_ERR_LIMIT, name, "more than NN_MAX_CALIB_TABLE_ENTRIES (%u) lines",
                           (unsigned)NN_MAX_CALIB_TABLE_ENTRIES);
    if (*count == *cap) {
        uint32_t ncap = *cap ? *cap * 2 : 64;
        nn_calib_table_entry *na = (nn_calib_table_entry *)nn_alloc(&t->alloc, (size_t)ncap * sizeof *na);
        if (!na) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_table", "out of memory");
        if (*count) memcpy(na, *arr, (size_t)*count * sizeof *na);
        nn_free(&t->alloc, *arr);
        *arr = na;
        *cap = ncap;
    }
    e = &(*arr)[*count];
    e->name = nn_arena_strdup(&t->arena, name, len);
    if (!e->name) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_table", "out of memory");
    e->threshold = threshold;
    e->min = min;
    e->max = max;
    (*count)++;
    {   /* keep the index at most half full */
        int k = int4 ? 1 : 0;
        uint32_t icap = t->index_cap[k], h;
        if ((uint64_t)*count * 2 >= icap) {
            if (!nn_calib__reindex(t, k, icap ? icap * 2 : 128)) {
                (*count)--;
                return nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_table", "out of memory");
            }
        } else {
            for (h = nn_calib__name_hash(name) & (icap - 1); t->index[k][h]; h = (h + 1) & (icap - 1)) {}
            t->index[k][h] = *count;
        }
    }
    return NN_OK;
}

/* A number field: strtod over a NUL-terminated copy, all of it consumed.
   Refuses "nan"/"inf" spellings by finiteness later. */
static int nn_calib__number(const char *s, size_t n, double *out) {
    char buf[64];
    char *end;
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    *out = strtod(buf, &end);
    return *end == 0;
}

/* "# histogram number: 2048" -> 2048 into *out when the line says key. */
static void nn_calib__header_figure(const char *line, size_t n, const char *key, uint32_t *out) {
    size_t kl = strlen(key), i;
    unsigned long v = 0;
    if (n < kl || memcmp(line, key, kl) != 0) return;
    for (i = kl; i < n && line[i] == ' '; i++) {}
    if (i == n) return;
    for (; i < n && line[i] >= '0' && line[i] <= '9' && v < 0xFFFFFFFFul / 10; i++) v = v * 10 + (unsigned long)(line[i] - '0');
    if (i == n) *out = (uint32_t)v;
}

static nn_status nn_calib__parse_table(nn_calib_table *t, const char *text, size_t bytes, const char *label,
                                       nn_diag *diag) {
    size_t pos = 0;
    uint32_t lineno = 0;
    int int4 = 0;
    char where[160];
    NN_ASSERT(t && (text || bytes == 0));
    if (!label) label = "<table>";
    while (pos < bytes) {
        const char *line = text + pos, *f[5];
        size_t n = 0, fl[5], i;
        uint32_t nf = 0;
        double v[3];
        nn_status st;
        while (pos + n < bytes && line[n] != '\n') n++;
        pos += n + (pos + n < bytes);
        lineno++;
        snprintf(where, sizeof where, "%.120s:%u", label, (unsigned)lineno);
        if (n && line[n - 1] == '\r') n--;
        if (n > NN_MAX_CALIB_NAME_BYTES + 256)
            return nn_diag_set(diag, NN_ERR_LIMIT, where, "line of %lu bytes is too long", (unsigned long)n);
        for (i = 0; i < n; i++)
            if (line[i] == 0) return nn_diag_set(diag, NN_ERR_PARSE, where, "NUL byte: not a text table");
        while (n && (line[0] == ' ' || line[0] == '\t')) { line++; n--; }
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
        if (n == 0) continue;
        if (line[0] == '#') {
            static const char *const refused[] = {"#weight_scale", "#tpu-mlir-fp8", "mqbench-fp8", "asym_op", "int4_op"};
            if (n >= 8 && memcmp(line, "#int4_th", 8) == 0) { int4 = 1; continue; }
            for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
                size_t rl = strlen(refused[i]), k;
                for (k = 0; k + rl <= n; k++)
                    if (memcmp(line + k, refused[i], rl) == 0)
                        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, where,
                                           "section '%s' is not read by nnport (int8 and #int4_th only)", refused[i]);
            }
            nn_calib__header_figure(line, n, "# histogram number:", &t->bins);
            nn_calib__header_figure(line, n, "# sample number:", &t->samples);
            continue;
        }
        i = 0;
        while (i < n && nf < 5) {
            size_t s;
            while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
            s = i;
            while (i < n && line[i] != ' ' && line[i] != '\t') i++;
            if (i > s) { f[nf] = line + s; fl[nf] = i - s; nf++; }
        }
        if (nf != 4)
            return nn_diag_set(diag, NN_ERR_PARSE, where, "want 'op_name threshold min max', found %s%u field%s",
                               nf == 5 ? "more than " : "", nf == 5 ? 4u : (unsigned)nf, nf == 1 ? "" : "s");
        for (i = 0; i < 3; i++)
            if (!nn_calib__number(f[i + 1], fl[i + 1], &v[i]))
                return nn_diag_set(diag, NN_ERR_PARSE, where, "field %u ('%.*s') is not a number", (unsigned)(i + 2),
                                   (int)(fl[i + 1] < 40 ? fl[i + 1] : 40), f[i + 1]);
        if (fl[0] > NN_MAX_CALIB_NAME_BYTES)
            return nn_diag_set(diag, NN_ERR_LIMIT, where, "name longer than NN_MAX_CALIB_NAME_BYTES");
        {
            char *name = nn_arena_strdup(&t->arena, f[0], fl[0]);
            nn_diag d2;
            if (!name) return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory");
            memset(&d2, 0, sizeof d2);
            st = nn_calib_table_add(t, int4, name, v[0], v[1], v[2], &d2);
            if (st != NN_OK) return nn_diag_set(diag, st, where, "%s", d2.message);
        }
    }
    return NN_OK;
}

NN_API nn_status nn_calib_table_load(nn_calib_table *t, const char *text, size_t bytes, const char *label,
                                     nn_diag *diag) {
    /* On failure the lines parsed so far are dropped again (their names
       stay in the arena until deinit), so t is as before the call. */
    uint32_t count = t->count, int4_count = t->int4_count, bins = t->bins, samples = t->samples;
    nn_status st = nn_calib__parse_table(t, text, bytes, label, diag);
    if (st != NN_OK) {
        int k;
        t->count = count;
        t->int4_count = int4_count;
        t->bins = bins;
        t->samples = samples;
        /* drop the parsed names from the indexes, in place (no allocation) */
        for (k = 0; k < 2; k++)
            if (t->index_cap[k]) nn_calib__fill_index(t, k, t->index[k], t->index_cap[k]);
    }
    return st;
}

NN_API nn_status nn_calib_table_load_file(nn_calib_table *t, const char *path, nn_diag *diag) {
    FILE *f;
    long size;
    char *buf;
    nn_status st;
    const char *base;
    NN_ASSERT(t && path);
    f = fopen(path, "rb");
    if (!f) return nn_diag_set(diag, NN_ERR_IO, path, "cannot open");
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return nn_diag_set(diag, NN_ERR_IO, path, "cannot read");
    }
    if ((unsigned long)size > (unsigned long)NN_MAX_CALIB_TABLE_BYTES) {
        fclose(f);
        return nn_diag_set(diag, NN_ERR_LIMIT, path, "%ld bytes is above NN_MAX_CALIB_TABLE_BYTES", size);
    }
    buf = (char *)nn_alloc(&t->alloc, (size_t)size + 1);
    if (!buf) { fclose(f); return nn_diag_set(diag, NN_ERR_NOMEM, path, "out of memory"); }
    if (size && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        nn_free(&t->alloc, buf);
        return nn_diag_set(diag, NN_ERR_IO, path, "short read");
    }
    fclose(f);
    base = strrchr(path, '/');
    st = nn_calib_table_load(t, buf, (size_t)size, base ? base + 1 : path, diag);
    nn_free(&t->alloc, buf);
    return st;
}

static nn_status nn_calib__emit(nn_verify_write_fn write, void *user, const char *text, nn_diag *diag) {
    if (write(user, text, strlen(text)) != 0) return nn_diag_set(diag, NN_ERR_IO, "nn_calib_table_save", "write failed");
    return NN_OK;
}

/* The shortest of %.9g .. %.17g that reads back as v exactly (at most 24
   bytes with the NUL: "-1.2345678901234567e-308"). */
static void nn_calib__num(char out[32], double v) {
    int p;
    for (p = 9; p < 17; p++) {
        snprintf(out, 32, "%.*g", p, v);
        if (strtod(out, NULL) == v) return;
    }
    snprintf(out, 32, "%.17g", v);
}

static nn_status nn_calib__emit_entries(const nn_calib_table_entry *e, uint32_t n, nn_verify_write_fn write,
                                        void *user, nn_diag *diag) {
    uint32_t i;
    for (i = 0; i < n; i++) {
        /* name <= NN_MAX_CALIB_NAME_BYTES, numbers <= 3 * 24 */
        char line[NN_MAX_CALIB_NAME_BYTES + 96], a[32], b[32], c[32];
        nn_status st;
        nn_calib__num(a, e[i].threshold);
        nn_calib__num(b, e[i].min);
        nn_calib__num(c, e[i].max);
        snprintf(line, sizeof line, "%s %s %s %s\n", e[i].name, a, b, c);
        if ((st = nn_calib__emit(write, user, line, diag)) != NN_OK) return st;
    }
    return NN_OK;
}

NN_API nn_status nn_calib_table_save(const nn_calib_table *t, nn_verify_write_fn write, void *user,
                                     nn_diag *diag) {
    char head[160];
    nn_status st;
    NN_ASSERT(t && write);
    snprintf(head, sizeof head, "# generated by nnport %d.%d.%d (nn_calib.h)\n# histogram number: %u\n"
             "# sample number: %u\n###\n# op_name    threshold    min    max\n",
             NN_VERSION_MAJOR, NN_VERSION_MINOR, NN_VERSION_PATCH, (unsigned)t->bins, (unsigned)t->samples);
    if ((st = nn_calib__emit(write, user, head, diag)) != NN_OK) return st;
    if ((st = nn_calib__emit_entries(t->entries, t->count, write, user, diag)) != NN_OK) return st;
    if (t->int4_count == 0) return NN_OK;
    if ((st = nn_calib__emit(write, user, "\n#int4_th\n", diag)) != NN_OK) return st;
    return nn_calib__emit_entries(t->int4_entries, t->int4_count, write, user, diag);
}

/* Adds tensor id's line when the collector has seen it. */
static nn_status nn_calib__add_tensor(nn_calib_table *t, int int4, const nn_calib_collector *c, uint32_t id,
                                      const nn_calib_desc *desc, uint32_t *skipped, nn_diag *diag) {
    const nn_calib_observer *o = id < c->tensor_count ? c->obs[id] : NULL;
    const char *name = c->g->tensors[id].name;
    nn_calib_result r;
    nn_status st;
    if (!o || nn_calib_table_find(t, int4, name)) return NN_OK;
    if (o->count == 0) { (*skipped)++; return NN_OK; }
    if ((st = nn_calib_compute(o, desc, &r, diag)) != NN_OK) return st;
    return nn_calib_table_add(t, int4, name, r.threshold, o->min, o->max, diag);
}

NN_API nn_status nn_calib_table_add_collector(nn_calib_table *t, int int4, const nn_calib_collector *c,
                                              const nn_calib_desc *desc, uint32_t *out_skipped,
                                              nn_diag *diag) {
    const nn_graph *g;
    uint32_t i, j, skipped = 0;
    nn_status st = NN_OK;
    NN_ASSERT(t && c);
    g = c->g;
    for (i = 0; i < g->input_count && st == NN_OK; i++)
        st = nn_calib__add_tensor(t, int4, c, g->inputs[i].id, desc, &skipped, diag);
    for (i = 0; i < g->node_count && st == NN_OK; i++)
        for (j = 0; j < g->nodes[i].output_count && st == NN_OK; j++)
            if (g->nodes[i].outputs[j].id != NN_INVALID_ID)
                st = nn_calib__add_tensor(t, int4, c, g->nodes[i].outputs[j].id, desc, &skipped, diag);
    if (out_skipped) *out_skipped = skipped;
    return st;
}


/* ---- calibration-set check ----------------------------------------------- */

NN_API const char *nn_calib_severity_name(nn_calib_severity s) {
    switch (s) {
    case NN_CALIB_INFO: return "info";
    case NN_CALIB_WARN: return "warning";
    case NN_CALIB_ERROR: return "error";
    }
    return "?";
}

/* Appends a finding (silently dropped past NN_CALIB_MAX_FINDINGS). */
static nn_calib_finding *nn_calib__finding(nn_calib_report *r, nn_calib_severity sev, nn_calib_finding_code code,
                                           uint32_t sample, double value) {
    nn_calib_finding *f;
    if (r->finding_count >= NN_CALIB_MAX_FINDINGS) return NULL;
    f = &r->findings[r->finding_count++];
    memset(f, 0, sizeof *f);
    f->severity = sev;
    f->code = code;
    f->sample = sample;
    f->value = value;
    return f;
}

/* The Conv -> BatchNormalization pair the check compares, and what the
   exec observer accumulates over the conv's output (N, C, ...). */
typedef struct nn_calib__bn {
    uint32_t conv, bn;            /* node indices */
    uint32_t input;               /* graph input index feeding the conv */
    uint32_t channels;
    const float *mean, *var;      /* (channels) BN running statistics */
    double eps;
    double *sum, *sum_sq;         /* (2, channels): as given, channels reversed */
    uint64_t per_channel;         /* values added per channel, per variant */
    int variant;                  /* 0 or 1: which half is being filled */
    int reached;
} nn_calib__bn;

static int nn_calib__const_f32(const nn_graph *g, nn_tensor_id t, uint32_t n) {
    const nn_tensor *x;
    if (t.id >= g->tensor_count) return 0;
    x = &g->tensors[t.id];
    return (x->flags & NN_TENSOR_CONST) && x->dtype == NN_DTYPE_FLOAT && x->data && x->data_bytes == (size_t)n * 4;
}

/* Finds the first Conv whose data input is a graph input and whose output
   is the X of a BatchNormalization with float32 constant statistics. */
static int nn_calib__find_bn(const nn_graph *g, nn_calib__bn *b) {
    uint32_t i, j, k;
    for (i = 0; i < g->node_count; i++) {
        const nn_node *c = &g->nodes[i];
        if (strcmp(c->op_type, "Conv") != 0 || c->input_count < 2 || c->output_count < 1) continue;
        for (k = 0; k < g->input_count; k++)
            if (g->inputs[k].id == c->inputs[0].id) break;
        if (k == g->input_count) continue;
        for (j = 0; j < g->node_count; j++) {
            const nn_node *n = &g->nodes[j];
            const nn_tensor *w = &g->tensors[c->inputs[1].id];
            uint32_t ch;
            if (strcmp(n->op_type, "BatchNormalization") != 0 || n->input_count < 5 ||
                n->inputs[0].id != c->outputs[0].id)
                continue;
            if (w->shape.rank < 1 || w->shape.dims[0] <= 0 || w->shape.dims[0] > (1 << 20)) return 0;
            ch = (uint32_t)w->shape.dims[0];
            if (!nn_calib__const_f32(g, n->inputs[3], ch) || !nn_calib__const_f32(g, n->inputs[4], ch)) return 0;
            b->conv = i;
            b->bn = j;
            b->input = k;
            b->channels = ch;
            b->mean = (const float *)g->tensors[n->inputs[3].id].data;
            b->var = (const float *)g->tensors[n->inputs[4].id].data;
            b->eps = nn_node_attr_float(n, "epsilon", 1e-5f);
            return 1;
        }
        return 0; /* the first conv of an input has no BN after it */
    }
    return 0;
}

/* Exec observer: at the conv, adds its output to the per-channel sums and
   stops the run (nothing after it is needed). */
static int nn_calib__bn_observer(void *user, const nn_graph *g, uint32_t node_index, const nn_value *outputs,
                                 uint32_t output_count) {
    nn_calib__bn *b = (nn_calib__bn *)user;
    const nn_value *y;
    size_t n, inner, c, i, k;
    (void)g;
    if (node_index != b->conv || output_count < 1) return 0;
    y = &outputs[0];
    b->reached = 1;
    if (y->dtype != NN_DTYPE_FLOAT || y->shape.rank < 2 || y->shape.dims[1] != (int64_t)b->channels) return 1;
    n = nn_value_count(y);
    inner = n / ((size_t)y->shape.dims[0] * b->channels);
    for (k = 0; k < (size_t)y->shape.dims[0]; k++) {
        for (c = 0; c < b->channels; c++) {
            const float *p = (const float *)y->data + (k * b->channels + c) * inner;
            double s = 0, s2 = 0;
            for (i = 0; i < inner; i++) { s += p[i]; s2 += (double)p[i] * p[i]; }
            b->sum[b->variant * b->channels + c] += s;
            b->sum_sq[b->variant * b->channels + c] += s2;
        }
    }
    if (b->variant == 0) b->per_channel += (uint64_t)(inner * (size_t)y->shape.dims[0]);
    return 1; /* stop: the rest of the graph is not needed */
}

/* v with its 3 channels reversed (NCHW dim 1 or NHWC last dim) into out's
   buffer; 0 when v has no 3-channel axis. */
static int nn_calib__reverse_channels(const nn_value *v, void *buf) {
    size_t es = nn_dtype_size(v->dtype), n = nn_value_count(v), inner, outer, o, c, i;
    int axis;
    if (es == 0 || v->shape.rank < 3) return 0;
    if (v->shape.dims[1] == 3 && v->shape.rank == 4) axis = 1;
    else if (v->shape.dims[v->shape.rank - 1] == 3) axis = v->shape.rank - 1;
    else if (v->shape.dims[0] == 3 && v->shape.rank == 3) axis = 0;
    else return 0;
    inner = 1;
    for (i = (size_t)axis + 1; i < (size_t)v->shape.rank; i++) inner *= (size_t)v->shape.dims[i];
    outer = n / (3 * inner);
    for (o = 0; o < outer; o++)
        for (c = 0; c < 3; c++)
            memcpy((char *)buf + ((o * 3 + c) * inner) * es, (const char *)v->data + ((o * 3 + (2 - c)) * inner) * es,
                   inner * es);
    return 1;
}

/* 64-bit FNV-1a over bytes, continuing from h. */
static uint64_t nn_calib__fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++) { h ^= s[i]; h *= 1099511628211ull; }
    return h;
}

typedef struct nn_calib__hash { uint64_t h; uint32_t index; } nn_calib__hash;

static int nn_calib__cmp_hash(const void *a, const void *b) {
    const nn_calib__hash *x = (const nn_calib__hash *)a, *y = (const nn_calib__hash *)b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int nn_calib__cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Scores from the sums (see nn_calib_report); variant 0 or 1.  With r
   (optional) also fills the median score, the spread ratio and the count
   of flat channels. */
static double nn_calib__bn_score(const nn_calib__bn *b, int variant, double *scratch, nn_calib_report *r) {
    double acc = 0, cnt = (double)b->per_channel;
    double *rr = scratch, *zr = scratch + b->channels;
    uint32_t c;
    for (c = 0; c < b->channels; c++) {
        double m = b->sum[variant * b->channels + c] / cnt;
        double v = b->sum_sq[variant * b->channels + c] / cnt - m * m;
        double s2 = (double)b->var[c] + b->eps;
        double z = (m - (double)b->mean[c]) / sqrt(s2 > 0 ? s2 : b->eps);
        double lr = log(((v > 0 ? v : 0) + b->eps) / (s2 > 0 ? s2 : b->eps));
        acc += z * z + lr * lr;
        rr[c] = lr;
        zr[c] = z * z + lr * lr;
        if (r && lr < log(0.01)) r->bn_flat_channels++;
    }
    if (r) {
        qsort(rr, b->channels, sizeof *rr, nn_calib__cmp_double);
        qsort(zr, b->channels, sizeof *zr, nn_calib__cmp_double);
        r->bn_spread_ratio = exp(rr[b->channels / 2] / 2);
        r->bn_median_score = sqrt(zr[b->channels / 2]);
        r->bn_channels = b->channels;
    }
    return sqrt(acc / b->channels);
}

/* Runs the graph up to the BN's conv on inputs; recreates *x when the
   input shapes change. */
static nn_status nn_calib__bn_run(const nn_graph *g, nn_calib__bn *b, nn_exec **x, nn_shape *shapes,
                                  const nn_value *inputs, const nn_allocator *alloc, nn_diag *diag) {
    uint32_t i;
    nn_diag stop;
    nn_status st;
    int same = *x != NULL;
    for (i = 0; i < g->input_count; i++)
        if (!nn_shape_equal(&shapes[i], &inputs[i].shape)) same = 0;
    if (!same) {
        nn_input_shape is[16];
        nn_exec_desc xd;
        if (g->input_count > 16) return nn_diag_set(diag, NN_ERR_LIMIT, "nn_calib_check", "more than 16 inputs");
        nn_exec_destroy(*x);
        *x = NULL;
        for (i = 0; i < g->input_count; i++) {
            is[i].name = g->tensors[g->inputs[i].id].name;
            is[i].shape = shapes[i] = inputs[i].shape;
        }
        memset(&xd, 0, sizeof xd);
        xd.alloc = *alloc;
        xd.input_shapes = is;
        xd.input_shape_count = g->input_count;
        xd.observer = nn_calib__bn_observer;
        xd.observer_user = b;
        if ((st = nn_exec_create(g, &xd, x, diag)) != NN_OK) return st;
    }
    for (i = 0; i < g->input_count; i++)
        if ((st = nn_exec_set_input(*x, i, &inputs[i], diag)) != NN_OK) return st;
    b->reached = 0;
    memset(&stop, 0, sizeof stop);
    st = nn_exec_run(*x, &stop);
    if (!b->reached && st != NN_OK) return nn_diag_set(diag, stop.status, stop.where, "%s", stop.message);
    return NN_OK;
}

/* Turns the measured scores into findings. */
static void nn_calib__bn_findings(const nn_graph *g, const nn_calib__bn *b, nn_calib_report *r, double warn) {
    nn_calib_finding *f;
    const char *in = g->tensors[g->inputs[b->input].id].name;
    int swapped_better = r->bn_score_swapped >= 0 && r->bn_score_swapped < 0.8 * r->bn_score;
    int gray = r->bn_score_swapped >= 0 && fabs(r->bn_score_swapped - r->bn_score) <= 1e-9 * r->bn_score;
    int bad = r->bn_median_score > warn;
    if (swapped_better && (f = nn_calib__finding(r, NN_CALIB_ERROR, NN_CALIB_FINDING_CHANNEL_ORDER, UINT32_MAX,
                                                 r->bn_score_swapped / r->bn_score)) != NULL) {
        snprintf(f->message, sizeof f->message,
                 "input '%.60s' looks channel-swapped: with its 3 channels reversed the first conv matches BN "
                 "'%.60s' better (score %.2f instead of %.2f)", in, r->bn_node, r->bn_score_swapped, r->bn_score);
        snprintf(f->what_to_do, sizeof f->what_to_do,
                 "flip the channel order of the calibration data (add or remove 'bgr' in --preprocess, or "
                 "nn_calib_image_desc.bgr); models trained with cv2 (PaddleOCR) expect BGR");
    }
    if (bad && (f = nn_calib__finding(r, NN_CALIB_ERROR, NN_CALIB_FINDING_BN_MISMATCH, UINT32_MAX,
                                      r->bn_median_score)) != NULL) {
        snprintf(f->message, sizeof f->message,
                 "the first conv's output does not match BN '%.60s': median channel score %.2f (above %.2f); "
                 "its spread is %.3gx what the BN expects", r->bn_node, r->bn_median_score, warn, r->bn_spread_ratio);
        if (r->bn_spread_ratio > 3 || r->bn_spread_ratio < 1.0 / 3)
            snprintf(f->what_to_do, sizeof f->what_to_do,
                     "the input scale looks about %.3gx off: check --preprocess mean=/scale= (pixels 0..255 vs 0..1, "
                     "(x-mean)*scale) against the model's training preprocessing", r->bn_spread_ratio);
        else
            snprintf(f->what_to_do, sizeof f->what_to_do,
                     "check --preprocess mean=/scale= (the offset), channel order and resizing against the model's "
                     "training preprocessing; data unlike the deployment data give wrong thresholds");
    }
    if (!bad && r->bn_flat_channels * 8 >= r->bn_channels &&
        (f = nn_calib__finding(r, NN_CALIB_WARN, NN_CALIB_FINDING_FLAT_CHANNELS, UINT32_MAX,
                               r->bn_flat_channels)) != NULL) {
        snprintf(f->message, sizeof f->message,
                 "%u of %u first-conv channels are nearly constant over the set (variance < 1%% of BN's)%s",
                 r->bn_flat_channels, r->bn_channels,
                 gray ? "; the 3 input channels are equal (a grayscale set)" : "");
        snprintf(f->what_to_do, sizeof f->what_to_do,
                 "the model reacts to variation the set lacks%s: add samples like the deployment data, or the "
                 "thresholds of those channels' consumers come out too small", gray ? " (color)" : "");
    }
    if (gray && (f = nn_calib__finding(r, NN_CALIB_INFO, NN_CALIB_FINDING_BN_MATCH, UINT32_MAX, r->bn_score)) != NULL) {
        snprintf(f->message, sizeof f->message,
                 "the 3 input channels are equal over the set: channel order cannot be checked (nor matters here)");
        snprintf(f->what_to_do, sizeof f->what_to_do, "nothing for this set; check 'bgr' again with color data");
    } else if (!swapped_better && !bad &&
               (f = nn_calib__finding(r, NN_CALIB_INFO, NN_CALIB_FINDING_BN_MATCH, UINT32_MAX, r->bn_score)) != NULL) {
        snprintf(f->message, sizeof f->message,
                 "first conv's output is near BN '%.60s' (median score %.2f; RMS %.2f, channels reversed %.2f)",
                 r->bn_node, r->bn_median_score, r->bn_score, r->bn_score_swapped);
        snprintf(f->what_to_do, sizeof f->what_to_do, "nothing");
    }
}

NN_API nn_status nn_calib_check(const nn_graph *g, nn_calib_dataset *ds, const nn_calib_check_desc *desc,
                                nn_calib_report *out, nn_diag *diag) {
    nn_calib_check_desc d;
    nn_calib_report r;
    nn_calib__bn b;
    nn_calib__hash *hashes = NULL;
    nn_value *inputs = NULL, *swapped = NULL;
    nn_shape *shapes = NULL;
    nn_exec *x0 = NULL, *x1 = NULL;
    void *swap_buf = NULL;
    size_t swap_cap = 0;
    uint32_t n, k, i, first_nonfinite = UINT32_MAX;
    int have_bn, can_swap = 1;
    nn_status st = NN_OK;
    nn_calib_finding *f;
    NN_ASSERT(g && ds && out);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (d.min_samples == 0) d.min_samples = 16;
    if (d.bn_warn_score == 0) d.bn_warn_score = 2.0;
    memset(&r, 0, sizeof r);
    memset(&b, 0, sizeof b);
    r.bn_score = r.bn_score_swapped = r.bn_spread_ratio = r.bn_median_score = -1;
    n = nn_calib_dataset_count(ds);
    r.samples = n;
    have_bn = !d.skip_bn && nn_calib__find_bn(g, &b);
    hashes = (nn_calib__hash *)nn_alloc(&d.alloc, (size_t)(n ? n : 1) * sizeof *hashes);
    inputs = (nn_value *)nn_alloc(&d.alloc, (size_t)g->input_count * 2 * sizeof *inputs);
    shapes = (nn_shape *)nn_alloc(&d.alloc, (size_t)g->input_count * 2 * sizeof *shapes);
    if (have_bn) {
        b.sum = (double *)nn_alloc(&d.alloc, (size_t)b.channels * 4 * sizeof(double));
        b.sum_sq = b.sum ? b.sum + 2 * b.channels : NULL;
    }
    if (!hashes || !inputs || !shapes || (have_bn && !b.sum)) {
        st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_check", "out of memory");
        goto done;
    }
    if (have_bn) memset(b.sum, 0, (size_t)b.channels * 4 * sizeof(double));
    memset(shapes, 0, (size_t)g->input_count * 2 * sizeof *shapes);
    swapped = inputs + g->input_count;
    for (k = 0; k < n && st == NN_OK; k++) {
        uint64_t h = 14695981039346656037ull;
        if ((st = nn_calib_dataset_load(ds, k, inputs, diag)) != NN_OK) break;
        for (i = 0; i < g->input_count; i++) {
            const nn_value *v = &inputs[i];
            size_t m = nn_value_count(v), j;
            uint64_t bad = 0;
            h = nn_calib__fnv(h, &v->dtype, sizeof v->dtype);
            h = nn_calib__fnv(h, v->shape.dims, (size_t)v->shape.rank * sizeof v->shape.dims[0]);
            h = nn_calib__fnv(h, v->data, v->bytes);
            if (v->dtype == NN_DTYPE_FLOAT)
                for (j = 0; j < m; j++) bad += !isfinite(((const float *)v->data)[j]);
            else if (v->dtype == NN_DTYPE_FLOAT16 || v->dtype == NN_DTYPE_BFLOAT16)
                for (j = 0; j < m; j++) {
                    uint16_t e = ((const uint16_t *)v->data)[j];
                    bad += v->dtype == NN_DTYPE_FLOAT16 ? (e & 0x7C00u) == 0x7C00u : (e & 0x7F80u) == 0x7F80u;
                }
            else if (v->dtype == NN_DTYPE_DOUBLE)
                for (j = 0; j < m; j++) bad += !isfinite(((const double *)v->data)[j]);
            if (bad && first_nonfinite == UINT32_MAX) first_nonfinite = k;
            r.nonfinite_count += bad;
        }
        hashes[k].h = h;
        hashes[k].index = k;
        if (!have_bn) continue;
        b.variant = 0;
        if ((st = nn_calib__bn_run(g, &b, &x0, shapes, inputs, &d.alloc, diag)) != NN_OK) break;
        if (!can_swap) continue;
        {   /* the same sample with the conv's input channels reversed */
            const nn_value *v = &inputs[b.input];
            if (v->bytes > swap_cap) {
                nn_free(&d.alloc, swap_buf);
                swap_buf = nn_alloc(&d.alloc, v->bytes);
                swap_cap = swap_buf ? v->bytes : 0;
                if (!swap_buf) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_check", "out of memory"); break; }
            }
            for (i = 0; i < g->input_count; i++) swapped[i] = inputs[i];
            if (!nn_calib__reverse_channels(v, swap_buf)) { can_swap = 0; continue; }
            swapped[b.input].data = swap_buf;
            b.variant = 1;
            st = nn_calib__bn_run(g, &b, &x1, shapes + g->input_count, swapped, &d.alloc, diag);
        }
    }
    if (st != NN_OK) goto done;
    /* duplicates: equal hashes (64-bit FNV-1a; a collision would need ~2^32 samples) */
    if (n > 1) {
        qsort(hashes, n, sizeof *hashes, nn_calib__cmp_hash);
        for (k = 1; k < n; k++) if (hashes[k].h == hashes[k - 1].h) r.duplicate_count++;
    }
    if (n < d.min_samples && (f = nn_calib__finding(&r, n == 0 ? NN_CALIB_ERROR : NN_CALIB_WARN,
                                                    NN_CALIB_FINDING_FEW_SAMPLES, UINT32_MAX, n)) != NULL) {
        snprintf(f->message, sizeof f->message, "only %u sample%s (fewer than %u)", n, n == 1 ? "" : "s", d.min_samples);
        snprintf(f->what_to_do, sizeof f->what_to_do,
                 "add samples like the deployment data: thresholds from a few samples miss the tails "
                 "(100-1000 is usual)");
    }
    if (r.nonfinite_count && (f = nn_calib__finding(&r, NN_CALIB_ERROR, NN_CALIB_FINDING_NONFINITE, first_nonfinite,
                                                    (double)r.nonfinite_count)) != NULL) {
        snprintf(f->message, sizeof f->message, "%llu NaN/Inf input values, the first in sample '%.80s'",
                 (unsigned long long)r.nonfinite_count, nn_calib_dataset_name(ds, first_nonfinite));
        snprintf(f->what_to_do, sizeof f->what_to_do, "remove or regenerate those samples");
    }
    if (r.duplicate_count) {
        uint32_t a = 0, c = 0;
        for (k = 1; k < n; k++)
            if (hashes[k].h == hashes[k - 1].h) { a = hashes[k - 1].index; c = hashes[k].index; break; }
        if ((f = nn_calib__finding(&r, NN_CALIB_WARN, NN_CALIB_FINDING_DUPLICATE, c, r.duplicate_count)) != NULL) {
            snprintf(f->message, sizeof f->message, "%u duplicate sample%s (e.g. '%.80s' equals '%.80s')",
                     r.duplicate_count, r.duplicate_count == 1 ? "" : "s", nn_calib_dataset_name(ds, c),
                     nn_calib_dataset_name(ds, a));
            snprintf(f->what_to_do, sizeof f->what_to_do,
                     "remove duplicates: they weigh some inputs twice and add nothing");
        }
    }
    if (have_bn && b.per_channel > 0) {
        double *scratch = (double *)nn_alloc(&d.alloc, (size_t)b.channels * 2 * sizeof(double));
        if (!scratch) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_calib_check", "out of memory"); goto done; }
        snprintf(r.bn_node, sizeof r.bn_node, "%s", g->nodes[b.bn].name ? g->nodes[b.bn].name : "");
        if (!r.bn_node[0]) snprintf(r.bn_node, sizeof r.bn_node, "%s", g->tensors[g->nodes[b.bn].outputs[0].id].name);
        r.bn_score = nn_calib__bn_score(&b, 0, scratch, &r);
        if (can_swap) r.bn_score_swapped = nn_calib__bn_score(&b, 1, scratch, NULL);
        nn_free(&d.alloc, scratch);
        nn_calib__bn_findings(g, &b, &r, d.bn_warn_score);
    } else if (!d.skip_bn && (f = nn_calib__finding(&r, NN_CALIB_INFO, NN_CALIB_FINDING_NO_BN, UINT32_MAX, 0)) != NULL) {
        snprintf(f->message, sizeof f->message,
                 "no input -> Conv -> BatchNormalization (BN folded or absent): channel order and mean/scale unchecked");
        snprintf(f->what_to_do, sizeof f->what_to_do,
                 "check the preprocessing by hand against the model's training code (run the check on the model "
                 "before BN folding)");
    }
    {   /* most severe first, stable */
        uint32_t a, c;
        for (a = 1; a < r.finding_count; a++)
            for (c = a; c > 0 && r.findings[c].severity > r.findings[c - 1].severity; c--) {
                nn_calib_finding t = r.findings[c];
                r.findings[c] = r.findings[c - 1];
                r.findings[c - 1] = t;
            }
    }
    *out = r;
done:
    nn_exec_destroy(x0);
    nn_exec_destroy(x1);
    nn_free(&d.alloc, swap_buf);
    nn_free(&d.alloc, b.sum);
    nn_free(&d.alloc, hashes);
    nn_free(&d.alloc, inputs);
    nn_free(&d.alloc, shapes);
    return st;
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
