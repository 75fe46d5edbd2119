/* nn_onnx.h - ONNX models (ModelProto) and tensors (TensorProto .pb files)
   in and out of nnport's nn_graph, through nanopb's wire-level API.
   Version 0.1.0.

   The reader walks the protobuf wire format with hand-written field numbers
   from onnx.proto (one parse function per schema object, no generated
   code) and builds an nn_graph through the nn_graph.h build API.  Weights
   are not copied: load_file maps the model read-only-private and points
   each initializer into the mapping.  The writer emits deterministic bytes
   (initializers as little-endian raw_data, nodes in graph order).

   BUILD
     In exactly one C or C++ file:
         #define NN_IMPLEMENTATION       (or NN_ONNX_IMPLEMENTATION together
         #include "nn_graph.h"            with NN_GRAPH_IMPLEMENTATION)
         #include "nn_onnx.h"
     Link with -lprotobuf-nanopb (nanopb 0.4.x, built with its defaults:
     error messages on, callbacks on).  Little-endian hosts only (ONNX
     raw_data is little-endian and is lent to kernels as is).

   CONFIG MACROS (define before the implementation include)
     NN_ONNX_MAX_NAME      4096     bytes in a tensor, node, op or domain name
     NN_ONNX_MAX_IO        4096     inputs or outputs of one node
     NN_ONNX_MAX_ATTRS     1024     attributes of one node
     NN_ONNX_MAX_ELEMS     1<<26    elements of one ints/floats/strings attribute
     NN_ONNX_MAX_COUNT     1<<24    nodes, initializers, inputs ... of one graph
     NN_ONNX_MAX_FILES     256      distinct external data files of one model
     NN_ONNX_NO_MMAP       read files into memory instead of mapping them

   QUICK START
       nn_graph *g;
       nn_diag d = {0};
       if (nn_onnx_load_file("model.onnx", NULL, &g, &d) != NN_OK) {
           fprintf(stderr, "%s: %s\n", d.where, d.message);
           return 1;
       }
       nn_value x;                       // input_0.pb of an ONNX test case
       nn_onnx_load_tensor_file("input_0.pb", &x, NULL, &d);
       ... run g with nn_exec (nn_graph.h) ...
       nn_onnx_save_file(g, "copy.onnx", NULL, &d);
       nn_onnx_free_value(&x, NULL);
       nn_graph_destroy(g);

   OWNERSHIP  The graph owns everything it needs.  With load_file the graph
     keeps the file mapping (and any external data mappings) alive through
     nn_graph_set_release; initializers carry NN_TENSOR_BORROWED when they
     point into a mapping.  load_memory lends weights from the caller's
     buffer: keep it alive as long as the graph, or set desc.copy_weights.
     Tensor values from load_tensor_file are freed with nn_onnx_free_value.
   ERRORS  Every function returns nn_status and fills nn_diag (first error
     wins).  Bytes that are not valid protobuf (truncation, bad wire types,
     field number 0) give NN_ERR_PARSE with diag.where naming the field path,
     e.g. "graph.node[12].attribute[3].t.dims".  Inconsistent data (sizes
     that do not match dims x type, undefined names, cycles, external data
     leaving the model folder) gives NN_ERR_INVALID; valid ONNX this build
     cannot represent (string tensors, sparse initializers, sequence / map /
     optional graph inputs and outputs, attribute references of functions)
     gives NN_ERR_UNSUPPORTED; caps give NN_ERR_LIMIT.
   MEMORY  The file is mapped MAP_PRIVATE.  Peak memory of a load is the
     file plus the IR: weights are neither copied nor decoded when stored
     as raw_data (or packed float_data / double_data) -- see
     nn_onnx__place for how misaligned raw_data is aligned in place.
   THREADS  No global state; distinct calls may run concurrently.
   LIMITS  Untrusted files are checked field by field: every length against
     the bytes left, every count and string length against NN_ONNX_MAX_*,
     ranks against NN_MAX_RANK, subgraph nesting against NN_MAX_DEPTH, and
     every size computation for overflow.  Unknown fields are skipped.
     Model-local functions, training info and metadata are not kept.
     Attributes of types the IR cannot hold (tensors, sparse tensors, type
     protos) are kept by name and type only and are not written back.
*/
#ifndef NN_ONNX_H
#define NN_ONNX_H

#include "nn_graph.h"

#define NN_ONNX_VERSION_MAJOR 0
#define NN_ONNX_VERSION_MINOR 1
#define NN_ONNX_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* Options of the model readers; all zero means defaults. */
typedef struct nn_onnx_desc {
    nn_allocator alloc;     /* graph memory; zero: NN_MALLOC / NN_FREE */
    int copy_weights;       /* 1: copy every initializer into the graph's arena
                               (no mapping or caller buffer is kept) */
    const char *base_dir;   /* load_memory: folder external data is relative
                               to; NULL refuses external data */
    int skip_value_info;    /* 1: ignore graph.value_info shapes */
} nn_onnx_desc;

/* Options of the model writers; all zero means defaults. */
typedef struct nn_onnx_save_desc {
    nn_allocator alloc;          /* save_memory's result; zero: NN_MALLOC */
    int64_t ir_version;          /* 0: the graph's, at least 4 */
    const char *producer_name;   /* NULL: the graph's, else "nnport" */
    const char *producer_version;/* NULL: the graph's */
} nn_onnx_save_desc;

/* -- load -- */

/* Maps the file at path and builds *out from its ModelProto.  Graph inputs
   that are also initializers become constants; Constant nodes holding
   value / value_float(s) / value_int(s) become initializers.  External
   data is resolved in the model's folder.  On failure *out is untouched.
   NN_ERR_IO, NN_ERR_PARSE, NN_ERR_INVALID, NN_ERR_UNSUPPORTED,
   NN_ERR_LIMIT, NN_ERR_NOMEM. */
NN_API nn_status nn_onnx_load_file(const char *path, const nn_onnx_desc *desc, nn_graph **out,
                                   nn_diag *diag);
/* As load_file from bytes in memory.  Aligned weights are lent from data
   (which must outlive the graph) unless desc->copy_weights; misaligned
   ones are copied.  External data needs desc->base_dir. */
NN_API nn_status nn_onnx_load_memory(const void *data, size_t bytes, const nn_onnx_desc *desc,
                                     nn_graph **out, nn_diag *diag);

/* Reads one serialized TensorProto (input_0.pb ... of the ONNX test layout)
   into *out, data allocated with alloc (NULL: NN_MALLOC); free it with
   nn_onnx_free_value.  SequenceProto / OptionalProto files and string
   tensors give NN_ERR_UNSUPPORTED.  load_tensor_memory also returns the
   tensor's name in out_name when not NULL (truncated to name_bytes - 1). */
NN_API nn_status nn_onnx_load_tensor_file(const char *path, nn_value *out, const nn_allocator *alloc,
                                          nn_diag *diag);
NN_API nn_status nn_onnx_load_tensor_memory(const void *data, size_t bytes, nn_value *out,
                                            char *out_name, size_t name_bytes,
                                            const nn_allocator *alloc, nn_diag *diag);
/* Frees a value from load_tensor_* (alloc as given there) and clears it. */
NN_API void nn_onnx_free_value(nn_value *v, const nn_allocator *alloc);

/* -- save -- */

/* Writes g as a ModelProto to path (through path.tmp and a rename, so a
   failure never leaves half a file).  Deterministic: the same graph gives
   the same bytes.  NN_ERR_IO, NN_ERR_INVALID (a tensor without data or
   type), NN_ERR_NOMEM. */
NN_API nn_status nn_onnx_save_file(const nn_graph *g, const char *path, const nn_onnx_save_desc *desc,
                                   nn_diag *diag);
/* As save_file into memory: *out_data (allocated with desc->alloc, free
   with nn_free) holds *out_bytes bytes. */
NN_API nn_status nn_onnx_save_memory(const nn_graph *g, const nn_onnx_save_desc *desc, void **out_data,
                                     size_t *out_bytes, nn_diag *diag);
/* Writes v as a TensorProto .pb file named name (may be NULL). */
NN_API nn_status nn_onnx_save_tensor_file(const char *path, const nn_value *v, const char *name,
                                          nn_diag *diag);

#ifdef __cplusplus
}
#endif
#endif /* NN_ONNX_H */

/* ===================== end of API: implementation below ===================== */

#if defined(NN_IMPLEMENTATION) || defined(NN_ONNX_IMPLEMENTATION)
#ifndef NN_ONNX_IMPLEMENTATION_DONE
#define NN_ONNX_IMPLEMENTATION_DONE

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pb_decode.h>
#include <pb_encode.h>

#if !defined(NN_ONNX_NO_MMAP) && (defined(__unix__) || defined(__APPLE__))
#define NN_ONNX__MMAP 1
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#ifndef NN_ONNX_MAX_NAME
#define NN_ONNX_MAX_NAME 4096
#endif
#ifndef NN_ONNX_MAX_IO
#define NN_ONNX_MAX_IO 4096
#endif
#ifndef NN_ONNX_MAX_ATTRS
#define NN_ONNX_MAX_ATTRS 1024
#endif
#ifndef NN_ONNX_MAX_ELEMS
#define NN_ONNX_MAX_ELEMS (1u << 26)
#endif
#ifndef NN_ONNX_MAX_COUNT
#define NN_ONNX_MAX_COUNT (1u << 24)
#endif
#ifndef NN_ONNX_MAX_FILES
#define NN_ONNX_MAX_FILES 256
#endif

#define NN_ONNX__PATH_BYTES 192 /* the size of nn_diag.where */
#define NN_ONNX__SLOTS 4        /* NUL-terminated name copies alive at once */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- wire reading: spans, streams, scalar fields ------------------------------ */

/* A run of bytes inside the model buffer (never NULL, possibly empty). */
typedef struct nn_onnx__span { const uint8_t *p; size_t n; } nn_onnx__span;

/* A nanopb buffer stream plus its end, so that the read position is
   end - bytes_left without looking into the stream's private state. */
typedef struct nn_onnx__rd {
    pb_istream_t s;
    const uint8_t *end;
    const uint8_t *field_start; /* where the last tag began */
} nn_onnx__rd;

typedef struct nn_onnx__map { void *addr; size_t bytes; char *key; int mapped; } nn_onnx__map;

/* The buffers a loaded graph borrows weights from; freed by its release. */
typedef struct nn_onnx__maps {
    nn_allocator alloc;
    nn_onnx__map *items;
    uint32_t count, cap;
} nn_onnx__maps;

typedef struct nn_onnx__ctx {
    nn_diag *diag;
    nn_allocator alloc;
    int writable;        /* the model bytes are a private mapping we may write */
    int copy_weights;
    int skip_value_info;
    const char *dir;     /* external data folder, or NULL */
    nn_onnx__maps *maps;
    size_t lent;         /* tensors pointing into a mapping or caller buffer */
    char path[NN_ONNX__PATH_BYTES];
    size_t path_len;
    char *slot[NN_ONNX__SLOTS];
    size_t slot_cap[NN_ONNX__SLOTS];
} nn_onnx__ctx;

static const uint8_t nn_onnx__empty[1] = {0};

static nn_onnx__span nn_onnx__span_make(const void *p, size_t n) {
    nn_onnx__span s;
    s.p = p ? (const uint8_t *)p : nn_onnx__empty;
    s.n = p ? n : 0;
    return s;
}

static int nn_onnx__span_eq(nn_onnx__span s, const char *lit) {
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static nn_onnx__rd nn_onnx__rd_make(nn_onnx__span sp) {
    nn_onnx__rd r;
    r.s = pb_istream_from_buffer(sp.p, sp.n);
    r.end = sp.p + sp.n;
    r.field_start = sp.p;
    return r;
}

static const uint8_t *nn_onnx__rd_pos(const nn_onnx__rd *r) { return r->end - r->s.bytes_left; }

/* Appends a segment ("graph", ".node[3]") to the field path; returns the
   length to restore with nn_onnx__pop. */
static size_t nn_onnx__push(nn_onnx__ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static size_t nn_onnx__push(nn_onnx__ctx *c, const char *fmt, ...) {
    size_t mark = c->path_len;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(c->path + mark, sizeof c->path - mark, fmt, ap);
    va_end(ap);
    if (w > 0) c->path_len = mark + (size_t)w < sizeof c->path ? mark + (size_t)w : sizeof c->path - 1;
    return mark;
}

static void nn_onnx__pop(nn_onnx__ctx *c, size_t mark) {
    c->path_len = mark;
    c->path[mark] = 0;
}

/* Records an error at the current path (plus ".field" when given). */
static nn_status nn_onnx__fail(nn_onnx__ctx *c, nn_status s, const char *field, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static nn_status nn_onnx__fail(nn_onnx__ctx *c, nn_status s, const char *field, const char *fmt, ...) {
    char where[NN_ONNX__PATH_BYTES], msg[256];
    va_list ap;
    size_t n = c->path_len, f = field ? strlen(field) : 0;
    if (!c->diag || c->diag->status != NN_OK) return s;
    memcpy(where, c->path, n); /* path, then ".field", cut to fit */
    if (f && n && n + 1 < sizeof where) where[n++] = '.';
    if (f > sizeof where - 1 - n) f = sizeof where - 1 - n;
    memcpy(where + n, field ? field : "", f);
    where[n + f] = 0;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn_diag_set(c->diag, s, where, "%s", msg);
}

/* An error from nn_graph.h (reported into tmp) re-reported at our path. */
static nn_status nn_onnx__relay(nn_onnx__ctx *c, nn_status s, const nn_diag *tmp, const char *field) {
    return nn_onnx__fail(c, s, field, "%s", tmp->message);
}

static nn_status nn_onnx__perr(nn_onnx__ctx *c, nn_onnx__rd *r, const char *field) {
    return nn_onnx__fail(c, NN_ERR_PARSE, field, "truncated or malformed protobuf (%s)", PB_GET_ERROR(&r->s));
}

/* Reads the next tag: 1 with *field and *wt set, 0 at the end of the
   message, -1 on malformed bytes (diag set). */
static int nn_onnx__next(nn_onnx__ctx *c, nn_onnx__rd *r, uint32_t *field, pb_wire_type_t *wt) {
    bool eof = false;
    if (r->s.bytes_left == 0) return 0;
    r->field_start = nn_onnx__rd_pos(r);
    if (!pb_decode_tag(&r->s, wt, field, &eof)) {
        nn_onnx__perr(c, r, NULL);
        return -1;
    }
    if (*field == 0) {
        nn_onnx__fail(c, NN_ERR_PARSE, NULL, "field number 0 is not valid protobuf");
        return -1;
    }
    return 1;
}

static nn_status nn_onnx__skip(nn_onnx__ctx *c, nn_onnx__rd *r, pb_wire_type_t wt) {
    if (!pb_skip_field(&r->s, wt)) return nn_onnx__perr(c, r, NULL);
    return NN_OK;
}

static nn_status nn_onnx__want(nn_onnx__ctx *c, pb_wire_type_t wt, pb_wire_type_t want, const char *field) {
    if (wt == want) return NN_OK;
    return nn_onnx__fail(c, NN_ERR_PARSE, field, "wire type %d where onnx.proto says %d", (int)wt, (int)want);
}

static int64_t nn_onnx__s64(uint64_t u) {
    int64_t v;
    memcpy(&v, &u, sizeof v); /* two's complement, as protobuf encodes int64 */
    return v;
}

static nn_status nn_onnx__u64(nn_onnx__ctx *c, nn_onnx__rd *r, pb_wire_type_t wt, const char *field, uint64_t *v) {
    nn_status st = nn_onnx__want(c, wt, PB_WT_VARINT, field);
    if (st) return st;
    if (!pb_decode_varint(&r->s, v)) return nn_onnx__perr(c, r, field);
    return NN_OK;
}

static nn_status nn_onnx__i64(nn_onnx__ctx *c, nn_onnx__rd *r, pb_wire_type_t wt, const char *field, int64_t *v) {
    uint64_t u = 0;
    nn_status st = nn_onnx__u64(c, r, wt, field, &u);
    *v = nn_onnx__s64(u);
    return st;
}

/* An int32 or enum field: encoded as a sign-extended 64-bit varint. */
static nn_status nn_onnx__i32(nn_onnx__ctx *c, nn_onnx__rd *r, pb_wire_type_t wt, const char *field, int32_t *v) {
    int64_t x = 0;
    nn_status st = nn_onnx__i64(c, r, wt, field, &x);
    if (st) return st;
    if (x < INT32_MIN || x > INT32_MAX)
        return nn_onnx__fail(c, NN_ERR_PARSE, field, "value %lld does not fit an int32", (long long)x);
    *v = (int32_t)x;
    return NN_OK;
}

static nn_status nn_onnx__f32(nn_onnx__ctx *c, nn_onnx__rd *r, pb_wire_type_t wt, const char *field, float *v) {
    uint32_t bits = 0;
    nn_status st = nn_onnx__want(c, wt, PB_WT_32BIT, field);
    if (st) return st;
    if (!pb_decode_fixed32(&r->s, &bits)) return nn_onnx__perr(c, r, field);
    memcpy(v, &bits, sizeof *v);
    return NN_OK;
}

/* A length-delimited field (string, bytes, message, packed array): *out
   spans its bytes inside the buffer, which is skipped past. */
static nn_status nn_onnx__len(nn_onnx__ctx *c, nn_onnx__rd *r, pb_wire_type_t wt, const char *field,
                              nn_onnx__span *out) {
    pb_istream_t sub;
    nn_status st = nn_onnx__want(c, wt, PB_WT_STRING, field);
    if (st) return st;
    /* pb_make_string_substream takes the content's bytes off the parent at
       once, so the parent's position is now the end of the content. */
    if (!pb_make_string_substream(&r->s, &sub)) return nn_onnx__perr(c, r, field);
    out->p = nn_onnx__rd_pos(r) - sub.bytes_left;
    out->n = sub.bytes_left;
    if (!pb_close_string_substream(&r->s, &sub)) return nn_onnx__perr(c, r, field);
    return NN_OK;
}

/* Copies a name into scratch slot k as a C string.  Names longer than
   NN_ONNX_MAX_NAME or holding a NUL byte are refused. */
static nn_status nn_onnx__cstr(nn_onnx__ctx *c, int k, nn_onnx__span s, const char *field, const char **out) {
    if (s.n > NN_ONNX_MAX_NAME)
        return nn_onnx__fail(c, NN_ERR_LIMIT, field, "a name of %zu bytes (limit NN_ONNX_MAX_NAME %d)", s.n,
                             NN_ONNX_MAX_NAME);
    if (s.n && memchr(s.p, 0, s.n)) return nn_onnx__fail(c, NN_ERR_INVALID, field, "a name holds a NUL byte");
    if (c->slot_cap[k] < s.n + 1) {
        size_t cap = s.n + 1 < 256 ? 256 : s.n + 1;
        char *p = (char *)nn_alloc(&c->alloc, cap);
        if (!p) return nn_onnx__fail(c, NN_ERR_NOMEM, field, "out of memory");
        nn_free(&c->alloc, c->slot[k]);
        c->slot[k] = p;
        c->slot_cap[k] = cap;
    }
    if (s.n) memcpy(c->slot[k], s.p, s.n);
    c->slot[k][s.n] = 0;
    *out = c->slot[k];
    return NN_OK;
}

static char *nn_onnx__arena_str(nn_arena *a, nn_onnx__span s) { return nn_arena_strdup(a, (const char *)s.p, s.n); }

/* ---- repeated scalars (packed or not) ------------------------------------------ */

typedef nn_status (*nn_onnx__sink)(nn_onnx__ctx *c, void *arg, uint64_t v);

static nn_status nn_onnx__elem(nn_onnx__ctx *c, nn_onnx__rd *r, pb_wire_type_t elem, const char *field,
                               uint64_t *v) {
    uint32_t u32 = 0;
    bool ok;
    *v = 0;
    if (elem == PB_WT_VARINT) ok = pb_decode_varint(&r->s, v);
    else if (elem == PB_WT_32BIT) { ok = pb_decode_fixed32(&r->s, &u32); *v = u32; }
    else ok = pb_decode_fixed64(&r->s, v);
    return ok ? NN_OK : nn_onnx__perr(c, r, field);
}

/* One occurrence of a repeated scalar field: a single element (wire type
   elem) or a packed run (wire type 2).  Calls sink for each element. */
static nn_status nn_onnx__repeated(nn_onnx__ctx *c, nn_onnx__rd *r, pb_wire_type_t wt, pb_wire_type_t elem,
                                   const char *field, nn_onnx__sink sink, void *arg) {
    nn_onnx__span sp;
    nn_onnx__rd sub;
    uint64_t v;
    nn_status st;
    if (wt == elem) {
        st = nn_onnx__elem(c, r, elem, field, &v);
        return st ? st : sink(c, arg, v);
    }
    st = nn_onnx__len(c, r, wt, field, &sp);
    if (st) return st;
    sub = nn_onnx__rd_make(sp);
    while (sub.s.bytes_left) {
        st = nn_onnx__elem(c, &sub, elem, field, &v);
        if (!st) st = sink(c, arg, v);
        if (st) return st;
    }
    return NN_OK;
}

/* Counts the elements of one occurrence without decoding them; for a packed
   run also returns its span and the bytes of tag and length before it. */
static nn_status nn_onnx__count(nn_onnx__ctx *c, nn_onnx__rd *r, pb_wire_type_t wt, pb_wire_type_t elem,
                                const char *field, size_t *count, nn_onnx__span *packed, size_t *prefix) {
    nn_onnx__span sp;
    uint64_t v;
    size_t n = 0, width = elem == PB_WT_32BIT ? 4 : 8;
    nn_status st;
    if (wt == elem) {
        packed->n = 0;
        st = nn_onnx__elem(c, r, elem, field, &v);
        if (!st) (*count)++;
        return st;
    }
    st = nn_onnx__len(c, r, wt, field, &sp);
    if (st) return st;
    *packed = sp;
    *prefix = (size_t)(sp.p - r->field_start);
    if (elem == PB_WT_VARINT) {
        for (size_t i = 0; i < sp.n; i++) n += (sp.p[i] & 0x80u) == 0;
        if (sp.n && (sp.p[sp.n - 1] & 0x80u))
            return nn_onnx__fail(c, NN_ERR_PARSE, field, "packed varints end inside a varint");
    } else {
        if (sp.n % width)
            return nn_onnx__fail(c, NN_ERR_PARSE, field, "packed %zu-byte values in %zu bytes", width, sp.n);
        n = sp.n / width;
    }
    *count += n;
    return NN_OK;
}

/* ---- buffers: files, mappings and in-place placement of weights ---------------- */

static void nn_onnx__unmap(const nn_allocator *a, nn_onnx__map *m) {
#ifdef NN_ONNX__MMAP
    if (m->mapped) { if (m->addr) munmap(m->addr, m->bytes); }
    else nn_free(a, m->addr);
#else
    nn_free(a, m->addr);
#endif
    nn_free(a, m->key);
    m->addr = NULL;
}

static void nn_onnx__maps_free(void *user) {
    nn_onnx__maps *ms = (nn_onnx__maps *)user;
    nn_allocator a;
    if (!ms) return;
    a = ms->alloc;
    for (uint32_t i = 0; i < ms->count; i++) nn_onnx__unmap(&a, &ms->items[i]);
    nn_free(&a, ms->items);
    nn_free(&a, ms);
}

/* Maps (or reads) a whole file.  writable: the mapping is private and may
   be written (copy-on-write), which in-place alignment of weights needs. */
static nn_status nn_onnx__map_file(nn_onnx__ctx *c, const char *path, int writable, nn_onnx__map *m,
                                   const char *field) {
    memset(m, 0, sizeof *m);
    if (!field) field = path; /* the model file itself: name it */
#ifdef NN_ONNX__MMAP
    {
        struct stat sb;
        int flags = O_RDONLY;
        int fd;
#ifdef O_NONBLOCK
        flags |= O_NONBLOCK; /* a FIFO named by hostile external data must not block */
#endif
#ifdef O_CLOEXEC
        flags |= O_CLOEXEC;
#endif
        fd = open(path, flags);
        void *p;
        if (fd < 0) return nn_onnx__fail(c, NN_ERR_IO, field, "cannot open '%s'", path);
        if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            close(fd);
            return nn_onnx__fail(c, NN_ERR_IO, field, "'%s' is not a regular file", path);
        }
        if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX / 2) {
            close(fd);
            return nn_onnx__fail(c, NN_ERR_LIMIT, field, "'%s' is too large", path);
        }
        m->bytes = (size_t)sb.st_size;
        m->mapped = 1;
        if (m->bytes == 0) { close(fd); return NN_OK; }
        p = mmap(NULL, m->bytes, PROT_READ | (writable ? PROT_WRITE : 0), MAP_PRIVATE, fd, 0);
        close(fd);
        if (p == MAP_FAILED) return nn_onnx__fail(c, NN_ERR_IO, field, "cannot map '%s'", path);
        m->addr = p;
        return NN_OK;
    }
#else
    {
        FILE *f = fopen(path, "rb");
        long size;
        (void)writable;
        if (!f) return nn_onnx__fail(c, NN_ERR_IO, field, "cannot open '%s'", path);
        if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
            fclose(f);
            return nn_onnx__fail(c, NN_ERR_IO, field, "cannot read '%s'", path);
        }
        m->bytes = (size_t)size;
        m->addr = nn_alloc(&c->alloc, m->bytes);
        if (!m->addr) { fclose(f); return nn_onnx__fail(c, NN_ERR_NOMEM, field, "out of memory reading '%s'", path); }
        if (m->bytes && fread(m->addr, 1, m->bytes, f) != m->bytes) {
            fclose(f);
            nn_free(&c->alloc, m->addr);
            m->addr = NULL;
            return nn_onnx__fail(c, NN_ERR_IO, field, "cannot read '%s'", path);
        }
        fclose(f);
        return NN_OK;
    }
#endif
}

static nn_status nn_onnx__maps_add(nn_onnx__ctx *c, const nn_onnx__map *m, const char *field) {
    nn_onnx__maps *ms = c->maps;
    if (ms->count == ms->cap) {
        uint32_t cap = ms->cap ? ms->cap * 2 : 4;
        nn_onnx__map *p = (nn_onnx__map *)nn_alloc(&ms->alloc, cap * sizeof *p);
        if (!p) return nn_onnx__fail(c, NN_ERR_NOMEM, field, "out of memory");
        if (ms->count) memcpy(p, ms->items, ms->count * sizeof *p);
        nn_free(&ms->alloc, ms->items);
        ms->items = p;
        ms->cap = cap;
    }
    ms->items[ms->count++] = *m;
    return NN_OK;
}

/* Alignment kernels expect for elements of t: the element size, at most 8
   (complex128 is two doubles); 1 for 4-bit and byte types. */
static size_t nn_onnx__align_of(nn_dtype t) {
    size_t es = nn_dtype_size(t);
    if (es == 0) return 1;
    return es > 8 ? 8 : es;
}

/* Places n bytes of tensor data found at p (inside the model bytes) so
   that kernels can read them as typed arrays.

   Aligned data is lent as is.  Protobuf puts raw_data wherever the
   preceding fields end, so a float array is misaligned 3 times in 4.  In a
   private (copy-on-write) mapping we fix that without a copy: the bytes in
   front of the data are its field tag (1 byte for raw_data, field 9) and
   its length varint (2 bytes from 128 bytes of data, 3 from 16 KiB, 4 from
   2 MiB), all parsed already and never read again.  Moving the data
   backwards by its misalignment (at most 3 for 4-byte types) overwrites
   only those bytes and leaves a stale tail inside the data's own old range,
   so no other field is disturbed.  Only the pages of misaligned tensors are
   copied by the kernel, and peak memory stays at the file size.  When the
   prefix is too short (small tensors, 8-byte types off by more than the
   prefix) or the buffer is the caller's (load_memory), the data is copied
   into the graph's arena instead.  This must be the last read of those
   bytes: callers place data only after the whole TensorProto is parsed,
   and every TensorProto of a model is parsed once. */
static nn_status nn_onnx__place(nn_onnx__ctx *c, nn_arena *arena, const uint8_t *p, size_t n, size_t prefix,
                                size_t align, const void **out_data, int *out_lent) {
    size_t mis = (size_t)((uintptr_t)p % align);
    *out_lent = 0;
    if (n == 0) { *out_data = NULL; return NN_OK; }
    if (!c->copy_weights && mis == 0) {
        *out_data = p;
        *out_lent = 1;
        return NN_OK;
    }
    if (!c->copy_weights && c->writable && mis <= prefix) {
        uint8_t *dst = (uint8_t *)(uintptr_t)(p - mis);
        memmove(dst, p, n);
        *out_data = dst;
        *out_lent = 1;
        return NN_OK;
    }
    {
        void *q = nn_arena_alloc(arena, n);
        if (!q) return nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory for %zu bytes of tensor data", n);
        memcpy(q, p, n);
        *out_data = q;
    }
    return NN_OK;
}

/* ---- StringStringEntryProto, OperatorSetIdProto --------------------------------- */

/* StringStringEntryProto: key = 1, value = 2 (onnx.proto). */
static nn_status nn_onnx__parse_entry(nn_onnx__ctx *c, nn_onnx__span sp, nn_onnx__span *key, nn_onnx__span *val) {
    nn_onnx__rd r = nn_onnx__rd_make(sp);
    uint32_t f;
    pb_wire_type_t wt;
    int k;
    nn_status st = NN_OK;
    *key = nn_onnx__span_make(NULL, 0);
    *val = nn_onnx__span_make(NULL, 0);
    while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
        if (f == 1) st = nn_onnx__len(c, &r, wt, "key", key);
        else if (f == 2) st = nn_onnx__len(c, &r, wt, "value", val);
        else st = nn_onnx__skip(c, &r, wt);
    }
    return st ? st : (k < 0 ? NN_ERR_PARSE : NN_OK);
}

/* OperatorSetIdProto: domain = 1, version = 2 (onnx.proto). */
static nn_status nn_onnx__parse_opset(nn_onnx__ctx *c, nn_graph *g, nn_onnx__span sp) {
    nn_onnx__rd r = nn_onnx__rd_make(sp);
    nn_onnx__span dom = nn_onnx__span_make(NULL, 0);
    int64_t version = 0;
    uint32_t f;
    pb_wire_type_t wt;
    int k;
    const char *name;
    nn_diag tmp;
    nn_status st = NN_OK;
    while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
        if (f == 1) st = nn_onnx__len(c, &r, wt, "domain", &dom);
        else if (f == 2) st = nn_onnx__i64(c, &r, wt, "version", &version);
        else st = nn_onnx__skip(c, &r, wt);
    }
    if (st || k < 0) return st ? st : NN_ERR_PARSE;
    st = nn_onnx__cstr(c, 0, dom, "domain", &name);
    if (st) return st;
    memset(&tmp, 0, sizeof tmp);
    st = nn_graph_set_opset(g, name, version, &tmp);
    return st ? nn_onnx__relay(c, st, &tmp, NULL) : NN_OK;
}

/* ---- TensorProto ---------------------------------------------------------------- */

typedef struct nn_onnx__tensor {
    nn_onnx__span name;
    nn_dtype dtype;
    nn_shape shape;
    const void *data;   /* bytes long; NULL when empty */
    size_t bytes;
    int lent;           /* data points into a mapping or the caller's buffer */
} nn_onnx__tensor;

/* The typed data fields of TensorProto (onnx.proto): float_data = 4,
   int32_data = 5, int64_data = 7, double_data = 10, uint64_data = 11. */
enum { NN_ONNX__SRC_FLOAT, NN_ONNX__SRC_INT32, NN_ONNX__SRC_INT64, NN_ONNX__SRC_DOUBLE, NN_ONNX__SRC_UINT64,
       NN_ONNX__SRC_COUNT };
static const uint32_t nn_onnx__src_field[NN_ONNX__SRC_COUNT] = {4, 5, 7, 10, 11};
static const char *const nn_onnx__src_name[NN_ONNX__SRC_COUNT] = {"float_data", "int32_data", "int64_data",
                                                                  "double_data", "uint64_data"};

typedef struct nn_onnx__tsrc {
    size_t count;        /* elements over all occurrences */
    uint32_t seen;       /* occurrences */
    nn_onnx__span span;  /* the first occurrence, when packed */
    size_t prefix;       /* its tag and length bytes */
} nn_onnx__tsrc;

static pb_wire_type_t nn_onnx__src_wt(int s) {
    if (s == NN_ONNX__SRC_FLOAT) return PB_WT_32BIT;
    if (s == NN_ONNX__SRC_DOUBLE) return PB_WT_64BIT;
    return PB_WT_VARINT;
}

/* Which typed field holds dtype t, per the comments in onnx.proto: int32_data
   also carries 8- and 16-bit types, bool, float16/bfloat16/float8 (as bit
   patterns) and 4-bit pairs (one byte per entry); uint64_data carries
   uint32.  Sets the bytes each stored entry becomes. */
static int nn_onnx__src_for(nn_dtype t, size_t *entry_bytes) {
    switch (t) {
    case NN_DTYPE_FLOAT: case NN_DTYPE_COMPLEX64: *entry_bytes = 4; return NN_ONNX__SRC_FLOAT;
    case NN_DTYPE_DOUBLE: case NN_DTYPE_COMPLEX128: *entry_bytes = 8; return NN_ONNX__SRC_DOUBLE;
    case NN_DTYPE_INT64: *entry_bytes = 8; return NN_ONNX__SRC_INT64;
    case NN_DTYPE_UINT32: *entry_bytes = 4; return NN_ONNX__SRC_UINT64;
    case NN_DTYPE_UINT64: *entry_bytes = 8; return NN_ONNX__SRC_UINT64;
    case NN_DTYPE_INT4: case NN_DTYPE_UINT4: *entry_bytes = 1; return NN_ONNX__SRC_INT32;
    default:
        *entry_bytes = nn_dtype_size(t);
        return *entry_bytes ? NN_ONNX__SRC_INT32 : -1;
    }
}

typedef struct nn_onnx__fill { uint8_t *dst; size_t i, cap, width; } nn_onnx__fill;

static nn_status nn_onnx__fill_sink(nn_onnx__ctx *c, void *arg, uint64_t v) {
    nn_onnx__fill *f = (nn_onnx__fill *)arg;
    if (f->i >= f->cap) return nn_onnx__fail(c, NN_ERR_INVALID, NULL, "more data entries than counted");
    memcpy(f->dst + f->i * f->width, &v, f->width); /* low bytes: little-endian host */
    f->i++;
    return NN_OK;
}

static nn_status nn_onnx__dim_sink(nn_onnx__ctx *c, void *arg, uint64_t v) {
    nn_shape *s = (nn_shape *)arg;
    int64_t d = nn_onnx__s64(v);
    if (s->rank >= NN_MAX_RANK)
        return nn_onnx__fail(c, NN_ERR_LIMIT, "dims", "rank above NN_MAX_RANK (%d)", NN_MAX_RANK);
    if (d < 0) return nn_onnx__fail(c, NN_ERR_INVALID, "dims", "negative dimension %lld", (long long)d);
    s->dims[s->rank++] = d;
    return NN_OK;
}

/* Decodes every occurrence of typed field src of the TensorProto at sp into
   count entries of width bytes at dst. */
static nn_status nn_onnx__decode_src(nn_onnx__ctx *c, nn_onnx__span sp, int src, uint8_t *dst, size_t count,
                                     size_t width) {
    nn_onnx__rd r = nn_onnx__rd_make(sp);
    nn_onnx__fill fill;
    uint32_t f;
    pb_wire_type_t wt;
    int k;
    nn_status st = NN_OK;
    fill.dst = dst;
    fill.i = 0;
    fill.cap = count;
    fill.width = width;
    while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
        if (f == nn_onnx__src_field[src])
            st = nn_onnx__repeated(c, &r, wt, nn_onnx__src_wt(src), nn_onnx__src_name[src], nn_onnx__fill_sink, &fill);
        else st = nn_onnx__skip(c, &r, wt);
    }
    if (st || k < 0) return st ? st : NN_ERR_PARSE;
    if (fill.i != count) return nn_onnx__fail(c, NN_ERR_INVALID, nn_onnx__src_name[src], "fewer entries than counted");
    return NN_OK;
}

static int nn_onnx__parse_u64(nn_onnx__span s, uint64_t *out) {
    uint64_t v = 0;
    if (s.n == 0 || s.n > 20) return 0;
    for (size_t i = 0; i < s.n; i++) {
        unsigned d = (unsigned)s.p[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* External data must stay inside the model's folder: a relative path with
   no ".." component (either separator), no drive letter. */
static int nn_onnx__location_ok(nn_onnx__span loc) {
    size_t i = 0;
    if (loc.n == 0 || loc.p[0] == '/' || loc.p[0] == '\\' || memchr(loc.p, 0, loc.n)) return 0;
    if (loc.n >= 2 && loc.p[1] == ':') return 0;
    while (i < loc.n) {
        size_t j = i;
        while (j < loc.n && loc.p[j] != '/' && loc.p[j] != '\\') j++;
        if (j - i == 2 && loc.p[i] == '.' && loc.p[i + 1] == '.') return 0;
        i = j + 1;
    }
    return 1;
}

typedef struct nn_onnx__ext { nn_onnx__span location; uint64_t offset, length; int has_length; } nn_onnx__ext;

/* Finds (mapping on first use) the external file of t and places its data. */
static nn_status nn_onnx__external(nn_onnx__ctx *c, nn_arena *arena, const nn_onnx__ext *e, const char *tname,
                                   size_t need, size_t align, nn_onnx__tensor *t) {
    char *full;
    size_t dl, bytes;
    const nn_onnx__map *m = NULL;
    nn_onnx__map nm;
    nn_status st;
    if (!nn_onnx__location_ok(e->location))
        return nn_onnx__fail(c, NN_ERR_INVALID, "external_data",
                             "tensor '%s': external data location '%.*s' leaves the model folder", tname,
                             (int)(e->location.n > 64 ? 64 : e->location.n), (const char *)e->location.p);
    if (!c->dir)
        return nn_onnx__fail(c, NN_ERR_UNSUPPORTED, "external_data",
                             "tensor '%s' has external data; load with a file path or desc.base_dir", tname);
    for (uint32_t i = 0; i < c->maps->count; i++) {
        const char *key = c->maps->items[i].key;
        if (key && strlen(key) == e->location.n && memcmp(key, e->location.p, e->location.n) == 0)
            m = &c->maps->items[i];
    }
    if (!m) {
        if (c->maps->count >= NN_ONNX_MAX_FILES)
            return nn_onnx__fail(c, NN_ERR_LIMIT, "external_data", "more than %d external data files",
                                 NN_ONNX_MAX_FILES);
        dl = strlen(c->dir);
        if (!nn_size_add(dl, e->location.n + 2, &bytes))
            return nn_onnx__fail(c, NN_ERR_LIMIT, "external_data", "path too long");
        full = (char *)nn_alloc(&c->alloc, bytes);
        if (!full) return nn_onnx__fail(c, NN_ERR_NOMEM, "external_data", "out of memory");
        memcpy(full, c->dir, dl);
        full[dl] = '/';
        memcpy(full + dl + 1, e->location.p, e->location.n);
        full[dl + 1 + e->location.n] = 0;
        st = nn_onnx__map_file(c, full, 0, &nm, "external_data");
        if (st == NN_OK) {
            memmove(full, full + dl + 1, e->location.n + 1); /* the key: location only */
            nm.key = full;
            st = nn_onnx__maps_add(c, &nm, "external_data");
            if (st) nn_onnx__unmap(&c->alloc, &nm);
        } else {
            nn_free(&c->alloc, full);
        }
        if (st) return st;
        m = &c->maps->items[c->maps->count - 1];
    }
    bytes = e->has_length ? (size_t)e->length : 0;
    if (e->offset > m->bytes || (e->has_length && e->length > m->bytes - e->offset))
        return nn_onnx__fail(c, NN_ERR_INVALID, "external_data",
                             "tensor '%s': offset %llu + length %llu is past the end of '%s' (%zu bytes)", tname,
                             (unsigned long long)e->offset, (unsigned long long)e->length, m->key, m->bytes);
    if (!e->has_length) bytes = m->bytes - (size_t)e->offset;
    if (bytes != need)
        return nn_onnx__fail(c, NN_ERR_INVALID, "external_data",
                             "tensor '%s' holds %zu bytes of external data, its type and dims need %zu", tname,
                             bytes, need);
    t->bytes = need;
    if (need == 0) return NN_OK;
    /* The external file is mapped read-only: aligned data is lent, the rest
       copied (prefix 0 disables the in-place move). */
    {
        int saved = c->writable;
        c->writable = 0;
        st = nn_onnx__place(c, arena, (const uint8_t *)m->addr + e->offset, need, 0, align, &t->data, &t->lent);
        c->writable = saved;
    }
    return st;
}

/* What one pass over a TensorProto finds. */
typedef struct nn_onnx__tscan {
    nn_onnx__tsrc src[NN_ONNX__SRC_COUNT];
    nn_onnx__span raw;
    size_t raw_prefix;       /* tag and length bytes in front of raw_data */
    int has_raw, has_string, sources;
    int32_t dt, location;
    nn_onnx__ext ext;
} nn_onnx__tscan;

/* TensorProto (onnx.proto): dims = 1, data_type = 2, segment = 3,
   float_data = 4, int32_data = 5, string_data = 6, int64_data = 7,
   name = 8, raw_data = 9, double_data = 10, uint64_data = 11,
   doc_string = 12, external_data = 13, data_location = 14.  Records
   dims and name into t, everything else into ts. */
static nn_status nn_onnx__scan_tensor(nn_onnx__ctx *c, nn_onnx__span sp, nn_onnx__tensor *t, nn_onnx__tscan *ts) {
    nn_onnx__rd r = nn_onnx__rd_make(sp);
    nn_onnx__span ent, key, val;
    uint32_t f;
    pb_wire_type_t wt;
    int k, s;
    nn_status st = NN_OK;
    while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
        switch (f) {
        case 1: st = nn_onnx__repeated(c, &r, wt, PB_WT_VARINT, "dims", nn_onnx__dim_sink, &t->shape); break;
        case 2: st = nn_onnx__i32(c, &r, wt, "data_type", &ts->dt); break;
        case 3: st = nn_onnx__fail(c, NN_ERR_UNSUPPORTED, "segment", "segmented tensors (or a SequenceProto / OptionalProto) are not supported"); break;
        case 6: ts->has_string = 1; st = nn_onnx__skip(c, &r, wt); break;
        case 8: st = nn_onnx__len(c, &r, wt, "name", &t->name); break;
        case 9:
            st = nn_onnx__len(c, &r, wt, "raw_data", &ts->raw);
            ts->raw_prefix = (size_t)(ts->raw.p - r.field_start);
            ts->has_raw = 1;
            break;
        case 13:
            st = nn_onnx__len(c, &r, wt, "external_data", &ent);
            if (!st) st = nn_onnx__parse_entry(c, ent, &key, &val);
            if (st) break;
            if (nn_onnx__span_eq(key, "location")) ts->ext.location = val;
            else if (nn_onnx__span_eq(key, "offset") && !nn_onnx__parse_u64(val, &ts->ext.offset))
                st = nn_onnx__fail(c, NN_ERR_INVALID, "external_data", "offset is not a decimal number");
            else if (nn_onnx__span_eq(key, "length")) {
                ts->ext.has_length = 1;
                if (!nn_onnx__parse_u64(val, &ts->ext.length))
                    st = nn_onnx__fail(c, NN_ERR_INVALID, "external_data", "length is not a decimal number");
            }
            break;
        case 14: st = nn_onnx__i32(c, &r, wt, "data_location", &ts->location); break;
        default:
            for (s = 0; s < NN_ONNX__SRC_COUNT; s++)
                if (f == nn_onnx__src_field[s]) break;
            if (s == NN_ONNX__SRC_COUNT) { st = nn_onnx__skip(c, &r, wt); break; }
            if (ts->src[s].seen == 0) ts->sources++;
            ts->src[s].seen++;
            st = nn_onnx__count(c, &r, wt, nn_onnx__src_wt(s), nn_onnx__src_name[s], &ts->src[s].count,
                                &ts->src[s].span, &ts->src[s].prefix);
            if (!st && ts->src[s].seen > 1) ts->src[s].span.n = 0; /* several runs: decode, do not lend */
            break;
        }
    }
    return st ? st : (k < 0 ? NN_ERR_PARSE : NN_OK);
}

/* Parses a TensorProto into t: checks the data against dims x data_type
   and places it (lent from the buffer, or decoded / copied into arena). */
static nn_status nn_onnx__parse_tensor(nn_onnx__ctx *c, nn_arena *arena, nn_onnx__span sp, nn_onnx__tensor *t) {
    nn_onnx__tscan ts;
    size_t count, need, entry_bytes = 0, want;
    int s, ok;
    const char *tname = "";
    nn_status st;
    memset(&ts, 0, sizeof ts);
    memset(t, 0, sizeof *t);
    t->name = nn_onnx__span_make(NULL, 0);
    t->shape.rank = 0;
    st = nn_onnx__scan_tensor(c, sp, t, &ts);
    if (!st && t->name.n) st = nn_onnx__cstr(c, 3, t->name, "name", &tname);
    if (st) return st;
    if (ts.dt == NN_DTYPE_STRING || ts.has_string)
        return nn_onnx__fail(c, NN_ERR_UNSUPPORTED, "data_type", "tensor '%s': string tensors are not supported", tname);
    if (ts.dt <= 0) return nn_onnx__fail(c, NN_ERR_INVALID, "data_type", "tensor '%s' has no data_type", tname);
    if (ts.dt >= NN_DTYPE_COUNT_ || nn_dtype_bits((nn_dtype)ts.dt) == 0)
        return nn_onnx__fail(c, NN_ERR_UNSUPPORTED, "data_type", "tensor '%s': data_type %d is not supported", tname,
                             (int)ts.dt);
    t->dtype = (nn_dtype)ts.dt;
    count = nn_shape_count(&t->shape, &ok);
    if (!ok || !nn_dtype_bytes_for(t->dtype, count, &need))
        return nn_onnx__fail(c, NN_ERR_LIMIT, "dims", "tensor '%s': size overflows", tname);
    if (ts.location == 1 && !ts.ext.location.p)
        return nn_onnx__fail(c, NN_ERR_INVALID, "external_data", "tensor '%s' is EXTERNAL without a location", tname);
    if (ts.sources + ts.has_raw + (ts.location == 1) > 1)
        return nn_onnx__fail(c, NN_ERR_INVALID, NULL, "tensor '%s' has more than one data field", tname);
    t->bytes = need;
    if (ts.location == 1) return nn_onnx__external(c, arena, &ts.ext, tname, need, nn_onnx__align_of(t->dtype), t);
    if (ts.has_raw) {
        if (ts.raw.n != need)
            return nn_onnx__fail(c, NN_ERR_INVALID, "raw_data",
                                 "tensor '%s' holds %zu bytes, its type and dims need %zu", tname, ts.raw.n, need);
        return nn_onnx__place(c, arena, ts.raw.p, need, ts.raw_prefix, nn_onnx__align_of(t->dtype), &t->data, &t->lent);
    }
    if (ts.sources == 0) {
        if (need) return nn_onnx__fail(c, NN_ERR_INVALID, NULL, "tensor '%s' has no data", tname);
        return NN_OK;
    }
    s = nn_onnx__src_for(t->dtype, &entry_bytes);
    if (s < 0 || ts.src[s].seen == 0)
        return nn_onnx__fail(c, NN_ERR_INVALID, NULL, "tensor '%s': its data field does not hold %s", tname,
                             nn_dtype_name(t->dtype));
    want = count;
    if (t->dtype == NN_DTYPE_COMPLEX64 || t->dtype == NN_DTYPE_COMPLEX128) want = count * 2; /* need did not overflow */
    if (nn_dtype_bits(t->dtype) == 4) want = need;
    if (ts.src[s].count != want)
        return nn_onnx__fail(c, NN_ERR_INVALID, nn_onnx__src_name[s],
                             "tensor '%s' holds %zu entries, its dims need %zu", tname, ts.src[s].count, want);
    if ((s == NN_ONNX__SRC_FLOAT || s == NN_ONNX__SRC_DOUBLE) && ts.src[s].span.n == need)
        /* One packed run of little-endian floats is laid out like raw_data. */
        return nn_onnx__place(c, arena, ts.src[s].span.p, need, ts.src[s].prefix, nn_onnx__align_of(t->dtype),
                              &t->data, &t->lent);
    {
        uint8_t *dst = (uint8_t *)nn_arena_alloc(arena, need);
        if (!dst) return nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory for tensor '%s'", tname);
        t->data = dst;
        return nn_onnx__decode_src(c, sp, s, dst, want, entry_bytes);
    }
}

/* ---- TypeProto, TensorShapeProto, ValueInfoProto ------------------------------------ */

enum { NN_ONNX__TYPE_NONE, NN_ONNX__TYPE_TENSOR, NN_ONNX__TYPE_OTHER };

typedef struct nn_onnx__tinfo {
    int kind;                               /* NN_ONNX__TYPE_* */
    const char *kind_name;                  /* for messages about OTHER */
    nn_dtype dtype;
    nn_shape shape;                         /* rank NN_RANK_UNKNOWN when absent */
    nn_onnx__span dim_param[NN_MAX_RANK];
} nn_onnx__tinfo;

/* TensorShapeProto.Dimension: dim_value = 1, dim_param = 2, denotation = 3. */
static nn_status nn_onnx__parse_dim(nn_onnx__ctx *c, nn_onnx__span sp, nn_onnx__tinfo *ti) {
    nn_onnx__rd r = nn_onnx__rd_make(sp);
    int32_t i = ti->shape.rank;
    uint32_t f;
    pb_wire_type_t wt;
    int k;
    int64_t v;
    nn_status st = NN_OK;
    if (i >= NN_MAX_RANK)
        return nn_onnx__fail(c, NN_ERR_LIMIT, "dim", "rank above NN_MAX_RANK (%d)", NN_MAX_RANK);
    ti->shape.dims[i] = NN_DIM_UNKNOWN;
    ti->dim_param[i] = nn_onnx__span_make(NULL, 0);
    while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
        if (f == 1) {
            st = nn_onnx__i64(c, &r, wt, "dim_value", &v);
            if (!st && v < 0) st = nn_onnx__fail(c, NN_ERR_INVALID, "dim_value", "negative dimension %lld", (long long)v);
            if (!st) ti->shape.dims[i] = v;
        } else if (f == 2) {
            st = nn_onnx__len(c, &r, wt, "dim_param", &ti->dim_param[i]);
            if (!st && ti->dim_param[i].n > NN_ONNX_MAX_NAME)
                st = nn_onnx__fail(c, NN_ERR_LIMIT, "dim_param", "name too long");
        } else st = nn_onnx__skip(c, &r, wt);
    }
    if (st || k < 0) return st ? st : NN_ERR_PARSE;
    ti->shape.rank = i + 1;
    return NN_OK;
}

/* TensorShapeProto: dim = 1. */
static nn_status nn_onnx__parse_shape(nn_onnx__ctx *c, nn_onnx__span sp, nn_onnx__tinfo *ti) {
    nn_onnx__rd r = nn_onnx__rd_make(sp);
    nn_onnx__span d;
    uint32_t f;
    pb_wire_type_t wt;
    int k;
    nn_status st = NN_OK;
    ti->shape.rank = 0;
    while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
        if (f == 1) {
            st = nn_onnx__len(c, &r, wt, "dim", &d);
            if (!st) st = nn_onnx__parse_dim(c, d, ti);
        } else st = nn_onnx__skip(c, &r, wt);
    }
    return st ? st : (k < 0 ? NN_ERR_PARSE : NN_OK);
}

/* TypeProto.Tensor: elem_type = 1, shape = 2. */
static nn_status nn_onnx__parse_tensor_type(nn_onnx__ctx *c, nn_onnx__span sp, nn_onnx__tinfo *ti) {
    nn_onnx__rd r = nn_onnx__rd_make(sp);
    nn_onnx__span s;
    int32_t et = 0;
    uint32_t f;
    pb_wire_type_t wt;
    int k;
    nn_status st = NN_OK;
    while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
        if (f == 1) st = nn_onnx__i32(c, &r, wt, "elem_type", &et);
        else if (f == 2) {
            st = nn_onnx__len(c, &r, wt, "shape", &s);
            if (!st) st = nn_onnx__parse_shape(c, s, ti);
        } else st = nn_onnx__skip(c, &r, wt);
    }
    if (st || k < 0) return st ? st : NN_ERR_PARSE;
    if (et < 0 || et >= NN_DTYPE_COUNT_)
        return nn_onnx__fail(c, NN_ERR_UNSUPPORTED, "elem_type", "element type %d is not supported", (int)et);
    ti->dtype = (nn_dtype)et;
    ti->kind = NN_ONNX__TYPE_TENSOR;
    return NN_OK;
}

/* TypeProto: tensor_type = 1, sequence_type = 4, map_type = 5,
   denotation = 6, sparse_tensor_type = 8, optional_type = 9.  Only tensor
   types are read; the others are noted (and never recursed into). */
static nn_status nn_onnx__parse_type(nn_onnx__ctx *c, nn_onnx__span sp, nn_onnx__tinfo *ti) {
    nn_onnx__rd r = nn_onnx__rd_make(sp);
    nn_onnx__span s;
    uint32_t f;
    pb_wire_type_t wt;
    int k;
    nn_status st = NN_OK;
    while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
        if (f == 1) {
            st = nn_onnx__len(c, &r, wt, "tensor_type", &s);
            if (!st) st = nn_onnx__parse_tensor_type(c, s, ti);
        } else if (f == 4 || f == 5 || f == 8 || f == 9) {
            ti->kind = NN_ONNX__TYPE_OTHER;
            ti->kind_name = f == 4 ? "a sequence" : f == 5 ? "a map" : f == 8 ? "a sparse tensor" : "an optional";
            st = nn_onnx__skip(c, &r, wt);
        } else st = nn_onnx__skip(c, &r, wt);
    }
    return st ? st : (k < 0 ? NN_ERR_PARSE : NN_OK);
}

/* ValueInfoProto: name = 1, type = 2, doc_string = 3. */
static nn_status nn_onnx__parse_value_info(nn_onnx__ctx *c, nn_onnx__span sp, nn_onnx__span *name,
                                           nn_onnx__tinfo *ti) {
    nn_onnx__rd r = nn_onnx__rd_make(sp);
    nn_onnx__span s;
    uint32_t f;
    pb_wire_type_t wt;
    int k;
    nn_status st = NN_OK;
    memset(ti, 0, sizeof *ti);
    ti->shape.rank = NN_RANK_UNKNOWN;
    *name = nn_onnx__span_make(NULL, 0);
    while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
        if (f == 1) st = nn_onnx__len(c, &r, wt, "name", name);
        else if (f == 2) {
            size_t mark = nn_onnx__push(c, ".type");
            st = nn_onnx__len(c, &r, wt, NULL, &s);
            if (!st) st = nn_onnx__parse_type(c, s, ti);
            nn_onnx__pop(c, mark);
        } else st = nn_onnx__skip(c, &r, wt);
    }
    return st ? st : (k < 0 ? NN_ERR_PARSE : NN_OK);
}

/* Puts a declared type on tensor id: dtype, shape and dim_param names. */
static nn_status nn_onnx__apply_type(nn_onnx__ctx *c, nn_graph *g, nn_tensor_id id, const nn_onnx__tinfo *ti) {
    nn_tensor *t = nn_graph_tensor(g, id);
    if (ti->kind != NN_ONNX__TYPE_TENSOR) return NN_OK;
    t->dtype = ti->dtype;
    t->shape = ti->shape;
    for (int32_t i = 0; i < ti->shape.rank; i++) {
        t->dim_param[i] = NULL;
        if (ti->dim_param[i].n) {
            t->dim_param[i] = nn_onnx__arena_str(&g->arena, ti->dim_param[i]);
            if (!t->dim_param[i]) return nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory");
        }
    }
    return NN_OK;
}

/* ---- GraphProto, NodeProto, AttributeProto ---------------------------------------- */

/* A NodeProto's fields as spans (onnx.proto): input = 1, output = 2,
   name = 3, op_type = 4, attribute = 5, doc_string = 6, domain = 7. */
typedef struct nn_onnx__node {
    nn_onnx__span name, op_type, domain;
    nn_onnx__span *io;          /* n_in inputs, then n_out outputs */
    nn_onnx__span *attrs;
    uint32_t n_in, n_out, n_attr;
    int dropped;                /* a Constant turned into an initializer */
} nn_onnx__node;

/* A GraphProto's fields as spans (onnx.proto): node = 1, name = 2,
   initializer = 5, doc_string = 10, input = 11, output = 12,
   value_info = 13, sparse_initializer = 15. */
typedef struct nn_onnx__graph {
    nn_onnx__span name;
    nn_onnx__span *list[5];     /* node, initializer, input, output, value_info */
    uint32_t count[5];
    nn_onnx__node *nodes;
} nn_onnx__graph;

enum { NN_ONNX__G_NODE, NN_ONNX__G_INIT, NN_ONNX__G_INPUT, NN_ONNX__G_OUTPUT, NN_ONNX__G_VINFO };
static const uint32_t nn_onnx__g_field[5] = {1, 5, 11, 12, 13};
static const char *const nn_onnx__g_name[5] = {"node", "initializer", "input", "output", "value_info"};

static nn_status nn_onnx__build_graph(nn_onnx__ctx *c, nn_graph *g, nn_onnx__span sp);

/* Two passes over the NodeProto: count, then record spans into tmp. */
static nn_status nn_onnx__parse_node(nn_onnx__ctx *c, nn_arena *tmp, nn_onnx__span sp, nn_onnx__node *n) {
    nn_onnx__rd r;
    uint32_t f, in = 0, out = 0, at = 0;
    pb_wire_type_t wt;
    int k, pass;
    nn_status st = NN_OK;
    memset(n, 0, sizeof *n);
    n->name = n->op_type = n->domain = nn_onnx__span_make(NULL, 0);
    for (pass = 0; pass < 2; pass++) {
        r = nn_onnx__rd_make(sp);
        in = out = at = 0;
        while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
            nn_onnx__span s;
            if (f == 1 || f == 2 || f == 5) {
                const char *fname = f == 1 ? "input" : f == 2 ? "output" : "attribute";
                st = nn_onnx__len(c, &r, wt, fname, &s);
                if (st) break;
                if (f == 1) { if (pass) n->io[in] = s; in++; }
                else if (f == 2) { if (pass) n->io[n->n_in + out] = s; out++; }
                else { if (pass) n->attrs[at] = s; at++; }
                if (in > NN_ONNX_MAX_IO || out > NN_ONNX_MAX_IO || at > NN_ONNX_MAX_ATTRS)
                    st = nn_onnx__fail(c, NN_ERR_LIMIT, fname, "more than %d %ss", f == 5 ? NN_ONNX_MAX_ATTRS : NN_ONNX_MAX_IO, fname);
            } else if (f == 3) st = nn_onnx__len(c, &r, wt, "name", &n->name);
            else if (f == 4) st = nn_onnx__len(c, &r, wt, "op_type", &n->op_type);
            else if (f == 7) st = nn_onnx__len(c, &r, wt, "domain", &n->domain);
            else st = nn_onnx__skip(c, &r, wt);
        }
        if (st || k < 0) return st ? st : NN_ERR_PARSE;
        if (pass == 0) {
            n->n_in = in;
            n->n_out = out;
            n->n_attr = at;
            n->io = (nn_onnx__span *)nn_arena_alloc(tmp, ((size_t)in + out + 1) * sizeof(nn_onnx__span));
            n->attrs = (nn_onnx__span *)nn_arena_alloc(tmp, ((size_t)at + 1) * sizeof(nn_onnx__span));
            if (!n->io || !n->attrs) return nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory");
        }
    }
    if (n->op_type.n == 0) return nn_onnx__fail(c, NN_ERR_INVALID, "op_type", "node has no op_type");
    return NN_OK;
}

/* Two passes over the GraphProto: count fields, then record spans. */
static nn_status nn_onnx__index_graph(nn_onnx__ctx *c, nn_arena *tmp, nn_onnx__span sp, nn_onnx__graph *gr) {
    nn_onnx__rd r;
    uint32_t f, n[5];
    pb_wire_type_t wt;
    int k, pass, i;
    nn_status st = NN_OK;
    memset(gr, 0, sizeof *gr);
    gr->name = nn_onnx__span_make(NULL, 0);
    for (pass = 0; pass < 2; pass++) {
        r = nn_onnx__rd_make(sp);
        memset(n, 0, sizeof n);
        while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
            nn_onnx__span s;
            for (i = 0; i < 5; i++)
                if (f == nn_onnx__g_field[i]) break;
            if (i < 5) {
                st = nn_onnx__len(c, &r, wt, nn_onnx__g_name[i], &s);
                if (st) break;
                if (pass) gr->list[i][n[i]] = s;
                if (++n[i] > NN_ONNX_MAX_COUNT)
                    st = nn_onnx__fail(c, NN_ERR_LIMIT, nn_onnx__g_name[i], "more than %u entries", NN_ONNX_MAX_COUNT);
            } else if (f == 2) st = nn_onnx__len(c, &r, wt, "name", &gr->name);
            else if (f == 15)
                st = nn_onnx__fail(c, NN_ERR_UNSUPPORTED, "sparse_initializer", "sparse initializers are not supported");
            else st = nn_onnx__skip(c, &r, wt);
        }
        if (st || k < 0) return st ? st : NN_ERR_PARSE;
        if (pass == 0) {
            for (i = 0; i < 5; i++) {
                gr->count[i] = n[i];
                gr->list[i] = (nn_onnx__span *)nn_arena_alloc(tmp, ((size_t)n[i] + 1) * sizeof(nn_onnx__span));
                if (!gr->list[i]) return nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory");
            }
        }
    }
    return NN_OK;
}

/* Sets the data of a new initializer from a parsed TensorProto.  Data in
   the arena is the graph's own, so it is not marked borrowed. */
static nn_status nn_onnx__set_data(nn_onnx__ctx *c, nn_graph *g, nn_tensor_id id, const nn_onnx__tensor *t) {
    nn_diag tmp;
    nn_status st;
    memset(&tmp, 0, sizeof tmp);
    if (!t->data) st = nn_graph_set_data(g, id, NULL, 0, 1, &tmp);
    else st = nn_graph_set_data(g, id, t->data, t->bytes, 0, &tmp);
    if (st) return nn_onnx__relay(c, st, &tmp, NULL);
    if (t->lent) c->lent++;
    else nn_graph_tensor(g, id)->flags &= ~(uint32_t)NN_TENSOR_BORROWED;
    return NN_OK;
}

static nn_status nn_onnx__new_tensor(nn_onnx__ctx *c, nn_graph *g, const char *name, nn_dtype dt,
                                     const nn_shape *shape, nn_tensor_id *id, const char *field) {
    nn_diag tmp;
    nn_status st;
    memset(&tmp, 0, sizeof tmp);
    st = nn_graph_add_tensor(g, name, dt, shape, id, &tmp);
    return st ? nn_onnx__relay(c, st, &tmp, field) : NN_OK;
}

/* True when some enclosing scope of g defines name. */
static int nn_onnx__outer_defines(const nn_graph *g, const char *name) {
    for (const nn_graph *p = g->parent; p; p = p->parent)
        if (nn_graph_find_tensor(p, name).id != NN_INVALID_ID) return 1;
    return 0;
}

/* The tensor a node input or graph output refers to.  In a subgraph a name
   it does not define is an outer-scope capture (NN_TENSOR_OUTER). */
static nn_status nn_onnx__resolve(nn_onnx__ctx *c, nn_graph *g, const char *name, nn_tensor_id *id,
                                  const char *field) {
    *id = nn_graph_find_tensor(g, name);
    if (id->id != NN_INVALID_ID) return NN_OK;
    if (!g->parent || !nn_onnx__outer_defines(g, name))
        return nn_onnx__fail(c, NN_ERR_INVALID, field, "'%s' is not defined in this graph%s", name,
                             g->parent ? " or an enclosing one" : "");
    {
        nn_status st = nn_onnx__new_tensor(c, g, name, NN_DTYPE_UNDEFINED, NULL, id, field);
        if (st) return st;
    }
    {
        /* What the enclosing scope declares (input, initializer, value_info)
           helps static shape inference of the body; values come at run time. */
        const nn_tensor *outer = NULL;
        nn_tensor *t = nn_graph_tensor(g, *id);
        for (const nn_graph *p = g->parent; p && !outer; p = p->parent) {
            nn_tensor_id o = nn_graph_find_tensor(p, name);
            if (o.id != NN_INVALID_ID) outer = nn_graph_tensor(p, o);
        }
        if (outer && outer->dtype != NN_DTYPE_UNDEFINED) {
            t->dtype = outer->dtype;
            t->shape = outer->shape;
        }
        t->flags |= NN_TENSOR_OUTER;
    }
    return NN_OK;
}

/* AttributeProto (onnx.proto): name = 1, f = 2, i = 3, s = 4, t = 5,
   g = 6, floats = 7, ints = 8, strings = 9, tensors = 10, graphs = 11,
   doc_string = 13, tp = 14, type_protos = 15, type = 20,
   ref_attr_name = 21, sparse_tensor = 22, sparse_tensors = 23. */
typedef struct nn_onnx__attr {
    nn_onnx__span name, s, t, g;
    int32_t type;
    float f;
    int64_t i;
    size_t n_floats, n_ints, n_strings, n_graphs, n_other;
    int has[24];        /* which fields were present */
} nn_onnx__attr;

typedef struct nn_onnx__list_fill { void *dst; size_t i, cap; int is_float; } nn_onnx__list_fill;

static nn_status nn_onnx__list_sink(nn_onnx__ctx *c, void *arg, uint64_t v) {
    nn_onnx__list_fill *lf = (nn_onnx__list_fill *)arg;
    if (lf->i >= lf->cap) return nn_onnx__fail(c, NN_ERR_INVALID, NULL, "more entries than counted");
    if (lf->is_float) {
        uint32_t bits = (uint32_t)v;
        memcpy((float *)lf->dst + lf->i, &bits, 4);
    } else {
        ((int64_t *)lf->dst)[lf->i] = nn_onnx__s64(v);
    }
    lf->i++;
    return NN_OK;
}

static nn_status nn_onnx__count_sink(nn_onnx__ctx *c, void *arg, uint64_t v) {
    (void)c;
    (void)v;
    (*(size_t *)arg)++;
    return NN_OK;
}

/* Pass 1 over an AttributeProto: scalars, spans and list counts. */
static nn_status nn_onnx__scan_attr(nn_onnx__ctx *c, nn_onnx__span sp, nn_onnx__attr *a) {
    nn_onnx__rd r = nn_onnx__rd_make(sp);
    uint32_t f;
    pb_wire_type_t wt;
    int k;
    nn_onnx__span s;
    nn_status st = NN_OK;
    memset(a, 0, sizeof *a);
    a->name = a->s = a->t = a->g = nn_onnx__span_make(NULL, 0);
    while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
        if (f < 24) a->has[f] = 1;
        switch (f) {
        case 1: st = nn_onnx__len(c, &r, wt, "name", &a->name); break;
        case 2: st = nn_onnx__f32(c, &r, wt, "f", &a->f); break;
        case 3: st = nn_onnx__i64(c, &r, wt, "i", &a->i); break;
        case 4: st = nn_onnx__len(c, &r, wt, "s", &a->s); break;
        case 5: st = nn_onnx__len(c, &r, wt, "t", &a->t); break;
        case 6: st = nn_onnx__len(c, &r, wt, "g", &a->g); break;
        case 7: st = nn_onnx__repeated(c, &r, wt, PB_WT_32BIT, "floats", nn_onnx__count_sink, &a->n_floats); break;
        case 8: st = nn_onnx__repeated(c, &r, wt, PB_WT_VARINT, "ints", nn_onnx__count_sink, &a->n_ints); break;
        case 9: st = nn_onnx__len(c, &r, wt, "strings", &s); a->n_strings++; break;
        case 11: st = nn_onnx__len(c, &r, wt, "graphs", &s); a->n_graphs++; break;
        case 10: case 14: case 15: case 22: case 23: st = nn_onnx__skip(c, &r, wt); a->n_other++; break;
        case 20: st = nn_onnx__i32(c, &r, wt, "type", &a->type); break;
        case 21: st = nn_onnx__fail(c, NN_ERR_UNSUPPORTED, "ref_attr_name", "attribute references (of functions) are not supported"); break;
        default: st = nn_onnx__skip(c, &r, wt); break;
        }
        if (!st && (a->n_floats > NN_ONNX_MAX_ELEMS || a->n_ints > NN_ONNX_MAX_ELEMS ||
                    a->n_strings > NN_ONNX_MAX_ELEMS || a->n_graphs > NN_ONNX_MAX_ELEMS))
            st = nn_onnx__fail(c, NN_ERR_LIMIT, NULL, "more than %u list entries", (unsigned)NN_ONNX_MAX_ELEMS);
    }
    if (st || k < 0) return st ? st : NN_ERR_PARSE;
    if (a->type == 0) { /* IR < 3 wrote no type: infer it from the field present */
        static const int32_t by_field[12] = {0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        for (f = 2; f < 12 && a->type == 0; f++)
            if (a->has[f]) a->type = by_field[f];
    }
    return NN_OK;
}

/* Pass 2 for list attributes: fills floats / ints / strings / graphs. */
static nn_status nn_onnx__fill_attr(nn_onnx__ctx *c, nn_graph *g, nn_arena *tmp, nn_onnx__span sp, nn_attr *out) {
    nn_onnx__rd r = nn_onnx__rd_make(sp);
    uint32_t f, want = 0;
    pb_wire_type_t wt;
    int k;
    nn_onnx__span s;
    nn_onnx__list_fill lf;
    nn_status st = NN_OK;
    uint32_t ns = 0, ng = 0;
    char **strs = NULL;
    nn_graph **graphs = NULL;
    memset(&lf, 0, sizeof lf);
    if (out->type == NN_ATTR_FLOATS || out->type == NN_ATTR_INTS) {
        size_t bytes = (size_t)out->count * (out->type == NN_ATTR_FLOATS ? sizeof(float) : sizeof(int64_t));
        lf.dst = nn_arena_alloc(tmp, bytes);
        lf.cap = out->count;
        lf.is_float = out->type == NN_ATTR_FLOATS;
        want = out->type == NN_ATTR_FLOATS ? 7 : 8;
        if (!lf.dst) return nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory");
    } else if (out->type == NN_ATTR_STRINGS) {
        strs = (char **)nn_arena_alloc(tmp, ((size_t)out->count + 1) * sizeof(char *));
        want = 9;
        if (!strs) return nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory");
    } else if (out->type == NN_ATTR_GRAPHS) {
        graphs = (nn_graph **)nn_arena_alloc(tmp, ((size_t)out->count + 1) * sizeof(nn_graph *));
        want = 11;
        if (!graphs) return nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory");
    }
    while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
        if (f != want) { st = nn_onnx__skip(c, &r, wt); continue; }
        if (f == 7 || f == 8) {
            st = nn_onnx__repeated(c, &r, wt, f == 7 ? PB_WT_32BIT : PB_WT_VARINT, f == 7 ? "floats" : "ints",
                                   nn_onnx__list_sink, &lf);
        } else if (f == 9) {
            st = nn_onnx__len(c, &r, wt, "strings", &s);
            if (!st && ns < out->count) {
                strs[ns] = nn_onnx__arena_str(tmp, s);
                if (!strs[ns]) st = nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory");
                ns++;
            }
        } else if (f == 11) {
            nn_diag d2;
            size_t mark = nn_onnx__push(c, ".graphs[%u]", ng);
            st = nn_onnx__len(c, &r, wt, NULL, &s);
            memset(&d2, 0, sizeof d2);
            if (!st && ng < out->count) {
                st = nn_graph_create_subgraph(g, &graphs[ng], &d2);
                if (st) st = nn_onnx__relay(c, st, &d2, NULL);
                else st = nn_onnx__build_graph(c, graphs[ng], s);
                ng++;
            }
            nn_onnx__pop(c, mark);
        }
    }
    if (st || k < 0) return st ? st : NN_ERR_PARSE;
    if (out->type == NN_ATTR_FLOATS) out->floats = (const float *)lf.dst;
    if (out->type == NN_ATTR_INTS) out->ints = (const int64_t *)lf.dst;
    if (out->type == NN_ATTR_STRINGS) out->strings = (const char *const *)strs;
    if (out->type == NN_ATTR_GRAPHS) out->graphs = (nn_graph *const *)graphs;
    return NN_OK;
}

/* Builds one attribute of node nid.  tmp holds list arrays until
   nn_graph_add_attr has copied them. */
static nn_status nn_onnx__build_attr(nn_onnx__ctx *c, nn_graph *g, nn_node_id nid, nn_onnx__span sp,
                                     nn_arena *tmp) {
    nn_onnx__attr a;
    nn_attr out;
    nn_onnx__tensor t;
    const char *name, *tname;
    nn_diag d2;
    nn_status st = nn_onnx__scan_attr(c, sp, &a);
    if (st) return st;
    st = nn_onnx__cstr(c, 1, a.name, "name", &name);
    if (st) return st;
    /* Subgraphs below reuse the scratch slots: keep the name in tmp. */
    name = nn_arena_strdup(tmp, name, a.name.n);
    if (!name) return nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory");
    if (!name[0]) return nn_onnx__fail(c, NN_ERR_INVALID, "name", "attribute without a name");
    if (nn_node_attr(nn_graph_node(g, nid), name))
        return nn_onnx__fail(c, NN_ERR_INVALID, "name", "attribute '%s' appears twice", name);
    memset(&out, 0, sizeof out);
    out.name = name;
    memset(&d2, 0, sizeof d2);
    switch (a.type) {
    case NN_ATTR_FLOAT: out.type = NN_ATTR_FLOAT; out.f = a.f; break;
    case NN_ATTR_INT: out.type = NN_ATTR_INT; out.i = a.i; break;
    case NN_ATTR_STRING:
        out.type = NN_ATTR_STRING;
        out.s = (const char *)a.s.p;
        out.s_bytes = a.s.n;
        break;
    case NN_ATTR_TENSOR: {
        size_t mark = nn_onnx__push(c, ".t");
        if (!a.has[5]) st = nn_onnx__fail(c, NN_ERR_INVALID, NULL, "attribute '%s' is a tensor without t", name);
        if (!st) st = nn_onnx__parse_tensor(c, &g->arena, a.t, &t);
        if (!st) st = nn_onnx__cstr(c, 2, t.name, "name", &tname);
        nn_onnx__pop(c, mark);
        if (st) return st;
        out.type = NN_ATTR_TENSOR;
        out.t = nn_value_make(t.dtype, t.shape, (void *)(uintptr_t)t.data);
        out.t.bytes = t.bytes;
        out.t_name = tname;
        if (t.lent) c->lent++;
        break;
    }
    case NN_ATTR_GRAPH: {
        size_t mark = nn_onnx__push(c, ".g");
        if (!a.has[6]) st = nn_onnx__fail(c, NN_ERR_INVALID, NULL, "attribute '%s' is a graph without g", name);
        if (!st) {
            st = nn_graph_create_subgraph(g, &out.g, &d2);
            if (st) st = nn_onnx__relay(c, st, &d2, NULL);
        }
        if (!st) st = nn_onnx__build_graph(c, out.g, a.g);
        nn_onnx__pop(c, mark);
        if (st) return st;
        out.type = NN_ATTR_GRAPH;
        break;
    }
    case NN_ATTR_FLOATS: case NN_ATTR_INTS: case NN_ATTR_STRINGS: case NN_ATTR_GRAPHS:
        out.type = (nn_attr_type)a.type;
        out.count = (uint32_t)(a.type == NN_ATTR_FLOATS ? a.n_floats : a.type == NN_ATTR_INTS ? a.n_ints
                               : a.type == NN_ATTR_STRINGS ? a.n_strings : a.n_graphs);
        st = nn_onnx__fill_attr(c, g, tmp, sp, &out);
        if (st) return st;
        break;
    case NN_ATTR_TENSORS: case NN_ATTR_SPARSE_TENSOR: case 12: case NN_ATTR_TYPE_PROTO: case 14:
        /* Valid ONNX the IR cannot hold: kept by name and type, so the op
           table refuses (or the op ignores) it with a proper message. */
        out.type = (nn_attr_type)a.type;
        break;
    default:
        out.type = NN_ATTR_UNDEFINED;
        break;
    }
    st = nn_graph_add_attr(g, nid, &out, 1, &d2);
    return st ? nn_onnx__relay(c, st, &d2, NULL) : NN_OK;
}

static int nn_onnx__is_default_domain(nn_onnx__span d) {
    return d.n == 0 || nn_onnx__span_eq(d, "ai.onnx");
}

/* A Constant node whose value is value / value_float(s) / value_int(s)
   becomes an initializer named after its output (PaddlePaddle exports
   keep every weight this way).  Sets n->dropped when it did. */
static nn_status nn_onnx__fold_constant(nn_onnx__ctx *c, nn_graph *g, nn_arena *tmp, nn_onnx__node *n) {
    nn_onnx__attr a;
    nn_onnx__tensor t;
    nn_attr la;
    nn_tensor_id id;
    const char *out;
    nn_status st;
    int64_t one = 1;
    if (!nn_onnx__span_eq(n->op_type, "Constant") || !nn_onnx__is_default_domain(n->domain) || n->n_in != 0 ||
        n->n_out != 1 || n->n_attr != 1 || n->io[0].n == 0)
        return NN_OK;
    {
        size_t mark = nn_onnx__push(c, ".attribute[0]");
        st = nn_onnx__scan_attr(c, n->attrs[0], &a);
        nn_onnx__pop(c, mark);
        if (st) return st;
    }
    if (nn_onnx__span_eq(a.name, "value") && a.has[5]) {
        size_t mark = nn_onnx__push(c, ".attribute[0].t");
        st = nn_onnx__parse_tensor(c, &g->arena, a.t, &t);
        nn_onnx__pop(c, mark);
        if (st) return st;
    } else {
        memset(&t, 0, sizeof t);
        memset(&la, 0, sizeof la);
        if (nn_onnx__span_eq(a.name, "value_float") && a.has[2]) {
            t.dtype = NN_DTYPE_FLOAT;
            t.shape.rank = 0;
            la.f = a.f;
            t.data = &la.f;
            t.bytes = 4;
        } else if (nn_onnx__span_eq(a.name, "value_int") && a.has[3]) {
            t.dtype = NN_DTYPE_INT64;
            t.shape.rank = 0;
            la.i = a.i;
            t.data = &la.i;
            t.bytes = 8;
        } else if ((nn_onnx__span_eq(a.name, "value_floats") && a.type == NN_ATTR_FLOATS) ||
                   (nn_onnx__span_eq(a.name, "value_ints") && a.type == NN_ATTR_INTS)) {
            size_t mark = nn_onnx__push(c, ".attribute[0]");
            la.type = (nn_attr_type)a.type;
            la.count = (uint32_t)(a.type == NN_ATTR_FLOATS ? a.n_floats : a.n_ints);
            st = nn_onnx__fill_attr(c, g, tmp, n->attrs[0], &la);
            nn_onnx__pop(c, mark);
            if (st) return st;
            t.dtype = a.type == NN_ATTR_FLOATS ? NN_DTYPE_FLOAT : NN_DTYPE_INT64;
            t.shape = nn_shape_make(1, &one);
            t.shape.dims[0] = la.count;
            t.data = a.type == NN_ATTR_FLOATS ? (const void *)la.floats : (const void *)la.ints;
            t.bytes = (size_t)la.count * (a.type == NN_ATTR_FLOATS ? 4 : 8);
        } else {
            return NN_OK; /* value_string(s), sparse_value: the node stays */
        }
        t.lent = 0;
        /* these live in tmp or on the stack: copy */
        st = nn_onnx__cstr(c, 0, n->io[0], "output", &out);
        if (!st) st = nn_onnx__new_tensor(c, g, out, t.dtype, &t.shape, &id, "output");
        if (!st) {
            nn_diag d2;
            memset(&d2, 0, sizeof d2);
            st = nn_graph_set_data(g, id, t.bytes ? t.data : NULL, t.bytes, 1, &d2);
            if (st) st = nn_onnx__relay(c, st, &d2, NULL);
        }
        if (!st) n->dropped = 1;
        return st;
    }
    st = nn_onnx__cstr(c, 0, n->io[0], "output", &out);
    if (!st) st = nn_onnx__new_tensor(c, g, out, t.dtype, &t.shape, &id, "output");
    if (!st) st = nn_onnx__set_data(c, g, id, &t);
    if (!st) n->dropped = 1;
    return st;
}

/* Adds node n (outputs already exist) and its attributes. */
static nn_status nn_onnx__add_node(nn_onnx__ctx *c, nn_graph *g, const nn_onnx__node *n, nn_arena *tmp) {
    nn_tensor_id *ids;
    nn_node_id nid;
    const char *op, *dom, *name, *s;
    nn_diag d2;
    nn_status st = NN_OK;
    uint32_t i;
    ids = (nn_tensor_id *)nn_arena_alloc(tmp, ((size_t)n->n_in + n->n_out + 1) * sizeof(nn_tensor_id));
    if (!ids) return nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory");
    for (i = 0; i < n->n_in + n->n_out && st == NN_OK; i++) {
        char field[32];
        snprintf(field, sizeof field, "%s[%u]", i < n->n_in ? "input" : "output", i < n->n_in ? i : i - n->n_in);
        ids[i].id = NN_INVALID_ID; /* an empty name marks an omitted optional input or output */
        st = nn_onnx__cstr(c, 0, n->io[i], field, &s);
        if (st || !s[0]) continue;
        if (i < n->n_in) st = nn_onnx__resolve(c, g, s, &ids[i], field);
        else ids[i] = nn_graph_find_tensor(g, s);
    }
    if (!st) st = nn_onnx__cstr(c, 1, n->op_type, "op_type", &op);
    if (!st) st = nn_onnx__cstr(c, 2, n->domain, "domain", &dom);
    if (!st) st = nn_onnx__cstr(c, 3, n->name, "name", &name);
    if (st) return st;
    memset(&d2, 0, sizeof d2);
    st = nn_graph_add_node(g, op, dom, name, ids, n->n_in, ids + n->n_in, n->n_out, &nid, &d2);
    if (st) return nn_onnx__relay(c, st, &d2, NULL);
    for (i = 0; i < n->n_attr && st == NN_OK; i++) {
        size_t mark = nn_onnx__push(c, ".attribute[%u]", i);
        st = nn_onnx__build_attr(c, g, nid, n->attrs[i], tmp);
        nn_onnx__pop(c, mark);
    }
    return st;
}

/* Graph inputs (skipping those that are initializers), outputs or
   value_info (which only annotates tensors that exist). */
static nn_status nn_onnx__add_value_infos(nn_onnx__ctx *c, nn_graph *g, const nn_onnx__graph *gr, int which) {
    nn_onnx__span name;
    nn_onnx__tinfo ti;
    nn_tensor_id id;
    const char *s;
    nn_diag d2;
    nn_status st = NN_OK;
    for (uint32_t i = 0; i < gr->count[which] && st == NN_OK; i++) {
        size_t mark = nn_onnx__push(c, ".%s[%u]", nn_onnx__g_name[which], i);
        st = nn_onnx__parse_value_info(c, gr->list[which][i], &name, &ti);
        if (!st) st = nn_onnx__cstr(c, 0, name, "name", &s);
        if (!st && !s[0] && which != NN_ONNX__G_VINFO) st = nn_onnx__fail(c, NN_ERR_INVALID, "name", "a graph %s without a name", nn_onnx__g_name[which]);
        if (!st && ti.kind == NN_ONNX__TYPE_OTHER && which != NN_ONNX__G_VINFO)
            st = nn_onnx__fail(c, NN_ERR_UNSUPPORTED, "type", "graph %s '%s' is %s; only tensors are supported",
                               nn_onnx__g_name[which], s, ti.kind_name);
        if (!st && ti.kind == NN_ONNX__TYPE_TENSOR && ti.dtype == NN_DTYPE_STRING && which != NN_ONNX__G_VINFO)
            st = nn_onnx__fail(c, NN_ERR_UNSUPPORTED, "type", "graph %s '%s' holds strings; string tensors are not supported",
                               nn_onnx__g_name[which], s);
        if (st) { nn_onnx__pop(c, mark); break; }
        memset(&d2, 0, sizeof d2);
        id = nn_graph_find_tensor(g, s);
        if (which == NN_ONNX__G_INPUT) {
            if (id.id != NN_INVALID_ID && (nn_graph_tensor(g, id)->flags & NN_TENSOR_CONST)) {
                /* Before IR 4 every initializer was also listed as an input:
                   it is a constant, not something the caller feeds. */
            } else {
                st = nn_onnx__new_tensor(c, g, s, NN_DTYPE_UNDEFINED, NULL, &id, "name");
                if (!st) st = nn_onnx__apply_type(c, g, id, &ti);
                if (!st) st = nn_graph_add_input(g, id, &d2);
                if (st && d2.status) st = nn_onnx__relay(c, st, &d2, NULL);
            }
        } else if (which == NN_ONNX__G_OUTPUT) {
            st = nn_onnx__resolve(c, g, s, &id, "name");
            if (!st) {
                nn_tensor *t = nn_graph_tensor(g, id);
                if (!(t->flags & (NN_TENSOR_CONST | NN_TENSOR_INPUT)) && t->dtype == NN_DTYPE_UNDEFINED)
                    st = nn_onnx__apply_type(c, g, id, &ti);
            }
            if (!st) st = nn_graph_add_output(g, id, &d2);
            if (st && d2.status) st = nn_onnx__relay(c, st, &d2, NULL);
        } else if (id.id != NN_INVALID_ID) {
            nn_tensor *t = nn_graph_tensor(g, id);
            if (!(t->flags & (NN_TENSOR_CONST | NN_TENSOR_INPUT | NN_TENSOR_OUTER)) && t->dtype == NN_DTYPE_UNDEFINED) {
                /* a graph output typed only here: the same rule as in graph.output
                   (found by fuzz_onnx: the saved file's output then held strings) */
                if ((t->flags & NN_TENSOR_OUTPUT) && ti.kind == NN_ONNX__TYPE_TENSOR && ti.dtype == NN_DTYPE_STRING)
                    st = nn_onnx__fail(c, NN_ERR_UNSUPPORTED, "type",
                                       "graph output '%s' is declared here as strings; string tensors are not supported", s);
                else
                    st = nn_onnx__apply_type(c, g, id, &ti);
            }
        }
        nn_onnx__pop(c, mark);
    }
    return st;
}

/* Builds g from a GraphProto in an order that lets names be used before
   the node that defines them (nodes need not be sorted): initializers,
   inputs, every node output, then nodes with their inputs and attributes
   (subgraphs see all names of this scope), outputs, value_info.  Finally
   the graph must be acyclic with every consumed tensor defined. */
static nn_status nn_onnx__build_graph(nn_onnx__ctx *c, nn_graph *g, nn_onnx__span sp) {
    nn_arena tmp;
    nn_onnx__graph gr;
    nn_onnx__tensor t;
    nn_tensor_id id;
    const char *s;
    uint32_t i, j, *order = NULL;
    nn_status st;
    nn_arena_init(&tmp, &c->alloc);
    st = nn_onnx__index_graph(c, &tmp, sp, &gr);
    if (!st && gr.name.n) {
        g->name = nn_onnx__arena_str(&g->arena, gr.name);
        if (!g->name) st = nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory");
    }
    for (i = 0; i < gr.count[NN_ONNX__G_INIT] && !st; i++) {
        size_t mark = nn_onnx__push(c, ".initializer[%u]", i);
        st = nn_onnx__parse_tensor(c, &g->arena, gr.list[NN_ONNX__G_INIT][i], &t);
        if (!st) st = nn_onnx__cstr(c, 0, t.name, "name", &s);
        if (!st && !s[0]) st = nn_onnx__fail(c, NN_ERR_INVALID, "name", "an initializer without a name");
        if (!st) st = nn_onnx__new_tensor(c, g, s, t.dtype, &t.shape, &id, "name");
        if (!st) st = nn_onnx__set_data(c, g, id, &t);
        nn_onnx__pop(c, mark);
    }
    if (!st) st = nn_onnx__add_value_infos(c, g, &gr, NN_ONNX__G_INPUT);
    if (!st) {
        gr.nodes = (nn_onnx__node *)nn_arena_alloc(&tmp, ((size_t)gr.count[NN_ONNX__G_NODE] + 1) * sizeof(nn_onnx__node));
        if (!gr.nodes) st = nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory");
    }
    for (i = 0; i < gr.count[NN_ONNX__G_NODE] && !st; i++) {
        nn_onnx__node *n = &gr.nodes[i];
        size_t mark = nn_onnx__push(c, ".node[%u]", i);
        st = nn_onnx__parse_node(c, &tmp, gr.list[NN_ONNX__G_NODE][i], n);
        if (!st) st = nn_onnx__fold_constant(c, g, &tmp, n);
        for (j = 0; j < n->n_out && !st && !n->dropped; j++) {
            char field[32];
            snprintf(field, sizeof field, "output[%u]", j);
            st = nn_onnx__cstr(c, 0, n->io[n->n_in + j], field, &s);
            if (!st && s[0]) st = nn_onnx__new_tensor(c, g, s, NN_DTYPE_UNDEFINED, NULL, &id, field);
        }
        nn_onnx__pop(c, mark);
    }
    for (i = 0; i < gr.count[NN_ONNX__G_NODE] && !st; i++) {
        size_t mark = nn_onnx__push(c, ".node[%u]", i);
        if (!gr.nodes[i].dropped) st = nn_onnx__add_node(c, g, &gr.nodes[i], &tmp);
        nn_onnx__pop(c, mark);
    }
    if (!st) st = nn_onnx__add_value_infos(c, g, &gr, NN_ONNX__G_OUTPUT);
    if (!st && !c->skip_value_info) st = nn_onnx__add_value_infos(c, g, &gr, NN_ONNX__G_VINFO);
    if (!st && g->node_count) {
        nn_diag d2;
        memset(&d2, 0, sizeof d2);
        order = (uint32_t *)nn_alloc(&c->alloc, (size_t)g->node_count * sizeof(uint32_t));
        if (!order) st = nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory");
        else st = nn_graph_topo_order(g, order, &d2);
        if (st && d2.status) st = nn_onnx__fail(c, st, NULL, "%s: %s", d2.where, d2.message);
        nn_free(&c->alloc, order);
    }
    nn_arena_deinit(&tmp);
    return st;
}

/* ---- ModelProto ------------------------------------------------------------------------ */

/* ModelProto (onnx.proto): ir_version = 1, producer_name = 2,
   producer_version = 3, domain = 4, model_version = 5, doc_string = 6,
   graph = 7, opset_import = 8, metadata_props = 14, training_info = 20,
   functions = 25. */
static nn_status nn_onnx__parse_model(nn_onnx__ctx *c, nn_onnx__span sp, nn_graph *g) {
    nn_onnx__rd r = nn_onnx__rd_make(sp);
    nn_onnx__span graph = nn_onnx__span_make(NULL, 0), pn = graph, pv = graph, s;
    int has_graph = 0, k;
    uint32_t f, n_opsets = 0;
    pb_wire_type_t wt;
    nn_status st = NN_OK;
    while (st == NN_OK && (k = nn_onnx__next(c, &r, &f, &wt)) > 0) {
        switch (f) {
        case 1: st = nn_onnx__i64(c, &r, wt, "ir_version", &g->ir_version); break;
        case 2: st = nn_onnx__len(c, &r, wt, "producer_name", &pn); break;
        case 3: st = nn_onnx__len(c, &r, wt, "producer_version", &pv); break;
        case 7:
            st = nn_onnx__len(c, &r, wt, "graph", &graph);
            if (!st && has_graph++) st = nn_onnx__fail(c, NN_ERR_INVALID, "graph", "the model holds two graphs");
            break;
        case 8: {
            size_t mark = nn_onnx__push(c, "opset_import[%u]", n_opsets);
            st = nn_onnx__len(c, &r, wt, NULL, &s);
            if (!st && ++n_opsets > NN_ONNX_MAX_COUNT) st = nn_onnx__fail(c, NN_ERR_LIMIT, NULL, "too many opsets");
            if (!st) st = nn_onnx__parse_opset(c, g, s);
            nn_onnx__pop(c, mark);
            break;
        }
        default: st = nn_onnx__skip(c, &r, wt); break;
        }
    }
    if (st || k < 0) return st ? st : NN_ERR_PARSE;
    if (!has_graph) return nn_onnx__fail(c, NN_ERR_INVALID, "graph", "the model has no graph");
    g->producer_name = nn_onnx__arena_str(&g->arena, pn);
    g->producer_version = nn_onnx__arena_str(&g->arena, pv);
    if (!g->producer_name || !g->producer_version) return nn_onnx__fail(c, NN_ERR_NOMEM, NULL, "out of memory");
    {
        size_t mark = nn_onnx__push(c, "graph");
        st = nn_onnx__build_graph(c, g, graph);
        nn_onnx__pop(c, mark);
    }
    return st;
}

static int nn_onnx__little_endian(void) {
    uint16_t x = 1;
    uint8_t b;
    memcpy(&b, &x, 1);
    return b == 1;
}

static void nn_onnx__ctx_init(nn_onnx__ctx *c, const nn_onnx_desc *desc, nn_diag *diag) {
    memset(c, 0, sizeof *c);
    c->diag = diag;
    if (desc) {
        c->alloc = desc->alloc;
        c->copy_weights = desc->copy_weights;
        c->skip_value_info = desc->skip_value_info;
        c->dir = desc->base_dir;
    }
}

static void nn_onnx__ctx_deinit(nn_onnx__ctx *c) {
    for (int i = 0; i < NN_ONNX__SLOTS; i++) nn_free(&c->alloc, c->slot[i]);
}

/* Builds a graph from model bytes; maps (may be NULL) holds buffers that
   must live as long as lent weights do and passes to the graph. */
static nn_status nn_onnx__load(nn_onnx__ctx *c, nn_onnx__span model, nn_onnx__maps *maps, nn_graph **out) {
    nn_graph *g = NULL;
    nn_graph_desc gd;
    nn_status st;
    if (!nn_onnx__little_endian()) {
        nn_onnx__maps_free(maps);
        return nn_onnx__fail(c, NN_ERR_UNSUPPORTED, NULL, "nn_onnx.h needs a little-endian host");
    }
    memset(&gd, 0, sizeof gd);
    gd.alloc = c->alloc;
    st = nn_graph_create(&gd, &g, c->diag);
    if (st) { nn_onnx__maps_free(maps); return st; }
    /* From here the graph owns the buffers: destroying it releases them. */
    nn_graph_set_release(g, nn_onnx__maps_free, maps);
    c->maps = maps;
    st = nn_onnx__parse_model(c, model, g);
    if (st) { nn_graph_destroy(g); return st; }
    if (c->lent == 0) { /* nothing borrowed: give the buffers back now */
        nn_onnx__maps_free(maps);
        nn_graph_set_release(g, NULL, NULL);
    }
    *out = g;
    return NN_OK;
}

static nn_onnx__maps *nn_onnx__maps_create(const nn_allocator *a) {
    nn_onnx__maps *ms = (nn_onnx__maps *)nn_alloc(a, sizeof *ms);
    if (ms) {
        memset(ms, 0, sizeof *ms);
        ms->alloc = *a;
    }
    return ms;
}

/* ---- public: load ------------------------------------------------------------------------ */

NN_API nn_status nn_onnx_load_file(const char *path, const nn_onnx_desc *desc, nn_graph **out, nn_diag *diag) {
    nn_onnx__ctx c;
    nn_onnx__maps *maps;
    nn_onnx__map m;
    char *dir;
    const char *slash;
    size_t dl;
    nn_status st;
    NN_ASSERT(path && out);
    nn_onnx__ctx_init(&c, desc, diag);
    c.writable = 1;
    slash = strrchr(path, '/');
    dl = slash ? (size_t)(slash - path) : 1;
    dir = (char *)nn_alloc(&c.alloc, dl + 2); /* "/" for a model at the root, and the NUL */
    maps = nn_onnx__maps_create(&c.alloc);
    if (!dir || !maps) {
        nn_free(&c.alloc, dir);
        nn_free(&c.alloc, maps);
        return nn_diag_set(diag, NN_ERR_NOMEM, path, "out of memory");
    }
    if (slash) memcpy(dir, path, dl);
    else dir[0] = '.';
    if (slash && dl == 0) dir[dl++] = '/'; /* a model at the root */
    dir[dl] = 0;
    c.dir = dir;
    c.maps = maps;
    st = nn_onnx__map_file(&c, path, 1, &m, NULL);
    if (!st && (st = nn_onnx__maps_add(&c, &m, NULL)) != NN_OK) nn_onnx__unmap(&c.alloc, &m);
    if (st) {
        nn_onnx__maps_free(maps);
        nn_free(&c.alloc, dir);
        return st;
    }
    st = nn_onnx__load(&c, nn_onnx__span_make(m.addr, m.bytes), maps, out);
    nn_free(&c.alloc, dir);
    nn_onnx__ctx_deinit(&c);
    return st;
}

NN_API nn_status nn_onnx_load_memory(const void *data, size_t bytes, const nn_onnx_desc *desc, nn_graph **out,
                                     nn_diag *diag) {
    nn_onnx__ctx c;
    nn_onnx__maps *maps;
    nn_status st;
    NN_ASSERT(out && (data || bytes == 0));
    nn_onnx__ctx_init(&c, desc, diag);
    maps = nn_onnx__maps_create(&c.alloc);
    if (!maps) return nn_diag_set(diag, NN_ERR_NOMEM, "model", "out of memory");
    st = nn_onnx__load(&c, nn_onnx__span_make(data, bytes), maps, out);
    nn_onnx__ctx_deinit(&c);
    return st;
}

/* ---- public: tensor files ---------------------------------------------------------------- */

NN_API nn_status nn_onnx_load_tensor_memory(const void *data, size_t bytes, nn_value *out, char *out_name,
                                            size_t name_bytes, const nn_allocator *alloc, nn_diag *diag) {
    nn_onnx__ctx c;
    nn_onnx__tensor t;
    nn_arena tmp;
    nn_status st;
    void *p;
    NN_ASSERT(out && (data || bytes == 0));
    nn_onnx__ctx_init(&c, NULL, diag);
    if (alloc) c.alloc = *alloc;
    if (!nn_onnx__little_endian())
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, "tensor", "nn_onnx.h needs a little-endian host");
    nn_arena_init(&tmp, &c.alloc);
    st = nn_onnx__parse_tensor(&c, &tmp, nn_onnx__span_make(data, bytes), &t);
    if (!st) {
        p = nn_alloc(&c.alloc, t.bytes);
        if (!p) st = nn_diag_set(diag, NN_ERR_NOMEM, "tensor", "out of memory for %zu bytes", t.bytes);
        else {
            if (t.bytes) memcpy(p, t.data, t.bytes);
            *out = nn_value_make(t.dtype, t.shape, p);
            out->bytes = t.bytes;
            out->flags = NN_VALUE_OWNED;
            if (out_name && name_bytes) {
                size_t n = t.name.n < name_bytes - 1 ? t.name.n : name_bytes - 1;
                if (n) memcpy(out_name, t.name.p, n);
                out_name[n] = 0;
            }
        }
    }
    nn_arena_deinit(&tmp);
    nn_onnx__ctx_deinit(&c);
    return st;
}

NN_API nn_status nn_onnx_load_tensor_file(const char *path, nn_value *out, const nn_allocator *alloc, nn_diag *diag) {
    nn_onnx__ctx c;
    nn_onnx__map m;
    nn_allocator a;
    nn_status st;
    NN_ASSERT(path && out);
    memset(&a, 0, sizeof a);
    if (alloc) a = *alloc;
    nn_onnx__ctx_init(&c, NULL, diag);
    c.alloc = a;
    st = nn_onnx__map_file(&c, path, 0, &m, NULL);
    if (st) return st;
    st = nn_onnx_load_tensor_memory(m.addr, m.bytes, out, NULL, 0, &a, diag);
    nn_onnx__unmap(&a, &m);
    return st;
}

NN_API void nn_onnx_free_value(nn_value *v, const nn_allocator *alloc) {
    if (!v) return;
    nn_free(alloc, v->data);
    memset(v, 0, sizeof *v);
}

/* ---- writing: nested messages through sizing streams ------------------------------ */

typedef struct nn_onnx__wctx {
    nn_diag *diag;
    int failed;
} nn_onnx__wctx;

typedef int (*nn_onnx__enc_fn)(nn_onnx__wctx *w, pb_ostream_t *s, const void *obj);

static int nn_onnx__werr(nn_onnx__wctx *w, pb_ostream_t *s) {
    if (!w->failed) nn_diag_set(w->diag, NN_ERR_IO, "write", "cannot write (%s)", PB_GET_ERROR(s));
    w->failed = 1;
    return 0;
}

static int nn_onnx__winvalid(nn_onnx__wctx *w, const char *where, const char *what) {
    if (!w->failed) nn_diag_set(w->diag, NN_ERR_INVALID, where, "%s", what);
    w->failed = 1;
    return 0;
}

/* A length-delimited submessage: its size comes from a sizing pass (a
   stream without callback only counts).  When s itself is sizing, the
   content is not encoded a second time, so nesting costs one sizing pass
   per level, not a doubling per level. */
static int nn_onnx__enc_sub(nn_onnx__wctx *w, pb_ostream_t *s, uint32_t field, nn_onnx__enc_fn fn, const void *obj) {
    pb_ostream_t sz;
    size_t before;
    memset(&sz, 0, sizeof sz);
    sz.max_size = SIZE_MAX;
    if (!fn(w, &sz, obj)) return 0;
    if (!pb_encode_tag(s, PB_WT_STRING, field) || !pb_encode_varint(s, (uint64_t)sz.bytes_written))
        return nn_onnx__werr(w, s);
    if (s->callback == NULL) return pb_write(s, NULL, sz.bytes_written) ? 1 : nn_onnx__werr(w, s);
    before = s->bytes_written;
    if (!fn(w, s, obj)) return 0;
    if (s->bytes_written - before != sz.bytes_written) return nn_onnx__winvalid(w, "write", "message size changed while writing");
    return 1;
}

static int nn_onnx__enc_str(nn_onnx__wctx *w, pb_ostream_t *s, uint32_t field, const char *str) {
    if (!pb_encode_tag(s, PB_WT_STRING, field) ||
        !pb_encode_string(s, (const pb_byte_t *)(str ? str : ""), str ? strlen(str) : 0))
        return nn_onnx__werr(w, s);
    return 1;
}

static int nn_onnx__enc_u64(nn_onnx__wctx *w, pb_ostream_t *s, uint32_t field, uint64_t v) {
    if (!pb_encode_tag(s, PB_WT_VARINT, field) || !pb_encode_varint(s, v)) return nn_onnx__werr(w, s);
    return 1;
}

static uint64_t nn_onnx__u(int64_t v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u); /* negative int64 is a 10-byte two's complement varint */
    return u;
}

/* A packed repeated int64 field (dims, ints). */
static int nn_onnx__enc_packed_i64(nn_onnx__wctx *w, pb_ostream_t *s, uint32_t field, const int64_t *v, size_t n) {
    pb_ostream_t sz;
    size_t i;
    if (n == 0) return 1;
    memset(&sz, 0, sizeof sz);
    for (i = 0; i < n; i++) pb_encode_varint(&sz, nn_onnx__u(v[i]));
    if (!pb_encode_tag(s, PB_WT_STRING, field) || !pb_encode_varint(s, (uint64_t)sz.bytes_written))
        return nn_onnx__werr(w, s);
    for (i = 0; i < n; i++)
        if (!pb_encode_varint(s, nn_onnx__u(v[i]))) return nn_onnx__werr(w, s);
    return 1;
}

/* What a TensorProto is written from. */
typedef struct nn_onnx__tout {
    const char *name;
    nn_dtype dtype;
    const nn_shape *shape;
    const void *data;
    size_t bytes;
} nn_onnx__tout;

/* TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9
   (little-endian, the host's order). */
static int nn_onnx__enc_tensor(nn_onnx__wctx *w, pb_ostream_t *s, const void *obj) {
    const nn_onnx__tout *t = (const nn_onnx__tout *)obj;
    size_t need, count;
    int ok;
    count = nn_shape_count(t->shape, &ok);
    if (!ok || !nn_dtype_bytes_for(t->dtype, count, &need) || need != t->bytes || (need && !t->data))
        return nn_onnx__winvalid(w, t->name, "a tensor whose data does not match its type and shape");
    if (!nn_onnx__enc_packed_i64(w, s, 1, t->shape->dims, (size_t)t->shape->rank)) return 0;
    if (!nn_onnx__enc_u64(w, s, 2, (uint64_t)t->dtype)) return 0;
    if (t->name && t->name[0] && !nn_onnx__enc_str(w, s, 8, t->name)) return 0;
    if (!pb_encode_tag(s, PB_WT_STRING, 9) || !pb_encode_varint(s, (uint64_t)need) ||
        !pb_write(s, (const pb_byte_t *)t->data, need))
        return nn_onnx__werr(w, s);
    return 1;
}

typedef struct nn_onnx__dimout { int64_t value; const char *param; } nn_onnx__dimout;

/* TensorShapeProto.Dimension: dim_value = 1, dim_param = 2. */
static int nn_onnx__enc_dim(nn_onnx__wctx *w, pb_ostream_t *s, const void *obj) {
    const nn_onnx__dimout *d = (const nn_onnx__dimout *)obj;
    if (d->value >= 0) return nn_onnx__enc_u64(w, s, 1, (uint64_t)d->value);
    if (d->param) return nn_onnx__enc_str(w, s, 2, d->param);
    return 1; /* an unknown, unnamed dimension */
}

/* TensorShapeProto: dim = 1. */
static int nn_onnx__enc_shape(nn_onnx__wctx *w, pb_ostream_t *s, const void *obj) {
    const nn_tensor *t = (const nn_tensor *)obj;
    for (int32_t i = 0; i < t->shape.rank; i++) {
        nn_onnx__dimout d;
        d.value = t->shape.dims[i];
        d.param = t->dim_param[i];
        if (!nn_onnx__enc_sub(w, s, 1, nn_onnx__enc_dim, &d)) return 0;
    }
    return 1;
}

/* TypeProto.Tensor: elem_type = 1, shape = 2 (absent for unknown rank). */
static int nn_onnx__enc_tensor_type(nn_onnx__wctx *w, pb_ostream_t *s, const void *obj) {
    const nn_tensor *t = (const nn_tensor *)obj;
    if (!nn_onnx__enc_u64(w, s, 1, (uint64_t)t->dtype)) return 0;
    if (t->shape.rank >= 0 && !nn_onnx__enc_sub(w, s, 2, nn_onnx__enc_shape, t)) return 0;
    return 1;
}

/* TypeProto: tensor_type = 1. */
static int nn_onnx__enc_type(nn_onnx__wctx *w, pb_ostream_t *s, const void *obj) {
    return nn_onnx__enc_sub(w, s, 1, nn_onnx__enc_tensor_type, obj);
}

/* ValueInfoProto: name = 1, type = 2 (left out when the type is unknown). */
static int nn_onnx__enc_value_info(nn_onnx__wctx *w, pb_ostream_t *s, const void *obj) {
    const nn_tensor *t = (const nn_tensor *)obj;
    if (!nn_onnx__enc_str(w, s, 1, t->name)) return 0;
    if (t->dtype != NN_DTYPE_UNDEFINED && !nn_onnx__enc_sub(w, s, 2, nn_onnx__enc_type, t)) return 0;
    return 1;
}

static int nn_onnx__enc_graph(nn_onnx__wctx *w, pb_ostream_t *s, const void *obj);

/* 1 for the attribute types the writer can express. */
static int nn_onnx__attr_writable(const nn_attr *a) {
    switch (a->type) {
    case NN_ATTR_FLOAT: case NN_ATTR_INT: case NN_ATTR_STRING: case NN_ATTR_TENSOR: case NN_ATTR_GRAPH:
    case NN_ATTR_FLOATS: case NN_ATTR_INTS: case NN_ATTR_STRINGS: case NN_ATTR_GRAPHS: return 1;
    default: return 0;
    }
}

/* AttributeProto: name = 1, f = 2, i = 3, s = 4, t = 5, g = 6, floats = 7,
   ints = 8, strings = 9, graphs = 11, type = 20. */
static int nn_onnx__enc_attr(nn_onnx__wctx *w, pb_ostream_t *s, const void *obj) {
    const nn_attr *a = (const nn_attr *)obj;
    uint32_t i;
    if (!nn_onnx__enc_str(w, s, 1, a->name)) return 0;
    switch (a->type) {
    case NN_ATTR_FLOAT:
        if (!pb_encode_tag(s, PB_WT_32BIT, 2) || !pb_encode_fixed32(s, &a->f)) return nn_onnx__werr(w, s);
        break;
    case NN_ATTR_INT:
        if (!nn_onnx__enc_u64(w, s, 3, nn_onnx__u(a->i))) return 0;
        break;
    case NN_ATTR_STRING:
        if (!pb_encode_tag(s, PB_WT_STRING, 4) || !pb_encode_string(s, (const pb_byte_t *)(a->s ? a->s : ""), a->s ? a->s_bytes : 0))
            return nn_onnx__werr(w, s);
        break;
    case NN_ATTR_TENSOR: {
        nn_onnx__tout t;
        t.name = a->t_name;
        t.dtype = a->t.dtype;
        t.shape = &a->t.shape;
        t.data = a->t.data;
        t.bytes = a->t.bytes;
        if (!nn_onnx__enc_sub(w, s, 5, nn_onnx__enc_tensor, &t)) return 0;
        break;
    }
    case NN_ATTR_GRAPH:
        if (!a->g) return nn_onnx__winvalid(w, a->name, "a graph attribute without a graph");
        if (!nn_onnx__enc_sub(w, s, 6, nn_onnx__enc_graph, a->g)) return 0;
        break;
    case NN_ATTR_FLOATS:
        if (a->count) {
            if (!pb_encode_tag(s, PB_WT_STRING, 7) || !pb_encode_varint(s, (uint64_t)a->count * 4)) return nn_onnx__werr(w, s);
            for (i = 0; i < a->count; i++)
                if (!pb_encode_fixed32(s, &a->floats[i])) return nn_onnx__werr(w, s);
        }
        break;
    case NN_ATTR_INTS:
        if (!nn_onnx__enc_packed_i64(w, s, 8, a->ints, a->count)) return 0;
        break;
    case NN_ATTR_STRINGS:
        for (i = 0; i < a->count; i++)
            if (!nn_onnx__enc_str(w, s, 9, a->strings[i])) return 0;
        break;
    case NN_ATTR_GRAPHS:
        for (i = 0; i < a->count; i++)
            if (!nn_onnx__enc_sub(w, s, 11, nn_onnx__enc_graph, a->graphs[i])) return 0;
        break;
    default: break;
    }
    return nn_onnx__enc_u64(w, s, 20, (uint64_t)a->type);
}

typedef struct nn_onnx__nodeout { const nn_graph *g; const nn_node *n; } nn_onnx__nodeout;

static const char *nn_onnx__tname(const nn_graph *g, nn_tensor_id id) {
    return id.id == NN_INVALID_ID ? "" : g->tensors[id.id].name; /* "" marks an omitted input or output */
}

/* NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5,
   domain = 7. */
static int nn_onnx__enc_node(nn_onnx__wctx *w, pb_ostream_t *s, const void *obj) {
    const nn_onnx__nodeout *no = (const nn_onnx__nodeout *)obj;
    const nn_node *n = no->n;
    uint32_t i;
    for (i = 0; i < n->input_count; i++)
        if (!nn_onnx__enc_str(w, s, 1, nn_onnx__tname(no->g, n->inputs[i]))) return 0;
    for (i = 0; i < n->output_count; i++)
        if (!nn_onnx__enc_str(w, s, 2, nn_onnx__tname(no->g, n->outputs[i]))) return 0;
    if (n->name && n->name[0] && !nn_onnx__enc_str(w, s, 3, n->name)) return 0;
    if (!nn_onnx__enc_str(w, s, 4, n->op_type)) return 0;
    for (i = 0; i < n->attr_count; i++)
        if (nn_onnx__attr_writable(&n->attrs[i]) && !nn_onnx__enc_sub(w, s, 5, nn_onnx__enc_attr, &n->attrs[i]))
            return 0;
    if (n->domain && n->domain[0] && !nn_onnx__enc_str(w, s, 7, n->domain)) return 0;
    return 1;
}

/* GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
   Initializers are the constant tensors in tensor order; captures of
   outer scopes are written by name only (in node inputs). */
static int nn_onnx__enc_graph(nn_onnx__wctx *w, pb_ostream_t *s, const void *obj) {
    const nn_graph *g = (const nn_graph *)obj;
    uint32_t i;
    for (i = 0; i < g->node_count; i++) {
        nn_onnx__nodeout no;
        no.g = g;
        no.n = &g->nodes[i];
        if (!nn_onnx__enc_sub(w, s, 1, nn_onnx__enc_node, &no)) return 0;
    }
    if (!nn_onnx__enc_str(w, s, 2, g->name && g->name[0] ? g->name : "graph")) return 0;
    for (i = 0; i < g->tensor_count; i++) {
        const nn_tensor *t = &g->tensors[i];
        nn_onnx__tout to;
        if (!(t->flags & NN_TENSOR_CONST)) continue;
        to.name = t->name;
        to.dtype = t->dtype;
        to.shape = &t->shape;
        to.data = t->data;
        to.bytes = t->data_bytes;
        if (!nn_onnx__enc_sub(w, s, 5, nn_onnx__enc_tensor, &to)) return 0;
    }
    for (i = 0; i < g->input_count; i++)
        if (!nn_onnx__enc_sub(w, s, 11, nn_onnx__enc_value_info, &g->tensors[g->inputs[i].id])) return 0;
    for (i = 0; i < g->output_count; i++)
        if (!nn_onnx__enc_sub(w, s, 12, nn_onnx__enc_value_info, &g->tensors[g->outputs[i].id])) return 0;
    return 1;
}

/* OperatorSetIdProto: domain = 1, version = 2. */
static int nn_onnx__enc_opset(nn_onnx__wctx *w, pb_ostream_t *s, const void *obj) {
    const nn_opset *o = (const nn_opset *)obj;
    if (!nn_onnx__enc_str(w, s, 1, o->domain)) return 0;
    return nn_onnx__enc_u64(w, s, 2, nn_onnx__u(o->version));
}

typedef struct nn_onnx__modelout {
    const nn_graph *g;
    int64_t ir_version;
    const char *producer_name, *producer_version;
} nn_onnx__modelout;

/* ModelProto: ir_version = 1, producer_name = 2, producer_version = 3,
   graph = 7, opset_import = 8. */
static int nn_onnx__enc_model(nn_onnx__wctx *w, pb_ostream_t *s, const void *obj) {
    const nn_onnx__modelout *m = (const nn_onnx__modelout *)obj;
    uint32_t i;
    if (!nn_onnx__enc_u64(w, s, 1, nn_onnx__u(m->ir_version))) return 0;
    if (m->producer_name && !nn_onnx__enc_str(w, s, 2, m->producer_name)) return 0;
    if (m->producer_version && m->producer_version[0] && !nn_onnx__enc_str(w, s, 3, m->producer_version)) return 0;
    if (!nn_onnx__enc_sub(w, s, 7, nn_onnx__enc_graph, m->g)) return 0;
    for (i = 0; i < m->g->opset_count; i++)
        if (!nn_onnx__enc_sub(w, s, 8, nn_onnx__enc_opset, &m->g->opsets[i])) return 0;
    return 1;
}

static void nn_onnx__model_out(const nn_graph *g, const nn_onnx_save_desc *desc, nn_onnx__modelout *m) {
    m->g = g;
    /* IR 4 is the first where initializers need not be graph inputs. */
    m->ir_version = desc && desc->ir_version ? desc->ir_version : (g->ir_version >= 4 ? g->ir_version : 4);
    m->producer_name = desc && desc->producer_name ? desc->producer_name
                       : g->producer_name && g->producer_name[0] ? g->producer_name : "nnport";
    m->producer_version = desc && desc->producer_version ? desc->producer_version : g->producer_version;
}

static bool nn_onnx__file_cb(pb_ostream_t *s, const pb_byte_t *buf, size_t count) {
    return fwrite(buf, 1, count, (FILE *)s->state) == count;
}

/* Encodes a top-level message into path.tmp, then renames it over path. */
static nn_status nn_onnx__write_file(const char *path, const nn_allocator *a, nn_onnx__enc_fn fn, const void *obj,
                                     nn_diag *diag) {
    nn_onnx__wctx w;
    pb_ostream_t s;
    size_t n = strlen(path);
    char *tmp = (char *)nn_alloc(a, n + 5);
    FILE *f;
    int ok;
    if (!tmp) return nn_diag_set(diag, NN_ERR_NOMEM, path, "out of memory");
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    f = fopen(tmp, "wb");
    if (!f) {
        nn_free(a, tmp);
        return nn_diag_set(diag, NN_ERR_IO, path, "cannot create '%s.tmp'", path);
    }
    setvbuf(f, NULL, _IOFBF, (size_t)1 << 20);
    memset(&w, 0, sizeof w);
    w.diag = diag;
    memset(&s, 0, sizeof s);
    s.callback = nn_onnx__file_cb;
    s.state = f;
    s.max_size = SIZE_MAX;
    ok = fn(&w, &s, obj);
    if (fflush(f) != 0 || ferror(f)) ok = 0;
    if (fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok) {
        remove(tmp);
        nn_free(a, tmp);
        if (!w.failed) nn_diag_set(diag, NN_ERR_IO, path, "cannot write '%s'", path);
        return diag && diag->status ? diag->status : NN_ERR_IO;
    }
    nn_free(a, tmp);
    return NN_OK;
}

/* ---- public: save ------------------------------------------------------------------------ */

NN_API nn_status nn_onnx_save_file(const nn_graph *g, const char *path, const nn_onnx_save_desc *desc, nn_diag *diag) {
    nn_onnx__modelout m;
    nn_diag local;
    nn_status st;
    NN_ASSERT(g && path);
    memset(&local, 0, sizeof local);
    nn_onnx__model_out(g, desc, &m);
    st = nn_onnx__write_file(path, desc ? &desc->alloc : NULL, nn_onnx__enc_model, &m, diag ? diag : &local);
    return st;
}

NN_API nn_status nn_onnx_save_memory(const nn_graph *g, const nn_onnx_save_desc *desc, void **out_data,
                                     size_t *out_bytes, nn_diag *diag) {
    nn_onnx__modelout m;
    nn_onnx__wctx w;
    pb_ostream_t s;
    nn_allocator a;
    void *buf;
    NN_ASSERT(g && out_data && out_bytes);
    memset(&a, 0, sizeof a);
    if (desc) a = desc->alloc;
    nn_onnx__model_out(g, desc, &m);
    memset(&w, 0, sizeof w);
    w.diag = diag;
    memset(&s, 0, sizeof s);
    s.max_size = SIZE_MAX;
    if (!nn_onnx__enc_model(&w, &s, &m)) return diag && diag->status ? diag->status : NN_ERR_INVALID;
    buf = nn_alloc(&a, s.bytes_written);
    if (!buf) return nn_diag_set(diag, NN_ERR_NOMEM, "save", "out of memory for %zu bytes", s.bytes_written);
    s = pb_ostream_from_buffer((pb_byte_t *)buf, s.bytes_written);
    if (!nn_onnx__enc_model(&w, &s, &m)) {
        nn_free(&a, buf);
        return diag && diag->status ? diag->status : NN_ERR_INVALID;
    }
    *out_data = buf;
    *out_bytes = s.bytes_written;
    return NN_OK;
}

NN_API nn_status nn_onnx_save_tensor_file(const char *path, const nn_value *v, const char *name, nn_diag *diag) {
    nn_onnx__tout t;
    size_t bytes;
    NN_ASSERT(path && v);
    if (!nn_dtype_bytes_for(v->dtype, nn_value_count(v), &bytes) || v->shape.rank < 0)
        return nn_diag_set(diag, NN_ERR_INVALID, path, "the value has no static shape or a type without a size");
    t.name = name;
    t.dtype = v->dtype;
    t.shape = &v->shape;
    t.data = v->data;
    t.bytes = bytes;
    return nn_onnx__write_file(path, NULL, nn_onnx__enc_tensor, &t, diag);
}

#ifdef __cplusplus
}
#endif

#endif /* NN_ONNX_IMPLEMENTATION_DONE */
#endif /* NN_IMPLEMENTATION || NN_ONNX_IMPLEMENTATION */

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
