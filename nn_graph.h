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
     Link with -lm -lpthread.  Build that file with -O3 -march=native (or,
     for a binary that must run on any AVX2 machine, -O3 -mavx2 -mfma):
     the kernels are written for the compiler to vectorize, GCC 12 does not
     vectorize at -O2, and flags alone make a 3x difference or more.

   CONFIG MACROS (define before the implementation include)
     NN_ASSERT(x)        assert() by default; API misuse only.
     NN_MALLOC/NN_FREE   malloc/free; used when an nn_allocator is zero.
     NN_MAX_RANK         8: the highest tensor rank accepted.
     NN_MAX_DEPTH        16: the deepest subgraph nesting accepted.
     NN_MAX_LOOP_ITERATIONS  1<<24: Loop iterations before NN_ERR_LIMIT.
     NN_NO_THREADS       build without pthreads (executor runs serially).
     NN_NO_VECTOR_EXT    no GCC/Clang vector extensions (plain C loops).
     The GEMM has AVX-512, AVX2+FMA and portable C micro-kernels, chosen at
     compile time from the target flags (__AVX512F__, __AVX2__ + __FMA__).

   SECTIONS (implementation, in order)
     status, memory, dtypes, shapes, IR, topological order, statistics,
     kernels (shared helpers, core, element-wise, tensor, nn, reductions,
     control flow), the operator table, the executor and shape inference,
     graph passes (dce, identity, fold, bn, noop, cse, affine, act), graph
     passes: transformer patterns and 4-D conversion (layernorm, gelu,
     attention, matmul_add, to4d), the opset upgrade (opset), the pass
     table, driver and templates.

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
/* 1 when a and b have the same name, type and value (tensor attributes:
   dtype, shape and bytes); graph attributes are never equal. */
NN_API int nn_attr_equal(const nn_attr *a, const nn_attr *b);

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
/* Frees every scratch block of c now (the executor does this after each
   node; a caller running kernels through its own nn_op_ctx calls it after
   each one).  c->scratch is NULL afterwards; safe to call twice. */
NN_API void nn_op_free_scratch(nn_op_ctx *c);
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

/* ---- graph passes ----------------------------------------------------------- */

/* Rewrites of a graph that keep its numbers: each pass is named, callable
   alone, and reports what it changed.  A pass first checks the graph with
   nn_graph_topo_order; on a cycle or dangling input it returns that status
   and leaves the graph untouched.  Removed nodes are compacted away at the
   end of a pass (node ids change; tensor ids do not: orphaned tensors stay
   in the table, unused).  Every node a pass
   creates or rewrites keeps the original ONNX node names in node->origin,
   comma-joined.

     dce       remove nodes whose outputs reach no graph output
     identity  remove Identity, Dropout (inference), Cast to the same type and
               Reshape/Flatten/Squeeze/Unsqueeze/Expand whose output shape is
               statically the input's
     fold      evaluate nodes whose inputs are all initializers (and Shape/Size
               of tensors with static shapes) into new initializers
     bn        fold BatchNormalization into the Conv/ConvTranspose/Gemm that
               feeds it, or into a MatMul of a 2-D input by a 2-D constant
               (which becomes a Gemm)
     noop      remove Transpose with the identity perm, cancel Transpose pairs
               (merge other pairs into one), Slice taking everything, Pad by
               zeros, single-input Concat, x*1, x/1, x+0, x-0
     cse       merge equal initializers, then nodes that repeat an earlier
               node (same op, inputs, attributes; deterministic ops only)
     affine    fold Mul/Add/Sub/Div by a per-output-channel constant and
               BatchNormalization into the Conv/ConvTranspose/Gemm before it
     act       fuse Relu, Clip, LeakyRelu, HardSigmoid, Sigmoid, Tanh into
               the Conv (com.microsoft FusedConv) or Gemm (FusedGemm, no Clip)
               before it; x * Sigmoid(x) becomes QuickGelu(x, alpha 1).
               Adds the com.microsoft opset import when it rewrites.
     layernorm fuse the split LayerNorm (ReduceMean, Sub, Pow, ReduceMean,
               Add, Sqrt, Div [, Mul gamma] [, Add beta]) into
               LayerNormalization (axis -1)
     gelu      fuse the Erf and Tanh forms of GELU into Gelu (opset >= 20) or
               com.microsoft Gelu / FastGelu (below; adds the import)
     attention fuse MatMul(Q,K^T), scale, mask, Softmax, MatMul(V) into
               Attention (opset >= 23) or ai.nnport Attention (the same op)
     matmul_add fuse MatMul(2-D x, constant W) + constant bias into Gemm
     to4d      make every activation rank 4 by leading 1s, Gemm -> MatMul +
               Add, reshapes only at the graph boundary; a node without a
               4-D rule or shapes that disagree with inference leave the
               graph unchanged (counted in nodes_changed: in-place rewrites)
     opset     upgrade the default-domain opset import to target_opset (0:
               23), rewriting every node whose signature or meaning changed
               on the way (attributes that became inputs, Softmax's axis,
               Upsample -> Resize, ...); a node without a rule is refused
               with NN_ERR_UNSUPPORTED naming it, graph unchanged; a graph
               already at or above the target is left alone

   Folded weights are computed in double and rounded to float once.

   Templates name pass lists per model kind (nn_graph_run_template):
     cv   fold,identity,noop,cse,bn,affine,act,dce
     lvm  opset,fold,identity,noop,cse,bn,affine,layernorm,gelu,attention,
          matmul_add,act,to4d,dce
     llm  the same as lvm */

typedef struct nn_pass_desc {
    void (*log)(void *user, const char *pass, const char *message); /* optional */
    void *user;
    size_t fold_max_bytes; /* 0: 16 MiB; larger folded results are left alone */
    int verbose;           /* 1: log every rewrite, not only each pass's counts */
    int target_opset;      /* opset pass: the default-domain version to reach; 0: 23 */
} nn_pass_desc;

typedef struct nn_pass_stats {
    uint32_t nodes_removed;
    uint32_t nodes_added;
    uint32_t nodes_fused;     /* nodes merged into another (also counted as removed) */
    uint32_t tensors_added;   /* new initializers */
    uint32_t tensors_removed; /* initializers no longer read (dce) */
    uint32_t tensors_merged;  /* duplicate initializers whose readers now read one copy (cse) */
    uint32_t nodes_changed;   /* nodes rewritten in place: attributes, inputs or output shapes (to4d) */
} nn_pass_stats;

typedef struct nn_pass_info { const char *name; const char *help; } nn_pass_info;

/* The pass table (index from 0); NULL past the end. */
NN_API const nn_pass_info *nn_pass_at(size_t index);
/* Runs one pass by name.  out (optional) receives its counts (zeroed
   first).  NN_ERR_ARG for an unknown name; NN_ERR_INVALID for a malformed
   graph (unchanged); NN_ERR_NOMEM. */
NN_API nn_status nn_graph_run_pass(nn_graph *g, const char *name, const nn_pass_desc *d,
                                   nn_pass_stats *out, nn_diag *diag);
/* Runs a comma-separated list ("fold,identity,bn,dce") in order; out sums
   the counts.  Stops at the first failing pass. */
NN_API nn_status nn_graph_run_passes(nn_graph *g, const char *names, const nn_pass_desc *d,
                                     nn_pass_stats *out, nn_diag *diag);
/* The pass list of template name ("cv", "lvm", "llm"), or NULL. */
NN_API const char *nn_graph_template_passes(const char *name);
/* Template names by index from 0; NULL past the end. */
NN_API const char *nn_graph_template_at(size_t index);
/* Runs a template's passes.  NN_ERR_ARG for an unknown template;
   NN_ERR_UNSUPPORTED (graph untouched) when a pass it names is missing
   from this build, naming that pass. */
NN_API nn_status nn_graph_run_template(nn_graph *g, const char *name, const nn_pass_desc *d,
                                       nn_pass_stats *out, nn_diag *diag);

/* -- user edits (what Pulsar2's config offers), each a plain function -- */

/* Sets attribute attr_name of the node named node_name from text: an
   existing attribute keeps its type ("3", "0.5", "1,1,2,2", a string);
   a new one takes the type the text reads as.  NN_ERR_ARG for an unknown
   node or unparsable text; the node is unchanged on failure. */
NN_API nn_status nn_graph_patch_attr(nn_graph *g, const char *node_name, const char *attr_name,
                                     const char *value_text, nn_diag *diag);
/* Replaces the data of initializer tensor_name by v's (copied); dtype and
   shape must equal the initializer's (NN_ERR_SHAPE otherwise). */
NN_API nn_status nn_graph_patch_const(nn_graph *g, const char *tensor_name, const nn_value *v,
                                      nn_diag *diag);

/* Input preprocessing the model's caller did, x' = (x[perm(c)] - mean[c]) *
   scale[c] (mean, scale in the model's channel order; swap_channels reads
   channel c from raw channel C-1-c, e.g. BGR<->RGB), folded into the
   Conv(s) reading the input, so the model then takes raw x. */
typedef struct nn_preprocess_desc {
    const char *input;     /* graph input name */
    uint32_t channels;     /* C: dim 1 of the input */
    const float *mean;     /* C values; NULL: 0 */
    const float *scale;    /* C values; NULL: 1 (scale = 1/std) */
    int swap_channels;     /* 1: reverse the channel order */
    int allow_approx;      /* 1: fold a mean through zero padding anyway (border pixels change) */
} nn_preprocess_desc;

/* Every reader of the input must be a group-1 Conv with constant float
   weights (NN_ERR_UNSUPPORTED naming the node otherwise).  A non-zero mean
   cannot fold exactly through zero padding (the padded border would read
   -mean*scale, not 0): refused with NN_ERR_UNSUPPORTED unless
   allow_approx.  The graph is unchanged on refusal. */
NN_API nn_status nn_graph_fold_preprocess(nn_graph *g, const nn_preprocess_desc *p, nn_diag *diag);

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

#endif /* NN_GRAPH_H */

/* ===================== end of API: implementation below ===================== */
/* Outside the include guard (as stb does): a file may include this header
   for its declarations and again, after defining NN_IMPLEMENTATION, for
   the implementation; NN_GRAPH_IMPLEMENTATION_DONE expands it once. */

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

NN_API int nn_attr_equal(const nn_attr *a, const nn_attr *b) {
    if (strcmp(a->name, b->name) != 0 || a->type != b->type || a->count != b->count) return 0;
    switch (a->type) {
    case NN_ATTR_INT: return a->i == b->i;
    case NN_ATTR_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0;
    case NN_ATTR_STRING: return a->s_bytes == b->s_bytes && (!a->s_bytes || memcmp(a->s, b->s, a->s_bytes) == 0);
    case NN_ATTR_INTS: return !a->count || memcmp(a->ints, b->ints, a->count * sizeof(int64_t)) == 0;
    case NN_ATTR_FLOATS: return !a->count || memcmp(a->floats, b->floats, a->count * sizeof(float)) == 0;
    case NN_ATTR_STRINGS:
        for (uint32_t i = 0; i < a->count; i++)
            if (strcmp(a->strings[i], b->strings[i]) != 0) return 0;
        return 1;
    case NN_ATTR_TENSOR:
        return a->t.dtype == b->t.dtype && nn_shape_equal(&a->t.shape, &b->t.shape) && a->t.bytes == b->t.bytes &&
               (!a->t.bytes || (a->t.data && b->t.data && memcmp(a->t.data, b->t.data, a->t.bytes) == 0));
    default: return 0; /* graphs and the rest: never merged */
    }
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
    if (strcmp(op, "Conv") == 0 || strcmp(op, "ConvInteger") == 0 || strcmp(op, "FusedConv") == 0) {
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
    } else if (strcmp(op, "Gemm") == 0 || strcmp(op, "FusedGemm") == 0) {
        if (!x || !y || x->rank != 2) ok = 0;
        else macs = nn_shape_count(y, NULL) * (uint64_t)(nn_node_attr_int(n, "transA", 0) ? x->dims[0] : x->dims[1]);
    } else if (strcmp(op, "Attention") == 0 && (!n->domain[0] || strcmp(n->domain, "ai.nnport") == 0)) {
        /* ONNX Attention-23: Q.K^T then P.V; Q (B,H,S,D) or (B,S,H*D), K (.., L, ..),
           V's last dim Dv (x H): B x S x L x (all Q features + all V features) */
        const nn_shape *v = nn_graph__shape_of(g, n, 2, 0);
        if (!x || !w || !v || x->rank < 3 || x->rank != w->rank || x->rank != v->rank) ok = 0;
        else if (x->rank == 4)
            macs = (uint64_t)x->dims[0] * (uint64_t)x->dims[1] * (uint64_t)x->dims[2] * (uint64_t)w->dims[2] *
                   (uint64_t)(x->dims[3] + v->dims[3]);
        else
            macs = (uint64_t)x->dims[0] * (uint64_t)x->dims[1] * (uint64_t)w->dims[1] * (uint64_t)(x->dims[2] + v->dims[2]);
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

/* ---- kernels ------------------------------------------------------------------------------
   One reference kernel per op: an infer function (output dtype and shape)
   and a run function, in families: shared helpers, core, element-wise,
   tensor, nn, reductions, control flow.  The operator table that reaches
   them follows the last family. */

/* ---- kernels: shared helpers ------------------------------------------------------------ */

/* Normalizes a possibly negative axis against rank; 0 when out of range. */
static int nn_op__axis(int64_t axis, int32_t rank, int32_t *out) {
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= (rank > 0 ? rank : 1)) return 0;
    *out = (int32_t)axis;
    return 1;
}

/* Loads element i of an int32 or int64 tensor (shape/axes/pads inputs). */
static int64_t nn_op__int_at(const nn_value *v, size_t i) {
    if (v->dtype == NN_DTYPE_INT32) return ((const int32_t *)v->data)[i];
    if (v->dtype == NN_DTYPE_INT64) return ((const int64_t *)v->data)[i];
    return 0;
}

/* Copies an int32/int64 1-D (or scalar) input into out (up to cap values).
   Returns the count, or -1 when the value is unknown, not integer or too long. */
static int nn_op__int_list(const nn_value *v, int64_t *out, int cap) {
    if (!v->data || (v->dtype != NN_DTYPE_INT32 && v->dtype != NN_DTYPE_INT64)) return -1;
    size_t n = nn_value_count(v);
    if (n > (size_t)cap) return -1;
    for (size_t i = 0; i < n; i++) out[i] = nn_op__int_at(v, i);
    return (int)n;
}

/* Generic element access through double: the slow path for rarely used
   types.  64-bit integers beyond 2^53 lose precision here; kernels that
   must be exact for them use typed loops. */
static double nn_op__load(const void *p, nn_dtype t, size_t i) {
    switch (t) {
    case NN_DTYPE_FLOAT: return ((const float *)p)[i];
    case NN_DTYPE_DOUBLE: return ((const double *)p)[i];
    case NN_DTYPE_FLOAT16: return nn_f16_to_f32(((const uint16_t *)p)[i]);
    case NN_DTYPE_BFLOAT16: return nn_bf16_to_f32(((const uint16_t *)p)[i]);
    case NN_DTYPE_INT8: return ((const int8_t *)p)[i];
    case NN_DTYPE_UINT8: return ((const uint8_t *)p)[i];
    case NN_DTYPE_INT16: return ((const int16_t *)p)[i];
    case NN_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    case NN_DTYPE_INT32: return ((const int32_t *)p)[i];
    case NN_DTYPE_UINT32: return ((const uint32_t *)p)[i];
    case NN_DTYPE_INT64: return (double)((const int64_t *)p)[i];
    case NN_DTYPE_UINT64: return (double)((const uint64_t *)p)[i];
    case NN_DTYPE_BOOL: return ((const uint8_t *)p)[i] != 0;
    case NN_DTYPE_INT4: {
        int v = (((const uint8_t *)p)[i / 2] >> ((i & 1) * 4)) & 15;
        return v >= 8 ? v - 16 : v;
    }
    case NN_DTYPE_UINT4: return (((const uint8_t *)p)[i / 2] >> ((i & 1) * 4)) & 15;
    default: return 0;
    }
}

static void nn_op__store(void *p, nn_dtype t, size_t i, double v) {
    switch (t) {
    case NN_DTYPE_FLOAT: ((float *)p)[i] = (float)v; break;
    case NN_DTYPE_DOUBLE: ((double *)p)[i] = v; break;
    case NN_DTYPE_FLOAT16: ((uint16_t *)p)[i] = nn_f32_to_f16((float)v); break;
    case NN_DTYPE_BFLOAT16: ((uint16_t *)p)[i] = nn_f32_to_bf16((float)v); break;
    case NN_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case NN_DTYPE_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case NN_DTYPE_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
    case NN_DTYPE_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case NN_DTYPE_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    case NN_DTYPE_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case NN_DTYPE_INT64: ((int64_t *)p)[i] = (int64_t)v; break;
    case NN_DTYPE_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    case NN_DTYPE_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case NN_DTYPE_INT4: case NN_DTYPE_UINT4: {
        uint8_t *b = (uint8_t *)p + i / 2;
        int sh = (int)(i & 1) * 4;
        *b = (uint8_t)((*b & ~(15 << sh)) | (((int)v & 15) << sh));
        break;
    }
    default: break;
    }
}

/* Numpy-style broadcast of two shapes (unknown dims stay unknown unless the
   other side fixes them).  0 when the shapes cannot broadcast. */
static int nn_op__broadcast(const nn_shape *a, const nn_shape *b, nn_shape *out) {
    if (a->rank < 0 || b->rank < 0) { out->rank = NN_RANK_UNKNOWN; return 1; }
    int32_t r = a->rank > b->rank ? a->rank : b->rank;
    out->rank = r;
    for (int32_t i = 0; i < r; i++) {
        int32_t ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == 1) out->dims[i] = db;
        else if (db == 1) out->dims[i] = da;
        else if (da < 0 || db < 0) out->dims[i] = da < 0 ? db : da;
        else if (da == db) out->dims[i] = da;
        else return 0;
    }
    return 1;
}

/* Element strides of `in` laid against an output of rank out_rank, with 0
   for broadcast dimensions: index arithmetic for broadcasting kernels. */
static void nn_op__bcast_strides(const nn_shape *in, const nn_shape *outs, int64_t *strides) {
    int64_t s = 1;
    for (int32_t i = outs->rank - 1; i >= 0; i--) {
        int32_t ii = i - (outs->rank - in->rank);
        if (ii < 0 || in->dims[ii] == 1) strides[i] = 0;
        else { strides[i] = s; s *= in->dims[ii]; }
    }
}

/* Output = input's dtype and shape (unary element-wise ops). */
static nn_status nn_op__infer_same(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)c; (void)n_in; (void)n_out;
    out[0].dtype = in[0].dtype;
    out[0].shape = in[0].shape;
    return NN_OK;
}

/* ---- kernels: Identity, Constant ------------------------------------------------------- */

static nn_status nn_op__run_identity(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)c; (void)n_in; (void)n_out;
    if (in[0].bytes) memcpy(out[0].data, in[0].data, in[0].bytes);
    return NN_OK;
}

/* Constant: exactly one of value, value_float(s), value_int(s) (opset 12
   adds the scalar/list forms; value_string(s) and sparse_value are refused
   at prepare because they are not in the accepted attribute list). */
static nn_status nn_op__infer_constant(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)in; (void)n_in; (void)n_out;
    const nn_node *n = c->node;
    if (n->attr_count != 1) return nn_op_error(c, NN_ERR_INVALID, "needs exactly one value attribute");
    const nn_attr *a = &n->attrs[0];
    memset(&out[0].shape, 0, sizeof out[0].shape);
    if (strcmp(a->name, "value") == 0 && a->type == NN_ATTR_TENSOR) {
        out[0].dtype = a->t.dtype;
        out[0].shape = a->t.shape;
    } else if (strcmp(a->name, "value_float") == 0 && a->type == NN_ATTR_FLOAT) {
        out[0].dtype = NN_DTYPE_FLOAT;
    } else if (strcmp(a->name, "value_int") == 0 && a->type == NN_ATTR_INT) {
        out[0].dtype = NN_DTYPE_INT64;
    } else if (strcmp(a->name, "value_floats") == 0 && a->type == NN_ATTR_FLOATS) {
        out[0].dtype = NN_DTYPE_FLOAT;
        out[0].shape.rank = 1;
        out[0].shape.dims[0] = a->count;
    } else if (strcmp(a->name, "value_ints") == 0 && a->type == NN_ATTR_INTS) {
        out[0].dtype = NN_DTYPE_INT64;
        out[0].shape.rank = 1;
        out[0].shape.dims[0] = a->count;
    } else {
        return nn_op_error(c, NN_ERR_INVALID, "attribute '%s' has the wrong type", a->name);
    }
    return NN_OK;
}

static nn_status nn_op__run_constant(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)in; (void)n_in; (void)n_out;
    const nn_attr *a = &c->node->attrs[0];
    switch (a->type) {
    case NN_ATTR_TENSOR:
        if (a->t.bytes != out[0].bytes) return nn_op_error(c, NN_ERR_INVALID, "value tensor size mismatch");
        if (a->t.bytes) memcpy(out[0].data, a->t.data, a->t.bytes);
        break;
    case NN_ATTR_FLOAT: *(float *)out[0].data = a->f; break;
    case NN_ATTR_INT: *(int64_t *)out[0].data = a->i; break;
    case NN_ATTR_FLOATS: if (a->count) memcpy(out[0].data, a->floats, a->count * sizeof(float)); break;
    case NN_ATTR_INTS: if (a->count) memcpy(out[0].data, a->ints, a->count * sizeof(int64_t)); break;
    default: return nn_op_error(c, NN_ERR_INVALID, "bad value attribute");
    }
    return NN_OK;
}

/* ---- kernels: elementwise -----------------------------------------------------------------

   Unary math and activations, binary arithmetic / comparison / logic with
   numpy broadcasting, the variadic Sum/Mean/Max/Min, Where, Clip, Cast /
   CastLike and the linear quantizers.  Static names start with nn_ew__.

   How the kernels are built
   - float32 and float64 are typed loops over contiguous rows that the
     compiler vectorizes; no dtype switch runs per element.
   - float16 / bfloat16 are widened to float32 in blocks of NN_EW__BLOCK
     elements, computed by the float32 kernel and rounded back once (round
     to nearest even), as ONNX Runtime's CPU kernels do.
   - Integer arithmetic stays in the integer type (int64 is exact) and
     wraps modulo 2^bits; signed values are computed through unsigned types
     so no C signed overflow happens.  Division / modulo by zero give 0
     (ONNX leaves it undefined; this keeps the kernel defined).
   - Broadcasting goes through one driver (nn_ew__bcast) that folds the
     output shape into rows whose inputs are either contiguous or a single
     repeated element, so "tensor op scalar" and "NCHW op per-channel" both
     run as flat vector loops.  Large tensors are split across the exec's
     threads with nn_op_parallel.
   - Rounding to nearest even (Round, QuantizeLinear) uses rintf / rint and
     so assumes the default FE_TONEAREST rounding mode.

   Opset ranges: each row covers from the op's first version to
   NN_EW__OPSET_MAX, 28, the newest opset the conformance data uses.  The
   versions after 23 that the spec history shows for these ops add types
   (float8e8m0, float4e2m1, int2, uint2; float16 for Celu) and attributes
   (Cast round_mode, QuantizeLinear precision); types this file does not
   know are refused with NN_ERR_UNSUPPORTED, attributes it does not list
   are refused when the exec is prepared. */

#define NN_EW__OPSET_MAX 28
#define NN_EW__BLOCK 256          /* float16 widening block (elements) */
#define NN_EW__GRAIN 32768        /* elements per thread chunk, cheap ops */
#define NN_EW__GRAIN_MATH 4096    /* elements per thread chunk, libm ops */

/* ---- dtype sets ----------------------------------------------------------------------- */

#define NN_EW__B(t) (1u << (t))
#define NN_EW__FLOATS (NN_EW__B(NN_DTYPE_FLOAT) | NN_EW__B(NN_DTYPE_DOUBLE) | \
                       NN_EW__B(NN_DTYPE_FLOAT16) | NN_EW__B(NN_DTYPE_BFLOAT16))
#define NN_EW__SINTS (NN_EW__B(NN_DTYPE_INT8) | NN_EW__B(NN_DTYPE_INT16) | \
                      NN_EW__B(NN_DTYPE_INT32) | NN_EW__B(NN_DTYPE_INT64))
#define NN_EW__UINTS (NN_EW__B(NN_DTYPE_UINT8) | NN_EW__B(NN_DTYPE_UINT16) | \
                      NN_EW__B(NN_DTYPE_UINT32) | NN_EW__B(NN_DTYPE_UINT64))
#define NN_EW__INTS (NN_EW__SINTS | NN_EW__UINTS)
#define NN_EW__NUMS (NN_EW__FLOATS | NN_EW__INTS)
#define NN_EW__BOOLS NN_EW__B(NN_DTYPE_BOOL)
#define NN_EW__F8S (NN_EW__B(NN_DTYPE_FLOAT8E4M3FN) | NN_EW__B(NN_DTYPE_FLOAT8E4M3FNUZ) | \
                    NN_EW__B(NN_DTYPE_FLOAT8E5M2) | NN_EW__B(NN_DTYPE_FLOAT8E5M2FNUZ))
#define NN_EW__I4S (NN_EW__B(NN_DTYPE_INT4) | NN_EW__B(NN_DTYPE_UINT4))
/* Everything Cast converts between (strings and complex are refused). */
#define NN_EW__CASTS (NN_EW__NUMS | NN_EW__BOOLS | NN_EW__F8S | NN_EW__I4S)

static int nn_ew__in_set(nn_dtype t, uint32_t set) { return (unsigned)t < 32u && ((set >> t) & 1u); }
static int nn_ew__is_half(nn_dtype t) { return t == NN_DTYPE_FLOAT16 || t == NN_DTYPE_BFLOAT16; }

/* Refuses a dtype outside set; an undefined (not yet inferred) dtype passes. */
static nn_status nn_ew__check_type(nn_op_ctx *c, nn_dtype t, uint32_t set, const char *what) {
    if (t == NN_DTYPE_UNDEFINED || nn_ew__in_set(t, set)) return NN_OK;
    return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s of type %s is not supported", what, nn_dtype_name(t));
}

/* Attribute values the kernels read; zero-initialized then filled per op. */
typedef struct nn_ew__par {
    float alpha, beta, gamma, lambd, bias;
    int flag_a, flag_b;    /* IsInf detect_negative / detect_positive; flag_a: Gelu tanh */
} nn_ew__par;

/* ---- float16 / bfloat16 blocks -------------------------------------------------------- */

static void nn_ew__widen(const void *src, nn_dtype t, float *dst, size_t n) {
    const uint16_t *s = (const uint16_t *)src;
    size_t i;
    if (t == NN_DTYPE_FLOAT16)
        for (i = 0; i < n; i++) dst[i] = nn_f16_to_f32(s[i]);
    else
        for (i = 0; i < n; i++) dst[i] = nn_bf16_to_f32(s[i]);
}

static void nn_ew__narrow(const float *src, nn_dtype t, void *dst, size_t n) {
    uint16_t *d = (uint16_t *)dst;
    size_t i;
    if (t == NN_DTYPE_FLOAT16)
        for (i = 0; i < n; i++) d[i] = nn_f32_to_f16(src[i]);
    else
        for (i = 0; i < n; i++) d[i] = nn_f32_to_bf16(src[i]);
}

/* ---- small float formats ------------------------------------------------------------------
   float16, bfloat16 and the four float8 types of the ONNX spec ("Float
   stored in 8 bits", docs/docsgen/source/technical/float8.md) described by
   exponent / mantissa widths, so one rounding routine serves all of them.
   IEEE:  inf and NaN as in IEEE 754 (float16, bfloat16, e5m2).
   FN:    no inf, S.1111.111 is NaN (e4m3fn).
   FNUZ:  no inf, no -0, 0x80 is NaN, exponent bias one higher (e4m3fnuz,
          e5m2fnuz). */

enum { NN_EW__IEEE, NN_EW__FN, NN_EW__FNUZ };

typedef struct nn_ew__fmt {
    int ebits, mbits, bias, kind;
    double max; /* largest finite value */
} nn_ew__fmt;

static const nn_ew__fmt *nn_ew__fmt_of(nn_dtype t) {
    static const nn_ew__fmt f16 = {5, 10, 15, NN_EW__IEEE, 65504.0};
    static const nn_ew__fmt bf16 = {8, 7, 127, NN_EW__IEEE, 3.3895313892515355e38};
    static const nn_ew__fmt e4m3fn = {4, 3, 7, NN_EW__FN, 448.0};
    static const nn_ew__fmt e4m3fnuz = {4, 3, 8, NN_EW__FNUZ, 240.0};
    static const nn_ew__fmt e5m2 = {5, 2, 15, NN_EW__IEEE, 57344.0};
    static const nn_ew__fmt e5m2fnuz = {5, 2, 16, NN_EW__FNUZ, 57344.0};
    switch (t) {
    case NN_DTYPE_FLOAT16: return &f16;
    case NN_DTYPE_BFLOAT16: return &bf16;
    case NN_DTYPE_FLOAT8E4M3FN: return &e4m3fn;
    case NN_DTYPE_FLOAT8E4M3FNUZ: return &e4m3fnuz;
    case NN_DTYPE_FLOAT8E5M2: return &e5m2;
    case NN_DTYPE_FLOAT8E5M2FNUZ: return &e5m2fnuz;
    default: return NULL;
    }
}

static double nn_ew__mf_decode(const nn_ew__fmt *f, uint32_t bits) {
    uint32_t mmask = (1u << f->mbits) - 1u, emask = (1u << f->ebits) - 1u;
    uint32_t sign = (bits >> (f->ebits + f->mbits)) & 1u, e = (bits >> f->mbits) & emask, m = bits & mmask;
    double v;
    if (f->kind == NN_EW__FNUZ && sign && e == 0 && m == 0) return NAN;
    if (f->kind == NN_EW__IEEE && e == emask) return m ? NAN : (sign ? -INFINITY : INFINITY);
    if (f->kind == NN_EW__FN && e == emask && m == mmask) return NAN;
    if (e == 0) v = ldexp((double)m, 1 - f->bias - f->mbits); /* subnormal */
    else v = ldexp((double)(m | (mmask + 1u)), (int)e - f->bias - f->mbits);
    return sign ? -v : v;
}

/* Rounds v to the format, nearest even.  Out of range (and inf) gives the
   largest finite value when saturate is set, else inf (IEEE) or NaN: the
   table of the Cast spec (opset 19+), checked against the cast_*FLOAT8*
   conformance cases. */
static uint32_t nn_ew__mf_encode(const nn_ew__fmt *f, double v, int saturate) {
    uint32_t sbit = 1u << (f->ebits + f->mbits), emask = (1u << f->ebits) - 1u, mmask = (1u << f->mbits) - 1u;
    uint32_t sign = signbit(v) ? sbit : 0u, max_bits;
    int e, emin = 1 - f->bias;
    double a = fabs(v), q, n, r, res;
    if (f->kind == NN_EW__IEEE) max_bits = ((emask - 1u) << f->mbits) | mmask;
    else if (f->kind == NN_EW__FN) max_bits = (emask << f->mbits) | (mmask - 1u);
    else max_bits = (emask << f->mbits) | mmask;
    if (v != v) {
        if (f->kind == NN_EW__FNUZ) return sbit;
        if (f->kind == NN_EW__FN) return sign | (sbit - 1u);
        return sign | (emask << f->mbits) | (1u << (f->mbits - 1)); /* quiet NaN */
    }
    res = 0.0;
    if (!isinf(a) && a != 0.0) {
        (void)frexp(a, &e);
        e -= 1; /* a in [2^e, 2^(e+1)) */
        if (e < emin) e = emin;
        q = ldexp(1.0, e - f->mbits); /* the spacing of representable values near a */
        n = a / q;                    /* exact: q is a power of two */
        r = floor(n);
        if (n - r > 0.5 || (n - r == 0.5 && fmod(r, 2.0) != 0.0)) r += 1.0;
        res = r * q;
    }
    if (isinf(a) || res > f->max) {
        if (saturate) return sign | max_bits;
        if (f->kind == NN_EW__IEEE) return sign | (emask << f->mbits);
        if (f->kind == NN_EW__FN) return sign | (sbit - 1u);
        return sbit;
    }
    if (res == 0.0) return f->kind == NN_EW__FNUZ ? 0u : sign;
    (void)frexp(res, &e);
    e -= 1;
    if (e < emin) return sign | (uint32_t)(res / ldexp(1.0, emin - f->mbits));
    return sign | ((uint32_t)(e + f->bias) << f->mbits) |
           ((uint32_t)(res / ldexp(1.0, e - f->mbits)) - (mmask + 1u));
}

/* ---- exact integer element access ------------------------------------------------------
   nn_op__load goes through double; these keep all 64 bits for Pow, Clip,
   Cast and the quantizers.  Bool reads as 0/1; 4-bit types are packed two
   per byte, low nibble first. */

static int64_t nn_ew__load_i64(const void *p, nn_dtype t, size_t i) {
    switch (t) {
    case NN_DTYPE_INT8: return ((const int8_t *)p)[i];
    case NN_DTYPE_INT16: return ((const int16_t *)p)[i];
    case NN_DTYPE_INT32: return ((const int32_t *)p)[i];
    case NN_DTYPE_INT64: return ((const int64_t *)p)[i];
    case NN_DTYPE_UINT8: return ((const uint8_t *)p)[i];
    case NN_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    case NN_DTYPE_UINT32: return ((const uint32_t *)p)[i];
    case NN_DTYPE_UINT64: return (int64_t)((const uint64_t *)p)[i];
    case NN_DTYPE_BOOL: return ((const uint8_t *)p)[i] != 0;
    case NN_DTYPE_INT4: case NN_DTYPE_UINT4: return (int64_t)nn_op__load(p, t, i);
    default: return 0;
    }
}

/* Stores v modulo 2^bits of t (two's complement wrap, like a C cast). */
static void nn_ew__store_i64(void *p, nn_dtype t, size_t i, int64_t v) {
    uint64_t u = (uint64_t)v;
    switch (t) {
    case NN_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)(uint8_t)u; break;
    case NN_DTYPE_INT16: ((int16_t *)p)[i] = (int16_t)(uint16_t)u; break;
    case NN_DTYPE_INT32: ((int32_t *)p)[i] = (int32_t)(uint32_t)u; break;
    case NN_DTYPE_INT64: ((int64_t *)p)[i] = v; break;
    case NN_DTYPE_UINT8: ((uint8_t *)p)[i] = (uint8_t)u; break;
    case NN_DTYPE_UINT16: ((uint16_t *)p)[i] = (uint16_t)u; break;
    case NN_DTYPE_UINT32: ((uint32_t *)p)[i] = (uint32_t)u; break;
    case NN_DTYPE_UINT64: ((uint64_t *)p)[i] = u; break;
    case NN_DTYPE_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case NN_DTYPE_INT4: case NN_DTYPE_UINT4: {
        uint8_t *b = (uint8_t *)p + i / 2;
        int sh = (int)(i & 1u) * 4;
        *b = (uint8_t)((*b & ~(15 << sh)) | ((int)(u & 15u) << sh));
        break;
    }
    default: break;
    }
}

/* double -> int64 without undefined behaviour: truncation toward zero,
   saturating at the int64 range, NaN -> 0 (ONNX leaves these undefined). */
static int64_t nn_ew__f2i(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775807.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

/* ---- the broadcast driver ------------------------------------------------------------------
   Output and up to three inputs.  The output shape is folded: size-1 dims
   are dropped and neighbours merged while every input keeps a constant
   stride across them.  What remains is `rows` rows of `inner` elements in
   which each input is either contiguous (vec 1) or one repeated element
   (vec 0); fn computes one such row. */

#define NN_EW__MAX_IN 3

typedef void (*nn_ew__row_fn)(void *ctx, char *const *p, const int *vec, size_t n);

typedef struct nn_ew__bcast {
    int n_in;
    int32_t rank;                              /* >= 1 after folding */
    int64_t dims[NN_MAX_RANK];
    int64_t st[NN_EW__MAX_IN][NN_MAX_RANK];    /* element strides, 0 = repeated */
    size_t esz[NN_EW__MAX_IN + 1];             /* bytes per element, [0] = output */
    char *base[NN_EW__MAX_IN + 1];             /* [0] = output, [1..] = inputs */
    size_t rows, inner;
    nn_ew__row_fn fn;
    void *ctx;
} nn_ew__bcast;

/* ins[k] must broadcast to out->shape (checked by the op's infer). */
static void nn_ew__bcast_init(nn_ew__bcast *b, nn_value *out, const nn_value *const *ins, int n_in,
                              nn_ew__row_fn fn, void *ctx) {
    int64_t st[NN_EW__MAX_IN][NN_MAX_RANK];
    int32_t i, r = out->shape.rank;
    int k;
    memset(b, 0, sizeof *b);
    b->n_in = n_in;
    b->fn = fn;
    b->ctx = ctx;
    b->base[0] = (char *)out->data;
    b->esz[0] = nn_dtype_size(out->dtype);
    for (k = 0; k < n_in; k++) {
        nn_op__bcast_strides(&ins[k]->shape, &out->shape, st[k]);
        b->base[k + 1] = (char *)ins[k]->data;
        b->esz[k + 1] = nn_dtype_size(ins[k]->dtype);
    }
    for (i = 0; i < r; i++) {
        int64_t d = out->shape.dims[i];
        int merge = b->rank > 0;
        if (d == 1) continue;
        for (k = 0; k < n_in && merge; k++)
            if (b->st[k][b->rank - 1] != st[k][i] * d) merge = 0;
        if (merge) {
            b->dims[b->rank - 1] *= d;
            for (k = 0; k < n_in; k++) b->st[k][b->rank - 1] = st[k][i];
            continue;
        }
        b->dims[b->rank] = d;
        for (k = 0; k < n_in; k++) b->st[k][b->rank] = st[k][i];
        b->rank++;
    }
    if (b->rank == 0) { /* a single element */
        b->rank = 1;
        b->dims[0] = 1;
    }
    b->inner = (size_t)b->dims[b->rank - 1];
    b->rows = 1;
    for (i = 0; i + 1 < b->rank; i++) b->rows *= (size_t)b->dims[i];
}

static void nn_ew__bcast_rows(void *arg, size_t r0, size_t r1) {
    const nn_ew__bcast *b = (const nn_ew__bcast *)arg;
    int32_t outer = b->rank - 1, j;
    int64_t idx[NN_MAX_RANK];
    size_t off[NN_EW__MAX_IN], rem = r0, r;
    int vec[NN_EW__MAX_IN], k;
    char *p[NN_EW__MAX_IN + 1];
    for (k = 0; k < b->n_in; k++) {
        off[k] = 0;
        vec[k] = b->st[k][outer] != 0;
    }
    for (j = outer - 1; j >= 0; j--) { /* multi-index of row r0 */
        idx[j] = (int64_t)(rem % (size_t)b->dims[j]);
        rem /= (size_t)b->dims[j];
        for (k = 0; k < b->n_in; k++) off[k] += (size_t)(idx[j] * b->st[k][j]);
    }
    for (r = r0; r < r1; r++) {
        p[0] = b->base[0] + r * b->inner * b->esz[0];
        for (k = 0; k < b->n_in; k++) p[k + 1] = b->base[k + 1] + off[k] * b->esz[k + 1];
        b->fn(b->ctx, p, vec, b->inner);
        for (j = outer - 1; j >= 0; j--) { /* odometer step */
            idx[j]++;
            for (k = 0; k < b->n_in; k++) off[k] += (size_t)b->st[k][j];
            if (idx[j] < b->dims[j]) break;
            for (k = 0; k < b->n_in; k++) off[k] -= (size_t)(b->st[k][j] * b->dims[j]);
            idx[j] = 0;
        }
    }
}

/* One row only: threads split it by elements. */
static void nn_ew__bcast_flat(void *arg, size_t e0, size_t e1) {
    const nn_ew__bcast *b = (const nn_ew__bcast *)arg;
    char *p[NN_EW__MAX_IN + 1];
    int vec[NN_EW__MAX_IN], k;
    p[0] = b->base[0] + e0 * b->esz[0];
    for (k = 0; k < b->n_in; k++) {
        vec[k] = b->st[k][b->rank - 1] != 0;
        p[k + 1] = b->base[k + 1] + (vec[k] ? e0 * b->esz[k + 1] : 0);
    }
    b->fn(b->ctx, p, vec, e1 - e0);
}

static void nn_ew__bcast_run(nn_op_ctx *c, nn_ew__bcast *b, size_t grain) {
    if (b->rows == 1) nn_op_parallel(c, b->inner, grain, nn_ew__bcast_flat, b);
    else nn_op_parallel(c, b->rows, (grain + b->inner - 1) / b->inner, nn_ew__bcast_rows, b);
}

/* Output shape of inputs broadcast together (multidirectional). */
static nn_status nn_ew__infer_bcast(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_shape *out) {
    uint32_t i;
    *out = in[0].shape;
    for (i = 1; i < n_in; i++) {
        nn_shape s = *out;
        if (!nn_op__broadcast(&s, &in[i].shape, out)) {
            char a[64], b[64];
            return nn_op_error(c, NN_ERR_SHAPE, "shapes %s and %s do not broadcast",
                               nn_shape_str(&s, a, sizeof a), nn_shape_str(&in[i].shape, b, sizeof b));
        }
    }
    return NN_OK;
}

/* Mode of a binary row kernel from the driver's vec flags:
   0 both contiguous, 1 a repeated, 2 b repeated. */
static int nn_ew__mode(const int *vec) {
    if (vec[0] && vec[1]) return 0;
    if (!vec[0] && vec[1]) return 1;
    if (vec[0]) return 2;
    return 0; /* both repeated: a row of one element */
}

/* ---- unary ops ----------------------------------------------------------------------------- */

typedef void (*nn_ew__un_fn)(const void *x, void *y, size_t n, const nn_ew__par *p);
typedef void (*nn_ew__un_int_fn)(const void *x, void *y, size_t n, nn_dtype t, const nn_ew__par *p);
typedef nn_status (*nn_ew__par_fn)(nn_op_ctx *c, nn_ew__par *p);

typedef struct nn_ew__unop {
    nn_ew__un_fn f32, f64;      /* float32 (also float16/bfloat16, widened) and float64 */
    nn_ew__un_int_fn ints;      /* integer and bool types; NULL when the op has none */
    uint32_t types;             /* accepted input types */
    int bool_out;               /* 1: the output is bool (IsNaN, IsInf) */
    size_t grain;
    nn_ew__par_fn params;       /* reads and checks attributes; NULL when none */
} nn_ew__unop;

/* One op's float32 and float64 loops; x is the element, p the attributes. */
#define NN_EW__UNARY_F(name, EXPR_F, EXPR_D)                                                   \
    static void nn_ew__##name##_f32(const void *px, void *py, size_t n, const nn_ew__par *p) { \
        const float *X = (const float *)px;                                                    \
        float *Y = (float *)py;                                                                \
        size_t i;                                                                              \
        (void)p;                                                                               \
        for (i = 0; i < n; i++) {                                                              \
            const float x = X[i];                                                              \
            Y[i] = (EXPR_F);                                                                   \
        }                                                                                      \
    }                                                                                          \
    static void nn_ew__##name##_f64(const void *px, void *py, size_t n, const nn_ew__par *p) { \
        const double *X = (const double *)px;                                                  \
        double *Y = (double *)py;                                                              \
        size_t i;                                                                              \
        (void)p;                                                                               \
        for (i = 0; i < n; i++) {                                                              \
            const double x = X[i];                                                             \
            Y[i] = (EXPR_D);                                                                   \
        }                                                                                      \
    }

/* Float input, bool output. */
#define NN_EW__UNARY_FB(name, EXPR)                                                            \
    static void nn_ew__##name##_f32(const void *px, void *py, size_t n, const nn_ew__par *p) { \
        const float *X = (const float *)px;                                                    \
        uint8_t *Y = (uint8_t *)py;                                                            \
        size_t i;                                                                              \
        (void)p;                                                                               \
        for (i = 0; i < n; i++) {                                                              \
            const float x = X[i];                                                              \
            Y[i] = (uint8_t)(EXPR);                                                            \
        }                                                                                      \
    }                                                                                          \
    static void nn_ew__##name##_f64(const void *px, void *py, size_t n, const nn_ew__par *p) { \
        const double *X = (const double *)px;                                                  \
        uint8_t *Y = (uint8_t *)py;                                                            \
        size_t i;                                                                              \
        (void)p;                                                                               \
        for (i = 0; i < n; i++) {                                                              \
            const double x = X[i];                                                             \
            Y[i] = (uint8_t)(EXPR);                                                            \
        }                                                                                      \
    }

/* A typed integer loop: T the element type, UT the unsigned type wrapping
   arithmetic is done in (visible to EXPR as U). */
#define NN_EW__ILOOP(T, UT, EXPR)                   \
    {                                               \
        typedef UT U;                               \
        const T *X = (const T *)px;                 \
        T *Y = (T *)py;                             \
        size_t i;                                   \
        (void)sizeof(U);                            \
        for (i = 0; i < n; i++) {                   \
            const T x = X[i];                       \
            Y[i] = (T)(EXPR);                       \
        }                                           \
    }

/* Dispatch over the eight integer types: SEXPR for signed, UEXPR for unsigned. */
#define NN_EW__INT_SWITCH(t, SEXPR, UEXPR)                                   \
    switch (t) {                                                             \
    case NN_DTYPE_INT8: NN_EW__ILOOP(int8_t, uint32_t, SEXPR) break;         \
    case NN_DTYPE_INT16: NN_EW__ILOOP(int16_t, uint32_t, SEXPR) break;       \
    case NN_DTYPE_INT32: NN_EW__ILOOP(int32_t, uint32_t, SEXPR) break;       \
    case NN_DTYPE_INT64: NN_EW__ILOOP(int64_t, uint64_t, SEXPR) break;       \
    case NN_DTYPE_UINT8: NN_EW__ILOOP(uint8_t, uint32_t, UEXPR) break;       \
    case NN_DTYPE_UINT16: NN_EW__ILOOP(uint16_t, uint32_t, UEXPR) break;     \
    case NN_DTYPE_UINT32: NN_EW__ILOOP(uint32_t, uint32_t, UEXPR) break;     \
    case NN_DTYPE_UINT64: NN_EW__ILOOP(uint64_t, uint64_t, UEXPR) break;     \
    default: break;                                                          \
    }

/* -- float32 exp, tanh, sigmoid, erf without libm calls --
   libm's expf / tanhf / erff are scalar calls (3-25 ns per element here);
   these are branch-free, so loops over them vectorize (0.4-0.7 ns).  Max
   errors measured against double-precision libm over every 61st / 101st
   float bit pattern: exp 1.0 ulp, tanh 1.4 ulp, sigmoid 2.6 ulp, erf
   2.6 ulp (libm erff: 0.9); NaN stays NaN.  float64 uses libm. */

static inline float nn_ew__u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t nn_ew__f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* e^x = 2^n e^r with n = round(x / ln 2) and |r| <= ln2 / 2 (ln 2 split in
   two so r is exact); e^r by its Taylor polynomial to r^7; 2^n applied as
   two power-of-two factors so results in the subnormal range round once.
   Clamping x to [-104, 88.8] keeps n in [-150, 129]: below, the result is
   0, above, inf, as expf's. */
static inline float nn_ew__expf(float x) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float xc = x > 88.8f ? 88.8f : x, t, n, r, q, p;
    int32_t ni, n1;
    xc = xc < -104.0f ? -104.0f : xc; /* NaN passes both (comparisons are false) */
    t = xc * 1.44269504088896341f + magic;
    n = t - magic;
    ni = (int32_t)(nn_ew__f2u(t) - nn_ew__f2u(magic));
    r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    q = 1.0f / 5040.0f;
    q = q * r + 1.0f / 720.0f;
    q = q * r + 1.0f / 120.0f;
    q = q * r + 1.0f / 24.0f;
    q = q * r + 1.0f / 6.0f;
    q = q * r + 0.5f;
    p = 1.0f + (r + r * r * q);
    n1 = ni > 100 ? 64 : ni < -100 ? -64 : 0; /* keeps both factors normal floats */
    return p * nn_ew__u2f((uint32_t)(n1 + 127) << 23) * nn_ew__u2f((uint32_t)(ni - n1 + 127) << 23);
}

/* tanh: its odd Taylor series to x^17 below 0.55 (no cancellation there),
   1 - 2 / (e^2|x| + 1) above; the sign is copied back. */
static inline float nn_ew__tanhf(float x) {
    float a = fabsf(x), a2 = a * a, s, e, y;
    s = 6404582.0f / 10854718875.0f;
    s = s * a2 - 929569.0f / 638512875.0f;
    s = s * a2 + 21844.0f / 6081075.0f;
    s = s * a2 - 1382.0f / 155925.0f;
    s = s * a2 + 62.0f / 2835.0f;
    s = s * a2 - 17.0f / 315.0f;
    s = s * a2 + 2.0f / 15.0f;
    s = s * a2 - 1.0f / 3.0f;
    s = a + a * a2 * s;
    e = nn_ew__expf(2.0f * a);
    y = a < 0.55f ? s : 1.0f - 2.0f / (e + 1.0f);
    return nn_ew__u2f(nn_ew__f2u(y) | (nn_ew__f2u(x) & 0x80000000u));
}

/* Logistic function with one exp and no overflow. */
static inline float nn_ew__sigmoidf(float x) {
    float e = nn_ew__expf(-fabsf(x)), s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;
}
static double nn_ew__sigmoid(double x) {
    double e = exp(-fabs(x));
    return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* erf: |x| < 0.875: x * P(x^2); 0.875 <= |x| < 3.95: 1 - e^(-x^2) Q(|x| -
   0.875); above, 1 (erfc(3.95) is below half an ulp of 1).  P (degree 5)
   and Q (degree 11) were fitted to erf(x)/x and erfc(x) e^(x^2) by
   weighted least squares (relative error 9e-9 and 5e-8 in double). */
static inline float nn_ew__erff(float x) {
    float a = fabsf(x), u = a * a, p, q, t, y;
    p = -6.203536315e-04f;
    p = p * u + 5.032231532e-03f;
    p = p * u - 2.679149421e-02f;
    p = p * u + 1.128245611e-01f;
    p = p * u - 3.761255053e-01f;
    p = a * 1.128379158e+00f + a * u * p;
    t = a - 0.875f;
    q = -5.309949042e-07f;
    q = q * t + 1.118443802e-05f;
    q = q * t - 1.077853236e-04f;
    q = q * t + 6.375087995e-04f;
    q = q * t - 2.639248920e-03f;
    q = q * t + 8.351849995e-03f;
    q = q * t - 2.171986878e-02f;
    q = q * t + 4.921665608e-02f;
    q = q * t - 1.007254425e-01f;
    q = q * t + 1.879259626e-01f;
    q = q * t - 3.158318578e-01f;
    q = q * t + 4.643115603e-01f;
    y = a < 0.875f ? p : a < 3.95f ? 1.0f - nn_ew__expf(-u) * q : 1.0f;
    y = a != a ? a : y;
    return nn_ew__u2f(nn_ew__f2u(y) | (nn_ew__f2u(x) & 0x80000000u));
}

/* log(1 + e^x) without overflow for large x. */
static float nn_ew__softplusf(float x) { return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x)); }
static double nn_ew__softplus(double x) { return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

/* Gelu (opset 20): approximate "none" uses erf, "tanh" the tanh formula.
   The float32 kernel picks the formula outside its loops. */
static void nn_ew__gelu_f32(const void *px, void *py, size_t n, const nn_ew__par *p) {
    const float *X = (const float *)px;
    float *Y = (float *)py;
    size_t i;
    if (p->flag_a) {
        for (i = 0; i < n; i++) {
            const float x = X[i];
            Y[i] = 0.5f * x * (1.0f + nn_ew__tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
        }
    } else {
        for (i = 0; i < n; i++) {
            const float x = X[i];
            Y[i] = 0.5f * x * (1.0f + nn_ew__erff(x * 0.70710678118654752f));
        }
    }
}
static double nn_ew__gelu(double x, int tanh_form) {
    if (tanh_form) return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1.0 + erf(x * 0.70710678118654752));
}

NN_EW__UNARY_F(abs, fabsf(x), fabs(x))
NN_EW__UNARY_F(neg, -x, -x)
NN_EW__UNARY_F(reciprocal, 1.0f / x, 1.0 / x)
NN_EW__UNARY_F(floor, floorf(x), floor(x))
NN_EW__UNARY_F(ceil, ceilf(x), ceil(x))
NN_EW__UNARY_F(round, rintf(x), rint(x)) /* half to even in FE_TONEAREST */
NN_EW__UNARY_F(sqrt, sqrtf(x), sqrt(x))
NN_EW__UNARY_F(exp, nn_ew__expf(x), exp(x))
NN_EW__UNARY_F(log, logf(x), log(x))
NN_EW__UNARY_F(sin, sinf(x), sin(x))
NN_EW__UNARY_F(cos, cosf(x), cos(x))
NN_EW__UNARY_F(tan, tanf(x), tan(x))
NN_EW__UNARY_F(asin, asinf(x), asin(x))
NN_EW__UNARY_F(acos, acosf(x), acos(x))
NN_EW__UNARY_F(atan, atanf(x), atan(x))
NN_EW__UNARY_F(sinh, sinhf(x), sinh(x))
NN_EW__UNARY_F(cosh, coshf(x), cosh(x))
NN_EW__UNARY_F(asinh, asinhf(x), asinh(x))
NN_EW__UNARY_F(acosh, acoshf(x), acosh(x))
NN_EW__UNARY_F(atanh, atanhf(x), atanh(x))
NN_EW__UNARY_F(erf, nn_ew__erff(x), erf(x))
/* NaN stays NaN (numpy's sign). */
NN_EW__UNARY_F(sign, x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x), x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : x))
/* x < 0 ? 0 : x keeps NaN, like numpy's maximum(x, 0). */
NN_EW__UNARY_F(relu, x < 0.0f ? 0.0f : x, x < 0.0 ? 0.0 : x)
NN_EW__UNARY_F(leakyrelu, x < 0.0f ? p->alpha * x : x, x < 0.0 ? (double)p->alpha * x : x)
NN_EW__UNARY_F(sigmoid, nn_ew__sigmoidf(x), nn_ew__sigmoid(x))
/* max(0, min(1, .)) written with comparisons: vectorizes, and NaN stays NaN. */
#define NN_EW__CLAMP01(v) ((v) < 0 ? 0 : (v) > 1 ? 1 : (v))
NN_EW__UNARY_F(hardsigmoid, NN_EW__CLAMP01(p->alpha * x + p->beta),
               NN_EW__CLAMP01((double)p->alpha * x + (double)p->beta))
/* HardSwish = x * HardSigmoid(x) with alpha 1/6, beta 0.5. */
NN_EW__UNARY_F(hardswish, x * NN_EW__CLAMP01(x * (1.0f / 6.0f) + 0.5f), x * NN_EW__CLAMP01(x / 6.0 + 0.5))
NN_EW__UNARY_F(tanh, nn_ew__tanhf(x), tanh(x))
/* expm1 rather than exp - 1: exact near 0, where exp - 1 cancels. */
NN_EW__UNARY_F(elu, x < 0.0f ? p->alpha * expm1f(x) : x, x < 0.0 ? (double)p->alpha * expm1(x) : x)
NN_EW__UNARY_F(selu, x > 0.0f ? p->gamma * x : p->gamma * (p->alpha * expm1f(x)),
               x > 0.0 ? (double)p->gamma * x : (double)p->gamma * ((double)p->alpha * expm1(x)))
/* max(0,x) + min(0, alpha*(exp(x/alpha)-1)); alpha > 0 makes the second term <= 0. */
NN_EW__UNARY_F(celu, x > 0.0f ? x : p->alpha * expm1f(x / p->alpha),
               x > 0.0 ? x : (double)p->alpha * expm1(x / (double)p->alpha))
NN_EW__UNARY_F(thresholdedrelu, x > p->alpha ? x : 0.0f, x > (double)p->alpha ? x : 0.0)
NN_EW__UNARY_F(softplus, nn_ew__softplusf(x), nn_ew__softplus(x))
NN_EW__UNARY_F(softsign, x / (1.0f + fabsf(x)), x / (1.0 + fabs(x)))
/* Mish = x tanh(ln(1 + e^x)) = x w / (w + 2) with w = e^x (e^x + 2); past
   x = 20 the factor is 1 in float (and w would overflow). */
static inline float nn_ew__mishf(float x) {
    float n = nn_ew__expf(x < 20.0f ? x : 20.0f), w = n * (n + 2.0f);
    return x < 20.0f ? x * w / (w + 2.0f) : x;
}
NN_EW__UNARY_F(mish, nn_ew__mishf(x), x * tanh(nn_ew__softplus(x)))
static void nn_ew__gelu_f64(const void *px, void *py, size_t n, const nn_ew__par *p) {
    const double *X = (const double *)px;
    double *Y = (double *)py;
    size_t i;
    for (i = 0; i < n; i++) Y[i] = nn_ew__gelu(X[i], p->flag_a);
}
NN_EW__UNARY_F(shrink, x < -p->lambd ? x + p->bias : (x > p->lambd ? x - p->bias : 0.0f),
               x < -(double)p->lambd ? x + (double)p->bias : (x > (double)p->lambd ? x - (double)p->bias : 0.0))
NN_EW__UNARY_F(swish, x * nn_ew__sigmoidf(p->alpha * x), x * nn_ew__sigmoid((double)p->alpha * x))
NN_EW__UNARY_FB(isnan, x != x)
NN_EW__UNARY_FB(isinf, (p->flag_b && x == (float)INFINITY) || (p->flag_a && x == -(float)INFINITY))

static void nn_ew__abs_int(const void *px, void *py, size_t n, nn_dtype t, const nn_ew__par *p) {
    (void)p;
    NN_EW__INT_SWITCH(t, x < 0 ? 0u - (U)x : (U)x, x)
}
static void nn_ew__neg_int(const void *px, void *py, size_t n, nn_dtype t, const nn_ew__par *p) {
    (void)p;
    NN_EW__INT_SWITCH(t, 0u - (U)x, 0u - (U)x)
}
static void nn_ew__sign_int(const void *px, void *py, size_t n, nn_dtype t, const nn_ew__par *p) {
    (void)p;
    NN_EW__INT_SWITCH(t, (x > 0) - (x < 0), x != 0)
}
static void nn_ew__relu_int(const void *px, void *py, size_t n, nn_dtype t, const nn_ew__par *p) {
    (void)p;
    NN_EW__INT_SWITCH(t, x < 0 ? 0 : x, x)
}
static void nn_ew__bitnot_int(const void *px, void *py, size_t n, nn_dtype t, const nn_ew__par *p) {
    (void)p;
    NN_EW__INT_SWITCH(t, ~(U)x, ~(U)x)
}
static void nn_ew__not_bool(const void *px, void *py, size_t n, nn_dtype t, const nn_ew__par *p) {
    const uint8_t *X = (const uint8_t *)px;
    uint8_t *Y = (uint8_t *)py;
    size_t i;
    (void)p; (void)t;
    for (i = 0; i < n; i++) Y[i] = X[i] == 0;
}
/* Shrink on integers goes through double like the spec's formula
   (bias and lambd are floats); exact for |x| < 2^53. */
static void nn_ew__shrink_int(const void *px, void *py, size_t n, nn_dtype t, const nn_ew__par *p) {
    size_t i;
    for (i = 0; i < n; i++) {
        double x = (double)nn_ew__load_i64(px, t, i), y = 0.0;
        if (x < -(double)p->lambd) y = x + (double)p->bias;
        else if (x > (double)p->lambd) y = x - (double)p->bias;
        nn_ew__store_i64(py, t, i, nn_ew__f2i(y));
    }
}

/* -- attribute readers -- */

static nn_status nn_ew__par_alpha(nn_op_ctx *c, nn_ew__par *p, float def) {
    p->alpha = nn_node_attr_float(c->node, "alpha", def);
    return NN_OK;
}
static nn_status nn_ew__par_leakyrelu(nn_op_ctx *c, nn_ew__par *p) { return nn_ew__par_alpha(c, p, 0.01f); }
static nn_status nn_ew__par_alpha1(nn_op_ctx *c, nn_ew__par *p) { return nn_ew__par_alpha(c, p, 1.0f); }
static nn_status nn_ew__par_celu(nn_op_ctx *c, nn_ew__par *p) {
    p->alpha = nn_node_attr_float(c->node, "alpha", 1.0f);
    if (!(p->alpha != 0.0f)) return nn_op_error(c, NN_ERR_INVALID, "alpha must not be 0");
    return NN_OK;
}
static nn_status nn_ew__par_selu(nn_op_ctx *c, nn_ew__par *p) {
    p->alpha = nn_node_attr_float(c->node, "alpha", 1.67326319217681884765625f);
    p->gamma = nn_node_attr_float(c->node, "gamma", 1.05070102214813232421875f);
    return NN_OK;
}
static nn_status nn_ew__par_hardsigmoid(nn_op_ctx *c, nn_ew__par *p) {
    p->alpha = nn_node_attr_float(c->node, "alpha", 0.2f);
    p->beta = nn_node_attr_float(c->node, "beta", 0.5f);
    return NN_OK;
}
static nn_status nn_ew__par_shrink(nn_op_ctx *c, nn_ew__par *p) {
    p->bias = nn_node_attr_float(c->node, "bias", 0.0f);
    p->lambd = nn_node_attr_float(c->node, "lambd", 0.5f);
    return NN_OK;
}
static nn_status nn_ew__par_isinf(nn_op_ctx *c, nn_ew__par *p) {
    p->flag_a = nn_node_attr_int(c->node, "detect_negative", 1) != 0;
    p->flag_b = nn_node_attr_int(c->node, "detect_positive", 1) != 0;
    return NN_OK;
}
static nn_status nn_ew__par_gelu(nn_op_ctx *c, nn_ew__par *p) {
    const char *a = nn_node_attr_string(c->node, "approximate", "none");
    if (strcmp(a, "none") == 0) p->flag_a = 0;
    else if (strcmp(a, "tanh") == 0) p->flag_a = 1;
    else return nn_op_error(c, NN_ERR_UNSUPPORTED, "approximate='%s' is not supported (none, tanh)", a);
    return NN_OK;
}

/* -- the op descriptors -- */

/* Float kernels, integer kernel, accepted types, bool output, thread grain
   (libm-bound ops split into smaller chunks), attribute reader. */
#define NN_EW__UN(op, ints, types, bool_out, grain, params) \
    {nn_ew__##op##_f32, nn_ew__##op##_f64, ints, types, bool_out, grain, params}
#define NN_EW__G NN_EW__GRAIN
#define NN_EW__GM NN_EW__GRAIN_MATH
static const nn_ew__unop nn_ew__u_abs = NN_EW__UN(abs, nn_ew__abs_int, NN_EW__NUMS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_neg =
    NN_EW__UN(neg, nn_ew__neg_int, NN_EW__FLOATS | NN_EW__SINTS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_reciprocal = NN_EW__UN(reciprocal, NULL, NN_EW__FLOATS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_floor = NN_EW__UN(floor, NULL, NN_EW__FLOATS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_ceil = NN_EW__UN(ceil, NULL, NN_EW__FLOATS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_round = NN_EW__UN(round, NULL, NN_EW__FLOATS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_sqrt = NN_EW__UN(sqrt, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_exp = NN_EW__UN(exp, NULL, NN_EW__FLOATS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_log = NN_EW__UN(log, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_sin = NN_EW__UN(sin, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_cos = NN_EW__UN(cos, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_tan = NN_EW__UN(tan, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_asin = NN_EW__UN(asin, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_acos = NN_EW__UN(acos, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_atan = NN_EW__UN(atan, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_sinh = NN_EW__UN(sinh, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_cosh = NN_EW__UN(cosh, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_asinh = NN_EW__UN(asinh, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_acosh = NN_EW__UN(acosh, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_atanh = NN_EW__UN(atanh, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_erf = NN_EW__UN(erf, NULL, NN_EW__FLOATS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_sign = NN_EW__UN(sign, nn_ew__sign_int, NN_EW__NUMS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_not = {NULL, NULL, nn_ew__not_bool, NN_EW__BOOLS, 0, NN_EW__G, NULL};
static const nn_ew__unop nn_ew__u_bitnot = {NULL, NULL, nn_ew__bitnot_int, NN_EW__INTS, 0, NN_EW__G, NULL};
static const nn_ew__unop nn_ew__u_isnan = NN_EW__UN(isnan, NULL, NN_EW__FLOATS, 1, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_isinf = NN_EW__UN(isinf, NULL, NN_EW__FLOATS, 1, NN_EW__G, nn_ew__par_isinf);
static const nn_ew__unop nn_ew__u_relu =
    NN_EW__UN(relu, nn_ew__relu_int, NN_EW__FLOATS | NN_EW__SINTS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_leakyrelu =
    NN_EW__UN(leakyrelu, NULL, NN_EW__FLOATS, 0, NN_EW__G, nn_ew__par_leakyrelu);
static const nn_ew__unop nn_ew__u_sigmoid = NN_EW__UN(sigmoid, NULL, NN_EW__FLOATS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_hardsigmoid =
    NN_EW__UN(hardsigmoid, NULL, NN_EW__FLOATS, 0, NN_EW__G, nn_ew__par_hardsigmoid);
static const nn_ew__unop nn_ew__u_hardswish = NN_EW__UN(hardswish, NULL, NN_EW__FLOATS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_tanh = NN_EW__UN(tanh, NULL, NN_EW__FLOATS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_elu = NN_EW__UN(elu, NULL, NN_EW__FLOATS, 0, NN_EW__GM, nn_ew__par_alpha1);
static const nn_ew__unop nn_ew__u_selu = NN_EW__UN(selu, NULL, NN_EW__FLOATS, 0, NN_EW__GM, nn_ew__par_selu);
static const nn_ew__unop nn_ew__u_celu = NN_EW__UN(celu, NULL, NN_EW__FLOATS, 0, NN_EW__GM, nn_ew__par_celu);
static const nn_ew__unop nn_ew__u_thresholdedrelu =
    NN_EW__UN(thresholdedrelu, NULL, NN_EW__FLOATS, 0, NN_EW__G, nn_ew__par_alpha1);
static const nn_ew__unop nn_ew__u_softplus = NN_EW__UN(softplus, NULL, NN_EW__FLOATS, 0, NN_EW__GM, NULL);
static const nn_ew__unop nn_ew__u_softsign = NN_EW__UN(softsign, NULL, NN_EW__FLOATS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_mish = NN_EW__UN(mish, NULL, NN_EW__FLOATS, 0, NN_EW__G, NULL);
static const nn_ew__unop nn_ew__u_gelu = NN_EW__UN(gelu, NULL, NN_EW__FLOATS, 0, NN_EW__G, nn_ew__par_gelu);
static const nn_ew__unop nn_ew__u_shrink =
    NN_EW__UN(shrink, nn_ew__shrink_int, NN_EW__NUMS, 0, NN_EW__G, nn_ew__par_shrink);
static const nn_ew__unop nn_ew__u_swish = NN_EW__UN(swish, NULL, NN_EW__FLOATS, 0, NN_EW__G, nn_ew__par_alpha1);

/* -- infer / run -- */

typedef struct nn_ew__ujob {
    const nn_ew__unop *d;
    nn_ew__par par;
    const char *x;
    char *y;
    nn_dtype t;
    size_t xs, ys; /* element sizes */
} nn_ew__ujob;

static void nn_ew__unary_range(void *arg, size_t b, size_t e) {
    const nn_ew__ujob *j = (const nn_ew__ujob *)arg;
    const char *x = j->x + b * j->xs;
    char *y = j->y + b * j->ys;
    size_t n = e - b, i;
    switch (j->t) {
    case NN_DTYPE_FLOAT: j->d->f32(x, y, n, &j->par); break;
    case NN_DTYPE_DOUBLE: j->d->f64(x, y, n, &j->par); break;
    case NN_DTYPE_FLOAT16: case NN_DTYPE_BFLOAT16: {
        float in[NN_EW__BLOCK], out[NN_EW__BLOCK];
        for (i = 0; i < n; i += NN_EW__BLOCK) {
            size_t m = n - i < NN_EW__BLOCK ? n - i : NN_EW__BLOCK;
            nn_ew__widen(x + 2 * i, j->t, in, m);
            if (j->d->bool_out) {
                j->d->f32(in, y + i, m, &j->par);
            } else {
                j->d->f32(in, out, m, &j->par);
                nn_ew__narrow(out, j->t, y + 2 * i, m);
            }
        }
        break;
    }
    default: j->d->ints(x, y, n, j->t, &j->par); break;
    }
}

static nn_status nn_ew__unary_infer(nn_op_ctx *c, const nn_value *in, nn_value *out, const nn_ew__unop *d) {
    nn_ew__par par;
    nn_status st = nn_ew__check_type(c, in[0].dtype, d->types, "input");
    memset(&par, 0, sizeof par);
    if (st == NN_OK && d->params) st = d->params(c, &par);
    out[0].dtype = d->bool_out ? NN_DTYPE_BOOL : in[0].dtype;
    out[0].shape = in[0].shape;
    return st;
}

static nn_status nn_ew__unary_run(nn_op_ctx *c, const nn_value *in, nn_value *out, const nn_ew__unop *d) {
    nn_ew__ujob j;
    nn_status st;
    memset(&j, 0, sizeof j);
    j.d = d;
    if (d->params && (st = d->params(c, &j.par)) != NN_OK) return st;
    j.x = (const char *)in[0].data;
    j.y = (char *)out[0].data;
    j.t = in[0].dtype;
    j.xs = nn_dtype_size(in[0].dtype);
    j.ys = nn_dtype_size(out[0].dtype);
    nn_op_parallel(c, nn_value_count(&out[0]), d->grain, nn_ew__unary_range, &j);
    return NN_OK;
}

/* One infer/run pair per unary op, bound to its descriptor. */
#define NN_EW__UNARY_OP(Name, desc)                                                                 \
    static nn_status nn_ew__infer_##Name(nn_op_ctx *c, const nn_value *in, uint32_t n_in,         \
                                         nn_value *out, uint32_t n_out) {                         \
        (void)n_in; (void)n_out;                                                                  \
        return nn_ew__unary_infer(c, in, out, &desc);                                             \
    }                                                                                             \
    static nn_status nn_ew__run_##Name(nn_op_ctx *c, const nn_value *in, uint32_t n_in,           \
                                       nn_value *out, uint32_t n_out) {                           \
        (void)n_in; (void)n_out;                                                                  \
        return nn_ew__unary_run(c, in, out, &desc);                                               \
    }

NN_EW__UNARY_OP(Abs, nn_ew__u_abs)
NN_EW__UNARY_OP(Neg, nn_ew__u_neg)
NN_EW__UNARY_OP(Reciprocal, nn_ew__u_reciprocal)
NN_EW__UNARY_OP(Floor, nn_ew__u_floor)
NN_EW__UNARY_OP(Ceil, nn_ew__u_ceil)
NN_EW__UNARY_OP(Round, nn_ew__u_round)
NN_EW__UNARY_OP(Sqrt, nn_ew__u_sqrt)
NN_EW__UNARY_OP(Exp, nn_ew__u_exp)
NN_EW__UNARY_OP(Log, nn_ew__u_log)
NN_EW__UNARY_OP(Sin, nn_ew__u_sin)
NN_EW__UNARY_OP(Cos, nn_ew__u_cos)
NN_EW__UNARY_OP(Tan, nn_ew__u_tan)
NN_EW__UNARY_OP(Asin, nn_ew__u_asin)
NN_EW__UNARY_OP(Acos, nn_ew__u_acos)
NN_EW__UNARY_OP(Atan, nn_ew__u_atan)
NN_EW__UNARY_OP(Sinh, nn_ew__u_sinh)
NN_EW__UNARY_OP(Cosh, nn_ew__u_cosh)
NN_EW__UNARY_OP(Asinh, nn_ew__u_asinh)
NN_EW__UNARY_OP(Acosh, nn_ew__u_acosh)
NN_EW__UNARY_OP(Atanh, nn_ew__u_atanh)
NN_EW__UNARY_OP(Erf, nn_ew__u_erf)
NN_EW__UNARY_OP(Sign, nn_ew__u_sign)
NN_EW__UNARY_OP(Not, nn_ew__u_not)
NN_EW__UNARY_OP(BitwiseNot, nn_ew__u_bitnot)
NN_EW__UNARY_OP(IsNaN, nn_ew__u_isnan)
NN_EW__UNARY_OP(IsInf, nn_ew__u_isinf)
NN_EW__UNARY_OP(Relu, nn_ew__u_relu)
NN_EW__UNARY_OP(LeakyRelu, nn_ew__u_leakyrelu)
NN_EW__UNARY_OP(Sigmoid, nn_ew__u_sigmoid)
NN_EW__UNARY_OP(HardSigmoid, nn_ew__u_hardsigmoid)
NN_EW__UNARY_OP(HardSwish, nn_ew__u_hardswish)
NN_EW__UNARY_OP(Tanh, nn_ew__u_tanh)
NN_EW__UNARY_OP(Elu, nn_ew__u_elu)
NN_EW__UNARY_OP(Selu, nn_ew__u_selu)
NN_EW__UNARY_OP(Celu, nn_ew__u_celu)
NN_EW__UNARY_OP(ThresholdedRelu, nn_ew__u_thresholdedrelu)
NN_EW__UNARY_OP(Softplus, nn_ew__u_softplus)
NN_EW__UNARY_OP(Softsign, nn_ew__u_softsign)
NN_EW__UNARY_OP(Mish, nn_ew__u_mish)
NN_EW__UNARY_OP(Gelu, nn_ew__u_gelu)
NN_EW__UNARY_OP(Shrink, nn_ew__u_shrink)
NN_EW__UNARY_OP(Swish, nn_ew__u_swish)

/* com.microsoft FastGelu (ONNX Runtime contrib op, domain version 1): the
   tanh formula of Gelu-20 approximate="tanh", without the optional bias
   input.  Produced by the `gelu` pass for models below opset 20. */
static nn_status nn_ew__par_fastgelu(nn_op_ctx *c, nn_ew__par *p) {
    (void)c;
    p->flag_a = 1;
    return NN_OK;
}
static const nn_ew__unop nn_ew__u_fastgelu = NN_EW__UN(gelu, NULL, NN_EW__FLOATS, 0, NN_EW__G, nn_ew__par_fastgelu);
NN_EW__UNARY_OP(FastGelu, nn_ew__u_fastgelu)

/* ---- binary ops -----------------------------------------------------------------------------
   A kernel computes one row: mode 0 both inputs contiguous, 1 `a` is one
   repeated element, 2 `b` is.  The three loops are spelled out so each
   vectorizes on its own. */

typedef void (*nn_ew__bin_fn)(const void *a, const void *b, void *y, size_t n, int mode, const nn_ew__par *p);
typedef nn_ew__bin_fn (*nn_ew__bin_pick)(nn_dtype t);

#define NN_EW__BIN(name, TA, TY, UT, EXPR)                                                       \
    static void name(const void *pa, const void *pb, void *py, size_t n, int mode,             \
                     const nn_ew__par *p) {                                                     \
        typedef UT U;                                                                           \
        const TA *A = (const TA *)pa, *B = (const TA *)pb;                                      \
        TY *Y = (TY *)py;                                                                       \
        size_t i;                                                                               \
        (void)p; (void)sizeof(U);                                                               \
        if (mode == 1) {                                                                        \
            const TA a = A[0];                                                                  \
            for (i = 0; i < n; i++) {                                                           \
                const TA b = B[i];                                                              \
                Y[i] = (TY)(EXPR);                                                              \
            }                                                                                   \
        } else if (mode == 2) {                                                                 \
            const TA b = B[0];                                                                  \
            for (i = 0; i < n; i++) {                                                           \
                const TA a = A[i];                                                              \
                Y[i] = (TY)(EXPR);                                                              \
            }                                                                                   \
        } else {                                                                                \
            for (i = 0; i < n; i++) {                                                           \
                const TA a = A[i], b = B[i];                                                    \
                Y[i] = (TY)(EXPR);                                                              \
            }                                                                                   \
        }                                                                                       \
    }

/* Families: same-type output (F floats, S signed, U unsigned) and bool
   output (comparisons: FC, SC, UC). */
#define NN_EW__BIN_F(op, EXPR)                                   \
    NN_EW__BIN(nn_ew__##op##_f32, float, float, uint32_t, EXPR)  \
    NN_EW__BIN(nn_ew__##op##_f64, double, double, uint64_t, EXPR)
#define NN_EW__BIN_S(op, EXPR)                                     \
    NN_EW__BIN(nn_ew__##op##_s8, int8_t, int8_t, uint32_t, EXPR)   \
    NN_EW__BIN(nn_ew__##op##_s16, int16_t, int16_t, uint32_t, EXPR) \
    NN_EW__BIN(nn_ew__##op##_s32, int32_t, int32_t, uint32_t, EXPR) \
    NN_EW__BIN(nn_ew__##op##_s64, int64_t, int64_t, uint64_t, EXPR)
#define NN_EW__BIN_U(op, EXPR)                                        \
    NN_EW__BIN(nn_ew__##op##_u8, uint8_t, uint8_t, uint32_t, EXPR)    \
    NN_EW__BIN(nn_ew__##op##_u16, uint16_t, uint16_t, uint32_t, EXPR) \
    NN_EW__BIN(nn_ew__##op##_u32, uint32_t, uint32_t, uint32_t, EXPR) \
    NN_EW__BIN(nn_ew__##op##_u64, uint64_t, uint64_t, uint64_t, EXPR)
#define NN_EW__BIN_FC(op, EXPR)                                   \
    NN_EW__BIN(nn_ew__##op##_f32, float, uint8_t, uint32_t, EXPR) \
    NN_EW__BIN(nn_ew__##op##_f64, double, uint8_t, uint64_t, EXPR)
#define NN_EW__BIN_SC(op, EXPR)                                     \
    NN_EW__BIN(nn_ew__##op##_s8, int8_t, uint8_t, uint32_t, EXPR)   \
    NN_EW__BIN(nn_ew__##op##_s16, int16_t, uint8_t, uint32_t, EXPR) \
    NN_EW__BIN(nn_ew__##op##_s32, int32_t, uint8_t, uint32_t, EXPR) \
    NN_EW__BIN(nn_ew__##op##_s64, int64_t, uint8_t, uint64_t, EXPR)
#define NN_EW__BIN_UC(op, EXPR)                                       \
    NN_EW__BIN(nn_ew__##op##_u8, uint8_t, uint8_t, uint32_t, EXPR)    \
    NN_EW__BIN(nn_ew__##op##_u16, uint16_t, uint8_t, uint32_t, EXPR)  \
    NN_EW__BIN(nn_ew__##op##_u32, uint32_t, uint8_t, uint32_t, EXPR)  \
    NN_EW__BIN(nn_ew__##op##_u64, uint64_t, uint8_t, uint64_t, EXPR)
#define NN_EW__BIN_B(op, EXPR) NN_EW__BIN(nn_ew__##op##_b, uint8_t, uint8_t, uint32_t, EXPR)

/* Kernel pickers: the kernel for a compute type, NULL when there is none. */
#define NN_EW__P_F(op) case NN_DTYPE_FLOAT: return nn_ew__##op##_f32; case NN_DTYPE_DOUBLE: return nn_ew__##op##_f64;
#define NN_EW__P_S(op)                                                                 \
    case NN_DTYPE_INT8: return nn_ew__##op##_s8; case NN_DTYPE_INT16: return nn_ew__##op##_s16; \
    case NN_DTYPE_INT32: return nn_ew__##op##_s32; case NN_DTYPE_INT64: return nn_ew__##op##_s64;
#define NN_EW__P_U(op)                                                                   \
    case NN_DTYPE_UINT8: return nn_ew__##op##_u8; case NN_DTYPE_UINT16: return nn_ew__##op##_u16; \
    case NN_DTYPE_UINT32: return nn_ew__##op##_u32; case NN_DTYPE_UINT64: return nn_ew__##op##_u64;
#define NN_EW__P_B(op) case NN_DTYPE_BOOL: return nn_ew__##op##_b;
#define NN_EW__P_0(op)
#define NN_EW__PICK(op, PF, PS, PU, PB)                        \
    static nn_ew__bin_fn nn_ew__pick_##op(nn_dtype t) {        \
        switch (t) {                                           \
            PF(op) PS(op) PU(op) PB(op)                        \
        default: return NULL;                                  \
        }                                                      \
    }

/* Arithmetic.  Integers wrap (computed in U); Div truncates toward zero
   (ONNX Div on integers, as C); x / 0 gives 0 and INT_MIN / -1 wraps. */
NN_EW__BIN_F(add, a + b)
NN_EW__BIN_S(add, (U)a + (U)b)
NN_EW__BIN_U(add, (U)a + (U)b)
NN_EW__PICK(add, NN_EW__P_F, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)
NN_EW__BIN_F(sub, a - b)
NN_EW__BIN_S(sub, (U)a - (U)b)
NN_EW__BIN_U(sub, (U)a - (U)b)
NN_EW__PICK(sub, NN_EW__P_F, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)
NN_EW__BIN_F(mul, a * b)
NN_EW__BIN_S(mul, (U)a * (U)b)
NN_EW__BIN_U(mul, (U)a * (U)b)
NN_EW__PICK(mul, NN_EW__P_F, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)
NN_EW__BIN_F(div, a / b)
NN_EW__BIN_S(div, b == 0 ? (U)0 : b == -1 ? 0u - (U)a : (U)(a / b))
NN_EW__BIN_U(div, b == 0 ? 0 : a / b)
NN_EW__PICK(div, NN_EW__P_F, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)

/* Mod (opset 10): fmod=0 is the integer remainder whose sign follows the
   divisor (Python's %); fmod=1 is C's fmod / %, sign of the dividend.
   Floats require fmod=1 (spec). */
NN_EW__BIN_S(modpy, b == 0 || b == -1 ? 0 : (a % b != 0 && ((a % b < 0) != (b < 0))) ? a % b + b : a % b)
NN_EW__BIN_U(modpy, b == 0 ? 0 : a % b)
NN_EW__PICK(modpy, NN_EW__P_0, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)
NN_EW__BIN_F(fmod, fmod(a, b)) /* exact, so the float32 result equals fmodf's */
NN_EW__BIN_S(fmod, b == 0 || b == -1 ? 0 : a % b)
NN_EW__BIN_U(fmod, b == 0 ? 0 : a % b)
NN_EW__PICK(fmod, NN_EW__P_F, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)

/* Max / Min propagate NaN (numpy maximum / minimum). */
NN_EW__BIN_F(max, (a != a || a > b) ? a : b)
NN_EW__BIN_S(max, a > b ? a : b)
NN_EW__BIN_U(max, a > b ? a : b)
NN_EW__PICK(max, NN_EW__P_F, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)
NN_EW__BIN_F(min, (a != a || a < b) ? a : b)
NN_EW__BIN_S(min, a < b ? a : b)
NN_EW__BIN_U(min, a < b ? a : b)
NN_EW__PICK(min, NN_EW__P_F, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)

/* PRelu: slope * x where x < 0. */
NN_EW__BIN_F(prelu, a < 0 ? a * b : a)
NN_EW__BIN_S(prelu, a < 0 ? (U)a * (U)b : (U)a)
NN_EW__BIN_U(prelu, ((void)b, a)) /* unsigned x is never negative */
NN_EW__PICK(prelu, NN_EW__P_F, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)

/* Bitwise (opset 18) and BitShift (opset 11, unsigned only; a shift by the
   bit width or more gives 0). */
NN_EW__BIN_S(bitand, a & b)
NN_EW__BIN_U(bitand, a & b)
NN_EW__PICK(bitand, NN_EW__P_0, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)
NN_EW__BIN_S(bitor, a | b)
NN_EW__BIN_U(bitor, a | b)
NN_EW__PICK(bitor, NN_EW__P_0, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)
NN_EW__BIN_S(bitxor, a ^ b)
NN_EW__BIN_U(bitxor, a ^ b)
NN_EW__PICK(bitxor, NN_EW__P_0, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)
NN_EW__BIN_U(shl, (uint64_t)b >= sizeof(a) * 8 ? 0 : (U)a << b)
NN_EW__PICK(shl, NN_EW__P_0, NN_EW__P_0, NN_EW__P_U, NN_EW__P_0)
NN_EW__BIN_U(shr, (uint64_t)b >= sizeof(a) * 8 ? 0 : (U)a >> b)
NN_EW__PICK(shr, NN_EW__P_0, NN_EW__P_0, NN_EW__P_U, NN_EW__P_0)

/* Logical (bool in, bool out). */
NN_EW__BIN_B(and, (a != 0) & (b != 0))
NN_EW__PICK(and, NN_EW__P_0, NN_EW__P_0, NN_EW__P_0, NN_EW__P_B)
NN_EW__BIN_B(or, (a != 0) | (b != 0))
NN_EW__PICK(or, NN_EW__P_0, NN_EW__P_0, NN_EW__P_0, NN_EW__P_B)
NN_EW__BIN_B(xor, (a != 0) != (b != 0))
NN_EW__PICK(xor, NN_EW__P_0, NN_EW__P_0, NN_EW__P_0, NN_EW__P_B)

/* Comparisons (bool out). */
NN_EW__BIN_FC(eq, a == b)
NN_EW__BIN_SC(eq, a == b)
NN_EW__BIN_UC(eq, a == b)
NN_EW__BIN_B(eq, (a != 0) == (b != 0))
NN_EW__PICK(eq, NN_EW__P_F, NN_EW__P_S, NN_EW__P_U, NN_EW__P_B)
NN_EW__BIN_FC(gt, a > b)
NN_EW__BIN_SC(gt, a > b)
NN_EW__BIN_UC(gt, a > b)
NN_EW__PICK(gt, NN_EW__P_F, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)
NN_EW__BIN_FC(ge, a >= b)
NN_EW__BIN_SC(ge, a >= b)
NN_EW__BIN_UC(ge, a >= b)
NN_EW__PICK(ge, NN_EW__P_F, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)
NN_EW__BIN_FC(lt, a < b)
NN_EW__BIN_SC(lt, a < b)
NN_EW__BIN_UC(lt, a < b)
NN_EW__PICK(lt, NN_EW__P_F, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)
NN_EW__BIN_FC(le, a <= b)
NN_EW__BIN_SC(le, a <= b)
NN_EW__BIN_UC(le, a <= b)
NN_EW__PICK(le, NN_EW__P_F, NN_EW__P_S, NN_EW__P_U, NN_EW__P_0)

/* Pow with the same float type on both sides.  A repeated exponent of 2 or
   0.5 (squares and square roots in normalization layers) skips powf; both
   give the correctly rounded result powf would (0.5 keeps pow's answers
   for -0 and -inf). */
static void nn_ew__pow_f32(const void *pa, const void *pb, void *py, size_t n, int mode, const nn_ew__par *p) {
    const float *A = (const float *)pa, *B = (const float *)pb;
    float *Y = (float *)py;
    size_t i;
    (void)p;
    if (mode == 2 && B[0] == 2.0f) {
        for (i = 0; i < n; i++) Y[i] = A[i] * A[i];
    } else if (mode == 2 && B[0] == 0.5f) {
        for (i = 0; i < n; i++) Y[i] = A[i] == -(float)INFINITY ? (float)INFINITY : sqrtf(A[i]) + 0.0f;
    } else if (mode == 2) {
        for (i = 0; i < n; i++) Y[i] = powf(A[i], B[0]);
    } else if (mode == 1) {
        for (i = 0; i < n; i++) Y[i] = powf(A[0], B[i]);
    } else {
        for (i = 0; i < n; i++) Y[i] = powf(A[i], B[i]);
    }
}
NN_EW__BIN(nn_ew__pow_f64, double, double, uint64_t, pow(a, b))
static nn_ew__bin_fn nn_ew__pick_pow(nn_dtype t) {
    if (t == NN_DTYPE_FLOAT) return nn_ew__pow_f32;
    if (t == NN_DTYPE_DOUBLE) return nn_ew__pow_f64;
    return NULL;
}

typedef struct nn_ew__binop {
    nn_ew__bin_pick pick;
    uint32_t types;     /* accepted input types */
    int bool_out;
    size_t grain;
    int legacy;         /* opsets 1-6 had the broadcast / axis attributes */
} nn_ew__binop;

static const nn_ew__binop nn_ew__b_add = {nn_ew__pick_add, NN_EW__NUMS, 0, NN_EW__GRAIN, 1};
static const nn_ew__binop nn_ew__b_sub = {nn_ew__pick_sub, NN_EW__NUMS, 0, NN_EW__GRAIN, 1};
static const nn_ew__binop nn_ew__b_mul = {nn_ew__pick_mul, NN_EW__NUMS, 0, NN_EW__GRAIN, 1};
static const nn_ew__binop nn_ew__b_div = {nn_ew__pick_div, NN_EW__NUMS, 0, NN_EW__GRAIN, 1};
static const nn_ew__binop nn_ew__b_modpy = {nn_ew__pick_modpy, NN_EW__INTS, 0, NN_EW__GRAIN, 0};
static const nn_ew__binop nn_ew__b_fmod = {nn_ew__pick_fmod, NN_EW__NUMS, 0, NN_EW__GRAIN_MATH, 0};
static const nn_ew__binop nn_ew__b_max = {nn_ew__pick_max, NN_EW__NUMS, 0, NN_EW__GRAIN, 0};
static const nn_ew__binop nn_ew__b_min = {nn_ew__pick_min, NN_EW__NUMS, 0, NN_EW__GRAIN, 0};
static const nn_ew__binop nn_ew__b_prelu = {nn_ew__pick_prelu, NN_EW__NUMS, 0, NN_EW__GRAIN, 0};
static const nn_ew__binop nn_ew__b_bitand = {nn_ew__pick_bitand, NN_EW__INTS, 0, NN_EW__GRAIN, 0};
static const nn_ew__binop nn_ew__b_bitor = {nn_ew__pick_bitor, NN_EW__INTS, 0, NN_EW__GRAIN, 0};
static const nn_ew__binop nn_ew__b_bitxor = {nn_ew__pick_bitxor, NN_EW__INTS, 0, NN_EW__GRAIN, 0};
static const nn_ew__binop nn_ew__b_shl = {nn_ew__pick_shl, NN_EW__UINTS, 0, NN_EW__GRAIN, 0};
static const nn_ew__binop nn_ew__b_shr = {nn_ew__pick_shr, NN_EW__UINTS, 0, NN_EW__GRAIN, 0};
static const nn_ew__binop nn_ew__b_and = {nn_ew__pick_and, NN_EW__BOOLS, 1, NN_EW__GRAIN, 1};
static const nn_ew__binop nn_ew__b_or = {nn_ew__pick_or, NN_EW__BOOLS, 1, NN_EW__GRAIN, 1};
static const nn_ew__binop nn_ew__b_xor = {nn_ew__pick_xor, NN_EW__BOOLS, 1, NN_EW__GRAIN, 1};
static const nn_ew__binop nn_ew__b_eq = {nn_ew__pick_eq, NN_EW__NUMS | NN_EW__BOOLS, 1, NN_EW__GRAIN, 1};
static const nn_ew__binop nn_ew__b_gt = {nn_ew__pick_gt, NN_EW__NUMS, 1, NN_EW__GRAIN, 1};
static const nn_ew__binop nn_ew__b_ge = {nn_ew__pick_ge, NN_EW__NUMS, 1, NN_EW__GRAIN, 0};
static const nn_ew__binop nn_ew__b_lt = {nn_ew__pick_lt, NN_EW__NUMS, 1, NN_EW__GRAIN, 1};
static const nn_ew__binop nn_ew__b_le = {nn_ew__pick_le, NN_EW__NUMS, 1, NN_EW__GRAIN, 0};
static const nn_ew__binop nn_ew__b_pow = {nn_ew__pick_pow, NN_EW__FLOATS, 0, NN_EW__GRAIN_MATH, 1};

/* -- rows -- */

typedef struct nn_ew__binctx {
    nn_ew__bin_fn fn;
    const nn_ew__par *p;
    nn_dtype in_t, out_t;
} nn_ew__binctx;

static void nn_ew__bin_row(void *ctx, char *const *p, const int *vec, size_t n) {
    const nn_ew__binctx *x = (const nn_ew__binctx *)ctx;
    x->fn(p[1], p[2], p[0], n, nn_ew__mode(vec), x->p);
}

/* float16 / bfloat16: widen a block of each input, run the float32
   kernel, narrow the result (or store bools directly). */
static void nn_ew__bin_row_half(void *ctx, char *const *p, const int *vec, size_t n) {
    const nn_ew__binctx *x = (const nn_ew__binctx *)ctx;
    float a[NN_EW__BLOCK], b[NN_EW__BLOCK], y[NN_EW__BLOCK];
    int mode = nn_ew__mode(vec);
    size_t i;
    for (i = 0; i < n; i += NN_EW__BLOCK) {
        size_t m = n - i < NN_EW__BLOCK ? n - i : NN_EW__BLOCK;
        nn_ew__widen(p[1] + (vec[0] ? 2 * i : 0), x->in_t, a, vec[0] ? m : 1);
        nn_ew__widen(p[2] + (vec[1] ? 2 * i : 0), x->in_t, b, vec[1] ? m : 1);
        if (nn_ew__is_half(x->out_t)) {
            x->fn(a, b, y, m, mode, x->p);
            nn_ew__narrow(y, x->out_t, p[0] + 2 * i, m);
        } else {
            x->fn(a, b, p[0] + i, m, mode, x->p); /* bool output */
        }
    }
}

/* Runs y = a op b over broadcast shapes with the kernel d picks for a's type. */
static nn_status nn_ew__bin_apply(nn_op_ctx *c, const nn_value *a, const nn_value *b, nn_value *y,
                                  const nn_ew__binop *d, const nn_ew__par *par) {
    nn_ew__binctx x;
    nn_ew__bcast bc;
    const nn_value *ins[2];
    nn_dtype t = a->dtype;
    x.fn = d->pick(nn_ew__is_half(t) ? NN_DTYPE_FLOAT : t);
    if (!x.fn) return nn_op_error(c, NN_ERR_UNSUPPORTED, "inputs of type %s are not supported", nn_dtype_name(t));
    if (nn_value_count(y) == 0) return NN_OK;
    x.p = par;
    x.in_t = t;
    x.out_t = y->dtype;
    ins[0] = a;
    ins[1] = b;
    nn_ew__bcast_init(&bc, y, ins, 2, nn_ew__is_half(t) ? nn_ew__bin_row_half : nn_ew__bin_row, &x);
    nn_ew__bcast_run(c, &bc, d->grain);
    return NN_OK;
}

/* Opset 1-6 broadcasting (attributes broadcast, axis): without broadcast=1
   the shapes must be equal; with it B's dims line up with A's from `axis`
   (default: the trailing dims, which is numpy's rule).  Rewrites b's shape
   so the numpy driver does the rest. */
static nn_status nn_ew__legacy_bcast(nn_op_ctx *c, const nn_ew__binop *d, const nn_value *a, nn_value *b) {
    const nn_attr *ax;
    int32_t axis, i;
    nn_shape s;
    if (!d->legacy || c->opset >= 7 || a->shape.rank < 0 || b->shape.rank < 0) return NN_OK;
    if (!nn_node_attr_int(c->node, "broadcast", 0)) {
        if (nn_shape_is_static(&a->shape) && nn_shape_is_static(&b->shape) && !nn_shape_equal(&a->shape, &b->shape))
            return nn_op_error(c, NN_ERR_SHAPE, "shapes differ and broadcast is 0");
        return NN_OK;
    }
    ax = nn_node_attr(c->node, "axis");
    if (!ax) return NN_OK;
    if (!nn_op__axis(ax->i, a->shape.rank, &axis) || axis + b->shape.rank > a->shape.rank)
        return nn_op_error(c, NN_ERR_INVALID, "axis %lld does not place B inside A", (long long)ax->i);
    s.rank = a->shape.rank;
    for (i = 0; i < s.rank; i++)
        s.dims[i] = i >= axis && i < axis + b->shape.rank ? b->shape.dims[i - axis] : 1;
    b->shape = s;
    return NN_OK;
}

static nn_status nn_ew__binary_infer(nn_op_ctx *c, const nn_value *in, nn_value *out, const nn_ew__binop *d) {
    nn_value v[2];
    nn_dtype t = in[0].dtype ? in[0].dtype : in[1].dtype;
    nn_status st;
    if (in[0].dtype && in[1].dtype && in[0].dtype != in[1].dtype)
        return nn_op_error(c, NN_ERR_INVALID, "inputs have different types %s and %s", nn_dtype_name(in[0].dtype),
                           nn_dtype_name(in[1].dtype));
    if ((st = nn_ew__check_type(c, t, d->types, "input")) != NN_OK) return st;
    v[0] = in[0];
    v[1] = in[1];
    if ((st = nn_ew__legacy_bcast(c, d, &v[0], &v[1])) != NN_OK) return st;
    out[0].dtype = t == NN_DTYPE_UNDEFINED ? t : d->bool_out ? NN_DTYPE_BOOL : t;
    return nn_ew__infer_bcast(c, v, 2, &out[0].shape);
}

static nn_status nn_ew__binary_run(nn_op_ctx *c, const nn_value *in, nn_value *out, const nn_ew__binop *d) {
    nn_value v[2];
    nn_ew__par par;
    nn_status st;
    memset(&par, 0, sizeof par);
    v[0] = in[0];
    v[1] = in[1];
    if ((st = nn_ew__legacy_bcast(c, d, &v[0], &v[1])) != NN_OK) return st;
    return nn_ew__bin_apply(c, &v[0], &v[1], &out[0], d, &par);
}

#define NN_EW__BINARY_OP(Name, desc)                                                                \
    static nn_status nn_ew__infer_##Name(nn_op_ctx *c, const nn_value *in, uint32_t n_in,         \
                                         nn_value *out, uint32_t n_out) {                         \
        (void)n_in; (void)n_out;                                                                  \
        return nn_ew__binary_infer(c, in, out, &desc);                                            \
    }                                                                                             \
    static nn_status nn_ew__run_##Name(nn_op_ctx *c, const nn_value *in, uint32_t n_in,           \
                                       nn_value *out, uint32_t n_out) {                           \
        (void)n_in; (void)n_out;                                                                  \
        return nn_ew__binary_run(c, in, out, &desc);                                              \
    }

NN_EW__BINARY_OP(Add, nn_ew__b_add)
NN_EW__BINARY_OP(Sub, nn_ew__b_sub)
NN_EW__BINARY_OP(Mul, nn_ew__b_mul)
NN_EW__BINARY_OP(Div, nn_ew__b_div)
NN_EW__BINARY_OP(BitwiseAnd, nn_ew__b_bitand)
NN_EW__BINARY_OP(BitwiseOr, nn_ew__b_bitor)
NN_EW__BINARY_OP(BitwiseXor, nn_ew__b_bitxor)
NN_EW__BINARY_OP(And, nn_ew__b_and)
NN_EW__BINARY_OP(Or, nn_ew__b_or)
NN_EW__BINARY_OP(Xor, nn_ew__b_xor)
NN_EW__BINARY_OP(Equal, nn_ew__b_eq)
NN_EW__BINARY_OP(Greater, nn_ew__b_gt)
NN_EW__BINARY_OP(GreaterOrEqual, nn_ew__b_ge)
NN_EW__BINARY_OP(Less, nn_ew__b_lt)
NN_EW__BINARY_OP(LessOrEqual, nn_ew__b_le)

/* Mod: the fmod attribute picks the kernel; floats need fmod=1. */
static const nn_ew__binop *nn_ew__mod_desc(nn_op_ctx *c, nn_dtype t) {
    int64_t f = nn_node_attr_int(c->node, "fmod", 0);
    if (f != 0 && f != 1) return NULL;
    if (f == 0 && nn_dtype_is_float(t)) return NULL;
    return f ? &nn_ew__b_fmod : &nn_ew__b_modpy;
}

static nn_status nn_ew__infer_Mod(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_dtype t = in[0].dtype ? in[0].dtype : in[1].dtype;
    const nn_ew__binop *d = nn_ew__mod_desc(c, t);
    (void)n_in; (void)n_out;
    if (!d) return nn_op_error(c, NN_ERR_INVALID, "fmod=%lld is not valid for %s inputs (floats need fmod=1)",
                               (long long)nn_node_attr_int(c->node, "fmod", 0), nn_dtype_name(t));
    return nn_ew__binary_infer(c, in, out, d);
}

static nn_status nn_ew__run_Mod(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_ew__binop *d = nn_ew__mod_desc(c, in[0].dtype);
    (void)n_in; (void)n_out;
    if (!d) return nn_op_error(c, NN_ERR_INVALID, "fmod attribute does not fit the input type");
    return nn_ew__binary_run(c, in, out, d);
}

/* BitShift: direction is required, "LEFT" or "RIGHT". */
static const nn_ew__binop *nn_ew__shift_desc(nn_op_ctx *c) {
    const char *dir = nn_node_attr_string(c->node, "direction", "");
    if (strcmp(dir, "LEFT") == 0) return &nn_ew__b_shl;
    if (strcmp(dir, "RIGHT") == 0) return &nn_ew__b_shr;
    return NULL;
}

static nn_status nn_ew__infer_BitShift(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_ew__binop *d = nn_ew__shift_desc(c);
    (void)n_in; (void)n_out;
    if (!d) return nn_op_error(c, NN_ERR_INVALID, "direction must be LEFT or RIGHT");
    return nn_ew__binary_infer(c, in, out, d);
}

static nn_status nn_ew__run_BitShift(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_ew__binop *d = nn_ew__shift_desc(c);
    (void)n_in; (void)n_out;
    if (!d) return nn_op_error(c, NN_ERR_INVALID, "direction must be LEFT or RIGHT");
    return nn_ew__binary_run(c, in, out, d);
}

/* PRelu: slope broadcasts to X (unidirectional since opset 7).  Before
   opset 7 a 1-D slope of C elements is per channel, X's axis 1 (PRelu-6,
   the pytorch-converted PReLU_*_multiparam cases); it is given the shape
   (C, 1, ..., 1) so numpy broadcasting does the rest. */
static void nn_ew__prelu_inputs(nn_op_ctx *c, const nn_value *in, nn_value *v) {
    int32_t i;
    v[0] = in[0];
    v[1] = in[1];
    if (c->opset >= 7 || in[0].shape.rank < 2 || in[1].shape.rank != 1 || in[1].shape.dims[0] <= 1 ||
        in[1].shape.dims[0] != in[0].shape.dims[1])
        return;
    v[1].shape.rank = in[0].shape.rank - 1;
    for (i = 1; i < v[1].shape.rank; i++) v[1].shape.dims[i] = 1;
}

static nn_status nn_ew__infer_PRelu(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_value v[2];
    nn_status st;
    (void)n_in; (void)n_out;
    nn_ew__prelu_inputs(c, in, v);
    st = nn_ew__binary_infer(c, v, out, &nn_ew__b_prelu);
    if (st == NN_OK && nn_shape_is_static(&out[0].shape) && nn_shape_is_static(&in[0].shape) &&
        !nn_shape_equal(&out[0].shape, &in[0].shape))
        return nn_op_error(c, NN_ERR_SHAPE, "slope does not broadcast to the shape of X");
    return st;
}

static nn_status nn_ew__run_PRelu(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_value v[2];
    (void)n_in; (void)n_out;
    nn_ew__prelu_inputs(c, in, v);
    return nn_ew__binary_run(c, v, out, &nn_ew__b_prelu);
}

/* -- Pow: base T, exponent T1 of any numeric type (opset 12+); the output
   has the base's type.  Same float types run the float kernel; the other
   mixes go element by element: integer ** integer exactly by squaring
   (wrapping like the base type), anything with a float through double
   (an integer base then truncates the result toward zero, like a C cast). */

static int64_t nn_ew__ipow(int64_t base, int64_t e) {
    uint64_t r = 1u, b = (uint64_t)base;
    if (e < 0) return base == 1 ? 1 : base == -1 ? ((e & 1) ? -1 : 1) : 0; /* 1/base^|e| truncated */
    while (e) {
        if (e & 1) r *= b;
        b *= b;
        e >>= 1;
    }
    return (int64_t)r;
}

typedef struct nn_ew__powctx { nn_dtype ta, tb; } nn_ew__powctx;

static double nn_ew__load_f(const void *p, nn_dtype t, size_t i) {
    if (t == NN_DTYPE_UINT64) return (double)((const uint64_t *)p)[i];
    if (nn_dtype_is_float(t)) return nn_op__load(p, t, i);
    return (double)nn_ew__load_i64(p, t, i);
}

static void nn_ew__pow_row_mixed(void *ctx, char *const *p, const int *vec, size_t n) {
    const nn_ew__powctx *x = (const nn_ew__powctx *)ctx;
    size_t i;
    for (i = 0; i < n; i++) {
        size_t ia = vec[0] ? i : 0, ib = vec[1] ? i : 0;
        if (!nn_dtype_is_float(x->ta) && !nn_dtype_is_float(x->tb)) {
            int64_t e = x->tb == NN_DTYPE_UINT64 && ((const uint64_t *)p[2])[ib] > (uint64_t)INT64_MAX
                            ? INT64_MAX : nn_ew__load_i64(p[2], x->tb, ib);
            nn_ew__store_i64(p[0], x->ta, i, nn_ew__ipow(nn_ew__load_i64(p[1], x->ta, ia), e));
        } else {
            double r = pow(nn_ew__load_f(p[1], x->ta, ia), nn_ew__load_f(p[2], x->tb, ib));
            if (nn_dtype_is_float(x->ta)) nn_op__store(p[0], x->ta, i, r);
            else nn_ew__store_i64(p[0], x->ta, i, nn_ew__f2i(r));
        }
    }
}

static nn_status nn_ew__infer_Pow(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_value v[2];
    nn_status st;
    (void)n_in; (void)n_out;
    if ((st = nn_ew__check_type(c, in[0].dtype, NN_EW__NUMS, "base")) != NN_OK ||
        (st = nn_ew__check_type(c, in[1].dtype, NN_EW__NUMS, "exponent")) != NN_OK)
        return st;
    if (c->opset < 12 && in[0].dtype && in[1].dtype && in[0].dtype != in[1].dtype)
        return nn_op_error(c, NN_ERR_INVALID, "base and exponent types differ (allowed from opset 12)");
    v[0] = in[0];
    v[1] = in[1];
    if ((st = nn_ew__legacy_bcast(c, &nn_ew__b_pow, &v[0], &v[1])) != NN_OK) return st;
    out[0].dtype = in[0].dtype;
    return nn_ew__infer_bcast(c, v, 2, &out[0].shape);
}

static nn_status nn_ew__run_Pow(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_value v[2];
    nn_ew__powctx x;
    nn_ew__bcast bc;
    const nn_value *ins[2];
    nn_status st;
    (void)n_in; (void)n_out;
    v[0] = in[0];
    v[1] = in[1];
    if ((st = nn_ew__legacy_bcast(c, &nn_ew__b_pow, &v[0], &v[1])) != NN_OK) return st;
    if (v[0].dtype == v[1].dtype && nn_dtype_is_float(v[0].dtype)) {
        nn_ew__par par;
        memset(&par, 0, sizeof par);
        return nn_ew__bin_apply(c, &v[0], &v[1], &out[0], &nn_ew__b_pow, &par);
    }
    if (nn_value_count(&out[0]) == 0) return NN_OK;
    x.ta = v[0].dtype;
    x.tb = v[1].dtype;
    ins[0] = &v[0];
    ins[1] = &v[1];
    nn_ew__bcast_init(&bc, &out[0], ins, 2, nn_ew__pow_row_mixed, &x);
    nn_ew__bcast_run(c, &bc, NN_EW__GRAIN_MATH);
    return NN_OK;
}

/* ---- Sum, Mean, Max, Min ------------------------------------------------------------------
   Variadic with numpy broadcasting (opset 8+; earlier versions require
   equal shapes, a special case).  Folded pairwise into the output:
   y = x0 op x1, then y = y op xk in place, each step broadcasting to the
   final shape, so no intermediate tensor is allocated. */

typedef struct nn_ew__meanjob { char *y; nn_dtype t; double n; } nn_ew__meanjob;

static void nn_ew__mean_range(void *arg, size_t b, size_t e) {
    const nn_ew__meanjob *j = (const nn_ew__meanjob *)arg;
    size_t i;
    if (j->t == NN_DTYPE_FLOAT) {
        float *y = (float *)j->y, n = (float)j->n;
        for (i = b; i < e; i++) y[i] /= n;
    } else if (j->t == NN_DTYPE_DOUBLE) {
        double *y = (double *)j->y;
        for (i = b; i < e; i++) y[i] /= j->n;
    } else {
        float buf[NN_EW__BLOCK];
        size_t k, m;
        for (i = b; i < e; i += m) {
            m = e - i < NN_EW__BLOCK ? e - i : NN_EW__BLOCK;
            nn_ew__widen(j->y + 2 * i, j->t, buf, m);
            for (k = 0; k < m; k++) buf[k] /= (float)j->n;
            nn_ew__narrow(buf, j->t, j->y + 2 * i, m);
        }
    }
}

static nn_status nn_ew__variadic_infer(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t types) {
    nn_dtype t = NN_DTYPE_UNDEFINED;
    uint32_t i;
    nn_status st;
    for (i = 0; i < n_in; i++) {
        if (in[i].dtype && t && in[i].dtype != t)
            return nn_op_error(c, NN_ERR_INVALID, "inputs have different types %s and %s", nn_dtype_name(t),
                               nn_dtype_name(in[i].dtype));
        if (in[i].dtype) t = in[i].dtype;
    }
    if ((st = nn_ew__check_type(c, t, types, "input")) != NN_OK) return st;
    out[0].dtype = t;
    return nn_ew__infer_bcast(c, in, n_in, &out[0].shape);
}

static nn_status nn_ew__variadic_run(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out,
                                     const nn_ew__binop *d, int mean) {
    nn_ew__par par;
    nn_status st = NN_OK;
    uint32_t k;
    memset(&par, 0, sizeof par);
    if (nn_value_count(&out[0]) == 0) return NN_OK;
    if (n_in == 1) {
        memcpy(out[0].data, in[0].data, out[0].bytes);
    } else {
        st = nn_ew__bin_apply(c, &in[0], &in[1], &out[0], d, &par);
        for (k = 2; k < n_in && st == NN_OK; k++) st = nn_ew__bin_apply(c, &out[0], &in[k], &out[0], d, &par);
    }
    if (st == NN_OK && mean && n_in > 1) {
        nn_ew__meanjob j;
        j.y = (char *)out[0].data;
        j.t = out[0].dtype;
        j.n = (double)n_in;
        nn_op_parallel(c, nn_value_count(&out[0]), NN_EW__GRAIN, nn_ew__mean_range, &j);
    }
    return st;
}

#define NN_EW__VARIADIC_OP(Name, desc, types, mean)                                                 \
    static nn_status nn_ew__infer_##Name(nn_op_ctx *c, const nn_value *in, uint32_t n_in,         \
                                         nn_value *out, uint32_t n_out) {                         \
        (void)n_out;                                                                              \
        return nn_ew__variadic_infer(c, in, n_in, out, types);                                    \
    }                                                                                             \
    static nn_status nn_ew__run_##Name(nn_op_ctx *c, const nn_value *in, uint32_t n_in,           \
                                       nn_value *out, uint32_t n_out) {                           \
        (void)n_out;                                                                              \
        return nn_ew__variadic_run(c, in, n_in, out, &desc, mean);                                \
    }

NN_EW__VARIADIC_OP(Sum, nn_ew__b_add, NN_EW__FLOATS, 0)
NN_EW__VARIADIC_OP(Mean, nn_ew__b_add, NN_EW__FLOATS, 1)
NN_EW__VARIADIC_OP(Max, nn_ew__b_max, NN_EW__NUMS, 0)
NN_EW__VARIADIC_OP(Min, nn_ew__b_min, NN_EW__NUMS, 0)

/* ---- Where (opset 9; 16 adds bfloat16) -------------------------------------------------------
   y = cond ? x : y with three-way broadcasting.  Only element sizes
   matter, so one loop per size serves every type. */

/* Contiguous rows and the masked-fill shapes (one side a repeated
   scalar) get their own loops so they vectorize. */
#define NN_EW__WHERE_LOOP(T)                                                          \
    {                                                                                 \
        const T *X = (const T *)p[2], *Yv = (const T *)p[3];                          \
        T *O = (T *)p[0];                                                             \
        if (sc && sx && sy) {                                                         \
            for (i = 0; i < n; i++) O[i] = cond[i] ? X[i] : Yv[i];                    \
        } else if (sc && sx) {                                                        \
            const T yv = Yv[0];                                                       \
            for (i = 0; i < n; i++) O[i] = cond[i] ? X[i] : yv;                       \
        } else if (sc && sy) {                                                        \
            const T xv = X[0];                                                        \
            for (i = 0; i < n; i++) O[i] = cond[i] ? xv : Yv[i];                      \
        } else {                                                                      \
            for (i = 0; i < n; i++) O[i] = cond[i * sc] ? X[i * sx] : Yv[i * sy];     \
        }                                                                             \
    }

static void nn_ew__where_row(void *ctx, char *const *p, const int *vec, size_t n) {
    size_t es = *(const size_t *)ctx, i;
    size_t sc = (size_t)vec[0], sx = (size_t)vec[1], sy = (size_t)vec[2];
    const uint8_t *cond = (const uint8_t *)p[1];
    switch (es) {
    case 1: NN_EW__WHERE_LOOP(uint8_t) break;
    case 2: NN_EW__WHERE_LOOP(uint16_t) break;
    case 4: NN_EW__WHERE_LOOP(uint32_t) break;
    default: NN_EW__WHERE_LOOP(uint64_t) break;
    }
}

static nn_status nn_ew__infer_Where(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_dtype t = in[1].dtype ? in[1].dtype : in[2].dtype;
    nn_status st;
    (void)n_in; (void)n_out;
    if ((st = nn_ew__check_type(c, in[0].dtype, NN_EW__BOOLS, "condition")) != NN_OK) return st;
    if (in[1].dtype && in[2].dtype && in[1].dtype != in[2].dtype)
        return nn_op_error(c, NN_ERR_INVALID, "X is %s but Y is %s", nn_dtype_name(in[1].dtype),
                           nn_dtype_name(in[2].dtype));
    if ((st = nn_ew__check_type(c, t, NN_EW__NUMS | NN_EW__BOOLS | NN_EW__F8S, "X")) != NN_OK) return st;
    out[0].dtype = t;
    return nn_ew__infer_bcast(c, in, 3, &out[0].shape);
}

static nn_status nn_ew__run_Where(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_ew__bcast bc;
    const nn_value *ins[3];
    size_t es = nn_dtype_size(out[0].dtype);
    (void)n_in; (void)n_out;
    if (nn_value_count(&out[0]) == 0) return NN_OK;
    ins[0] = &in[0];
    ins[1] = &in[1];
    ins[2] = &in[2];
    nn_ew__bcast_init(&bc, &out[0], ins, 3, nn_ew__where_row, &es);
    nn_ew__bcast_run(c, &bc, NN_EW__GRAIN);
    return NN_OK;
}

/* ---- Clip ---------------------------------------------------------------------------------
   Opset 1-10: bounds are the float attributes min / max (default: the
   float range).  Opset 11+: optional scalar inputs of the input's type
   (default: no bound); 12 adds integer types.  y = min(max(x, lo), hi),
   so lo > hi gives hi everywhere (numpy.clip, test_clip_min_greater_than_max);
   NaN passes through. */

typedef struct nn_ew__clipjob {
    const char *x;
    char *y;
    nn_dtype t;
    double lo, hi;          /* float types */
    int64_t ilo, ihi;       /* integer types (bit patterns for uint64) */
    int has_lo, has_hi;
} nn_ew__clipjob;

#define NN_EW__CLIP_LOOP(T, TMIN, TMAX)                                         \
    {                                                                           \
        const T *X = (const T *)j->x + b;                                       \
        T *Y = (T *)j->y + b;                                                   \
        const T lo = j->has_lo ? (T)j->ilo : (T)(TMIN);                         \
        const T hi = j->has_hi ? (T)j->ihi : (T)(TMAX);                         \
        for (i = 0; i < n; i++) {                                               \
            T v = X[i] < lo ? lo : X[i];                                        \
            Y[i] = v > hi ? hi : v;                                             \
        }                                                                       \
    }

static void nn_ew__clip_range(void *arg, size_t b, size_t e) {
    const nn_ew__clipjob *j = (const nn_ew__clipjob *)arg;
    size_t i, n = e - b;
    switch (j->t) {
    case NN_DTYPE_FLOAT: {
        const float *X = (const float *)j->x + b;
        float *Y = (float *)j->y + b;
        const float lo = j->has_lo ? (float)j->lo : -(float)INFINITY, hi = j->has_hi ? (float)j->hi : (float)INFINITY;
        for (i = 0; i < n; i++) {
            float v = X[i] < lo ? lo : X[i];
            Y[i] = v > hi ? hi : v;
        }
        break;
    }
    case NN_DTYPE_DOUBLE: {
        const double *X = (const double *)j->x + b;
        double *Y = (double *)j->y + b;
        const double lo = j->has_lo ? j->lo : -INFINITY, hi = j->has_hi ? j->hi : INFINITY;
        for (i = 0; i < n; i++) {
            double v = X[i] < lo ? lo : X[i];
            Y[i] = v > hi ? hi : v;
        }
        break;
    }
    case NN_DTYPE_FLOAT16: case NN_DTYPE_BFLOAT16: {
        float buf[NN_EW__BLOCK];
        const float lo = j->has_lo ? (float)j->lo : -(float)INFINITY, hi = j->has_hi ? (float)j->hi : (float)INFINITY;
        size_t k, m;
        for (i = 0; i < n; i += m) {
            m = n - i < NN_EW__BLOCK ? n - i : NN_EW__BLOCK;
            nn_ew__widen(j->x + 2 * (b + i), j->t, buf, m);
            for (k = 0; k < m; k++) {
                float v = buf[k] < lo ? lo : buf[k];
                buf[k] = v > hi ? hi : v;
            }
            nn_ew__narrow(buf, j->t, j->y + 2 * (b + i), m);
        }
        break;
    }
    case NN_DTYPE_INT8: NN_EW__CLIP_LOOP(int8_t, INT8_MIN, INT8_MAX) break;
    case NN_DTYPE_INT16: NN_EW__CLIP_LOOP(int16_t, INT16_MIN, INT16_MAX) break;
    case NN_DTYPE_INT32: NN_EW__CLIP_LOOP(int32_t, INT32_MIN, INT32_MAX) break;
    case NN_DTYPE_INT64: NN_EW__CLIP_LOOP(int64_t, INT64_MIN, INT64_MAX) break;
    case NN_DTYPE_UINT8: NN_EW__CLIP_LOOP(uint8_t, 0, UINT8_MAX) break;
    case NN_DTYPE_UINT16: NN_EW__CLIP_LOOP(uint16_t, 0, UINT16_MAX) break;
    case NN_DTYPE_UINT32: NN_EW__CLIP_LOOP(uint32_t, 0, UINT32_MAX) break;
    case NN_DTYPE_UINT64: NN_EW__CLIP_LOOP(uint64_t, 0, UINT64_MAX) break;
    default: break;
    }
}

/* Fills the bounds of j from attributes or inputs; checks them. */
static nn_status nn_ew__clip_bounds(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_ew__clipjob *j) {
    uint32_t k;
    if (c->opset < 11) {
        j->has_lo = j->has_hi = 1;
        j->lo = nn_node_attr_float(c->node, "min", -FLT_MAX);
        j->hi = nn_node_attr_float(c->node, "max", FLT_MAX);
        return NN_OK;
    }
    for (k = 1; k < n_in && k < 3; k++) {
        const nn_value *v = &in[k];
        if (v->dtype == NN_DTYPE_UNDEFINED) continue; /* omitted */
        if (v->dtype != in[0].dtype)
            return nn_op_error(c, NN_ERR_INVALID, "%s is %s, the input is %s", k == 1 ? "min" : "max",
                               nn_dtype_name(v->dtype), nn_dtype_name(in[0].dtype));
        if (v->shape.rank > 1 || (nn_shape_is_static(&v->shape) && nn_value_count(v) != 1))
            return nn_op_error(c, NN_ERR_SHAPE, "%s must be a scalar", k == 1 ? "min" : "max");
        if (!v->data) continue; /* not known yet: shape inference only */
        if (k == 1) j->has_lo = 1;
        else j->has_hi = 1;
        if (nn_dtype_is_float(v->dtype)) {
            if (k == 1) j->lo = nn_op__load(v->data, v->dtype, 0);
            else j->hi = nn_op__load(v->data, v->dtype, 0);
        } else {
            if (k == 1) j->ilo = nn_ew__load_i64(v->data, v->dtype, 0);
            else j->ihi = nn_ew__load_i64(v->data, v->dtype, 0);
        }
    }
    return NN_OK;
}

static nn_status nn_ew__infer_Clip(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_ew__clipjob j;
    nn_status st;
    (void)n_out;
    memset(&j, 0, sizeof j);
    if ((st = nn_ew__check_type(c, in[0].dtype, c->opset < 12 ? NN_EW__FLOATS : NN_EW__NUMS, "input")) != NN_OK)
        return st;
    out[0].dtype = in[0].dtype;
    out[0].shape = in[0].shape;
    return nn_ew__clip_bounds(c, in, n_in, &j);
}

static nn_status nn_ew__run_Clip(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_ew__clipjob j;
    nn_status st;
    (void)n_out;
    memset(&j, 0, sizeof j);
    if ((st = nn_ew__clip_bounds(c, in, n_in, &j)) != NN_OK) return st;
    j.x = (const char *)in[0].data;
    j.y = (char *)out[0].data;
    j.t = in[0].dtype;
    nn_op_parallel(c, nn_value_count(&out[0]), NN_EW__GRAIN, nn_ew__clip_range, &j);
    return NN_OK;
}

/* ---- Cast, CastLike ---------------------------------------------------------------------------
   Between every numeric type, bool, the float8 types and int4/uint4
   (strings refused).  Each element is read exactly (as a double for float
   types, int64 / uint64 for integers) and rounded once into the target:
   floats round to nearest even (float16 / bfloat16 / float8 included),
   floats to integers truncate toward zero, integers to narrower integers
   (int4 too: test_cast_FLOAT_to_INT4) wrap; anything to bool is x != 0.
   `saturate` (opset 19) affects float8 targets only: out-of-range values
   and inf become the largest finite value instead of inf / NaN.  A few
   hot pairs have typed loops. */

typedef struct nn_ew__num {
    int kind;     /* 0 double, 1 int64, 2 uint64 */
    double d;
    int64_t i;
    uint64_t u;
} nn_ew__num;

static nn_ew__num nn_ew__num_load(const void *p, nn_dtype t, size_t i) {
    nn_ew__num v;
    v.kind = 0; v.d = 0.0; v.i = 0; v.u = 0;
    if (t == NN_DTYPE_UINT64 || t == NN_DTYPE_UINT32) {
        v.kind = 2;
        v.u = t == NN_DTYPE_UINT64 ? ((const uint64_t *)p)[i] : ((const uint32_t *)p)[i];
    } else if (nn_ew__fmt_of(t) && t != NN_DTYPE_FLOAT16 && t != NN_DTYPE_BFLOAT16) {
        v.d = nn_ew__mf_decode(nn_ew__fmt_of(t), ((const uint8_t *)p)[i]);
    } else if (nn_dtype_is_float(t)) {
        v.d = nn_op__load(p, t, i);
    } else {
        v.kind = 1;
        v.i = nn_ew__load_i64(p, t, i);
    }
    return v;
}

static double nn_ew__num_f(nn_ew__num v) { return v.kind == 0 ? v.d : v.kind == 1 ? (double)v.i : (double)v.u; }

static void nn_ew__num_store(void *p, nn_dtype t, size_t i, nn_ew__num v, int saturate) {
    const nn_ew__fmt *f = nn_ew__fmt_of(t);
    if (t == NN_DTYPE_FLOAT) {
        ((float *)p)[i] = v.kind == 0 ? (float)v.d : v.kind == 1 ? (float)v.i : (float)v.u;
    } else if (t == NN_DTYPE_DOUBLE) {
        ((double *)p)[i] = nn_ew__num_f(v);
    } else if (f) {
        /* saturate is a float8 attribute: float16 / bfloat16 overflow to inf */
        uint32_t bits = nn_ew__mf_encode(f, nn_ew__num_f(v), f->ebits + f->mbits < 8 ? saturate : 0);
        if (f->ebits + f->mbits < 8) ((uint8_t *)p)[i] = (uint8_t)bits;
        else ((uint16_t *)p)[i] = (uint16_t)bits;
    } else if (t == NN_DTYPE_BOOL) {
        ((uint8_t *)p)[i] = v.kind == 0 ? v.d != 0.0 : v.kind == 1 ? v.i != 0 : v.u != 0;
    } else if (v.kind == 0) {
        if (t == NN_DTYPE_UINT64 && v.d >= 9223372036854775808.0 && v.d < 18446744073709551616.0)
            ((uint64_t *)p)[i] = (uint64_t)v.d;
        else
            nn_ew__store_i64(p, t, i, nn_ew__f2i(v.d));
    } else {
        nn_ew__store_i64(p, t, i, v.kind == 1 ? v.i : (int64_t)v.u);
    }
}

/* Typed loops for frequent pairs. */
#define NN_EW__CAST_LOOP(S, D, EXPR)                          \
    {                                                         \
        const S *X = (const S *)j->x + b;                     \
        D *Y = (D *)j->y + b;                                 \
        for (i = 0; i < n; i++) {                             \
            const S x = X[i];                                 \
            Y[i] = (D)(EXPR);                                 \
        }                                                     \
        return;                                               \
    }

typedef struct nn_ew__castjob {
    const char *x;
    char *y;
    nn_dtype from, to;
    int saturate;
} nn_ew__castjob;

#define NN_EW__PAIR(a, b) ((int)(a) * 32 + (int)(b))

/* 1 when there is a typed loop for the pair. */
static int nn_ew__cast_fast(nn_dtype from, nn_dtype to) {
    switch (NN_EW__PAIR(from, to)) {
    case NN_EW__PAIR(NN_DTYPE_FLOAT, NN_DTYPE_FLOAT16): case NN_EW__PAIR(NN_DTYPE_FLOAT16, NN_DTYPE_FLOAT):
    case NN_EW__PAIR(NN_DTYPE_FLOAT, NN_DTYPE_BFLOAT16): case NN_EW__PAIR(NN_DTYPE_BFLOAT16, NN_DTYPE_FLOAT):
    case NN_EW__PAIR(NN_DTYPE_FLOAT, NN_DTYPE_DOUBLE): case NN_EW__PAIR(NN_DTYPE_DOUBLE, NN_DTYPE_FLOAT):
    case NN_EW__PAIR(NN_DTYPE_INT64, NN_DTYPE_INT32): case NN_EW__PAIR(NN_DTYPE_INT32, NN_DTYPE_INT64):
    case NN_EW__PAIR(NN_DTYPE_INT64, NN_DTYPE_FLOAT): case NN_EW__PAIR(NN_DTYPE_INT32, NN_DTYPE_FLOAT):
    case NN_EW__PAIR(NN_DTYPE_UINT8, NN_DTYPE_FLOAT): case NN_EW__PAIR(NN_DTYPE_INT8, NN_DTYPE_FLOAT):
    case NN_EW__PAIR(NN_DTYPE_BOOL, NN_DTYPE_FLOAT): case NN_EW__PAIR(NN_DTYPE_FLOAT, NN_DTYPE_BOOL):
    case NN_EW__PAIR(NN_DTYPE_BOOL, NN_DTYPE_INT64): case NN_EW__PAIR(NN_DTYPE_INT64, NN_DTYPE_BOOL):
        return 1;
    default: return 0;
    }
}

static void nn_ew__cast_range_fast(const nn_ew__castjob *j, size_t b, size_t n) {
    size_t i;
    switch (NN_EW__PAIR(j->from, j->to)) {
    case NN_EW__PAIR(NN_DTYPE_FLOAT, NN_DTYPE_FLOAT16): NN_EW__CAST_LOOP(float, uint16_t, nn_f32_to_f16(x))
    case NN_EW__PAIR(NN_DTYPE_FLOAT16, NN_DTYPE_FLOAT): NN_EW__CAST_LOOP(uint16_t, float, nn_f16_to_f32(x))
    case NN_EW__PAIR(NN_DTYPE_FLOAT, NN_DTYPE_BFLOAT16): NN_EW__CAST_LOOP(float, uint16_t, nn_f32_to_bf16(x))
    case NN_EW__PAIR(NN_DTYPE_BFLOAT16, NN_DTYPE_FLOAT): NN_EW__CAST_LOOP(uint16_t, float, nn_bf16_to_f32(x))
    case NN_EW__PAIR(NN_DTYPE_FLOAT, NN_DTYPE_DOUBLE): NN_EW__CAST_LOOP(float, double, x)
    case NN_EW__PAIR(NN_DTYPE_DOUBLE, NN_DTYPE_FLOAT): NN_EW__CAST_LOOP(double, float, x)
    case NN_EW__PAIR(NN_DTYPE_INT64, NN_DTYPE_INT32): NN_EW__CAST_LOOP(int64_t, int32_t, (uint32_t)(uint64_t)x)
    case NN_EW__PAIR(NN_DTYPE_INT32, NN_DTYPE_INT64): NN_EW__CAST_LOOP(int32_t, int64_t, x)
    case NN_EW__PAIR(NN_DTYPE_INT64, NN_DTYPE_FLOAT): NN_EW__CAST_LOOP(int64_t, float, x)
    case NN_EW__PAIR(NN_DTYPE_INT32, NN_DTYPE_FLOAT): NN_EW__CAST_LOOP(int32_t, float, x)
    case NN_EW__PAIR(NN_DTYPE_UINT8, NN_DTYPE_FLOAT): NN_EW__CAST_LOOP(uint8_t, float, x)
    case NN_EW__PAIR(NN_DTYPE_INT8, NN_DTYPE_FLOAT): NN_EW__CAST_LOOP(int8_t, float, x)
    case NN_EW__PAIR(NN_DTYPE_BOOL, NN_DTYPE_FLOAT): NN_EW__CAST_LOOP(uint8_t, float, x != 0)
    case NN_EW__PAIR(NN_DTYPE_FLOAT, NN_DTYPE_BOOL): NN_EW__CAST_LOOP(float, uint8_t, x != 0.0f)
    case NN_EW__PAIR(NN_DTYPE_BOOL, NN_DTYPE_INT64): NN_EW__CAST_LOOP(uint8_t, int64_t, x != 0)
    case NN_EW__PAIR(NN_DTYPE_INT64, NN_DTYPE_BOOL): NN_EW__CAST_LOOP(int64_t, uint8_t, x != 0)
    default: break;
    }
}

static void nn_ew__cast_range(void *arg, size_t b, size_t e) {
    const nn_ew__castjob *j = (const nn_ew__castjob *)arg;
    size_t i;
    if (nn_ew__cast_fast(j->from, j->to)) {
        nn_ew__cast_range_fast(j, b, e - b);
        return;
    }
    for (i = b; i < e; i++) nn_ew__num_store(j->y, j->to, i, nn_ew__num_load(j->x, j->from, i), j->saturate);
}

/* Cast and CastLike share this: x converted to type `to`. */
static nn_status nn_ew__cast_run(nn_op_ctx *c, const nn_value *x, nn_value *y, int saturate) {
    nn_ew__castjob j;
    size_t n = nn_value_count(y);
    j.x = (const char *)x->data;
    j.y = (char *)y->data;
    j.from = x->dtype;
    j.to = y->dtype;
    j.saturate = saturate;
    if (n == 0) return NN_OK;
    if (j.from == j.to) {
        memcpy(j.y, j.x, y->bytes);
        return NN_OK;
    }
    /* 4-bit outputs pack two elements per byte: one thread, so no two
       threads write the same byte. */
    if (nn_dtype_bits(j.to) == 4) nn_ew__cast_range(&j, 0, n);
    else nn_op_parallel(c, n, NN_EW__GRAIN, nn_ew__cast_range, &j);
    return NN_OK;
}

static nn_status nn_ew__cast_check(nn_op_ctx *c, nn_dtype from, nn_dtype to) {
    nn_status st = nn_ew__check_type(c, from, NN_EW__CASTS, "input");
    if (st == NN_OK) st = nn_ew__check_type(c, to, NN_EW__CASTS, "target");
    return st;
}

/* The `to` attribute: an int (TensorProto.DataType) from opset 6, a type
   name string in Cast-1. */
static nn_status nn_ew__cast_to(nn_op_ctx *c, nn_dtype *out) {
    static const char *const names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32",
                                        "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64",
                                        "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    const nn_attr *a = nn_node_attr(c->node, "to");
    size_t k;
    if (a && a->type == NN_ATTR_INT) {
        if (a->i <= 0 || a->i >= NN_DTYPE_COUNT_)
            return nn_op_error(c, NN_ERR_UNSUPPORTED, "target type %lld is not supported", (long long)a->i);
        *out = (nn_dtype)a->i;
        return NN_OK;
    }
    if (a && a->type == NN_ATTR_STRING && a->s)
        for (k = 1; k < sizeof names / sizeof names[0]; k++)
            if (strcmp(a->s, names[k]) == 0) {
                *out = (nn_dtype)k;
                return NN_OK;
            }
    return nn_op_error(c, NN_ERR_INVALID, "attribute 'to' is missing or not a known type");
}

/* round_mode (opset 24) only affects float8e8m0 targets, which this file
   refuses; the value must still be one the spec defines. */
static nn_status nn_ew__cast_attrs(nn_op_ctx *c, int *saturate) {
    const char *rm = nn_node_attr_string(c->node, "round_mode", "up");
    if (strcmp(rm, "up") != 0 && strcmp(rm, "down") != 0 && strcmp(rm, "nearest") != 0)
        return nn_op_error(c, NN_ERR_INVALID, "round_mode '%s' is not up, down or nearest", rm);
    *saturate = nn_node_attr_int(c->node, "saturate", 1) != 0;
    return NN_OK;
}

static nn_status nn_ew__infer_Cast(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_dtype to = NN_DTYPE_UNDEFINED;
    int sat = 1;
    nn_status st = nn_ew__cast_to(c, &to);
    (void)n_in; (void)n_out;
    if (st == NN_OK) st = nn_ew__cast_attrs(c, &sat);
    if (st == NN_OK) st = nn_ew__cast_check(c, in[0].dtype, to);
    out[0].dtype = to;
    out[0].shape = in[0].shape;
    return st;
}

static nn_status nn_ew__run_Cast(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    int sat = 1;
    nn_status st = nn_ew__cast_attrs(c, &sat);
    (void)n_in; (void)n_out;
    return st ? st : nn_ew__cast_run(c, &in[0], &out[0], sat);
}

static nn_status nn_ew__infer_CastLike(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    int sat = 1;
    nn_status st = nn_ew__cast_attrs(c, &sat);
    (void)n_in; (void)n_out;
    if (st == NN_OK) st = nn_ew__cast_check(c, in[0].dtype, in[1].dtype);
    out[0].dtype = in[1].dtype;
    out[0].shape = in[0].shape;
    return st;
}

static nn_status nn_ew__run_CastLike(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    int sat = 1;
    nn_status st = nn_ew__cast_attrs(c, &sat);
    (void)n_in; (void)n_out;
    return st ? st : nn_ew__cast_run(c, &in[0], &out[0], sat);
}

/* ---- QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear ----------------------------------
   y = saturate(round(x / scale) + zero_point) and x' = (q - zero_point) *
   scale, rounding half to even and saturating to the target's range.
   Granularity follows the scale's shape (spec, opset 21+):
     per-tensor  a scalar or one-element 1-D scale;
     per-axis    1-D scale of x.shape[axis] elements (opset 13+);
     blocked     scale of x's rank, x.shape[axis] split into blocks of
                 block_size elements that share one scale (opset 21+).
   x is viewed as (outer, D, inner) around the axis; every (outer, D) row
   of `inner` elements then has either one scale (per-tensor, per-axis) or
   a contiguous run of scales (blocked). */

enum { NN_EW__Q_TENSOR, NN_EW__Q_AXIS, NN_EW__Q_BLOCK };

typedef struct nn_ew__qgeom {
    int kind;
    size_t outer, dim, inner;   /* x as (outer, dim, inner) */
    size_t block, sdim;         /* blocked: block size and scale's dim along the axis */
} nn_ew__qgeom;

/* Checks scale / zero-point shapes against x and fills g (g is only fully
   meaningful when x's shape is static). */
static nn_status nn_ew__qgeom_init(nn_op_ctx *c, const nn_shape *xs, const nn_value *scale, const nn_value *zp,
                                   nn_ew__qgeom *g) {
    int64_t axis_attr = c->opset >= 13 ? nn_node_attr_int(c->node, "axis", 1) : 1;
    int64_t block = c->opset >= 21 ? nn_node_attr_int(c->node, "block_size", 0) : 0;
    const nn_shape *ss = &scale->shape;
    int32_t axis = 0, i;
    int static_s = nn_shape_is_static(ss);
    memset(g, 0, sizeof *g);
    g->outer = g->dim = g->inner = 1;
    if (block < 0) return nn_op_error(c, NN_ERR_INVALID, "block_size %lld is negative", (long long)block);
    if (zp && zp->dtype != NN_DTYPE_UNDEFINED && static_s && nn_shape_is_static(&zp->shape) &&
        !nn_shape_equal(ss, &zp->shape) && !(nn_value_count(scale) == 1 && nn_value_count(zp) == 1))
        return nn_op_error(c, NN_ERR_SHAPE, "zero point and scale shapes differ");
    if (xs->rank < 0 || ss->rank < 0) return NN_OK;
    if (block == 0 && ss->rank <= 1 && static_s && nn_value_count(scale) == 1) {
        g->kind = NN_EW__Q_TENSOR;
    } else {
        if (!nn_op__axis(axis_attr, xs->rank, &axis) || xs->rank == 0)
            return nn_op_error(c, NN_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis_attr,
                               xs->rank);
        g->kind = block ? NN_EW__Q_BLOCK : NN_EW__Q_AXIS;
        if (!block && ss->rank != 1)
            return nn_op_error(c, NN_ERR_SHAPE, "a per-axis scale must be 1-D (rank %d given)", ss->rank);
        if (block && ss->rank != xs->rank)
            return nn_op_error(c, NN_ERR_SHAPE, "a blocked scale must have the input's rank");
        if (!nn_shape_is_static(xs) || !static_s) return NN_OK;
        for (i = 0; i < xs->rank; i++) {
            if (i < axis) g->outer *= (size_t)xs->dims[i];
            else if (i > axis) g->inner *= (size_t)xs->dims[i];
            if (block && i != axis && ss->dims[i] != xs->dims[i])
                return nn_op_error(c, NN_ERR_SHAPE, "blocked scale dim %d is %lld, the input's is %lld", i,
                                   (long long)ss->dims[i], (long long)xs->dims[i]);
        }
        g->dim = (size_t)xs->dims[axis];
        g->block = (size_t)block;
        g->sdim = (size_t)ss->dims[block ? axis : 0];
        if (!block && g->sdim != g->dim)
            return nn_op_error(c, NN_ERR_SHAPE, "per-axis scale has %zu elements, axis %d has %zu", g->sdim, axis,
                               g->dim);
        if (block && (g->dim + g->block - 1) / g->block > g->sdim)
            return nn_op_error(c, NN_ERR_SHAPE, "blocked scale dim %zu is too small for %zu elements in blocks of %zu",
                               g->sdim, g->dim, g->block);
    }
    if (g->kind == NN_EW__Q_TENSOR && nn_shape_is_static(xs)) g->inner = nn_shape_count(xs, NULL);
    return NN_OK;
}

/* Scale index of row r (= outer index * dim + axis index) and whether it
   advances with the inner index. */
static size_t nn_ew__qgeom_sidx(const nn_ew__qgeom *g, size_t r, int *svec) {
    size_t o = r / g->dim, a = r % g->dim;
    *svec = g->kind == NN_EW__Q_BLOCK;
    if (g->kind == NN_EW__Q_TENSOR) return 0;
    if (g->kind == NN_EW__Q_AXIS) return a;
    return (o * g->sdim + a / g->block) * g->inner;
}

/* Integer target range; 0 when t is not an integer quantization type. */
static int nn_ew__qrange(nn_dtype t, double *lo, double *hi) {
    switch (t) {
    case NN_DTYPE_INT8: *lo = -128; *hi = 127; return 1;
    case NN_DTYPE_UINT8: *lo = 0; *hi = 255; return 1;
    case NN_DTYPE_INT16: *lo = -32768; *hi = 32767; return 1;
    case NN_DTYPE_UINT16: *lo = 0; *hi = 65535; return 1;
    case NN_DTYPE_INT4: *lo = -8; *hi = 7; return 1;
    case NN_DTYPE_UINT4: *lo = 0; *hi = 15; return 1;
    case NN_DTYPE_INT32: *lo = -2147483648.0; *hi = 2147483647.0; return 1;
    default: return 0;
    }
}

/* Rounds v to the precision of type t (float types only). */
static double nn_ew__round_to(double v, nn_dtype t) {
    switch (t) {
    case NN_DTYPE_FLOAT: return (float)v;
    case NN_DTYPE_FLOAT16: return nn_f16_to_f32(nn_f32_to_f16((float)v));
    case NN_DTYPE_BFLOAT16: return nn_bf16_to_f32(nn_f32_to_bf16((float)v));
    default: return v;
    }
}

/* Element i of a scale or zero point as a double (0 when absent). */
static double nn_ew__qload(const nn_value *v, size_t i) {
    const nn_ew__fmt *f;
    if (!v || v->dtype == NN_DTYPE_UNDEFINED || !v->data) return 0.0;
    f = nn_ew__fmt_of(v->dtype);
    if (f && f->ebits + f->mbits < 8) return nn_ew__mf_decode(f, ((const uint8_t *)v->data)[i]);
    return nn_ew__load_f(v->data, v->dtype, i);
}

typedef struct nn_ew__qjob {
    const nn_value *x, *scale, *zp;
    nn_value *y;
    nn_ew__qgeom g;
    nn_dtype prec;      /* QuantizeLinear: precision of x / scale */
    int saturate;       /* float8 targets */
    double lo, hi;      /* integer targets */
} nn_ew__qjob;

/* float32 x, float32 scale, 8-bit target, float32 precision.  Written for
   the compiler to vectorize (GCC -O3: 16 lanes with AVX-512; scalar, it
   was 41% of the GPT's simulator time): both clamps are selects, the
   integral v in [lo, hi] goes to the byte through int32 (an int8's byte is
   its uint8 conversion), and the bytes go to a local block first.  The
   block keeps y == x (in place) legal and vectorized: the simulator's
   planner puts a QuantizeLinear's output on its input's first byte, and
   y's bytes [i, i+m) lie in elements below i+m, all read before the block
   is copied out. */
static void nn_ew__quant_row_f32(const float *x, void *py, nn_dtype yt, size_t n, float s, float zp, float lo,
                                 float hi) {
    uint8_t *y = (uint8_t *)py, blk[256];
    size_t i, k, m;
    if (yt == NN_DTYPE_INT16 || yt == NN_DTYPE_UINT16) { /* 16 bits: exact in float too (|v| < 2^24) */
        for (i = 0; i < n; i++) {
            float v = rintf(x[i] / s) + zp;
            v = v >= lo ? v : lo;
            v = v <= hi ? v : hi;
            if (yt == NN_DTYPE_INT16) ((int16_t *)py)[i] = (int16_t)(int32_t)v;
            else ((uint16_t *)py)[i] = (uint16_t)(int32_t)v;
        }
        return;
    }
    for (i = 0; i < n; i += m) {
        m = n - i < sizeof blk ? n - i : sizeof blk;
        for (k = 0; k < m; k++) {
            float v = rintf(x[i + k] / s) + zp;
            v = v >= lo ? v : lo; /* NaN -> lo */
            v = v <= hi ? v : hi;
            blk[k] = (uint8_t)(int32_t)v;
        }
        memcpy(y + i, blk, m);
    }
}

/* Quantizes n elements from element `base`; scales from index s0, one
   per element when svec, else s0 for all. */
static void nn_ew__quant_span(const nn_ew__qjob *j, size_t base, size_t n, size_t s0, int svec) {
    const nn_ew__fmt *f8 = nn_ew__fmt_of(j->y->dtype);
    size_t i;
    if (!svec && j->x->dtype == NN_DTYPE_FLOAT && j->scale->dtype == NN_DTYPE_FLOAT && j->prec == NN_DTYPE_FLOAT &&
        (j->y->dtype == NN_DTYPE_UINT8 || j->y->dtype == NN_DTYPE_INT8 || j->y->dtype == NN_DTYPE_INT16 ||
         j->y->dtype == NN_DTYPE_UINT16)) {
        nn_ew__quant_row_f32((const float *)j->x->data + base, (char *)j->y->data + base * nn_dtype_size(j->y->dtype),
                             j->y->dtype, n,
                             ((const float *)j->scale->data)[s0], (float)nn_ew__qload(j->zp, s0), (float)j->lo,
                             (float)j->hi);
        return;
    }
    for (i = 0; i < n; i++) {
        size_t si = s0 + (svec ? i : 0);
        double s = nn_ew__round_to(nn_ew__qload(j->scale, si), j->prec);
        double xv = nn_ew__round_to(nn_ew__load_f(j->x->data, j->x->dtype, base + i), j->prec);
        double q = nn_ew__round_to(xv / s, j->prec), zp = nn_ew__qload(j->zp, si);
        if (f8) {
            ((uint8_t *)j->y->data)[base + i] = (uint8_t)nn_ew__mf_encode(f8, q + zp, j->saturate);
        } else {
            double v = rint(q) + zp;
            v = !(v >= j->lo) ? j->lo : v > j->hi ? j->hi : v; /* NaN -> lo */
            nn_ew__store_i64(j->y->data, j->y->dtype, base + i, (int64_t)v);
        }
    }
}

/* nn_op_parallel bodies: by (outer, axis) rows, or by elements (per-tensor). */
static void nn_ew__quant_rows(void *arg, size_t r0, size_t r1) {
    const nn_ew__qjob *j = (const nn_ew__qjob *)arg;
    size_t r;
    for (r = r0; r < r1; r++) {
        int svec;
        size_t s0 = nn_ew__qgeom_sidx(&j->g, r, &svec);
        nn_ew__quant_span(j, r * j->g.inner, j->g.inner, s0, svec);
    }
}
static void nn_ew__quant_elems(void *arg, size_t e0, size_t e1) {
    nn_ew__quant_span((const nn_ew__qjob *)arg, e0, e1 - e0, 0, 0);
}

/* Output type: the zero point's, else output_dtype (opset 21+), else uint8. */
static nn_status nn_ew__quant_type(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_dtype *out) {
    int64_t od = c->opset >= 21 ? nn_node_attr_int(c->node, "output_dtype", 0) : 0;
    nn_dtype zt = n_in > 2 ? in[2].dtype : NN_DTYPE_UNDEFINED;
    double lo, hi;
    if (od < 0 || od >= NN_DTYPE_COUNT_)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "output_dtype %lld is not supported", (long long)od);
    if (zt && od && (nn_dtype)od != zt)
        return nn_op_error(c, NN_ERR_INVALID, "output_dtype %s differs from the zero point's %s",
                           nn_dtype_name((nn_dtype)od), nn_dtype_name(zt));
    *out = zt ? zt : od ? (nn_dtype)od : NN_DTYPE_UINT8;
    if (*out == NN_DTYPE_INT32 || (!nn_ew__qrange(*out, &lo, &hi) && !nn_ew__in_set(*out, NN_EW__F8S)))
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "quantizing to %s is not supported", nn_dtype_name(*out));
    return NN_OK;
}

/* precision (opset 23+): the type x / scale is computed in; default the scale's. */
static nn_status nn_ew__quant_prec(nn_op_ctx *c, nn_dtype scale_t, nn_dtype *out) {
    int64_t p = c->opset >= 23 ? nn_node_attr_int(c->node, "precision", 0) : 0;
    *out = p ? (nn_dtype)p : scale_t;
    if (*out != NN_DTYPE_FLOAT && *out != NN_DTYPE_DOUBLE && *out != NN_DTYPE_FLOAT16 && *out != NN_DTYPE_BFLOAT16 &&
        *out != NN_DTYPE_UNDEFINED)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "precision %lld is not supported", (long long)p);
    return NN_OK;
}

static nn_status nn_ew__infer_QuantizeLinear(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out,
                                             uint32_t n_out) {
    const uint32_t types = NN_EW__FLOATS | NN_EW__B(NN_DTYPE_INT32);
    nn_ew__qgeom g;
    nn_dtype t = NN_DTYPE_UNDEFINED, prec = NN_DTYPE_UNDEFINED;
    nn_status st = nn_ew__check_type(c, in[0].dtype, types, "x");
    (void)n_out;
    if (st == NN_OK) st = nn_ew__check_type(c, in[1].dtype, types, "scale");
    if (st == NN_OK) st = nn_ew__quant_type(c, in, n_in, &t);
    if (st == NN_OK) st = nn_ew__quant_prec(c, in[1].dtype, &prec);
    if (st == NN_OK) st = nn_ew__qgeom_init(c, &in[0].shape, &in[1], n_in > 2 ? &in[2] : NULL, &g);
    out[0].dtype = t;
    out[0].shape = in[0].shape;
    return st;
}

static nn_status nn_ew__run_QuantizeLinear(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out,
                                           uint32_t n_out) {
    nn_ew__qjob j;
    nn_dtype t = NN_DTYPE_UNDEFINED;
    nn_status st;
    size_t rows;
    (void)n_out;
    memset(&j, 0, sizeof j);
    st = nn_ew__quant_type(c, in, n_in, &t);
    if (st == NN_OK) st = nn_ew__quant_prec(c, in[1].dtype, &j.prec);
    if (st == NN_OK) st = nn_ew__qgeom_init(c, &in[0].shape, &in[1], n_in > 2 ? &in[2] : NULL, &j.g);
    if (st) return st;
    if (j.prec == NN_DTYPE_INT32) j.prec = NN_DTYPE_FLOAT;
    j.x = &in[0];
    j.scale = &in[1];
    j.zp = n_in > 2 && in[2].dtype ? &in[2] : NULL;
    j.y = &out[0];
    j.saturate = c->opset >= 19 ? nn_node_attr_int(c->node, "saturate", 1) != 0 : 1;
    (void)nn_ew__qrange(t, &j.lo, &j.hi);
    if (nn_value_count(&out[0]) == 0) return NN_OK;
    rows = j.g.outer * j.g.dim;
    if (nn_dtype_bits(t) == 4) nn_ew__quant_rows(&j, 0, rows); /* packed output: one thread */
    else if (j.g.kind == NN_EW__Q_TENSOR) nn_op_parallel(c, j.g.inner, NN_EW__GRAIN, nn_ew__quant_elems, &j);
    else nn_op_parallel(c, rows, (NN_EW__GRAIN + j.g.inner - 1) / j.g.inner, nn_ew__quant_rows, &j);
    return NN_OK;
}

/* DequantizeLinear: y = (x - zero_point) * scale, computed in float32 and
   rounded to the output type (the scale's, or output_dtype at opset 23+). */
static void nn_ew__dequant_span(const nn_ew__qjob *j, size_t base, size_t n, size_t s0, int svec) {
    const nn_ew__fmt *f8 = nn_ew__fmt_of(j->x->dtype);
    size_t i;
    if (f8 && f8->ebits + f8->mbits >= 8) f8 = NULL; /* float16 / bfloat16 are not quantized types */
    if (!svec && j->y->dtype == NN_DTYPE_FLOAT && j->scale->dtype == NN_DTYPE_FLOAT &&
        (j->x->dtype == NN_DTYPE_UINT8 || j->x->dtype == NN_DTYPE_INT8 || j->x->dtype == NN_DTYPE_INT16 ||
         j->x->dtype == NN_DTYPE_UINT16)) {
        float s = ((const float *)j->scale->data)[s0], *y = (float *)j->y->data + base;
        int zp = (int)nn_ew__qload(j->zp, s0);
        if (j->x->dtype == NN_DTYPE_UINT8) {
            const uint8_t *x = (const uint8_t *)j->x->data + base;
            for (i = 0; i < n; i++) y[i] = (float)((int)x[i] - zp) * s;
        } else if (j->x->dtype == NN_DTYPE_INT16) {
            const int16_t *x = (const int16_t *)j->x->data + base;
            for (i = 0; i < n; i++) y[i] = (float)((int)x[i] - zp) * s;
        } else if (j->x->dtype == NN_DTYPE_UINT16) {
            const uint16_t *x = (const uint16_t *)j->x->data + base;
            for (i = 0; i < n; i++) y[i] = (float)((int)x[i] - zp) * s;
        } else {
            const int8_t *x = (const int8_t *)j->x->data + base;
            for (i = 0; i < n; i++) y[i] = (float)((int)x[i] - zp) * s;
        }
        return;
    }
    for (i = 0; i < n; i++) {
        size_t si = s0 + (svec ? i : 0);
        float s = (float)nn_ew__qload(j->scale, si), d;
        if (f8) {
            d = (float)nn_ew__mf_decode(f8, ((const uint8_t *)j->x->data)[base + i]) - (float)nn_ew__qload(j->zp, si);
        } else {
            int64_t zp = j->zp ? nn_ew__load_i64(j->zp->data, j->zp->dtype, si) : 0;
            d = (float)(nn_ew__load_i64(j->x->data, j->x->dtype, base + i) - zp);
        }
        nn_op__store(j->y->data, j->y->dtype, base + i, d * s);
    }
}

static void nn_ew__dequant_rows(void *arg, size_t r0, size_t r1) {
    const nn_ew__qjob *j = (const nn_ew__qjob *)arg;
    size_t r;
    for (r = r0; r < r1; r++) {
        int svec;
        size_t s0 = nn_ew__qgeom_sidx(&j->g, r, &svec);
        nn_ew__dequant_span(j, r * j->g.inner, j->g.inner, s0, svec);
    }
}
static void nn_ew__dequant_elems(void *arg, size_t e0, size_t e1) {
    nn_ew__dequant_span((const nn_ew__qjob *)arg, e0, e1 - e0, 0, 0);
}

static nn_status nn_ew__dequant_type(nn_op_ctx *c, const nn_value *in, nn_dtype *out) {
    int64_t od = c->opset >= 23 ? nn_node_attr_int(c->node, "output_dtype", 0) : 0;
    *out = od ? (nn_dtype)od : in[1].dtype;
    if (od && (od < 0 || od >= NN_DTYPE_COUNT_ || !nn_ew__in_set((nn_dtype)od, NN_EW__FLOATS) || od == NN_DTYPE_DOUBLE))
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "output_dtype %lld is not supported", (long long)od);
    return NN_OK;
}

static nn_status nn_ew__infer_DequantizeLinear(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out,
                                               uint32_t n_out) {
    const uint32_t xtypes = NN_EW__B(NN_DTYPE_INT8) | NN_EW__B(NN_DTYPE_UINT8) | NN_EW__B(NN_DTYPE_INT16) |
                            NN_EW__B(NN_DTYPE_UINT16) | NN_EW__B(NN_DTYPE_INT32) | NN_EW__I4S | NN_EW__F8S;
    nn_ew__qgeom g;
    nn_dtype t = NN_DTYPE_UNDEFINED;
    nn_status st = nn_ew__check_type(c, in[0].dtype, xtypes, "x");
    (void)n_out;
    if (st == NN_OK) st = nn_ew__check_type(c, in[1].dtype, NN_EW__FLOATS & ~NN_EW__B(NN_DTYPE_DOUBLE), "scale");
    if (st == NN_OK) st = nn_ew__dequant_type(c, in, &t);
    if (st == NN_OK) st = nn_ew__qgeom_init(c, &in[0].shape, &in[1], n_in > 2 ? &in[2] : NULL, &g);
    if (st == NN_OK && n_in > 2 && in[2].dtype && in[0].dtype && in[2].dtype != in[0].dtype)
        st = nn_op_error(c, NN_ERR_INVALID, "zero point is %s, x is %s", nn_dtype_name(in[2].dtype),
                         nn_dtype_name(in[0].dtype));
    out[0].dtype = t;
    out[0].shape = in[0].shape;
    return st;
}

static nn_status nn_ew__run_DequantizeLinear(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out,
                                             uint32_t n_out) {
    nn_ew__qjob j;
    nn_dtype t = NN_DTYPE_UNDEFINED;
    nn_status st;
    (void)n_out;
    memset(&j, 0, sizeof j);
    if ((st = nn_ew__dequant_type(c, in, &t)) != NN_OK ||
        (st = nn_ew__qgeom_init(c, &in[0].shape, &in[1], n_in > 2 ? &in[2] : NULL, &j.g)) != NN_OK)
        return st;
    j.x = &in[0];
    j.scale = &in[1];
    j.zp = n_in > 2 && in[2].dtype ? &in[2] : NULL;
    j.y = &out[0];
    if (nn_value_count(&out[0]) == 0) return NN_OK;
    if (j.g.kind == NN_EW__Q_TENSOR) nn_op_parallel(c, j.g.inner, NN_EW__GRAIN, nn_ew__dequant_elems, &j);
    else nn_op_parallel(c, j.g.outer * j.g.dim, (NN_EW__GRAIN + j.g.inner - 1) / j.g.inner, nn_ew__dequant_rows, &j);
    return NN_OK;
}

/* DynamicQuantizeLinear (opset 11): uint8 with
     scale = (max(0, max x) - min(0, min x)) / 255
     zero_point = saturate(round(0 - min(0, min x) / scale))
     y = saturate(round(x / scale) + zero_point)
   in float32.  An all-zero input has scale 0: zero point and y are 0. */
static nn_status nn_ew__infer_DynamicQuantizeLinear(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out,
                                                    uint32_t n_out) {
    nn_status st = nn_ew__check_type(c, in[0].dtype, NN_EW__B(NN_DTYPE_FLOAT), "x");
    (void)n_in;
    out[0].dtype = NN_DTYPE_UINT8;
    out[0].shape = in[0].shape;
    if (n_out > 1) {
        out[1].dtype = NN_DTYPE_FLOAT;
        out[1].shape.rank = 0;
    }
    if (n_out > 2) {
        out[2].dtype = NN_DTYPE_UINT8;
        out[2].shape.rank = 0;
    }
    return st;
}

static nn_status nn_ew__run_DynamicQuantizeLinear(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out,
                                                  uint32_t n_out) {
    const float *x = (const float *)in[0].data;
    size_t n = nn_value_count(&in[0]), i;
    float lo = 0.0f, hi = 0.0f, scale, zp = 0.0f;
    (void)c; (void)n_in;
    for (i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    scale = (hi - lo) / 255.0f;
    if (scale > 0.0f) {
        zp = rintf(-lo / scale);
        zp = zp < 0.0f ? 0.0f : zp > 255.0f ? 255.0f : zp;
        nn_ew__quant_row_f32(x, out[0].data, NN_DTYPE_UINT8, n, scale, zp, 0.0f, 255.0f);
    }
    if (n_out > 1 && out[1].data) *(float *)out[1].data = scale;
    if (n_out > 2 && out[2].data) *(uint8_t *)out[2].data = (uint8_t)zp;
    return NN_OK;
}

/* ---- element-wise rows of the operator table ----------------------------------------------
   Rows split where accepted attributes changed: opset 1 carried the legacy
   consumed_inputs hint, opsets 1-6 the broadcast/axis pair of the binary
   ops, Clip moved its bounds from attributes to inputs at 11, Cast gained
   saturate at 19 and round_mode at 24, the quantizers gained axis (13),
   saturate (19), block_size / output_dtype (21) and precision (23). */

#define NN_EW__M NN_EW__OPSET_MAX
#define NN_EW__ROW(name, since, until, nin0, nin1, attrs, Fn) \
    {name, "", since, until, nin0, nin1, 1, 1, attrs, nn_ew__infer_##Fn, nn_ew__run_##Fn, 0}
/* Unary op whose opset-1 form also accepted consumed_inputs. */
#define NN_EW__ROWS_U1(name, Fn)                                   \
    NN_EW__ROW(name, 1, 5, 1, 1, "consumed_inputs", Fn),           \
    NN_EW__ROW(name, 6, NN_EW__M, 1, 1, "", Fn)
/* Binary op with the opset 1-6 broadcast/axis attributes. */
#define NN_EW__ROWS_B1(name, Fn, legacy_until)                     \
    NN_EW__ROW(name, 1, legacy_until, 2, 2, "axis,broadcast", Fn), \
    NN_EW__ROW(name, (legacy_until) + 1, NN_EW__M, 2, 2, "", Fn)

/* ---- kernels: tensor ------------------------------------------------------------------------

   Shape and data-movement ops: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat,
   Split, Slice, Gather*, Scatter*, Pad, Resize/Upsample, Expand, Tile, Shape, Size,
   ConstantOfShape, Range, OneHot, NonZero, TopK, Unique, DepthToSpace, SpaceToDepth,
   Trilu, EyeLike, Compress, ReverseSequence, CenterCropPad, Col2Im, GridSample.

   Data movement is dtype-generic by element size.  4-bit types keep their packed byte
   image only through the ops that do not move elements (Reshape, Flatten, Squeeze,
   Unsqueeze, Shape, Size); every other op refuses them with NN_ERR_UNSUPPORTED.
   Indices read from data are checked (negative values wrap once, as ONNX says) and an
   index out of range is NN_ERR_INVALID.  Most permutations of memory (Transpose, Slice,
   Expand, Tile, DepthToSpace, Pad interiors) go through one strided-copy engine that
   merges contiguous dimensions, copies contiguous runs with memcpy and tiles the
   classic 2-D transpose so both sides stay in cache. */

/* ---- tensor: small helpers ---- */

static int nn_tn__has(const nn_value *in, uint32_t n_in, uint32_t i) {
    return i < n_in && in[i].dtype != NN_DTYPE_UNDEFINED;
}

/* 1 when v's contents are available (an empty tensor counts even without data). */
static int nn_tn__known(const nn_value *v) {
    int ok;
    if (v->data) return 1;
    if (v->dtype == NN_DTYPE_UNDEFINED) return 0;
    return nn_shape_count(&v->shape, &ok) == 0 && ok;
}

/* Reads a scalar or 1-D int32/int64 input: the count, -1 while unknown, -2 when it is
   not an integer tensor or holds more than cap values. */
static int nn_tn__ints(const nn_value *v, int64_t *out, int cap) {
    if (!nn_tn__known(v)) return -1;
    if (v->dtype != NN_DTYPE_INT32 && v->dtype != NN_DTYPE_INT64) return -2;
    if (!v->data) return 0; /* empty */
    int n = nn_op__int_list(v, out, cap);
    return n < 0 ? -2 : n;
}

/* An INTS attribute: its count, -1 when absent, -2 when longer than cap. */
static int nn_tn__attr_ints(const nn_op_ctx *c, const char *name, int64_t *out, int cap) {
    const nn_attr *a = nn_node_attr(c->node, name);
    if (!a || a->type != NN_ATTR_INTS) return -1;
    if (a->count > (uint32_t)cap) return -2;
    for (uint32_t i = 0; i < a->count; i++) out[i] = a->ints[i];
    return (int)a->count;
}

/* Reports why nn_tn__ints / nn_tn__attr_ints failed for a list named what. */
static nn_status nn_tn__list_error(nn_op_ctx *c, int code, const char *what) {
    if (code == -2)
        return nn_op_error(c, NN_ERR_INVALID, "'%s' must be an int32/int64 list of at most %d values", what,
                           NN_MAX_RANK * 2);
    return nn_op_error(c, NN_ERR_INVALID, "'%s' is required", what);
}

/* Element size of a type whose elements are moved one by one. */
static nn_status nn_tn__esize(nn_op_ctx *c, nn_dtype t, size_t *es) {
    size_t s = nn_dtype_size(t);
    if (!s) return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s elements are not supported", nn_dtype_name(t));
    *es = s;
    return NN_OK;
}

/* Product of dims: -1 when one is unknown, -2 on overflow of int64. */
static int64_t nn_tn__prod(const int64_t *d, int32_t n) {
    int64_t p = 1;
    int unknown = 0;
    for (int32_t i = 0; i < n; i++) {
        if (d[i] < 0) { unknown = 1; continue; }
        if (d[i] && p > INT64_MAX / d[i]) return -2;
        p *= d[i];
    }
    if (p == 0) return 0; /* a zero dim decides the count even next to unknown ones */
    return unknown ? -1 : p;
}

static void nn_tn__unknown_dims(nn_shape *s, int32_t rank) {
    s->rank = rank;
    for (int32_t i = 0; i < rank && i < NN_MAX_RANK; i++) s->dims[i] = NN_DIM_UNKNOWN;
}

/* Row-major element strides of a static shape. */
static void nn_tn__strides(const nn_shape *s, int64_t *st) {
    int64_t acc = 1;
    for (int32_t i = s->rank - 1; i >= 0; i--) { st[i] = acc; acc *= s->dims[i]; }
}

/* Copies n elements of es bytes between byte-strided positions.  Constant-size
   memcpy compiles to single moves and is safe for unaligned (lent) buffers. */
static void nn_tn__copy_elems(uint8_t *d, ptrdiff_t ds, const uint8_t *s, ptrdiff_t ss, size_t n, size_t es) {
    size_t i;
    switch (es) {
    case 1: for (i = 0; i < n; i++) d[(ptrdiff_t)i * ds] = s[(ptrdiff_t)i * ss]; break;
    case 2: for (i = 0; i < n; i++) memcpy(d + (ptrdiff_t)i * ds, s + (ptrdiff_t)i * ss, 2); break;
    case 4: for (i = 0; i < n; i++) memcpy(d + (ptrdiff_t)i * ds, s + (ptrdiff_t)i * ss, 4); break;
    case 8: for (i = 0; i < n; i++) memcpy(d + (ptrdiff_t)i * ds, s + (ptrdiff_t)i * ss, 8); break;
    default: for (i = 0; i < n; i++) memcpy(d + (ptrdiff_t)i * ds, s + (ptrdiff_t)i * ss, es); break;
    }
}

/* Fills n elements (contiguous) with one es-byte pattern. */
static void nn_tn__fill(uint8_t *d, const void *pat, size_t n, size_t es) {
    size_t i;
    if (es == 1) { memset(d, *(const uint8_t *)pat, n); return; }
    if (n == 0) return;
    memcpy(d, pat, es);
    /* Doubling copies: log2(n) memcpy calls. */
    for (i = 1; i < n;) {
        size_t k = i <= n - i ? i : n - i;
        memcpy(d + i * es, d, k * es);
        i += k;
    }
}

/* ---- tensor: the strided-copy engine ----

   Copies an N-D box: dst[o] = src[o] for every index o of dims, where both sides
   address elements through their own strides (in elements; source strides may be zero
   for broadcasting or negative for reversed slices).  Dimensions of size 1 are dropped
   and neighbours that stay contiguous on both sides are merged first, so a Slice of a
   row or a Transpose that keeps the last axis becomes a few large memcpy calls. */

#define NN_TN__MAX_DIMS (2 * NN_MAX_RANK + 2)

typedef struct nn_tn__box {
    int32_t rank;
    int64_t dims[NN_TN__MAX_DIMS];
    int64_t ss[NN_TN__MAX_DIMS]; /* source strides, elements */
    int64_t ds[NN_TN__MAX_DIMS]; /* destination strides, elements */
    size_t es;
    const uint8_t *src;          /* element at index 0 of the box */
    uint8_t *dst;
    /* filled by nn_tn__box_plan */
    int32_t tile_axis;           /* -1, or the axis read contiguously for a tiled transpose */
    size_t rows;                 /* work items for nn_op_parallel */
} nn_tn__box;

/* Returns 0 when the box is empty. */
static int nn_tn__box_plan(nn_tn__box *b) {
    int32_t r = 0;
    for (int32_t i = 0; i < b->rank; i++) {
        if (b->dims[i] == 0) return 0;
        if (b->dims[i] == 1) continue;
        b->dims[r] = b->dims[i];
        b->ss[r] = b->ss[i];
        b->ds[r] = b->ds[i];
        r++;
    }
    /* Merge i-1 into i when stepping i-1 once equals stepping i dims[i] times. */
    int32_t w = 0;
    for (int32_t i = 0; i < r; i++) {
        if (w > 0 && b->ss[w - 1] == b->ss[i] * b->dims[i] && b->ds[w - 1] == b->ds[i] * b->dims[i]) {
            b->dims[w - 1] *= b->dims[i];
            b->ss[w - 1] = b->ss[i];
            b->ds[w - 1] = b->ds[i];
            continue;
        }
        b->dims[w] = b->dims[i];
        b->ss[w] = b->ss[i];
        b->ds[w] = b->ds[i];
        w++;
    }
    if (w == 0) { w = 1; b->dims[0] = 1; b->ss[0] = 1; b->ds[0] = 1; }
    b->rank = w;
    b->tile_axis = -1;
    /* A transpose-like box: the last axis is strided on the source side, some other
       axis is contiguous there.  Copy it in square tiles. */
    if (w >= 2 && b->ss[w - 1] != 1 && b->ds[w - 1] == 1 && b->dims[w - 1] >= 8)
        for (int32_t k = w - 2; k >= 0; k--)
            if (b->ss[k] == 1 && b->dims[k] >= 8) { b->tile_axis = k; break; }
    size_t rows = 1;
    if (b->tile_axis >= 0) {
        for (int32_t i = 0; i < w - 1; i++)
            rows *= (size_t)(i == b->tile_axis ? (b->dims[i] + 15) / 16 : b->dims[i]);
    } else {
        for (int32_t i = 0; i < w - 1; i++) rows *= (size_t)b->dims[i];
    }
    b->rows = rows;
    return 1;
}

#define NN_TN__TILE 16

/* One tile of a transpose: dst row k (contiguous, jn elements) takes source column
   k (stride sl bytes).  Inlined per element size so the loops have constant moves. */
#define NN_TN__TILE_LOOP(ES)                                                             \
    for (int64_t k = 0; k < kn; k++) {                                                   \
        uint8_t *dr = d + k * dk;                                                        \
        const uint8_t *sc = s + k * (ES);                                                \
        for (int64_t j = 0; j < jn; j++) memcpy(dr + j * (ES), sc + j * sl, (ES));       \
    }

static void nn_tn__tile(uint8_t *d, ptrdiff_t dk, const uint8_t *s, ptrdiff_t sl, int64_t kn, int64_t jn, size_t es) {
    switch (es) {
    case 1: NN_TN__TILE_LOOP(1) break;
    case 2: NN_TN__TILE_LOOP(2) break;
    case 4: NN_TN__TILE_LOOP(4) break;
    case 8: NN_TN__TILE_LOOP(8) break;
    default:
        for (int64_t k = 0; k < kn; k++) nn_tn__copy_elems(d + k * dk, (ptrdiff_t)es, s + k * (ptrdiff_t)es, sl, (size_t)jn, es);
        break;
    }
}

static void nn_tn__box_rows(void *arg, size_t begin, size_t end) {
    const nn_tn__box *b = (const nn_tn__box *)arg;
    int32_t last = b->rank - 1, ta = b->tile_axis;
    int64_t idx[NN_TN__MAX_DIMS], lim[NN_TN__MAX_DIMS];
    size_t es = b->es;
    /* Odometer over the outer axes (the tile axis counts tiles). */
    for (int32_t i = 0; i < last; i++) lim[i] = i == ta ? (b->dims[i] + NN_TN__TILE - 1) / NN_TN__TILE : b->dims[i];
    size_t rem = begin;
    for (int32_t i = last - 1; i >= 0; i--) { idx[i] = (int64_t)(rem % (size_t)lim[i]); rem /= (size_t)lim[i]; }
    int64_t n = b->dims[last];
    ptrdiff_t sl = (ptrdiff_t)(b->ss[last] * (int64_t)es), dl = (ptrdiff_t)(b->ds[last] * (int64_t)es);
    for (size_t row = begin; row < end; row++) {
        int64_t so = 0, dof = 0;
        for (int32_t i = 0; i < last; i++) {
            int64_t k = i == ta ? idx[i] * NN_TN__TILE : idx[i];
            so += k * b->ss[i];
            dof += k * b->ds[i];
        }
        const uint8_t *s = b->src + so * (int64_t)es;
        uint8_t *d = b->dst + dof * (int64_t)es;
        if (ta >= 0) {
            int64_t k0 = idx[ta] * NN_TN__TILE, kn = b->dims[ta] - k0;
            if (kn > NN_TN__TILE) kn = NN_TN__TILE;
            ptrdiff_t dk = (ptrdiff_t)(b->ds[ta] * (int64_t)es);
            for (int64_t j0 = 0; j0 < n; j0 += NN_TN__TILE) {
                int64_t jn = n - j0 < NN_TN__TILE ? n - j0 : NN_TN__TILE;
                nn_tn__tile(d + j0 * dl, dk, s + j0 * sl, sl, kn, jn, es);
            }
        } else if (sl == (ptrdiff_t)es && dl == (ptrdiff_t)es) {
            memcpy(d, s, (size_t)n * es);
        } else if (sl == 0 && dl == (ptrdiff_t)es) {
            nn_tn__fill(d, s, (size_t)n, es);
        } else {
            nn_tn__copy_elems(d, dl, s, sl, (size_t)n, es);
        }
        for (int32_t i = last - 1; i >= 0; i--) {
            if (++idx[i] < lim[i]) break;
            idx[i] = 0;
        }
    }
}

/* Plans and runs a box copy, split over the exec's threads when large. */
static void nn_tn__box_run(nn_op_ctx *c, nn_tn__box *b) {
    if (!nn_tn__box_plan(b)) return;
    size_t row_bytes = (size_t)b->dims[b->rank - 1] * b->es;
    if (b->tile_axis >= 0) row_bytes *= NN_TN__TILE;
    size_t min_rows = row_bytes >= 65536 ? 1 : 65536 / (row_bytes ? row_bytes : 1);
    nn_op_parallel(c, b->rows, min_rows, nn_tn__box_rows, b);
}

/* A box whose destination is the whole contiguous output of shape dims. */
static void nn_tn__box_dense(nn_tn__box *b, int32_t rank, const int64_t *dims, size_t es) {
    memset(b, 0, sizeof *b);
    b->rank = rank;
    b->es = es;
    int64_t acc = 1;
    for (int32_t i = rank - 1; i >= 0; i--) {
        b->dims[i] = dims[i];
        b->ds[i] = acc;
        acc *= dims[i];
    }
}

/* Shared run function of the ops whose output is the input's bytes unchanged. */
static nn_status nn_tn__run_bytes(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    if (out[0].bytes != in[0].bytes)
        return nn_op_error(c, NN_ERR_SHAPE, "output holds %zu bytes, input %zu", out[0].bytes, in[0].bytes);
    if (in[0].bytes && out[0].data != in[0].data) memcpy(out[0].data, in[0].data, in[0].bytes);
    return NN_OK;
}

/* ---- tensor: Reshape, Flatten, Squeeze, Unsqueeze ---- */

/* Reshape: the target comes from the `shape` attribute before opset 5 and from input 1
   after.  0 copies the input dim at the same index (unless allowzero=1, opset 14, where
   0 is a real zero and may not be combined with -1); one -1 takes what is left. */
static nn_status nn_tn__infer_reshape(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    int64_t shp[NN_MAX_RANK];
    int n;
    const nn_shape *is = &in[0].shape;
    out[0].dtype = in[0].dtype;
    if (c->opset < 5) {
        n = nn_tn__attr_ints(c, "shape", shp, NN_MAX_RANK);
        if (n < 0) return n == -2 ? nn_op_error(c, NN_ERR_LIMIT, "target rank above %d", NN_MAX_RANK)
                                  : nn_op_error(c, NN_ERR_INVALID, "needs the 'shape' attribute");
    } else {
        if (!nn_tn__has(in, n_in, 1)) return nn_op_error(c, NN_ERR_INVALID, "needs the shape input");
        n = nn_tn__ints(&in[1], shp, NN_MAX_RANK);
        if (n == -2) return nn_op_error(c, NN_ERR_INVALID, "shape must be an int64 list of at most %d values", NN_MAX_RANK);
        if (n == -1) {
            const nn_shape *ss = &in[1].shape;
            if (ss->rank == 1 && ss->dims[0] >= 0) {
                if (ss->dims[0] > NN_MAX_RANK) return nn_op_error(c, NN_ERR_LIMIT, "target rank above %d", NN_MAX_RANK);
                nn_tn__unknown_dims(&out[0].shape, (int32_t)ss->dims[0]);
            } else {
                out[0].shape.rank = NN_RANK_UNKNOWN;
            }
            return NN_OK;
        }
    }
    int allowzero = c->opset >= 14 && nn_node_attr_int(c->node, "allowzero", 0) != 0;
    int neg = -1, has_zero = 0;
    for (int i = 0; i < n; i++) {
        if (shp[i] < -1) return nn_op_error(c, NN_ERR_INVALID, "shape[%d] = %lld", i, (long long)shp[i]);
        if (shp[i] == -1) {
            if (neg >= 0) return nn_op_error(c, NN_ERR_INVALID, "more than one -1 in the shape");
            neg = i;
        }
        if (shp[i] == 0) has_zero = 1;
    }
    if (allowzero && has_zero && neg >= 0)
        return nn_op_error(c, NN_ERR_INVALID, "allowzero=1 forbids 0 and -1 in one shape");
    nn_shape *os = &out[0].shape;
    os->rank = n;
    int64_t known = 1; /* product of the dims other than -1, or -1 when one is unknown */
    for (int i = 0; i < n; i++) {
        int64_t d = shp[i];
        if (d == 0 && !allowzero) {
            if (is->rank < 0) d = NN_DIM_UNKNOWN;
            else if (i >= is->rank) return nn_op_error(c, NN_ERR_INVALID, "shape[%d] = 0 copies a dim the input lacks", i);
            else d = is->dims[i];
        }
        os->dims[i] = d;
        if (i == neg) continue;
        if (d < 0) known = -1;
        else if (known >= 0) {
            if (d && known > INT64_MAX / d) return nn_op_error(c, NN_ERR_LIMIT, "target size overflows");
            known *= d;
        }
    }
    int64_t total = is->rank < 0 ? -1 : nn_tn__prod(is->dims, is->rank);
    if (total == -2) return nn_op_error(c, NN_ERR_LIMIT, "input size overflows");
    if (neg >= 0) {
        os->dims[neg] = NN_DIM_UNKNOWN;
        if (known == 0) return nn_op_error(c, NN_ERR_INVALID, "-1 next to a zero dim is ambiguous");
        if (known > 0 && total >= 0) {
            if (total % known) return nn_op_error(c, NN_ERR_SHAPE, "cannot reshape %lld elements with -1 over %lld",
                                                  (long long)total, (long long)known);
            os->dims[neg] = total / known;
        }
    } else if (known >= 0 && total >= 0 && known != total) {
        return nn_op_error(c, NN_ERR_SHAPE, "cannot reshape %lld elements into %lld", (long long)total, (long long)known);
    }
    return NN_OK;
}

/* Flatten: (d0..d[axis-1]) x (d[axis]..); axis in [-r, r]. */
static nn_status nn_tn__infer_flatten(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const nn_shape *is = &in[0].shape;
    int64_t axis = nn_node_attr_int(c->node, "axis", 1);
    out[0].dtype = in[0].dtype;
    nn_tn__unknown_dims(&out[0].shape, 2);
    if (is->rank < 0) return NN_OK;
    if (axis < 0) axis += is->rank;
    if (axis < 0 || axis > is->rank) return nn_op_error(c, NN_ERR_INVALID, "axis %lld out of range", (long long)axis);
    int64_t a = nn_tn__prod(is->dims, (int32_t)axis), b = nn_tn__prod(is->dims + axis, is->rank - (int32_t)axis);
    if (a == -2 || b == -2) return nn_op_error(c, NN_ERR_LIMIT, "size overflows");
    out[0].shape.dims[0] = a;
    out[0].shape.dims[1] = b;
    return NN_OK;
}

/* Squeeze/Unsqueeze axes: attribute before opset 13, input 1 after.  Returns the count,
   -1 when given but unknown, -3 when absent; errors are reported. */
static int nn_tn__axes_arg(nn_op_ctx *c, const nn_value *in, uint32_t n_in, uint32_t input, int since,
                           int64_t *axes, nn_status *st) {
    int n;
    *st = NN_OK;
    if (c->opset < since) {
        n = nn_tn__attr_ints(c, "axes", axes, NN_MAX_RANK);
        if (n == -2) *st = nn_op_error(c, NN_ERR_INVALID, "too many axes");
        return n == -1 ? -3 : n;
    }
    if (!nn_tn__has(in, n_in, input)) return -3;
    n = nn_tn__ints(&in[input], axes, NN_MAX_RANK);
    if (n == -2) *st = nn_op_error(c, NN_ERR_INVALID, "axes must be an int64 list of at most %d values", NN_MAX_RANK);
    return n;
}

static nn_status nn_tn__infer_squeeze(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    int64_t axes[NN_MAX_RANK];
    nn_status st;
    const nn_shape *is = &in[0].shape;
    int n = nn_tn__axes_arg(c, in, n_in, 1, 13, axes, &st);
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    if (st) return st;
    if (is->rank < 0) return NN_OK;
    if (n == -1) {
        const nn_shape *as = &in[1].shape;
        if (as->rank == 1 && as->dims[0] >= 0 && as->dims[0] <= is->rank)
            nn_tn__unknown_dims(&out[0].shape, is->rank - (int32_t)as->dims[0]);
        return NN_OK;
    }
    int drop[NN_MAX_RANK] = {0};
    if (n == -3 || n == 0) { /* no (or empty) axes: every dim of size 1 goes, as ORT does */
        for (int32_t i = 0; i < is->rank; i++) {
            if (is->dims[i] < 0) return NN_OK; /* rank depends on it */
            drop[i] = is->dims[i] == 1;
        }
    } else {
        for (int k = 0; k < n; k++) {
            int32_t a = 0;
            if (!nn_op__axis(axes[k], is->rank, &a) || is->rank == 0)
                return nn_op_error(c, NN_ERR_INVALID, "axis %lld out of range", (long long)axes[k]);
            if (drop[a]) return nn_op_error(c, NN_ERR_INVALID, "axis %lld repeated", (long long)axes[k]);
            if (is->dims[a] >= 0 && is->dims[a] != 1)
                return nn_op_error(c, NN_ERR_SHAPE, "cannot squeeze axis %d of size %lld", a, (long long)is->dims[a]);
            drop[a] = 1;
        }
    }
    int32_t r = 0;
    for (int32_t i = 0; i < is->rank; i++)
        if (!drop[i]) out[0].shape.dims[r++] = is->dims[i];
    out[0].shape.rank = r;
    return NN_OK;
}

static nn_status nn_tn__infer_unsqueeze(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    int64_t axes[NN_MAX_RANK];
    nn_status st;
    const nn_shape *is = &in[0].shape;
    int n = nn_tn__axes_arg(c, in, n_in, 1, 13, axes, &st);
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    if (st) return st;
    if (n == -3) return nn_op_error(c, NN_ERR_INVALID, "needs axes");
    if (is->rank < 0) return NN_OK;
    if (n == -1) {
        const nn_shape *as = &in[1].shape;
        if (as->rank == 1 && as->dims[0] >= 0) {
            if (is->rank + as->dims[0] > NN_MAX_RANK) return nn_op_error(c, NN_ERR_LIMIT, "rank above %d", NN_MAX_RANK);
            nn_tn__unknown_dims(&out[0].shape, is->rank + (int32_t)as->dims[0]);
        }
        return NN_OK;
    }
    int32_t r = is->rank + n;
    if (r > NN_MAX_RANK) return nn_op_error(c, NN_ERR_LIMIT, "rank %d above %d", r, NN_MAX_RANK);
    int ins[NN_MAX_RANK] = {0};
    for (int k = 0; k < n; k++) {
        int32_t a = 0;
        if (!nn_op__axis(axes[k], r, &a)) return nn_op_error(c, NN_ERR_INVALID, "axis %lld out of range", (long long)axes[k]);
        if (ins[a]) return nn_op_error(c, NN_ERR_INVALID, "axis %lld repeated", (long long)axes[k]);
        ins[a] = 1;
    }
    int32_t j = 0;
    for (int32_t i = 0; i < r; i++) out[0].shape.dims[i] = ins[i] ? 1 : is->dims[j++];
    out[0].shape.rank = r;
    return NN_OK;
}

/* ---- tensor: Transpose ---- */

/* perm defaults to reversing the axes. */
static nn_status nn_tn__perm(nn_op_ctx *c, int32_t rank, int32_t *perm) {
    int64_t p[NN_MAX_RANK];
    int n = nn_tn__attr_ints(c, "perm", p, NN_MAX_RANK);
    int seen[NN_MAX_RANK] = {0};
    if (n < 0) {
        for (int32_t i = 0; i < rank; i++) perm[i] = rank - 1 - i;
        return NN_OK;
    }
    if (n != rank) return nn_op_error(c, NN_ERR_INVALID, "perm has %d entries for rank %d", n, rank);
    for (int32_t i = 0; i < rank; i++) {
        int32_t a = 0;
        if (!nn_op__axis(p[i], rank, &a) || seen[a])
            return nn_op_error(c, NN_ERR_INVALID, "perm is not a permutation of 0..%d", rank - 1);
        seen[a] = 1;
        perm[i] = a;
    }
    return NN_OK;
}

static nn_status nn_tn__infer_transpose(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int32_t perm[NN_MAX_RANK];
    const nn_shape *is = &in[0].shape;
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = is->rank;
    if (is->rank < 0) return NN_OK;
    nn_status st = nn_tn__perm(c, is->rank, perm);
    if (st) return st;
    for (int32_t i = 0; i < is->rank; i++) out[0].shape.dims[i] = is->dims[perm[i]];
    return NN_OK;
}

/* The engine merges axes that stay adjacent ((0,2,1,3) on (B,S,H,D) copies rows of D
   elements) and tiles the swaps of a contiguous axis ((0,2,3,1) NCHW->NHWC, (1,0)). */
static nn_status nn_tn__run_transpose(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int32_t perm[NN_MAX_RANK];
    int64_t st_in[NN_MAX_RANK];
    size_t es = 0;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (!st) st = nn_tn__perm(c, in[0].shape.rank, perm);
    if (st) return st;
    nn_tn__box b;
    nn_tn__box_dense(&b, out[0].shape.rank, out[0].shape.dims, es);
    nn_tn__strides(&in[0].shape, st_in);
    for (int32_t i = 0; i < b.rank; i++) b.ss[i] = st_in[perm[i]];
    b.src = (const uint8_t *)in[0].data;
    b.dst = (uint8_t *)out[0].data;
    nn_tn__box_run(c, &b);
    return NN_OK;
}

/* ---- tensor: Concat ---- */

static nn_status nn_tn__infer_concat(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    int64_t axis = nn_node_attr_int(c->node, "axis", c->opset < 4 ? 1 : INT64_MIN);
    if (axis == INT64_MIN) return nn_op_error(c, NN_ERR_INVALID, "needs the 'axis' attribute");
    int32_t rank = NN_RANK_UNKNOWN, a;
    out[0].dtype = NN_DTYPE_UNDEFINED;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    for (uint32_t i = 0; i < n_in; i++) {
        if (in[i].dtype != NN_DTYPE_UNDEFINED && out[0].dtype != NN_DTYPE_UNDEFINED && in[i].dtype != out[0].dtype)
            return nn_op_error(c, NN_ERR_INVALID, "input %u is %s, an earlier input is %s", i, nn_dtype_name(in[i].dtype),
                               nn_dtype_name(out[0].dtype));
        if (in[i].dtype != NN_DTYPE_UNDEFINED) out[0].dtype = in[i].dtype;
        if (in[i].shape.rank < 0) continue;
        if (rank >= 0 && in[i].shape.rank != rank)
            return nn_op_error(c, NN_ERR_SHAPE, "inputs have ranks %d and %d", rank, in[i].shape.rank);
        rank = in[i].shape.rank;
    }
    if (rank < 0) return NN_OK;
    if (rank == 0 || !nn_op__axis(axis, rank, &a))
        return nn_op_error(c, NN_ERR_INVALID, "axis %lld out of range for rank %d", (long long)axis, rank);
    nn_shape *os = &out[0].shape;
    nn_tn__unknown_dims(os, rank);
    os->dims[a] = 0;
    for (uint32_t i = 0; i < n_in; i++) {
        const nn_shape *s = &in[i].shape;
        if (s->rank < 0) { os->dims[a] = NN_DIM_UNKNOWN; continue; }
        for (int32_t k = 0; k < rank; k++) {
            if (k == a) continue;
            if (s->dims[k] < 0) continue;
            if (os->dims[k] >= 0 && os->dims[k] != s->dims[k])
                return nn_op_error(c, NN_ERR_SHAPE, "input %u dim %d is %lld, expected %lld", i, k,
                                   (long long)s->dims[k], (long long)os->dims[k]);
            os->dims[k] = s->dims[k];
        }
        if (os->dims[a] >= 0) os->dims[a] = s->dims[a] < 0 ? NN_DIM_UNKNOWN : os->dims[a] + s->dims[a];
    }
    return NN_OK;
}

typedef struct {
    const nn_value *in;
    uint32_t n_in;
    const size_t *chunk;  /* bytes per outer index, per input */
    size_t row;           /* output bytes per outer index */
    uint8_t *dst;
} nn_tn__concat_job;

static void nn_tn__concat_rows(void *arg, size_t begin, size_t end) {
    const nn_tn__concat_job *j = (const nn_tn__concat_job *)arg;
    for (size_t o = begin; o < end; o++) {
        uint8_t *d = j->dst + o * j->row;
        for (uint32_t i = 0; i < j->n_in; i++) {
            if (j->chunk[i]) memcpy(d, (const uint8_t *)j->in[i].data + o * j->chunk[i], j->chunk[i]);
            d += j->chunk[i];
        }
    }
}

static nn_status nn_tn__run_concat(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    size_t es = 0;
    int32_t a = 0;
    nn_status st = nn_tn__esize(c, out[0].dtype, &es);
    if (st) return st;
    nn_op__axis(nn_node_attr_int(c->node, "axis", 1), out[0].shape.rank, &a);
    size_t *chunk = (size_t *)nn_op_scratch(c, n_in * sizeof(size_t));
    if (!chunk) return NN_ERR_NOMEM;
    size_t outer = 1, inner = es;
    for (int32_t k = 0; k < a; k++) outer *= (size_t)out[0].shape.dims[k];
    for (int32_t k = a + 1; k < out[0].shape.rank; k++) inner *= (size_t)out[0].shape.dims[k];
    nn_tn__concat_job j;
    j.in = in;
    j.n_in = n_in;
    j.chunk = chunk;
    j.row = 0;
    j.dst = (uint8_t *)out[0].data;
    for (uint32_t i = 0; i < n_in; i++) {
        chunk[i] = (size_t)in[i].shape.dims[a] * inner;
        j.row += chunk[i];
    }
    if (outer == 0 || j.row == 0) return NN_OK;
    nn_op_parallel(c, outer, j.row >= 65536 ? 1 : 65536 / j.row, nn_tn__concat_rows, &j);
    return NN_OK;
}

/* ---- tensor: Split ---- */

/* Fills sizes[n_out] for the split axis of length dim (dim may be unknown: entries
   become unknown unless given).  split: attribute before opset 13 (opset 1 also took
   it as input 1), input 1 from 13; opset 18 adds num_outputs with a smaller last part. */
static nn_status nn_tn__split_sizes(nn_op_ctx *c, const nn_value *in, uint32_t n_in, int64_t dim, int64_t *sizes,
                                    uint32_t n_out) {
    int64_t *sp = sizes;
    int n = -3;
    if (c->opset >= 13 || (c->opset < 2 && nn_tn__has(in, n_in, 1))) {
        if (nn_tn__has(in, n_in, 1)) {
            n = nn_tn__ints(&in[1], sp, (int)n_out);
            if (n == -2) return nn_op_error(c, NN_ERR_INVALID, "split must list one int64 size per output (%u)", n_out);
            if (n == -1) { for (uint32_t k = 0; k < n_out; k++) sp[k] = NN_DIM_UNKNOWN; return NN_OK; }
        }
    } else {
        n = nn_tn__attr_ints(c, "split", sp, (int)n_out);
        if (n == -2) return nn_op_error(c, NN_ERR_INVALID, "split lists more sizes than outputs (%u)", n_out);
        if (n == -1) n = -3;
    }
    if (n >= 0) {
        int64_t sum = 0;
        if ((uint32_t)n != n_out) return nn_op_error(c, NN_ERR_INVALID, "split has %d sizes for %u outputs", n, n_out);
        for (int k = 0; k < n; k++) {
            if (sp[k] < 0) return nn_op_error(c, NN_ERR_INVALID, "split[%d] = %lld", k, (long long)sp[k]);
            sum += sp[k];
        }
        if (dim >= 0 && sum != dim) return nn_op_error(c, NN_ERR_SHAPE, "split sums to %lld, axis has %lld", (long long)sum, (long long)dim);
        return NN_OK;
    }
    int64_t num = c->opset >= 18 ? nn_node_attr_int(c->node, "num_outputs", 0) : 0;
    if (num && num != (int64_t)n_out) return nn_op_error(c, NN_ERR_INVALID, "num_outputs %lld, node has %u outputs", (long long)num, n_out);
    for (uint32_t k = 0; k < n_out; k++) sp[k] = NN_DIM_UNKNOWN;
    if (dim < 0) return NN_OK;
    if (num) { /* ceil-sized parts, the last one smaller (opset 18) */
        int64_t part = (dim + num - 1) / num;
        if (part * (num - 1) > dim) return nn_op_error(c, NN_ERR_SHAPE, "cannot split %lld into %lld parts", (long long)dim, (long long)num);
        for (uint32_t k = 0; k < n_out; k++) sp[k] = k + 1 < n_out ? part : dim - part * (num - 1);
        return NN_OK;
    }
    if (dim % (int64_t)n_out) return nn_op_error(c, NN_ERR_SHAPE, "axis of %lld does not split evenly into %u", (long long)dim, n_out);
    for (uint32_t k = 0; k < n_out; k++) sp[k] = dim / (int64_t)n_out;
    return NN_OK;
}

static nn_status nn_tn__split_axis(nn_op_ctx *c, const nn_shape *is, int32_t *a) {
    int64_t axis = nn_node_attr_int(c->node, "axis", 0);
    if (is->rank == 0 || !nn_op__axis(axis, is->rank, a))
        return nn_op_error(c, NN_ERR_INVALID, "axis %lld out of range", (long long)axis);
    return NN_OK;
}

static nn_status nn_tn__infer_split(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_shape *is = &in[0].shape;
    int32_t a = 0;
    for (uint32_t k = 0; k < n_out; k++) { out[k].dtype = in[0].dtype; out[k].shape = *is; }
    if (is->rank < 0) return NN_OK;
    nn_status st = nn_tn__split_axis(c, is, &a);
    if (st) return st;
    int64_t *sizes = (int64_t *)nn_op_scratch(c, n_out * sizeof(int64_t));
    if (!sizes) return NN_ERR_NOMEM;
    st = nn_tn__split_sizes(c, in, n_in, is->dims[a], sizes, n_out);
    for (uint32_t k = 0; k < n_out && !st; k++) out[k].shape.dims[a] = sizes[k];
    return st;
}

static nn_status nn_tn__run_split(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in;
    size_t es = 0;
    int32_t a = 0;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (!st) st = nn_tn__split_axis(c, &in[0].shape, &a);
    if (st) return st;
    size_t outer = 1, inner = es, row = (size_t)in[0].shape.dims[a];
    for (int32_t k = 0; k < a; k++) outer *= (size_t)in[0].shape.dims[k];
    for (int32_t k = a + 1; k < in[0].shape.rank; k++) inner *= (size_t)in[0].shape.dims[k];
    row *= inner;
    size_t off = 0;
    for (uint32_t k = 0; k < n_out; k++) {
        size_t chunk = (size_t)out[k].shape.dims[a] * inner;
        if (out[k].data && chunk) {
            nn_tn__box b;
            memset(&b, 0, sizeof b);
            b.rank = 2;
            b.es = 1;
            b.dims[0] = (int64_t)outer; b.dims[1] = (int64_t)chunk;
            b.ss[0] = (int64_t)row; b.ss[1] = 1;
            b.ds[0] = (int64_t)chunk; b.ds[1] = 1;
            b.src = (const uint8_t *)in[0].data + off;
            b.dst = (uint8_t *)out[k].data;
            nn_tn__box_run(c, &b);
        }
        off += chunk;
    }
    return NN_OK;
}

/* ---- tensor: Slice ---- */

/* ONNX Slice clamping: negative starts/ends count from the end; then for step > 0
   start and end clamp to [0, dim]; for step < 0 start clamps to [0, dim-1] and end to
   [-1, dim-1].  Returns the element count along the axis and updates *start. */
static int64_t nn_tn__slice_len(int64_t dim, int64_t *start, int64_t end, int64_t step) {
    int64_t s = *start, e = end;
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (step > 0) {
        s = s < 0 ? 0 : (s > dim ? dim : s);
        e = e < 0 ? 0 : (e > dim ? dim : e);
        *start = s;
        return e > s ? (e - s - 1) / step + 1 : 0;
    }
    s = s < 0 ? 0 : (s > dim - 1 ? dim - 1 : s);
    e = e < -1 ? -1 : (e > dim - 1 ? dim - 1 : e);
    *start = s;
    if (step == INT64_MIN) step = -INT64_MAX; /* same count, and negation stays defined */
    return s > e ? (s - e - 1) / -step + 1 : 0;
}

/* Per-axis (start, step, len) of a Slice over shape is.  Returns 1 when complete,
   0 when some input is not known yet (out_axis_unknown marks axes whose length is
   unknown; all when the axes themselves are unknown). */
typedef struct {
    int64_t start[NN_MAX_RANK], step[NN_MAX_RANK], len[NN_MAX_RANK];
    int unknown[NN_MAX_RANK];
} nn_tn__slice_plan;

static nn_status nn_tn__slice_params(nn_op_ctx *c, const nn_value *in, uint32_t n_in, const nn_shape *is,
                                     nn_tn__slice_plan *p, int *complete) {
    int64_t starts[NN_MAX_RANK], ends[NN_MAX_RANK], axes[NN_MAX_RANK], steps[NN_MAX_RANK];
    int ns, ne, na = -3, nst = -3;
    int32_t r = is->rank;
    *complete = 0;
    for (int32_t i = 0; i < r; i++) { p->start[i] = 0; p->step[i] = 1; p->len[i] = is->dims[i]; p->unknown[i] = 0; }
    if (c->opset < 10) {
        ns = nn_tn__attr_ints(c, "starts", starts, NN_MAX_RANK);
        ne = nn_tn__attr_ints(c, "ends", ends, NN_MAX_RANK);
        na = nn_tn__attr_ints(c, "axes", axes, NN_MAX_RANK);
        if (ns < 0 || ne < 0) return nn_op_error(c, NN_ERR_INVALID, "needs 'starts' and 'ends' of at most %d values", NN_MAX_RANK);
        if (na == -2) return nn_op_error(c, NN_ERR_INVALID, "too many axes");
        if (na == -1) na = -3;
    } else {
        if (!nn_tn__has(in, n_in, 1) || !nn_tn__has(in, n_in, 2)) return nn_op_error(c, NN_ERR_INVALID, "needs starts and ends");
        ns = nn_tn__ints(&in[1], starts, NN_MAX_RANK);
        ne = nn_tn__ints(&in[2], ends, NN_MAX_RANK);
        if (nn_tn__has(in, n_in, 3)) na = nn_tn__ints(&in[3], axes, NN_MAX_RANK);
        if (nn_tn__has(in, n_in, 4)) nst = nn_tn__ints(&in[4], steps, NN_MAX_RANK);
        if (ns == -2 || ne == -2 || na == -2 || nst == -2)
            return nn_op_error(c, NN_ERR_INVALID, "starts/ends/axes/steps must be int lists of at most %d values", NN_MAX_RANK);
    }
    if (na == -1 || (na == -3 && ns < 0)) { /* which axes is unknown */
        for (int32_t i = 0; i < r; i++) { p->unknown[i] = 1; p->len[i] = NN_DIM_UNKNOWN; }
        return NN_OK;
    }
    int count = na >= 0 ? na : ns;
    if (na == -3) for (int k = 0; k < count; k++) axes[k] = k;
    int seen[NN_MAX_RANK] = {0};
    int32_t ax[NN_MAX_RANK];
    for (int k = 0; k < count; k++) {
        if (!nn_op__axis(axes[k], r, &ax[k]) || r == 0) return nn_op_error(c, NN_ERR_INVALID, "axis %lld out of range", (long long)axes[k]);
        if (seen[ax[k]]) return nn_op_error(c, NN_ERR_INVALID, "axis %lld repeated", (long long)axes[k]);
        seen[ax[k]] = 1;
    }
    if (ns < 0 || ne < 0 || nst == -1) {
        for (int k = 0; k < count; k++) { p->unknown[ax[k]] = 1; p->len[ax[k]] = NN_DIM_UNKNOWN; }
        return NN_OK;
    }
    if (ns != count || ne != count || (nst >= 0 && nst != count))
        return nn_op_error(c, NN_ERR_INVALID, "starts, ends, axes and steps differ in length");
    *complete = 1;
    for (int k = 0; k < count; k++) {
        int64_t step = nst >= 0 ? steps[k] : 1, dim = is->dims[ax[k]];
        if (step == 0) return nn_op_error(c, NN_ERR_INVALID, "step 0 on axis %d", ax[k]);
        p->step[ax[k]] = step;
        if (dim < 0) { p->unknown[ax[k]] = 1; p->len[ax[k]] = NN_DIM_UNKNOWN; *complete = 0; continue; }
        p->start[ax[k]] = starts[k];
        p->len[ax[k]] = nn_tn__slice_len(dim, &p->start[ax[k]], ends[k], step);
    }
    return NN_OK;
}

static nn_status nn_tn__infer_slice(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    nn_tn__slice_plan p;
    int complete;
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = in[0].shape.rank;
    if (in[0].shape.rank < 0) return NN_OK;
    nn_status st = nn_tn__slice_params(c, in, n_in, &in[0].shape, &p, &complete);
    for (int32_t i = 0; i < in[0].shape.rank; i++) out[0].shape.dims[i] = p.len[i];
    return st;
}

static nn_status nn_tn__run_slice(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    nn_tn__slice_plan p;
    int complete;
    int64_t st_in[NN_MAX_RANK], off = 0;
    size_t es = 0;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (!st) st = nn_tn__slice_params(c, in, n_in, &in[0].shape, &p, &complete);
    if (st) return st;
    if (!complete) return nn_op_error(c, NN_ERR_INVALID, "slice parameters are not known");
    nn_tn__box b;
    nn_tn__box_dense(&b, out[0].shape.rank, out[0].shape.dims, es);
    nn_tn__strides(&in[0].shape, st_in);
    for (int32_t i = 0; i < b.rank; i++) {
        if (p.len[i] == 0) return NN_OK;
        off += p.start[i] * st_in[i];
        b.ss[i] = p.step[i] * st_in[i];
    }
    b.src = (const uint8_t *)in[0].data + off * (int64_t)es;
    b.dst = (uint8_t *)out[0].data;
    nn_tn__box_run(c, &b);
    return NN_OK;
}

/* ---- tensor: Gather, GatherElements, GatherND ---- */

/* Reads index i of an int32/int64 tensor, wraps a negative value once against dim and
   checks the range.  Returns 0 when out of range. */
static int nn_tn__index(const nn_value *v, size_t i, int64_t dim, int64_t *out) {
    int64_t x = nn_op__int_at(v, i);
    if (x < 0) x += dim;
    if (x < 0 || x >= dim) return 0;
    *out = x;
    return 1;
}

static nn_status nn_tn__check_index_type(nn_op_ctx *c, const nn_value *v) {
    if (v->dtype != NN_DTYPE_INT32 && v->dtype != NN_DTYPE_INT64 && v->dtype != NN_DTYPE_UNDEFINED)
        return nn_op_error(c, NN_ERR_INVALID, "indices must be int32 or int64, got %s", nn_dtype_name(v->dtype));
    return NN_OK;
}

static nn_status nn_tn__infer_gather(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const nn_shape *ds = &in[0].shape, *is = &in[1].shape;
    int32_t a = 0;
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    nn_status st = nn_tn__check_index_type(c, &in[1]);
    if (st || ds->rank < 0 || is->rank < 0) return st;
    if (ds->rank == 0 || !nn_op__axis(nn_node_attr_int(c->node, "axis", 0), ds->rank, &a))
        return nn_op_error(c, NN_ERR_INVALID, "axis out of range for rank %d", ds->rank);
    int32_t r = ds->rank - 1 + is->rank, k = 0;
    if (r > NN_MAX_RANK) return nn_op_error(c, NN_ERR_LIMIT, "output rank %d above %d", r, NN_MAX_RANK);
    for (int32_t i = 0; i < a; i++) out[0].shape.dims[k++] = ds->dims[i];
    for (int32_t i = 0; i < is->rank; i++) out[0].shape.dims[k++] = is->dims[i];
    for (int32_t i = a + 1; i < ds->rank; i++) out[0].shape.dims[k++] = ds->dims[i];
    out[0].shape.rank = r;
    return NN_OK;
}

typedef struct {
    const uint8_t *src;
    uint8_t *dst;
    const int64_t *idx;   /* checked, non-negative */
    size_t n_idx, axis_dim, inner; /* inner in bytes */
} nn_tn__gather_job;

static void nn_tn__gather_rows(void *arg, size_t begin, size_t end) {
    const nn_tn__gather_job *j = (const nn_tn__gather_job *)arg;
    size_t inner = j->inner;
    size_t o = begin / j->n_idx, k = begin % j->n_idx; /* no division per element */
    for (size_t it = begin; it < end; it++, k = k + 1 == j->n_idx ? (o++, 0) : k + 1) {
        const uint8_t *s = j->src + (o * j->axis_dim + (size_t)j->idx[k]) * inner;
        uint8_t *d = j->dst + it * inner;
        switch (inner) { /* constant sizes become single moves */
        case 1: *d = *s; break;
        case 2: memcpy(d, s, 2); break;
        case 4: memcpy(d, s, 4); break;
        case 8: memcpy(d, s, 8); break;
        default: memcpy(d, s, inner); break;
        }
    }
}

static nn_status nn_tn__run_gather(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    size_t es = 0;
    int32_t a = 0;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (st) return st;
    nn_op__axis(nn_node_attr_int(c->node, "axis", 0), in[0].shape.rank, &a);
    size_t n_idx = nn_value_count(&in[1]), outer = 1, inner = es;
    int64_t dim = in[0].shape.dims[a];
    for (int32_t i = 0; i < a; i++) outer *= (size_t)in[0].shape.dims[i];
    for (int32_t i = a + 1; i < in[0].shape.rank; i++) inner *= (size_t)in[0].shape.dims[i];
    int64_t *idx = (int64_t *)nn_op_scratch(c, (n_idx + 1) * sizeof(int64_t));
    if (!idx) return NN_ERR_NOMEM;
    for (size_t i = 0; i < n_idx; i++)
        if (!nn_tn__index(&in[1], i, dim, &idx[i]))
            return nn_op_error(c, NN_ERR_INVALID, "index %lld out of range for axis of %lld",
                               (long long)nn_op__int_at(&in[1], i), (long long)dim);
    if (outer == 0 || n_idx == 0 || inner == 0) return NN_OK;
    nn_tn__gather_job j;
    j.src = (const uint8_t *)in[0].data;
    j.dst = (uint8_t *)out[0].data;
    j.idx = idx;
    j.n_idx = n_idx;
    j.axis_dim = (size_t)dim;
    j.inner = inner;
    nn_op_parallel(c, outer * n_idx, inner >= 16384 ? 1 : 16384 / inner, nn_tn__gather_rows, &j);
    return NN_OK;
}

/* GatherElements / ScatterElements share the shape rules: data and indices have one
   rank; indices may be smaller than data on every axis but `axis`. */
static nn_status nn_tn__elements_check(nn_op_ctx *c, const nn_shape *ds, const nn_shape *is, int32_t *a) {
    int64_t axis = nn_node_attr_int(c->node, "axis", 0);
    if (ds->rank < 0 || is->rank < 0) { *a = -1; return NN_OK; }
    if (ds->rank != is->rank) return nn_op_error(c, NN_ERR_SHAPE, "data rank %d, indices rank %d", ds->rank, is->rank);
    if (ds->rank == 0 || !nn_op__axis(axis, ds->rank, a)) return nn_op_error(c, NN_ERR_INVALID, "axis %lld out of range", (long long)axis);
    for (int32_t i = 0; i < ds->rank; i++)
        if (i != *a && ds->dims[i] >= 0 && is->dims[i] > ds->dims[i])
            return nn_op_error(c, NN_ERR_SHAPE, "indices dim %d (%lld) exceeds data (%lld)", i, (long long)is->dims[i],
                               (long long)ds->dims[i]);
    return NN_OK;
}

static nn_status nn_tn__infer_gather_elements(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int32_t a = 0;
    out[0].dtype = in[0].dtype;
    out[0].shape = in[1].shape;
    nn_status st = nn_tn__check_index_type(c, &in[1]);
    return st ? st : nn_tn__elements_check(c, &in[0].shape, &in[1].shape, &a);
}

/* Visits every element of the index tensor `is` and gives, for each, the element
   offset of the same position in a tensor of strides dst_st with axis a replaced by
   the index value.  Used by GatherElements and ScatterElements. */
typedef nn_status (*nn_tn__elem_fn)(void *arg, size_t i, int64_t data_off);

static nn_status nn_tn__walk_elements(nn_op_ctx *c, const nn_value *idx, const nn_shape *ds, int32_t a,
                                      nn_tn__elem_fn fn, void *arg) {
    int64_t pos[NN_MAX_RANK] = {0}, dst_st[NN_MAX_RANK];
    const nn_shape *is = &idx->shape;
    size_t n = nn_value_count(idx);
    nn_tn__strides(ds, dst_st);
    for (size_t i = 0; i < n; i++) {
        int64_t v, off = 0;
        if (!nn_tn__index(idx, i, ds->dims[a], &v))
            return nn_op_error(c, NN_ERR_INVALID, "index %lld out of range for axis of %lld", (long long)nn_op__int_at(idx, i),
                               (long long)ds->dims[a]);
        for (int32_t k = 0; k < is->rank; k++) off += (k == a ? v : pos[k]) * dst_st[k];
        nn_status st = fn(arg, i, off);
        if (st) return st;
        for (int32_t k = is->rank - 1; k >= 0; k--) {
            if (++pos[k] < is->dims[k]) break;
            pos[k] = 0;
        }
    }
    return NN_OK;
}

typedef struct { const uint8_t *src; uint8_t *dst; size_t es; } nn_tn__ge_arg;

static nn_status nn_tn__ge_one(void *arg, size_t i, int64_t off) {
    const nn_tn__ge_arg *g = (const nn_tn__ge_arg *)arg;
    memcpy(g->dst + i * g->es, g->src + (size_t)off * g->es, g->es);
    return NN_OK;
}

static nn_status nn_tn__run_gather_elements(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int32_t a = 0;
    nn_tn__ge_arg g;
    memset(&g, 0, sizeof g);
    nn_status st = nn_tn__esize(c, in[0].dtype, &g.es);
    if (!st) st = nn_tn__elements_check(c, &in[0].shape, &in[1].shape, &a);
    if (st) return st;
    g.src = (const uint8_t *)in[0].data;
    g.dst = (uint8_t *)out[0].data;
    return nn_tn__walk_elements(c, &in[1], &in[0].shape, a, nn_tn__ge_one, &g);
}

/* GatherND (opset 11; batch_dims from 12): indices (b..., m..., k) pick slices of
   data (b..., d_b..d_{b+k-1}, rest...); output (b..., m..., rest...). */
static nn_status nn_tn__infer_gather_nd(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const nn_shape *ds = &in[0].shape, *is = &in[1].shape;
    int64_t b = nn_node_attr_int(c->node, "batch_dims", 0);
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    nn_status st = nn_tn__check_index_type(c, &in[1]);
    if (st || ds->rank < 0 || is->rank < 0) return st;
    if (is->rank < 1 || b < 0 || b >= is->rank || b >= ds->rank)
        return nn_op_error(c, NN_ERR_INVALID, "batch_dims %lld invalid for ranks %d and %d", (long long)b, ds->rank, is->rank);
    int64_t k = is->dims[is->rank - 1];
    if (k < 0) return NN_OK;
    if (k < 1 || k > ds->rank - b) return nn_op_error(c, NN_ERR_INVALID, "index tuples of %lld for data rank %d", (long long)k, ds->rank);
    int64_t r = is->rank - 1 + ds->rank - k - b;
    if (r > NN_MAX_RANK) return nn_op_error(c, NN_ERR_LIMIT, "output rank above %d", NN_MAX_RANK);
    int32_t j = 0;
    for (int32_t i = 0; i < b; i++) {
        if (ds->dims[i] >= 0 && is->dims[i] >= 0 && ds->dims[i] != is->dims[i])
            return nn_op_error(c, NN_ERR_SHAPE, "batch dim %d differs (%lld vs %lld)", i, (long long)ds->dims[i], (long long)is->dims[i]);
        out[0].shape.dims[j++] = is->dims[i] >= 0 ? is->dims[i] : ds->dims[i];
    }
    for (int32_t i = (int32_t)b; i < is->rank - 1; i++) out[0].shape.dims[j++] = is->dims[i];
    for (int32_t i = (int32_t)(b + k); i < ds->rank; i++) out[0].shape.dims[j++] = ds->dims[i];
    out[0].shape.rank = (int32_t)r;
    return NN_OK;
}

/* Element offset of the slice addressed by tuple t (k entries of idx starting at
   element t*k) within one batch of data; 0 when an index is out of range. */
static int nn_tn__nd_offset(const nn_value *idx, size_t t, int64_t k, const nn_shape *ds, int32_t first,
                            const int64_t *st, int64_t *off) {
    int64_t o = 0;
    for (int64_t j = 0; j < k; j++) {
        int64_t v;
        if (!nn_tn__index(idx, t * (size_t)k + (size_t)j, ds->dims[first + j], &v)) return 0;
        o += v * st[first + j];
    }
    *off = o;
    return 1;
}

static nn_status nn_tn__run_gather_nd(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const nn_shape *ds = &in[0].shape, *is = &in[1].shape;
    int32_t b = (int32_t)nn_node_attr_int(c->node, "batch_dims", 0);
    int64_t k = is->dims[is->rank - 1], st_d[NN_MAX_RANK];
    size_t es = 0, batches = 1, per_batch = 1, slice = 1;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (st) return st;
    nn_tn__strides(ds, st_d);
    for (int32_t i = 0; i < b; i++) batches *= (size_t)ds->dims[i];
    for (int32_t i = b; i < is->rank - 1; i++) per_batch *= (size_t)is->dims[i];
    for (int32_t i = b + (int32_t)k; i < ds->rank; i++) slice *= (size_t)ds->dims[i];
    size_t data_batch = b > 0 ? (size_t)st_d[b - 1] : 0;
    const uint8_t *src = (const uint8_t *)in[0].data;
    uint8_t *dst = (uint8_t *)out[0].data;
    for (size_t bt = 0; bt < batches; bt++)
        for (size_t t = 0; t < per_batch; t++) {
            int64_t off;
            if (!nn_tn__nd_offset(&in[1], bt * per_batch + t, k, ds, b, st_d, &off))
                return nn_op_error(c, NN_ERR_INVALID, "an index of tuple %zu is out of range", bt * per_batch + t);
            memcpy(dst, src + (bt * data_batch + (size_t)off) * es, slice * es);
            dst += slice * es;
        }
    return NN_OK;
}

/* ---- tensor: Scatter, ScatterElements, ScatterND ---- */

enum { NN_TN__RED_NONE, NN_TN__RED_ADD, NN_TN__RED_MUL, NN_TN__RED_MAX, NN_TN__RED_MIN };

/* reduction: opset 16 adds none/add/mul, opset 18 max/min. */
static nn_status nn_tn__reduction(nn_op_ctx *c, int *red) {
    const char *s = nn_node_attr_string(c->node, "reduction", "none");
    if (strcmp(s, "none") == 0) *red = NN_TN__RED_NONE;
    else if (strcmp(s, "add") == 0) *red = NN_TN__RED_ADD;
    else if (strcmp(s, "mul") == 0) *red = NN_TN__RED_MUL;
    else if (strcmp(s, "max") == 0) *red = NN_TN__RED_MAX;
    else if (strcmp(s, "min") == 0) *red = NN_TN__RED_MIN;
    else return nn_op_error(c, NN_ERR_UNSUPPORTED, "reduction '%s' is not supported", s);
    return NN_OK;
}

/* Integer add/mul wrap (done in uint64 so signed overflow stays defined). */
#define NN_TN__REDUCE_INT(T)                                                        \
    do {                                                                            \
        T x_, y_;                                                                   \
        memcpy(&x_, d, sizeof x_);                                                  \
        memcpy(&y_, s, sizeof y_);                                                  \
        if (red == NN_TN__RED_ADD) x_ = (T)((uint64_t)x_ + (uint64_t)y_);          \
        else if (red == NN_TN__RED_MUL) x_ = (T)((uint64_t)x_ * (uint64_t)y_);     \
        else if (red == NN_TN__RED_MAX) x_ = y_ > x_ ? y_ : x_;                     \
        else x_ = y_ < x_ ? y_ : x_;                                                \
        memcpy(d, &x_, sizeof x_);                                                  \
    } while (0)

#define NN_TN__REDUCE_FLT(T)                                                        \
    do {                                                                            \
        T x_, y_;                                                                   \
        memcpy(&x_, d, sizeof x_);                                                  \
        memcpy(&y_, s, sizeof y_);                                                  \
        if (red == NN_TN__RED_ADD) x_ = x_ + y_;                                    \
        else if (red == NN_TN__RED_MUL) x_ = x_ * y_;                               \
        else if (red == NN_TN__RED_MAX) x_ = y_ > x_ ? y_ : x_;                     \
        else x_ = y_ < x_ ? y_ : x_;                                                \
        memcpy(d, &x_, sizeof x_);                                                  \
    } while (0)

/* d = d (op) s for one element of type t; red != NONE.  0 when t is unsupported. */
static int nn_tn__reduce_one(uint8_t *d, const uint8_t *s, nn_dtype t, int red) {
    switch (t) {
    case NN_DTYPE_FLOAT: NN_TN__REDUCE_FLT(float); return 1;
    case NN_DTYPE_DOUBLE: NN_TN__REDUCE_FLT(double); return 1;
    case NN_DTYPE_INT8: NN_TN__REDUCE_INT(int8_t); return 1;
    case NN_DTYPE_UINT8: NN_TN__REDUCE_INT(uint8_t); return 1;
    case NN_DTYPE_INT16: NN_TN__REDUCE_INT(int16_t); return 1;
    case NN_DTYPE_UINT16: NN_TN__REDUCE_INT(uint16_t); return 1;
    case NN_DTYPE_INT32: NN_TN__REDUCE_INT(int32_t); return 1;
    case NN_DTYPE_UINT32: NN_TN__REDUCE_INT(uint32_t); return 1;
    case NN_DTYPE_INT64: NN_TN__REDUCE_INT(int64_t); return 1;
    case NN_DTYPE_UINT64: NN_TN__REDUCE_INT(uint64_t); return 1;
    case NN_DTYPE_BOOL: { /* add/max = or, mul/min = and */
        int x = *d != 0, y = *s != 0;
        *d = (uint8_t)(red == NN_TN__RED_ADD || red == NN_TN__RED_MAX ? (x | y) : (x & y));
        return 1;
    }
    case NN_DTYPE_FLOAT16: case NN_DTYPE_BFLOAT16: {
        float x = (float)nn_op__load(d, t, 0), y = (float)nn_op__load(s, t, 0);
        if (red == NN_TN__RED_ADD) x = x + y;
        else if (red == NN_TN__RED_MUL) x = x * y;
        else if (red == NN_TN__RED_MAX) x = y > x ? y : x;
        else x = y < x ? y : x;
        nn_op__store(d, t, 0, x);
        return 1;
    }
    default: return 0;
    }
}

static nn_status nn_tn__check_reducible(nn_op_ctx *c, nn_dtype t, int red) {
    uint8_t a[16] = {0}, b[16] = {0};
    if (red != NN_TN__RED_NONE && t != NN_DTYPE_UNDEFINED && !nn_tn__reduce_one(a, b, t, red))
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "reduction on %s data is not supported", nn_dtype_name(t));
    return NN_OK;
}

static nn_status nn_tn__infer_scatter_elements(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int32_t a = 0;
    int red;
    out[0].dtype = in[0].dtype;
    out[0].shape = in[0].shape;
    nn_status st = nn_tn__check_index_type(c, &in[1]);
    if (!st) st = nn_tn__reduction(c, &red);
    if (!st) st = nn_tn__check_reducible(c, in[0].dtype, red);
    if (!st) st = nn_tn__elements_check(c, &in[0].shape, &in[1].shape, &a);
    if (!st && in[1].shape.rank >= 0 && in[2].shape.rank >= 0 && !nn_shape_equal(&in[1].shape, &in[2].shape) &&
        nn_shape_is_static(&in[1].shape) && nn_shape_is_static(&in[2].shape))
        st = nn_op_error(c, NN_ERR_SHAPE, "indices and updates differ in shape");
    return st;
}

typedef struct { const uint8_t *upd; uint8_t *dst; size_t es; nn_dtype t; int red; } nn_tn__se_arg;

static nn_status nn_tn__se_one(void *arg, size_t i, int64_t off) {
    const nn_tn__se_arg *s = (const nn_tn__se_arg *)arg;
    uint8_t *d = s->dst + (size_t)off * s->es;
    if (s->red == NN_TN__RED_NONE) memcpy(d, s->upd + i * s->es, s->es);
    else nn_tn__reduce_one(d, s->upd + i * s->es, s->t, s->red);
    return NN_OK;
}

/* Updates apply in index order, so with reduction 'none' a repeated index keeps the
   last update (ONNX leaves that case undefined). */
static nn_status nn_tn__run_scatter_elements(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int32_t a = 0;
    nn_tn__se_arg s;
    memset(&s, 0, sizeof s);
    nn_status st = nn_tn__esize(c, in[0].dtype, &s.es);
    if (!st) st = nn_tn__reduction(c, &s.red);
    if (!st) st = nn_tn__elements_check(c, &in[0].shape, &in[1].shape, &a);
    if (st) return st;
    if (!nn_shape_equal(&in[1].shape, &in[2].shape)) return nn_op_error(c, NN_ERR_SHAPE, "indices and updates differ in shape");
    if (in[0].bytes && out[0].data != in[0].data) memcpy(out[0].data, in[0].data, in[0].bytes);
    s.upd = (const uint8_t *)in[2].data;
    s.dst = (uint8_t *)out[0].data;
    s.t = in[0].dtype;
    return nn_tn__walk_elements(c, &in[1], &in[0].shape, a, nn_tn__se_one, &s);
}

static nn_status nn_tn__infer_scatter_nd(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int red;
    const nn_shape *ds = &in[0].shape, *is = &in[1].shape, *us = &in[2].shape;
    out[0].dtype = in[0].dtype;
    out[0].shape = in[0].shape;
    nn_status st = nn_tn__check_index_type(c, &in[1]);
    if (!st) st = nn_tn__reduction(c, &red);
    if (!st) st = nn_tn__check_reducible(c, in[0].dtype, red);
    if (st || ds->rank < 0 || is->rank < 0) return st;
    if (is->rank < 1) return nn_op_error(c, NN_ERR_INVALID, "indices must have rank >= 1");
    int64_t k = is->dims[is->rank - 1];
    if (k < 0) return NN_OK;
    if (k > ds->rank) return nn_op_error(c, NN_ERR_INVALID, "index tuples of %lld for data rank %d", (long long)k, ds->rank);
    if (us->rank >= 0 && us->rank != is->rank - 1 + ds->rank - k)
        return nn_op_error(c, NN_ERR_SHAPE, "updates rank %d, expected %lld", us->rank, (long long)(is->rank - 1 + ds->rank - k));
    return NN_OK;
}

static nn_status nn_tn__run_scatter_nd(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const nn_shape *ds = &in[0].shape, *is = &in[1].shape, *us = &in[2].shape;
    int64_t k = is->dims[is->rank - 1], st_d[NN_MAX_RANK];
    size_t es = 0, tuples = 1, slice = 1;
    int red;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (!st) st = nn_tn__reduction(c, &red);
    if (st) return st;
    for (int32_t i = 0; i < is->rank - 1; i++) {
        if (us->dims[i] != is->dims[i]) return nn_op_error(c, NN_ERR_SHAPE, "updates dim %d differs from indices", i);
        tuples *= (size_t)is->dims[i];
    }
    for (int32_t i = (int32_t)k; i < ds->rank; i++) {
        if (us->dims[is->rank - 1 + i - k] != ds->dims[i]) return nn_op_error(c, NN_ERR_SHAPE, "updates dims differ from data");
        slice *= (size_t)ds->dims[i];
    }
    nn_tn__strides(ds, st_d);
    if (in[0].bytes && out[0].data != in[0].data) memcpy(out[0].data, in[0].data, in[0].bytes);
    const uint8_t *upd = (const uint8_t *)in[2].data;
    uint8_t *dst = (uint8_t *)out[0].data;
    for (size_t t = 0; t < tuples; t++) {
        int64_t off;
        if (!nn_tn__nd_offset(&in[1], t, k, ds, 0, st_d, &off))
            return nn_op_error(c, NN_ERR_INVALID, "an index of tuple %zu is out of range", t);
        uint8_t *d = dst + (size_t)off * es;
        const uint8_t *s = upd + t * slice * es;
        if (red == NN_TN__RED_NONE) memcpy(d, s, slice * es);
        else for (size_t e = 0; e < slice; e++) nn_tn__reduce_one(d + e * es, s + e * es, in[0].dtype, red);
    }
    return NN_OK;
}

/* ---- tensor: Expand, Tile ---- */

static nn_status nn_tn__infer_expand(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int64_t shp[NN_MAX_RANK];
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    int n = nn_tn__ints(&in[1], shp, NN_MAX_RANK);
    if (n == -2) return nn_op_error(c, NN_ERR_INVALID, "shape must be an int64 list of at most %d values", NN_MAX_RANK);
    if (n == -1) {
        const nn_shape *ss = &in[1].shape;
        if (in[0].shape.rank >= 0 && ss->rank == 1 && ss->dims[0] >= 0 && ss->dims[0] <= NN_MAX_RANK)
            nn_tn__unknown_dims(&out[0].shape, in[0].shape.rank > ss->dims[0] ? in[0].shape.rank : (int32_t)ss->dims[0]);
        return NN_OK;
    }
    for (int i = 0; i < n; i++)
        if (shp[i] < 0) return nn_op_error(c, NN_ERR_INVALID, "shape[%d] = %lld", i, (long long)shp[i]);
    nn_shape target = nn_shape_make(n, shp);
    if (!nn_op__broadcast(&in[0].shape, &target, &out[0].shape))
        return nn_op_error(c, NN_ERR_SHAPE, "input does not broadcast to the shape");
    return NN_OK;
}

static nn_status nn_tn__run_expand(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    size_t es = 0;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (st) return st;
    nn_tn__box b;
    nn_tn__box_dense(&b, out[0].shape.rank, out[0].shape.dims, es);
    nn_op__bcast_strides(&in[0].shape, &out[0].shape, b.ss);
    b.src = (const uint8_t *)in[0].data;
    b.dst = (uint8_t *)out[0].data;
    nn_tn__box_run(c, &b);
    return NN_OK;
}

/* Tile repeats: input 1 from opset 6; opset 1 took (tiles, axis) scalars. */
static nn_status nn_tn__tile_repeats(nn_op_ctx *c, const nn_value *in, uint32_t n_in, int32_t rank, int64_t *rep, int *known) {
    int64_t v[NN_MAX_RANK], ax[1];
    *known = 0;
    for (int32_t i = 0; i < rank; i++) rep[i] = 1;
    if (c->opset < 6) {
        if (!nn_tn__has(in, n_in, 2)) return nn_op_error(c, NN_ERR_INVALID, "opset %lld Tile needs tiles and axis", (long long)c->opset);
        int n = nn_tn__ints(&in[1], v, 1), m = nn_tn__ints(&in[2], ax, 1);
        if (n == -2 || m == -2) return nn_op_error(c, NN_ERR_INVALID, "tiles and axis must be int scalars");
        if (n < 0 || m < 0) return NN_OK;
        int32_t a = 0;
        if (n != 1 || m != 1 || !nn_op__axis(ax[0], rank, &a)) return nn_op_error(c, NN_ERR_INVALID, "bad tiles/axis");
        rep[a] = v[0];
    } else {
        int n = nn_tn__ints(&in[1], v, NN_MAX_RANK);
        if (n == -2) return nn_op_error(c, NN_ERR_INVALID, "repeats must be an int64 list of at most %d values", NN_MAX_RANK);
        if (n == -1) return NN_OK;
        if (n != rank) return nn_op_error(c, NN_ERR_INVALID, "repeats has %d values for rank %d", n, rank);
        for (int32_t i = 0; i < rank; i++) rep[i] = v[i];
    }
    for (int32_t i = 0; i < rank; i++)
        if (rep[i] < 0) return nn_op_error(c, NN_ERR_INVALID, "repeats[%d] = %lld", i, (long long)rep[i]);
    *known = 1;
    return NN_OK;
}

static nn_status nn_tn__infer_tile(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    int64_t rep[NN_MAX_RANK];
    int known;
    const nn_shape *is = &in[0].shape;
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = is->rank;
    if (is->rank < 0) return NN_OK;
    nn_status st = nn_tn__tile_repeats(c, in, n_in, is->rank, rep, &known);
    for (int32_t i = 0; i < is->rank; i++) {
        int64_t d = is->dims[i];
        if (!known || d < 0) { out[0].shape.dims[i] = NN_DIM_UNKNOWN; continue; }
        if (d && rep[i] > INT64_MAX / d) return nn_op_error(c, NN_ERR_LIMIT, "tiled size overflows");
        out[0].shape.dims[i] = d * rep[i];
    }
    return st;
}

/* The output viewed as (rep0, d0, rep1, d1, ...) reads the input with stride 0 over
   every rep axis: one engine box. */
static nn_status nn_tn__run_tile(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    int64_t rep[NN_MAX_RANK] = {0}, st_in[NN_MAX_RANK] = {0}, dims[NN_TN__MAX_DIMS] = {0};
    int known;
    size_t es = 0;
    const nn_shape *is = &in[0].shape;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (!st) st = nn_tn__tile_repeats(c, in, n_in, is->rank, rep, &known);
    if (st) return st;
    nn_tn__strides(is, st_in);
    for (int32_t i = 0; i < is->rank; i++) { dims[2 * i] = rep[i]; dims[2 * i + 1] = is->dims[i]; }
    nn_tn__box b;
    nn_tn__box_dense(&b, 2 * is->rank, dims, es);
    for (int32_t i = 0; i < is->rank; i++) { b.ss[2 * i] = 0; b.ss[2 * i + 1] = st_in[i]; }
    b.src = (const uint8_t *)in[0].data;
    b.dst = (uint8_t *)out[0].data;
    nn_tn__box_run(c, &b);
    return NN_OK;
}

/* ---- tensor: Shape, Size ---- */

/* Shape's [start, end) window (opset 15): negative values count from the back, both
   clamp to [0, rank]. */
static void nn_tn__shape_window(nn_op_ctx *c, int32_t rank, int64_t *s, int64_t *e) {
    *s = c->opset >= 15 ? nn_node_attr_int(c->node, "start", 0) : 0;
    *e = c->opset >= 15 ? nn_node_attr_int(c->node, "end", rank) : rank;
    if (*s < 0) *s += rank;
    if (*e < 0) *e += rank;
    *s = *s < 0 ? 0 : (*s > rank ? rank : *s);
    *e = *e < 0 ? 0 : (*e > rank ? rank : *e);
    if (*e < *s) *e = *s;
}

/* The dims are known from the input's shape alone, so infer materializes them: this
   is what lets Shape -> Gather -> Concat -> Reshape chains resolve statically. */
static nn_status nn_tn__infer_shape(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const nn_shape *is = &in[0].shape;
    int64_t s, e;
    out[0].dtype = NN_DTYPE_INT64;
    nn_tn__unknown_dims(&out[0].shape, 1);
    if (is->rank < 0) return NN_OK;
    nn_tn__shape_window(c, is->rank, &s, &e);
    out[0].shape.dims[0] = e - s;
    for (int64_t i = s; i < e; i++)
        if (is->dims[i] < 0) return NN_OK;
    nn_status st = nn_op_alloc_value(c, &out[0]);
    if (st) return st;
    for (int64_t i = s; i < e; i++) ((int64_t *)out[0].data)[i - s] = is->dims[i];
    return NN_OK;
}

static nn_status nn_tn__run_shape(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int64_t s, e;
    nn_tn__shape_window(c, in[0].shape.rank, &s, &e);
    for (int64_t i = s; i < e; i++) ((int64_t *)out[0].data)[i - s] = in[0].shape.dims[i];
    return NN_OK;
}

static nn_status nn_tn__infer_size(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    out[0].dtype = NN_DTYPE_INT64;
    out[0].shape.rank = 0;
    int64_t n = in[0].shape.rank < 0 ? -1 : nn_tn__prod(in[0].shape.dims, in[0].shape.rank);
    if (n == -2) return nn_op_error(c, NN_ERR_LIMIT, "size overflows");
    if (n < 0) return NN_OK;
    nn_status st = nn_op_alloc_value(c, &out[0]);
    if (!st) *(int64_t *)out[0].data = n;
    return st;
}

static nn_status nn_tn__run_size(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)c; (void)n_in; (void)n_out;
    *(int64_t *)out[0].data = nn_tn__prod(in[0].shape.dims, in[0].shape.rank);
    return NN_OK;
}

/* ---- tensor: ConstantOfShape, Range, OneHot, NonZero ---- */

/* The fill value: the one-element `value` tensor, float 0 by default. */
static nn_status nn_tn__cos_value(nn_op_ctx *c, nn_dtype *t, const void **p) {
    static const float zero = 0.0f;
    const nn_attr *a = nn_node_attr(c->node, "value");
    if (!a) { *t = NN_DTYPE_FLOAT; *p = &zero; return NN_OK; }
    if (a->type != NN_ATTR_TENSOR || nn_value_count(&a->t) != 1 || !a->t.data)
        return nn_op_error(c, NN_ERR_INVALID, "'value' must be a one-element tensor");
    if (!nn_dtype_size(a->t.dtype)) return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s value is not supported", nn_dtype_name(a->t.dtype));
    *t = a->t.dtype;
    *p = a->t.data;
    return NN_OK;
}

static nn_status nn_tn__infer_cos(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int64_t shp[NN_MAX_RANK];
    const void *p = NULL;
    nn_status st = nn_tn__cos_value(c, &out[0].dtype, &p);
    if (st) return st;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    int n = nn_tn__ints(&in[0], shp, NN_MAX_RANK);
    if (n == -2) return nn_op_error(c, NN_ERR_INVALID, "input must be an int64 list of at most %d values", NN_MAX_RANK);
    if (n == -1) {
        const nn_shape *ss = &in[0].shape;
        if (ss->rank == 1 && ss->dims[0] >= 0 && ss->dims[0] <= NN_MAX_RANK) nn_tn__unknown_dims(&out[0].shape, (int32_t)ss->dims[0]);
        return NN_OK;
    }
    for (int i = 0; i < n; i++)
        if (shp[i] < 0) return nn_op_error(c, NN_ERR_INVALID, "dim %d is %lld", i, (long long)shp[i]);
    out[0].shape = nn_shape_make(n, shp);
    if (nn_tn__prod(shp, n) == -2) return nn_op_error(c, NN_ERR_LIMIT, "size overflows");
    return NN_OK;
}

static nn_status nn_tn__run_cos(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)in; (void)n_in; (void)n_out;
    nn_dtype t = NN_DTYPE_UNDEFINED;
    const void *p = NULL;
    nn_status st = nn_tn__cos_value(c, &t, &p);
    if (!st) nn_tn__fill((uint8_t *)out[0].data, p, nn_value_count(&out[0]), nn_dtype_size(t));
    return st;
}

/* Range: n = max(ceil((limit - start) / delta), 0), element i = start + i * delta.
   Integer counts are exact (unsigned differences); floats compute in double. */
static nn_status nn_tn__range_count(nn_op_ctx *c, const nn_value *in, int64_t *n) {
    nn_dtype t = in[0].dtype;
    if (nn_dtype_is_signed_int(t) && t != NN_DTYPE_INT4) {
        int64_t s = (int64_t)nn_op__load(in[0].data, t, 0), l = (int64_t)nn_op__load(in[1].data, t, 0);
        int64_t d = (int64_t)nn_op__load(in[2].data, t, 0);
        if (t == NN_DTYPE_INT64) { s = nn_op__int_at(&in[0], 0); l = nn_op__int_at(&in[1], 0); d = nn_op__int_at(&in[2], 0); }
        if (d == 0) return nn_op_error(c, NN_ERR_INVALID, "delta is 0");
        uint64_t span, step;
        if (d > 0) { if (l <= s) { *n = 0; return NN_OK; } span = (uint64_t)l - (uint64_t)s; step = (uint64_t)d; }
        else { if (l >= s) { *n = 0; return NN_OK; } span = (uint64_t)s - (uint64_t)l; step = (uint64_t)0 - (uint64_t)d; }
        uint64_t cnt = (span - 1) / step + 1;
        if (cnt > (uint64_t)INT64_MAX) return nn_op_error(c, NN_ERR_LIMIT, "range too long");
        *n = (int64_t)cnt;
        return NN_OK;
    }
    if (!nn_dtype_is_float(t)) return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s Range is not supported", nn_dtype_name(t));
    double s = nn_op__load(in[0].data, t, 0), l = nn_op__load(in[1].data, t, 0), d = nn_op__load(in[2].data, t, 0);
    if (d == 0 || d != d || s != s || l != l) return nn_op_error(c, NN_ERR_INVALID, "delta is 0 or an argument is NaN");
    double cnt = ceil((l - s) / d);
    if (!(cnt < 9.2e18)) return nn_op_error(c, NN_ERR_LIMIT, "range too long");
    *n = cnt > 0 ? (int64_t)cnt : 0;
    return NN_OK;
}

static nn_status nn_tn__infer_range(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    out[0].dtype = in[0].dtype;
    nn_tn__unknown_dims(&out[0].shape, 1);
    for (int i = 0; i < 3; i++) {
        if (in[i].dtype != NN_DTYPE_UNDEFINED && in[i].dtype != in[0].dtype)
            return nn_op_error(c, NN_ERR_INVALID, "start, limit and delta differ in type");
        if (in[i].shape.rank >= 0 && nn_shape_is_static(&in[i].shape) && nn_shape_count(&in[i].shape, NULL) != 1)
            return nn_op_error(c, NN_ERR_INVALID, "input %d must be a scalar", i);
    }
    /* stash_type (opset 27) picks the arithmetic for 16-bit floats; double covers
       the default float32, narrower arithmetic is not implemented. */
    int64_t stash = nn_node_attr_int(c->node, "stash_type", NN_DTYPE_FLOAT);
    if ((in[0].dtype == NN_DTYPE_FLOAT16 || in[0].dtype == NN_DTYPE_BFLOAT16) && stash != NN_DTYPE_FLOAT &&
        stash != NN_DTYPE_DOUBLE)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "stash_type %lld is not supported", (long long)stash);
    if (!in[0].data || !in[1].data || !in[2].data) return NN_OK;
    return nn_tn__range_count(c, in, &out[0].shape.dims[0]);
}

static nn_status nn_tn__run_range(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)c; (void)n_in; (void)n_out;
    nn_dtype t = in[0].dtype;
    size_t n = nn_value_count(&out[0]);
    if (t == NN_DTYPE_INT64) {
        uint64_t s = (uint64_t)nn_op__int_at(&in[0], 0), d = (uint64_t)nn_op__int_at(&in[2], 0);
        for (size_t i = 0; i < n; i++) ((int64_t *)out[0].data)[i] = (int64_t)(s + (uint64_t)i * d);
    } else {
        double s = nn_op__load(in[0].data, t, 0), d = nn_op__load(in[2].data, t, 0);
        for (size_t i = 0; i < n; i++) nn_op__store(out[0].data, t, i, s + (double)i * d);
    }
    return NN_OK;
}

/* OneHot (opset 9; 11 wraps negative indices): output = indices' shape with depth
   inserted at axis.  Indices outside [-depth, depth-1] give an all-off row, as the
   spec says, not an error. */
static int nn_tn__onehot_depth(const nn_value *v, int64_t *depth) {
    if (!v->data || nn_value_count(v) != 1) return 0;
    *depth = v->dtype == NN_DTYPE_INT64 ? nn_op__int_at(v, 0) : (int64_t)nn_op__load(v->data, v->dtype, 0);
    return 1;
}

static nn_status nn_tn__infer_onehot(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const nn_shape *is = &in[0].shape;
    int64_t depth;
    int32_t a = 0;
    out[0].dtype = in[2].dtype;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    if (in[2].shape.rank >= 0 && nn_shape_is_static(&in[2].shape) && nn_shape_count(&in[2].shape, NULL) != 2)
        return nn_op_error(c, NN_ERR_INVALID, "values must hold [off, on]");
    if (is->rank < 0) return NN_OK;
    int32_t r = is->rank + 1;
    if (r > NN_MAX_RANK) return nn_op_error(c, NN_ERR_LIMIT, "rank above %d", NN_MAX_RANK);
    if (!nn_op__axis(nn_node_attr_int(c->node, "axis", -1), r, &a)) return nn_op_error(c, NN_ERR_INVALID, "axis out of range");
    int known = nn_tn__onehot_depth(&in[1], &depth);
    if (known && depth < 1) return nn_op_error(c, NN_ERR_INVALID, "depth %lld", (long long)depth);
    for (int32_t i = 0, j = 0; i < r; i++) out[0].shape.dims[i] = i == a ? (known ? depth : NN_DIM_UNKNOWN) : is->dims[j++];
    out[0].shape.rank = r;
    return NN_OK;
}

static nn_status nn_tn__run_onehot(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int64_t depth;
    int32_t a = 0;
    size_t es = 0;
    nn_status st = nn_tn__esize(c, out[0].dtype, &es);
    if (st) return st;
    nn_tn__onehot_depth(&in[1], &depth);
    nn_op__axis(nn_node_attr_int(c->node, "axis", -1), out[0].shape.rank, &a);
    size_t n = nn_value_count(&in[0]), inner = 1;
    for (int32_t i = a + 1; i < out[0].shape.rank; i++) inner *= (size_t)out[0].shape.dims[i];
    const uint8_t *off = (const uint8_t *)in[2].data, *on = off + es;
    uint8_t *dst = (uint8_t *)out[0].data;
    nn_tn__fill(dst, off, nn_value_count(&out[0]), es);
    nn_dtype it = in[0].dtype;
    for (size_t i = 0; i < n; i++) {
        int64_t v = it == NN_DTYPE_INT64 ? nn_op__int_at(&in[0], i) : (int64_t)nn_op__load(in[0].data, it, i);
        if (v < 0 && c->opset >= 11) v += depth;
        if (v < 0 || v >= depth) continue;
        size_t o = i / inner, k = i % inner;
        memcpy(dst + ((o * (size_t)depth + (size_t)v) * inner + k) * es, on, es);
    }
    return NN_OK;
}

/* 1 when element i of v is non-zero (-0.0 counts as zero, NaN as non-zero). */
static int nn_tn__nonzero_at(const nn_value *v, size_t i, size_t es) {
    if (nn_dtype_is_float(v->dtype)) return nn_op__load(v->data, v->dtype, i) != 0;
    const uint8_t *p = (const uint8_t *)v->data + i * es;
    for (size_t k = 0; k < es; k++)
        if (p[k]) return 1;
    return 0;
}

/* NonZero: (rank, nnz) int64 coordinates in row-major order.  The count is known
   once the input is; a scalar behaves as a 1-element vector. */
static nn_status nn_tn__infer_nonzero(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    size_t es = 0;
    out[0].dtype = NN_DTYPE_INT64;
    nn_tn__unknown_dims(&out[0].shape, 2);
    if (in[0].shape.rank >= 0) out[0].shape.dims[0] = in[0].shape.rank ? in[0].shape.rank : 1;
    if (in[0].dtype == NN_DTYPE_UNDEFINED) return NN_OK;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (st || !nn_tn__known(&in[0])) return st;
    size_t n = nn_value_count(&in[0]), nz = 0;
    for (size_t i = 0; i < n; i++) nz += (size_t)nn_tn__nonzero_at(&in[0], i, es);
    out[0].shape.dims[1] = (int64_t)nz;
    return NN_OK;
}

static nn_status nn_tn__run_nonzero(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    size_t es = 0, n = nn_value_count(&in[0]), nz = (size_t)out[0].shape.dims[1], j = 0;
    int32_t r = in[0].shape.rank;
    int64_t pos[NN_MAX_RANK] = {0};
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (st) return st;
    int64_t *o = (int64_t *)out[0].data;
    for (size_t i = 0; i < n; i++) {
        if (nn_tn__nonzero_at(&in[0], i, es)) {
            if (j >= nz) return nn_op_error(c, NN_ERR_INVALID, "input changed between infer and run");
            if (r == 0) o[j] = 0;
            for (int32_t k = 0; k < r; k++) o[(size_t)k * nz + j] = pos[k];
            j++;
        }
        for (int32_t k = r - 1; k >= 0; k--) {
            if (++pos[k] < in[0].shape.dims[k]) break;
            pos[k] = 0;
        }
    }
    return NN_OK;
}

/* ---- tensor: Pad ---- */

enum { NN_TN__PAD_CONSTANT, NN_TN__PAD_REFLECT, NN_TN__PAD_EDGE, NN_TN__PAD_WRAP };

/* Pads per axis from `pads` (opset 2-10 attribute; `paddings` in opset 1) or input 1
   (opset 11), laid out [begin..., end...] over all axes or over input 3's axes
   (opset 18).  Returns 0 in *known while an input is not known yet. */
static nn_status nn_tn__pad_params(nn_op_ctx *c, const nn_value *in, uint32_t n_in, int32_t rank, int64_t *pb,
                                   int64_t *pe, int *mode, int *known) {
    int64_t pads[2 * NN_MAX_RANK], axes[NN_MAX_RANK];
    int n, na = -3;
    const char *m = nn_node_attr_string(c->node, "mode", "constant");
    *known = 0;
    if (strcmp(m, "constant") == 0) *mode = NN_TN__PAD_CONSTANT;
    else if (strcmp(m, "reflect") == 0) *mode = NN_TN__PAD_REFLECT;
    else if (strcmp(m, "edge") == 0) *mode = NN_TN__PAD_EDGE;
    else if (strcmp(m, "wrap") == 0) *mode = NN_TN__PAD_WRAP;
    else return nn_op_error(c, NN_ERR_UNSUPPORTED, "mode '%s' is not supported", m);
    if (c->opset < 11) {
        n = nn_tn__attr_ints(c, c->opset < 2 ? "paddings" : "pads", pads, 2 * NN_MAX_RANK);
        if (n < 0) return nn_tn__list_error(c, n, "pads");
    } else {
        if (!nn_tn__has(in, n_in, 1)) return nn_op_error(c, NN_ERR_INVALID, "needs pads");
        n = nn_tn__ints(&in[1], pads, 2 * NN_MAX_RANK);
        if (n == -2) return nn_tn__list_error(c, n, "pads");
        if (nn_tn__has(in, n_in, 3)) {
            na = nn_tn__ints(&in[3], axes, NN_MAX_RANK);
            if (na == -2) return nn_tn__list_error(c, na, "axes");
        }
        if (n == -1 || na == -1) return NN_OK;
    }
    int count = na >= 0 ? na : rank;
    if (na < 0) for (int k = 0; k < count; k++) axes[k] = k;
    if (n != 2 * count) return nn_op_error(c, NN_ERR_INVALID, "pads has %d values for %d axes", n, count);
    for (int32_t i = 0; i < rank; i++) pb[i] = pe[i] = 0;
    for (int k = 0; k < count; k++) {
        int32_t a = 0;
        if (!nn_op__axis(axes[k], rank, &a) || rank == 0) return nn_op_error(c, NN_ERR_INVALID, "axis %lld out of range", (long long)axes[k]);
        pb[a] = pads[k];
        pe[a] = pads[count + k];
    }
    *known = 1;
    return NN_OK;
}

static nn_status nn_tn__infer_pad(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    int64_t pb[NN_MAX_RANK], pe[NN_MAX_RANK];
    int mode, known;
    const nn_shape *is = &in[0].shape;
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = is->rank;
    if (is->rank < 0) return NN_OK;
    nn_status st = nn_tn__pad_params(c, in, n_in, is->rank, pb, pe, &mode, &known);
    if (st) return st;
    for (int32_t i = 0; i < is->rank; i++) {
        int64_t d = is->dims[i];
        if (!known || d < 0) { out[0].shape.dims[i] = NN_DIM_UNKNOWN; continue; }
        if (pb[i] > INT64_MAX / 4 || pe[i] > INT64_MAX / 4 || pb[i] < -d || pe[i] < -d || d + pb[i] + pe[i] < 0)
            return nn_op_error(c, NN_ERR_INVALID, "pads %lld/%lld invalid for axis %d of %lld", (long long)pb[i], (long long)pe[i], i, (long long)d);
        out[0].shape.dims[i] = d + pb[i] + pe[i];
        if (mode != NN_TN__PAD_CONSTANT && out[0].shape.dims[i] > 0 &&
            d - (pb[i] < 0 ? -pb[i] : 0) - (pe[i] < 0 ? -pe[i] : 0) <= 0)
            return nn_op_error(c, NN_ERR_INVALID, "cannot %s-pad an empty axis %d", nn_node_attr_string(c->node, "mode", ""), i);
    }
    return NN_OK;
}

/* Source index for output index o of one axis, or -1 for the constant value.  Negative
   pads crop first; the modes then extend the cropped span [lo, lo+len): edge clamps,
   wrap repeats, reflect mirrors without repeating the border (period 2(len-1), which
   is what numpy.pad gives for pads wider than the axis too). */
static int64_t nn_tn__pad_src(int64_t o, int64_t pb, int64_t lo, int64_t len, int mode) {
    int64_t r = o - (pb > 0 ? pb : 0);
    if (r >= 0 && r < len) return lo + r;
    switch (mode) {
    case NN_TN__PAD_EDGE: return lo + (r < 0 ? 0 : len - 1);
    case NN_TN__PAD_WRAP: r %= len; return lo + (r < 0 ? r + len : r);
    case NN_TN__PAD_REFLECT: {
        if (len == 1) return lo;
        int64_t p = 2 * (len - 1);
        r %= p;
        if (r < 0) r += p;
        return lo + (r >= len ? p - r : r);
    }
    default: return -1;
    }
}

static nn_status nn_tn__run_pad(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    int64_t pb[NN_MAX_RANK], pe[NN_MAX_RANK], lo[NN_MAX_RANK], len[NN_MAX_RANK], st_in[NN_MAX_RANK], st_out[NN_MAX_RANK];
    int mode, known;
    size_t es = 0;
    const nn_shape *is = &in[0].shape, *os = &out[0].shape;
    int32_t r = is->rank;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (!st) st = nn_tn__pad_params(c, in, n_in, r, pb, pe, &mode, &known);
    if (st) return st;
    size_t total = nn_value_count(&out[0]);
    if (total == 0) return NN_OK;
    for (int32_t i = 0; i < r; i++) {
        lo[i] = pb[i] < 0 ? -pb[i] : 0;
        len[i] = is->dims[i] - lo[i] - (pe[i] < 0 ? -pe[i] : 0);
    }
    nn_tn__strides(is, st_in);
    nn_tn__strides(os, st_out);
    const uint8_t *src = (const uint8_t *)in[0].data;
    uint8_t *dst = (uint8_t *)out[0].data;
    if (mode == NN_TN__PAD_CONSTANT) {
        uint8_t val[16] = {0};
        if (c->opset >= 11 && nn_tn__has(in, n_in, 2) && in[2].data && nn_value_count(&in[2]) >= 1) {
            if (in[2].dtype != in[0].dtype) return nn_op_error(c, NN_ERR_INVALID, "constant_value type differs from data");
            memcpy(val, in[2].data, es);
        } else if (c->opset < 11) {
            nn_op__store(val, in[0].dtype, 0, nn_node_attr_float(c->node, "value", 0.0f));
        }
        nn_tn__fill(dst, val, total, es);
        nn_tn__box b;
        memset(&b, 0, sizeof b);
        b.rank = r;
        b.es = es;
        int64_t so = 0, dof = 0;
        for (int32_t i = 0; i < r; i++) {
            b.dims[i] = len[i];
            b.ss[i] = st_in[i];
            b.ds[i] = st_out[i];
            so += lo[i] * st_in[i];
            dof += (pb[i] > 0 ? pb[i] : 0) * st_out[i];
        }
        b.src = src + so * (int64_t)es;
        b.dst = dst + dof * (int64_t)es;
        nn_tn__box_run(c, &b);
        return NN_OK;
    }
    /* Other modes: per output row, map the outer indices, then the last axis. */
    int64_t pos[NN_MAX_RANK] = {0};
    if (r == 0) { memcpy(dst, src, es); return NN_OK; }
    int64_t w = os->dims[r - 1], rows = (int64_t)(total / (size_t)w);
    int64_t mid0 = pb[r - 1] > 0 ? pb[r - 1] : 0;
    for (int64_t row = 0; row < rows; row++) {
        int64_t base = 0;
        for (int32_t i = 0; i < r - 1; i++) base += nn_tn__pad_src(pos[i], pb[i], lo[i], len[i], mode) * st_in[i];
        uint8_t *d = dst + (size_t)row * (size_t)w * es;
        const uint8_t *s = src + base * (int64_t)es;
        for (int64_t j = 0; j < w; j++) {
            if (j == mid0 && len[r - 1] > 0) { /* the untouched middle in one copy */
                int64_t m = len[r - 1] < w - j ? len[r - 1] : w - j;
                memcpy(d + j * (int64_t)es, s + lo[r - 1] * (int64_t)es, (size_t)m * es);
                j += m - 1;
                continue;
            }
            memcpy(d + j * (int64_t)es, s + nn_tn__pad_src(j, pb[r - 1], lo[r - 1], len[r - 1], mode) * (int64_t)es, es);
        }
        for (int32_t i = r - 2; i >= 0; i--) {
            if (++pos[i] < os->dims[i]) break;
            pos[i] = 0;
        }
    }
    return NN_OK;
}

/* ---- tensor: TopK, Unique (sorting by order-preserving keys) ---- */

/* Maps an element to a uint64 whose unsigned order is the numeric order: floats flip
   their sign bit (negatives all bits), -0.0 folds into +0.0 and every NaN sorts
   above +inf; signed integers flip the sign bit. */
static uint64_t nn_tn__key(const uint8_t *p, nn_dtype t) {
    switch (t) {
    case NN_DTYPE_FLOAT: case NN_DTYPE_FLOAT16: case NN_DTYPE_BFLOAT16: {
        float f;
        uint32_t u;
        if (t == NN_DTYPE_FLOAT) memcpy(&f, p, 4);
        else f = (float)nn_op__load(p, t, 0);
        if (f != f) return UINT64_MAX;
        if (f == 0) f = 0.0f;
        memcpy(&u, &f, 4);
        return (u & 0x80000000u) ? (uint64_t)(~u) : (uint64_t)(u | 0x80000000u);
    }
    case NN_DTYPE_DOUBLE: {
        double f;
        uint64_t u;
        memcpy(&f, p, 8);
        if (f != f) return UINT64_MAX;
        if (f == 0) f = 0.0;
        memcpy(&u, &f, 8);
        return (u & 0x8000000000000000u) ? ~u : (u | 0x8000000000000000u);
    }
    case NN_DTYPE_INT8: return (uint64_t)(int64_t)(int8_t)p[0] ^ 0x8000000000000000u;
    case NN_DTYPE_INT16: { int16_t v; memcpy(&v, p, 2); return (uint64_t)(int64_t)v ^ 0x8000000000000000u; }
    case NN_DTYPE_INT32: { int32_t v; memcpy(&v, p, 4); return (uint64_t)(int64_t)v ^ 0x8000000000000000u; }
    case NN_DTYPE_INT64: { int64_t v; memcpy(&v, p, 8); return (uint64_t)v ^ 0x8000000000000000u; }
    case NN_DTYPE_UINT8: return p[0];
    case NN_DTYPE_BOOL: return p[0] != 0;
    case NN_DTYPE_UINT16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case NN_DTYPE_UINT32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case NN_DTYPE_UINT64: { uint64_t v; memcpy(&v, p, 8); return v; }
    default: return 0;
    }
}

static int nn_tn__keyable(nn_dtype t) {
    return nn_dtype_is_float(t) || (nn_dtype_size(t) && (nn_dtype_is_signed_int(t) || nn_dtype_is_unsigned_int(t) || t == NN_DTYPE_BOOL));
}

typedef struct { uint64_t key; int64_t index; } nn_tn__keyed;

/* Ties go to the lower index, so both orders are deterministic (ONNX TopK). */
static int nn_tn__cmp_asc(const void *x, const void *y) {
    const nn_tn__keyed *a = (const nn_tn__keyed *)x, *b = (const nn_tn__keyed *)y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->index < b->index ? -1 : (a->index > b->index);
}

static int nn_tn__cmp_desc(const void *x, const void *y) {
    const nn_tn__keyed *a = (const nn_tn__keyed *)x, *b = (const nn_tn__keyed *)y;
    if (a->key != b->key) return a->key > b->key ? -1 : 1;
    return a->index < b->index ? -1 : (a->index > b->index);
}

/* k: attribute before opset 10, then a one-element int64 input.  -1 while unknown. */
static nn_status nn_tn__topk_k(nn_op_ctx *c, const nn_value *in, uint32_t n_in, int64_t *k) {
    int64_t v[1];
    *k = -1;
    if (c->opset < 10) {
        *k = nn_node_attr_int(c->node, "k", -1);
        if (*k < 0) return nn_op_error(c, NN_ERR_INVALID, "needs k >= 0");
        return NN_OK;
    }
    if (!nn_tn__has(in, n_in, 1)) return nn_op_error(c, NN_ERR_INVALID, "needs K");
    int n = nn_tn__ints(&in[1], v, 1);
    if (n == -1) return NN_OK;
    if (n != 1 || v[0] < 0) return nn_op_error(c, NN_ERR_INVALID, "K must be one non-negative int64");
    *k = v[0];
    return NN_OK;
}

static nn_status nn_tn__infer_topk(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    const nn_shape *is = &in[0].shape;
    int64_t k;
    int32_t a = 0;
    out[0].dtype = in[0].dtype;
    out[1].dtype = NN_DTYPE_INT64;
    out[0].shape = out[1].shape = *is;
    if (in[0].dtype != NN_DTYPE_UNDEFINED && !nn_tn__keyable(in[0].dtype))
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s input is not supported", nn_dtype_name(in[0].dtype));
    nn_status st = nn_tn__topk_k(c, in, n_in, &k);
    if (st || is->rank < 0) return st;
    if (is->rank == 0 || !nn_op__axis(nn_node_attr_int(c->node, "axis", -1), is->rank, &a))
        return nn_op_error(c, NN_ERR_INVALID, "axis out of range");
    if (k >= 0 && is->dims[a] >= 0 && k > is->dims[a])
        return nn_op_error(c, NN_ERR_INVALID, "k = %lld exceeds the axis (%lld)", (long long)k, (long long)is->dims[a]);
    out[0].shape.dims[a] = out[1].shape.dims[a] = k;
    return NN_OK;
}

/* sorted=0 still returns sorted results: ONNX leaves that order unspecified. */
static nn_status nn_tn__run_topk(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const nn_shape *is = &in[0].shape;
    int32_t a = 0;
    size_t es = 0;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (st) return st;
    nn_op__axis(nn_node_attr_int(c->node, "axis", -1), is->rank, &a);
    int largest = c->opset < 11 || nn_node_attr_int(c->node, "largest", 1) != 0;
    size_t n = (size_t)is->dims[a], k = (size_t)out[0].shape.dims[a], outer = 1, inner = 1;
    for (int32_t i = 0; i < a; i++) outer *= (size_t)is->dims[i];
    for (int32_t i = a + 1; i < is->rank; i++) inner *= (size_t)is->dims[i];
    if (k == 0 || outer * inner == 0) return NN_OK;
    nn_tn__keyed *buf = (nn_tn__keyed *)nn_op_scratch(c, n * sizeof(nn_tn__keyed));
    if (!buf) return NN_ERR_NOMEM;
    const uint8_t *src = (const uint8_t *)in[0].data;
    for (size_t o = 0; o < outer; o++)
        for (size_t q = 0; q < inner; q++) {
            for (size_t i = 0; i < n; i++) {
                buf[i].key = nn_tn__key(src + ((o * n + i) * inner + q) * es, in[0].dtype);
                buf[i].index = (int64_t)i;
            }
            qsort(buf, n, sizeof *buf, largest ? nn_tn__cmp_desc : nn_tn__cmp_asc);
            for (size_t i = 0; i < k; i++) {
                size_t dpos = (o * k + i) * inner + q;
                if (out[0].data)
                    memcpy((uint8_t *)out[0].data + dpos * es, src + ((o * n + (size_t)buf[i].index) * inner + q) * es, es);
                if (out[1].data) ((int64_t *)out[1].data)[dpos] = buf[i].index;
            }
        }
    return NN_OK;
}

/* Unique (opset 11): unique elements (or slices along axis) in ascending order when
   sorted=1 (slices compare lexicographically), else in order of first occurrence.
   Outputs Y, first-occurrence indices, inverse indices, counts; sizes depend on the
   data, so run allocates them. */
static nn_status nn_tn__infer_unique(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in;
    const nn_shape *is = &in[0].shape;
    const nn_attr *ax = nn_node_attr(c->node, "axis");
    int32_t a = 0;
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    if (in[0].dtype != NN_DTYPE_UNDEFINED && !nn_tn__keyable(in[0].dtype))
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s input is not supported", nn_dtype_name(in[0].dtype));
    for (uint32_t k = 1; k < n_out; k++) { out[k].dtype = NN_DTYPE_INT64; nn_tn__unknown_dims(&out[k].shape, 1); }
    if (!ax) { nn_tn__unknown_dims(&out[0].shape, 1); return NN_OK; }
    if (is->rank < 0) return NN_OK;
    if (is->rank == 0 || !nn_op__axis(ax->i, is->rank, &a)) return nn_op_error(c, NN_ERR_INVALID, "axis out of range");
    out[0].shape = *is;
    out[0].shape.dims[a] = NN_DIM_UNKNOWN;
    if (n_out > 2 && is->dims[a] >= 0) out[2].shape.dims[0] = is->dims[a];
    return NN_OK;
}

typedef struct { const uint64_t *keys; size_t width; } nn_tn__rows_ctx;

/* qsort has no context argument; slices are compared through this index table, built
   per call and only read while sorting (no state survives the call). */
static int nn_tn__cmp_rows_impl(const nn_tn__rows_ctx *rc, int64_t x, int64_t y) {
    const uint64_t *a = rc->keys + (size_t)x * rc->width, *b = rc->keys + (size_t)y * rc->width;
    for (size_t e = 0; e < rc->width; e++)
        if (a[e] != b[e]) return a[e] < b[e] ? -1 : 1;
    return x < y ? -1 : (x > y);
}

/* Merge sort of slice ids by (key row, id): stable and context-carrying. */
static void nn_tn__sort_rows(const nn_tn__rows_ctx *rc, int64_t *ids, int64_t *tmp, size_t n) {
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = nn_tn__cmp_rows_impl(rc, ids[i], ids[j]) <= 0 ? ids[i++] : ids[j++];
            while (i < mid) tmp[k++] = ids[i++];
            while (j < hi) tmp[k++] = ids[j++];
        }
        memcpy(ids, tmp, n * sizeof *ids);
    }
}

static nn_status nn_tn__run_unique(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in;
    const nn_shape *is = &in[0].shape;
    const nn_attr *ax = nn_node_attr(c->node, "axis");
    int sorted = nn_node_attr_int(c->node, "sorted", 1) != 0;
    size_t es = 0, n_sl, outer = 1, inner = 1;
    int32_t a = 0;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (st) return st;
    if (ax) {
        nn_op__axis(ax->i, is->rank, &a);
        n_sl = (size_t)is->dims[a];
        for (int32_t i = 0; i < a; i++) outer *= (size_t)is->dims[i];
        for (int32_t i = a + 1; i < is->rank; i++) inner *= (size_t)is->dims[i];
    } else {
        n_sl = nn_value_count(&in[0]);
    }
    size_t width = outer * inner, cells;
    if (!nn_size_mul(n_sl, width, &cells)) return nn_op_error(c, NN_ERR_LIMIT, "input too large");
    uint64_t *keys = (uint64_t *)nn_op_scratch(c, (cells + 1) * sizeof(uint64_t));
    int64_t *ids = (int64_t *)nn_op_scratch(c, (4 * n_sl + 1) * sizeof(int64_t));
    if (!keys || !ids) return NN_ERR_NOMEM;
    int64_t *tmp = ids + n_sl, *group = tmp + n_sl, *first = group + n_sl; /* first: per group */
    const uint8_t *src = (const uint8_t *)in[0].data;
    for (size_t s = 0; s < n_sl; s++) {
        ids[s] = (int64_t)s;
        for (size_t o = 0; o < outer; o++)
            for (size_t q = 0; q < inner; q++)
                keys[s * width + o * inner + q] = nn_tn__key(src + ((o * n_sl + s) * inner + q) * es, in[0].dtype);
    }
    nn_tn__rows_ctx rc;
    rc.keys = keys;
    rc.width = width;
    nn_tn__sort_rows(&rc, ids, tmp, n_sl);
    /* Groups in sorted order; first[g] = lowest slice id of group g (stable sort). */
    size_t ng = 0;
    for (size_t i = 0; i < n_sl; i++) {
        if (i == 0 || memcmp(keys + (size_t)ids[i] * width, keys + (size_t)ids[i - 1] * width, width * sizeof(uint64_t)) != 0)
            first[ng++] = ids[i];
        group[ids[i]] = (int64_t)ng - 1;
    }
    /* Output order of the groups: sorted, or by first occurrence. */
    int64_t *order = tmp, *rank_of = ids; /* ids is no longer needed */
    for (size_t g = 0; g < ng; g++) order[g] = (int64_t)g;
    if (!sorted) { /* groups by ascending first index: an insertion-free counting pass */
        size_t k = 0;
        for (size_t s = 0; s < n_sl; s++)
            if (first[group[s]] == (int64_t)s) order[k++] = group[s];
    }
    for (size_t g = 0; g < ng; g++) rank_of[order[g]] = (int64_t)g;
    /* Y */
    out[0].dtype = in[0].dtype;
    if (ax) { out[0].shape = *is; out[0].shape.dims[a] = (int64_t)ng; }
    else { out[0].shape.rank = 1; out[0].shape.dims[0] = (int64_t)ng; }
    for (uint32_t k = 1; k < n_out; k++) {
        out[k].dtype = NN_DTYPE_INT64;
        out[k].shape.rank = 1;
        out[k].shape.dims[0] = k == 2 ? (int64_t)n_sl : (int64_t)ng;
    }
    for (uint32_t k = 0; k < n_out; k++)
        if (!out[k].data && (st = nn_op_alloc_value(c, &out[k])) != NN_OK) return st;
    uint8_t *y = (uint8_t *)out[0].data;
    for (size_t g = 0; g < ng; g++) {
        size_t s = (size_t)first[order[g]];
        for (size_t o = 0; o < outer; o++)
            memcpy(y + ((o * ng + g) * inner) * es, src + ((o * n_sl + s) * inner) * es, inner * es);
    }
    if (n_out > 1) for (size_t g = 0; g < ng; g++) ((int64_t *)out[1].data)[g] = first[order[g]];
    if (n_out > 2) for (size_t s = 0; s < n_sl; s++) ((int64_t *)out[2].data)[s] = rank_of[group[s]];
    if (n_out > 3) {
        int64_t *cnt = (int64_t *)out[3].data;
        for (size_t g = 0; g < ng; g++) cnt[g] = 0;
        for (size_t s = 0; s < n_sl; s++) cnt[rank_of[group[s]]]++;
    }
    return NN_OK;
}

/* ---- tensor: DepthToSpace, SpaceToDepth ---- */

static nn_status nn_tn__infer_d2s(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const nn_shape *is = &in[0].shape;
    int64_t b = nn_node_attr_int(c->node, "blocksize", 0);
    int d2s = strcmp(c->node->op_type, "DepthToSpace") == 0;
    const char *mode = nn_node_attr_string(c->node, "mode", "DCR");
    out[0].dtype = in[0].dtype;
    nn_tn__unknown_dims(&out[0].shape, 4);
    if (b < 1 || b > 65536) return nn_op_error(c, NN_ERR_INVALID, "blocksize %lld", (long long)b);
    if (d2s && strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "mode '%s' is not supported", mode);
    if (is->rank < 0) return NN_OK;
    if (is->rank != 4) return nn_op_error(c, NN_ERR_SHAPE, "input must be 4-D, got rank %d", is->rank);
    int64_t n = is->dims[0], ch = is->dims[1], h = is->dims[2], w = is->dims[3], *od = out[0].shape.dims;
    od[0] = n;
    if (d2s) {
        if (ch >= 0 && ch % (b * b)) return nn_op_error(c, NN_ERR_SHAPE, "channels %lld not divisible by %lld", (long long)ch, (long long)(b * b));
        od[1] = ch < 0 ? ch : ch / (b * b);
        od[2] = h < 0 ? h : h * b;
        od[3] = w < 0 ? w : w * b;
    } else {
        if ((h >= 0 && h % b) || (w >= 0 && w % b)) return nn_op_error(c, NN_ERR_SHAPE, "spatial dims not divisible by %lld", (long long)b);
        od[1] = ch < 0 ? ch : ch * b * b;
        od[2] = h < 0 ? h : h / b;
        od[3] = w < 0 ? w : w / b;
    }
    return NN_OK;
}

/* Both are reshape-transpose-reshape: one 6-D engine box each.
   DepthToSpace output (N, C', H, b, W, b):  DCR reads channel (b1*b + b2)*C' + c',
   CRD reads channel c'*b*b + b1*b + b2.  SpaceToDepth output (N, b1, b2, C, H', W')
   reads (n, c, h'*b + b1, w'*b + b2). */
static nn_status nn_tn__run_d2s(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    size_t es = 0;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (st) return st;
    int64_t b = nn_node_attr_int(c->node, "blocksize", 0);
    const int64_t *id = in[0].shape.dims;
    int64_t n = id[0], ch = id[1], h = id[2], w = id[3], hw = h * w, dims[6];
    nn_tn__box bx;
    if (strcmp(c->node->op_type, "DepthToSpace") == 0) {
        int64_t cc = ch / (b * b);
        int crd = strcmp(nn_node_attr_string(c->node, "mode", "DCR"), "CRD") == 0;
        dims[0] = n; dims[1] = cc; dims[2] = h; dims[3] = b; dims[4] = w; dims[5] = b;
        nn_tn__box_dense(&bx, 6, dims, es);
        bx.ss[0] = ch * hw;
        bx.ss[2] = w;
        bx.ss[4] = 1;
        if (crd) { bx.ss[1] = b * b * hw; bx.ss[3] = b * hw; bx.ss[5] = hw; }
        else { bx.ss[1] = hw; bx.ss[3] = b * cc * hw; bx.ss[5] = cc * hw; }
    } else {
        dims[0] = n; dims[1] = b; dims[2] = b; dims[3] = ch; dims[4] = h / b; dims[5] = w / b;
        nn_tn__box_dense(&bx, 6, dims, es);
        bx.ss[0] = ch * hw;
        bx.ss[1] = w;
        bx.ss[2] = 1;
        bx.ss[3] = hw;
        bx.ss[4] = b * w;
        bx.ss[5] = b;
    }
    bx.src = (const uint8_t *)in[0].data;
    bx.dst = (uint8_t *)out[0].data;
    nn_tn__box_run(c, &bx);
    return NN_OK;
}

/* ---- tensor: Trilu, EyeLike ---- */

static nn_status nn_tn__infer_trilu(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    out[0].dtype = in[0].dtype;
    out[0].shape = in[0].shape;
    if (in[0].shape.rank >= 0 && in[0].shape.rank < 2) return nn_op_error(c, NN_ERR_SHAPE, "input needs rank >= 2");
    if (nn_tn__has(in, n_in, 1) && nn_tn__known(&in[1]) && nn_value_count(&in[1]) != 1)
        return nn_op_error(c, NN_ERR_INVALID, "k must be a scalar");
    return NN_OK;
}

/* upper keeps j - i >= k, lower keeps j - i <= k, over the last two axes. */
static nn_status nn_tn__run_trilu(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    size_t es = 0;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (st) return st;
    int32_t r = in[0].shape.rank;
    int64_t h = in[0].shape.dims[r - 2], w = in[0].shape.dims[r - 1], k = 0;
    if (nn_tn__has(in, n_in, 1)) k = nn_op__int_at(&in[1], 0);
    if (k > h + w) k = h + w; /* keeps i + k from overflowing; the result is the same */
    if (k < -(h + w)) k = -(h + w);
    int upper = nn_node_attr_int(c->node, "upper", 1) != 0;
    size_t mats = h > 0 && w > 0 ? nn_value_count(&in[0]) / (size_t)(h * w) : 0;
    const uint8_t *src = (const uint8_t *)in[0].data;
    uint8_t *dst = (uint8_t *)out[0].data;
    for (size_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < h; i++) {
            size_t row = (m * (size_t)h + (size_t)i) * (size_t)w * es;
            int64_t b0 = upper ? i + k : 0, b1 = upper ? w : i + k + 1; /* kept columns [b0, b1) */
            if (b0 < 0) b0 = 0;
            if (b1 > w) b1 = w;
            memset(dst + row, 0, (size_t)w * es);
            if (b1 > b0) memcpy(dst + row + (size_t)b0 * es, src + row + (size_t)b0 * es, (size_t)(b1 - b0) * es);
        }
    return NN_OK;
}

static nn_status nn_tn__infer_eyelike(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int64_t t = nn_node_attr_int(c->node, "dtype", 0);
    out[0].dtype = t ? (nn_dtype)t : in[0].dtype;
    out[0].shape = in[0].shape;
    if (t < 0 || t >= NN_DTYPE_COUNT_ || (out[0].dtype != NN_DTYPE_UNDEFINED && !nn_dtype_size(out[0].dtype)))
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "dtype %lld is not supported", (long long)t);
    if (in[0].shape.rank >= 0 && in[0].shape.rank != 2) return nn_op_error(c, NN_ERR_SHAPE, "input must be 2-D");
    return NN_OK;
}

static nn_status nn_tn__run_eyelike(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)in; (void)n_in; (void)n_out;
    int64_t k = nn_node_attr_int(c->node, "k", 0), h = out[0].shape.dims[0], w = out[0].shape.dims[1];
    memset(out[0].data, 0, out[0].bytes);
    for (int64_t i = 0; i < h; i++) {
        if (k > w || k < -h) break;
        int64_t j = i + k;
        if (j >= 0 && j < w) nn_op__store(out[0].data, out[0].dtype, (size_t)(i * w + j), 1.0);
    }
    return NN_OK;
}

/* ---- tensor: Compress, ReverseSequence, CenterCropPad ---- */

/* Condition entries past the axis are allowed only while false (numpy.compress). */
static nn_status nn_tn__compress_count(nn_op_ctx *c, const nn_value *cond, int64_t dim, int64_t *count) {
    size_t n = nn_value_count(cond);
    const uint8_t *p = (const uint8_t *)cond->data;
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        if (!p[i]) continue;
        if ((int64_t)i >= dim) return nn_op_error(c, NN_ERR_INVALID, "condition selects index %zu of an axis of %lld", i, (long long)dim);
        (*count)++;
    }
    return NN_OK;
}

static nn_status nn_tn__infer_compress(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const nn_shape *is = &in[0].shape;
    const nn_attr *ax = nn_node_attr(c->node, "axis");
    int32_t a = 0;
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    if (in[1].dtype != NN_DTYPE_BOOL && in[1].dtype != NN_DTYPE_UNDEFINED) return nn_op_error(c, NN_ERR_INVALID, "condition must be bool");
    if (in[1].shape.rank > 1) return nn_op_error(c, NN_ERR_SHAPE, "condition must be 1-D");
    int64_t dim;
    if (ax) {
        if (is->rank < 0) return NN_OK;
        if (is->rank == 0 || !nn_op__axis(ax->i, is->rank, &a)) return nn_op_error(c, NN_ERR_INVALID, "axis out of range");
        out[0].shape = *is;
        dim = is->dims[a];
    } else {
        out[0].shape.rank = 1;
        dim = is->rank < 0 ? -1 : nn_tn__prod(is->dims, is->rank);
    }
    out[0].shape.dims[a] = NN_DIM_UNKNOWN;
    if (!in[1].data || dim < 0) return NN_OK;
    return nn_tn__compress_count(c, &in[1], dim, &out[0].shape.dims[a]);
}

static nn_status nn_tn__run_compress(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const nn_attr *ax = nn_node_attr(c->node, "axis");
    size_t es = 0, outer = 1, inner = 1, dim = nn_value_count(&in[0]);
    int32_t a = 0;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (st) return st;
    if (ax) {
        nn_op__axis(ax->i, in[0].shape.rank, &a);
        dim = (size_t)in[0].shape.dims[a];
        for (int32_t i = 0; i < a; i++) outer *= (size_t)in[0].shape.dims[i];
        for (int32_t i = a + 1; i < in[0].shape.rank; i++) inner *= (size_t)in[0].shape.dims[i];
    }
    size_t nc = nn_value_count(&in[1]), kept = (size_t)out[0].shape.dims[ax ? a : 0];
    const uint8_t *cond = (const uint8_t *)in[1].data, *src = (const uint8_t *)in[0].data;
    uint8_t *dst = (uint8_t *)out[0].data;
    for (size_t o = 0; o < outer; o++) {
        size_t j = 0;
        for (size_t i = 0; i < dim && i < nc; i++) {
            if (!cond[i]) continue;
            if (j >= kept) return nn_op_error(c, NN_ERR_INVALID, "input changed between infer and run");
            memcpy(dst + ((o * kept + j) * inner) * es, src + ((o * dim + i) * inner) * es, inner * es);
            j++;
        }
    }
    return NN_OK;
}

static nn_status nn_tn__rs_axes(nn_op_ctx *c, int32_t *ba, int32_t *ta) {
    int64_t b = nn_node_attr_int(c->node, "batch_axis", 1), t = nn_node_attr_int(c->node, "time_axis", 0);
    if (!((b == 0 && t == 1) || (b == 1 && t == 0))) return nn_op_error(c, NN_ERR_INVALID, "batch_axis and time_axis must be 0 and 1");
    *ba = (int32_t)b;
    *ta = (int32_t)t;
    return NN_OK;
}

static nn_status nn_tn__infer_revseq(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int32_t ba = 0, ta = 0;
    out[0].dtype = in[0].dtype;
    out[0].shape = in[0].shape;
    nn_status st = nn_tn__rs_axes(c, &ba, &ta);
    if (st) return st;
    if (in[0].shape.rank >= 0 && in[0].shape.rank < 2) return nn_op_error(c, NN_ERR_SHAPE, "input needs rank >= 2");
    if (in[0].shape.rank >= 0 && in[1].shape.rank == 1 && in[0].shape.dims[ba] >= 0 && in[1].shape.dims[0] >= 0 &&
        in[1].shape.dims[0] != in[0].shape.dims[ba])
        return nn_op_error(c, NN_ERR_SHAPE, "sequence_lens has %lld entries for a batch of %lld", (long long)in[1].shape.dims[0],
                           (long long)in[0].shape.dims[ba]);
    return NN_OK;
}

static nn_status nn_tn__run_revseq(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int32_t ba = 0, ta = 0;
    size_t es = 0;
    nn_status st = nn_tn__rs_axes(c, &ba, &ta);
    if (!st) st = nn_tn__esize(c, in[0].dtype, &es);
    if (st) return st;
    int64_t nb = in[0].shape.dims[ba], nt = in[0].shape.dims[ta];
    if (nn_value_count(&in[1]) != (size_t)nb) return nn_op_error(c, NN_ERR_SHAPE, "sequence_lens must have one entry per batch");
    size_t inner = es;
    for (int32_t i = 2; i < in[0].shape.rank; i++) inner *= (size_t)in[0].shape.dims[i];
    /* element (t, b) of the first two axes starts at (t*st_t + b*st_b) * inner */
    size_t st_t = ta == 0 ? (size_t)nb : 1, st_b = ba == 0 ? (size_t)nt : 1;
    const uint8_t *src = (const uint8_t *)in[0].data;
    uint8_t *dst = (uint8_t *)out[0].data;
    for (int64_t b = 0; b < nb; b++) {
        int64_t len = nn_op__int_at(&in[1], (size_t)b);
        if (len < 0 || len > nt) return nn_op_error(c, NN_ERR_INVALID, "sequence length %lld outside [0, %lld]", (long long)len, (long long)nt);
        for (int64_t t = 0; t < nt; t++) {
            int64_t from = t < len ? len - 1 - t : t;
            memcpy(dst + ((size_t)t * st_t + (size_t)b * st_b) * inner, src + ((size_t)from * st_t + (size_t)b * st_b) * inner, inner);
        }
    }
    return NN_OK;
}

/* CenterCropPad (opset 18): each listed axis becomes shape[i] long, cropped or
   zero-padded around the centre; the smaller half of an odd difference goes first. */
static nn_status nn_tn__ccp_params(nn_op_ctx *c, const nn_value *in, int32_t rank, int64_t *target, int *known) {
    int64_t shp[NN_MAX_RANK], axes[NN_MAX_RANK];
    int n = nn_tn__ints(&in[1], shp, NN_MAX_RANK), na = nn_tn__attr_ints(c, "axes", axes, NN_MAX_RANK);
    *known = 0;
    if (n == -2 || na == -2) return nn_op_error(c, NN_ERR_INVALID, "shape/axes must be int lists of at most %d values", NN_MAX_RANK);
    for (int32_t i = 0; i < rank; i++) target[i] = -2; /* -2: axis kept */
    if (na < 0) { na = rank; for (int k = 0; k < na; k++) axes[k] = k; }
    if (n == -1) {
        for (int k = 0; k < na; k++) {
            int32_t a = 0;
            if (nn_op__axis(axes[k], rank, &a)) target[a] = NN_DIM_UNKNOWN;
        }
        return NN_OK;
    }
    if (n != na) return nn_op_error(c, NN_ERR_INVALID, "shape has %d values for %d axes", n, na);
    for (int k = 0; k < na; k++) {
        int32_t a = 0;
        if (!nn_op__axis(axes[k], rank, &a) || rank == 0) return nn_op_error(c, NN_ERR_INVALID, "axis %lld out of range", (long long)axes[k]);
        if (shp[k] < 0) return nn_op_error(c, NN_ERR_INVALID, "shape[%d] = %lld", k, (long long)shp[k]);
        target[a] = shp[k];
    }
    *known = 1;
    return NN_OK;
}

static nn_status nn_tn__infer_ccp(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int64_t target[NN_MAX_RANK];
    int known;
    out[0].dtype = in[0].dtype;
    out[0].shape = in[0].shape;
    if (in[0].shape.rank < 0) return NN_OK;
    nn_status st = nn_tn__ccp_params(c, in, in[0].shape.rank, target, &known);
    for (int32_t i = 0; i < in[0].shape.rank && !st; i++)
        if (target[i] != -2) out[0].shape.dims[i] = target[i];
    return st;
}

static nn_status nn_tn__run_ccp(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    int64_t st_in[NN_MAX_RANK], st_out[NN_MAX_RANK], so = 0, dof = 0;
    size_t es = 0;
    const nn_shape *is = &in[0].shape, *os = &out[0].shape;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (st) return st;
    memset(out[0].data, 0, out[0].bytes);
    nn_tn__strides(is, st_in);
    nn_tn__strides(os, st_out);
    nn_tn__box b;
    memset(&b, 0, sizeof b);
    b.rank = is->rank;
    b.es = es;
    for (int32_t i = 0; i < is->rank; i++) {
        int64_t d = is->dims[i], t = os->dims[i];
        if (t <= d) { so += (d - t) / 2 * st_in[i]; b.dims[i] = t; }
        else { dof += (t - d) / 2 * st_out[i]; b.dims[i] = d; }
        b.ss[i] = st_in[i];
        b.ds[i] = st_out[i];
    }
    b.src = (const uint8_t *)in[0].data + so * (int64_t)es;
    b.dst = (uint8_t *)out[0].data + dof * (int64_t)es;
    nn_tn__box_run(c, &b);
    return NN_OK;
}

/* ---- tensor: Resize, Upsample ----

   Output sizes: from `sizes` (optionally with keep_aspect_ratio_policy, opset 18) or
   floor(in * scale) (times roi_end - roi_start for tf_crop_and_resize).  Each resized
   axis gets a table of taps (source index, weight) per output index, following the
   ONNX reference: x_original from coordinate_transformation_mode (computed in double
   with output_width = scale * input_width, as the reference does), then nearest
   rounding, or linear/cubic weights with ratio in (0, 1] over edge-clamped
   neighbours; antialias stretches the filter by 1/scale when downscaling.
   Nearest copies elements of any type; linear and cubic run one separable pass per
   resized axis (last axis first, like the reference's recursion) on float or double. */

enum { NN_TN__RS_NEAREST, NN_TN__RS_LINEAR, NN_TN__RS_CUBIC };
enum {
    NN_TN__CT_HALF_PIXEL, NN_TN__CT_HALF_PIXEL_SYM, NN_TN__CT_PYTORCH, NN_TN__CT_ALIGN, NN_TN__CT_ASYM,
    NN_TN__CT_TF_NN, NN_TN__CT_TF_CROP
};
enum { NN_TN__NM_PREFER_FLOOR, NN_TN__NM_PREFER_CEIL, NN_TN__NM_FLOOR, NN_TN__NM_CEIL, NN_TN__NM_SIMPLE };

typedef struct {
    int mode, coord, nearest, exclude_outside, antialias, policy;
    double cubic_a, extrapolation;
    int32_t rank;
    int64_t out[NN_MAX_RANK];  /* output dims (NN_DIM_UNKNOWN while unknown) */
    double scale[NN_MAX_RANK];
    double roi0[NN_MAX_RANK], roi1[NN_MAX_RANK];
    int resized[NN_MAX_RANK];  /* axes the op may change */
} nn_tn__rsz;

static int nn_tn__pick(const char *s, const char *const *names, int count) {
    for (int i = 0; i < count; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

/* Attributes by opset: Upsample (7-9) and Resize 10 know only mode (asymmetric
   coordinates, nearest = floor when upscaling and ceil when downscaling, like the
   Upsample reference); Resize 11 adds the rest; 18 antialias, axes and
   keep_aspect_ratio_policy; 19 half_pixel_symmetric. */
static nn_status nn_tn__resize_attrs(nn_op_ctx *c, nn_tn__rsz *p) {
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    static const char *const coords[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                                         "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
    static const char *const nearests[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    int legacy = strcmp(c->node->op_type, "Upsample") == 0 || c->opset < 11;
    const char *m = nn_node_attr_string(c->node, "mode", "nearest");
    p->mode = nn_tn__pick(m, modes, 3);
    if (legacy && strcmp(m, "bilinear") == 0) p->mode = NN_TN__RS_LINEAR; /* Upsample's old name */
    if (p->mode < 0 || (legacy && p->mode == NN_TN__RS_CUBIC)) return nn_op_error(c, NN_ERR_UNSUPPORTED, "mode '%s' is not supported", m);
    p->cubic_a = nn_node_attr_float(c->node, "cubic_coeff_a", -0.75f);
    p->exclude_outside = nn_node_attr_int(c->node, "exclude_outside", 0) != 0;
    p->extrapolation = nn_node_attr_float(c->node, "extrapolation_value", 0.0f);
    p->antialias = nn_node_attr_int(c->node, "antialias", 0) != 0;
    static const char *const policies[] = {"stretch", "not_larger", "not_smaller"};
    const char *pol = nn_node_attr_string(c->node, "keep_aspect_ratio_policy", "stretch");
    p->policy = nn_tn__pick(pol, policies, 3);
    if (p->policy < 0) return nn_op_error(c, NN_ERR_UNSUPPORTED, "keep_aspect_ratio_policy '%s' is not supported", pol);
    if (legacy) { p->coord = NN_TN__CT_ASYM; p->nearest = NN_TN__NM_SIMPLE; return NN_OK; }
    const char *ct = nn_node_attr_string(c->node, "coordinate_transformation_mode", "half_pixel");
    const char *nm = nn_node_attr_string(c->node, "nearest_mode", "round_prefer_floor");
    p->coord = nn_tn__pick(ct, coords, 7);
    p->nearest = nn_tn__pick(nm, nearests, 4);
    if (p->coord < 0) return nn_op_error(c, NN_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s' is not supported", ct);
    if (p->nearest < 0) return nn_op_error(c, NN_ERR_UNSUPPORTED, "nearest_mode '%s' is not supported", nm);
    return NN_OK;
}

/* Reads scales/roi values (float16/float/double) into dst. */
static int nn_tn__floats(const nn_value *v, double *dst, int cap) {
    int ok;
    size_t n = nn_shape_count(&v->shape, &ok);
    if (!ok || n > (size_t)cap || !nn_dtype_is_float(v->dtype)) return -2;
    for (size_t i = 0; i < n; i++) dst[i] = nn_op__load(v->data, v->dtype, i);
    return (int)n;
}

/* Output dims from scales: floor(in * scale), times the roi span for
   tf_crop_and_resize (spec, opset 11+). */
static nn_status nn_tn__resize_from_scales(nn_op_ctx *c, const nn_shape *is, const int32_t *axes, int na,
                                           const double *scales, nn_tn__rsz *p) {
    for (int k = 0; k < na; k++) {
        int32_t a = axes[k];
        if (!(scales[k] > 0) || scales[k] > 1e9) return nn_op_error(c, NN_ERR_INVALID, "scale %g on axis %d", scales[k], a);
        p->scale[a] = scales[k];
        if (is->dims[a] < 0) continue;
        double span = p->coord == NN_TN__CT_TF_CROP ? p->roi1[a] - p->roi0[a] : 1.0;
        double o = floor((double)is->dims[a] * span * scales[k]);
        if (!(o >= 0 && o < 9e15)) return nn_op_error(c, NN_ERR_INVALID, "output size %g on axis %d", o, a);
        p->out[a] = (int64_t)o;
    }
    return NN_OK;
}

/* Output dims from sizes; scale = out / in per axis.  keep_aspect_ratio_policy
   (opset 18) instead takes the min (not_larger) or max (not_smaller) of those
   ratios for every axis and rounds in * scale half up. */
static nn_status nn_tn__resize_from_sizes(nn_op_ctx *c, const nn_shape *is, const int32_t *axes, int na,
                                          const int64_t *sizes, nn_tn__rsz *p) {
    int policy = p->policy, all_known = 1;
    double common = policy == 1 ? 1e300 : 0;
    for (int k = 0; k < na; k++) {
        int32_t a = axes[k];
        if (sizes[k] < 0) return nn_op_error(c, NN_ERR_INVALID, "sizes[%d] = %lld", k, (long long)sizes[k]);
        p->out[a] = sizes[k];
        if (is->dims[a] < 0) { all_known = 0; continue; }
        double s = is->dims[a] ? (double)sizes[k] / (double)is->dims[a] : 1.0;
        p->scale[a] = s;
        if (policy == 1 && s < common) common = s;
        if (policy == 2 && s > common) common = s;
    }
    if (!policy) return NN_OK;
    for (int k = 0; k < na; k++) {
        int32_t a = axes[k];
        p->scale[a] = common;
        p->out[a] = all_known ? (int64_t)floor(common * (double)is->dims[a] + 0.5) : NN_DIM_UNKNOWN;
    }
    return NN_OK;
}

/* Fills p (output dims, scales, roi) for input shape is; *known = 0 while scales or
   sizes are not known (their axes then get unknown dims). */
static nn_status nn_tn__resize_params(nn_op_ctx *c, const nn_value *in, uint32_t n_in, const nn_shape *is, nn_tn__rsz *p,
                                      int *known) {
    int32_t r = is->rank, axes[NN_MAX_RANK];
    int64_t ax64[NN_MAX_RANK], sizes[NN_MAX_RANK];
    double scales[NN_MAX_RANK], roi[2 * NN_MAX_RANK];
    int upsample = strcmp(c->node->op_type, "Upsample") == 0, na, ns = -3, nz = -3;
    uint32_t i_roi = 1, i_scales = 2, i_sizes = 3;
    *known = 0;
    p->rank = r;
    nn_status st = nn_tn__resize_attrs(c, p);
    if (st) return st;
    na = c->opset >= 18 && !upsample ? nn_tn__attr_ints(c, "axes", ax64, NN_MAX_RANK) : -1;
    if (na == -2) return nn_op_error(c, NN_ERR_INVALID, "too many axes");
    if (na < 0) { na = r; for (int k = 0; k < r; k++) ax64[k] = k; }
    for (int32_t i = 0; i < r; i++) { p->out[i] = is->dims[i]; p->scale[i] = 1.0; p->roi0[i] = 0; p->roi1[i] = 1; p->resized[i] = 0; }
    for (int k = 0; k < na; k++) {
        if (!nn_op__axis(ax64[k], r, &axes[k]) || r == 0) return nn_op_error(c, NN_ERR_INVALID, "axis %lld out of range", (long long)ax64[k]);
        if (p->resized[axes[k]]) return nn_op_error(c, NN_ERR_INVALID, "axis %lld repeated", (long long)ax64[k]);
        p->resized[axes[k]] = 1;
    }
    if (upsample || c->opset < 11) { i_scales = 1; i_roi = i_sizes = 99; }
    if (upsample && c->opset < 9) { /* scales attribute */
        const nn_attr *a = nn_node_attr(c->node, "scales");
        if (!a || a->type != NN_ATTR_FLOATS || a->count > NN_MAX_RANK) return nn_op_error(c, NN_ERR_INVALID, "needs 'scales'");
        ns = (int)a->count;
        for (int k = 0; k < ns; k++) scales[k] = a->floats[k];
    } else {
        if (nn_tn__has(in, n_in, i_scales) && nn_tn__known(&in[i_scales])) {
            ns = nn_tn__floats(&in[i_scales], scales, NN_MAX_RANK);
            if (ns == -2) return nn_op_error(c, NN_ERR_INVALID, "scales must be a float list of at most %d values", NN_MAX_RANK);
            if (ns == 0) ns = -3; /* an empty placeholder: sizes decide (opset 11-12) */
        } else if (nn_tn__has(in, n_in, i_scales)) {
            ns = -1;
        }
        if (nn_tn__has(in, n_in, i_sizes) && (ns == -3 || ns == -1)) {
            nz = nn_tn__ints(&in[i_sizes], sizes, NN_MAX_RANK);
            if (nz == -2) return nn_op_error(c, NN_ERR_INVALID, "sizes must be an int64 list of at most %d values", NN_MAX_RANK);
            if (nz >= 0) ns = -3;
        }
    }
    if (ns == -3 && nz == -3) return nn_op_error(c, NN_ERR_INVALID, "needs scales or sizes");
    if (p->coord == NN_TN__CT_TF_CROP && nn_tn__has(in, n_in, i_roi)) {
        if (!nn_tn__known(&in[i_roi])) { ns = ns >= 0 ? -1 : ns; nz = nz >= 0 ? -1 : nz; }
        else {
            int nr = nn_tn__floats(&in[i_roi], roi, 2 * NN_MAX_RANK);
            if (nr != 2 * na) return nn_op_error(c, NN_ERR_INVALID, "roi must hold %d values", 2 * na);
            for (int k = 0; k < na; k++) { p->roi0[axes[k]] = roi[k]; p->roi1[axes[k]] = roi[na + k]; }
        }
    }
    if (ns == -1 || nz == -1) {
        for (int k = 0; k < na; k++) p->out[axes[k]] = NN_DIM_UNKNOWN;
        return NN_OK;
    }
    if ((ns >= 0 && ns != na) || (nz >= 0 && nz != na))
        return nn_op_error(c, NN_ERR_INVALID, "scales/sizes hold %d values for %d axes", ns >= 0 ? ns : nz, na);
    if (ns >= 0) st = nn_tn__resize_from_scales(c, is, axes, na, scales, p);
    else st = nn_tn__resize_from_sizes(c, is, axes, na, sizes, p);
    *known = st == NN_OK;
    return st;
}

static nn_status nn_tn__infer_resize(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    nn_tn__rsz p;
    int known;
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = in[0].shape.rank;
    if (in[0].shape.rank < 0) return nn_tn__resize_attrs(c, &p);
    nn_status st = nn_tn__resize_params(c, in, n_in, &in[0].shape, &p, &known);
    if (st) return st;
    for (int32_t i = 0; i < in[0].shape.rank; i++) out[0].shape.dims[i] = p.out[i];
    if (p.mode != NN_TN__RS_NEAREST && in[0].dtype != NN_DTYPE_UNDEFINED && !nn_dtype_is_float(in[0].dtype))
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s interpolation of %s data is not supported", p.mode == NN_TN__RS_LINEAR ? "linear" : "cubic",
                           nn_dtype_name(in[0].dtype));
    return NN_OK;
}

/* One axis' taps: n per output index; idx already clamped to [0, in-1]; oob marks
   tf_crop_and_resize positions outside the image (extrapolation_value). */
typedef struct {
    int n;
    int64_t *idx;
    double *w;
    uint8_t *oob;
} nn_tn__taps;

static double nn_tn__cubic_w(double x, double a) {
    x = fabs(x);
    if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0;
}

static double nn_tn__x_original(const nn_tn__rsz *p, int32_t a, int64_t o, int64_t in_len, int *oob) {
    double s = p->scale[a], ow = s * (double)in_len, x, xo = (double)o, len = (double)in_len;
    *oob = 0;
    switch (p->coord) {
    case NN_TN__CT_HALF_PIXEL_SYM: {
        double adj = (double)p->out[a] / ow, center = len / 2;
        x = center * (1 - adj) + (xo + 0.5) / s - 0.5;
        break;
    }
    case NN_TN__CT_PYTORCH: x = p->out[a] > 1 ? (xo + 0.5) / s - 0.5 : -0.5; break;
    case NN_TN__CT_ALIGN: x = ow == 1 ? 0 : xo * (len - 1) / (ow - 1); break;
    case NN_TN__CT_ASYM: x = xo / s; break;
    case NN_TN__CT_TF_NN: x = (xo + 0.5) / s; break;
    case NN_TN__CT_TF_CROP: {
        double r0 = p->roi0[a], r1 = p->roi1[a];
        x = ow == 1 ? (r1 - r0) * (len - 1) / 2 : xo * (r1 - r0) * (len - 1) / (ow - 1);
        x += r0 * (len - 1);
        *oob = x < 0 || x > len - 1;
        break;
    }
    default: x = (xo + 0.5) / s - 0.5; break;
    }
    return x;
}

static int64_t nn_tn__clamp_index(int64_t i, int64_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

static nn_status nn_tn__build_taps(nn_op_ctx *c, const nn_tn__rsz *p, int32_t a, int64_t in_len, nn_tn__taps *t) {
    int64_t m = p->out[a];
    double s = p->scale[a] < 1 ? p->scale[a] : 1.0;
    int aa = p->antialias && p->mode != NN_TN__RS_NEAREST, start = 0;
    if (p->mode == NN_TN__RS_NEAREST) t->n = 1;
    else if (!aa) { t->n = p->mode == NN_TN__RS_LINEAR ? 2 : 4; start = p->mode == NN_TN__RS_LINEAR ? 0 : -1; }
    else { /* footprint of the stretched filter (ONNX reference, antialias) */
        double reach = p->mode == NN_TN__RS_LINEAR ? 1.0 : 2.0;
        if (reach / s > 4096) return nn_op_error(c, NN_ERR_LIMIT, "antialias filter too wide for scale %g", s);
        start = (int)floor(-reach / s) + 1;
        t->n = 2 - 2 * start;
    }
    size_t cnt = (size_t)m * (size_t)t->n;
    t->idx = (int64_t *)nn_op_scratch(c, cnt * sizeof(int64_t) + 8);
    t->w = (double *)nn_op_scratch(c, cnt * sizeof(double) + 8);
    t->oob = (uint8_t *)nn_op_scratch(c, (size_t)m + 1);
    if (!t->idx || !t->w || !t->oob) return NN_ERR_NOMEM;
    for (int64_t o = 0; o < m; o++) {
        int oob;
        double x = nn_tn__x_original(p, a, o, in_len, &oob);
        int64_t *ix = t->idx + o * t->n;
        double *w = t->w + o * t->n;
        t->oob[o] = (uint8_t)oob;
        if (p->mode == NN_TN__RS_NEAREST) {
            double f = floor(x), r = x - f;
            int64_t k;
            if (p->nearest == NN_TN__NM_SIMPLE) k = p->scale[a] < 1 ? (int64_t)ceil(x) : (int64_t)f;
            else if (r == 0) k = (int64_t)f;
            else if (p->nearest == NN_TN__NM_FLOOR) k = (int64_t)f;
            else if (p->nearest == NN_TN__NM_CEIL) k = (int64_t)f + 1;
            else if (p->nearest == NN_TN__NM_PREFER_CEIL) k = (int64_t)f + (r >= 0.5);
            else k = (int64_t)f + (r > 0.5);
            ix[0] = nn_tn__clamp_index(k, in_len);
            w[0] = 1;
            continue;
        }
        /* ratio in (0, 1]: an integral x takes the left neighbour's weight 0 */
        int64_t base = (int64_t)ceil(x) - 1;
        double ratio = x - (double)base, sum = 0;
        for (int k = 0; k < t->n; k++) {
            int64_t i = base + start + k;
            double d = (double)(start + k) - ratio;
            if (p->mode == NN_TN__RS_LINEAR) w[k] = aa ? (1 - fabs(d * s) > 0 ? 1 - fabs(d * s) : 0) : 1 - fabs(d);
            else w[k] = nn_tn__cubic_w(aa ? d * s : d, p->cubic_a);
            if (p->exclude_outside && (i < 0 || i >= in_len)) w[k] = 0;
            ix[k] = nn_tn__clamp_index(i, in_len);
            sum += w[k];
        }
        if ((aa || p->exclude_outside) && sum != 0)
            for (int k = 0; k < t->n; k++) w[k] /= sum;
    }
    return NN_OK;
}

/* Nearest: per output row the outer axes pick one source row (or extrapolate);
   consecutive output rows with the same source row are copied from the previous one. */
typedef struct {
    const nn_tn__rsz *p;
    const nn_tn__taps *t;   /* per axis */
    const int64_t *st_in;
    const uint8_t *src;
    uint8_t *dst;
    size_t es;
    int last_oob;           /* some position of the last axis extrapolates */
    uint8_t extrap[16];
} nn_tn__nearest_job;

static void nn_tn__nearest_rows(void *arg, size_t begin, size_t end) {
    const nn_tn__nearest_job *j = (const nn_tn__nearest_job *)arg;
    int32_t r = j->p->rank, last = r - 1;
    int64_t pos[NN_MAX_RANK], w = j->p->out[last], prev_off = -1;
    size_t es = j->es, rem = begin, row_bytes = (size_t)w * es;
    const nn_tn__taps *tl = &j->t[last];
    for (int32_t i = last - 1; i >= 0; i--) { pos[i] = (int64_t)(rem % (size_t)j->p->out[i]); rem /= (size_t)j->p->out[i]; }
    for (size_t row = begin; row < end; row++) {
        int64_t off = 0;
        int oob = 0;
        for (int32_t i = 0; i < last; i++) {
            off += j->t[i].idx[pos[i]] * j->st_in[i];
            oob |= j->t[i].oob[pos[i]];
        }
        uint8_t *d = j->dst + row * row_bytes;
        if (oob) off = -2;
        if (off == prev_off && row > begin) {
            memcpy(d, d - row_bytes, row_bytes);
        } else if (oob) {
            nn_tn__fill(d, j->extrap, (size_t)w, es);
        } else {
            const uint8_t *s = j->src + off * (int64_t)es;
            const int64_t *ix = tl->idx;
            switch (j->last_oob ? 0 : es) { /* constant-size moves in the common cases */
            case 1: for (int64_t k = 0; k < w; k++) d[k] = s[ix[k]]; break;
            case 2: for (int64_t k = 0; k < w; k++) memcpy(d + k * 2, s + ix[k] * 2, 2); break;
            case 4: for (int64_t k = 0; k < w; k++) memcpy(d + k * 4, s + ix[k] * 4, 4); break;
            case 8: for (int64_t k = 0; k < w; k++) memcpy(d + k * 8, s + ix[k] * 8, 8); break;
            default:
                for (int64_t k = 0; k < w; k++)
                    memcpy(d + (size_t)k * es, tl->oob[k] ? j->extrap : s + ix[k] * (int64_t)es, es);
                break;
            }
        }
        prev_off = off;
        for (int32_t i = last - 1; i >= 0; i--) {
            if (++pos[i] < j->p->out[i]) break;
            pos[i] = 0;
        }
    }
}

/* One separable pass over axis a: dst (outer, m, inner) from src (outer, len, inner).
   Weights are converted to the working type once per pass. */
typedef struct {
    const nn_tn__taps *t;
    const void *w;          /* n weights per output index, working type */
    size_t outer, len, m, inner;
    double extrap;
    const void *src;
    void *dst;
} nn_tn__pass_job;

/* inner == 1 (the last axis) gathers per element; otherwise whole rows of inner
   elements are blended, with the two-tap case (linear) fused into one loop. */
#define NN_TN__PASS_FN(NAME, T)                                                            \
    static void NAME(void *arg, size_t begin, size_t end) {                                \
        const nn_tn__pass_job *j = (const nn_tn__pass_job *)arg;                          \
        const T *src = (const T *)j->src, *wt = (const T *)j->w;                           \
        T *dst = (T *)j->dst;                                                              \
        size_t inner = j->inner;                                                           \
        int n = j->t->n;                                                                   \
        size_t o = begin / j->m, q = begin % j->m; /* no division per element */           \
        for (size_t it = begin; it < end; it++, q = q + 1 == j->m ? (o++, 0) : q + 1) {    \
            T *d = dst + it * inner;                                                       \
            const int64_t *ix = j->t->idx + q * (size_t)n;                                \
            const T *w = wt + q * (size_t)n, *row = src + o * j->len * inner;             \
            if (j->t->oob[q]) {                                                            \
                for (size_t e = 0; e < inner; e++) d[e] = (T)j->extrap;                    \
            } else if (inner == 1 && n == 2) {                                             \
                d[0] = w[0] * row[ix[0]] + w[1] * row[ix[1]];                              \
            } else if (inner == 1) {                                                       \
                T acc = 0;                                                                 \
                for (int k = 0; k < n; k++) acc += w[k] * row[ix[k]];                      \
                d[0] = acc;                                                                \
            } else if (n == 2) {                                                           \
                const T *s0 = row + (size_t)ix[0] * inner, *s1 = row + (size_t)ix[1] * inner; \
                T w0 = w[0], w1 = w[1];                                                    \
                for (size_t e = 0; e < inner; e++) d[e] = w0 * s0[e] + w1 * s1[e];         \
            } else {                                                                       \
                const T *s0 = row + (size_t)ix[0] * inner;                                 \
                T w0 = w[0];                                                               \
                for (size_t e = 0; e < inner; e++) d[e] = w0 * s0[e];                      \
                for (int k = 1; k < n; k++) {                                              \
                    const T *sk = row + (size_t)ix[k] * inner;                             \
                    T wk = w[k];                                                           \
                    if (wk == 0) continue;                                                 \
                    for (size_t e = 0; e < inner; e++) d[e] += wk * sk[e];                 \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }

NN_TN__PASS_FN(nn_tn__pass_f32, float)
NN_TN__PASS_FN(nn_tn__pass_f64, double)

/* Linear/cubic: one pass per resized axis, last axis first, on float (f32, f16 and
   bf16 widened) or double working buffers; the last pass writes the output
   directly when its type is the working type. */
static nn_status nn_tn__resize_separable(nn_op_ctx *c, const nn_value *in, nn_value *out, const nn_tn__rsz *pp,
                                         const nn_tn__taps *t) {
    nn_tn__rsz p = *pp; /* resized[] is updated locally */
    const nn_shape *is = &in[0].shape;
    int32_t r = is->rank;
    size_t total = nn_value_count(&out[0]);
    int dbl = in[0].dtype == NN_DTYPE_DOUBLE;
    size_t ws = dbl ? sizeof(double) : sizeof(float), n_in_el = nn_value_count(&in[0]);
    const void *cur = in[0].data;
    if (in[0].dtype != NN_DTYPE_FLOAT && !dbl) {
        float *f = (float *)nn_op_scratch(c, n_in_el * sizeof(float) + 8);
        if (!f) return NN_ERR_NOMEM;
        for (size_t i = 0; i < n_in_el; i++) f[i] = (float)nn_op__load(in[0].data, in[0].dtype, i);
        cur = f;
    }
    int64_t dims[NN_MAX_RANK];
    for (int32_t i = 0; i < r; i++) dims[i] = is->dims[i];
    int32_t last_pass = -1;
    for (int32_t a = 0; a < r; a++) {
        int identity = p.out[a] == dims[a];
        for (int64_t o = 0; identity && o < p.out[a]; o++) {
            identity = !t[a].oob[o];
            for (int k = 0; k < t[a].n && identity; k++) identity = t[a].w[o * t[a].n + k] == 0 || (t[a].idx[o * t[a].n + k] == o && t[a].w[o * t[a].n + k] == 1);
        }
        p.resized[a] = !identity;
        if (!identity && last_pass < 0) last_pass = a; /* passes run from the last axis down */
    }
    if (last_pass < 0) { /* nothing moves */
        for (size_t i = 0; i < total; i++) nn_op__store(out[0].data, out[0].dtype, i, nn_op__load(cur, dbl ? NN_DTYPE_DOUBLE : NN_DTYPE_FLOAT, i));
        return NN_OK;
    }
    for (int32_t a = r - 1; a >= 0; a--) {
        if (!p.resized[a]) continue;
        nn_tn__pass_job j;
        j.t = &t[a];
        j.outer = 1;
        j.inner = 1;
        for (int32_t i = 0; i < a; i++) j.outer *= (size_t)dims[i];
        for (int32_t i = a + 1; i < r; i++) j.inner *= (size_t)dims[i];
        j.len = (size_t)dims[a];
        j.m = (size_t)p.out[a];
        j.extrap = p.extrapolation;
        j.src = cur;
        size_t nw = j.m * (size_t)t[a].n;
        void *w = nn_op_scratch(c, nw * ws + 8);
        if (!w) return NN_ERR_NOMEM;
        for (size_t i = 0; i < nw; i++) {
            if (dbl) ((double *)w)[i] = t[a].w[i];
            else ((float *)w)[i] = (float)t[a].w[i];
        }
        j.w = w;
        int direct = a == last_pass && ((out[0].dtype == NN_DTYPE_FLOAT && !dbl) || (dbl && out[0].dtype == NN_DTYPE_DOUBLE));
        void *dst = direct ? out[0].data : nn_op_scratch(c, j.outer * j.m * j.inner * ws + 8);
        if (!dst) return NN_ERR_NOMEM;
        j.dst = dst;
        nn_op_parallel(c, j.outer * j.m, j.inner >= 4096 ? 1 : 4096 / j.inner, dbl ? nn_tn__pass_f64 : nn_tn__pass_f32, &j);
        dims[a] = p.out[a];
        cur = dst;
    }
    if (cur != out[0].data)
        for (size_t i = 0; i < total; i++)
            nn_op__store(out[0].data, out[0].dtype, i, dbl ? ((const double *)cur)[i] : (double)((const float *)cur)[i]);
    return NN_OK;
}

static nn_status nn_tn__run_resize(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    nn_tn__rsz p;
    nn_tn__taps t[NN_MAX_RANK];
    int64_t st_in[NN_MAX_RANK];
    int known;
    size_t es = 0;
    const nn_shape *is = &in[0].shape;
    int32_t r = is->rank;
    nn_status st = nn_tn__esize(c, in[0].dtype, &es);
    if (!st) st = nn_tn__resize_params(c, in, n_in, is, &p, &known);
    if (st) return st;
    if (!known) return nn_op_error(c, NN_ERR_INVALID, "scales/sizes are not known");
    size_t total = nn_value_count(&out[0]);
    if (total == 0) return NN_OK;
    if (r == 0) { memcpy(out[0].data, in[0].data, es); return NN_OK; }
    for (int32_t i = 0; i < r; i++) {
        if (is->dims[i] == 0) return nn_op_error(c, NN_ERR_INVALID, "cannot resize an empty axis %d to %lld", i, (long long)p.out[i]);
        if ((st = nn_tn__build_taps(c, &p, i, is->dims[i], &t[i])) != NN_OK) return st;
    }
    nn_tn__strides(is, st_in);
    if (p.mode == NN_TN__RS_NEAREST) {
        nn_tn__nearest_job j;
        j.p = &p;
        j.t = t;
        j.st_in = st_in;
        j.src = (const uint8_t *)in[0].data;
        j.dst = (uint8_t *)out[0].data;
        j.es = es;
        memset(j.extrap, 0, sizeof j.extrap);
        nn_op__store(j.extrap, in[0].dtype, 0, p.extrapolation);
        j.last_oob = 0;
        for (int64_t k = 0; k < p.out[r - 1]; k++) j.last_oob |= t[r - 1].oob[k];
        size_t rows = total / (size_t)p.out[r - 1], row_bytes = (size_t)p.out[r - 1] * es;
        nn_op_parallel(c, rows, row_bytes >= 16384 ? 1 : 16384 / row_bytes, nn_tn__nearest_rows, &j);
        return NN_OK;
    }
    return nn_tn__resize_separable(c, in, out, &p, t);
}

/* ---- tensor: Col2Im ---- */

/* Col2Im (opset 18): input (N, C*prod(block), L) scatters back, summing overlaps, into
   (N, C, image...) where L is the sliding-window grid of the padded image. */
typedef struct {
    int32_t nd;
    int64_t img[NN_MAX_RANK], blk[NN_MAX_RANK], dil[NN_MAX_RANK], pb[NN_MAX_RANK], pe[NN_MAX_RANK], str[NN_MAX_RANK];
    int64_t grid[NN_MAX_RANK];
} nn_tn__col2im;

static nn_status nn_tn__col2im_params(nn_op_ctx *c, const nn_value *in, nn_tn__col2im *p, int *known) {
    int64_t pads[2 * NN_MAX_RANK];
    int ni = nn_tn__ints(&in[1], p->img, NN_MAX_RANK - 2), nb = nn_tn__ints(&in[2], p->blk, NN_MAX_RANK - 2);
    *known = 0;
    if (ni == -2 || nb == -2) return nn_op_error(c, NN_ERR_INVALID, "image_shape and block_shape must be int64 lists");
    if (ni < 0 || nb < 0) return NN_OK;
    if (ni != nb || ni < 1) return nn_op_error(c, NN_ERR_INVALID, "image_shape and block_shape differ in length");
    p->nd = ni;
    int nd_ = nn_tn__attr_ints(c, "dilations", p->dil, NN_MAX_RANK), np = nn_tn__attr_ints(c, "pads", pads, 2 * NN_MAX_RANK);
    int ns = nn_tn__attr_ints(c, "strides", p->str, NN_MAX_RANK);
    if ((nd_ >= 0 && nd_ != ni) || (np >= 0 && np != 2 * ni) || (ns >= 0 && ns != ni) || nd_ == -2 || np == -2 || ns == -2)
        return nn_op_error(c, NN_ERR_INVALID, "dilations/pads/strides do not match %d spatial dims", ni);
    for (int32_t d = 0; d < ni; d++) {
        if (nd_ < 0) p->dil[d] = 1;
        if (ns < 0) p->str[d] = 1;
        p->pb[d] = np < 0 ? 0 : pads[d];
        p->pe[d] = np < 0 ? 0 : pads[ni + d];
        if (p->img[d] < 1 || p->blk[d] < 1 || p->dil[d] < 1 || p->str[d] < 1 || p->pb[d] < 0 || p->pe[d] < 0 ||
            p->img[d] > INT32_MAX || p->blk[d] > INT32_MAX || p->dil[d] > INT32_MAX || p->str[d] > INT32_MAX ||
            p->pb[d] > INT32_MAX || p->pe[d] > INT32_MAX)
            return nn_op_error(c, NN_ERR_INVALID, "bad image/block/dilation/stride/pad on spatial dim %d", d);
        int64_t span = p->img[d] + p->pb[d] + p->pe[d] - (p->dil[d] * (p->blk[d] - 1) + 1);
        if (span < 0) return nn_op_error(c, NN_ERR_INVALID, "block larger than the padded image on dim %d", d);
        p->grid[d] = span / p->str[d] + 1;
    }
    *known = 1;
    return NN_OK;
}

static nn_status nn_tn__infer_col2im(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    nn_tn__col2im p;
    int known;
    const nn_shape *is = &in[0].shape;
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    if (in[0].dtype != NN_DTYPE_UNDEFINED && !nn_dtype_is_float(in[0].dtype))
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s input is not supported", nn_dtype_name(in[0].dtype));
    if (is->rank >= 0 && is->rank != 3) return nn_op_error(c, NN_ERR_SHAPE, "input must be (N, C*block, L)");
    nn_status st = nn_tn__col2im_params(c, in, &p, &known);
    if (st || !known) return st;
    nn_tn__unknown_dims(&out[0].shape, 2 + p.nd);
    int64_t k = nn_tn__prod(p.blk, p.nd), l = nn_tn__prod(p.grid, p.nd);
    if (k < 0 || l < 0) return nn_op_error(c, NN_ERR_LIMIT, "sizes overflow");
    for (int32_t d = 0; d < p.nd; d++) out[0].shape.dims[2 + d] = p.img[d];
    if (is->rank < 0) return NN_OK;
    out[0].shape.dims[0] = is->dims[0];
    if (is->dims[1] >= 0) {
        if (is->dims[1] % k) return nn_op_error(c, NN_ERR_SHAPE, "dim 1 (%lld) is not a multiple of the block (%lld)", (long long)is->dims[1], (long long)k);
        out[0].shape.dims[1] = is->dims[1] / k;
    }
    if (is->dims[2] >= 0 && is->dims[2] != l)
        return nn_op_error(c, NN_ERR_SHAPE, "L is %lld, the sliding grid has %lld", (long long)is->dims[2], (long long)l);
    return NN_OK;
}

static nn_status nn_tn__run_col2im(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    nn_tn__col2im p;
    int known;
    nn_status st = nn_tn__col2im_params(c, in, &p, &known);
    if (st) return st;
    size_t total = nn_value_count(&out[0]), k = (size_t)nn_tn__prod(p.blk, p.nd), l = (size_t)nn_tn__prod(p.grid, p.nd);
    size_t n = (size_t)out[0].shape.dims[0], ch = (size_t)out[0].shape.dims[1], img = n > 0 && ch > 0 ? total / (n * ch) : 0;
    double *acc = (double *)nn_op_scratch(c, total * sizeof(double) + 8);
    if (!acc) return NN_ERR_NOMEM;
    for (size_t i = 0; i < total; i++) acc[i] = 0;
    int64_t bp[NN_MAX_RANK], lp[NN_MAX_RANK], ist[NN_MAX_RANK];
    for (int32_t d = p.nd - 1, s = 1; d >= 0; d--) { ist[d] = s; s *= (int32_t)p.img[d]; }
    for (size_t nc = 0; nc < n * ch; nc++) {
        memset(bp, 0, sizeof bp);
        for (size_t kb = 0; kb < k; kb++) {
            memset(lp, 0, sizeof lp);
            for (size_t li = 0; li < l; li++) {
                int64_t off = 0;
                int inside = 1;
                for (int32_t d = 0; d < p.nd && inside; d++) {
                    int64_t x = lp[d] * p.str[d] - p.pb[d] + bp[d] * p.dil[d];
                    inside = x >= 0 && x < p.img[d];
                    off += x * ist[d];
                }
                if (inside) acc[nc * img + (size_t)off] += nn_op__load(in[0].data, in[0].dtype, (nc * k + kb) * l + li);
                for (int32_t d = p.nd - 1; d >= 0; d--) { if (++lp[d] < p.grid[d]) break; lp[d] = 0; }
            }
            for (int32_t d = p.nd - 1; d >= 0; d--) { if (++bp[d] < p.blk[d]) break; bp[d] = 0; }
        }
    }
    for (size_t i = 0; i < total; i++) nn_op__store(out[0].data, out[0].dtype, i, acc[i]);
    return NN_OK;
}

/* ---- tensor: GridSample ----

   GridSample (opset 16: 4-D, modes bilinear/nearest/bicubic; opset 20: N-D, modes
   linear/nearest/cubic; both names are accepted at both).  grid (N, O..., r) holds
   normalized coordinates, last axis first (x, y, z).  Follows the ONNX reference:
   denormalize, round half to even for nearest, bring a coordinate outside the border
   back (clamp for border, reflect for reflection), then weight neighbours fetched
   with the padding rule (zeros: 0 outside). */
enum { NN_TN__GS_ZEROS, NN_TN__GS_BORDER, NN_TN__GS_REFLECT };

typedef struct { int mode, pad, align; } nn_tn__gs;

static nn_status nn_tn__gs_attrs(nn_op_ctx *c, nn_tn__gs *g) {
    const char *m = nn_node_attr_string(c->node, "mode", c->opset >= 20 ? "linear" : "bilinear");
    const char *pm = nn_node_attr_string(c->node, "padding_mode", "zeros");
    if (strcmp(m, "bilinear") == 0 || strcmp(m, "linear") == 0) g->mode = NN_TN__RS_LINEAR;
    else if (strcmp(m, "bicubic") == 0 || strcmp(m, "cubic") == 0) g->mode = NN_TN__RS_CUBIC;
    else if (strcmp(m, "nearest") == 0) g->mode = NN_TN__RS_NEAREST;
    else return nn_op_error(c, NN_ERR_UNSUPPORTED, "mode '%s' is not supported", m);
    if (strcmp(pm, "zeros") == 0) g->pad = NN_TN__GS_ZEROS;
    else if (strcmp(pm, "border") == 0) g->pad = NN_TN__GS_BORDER;
    else if (strcmp(pm, "reflection") == 0) g->pad = NN_TN__GS_REFLECT;
    else return nn_op_error(c, NN_ERR_UNSUPPORTED, "padding_mode '%s' is not supported", pm);
    g->align = nn_node_attr_int(c->node, "align_corners", 0) != 0;
    return NN_OK;
}

static nn_status nn_tn__infer_grid_sample(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    nn_tn__gs g;
    const nn_shape *xs = &in[0].shape, *gs = &in[1].shape;
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    nn_status st = nn_tn__gs_attrs(c, &g);
    if (st) return st;
    if (in[0].dtype != NN_DTYPE_UNDEFINED && !nn_dtype_is_float(in[0].dtype))
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s input is not supported", nn_dtype_name(in[0].dtype));
    if (xs->rank < 0 && gs->rank < 0) return NN_OK;
    int32_t r = xs->rank >= 0 ? xs->rank : gs->rank;
    if (r < 3 || (gs->rank >= 0 && gs->rank != r) || (xs->rank >= 0 && xs->rank != r))
        return nn_op_error(c, NN_ERR_SHAPE, "X and grid must have one rank >= 3");
    if (gs->rank >= 0 && gs->dims[r - 1] >= 0 && gs->dims[r - 1] != r - 2)
        return nn_op_error(c, NN_ERR_SHAPE, "grid's last dim must be %d", r - 2);
    nn_tn__unknown_dims(&out[0].shape, r);
    if (xs->rank >= 0) { out[0].shape.dims[0] = xs->dims[0]; out[0].shape.dims[1] = xs->dims[1]; }
    if (gs->rank >= 0) {
        if (out[0].shape.dims[0] < 0) out[0].shape.dims[0] = gs->dims[0];
        for (int32_t d = 1; d < r - 1; d++) out[0].shape.dims[d + 1] = gs->dims[d];
    }
    return NN_OK;
}

static double nn_tn__gs_reflect(double x, double lo, double hi) {
    double rng = hi - lo;
    if (!(rng > 0)) return lo;
    if (x < lo) {
        double dx = lo - x, n = floor(dx / rng), rem = dx - n * rng;
        return fmod(n, 2) == 0 ? lo + rem : hi - rem;
    }
    if (x > hi) {
        double dx = x - hi, n = floor(dx / rng), rem = dx - n * rng;
        return fmod(n, 2) == 0 ? hi - rem : lo + rem;
    }
    return x;
}

/* Source index of neighbour i along an axis of len, or -1 for a zero sample. */
static int64_t nn_tn__gs_fetch(const nn_tn__gs *g, int64_t i, int64_t len) {
    if (i >= 0 && i < len) return i;
    if (g->pad == NN_TN__GS_ZEROS) return -1;
    if (g->pad == NN_TN__GS_BORDER) return i < 0 ? 0 : len - 1;
    double lo = g->align ? 0 : -0.5, hi = g->align ? (double)len - 1 : (double)len - 0.5;
    return nn_tn__clamp_index((int64_t)nn_tn__gs_reflect((double)i, lo, hi), len);
}

static nn_status nn_tn__run_grid_sample(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    nn_tn__gs g;
    nn_status st = nn_tn__gs_attrs(c, &g);
    if (st) return st;
    const nn_shape *xs = &in[0].shape, *gs = &in[1].shape;
    int32_t r = xs->rank, nd = r - 2;
    if (gs->dims[0] != xs->dims[0]) return nn_op_error(c, NN_ERR_SHAPE, "X and grid differ in batch");
    int64_t st_x[NN_MAX_RANK] = {0};
    nn_tn__strides(xs, st_x);
    size_t n = (size_t)xs->dims[0], ch = (size_t)xs->dims[1], pts = 1, plane = (size_t)st_x[1];
    for (int32_t d = 0; d < nd; d++) pts *= (size_t)gs->dims[1 + d];
    /* per point: up to 4^nd (offset, weight) combinations */
    int tn = g.mode == NN_TN__RS_NEAREST ? 1 : g.mode == NN_TN__RS_LINEAR ? 2 : 4; /* taps per axis */
    size_t maxc = 1;
    for (int32_t d = 0; d < nd; d++) maxc *= (size_t)tn;
    if (maxc > 4096) return nn_op_error(c, NN_ERR_LIMIT, "too many spatial dims");
    int64_t *coff = (int64_t *)nn_op_scratch(c, maxc * sizeof(int64_t));
    double *cw = (double *)nn_op_scratch(c, maxc * sizeof(double));
    if (!coff || !cw) return NN_ERR_NOMEM;
    for (size_t b = 0; b < n; b++)
        for (size_t q = 0; q < pts; q++) {
            int64_t ti[NN_MAX_RANK][4];
            double tw[NN_MAX_RANK][4];
            for (int32_t d = 0; d < nd; d++) {
                double len = (double)xs->dims[2 + d];
                double v = nn_op__load(in[1].data, in[1].dtype, (b * pts + q) * (size_t)nd + (size_t)(nd - 1 - d));
                double x = g.align ? (v + 1) / 2 * (len - 1) : ((v + 1) * len - 1) / 2;
                double lo = g.align ? 0 : -0.5, hi = g.align ? len - 1 : len - 0.5;
                if (g.mode == NN_TN__RS_NEAREST) x = nearbyint(x);
                if (x < lo || x > hi) {
                    if (g.pad == NN_TN__GS_BORDER) x = x < 0 ? 0 : (x > len - 1 ? len - 1 : x);
                    else if (g.pad == NN_TN__GS_REFLECT) x = nn_tn__gs_reflect(x, lo, hi);
                }
                if (x != x) x = -1e9; /* NaN grid: a zero / border sample, never an index */
                if (x < -1e9) x = -1e9;
                if (x > 1e9) x = 1e9;
                double f = floor(x), t = x - f;
                if (g.mode == NN_TN__RS_NEAREST) { ti[d][0] = (int64_t)x; tw[d][0] = 1; }
                else if (g.mode == NN_TN__RS_LINEAR) {
                    ti[d][0] = (int64_t)f; ti[d][1] = (int64_t)f + 1;
                    tw[d][0] = 1 - t; tw[d][1] = t;
                } else {
                    for (int k = 0; k < 4; k++) { ti[d][k] = (int64_t)f - 1 + k; tw[d][k] = nn_tn__cubic_w((double)(k - 1) - t, -0.75); }
                }
                for (int k = 0; k < tn; k++) ti[d][k] = nn_tn__gs_fetch(&g, ti[d][k], xs->dims[2 + d]);
            }
            size_t nc = 0;
            int kk[NN_MAX_RANK] = {0};
            for (size_t combo = 0; combo < maxc; combo++) {
                int64_t off = 0;
                double w = 1;
                for (int32_t d = 0; d < nd; d++) {
                    int64_t i = ti[d][kk[d]];
                    if (i < 0) { w = 0; break; }
                    off += i * st_x[2 + d];
                    w *= tw[d][kk[d]];
                }
                if (w != 0) { coff[nc] = off; cw[nc] = w; nc++; }
                for (int32_t d = nd - 1; d >= 0; d--) { if (++kk[d] < tn) break; kk[d] = 0; }
            }
            for (size_t ci = 0; ci < ch; ci++) {
                size_t base = (b * ch + ci) * plane;
                double acc = 0;
                for (size_t k = 0; k < nc; k++) acc += cw[k] * nn_op__load(in[0].data, in[0].dtype, base + (size_t)coff[k]);
                nn_op__store(out[0].data, out[0].dtype, (b * ch + ci) * pts + q, acc);
            }
        }
    return NN_OK;
}

/* ---- tensor rows of the operator table ----

   Rows run from the op's first version to NN_TN__OPSET_MAX, the newest opset the
   conformance data uses.  Versions after 23 of these ops only widened their type
   lists (float8e8m0 at 24, 2-bit types at 25), which nn_tn__esize refuses, except
   Range 27, which added stash_type (handled in nn_tn__infer_range).  The newest
   versions in the spec are Shape/Pad/Reshape-25, TopK-24, Resize-19, Range-27. */

#define NN_TN__OPSET_MAX 28

/* ---- kernels: nn -----------------------------------------------------------------------------

   Conv, ConvTranspose, MatMul, Gemm, the pooling ops, BatchNormalization,
   InstanceNormalization, LRN, Dropout and the integer/quantized matrix ops
   (MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv).

   Everything float goes through one packed SGEMM (nn_nn__sgemm) built the
   way Goto and van de Geijn describe ("Anatomy of High-Performance Matrix
   Multiplication", ACM TOMS 34(3), 2008): B is packed in KC x NR panels that
   stay in L1 while a register-blocked MR x NR micro-kernel sweeps MR-row
   strips of A that stay in L2.  A is read in place when its row stride
   spreads rows over L1 sets (the usual case for conv weights: no packing
   pass over the weights on every run), else packed once per call.  Conv
   packs its B panels straight from the image ("implicit im2col": no K x N
   buffer), padded once per image so the packer has no bounds checks; 1x1
   stride-1 convs read the image as the B matrix; depthwise convs have
   their own kernel.

   float16 and bfloat16 are computed in float32 and rounded once at the end.
   float64 is supported where a reference loop is cheap (MatMul, Gemm, the
   normalizations, LRN); Conv, ConvTranspose and the pools refuse it with
   NN_ERR_UNSUPPORTED rather than compute it in float32.

   Threads: work is cut into a fixed grid of tasks that nn_op_parallel hands
   out in contiguous runs; no output element's sum depends on the split, so
   results are bit-identical at any thread count. */

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

/* ---- nn: small helpers ------------------------------------------------------------------ */

#define NN_NN__MAX_SPATIAL (NN_MAX_RANK - 2)
#define NN_NN__DIM_CAP ((int64_t)1 << 31) /* caps attribute values so int64 sums cannot overflow */

static size_t nn_nn__min(size_t a, size_t b) { return a < b ? a : b; }
static size_t nn_nn__round_up(size_t a, size_t m) { return (a + m - 1) / m * m; }

/* Reads an INTS attribute into out; returns its count, 0 when absent, -1 when
   it is not a list of ints or holds more than cap values. */
static int nn_nn__attr_ints(const nn_node *n, const char *name, int64_t *out, int cap) {
    const nn_attr *a = nn_node_attr(n, name);
    if (!a) return 0;
    if (a->type != NN_ATTR_INTS || a->count > (uint32_t)cap) return -1;
    for (uint32_t i = 0; i < a->count; i++) out[i] = a->ints[i];
    return (int)a->count;
}

/* 1 when the node output at index o exists (not omitted). */
static int nn_nn__has_output(const nn_op_ctx *c, uint32_t n_out, uint32_t o) {
    return o < n_out && o < c->node->output_count && c->node->outputs[o].id != NN_INVALID_ID;
}

static int nn_nn__is_f32ish(nn_dtype t) {
    return t == NN_DTYPE_FLOAT || t == NN_DTYPE_FLOAT16 || t == NN_DTYPE_BFLOAT16;
}

/* Refuses input dtypes a float kernel cannot take; UNDEFINED (not known
   yet at static time) passes. */
static nn_status nn_nn__check_float(nn_op_ctx *c, nn_dtype t, int allow_double, const char *what) {
    if (t == NN_DTYPE_UNDEFINED || nn_nn__is_f32ish(t) || (allow_double && t == NN_DTYPE_DOUBLE)) return NN_OK;
    return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s of type %s is not supported", what, nn_dtype_name(t));
}

/* A float32 view of v: v's own data for float32, else a converted copy in
   scratch (float16, bfloat16, 8-bit ints: all exact in float32).  NULL with
   diag set on failure. */
static const float *nn_nn__f32_view(nn_op_ctx *c, const nn_value *v) {
    if (v->dtype == NN_DTYPE_FLOAT) return (const float *)v->data;
    size_t n = nn_value_count(v), bytes;
    if (!nn_size_mul(n, sizeof(float), &bytes)) { nn_op_error(c, NN_ERR_LIMIT, "tensor too large"); return NULL; }
    float *p = (float *)nn_op_scratch(c, bytes);
    if (!p) return NULL;
    for (size_t i = 0; i < n; i++) p[i] = (float)nn_op__load(v->data, v->dtype, i);
    return p;
}

/* Where a float kernel writes output v: v's data for float32, else scratch
   that nn_nn__f32_commit rounds into v. */
static float *nn_nn__f32_out(nn_op_ctx *c, nn_value *v) {
    if (v->dtype == NN_DTYPE_FLOAT) return (float *)v->data;
    size_t bytes;
    if (!nn_size_mul(nn_value_count(v), sizeof(float), &bytes)) { nn_op_error(c, NN_ERR_LIMIT, "tensor too large"); return NULL; }
    return (float *)nn_op_scratch(c, bytes);
}

static void nn_nn__f32_commit(nn_value *v, const float *buf) {
    if (v->dtype == NN_DTYPE_FLOAT || (const void *)buf == v->data) return;
    size_t n = nn_value_count(v);
    for (size_t i = 0; i < n; i++) nn_op__store(v->data, v->dtype, i, buf[i]);
}

/* Scratch of `count` floats aligned to 64 bytes. */
static float *nn_nn__scratch_f32(nn_op_ctx *c, size_t count) {
    size_t bytes;
    if (!nn_size_mul(count, sizeof(float), &bytes) || !nn_size_add(bytes, 64, &bytes)) {
        nn_op_error(c, NN_ERR_LIMIT, "scratch too large");
        return NULL;
    }
    char *p = (char *)nn_op_scratch(c, bytes);
    if (!p) return NULL;
    return (float *)(void *)(p + ((64 - ((uintptr_t)p & 63)) & 63));
}

/* ---- nn: SGEMM ---------------------------------------------------------------------------

   C (M x N, row stride ldc) = alpha * op(A) (M x K) * B (K x N)
                               [+ bias per row] [+ C when accumulating].
   B is produced panel by panel by a packing callback, so a plain matrix,
   its transpose and an image seen through im2col all share one driver.

   Blocking (Goto & van de Geijn, section 4): A is packed once per call into
   MR-row strips (KC deep, alpha folded in), shared by all tasks; each task
   packs the KC x NR panels of B for its columns.  A B panel (32 KiB with
   AVX-512) stays in L1 while the MR x KC strips of an MC-row block of A
   (384 KiB) stream from L2.  MR x NR is the register tile: 8x32 with
   AVX-512 (16 zmm accumulators), 6x16 with AVX2 (12 ymm), enough
   independent FMAs to hide their latency.  Packing A matters beyond
   locality: unpacked rows 4 KiB apart (lda = 1024) all fall in one L1 set
   and the kernel then runs at a third of its speed. */

#if defined(__AVX512F__)
#define NN_NN__MR 8
#define NN_NN__NR 32
#else
#define NN_NN__MR 6
#define NN_NN__NR 16
#endif
#define NN_NN__KC 256
#define NN_NN__MC 384 /* a multiple of both MRs */
#define NN_NN__NC 512
#define NN_NN__TASKS 8 /* tasks per parallel GEMM: balances 1, 2, 4 and 8 threads */

/* Packs rows [k0, k0+kc) x columns [n0, n0+nc) of B into NR-wide panels:
   panel p holds, for each k, NR consecutive columns (zero past nc). */
typedef void (*nn_nn__pack_fn)(const void *src, size_t k0, size_t kc, size_t n0, size_t nc, float *dst);

typedef struct nn_nn__gemm {
    size_t M, N, K;
    const float *A; size_t lda;       /* (M, K) row-major, or (K, M) when trans_a */
    int trans_a;
    nn_nn__pack_fn pack_b; const void *b_src;
    float *C; size_t ldc;             /* (M, N) */
    float alpha;
    const float *bias;                /* (M) or NULL: added once to each row */
    int accumulate;                   /* C += ...; else C is overwritten */
    int direct_a;                     /* set by nn_nn__sgemm: read A in place, unpacked */
} nn_nn__gemm;

/* A plain B: element (k, n) at p[k*rs + n*cs]. */
typedef struct nn_nn__mat { const float *p; size_t rs, cs; } nn_nn__mat;

static void nn_nn__pack_b_mat(const void *src, size_t k0, size_t kc, size_t n0, size_t nc, float *dst) {
    const nn_nn__mat *m = (const nn_nn__mat *)src;
    for (size_t j = 0; j < nc; j += NN_NN__NR) {
        size_t w = nn_nn__min(NN_NN__NR, nc - j);
        float *d = dst + (j / NN_NN__NR) * kc * NN_NN__NR;
        if (m->cs == 1) { /* rows of B are contiguous: copy NR floats per k */
            const float *s = m->p + k0 * m->rs + n0 + j;
            if (w == NN_NN__NR) {
                for (size_t k = 0; k < kc; k++, s += m->rs, d += NN_NN__NR) memcpy(d, s, NN_NN__NR * sizeof(float));
                continue;
            }
            for (size_t k = 0; k < kc; k++, s += m->rs, d += NN_NN__NR) {
                size_t t = 0;
                for (; t < w; t++) d[t] = s[t];
                for (; t < NN_NN__NR; t++) d[t] = 0.0f;
            }
        } else { /* transposed: walk each column's run of k */
            for (size_t t = 0; t < NN_NN__NR; t++) {
                if (t >= w) { for (size_t k = 0; k < kc; k++) d[k * NN_NN__NR + t] = 0.0f; continue; }
                const float *s = m->p + k0 * m->rs + (n0 + j + t) * m->cs;
                for (size_t k = 0; k < kc; k++) d[k * NN_NN__NR + t] = s[k * m->rs];
            }
        }
    }
}

/* Packed A: for each KC block (offset k0 * Mpad), MR-row strips of kc x MR
   (strip s at s * MR * kc), element (r, k) at [k * MR + r], scaled by alpha,
   zero past M. */
static void nn_nn__pack_a_strip(const nn_nn__gemm *g, size_t strip, float *ap) {
    size_t mpad = nn_nn__round_up(g->M, NN_NN__MR), m0 = strip * NN_NN__MR;
    size_t mr = nn_nn__min(NN_NN__MR, g->M - m0);
    for (size_t pc = 0; pc < g->K; pc += NN_NN__KC) {
        size_t kc = nn_nn__min(NN_NN__KC, g->K - pc);
        float *d = ap + pc * mpad + strip * NN_NN__MR * kc;
        if (g->trans_a) { /* A^T rows: MR contiguous values per k */
            for (size_t k = 0; k < kc; k++) {
                const float *s = g->A + (pc + k) * g->lda + m0;
                size_t r = 0;
                for (; r < mr; r++) d[k * NN_NN__MR + r] = g->alpha * s[r];
                for (; r < NN_NN__MR; r++) d[k * NN_NN__MR + r] = 0.0f;
            }
            continue;
        }
        if (mr < NN_NN__MR) memset(d, 0, kc * NN_NN__MR * sizeof(float));
        /* MR read streams, one contiguous write stream */
        const float *s = g->A + m0 * g->lda + pc;
        for (size_t k = 0; k < kc; k++, d += NN_NN__MR)
            for (size_t r = 0; r < mr; r++) d[r] = g->alpha * s[r * g->lda + k];
    }
}

/* The micro-kernel: acc = A (MR x kc; element (r, k) at a[r*rs + k*cs]) *
   Bpanel (kc x NR, packed); then C = acc + bias (first pass over K) or
   C += acc.  Packed A is rs = 1, cs = MR; A read in place is rs = lda,
   cs = 1.  Inlined into both callers so each gets constant strides. */
#if defined(__AVX512F__)
static inline void nn_nn__ukernel(size_t kc, const float *a, size_t rs, size_t cs, const float *b, float *c,
                                  size_t ldc, const float *bias, int accumulate) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (size_t k = 0; k < kc; k++, a += cs, b += 32) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), av;
        av = _mm512_set1_ps(a[0 * rs]); c00 = _mm512_fmadd_ps(av, b0, c00); c01 = _mm512_fmadd_ps(av, b1, c01);
        av = _mm512_set1_ps(a[1 * rs]); c10 = _mm512_fmadd_ps(av, b0, c10); c11 = _mm512_fmadd_ps(av, b1, c11);
        av = _mm512_set1_ps(a[2 * rs]); c20 = _mm512_fmadd_ps(av, b0, c20); c21 = _mm512_fmadd_ps(av, b1, c21);
        av = _mm512_set1_ps(a[3 * rs]); c30 = _mm512_fmadd_ps(av, b0, c30); c31 = _mm512_fmadd_ps(av, b1, c31);
        av = _mm512_set1_ps(a[4 * rs]); c40 = _mm512_fmadd_ps(av, b0, c40); c41 = _mm512_fmadd_ps(av, b1, c41);
        av = _mm512_set1_ps(a[5 * rs]); c50 = _mm512_fmadd_ps(av, b0, c50); c51 = _mm512_fmadd_ps(av, b1, c51);
        av = _mm512_set1_ps(a[6 * rs]); c60 = _mm512_fmadd_ps(av, b0, c60); c61 = _mm512_fmadd_ps(av, b1, c61);
        av = _mm512_set1_ps(a[7 * rs]); c70 = _mm512_fmadd_ps(av, b0, c70); c71 = _mm512_fmadd_ps(av, b1, c71);
    }
    __m512 acc[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                        {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    for (int i = 0; i < 8; i++, c += ldc) {
        __m512 r0 = acc[i][0], r1 = acc[i][1];
        if (accumulate) {
            r0 = _mm512_add_ps(r0, _mm512_loadu_ps(c));
            r1 = _mm512_add_ps(r1, _mm512_loadu_ps(c + 16));
        } else if (bias) {
            __m512 bv = _mm512_set1_ps(bias[i]);
            r0 = _mm512_add_ps(r0, bv);
            r1 = _mm512_add_ps(r1, bv);
        }
        _mm512_storeu_ps(c, r0);
        _mm512_storeu_ps(c + 16, r1);
    }
}
#elif defined(__AVX2__) && defined(__FMA__)
static inline void nn_nn__ukernel(size_t kc, const float *a, size_t rs, size_t cs, const float *b, float *c,
                                  size_t ldc, const float *bias, int accumulate) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (size_t k = 0; k < kc; k++, a += cs, b += 16) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), av;
        av = _mm256_broadcast_ss(a + 0 * rs); c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a + 1 * rs); c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a + 2 * rs); c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a + 3 * rs); c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a + 4 * rs); c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a + 5 * rs); c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51);
    }
    __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    for (int i = 0; i < 6; i++, c += ldc) {
        __m256 r0 = acc[i][0], r1 = acc[i][1];
        if (accumulate) {
            r0 = _mm256_add_ps(r0, _mm256_loadu_ps(c));
            r1 = _mm256_add_ps(r1, _mm256_loadu_ps(c + 8));
        } else if (bias) {
            __m256 bv = _mm256_set1_ps(bias[i]);
            r0 = _mm256_add_ps(r0, bv);
            r1 = _mm256_add_ps(r1, bv);
        }
        _mm256_storeu_ps(c, r0);
        _mm256_storeu_ps(c + 8, r1);
    }
}
#else
/* Portable: the j loops are unit-stride over NR so compilers vectorize them. */
static inline void nn_nn__ukernel(size_t kc, const float *a, size_t rs, size_t cs, const float *b, float *c,
                                  size_t ldc, const float *bias, int accumulate) {
    float acc[NN_NN__MR][NN_NN__NR];
    memset(acc, 0, sizeof acc);
    for (size_t k = 0; k < kc; k++, a += cs, b += NN_NN__NR)
        for (int i = 0; i < NN_NN__MR; i++)
            for (int j = 0; j < NN_NN__NR; j++) acc[i][j] += a[i * rs] * b[j];
    for (int i = 0; i < NN_NN__MR; i++, c += ldc)
        for (int j = 0; j < NN_NN__NR; j++) c[j] = accumulate ? c[j] + acc[i][j] : acc[i][j] + (bias ? bias[i] : 0.0f);
}
#endif

/* Work space one task needs: a KC x NC block of packed B, an MR x NR tile
   for partial edges and an MR x KC strip for a partial strip of direct A. */
static size_t nn_nn__gemm_ws_floats(size_t n_width) {
    size_t w = nn_nn__round_up(nn_nn__min(n_width, NN_NN__NC), NN_NN__NR);
    return NN_NN__KC * w + NN_NN__MR * NN_NN__NR + NN_NN__MR * NN_NN__KC + 16;
}

/* Whether A can be read in place: row-major, no alpha to fold, and rows
   spread over L1 sets: rows a multiple of 4 KiB apart share one set and
   evict each other (packing fixes that).  Counts the MR rows per index of
   a 64-set L1; up to 4 rows per set leave room for the B panel's lines in
   a 12-way L1 (measured: 512x49x4608 runs 2x faster direct than packed). */
static int nn_nn__direct_a_ok(const nn_nn__gemm *g) {
    int per_set[64] = {0}, worst = 0;
    if (g->trans_a || g->alpha != 1.0f || g->M < NN_NN__MR) return 0;
    for (size_t r = 0; r < NN_NN__MR; r++) {
        int set = (int)((r * g->lda * sizeof(float) / 64) % 64);
        if (++per_set[set] > worst) worst = per_set[set];
    }
    return worst <= 4;
}

/* Computes rows [m0, m1) x columns [n0, n1) of g on the calling thread from
   packed A `ap` (or A itself when direct_a) and B packed here into ws, or
   taken from `bshared` (all of B packed, KC blocks of Npad columns); m0 is
   a multiple of MR, n0 of NR. */
static void nn_nn__gemm_tile(const nn_nn__gemm *g, const float *ap, const float *bshared, float *ws, size_t m0,
                             size_t m1, size_t n0, size_t n1) {
    size_t mpad = nn_nn__round_up(g->M, NN_NN__MR);
    float *bp = ws, *cedge = ws + NN_NN__KC * nn_nn__round_up(nn_nn__min(n1 - n0, NN_NN__NC), NN_NN__NR);
    float *aedge = cedge + NN_NN__MR * NN_NN__NR;
    if (g->K == 0) { /* empty sum: bias or nothing */
        for (size_t i = m0; i < m1 && !g->accumulate; i++)
            for (size_t j = n0; j < n1; j++) g->C[i * g->ldc + j] = g->bias ? g->bias[i] : 0.0f;
        return;
    }
    for (size_t nb = n0; nb < n1; nb += NN_NN__NC) {
        size_t nc = nn_nn__min(NN_NN__NC, n1 - nb);
        for (size_t pc = 0; pc < g->K; pc += NN_NN__KC) {
            size_t kc = nn_nn__min(NN_NN__KC, g->K - pc);
            int acc = g->accumulate || pc > 0;
            const float *apc = ap ? ap + pc * mpad : NULL;
            if (bshared) bp = (float *)(uintptr_t)(bshared + pc * nn_nn__round_up(g->N, NN_NN__NR) + nb * kc);
            else g->pack_b(g->b_src, pc, kc, nb, nc, bp);
            for (size_t mb = m0; mb < m1; mb += NN_NN__MC) {
                size_t me = nn_nn__min(mb + NN_NN__MC, m1);
                for (size_t j = 0; j < nc; j += NN_NN__NR) {
                    const float *bpp = bp + (j / NN_NN__NR) * kc * NN_NN__NR;
                    size_t nr = nn_nn__min(NN_NN__NR, nc - j);
                    for (size_t i = mb; i < me; i += NN_NN__MR) {
                        size_t mr = nn_nn__min(NN_NN__MR, me - i);
                        const float *app = apc ? apc + i * kc : NULL; /* strip i / MR */
                        const float *bias = (!acc && g->bias) ? g->bias + i : NULL;
                        float *cp = g->C + i * g->ldc + nb + j;
                        int direct = g->direct_a;
                        if (direct && mr < NN_NN__MR) { /* pack the short strip, zero-padded */
                            memset(aedge, 0, NN_NN__MR * kc * sizeof(float));
                            for (size_t k = 0; k < kc; k++)
                                for (size_t r = 0; r < mr; r++) aedge[k * NN_NN__MR + r] = g->A[(i + r) * g->lda + pc + k];
                            app = aedge;
                            direct = 0;
                        }
                        if (mr == NN_NN__MR && nr == NN_NN__NR) {
                            if (direct) nn_nn__ukernel(kc, g->A + i * g->lda + pc, g->lda, 1, bpp, cp, g->ldc, bias, acc);
                            else nn_nn__ukernel(kc, app, 1, NN_NN__MR, bpp, cp, g->ldc, bias, acc);
                            continue;
                        }
                        if (direct) nn_nn__ukernel(kc, g->A + i * g->lda + pc, g->lda, 1, bpp, cedge, NN_NN__NR, NULL, 0);
                        else nn_nn__ukernel(kc, app, 1, NN_NN__MR, bpp, cedge, NN_NN__NR, NULL, 0);
                        for (size_t r = 0; r < mr; r++)
                            for (size_t t = 0; t < nr; t++) {
                                float v = cedge[r * NN_NN__NR + t];
                                float *d = cp + r * g->ldc + t;
                                *d = acc ? *d + v : v + (bias ? bias[r] : 0.0f);
                            }
                    }
                }
            }
        }
    }
}

typedef struct nn_nn__gemm_job {
    const nn_nn__gemm *g;
    float *ap;            /* packed A, shared */
    float *bp;            /* all of B packed, shared (when the grid splits M), or NULL */
    float *ws;            /* tasks x ws_floats */
    size_t ws_floats;
    size_t tm, tn;        /* task grid: tm row blocks x tn column blocks */
    size_t m_step, n_step;
} nn_nn__gemm_job;

static void nn_nn__gemm_pack_a_range(void *arg, size_t begin, size_t end) {
    const nn_nn__gemm_job *j = (const nn_nn__gemm_job *)arg;
    for (size_t s = begin; s < end; s++) nn_nn__pack_a_strip(j->g, s, j->ap);
}

/* Packs panels [begin, end) of B, every KC block, into the shared buffer. */
static void nn_nn__gemm_pack_b_range(void *arg, size_t begin, size_t end) {
    const nn_nn__gemm_job *j = (const nn_nn__gemm_job *)arg;
    const nn_nn__gemm *g = j->g;
    size_t npad = nn_nn__round_up(g->N, NN_NN__NR);
    for (size_t pc = 0; pc < g->K; pc += NN_NN__KC) {
        size_t kc = nn_nn__min(NN_NN__KC, g->K - pc), n0 = begin * NN_NN__NR;
        size_t n1 = nn_nn__min(end * NN_NN__NR, g->N);
        g->pack_b(g->b_src, pc, kc, n0, n1 - n0, j->bp + pc * npad + n0 * kc);
    }
}

static void nn_nn__gemm_tasks(void *arg, size_t begin, size_t end) {
    const nn_nn__gemm_job *j = (const nn_nn__gemm_job *)arg;
    float *ws = j->ws + begin * j->ws_floats; /* `begin` is unique to this run of tasks */
    for (size_t t = begin; t < end; t++) {
        /* column blocks vary fastest, so a contiguous run of tasks covers
           all columns of some rows: balanced when N splits unevenly */
        size_t ni = t % j->tn, mi = t / j->tn;
        size_t m0 = mi * j->m_step, n0 = ni * j->n_step;
        size_t m1 = nn_nn__min(m0 + j->m_step, j->g->M), n1 = nn_nn__min(n0 + j->n_step, j->g->N);
        if (m0 < m1 && n0 < n1) nn_nn__gemm_tile(j->g, j->ap, j->bp, ws, m0, m1, n0, n1);
    }
}

/* Runs g, split over the exec's threads when large enough.  The task grid
   splits N first (each task packs only its own B columns) and M only when
   N has too few panels; A is packed once, in parallel, before. */
/* M == 1 with a plain B (a fully connected layer at batch 1, a decoder
   step): the packed path would copy all of B into panels to use it once, so
   this streams B a single time instead.  Each output's sum runs in a fixed
   order whatever the thread split, so results do not depend on threads. */
typedef struct { const nn_nn__gemm *g; const float *a; float *acc; } nn_nn__gemv_job;

static void nn_nn__gemv_range(void *arg, size_t n0, size_t n1) {
    const nn_nn__gemv_job *j = (const nn_nn__gemv_job *)arg;
    const nn_nn__gemm *g = j->g;
    const nn_nn__mat *m = (const nn_nn__mat *)g->b_src;
    size_t K = g->K;
    if (m->cs == 1) { /* rows of B contiguous: acc += a[k] * B[k, n0:n1] */
        for (size_t n = n0; n < n1; n++) j->acc[n] = 0.0f;
        for (size_t k = 0; k < K; k++) {
            const float ak = j->a[k], *row = m->p + k * m->rs;
            for (size_t n = n0; n < n1; n++) j->acc[n] += ak * row[n];
        }
        return;
    }
    for (size_t n = n0; n < n1; n++) { /* columns of B: one dot product each */
        const float *col = m->p + n * m->cs;
        float s[16] = {0}, t = 0.0f;
        size_t k = 0;
        if (m->rs == 1)
            for (; k + 16 <= K; k += 16)
                for (int q = 0; q < 16; q++) s[q] += j->a[k + q] * col[k + q]; /* 16 lanes: vectorizes */
        for (; k < K; k++) t += j->a[k] * col[k * m->rs];
        for (int q = 0; q < 16; q++) t += s[q];
        j->acc[n] = t;
    }
}

static nn_status nn_nn__gemv(nn_op_ctx *c, const nn_nn__gemm *g) {
    float *a = nn_nn__scratch_f32(c, g->K ? g->K : 1), *acc = nn_nn__scratch_f32(c, g->N);
    if (!a || !acc) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    for (size_t k = 0; k < g->K; k++) a[k] = g->alpha * (g->trans_a ? g->A[k * g->lda] : g->A[k]);
    nn_nn__gemv_job j = {g, a, acc};
    double flops = 2.0 * (double)g->N * (double)g->K;
    nn_op_parallel(c, g->N, flops >= 4e6 ? 64 : g->N, nn_nn__gemv_range, &j);
    for (size_t n = 0; n < g->N; n++)
        g->C[n] = g->accumulate ? g->C[n] + acc[n] : acc[n] + (g->bias ? g->bias[0] : 0.0f);
    return NN_OK;
}

static nn_status nn_nn__sgemm(nn_op_ctx *c, const nn_nn__gemm *gin) {
    if (gin->M == 1 && gin->N > 0 && gin->pack_b == nn_nn__pack_b_mat) return nn_nn__gemv(c, gin);
    nn_nn__gemm_job j;
    nn_nn__gemm gd = *gin, *g = &gd;
    if (g->M == 0 || g->N == 0) return NN_OK;
    g->direct_a = nn_nn__direct_a_ok(g);
    double flops = 2.0 * (double)g->M * (double)g->N * (double)g->K;
    size_t m_panels = (g->M + NN_NN__MR - 1) / NN_NN__MR, n_panels = (g->N + NN_NN__NR - 1) / NN_NN__NR;
    j.g = g;
    j.tn = j.tm = 1;
    if (flops >= 4e6) { /* below this a thread hand-off costs more than it saves */
        j.tn = nn_nn__min(n_panels, NN_NN__TASKS);
        j.tm = nn_nn__min(m_panels, NN_NN__TASKS / j.tn);
    }
    j.n_step = (n_panels + j.tn - 1) / j.tn * NN_NN__NR;
    j.m_step = (m_panels + j.tm - 1) / j.tm * NN_NN__MR;
    j.tn = (g->N + j.n_step - 1) / j.n_step;
    j.tm = (g->M + j.m_step - 1) / j.m_step;
    j.ws_floats = nn_nn__gemm_ws_floats(j.n_step);
    j.ap = g->direct_a ? NULL : nn_nn__scratch_f32(c, m_panels * NN_NN__MR * (g->K ? g->K : 1));
    j.ws = j.ap || g->direct_a ? nn_nn__scratch_f32(c, j.ws_floats * j.tm * j.tn) : NULL;
    if (!j.ws) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    if (!g->direct_a) nn_op_parallel(c, m_panels, flops >= 4e6 ? 4 : m_panels, nn_nn__gemm_pack_a_range, &j);
    /* When M is split too, each row block would pack the same B: pack it
       once up front instead (N is short here, so B is small). */
    j.bp = NULL;
    if (j.tm > 1) {
        j.bp = nn_nn__scratch_f32(c, n_panels * NN_NN__NR * (g->K ? g->K : 1));
        if (!j.bp) return c->diag->status;
        nn_op_parallel(c, n_panels, 1, nn_nn__gemm_pack_b_range, &j);
    }
    nn_op_parallel(c, j.tm * j.tn, 1, nn_nn__gemm_tasks, &j);
    return NN_OK;
}

/* ---- nn: MatMul and Gemm -------------------------------------------------------------------- */

/* Reference loops for the types the SGEMM does not take: C (M,N) =
   sum_k A(m,k) B(k,n) with element strides, accumulated in ACC. */
#define NN_NN__REF_MM(NAME, T, ACC)                                                                   \
    static void NAME(size_t M, size_t N, size_t K, const T *a, size_t am, size_t ak, const T *b,     \
                     size_t bk, size_t bn, T *y) {                                                   \
        for (size_t m = 0; m < M; m++)                                                               \
            for (size_t n = 0; n < N; n++) {                                                         \
                ACC s = 0;                                                                           \
                for (size_t k = 0; k < K; k++) s += (ACC)a[m * am + k * ak] * (ACC)b[k * bk + n * bn]; \
                y[m * N + n] = (T)s;                                                                 \
            }                                                                                        \
    }
NN_NN__REF_MM(nn_nn__mm_f64, double, double)
NN_NN__REF_MM(nn_nn__mm_i32, int32_t, uint32_t)
NN_NN__REF_MM(nn_nn__mm_u32, uint32_t, uint32_t)
NN_NN__REF_MM(nn_nn__mm_i64, int64_t, uint64_t)
NN_NN__REF_MM(nn_nn__mm_u64, uint64_t, uint64_t)
#undef NN_NN__REF_MM

/* One float32 product C = alpha*op(A)*op(B) [+bias] on the SGEMM. */
static nn_status nn_nn__matmul_f32(nn_op_ctx *c, size_t M, size_t N, size_t K, const float *a, int trans_a,
                                   const float *b, int trans_b, float *y, size_t ldy, float alpha,
                                   const float *bias, int accumulate) {
    nn_nn__mat bm;
    nn_nn__gemm g;
    bm.p = b;
    bm.rs = trans_b ? 1 : N;
    bm.cs = trans_b ? K : 1;
    memset(&g, 0, sizeof g);
    g.M = M; g.N = N; g.K = K;
    g.A = a; g.lda = trans_a ? M : K; g.trans_a = trans_a;
    g.pack_b = nn_nn__pack_b_mat; g.b_src = &bm;
    g.C = y; g.ldc = ldy;
    g.alpha = alpha; g.bias = bias; g.accumulate = accumulate;
    return nn_nn__sgemm(c, &g);
}

static int nn_nn__matmul_dtype_ok(nn_dtype t) {
    return nn_nn__is_f32ish(t) || t == NN_DTYPE_DOUBLE || t == NN_DTYPE_INT32 || t == NN_DTYPE_INT64 ||
           t == NN_DTYPE_UINT32 || t == NN_DTYPE_UINT64;
}

/* MatMul follows numpy.matmul: 1-D operands gain a dim that is then
   dropped; batch dims broadcast. */
/* numpy.matmul output shape of a x b (unknown dims allowed). */
static nn_status nn_nn__matmul_shape(nn_op_ctx *c, const nn_shape *a, const nn_shape *b, nn_shape *o) {
    if (a->rank < 0 || b->rank < 0) { o->rank = NN_RANK_UNKNOWN; return NN_OK; }
    if (a->rank == 0 || b->rank == 0) return nn_op_error(c, NN_ERR_SHAPE, "MatMul operands must have rank >= 1");
    int64_t ka = a->dims[a->rank - 1], kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    if (ka >= 0 && kb >= 0 && ka != kb)
        return nn_op_error(c, NN_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)ka, (long long)kb);
    nn_shape ab, bb, ob;
    ab.rank = a->rank > 2 ? a->rank - 2 : 0;
    bb.rank = b->rank > 2 ? b->rank - 2 : 0;
    for (int32_t i = 0; i < ab.rank; i++) ab.dims[i] = a->dims[i];
    for (int32_t i = 0; i < bb.rank; i++) bb.dims[i] = b->dims[i];
    if (!nn_op__broadcast(&ab, &bb, &ob)) return nn_op_error(c, NN_ERR_SHAPE, "batch dimensions do not broadcast");
    if (ob.rank + 2 > NN_MAX_RANK) return nn_op_error(c, NN_ERR_LIMIT, "rank too high");
    *o = ob;
    if (a->rank >= 2) o->dims[o->rank++] = a->dims[a->rank - 2];
    if (b->rank >= 2) o->dims[o->rank++] = b->dims[b->rank - 1];
    return NN_OK;
}

/* MatMul follows numpy.matmul: 1-D operands gain a dim that is then
   dropped; batch dims broadcast. */
static nn_status nn_nn__infer_matmul(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    nn_dtype t = in[0].dtype != NN_DTYPE_UNDEFINED ? in[0].dtype : in[1].dtype;
    if (in[0].dtype && in[1].dtype && in[0].dtype != in[1].dtype)
        return nn_op_error(c, NN_ERR_INVALID, "A is %s, B is %s", nn_dtype_name(in[0].dtype), nn_dtype_name(in[1].dtype));
    if (t != NN_DTYPE_UNDEFINED && !nn_nn__matmul_dtype_ok(t))
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s inputs are not supported", nn_dtype_name(t));
    out[0].dtype = t;
    return nn_nn__matmul_shape(c, &in[0].shape, &in[1].shape, &out[0].shape);
}

/* Offsets (in matrices) of batch bi's operands: a_strides/b_strides are
   the broadcast strides of each operand's batch dims against ob. */
static void nn_nn__batch_offsets(const nn_shape *ob, const int64_t *sa, const int64_t *sb, size_t bi, size_t *ao,
                                 size_t *bo) {
    size_t rem = bi;
    *ao = *bo = 0;
    for (int32_t i = ob->rank - 1; i >= 0; i--) {
        size_t ci = rem % (size_t)ob->dims[i];
        rem /= (size_t)ob->dims[i];
        *ao += ci * (size_t)sa[i];
        *bo += ci * (size_t)sb[i];
    }
}

static nn_status nn_nn__run_matmul(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const nn_shape *as = &in[0].shape, *bs = &in[1].shape;
    nn_dtype t = in[0].dtype;
    size_t K = (size_t)as->dims[as->rank - 1];
    size_t M = as->rank >= 2 ? (size_t)as->dims[as->rank - 2] : 1;
    size_t N = bs->rank >= 2 ? (size_t)bs->dims[bs->rank - 1] : 1;
    /* Batch geometry: the output's batch dims, and each operand's strides. */
    nn_shape ob, ab, bb;
    int64_t sa[NN_MAX_RANK], sb[NN_MAX_RANK];
    ab.rank = as->rank > 2 ? as->rank - 2 : 0;
    bb.rank = bs->rank > 2 ? bs->rank - 2 : 0;
    for (int32_t i = 0; i < ab.rank; i++) ab.dims[i] = as->dims[i];
    for (int32_t i = 0; i < bb.rank; i++) bb.dims[i] = bs->dims[i];
    nn_op__broadcast(&ab, &bb, &ob);
    nn_op__bcast_strides(&ab, &ob, sa);
    nn_op__bcast_strides(&bb, &ob, sb);
    size_t batches = nn_shape_count(&ob, NULL);
    if (nn_value_count(&out[0]) == 0) return NN_OK;
    if (ob.rank == 0) batches = 1;
    /* A stack of matrices times one B is one tall product (the common
       activations x weights case). */
    if (bb.rank == 0 || nn_shape_count(&bb, NULL) == 1) {
        int a_dense = 1;
        for (int32_t i = 0; i < ob.rank; i++)
            if (ob.dims[i] != 1 && sa[i] == 0) a_dense = 0;
        if (a_dense) { M *= batches; batches = 1; }
    }
    const void *ad = in[0].data, *bd = in[1].data;
    void *yd = out[0].data;
    float *yf = NULL;
    const float *af = NULL, *bf = NULL;
    if (nn_nn__is_f32ish(t)) {
        af = nn_nn__f32_view(c, &in[0]);
        bf = af ? nn_nn__f32_view(c, &in[1]) : NULL;
        yf = bf ? nn_nn__f32_out(c, &out[0]) : NULL;
        if (!yf) return c->diag->status;
    }
    for (size_t bi = 0; bi < batches; bi++) {
        size_t ao, bo;
        nn_nn__batch_offsets(&ob, sa, sb, bi, &ao, &bo);
        ao *= M * K; /* when batches were folded, bi is 0 */
        bo *= K * N;
        size_t yo = bi * M * N;
        nn_status st = NN_OK;
        switch (t) {
        case NN_DTYPE_FLOAT: case NN_DTYPE_FLOAT16: case NN_DTYPE_BFLOAT16:
            st = nn_nn__matmul_f32(c, M, N, K, af + ao, 0, bf + bo, 0, yf + yo, N, 1.0f, NULL, 0);
            break;
        case NN_DTYPE_DOUBLE:
            nn_nn__mm_f64(M, N, K, (const double *)ad + ao, K, 1, (const double *)bd + bo, N, 1, (double *)yd + yo);
            break;
        case NN_DTYPE_INT32:
            nn_nn__mm_i32(M, N, K, (const int32_t *)ad + ao, K, 1, (const int32_t *)bd + bo, N, 1, (int32_t *)yd + yo);
            break;
        case NN_DTYPE_UINT32:
            nn_nn__mm_u32(M, N, K, (const uint32_t *)ad + ao, K, 1, (const uint32_t *)bd + bo, N, 1, (uint32_t *)yd + yo);
            break;
        case NN_DTYPE_INT64:
            nn_nn__mm_i64(M, N, K, (const int64_t *)ad + ao, K, 1, (const int64_t *)bd + bo, N, 1, (int64_t *)yd + yo);
            break;
        case NN_DTYPE_UINT64:
            nn_nn__mm_u64(M, N, K, (const uint64_t *)ad + ao, K, 1, (const uint64_t *)bd + bo, N, 1, (uint64_t *)yd + yo);
            break;
        default: return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s inputs are not supported", nn_dtype_name(t));
        }
        if (st) return st;
    }
    if (yf) nn_nn__f32_commit(&out[0], yf);
    return NN_OK;
}

/* Gemm: Y = alpha * op(A) * op(B) + beta * C, C broadcast to (M, N)
   (opsets 1-6 had a `broadcast` flag; numpy broadcasting is its superset).
   C is required before opset 11. */
static nn_status nn_nn__infer_gemm(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    const nn_node *n = c->node;
    int ta = nn_node_attr_int(n, "transA", 0) != 0, tb = nn_node_attr_int(n, "transB", 0) != 0;
    nn_dtype t = in[0].dtype != NN_DTYPE_UNDEFINED ? in[0].dtype : in[1].dtype;
    if (t != NN_DTYPE_UNDEFINED && !nn_nn__is_f32ish(t) && t != NN_DTYPE_DOUBLE)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s inputs are not supported", nn_dtype_name(t));
    if (in[0].dtype && in[1].dtype && in[0].dtype != in[1].dtype)
        return nn_op_error(c, NN_ERR_INVALID, "A is %s, B is %s", nn_dtype_name(in[0].dtype), nn_dtype_name(in[1].dtype));
    int has_c = n_in >= 3 && in[2].dtype != NN_DTYPE_UNDEFINED;
    if (c->opset < 11 && !has_c) return nn_op_error(c, NN_ERR_INVALID, "input C is required before opset 11");
    out[0].dtype = t;
    const nn_shape *a = &in[0].shape, *b = &in[1].shape;
    if ((a->rank >= 0 && a->rank != 2) || (b->rank >= 0 && b->rank != 2))
        return nn_op_error(c, NN_ERR_SHAPE, "A and B must be 2-D");
    int64_t M = a->rank == 2 ? a->dims[ta ? 1 : 0] : NN_DIM_UNKNOWN;
    int64_t ka = a->rank == 2 ? a->dims[ta ? 0 : 1] : NN_DIM_UNKNOWN;
    int64_t kb = b->rank == 2 ? b->dims[tb ? 1 : 0] : NN_DIM_UNKNOWN;
    int64_t N = b->rank == 2 ? b->dims[tb ? 0 : 1] : NN_DIM_UNKNOWN;
    if (ka >= 0 && kb >= 0 && ka != kb)
        return nn_op_error(c, NN_ERR_SHAPE, "inner dimensions differ: %lld vs %lld", (long long)ka, (long long)kb);
    out[0].shape.rank = 2;
    out[0].shape.dims[0] = M;
    out[0].shape.dims[1] = N;
    if (has_c) {
        const nn_shape *cs = &in[2].shape;
        if (cs->rank > 2) return nn_op_error(c, NN_ERR_SHAPE, "C has rank %d, at most 2 allowed", cs->rank);
        for (int32_t i = 0; cs->rank > 0 && i < cs->rank; i++) {
            int64_t want = out[0].shape.dims[2 - cs->rank + i], d = cs->dims[i];
            if (d >= 0 && d != 1 && want >= 0 && d != want)
                return nn_op_error(c, NN_ERR_SHAPE, "C does not broadcast to %lldx%lld", (long long)M, (long long)N);
        }
    }
    return NN_OK;
}

static nn_status nn_nn__run_gemm(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    const nn_node *n = c->node;
    int ta = nn_node_attr_int(n, "transA", 0) != 0, tb = nn_node_attr_int(n, "transB", 0) != 0;
    float alpha = nn_node_attr_float(n, "alpha", 1.0f), beta = nn_node_attr_float(n, "beta", 1.0f);
    size_t M = (size_t)out[0].shape.dims[0], N = (size_t)out[0].shape.dims[1];
    size_t K = (size_t)in[0].shape.dims[ta ? 0 : 1];
    const nn_value *cv = n_in >= 3 && in[2].dtype != NN_DTYPE_UNDEFINED && beta != 0.0f ? &in[2] : NULL;
    if (M == 0 || N == 0) return NN_OK;
    /* C's strides against (M, N): 0 along broadcast dims. */
    size_t crs = 0, ccs = 0;
    if (cv) {
        const nn_shape *cs = &cv->shape;
        int64_t d0 = cs->rank == 2 ? cs->dims[0] : 1, d1 = cs->rank >= 1 ? cs->dims[cs->rank - 1] : 1;
        ccs = d1 == 1 ? 0 : 1;
        crs = d0 == 1 ? 0 : (size_t)d1;
    }
    if (in[0].dtype == NN_DTYPE_DOUBLE) {
        const double *a = (const double *)in[0].data, *b = (const double *)in[1].data;
        double *y = (double *)out[0].data;
        nn_nn__mm_f64(M, N, K, a, ta ? 1 : K, ta ? M : 1, b, tb ? 1 : N, tb ? K : 1, y);
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++) {
                double v = (double)alpha * y[i * N + j];
                if (cv) v += (double)beta * nn_op__load(cv->data, cv->dtype, i * crs + j * ccs);
                y[i * N + j] = v;
            }
        return NN_OK;
    }
    const float *a = nn_nn__f32_view(c, &in[0]);
    const float *b = a ? nn_nn__f32_view(c, &in[1]) : NULL;
    float *y = b ? nn_nn__f32_out(c, &out[0]) : NULL;
    if (!y) return c->diag->status;
    const float *bias = NULL;
    int accumulate = 0;
    if (cv && ccs == 0) { /* one value per row: fuse it as the GEMM's row bias */
        float *bb = nn_nn__scratch_f32(c, M);
        if (!bb) return c->diag->status;
        for (size_t i = 0; i < M; i++) bb[i] = beta * (float)nn_op__load(cv->data, cv->dtype, i * crs);
        bias = bb;
    } else if (cv) { /* prefill beta*C, then accumulate */
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++) y[i * N + j] = beta * (float)nn_op__load(cv->data, cv->dtype, i * crs + j * ccs);
        accumulate = 1;
    }
    nn_status st = nn_nn__matmul_f32(c, M, N, K, a, ta, b, tb, y, N, alpha, bias, accumulate);
    if (st == NN_OK) nn_nn__f32_commit(&out[0], y);
    return st;
}

/* ---- nn: window geometry (Conv, ConvTranspose, pools) ------------------------------------ */

enum { NN_NN__CONV = 0, NN_NN__POOL = 1, NN_NN__CONVT = 2, NN_NN__CONVQ = 3 /* integer Conv: no float checks */ };

typedef struct nn_nn__geom {
    int nd;                               /* spatial dims */
    int64_t in[NN_NN__MAX_SPATIAL];       /* input size, NN_DIM_UNKNOWN allowed */
    int64_t out[NN_NN__MAX_SPATIAL];      /* output size, NN_DIM_UNKNOWN when not known */
    int64_t k[NN_NN__MAX_SPATIAL];        /* kernel size, NN_DIM_UNKNOWN allowed */
    int64_t s[NN_NN__MAX_SPATIAL], d[NN_NN__MAX_SPATIAL];
    int64_t pb[NN_NN__MAX_SPATIAL], pe[NN_NN__MAX_SPATIAL]; /* pads; ConvTranspose may have negative ones */
    int64_t op[NN_NN__MAX_SPATIAL];       /* ConvTranspose output_padding */
    int ceil_mode;
} nn_nn__geom;

static int64_t nn_nn__floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* Reads strides, dilations, pads, auto_pad (and ceil_mode, output_padding,
   output_shape for the ops that have them) and computes the output size of
   each spatial dim, following the formulas of the ONNX Conv/MaxPool/
   ConvTranspose specs.  in[] and kernel[] may hold NN_DIM_UNKNOWN. */
static nn_status nn_nn__geom_init(nn_op_ctx *c, int kind, int nd, const int64_t *in, const int64_t *kernel,
                                  nn_nn__geom *g) {
    const nn_node *n = c->node;
    int64_t pads[2 * NN_NN__MAX_SPATIAL], oshape[NN_MAX_RANK];
    int cnt;
    memset(g, 0, sizeof *g);
    g->nd = nd;
    if (nd < 1 || nd > NN_NN__MAX_SPATIAL) return nn_op_error(c, NN_ERR_SHAPE, "%d spatial dims are not supported", nd);
    for (int i = 0; i < nd; i++) { g->in[i] = in[i]; g->k[i] = kernel[i]; g->s[i] = g->d[i] = 1; }
    cnt = nn_nn__attr_ints(n, "strides", g->s, nd);
    if (cnt != 0 && cnt != nd) return nn_op_error(c, NN_ERR_INVALID, "strides needs %d values", nd);
    cnt = nn_nn__attr_ints(n, "dilations", g->d, nd);
    if (cnt != 0 && cnt != nd) return nn_op_error(c, NN_ERR_INVALID, "dilations needs %d values", nd);
    memset(pads, 0, sizeof pads);
    cnt = nn_nn__attr_ints(n, "pads", pads, 2 * nd);
    if (cnt != 0 && cnt != 2 * nd) return nn_op_error(c, NN_ERR_INVALID, "pads needs %d values", 2 * nd);
    for (int i = 0; i < nd; i++) { g->pb[i] = pads[i]; g->pe[i] = pads[nd + i]; }
    if (kind == NN_NN__CONVT) {
        cnt = nn_nn__attr_ints(n, "output_padding", g->op, nd);
        if (cnt != 0 && cnt != nd) return nn_op_error(c, NN_ERR_INVALID, "output_padding needs %d values", nd);
    }
    g->ceil_mode = kind == NN_NN__POOL && nn_node_attr_int(n, "ceil_mode", 0) != 0;
    for (int i = 0; i < nd; i++) {
        if (g->s[i] < 1 || g->s[i] > NN_NN__DIM_CAP || g->d[i] < 1 || g->d[i] > NN_NN__DIM_CAP)
            return nn_op_error(c, NN_ERR_INVALID, "strides and dilations must be in 1..2^31");
        if (g->pb[i] < 0 || g->pe[i] < 0 || g->pb[i] > NN_NN__DIM_CAP || g->pe[i] > NN_NN__DIM_CAP)
            return nn_op_error(c, NN_ERR_INVALID, "pads must be in 0..2^31");
        if (g->op[i] < 0 || g->op[i] > NN_NN__DIM_CAP) return nn_op_error(c, NN_ERR_INVALID, "bad output_padding");
        if (g->k[i] == 0 || g->k[i] > NN_NN__DIM_CAP || g->in[i] > NN_NN__DIM_CAP)
            return nn_op_error(c, g->k[i] == 0 ? NN_ERR_INVALID : NN_ERR_LIMIT, "kernel or input size out of range");
    }
    const char *ap = nn_node_attr_string(n, "auto_pad", "NOTSET");
    int same_upper = strcmp(ap, "SAME_UPPER") == 0, same_lower = strcmp(ap, "SAME_LOWER") == 0;
    int valid = strcmp(ap, "VALID") == 0;
    if (!same_upper && !same_lower && !valid && strcmp(ap, "NOTSET") != 0 && ap[0])
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "auto_pad '%s' is not supported", ap);
    int have_oshape = 0;
    if (kind == NN_NN__CONVT) {
        cnt = nn_nn__attr_ints(n, "output_shape", oshape, NN_MAX_RANK);
        if (cnt < 0 || (cnt != 0 && cnt != nd && cnt != nd + 2))
            return nn_op_error(c, NN_ERR_INVALID, "output_shape needs %d values", nd);
        if (cnt == nd + 2) memmove(oshape, oshape + 2, (size_t)nd * sizeof(int64_t));
        have_oshape = cnt != 0;
    }
    for (int i = 0; i < nd; i++) {
        int64_t ek = g->k[i] < 0 ? -1 : (g->k[i] - 1) * g->d[i] + 1; /* dilated kernel extent */
        g->out[i] = NN_DIM_UNKNOWN;
        if (kind == NN_NN__CONVT) {
            int64_t total;
            if (have_oshape) {
                if (oshape[i] < 0 || oshape[i] > NN_NN__DIM_CAP) return nn_op_error(c, NN_ERR_INVALID, "bad output_shape");
                g->out[i] = oshape[i];
            } else if (same_upper || same_lower) {
                if (g->in[i] >= 0) g->out[i] = g->in[i] * g->s[i];
            }
            if (have_oshape || same_upper || same_lower) {
                /* total padding as in the spec; split with floor division like
                   the ONNX reference, so a negative total (output_shape larger
                   than the full result) becomes a negative end pad */
                if (g->in[i] < 0 || ek < 0 || g->out[i] < 0) { g->out[i] = have_oshape ? g->out[i] : -1; continue; }
                total = g->s[i] * (g->in[i] - 1) + g->op[i] + ek - g->out[i];
                if (same_upper) { g->pb[i] = nn_nn__floor_div(total, 2); g->pe[i] = total - g->pb[i]; }
                else { g->pe[i] = nn_nn__floor_div(total, 2); g->pb[i] = total - g->pe[i]; }
            } else {
                if (valid) g->pb[i] = g->pe[i] = 0;
                if (g->in[i] < 0 || ek < 0) continue;
                g->out[i] = g->s[i] * (g->in[i] - 1) + g->op[i] + ek - g->pb[i] - g->pe[i];
                if (g->out[i] < 0) return nn_op_error(c, NN_ERR_SHAPE, "pads exceed the output size");
            }
            continue;
        }
        if (same_upper || same_lower) {
            if (g->in[i] < 0) continue;
            g->out[i] = (g->in[i] + g->s[i] - 1) / g->s[i];
            if (ek < 0) { g->pb[i] = g->pe[i] = 0; continue; }
            int64_t total = (g->out[i] - 1) * g->s[i] + ek - g->in[i];
            if (total < 0) total = 0;
            if (same_upper) { g->pb[i] = total / 2; g->pe[i] = total - total / 2; }
            else { g->pe[i] = total / 2; g->pb[i] = total - total / 2; }
            continue;
        }
        if (valid) g->pb[i] = g->pe[i] = 0;
        if (g->in[i] < 0 || ek < 0) continue;
        int64_t span = g->in[i] + g->pb[i] + g->pe[i] - ek;
        if (span < 0)
            return nn_op_error(c, NN_ERR_SHAPE, "kernel extent %lld exceeds the padded input %lld", (long long)ek,
                               (long long)(g->in[i] + g->pb[i] + g->pe[i]));
        if (g->ceil_mode) {
            g->out[i] = (span + g->s[i] - 1) / g->s[i] + 1;
            /* the last window must start inside the input or its begin pad */
            if ((g->out[i] - 1) * g->s[i] >= g->in[i] + g->pb[i]) g->out[i]--;
        } else {
            g->out[i] = span / g->s[i] + 1;
        }
    }
    return NN_OK;
}

static size_t nn_nn__prod(const int64_t *d, int n) {
    size_t p = 1;
    for (int i = 0; i < n; i++) p *= (size_t)d[i];
    return p;
}

/* ---- nn: Conv -------------------------------------------------------------------------------- */

/* An image seen as the im2col matrix B (Cg*prod(k) x prod(out)): row k is
   (channel, kernel offset), column n an output position. */
typedef struct nn_nn__im2col {
    const float *x;               /* (Cg, in...) */
    const nn_nn__geom *g;
} nn_nn__im2col;

/* 1-D and 2-D convs (1-D as H = 1) over an image without padding (the
   caller pads it first), so every tap is inside.  Per NR-wide panel the
   output positions split into a few runs along output rows ("segments");
   each B row (channel, ky, kx) is then a handful of strided copies with no
   bounds checks and no divisions.  Positions past nc are zero. */
#define NN_NN__MAX_SEGS (NN_NN__NR + 1)
static void nn_nn__pack_b_im2col2d(const void *src, size_t k0, size_t kc, size_t n0, size_t nc, float *dst) {
    const nn_nn__im2col *v = (const nn_nn__im2col *)src;
    const nn_nn__geom *g = v->g;
    int two = g->nd == 2, l = g->nd - 1;
    int64_t H = two ? g->in[0] : 1, W = g->in[l], OW = g->out[l];
    int64_t KH = two ? g->k[0] : 1, KW = g->k[l];
    int64_t sy = two ? g->s[0] : 1, sx = g->s[l], dy = two ? g->d[0] : 1, dx = g->d[l];
    size_t seg_lane[NN_NN__MAX_SEGS], seg_len[NN_NN__MAX_SEGS];
    int64_t seg_off[NN_NN__MAX_SEGS];
    for (size_t j = 0; j < nc; j += NN_NN__NR) {
        size_t w = nn_nn__min(NN_NN__NR, nc - j), nseg = 0;
        float *d = dst + (j / NN_NN__NR) * kc * NN_NN__NR;
        int64_t oy = (int64_t)(n0 + j) / OW, ox = (int64_t)(n0 + j) % OW;
        for (size_t lane = 0; lane < w;) { /* runs of positions along one output row */
            size_t len = nn_nn__min(w - lane, (size_t)(OW - ox));
            seg_lane[nseg] = lane;
            seg_len[nseg] = len;
            seg_off[nseg++] = oy * sy * W + ox * sx;
            lane += len;
            ox = 0;
            oy++;
        }
        if (w < NN_NN__NR) memset(d, 0, kc * NN_NN__NR * sizeof(float));
        int64_t k = (int64_t)k0, ci = k / (KH * KW), ky = k / KW % KH, kx = k % KW;
        for (size_t kk = 0; kk < kc; kk++, d += NN_NN__NR) {
            const float *base = v->x + ci * H * W + ky * dy * W + kx * dx;
            for (size_t sg = 0; sg < nseg; sg++) {
                const float *sp = base + seg_off[sg];
                float *dp = d + seg_lane[sg];
                size_t len = seg_len[sg];
                if (sx == 1) for (size_t t = 0; t < len; t++) dp[t] = sp[t];
                else for (size_t t = 0; t < len; t++) dp[t] = sp[(int64_t)t * sx];
            }
            if (++kx == KW) { kx = 0; if (++ky == KH) { ky = 0; ci++; } }
        }
    }
}
#undef NN_NN__MAX_SEGS

/* Copies image x (C, H, W) (1-D: H = 1) into xp with the geometry's zero
   padding around it; gp becomes the same geometry over the padded image. */
static void nn_nn__pad_image(const nn_nn__geom *g, size_t C, const float *x, float *xp, nn_nn__geom *gp) {
    int two = g->nd == 2, l = g->nd - 1;
    int64_t H = two ? g->in[0] : 1, W = g->in[l];
    int64_t py = two ? g->pb[0] : 0, px = g->pb[l];
    int64_t Hp = H + py + (two ? g->pe[0] : 0), Wp = W + px + g->pe[l];
    *gp = *g;
    if (two) { gp->in[0] = Hp; gp->pb[0] = gp->pe[0] = 0; }
    gp->in[l] = Wp;
    gp->pb[l] = gp->pe[l] = 0;
    memset(xp, 0, C * (size_t)(Hp * Wp) * sizeof(float));
    for (size_t c = 0; c < C; c++)
        for (int64_t y = 0; y < H; y++)
            memcpy(xp + (c * (size_t)Hp + (size_t)(y + py)) * (size_t)Wp + (size_t)px, x + (c * (size_t)H + (size_t)y) * (size_t)W,
                   (size_t)W * sizeof(float));
}

/* Any number of spatial dims: coordinates by division, one element at a time. */
static void nn_nn__pack_b_im2col_nd(const void *src, size_t k0, size_t kc, size_t n0, size_t nc, float *dst) {
    const nn_nn__im2col *v = (const nn_nn__im2col *)src;
    const nn_nn__geom *g = v->g;
    int nd = g->nd;
    size_t kprod = nn_nn__prod(g->k, nd), in_size = nn_nn__prod(g->in, nd);
    for (size_t kk = 0; kk < kc; kk++) {
        size_t k = k0 + kk, ci = k / kprod, r = k % kprod;
        int64_t koff[NN_NN__MAX_SPATIAL];
        for (int i = nd - 1; i >= 0; i--) { koff[i] = (int64_t)(r % (size_t)g->k[i]) * g->d[i]; r /= (size_t)g->k[i]; }
        const float *xc = v->x + ci * in_size;
        for (size_t jj = 0; jj < nn_nn__round_up(nc, NN_NN__NR); jj++) {
            float val = 0.0f;
            if (jj < nc) {
                size_t p = n0 + jj, off = 0;
                int inside = 1;
                int64_t pos[NN_NN__MAX_SPATIAL];
                for (int i = nd - 1; i >= 0; i--) { pos[i] = (int64_t)(p % (size_t)g->out[i]); p /= (size_t)g->out[i]; }
                for (int i = 0; i < nd; i++) {
                    int64_t c_in = pos[i] * g->s[i] - g->pb[i] + koff[i];
                    if (c_in < 0 || c_in >= g->in[i]) { inside = 0; break; }
                    off = off * (size_t)g->in[i] + (size_t)c_in;
                }
                if (inside) val = xc[off];
            }
            dst[(jj / NN_NN__NR) * kc * NN_NN__NR + kk * NN_NN__NR + jj % NN_NN__NR] = val;
        }
    }
}

/* Depthwise plane: y (OH, OW) = bias + conv(x (H, W), w (KH, KW)).  The
   general path adds one scaled, strided input row segment per tap to the
   output row (segment bounds keep reads inside the image).  Square 3x3 and
   5x5 kernels with stride 1 or 2 and no dilation (MobileNet, PP-LCNet) take
   a fast path: every output column whose taps are all inside the row sums
   its K*K taps in registers, top and bottom padding rows reading a zero
   row, so the loop has no branches and vectorizes over output columns. */
#if defined(__GNUC__)
#define NN_NN__RESTRICT __restrict
#else
#define NN_NN__RESTRICT
#endif

#define NN_NN__DW_ROW(NAME, K, S)                                                                      \
    static void NAME(const float *const *rows, const float *w, float bias, float *NN_NN__RESTRICT y,   \
                     int64_t ox0, int64_t ox1, int64_t xoff) {                                          \
        for (int64_t ox = ox0; ox < ox1; ox++) {                                                        \
            int64_t i = ox * (S) + xoff;                                                                \
            float acc = bias;                                                                           \
            for (int ky = 0; ky < (K); ky++)                                                            \
                for (int kx = 0; kx < (K); kx++) acc += w[ky * (K) + kx] * rows[ky][i + kx];            \
            y[ox] = acc;                                                                                \
        }                                                                                               \
    }
NN_NN__DW_ROW(nn_nn__dw_row_k3s1, 3, 1)
NN_NN__DW_ROW(nn_nn__dw_row_k3s2, 3, 2)
NN_NN__DW_ROW(nn_nn__dw_row_k5s1, 5, 1)
NN_NN__DW_ROW(nn_nn__dw_row_k5s2, 5, 2)
#undef NN_NN__DW_ROW

typedef void (*nn_nn__dw_row_fn)(const float *const *rows, const float *w, float bias, float *y, int64_t ox0,
                                 int64_t ox1, int64_t xoff);

/* The fast row kernel for g, or NULL. */
static nn_nn__dw_row_fn nn_nn__dw_fast(const nn_nn__geom *g) {
    if (g->nd != 2 || g->k[0] != g->k[1] || g->s[0] != g->s[1] || g->d[0] != 1 || g->d[1] != 1) return NULL;
    if (g->k[0] == 3) return g->s[0] == 1 ? nn_nn__dw_row_k3s1 : g->s[0] == 2 ? nn_nn__dw_row_k3s2 : NULL;
    if (g->k[0] == 5) return g->s[0] == 1 ? nn_nn__dw_row_k5s1 : g->s[0] == 2 ? nn_nn__dw_row_k5s2 : NULL;
    return NULL;
}

/* One output column by the general rule (used at the borders). */
static float nn_nn__dw_one(const nn_nn__geom *g, const float *x, const float *w, float bias, int64_t oy, int64_t ox) {
    int two = g->nd == 2, l = g->nd - 1;
    int64_t H = two ? g->in[0] : 1, W = g->in[l], KH = two ? g->k[0] : 1, KW = g->k[l];
    int64_t iy0 = two ? oy * g->s[0] - g->pb[0] : 0, ix0 = ox * g->s[l] - g->pb[l];
    float acc = bias;
    for (int64_t ky = 0; ky < KH; ky++) {
        int64_t iy = iy0 + ky * (two ? g->d[0] : 1);
        if (iy < 0 || iy >= H) continue;
        for (int64_t kx = 0; kx < KW; kx++) {
            int64_t ix = ix0 + kx * g->d[l];
            if (ix >= 0 && ix < W) acc += w[ky * KW + kx] * x[iy * W + ix];
        }
    }
    return acc;
}

static void nn_nn__dw_plane(const nn_nn__geom *g, const float *x, const float *w, float bias, float *y,
                            const float *zero_row) {
    int two = g->nd == 2, l = g->nd - 1;
    int64_t H = two ? g->in[0] : 1, W = g->in[l], OH = two ? g->out[0] : 1, OW = g->out[l];
    int64_t KH = two ? g->k[0] : 1, KW = g->k[l];
    int64_t sy = two ? g->s[0] : 1, sx = g->s[l], dy = two ? g->d[0] : 1, dx = g->d[l];
    int64_t py = two ? g->pb[0] : 0, px = g->pb[l];
    nn_nn__dw_row_fn fast = zero_row ? nn_nn__dw_fast(g) : NULL;
    if (fast) {
        /* columns whose taps all lie in [0, W): ox*sx - px >= 0 and ox*sx - px + K - 1 < W */
        int64_t a = (px + sx - 1) / sx, b = W - KW + px < 0 ? 0 : (W - KW + px) / sx + 1;
        if (b > OW) b = OW;
        if (a > b) a = b;
        for (int64_t oy = 0; oy < OH; oy++) {
            const float *rows[5];
            for (int64_t ky = 0; ky < KH; ky++) {
                int64_t iy = oy * sy - py + ky;
                rows[ky] = iy >= 0 && iy < H ? x + iy * W : zero_row;
            }
            float *yr = y + oy * OW;
            for (int64_t ox = 0; ox < a; ox++) yr[ox] = nn_nn__dw_one(g, x, w, bias, oy, ox);
            fast(rows, w, bias, yr, a, b, -px);
            for (int64_t ox = b; ox < OW; ox++) yr[ox] = nn_nn__dw_one(g, x, w, bias, oy, ox);
        }
        return;
    }
    for (int64_t oy = 0; oy < OH; oy++) {
        float *yr = y + oy * OW;
        for (int64_t ox = 0; ox < OW; ox++) yr[ox] = bias;
        for (int64_t ky = 0; ky < KH; ky++) {
            int64_t iy = oy * sy - py + ky * dy;
            if (iy < 0 || iy >= H) continue;
            const float *xr = x + iy * W;
            for (int64_t kx = 0; kx < KW; kx++) {
                float wv = w[ky * KW + kx];
                int64_t xoff = kx * dx - px;
                int64_t lo = xoff >= 0 ? 0 : (-xoff + sx - 1) / sx;
                int64_t hi = W - 1 - xoff < 0 ? 0 : (W - 1 - xoff) / sx + 1;
                if (hi > OW) hi = OW;
                if (sx == 1) for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox + xoff];
                else for (int64_t ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * sx + xoff];
            }
        }
    }
}

typedef struct nn_nn__conv_job {
    const nn_nn__geom *g;
    const float *x, *w, *b; /* x (N, C, in...), w (M, 1, k...), b (M) or NULL */
    const float *zero_row;  /* (W + 8) zeros for the depthwise fast path, or NULL */
    float *y;               /* (N, M, out...) */
    size_t M, Mg, in_size, out_size, kprod;
} nn_nn__conv_job;

static void nn_nn__dw_planes(void *arg, size_t begin, size_t end) {
    const nn_nn__conv_job *j = (const nn_nn__conv_job *)arg;
    for (size_t p = begin; p < end; p++) { /* p = n*M + m; input channel m / Mg */
        size_t m = p % j->M, nb = p / j->M, C = j->M / j->Mg;
        nn_nn__dw_plane(j->g, j->x + (nb * C + m / j->Mg) * j->in_size, j->w + m * j->kprod,
                        j->b ? j->b[m] : 0.0f, j->y + p * j->out_size, j->zero_row);
    }
}

/* Shared by infer and run: checks X, W, B and the attributes and fills the
   geometry.  Output shape into *out (dims unknown where inputs are). */
static nn_status nn_nn__conv_setup(nn_op_ctx *c, const nn_value *in, uint32_t n_in, int kind, nn_nn__geom *g,
                                   int64_t *out_group, nn_shape *out) {
    const nn_shape *x = &in[0].shape, *w = &in[1].shape;
    int64_t group = nn_node_attr_int(c->node, "group", 1), kernel[NN_MAX_RANK], xin[NN_MAX_RANK];
    nn_status st;
    if (kind != NN_NN__CONVQ &&
        ((st = nn_nn__check_float(c, in[0].dtype, 0, "X")) || (st = nn_nn__check_float(c, in[1].dtype, 0, "W"))))
        return st;
    if (kind != NN_NN__CONVQ && in[0].dtype && in[1].dtype && in[0].dtype != in[1].dtype)
        return nn_op_error(c, NN_ERR_INVALID, "X is %s, W is %s", nn_dtype_name(in[0].dtype), nn_dtype_name(in[1].dtype));
    if (group < 1 || group > NN_NN__DIM_CAP) return nn_op_error(c, NN_ERR_INVALID, "group must be >= 1");
    *out_group = group;
    int32_t rank = x->rank >= 0 ? x->rank : w->rank;
    out->rank = rank;
    if (rank < 0) return NN_OK;
    if (rank < 3) return nn_op_error(c, NN_ERR_SHAPE, "X must be (N, C, D1, ...), got rank %d", rank);
    if (x->rank >= 0 && w->rank >= 0 && x->rank != w->rank)
        return nn_op_error(c, NN_ERR_SHAPE, "X has rank %d, W has rank %d", x->rank, w->rank);
    int nd = rank - 2;
    int cnt = nn_nn__attr_ints(c->node, "kernel_shape", kernel, nd);
    if (cnt != 0 && cnt != nd) return nn_op_error(c, NN_ERR_INVALID, "kernel_shape needs %d values", nd);
    for (int i = 0; i < nd; i++) {
        int64_t wk = w->rank >= 0 ? w->dims[2 + i] : NN_DIM_UNKNOWN;
        if (cnt == 0) kernel[i] = wk;
        else if (wk >= 0 && kernel[i] != wk) return nn_op_error(c, NN_ERR_SHAPE, "kernel_shape disagrees with W");
        xin[i] = x->rank >= 0 ? x->dims[2 + i] : NN_DIM_UNKNOWN;
    }
    if ((st = nn_nn__geom_init(c, kind, nd, xin, kernel, g))) return st;
    int64_t C = x->rank >= 0 ? x->dims[1] : NN_DIM_UNKNOWN, wc0 = w->rank >= 0 ? w->dims[0] : NN_DIM_UNKNOWN;
    int64_t wc1 = w->rank >= 0 ? w->dims[1] : NN_DIM_UNKNOWN, M;
    if (kind != NN_NN__CONVT) { /* W (M, C/group, k...) */
        if (C >= 0 && wc1 >= 0 && C != wc1 * group)
            return nn_op_error(c, NN_ERR_SHAPE, "X has %lld channels, W expects %lld x group %lld", (long long)C,
                               (long long)wc1, (long long)group);
        if (wc0 >= 0 && wc0 % group) return nn_op_error(c, NN_ERR_SHAPE, "output channels not divisible by group");
        M = wc0;
    } else { /* W (C, M/group, k...) */
        if (C >= 0 && wc0 >= 0 && C != wc0) return nn_op_error(c, NN_ERR_SHAPE, "X has %lld channels, W has %lld", (long long)C, (long long)wc0);
        if (wc0 >= 0 && wc0 % group) return nn_op_error(c, NN_ERR_SHAPE, "input channels not divisible by group");
        M = wc1 >= 0 ? wc1 * group : NN_DIM_UNKNOWN;
    }
    if (kind != NN_NN__CONVQ && n_in >= 3 && in[2].dtype != NN_DTYPE_UNDEFINED) {
        const nn_shape *b = &in[2].shape;
        if ((st = nn_nn__check_float(c, in[2].dtype, 0, "B"))) return st;
        if (b->rank >= 0 && (b->rank != 1 || (M >= 0 && b->dims[0] >= 0 && b->dims[0] != M)))
            return nn_op_error(c, NN_ERR_SHAPE, "B must be a vector of the %lld output channels", (long long)M);
    }
    out->dims[0] = x->rank >= 0 ? x->dims[0] : NN_DIM_UNKNOWN;
    out->dims[1] = M;
    for (int i = 0; i < nd; i++) out->dims[2 + i] = g->out[i];
    return NN_OK;
}

static nn_status nn_nn__infer_conv(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    nn_nn__geom g;
    int64_t group;
    out[0].dtype = in[0].dtype;
    return nn_nn__conv_setup(c, in, n_in, NN_NN__CONV, &g, &group, &out[0].shape);
}

static nn_status nn_nn__run_conv(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    nn_nn__geom g;
    nn_shape os;
    int64_t group;
    nn_status st = nn_nn__conv_setup(c, in, n_in, NN_NN__CONV, &g, &group, &os);
    if (st) return st;
    if (nn_value_count(&out[0]) == 0) return NN_OK;
    const float *x = nn_nn__f32_view(c, &in[0]);
    const float *w = x ? nn_nn__f32_view(c, &in[1]) : NULL;
    const float *b = NULL;
    if (w && n_in >= 3 && in[2].dtype != NN_DTYPE_UNDEFINED && !(b = nn_nn__f32_view(c, &in[2]))) w = NULL;
    float *y = w ? nn_nn__f32_out(c, &out[0]) : NULL;
    if (!y) return c->diag->status;
    int nd = g.nd;
    size_t N = (size_t)in[0].shape.dims[0], C = (size_t)in[0].shape.dims[1], M = (size_t)os.dims[1];
    size_t Cg = C / (size_t)group, Mg = M / (size_t)group;
    size_t in_size = nn_nn__prod(g.in, nd), out_size = nn_nn__prod(g.out, nd), kprod = nn_nn__prod(g.k, nd);
    size_t Kg = Cg * kprod;
    if (Cg == 1 && nd <= 2) { /* depthwise (channel multiplier Mg) */
        nn_nn__conv_job j;
        j.g = &g; j.x = x; j.w = w; j.b = b; j.y = y;
        j.M = M; j.Mg = Mg; j.in_size = in_size; j.out_size = out_size; j.kprod = kprod;
        j.zero_row = NULL;
        if (nn_nn__dw_fast(&g)) {
            float *z = nn_nn__scratch_f32(c, (size_t)g.in[1] + 8);
            if (!z) return c->diag->status;
            memset(z, 0, ((size_t)g.in[1] + 8) * sizeof(float));
            j.zero_row = z;
        }
        nn_op_parallel(c, N * M, 1, nn_nn__dw_planes, &j);
        nn_nn__f32_commit(&out[0], y);
        return NN_OK;
    }
    int pointwise = 1, padded = 0; /* 1x1, stride 1, no pads: the image is B itself */
    for (int i = 0; i < nd; i++) {
        if (g.k[i] != 1 || g.s[i] != 1 || g.pb[i] || g.pe[i]) pointwise = 0;
        if (g.pb[i] || g.pe[i]) padded = 1;
    }
    nn_nn__geom gp = g; /* the geometry the packer sees (over a padded copy) */
    float *xpad = NULL;
    if (nd <= 2 && padded) {
        size_t pad_count = Cg;
        for (int i = 0; i < nd; i++) /* pads are capped at 2^31, the product is not: check it */
            if (!nn_size_mul(pad_count, (size_t)(g.in[i] + g.pb[i] + g.pe[i]), &pad_count))
                return nn_op_error(c, NN_ERR_LIMIT, "padded image too large");
        if (!(xpad = nn_nn__scratch_f32(c, pad_count))) return c->diag->status;
    }
    for (size_t nb = 0; nb < N && st == NN_OK; nb++)
        for (size_t gi = 0; gi < (size_t)group && st == NN_OK; gi++) {
            const float *xg = x + (nb * C + gi * Cg) * in_size;
            nn_nn__im2col view;
            nn_nn__mat mat;
            nn_nn__gemm gm;
            memset(&gm, 0, sizeof gm);
            view.x = xg; view.g = &g;
            if (xpad) {
                nn_nn__pad_image(&g, Cg, xg, xpad, &gp);
                view.x = xpad;
                view.g = &gp;
            }
            mat.p = xg; mat.rs = in_size; mat.cs = 1;
            gm.M = Mg; gm.N = out_size; gm.K = Kg;
            gm.A = w + gi * Mg * Kg; gm.lda = Kg;
            gm.pack_b = pointwise ? nn_nn__pack_b_mat : nd <= 2 ? nn_nn__pack_b_im2col2d : nn_nn__pack_b_im2col_nd;
            gm.b_src = pointwise ? (const void *)&mat : (const void *)&view;
            gm.C = y + (nb * M + gi * Mg) * out_size; gm.ldc = out_size;
            gm.alpha = 1.0f;
            gm.bias = b ? b + gi * Mg : NULL;
            st = nn_nn__sgemm(c, &gm);
        }
    if (st == NN_OK) nn_nn__f32_commit(&out[0], y);
    return st;
}

/* ---- nn: fused ops (com.microsoft FusedConv, FusedGemm, QuickGelu) ------------------------------
   What the graph pass `act` produces: the ONNX Runtime contrib ops
   (onnxruntime/core/graph/contrib_ops/contrib_defs.cc).  The product runs on
   the Conv / Gemm kernel above; the activation is a separate float32 pass
   over the output, split across the pool like any element-wise op.
   FusedConv names its parameters activation_params (LeakyRelu: alpha;
   Clip: min, max; HardSigmoid: alpha, beta); FusedGemm names them
   activation_alpha / activation_beta (ORT builds the functor from the
   attributes after the "activation_" prefix). */

/* The ai.nnport FusedConv / FusedGemm (the `act_npu` pass) take the same
   attributes and also the activations an NPU fuses but ORT's functors lack:
   QuickGelu (activation_params alpha; 1 is SiLU), HardSwish, Gelu (erf) and
   FastGelu (tanh form), computed by the same float32 code as the ops alone. */
enum { NN_NN__ACT_NONE = 0, NN_NN__ACT_RELU, NN_NN__ACT_LEAKY, NN_NN__ACT_CLIP, NN_NN__ACT_HSIG,
       NN_NN__ACT_SIGMOID, NN_NN__ACT_TANH, NN_NN__ACT_QUICKGELU, NN_NN__ACT_HSWISH, NN_NN__ACT_GELU,
       NN_NN__ACT_FASTGELU };

typedef struct nn_nn__act {
    int kind;
    float a, b;  /* LeakyRelu alpha; Clip min,max; HardSigmoid alpha,beta; QuickGelu alpha */
    float *y;    /* the values, rewritten in place */
    const float *x; /* QuickGelu's input (y = x * sigmoid(a x)) */
} nn_nn__act;

/* Parses the node's activation attributes into *a; gemm_style selects
   FusedGemm's attribute names. */
static nn_status nn_nn__act_parse(nn_op_ctx *c, int gemm_style, nn_nn__act *a) {
    const nn_node *n = c->node;
    static const char *const names[] = {"",        "Relu",      "LeakyRelu", "Clip", "HardSigmoid", "Sigmoid",
                                        "Tanh",    "QuickGelu", "HardSwish", "Gelu", "FastGelu"};
    const char *s = nn_node_attr_string(n, "activation", "");
    int ext = strcmp(n->domain, "ai.nnport") == 0; /* the NPU activations */
    memset(a, 0, sizeof *a);
    a->kind = -1;
    for (int k = 0; k < (int)(sizeof names / sizeof names[0]); k++)
        if (strcmp(s, names[k]) == 0 && (ext || k <= NN_NN__ACT_TANH)) a->kind = k;
    if (a->kind < 0 || (gemm_style && a->kind == NN_NN__ACT_CLIP))
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "activation '%s' is not supported", s);
    float def_a = a->kind == NN_NN__ACT_LEAKY ? 0.01f : a->kind == NN_NN__ACT_HSIG ? 0.2f
                : a->kind == NN_NN__ACT_QUICKGELU ? 1.702f : -INFINITY;
    float def_b = a->kind == NN_NN__ACT_HSIG ? 0.5f : INFINITY;
    a->a = def_a;
    a->b = def_b;
    if (gemm_style) {
        a->a = nn_node_attr_float(n, "activation_alpha", def_a);
        a->b = nn_node_attr_float(n, "activation_beta", def_b);
        return NN_OK;
    }
    const nn_attr *p = nn_node_attr(n, "activation_params");
    uint32_t need = (a->kind == NN_NN__ACT_LEAKY || a->kind == NN_NN__ACT_QUICKGELU) ? 1
                  : (a->kind == NN_NN__ACT_CLIP || a->kind == NN_NN__ACT_HSIG) ? 2 : 0;
    if (p && (p->type != NN_ATTR_FLOATS || p->count < need))
        return nn_op_error(c, NN_ERR_INVALID, "activation_params needs %u floats for %s", need, s);
    if (p && need >= 1) a->a = p->floats[0];
    if (p && need >= 2) a->b = p->floats[1];
    if (!p && a->kind == NN_NN__ACT_CLIP) return nn_op_error(c, NN_ERR_INVALID, "Clip needs activation_params min,max");
    return NN_OK;
}

static void nn_nn__act_range(void *arg, size_t lo, size_t hi) {
    const nn_nn__act *a = (const nn_nn__act *)arg;
    /* parameters in locals: stores through y could alias a's fields, which
       would keep the compiler from vectorizing */
    float *y = a->y, pa = a->a, pb = a->b;
    const float *x = a->x;
    switch (a->kind) {
    case NN_NN__ACT_RELU: for (size_t i = lo; i < hi; i++) y[i] = y[i] < 0.0f ? 0.0f : y[i]; break;
    case NN_NN__ACT_LEAKY: for (size_t i = lo; i < hi; i++) y[i] = y[i] < 0.0f ? pa * y[i] : y[i]; break;
    case NN_NN__ACT_CLIP: for (size_t i = lo; i < hi; i++) y[i] = y[i] < pa ? pa : y[i] > pb ? pb : y[i]; break;
    case NN_NN__ACT_HSIG:
        for (size_t i = lo; i < hi; i++) {
            float v = pa * y[i] + pb;
            y[i] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
        break;
    case NN_NN__ACT_SIGMOID: for (size_t i = lo; i < hi; i++) y[i] = nn_ew__sigmoidf(y[i]); break;
    case NN_NN__ACT_TANH: for (size_t i = lo; i < hi; i++) y[i] = nn_ew__tanhf(y[i]); break;
    case NN_NN__ACT_QUICKGELU: for (size_t i = lo; i < hi; i++) y[i] = x[i] * nn_ew__sigmoidf(pa * x[i]); break;
    case NN_NN__ACT_HSWISH: nn_ew__hardswish_f32(y + lo, y + lo, hi - lo, NULL); break;
    case NN_NN__ACT_GELU:
    case NN_NN__ACT_FASTGELU: {
        nn_ew__par par;
        memset(&par, 0, sizeof par);
        par.flag_a = a->kind == NN_NN__ACT_FASTGELU;
        nn_ew__gelu_f32(y + lo, y + lo, hi - lo, &par);
        break;
    }
    default: break;
    }
}

static void nn_nn__act_apply(nn_op_ctx *c, nn_nn__act *a, nn_value *v) {
    if (a->kind == NN_NN__ACT_NONE) return;
    a->y = (float *)v->data;
    if (!a->x) a->x = a->y; /* a fused QuickGelu reads its own product */
    nn_op_parallel(c, nn_value_count(v), 16384, nn_nn__act_range, a);
}

/* FusedConv's optional 4th input Z is added to the convolution before the
   activation: Y = act(Conv(X, W, B) + Z), Z shaped as Y (ORT's
   ConvAddActivationFusion). */
static nn_status nn_nn__infer_fused_conv(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_nn__act a;
    nn_status st = nn_nn__act_parse(c, 0, &a);
    if (st) return st;
    if (in[0].dtype && in[0].dtype != NN_DTYPE_FLOAT)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "FusedConv takes float32, not %s", nn_dtype_name(in[0].dtype));
    st = nn_nn__infer_conv(c, in, n_in < 3 ? n_in : 3, out, n_out);
    if (st || n_in < 4 || in[3].dtype == NN_DTYPE_UNDEFINED) return st;
    if (in[3].dtype != NN_DTYPE_FLOAT) return nn_op_error(c, NN_ERR_UNSUPPORTED, "Z must be float32");
    const nn_shape *z = &in[3].shape, *y = &out[0].shape;
    if (z->rank >= 0 && y->rank >= 0) {
        if (z->rank != y->rank) return nn_op_error(c, NN_ERR_SHAPE, "Z has rank %d, Y has rank %d", z->rank, y->rank);
        for (int32_t i = 0; i < z->rank; i++)
            if (z->dims[i] >= 0 && y->dims[i] >= 0 && z->dims[i] != y->dims[i])
                return nn_op_error(c, NN_ERR_SHAPE, "Z dim %d is %lld, Y's is %lld", i, (long long)z->dims[i],
                                   (long long)y->dims[i]);
    }
    return NN_OK;
}

static nn_status nn_nn__run_fused_conv(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_nn__act a;
    nn_status st = nn_nn__act_parse(c, 0, &a);
    if (st == NN_OK) st = nn_nn__run_conv(c, in, n_in < 3 ? n_in : 3, out, n_out);
    if (st == NN_OK && n_in >= 4 && in[3].dtype != NN_DTYPE_UNDEFINED) {
        size_t cnt = nn_value_count(&out[0]);
        if (nn_value_count(&in[3]) != cnt) return nn_op_error(c, NN_ERR_SHAPE, "Z does not have Y's shape");
        float *y = (float *)out[0].data;
        const float *z = (const float *)in[3].data;
        for (size_t i = 0; i < cnt; i++) y[i] += z[i];
    }
    if (st == NN_OK) nn_nn__act_apply(c, &a, &out[0]);
    return st;
}

static nn_status nn_nn__infer_fused_gemm(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_nn__act a;
    nn_status st = nn_nn__act_parse(c, 1, &a);
    if (st) return st;
    if (in[0].dtype && in[0].dtype != NN_DTYPE_FLOAT)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "FusedGemm takes float32, not %s", nn_dtype_name(in[0].dtype));
    /* c->opset is com.microsoft's (1); FusedGemm follows Gemm-11+, where C
       is optional. */
    int64_t opset = c->opset;
    c->opset = 13;
    st = nn_nn__infer_gemm(c, in, n_in, out, n_out);
    c->opset = opset;
    return st;
}

static nn_status nn_nn__run_fused_gemm(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_nn__act a;
    nn_status st = nn_nn__act_parse(c, 1, &a);
    if (st == NN_OK) st = nn_nn__run_gemm(c, in, n_in, out, n_out);
    if (st == NN_OK) nn_nn__act_apply(c, &a, &out[0]);
    return st;
}

/* QuickGelu: y = x * sigmoid(alpha * x), alpha default 1.702 (ORT's
   contrib schema); alpha 1 is SiLU / Swish. */
static nn_status nn_nn__infer_quick_gelu(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    if (in[0].dtype && in[0].dtype != NN_DTYPE_FLOAT)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "QuickGelu takes float32, not %s", nn_dtype_name(in[0].dtype));
    return nn_op__infer_same(c, in, n_in, out, n_out);
}

static nn_status nn_nn__run_quick_gelu(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    nn_nn__act a;
    memset(&a, 0, sizeof a);
    a.kind = NN_NN__ACT_QUICKGELU;
    a.a = nn_node_attr_float(c->node, "alpha", 1.702f);
    a.x = (const float *)in[0].data;
    nn_nn__act_apply(c, &a, &out[0]);
    return NN_OK;
}

/* ---- nn: ConvTranspose ------------------------------------------------------------------------ */

/* Scatter-adds col (Mg*prod(k), prod(in)) into y (Mg, out...): the adjoint
   of im2col.  Output position = in*s - pad_begin + koff*d. */
static void nn_nn__col2im(const nn_nn__geom *g, size_t Mg, const float *col, float *y) {
    int nd = g->nd;
    size_t kprod = nn_nn__prod(g->k, nd), in_size = nn_nn__prod(g->in, nd), out_size = nn_nn__prod(g->out, nd);
    for (size_t row = 0; row < Mg * kprod; row++) {
        size_t m = row / kprod, r = row % kprod;
        int64_t koff[NN_NN__MAX_SPATIAL], pos[NN_NN__MAX_SPATIAL];
        for (int i = nd - 1; i >= 0; i--) { koff[i] = (int64_t)(r % (size_t)g->k[i]) * g->d[i] - g->pb[i]; r /= (size_t)g->k[i]; }
        const float *cr = col + row * in_size;
        float *ym = y + m * out_size;
        int l = nd - 1;
        /* innermost dim: in positions ix with 0 <= ix*s + koff < out */
        int64_t s = g->s[l], off = koff[l], lo = off >= 0 ? 0 : (-off + s - 1) / s;
        int64_t hi = g->out[l] - 1 - off < 0 ? 0 : (g->out[l] - 1 - off) / s + 1;
        if (hi > g->in[l]) hi = g->in[l];
        size_t lines = in_size / (size_t)g->in[l];
        for (int i = 0; i < nd; i++) pos[i] = 0;
        for (size_t line = 0; line < lines; line++) {
            size_t yo = 0;
            int inside = 1;
            for (int i = 0; i < l; i++) {
                int64_t o = pos[i] * g->s[i] + koff[i];
                if (o < 0 || o >= g->out[i]) { inside = 0; break; }
                yo = yo * (size_t)g->out[i] + (size_t)o;
            }
            if (inside) {
                float *yr = ym + yo * (size_t)g->out[l];
                const float *cl = cr + line * (size_t)g->in[l];
                for (int64_t ix = lo; ix < hi; ix++) yr[ix * s + off] += cl[ix];
            }
            for (int i = l - 1; i >= 0; i--) { /* next line: odometer over the outer dims */
                if (++pos[i] < g->in[i]) break;
                pos[i] = 0;
            }
        }
    }
}

static nn_status nn_nn__infer_convt(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    nn_nn__geom g;
    int64_t group;
    out[0].dtype = in[0].dtype;
    return nn_nn__conv_setup(c, in, n_in, NN_NN__CONVT, &g, &group, &out[0].shape);
}

static nn_status nn_nn__run_convt(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    nn_nn__geom g;
    nn_shape os;
    int64_t group;
    nn_status st = nn_nn__conv_setup(c, in, n_in, NN_NN__CONVT, &g, &group, &os);
    if (st) return st;
    size_t total = nn_value_count(&out[0]);
    if (total == 0) return NN_OK;
    const float *x = nn_nn__f32_view(c, &in[0]);
    const float *w = x ? nn_nn__f32_view(c, &in[1]) : NULL;
    const float *b = NULL;
    if (w && n_in >= 3 && in[2].dtype != NN_DTYPE_UNDEFINED && !(b = nn_nn__f32_view(c, &in[2]))) w = NULL;
    float *y = w ? nn_nn__f32_out(c, &out[0]) : NULL;
    if (!y) return c->diag->status;
    int nd = g.nd;
    size_t N = (size_t)in[0].shape.dims[0], C = (size_t)in[0].shape.dims[1], M = (size_t)os.dims[1];
    size_t Cg = C / (size_t)group, Mg = M / (size_t)group;
    size_t in_size = nn_nn__prod(g.in, nd), out_size = nn_nn__prod(g.out, nd), kprod = nn_nn__prod(g.k, nd);
    size_t rows = Mg * kprod, col_count;
    if (!nn_size_mul(rows, in_size, &col_count)) return nn_op_error(c, NN_ERR_LIMIT, "column buffer too large");
    float *col = nn_nn__scratch_f32(c, col_count);
    if (!col) return c->diag->status;
    for (size_t i = 0; i < N * M; i++) {
        float bv = b ? b[i % M] : 0.0f;
        for (size_t p = 0; p < out_size; p++) y[i * out_size + p] = bv;
    }
    for (size_t nb = 0; nb < N && st == NN_OK; nb++)
        for (size_t gi = 0; gi < (size_t)group && st == NN_OK; gi++) {
            /* col (Mg*k, in) = W_g^T (Mg*k, Cg) * X_g (Cg, in); W_g is (Cg, Mg*k) */
            st = nn_nn__matmul_f32(c, rows, in_size, Cg, w + gi * Cg * rows, 1, x + (nb * C + gi * Cg) * in_size, 0,
                                   col, in_size, 1.0f, NULL, 0);
            if (st == NN_OK) nn_nn__col2im(&g, Mg, col, y + (nb * M + gi * Mg) * out_size);
        }
    if (st == NN_OK) nn_nn__f32_commit(&out[0], y);
    return st;
}

/* ---- nn: pooling ----------------------------------------------------------------------------- */

enum { NN_NN__MAX = 0, NN_NN__AVG = 1, NN_NN__LP = 2 };

typedef struct nn_nn__pool_job {
    const nn_nn__geom *g;
    int mode, count_pad, col_major;
    float p;                  /* LpPool exponent */
    const float *x;           /* (planes, in...) */
    float *y;                 /* (planes, out...) */
    int64_t *idx;             /* MaxPool Indices (planes, out...) or NULL */
    size_t in_size, out_size;
} nn_nn__pool_job;

static float nn_nn__lp_term(float v, float p) {
    v = fabsf(v);
    return p == 2.0f ? v * v : p == 1.0f ? v : powf(v, p);
}

/* One output element: the window's valid taps per dim are [lo, hi); the
   taps inside the padded extent (count_include_pad) are [0, phi). */
static void nn_nn__pool_one(const nn_nn__pool_job *j, const float *xp, const int64_t *o, size_t plane, float *out_v,
                            int64_t *out_i) {
    const nn_nn__geom *g = j->g;
    int nd = g->nd;
    int64_t cnt[NN_NN__MAX_SPATIAL], cur[NN_NN__MAX_SPATIAL], base[NN_NN__MAX_SPATIAL];
    size_t stride[NN_NN__MAX_SPATIAL];
    double padded = 1, valid = 1;
    for (int i = nd - 1; i >= 0; i--) stride[i] = i == nd - 1 ? 1 : stride[i + 1] * (size_t)g->in[i + 1];
    for (int i = 0; i < nd; i++) {
        int64_t st = o[i] * g->s[i] - g->pb[i], d = g->d[i];
        int64_t l = st >= 0 ? 0 : (-st + d - 1) / d;
        int64_t h = g->in[i] - 1 - st < 0 ? 0 : (g->in[i] - 1 - st) / d + 1;
        int64_t ph = g->in[i] + g->pe[i] - 1 - st < 0 ? 0 : (g->in[i] + g->pe[i] - 1 - st) / d + 1;
        if (h > g->k[i]) h = g->k[i];
        if (ph > g->k[i]) ph = g->k[i];
        if (l > h) l = h;
        cnt[i] = h - l;
        cur[i] = 0;
        base[i] = st + l * d;
        padded *= (double)ph;
        valid *= (double)cnt[i];
    }
    float best = -INFINITY, sum = 0.0f;
    int64_t best_off = -1;
    if (valid > 0) {
        int l = nd - 1;
        for (;;) {
            size_t off = 0;
            for (int i = 0; i < l; i++) off += (size_t)(base[i] + cur[i] * g->d[i]) * stride[i];
            const float *row = xp + off + (size_t)base[l];
            int64_t d = g->d[l], n = cnt[l];
            if (j->mode == NN_NN__MAX) {
                for (int64_t t = 0; t < n; t++)
                    if (row[t * d] > best || best_off < 0) { best = row[t * d]; best_off = (int64_t)(off + (size_t)base[l]) + t * d; }
            } else if (j->mode == NN_NN__AVG) {
                for (int64_t t = 0; t < n; t++) sum += row[t * d];
            } else {
                for (int64_t t = 0; t < n; t++) sum += nn_nn__lp_term(row[t * d], j->p);
            }
            int i = l - 1;
            for (; i >= 0; i--) {
                if (++cur[i] < cnt[i]) break;
                cur[i] = 0;
            }
            if (i < 0) break;
        }
    }
    if (j->mode == NN_NN__MAX) {
        *out_v = best;
        if (out_i) {
            int64_t idx = -1;
            if (best_off >= 0) {
                idx = best_off;
                if (j->col_major) { /* Indices counted with the first spatial dim fastest */
                    size_t r = (size_t)best_off, cm = 0, mul = 1;
                    int64_t coord[NN_NN__MAX_SPATIAL];
                    for (int i = nd - 1; i >= 0; i--) { coord[i] = (int64_t)(r % (size_t)g->in[i]); r /= (size_t)g->in[i]; }
                    for (int i = 0; i < nd; i++) { cm += (size_t)coord[i] * mul; mul *= (size_t)g->in[i]; }
                    idx = (int64_t)cm;
                }
                idx += (int64_t)(plane * j->in_size);
            }
            *out_i = idx;
        }
    } else if (j->mode == NN_NN__AVG) {
        double div = j->count_pad ? padded : valid;
        *out_v = div > 0 ? (float)(sum / div) : 0.0f;
    } else {
        *out_v = j->p == 2.0f ? sqrtf(sum) : j->p == 1.0f ? sum : powf(sum, 1.0f / j->p);
    }
}

/* Taps t in [0, k) of a window starting at st (dilation d) that land in
   [0, n): [*lo, *hi). */
static void nn_nn__tap_range(int64_t st, int64_t d, int64_t k, int64_t n, int64_t *lo, int64_t *hi) {
    int64_t l = st >= 0 ? 0 : (-st + d - 1) / d, h = n - 1 - st < 0 ? 0 : (n - 1 - st) / d + 1;
    if (h > k) h = k;
    *lo = l < h ? l : h;
    *hi = h;
}

/* 1-D/2-D MaxPool without Indices and AveragePool: the common CNN case,
   with the tap ranges worked out once per output row and column. */
static void nn_nn__pool2d_plane(const nn_nn__pool_job *j, const float *x, float *y) {
    const nn_nn__geom *g = j->g;
    int two = g->nd == 2, l = g->nd - 1;
    int64_t H = two ? g->in[0] : 1, W = g->in[l], OH = two ? g->out[0] : 1, OW = g->out[l];
    int64_t KH = two ? g->k[0] : 1, KW = g->k[l], sy = two ? g->s[0] : 1, sx = g->s[l];
    int64_t dy = two ? g->d[0] : 1, dx = g->d[l], py = two ? g->pb[0] : 0, px = g->pb[l];
    int64_t pey = two ? g->pe[0] : 0, pex = g->pe[l];
    for (int64_t oy = 0; oy < OH; oy++) {
        int64_t y0 = oy * sy - py, ylo, yhi, plo, phy;
        nn_nn__tap_range(y0, dy, KH, H, &ylo, &yhi);
        nn_nn__tap_range(y0, dy, KH, H + pey, &plo, &phy);
        for (int64_t ox = 0; ox < OW; ox++) {
            int64_t x0 = ox * sx - px, xlo, xhi, phx;
            nn_nn__tap_range(x0, dx, KW, W, &xlo, &xhi);
            nn_nn__tap_range(x0, dx, KW, W + pex, &plo, &phx);
            float r;
            if (j->mode == NN_NN__MAX) {
                r = ylo < yhi && xlo < xhi ? x[(y0 + ylo * dy) * W + x0 + xlo * dx] : -INFINITY;
                for (int64_t ky = ylo; ky < yhi; ky++) {
                    const float *row = x + (y0 + ky * dy) * W + x0;
                    for (int64_t kx = xlo; kx < xhi; kx++) r = row[kx * dx] > r ? row[kx * dx] : r;
                }
            } else {
                float sum = 0.0f;
                for (int64_t ky = ylo; ky < yhi; ky++) {
                    const float *row = x + (y0 + ky * dy) * W + x0;
                    for (int64_t kx = xlo; kx < xhi; kx++) sum += row[kx * dx];
                }
                int64_t div = j->count_pad ? phy * phx : (yhi - ylo) * (xhi - xlo);
                r = div > 0 ? sum / (float)div : 0.0f;
            }
            y[oy * OW + ox] = r;
        }
    }
}

static void nn_nn__pool_planes(void *arg, size_t begin, size_t end) {
    const nn_nn__pool_job *j = (const nn_nn__pool_job *)arg;
    int nd = j->g->nd;
    if (nd <= 2 && !j->idx && j->mode != NN_NN__LP) {
        for (size_t p = begin; p < end; p++) nn_nn__pool2d_plane(j, j->x + p * j->in_size, j->y + p * j->out_size);
        return;
    }
    for (size_t p = begin; p < end; p++) {
        int64_t o[NN_NN__MAX_SPATIAL];
        for (int i = 0; i < nd; i++) o[i] = 0;
        for (size_t q = 0; q < j->out_size; q++) {
            nn_nn__pool_one(j, j->x + p * j->in_size, o, p, j->y + p * j->out_size + q,
                            j->idx ? j->idx + p * j->out_size + q : NULL);
            for (int i = nd - 1; i >= 0; i--) {
                if (++o[i] < j->g->out[i]) break;
                o[i] = 0;
            }
        }
    }
}

static int nn_nn__pool_mode(const nn_op_ctx *c) {
    const char *op = c->node->op_type;
    return strstr(op, "Max") ? NN_NN__MAX : strstr(op, "Average") ? NN_NN__AVG : NN_NN__LP;
}

/* LpPool's p: an int since opset 2, a float in opset 1. */
static float nn_nn__lp_p(const nn_op_ctx *c) {
    const nn_attr *a = nn_node_attr(c->node, "p");
    if (!a) return 2.0f;
    return a->type == NN_ATTR_FLOAT ? a->f : (float)a->i;
}

static nn_status nn_nn__pool_setup(nn_op_ctx *c, const nn_value *in, nn_nn__geom *g, nn_shape *out) {
    const nn_shape *x = &in[0].shape;
    int64_t kernel[NN_MAX_RANK], xin[NN_MAX_RANK];
    int mode = nn_nn__pool_mode(c);
    nn_dtype t = in[0].dtype;
    if (t != NN_DTYPE_UNDEFINED && !nn_nn__is_f32ish(t) &&
        !(mode == NN_NN__MAX && (t == NN_DTYPE_INT8 || t == NN_DTYPE_UINT8)))
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "X of type %s is not supported", nn_dtype_name(t));
    if (mode == NN_NN__LP && !(nn_nn__lp_p(c) > 0.0f)) return nn_op_error(c, NN_ERR_INVALID, "p must be positive");
    out->rank = x->rank;
    if (x->rank < 0) return NN_OK;
    if (x->rank < 3) return nn_op_error(c, NN_ERR_SHAPE, "X must be (N, C, D1, ...), got rank %d", x->rank);
    int nd = x->rank - 2;
    int cnt = nn_nn__attr_ints(c->node, "kernel_shape", kernel, nd);
    if (cnt != nd) return nn_op_error(c, NN_ERR_INVALID, "kernel_shape needs %d values", nd);
    for (int i = 0; i < nd; i++) {
        if (kernel[i] < 1) return nn_op_error(c, NN_ERR_INVALID, "kernel_shape values must be >= 1");
        xin[i] = x->dims[2 + i];
    }
    nn_status st = nn_nn__geom_init(c, NN_NN__POOL, nd, xin, kernel, g);
    if (st) return st;
    out->dims[0] = x->dims[0];
    out->dims[1] = x->dims[1];
    for (int i = 0; i < nd; i++) out->dims[2 + i] = g->out[i];
    return NN_OK;
}

static nn_status nn_nn__infer_pool(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in;
    nn_nn__geom g;
    if (nn_node_attr_int(c->node, "storage_order", 0) & ~(int64_t)1)
        return nn_op_error(c, NN_ERR_INVALID, "storage_order must be 0 or 1");
    out[0].dtype = in[0].dtype;
    nn_status st = nn_nn__pool_setup(c, in, &g, &out[0].shape);
    if (n_out > 1) { out[1].dtype = NN_DTYPE_INT64; out[1].shape = out[0].shape; }
    return st;
}

static nn_status nn_nn__run_pool(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in;
    nn_nn__geom g;
    nn_shape os;
    nn_nn__pool_job j;
    nn_status st = nn_nn__pool_setup(c, in, &g, &os);
    if (st) return st;
    if (nn_value_count(&out[0]) == 0) return NN_OK;
    memset(&j, 0, sizeof j);
    j.g = &g;
    j.mode = nn_nn__pool_mode(c);
    j.count_pad = nn_node_attr_int(c->node, "count_include_pad", 0) != 0;
    j.col_major = nn_node_attr_int(c->node, "storage_order", 0) != 0;
    j.p = nn_nn__lp_p(c);
    j.x = nn_nn__f32_view(c, &in[0]);
    j.y = j.x ? nn_nn__f32_out(c, &out[0]) : NULL;
    if (!j.y) return c->diag->status;
    j.idx = nn_nn__has_output(c, n_out, 1) ? (int64_t *)out[1].data : NULL;
    j.in_size = nn_nn__prod(g.in, g.nd);
    j.out_size = nn_nn__prod(g.out, g.nd);
    size_t planes = (size_t)in[0].shape.dims[0] * (size_t)in[0].shape.dims[1];
    nn_op_parallel(c, planes, 1, nn_nn__pool_planes, &j);
    nn_nn__f32_commit(&out[0], j.y);
    return NN_OK;
}

/* GlobalAveragePool, GlobalMaxPool, GlobalLpPool: one value per (N, C). */
static nn_status nn_nn__infer_gpool(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    nn_status st = nn_nn__check_float(c, in[0].dtype, 0, "X");
    if (st) return st;
    if (nn_nn__pool_mode(c) == NN_NN__LP && !(nn_nn__lp_p(c) > 0.0f)) return nn_op_error(c, NN_ERR_INVALID, "p must be positive");
    out[0].dtype = in[0].dtype;
    out[0].shape = in[0].shape;
    if (in[0].shape.rank >= 0 && in[0].shape.rank < 2) return nn_op_error(c, NN_ERR_SHAPE, "X must be (N, C, ...)");
    for (int32_t i = 2; i < in[0].shape.rank; i++) out[0].shape.dims[i] = 1;
    return NN_OK;
}

static nn_status nn_nn__run_gpool(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const float *x = nn_nn__f32_view(c, &in[0]);
    float *y = x ? nn_nn__f32_out(c, &out[0]) : NULL;
    if (!y) return c->diag->status;
    size_t planes = nn_value_count(&out[0]), size = planes ? nn_value_count(&in[0]) / planes : 0;
    int mode = nn_nn__pool_mode(c);
    float p = nn_nn__lp_p(c);
    for (size_t q = 0; q < planes; q++) {
        const float *xp = x + q * size;
        if (mode == NN_NN__MAX) {
            float m = size ? xp[0] : -INFINITY;
            for (size_t i = 1; i < size; i++) m = xp[i] > m ? xp[i] : m;
            y[q] = m;
        } else if (mode == NN_NN__AVG) {
            double s = 0;
            for (size_t i = 0; i < size; i++) s += xp[i];
            y[q] = size ? (float)(s / (double)size) : 0.0f;
        } else {
            double s = 0;
            for (size_t i = 0; i < size; i++) s += nn_nn__lp_term(xp[i], p);
            y[q] = (float)pow(s, 1.0 / p);
        }
    }
    nn_nn__f32_commit(&out[0], y);
    return NN_OK;
}

/* ---- nn: normalization, LRN, Dropout ------------------------------------------------------------ */

/* BatchNormalization in inference mode: Y = (X - mean) / sqrt(var + eps) *
   scale + B, folded into Y = X * a + b per channel.  Before opset 9,
   spatial = 0 gives one statistic per (channel, position).  Batch
   statistics (training_mode = 1, or the running-stat outputs) are refused;
   is_test of opsets 1-6 is ignored, as inference is the only mode run. */
static nn_status nn_nn__bn_setup(nn_op_ctx *c, const nn_value *in, uint32_t n_in, uint32_t n_out, size_t *per) {
    nn_status st;
    if (nn_node_attr_int(c->node, "training_mode", 0) != 0)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "training_mode=1 (batch statistics) is not supported");
    for (uint32_t o = 1; o < n_out; o++)
        if (nn_nn__has_output(c, n_out, o))
            return nn_op_error(c, NN_ERR_UNSUPPORTED, "training outputs (running or saved statistics) are not supported");
    if ((st = nn_nn__check_float(c, in[0].dtype, 1, "X"))) return st;
    const nn_shape *x = &in[0].shape;
    int spatial = c->opset < 9 ? nn_node_attr_int(c->node, "spatial", 1) != 0 : 1;
    *per = 0;
    if (x->rank < 0) return NN_OK;
    if (x->rank < 2) return nn_op_error(c, NN_ERR_SHAPE, "X must be (N, C, ...)");
    int ok = 1;
    size_t want = 1;
    for (int32_t i = 1; i < (spatial ? 2 : x->rank); i++) {
        if (x->dims[i] < 0) ok = 0;
        else want *= (size_t)x->dims[i];
    }
    for (uint32_t i = 1; i < 5 && i < n_in; i++) {
        if ((st = nn_nn__check_float(c, in[i].dtype, 1, "scale, B, mean and var"))) return st;
        int known;
        size_t cnt = nn_shape_count(&in[i].shape, &known);
        if (ok && known && cnt != want)
            return nn_op_error(c, NN_ERR_SHAPE, "input %u has %zu values, X needs %zu", i, cnt, want);
    }
    *per = ok ? want : 0;
    return NN_OK;
}

static nn_status nn_nn__infer_bn(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    size_t per;
    out[0].dtype = in[0].dtype;
    out[0].shape = in[0].shape;
    return nn_nn__bn_setup(c, in, n_in, n_out, &per);
}

static nn_status nn_nn__run_bn(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    size_t per;
    nn_status st = nn_nn__bn_setup(c, in, n_in, n_out, &per);
    if (st) return st;
    double eps = nn_node_attr_float(c->node, "epsilon", 1e-5f);
    size_t total = nn_value_count(&in[0]), N = (size_t)in[0].shape.dims[0];
    size_t inner = N && per ? total / N / per : 0; /* elements sharing one statistic, per image */
    float *ab = nn_nn__scratch_f32(c, 2 * per);
    if (!ab) return c->diag->status;
    for (size_t i = 0; i < per; i++) {
        double a = nn_op__load(in[1].data, in[1].dtype, i) / sqrt(nn_op__load(in[4].data, in[4].dtype, i) + eps);
        ab[2 * i] = (float)a;
        ab[2 * i + 1] = (float)(nn_op__load(in[2].data, in[2].dtype, i) - nn_op__load(in[3].data, in[3].dtype, i) * a);
    }
    if (in[0].dtype == NN_DTYPE_FLOAT) {
        const float *x = (const float *)in[0].data;
        float *y = (float *)out[0].data;
        for (size_t q = 0; q < N * per; q++) {
            float a = ab[2 * (q % per)], b = ab[2 * (q % per) + 1];
            const float *xp = x + q * inner;
            float *yp = y + q * inner;
            for (size_t i = 0; i < inner; i++) yp[i] = xp[i] * a + b;
        }
        return NN_OK;
    }
    for (size_t i = 0; i < total; i++) {
        size_t ch = i / inner % per;
        double v = nn_op__load(in[0].data, in[0].dtype, i);
        if (in[0].dtype == NN_DTYPE_DOUBLE) { /* keep double precision for double data */
            double a = nn_op__load(in[1].data, in[1].dtype, ch) / sqrt(nn_op__load(in[4].data, in[4].dtype, ch) + eps);
            v = (v - nn_op__load(in[3].data, in[3].dtype, ch)) * a + nn_op__load(in[2].data, in[2].dtype, ch);
        } else {
            v = v * ab[2 * ch] + ab[2 * ch + 1];
        }
        nn_op__store(out[0].data, out[0].dtype, i, v);
    }
    return NN_OK;
}

/* InstanceNormalization: per (n, c), normalize over the spatial dims with
   the plane's own mean and (biased) variance, then scale and shift. */
static nn_status nn_nn__infer_instnorm(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    nn_status st;
    for (int i = 0; i < 3; i++)
        if ((st = nn_nn__check_float(c, in[i].dtype, 1, "input"))) return st;
    const nn_shape *x = &in[0].shape;
    if (x->rank >= 0 && x->rank < 3) return nn_op_error(c, NN_ERR_SHAPE, "input must be (N, C, D1, ...)");
    for (int i = 1; i < 3; i++) {
        const nn_shape *s = &in[i].shape;
        if (s->rank >= 0 && (s->rank != 1 || (x->rank >= 0 && x->dims[1] >= 0 && s->dims[0] >= 0 && s->dims[0] != x->dims[1])))
            return nn_op_error(c, NN_ERR_SHAPE, "scale and B must be vectors of C values");
    }
    out[0].dtype = in[0].dtype;
    out[0].shape = in[0].shape;
    return NN_OK;
}

static nn_status nn_nn__run_instnorm(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    double eps = nn_node_attr_float(c->node, "epsilon", 1e-5f);
    size_t C = (size_t)in[0].shape.dims[1], planes = (size_t)in[0].shape.dims[0] * C;
    size_t size = planes ? nn_value_count(&in[0]) / planes : 0;
    int f32 = in[0].dtype == NN_DTYPE_FLOAT;
    const float *x = (const float *)in[0].data;
    float *y = (float *)out[0].data;
    for (size_t q = 0; q < planes; q++) {
        double sum = 0, sq = 0, mean, var;
        size_t o = q * size;
        for (size_t i = 0; i < size; i++) sum += f32 ? x[o + i] : nn_op__load(in[0].data, in[0].dtype, o + i);
        mean = size ? sum / (double)size : 0;
        for (size_t i = 0; i < size; i++) {
            double d = (f32 ? x[o + i] : nn_op__load(in[0].data, in[0].dtype, o + i)) - mean;
            sq += d * d;
        }
        var = size ? sq / (double)size : 0;
        double a = nn_op__load(in[1].data, in[1].dtype, q % C) / sqrt(var + eps);
        double b = nn_op__load(in[2].data, in[2].dtype, q % C) - mean * a;
        if (f32) {
            float af = (float)a, bf = (float)b;
            for (size_t i = 0; i < size; i++) y[o + i] = x[o + i] * af + bf;
        } else {
            for (size_t i = 0; i < size; i++)
                nn_op__store(out[0].data, out[0].dtype, o + i, nn_op__load(in[0].data, in[0].dtype, o + i) * a + b);
        }
    }
    return NN_OK;
}

/* LRN (AlexNet's local response normalization across channels):
   Y = X / (bias + alpha / size * sum of X^2 over channels
            [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta. */
static nn_status nn_nn__infer_lrn(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    nn_status st = nn_nn__check_float(c, in[0].dtype, 1, "X");
    if (st) return st;
    const nn_attr *sz = nn_node_attr(c->node, "size");
    if (!sz || sz->type != NN_ATTR_INT || sz->i < 1) return nn_op_error(c, NN_ERR_INVALID, "size must be a positive int");
    if (in[0].shape.rank >= 0 && in[0].shape.rank < 2) return nn_op_error(c, NN_ERR_SHAPE, "X must be (N, C, ...)");
    out[0].dtype = in[0].dtype;
    out[0].shape = in[0].shape;
    return NN_OK;
}

static nn_status nn_nn__run_lrn(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_in; (void)n_out;
    const nn_node *n = c->node;
    double alpha = nn_node_attr_float(n, "alpha", 1e-4f), beta = nn_node_attr_float(n, "beta", 0.75f);
    double bias = nn_node_attr_float(n, "bias", 1.0f);
    int64_t size = nn_node_attr_int(n, "size", 1), lo = (size - 1) / 2, hi = size - 1 - lo;
    int64_t N = in[0].shape.dims[0], C = in[0].shape.dims[1];
    size_t inner = N > 0 && C > 0 ? nn_value_count(&in[0]) / (size_t)(N * C) : 0;
    for (int64_t b = 0; b < N; b++)
        for (int64_t ch = 0; ch < C; ch++)
            for (size_t i = 0; i < inner; i++) {
                double sq = 0;
                int64_t c0 = ch - lo < 0 ? 0 : ch - lo, c1 = ch + hi >= C ? C - 1 : ch + hi;
                for (int64_t k = c0; k <= c1; k++) {
                    double v = nn_op__load(in[0].data, in[0].dtype, (size_t)(b * C + k) * inner + i);
                    sq += v * v;
                }
                size_t at = (size_t)(b * C + ch) * inner + i;
                double v = nn_op__load(in[0].data, in[0].dtype, at);
                nn_op__store(out[0].data, out[0].dtype, at, v / pow(bias + alpha / (double)size * sq, beta));
            }
    return NN_OK;
}

/* Dropout at inference is the identity with an all-true mask.  Training
   (training_mode input true, opset 12+) with a non-zero ratio draws random
   numbers and is refused; ratio 0 is the identity even then.  is_test of
   opsets 1-6 is ignored like every other runtime does: only inference is
   run.  Before opset 10 the mask has the data's type (ones). */
static nn_status nn_nn__dropout_check(nn_op_ctx *c, const nn_value *in, uint32_t n_in) {
    float ratio = nn_node_attr_float(c->node, "ratio", 0.5f);
    int training = 0, ratio_known = 1;
    if (c->opset >= 12) {
        ratio = 0.5f;
        if (n_in >= 2 && in[1].dtype != NN_DTYPE_UNDEFINED) {
            ratio_known = in[1].data != NULL;
            if (ratio_known) ratio = (float)nn_op__load(in[1].data, in[1].dtype, 0);
        }
        if (n_in >= 3 && in[2].dtype != NN_DTYPE_UNDEFINED) {
            /* A training_mode fed at run time could switch on random
               masks after prepare; refuse it now, while the refusal is a
               clean prepare-time status (fold it to a constant false to
               run the model). */
            if (!in[2].data)
                return c->exec ? NN_OK
                               : nn_op_error(c, NN_ERR_UNSUPPORTED,
                                             "training_mode is not a constant; only inference (a constant false) is supported");
            training = nn_op__load(in[2].data, in[2].dtype, 0) != 0;
        }
    }
    if (training && !ratio_known && !c->exec)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "training_mode=true with a ratio known only at run time; not supported");
    if (training && ratio_known && ratio != 0.0f)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "training_mode=true with ratio %g draws random masks; not supported", ratio);
    return NN_OK;
}

static nn_status nn_nn__infer_dropout(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    out[0].dtype = in[0].dtype;
    out[0].shape = in[0].shape;
    if (n_out > 1) {
        out[1].dtype = c->opset >= 10 ? NN_DTYPE_BOOL : in[0].dtype;
        out[1].shape = in[0].shape;
    }
    return nn_nn__dropout_check(c, in, n_in);
}

static nn_status nn_nn__run_dropout(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_status st = nn_nn__dropout_check(c, in, n_in);
    if (st) return st;
    if (in[0].bytes) memcpy(out[0].data, in[0].data, in[0].bytes);
    if (nn_nn__has_output(c, n_out, 1) && out[1].data) {
        size_t cnt = nn_value_count(&out[1]);
        for (size_t i = 0; i < cnt; i++) nn_op__store(out[1].data, out[1].dtype, i, 1.0);
    }
    return NN_OK;
}

/* ---- nn: integer and quantized ops ----------------------------------------------------------

   MatMulInteger / ConvInteger give int32 sums of (x - x_zero_point) *
   (w - w_zero_point), exact.  QLinearMatMul / QLinearConv requantize those
   sums as the ONNX reference does: y = saturate(rint(acc * s) + y_zp) with
   s = a_scale * b_scale / y_scale evaluated in the scales' type (float16
   scales round after each operation, like numpy) and the product acc * s
   in double, round half to even. */

static int nn_nn__is_q8(nn_dtype t) { return t == NN_DTYPE_UINT8 || t == NN_DTYPE_INT8; }

/* int32 copy of an 8-bit tensor minus its zero point.  zp is absent, a
   scalar, or a vector of axis_len values along the axis whose elements are
   `inner` apart. */
static int32_t *nn_nn__q_i32(nn_op_ctx *c, const nn_value *v, const nn_value *zp, size_t inner, size_t axis_len) {
    size_t n = nn_value_count(v), bytes;
    if (!nn_size_mul(n ? n : 1, sizeof(int32_t), &bytes)) { nn_op_error(c, NN_ERR_LIMIT, "tensor too large"); return NULL; }
    int32_t *p = (int32_t *)nn_op_scratch(c, bytes);
    if (!p) return NULL;
    size_t zc = zp && zp->dtype != NN_DTYPE_UNDEFINED ? nn_value_count(zp) : 0;
    if (zc > 1 && zc != axis_len) { nn_op_error(c, NN_ERR_SHAPE, "zero point has %zu values, expected 1 or %zu", zc, axis_len); return NULL; }
    for (size_t i = 0; i < n; i++) {
        int32_t z = zc == 0 ? 0 : (int32_t)nn_op__load(zp->data, zp->dtype, zc == 1 ? 0 : i / inner % axis_len);
        p[i] = (int32_t)nn_op__load(v->data, v->dtype, i) - z;
    }
    return p;
}

/* y = saturate(rint(acc * s) + zp) into an 8-bit tensor. */
static void nn_nn__requant(void *y, nn_dtype t, size_t i, int32_t acc, double s, int32_t zp) {
    double v = nearbyint((double)acc * s) + zp;
    double lo = t == NN_DTYPE_UINT8 ? 0 : -128, hi = t == NN_DTYPE_UINT8 ? 255 : 127;
    nn_op__store(y, t, i, v < lo ? lo : v > hi ? hi : v);
}

/* a_scale * b_scale / y_scale in the scales' own precision. */
static double nn_nn__q_scale(nn_dtype t, double as, double bs, double ys) {
    if (t == NN_DTYPE_FLOAT16) {
        float p = nn_f16_to_f32(nn_f32_to_f16((float)as * (float)bs));
        return nn_f16_to_f32(nn_f32_to_f16(p / (float)ys));
    }
    if (t == NN_DTYPE_BFLOAT16) {
        float p = nn_bf16_to_f32(nn_f32_to_bf16((float)as * (float)bs));
        return nn_bf16_to_f32(nn_f32_to_bf16(p / (float)ys));
    }
    if (t == NN_DTYPE_DOUBLE) return as * bs / ys;
    return (double)((float)((float)as * (float)bs) / (float)ys);
}

static nn_status nn_nn__q_check(nn_op_ctx *c, const nn_value *v, const char *what) {
    if (v->dtype != NN_DTYPE_UNDEFINED && !nn_nn__is_q8(v->dtype))
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s of type %s is not supported", what, nn_dtype_name(v->dtype));
    return NN_OK;
}

/* MatMulInteger (A, B, a_zero_point, b_zero_point) and QLinearMatMul
   (a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp). */
static nn_status nn_nn__infer_qmatmul(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    int q = n_in == 8;
    const nn_value *a = &in[0], *b = &in[q ? 3 : 1];
    nn_status st;
    if ((st = nn_nn__q_check(c, a, "A")) || (st = nn_nn__q_check(c, b, "B"))) return st;
    if (q && (st = nn_nn__q_check(c, &in[7], "y_zero_point"))) return st;
    if (q && in[1].dtype && !nn_dtype_is_float(in[1].dtype)) return nn_op_error(c, NN_ERR_INVALID, "scales must be float");
    out[0].dtype = q ? in[7].dtype : NN_DTYPE_INT32;
    return nn_nn__matmul_shape(c, &a->shape, &b->shape, &out[0].shape);
}

static nn_status nn_nn__run_qmatmul(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    int q = n_in == 8;
    const nn_value *a = &in[0], *b = &in[q ? 3 : 1];
    const nn_value *azp = q ? &in[2] : n_in > 2 ? &in[2] : NULL, *bzp = q ? &in[5] : n_in > 3 ? &in[3] : NULL;
    const nn_shape *as = &a->shape, *bs = &b->shape;
    size_t K = (size_t)as->dims[as->rank - 1];
    size_t M = as->rank >= 2 ? (size_t)as->dims[as->rank - 2] : 1, N = bs->rank >= 2 ? (size_t)bs->dims[bs->rank - 1] : 1;
    /* a_zp (and a_scale) per row of A, b_zp (and b_scale) per column of B */
    int32_t *ai = nn_nn__q_i32(c, a, azp, K, M), *bi = ai ? nn_nn__q_i32(c, b, bzp, 1, N) : NULL;
    if (!bi) return c->diag->status;
    nn_shape ob, ab, bb;
    int64_t sa[NN_MAX_RANK], sb[NN_MAX_RANK];
    ab.rank = as->rank > 2 ? as->rank - 2 : 0;
    bb.rank = bs->rank > 2 ? bs->rank - 2 : 0;
    for (int32_t i = 0; i < ab.rank; i++) ab.dims[i] = as->dims[i];
    for (int32_t i = 0; i < bb.rank; i++) bb.dims[i] = bs->dims[i];
    nn_op__broadcast(&ab, &bb, &ob);
    nn_op__bcast_strides(&ab, &ob, sa);
    nn_op__bcast_strides(&bb, &ob, sb);
    size_t batches = ob.rank ? nn_shape_count(&ob, NULL) : 1;
    size_t nsa = q ? nn_value_count(&in[1]) : 0, nsb = q ? nn_value_count(&in[4]) : 0;
    if (q && ((nsa != 1 && nsa != M) || (nsb != 1 && nsb != N) || nn_value_count(&in[6]) != 1))
        return nn_op_error(c, NN_ERR_SHAPE, "scales must be scalars or per row of A / per column of B");
    int32_t *acc = (int32_t *)nn_op_scratch(c, (M * N + 1) * sizeof(int32_t));
    if (!acc) return c->diag->status;
    for (size_t bt = 0; bt < batches; bt++) {
        size_t ao, bo;
        nn_nn__batch_offsets(&ob, sa, sb, bt, &ao, &bo);
        nn_nn__mm_i32(M, N, K, ai + ao * M * K, K, 1, bi + bo * K * N, N, 1, acc);
        for (size_t i = 0; i < M * N; i++) {
            size_t at = bt * M * N + i;
            if (!q) { ((int32_t *)out[0].data)[at] = acc[i]; continue; }
            size_t m = i / N, n = i % N;
            double s = nn_nn__q_scale(in[1].dtype, nn_op__load(in[1].data, in[1].dtype, nsa == 1 ? 0 : m),
                                      nn_op__load(in[4].data, in[4].dtype, nsb == 1 ? 0 : n),
                                      nn_op__load(in[6].data, in[6].dtype, 0));
            nn_nn__requant(out[0].data, out[0].dtype, at, acc[i], s, (int32_t)nn_op__load(in[7].data, in[7].dtype, 0));
        }
    }
    return NN_OK;
}

/* Direct int32 convolution of zero-point-free x (N, C, in...) and w (M, C/g, k...). */
static void nn_nn__conv_i32(const nn_nn__geom *g, size_t N, size_t C, size_t M, size_t group, const int32_t *x,
                            const int32_t *w, int32_t *y) {
    int nd = g->nd;
    size_t in_size = nn_nn__prod(g->in, nd), out_size = nn_nn__prod(g->out, nd), kprod = nn_nn__prod(g->k, nd);
    size_t Cg = C / group, Mg = M / group;
    for (size_t n = 0; n < N; n++)
        for (size_t m = 0; m < M; m++)
            for (size_t p = 0; p < out_size; p++) {
                int64_t o[NN_NN__MAX_SPATIAL];
                size_t r = p;
                for (int i = nd - 1; i >= 0; i--) { o[i] = (int64_t)(r % (size_t)g->out[i]); r /= (size_t)g->out[i]; }
                int32_t acc = 0;
                for (size_t ci = 0; ci < Cg; ci++)
                    for (size_t kk = 0; kk < kprod; kk++) {
                        size_t rk = kk, off = 0;
                        int inside = 1;
                        int64_t kc[NN_NN__MAX_SPATIAL];
                        for (int i = nd - 1; i >= 0; i--) { kc[i] = (int64_t)(rk % (size_t)g->k[i]); rk /= (size_t)g->k[i]; }
                        for (int i = 0; i < nd && inside; i++) {
                            int64_t xi = o[i] * g->s[i] - g->pb[i] + kc[i] * g->d[i];
                            inside = xi >= 0 && xi < g->in[i];
                            off = off * (size_t)g->in[i] + (size_t)xi;
                        }
                        if (inside)
                            acc += x[(n * C + (m / Mg) * Cg + ci) * in_size + off] * w[(m * Cg + ci) * kprod + kk];
                    }
                y[(n * M + m) * out_size + p] = acc;
            }
}

/* ConvInteger (x, w, x_zero_point, w_zero_point) and QLinearConv (x,
   x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B). */
static nn_status nn_nn__qconv_setup(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_nn__geom *g, int64_t *group,
                                    nn_shape *os) {
    int q = n_in >= 8;
    nn_value xw[2];
    nn_status st;
    xw[0] = in[0];
    xw[1] = in[q ? 3 : 1];
    if ((st = nn_nn__q_check(c, &xw[0], "x")) || (st = nn_nn__q_check(c, &xw[1], "w"))) return st;
    if (q && (st = nn_nn__q_check(c, &in[7], "y_zero_point"))) return st;
    if (q && n_in > 8 && in[8].dtype && in[8].dtype != NN_DTYPE_INT32) return nn_op_error(c, NN_ERR_INVALID, "B must be int32");
    return nn_nn__conv_setup(c, xw, 2, NN_NN__CONVQ, g, group, os);
}

static nn_status nn_nn__infer_qconv(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    nn_nn__geom g;
    int64_t group;
    out[0].dtype = n_in >= 8 ? in[7].dtype : NN_DTYPE_INT32;
    return nn_nn__qconv_setup(c, in, n_in, &g, &group, &out[0].shape);
}

static nn_status nn_nn__run_qconv(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    nn_nn__geom g;
    nn_shape os;
    int64_t group;
    int q = n_in >= 8;
    nn_status st = nn_nn__qconv_setup(c, in, n_in, &g, &group, &os);
    if (st) return st;
    const nn_value *x = &in[0], *w = &in[q ? 3 : 1];
    const nn_value *xzp = q ? &in[2] : n_in > 2 ? &in[2] : NULL, *wzp = q ? &in[5] : n_in > 3 ? &in[3] : NULL;
    size_t N = (size_t)x->shape.dims[0], C = (size_t)x->shape.dims[1], M = (size_t)os.dims[1];
    size_t out_size = nn_nn__prod(g.out, g.nd), wper = M ? nn_value_count(w) / M : 0;
    if (xzp && xzp->dtype && nn_value_count(xzp) != 1) return nn_op_error(c, NN_ERR_SHAPE, "x_zero_point must be a scalar");
    int32_t *xi = nn_nn__q_i32(c, x, xzp, 1, 1), *wi = xi ? nn_nn__q_i32(c, w, wzp, wper, M) : NULL;
    int32_t *acc = wi ? (int32_t *)nn_op_scratch(c, (N * M * out_size + 1) * sizeof(int32_t)) : NULL;
    if (!acc) return c->diag->status;
    nn_nn__conv_i32(&g, N, C, M, (size_t)group, xi, wi, acc);
    if (!q) {
        memcpy(out[0].data, acc, N * M * out_size * sizeof(int32_t));
        return NN_OK;
    }
    size_t nws = nn_value_count(&in[4]);
    const nn_value *bias = n_in > 8 && in[8].dtype != NN_DTYPE_UNDEFINED ? &in[8] : NULL;
    if (nn_value_count(&in[1]) != 1 || nn_value_count(&in[6]) != 1 || (nws != 1 && nws != M) ||
        (bias && nn_value_count(bias) != M))
        return nn_op_error(c, NN_ERR_SHAPE, "x_scale and y_scale must be scalars, w_scale and B per output channel");
    for (size_t i = 0; i < N * M * out_size; i++) {
        size_t m = i / out_size % M;
        double s = nn_nn__q_scale(in[1].dtype, nn_op__load(in[1].data, in[1].dtype, 0),
                                  nn_op__load(in[4].data, in[4].dtype, nws == 1 ? 0 : m), nn_op__load(in[6].data, in[6].dtype, 0));
        int32_t v = acc[i] + (bias ? ((const int32_t *)bias->data)[m] : 0);
        nn_nn__requant(out[0].data, out[0].dtype, i, v, s, (int32_t)nn_op__load(in[7].data, in[7].dtype, 0));
    }
    return NN_OK;
}

/* Attributes shared by the pooling rows of the operator table. */
#define NN_NN__POOL_ATTRS "auto_pad,ceil_mode,dilations,kernel_shape,pads,strides"

/* ---- kernels: reductions and normalizations --------------------------------------------

   ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare, ArgMax/ArgMin,
   Softmax/LogSoftmax/Hardmax, CumSum, LayerNormalization, RMSNormalization,
   GroupNormalization, MeanVarianceNormalization, LpNormalization, Einsum,
   NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss and Det.

   Most kernels see their input as (outer, n, inner): the dims before the
   axis (or axis run), the dims being reduced or normalized, and the dims
   after.  float32 has fast paths for that view (contiguous rows when
   inner == 1, blocks of 256 columns otherwise) spread over the exec's
   threads; every other dtype goes through one generic path that loads
   elements as double (floats) or exactly as 64-bit integers (integers).

   Precision: float32 rows are summed in 16 double lanes (the terms are
   computed in float, so loops stay vectorized); other float sums run in
   double.  Integer reductions are exact, wrapping like the
   integer type would. */

#define NN_RD__LANES 16    /* independent accumulators: the vectorizer maps them to registers */
#define NN_RD__COLS 256    /* columns handled together when the reduced axis is not innermost */

/* ---- element access ---- */

/* Integer types (and bool) that the exact integer paths handle. */
static int nn_rd__is_int(nn_dtype t) {
    return t == NN_DTYPE_BOOL || ((nn_dtype_is_signed_int(t) || nn_dtype_is_unsigned_int(t)) &&
                                  nn_dtype_bits(t) >= 8);
}

/* Exact load of an integer element; uint64 keeps its bit pattern. */
static uint64_t nn_rd__load_int(const void *p, nn_dtype t, size_t i) {
    switch (t) {
    case NN_DTYPE_INT8: return (uint64_t)(int64_t)((const int8_t *)p)[i];
    case NN_DTYPE_UINT8: case NN_DTYPE_BOOL: return ((const uint8_t *)p)[i];
    case NN_DTYPE_INT16: return (uint64_t)(int64_t)((const int16_t *)p)[i];
    case NN_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    case NN_DTYPE_INT32: return (uint64_t)(int64_t)((const int32_t *)p)[i];
    case NN_DTYPE_UINT32: return ((const uint32_t *)p)[i];
    case NN_DTYPE_INT64: return (uint64_t)((const int64_t *)p)[i];
    case NN_DTYPE_UINT64: return ((const uint64_t *)p)[i];
    default: return 0;
    }
}

/* Stores the low bits of v: the two's-complement wrap an integer type has. */
static void nn_rd__store_int(void *p, nn_dtype t, size_t i, uint64_t v) {
    if (t == NN_DTYPE_BOOL) { ((uint8_t *)p)[i] = v != 0; return; }
    switch (nn_dtype_size(t)) {
    case 1: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case 2: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case 4: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case 8: ((uint64_t *)p)[i] = v; break;
    default: break;
    }
}

/* The bits of u read as a signed 64-bit value, without implementation-defined casts. */
static int64_t nn_rd__signed(uint64_t u) {
    int64_t s;
    memcpy(&s, &u, sizeof s);
    return s;
}

/* Smallest and largest values of an integer type. */
static void nn_rd__int_range(nn_dtype t, int64_t *lo, uint64_t *hi) {
    int bits = t == NN_DTYPE_BOOL ? 1 : nn_dtype_bits(t);
    if (t == NN_DTYPE_BOOL || nn_dtype_is_unsigned_int(t)) {
        *lo = 0;
        *hi = bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;
    } else {
        *lo = bits == 64 ? INT64_MIN : -((int64_t)1 << (bits - 1));
        *hi = bits == 64 ? (uint64_t)INT64_MAX : ((uint64_t)1 << (bits - 1)) - 1;
    }
}

/* Element i as double: float types through nn_op__load, integers exactly
   up to 2^53. */
static double nn_rd__load(const void *p, nn_dtype t, size_t i) {
    if (t == NN_DTYPE_FLOAT) return ((const float *)p)[i];
    if (t == NN_DTYPE_DOUBLE) return ((const double *)p)[i];
    if (nn_rd__is_int(t) && nn_dtype_bits(t) == 64) {
        uint64_t u = nn_rd__load_int(p, t, i);
        return t == NN_DTYPE_UINT64 ? (double)u : (double)nn_rd__signed(u);
    }
    return nn_op__load(p, t, i);
}

/* Stores a real result; for integer types NaN becomes 0 and values are
   clamped to the type's range (nn_op__store's plain casts are undefined
   out of range, and log/sqrt results can be anything). */
static void nn_rd__store(void *p, nn_dtype t, size_t i, double v) {
    if (t == NN_DTYPE_FLOAT) { ((float *)p)[i] = (float)v; return; }
    if (!nn_rd__is_int(t) || t == NN_DTYPE_BOOL) { nn_op__store(p, t, i, v); return; }
    int64_t lo;
    uint64_t hi;
    nn_rd__int_range(t, &lo, &hi);
    if (v != v) v = 0;
    if (v <= (double)lo) { nn_rd__store_int(p, t, i, (uint64_t)lo); return; }
    if (v >= (double)hi) { nn_rd__store_int(p, t, i, hi); return; }
    nn_rd__store_int(p, t, i, v < 0 ? (uint64_t)(int64_t)v : (uint64_t)v);
}

/* ---- float32 building blocks ---- */

/* y[i] = exp(x[i] - m) for arguments <= 0 (y may be x), written so both
   loops vectorize (libm's expf does not without -ffast-math).
   v = k ln2 + r with |r| <= ln2/2, ln2 split Cody-Waite style into
   0.693359375 (9 bits, so k*hi is exact) and -2.12194440e-4; exp(r) by its
   Taylor series to r^7, whose truncation error 0.35^8/8! < 1e-8 is below
   float epsilon (measured: 1.6 ulp at worst); 2^k is built in the exponent
   field.  k comes from adding 1.5*2^23, which rounds to an integer held in
   the low mantissa bits, and is read back from those bits (so -ffast-math
   cannot fold (t - 1.5*2^23) into an unrounded v*log2(e)); no float->int
   conversion, so NaN stays NaN with no undefined behaviour.  Arguments below -87.3 (2^-126 is the smallest
   normal float) give 0, through a bit mask: a select with a computed arm
   would not be if-converted under the default -ftrapping-math, and the
   clamp is a loop of its own because GCC otherwise specializes the
   clamped (constant) path into a branch. */
static void nn_rd__exp_neg_f32(float *y, const float *x, size_t n, float m) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i] - m;
        y[i] = v < -87.3f ? -87.3f : v;
    }
    for (size_t i = 0; i < n; i++) {
        float v = y[i], t = v * 1.44269504f + 12582912.0f;
        uint32_t tb, sb;
        memcpy(&tb, &t, 4);
        float k = (float)((int32_t)(tb & 0x7FFFFFu) - 0x400000); /* t = 1.5*2^23 + k */
        float r = (v - k * 0.693359375f) + k * 2.12194440e-4f;
        float p = 1.0f / 5040;
        p = p * r + 1.0f / 720;
        p = p * r + 1.0f / 120;
        p = p * r + 1.0f / 24;
        p = p * r + 1.0f / 6;
        p = p * r + 0.5f;
        p = p * r + 1.0f;
        p = p * r + 1.0f;
        float scale;
        sb = ((tb - 0x4B400000u + 127u) << 23) & (0u - (uint32_t)(v > -87.3f));
        memcpy(&scale, &sb, 4);
        y[i] = p * scale;
    }
}

/* GCC unrolls the fixed 16-lane loops below completely and then fails to
   vectorize the straight-line result (vmaxss, vaddsd); kept rolled, the
   loop vectorizer maps the lanes onto vector registers, 3-4x faster. */
#if defined(__GNUC__) && !defined(__clang__)
#define NN_RD__ROLLED _Pragma("GCC unroll 1")
#else
#define NN_RD__ROLLED
#endif

/* Defines double name(const float *x, size_t n, float c): the sum of EXPR
   over v = x[i], in NN_RD__LANES double accumulators (the vectorizer keeps
   them in registers; float lanes would lose the low bits of a row that
   sits at an offset, or of log(1 + tiny) in LogSoftmax). */
#define NN_RD__DEFINE_SUM(name, EXPR)                                          \
    static double name(const float *x, size_t n, float c) {                   \
        double acc[NN_RD__LANES] = {0};                                        \
        size_t i = 0;                                                          \
        (void)c;                                                               \
        for (; i + NN_RD__LANES <= n; i += NN_RD__LANES) {                     \
            NN_RD__ROLLED                                                      \
            for (int l = 0; l < NN_RD__LANES; l++) {                           \
                float v = x[i + l];                                            \
                acc[l] += (double)(EXPR);                                      \
            }                                                                  \
        }                                                                      \
        for (; i < n; i++) {                                                   \
            float v = x[i];                                                    \
            acc[0] += (double)(EXPR);                                          \
        }                                                                      \
        for (int w = NN_RD__LANES / 2; w > 0; w /= 2)                          \
            for (int l = 0; l < w; l++) acc[l] += acc[l + w];                  \
        return acc[0];                                                         \
    }

NN_RD__DEFINE_SUM(nn_rd__sum_f32, v)
NN_RD__DEFINE_SUM(nn_rd__asum_f32, fabsf(v))
NN_RD__DEFINE_SUM(nn_rd__dev2_f32, (v - c) * (v - c)) /* sum of squared deviations from c */

/* Sum of exp(x[i] - m) (m the row max), through a float buffer: the exp
   loop vectorizes on its own, not inside the double accumulation. */
static double nn_rd__expsum_f32(const float *x, size_t n, float m) {
    float buf[NN_RD__COLS];
    double s = 0;
    for (size_t i = 0; i < n; i += NN_RD__COLS) {
        size_t w = n - i < NN_RD__COLS ? n - i : NN_RD__COLS;
        nn_rd__exp_neg_f32(buf, x + i, w, m);
        s += nn_rd__sum_f32(buf, w, 0);
    }
    return s;
}

/* Largest (sign 1) or smallest (sign -1) element; -inf/+inf for n == 0. */
static float nn_rd__extreme_f32(const float *x, size_t n, int sign) {
    float acc[NN_RD__LANES];
    float init = sign > 0 ? -INFINITY : INFINITY;
    size_t i = 0;
    for (int l = 0; l < NN_RD__LANES; l++) acc[l] = init;
    if (sign > 0) {
        for (; i + NN_RD__LANES <= n; i += NN_RD__LANES) {
            NN_RD__ROLLED
            for (int l = 0; l < NN_RD__LANES; l++) acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
        }
        for (; i < n; i++) acc[0] = x[i] > acc[0] ? x[i] : acc[0];
        for (int l = 1; l < NN_RD__LANES; l++) acc[0] = acc[l] > acc[0] ? acc[l] : acc[0];
    } else {
        for (; i + NN_RD__LANES <= n; i += NN_RD__LANES) {
            NN_RD__ROLLED
            for (int l = 0; l < NN_RD__LANES; l++) acc[l] = x[i + l] < acc[l] ? x[i + l] : acc[l];
        }
        for (; i < n; i++) acc[0] = x[i] < acc[0] ? x[i] : acc[0];
        for (int l = 1; l < NN_RD__LANES; l++) acc[0] = acc[l] < acc[0] ? acc[l] : acc[0];
    }
    return acc[0];
}

/* ---- shapes ---- */

/* Product of dims [b, e) of a static shape (bounded by the element count,
   which the executor has already checked for overflow). */
static size_t nn_rd__prod(const nn_shape *s, int32_t b, int32_t e) {
    size_t p = 1;
    for (int32_t i = b; i < e; i++) p *= (size_t)s->dims[i];
    return p;
}

/* A static tensor seen as (outer, n, inner) around dims [b, e). */
typedef struct nn_rd__span {
    size_t outer, n, inner;
} nn_rd__span;

static nn_rd__span nn_rd__split(const nn_shape *s, int32_t b, int32_t e) {
    nn_rd__span v;
    v.outer = nn_rd__prod(s, 0, b);
    v.n = nn_rd__prod(s, b, e);
    v.inner = nn_rd__prod(s, e, s->rank);
    return v;
}

/* Walks a tensor in memory order while tracking the offset of each
   element in a reduced output: ostride[d] is the output stride of input
   dim d, 0 where d is reduced. */
typedef struct nn_rd__walk {
    int32_t rank;
    int64_t dims[NN_MAX_RANK], idx[NN_MAX_RANK], ostride[NN_MAX_RANK];
    size_t off;
} nn_rd__walk;

static void nn_rd__walk_init(nn_rd__walk *w, const nn_shape *s, uint32_t mask) {
    int64_t st = 1;
    w->rank = s->rank;
    w->off = 0;
    for (int32_t d = s->rank - 1; d >= 0; d--) {
        w->dims[d] = s->dims[d];
        w->idx[d] = 0;
        w->ostride[d] = (mask >> d) & 1u ? 0 : st;
        if (!((mask >> d) & 1u)) st *= s->dims[d];
    }
}

static void nn_rd__walk_next(nn_rd__walk *w) {
    for (int32_t d = w->rank - 1; d >= 0; d--) {
        w->off += (size_t)w->ostride[d];
        if (++w->idx[d] < w->dims[d]) return;
        w->off -= (size_t)(w->ostride[d] * w->dims[d]);
        w->idx[d] = 0;
    }
}

/* Range chunk size for nn_op_parallel: about 32K elements of work each. */
static size_t nn_rd__chunk(size_t work_per_item) {
    size_t w = work_per_item ? work_per_item : 1;
    return w >= 32768 ? 1 : 32768 / w;
}

/* 1 when the value is present (an omitted optional input has no dtype). */
static int nn_rd__has(const nn_value *in, uint32_t n_in, uint32_t i) {
    return i < n_in && in[i].dtype != NN_DTYPE_UNDEFINED;
}

/* Refuses dtypes outside the float types (and, when ints is set, integers). */
static nn_status nn_rd__check_dtype(nn_op_ctx *c, nn_dtype t, int ints, int bools) {
    if (nn_dtype_is_float(t)) return NN_OK;
    if (ints && nn_rd__is_int(t) && t != NN_DTYPE_BOOL) return NN_OK;
    if (bools && t == NN_DTYPE_BOOL) return NN_OK;
    if (t == NN_DTYPE_UNDEFINED) return NN_OK; /* not known yet */
    return nn_op_error(c, NN_ERR_UNSUPPORTED, "%s inputs are not supported", nn_dtype_name(t));
}

/* ---- Reduce* ---- */

typedef enum nn_rd__kind {
    NN_RD_SUM, NN_RD_MEAN, NN_RD_MAX, NN_RD_MIN, NN_RD_PROD,
    NN_RD_L1, NN_RD_L2, NN_RD_LOGSUM, NN_RD_LOGSUMEXP, NN_RD_SUMSQ
} nn_rd__kind;

/* axes moved from an attribute to an input at opset 13 for ReduceSum and
   at opset 18 for the others (which also gained noop_with_empty_axes). */
typedef struct nn_rd__reduce_info { const char *op; nn_rd__kind kind; int axes_input_since; } nn_rd__reduce_info;
static const nn_rd__reduce_info nn_rd__reduce_infos[] = {
    {"ReduceSum", NN_RD_SUM, 13},        {"ReduceMean", NN_RD_MEAN, 18},
    {"ReduceMax", NN_RD_MAX, 18},        {"ReduceMin", NN_RD_MIN, 18},
    {"ReduceProd", NN_RD_PROD, 18},      {"ReduceL1", NN_RD_L1, 18},
    {"ReduceL2", NN_RD_L2, 18},          {"ReduceLogSum", NN_RD_LOGSUM, 18},
    {"ReduceLogSumExp", NN_RD_LOGSUMEXP, 18}, {"ReduceSumSquare", NN_RD_SUMSQ, 18},
};

static const nn_rd__reduce_info *nn_rd__reduce_info_of(const nn_node *n) {
    for (size_t i = 0; i < sizeof nn_rd__reduce_infos / sizeof nn_rd__reduce_infos[0]; i++)
        if (strcmp(n->op_type, nn_rd__reduce_infos[i].op) == 0) return &nn_rd__reduce_infos[i];
    return &nn_rd__reduce_infos[0];
}

/* The resolved axes of one Reduce node. */
typedef struct nn_rd__axes {
    int keepdims;
    int noop;     /* empty axes with noop_with_empty_axes: output = input */
    int all;      /* reduce every dim */
    int known;    /* 0: the axes input is not known yet (static pass) */
    int count;    /* axes listed (-1: unknown) */
    uint32_t mask;/* reduced dims when known and the rank is known */
} nn_rd__axes;

/* Reads axes from the attribute (before `since`) or the input (from it). */
static nn_status nn_rd__axes_list(nn_op_ctx *c, const nn_value *in, uint32_t n_in, int since,
                                  int64_t *list, int *out_n, int *known) {
    const nn_attr *a = nn_node_attr(c->node, "axes");
    *out_n = 0;
    *known = 1;
    if (c->opset < since) {
        if (nn_rd__has(in, n_in, 1))
            return nn_op_error(c, NN_ERR_INVALID, "axes is an attribute before opset %d, not an input", since);
        if (!a) return NN_OK;
        if (a->type != NN_ATTR_INTS || a->count > NN_MAX_RANK)
            return nn_op_error(c, NN_ERR_INVALID, "axes must be a list of at most %d ints", NN_MAX_RANK);
        for (uint32_t i = 0; i < a->count; i++) list[i] = a->ints[i];
        *out_n = (int)a->count;
        return NN_OK;
    }
    if (a) return nn_op_error(c, NN_ERR_INVALID, "axes is an input from opset %d, not an attribute", since);
    if (!nn_rd__has(in, n_in, 1)) return NN_OK;
    int ok;
    size_t cnt = nn_shape_count(&in[1].shape, &ok);
    if (ok && cnt == 0) return NN_OK;
    if (!in[1].data) { *known = 0; *out_n = ok ? (int)(cnt > 64 ? 64 : cnt) : -1; return NN_OK; }
    *out_n = nn_op__int_list(&in[1], list, NN_MAX_RANK);
    if (*out_n < 0) return nn_op_error(c, NN_ERR_INVALID, "axes must be int32/int64 with at most %d values", NN_MAX_RANK);
    return NN_OK;
}

static nn_status nn_rd__reduce_axes(nn_op_ctx *c, const nn_value *in, uint32_t n_in, int since, nn_rd__axes *ax) {
    int64_t list[NN_MAX_RANK];
    int n, rank = in[0].shape.rank;
    memset(ax, 0, sizeof *ax);
    ax->keepdims = nn_node_attr_int(c->node, "keepdims", 1) != 0;
    nn_status st = nn_rd__axes_list(c, in, n_in, since, list, &n, &ax->known);
    if (st) return st;
    ax->count = n;
    if (!ax->known) return NN_OK;
    if (n == 0) {
        /* Spec (opset 13/18): empty axes reduce everything unless
           noop_with_empty_axes is set, which makes the op an identity. */
        if (nn_node_attr_int(c->node, "noop_with_empty_axes", 0)) ax->noop = 1;
        else ax->all = 1;
        ax->mask = rank > 0 ? (uint32_t)((1u << rank) - 1) : 0;
        return NN_OK;
    }
    if (rank < 0) return NN_OK;
    for (int i = 0; i < n; i++) {
        int32_t d;
        if (!nn_op__axis(list[i], rank, &d))
            return nn_op_error(c, NN_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)list[i], rank);
        if (rank > 0) ax->mask |= 1u << d;
    }
    return NN_OK;
}

static nn_status nn_rd__reduce_infer(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_rd__reduce_info *info = nn_rd__reduce_info_of(c->node);
    const nn_shape *s = &in[0].shape;
    nn_rd__axes ax;
    (void)n_out;
    int minmax = info->kind == NN_RD_MAX || info->kind == NN_RD_MIN;
    nn_status st = nn_rd__check_dtype(c, in[0].dtype, 1, minmax);
    if (st == NN_OK) st = nn_rd__reduce_axes(c, in, n_in, info->axes_input_since, &ax);
    if (st) return st;
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    if (ax.noop) { out[0].shape = *s; return NN_OK; }
    if (s->rank < 0) {
        if (ax.known && ax.all && !ax.keepdims) out[0].shape.rank = 0;
        return NN_OK;
    }
    if (!ax.known) { /* which dims go is not known: only the rank may be */
        if (ax.keepdims) {
            out[0].shape = *s;
            for (int32_t d = 0; d < s->rank; d++) if (s->dims[d] != 1) out[0].shape.dims[d] = NN_DIM_UNKNOWN;
        } else if (ax.count > 0 && ax.count <= s->rank) {
            out[0].shape = nn_shape_make(s->rank - ax.count, NULL);
        }
        return NN_OK;
    }
    int32_t r = 0;
    for (int32_t d = 0; d < s->rank; d++) {
        if (!((ax.mask >> d) & 1u)) out[0].shape.dims[r++] = s->dims[d];
        else if (ax.keepdims) out[0].shape.dims[r++] = 1;
    }
    out[0].shape.rank = r;
    return NN_OK;
}

/* Accumulator start value of each kind (LogSumExp accumulates exp(x - max)). */
static double nn_rd__identity(nn_rd__kind k) {
    if (k == NN_RD_PROD) return 1;
    if (k == NN_RD_MAX) return -INFINITY;
    if (k == NN_RD_MIN) return INFINITY;
    return 0;
}

static double nn_rd__combine(nn_rd__kind k, double acc, double v, double mx) {
    switch (k) {
    case NN_RD_L1: return acc + fabs(v);
    case NN_RD_L2: case NN_RD_SUMSQ: return acc + v * v;
    case NN_RD_PROD: return acc * v;
    case NN_RD_MAX: return v > acc || v != v ? v : acc;
    case NN_RD_MIN: return v < acc || v != v ? v : acc;
    case NN_RD_LOGSUMEXP: return acc + exp(v - mx);
    default: return acc + v;
    }
}

/* Final value from an accumulator over `count` elements (mx: LogSumExp's max). */
static double nn_rd__finish(nn_rd__kind k, double acc, size_t count, double mx) {
    switch (k) {
    case NN_RD_MEAN: return acc / (double)count; /* empty set: 0/0 = NaN, the spec leaves it undefined */
    case NN_RD_L2: return sqrt(acc);
    case NN_RD_LOGSUM: return log(acc);
    case NN_RD_LOGSUMEXP: return isinf(mx) || mx != mx ? mx : log(acc) + mx; /* empty set: -inf */
    default: return acc;
    }
}

/* Views the input as (outer, red, inner) when the reduced dims are one run
   once size-1 dims are ignored; 0 when they are not. */
static int nn_rd__reduce_span(const nn_shape *s, uint32_t mask, nn_rd__span *v) {
    int32_t first = -1, last = -1;
    for (int32_t d = 0; d < s->rank; d++)
        if (s->dims[d] != 1 && ((mask >> d) & 1u)) { if (first < 0) first = d; last = d; }
    if (first < 0) { v->outer = nn_rd__prod(s, 0, s->rank); v->n = 1; v->inner = 1; return 1; }
    for (int32_t d = first; d <= last; d++)
        if (s->dims[d] != 1 && !((mask >> d) & 1u)) return 0;
    *v = nn_rd__split(s, first, last + 1);
    return 1;
}

typedef struct nn_rd__reduce_job {
    const float *x; /* (outer, n, inner) */
    float *y;       /* (outer, inner) */
    nn_rd__span v;
    nn_rd__kind kind;
} nn_rd__reduce_job;

static float nn_rd__reduce_row_f32(const float *x, size_t n, nn_rd__kind k) {
    double acc, mx = 0;
    switch (k) {
    case NN_RD_L1: acc = nn_rd__asum_f32(x, n, 0); break;
    case NN_RD_L2: case NN_RD_SUMSQ: acc = nn_rd__dev2_f32(x, n, 0); break;
    case NN_RD_MAX: acc = nn_rd__extreme_f32(x, n, 1); break;
    case NN_RD_MIN: acc = nn_rd__extreme_f32(x, n, -1); break;
    case NN_RD_LOGSUMEXP:
        mx = nn_rd__extreme_f32(x, n, 1);
        acc = isinf(mx) ? 0 : nn_rd__expsum_f32(x, n, (float)mx);
        break;
    case NN_RD_PROD:
        acc = 1;
        for (size_t i = 0; i < n; i++) acc *= x[i];
        break;
    default: acc = nn_rd__sum_f32(x, n, 0); break;
    }
    return (float)nn_rd__finish(k, acc, n, mx);
}

/* inner == 1: one contiguous row per output. */
static void nn_rd__reduce_rows_f32(void *arg, size_t b, size_t e) {
    const nn_rd__reduce_job *j = (const nn_rd__reduce_job *)arg;
    for (size_t o = b; o < e; o++) j->y[o] = nn_rd__reduce_row_f32(j->x + o * j->v.n, j->v.n, j->kind);
}

/* inner > 1: item = (outer index, block of NN_RD__COLS columns); each
   reduced row adds a contiguous stretch of columns into double sums. */
static void nn_rd__reduce_cols_f32(void *arg, size_t b, size_t e) {
    const nn_rd__reduce_job *j = (const nn_rd__reduce_job *)arg;
    size_t nblk = (j->v.inner + NN_RD__COLS - 1) / NN_RD__COLS;
    double acc[NN_RD__COLS], mx[NN_RD__COLS];
    for (size_t it = b; it < e; it++) {
        size_t o = it / nblk, c0 = it % nblk * NN_RD__COLS;
        size_t w = j->v.inner - c0 < NN_RD__COLS ? j->v.inner - c0 : NN_RD__COLS;
        const float *x = j->x + o * j->v.n * j->v.inner + c0;
        nn_rd__kind k = j->kind;
        for (size_t i = 0; i < w; i++) { acc[i] = nn_rd__identity(k); mx[i] = -INFINITY; }
        if (k == NN_RD_LOGSUMEXP)
            for (size_t r = 0; r < j->v.n; r++)
                for (size_t i = 0; i < w; i++) mx[i] = x[r * j->v.inner + i] > mx[i] ? x[r * j->v.inner + i] : mx[i];
        for (size_t r = 0; r < j->v.n; r++) {
            const float *row = x + r * j->v.inner;
            switch (k) {
            case NN_RD_SUM: case NN_RD_MEAN: case NN_RD_LOGSUM:
                for (size_t i = 0; i < w; i++) acc[i] += row[i];
                break;
            case NN_RD_L2: case NN_RD_SUMSQ:
                for (size_t i = 0; i < w; i++) acc[i] += (double)row[i] * row[i];
                break;
            default:
                for (size_t i = 0; i < w; i++) acc[i] = nn_rd__combine(k, acc[i], row[i], mx[i]);
                break;
            }
        }
        for (size_t i = 0; i < w; i++)
            j->y[o * j->v.inner + c0 + i] = (float)nn_rd__finish(k, acc[i], j->v.n, mx[i]);
    }
}

/* Any dtype of float type, any axes: double accumulators per output. */
static nn_status nn_rd__reduce_real(nn_op_ctx *c, const nn_value *x, nn_value *y, uint32_t mask, nn_rd__kind k) {
    size_t nin = nn_value_count(x), nout = nn_value_count(y);
    double *acc = (double *)nn_op_scratch(c, nout * 2 * sizeof(double));
    if (!acc) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    double *mx = acc + nout;
    nn_rd__walk w;
    for (size_t o = 0; o < nout; o++) { acc[o] = nn_rd__identity(k); mx[o] = -INFINITY; }
    if (k == NN_RD_LOGSUMEXP) {
        nn_rd__walk_init(&w, &x->shape, mask);
        for (size_t i = 0; i < nin; i++, nn_rd__walk_next(&w)) {
            double v = nn_rd__load(x->data, x->dtype, i);
            if (v > mx[w.off]) mx[w.off] = v;
        }
    }
    nn_rd__walk_init(&w, &x->shape, mask);
    for (size_t i = 0; i < nin; i++, nn_rd__walk_next(&w))
        acc[w.off] = nn_rd__combine(k, acc[w.off], nn_rd__load(x->data, x->dtype, i), mx[w.off]);
    for (size_t o = 0; o < nout; o++) nn_rd__store(y->data, y->dtype, o, nn_rd__finish(k, acc[o], nin / nout, mx[o]));
    return NN_OK;
}

/* Integer types, kinds other than the logarithmic ones: exact, wrapping
   like the type; ReduceMean truncates toward zero as integer division does. */
static nn_status nn_rd__reduce_int(nn_op_ctx *c, const nn_value *x, nn_value *y, uint32_t mask, nn_rd__kind k) {
    size_t nin = nn_value_count(x), nout = nn_value_count(y), red = nin / nout;
    uint64_t *acc = (uint64_t *)nn_op_scratch(c, nout * sizeof(uint64_t));
    if (!acc) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    int64_t lo;
    uint64_t hi;
    int uns = !nn_dtype_is_signed_int(x->dtype);
    nn_rd__int_range(x->dtype, &lo, &hi);
    uint64_t init = k == NN_RD_PROD ? 1 : k == NN_RD_MAX ? (uint64_t)lo : k == NN_RD_MIN ? hi : 0;
    for (size_t o = 0; o < nout; o++) acc[o] = init;
    nn_rd__walk w;
    nn_rd__walk_init(&w, &x->shape, mask);
    for (size_t i = 0; i < nin; i++, nn_rd__walk_next(&w)) {
        uint64_t v = nn_rd__load_int(x->data, x->dtype, i), *a = &acc[w.off];
        int gt = uns ? v > *a : nn_rd__signed(v) > nn_rd__signed(*a);
        int lt = uns ? v < *a : nn_rd__signed(v) < nn_rd__signed(*a);
        switch (k) {
        case NN_RD_L1: *a += uns || nn_rd__signed(v) >= 0 ? v : 0 - v; break;
        case NN_RD_L2: case NN_RD_SUMSQ: *a += v * v; break;
        case NN_RD_PROD: *a *= v; break;
        case NN_RD_MAX: if (gt) *a = v; break;
        case NN_RD_MIN: if (lt) *a = v; break;
        default: *a += v; break;
        }
    }
    for (size_t o = 0; o < nout; o++) {
        uint64_t a = acc[o];
        if (k == NN_RD_L2) { nn_rd__store(y->data, y->dtype, o, sqrt((double)a)); continue; }
        if (k == NN_RD_MEAN)
            a = red == 0 ? 0 : uns ? a / red : (uint64_t)(nn_rd__signed(a) / (int64_t)red);
        nn_rd__store_int(y->data, y->dtype, o, a);
    }
    return NN_OK;
}

static nn_status nn_rd__reduce_run(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_rd__reduce_info *info = nn_rd__reduce_info_of(c->node);
    nn_rd__axes ax;
    nn_rd__span v;
    (void)n_out;
    nn_status st = nn_rd__reduce_axes(c, in, n_in, info->axes_input_since, &ax);
    if (st) return st;
    if (ax.noop) {
        if (in[0].bytes) memcpy(out[0].data, in[0].data, in[0].bytes);
        return NN_OK;
    }
    if (nn_value_count(&out[0]) == 0) return NN_OK;
    if (in[0].dtype == NN_DTYPE_FLOAT && nn_rd__reduce_span(&in[0].shape, ax.mask, &v)) {
        nn_rd__reduce_job j;
        j.x = (const float *)in[0].data;
        j.y = (float *)out[0].data;
        j.v = v;
        j.kind = info->kind;
        if (v.inner == 1) nn_op_parallel(c, v.outer, nn_rd__chunk(v.n), nn_rd__reduce_rows_f32, &j);
        else {
            size_t items = v.outer * ((v.inner + NN_RD__COLS - 1) / NN_RD__COLS);
            nn_op_parallel(c, items, nn_rd__chunk(v.n * NN_RD__COLS), nn_rd__reduce_cols_f32, &j);
        }
        return NN_OK;
    }
    if (nn_rd__is_int(in[0].dtype) && info->kind != NN_RD_LOGSUM && info->kind != NN_RD_LOGSUMEXP)
        return nn_rd__reduce_int(c, &in[0], &out[0], ax.mask, info->kind);
    return nn_rd__reduce_real(c, &in[0], &out[0], ax.mask, info->kind);
}

/* ---- ArgMax, ArgMin ---- */

static nn_status nn_rd__arg_infer(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_shape *s = &in[0].shape;
    int keep = nn_node_attr_int(c->node, "keepdims", 1) != 0;
    int32_t axis = 0;
    (void)n_in; (void)n_out;
    nn_status st = nn_rd__check_dtype(c, in[0].dtype, 1, 0);
    if (st) return st;
    out[0].dtype = NN_DTYPE_INT64;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    if (s->rank < 0) return NN_OK;
    if (!nn_op__axis(nn_node_attr_int(c->node, "axis", 0), s->rank, &axis) || s->rank == 0)
        return nn_op_error(c, NN_ERR_INVALID, "axis is out of range for rank %d", s->rank);
    out[0].shape = *s;
    out[0].shape.dims[axis] = 1;
    if (!keep) {
        for (int32_t d = axis; d + 1 < s->rank; d++) out[0].shape.dims[d] = s->dims[d + 1];
        out[0].shape.rank--;
    }
    return NN_OK;
}

/* First (or with select_last_index, last) index of the max/min along axis. */
static nn_status nn_rd__arg_run(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    int want_max = strcmp(c->node->op_type, "ArgMax") == 0;
    int last = nn_node_attr_int(c->node, "select_last_index", 0) != 0;
    int32_t axis = 0;
    nn_dtype t = in[0].dtype;
    int ints = nn_rd__is_int(t), uns = ints && !nn_dtype_is_signed_int(t);
    int64_t *y = (int64_t *)out[0].data;
    (void)n_in; (void)n_out;
    nn_op__axis(nn_node_attr_int(c->node, "axis", 0), in[0].shape.rank, &axis);
    nn_rd__span v = nn_rd__split(&in[0].shape, axis, axis + 1);
    if (nn_value_count(&out[0]) == 0) return NN_OK; /* outer may still be huge: do not loop over it */
    if (v.n == 0) return nn_op_error(c, NN_ERR_INVALID, "cannot take the %s of an empty axis", c->node->op_type);
    for (size_t o = 0; o < v.outer; o++)
        for (size_t i = 0; i < v.inner; i++) {
            size_t base = o * v.n * v.inner + i, best = 0;
            double bf = 0;
            uint64_t bi = 0;
            for (size_t j = 0; j < v.n; j++) {
                size_t at = base + j * v.inner;
                int better;
                if (ints) {
                    uint64_t q = nn_rd__load_int(in[0].data, t, at);
                    int gt = uns ? q > bi : nn_rd__signed(q) > nn_rd__signed(bi);
                    int eq = q == bi;
                    better = j == 0 || (want_max ? gt : !gt && !eq) || (last && eq);
                    if (better) bi = q;
                } else {
                    double q = nn_rd__load(in[0].data, t, at);
                    better = j == 0 || (want_max ? q > bf : q < bf) || (last && q == bf);
                    if (better) bf = q;
                }
                if (better) best = j;
            }
            y[o * v.inner + i] = (int64_t)best;
        }
    return NN_OK;
}

/* ---- Softmax, LogSoftmax, Hardmax ---- */

typedef enum nn_rd__smx { NN_RD_SOFTMAX, NN_RD_LOGSOFTMAX, NN_RD_HARDMAX } nn_rd__smx;

static nn_rd__smx nn_rd__smx_of(const nn_node *n) {
    if (strcmp(n->op_type, "LogSoftmax") == 0) return NN_RD_LOGSOFTMAX;
    if (strcmp(n->op_type, "Hardmax") == 0) return NN_RD_HARDMAX;
    return NN_RD_SOFTMAX;
}

/* The (outer, n, inner) view.  Opset 13 works along one axis (default -1);
   before 13 the input is coerced to 2-D [d0*..*d(axis-1), d(axis)*..*d(r-1)]
   at axis (default 1, and axis == r is allowed: rows of one element). */
static nn_status nn_rd__smx_span(nn_op_ctx *c, const nn_shape *s, nn_rd__span *v) {
    int64_t a = nn_node_attr_int(c->node, "axis", c->opset >= 13 ? -1 : 1);
    int32_t axis;
    if (c->opset < 13 && (a == s->rank || (s->rank == 0 && a == 1))) { *v = nn_rd__split(s, s->rank, s->rank); return NN_OK; }
    if (!nn_op__axis(a, s->rank, &axis))
        return nn_op_error(c, NN_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)a, s->rank);
    *v = nn_rd__split(s, axis, c->opset >= 13 ? (s->rank ? axis + 1 : 0) : s->rank);
    return NN_OK;
}

static nn_status nn_rd__smx_infer(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    int64_t a = nn_node_attr_int(c->node, "axis", c->opset >= 13 ? -1 : 1);
    int32_t r = in[0].shape.rank, axis;
    nn_status st = nn_rd__check_dtype(c, in[0].dtype, 0, 0);
    if (st) return st;
    if (r >= 0 && !(c->opset < 13 && a == r) && !nn_op__axis(a, r, &axis))
        return nn_op_error(c, NN_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)a, r);
    return nn_op__infer_same(c, in, n_in, out, n_out);
}

typedef struct nn_rd__smx_job {
    const float *x; /* (outer, n, inner) */
    float *y;       /* (outer, n, inner) */
    nn_rd__span v;
    nn_rd__smx op;
} nn_rd__smx_job;

/* inner == 1: contiguous rows. */
static void nn_rd__smx_rows_f32(void *arg, size_t b, size_t e) {
    const nn_rd__smx_job *j = (const nn_rd__smx_job *)arg;
    size_t n = j->v.n;
    for (size_t o = b; o < e; o++) {
        const float *x = j->x + o * n;
        float *y = j->y + o * n, m;
        if (j->op == NN_RD_HARDMAX) {
            size_t best = 0; /* the first maximum, as the spec asks */
            for (size_t i = 0; i < n; i++) { y[i] = 0; if (x[i] > x[best]) best = i; }
            if (n) y[best] = 1;
            continue;
        }
        m = nn_rd__extreme_f32(x, n, 1);
        nn_rd__exp_neg_f32(y, x, n, m);
        if (j->op == NN_RD_SOFTMAX) {
            float inv = (float)(1.0 / nn_rd__sum_f32(y, n, 0));
            for (size_t i = 0; i < n; i++) y[i] *= inv;
        } else {
            /* (x - m) - log(sum), not x - (m + log(sum)): when one
               element dominates, log(sum) is tiny and would vanish
               against a large m. */
            float ls = (float)log(nn_rd__sum_f32(y, n, 0));
            for (size_t i = 0; i < n; i++) y[i] = (x[i] - m) - ls;
        }
    }
}

/* inner > 1: item = (outer index, block of columns). */
static void nn_rd__smx_cols_f32(void *arg, size_t b, size_t e) {
    const nn_rd__smx_job *j = (const nn_rd__smx_job *)arg;
    size_t nblk = (j->v.inner + NN_RD__COLS - 1) / NN_RD__COLS, in = j->v.inner;
    float mx[NN_RD__COLS], sum[NN_RD__COLS], ex[NN_RD__COLS];
    size_t arg_best[NN_RD__COLS];
    for (size_t it = b; it < e; it++) {
        size_t o = it / nblk, c0 = it % nblk * NN_RD__COLS;
        size_t w = in - c0 < NN_RD__COLS ? in - c0 : NN_RD__COLS;
        const float *x = j->x + o * j->v.n * in + c0;
        float *y = j->y + o * j->v.n * in + c0;
        for (size_t i = 0; i < w; i++) { mx[i] = -INFINITY; sum[i] = 0; arg_best[i] = 0; }
        for (size_t r = 0; r < j->v.n; r++)
            for (size_t i = 0; i < w; i++)
                if (x[r * in + i] > mx[i] || r == 0) { mx[i] = x[r * in + i]; arg_best[i] = r; }
        if (j->op == NN_RD_HARDMAX) {
            for (size_t r = 0; r < j->v.n; r++)
                for (size_t i = 0; i < w; i++) y[r * in + i] = arg_best[i] == r ? 1.0f : 0.0f;
            continue;
        }
        for (size_t r = 0; r < j->v.n; r++) {
            float *ev = j->op == NN_RD_SOFTMAX ? y + r * in : ex;
            for (size_t i = 0; i < w; i++) ev[i] = x[r * in + i] - mx[i];
            nn_rd__exp_neg_f32(ev, ev, w, 0);
            for (size_t i = 0; i < w; i++) sum[i] += ev[i];
        }
        if (j->op == NN_RD_SOFTMAX) {
            for (size_t i = 0; i < w; i++) sum[i] = 1.0f / sum[i];
            for (size_t r = 0; r < j->v.n; r++)
                for (size_t i = 0; i < w; i++) y[r * in + i] *= sum[i];
        } else {
            for (size_t i = 0; i < w; i++) sum[i] = logf(sum[i]);
            for (size_t r = 0; r < j->v.n; r++)
                for (size_t i = 0; i < w; i++) y[r * in + i] = (x[r * in + i] - mx[i]) - sum[i];
        }
    }
}

/* Other float types: each (outer, inner) line gathered into doubles. */
static nn_status nn_rd__smx_real(nn_op_ctx *c, const nn_value *x, nn_value *y, nn_rd__span v, nn_rd__smx op) {
    double *row = (double *)nn_op_scratch(c, (v.n + 1) * sizeof(double));
    if (!row) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    for (size_t o = 0; o < v.outer; o++)
        for (size_t i = 0; i < v.inner; i++) {
            size_t base = o * v.n * v.inner + i, best = 0;
            double m = -INFINITY, s = 0;
            for (size_t r = 0; r < v.n; r++) {
                row[r] = nn_rd__load(x->data, x->dtype, base + r * v.inner);
                if (row[r] > m || r == 0) { m = row[r]; best = r; }
            }
            for (size_t r = 0; r < v.n; r++) s += exp(row[r] - m);
            for (size_t r = 0; r < v.n; r++) {
                double q = op == NN_RD_HARDMAX ? (r == best) : op == NN_RD_SOFTMAX ? exp(row[r] - m) / s
                                                                                 : row[r] - m - log(s);
                nn_rd__store(y->data, y->dtype, base + r * v.inner, q);
            }
        }
    return NN_OK;
}

static nn_status nn_rd__smx_run(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_rd__span v;
    nn_rd__smx op = nn_rd__smx_of(c->node);
    (void)n_in; (void)n_out;
    nn_status st = nn_rd__smx_span(c, &in[0].shape, &v);
    if (st || nn_value_count(&in[0]) == 0) return st;
    if (in[0].dtype != NN_DTYPE_FLOAT) return nn_rd__smx_real(c, &in[0], &out[0], v, op);
    nn_rd__smx_job j;
    j.x = (const float *)in[0].data;
    j.y = (float *)out[0].data;
    j.v = v;
    j.op = op;
    if (v.inner == 1) nn_op_parallel(c, v.outer, nn_rd__chunk(v.n * 4), nn_rd__smx_rows_f32, &j);
    else nn_op_parallel(c, v.outer * ((v.inner + NN_RD__COLS - 1) / NN_RD__COLS),
                        nn_rd__chunk(v.n * NN_RD__COLS * 4), nn_rd__smx_cols_f32, &j);
    return NN_OK;
}

/* ---- CumSum, CumProd ---- */

/* Axis from the second input: a scalar (or one-element) int32/int64. */
static nn_status nn_rd__cumsum_axis(nn_op_ctx *c, const nn_value *in, int32_t *axis) {
    int64_t a;
    if (nn_op__int_list(&in[1], &a, 1) != 1)
        return nn_op_error(c, NN_ERR_INVALID, "axis must be one int32/int64 value");
    if (!nn_op__axis(a, in[0].shape.rank, axis) || in[0].shape.rank == 0)
        return nn_op_error(c, NN_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)a, in[0].shape.rank);
    return NN_OK;
}

static nn_status nn_rd__cumsum_infer(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    int32_t axis;
    nn_status st = nn_rd__check_dtype(c, in[0].dtype, 1, 0);
    if (st == NN_OK && in[1].data && in[0].shape.rank >= 0) st = nn_rd__cumsum_axis(c, in, &axis);
    if (st) return st;
    return nn_op__infer_same(c, in, n_in, out, n_out);
}

/* Running sums (CumProd: products) along the axis in double (floats) or
   wrapping uint64 (integers); exclusive stores the running value before
   taking the element in (so it starts at 0, or 1 for CumProd), reverse
   walks the axis backwards. */
static nn_status nn_rd__cumsum_run(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    int prod = strcmp(c->node->op_type, "CumProd") == 0;
    int exclusive = nn_node_attr_int(c->node, "exclusive", 0) != 0;
    int reverse = nn_node_attr_int(c->node, "reverse", 0) != 0;
    int32_t axis;
    nn_dtype t = in[0].dtype;
    int ints = nn_rd__is_int(t);
    (void)n_in; (void)n_out;
    nn_status st = nn_rd__cumsum_axis(c, in, &axis);
    if (st || nn_value_count(&in[0]) == 0) return st;
    nn_rd__span v = nn_rd__split(&in[0].shape, axis, axis + 1);
    double *acc = (double *)nn_op_scratch(c, (v.inner + 1) * sizeof(double));
    uint64_t *iacc = (uint64_t *)acc; /* same size: integer types use the bits */
    if (!acc) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    for (size_t o = 0; o < v.outer; o++) {
        for (size_t i = 0; i < v.inner; i++) {
            if (ints) iacc[i] = prod;
            else acc[i] = prod;
        }
        for (size_t k = 0; k < v.n; k++) {
            size_t r = reverse ? v.n - 1 - k : k, base = (o * v.n + r) * v.inner;
            for (size_t i = 0; i < v.inner; i++) {
                if (ints) {
                    uint64_t q = nn_rd__load_int(in[0].data, t, base + i), before = iacc[i];
                    iacc[i] = prod ? iacc[i] * q : iacc[i] + q;
                    nn_rd__store_int(out[0].data, t, base + i, exclusive ? before : iacc[i]);
                } else {
                    double q = nn_rd__load(in[0].data, t, base + i), before = acc[i];
                    acc[i] = prod ? acc[i] * q : acc[i] + q;
                    nn_rd__store(out[0].data, t, base + i, exclusive ? before : acc[i]);
                }
            }
        }
    }
    return NN_OK;
}

/* ---- LayerNormalization, RMSNormalization, GroupNormalization ---- */

/* Spec: stash_type sets the precision of the first (standardization)
   stage.  Only 1 (float) is implemented; these kernels hold the statistics
   in double, which is at least as precise. */
static nn_status nn_rd__check_stash(nn_op_ctx *c) {
    int64_t stash = nn_node_attr_int(c->node, "stash_type", 1);
    if (stash != 1)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "stash_type %lld is not supported (only 1, float)", (long long)stash);
    return NN_OK;
}

/* Axis of Layer/RMSNormalization: [-r, r], normalizing dims [axis, r). */
static nn_status nn_rd__norm_axis(nn_op_ctx *c, int32_t rank, int32_t *axis) {
    int64_t a = nn_node_attr_int(c->node, "axis", -1);
    if (a < 0) a += rank;
    if (a < 0 || a > rank) return nn_op_error(c, NN_ERR_INVALID, "axis is out of range for rank %d", rank);
    *axis = (int32_t)a;
    return NN_OK;
}

static nn_status nn_rd__norm_infer(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    int32_t r = in[0].shape.rank, axis = 0;
    (void)n_in;
    nn_status st = nn_rd__check_dtype(c, in[0].dtype, 0, 0);
    if (st == NN_OK) st = nn_rd__check_stash(c);
    if (st == NN_OK && r >= 0) st = nn_rd__norm_axis(c, r, &axis);
    if (st) return st;
    out[0].dtype = in[0].dtype;
    out[0].shape = in[0].shape;
    for (uint32_t o = 1; o < n_out && o < 3; o++) { /* LayerNorm's Mean, InvStdDev: (d0..d(axis-1), 1, .., 1) */
        out[o].dtype = NN_DTYPE_FLOAT;
        out[o].shape = in[0].shape;
        for (int32_t d = axis; d < r; d++) out[o].shape.dims[d] = 1;
    }
    return NN_OK;
}

/* 1 when p broadcasts (numpy rules) to the shape `to` without growing it. */
static nn_status nn_rd__check_param(nn_op_ctx *c, const nn_value *p, const nn_shape *to) {
    if (p->shape.rank > to->rank) return nn_op_error(c, NN_ERR_SHAPE, "scale/bias has a higher rank than the normalized dims");
    for (int32_t d = 0; d < p->shape.rank; d++) {
        int64_t pd = p->shape.dims[d], td = to->dims[to->rank - p->shape.rank + d];
        if (pd != td && pd != 1) return nn_op_error(c, NN_ERR_SHAPE, "scale/bias does not broadcast to the normalized dims");
    }
    return NN_OK;
}

/* p broadcast toward `to` into count(to) doubles. */
static nn_status nn_rd__expand(nn_op_ctx *c, const nn_value *p, const nn_shape *to, double *out) {
    int64_t strides[NN_MAX_RANK];
    nn_status st = nn_rd__check_param(c, p, to);
    if (st) return st;
    nn_op__bcast_strides(&p->shape, to, strides);
    size_t n = nn_shape_count(to, NULL);
    for (size_t i = 0; i < n; i++) {
        size_t rest = i, off = 0;
        for (int32_t d = to->rank - 1; d >= 0; d--) {
            off += (size_t)strides[d] * (rest % (size_t)to->dims[d]);
            rest /= (size_t)to->dims[d];
        }
        out[i] = nn_rd__load(p->data, p->dtype, off);
    }
    return NN_OK;
}

/* A scale/bias input as count(to) floats: the tensor itself when it already
   is one, else expanded into scratch. */
static nn_status nn_rd__param_f32(nn_op_ctx *c, const nn_value *p, const nn_shape *to, const float **out) {
    size_t n = nn_shape_count(to, NULL);
    nn_status st = nn_rd__check_param(c, p, to);
    if (st) return st;
    if (p->dtype == NN_DTYPE_FLOAT && nn_value_count(p) == n) {
        *out = (const float *)p->data;
        return NN_OK;
    }
    double *d = (double *)nn_op_scratch(c, (n + 1) * sizeof(double));
    float *f = (float *)nn_op_scratch(c, (n + 1) * sizeof(float));
    if (!d || !f) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    st = nn_rd__expand(c, p, to, d);
    for (size_t i = 0; i < n; i++) f[i] = (float)d[i];
    *out = f;
    return st;
}

/* Statistics of one float row: the mean (0 for RMS) as a float plus the
   float of what that rounding lost, and 1/sqrt(var + eps).  Callers
   subtract both parts, (x - mean) - dmean: x - mean is exact when x is
   near the mean, and a row sitting at an offset (x ~ 100, ulp 8e-6)
   would otherwise carry the mean's rounding into every output.  The
   variance is taken around the float mean, minus the rounding's square,
   so both passes stay vectorized. */
typedef struct nn_rd__stats { float mean, dmean; double inv; } nn_rd__stats;

static nn_rd__stats nn_rd__row_stats_f32(const float *x, size_t n, int rms, double eps) {
    nn_rd__stats s;
    double m = rms ? 0 : nn_rd__sum_f32(x, n, 0) / (double)n;
    s.mean = (float)m;
    s.dmean = (float)(m - s.mean);
    double var = nn_rd__dev2_f32(x, n, s.mean) / (double)n - (m - s.mean) * (m - s.mean);
    s.inv = 1.0 / sqrt((var > 0 ? var : 0) + eps);
    return s;
}

typedef struct nn_rd__norm_job {
    const float *x;             /* (rows, n) */
    float *y;                   /* (rows, n) */
    const float *scale, *bias;  /* (n); bias may be NULL */
    float *mean, *inv;          /* (rows) or NULL */
    size_t n;
    double eps;
    int rms;
} nn_rd__norm_job;

static void nn_rd__norm_rows_f32(void *arg, size_t b, size_t e) {
    const nn_rd__norm_job *j = (const nn_rd__norm_job *)arg;
    for (size_t r = b; r < e; r++) {
        const float *x = j->x + r * j->n;
        float *y = j->y + r * j->n;
        nn_rd__stats s = nn_rd__row_stats_f32(x, j->n, j->rms, j->eps);
        float m = s.mean, dm = s.dmean, a = (float)s.inv;
        if (j->bias)
            for (size_t i = 0; i < j->n; i++) y[i] = ((x[i] - m) - dm) * a * j->scale[i] + j->bias[i];
        else
            for (size_t i = 0; i < j->n; i++) y[i] = ((x[i] - m) - dm) * a * j->scale[i];
        if (j->mean) j->mean[r] = (float)((double)m + dm);
        if (j->inv) j->inv[r] = a;
    }
}

/* Non-float32 X: rows gathered into doubles, serially. */
static nn_status nn_rd__norm_real(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out,
                                  const nn_shape *ns, size_t rows, size_t n, double eps, int rms) {
    double *buf = (double *)nn_op_scratch(c, (3 * n + 1) * sizeof(double));
    if (!buf) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    double *sc = buf + n, *bi = buf + 2 * n;
    int has_bias = !rms && nn_rd__has(in, n_in, 2);
    nn_status st = nn_rd__expand(c, &in[1], ns, sc);
    if (st == NN_OK && has_bias) st = nn_rd__expand(c, &in[2], ns, bi);
    for (size_t r = 0; r < rows && st == NN_OK; r++) {
        double m = 0, var = 0;
        for (size_t i = 0; i < n; i++) m += buf[i] = nn_rd__load(in[0].data, in[0].dtype, r * n + i);
        m = rms ? 0 : m / (double)n;
        for (size_t i = 0; i < n; i++) var += (buf[i] - m) * (buf[i] - m);
        double inv = 1.0 / sqrt(var / (double)n + eps);
        for (size_t i = 0; i < n; i++)
            nn_rd__store(out[0].data, out[0].dtype, r * n + i, (buf[i] - m) * inv * sc[i] + (has_bias ? bi[i] : 0));
        if (n_out > 1 && out[1].data) nn_rd__store(out[1].data, out[1].dtype, r, m);
        if (n_out > 2 && out[2].data) nn_rd__store(out[2].data, out[2].dtype, r, inv);
    }
    return st;
}

/* LayerNormalization (17) and RMSNormalization (23):
   Y = (X - mean) / sqrt(var + epsilon) * Scale + B over dims [axis, r);
   RMS drops the mean and B. */
static nn_status nn_rd__norm_run(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    int rms = strcmp(c->node->op_type, "RMSNormalization") == 0;
    double eps = nn_node_attr_float(c->node, "epsilon", 1e-5f);
    int32_t axis, r = in[0].shape.rank;
    nn_status st = nn_rd__norm_axis(c, r, &axis);
    if (st || nn_value_count(&in[0]) == 0) return st; /* empty rows: Mean/InvStdDev stay 0 */
    nn_shape ns = nn_shape_make(r - axis, in[0].shape.dims + axis);
    nn_rd__span v = nn_rd__split(&in[0].shape, axis, r);
    if (in[0].dtype != NN_DTYPE_FLOAT) return nn_rd__norm_real(c, in, n_in, out, n_out, &ns, v.outer, v.n, eps, rms);
    nn_rd__norm_job j;
    memset(&j, 0, sizeof j);
    j.x = (const float *)in[0].data;
    j.y = (float *)out[0].data;
    j.n = v.n;
    j.eps = eps;
    j.rms = rms;
    j.mean = n_out > 1 ? (float *)out[1].data : NULL;
    j.inv = n_out > 2 ? (float *)out[2].data : NULL;
    st = nn_rd__param_f32(c, &in[1], &ns, &j.scale);
    if (st == NN_OK && !rms && nn_rd__has(in, n_in, 2)) st = nn_rd__param_f32(c, &in[2], &ns, &j.bias);
    if (st) return st;
    nn_op_parallel(c, v.outer, nn_rd__chunk(v.n * 3), nn_rd__norm_rows_f32, &j);
    return NN_OK;
}

/* GroupNormalization: X (N, C, D1..Dn) in num_groups groups of C/G
   channels, each group normalized over its channels and spatial dims.
   Scale and bias are per group (G values) at opset 18 and per channel
   (C values) from opset 21, where the spec changed them. */
static nn_status nn_rd__group_infer(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_attr *g = nn_node_attr(c->node, "num_groups");
    const nn_shape *s = &in[0].shape;
    nn_status st = nn_rd__check_dtype(c, in[0].dtype, 0, 0);
    if (st == NN_OK) st = nn_rd__check_stash(c);
    if (st) return st;
    if (!g || g->type != NN_ATTR_INT || g->i <= 0) return nn_op_error(c, NN_ERR_INVALID, "num_groups must be a positive int");
    if (s->rank >= 0 && s->rank < 2) return nn_op_error(c, NN_ERR_SHAPE, "X must have rank 2 or more");
    if (s->rank >= 2 && s->dims[1] >= 0 && s->dims[1] % g->i)
        return nn_op_error(c, NN_ERR_SHAPE, "%lld channels do not split into %lld groups", (long long)s->dims[1], (long long)g->i);
    return nn_op__infer_same(c, in, n_in, out, n_out);
}

typedef struct nn_rd__group_job {
    const float *x; float *y;   /* (N*G, C/G, S) */
    const float *scale, *bias;  /* per channel (C) or per group (G) */
    size_t groups, cpg, spatial;
    int per_channel;
    double eps;
} nn_rd__group_job;

static void nn_rd__group_rows_f32(void *arg, size_t b, size_t e) {
    const nn_rd__group_job *j = (const nn_rd__group_job *)arg;
    size_t n = j->cpg * j->spatial;
    for (size_t r = b; r < e; r++) {
        size_t g = r % j->groups;
        nn_rd__stats s = nn_rd__row_stats_f32(j->x + r * n, n, 0, j->eps);
        for (size_t ch = 0; ch < j->cpg; ch++) {
            size_t pi = j->per_channel ? g * j->cpg + ch : g;
            float m = s.mean, dm = s.dmean, a = (float)s.inv, sc = j->scale[pi], bi = j->bias[pi];
            const float *x = j->x + r * n + ch * j->spatial;
            float *y = j->y + r * n + ch * j->spatial;
            for (size_t i = 0; i < j->spatial; i++) y[i] = ((x[i] - m) - dm) * a * sc + bi;
        }
    }
}

static nn_status nn_rd__group_run(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_shape *s = &in[0].shape;
    size_t groups = (size_t)nn_node_attr_int(c->node, "num_groups", 1);
    int per_channel = c->opset >= 21;
    size_t chans = (size_t)s->dims[1], spatial = nn_rd__prod(s, 2, s->rank), cpg = chans / groups;
    size_t np = per_channel ? chans : groups, rows = (size_t)s->dims[0] * groups, n = cpg * spatial;
    double eps = nn_node_attr_float(c->node, "epsilon", 1e-5f);
    (void)n_in; (void)n_out;
    if (nn_value_count(&in[0]) == 0) return NN_OK;
    if (nn_value_count(&in[1]) != np || nn_value_count(&in[2]) != np)
        return nn_op_error(c, NN_ERR_SHAPE, "scale and bias need %zu values (one per %s) at opset %lld", np,
                           per_channel ? "channel" : "group", (long long)c->opset);
    if (in[0].dtype == NN_DTYPE_FLOAT && in[1].dtype == NN_DTYPE_FLOAT && in[2].dtype == NN_DTYPE_FLOAT) {
        nn_rd__group_job j;
        j.x = (const float *)in[0].data;
        j.y = (float *)out[0].data;
        j.scale = (const float *)in[1].data;
        j.bias = (const float *)in[2].data;
        j.groups = groups; j.cpg = cpg; j.spatial = spatial;
        j.per_channel = per_channel;
        j.eps = eps;
        nn_op_parallel(c, rows, nn_rd__chunk(n * 3), nn_rd__group_rows_f32, &j);
        return NN_OK;
    }
    for (size_t r = 0; r < rows; r++) {
        double m = 0, var = 0;
        for (size_t i = 0; i < n; i++) m += nn_rd__load(in[0].data, in[0].dtype, r * n + i);
        m /= (double)n;
        for (size_t i = 0; i < n; i++) {
            double d = nn_rd__load(in[0].data, in[0].dtype, r * n + i) - m;
            var += d * d;
        }
        double inv = 1.0 / sqrt(var / (double)n + eps);
        for (size_t i = 0; i < n; i++) {
            size_t pi = per_channel ? r % groups * cpg + i / spatial : r % groups;
            double q = (nn_rd__load(in[0].data, in[0].dtype, r * n + i) - m) * inv;
            nn_rd__store(out[0].data, out[0].dtype, r * n + i,
                         q * nn_rd__load(in[1].data, in[1].dtype, pi) + nn_rd__load(in[2].data, in[2].dtype, pi));
        }
    }
    return NN_OK;
}

/* ---- MeanVarianceNormalization, LpNormalization ---- */

/* MVN's axes attribute (default [0, 2, 3]) as a mask of rank r. */
static nn_status nn_rd__mvn_mask(nn_op_ctx *c, int32_t rank, uint32_t *mask) {
    static const int64_t defaults[3] = {0, 2, 3};
    const nn_attr *a = nn_node_attr(c->node, "axes");
    const int64_t *axes = a && a->type == NN_ATTR_INTS ? a->ints : defaults;
    uint32_t n = a && a->type == NN_ATTR_INTS ? a->count : 3;
    *mask = 0;
    for (uint32_t i = 0; i < n; i++) {
        int32_t d;
        if (!nn_op__axis(axes[i], rank, &d) || rank == 0)
            return nn_op_error(c, NN_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axes[i], rank);
        *mask |= 1u << d;
    }
    return NN_OK;
}

static nn_status nn_rd__mvn_infer(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    uint32_t mask;
    nn_status st = nn_rd__check_dtype(c, in[0].dtype, 0, 0);
    if (st == NN_OK && in[0].shape.rank >= 0) st = nn_rd__mvn_mask(c, in[0].shape.rank, &mask);
    if (st) return st;
    return nn_op__infer_same(c, in, n_in, out, n_out);
}

/* Spec (function body): Y = (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9),
   the epsilon outside the root.  The variance is taken as E[(X - E[X])^2],
   the same value without the cancellation. */
static nn_status nn_rd__mvn_run(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    uint32_t mask;
    nn_rd__walk w;
    size_t nin = nn_value_count(&in[0]), nst = 1;
    (void)n_in; (void)n_out;
    nn_status st = nn_rd__mvn_mask(c, in[0].shape.rank, &mask);
    if (st || nin == 0) return st;
    for (int32_t d = 0; d < in[0].shape.rank; d++) if (!((mask >> d) & 1u)) nst *= (size_t)in[0].shape.dims[d];
    double *mean = (double *)nn_op_scratch(c, 2 * nst * sizeof(double)), *var = mean + nst;
    if (!mean) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    double cnt = (double)(nin / nst);
    memset(mean, 0, 2 * nst * sizeof(double));
    nn_rd__walk_init(&w, &in[0].shape, mask);
    for (size_t i = 0; i < nin; i++, nn_rd__walk_next(&w)) mean[w.off] += nn_rd__load(in[0].data, in[0].dtype, i);
    for (size_t o = 0; o < nst; o++) mean[o] /= cnt;
    nn_rd__walk_init(&w, &in[0].shape, mask);
    for (size_t i = 0; i < nin; i++, nn_rd__walk_next(&w)) {
        double d = nn_rd__load(in[0].data, in[0].dtype, i) - mean[w.off];
        var[w.off] += d * d;
    }
    for (size_t o = 0; o < nst; o++) var[o] = sqrt(var[o] / cnt) + 1e-9;
    nn_rd__walk_init(&w, &in[0].shape, mask);
    for (size_t i = 0; i < nin; i++, nn_rd__walk_next(&w))
        nn_rd__store(out[0].data, out[0].dtype, i, (nn_rd__load(in[0].data, in[0].dtype, i) - mean[w.off]) / var[w.off]);
    return NN_OK;
}

static nn_status nn_rd__lpnorm_infer(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    int64_t p = nn_node_attr_int(c->node, "p", 2);
    int32_t axis;
    nn_status st = nn_rd__check_dtype(c, in[0].dtype, 0, 0);
    if (st) return st;
    if (p != 1 && p != 2) return nn_op_error(c, NN_ERR_UNSUPPORTED, "p = %lld is not supported (the spec allows 1 or 2)", (long long)p);
    if (in[0].shape.rank >= 0 && (!nn_op__axis(nn_node_attr_int(c->node, "axis", -1), in[0].shape.rank, &axis) || in[0].shape.rank == 0))
        return nn_op_error(c, NN_ERR_INVALID, "axis is out of range for rank %d", in[0].shape.rank);
    return nn_op__infer_same(c, in, n_in, out, n_out);
}

/* Y = X / ||X||_p along axis.  A zero norm means the line is all zeros,
   and it stays zeros (rather than 0/0). */
static nn_status nn_rd__lpnorm_run(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    int p = (int)nn_node_attr_int(c->node, "p", 2);
    int32_t axis = 0;
    (void)n_in; (void)n_out;
    nn_op__axis(nn_node_attr_int(c->node, "axis", -1), in[0].shape.rank, &axis);
    nn_rd__span v = nn_rd__split(&in[0].shape, axis, axis + 1);
    if (nn_value_count(&in[0]) == 0) return NN_OK;
    for (size_t o = 0; o < v.outer; o++)
        for (size_t i = 0; i < v.inner; i++) {
            size_t base = o * v.n * v.inner + i;
            double norm = 0;
            for (size_t r = 0; r < v.n; r++) {
                double q = nn_rd__load(in[0].data, in[0].dtype, base + r * v.inner);
                norm += p == 1 ? fabs(q) : q * q;
            }
            norm = p == 1 ? norm : sqrt(norm);
            for (size_t r = 0; r < v.n; r++) {
                double q = nn_rd__load(in[0].data, in[0].dtype, base + r * v.inner);
                nn_rd__store(out[0].data, out[0].dtype, base + r * v.inner, norm == 0 ? 0 : q / norm);
            }
        }
    return NN_OK;
}

/* ---- Einsum ---- */

#define NN_RD__EIN_OPS 16                     /* operands handled */
#define NN_RD__EIN_LABELS (52 + NN_MAX_RANK)  /* A-Z, a-z, then the ellipsis dims */
#define NN_RD__EIN_ELL 255                    /* marks "..." inside a parsed term */
#define NN_RD__EIN_UNUSED (-2)

/* A parsed equation: every operand dim and output dim as a label id.
   Letters are ids 0-51 in ASCII order (the order of the implicit output);
   the ellipsis dims are 52.., right-aligned so that shorter ellipses
   broadcast against longer ones, numpy style. */
typedef struct nn_rd__ein {
    int n_in;
    int32_t rank[NN_RD__EIN_OPS];
    uint8_t label[NN_RD__EIN_OPS][NN_MAX_RANK];
    int32_t out_rank;
    uint8_t out_label[NN_MAX_RANK];
    int32_t ell;
    int64_t size[NN_RD__EIN_LABELS];   /* NN_RD__EIN_UNUSED, NN_DIM_UNKNOWN or the size */
} nn_rd__ein;

static int nn_rd__ein_letter(char ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return 26 + (ch - 'a');
    return -1;
}

/* One term [b, e) into items (letter ids, NN_RD__EIN_ELL for "..."); -1 if malformed. */
static int nn_rd__ein_term(const char *b, const char *e, uint8_t *items, int *has_ell) {
    int n = 0;
    *has_ell = 0;
    while (b < e) {
        int l = nn_rd__ein_letter(*b);
        if (*b == ' ') { b++; continue; }
        if (n > NN_MAX_RANK) return -1;
        if (*b == '.') {
            if (e - b < 3 || b[1] != '.' || b[2] != '.' || *has_ell) return -1;
            *has_ell = 1;
            items[n++] = NN_RD__EIN_ELL;
            b += 3;
            continue;
        }
        if (l < 0) return -1;
        items[n++] = (uint8_t)l;
        b++;
    }
    return n;
}

/* Records the size of one label; ellipsis dims may broadcast from 1. */
static nn_status nn_rd__ein_size(nn_op_ctx *c, nn_rd__ein *e, int id, int64_t dim) {
    int64_t *s = &e->size[id];
    if (*s == NN_RD__EIN_UNUSED || *s == NN_DIM_UNKNOWN || (id >= 52 && *s == 1)) { if (dim >= 0 || *s < 0) *s = dim; }
    else if (dim >= 0 && dim != *s && !(id >= 52 && dim == 1))
        return nn_op_error(c, NN_ERR_SHAPE, "label '%c' has size %lld in one input and %lld in another",
                           id < 26 ? 'A' + id : id < 52 ? 'a' + id - 26 : '.', (long long)*s, (long long)dim);
    return NN_OK;
}

/* The output term: explicit after "->", else the ellipsis dims and then the
   letters seen exactly once, alphabetically (spec, Einsum-12). */
static nn_status nn_rd__ein_output(nn_op_ctx *c, nn_rd__ein *e, const char *rhs, const int *seen) {
    uint8_t items[NN_MAX_RANK + 1];
    int n = 0, has_ell = 0, used[52] = {0};
    if (rhs) {
        n = nn_rd__ein_term(rhs, rhs + strlen(rhs), items, &has_ell);
        if (n < 0) return nn_op_error(c, NN_ERR_INVALID, "malformed output term");
    } else {
        items[n++] = NN_RD__EIN_ELL;
        for (int l = 0; l < 52; l++) {
            if (seen[l] != 1) continue;
            if (n > NN_MAX_RANK) return nn_op_error(c, NN_ERR_LIMIT, "output rank above %d", NN_MAX_RANK);
            items[n++] = (uint8_t)l;
        }
    }
    e->out_rank = 0;
    for (int i = 0; i < n; i++) {
        if (items[i] == NN_RD__EIN_ELL) {
            if (e->out_rank + e->ell > NN_MAX_RANK) return nn_op_error(c, NN_ERR_LIMIT, "output rank above %d", NN_MAX_RANK);
            for (int32_t j = 0; j < e->ell; j++) e->out_label[e->out_rank++] = (uint8_t)(52 + j);
            continue;
        }
        if (!seen[items[i]] || used[items[i]])
            return nn_op_error(c, NN_ERR_INVALID, "output label %d is repeated or not in any input", items[i]);
        used[items[i]] = 1;
        if (e->out_rank >= NN_MAX_RANK) return nn_op_error(c, NN_ERR_LIMIT, "output rank above %d", NN_MAX_RANK);
        e->out_label[e->out_rank++] = items[i];
    }
    return NN_OK;
}

/* Parses the equation against the input ranks (which must be known). */
static nn_status nn_rd__ein_parse(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_rd__ein *e) {
    const char *eq = nn_node_attr_string(c->node, "equation", NULL), *b, *arrow, *lhs_end;
    uint8_t items[NN_MAX_RANK + 1];
    int seen[52] = {0};
    if (!eq) return nn_op_error(c, NN_ERR_INVALID, "the equation attribute is required");
    if (n_in > NN_RD__EIN_OPS) return nn_op_error(c, NN_ERR_LIMIT, "more than %d operands", NN_RD__EIN_OPS);
    memset(e, 0, sizeof *e);
    for (int i = 0; i < NN_RD__EIN_LABELS; i++) e->size[i] = NN_RD__EIN_UNUSED;
    e->n_in = (int)n_in;
    arrow = strstr(eq, "->");
    lhs_end = arrow ? arrow : eq + strlen(eq);
    b = eq;
    for (uint32_t k = 0; k < n_in; k++) {
        const char *comma = (const char *)memchr(b, ',', (size_t)(lhs_end - b)), *end = comma ? comma : lhs_end;
        int has_ell, n = nn_rd__ein_term(b, end, items, &has_ell);
        if (n < 0 || (k + 1 < n_in) != (comma != NULL))
            return nn_op_error(c, NN_ERR_INVALID, "equation '%s' does not have one well-formed term per input", eq);
        int32_t ell_k = in[k].shape.rank - (n - has_ell), d = 0;
        if (ell_k < 0 || (!has_ell && ell_k))
            return nn_op_error(c, NN_ERR_SHAPE, "term %u has %d labels for an input of rank %d", k, n - has_ell, in[k].shape.rank);
        if (ell_k > e->ell) e->ell = ell_k;
        e->rank[k] = in[k].shape.rank;
        for (int i = 0; i < n; i++) {
            if (items[i] != NN_RD__EIN_ELL) { e->label[k][d++] = items[i]; seen[items[i]]++; continue; }
            for (int32_t j = 0; j < ell_k; j++) e->label[k][d++] = (uint8_t)(52 + j); /* re-aligned below */
        }
        b = end + 1;
    }
    for (int k = 0; k < e->n_in; k++) { /* right-align each ellipsis against the longest */
        int32_t letters = 0;
        for (int32_t d = 0; d < e->rank[k]; d++) letters += e->label[k][d] < 52;
        for (int32_t d = 0; d < e->rank[k]; d++)
            if (e->label[k][d] >= 52) e->label[k][d] = (uint8_t)(e->label[k][d] + e->ell - (e->rank[k] - letters));
        for (int32_t d = 0; d < e->rank[k]; d++) {
            nn_status st = nn_rd__ein_size(c, e, e->label[k][d], in[k].shape.dims[d]);
            if (st) return st;
        }
    }
    return nn_rd__ein_output(c, e, arrow ? arrow + 2 : NULL, seen);
}

static nn_status nn_rd__ein_infer(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_rd__ein e;
    (void)n_out;
    for (uint32_t k = 0; k < n_in; k++) {
        nn_status st = nn_rd__check_dtype(c, in[k].dtype, 1, 0);
        if (st) return st;
        if (in[k].dtype != in[0].dtype) return nn_op_error(c, NN_ERR_INVALID, "inputs have different dtypes");
    }
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    for (uint32_t k = 0; k < n_in; k++) if (in[k].shape.rank < 0) return NN_OK;
    nn_status st = nn_rd__ein_parse(c, in, n_in, &e);
    if (st) return st;
    out[0].shape.rank = e.out_rank;
    for (int32_t d = 0; d < e.out_rank; d++) out[0].shape.dims[d] = e.size[e.out_label[d]];
    return NN_OK;
}

/* Element strides of operand k per label id (summed over repeated labels,
   which walks the diagonal; 0 where a size-1 dim broadcasts). */
static void nn_rd__ein_strides(const nn_rd__ein *e, const nn_value *v, int k, int64_t *st) {
    int64_t s = 1;
    for (int i = 0; i < NN_RD__EIN_LABELS; i++) st[i] = 0;
    for (int32_t d = e->rank[k] - 1; d >= 0; d--) {
        if (!(v->shape.dims[d] == 1 && e->size[e->label[k][d]] != 1)) st[e->label[k][d]] += s;
        s *= v->shape.dims[d];
    }
}

/* Copies an nd-dim block of `size` from src (strides ss) to dst (strides ds). */
static void nn_rd__copy_strided_f32(float *dst, const int64_t *ds, const float *src, const int64_t *ss,
                                    int nd, const int64_t *size) {
    int64_t idx[NN_MAX_RANK] = {0};
    size_t total = 1;
    ptrdiff_t so = 0, dof = 0;
    for (int d = 0; d < nd; d++) total *= (size_t)size[d];
    for (size_t t = 0; t < total; t++) {
        dst[dof] = src[so];
        for (int d = nd - 1; d >= 0; d--) {
            so += (ptrdiff_t)ss[d];
            dof += (ptrdiff_t)ds[d];
            if (++idx[d] < size[d]) break;
            so -= (ptrdiff_t)(ss[d] * size[d]);
            dof -= (ptrdiff_t)(ds[d] * size[d]);
            idx[d] = 0;
        }
    }
}

typedef struct nn_rd__mm_job {
    const float *a, *b; /* (batch, m, k), (batch, k, n) */
    float *c;           /* (batch, m, n) */
    size_t m, n, k;
} nn_rd__mm_job;

static void nn_rd__mm_rows_f32(void *arg, size_t b, size_t e) {
    const nn_rd__mm_job *j = (const nn_rd__mm_job *)arg;
    for (size_t row = b; row < e; row++) {
        const float *ar = j->a + row * j->k, *bm = j->b + row / j->m * j->k * j->n;
        float *cr = j->c + row * j->n;
        for (size_t i = 0; i < j->n; i++) cr[i] = 0;
        for (size_t kk = 0; kk < j->k; kk++) {
            float av = ar[kk];
            const float *br = bm + kk * j->n;
            for (size_t i = 0; i < j->n; i++) cr[i] += av * br[i];
        }
    }
}

/* Packs the dims of `ids` (in order) of a strided operand contiguously. */
static void nn_rd__ein_pack(float *dst, const float *src, const int64_t *st, const nn_rd__ein *e,
                            const int *ids, int nd) {
    int64_t size[NN_MAX_RANK], ss[NN_MAX_RANK], ds[NN_MAX_RANK], s = 1;
    for (int d = nd - 1; d >= 0; d--) { size[d] = e->size[ids[d]]; ss[d] = st[ids[d]]; ds[d] = s; s *= size[d]; }
    nn_rd__copy_strided_f32(dst, ds, src, ss, nd, size);
}

/* Two float32 operands whose labels are each batch (both inputs and the
   output), m (A and output), n (B and output) or k (both inputs, summed):
   pack A as (batch, m, k) and B as (batch, k, n), multiply, scatter.
   Returns 0 (untouched) for equations of any other form. */
static int nn_rd__ein_gemm(nn_op_ctx *c, const nn_value *in, nn_value *out, const nn_rd__ein *e, nn_status *st) {
    int in_a[NN_RD__EIN_LABELS] = {0}, in_b[NN_RD__EIN_LABELS] = {0}, in_o[NN_RD__EIN_LABELS] = {0};
    int am[2 * NN_MAX_RANK], bn[2 * NN_MAX_RANK], cn[2 * NN_MAX_RANK], kl[NN_MAX_RANK];
    int nb = 0, nm = 0, nnn = 0, nk = 0;
    size_t bt = 1, m = 1, n = 1, k = 1;
    if (e->n_in != 2 || in[0].dtype != NN_DTYPE_FLOAT) return 0;
    for (int32_t d = 0; d < e->rank[0]; d++) if (in_a[e->label[0][d]]++) return 0;
    for (int32_t d = 0; d < e->rank[1]; d++) if (in_b[e->label[1][d]]++) return 0;
    for (int32_t d = 0; d < e->out_rank; d++) in_o[e->out_label[d]] = 1;
    for (int id = 0; id < NN_RD__EIN_LABELS; id++)
        if ((in_a[id] || in_b[id]) && !in_o[id] && !(in_a[id] && in_b[id])) return 0;
    /* A packs as (batch, m, k), B as (batch, k, n), C as (batch, m, n). */
    for (int32_t d = 0; d < e->out_rank; d++) {
        int id = e->out_label[d];
        if (in_a[id] && in_b[id]) { am[nb] = bn[nb] = cn[nb] = id; nb++; bt *= (size_t)e->size[id]; }
    }
    for (int32_t d = 0; d < e->out_rank; d++) {
        int id = e->out_label[d];
        if (in_a[id] && !in_b[id]) { am[nb + nm] = cn[nb + nm] = id; nm++; m *= (size_t)e->size[id]; }
    }
    for (int32_t d = 0; d < e->rank[0]; d++) {
        int id = e->label[0][d];
        if (in_b[id] && !in_o[id]) { am[nb + nm + nk] = bn[nb + nk] = kl[nk] = id; nk++; k *= (size_t)e->size[id]; }
    }
    for (int32_t d = 0; d < e->out_rank; d++) {
        int id = e->out_label[d];
        if (in_b[id] && !in_a[id]) { bn[nb + nk + nnn] = cn[nb + nm + nnn] = id; nnn++; n *= (size_t)e->size[id]; }
    }
    (void)kl;
    size_t na, nbb, nc; /* packed sizes: broadcast batch dims can make them exceed the inputs */
    if (!nn_size_mul(bt, m, &na) || !nn_size_mul(na, k, &na) || !nn_size_mul(na, sizeof(float), &na) ||
        !nn_size_mul(bt, k, &nbb) || !nn_size_mul(nbb, n, &nbb) || !nn_size_mul(nbb, sizeof(float), &nbb) ||
        !nn_size_mul(bt, m, &nc) || !nn_size_mul(nc, n, &nc) || !nn_size_mul(nc, sizeof(float), &nc)) {
        *st = nn_op_error(c, NN_ERR_LIMIT, "packed operands overflow size_t");
        return 1;
    }
    float *pa = (float *)nn_op_scratch(c, na), *pb = pa ? (float *)nn_op_scratch(c, nbb) : NULL;
    float *pc = pb ? (float *)nn_op_scratch(c, nc) : NULL;
    if (!pc) { *st = c->diag ? c->diag->status : NN_ERR_NOMEM; return 1; }
    int64_t sa[NN_RD__EIN_LABELS], sb[NN_RD__EIN_LABELS], so[NN_RD__EIN_LABELS], s = 1;
    nn_rd__ein_strides(e, &in[0], 0, sa);
    nn_rd__ein_strides(e, &in[1], 1, sb);
    for (int i = 0; i < NN_RD__EIN_LABELS; i++) so[i] = 0;
    for (int32_t d = e->out_rank - 1; d >= 0; d--) { so[e->out_label[d]] = s; s *= e->size[e->out_label[d]]; }
    nn_rd__ein_pack(pa, (const float *)in[0].data, sa, e, am, nb + nm + nk);
    nn_rd__ein_pack(pb, (const float *)in[1].data, sb, e, bn, nb + nk + nnn);
    nn_rd__mm_job j;
    j.a = pa; j.b = pb; j.c = pc; j.m = m; j.n = n; j.k = k;
    nn_op_parallel(c, bt * m, nn_rd__chunk(k * n), nn_rd__mm_rows_f32, &j);
    { /* scatter C (contiguous) into the output's label order */
        int64_t size[NN_MAX_RANK], ss[NN_MAX_RANK], ds[NN_MAX_RANK], cs = 1;
        int nd = nb + nm + nnn;
        for (int d = nd - 1; d >= 0; d--) { size[d] = e->size[cn[d]]; ds[d] = so[cn[d]]; ss[d] = cs; cs *= size[d]; }
        nn_rd__copy_strided_f32((float *)out->data, ds, pc, ss, nd, size);
    }
    *st = NN_OK;
    return 1;
}

/* Any equation: one odometer over every label (output labels first),
   multiplying the operands' elements into double (or wrapping uint64)
   sums per output element. */
static nn_status nn_rd__ein_run(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_rd__ein e;
    int64_t st_k[NN_RD__EIN_OPS][NN_RD__EIN_LABELS], ost[NN_RD__EIN_LABELS], s = 1;
    int slots[NN_RD__EIN_LABELS], ns = 0, is_out[NN_RD__EIN_LABELS] = {0};
    size_t nout = nn_value_count(&out[0]), total = 1;
    int ints = nn_rd__is_int(in[0].dtype);
    (void)n_out;
    nn_status st = nn_rd__ein_parse(c, in, n_in, &e);
    if (st) return st;
    if (nout == 0) return NN_OK;
    if (nn_rd__ein_gemm(c, in, &out[0], &e, &st)) return st;
    for (int i = 0; i < NN_RD__EIN_LABELS; i++) ost[i] = 0;
    for (int32_t d = e.out_rank - 1; d >= 0; d--) { ost[e.out_label[d]] = s; s *= e.size[e.out_label[d]]; }
    for (int32_t d = 0; d < e.out_rank; d++) { slots[ns++] = e.out_label[d]; is_out[e.out_label[d]] = 1; }
    for (int id = 0; id < NN_RD__EIN_LABELS; id++) if (e.size[id] != NN_RD__EIN_UNUSED && !is_out[id]) slots[ns++] = id;
    for (int i = 0; i < ns; i++)
        if (!nn_size_mul(total, (size_t)e.size[slots[i]], &total))
            return nn_op_error(c, NN_ERR_LIMIT, "the contraction has more than SIZE_MAX terms");
    for (int k = 0; k < e.n_in; k++) nn_rd__ein_strides(&e, &in[k], k, st_k[k]);
    double *acc = (double *)nn_op_scratch(c, nout * sizeof(double));
    uint64_t *iacc = (uint64_t *)acc;
    if (!acc) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    memset(acc, 0, nout * sizeof(double));
    size_t off[NN_RD__EIN_OPS] = {0}, ooff = 0;
    int64_t idx[NN_RD__EIN_LABELS] = {0};
    for (size_t t = 0; t < total; t++) {
        if (ints) {
            uint64_t p = 1;
            for (int k = 0; k < e.n_in; k++) p *= nn_rd__load_int(in[k].data, in[k].dtype, off[k]);
            iacc[ooff] += p;
        } else {
            double p = 1;
            for (int k = 0; k < e.n_in; k++) p *= nn_rd__load(in[k].data, in[k].dtype, off[k]);
            acc[ooff] += p;
        }
        for (int i = ns - 1; i >= 0; i--) {
            int id = slots[i];
            for (int k = 0; k < e.n_in; k++) off[k] += (size_t)st_k[k][id];
            ooff += (size_t)ost[id];
            if (++idx[i] < e.size[id]) break;
            for (int k = 0; k < e.n_in; k++) off[k] -= (size_t)(st_k[k][id] * e.size[id]);
            ooff -= (size_t)(ost[id] * e.size[id]);
            idx[i] = 0;
        }
    }
    for (size_t o = 0; o < nout; o++) {
        if (ints) nn_rd__store_int(out[0].data, out[0].dtype, o, iacc[o]);
        else nn_rd__store(out[0].data, out[0].dtype, o, acc[o]);
    }
    return NN_OK;
}

/* ---- Attention (ONNX 23, ai.nnport Attention) ---- */

/* Scaled dot-product attention, ONNX Attention-23 without a KV cache:
       Y[b,h] = softmax(Q[b,h] K[b,h']^T * scale + mask[b,h]) V[b,h']
   Q is (B,Hq,S,D), or (B,S,Hq*D) with q_num_heads; K and V are (B,Hk,L,D)
   and (B,Hk,L,Dv), or 3-D with kv_num_heads; query head h reads key head
   h' = h / (Hq/Hk) (grouped-query attention).  Y is (B,Hq,S,Dv) or
   (B,S,Hq*Dv).  scale defaults to 1/sqrt(D); mask is added (float) or
   selects (bool, false = -inf) and broadcasts to (B,Hq,S,L); is_causal
   masks key j > query s, aligned top-left as Attention-23 specifies ("the
   upper left causal bias"; the ONNX test data and ORT 1.30 agree when
   S != L).  past_key/past_value, softcap and the present/qk_matmul_output
   outputs are refused with NN_ERR_UNSUPPORTED.  The same kernel runs
   the `ai.nnport` Attention the `attention` pass emits for models below
   opset 23 (docs/OPTIMIZATION.md). */
typedef struct nn_rd__attn {
    int64_t B, Hq, Hk, S, L, D, Dv;
    int64_t qs[3], ks[3], vs[3], ys[3]; /* batch, head, sequence strides (elements) */
    const float *q, *k, *v;
    float *y;
    const void *mask;      /* NULL, float or bool */
    nn_dtype mask_t;
    int64_t ms[4];         /* mask broadcast strides over (B,Hq,S,L) */
    int causal;
    double scale;
    double *row;           /* scratch: rows x L */
} nn_rd__attn;

/* Strides of a (B,H,T,E) view of a 4-D (B,H,T,E) or 3-D (B,T,H*E) tensor. */
static void nn_rd__attn_strides(int rank, int64_t H, int64_t T, int64_t E, int64_t *s) {
    if (rank == 4) { s[0] = H * T * E; s[1] = T * E; s[2] = E; }
    else { s[0] = T * H * E; s[1] = E; s[2] = H * E; }
}

/* Two dims that are both known and differ (NN_DIM_UNKNOWN matches anything:
   before run time a symbolic sequence length is unknown, not wrong). */
#define NN_RD__DIFF(x, y) ((x) >= 0 && (y) >= 0 && (x) != (y))

/* Reads the dims of Q/K/V; NN_ERR_SHAPE when they disagree.  Unknown dims
   (shape inference on a model with symbolic dims) stay NN_DIM_UNKNOWN and
   are checked at run time, when every dim is known. */
static nn_status nn_rd__attn_dims(nn_op_ctx *c, const nn_value *in, nn_rd__attn *a) {
    const nn_shape *q = &in[0].shape, *k = &in[1].shape, *v = &in[2].shape;
    int r = q->rank;
    if (r != 3 && r != 4) return nn_op_error(c, NN_ERR_SHAPE, "Q must be 3-D or 4-D");
    if (k->rank != r || v->rank != r) return nn_op_error(c, NN_ERR_SHAPE, "Q, K and V must have the same rank");
    a->B = q->dims[0];
    if (r == 4) {
        a->Hq = q->dims[1]; a->S = q->dims[2]; a->D = q->dims[3];
        a->Hk = k->dims[1]; a->L = k->dims[2]; a->Dv = v->dims[3];
        if (NN_RD__DIFF(k->dims[3], a->D) || NN_RD__DIFF(v->dims[1], a->Hk) || NN_RD__DIFF(v->dims[2], a->L))
            return nn_op_error(c, NN_ERR_SHAPE, "K/V do not match Q (B,H,S,D)");
    } else {
        a->Hq = nn_node_attr_int(c->node, "q_num_heads", 0);
        a->Hk = nn_node_attr_int(c->node, "kv_num_heads", 0);
        if (a->Hq <= 0 || a->Hk <= 0) return nn_op_error(c, NN_ERR_INVALID, "3-D inputs need q_num_heads and kv_num_heads");
        if ((q->dims[2] >= 0 && q->dims[2] % a->Hq) || (k->dims[2] >= 0 && k->dims[2] % a->Hk) ||
            (v->dims[2] >= 0 && v->dims[2] % a->Hk))
            return nn_op_error(c, NN_ERR_SHAPE, "hidden sizes are not multiples of the head counts");
        a->S = q->dims[1]; a->D = q->dims[2] < 0 ? NN_DIM_UNKNOWN : q->dims[2] / a->Hq;
        a->L = k->dims[1]; a->Dv = v->dims[2] < 0 ? NN_DIM_UNKNOWN : v->dims[2] / a->Hk;
        if (NN_RD__DIFF(k->dims[2] < 0 ? NN_DIM_UNKNOWN : k->dims[2] / a->Hk, a->D) || NN_RD__DIFF(v->dims[1], a->L))
            return nn_op_error(c, NN_ERR_SHAPE, "K/V do not match Q");
    }
    if (NN_RD__DIFF(k->dims[0], a->B) || NN_RD__DIFF(v->dims[0], a->B))
        return nn_op_error(c, NN_ERR_SHAPE, "Q, K, V batch sizes differ");
    if (a->Hk == 0 || (a->Hk > 0 && a->Hq >= 0 && a->Hq % a->Hk))
        return nn_op_error(c, NN_ERR_SHAPE, "q heads are not a multiple of kv heads");
    return NN_OK;
}

static nn_status nn_rd__attn_infer(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    for (uint32_t i = 4; i < n_in; i++)
        if (in[i].dtype != NN_DTYPE_UNDEFINED)
            return nn_op_error(c, NN_ERR_UNSUPPORTED, "past_key/past_value (a KV cache) are not supported");
    for (uint32_t o = 1; o < n_out; o++)
        if (c->node && o < c->node->output_count && c->node->outputs[o].id != NN_INVALID_ID)
            return nn_op_error(c, NN_ERR_UNSUPPORTED, "the present_key/present_value/qk_matmul_output outputs are not supported");
    for (uint32_t i = 0; i < 3; i++)
        if (in[i].dtype != NN_DTYPE_FLOAT) return nn_op_error(c, NN_ERR_UNSUPPORTED, "Q, K, V must be float32");
    if (n_in > 3 && in[3].dtype != NN_DTYPE_UNDEFINED && in[3].dtype != NN_DTYPE_FLOAT && in[3].dtype != NN_DTYPE_BOOL)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "attn_mask must be float32 or bool");
    if (nn_node_attr_float(c->node, "softcap", 0.0f) != 0.0f || nn_node_attr_int(c->node, "qk_matmul_output_mode", 0) != 0)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "softcap and qk_matmul_output_mode are not supported");
    out[0].dtype = NN_DTYPE_FLOAT;
    out[0].shape = nn_shape_make(NN_RANK_UNKNOWN, NULL);
    if (in[0].shape.rank < 0 || in[1].shape.rank < 0 || in[2].shape.rank < 0) return NN_OK;
    nn_rd__attn a;
    nn_status st = nn_rd__attn_dims(c, in, &a);
    if (st) return st;
    out[0].shape = in[0].shape;
    if (in[0].shape.rank == 4) out[0].shape.dims[3] = a.Dv;
    else out[0].shape.dims[2] = a.Dv < 0 ? NN_DIM_UNKNOWN : a.Hq * a.Dv;
    return NN_OK;
}

static void nn_rd__attn_range(void *arg, size_t lo, size_t hi) {
    const nn_rd__attn *a = (const nn_rd__attn *)arg;
    for (size_t r = lo; r < hi; r++) { /* r = (b*Hq + h)*S + s */
        int64_t s = (int64_t)r % a->S, bh = (int64_t)r / a->S, h = bh % a->Hq, b = bh / a->Hq, hk = h / (a->Hq / a->Hk);
        const float *q = a->q + b * a->qs[0] + h * a->qs[1] + s * a->qs[2];
        double *row = a->row + r * (size_t)a->L, mx = -INFINITY;
        for (int64_t j = 0; j < a->L; j++) {
            const float *k = a->k + b * a->ks[0] + hk * a->ks[1] + j * a->ks[2];
            double dot = 0;
            for (int64_t d = 0; d < a->D; d++) dot += (double)q[d] * (double)k[d];
            double z = dot * a->scale;
            if (a->mask) {
                size_t mo = (size_t)(b * a->ms[0] + h * a->ms[1] + s * a->ms[2] + j * a->ms[3]);
                if (a->mask_t == NN_DTYPE_BOOL) z = ((const uint8_t *)a->mask)[mo] ? z : -INFINITY;
                else z += (double)((const float *)a->mask)[mo];
            }
            if (a->causal && j > s) z = -INFINITY;
            row[j] = z;
            if (z > mx) mx = z;
        }
        double sum = 0;
        for (int64_t j = 0; j < a->L; j++) { row[j] = mx == -INFINITY ? 0.0 : exp(row[j] - mx); sum += row[j]; }
        float *y = a->y + b * a->ys[0] + h * a->ys[1] + s * a->ys[2];
        for (int64_t e = 0; e < a->Dv; e++) {
            double acc = 0;
            for (int64_t j = 0; j < a->L; j++) acc += row[j] * (double)a->v[b * a->vs[0] + hk * a->vs[1] + j * a->vs[2] + e];
            y[e] = (float)(sum > 0 ? acc / sum : 0.0);
        }
    }
}

static nn_status nn_rd__attn_run(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    (void)n_out;
    nn_rd__attn a;
    memset(&a, 0, sizeof a);
    nn_status st = nn_rd__attn_dims(c, in, &a);
    if (st) return st;
    int r = in[0].shape.rank;
    nn_rd__attn_strides(r, a.Hq, a.S, a.D, a.qs);
    nn_rd__attn_strides(r, a.Hk, a.L, a.D, a.ks);
    nn_rd__attn_strides(r, a.Hk, a.L, a.Dv, a.vs);
    nn_rd__attn_strides(r, a.Hq, a.S, a.Dv, a.ys);
    a.q = (const float *)in[0].data;
    a.k = (const float *)in[1].data;
    a.v = (const float *)in[2].data;
    a.y = (float *)out[0].data;
    a.causal = nn_node_attr_int(c->node, "is_causal", 0) != 0;
    a.scale = nn_node_attr(c->node, "scale") ? (double)nn_node_attr_float(c->node, "scale", 1.0f)
                                             : 1.0 / sqrt((double)(a.D > 0 ? a.D : 1));
    if (n_in > 3 && in[3].dtype != NN_DTYPE_UNDEFINED && in[3].data) {
        int64_t full[4] = {a.B, a.Hq, a.S, a.L};
        nn_shape fs = nn_shape_make(4, full);
        const nn_shape *ms = &in[3].shape;
        if (ms->rank > 4) return nn_op_error(c, NN_ERR_SHAPE, "attn_mask has rank above 4");
        for (int32_t d = 0; d < ms->rank; d++) {
            int64_t md = ms->dims[d], fd = full[4 - ms->rank + d];
            if (md != 1 && md != fd) return nn_op_error(c, NN_ERR_SHAPE, "attn_mask does not broadcast to (B,H,S,L)");
        }
        nn_op__bcast_strides(ms, &fs, a.ms);
        a.mask = in[3].data;
        a.mask_t = in[3].dtype;
    }
    size_t rows = (size_t)(a.B * a.Hq * a.S), bytes;
    if (rows == 0 || a.L == 0) { memset(out[0].data, 0, out[0].bytes); return NN_OK; }
    if (!nn_size_mul(rows, (size_t)a.L, &bytes) || !nn_size_mul(bytes, sizeof(double), &bytes))
        return nn_op_error(c, NN_ERR_LIMIT, "attention scores overflow size_t");
    a.row = (double *)nn_op_scratch(c, bytes);
    if (!a.row) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    nn_op_parallel(c, rows, 4, nn_rd__attn_range, &a);
    return NN_OK;
}

/* ---- NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss ---- */

typedef enum nn_rd__reduction { NN_RD_RED_NONE, NN_RD_RED_SUM, NN_RD_RED_MEAN } nn_rd__reduction;

static nn_status nn_rd__loss_reduction(nn_op_ctx *c, nn_rd__reduction *r) {
    const char *s = nn_node_attr_string(c->node, "reduction", "mean");
    if (strcmp(s, "none") == 0) *r = NN_RD_RED_NONE;
    else if (strcmp(s, "sum") == 0) *r = NN_RD_RED_SUM;
    else if (strcmp(s, "mean") == 0) *r = NN_RD_RED_MEAN;
    else return nn_op_error(c, NN_ERR_INVALID, "reduction '%s' is not none, sum or mean", s);
    return NN_OK;
}

/* Both losses: input/scores (N, C, d1..dk), target (N, d1..dk); loss is
   (N, d1..dk) for reduction none, else a scalar; SCE's log_prob is (N, C, d1..dk). */
static nn_status nn_rd__loss_infer(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_rd__reduction red;
    const nn_shape *s = &in[0].shape, *t = &in[1].shape;
    nn_status st = nn_rd__check_dtype(c, in[0].dtype, 0, 0);
    if (st == NN_OK) st = nn_rd__loss_reduction(c, &red);
    if (st) return st;
    if (in[1].dtype != NN_DTYPE_INT32 && in[1].dtype != NN_DTYPE_INT64 && in[1].dtype != NN_DTYPE_UNDEFINED)
        return nn_op_error(c, NN_ERR_INVALID, "target must be int32 or int64");
    if (s->rank >= 0 && s->rank < 2) return nn_op_error(c, NN_ERR_SHAPE, "input must have rank 2 or more");
    if (s->rank >= 0 && t->rank >= 0 && t->rank != s->rank - 1)
        return nn_op_error(c, NN_ERR_SHAPE, "target rank must be input rank - 1");
    for (int32_t d = 0; s->rank >= 0 && d < t->rank; d++) {
        int64_t sd = s->dims[d ? d + 1 : 0], td = t->dims[d];
        if (sd >= 0 && td >= 0 && sd != td) return nn_op_error(c, NN_ERR_SHAPE, "target must be (N, d1, .., dk) of the input");
    }
    if (nn_rd__has(in, n_in, 2) && in[2].shape.rank >= 0 && in[2].shape.rank != 1)
        return nn_op_error(c, NN_ERR_SHAPE, "weight must be 1-D (C)");
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = 0;
    if (red == NN_RD_RED_NONE) {
        out[0].shape.rank = s->rank < 0 ? NN_RANK_UNKNOWN : s->rank - 1;
        for (int32_t d = 0; d + 1 < s->rank; d++) out[0].shape.dims[d] = s->dims[d ? d + 1 : 0];
    }
    if (n_out > 1) { out[1].dtype = in[0].dtype; out[1].shape = *s; }
    return NN_OK;
}

/* loss(n, d) = -lp[n, t, d] * w[t] with t = target[n, d]; ignore_index
   targets count as weight 0.  Mean divides by the sum of the weights, as
   the spec's reference does (so 0/0 when every target is ignored). */
static nn_status nn_rd__nll_core(nn_op_ctx *c, const double *lp, const nn_value *in, uint32_t n_in, nn_value *out,
                                 size_t nb, size_t ncls, size_t nd) {
    const nn_attr *ii = nn_node_attr(c->node, "ignore_index");
    const nn_value *target = &in[1], *weight = nn_rd__has(in, n_in, 2) ? &in[2] : NULL;
    nn_rd__reduction red;
    double sum = 0, wsum = 0;
    nn_status st = nn_rd__loss_reduction(c, &red);
    if (st) return st;
    if (weight && nn_value_count(weight) != ncls) return nn_op_error(c, NN_ERR_SHAPE, "weight must have C = %zu values", ncls);
    if (nn_value_count(target) != nb * nd) return nn_op_error(c, NN_ERR_SHAPE, "target shape does not match the input");
    for (size_t b = 0; b < nb; b++)
        for (size_t d = 0; d < nd; d++) {
            int64_t t = nn_op__int_at(target, b * nd + d);
            double w = 0, loss = 0;
            if (!(ii && t == ii->i)) {
                if (t < 0 || (size_t)t >= ncls)
                    return nn_op_error(c, NN_ERR_INVALID, "target %lld is outside [0, %zu)", (long long)t, ncls);
                w = weight ? nn_rd__load(weight->data, weight->dtype, (size_t)t) : 1;
                loss = -lp[(b * ncls + (size_t)t) * nd + d] * w;
            }
            if (red == NN_RD_RED_NONE) nn_rd__store(out->data, out->dtype, b * nd + d, loss);
            sum += loss;
            wsum += w;
        }
    if (red != NN_RD_RED_NONE) nn_rd__store(out->data, out->dtype, 0, red == NN_RD_RED_SUM ? sum : sum / wsum);
    return NN_OK;
}

static nn_status nn_rd__loss_run(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    int sce = strcmp(c->node->op_type, "SoftmaxCrossEntropyLoss") == 0;
    nn_rd__span v = nn_rd__split(&in[0].shape, 1, 2);
    size_t count = nn_value_count(&in[0]), lines;
    if (!nn_size_mul(v.outer, v.inner, &lines) || lines != nn_value_count(&in[1]))
        return nn_op_error(c, NN_ERR_SHAPE, "target shape does not match the input");
    double *lp = (double *)nn_op_scratch(c, (count + 1) * sizeof(double));
    if (!lp) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    for (size_t i = 0; i < count; i++) lp[i] = nn_rd__load(in[0].data, in[0].dtype, i);
    if (sce) /* log-softmax over the class axis, in place */
        for (size_t b = 0; b < v.outer; b++)
            for (size_t d = 0; d < v.inner; d++) {
                double *x = lp + b * v.n * v.inner + d, m = -INFINITY, s = 0;
                for (size_t k = 0; k < v.n; k++) m = x[k * v.inner] > m ? x[k * v.inner] : m;
                for (size_t k = 0; k < v.n; k++) s += exp(x[k * v.inner] - m);
                for (size_t k = 0; k < v.n; k++) x[k * v.inner] -= m + log(s);
            }
    if (sce && n_out > 1 && out[1].data)
        for (size_t i = 0; i < count; i++) nn_rd__store(out[1].data, out[1].dtype, i, lp[i]);
    return nn_rd__nll_core(c, lp, in, n_in, &out[0], v.outer, v.n, v.inner);
}

/* ---- Det ---- */

static nn_status nn_rd__det_infer(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_shape *s = &in[0].shape;
    (void)n_in; (void)n_out;
    nn_status st = nn_rd__check_dtype(c, in[0].dtype, 0, 0);
    if (st) return st;
    out[0].dtype = in[0].dtype;
    out[0].shape.rank = NN_RANK_UNKNOWN;
    if (s->rank < 0) return NN_OK;
    if (s->rank < 2) return nn_op_error(c, NN_ERR_SHAPE, "input must have rank 2 or more");
    int64_t a = s->dims[s->rank - 2], b = s->dims[s->rank - 1];
    if (a >= 0 && b >= 0 && a != b) return nn_op_error(c, NN_ERR_SHAPE, "matrices must be square, got %lldx%lld", (long long)a, (long long)b);
    out[0].shape = nn_shape_make(s->rank - 2, s->dims);
    return NN_OK;
}

/* Determinant of each (M, M) matrix by LU decomposition with partial
   pivoting in double: the product of the pivots, negated per row swap. */
static nn_status nn_rd__det_run(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    size_t m = (size_t)in[0].shape.dims[in[0].shape.rank - 1], mats = nn_value_count(&out[0]);
    double *a = (double *)nn_op_scratch(c, (m * m + 1) * sizeof(double));
    (void)n_in; (void)n_out;
    if (!a) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    for (size_t t = 0; t < mats; t++) {
        double det = 1;
        for (size_t i = 0; i < m * m; i++) a[i] = nn_rd__load(in[0].data, in[0].dtype, t * m * m + i);
        for (size_t col = 0; col < m && det != 0; col++) {
            size_t p = col;
            for (size_t r = col + 1; r < m; r++) if (fabs(a[r * m + col]) > fabs(a[p * m + col])) p = r;
            if (p != col) {
                for (size_t k = 0; k < m; k++) { double tmp = a[p * m + k]; a[p * m + k] = a[col * m + k]; a[col * m + k] = tmp; }
                det = -det;
            }
            double piv = a[col * m + col];
            det *= piv;
            if (piv == 0) break;
            for (size_t r = col + 1; r < m; r++) {
                double f = a[r * m + col] / piv;
                for (size_t k = col; k < m; k++) a[r * m + k] -= f * a[col * m + k];
            }
        }
        nn_rd__store(out[0].data, out[0].dtype, t, det);
    }
    return NN_OK;
}

/* ---- table ----

   Opset differences handled inside the kernels (c->opset):
     Reduce*            axes attribute before 13 (ReduceSum) / 18 (others),
                        an input from then on; noop_with_empty_axes with it.
                        ReduceMax/Min take bool (20) and int8/uint8 (12).
     Softmax family     before 13: coerced to 2-D at axis (default 1);
                        from 13: along one axis (default -1).
     GroupNormalization scale/bias per group at 18, per channel from 21.
     CumProd            new at 26 (CumSum's sibling), accepted at 26 only. */

#define NN_RD__REDUCE_ATTRS "axes,keepdims,noop_with_empty_axes"

/* ---- kernels: control flow (If, Loop, Scan) and recurrent layers (RNN, GRU, LSTM) ----------

   If, Loop and Scan run their bodies with nn_op_run_subgraph in a child
   scope of the node and hand the body's values over as their outputs.
   RNN, GRU and LSTM are float reference kernels: float16, bfloat16 and
   double tensors are computed in float32.  Comments cite the operator
   sections of the ONNX spec (onnx.ai/onnx/operators/onnx__<Op>.html).

   Values that this IR has no type for (sequences, optionals) never reach
   these kernels as tensors: a loop-carried or branch value without a tensor
   type is refused with NN_ERR_UNSUPPORTED.

   Config: NN_MAX_LOOP_ITERATIONS (below); NN_NO_VECTOR_EXT builds the
   recurrent layers' dot product without GCC/Clang vector extensions. */

#ifndef NN_MAX_LOOP_ITERATIONS
/* A Loop with neither a trip count nor a condition that ever turns false is
   a legal infinite loop (Loop spec, operating mode ("", "")).  A run stops
   after this many iterations with NN_ERR_LIMIT, so bad input cannot hang
   the caller.  A trip count above it is refused the same way. */
#define NN_MAX_LOOP_ITERATIONS (1 << 24)
#endif

/* ---- control flow: shared helpers ----------------------------------------------------- */

/* The subgraph held by graph attribute `name` of the node. */
static nn_status nn_cf__body(nn_op_ctx *c, const char *name, const nn_graph **out) {
    const nn_attr *a = nn_node_attr(c->node, name);
    if (!a || a->type != NN_ATTR_GRAPH || !a->g)
        return nn_op_error(c, NN_ERR_INVALID, "needs the graph attribute '%s'", name);
    *out = a->g;
    return NN_OK;
}

/* Declared type of body output / input i. */
static const nn_tensor *nn_cf__body_out(const nn_graph *g, uint32_t i) { return &g->tensors[g->outputs[i].id]; }
static const nn_tensor *nn_cf__body_in(const nn_graph *g, uint32_t i) { return &g->tensors[g->inputs[i].id]; }

/* 1 when output o of the node is consumed (not omitted with ""). */
static int nn_cf__wanted(const nn_op_ctx *c, uint32_t o) {
    return !c->node || (o < c->node->output_count && c->node->outputs[o].id != NN_INVALID_ID);
}

/* The dims on which a and b agree, the others unknown: the shape of a value
   that is one or the other (If branches, a loop's initial and later values). */
static nn_shape nn_cf__merge(const nn_shape *a, const nn_shape *b) {
    nn_shape s;
    memset(&s, 0, sizeof s);
    if (a->rank < 0 || a->rank != b->rank) {
        s.rank = NN_RANK_UNKNOWN;
        return s;
    }
    s.rank = a->rank;
    for (int32_t i = 0; i < a->rank; i++) s.dims[i] = a->dims[i] == b->dims[i] ? a->dims[i] : NN_DIM_UNKNOWN;
    return s;
}

/* shape with extra inserted at axis (0..rank); unknown rank stays unknown. */
static nn_shape nn_cf__insert_dim(const nn_shape *s, int32_t axis, int64_t extra) {
    nn_shape r;
    memset(&r, 0, sizeof r);
    if (s->rank < 0 || s->rank + 1 > NN_MAX_RANK || axis < 0 || axis > s->rank) {
        r.rank = NN_RANK_UNKNOWN;
        return r;
    }
    r.rank = s->rank + 1;
    for (int32_t i = 0, k = 0; i < r.rank; i++) r.dims[i] = i == axis ? extra : s->dims[k++];
    return r;
}

/* Reads a one-element condition: nonzero is true. */
static nn_status nn_cf__truth(nn_op_ctx *c, const nn_value *v, const char *what, int *out) {
    if (!v->data || v->dtype == NN_DTYPE_UNDEFINED || nn_value_count(v) != 1)
        return nn_op_error(c, NN_ERR_INVALID, "%s must be a tensor of exactly one element", what);
    *out = nn_op__load(v->data, v->dtype, 0) != 0;
    return NN_OK;
}

/* *dst = an owned copy of src. */
static nn_status nn_cf__copy(nn_op_ctx *c, const nn_value *src, nn_value *dst) {
    memset(dst, 0, sizeof *dst);
    dst->dtype = src->dtype;
    dst->shape = src->shape;
    nn_status st = nn_op_alloc_value(c, dst);
    if (st == NN_OK && dst->bytes) {
        if (!src->data || src->bytes < dst->bytes) {
            nn_op_free_value(c, dst);
            return nn_op_error(c, NN_ERR_INVALID, "a %s value holds less data than its shape needs",
                               nn_dtype_name(src->dtype));
        }
        memcpy(dst->data, src->data, dst->bytes);
    }
    return st;
}

/* Refuses a value whose type or shape contradicts what infer gave output
   `index` (from the body's declared types): a wrong declaration is
   reported, never silently reshaped. */
static nn_status nn_cf__check_out(nn_op_ctx *c, const nn_value *out, nn_dtype dtype, const nn_shape *shape,
                                  uint32_t index) {
    if (out->dtype != NN_DTYPE_UNDEFINED && dtype != out->dtype)
        return nn_op_error(c, NN_ERR_INVALID, "output %u is declared %s, the body gave %s", index,
                           nn_dtype_name(out->dtype), nn_dtype_name(dtype));
    if (out->shape.rank >= 0) {
        int ok = shape->rank == out->shape.rank;
        for (int32_t i = 0; ok && i < shape->rank; i++)
            if (out->shape.dims[i] >= 0 && out->shape.dims[i] != shape->dims[i]) ok = 0;
        if (!ok) {
            char a[96], b[96];
            return nn_op_error(c, NN_ERR_SHAPE, "output %u is %s, its declared shape is %s", index,
                               nn_shape_str(shape, a, sizeof a), nn_shape_str(&out->shape, b, sizeof b));
        }
    }
    return NN_OK;
}

/* Makes v the node's output *out and clears v.  An owned v (from a subgraph
   run or nn_op_alloc_value) is handed over; a borrowed one is copied.  When
   infer gave a static shape the executor has already allocated *out; that
   buffer is released in favour of v. */
static nn_status nn_cf__adopt(nn_op_ctx *c, nn_value *out, nn_value *v, uint32_t index) {
    nn_status st = nn_cf__check_out(c, out, v->dtype, &v->shape, index);
    if (st) return st;
    nn_value r;
    if (v->flags & NN_VALUE_OWNED) {
        r = *v;
    } else {
        st = nn_cf__copy(c, v, &r);
        if (st) return st;
    }
    memset(v, 0, sizeof *v);
    nn_op_free_value(c, out);
    *out = r;
    return NN_OK;
}

/* Allocates *out as dtype x shape unless the executor already did (then
   the shapes must agree). */
static nn_status nn_cf__ensure_out(nn_op_ctx *c, nn_value *out, nn_dtype dtype, const nn_shape *shape,
                                   uint32_t index) {
    nn_status st = nn_cf__check_out(c, out, dtype, shape, index);
    if (st) return st;
    if (out->data && nn_shape_equal(&out->shape, shape)) return NN_OK;
    nn_op_free_value(c, out);
    out->dtype = dtype;
    out->shape = *shape;
    return nn_op_alloc_value(c, out);
}

/* Zero-filled value for a scan output of a body that never ran: the body's
   declared per-iteration type with `len` inserted at axis; declared dims
   that are unknown are taken as 0 (the value is empty either way). */
static nn_status nn_cf__empty_scan(nn_op_ctx *c, const nn_tensor *decl, nn_dtype dtype, int64_t axis, int64_t len,
                                   nn_value *out) {
    nn_shape per;
    memset(&per, 0, sizeof per);
    memset(out, 0, sizeof *out);
    if (dtype == NN_DTYPE_UNDEFINED) dtype = decl->dtype;
    if (dtype == NN_DTYPE_UNDEFINED)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "scan output '%s' has no declared type and the body never ran",
                           decl->name);
    if (decl->shape.rank > 0) per = decl->shape;
    for (int32_t i = 0; i < per.rank; i++)
        if (per.dims[i] < 0) per.dims[i] = 0;
    int32_t a;
    if (!nn_op__axis(axis, per.rank + 1, &a)) a = 0;
    out->dtype = dtype;
    out->shape = nn_cf__insert_dim(&per, a, len);
    if (out->shape.rank < 0) return nn_op_error(c, NN_ERR_LIMIT, "scan output rank above NN_MAX_RANK");
    return nn_op_alloc_value(c, out);
}

/* Growable stack of one Loop scan output: each iteration's value appended
   as a row, concatenated along a new axis 0 at the end (Loop spec). */
typedef struct nn_cf__stack {
    nn_dtype dtype;
    nn_shape shape; /* of one iteration's value */
    size_t step;    /* its bytes */
    size_t count;   /* rows pushed */
    size_t cap;     /* bytes at data */
    char *data;     /* (count, shape...) */
} nn_cf__stack;

static nn_status nn_cf__stack_push(nn_op_ctx *c, nn_cf__stack *s, const nn_value *v, uint32_t index) {
    if (s->count == 0) {
        if (nn_dtype_bits(v->dtype) == 4 || nn_dtype_size(v->dtype) == 0)
            return nn_op_error(c, NN_ERR_UNSUPPORTED, "scan output %u: %s values cannot be stacked", index,
                               nn_dtype_name(v->dtype));
        s->dtype = v->dtype;
        s->shape = v->shape;
        if (!nn_dtype_bytes_for(v->dtype, nn_value_count(v), &s->step))
            return nn_op_error(c, NN_ERR_LIMIT, "scan output %u too large", index);
    } else if (v->dtype != s->dtype || !nn_shape_equal(&v->shape, &s->shape)) {
        char a[96], b[96];
        return nn_op_error(c, NN_ERR_SHAPE, "scan output %u changes from %s %s to %s %s between iterations", index,
                           nn_dtype_name(s->dtype), nn_shape_str(&s->shape, a, sizeof a), nn_dtype_name(v->dtype),
                           nn_shape_str(&v->shape, b, sizeof b));
    }
    size_t need, off;
    if (!nn_size_mul(s->count + 1, s->step, &need) || !nn_size_mul(s->count, s->step, &off))
        return nn_op_error(c, NN_ERR_LIMIT, "scan output %u too large", index);
    if (need > s->cap) {
        size_t cap = s->cap > need / 2 ? s->cap * 2 : need; /* doubling: amortized O(1) per row */
        if (cap < need) cap = need;                         /* the doubling overflowed */
        char *p = (char *)nn_alloc(c->alloc, cap);
        if (!p) return nn_op_error(c, NN_ERR_NOMEM, "out of memory stacking scan output %u", index);
        if (off) memcpy(p, s->data, off);
        nn_free(c->alloc, s->data);
        s->data = p;
        s->cap = cap;
    }
    if (s->step) memcpy(s->data + off, v->data, s->step);
    s->count++;
    return NN_OK;
}

/* The stacked rows as one owned value of shape (count, shape...). */
static nn_status nn_cf__stack_value(nn_op_ctx *c, const nn_cf__stack *s, nn_value *out) {
    memset(out, 0, sizeof *out);
    out->dtype = s->dtype;
    out->shape = nn_cf__insert_dim(&s->shape, 0, (int64_t)s->count);
    if (out->shape.rank < 0) return nn_op_error(c, NN_ERR_LIMIT, "scan output rank above NN_MAX_RANK");
    nn_status st = nn_op_alloc_value(c, out);
    if (st == NN_OK && out->bytes) memcpy(out->data, s->data, out->bytes);
    return st;
}

/* ---- If ---------------------------------------------------------------------------------- */

/* If-1..23: cond (a one-element bool tensor) picks then_branch or
   else_branch; both take no inputs and give the node's outputs.  Opset 11+
   lets the branches give different shapes of the same element type, so an
   output's shape is what both declarations agree on unless cond is known. */
static nn_status nn_cf__infer_if(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_graph *tb = NULL, *eb = NULL;
    (void)n_in;
    nn_status st = nn_cf__body(c, "then_branch", &tb);
    if (st == NN_OK) st = nn_cf__body(c, "else_branch", &eb);
    if (st) return st;
    if (tb->output_count != n_out || eb->output_count != n_out || tb->input_count || eb->input_count)
        return nn_op_error(c, NN_ERR_INVALID, "then_branch gives %u outputs and else_branch %u, the node has %u",
                           tb->output_count, eb->output_count, n_out);
    if (in[0].dtype != NN_DTYPE_UNDEFINED && in[0].dtype != NN_DTYPE_BOOL)
        return nn_op_error(c, NN_ERR_INVALID, "cond must be bool, got %s", nn_dtype_name(in[0].dtype));
    int which = -1;
    if (in[0].data) {
        st = nn_cf__truth(c, &in[0], "cond", &which);
        if (st) return st;
    }
    for (uint32_t o = 0; o < n_out; o++) {
        const nn_tensor *a = nn_cf__body_out(tb, o), *b = nn_cf__body_out(eb, o);
        if (a->dtype && b->dtype && a->dtype != b->dtype)
            return nn_op_error(c, NN_ERR_INVALID, "output %u is %s in then_branch and %s in else_branch", o,
                               nn_dtype_name(a->dtype), nn_dtype_name(b->dtype));
        if (!nn_cf__wanted(c, o)) continue;
        out[o].dtype = which == 1 ? a->dtype : which == 0 ? b->dtype : a->dtype ? a->dtype : b->dtype;
        out[o].shape = which == 1 ? a->shape : which == 0 ? b->shape : nn_cf__merge(&a->shape, &b->shape);
    }
    return NN_OK;
}

static nn_status nn_cf__run_if(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_graph *body = NULL;
    int which = 0;
    (void)n_in;
    nn_status st = nn_cf__truth(c, &in[0], "cond", &which);
    if (st == NN_OK) st = nn_cf__body(c, which ? "then_branch" : "else_branch", &body);
    if (st) return st;
    nn_value *res = (nn_value *)nn_op_scratch(c, n_out * sizeof(nn_value));
    if (!res) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    memset(res, 0, n_out * sizeof(nn_value));
    st = nn_op_run_subgraph(c, body, NULL, 0, res, n_out);
    for (uint32_t o = 0; o < n_out && st == NN_OK; o++)
        if (nn_cf__wanted(c, o)) st = nn_cf__adopt(c, &out[o], &res[o], o);
    for (uint32_t o = 0; o < n_out; o++) nn_op_free_value(c, &res[o]);
    return st;
}

/* ---- Loop -------------------------------------------------------------------------------- */

/* Loop-1..23 inputs: M (optional int64 trip count), cond (optional bool),
   v_initial (N loop-carried values).  Body: (iteration_num, cond,
   v...) -> (cond, v..., scan outputs...).  Node outputs: the N final
   values, then each scan output stacked along a new axis 0.  Loop-carried
   values may change shape between iterations (opset 11+). */
static nn_status nn_cf__infer_loop(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_graph *body = NULL;
    nn_status st = nn_cf__body(c, "body", &body);
    if (st) return st;
    uint32_t nc = n_in - 2;
    if (n_out < nc || body->input_count != 2 + nc || body->output_count != 1 + n_out)
        return nn_op_error(c, NN_ERR_INVALID,
                           "body takes %u inputs and gives %u outputs; with %u loop-carried values and %u node "
                           "outputs it must take %u and give %u",
                           body->input_count, body->output_count, nc, n_out, 2 + nc, 1 + n_out);
    if (in[0].dtype != NN_DTYPE_UNDEFINED && in[0].dtype != NN_DTYPE_INT64)
        return nn_op_error(c, NN_ERR_INVALID, "trip count M must be int64, got %s", nn_dtype_name(in[0].dtype));
    if (in[1].dtype != NN_DTYPE_UNDEFINED && in[1].dtype != NN_DTYPE_BOOL)
        return nn_op_error(c, NN_ERR_INVALID, "cond must be bool, got %s", nn_dtype_name(in[1].dtype));
    for (uint32_t j = 0; j < nc; j++) {
        const nn_tensor *decl = nn_cf__body_out(body, 1 + j);
        int omitted = c->node && c->node->inputs[2 + j].id == NN_INVALID_ID;
        if (omitted || (c->exec && in[2 + j].dtype == NN_DTYPE_UNDEFINED))
            return nn_op_error(c, NN_ERR_UNSUPPORTED,
                               "loop-carried value %u has no tensor type (sequences and optionals are not supported)",
                               j);
        out[j].dtype = in[2 + j].dtype ? in[2 + j].dtype : decl->dtype;
        out[j].shape = nn_cf__merge(&in[2 + j].shape, &decl->shape);
    }
    /* Exactly M iterations only when there is no condition to stop early. */
    int64_t trips = NN_DIM_UNKNOWN;
    if (in[0].data && in[1].dtype == NN_DTYPE_UNDEFINED && nn_value_count(&in[0]) == 1) {
        trips = nn_op__int_at(&in[0], 0);
        if (trips < 0) trips = 0;
        if (trips > NN_MAX_LOOP_ITERATIONS) trips = NN_DIM_UNKNOWN;
    }
    for (uint32_t k = nc; k < n_out; k++) {
        const nn_tensor *decl = nn_cf__body_out(body, 1 + k);
        out[k].dtype = decl->dtype;
        out[k].shape = nn_cf__insert_dim(&decl->shape, 0, trips);
    }
    return NN_OK;
}

/* iteration_num and cond are scalars, or [1] when the body declares so. */
static nn_shape nn_cf__counter_shape(const nn_tensor *decl) {
    int64_t one = 1;
    return nn_shape_make(decl->shape.rank == 1 ? 1 : 0, &one);
}

typedef struct nn_cf__loop_state {
    nn_value *vals;     /* (2 + nc) body inputs */
    nn_value *res;      /* (1 + n_out) body outputs */
    nn_value *carried;  /* (nc) current loop-carried values */
    nn_cf__stack *acc;  /* (n_out - nc) scan outputs */
} nn_cf__loop_state;

/* One Loop iteration: runs the body, takes its loop-carried values and
   stacks its scan outputs; *out_cond is the body's condition output. */
static nn_status nn_cf__loop_step(nn_op_ctx *c, const nn_graph *body, nn_cf__loop_state *ls, uint32_t nc,
                                  uint32_t n_out, int has_cond, int *cond) {
    nn_status st = nn_op_run_subgraph(c, body, ls->vals, 2 + nc, ls->res, 1 + n_out);
    if (st == NN_OK && has_cond) st = nn_cf__truth(c, &ls->res[0], "the body's condition output", cond);
    for (uint32_t j = 0; j < nc && st == NN_OK; j++) {
        nn_value *v = &ls->res[1 + j];
        if (v->dtype != ls->carried[j].dtype)
            st = nn_op_error(c, NN_ERR_INVALID, "loop-carried value %u changes type from %s to %s", j,
                             nn_dtype_name(ls->carried[j].dtype), nn_dtype_name(v->dtype));
        else {
            nn_op_free_value(c, &ls->carried[j]);
            ls->carried[j] = *v;
            memset(v, 0, sizeof *v);
        }
    }
    for (uint32_t k = nc; k < n_out && st == NN_OK; k++) st = nn_cf__stack_push(c, &ls->acc[k - nc], &ls->res[1 + k], k);
    for (uint32_t o = 0; o < 1 + n_out; o++) nn_op_free_value(c, &ls->res[o]);
    return st;
}

static nn_status nn_cf__run_loop(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    const nn_graph *body = NULL;
    nn_status st = nn_cf__body(c, "body", &body);
    if (st) return st;
    uint32_t nc = n_in - 2, ns = n_out - nc;
    int has_m = in[0].dtype != NN_DTYPE_UNDEFINED, has_cond = in[1].dtype != NN_DTYPE_UNDEFINED, cond = 1;
    int64_t m = 0;
    if (has_m) {
        if (!in[0].data || nn_value_count(&in[0]) != 1)
            return nn_op_error(c, NN_ERR_INVALID, "trip count M must be a tensor of exactly one element");
        m = nn_op__int_at(&in[0], 0);
    }
    if (has_cond && (st = nn_cf__truth(c, &in[1], "cond", &cond)) != NN_OK) return st;
    if (has_m && !has_cond && m > NN_MAX_LOOP_ITERATIONS) /* would run past the cap: refuse before starting */
        return nn_op_error(c, NN_ERR_LIMIT, "trip count %lld is above NN_MAX_LOOP_ITERATIONS (%lld)", (long long)m,
                           (long long)NN_MAX_LOOP_ITERATIONS);
    size_t bytes = (3 + (size_t)nc * 2 + n_out) * sizeof(nn_value) + ns * sizeof(nn_cf__stack);
    nn_cf__loop_state ls;
    ls.vals = (nn_value *)nn_op_scratch(c, bytes);
    if (!ls.vals) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    memset(ls.vals, 0, bytes);
    ls.res = ls.vals + 2 + nc;
    ls.carried = ls.res + 1 + n_out;
    ls.acc = (nn_cf__stack *)(ls.carried + nc);
    for (uint32_t j = 0; j < nc; j++) {
        ls.carried[j] = in[2 + j];
        ls.carried[j].flags &= ~NN_VALUE_OWNED; /* borrowed until the first iteration replaces it */
    }
    nn_shape iter_shape = nn_cf__counter_shape(nn_cf__body_in(body, 0));
    nn_shape cond_shape = nn_cf__counter_shape(nn_cf__body_in(body, 1));
    int64_t iter = 0;
    uint8_t cond_byte;
    for (; (!has_m || iter < m) && cond && st == NN_OK; iter++) {
        if (iter >= NN_MAX_LOOP_ITERATIONS) {
            st = nn_op_error(c, NN_ERR_LIMIT, "more than NN_MAX_LOOP_ITERATIONS (%lld) iterations",
                             (long long)NN_MAX_LOOP_ITERATIONS);
            break;
        }
        cond_byte = (uint8_t)cond;
        ls.vals[0] = nn_value_make(NN_DTYPE_INT64, iter_shape, &iter);
        ls.vals[1] = nn_value_make(NN_DTYPE_BOOL, cond_shape, &cond_byte);
        for (uint32_t j = 0; j < nc; j++) {
            ls.vals[2 + j] = ls.carried[j];
            ls.vals[2 + j].flags &= ~NN_VALUE_OWNED;
        }
        /* Without a cond input the body's condition output is ignored (the
           spec's "for" and "infinite" modes). */
        st = nn_cf__loop_step(c, body, &ls, nc, n_out, has_cond, &cond);
    }
    for (uint32_t j = 0; j < nc && st == NN_OK; j++) st = nn_cf__adopt(c, &out[j], &ls.carried[j], j);
    for (uint32_t k = nc; k < n_out && st == NN_OK; k++) {
        nn_value v;
        if (ls.acc[k - nc].count)
            st = nn_cf__stack_value(c, &ls.acc[k - nc], &v);
        else
            st = nn_cf__empty_scan(c, nn_cf__body_out(body, 1 + k), out[k].dtype, 0, 0, &v);
        if (st == NN_OK) st = nn_cf__adopt(c, &out[k], &v, k);
        nn_op_free_value(c, &v);
    }
    for (uint32_t j = 0; j < nc; j++) nn_op_free_value(c, &ls.carried[j]);
    for (uint32_t k = 0; k < ns; k++) nn_free(c->alloc, ls.acc[k].data);
    return st;
}

/* ---- Scan -------------------------------------------------------------------------------- */

/* Scan-8 inputs: sequence_lens (optional), then N states of shape
   (batch, ...) and M scan inputs of shape (batch, sequence, ...); attribute
   `directions` reverses scan inputs, scan outputs are (batch, sequence, ...)
   in iteration order.  Scan-9..23 drop the batch axis and sequence_lens:
   N states, M scan inputs scanned along scan_input_axes (reversed by
   scan_input_directions), scan outputs stacked along scan_output_axes
   (filled from the end by scan_output_directions). */
typedef struct nn_cf__scan {
    const nn_graph *body;
    uint32_t ns, nx, ny;      /* states, scan inputs, scan outputs */
    int batched;              /* opset 8 */
    const nn_attr *in_axes, *in_dirs, *out_axes, *out_dirs;
} nn_cf__scan;

static nn_status nn_cf__scan_attr(nn_op_ctx *c, const char *name, uint32_t count, int flags_only,
                                  const nn_attr **out) {
    const nn_attr *a = nn_node_attr(c->node, name);
    *out = NULL;
    if (!a) return NN_OK;
    if (a->type != NN_ATTR_INTS || a->count != count)
        return nn_op_error(c, NN_ERR_INVALID, "%s must list %u integers", name, count);
    for (uint32_t i = 0; flags_only && i < count; i++)
        if (a->ints[i] != 0 && a->ints[i] != 1)
            return nn_op_error(c, NN_ERR_INVALID, "%s[%u] is %lld; 0 (forward) and 1 (reverse) are defined", name, i,
                               (long long)a->ints[i]);
    *out = a;
    return NN_OK;
}

static nn_status nn_cf__scan_setup(nn_op_ctx *c, uint32_t n_in, uint32_t n_out, nn_cf__scan *s) {
    memset(s, 0, sizeof *s);
    nn_status st = nn_cf__body(c, "body", &s->body);
    if (st) return st;
    s->batched = c->opset < 9;
    const nn_attr *m = nn_node_attr(c->node, "num_scan_inputs");
    uint32_t off = s->batched ? 1 : 0;
    if (!m || m->type != NN_ATTR_INT || m->i < 1 || m->i > (int64_t)n_in - off)
        return nn_op_error(c, NN_ERR_INVALID, "num_scan_inputs must be between 1 and the %u state and scan inputs",
                           n_in - off);
    s->nx = (uint32_t)m->i;
    s->ns = n_in - off - s->nx;
    if (n_out < s->ns || s->body->input_count != s->ns + s->nx || s->body->output_count != n_out)
        return nn_op_error(c, NN_ERR_INVALID,
                           "body takes %u inputs and gives %u outputs; %u states, %u scan inputs and %u node outputs "
                           "need %u and %u",
                           s->body->input_count, s->body->output_count, s->ns, s->nx, n_out, s->ns + s->nx, n_out);
    s->ny = n_out - s->ns;
    static const char *const later[] = {"scan_input_axes", "scan_input_directions", "scan_output_axes",
                                        "scan_output_directions"};
    if (s->batched) {
        for (int i = 0; i < 4; i++)
            if (nn_node_attr(c->node, later[i]))
                return nn_op_error(c, NN_ERR_INVALID, "attribute %s is defined from opset 9, the model uses %lld",
                                   later[i], (long long)c->opset);
        return nn_cf__scan_attr(c, "directions", s->nx, 1, &s->in_dirs);
    }
    if (nn_node_attr(c->node, "directions"))
        return nn_op_error(c, NN_ERR_INVALID, "attribute directions was replaced at opset 9 by scan_input_directions");
    st = nn_cf__scan_attr(c, "scan_input_axes", s->nx, 0, &s->in_axes);
    if (st == NN_OK) st = nn_cf__scan_attr(c, "scan_input_directions", s->nx, 1, &s->in_dirs);
    if (st == NN_OK) st = nn_cf__scan_attr(c, "scan_output_axes", s->ny, 0, &s->out_axes);
    if (st == NN_OK) st = nn_cf__scan_attr(c, "scan_output_directions", s->ny, 1, &s->out_dirs);
    return st;
}

static int64_t nn_cf__ints_or(const nn_attr *a, uint32_t i, int64_t def) { return a ? a->ints[i] : def; }

/* Scan axis of scan input i (opset 9+), normalized against its rank. */
static nn_status nn_cf__scan_in_axis(nn_op_ctx *c, const nn_cf__scan *s, uint32_t i, int32_t rank, int32_t *out) {
    if (s->batched) { *out = 1; return rank >= 2 ? NN_OK : nn_op_error(c, NN_ERR_SHAPE, "scan input %u needs (batch, sequence, ...)", i); }
    if (rank < 1 || !nn_op__axis(nn_cf__ints_or(s->in_axes, i, 0), rank, out))
        return nn_op_error(c, NN_ERR_INVALID, "scan_input_axes[%u] is out of range for a rank-%d input", i, rank);
    return NN_OK;
}

static nn_status nn_cf__infer_scan(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_cf__scan s;
    nn_status st = nn_cf__scan_setup(c, n_in, n_out, &s);
    if (st) return st;
    uint32_t off = s.batched ? 1 : 0;
    if (s.batched && in[0].dtype != NN_DTYPE_UNDEFINED && in[0].dtype != NN_DTYPE_INT64 && in[0].dtype != NN_DTYPE_INT32)
        return nn_op_error(c, NN_ERR_INVALID, "sequence_lens must be int64, got %s", nn_dtype_name(in[0].dtype));
    int64_t batch = NN_DIM_UNKNOWN, len = NN_DIM_UNKNOWN;
    const nn_value *x0 = &in[off + s.ns];
    if (x0->shape.rank >= 0) {
        int32_t a = 0;
        st = nn_cf__scan_in_axis(c, &s, 0, x0->shape.rank, &a);
        if (st) return st;
        len = x0->shape.dims[a];
        if (s.batched) batch = x0->shape.dims[0];
    }
    for (uint32_t j = 0; j < s.ns; j++) {
        const nn_value *v = &in[off + j];
        nn_shape decl = nn_cf__body_out(s.body, j)->shape;
        if (c->exec && v->dtype == NN_DTYPE_UNDEFINED)
            return nn_op_error(c, NN_ERR_UNSUPPORTED, "state %u has no tensor type (sequences are not supported)", j);
        if (s.batched) decl = nn_cf__insert_dim(&decl, 0, batch);
        out[j].dtype = v->dtype ? v->dtype : nn_cf__body_out(s.body, j)->dtype;
        out[j].shape = nn_cf__merge(&v->shape, &decl);
    }
    for (uint32_t k = 0; k < s.ny; k++) {
        const nn_tensor *decl = nn_cf__body_out(s.body, s.ns + k);
        out[s.ns + k].dtype = decl->dtype;
        if (s.batched) {
            nn_shape t = nn_cf__insert_dim(&decl->shape, 0, len);
            out[s.ns + k].shape = nn_cf__insert_dim(&t, 0, batch);
            continue;
        }
        int32_t a;
        if (decl->shape.rank >= 0 && !nn_op__axis(nn_cf__ints_or(s.out_axes, k, 0), decl->shape.rank + 1, &a))
            return nn_op_error(c, NN_ERR_INVALID, "scan_output_axes[%u] is out of range for a rank-%d output", k,
                               decl->shape.rank + 1);
        out[s.ns + k].shape = decl->shape.rank >= 0 ? nn_cf__insert_dim(&decl->shape, a, len) : decl->shape;
    }
    return NN_OK;
}

/* Layout of a tensor split at one axis: (pre, len, post elements). */
typedef struct nn_cf__split {
    size_t pre, len, post_bytes;
    nn_shape slice; /* the shape without the axis */
} nn_cf__split;

static nn_status nn_cf__split_at(nn_op_ctx *c, const nn_shape *s, nn_dtype t, int32_t axis, nn_cf__split *out) {
    size_t esize = nn_dtype_size(t), post = 1;
    if (!esize || nn_dtype_bits(t) == 4)
        return nn_op_error(c, NN_ERR_UNSUPPORTED, "cannot scan %s values", nn_dtype_name(t));
    out->pre = 1;
    memset(&out->slice, 0, sizeof out->slice);
    for (int32_t i = 0; i < s->rank; i++) {
        if (i < axis) out->pre *= (size_t)s->dims[i]; /* products bounded by the value's byte size */
        if (i > axis) post *= (size_t)s->dims[i];
        if (i != axis) out->slice.dims[out->slice.rank++] = s->dims[i];
    }
    out->len = (size_t)s->dims[axis];
    out->post_bytes = post * esize;
    return NN_OK;
}

/* Working memory of one Scan run over one (batch) sequence. */
typedef struct nn_cf__scan_ws {
    nn_value *vals;      /* (ns + nx) body inputs */
    nn_value *res;       /* (ns + ny) body outputs */
    nn_cf__split *xs;    /* (nx) scan input layouts */
    int32_t *y_axis;     /* (ny) scan output axes, set at the first iteration */
    char **gather;       /* (nx) slice buffers for inputs not scanned along a leading axis */
} nn_cf__scan_ws;

/* Body input for scan input i at position idx: a view when the scan axis
   is outermost in memory (pre == 1), else gathered into a buffer. */
static void nn_cf__scan_slice(const nn_value *x, const nn_cf__split *sp, char *gather, size_t idx, nn_value *out) {
    const char *src = (const char *)x->data;
    char *dst = gather;
    if (sp->pre == 1) dst = (char *)(uintptr_t)(src + idx * sp->post_bytes);
    else
        for (size_t p = 0; p < sp->pre; p++)
            memcpy(dst + p * sp->post_bytes, src + (p * sp->len + idx) * sp->post_bytes, sp->post_bytes);
    *out = nn_value_make(x->dtype, sp->slice, dst);
}

/* Runs the body len times (len <= total) from states over the scan inputs
   xs (each split at its scan axis).  finals[ns] start as borrowed copies of
   states and become owned values; ys[ny] are allocated at the first
   iteration with `total` positions on their scan axis, positions from len
   on left zero (Scan-8's short sequences), and stay empty when len is 0.
   The caller frees finals and ys on any result. */
static nn_status nn_cf__scan_seq(nn_op_ctx *c, const nn_cf__scan *s, nn_cf__scan_ws *ws, const nn_value *states,
                                 const nn_value *xs, size_t total, size_t len, nn_value *finals, nn_value *ys) {
    nn_status st = NN_OK;
    for (uint32_t j = 0; j < s->ns; j++) {
        finals[j] = states[j];
        finals[j].flags &= ~NN_VALUE_OWNED;
    }
    for (size_t t = 0; t < len && st == NN_OK; t++) {
        for (uint32_t j = 0; j < s->ns; j++) {
            ws->vals[j] = finals[j];
            ws->vals[j].flags &= ~NN_VALUE_OWNED;
        }
        for (uint32_t i = 0; i < s->nx; i++) {
            size_t idx = nn_cf__ints_or(s->in_dirs, i, 0) ? len - 1 - t : t;
            nn_cf__scan_slice(&xs[i], &ws->xs[i], ws->gather[i], idx, &ws->vals[s->ns + i]);
        }
        st = nn_op_run_subgraph(c, s->body, ws->vals, s->ns + s->nx, ws->res, s->ns + s->ny);
        for (uint32_t j = 0; j < s->ns && st == NN_OK; j++) {
            if (ws->res[j].dtype != finals[j].dtype) {
                st = nn_op_error(c, NN_ERR_INVALID, "state %u changes type from %s to %s", j,
                                 nn_dtype_name(finals[j].dtype), nn_dtype_name(ws->res[j].dtype));
                break;
            }
            nn_op_free_value(c, &finals[j]);
            finals[j] = ws->res[j];
            memset(&ws->res[j], 0, sizeof ws->res[j]);
        }
        for (uint32_t k = 0; k < s->ny && st == NN_OK; k++) {
            const nn_value *y = &ws->res[s->ns + k];
            nn_cf__split sp;
            memset(&sp, 0, sizeof sp);
            if (t == 0) {
                int32_t a = 0; /* Scan-8: (sequence, ...) per batch entry */
                if (!s->batched && !nn_op__axis(nn_cf__ints_or(s->out_axes, k, 0), y->shape.rank + 1, &a))
                    st = nn_op_error(c, NN_ERR_INVALID, "scan_output_axes[%u] is out of range for a rank-%d output",
                                     k, y->shape.rank + 1);
                ws->y_axis[k] = a;
                memset(&ys[k], 0, sizeof ys[k]);
                ys[k].dtype = y->dtype;
                ys[k].shape = nn_cf__insert_dim(&y->shape, a, (int64_t)total);
                if (st == NN_OK && ys[k].shape.rank < 0)
                    st = nn_op_error(c, NN_ERR_LIMIT, "scan output rank above NN_MAX_RANK");
                if (st == NN_OK) st = nn_op_alloc_value(c, &ys[k]);
            }
            if (st == NN_OK) st = nn_cf__split_at(c, &ys[k].shape, ys[k].dtype, ws->y_axis[k], &sp);
            if (st == NN_OK && (y->dtype != ys[k].dtype || !nn_shape_equal(&y->shape, &sp.slice))) {
                char a[96], b[96];
                st = nn_op_error(c, NN_ERR_SHAPE, "scan output %u changes from %s to %s between iterations", k,
                                 nn_shape_str(&sp.slice, a, sizeof a), nn_shape_str(&y->shape, b, sizeof b));
            }
            if (st != NN_OK) break;
            size_t pos = nn_cf__ints_or(s->out_dirs, k, 0) ? len - 1 - t : t;
            for (size_t p = 0; p < sp.pre; p++)
                memcpy((char *)ys[k].data + (p * sp.len + pos) * sp.post_bytes,
                       (const char *)y->data + p * sp.post_bytes, sp.post_bytes);
        }
        for (uint32_t o = 0; o < s->ns + s->ny; o++) nn_op_free_value(c, &ws->res[o]);
    }
    return st;
}

/* Allocates the workspace and the split layouts of the scan inputs xs
   (one batch entry's views for Scan-8); *out_len is their common length. */
static nn_status nn_cf__scan_ws_init(nn_op_ctx *c, const nn_cf__scan *s, const nn_value *xs, nn_cf__scan_ws *ws,
                                     size_t *out_len) {
    size_t bytes = (size_t)(2 * s->ns + s->nx + s->ny) * sizeof(nn_value) + s->nx * sizeof(nn_cf__split) +
                   s->ny * sizeof(int32_t) + s->nx * sizeof(char *);
    char *p = (char *)nn_op_scratch(c, bytes);
    if (!p) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    memset(p, 0, bytes);
    ws->vals = (nn_value *)p;
    ws->res = ws->vals + s->ns + s->nx;
    ws->xs = (nn_cf__split *)(ws->res + s->ns + s->ny);
    ws->gather = (char **)(ws->xs + s->nx);
    ws->y_axis = (int32_t *)(ws->gather + s->nx);
    for (uint32_t i = 0; i < s->nx; i++) {
        int32_t a = 0; /* Scan-8: the caller passes one batch entry, (sequence, ...) */
        nn_status st = s->batched ? NN_OK : nn_cf__scan_in_axis(c, s, i, xs[i].shape.rank, &a);
        if (st == NN_OK && (xs[i].shape.rank < 1 || !xs[i].data))
            st = nn_op_error(c, NN_ERR_SHAPE, "scan input %u must have a scan axis", i);
        if (st == NN_OK) st = nn_cf__split_at(c, &xs[i].shape, xs[i].dtype, a, &ws->xs[i]);
        if (st) return st;
        if (i == 0) *out_len = ws->xs[0].len;
        if (ws->xs[i].len != *out_len)
            return nn_op_error(c, NN_ERR_SHAPE, "scan input %u has %zu entries along its scan axis, input 0 has %zu", i,
                               ws->xs[i].len, *out_len);
        if (ws->xs[i].pre > 1) {
            ws->gather[i] = (char *)nn_op_scratch(c, ws->xs[i].pre * ws->xs[i].post_bytes);
            if (!ws->gather[i]) return c->diag ? c->diag->status : NN_ERR_NOMEM;
        }
    }
    return NN_OK;
}

static nn_status nn_cf__run_scan9(nn_op_ctx *c, const nn_cf__scan *s, const nn_value *in, nn_value *out) {
    nn_cf__scan_ws ws;
    size_t len = 0;
    nn_status st = nn_cf__scan_ws_init(c, s, in + s->ns, &ws, &len);
    if (st) return st;
    nn_value *finals = (nn_value *)nn_op_scratch(c, (s->ns + s->ny + 1) * sizeof(nn_value)), *ys;
    if (!finals) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    memset(finals, 0, (s->ns + s->ny + 1) * sizeof(nn_value));
    ys = finals + s->ns;
    st = nn_cf__scan_seq(c, s, &ws, in, in + s->ns, len, len, finals, ys);
    for (uint32_t k = 0; k < s->ny && st == NN_OK && len == 0; k++) /* empty sequence */
        st = nn_cf__empty_scan(c, nn_cf__body_out(s->body, s->ns + k), out[s->ns + k].dtype,
                               nn_cf__ints_or(s->out_axes, k, 0), 0, &ys[k]);
    for (uint32_t j = 0; j < s->ns && st == NN_OK; j++) st = nn_cf__adopt(c, &out[j], &finals[j], j);
    for (uint32_t k = 0; k < s->ny && st == NN_OK; k++) st = nn_cf__adopt(c, &out[s->ns + k], &ys[k], s->ns + k);
    for (uint32_t o = 0; o < s->ns + s->ny; o++) nn_op_free_value(c, &finals[o]);
    return st;
}

/* Runs batch entry b of a Scan-8 (sequence length n) on views of its rows
   and copies its results into the (batch, ...) outputs, which the first
   entry run allocates. */
static nn_status nn_cf__scan8_entry(nn_op_ctx *c, const nn_cf__scan *s, nn_cf__scan_ws *ws, const nn_value *vin,
                                    int64_t b, int64_t batch, int64_t total, int64_t n, int first, nn_value *views,
                                    nn_value *out) {
    uint32_t nv = s->ns + s->nx, nr = s->ns + s->ny;
    nn_value *finals = views + nv, *ys = finals + s->ns; /* ys follow finals: nr results */
    nn_status st = NN_OK;
    size_t len = 0;
    for (uint32_t i = 0; i < nv; i++) { /* entry b of each input, a view */
        nn_shape sh = vin[i].shape;
        size_t per = vin[i].bytes / (size_t)batch;
        sh.rank--;
        memmove(sh.dims, sh.dims + 1, (size_t)sh.rank * sizeof sh.dims[0]);
        views[i] = nn_value_make(vin[i].dtype, sh, (char *)vin[i].data + (size_t)b * per);
    }
    if (!ws->vals) st = nn_cf__scan_ws_init(c, s, views + s->ns, ws, &len);
    if (st == NN_OK) st = nn_cf__scan_seq(c, s, ws, views, views + s->ns, (size_t)total, (size_t)n, finals, ys);
    for (uint32_t k = 0; k < s->ny && st == NN_OK && n == 0 && first; k++) /* no entry ran at all */
        st = nn_cf__empty_scan(c, nn_cf__body_out(s->body, s->ns + k), NN_DTYPE_UNDEFINED, 0, total, &ys[k]);
    for (uint32_t o = 0; o < nr && st == NN_OK; o++) {
        const nn_value *r = &finals[o];
        if (!first && o >= s->ns && n == 0) continue; /* zero rows, already there */
        nn_shape sh = nn_cf__insert_dim(&r->shape, 0, batch);
        if (sh.rank < 0) st = nn_op_error(c, NN_ERR_LIMIT, "output rank above NN_MAX_RANK");
        else if (first) st = nn_cf__ensure_out(c, &out[o], r->dtype, &sh, o);
        else if (r->dtype != out[o].dtype || !nn_shape_equal(&sh, &out[o].shape))
            st = nn_op_error(c, NN_ERR_SHAPE, "output %u differs in type or shape between batch entries", o);
        if (st == NN_OK && r->bytes) memcpy((char *)out[o].data + (size_t)b * r->bytes, r->data, r->bytes);
    }
    for (uint32_t o = 0; o < nr; o++) nn_op_free_value(c, &finals[o]);
    return st;
}

/* Scan-8: the opset-9 algorithm per batch entry, on views of entry b, with
   that entry's sequence length; results copied into (batch, ...) outputs. */
static nn_status nn_cf__run_scan8(nn_op_ctx *c, const nn_cf__scan *s, const nn_value *in, nn_value *out) {
    const nn_value *lens = &in[0], *vin = in + 1;
    uint32_t nv = s->ns + s->nx, nr = s->ns + s->ny;
    for (uint32_t i = 0; i < nv; i++)
        if (vin[i].shape.rank < (i < s->ns ? 1 : 2) || !vin[i].data)
            return nn_op_error(c, NN_ERR_SHAPE, "%s %u must have a batch axis%s", i < s->ns ? "state" : "scan input",
                               i < s->ns ? i : i - s->ns, i < s->ns ? "" : " and a sequence axis");
    int64_t batch = vin[0].shape.dims[0], total = vin[s->ns].shape.dims[1];
    for (uint32_t i = 0; i < nv; i++)
        if (vin[i].shape.dims[0] != batch)
            return nn_op_error(c, NN_ERR_SHAPE, "input %u has batch %lld, input 1 has %lld", i + 1,
                               (long long)vin[i].shape.dims[0], (long long)batch);
    if (lens->dtype != NN_DTYPE_UNDEFINED && (!lens->data || nn_value_count(lens) != (size_t)batch))
        return nn_op_error(c, NN_ERR_SHAPE, "sequence_lens must hold one length per batch entry");
    nn_value *views = (nn_value *)nn_op_scratch(c, (nv + nr + 1) * sizeof(nn_value));
    if (!views) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    memset(views, 0, (nv + nr + 1) * sizeof(nn_value));
    nn_cf__scan_ws ws;
    nn_status st = NN_OK;
    memset(&ws, 0, sizeof ws);
    if (batch == 0) { /* no entry to run: copy the (empty) states, empty scan outputs */
        for (uint32_t j = 0; j < s->ns && st == NN_OK; j++) {
            nn_value v = vin[j];
            st = nn_cf__adopt(c, &out[j], &v, j);
        }
        for (uint32_t k = 0; k < s->ny && st == NN_OK; k++) {
            nn_value v;
            st = nn_cf__empty_scan(c, nn_cf__body_out(s->body, s->ns + k), out[s->ns + k].dtype, 0, 0, &v);
            if (st == NN_OK) v.shape = nn_cf__insert_dim(&v.shape, 1, total); /* (0, total, ...): still empty */
            if (st == NN_OK) st = nn_cf__adopt(c, &out[s->ns + k], &v, s->ns + k);
            nn_op_free_value(c, &v);
        }
        return st;
    }
    /* Entries with a zero sequence length run last: their scan rows stay
       zero in outputs that an earlier entry has shaped. */
    int first = 1;
    for (int pass = 0; pass < 2 && st == NN_OK; pass++)
        for (int64_t b = 0; b < batch && st == NN_OK; b++) {
            int64_t n = lens->dtype != NN_DTYPE_UNDEFINED ? nn_op__int_at(lens, (size_t)b) : total;
            if (n < 0 || n > total)
                st = nn_op_error(c, NN_ERR_INVALID, "sequence_lens[%lld] is %lld, the sequence axis has %lld",
                                 (long long)b, (long long)n, (long long)total);
            else if ((n == 0) == (pass == 1)) {
                st = nn_cf__scan8_entry(c, s, &ws, vin, b, batch, total, n, first, views, out);
                first = 0;
            }
        }
    return st;
}

static nn_status nn_cf__run_scan(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    nn_cf__scan s;
    nn_status st = nn_cf__scan_setup(c, n_in, n_out, &s);
    if (st) return st;
    return s.batched ? nn_cf__run_scan8(c, &s, in, out) : nn_cf__run_scan9(c, &s, in, out);
}

/* ---- recurrent layers: attributes -------------------------------------------------------- */

/* Activation functions of RNN/GRU/LSTM (RNN spec, "Activation functions").
   alpha/beta defaults are those of the ONNX op of the same name; NAN marks
   a parameter the op has no default for (ScaledTanh), which must be given. */
typedef enum nn_cf__act_kind {
    NN_CF__RELU, NN_CF__TANH, NN_CF__SIGMOID, NN_CF__AFFINE, NN_CF__LEAKYRELU, NN_CF__THRESHOLDEDRELU,
    NN_CF__SCALEDTANH, NN_CF__HARDSIGMOID, NN_CF__ELU, NN_CF__SOFTSIGN, NN_CF__SOFTPLUS, NN_CF__ACT_COUNT
} nn_cf__act_kind;

static const struct {
    const char *name;
    int has_alpha, has_beta;
    float alpha, beta;
} nn_cf__acts[NN_CF__ACT_COUNT] = {
    {"Relu", 0, 0, 0.0f, 0.0f},        {"Tanh", 0, 0, 0.0f, 0.0f},
    {"Sigmoid", 0, 0, 0.0f, 0.0f},     {"Affine", 1, 1, 1.0f, 0.0f},
    {"LeakyRelu", 1, 0, 0.01f, 0.0f},  {"ThresholdedRelu", 1, 0, 1.0f, 0.0f},
    {"ScaledTanh", 1, 1, NAN, NAN},    {"HardSigmoid", 1, 1, 0.2f, 0.5f},
    {"Elu", 1, 0, 1.0f, 0.0f},         {"Softsign", 0, 0, 0.0f, 0.0f},
    {"Softplus", 0, 0, 0.0f, 0.0f},
};

typedef struct nn_cf__act {
    nn_cf__act_kind kind;
    float alpha, beta;
} nn_cf__act;

/* Attributes of one RNN/GRU/LSTM node. */
typedef struct nn_cf__rnn {
    int gates;          /* 1 RNN, 3 GRU (z r h), 4 LSTM (i o f c) */
    int nf;             /* activations per direction: 1, 2 (f g), 3 (f g h) */
    int nd;             /* 1, or 2 for bidirectional */
    int reverse;        /* direction "reverse" */
    int layout;         /* 0: (seq, batch, ...); 1: (batch, seq, ...), opset 14+ */
    int lbr;            /* GRU linear_before_reset */
    int input_forget;   /* LSTM: f = 1 - i */
    int has_clip;
    float clip;
    int64_t hidden;     /* hidden_size, 0 when absent */
    nn_cf__act act[2][3];
} nn_cf__rnn;

static int nn_cf__ieq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a, y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y) return 0;
    }
    return *a == *b;
}

/* activation_alpha/beta are consumed in list order by the activations that
   take them (RNN spec: "consumed in the order of activation functions");
   ONNX Runtime reads them the same way and ignores values left over. */
static nn_status nn_cf__rnn_acts(nn_op_ctx *c, nn_cf__rnn *r) {
    static const char *const defaults[3][3] = {{"Tanh", "", ""}, {"Sigmoid", "Tanh", ""}, {"Sigmoid", "Tanh", "Tanh"}};
    const nn_node *n = c->node;
    const nn_attr *names = nn_node_attr(n, "activations");
    const nn_attr *al = nn_node_attr(n, "activation_alpha"), *be = nn_node_attr(n, "activation_beta");
    uint32_t count = names ? names->count : 0, ai = 0, bi = 0;
    if ((names && names->type != NN_ATTR_STRINGS) || (al && al->type != NN_ATTR_FLOATS) ||
        (be && be->type != NN_ATTR_FLOATS))
        return nn_op_error(c, NN_ERR_INVALID, "activations must be strings, activation_alpha/beta floats");
    /* One list serves both directions of a bidirectional layer. */
    if (names && count != (uint32_t)r->nf && count != (uint32_t)(r->nf * r->nd))
        return nn_op_error(c, NN_ERR_INVALID, "activations lists %u functions, %s needs %d per direction", count,
                           n->op_type, r->nf);
    uint32_t listed = count ? count : (uint32_t)r->nf;
    for (uint32_t k = 0; k < listed; k++) {
        const char *name = count ? names->strings[k] : defaults[r->nf - 1][k];
        nn_cf__act *a = &r->act[k / (uint32_t)r->nf][k % (uint32_t)r->nf];
        int kind = -1;
        for (int i = 0; i < NN_CF__ACT_COUNT; i++)
            if (nn_cf__ieq(name, nn_cf__acts[i].name)) kind = i;
        if (kind < 0) return nn_op_error(c, NN_ERR_UNSUPPORTED, "activation '%s' is not supported", name);
        a->kind = (nn_cf__act_kind)kind;
        a->alpha = nn_cf__acts[kind].alpha;
        a->beta = nn_cf__acts[kind].beta;
        if (nn_cf__acts[kind].has_alpha && al && ai < al->count) a->alpha = al->floats[ai++];
        if (nn_cf__acts[kind].has_beta && be && bi < be->count) a->beta = be->floats[bi++];
        if (a->alpha != a->alpha || a->beta != a->beta)
            return nn_op_error(c, NN_ERR_UNSUPPORTED, "activation %s needs activation_alpha and activation_beta",
                               nn_cf__acts[kind].name);
    }
    if (listed == (uint32_t)r->nf && r->nd == 2)
        for (int k = 0; k < r->nf; k++) r->act[1][k] = r->act[0][k];
    return NN_OK;
}

static nn_status nn_cf__rnn_parse(nn_op_ctx *c, int gates, nn_cf__rnn *r) {
    const nn_node *n = c->node;
    memset(r, 0, sizeof *r);
    r->gates = gates;
    r->nf = gates == 4 ? 3 : gates == 3 ? 2 : 1;
    const char *dir = nn_node_attr_string(n, "direction", "forward");
    r->nd = 1;
    if (strcmp(dir, "reverse") == 0) r->reverse = 1;
    else if (strcmp(dir, "bidirectional") == 0) r->nd = 2;
    else if (strcmp(dir, "forward") != 0)
        return nn_op_error(c, NN_ERR_INVALID, "direction '%s'; forward, reverse and bidirectional are defined", dir);
    const nn_attr *h = nn_node_attr(n, "hidden_size");
    if (h && (h->type != NN_ATTR_INT || h->i <= 0 || h->i > INT32_MAX))
        return nn_op_error(c, NN_ERR_INVALID, "hidden_size must be a positive integer");
    r->hidden = h ? h->i : 0;
    int64_t layout = nn_node_attr_int(n, "layout", 0);
    if (layout != 0 && (layout != 1 || c->opset < 14))
        return nn_op_error(c, NN_ERR_INVALID, "layout %lld; 0, and 1 from opset 14, are defined", (long long)layout);
    r->layout = (int)layout;
    const nn_attr *clip = nn_node_attr(n, "clip");
    if (clip) {
        /* A threshold must be positive: [-clip, clip] would be empty. */
        if (clip->type != NN_ATTR_FLOAT || !(clip->f > 0.0f))
            return nn_op_error(c, NN_ERR_INVALID, "clip must be a positive float");
        r->has_clip = 1;
        r->clip = clip->f;
    }
    r->lbr = nn_node_attr_int(n, "linear_before_reset", 0) != 0;
    r->input_forget = nn_node_attr_int(n, "input_forget", 0) != 0;
    /* output_sequence (opset 1 only) says whether Y may be left out; Y is
       produced whenever the node names it, so the flag changes nothing. */
    return nn_cf__rnn_acts(c, r);
}

/* ---- recurrent layers: shape inference --------------------------------------------------- */

/* RNN spec, Inputs/Outputs: X (seq, batch, input) [layout 1: (batch, seq,
   input)], W (dirs, gates*hidden, input), R (dirs, gates*hidden, hidden);
   Y (seq, dirs, batch, hidden) [(batch, seq, dirs, hidden)], Y_h and Y_c
   (dirs, batch, hidden) [(batch, dirs, hidden)]. */
static nn_status nn_cf__infer_rnn_common(nn_op_ctx *c, int gates, const nn_value *in, uint32_t n_in, nn_value *out,
                                         uint32_t n_out) {
    nn_cf__rnn r;
    nn_status st = nn_cf__rnn_parse(c, gates, &r);
    if (st) return st;
    (void)n_in;
    nn_dtype t = in[0].dtype;
    if (t != NN_DTYPE_UNDEFINED && !nn_dtype_is_float(t))
        return nn_op_error(c, NN_ERR_INVALID, "X must be a float tensor, got %s", nn_dtype_name(t));
    for (int i = 0; i < 3; i++)
        if (in[i].shape.rank >= 0 && in[i].shape.rank != 3)
            return nn_op_error(c, NN_ERR_SHAPE, "%s must have rank 3, got %d", i == 0 ? "X" : i == 1 ? "W" : "R",
                               in[i].shape.rank);
    int64_t seq = NN_DIM_UNKNOWN, batch = NN_DIM_UNKNOWN, hidden = r.hidden ? r.hidden : NN_DIM_UNKNOWN;
    if (in[0].shape.rank == 3) {
        seq = in[0].shape.dims[r.layout ? 1 : 0];
        batch = in[0].shape.dims[r.layout ? 0 : 1];
    }
    if (in[2].shape.rank == 3 && in[2].shape.dims[2] >= 0) {
        if (hidden >= 0 && in[2].shape.dims[2] != hidden)
            return nn_op_error(c, NN_ERR_SHAPE, "hidden_size is %lld, R has %lld columns", (long long)hidden,
                               (long long)in[2].shape.dims[2]);
        hidden = in[2].shape.dims[2];
    }
    for (int i = 1; i < 3; i++) {
        const nn_shape *s = &in[i].shape;
        if (s->rank == 3 && s->dims[0] >= 0 && s->dims[0] != r.nd)
            return nn_op_error(c, NN_ERR_SHAPE, "%s has %lld directions, direction needs %d", i == 1 ? "W" : "R",
                               (long long)s->dims[0], r.nd);
        if (s->rank == 3 && s->dims[1] >= 0 && hidden >= 0 && s->dims[1] != gates * hidden)
            return nn_op_error(c, NN_ERR_SHAPE, "%s has %lld rows, %d gates x hidden %lld need %lld",
                               i == 1 ? "W" : "R", (long long)s->dims[1], gates, (long long)hidden,
                               (long long)(gates * hidden));
    }
    for (uint32_t o = 0; o < n_out; o++) {
        if (!nn_cf__wanted(c, o)) continue;
        int64_t d[4];
        int32_t rank = o == 0 ? 4 : 3;
        if (o == 0 && r.layout == 0) { d[0] = seq; d[1] = r.nd; d[2] = batch; d[3] = hidden; }
        else if (o == 0) { d[0] = batch; d[1] = seq; d[2] = r.nd; d[3] = hidden; }
        else if (r.layout == 0) { d[0] = r.nd; d[1] = batch; d[2] = hidden; }
        else { d[0] = batch; d[1] = r.nd; d[2] = hidden; }
        out[o].dtype = t;
        out[o].shape = nn_shape_make(rank, d);
    }
    return NN_OK;
}

static nn_status nn_cf__infer_rnn(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    return nn_cf__infer_rnn_common(c, 1, in, n_in, out, n_out);
}
static nn_status nn_cf__infer_gru(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    return nn_cf__infer_rnn_common(c, 3, in, n_in, out, n_out);
}
static nn_status nn_cf__infer_lstm(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    return nn_cf__infer_rnn_common(c, 4, in, n_in, out, n_out);
}

/* ---- recurrent layers: float32 kernels --------------------------------------------------- */

static float nn_cf__sigmoid(float x) {
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x); /* no overflow for very negative x */
    return e / (1.0f + e);
}

/* Clips x to [-clip, clip] unless clip is 0 (cell clip: "applied to the
   input of activations", RNN spec) then applies activation a in place. */
static void nn_cf__gate(const nn_cf__act *a, float clip, float *x, int64_t n) {
    if (clip > 0)
        for (int64_t i = 0; i < n; i++) x[i] = x[i] < -clip ? -clip : x[i] > clip ? clip : x[i];
    float al = a->alpha, be = a->beta;
    switch (a->kind) {
    case NN_CF__RELU: for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0; break;
    case NN_CF__TANH: for (int64_t i = 0; i < n; i++) x[i] = tanhf(x[i]); break;
    case NN_CF__SIGMOID: for (int64_t i = 0; i < n; i++) x[i] = nn_cf__sigmoid(x[i]); break;
    case NN_CF__AFFINE: for (int64_t i = 0; i < n; i++) x[i] = al * x[i] + be; break;
    case NN_CF__LEAKYRELU: for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0 ? x[i] : al * x[i]; break;
    case NN_CF__THRESHOLDEDRELU: for (int64_t i = 0; i < n; i++) x[i] = x[i] > al ? x[i] : 0; break;
    case NN_CF__SCALEDTANH: for (int64_t i = 0; i < n; i++) x[i] = al * tanhf(be * x[i]); break;
    case NN_CF__HARDSIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float v = al * x[i] + be;
            x[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
        break;
    case NN_CF__ELU: for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0 ? x[i] : al * (expf(x[i]) - 1.0f); break;
    case NN_CF__SOFTSIGN: for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + fabsf(x[i])); break;
    case NN_CF__SOFTPLUS:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] + log1pf(expf(-x[i])) : log1pf(expf(x[i]));
        break;
    default: break;
    }
}

/* The gate matmuls: one dot product per hidden unit along its contiguous
   weight row.  A float sum may not be reordered without -ffast-math, so
   compilers vectorize a plain dot loop badly (in-order reductions); with
   GCC/Clang the partial sums are explicit vectors (4 x 8 lanes, one AVX
   register each, two SSE registers without AVX), elsewhere eight scalar
   partial sums (also when NN_NO_VECTOR_EXT is defined).  Each unit's sum
   has a fixed order, so results do not depend on the thread count. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(NN_NO_VECTOR_EXT)
typedef float nn_cf__v8 __attribute__((vector_size(32)));

/* Vectors stay local (passing them across calls changes the ABI without
   AVX) and in separate variables, which compilers keep in registers. */
#define NN_CF__MULADD8(acc, x, y)                           \
    do {                                                 \
        nn_cf__v8 nn_cf__x, nn_cf__y;                    \
        memcpy(&nn_cf__x, (x), sizeof nn_cf__x);         \
        memcpy(&nn_cf__y, (y), sizeof nn_cf__y);         \
        (acc) += nn_cf__x * nn_cf__y;                    \
    } while (0)

static float nn_cf__dot(const float *a, const float *b, int64_t n) {
    nn_cf__v8 s0, s1, s2, s3;
    int64_t i = 0;
    memset(&s0, 0, sizeof s0);
    s1 = s2 = s3 = s0;
    for (; i + 32 <= n; i += 32) {
        NN_CF__MULADD8(s0, a + i, b + i);
        NN_CF__MULADD8(s1, a + i + 8, b + i + 8);
        NN_CF__MULADD8(s2, a + i + 16, b + i + 16);
        NN_CF__MULADD8(s3, a + i + 24, b + i + 24);
    }
    for (; i + 8 <= n; i += 8) NN_CF__MULADD8(s0, a + i, b + i);
    s0 = (s0 + s1) + (s2 + s3);
    float r = ((s0[0] + s0[1]) + (s0[2] + s0[3])) + ((s0[4] + s0[5]) + (s0[6] + s0[7]));
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}
#else
static float nn_cf__dot(const float *a, const float *b, int64_t n) {
    float p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) p[j] += a[i + j] * b[i + j];
    float s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
#endif

/* acc[b * ld + u] = h[b] . w[u] + bias[u] for the rows b of h and the
   units u in [0, units) of w (units, k), split across threads by unit. */
typedef struct nn_cf__mv {
    const float *h;    /* (rows, ldh) */
    const float *w;    /* (units, k): one contiguous row per unit */
    const float *bias; /* (units) or NULL */
    float *acc;        /* (rows, ld) */
    int64_t rows, k, units, ldh, ld;
} nn_cf__mv;

static void nn_cf__mv_range(void *arg, size_t begin, size_t end) {
    const nn_cf__mv *m = (const nn_cf__mv *)arg;
    for (int64_t u = (int64_t)begin; u < (int64_t)end; u++) {
        const float *row = m->w + u * m->k; /* stays in L1 across the rows of h */
        float bias = m->bias ? m->bias[u] : 0.0f;
        for (int64_t b = 0; b < m->rows; b++) m->acc[b * m->ld + u] = nn_cf__dot(m->h + b * m->ldh, row, m->k) + bias;
    }
}

/* Splits only work worth a thread hand-off: once per time step, a wake-up
   of the pool costs more than a small matvec. */
#define NN_CF__PAR_MACS 262144

static void nn_cf__matvec(nn_op_ctx *c, const nn_cf__mv *m) {
    int64_t per_unit = m->rows * m->k;
    size_t chunk = per_unit > 0 && per_unit < NN_CF__PAR_MACS ? (size_t)(NN_CF__PAR_MACS / per_unit) : 1;
    nn_op_parallel(c, (size_t)m->units, chunk, nn_cf__mv_range, (void *)(uintptr_t)m);
}

/* Float32 views of one RNN/GRU/LSTM run; the *_row helpers below map
   (t, b) and (d, b) to rows under either layout. */
typedef struct nn_cf__rnn_run {
    const nn_cf__rnn *r;
    int64_t seq, batch, input, hidden;
    const float *x, *w, *rw, *bias, *p, *h0, *c0; /* see nn_cf__run_rnn_common */
    const int64_t *lens;                          /* (batch) */
    float *y, *yh, *yc;                           /* NULL when not wanted */
    float *xw;     /* (seq * batch, gates * hidden): input projection + biases */
    float *acc;    /* (batch, gates * hidden): recurrent products */
    float *hs, *cs, *tmp, *rh; /* (batch, hidden) states and work rows */
    float *bx;     /* (gates * hidden) bias folded into xw */
} nn_cf__rnn_run;

static size_t nn_cf__state_row(const nn_cf__rnn_run *k, int d, int64_t b) {
    return (size_t)(k->r->layout ? b * k->r->nd + d : d * k->batch + b) * (size_t)k->hidden;
}
static size_t nn_cf__x_row(const nn_cf__rnn_run *k, int64_t t, int64_t b) {
    return (size_t)(k->r->layout ? b * k->seq + t : t * k->batch + b);
}
static size_t nn_cf__y_row(const nn_cf__rnn_run *k, int64_t t, int d, int64_t b) {
    return (size_t)(k->r->layout ? (b * k->seq + t) * k->r->nd + d : (t * k->r->nd + d) * k->batch + b) *
           (size_t)k->hidden;
}

/* One time step of direction d for batch row b (gate pre-activations,
   input part and recurrent part, summed in a = acc row).  Equations from
   the RNN, GRU and LSTM specs, default (f, g, h) activations named there. */
static void nn_cf__lstm_cell(const nn_cf__rnn_run *k, int d, float *a, float *c_t, float *h_t, float *tmp) {
    const nn_cf__rnn *r = k->r;
    int64_t H = k->hidden;
    float clip = r->has_clip ? r->clip : 0.0f;
    float *gi = a, *go = a + H, *gf = a + 2 * H, *gc = a + 3 * H; /* iofc order */
    const float *p = k->p ? k->p + (size_t)d * 3 * (size_t)H : NULL; /* P[iof] */
    if (p)
        for (int64_t j = 0; j < H; j++) { gi[j] += p[j] * c_t[j]; gf[j] += p[2 * H + j] * c_t[j]; }
    nn_cf__gate(&r->act[d][0], clip, gi, H);
    if (r->input_forget) /* coupled input-forget gate, as ONNX Runtime reads it */
        for (int64_t j = 0; j < H; j++) gf[j] = 1.0f - gi[j];
    else
        nn_cf__gate(&r->act[d][0], clip, gf, H);
    nn_cf__gate(&r->act[d][1], clip, gc, H);
    for (int64_t j = 0; j < H; j++) c_t[j] = gf[j] * c_t[j] + gi[j] * gc[j];
    if (p) /* the output gate's peephole sees the new cell state */
        for (int64_t j = 0; j < H; j++) go[j] += p[H + j] * c_t[j];
    nn_cf__gate(&r->act[d][0], clip, go, H);
    memcpy(tmp, c_t, (size_t)H * sizeof(float));
    nn_cf__gate(&r->act[d][2], 0.0f, tmp, H); /* h(Ct): the cell state is not clipped */
    for (int64_t j = 0; j < H; j++) h_t[j] = go[j] * tmp[j];
}

/* Runs direction d over the whole sequence. */
static void nn_cf__rnn_direction(nn_op_ctx *c, nn_cf__rnn_run *k, int d) {
    const nn_cf__rnn *r = k->r;
    int64_t H = k->hidden, G = r->gates, GH = G * H, B = k->batch, S = k->seq;
    int rev = r->reverse || d == 1;
    float clip = r->has_clip ? r->clip : 0.0f;
    const float *w = k->w + (size_t)d * (size_t)GH * (size_t)k->input;
    const float *rw = k->rw + (size_t)d * (size_t)GH * (size_t)H;
    const float *wb = k->bias ? k->bias + (size_t)d * 2 * (size_t)GH : NULL, *rb = wb ? wb + GH : NULL;
    /* Biases Wb + Rb fold into the input projection, except GRU's Rbh with
       linear_before_reset, which sits inside r (.) (...). */
    int lbr = G == 3 && r->lbr;
    for (int64_t u = 0; u < GH; u++)
        k->bx[u] = wb ? wb[u] + (lbr && u >= 2 * H ? 0.0f : rb[u]) : 0.0f;
    /* xw = X W^T + bias for every step at once, one row per row of X (in
       X's own layout, see nn_cf__x_row): the part of the gates that does
       not wait for the previous step. */
    int split = G == 3 && !lbr; /* GRU: h's rows of R need r first */
    nn_cf__mv m;
    m.h = k->x; m.w = w; m.bias = k->bx; m.acc = k->xw;
    m.rows = S * B; m.k = k->input; m.units = GH; m.ldh = k->input; m.ld = GH;
    nn_cf__matvec(c, &m);
    memset(k->rh, 0, (size_t)B * (size_t)H * sizeof(float)); /* rows past their length are read, unused */
    for (int64_t b = 0; b < B; b++) {
        size_t row = nn_cf__state_row(k, d, b);
        float *hs = k->hs + (size_t)b * (size_t)H, *cs = k->cs + (size_t)b * (size_t)H;
        if (k->h0) memcpy(hs, k->h0 + row, (size_t)H * sizeof(float)); else memset(hs, 0, (size_t)H * sizeof(float));
        if (k->c0) memcpy(cs, k->c0 + row, (size_t)H * sizeof(float)); else memset(cs, 0, (size_t)H * sizeof(float));
    }
    for (int64_t s = 0; s < S; s++) {
        int64_t t = rev ? S - 1 - s : s;
        m.h = k->hs; m.w = rw; m.bias = NULL; m.acc = k->acc;
        m.rows = B; m.k = H; m.units = split ? 2 * H : GH; m.ldh = H; m.ld = GH;
        nn_cf__matvec(c, &m);
        for (int64_t b = 0; b < B; b++) {
            /* A row past its sequence length keeps its state (sequence_lens);
               reverse rows start at their own last step. */
            if (t >= k->lens[b]) continue;
            float *a = k->acc + (size_t)b * (size_t)GH, *hs = k->hs + (size_t)b * (size_t)H;
            const float *xr = k->xw + nn_cf__x_row(k, t, b) * (size_t)GH;
            int64_t n_add = G == 3 ? 2 * H : GH;
            for (int64_t u = 0; u < n_add; u++) a[u] += xr[u];
            if (G == 4) nn_cf__lstm_cell(k, d, a, k->cs + (size_t)b * (size_t)H, hs, k->tmp + (size_t)b * (size_t)H);
            else if (G == 1) {
                nn_cf__gate(&r->act[d][0], clip, a, H);
                memcpy(hs, a, (size_t)H * sizeof(float));
            } else {
                nn_cf__gate(&r->act[d][0], clip, a, 2 * H); /* z, r */
                float *rh = k->rh + (size_t)b * (size_t)H;
                for (int64_t j = 0; j < H; j++) rh[j] = a[H + j] * hs[j];
            }
        }
        if (G == 3) {
            const float *rbh = rb ? rb + 2 * H : NULL;
            if (!lbr) { /* (rt (.) Ht-1) Rh^T: a second pass once r is known */
                m.h = k->rh; m.w = rw + (size_t)2 * (size_t)H * (size_t)H; m.acc = k->acc + 2 * H; m.units = H;
                nn_cf__matvec(c, &m);
            }
            for (int64_t b = 0; b < B; b++) {
                if (t >= k->lens[b]) continue;
                float *a = k->acc + (size_t)b * (size_t)GH, *hs = k->hs + (size_t)b * (size_t)H, *gh = a + 2 * H;
                const float *xh = k->xw + nn_cf__x_row(k, t, b) * (size_t)GH + 2 * H;
                for (int64_t j = 0; j < H; j++)
                    gh[j] = lbr ? xh[j] + a[H + j] * (gh[j] + (rbh ? rbh[j] : 0.0f)) : xh[j] + gh[j];
                nn_cf__gate(&r->act[d][1], clip, gh, H);
                for (int64_t j = 0; j < H; j++) hs[j] = (1.0f - a[j]) * gh[j] + a[j] * hs[j];
            }
        }
        if (k->y)
            for (int64_t b = 0; b < B; b++)
                if (t < k->lens[b])
                    memcpy(k->y + nn_cf__y_row(k, t, d, b), k->hs + (size_t)b * (size_t)H, (size_t)H * sizeof(float));
    }
    for (int64_t b = 0; b < B; b++) {
        size_t row = nn_cf__state_row(k, d, b);
        if (k->yh) memcpy(k->yh + row, k->hs + (size_t)b * (size_t)H, (size_t)H * sizeof(float));
        if (k->yc) memcpy(k->yc + row, k->cs + (size_t)b * (size_t)H, (size_t)H * sizeof(float));
    }
}

/* A float32 view of input v (count elements): the data itself for float,
   else a converted scratch copy.  NULL for an omitted input. */
static nn_status nn_cf__f32_in(nn_op_ctx *c, const nn_value *v, size_t count, const float **out) {
    *out = NULL;
    if (v->dtype == NN_DTYPE_UNDEFINED) return NN_OK;
    if (!v->data || nn_value_count(v) != count) return nn_op_error(c, NN_ERR_SHAPE, "an input has the wrong size");
    if (v->dtype == NN_DTYPE_FLOAT) { *out = (const float *)v->data; return NN_OK; }
    float *p = (float *)nn_op_scratch(c, count * sizeof(float));
    if (!p) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    for (size_t i = 0; i < count; i++) p[i] = (float)nn_op__load(v->data, v->dtype, i);
    *out = p;
    return NN_OK;
}

static int nn_cf__dims3(const nn_value *v, int64_t d0, int64_t d1, int64_t d2) {
    return v->shape.rank == 3 && v->shape.dims[0] == d0 && v->shape.dims[1] == d1 && v->shape.dims[2] == d2;
}

/* Output o as a float32 buffer: the output itself for float, else zeroed
   scratch converted by nn_cf__f32_out_done.  NULL when not wanted. */
static nn_status nn_cf__f32_out(nn_op_ctx *c, nn_value *out, uint32_t o, nn_dtype t, int32_t rank, const int64_t *dims,
                                float **buf) {
    *buf = NULL;
    if (!nn_cf__wanted(c, o)) return NN_OK;
    nn_shape s = nn_shape_make(rank, dims);
    nn_status st = nn_cf__ensure_out(c, out, t, &s, o);
    if (st) return st;
    if (t == NN_DTYPE_FLOAT) { *buf = (float *)out->data; return NN_OK; }
    size_t n = nn_value_count(out);
    *buf = (float *)nn_op_scratch(c, n * sizeof(float) + 1);
    if (!*buf) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    memset(*buf, 0, n * sizeof(float));
    return NN_OK;
}

static void nn_cf__f32_out_done(nn_value *out, const float *buf) {
    if (!buf || out->dtype == NN_DTYPE_FLOAT) return;
    size_t n = nn_value_count(out);
    for (size_t i = 0; i < n; i++) nn_op__store(out->data, out->dtype, i, buf[i]);
}

/* Inputs: X, W, R, B (dirs, 2*gates*hidden), sequence_lens (batch) int32,
   initial_h (dirs, batch, hidden), [LSTM] initial_c, P (dirs, 3*hidden). */
static nn_status nn_cf__run_rnn_common(nn_op_ctx *c, int gates, const nn_value *in, uint32_t n_in, nn_value *out,
                                       uint32_t n_out) {
    nn_cf__rnn r;
    nn_cf__rnn_run k;
    nn_status st = nn_cf__rnn_parse(c, gates, &r);
    if (st) return st;
    memset(&k, 0, sizeof k);
    k.r = &r;
    const nn_value *x = &in[0], *w = &in[1], *rw = &in[2];
    nn_value none;
    memset(&none, 0, sizeof none);
    const nn_value *b = n_in > 3 ? &in[3] : &none, *sl = n_in > 4 ? &in[4] : &none, *h0 = n_in > 5 ? &in[5] : &none;
    const nn_value *c0 = gates == 4 && n_in > 6 ? &in[6] : &none, *p = gates == 4 && n_in > 7 ? &in[7] : &none;
    if (x->shape.rank != 3 || w->shape.rank != 3 || rw->shape.rank != 3)
        return nn_op_error(c, NN_ERR_SHAPE, "X, W and R must have rank 3");
    k.seq = x->shape.dims[r.layout ? 1 : 0];
    k.batch = x->shape.dims[r.layout ? 0 : 1];
    k.input = x->shape.dims[2];
    k.hidden = r.hidden ? r.hidden : rw->shape.dims[2];
    int64_t S = k.seq, B = k.batch, H = k.hidden, G = gates, nd = r.nd;
    if (!nn_cf__dims3(w, nd, G * H, k.input) || !nn_cf__dims3(rw, nd, G * H, H))
        return nn_op_error(c, NN_ERR_SHAPE, "W must be (%lld, %lld, %lld) and R (%lld, %lld, %lld)", (long long)nd,
                           (long long)(G * H), (long long)k.input, (long long)nd, (long long)(G * H), (long long)H);
    if (b->dtype && (b->shape.rank != 2 || b->shape.dims[0] != nd || b->shape.dims[1] != 2 * G * H))
        return nn_op_error(c, NN_ERR_SHAPE, "B must be (%lld, %lld)", (long long)nd, (long long)(2 * G * H));
    if (p->dtype && (p->shape.rank != 2 || p->shape.dims[0] != nd || p->shape.dims[1] != 3 * H))
        return nn_op_error(c, NN_ERR_SHAPE, "P must be (%lld, %lld)", (long long)nd, (long long)(3 * H));
    int64_t sd0 = r.layout ? B : nd, sd1 = r.layout ? nd : B;
    if ((h0->dtype && !nn_cf__dims3(h0, sd0, sd1, H)) || (c0->dtype && !nn_cf__dims3(c0, sd0, sd1, H)))
        return nn_op_error(c, NN_ERR_SHAPE, "initial_h and initial_c must be (%lld, %lld, %lld)", (long long)sd0,
                           (long long)sd1, (long long)H);
    if (sl->dtype && (!sl->data || sl->shape.rank != 1 || sl->shape.dims[0] != B))
        return nn_op_error(c, NN_ERR_SHAPE, "sequence_lens must be (%lld)", (long long)B);
    /* Sizes.  W and R hold their elements in memory, which bounds G*H*I and
       G*H*H; seq and batch are bounded only when input > 0, so every
       product with them is checked. */
    size_t rows = 0, xw_count = 0, state = 0, gh_rows = 0, total = 0;
    size_t GHs = (size_t)(G * H); /* W is (nd, G*H, I) in memory */
    int ok = nn_size_mul((size_t)S, (size_t)B, &rows) && nn_size_mul(rows, GHs, &xw_count) &&
             nn_size_mul((size_t)B, (size_t)H, &state) && nn_size_mul((size_t)B, GHs, &gh_rows);
    ok = ok && nn_size_add(xw_count, gh_rows, &total) && nn_size_add(total, GHs, &total);
    for (int i = 0; i < 4 && ok; i++) ok = nn_size_add(total, state, &total);
    if (!ok || total > SIZE_MAX / sizeof(float))
        return nn_op_error(c, NN_ERR_LIMIT, "sequence too long for the work buffers");
    size_t n_x = rows * (size_t)k.input, n_w = (size_t)nd * GHs * (size_t)k.input;
    size_t n_r = (size_t)nd * GHs * (size_t)H, n_s = (size_t)nd * state;
    st = nn_cf__f32_in(c, x, n_x, &k.x);
    if (st == NN_OK) st = nn_cf__f32_in(c, w, n_w, &k.w);
    if (st == NN_OK) st = nn_cf__f32_in(c, rw, n_r, &k.rw);
    if (st == NN_OK) st = nn_cf__f32_in(c, b, (size_t)nd * 2 * GHs, &k.bias);
    if (st == NN_OK) st = nn_cf__f32_in(c, p, (size_t)(nd * 3 * H), &k.p);
    if (st == NN_OK) st = nn_cf__f32_in(c, h0, n_s, &k.h0);
    if (st == NN_OK) st = nn_cf__f32_in(c, c0, n_s, &k.c0);
    if (st) return st;
    int64_t *lens = (int64_t *)nn_op_scratch(c, (size_t)B * sizeof(int64_t));
    float *work = (float *)nn_op_scratch(c, total * sizeof(float));
    if (!work || !lens) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    k.xw = work;
    k.acc = k.xw + xw_count;
    k.hs = k.acc + gh_rows;
    k.cs = k.hs + state;
    k.tmp = k.cs + state;
    k.rh = k.tmp + state;
    k.bx = k.rh + state;
    for (int64_t i = 0; i < B; i++) {
        lens[i] = sl->dtype ? nn_op__int_at(sl, (size_t)i) : S;
        if (lens[i] < 0 || lens[i] > S)
            return nn_op_error(c, NN_ERR_INVALID, "sequence_lens[%lld] is %lld, X has %lld steps", (long long)i,
                               (long long)lens[i], (long long)S);
    }
    k.lens = lens;
    nn_dtype t = x->dtype;
    int64_t ydims[4], sdims[3] = {sd0, sd1, H};
    if (r.layout == 0) { ydims[0] = S; ydims[1] = nd; ydims[2] = B; }
    else { ydims[0] = B; ydims[1] = S; ydims[2] = nd; }
    ydims[3] = H;
    if (n_out > 0) st = nn_cf__f32_out(c, &out[0], 0, t, 4, ydims, &k.y);
    if (st == NN_OK && n_out > 1) st = nn_cf__f32_out(c, &out[1], 1, t, 3, sdims, &k.yh);
    if (st == NN_OK && n_out > 2) st = nn_cf__f32_out(c, &out[2], 2, t, 3, sdims, &k.yc);
    if (st) return st;
    /* Y rows past a sequence length stay zero, as in the spec's test data
       and ONNX Runtime: the executor's buffers arrive zeroed. */
    if (k.y && t == NN_DTYPE_FLOAT) memset(k.y, 0, (size_t)S * (size_t)nd * state * sizeof(float));
    for (int d = 0; d < nd; d++) nn_cf__rnn_direction(c, &k, d);
    if (n_out > 0) nn_cf__f32_out_done(&out[0], k.y);
    if (n_out > 1) nn_cf__f32_out_done(&out[1], k.yh);
    if (n_out > 2) nn_cf__f32_out_done(&out[2], k.yc);
    return NN_OK;
}

static nn_status nn_cf__run_rnn(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    return nn_cf__run_rnn_common(c, 1, in, n_in, out, n_out);
}
static nn_status nn_cf__run_gru(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    return nn_cf__run_rnn_common(c, 3, in, n_in, out, n_out);
}
static nn_status nn_cf__run_lstm(nn_op_ctx *c, const nn_value *in, uint32_t n_in, nn_value *out, uint32_t n_out) {
    return nn_cf__run_rnn_common(c, 4, in, n_in, out, n_out);
}

/* ---- control family table ---------------------------------------------------------------- */

#define NN_CF__RNN_ATTRS "activation_alpha,activation_beta,activations,clip,direction,hidden_size,layout,output_sequence"

/* ---- the operator table --------------------------------------------------------------- */

/* One row per ONNX op (two for ops whose rows differ by opset): name,
   domain, opset range, input/output counts, accepted attributes, infer and
   run functions, flags; grouped as the kernel sections above. */
static const nn_op_def nn_graph__ops[] = {
    /* core (Identity, Constant) */
    {"Identity", "", 1, 23, 1, 1, 1, 1, "", nn_op__infer_same, nn_op__run_identity, 0},
    {"Constant", "", 1, 23, 0, 0, 1, 1, "value,value_float,value_floats,value_int,value_ints",
     nn_op__infer_constant, nn_op__run_constant, 0},
    /* element-wise math, activations, casts, quantize/dequantize */
    /* unary math */
    NN_EW__ROWS_U1("Abs", Abs),
    NN_EW__ROWS_U1("Neg", Neg),
    NN_EW__ROWS_U1("Reciprocal", Reciprocal),
    NN_EW__ROWS_U1("Floor", Floor),
    NN_EW__ROWS_U1("Ceil", Ceil),
    NN_EW__ROWS_U1("Sqrt", Sqrt),
    NN_EW__ROWS_U1("Exp", Exp),
    NN_EW__ROWS_U1("Log", Log),
    NN_EW__ROW("Round", 11, NN_EW__M, 1, 1, "", Round),
    NN_EW__ROW("Sin", 7, NN_EW__M, 1, 1, "", Sin),
    NN_EW__ROW("Cos", 7, NN_EW__M, 1, 1, "", Cos),
    NN_EW__ROW("Tan", 7, NN_EW__M, 1, 1, "", Tan),
    NN_EW__ROW("Asin", 7, NN_EW__M, 1, 1, "", Asin),
    NN_EW__ROW("Acos", 7, NN_EW__M, 1, 1, "", Acos),
    NN_EW__ROW("Atan", 7, NN_EW__M, 1, 1, "", Atan),
    NN_EW__ROW("Sinh", 9, NN_EW__M, 1, 1, "", Sinh),
    NN_EW__ROW("Cosh", 9, NN_EW__M, 1, 1, "", Cosh),
    NN_EW__ROW("Asinh", 9, NN_EW__M, 1, 1, "", Asinh),
    NN_EW__ROW("Acosh", 9, NN_EW__M, 1, 1, "", Acosh),
    NN_EW__ROW("Atanh", 9, NN_EW__M, 1, 1, "", Atanh),
    NN_EW__ROW("Erf", 9, NN_EW__M, 1, 1, "", Erf),
    NN_EW__ROW("Sign", 9, NN_EW__M, 1, 1, "", Sign),
    NN_EW__ROW("Not", 1, NN_EW__M, 1, 1, "", Not),
    NN_EW__ROW("IsNaN", 9, NN_EW__M, 1, 1, "", IsNaN),
    NN_EW__ROW("IsInf", 10, NN_EW__M, 1, 1, "detect_negative,detect_positive", IsInf),
    NN_EW__ROW("BitwiseNot", 18, NN_EW__M, 1, 1, "", BitwiseNot),
    /* activations */
    NN_EW__ROWS_U1("Relu", Relu),
    NN_EW__ROWS_U1("Sigmoid", Sigmoid),
    NN_EW__ROWS_U1("Tanh", Tanh),
    NN_EW__ROW("LeakyRelu", 1, 5, 1, 1, "alpha,consumed_inputs", LeakyRelu),
    NN_EW__ROW("LeakyRelu", 6, NN_EW__M, 1, 1, "alpha", LeakyRelu),
    NN_EW__ROW("Elu", 1, 5, 1, 1, "alpha,consumed_inputs", Elu),
    NN_EW__ROW("Elu", 6, NN_EW__M, 1, 1, "alpha", Elu),
    NN_EW__ROW("Selu", 1, 5, 1, 1, "alpha,consumed_inputs,gamma", Selu),
    NN_EW__ROW("Selu", 6, NN_EW__M, 1, 1, "alpha,gamma", Selu),
    NN_EW__ROW("HardSigmoid", 1, 5, 1, 1, "alpha,beta,consumed_inputs", HardSigmoid),
    NN_EW__ROW("HardSigmoid", 6, NN_EW__M, 1, 1, "alpha,beta", HardSigmoid),
    NN_EW__ROW("PRelu", 1, 5, 2, 2, "consumed_inputs", PRelu),
    NN_EW__ROW("PRelu", 6, NN_EW__M, 2, 2, "", PRelu),
    NN_EW__ROW("ThresholdedRelu", 10, NN_EW__M, 1, 1, "alpha", ThresholdedRelu),
    NN_EW__ROW("Celu", 12, NN_EW__M, 1, 1, "alpha", Celu),
    NN_EW__ROW("Softplus", 1, NN_EW__M, 1, 1, "", Softplus),
    NN_EW__ROW("Softsign", 1, NN_EW__M, 1, 1, "", Softsign),
    NN_EW__ROW("HardSwish", 14, NN_EW__M, 1, 1, "", HardSwish),
    NN_EW__ROW("Mish", 18, NN_EW__M, 1, 1, "", Mish),
    NN_EW__ROW("Gelu", 20, NN_EW__M, 1, 1, "approximate", Gelu),
    {"Gelu", "com.microsoft", 1, 1, 1, 1, 1, 1, "", nn_ew__infer_Gelu, nn_ew__run_Gelu, 0},
    {"FastGelu", "com.microsoft", 1, 1, 1, 1, 1, 1, "", nn_ew__infer_FastGelu, nn_ew__run_FastGelu, 0},
    NN_EW__ROW("Shrink", 9, NN_EW__M, 1, 1, "bias,lambd", Shrink),
    NN_EW__ROW("Swish", 24, NN_EW__M, 1, 1, "alpha", Swish),
    /* binary */
    NN_EW__ROW("Add", 1, 5, 2, 2, "axis,broadcast,consumed_inputs", Add),
    NN_EW__ROWS_B1("Add", Add, 6),
    NN_EW__ROW("Sub", 1, 5, 2, 2, "axis,broadcast,consumed_inputs", Sub),
    NN_EW__ROWS_B1("Sub", Sub, 6),
    NN_EW__ROW("Mul", 1, 5, 2, 2, "axis,broadcast,consumed_inputs", Mul),
    NN_EW__ROWS_B1("Mul", Mul, 6),
    NN_EW__ROW("Div", 1, 5, 2, 2, "axis,broadcast,consumed_inputs", Div),
    NN_EW__ROWS_B1("Div", Div, 6),
    NN_EW__ROWS_B1("Pow", Pow, 6),
    NN_EW__ROW("Mod", 10, NN_EW__M, 2, 2, "fmod", Mod),
    NN_EW__ROW("BitShift", 11, NN_EW__M, 2, 2, "direction", BitShift),
    NN_EW__ROW("BitwiseAnd", 18, NN_EW__M, 2, 2, "", BitwiseAnd),
    NN_EW__ROW("BitwiseOr", 18, NN_EW__M, 2, 2, "", BitwiseOr),
    NN_EW__ROW("BitwiseXor", 18, NN_EW__M, 2, 2, "", BitwiseXor),
    NN_EW__ROWS_B1("And", And, 6),
    NN_EW__ROWS_B1("Or", Or, 6),
    NN_EW__ROWS_B1("Xor", Xor, 6),
    NN_EW__ROWS_B1("Equal", Equal, 6),
    NN_EW__ROWS_B1("Greater", Greater, 6),
    NN_EW__ROWS_B1("Less", Less, 6),
    NN_EW__ROW("GreaterOrEqual", 12, NN_EW__M, 2, 2, "", GreaterOrEqual),
    NN_EW__ROW("LessOrEqual", 12, NN_EW__M, 2, 2, "", LessOrEqual),
    /* variadic */
    NN_EW__ROW("Sum", 1, 5, 1, -1, "consumed_inputs", Sum),
    NN_EW__ROW("Sum", 6, NN_EW__M, 1, -1, "", Sum),
    NN_EW__ROW("Mean", 1, 5, 1, -1, "consumed_inputs", Mean),
    NN_EW__ROW("Mean", 6, NN_EW__M, 1, -1, "", Mean),
    NN_EW__ROW("Max", 1, 5, 1, -1, "consumed_inputs", Max),
    NN_EW__ROW("Max", 6, NN_EW__M, 1, -1, "", Max),
    NN_EW__ROW("Min", 1, 5, 1, -1, "consumed_inputs", Min),
    NN_EW__ROW("Min", 6, NN_EW__M, 1, -1, "", Min),
    /* selection, clipping, conversion */
    NN_EW__ROW("Where", 9, NN_EW__M, 3, 3, "", Where),
    NN_EW__ROW("Clip", 1, 5, 1, 1, "consumed_inputs,max,min", Clip),
    NN_EW__ROW("Clip", 6, 10, 1, 1, "max,min", Clip),
    NN_EW__ROW("Clip", 11, NN_EW__M, 1, 3, "", Clip),
    NN_EW__ROW("Cast", 1, 18, 1, 1, "to", Cast),
    NN_EW__ROW("Cast", 19, 23, 1, 1, "saturate,to", Cast),
    NN_EW__ROW("Cast", 24, NN_EW__M, 1, 1, "round_mode,saturate,to", Cast),
    NN_EW__ROW("CastLike", 15, 18, 2, 2, "", CastLike),
    NN_EW__ROW("CastLike", 19, 23, 2, 2, "saturate", CastLike),
    NN_EW__ROW("CastLike", 24, NN_EW__M, 2, 2, "round_mode,saturate", CastLike),
    /* quantization */
    NN_EW__ROW("QuantizeLinear", 10, 12, 2, 3, "", QuantizeLinear),
    NN_EW__ROW("QuantizeLinear", 13, 18, 2, 3, "axis", QuantizeLinear),
    NN_EW__ROW("QuantizeLinear", 19, 20, 2, 3, "axis,saturate", QuantizeLinear),
    NN_EW__ROW("QuantizeLinear", 21, 22, 2, 3, "axis,block_size,output_dtype,saturate", QuantizeLinear),
    NN_EW__ROW("QuantizeLinear", 23, NN_EW__M, 2, 3, "axis,block_size,output_dtype,precision,saturate", QuantizeLinear),
    NN_EW__ROW("DequantizeLinear", 10, 12, 2, 3, "", DequantizeLinear),
    NN_EW__ROW("DequantizeLinear", 13, 20, 2, 3, "axis", DequantizeLinear),
    NN_EW__ROW("DequantizeLinear", 21, 22, 2, 3, "axis,block_size", DequantizeLinear),
    NN_EW__ROW("DequantizeLinear", 23, NN_EW__M, 2, 3, "axis,block_size,output_dtype", DequantizeLinear),
    {"DynamicQuantizeLinear", "", 11, NN_EW__M, 1, 1, 3, 3, "", nn_ew__infer_DynamicQuantizeLinear,
     nn_ew__run_DynamicQuantizeLinear, 0},
    /* shape and data movement */
    {"Reshape", "", 1, NN_TN__OPSET_MAX, 1, 2, 1, 1, "shape,consumed_inputs,allowzero", nn_tn__infer_reshape, nn_tn__run_bytes, 0},
    {"Flatten", "", 1, NN_TN__OPSET_MAX, 1, 1, 1, 1, "axis", nn_tn__infer_flatten, nn_tn__run_bytes, 0},
    {"Squeeze", "", 1, NN_TN__OPSET_MAX, 1, 2, 1, 1, "axes", nn_tn__infer_squeeze, nn_tn__run_bytes, 0},
    {"Unsqueeze", "", 1, NN_TN__OPSET_MAX, 1, 2, 1, 1, "axes", nn_tn__infer_unsqueeze, nn_tn__run_bytes, 0},
    {"Transpose", "", 1, NN_TN__OPSET_MAX, 1, 1, 1, 1, "perm", nn_tn__infer_transpose, nn_tn__run_transpose, 0},
    {"Concat", "", 1, NN_TN__OPSET_MAX, 1, -1, 1, 1, "axis", nn_tn__infer_concat, nn_tn__run_concat, 0},
    {"Split", "", 1, NN_TN__OPSET_MAX, 1, 2, 1, -1, "axis,split,num_outputs", nn_tn__infer_split, nn_tn__run_split, 0},
    {"Slice", "", 1, NN_TN__OPSET_MAX, 1, 5, 1, 1, "starts,ends,axes", nn_tn__infer_slice, nn_tn__run_slice, 0},
    {"Gather", "", 1, NN_TN__OPSET_MAX, 2, 2, 1, 1, "axis", nn_tn__infer_gather, nn_tn__run_gather, 0},
    {"GatherElements", "", 11, NN_TN__OPSET_MAX, 2, 2, 1, 1, "axis", nn_tn__infer_gather_elements, nn_tn__run_gather_elements, 0},
    {"GatherND", "", 11, NN_TN__OPSET_MAX, 2, 2, 1, 1, "batch_dims", nn_tn__infer_gather_nd, nn_tn__run_gather_nd, 0},
    {"Scatter", "", 9, NN_TN__OPSET_MAX, 3, 3, 1, 1, "axis", nn_tn__infer_scatter_elements, nn_tn__run_scatter_elements, 0},
    {"ScatterElements", "", 11, NN_TN__OPSET_MAX, 3, 3, 1, 1, "axis,reduction", nn_tn__infer_scatter_elements, nn_tn__run_scatter_elements, 0},
    {"ScatterND", "", 11, NN_TN__OPSET_MAX, 3, 3, 1, 1, "reduction", nn_tn__infer_scatter_nd, nn_tn__run_scatter_nd, 0},
    {"Pad", "", 1, NN_TN__OPSET_MAX, 1, 4, 1, 1, "mode,pads,paddings,value", nn_tn__infer_pad, nn_tn__run_pad, 0},
    {"Resize", "", 10, NN_TN__OPSET_MAX, 1, 4, 1, 1,
     "antialias,axes,coordinate_transformation_mode,cubic_coeff_a,exclude_outside,extrapolation_value,"
     "keep_aspect_ratio_policy,mode,nearest_mode",
     nn_tn__infer_resize, nn_tn__run_resize, 0},
    {"Upsample", "", 7, 9, 1, 2, 1, 1, "mode,scales", nn_tn__infer_resize, nn_tn__run_resize, 0},
    {"Expand", "", 8, NN_TN__OPSET_MAX, 2, 2, 1, 1, "", nn_tn__infer_expand, nn_tn__run_expand, 0},
    {"Tile", "", 1, NN_TN__OPSET_MAX, 2, 3, 1, 1, "", nn_tn__infer_tile, nn_tn__run_tile, 0},
    {"Shape", "", 1, NN_TN__OPSET_MAX, 1, 1, 1, 1, "start,end", nn_tn__infer_shape, nn_tn__run_shape, 0},
    {"Size", "", 1, NN_TN__OPSET_MAX, 1, 1, 1, 1, "", nn_tn__infer_size, nn_tn__run_size, 0},
    {"ConstantOfShape", "", 9, NN_TN__OPSET_MAX, 1, 1, 1, 1, "value", nn_tn__infer_cos, nn_tn__run_cos, 0},
    {"Range", "", 11, NN_TN__OPSET_MAX, 3, 3, 1, 1, "stash_type", nn_tn__infer_range, nn_tn__run_range, 0},
    {"OneHot", "", 9, NN_TN__OPSET_MAX, 3, 3, 1, 1, "axis", nn_tn__infer_onehot, nn_tn__run_onehot, 0},
    {"NonZero", "", 9, NN_TN__OPSET_MAX, 1, 1, 1, 1, "", nn_tn__infer_nonzero, nn_tn__run_nonzero, 0},
    {"TopK", "", 1, NN_TN__OPSET_MAX, 1, 2, 2, 2, "axis,k,largest,sorted", nn_tn__infer_topk, nn_tn__run_topk, 0},
    {"Unique", "", 11, NN_TN__OPSET_MAX, 1, 1, 1, 4, "axis,sorted", nn_tn__infer_unique, nn_tn__run_unique, 0},
    {"DepthToSpace", "", 1, NN_TN__OPSET_MAX, 1, 1, 1, 1, "blocksize,mode", nn_tn__infer_d2s, nn_tn__run_d2s, 0},
    {"SpaceToDepth", "", 1, NN_TN__OPSET_MAX, 1, 1, 1, 1, "blocksize", nn_tn__infer_d2s, nn_tn__run_d2s, 0},
    {"Trilu", "", 14, NN_TN__OPSET_MAX, 1, 2, 1, 1, "upper", nn_tn__infer_trilu, nn_tn__run_trilu, 0},
    {"EyeLike", "", 9, NN_TN__OPSET_MAX, 1, 1, 1, 1, "dtype,k", nn_tn__infer_eyelike, nn_tn__run_eyelike, 0},
    {"Compress", "", 9, NN_TN__OPSET_MAX, 2, 2, 1, 1, "axis", nn_tn__infer_compress, nn_tn__run_compress, 0},
    {"ReverseSequence", "", 10, NN_TN__OPSET_MAX, 2, 2, 1, 1, "batch_axis,time_axis", nn_tn__infer_revseq, nn_tn__run_revseq, 0},
    {"CenterCropPad", "", 18, NN_TN__OPSET_MAX, 2, 2, 1, 1, "axes", nn_tn__infer_ccp, nn_tn__run_ccp, 0},
    {"Col2Im", "", 18, NN_TN__OPSET_MAX, 3, 3, 1, 1, "dilations,pads,strides", nn_tn__infer_col2im, nn_tn__run_col2im, 0},
    {"GridSample", "", 16, NN_TN__OPSET_MAX, 2, 2, 1, 1, "align_corners,mode,padding_mode", nn_tn__infer_grid_sample, nn_tn__run_grid_sample, 0},
    /* convolution, matrix products, pooling, normalization */
    {"Conv", "", 1, 23, 2, 3, 1, 1, "auto_pad,dilations,group,kernel_shape,pads,strides",
     nn_nn__infer_conv, nn_nn__run_conv, 0},
    {"ConvTranspose", "", 1, 23, 2, 3, 1, 1,
     "auto_pad,dilations,group,kernel_shape,output_padding,output_shape,pads,strides",
     nn_nn__infer_convt, nn_nn__run_convt, 0},
    {"MatMul", "", 1, 23, 2, 2, 1, 1, "", nn_nn__infer_matmul, nn_nn__run_matmul, 0},
    {"Gemm", "", 1, 23, 2, 3, 1, 1, "alpha,beta,broadcast,transA,transB", nn_nn__infer_gemm, nn_nn__run_gemm, 0},
    {"FusedConv", "com.microsoft", 1, 1, 2, 4, 1, 1,
     "activation,activation_params,auto_pad,dilations,group,kernel_shape,pads,strides", nn_nn__infer_fused_conv,
     nn_nn__run_fused_conv, 0},
    {"FusedGemm", "com.microsoft", 1, 1, 2, 3, 1, 1,
     "activation,activation_alpha,activation_beta,alpha,beta,transA,transB", nn_nn__infer_fused_gemm,
     nn_nn__run_fused_gemm, 0},
    {"QuickGelu", "com.microsoft", 1, 1, 1, 1, 1, 1, "alpha", nn_nn__infer_quick_gelu, nn_nn__run_quick_gelu, 0},
    {"FusedConv", "ai.nnport", 1, 1, 2, 4, 1, 1,
     "activation,activation_params,auto_pad,dilations,group,kernel_shape,pads,strides", nn_nn__infer_fused_conv,
     nn_nn__run_fused_conv, 0},
    {"FusedGemm", "ai.nnport", 1, 1, 2, 3, 1, 1,
     "activation,activation_alpha,activation_beta,alpha,beta,transA,transB", nn_nn__infer_fused_gemm,
     nn_nn__run_fused_gemm, 0},
    {"MaxPool", "", 1, 23, 1, 1, 1, 2, NN_NN__POOL_ATTRS ",storage_order", nn_nn__infer_pool, nn_nn__run_pool, 0},
    {"AveragePool", "", 1, 23, 1, 1, 1, 1, NN_NN__POOL_ATTRS ",count_include_pad", nn_nn__infer_pool,
     nn_nn__run_pool, 0},
    {"LpPool", "", 1, 23, 1, 1, 1, 1, NN_NN__POOL_ATTRS ",p", nn_nn__infer_pool, nn_nn__run_pool, 0},
    {"GlobalAveragePool", "", 1, 23, 1, 1, 1, 1, "", nn_nn__infer_gpool, nn_nn__run_gpool, 0},
    {"GlobalMaxPool", "", 1, 23, 1, 1, 1, 1, "", nn_nn__infer_gpool, nn_nn__run_gpool, 0},
    {"GlobalLpPool", "", 1, 23, 1, 1, 1, 1, "p", nn_nn__infer_gpool, nn_nn__run_gpool, 0},
    {"BatchNormalization", "", 1, 23, 5, 5, 1, 5, "consumed_inputs,epsilon,is_test,momentum,spatial,training_mode",
     nn_nn__infer_bn, nn_nn__run_bn, 0},
    {"InstanceNormalization", "", 1, 23, 3, 3, 1, 1, "consumed_inputs,epsilon", nn_nn__infer_instnorm,
     nn_nn__run_instnorm, 0},
    {"LRN", "", 1, 23, 1, 1, 1, 1, "alpha,beta,bias,size", nn_nn__infer_lrn, nn_nn__run_lrn, 0},
    {"Dropout", "", 1, 23, 1, 3, 1, 2, "consumed_inputs,is_test,ratio,seed", nn_nn__infer_dropout,
     nn_nn__run_dropout, 0},
    {"MatMulInteger", "", 10, 23, 2, 4, 1, 1, "", nn_nn__infer_qmatmul, nn_nn__run_qmatmul, 0},
    {"QLinearMatMul", "", 10, 23, 8, 8, 1, 1, "", nn_nn__infer_qmatmul, nn_nn__run_qmatmul, 0},
    {"ConvInteger", "", 10, 23, 2, 4, 1, 1, "auto_pad,dilations,group,kernel_shape,pads,strides", nn_nn__infer_qconv,
     nn_nn__run_qconv, 0},
    {"QLinearConv", "", 10, 23, 8, 9, 1, 1, "auto_pad,dilations,group,kernel_shape,pads,strides", nn_nn__infer_qconv,
     nn_nn__run_qconv, 0},
    /* reductions, softmax, normalization layers, Einsum, losses */
    {"ReduceSum", "", 1, 23, 1, 2, 1, 1, NN_RD__REDUCE_ATTRS, nn_rd__reduce_infer, nn_rd__reduce_run, 0},
    {"ReduceMean", "", 1, 23, 1, 2, 1, 1, NN_RD__REDUCE_ATTRS, nn_rd__reduce_infer, nn_rd__reduce_run, 0},
    {"ReduceMax", "", 1, 23, 1, 2, 1, 1, NN_RD__REDUCE_ATTRS, nn_rd__reduce_infer, nn_rd__reduce_run, 0},
    {"ReduceMin", "", 1, 23, 1, 2, 1, 1, NN_RD__REDUCE_ATTRS, nn_rd__reduce_infer, nn_rd__reduce_run, 0},
    {"ReduceProd", "", 1, 23, 1, 2, 1, 1, NN_RD__REDUCE_ATTRS, nn_rd__reduce_infer, nn_rd__reduce_run, 0},
    {"ReduceL1", "", 1, 23, 1, 2, 1, 1, NN_RD__REDUCE_ATTRS, nn_rd__reduce_infer, nn_rd__reduce_run, 0},
    {"ReduceL2", "", 1, 23, 1, 2, 1, 1, NN_RD__REDUCE_ATTRS, nn_rd__reduce_infer, nn_rd__reduce_run, 0},
    {"ReduceLogSum", "", 1, 23, 1, 2, 1, 1, NN_RD__REDUCE_ATTRS, nn_rd__reduce_infer, nn_rd__reduce_run, 0},
    {"ReduceLogSumExp", "", 1, 23, 1, 2, 1, 1, NN_RD__REDUCE_ATTRS, nn_rd__reduce_infer, nn_rd__reduce_run, 0},
    {"ReduceSumSquare", "", 1, 23, 1, 2, 1, 1, NN_RD__REDUCE_ATTRS, nn_rd__reduce_infer, nn_rd__reduce_run, 0},
    {"ArgMax", "", 1, 23, 1, 1, 1, 1, "axis,keepdims,select_last_index", nn_rd__arg_infer, nn_rd__arg_run, 0},
    {"ArgMin", "", 1, 23, 1, 1, 1, 1, "axis,keepdims,select_last_index", nn_rd__arg_infer, nn_rd__arg_run, 0},
    {"Softmax", "", 1, 23, 1, 1, 1, 1, "axis", nn_rd__smx_infer, nn_rd__smx_run, 0},
    {"LogSoftmax", "", 1, 23, 1, 1, 1, 1, "axis", nn_rd__smx_infer, nn_rd__smx_run, 0},
    {"Hardmax", "", 1, 23, 1, 1, 1, 1, "axis", nn_rd__smx_infer, nn_rd__smx_run, 0},
    {"CumSum", "", 11, 23, 2, 2, 1, 1, "exclusive,reverse", nn_rd__cumsum_infer, nn_rd__cumsum_run, 0},
    {"CumProd", "", 26, 26, 2, 2, 1, 1, "exclusive,reverse", nn_rd__cumsum_infer, nn_rd__cumsum_run, 0},
    /* LayerNormalization is ONNX opset 17, but ONNX Runtime registers an
       onnx-domain LayerNormalization since version 1 (its contrib kernel), so
       a model of lower opset may carry the node the `layernorm` pass makes. */
    {"LayerNormalization", "", 1, 23, 2, 3, 1, 3, "axis,epsilon,stash_type", nn_rd__norm_infer, nn_rd__norm_run, 0},
    {"Attention", "", 23, 23, 3, 6, 1, 4, /* inputs 5-6 and outputs 2-4 are refused by the infer */
     "is_causal,kv_num_heads,q_num_heads,qk_matmul_output_mode,scale,softcap,softmax_precision", nn_rd__attn_infer,
     nn_rd__attn_run, 0},
    {"Attention", "ai.nnport", 1, 1, 3, 4, 1, 1, "is_causal,kv_num_heads,q_num_heads,scale", nn_rd__attn_infer,
     nn_rd__attn_run, 0},
    {"RMSNormalization", "", 23, 23, 2, 2, 1, 1, "axis,epsilon,stash_type", nn_rd__norm_infer, nn_rd__norm_run, 0},
    {"GroupNormalization", "", 18, 23, 3, 3, 1, 1, "epsilon,num_groups,stash_type", nn_rd__group_infer, nn_rd__group_run, 0},
    {"MeanVarianceNormalization", "", 9, 23, 1, 1, 1, 1, "axes", nn_rd__mvn_infer, nn_rd__mvn_run, 0},
    {"LpNormalization", "", 1, 23, 1, 1, 1, 1, "axis,p", nn_rd__lpnorm_infer, nn_rd__lpnorm_run, 0},
    {"Einsum", "", 12, 23, 1, -1, 1, 1, "equation", nn_rd__ein_infer, nn_rd__ein_run, 0},
    {"NegativeLogLikelihoodLoss", "", 12, 23, 2, 3, 1, 1, "ignore_index,reduction", nn_rd__loss_infer, nn_rd__loss_run, 0},
    {"SoftmaxCrossEntropyLoss", "", 12, 23, 2, 3, 1, 2, "ignore_index,reduction", nn_rd__loss_infer, nn_rd__loss_run, 0},
    {"Det", "", 11, 23, 1, 1, 1, 1, "", nn_rd__det_infer, nn_rd__det_run, 0},
    /* control flow and recurrent */
    {"If", "", 1, 23, 1, 1, 1, -1, "then_branch,else_branch", nn_cf__infer_if, nn_cf__run_if, NN_OPF_SUBGRAPH},
    {"Loop", "", 1, 23, 2, -1, 1, -1, "body", nn_cf__infer_loop, nn_cf__run_loop, NN_OPF_SUBGRAPH},
    {"Scan", "", 8, 23, 1, -1, 1, -1,
     "body,num_scan_inputs,directions,scan_input_axes,scan_input_directions,scan_output_axes,scan_output_directions",
     nn_cf__infer_scan, nn_cf__run_scan, NN_OPF_SUBGRAPH},
    {"RNN", "", 1, 23, 3, 6, 0, 2, NN_CF__RNN_ATTRS, nn_cf__infer_rnn, nn_cf__run_rnn, 0},
    {"GRU", "", 1, 23, 3, 6, 0, 2, NN_CF__RNN_ATTRS ",linear_before_reset", nn_cf__infer_gru, nn_cf__run_gru, 0},
    {"LSTM", "", 1, 23, 3, 8, 0, 3, NN_CF__RNN_ATTRS ",input_forget", nn_cf__infer_lstm, nn_cf__run_lstm, 0},
};
#undef NN_NN__POOL_ATTRS

NN_API const nn_op_def *nn_op_at(size_t index) {
    return index < sizeof nn_graph__ops / sizeof nn_graph__ops[0] ? &nn_graph__ops[index] : NULL;
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

/* ---- executor: thread pool --------------------------------------------------------- */

/* A fixed pool: the calling thread takes chunk 0 and workers 1..n-1 take
   the others.  Static chunks keep results independent of timing. */
typedef struct nn_exec__pool {
    int threads;
#ifndef NN_NO_THREADS
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    uint64_t generation;
    int pending, stop, started;
    nn_range_fn fn;
    void *arg;
    size_t items, chunks;
#endif
} nn_exec__pool;

#ifndef NN_NO_THREADS
typedef struct { nn_exec__pool *pool; int index; } nn_exec__worker_arg;

static void nn_exec__pool_chunk(nn_exec__pool *p, size_t chunk) {
    size_t b = p->items * chunk / p->chunks, e = p->items * (chunk + 1) / p->chunks;
    if (b < e) p->fn(p->arg, b, e);
}

/* Waking a sleeping thread costs tens of microseconds, and a transformer
   makes hundreds of parallel calls per run: so both sides first spin for a
   bounded time (about NN_EXEC__SPIN pause instructions, tens of
   microseconds) on atomics, and only then sleep on the condition variables.
   Compilers without GCC's __atomic builtins use the sleeping path alone. */
#if defined(__GNUC__) || defined(__clang__)
#define NN_EXEC__ATOMICS 1
#define NN_EXEC__LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#if defined(__x86_64__) || defined(__i386__)
#define NN_EXEC__PAUSE() __builtin_ia32_pause()
#else
#define NN_EXEC__PAUSE() ((void)0)
#endif
#else
#define NN_EXEC__ATOMICS 0
#endif
#ifndef NN_EXEC__SPIN
#define NN_EXEC__SPIN 20000
#endif

static void *nn_exec__worker(void *varg) {
    nn_exec__worker_arg *wa = (nn_exec__worker_arg *)varg;
    nn_exec__pool *p = wa->pool;
    int index = wa->index;
    uint64_t seen = 0;
    for (;;) {
#if NN_EXEC__ATOMICS
        for (int spin = 0; spin < NN_EXEC__SPIN; spin++) {
            if (NN_EXEC__LOAD(p->generation) != seen || NN_EXEC__LOAD(p->stop)) break;
            NN_EXEC__PAUSE();
        }
#endif
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->cv_work, &p->mu);
        int stop = p->stop;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        if ((size_t)index < p->chunks) nn_exec__pool_chunk(p, (size_t)index);
#if NN_EXEC__ATOMICS
        if (__atomic_sub_fetch(&p->pending, 1, __ATOMIC_ACQ_REL) == 0) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
#else
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->cv_done);
        pthread_mutex_unlock(&p->mu);
#endif
    }
    return NULL;
}
#endif

/* ---- executor: plans ------------------------------------------------------------------ */

typedef struct nn_exec__plan nn_exec__plan;
struct nn_exec__plan {
    const nn_graph *g;
    uint32_t *order;           /* node indices in topological order */
    const nn_op_def **defs;    /* per node index */
    int64_t *opsets;           /* per node index */
    uint32_t *last_use;        /* per tensor: last order position that reads it */
    nn_exec__plan **subs;      /* per g->subgraphs[i] */
};

typedef struct nn_exec__env {
    const nn_exec__plan *plan;
    nn_value *values;          /* per tensor of plan->g */
    struct nn_exec__env *parent;
} nn_exec__env;

struct nn_exec {
    nn_allocator alloc;
    nn_exec_desc desc;
    const nn_graph *g;
    nn_exec__plan *plan;
    nn_exec__env env;
    nn_value *inputs;          /* bound by nn_exec_set_input */
    nn_exec__pool pool;
    size_t live_bytes, peak_bytes;
    void *blocks;              /* free nn_exec__block list, reused across runs */
};

static void nn_exec__plan_free(const nn_allocator *a, nn_exec__plan *p) {
    if (!p) return;
    if (p->subs)
        for (uint32_t i = 0; i < p->g->subgraph_count; i++) nn_exec__plan_free(a, p->subs[i]);
    nn_free(a, p->subs);
    nn_free(a, p->order);
    nn_free(a, p->defs);
    nn_free(a, p->opsets);
    nn_free(a, p->last_use);
    nn_free(a, p);
}

/* Resolves ops, orders nodes and computes last uses, for g and (recursively,
   depth capped by nn_graph_create_subgraph) its subgraphs. */
static nn_status nn_exec__plan_create(const nn_allocator *a, const nn_graph *g, nn_exec__plan **out,
                                      nn_diag *diag) {
    nn_exec__plan *p = (nn_exec__plan *)nn_alloc(a, sizeof *p);
    if (!p) return nn_diag_set(diag, NN_ERR_NOMEM, "exec", "out of memory");
    memset(p, 0, sizeof *p);
    p->g = g;
    nn_status st = NN_OK;
    size_t nn = g->node_count ? g->node_count : 1, nt = g->tensor_count ? g->tensor_count : 1;
    p->order = (uint32_t *)nn_alloc(a, nn * sizeof(uint32_t));
    p->defs = (const nn_op_def **)nn_alloc(a, nn * sizeof(nn_op_def *));
    p->opsets = (int64_t *)nn_alloc(a, nn * sizeof(int64_t));
    p->last_use = (uint32_t *)nn_alloc(a, nt * sizeof(uint32_t));
    p->subs = (nn_exec__plan **)nn_alloc(a, (g->subgraph_count + 1) * sizeof(nn_exec__plan *));
    if (!p->order || !p->defs || !p->opsets || !p->last_use || !p->subs) {
        st = nn_diag_set(diag, NN_ERR_NOMEM, "exec", "out of memory");
        goto fail;
    }
    memset(p->subs, 0, (g->subgraph_count + 1) * sizeof(nn_exec__plan *));
    for (uint32_t i = 0; i < g->node_count && st == NN_OK; i++)
        st = nn_graph__check_node(g, &g->nodes[i], &p->defs[i], &p->opsets[i], diag);
    if (st == NN_OK) st = nn_graph_topo_order(g, p->order, diag);
    if (st) goto fail;
    for (uint32_t t = 0; t < g->tensor_count; t++) p->last_use[t] = NN_INVALID_ID;
    {
        uint32_t deps[NN_GRAPH__MAX_DEPS], dc;
        for (uint32_t k = 0; k < g->node_count; k++) {
            nn_graph__node_deps(g, &g->nodes[p->order[k]], deps, NN_GRAPH__MAX_DEPS, &dc);
            for (uint32_t d = 0; d < dc; d++) p->last_use[deps[d]] = k;
        }
    }
    /* Graph outputs and values read by subgraphs of later nodes stay. */
    for (uint32_t o = 0; o < g->output_count; o++) p->last_use[g->outputs[o].id] = NN_INVALID_ID;
    for (uint32_t s = 0; s < g->subgraph_count && st == NN_OK; s++)
        st = nn_exec__plan_create(a, g->subgraphs[s], &p->subs[s], diag);
    if (st) goto fail;
    *out = p;
    return NN_OK;
fail:
    nn_exec__plan_free(a, p);
    return st;
}

static const nn_exec__plan *nn_exec__subplan(const nn_exec__plan *p, const nn_graph *body) {
    for (uint32_t s = 0; s < p->g->subgraph_count; s++)
        if (p->g->subgraphs[s] == body) return p->subs[s];
    return NULL;
}

/* ---- executor: values ------------------------------------------------------------------ */

/* Value and scratch memory comes in blocks with a 64-byte header (keeping
   the data 64-byte aligned when the allocator is).  Inside an exec, freed
   blocks go to a pool and are reused by later requests of a similar size,
   in this run and the next: returning them to the C library made it hand
   large blocks back to the OS and fault them in again on every run (2x
   slower on ViT-Ti).  The pool is freed with the exec; static inference
   (no exec) frees blocks directly. */
typedef struct nn_exec__block {
    struct nn_exec__block *next; /* free list, or a node's scratch chain */
    size_t cap;                  /* data bytes after the header */
} nn_exec__block;
#define NN_EXEC__HEADER 64

static void *nn_exec__block_get(const nn_allocator *a, nn_exec *x, size_t bytes) {
    if (x) { /* best fit among free blocks at most about twice too big */
        nn_exec__block **best = NULL;
        for (nn_exec__block **b = (nn_exec__block **)&x->blocks; *b; b = &(*b)->next)
            if ((*b)->cap >= bytes && (*b)->cap / 2 <= bytes + 4096 && (!best || (*b)->cap < (*best)->cap)) best = b;
        if (best) {
            nn_exec__block *blk = *best;
            *best = blk->next;
            blk->next = NULL;
            return (char *)blk + NN_EXEC__HEADER;
        }
    }
    size_t total;
    if (!nn_size_add(bytes, NN_EXEC__HEADER, &total)) return NULL;
    nn_exec__block *blk = (nn_exec__block *)nn_alloc(a, total);
    if (!blk) return NULL;
    blk->next = NULL;
    blk->cap = bytes;
    return (char *)blk + NN_EXEC__HEADER;
}

static void nn_exec__block_put(const nn_allocator *a, nn_exec *x, void *data) {
    nn_exec__block *blk = (nn_exec__block *)((char *)data - NN_EXEC__HEADER);
    if (x) {
        blk->next = (nn_exec__block *)x->blocks;
        x->blocks = blk;
    } else {
        nn_free(a, blk);
    }
}

static void nn_exec__value_release(const nn_allocator *a, nn_exec *x, nn_value *v) {
    if ((v->flags & NN_VALUE_OWNED) && v->data) {
        nn_exec__block_put(a, x, v->data);
        if (x) x->live_bytes -= v->bytes;
    }
    memset(v, 0, sizeof *v);
}

NN_API nn_status nn_op_alloc_value(nn_op_ctx *c, nn_value *v) {
    int ok;
    size_t count = nn_shape_count(&v->shape, &ok), bytes;
    const char *where = c->node ? nn_graph__node_label(c->node) : "value";
    if (!ok) return nn_diag_set(c->diag, NN_ERR_SHAPE, where, "output shape is not known or overflows");
    if (!nn_dtype_bytes_for(v->dtype, count, &bytes))
        return nn_diag_set(c->diag, NN_ERR_UNSUPPORTED, where, "cannot store %s values",
                           nn_dtype_name(v->dtype));
    /* A little slack lets vector kernels read one register past the end. */
    void *p = bytes <= SIZE_MAX - 256 ? nn_exec__block_get(c->alloc, c->exec, bytes + 64) : NULL;
    if (!p) return nn_diag_set(c->diag, NN_ERR_NOMEM, where, "out of memory for a %zu-byte tensor", bytes);
    memset(p, 0, bytes);
    v->data = p;
    v->bytes = bytes;
    v->flags |= NN_VALUE_OWNED;
    if (c->exec) {
        c->exec->live_bytes += bytes;
        if (c->exec->live_bytes > c->exec->peak_bytes) c->exec->peak_bytes = c->exec->live_bytes;
    }
    return NN_OK;
}

NN_API void nn_op_free_value(nn_op_ctx *c, nn_value *v) { nn_exec__value_release(c->alloc, c->exec, v); }

NN_API void *nn_op_scratch(nn_op_ctx *c, size_t bytes) {
    void *p = bytes <= SIZE_MAX - 256 ? nn_exec__block_get(c->alloc, c->exec, bytes) : NULL;
    if (!p) {
        nn_diag_set(c->diag, bytes > SIZE_MAX - 256 ? NN_ERR_LIMIT : NN_ERR_NOMEM,
                    c->node ? nn_graph__node_label(c->node) : "scratch", "out of memory for %zu bytes of scratch", bytes);
        return NULL;
    }
    nn_exec__block *blk = (nn_exec__block *)((char *)p - NN_EXEC__HEADER);
    blk->next = (nn_exec__block *)c->scratch;
    c->scratch = blk;
    return p;
}

NN_API void nn_op_free_scratch(nn_op_ctx *c) {
    nn_exec__block *b = (nn_exec__block *)c->scratch;
    while (b) {
        nn_exec__block *n = b->next;
        nn_exec__block_put(c->alloc, c->exec, (char *)b + NN_EXEC__HEADER);
        b = n;
    }
    c->scratch = NULL;
}

NN_API void nn_op_parallel(nn_op_ctx *c, size_t n, size_t min_chunk, nn_range_fn fn, void *arg) {
    if (n == 0) return;
#ifndef NN_NO_THREADS
    nn_exec__pool *p = c->exec ? &c->exec->pool : NULL;
    if (min_chunk == 0) min_chunk = 1;
    if (p && p->started && p->threads > 1 && n >= 2 * min_chunk) {
        size_t chunks = n / min_chunk;
        if (chunks > (size_t)p->threads) chunks = (size_t)p->threads;
        pthread_mutex_lock(&p->mu);
        p->fn = fn;
        p->arg = arg;
        p->items = n;
        p->chunks = chunks;
        p->pending = p->threads - 1;
#if NN_EXEC__ATOMICS
        __atomic_add_fetch(&p->generation, 1, __ATOMIC_RELEASE);
#else
        p->generation++;
#endif
        pthread_cond_broadcast(&p->cv_work);
        pthread_mutex_unlock(&p->mu);
        nn_exec__pool_chunk(p, 0);
#if NN_EXEC__ATOMICS
        for (int spin = 0; spin < NN_EXEC__SPIN && NN_EXEC__LOAD(p->pending); spin++) NN_EXEC__PAUSE();
#endif
        pthread_mutex_lock(&p->mu);
        while (p->pending) pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
        return;
    }
#else
    (void)min_chunk;
#endif
    (void)c;
    fn(arg, 0, n);
}

NN_API nn_status nn_op_error(nn_op_ctx *c, nn_status s, const char *fmt, ...) {
    if (!c->diag || c->diag->status != NN_OK) return s;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn_diag_set(c->diag, s, c->node ? nn_graph__node_label(c->node) : "", "%s: %s",
                       c->node ? c->node->op_type : "op", msg);
}

/* ---- executor: running a graph --------------------------------------------------------- */

/* Values of an OUTER tensor come from the nearest enclosing scope that
   defines the name; bounded by the subgraph depth. */
static const nn_value *nn_exec__outer_value(const nn_exec__env *env, const char *name) {
    for (const nn_exec__env *e = env->parent; e; e = e->parent) {
        nn_tensor_id id = nn_graph_find_tensor(e->plan->g, name);
        if (id.id == NN_INVALID_ID) continue;
        if (e->plan->g->tensors[id.id].flags & NN_TENSOR_OUTER) continue;
        return &e->values[id.id];
    }
    return NULL;
}

static void nn_exec__env_clear(const nn_allocator *a, nn_exec *x, nn_exec__env *env) {
    if (!env->values) return;
    for (uint32_t t = 0; t < env->plan->g->tensor_count; t++) nn_exec__value_release(a, x, &env->values[t]);
}

/* Fills constants and outer references; inputs are bound by the caller. */
static nn_status nn_exec__env_bind_static(nn_exec__env *env, nn_diag *diag) {
    const nn_graph *g = env->plan->g;
    for (uint32_t t = 0; t < g->tensor_count; t++) {
        const nn_tensor *tt = &g->tensors[t];
        nn_value *v = &env->values[t];
        if (tt->flags & NN_TENSOR_CONST) {
            *v = nn_value_make(tt->dtype, tt->shape, tt->data);
            v->bytes = tt->data_bytes;
        } else if (tt->flags & NN_TENSOR_OUTER) {
            const nn_value *ov = nn_exec__outer_value(env, tt->name);
            /* A released value is all zero; an empty one may lack data. */
            if (!ov || (!ov->data && ov->dtype == NN_DTYPE_UNDEFINED))
                return nn_diag_set(diag, NN_ERR_INVALID, tt->name,
                                   "subgraph reads '%s', which no enclosing scope has computed", tt->name);
            *v = *ov;
            v->flags &= ~NN_VALUE_OWNED;
        }
    }
    return NN_OK;
}

static nn_status nn_exec__run_env(nn_exec *x, nn_exec__env *env, nn_diag *diag) {
    const nn_exec__plan *p = env->plan;
    const nn_graph *g = p->g;
    nn_value in_buf[16], out_buf[16];
    nn_status st = nn_exec__env_bind_static(env, diag);
    for (uint32_t k = 0; k < g->node_count && st == NN_OK; k++) {
        uint32_t ni = p->order[k];
        const nn_node *n = &g->nodes[ni];
        const nn_op_def *d = p->defs[ni];
        nn_value *in = in_buf, *out = out_buf;
        if (n->input_count > 16 || n->output_count > 16) {
            in = (nn_value *)nn_alloc(&x->alloc, (n->input_count + n->output_count) * sizeof(nn_value));
            if (!in) return nn_diag_set(diag, NN_ERR_NOMEM, nn_graph__node_label(n), "out of memory");
            out = in + n->input_count;
        }
        for (uint32_t i = 0; i < n->input_count; i++) {
            if (n->inputs[i].id == NN_INVALID_ID) { memset(&in[i], 0, sizeof in[i]); continue; }
            in[i] = env->values[n->inputs[i].id];
            in[i].flags &= ~NN_VALUE_OWNED;
            if (!in[i].data && in[i].bytes == 0 && in[i].dtype == NN_DTYPE_UNDEFINED)
                st = nn_diag_set(diag, NN_ERR_INVALID, nn_graph__node_label(n), "input %u ('%s') has no value",
                                 i, g->tensors[n->inputs[i].id].name);
        }
        memset(out, 0, n->output_count * sizeof(nn_value));
        nn_op_ctx c;
        memset(&c, 0, sizeof c);
        c.graph = g;
        c.node = n;
        c.opset = p->opsets[ni];
        c.diag = diag;
        c.exec = x;
        c.env = env;
        c.alloc = &x->alloc;
        if (st == NN_OK) st = d->infer(&c, in, n->input_count, out, n->output_count);
        for (uint32_t o = 0; o < n->output_count && st == NN_OK; o++)
            if (!out[o].data && out[o].dtype != NN_DTYPE_UNDEFINED && nn_shape_is_static(&out[o].shape))
                st = nn_op_alloc_value(&c, &out[o]);
        if (st == NN_OK) st = d->run(&c, in, n->input_count, out, n->output_count);
        nn_op_free_scratch(&c);
        for (uint32_t o = 0; o < n->output_count; o++) {
            uint32_t t = n->outputs[o].id;
            if (st == NN_OK && t != NN_INVALID_ID && !out[o].data && out[o].bytes == 0 &&
                !(nn_shape_is_static(&out[o].shape) && nn_shape_count(&out[o].shape, NULL) == 0))
                st = nn_diag_set(diag, NN_ERR_INVALID, nn_graph__node_label(n), "output %u was not computed", o);
            if (st != NN_OK || t == NN_INVALID_ID) { nn_exec__value_release(&x->alloc, x, &out[o]); continue; }
            nn_exec__value_release(&x->alloc, x, &env->values[t]);
            env->values[t] = out[o];
        }
        if (st == NN_OK && x->desc.observer) {
            for (uint32_t o = 0; o < n->output_count; o++)
                out[o] = n->outputs[o].id == NN_INVALID_ID ? out[o] : env->values[n->outputs[o].id];
            if (x->desc.observer(x->desc.observer_user, g, ni, out, n->output_count))
                st = nn_diag_set(diag, NN_ERR_ARG, nn_graph__node_label(n), "stopped by the observer");
        }
        if (in != in_buf) nn_free(&x->alloc, in);
        /* Free every value whose last reader was this node. */
        uint32_t deps[64], dc;
        nn_graph__node_deps(g, n, deps, 64, &dc);
        for (uint32_t i = 0; i < dc; i++)
            if (p->last_use[deps[i]] == k && !(g->tensors[deps[i]].flags & NN_TENSOR_OUTPUT))
                nn_exec__value_release(&x->alloc, x, &env->values[deps[i]]);
    }
    return st;
}

NN_API nn_status nn_op_run_subgraph(nn_op_ctx *c, const nn_graph *body, const nn_value *inputs,
                                    uint32_t input_count, nn_value *outputs, uint32_t output_count) {
    nn_exec__env *parent = (nn_exec__env *)c->env;
    nn_exec *x = c->exec;
    if (!x || !parent) return nn_op_error(c, NN_ERR_UNSUPPORTED, "subgraphs run only inside an executor");
    const nn_exec__plan *sp = nn_exec__subplan(parent->plan, body);
    if (!sp) return nn_op_error(c, NN_ERR_INVALID, "subgraph does not belong to this graph");
    if (input_count != body->input_count || output_count != body->output_count)
        return nn_op_error(c, NN_ERR_INVALID, "subgraph takes %u inputs and gives %u outputs, called with %u/%u",
                           body->input_count, body->output_count, input_count, output_count);
    nn_exec__env env;
    env.plan = sp;
    env.parent = parent;
    env.values = (nn_value *)nn_alloc(&x->alloc, (body->tensor_count + 1) * sizeof(nn_value));
    if (!env.values) return nn_op_error(c, NN_ERR_NOMEM, "out of memory");
    memset(env.values, 0, (body->tensor_count + 1) * sizeof(nn_value));
    for (uint32_t i = 0; i < input_count; i++) {
        env.values[body->inputs[i].id] = inputs[i];
        env.values[body->inputs[i].id].flags &= ~NN_VALUE_OWNED;
    }
    memset(outputs, 0, output_count * sizeof(nn_value));
    nn_status st = nn_exec__run_env(x, &env, c->diag);
    for (uint32_t o = 0; o < output_count && st == NN_OK; o++) {
        nn_value *v = &env.values[body->outputs[o].id];
        /* A tensor listed again as a later output (a Loop body returning one
           value as both loop-carried and scan output) is copied here and
           handed over at its last listing. */
        int again = 0;
        for (uint32_t k = o + 1; k < output_count && !again; k++) again = body->outputs[k].id == body->outputs[o].id;
        if ((v->flags & NN_VALUE_OWNED) && !again) { /* hand over */
            outputs[o] = *v;
            memset(v, 0, sizeof *v);
        } else { /* an input, constant or outer value: copy it */
            outputs[o].dtype = v->dtype;
            outputs[o].shape = v->shape;
            outputs[o].flags = 0;
            outputs[o].data = NULL;
            st = nn_op_alloc_value(c, &outputs[o]);
            if (st == NN_OK && v->bytes) memcpy(outputs[o].data, v->data, v->bytes);
        }
    }
    if (st != NN_OK) /* outputs hold nothing on failure */
        for (uint32_t o = 0; o < output_count; o++) nn_exec__value_release(&x->alloc, x, &outputs[o]);
    nn_exec__env_clear(&x->alloc, x, &env);
    nn_free(&x->alloc, env.values);
    return st;
}

/* ---- static shape inference ------------------------------------------------------------ */

#define NN_EXEC__PROPAGATE_MAX 4096 /* elements: larger constant results are not materialized */

/* Runs every node's infer function over values[] (inputs preset by the
   caller), materializing small results whose inputs are all known. */
static nn_status nn_exec__infer_values(const nn_exec__plan *p, const nn_allocator *a, nn_value *values,
                                       nn_diag *diag) {
    const nn_graph *g = p->g;
    for (uint32_t k = 0; k < g->node_count; k++) {
        uint32_t ni = p->order[k];
        const nn_node *n = &g->nodes[ni];
        const nn_op_def *d = p->defs[ni];
        nn_value in_buf[16], out_buf[16];
        nn_value *in = in_buf, *out = out_buf;
        if (n->input_count > 16 || n->output_count > 16) {
            in = (nn_value *)nn_alloc(a, (n->input_count + n->output_count) * sizeof(nn_value));
            if (!in) return nn_diag_set(diag, NN_ERR_NOMEM, nn_graph__node_label(n), "out of memory");
            out = in + n->input_count;
        }
        int all_known = !(d->flags & (NN_OPF_NONDETERMINISTIC | NN_OPF_SUBGRAPH));
        for (uint32_t i = 0; i < n->input_count; i++) {
            if (n->inputs[i].id == NN_INVALID_ID) { memset(&in[i], 0, sizeof in[i]); continue; }
            in[i] = values[n->inputs[i].id];
            in[i].flags &= ~NN_VALUE_OWNED;
            if (!in[i].data) all_known = 0;
        }
        memset(out, 0, n->output_count * sizeof(nn_value));
        nn_op_ctx c;
        memset(&c, 0, sizeof c);
        c.graph = g;
        c.node = n;
        c.opset = p->opsets[ni];
        c.diag = diag;
        c.alloc = a;
        nn_status st = d->infer(&c, in, n->input_count, out, n->output_count);
        if (st == NN_OK && all_known) {
            int small = 1;
            for (uint32_t o = 0; o < n->output_count; o++) {
                int ok;
                size_t cnt = nn_shape_count(&out[o].shape, &ok);
                if (!ok || cnt > NN_EXEC__PROPAGATE_MAX || out[o].dtype == NN_DTYPE_UNDEFINED) small = 0;
            }
            for (uint32_t o = 0; o < n->output_count && small && st == NN_OK; o++)
                if (!out[o].data) st = nn_op_alloc_value(&c, &out[o]);
            if (small && st == NN_OK) st = d->run(&c, in, n->input_count, out, n->output_count);
            /* A result above the cap is not materialized, but its inferred
               dtype and shape stay (releasing clears the whole value: a
               DequantizeLinear of a 32x144 int8 weight used to reach its
               Conv with rank 0). */
            if (!small)
                for (uint32_t o = 0; o < n->output_count; o++) {
                    nn_value keep = out[o];
                    nn_exec__value_release(a, NULL, &out[o]);
                    out[o].dtype = keep.dtype;
                    out[o].shape = keep.shape;
                }
        }
        nn_op_free_scratch(&c);
        for (uint32_t o = 0; o < n->output_count; o++) {
            uint32_t t = n->outputs[o].id;
            if (st != NN_OK || t == NN_INVALID_ID) { nn_exec__value_release(a, NULL, &out[o]); continue; }
            values[t] = out[o];
        }
        if (in != in_buf) nn_free(a, in);
        if (st) return st;
    }
    return NN_OK;
}

/* Presets values[] for a static pass: declared inputs (with overrides),
   constants with their data. */
static nn_status nn_exec__preset_values(const nn_graph *g, const nn_input_shape *shapes, uint32_t shape_count,
                                        nn_value *values, nn_diag *diag) {
    for (uint32_t t = 0; t < g->tensor_count; t++) {
        const nn_tensor *tt = &g->tensors[t];
        memset(&values[t], 0, sizeof values[t]);
        if (tt->flags & NN_TENSOR_CONST) {
            values[t] = nn_value_make(tt->dtype, tt->shape, tt->data);
            values[t].bytes = tt->data_bytes;
        } else if (tt->flags & (NN_TENSOR_INPUT | NN_TENSOR_OUTER)) {
            values[t].dtype = tt->dtype;
            values[t].shape = tt->shape;
        }
    }
    for (uint32_t s = 0; s < shape_count; s++) {
        nn_tensor_id id = nn_graph_find_tensor(g, shapes[s].name);
        if (id.id == NN_INVALID_ID || !(g->tensors[id.id].flags & NN_TENSOR_INPUT))
            return nn_diag_set(diag, NN_ERR_ARG, shapes[s].name, "'%s' is not an input of the model",
                               shapes[s].name);
        const nn_shape *decl = &g->tensors[id.id].shape;
        if (decl->rank >= 0 && shapes[s].shape.rank != decl->rank)
            return nn_diag_set(diag, NN_ERR_SHAPE, shapes[s].name, "input '%s' has rank %d, the given shape has %d",
                               shapes[s].name, decl->rank, shapes[s].shape.rank);
        values[id.id].shape = shapes[s].shape;
    }
    return NN_OK;
}

NN_API nn_status nn_graph_infer_shapes(nn_graph *g, const nn_input_shape *shapes, uint32_t shape_count,
                                       nn_diag *diag) {
    nn_exec__plan *p;
    nn_status st = nn_exec__plan_create(&g->alloc, g, &p, diag);
    if (st) return st;
    nn_value *values = (nn_value *)nn_alloc(&g->alloc, (g->tensor_count + 1) * sizeof(nn_value));
    if (!values) { nn_exec__plan_free(&g->alloc, p); return nn_diag_set(diag, NN_ERR_NOMEM, "graph", "out of memory"); }
    st = nn_exec__preset_values(g, shapes, shape_count, values, diag);
    if (st == NN_OK) st = nn_exec__infer_values(p, &g->alloc, values, diag);
    for (uint32_t t = 0; t < g->tensor_count; t++) {
        nn_tensor *tt = &g->tensors[t];
        if (st == NN_OK && !(tt->flags & NN_TENSOR_CONST) && values[t].dtype != NN_DTYPE_UNDEFINED) {
            tt->dtype = values[t].dtype;
            tt->shape = values[t].shape;
        }
        nn_exec__value_release(&g->alloc, NULL, &values[t]);
    }
    nn_free(&g->alloc, values);
    nn_exec__plan_free(&g->alloc, p);
    return st;
}

/* ---- executor: public API ----------------------------------------------------------------- */

NN_API nn_status nn_exec_create(const nn_graph *g, const nn_exec_desc *desc, nn_exec **out, nn_diag *diag) {
    nn_allocator a;
    memset(&a, 0, sizeof a);
    if (desc) a = desc->alloc;
    nn_exec *x = (nn_exec *)nn_alloc(&a, sizeof *x);
    if (!x) return nn_diag_set(diag, NN_ERR_NOMEM, "exec", "out of memory");
    memset(x, 0, sizeof *x);
    x->alloc = a;
    if (desc) x->desc = *desc;
    x->g = g;
    nn_status st = nn_exec__plan_create(&a, g, &x->plan, diag);
    size_t vbytes = ((size_t)g->tensor_count + 1) * sizeof(nn_value);
    if (st == NN_OK) {
        x->env.plan = x->plan;
        x->env.values = (nn_value *)nn_alloc(&a, vbytes);
        x->inputs = (nn_value *)nn_alloc(&a, (g->input_count + 1) * sizeof(nn_value));
        if (!x->env.values || !x->inputs) st = nn_diag_set(diag, NN_ERR_NOMEM, "exec", "out of memory");
    }
    if (st == NN_OK) {
        memset(x->env.values, 0, vbytes);
        memset(x->inputs, 0, (g->input_count + 1) * sizeof(nn_value));
        /* A static pass now, so unsupported attribute values and shape
           contradictions are refused before anything runs. */
        st = nn_exec__preset_values(g, x->desc.input_shapes, x->desc.input_shape_count, x->env.values, diag);
        if (st == NN_OK) st = nn_exec__infer_values(x->plan, &a, x->env.values, diag);
        nn_exec__env_clear(&a, NULL, &x->env);
    }
#ifndef NN_NO_THREADS
    if (st == NN_OK && x->desc.threads > 1) {
        nn_exec__pool *p = &x->pool;
        p->threads = x->desc.threads;
        p->tids = (pthread_t *)nn_alloc(&a, (size_t)p->threads * (sizeof(pthread_t) + sizeof(nn_exec__worker_arg)));
        if (!p->tids) st = nn_diag_set(diag, NN_ERR_NOMEM, "exec", "out of memory");
        else {
            nn_exec__worker_arg *wa = (nn_exec__worker_arg *)(p->tids + p->threads);
            pthread_mutex_init(&p->mu, NULL);
            pthread_cond_init(&p->cv_work, NULL);
            pthread_cond_init(&p->cv_done, NULL);
            p->started = 1;
            for (int i = 1; i < p->threads; i++) {
                wa[i].pool = p;
                wa[i].index = i;
                if (pthread_create(&p->tids[i], NULL, nn_exec__worker, &wa[i]) != 0) {
                    p->threads = i; /* run with the workers we got */
                    break;
                }
            }
        }
    }
#endif
    if (st) { nn_exec_destroy(x); return st; }
    *out = x;
    return NN_OK;
}

NN_API nn_status nn_exec_set_input(nn_exec *x, uint32_t index, const nn_value *v, nn_diag *diag) {
    const nn_graph *g = x->g;
    if (index >= g->input_count)
        return nn_diag_set(diag, NN_ERR_ARG, "input", "input index %u, the model has %u inputs", index,
                           g->input_count);
    const nn_tensor *t = &g->tensors[g->inputs[index].id];
    if (t->dtype != NN_DTYPE_UNDEFINED && v->dtype != t->dtype)
        return nn_diag_set(diag, NN_ERR_ARG, t->name, "input '%s' is %s, got %s", t->name, nn_dtype_name(t->dtype),
                           nn_dtype_name(v->dtype));
    if (t->shape.rank >= 0 && v->shape.rank != t->shape.rank)
        return nn_diag_set(diag, NN_ERR_SHAPE, t->name, "input '%s' has rank %d, got rank %d", t->name,
                           t->shape.rank, v->shape.rank);
    for (int32_t i = 0; i < v->shape.rank; i++) {
        if (v->shape.dims[i] < 0) return nn_diag_set(diag, NN_ERR_SHAPE, t->name, "input '%s' dim %d is negative", t->name, i);
        if (t->shape.rank >= 0 && t->shape.dims[i] >= 0 && t->shape.dims[i] != v->shape.dims[i])
            return nn_diag_set(diag, NN_ERR_SHAPE, t->name, "input '%s' dim %d must be %lld, got %lld", t->name, i,
                               (long long)t->shape.dims[i], (long long)v->shape.dims[i]);
    }
    int ok;
    size_t count = nn_shape_count(&v->shape, &ok), need;
    if (!ok || !nn_dtype_bytes_for(v->dtype, count, &need) || (v->bytes && v->bytes != need) || (!v->data && need))
        return nn_diag_set(diag, NN_ERR_ARG, t->name, "input '%s' data does not match its shape", t->name);
    x->inputs[index] = *v;
    x->inputs[index].bytes = need;
    x->inputs[index].flags = 0;
    return NN_OK;
}

NN_API nn_status nn_exec_run(nn_exec *x, nn_diag *diag) {
    const nn_graph *g = x->g;
    nn_exec__env_clear(&x->alloc, x, &x->env);
    x->live_bytes = 0;
    x->peak_bytes = 0;
    for (uint32_t i = 0; i < g->input_count; i++) {
        if (!x->inputs[i].data && x->inputs[i].dtype == NN_DTYPE_UNDEFINED)
            return nn_diag_set(diag, NN_ERR_ARG, g->tensors[g->inputs[i].id].name, "input '%s' was not set",
                               g->tensors[g->inputs[i].id].name);
        x->env.values[g->inputs[i].id] = x->inputs[i];
    }
    nn_status st = nn_exec__run_env(x, &x->env, diag);
    if (st) nn_exec__env_clear(&x->alloc, x, &x->env);
    return st;
}

NN_API const nn_value *nn_exec_output(const nn_exec *x, uint32_t index) {
    if (index >= x->g->output_count) return NULL;
    return &x->env.values[x->g->outputs[index].id];
}

NN_API size_t nn_exec_peak_bytes(const nn_exec *x) { return x->peak_bytes; }

NN_API void nn_exec_destroy(nn_exec *x) {
    if (!x) return;
    nn_allocator a = x->alloc;
#ifndef NN_NO_THREADS
    nn_exec__pool *p = &x->pool;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_broadcast(&p->cv_work);
        pthread_mutex_unlock(&p->mu);
        for (int i = 1; i < p->threads; i++) pthread_join(p->tids[i], NULL);
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv_work);
        pthread_cond_destroy(&p->cv_done);
    }
    nn_free(&a, p->tids);
#endif
    if (x->env.values) {
        nn_exec__env_clear(&a, x, &x->env);
        nn_free(&a, x->env.values);
    }
    nn_free(&a, x->inputs);
    nn_exec__plan_free(&a, x->plan);
    while (x->blocks) {
        nn_exec__block *blk = (nn_exec__block *)x->blocks;
        x->blocks = blk->next;
        nn_free(&a, blk);
    }
    nn_free(&a, x);
}

/* ---- graph passes ---------------------------------------------------------------------- */

#define NN_PASS__FOLD_MAX_DEFAULT ((size_t)16 << 20)

typedef struct nn_pass__ctx {
    nn_graph *g;
    const nn_pass_desc *desc;
    size_t fold_max_bytes;
    const uint32_t *order;  /* topological order of g->nodes */
    uint8_t *dead;          /* node_count flags: removed at compaction */
    uint32_t *uses;         /* tensor_count: consuming node inputs */
    nn_pass_stats *stats;
    nn_diag *diag;
} nn_pass__ctx;

/* 1 when a subgraph of g (at any depth) refers to a tensor named name:
   such a tensor is captured by name and must keep it and its producer. */
static int nn_pass__captured(const nn_graph *g, const char *name) {
    for (uint32_t i = 0; i < g->subgraph_count; i++) {
        const nn_graph *sg = g->subgraphs[i];
        if (nn_graph_find_tensor(sg, name).id != NN_INVALID_ID) return 1;
        if (nn_pass__captured(sg, name)) return 1;
    }
    return 0;
}

static void nn_pass__count_uses(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    memset(c->uses, 0, g->tensor_count * sizeof(uint32_t));
    for (uint32_t n = 0; n < g->node_count; n++) {
        if (c->dead[n]) continue;
        for (uint32_t i = 0; i < g->nodes[n].input_count; i++)
            if (g->nodes[n].inputs[i].id != NN_INVALID_ID) c->uses[g->nodes[n].inputs[i].id]++;
    }
}

/* "a,b" in the arena: the provenance of a node made from two. */
static const char *nn_pass__origin_join(nn_graph *g, const char *a, const char *b) {
    size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;
    if (!lb) return a;
    if (!la) return b;
    char *s = (char *)nn_arena_alloc(&g->arena, la + lb + 2);
    if (!s) return a; /* provenance is best effort; the rewrite stays valid */
    memcpy(s, a, la);
    s[la] = ',';
    memcpy(s + la + 1, b, lb);
    s[la + lb + 1] = 0;
    return s;
}

/* Replaces every consuming use of tensor from by to. */
static void nn_pass__rewire(nn_graph *g, uint32_t from, uint32_t to) {
    for (uint32_t n = 0; n < g->node_count; n++)
        for (uint32_t i = 0; i < g->nodes[n].input_count; i++)
            if (g->nodes[n].inputs[i].id == from) g->nodes[n].inputs[i].id = to;
}

static int nn_pass__is_const(const nn_graph *g, nn_tensor_id t) {
    return t.id != NN_INVALID_ID && (g->tensors[t.id].flags & NN_TENSOR_CONST) && g->tensors[t.id].data;
}

/* A new tensor named base + suffix (made unique), dtype/shape given. */
static nn_status nn_pass__new_tensor(nn_graph *g, const char *base, const char *suffix, nn_dtype t,
                                     const nn_shape *shape, nn_tensor_id *out, nn_diag *diag) {
    char name[256];
    snprintf(name, sizeof name, "%.200s%s", base, suffix);
    for (int k = 1; nn_graph_find_tensor(g, name).id != NN_INVALID_ID; k++)
        snprintf(name, sizeof name, "%.200s%s_%d", base, suffix, k);
    return nn_graph_add_tensor(g, name, t, shape, out, diag);
}

static nn_tensor_id nn_pass__no_tensor(void) {
    nn_tensor_id t;
    t.id = NN_INVALID_ID;
    return t;
}

/* -- dce -- */

static void nn_pass__mark_captures(const nn_graph *g, const nn_graph *sg, uint8_t *live) {
    for (uint32_t t = 0; t < sg->tensor_count; t++) {
        nn_tensor_id id = nn_graph_find_tensor(g, sg->tensors[t].name);
        if (id.id != NN_INVALID_ID) live[id.id] = 1;
    }
    for (uint32_t i = 0; i < sg->subgraph_count; i++) nn_pass__mark_captures(g, sg->subgraphs[i], live);
}

static nn_status nn_pass__dce(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    uint8_t *live = (uint8_t *)nn_alloc(&g->alloc, g->tensor_count + 1);
    if (!live) return nn_diag_set(c->diag, NN_ERR_NOMEM, "dce", "out of memory");
    memset(live, 0, g->tensor_count + 1);
    for (uint32_t i = 0; i < g->output_count; i++) live[g->outputs[i].id] = 1;
    for (uint32_t k = g->node_count; k-- > 0;) {
        const nn_node *n = &g->nodes[c->order[k]];
        int keep = n->output_count == 0; /* a node without outputs is kept: nothing proves it dead */
        for (uint32_t o = 0; o < n->output_count; o++)
            if (n->outputs[o].id != NN_INVALID_ID && live[n->outputs[o].id]) keep = 1;
        if (!keep) { c->dead[c->order[k]] = 1; c->stats->nodes_removed++; continue; }
        for (uint32_t i = 0; i < n->input_count; i++)
            if (n->inputs[i].id != NN_INVALID_ID) live[n->inputs[i].id] = 1;
        for (uint32_t a = 0; a < n->attr_count; a++) {
            if (n->attrs[a].type == NN_ATTR_GRAPH && n->attrs[a].g) nn_pass__mark_captures(g, n->attrs[a].g, live);
            if (n->attrs[a].type == NN_ATTR_GRAPHS)
                for (uint32_t j = 0; j < n->attrs[a].count; j++) nn_pass__mark_captures(g, n->attrs[a].graphs[j], live);
        }
    }
    /* Initializers nothing live reads are dropped too (the ONNX writer saves
       every constant): the tensor stays in the table as a plain orphan. */
    for (uint32_t t = 0; t < g->tensor_count; t++) {
        nn_tensor *tt = &g->tensors[t];
        if (live[t] || !(tt->flags & NN_TENSOR_CONST) || (tt->flags & (NN_TENSOR_INPUT | NN_TENSOR_OUTPUT))) continue;
        tt->flags &= ~(uint32_t)(NN_TENSOR_CONST | NN_TENSOR_BORROWED);
        tt->data = NULL;
        tt->data_bytes = 0;
        c->stats->tensors_removed++;
    }
    nn_free(&g->alloc, live);
    return NN_OK;
}

/* -- identity -- */

/* 1 when node n (already known to be of a no-op kind) passes input 0 through
   unchanged as output 0. */
static int nn_pass__is_noop(const nn_graph *g, const nn_node *n) {
    const char *op = n->op_type;
    if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) return 0;
    if (n->input_count < 1 || n->output_count < 1 || n->inputs[0].id == NN_INVALID_ID ||
        n->outputs[0].id == NN_INVALID_ID)
        return 0;
    const nn_tensor *x = &g->tensors[n->inputs[0].id], *y = &g->tensors[n->outputs[0].id];
    if (strcmp(op, "Identity") == 0) return n->output_count == 1;
    if (strcmp(op, "Dropout") == 0) {
        /* Inference Dropout is the identity (ONNX Dropout: training_mode
           false or absent); a consumed mask output keeps the node. */
        if (n->input_count >= 3 && n->inputs[2].id != NN_INVALID_ID) return 0;
        for (uint32_t o = 1; o < n->output_count; o++)
            if (n->outputs[o].id != NN_INVALID_ID) return 0;
        return 1;
    }
    if (strcmp(op, "Cast") == 0)
        return x->dtype != NN_DTYPE_UNDEFINED && nn_node_attr_int(n, "to", -1) == (int64_t)x->dtype;
    if (strcmp(op, "Reshape") == 0 || strcmp(op, "Flatten") == 0 || strcmp(op, "Squeeze") == 0 ||
        strcmp(op, "Unsqueeze") == 0 || strcmp(op, "Expand") == 0)
        return n->output_count == 1 && x->dtype != NN_DTYPE_UNDEFINED && x->dtype == y->dtype &&
               nn_shape_is_static(&x->shape) && nn_shape_is_static(&y->shape) && nn_shape_equal(&x->shape, &y->shape);
    return 0;
}

static nn_status nn_pass__identity(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    for (uint32_t k = 0; k < g->node_count; k++) {
        uint32_t ni = c->order[k];
        nn_node *n = &g->nodes[ni];
        if (!nn_pass__is_noop(g, n)) continue;
        uint32_t x = n->inputs[0].id, y = n->outputs[0].id;
        /* A graph output keeps its name (and so its producer); a tensor a
           subgraph captures by name cannot be renamed either. */
        if (g->tensors[y].flags & NN_TENSOR_OUTPUT) continue;
        if (nn_pass__captured(g, g->tensors[y].name)) continue;
        nn_pass__rewire(g, y, x);
        c->dead[ni] = 1;
        c->stats->nodes_removed++;
    }
    return NN_OK;
}

/* -- fold -- */

/* Shape/Size of a tensor whose shape is static: the value is known without
   its data (ONNX Shape-15 start/end clamp like Slice). */
static nn_status nn_pass__fold_shape(nn_pass__ctx *c, nn_node *n, int64_t opset) {
    nn_graph *g = c->g;
    const nn_tensor *x = &g->tensors[n->inputs[0].id];
    int64_t vals[NN_MAX_RANK];
    nn_shape s;
    int32_t r = x->shape.rank;
    if (strcmp(n->op_type, "Size") == 0) {
        int ok;
        vals[0] = (int64_t)nn_shape_count(&x->shape, &ok);
        if (!ok) return NN_OK;
        s = nn_shape_make(0, NULL);
    } else {
        int64_t b = opset >= 15 ? nn_node_attr_int(n, "start", 0) : 0;
        int64_t e = opset >= 15 ? nn_node_attr_int(n, "end", r) : r;
        if (b < 0) b += r;
        if (e < 0) e += r;
        b = b < 0 ? 0 : (b > r ? r : b);
        e = e < 0 ? 0 : (e > r ? r : e);
        int64_t cnt = e > b ? e - b : 0;
        for (int64_t i = 0; i < cnt; i++) vals[i] = x->shape.dims[b + i];
        s = nn_shape_make(1, &cnt);
    }
    uint32_t y = n->outputs[0].id;
    if (g->tensors[y].flags & NN_TENSOR_OUTPUT) return NN_OK;
    g->tensors[y].dtype = NN_DTYPE_INT64;
    g->tensors[y].shape = s;
    int ok;
    size_t cnt = nn_shape_count(&s, &ok);
    nn_status st = nn_graph_set_data(g, n->outputs[0], vals, cnt * sizeof(int64_t), 1, c->diag);
    if (st) return st;
    g->tensors[y].producer.id = NN_INVALID_ID;
    c->stats->nodes_removed++;
    c->stats->tensors_added++;
    return NN_OK;
}

/* Evaluates node n (all inputs initializers) with its own kernels, the
   executor's infer + run pair, and turns its outputs into initializers.
   Returns NN_OK without change when the node cannot or should not fold. */
static nn_status nn_pass__fold_node(nn_pass__ctx *c, uint32_t ni, const nn_op_def *d, int64_t opset, int *folded) {
    nn_graph *g = c->g;
    nn_node *n = &g->nodes[ni];
    nn_value in[16], out[16];
    *folded = 0;
    if (n->input_count > 16 || n->output_count > 16 || n->output_count == 0) return NN_OK;
    for (uint32_t o = 0; o < n->output_count; o++)
        if (n->outputs[o].id != NN_INVALID_ID && (g->tensors[n->outputs[o].id].flags & NN_TENSOR_OUTPUT)) return NN_OK;
    for (uint32_t i = 0; i < n->input_count; i++) {
        memset(&in[i], 0, sizeof in[i]);
        if (n->inputs[i].id == NN_INVALID_ID) continue;
        const nn_tensor *t = &g->tensors[n->inputs[i].id];
        in[i] = nn_value_make(t->dtype, t->shape, t->data);
        in[i].bytes = t->data_bytes;
    }
    memset(out, 0, sizeof out);
    nn_diag local;
    memset(&local, 0, sizeof local);
    nn_op_ctx oc;
    memset(&oc, 0, sizeof oc);
    oc.graph = g;
    oc.node = n;
    oc.opset = opset;
    oc.diag = &local;
    oc.alloc = &g->alloc;
    /* A kernel failure here is not the pass's failure: the node stays and
       the executor reports it when the model runs. */
    nn_status st = d->infer(&oc, in, n->input_count, out, n->output_count);
    size_t total = 0;
    for (uint32_t o = 0; o < n->output_count && st == NN_OK; o++) {
        int ok;
        size_t cnt = nn_shape_count(&out[o].shape, &ok), bytes;
        if (!ok || out[o].dtype == NN_DTYPE_UNDEFINED || !nn_dtype_bytes_for(out[o].dtype, cnt, &bytes) ||
            !nn_size_add(total, bytes, &total) || total > c->fold_max_bytes)
            st = NN_ERR_LIMIT;
    }
    for (uint32_t o = 0; o < n->output_count && st == NN_OK; o++)
        if (!out[o].data) st = nn_op_alloc_value(&oc, &out[o]);
    if (st == NN_OK) st = d->run(&oc, in, n->input_count, out, n->output_count);
    nn_op_free_scratch(&oc);
    nn_status result = NN_OK;
    if (st == NN_OK) {
        for (uint32_t o = 0; o < n->output_count && result == NN_OK; o++) {
            if (n->outputs[o].id == NN_INVALID_ID) continue;
            nn_tensor *t = &g->tensors[n->outputs[o].id];
            t->dtype = out[o].dtype;
            t->shape = out[o].shape;
            size_t bytes = 0;
            int ok;
            nn_dtype_bytes_for(out[o].dtype, nn_shape_count(&out[o].shape, &ok), &bytes);
            result = nn_graph_set_data(g, n->outputs[o], out[o].data, bytes, 1, c->diag);
            t->producer.id = NN_INVALID_ID;
            c->stats->tensors_added++;
        }
        if (result == NN_OK) *folded = 1;
    }
    for (uint32_t o = 0; o < n->output_count; o++) nn_exec__value_release(&g->alloc, NULL, &out[o]);
    return result;
}

static nn_status nn_pass__fold(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    for (uint32_t k = 0; k < g->node_count; k++) {
        uint32_t ni = c->order[k];
        nn_node *n = &g->nodes[ni];
        int64_t opset = nn_graph_opset(g, n->domain);
        const nn_op_def *d = nn_op_find(n->op_type, n->domain, opset);
        if (!d || (d->flags & (NN_OPF_NONDETERMINISTIC | NN_OPF_SUBGRAPH))) continue;
        if ((strcmp(n->op_type, "Shape") == 0 || strcmp(n->op_type, "Size") == 0) && !n->domain[0] &&
            n->input_count == 1 && n->output_count == 1 && n->inputs[0].id != NN_INVALID_ID &&
            n->outputs[0].id != NN_INVALID_ID && nn_shape_is_static(&g->tensors[n->inputs[0].id].shape) &&
            !(g->tensors[n->outputs[0].id].flags & NN_TENSOR_OUTPUT)) {
            nn_status st = nn_pass__fold_shape(c, n, opset);
            if (st) return st;
            c->dead[ni] = 1;
            continue;
        }
        int all_const = n->input_count > 0;
        for (uint32_t i = 0; i < n->input_count; i++)
            if (n->inputs[i].id != NN_INVALID_ID && !nn_pass__is_const(g, n->inputs[i])) all_const = 0;
        if (!all_const) continue;
        int folded;
        nn_status st = nn_pass__fold_node(c, ni, d, opset, &folded);
        if (st) return st;
        if (folded) { c->dead[ni] = 1; c->stats->nodes_removed++; }
    }
    return NN_OK;
}

/* -- bn: BatchNormalization folded into its producer -- */

/* BatchNormalization (ONNX, inference): y = (x - mean) * s + beta with
   s = gamma / sqrt(var + eps) per channel c (dim 1).  For a producer
   x = W * a + b that is linear per output channel:
       W'[c] = W[c] * s[c]            b'[c] = (b[c] - mean[c]) * s[c] + beta[c]
   (Ioffe & Szegedy 2015, eq. in Alg. 2; the usual inference-time fold). */
static nn_status nn_pass__bn_one(nn_pass__ctx *c, uint32_t pi, uint32_t bi, int *done) {
    nn_graph *g = c->g;
    nn_node *p = &g->nodes[pi], *bn = &g->nodes[bi];
    *done = 0;
    if (bn->input_count != 5 || nn_node_attr_int(bn, "training_mode", 0) != 0) return NN_OK;
    for (uint32_t o = 1; o < bn->output_count; o++)
        if (bn->outputs[o].id != NN_INVALID_ID) return NN_OK;
    for (uint32_t i = 1; i < 5; i++)
        if (!nn_pass__is_const(g, bn->inputs[i]) || g->tensors[bn->inputs[i].id].dtype != NN_DTYPE_FLOAT) return NN_OK;
    int is_conv = strcmp(p->op_type, "Conv") == 0, is_convt = strcmp(p->op_type, "ConvTranspose") == 0;
    int is_gemm = strcmp(p->op_type, "Gemm") == 0;
    if (p->domain[0] || !(is_conv || is_convt || is_gemm) || p->input_count < 2 || p->output_count != 1) return NN_OK;
    nn_tensor_id wid = p->inputs[1], bid = p->input_count > 2 ? p->inputs[2] : nn_pass__no_tensor();
    if (!nn_pass__is_const(g, wid) || g->tensors[wid.id].dtype != NN_DTYPE_FLOAT) return NN_OK;
    if (bid.id != NN_INVALID_ID && (!nn_pass__is_const(g, bid) || g->tensors[bid.id].dtype != NN_DTYPE_FLOAT)) return NN_OK;
    const nn_tensor *w = &g->tensors[wid.id];
    int64_t M, inner, ch_stride = 1; /* W element e has channel (e / ch_stride) % M */
    int ok;
    size_t wcount = nn_shape_count(&w->shape, &ok);
    if (!ok || w->shape.rank < 2) return NN_OK;
    if (is_conv) { M = w->shape.dims[0]; ch_stride = (int64_t)wcount / (M ? M : 1); }
    else if (is_convt) {
        if (nn_node_attr_int(p, "group", 1) != 1) return NN_OK;
        M = w->shape.dims[1];
        ch_stride = (int64_t)wcount / (w->shape.dims[0] * (M ? M : 1));
    } else {
        if (w->shape.rank != 2 || nn_node_attr_float(p, "beta", 1.0f) != 1.0f) return NN_OK;
        int tb = (int)nn_node_attr_int(p, "transB", 0);
        M = tb ? w->shape.dims[0] : w->shape.dims[1];
        ch_stride = tb ? w->shape.dims[1] : 1;
    }
    inner = M;
    if (M <= 0) return NN_OK;
    for (uint32_t i = 1; i < 5; i++) {
        size_t n = nn_shape_count(&g->tensors[bn->inputs[i].id].shape, &ok);
        if (!ok || n != (size_t)M) return NN_OK;
    }
    size_t bcount = 0;
    if (bid.id != NN_INVALID_ID) {
        bcount = nn_shape_count(&g->tensors[bid.id].shape, &ok);
        if (!ok || (bcount != (size_t)M && !(is_gemm && bcount == 1))) return NN_OK;
    }
    const float *gam = (const float *)g->tensors[bn->inputs[1].id].data, *bet = (const float *)g->tensors[bn->inputs[2].id].data;
    const float *mean = (const float *)g->tensors[bn->inputs[3].id].data, *var = (const float *)g->tensors[bn->inputs[4].id].data;
    double eps = nn_node_attr_float(bn, "epsilon", 1e-5f);
    size_t wb, bb;
    if (!nn_size_mul(wcount, sizeof(float), &wb) || !nn_size_mul((size_t)M, sizeof(float), &bb))
        return NN_OK;
    float *nw = (float *)nn_alloc(&g->alloc, wb), *nb = (float *)nn_alloc(&g->alloc, bb);
    double *s = (double *)nn_alloc(&g->alloc, (size_t)M * sizeof(double));
    nn_status st = NN_OK;
    if (!nw || !nb || !s) st = nn_diag_set(c->diag, NN_ERR_NOMEM, "bn", "out of memory");
    if (st == NN_OK) {
        const float *ow = (const float *)w->data, *ob = bid.id != NN_INVALID_ID ? (const float *)g->tensors[bid.id].data : NULL;
        for (int64_t m = 0; m < M; m++) {
            s[m] = (double)gam[m] / sqrt((double)var[m] + eps);
            double b0 = ob ? (double)ob[bcount == 1 ? 0 : m] : 0.0;
            nb[m] = (float)((b0 - (double)mean[m]) * s[m] + (double)bet[m]);
        }
        for (size_t e = 0; e < wcount; e++) nw[e] = (float)((double)ow[e] * s[((int64_t)e / ch_stride) % inner]);
    }
    nn_tensor_id nwid = nn_pass__no_tensor(), nbid = nn_pass__no_tensor();
    if (st == NN_OK) {
        nn_shape ws = g->tensors[wid.id].shape, bs = nn_shape_make(1, &M);
        const char *pname = p->name && p->name[0] ? p->name : g->tensors[wid.id].name;
        char base[200];
        snprintf(base, sizeof base, "%.190s", pname);
        st = nn_pass__new_tensor(g, base, "_W_bn", NN_DTYPE_FLOAT, &ws, &nwid, c->diag);
        if (st == NN_OK) st = nn_graph_set_data(g, nwid, nw, wb, 1, c->diag);
        if (st == NN_OK) st = nn_pass__new_tensor(g, base, "_B_bn", NN_DTYPE_FLOAT, &bs, &nbid, c->diag);
        if (st == NN_OK) st = nn_graph_set_data(g, nbid, nb, bb, 1, c->diag);
    }
    nn_tensor_id *ins = NULL;
    if (st == NN_OK) {
        p = &g->nodes[pi];
        bn = &g->nodes[bi];
        uint32_t cnt = p->input_count < 3 ? 3 : p->input_count;
        ins = (nn_tensor_id *)nn_arena_alloc(&g->arena, cnt * sizeof(nn_tensor_id));
        if (!ins) st = nn_diag_set(c->diag, NN_ERR_NOMEM, "bn", "out of memory");
        else {
            memcpy(ins, p->inputs, p->input_count * sizeof(nn_tensor_id));
            ins[1] = nwid;
            ins[2] = nbid;
            p->inputs = ins;
            p->input_count = cnt;
            p->outputs[0] = bn->outputs[0];
            p->origin = nn_pass__origin_join(g, p->origin, bn->origin);
            *done = 1;
        }
    }
    nn_free(&g->alloc, nw);
    nn_free(&g->alloc, nb);
    nn_free(&g->alloc, s);
    return st;
}

static void nn_pass__live_uses(nn_pass__ctx *c);
static int nn_pass__shapes_agree(const nn_graph *g, const nn_node *p);
static nn_status nn_pass__bn(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    nn_pass__live_uses(c);
    for (uint32_t k = 0; k < g->node_count; k++) {
        uint32_t bi = c->order[k];
        nn_node *bn = &g->nodes[bi];
        if (c->dead[bi] || strcmp(bn->op_type, "BatchNormalization") != 0 || bn->domain[0]) continue;
        if (bn->input_count < 1 || bn->inputs[0].id == NN_INVALID_ID || bn->outputs[0].id == NN_INVALID_ID) continue;
        uint32_t x = bn->inputs[0].id;
        const nn_tensor *xt = &g->tensors[x];
        /* The producer's output must feed only this BN: folding changes it. */
        if (xt->producer.id == NN_INVALID_ID || c->uses[x] != 1 || (xt->flags & NN_TENSOR_OUTPUT) ||
            nn_pass__captured(g, xt->name) || c->dead[xt->producer.id])
            continue;
        /* MatMul(A 2-D, W 2-D constant) is Gemm(A, W): as a Gemm it takes the
           BN's scale in W and its shift as the bias.  The op name changes back
           when the fold does not happen. */
        uint32_t pid = xt->producer.id; /* xt moves when bn_one adds tensors */
        nn_node *pm = &g->nodes[pid];
        int was_matmul = !pm->domain[0] && strcmp(pm->op_type, "MatMul") == 0 && pm->input_count == 2 && pm->inputs[0].id != NN_INVALID_ID &&
                         g->tensors[pm->inputs[0].id].shape.rank == 2 && nn_pass__is_const(g, pm->inputs[1]) &&
                         g->tensors[pm->inputs[1].id].shape.rank == 2 && g->tensors[pm->inputs[1].id].dtype == NN_DTYPE_FLOAT;
        const char *old_op = pm->op_type;
        if (!nn_pass__shapes_agree(g, pm)) continue;
        if (was_matmul) pm->op_type = "Gemm";
        int done;
        nn_status st = nn_pass__bn_one(c, pid, bi, &done);
        if (was_matmul && !done) g->nodes[pid].op_type = old_op;
        if (st) return st;
        if (done) {
            c->dead[bi] = 1;
            c->stats->nodes_removed++;
            c->stats->nodes_fused++;
            c->stats->tensors_added += 2;
            g->tensors[g->nodes[bi].outputs[0].id].producer.id = pid; /* a BN after this one folds too */
        }
    }
    return NN_OK;
}

/* -- helpers shared by the rewriting passes below -- */

/* Optional per-rewrite log line (nn_pass_desc.verbose). */
static void nn_pass__note(nn_pass__ctx *c, const char *pass, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void nn_pass__note(nn_pass__ctx *c, const char *pass, const char *fmt, ...) {
    if (!c->desc || !c->desc->log || !c->desc->verbose) return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->desc->log(c->desc->user, pass, msg);
}

/* 1 when tensor t may be renamed away: not a graph output, not captured by
   name in a subgraph. */
static int nn_pass__replaceable(const nn_graph *g, uint32_t t) {
    return !(g->tensors[t].flags & (NN_TENSOR_OUTPUT | NN_TENSOR_INPUT)) && !nn_pass__captured(g, g->tensors[t].name);
}

/* The float32 data of a constant, with its element count, or NULL. */
static const float *nn_pass__const_f32(const nn_graph *g, nn_tensor_id t, size_t *count) {
    if (!nn_pass__is_const(g, t) || g->tensors[t.id].dtype != NN_DTYPE_FLOAT) return NULL;
    int ok;
    size_t n = nn_shape_count(&g->tensors[t.id].shape, &ok);
    if (!ok || n * sizeof(float) != g->tensors[t.id].data_bytes) return NULL;
    *count = n;
    return (const float *)g->tensors[t.id].data;
}

/* The int64 data of a constant (int32 widened into buf, up to cap), or 0. */
static int nn_pass__const_ints(const nn_graph *g, nn_tensor_id t, int64_t *buf, size_t cap, size_t *count) {
    if (!nn_pass__is_const(g, t)) return 0;
    const nn_tensor *tt = &g->tensors[t.id];
    int ok;
    size_t n = nn_shape_count(&tt->shape, &ok);
    if (!ok || n > cap) return 0;
    if (tt->dtype == NN_DTYPE_INT64 && tt->data_bytes == n * 8) memcpy(buf, tt->data, n * 8);
    else if (tt->dtype == NN_DTYPE_INT32 && tt->data_bytes == n * 4)
        for (size_t i = 0; i < n; i++) buf[i] = ((const int32_t *)tt->data)[i];
    else return 0;
    *count = n;
    return 1;
}

static int nn_pass__is_op(const nn_node *n, const char *op) {
    return (!n->domain[0] || strcmp(n->domain, "ai.onnx") == 0) && strcmp(n->op_type, op) == 0;
}

/* Removes node ni, whose output 0 equals its input x: consumers read x. */
static int nn_pass__bypass(nn_pass__ctx *c, uint32_t ni, uint32_t x, const char *pass, const char *why) {
    nn_graph *g = c->g;
    nn_node *n = &g->nodes[ni];
    uint32_t y = n->outputs[0].id;
    if (c->dead[ni] || !nn_pass__replaceable(g, y)) return 0;
    for (uint32_t o = 1; o < n->output_count; o++)
        if (n->outputs[o].id != NN_INVALID_ID) return 0;
    nn_pass__rewire(g, y, x);
    for (uint32_t i = 0; i < n->input_count; i++)
        if (n->inputs[i].id != NN_INVALID_ID && c->uses[n->inputs[i].id]) c->uses[n->inputs[i].id]--;
    c->uses[x] += c->uses[y];
    c->uses[y] = 0;
    c->dead[ni] = 1;
    c->stats->nodes_removed++;
    nn_pass__note(c, pass, "%s '%s' removed: %s", n->op_type, nn_graph__node_label(n), why);
    return 1;
}

/* Marks nodes whose outputs reach no graph output (dce's rule, without
   touching initializers), then counts uses: a dead second reader must not
   block a fold, and must not be left reading a tensor the fold removed. */
static void nn_pass__live_uses(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    uint8_t *live = (uint8_t *)nn_alloc(&g->alloc, g->tensor_count + 1);
    if (live) { /* out of memory: count every node, which only folds less */
        memset(live, 0, g->tensor_count + 1);
        for (uint32_t i = 0; i < g->output_count; i++) live[g->outputs[i].id] = 1;
        for (uint32_t k = g->node_count; k-- > 0;) {
            uint32_t ni = c->order[k];
            const nn_node *n = &g->nodes[ni];
            if (c->dead[ni]) continue;
            int keep = n->output_count == 0;
            for (uint32_t o = 0; o < n->output_count; o++)
                if (n->outputs[o].id != NN_INVALID_ID && live[n->outputs[o].id]) keep = 1;
            for (uint32_t a = 0; a < n->attr_count; a++)
                if (n->attrs[a].type == NN_ATTR_GRAPH || n->attrs[a].type == NN_ATTR_GRAPHS) keep = 1;
            if (!keep) { c->dead[ni] = 1; c->stats->nodes_removed++; continue; }
            for (uint32_t i = 0; i < n->input_count; i++)
                if (n->inputs[i].id != NN_INVALID_ID) live[n->inputs[i].id] = 1;
            for (uint32_t a = 0; a < n->attr_count; a++) { /* captured by name */
                if (n->attrs[a].type == NN_ATTR_GRAPH && n->attrs[a].g) nn_pass__mark_captures(g, n->attrs[a].g, live);
                if (n->attrs[a].type == NN_ATTR_GRAPHS)
                    for (uint32_t j = 0; j < n->attrs[a].count; j++) nn_pass__mark_captures(g, n->attrs[a].graphs[j], live);
            }
        }
        nn_free(&g->alloc, live);
    }
    nn_pass__count_uses(c);
}

/* 0 when the inner dimensions of Conv/ConvTranspose/Gemm/MatMul node p
   visibly disagree (a malformed graph: a fold would hide it, so none is
   made).  Unknown dims agree. */
static int nn_pass__shapes_agree(const nn_graph *g, const nn_node *p) {
    if (p->input_count < 2 || p->inputs[0].id == NN_INVALID_ID || p->inputs[1].id == NN_INVALID_ID) return 1;
    const nn_shape *x = &g->tensors[p->inputs[0].id].shape, *w = &g->tensors[p->inputs[1].id].shape;
    if (x->rank < 1 || w->rank < 1) return 1;
    int64_t kx = -1, kw = -1;
    if (strcmp(p->op_type, "Conv") == 0 && x->rank >= 2 && w->rank >= 2) {
        kx = x->dims[1];
        kw = w->dims[1] >= 0 ? w->dims[1] * nn_node_attr_int(p, "group", 1) : -1;
    } else if (strcmp(p->op_type, "ConvTranspose") == 0 && x->rank >= 2) {
        kx = x->dims[1];
        kw = w->dims[0];
    } else if (strcmp(p->op_type, "Gemm") == 0 && x->rank == 2 && w->rank == 2) {
        kx = x->dims[nn_node_attr_int(p, "transA", 0) ? 0 : 1];
        kw = w->dims[nn_node_attr_int(p, "transB", 0) ? 1 : 0];
    } else if (strcmp(p->op_type, "MatMul") == 0 && w->rank >= 2) {
        kx = x->dims[x->rank - 1];
        kw = w->dims[w->rank - 2];
    }
    if (x->rank > 0 && (strcmp(p->op_type, "Gemm") == 0) && (x->rank != 2 || w->rank != 2)) return 0;
    return kx < 0 || kw < 0 || kx == kw;
}

/* -- noop: operations that do nothing, and Transpose pairs -- */

/* The perm of Transpose n for rank r (absent: reversed); 0 if invalid. */
static int nn_pass__perm(const nn_node *n, int32_t r, int64_t *perm) {
    const nn_attr *a = nn_node_attr(n, "perm");
    if (r < 0 || r > NN_MAX_RANK) return 0;
    if (!a) {
        for (int32_t i = 0; i < r; i++) perm[i] = r - 1 - i;
        return 1;
    }
    if (a->type != NN_ATTR_INTS || a->count != (uint32_t)r) return 0;
    for (int32_t i = 0; i < r; i++) {
        if (a->ints[i] < 0 || a->ints[i] >= r) return 0;
        perm[i] = a->ints[i];
    }
    return 1;
}

/* 1 when every element of constant t is v (float32 only). */
static int nn_pass__const_all(const nn_graph *g, nn_tensor_id t, float v) {
    size_t n;
    const float *p = nn_pass__const_f32(g, t, &n);
    if (!p) return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

static nn_status nn_pass__noop(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    nn_pass__count_uses(c);
    for (uint32_t k = 0; k < g->node_count; k++) {
        uint32_t ni = c->order[k];
        nn_node *n = &g->nodes[ni];
        if (c->dead[ni] || n->input_count < 1 || n->output_count < 1 || n->inputs[0].id == NN_INVALID_ID ||
            n->outputs[0].id == NN_INVALID_ID || (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0))
            continue;
        uint32_t x = n->inputs[0].id, y = n->outputs[0].id;
        const nn_tensor *xt = &g->tensors[x], *yt = &g->tensors[y];
        int same_shape = xt->dtype != NN_DTYPE_UNDEFINED && xt->dtype == yt->dtype && nn_shape_is_static(&xt->shape) &&
                         nn_shape_is_static(&yt->shape) && nn_shape_equal(&xt->shape, &yt->shape);
        const char *op = n->op_type;
        if (strcmp(op, "Transpose") == 0 && n->output_count == 1) {
            int32_t r = xt->shape.rank;
            int64_t p2[NN_MAX_RANK], p1[NN_MAX_RANK];
            if (!nn_pass__perm(n, r, p2)) continue;
            int ident = 1;
            for (int32_t i = 0; i < r; i++) ident &= p2[i] == i;
            if (ident) { nn_pass__bypass(c, ni, x, "noop", "identity perm"); continue; }
            /* Transpose(Transpose(a, p1), p2) = Transpose(a, q), q[i] = p1[p2[i]] */
            uint32_t pi = xt->producer.id;
            if (pi == NN_INVALID_ID || c->dead[pi] || !nn_pass__is_op(&g->nodes[pi], "Transpose")) continue;
            nn_node *t1 = &g->nodes[pi];
            if (t1->inputs[0].id == NN_INVALID_ID || !nn_pass__perm(t1, r, p1)) continue;
            int64_t q[NN_MAX_RANK];
            ident = 1;
            for (int32_t i = 0; i < r; i++) { q[i] = p1[p2[i]]; ident &= q[i] == i; }
            uint32_t a = t1->inputs[0].id;
            if (ident) {
                nn_pass__bypass(c, ni, a, "noop", "cancels the Transpose before it");
                continue;
            }
            if (c->uses[x] != 1 || !nn_pass__replaceable(g, x)) continue;
            nn_attr pa;
            memset(&pa, 0, sizeof pa);
            pa.name = "perm";
            pa.type = NN_ATTR_INTS;
            pa.count = (uint32_t)r;
            pa.ints = q;
            int64_t *nq = (int64_t *)nn_arena_alloc(&g->arena, (size_t)r * sizeof(int64_t) + 1);
            if (!nq) return nn_diag_set(c->diag, NN_ERR_NOMEM, "noop", "out of memory");
            memcpy(nq, q, (size_t)r * sizeof(int64_t));
            const nn_attr *old = nn_node_attr(n, "perm");
            if (old) ((nn_attr *)old)->ints = nq;
            else {
                nn_node_id nid;
                nid.id = ni;
                nn_status st = nn_graph_add_attr(g, nid, &pa, 0, c->diag);
                if (st) return st;
                n = &g->nodes[ni];
            }
            n->inputs[0].id = a;
            n->origin = nn_pass__origin_join(g, t1->origin, n->origin);
            c->dead[pi] = 1;
            c->stats->nodes_removed++;
            c->stats->nodes_fused++;
            nn_pass__note(c, "noop", "Transpose '%s' merged into '%s'", nn_graph__node_label(t1), nn_graph__node_label(n));
            continue;
        }
        /* A one-element neutral constant of rank <= x's leaves x's shape as
           it is, static or not (x*1 in Swish exports: x*sigmoid(1*x)). */
        if (!same_shape && n->input_count == 2 && n->inputs[1].id != NN_INVALID_ID && xt->shape.rank >= 0 &&
            g->tensors[n->inputs[1].id].shape.rank <= xt->shape.rank && xt->dtype == NN_DTYPE_FLOAT &&
            g->tensors[n->inputs[1].id].data_bytes == sizeof(float))
            same_shape = strcmp(op, "Mul") == 0 || strcmp(op, "Div") == 0 || strcmp(op, "Add") == 0 || strcmp(op, "Sub") == 0;
        if (!same_shape) continue;
        if (strcmp(op, "Slice") == 0) {
            /* Same static shape and positive steps: every element is taken in order. */
            int64_t steps[NN_MAX_RANK];
            size_t ns = 0;
            int ok = 1;
            if (n->input_count >= 5 && n->inputs[4].id != NN_INVALID_ID) {
                ok = nn_pass__const_ints(g, n->inputs[4], steps, NN_MAX_RANK, &ns);
                for (size_t i = 0; ok && i < ns; i++) ok = steps[i] > 0;
            }
            if (ok) nn_pass__bypass(c, ni, x, "noop", "takes the whole tensor");
        } else if (strcmp(op, "Pad") == 0) {
            int64_t pads[2 * NN_MAX_RANK];
            size_t np = 0;
            int ok = 0;
            if (n->input_count >= 2 && n->inputs[1].id != NN_INVALID_ID) {
                ok = nn_pass__const_ints(g, n->inputs[1], pads, 2 * NN_MAX_RANK, &np);
            } else {
                const nn_attr *a = nn_node_attr(n, "pads");
                ok = a && a->type == NN_ATTR_INTS && a->count <= 2 * NN_MAX_RANK;
                for (uint32_t i = 0; ok && i < a->count; i++) pads[np++] = a->ints[i];
            }
            for (size_t i = 0; ok && i < np; i++) ok = pads[i] == 0;
            if (ok) nn_pass__bypass(c, ni, x, "noop", "zero pads");
        } else if ((strcmp(op, "Concat") == 0 && n->input_count == 1) ||
                   (strcmp(op, "Split") == 0 && n->output_count == 1) || strcmp(op, "Expand") == 0 ||
                   strcmp(op, "Tile") == 0) {
            nn_pass__bypass(c, ni, x, "noop", "output is the input");
        } else if (n->input_count == 2 && n->inputs[1].id != NN_INVALID_ID &&
                   (((strcmp(op, "Mul") == 0 || strcmp(op, "Div") == 0) && nn_pass__const_all(g, n->inputs[1], 1.0f)) ||
                    ((strcmp(op, "Add") == 0 || strcmp(op, "Sub") == 0) && nn_pass__const_all(g, n->inputs[1], 0.0f)))) {
            /* x*1, x/1, x+0, x-0 with the output shaped as x (the constant
               does not broadcast it larger); -0 + 0 = +0 is the only change. */
            nn_pass__bypass(c, ni, x, "noop", "neutral constant");
        }
    }
    return NN_OK;
}

/* -- cse: duplicate initializers and repeated computations -- */

static uint64_t nn_pass__hash(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull; /* FNV-1a */
    return h;
}

/* 1 when nodes a and b compute the same thing from the same inputs. */
static int nn_pass__node_equal(const nn_node *a, const nn_node *b) {
    if (strcmp(a->op_type, b->op_type) != 0 || strcmp(a->domain, b->domain) != 0 || a->input_count != b->input_count ||
        a->output_count != b->output_count || a->attr_count != b->attr_count)
        return 0;
    for (uint32_t i = 0; i < a->input_count; i++)
        if (a->inputs[i].id != b->inputs[i].id) return 0;
    for (uint32_t o = 0; o < a->output_count; o++)
        if ((a->outputs[o].id == NN_INVALID_ID) != (b->outputs[o].id == NN_INVALID_ID)) return 0;
    for (uint32_t i = 0; i < a->attr_count; i++) {
        const nn_attr *o = nn_node_attr(b, a->attrs[i].name);
        if (!o || !nn_attr_equal(&a->attrs[i], o)) return 0;
    }
    return 1;
}

static uint64_t nn_pass__const_hash(const nn_tensor *t) {
    uint64_t h = 1469598103934665603ull;
    h = nn_pass__hash(h, &t->dtype, sizeof t->dtype);
    h = nn_pass__hash(h, &t->shape.rank, sizeof t->shape.rank);
    if (t->shape.rank > 0) h = nn_pass__hash(h, t->shape.dims, (size_t)t->shape.rank * sizeof(int64_t));
    return nn_pass__hash(h, t->data, t->data_bytes);
}

static nn_status nn_pass__cse(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    nn_pass__count_uses(c);
    uint32_t cap = 16;
    while (cap < 2 * (g->tensor_count > g->node_count ? g->tensor_count : g->node_count) + 2) cap *= 2;
    uint32_t *slot = (uint32_t *)nn_alloc(&g->alloc, (size_t)cap * sizeof(uint32_t));
    uint32_t *rep = (uint32_t *)nn_alloc(&g->alloc, ((size_t)g->tensor_count + 1) * sizeof(uint32_t));
    if (!slot || !rep) {
        nn_free(&g->alloc, slot);
        nn_free(&g->alloc, rep);
        return nn_diag_set(c->diag, NN_ERR_NOMEM, "cse", "out of memory");
    }
    /* 1. initializers with equal dtype, shape and bytes: readers of the later
       one read the first (dce then drops the copy). */
    memset(slot, 0xFF, (size_t)cap * sizeof(uint32_t));
    uint32_t merged = 0;
    for (uint32_t t = 0; t < g->tensor_count; t++) {
        rep[t] = t;
        const nn_tensor *tt = &g->tensors[t];
        if (!(tt->flags & NN_TENSOR_CONST) || !tt->data || c->uses[t] == 0 || (tt->flags & (NN_TENSOR_INPUT | NN_TENSOR_OUTPUT)))
            continue;
        uint64_t h = nn_pass__const_hash(tt);
        for (uint32_t s = (uint32_t)h & (cap - 1);; s = (s + 1) & (cap - 1)) {
            if (slot[s] == NN_INVALID_ID) { slot[s] = t; break; }
            const nn_tensor *o = &g->tensors[slot[s]];
            if (o->dtype == tt->dtype && nn_shape_equal(&o->shape, &tt->shape) && o->data_bytes == tt->data_bytes &&
                memcmp(o->data, tt->data, tt->data_bytes) == 0) {
                rep[t] = slot[s];
                merged++;
                break;
            }
        }
    }
    for (uint32_t n = 0; n < g->node_count && merged; n++)
        for (uint32_t i = 0; i < g->nodes[n].input_count; i++)
            if (g->nodes[n].inputs[i].id != NN_INVALID_ID) g->nodes[n].inputs[i].id = rep[g->nodes[n].inputs[i].id];
    c->stats->tensors_merged += merged;
    if (merged) nn_pass__note(c, "cse", "%u duplicate initializers now share one copy", merged);
    /* 2. nodes in topological order: a node equal to an earlier one (same op,
       inputs and attributes, deterministic, no subgraphs) is dropped and its
       outputs' readers read the earlier node's outputs. */
    memset(slot, 0xFF, (size_t)cap * sizeof(uint32_t));
    for (uint32_t k = 0; k < g->node_count; k++) {
        uint32_t ni = c->order[k];
        const nn_node *n = &g->nodes[ni];
        if (c->dead[ni] || n->output_count == 0) continue;
        const nn_op_def *d = nn_op_find(n->op_type, n->domain, nn_graph_opset(g, n->domain));
        if (!d || (d->flags & (NN_OPF_NONDETERMINISTIC | NN_OPF_SUBGRAPH))) continue;
        uint64_t h = 1469598103934665603ull;
        h = nn_pass__hash(h, n->op_type, strlen(n->op_type));
        h = nn_pass__hash(h, n->domain, strlen(n->domain));
        h = nn_pass__hash(h, n->inputs, n->input_count * sizeof(nn_tensor_id));
        for (uint32_t s = (uint32_t)h & (cap - 1);; s = (s + 1) & (cap - 1)) {
            if (slot[s] == NN_INVALID_ID) { slot[s] = ni; break; }
            const nn_node *m = &g->nodes[slot[s]];
            if (!nn_pass__node_equal(n, m)) continue;
            int ok = 1;
            for (uint32_t o = 0; o < n->output_count; o++)
                if (n->outputs[o].id != NN_INVALID_ID && !nn_pass__replaceable(g, n->outputs[o].id)) ok = 0;
            if (!ok) break;
            for (uint32_t o = 0; o < n->output_count; o++)
                if (n->outputs[o].id != NN_INVALID_ID) nn_pass__rewire(g, n->outputs[o].id, m->outputs[o].id);
            nn_node *mm = &g->nodes[slot[s]];
            mm->origin = nn_pass__origin_join(g, mm->origin, n->origin);
            c->dead[ni] = 1;
            c->stats->nodes_removed++;
            nn_pass__note(c, "cse", "%s '%s' repeats '%s'", n->op_type, nn_graph__node_label(n), nn_graph__node_label(mm));
            break;
        }
    }
    nn_free(&g->alloc, slot);
    nn_free(&g->alloc, rep);
    return NN_OK;
}

/* -- affine: per-channel Mul/Add/Sub/Div/BatchNormalization into Conv/Gemm -- */

/* How a producer's weights map to its output channels (dim 1 of Y). */
typedef struct nn_pass__lin {
    int64_t M;         /* output channels */
    int64_t ch_stride; /* W element e belongs to channel (e / ch_stride) % M */
    int32_t y_rank;    /* rank of Y */
    size_t wcount;
} nn_pass__lin;

/* 1 when node p is a float32 Conv / ConvTranspose (group 1) / Gemm (beta 1)
   with constant W (and constant B if any) whose output channels can each
   be scaled and shifted by changing W and B. */
static int nn_pass__linear(const nn_graph *g, const nn_node *p, nn_pass__lin *L) {
    int is_conv = nn_pass__is_op(p, "Conv"), is_convt = nn_pass__is_op(p, "ConvTranspose");
    int is_gemm = nn_pass__is_op(p, "Gemm");
    if (!(is_conv || is_convt || is_gemm) || p->input_count < 2 || p->output_count != 1 || !nn_pass__shapes_agree(g, p))
        return 0;
    size_t wcount, bcount;
    if (!nn_pass__const_f32(g, p->inputs[1], &wcount)) return 0;
    if (p->input_count > 2 && p->inputs[2].id != NN_INVALID_ID && !nn_pass__const_f32(g, p->inputs[2], &bcount)) return 0;
    const nn_shape *ws = &g->tensors[p->inputs[1].id].shape;
    if (ws->rank < 2 || wcount == 0) return 0;
    L->wcount = wcount;
    if (is_conv) {
        L->M = ws->dims[0];
        L->ch_stride = (int64_t)wcount / L->M;
        L->y_rank = ws->rank;
    } else if (is_convt) {
        if (nn_node_attr_int(p, "group", 1) != 1) return 0;
        L->M = ws->dims[1];
        L->ch_stride = (int64_t)wcount / (ws->dims[0] * L->M);
        L->y_rank = ws->rank;
    } else {
        if (ws->rank != 2 || nn_node_attr_float(p, "beta", 1.0f) != 1.0f) return 0;
        int tb = nn_node_attr_int(p, "transB", 0) != 0;
        L->M = tb ? ws->dims[0] : ws->dims[1];
        L->ch_stride = tb ? ws->dims[1] : 1;
        L->y_rank = 2;
    }
    if (p->input_count > 2 && p->inputs[2].id != NN_INVALID_ID && bcount != (size_t)L->M && !(is_gemm && bcount == 1))
        return 0;
    return L->M > 0;
}

/* Reads constant k (broadcast against Y of rank r) as one value per channel
   of M into out[]: every dim of k except Y's dim 1 must be 1.  0 if not. */
static int nn_pass__per_channel(const nn_graph *g, nn_tensor_id k, int32_t r, int64_t M, double *out) {
    size_t n;
    const float *p = nn_pass__const_f32(g, k, &n);
    if (!p) return 0;
    const nn_shape *s = &g->tensors[k.id].shape;
    if (s->rank > r) return 0;
    int64_t ch = 1;
    for (int32_t i = 0; i < s->rank; i++) {
        int32_t axis = r - s->rank + i;
        if (axis == 1) ch = s->dims[i];
        else if (s->dims[i] != 1) return 0;
    }
    if (ch != 1 && ch != M) return 0;
    for (int64_t m = 0; m < M; m++) out[m] = (double)p[ch == 1 ? 0 : m];
    return 1;
}

/* Rewrites producer pi so that its output becomes s[c] * y + t[c] (s NULL:
   1), computed in double and rounded once: W'[c] = W[c] s[c],
   B'[c] = B[c] s[c] + t[c].  Node qi (the folded consumer) is removed and
   pi takes over its output. */
static nn_status nn_pass__affine_into(nn_pass__ctx *c, uint32_t pi, uint32_t qi, const nn_pass__lin *L,
                                      const double *s, const double *t, const char *pass) {
    nn_graph *g = c->g;
    nn_node *p = &g->nodes[pi];
    int64_t M = L->M;
    size_t wb, bb;
    if (!nn_size_mul(L->wcount, sizeof(float), &wb) || !nn_size_mul((size_t)M, sizeof(float), &bb)) return NN_OK;
    size_t bcount = 0;
    const float *ob = p->input_count > 2 && p->inputs[2].id != NN_INVALID_ID ? nn_pass__const_f32(g, p->inputs[2], &bcount) : NULL;
    const float *ow = (const float *)g->tensors[p->inputs[1].id].data;
    float *nw = s ? (float *)nn_alloc(&g->alloc, wb) : NULL, *nb = (float *)nn_alloc(&g->alloc, bb);
    nn_status st = NN_OK;
    if ((s && !nw) || !nb) st = nn_diag_set(c->diag, NN_ERR_NOMEM, pass, "out of memory");
    if (st == NN_OK) {
        for (int64_t m = 0; m < M; m++) {
            double b0 = ob ? (double)ob[bcount == 1 ? 0 : m] : 0.0;
            nb[m] = (float)(b0 * (s ? s[m] : 1.0) + t[m]);
        }
        for (size_t e = 0; s && e < L->wcount; e++) nw[e] = (float)((double)ow[e] * s[((int64_t)e / L->ch_stride) % M]);
    }
    nn_tensor_id nwid = p->inputs[1], nbid = nn_pass__no_tensor();
    char base[200];
    snprintf(base, sizeof base, "%.190s", p->name && p->name[0] ? p->name : g->tensors[p->inputs[1].id].name);
    if (st == NN_OK && s) {
        nn_shape ws = g->tensors[p->inputs[1].id].shape;
        st = nn_pass__new_tensor(g, base, "_W_fold", NN_DTYPE_FLOAT, &ws, &nwid, c->diag);
        if (st == NN_OK) st = nn_graph_set_data(g, nwid, nw, wb, 1, c->diag);
        if (st == NN_OK) c->stats->tensors_added++;
    }
    if (st == NN_OK) {
        nn_shape bs = nn_shape_make(1, &M);
        st = nn_pass__new_tensor(g, base, "_B_fold", NN_DTYPE_FLOAT, &bs, &nbid, c->diag);
        if (st == NN_OK) st = nn_graph_set_data(g, nbid, nb, bb, 1, c->diag);
        if (st == NN_OK) c->stats->tensors_added++;
    }
    nn_tensor_id *ins = NULL;
    if (st == NN_OK) {
        p = &g->nodes[pi];
        uint32_t cnt = p->input_count < 3 ? 3 : p->input_count;
        ins = (nn_tensor_id *)nn_arena_alloc(&g->arena, cnt * sizeof(nn_tensor_id));
        if (!ins) st = nn_diag_set(c->diag, NN_ERR_NOMEM, pass, "out of memory");
    }
    if (st == NN_OK) {
        nn_node *q = &g->nodes[qi];
        memcpy(ins, p->inputs, p->input_count * sizeof(nn_tensor_id));
        ins[1] = nwid;
        ins[2] = nbid;
        uint32_t y = p->outputs[0].id;
        p->inputs = ins;
        p->input_count = p->input_count < 3 ? 3 : p->input_count;
        p->outputs[0] = q->outputs[0];
        g->tensors[q->outputs[0].id].producer.id = pi;
        p->origin = nn_pass__origin_join(g, p->origin, q->origin);
        c->uses[y] = 0;
        c->dead[qi] = 1;
        c->stats->nodes_removed++;
        c->stats->nodes_fused++;
        nn_pass__note(c, pass, "%s '%s' folded into %s '%s'", q->op_type, nn_graph__node_label(q), p->op_type,
                      nn_graph__node_label(p));
    }
    nn_free(&g->alloc, nw);
    nn_free(&g->alloc, nb);
    return st;
}

static nn_status nn_pass__affine(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    nn_pass__live_uses(c);
    for (uint32_t k = 0; k < g->node_count; k++) {
        uint32_t qi = c->order[k];
        nn_node *q = &g->nodes[qi];
        int is_bn = nn_pass__is_op(q, "BatchNormalization");
        int is_mul = nn_pass__is_op(q, "Mul"), is_add = nn_pass__is_op(q, "Add");
        int is_sub = nn_pass__is_op(q, "Sub"), is_div = nn_pass__is_op(q, "Div");
        if (c->dead[qi] || !(is_bn || is_mul || is_add || is_sub || is_div) || q->output_count < 1 ||
            q->outputs[0].id == NN_INVALID_ID || q->input_count < 2)
            continue;
        if (is_bn && (q->input_count != 5 || nn_node_attr_int(q, "training_mode", 0) != 0)) continue;
        int extra = 0;
        for (uint32_t o = 1; o < q->output_count; o++) extra |= q->outputs[o].id != NN_INVALID_ID;
        if (extra) continue;
        /* which input is the producer's output: Mul and Add commute */
        int yi = 0;
        if ((is_mul || is_add) && q->inputs[0].id != NN_INVALID_ID && nn_pass__is_const(g, q->inputs[0])) yi = 1;
        uint32_t y = q->inputs[yi].id;
        if (y == NN_INVALID_ID) continue;
        uint32_t pi = g->tensors[y].producer.id;
        if (pi == NN_INVALID_ID || c->dead[pi] || c->uses[y] != 1 || !nn_pass__replaceable(g, y)) continue;
        nn_pass__lin L;
        if (!nn_pass__linear(g, &g->nodes[pi], &L)) continue;
        if (g->tensors[y].shape.rank >= 0 && g->tensors[y].shape.rank != L.y_rank) continue;
        double *s = (double *)nn_alloc(&g->alloc, (size_t)L.M * 2 * sizeof(double));
        if (!s) return nn_diag_set(c->diag, NN_ERR_NOMEM, "affine", "out of memory");
        double *t = s + L.M;
        int ok = 1, scaled = 1;
        if (is_bn) {
            double eps = nn_node_attr_float(q, "epsilon", 1e-5f);
            /* s = gamma / sqrt(var + eps), t = beta - mean s (BatchNormalization, inference) */
            double *mean = (double *)nn_alloc(&g->alloc, (size_t)L.M * 2 * sizeof(double));
            if (!mean) { nn_free(&g->alloc, s); return nn_diag_set(c->diag, NN_ERR_NOMEM, "affine", "out of memory"); }
            double *var = mean + L.M;
            ok = nn_pass__per_channel(g, q->inputs[1], 2, L.M, s) && nn_pass__per_channel(g, q->inputs[2], 2, L.M, t) &&
                 nn_pass__per_channel(g, q->inputs[3], 2, L.M, mean) && nn_pass__per_channel(g, q->inputs[4], 2, L.M, var);
            for (int64_t m = 0; ok && m < L.M; m++) {
                s[m] = s[m] / sqrt(var[m] + eps);
                t[m] = t[m] - mean[m] * s[m];
            }
            nn_free(&g->alloc, mean);
        } else {
            ok = nn_pass__per_channel(g, q->inputs[1 - yi], L.y_rank, L.M, s);
            for (int64_t m = 0; ok && m < L.M; m++) {
                if (is_mul) t[m] = 0.0;
                else if (is_div) { ok = s[m] != 0.0; s[m] = ok ? 1.0 / s[m] : 0.0; t[m] = 0.0; }
                else { t[m] = is_sub ? -s[m] : s[m]; s[m] = 1.0; }
            }
            scaled = is_mul || is_div;
        }
        nn_status st = NN_OK;
        if (ok) st = nn_pass__affine_into(c, pi, qi, &L, scaled ? s : NULL, t, "affine");
        nn_free(&g->alloc, s);
        if (st) return st;
    }
    return NN_OK;
}

/* -- act: activations into Conv / Gemm (com.microsoft FusedConv/FusedGemm), x*Sigmoid(x) -> QuickGelu -- */

static nn_status nn_pass__ms_opset(nn_pass__ctx *c) {
    if (nn_graph_opset(c->g, "com.microsoft") >= 1) return NN_OK;
    return nn_graph_set_opset(c->g, "com.microsoft", 1, c->diag);
}

/* Turns node ni into domain's op_type (importing the domain), adding
   attributes a[0..na). */
static nn_status nn_pass__to_op(nn_pass__ctx *c, uint32_t ni, const char *op_type, const char *domain, const nn_attr *a,
                                int na) {
    nn_graph *g = c->g;
    const char *op = nn_arena_strdup(&g->arena, op_type, strlen(op_type));
    const char *dom = nn_arena_strdup(&g->arena, domain, strlen(domain));
    if (!op || !dom) return nn_diag_set(c->diag, NN_ERR_NOMEM, "act", "out of memory");
    nn_status st = strcmp(domain, "com.microsoft") == 0 ? nn_pass__ms_opset(c)
                 : nn_graph_opset(g, domain) >= 1    ? NN_OK
                                                     : nn_graph_set_opset(g, domain, 1, c->diag);
    nn_node_id nid;
    nid.id = ni;
    for (int i = 0; i < na && st == NN_OK; i++) st = nn_graph_add_attr(g, nid, &a[i], 0, c->diag);
    if (st) return st;
    g->nodes[ni].op_type = op;
    g->nodes[ni].domain = dom;
    return NN_OK;
}

static nn_status nn_pass__to_ms(nn_pass__ctx *c, uint32_t ni, const char *op_type, const nn_attr *a, int na) {
    return nn_pass__to_op(c, ni, op_type, "com.microsoft", a, na);
}

/* Activation node n as FusedConv/FusedGemm parameters; 0 if not fusable. */
static int nn_pass__act_of(const nn_graph *g, const nn_node *n, int gemm, const char **name, float *params, int *np) {
    static const char *const ops[] = {"Relu", "LeakyRelu", "Clip", "HardSigmoid", "Sigmoid", "Tanh"};
    *np = 0;
    *name = NULL;
    for (int k = 0; k < 6; k++)
        if (nn_pass__is_op(n, ops[k])) *name = ops[k];
    if (!*name || n->output_count != 1) return 0;
    if (strcmp(*name, "LeakyRelu") == 0) { params[0] = nn_node_attr_float(n, "alpha", 0.01f); *np = 1; }
    else if (strcmp(*name, "HardSigmoid") == 0) {
        params[0] = nn_node_attr_float(n, "alpha", 0.2f);
        params[1] = nn_node_attr_float(n, "beta", 0.5f);
        *np = 2;
    } else if (strcmp(*name, "Clip") == 0) {
        if (gemm) return 0; /* ORT's FusedGemm has no Clip functor */
        params[0] = nn_node_attr_float(n, "min", -FLT_MAX);
        params[1] = nn_node_attr_float(n, "max", FLT_MAX);
        for (uint32_t i = 1; i < 3 && i < n->input_count; i++) {
            if (n->inputs[i].id == NN_INVALID_ID) continue;
            size_t cnt;
            const float *v = nn_pass__const_f32(g, n->inputs[i], &cnt);
            if (!v || cnt != 1) return 0;
            params[i - 1] = v[0];
        }
        *np = 2;
    }
    return 1;
}

/* Conv -> Add(z) -> act, the Conv output read only by the Add, z shaped
   as it: the Add node becomes FusedConv(X, W, B, Z) with the activation
   (ORT's ConvAddActivationFusion form).  The Add's place in the node list
   is after both z's producer and the Conv, so the file stays sorted. */
static nn_status nn_pass__act_residual(nn_pass__ctx *c, uint32_t addi, uint32_t ai, int *done) {
    nn_graph *g = c->g;
    const nn_node *add = &g->nodes[addi], *a = &g->nodes[ai];
    *done = 0;
    if (add->input_count != 2 || add->output_count != 1) return NN_OK;
    const char *name;
    float params[2];
    int np;
    if (!nn_pass__act_of(g, a, 0, &name, params, &np)) return NN_OK;
    for (int side = 0; side < 2; side++) {
        uint32_t yc = add->inputs[side].id, z = add->inputs[1 - side].id;
        if (yc == NN_INVALID_ID || z == NN_INVALID_ID || yc == z) continue;
        uint32_t ci = g->tensors[yc].producer.id;
        if (ci == NN_INVALID_ID || c->dead[ci] || !nn_pass__is_op(&g->nodes[ci], "Conv") || g->nodes[ci].output_count != 1 ||
            c->uses[yc] != 1 || !nn_pass__replaceable(g, yc) || !nn_pass__shapes_agree(g, &g->nodes[ci]))
            continue;
        const nn_tensor *yt = &g->tensors[yc], *zt = &g->tensors[z];
        if (yt->dtype != NN_DTYPE_FLOAT || zt->dtype != NN_DTYPE_FLOAT || !nn_shape_is_static(&yt->shape) ||
            !nn_shape_equal(&yt->shape, &zt->shape))
            continue;
        nn_node *cv = &g->nodes[ci];
        nn_tensor_id *ins = (nn_tensor_id *)nn_arena_alloc(&g->arena, 4 * sizeof(nn_tensor_id));
        if (!ins) return nn_diag_set(c->diag, NN_ERR_NOMEM, "act", "out of memory");
        ins[0] = cv->inputs[0];
        ins[1] = cv->inputs[1];
        ins[2] = cv->input_count > 2 ? cv->inputs[2] : nn_pass__no_tensor();
        ins[3].id = z;
        nn_attr at[2];
        memset(at, 0, sizeof at);
        at[0].name = "activation";
        at[0].type = NN_ATTR_STRING;
        at[0].s = name;
        at[0].s_bytes = strlen(name);
        at[1].name = "activation_params";
        at[1].type = NN_ATTR_FLOATS;
        at[1].count = (uint32_t)np;
        at[1].floats = params;
        nn_node *an = &g->nodes[addi];
        uint32_t add_out = an->outputs[0].id;
        an->attrs = cv->attrs; /* the Conv's attributes; to_ms appends to a fresh copy */
        an->attr_count = cv->attr_count;
        nn_status st = nn_pass__to_ms(c, addi, "FusedConv", at, np ? 2 : 1);
        if (st) return st;
        an = &g->nodes[addi];
        cv = &g->nodes[ci];
        an->inputs = ins;
        an->input_count = 4;
        an->outputs[0] = g->nodes[ai].outputs[0];
        g->tensors[an->outputs[0].id].producer.id = addi;
        an->origin = nn_pass__origin_join(g, nn_pass__origin_join(g, cv->origin, an->origin), g->nodes[ai].origin);
        c->uses[yc] = 0;
        c->uses[add_out] = 0;
        c->dead[ci] = 1;
        c->dead[ai] = 1;
        c->stats->nodes_removed += 2;
        c->stats->nodes_fused += 2;
        nn_pass__note(c, "act", "Conv '%s' + Add + %s '%s' -> FusedConv '%s' with Z", nn_graph__node_label(cv), name,
                      nn_graph__node_label(&g->nodes[ai]), nn_graph__node_label(an));
        *done = 1;
        return NN_OK;
    }
    return NN_OK;
}

static void nn_pass__tf_shapes(nn_pass__ctx *c);
static nn_status nn_pass__act(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    nn_pass__tf_shapes(c); /* dtypes of intermediate tensors */
    nn_pass__live_uses(c);
    nn_status st = NN_OK;
    /* x * Sigmoid(x) (SiLU / Swish) -> QuickGelu(x, alpha 1): first, so that
       a Sigmoid in this pattern is not taken by the producer fusion below
       (it is not: x has two readers there, but say it plainly). */
    for (uint32_t k = 0; k < g->node_count && st == NN_OK; k++) {
        uint32_t mi = c->order[k];
        nn_node *m = &g->nodes[mi];
        if (c->dead[mi] || !nn_pass__is_op(m, "Mul") || m->input_count != 2 || m->output_count != 1) continue;
        for (int side = 0; side < 2; side++) {
            uint32_t s = m->inputs[side].id, x = m->inputs[1 - side].id;
            if (s == NN_INVALID_ID || x == NN_INVALID_ID || g->tensors[x].dtype != NN_DTYPE_FLOAT) continue;
            uint32_t si = g->tensors[s].producer.id;
            if (si == NN_INVALID_ID || c->dead[si] || !nn_pass__is_op(&g->nodes[si], "Sigmoid") ||
                g->nodes[si].inputs[0].id != x || c->uses[s] != 1 || !nn_pass__replaceable(g, s))
                continue;
            nn_attr a;
            memset(&a, 0, sizeof a);
            a.name = "alpha";
            a.type = NN_ATTR_FLOAT;
            a.f = 1.0f;
            st = nn_pass__to_ms(c, mi, "QuickGelu", &a, 1);
            if (st) break;
            m = &g->nodes[mi];
            m->inputs[0].id = x;
            m->input_count = 1;
            m->origin = nn_pass__origin_join(g, g->nodes[si].origin, m->origin);
            c->dead[si] = 1;
            c->uses[s] = 0;
            c->stats->nodes_removed++;
            c->stats->nodes_fused++;
            nn_pass__note(c, "act", "Sigmoid '%s' * x -> QuickGelu '%s'", nn_graph__node_label(&g->nodes[si]),
                          nn_graph__node_label(m));
            break;
        }
    }
    for (uint32_t k = 0; k < g->node_count && st == NN_OK; k++) {
        uint32_t ai = c->order[k];
        nn_node *a = &g->nodes[ai];
        if (c->dead[ai] || a->input_count < 1 || a->inputs[0].id == NN_INVALID_ID || a->output_count != 1 ||
            a->outputs[0].id == NN_INVALID_ID)
            continue;
        uint32_t y = a->inputs[0].id, pi = g->tensors[y].producer.id;
        if (pi == NN_INVALID_ID || c->dead[pi] || c->uses[y] != 1 || !nn_pass__replaceable(g, y)) continue;
        nn_node *p = &g->nodes[pi];
        if (nn_pass__is_op(p, "Add")) {
            int done;
            st = nn_pass__act_residual(c, pi, ai, &done);
            continue;
        }
        int is_conv = nn_pass__is_op(p, "Conv"), is_gemm = nn_pass__is_op(p, "Gemm");
        if (!(is_conv || is_gemm) || p->output_count != 1 || g->tensors[y].dtype != NN_DTYPE_FLOAT ||
            !nn_pass__shapes_agree(g, p))
            continue;
        if (is_gemm && nn_node_attr(p, "broadcast")) continue; /* opset < 7 only; FusedGemm lacks it */
        const char *name;
        float params[2];
        int np;
        if (!nn_pass__act_of(g, a, is_gemm, &name, params, &np)) continue;
        nn_attr at[3];
        memset(at, 0, sizeof at);
        at[0].name = "activation";
        at[0].type = NN_ATTR_STRING;
        at[0].s = name;
        at[0].s_bytes = strlen(name);
        int na = 1;
        if (np && !is_gemm) {
            at[1].name = "activation_params";
            at[1].type = NN_ATTR_FLOATS;
            at[1].count = (uint32_t)np;
            at[1].floats = params;
            na = 2;
        } else {
            for (int i = 0; i < np; i++) {
                at[na].name = i == 0 ? "activation_alpha" : "activation_beta";
                at[na].type = NN_ATTR_FLOAT;
                at[na].f = params[i];
                na++;
            }
        }
        st = nn_pass__to_ms(c, pi, is_conv ? "FusedConv" : "FusedGemm", at, na);
        if (st) break;
        p = &g->nodes[pi];
        a = &g->nodes[ai];
        p->outputs[0] = a->outputs[0];
        g->tensors[a->outputs[0].id].producer.id = pi;
        p->origin = nn_pass__origin_join(g, p->origin, a->origin);
        c->uses[y] = 0;
        c->dead[ai] = 1;
        c->stats->nodes_removed++;
        c->stats->nodes_fused++;
        nn_pass__note(c, "act", "%s '%s' fused into %s '%s'", name, nn_graph__node_label(a), p->op_type,
                      nn_graph__node_label(p));
    }
    return st;
}

/* -- user edits: attributes, constants, input preprocessing -- */

static nn_node *nn_pass__find_node(nn_graph *g, const char *name) {
    for (uint32_t i = 0; i < g->node_count; i++)
        if (g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0) return &g->nodes[i];
    return NULL;
}

/* Parses a comma-separated list of numbers; returns the count or -1. */
static int nn_pass__parse_list(const char *text, int as_int, int64_t *iv, float *fv, int cap) {
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        if (n >= cap) return -1;
        if (as_int) {
            long long v = strtoll(p, &end, 10);
            iv[n] = (int64_t)v;
        } else {
            fv[n] = strtof(p, &end);
        }
        if (end == p) return -1;
        n++;
        while (*end == ' ') end++;
        if (*end == ',') end++;
        else if (*end) return -1;
        p = end;
    }
    return n;
}

NN_API nn_status nn_graph_patch_attr(nn_graph *g, const char *node_name, const char *attr_name, const char *value_text,
                                     nn_diag *diag) {
    NN_ASSERT(g && node_name && attr_name && value_text);
    nn_node *n = nn_pass__find_node(g, node_name);
    if (!n) return nn_diag_set(diag, NN_ERR_ARG, node_name, "no node named '%s'", node_name);
    const nn_attr *old = nn_node_attr(n, attr_name);
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = attr_name;
    if (old) a.type = old->type;
    else { /* a new attribute: the text says its type */
        int64_t iv[1];
        float fv[1];
        int has_comma = strchr(value_text, ',') != NULL, has_dot = strpbrk(value_text, ".eEn") != NULL;
        if (nn_pass__parse_list(value_text, 1, iv, fv, NN_MAX_RANK * 8) >= 0 && !has_dot) a.type = has_comma ? NN_ATTR_INTS : NN_ATTR_INT;
        else if (nn_pass__parse_list(value_text, 0, iv, fv, NN_MAX_RANK * 8) >= 0) a.type = has_comma ? NN_ATTR_FLOATS : NN_ATTR_FLOAT;
        else a.type = NN_ATTR_STRING;
    }
    int64_t iv[NN_MAX_RANK * 8];
    float fv[NN_MAX_RANK * 8];
    int cnt = -1;
    switch (a.type) {
    case NN_ATTR_INT: case NN_ATTR_INTS: cnt = nn_pass__parse_list(value_text, 1, iv, fv, NN_MAX_RANK * 8); break;
    case NN_ATTR_FLOAT: case NN_ATTR_FLOATS: cnt = nn_pass__parse_list(value_text, 0, iv, fv, NN_MAX_RANK * 8); break;
    case NN_ATTR_STRING: cnt = 1; break;
    default:
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, attr_name, "attribute '%s' of '%s' is not a number, list or string",
                           attr_name, node_name);
    }
    if (cnt < 0 || ((a.type == NN_ATTR_INT || a.type == NN_ATTR_FLOAT) && cnt != 1))
        return nn_diag_set(diag, NN_ERR_ARG, attr_name, "'%s' is not a valid %s value for '%s'", value_text,
                           a.type == NN_ATTR_INT ? "int" : a.type == NN_ATTR_FLOAT ? "float" : "list", attr_name);
    a.i = iv[0];
    a.f = fv[0];
    a.count = a.type == NN_ATTR_INTS || a.type == NN_ATTR_FLOATS ? (uint32_t)cnt : 0;
    a.ints = a.type == NN_ATTR_INTS ? iv : NULL;
    a.floats = a.type == NN_ATTR_FLOATS ? fv : NULL;
    if (a.type == NN_ATTR_STRING) { a.s = value_text; a.s_bytes = strlen(value_text); }
    /* Add the new value at the end, then drop the old entry: on failure
       the node keeps its attributes as they were. */
    nn_node_id nid;
    nid.id = (uint32_t)(n - g->nodes);
    nn_status st = nn_graph_add_attr(g, nid, &a, 0, diag);
    if (st) return st;
    n = &g->nodes[nid.id];
    if (old) {
        uint32_t j = 0;
        for (uint32_t i = 0; i + 1 < n->attr_count; i++)
            if (strcmp(n->attrs[i].name, attr_name) != 0) n->attrs[j++] = n->attrs[i];
        n->attrs[j++] = n->attrs[n->attr_count - 1];
        n->attr_count = j;
    }
    return NN_OK;
}

NN_API nn_status nn_graph_patch_const(nn_graph *g, const char *tensor_name, const nn_value *v, nn_diag *diag) {
    NN_ASSERT(g && tensor_name && v);
    nn_tensor_id t = nn_graph_find_tensor(g, tensor_name);
    if (t.id == NN_INVALID_ID || !(g->tensors[t.id].flags & NN_TENSOR_CONST))
        return nn_diag_set(diag, NN_ERR_ARG, tensor_name, "no initializer named '%s'", tensor_name);
    nn_tensor *tt = &g->tensors[t.id];
    char a[64], b[64];
    if (v->dtype != tt->dtype || !nn_shape_equal(&v->shape, &tt->shape))
        return nn_diag_set(diag, NN_ERR_SHAPE, tensor_name, "'%s' is %s %s, the new data is %s %s", tensor_name,
                           nn_dtype_name(tt->dtype), nn_shape_str(&tt->shape, a, sizeof a), nn_dtype_name(v->dtype),
                           nn_shape_str(&v->shape, b, sizeof b));
    return nn_graph_set_data(g, t, v->data, tt->data_bytes, 1, diag);
}

/* Folding x' = (x[perm(c)] - mean[c]) * scale[c] into each Conv reading x:
     Conv(x', W, B)[m] = sum_{c,k} W[m,c,k] scale[c] x[perm(c)] + B[m] - sum_{c,k} W[m,c,k] scale[c] mean[c]
   so W'[m,perm(c),k] = W[m,c,k] scale[c] and B'[m] = B[m] - sum W[m,c,k] scale[c] mean[c].
   Exact where the kernel window lies inside the image.  Zero padding pads
   x' with 0, i.e. x with mean: after the fold the padding is x = 0, so the
   border outputs differ by sum over padded taps of W' mean; refused unless
   allow_approx (or every mean is 0: then the fold is exact). */
NN_API nn_status nn_graph_fold_preprocess(nn_graph *g, const nn_preprocess_desc *p, nn_diag *diag) {
    NN_ASSERT(g && p && p->input);
    nn_tensor_id in = nn_graph_find_tensor(g, p->input);
    if (in.id == NN_INVALID_ID || !(g->tensors[in.id].flags & NN_TENSOR_INPUT))
        return nn_diag_set(diag, NN_ERR_ARG, p->input, "no graph input named '%s'", p->input);
    uint32_t C = p->channels;
    if (C == 0 || C > 4096) return nn_diag_set(diag, NN_ERR_ARG, p->input, "channels must be 1..4096");
    int zero_mean = 1;
    for (uint32_t ch = 0; ch < C && p->mean; ch++) zero_mean &= p->mean[ch] == 0.0f;
    /* Check every reader first: nothing changes unless all can take the fold. */
    uint32_t readers = 0;
    for (uint32_t i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        for (uint32_t j = 0; j < n->input_count; j++) {
            if (n->inputs[j].id != in.id) continue;
            const char *label = nn_graph__node_label(n);
            size_t wc;
            if (j != 0 || !nn_pass__is_op(n, "Conv") || !nn_pass__const_f32(g, n->inputs[1], &wc) ||
                (n->input_count > 2 && n->inputs[2].id != NN_INVALID_ID && !nn_pass__const_f32(g, n->inputs[2], &wc)))
                return nn_diag_set(diag, NN_ERR_UNSUPPORTED, label,
                                   "'%s' reads input '%s' but is not a Conv with constant float weights", label, p->input);
            const nn_shape *ws = &g->tensors[n->inputs[1].id].shape;
            if (nn_node_attr_int(n, "group", 1) != 1 || ws->rank < 3 || ws->dims[1] != (int64_t)C)
                return nn_diag_set(diag, NN_ERR_UNSUPPORTED, label, "'%s' is grouped or does not take %u channels", label, C);
            const nn_attr *pads = nn_node_attr(n, "pads");
            const char *ap = nn_node_attr_string(n, "auto_pad", "NOTSET");
            int padded = strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0;
            for (uint32_t q = 0; pads && q < pads->count; q++) padded |= pads->ints[q] != 0;
            if (padded && !zero_mean && !p->allow_approx)
                return nn_diag_set(diag, NN_ERR_UNSUPPORTED, label,
                                   "'%s' pads its input with zeros: a mean cannot fold exactly through zero padding "
                                   "(the border would see -mean*scale instead of 0); allow_approx accepts the difference",
                                   label);
            readers++;
        }
    }
    if (readers == 0) return nn_diag_set(diag, NN_ERR_UNSUPPORTED, p->input, "nothing reads input '%s'", p->input);
    for (uint32_t i = 0; i < g->node_count; i++) {
        nn_node *n = &g->nodes[i];
        if (n->input_count < 2 || n->inputs[0].id != in.id) continue;
        const nn_tensor *w = &g->tensors[n->inputs[1].id];
        size_t wbytes = w->data_bytes; /* w moves when tensors are added below */
        int64_t M = w->shape.dims[0], kk = (int64_t)(wbytes / sizeof(float)) / (M * (int64_t)C);
        size_t bc = 0;
        const float *ow = (const float *)w->data;
        const float *ob = n->input_count > 2 && n->inputs[2].id != NN_INVALID_ID ? nn_pass__const_f32(g, n->inputs[2], &bc) : NULL;
        float *nw = (float *)nn_alloc(&g->alloc, wbytes), *nb = (float *)nn_alloc(&g->alloc, (size_t)M * sizeof(float));
        nn_status st = (!nw || !nb) ? nn_diag_set(diag, NN_ERR_NOMEM, p->input, "out of memory") : NN_OK;
        for (int64_t m = 0; st == NN_OK && m < M; m++) {
            double acc = ob ? (double)ob[m] : 0.0;
            for (uint32_t ch = 0; ch < C; ch++) {
                double sc = p->scale ? (double)p->scale[ch] : 1.0, mu = p->mean ? (double)p->mean[ch] : 0.0;
                uint32_t src = p->swap_channels ? C - 1 - ch : ch; /* x' channel ch reads raw channel src */
                for (int64_t e = 0; e < kk; e++) {
                    double wv = (double)ow[(m * C + ch) * kk + e];
                    nw[(m * C + src) * kk + e] = (float)(wv * sc);
                    acc -= wv * sc * mu;
                }
            }
            nb[m] = (float)acc;
        }
        nn_tensor_id nwid, nbid;
        nn_shape bs = nn_shape_make(1, &M), wsh = w->shape;
        char base[200];
        snprintf(base, sizeof base, "%.190s", nn_graph__node_label(n));
        if (st == NN_OK) st = nn_pass__new_tensor(g, base, "_W_pre", NN_DTYPE_FLOAT, &wsh, &nwid, diag);
        if (st == NN_OK) st = nn_graph_set_data(g, nwid, nw, wbytes, 1, diag);
        if (st == NN_OK) st = nn_pass__new_tensor(g, base, "_B_pre", NN_DTYPE_FLOAT, &bs, &nbid, diag);
        if (st == NN_OK) st = nn_graph_set_data(g, nbid, nb, (size_t)M * sizeof(float), 1, diag);
        nn_tensor_id *ins = st == NN_OK ? (nn_tensor_id *)nn_arena_alloc(&g->arena, 3 * sizeof(nn_tensor_id)) : NULL;
        if (st == NN_OK && !ins) st = nn_diag_set(diag, NN_ERR_NOMEM, p->input, "out of memory");
        nn_free(&g->alloc, nw);
        nn_free(&g->alloc, nb);
        if (st) return st;
        n = &g->nodes[i];
        ins[0] = n->inputs[0];
        ins[1] = nwid;
        ins[2] = nbid;
        n->inputs = ins;
        n->input_count = 3;
    }
    return NN_OK;
}


/* ---- graph passes: transformer patterns and 4-D conversion ------------------------------

   layernorm   ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div[/Mul/Add] -> LayerNormalization
   gelu        the Erf and Tanh forms of GELU -> Gelu (opset >= 20) or com.microsoft
               Gelu / FastGelu (below 20; ONNX Runtime contrib ops, domain version 1)
   attention   MatMul(Q,K^T) [scale] [+mask] Softmax MatMul(V) -> Attention (opset >= 23)
               or ai.nnport Attention (the same op, for lower opsets)
   matmul_add  MatMul(2-D x, constant W) + constant bias -> Gemm
   to4d        every activation to rank 4 (leading 1s), Gemm to MatMul+Add, axis
               attributes moved, reshapes only at the graph boundary

   A fusion matches a chain whose intermediate values nothing else reads
   (nn_pass__tf_private), rewrites the chain's last node in place into the
   fused op (so its output tensor and position stay) and marks the others
   dead.  docs/OPTIMIZATION.md "Transformer patterns and 4-D conversion"
   lists the variants matched and the measured effect. */

/* Live nodes reading tensor t (each once), up to cap; returns the count. */
static uint32_t nn_pass__tf_users(nn_pass__ctx *c, uint32_t t, uint32_t *out, uint32_t cap) {
    nn_graph *g = c->g;
    uint32_t k = 0;
    for (uint32_t n = 0; n < g->node_count; n++) {
        if (c->dead[n]) continue;
        for (uint32_t i = 0; i < g->nodes[n].input_count; i++)
            if (g->nodes[n].inputs[i].id == t) {
                if (k < cap) out[k] = n;
                k++;
                break;
            }
    }
    return k;
}

/* The only live node reading t when it runs op (default domain), else NN_INVALID_ID. */
static uint32_t nn_pass__tf_sole(nn_pass__ctx *c, uint32_t t, const char *op) {
    uint32_t u;
    if (t == NN_INVALID_ID || nn_pass__tf_users(c, t, &u, 1) != 1) return NN_INVALID_ID;
    return nn_pass__is_op(&c->g->nodes[u], op) ? u : NN_INVALID_ID;
}

/* The live producer of t when it runs op, else NN_INVALID_ID. */
static uint32_t nn_pass__tf_prod(nn_pass__ctx *c, uint32_t t, const char *op) {
    nn_graph *g = c->g;
    if (t == NN_INVALID_ID) return NN_INVALID_ID;
    uint32_t p = g->tensors[t].producer.id;
    if (p == NN_INVALID_ID || p >= g->node_count || c->dead[p] || !nn_pass__is_op(&g->nodes[p], op)) return NN_INVALID_ID;
    return p;
}

/* The input of binary node n that is not t (t itself for x*x), or NN_INVALID_ID. */
static uint32_t nn_pass__tf_other(const nn_node *n, uint32_t t) {
    if (n->input_count != 2 || n->output_count < 1) return NN_INVALID_ID;
    if (n->inputs[0].id == t) return n->inputs[1].id;
    if (n->inputs[1].id == t) return n->inputs[0].id;
    return NN_INVALID_ID;
}

/* A float32 constant of one element. */
static int nn_pass__tf_scalar(const nn_graph *g, uint32_t t, double *v) {
    size_t n;
    nn_tensor_id id;
    id.id = t;
    const float *f = t == NN_INVALID_ID ? NULL : nn_pass__const_f32(g, id, &n);
    if (!f || n != 1) return 0;
    *v = f[0];
    return 1;
}

/* A constant equal to want within float32 rounding (exported constants are
   float32 roundings of the exact values: sqrt(2), sqrt(2/pi), 0.044715). */
static int nn_pass__tf_is(const nn_graph *g, uint32_t t, double want) {
    double v;
    return nn_pass__tf_scalar(g, t, &v) && fabs(v - want) <= 1e-6 * fabs(want);
}

/* Live node ni is Mul(t, c) or Mul(c, t) with c ~ want, or Div(t, 1/want). */
static int nn_pass__tf_scaled(nn_pass__ctx *c, uint32_t ni, uint32_t t, double want) {
    const nn_node *n = &c->g->nodes[ni];
    if (nn_pass__is_op(n, "Mul")) return nn_pass__tf_is(c->g, nn_pass__tf_other(n, t), want);
    if (nn_pass__is_op(n, "Div")) return n->inputs[0].id == t && n->input_count == 2 && nn_pass__tf_is(c->g, n->inputs[1].id, 1.0 / want);
    return 0;
}

/* 1 when every output of the nodes in set, except keep, is read only by
   nodes of set and may disappear (not a graph output, not captured). */
static int nn_pass__tf_private(nn_pass__ctx *c, const uint32_t *set, uint32_t n, uint32_t keep) {
    nn_graph *g = c->g;
    for (uint32_t i = 0; i < n; i++) {
        const nn_node *nd = &g->nodes[set[i]];
        for (uint32_t o = 0; o < nd->output_count; o++) {
            uint32_t t = nd->outputs[o].id;
            if (t == NN_INVALID_ID || t == keep) continue;
            if (!nn_pass__replaceable(g, t)) return 0;
            uint32_t users[64], k = nn_pass__tf_users(c, t, users, 64);
            if (k > 64) return 0;
            for (uint32_t u = 0; u < k; u++) {
                uint32_t j = 0;
                while (j < n && set[j] != users[u]) j++;
                if (j == n) return 0;
            }
        }
    }
    return 1;
}

static nn_attr nn_pass__tf_attr_int(const char *name, int64_t v) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.type = NN_ATTR_INT;
    a.i = v;
    return a;
}

static nn_attr nn_pass__tf_attr_float(const char *name, float v) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.type = NN_ATTR_FLOAT;
    a.f = v;
    return a;
}

static nn_attr nn_pass__tf_attr_str(const char *name, const char *s) {
    nn_attr a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.type = NN_ATTR_STRING;
    a.s = s;
    a.s_bytes = strlen(s);
    return a;
}

/* A new initializer base+suffix holding a copy of data. */
static nn_status nn_pass__tf_const(nn_pass__ctx *c, const char *base, const char *suffix, nn_dtype t, const nn_shape *s,
                                   const void *data, size_t bytes, uint32_t *out) {
    nn_tensor_id id;
    nn_status st = nn_pass__new_tensor(c->g, base, suffix, t, s, &id, c->diag);
    if (st == NN_OK) st = nn_graph_set_data(c->g, id, data, bytes, 1, c->diag);
    if (st == NN_OK) { c->g->tensors[id.id].flags |= NN_TENSOR_CONST; c->stats->tensors_added++; *out = id.id; }
    return st;
}

/* Makes sure the model imports domain (version 1) so the fused node loads. */
static nn_status nn_pass__tf_import(nn_pass__ctx *c, const char *domain) {
    if (nn_graph_opset(c->g, domain) > 0) return NN_OK;
    return nn_graph_set_opset(c->g, domain, 1, c->diag);
}

/* Rewrites node anchor into op/domain reading ins[] and writing out, with
   attrs; the other nodes of set die.  Provenance joins every node of set. */
static nn_status nn_pass__tf_commit(nn_pass__ctx *c, const char *pass, const uint32_t *set, uint32_t n, uint32_t anchor,
                                    const char *op, const char *domain, const uint32_t *ins, uint32_t nin, uint32_t out,
                                    const nn_attr *attrs, uint32_t na) {
    nn_graph *g = c->g;
    nn_tensor_id *ti = (nn_tensor_id *)nn_arena_alloc(&g->arena, (nin + 1) * sizeof(nn_tensor_id));
    nn_tensor_id *to = (nn_tensor_id *)nn_arena_alloc(&g->arena, sizeof(nn_tensor_id));
    nn_attr *ta = (nn_attr *)nn_arena_alloc(&g->arena, (na + 1) * sizeof(nn_attr));
    if (!ti || !to || !ta) return nn_diag_set(c->diag, NN_ERR_NOMEM, pass, "out of memory");
    for (uint32_t i = 0; i < nin; i++) ti[i].id = ins[i];
    to[0].id = out;
    if (na) memcpy(ta, attrs, na * sizeof(nn_attr));
    const char *origin = g->nodes[anchor].origin;
    for (uint32_t i = 0; i < n; i++)
        if (set[i] != anchor) origin = nn_pass__origin_join(g, g->nodes[set[i]].origin, origin);
    nn_node *a = &g->nodes[anchor];
    const char *old = a->op_type;
    a->op_type = op;
    a->domain = domain;
    a->inputs = ti;
    a->input_count = nin;
    a->outputs = to;
    a->output_count = 1;
    a->attrs = ta;
    a->attr_count = na;
    a->origin = origin;
    g->tensors[out].producer.id = anchor;
    for (uint32_t i = 0; i < n; i++)
        if (set[i] != anchor && !c->dead[set[i]]) {
            c->dead[set[i]] = 1;
            c->stats->nodes_removed++;
            c->stats->nodes_fused++;
        }
    nn_pass__note(c, pass, "%u nodes ending in %s '%s' -> %s%s%s", n, old, nn_graph__node_label(a), domain[0] ? domain : "",
                  domain[0] ? "." : "", op);
    return NN_OK;
}

/* The patterns are matched on ranks (and to4d on static shapes): a graph
   fresh from the reader has them only on its inputs, so shapes are
   inferred once when a node output has none.  A failed inference (an op
   without infer) only leaves shapes unknown: those nodes do not match. */
static void nn_pass__tf_shapes(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    for (uint32_t n = 0; n < g->node_count; n++)
        for (uint32_t o = 0; o < g->nodes[n].output_count; o++) {
            uint32_t t = g->nodes[n].outputs[o].id;
            if (t != NN_INVALID_ID && g->tensors[t].shape.rank < 0) {
                nn_diag local;
                memset(&local, 0, sizeof local);
                (void)nn_graph_infer_shapes(g, NULL, 0, &local);
                return;
            }
        }
}

/* -- layernorm -- */

/* The reduced axis of a ReduceMean over one axis with keepdims=1 (axes an
   attribute, or input 1 from opset 18), normalized for rank r; -1 if not. */
static int32_t nn_pass__tf_mean_axis(nn_pass__ctx *c, const nn_node *n, int32_t r) {
    int64_t ax[4];
    size_t cnt = 0;
    if (nn_node_attr_int(n, "keepdims", 1) != 1) return -1;
    const nn_attr *a = nn_node_attr(n, "axes");
    if (a) {
        if (a->type != NN_ATTR_INTS || a->count != 1) return -1;
        ax[0] = a->ints[0];
        cnt = 1;
    } else if (n->input_count < 2 || n->inputs[1].id == NN_INVALID_ID || !nn_pass__const_ints(c->g, n->inputs[1], ax, 4, &cnt))
        return -1;
    if (cnt != 1) return -1;
    int64_t v = ax[0] < 0 ? ax[0] + r : ax[0];
    return v >= 0 && v < r ? (int32_t)v : -1;
}

/* The constant p as a (D) vector: itself when it already is one, else a new
   initializer (p of D elements with leading 1s, or a scalar repeated). */
static nn_status nn_pass__tf_vec(nn_pass__ctx *c, uint32_t p, int64_t D, const char *suffix, uint32_t *out, int *ok) {
    nn_graph *g = c->g;
    size_t n;
    nn_tensor_id id;
    id.id = p;
    const float *f = nn_pass__const_f32(g, id, &n);
    *ok = 0;
    if (!f || (n != (size_t)D && n != 1)) return NN_OK;
    const nn_shape *s = &g->tensors[p].shape;
    if (s->rank == 1 && s->dims[0] == D) { *out = p; *ok = 1; return NN_OK; }
    if (D <= 0 || D > (int64_t)1 << 28) return NN_OK;
    float *v = (float *)nn_alloc(&g->alloc, (size_t)D * sizeof(float));
    if (!v) return nn_diag_set(c->diag, NN_ERR_NOMEM, "layernorm", "out of memory");
    for (int64_t i = 0; i < D; i++) v[i] = n == 1 ? f[0] : f[i];
    nn_shape vs = nn_shape_make(1, &D);
    nn_status st = nn_pass__tf_const(c, g->tensors[p].name, suffix, NN_DTYPE_FLOAT, &vs, v, (size_t)D * sizeof(float), out);
    nn_free(&g->alloc, v);
    *ok = st == NN_OK;
    return st;
}

/* One LayerNorm chain starting at ReduceMean m1 (x -> mean). */
static nn_status nn_pass__tf_layernorm_at(nn_pass__ctx *c, uint32_t m1) {
    nn_graph *g = c->g;
    const nn_node *n1 = &g->nodes[m1];
    uint32_t set[16], ns = 0, u[8];
    if (n1->input_count < 1 || n1->output_count != 1) return NN_OK;
    uint32_t x = n1->inputs[0].id, mean = n1->outputs[0].id;
    if (x == NN_INVALID_ID || g->tensors[x].dtype != NN_DTYPE_FLOAT || g->tensors[x].shape.rank < 1) return NN_OK;
    int32_t r = g->tensors[x].shape.rank;
    int64_t D = g->tensors[x].shape.dims[r - 1];
    if (D <= 0 || nn_pass__tf_mean_axis(c, n1, r) != r - 1) return NN_OK;
    set[ns++] = m1;
    /* d = x - mean */
    uint32_t sub = nn_pass__tf_sole(c, mean, "Sub");
    if (sub == NN_INVALID_ID || g->nodes[sub].inputs[0].id != x || g->nodes[sub].inputs[1].id != mean) return NN_OK;
    set[ns++] = sub;
    uint32_t d = g->nodes[sub].outputs[0].id, k = nn_pass__tf_users(c, d, u, 8), sq = NN_INVALID_ID, nd = NN_INVALID_ID;
    if (k < 2 || k > 8) return NN_OK;
    for (uint32_t i = 0; i < k; i++) {
        const nn_node *un = &g->nodes[u[i]];
        if (nn_pass__is_op(un, "Pow") && un->inputs[0].id == d && nn_pass__tf_is(g, un->inputs[1].id, 2.0)) sq = u[i];
        else if (nn_pass__is_op(un, "Mul") && un->input_count == 2 && un->inputs[0].id == d && un->inputs[1].id == d) sq = u[i];
    }
    if (sq == NN_INVALID_ID) return NN_OK;
    set[ns++] = sq;
    /* var = mean(d^2) + eps; sd = sqrt(var) */
    uint32_t m2 = nn_pass__tf_sole(c, g->nodes[sq].outputs[0].id, "ReduceMean");
    if (m2 == NN_INVALID_ID || g->nodes[m2].inputs[0].id != g->nodes[sq].outputs[0].id ||
        nn_pass__tf_mean_axis(c, &g->nodes[m2], r) != r - 1)
        return NN_OK;
    set[ns++] = m2;
    uint32_t ae = nn_pass__tf_sole(c, g->nodes[m2].outputs[0].id, "Add");
    double eps;
    if (ae == NN_INVALID_ID || !nn_pass__tf_scalar(g, nn_pass__tf_other(&g->nodes[ae], g->nodes[m2].outputs[0].id), &eps) ||
        !(eps >= 0))
        return NN_OK;
    set[ns++] = ae;
    uint32_t sq2 = nn_pass__tf_sole(c, g->nodes[ae].outputs[0].id, "Sqrt");
    if (sq2 == NN_INVALID_ID) return NN_OK;
    set[ns++] = sq2;
    uint32_t sd = g->nodes[sq2].outputs[0].id, dv = nn_pass__tf_sole(c, sd, "Div");
    if (dv != NN_INVALID_ID && g->nodes[dv].inputs[0].id == d && g->nodes[dv].inputs[1].id == sd) nd = dv;
    else { /* Reciprocal(sd) * d */
        uint32_t rc = nn_pass__tf_sole(c, sd, "Reciprocal");
        uint32_t mu = rc == NN_INVALID_ID ? NN_INVALID_ID : nn_pass__tf_sole(c, g->nodes[rc].outputs[0].id, "Mul");
        if (mu == NN_INVALID_ID || nn_pass__tf_other(&g->nodes[mu], g->nodes[rc].outputs[0].id) != d) return NN_OK;
        set[ns++] = rc;
        nd = mu;
    }
    set[ns++] = nd;
    /* optional * gamma, + beta (constants) */
    uint32_t y = g->nodes[nd].outputs[0].id, gamma = NN_INVALID_ID, beta = NN_INVALID_ID, last = nd;
    uint32_t mg = nn_pass__tf_sole(c, y, "Mul");
    if (mg != NN_INVALID_ID && nn_pass__is_const(g, g->nodes[mg].inputs[0]) != nn_pass__is_const(g, g->nodes[mg].inputs[1])) {
        uint32_t gm = nn_pass__tf_other(&g->nodes[mg], y);
        nn_tensor_id gid;
        gid.id = gm;
        if (gm != NN_INVALID_ID && gm != y && nn_pass__is_const(g, gid) && g->tensors[gm].shape.rank <= r) {
            gamma = gm;
            set[ns++] = last = mg;
            y = g->nodes[mg].outputs[0].id;
        }
    }
    uint32_t ab = nn_pass__tf_sole(c, y, "Add");
    if (ab != NN_INVALID_ID) {
        uint32_t bt = nn_pass__tf_other(&g->nodes[ab], y);
        nn_tensor_id bid;
        bid.id = bt;
        if (bt != NN_INVALID_ID && bt != y && nn_pass__is_const(g, bid) && g->tensors[bt].shape.rank <= r) {
            beta = bt;
            set[ns++] = last = ab;
            y = g->nodes[ab].outputs[0].id;
        }
    }
    if (!nn_pass__tf_private(c, set, ns, y)) return NN_OK;
    /* gamma/beta must be per-feature vectors (D or 1 elements); a missing
       gamma becomes ones (LayerNormalization's Scale is required). */
    int ok = 1;
    nn_status st = NN_OK;
    uint32_t gv = NN_INVALID_ID, bv = NN_INVALID_ID;
    if (gamma != NN_INVALID_ID) st = nn_pass__tf_vec(c, gamma, D, "_ln_scale", &gv, &ok);
    else {
        float *ones = (float *)nn_alloc(&g->alloc, (size_t)D * sizeof(float));
        if (!ones) return nn_diag_set(c->diag, NN_ERR_NOMEM, "layernorm", "out of memory");
        for (int64_t i = 0; i < D; i++) ones[i] = 1.0f;
        nn_shape vs = nn_shape_make(1, &D);
        st = nn_pass__tf_const(c, g->tensors[x].name, "_ln_scale", NN_DTYPE_FLOAT, &vs, ones, (size_t)D * sizeof(float), &gv);
        nn_free(&g->alloc, ones);
    }
    if (st == NN_OK && ok && beta != NN_INVALID_ID) st = nn_pass__tf_vec(c, beta, D, "_ln_bias", &bv, &ok);
    if (st || !ok) return st;
    uint32_t ins[3] = {x, gv, bv};
    nn_attr at[2];
    at[0] = nn_pass__tf_attr_int("axis", -1);
    at[1] = nn_pass__tf_attr_float("epsilon", (float)eps);
    return nn_pass__tf_commit(c, "layernorm", set, ns, last, "LayerNormalization", "", ins, bv == NN_INVALID_ID ? 2 : 3, y, at, 2);
}

static nn_status nn_pass__layernorm(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    nn_pass__tf_shapes(c);
    if (!nn_op_find("LayerNormalization", "", nn_graph_opset(g, ""))) return NN_OK;
    for (uint32_t k = 0; k < g->node_count; k++) {
        uint32_t ni = c->order[k];
        if (c->dead[ni] || !nn_pass__is_op(&g->nodes[ni], "ReduceMean")) continue;
        nn_status st = nn_pass__tf_layernorm_at(c, ni);
        if (st) return st;
    }
    return NN_OK;
}

/* -- gelu -- */

/* 1 when tensor t is x^3: Pow(x, 3), x*(x*x) or (x*x)*x; nodes go to set. */
static int nn_pass__tf_cube(nn_pass__ctx *c, uint32_t t, uint32_t x, uint32_t *set, uint32_t *ns) {
    nn_graph *g = c->g;
    uint32_t p = nn_pass__tf_prod(c, t, "Pow");
    if (p != NN_INVALID_ID) {
        if (g->nodes[p].inputs[0].id != x || !nn_pass__tf_is(g, g->nodes[p].inputs[1].id, 3.0)) return 0;
        set[(*ns)++] = p;
        return 1;
    }
    p = nn_pass__tf_prod(c, t, "Mul");
    if (p == NN_INVALID_ID) return 0;
    uint32_t o = nn_pass__tf_other(&g->nodes[p], x);
    uint32_t q = nn_pass__tf_prod(c, o, "Mul");
    if (o == NN_INVALID_ID || q == NN_INVALID_ID || g->nodes[q].inputs[0].id != x || g->nodes[q].inputs[1].id != x) return 0;
    set[(*ns)++] = p;
    set[(*ns)++] = q;
    return 1;
}

/* GELU around the Erf or Tanh node e: returns 1 with x, the output y, the
   matched nodes and the form (tanh). */
static int nn_pass__tf_gelu_match(nn_pass__ctx *c, uint32_t e, uint32_t *set, uint32_t *ns, uint32_t *xo, uint32_t *yo,
                                  uint32_t *last) {
    nn_graph *g = c->g;
    const nn_node *en = &g->nodes[e];
    uint32_t u = en->inputs[0].id, x = NN_INVALID_ID, pu;
    *ns = 0;
    if (nn_pass__is_op(en, "Erf")) {
        /* u = x / sqrt(2) or x * (1/sqrt(2)) */
        pu = nn_pass__tf_prod(c, u, "Div");
        if (pu == NN_INVALID_ID) pu = nn_pass__tf_prod(c, u, "Mul");
        if (pu == NN_INVALID_ID) return 0;
        const nn_node *pn = &g->nodes[pu];
        for (uint32_t i = 0; i < 2 && x == NN_INVALID_ID; i++)
            if (nn_pass__tf_scaled(c, pu, pn->inputs[i].id, 0.70710678118654752)) x = pn->inputs[i].id;
        if (x == NN_INVALID_ID) return 0;
        set[(*ns)++] = pu;
    } else {
        /* u = sqrt(2/pi) * (x + 0.044715 x^3) */
        pu = nn_pass__tf_prod(c, u, "Mul");
        if (pu == NN_INVALID_ID) return 0;
        uint32_t inner = NN_INVALID_ID;
        for (uint32_t i = 0; i < 2; i++)
            if (nn_pass__tf_is(g, g->nodes[pu].inputs[i].id, 0.79788456080286536)) inner = g->nodes[pu].inputs[1 - i].id;
        uint32_t pa = nn_pass__tf_prod(c, inner, "Add");
        if (pa == NN_INVALID_ID) return 0;
        set[(*ns)++] = pu;
        set[(*ns)++] = pa;
        for (uint32_t i = 0; i < 2 && x == NN_INVALID_ID; i++) {
            uint32_t cand = g->nodes[pa].inputs[i].id, term = g->nodes[pa].inputs[1 - i].id;
            uint32_t pc = nn_pass__tf_prod(c, term, "Mul"), save = *ns;
            if (pc == NN_INVALID_ID) continue;
            for (uint32_t j = 0; j < 2 && x == NN_INVALID_ID; j++) {
                *ns = save;
                set[(*ns)++] = pc;
                if (nn_pass__tf_is(g, g->nodes[pc].inputs[j].id, 0.044715) &&
                    nn_pass__tf_cube(c, g->nodes[pc].inputs[1 - j].id, cand, set, ns))
                    x = cand;
            }
            if (x == NN_INVALID_ID) *ns = save;
        }
        if (x == NN_INVALID_ID) return 0;
    }
    set[(*ns)++] = e;
    /* a = 1 + f(u) */
    uint32_t ad = nn_pass__tf_sole(c, en->outputs[0].id, "Add");
    if (ad == NN_INVALID_ID || !nn_pass__tf_is(g, nn_pass__tf_other(&g->nodes[ad], en->outputs[0].id), 1.0)) return 0;
    set[(*ns)++] = ad;
    uint32_t a = g->nodes[ad].outputs[0].id, m1 = nn_pass__tf_sole(c, a, "Mul");
    if (m1 == NN_INVALID_ID) return 0;
    set[(*ns)++] = m1;
    uint32_t o = nn_pass__tf_other(&g->nodes[m1], a), m1o = g->nodes[m1].outputs[0].id, m2;
    if (o == x) { /* (x * a) * 0.5 or (x * a) / 2 */
        m2 = nn_pass__tf_sole(c, m1o, "Mul");
        if (m2 == NN_INVALID_ID) m2 = nn_pass__tf_sole(c, m1o, "Div");
        if (m2 == NN_INVALID_ID || !nn_pass__tf_scaled(c, m2, m1o, 0.5)) return 0;
    } else if (nn_pass__tf_is(g, o, 0.5)) { /* (a * 0.5) * x */
        m2 = nn_pass__tf_sole(c, m1o, "Mul");
        if (m2 == NN_INVALID_ID || nn_pass__tf_other(&g->nodes[m2], m1o) != x) return 0;
    } else { /* (x * 0.5) * a */
        uint32_t h = nn_pass__tf_prod(c, o, "Mul");
        if (h == NN_INVALID_ID) h = nn_pass__tf_prod(c, o, "Div");
        if (h == NN_INVALID_ID || !nn_pass__tf_scaled(c, h, x, 0.5)) return 0;
        set[(*ns)++] = h;
        *xo = x;
        *yo = m1o;
        *last = m1;
        return 1;
    }
    set[(*ns)++] = m2;
    *xo = x;
    *yo = g->nodes[m2].outputs[0].id;
    *last = m2;
    return 1;
}

static nn_status nn_pass__gelu(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    nn_pass__tf_shapes(c);
    int64_t opset = nn_graph_opset(g, "");
    int std = opset >= 20 && nn_op_find("Gelu", "", opset) != NULL;
    for (uint32_t k = 0; k < g->node_count; k++) {
        uint32_t e = c->order[k], set[16], ns, x, y, last;
        if (c->dead[e]) continue;
        int is_tanh = nn_pass__is_op(&g->nodes[e], "Tanh");
        if (!is_tanh && !nn_pass__is_op(&g->nodes[e], "Erf")) continue;
        if (!nn_pass__tf_gelu_match(c, e, set, &ns, &x, &y, &last) || !nn_pass__tf_private(c, set, ns, y)) continue;
        if (g->tensors[x].dtype != NN_DTYPE_FLOAT) continue;
        nn_status st;
        uint32_t ins[1] = {x};
        if (std) {
            nn_attr at = nn_pass__tf_attr_str("approximate", "tanh");
            st = nn_pass__tf_commit(c, "gelu", set, ns, last, "Gelu", "", ins, 1, y, &at, is_tanh ? 1 : 0);
        } else {
            /* ONNX Runtime's contrib ops (onnxruntime/core/graph/contrib_ops/bert_defs.cc). */
            st = nn_pass__tf_import(c, "com.microsoft");
            if (st == NN_OK)
                st = nn_pass__tf_commit(c, "gelu", set, ns, last, is_tanh ? "FastGelu" : "Gelu", "com.microsoft", ins, 1, y, NULL, 0);
        }
        if (st) return st;
    }
    return NN_OK;
}

/* -- hswish: the decomposed HardSwish forms -> HardSwish (opset 14) --

   HardSwish(x) = x * max(0, min(1, x/6 + 1/2)) (Howard et al., "Searching
   for MobileNetV3", 2019), written by exporters as
     x * Clip(x + 3, 0, 6) / 6     (paddle2onnx: PP-OCRv4 det 24x, rec 26x)
     x * (Clip(x + 3, 0, 6) / 6)   (also with * 1/6 for / 6)
     x * HardSigmoid(x, 1/6, 1/2)  (torch below opset 14)
   A quantizer then sees one table lookup instead of four int8 tensors. */

/* Clip node ci with bounds lo, hi (attributes below opset 11, inputs after). */
static int nn_pass__clip_is(nn_pass__ctx *c, uint32_t ci, double lo, double hi) {
    const nn_node *n = &c->g->nodes[ci];
    if (n->input_count <= 1 && nn_node_attr(n, "min"))
        return nn_node_attr_float(n, "min", 0) == (float)lo && nn_node_attr_float(n, "max", 0) == (float)hi;
    return n->input_count == 3 && nn_pass__tf_is(c->g, n->inputs[1].id, lo) && nn_pass__tf_is(c->g, n->inputs[2].id, hi);
}

/* The HardSwish around Clip or HardSigmoid node e: the matched nodes, x,
   the output y and the last node. */
static int nn_pass__hswish_match(nn_pass__ctx *c, uint32_t e, uint32_t *set, uint32_t *ns, uint32_t *xo, uint32_t *yo,
                                 uint32_t *last) {
    nn_graph *g = c->g;
    const nn_node *en = &g->nodes[e];
    uint32_t x = NN_INVALID_ID, h = en->outputs[0].id;
    *ns = 0;
    if (en->output_count != 1 || en->input_count < 1) return 0;
    if (nn_pass__is_op(en, "HardSigmoid")) {
        if (fabs(nn_node_attr_float(en, "alpha", 0.2f) - 1.0 / 6.0) > 1e-6 || nn_node_attr_float(en, "beta", 0.5f) != 0.5f)
            return 0;
        x = en->inputs[0].id;
        uint32_t m = nn_pass__tf_sole(c, h, "Mul");
        if (m == NN_INVALID_ID || nn_pass__tf_other(&g->nodes[m], h) != x) return 0;
        set[(*ns)++] = e;
        set[(*ns)++] = m;
        *xo = x;
        *yo = g->nodes[m].outputs[0].id;
        *last = m;
        return 1;
    }
    if (!nn_pass__is_op(en, "Clip") || !nn_pass__clip_is(c, e, 0.0, 6.0)) return 0;
    uint32_t a = nn_pass__tf_prod(c, en->inputs[0].id, "Add");
    if (a == NN_INVALID_ID) return 0;
    for (uint32_t i = 0; i < 2 && x == NN_INVALID_ID; i++)
        if (nn_pass__tf_is(g, g->nodes[a].inputs[1 - i].id, 3.0)) x = g->nodes[a].inputs[i].id;
    if (x == NN_INVALID_ID || g->nodes[a].input_count != 2) return 0;
    set[(*ns)++] = a;
    set[(*ns)++] = e;
    uint32_t u = nn_pass__tf_sole(c, h, "Mul");
    if (u == NN_INVALID_ID) u = nn_pass__tf_sole(c, h, "Div");
    if (u == NN_INVALID_ID) return 0;
    uint32_t uo = g->nodes[u].outputs[0].id, v;
    set[(*ns)++] = u;
    if (nn_pass__is_op(&g->nodes[u], "Mul") && nn_pass__tf_other(&g->nodes[u], h) == x) {
        /* (x * h) / 6 */
        v = nn_pass__tf_sole(c, uo, "Div");
        if (v == NN_INVALID_ID) v = nn_pass__tf_sole(c, uo, "Mul");
        if (v == NN_INVALID_ID || !nn_pass__tf_scaled(c, v, uo, 1.0 / 6.0)) return 0;
    } else if (nn_pass__tf_scaled(c, u, h, 1.0 / 6.0)) {
        /* x * (h / 6) */
        v = nn_pass__tf_sole(c, uo, "Mul");
        if (v == NN_INVALID_ID || nn_pass__tf_other(&g->nodes[v], uo) != x) return 0;
    } else
        return 0;
    set[(*ns)++] = v;
    *xo = x;
    *yo = g->nodes[v].outputs[0].id;
    *last = v;
    return 1;
}

static nn_status nn_pass__hswish(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    int64_t opset = nn_graph_opset(g, "");
    nn_pass__tf_shapes(c);
    int skipped = 0;
    for (uint32_t k = 0; k < g->node_count; k++) {
        uint32_t e = c->order[k], set[8], ns, x, y, last;
        if (c->dead[e] || !nn_pass__hswish_match(c, e, set, &ns, &x, &y, &last) || !nn_pass__tf_private(c, set, ns, y) ||
            g->tensors[x].dtype != NN_DTYPE_FLOAT)
            continue;
        if (opset < 14) { /* HardSwish is an opset-14 operator */
            skipped++;
            continue;
        }
        uint32_t ins[1] = {x};
        nn_status st = nn_pass__tf_commit(c, "hswish", set, ns, last, "HardSwish", "", ins, 1, y, NULL, 0);
        if (st) return st;
    }
    if (skipped)
        nn_pass__note(c, "hswish", "%d HardSwish patterns left: the model is opset %lld, HardSwish needs 14 (run opset first)",
                      skipped, (long long)opset);
    return NN_OK;
}

/* -- act_npu: the activations ORT's FusedConv lacks, into ai.nnport FusedConv/FusedGemm --

   HardSwish, QuickGelu (SiLU), Gelu and FastGelu after a Conv or Gemm whose
   output has no other reader.  The result is what an NPU runs as one layer
   (the activation applied to the accumulator before the output is
   written); ONNX Runtime cannot load it, so no template runs this pass. */
static nn_status nn_pass__act_npu(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    nn_pass__tf_shapes(c); /* dtypes: a graph fresh from the reader has them on its inputs only */
    nn_pass__live_uses(c);
    nn_status st = NN_OK;
    for (uint32_t k = 0; k < g->node_count && st == NN_OK; k++) {
        uint32_t ai = c->order[k];
        const nn_node *a = &g->nodes[ai];
        int ms = strcmp(a->domain, "com.microsoft") == 0;
        const char *name = NULL;
        float alpha = 0;
        int np = 0;
        if (nn_pass__is_op(a, "HardSwish")) name = "HardSwish";
        else if (nn_pass__is_op(a, "Gelu")) name = strcmp(nn_node_attr_string(a, "approximate", "none"), "tanh") ? "Gelu" : "FastGelu";
        else if (ms && (strcmp(a->op_type, "Gelu") == 0 || strcmp(a->op_type, "FastGelu") == 0)) name = a->op_type;
        else if (ms && strcmp(a->op_type, "QuickGelu") == 0) {
            name = "QuickGelu";
            alpha = nn_node_attr_float(a, "alpha", 1.702f);
            np = 1;
        }
        if (c->dead[ai] || !name || a->input_count != 1 || a->output_count != 1 || a->inputs[0].id == NN_INVALID_ID ||
            a->outputs[0].id == NN_INVALID_ID)
            continue;
        uint32_t y = a->inputs[0].id, pi = g->tensors[y].producer.id;
        if (pi == NN_INVALID_ID || c->dead[pi] || c->uses[y] != 1 || !nn_pass__replaceable(g, y) ||
            g->tensors[y].dtype != NN_DTYPE_FLOAT)
            continue;
        const nn_node *p = &g->nodes[pi];
        int is_conv = nn_pass__is_op(p, "Conv"), is_gemm = nn_pass__is_op(p, "Gemm");
        if (!(is_conv || is_gemm) || p->output_count != 1 || !nn_pass__shapes_agree(g, p) ||
            (is_gemm && nn_node_attr(p, "broadcast")))
            continue;
        nn_attr at[2];
        memset(at, 0, sizeof at);
        at[0] = nn_pass__tf_attr_str("activation", name);
        at[1] = is_gemm ? nn_pass__tf_attr_float("activation_alpha", alpha) : nn_pass__tf_attr_float("activation_params", alpha);
        if (!is_gemm) {
            at[1].type = NN_ATTR_FLOATS;
            at[1].count = 1;
            at[1].floats = &alpha; /* copied by nn_graph_add_attr */
        }
        char label[64];
        snprintf(label, sizeof label, "%s", nn_graph__node_label(a));
        st = nn_pass__to_op(c, pi, is_conv ? "FusedConv" : "FusedGemm", "ai.nnport", at, 1 + np);
        if (st) break;
        nn_node *pn = &g->nodes[pi];
        a = &g->nodes[ai];
        pn->outputs[0] = a->outputs[0];
        g->tensors[a->outputs[0].id].producer.id = pi;
        pn->origin = nn_pass__origin_join(g, pn->origin, a->origin);
        c->uses[y] = 0;
        c->dead[ai] = 1;
        c->stats->nodes_removed++;
        c->stats->nodes_fused++;
        nn_pass__note(c, "act_npu", "%s '%s' fused into ai.nnport.%s '%s'", name, label, pn->op_type,
                      nn_graph__node_label(pn));
    }
    return st;
}

/* -- matmul_add -- */

/* MatMul(x, W) + b with W a (K,N) constant and b N constants: Gemm when x
   is 2-D.  A 3-D x (B,S,K) stays MatMul + Add: Gemm is 2-D only, and the
   Reshape pair that would flatten it is what to4d avoids (to4d lifts the
   pair to 4-D instead; a backend lowers MatMul+Add of constants as one). */
static nn_status nn_pass__matmul_add(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    nn_pass__tf_shapes(c);
    if (!nn_op_find("Gemm", "", nn_graph_opset(g, "")) || nn_graph_opset(g, "") < 7) return NN_OK;
    for (uint32_t k = 0; k < g->node_count; k++) {
        uint32_t mm = c->order[k];
        const nn_node *n = &g->nodes[mm];
        if (c->dead[mm] || !nn_pass__is_op(n, "MatMul") || n->input_count != 2 || n->output_count != 1) continue;
        uint32_t x = n->inputs[0].id, w = n->inputs[1].id, t = n->outputs[0].id;
        size_t wc, bc;
        if (x == NN_INVALID_ID || g->tensors[x].shape.rank != 2 || g->tensors[x].dtype != NN_DTYPE_FLOAT) continue;
        if (!nn_pass__const_f32(g, n->inputs[1], &wc) || g->tensors[w].shape.rank != 2) continue;
        int64_t N = g->tensors[w].shape.dims[1];
        uint32_t ad = nn_pass__tf_sole(c, t, "Add");
        if (ad == NN_INVALID_ID) continue;
        uint32_t b = nn_pass__tf_other(&g->nodes[ad], t);
        nn_tensor_id bid;
        bid.id = b;
        if (b == NN_INVALID_ID || b == t || !nn_pass__const_f32(g, bid, &bc) || bc != (size_t)N || g->tensors[b].shape.rank > 2)
            continue;
        uint32_t set[2] = {mm, ad}, y = g->nodes[ad].outputs[0].id, bv;
        if (!nn_pass__tf_private(c, set, 2, y)) continue;
        int ok;
        nn_status st = nn_pass__tf_vec(c, b, N, "_gemm_bias", &bv, &ok);
        if (st) return st;
        if (!ok) continue;
        uint32_t ins[3] = {x, w, bv};
        st = nn_pass__tf_commit(c, "matmul_add", set, 2, ad, "Gemm", "", ins, 3, y, NULL, 0);
        if (st) return st;
    }
    return NN_OK;
}

/* -- attention -- */

/* Follows t back through Mul/Div by scalar constants (folded into *scale)
   to the tensor they scale; the nodes go to set. */
static uint32_t nn_pass__tf_unscale(nn_pass__ctx *c, uint32_t t, double *scale, uint32_t *set, uint32_t *ns) {
    nn_graph *g = c->g;
    for (int hop = 0; hop < 4 && *ns < 12; hop++) {
        uint32_t p = nn_pass__tf_prod(c, t, "Mul");
        double v;
        if (p != NN_INVALID_ID) {
            const nn_node *pn = &g->nodes[p];
            if (nn_pass__tf_scalar(g, pn->inputs[1].id, &v)) t = pn->inputs[0].id;
            else if (nn_pass__tf_scalar(g, pn->inputs[0].id, &v)) t = pn->inputs[1].id;
            else return t;
            *scale *= v;
            set[(*ns)++] = p;
            continue;
        }
        p = nn_pass__tf_prod(c, t, "Div");
        if (p == NN_INVALID_ID || !nn_pass__tf_scalar(g, g->nodes[p].inputs[1].id, &v) || v == 0) return t;
        *scale /= v;
        t = g->nodes[p].inputs[0].id;
        set[(*ns)++] = p;
    }
    return t;
}

static nn_status nn_pass__tf_attention_at(nn_pass__ctx *c, uint32_t sm, int std) {
    nn_graph *g = c->g;
    const nn_node *sn = &g->nodes[sm];
    uint32_t set[24], ns = 0;
    uint32_t z = sn->inputs[0].id, p = sn->outputs[0].id;
    if (z == NN_INVALID_ID || sn->output_count != 1 || g->tensors[z].dtype != NN_DTYPE_FLOAT) return NN_OK;
    int32_t r = g->tensors[z].shape.rank;
    int64_t axis = nn_node_attr_int(sn, "axis", nn_graph_opset(g, "") >= 13 ? -1 : 1);
    if ((r != 3 && r != 4) || (axis < 0 ? axis + r : axis) != r - 1) return NN_OK;
    set[ns++] = sm;
    uint32_t mv = nn_pass__tf_sole(c, p, "MatMul");
    if (mv == NN_INVALID_ID || g->nodes[mv].inputs[0].id != p) return NN_OK;
    set[ns++] = mv;
    uint32_t v = g->nodes[mv].inputs[1].id, y = g->nodes[mv].outputs[0].id;
    /* z = scores [+ mask], scores = MatMul(Q', Kt') scaled */
    double scale = 1.0;
    uint32_t mask = NN_INVALID_ID, qk = NN_INVALID_ID, save = ns;
    uint32_t ad = nn_pass__tf_prod(c, z, "Add"), wh = nn_pass__tf_prod(c, z, "Where");
    double fillv;
    if (wh != NN_INVALID_ID && g->nodes[wh].input_count == 3 && nn_pass__tf_scalar(g, g->nodes[wh].inputs[2].id, &fillv) &&
        fillv <= -1e30 && g->tensors[g->nodes[wh].inputs[0].id].dtype == NN_DTYPE_BOOL) {
        /* Where(keep, scores, -inf): a boolean mask, true = attend (ONNX
           Attention-23 attn_mask).  A finite fill (torch.finfo.min) differs
           only for rows with every key masked; fills above -1e30 are left. */
        set[ns++] = wh;
        uint32_t sc = nn_pass__tf_unscale(c, g->nodes[wh].inputs[1].id, &scale, set, &ns);
        qk = nn_pass__tf_prod(c, sc, "MatMul");
        mask = g->nodes[wh].inputs[0].id;
        const nn_tensor *mt = &g->tensors[mask];
        if (qk == NN_INVALID_ID || mt->shape.rank < 0 || mt->shape.rank > r) return NN_OK;
        for (int32_t d = 0; r == 3 && d + 2 < mt->shape.rank; d++)
            if (mt->shape.dims[d] != 1) return NN_OK;
    } else if (ad != NN_INVALID_ID) {
        for (uint32_t i = 0; i < 2 && qk == NN_INVALID_ID; i++) {
            ns = save;
            scale = 1.0;
            set[ns++] = ad;
            uint32_t s = nn_pass__tf_unscale(c, g->nodes[ad].inputs[i].id, &scale, set, &ns);
            qk = nn_pass__tf_prod(c, s, "MatMul");
            if (qk != NN_INVALID_ID) mask = g->nodes[ad].inputs[1 - i].id;
        }
        if (qk == NN_INVALID_ID) return NN_OK;
        const nn_tensor *mt = &g->tensors[mask];
        if (mt->dtype != NN_DTYPE_FLOAT || mt->shape.rank < 0 || mt->shape.rank > r) return NN_OK;
        /* a 3-D attention is (N,1,S,L) inside: the mask may vary over S, L only */
        for (int32_t d = 0; r == 3 && d + 2 < mt->shape.rank; d++)
            if (mt->shape.dims[d] != 1) return NN_OK;
    } else {
        uint32_t s = nn_pass__tf_unscale(c, z, &scale, set, &ns);
        qk = nn_pass__tf_prod(c, s, "MatMul");
        if (qk == NN_INVALID_ID) return NN_OK;
    }
    set[ns++] = qk;
    uint32_t q = nn_pass__tf_unscale(c, g->nodes[qk].inputs[0].id, &scale, set, &ns);
    uint32_t kt = nn_pass__tf_unscale(c, g->nodes[qk].inputs[1].id, &scale, set, &ns);
    /* K^T must come from a Transpose: swapping its last two perm entries gives K. */
    uint32_t tp = nn_pass__tf_prod(c, kt, "Transpose");
    if (tp == NN_INVALID_ID || q == NN_INVALID_ID || v == NN_INVALID_ID || ns >= 23) return NN_OK;
    const nn_attr *pa = nn_node_attr(&g->nodes[tp], "perm");
    if (!pa || pa->type != NN_ATTR_INTS || pa->count != (uint32_t)r) return NN_OK;
    if (g->tensors[q].shape.rank != r || g->tensors[v].shape.rank != r || g->tensors[kt].shape.rank != r) return NN_OK;
    /* no batch broadcasting inside Attention: Q, K, V and the scores share
       their leading dims, and the mask broadcasts to the scores */
    const nn_shape *qs = &g->tensors[q].shape, *ks0 = &g->tensors[kt].shape, *vs = &g->tensors[v].shape;
    const nn_shape *ss = &g->tensors[g->nodes[qk].outputs[0].id].shape;
    if (ss->rank != r) return NN_OK;
    for (int32_t d = 0; d < r - 2; d++)
        if (qs->dims[d] != ks0->dims[d] || qs->dims[d] != vs->dims[d] || qs->dims[d] != ss->dims[d]) return NN_OK;
    if (mask != NN_INVALID_ID) {
        const nn_shape *msh = &g->tensors[mask].shape;
        for (int32_t d = 0; d < msh->rank; d++) {
            int64_t md = msh->dims[d], sd = ss->dims[r - msh->rank + d];
            if (md != 1 && (md != sd || md < 0)) return NN_OK;
        }
    }
    set[ns++] = tp;
    if (!nn_pass__tf_private(c, set, ns, y)) return NN_OK;
    if (!std && nn_pass__tf_import(c, "ai.nnport")) return c->diag ? c->diag->status : NN_ERR_NOMEM;
    int64_t *perm = (int64_t *)nn_arena_alloc(&g->arena, (size_t)r * sizeof(int64_t));
    if (!perm) return nn_diag_set(c->diag, NN_ERR_NOMEM, "attention", "out of memory");
    memcpy(perm, pa->ints, (size_t)r * sizeof(int64_t));
    perm[r - 1] = pa->ints[r - 2];
    perm[r - 2] = pa->ints[r - 1];
    /* The Transpose stays, now producing K: it is not part of what dies. */
    nn_attr *ta = (nn_attr *)pa;
    ta->ints = perm;
    nn_shape *ks = &g->tensors[kt].shape;
    int64_t tmp = ks->dims[r - 1];
    ks->dims[r - 1] = ks->dims[r - 2];
    ks->dims[r - 2] = tmp;
    const char *dp = g->tensors[kt].dim_param[r - 1];
    g->tensors[kt].dim_param[r - 1] = g->tensors[kt].dim_param[r - 2];
    g->tensors[kt].dim_param[r - 2] = dp;
    uint32_t ins[4] = {q, kt, v, mask};
    nn_attr at[3];
    uint32_t na = 0;
    at[na++] = nn_pass__tf_attr_float("scale", (float)scale);
    if (r == 3) {
        at[na++] = nn_pass__tf_attr_int("q_num_heads", 1);
        at[na++] = nn_pass__tf_attr_int("kv_num_heads", 1);
    }
    return nn_pass__tf_commit(c, "attention", set, ns - 1, mv, "Attention", std ? "" : "ai.nnport", ins,
                              mask == NN_INVALID_ID ? 3 : 4, y, at, na);
}

static nn_status nn_pass__attention(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    nn_pass__tf_shapes(c);
    int64_t opset = nn_graph_opset(g, "");
    int std = opset >= 23 && nn_op_find("Attention", "", opset) != NULL;
    for (uint32_t k = 0; k < g->node_count; k++) {
        uint32_t ni = c->order[k];
        if (c->dead[ni] || !nn_pass__is_op(&g->nodes[ni], "Softmax")) continue;
        nn_status st = nn_pass__tf_attention_at(c, ni, std);
        if (st) return st;
    }
    return NN_OK;
}

static void nn_pass__compact(nn_graph *g, const uint8_t *dead, uint32_t dead_count);

/* -- to4d -- */

/* Every activation becomes rank 4 by leading 1s: (D) -> (1,1,1,D),
   (S,D) -> (1,1,S,D), (B,S,D) -> (1,B,S,D).  Prepending 1s keeps numpy
   broadcasting (aligned from the right), MatMul's batch broadcasting, the
   feature axis last (LayerNormalization / Softmax keep axis -1) and the
   memory layout: a node's rewrite only moves non-negative axis numbers by
   the added rank.  Graph inputs and outputs keep their shapes through one
   Reshape each at the boundary.  The one exception to rank 4: the indices
   of a Gather from a constant table (token ids into an embedding) are
   lifted to rank 5 - rank(table), so the gathered rows come out 4-D.
   The rules read the declared shapes, so a graph whose shapes fail
   inference or disagree with it is left unchanged, like one holding a node
   without a 4-D rule.  Nodes rewritten in place (attributes, rewired
   inputs/outputs, lifted output shapes) count in stats->nodes_changed.
   docs/OPTIMIZATION.md compares this with the ANE (B,C,1,S) layout. */

typedef struct nn_pass__tf4 {
    nn_pass__ctx *c;
    int8_t *tgt;       /* tensor_count: target rank of each activation (0: not an activation) */
    int8_t *rank;      /* tensor_count: rank before the pass */
    const char *why;   /* first reason the graph cannot be converted */
    const char *where;
    uint32_t cap;      /* entries of tgt and rank */
} nn_pass__tf4;

static int nn_pass__tf4_act(const nn_graph *g, uint32_t t) {
    return t != NN_INVALID_ID && !(g->tensors[t].flags & NN_TENSOR_CONST);
}

static int nn_pass__tf4_fail(nn_pass__tf4 *s, const nn_node *n, const char *why) {
    if (!s->why) { s->why = why; s->where = nn_graph__node_label(n); }
    return 0;
}

static int nn_pass__tf4_in(const char *op, const char *const *list) {
    for (; *list; list++)
        if (strcmp(op, *list) == 0) return 1;
    return 0;
}

/* Ops that keep working, untouched, when every activation gains leading 1s:
   element-wise math (broadcasting aligns from the right). */
static const char *const nn_pass__tf4_elementwise[] = {
    "Add", "Sub", "Mul", "Div", "Pow", "Erf", "Sqrt", "Reciprocal", "Relu", "Sigmoid", "Tanh", "Gelu", "Exp", "Log",
    "Abs", "Neg", "Where", "Cast", "Identity", "Dropout", "Clip", "Max", "Min", "Equal", "Greater", "Less", "Not",
    "And", "Or", "LeakyRelu", "HardSigmoid", "HardSwish", "Softplus", "Sum", "Mean", "Floor", "Ceil", "Round", "Sin",
    "Cos", "Sign", "PRelu", "Elu", "Mish", "FastGelu", "QuickGelu", "GreaterOrEqual", "LessOrEqual", "Mod", NULL};

/* Sets an INT attribute (added when absent). */
static int nn_pass__tf4_set_int(nn_graph *g, nn_node *n, const char *name, int64_t v) {
    for (uint32_t a = 0; a < n->attr_count; a++)
        if (strcmp(n->attrs[a].name, name) == 0) {
            if (n->attrs[a].type == NN_ATTR_INT && n->attrs[a].i == v) return 0;
            n->attrs[a] = nn_pass__tf_attr_int(name, v);
            return 1;
        }
    nn_attr *at = (nn_attr *)nn_arena_alloc(&g->arena, (n->attr_count + 1) * sizeof(nn_attr));
    if (!at) return -1;
    if (n->attr_count) memcpy(at, n->attrs, n->attr_count * sizeof(nn_attr));
    at[n->attr_count] = nn_pass__tf_attr_int(name, v);
    n->attrs = at;
    n->attr_count++;
    return 1;
}

static void nn_pass__tf4_drop_attr(nn_node *n, const char *name) {
    for (uint32_t a = 0; a < n->attr_count; a++)
        if (strcmp(n->attrs[a].name, name) == 0) {
            n->attrs[a] = n->attrs[n->attr_count - 1];
            n->attr_count--;
            return;
        }
}

/* A (rank) shape lifted to rank `to` by leading 1s. */
static nn_shape nn_pass__tf4_lift(const nn_shape *s, int32_t to) {
    nn_shape o = *s;
    int32_t k = to - s->rank;
    if (s->rank < 0 || k <= 0) return o;
    o.rank = to;
    for (int32_t d = to - 1; d >= 0; d--) o.dims[d] = d >= k ? s->dims[d - k] : 1;
    return o;
}

/* The table-lookup Gather: constant data, axis 0. */
static int nn_pass__tf4_lookup(const nn_graph *g, const nn_node *n) {
    return nn_pass__is_op(n, "Gather") && n->input_count == 2 && nn_pass__is_const(g, n->inputs[0]) &&
           nn_node_attr_int(n, "axis", 0) == 0;
}

/* Checks node n without changing anything; 1 when to4d can rewrite it. */
static int nn_pass__tf4_check(nn_pass__tf4 *s, const nn_node *n) {
    nn_graph *g = s->c->g;
    int all4 = 1;
    for (uint32_t i = 0; i < n->input_count + n->output_count; i++) {
        uint32_t t = i < n->input_count ? n->inputs[i].id : n->outputs[i - n->input_count].id;
        if (!nn_pass__tf4_act(g, t)) continue;
        if (s->rank[t] < 0 || s->rank[t] > 4) return nn_pass__tf4_fail(s, n, "a tensor of unknown rank or rank above 4");
        if (s->rank[t] != s->tgt[t]) all4 = 0;
    }
    if (all4) return 1; /* already 4-D (Conv, pooling, attention on 4-D ...) */
    const char *op = n->op_type;
    int std = !n->domain[0] || strcmp(n->domain, "ai.onnx") == 0;
    int ms = strcmp(n->domain, "com.microsoft") == 0;
    if ((std || ms) && nn_pass__tf4_in(op, nn_pass__tf4_elementwise)) return 1;
    if (strcmp(op, "Attention") == 0 && (std || strcmp(n->domain, "ai.nnport") == 0)) {
        if (s->rank[n->inputs[0].id] == 3 && (nn_node_attr_int(n, "q_num_heads", 0) != 1 || nn_node_attr_int(n, "kv_num_heads", 0) != 1))
            return nn_pass__tf4_fail(s, n, "3-D Attention with more than one head");
        return 1;
    }
    if (!std) return nn_pass__tf4_fail(s, n, "an op of another domain");
    if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax") || !strcmp(op, "Hardmax") || !strcmp(op, "LayerNormalization") ||
        !strcmp(op, "Concat") || !strcmp(op, "Split") || !strcmp(op, "Transpose"))
        return 1;
    if (!strcmp(op, "ReduceMean") || !strcmp(op, "ReduceSum") || !strcmp(op, "ReduceMax") || !strcmp(op, "ReduceMin"))
        return nn_node_attr_int(n, "keepdims", 1) == 1 ? 1 : nn_pass__tf4_fail(s, n, "a reduction without keepdims");
    if (!strcmp(op, "Reshape") || !strcmp(op, "Flatten") || !strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze")) {
        const nn_tensor *y = &g->tensors[n->outputs[0].id];
        if (!nn_shape_is_static(&y->shape)) return nn_pass__tf4_fail(s, n, "a reshape of a dynamic shape");
        for (int32_t d = 0; d < y->shape.rank; d++)
            if (y->shape.dims[d] == 0) return nn_pass__tf4_fail(s, n, "a reshape to an empty shape");
        return nn_graph_opset(g, "") >= 5 ? 1 : nn_pass__tf4_fail(s, n, "Reshape before opset 5");
    }
    if (!strcmp(op, "Slice")) {
        if (nn_graph_opset(g, "") < 10 || n->input_count < 3) return nn_pass__tf4_fail(s, n, "Slice before opset 10");
        for (uint32_t i = 1; i < n->input_count && i < 4; i++)
            if (n->inputs[i].id != NN_INVALID_ID && !nn_pass__is_const(g, n->inputs[i]))
                return nn_pass__tf4_fail(s, n, "Slice of computed bounds");
        return 1;
    }
    if (!strcmp(op, "MatMul")) {
        for (uint32_t i = 0; i < 2; i++) {
            uint32_t t = n->inputs[i].id;
            int32_t rk = nn_pass__tf4_act(g, t) ? s->rank[t] : g->tensors[t].shape.rank;
            if (rk < 2) return nn_pass__tf4_fail(s, n, "MatMul of a vector");
        }
        return 1;
    }
    if (!strcmp(op, "Gemm")) {
        if (nn_node_attr_int(n, "transA", 0) || !nn_pass__is_const(g, n->inputs[1]) ||
            g->tensors[n->inputs[1].id].dtype != NN_DTYPE_FLOAT ||
            (n->input_count > 2 && n->inputs[2].id != NN_INVALID_ID && !nn_pass__is_const(g, n->inputs[2])))
            return nn_pass__tf4_fail(s, n, "Gemm with transA or computed weights");
        return 1;
    }
    if (!strcmp(op, "Gather")) {
        if (nn_pass__tf4_lookup(g, n)) return 1;
        uint32_t x = n->inputs[0].id;
        int64_t a = nn_node_attr_int(n, "axis", 0);
        if (a < 0) a += s->rank[x];
        if (!nn_pass__is_const(g, n->inputs[1]) || g->tensors[n->inputs[1].id].shape.rank > 1 || a < 0)
            return nn_pass__tf4_fail(s, n, "Gather of computed or multi-dimensional indices");
        for (int64_t d = 0; d < a; d++)
            if (g->tensors[x].shape.dims[d] != 1) return nn_pass__tf4_fail(s, n, "Gather after a dimension above 1");
        return 1;
    }
    return nn_pass__tf4_fail(s, n, "an op without a 4-D rule");
}

/* A new int64 (count) initializer. */
static nn_status nn_pass__tf4_ints(nn_pass__ctx *c, const char *base, const char *suffix, const int64_t *v, int64_t count,
                                   uint32_t *out) {
    nn_shape sh = nn_shape_make(1, &count);
    return nn_pass__tf_const(c, base, suffix, NN_DTYPE_INT64, &sh, v, (size_t)count * sizeof(int64_t), out);
}

/* Replaces input slot i of node ni (extending the input list). */
static nn_status nn_pass__tf4_set_input(nn_pass__ctx *c, uint32_t ni, uint32_t i, uint32_t t) {
    nn_graph *g = c->g;
    nn_node *n = &g->nodes[ni];
    if (i >= n->input_count) {
        nn_tensor_id *ins = (nn_tensor_id *)nn_arena_alloc(&g->arena, (i + 1) * sizeof(nn_tensor_id));
        if (!ins) return nn_diag_set(c->diag, NN_ERR_NOMEM, "to4d", "out of memory");
        for (uint32_t j = 0; j <= i; j++) ins[j].id = j < n->input_count ? n->inputs[j].id : NN_INVALID_ID;
        n->inputs = ins;
        n->input_count = i + 1;
    }
    n->inputs[i].id = t;
    return NN_OK;
}

/* Gemm(A, B, C) -> MatMul(A, alpha B') [+ beta C] (B' = B^T under transB). */
static nn_status nn_pass__tf4_gemm(nn_pass__tf4 *s, uint32_t ni, int *changed) {
    nn_pass__ctx *c = s->c;
    nn_graph *g = c->g;
    nn_node *n = &g->nodes[ni];
    float alpha = nn_node_attr_float(n, "alpha", 1.0f), beta = nn_node_attr_float(n, "beta", 1.0f);
    int tb = nn_node_attr_int(n, "transB", 0) != 0;
    uint32_t w = n->inputs[1].id, b = n->input_count > 2 ? n->inputs[2].id : NN_INVALID_ID, y = n->outputs[0].id;
    const nn_tensor *wt = &g->tensors[w];
    int64_t K = tb ? wt->shape.dims[1] : wt->shape.dims[0], N = tb ? wt->shape.dims[0] : wt->shape.dims[1];
    const char *origin = n->origin, *label = nn_graph__node_label(n);
    nn_status st = NN_OK;
    uint32_t nw = w, nb = b;
    if (tb || alpha != 1.0f) {
        float *v = (float *)nn_alloc(&g->alloc, (size_t)(K * N + 1) * sizeof(float));
        if (!v) return nn_diag_set(c->diag, NN_ERR_NOMEM, "to4d", "out of memory");
        const float *src = (const float *)wt->data;
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < N; j++) v[k * N + j] = alpha * (tb ? src[j * K + k] : src[k * N + j]);
        int64_t dims[2] = {K, N};
        nn_shape sh = nn_shape_make(2, dims);
        st = nn_pass__tf_const(c, g->tensors[w].name, "_kn", NN_DTYPE_FLOAT, &sh, v, (size_t)(K * N) * sizeof(float), &nw);
        nn_free(&g->alloc, v);
    }
    if (st == NN_OK && b != NN_INVALID_ID && beta != 1.0f) {
        size_t cnt;
        nn_tensor_id bid;
        bid.id = b;
        const float *src = nn_pass__const_f32(g, bid, &cnt);
        float *v = src ? (float *)nn_alloc(&g->alloc, (cnt + 1) * sizeof(float)) : NULL;
        if (!v) return src ? nn_diag_set(c->diag, NN_ERR_NOMEM, "to4d", "out of memory") : NN_OK;
        for (size_t i = 0; i < cnt; i++) v[i] = beta * src[i];
        nn_shape sh = g->tensors[b].shape;
        st = nn_pass__tf_const(c, g->tensors[b].name, "_beta", NN_DTYPE_FLOAT, &sh, v, cnt * sizeof(float), &nb);
        nn_free(&g->alloc, v);
    }
    if (st) return st;
    uint32_t mm_out = y;
    if (b != NN_INVALID_ID) {
        nn_tensor_id t;
        nn_shape sh = g->tensors[y].shape;
        st = nn_pass__new_tensor(g, g->tensors[y].name, "_mm", NN_DTYPE_FLOAT, &sh, &t, c->diag);
        if (st) return st;
        mm_out = t.id;
        s->tgt[t.id] = 4;
        s->rank[t.id] = (int8_t)sh.rank;
    }
    n = &g->nodes[ni];
    n->op_type = "MatMul";
    n->attr_count = 0;
    n->input_count = 2;
    n->inputs[1].id = nw;
    n->outputs[0].id = mm_out;
    g->tensors[mm_out].producer.id = ni;
    *changed = 1;
    if (b == NN_INVALID_ID) return NN_OK;
    nn_tensor_id ai[2], ao[1];
    ai[0].id = mm_out;
    ai[1].id = nb;
    ao[0].id = y;
    g->tensors[y].producer.id = NN_INVALID_ID;
    char name[200];
    snprintf(name, sizeof name, "%.180s_bias", label);
    nn_node_id id;
    st = nn_graph_add_node(g, "Add", "", name, ai, 2, ao, 1, &id, c->diag);
    if (st == NN_OK) { g->nodes[id.id].origin = origin; c->stats->nodes_added++; }
    return st;
}

/* Rewrites node ni for its activations' new ranks; *changed when it did. */
static nn_status nn_pass__tf4_node(nn_pass__tf4 *s, uint32_t ni, int *changed) {
    nn_pass__ctx *c = s->c;
    nn_graph *g = c->g;
    nn_node *n = &g->nodes[ni];
    const char *op = n->op_type;
    uint32_t x = n->input_count ? n->inputs[0].id : NN_INVALID_ID, y = n->output_count ? n->outputs[0].id : NN_INVALID_ID;
    int32_t kx = nn_pass__tf4_act(g, x) ? s->tgt[x] - s->rank[x] : 0;
    if (!strcmp(op, "Concat") && nn_pass__tf4_act(g, y)) kx = s->tgt[y] - s->rank[y]; /* input 0 may be a constant */
    int32_t rx = nn_pass__tf4_act(g, x) ? s->rank[x] : 0;
    int64_t opset = nn_graph_opset(g, "");
    *changed = 0;
    if (strcmp(op, "Attention") == 0) {
        if (kx <= 0) return NN_OK;
        nn_pass__tf4_drop_attr(n, "q_num_heads");
        nn_pass__tf4_drop_attr(n, "kv_num_heads");
        *changed = 1;
        return NN_OK;
    }
    if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) return NN_OK;
    if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax") || !strcmp(op, "Hardmax") || !strcmp(op, "LayerNormalization") ||
        !strcmp(op, "Split") || !strcmp(op, "Concat") || (!strcmp(op, "Gather") && !nn_pass__tf4_lookup(g, n))) {
        int smx = !strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax") || !strcmp(op, "Hardmax");
        int64_t def = smx ? (opset < 13 ? 1 : -1) : !strcmp(op, "LayerNormalization") ? -1 : 0;
        int64_t a = nn_node_attr_int(n, "axis", def);
        if (kx <= 0) return NN_OK;
        if (a < 0 && !strcmp(op, "Gather")) a += rx; /* the index input changes below: keep it explicit */
        if (a >= 0) {
            int r = nn_pass__tf4_set_int(g, n, "axis", a + kx);
            if (r < 0) return nn_diag_set(c->diag, NN_ERR_NOMEM, "to4d", "out of memory");
            *changed = r;
        }
        for (uint32_t i = 0; !strcmp(op, "Concat") && i < g->nodes[ni].input_count; i++) { /* constants join at rank 4 too */
            uint32_t t = g->nodes[ni].inputs[i].id, nt;
            if (t == NN_INVALID_ID || !nn_pass__is_const(g, g->nodes[ni].inputs[i]) || g->tensors[t].shape.rank >= 4) continue;
            nn_shape sh = nn_pass__tf4_lift(&g->tensors[t].shape, 4);
            nn_status st = nn_pass__tf_const(c, g->tensors[t].name, "_4d", g->tensors[t].dtype, &sh, g->tensors[t].data,
                                             g->tensors[t].data_bytes, &nt);
            if (st) return st;
            g->nodes[ni].inputs[i].id = nt;
            *changed = 1;
        }
        if (!strcmp(op, "Gather") && g->tensors[n->inputs[1].id].shape.rank == 0) { /* scalar index -> (1) */
            int64_t v[1];
            size_t cnt;
            uint32_t t;
            if (!nn_pass__const_ints(g, n->inputs[1], v, 1, &cnt) || cnt != 1)
                return nn_diag_set(c->diag, NN_ERR_UNSUPPORTED, "to4d", "Gather index is not an integer constant");
            nn_status st = nn_pass__tf4_ints(c, g->tensors[n->inputs[1].id].name, "_1", v, 1, &t);
            if (st) return st;
            g->nodes[ni].inputs[1].id = t;
            *changed = 1;
        }
        return NN_OK;
    }
    if (!strcmp(op, "Transpose")) {
        if (kx <= 0) return NN_OK;
        int64_t perm[8];
        const nn_attr *pa = nn_node_attr(n, "perm");
        for (int32_t d = 0; d < rx; d++) perm[d] = pa && pa->type == NN_ATTR_INTS && (int32_t)pa->count == rx ? pa->ints[d] : rx - 1 - d;
        int64_t *np = (int64_t *)nn_arena_alloc(&g->arena, 4 * sizeof(int64_t));
        nn_attr *at = (nn_attr *)nn_arena_alloc(&g->arena, sizeof(nn_attr));
        if (!np || !at) return nn_diag_set(c->diag, NN_ERR_NOMEM, "to4d", "out of memory");
        for (int32_t d = 0; d < 4; d++) np[d] = d < kx ? d : perm[d - kx] + kx;
        memset(at, 0, sizeof *at);
        at->name = "perm";
        at->type = NN_ATTR_INTS;
        at->ints = np;
        at->count = 4;
        n->attrs = at;
        n->attr_count = 1;
        *changed = 1;
        return NN_OK;
    }
    if (!strcmp(op, "ReduceMean") || !strcmp(op, "ReduceSum") || !strcmp(op, "ReduceMax") || !strcmp(op, "ReduceMin")) {
        if (kx <= 0) return NN_OK;
        int64_t ax[8];
        size_t cnt = 0;
        nn_attr *aa = NULL;
        for (uint32_t a = 0; a < n->attr_count; a++)
            if (!strcmp(n->attrs[a].name, "axes")) aa = &n->attrs[a];
        if (aa && aa->type == NN_ATTR_INTS && aa->count <= 8) {
            int64_t *nv = (int64_t *)nn_arena_alloc(&g->arena, (aa->count + 1) * sizeof(int64_t));
            if (!nv) return nn_diag_set(c->diag, NN_ERR_NOMEM, "to4d", "out of memory");
            for (uint32_t i = 0; i < aa->count; i++) nv[i] = aa->ints[i] >= 0 ? aa->ints[i] + kx : aa->ints[i];
            aa->ints = nv;
            *changed = 1;
        } else if (n->input_count > 1 && n->inputs[1].id != NN_INVALID_ID && nn_pass__const_ints(g, n->inputs[1], ax, 8, &cnt)) {
            uint32_t t;
            for (size_t i = 0; i < cnt; i++) if (ax[i] >= 0) ax[i] += kx;
            nn_status st = nn_pass__tf4_ints(c, g->tensors[n->inputs[1].id].name, "_4d", ax, (int64_t)cnt, &t);
            if (st) return st;
            g->nodes[ni].inputs[1].id = t;
            *changed = 1;
        }
        return NN_OK;
    }
    if (!strcmp(op, "Reshape") || !strcmp(op, "Flatten") || !strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze")) {
        nn_shape to = nn_pass__tf4_lift(&g->tensors[y].shape, nn_pass__tf4_act(g, y) ? s->tgt[y] : g->tensors[y].shape.rank);
        int64_t cur[8];
        size_t cnt = 0;
        if (!strcmp(op, "Reshape") && n->input_count == 2 && nn_pass__const_ints(g, n->inputs[1], cur, 8, &cnt) &&
            cnt == (size_t)to.rank && memcmp(cur, to.dims, cnt * sizeof(int64_t)) == 0)
            return NN_OK;
        uint32_t t;
        nn_status st = nn_pass__tf4_ints(c, g->tensors[y].name, "_shape", to.dims, to.rank, &t);
        if (st) return st;
        n = &g->nodes[ni];
        n->op_type = "Reshape";
        n->attr_count = 0;
        n->input_count = 1;
        *changed = 1;
        return nn_pass__tf4_set_input(c, ni, 1, t);
    }
    if (!strcmp(op, "Slice")) {
        if (kx <= 0) return NN_OK;
        int64_t st8[8], ax[8];
        size_t ns = 0, na = 0;
        if (!nn_pass__const_ints(g, n->inputs[1], st8, 8, &ns)) return nn_diag_set(c->diag, NN_ERR_UNSUPPORTED, "to4d", "Slice starts");
        if (n->input_count > 3 && n->inputs[3].id != NN_INVALID_ID) {
            if (!nn_pass__const_ints(g, n->inputs[3], ax, 8, &na)) return nn_diag_set(c->diag, NN_ERR_UNSUPPORTED, "to4d", "Slice axes");
            for (size_t i = 0; i < na; i++) if (ax[i] >= 0) ax[i] += kx;
        } else {
            na = ns;
            for (size_t i = 0; i < na; i++) ax[i] = (int64_t)i + kx;
        }
        uint32_t t;
        nn_status st = nn_pass__tf4_ints(c, g->tensors[y].name, "_axes", ax, (int64_t)na, &t);
        if (st == NN_OK) st = nn_pass__tf4_set_input(c, ni, 3, t);
        *changed = st == NN_OK;
        return st;
    }
    if (!strcmp(op, "Gemm")) return nn_pass__tf4_gemm(s, ni, changed);
    return NN_OK; /* element-wise, MatMul, lookup Gather, already 4-D: nothing to move */
}

/* Adds Reshape(from -> to) with to's shape as the target. */
static nn_status nn_pass__tf4_boundary(nn_pass__ctx *c, uint32_t from, uint32_t to) {
    nn_graph *g = c->g;
    uint32_t sh;
    /* a copy: the new initializer can move g->tensors (and a pointer into it) */
    nn_shape ts = g->tensors[to].shape;
    nn_status st = nn_pass__tf4_ints(c, g->tensors[to].name, "_shape", ts.dims, ts.rank, &sh);
    if (st) return st;
    nn_tensor_id ai[2], ao[1];
    ai[0].id = from;
    ai[1].id = sh;
    ao[0].id = to;
    char name[200];
    snprintf(name, sizeof name, "%.180s_to4d", g->tensors[to].name);
    nn_node_id id;
    st = nn_graph_add_node(g, "Reshape", "", name, ai, 2, ao, 1, &id, c->diag);
    if (st == NN_OK) c->stats->nodes_added++;
    return st;
}

/* Graph output t (rank below 4, producer p) keeps its producer when that
   is a Reshape of a 4-D activation or of a graph input and nothing inside
   the graph reads t: the Reshape is then its boundary.  An output other
   nodes read too gets a 4-D stand-in from its producer, which the readers
   take, and a boundary Reshape of its own. */
static int nn_pass__tf4_own_boundary(nn_pass__tf4 *s, uint32_t p, uint32_t t) {
    const nn_graph *g = s->c->g;
    const nn_node *pn = &g->nodes[p];
    uint32_t u;
    if (!nn_pass__is_op(pn, "Reshape") || pn->input_count != 2 || !nn_pass__tf4_act(g, pn->inputs[0].id)) return 0;
    if (s->rank[pn->inputs[0].id] != 4 && !(g->tensors[pn->inputs[0].id].flags & NN_TENSOR_INPUT)) return 0;
    return nn_pass__tf_users(s->c, t, &u, 1) == 0;
}

/* 1 when shape inference runs through g and every declared activation
   shape agrees with the inferred one (same rank, equal dims where both are
   known).  Nothing in g changes.  Else 0 with why filled: the pass then
   leaves a malformed graph (Add of (2,3) and (4,5) constants, a declared
   shape its node does not make) as it came, since its rules read the
   declared shapes. */
static int nn_pass__tf4_consistent(nn_pass__ctx *c, char *why, size_t cap) {
    nn_graph *g = c->g;
    nn_exec__plan *p = NULL;
    nn_diag local;
    memset(&local, 0, sizeof local);
    if (nn_exec__plan_create(&g->alloc, g, &p, &local) != NN_OK) {
        snprintf(why, cap, "no shape inference ('%.60s': %.80s)", local.where, local.message);
        return 0;
    }
    nn_value *values = (nn_value *)nn_alloc(&g->alloc, (g->tensor_count + 1) * sizeof(nn_value));
    int ok = values != NULL;
    if (!ok) snprintf(why, cap, "out of memory");
    if (ok && (nn_exec__preset_values(g, NULL, 0, values, &local) != NN_OK ||
               nn_exec__infer_values(p, &g->alloc, values, &local) != NN_OK)) {
        ok = 0;
        snprintf(why, cap, "shapes that fail inference ('%.60s': %.80s)", local.where, local.message);
    }
    for (uint32_t t = 0; values && t < g->tensor_count; t++) {
        const nn_tensor *tt = &g->tensors[t];
        const nn_shape *a = &tt->shape, *b = &values[t].shape;
        int same = 1;
        if (ok && !(tt->flags & NN_TENSOR_CONST) && values[t].dtype != NN_DTYPE_UNDEFINED && a->rank >= 0 && b->rank >= 0) {
            same = a->rank == b->rank;
            for (int32_t d = 0; same && d < a->rank; d++)
                same = a->dims[d] < 0 || b->dims[d] < 0 || a->dims[d] == b->dims[d];
        }
        if (!same) {
            char da[64], db[64];
            ok = 0;
            snprintf(why, cap, "tensor '%.60s' declared %s but inferred %s", tt->name ? tt->name : "",
                     nn_shape_str(a, da, sizeof da), nn_shape_str(b, db, sizeof db));
        }
        nn_exec__value_release(&g->alloc, NULL, &values[t]);
    }
    nn_free(&g->alloc, values);
    nn_exec__plan_free(&g->alloc, p);
    return ok;
}

static nn_status nn_pass__to4d_run(nn_pass__tf4 *s, uint32_t nn0) {
    nn_pass__ctx *c = s->c;
    nn_graph *g = c->g;
    uint32_t nt0 = g->tensor_count;
    /* target ranks: 4, the indices of a table lookup 5 - rank(table) */
    for (uint32_t t = 0; t < nt0; t++) {
        s->rank[t] = (int8_t)(g->tensors[t].shape.rank < 0 ? -1 : g->tensors[t].shape.rank > 8 ? 9 : g->tensors[t].shape.rank);
        s->tgt[t] = 4;
    }
    for (uint32_t k = 0; k < nn0; k++) {
        const nn_node *n = &g->nodes[c->order[k]];
        if (c->dead[c->order[k]] || !nn_pass__tf4_lookup(g, n)) continue;
        uint32_t ix = n->inputs[1].id;
        int32_t want = 5 - g->tensors[n->inputs[0].id].shape.rank;
        if (s->tgt[ix] != 4 && s->tgt[ix] != want) nn_pass__tf4_fail(s, n, "indices shared by lookups of different ranks");
        s->tgt[ix] = (int8_t)want;
    }
    /* graph inputs/outputs keep their shapes */
    for (uint32_t i = 0; i < g->input_count; i++) s->tgt[g->inputs[i].id] = s->rank[g->inputs[i].id];
    for (uint32_t i = 0; i < g->output_count; i++) s->tgt[g->outputs[i].id] = s->rank[g->outputs[i].id];
    int8_t *want_in = (int8_t *)nn_alloc(&g->alloc, nt0 + 1);
    if (!want_in) return nn_diag_set(c->diag, NN_ERR_NOMEM, "to4d", "out of memory");
    /* an input read by anything but a reshape needs a boundary Reshape */
    memset(want_in, 0, nt0 + 1);
    for (uint32_t k = 0; k < nn0; k++) {
        const nn_node *n = &g->nodes[c->order[k]];
        int reshape = nn_pass__is_op(n, "Reshape") || nn_pass__is_op(n, "Flatten") || nn_pass__is_op(n, "Squeeze") ||
                      nn_pass__is_op(n, "Unsqueeze");
        for (uint32_t i = 0; i < n->input_count; i++) {
            uint32_t t = n->inputs[i].id;
            if (t == NN_INVALID_ID || !(g->tensors[t].flags & NN_TENSOR_INPUT) || (g->tensors[t].flags & NN_TENSOR_CONST)) continue;
            if (reshape && i == 0) continue;
            int32_t w = nn_pass__tf4_lookup(g, n) && i == 1 ? 5 - g->tensors[n->inputs[0].id].shape.rank : 4;
            if (w != s->rank[t]) want_in[t] = (int8_t)w;
        }
    }
    /* an output whose producer is not already a reshape of a 4-D tensor: same */
    for (uint32_t i = 0; i < g->output_count; i++) {
        uint32_t t = g->outputs[i].id, p = g->tensors[t].producer.id;
        if (s->rank[t] == 4 || p == NN_INVALID_ID || nn_pass__tf4_own_boundary(s, p, t)) continue;
        s->tgt[t] = 4; /* its producer writes a 4-D stand-in below */
    }
    for (uint32_t k = 0; k < nn0 && !s->why; k++)
        if (!c->dead[c->order[k]]) nn_pass__tf4_check(s, &g->nodes[c->order[k]]);
    char incons[200];
    if (!s->why && !nn_pass__tf4_consistent(c, incons, sizeof incons)) {
        s->why = incons;
        s->where = "graph";
    }
    for (uint32_t i = 0; i < g->output_count; i++) s->tgt[g->outputs[i].id] = s->rank[g->outputs[i].id];
    if (s->why) {
        nn_free(&g->alloc, want_in);
        if (c->desc && c->desc->log) {
            char msg[200];
            snprintf(msg, sizeof msg, "graph left unchanged: '%.80s' has %s", s->where, s->why);
            c->desc->log(c->desc->user, "to4d", msg);
        }
        return NN_OK;
    }
    nn_status st = NN_OK;
    /* outputs: the producer writes Y_4d, a boundary Reshape writes Y */
    uint32_t outs[64], outs4[64], no = 0;
    for (uint32_t i = 0; i < g->output_count && st == NN_OK; i++) {
        uint32_t t = g->outputs[i].id, p = g->tensors[t].producer.id;
        if (s->rank[t] == 4 || p == NN_INVALID_ID || nn_pass__tf4_own_boundary(s, p, t)) continue;
        if (no == 64) { st = nn_diag_set(c->diag, NN_ERR_LIMIT, "to4d", "more than 64 outputs to reshape"); break; }
        nn_tensor_id y4;
        nn_shape sh = g->tensors[t].shape;
        st = nn_pass__new_tensor(g, g->tensors[t].name, "_4d", g->tensors[t].dtype, &sh, &y4, c->diag);
        if (st) break;
        s->rank[y4.id] = (int8_t)sh.rank;
        s->tgt[y4.id] = 4;
        nn_pass__rewire(g, t, y4.id);
        for (uint32_t o = 0; o < g->nodes[p].output_count; o++)
            if (g->nodes[p].outputs[o].id == t) g->nodes[p].outputs[o].id = y4.id;
        g->tensors[y4.id].producer.id = p;
        g->tensors[t].producer.id = NN_INVALID_ID;
        outs4[no] = y4.id;
        outs[no++] = t;
    }
    /* inputs: a boundary Reshape writes X_4d, which the nodes read (X_4d
       keeps X's shape until the lift below, so the rules see X's rank) */
    for (uint32_t t = 0; t < nt0 && st == NN_OK; t++) {
        if (!want_in[t]) continue;
        nn_tensor_id x4;
        nn_shape sh = g->tensors[t].shape;
        st = nn_pass__new_tensor(g, g->tensors[t].name, want_in[t] == 4 ? "_4d" : "_lookup", g->tensors[t].dtype, &sh, &x4,
                                 c->diag);
        if (st) break;
        s->rank[x4.id] = s->rank[t];
        s->tgt[x4.id] = want_in[t];
        nn_pass__rewire(g, t, x4.id);
        uint32_t shc;
        nn_shape to = nn_pass__tf4_lift(&sh, want_in[t]);
        st = nn_pass__tf4_ints(c, g->tensors[t].name, "_shape", to.dims, to.rank, &shc);
        nn_tensor_id ai[2], ao[1];
        ai[0].id = t;
        ai[1].id = shc;
        ao[0] = x4;
        char name[200];
        snprintf(name, sizeof name, "%.180s_to4d", g->tensors[t].name);
        nn_node_id id;
        if (st == NN_OK) st = nn_graph_add_node(g, "Reshape", "", name, ai, 2, ao, 1, &id, c->diag);
        if (st == NN_OK) c->stats->nodes_added++;
    }
    /* nodes, in order; node_ch marks the original nodes changed in place
       (rules, rewired inputs or outputs, lifted output shapes) for the stats */
    uint8_t *node_ch = st == NN_OK ? (uint8_t *)nn_alloc(&g->alloc, (size_t)nn0 + 1) : NULL;
    if (st == NN_OK && !node_ch) st = nn_diag_set(c->diag, NN_ERR_NOMEM, "to4d", "out of memory");
    if (node_ch) memset(node_ch, 0, (size_t)nn0 + 1);
    for (uint32_t n = 0; n < nn0 && node_ch; n++)
        for (uint32_t i = 0; i < g->nodes[n].input_count + g->nodes[n].output_count; i++) {
            uint32_t t = i < g->nodes[n].input_count ? g->nodes[n].inputs[i].id
                                                     : g->nodes[n].outputs[i - g->nodes[n].input_count].id;
            if (t != NN_INVALID_ID && t >= nt0) node_ch[n] = 1; /* reads X_4d or writes Y_4d */
        }
    uint32_t changed_nodes = 0;
    for (uint32_t k = 0; k < nn0 && st == NN_OK; k++) {
        int ch = 0;
        if (!c->dead[c->order[k]]) st = nn_pass__tf4_node(s, c->order[k], &ch);
        changed_nodes += (uint32_t)ch;
        if (ch) node_ch[c->order[k]] = 1;
    }
    for (uint32_t i = 0; i < no && st == NN_OK; i++) st = nn_pass__tf4_boundary(c, outs4[i], outs[i]);
    /* activations take their 4-D shapes */
    uint32_t lifted = 0;
    for (uint32_t t = 0; t < g->tensor_count && t < s->cap && st == NN_OK; t++) {
        nn_tensor *tt = &g->tensors[t];
        if (!s->tgt[t] || !nn_pass__tf4_act(g, t) || (tt->flags & (NN_TENSOR_INPUT | NN_TENSOR_OUTPUT)) || s->rank[t] < 0 || s->rank[t] >= s->tgt[t])
            continue;
        int32_t k = s->tgt[t] - s->rank[t];
        for (int32_t d = s->tgt[t] - 1; d >= 0; d--) tt->dim_param[d] = d >= k ? tt->dim_param[d - k] : NULL;
        tt->shape = nn_pass__tf4_lift(&tt->shape, s->tgt[t]);
        lifted++;
        if (tt->producer.id < nn0) node_ch[tt->producer.id] = 1;
    }
    for (uint32_t n = 0; n < nn0 && node_ch; n++) c->stats->nodes_changed += node_ch[n];
    nn_free(&g->alloc, node_ch);
    nn_free(&g->alloc, want_in);
    if (st == NN_OK && (lifted || changed_nodes))
        nn_pass__note(c, "to4d", "%u tensors lifted to rank 4, %u nodes rewritten", lifted, changed_nodes);
    return st;
}

static nn_status nn_pass__to4d(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    nn_pass__tf_shapes(c);
    uint32_t nn0 = g->node_count, cap = g->tensor_count + 2 * g->output_count + g->node_count * 4 + g->input_count + 64;
    nn_pass__tf4 s;
    memset(&s, 0, sizeof s);
    s.c = c;
    s.tgt = (int8_t *)nn_alloc(&g->alloc, cap);
    s.rank = (int8_t *)nn_alloc(&g->alloc, cap);
    s.cap = cap;
    nn_status st = (!s.tgt || !s.rank) ? nn_diag_set(c->diag, NN_ERR_NOMEM, "to4d", "out of memory") : NN_OK;
    if (st == NN_OK) { memset(s.tgt, 0, cap); memset(s.rank, 0, cap); }
    if (st == NN_OK) st = nn_pass__to4d_run(&s, nn0);
    nn_free(&g->alloc, s.tgt);
    nn_free(&g->alloc, s.rank);
    /* Appended nodes (boundary Reshapes, Gemm biases) sit at the end of the
       list: drop the dead, then restore a topological order for writers. */
    if (g->node_count != nn0) {
        nn_pass__compact(g, c->dead, nn0);
        memset(c->dead, 0, nn0 + 1);
        nn_status s2 = nn_graph_sort(g, c->diag);
        if (st == NN_OK) st = s2;
    }
    return st;
}

/* -- opset: upgrade the default-domain opset import -- */

/* What the upgrade does to one node (chosen before any change, so a refusal
   leaves the graph as it came).  Versions cite the ONNX operator changelog
   (onnx/docs/Changelog.md, "<Op>-<version>"). */
enum {
    NN_UP__KEEP = 0,      /* same signature and meaning at the target */
    NN_UP__AXES_INPUT,    /* Squeeze/Unsqueeze-13, ReduceSum-13, Reduce*-18: axes attribute -> input 1 */
    NN_UP__SPLIT,         /* Split-13: split -> input 1; Split-18: num_outputs when there is no split */
    NN_UP__SLICE,         /* Slice-10: starts/ends/axes attributes -> inputs 1..3 */
    NN_UP__PAD,           /* Pad-11: pads/value attributes -> inputs 1, 2 */
    NN_UP__CLIP,          /* Clip-11: min/max attributes -> inputs 1, 2 */
    NN_UP__TOPK,          /* TopK-10: k attribute -> input 1 */
    NN_UP__DROPOUT,       /* Dropout-12: ratio attribute -> input 1 */
    NN_UP__SOFTMAX,       /* Softmax/LogSoftmax/Hardmax-13: one axis instead of the 2-D coercion */
    NN_UP__BN,            /* BatchNormalization-9: spatial dropped */
    NN_UP__UPSAMPLE,      /* Upsample-7/9 deprecated at 10: -> Resize */
    NN_UP__RESIZE10,      /* Resize-11: roi input, coordinate_transformation_mode default half_pixel */
    NN_UP__SCATTER,       /* Scatter deprecated at 11: -> ScatterElements (same meaning) */
    NN_UP__GRIDSAMPLE,    /* GridSample-20: modes bilinear/bicubic renamed linear/cubic */
    NN_UP__GROUPNORM,     /* GroupNormalization-21: scale/bias per channel, not per group */
    NN_UP__NNPORT_ATTN    /* ai.nnport Attention is ONNX Attention-23 */
};

typedef struct nn_pass__up {
    nn_pass__ctx *c;
    int64_t from, to;
} nn_pass__up;

static int nn_pass__up_reduce(const char *op) {
    static const char *const r[] = {"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
                                    "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSumSquare", NULL};
    for (int i = 0; r[i]; i++)
        if (strcmp(op, r[i]) == 0) return 1;
    return 0;
}

/* 1 when at least one output of n other than output 0 is present. */
static int nn_pass__up_extra_outputs(const nn_node *n) {
    for (uint32_t o = 1; o < n->output_count; o++)
        if (n->outputs[o].id != NN_INVALID_ID) return 1;
    return 0;
}

/* Chooses the rewrite of node n for from -> to; 0 with the reason in why
   when the node cannot be upgraded. */
static int nn_pass__up_plan(const nn_pass__up *u, const nn_graph *g, const nn_node *n, int *action, char *why,
                            size_t cap) {
    const char *op = n->op_type;
    int64_t f = u->from, t = u->to;
    *action = NN_UP__KEEP;
    if (strcmp(n->domain, "ai.nnport") == 0 && strcmp(op, "Attention") == 0) {
        if (t >= 23) *action = NN_UP__NNPORT_ATTN;
        return 1;
    }
    if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) return 1; /* other domains keep their own imports */
    const char *newop = op;
    if (strcmp(op, "Squeeze") == 0 || strcmp(op, "Unsqueeze") == 0 || strcmp(op, "ReduceSum") == 0) {
        const nn_attr *ax = nn_node_attr(n, "axes");
        if (f < 13 && t >= 13 && ax) *action = NN_UP__AXES_INPUT;
        if (ax && ax->type != NN_ATTR_INTS) { snprintf(why, cap, "axes is not a list of ints"); return 0; }
    } else if (nn_pass__up_reduce(op)) {
        const nn_attr *ax = nn_node_attr(n, "axes");
        if (f < 18 && t >= 18 && ax) *action = NN_UP__AXES_INPUT;
        if (ax && ax->type != NN_ATTR_INTS) { snprintf(why, cap, "axes is not a list of ints"); return 0; }
    } else if (strcmp(op, "Split") == 0) {
        int has_split = n->input_count >= 2 && n->inputs[1].id != NN_INVALID_ID;
        if ((f < 13 && t >= 13 && nn_node_attr(n, "split")) ||
            (f < 18 && t >= 18 && !has_split && !nn_node_attr(n, "split") && !nn_node_attr(n, "num_outputs")))
            *action = NN_UP__SPLIT;
    } else if (strcmp(op, "Slice") == 0) {
        if (f < 10 && t >= 10) {
            const nn_attr *sa = nn_node_attr(n, "starts"), *ea = nn_node_attr(n, "ends"), *aa = nn_node_attr(n, "axes");
            if (!sa || !ea || sa->type != NN_ATTR_INTS || ea->type != NN_ATTR_INTS || (aa && aa->type != NN_ATTR_INTS)) {
                snprintf(why, cap, "starts/ends attributes missing or not ints");
                return 0;
            }
            *action = NN_UP__SLICE;
        }
    } else if (strcmp(op, "Pad") == 0) {
        if (f < 11 && t >= 11) {
            const nn_attr *v = nn_node_attr(n, "value");
            nn_dtype dt = g->tensors[n->inputs[0].id].dtype;
            if (v && v->f != 0.0f && dt != NN_DTYPE_FLOAT) {
                snprintf(why, cap, "a non-zero pad value on a %s input", nn_dtype_name(dt));
                return 0;
            }
            const nn_attr *pa = nn_node_attr(n, "pads");
            if (!pa || pa->type != NN_ATTR_INTS) { snprintf(why, cap, "no pads attribute"); return 0; }
            *action = NN_UP__PAD;
        }
    } else if (strcmp(op, "Clip") == 0) {
        if (f < 11 && t >= 11) {
            if ((nn_node_attr(n, "min") || nn_node_attr(n, "max")) && g->tensors[n->inputs[0].id].dtype != NN_DTYPE_FLOAT) {
                snprintf(why, cap, "min/max on a non-float32 (or unknown type) input");
                return 0;
            }
            if (nn_node_attr(n, "min") || nn_node_attr(n, "max")) *action = NN_UP__CLIP;
        }
    } else if (strcmp(op, "TopK") == 0) {
        if (f < 10 && t >= 10) *action = NN_UP__TOPK;
    } else if (strcmp(op, "Dropout") == 0) {
        /* Dropout-10 made the mask boolean (it was of the data type). */
        if (f < 10 && t >= 10 && nn_pass__up_extra_outputs(n)) {
            snprintf(why, cap, "the mask output changes type at opset 10");
            return 0;
        }
        if (f < 12 && t >= 12 && nn_node_attr(n, "ratio")) *action = NN_UP__DROPOUT;
    } else if (strcmp(op, "Softmax") == 0 || strcmp(op, "LogSoftmax") == 0 || strcmp(op, "Hardmax") == 0) {
        if (f < 13 && t >= 13) {
            if (g->tensors[n->inputs[0].id].shape.rank < 0) {
                snprintf(why, cap, "the input rank is unknown (the opset-13 axis meaning needs it)");
                return 0;
            }
            *action = NN_UP__SOFTMAX;
        }
    } else if (strcmp(op, "BatchNormalization") == 0) {
        if (nn_node_attr_int(n, "spatial", 1) != 1) { snprintf(why, cap, "spatial=0 has no opset-9 form"); return 0; }
        if (nn_pass__up_extra_outputs(n) && t >= 14 && f < 14) {
            snprintf(why, cap, "training outputs change meaning at opset 14");
            return 0;
        }
        if (nn_node_attr(n, "spatial") && t >= 9) *action = NN_UP__BN;
    } else if (strcmp(op, "Upsample") == 0) {
        if (t >= 10) {
            const char *mode = nn_node_attr_string(n, "mode", "nearest");
            if (strcmp(mode, "nearest") != 0 && strcmp(mode, "linear") != 0 && strcmp(mode, "bilinear") != 0) {
                snprintf(why, cap, "mode '%s'", mode);
                return 0;
            }
            *action = NN_UP__UPSAMPLE;
            newop = "Resize";
        }
    } else if (strcmp(op, "Resize") == 0) {
        if (f < 11 && t >= 11) *action = NN_UP__RESIZE10;
        const char *ctm = nn_node_attr_string(n, "coordinate_transformation_mode", "");
        if (t >= 13 && strcmp(ctm, "tf_half_pixel_for_nn") == 0) {
            snprintf(why, cap, "coordinate_transformation_mode tf_half_pixel_for_nn was removed at opset 13");
            return 0;
        }
    } else if (strcmp(op, "Scatter") == 0) {
        if (t >= 11) { *action = NN_UP__SCATTER; newop = "ScatterElements"; }
    } else if (strcmp(op, "GroupNormalization") == 0) {
        if (f < 21 && t >= 21) {
            /* the (G) constants are repeated C/G times each; C must be static */
            const nn_shape *xs = &g->tensors[n->inputs[0].id].shape;
            int64_t G = nn_node_attr_int(n, "num_groups", 0), C = xs->rank >= 2 ? xs->dims[1] : -1;
            size_t ns = 0, nb = 0;
            if (!nn_pass__const_f32(g, n->inputs[1], &ns) || !nn_pass__const_f32(g, n->inputs[2], &nb) || G <= 0 ||
                C <= 0 || C % G != 0 || (int64_t)ns != G || (int64_t)nb != G) {
                snprintf(why, cap, "scale and bias change from per group to per channel at opset 21, and here they "
                                   "are not constant float (G) vectors with a static channel count");
                return 0;
            }
            *action = NN_UP__GROUPNORM;
        }
    } else if (strcmp(op, "GridSample") == 0) {
        const char *m = nn_node_attr_string(n, "mode", "");
        if (f < 20 && t >= 20 && (strcmp(m, "bilinear") == 0 || strcmp(m, "bicubic") == 0)) *action = NN_UP__GRIDSAMPLE;
    } else if (strcmp(op, "Scan") == 0 && f < 9) {
        snprintf(why, cap, "Scan-8's batch axis has no later form");
        return 0;
    }
    /* Upsample/Resize nearest at opset 10 maps output i to floor(i / scale)
       (ONNX Upsample-9); Resize-11 keeps that with asymmetric + floor when
       no scale is below 1.  ORT rounds down-sampling differently, so
       anything else is refused. */
    if (*action == NN_UP__UPSAMPLE || *action == NN_UP__RESIZE10) {
        const char *mode = nn_node_attr_string(n, "mode", "nearest");
        if (strcmp(mode, "nearest") == 0) {
            const nn_attr *sa = nn_node_attr(n, "scales");
            const float *sc = NULL;
            size_t cnt = 0;
            if (sa && sa->type == NN_ATTR_FLOATS) { sc = sa->floats; cnt = sa->count; }
            else if (n->input_count >= 2) sc = nn_pass__const_f32(g, n->inputs[1], &cnt);
            if (!sc) { snprintf(why, cap, "nearest with scales that are not constant"); return 0; }
            for (size_t i = 0; i < cnt; i++)
                if (!(sc[i] >= 1.0f)) { snprintf(why, cap, "nearest down-sampling (scale %g)", (double)sc[i]); return 0; }
        }
        if (t < 11 && *action == NN_UP__RESIZE10) *action = NN_UP__KEEP;
    }
    if (!nn_op_find(newop, "", t)) {
        snprintf(why, cap, "%s has no opset-%lld form here", newop, (long long)t);
        return 0;
    }
    return 1;
}

/* 1 when the nodes of a subgraph body (any depth) need no rewrite. */
static int nn_pass__up_body_ok(const nn_pass__up *u, const nn_graph *b, char *why, size_t cap, const char **bad) {
    for (uint32_t i = 0; i < b->node_count; i++) {
        const nn_node *n = &b->nodes[i];
        int act;
        if (!nn_pass__up_plan(u, b, n, &act, why, cap)) { *bad = n->op_type; return 0; }
        if (act != NN_UP__KEEP) {
            snprintf(why, cap, "a rewrite inside a subgraph body (not supported)");
            *bad = n->op_type;
            return 0;
        }
        for (uint32_t s = 0; s < b->subgraph_count; s++)
            if (!nn_pass__up_body_ok(u, b->subgraphs[s], why, cap, bad)) return 0;
    }
    return 1;
}

/* Sets (replacing or appending) attribute a on node n. */
static nn_status nn_pass__up_set_attr(nn_pass__ctx *c, nn_node *n, const nn_attr *a) {
    for (uint32_t i = 0; i < n->attr_count; i++)
        if (strcmp(n->attrs[i].name, a->name) == 0) { n->attrs[i] = *a; return NN_OK; }
    nn_attr *at = (nn_attr *)nn_arena_alloc(&c->g->arena, (n->attr_count + 1) * sizeof(nn_attr));
    if (!at) return nn_diag_set(c->diag, NN_ERR_NOMEM, "opset", "out of memory");
    if (n->attr_count) memcpy(at, n->attrs, n->attr_count * sizeof(nn_attr));
    at[n->attr_count] = *a;
    n->attrs = at;
    n->attr_count++;
    return NN_OK;
}

/* An int64 (count) initializer from an INTS attribute, as input slot i. */
static nn_status nn_pass__up_ints_input(nn_pass__ctx *c, uint32_t ni, uint32_t slot, const int64_t *v, int64_t count,
                                        const char *suffix) {
    uint32_t t;
    nn_status st = nn_pass__tf4_ints(c, c->g->nodes[ni].name ? c->g->nodes[ni].name : "opset", suffix, v, count, &t);
    if (st == NN_OK) st = nn_pass__tf4_set_input(c, ni, slot, t);
    return st;
}

static nn_status nn_pass__up_attr_to_input(nn_pass__ctx *c, uint32_t ni, const char *attr, uint32_t slot) {
    const nn_attr *a = nn_node_attr(&c->g->nodes[ni], attr);
    if (!a) return NN_OK;
    nn_attr copy = *a;
    nn_pass__tf4_drop_attr(&c->g->nodes[ni], attr);
    if (copy.type == NN_ATTR_INT) return nn_pass__up_ints_input(c, ni, slot, &copy.i, 1, "_k");
    return nn_pass__up_ints_input(c, ni, slot, copy.ints, copy.count, attr[0] == 'a' ? "_axes" : "_split");
}

/* A float32 scalar initializer as input slot of node ni. */
static nn_status nn_pass__up_scalar_input(nn_pass__ctx *c, uint32_t ni, uint32_t slot, float v, const char *suffix) {
    uint32_t t;
    nn_shape s = nn_shape_make(0, NULL);
    nn_status st = nn_pass__tf_const(c, c->g->nodes[ni].name ? c->g->nodes[ni].name : "opset", suffix, NN_DTYPE_FLOAT,
                                     &s, &v, sizeof v, &t);
    if (st == NN_OK) st = nn_pass__tf4_set_input(c, ni, slot, t);
    return st;
}

/* Appends node op(ins) -> out with node ni's origin. */
static nn_status nn_pass__up_add_node(nn_pass__ctx *c, uint32_t ni, const char *op, const char *suffix,
                                      const uint32_t *ins, uint32_t nin, uint32_t out, const nn_attr *a) {
    nn_graph *g = c->g;
    char name[256];
    snprintf(name, sizeof name, "%.200s%s", g->nodes[ni].name ? g->nodes[ni].name : op, suffix);
    nn_tensor_id ti[4], to;
    for (uint32_t i = 0; i < nin; i++) ti[i].id = ins[i];
    to.id = out;
    nn_node_id id;
    const char *origin = g->nodes[ni].origin;
    nn_status st = nn_graph_add_node(g, op, "", name, ti, nin, &to, 1, &id, c->diag);
    if (st == NN_OK && a) st = nn_graph_add_attr(g, id, a, 0, c->diag);
    if (st == NN_OK) { g->nodes[id.id].origin = origin; c->stats->nodes_added++; }
    return st;
}

/* Softmax-1/11 coerces X to 2-D at axis a (default 1) and normalizes each
   row; Softmax-13 normalizes along one axis (default -1).  Equal when a is
   the last axis; otherwise Flatten(a) -> op(axis 1) -> Reshape(Shape(X)). */
static nn_status nn_pass__up_softmax(nn_pass__ctx *c, uint32_t ni) {
    nn_graph *g = c->g;
    nn_node *n = &g->nodes[ni];
    uint32_t x = n->inputs[0].id, y = n->outputs[0].id;
    int32_t r = g->tensors[x].shape.rank;
    int64_t a = nn_node_attr_int(n, "axis", 1);
    if (a < 0) a += r;
    if (a == r - 1 || r == 0) {
        nn_attr at = nn_pass__tf_attr_int("axis", -1);
        return nn_pass__up_set_attr(c, n, &at);
    }
    nn_status st;
    nn_tensor_id f, s, shp;
    int64_t rows = 1, cols = 1;
    int ok = 1;
    for (int32_t d = 0; d < r; d++) {
        int64_t v = g->tensors[x].shape.dims[d];
        if (v < 0) ok = 0;
        else if (d < a) rows *= v;
        else cols *= v;
    }
    int64_t fd[2] = {ok ? rows : NN_DIM_UNKNOWN, ok ? cols : NN_DIM_UNKNOWN}, rd = r;
    nn_shape fs = nn_shape_make(2, fd), rs = nn_shape_make(1, &rd);
    const char *base = g->tensors[y].name;
    st = nn_pass__new_tensor(g, base, "_flat", g->tensors[x].dtype, &fs, &f, c->diag);
    if (st == NN_OK) st = nn_pass__new_tensor(g, base, "_2d", g->tensors[x].dtype, &fs, &s, c->diag);
    if (st != NN_OK) return st;
    if (ok) { /* static shape: a constant target */
        uint32_t t;
        st = nn_pass__tf4_ints(c, base, "_shape", g->tensors[x].shape.dims, r, &t);
        shp.id = t;
    } else {
        st = nn_pass__new_tensor(g, base, "_shape", NN_DTYPE_INT64, &rs, &shp, c->diag);
        if (st == NN_OK) st = nn_pass__up_add_node(c, ni, "Shape", "_shape", &x, 1, shp.id, NULL);
    }
    nn_attr fa = nn_pass__tf_attr_int("axis", a);
    if (st == NN_OK) st = nn_pass__up_add_node(c, ni, "Flatten", "_flatten", &x, 1, f.id, &fa);
    if (st != NN_OK) return st;
    n = &g->nodes[ni]; /* adding nodes may have moved the node array */
    nn_attr sa = nn_pass__tf_attr_int("axis", 1);
    if ((st = nn_pass__up_set_attr(c, n, &sa)) != NN_OK) return st;
    n->inputs[0].id = f.id;
    n->outputs[0].id = s.id;
    g->tensors[s.id].producer.id = ni;
    g->tensors[y].producer.id = NN_INVALID_ID;
    uint32_t rin[2] = {s.id, shp.id};
    return nn_pass__up_add_node(c, ni, "Reshape", "_reshape", rin, 2, y, NULL);
}

static nn_status nn_pass__up_node(nn_pass__up *u, uint32_t ni, int action) {
    nn_pass__ctx *c = u->c;
    nn_graph *g = c->g;
    nn_node *n = &g->nodes[ni];
    nn_status st = NN_OK;
    const char *what = n->op_type;
    switch (action) {
    case NN_UP__AXES_INPUT: st = nn_pass__up_attr_to_input(c, ni, "axes", 1); break;
    case NN_UP__SPLIT:
        if (nn_node_attr(n, "split") && u->from < 13) st = nn_pass__up_attr_to_input(c, ni, "split", 1);
        else {
            nn_attr a = nn_pass__tf_attr_int("num_outputs", n->output_count);
            st = nn_pass__up_set_attr(c, n, &a);
        }
        break;
    case NN_UP__SLICE: {
        const nn_attr *sa = nn_node_attr(n, "starts"), *ea = nn_node_attr(n, "ends"), *aa = nn_node_attr(n, "axes");
        nn_attr s0 = sa ? *sa : nn_pass__tf_attr_int("starts", 0), e0 = ea ? *ea : s0, a0 = aa ? *aa : s0;
        nn_pass__tf4_drop_attr(n, "starts");
        nn_pass__tf4_drop_attr(n, "ends");
        nn_pass__tf4_drop_attr(n, "axes");
        st = nn_pass__up_ints_input(c, ni, 1, s0.ints, s0.count, "_starts");
        if (st == NN_OK) st = nn_pass__up_ints_input(c, ni, 2, e0.ints, e0.count, "_ends");
        if (st == NN_OK && aa) st = nn_pass__up_ints_input(c, ni, 3, a0.ints, a0.count, "_axes");
        break;
    }
    case NN_UP__PAD: {
        const nn_attr *pa = nn_node_attr(n, "pads"), *va = nn_node_attr(n, "value");
        nn_attr p0 = *pa;
        float v = va ? va->f : 0.0f;
        nn_pass__tf4_drop_attr(n, "pads");
        nn_pass__tf4_drop_attr(n, "value");
        st = nn_pass__up_ints_input(c, ni, 1, p0.ints, p0.count, "_pads");
        if (st == NN_OK && v != 0.0f) st = nn_pass__up_scalar_input(c, ni, 2, v, "_value");
        break;
    }
    case NN_UP__CLIP: {
        const nn_attr *lo = nn_node_attr(n, "min"), *hi = nn_node_attr(n, "max");
        int has_lo = lo != NULL, has_hi = hi != NULL;
        float l = lo ? lo->f : 0, h = hi ? hi->f : 0;
        nn_pass__tf4_drop_attr(n, "min");
        nn_pass__tf4_drop_attr(n, "max");
        if (has_lo) st = nn_pass__up_scalar_input(c, ni, 1, l, "_min");
        if (st == NN_OK && has_hi) {
            if (!has_lo) st = nn_pass__tf4_set_input(c, ni, 1, NN_INVALID_ID);
            if (st == NN_OK) st = nn_pass__up_scalar_input(c, ni, 2, h, "_max");
        }
        break;
    }
    case NN_UP__TOPK: st = nn_pass__up_attr_to_input(c, ni, "k", 1); break;
    case NN_UP__DROPOUT: {
        float r = nn_node_attr_float(n, "ratio", 0.5f);
        nn_pass__tf4_drop_attr(n, "ratio");
        st = nn_pass__up_scalar_input(c, ni, 1, r, "_ratio");
        break;
    }
    case NN_UP__SOFTMAX: st = nn_pass__up_softmax(c, ni); break;
    case NN_UP__BN: nn_pass__tf4_drop_attr(n, "spatial"); break;
    case NN_UP__UPSAMPLE:
    case NN_UP__RESIZE10: {
        const char *mode = nn_node_attr_string(n, "mode", "nearest");
        int nearest = strcmp(mode, "nearest") == 0;
        const nn_attr *sa = nn_node_attr(n, "scales");
        if (sa) { /* Upsample-7: scales attribute -> input */
            nn_attr s0 = *sa;
            int64_t cnt = s0.count;
            nn_shape sh = nn_shape_make(1, &cnt);
            uint32_t t;
            nn_pass__tf4_drop_attr(n, "scales");
            st = nn_pass__tf_const(c, n->name ? n->name : "opset", "_scales", NN_DTYPE_FLOAT, &sh, s0.floats,
                                   (size_t)cnt * sizeof(float), &t);
            if (st == NN_OK) st = nn_pass__tf4_set_input(c, ni, 1, t);
            n = &g->nodes[ni];
        }
        if (st != NN_OK) break;
        n->op_type = "Resize";
        if (u->to >= 11) { /* Resize-11: (X, roi, scales); roi empty (optional from 13) */
            uint32_t sc = n->inputs[1].id, roi = NN_INVALID_ID;
            if (u->to < 13) {
                int64_t z = 0;
                nn_shape zs = nn_shape_make(1, &z);
                float dummy = 0;
                st = nn_pass__tf_const(c, n->name ? n->name : "opset", "_roi", NN_DTYPE_FLOAT, &zs, &dummy, 0, &roi);
            }
            if (st == NN_OK) st = nn_pass__tf4_set_input(c, ni, 2, sc);
            if (st == NN_OK) st = nn_pass__tf4_set_input(c, ni, 1, roi);
            n = &g->nodes[ni];
            nn_attr m = nn_pass__tf_attr_str("mode", nearest ? "nearest" : "linear");
            nn_attr ctm = nn_pass__tf_attr_str("coordinate_transformation_mode", "asymmetric");
            nn_attr nm = nn_pass__tf_attr_str("nearest_mode", "floor");
            if (st == NN_OK) st = nn_pass__up_set_attr(c, n, &m);
            if (st == NN_OK) st = nn_pass__up_set_attr(c, n, &ctm);
            if (st == NN_OK && nearest) st = nn_pass__up_set_attr(c, n, &nm);
        } else if (!nearest) {
            nn_attr m = nn_pass__tf_attr_str("mode", "linear");
            st = nn_pass__up_set_attr(c, n, &m);
        }
        break;
    }
    case NN_UP__SCATTER: n->op_type = "ScatterElements"; break;
    case NN_UP__GRIDSAMPLE: {
        const char *m = nn_node_attr_string(n, "mode", "");
        const char *to = strcmp(m, "bilinear") == 0 ? "linear" : strcmp(m, "bicubic") == 0 ? "cubic" : NULL;
        if (to) {
            nn_attr a = nn_pass__tf_attr_str("mode", to);
            st = nn_pass__up_set_attr(c, n, &a);
        }
        break;
    }
    case NN_UP__NNPORT_ATTN: n->domain = ""; break;
    case NN_UP__GROUPNORM: {
        int64_t G = nn_node_attr_int(n, "num_groups", 1), C = g->tensors[n->inputs[0].id].shape.dims[1];
        float *buf = (float *)nn_alloc(&g->alloc, (size_t)C * sizeof(float));
        if (!buf) { st = nn_diag_set(c->diag, NN_ERR_NOMEM, "opset", "out of memory"); break; }
        for (uint32_t k = 1; k <= 2 && st == NN_OK; k++) {
            size_t cnt;
            const float *v = nn_pass__const_f32(g, g->nodes[ni].inputs[k], &cnt);
            for (int64_t ch = 0; ch < C; ch++) buf[ch] = v[ch / (C / G)];
            nn_shape cs = nn_shape_make(1, &C);
            uint32_t t;
            st = nn_pass__tf_const(c, g->tensors[g->nodes[ni].inputs[k].id].name, "_per_channel", NN_DTYPE_FLOAT, &cs, buf,
                                   (size_t)C * sizeof(float), &t);
            if (st == NN_OK) g->nodes[ni].inputs[k].id = t;
        }
        nn_free(&g->alloc, buf);
        break;
    }
    default: return NN_OK;
    }
    if (st == NN_OK) {
        c->stats->nodes_changed++;
        nn_pass__note(c, "opset", "%s '%s' rewritten for opset %lld", what, nn_graph__node_label(&g->nodes[ni]),
                      (long long)u->to);
    }
    return st;
}

static nn_status nn_pass__opset(nn_pass__ctx *c) {
    nn_graph *g = c->g;
    nn_pass__up u;
    memset(&u, 0, sizeof u);
    u.c = c;
    u.from = nn_graph_opset(g, "");
    u.to = c->desc && c->desc->target_opset ? c->desc->target_opset : 23;
    if (u.to < 7 || u.to > 23)
        return nn_diag_set(c->diag, NN_ERR_UNSUPPORTED, "opset", "target opset %lld is outside 7..23", (long long)u.to);
    if (u.from >= u.to) return NN_OK; /* already there (a downgrade is not done) */
    if (u.from < 7)
        return nn_diag_set(c->diag, NN_ERR_UNSUPPORTED, "opset",
                           "upgrading from opset %lld is not supported (the 'broadcast' and 'consumed_inputs' forms "
                           "before opset 7 have no rule)", (long long)u.from);
    /* Softmax's rewrite needs ranks and Pad/Clip need types, so shapes are
       inferred first; a graph whose shapes contradict inference (or holds an
       op without a rule here) is left as it came, as to4d does. */
    nn_diag local;
    memset(&local, 0, sizeof local);
    /* inferred types and shapes are put back on a refusal (graph unchanged) */
    nn_tensor *saved = (nn_tensor *)nn_alloc(&g->alloc, ((size_t)g->tensor_count + 1) * sizeof(nn_tensor));
    if (!saved) return nn_diag_set(c->diag, NN_ERR_NOMEM, "opset", "out of memory");
    if (g->tensor_count) memcpy(saved, g->tensors, g->tensor_count * sizeof(nn_tensor));
    if (nn_graph_infer_shapes(g, NULL, 0, &local) != NN_OK) {
        nn_free(&g->alloc, saved);
        if (c->desc && c->desc->log) {
            char msg[512];
            snprintf(msg, sizeof msg, "left unchanged: shape inference fails at %.200s: %.256s", local.where, local.message);
            c->desc->log(c->desc->user, "opset", msg);
        }
        return NN_OK;
    }
    uint32_t nn0 = g->node_count, nt0 = g->tensor_count;
    uint8_t *act = (uint8_t *)nn_alloc(&g->alloc, (size_t)nn0 + 1);
    if (!act) { nn_free(&g->alloc, saved); return nn_diag_set(c->diag, NN_ERR_NOMEM, "opset", "out of memory"); }
    char why[200];
    nn_status st = NN_OK;
    for (uint32_t i = 0; i < nn0 && st == NN_OK; i++) {
        const nn_node *n = &g->nodes[i];
        int a;
        const char *bad = n->op_type;
        int ok = nn_pass__up_plan(&u, g, n, &a, why, sizeof why);
        for (uint32_t k = 0; ok && k < n->attr_count; k++) {
            if (n->attrs[k].type == NN_ATTR_GRAPH && n->attrs[k].g)
                ok = nn_pass__up_body_ok(&u, n->attrs[k].g, why, sizeof why, &bad);
            for (uint32_t j = 0; ok && n->attrs[k].type == NN_ATTR_GRAPHS && j < n->attrs[k].count; j++)
                ok = nn_pass__up_body_ok(&u, n->attrs[k].graphs[j], why, sizeof why, &bad);
        }
        if (!ok)
            st = nn_diag_set(c->diag, NN_ERR_UNSUPPORTED, nn_graph__node_label(n),
                             "opset %lld -> %lld: %s '%s': %s; graph unchanged", (long long)u.from, (long long)u.to,
                             bad, nn_graph__node_label(n), why);
        act[i] = (uint8_t)a;
    }
    if (st != NN_OK)
        for (uint32_t t = 0; t < nt0; t++) {
            g->tensors[t].dtype = saved[t].dtype;
            g->tensors[t].shape = saved[t].shape;
        }
    nn_free(&g->alloc, saved);
    for (uint32_t i = 0; i < nn0 && st == NN_OK; i++)
        if (act[i] != NN_UP__KEEP) st = nn_pass__up_node(&u, i, act[i]);
    nn_free(&g->alloc, act);
    if (st == NN_OK) st = nn_graph_set_opset(g, "", u.to, c->diag);
    if (st == NN_OK) {
        c->stats->nodes_changed++; /* the import itself */
        nn_pass__note(c, "opset", "default-domain opset %lld -> %lld", (long long)u.from, (long long)u.to);
    }
    if (g->node_count != nn0) {
        nn_pass__compact(g, c->dead, nn0);
        memset(c->dead, 0, nn0 + 1);
        nn_status s2 = nn_graph_sort(g, c->diag);
        if (st == NN_OK) st = s2;
    }
    return st;
}

/* -- the pass table and driver -- */

typedef nn_status (*nn_pass__fn)(nn_pass__ctx *c);
static const struct { nn_pass_info info; nn_pass__fn fn; } nn_pass__table[] = {
    {{"dce", "remove nodes whose outputs reach no graph output"}, nn_pass__dce},
    {{"identity", "remove Identity, inference Dropout, same-type Cast, shape ops that keep the shape"}, nn_pass__identity},
    {{"fold", "evaluate nodes of constant inputs (and Shape of static shapes) into initializers"}, nn_pass__fold},
    {{"bn", "fold BatchNormalization into the Conv/ConvTranspose/Gemm (or MatMul of a 2-D constant) before it"}, nn_pass__bn},
    {{"noop", "remove Transpose of identity perm or cancelling pairs, whole Slice, zero Pad, x*1, x+0"}, nn_pass__noop},
    {{"cse", "merge equal initializers and nodes that repeat an earlier node"}, nn_pass__cse},
    {{"affine", "fold per-channel Mul/Add/Sub/Div/BatchNormalization by constants into Conv/ConvTranspose/Gemm"}, nn_pass__affine},
    {{"act", "fuse Relu/Clip/LeakyRelu/HardSigmoid/Sigmoid/Tanh into Conv/Gemm (FusedConv/FusedGemm), x*Sigmoid(x) into QuickGelu"}, nn_pass__act},
    {{"layernorm", "fuse the split LayerNorm (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add) into LayerNormalization"}, nn_pass__layernorm},
    {{"gelu", "fuse the Erf and Tanh GELU forms into Gelu (opset 20) or com.microsoft Gelu/FastGelu"}, nn_pass__gelu},
    {{"act_npu", "fuse HardSwish/QuickGelu/Gelu/FastGelu into Conv/Gemm as ai.nnport FusedConv/FusedGemm (not loadable by ONNX Runtime)"}, nn_pass__act_npu},
    {{"hswish", "fuse x*Clip(x+3,0,6)/6 and x*HardSigmoid(x,1/6,1/2) into HardSwish (opset 14)"}, nn_pass__hswish},
    {{"attention", "fuse MatMul(Q,K^T), scale, mask, Softmax, MatMul(V) into Attention (opset 23) or ai.nnport Attention"}, nn_pass__attention},
    {{"matmul_add", "fuse MatMul of a 2-D input and constant weight plus a constant bias into Gemm"}, nn_pass__matmul_add},
    {{"to4d", "make every activation rank 4 (leading 1s), Gemm -> MatMul+Add, reshapes only at the graph boundary"}, nn_pass__to4d},
    {{"opset", "upgrade the default-domain opset import (target_opset, default 23), rewriting nodes whose signature changed"}, nn_pass__opset},
};

NN_API const nn_pass_info *nn_pass_at(size_t index) {
    return index < sizeof nn_pass__table / sizeof nn_pass__table[0] ? &nn_pass__table[index].info : NULL;
}

/* Drops dead nodes (keeping order, so a topological order stays one) and
   recomputes every tensor's producer.  dead covers the dead_count nodes the
   pass started with; nodes a pass appended (to4d, attention) are kept. */
static void nn_pass__compact(nn_graph *g, const uint8_t *dead, uint32_t dead_count) {
    uint32_t j = 0;
    for (uint32_t i = 0; i < g->node_count; i++)
        if (i >= dead_count || !dead[i]) g->nodes[j++] = g->nodes[i];
    g->node_count = j;
    for (uint32_t t = 0; t < g->tensor_count; t++) g->tensors[t].producer.id = NN_INVALID_ID;
    for (uint32_t n = 0; n < g->node_count; n++)
        for (uint32_t o = 0; o < g->nodes[n].output_count; o++)
            if (g->nodes[n].outputs[o].id != NN_INVALID_ID) g->tensors[g->nodes[n].outputs[o].id].producer.id = n;
}

NN_API nn_status nn_graph_run_pass(nn_graph *g, const char *name, const nn_pass_desc *d, nn_pass_stats *out,
                                   nn_diag *diag) {
    NN_ASSERT(g && name);
    nn_pass_stats stats;
    memset(&stats, 0, sizeof stats);
    if (out) *out = stats;
    size_t pi = 0, np = sizeof nn_pass__table / sizeof nn_pass__table[0];
    while (pi < np && strcmp(nn_pass__table[pi].info.name, name) != 0) pi++;
    if (pi == np) return nn_diag_set(diag, NN_ERR_ARG, name, "no graph pass named '%s'", name);
    uint32_t nn = g->node_count, nt = g->tensor_count;
    uint32_t *order = (uint32_t *)nn_alloc(&g->alloc, (size_t)(nn + 1) * sizeof(uint32_t));
    uint8_t *dead = (uint8_t *)nn_alloc(&g->alloc, (size_t)nn + 1);
    uint32_t *uses = (uint32_t *)nn_alloc(&g->alloc, (size_t)(nt + 1) * sizeof(uint32_t) * 2);
    nn_status st = (!order || !dead || !uses) ? nn_diag_set(diag, NN_ERR_NOMEM, name, "out of memory") : NN_OK;
    /* The check before any change: a malformed graph is returned as it came. */
    if (st == NN_OK) st = nn_graph_topo_order(g, order, diag);
    if (st == NN_OK) {
        memset(dead, 0, (size_t)nn + 1);
        nn_pass__ctx c;
        memset(&c, 0, sizeof c);
        c.g = g;
        c.desc = d;
        c.fold_max_bytes = d && d->fold_max_bytes ? d->fold_max_bytes : NN_PASS__FOLD_MAX_DEFAULT;
        c.order = order;
        c.dead = dead;
        c.uses = uses;
        c.stats = &stats;
        c.diag = diag;
        st = nn_pass__table[pi].fn(&c);
        /* Work done before a failure (out of memory) is still valid IR. */
        nn_pass__compact(g, dead, nn);
    }
    nn_free(&g->alloc, order);
    nn_free(&g->alloc, dead);
    nn_free(&g->alloc, uses);
    if (st == NN_OK && d && d->log) {
        char msg[160];
        snprintf(msg, sizeof msg, "removed %u nodes, added %u, fused %u, changed %u; initializers +%u -%u, %u merged",
                 stats.nodes_removed, stats.nodes_added, stats.nodes_fused, stats.nodes_changed, stats.tensors_added,
                 stats.tensors_removed, stats.tensors_merged);
        d->log(d->user, name, msg);
    }
    if (out) *out = stats;
    return st;
}

NN_API nn_status nn_graph_run_passes(nn_graph *g, const char *names, const nn_pass_desc *d, nn_pass_stats *out,
                                     nn_diag *diag) {
    NN_ASSERT(g && names);
    nn_pass_stats sum, one;
    memset(&sum, 0, sizeof sum);
    nn_status st = NN_OK;
    const char *p = names;
    while (*p && st == NN_OK) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char name[64];
        if (len >= sizeof name) return nn_diag_set(diag, NN_ERR_ARG, names, "pass name too long in '%s'", names);
        memcpy(name, p, len);
        name[len] = 0;
        if (len) {
            st = nn_graph_run_pass(g, name, d, &one, diag);
            sum.nodes_removed += one.nodes_removed;
            sum.nodes_added += one.nodes_added;
            sum.nodes_fused += one.nodes_fused;
            sum.tensors_added += one.tensors_added;
            sum.tensors_removed += one.tensors_removed;
            sum.tensors_merged += one.tensors_merged;
            sum.nodes_changed += one.nodes_changed;
        }
        p = e ? e + 1 : p + len;
    }
    if (out) *out = sum;
    return st;
}


/* -- templates: named pass lists per model kind -- */

/* cv: CNNs (PP-OCR, ResNet, MobileNet); lvm/llm: transformers, which add
   the transformer patterns and the 4-D conversion, and start with opset
   (default 23) so that attention emits ONNX Attention-23, which ONNX
   Runtime loads, instead of ai.nnport Attention.  cv starts with opset
   too: the HardSwish that hswish emits is an opset-14 operator, and the
   PP-OCR models are opset 9 and 11 (a target_opset of 14 or more keeps
   hswish working). */
static const struct { const char *name, *passes, *help; } nn_pass__templates[] = {
    {"cv", "opset,fold,identity,noop,cse,bn,affine,hswish,act,dce", "convolutional vision models"},
    {"lvm", "opset,fold,identity,noop,cse,bn,affine,hswish,layernorm,gelu,attention,matmul_add,act,to4d,dce",
     "vision transformers"},
    {"llm", "opset,fold,identity,noop,cse,bn,affine,hswish,layernorm,gelu,attention,matmul_add,act,to4d,dce",
     "language models"},
};

NN_API const char *nn_graph_template_passes(const char *name) {
    for (size_t i = 0; i < sizeof nn_pass__templates / sizeof nn_pass__templates[0]; i++)
        if (strcmp(nn_pass__templates[i].name, name) == 0) return nn_pass__templates[i].passes;
    return NULL;
}

NN_API const char *nn_graph_template_at(size_t index) {
    return index < sizeof nn_pass__templates / sizeof nn_pass__templates[0] ? nn_pass__templates[index].name : NULL;
}

NN_API nn_status nn_graph_run_template(nn_graph *g, const char *name, const nn_pass_desc *d, nn_pass_stats *out,
                                       nn_diag *diag) {
    NN_ASSERT(g && name);
    if (out) memset(out, 0, sizeof *out);
    const char *list = nn_graph_template_passes(name);
    if (!list) return nn_diag_set(diag, NN_ERR_ARG, name, "no template named '%s' (cv, lvm, llm)", name);
    /* Every pass must exist before the first runs: a template is all or nothing. */
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ","), k = 0;
        while (nn_pass_at(k) && !(strlen(nn_pass_at(k)->name) == len && strncmp(nn_pass_at(k)->name, p, len) == 0)) k++;
        if (!nn_pass_at(k))
            return nn_diag_set(diag, NN_ERR_UNSUPPORTED, name, "template '%s' needs pass '%.*s', which this build lacks",
                               name, (int)len, p);
        p += len + (p[len] == ',');
    }
    return nn_graph_run_passes(g, list, d, out, diag);
}

#endif /* NN_GRAPH_IMPLEMENTATION_DONE */
#endif /* NN_IMPLEMENTATION */

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
