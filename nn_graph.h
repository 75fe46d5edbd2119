/* nn_graph.h - the shared base of nnport: IR, shape inference, float
   reference executor and graph passes for ONNX models.  Version 0.1.0.

   nnport takes a trained ONNX model to a program for a neural processing
   unit.  This header is the base every other nnport header includes:

     status and diagnostics   nn_status, nn_diag
     memory                   nn_allocator, nn_arena
     data types and shapes    nn_dtype (ONNX numbering), nn_shape
     the IR                   nn_graph of nn_tensor and nn_node, referred to
                              by typed index handles; subgraphs for If/Loop
     shape inference          nn_graph_infer_shapes
     reference executor       nn_exec_create / nn_exec_run
     operator table           one row per ONNX op: name, opset range,
                              accepted attributes, infer and run functions

   BUILD
     In exactly one C or C++ file:
         #define NN_IMPLEMENTATION        (or NN_GRAPH_IMPLEMENTATION)
         #include "nn_graph.h"
     Link with -lm -lpthread.  Build with -O3 -march=native (or at least
     -O2 -mavx2 -mfma on x86-64): the GEMM kernel is written so compilers
     vectorize it, and flags alone make a 3x difference on AVX2 machines.

   CONFIG MACROS (define before the implementation include)
     NN_ASSERT(x)        assert() by default; API misuse only.
     NN_MALLOC/NN_FREE   malloc/free; used when an nn_allocator is zero.
     NN_MAX_RANK         8: the highest tensor rank accepted.
     NN_NO_THREADS       build without pthreads (executor runs serially).

   QUICK START
       nn_graph *g; nn_diag d = {0};
       if (nn_onnx_load_file("model.onnx", NULL, &g, &d)) { puts(d.message); }
       nn_exec *x;
       nn_exec_desc xd = { .threads = 2 };
       nn_exec_create(g, &xd, &x, &d);
       nn_value in = nn_value_make(NN_DTYPE_FLOAT, shape, data);
       nn_exec_set_input(x, 0, &in, &d);
       nn_exec_run(x, &d);
       const nn_value *out = nn_exec_output(x, 0);
       nn_exec_destroy(x); nn_graph_destroy(g);

   OWNERSHIP  A graph owns its nodes, tensors, names and attributes (one
     arena).  Initializer data is either copied into the arena or borrowed
     from a buffer the graph keeps alive through a release callback (the
     ONNX reader maps the file and lends the weights in place).  An nn_exec
     borrows its graph: the graph must outlive it.  Input values are
     borrowed for the length of nn_exec_run; outputs belong to the exec.
   ERRORS  Fallible functions return nn_status; details go into the caller's
     nn_diag (first error wins).  Library code never prints or exits.
   MEMORY  Every allocation goes through the nn_allocator of the desc.  The
     executor frees each activation after its last consumer has run.
   THREADS  A graph is read-only while execs use it; one exec is used by one
     thread at a time.  An exec may own a pool of worker threads.
   LIMITS  Ranks above NN_MAX_RANK, element counts whose byte size overflows
     size_t, subgraph nesting above NN_MAX_DEPTH and unknown ops or
     attributes are refused with a status naming the node and field.
*/
#ifndef NN_GRAPH_H
#define NN_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#define NN_VERSION_MAJOR 0
#define NN_VERSION_MINOR 1
#define NN_VERSION_PATCH 0

#ifndef NN_API
#define NN_API
#endif

#ifndef NN_MAX_RANK
#define NN_MAX_RANK 8
#endif
#ifndef NN_MAX_DEPTH
#define NN_MAX_DEPTH 16 /* subgraph nesting */
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status and diagnostics ------------------------------------------ */

typedef enum nn_status {
    NN_OK = 0,
    NN_ERR_NOMEM,       /* an allocation failed */
    NN_ERR_IO,          /* a file could not be opened, read or written */
    NN_ERR_PARSE,       /* bytes are not the format they claim to be */
    NN_ERR_INVALID,     /* well-formed but inconsistent data */
    NN_ERR_UNSUPPORTED, /* valid ONNX this build does not handle */
    NN_ERR_SHAPE,       /* shapes that do not agree */
    NN_ERR_LIMIT,       /* a count, size or depth above an NN_MAX_* cap */
    NN_ERR_ARG          /* a caller-supplied option is wrong */
} nn_status;

/* Filled by the first failing call; later errors do not overwrite it. */
typedef struct nn_diag {
    nn_status status;
    char message[256]; /* what is wrong and, where possible, what to do */
    char where[192];   /* the node, tensor, attribute or file field */
} nn_diag;

NN_API const char *nn_status_name(nn_status s);
/* Records an error (printf-style message) unless diag already holds one.
   Returns s, so `return nn_diag_set(d, NN_ERR_X, where, "...")` reads well.
   diag may be NULL. */
NN_API nn_status nn_diag_set(nn_diag *diag, nn_status s, const char *where,
                             const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* ---- memory ------------------------------------------------------------ */

typedef struct nn_allocator {
    void *(*alloc)(void *user, size_t bytes); /* NULL: NN_MALLOC */
    void (*free)(void *user, void *ptr);      /* NULL: NN_FREE */
    void *user;
} nn_allocator;

NN_API void *nn_alloc(const nn_allocator *a, size_t bytes);
NN_API void nn_free(const nn_allocator *a, void *ptr);

/* Overflow-checked size arithmetic: return 0 (and leave *out) on overflow. */
NN_API int nn_size_mul(size_t a, size_t b, size_t *out);
NN_API int nn_size_add(size_t a, size_t b, size_t *out);

/* A bump allocator of linked blocks, freed all at once. */
typedef struct nn_arena_block nn_arena_block;
typedef struct nn_arena {
    nn_allocator alloc;
    nn_arena_block *head;
    size_t block_bytes; /* 0: 64 KiB */
    size_t used_bytes;  /* total handed out */
} nn_arena;

NN_API void nn_arena_init(nn_arena *a, const nn_allocator *alloc);
/* 16-byte aligned, zeroed; NULL when out of memory or bytes overflows. */
NN_API void *nn_arena_alloc(nn_arena *a, size_t bytes);
NN_API char *nn_arena_strdup(nn_arena *a, const char *s, size_t len);
NN_API void nn_arena_deinit(nn_arena *a);

/* ---- data types ----------------------------------------------------------- */

/* Values follow onnx.proto TensorProto.DataType so files map directly. */
typedef enum nn_dtype {
    NN_DTYPE_UNDEFINED = 0,
    NN_DTYPE_FLOAT = 1,
    NN_DTYPE_UINT8 = 2,
    NN_DTYPE_INT8 = 3,
    NN_DTYPE_UINT16 = 4,
    NN_DTYPE_INT16 = 5,
    NN_DTYPE_INT32 = 6,
    NN_DTYPE_INT64 = 7,
    NN_DTYPE_STRING = 8,
    NN_DTYPE_BOOL = 9,
    NN_DTYPE_FLOAT16 = 10,
    NN_DTYPE_DOUBLE = 11,
    NN_DTYPE_UINT32 = 12,
    NN_DTYPE_UINT64 = 13,
    NN_DTYPE_COMPLEX64 = 14,
    NN_DTYPE_COMPLEX128 = 15,
    NN_DTYPE_BFLOAT16 = 16,
    NN_DTYPE_FLOAT8E4M3FN = 17,
    NN_DTYPE_FLOAT8E4M3FNUZ = 18,
    NN_DTYPE_FLOAT8E5M2 = 19,
    NN_DTYPE_FLOAT8E5M2FNUZ = 20,
    NN_DTYPE_UINT4 = 21,
    NN_DTYPE_INT4 = 22,
    NN_DTYPE_COUNT_
} nn_dtype;

NN_API const char *nn_dtype_name(nn_dtype t);      /* "float32", "int64", ... */
NN_API size_t nn_dtype_size(nn_dtype t);           /* bytes; 0 for 4-bit/string/unknown */
NN_API int nn_dtype_bits(nn_dtype t);              /* 4 for int4/uint4 */
NN_API int nn_dtype_is_float(nn_dtype t);
NN_API int nn_dtype_is_signed_int(nn_dtype t);
NN_API int nn_dtype_is_unsigned_int(nn_dtype t);   /* bool excluded */
/* Bytes to hold count elements (4-bit types packed two per byte, low nibble
   first as in ONNX); 0 on overflow or unsupported type. */
NN_API int nn_dtype_bytes_for(nn_dtype t, size_t count, size_t *out_bytes);

NN_API float nn_f16_to_f32(uint16_t h);
NN_API uint16_t nn_f32_to_f16(float f);   /* round to nearest even */
NN_API float nn_bf16_to_f32(uint16_t h);
NN_API uint16_t nn_f32_to_bf16(float f);  /* round to nearest even */

/* ---- shapes ---------------------------------------------------------------- */

#define NN_DIM_UNKNOWN (-1)   /* a dimension not known until run time */
#define NN_RANK_UNKNOWN (-1)

typedef struct nn_shape {
    int32_t rank;                /* NN_RANK_UNKNOWN, or 0..NN_MAX_RANK */
    int64_t dims[NN_MAX_RANK];   /* NN_DIM_UNKNOWN or >= 0 */
} nn_shape;

NN_API nn_shape nn_shape_make(int32_t rank, const int64_t *dims);
/* 1 when rank and every dim are known. */
NN_API int nn_shape_is_static(const nn_shape *s);
/* Element count of a static shape; 0 (and *ok=0) on unknown or overflow. */
NN_API size_t nn_shape_count(const nn_shape *s, int *ok);
NN_API int nn_shape_equal(const nn_shape *a, const nn_shape *b);
/* "1x3x224x224", "?x3" ("scalar" for rank 0); returns buf. */
NN_API char *nn_shape_str(const nn_shape *s, char *buf, size_t buf_bytes);

/* ---- runtime values ---------------------------------------------------------- */

/* A tensor's value at run time: dense, row-major, little-endian. */
typedef struct nn_value {
    nn_dtype dtype;
    nn_shape shape;
    void *data;      /* count elements of dtype; NULL when not known */
    size_t bytes;
    uint32_t flags;  /* NN_VALUE_* */
} nn_value;

#define NN_VALUE_OWNED 1u     /* data was allocated by the executor */

NN_API nn_value nn_value_make(nn_dtype t, nn_shape s, void *data);
NN_API size_t nn_value_count(const nn_value *v);

/* ---- the IR -------------------------------------------------------------------- */

typedef struct nn_tensor_id { uint32_t id; } nn_tensor_id;
typedef struct nn_node_id { uint32_t id; } nn_node_id;
#define NN_INVALID_ID 0xFFFFFFFFu

/* Attribute types follow onnx.proto AttributeProto.AttributeType. */
typedef enum nn_attr_type {
    NN_ATTR_UNDEFINED = 0,
    NN_ATTR_FLOAT = 1,
    NN_ATTR_INT = 2,
    NN_ATTR_STRING = 3,
    NN_ATTR_TENSOR = 4,
    NN_ATTR_GRAPH = 5,
    NN_ATTR_FLOATS = 6,
    NN_ATTR_INTS = 7,
    NN_ATTR_STRINGS = 8,
    NN_ATTR_TENSORS = 9,
    NN_ATTR_GRAPHS = 10,
    NN_ATTR_SPARSE_TENSOR = 11,
    NN_ATTR_TYPE_PROTO = 13
} nn_attr_type;

struct nn_graph;

typedef struct nn_attr {
    const char *name;
    nn_attr_type type;
    int64_t i;                 /* INT */
    float f;                   /* FLOAT */
    const char *s;             /* STRING (bytes, s_bytes long, NUL added) */
    size_t s_bytes;
    uint32_t count;            /* elements of ints/floats/strings/graphs */
    const int64_t *ints;       /* INTS */
    const float *floats;       /* FLOATS */
    const char *const *strings;/* STRINGS */
    nn_value t;                /* TENSOR: data in the graph's arena or lent */
    const char *t_name;
    struct nn_graph *g;        /* GRAPH: a subgraph owned by the graph */
    struct nn_graph *const *graphs; /* GRAPHS */
} nn_attr;

enum {
    NN_TENSOR_INPUT = 1u,      /* a graph input fed by the caller */
    NN_TENSOR_OUTPUT = 2u,     /* a graph output */
    NN_TENSOR_CONST = 4u,      /* an initializer: data is set */
    NN_TENSOR_OUTER = 8u,      /* a subgraph's reference to an outer scope */
    NN_TENSOR_BORROWED = 16u   /* data lent from a buffer the graph keeps */
};

typedef struct nn_tensor {
    const char *name;
    nn_dtype dtype;             /* NN_DTYPE_UNDEFINED until known */
    nn_shape shape;             /* declared or inferred */
    const char *dim_param[NN_MAX_RANK]; /* symbolic dim names, or NULL */
    uint32_t flags;             /* NN_TENSOR_* */
    void *data;                 /* initializer data (CONST), else NULL */
    size_t data_bytes;
    nn_node_id producer;        /* NN_INVALID_ID for inputs/constants */
} nn_tensor;

typedef struct nn_node {
    const char *name;
    const char *op_type;
    const char *domain;         /* "" for the default ONNX domain */
    uint32_t input_count;
    uint32_t output_count;
    nn_tensor_id *inputs;       /* NN_INVALID_ID marks an omitted input */
    nn_tensor_id *outputs;      /* NN_INVALID_ID marks an omitted output */
    uint32_t attr_count;
    nn_attr *attrs;
    const char *origin;         /* original ONNX node names (provenance) */
} nn_node;

typedef struct nn_opset { const char *domain; int64_t version; } nn_opset;

typedef struct nn_graph {
    nn_allocator alloc;
    nn_arena arena;
    const char *name;
    nn_tensor *tensors;  uint32_t tensor_count, tensor_cap;
    nn_node *nodes;      uint32_t node_count, node_cap;
    nn_tensor_id *inputs;  uint32_t input_count, input_cap;
    nn_tensor_id *outputs; uint32_t output_count, output_cap;
    nn_opset *opsets;      uint32_t opset_count, opset_cap;
    int64_t ir_version;
    const char *producer_name;
    const char *producer_version;
    struct nn_graph *parent;          /* outer scope of a subgraph */
    struct nn_graph **subgraphs; uint32_t subgraph_count, subgraph_cap;
    uint32_t depth;                   /* 0 for the main graph */
    /* name -> tensor index, open addressing; rebuilt on growth */
    uint32_t *name_index; uint32_t name_index_cap;
    void (*release)(void *user);      /* frees a buffer lent to the graph */
    void *release_user;
} nn_graph;

typedef struct nn_graph_desc {
    nn_allocator alloc;
    const char *name;
} nn_graph_desc;

/* -- create / destroy -- */
NN_API nn_status nn_graph_create(const nn_graph_desc *desc, nn_graph **out, nn_diag *diag);
NN_API void nn_graph_destroy(nn_graph *g);
/* A child graph (If/Loop/Scan body) owned by g; nesting capped at NN_MAX_DEPTH. */
NN_API nn_status nn_graph_create_subgraph(nn_graph *g, nn_graph **out, nn_diag *diag);
/* The graph calls release(user) when destroyed: for lent weight buffers. */
NN_API void nn_graph_set_release(nn_graph *g, void (*release)(void *), void *user);

/* -- build -- */
/* Adds a tensor named name (copied); fails if the name exists in g. */
NN_API nn_status nn_graph_add_tensor(nn_graph *g, const char *name, nn_dtype t,
                                     const nn_shape *shape, nn_tensor_id *out, nn_diag *diag);
/* The tensor with this name in g only, or NN_INVALID_ID. */
NN_API nn_tensor_id nn_graph_find_tensor(const nn_graph *g, const char *name);
/* Sets initializer data: copied into the arena when copy is 1, else
   borrowed (the caller keeps it alive, e.g. via nn_graph_set_release).
   bytes must match dtype x shape. */
NN_API nn_status nn_graph_set_data(nn_graph *g, nn_tensor_id t, const void *data,
                                   size_t bytes, int copy, nn_diag *diag);
NN_API nn_status nn_graph_add_input(nn_graph *g, nn_tensor_id t, nn_diag *diag);
NN_API nn_status nn_graph_add_output(nn_graph *g, nn_tensor_id t, nn_diag *diag);
/* Adds a node; inputs/outputs and strings are copied.  The outputs'
   producer field is set; an output already produced elsewhere is an error. */
NN_API nn_status nn_graph_add_node(nn_graph *g, const char *op_type, const char *domain,
                                   const char *name, const nn_tensor_id *inputs,
                                   uint32_t input_count, const nn_tensor_id *outputs,
                                   uint32_t output_count, nn_node_id *out, nn_diag *diag);
/* Copies attr (arrays and strings into the arena; tensor data copied unless
   lent_data is 1; subgraph pointers kept: they must belong to g). */
NN_API nn_status nn_graph_add_attr(nn_graph *g, nn_node_id n, const nn_attr *attr,
                                   int lent_data, nn_diag *diag);
NN_API nn_status nn_graph_set_opset(nn_graph *g, const char *domain, int64_t version, nn_diag *diag);
/* The opset version of domain ("" and "ai.onnx" are the same), or 0. */
NN_API int64_t nn_graph_opset(const nn_graph *g, const char *domain);

/* -- query -- */
static inline nn_tensor *nn_graph_tensor(const nn_graph *g, nn_tensor_id t) { return &g->tensors[t.id]; }
static inline nn_node *nn_graph_node(const nn_graph *g, nn_node_id n) { return &g->nodes[n.id]; }
NN_API const nn_attr *nn_node_attr(const nn_node *n, const char *name);
NN_API int64_t nn_node_attr_int(const nn_node *n, const char *name, int64_t def);
NN_API float nn_node_attr_float(const nn_node *n, const char *name, float def);
NN_API const char *nn_node_attr_string(const nn_node *n, const char *name, const char *def);

/* Kahn order of the nodes (outer-scope captures of subgraphs count as
   inputs).  out_order has node_count entries.  NN_ERR_INVALID on a cycle
   or a tensor consumed but never produced. */
NN_API nn_status nn_graph_topo_order(const nn_graph *g, uint32_t *out_order, nn_diag *diag);
/* Reorders g->nodes into topological order (ids change). */
NN_API nn_status nn_graph_sort(nn_graph *g, nn_diag *diag);

/* ---- shape inference -------------------------------------------------------- */

typedef struct nn_input_shape { const char *name; nn_shape shape; } nn_input_shape;

/* Sets dtype and shape of every tensor from the graph inputs (overridden by
   the given shapes, like --input_shapes) through each op's infer function;
   small constant results are propagated as values so that Reshape targets
   computed by Shape/Gather/Concat chains resolve.  Unknown dims stay
   NN_DIM_UNKNOWN.  Refuses unknown ops and attributes. */
NN_API nn_status nn_graph_infer_shapes(nn_graph *g, const nn_input_shape *shapes,
                                       uint32_t shape_count, nn_diag *diag);

/* ---- statistics -------------------------------------------------------------- */

typedef struct nn_graph_stats {
    uint64_t node_count;     /* including nodes of subgraphs */
    uint64_t param_count;    /* elements of initializers */
    uint64_t param_bytes;
    uint64_t macs;           /* multiply-accumulates of Conv/ConvTranspose/MatMul/Gemm
                                and recurrent ops, from inferred shapes */
    uint32_t unknown_mac_nodes; /* MAC-bearing nodes whose shapes were unknown */
} nn_graph_stats;

/* MACs of one node from the inferred shapes of its tensors (run
   nn_graph_infer_shapes first); 0 for ops without multiply-accumulates.
   *known (optional) is 0 when the op has MACs but a shape was unknown. */
NN_API uint64_t nn_node_macs(const nn_graph *g, const nn_node *n, int *known);
/* Totals over g and its subgraphs (subgraph bodies counted once). */
NN_API void nn_graph_get_stats(const nn_graph *g, nn_graph_stats *out);

/* ---- operator table --------------------------------------------------------- */

struct nn_exec;
typedef struct nn_op_ctx {
    const nn_graph *graph;
    const nn_node *node;
    int64_t opset;             /* opset version of the node's domain */
    nn_diag *diag;
    struct nn_exec *exec;      /* NULL during static shape inference */
    void *env;                 /* executor scope, for subgraph runs */
    const nn_allocator *alloc; /* where values and scratch come from */
    void *scratch;             /* private: scratch blocks of this node */
} nn_op_ctx;

/* Infers output dtype and shape.  in[i].data is non-NULL when the value is
   known (a constant, or any input at run time); omitted optional inputs
   have dtype NN_DTYPE_UNDEFINED.  Dims that cannot be known yet are set to
   NN_DIM_UNKNOWN; only definite contradictions are errors.  An infer
   function may also fill out[j].data with a small computed value (through
   nn_op_alloc_value) when every input it needs is known. */
typedef nn_status (*nn_infer_fn)(nn_op_ctx *c, const nn_value *in, uint32_t n_in,
                                 nn_value *out, uint32_t n_out);
/* Computes outputs.  The executor has allocated every output whose inferred
   shape is static; outputs left with data == NULL (data-dependent shapes)
   are allocated by the kernel with nn_op_alloc_value. */
typedef nn_status (*nn_run_fn)(nn_op_ctx *c, const nn_value *in, uint32_t n_in,
                               nn_value *out, uint32_t n_out);

typedef struct nn_op_def {
    const char *name;          /* ONNX op_type */
    const char *domain;        /* "" for ai.onnx */
    int since, until;          /* opset versions handled, inclusive */
    int min_inputs, max_inputs;
    int min_outputs, max_outputs;
    const char *attrs;         /* comma-separated accepted attribute names */
    nn_infer_fn infer;
    nn_run_fn run;
    uint32_t flags;            /* NN_OPF_* */
} nn_op_def;

#define NN_OPF_NONDETERMINISTIC 1u  /* never evaluated at inference time */
#define NN_OPF_SUBGRAPH 2u          /* has graph attributes (If, Loop, Scan) */

/* The op definition for this node at opset, or NULL. */
NN_API const nn_op_def *nn_op_find(const char *op_type, const char *domain, int64_t opset);
/* Iterates the whole table (index from 0); NULL past the end. */
NN_API const nn_op_def *nn_op_at(size_t index);

/* Kernel helpers. */
/* Allocates v->data for v->dtype/v->shape (static shape required). */
NN_API nn_status nn_op_alloc_value(nn_op_ctx *c, nn_value *v);
/* Frees a value allocated by nn_op_alloc_value or a subgraph run and
   clears it; values without NN_VALUE_OWNED are only cleared. */
NN_API void nn_op_free_value(nn_op_ctx *c, nn_value *v);
/* Scratch memory freed after the node runs; NULL on failure (diag set). */
NN_API void *nn_op_scratch(nn_op_ctx *c, size_t bytes);
/* Runs fn over [0, n) split into chunks across the exec's threads. */
typedef void (*nn_range_fn)(void *arg, size_t begin, size_t end);
NN_API void nn_op_parallel(nn_op_ctx *c, size_t n, size_t min_chunk, nn_range_fn fn, void *arg);
/* Runs a subgraph of this node (If/Loop/Scan bodies) in the node's scope. */
NN_API nn_status nn_op_run_subgraph(nn_op_ctx *c, const nn_graph *body,
                                    const nn_value *inputs, uint32_t input_count,
                                    nn_value *outputs, uint32_t output_count);
NN_API nn_status nn_op_error(nn_op_ctx *c, nn_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- the reference executor ----------------------------------------------- */

typedef struct nn_exec nn_exec;

/* Called after each node runs, before any input is freed; outputs are the
   node's values.  Return non-zero to stop the run (NN_ERR_ARG). */
typedef int (*nn_exec_observer)(void *user, const nn_graph *g, uint32_t node_index,
                                const nn_value *outputs, uint32_t output_count);

typedef struct nn_exec_desc {
    nn_allocator alloc;
    int threads;                     /* 0 or 1: run on the calling thread */
    const nn_input_shape *input_shapes; /* fix symbolic input dims */
    uint32_t input_shape_count;
    nn_exec_observer observer;       /* optional per-node hook */
    void *observer_user;
} nn_exec_desc;

/* Prepares g for execution: resolves every op, refuses unknown ops and
   attributes (diag names the node and attribute), orders nodes, infers
   shapes, computes last uses.  g must outlive the exec. */
NN_API nn_status nn_exec_create(const nn_graph *g, const nn_exec_desc *desc,
                                nn_exec **out, nn_diag *diag);
/* Binds graph input `index` (order of g->inputs) to v; data is borrowed
   until nn_exec_run returns.  dtype and rank must match. */
NN_API nn_status nn_exec_set_input(nn_exec *x, uint32_t index, const nn_value *v, nn_diag *diag);
NN_API nn_status nn_exec_run(nn_exec *x, nn_diag *diag);
/* Graph output `index` after a successful run; owned by the exec, valid
   until the next run or destroy. */
NN_API const nn_value *nn_exec_output(const nn_exec *x, uint32_t index);
/* Bytes of activations live at the worst point of the last run. */
NN_API size_t nn_exec_peak_bytes(const nn_exec *x);
NN_API void nn_exec_destroy(nn_exec *x);

#ifdef __cplusplus
}
#endif

/* ===================== end of API: implementation below ===================== */

#if defined(NN_IMPLEMENTATION) || defined(NN_GRAPH_IMPLEMENTATION)
#ifndef NN_GRAPH_IMPLEMENTATION_DONE
#define NN_GRAPH_IMPLEMENTATION_DONE

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <float.h>
#include <limits.h>

#ifndef NN_ASSERT
#include <assert.h>
#define NN_ASSERT(x) assert(x)
#endif
#ifndef NN_MALLOC
#define NN_MALLOC(sz) malloc(sz)
#define NN_FREE(p) free(p)
#endif
#ifndef NN_NO_THREADS
#include <pthread.h>
#endif

/* ---- status and diagnostics ---------------------------------------------- */

NN_API const char *nn_status_name(nn_status s) {
    switch (s) {
    case NN_OK: return "ok";
    case NN_ERR_NOMEM: return "out of memory";
    case NN_ERR_IO: return "i/o error";
    case NN_ERR_PARSE: return "parse error";
    case NN_ERR_INVALID: return "invalid";
    case NN_ERR_UNSUPPORTED: return "unsupported";
    case NN_ERR_SHAPE: return "shape mismatch";
    case NN_ERR_LIMIT: return "limit exceeded";
    case NN_ERR_ARG: return "bad argument";
    }
    return "unknown status";
}

NN_API nn_status nn_diag_set(nn_diag *diag, nn_status s, const char *where, const char *fmt, ...) {
    if (!diag || diag->status != NN_OK || s == NN_OK) return s;
    diag->status = s;
    snprintf(diag->where, sizeof diag->where, "%s", where ? where : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag->message, sizeof diag->message, fmt, ap);
    va_end(ap);
    return s;
}

/* ---- memory ---------------------------------------------------------------- */

NN_API void *nn_alloc(const nn_allocator *a, size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (a && a->alloc) return a->alloc(a->user, bytes);
    return NN_MALLOC(bytes);
}

NN_API void nn_free(const nn_allocator *a, void *ptr) {
    if (!ptr) return;
    if (a && a->free) a->free(a->user, ptr);
    else NN_FREE(ptr);
}

NN_API int nn_size_mul(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

NN_API int nn_size_add(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}

struct nn_arena_block {
    nn_arena_block *next;
    size_t cap, used;
    /* data follows, 16-byte aligned (the header is 32 bytes on LP64) */
    size_t pad_;
};

NN_API void nn_arena_init(nn_arena *a, const nn_allocator *alloc) {
    memset(a, 0, sizeof *a);
    if (alloc) a->alloc = *alloc;
}

NN_API void *nn_arena_alloc(nn_arena *a, size_t bytes) {
    size_t need = (bytes + 15u) & ~(size_t)15u;
    if (need < bytes) return NULL;
    nn_arena_block *b = a->head;
    if (!b || b->cap - b->used < need) {
        size_t cap = a->block_bytes ? a->block_bytes : (size_t)64 << 10;
        if (cap < need) cap = need;
        size_t total;
        if (!nn_size_add(cap, sizeof(nn_arena_block) + 16, &total)) return NULL;
        nn_arena_block *nb = (nn_arena_block *)nn_alloc(&a->alloc, total);
        if (!nb) return NULL;
        nb->cap = cap;
        nb->used = 0;
        /* Big one-off requests go behind the head so the head keeps its room. */
        if (b && cap == need && b->cap - b->used > 4096) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->head = nb;
        }
        b = nb;
    }
    uintptr_t base = ((uintptr_t)(b + 1) + 15u) & ~(uintptr_t)15u;
    void *p = (void *)(base + b->used);
    b->used += need;
    a->used_bytes += need;
    memset(p, 0, bytes);
    return p;
}

NN_API char *nn_arena_strdup(nn_arena *a, const char *s, size_t len) {
    char *p = (char *)nn_arena_alloc(a, len + 1);
    if (!p) return NULL;
    if (len) memcpy(p, s, len);
    p[len] = 0;
    return p;
}

NN_API void nn_arena_deinit(nn_arena *a) {
    nn_arena_block *b = a->head;
    while (b) {
        nn_arena_block *n = b->next;
        nn_free(&a->alloc, b);
        b = n;
    }
    a->head = NULL;
    a->used_bytes = 0;
}

/* ---- data types ---------------------------------------------------------------- */

NN_API const char *nn_dtype_name(nn_dtype t) {
    static const char *names[] = {
        "undefined", "float32", "uint8", "int8", "uint16", "int16", "int32", "int64",
        "string", "bool", "float16", "float64", "uint32", "uint64", "complex64",
        "complex128", "bfloat16", "float8e4m3fn", "float8e4m3fnuz", "float8e5m2",
        "float8e5m2fnuz", "uint4", "int4"};
    if ((unsigned)t < sizeof names / sizeof names[0]) return names[t];
    return "unknown";
}

NN_API size_t nn_dtype_size(nn_dtype t) {
    switch (t) {
    case NN_DTYPE_FLOAT: case NN_DTYPE_INT32: case NN_DTYPE_UINT32: return 4;
    case NN_DTYPE_UINT8: case NN_DTYPE_INT8: case NN_DTYPE_BOOL:
    case NN_DTYPE_FLOAT8E4M3FN: case NN_DTYPE_FLOAT8E4M3FNUZ:
    case NN_DTYPE_FLOAT8E5M2: case NN_DTYPE_FLOAT8E5M2FNUZ: return 1;
    case NN_DTYPE_UINT16: case NN_DTYPE_INT16: case NN_DTYPE_FLOAT16:
    case NN_DTYPE_BFLOAT16: return 2;
    case NN_DTYPE_INT64: case NN_DTYPE_DOUBLE: case NN_DTYPE_UINT64:
    case NN_DTYPE_COMPLEX64: return 8;
    case NN_DTYPE_COMPLEX128: return 16;
    default: return 0;
    }
}

NN_API int nn_dtype_bits(nn_dtype t) {
    if (t == NN_DTYPE_INT4 || t == NN_DTYPE_UINT4) return 4;
    return (int)nn_dtype_size(t) * 8;
}

NN_API int nn_dtype_is_float(nn_dtype t) {
    return t == NN_DTYPE_FLOAT || t == NN_DTYPE_DOUBLE || t == NN_DTYPE_FLOAT16 ||
           t == NN_DTYPE_BFLOAT16;
}

NN_API int nn_dtype_is_signed_int(nn_dtype t) {
    return t == NN_DTYPE_INT8 || t == NN_DTYPE_INT16 || t == NN_DTYPE_INT32 ||
           t == NN_DTYPE_INT64 || t == NN_DTYPE_INT4;
}

NN_API int nn_dtype_is_unsigned_int(nn_dtype t) {
    return t == NN_DTYPE_UINT8 || t == NN_DTYPE_UINT16 || t == NN_DTYPE_UINT32 ||
           t == NN_DTYPE_UINT64 || t == NN_DTYPE_UINT4;
}

NN_API int nn_dtype_bytes_for(nn_dtype t, size_t count, size_t *out_bytes) {
    if (nn_dtype_bits(t) == 4) {
        *out_bytes = count / 2 + (count & 1);
        return 1;
    }
    size_t es = nn_dtype_size(t);
    if (!es) return 0;
    return nn_size_mul(count, es, out_bytes);
}

/* IEEE 754 binary16 <-> binary32 by bit manipulation (exact for f16 -> f32). */
NN_API float nn_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal: normalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3FFu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

NN_API uint16_t nn_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7FFFFFFFu;
    if (absx >= 0x7F800000u) /* inf or nan (keep a quiet nan) */
        return (uint16_t)(sign | 0x7C00u | (absx > 0x7F800000u ? 0x200u : 0));
    if (absx >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* rounds to inf */
    if (absx < 0x38800000u) { /* result is subnormal or zero */
        if (absx < 0x33000000u) return (uint16_t)sign; /* below half the smallest */
        uint32_t man = (absx & 0x7FFFFFu) | 0x800000u;
        int shift = 126 - (int)(absx >> 23); /* 14..24 */
        uint32_t half = 1u << (shift - 1), rest = man & ((1u << shift) - 1);
        uint32_t r = man >> shift;
        if (rest > half || (rest == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = absx - 0x38000000u; /* rebias exponent 127 -> 15 */
    uint32_t rest = r & 0x1FFFu;
    r >>= 13;
    if (rest > 0x1000u || (rest == 0x1000u && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

NN_API float nn_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

NN_API uint16_t nn_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7FFFu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* ---- shapes -------------------------------------------------------------------------- */

NN_API nn_shape nn_shape_make(int32_t rank, const int64_t *dims) {
    nn_shape s;
    memset(&s, 0, sizeof s);
    NN_ASSERT(rank <= NN_MAX_RANK);
    s.rank = rank;
    for (int32_t i = 0; i < rank; i++) s.dims[i] = dims ? dims[i] : NN_DIM_UNKNOWN;
    return s;
}

NN_API int nn_shape_is_static(const nn_shape *s) {
    if (s->rank < 0) return 0;
    for (int32_t i = 0; i < s->rank; i++)
        if (s->dims[i] < 0) return 0;
    return 1;
}

NN_API size_t nn_shape_count(const nn_shape *s, int *ok) {
    size_t n = 1;
    if (ok) *ok = 0;
    if (!nn_shape_is_static(s)) return 0;
    for (int32_t i = 0; i < s->rank; i++) {
        if ((uint64_t)s->dims[i] > SIZE_MAX || !nn_size_mul(n, (size_t)s->dims[i], &n)) return 0;
    }
    if (ok) *ok = 1;
    return n;
}

NN_API int nn_shape_equal(const nn_shape *a, const nn_shape *b) {
    if (a->rank != b->rank) return 0;
    for (int32_t i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

NN_API char *nn_shape_str(const nn_shape *s, char *buf, size_t buf_bytes) {
    size_t n = 0;
    if (!buf_bytes) return buf;
    buf[0] = 0;
    if (s->rank < 0) { snprintf(buf, buf_bytes, "?"); return buf; }
    if (s->rank == 0) { snprintf(buf, buf_bytes, "scalar"); return buf; }
    for (int32_t i = 0; i < s->rank && n < buf_bytes; i++) {
        int w = s->dims[i] < 0 ? snprintf(buf + n, buf_bytes - n, "%s?", i ? "x" : "")
                               : snprintf(buf + n, buf_bytes - n, "%s%lld", i ? "x" : "",
                                          (long long)s->dims[i]);
        if (w < 0) break;
        n += (size_t)w;
    }
    return buf;
}

NN_API nn_value nn_value_make(nn_dtype t, nn_shape s, void *data) {
    nn_value v;
    memset(&v, 0, sizeof v);
    v.dtype = t;
    v.shape = s;
    v.data = data;
    size_t count = nn_shape_count(&s, NULL);
    if (!nn_dtype_bytes_for(t, count, &v.bytes)) v.bytes = 0;
    return v;
}

NN_API size_t nn_value_count(const nn_value *v) { return nn_shape_count(&v->shape, NULL); }

/* ---- the IR ------------------------------------------------------------------------ */

static uint32_t nn_graph__hash(const char *s) {
    uint32_t h = 2166136261u; /* FNV-1a */
    while (*s) { h ^= (uint8_t)*s++; h *= 16777619u; }
    return h;
}

/* Grows an array of elem-sized items to hold one more; keeps *cap. */
static int nn_graph__grow(nn_graph *g, void **arr, uint32_t count, uint32_t *cap, size_t elem) {
    if (count < *cap) return 1;
    uint32_t ncap = *cap ? *cap * 2 : 16;
    size_t bytes;
    if (ncap < *cap || !nn_size_mul(ncap, elem, &bytes)) return 0;
    void *p = nn_alloc(&g->alloc, bytes);
    if (!p) return 0;
    if (*arr) { memcpy(p, *arr, (size_t)count * elem); nn_free(&g->alloc, *arr); }
    *arr = p;
    *cap = ncap;
    return 1;
}

static int nn_graph__index_rebuild(nn_graph *g, uint32_t cap) {
    uint32_t *idx = (uint32_t *)nn_alloc(&g->alloc, (size_t)cap * sizeof(uint32_t));
    if (!idx) return 0;
    for (uint32_t i = 0; i < cap; i++) idx[i] = NN_INVALID_ID;
    for (uint32_t t = 0; t < g->tensor_count; t++) {
        uint32_t h = nn_graph__hash(g->tensors[t].name) & (cap - 1);
        while (idx[h] != NN_INVALID_ID) h = (h + 1) & (cap - 1);
        idx[h] = t;
    }
    nn_free(&g->alloc, g->name_index);
    g->name_index = idx;
    g->name_index_cap = cap;
    return 1;
}

NN_API nn_status nn_graph_create(const nn_graph_desc *desc, nn_graph **out, nn_diag *diag) {
    nn_allocator a;
    memset(&a, 0, sizeof a);
    if (desc) a = desc->alloc;
    nn_graph *g = (nn_graph *)nn_alloc(&a, sizeof *g);
    if (!g) return nn_diag_set(diag, NN_ERR_NOMEM, "graph", "out of memory creating a graph");
    memset(g, 0, sizeof *g);
    g->alloc = a;
    nn_arena_init(&g->arena, &a);
    g->name = "";
    if (desc && desc->name) {
        g->name = nn_arena_strdup(&g->arena, desc->name, strlen(desc->name));
        if (!g->name) { nn_graph_destroy(g); return nn_diag_set(diag, NN_ERR_NOMEM, "graph", "out of memory"); }
    }
    *out = g;
    return NN_OK;
}

NN_API void nn_graph_destroy(nn_graph *g) {
    if (!g) return;
    for (uint32_t i = 0; i < g->subgraph_count; i++) {
        g->subgraphs[i]->release = NULL;
        nn_graph_destroy(g->subgraphs[i]);
    }
    nn_allocator a = g->alloc;
    if (g->release) g->release(g->release_user);
    nn_free(&a, g->subgraphs);
    nn_free(&a, g->tensors);
    nn_free(&a, g->nodes);
    nn_free(&a, g->inputs);
    nn_free(&a, g->outputs);
    nn_free(&a, g->opsets);
    nn_free(&a, g->name_index);
    nn_arena_deinit(&g->arena);
    nn_free(&a, g);
}

NN_API nn_status nn_graph_create_subgraph(nn_graph *g, nn_graph **out, nn_diag *diag) {
    if (g->depth + 1 > NN_MAX_DEPTH)
        return nn_diag_set(diag, NN_ERR_LIMIT, "graph", "subgraphs nested deeper than %d",
                           NN_MAX_DEPTH);
    if (!nn_graph__grow(g, (void **)&g->subgraphs, g->subgraph_count, &g->subgraph_cap,
                        sizeof(nn_graph *)))
        return nn_diag_set(diag, NN_ERR_NOMEM, "graph", "out of memory");
    nn_graph_desc d;
    memset(&d, 0, sizeof d);
    d.alloc = g->alloc;
    nn_graph *s;
    nn_status st = nn_graph_create(&d, &s, diag);
    if (st) return st;
    s->parent = g;
    s->depth = g->depth + 1;
    g->subgraphs[g->subgraph_count++] = s;
    *out = s;
    return NN_OK;
}

NN_API void nn_graph_set_release(nn_graph *g, void (*release)(void *), void *user) {
    g->release = release;
    g->release_user = user;
}

NN_API nn_tensor_id nn_graph_find_tensor(const nn_graph *g, const char *name) {
    nn_tensor_id r = {NN_INVALID_ID};
    if (!g->name_index_cap) return r;
    uint32_t mask = g->name_index_cap - 1, h = nn_graph__hash(name) & mask;
    while (g->name_index[h] != NN_INVALID_ID) {
        if (strcmp(g->tensors[g->name_index[h]].name, name) == 0) {
            r.id = g->name_index[h];
            return r;
        }
        h = (h + 1) & mask;
    }
    return r;
}

NN_API nn_status nn_graph_add_tensor(nn_graph *g, const char *name, nn_dtype t, const nn_shape *shape,
                                     nn_tensor_id *out, nn_diag *diag) {
    if (!name) name = "";
    if (name[0] && nn_graph_find_tensor(g, name).id != NN_INVALID_ID)
        return nn_diag_set(diag, NN_ERR_INVALID, name, "tensor name '%s' defined twice", name);
    if (shape && (shape->rank > NN_MAX_RANK))
        return nn_diag_set(diag, NN_ERR_LIMIT, name, "rank %d above the limit %d", shape->rank,
                           NN_MAX_RANK);
    if (!nn_graph__grow(g, (void **)&g->tensors, g->tensor_count, &g->tensor_cap, sizeof(nn_tensor)))
        return nn_diag_set(diag, NN_ERR_NOMEM, name, "out of memory");
    /* Keep the name index at most half full. */
    if ((g->tensor_count + 1) * 2 > g->name_index_cap &&
        !nn_graph__index_rebuild(g, g->name_index_cap ? g->name_index_cap * 2 : 64))
        return nn_diag_set(diag, NN_ERR_NOMEM, name, "out of memory");
    nn_tensor *tt = &g->tensors[g->tensor_count];
    memset(tt, 0, sizeof *tt);
    tt->name = nn_arena_strdup(&g->arena, name, strlen(name));
    if (!tt->name) return nn_diag_set(diag, NN_ERR_NOMEM, name, "out of memory");
    tt->dtype = t;
    tt->shape.rank = NN_RANK_UNKNOWN;
    if (shape) tt->shape = *shape;
    tt->producer.id = NN_INVALID_ID;
    uint32_t mask = g->name_index_cap - 1, h = nn_graph__hash(tt->name) & mask;
    while (g->name_index[h] != NN_INVALID_ID) h = (h + 1) & mask;
    g->name_index[h] = g->tensor_count;
    out->id = g->tensor_count++;
    return NN_OK;
}

NN_API nn_status nn_graph_set_data(nn_graph *g, nn_tensor_id id, const void *data, size_t bytes,
                                   int copy, nn_diag *diag) {
    nn_tensor *t = &g->tensors[id.id];
    size_t count, need;
    int ok;
    count = nn_shape_count(&t->shape, &ok);
    if (!ok || !nn_dtype_bytes_for(t->dtype, count, &need))
        return nn_diag_set(diag, NN_ERR_INVALID, t->name,
                           "initializer has an unknown shape or unsupported type %s",
                           nn_dtype_name(t->dtype));
    if (need != bytes)
        return nn_diag_set(diag, NN_ERR_INVALID, t->name,
                           "initializer holds %zu bytes, its type and shape need %zu", bytes, need);
    if (copy) {
        void *p = nn_arena_alloc(&g->arena, bytes);
        if (!p) return nn_diag_set(diag, NN_ERR_NOMEM, t->name, "out of memory");
        if (bytes) memcpy(p, data, bytes);
        t->data = p;
        t->flags &= ~NN_TENSOR_BORROWED;
    } else {
        t->data = (void *)(uintptr_t)data;
        t->flags |= NN_TENSOR_BORROWED;
    }
    t->data_bytes = bytes;
    t->flags |= NN_TENSOR_CONST;
    return NN_OK;
}

static nn_status nn_graph__push_id(nn_graph *g, nn_tensor_id **arr, uint32_t *count, uint32_t *cap,
                                   nn_tensor_id t, nn_diag *diag) {
    if (!nn_graph__grow(g, (void **)arr, *count, cap, sizeof(nn_tensor_id)))
        return nn_diag_set(diag, NN_ERR_NOMEM, "graph", "out of memory");
    (*arr)[(*count)++] = t;
    return NN_OK;
}

NN_API nn_status nn_graph_add_input(nn_graph *g, nn_tensor_id t, nn_diag *diag) {
    g->tensors[t.id].flags |= NN_TENSOR_INPUT;
    return nn_graph__push_id(g, &g->inputs, &g->input_count, &g->input_cap, t, diag);
}

NN_API nn_status nn_graph_add_output(nn_graph *g, nn_tensor_id t, nn_diag *diag) {
    g->tensors[t.id].flags |= NN_TENSOR_OUTPUT;
    return nn_graph__push_id(g, &g->outputs, &g->output_count, &g->output_cap, t, diag);
}

NN_API nn_status nn_graph_add_node(nn_graph *g, const char *op_type, const char *domain,
                                   const char *name, const nn_tensor_id *inputs, uint32_t input_count,
                                   const nn_tensor_id *outputs, uint32_t output_count, nn_node_id *out,
                                   nn_diag *diag) {
    const char *where = name && name[0] ? name : op_type;
    if (!nn_graph__grow(g, (void **)&g->nodes, g->node_count, &g->node_cap, sizeof(nn_node)))
        return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory");
    for (uint32_t i = 0; i < output_count; i++) {
        if (outputs[i].id == NN_INVALID_ID) continue;
        if (outputs[i].id >= g->tensor_count)
            return nn_diag_set(diag, NN_ERR_INVALID, where, "output %u is not a tensor of the graph", i);
        nn_tensor *t = &g->tensors[outputs[i].id];
        if (t->producer.id != NN_INVALID_ID || (t->flags & (NN_TENSOR_CONST | NN_TENSOR_INPUT)))
            return nn_diag_set(diag, NN_ERR_INVALID, where,
                               "node output '%s' is already produced elsewhere", t->name);
    }
    for (uint32_t i = 0; i < input_count; i++)
        if (inputs[i].id != NN_INVALID_ID && inputs[i].id >= g->tensor_count)
            return nn_diag_set(diag, NN_ERR_INVALID, where, "input %u is not a tensor of the graph", i);
    nn_node *n = &g->nodes[g->node_count];
    memset(n, 0, sizeof *n);
    n->op_type = nn_arena_strdup(&g->arena, op_type, strlen(op_type));
    n->domain = nn_arena_strdup(&g->arena, domain ? domain : "", domain ? strlen(domain) : 0);
    n->name = nn_arena_strdup(&g->arena, name ? name : "", name ? strlen(name) : 0);
    n->inputs = (nn_tensor_id *)nn_arena_alloc(&g->arena, (input_count + 1) * sizeof(nn_tensor_id));
    n->outputs = (nn_tensor_id *)nn_arena_alloc(&g->arena, (output_count + 1) * sizeof(nn_tensor_id));
    if (!n->op_type || !n->domain || !n->name || !n->inputs || !n->outputs)
        return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory");
    if (input_count) memcpy(n->inputs, inputs, input_count * sizeof(nn_tensor_id));
    if (output_count) memcpy(n->outputs, outputs, output_count * sizeof(nn_tensor_id));
    n->input_count = input_count;
    n->output_count = output_count;
    n->origin = n->name;
    for (uint32_t i = 0; i < output_count; i++)
        if (outputs[i].id != NN_INVALID_ID) g->tensors[outputs[i].id].producer.id = g->node_count;
    if (out) out->id = g->node_count;
    g->node_count++;
    return NN_OK;
}

NN_API nn_status nn_graph_add_attr(nn_graph *g, nn_node_id nid, const nn_attr *attr, int lent_data,
                                   nn_diag *diag) {
    nn_node *n = &g->nodes[nid.id];
    const char *where = n->name[0] ? n->name : n->op_type;
    nn_attr *na = (nn_attr *)nn_arena_alloc(&g->arena, (n->attr_count + 1) * sizeof(nn_attr));
    if (!na) return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory");
    if (n->attr_count) memcpy(na, n->attrs, n->attr_count * sizeof(nn_attr));
    nn_attr *a = &na[n->attr_count];
    *a = *attr;
    size_t bytes;
    a->name = nn_arena_strdup(&g->arena, attr->name, strlen(attr->name));
    if (!a->name) return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory");
    if (attr->s) {
        a->s = nn_arena_strdup(&g->arena, attr->s, attr->s_bytes);
        if (!a->s) return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory");
    }
    if (attr->ints && attr->count) {
        if (!nn_size_mul(attr->count, sizeof(int64_t), &bytes)) return nn_diag_set(diag, NN_ERR_LIMIT, where, "attribute too large");
        int64_t *p = (int64_t *)nn_arena_alloc(&g->arena, bytes);
        if (!p) return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory");
        memcpy(p, attr->ints, bytes);
        a->ints = p;
    }
    if (attr->floats && attr->count) {
        if (!nn_size_mul(attr->count, sizeof(float), &bytes)) return nn_diag_set(diag, NN_ERR_LIMIT, where, "attribute too large");
        float *p = (float *)nn_arena_alloc(&g->arena, bytes);
        if (!p) return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory");
        memcpy(p, attr->floats, bytes);
        a->floats = p;
    }
    if (attr->strings && attr->count) {
        const char **p = (const char **)nn_arena_alloc(&g->arena, attr->count * sizeof(char *));
        if (!p) return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory");
        for (uint32_t i = 0; i < attr->count; i++) {
            p[i] = nn_arena_strdup(&g->arena, attr->strings[i], strlen(attr->strings[i]));
            if (!p[i]) return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory");
        }
        a->strings = p;
    }
    if (attr->graphs && attr->count) {
        nn_graph **p = (nn_graph **)nn_arena_alloc(&g->arena, attr->count * sizeof(nn_graph *));
        if (!p) return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory");
        memcpy(p, attr->graphs, attr->count * sizeof(nn_graph *));
        a->graphs = p;
    }
    if (attr->t_name) a->t_name = nn_arena_strdup(&g->arena, attr->t_name, strlen(attr->t_name));
    if (attr->type == NN_ATTR_TENSOR && attr->t.data && !lent_data) {
        void *p = nn_arena_alloc(&g->arena, attr->t.bytes);
        if (!p) return nn_diag_set(diag, NN_ERR_NOMEM, where, "out of memory");
        memcpy(p, attr->t.data, attr->t.bytes);
        a->t.data = p;
    }
    n->attrs = na;
    n->attr_count++;
    return NN_OK;
}

NN_API nn_status nn_graph_set_opset(nn_graph *g, const char *domain, int64_t version, nn_diag *diag) {
    if (!domain || strcmp(domain, "ai.onnx") == 0) domain = "";
    for (uint32_t i = 0; i < g->opset_count; i++)
        if (strcmp(g->opsets[i].domain, domain) == 0) { g->opsets[i].version = version; return NN_OK; }
    if (!nn_graph__grow(g, (void **)&g->opsets, g->opset_count, &g->opset_cap, sizeof(nn_opset)))
        return nn_diag_set(diag, NN_ERR_NOMEM, "opset_import", "out of memory");
    nn_opset *o = &g->opsets[g->opset_count];
    o->domain = nn_arena_strdup(&g->arena, domain, strlen(domain));
    if (!o->domain) return nn_diag_set(diag, NN_ERR_NOMEM, "opset_import", "out of memory");
    o->version = version;
    g->opset_count++;
    return NN_OK;
}

NN_API int64_t nn_graph_opset(const nn_graph *g, const char *domain) {
    if (!domain || strcmp(domain, "ai.onnx") == 0) domain = "";
    while (g->parent && g->opset_count == 0) g = g->parent; /* subgraphs inherit */
    for (uint32_t i = 0; i < g->opset_count; i++)
        if (strcmp(g->opsets[i].domain, domain) == 0) return g->opsets[i].version;
    return 0;
}

NN_API const nn_attr *nn_node_attr(const nn_node *n, const char *name) {
    for (uint32_t i = 0; i < n->attr_count; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

NN_API int64_t nn_node_attr_int(const nn_node *n, const char *name, int64_t def) {
    const nn_attr *a = nn_node_attr(n, name);
    return a && a->type == NN_ATTR_INT ? a->i : def;
}

NN_API float nn_node_attr_float(const nn_node *n, const char *name, float def) {
    const nn_attr *a = nn_node_attr(n, name);
    return a && a->type == NN_ATTR_FLOAT ? a->f : def;
}

NN_API const char *nn_node_attr_string(const nn_node *n, const char *name, const char *def) {
    const nn_attr *a = nn_node_attr(n, name);
    return a && a->type == NN_ATTR_STRING ? a->s : def;
}

/* ---- topological order ---------------------------------------------------------- */

static const char *nn_graph__node_label(const nn_node *n) { return n->name && n->name[0] ? n->name : n->op_type; }

/* Outer-scope names a subgraph (and its own subgraphs) read.  The loader
   marks each such reference as an NN_TENSOR_OUTER tensor of the subgraph;
   this finds, for node n of g, the tensors of g those names resolve to and
   calls fn for each.  Depth is bounded by NN_MAX_DEPTH (graph->depth). */
static void nn_graph__captures(const nn_graph *g, const nn_graph *sub,
                               void (*fn)(void *, nn_tensor_id), void *arg) {
    for (uint32_t t = 0; t < sub->tensor_count; t++) {
        if (!(sub->tensors[t].flags & NN_TENSOR_OUTER)) continue;
        nn_tensor_id id = nn_graph_find_tensor(g, sub->tensors[t].name);
        if (id.id != NN_INVALID_ID) fn(arg, id);
    }
    for (uint32_t s = 0; s < sub->subgraph_count; s++) nn_graph__captures(g, sub->subgraphs[s], fn, arg);
}

static int nn_graph__node_has_graphs(const nn_node *n) {
    for (uint32_t a = 0; a < n->attr_count; a++)
        if (n->attrs[a].type == NN_ATTR_GRAPH || n->attrs[a].type == NN_ATTR_GRAPHS) return 1;
    return 0;
}

typedef struct { const nn_graph *g; uint32_t *pending; uint32_t *deps; uint32_t dep_count, dep_cap; } nn_graph__capture_acc;

static void nn_graph__capture_collect(void *arg, nn_tensor_id t) {
    nn_graph__capture_acc *acc = (nn_graph__capture_acc *)arg;
    if (acc->dep_count < acc->dep_cap) acc->deps[acc->dep_count++] = t.id;
}

/* Calls fn for each tensor a node depends on: inputs, then captures. */
static void nn_graph__node_deps(const nn_graph *g, const nn_node *n, uint32_t *buf, uint32_t cap,
                                uint32_t *out_count) {
    nn_graph__capture_acc acc;
    acc.g = g; acc.pending = NULL; acc.deps = buf; acc.dep_count = 0; acc.dep_cap = cap;
    for (uint32_t i = 0; i < n->input_count; i++)
        if (n->inputs[i].id != NN_INVALID_ID && acc.dep_count < cap) buf[acc.dep_count++] = n->inputs[i].id;
    if (nn_graph__node_has_graphs(n)) {
        for (uint32_t a = 0; a < n->attr_count; a++) {
            const nn_attr *at = &n->attrs[a];
            if (at->type == NN_ATTR_GRAPH && at->g) nn_graph__captures(g, at->g, nn_graph__capture_collect, &acc);
            if (at->type == NN_ATTR_GRAPHS)
                for (uint32_t k = 0; k < at->count; k++) nn_graph__captures(g, at->graphs[k], nn_graph__capture_collect, &acc);
        }
    }
    *out_count = acc.dep_count;
}

#define NN_GRAPH__MAX_DEPS 4096

NN_API nn_status nn_graph_topo_order(const nn_graph *g, uint32_t *out_order, nn_diag *diag) {
    uint32_t nn = g->node_count, nt = g->tensor_count;
    size_t words, bytes;
    /* pending[nn] | queue[nn] | first[nt+1] | cursor[nt+1] */
    if (!nn_size_mul((size_t)nn, 2, &words) || !nn_size_add(words, 2 * ((size_t)nt + 1), &words) ||
        !nn_size_mul(words, sizeof(uint32_t), &bytes))
        return nn_diag_set(diag, NN_ERR_LIMIT, "graph", "graph too large");
    uint32_t *pending = (uint32_t *)nn_alloc(&g->alloc, bytes);
    uint32_t *deps = (uint32_t *)nn_alloc(&g->alloc, NN_GRAPH__MAX_DEPS * sizeof(uint32_t));
    uint32_t *cons = NULL, head = 0, tail = 0, placed = 0, *queue, *first, *cursor;
    size_t edges = 0;
    nn_status st = NN_OK;
    if (!pending || !deps) { st = nn_diag_set(diag, NN_ERR_NOMEM, "graph", "out of memory"); goto done; }
    queue = pending + nn;
    first = queue + nn;
    cursor = first + nt + 1;
    memset(first, 0, ((size_t)nt + 1) * sizeof(uint32_t));
    /* Count, per tensor, the consumer edges whose producer is a node. */
    for (uint32_t i = 0; i < nn; i++) {
        uint32_t dc;
        nn_graph__node_deps(g, &g->nodes[i], deps, NN_GRAPH__MAX_DEPS, &dc);
        pending[i] = 0;
        for (uint32_t k = 0; k < dc; k++) {
            const nn_tensor *t = &g->tensors[deps[k]];
            if (t->producer.id != NN_INVALID_ID) { pending[i]++; first[deps[k] + 1]++; edges++; }
            else if (!(t->flags & (NN_TENSOR_INPUT | NN_TENSOR_CONST | NN_TENSOR_OUTER))) {
                st = nn_diag_set(diag, NN_ERR_INVALID, nn_graph__node_label(&g->nodes[i]),
                                 "input '%s' is neither a graph input, an initializer nor a node output",
                                 t->name);
                goto done;
            }
        }
    }
    for (uint32_t t = 0; t < nt; t++) first[t + 1] += first[t]; /* CSR starts */
    memcpy(cursor, first, ((size_t)nt + 1) * sizeof(uint32_t));
    cons = (uint32_t *)nn_alloc(&g->alloc, (edges + 1) * sizeof(uint32_t));
    if (!cons) { st = nn_diag_set(diag, NN_ERR_NOMEM, "graph", "out of memory"); goto done; }
    for (uint32_t i = 0; i < nn; i++) {
        uint32_t dc;
        nn_graph__node_deps(g, &g->nodes[i], deps, NN_GRAPH__MAX_DEPS, &dc);
        for (uint32_t k = 0; k < dc; k++)
            if (g->tensors[deps[k]].producer.id != NN_INVALID_ID) cons[cursor[deps[k]]++] = i;
    }
    for (uint32_t i = 0; i < nn; i++) if (!pending[i]) queue[tail++] = i;
    while (head < tail) {
        uint32_t ni = queue[head++];
        out_order[placed++] = ni;
        const nn_node *n = &g->nodes[ni];
        for (uint32_t o = 0; o < n->output_count; o++) {
            uint32_t t = n->outputs[o].id;
            if (t == NN_INVALID_ID) continue;
            for (uint32_t e = first[t]; e < first[t + 1]; e++)
                if (--pending[cons[e]] == 0) queue[tail++] = cons[e];
        }
    }
    if (placed != nn)
        for (uint32_t i = 0; i < nn; i++)
            if (pending[i]) {
                st = nn_diag_set(diag, NN_ERR_INVALID, nn_graph__node_label(&g->nodes[i]),
                                 "the graph has a cycle through this node");
                break;
            }
done:
    nn_free(&g->alloc, cons);
    nn_free(&g->alloc, pending);
    nn_free(&g->alloc, deps);
    return st;
}

NN_API nn_status nn_graph_sort(nn_graph *g, nn_diag *diag) {
    if (g->node_count == 0) return NN_OK;
    uint32_t *order = (uint32_t *)nn_alloc(&g->alloc, g->node_count * sizeof(uint32_t));
    nn_node *nodes = (nn_node *)nn_alloc(&g->alloc, g->node_count * sizeof(nn_node));
    nn_status st = (!order || !nodes) ? nn_diag_set(diag, NN_ERR_NOMEM, "graph", "out of memory")
                                      : nn_graph_topo_order(g, order, diag);
    if (st == NN_OK) {
        for (uint32_t i = 0; i < g->node_count; i++) nodes[i] = g->nodes[order[i]];
        memcpy(g->nodes, nodes, g->node_count * sizeof(nn_node));
        for (uint32_t i = 0; i < g->node_count; i++)
            for (uint32_t o = 0; o < g->nodes[i].output_count; o++)
                if (g->nodes[i].outputs[o].id != NN_INVALID_ID) g->tensors[g->nodes[i].outputs[o].id].producer.id = i;
    }
    nn_free(&g->alloc, order);
    nn_free(&g->alloc, nodes);
    return st;
}

/* ---- statistics ------------------------------------------------------------------ */

static const nn_shape *nn_graph__shape_of(const nn_graph *g, const nn_node *n, uint32_t i, int output) {
    uint32_t cnt = output ? n->output_count : n->input_count;
    const nn_tensor_id *ids = output ? n->outputs : n->inputs;
    if (i >= cnt || ids[i].id == NN_INVALID_ID) return NULL;
    const nn_shape *s = &g->tensors[ids[i].id].shape;
    return nn_shape_is_static(s) ? s : NULL;
}

NN_API uint64_t nn_node_macs(const nn_graph *g, const nn_node *n, int *known) {
    const char *op = n->op_type;
    const nn_shape *x = nn_graph__shape_of(g, n, 0, 0), *w = nn_graph__shape_of(g, n, 1, 0);
    const nn_shape *y = nn_graph__shape_of(g, n, 0, 1);
    uint64_t macs = 0;
    int has = 1, ok = 1;
    if (strcmp(op, "Conv") == 0 || strcmp(op, "ConvInteger") == 0) {
        /* every output element reads C_in/group x kernel weights: w is (M, C/g, k...) */
        if (!w || !y) ok = 0;
        else { macs = nn_shape_count(y, NULL); for (int32_t i = 1; i < w->rank; i++) macs *= (uint64_t)w->dims[i]; }
    } else if (strcmp(op, "ConvTranspose") == 0) {
        /* every input element scatters into C_out/group x kernel outputs: w is (C, M/g, k...) */
        if (!w || !x) ok = 0;
        else { macs = nn_shape_count(x, NULL); for (int32_t i = 1; i < w->rank; i++) macs *= (uint64_t)w->dims[i]; }
    } else if (strcmp(op, "MatMul") == 0 || strcmp(op, "MatMulInteger") == 0) {
        if (!x || !y || x->rank < 1) ok = 0;
        else macs = nn_shape_count(y, NULL) * (uint64_t)x->dims[x->rank - 1];
    } else if (strcmp(op, "Gemm") == 0) {
        if (!x || !y || x->rank != 2) ok = 0;
        else macs = nn_shape_count(y, NULL) * (uint64_t)(nn_node_attr_int(n, "transA", 0) ? x->dims[0] : x->dims[1]);
    } else if (strcmp(op, "LSTM") == 0 || strcmp(op, "GRU") == 0 || strcmp(op, "RNN") == 0) {
        /* W is (dirs, gates*H, I), R is (dirs, gates*H, H); seq x batch steps */
        const nn_shape *r = nn_graph__shape_of(g, n, 2, 0);
        if (!x || !w || !r || x->rank != 3) ok = 0;
        else {
            uint64_t steps = (uint64_t)x->dims[0] * (uint64_t)x->dims[1];
            macs = steps * (uint64_t)w->dims[0] * (uint64_t)w->dims[1] * (uint64_t)(w->dims[2] + r->dims[2]);
        }
    } else {
        has = 0;
    }
    if (known) *known = !has || ok;
    return ok ? macs : 0;
}

static void nn_graph__stats_add(const nn_graph *g, nn_graph_stats *s) {
    s->node_count += g->node_count;
    for (uint32_t t = 0; t < g->tensor_count; t++) {
        const nn_tensor *tt = &g->tensors[t];
        if (!(tt->flags & NN_TENSOR_CONST)) continue;
        s->param_count += nn_shape_count(&tt->shape, NULL);
        s->param_bytes += tt->data_bytes;
    }
    for (uint32_t i = 0; i < g->node_count; i++) {
        int known;
        s->macs += nn_node_macs(g, &g->nodes[i], &known);
        if (!known) s->unknown_mac_nodes++;
    }
    for (uint32_t i = 0; i < g->subgraph_count; i++) nn_graph__stats_add(g->subgraphs[i], s);
}

NN_API void nn_graph_get_stats(const nn_graph *g, nn_graph_stats *out) {
    memset(out, 0, sizeof *out);
    nn_graph__stats_add(g, out);
}

/* ---- operator table --------------------------------------------------------------- */

/* Op kernels live in the sections below, grouped by family; each family
   ends with a table of nn_op_def rows.  The full table is their union. */
#include "src/graph/ops_core.inc"
#include "src/graph/ops_elementwise.inc"
#include "src/graph/ops_tensor.inc"
#include "src/graph/ops_nn.inc"
#include "src/graph/ops_reduce.inc"
#include "src/graph/ops_control.inc"

typedef struct { const nn_op_def *defs; size_t count; } nn_graph__op_table;
static const nn_graph__op_table nn_graph__op_tables[] = {
    {nn_graph__ops_core, sizeof nn_graph__ops_core / sizeof nn_graph__ops_core[0]},
    {nn_graph__ops_elementwise, sizeof nn_graph__ops_elementwise / sizeof nn_graph__ops_elementwise[0]},
    {nn_graph__ops_tensor, sizeof nn_graph__ops_tensor / sizeof nn_graph__ops_tensor[0]},
    {nn_graph__ops_nn, sizeof nn_graph__ops_nn / sizeof nn_graph__ops_nn[0]},
    {nn_graph__ops_reduce, sizeof nn_graph__ops_reduce / sizeof nn_graph__ops_reduce[0]},
    {nn_graph__ops_control, sizeof nn_graph__ops_control / sizeof nn_graph__ops_control[0]},
};

NN_API const nn_op_def *nn_op_at(size_t index) {
    for (size_t t = 0; t < sizeof nn_graph__op_tables / sizeof nn_graph__op_tables[0]; t++) {
        if (index < nn_graph__op_tables[t].count) return &nn_graph__op_tables[t].defs[index];
        index -= nn_graph__op_tables[t].count;
    }
    return NULL;
}

NN_API const nn_op_def *nn_op_find(const char *op_type, const char *domain, int64_t opset) {
    if (!domain || strcmp(domain, "ai.onnx") == 0) domain = "";
    const nn_op_def *d;
    for (size_t i = 0; (d = nn_op_at(i)) != NULL; i++)
        if (d->name && strcmp(d->name, op_type) == 0 && strcmp(d->domain, domain) == 0 &&
            opset >= d->since && opset <= d->until)
            return d;
    return NULL;
}

/* 1 when name is in the comma-separated list. */
static int nn_graph__in_list(const char *list, const char *name) {
    size_t n = strlen(name);
    while (list && *list) {
        const char *e = strchr(list, ',');
        size_t len = e ? (size_t)(e - list) : strlen(list);
        if (len == n && strncmp(list, name, n) == 0) return 1;
        if (!e) break;
        list = e + 1;
    }
    return 0;
}


/* Checks that a node can be run: known op at its opset, input/output counts
   in range, no attribute outside the op's accepted list. */
static nn_status nn_graph__check_node(const nn_graph *g, const nn_node *n, const nn_op_def **out_def,
                                      int64_t *out_opset, nn_diag *diag) {
    int64_t opset = nn_graph_opset(g, n->domain);
    const char *where = nn_graph__node_label(n);
    if (opset == 0 && n->domain[0] == 0) opset = 1;
    const nn_op_def *d = nn_op_find(n->op_type, n->domain, opset);
    if (!d) {
        if (nn_op_find(n->op_type, n->domain, 1) || nn_op_find(n->op_type, n->domain, 1000))
            return nn_diag_set(diag, NN_ERR_UNSUPPORTED, where, "op %s is not supported at opset %lld",
                               n->op_type, (long long)opset);
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, where, "op %s%s%s is not supported", n->domain,
                           n->domain[0] ? "." : "", n->op_type);
    }
    if ((int)n->input_count < d->min_inputs || (d->max_inputs >= 0 && (int)n->input_count > d->max_inputs))
        return nn_diag_set(diag, NN_ERR_INVALID, where, "%s takes %d to %d inputs, node has %u", n->op_type,
                           d->min_inputs, d->max_inputs, n->input_count);
    if ((int)n->output_count < d->min_outputs ||
        (d->max_outputs >= 0 && (int)n->output_count > d->max_outputs))
        return nn_diag_set(diag, NN_ERR_INVALID, where, "%s gives %d to %d outputs, node has %u", n->op_type,
                           d->min_outputs, d->max_outputs, n->output_count);
    for (uint32_t a = 0; a < n->attr_count; a++)
        if (!nn_graph__in_list(d->attrs, n->attrs[a].name)) {
            char w[192];
            snprintf(w, sizeof w, "%s.%s", where, n->attrs[a].name);
            return nn_diag_set(diag, NN_ERR_UNSUPPORTED, w, "attribute '%s' of %s is not supported",
                               n->attrs[a].name, n->op_type);
        }
    *out_def = d;
    *out_opset = opset;
    return NN_OK;
}

/* ---- the executor ------------------------------------------------------------------ */

#include "src/graph/exec.inc"

#endif /* NN_GRAPH_IMPLEMENTATION_DONE */
#endif /* NN_IMPLEMENTATION */
#endif /* NN_GRAPH_H */

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
