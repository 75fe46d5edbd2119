/* nn_verify.h - prove that two runs of a model agree: tensor comparison
   metrics, .npy / .npz files, and layer-by-layer tables.  Version 0.1.0.

   Every stage of nnport (import, optimize, quantize, compile) ends with a
   comparison against the stage before it.  This header holds the pieces
   those comparisons share:

     comparison     nn_verify_compare: cosine, MSE, SQNR, max / mean abs
                    error, max relative error, allclose, worst element
     .npy files     load (versions 1.0 / 2.0 / 3.0, little- and big-endian)
                    and save (version 1.0), to files or memory
     .npz archives  load (stored and deflated members, CRC-checked) and
                    save (stored, deterministic)
     layer tables   nn_verify_table: rows of (name, op, dtype, shape, stats)
                    printed as fixed-width text or written as JSON

   BUILD
     In exactly one C or C++ file:
         #define NN_IMPLEMENTATION        (or NN_VERIFY_IMPLEMENTATION)
         #include "nn_verify.h"
     nn_graph.h must be on the include path; NN_IMPLEMENTATION expands both.
     Deflated .npz members are inflated by stb_image's zlib decoder
     (stbi_zlib_decode_noheader_buffer).  Either link a library that has it
     (Debian: -lstb) or also define NN_VERIFY_STB_IMAGE_IMPLEMENTATION in
     that one file, which expands stb_image.h's implementation there (do not
     then define STB_IMAGE_IMPLEMENTATION for stb_image.h in the same
     program again).  Add -I/usr/include/stb on Debian.

   CONFIG MACROS (define before the implementation include)
     NN_VERIFY_NO_ZLIB                   no stb_image; deflated .npz members
                                         are refused (NN_ERR_UNSUPPORTED).
     NN_VERIFY_STB_IMAGE_IMPLEMENTATION  expand stb_image.h's implementation
                                         in this translation unit.
     NN_VERIFY_STB_IMAGE_H               "stb_image.h": how to include it.
     NN_MAX_NPY_HEADER_BYTES             65536: longest .npy header read.
     NN_MAX_NPZ_MEMBERS                  65535: most members in one .npz.
     NN_ASSERT(x)                        assert() by default; misuse only.

   QUICK START
       nn_diag d = {0};
       nn_value ref, got;
       if (nn_verify_load_npy_file("ref.npy", &ref, NULL, &d) != NN_OK ||
           nn_verify_load_npy_file("got.npy", &got, NULL, &d) != NN_OK) {
           fprintf(stderr, "%s: %s\n", d.where, d.message);
           return 1;
       }
       nn_verify_desc vd = { .rtol = 1e-3, .atol = 1e-5 };
       nn_verify_stats s;
       if (nn_verify_compare(&ref, &got, &vd, &s, &d) == NN_OK)
           printf("cos %.6f  sqnr %.2f dB  max|err| %g at %zu  %s\n",
                  s.cosine, s.sqnr_db, s.max_abs_err, s.worst_index,
                  s.allclose ? "allclose" : "NOT allclose");
       nn_verify_value_free(&ref, NULL);
       nn_verify_value_free(&got, NULL);

   OWNERSHIP  A loaded nn_value's data, and everything an nn_verify_npz holds,
     comes from the allocator given to the load call; release it with
     nn_verify_value_free / nn_verify_npz_free and the same allocator.  A
     table owns copies of its row names.  Comparisons only read.
   ERRORS  Fallible functions return nn_status and fill the caller's nn_diag
     (first error wins); diag.where names the file and field, e.g.
     "x.npy: header.shape" or "w.npz: conv1.npy".  Outputs are untouched on
     failure, and a failed save leaves no file behind (it writes PATH.tmp and
     renames it over PATH only when complete).  Nothing here prints: the
     table writers go through a caller-given write callback.
   MEMORY  Loads allocate the result, plus short-lived buffers from the same
     allocator: the .npy header, and for .npz the central directory and one
     member at a time (its compressed bytes too when deflated).  Saving
     allocates only the PATH.tmp name.  Comparison uses 4 KiB of stack and
     no heap.
   THREADS  No global state; every function may run on any thread at once on
     different objects.
   LIMITS  Untrusted files are refused with a status, never a crash: bad
     magic, unsupported versions, headers longer than NN_MAX_NPY_HEADER_BYTES
     or the file, dictionary syntax errors, unknown or missing keys, negative
     or overflowing dimensions, ranks above NN_MAX_RANK (NN_ERR_LIMIT), data
     shorter or longer than the header declares, fortran_order True and
     dtypes outside f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1 (NN_ERR_UNSUPPORTED),
     zip64 / multi-disk / encrypted archives, compression other than stored
     and deflate, CRC mismatches and members whose inflated size is not the
     declared one.  Files are addressed with fseek/ftell, so on platforms
     whose long is 32 bits files are limited to 2 GiB.  Integers beyond
     2^53 in magnitude are compared after rounding to double.
*/
#ifndef NN_VERIFY_H
#define NN_VERIFY_H

#include "nn_graph.h"

#define NN_VERIFY_VERSION_MAJOR 0
#define NN_VERIFY_VERSION_MINOR 1
#define NN_VERIFY_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tensor comparison -------------------------------------------------- */

typedef enum nn_verify_nan {
    NN_VERIFY_NAN_DEFAULT = 0,  /* NN_VERIFY_NAN_MISMATCH */
    NN_VERIFY_NAN_MISMATCH = 1, /* any NaN is a mismatch (numpy equal_nan=False) */
    NN_VERIFY_NAN_EQUAL = 2     /* NaN in both at one index matches (equal_nan=True) */
} nn_verify_nan;

/* All zero means: numpy.allclose tolerances (rtol 1e-5, atol 1e-8), NaN is a
   mismatch, relative-error floor 1e-6, shapes must be equal. */
typedef struct nn_verify_desc {
    /* allclose test per element: |got - ref| <= atol + rtol * |ref| (ref is
       numpy's "desired").  When both are 0 and exact is 0 the numpy defaults
       apply; set either and both are used as given ({.atol = 1} is a
       one-LSB check with rtol 0). */
    double rtol;
    double atol;
    int exact;              /* 1: rtol = atol = 0 (bit-exact integer paths) */
    nn_verify_nan nan_mode;
    /* max_rel_err divides by max(|ref|, rel_floor) so that references at or
       near zero do not make it infinite; 0: 1e-6. */
    double rel_floor;
    /* 1: compare as flat arrays when only the element counts agree (passes
       such as 4-D conversion reshape a tensor without changing its data). */
    int ignore_shape;
} nn_verify_desc;

/* Results of one comparison; all metrics are computed in double.  Pairs
   that are not both finite: equal infinities, and NaN pairs under
   NN_VERIFY_NAN_EQUAL, are exact matches left out of the sums.  Any other
   such pair (or one whose difference overflows double) is a mismatch: it is
   counted in nonfinite_count and beyond_tol_count, is the worst element, and
   makes max_abs_err, mean_abs_err, max_rel_err and mse +inf, sqnr_db -inf and
   cosine NaN, so no gate written as `metric <= limit` or `cosine >= limit`
   passes.  With no elements: cosine 1, errors 0, sqnr_db +inf, allclose 1. */
typedef struct nn_verify_stats {
    size_t count;            /* elements compared */
    double cosine;           /* <ref,got>/(|ref| |got|) in [-1,1]; both all-zero: 1, one: 0 */
    double mse;              /* mean (got-ref)^2 */
    double sqnr_db;          /* 10 log10(sum ref^2 / sum (got-ref)^2); zero error: +inf, zero signal: -inf */
    double max_abs_err;      /* max |got-ref| */
    double mean_abs_err;     /* mean |got-ref| */
    double max_rel_err;      /* max |got-ref| / max(|ref|, rel_floor) */
    double max_abs_ref;      /* max |ref| over the finite pairs: scale for error bounds */
    double max_abs_got;      /* max |got| over the finite pairs */
    size_t worst_index;      /* row-major index of the largest error; 0 when all match */
    size_t beyond_tol_count; /* elements failing the allclose test */
    size_t nonfinite_count;  /* mismatched pairs holding NaN or infinity */
    int allclose;            /* 1 when beyond_tol_count is 0 */
    double rtol, atol;       /* the tolerances applied */
} nn_verify_stats;

/* Compares got against ref element by element.  Any pair of numeric types
   (float32/64, float16, bfloat16, (u)int4..64, bool) may be compared; both
   need static shapes, data and a `bytes` that covers their shape (as set by
   nn_value_make).  desc may be NULL.  *out is written only on success.
   NN_ERR_SHAPE: shapes (or, with ignore_shape, counts) differ or are not
   static; NN_ERR_UNSUPPORTED: a non-numeric dtype; NN_ERR_INVALID: bytes too
   small; NN_ERR_ARG: no data. */
NN_API nn_status nn_verify_compare(const nn_value *ref, const nn_value *got,
                                   const nn_verify_desc *desc, nn_verify_stats *out,
                                   nn_diag *diag);

/* 1 when max_abs_err <= k * max_abs_ref: an error bound relative to the
   reference's peak, steady where max_rel_err explodes on near-zero
   references.  0 for NaN or infinite errors. */
NN_API int nn_verify_stats_within_peak(const nn_verify_stats *s, double k);

/* ---- .npy files ------------------------------------------------------------ */

/* Reads an .npy file into *out (data from alloc, NULL: NN_MALLOC), converted
   to host byte order; bool bytes are normalised to 0/1.  dtype is one of
   float16/32/64, (u)int8..64, bool.  NN_ERR_IO: cannot open or read;
   NN_ERR_PARSE: not a valid .npy; NN_ERR_UNSUPPORTED: version, dtype or
   fortran_order we do not handle; NN_ERR_LIMIT: rank or header length above
   the caps; NN_ERR_NOMEM. */
NN_API nn_status nn_verify_load_npy_file(const char *path, nn_value *out,
                                         const nn_allocator *alloc, nn_diag *diag);
/* The same from bytes in memory (not retained).  label names the source in
   diag.where (NULL: "<memory>"). */
NN_API nn_status nn_verify_load_npy_memory(const void *bytes, size_t size, const char *label,
                                           nn_value *out, const nn_allocator *alloc,
                                           nn_diag *diag);
/* Writes v as a version 1.0 .npy, little-endian, header padded to 64 bytes
   as numpy does.  Writes path.tmp and renames it to path.  NN_ERR_UNSUPPORTED
   for dtypes .npy cannot hold (bfloat16, 4-bit, string, ...); NN_ERR_SHAPE for
   a dynamic shape; NN_ERR_INVALID when v->bytes does not cover the shape;
   NN_ERR_IO. */
NN_API nn_status nn_verify_save_npy_file(const char *path, const nn_value *v, nn_diag *diag);
/* Serialises v into buf (capacity cap) and sets *out_bytes to the size of
   the .npy.  buf NULL: only the size.  NN_ERR_LIMIT when cap is too small. */
NN_API nn_status nn_verify_save_npy_memory(const nn_value *v, void *buf, size_t cap,
                                           size_t *out_bytes, nn_diag *diag);
/* Frees data of a value loaded by this header (same allocator) and clears it. */
NN_API void nn_verify_value_free(nn_value *v, const nn_allocator *alloc);

/* ---- .npz archives ------------------------------------------------------------ */

/* The arrays of an .npz, in archive order.  Member "name.npy" becomes the
   array "name" (numpy's key).  Members not ending in ".npy" are skipped and
   counted. */
typedef struct nn_verify_npz {
    uint32_t count;
    const char **names;      /* count NUL-terminated names */
    nn_value *values;        /* count values */
    uint32_t skipped_count;  /* members that are not .npy (directories, other files) */
    nn_allocator alloc;      /* what the contents came from */
} nn_verify_npz;

/* Reads every .npy member of a zip archive (stored or deflated, CRC-32
   checked) into *out.  Duplicate names are NN_ERR_PARSE.  Statuses as for
   .npy, plus NN_ERR_UNSUPPORTED for zip64, multi-disk, encrypted archives,
   other compression methods and (with NN_VERIFY_NO_ZLIB) deflate. */
NN_API nn_status nn_verify_load_npz_file(const char *path, nn_verify_npz *out,
                                         const nn_allocator *alloc, nn_diag *diag);
NN_API nn_status nn_verify_load_npz_memory(const void *bytes, size_t size, const char *label,
                                           nn_verify_npz *out, const nn_allocator *alloc,
                                           nn_diag *diag);
/* The array named name, or NULL. */
NN_API const nn_value *nn_verify_npz_find(const nn_verify_npz *z, const char *name);
/* Frees everything z holds and clears it. */
NN_API void nn_verify_npz_free(nn_verify_npz *z);
/* Writes count arrays as an uncompressed .npz (members "names[i].npy").  The
   output depends only on the inputs: fixed 1980-01-01 timestamps.  Writes
   path.tmp, renamed over path when complete.  NN_ERR_ARG: duplicate names;
   NN_ERR_LIMIT: more than NN_MAX_NPZ_MEMBERS members, or sizes that need
   zip64; the .npy statuses otherwise. */
NN_API nn_status nn_verify_save_npz_file(const char *path, const char *const *names,
                                         const nn_value *values, uint32_t count, nn_diag *diag);

/* CRC-32 (ISO-HDLC, as zip uses).  Start with crc = 0; pass the previous
   result to continue over more bytes. */
NN_API uint32_t nn_verify_crc32(uint32_t crc, const void *bytes, size_t size);

/* SHA-256 (FIPS 180-4), for the hashes of models, configs and data that a
   verification bundle records.  init, update any number of times, final. */
typedef struct nn_verify_sha256 {
    uint32_t h[8];
    uint64_t bytes;          /* message length so far */
    unsigned char block[64]; /* pending partial block */
} nn_verify_sha256;
NN_API void nn_verify_sha256_init(nn_verify_sha256 *s);
NN_API void nn_verify_sha256_update(nn_verify_sha256 *s, const void *bytes, size_t size);
/* Writes the digest as 64 lower-case hex digits and a NUL into out_hex[65]. */
NN_API void nn_verify_sha256_final(nn_verify_sha256 *s, char out_hex[65]);
/* The SHA-256 of a whole file, streamed; NN_ERR_IO naming the path. */
NN_API nn_status nn_verify_sha256_file(const char *path, char out_hex[65], nn_diag *diag);

/* ---- layer tables ------------------------------------------------------------- */

/* Output callback: returns 0 on success, non-zero to stop (NN_ERR_IO). */
typedef int (*nn_verify_write_fn)(void *user, const char *text, size_t bytes);
/* A nn_verify_write_fn writing to the FILE * passed as user. */
NN_API int nn_verify_write_file(void *user, const char *text, size_t bytes);

typedef struct nn_verify_row {
    const char *name;      /* tensor or layer name (copied) */
    const char *op;        /* op type, "" when none (copied) */
    nn_dtype dtype;
    nn_shape shape;
    nn_verify_stats stats;
} nn_verify_row;

typedef struct nn_verify_table {
    nn_arena arena;        /* row strings */
    nn_verify_row *rows;
    uint32_t row_count, row_cap;
} nn_verify_table;

/* Prepares an empty table in caller storage (alloc NULL: NN_MALLOC). */
NN_API void nn_verify_table_init(nn_verify_table *t, const nn_allocator *alloc);
/* Appends a row; name and op (NULL: "") are copied.  NN_ERR_NOMEM. */
NN_API nn_status nn_verify_table_add(nn_verify_table *t, const char *name, const char *op,
                                     nn_dtype dtype, const nn_shape *shape,
                                     const nn_verify_stats *stats, nn_diag *diag);
/* Compares got with ref (see nn_verify_compare) and appends the row with
   got's dtype and shape.  Nothing is appended on failure. */
NN_API nn_status nn_verify_table_add_compare(nn_verify_table *t, const char *name, const char *op,
                                             const nn_value *ref, const nn_value *got,
                                             const nn_verify_desc *desc, nn_diag *diag);
/* A fixed-width text table, one line per row after a header line; names
   too long for their column keep their last characters.  NN_ERR_IO when
   write fails. */
NN_API nn_status nn_verify_table_print(const nn_verify_table *t, nn_verify_write_fn write,
                                       void *user, nn_diag *diag);
/* {"rows": [{"index": 0, "name": ..., "op": ..., "dtype": "float32",
   "shape": [1, 3], "count": ..., "cosine": ..., ...}, ...]}.  Strings are
   escaped per RFC 8259 (invalid UTF-8 becomes U+FFFD); doubles are written
   with 17 significant digits; NaN and infinities, which JSON cannot hold,
   are written as the strings "nan", "inf", "-inf".  NN_ERR_IO. */
NN_API nn_status nn_verify_table_write_json(const nn_verify_table *t, nn_verify_write_fn write,
                                            void *user, nn_diag *diag);
NN_API void nn_verify_table_deinit(nn_verify_table *t);

#ifdef __cplusplus
}
#endif
#endif /* NN_VERIFY_H */

/* ===================== end of API: implementation below ===================== */

#if defined(NN_IMPLEMENTATION) || defined(NN_VERIFY_IMPLEMENTATION)
#ifndef NN_VERIFY_IMPLEMENTATION_DONE
#define NN_VERIFY_IMPLEMENTATION_DONE

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>

#ifndef NN_ASSERT
#include <assert.h>
#define NN_ASSERT(x) assert(x)
#endif
#ifndef NN_MAX_NPY_HEADER_BYTES
#define NN_MAX_NPY_HEADER_BYTES 65536
#endif
#ifndef NN_MAX_NPZ_MEMBERS
#define NN_MAX_NPZ_MEMBERS 65535
#endif
#ifndef NN_VERIFY_STB_IMAGE_H
#define NN_VERIFY_STB_IMAGE_H "stb_image.h"
#endif

#ifndef NN_VERIFY_NO_ZLIB
#ifdef NN_VERIFY_STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_IMPLEMENTATION
/* stb_image defines one function without a prior prototype (a C-only warning). */
#if defined(__GNUC__) && !defined(__cplusplus)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#endif
#endif
#include NN_VERIFY_STB_IMAGE_H
#ifdef NN_VERIFY_STB_IMAGE_IMPLEMENTATION
#if defined(__GNUC__) && !defined(__cplusplus)
#pragma GCC diagnostic pop
#endif
#endif
#endif /* NN_VERIFY_NO_ZLIB */

/* ---- private helpers ------------------------------------------------------------ */

#if defined(__GNUC__)
#define NN_VERIFY__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NN_VERIFY__PRINTF(f, a)
#endif

/* Records an error whose diag.where is "label: field". */
static nn_status nn_verify__fail(nn_diag *diag, nn_status s, const char *label, const char *field,
                                 const char *fmt, ...) NN_VERIFY__PRINTF(5, 6);
static nn_status nn_verify__fail(nn_diag *diag, nn_status s, const char *label, const char *field,
                                 const char *fmt, ...) {
    char where[192], msg[256];
    va_list ap;
    if (!diag || diag->status != NN_OK) return s;
    snprintf(where, sizeof where, "%s%s%s", label ? label : "", label && field ? ": " : "",
             field ? field : "");
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn_diag_set(diag, s, where, "%s", msg);
}

static int nn_verify__host_is_little(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static uint16_t nn_verify__rd16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t nn_verify__rd32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void nn_verify__wr16(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void nn_verify__wr32(unsigned char *p, uint32_t v) {
    nn_verify__wr16(p, v);
    nn_verify__wr16(p + 2, v >> 16);
}

/* Reverses the bytes of each of count elements of size es, in place. */
static void nn_verify__swap(unsigned char *p, size_t count, size_t es) {
    for (size_t i = 0; i < count; i++, p += es)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* ---- tensor comparison ------------------------------------------------------------ */

#define NN_VERIFY__BLOCK 256 /* elements converted at a time (2 x 2 KiB of stack) */

static int nn_verify__is_numeric(nn_dtype t) {
    return nn_dtype_is_float(t) || nn_dtype_is_signed_int(t) || nn_dtype_is_unsigned_int(t) ||
           t == NN_DTYPE_BOOL;
}

#define NN_VERIFY__CONV(T)                                        \
    for (i = 0; i < n; i++) {                                     \
        T x_;                                                     \
        memcpy(&x_, p + (first + i) * sizeof(T), sizeof(T));      \
        out[i] = (double)x_;                                      \
    }

/* Elements [first, first+n) of v as doubles; data may be unaligned. */
static void nn_verify__to_f64(const nn_value *v, size_t first, size_t n, double *out) {
    const unsigned char *p = (const unsigned char *)v->data;
    size_t i;
    switch (v->dtype) {
    case NN_DTYPE_FLOAT: NN_VERIFY__CONV(float) break;
    case NN_DTYPE_DOUBLE: NN_VERIFY__CONV(double) break;
    case NN_DTYPE_INT8: NN_VERIFY__CONV(int8_t) break;
    case NN_DTYPE_UINT8: NN_VERIFY__CONV(uint8_t) break;
    case NN_DTYPE_INT16: NN_VERIFY__CONV(int16_t) break;
    case NN_DTYPE_UINT16: NN_VERIFY__CONV(uint16_t) break;
    case NN_DTYPE_INT32: NN_VERIFY__CONV(int32_t) break;
    case NN_DTYPE_UINT32: NN_VERIFY__CONV(uint32_t) break;
    case NN_DTYPE_INT64: NN_VERIFY__CONV(int64_t) break;
    case NN_DTYPE_UINT64: NN_VERIFY__CONV(uint64_t) break;
    case NN_DTYPE_FLOAT16:
        for (i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + (first + i) * 2, 2);
            out[i] = nn_f16_to_f32(h);
        }
        break;
    case NN_DTYPE_BFLOAT16:
        for (i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + (first + i) * 2, 2);
            out[i] = nn_bf16_to_f32(h);
        }
        break;
    case NN_DTYPE_BOOL:
        for (i = 0; i < n; i++) out[i] = p[first + i] ? 1.0 : 0.0;
        break;
    case NN_DTYPE_INT4:
    case NN_DTYPE_UINT4: /* two per byte, low nibble first (ONNX) */
        for (i = 0; i < n; i++) {
            size_t k = first + i;
            int nib = (k & 1) ? p[k / 2] >> 4 : p[k / 2] & 15;
            out[i] = v->dtype == NN_DTYPE_INT4 ? (double)((nib ^ 8) - 8) : (double)nib;
        }
        break;
    default: NN_ASSERT(0 && "nn_verify: non-numeric dtype"); break;
    }
}

static nn_verify_desc nn_verify__desc_defaults(const nn_verify_desc *desc) {
    nn_verify_desc d;
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (d.exact) d.rtol = d.atol = 0;
    else if (d.rtol == 0 && d.atol == 0) { d.rtol = 1e-5; d.atol = 1e-8; }
    if (d.nan_mode == NN_VERIFY_NAN_DEFAULT) d.nan_mode = NN_VERIFY_NAN_MISMATCH;
    if (d.rel_floor <= 0) d.rel_floor = 1e-6;
    return d;
}

/* Checks one operand; *out_count gets its element count. */
static nn_status nn_verify__check_value(const nn_value *v, const char *role, size_t *out_count,
                                        nn_diag *diag) {
    int ok;
    size_t count, need;
    char sb[96];
    if (!nn_verify__is_numeric(v->dtype))
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, role, "cannot compare values of type %s",
                           nn_dtype_name(v->dtype));
    count = nn_shape_count(&v->shape, &ok);
    if (!ok)
        return nn_diag_set(diag, NN_ERR_SHAPE, role, "shape %s is not static",
                           nn_shape_str(&v->shape, sb, sizeof sb));
    if (count && !v->data) return nn_diag_set(diag, NN_ERR_ARG, role, "value has no data");
    if (!nn_dtype_bytes_for(v->dtype, count, &need) || v->bytes < need)
        return nn_diag_set(diag, NN_ERR_INVALID, role,
                           "value holds %zu bytes, its %s shape %s needs more (set bytes, e.g. "
                           "with nn_value_make)",
                           v->bytes, nn_dtype_name(v->dtype), nn_shape_str(&v->shape, sb, sizeof sb));
    *out_count = count;
    return NN_OK;
}

/* Running state of a comparison: pass 1 finds maxima, counts and the worst
   element; pass 2 sums squares scaled by those maxima. */
typedef struct nn_verify__acc {
    nn_verify_desc d;
    size_t finite_count, nonfinite_count, beyond, worst, first_bad;
    double max_ref, max_got, max_err, max_rel; /* the scales of pass 2 */
    double dot, rr, gg, ee, ea;                /* scaled sums */
} nn_verify__acc;

/* 1 for a pair that enters the sums: both finite, difference finite. */
static int nn_verify__finite_pair(double r, double g) {
    return isfinite(r) && isfinite(g) && isfinite(g - r);
}

static void nn_verify__pass1(nn_verify__acc *a, const double *r, const double *g, size_t n,
                             size_t base) {
    for (size_t i = 0; i < n; i++) {
        if (nn_verify__finite_pair(r[i], g[i])) {
            double ar = fabs(r[i]), ag = fabs(g[i]), e = fabs(g[i] - r[i]);
            a->finite_count++;
            if (ar > a->max_ref) a->max_ref = ar;
            if (ag > a->max_got) a->max_got = ag;
            if (e > a->max_err) { a->max_err = e; a->worst = base + i; }
            double rel = e / (ar > a->d.rel_floor ? ar : a->d.rel_floor);
            if (rel > a->max_rel) a->max_rel = rel;
            if (!(e <= a->d.atol + a->d.rtol * ar)) a->beyond++;
            continue;
        }
        /* Equal infinities (r == g is false for NaN) and, if asked, NaN pairs match. */
        if (r[i] == g[i] || (isnan(r[i]) && isnan(g[i]) && a->d.nan_mode == NN_VERIFY_NAN_EQUAL))
            continue;
        if (a->nonfinite_count++ == 0) a->first_bad = base + i;
        a->beyond++;
    }
}

/* Dividing by the maxima keeps every scaled term in [-1, 1]: no overflow or
   underflow of the squares however large or small the data is.  (Divide, not
   multiply by reciprocals: the reciprocal of a subnormal maximum is inf.) */
static void nn_verify__pass2(nn_verify__acc *a, const double *r, const double *g, size_t n) {
    double sr = a->max_ref > 0 ? a->max_ref : 1, sg = a->max_got > 0 ? a->max_got : 1;
    double se = a->max_err > 0 ? a->max_err : 1;
    for (size_t i = 0; i < n; i++) {
        if (!nn_verify__finite_pair(r[i], g[i])) continue;
        double x = r[i] / sr, y = g[i] / sg, e = fabs(g[i] - r[i]) / se;
        a->dot += x * y;
        a->rr += x * x;
        a->gg += y * y;
        a->ee += e * e;
        a->ea += e;
    }
}

static void nn_verify__finish(const nn_verify__acc *a, size_t count, nn_verify_stats *s) {
    double m = (double)a->finite_count;
    memset(s, 0, sizeof *s);
    s->count = count;
    s->rtol = a->d.rtol;
    s->atol = a->d.atol;
    s->max_abs_ref = a->max_ref;
    s->max_abs_got = a->max_got;
    s->beyond_tol_count = a->beyond;
    s->nonfinite_count = a->nonfinite_count;
    s->allclose = a->beyond == 0;
    if (a->nonfinite_count) {
        s->worst_index = a->first_bad;
        s->max_abs_err = s->mean_abs_err = s->max_rel_err = s->mse = HUGE_VAL;
        s->sqnr_db = -HUGE_VAL;
        s->cosine = NAN;
        return;
    }
    s->worst_index = a->worst;
    s->max_abs_err = a->max_err;
    s->max_rel_err = a->max_rel;
    if (a->rr == 0 && a->gg == 0) s->cosine = 1; /* two zero vectors point the same way */
    else if (a->rr == 0 || a->gg == 0) s->cosine = 0;
    else {
        s->cosine = a->dot / (sqrt(a->rr) * sqrt(a->gg));
        if (s->cosine > 1) s->cosine = 1;
        if (s->cosine < -1) s->cosine = -1;
    }
    if (a->max_err == 0) { s->sqnr_db = HUGE_VAL; return; } /* mse, mean_abs_err stay 0 */
    s->mse = a->ee / m * a->max_err * a->max_err;
    s->mean_abs_err = a->ea / m * a->max_err;
    /* sum r^2 / sum e^2 = (rr * max_ref^2) / (ee * max_err^2); the logs of the
       maxima are taken apart since their ratio may overflow. */
    s->sqnr_db = a->max_ref == 0 ? -HUGE_VAL
                                 : 10.0 * log10(a->rr / a->ee) +
                                       20.0 * (log10(a->max_ref) - log10(a->max_err));
}

NN_API nn_status nn_verify_compare(const nn_value *ref, const nn_value *got,
                                   const nn_verify_desc *desc, nn_verify_stats *out,
                                   nn_diag *diag) {
    nn_verify__acc a;
    double rb[NN_VERIFY__BLOCK], gb[NN_VERIFY__BLOCK];
    size_t nr, ng, i, k;
    char s1[96], s2[96];
    nn_status st;
    NN_ASSERT(ref && got && out);
    memset(&a, 0, sizeof a);
    a.d = nn_verify__desc_defaults(desc);
    if ((st = nn_verify__check_value(ref, "ref", &nr, diag)) != NN_OK) return st;
    if ((st = nn_verify__check_value(got, "got", &ng, diag)) != NN_OK) return st;
    if (a.d.ignore_shape ? nr != ng : !nn_shape_equal(&ref->shape, &got->shape))
        return nn_diag_set(diag, NN_ERR_SHAPE, "got", "shape %s (%zu elements) differs from ref %s (%zu)",
                           nn_shape_str(&got->shape, s1, sizeof s1), ng,
                           nn_shape_str(&ref->shape, s2, sizeof s2), nr);
    for (i = 0; i < nr; i += k) {
        k = nr - i < NN_VERIFY__BLOCK ? nr - i : NN_VERIFY__BLOCK;
        nn_verify__to_f64(ref, i, k, rb);
        nn_verify__to_f64(got, i, k, gb);
        nn_verify__pass1(&a, rb, gb, k, i);
    }
    if (a.nonfinite_count == 0 && (a.max_ref > 0 || a.max_got > 0))
        for (i = 0; i < nr; i += k) {
            k = nr - i < NN_VERIFY__BLOCK ? nr - i : NN_VERIFY__BLOCK;
            nn_verify__to_f64(ref, i, k, rb);
            nn_verify__to_f64(got, i, k, gb);
            nn_verify__pass2(&a, rb, gb, k);
        }
    nn_verify__finish(&a, nr, out);
    return NN_OK;
}

NN_API int nn_verify_stats_within_peak(const nn_verify_stats *s, double k) {
    return isfinite(s->max_abs_err) && s->max_abs_err <= k * s->max_abs_ref;
}

/* ---- CRC-32 ---------------------------------------------------------------------- */

/* Reflected polynomial 0xEDB88320 (PKWARE APPNOTE 4.4.7); entry i is the
   CRC of the byte i. */
static const uint32_t nn_verify__crc_table[256] = {
    0x00000000u, 0x77073096u, 0xEE0E612Cu, 0x990951BAu, 0x076DC419u, 0x706AF48Fu, 0xE963A535u, 0x9E6495A3u,
    0x0EDB8832u, 0x79DCB8A4u, 0xE0D5E91Eu, 0x97D2D988u, 0x09B64C2Bu, 0x7EB17CBDu, 0xE7B82D07u, 0x90BF1D91u,
    0x1DB71064u, 0x6AB020F2u, 0xF3B97148u, 0x84BE41DEu, 0x1ADAD47Du, 0x6DDDE4EBu, 0xF4D4B551u, 0x83D385C7u,
    0x136C9856u, 0x646BA8C0u, 0xFD62F97Au, 0x8A65C9ECu, 0x14015C4Fu, 0x63066CD9u, 0xFA0F3D63u, 0x8D080DF5u,
    0x3B6E20C8u, 0x4C69105Eu, 0xD56041E4u, 0xA2677172u, 0x3C03E4D1u, 0x4B04D447u, 0xD20D85FDu, 0xA50AB56Bu,
    0x35B5A8FAu, 0x42B2986Cu, 0xDBBBC9D6u, 0xACBCF940u, 0x32D86CE3u, 0x45DF5C75u, 0xDCD60DCFu, 0xABD13D59u,
    0x26D930ACu, 0x51DE003Au, 0xC8D75180u, 0xBFD06116u, 0x21B4F4B5u, 0x56B3C423u, 0xCFBA9599u, 0xB8BDA50Fu,
    0x2802B89Eu, 0x5F058808u, 0xC60CD9B2u, 0xB10BE924u, 0x2F6F7C87u, 0x58684C11u, 0xC1611DABu, 0xB6662D3Du,
    0x76DC4190u, 0x01DB7106u, 0x98D220BCu, 0xEFD5102Au, 0x71B18589u, 0x06B6B51Fu, 0x9FBFE4A5u, 0xE8B8D433u,
    0x7807C9A2u, 0x0F00F934u, 0x9609A88Eu, 0xE10E9818u, 0x7F6A0DBBu, 0x086D3D2Du, 0x91646C97u, 0xE6635C01u,
    0x6B6B51F4u, 0x1C6C6162u, 0x856530D8u, 0xF262004Eu, 0x6C0695EDu, 0x1B01A57Bu, 0x8208F4C1u, 0xF50FC457u,
    0x65B0D9C6u, 0x12B7E950u, 0x8BBEB8EAu, 0xFCB9887Cu, 0x62DD1DDFu, 0x15DA2D49u, 0x8CD37CF3u, 0xFBD44C65u,
    0x4DB26158u, 0x3AB551CEu, 0xA3BC0074u, 0xD4BB30E2u, 0x4ADFA541u, 0x3DD895D7u, 0xA4D1C46Du, 0xD3D6F4FBu,
    0x4369E96Au, 0x346ED9FCu, 0xAD678846u, 0xDA60B8D0u, 0x44042D73u, 0x33031DE5u, 0xAA0A4C5Fu, 0xDD0D7CC9u,
    0x5005713Cu, 0x270241AAu, 0xBE0B1010u, 0xC90C2086u, 0x5768B525u, 0x206F85B3u, 0xB966D409u, 0xCE61E49Fu,
    0x5EDEF90Eu, 0x29D9C998u, 0xB0D09822u, 0xC7D7A8B4u, 0x59B33D17u, 0x2EB40D81u, 0xB7BD5C3Bu, 0xC0BA6CADu,
    0xEDB88320u, 0x9ABFB3B6u, 0x03B6E20Cu, 0x74B1D29Au, 0xEAD54739u, 0x9DD277AFu, 0x04DB2615u, 0x73DC1683u,
    0xE3630B12u, 0x94643B84u, 0x0D6D6A3Eu, 0x7A6A5AA8u, 0xE40ECF0Bu, 0x9309FF9Du, 0x0A00AE27u, 0x7D079EB1u,
    0xF00F9344u, 0x8708A3D2u, 0x1E01F268u, 0x6906C2FEu, 0xF762575Du, 0x806567CBu, 0x196C3671u, 0x6E6B06E7u,
    0xFED41B76u, 0x89D32BE0u, 0x10DA7A5Au, 0x67DD4ACCu, 0xF9B9DF6Fu, 0x8EBEEFF9u, 0x17B7BE43u, 0x60B08ED5u,
    0xD6D6A3E8u, 0xA1D1937Eu, 0x38D8C2C4u, 0x4FDFF252u, 0xD1BB67F1u, 0xA6BC5767u, 0x3FB506DDu, 0x48B2364Bu,
    0xD80D2BDAu, 0xAF0A1B4Cu, 0x36034AF6u, 0x41047A60u, 0xDF60EFC3u, 0xA867DF55u, 0x316E8EEFu, 0x4669BE79u,
    0xCB61B38Cu, 0xBC66831Au, 0x256FD2A0u, 0x5268E236u, 0xCC0C7795u, 0xBB0B4703u, 0x220216B9u, 0x5505262Fu,
    0xC5BA3BBEu, 0xB2BD0B28u, 0x2BB45A92u, 0x5CB36A04u, 0xC2D7FFA7u, 0xB5D0CF31u, 0x2CD99E8Bu, 0x5BDEAE1Du,
    0x9B64C2B0u, 0xEC63F226u, 0x756AA39Cu, 0x026D930Au, 0x9C0906A9u, 0xEB0E363Fu, 0x72076785u, 0x05005713u,
    0x95BF4A82u, 0xE2B87A14u, 0x7BB12BAEu, 0x0CB61B38u, 0x92D28E9Bu, 0xE5D5BE0Du, 0x7CDCEFB7u, 0x0BDBDF21u,
    0x86D3D2D4u, 0xF1D4E242u, 0x68DDB3F8u, 0x1FDA836Eu, 0x81BE16CDu, 0xF6B9265Bu, 0x6FB077E1u, 0x18B74777u,
    0x88085AE6u, 0xFF0F6A70u, 0x66063BCAu, 0x11010B5Cu, 0x8F659EFFu, 0xF862AE69u, 0x616BFFD3u, 0x166CCF45u,
    0xA00AE278u, 0xD70DD2EEu, 0x4E048354u, 0x3903B3C2u, 0xA7672661u, 0xD06016F7u, 0x4969474Du, 0x3E6E77DBu,
    0xAED16A4Au, 0xD9D65ADCu, 0x40DF0B66u, 0x37D83BF0u, 0xA9BCAE53u, 0xDEBB9EC5u, 0x47B2CF7Fu, 0x30B5FFE9u,
    0xBDBDF21Cu, 0xCABAC28Au, 0x53B39330u, 0x24B4A3A6u, 0xBAD03605u, 0xCDD70693u, 0x54DE5729u, 0x23D967BFu,
    0xB3667A2Eu, 0xC4614AB8u, 0x5D681B02u, 0x2A6F2B94u, 0xB40BBE37u, 0xC30C8EA1u, 0x5A05DF1Bu, 0x2D02EF8Du};

NN_API uint32_t nn_verify_crc32(uint32_t crc, const void *bytes, size_t size) {
    const unsigned char *p = (const unsigned char *)bytes;
    crc = ~crc;
    while (size--) crc = nn_verify__crc_table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

/* ---- SHA-256 ------------------------------------------------------------------------ */

/* FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of the
   cube roots of the first 64 primes; section 5.3.3: the initial hash, square
   roots of the first 8 primes. */
static const uint32_t nn_verify__sha_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};

#define NN_VERIFY__ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

/* One 64-byte block (section 6.2.2). */
static void nn_verify__sha_block(uint32_t h[8], const unsigned char *p) {
    uint32_t w[64], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = NN_VERIFY__ROR(w[i - 15], 7) ^ NN_VERIFY__ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = NN_VERIFY__ROR(w[i - 2], 17) ^ NN_VERIFY__ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (NN_VERIFY__ROR(e, 6) ^ NN_VERIFY__ROR(e, 11) ^ NN_VERIFY__ROR(e, 25)) +
                      ((e & f) ^ (~e & g)) + nn_verify__sha_k[i] + w[i];
        uint32_t t2 = (NN_VERIFY__ROR(a, 2) ^ NN_VERIFY__ROR(a, 13) ^ NN_VERIFY__ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

NN_API void nn_verify_sha256_init(nn_verify_sha256 *s) {
    static const uint32_t h0[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    memcpy(s->h, h0, sizeof h0);
    s->bytes = 0;
}

NN_API void nn_verify_sha256_update(nn_verify_sha256 *s, const void *bytes, size_t size) {
    const unsigned char *p = (const unsigned char *)bytes;
    size_t fill = (size_t)(s->bytes % 64);
    s->bytes += size;
    if (fill) { /* top up the pending block first */
        size_t take = 64 - fill < size ? 64 - fill : size;
        memcpy(s->block + fill, p, take);
        p += take; size -= take;
        if (fill + take < 64) return;
        nn_verify__sha_block(s->h, s->block);
    }
    for (; size >= 64; p += 64, size -= 64) nn_verify__sha_block(s->h, p);
    memcpy(s->block, p, size);
}

NN_API void nn_verify_sha256_final(nn_verify_sha256 *s, char out_hex[65]) {
    /* Padding (section 5.1.1): 0x80, zeros to 56 mod 64, the bit length big-endian. */
    uint64_t bits = s->bytes * 8;
    unsigned char pad[72] = {0x80};
    size_t fill = (size_t)(s->bytes % 64), n = fill < 56 ? 56 - fill : 120 - fill;
    for (int i = 0; i < 8; i++) pad[n + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
    nn_verify_sha256_update(s, pad, n + 8);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        unsigned v = (s->h[i / 4] >> (24 - 8 * (i % 4))) & 0xFFu;
        out_hex[2 * i] = hex[v >> 4];
        out_hex[2 * i + 1] = hex[v & 15u];
    }
    out_hex[64] = 0;
}

NN_API nn_status nn_verify_sha256_file(const char *path, char out_hex[65], nn_diag *diag) {
    FILE *f = fopen(path, "rb");
    if (!f) return nn_diag_set(diag, NN_ERR_IO, path, "cannot open the file to hash");
    nn_verify_sha256 s;
    unsigned char buf[1 << 14];
    size_t n;
    nn_verify_sha256_init(&s);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) nn_verify_sha256_update(&s, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return nn_diag_set(diag, NN_ERR_IO, path, "read error while hashing");
    nn_verify_sha256_final(&s, out_hex);
    return NN_OK;
}

/* ---- byte sources and sinks ------------------------------------------------------- */

/* Where a loader reads from: a memory block, or a seekable file. */
typedef struct nn_verify__src {
    const unsigned char *mem;
    FILE *f;
    size_t size;
    const char *label;
} nn_verify__src;

static int nn_verify__src_read(const nn_verify__src *s, size_t off, void *dst, size_t n) {
    if (off > s->size || n > s->size - off) return 0;
    if (!n) return 1;
    if (s->mem) {
        memcpy(dst, s->mem + off, n);
        return 1;
    }
    if (off > (size_t)LONG_MAX || fseek(s->f, (long)off, SEEK_SET) != 0) return 0;
    return fread(dst, 1, n, s->f) == n;
}

/* Bytes [off, off+n) of s: a pointer into memory sources, else a buffer
   read from the file into *owned (free with nn_free).  NN_ERR_PARSE past
   the end, NN_ERR_IO, NN_ERR_NOMEM. */
static nn_status nn_verify__src_get(const nn_verify__src *s, size_t off, size_t n,
                                    const nn_allocator *alloc, const unsigned char **out,
                                    void **owned, const char *field, nn_diag *diag) {
    *owned = NULL;
    if (off > s->size || n > s->size - off)
        return nn_verify__fail(diag, NN_ERR_PARSE, s->label, field,
                               "%zu bytes at offset %zu run past the end of the %zu-byte file", n, off,
                               s->size);
    if (s->mem) {
        *out = s->mem + off;
        return NN_OK;
    }
    void *buf = nn_alloc(alloc, n);
    if (!buf) return nn_verify__fail(diag, NN_ERR_NOMEM, s->label, field, "out of memory (%zu bytes)", n);
    if (!nn_verify__src_read(s, off, buf, n)) {
        nn_free(alloc, buf);
        return nn_verify__fail(diag, NN_ERR_IO, s->label, field, "read failed");
    }
    *owned = buf;
    *out = (const unsigned char *)buf;
    return NN_OK;
}

static nn_status nn_verify__src_open(nn_verify__src *s, const char *path, nn_diag *diag) {
    long end;
    memset(s, 0, sizeof *s);
    s->label = path;
    s->f = fopen(path, "rb");
    if (!s->f) return nn_verify__fail(diag, NN_ERR_IO, path, NULL, "cannot open for reading");
    if (fseek(s->f, 0, SEEK_END) != 0 || (end = ftell(s->f)) < 0) {
        fclose(s->f);
        s->f = NULL;
        return nn_verify__fail(diag, NN_ERR_IO, path, NULL, "cannot determine the file size");
    }
    s->size = (size_t)end;
    return NN_OK;
}

/* Where a writer's bytes go: a file, a bounded buffer, or nowhere (a size
   and CRC query).  Failures are sticky. */
typedef struct nn_verify__out {
    FILE *f;
    unsigned char *buf;
    size_t cap;
    size_t bytes;
    uint32_t crc;
    int want_crc;
    int failed;
} nn_verify__out;

static void nn_verify__put(nn_verify__out *o, const void *p, size_t n) {
    if (o->failed || !n) return;
    if (o->f) {
        if (fwrite(p, 1, n, o->f) != n) o->failed = 1;
    } else if (o->buf) {
        if (n > o->cap - o->bytes) { o->failed = 1; return; }
        memcpy(o->buf + o->bytes, p, n);
    }
    if (o->want_crc) o->crc = nn_verify_crc32(o->crc, p, n);
    o->bytes += n;
}

/* Finishes a file written to path.tmp: close, then rename over path.  On any
   failure the .tmp file is removed. */
static nn_status nn_verify__commit(FILE *f, int failed, const char *tmp, const char *path,
                                   nn_diag *diag) {
    if (fflush(f) != 0 || ferror(f)) failed = 1;
    if (fclose(f) != 0) failed = 1;
    if (failed) {
        remove(tmp);
        return nn_verify__fail(diag, NN_ERR_IO, path, NULL, "write failed");
    }
    if (rename(tmp, path) != 0) {
        remove(path); /* rename does not replace an existing file on some systems */
        if (rename(tmp, path) != 0) {
            remove(tmp);
            return nn_verify__fail(diag, NN_ERR_IO, path, NULL, "cannot rename %s to it", tmp);
        }
    }
    return NN_OK;
}

/* Opens path.tmp for writing; *out_tmp is allocated (nn_free with NULL). */
static nn_status nn_verify__create_tmp(const char *path, FILE **out_f, char **out_tmp, nn_diag *diag) {
    size_t n = strlen(path);
    char *tmp = (char *)nn_alloc(NULL, n + 5);
    if (!tmp) return nn_verify__fail(diag, NN_ERR_NOMEM, path, NULL, "out of memory");
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    *out_f = fopen(tmp, "wb");
    if (!*out_f) {
        nn_free(NULL, tmp);
        return nn_verify__fail(diag, NN_ERR_IO, path, NULL, "cannot create %s.tmp", path);
    }
    *out_tmp = tmp;
    return NN_OK;
}

/* ---- .npy ---------------------------------------------------------------------- */

/* The .npy format, after NumPy's format specification (numpy.lib.format,
   NEP 1): the magic "\x93NUMPY", a major and minor version byte, the header
   length as little-endian uint16 (1.0) or uint32 (2.0, 3.0), then the header:
   a Python dict literal with keys 'descr', 'fortran_order' and 'shape',
   padded with spaces and ended by '\n' so that the data starts 64-byte
   aligned.  3.0 only allows UTF-8 in the header.  The data follows. */
static const char nn_verify__npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

typedef struct nn_verify__npy_info {
    nn_dtype dtype;
    nn_shape shape;
    size_t count, data_bytes, elem_bytes;
    int swap; /* file byte order differs from the host's */
} nn_verify__npy_info;

typedef struct nn_verify__cur {
    const char *p, *end;
} nn_verify__cur;

static void nn_verify__ws(nn_verify__cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int nn_verify__eat(nn_verify__cur *c, char ch) {
    nn_verify__ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes (none of the values we accept
   needs one). */
static int nn_verify__string(nn_verify__cur *c, const char **s, size_t *n) {
    nn_verify__ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    const char *b = c->p;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || *c->p == '\n') return 0;
        c->p++;
    }
    if (c->p >= c->end) return 0;
    *s = b;
    *n = (size_t)(c->p - b);
    c->p++;
    return 1;
}

static int nn_verify__word(nn_verify__cur *c, const char *w) {
    size_t n = strlen(w);
    nn_verify__ws(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return 0;
    c->p += n;
    return 1;
}

static int nn_verify__is(const char *s, size_t n, const char *lit) {
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* 'shape': a tuple of non-negative integers: (), (3,), (2, 3), (2, 3,).
   A Python 2 long suffix (3L) is accepted. */
static nn_status nn_verify__npy_shape(nn_verify__cur *c, nn_shape *s, const char *label, nn_diag *diag) {
    const char *f = "header.shape";
    int commas = 0;
    memset(s, 0, sizeof *s);
    if (!nn_verify__eat(c, '('))
        return nn_verify__fail(diag, NN_ERR_PARSE, label, f, "expected a tuple such as (2, 3)");
    if (nn_verify__eat(c, ')')) return NN_OK;
    for (;;) {
        int64_t v = 0;
        nn_verify__ws(c);
        if (c->p < c->end && *c->p == '-')
            return nn_verify__fail(diag, NN_ERR_PARSE, label, f, "negative dimension");
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return nn_verify__fail(diag, NN_ERR_PARSE, label, f, "expected a dimension");
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            int d = *c->p++ - '0';
            if (v > (INT64_MAX - d) / 10)
                return nn_verify__fail(diag, NN_ERR_PARSE, label, f, "dimension does not fit 64 bits");
            v = v * 10 + d;
        }
        if (c->p < c->end && *c->p == 'L') c->p++;
        if (s->rank == NN_MAX_RANK)
            return nn_verify__fail(diag, NN_ERR_LIMIT, label, f, "rank above NN_MAX_RANK (%d)", NN_MAX_RANK);
        s->dims[s->rank++] = v;
        if (nn_verify__eat(c, ')')) break;
        if (!nn_verify__eat(c, ','))
            return nn_verify__fail(diag, NN_ERR_PARSE, label, f, "expected ',' or ')'");
        commas++;
        if (nn_verify__eat(c, ')')) break;
    }
    if (s->rank == 1 && commas == 0) /* "(3)" is the integer 3 in Python, not a tuple */
        return nn_verify__fail(diag, NN_ERR_PARSE, label, f, "a 1-d shape is written (n,)");
    return NN_OK;
}

/* Maps a descr such as '<f4' to a dtype and byte order. */
static nn_status nn_verify__npy_descr(const char *s, size_t n, nn_verify__npy_info *info,
                                      const char *label, nn_diag *diag) {
    static const struct { char kind, size; nn_dtype t; } map[] = {
        {'f', 2, NN_DTYPE_FLOAT16}, {'f', 4, NN_DTYPE_FLOAT},  {'f', 8, NN_DTYPE_DOUBLE},
        {'i', 1, NN_DTYPE_INT8},    {'i', 2, NN_DTYPE_INT16},  {'i', 4, NN_DTYPE_INT32},
        {'i', 8, NN_DTYPE_INT64},   {'u', 1, NN_DTYPE_UINT8},  {'u', 2, NN_DTYPE_UINT16},
        {'u', 4, NN_DTYPE_UINT32},  {'u', 8, NN_DTYPE_UINT64}, {'b', 1, NN_DTYPE_BOOL}};
    const char *f = "header.descr";
    info->dtype = NN_DTYPE_UNDEFINED;
    if (n == 3)
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (s[1] == map[i].kind && s[2] - '0' == map[i].size) {
                info->dtype = map[i].t;
                info->elem_bytes = (size_t)map[i].size;
            }
    if (info->dtype == NN_DTYPE_UNDEFINED)
        return nn_verify__fail(diag, NN_ERR_UNSUPPORTED, label, f,
                               "dtype '%.*s' is not supported (f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1 are)",
                               (int)(n < 32 ? n : 32), s);
    int little;
    switch (s[0]) {
    case '<': little = 1; break;
    case '>': little = 0; break;
    case '=': little = nn_verify__host_is_little(); break;
    case '|':
        if (info->elem_bytes > 1)
            return nn_verify__fail(diag, NN_ERR_PARSE, label, f,
                                   "byte order '|' on the multi-byte dtype '%.3s'", s);
        little = 1;
        break;
    default: return nn_verify__fail(diag, NN_ERR_PARSE, label, f, "unknown byte order '%c'", s[0]);
    }
    info->swap = info->elem_bytes > 1 && little != nn_verify__host_is_little();
    return NN_OK;
}

/* Parses the header dict h[0..n) into info. */
static nn_status nn_verify__npy_header(const char *h, size_t n, const char *label,
                                       nn_verify__npy_info *info, nn_diag *diag) {
    nn_verify__cur c;
    const char *descr = NULL, *key;
    size_t descr_len = 0, key_len;
    int have_descr = 0, have_fortran = 0, have_shape = 0, fortran = 0, ok;
    nn_status st;
    c.p = h;
    c.end = h + n;
    memset(info, 0, sizeof *info);
    if (!nn_verify__eat(&c, '{'))
        return nn_verify__fail(diag, NN_ERR_PARSE, label, "header", "does not start with '{'");
    while (!nn_verify__eat(&c, '}')) {
        char field[64];
        if (!nn_verify__string(&c, &key, &key_len))
            return nn_verify__fail(diag, NN_ERR_PARSE, label, "header", "expected a quoted key or '}'");
        snprintf(field, sizeof field, "header.%.*s", (int)(key_len < 40 ? key_len : 40), key);
        if (!nn_verify__eat(&c, ':'))
            return nn_verify__fail(diag, NN_ERR_PARSE, label, field, "expected ':' after the key");
        if (nn_verify__is(key, key_len, "descr") && !have_descr) {
            have_descr = 1;
            nn_verify__ws(&c);
            if (c.p < c.end && *c.p == '[')
                return nn_verify__fail(diag, NN_ERR_UNSUPPORTED, label, field,
                                       "structured dtypes are not supported");
            if (!nn_verify__string(&c, &descr, &descr_len))
                return nn_verify__fail(diag, NN_ERR_PARSE, label, field, "expected a quoted dtype");
        } else if (nn_verify__is(key, key_len, "fortran_order") && !have_fortran) {
            have_fortran = 1;
            if (nn_verify__word(&c, "True")) fortran = 1;
            else if (!nn_verify__word(&c, "False"))
                return nn_verify__fail(diag, NN_ERR_PARSE, label, field, "expected True or False");
        } else if (nn_verify__is(key, key_len, "shape") && !have_shape) {
            have_shape = 1;
            if ((st = nn_verify__npy_shape(&c, &info->shape, label, diag)) != NN_OK) return st;
        } else {
            return nn_verify__fail(diag, NN_ERR_PARSE, label, field, "unknown or repeated key");
        }
        if (!nn_verify__eat(&c, ',')) {
            if (!nn_verify__eat(&c, '}'))
                return nn_verify__fail(diag, NN_ERR_PARSE, label, "header", "expected ',' or '}'");
            break;
        }
    }
    nn_verify__ws(&c);
    if (c.p != c.end)
        return nn_verify__fail(diag, NN_ERR_PARSE, label, "header",
                               "unexpected bytes after the dictionary (only space padding may follow)");
    if (!have_descr || !have_fortran || !have_shape)
        return nn_verify__fail(diag, NN_ERR_PARSE, label, "header", "missing key '%s'",
                               !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    if ((st = nn_verify__npy_descr(descr, descr_len, info, label, diag)) != NN_OK) return st;
    if (fortran)
        return nn_verify__fail(diag, NN_ERR_UNSUPPORTED, label, "header.fortran_order",
                               "fortran_order True is not supported; save a C-ordered array "
                               "(numpy.ascontiguousarray)");
    info->count = nn_shape_count(&info->shape, &ok);
    if (!ok || !nn_size_mul(info->count, info->elem_bytes, &info->data_bytes))
        return nn_verify__fail(diag, NN_ERR_PARSE, label, "header.shape",
                               "the element count overflows size_t");
    return NN_OK;
}

/* Reads the magic, version and header of the .npy in src; *out_data_off is
   where its data starts. */
static nn_status nn_verify__npy_read_header(const nn_verify__src *src, const nn_allocator *alloc,
                                            nn_verify__npy_info *info, size_t *out_data_off,
                                            nn_diag *diag) {
    unsigned char pre[12];
    const char *label = src->label;
    size_t pre_len, hlen;
    const unsigned char *h;
    void *owned;
    nn_status st;
    if (src->size < 10 || !nn_verify__src_read(src, 0, pre, 10))
        return nn_verify__fail(diag, src->size < 10 ? NN_ERR_PARSE : NN_ERR_IO, label, "magic",
                               "too short to be an .npy file");
    if (memcmp(pre, nn_verify__npy_magic, 6) != 0)
        return nn_verify__fail(diag, NN_ERR_PARSE, label, "magic", "not an .npy file (bad magic)");
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0)
        return nn_verify__fail(diag, NN_ERR_UNSUPPORTED, label, "version",
                               ".npy version %u.%u is not supported (1.0, 2.0, 3.0 are)", pre[6], pre[7]);
    if (pre[6] == 1) {
        pre_len = 10;
        hlen = nn_verify__rd16(pre + 8);
    } else {
        if (src->size < 12 || !nn_verify__src_read(src, 10, pre + 10, 2))
            return nn_verify__fail(diag, NN_ERR_PARSE, label, "header_len", "file ends in the preamble");
        pre_len = 12;
        hlen = nn_verify__rd32(pre + 8);
    }
    if (hlen > src->size - pre_len)
        return nn_verify__fail(diag, NN_ERR_PARSE, label, "header_len",
                               "header length %zu runs past the end of the %zu-byte file", hlen, src->size);
    if (hlen > NN_MAX_NPY_HEADER_BYTES)
        return nn_verify__fail(diag, NN_ERR_LIMIT, label, "header_len",
                               "header length %zu above NN_MAX_NPY_HEADER_BYTES (%d)", hlen,
                               NN_MAX_NPY_HEADER_BYTES);
    if ((st = nn_verify__src_get(src, pre_len, hlen, alloc, &h, &owned, "header", diag)) != NN_OK)
        return st;
    st = nn_verify__npy_header((const char *)h, hlen, label, info, diag);
    nn_free(alloc, owned);
    *out_data_off = pre_len + hlen;
    return st;
}

static nn_status nn_verify__npy_load(const nn_verify__src *src, nn_value *out, const nn_allocator *alloc,
                                     nn_diag *diag) {
    nn_verify__npy_info info;
    size_t off = 0;
    nn_status st = nn_verify__npy_read_header(src, alloc, &info, &off, diag);
    if (st) return st;
    if (src->size - off != info.data_bytes)
        return nn_verify__fail(diag, NN_ERR_PARSE, src->label, "data",
                               "%zu data bytes where the header declares %zu", src->size - off,
                               info.data_bytes);
    unsigned char *data = (unsigned char *)nn_alloc(alloc, info.data_bytes);
    if (!data)
        return nn_verify__fail(diag, NN_ERR_NOMEM, src->label, "data", "out of memory (%zu bytes)",
                               info.data_bytes);
    if (!nn_verify__src_read(src, off, data, info.data_bytes)) {
        nn_free(alloc, data);
        return nn_verify__fail(diag, NN_ERR_IO, src->label, "data", "read failed");
    }
    if (info.swap) nn_verify__swap(data, info.count, info.elem_bytes);
    if (info.dtype == NN_DTYPE_BOOL)
        for (size_t i = 0; i < info.count; i++) data[i] = data[i] != 0;
    *out = nn_value_make(info.dtype, info.shape, data);
    return NN_OK;
}

/* A source over caller memory (not retained); label names it in diag. */
static void nn_verify__src_memory(nn_verify__src *src, const void *bytes, size_t size, const char *label) {
    memset(src, 0, sizeof *src);
    src->mem = (const unsigned char *)(bytes ? bytes : "");
    src->size = size;
    src->label = label ? label : "<memory>";
}

NN_API nn_status nn_verify_load_npy_memory(const void *bytes, size_t size, const char *label,
                                           nn_value *out, const nn_allocator *alloc, nn_diag *diag) {
    nn_verify__src src;
    NN_ASSERT(out && (bytes || !size));
    nn_verify__src_memory(&src, bytes, size, label);
    return nn_verify__npy_load(&src, out, alloc, diag);
}

NN_API nn_status nn_verify_load_npy_file(const char *path, nn_value *out, const nn_allocator *alloc,
                                         nn_diag *diag) {
    nn_verify__src src;
    NN_ASSERT(path && out);
    nn_status st = nn_verify__src_open(&src, path, diag);
    if (st) return st;
    st = nn_verify__npy_load(&src, out, alloc, diag);
    fclose(src.f);
    return st;
}

/* The .npy descr of a dtype we can write, or NULL. */
static const char *nn_verify__npy_descr_of(nn_dtype t) {
    switch (t) {
    case NN_DTYPE_FLOAT16: return "<f2";
    case NN_DTYPE_FLOAT: return "<f4";
    case NN_DTYPE_DOUBLE: return "<f8";
    case NN_DTYPE_INT8: return "|i1";
    case NN_DTYPE_INT16: return "<i2";
    case NN_DTYPE_INT32: return "<i4";
    case NN_DTYPE_INT64: return "<i8";
    case NN_DTYPE_UINT8: return "|u1";
    case NN_DTYPE_UINT16: return "<u2";
    case NN_DTYPE_UINT32: return "<u4";
    case NN_DTYPE_UINT64: return "<u8";
    case NN_DTYPE_BOOL: return "|b1";
    default: return NULL;
    }
}

/* Checks that v can be written as .npy; *out_bytes gets its data size. */
static nn_status nn_verify__npy_check(const nn_value *v, const char *label, size_t *out_bytes,
                                      nn_diag *diag) {
    int ok;
    size_t count;
    char sb[96];
    if (!nn_verify__npy_descr_of(v->dtype))
        return nn_verify__fail(diag, NN_ERR_UNSUPPORTED, label, "dtype",
                               ".npy cannot hold %s; convert it (e.g. to float32) first",
                               nn_dtype_name(v->dtype));
    count = nn_shape_count(&v->shape, &ok);
    if (!ok)
        return nn_verify__fail(diag, NN_ERR_SHAPE, label, "shape", "shape %s is not static",
                               nn_shape_str(&v->shape, sb, sizeof sb));
    if (!nn_dtype_bytes_for(v->dtype, count, out_bytes) || v->bytes < *out_bytes ||
        (*out_bytes && !v->data))
        return nn_verify__fail(diag, NN_ERR_INVALID, label, "data",
                               "value holds %zu bytes of data, its shape needs more", v->bytes);
    return NN_OK;
}

/* Emits the .npy of v (checked by nn_verify__npy_check) to o. */
static void nn_verify__npy_emit(const nn_value *v, size_t data_bytes, nn_verify__out *o) {
    char h[384];
    size_t n = 10, es = nn_dtype_size(v->dtype);
    int i;
    /* Preamble: magic, version 1.0, header length filled in below. */
    memcpy(h, nn_verify__npy_magic, 6);
    h[6] = 1;
    h[7] = 0;
    n += (size_t)snprintf(h + n, sizeof h - n, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                          nn_verify__npy_descr_of(v->dtype));
    for (i = 0; i < v->shape.rank; i++)
        n += (size_t)snprintf(h + n, sizeof h - n, "%s%lld", i ? ", " : "", (long long)v->shape.dims[i]);
    n += (size_t)snprintf(h + n, sizeof h - n, "%s), }", v->shape.rank == 1 ? "," : "");
    /* Pad with spaces and end with '\n' so the data starts 64-byte aligned.
       At most 8 dims of 19 digits keep this well inside h (and uint16). */
    while ((n + 1) % 64) h[n++] = ' ';
    h[n++] = '\n';
    nn_verify__wr16((unsigned char *)h + 8, (uint32_t)(n - 10));
    nn_verify__put(o, h, n);
    if (nn_verify__host_is_little() && v->dtype != NN_DTYPE_BOOL) {
        nn_verify__put(o, v->data, data_bytes);
        return;
    }
    /* Big-endian host or bool: convert a chunk at a time. */
    unsigned char chunk[4096];
    const unsigned char *p = (const unsigned char *)v->data;
    for (size_t done = 0; done < data_bytes;) {
        size_t k = data_bytes - done < sizeof chunk ? data_bytes - done : sizeof chunk;
        memcpy(chunk, p + done, k);
        if (v->dtype == NN_DTYPE_BOOL)
            for (size_t j = 0; j < k; j++) chunk[j] = chunk[j] != 0;
        else
            nn_verify__swap(chunk, k / es, es);
        nn_verify__put(o, chunk, k);
        done += k;
    }
}

NN_API nn_status nn_verify_save_npy_memory(const nn_value *v, void *buf, size_t cap, size_t *out_bytes,
                                           nn_diag *diag) {
    nn_verify__out o;
    size_t data_bytes;
    NN_ASSERT(v && out_bytes);
    nn_status st = nn_verify__npy_check(v, "<memory>", &data_bytes, diag);
    if (st) return st;
    memset(&o, 0, sizeof o);
    o.buf = (unsigned char *)buf;
    o.cap = buf ? cap : 0;
    nn_verify__npy_emit(v, data_bytes, &o);
    if (o.failed)
        return nn_verify__fail(diag, NN_ERR_LIMIT, "<memory>", NULL,
                               "the .npy needs %zu bytes, the buffer holds %zu", o.bytes, cap);
    *out_bytes = o.bytes;
    return NN_OK;
}

NN_API nn_status nn_verify_save_npy_file(const char *path, const nn_value *v, nn_diag *diag) {
    nn_verify__out o;
    size_t data_bytes;
    char *tmp;
    NN_ASSERT(path && v);
    nn_status st = nn_verify__npy_check(v, path, &data_bytes, diag);
    if (st) return st;
    memset(&o, 0, sizeof o);
    if ((st = nn_verify__create_tmp(path, &o.f, &tmp, diag)) != NN_OK) return st;
    nn_verify__npy_emit(v, data_bytes, &o);
    st = nn_verify__commit(o.f, o.failed, tmp, path, diag);
    nn_free(NULL, tmp);
    return st;
}

NN_API void nn_verify_value_free(nn_value *v, const nn_allocator *alloc) {
    if (!v) return;
    nn_free(alloc, v->data);
    memset(v, 0, sizeof *v);
}

/* ---- .npz -------------------------------------------------------------------------- */

/* Zip records, after PKWARE's APPNOTE.TXT (6.3.x): local file header
   (4.3.7, 30 bytes + name + extra), central directory header (4.3.12, 46
   bytes + name + extra + comment), end of central directory record
   (4.3.16, 22 bytes + comment).  All integers little-endian.  numpy's
   savez writes each member with a zip64 extra field in its local header
   but true 32-bit sizes everywhere, so only central-directory values that
   defer to zip64 (0xFFFFFFFF) and the zip64 end locator mean zip64. */
#define NN_VERIFY__ZIP_LOCAL 0x04034b50u
#define NN_VERIFY__ZIP_CENTRAL 0x02014b50u
#define NN_VERIFY__ZIP_END 0x06054b50u
#define NN_VERIFY__ZIP64_LOCATOR 0x07064b50u
#define NN_VERIFY__DOS_DATE_1980 0x0021u /* 1980-01-01: day 1, month 1, year 0 */
/* Deflate cannot expand data more than 1032:1 (a 258-byte match in about
   two bits); a member claiming more is corrupt and is refused before its
   buffer is allocated. */
#define NN_VERIFY__DEFLATE_MAX_RATIO 1032u

NN_API void nn_verify_npz_free(nn_verify_npz *z) {
    if (!z) return;
    for (uint32_t i = 0; i < z->count; i++) {
        nn_free(&z->alloc, (void *)(uintptr_t)z->names[i]);
        nn_free(&z->alloc, z->values[i].data);
    }
    nn_free(&z->alloc, (void *)z->names);
    nn_free(&z->alloc, z->values);
    memset(z, 0, sizeof *z);
}

NN_API const nn_value *nn_verify_npz_find(const nn_verify_npz *z, const char *name) {
    for (uint32_t i = 0; i < z->count; i++)
        if (strcmp(z->names[i], name) == 0) return &z->values[i];
    return NULL;
}

/* Finds the end of central directory record: the last 22..65557 bytes,
   scanned backwards for the signature whose comment ends the file. */
static nn_status nn_verify__zip_end(const nn_verify__src *src, const nn_allocator *alloc,
                                    unsigned char *out_end, size_t *out_off, nn_diag *diag) {
    size_t tail = src->size < 22 + 65535 ? src->size : 22 + 65535, base = src->size - tail;
    const unsigned char *t;
    void *owned;
    nn_status st;
    if (src->size < 22)
        return nn_verify__fail(diag, NN_ERR_PARSE, src->label, "end of central directory",
                               "too short to be a zip archive");
    if ((st = nn_verify__src_get(src, base, tail, alloc, &t, &owned, "end of central directory", diag)))
        return st;
    for (size_t i = tail - 22 + 1; i-- > 0;)
        if (nn_verify__rd32(t + i) == NN_VERIFY__ZIP_END && i + 22 + nn_verify__rd16(t + i + 20) == tail) {
            memcpy(out_end, t + i, 22);
            *out_off = base + i;
            nn_free(alloc, owned);
            return NN_OK;
        }
    nn_free(alloc, owned);
    return nn_verify__fail(diag, NN_ERR_PARSE, src->label, "end of central directory",
                           "no end of central directory record: not a zip archive, or truncated");
}

/* One central directory entry, decoded. */
typedef struct nn_verify__zip_entry {
    uint32_t flags, method, crc, csize, usize, local_off;
    const unsigned char *name;
    size_t name_len;
} nn_verify__zip_entry;

/* Decodes the entry at cd[*pos], bounded by cd_size; advances *pos. */
static nn_status nn_verify__zip_entry_at(const nn_verify__src *src, const unsigned char *cd, size_t cd_size,
                                         size_t *pos, nn_verify__zip_entry *e, nn_diag *diag) {
    const unsigned char *p = cd + *pos;
    const char *f = "central directory";
    size_t len;
    if (cd_size - *pos < 46 || nn_verify__rd32(p) != NN_VERIFY__ZIP_CENTRAL)
        return nn_verify__fail(diag, NN_ERR_PARSE, src->label, f, "bad entry at offset %zu", *pos);
    e->flags = nn_verify__rd16(p + 8);
    e->method = nn_verify__rd16(p + 10);
    e->crc = nn_verify__rd32(p + 16);
    e->csize = nn_verify__rd32(p + 20);
    e->usize = nn_verify__rd32(p + 24);
    e->name_len = nn_verify__rd16(p + 28);
    len = 46 + e->name_len + nn_verify__rd16(p + 30) + nn_verify__rd16(p + 32);
    e->local_off = nn_verify__rd32(p + 42);
    e->name = p + 46;
    if (cd_size - *pos < len)
        return nn_verify__fail(diag, NN_ERR_PARSE, src->label, f, "entry at offset %zu runs past the end",
                               *pos);
    *pos += len;
    return NN_OK;
}

/* Inflates the raw deflate stream (RFC 1951) of member e at data_off into
   u, which holds exactly e->usize bytes. */
static nn_status nn_verify__inflate(const nn_verify__src *src, size_t data_off, const nn_verify__zip_entry *e,
                                    const nn_allocator *alloc, const char *where, unsigned char *u,
                                    nn_diag *diag) {
#ifdef NN_VERIFY_NO_ZLIB
    (void)src;
    (void)data_off;
    (void)e;
    (void)alloc;
    (void)u;
    return nn_diag_set(diag, NN_ERR_UNSUPPORTED, where, "deflated member: built with NN_VERIFY_NO_ZLIB");
#else
    nn_status st = NN_OK;
    unsigned char *c;
    if (e->csize > INT_MAX - 8 || e->usize > INT_MAX)
        return nn_diag_set(diag, NN_ERR_LIMIT, where, "deflated member above 2 GiB");
    /* 8 zero bytes follow the stream: stb_image 2.27's decoder wants 16 bits
       of lookahead and fails a stream that ends flush with its input (PNG
       never does: the zlib Adler-32 follows).  Padding cannot turn a bad
       member into a good one: the size and CRC-32 are still checked. */
    c = (unsigned char *)nn_alloc(alloc, (size_t)e->csize + 8);
    if (!c) return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory (%lu bytes)", (unsigned long)e->csize);
    memset(c + e->csize, 0, 8);
    if (!nn_verify__src_read(src, data_off, c, e->csize))
        st = nn_diag_set(diag, NN_ERR_IO, where, "read failed");
    /* The buffer variant cannot write past usize and uses our allocator. */
    else if (stbi_zlib_decode_noheader_buffer((char *)u, (int)e->usize, (const char *)c, (int)e->csize + 8) !=
             (int)e->usize)
        st = nn_diag_set(diag, NN_ERR_PARSE, where, "corrupt deflate data, or not %lu bytes",
                         (unsigned long)e->usize);
    nn_free(alloc, c);
    return st;
#endif
}

/* Reads the member bytes of e (inflated if deflated) into a buffer from
   alloc, after checking sizes and CRC-32.  where names the member. */
static nn_status nn_verify__zip_member(const nn_verify__src *src, const nn_verify__zip_entry *e,
                                       size_t cd_off, const nn_allocator *alloc, const char *where,
                                       unsigned char **out, nn_diag *diag) {
    unsigned char lh[30];
    unsigned char *u;
    size_t data_off;
    nn_status st = NN_OK;
    if (e->flags & 0x41u) /* bit 0: encrypted, bit 6: strong encryption */
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, where, "encrypted members are not supported");
    if (e->csize == 0xFFFFFFFFu || e->usize == 0xFFFFFFFFu || e->local_off == 0xFFFFFFFFu)
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, where, "zip64 archives are not supported");
    if (e->method != 0 && e->method != 8)
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, where,
                           "compression method %u is not supported (stored and deflate are)",
                           (unsigned)e->method);
    if (!nn_verify__src_read(src, e->local_off, lh, 30) || nn_verify__rd32(lh) != NN_VERIFY__ZIP_LOCAL)
        return nn_diag_set(diag, NN_ERR_PARSE, where, "no local file header at offset %lu",
                           (unsigned long)e->local_off);
    data_off = (size_t)e->local_off + 30 + nn_verify__rd16(lh + 26) + nn_verify__rd16(lh + 28);
    if (data_off > cd_off || e->csize > cd_off - data_off)
        return nn_diag_set(diag, NN_ERR_PARSE, where, "member data overlaps the central directory");
    if (e->method == 0 ? e->csize != e->usize
                       : e->usize / NN_VERIFY__DEFLATE_MAX_RATIO > e->csize)
        return nn_diag_set(diag, NN_ERR_PARSE, where, "%lu compressed bytes cannot hold %lu bytes",
                           (unsigned long)e->csize, (unsigned long)e->usize);
    u = (unsigned char *)nn_alloc(alloc, e->usize);
    if (!u) return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory (%lu bytes)", (unsigned long)e->usize);
    if (e->method == 0) {
        if (!nn_verify__src_read(src, data_off, u, e->usize))
            st = nn_diag_set(diag, NN_ERR_IO, where, "read failed");
    } else {
        st = nn_verify__inflate(src, data_off, e, alloc, where, u, diag);
    }
    if (st == NN_OK && nn_verify_crc32(0, u, e->usize) != e->crc)
        st = nn_diag_set(diag, NN_ERR_PARSE, where, "CRC-32 mismatch: the member is corrupt");
    if (st) {
        nn_free(alloc, u);
        return st;
    }
    *out = u;
    return NN_OK;
}

/* Loads entry e into slot z->count of z, named after the member. */
static nn_status nn_verify__npz_add(const nn_verify__src *src, const nn_verify__zip_entry *e, size_t cd_off,
                                    nn_verify_npz *z, nn_diag *diag) {
    char where[192];
    size_t name_len = e->name_len - 4; /* without ".npy" */
    unsigned char *bytes = NULL;
    nn_verify__src msrc;
    nn_status st;
    snprintf(where, sizeof where, "%s: %.*s", src->label, (int)(e->name_len < 120 ? e->name_len : 120),
             (const char *)e->name);
    if (memchr(e->name, 0, e->name_len))
        return nn_diag_set(diag, NN_ERR_PARSE, where, "member name holds a NUL byte");
    char *name = (char *)nn_alloc(&z->alloc, name_len + 1);
    if (!name) return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory");
    memcpy(name, e->name, name_len);
    name[name_len] = 0;
    if (nn_verify_npz_find(z, name)) {
        nn_free(&z->alloc, name);
        return nn_diag_set(diag, NN_ERR_PARSE, where, "a second member with this name");
    }
    if ((st = nn_verify__zip_member(src, e, cd_off, &z->alloc, where, &bytes, diag))) {
        nn_free(&z->alloc, name);
        return st;
    }
    memset(&msrc, 0, sizeof msrc);
    msrc.mem = bytes;
    msrc.size = e->usize;
    msrc.label = where;
    st = nn_verify__npy_load(&msrc, &z->values[z->count], &z->alloc, diag);
    nn_free(&z->alloc, bytes);
    if (st) {
        nn_free(&z->alloc, name);
        return st;
    }
    z->names[z->count++] = name;
    return NN_OK;
}

static nn_status nn_verify__npz_load(const nn_verify__src *src, nn_verify_npz *out, const nn_allocator *alloc,
                                     nn_diag *diag) {
    unsigned char end[22] = {0}, loc[4];
    size_t end_off = 0, cd_off, cd_size, entries, pos = 0;
    const unsigned char *cd;
    void *cd_owned = NULL;
    nn_verify_npz z;
    nn_verify__zip_entry e;
    const char *f = "end of central directory";
    nn_status st = nn_verify__zip_end(src, alloc, end, &end_off, diag);
    if (st) return st;
    memset(&e, 0, sizeof e);
    entries = nn_verify__rd16(end + 10);
    cd_size = nn_verify__rd32(end + 12);
    cd_off = nn_verify__rd32(end + 16);
    if (entries == 0xFFFFu || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu ||
        (end_off >= 20 && nn_verify__src_read(src, end_off - 20, loc, 4) &&
         nn_verify__rd32(loc) == NN_VERIFY__ZIP64_LOCATOR))
        return nn_verify__fail(diag, NN_ERR_UNSUPPORTED, src->label, f, "zip64 archives are not supported");
    if (nn_verify__rd16(end + 4) || nn_verify__rd16(end + 6) || nn_verify__rd16(end + 8) != entries)
        return nn_verify__fail(diag, NN_ERR_UNSUPPORTED, src->label, f,
                               "multi-disk archives are not supported");
    if (cd_off > end_off || cd_size > end_off - cd_off || entries * 46 > cd_size)
        return nn_verify__fail(diag, NN_ERR_PARSE, src->label, f,
                               "central directory (%zu entries, %zu bytes at %zu) does not fit the file",
                               entries, cd_size, cd_off);
    if (entries > NN_MAX_NPZ_MEMBERS)
        return nn_verify__fail(diag, NN_ERR_LIMIT, src->label, f, "%zu members, above NN_MAX_NPZ_MEMBERS",
                               entries);
    memset(&z, 0, sizeof z);
    if (alloc) z.alloc = *alloc;
    z.names = (const char **)nn_alloc(&z.alloc, entries * sizeof(char *));
    z.values = (nn_value *)nn_alloc(&z.alloc, entries * sizeof(nn_value));
    if (!z.names || !z.values) {
        st = nn_verify__fail(diag, NN_ERR_NOMEM, src->label, f, "out of memory");
        goto fail;
    }
    if ((st = nn_verify__src_get(src, cd_off, cd_size, &z.alloc, &cd, &cd_owned, "central directory", diag)))
        goto fail;
    for (size_t i = 0; i < entries; i++) {
        if ((st = nn_verify__zip_entry_at(src, cd, cd_size, &pos, &e, diag))) goto fail;
        if (e.name_len < 4 || memcmp(e.name + e.name_len - 4, ".npy", 4) != 0) {
            z.skipped_count++; /* a directory or a file numpy would not return as an array */
            continue;
        }
        if ((st = nn_verify__npz_add(src, &e, cd_off, &z, diag))) goto fail;
    }
    nn_free(&z.alloc, cd_owned);
    *out = z;
    return NN_OK;
fail:
    nn_free(&z.alloc, cd_owned);
    nn_verify_npz_free(&z);
    return st;
}

NN_API nn_status nn_verify_load_npz_memory(const void *bytes, size_t size, const char *label,
                                           nn_verify_npz *out, const nn_allocator *alloc, nn_diag *diag) {
    nn_verify__src src;
    NN_ASSERT(out && (bytes || !size));
    nn_verify__src_memory(&src, bytes, size, label);
    return nn_verify__npz_load(&src, out, alloc, diag);
}

NN_API nn_status nn_verify_load_npz_file(const char *path, nn_verify_npz *out, const nn_allocator *alloc,
                                         nn_diag *diag) {
    nn_verify__src src;
    NN_ASSERT(path && out);
    nn_status st = nn_verify__src_open(&src, path, diag);
    if (st) return st;
    st = nn_verify__npz_load(&src, out, alloc, diag);
    fclose(src.f);
    return st;
}

/* What the central directory needs to know about a written member. */
typedef struct nn_verify__zip_rec {
    uint32_t crc, size, off;
} nn_verify__zip_rec;

/* Zip name flags: bit 11 marks a UTF-8 name (APPNOTE 4.4.4). */
static uint32_t nn_verify__zip_name_flags(const char *name) {
    for (; *name; name++)
        if ((unsigned char)*name >= 0x80) return 1u << 11;
    return 0;
}

/* The fields local and central headers share, from "version needed" on:
   version, flags, method 0, DOS time 00:00, date 1980-01-01, CRC, sizes,
   name length, extra length 0. */
static void nn_verify__zip_common(unsigned char *p, const char *name, const nn_verify__zip_rec *r) {
    nn_verify__wr16(p, 20);
    nn_verify__wr16(p + 2, nn_verify__zip_name_flags(name));
    nn_verify__wr16(p + 4, 0);
    nn_verify__wr16(p + 6, 0);
    nn_verify__wr16(p + 8, NN_VERIFY__DOS_DATE_1980);
    nn_verify__wr32(p + 10, r->crc);
    nn_verify__wr32(p + 14, r->size);
    nn_verify__wr32(p + 18, r->size);
    nn_verify__wr16(p + 22, (uint32_t)strlen(name) + 4);
    nn_verify__wr16(p + 24, 0);
}

static nn_status nn_verify__npz_check(const char *path, const char *const *names, const nn_value *values,
                                      uint32_t count, nn_diag *diag) {
    size_t bytes;
    if (count > NN_MAX_NPZ_MEMBERS)
        return nn_verify__fail(diag, NN_ERR_LIMIT, path, NULL, "%u members, above NN_MAX_NPZ_MEMBERS",
                               (unsigned)count);
    for (uint32_t i = 0; i < count; i++) {
        nn_status st;
        NN_ASSERT(names[i]);
        if (strlen(names[i]) > 65535 - 4)
            return nn_verify__fail(diag, NN_ERR_LIMIT, path, NULL, "member %u: name too long", (unsigned)i);
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return nn_verify__fail(diag, NN_ERR_ARG, path, names[i], "two members with this name");
        if ((st = nn_verify__npy_check(&values[i], path, &bytes, diag)) != NN_OK) return st;
    }
    return NN_OK;
}

/* Writes one stored member: size and CRC come from a dry run of the
   serialiser, so the local header is right the first time (no data
   descriptor is needed). */
static nn_status nn_verify__npz_member(nn_verify__out *o, const char *path, const char *name,
                                       const nn_value *v, nn_verify__zip_rec *r, nn_diag *diag) {
    nn_verify__out dry;
    unsigned char h[30];
    size_t data_bytes;
    nn_verify__npy_check(v, path, &data_bytes, NULL);
    memset(&dry, 0, sizeof dry);
    dry.want_crc = 1;
    nn_verify__npy_emit(v, data_bytes, &dry);
    if (dry.bytes >= 0xFFFFFFFFu || o->bytes >= 0xFFFFFFFFu)
        return nn_verify__fail(diag, NN_ERR_LIMIT, path, name, "member or archive above 4 GiB needs zip64");
    r->crc = dry.crc;
    r->size = (uint32_t)dry.bytes;
    r->off = (uint32_t)o->bytes;
    nn_verify__wr32(h, NN_VERIFY__ZIP_LOCAL);
    nn_verify__zip_common(h + 4, name, r);
    nn_verify__put(o, h, 30);
    nn_verify__put(o, name, strlen(name));
    nn_verify__put(o, ".npy", 4);
    nn_verify__npy_emit(v, data_bytes, o);
    return NN_OK;
}

static void nn_verify__npz_directory(nn_verify__out *o, const char *const *names, const nn_verify__zip_rec *recs,
                                     uint32_t count) {
    unsigned char h[46];
    size_t cd_off = o->bytes;
    for (uint32_t i = 0; i < count; i++) {
        nn_verify__wr32(h, NN_VERIFY__ZIP_CENTRAL);
        nn_verify__wr16(h + 4, 20); /* made by: MS-DOS attributes, spec 2.0 */
        nn_verify__zip_common(h + 6, names[i], &recs[i]);
        nn_verify__wr16(h + 32, 0); /* comment length */
        nn_verify__wr16(h + 34, 0); /* disk */
        nn_verify__wr16(h + 36, 0); /* internal attributes */
        nn_verify__wr32(h + 38, 0); /* external attributes */
        nn_verify__wr32(h + 42, recs[i].off);
        nn_verify__put(o, h, 46);
        nn_verify__put(o, names[i], strlen(names[i]));
        nn_verify__put(o, ".npy", 4);
    }
    nn_verify__wr32(h, NN_VERIFY__ZIP_END);
    nn_verify__wr16(h + 4, 0);
    nn_verify__wr16(h + 6, 0);
    nn_verify__wr16(h + 8, count);
    nn_verify__wr16(h + 10, count);
    nn_verify__wr32(h + 12, (uint32_t)(o->bytes - cd_off));
    nn_verify__wr32(h + 16, (uint32_t)cd_off);
    nn_verify__wr16(h + 20, 0);
    nn_verify__put(o, h, 22);
}

NN_API nn_status nn_verify_save_npz_file(const char *path, const char *const *names, const nn_value *values,
                                         uint32_t count, nn_diag *diag) {
    nn_verify__out o;
    nn_verify__zip_rec *recs;
    char *tmp;
    nn_status st;
    NN_ASSERT(path && (count == 0 || (names && values)));
    if ((st = nn_verify__npz_check(path, names, values, count, diag)) != NN_OK) return st;
    recs = (nn_verify__zip_rec *)nn_alloc(NULL, (count + 1) * sizeof *recs);
    if (!recs) return nn_verify__fail(diag, NN_ERR_NOMEM, path, NULL, "out of memory");
    memset(&o, 0, sizeof o);
    if ((st = nn_verify__create_tmp(path, &o.f, &tmp, diag)) != NN_OK) {
        nn_free(NULL, recs);
        return st;
    }
    for (uint32_t i = 0; i < count && st == NN_OK; i++)
        st = nn_verify__npz_member(&o, path, names[i], &values[i], &recs[i], diag);
    /* The central directory's offset and size must fit 32 bits below the
       zip64 marker 0xFFFFFFFF. */
    size_t cd_bytes = 0;
    for (uint32_t i = 0; i < count; i++) cd_bytes += 46 + strlen(names[i]) + 4;
    if (st == NN_OK && (o.bytes >= 0xFFFFFFFFu || cd_bytes >= 0xFFFFFFFFu))
        st = nn_verify__fail(diag, NN_ERR_LIMIT, path, NULL, "archive above 4 GiB needs zip64");
    if (st == NN_OK) nn_verify__npz_directory(&o, names, recs, count);
    if (st == NN_OK) st = nn_verify__commit(o.f, o.failed, tmp, path, diag);
    else {
        fclose(o.f);
        remove(tmp);
    }
    nn_free(NULL, tmp);
    nn_free(NULL, recs);
    return st;
}

/* ---- layer tables ---------------------------------------------------------------- */

NN_API int nn_verify_write_file(void *user, const char *text, size_t bytes) {
    return fwrite(text, 1, bytes, (FILE *)user) != bytes;
}

NN_API void nn_verify_table_init(nn_verify_table *t, const nn_allocator *alloc) {
    memset(t, 0, sizeof *t);
    nn_arena_init(&t->arena, alloc);
}

NN_API void nn_verify_table_deinit(nn_verify_table *t) {
    if (!t) return;
    nn_free(&t->arena.alloc, t->rows);
    nn_arena_deinit(&t->arena);
    memset(t, 0, sizeof *t);
}

NN_API nn_status nn_verify_table_add(nn_verify_table *t, const char *name, const char *op, nn_dtype dtype,
                                     const nn_shape *shape, const nn_verify_stats *stats, nn_diag *diag) {
    nn_verify_row *r;
    NN_ASSERT(t && stats);
    if (!name) name = "";
    if (!op) op = "";
    if (t->row_count == t->row_cap) {
        uint32_t cap = t->row_cap ? t->row_cap * 2 : 32;
        size_t bytes;
        if (cap < t->row_cap || !nn_size_mul(cap, sizeof *r, &bytes))
            return nn_diag_set(diag, NN_ERR_LIMIT, name, "too many table rows");
        nn_verify_row *rows = (nn_verify_row *)nn_alloc(&t->arena.alloc, bytes);
        if (!rows) return nn_diag_set(diag, NN_ERR_NOMEM, name, "out of memory");
        if (t->row_count) memcpy(rows, t->rows, t->row_count * sizeof *r);
        nn_free(&t->arena.alloc, t->rows);
        t->rows = rows;
        t->row_cap = cap;
    }
    r = &t->rows[t->row_count];
    memset(r, 0, sizeof *r);
    r->name = nn_arena_strdup(&t->arena, name, strlen(name));
    r->op = nn_arena_strdup(&t->arena, op, strlen(op));
    if (!r->name || !r->op) return nn_diag_set(diag, NN_ERR_NOMEM, name, "out of memory");
    r->dtype = dtype;
    if (shape) r->shape = *shape;
    r->stats = *stats;
    t->row_count++;
    return NN_OK;
}

NN_API nn_status nn_verify_table_add_compare(nn_verify_table *t, const char *name, const char *op,
                                             const nn_value *ref, const nn_value *got,
                                             const nn_verify_desc *desc, nn_diag *diag) {
    nn_verify_stats s;
    nn_status st = nn_verify_compare(ref, got, desc, &s, diag);
    if (st) return st;
    return nn_verify_table_add(t, name, op, got->dtype, &got->shape, &s, diag);
}

/* Buffered output through a nn_verify_write_fn. */
typedef struct nn_verify__text {
    nn_verify_write_fn write;
    void *user;
    char buf[1024];
    size_t n;
    int failed;
} nn_verify__text;

static void nn_verify__flush(nn_verify__text *w) {
    if (!w->failed && w->n && w->write(w->user, w->buf, w->n) != 0) w->failed = 1;
    w->n = 0;
}

static void nn_verify__emit(nn_verify__text *w, const char *s, size_t n) {
    while (n) {
        size_t k = sizeof w->buf - w->n < n ? sizeof w->buf - w->n : n;
        memcpy(w->buf + w->n, s, k);
        w->n += k;
        s += k;
        n -= k;
        if (w->n == sizeof w->buf) nn_verify__flush(w);
    }
}

static void nn_verify__emitf(nn_verify__text *w, const char *fmt, ...) NN_VERIFY__PRINTF(2, 3);
static void nn_verify__emitf(nn_verify__text *w, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) nn_verify__emit(w, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static nn_status nn_verify__text_done(nn_verify__text *w, nn_diag *diag) {
    nn_verify__flush(w);
    return w->failed ? nn_diag_set(diag, NN_ERR_IO, "table", "the write callback failed") : NN_OK;
}

/* Formats v right-aligned in width with fmt, spelling non-finite values
   the same on every C library. */
static const char *nn_verify__num(char *buf, size_t n, const char *fmt, double v) {
    if (isnan(v)) snprintf(buf, n, "nan");
    else if (isinf(v)) snprintf(buf, n, v > 0 ? "inf" : "-inf");
    else snprintf(buf, n, fmt, v);
    return buf;
}

/* The last width-1 characters of s, marked with '~' when cut. */
static void nn_verify__tail(char *out, size_t width, const char *s) {
    size_t n = strlen(s);
    if (n < width) memcpy(out, s, n + 1);
    else {
        out[0] = '~';
        memcpy(out + 1, s + n - (width - 2), width - 1);
    }
}

NN_API nn_status nn_verify_table_print(const nn_verify_table *t, nn_verify_write_fn write, void *user,
                                       nn_diag *diag) {
    nn_verify__text w;
    char name[33], op[17], shape[96], shp[19], a[8][32];
    memset(&w, 0, sizeof w);
    w.write = write;
    w.user = user;
    nn_verify__emitf(&w, "%4s  %-32s %-16s %-8s %-18s %9s %8s %10s %10s %10s %10s %10s %8s\n", "#", "name", "op",
                     "dtype", "shape", "cosine", "sqnr_db", "mse", "max_abs", "mean_abs", "max_rel",
                     "max_ref", "beyond");
    for (uint32_t i = 0; i < t->row_count; i++) {
        const nn_verify_row *r = &t->rows[i];
        const nn_verify_stats *s = &r->stats;
        nn_verify__tail(name, sizeof name, r->name);
        nn_verify__tail(op, sizeof op, r->op);
        nn_verify__tail(shp, sizeof shp, nn_shape_str(&r->shape, shape, sizeof shape));
        nn_verify__emitf(&w, "%4u  %-32s %-16s %-8s %-18s %9s %8s %10s %10s %10s %10s %10s %8zu\n", (unsigned)i,
                         name, op, nn_dtype_name(r->dtype), shp,
                         nn_verify__num(a[0], sizeof a[0], "%.6f", s->cosine),
                         nn_verify__num(a[1], sizeof a[1], "%.2f", s->sqnr_db),
                         nn_verify__num(a[2], sizeof a[2], "%.3e", s->mse),
                         nn_verify__num(a[3], sizeof a[3], "%.3e", s->max_abs_err),
                         nn_verify__num(a[4], sizeof a[4], "%.3e", s->mean_abs_err),
                         nn_verify__num(a[5], sizeof a[5], "%.3e", s->max_rel_err),
                         nn_verify__num(a[6], sizeof a[6], "%.3e", s->max_abs_ref), s->beyond_tol_count);
    }
    return nn_verify__text_done(&w, diag);
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 (RFC 3629: no
   overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t nn_verify__utf8_len(const unsigned char *s, size_t n) {
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) { len = 2; cp = s[0] & 0x1Fu; }
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) { len = 3; cp = s[0] & 0x0Fu; }
    else if (s[0] >= 0xF0 && s[0] <= 0xF4) { len = 4; cp = s[0] & 0x07u; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

/* A JSON string literal (RFC 8259 section 7). */
static void nn_verify__json_str(nn_verify__text *w, const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    nn_verify__emit(w, "\"", 1);
    while (n) {
        size_t k = nn_verify__utf8_len(s, n);
        if (k == 0) {
            nn_verify__emit(w, "\\ufffd", 6);
            k = 1;
        } else if (*s == '"' || *s == '\\') {
            nn_verify__emit(w, "\\", 1);
            nn_verify__emit(w, (const char *)s, 1);
        } else if (*s < 0x20) {
            static const char short_esc[] = "btn\0fr"; /* \b \t \n (\v) \f \r */
            if (*s >= 8 && *s <= 13 && *s != 11) nn_verify__emitf(w, "\\%c", short_esc[*s - 8]);
            else nn_verify__emitf(w, "\\u%04x", *s);
        } else {
            nn_verify__emit(w, (const char *)s, k);
        }
        s += k;
        n -= k;
    }
    nn_verify__emit(w, "\"", 1);
}

static void nn_verify__json_num(nn_verify__text *w, const char *key, double v) {
    if (isnan(v)) nn_verify__emitf(w, ", \"%s\": \"nan\"", key);
    else if (isinf(v)) nn_verify__emitf(w, ", \"%s\": \"%s\"", key, v > 0 ? "inf" : "-inf");
    else nn_verify__emitf(w, ", \"%s\": %.17g", key, v);
}

NN_API nn_status nn_verify_table_write_json(const nn_verify_table *t, nn_verify_write_fn write, void *user,
                                            nn_diag *diag) {
    nn_verify__text w;
    memset(&w, 0, sizeof w);
    w.write = write;
    w.user = user;
    nn_verify__emitf(&w, "{\"rows\": [");
    for (uint32_t i = 0; i < t->row_count; i++) {
        const nn_verify_row *r = &t->rows[i];
        const nn_verify_stats *s = &r->stats;
        nn_verify__emitf(&w, "%s\n  {\"index\": %u, \"name\": ", i ? "," : "", (unsigned)i);
        nn_verify__json_str(&w, r->name);
        nn_verify__emit(&w, ", \"op\": ", 8);
        nn_verify__json_str(&w, r->op);
        nn_verify__emitf(&w, ", \"dtype\": \"%s\", \"shape\": [", nn_dtype_name(r->dtype));
        for (int32_t d = 0; d < r->shape.rank; d++)
            nn_verify__emitf(&w, "%s%lld", d ? ", " : "", (long long)r->shape.dims[d]);
        nn_verify__emitf(&w, "], \"count\": %zu", s->count);
        nn_verify__json_num(&w, "cosine", s->cosine);
        nn_verify__json_num(&w, "mse", s->mse);
        nn_verify__json_num(&w, "sqnr_db", s->sqnr_db);
        nn_verify__json_num(&w, "max_abs_err", s->max_abs_err);
        nn_verify__json_num(&w, "mean_abs_err", s->mean_abs_err);
        nn_verify__json_num(&w, "max_rel_err", s->max_rel_err);
        nn_verify__json_num(&w, "max_abs_ref", s->max_abs_ref);
        nn_verify__json_num(&w, "max_abs_got", s->max_abs_got);
        nn_verify__emitf(&w, ", \"worst_index\": %zu, \"beyond_tol_count\": %zu, \"nonfinite_count\": %zu",
                         s->worst_index, s->beyond_tol_count, s->nonfinite_count);
        nn_verify__emitf(&w, ", \"allclose\": %s", s->allclose ? "true" : "false");
        nn_verify__json_num(&w, "rtol", s->rtol);
        nn_verify__json_num(&w, "atol", s->atol);
        nn_verify__emit(&w, "}", 1);
    }
    nn_verify__emitf(&w, "%s]}\n", t->row_count ? "\n" : "");
    return nn_verify__text_done(&w, diag);
}

#endif /* NN_VERIFY_IMPLEMENTATION_DONE */
#endif /* NN_IMPLEMENTATION || NN_VERIFY_IMPLEMENTATION */

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
