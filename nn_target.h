/* nn_target.h - the NPU back end: target descriptions, activation memory
   planning, layer groups and tiling into local memory, a cycle estimate,
   patch-based planning of a CNN's first layers; and the lowering of a QDQ
   graph (nn_quant.h) to an integer program, its binary model file (.nnb,
   docs/FORMAT.md) and the simulator that runs it, bit-exact with nn_quant.h's
   fake-quant executor.  Version 0.2.0.

   BUILD
     In exactly one C or C++ file:
         #define NN_IMPLEMENTATION
         #include "nn_target.h"
     NN_IMPLEMENTATION also expands nn_graph.h, nn_verify.h, nn_calib.h and
     nn_quant.h.  NN_TARGET_IMPLEMENTATION alone expands only this header's
     code, and needs nn_quant.h's implementation (NN_QUANT_IMPLEMENTATION)
     earlier in the same translation unit: the lowering reads the fake-quant
     executor's recognised groups so the two cannot drift apart.  Needs -lm.

   CONFIG MACROS (define before the implementation include)
     NN_ASSERT(x)            assert() by default; API misuse only.
     NN_MAX_TARGET_CORES     64: most cores a target description may claim.
     NN_MAX_TARGET_OPS       512: longest supported-op list (entries).
     NN_MAX_TARGET_INSTRS    2^20: most instructions a model file may hold.
     NN_MAX_TARGET_SLOTS     2^22: most tensor slots a model file may hold.
     NN_MAX_TARGET_ARENA     2^40: largest arena, scratch or tensor a model file may ask for.
     NN_MAX_PATCH_BANDS      4096: most bands nn_target_patchify cuts a prefix into.

   QUICK START
       nn_diag d = {0};
       nn_target_desc t;
       nn_target_preset("npu-small", &t, &d);
       nn_graph_infer_shapes(g, shapes, 1, &d);          (static shapes needed)
       nn_target_memory_desc md = {0};
       md.bytes_rule = NN_TARGET_BYTES_INT8;            (plan a float graph as int8)
       nn_target_memory_plan mp;
       if (nn_target_plan_memory(g, &md, &mp, &d) == NN_OK)
           printf("arena %llu bytes (bound %llu)\n",
                  (unsigned long long)mp.arena_bytes, (unsigned long long)mp.bound_bytes);
       nn_target_group_desc gd = {0};
       gd.bytes_rule = NN_TARGET_BYTES_INT8;
       gd.order = mp.order; gd.order_count = mp.step_count;
       nn_target_group_plan gp;
       if (nn_target_plan_groups(g, &t, &gd, &gp, &d) == NN_OK)
           printf("%.3f ms\n", gp.latency_ms);
       nn_target_group_plan_deinit(&gp);
       nn_target_memory_plan_deinit(&mp);

       nn_target_program *p;                              (a QDQ graph q -> program)
       nn_target_compile(q, &t, NULL, &p, &d);
       nn_target_save(p, nn_verify_write_file, f, &d);    (the .nnb file)
       void *mem = aligned_alloc(64, nn_target_sim_scratch_bytes(p));
       nn_value out[1];
       nn_target_sim_run(p, mem, nn_target_sim_scratch_bytes(p), &input, out, &d);
       nn_target_program_destroy(p);                      (a file: nn_target_load_memory)

   DESIGN
     Memory.  Every activation (graph input or output of a node that reads
       an activation) gets a lifetime [first, last] in steps of a node
       order.  Placement in one arena is done twice and the smaller kept:
       greedy by size (Pisarchyk & Lee 2020, "Efficient Memory Management
       for Deep Neural Net Inference", sec. 4.3: largest first, smallest
       gap between buffers alive at the same time) and best fit in order of
       first use (the same gap search in allocation order: what a running
       best-fit allocator does).  The lower bound is the largest total
       alive at one step; any placement of those buffers needs at least
       that.  Going below it: storage shared by construction, then placed
       as one buffer - views (Reshape, Flatten, Squeeze, Unsqueeze,
       Identity) share their input; an element-wise op writes over an
       input it reads for the last time (in place); Concat is done by
       address (its producers write into slices of its output); and two
       other node orders, greedy by live memory and depth-first from the
       outputs (larger operand first), are tried and kept when they need
       less.  Weights (initializers and what is computed from
       initializers alone) go to a separate region, 64-byte aligned.
     Groups.  Consecutive row-wise layers (Conv, pools, element-wise,
       Resize, channel Concat on NCHW) whose intermediates nothing else
       reads are chained into a group and computed tile by tile: a tile is
       R output rows of the last layer; rows needed upstream follow from
       kernel, stride and dilation (halos are recomputed).  R is the
       largest that keeps input tiles + every layer's output tile +
       the group's weights inside local memory; a single layer that does
       not fit with one row is also split by output channels (weight
       slices).  Other ops tile by rows of their leading dimensions.
     Cost.  cycles(group) = max(compute, DMA) + fixed overheads, with
       compute = sum of MACs / MAC rate (int8; the 16-bit rate for 2-byte
       tensors) + vector elements / vector width, and DMA = bytes moved
       from and to external memory / DMA bytes per cycle.  Overheads:
       group_cycles per group, tile_cycles per tile, layer_cycles per layer
       per tile.  Multi-core: each group splits its tiles over the cores by
       rows, or its output channels (Pulsar2's npu_mode idea), whichever
       estimates fewer cycles; DMA bandwidth is shared.
     Patches.  For MCU-sized memories the leading high-resolution layers
       can run in bands of rows (MCUNetV2, Lin et al. 2021):
       nn_target_plan_patches picks the prefix and band height with the
       lowest peak within a recomputation budget.
     Lowering.  nn_target_compile builds nn_qexec's recognition of the QDQ
       graph and takes its integer groups (DQ -> op [-> Relu/Clip] -> Q) as
       they are: one instruction each, calling the kernel nn_qexec calls with
       nn_qexec's multipliers, bias, packed weights and tables (copied into
       the weights region, 64-byte aligned).  Every other node is a "cpu"
       instruction running nn_graph.h's reference kernel (a float island),
       or is evaluated at compile time when it reads only constants.  Shapes
       are propagated as nn_qexec sees them at run time.  The lowered graph
       (one node per instruction, each tensor its own dtype) is memory
       planned as above, so every activation gets an arena offset.  The
       program is written as its file image and loaded back: compiling and
       loading share one validated path.
     Simulator.  Runs the instructions in the plan's order in caller memory
       (arena, then scratch); kernels needing scratch get it from that
       memory (a bump allocator for the reference kernels), so a run never
       allocates.
     Multi-batch.  nn_target_compile_desc.batch_sizes (or max_batch, sizes
       kept by the cost model's cycles per sample) lowers the graph once
       per batch size, its inputs' first dim re-shaped; the programs share
       one weights region (equal items stored once) in one file
       (docs/FORMAT.md, version 2).  nn_target_sim_run_batch runs any N as
       a sum of programs, largest first, on slices of the inputs; bit for
       bit equal to batch-1 runs (float Gemm/MatMul islands run per sample).
     NV12 input.  input_format NV12/NV21 makes graph input 0 a u8 YUV420SP
       frame; its QuantizeLinear becomes a "yuv" instruction: BT.601 in
       exact integer arithmetic (nn_target_yuv_pixel), then a 3 x 256 table per
       plane folding mean, scale and the quantization.
   OWNERSHIP  Plans own their arrays (allocator of their desc); deinit
     releases them.  Plans refer to tensors and nodes of the graph by
     index; the graph is only read.
   ERRORS  Fallible functions return nn_status and fill the caller's nn_diag
     (first error wins); *out is untouched on failure.  A tensor that is
     read without a static shape is NN_ERR_SHAPE naming it.
   MEMORY  Plans hold O(tensors + nodes) entries; planning allocates
     temporaries of the same order and takes O(buffers^2) time.
   THREADS  No global state; plans are read-only once made.
   LIMITS  Target fields outside sane ranges are refused (NN_ERR_ARG,
     naming the field); cores above NN_MAX_TARGET_CORES and op lists longer
     than NN_MAX_TARGET_OPS are NN_ERR_LIMIT.  Sizes are 64-bit and
     overflow-checked.  A model file is untrusted input: the loader checks
     its checksum, every count against the NN_MAX_TARGET_* caps, every
     offset and size against its region, every enum, string and kernel
     parameter (zero points, clamps, accumulator bounds, multiplier ranges)
     before use, and names the field on refusal; the simulator then never
     reads or writes outside the arena, its scratch and the weights
     (tests/fuzz/fuzz_nnb.c).  Big-endian hosts are refused.
   PROGRAMS  A program owns its image and arrays (compile) or borrows the
     caller's bytes (load, unless copied); the simulator runs in caller
     memory and never allocates.
*/
#ifndef NN_TARGET_H
#define NN_TARGET_H

#ifndef NN_MAX_TARGET_CORES
#define NN_MAX_TARGET_CORES 64
#endif
#ifndef NN_MAX_TARGET_OPS
#define NN_MAX_TARGET_OPS 512
#endif

#include "nn_quant.h"

#define NN_TARGET_VERSION_MAJOR 0
#define NN_TARGET_VERSION_MINOR 2
#define NN_TARGET_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* ---- target descriptions ----------------------------------------------- */

/* One accelerator.  Zero fields take the defaults shown (npu-small's). */
typedef struct nn_target_desc {
    const char *name;             /* for reports; NULL: "custom" */
    uint64_t local_bytes;         /* local memory per core; 0: 256 KiB */
    uint32_t cores;               /* 0: 1 */
    uint32_t macs_s8;             /* int8 x int8 MACs per cycle per core; 0: 256 */
    uint32_t macs_s16;            /* 16-bit x 8-bit MACs per cycle per core; 0: macs_s8 / 2 */
    uint32_t vector_elems;        /* vector-unit elements per cycle per core; 0: 16 */
    uint32_t dma_bytes;           /* external-memory bytes per cycle, all cores together; 0: 8 */
    uint32_t clock_mhz;           /* 0: 500 */
    uint32_t dtypes;              /* mask of 1u << nn_dtype computed natively; 0: int8, uint8, int16, int32 */
    const char *ops;              /* comma-separated ONNX op types the accelerator runs; NULL: every op */
    uint32_t cpu_cycles_per_elem; /* an op the accelerator lacks runs on the host: cycles per output element; 0: 8 */
    uint32_t group_cycles;        /* fixed cost per layer group (command fetch, setup); 0: 256 */
    uint32_t tile_cycles;         /* fixed cost per tile (DMA descriptors, pipeline fill); 0: 64 */
    uint32_t layer_cycles;        /* fixed cost per layer per tile (datapath reconfiguration); 0: 16 */
} nn_target_desc;

/* Fills *out with a preset: "npu-small", "npu-large" or "mcu" (the numbers
   and their sources are in docs/TARGET.md and next to the table in the
   implementation).  NN_ERR_ARG for another name. */
NN_API nn_status nn_target_preset(const char *name, nn_target_desc *out, nn_diag *diag);
/* The i-th preset's name (from 0); NULL past the end. */
NN_API const char *nn_target_preset_name(size_t index);
/* t with every zero field replaced by its default. */
NN_API nn_target_desc nn_target_desc_defaults(const nn_target_desc *t);
/* Checks the ranges of every field; diag names the field as
   "nn_target_desc.<field>".  NN_ERR_ARG, NN_ERR_LIMIT. */
NN_API nn_status nn_target_validate(const nn_target_desc *t, nn_diag *diag);
/* 1 when t's op list is empty (every op) or names op_type. */
NN_API int nn_target_supports_op(const nn_target_desc *t, const char *op_type);

/* ---- bytes per tensor ------------------------------------------------------ */

typedef enum nn_target_bytes_rule {
    NN_TARGET_BYTES_AUTO = 0, /* INT8 when the graph has QuantizeLinear nodes, else DTYPE */
    NN_TARGET_BYTES_DTYPE,    /* each tensor's own dtype */
    NN_TARGET_BYTES_INT8      /* floating tensors 1 byte per element (they will be int8);
                                 a Conv/ConvTranspose/Gemm bias 4 (int32); Q/DQ scales and
                                 zero points and integer tensors as declared */
} nn_target_bytes_rule;

/* Bytes of tensor t as the target stores it; overrides the rule when set.
   Called once for every tensor of g (unknown shapes included). */
typedef uint64_t (*nn_target_bytes_fn)(void *user, const nn_graph *g, nn_tensor_id t);

/* ---- memory planning ---------------------------------------------------------- */

enum {
    NN_TARGET_MEM_NO_INPLACE = 1u, /* no element-wise op writes over its input */
    NN_TARGET_MEM_NO_VIEW = 2u,    /* Reshape & co. get their own buffer */
    NN_TARGET_MEM_NO_CONCAT = 4u,  /* Concat copies */
    NN_TARGET_MEM_NO_REORDER = 8u  /* keep the topological order */
};

typedef struct nn_target_memory_desc {
    nn_allocator alloc;
    nn_target_bytes_rule bytes_rule;
    nn_target_bytes_fn bytes_fn;   /* optional: overrides bytes_rule */
    void *bytes_user;
    uint32_t align;                /* activation offsets and sizes; 0: 16 */
    uint32_t weight_align;         /* weight offsets; 0: 64 */
    uint32_t flags;                /* NN_TARGET_MEM_* */
    const uint32_t *order;         /* optional node order (a topological one); NULL: nn_graph_topo_order */
} nn_target_memory_desc;

typedef enum nn_target_buffer_kind {
    NN_TARGET_BUF_OWN = 0,   /* its own storage (the root of its group) */
    NN_TARGET_BUF_VIEW,      /* a Reshape-like view of its input */
    NN_TARGET_BUF_INPLACE,   /* written over an input read for the last time */
    NN_TARGET_BUF_SLICE      /* a slice of a Concat output */
} nn_target_buffer_kind;

/* One activation.  Buffers of one group share storage by construction;
   the overlap check allows overlaps only inside a group. */
typedef struct nn_target_buffer {
    nn_tensor_id tensor;
    uint64_t bytes;
    uint32_t first, last;         /* steps: written at first, last read at last */
    uint64_t offset;              /* in the arena */
    uint32_t group;               /* index of the group's root buffer */
    nn_target_buffer_kind kind;
} nn_target_buffer;

typedef struct nn_target_weight {
    nn_tensor_id tensor;
    uint64_t bytes, offset;       /* in the weights region */
} nn_target_weight;

typedef struct nn_target_memory_plan {
    nn_allocator alloc;
    uint32_t step_count;
    uint32_t *order;              /* (step_count) node index run at each step */
    uint32_t buffer_count;
    nn_target_buffer *buffers;    /* (buffer_count) */
    uint32_t weight_count;
    nn_target_weight *weights;    /* (weight_count) */
    uint64_t weight_bytes;        /* weights region */
    uint64_t arena_bytes;         /* the chosen plan ("ours") */
    /* For the topological order, every buffer separate: */
    uint64_t no_reuse_bytes;      /* sum of all activations */
    uint64_t bound_bytes;         /* largest total alive at one step */
    uint64_t greedy_size_bytes;   /* greedy by size */
    uint64_t best_fit_bytes;      /* best fit in lifetime order */
    /* The chosen plan: */
    uint64_t ours_bound_bytes;    /* the bound of its order and sharing */
    uint32_t reordered;           /* 1 when a reordered schedule was kept */
    uint64_t reorder_arena_bytes; /* the better of the memory-greedy and depth-first orders,
                                     with sharing (0: not tried) */
    uint64_t reorder_bound_bytes; /* its bound */
    uint32_t view_count, inplace_count, slice_count;
    const char *method;           /* "greedy-by-size" or "best-fit" */
} nn_target_memory_plan;

/* Plans g's activations in one arena and its weights in a separate region.
   g needs static shapes for every activation (nn_graph_infer_shapes).
   NN_ERR_SHAPE names a tensor without one; NN_ERR_INVALID for a cycle;
   NN_ERR_ARG for an order that is not a permutation in topological order;
   NN_ERR_NOMEM. */
NN_API nn_status nn_target_plan_memory(const nn_graph *g, const nn_target_memory_desc *desc,
                                       nn_target_memory_plan *out, nn_diag *diag);
/* Checks a plan: lifetimes inside the steps, every buffer inside the
   arena, group roots aligned as desc said (align 0: not checked), and no
   two buffers of different groups alive at one step with overlapping
   bytes.  NN_ERR_INVALID naming the first offending pair. */
NN_API nn_status nn_target_plan_check(const nn_target_memory_plan *p, uint32_t align, nn_diag *diag);
/* Writes the plan as text (snprintf-like: at most cap bytes with the NUL,
   returns the length it needed): one row per buffer sorted by offset with
   offset, size, first, last, kind, tensor name and, for up to 120 steps, a
   bar of its lifetime over the steps. */
NN_API size_t nn_target_memory_timeline(const nn_graph *g, const nn_target_memory_plan *p,
                                        char *buf, size_t cap);
NN_API void nn_target_memory_plan_deinit(nn_target_memory_plan *p);

/* ---- layer groups, tiling and cycles ------------------------------------------------- */

typedef enum nn_target_split {
    NN_TARGET_SPLIT_NONE = 0,     /* one core */
    NN_TARGET_SPLIT_ROWS,         /* tiles over the cores */
    NN_TARGET_SPLIT_CHANNELS      /* output channels over the cores */
} nn_target_split;

typedef struct nn_target_group {
    uint32_t first_layer, layer_count;  /* into plan->layers */
    uint32_t rows, tile_rows;           /* output rows of the last layer; per tile */
    uint32_t channels, tile_channels;   /* output channels of the last layer; per tile */
    uint32_t tiles;
    uint64_t in_tile_bytes;             /* external inputs of one tile (halos included) */
    uint64_t mid_tile_bytes;            /* intermediate outputs of one tile */
    uint64_t out_tile_bytes;
    uint64_t weight_tile_bytes;         /* weights (or the weight slice) held */
    uint64_t working_bytes;             /* the sum: must fit local memory */
    uint64_t macs;                      /* as computed, halo recomputation included */
    uint64_t dma_bytes;                 /* external memory traffic */
    uint64_t compute_cycles, dma_cycles, overhead_cycles, cycles;
    nn_target_split split;
    uint8_t fits;                       /* working_bytes <= local memory */
    uint8_t on_host;                    /* the accelerator lacks an op or dtype */
} nn_target_group;

typedef struct nn_target_layer {
    uint32_t node;                      /* index in g->nodes */
    uint32_t group;                     /* index in plan->groups */
    uint64_t macs, cycles;              /* cycles: its share of the group's */
} nn_target_layer;

typedef struct nn_target_group_desc {
    nn_allocator alloc;
    nn_target_bytes_rule bytes_rule;
    nn_target_bytes_fn bytes_fn;        /* optional: overrides bytes_rule */
    void *bytes_user;
    const uint32_t *order;              /* optional node order; NULL: topological */
    uint32_t order_count;               /* must be g->node_count when order is set */
    uint32_t max_group_layers;          /* 0: 16 */
} nn_target_group_desc;

typedef struct nn_target_group_plan {
    nn_allocator alloc;
    nn_target_desc target;              /* with defaults filled */
    uint32_t group_count;
    nn_target_group *groups;            /* (group_count) */
    uint32_t layer_count;
    nn_target_layer *layers;            /* (layer_count) views and constant nodes are left out */
    uint64_t macs, dma_bytes, cycles;   /* totals */
    uint64_t max_working_bytes;
    uint32_t unfit_groups, host_groups;
    double latency_ms;                  /* cycles at the clock */
} nn_target_group_plan;

/* Groups, tiles and costs g on target t.  Needs static shapes.  NN_ERR_ARG
   for a bad target (see nn_target_validate) or order; NN_ERR_SHAPE,
   NN_ERR_INVALID, NN_ERR_NOMEM.  A group that cannot fit is kept with
   fits = 0 (counted in unfit_groups), not an error. */
NN_API nn_status nn_target_plan_groups(const nn_graph *g, const nn_target_desc *t,
                                       const nn_target_group_desc *desc, nn_target_group_plan *out,
                                       nn_diag *diag);
NN_API void nn_target_group_plan_deinit(nn_target_group_plan *p);
/* "none", "rows", "channels". */
NN_API const char *nn_target_split_name(nn_target_split s);

/* ---- patch-based execution of the leading layers (MCUNetV2) --------------------------- */

/* MCUNetV2 (Lin et al. 2021) runs the high-resolution first layers of a
   CNN patch by patch so the large early tensors never exist whole.  Here
   the patches are bands of rows: the prefix of the order up to a cut
   tensor (the one tensor it passes on) is computed band by band, each
   band recomputing its halo rows; only the cut tensor, the graph input
   and one band of each intermediate (over the intermediate's lifetime,
   with the memory plan's in-place sharing) are held. */
typedef struct nn_target_patch_desc {
    nn_target_memory_desc memory;  /* sizing and sharing; the rest of the network uses its plan */
    uint32_t band_rows;            /* rows of the cut tensor per band; 0: the best within max_recompute */
    double max_recompute;          /* prefix MACs with halos / without; 0: 1.5 */
} nn_target_patch_desc;

typedef struct nn_target_patch_plan {
    uint32_t prefix_steps;         /* steps [0, prefix_steps) run in bands; 0: no prefix helps */
    nn_tensor_id cut;              /* the tensor the prefix passes on (NN_INVALID_ID when none) */
    uint32_t band_rows, bands;
    uint64_t stage_bytes;          /* peak of the banded steps: input, band buffers, the whole cut tensor */
    uint64_t rest_bytes;           /* largest live total of the steps after the prefix */
    uint64_t peak_bytes;           /* max(stage, rest): the arena patch-based execution needs at
                                      least (live totals, like ours_bound_bytes; no prefix: that) */
    uint64_t arena_bytes;          /* the memory plan's arena (every tensor whole) */
    uint64_t bound_bytes;          /* the plain lower bound (topological order, nothing shared) */
    double recompute;              /* as max_recompute */
} nn_target_patch_plan;

/* Chooses the prefix and band height that give the lowest peak.  Needs
   static shapes; statuses as nn_target_plan_memory.  Holds nothing to
   free. */
NN_API nn_status nn_target_plan_patches(const nn_graph *g, const nn_target_patch_desc *desc,
                                        nn_target_patch_plan *out, nn_diag *diag);

/* ---- patch-based execution of a CNN's leading layers (MCUNetV2)
   as an executed program: a rewrite of a QDQ graph.

   nn_target_plan_patches (nn_target.h) plans a banded prefix: the layers
   up to a cut tensor run band by band (bands of rows), each band
   recomputing its halo rows, so the large early tensors never exist
   whole.  nn_target_patchify turns that plan into a graph: for each band
   it emits a copy of the prefix's nodes working on row bands (Conv pads
   adjusted: real padding only where a band touches the image edge, the
   pads asymmetric where needed), Slice nodes where a reader needs a
   sub-window of a band computed larger (halos, residual Adds), and one
   Concat along H of the cut tensor's bands under the cut tensor's name.
   Nodes are emitted band-major.  The result is a plain QDQ ONNX graph:
   ONNX Runtime runs it, nn_target_compile lowers it (the integer groups
   are untouched: every DequantizeLinear -> op -> QuantizeLinear group is
   copied whole; Slice and Concat of int8 tensors are copies), and the
   memory planner gives the band buffers their own short lifetimes.  Each
   output element is computed by the same integer arithmetic on the same
   inputs, so the outputs are byte-identical to the unbanded program's.

   Usage:
       nn_target_patchify_desc pd = {0};       (cut and band height from
       nn_graph *banded;                        nn_target_plan_patches)
       nn_target_patchify_report rep;
       if (nn_target_patchify(qdq, &pd, &banded, &rep, &diag) == NN_OK) {
           nn_target_compile(banded, &mcu, NULL, &program, &diag);
           ...
           nn_graph_destroy(banded);
       }

   Limits: the prefix may hold Conv, MaxPool and AveragePool on NCHW
   (2-D, no ceil_mode overhang), Q/DQ (per tensor or per channel) and
   row-local element-wise ops and channel Concat; anything else in the
   planned prefix is NN_ERR_UNSUPPORTED.  The graph input's
   QuantizeLinear runs whole before the bands (its int8 output is what the
   bands slice), so a float input is held whole only during that step. */
enum {
    /* a graph input read only by QuantizeLinear becomes that quantized
       (int8/uint8) tensor: the caller quantizes, as an MCU's camera
       pipeline does, and no float input is held in the arena */
    NN_TARGET_PATCHIFY_QUANTIZED_INPUT = 1u,
    /* no bands: only the other rewrites (a copy of the graph, with
       QUANTIZED_INPUT the unbanded program to compare with) */
    NN_TARGET_PATCHIFY_NO_BANDS = 2u
};

typedef struct nn_target_patchify_desc {
    nn_allocator alloc;
    const char *cut;               /* the cut tensor's name; NULL: nn_target_plan_patches's choice */
    uint32_t band_rows;            /* rows of the cut tensor per band; 0: the plan's */
    nn_target_patch_desc plan;     /* used when cut or band_rows is not given */
    const nn_input_shape *input_shapes; /* fix symbolic input dims (by name) */
    uint32_t input_shape_count;
    uint32_t flags;                /* NN_TARGET_PATCHIFY_* */
} nn_target_patchify_desc;

typedef struct nn_target_patchify_report {
    nn_target_patch_plan plan;     /* the plan (on the graph without Q/DQ) when one was made */
    char cut[256];                 /* the cut tensor of the QDQ graph ("" when nothing was banded) */
    uint32_t bands, band_rows;     /* 0 bands: no prefix helps, *out is a copy */
    uint32_t prefix_nodes;         /* nodes of the QDQ graph run in bands */
    uint32_t banded_nodes;         /* nodes emitted for all the bands, Slices included */
    uint32_t slices;               /* Slice nodes among them */
    uint64_t prefix_macs;          /* MACs of the prefix, once */
    uint64_t banded_macs;          /* MACs of all the bands, halos recomputed */
} nn_target_patchify_report;

/* Rewrites QDQ graph qdq (only read) into *out (a new graph: destroy with
   nn_graph_destroy), with static shapes on every tensor.  When desc->cut
   is NULL (or band_rows 0) the prefix is planned by nn_target_plan_patches
   on qdq without its Q/DQ nodes; a float cut tensor read by one
   QuantizeLinear moves to that node's quantized output (so the Concat
   joins int8 bands).  No prefix helping: rep->bands 0 and *out an
   unchanged copy.  NN_ERR_ARG (no such cut, band_rows not below the cut's
   rows), NN_ERR_UNSUPPORTED (an op the rewrite cannot band, a tensor of
   the prefix other than the cut read after it), NN_ERR_SHAPE, NN_ERR_NOMEM. */
NN_API nn_status nn_target_patchify(const nn_graph *qdq, const nn_target_patchify_desc *desc, nn_graph **out,
                                    nn_target_patchify_report *rep, nn_diag *diag);


/* ---- lowering, the binary model file and the simulator --------------------------------- */

/* A QDQ graph (nn_quant.h) lowered to a program: one instruction per
   integer group the fake-quant executor recognises (same kernel, same
   multipliers, same tables; a conv or gemm and the activation table that
   alone reads its output are one, NN_TARGET_INSTR_ACT / ACT8, unless
   nn_target_compile_desc.keep_act), one "cpu" instruction per float-island node
   (nn_graph.h's reference kernel), tensors in slots of one planned arena
   or of the weights region.  The program is held as its file image
   (docs/FORMAT.md); compiling, saving and loading all go through it, so a
   compiled program and a loaded one are the same thing. */
typedef enum nn_target_op {
    NN_TARGET_OP_NONE = 0,
    NN_TARGET_OP_CONV,      /* nn_quant_conv_s8: weights (M, C/group, KH, KW) as ONNX stores them */
    NN_TARGET_OP_GEMM,      /* nn_quant_matmul_s8 with constant B packed (K, N) */
    NN_TARGET_OP_MATMUL,    /* nn_quant_matmul_s8 of two activations, batched */
    NN_TARGET_OP_ADD,       /* nn_quant_add_s8 (operands broadcast first) */
    NN_TARGET_OP_SUB,       /* nn_quant_sub_s8 */
    NN_TARGET_OP_MUL,       /* nn_quant_mul_s8 */
    NN_TARGET_OP_AVGPOOL,   /* nn_quant_avgpool_s8, multipliers by tap count */
    NN_TARGET_OP_LUT8,      /* 256-entry table over the input's raw bytes */
    NN_TARGET_OP_LUT16,     /* nn_quant_lut_apply_s16; to an 8-bit output: a table of output bytes for the
                               inputs p[0] .. p[1], the input clamped to that range first */
    NN_TARGET_OP_CPU,       /* a float-island node run with nn_graph.h's kernel */
    NN_TARGET_OP_YUV,       /* YUV420SP (NV12/NV21) u8 frame -> the model's quantized RGB/BGR planes */
    NN_TARGET_OP_COUNT
} nn_target_op;

enum {
    NN_TARGET_INSTR_HOST = 1u,    /* runs on the host CPU (float island, or an op/dtype the target lacks) */
    NN_TARGET_INSTR_A_U8 = 2u,    /* operand A is uint8: flipped to int8 in scratch (zero points pre-moved) */
    NN_TARGET_INSTR_B_U8 = 4u,
    NN_TARGET_INSTR_Y_U8 = 8u,    /* output is uint8: the kernel's int8 result gets its top bit flipped */
    NN_TARGET_INSTR_A_BCAST = 16u,/* operand A is broadcast to the output shape in scratch */
    NN_TARGET_INSTR_B_BCAST = 32u,
    NN_TARGET_INSTR_VIEW = 64u,   /* a view op whose output shares its input's bytes: nothing to run */
    NN_TARGET_INSTR_ACT = 128u,   /* conv / gemm with a fused activation: its int16 result goes through a
                                     table of output bytes (lut16's, inputs p[22] .. p[23]) to an 8-bit
                                     output; the int16 tensor never reaches the arena (a reader
                                     older than session 19 refuses the bit) */
    NN_TARGET_INSTR_ACT8 = 256u,  /* the same for the 8-bit kernel: its int8 result (before any u8 flip;
                                     Y_U8 is not set) through the table over p[22] .. p[23] (in -128..127) */
    NN_TARGET_INSTR_RUNS = 512u   /* the 8-bit output table (lut16 to 8 bits, fused activation) is stored
                                     as runs: u32 R, R int16 starts (the first = the range's low end,
                                     increasing), R output bytes (docs/FORMAT.md) */
};

enum { NN_TARGET_REGION_ARENA = 0, NN_TARGET_REGION_WEIGHTS = 1 };
#ifndef NN_MAX_TARGET_PROGRAMS
#define NN_MAX_TARGET_PROGRAMS 16     /* programs (batch sizes) in one model file */
#endif
#ifndef NN_MAX_TARGET_BATCH
#define NN_MAX_TARGET_BATCH 4096      /* largest batch of one program */
#endif

/* One batch size costed by a multi-batch compile. */
typedef struct nn_target_batch_cost {
    uint32_t batch;
    uint32_t kept;                /* 1: a program of the file */
    uint64_t cycles;              /* nn_target_plan_groups on the lowered graph at this batch */
} nn_target_batch_cost;
#define NN_TARGET_NO_OFFSET (~(uint64_t)0)
#define NN_TARGET_NO_SLOT 0xFFFFFFFFu

/* One tensor of the program. */
typedef struct nn_target_slot {
    const char *name;
    nn_dtype dtype;
    nn_shape shape;               /* static */
    uint32_t region;              /* NN_TARGET_REGION_* */
    uint64_t offset, bytes;       /* in the arena or the weights region */
} nn_target_slot;

typedef struct nn_target_instr {
    nn_target_op op;
    uint32_t flags;               /* NN_TARGET_INSTR_* */
    uint32_t first_operand;       /* operands[first, first + in_count): inputs (NN_TARGET_NO_SLOT: omitted), */
    uint32_t in_count, out_count; /* then out_count outputs */
    uint32_t node;                /* CPU: index into nodes; else NN_TARGET_NO_SLOT */
    const char *name;             /* the ONNX node it comes from */
    int32_t p[24];                /* kernel parameters by op (docs/FORMAT.md) */
    uint64_t w, bias, mult, table;/* weights-region offsets, NN_TARGET_NO_OFFSET when absent */
    uint32_t mult_count;
    uint64_t scratch_bytes;       /* kernel scratch it needs */
} nn_target_instr;

typedef struct nn_target_program {
    nn_allocator alloc;
    const uint8_t *image;         /* the file image (owned when compiled or copied) */
    size_t image_bytes;
    uint32_t slot_count, instr_count, operand_count, input_count, output_count, node_count;
    nn_target_slot *slots;
    nn_target_instr *instrs;
    const uint32_t *operands;     /* (operand_count) slot indices */
    const uint32_t *inputs, *outputs; /* slot indices of the graph inputs / outputs */
    nn_node *nodes;               /* (node_count) the CPU instructions' nodes */
    int64_t *node_opsets;
    const nn_op_def **node_defs;  /* the kernel of each node */
    const uint8_t *weights;       /* (weight_bytes), 8-byte aligned in memory, 64 in the file */
    uint64_t weight_bytes;
    uint64_t arena_bytes;         /* activations */
    uint64_t scratch_bytes;       /* kernel scratch (largest instruction) */
    const char *target_name;
    /* Set by nn_target_compile only (NULL / zero after a load): */
    nn_graph *graph;              /* the lowered graph the plans refer to (one node per instruction) */
    nn_target_memory_plan memory;
    uint32_t int_instrs, cpu_instrs, host_instrs, folded_nodes;
    uint64_t est_cycles;          /* the cost model's cycles (nn_target_plan_groups on graph) */
    uint32_t batch_cost_count;    /* first program of a batch compile: every batch costed */
    nn_target_batch_cost batch_costs[NN_MAX_TARGET_PROGRAMS];
    /* Multi-batch files (docs/FORMAT.md, "Programs"): one program per batch
       size, weights shared.  Set by compile and load: */
    uint32_t batch;               /* the batch dim of every input and output; 0: a single program */
    uint32_t program_count;       /* programs in the file; this (the first) and its chain */
    struct nn_target_program *next; /* the program of the next larger batch (owned by the first) */
    uint64_t image_record, image_tables; /* private: where its fields and tables are in the image */
    void *owned[8];               /* private */
} nn_target_program;

/* Input color conversion done by the program's first instruction. */
typedef enum nn_target_input_format {
    NN_TARGET_INPUT_TENSOR = 0,   /* the graph's input as it is */
    NN_TARGET_INPUT_NV12,         /* u8 frame (N, H*3/2, W): H x W luma, then H/2 x W/2 interleaved U,V */
    NN_TARGET_INPUT_NV21          /* the same with V,U */
} nn_target_input_format;

typedef struct nn_target_compile_desc {
    nn_allocator alloc;
    uint32_t memory_flags;        /* NN_TARGET_MEM_* for the activation plan */
    const nn_input_shape *input_shapes; /* fix symbolic input dims (by name) */
    uint32_t input_shape_count;
    /* Multi-batch (docs/TARGET.md, "Multi-batch"): one program per batch
       size in one file, the weights stored once.  Batch 1 is always
       included; every input's and output's first dim is the batch. */
    const uint32_t *batch_sizes;  /* these batch sizes (1..NN_MAX_TARGET_BATCH) */
    uint32_t batch_size_count;    /* at most NN_MAX_TARGET_PROGRAMS - 1 besides 1 */
    uint32_t max_batch;           /* > 1: try 1, 2, 4, ... and max_batch; keep a size when its cycles
                                     per sample (cost model) are at least 1% below every smaller kept size's */
    /* NV12/NV21 input (docs/TARGET.md, "NV12 input"): graph input 0, read
       only by a per-tensor QuantizeLinear, becomes a u8 YUV420SP frame
       converted (BT.601) and quantized by the first instruction. */
    nn_target_input_format input_format;
    uint32_t input_limited;       /* 1: limited range (Y 16..235, U/V 16..240); 0: full range */
    uint32_t input_bgr;           /* 1: the model's planes are B, G, R; 0: R, G, B */
    float input_mean[3];          /* per model plane: value = (pixel - mean) * scale */
    float input_scale[3];         /* 0: 1 */
    /* A conv / gemm whose output only an activation table to 8 bits reads
       (int16 from nn_quant.h's preact16, or 8 bits) is one instruction with
       the activation fused (NN_TARGET_INSTR_ACT / ACT8; docs/TARGET.md
       "Fused activations"). */
    uint32_t keep_act;            /* 1: the activation stays its own lut16 / lut8 instruction and the
                                     conv's output goes through the arena (so a per-layer check sees it) */
} nn_target_compile_desc;

/* Lowers QDQ graph qdq for target t (NULL: npu-small).  Shapes are
   propagated from the inputs' (declared, or d->input_shapes) the way
   nn_qexec sees them at run time, Q/DQ of opset < 13 graphs included; they
   must come out static.  *out is a new program (destroy with
   nn_target_program_destroy); qdq is only read.  NN_ERR_UNSUPPORTED for
   ops neither the integer kernels nor the reference kernels run, tensor
   or graph attributes on a node that stays at run time, string tensors;
   NN_ERR_SHAPE for a tensor without a static shape; NN_ERR_NOMEM. */
NN_API nn_status nn_target_compile(const nn_graph *qdq, const nn_target_desc *t, const nn_target_compile_desc *d,
                                   nn_target_program **out, nn_diag *diag);

typedef struct nn_target_load_desc {
    nn_allocator alloc;
    int copy;                     /* 1: copy the bytes (else borrowed: they must outlive the program,
                                     unless misaligned for in-place use, when they are copied anyway) */
} nn_target_load_desc;

/* Reads a model file image.  Every count, offset, size, enum and string is
   checked before use: NN_ERR_PARSE (bad magic, checksum, truncation) or
   NN_ERR_INVALID / NN_ERR_LIMIT / NN_ERR_UNSUPPORTED with diag->where
   naming the field ("instr[3].p.kh").  *out untouched on failure. */
NN_API nn_status nn_target_load_memory(const void *bytes, size_t size, const nn_target_load_desc *d,
                                       nn_target_program **out, nn_diag *diag);
/* Writes the program's file image through write (non-zero from write: NN_ERR_IO). */
NN_API nn_status nn_target_save(const nn_target_program *p, nn_verify_write_fn write, void *user, nn_diag *diag);
NN_API void nn_target_program_destroy(nn_target_program *p);

/* Bytes of caller memory nn_target_sim_run needs: the activation arena
   (64-byte rounded) followed by the largest instruction's scratch. */
NN_API size_t nn_target_sim_scratch_bytes(const nn_target_program *p);
/* Runs the program in mem (16-byte aligned, nn_target_sim_scratch_bytes
   long); never allocates.  inputs: one value per program input (dtype and
   shape as the slot's).  outputs[i] receives the i-th output pointing into
   mem (valid until mem is reused).  NN_ERR_ARG for a bad input or memory;
   a kernel's status otherwise. */
NN_API nn_status nn_target_sim_run(const nn_target_program *p, void *mem, size_t mem_bytes, const nn_value *inputs,
                                   nn_value *outputs, nn_diag *diag);
/* Bytes of caller memory nn_target_sim_run_batch needs: the largest
   nn_target_sim_scratch_bytes of the file's programs. */
NN_API size_t nn_target_batch_scratch_bytes(const nn_target_program *p);
/* Runs any batch n >= 1 on a multi-batch program (p->batch == 1, the
   first of its file) by running its programs on consecutive slices of the
   inputs, largest batch first (9 with batches 1, 2, 4: 4 + 4 + 1).
   inputs: the inputs with first dim n (other dims, dtype as the slots').
   outputs[i].data: caller memory of at least n x (output i's bytes at
   batch 1) bytes in outputs[i].bytes; dtype and shape (first dim n) are
   filled.  A single program (p->batch == 0) runs only its own shape.
   mem as nn_target_sim_run, nn_target_batch_scratch_bytes long.  NN_ERR_ARG. */
NN_API nn_status nn_target_sim_run_batch(const nn_target_program *p, void *mem, size_t mem_bytes, uint64_t n,
                                         const nn_value *inputs, nn_value *outputs, nn_diag *diag);
/* One pixel of the BT.601 conversion the yuv instruction does (integer
   arithmetic, docs/TARGET.md "NV12 input"): rgb[0..2] = R, G, B. */
NN_API void nn_target_yuv_pixel(int32_t y, int32_t u, int32_t v, int limited, uint8_t rgb[3]);
/* The float planes an NV12/NV21 program's first instruction quantizes:
   frame (uint8, N x H*3/2 x W) converted pixel by pixel with
   nn_target_yuv_pixel (chroma pair (i/2, j/2)) and normalized per model
   plane as d says (input_bgr, input_mean, input_scale, in float32:
   (pixel - mean) * scale, the arithmetic the instruction's table was built
   with).  The QDQ model's QuantizeLinear on these planes gives the
   program's quantized input byte for byte, so a program and its QDQ model
   can be compared on one frame (nn_target_check_desc.model_inputs).
   planes->data: caller memory of N*3*H*W floats, planes->bytes its size;
   dtype and shape (N, 3, H, W) are filled.  NN_ERR_ARG names the problem. */
NN_API nn_status nn_target_yuv_decode(const nn_target_compile_desc *d, const nn_value *frame, nn_value *planes,
                                      nn_diag *diag);
/* The camera's side, for test frames: float planes (N, 3, H, W, H and W
   even) in the model's units back to pixels (x / scale + mean, rounded,
   clamped to 0..255), then BT.601 YUV420SP as d says (input_format NV12 or
   NV21, input_limited): Y from each pixel, U and V from the 2x2 mean of R,
   G and B (JFIF coefficients; limited range scales Y to 16..235 and U, V to
   16..240), rounded half up.  frame->data: caller memory of
   N*H*3/2*W bytes in frame->bytes; dtype and shape are filled.  NN_ERR_ARG. */
NN_API nn_status nn_target_yuv_encode(const nn_target_compile_desc *d, const nn_value *planes, nn_value *frame,
                                      nn_diag *diag);
/* "conv", "gemm", ... "cpu" ("?" out of range). */
NN_API const char *nn_target_op_name(nn_target_op op);

/* ==== compiler check levels ==== */

/* Compiler check levels (issue 7): a compiled
   program run by the simulator against the quantized model it came from,
   run by nn_qexec (the fake-quant executor), on sample inputs.

   Levels (Pulsar2's compiler.check):
     bitequal  every compared element has the same bytes (the default: the
               simulator and nn_qexec share their kernels, so anything else
               is a compiler or file bug)
     allclose  |sim - ref| <= atol + rtol |ref| on real values (a tensor
               written by a QuantizeLinear with a constant per-tensor scale
               is dequantized with it first, so atol is in the model's units)
     cosine    cosine of the real values >= min_cosine
   Scope: the graph outputs only, or every tensor an instruction writes that
   nn_qexec also produces ("per layer": integer groups are compared at
   their QuantizeLinear output, float-island nodes at their outputs).  A
   skip callback leaves tensors out by name (the CLI passes POSIX regexes).

   A failed check names the first layer that diverges: per layer, the first
   failing tensor in instruction order (a topological order of the lowered
   graph); per output, the same search is run on the first failing sample
   (the level's criterion, else the first tensor that is not bit-equal, as
   a cosine drop can build up over layers that each pass).

   Stepping: the simulator has no per-instruction hook, so
   nn_target_check__step runs a window of the instruction list through
   nn_target_sim_run on a shallow copy of the program (arena carried over in
   mem, inputs copied on the first window only).

   Memory: nn_qexec's values of the compared tensors are copied for one
   sample (per layer: about every activation of the model once, int8 where
   the model is integer); the simulator needs nn_target_sim_scratch_bytes. */

typedef enum nn_target_check_level {
    NN_TARGET_CHECK_DEFAULT = 0,  /* bitequal */
    NN_TARGET_CHECK_ALLCLOSE,
    NN_TARGET_CHECK_BITEQUAL,
    NN_TARGET_CHECK_COSINE
} nn_target_check_level;

/* Non-zero: leave tensor name out of the check. */
typedef int (*nn_target_check_skip_fn)(void *user, const char *tensor_name);

typedef struct nn_target_check_desc {
    nn_allocator alloc;
    nn_target_check_level level;
    int per_layer;                /* 1: every instruction output nn_qexec also has; 0: graph outputs */
    double rtol, atol;            /* allclose; both 0: equal real values */
    double min_cosine;            /* cosine; 0: 0.999 */
    nn_target_check_skip_fn skip; /* optional */
    void *skip_user;
    const nn_value *model_inputs; /* optional: the quantized model's inputs, laid out as `inputs`, when
                                     they differ from the program's (an NV12 program: the planes
                                     nn_target_yuv_decode gives for each frame); NULL: `inputs` */
} nn_target_check_desc;

/* One compared tensor, worst over the samples. */
typedef struct nn_target_check_row {
    const char *tensor;           /* slot name (borrowed from the program) */
    const char *layer;            /* the ONNX node of the instruction that wrote it */
    const char *op;               /* "conv", ... or the cpu node's op type */
    uint32_t instr;               /* instruction index */
    double cosine;                /* lowest, on real values */
    double max_abs_err;           /* largest |sim - ref|, real values */
    uint64_t mismatched, count;   /* elements failing the level / compared (summed over samples) */
    int pass;
} nn_target_check_row;

typedef struct nn_target_check_report {
    nn_allocator alloc;
    int pass;
    nn_target_check_level level;
    uint32_t samples;
    uint32_t skipped, unmatched;  /* tensors skipped by name / that nn_qexec does not produce */
    nn_target_check_row *rows;    /* (row_count) in instruction order */
    uint32_t row_count;
    double worst_cosine;
    uint64_t mismatched, count;
    int has_diverge;              /* 1 on failure when a first diverging layer was found */
    nn_target_check_row diverge;  /* that layer (on the sample diverge_sample) */
    uint32_t diverge_sample;
    int diverge_by_bits;          /* 1: found as the first non-bit-equal tensor (no layer fails the level) */
} nn_target_check_report;

/* Runs program p (compiled from qdq, or loaded from a file made from it)
   and nn_qexec on qdq over sample_count samples, inputs[k * p->input_count
   + i] = input i of sample k (program input order; matched to qdq's inputs
   by name), and compares as d says (NULL: bitequal per output).  *out is
   filled (free with nn_target_check_report_deinit) and out->pass says the
   verdict; a failed check is not an error.  NN_ERR_ARG: a program input
   qdq lacks, or no output of qdq matched; a run's status otherwise (diag
   names the node or instruction); NN_ERR_NOMEM. */
NN_API nn_status nn_target_check(const nn_target_program *p, const nn_graph *qdq, const nn_value *inputs,
                                 uint32_t sample_count, const nn_target_check_desc *d, nn_target_check_report *out,
                                 nn_diag *diag);
NN_API void nn_target_check_report_deinit(nn_target_check_report *r);
/* "bitequal", "allclose", "cosine" ("?" out of range). */
NN_API const char *nn_target_check_level_name(nn_target_check_level l);
/* The level named name (as above); 0 when unknown. */
NN_API int nn_target_check_level_find(const char *name, nn_target_check_level *out);

/* ==== C export for MCUs ==== */

/* C source export of a compiled nn_target program
   (issue 6, "C export for MCUs"): writes MODEL.c + MODEL.h that build with
   the C standard library alone and compute what nn_target_sim_run computes,
   bit for bit.

   QUICK START
       nn_target_program *p;                              (nn_target_compile or _load_memory)
       nn_target_emit_desc ed = {0};
       ed.name = "model";                                 (identifier prefix: model_run, MODEL_*)
       FILE *c = fopen("model.c", "w"), *h = fopen("model.h", "w");
       if (nn_target_emit_c(p, &ed, nn_verify_write_file, c, nn_verify_write_file, h, &d))
           fprintf(stderr, "%s: %s\n", d.where, d.message);

   THE GENERATED FILES
     MODEL.h  MODEL_ARENA_BYTES, MODEL_SCRATCH_BYTES, MODEL_INPUT_COUNT,
              MODEL_OUTPUT_COUNT, MODEL_INPUT_<i>_BYTES, MODEL_OUTPUT_<i>_BYTES
              (with a comment giving each tensor's name, dtype and shape),
              the arrays model_input_bytes[] / model_output_bytes[] and
                  int model_run(const void *const *inputs, void *const *outputs);
              inputs[i] / outputs[i]: the i-th graph input / output, raw
              little-endian elements of the dtype and shape in the comment
              (float inputs for a QDQ model: the program quantizes them).
              Returns 0; -1 when an argument is NULL or a Gather index read
              from the data is out of range (the simulator refuses that
              run).  Not reentrant: the arena is one static object.
     MODEL.c  <stdint.h> <string.h> <math.h> <float.h> only.  The planned
              arena (nn_target's memory plan, unchanged offsets) as one
              static union; every integer instruction as a function of
              plain loops with its shapes, zero points, clamps and (per
              tensor) multipliers as literals, weights, biases,
              per-channel multipliers and tables as const arrays; float
              islands the generator can express (Quantize/DequantizeLinear,
              float Add/Sub/Mul/Div, Relu, Sigmoid, Sqrt, Pow by a constant,
              ReduceMean/ReduceSum over one run of dims, MaxPool,
              GlobalAveragePool, Reshape & co., Transpose, Concat, Slice,
              Split, Gather, Gemm with one row, float MatMul, 2-D
              ConvTranspose, BatchNormalization, LayerNormalization,
              Resize nearest, Softmax)
              written to follow nn_graph.h's kernels operation for
              operation, so their float results are the same bits.  Float
              MatMul and ConvTranspose repeat nn_graph.h's SGEMM as this
              build compiled it (K blocks of NN_NN__KC, FMA when its
              micro-kernel uses it, the edge tiles' + 0.0f): the file
              matches the simulator of the nnport that wrote it.
     Float islands need IEEE single precision evaluated in float
     (FLT_EVAL_METHOD 0: x86-64, AArch64, Cortex-M with an FPU; the file
     refuses to compile otherwise) and no contraction of a*b+c into FMA:
     the file turns it off itself (#pragma GCC optimize("fp-contract=off",
     "no-strict-aliasing") for GCC, whose GNU modes contract by default and
     whose alias analysis does not tie float-pointer reads of the arena
     union to its other members; #pragma STDC FP_CONTRACT OFF elsewhere);
     nnport's own build is ISO C99 (no contraction).  The instruction
     functions carry GCC's noipa attribute (GCC 12 deleted calls of some
     of them otherwise).

   ERRORS  NN_ERR_UNSUPPORTED naming the instruction's ONNX node and op for
     a float island without an exact C form (Erf, Tanh, Resize other than
     nearest, float Conv, float Gemm with more than one row, ...), NN_ERR_ARG for a name that is not a C identifier, NN_ERR_IO when
     a writer fails, NN_ERR_NOMEM.  Nothing is written when the program is
     refused (every instruction is checked before the first byte). */

typedef struct nn_target_emit_desc {
    nn_allocator alloc;
    const char *name;       /* C identifier prefix of the public symbols and macros; NULL: "model" */
    const char *header;     /* what the .c #includes; NULL: "<name>.h" */
} nn_target_emit_desc;

/* Writes p as C: the source through write_c, the header through write_h
   (either may be NULL: not written; both NULL only checks that p can be
   exported).  p is only read; its weights are copied into the source.
   Allocates two blocks through d->alloc (freed before returning).  For a
   multi-batch file, p is the program exported (the first: batch 1).
   Statuses as above. */
NN_API nn_status nn_target_emit_c(const nn_target_program *p, const nn_target_emit_desc *d,
                                  nn_verify_write_fn write_c, void *c_user, nn_verify_write_fn write_h,
                                  void *h_user, nn_diag *diag);

#ifdef __cplusplus
}
#endif
#endif /* NN_TARGET_H */

/* ===================== end of API: implementation below ===================== */

#if defined(NN_IMPLEMENTATION) || defined(NN_TARGET_IMPLEMENTATION)
#ifndef NN_TARGET_IMPLEMENTATION_DONE
#define NN_TARGET_IMPLEMENTATION_DONE

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NN_ASSERT
#include <assert.h>
#define NN_ASSERT(x) assert(x)
#endif

#define NN_TARGET__NONE 0xFFFFFFFFu
#define NN_TARGET__U64MAX (~(uint64_t)0)

/* ---- target descriptions --------------------------------------------------- */

/* The presets.  Numbers chosen to sit beside public chips (docs/TARGET.md):
   npu-small  Arm Ethos-U55 in its largest configuration: 256 int8 8x8 MACs
              per cycle, 16x8 at half that rate (Arm's forum answer on the
              U55 MAC configurations), beside a Cortex-M55 class host with
              256 KiB of SRAM for the NPU; 500 MHz, a 64-bit AXI port
              (8 bytes per cycle).
   npu-large  two cores of 2 MiB local memory each, as the Kendryte K210's
              KPU has 2 MiB of its 8 MiB SRAM dedicated to AI; 1024 int8
              MACs per cycle per core at 1 GHz (2 TOPS per core, 4 in all:
              between Ethos-U65's 512 MACs and Hailo-8's 26 TOPS), 16-bit
              at a quarter rate, 32 bytes per cycle to LPDDR4.
   mcu        no NPU: a Cortex-M7 class CPU at 216 MHz with 320 KiB SRAM
              (the STM32F746 of MCUNet, Lin et al. 2020), int8 only, 2 MACs
              per cycle (SMLAD, two 16-bit MACs), 4-element SIMD, 4 bytes
              per cycle from flash/SRAM. */
typedef struct nn_target__preset { const char *name; nn_target_desc d; } nn_target__preset;

static const nn_target__preset nn_target__presets[] = {
    {"npu-small", {"npu-small", 256u << 10, 1, 256, 128, 16, 8, 500, 0, NULL, 8, 256, 64, 16}},
    {"npu-large", {"npu-large", 2u << 20, 2, 1024, 256, 64, 32, 1000, 0, NULL, 8, 256, 64, 16}},
    {"mcu", {"mcu", 320u << 10, 1, 2, 2, 4, 4, 216, (1u << NN_DTYPE_INT8) | (1u << NN_DTYPE_UINT8) | (1u << NN_DTYPE_INT32),
             NULL, 8, 64, 32, 8}},
};

NN_API nn_status nn_target_preset(const char *name, nn_target_desc *out, nn_diag *diag) {
    size_t i;
    NN_ASSERT(out);
    for (i = 0; i < sizeof nn_target__presets / sizeof nn_target__presets[0]; i++)
        if (name && strcmp(name, nn_target__presets[i].name) == 0) {
            *out = nn_target__presets[i].d;
            return NN_OK;
        }
    return nn_diag_set(diag, NN_ERR_ARG, "nn_target_preset", "no preset named '%s' (npu-small, npu-large, mcu)",
                       name ? name : "(null)");
}

NN_API const char *nn_target_preset_name(size_t index) {
    return index < sizeof nn_target__presets / sizeof nn_target__presets[0] ? nn_target__presets[index].name : NULL;
}

NN_API nn_target_desc nn_target_desc_defaults(const nn_target_desc *t) {
    nn_target_desc d;
    memset(&d, 0, sizeof d);
    if (t) d = *t;
    if (!d.name) d.name = "custom";
    if (!d.local_bytes) d.local_bytes = 256u << 10;
    if (!d.cores) d.cores = 1;
    if (!d.macs_s8) d.macs_s8 = 256;
    if (!d.macs_s16) d.macs_s16 = d.macs_s8 / 2 ? d.macs_s8 / 2 : 1;
    if (!d.vector_elems) d.vector_elems = 16;
    if (!d.dma_bytes) d.dma_bytes = 8;
    if (!d.clock_mhz) d.clock_mhz = 500;
    if (!d.dtypes)
        d.dtypes = (1u << NN_DTYPE_INT8) | (1u << NN_DTYPE_UINT8) | (1u << NN_DTYPE_INT16) | (1u << NN_DTYPE_INT32);
    if (!d.cpu_cycles_per_elem) d.cpu_cycles_per_elem = 8;
    if (!d.group_cycles) d.group_cycles = 256;
    if (!d.tile_cycles) d.tile_cycles = 64;
    if (!d.layer_cycles) d.layer_cycles = 16;
    return d;
}

NN_API nn_status nn_target_validate(const nn_target_desc *t, nn_diag *diag) {
    nn_target_desc d = nn_target_desc_defaults(t);
    uint32_t ops = 0;
    const char *p;
    if (d.local_bytes < 1024 || d.local_bytes > ((uint64_t)1 << 40))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_desc.local_bytes", "%llu bytes is outside 1 KiB .. 1 TiB",
                           (unsigned long long)d.local_bytes);
    if (d.cores > NN_MAX_TARGET_CORES)
        return nn_diag_set(diag, NN_ERR_LIMIT, "nn_target_desc.cores", "%u cores is above NN_MAX_TARGET_CORES (%d)",
                           d.cores, NN_MAX_TARGET_CORES);
    if (d.macs_s8 > (1u << 24))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_desc.macs_s8", "%u MACs per cycle is above 2^24", d.macs_s8);
    if (d.macs_s16 > (1u << 24))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_desc.macs_s16", "%u MACs per cycle is above 2^24", d.macs_s16);
    if (d.vector_elems > (1u << 20))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_desc.vector_elems", "%u elements per cycle is above 2^20",
                           d.vector_elems);
    if (d.dma_bytes > (1u << 20))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_desc.dma_bytes", "%u bytes per cycle is above 2^20", d.dma_bytes);
    if (d.clock_mhz > 100000)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_desc.clock_mhz", "%u MHz is above 100 GHz", d.clock_mhz);
    if (d.cpu_cycles_per_elem > (1u << 20))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_desc.cpu_cycles_per_elem", "above 2^20");
    if (d.group_cycles > (1u << 30) || d.tile_cycles > (1u << 30) || d.layer_cycles > (1u << 30))
        return nn_diag_set(diag, NN_ERR_ARG,
                           d.group_cycles > (1u << 30)  ? "nn_target_desc.group_cycles"
                           : d.tile_cycles > (1u << 30) ? "nn_target_desc.tile_cycles"
                                                        : "nn_target_desc.layer_cycles",
                           "overhead above 2^30 cycles");
    for (p = d.ops; p && *p; p++)
        if (*p == ',') ops++;
    if (d.ops && ops + 1 > NN_MAX_TARGET_OPS)
        return nn_diag_set(diag, NN_ERR_LIMIT, "nn_target_desc.ops", "%u ops is above NN_MAX_TARGET_OPS (%d)", ops + 1,
                           NN_MAX_TARGET_OPS);
    return NN_OK;
}

NN_API int nn_target_supports_op(const nn_target_desc *t, const char *op_type) {
    const char *p;
    size_t n;
    if (!t || !t->ops) return 1;
    n = strlen(op_type);
    for (p = t->ops; *p;) {
        size_t len = strcspn(p, ",");
        while (len && *p == ' ') { p++; len--; }
        if (len == n && strncmp(p, op_type, n) == 0) return 1;
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

/* ---- shared helpers ------------------------------------------------------------ */

/* What planning needs to know about every tensor and node of g. */
typedef struct nn_target__info {
    const nn_graph *g;
    nn_allocator alloc;
    uint32_t *topo;           /* (node_count) topological order */
    uint8_t *is_static;       /* (tensor_count) initializer or computed from initializers only */
    uint8_t *node_static;     /* (node_count) every input static: folded, costs nothing */
    uint64_t *bytes;          /* (tensor_count) as stored on the target */
    uint32_t *read_start;     /* (node_count + 1) CSR into reads */
    uint32_t *reads;          /* tensors each node reads (inputs, subgraph captures) */
    uint32_t read_count;
} nn_target__info;

static int nn_target__is(const nn_node *n, const char *op) {
    return strcmp(n->op_type, op) == 0 && (!n->domain[0] || strcmp(n->domain, "ai.onnx") == 0);
}

/* A DequantizeLinear of 4-bit constant weights (nnport's per-group
   weights) is not folded at compile time: the file keeps the packed
   weights, an eighth of the float32 they would fold to, and the host
   dequantizes them at run time.  The lowering and the memory plan both
   ask this. */
static int nn_target__dq_packed(const nn_graph *g, const nn_node *n) {
    const nn_tensor *x;
    if (!nn_target__is(n, "DequantizeLinear") || !n->input_count || n->inputs[0].id == NN_INVALID_ID) return 0;
    x = &g->tensors[n->inputs[0].id];
    return (x->flags & NN_TENSOR_CONST) && x->data && nn_dtype_bits(x->dtype) == 4;
}

/* keep: 1 for a bias (int32 on the target), 2 for a Q/DQ scale or zero
   point (stays as declared), 0 otherwise. */
static uint64_t nn_target__elem_bytes(const nn_tensor *t, int int8_rule, int keep) {
    size_t b = 0;
    if (int8_rule && keep != 2 && (nn_dtype_is_float(t->dtype) || t->dtype == NN_DTYPE_UNDEFINED)) return keep ? 4 : 1;
    if (!nn_dtype_bytes_for(t->dtype, 1, &b)) return 1;
    return b ? b : 1;
}

/* Adds to acc (if non-NULL) the outer tensors a subgraph reads: tensors of
   sg flagged OUTER whose names exist in g.  Subgraph nesting is capped at
   NN_MAX_DEPTH when graphs are built, so the recursion is bounded. */
static uint32_t nn_target__captures(const nn_graph *g, const nn_graph *sg, uint32_t *acc) {
    uint32_t n = 0, t, i;
    for (t = 0; t < sg->tensor_count; t++) {
        nn_tensor_id id;
        if (!(sg->tensors[t].flags & NN_TENSOR_OUTER)) continue;
        id = nn_graph_find_tensor(g, sg->tensors[t].name);
        if (id.id == NN_INVALID_ID) continue;
        if (acc) acc[n] = id.id;
        n++;
    }
    for (i = 0; i < sg->subgraph_count; i++) n += nn_target__captures(g, sg->subgraphs[i], acc ? acc + n : NULL);
    return n;
}

static uint32_t nn_target__node_reads(const nn_graph *g, const nn_node *n, uint32_t *acc) {
    uint32_t c = 0, i, a, j;
    for (i = 0; i < n->input_count; i++)
        if (n->inputs[i].id != NN_INVALID_ID) {
            if (acc) acc[c] = n->inputs[i].id;
            c++;
        }
    for (a = 0; a < n->attr_count; a++) {
        if (n->attrs[a].type == NN_ATTR_GRAPH && n->attrs[a].g)
            c += nn_target__captures(g, n->attrs[a].g, acc ? acc + c : NULL);
        if (n->attrs[a].type == NN_ATTR_GRAPHS)
            for (j = 0; j < n->attrs[a].count; j++) c += nn_target__captures(g, n->attrs[a].graphs[j], acc ? acc + c : NULL);
    }
    return c;
}

static void nn_target__info_free(nn_target__info *in) {
    nn_free(&in->alloc, in->topo);
    nn_free(&in->alloc, in->is_static);
    nn_free(&in->alloc, in->node_static);
    nn_free(&in->alloc, in->bytes);
    nn_free(&in->alloc, in->read_start);
    nn_free(&in->alloc, in->reads);
    memset(in, 0, sizeof *in);
}

static void *nn_target__calloc(const nn_allocator *a, size_t n, size_t size) {
    size_t bytes;
    void *p;
    if (!nn_size_mul(n ? n : 1, size, &bytes)) return NULL;
    p = nn_alloc(a, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

static int nn_target__has_q(const nn_graph *g) {
    uint32_t i;
    for (i = 0; i < g->node_count; i++)
        if (nn_target__is(&g->nodes[i], "QuantizeLinear")) return 1;
    return 0;
}

/* Fills in: order, static flags, bytes per tensor, reads.  Every tensor a
   non-static node reads or writes must have a static shape. */
static nn_status nn_target__info_make(const nn_graph *g, const nn_allocator *alloc, nn_target_bytes_rule rule,
                                      nn_target_bytes_fn fn, void *user, const uint32_t *order, uint32_t order_count,
                                      nn_target__info *in, nn_diag *diag) {
    uint32_t nn = g->node_count, nt = g->tensor_count, k, i;
    uint8_t *is_bias;
    int int8_rule;
    nn_status st = NN_OK;
    memset(in, 0, sizeof *in);
    in->g = g;
    if (alloc) in->alloc = *alloc;
    in->topo = (uint32_t *)nn_target__calloc(&in->alloc, nn, sizeof(uint32_t));
    in->is_static = (uint8_t *)nn_target__calloc(&in->alloc, nt, 1);
    in->node_static = (uint8_t *)nn_target__calloc(&in->alloc, nn, 1);
    in->bytes = (uint64_t *)nn_target__calloc(&in->alloc, nt, sizeof(uint64_t));
    in->read_start = (uint32_t *)nn_target__calloc(&in->alloc, (size_t)nn + 1, sizeof(uint32_t));
    is_bias = (uint8_t *)nn_target__calloc(&in->alloc, nt, 1);
    if (!in->topo || !in->is_static || !in->node_static || !in->bytes || !in->read_start || !is_bias) {
        st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target", "out of memory");
        goto fail;
    }
    if (order) {
        /* A caller's order must be a permutation that respects every edge. */
        uint8_t *done = (uint8_t *)nn_target__calloc(&in->alloc, nt, 1), *seen = (uint8_t *)nn_target__calloc(&in->alloc, nn, 1);
        if (!done || !seen) {
            nn_free(&in->alloc, done); nn_free(&in->alloc, seen);
            st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target", "out of memory");
            goto fail;
        }
        if (order_count != nn) st = nn_diag_set(diag, NN_ERR_ARG, "order", "%u entries for %u nodes", order_count, nn);
        for (k = 0; st == NN_OK && k < nt; k++)
            done[k] = g->tensors[k].producer.id == NN_INVALID_ID;
        for (k = 0; st == NN_OK && k < nn; k++) {
            const nn_node *n;
            if (order[k] >= nn || seen[order[k]]) { st = nn_diag_set(diag, NN_ERR_ARG, "order", "entry %u is not a node index or repeats", k); break; }
            seen[order[k]] = 1;
            n = &g->nodes[order[k]];
            for (i = 0; i < n->input_count; i++)
                if (n->inputs[i].id != NN_INVALID_ID && !done[n->inputs[i].id]) {
                    st = nn_diag_set(diag, NN_ERR_ARG, "order", "node '%s' comes before its input '%s' is made",
                                     n->name ? n->name : "", g->tensors[n->inputs[i].id].name);
                    break;
                }
            for (i = 0; i < n->output_count; i++)
                if (n->outputs[i].id != NN_INVALID_ID) done[n->outputs[i].id] = 1;
        }
        nn_free(&in->alloc, done);
        nn_free(&in->alloc, seen);
        if (st) goto fail;
        memcpy(in->topo, order, (size_t)nn * sizeof(uint32_t));
    } else if ((st = nn_graph_topo_order(g, in->topo, diag)) != NN_OK) {
        goto fail;
    }
    if (rule == NN_TARGET_BYTES_AUTO) rule = nn_target__has_q(g) ? NN_TARGET_BYTES_INT8 : NN_TARGET_BYTES_DTYPE;
    int8_rule = rule == NN_TARGET_BYTES_INT8;
    for (k = 0; k < nt; k++) in->is_static[k] = (g->tensors[k].flags & NN_TENSOR_CONST) != 0;
    for (k = 0; k < nn; k++) {
        const nn_node *n = &g->nodes[in->topo[k]];
        int all = 1, any = 0;
        if ((nn_target__is(n, "Conv") || nn_target__is(n, "ConvTranspose") || nn_target__is(n, "Gemm")) &&
            n->input_count > 2 && n->inputs[2].id != NN_INVALID_ID)
            is_bias[n->inputs[2].id] = 1;
        if (nn_target__is(n, "QuantizeLinear") || nn_target__is(n, "DequantizeLinear"))
            for (i = 1; i < n->input_count && i < 3; i++)
                if (n->inputs[i].id != NN_INVALID_ID) is_bias[n->inputs[i].id] = 2;
        for (i = 0; i < n->input_count; i++)
            if (n->inputs[i].id != NN_INVALID_ID) {
                any = 1;
                if (!in->is_static[n->inputs[i].id]) all = 0;
            }
        /* Captures make a node dynamic; so does having no input at all
           unless it is a Constant (RandomNormal & co. are not folded). */
        if (!any && !nn_target__is(n, "Constant")) all = 0;
        if (nn_target__dq_packed(g, n)) all = 0; /* run at run time, as lowered */
        for (i = 0; i < n->attr_count; i++)
            if (n->attrs[i].type == NN_ATTR_GRAPH || n->attrs[i].type == NN_ATTR_GRAPHS) all = 0;
        in->node_static[in->topo[k]] = (uint8_t)all;
        if (all)
            for (i = 0; i < n->output_count; i++)
                if (n->outputs[i].id != NN_INVALID_ID) in->is_static[n->outputs[i].id] = 1;
    }
    for (k = 0; k < nt; k++) {
        const nn_tensor *t = &g->tensors[k];
        int ok = 0;
        size_t count = nn_shape_is_static(&t->shape) ? nn_shape_count(&t->shape, &ok) : 0;
        uint64_t e;
        if (fn) {
            nn_tensor_id id;
            id.id = k;
            in->bytes[k] = fn(user, g, id);
            continue;
        }
        if (!ok) { in->bytes[k] = NN_TARGET__U64MAX; continue; } /* refused later if used */
        e = nn_target__elem_bytes(t, int8_rule, is_bias[k]);
        if (t->dtype == NN_DTYPE_INT4 || t->dtype == NN_DTYPE_UINT4) in->bytes[k] = (count + 1) / 2;
        else if ((uint64_t)count > NN_TARGET__U64MAX / e) in->bytes[k] = NN_TARGET__U64MAX;
        else in->bytes[k] = (uint64_t)count * e;
    }
    /* reads, CSR */
    for (k = 0; k < nn; k++) in->read_start[k + 1] = in->read_start[k] + nn_target__node_reads(g, &g->nodes[k], NULL);
    in->read_count = in->read_start[nn];
    in->reads = (uint32_t *)nn_target__calloc(&in->alloc, in->read_count, sizeof(uint32_t));
    if (!in->reads) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target", "out of memory"); goto fail; }
    for (k = 0; k < nn; k++) nn_target__node_reads(g, &g->nodes[k], in->reads + in->read_start[k]);
    /* every tensor touched by a dynamic node needs a size */
    for (k = 0; k < nn; k++) {
        const nn_node *n = &g->nodes[k];
        uint32_t t = NN_TARGET__NONE;
        char b[96];
        if (in->node_static[k]) continue;
        for (i = in->read_start[k]; i < in->read_start[k + 1] && t == NN_TARGET__NONE; i++)
            if (in->bytes[in->reads[i]] == NN_TARGET__U64MAX) t = in->reads[i];
        for (i = 0; i < n->output_count && t == NN_TARGET__NONE; i++)
            if (n->outputs[i].id != NN_INVALID_ID && in->bytes[n->outputs[i].id] == NN_TARGET__U64MAX) t = n->outputs[i].id;
        if (t == NN_TARGET__NONE) continue;
        st = nn_diag_set(diag, NN_ERR_SHAPE, g->tensors[t].name,
                         "shape %s is not static (node '%s'): fix the input shapes and infer shapes first",
                         nn_shape_str(&g->tensors[t].shape, b, sizeof b), n->name ? n->name : "");
        goto fail;
    }
    nn_free(&in->alloc, is_bias);
    return NN_OK;
fail:
    nn_free(&in->alloc, is_bias);
    nn_target__info_free(in);
    return st;
}

/* ---- memory planning ------------------------------------------------------------------- */

/* One placement problem: items (buffers or groups of them) with a size and
   an inclusive lifetime [first, last]. */
typedef struct nn_target__item {
    uint64_t size;
    uint32_t first, last;
    uint64_t offset;
} nn_target__item;

static uint64_t nn_target__align_up(uint64_t v, uint64_t a) { return a > 1 ? (v + a - 1) / a * a : v; }

/* The gap search shared by both placements (Pisarchyk & Lee 2020, sec.
   4.3): among the items already placed whose lifetimes meet this one's,
   sorted by offset, take the smallest gap the item fits in; with none,
   go above the highest.  Visiting items in order of first use makes this
   a best-fit allocator (every placed item alive at this item's first use
   is exactly the set that meets it); visiting them largest first is the
   paper's greedy by size.  O(n^2 log n). */
static uint64_t nn_target__place(nn_target__item *it, uint32_t n, const uint32_t *seq, uint64_t align,
                                 uint32_t *tmp, uint8_t *placed) {
    uint32_t k, j, m;
    uint64_t top = 0;
    memset(placed, 0, n);
    for (k = 0; k < n; k++) {
        nn_target__item *x = &it[seq[k]];
        uint64_t prev = 0, best = NN_TARGET__U64MAX, best_gap = NN_TARGET__U64MAX;
        m = 0;
        for (j = 0; j < n; j++)
            if (placed[j] && it[j].first <= x->last && x->first <= it[j].last) {
                /* insertion by offset keeps tmp sorted */
                uint32_t q = m++;
                while (q > 0 && it[tmp[q - 1]].offset > it[j].offset) { tmp[q] = tmp[q - 1]; q--; }
                tmp[q] = j;
            }
        for (j = 0; j < m; j++) {
            const nn_target__item *p = &it[tmp[j]];
            uint64_t start = nn_target__align_up(prev, align);
            if (p->offset >= start && p->offset - start >= x->size && p->offset - start < best_gap) {
                best_gap = p->offset - start;
                best = start;
            }
            if (p->offset + p->size > prev) prev = p->offset + p->size;
        }
        x->offset = best != NN_TARGET__U64MAX ? best : nn_target__align_up(prev, align);
        if (x->offset + x->size > top) top = x->offset + x->size;
        placed[seq[k]] = 1;
    }
    return top;
}

/* The largest total size alive at one step. */
static uint64_t nn_target__bound(const nn_target__item *it, uint32_t n, uint32_t steps, uint64_t *acc) {
    uint32_t k, s;
    uint64_t best = 0, cur = 0;
    memset(acc, 0, ((size_t)steps + 1) * sizeof(uint64_t));
    for (k = 0; k < n; k++) {
        acc[it[k].first] += it[k].size;
        /* subtracted after its last step */
        acc[it[k].last + 1] -= it[k].size;
    }
    for (s = 0; s < steps; s++) {
        cur += acc[s];
        if (cur > best) best = cur;
    }
    return best;
}

/* Orders for the two placements: by size (larger first, then earlier),
   by first use (then larger first).  A bottom-up merge sort on indices
   (stable; qsort has no context argument in C99). */
static void nn_target__sort(uint32_t *idx, uint32_t n, const nn_target__item *it, int by_size, uint32_t *tmp) {
    uint32_t width, i;
    for (i = 0; i < n; i++) idx[i] = i;
    for (width = 1; width < n; width *= 2) {
        for (i = 0; i < n; i += 2 * width) {
            uint32_t lo = i, mid = i + width < n ? i + width : n, hi = i + 2 * width < n ? i + 2 * width : n;
            uint32_t a = lo, b = mid, o = lo;
            while (a < mid || b < hi) {
                int take_a;
                if (a >= mid) take_a = 0;
                else if (b >= hi) take_a = 1;
                else {
                    const nn_target__item *x = &it[idx[a]], *y = &it[idx[b]];
                    if (by_size) take_a = x->size != y->size ? x->size > y->size : x->first <= y->first;
                    else take_a = x->first != y->first ? x->first < y->first : x->size >= y->size;
                }
                tmp[o++] = take_a ? idx[a++] : idx[b++];
            }
        }
        memcpy(idx, tmp, (size_t)n * sizeof(uint32_t));
    }
}

/* One attempt: an order, with or without sharing. */
typedef struct nn_target__try {
    uint32_t *order;              /* (steps) */
    nn_target_buffer *buf;        /* (n) */
    uint32_t n;
    uint64_t arena, bound, greedy, bestfit, no_reuse;
    const char *method;
    uint32_t views, inplace, slices;
} nn_target__try;

static int nn_target__is_view(const nn_node *n) {
    static const char *const ops[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"};
    size_t i;
    for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (nn_target__is(n, ops[i])) return 1;
    return 0;
}

/* Element-wise ops whose output element i depends only on element i of
   each same-shaped input: safe to write over an input as they stream. */
static int nn_target__is_elementwise(const nn_node *n) {
    static const char *const ops[] = {"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Sqrt",
                                      "Neg", "Abs", "Exp", "Log", "Reciprocal", "LeakyRelu", "Elu", "Selu", "Gelu",
                                      "Softplus", "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Cast",
                                      "QuantizeLinear", "DequantizeLinear", "PRelu", "Floor", "Ceil", "Round", "Sign"};
    size_t i;
    for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (nn_target__is(n, ops[i])) return 1;
    return 0;
}

/* Sharing: walks the order once and merges buffers into groups (views,
   in place, concat slices).  root/offin/next/gsize/gfirst/glast/gpin are
   per buffer (meaningful at roots). */
typedef struct nn_target__share {
    uint32_t *root, *next;
    uint64_t *offin, *gsize;
    uint32_t *gfirst, *glast;
    uint8_t *gpin;
} nn_target__share;

static void nn_target__merge(nn_target__share *s, nn_target_buffer *b, uint32_t from, uint32_t to, uint64_t at) {
    uint32_t m = from, tail = to;
    while (s->next[tail] != NN_TARGET__NONE) tail = s->next[tail];
    for (m = from; m != NN_TARGET__NONE; m = s->next[m]) {
        s->root[m] = to;
        s->offin[m] += at;
        if (s->offin[m] + b[m].bytes > s->gsize[to]) s->gsize[to] = s->offin[m] + b[m].bytes;
    }
    s->next[tail] = from;
    if (s->gfirst[from] < s->gfirst[to]) s->gfirst[to] = s->gfirst[from];
    if (s->glast[from] > s->glast[to]) s->glast[to] = s->glast[from];
    s->gpin[to] |= s->gpin[from];
}

static void nn_target__share_walk(const nn_target__info *in, const uint32_t *order, nn_target_buffer *b,
                                  const uint32_t *tb, nn_target__share *s, uint32_t flags, nn_target__try *tr) {
    const nn_graph *g = in->g;
    uint32_t step, i;
    for (step = 0; step < g->node_count; step++) {
        const nn_node *n = &g->nodes[order[step]];
        uint32_t y;
        if (in->node_static[order[step]] || n->output_count < 1 || n->outputs[0].id == NN_INVALID_ID) continue;
        y = tb[n->outputs[0].id];
        if (y == NN_TARGET__NONE || s->root[y] != y || s->next[y] != NN_TARGET__NONE) continue;
        if (!(flags & NN_TARGET_MEM_NO_VIEW) && nn_target__is_view(n) && n->input_count >= 1 &&
            n->inputs[0].id != NN_INVALID_ID) {
            uint32_t x = tb[n->inputs[0].id];
            if (x != NN_TARGET__NONE && b[x].bytes == b[y].bytes) {
                nn_target__merge(s, b, y, s->root[x], s->offin[x]);
                b[y].kind = NN_TARGET_BUF_VIEW;
                tr->views++;
                continue;
            }
        }
        if (!(flags & NN_TARGET_MEM_NO_INPLACE) && nn_target__is_elementwise(n)) {
            int done = 0;
            for (i = 0; i < n->input_count && !done; i++) {
                uint32_t x, r;
                int ok1 = 0, ok2 = 0;
                if (n->inputs[i].id == NN_INVALID_ID) continue;
                x = tb[n->inputs[i].id];
                if (x == NN_TARGET__NONE) continue;
                r = s->root[x];
                if (s->gpin[r] || s->glast[r] != step || b[y].bytes > b[x].bytes) continue;
                if (nn_shape_count(&g->tensors[n->inputs[i].id].shape, &ok1) !=
                        nn_shape_count(&g->tensors[n->outputs[0].id].shape, &ok2) || !ok1 || !ok2)
                    continue;
                nn_target__merge(s, b, y, r, s->offin[x]);
                b[y].kind = NN_TARGET_BUF_INPLACE;
                tr->inplace++;
                done = 1;
            }
            if (done) continue;
        }
        if (!(flags & NN_TARGET_MEM_NO_CONCAT) && nn_target__is(n, "Concat") && n->input_count >= 1) {
            const nn_shape *ys = &g->tensors[n->outputs[0].id].shape;
            int64_t axis = nn_node_attr_int(n, "axis", 0), lead = 1;
            uint64_t sum = 0;
            int ok = 1;
            int32_t d;
            if (axis < 0) axis += ys->rank;
            if (axis < 0 || axis >= ys->rank) continue;
            for (d = 0; d < axis; d++) lead *= ys->dims[d];
            /* Slices are contiguous only when nothing varies outside the axis. */
            if (lead != 1) continue;
            for (i = 0; i < n->input_count && ok; i++) {
                uint32_t x, r, j;
                if (n->inputs[i].id == NN_INVALID_ID || (x = tb[n->inputs[i].id]) == NN_TARGET__NONE) { ok = 0; break; }
                r = s->root[x];
                if (r == y || s->gpin[r] || s->offin[x] != 0 || s->gsize[r] != b[x].bytes) ok = 0;
                for (j = 0; j < i && ok; j++)
                    if (s->root[tb[n->inputs[j].id]] == r) ok = 0;
                sum += b[x].bytes;
            }
            if (!ok || sum != b[y].bytes) continue;
            sum = 0;
            for (i = 0; i < n->input_count; i++) {
                uint32_t x = tb[n->inputs[i].id], r = s->root[x];
                uint64_t at = sum;
                sum += b[x].bytes;
                b[r].kind = NN_TARGET_BUF_SLICE;
                nn_target__merge(s, b, r, y, at);
                tr->slices++;
            }
        }
    }
}

/* Lifetimes of every activation for one order; buffers are made in step
   order (graph inputs first).  tb maps tensor -> buffer. */
static uint32_t nn_target__lifetimes(const nn_target__info *in, const uint32_t *order, nn_target_buffer *b, uint32_t *tb) {
    const nn_graph *g = in->g;
    uint32_t n = 0, step, i, steps = g->node_count;
    for (i = 0; i < g->tensor_count; i++) tb[i] = NN_TARGET__NONE;
    for (i = 0; i < g->input_count; i++) {
        uint32_t t = g->inputs[i].id;
        if (in->is_static[t] || tb[t] != NN_TARGET__NONE || in->bytes[t] == 0 || in->bytes[t] == NN_TARGET__U64MAX) continue;
        memset(&b[n], 0, sizeof b[n]);
        b[n].tensor.id = t;
        b[n].bytes = in->bytes[t];
        b[n].first = b[n].last = 0;
        tb[t] = n++;
    }
    for (step = 0; step < steps; step++) {
        uint32_t ni = order[step];
        const nn_node *nd = &g->nodes[ni];
        for (i = in->read_start[ni]; i < in->read_start[ni + 1]; i++) {
            uint32_t x = tb[in->reads[i]];
            if (x != NN_TARGET__NONE && b[x].last < step) b[x].last = step;
        }
        if (in->node_static[ni]) continue;
        for (i = 0; i < nd->output_count; i++) {
            uint32_t t = nd->outputs[i].id;
            if (t == NN_INVALID_ID || tb[t] != NN_TARGET__NONE || in->bytes[t] == 0) continue;
            memset(&b[n], 0, sizeof b[n]);
            b[n].tensor.id = t;
            b[n].bytes = in->bytes[t];
            b[n].first = b[n].last = step;
            tb[t] = n++;
        }
    }
    for (i = 0; i < g->output_count; i++) {
        uint32_t x = tb[g->outputs[i].id];
        if (x != NN_TARGET__NONE) b[x].last = steps ? steps - 1 : 0;
    }
    return n;
}

/* Memory-greedy topological order: at each step run the ready node that
   adds the least live memory (its outputs minus the inputs it frees), the
   earlier one in the base order on ties.  A heuristic: it lowers the peak
   on branched graphs (an FPN's lateral branches run late, next to their
   consumer) and cannot break dependencies. */
static nn_status nn_target__greedy_order(const nn_target__info *in, uint32_t *out, nn_diag *diag) {
    const nn_graph *g = in->g;
    uint32_t nn = g->node_count, nt = g->tensor_count, k, i, step;
    nn_allocator a = in->alloc;
    uint32_t *pending = (uint32_t *)nn_target__calloc(&a, nn, sizeof(uint32_t));  /* unmade inputs per node */
    uint32_t *uses = (uint32_t *)nn_target__calloc(&a, nt, sizeof(uint32_t));     /* unrun readers per tensor */
    uint8_t *made = (uint8_t *)nn_target__calloc(&a, nt, 1), *ran = (uint8_t *)nn_target__calloc(&a, nn, 1);
    uint8_t *out_flag = (uint8_t *)nn_target__calloc(&a, nt, 1);
    nn_status st = NN_OK;
    if (!pending || !uses || !made || !ran || !out_flag) {
        st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target", "out of memory");
        goto done;
    }
    for (i = 0; i < nt; i++) made[i] = g->tensors[i].producer.id == NN_INVALID_ID;
    for (i = 0; i < g->output_count; i++) out_flag[g->outputs[i].id] = 1;
    for (k = 0; k < nn; k++)
        for (i = in->read_start[k]; i < in->read_start[k + 1]; i++) {
            uses[in->reads[i]]++;
            if (!made[in->reads[i]]) pending[k]++;
        }
    for (step = 0; step < nn; step++) {
        uint32_t best = NN_TARGET__NONE;
        int64_t best_delta = 0;
        for (k = 0; k < nn; k++) {
            uint32_t ni = in->topo[k];
            int64_t delta = 0;
            if (ran[ni] || pending[ni]) continue;
            if (!in->node_static[ni]) {
                const nn_node *nd = &g->nodes[ni];
                for (i = 0; i < nd->output_count; i++)
                    if (nd->outputs[i].id != NN_INVALID_ID) delta += (int64_t)in->bytes[nd->outputs[i].id];
                for (i = in->read_start[ni]; i < in->read_start[ni + 1]; i++) {
                    uint32_t t = in->reads[i], c = 0, j, seen_before = 0;
                    if (in->is_static[t] || out_flag[t]) continue;
                    for (j = in->read_start[ni]; j < in->read_start[ni + 1]; j++) {
                        if (in->reads[j] != t) continue;
                        c++;
                        if (j < i) seen_before = 1;
                    }
                    /* this node is t's last reader: t is freed (counted once) */
                    if (!seen_before && uses[t] == c) delta -= (int64_t)in->bytes[t];
                }
            }
            if (best == NN_TARGET__NONE || delta < best_delta) { best = ni; best_delta = delta; }
        }
        if (best == NN_TARGET__NONE) { st = nn_diag_set(diag, NN_ERR_INVALID, "nn_target", "graph has a cycle"); goto done; }
        out[step] = best;
        ran[best] = 1;
        for (i = in->read_start[best]; i < in->read_start[best + 1]; i++) uses[in->reads[i]]--;
        for (i = 0; i < g->nodes[best].output_count; i++) {
            uint32_t t = g->nodes[best].outputs[i].id;
            if (t == NN_INVALID_ID || made[t]) continue;
            made[t] = 1;
            for (k = 0; k < nn; k++) {
                uint32_t j;
                if (ran[k]) continue;
                for (j = in->read_start[k]; j < in->read_start[k + 1]; j++)
                    if (in->reads[j] == t) pending[k]--;
            }
        }
    }
done:
    nn_free(&a, pending); nn_free(&a, uses);
    nn_free(&a, made); nn_free(&a, ran); nn_free(&a, out_flag);
    return st;
}

/* Depth-first order from the graph outputs: a node runs right after the
   producers of its inputs, and of those the producer of the larger input
   runs first (Sethi & Ullman's rule for expression trees: the costlier
   operand first, so fewer results wait).  Finishing one branch before
   starting the next keeps the other branches' tensors from being alive
   at once.  Iterative (explicit stack), so deep graphs cannot overflow
   the call stack.  Nodes no output needs follow in topological order. */
static nn_status nn_target__dfs_order(const nn_target__info *in, uint32_t *out, nn_diag *diag) {
    const nn_graph *g = in->g;
    uint32_t nn = g->node_count, n = 0, sp = 0, k, i;
    nn_allocator a = in->alloc;
    uint32_t *stack = (uint32_t *)nn_target__calloc(&a, (size_t)nn + 1, sizeof(uint32_t));
    uint8_t *state = (uint8_t *)nn_target__calloc(&a, (size_t)nn + 1, 1); /* 0 new, 1 on stack, 2 emitted */
    if (!stack || !state) {
        nn_free(&a, stack);
        nn_free(&a, state);
        return nn_diag_set(diag, NN_ERR_NOMEM, "nn_target", "out of memory");
    }
    for (k = 0; k <= g->output_count; k++) {
        /* roots: producers of the graph outputs, then (k == output_count)
           every node left, in topological order */
        uint32_t root_count = k < g->output_count ? 1 : nn, r;
        for (r = 0; r < root_count; r++) {
            uint32_t root = k < g->output_count ? g->tensors[g->outputs[k].id].producer.id : in->topo[r];
            if (root == NN_INVALID_ID || root >= nn || state[root]) continue;
            stack[sp++] = root;
            state[root] = 1;
            while (sp) {
                uint32_t top = stack[sp - 1], pick = NN_TARGET__NONE;
                uint64_t pick_bytes = 0;
                for (i = in->read_start[top]; i < in->read_start[top + 1]; i++) {
                    uint32_t p = g->tensors[in->reads[i]].producer.id;
                    uint64_t b = in->bytes[in->reads[i]];
                    if (p == NN_INVALID_ID || p >= nn || state[p]) continue;
                    if (pick == NN_TARGET__NONE || b > pick_bytes) { pick = p; pick_bytes = b; }
                }
                if (pick != NN_TARGET__NONE) {
                    stack[sp++] = pick; /* at most nn entries: each node is pushed once */
                    state[pick] = 1;
                    continue;
                }
                out[n++] = top;
                state[top] = 2;
                sp--;
            }
        }
    }
    nn_free(&a, stack);
    nn_free(&a, state);
    /* graphs reaching here passed nn_graph_topo_order: acyclic */
    return n == nn ? NN_OK : nn_diag_set(diag, NN_ERR_INVALID, "nn_target", "graph has a cycle");
}

/* Plans one order: lifetimes, optional sharing, both placements. */
static nn_status nn_target__try_order(const nn_target__info *in, const uint32_t *order, int share, uint32_t flags,
                                      uint64_t align, nn_target__try *tr, nn_diag *diag) {
    const nn_graph *g = in->g;
    nn_allocator a = in->alloc;
    uint32_t nt = g->tensor_count, steps = g->node_count, n, k, ni = 0;
    uint32_t *tb = (uint32_t *)nn_target__calloc(&a, nt, sizeof(uint32_t));
    nn_target__share s;
    nn_target__item *it = NULL;
    uint32_t *idx = NULL, *tmp = NULL, *item_of = NULL;
    uint8_t *placed = NULL;
    uint64_t *acc = NULL, gs, bf;
    nn_status st = NN_OK;
    memset(&s, 0, sizeof s);
    memset(tr, 0, sizeof *tr);
    tr->order = (uint32_t *)nn_target__calloc(&a, steps, sizeof(uint32_t));
    tr->buf = (nn_target_buffer *)nn_target__calloc(&a, (size_t)nt + 1, sizeof(nn_target_buffer));
    if (!tb || !tr->order || !tr->buf) goto nomem;
    memcpy(tr->order, order, (size_t)steps * sizeof(uint32_t));
    n = tr->n = nn_target__lifetimes(in, order, tr->buf, tb);
    s.root = (uint32_t *)nn_target__calloc(&a, n, sizeof(uint32_t));
    s.next = (uint32_t *)nn_target__calloc(&a, n, sizeof(uint32_t));
    s.offin = (uint64_t *)nn_target__calloc(&a, n, sizeof(uint64_t));
    s.gsize = (uint64_t *)nn_target__calloc(&a, n, sizeof(uint64_t));
    s.gfirst = (uint32_t *)nn_target__calloc(&a, n, sizeof(uint32_t));
    s.glast = (uint32_t *)nn_target__calloc(&a, n, sizeof(uint32_t));
    s.gpin = (uint8_t *)nn_target__calloc(&a, n, 1);
    it = (nn_target__item *)nn_target__calloc(&a, n, sizeof(nn_target__item));
    idx = (uint32_t *)nn_target__calloc(&a, n, sizeof(uint32_t));
    tmp = (uint32_t *)nn_target__calloc(&a, n, sizeof(uint32_t));
    item_of = (uint32_t *)nn_target__calloc(&a, n, sizeof(uint32_t));
    placed = (uint8_t *)nn_target__calloc(&a, n, 1);
    acc = (uint64_t *)nn_target__calloc(&a, (size_t)steps + 2, sizeof(uint64_t));
    if (!s.root || !s.next || !s.offin || !s.gsize || !s.gfirst || !s.glast || !s.gpin || !it || !idx || !tmp ||
        !item_of || !placed || !acc)
        goto nomem;
    for (k = 0; k < n; k++) {
        nn_target_buffer *b = &tr->buf[k];
        s.root[k] = k;
        s.next[k] = NN_TARGET__NONE;
        s.gsize[k] = b->bytes;
        s.gfirst[k] = b->first;
        s.glast[k] = b->last;
        /* graph inputs and outputs keep their own storage */
        s.gpin[k] = (uint8_t)((g->tensors[b->tensor.id].flags & (NN_TENSOR_INPUT | NN_TENSOR_OUTPUT)) != 0);
        tr->no_reuse += nn_target__align_up(b->bytes, align);
    }
    if (share) nn_target__share_walk(in, order, tr->buf, tb, &s, flags, tr);
    for (k = 0; k < n; k++)
        if (s.root[k] == k) {
            it[ni].size = nn_target__align_up(s.gsize[k], align);
            it[ni].first = s.gfirst[k];
            it[ni].last = s.glast[k];
            item_of[k] = ni++;
        }
    tr->bound = nn_target__bound(it, ni, steps ? steps : 1, acc);
    nn_target__sort(idx, ni, it, 1, tmp);
    gs = nn_target__place(it, ni, idx, align, tmp, placed);
    nn_target__sort(idx, ni, it, 0, tmp);
    bf = nn_target__place(it, ni, idx, align, tmp, placed);
    tr->greedy = gs;
    tr->bestfit = bf;
    if (gs < bf) { /* place again: the last placement left best-fit offsets */
        nn_target__sort(idx, ni, it, 1, tmp);
        nn_target__place(it, ni, idx, align, tmp, placed);
        tr->method = "greedy-by-size";
        tr->arena = gs;
    } else {
        tr->method = "best-fit";
        tr->arena = bf;
    }
    for (k = 0; k < n; k++) {
        uint32_t r = s.root[k];
        tr->buf[k].group = r;
        tr->buf[k].offset = it[item_of[r]].offset + s.offin[k];
    }
    goto done;
nomem:
    st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_plan_memory", "out of memory");
    nn_free(&a, tr->order);
    nn_free(&a, tr->buf);
    tr->order = NULL;
    tr->buf = NULL;
done:
    nn_free(&a, tb); nn_free(&a, s.root); nn_free(&a, s.next); nn_free(&a, s.offin); nn_free(&a, s.gsize);
    nn_free(&a, s.gfirst); nn_free(&a, s.glast); nn_free(&a, s.gpin); nn_free(&a, it); nn_free(&a, idx);
    nn_free(&a, tmp); nn_free(&a, item_of); nn_free(&a, placed); nn_free(&a, acc);
    return st;
}

static void nn_target__try_free(const nn_allocator *a, nn_target__try *tr) {
    nn_free(a, tr->order);
    nn_free(a, tr->buf);
    tr->order = NULL;
    tr->buf = NULL;
}

/* Weights region: every static tensor a dynamic node reads, in first-use
   order, each at an aligned offset. */
static nn_status nn_target__weights(const nn_target__info *in, const uint32_t *order, uint64_t align,
                                    nn_target_memory_plan *p, nn_diag *diag) {
    const nn_graph *g = in->g;
    uint32_t k, i, n = 0;
    uint8_t *seen = (uint8_t *)nn_target__calloc(&p->alloc, g->tensor_count, 1);
    uint64_t off = 0;
    p->weights = (nn_target_weight *)nn_target__calloc(&p->alloc, (size_t)g->tensor_count + 1, sizeof(nn_target_weight));
    if (!seen || !p->weights) {
        nn_free(&p->alloc, seen);
        return nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_plan_memory", "out of memory");
    }
    for (k = 0; k < g->node_count; k++) {
        uint32_t ni = order[k];
        if (in->node_static[ni]) continue;
        for (i = in->read_start[ni]; i < in->read_start[ni + 1]; i++) {
            uint32_t t = in->reads[i];
            if (!in->is_static[t] || seen[t] || in->bytes[t] == NN_TARGET__U64MAX) continue;
            seen[t] = 1;
            off = nn_target__align_up(off, align);
            p->weights[n].tensor.id = t;
            p->weights[n].bytes = in->bytes[t];
            p->weights[n].offset = off;
            off += in->bytes[t];
            n++;
        }
    }
    p->weight_count = n;
    p->weight_bytes = nn_target__align_up(off, align);
    nn_free(&p->alloc, seen);
    return NN_OK;
}

NN_API nn_status nn_target_plan_memory(const nn_graph *g, const nn_target_memory_desc *desc,
                                       nn_target_memory_plan *out, nn_diag *diag) {
    nn_target_memory_desc d;
    nn_target__info in;
    nn_target__try base, t1, t2, t3;
    nn_target__try *best;
    nn_target_memory_plan p;
    uint32_t *greedy = NULL;
    uint64_t align;
    nn_status st;
    NN_ASSERT(g && out);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (d.align == 0) d.align = 16;
    if (d.weight_align == 0) d.weight_align = 64;
    align = d.align;
    memset(&base, 0, sizeof base); memset(&t1, 0, sizeof t1); memset(&t2, 0, sizeof t2); memset(&t3, 0, sizeof t3);
    memset(&p, 0, sizeof p);
    p.alloc = d.alloc;
    st = nn_target__info_make(g, &d.alloc, d.bytes_rule, d.bytes_fn, d.bytes_user, d.order, g->node_count, &in, diag);
    if (st) return st;
    /* the reference figures: topological order, nothing shared */
    st = nn_target__try_order(&in, in.topo, 0, d.flags, align, &base, diag);
    if (!st) st = nn_target__try_order(&in, in.topo, 1, d.flags, align, &t1, diag);
    /* sharing is kept unless it loses (it cannot: it only merges) */
    best = base.arena < t1.arena ? &base : &t1;
    if (!st && !(d.flags & NN_TARGET_MEM_NO_REORDER)) {
        greedy = (uint32_t *)nn_target__calloc(&in.alloc, g->node_count, sizeof(uint32_t));
        if (!greedy) st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_plan_memory", "out of memory");
        if (!st) st = nn_target__greedy_order(&in, greedy, diag);
        if (!st) st = nn_target__try_order(&in, greedy, 1, d.flags, align, &t2, diag);
        if (!st) st = nn_target__dfs_order(&in, greedy, diag);
        if (!st) st = nn_target__try_order(&in, greedy, 1, d.flags, align, &t3, diag);
        if (!st) {
            /* the depth-first order without in-place sharing too: merging a
               small output into a larger input keeps the larger buffer alive
               as long as the output (nn_target_patchify's quantized bands waiting
               for their Concat, each holding its float band) */
            nn_target__try t4;
            st = nn_target__try_order(&in, greedy, 0, d.flags, align, &t4, diag);
            if (!st && t4.arena < t3.arena) {
                nn_target__try tmp = t3;
                t3 = t4;
                t4 = tmp;
            }
            nn_target__try_free(&in.alloc, &t4);
        }
        if (!st && t3.arena < t2.arena) {
            nn_target__try tmp = t2;
            t2 = t3;
            t3 = tmp;
        }
        if (!st && t2.buf && t2.arena < best->arena) best = &t2;
    }
    if (!st) st = nn_target__weights(&in, best->order ? best->order : in.topo, d.weight_align, &p, diag);
    if (st) goto done;
    p.step_count = g->node_count;
    p.order = best->order;
    p.buffers = best->buf;
    p.buffer_count = best->n;
    best->order = NULL;
    best->buf = NULL;
    p.arena_bytes = best->arena;
    p.no_reuse_bytes = base.no_reuse;
    p.bound_bytes = base.bound;
    p.greedy_size_bytes = base.greedy;
    p.best_fit_bytes = base.bestfit;
    p.ours_bound_bytes = best->bound;
    p.reordered = best == &t2;
    p.reorder_arena_bytes = t2.order || best == &t2 ? t2.arena : 0;
    p.reorder_bound_bytes = t2.order || best == &t2 ? t2.bound : 0;
    p.view_count = best->views;
    p.inplace_count = best->inplace;
    p.slice_count = best->slices;
    p.method = best->method;
    *out = p;
done:
    if (st) nn_free(&p.alloc, p.weights);
    nn_target__try_free(&in.alloc, &base);
    nn_target__try_free(&in.alloc, &t1);
    nn_target__try_free(&in.alloc, &t2);
    nn_target__try_free(&in.alloc, &t3);
    nn_free(&in.alloc, greedy);
    nn_target__info_free(&in);
    return st;
}

NN_API nn_status nn_target_plan_check(const nn_target_memory_plan *p, uint32_t align, nn_diag *diag) {
    uint32_t i, j;
    NN_ASSERT(p);
    for (i = 0; i < p->buffer_count; i++) {
        const nn_target_buffer *b = &p->buffers[i];
        if (b->first > b->last || (p->step_count && b->last >= p->step_count))
            return nn_diag_set(diag, NN_ERR_INVALID, "buffer", "buffer %u lives [%u, %u] outside %u steps", i, b->first,
                               b->last, p->step_count);
        if (b->offset > p->arena_bytes || b->bytes > p->arena_bytes - b->offset)
            return nn_diag_set(diag, NN_ERR_INVALID, "buffer", "buffer %u [%llu, +%llu) is outside the %llu-byte arena", i,
                               (unsigned long long)b->offset, (unsigned long long)b->bytes,
                               (unsigned long long)p->arena_bytes);
        if (b->group >= p->buffer_count)
            return nn_diag_set(diag, NN_ERR_INVALID, "buffer", "buffer %u names group %u", i, b->group);
        if (align > 1 && b->group == i && b->offset % align)
            return nn_diag_set(diag, NN_ERR_INVALID, "buffer", "buffer %u at %llu is not %u-aligned", i,
                               (unsigned long long)b->offset, align);
    }
    for (i = 0; i < p->buffer_count; i++)
        for (j = i + 1; j < p->buffer_count; j++) {
            const nn_target_buffer *x = &p->buffers[i], *y = &p->buffers[j];
            if (x->group == y->group || x->first > y->last || y->first > x->last) continue;
            if (x->offset < y->offset + y->bytes && y->offset < x->offset + x->bytes && x->bytes && y->bytes)
                return nn_diag_set(diag, NN_ERR_INVALID, "buffer",
                                   "buffers %u and %u are alive together (steps %u-%u, %u-%u) and overlap "
                                   "([%llu, +%llu) and [%llu, +%llu))",
                                   i, j, x->first, x->last, y->first, y->last, (unsigned long long)x->offset,
                                   (unsigned long long)x->bytes, (unsigned long long)y->offset, (unsigned long long)y->bytes);
        }
    return NN_OK;
}

/* snprintf into buf at *len, keeping the needed length when cap runs out. */
static void nn_target__out(char *buf, size_t cap, size_t *len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void nn_target__out(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = vsnprintf(*len < cap ? buf + *len : NULL, *len < cap ? cap - *len : 0, fmt, ap);
    va_end(ap);
    if (r > 0) *len += (size_t)r;
}

NN_API size_t nn_target_memory_timeline(const nn_graph *g, const nn_target_memory_plan *p, char *buf, size_t cap) {
    static const char *const kinds[] = {"own", "view", "inplace", "slice"};
    size_t len = 0;
    uint32_t i, k, done = 0;
    uint64_t last_off = 0;
    uint32_t last_i = NN_TARGET__NONE;
    int bars = p->step_count <= 120;
    if (buf && cap) buf[0] = 0;
    if (!buf) cap = 0;
    nn_target__out(buf, cap, &len, "%12s %10s %5s %5s %-7s %-32s%s\n", "offset", "bytes", "first", "last", "kind",
                   "tensor", bars ? " steps" : "");
    /* selection by offset (then index): O(n^2), text for people */
    while (done < p->buffer_count) {
        uint32_t pick = NN_TARGET__NONE;
        for (i = 0; i < p->buffer_count; i++) {
            const nn_target_buffer *b = &p->buffers[i];
            int after = last_i == NN_TARGET__NONE || b->offset > last_off || (b->offset == last_off && i > last_i);
            if (!after) continue;
            if (pick == NN_TARGET__NONE || b->offset < p->buffers[pick].offset) pick = i;
        }
        if (pick == NN_TARGET__NONE) break;
        {
            const nn_target_buffer *b = &p->buffers[pick];
            const char *name = b->tensor.id < g->tensor_count ? g->tensors[b->tensor.id].name : "?";
            nn_target__out(buf, cap, &len, "%12llu %10llu %5u %5u %-7s %-32.32s", (unsigned long long)b->offset,
                           (unsigned long long)b->bytes, b->first, b->last, kinds[b->kind <= 3 ? b->kind : 0],
                           name ? name : "");
            if (bars) {
                nn_target__out(buf, cap, &len, " ");
                for (k = 0; k < p->step_count; k++)
                    nn_target__out(buf, cap, &len, "%c", k < b->first || k > b->last ? '.' : (k == b->first ? 'W' : '#'));
            }
            nn_target__out(buf, cap, &len, "\n");
        }
        last_off = p->buffers[pick].offset;
        last_i = pick;
        done++;
    }
    return len + 1;
}

NN_API void nn_target_memory_plan_deinit(nn_target_memory_plan *p) {
    if (!p) return;
    nn_free(&p->alloc, p->order);
    nn_free(&p->alloc, p->buffers);
    nn_free(&p->alloc, p->weights);
    memset(p, 0, sizeof *p);
}

/* ---- layer groups, tiling and cycles ------------------------------------------------------ */

typedef enum nn_target__kind {
    NN_TARGET__K_SKIP = 0,  /* constant, view, Q/DQ (fused into neighbours): no work */
    NN_TARGET__K_WINDOW,    /* Conv and pools on NCHW: rows through kernel, stride, dilation */
    NN_TARGET__K_DECONV,    /* ConvTranspose on NCHW */
    NN_TARGET__K_RESIZE,    /* Resize/Upsample on NCHW */
    NN_TARGET__K_ROW,       /* row-local ops: element-wise, channel concat, last-axis norms */
    NN_TARGET__K_MATMUL,    /* MatMul/Gemm: rows of A, columns of B */
    NN_TARGET__K_WHOLE      /* needs whole tensors (Transpose, global pools, row-axis reductions) */
} nn_target__kind;

typedef struct nn_target__layer {
    uint32_t node;
    nn_target__kind kind;
    uint32_t out;                 /* output tensor */
    uint64_t rows, row_bytes;     /* of the output: N*H for NCHW, leading dims otherwise */
    uint64_t channels;            /* splittable output channels (1: no split) */
    uint64_t k, s, d;             /* window along rows */
    int depthwise;
    uint64_t weight_bytes;        /* static inputs */
    uint64_t macs, elems;         /* MACs; output elements (vector work) */
    uint32_t elem_bytes;          /* of input 0: picks the MAC rate */
    int host;                     /* the accelerator lacks the op or dtype */
} nn_target__layer;

typedef struct nn_target__gctx {
    const nn_target__info *in;
    nn_target_desc t;
    nn_target__layer *L;
    uint32_t n;
    uint32_t *readers;            /* (tensor_count) dynamic nodes reading each tensor */
    uint64_t *rk;                 /* (n) scratch: rows per layer output in a tile */
} nn_target__gctx;

static uint64_t nn_target__rows_of(const nn_shape *s) {
    uint64_t r = 1;
    int32_t i;
    if (s->rank == 4) return (uint64_t)s->dims[0] * (uint64_t)s->dims[2];
    for (i = 0; i + 1 < s->rank; i++) r *= (uint64_t)s->dims[i];
    return r;
}

static int nn_target__any_of(const nn_node *n, const char *const *ops, size_t count) {
    size_t i;
    for (i = 0; i < count; i++)
        if (nn_target__is(n, ops[i])) return 1;
    return 0;
}

/* The axis a reduction/softmax-like node works along, normalized; -1 for
   "all" or unknown. */
static int64_t nn_target__axis(const nn_node *n, int32_t rank) {
    const nn_attr *a = nn_node_attr(n, "axes");
    int64_t ax;
    if (a && a->type == NN_ATTR_INTS && a->count == 1) ax = a->ints[0];
    else if (nn_node_attr(n, "axis")) ax = nn_node_attr_int(n, "axis", -1);
    else return -1;
    if (ax < 0) ax += rank;
    return ax >= 0 && ax < rank ? ax : -1;
}

static nn_target__kind nn_target__classify(const nn_graph *g, const nn_node *n) {
    static const char *const whole[] = {"Transpose", "Gather", "GatherElements", "GatherND", "ScatterND",
                                        "ScatterElements", "Pad", "TopK", "NonZero", "CumSum", "Einsum",
                                        "GlobalAveragePool", "GlobalMaxPool", "DepthToSpace", "SpaceToDepth",
                                        "Tile", "Expand", "Range", "Shape", "Size", "ConstantOfShape", "Where",
                                        "Loop", "If", "Scan", "LSTM", "GRU", "RNN", "NonMaxSuppression"};
    static const char *const axis_ops[] = {"Softmax", "LogSoftmax", "Hardmax", "ReduceMean", "ReduceSum",
                                           "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceL1",
                                           "ReduceSumSquare", "ReduceLogSumExp", "ArgMax", "ArgMin",
                                           "LayerNormalization", "Split", "Slice", "Concat"};
    const nn_shape *x = n->input_count && n->inputs[0].id != NN_INVALID_ID ? &g->tensors[n->inputs[0].id].shape : NULL;
    const nn_shape *y = &g->tensors[n->outputs[0].id].shape;
    if (nn_target__is(n, "Conv") || nn_target__is(n, "MaxPool") || nn_target__is(n, "AveragePool") ||
        nn_target__is(n, "LpPool"))
        return x && x->rank == 4 ? NN_TARGET__K_WINDOW : NN_TARGET__K_WHOLE;
    if (nn_target__is(n, "ConvTranspose")) return x && x->rank == 4 ? NN_TARGET__K_DECONV : NN_TARGET__K_WHOLE;
    if (nn_target__is(n, "Resize") || nn_target__is(n, "Upsample"))
        return x && x->rank == 4 ? NN_TARGET__K_RESIZE : NN_TARGET__K_WHOLE;
    if (nn_target__is(n, "MatMul") || nn_target__is(n, "Gemm")) return NN_TARGET__K_MATMUL;
    if (nn_target__any_of(n, whole, sizeof whole / sizeof whole[0])) return NN_TARGET__K_WHOLE;
    if (nn_target__any_of(n, axis_ops, sizeof axis_ops / sizeof axis_ops[0])) {
        /* row-local only when the axis is not the rows axis (H of NCHW,
           any leading axis otherwise) */
        int64_t ax = nn_target__axis(n, y->rank);
        if (ax < 0 && (nn_target__is(n, "Softmax") || nn_target__is(n, "LogSoftmax") || nn_target__is(n, "Hardmax")))
            ax = y->rank - 1; /* opset 13 default; older opsets flatten from axis 1: close enough for rows */
        if (ax < 0) return NN_TARGET__K_WHOLE;
        if (y->rank == 4) return ax == 1 || ax == 3 ? NN_TARGET__K_ROW : NN_TARGET__K_WHOLE;
        return ax == y->rank - 1 ? NN_TARGET__K_ROW : NN_TARGET__K_WHOLE;
    }
    return NN_TARGET__K_ROW;
}

/* Rows of tensor t that layer L needs for R rows of its output; *streamed
   is 1 when t is tiled by rows with the output, 0 when it must be held
   whole. */
static uint64_t nn_target__in_rows(const nn_target__gctx *c, const nn_target__layer *L, uint32_t t, uint64_t R,
                                   int *streamed) {
    const nn_graph *g = c->in->g;
    const nn_node *n = &g->nodes[L->node];
    const nn_shape *s = &g->tensors[t].shape;
    uint64_t rt = nn_target__rows_of(s), need;
    int is_x = n->input_count && n->inputs[0].id == t;
    *streamed = 1;
    switch (L->kind) {
    case NN_TARGET__K_WINDOW:
        if (!is_x) break;
        need = (R - 1) * L->s + (L->k - 1) * L->d + 1;
        return need < rt ? need : rt;
    case NN_TARGET__K_DECONV:
        if (!is_x) break;
        need = (R + (L->k - 1) * L->d + L->s - 1) / L->s + 1;
        return need < rt ? need : rt;
    case NN_TARGET__K_RESIZE:
        if (!is_x) break;
        need = (R * rt + L->rows - 1) / L->rows + 1;
        return need < rt ? need : rt;
    case NN_TARGET__K_ROW:
    case NN_TARGET__K_MATMUL:
        if (rt == L->rows && (s->rank == 4) == (g->tensors[L->out].shape.rank == 4) &&
            (L->kind != NN_TARGET__K_MATMUL || is_x))
            return R;
        break;
    default:
        break;
    }
    *streamed = 0;
    return rt;
}

/* Fills c->L for every dynamic, non-view node in order. */
static nn_status nn_target__layers(nn_target__gctx *c, const uint32_t *order, int int8_rule, nn_diag *diag) {
    const nn_target__info *in = c->in;
    const nn_graph *g = in->g;
    uint32_t k, i;
    (void)diag;
    c->n = 0;
    for (k = 0; k < g->node_count; k++) {
        uint32_t ni = order[k];
        const nn_node *n = &g->nodes[ni];
        nn_target__layer *L = &c->L[c->n];
        const nn_tensor *y;
        int known;
        nn_dtype dt;
        if (in->node_static[ni] || n->output_count < 1 || n->outputs[0].id == NN_INVALID_ID) continue;
        if (nn_target__is_view(n) || nn_target__is(n, "QuantizeLinear") || nn_target__is(n, "DequantizeLinear")) continue;
        y = &g->tensors[n->outputs[0].id];
        if (in->bytes[n->outputs[0].id] == 0) continue;
        memset(L, 0, sizeof *L);
        L->node = ni;
        L->out = n->outputs[0].id;
        L->kind = nn_target__classify(g, n);
        L->rows = nn_target__rows_of(&y->shape);
        if (!L->rows) continue;
        L->row_bytes = (in->bytes[L->out] + L->rows - 1) / L->rows;
        L->channels = 1;
        L->k = L->s = L->d = 1;
        if (y->shape.rank == 4 && L->kind != NN_TARGET__K_WHOLE) L->channels = (uint64_t)y->shape.dims[1];
        if (L->kind == NN_TARGET__K_WHOLE && y->shape.rank == 4 &&
            (nn_target__is(n, "GlobalAveragePool") || nn_target__is(n, "GlobalMaxPool")))
            L->channels = (uint64_t)y->shape.dims[1];
        if (L->kind == NN_TARGET__K_MATMUL && y->shape.rank >= 1) L->channels = (uint64_t)y->shape.dims[y->shape.rank - 1];
        if (L->kind == NN_TARGET__K_WINDOW || L->kind == NN_TARGET__K_DECONV) {
            const nn_attr *ks = nn_node_attr(n, "kernel_shape"), *st = nn_node_attr(n, "strides"),
                          *dl = nn_node_attr(n, "dilations");
            if (ks && ks->type == NN_ATTR_INTS && ks->count >= 1) L->k = (uint64_t)ks->ints[0];
            else if (n->input_count > 1 && n->inputs[1].id != NN_INVALID_ID && g->tensors[n->inputs[1].id].shape.rank == 4)
                L->k = (uint64_t)g->tensors[n->inputs[1].id].shape.dims[2];
            if (st && st->type == NN_ATTR_INTS && st->count >= 1) L->s = (uint64_t)st->ints[0];
            if (dl && dl->type == NN_ATTR_INTS && dl->count >= 1) L->d = (uint64_t)dl->ints[0];
            if (L->k < 1) L->k = 1;
            if (L->s < 1) L->s = 1;
            if (L->d < 1) L->d = 1;
            L->depthwise = nn_node_attr_int(n, "group", 1) > 1 &&
                           nn_node_attr_int(n, "group", 1) == g->tensors[n->inputs[0].id].shape.dims[1];
        }
        for (i = in->read_start[ni]; i < in->read_start[ni + 1]; i++)
            if (in->is_static[in->reads[i]]) L->weight_bytes += in->bytes[in->reads[i]];
        L->macs = nn_node_macs(g, n, &known);
        {
            int ok;
            L->elems = nn_shape_count(&y->shape, &ok);
        }
        L->elem_bytes = 1;
        if (n->input_count && n->inputs[0].id != NN_INVALID_ID) {
            const nn_tensor *x = &g->tensors[n->inputs[0].id];
            int okx;
            size_t cnt = nn_shape_count(&x->shape, &okx);
            if (okx && cnt) L->elem_bytes = (uint32_t)(in->bytes[n->inputs[0].id] / cnt);
            if (!L->elem_bytes) L->elem_bytes = 1;
        }
        dt = int8_rule && nn_dtype_is_float(y->dtype) ? NN_DTYPE_INT8 : y->dtype;
        L->host = !nn_target_supports_op(&c->t, n->op_type) || (unsigned)dt >= 32 || !(c->t.dtypes & (1u << dt));
        c->n++;
    }
    return NN_OK;
}

/* Working set of layers [first, first+count) for R rows of the last
   layer's output and ch of its channels (ch < channels only for a single
   layer).  Fills c->rk and the parts. */
static uint64_t nn_target__ws(nn_target__gctx *c, uint32_t first, uint32_t count, uint64_t R, uint64_t ch,
                              uint64_t *in_stream, uint64_t *in_res, uint64_t *mid, uint64_t *outb, uint64_t *wb) {
    const nn_target__info *in = c->in;
    const nn_graph *g = in->g;
    uint32_t j, i, last = first + count - 1;
    uint64_t is = 0, ir = 0, m = 0, o, w = 0;
    const nn_target__layer *LL = &c->L[last];
    int st;
    c->rk[last] = R;
    for (j = last; j > first; j--) {
        uint64_t r = nn_target__in_rows(c, &c->L[j], c->L[j - 1].out, c->rk[j], &st);
        c->rk[j - 1] = r ? r : 1;
    }
    o = R * LL->row_bytes;
    if (ch < LL->channels) o = (o * ch + LL->channels - 1) / LL->channels;
    for (j = first; j <= last; j++) {
        const nn_target__layer *L = &c->L[j];
        uint64_t lw = L->weight_bytes;
        if (j < last) m += c->rk[j] * L->row_bytes;
        if (ch < L->channels) lw = (lw * ch + L->channels - 1) / L->channels;
        w += lw;
        for (i = in->read_start[L->node]; i < in->read_start[L->node + 1]; i++) {
            uint32_t t = in->reads[i];
            const nn_shape *s = &g->tensors[t].shape;
            uint64_t rows, rb, bytes;
            if (in->is_static[t] || (j > first && t == c->L[j - 1].out)) continue;
            rows = nn_target__in_rows(c, L, t, c->rk[j], &st);
            rb = nn_target__rows_of(s) ? (in->bytes[t] + nn_target__rows_of(s) - 1) / nn_target__rows_of(s) : in->bytes[t];
            bytes = st ? rows * rb : in->bytes[t];
            /* channel-aligned inputs shrink with a channel split; a dense
               conv's input does not (every output channel reads all) */
            if (ch < L->channels && s->rank == 4 && (uint64_t)s->dims[1] == L->channels &&
                !(L->kind == NN_TARGET__K_WINDOW && nn_target__is(&g->nodes[L->node], "Conv") && !L->depthwise))
                bytes = (bytes * ch + L->channels - 1) / L->channels;
            if (st) is += bytes;
            else ir += bytes;
        }
    }
    if (in_stream) *in_stream = is;
    if (in_res) *in_res = ir;
    if (mid) *mid = m;
    if (outb) *outb = o;
    if (wb) *wb = w;
    return is + ir + m + o + w;
}

/* Largest R in [1, rows] with ws(R) <= cap (0 when even R = 1 does not fit). */
static uint64_t nn_target__max_rows(nn_target__gctx *c, uint32_t first, uint32_t count, uint64_t ch, uint64_t cap) {
    uint64_t lo = 1, hi = c->L[first + count - 1].rows;
    if (nn_target__ws(c, first, count, 1, ch, NULL, NULL, NULL, NULL, NULL) > cap) return 0;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        if (nn_target__ws(c, first, count, mid, ch, NULL, NULL, NULL, NULL, NULL) <= cap) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* May layer j join the group ending at layer j-1? */
static int nn_target__chains(const nn_target__gctx *c, uint32_t j, uint32_t count, uint32_t max_layers) {
    const nn_graph *g = c->in->g;
    const nn_target__layer *a = &c->L[j - 1], *b = &c->L[j];
    const nn_node *nb = &g->nodes[b->node];
    uint32_t i;
    int reads = 0;
    if (count >= max_layers || a->host || b->host) return 0;
    if (a->kind == NN_TARGET__K_WHOLE || b->kind == NN_TARGET__K_WHOLE) return 0;
    if ((g->tensors[a->out].shape.rank == 4) != (g->tensors[b->out].shape.rank == 4)) return 0;
    if (c->readers[a->out] != 1 || (g->tensors[a->out].flags & NN_TENSOR_OUTPUT)) return 0;
    for (i = 0; i < nb->input_count; i++) reads += nb->inputs[i].id == a->out;
    if (reads != 1) return 0;
    /* the intermediate must map by rows into b (not held whole) */
    {
        int st;
        nn_target__in_rows(c, b, a->out, 1, &st);
        if (!st) return 0;
    }
    return 1;
}

static uint64_t nn_target__div_up(uint64_t a, uint64_t b) { return b ? (a + b - 1) / b : a; }

/* Activations an NPU applies in the output stage of the MAC layer before
   them (clamping, or a lookup table as Ethos-U's): free when fused. */
static int nn_target__is_activation(const nn_node *n) {
    static const char *const ops[] = {"Relu", "Clip", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish",
                                      "Tanh", "Elu", "Selu", "Softplus", "Gelu"};
    return nn_target__any_of(n, ops, sizeof ops / sizeof ops[0]);
}

/* Costs group G (its tile already chosen) and its layers. */
static void nn_target__cost(nn_target__gctx *c, nn_target_group *G, nn_target_layer *layers, uint64_t in_stream,
                            uint64_t in_res) {
    const nn_target_desc *t = &c->t;
    uint32_t j, first = G->first_layer, count = G->layer_count;
    uint64_t tiles_r = nn_target__div_up(G->rows, G->tile_rows), tiles_c = nn_target__div_up(G->channels, G->tile_channels);
    uint64_t compute = 0, weights = 0, dma, best, out_bytes = c->in->bytes[c->L[first + count - 1].out];
    uint64_t comp_k[64];
    uint32_t p = t->cores, pr, pc;
    G->tiles = (uint32_t)(tiles_r * tiles_c);
    nn_target__ws(c, first, count, G->tile_rows, G->tile_channels, NULL, NULL, NULL, NULL, NULL); /* c->rk */
    G->macs = 0;
    for (j = first; j < first + count; j++) {
        const nn_target__layer *L = &c->L[j];
        double f = (double)(tiles_r * c->rk[j]) / (double)L->rows;
        uint64_t macs, elems, rate, ck;
        if (f < 1) f = 1;
        if (count == 1) f = 1;
        macs = (uint64_t)((double)L->macs * f + 0.5);
        elems = (uint64_t)((double)L->elems * f + 0.5);
        rate = L->elem_bytes >= 4 ? t->macs_s16 / 2 : L->elem_bytes == 2 ? t->macs_s16 : t->macs_s8;
        if (!rate) rate = 1;
        if (L->host) ck = L->elems * t->cpu_cycles_per_elem;
        else if (j > first && c->L[j - 1].macs && nn_target__is_activation(&c->in->g->nodes[L->node])) ck = 0;
        else ck = nn_target__div_up(macs, rate) + nn_target__div_up(elems, t->vector_elems);
        if (j - first < 64) comp_k[j - first] = ck;
        compute += ck;
        G->macs += macs;
        weights += L->weight_bytes;
    }
    /* Streamed inputs are read once per tile (halos again), held inputs
       and weights once per group, the output written once. */
    dma = in_stream * G->tiles + in_res + weights + out_bytes;
    G->dma_bytes = dma;
    G->compute_cycles = compute;
    G->dma_cycles = nn_target__div_up(dma, t->dma_bytes);
    G->overhead_cycles = t->group_cycles + (uint64_t)G->tiles * (t->tile_cycles + (uint64_t)count * t->layer_cycles);
    best = (compute > G->dma_cycles ? compute : G->dma_cycles) + G->overhead_cycles;
    G->split = NN_TARGET_SPLIT_NONE;
    G->cycles = best;
    if (p > 1 && !G->on_host) {
        /* rows: tiles spread over cores, each core loads the weights */
        pr = (uint32_t)(tiles_r < p ? tiles_r : p);
        if (pr > 1) {
            uint64_t cc = nn_target__div_up(compute, pr), dc = nn_target__div_up(dma + weights * (pr - 1), t->dma_bytes);
            uint64_t oc = t->group_cycles + nn_target__div_up(G->tiles, pr) * (t->tile_cycles + (uint64_t)count * t->layer_cycles);
            uint64_t cy = (cc > dc ? cc : dc) + oc;
            if (cy < G->cycles) { G->cycles = cy; G->split = NN_TARGET_SPLIT_ROWS; G->dma_bytes = dma + weights * (pr - 1); }
        }
        /* channels: output channels over cores, each core reads the inputs */
        pc = (uint32_t)(G->channels < p ? G->channels : p);
        if (pc > 1) {
            uint64_t d2 = dma + in_stream * G->tiles * (pc - 1) + in_res * (pc - 1);
            uint64_t cc = nn_target__div_up(compute, pc), dc = nn_target__div_up(d2, t->dma_bytes);
            uint64_t oc = t->group_cycles + G->tiles * (t->tile_cycles + (uint64_t)count * t->layer_cycles);
            uint64_t cy = (cc > dc ? cc : dc) + oc;
            if (cy < G->cycles) { G->cycles = cy; G->split = NN_TARGET_SPLIT_CHANNELS; G->dma_bytes = d2; }
        }
    }
    for (j = first; layers && j < first + count; j++) {
        nn_target_layer *ly = &layers[j];
        uint64_t share = j - first < 64 ? comp_k[j - first] : 0;
        ly->node = c->L[j].node;
        ly->macs = c->L[j].macs;
        ly->cycles = compute ? (uint64_t)((double)G->cycles * (double)share / (double)compute + 0.5) : G->cycles / count;
    }
}

/* Chooses the tile of a group: largest R for full channels; a single layer
   that does not fit also tries 1/2, 1/4, ... of its output channels and
   keeps the largest tile (R x channels). */
static void nn_target__tile(nn_target__gctx *c, nn_target_group *G, uint64_t *in_stream, uint64_t *in_res) {
    uint32_t first = G->first_layer, count = G->layer_count;
    const nn_target__layer *LL = &c->L[first + count - 1];
    uint64_t cap = c->t.local_bytes, bestR = 0, bestC = LL->channels, ch;
    G->rows = (uint32_t)LL->rows;
    G->channels = (uint32_t)LL->channels;
    bestR = nn_target__max_rows(c, first, count, LL->channels, cap);
    if (bestR < LL->rows && count == 1 && LL->channels > 1) {
        for (ch = LL->channels / 2 + LL->channels % 2;; ch = ch / 2 + ch % 2) {
            uint64_t r = nn_target__max_rows(c, first, count, ch, cap);
            if (r * ch > bestR * bestC) { bestR = r; bestC = ch; }
            if (ch == 1) break;
        }
    }
    G->fits = bestR > 0;
    if (!bestR) bestR = 1, bestC = count == 1 ? 1 : LL->channels;
    G->tile_rows = (uint32_t)bestR;
    G->tile_channels = (uint32_t)bestC;
    G->working_bytes = nn_target__ws(c, first, count, bestR, bestC, in_stream, in_res, &G->mid_tile_bytes,
                                     &G->out_tile_bytes, &G->weight_tile_bytes);
    G->in_tile_bytes = *in_stream + *in_res;
}

/* Tiles and costs layers [first, first+count) as one group into *G;
   layers (optional) receive the per-layer figures. */
static void nn_target__group_eval(nn_target__gctx *c, uint32_t first, uint32_t count, nn_target_group *G,
                                  uint64_t *is, uint64_t *ir, nn_target_layer *layers) {
    memset(G, 0, sizeof *G);
    G->first_layer = first;
    G->layer_count = count;
    G->on_host = (uint8_t)c->L[first].host;
    if (G->on_host) {
        const nn_target__layer *L = &c->L[first];
        G->rows = G->tile_rows = (uint32_t)L->rows;
        G->channels = G->tile_channels = (uint32_t)L->channels;
        G->fits = 1;
        nn_target__ws(c, first, 1, L->rows, L->channels, is, ir, &G->mid_tile_bytes, &G->out_tile_bytes,
                      &G->weight_tile_bytes);
        G->in_tile_bytes = *is + *ir;
        G->working_bytes = 0; /* runs from the host's memory */
    } else {
        nn_target__tile(c, G, is, ir);
    }
    nn_target__cost(c, G, layers, *is, *ir);
}

NN_API nn_status nn_target_plan_groups(const nn_graph *g, const nn_target_desc *t, const nn_target_group_desc *desc,
                                       nn_target_group_plan *out, nn_diag *diag) {
    nn_target_group_desc d;
    nn_target__info in;
    nn_target__gctx c;
    nn_target_group_plan p;
    nn_target_bytes_rule rule;
    uint32_t j, i, k, *from = NULL;
    uint64_t *best = NULL;
    nn_status st;
    NN_ASSERT(g && out);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (!d.max_group_layers) d.max_group_layers = 16;
    if (d.max_group_layers > 64) d.max_group_layers = 64;
    if ((st = nn_target_validate(t, diag)) != NN_OK) return st;
    memset(&c, 0, sizeof c);
    memset(&p, 0, sizeof p);
    p.alloc = d.alloc;
    c.t = nn_target_desc_defaults(t);
    rule = d.bytes_rule;
    if (rule == NN_TARGET_BYTES_AUTO) rule = nn_target__has_q(g) ? NN_TARGET_BYTES_INT8 : NN_TARGET_BYTES_DTYPE;
    st = nn_target__info_make(g, &d.alloc, rule, d.bytes_fn, d.bytes_user, d.order, d.order ? d.order_count : g->node_count,
                              &in, diag);
    if (st) return st;
    c.in = &in;
    c.L = (nn_target__layer *)nn_target__calloc(&in.alloc, (size_t)g->node_count + 1, sizeof(nn_target__layer));
    c.readers = (uint32_t *)nn_target__calloc(&in.alloc, (size_t)g->tensor_count + 1, sizeof(uint32_t));
    c.rk = (uint64_t *)nn_target__calloc(&in.alloc, (size_t)g->node_count + 1, sizeof(uint64_t));
    p.groups = (nn_target_group *)nn_target__calloc(&p.alloc, (size_t)g->node_count + 1, sizeof(nn_target_group));
    p.layers = (nn_target_layer *)nn_target__calloc(&p.alloc, (size_t)g->node_count + 1, sizeof(nn_target_layer));
    if (!c.L || !c.readers || !c.rk || !p.groups || !p.layers) {
        st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_plan_groups", "out of memory");
        goto done;
    }
    for (k = 0; k < g->node_count; k++) {
        if (in.node_static[k]) continue;
        for (i = in.read_start[k]; i < in.read_start[k + 1]; i++) c.readers[in.reads[i]]++;
    }
    nn_target__layers(&c, in.topo, rule == NN_TARGET_BYTES_INT8, diag);
    /* Partition the layers into groups by dynamic programming over the
       order: best[j] is the fewest cycles for layers [0, j); a group
       [i, j) is allowed when each layer chains to the one before and one
       row of it fits.  Grouping saves external traffic of intermediates
       but recomputes halos; the estimate decides. */
    best = (uint64_t *)nn_target__calloc(&in.alloc, (size_t)c.n + 1, sizeof(uint64_t));
    from = (uint32_t *)nn_target__calloc(&in.alloc, (size_t)c.n + 1, sizeof(uint32_t));
    if (!best || !from) {
        st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_plan_groups", "out of memory");
        goto done;
    }
    for (j = 1; j <= c.n; j++) {
        uint32_t count;
        best[j] = NN_TARGET__U64MAX;
        for (count = 1; count <= j && count <= d.max_group_layers; count++) {
            uint32_t i0 = j - count;
            nn_target_group G;
            uint64_t is = 0, ir = 0;
            if (count > 1) {
                if (!nn_target__chains(&c, i0 + 1, 1, d.max_group_layers)) break;
                if (nn_target__ws(&c, i0, count, 1, c.L[j - 1].channels, NULL, NULL, NULL, NULL, NULL) > c.t.local_bytes)
                    break;
            }
            nn_target__group_eval(&c, i0, count, &G, &is, &ir, NULL);
            if (best[i0] != NN_TARGET__U64MAX && best[i0] + G.cycles < best[j]) {
                best[j] = best[i0] + G.cycles;
                from[j] = i0;
            }
        }
    }
    /* walk back to mark group starts, then emit in order */
    {
        uint32_t *starts = (uint32_t *)nn_target__calloc(&in.alloc, (size_t)c.n + 1, sizeof(uint32_t));
        uint32_t ns = 0;
        if (!starts) {
            st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_plan_groups", "out of memory");
            goto done;
        }
        for (j = c.n; j > 0;) { uint32_t f = from[j]; starts[ns++] = f; j = f; }
        /* starts is reversed: emit from the end */
        while (ns > 0) {
            uint32_t s0 = starts[--ns], e0 = ns > 0 ? starts[ns - 1] : c.n;
            nn_target_group *G = &p.groups[p.group_count];
            uint64_t is = 0, ir = 0;
            nn_target__group_eval(&c, s0, e0 - s0, G, &is, &ir, p.layers);
            for (i = s0; i < e0; i++) p.layers[i].group = p.group_count;
            if (!G->fits) p.unfit_groups++;
            if (G->on_host) p.host_groups++;
            if (G->working_bytes > p.max_working_bytes) p.max_working_bytes = G->working_bytes;
            p.macs += G->macs;
            p.dma_bytes += G->dma_bytes;
            p.cycles += G->cycles;
            p.group_count++;
        }
        nn_free(&in.alloc, starts);
    }
    p.layer_count = c.n;
    p.target = c.t;
    p.latency_ms = (double)p.cycles / ((double)c.t.clock_mhz * 1e3);
    *out = p;
done:
    if (st) {
        nn_free(&p.alloc, p.groups);
        nn_free(&p.alloc, p.layers);
    }
    nn_free(&in.alloc, best);
    nn_free(&in.alloc, from);
    nn_free(&in.alloc, c.L);
    nn_free(&in.alloc, c.readers);
    nn_free(&in.alloc, c.rk);
    nn_target__info_free(&in);
    return st;
}

NN_API void nn_target_group_plan_deinit(nn_target_group_plan *p) {
    if (!p) return;
    nn_free(&p->alloc, p->groups);
    nn_free(&p->alloc, p->layers);
    memset(p, 0, sizeof *p);
}

NN_API const char *nn_target_split_name(nn_target_split s) {
    switch (s) {
    case NN_TARGET_SPLIT_NONE: return "none";
    case NN_TARGET_SPLIT_ROWS: return "rows";
    case NN_TARGET_SPLIT_CHANNELS: return "channels";
    }
    return "?";
}

/* ---- patch-based execution of the leading layers ------------------------------------------ */

/* Rows every prefix tensor needs for one band of R rows of the cut
   tensor (prefix = steps [0, P)): walks the prefix backwards giving each
   output the rows its readers need.  0 when a reader cannot take rows
   (the prefix is not row-streamable); *macs_f receives the MACs with
   halos recomputed. */
static int nn_target__band(nn_target__gctx *c, const uint32_t *order, const uint32_t *lay, uint32_t P, uint32_t cut,
                           uint64_t R, uint64_t *rows, uint64_t *macs_f, uint64_t *bands_out) {
    const nn_target__info *in = c->in;
    const nn_graph *g = in->g;
    uint32_t s, s2, i;
    uint64_t macs = 0, cut_rows = nn_target__rows_of(&g->tensors[cut].shape);
    uint64_t bands = nn_target__div_up(cut_rows, R);
    for (s = P; s-- > 0;) {
        const nn_target__layer *L = &c->L[lay[order[s]]];
        uint64_t need = L->out == cut ? R : 0;
        for (s2 = s + 1; s2 < P; s2++) {
            const nn_target__layer *M = &c->L[lay[order[s2]]];
            for (i = in->read_start[M->node]; i < in->read_start[M->node + 1]; i++)
                if (in->reads[i] == L->out) {
                    int st;
                    uint64_t r = nn_target__in_rows(c, M, L->out, rows[s2], &st);
                    if (!st) return 0;
                    if (r > need) need = r;
                }
        }
        if (need > L->rows) need = L->rows;
        if (!need) need = 1;
        rows[s] = need;
        macs += (uint64_t)((double)L->macs * ((double)(bands * need) > (double)L->rows ? (double)(bands * need) / (double)L->rows : 1.0));
    }
    *macs_f = macs;
    *bands_out = bands;
    return 1;
}

/* Peak bytes of the banded stage: the memory plan's groups restricted to
   the prefix, each holding one band of its members, alive over their
   prefix lifetimes; the cut tensor and graph inputs whole, all along. */
static uint64_t nn_target__band_peak(const nn_target__gctx *c, const nn_target_memory_plan *mp, const uint32_t *lay,
                                     uint32_t P, uint32_t cut, const uint64_t *rows, uint64_t *gsz, uint32_t *gf,
                                     uint32_t *gl, uint64_t *acc) {
    const nn_target__info *in = c->in;
    uint32_t i, s;
    uint64_t peak = 0, cur = 0;
    for (i = 0; i < mp->buffer_count; i++) { gsz[i] = 0; gf[i] = NN_TARGET__NONE; gl[i] = 0; }
    for (i = 0; i < mp->buffer_count; i++) {
        const nn_target_buffer *b = &mp->buffers[i];
        uint32_t ni = mp->order[b->first], r = b->group;
        uint64_t size = in->bytes[b->tensor.id];
        if (b->first >= P) continue;
        if (b->tensor.id != cut && lay[ni] != NN_TARGET__NONE && c->L[lay[ni]].out == b->tensor.id &&
            !(in->g->tensors[b->tensor.id].flags & NN_TENSOR_INPUT))
            size = rows[b->first] * c->L[lay[ni]].row_bytes;
        if (size > gsz[r]) gsz[r] = size;
        if (b->first < gf[r]) gf[r] = b->first;
        if ((b->last < P ? b->last : P - 1) > gl[r]) gl[r] = b->last < P ? b->last : P - 1;
        /* every band runs every prefix step again: the whole tensors (the
           cut, filled band by band, and the inputs, read by every band)
           stay for the whole stage */
        if (b->tensor.id == cut || (in->g->tensors[b->tensor.id].flags & NN_TENSOR_INPUT)) {
            gf[r] = 0;
            gl[r] = P - 1;
        }
    }
    memset(acc, 0, ((size_t)P + 1) * sizeof(uint64_t));
    for (i = 0; i < mp->buffer_count; i++)
        if (gf[i] != NN_TARGET__NONE) {
            acc[gf[i]] += gsz[i];
            acc[gl[i] + 1] -= gsz[i];
        }
    for (s = 0; s < P; s++) {
        cur += acc[s];
        if (cur > peak) peak = cur;
    }
    return peak;
}

NN_API nn_status nn_target_plan_patches(const nn_graph *g, const nn_target_patch_desc *desc,
                                        nn_target_patch_plan *out, nn_diag *diag) {
    nn_target_patch_desc d;
    nn_target_memory_plan mp;
    nn_target__info in;
    nn_target__gctx c;
    nn_target_patch_plan best;
    nn_target_bytes_rule rule;
    uint64_t *live = NULL, *suffix = NULL, *rows = NULL, *gext = NULL, *bsz = NULL, *acc = NULL, base_macs = 0;
    uint32_t *lay = NULL, *gfirst = NULL, *glast = NULL, *bf = NULL, *bl = NULL, P, i, s;
    nn_status st;
    NN_ASSERT(g && out);
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    if (!(d.max_recompute > 0)) d.max_recompute = 1.5;
    memset(&c, 0, sizeof c);
    memset(&best, 0, sizeof best);
    if ((st = nn_target_plan_memory(g, &d.memory, &mp, diag)) != NN_OK) return st;
    rule = d.memory.bytes_rule;
    if (rule == NN_TARGET_BYTES_AUTO) rule = nn_target__has_q(g) ? NN_TARGET_BYTES_INT8 : NN_TARGET_BYTES_DTYPE;
    st = nn_target__info_make(g, &d.memory.alloc, rule, d.memory.bytes_fn, d.memory.bytes_user, mp.order, mp.step_count,
                              &in, diag);
    if (st) { nn_target_memory_plan_deinit(&mp); return st; }
    c.in = &in;
    c.t = nn_target_desc_defaults(NULL);
    c.L = (nn_target__layer *)nn_target__calloc(&in.alloc, (size_t)g->node_count + 1, sizeof(nn_target__layer));
    lay = (uint32_t *)nn_target__calloc(&in.alloc, (size_t)g->node_count + 1, sizeof(uint32_t));
    live = (uint64_t *)nn_target__calloc(&in.alloc, (size_t)mp.step_count + 2, sizeof(uint64_t));
    suffix = (uint64_t *)nn_target__calloc(&in.alloc, (size_t)mp.step_count + 2, sizeof(uint64_t));
    rows = (uint64_t *)nn_target__calloc(&in.alloc, (size_t)mp.step_count + 1, sizeof(uint64_t));
    gext = (uint64_t *)nn_target__calloc(&in.alloc, (size_t)mp.buffer_count + 1, sizeof(uint64_t));
    gfirst = (uint32_t *)nn_target__calloc(&in.alloc, (size_t)mp.buffer_count + 1, sizeof(uint32_t));
    glast = (uint32_t *)nn_target__calloc(&in.alloc, (size_t)mp.buffer_count + 1, sizeof(uint32_t));
    bsz = (uint64_t *)nn_target__calloc(&in.alloc, (size_t)mp.buffer_count + 1, sizeof(uint64_t));
    bf = (uint32_t *)nn_target__calloc(&in.alloc, (size_t)mp.buffer_count + 1, sizeof(uint32_t));
    bl = (uint32_t *)nn_target__calloc(&in.alloc, (size_t)mp.buffer_count + 1, sizeof(uint32_t));
    acc = (uint64_t *)nn_target__calloc(&in.alloc, (size_t)mp.step_count + 2, sizeof(uint64_t));
    if (!c.L || !lay || !live || !suffix || !rows || !gext || !gfirst || !glast || !bsz || !bf || !bl || !acc) {
        st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_plan_patches", "out of memory");
        goto done;
    }
    nn_target__layers(&c, mp.order, rule == NN_TARGET_BYTES_INT8, diag);
    for (i = 0; i < g->node_count; i++) lay[i] = NN_TARGET__NONE;
    for (i = 0; i < c.n; i++) lay[c.L[i].node] = i;
    /* live bytes per step of the whole-tensor plan, by group extent */
    for (i = 0; i < mp.buffer_count; i++) { gfirst[i] = NN_TARGET__NONE; glast[i] = 0; gext[i] = 0; }
    for (i = 0; i < mp.buffer_count; i++) {
        const nn_target_buffer *b = &mp.buffers[i];
        uint64_t end = b->offset + b->bytes - mp.buffers[b->group].offset;
        if (b->first < gfirst[b->group]) gfirst[b->group] = b->first;
        if (b->last > glast[b->group]) glast[b->group] = b->last;
        if (end > gext[b->group]) gext[b->group] = end;
    }
    for (i = 0; i < mp.buffer_count; i++)
        if (gfirst[i] != NN_TARGET__NONE) {
            live[gfirst[i]] += gext[i];
            live[glast[i] + 1] -= gext[i];
        }
    for (s = 1; s <= mp.step_count; s++) live[s] += live[s - 1];
    suffix[mp.step_count] = 0;
    for (s = mp.step_count; s-- > 0;) suffix[s] = live[s] > suffix[s + 1] ? live[s] : suffix[s + 1];
    best.cut.id = NN_INVALID_ID;
    /* compared like with like: live totals, the whole-tensor one first */
    best.peak_bytes = suffix[0];
    for (P = 1; P <= mp.step_count; P++) {
        uint32_t ni = mp.order[P - 1], cut = NN_TARGET__NONE, cuts = 0, s2;
        const nn_target__layer *L;
        uint64_t R;
        if (lay[ni] == NN_TARGET__NONE) break;
        L = &c.L[lay[ni]];
        if (L->kind == NN_TARGET__K_WHOLE || L->kind == NN_TARGET__K_MATMUL || g->tensors[L->out].shape.rank != 4) break;
        base_macs += L->macs;
        /* the cut: the one prefix tensor read after the prefix */
        for (s = 0; s < P; s++) {
            uint32_t t = c.L[lay[mp.order[s]]].out;
            int later = (g->tensors[t].flags & NN_TENSOR_OUTPUT) != 0;
            for (s2 = P; s2 < mp.step_count && !later; s2++)
                for (i = in.read_start[mp.order[s2]]; i < in.read_start[mp.order[s2] + 1]; i++)
                    if (in.reads[i] == t) later = 1;
            if (later) { cut = t; cuts++; }
        }
        if (cuts != 1) continue;
        for (R = 1; R <= nn_target__rows_of(&g->tensors[cut].shape); R = R < 4 ? R + 1 : R * 2) {
            uint64_t macs = 0, bands = 0, stage, peak;
            double rf;
            if (d.band_rows && R != d.band_rows) continue;
            if (!nn_target__band(&c, mp.order, lay, P, cut, R, rows, &macs, &bands)) break;
            stage = nn_target__band_peak(&c, &mp, lay, P, cut, rows, bsz, bf, bl, acc);
            rf = base_macs ? (double)macs / (double)base_macs : 1.0;
            if (rf > d.max_recompute) continue;
            peak = stage > suffix[P] ? stage : suffix[P];
            if (peak < best.peak_bytes || (peak == best.peak_bytes && best.prefix_steps && rf < best.recompute)) {
                best.prefix_steps = P;
                best.cut.id = cut;
                best.band_rows = (uint32_t)R;
                best.bands = (uint32_t)bands;
                best.stage_bytes = stage;
                best.rest_bytes = suffix[P];
                best.peak_bytes = peak;
                best.recompute = rf;
            }
        }
    }
    if (!best.prefix_steps) best.rest_bytes = suffix[0];
    best.arena_bytes = mp.arena_bytes;
    best.bound_bytes = mp.bound_bytes;
    if (!best.prefix_steps) best.recompute = 1.0;
    *out = best;
done:
    nn_free(&in.alloc, c.L); nn_free(&in.alloc, lay); nn_free(&in.alloc, live); nn_free(&in.alloc, suffix);
    nn_free(&in.alloc, rows); nn_free(&in.alloc, gext); nn_free(&in.alloc, gfirst); nn_free(&in.alloc, glast);
    nn_free(&in.alloc, bsz); nn_free(&in.alloc, bf); nn_free(&in.alloc, bl); nn_free(&in.alloc, acc);
    nn_target__info_free(&in);
    nn_target_memory_plan_deinit(&mp);
    return st;
}


/* ==== patch-based execution: the banded QDQ graph ==== */

#ifndef NN_MAX_PATCH_BANDS
#define NN_MAX_PATCH_BANDS 4096
#endif

#define NN_TARGET__PATCH_NONE 0xFFFFFFFFu

/* Copies tensor t of g into o under name (t's own when NULL): dtype,
   shape, flags' input/output role left to the caller, data copied. */
static nn_status nn_target__patch_copy_tensor(nn_graph *o, const nn_graph *g, uint32_t t, const char *name, nn_tensor_id *out,
                                       nn_diag *diag) {
    const nn_tensor *s = &g->tensors[t];
    nn_status st = nn_graph_add_tensor(o, name ? name : s->name, s->dtype, &s->shape, out, diag);
    if (st) return st;
    if (s->flags & NN_TENSOR_CONST) st = nn_graph_set_data(o, *out, s->data, s->data_bytes, 1, diag);
    return st;
}

/* Adds a copy of node n of g to o with the given inputs and outputs (of
   o) and name; attributes copied, "pads"/"auto_pad" replaced when pads is
   set (4 values: top, left, bottom, right). */
static nn_status nn_target__patch_copy_node(nn_graph *o, const nn_graph *g, const nn_node *n, const nn_tensor_id *ins,
                                     const nn_tensor_id *outs, const char *name, const int64_t *pads, nn_diag *diag) {
    nn_node_id id;
    uint32_t i;
    nn_status st = nn_graph_add_node(o, n->op_type, n->domain, name, ins, n->input_count, outs, n->output_count, &id, diag);
    (void)g;
    for (i = 0; i < n->attr_count && st == NN_OK; i++) {
        const nn_attr *a = &n->attrs[i];
        if (a->type == NN_ATTR_GRAPH || a->type == NN_ATTR_GRAPHS)
            return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "nn_target_patchify: subgraph attributes are not supported");
        if (pads && (!strcmp(a->name, "pads") || !strcmp(a->name, "auto_pad"))) continue;
        st = nn_graph_add_attr(o, id, a, 0, diag);
    }
    if (st == NN_OK && pads) {
        nn_attr pa;
        memset(&pa, 0, sizeof pa);
        pa.name = "pads";
        pa.type = NN_ATTR_INTS;
        pa.count = 4;
        pa.ints = pads;
        st = nn_graph_add_attr(o, id, &pa, 0, diag);
    }
    return st;
}

/* A clone of g (tensors, constants, nodes, inputs, outputs, opsets). */
static nn_status nn_target__patch_clone(const nn_graph *g, const nn_allocator *a, nn_graph **out, nn_diag *diag) {
    nn_graph_desc gd;
    nn_graph *o = NULL;
    nn_tensor_id t;
    uint32_t i;
    nn_status st;
    memset(&gd, 0, sizeof gd);
    gd.alloc = *a;
    gd.name = g->name;
    if ((st = nn_graph_create(&gd, &o, diag))) return st;
    o->ir_version = g->ir_version;
    for (i = 0; i < g->opset_count && !st; i++) st = nn_graph_set_opset(o, g->opsets[i].domain, g->opsets[i].version, diag);
    for (i = 0; i < g->tensor_count && !st; i++) {
        st = nn_target__patch_copy_tensor(o, g, i, NULL, &t, diag);
        if (!st) memcpy(o->tensors[t.id].dim_param, g->tensors[i].dim_param, sizeof g->tensors[i].dim_param);
    }
    for (i = 0; i < g->node_count && !st; i++)
        st = nn_target__patch_copy_node(o, g, &g->nodes[i], g->nodes[i].inputs, g->nodes[i].outputs, g->nodes[i].name, NULL, diag);
    for (i = 0; i < g->input_count && !st; i++) st = nn_graph_add_input(o, g->inputs[i], diag);
    for (i = 0; i < g->output_count && !st; i++) st = nn_graph_add_output(o, g->outputs[i], diag);
    if (st) { nn_graph_destroy(o); return st; }
    *out = o;
    return NN_OK;
}

static int nn_target__patch_is(const nn_node *n, const char *op) {
    return (!n->domain[0] || !strcmp(n->domain, "ai.onnx")) && !strcmp(n->op_type, op);
}

/* Row-local ops: every output row depends on the same row of each
   row-shaped input. */
static int nn_target__patch_row_local(const nn_node *n) {
    static const char *const ops[] = {"QuantizeLinear", "DequantizeLinear", "Relu", "Clip", "LeakyRelu", "Sigmoid",
                                      "HardSigmoid", "HardSwish", "Tanh", "Add", "Sub", "Mul", "Div", "Identity",
                                      "PRelu", "Elu", "Selu", "Softplus", "Neg", "Abs", "Exp", "Sqrt", "Min", "Max",
                                      "Erf", "Cast", "Concat", "BatchNormalization", "Pow"};
    size_t i;
    for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (nn_target__patch_is(n, ops[i])) return 1;
    return 0;
}

static int nn_target__patch_is_window(const nn_node *n) {
    return nn_target__patch_is(n, "Conv") || nn_target__patch_is(n, "MaxPool") || nn_target__patch_is(n, "AveragePool");
}

/* Window geometry along H and W of a 2-D Conv/pool node with input
   (H, W) and output (OH, OW): kernel, stride, dilation and begin/end
   pads, auto_pad resolved.  0 when unsupported. */
typedef struct nn_target__patch_win { int64_t k[2], s[2], d[2], pb[2], pe[2]; } nn_target__patch_win;

static int nn_target__patch_window(const nn_graph *g, const nn_node *n, nn_target__patch_win *w) {
    const nn_shape *x = &g->tensors[n->inputs[0].id].shape, *y = &g->tensors[n->outputs[0].id].shape;
    const nn_attr *ks = nn_node_attr(n, "kernel_shape"), *st = nn_node_attr(n, "strides"), *dl = nn_node_attr(n, "dilations"),
                  *pa = nn_node_attr(n, "pads");
    const char *ap = nn_node_attr_string(n, "auto_pad", "NOTSET");
    int i;
    if (x->rank != 4 || y->rank != 4) return 0;
    for (i = 0; i < 2; i++) {
        int64_t in = x->dims[2 + i], outd = y->dims[2 + i], need;
        w->k[i] = ks && ks->type == NN_ATTR_INTS && ks->count == 2 ? ks->ints[i] : 0;
        if (!w->k[i] && nn_target__patch_is(n, "Conv") && n->input_count > 1 && n->inputs[1].id != NN_INVALID_ID &&
            g->tensors[n->inputs[1].id].shape.rank == 4)
            w->k[i] = g->tensors[n->inputs[1].id].shape.dims[2 + i];
        w->s[i] = st && st->type == NN_ATTR_INTS && st->count == 2 ? st->ints[i] : 1;
        w->d[i] = dl && dl->type == NN_ATTR_INTS && dl->count == 2 ? dl->ints[i] : 1;
        if (w->k[i] < 1 || w->s[i] < 1 || w->d[i] < 1 || in < 1 || outd < 1) return 0;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            int64_t total = (outd - 1) * w->s[i] + (w->k[i] - 1) * w->d[i] + 1 - in;
            if (total < 0) total = 0;
            w->pb[i] = !strcmp(ap, "SAME_UPPER") ? total / 2 : total - total / 2;
            w->pe[i] = total - w->pb[i];
        } else if (!strcmp(ap, "VALID")) {
            w->pb[i] = w->pe[i] = 0;
        } else if (!strcmp(ap, "NOTSET")) {
            w->pb[i] = pa && pa->type == NN_ATTR_INTS && pa->count == 4 ? pa->ints[i] : 0;
            w->pe[i] = pa && pa->type == NN_ATTR_INTS && pa->count == 4 ? pa->ints[2 + i] : 0;
        } else {
            return 0;
        }
        /* the output must be the floor formula exactly (no ceil_mode overhang) */
        need = (in + w->pb[i] + w->pe[i] - ((w->k[i] - 1) * w->d[i] + 1));
        if (need < 0 || need / w->s[i] + 1 != outd) return 0;
    }
    return 1;
}

typedef struct nn_target__patch_ctx {
    const nn_graph *g;        /* the QDQ graph, shapes inferred */
    nn_graph *o;              /* the output */
    nn_allocator a;
    uint32_t *topo;           /* (node_count) */
    uint8_t *node_static;     /* (node_count) reads only constants */
    uint8_t *node_prefix;     /* (node_count) 1: banded, 2: run whole before the bands (input quantizer) */
    uint8_t *t_whole;         /* (tensor_count) held whole: constants, inputs, static or head outputs */
    int64_t *lo, *hi;         /* (tensor_count) rows of the current band */
    uint32_t *bt;             /* (tensor_count) the current band's tensor in o */
    uint32_t *map;            /* (tensor_count) whole tensors in o */
    uint32_t serial;
    uint32_t slices, emitted;
    uint64_t macs;
} nn_target__patch_ctx;

/* Rows of input x that node n needs for output rows [lo, hi): *rlo, *rhi
   clipped to x's rows, *pt and *pb the pads that stand for the rows outside
   (window ops only).  0 when x does not go by rows (a whole operand). */
static int nn_target__patch_need(const nn_target__patch_ctx *c, const nn_node *n, uint32_t k, int64_t lo, int64_t hi, int64_t *rlo,
                          int64_t *rhi, int64_t *pt, int64_t *pb) {
    const nn_graph *g = c->g;
    uint32_t x = n->inputs[k].id;
    int64_t H;
    *pt = *pb = 0;
    if (x == NN_INVALID_ID || c->t_whole[x] == 1) return 0; /* constants: whole */
    if (g->tensors[x].shape.rank != 4) return 0;
    H = g->tensors[x].shape.dims[2];
    if (nn_target__patch_is_window(n)) {
        nn_target__patch_win w;
        int64_t a, b;
        if (k != 0 || !nn_target__patch_window(g, n, &w)) return 0;
        a = lo * w.s[0] - w.pb[0];
        b = (hi - 1) * w.s[0] - w.pb[0] + (w.k[0] - 1) * w.d[0] + 1;
        *rlo = a < 0 ? 0 : a;
        *rhi = b > H ? H : b;
        *pt = *rlo - a;
        *pb = b - *rhi;
        return 1;
    }
    *rlo = lo;
    *rhi = hi;
    return 1;
}

/* A new tensor name in o: base with a suffix. */
static const char *nn_target__patch_name(nn_target__patch_ctx *c, const char *base, const char *what, uint32_t band, char *buf,
                                  size_t cap) {
    snprintf(buf, cap, "%.200s#%s%u_%u", base, what, band, c->serial++);
    return buf;
}

/* An int64 1-element constant in o. */
static nn_status nn_target__patch_i64(nn_target__patch_ctx *c, int64_t v, nn_tensor_id *out, nn_diag *diag) {
    char nb[64];
    int64_t one = 1;
    nn_shape s = nn_shape_make(1, &one);
    nn_status st;
    snprintf(nb, sizeof nb, "nn_patch#c%u", c->serial++);
    if ((st = nn_graph_add_tensor(c->o, nb, NN_DTYPE_INT64, &s, out, diag))) return st;
    return nn_graph_set_data(c->o, *out, &v, sizeof v, 1, diag);
}

/* Rows [rlo, rhi) of tensor x in the current band b: the band tensor when
   it covers exactly those rows, else a Slice (of the int8 input of x's
   DequantizeLinear, then a copy of that DequantizeLinear, when x is one's
   output, so the integer groups stay whole). */
static nn_status nn_target__patch_rows(nn_target__patch_ctx *c, uint32_t x, int64_t rlo, int64_t rhi, uint32_t b, nn_tensor_id *out,
                                nn_diag *diag) {
    const nn_graph *g = c->g;
    const nn_tensor *t = &g->tensors[x];
    int64_t clo = c->t_whole[x] ? 0 : c->lo[x], chi = c->t_whole[x] ? t->shape.dims[2] : c->hi[x];
    uint32_t src = c->t_whole[x] ? c->map[x] : c->bt[x], p = t->producer.id;
    nn_tensor_id ins[5], y;
    nn_shape sh;
    char nb[300];
    nn_status st;
    if (rlo == clo && rhi == chi) { out->id = src; return NN_OK; }
    if (rlo < clo || rhi > chi || rlo >= rhi)
        return nn_diag_set(diag, NN_ERR_INVALID, t->name, "nn_target_patchify: rows %lld..%lld outside the band",
                           (long long)rlo, (long long)rhi);
    sh = t->shape;
    sh.dims[2] = rhi - rlo;
    if (!c->t_whole[x] && p != NN_INVALID_ID && c->node_prefix[p] == 1 && nn_target__patch_is(&g->nodes[p], "DequantizeLinear")) {
        const nn_node *n = &g->nodes[p];
        uint32_t i;
        if ((st = nn_target__patch_rows(c, n->inputs[0].id, rlo, rhi, b, &ins[0], diag))) return st;
        for (i = 1; i < n->input_count && i < 3; i++) ins[i].id = n->inputs[i].id == NN_INVALID_ID ? NN_INVALID_ID : c->map[n->inputs[i].id];
        if ((st = nn_graph_add_tensor(c->o, nn_target__patch_name(c, t->name, "r", b, nb, sizeof nb), t->dtype, &sh, &y, diag))) return st;
        if ((st = nn_target__patch_copy_node(c->o, g, n, ins, &y, nn_target__patch_name(c, n->name, "b", b, nb, sizeof nb), NULL, diag))) return st;
        c->emitted++;
        *out = y;
        return NN_OK;
    }
    ins[0].id = src;
    if ((st = nn_target__patch_i64(c, rlo - clo, &ins[1], diag)) || (st = nn_target__patch_i64(c, rhi - clo, &ins[2], diag)) ||
        (st = nn_target__patch_i64(c, 2, &ins[3], diag)))
        return st;
    if ((st = nn_graph_add_tensor(c->o, nn_target__patch_name(c, t->name, "s", b, nb, sizeof nb), t->dtype, &sh, &y, diag))) return st;
    if ((st = nn_graph_add_node(c->o, "Slice", "", nn_target__patch_name(c, t->name, "slice", b, nb, sizeof nb), ins, 4, &y, 1, NULL, diag)))
        return st;
    c->slices++;
    c->emitted++;
    *out = y;
    return NN_OK;
}

/* The graph without its Q/DQ nodes (float tensors in their place, weights
   as zero constants) for nn_target_plan_patches; tensor names kept. */
static nn_status nn_target__patch_float_view(const nn_target__patch_ctx *c, nn_graph **out, void **zeros, nn_diag *diag) {
    const nn_graph *g = c->g;
    nn_graph_desc gd;
    nn_graph *o = NULL;
    uint32_t *alias = NULL, *om = NULL, i, k;
    size_t zmax = 0;
    nn_status st;
    memset(&gd, 0, sizeof gd);
    gd.alloc = c->a;
    *zeros = NULL;
    alias = (uint32_t *)nn_alloc(&c->a, ((size_t)g->tensor_count + 1) * sizeof(uint32_t));
    om = (uint32_t *)nn_alloc(&c->a, ((size_t)g->tensor_count + 1) * sizeof(uint32_t));
    if (!alias || !om) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_patchify", "out of memory"); goto done; }
    for (i = 0; i < g->tensor_count; i++) { alias[i] = i; om[i] = NN_TARGET__PATCH_NONE; }
    for (k = 0; k < g->node_count; k++) {
        const nn_node *n = &g->nodes[c->topo[k]];
        if (!c->node_static[c->topo[k]] && (nn_target__patch_is(n, "QuantizeLinear") || nn_target__patch_is(n, "DequantizeLinear")) &&
            n->input_count && n->inputs[0].id != NN_INVALID_ID && n->outputs[0].id != NN_INVALID_ID)
            alias[n->outputs[0].id] = alias[n->inputs[0].id];
    }
    /* weights and other static tensors: zero constants of their shape */
    for (i = 0; i < g->tensor_count; i++) {
        const nn_tensor *t = &g->tensors[i];
        size_t bytes;
        int ok;
        if (!(t->producer.id != NN_INVALID_ID && c->node_static[t->producer.id]) && !(t->flags & NN_TENSOR_CONST)) continue;
        if (nn_dtype_bytes_for(t->dtype, nn_shape_count(&t->shape, &ok), &bytes) && ok && bytes > zmax) zmax = bytes;
    }
    *zeros = nn_alloc(&c->a, zmax + 16);
    if (!*zeros) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_patchify", "out of memory"); goto done; }
    memset(*zeros, 0, zmax + 16);
    if ((st = nn_graph_create(&gd, &o, diag))) goto done;
    for (i = 0; i < g->opset_count && !st; i++) st = nn_graph_set_opset(o, g->opsets[i].domain, g->opsets[i].version, diag);
    for (i = 0; i < g->tensor_count && !st; i++) {
        const nn_tensor *t = &g->tensors[i];
        nn_tensor_id id;
        if (alias[i] != i) continue;
        if ((st = nn_graph_add_tensor(o, t->name, t->dtype, &t->shape, &id, diag))) break;
        om[i] = id.id;
        if (t->flags & NN_TENSOR_CONST) st = nn_graph_set_data(o, id, t->data, t->data_bytes, 0, diag);
        else if (t->producer.id != NN_INVALID_ID && c->node_static[t->producer.id]) {
            size_t bytes;
            int ok;
            if (nn_dtype_bytes_for(t->dtype, nn_shape_count(&t->shape, &ok), &bytes) && ok)
                st = nn_graph_set_data(o, id, *zeros, bytes, 0, diag);
            else
                st = nn_diag_set(diag, NN_ERR_SHAPE, t->name, "nn_target_patchify: a static tensor without a static shape");
        }
    }
    for (k = 0; k < g->node_count && !st; k++) {
        const nn_node *n = &g->nodes[c->topo[k]];
        nn_tensor_id ins[64], outs[16];
        uint32_t j;
        if (c->node_static[c->topo[k]]) continue;
        if (nn_target__patch_is(n, "QuantizeLinear") || nn_target__patch_is(n, "DequantizeLinear")) continue;
        if (n->input_count > 64 || n->output_count > 16) { st = nn_diag_set(diag, NN_ERR_LIMIT, n->name, "too many operands"); break; }
        for (j = 0; j < n->input_count; j++) ins[j].id = n->inputs[j].id == NN_INVALID_ID ? NN_INVALID_ID : om[alias[n->inputs[j].id]];
        for (j = 0; j < n->output_count; j++) outs[j].id = n->outputs[j].id == NN_INVALID_ID ? NN_INVALID_ID : om[n->outputs[j].id];
        st = nn_target__patch_copy_node(o, g, n, ins, outs, n->name, NULL, diag);
    }
    for (i = 0; i < g->input_count && !st; i++)
        if (om[g->inputs[i].id] != NN_TARGET__PATCH_NONE) {
            nn_tensor_id id;
            id.id = om[g->inputs[i].id];
            st = nn_graph_add_input(o, id, diag);
        }
    for (i = 0; i < g->output_count && !st; i++) {
        nn_tensor_id id;
        id.id = om[alias[g->outputs[i].id]];
        if (id.id != NN_TARGET__PATCH_NONE && !(o->tensors[id.id].flags & NN_TENSOR_OUTPUT)) st = nn_graph_add_output(o, id, diag);
    }
done:
    nn_free(&c->a, alias);
    nn_free(&c->a, om);
    if (st) {
        if (o) nn_graph_destroy(o);
        nn_free(&c->a, *zeros);
        *zeros = NULL;
        return st;
    }
    *out = o;
    return NN_OK;
}

/* Whether n can be banded; diag names why not. */
static nn_status nn_target__patch_check_node(const nn_target__patch_ctx *c, const nn_node *n, nn_diag *diag) {
    const nn_graph *g = c->g;
    uint32_t k;
    const nn_shape *y;
    if (n->output_count != 1 || n->outputs[0].id == NN_INVALID_ID)
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "nn_target_patchify: %s with %u outputs cannot be banded",
                           n->op_type, n->output_count);
    y = &g->tensors[n->outputs[0].id].shape;
    if (y->rank != 4) return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "nn_target_patchify: output not NCHW");
    if (nn_target__patch_is_window(n)) {
        nn_target__patch_win w;
        if (!nn_target__patch_window(g, n, &w))
            return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "nn_target_patchify: %s geometry cannot be banded", n->op_type);
        for (k = 1; k < n->input_count; k++)
            if (n->inputs[k].id != NN_INVALID_ID && !c->t_whole[n->inputs[k].id])
                return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "nn_target_patchify: computed weights");
        return NN_OK;
    }
    if (!nn_target__patch_row_local(n))
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "nn_target_patchify: %s is not row-local", n->op_type);
    if (nn_target__patch_is(n, "Concat")) {
        int64_t ax = nn_node_attr_int(n, "axis", 0);
        if (ax != 1 && ax != -3) return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "nn_target_patchify: Concat not along channels");
    }
    if (nn_target__patch_is(n, "QuantizeLinear") || nn_target__patch_is(n, "DequantizeLinear")) {
        int64_t ax = nn_node_attr_int(n, "axis", 1);
        if (ax == 2 || ax == -2) return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "nn_target_patchify: per-row quantization");
        return NN_OK;
    }
    for (k = 0; k < n->input_count; k++) {
        uint32_t x = n->inputs[k].id;
        const nn_shape *s;
        if (x == NN_INVALID_ID) continue;
        s = &g->tensors[x].shape;
        if (c->t_whole[x] != 1) {
            if (s->rank != 4 || s->dims[2] != y->dims[2])
                return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "nn_target_patchify: operand %u is not row-aligned", k);
        } else if (s->rank >= 2 && s->dims[s->rank - 2] != 1 && !nn_target__patch_is(n, "Clip") && !nn_target__patch_is(n, "BatchNormalization")) {
            return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "nn_target_patchify: a constant operand varies along rows");
        }
    }
    return NN_OK;
}

NN_API nn_status nn_target_patchify(const nn_graph *qdq, const nn_target_patchify_desc *desc, nn_graph **out,
                                    nn_target_patchify_report *rep, nn_diag *diag) {
    nn_target_patchify_desc d;
    nn_target_patchify_report r;
    nn_target__patch_ctx c;
    nn_graph *w = NULL, *fv = NULL;
    void *zeros = NULL;
    uint32_t *stack = NULL, *cut_bands = NULL, i, k, j, cut = NN_TARGET__PATCH_NONE, sp = 0, band, nbands = 0;
    int64_t H = 0, R = 0;
    nn_graph_desc gd;
    nn_status st;
    NN_ASSERT(qdq && out);
    *out = NULL;
    memset(&d, 0, sizeof d);
    if (desc) d = *desc;
    memset(&r, 0, sizeof r);
    memset(&c, 0, sizeof c);
    c.a = d.alloc;
    /* a working copy with shapes */
    if ((st = nn_target__patch_clone(qdq, &c.a, &w, diag))) return st;
    if ((st = nn_graph_infer_shapes(w, d.input_shapes, d.input_shape_count, diag))) goto done;
    c.g = w;
    c.topo = (uint32_t *)nn_alloc(&c.a, ((size_t)w->node_count + 1) * sizeof(uint32_t));
    c.node_static = (uint8_t *)nn_alloc(&c.a, (size_t)w->node_count + 1);
    c.node_prefix = (uint8_t *)nn_alloc(&c.a, (size_t)w->node_count + 1);
    c.t_whole = (uint8_t *)nn_alloc(&c.a, (size_t)w->tensor_count + 1);
    c.lo = (int64_t *)nn_alloc(&c.a, ((size_t)w->tensor_count + 1) * sizeof(int64_t));
    c.hi = (int64_t *)nn_alloc(&c.a, ((size_t)w->tensor_count + 1) * sizeof(int64_t));
    c.bt = (uint32_t *)nn_alloc(&c.a, ((size_t)w->tensor_count + 1) * sizeof(uint32_t));
    c.map = (uint32_t *)nn_alloc(&c.a, ((size_t)w->tensor_count + 1) * sizeof(uint32_t));
    stack = (uint32_t *)nn_alloc(&c.a, ((size_t)w->node_count + 1) * sizeof(uint32_t));
    if (!c.topo || !c.node_static || !c.node_prefix || !c.t_whole || !c.lo || !c.hi || !c.bt || !c.map || !stack) {
        st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_patchify", "out of memory");
        goto done;
    }
    if ((st = nn_graph_topo_order(w, c.topo, diag))) goto done;
    for (i = 0; i < w->tensor_count; i++) {
        const nn_tensor *t = &w->tensors[i];
        /* 1: a constant (whole, broadcast); 2: a whole tensor of rows (graph inputs, their quantizers' outputs) */
        c.t_whole[i] = (t->flags & NN_TENSOR_CONST) ? 1 : (t->flags & NN_TENSOR_INPUT) ? 2 : 0;
        c.map[i] = c.bt[i] = NN_TARGET__PATCH_NONE;
        if (t->producer.id == NN_INVALID_ID && !(t->flags & NN_TENSOR_CONST) && !(t->flags & NN_TENSOR_INPUT)) continue;
        if (!(t->flags & NN_TENSOR_CONST) && !nn_shape_is_static(&t->shape) && (t->producer.id != NN_INVALID_ID || (t->flags & NN_TENSOR_INPUT))) {
            st = nn_diag_set(diag, NN_ERR_SHAPE, t->name, "nn_target_patchify: no static shape (give the input shapes)");
            goto done;
        }
    }
    for (k = 0; k < w->node_count; k++) {
        const nn_node *n = &w->nodes[c.topo[k]];
        int stat = 1;
        for (j = 0; j < n->input_count; j++)
            if (n->inputs[j].id != NN_INVALID_ID && c.t_whole[n->inputs[j].id] != 1) stat = 0;
        c.node_static[c.topo[k]] = (uint8_t)stat;
        c.node_prefix[c.topo[k]] = 0;
        if (stat)
            for (j = 0; j < n->output_count; j++)
                if (n->outputs[j].id != NN_INVALID_ID) c.t_whole[n->outputs[j].id] = 1;
        /* a QuantizeLinear of a graph input runs whole, before any band */
        if (!stat && nn_target__patch_is(n, "QuantizeLinear") && n->input_count && n->inputs[0].id != NN_INVALID_ID &&
            (w->tensors[n->inputs[0].id].flags & NN_TENSOR_INPUT) && n->outputs[0].id != NN_INVALID_ID) {
            c.node_prefix[c.topo[k]] = 2;
            c.t_whole[n->outputs[0].id] = 2;
        }
    }
    /* the cut and band height: given, or planned on the graph without Q/DQ */
    if (d.flags & NN_TARGET_PATCHIFY_NO_BANDS) {
        d.cut = NULL;
    } else if (!d.cut || !d.band_rows) {
        if ((st = nn_target__patch_float_view(&c, &fv, &zeros, diag))) goto done;
        /* the view has no QuantizeLinear left: size its tensors as the int8 they are */
        if (d.plan.memory.bytes_rule == NN_TARGET_BYTES_AUTO && !d.plan.memory.bytes_fn)
            d.plan.memory.bytes_rule = NN_TARGET_BYTES_INT8;
        if ((st = nn_target_plan_patches(fv, &d.plan, &r.plan, diag))) goto done;
        if (!d.cut && r.plan.prefix_steps && r.plan.cut.id != NN_INVALID_ID) d.cut = fv->tensors[r.plan.cut.id].name;
        if (!d.band_rows) d.band_rows = r.plan.band_rows;
    }
    if (d.cut) {
        nn_tensor_id t = nn_graph_find_tensor(w, d.cut);
        if (t.id == NN_INVALID_ID) { st = nn_diag_set(diag, NN_ERR_ARG, d.cut, "nn_target_patchify: no tensor of that name"); goto done; }
        cut = t.id;
        /* a float cut read by one QuantizeLinear only: cut at its int8 output */
        if (nn_dtype_is_float(w->tensors[cut].dtype) && !(w->tensors[cut].flags & NN_TENSOR_OUTPUT)) {
            uint32_t readers = 0, q = NN_TARGET__PATCH_NONE;
            for (k = 0; k < w->node_count; k++)
                for (j = 0; j < w->nodes[k].input_count; j++)
                    if (w->nodes[k].inputs[j].id == cut) { readers++; q = k; }
            if (readers == 1 && nn_target__patch_is(&w->nodes[q], "QuantizeLinear") && w->nodes[q].inputs[0].id == cut)
                cut = w->nodes[q].outputs[0].id;
        }
        snprintf(r.cut, sizeof r.cut, "%s", w->tensors[cut].name);
        if (w->tensors[cut].producer.id == NN_INVALID_ID || c.t_whole[cut] || w->tensors[cut].shape.rank != 4) {
            st = nn_diag_set(diag, NN_ERR_ARG, d.cut, "nn_target_patchify: the cut must be a computed NCHW tensor");
            goto done;
        }
        H = w->tensors[cut].shape.dims[2];
        R = d.band_rows;
        if (R < 1 || R >= H) {
            st = nn_diag_set(diag, NN_ERR_ARG, "nn_target_patchify_desc.band_rows", "%lld rows: give 1 to %lld", (long long)R,
                             (long long)H - 1);
            goto done;
        }
        if ((H + R - 1) / R > NN_MAX_PATCH_BANDS) {
            st = nn_diag_set(diag, NN_ERR_LIMIT, "nn_target_patchify_desc.band_rows", "more than %d bands", NN_MAX_PATCH_BANDS);
            goto done;
        }
        nbands = (uint32_t)((H + R - 1) / R);
        /* the prefix: every non-static ancestor of the cut; a QuantizeLinear
           of a graph input runs whole before the bands */
        stack[sp++] = w->tensors[cut].producer.id;
        c.node_prefix[w->tensors[cut].producer.id] = 1;
        while (sp) {
            const nn_node *n = &w->nodes[stack[--sp]];
            for (j = 0; j < n->input_count; j++) {
                uint32_t x = n->inputs[j].id, p;
                if (x == NN_INVALID_ID || c.t_whole[x]) continue;
                p = w->tensors[x].producer.id;
                if (p == NN_INVALID_ID || c.node_prefix[p]) continue;
                c.node_prefix[p] = 1;
                stack[sp++] = p;
            }
        }
        /* the prefix's tensors other than the cut must not be read after it */
        for (k = 0; k < w->node_count; k++) {
            const nn_node *n = &w->nodes[k];
            if (c.node_prefix[k] == 1 && (st = nn_target__patch_check_node(&c, n, diag))) goto done;
            if (c.node_prefix[k] || c.node_static[k]) continue;
            for (j = 0; j < n->input_count; j++) {
                uint32_t x = n->inputs[j].id, p;
                if (x == NN_INVALID_ID || x == cut) continue;
                p = w->tensors[x].producer.id;
                if (p != NN_INVALID_ID && c.node_prefix[p] == 1) {
                    st = nn_diag_set(diag, NN_ERR_UNSUPPORTED, w->tensors[x].name,
                                     "nn_target_patchify: read after the prefix (the cut must be the only tensor it passes on)");
                    goto done;
                }
            }
        }
        for (i = 0; i < w->output_count; i++) {
            uint32_t p = w->tensors[w->outputs[i].id].producer.id;
            if (w->outputs[i].id != cut && p != NN_INVALID_ID && c.node_prefix[p] == 1) {
                st = nn_diag_set(diag, NN_ERR_UNSUPPORTED, w->tensors[w->outputs[i].id].name,
                                 "nn_target_patchify: a graph output inside the prefix");
                goto done;
            }
        }
    }
    /* the output graph: static nodes, the input quantizers, the bands, the
       Concat of the cut, the rest */
    memset(&gd, 0, sizeof gd);
    gd.alloc = c.a;
    gd.name = qdq->name;
    if ((st = nn_graph_create(&gd, &c.o, diag))) goto done;
    c.o->ir_version = qdq->ir_version;
    for (i = 0; i < w->opset_count && !st; i++) st = nn_graph_set_opset(c.o, w->opsets[i].domain, w->opsets[i].version, diag);
    if (!st && nbands && nn_graph_opset(w, "") < 10)
        st = nn_diag_set(diag, NN_ERR_UNSUPPORTED, "nn_target_patchify", "opset below 10 (Slice with inputs)");
    /* whole tensors: every tensor not produced by a banded node */
    for (i = 0; i < w->tensor_count && !st; i++) {
        const nn_tensor *t = &w->tensors[i];
        nn_tensor_id id;
        if (t->producer.id != NN_INVALID_ID && c.node_prefix[t->producer.id] == 1 && i != cut) continue;
        if (!(t->flags & (NN_TENSOR_CONST | NN_TENSOR_INPUT | NN_TENSOR_OUTPUT)) && t->producer.id == NN_INVALID_ID) {
            /* referenced by a node only as an omitted/unknown operand: keep the name free */
            continue;
        }
        if ((d.flags & NN_TARGET_PATCHIFY_QUANTIZED_INPUT) && (t->flags & NN_TENSOR_INPUT)) {
            /* dropped when its only readers are QuantizeLinear nodes (below) */
            uint32_t other = 0;
            for (k = 0; k < w->node_count; k++)
                for (j = 0; j < w->nodes[k].input_count; j++)
                    if (w->nodes[k].inputs[j].id == i && !nn_target__patch_is(&w->nodes[k], "QuantizeLinear")) other = 1;
            if (!other && !(t->flags & NN_TENSOR_OUTPUT)) continue;
        }
        if ((st = nn_target__patch_copy_tensor(c.o, w, i, NULL, &id, diag))) break;
        c.map[i] = id.id;
    }
    if (st) goto done;
    /* graph inputs (a quantized input in place of the float one) */
    for (i = 0; i < w->input_count && !st; i++) {
        uint32_t x = w->inputs[i].id;
        nn_tensor_id id;
        if (c.map[x] != NN_TARGET__PATCH_NONE) { id.id = c.map[x]; st = nn_graph_add_input(c.o, id, diag); continue; }
        for (k = 0; k < w->node_count && !st; k++)
            if (nn_target__patch_is(&w->nodes[k], "QuantizeLinear") && w->nodes[k].inputs[0].id == x) {
                id.id = c.map[w->nodes[k].outputs[0].id];
                if (!(c.o->tensors[id.id].flags & NN_TENSOR_INPUT)) st = nn_graph_add_input(c.o, id, diag);
            }
    }
    for (k = 0; k < w->node_count && !st; k++) {
        uint32_t ni = c.topo[k];
        const nn_node *n = &w->nodes[ni];
        nn_tensor_id ins[64], outs[16];
        if (!c.node_static[ni] && c.node_prefix[ni] != 2) continue;
        if (c.node_prefix[ni] == 2 && (d.flags & NN_TARGET_PATCHIFY_QUANTIZED_INPUT) && c.map[n->inputs[0].id] == NN_TARGET__PATCH_NONE) continue;
        if (n->input_count > 64 || n->output_count > 16) { st = nn_diag_set(diag, NN_ERR_LIMIT, n->name, "too many operands"); break; }
        for (j = 0; j < n->input_count; j++) ins[j].id = n->inputs[j].id == NN_INVALID_ID ? NN_INVALID_ID : c.map[n->inputs[j].id];
        for (j = 0; j < n->output_count; j++) outs[j].id = n->outputs[j].id == NN_INVALID_ID ? NN_INVALID_ID : c.map[n->outputs[j].id];
        st = nn_target__patch_copy_node(c.o, w, n, ins, outs, n->name, NULL, diag);
    }
    if (st) goto done;
    cut_bands = (uint32_t *)nn_alloc(&c.a, ((size_t)nbands + 1) * sizeof(uint32_t));
    if (!cut_bands) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_patchify", "out of memory"); goto done; }
    for (k = 0; k < w->node_count; k++)
        if (c.node_prefix[k] == 1) {
            int known;
            r.prefix_nodes++;
            r.prefix_macs += nn_node_macs(w, &w->nodes[k], &known);
        }
    for (band = 0; band < nbands && !st; band++) {
        /* rows per tensor, backwards from the cut's band */
        for (i = 0; i < w->tensor_count; i++) { c.lo[i] = INT64_MAX; c.hi[i] = INT64_MIN; }
        c.lo[cut] = (int64_t)band * R;
        c.hi[cut] = c.lo[cut] + R > H ? H : c.lo[cut] + R;
        for (k = w->node_count; k-- > 0;) {
            const nn_node *n = &w->nodes[c.topo[k]];
            uint32_t y = n->outputs[0].id;
            if (c.node_prefix[c.topo[k]] != 1 || c.lo[y] >= c.hi[y]) continue;
            for (j = 0; j < n->input_count; j++) {
                int64_t rlo, rhi, pt, pb;
                uint32_t x = n->inputs[j].id;
                if (!nn_target__patch_need(&c, n, j, c.lo[y], c.hi[y], &rlo, &rhi, &pt, &pb)) continue;
                if (rlo < c.lo[x]) c.lo[x] = rlo;
                if (rhi > c.hi[x]) c.hi[x] = rhi;
            }
        }
        /* the band's nodes, in order */
        for (k = 0; k < w->node_count && !st; k++) {
            uint32_t ni = c.topo[k];
            const nn_node *n = &w->nodes[ni];
            uint32_t y = n->outputs[0].id;
            nn_tensor_id ins[64], yo;
            int64_t pads[4], *pp = NULL;
            nn_shape sh;
            char nb[300];
            if (c.node_prefix[ni] != 1 || c.lo[y] >= c.hi[y]) continue;
            /* emitted on the union of its readers' rows; a reader needing
               fewer gets a Slice (nn_target__patch_rows) */
            if (n->input_count > 64) { st = nn_diag_set(diag, NN_ERR_LIMIT, n->name, "too many operands"); break; }
            for (j = 0; j < n->input_count && !st; j++) {
                int64_t rlo, rhi, pt, pb;
                uint32_t x = n->inputs[j].id;
                if (x == NN_INVALID_ID) { ins[j].id = NN_INVALID_ID; continue; }
                if (!nn_target__patch_need(&c, n, j, c.lo[y], c.hi[y], &rlo, &rhi, &pt, &pb)) { ins[j].id = c.map[x]; continue; }
                st = nn_target__patch_rows(&c, x, rlo, rhi, band, &ins[j], diag);
                if (nn_target__patch_is_window(n) && j == 0) {
                    nn_target__patch_win wn;
                    nn_target__patch_window(w, n, &wn);
                    pads[0] = pt; pads[2] = pb; pads[1] = wn.pb[1]; pads[3] = wn.pe[1];
                    pp = pads;
                }
            }
            if (st) break;
            sh = w->tensors[y].shape;
            sh.dims[2] = c.hi[y] - c.lo[y];
            if ((st = nn_graph_add_tensor(c.o, nn_target__patch_name(&c, w->tensors[y].name, "b", band, nb, sizeof nb),
                                          w->tensors[y].dtype, &sh, &yo, diag)))
                break;
            c.bt[y] = yo.id;
            if ((st = nn_target__patch_copy_node(c.o, w, n, ins, &yo, nn_target__patch_name(&c, n->name, "b", band, nb, sizeof nb), pp, diag))) break;
            c.emitted++;
            {
                int known;
                r.banded_macs += nn_node_macs(c.o, &c.o->nodes[c.o->node_count - 1], &known);
            }
        }
        cut_bands[band] = c.bt[cut];
    }
    if (st) goto done;
    if (nbands) {
        nn_tensor_id *ins = (nn_tensor_id *)nn_alloc(&c.a, (size_t)nbands * sizeof(nn_tensor_id)), y;
        nn_node_id id;
        nn_attr ax;
        char nb[300];
        if (!ins) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_patchify", "out of memory"); goto done; }
        for (i = 0; i < nbands; i++) ins[i].id = cut_bands[i];
        y.id = c.map[cut];
        snprintf(nb, sizeof nb, "%.200s#concat", w->tensors[cut].name);
        st = nn_graph_add_node(c.o, "Concat", "", nb, ins, nbands, &y, 1, &id, diag);
        nn_free(&c.a, ins);
        memset(&ax, 0, sizeof ax);
        ax.name = "axis";
        ax.type = NN_ATTR_INT;
        ax.i = 2;
        if (!st) st = nn_graph_add_attr(c.o, id, &ax, 0, diag);
        if (st) goto done;
    }
    /* the rest, in order */
    for (k = 0; k < w->node_count && !st; k++) {
        uint32_t ni = c.topo[k];
        const nn_node *n = &w->nodes[ni];
        nn_tensor_id ins[64], outs[16];
        if (c.node_static[ni] || c.node_prefix[ni]) continue;
        if (n->input_count > 64 || n->output_count > 16) { st = nn_diag_set(diag, NN_ERR_LIMIT, n->name, "too many operands"); break; }
        for (j = 0; j < n->input_count; j++) ins[j].id = n->inputs[j].id == NN_INVALID_ID ? NN_INVALID_ID : c.map[n->inputs[j].id];
        for (j = 0; j < n->output_count; j++) outs[j].id = n->outputs[j].id == NN_INVALID_ID ? NN_INVALID_ID : c.map[n->outputs[j].id];
        st = nn_target__patch_copy_node(c.o, w, n, ins, outs, n->name, NULL, diag);
    }
    for (i = 0; i < w->output_count && !st; i++) {
        nn_tensor_id id;
        id.id = c.map[w->outputs[i].id];
        st = nn_graph_add_output(c.o, id, diag);
    }
    if (st) goto done;
    r.bands = nbands;
    r.band_rows = nbands ? (uint32_t)R : 0;
    r.banded_nodes = c.emitted;
    r.slices = c.slices;
    if (!nbands) { r.cut[0] = 0; r.prefix_nodes = 0; r.prefix_macs = r.banded_macs = 0; }
    *out = c.o;
    c.o = NULL;
done:
    if (c.o) nn_graph_destroy(c.o);
    if (fv) nn_graph_destroy(fv);
    nn_free(&c.a, zeros);
    if (w) nn_graph_destroy(w);
    nn_free(&c.a, c.topo); nn_free(&c.a, c.node_static); nn_free(&c.a, c.node_prefix); nn_free(&c.a, c.t_whole);
    nn_free(&c.a, c.lo); nn_free(&c.a, c.hi); nn_free(&c.a, c.bt); nn_free(&c.a, c.map);
    nn_free(&c.a, stack); nn_free(&c.a, cut_bands);
    if (rep) *rep = r;
    return st;
}

/* ==== lowering, the binary model file and the simulator ======================================

   The lowering reads the fake-quant executor's own recognition (the groups
   and prepared constants of nn_qexec, in nn_quant.h's implementation): the
   program then calls, per group, the kernel nn_qexec calls with the
   multipliers, tables and packed weights nn_qexec computed, so the two
   cannot drift apart.  This is why nn_target.h's implementation needs
   nn_quant.h's in the same translation unit (NN_IMPLEMENTATION does that). */

#ifndef NN_QUANT_IMPLEMENTATION_DONE
#error "nn_target.h's implementation needs nn_quant.h's in the same translation unit (define NN_IMPLEMENTATION)"
#endif

#ifndef NN_MAX_TARGET_INSTRS
#define NN_MAX_TARGET_INSTRS (1u << 20)
#endif
#ifndef NN_MAX_TARGET_SLOTS
#define NN_MAX_TARGET_SLOTS (1u << 22)
#endif
#ifndef NN_MAX_TARGET_ARENA
#define NN_MAX_TARGET_ARENA ((uint64_t)1 << 40)
#endif

#define NN_TARGET__MAGIC "NNPORTNB"
#define NN_TARGET__FILE_VERSION 2u
#define NN_TARGET__PROG_REC 128u
#define NN_TARGET__HDR 128u
#define NN_TARGET__SLOT_REC 96u
#define NN_TARGET__INSTR_REC 168u
#define NN_TARGET__NODE_REC 32u
#define NN_TARGET__ATTR_REC 32u
#define NN_TARGET__MAX_IO 64u

static const char *const nn_target__op_names[NN_TARGET_OP_COUNT] = {"none", "conv", "gemm", "matmul", "add", "sub",
                                                                    "mul", "avgpool", "lut8", "lut16", "cpu", "yuv"};

NN_API const char *nn_target_op_name(nn_target_op op) {
    return (unsigned)op < NN_TARGET_OP_COUNT ? nn_target__op_names[op] : "?";
}

static void nn_target__w32(uint8_t *b, uint32_t v) {
    b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); b[2] = (uint8_t)(v >> 16); b[3] = (uint8_t)(v >> 24);
}
static void nn_target__w64(uint8_t *b, uint64_t v) { nn_target__w32(b, (uint32_t)v); nn_target__w32(b + 4, (uint32_t)(v >> 32)); }
static uint32_t nn_target__r32(const uint8_t *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t nn_target__r64(const uint8_t *b) { return nn_target__r32(b) | (uint64_t)nn_target__r32(b + 4) << 32; }
static int32_t nn_target__r16s(const uint8_t *b) { return (int16_t)(uint16_t)(b[0] | (uint32_t)b[1] << 8); }

/* ---- the builder: records appended to growable byte vectors ---- */

typedef struct nn_target__vec { uint8_t *p; size_t n, cap; } nn_target__vec;

typedef struct nn_target__bld {
    nn_allocator a;
    nn_target__vec slots, instrs, operands, inputs, outputs, nodes, attrs, strings, weights;
    uint32_t slot_count, instr_count, operand_count, input_count, output_count, node_count, attr_count;
    int nomem;
    struct nn_target__bld *wb;    /* the builder holding the shared weights (NULL: this one) */
    struct nn_target__witem *wi;  /* weights items already stored (deduplicated by content) */
    uint32_t wi_count, wi_cap;
} nn_target__bld;

typedef struct nn_target__witem { uint64_t off, bytes; uint32_t hash; } nn_target__witem;

static nn_target__bld *nn_target__wb(nn_target__bld *b) { return b->wb ? b->wb : b; }

/* Appends bytes (zeros when data is NULL); returns the offset. */
static size_t nn_target__put(nn_target__bld *b, nn_target__vec *v, const void *data, size_t bytes) {
    size_t at = v->n;
    if (b->nomem) return 0;
    if (bytes > v->cap - v->n) {
        size_t cap = v->cap ? v->cap : 256;
        uint8_t *np;
        while (cap - v->n < bytes) {
            if (cap > SIZE_MAX / 2) { b->nomem = 1; return 0; }
            cap *= 2;
        }
        np = (uint8_t *)nn_alloc(&b->a, cap);
        if (!np) { b->nomem = 1; return 0; }
        if (v->n) memcpy(np, v->p, v->n);
        nn_free(&b->a, v->p);
        v->p = np;
        v->cap = cap;
    }
    if (data) memcpy(v->p + v->n, data, bytes);
    else if (bytes) memset(v->p + v->n, 0, bytes);
    v->n += bytes;
    return at;
}

static uint32_t nn_target__str(nn_target__bld *b, const char *s) {
    if (!s) s = "";
    return (uint32_t)nn_target__put(b, &b->strings, s, strlen(s) + 1);
}

/* Weights-region data, 64-byte aligned, without looking for a copy (the
   caller may append to it). */
static uint64_t nn_target__wput_raw(nn_target__bld *b, const void *data, size_t bytes) {
    nn_target__bld *w = nn_target__wb(b);
    size_t pad = (64 - w->weights.n % 64) % 64, at;
    nn_target__put(w, &w->weights, NULL, pad);
    at = nn_target__put(w, &w->weights, data, bytes);
    if (w->nomem) b->nomem = 1;
    return at;
}

/* Weights-region data, 64-byte aligned; bytes equal to an item stored
   before (by this program or another of the file) are not stored again:
   the offset of the first copy is returned.  This is what makes the
   programs of a multi-batch file share one weights region. */
static uint64_t nn_target__wput(nn_target__bld *b, const void *data, size_t bytes) {
    nn_target__bld *w = nn_target__wb(b);
    uint32_t h = 2166136261u, i;
    uint64_t at;
    if (!data || !bytes) return nn_target__wput_raw(b, data, bytes);
    for (i = 0; i < bytes; i++) h = (h ^ ((const uint8_t *)data)[i]) * 16777619u; /* FNV-1a */
    for (i = 0; i < w->wi_count; i++)
        if (w->wi[i].hash == h && w->wi[i].bytes == bytes && !memcmp(w->weights.p + w->wi[i].off, data, bytes))
            return w->wi[i].off;
    at = nn_target__wput_raw(b, data, bytes);
    if (b->nomem) return 0;
    if (w->wi_count == w->wi_cap) {
        uint32_t cap = w->wi_cap ? w->wi_cap * 2 : 256;
        nn_target__witem *ni = (nn_target__witem *)nn_alloc(&w->a, (size_t)cap * sizeof *ni);
        if (!ni) { b->nomem = w->nomem = 1; return 0; }
        if (w->wi_count) memcpy(ni, w->wi, (size_t)w->wi_count * sizeof *ni);
        nn_free(&w->a, w->wi);
        w->wi = ni;
        w->wi_cap = cap;
    }
    w->wi[w->wi_count].off = at;
    w->wi[w->wi_count].bytes = bytes;
    w->wi[w->wi_count++].hash = h;
    return at;
}

static void nn_target__bld_free(nn_target__bld *b) {
    nn_free(&b->a, b->slots.p); nn_free(&b->a, b->instrs.p); nn_free(&b->a, b->operands.p);
    nn_free(&b->a, b->inputs.p); nn_free(&b->a, b->outputs.p); nn_free(&b->a, b->nodes.p);
    nn_free(&b->a, b->attrs.p); nn_free(&b->a, b->strings.p); nn_free(&b->a, b->weights.p);
    nn_free(&b->a, b->wi);
}

static uint32_t nn_target__slot_put(nn_target__bld *b, const char *name, nn_dtype dt, const nn_shape *s, uint32_t region,
                                    uint64_t offset, uint64_t bytes) {
    uint8_t r[NN_TARGET__SLOT_REC];
    int32_t i;
    memset(r, 0, sizeof r);
    nn_target__w32(r, nn_target__str(b, name));
    nn_target__w32(r + 4, (uint32_t)dt);
    nn_target__w32(r + 8, region);
    nn_target__w32(r + 12, (uint32_t)s->rank);
    nn_target__w64(r + 16, offset);
    nn_target__w64(r + 24, bytes);
    for (i = 0; i < s->rank && i < NN_MAX_RANK; i++) nn_target__w64(r + 32 + 8 * i, (uint64_t)s->dims[i]);
    nn_target__put(b, &b->slots, r, sizeof r);
    return b->slot_count++;
}

static void nn_target__instr_put(nn_target__bld *b, const nn_target_instr *in) {
    uint8_t r[NN_TARGET__INSTR_REC];
    int i;
    memset(r, 0, sizeof r);
    nn_target__w32(r, (uint32_t)in->op);
    nn_target__w32(r + 4, in->flags);
    nn_target__w32(r + 8, in->first_operand);
    nn_target__w32(r + 12, in->in_count);
    nn_target__w32(r + 16, in->out_count);
    nn_target__w32(r + 20, in->node);
    nn_target__w32(r + 24, nn_target__str(b, in->name));
    nn_target__w32(r + 28, in->mult_count);
    for (i = 0; i < 24; i++) nn_target__w32(r + 32 + 4 * i, (uint32_t)in->p[i]);
    nn_target__w64(r + 128, in->w);
    nn_target__w64(r + 136, in->bias);
    nn_target__w64(r + 144, in->mult);
    nn_target__w64(r + 152, in->table);
    nn_target__w64(r + 160, in->scratch_bytes);
    nn_target__put(b, &b->instrs, r, sizeof r);
    b->instr_count++;
}

/* A CPU node and its attributes; arrays go to the weights region. */
static nn_status nn_target__node_put(nn_target__bld *b, const nn_node *n, int64_t opset, nn_diag *diag) {
    uint8_t r[NN_TARGET__NODE_REC];
    uint32_t i, j;
    memset(r, 0, sizeof r);
    nn_target__w32(r, nn_target__str(b, n->op_type));
    nn_target__w32(r + 4, nn_target__str(b, n->domain));
    nn_target__w64(r + 8, (uint64_t)opset);
    nn_target__w32(r + 16, b->attr_count);
    nn_target__w32(r + 20, n->attr_count);
    nn_target__put(b, &b->nodes, r, sizeof r);
    b->node_count++;
    for (i = 0; i < n->attr_count; i++) {
        const nn_attr *at = &n->attrs[i];
        uint8_t q[NN_TARGET__ATTR_REC];
        uint64_t data = 0;
        uint32_t fb;
        memset(q, 0, sizeof q);
        switch (at->type) {
        case NN_ATTR_FLOAT: case NN_ATTR_INT: break;
        case NN_ATTR_STRING: data = nn_target__str(b, at->s ? at->s : ""); break;
        case NN_ATTR_INTS: data = nn_target__wput(b, at->ints, (size_t)at->count * 8); break;
        case NN_ATTR_FLOATS: data = nn_target__wput(b, at->floats, (size_t)at->count * 4); break;
        case NN_ATTR_STRINGS: {
            uint8_t o[4];
            data = nn_target__wput_raw(b, NULL, 0);
            for (j = 0; j < at->count; j++) {
                nn_target__w32(o, nn_target__str(b, at->strings[j]));
                nn_target__put(nn_target__wb(b), &nn_target__wb(b)->weights, o, 4);
            }
            if (nn_target__wb(b)->nomem) b->nomem = 1;
            break;
        }
        default:
            return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name && n->name[0] ? n->name : n->op_type,
                               "attribute '%s' is a tensor or graph: not stored in a model file", at->name);
        }
        memcpy(&fb, &at->f, 4);
        nn_target__w32(q, nn_target__str(b, at->name));
        nn_target__w32(q + 4, (uint32_t)at->type);
        nn_target__w32(q + 8, at->count);
        nn_target__w32(q + 12, fb);
        nn_target__w64(q + 16, (uint64_t)at->i);
        nn_target__w64(q + 24, data);
        nn_target__put(b, &b->attrs, q, sizeof q);
        b->attr_count++;
    }
    return NN_OK;
}

/* CRC-32 of the image with its checksum field (bytes 24..27) taken as 0. */
static uint32_t nn_target__image_crc(const uint8_t *img, size_t size) {
    static const uint8_t zero[4] = {0, 0, 0, 0};
    uint32_t c = nn_verify_crc32(0, img, 24);
    c = nn_verify_crc32(c, zero, 4);
    return nn_verify_crc32(c, img + 28, size - 28);
}

/* Program fields shared by the file header (program 0) and a program
   record (programs 1..): bytes 32..75 and 96..115 (docs/FORMAT.md). */
static void nn_target__emit_fields(uint8_t *h, const nn_target__bld *b, uint64_t arena, uint32_t tname) {
    nn_target__w32(h + 32, b->slot_count);
    nn_target__w32(h + 36, b->instr_count);
    nn_target__w32(h + 40, b->operand_count);
    nn_target__w32(h + 44, b->input_count);
    nn_target__w32(h + 48, b->output_count);
    nn_target__w32(h + 52, b->node_count);
    nn_target__w32(h + 56, b->attr_count);
    nn_target__w32(h + 60, (uint32_t)b->strings.n);
    nn_target__w64(h + 64, arena);
    nn_target__w64(h + 72, 0);
    nn_target__w32(h + 96, NN_TARGET__SLOT_REC);
    nn_target__w32(h + 100, NN_TARGET__INSTR_REC);
    nn_target__w32(h + 104, NN_TARGET__NODE_REC);
    nn_target__w32(h + 108, NN_TARGET__ATTR_REC);
    nn_target__w32(h + 112, tname);
}

static size_t nn_target__tables_bytes(const nn_target__bld *b) {
    return b->slots.n + b->instrs.n + b->operands.n + b->inputs.n + b->outputs.n + b->nodes.n + b->attrs.n + b->strings.n;
}

/* Lays out header, programs (tables and strings), program records and the
   shared weights (docs/FORMAT.md) into one allocation: count programs,
   bs[k] built with bs[0]'s weights (bs[k]->wb), batches[k] their batch
   sizes (0: a single program).  *out owned by the caller (bs[0]->a). */
static nn_status nn_target__emit(nn_target__bld **bs, const uint32_t *batches, const uint64_t *arenas, uint32_t count,
                                 const char *target, uint8_t **out, size_t *out_bytes, nn_diag *diag) {
    nn_target__bld *w = nn_target__wb(bs[0]);
    uint32_t tname[NN_MAX_TARGET_PROGRAMS], k;
    size_t off, dir, woff, total, toff[NN_MAX_TARGET_PROGRAMS];
    uint8_t *img, *h;
    for (k = 0; k < count; k++) tname[k] = nn_target__str(bs[k], target ? target : "custom");
    for (k = 0; k < count; k++)
        if (bs[k]->nomem) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_compile", "out of memory");
    if (w->nomem) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_compile", "out of memory");
    toff[0] = NN_TARGET__HDR;
    off = NN_TARGET__HDR + nn_target__tables_bytes(bs[0]);
    dir = (off + 7) / 8 * 8;
    off = dir + (size_t)(count - 1) * NN_TARGET__PROG_REC;
    for (k = 1; k < count; k++) {
        toff[k] = off;
        off = (off + nn_target__tables_bytes(bs[k]) + 7) / 8 * 8;
    }
    woff = (off + 63) / 64 * 64;
    total = woff + w->weights.n;
    img = (uint8_t *)nn_alloc(&bs[0]->a, total);
    if (!img) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_compile", "out of memory for a %zu-byte image", total);
    memset(img, 0, total);
    h = img;
    memcpy(h, NN_TARGET__MAGIC, 8);
    nn_target__w32(h + 8, NN_TARGET__FILE_VERSION);
    nn_target__w32(h + 12, NN_TARGET__HDR);
    nn_target__w64(h + 16, total);
    nn_target__emit_fields(h, bs[0], arenas[0], tname[0]);
    nn_target__w64(h + 80, woff);
    nn_target__w64(h + 88, w->weights.n);
    nn_target__w32(h + 116, count);
    nn_target__w32(h + 120, batches[0]);
    for (k = 1; k < count; k++) {
        uint8_t *r = img + dir + (size_t)(k - 1) * NN_TARGET__PROG_REC;
        nn_target__w64(r, toff[k]);
        nn_target__w32(r + 8, batches[k]);
        nn_target__emit_fields(r, bs[k], arenas[k], tname[k]);
    }
    for (k = 0; k < count; k++) {
        const nn_target__bld *b = bs[k];
        off = toff[k];
#define NN_TARGET__COPY(v) do { if ((v).n) memcpy(img + off, (v).p, (v).n); off += (v).n; } while (0)
        NN_TARGET__COPY(b->slots); NN_TARGET__COPY(b->instrs); NN_TARGET__COPY(b->operands); NN_TARGET__COPY(b->inputs);
        NN_TARGET__COPY(b->outputs); NN_TARGET__COPY(b->nodes); NN_TARGET__COPY(b->attrs); NN_TARGET__COPY(b->strings);
#undef NN_TARGET__COPY
    }
    if (w->weights.n) memcpy(img + woff, w->weights.p, w->weights.n);
    nn_target__w32(h + 24, nn_target__image_crc(img, total));
    *out = img;
    *out_bytes = total;
    return NN_OK;
}

/* ---- the loader: every field checked before use ---- */

NN_API void nn_target_program_destroy(nn_target_program *p) {
    size_t i;
    nn_allocator a;
    if (!p) return;
    a = p->alloc;
    if (p->next) nn_target_program_destroy(p->next);
    if (p->graph) nn_graph_destroy(p->graph);
    nn_target_memory_plan_deinit(&p->memory);
    for (i = 0; i < sizeof p->owned / sizeof p->owned[0]; i++) nn_free(&a, p->owned[i]);
    nn_free(&a, p->slots);
    nn_free(&a, p->instrs);
    if (p->nodes)
        for (i = 0; i < p->node_count; i++) {
            nn_free(&a, p->nodes[i].inputs);
            nn_free(&a, p->nodes[i].outputs);
        }
    nn_free(&a, p->nodes);
    nn_free(&a, p->node_opsets);
    nn_free(&a, (void *)p->node_defs);
    nn_free(&a, p);
}

/* A string of the string table: the offset must be inside it (the table
   ends with a NUL, checked once, so every string is terminated). */
static const char *nn_target__lstr(const char *tab, uint32_t bytes, uint32_t off) {
    return off < bytes ? tab + off : NULL;
}

static int nn_target__i8_zp(int32_t v) { return v >= -128 && v <= 127; }

/* nn_quant_mul_shift computes x * m + 2^(shift-1) in int64: with |x| <=
   xmax that must stay below 2^63 (checked in double with a margin). */
static int nn_target__mult_fits(nn_quant_multiplier q, double xmax) {
    if (q.m < 0 || q.shift < 0 || q.shift > 62) return 0;
    return xmax * (double)q.m + ldexp(1.0, q.shift > 0 ? q.shift - 1 : 0) < 9.0e18;
}

/* Checks n multipliers at weights offset off against inputs |x| <= xmax. */
static int nn_target__mults_ok(const nn_target_program *p, uint64_t off, uint64_t n, double xmax) {
    uint64_t i;
    if (off == NN_TARGET_NO_OFFSET || off % 8 || n == 0 || n > p->weight_bytes / 8 || off > p->weight_bytes - n * 8) return 0;
    for (i = 0; i < n; i++)
        if (!nn_target__mult_fits(((const nn_quant_multiplier *)(const void *)(p->weights + off))[i], xmax)) return 0;
    return 1;
}

/* Bias: absent (*maxabs 0), or n int32 values inside the region; *maxabs
   is the largest |b|. */
static int nn_target__bias_ok(const nn_target_program *p, uint64_t off, uint64_t n, double *maxabs) {
    uint64_t i;
    *maxabs = 0;
    if (off == NN_TARGET_NO_OFFSET) return 1;
    if (off % 4 || n > p->weight_bytes / 4 || off > p->weight_bytes - n * 4) return 0;
    for (i = 0; i < n; i++) {
        double v = fabs((double)((const int32_t *)(const void *)(p->weights + off))[i]);
        if (v > *maxabs) *maxabs = v;
    }
    return 1;
}

static int nn_target__wrange(const nn_target_program *p, uint64_t off, uint64_t bytes, uint64_t align) {
    return off != NN_TARGET_NO_OFFSET && off % align == 0 && bytes <= p->weight_bytes && off <= p->weight_bytes - bytes;
}

static uint64_t nn_target__count(const nn_target_slot *s) {
    uint64_t c = 1;
    int32_t i;
    for (i = 0; i < s->shape.rank; i++) c *= (uint64_t)s->shape.dims[i];
    return c;
}

/* a can be broadcast to y (numpy rules). */
static int nn_target__bcast_ok(const nn_shape *a, const nn_shape *y) {
    int32_t i, off = y->rank - a->rank;
    if (off < 0) return 0;
    for (i = 0; i < a->rank; i++)
        if (a->dims[i] != 1 && a->dims[i] != y->dims[i + off]) return 0;
    return 1;
}

#define NN_TARGET__BAD(field, ...) \
    (snprintf(where, sizeof where, "instr[%u].%s", idx, field), nn_diag_set(diag, NN_ERR_INVALID, where, __VA_ARGS__))

static int nn_target__i16_zp(int32_t v) { return v >= -32768 && v <= 32767; }

/* An input and an output zero point and a clamp [lo, hi], all in int8
   (wide 0) or int16 (wide 1), lo <= hi. */
static int nn_target__zps_ok(int wide, int32_t zin, int32_t zout, int32_t lo, int32_t hi) {
    int (*in)(int32_t) = wide ? nn_target__i16_zp : nn_target__i8_zp;
    return in(zin) && in(zout) && in(lo) && in(hi) && lo <= hi;
}

/* conv_s16's geometry checks are conv_s8's: shared by both checks. */
static const char *nn_target__conv_geometry(const nn_quant_conv_params *c, uint64_t na, uint64_t ny, const char **field) {
    uint64_t K;
    *field = "p";
    if (c->n < 1 || c->c < 1 || c->h < 1 || c->w < 1 || c->m < 1 || c->kh < 1 || c->kw < 1 || c->oh < 1 || c->ow < 1)
        return "conv dimensions must be >= 1";
    *field = "p.group";
    if (c->group < 1 || c->c % c->group || c->m % c->group) return "group does not divide C and M";
    *field = "p.stride";
    if (c->stride_h < 1 || c->stride_w < 1 || c->dil_h < 1 || c->dil_w < 1 || c->stride_h > 4096 || c->stride_w > 4096 ||
        c->dil_h > 4096 || c->dil_w > 4096 || c->pad_top < 0 || c->pad_left < 0 || c->pad_top > 65536 || c->pad_left > 65536)
        return "stride, dilation or padding out of range";
    *field = "p.n";
    if ((uint64_t)c->n * c->c * c->h * c->w != na || (uint64_t)c->n * c->m * c->oh * c->ow != ny)
        return "conv shape disagrees with its slots";
    *field = "p.oh";
    if ((int64_t)(c->oh - 1) * c->stride_h + (int64_t)(c->kh - 1) * c->dil_h > (1 << 30) ||
        (int64_t)(c->ow - 1) * c->stride_w + (int64_t)(c->kw - 1) * c->dil_w > (1 << 30))
        return "window positions overflow";
    *field = "p.kh";
    K = (uint64_t)(c->c / c->group) * c->kh * c->kw;
    if (K > 65536) return "C/group x KH x KW is above 65536";
    return NULL;
}

static const char *nn_target__pool_geometry(const nn_quant_pool_params *q, uint64_t na, uint64_t ny, const char **field) {
    *field = "p";
    if (q->n < 1 || q->c < 1 || q->h < 1 || q->w < 1 || q->kh < 1 || q->kw < 1 || q->oh < 1 || q->ow < 1 || q->stride_h < 1 ||
        q->stride_w < 1 || q->stride_h > 4096 || q->stride_w > 4096 || q->pad_top < 0 || q->pad_left < 0 ||
        q->pad_top > 65536 || q->pad_left > 65536 || (q->count_include_pad != 0 && q->count_include_pad != 1))
        return "pool parameters out of range";
    *field = "p.kh";
    if ((uint64_t)q->kh * q->kw > (1u << 20)) return "window above 2^20 taps";
    *field = "p.n";
    if ((uint64_t)q->n * q->c * q->h * q->w != na || (uint64_t)q->n * q->c * q->oh * q->ow != ny)
        return "pool shape disagrees with its slots";
    *field = "p.oh";
    if ((int64_t)(q->oh - 1) * q->stride_h + q->kh > (1 << 30) || (int64_t)(q->ow - 1) * q->stride_w + q->kw > (1 << 30))
        return "window positions overflow";
    return NULL;
}

/* An avgpool instruction on 8-bit (wide 0) or int16 (wide 1) tensors of
   na and ny elements. */
static nn_status nn_target__check_pool(const nn_target_program *p, uint32_t idx, uint64_t na, uint64_t ny, int wide,
                                       nn_diag *diag) {
    const nn_target_instr *I = &p->instrs[idx];
    nn_quant_pool_params q;
    const char *why, *field;
    char where[64];
    memcpy(&q, I->p, sizeof q);
    if ((why = nn_target__pool_geometry(&q, na, ny, &field)) != NULL) return NN_TARGET__BAD(field, "%s", why);
    if (!nn_target__zps_ok(wide, q.in_zp, q.out_zp, q.act_min, q.act_max))
        return NN_TARGET__BAD("p.in_zp", "zero point or clamp outside int%d", wide ? 16 : 8);
    /* 8 bits: the window sum times m must fit 64 bits; 16 bits: any (the wide requantization) */
    if (I->mult_count != (uint32_t)(q.kh * q.kw + 1) ||
        !nn_target__mults_ok(p, I->mult, I->mult_count, wide ? 0 : 255.0 * q.kh * q.kw))
        return NN_TARGET__BAD("mult", "multipliers: count or values out of range");
    return NN_OK;
}

/* A conv instruction's parameters and constants on 8-bit (wide 0) or
   int16 (wide 1) tensors of na and ny elements; *K gets C/group x KH x KW. */
static nn_status nn_target__check_conv(const nn_target_program *p, uint32_t idx, uint64_t na, uint64_t ny, int wide, uint64_t *K,
                                       nn_diag *diag) {
    const nn_target_instr *I = &p->instrs[idx];
    nn_quant_conv_params c;
    const char *why, *field;
    char where[64];
    double bmax;
    memcpy(&c, I->p, sizeof c);
    if ((why = nn_target__conv_geometry(&c, na, ny, &field)) != NULL) return NN_TARGET__BAD(field, "%s", why);
    *K = (uint64_t)(c.c / c.group) * c.kh * c.kw;
    if (!nn_target__zps_ok(wide, c.in_zp, c.out_zp, c.act_min, c.act_max))
        return NN_TARGET__BAD("p.in_zp", "zero point or clamp outside int%d", wide ? 16 : 8);
    if (!nn_target__wrange(p, I->w, (uint64_t)c.m * *K, 1)) return NN_TARGET__BAD("w", "weights outside the region");
    if (!nn_target__bias_ok(p, I->bias, (uint64_t)c.m, &bmax)) return NN_TARGET__BAD("bias", "bias outside the region");
    /* 8 bits: acc x m must fit 64 bits; 16 bits: any (the wide requantization) */
    if (I->mult_count != (uint32_t)c.m ||
        !nn_target__mults_ok(p, I->mult, (uint64_t)c.m, wide ? 0 : 255.0 * 128.0 * (double)*K + bmax))
        return NN_TARGET__BAD("mult", "multipliers: count or values out of range");
    return NN_OK;
}

/* An element-wise instruction's operand shapes (each the output's, or
   broadcast to it when flagged); *s grows by the broadcast copies of es
   bytes per element. */
static nn_status nn_target__check_eltwise_operands(const nn_target_program *p, uint32_t idx, const nn_target_slot *sa,
                                                   const nn_target_slot *sb, const nn_target_slot *sy, uint64_t na, uint64_t nb,
                                                   uint64_t ny, uint64_t es, uint64_t *s, nn_diag *diag) {
    const nn_target_instr *I = &p->instrs[idx];
    char where[64];
    if ((I->flags & NN_TARGET_INSTR_A_BCAST) ? !nn_target__bcast_ok(&sa->shape, &sy->shape) : na != ny)
        return NN_TARGET__BAD("operands", "operand A does not match the output");
    if ((I->flags & NN_TARGET_INSTR_B_BCAST) ? !nn_target__bcast_ok(&sb->shape, &sy->shape) : nb != ny)
        return NN_TARGET__BAD("operands", "operand B does not match the output");
    if (na == 0 || nb == 0) return NN_TARGET__BAD("operands", "empty operand");
    if (I->flags & NN_TARGET_INSTR_A_BCAST) *s += (es * ny + 64) / 64 * 64;
    if (I->flags & NN_TARGET_INSTR_B_BCAST) *s += (es * ny + 64) / 64 * 64;
    return NN_OK;
}

/* The 8-bit output table of instruction idx over its input range lo =
   p[pi] .. hi = p[pi + 1] (vmin <= lo <= hi <= vmax): hi - lo + 1 bytes,
   or with NN_TARGET_INSTR_RUNS its runs (R in 1 .. hi - lo + 1, starts
   from lo, increasing, at most hi).  *s grows by the expansion the
   simulator makes of runs. */
static nn_status nn_target__check_table8(const nn_target_program *p, uint32_t idx, int pi, int32_t vmin, int32_t vmax,
                                         uint64_t *s, nn_diag *diag) {
    const nn_target_instr *I = &p->instrs[idx];
    char where[64];
    const int32_t lo = I->p[pi], hi = I->p[pi + 1];
    uint64_t n, R, r;
    const uint8_t *t;
    if (lo < vmin || lo > hi || hi > vmax)
        return NN_TARGET__BAD("p", "table input range p[%d] .. p[%d] outside %d .. %d or empty", pi, pi + 1, vmin, vmax);
    n = (uint64_t)(hi - lo) + 1;
    if (!(I->flags & NN_TARGET_INSTR_RUNS)) {
        if (!nn_target__wrange(p, I->table, n, 1)) return NN_TARGET__BAD("table", "table outside the weights");
        return NN_OK;
    }
    if (!nn_target__wrange(p, I->table, 4, 1)) return NN_TARGET__BAD("table", "table outside the weights");
    t = p->weights + I->table;
    R = nn_target__r32(t);
    if (R < 1 || R > n || !nn_target__wrange(p, I->table, 4 + 3 * R, 1))
        return NN_TARGET__BAD("table", "%llu runs: 1 .. %llu, inside the weights", (unsigned long long)R, (unsigned long long)n);
    if (nn_target__r16s(t + 4) != lo) return NN_TARGET__BAD("table", "the first run starts at %d, not %d", nn_target__r16s(t + 4), lo);
    for (r = 1; r < R; r++)
        if (nn_target__r16s(t + 4 + 2 * r) <= nn_target__r16s(t + 2 + 2 * r) || nn_target__r16s(t + 4 + 2 * r) > hi)
            return NN_TARGET__BAD("table", "run %llu starts out of order or past %d", (unsigned long long)r, hi);
    *s += (n + 64) / 64 * 64;
    return NN_OK;
}

/* A conv or gemm on int16 activations (nn_quant_conv_s16 /
   nn_quant_matmul_s16): int16 output, no operand flags, zero points and
   clamps in int16, any multiplier (the requantization is exact for any
   64-bit accumulator). */
static nn_status nn_target__check_wide(const nn_target_program *p, uint32_t idx, const nn_target_slot *sa,
                                       const nn_target_slot *sb, const nn_target_slot *sy, uint64_t na, uint64_t nb, uint64_t ny,
                                       uint64_t *scratch, nn_diag *diag) {
    const nn_target_instr *I = &p->instrs[idx];
    char where[64];
    double bmax;
    uint64_t wa;           /* scratch for an 8-bit conv / gemm input widened to int16 */
    uint64_t wy = 0;       /* fused activation: the int16 result in scratch (and its table's runs expanded) */
    int act = (I->flags & NN_TARGET_INSTR_ACT) != 0;
    nn_status st0;
    if (act) {
        int y8b = sy->dtype == NN_DTYPE_INT8 || sy->dtype == NN_DTYPE_UINT8;
        if ((I->op != NN_TARGET_OP_CONV && I->op != NN_TARGET_OP_GEMM) || !y8b)
            return NN_TARGET__BAD("flags", "a fused activation needs a conv or gemm with an 8-bit output");
        wy = (2 * ny + 64) / 64 * 64;
        if ((st0 = nn_target__check_table8(p, idx, 22, -32768, 32767, &wy, diag)) != NN_OK) return st0;
    }
    if (sy->dtype != NN_DTYPE_INT16 && !act) return NN_TARGET__BAD("operands", "a 16-bit instruction writes int16");
    if (I->op == NN_TARGET_OP_ADD || I->op == NN_TARGET_OP_SUB || I->op == NN_TARGET_OP_MUL) {
        nn_quant_eltwise_params e;
        uint64_t s = 0;
        int w8a = sa->dtype != NN_DTYPE_INT16, w8b = sb->dtype != NN_DTYPE_INT16; /* 8-bit operands, widened */
        memcpy(&e, I->p, sizeof e);
        if ((w8a && sa->dtype != NN_DTYPE_INT8 && sa->dtype != NN_DTYPE_UINT8) ||
            (w8b && sb->dtype != NN_DTYPE_INT8 && sb->dtype != NN_DTYPE_UINT8) || (w8a && w8b))
            return NN_TARGET__BAD("operands", "16-bit %s reads int16 operands (one may be 8-bit)", nn_target_op_name(I->op));
        if (w8a) s += (2 * na + 64) / 64 * 64;
        if (w8b) s += (2 * nb + 64) / 64 * 64;
        if (I->flags & ~(uint32_t)(NN_TARGET_INSTR_HOST | NN_TARGET_INSTR_A_BCAST | NN_TARGET_INSTR_B_BCAST))
            return NN_TARGET__BAD("flags", "16-bit %s takes no u8 flags", nn_target_op_name(I->op));
        if (!nn_target__zps_ok(1, e.a_zp, e.out_zp, e.act_min, e.act_max) || !nn_target__i16_zp(e.b_zp))
            return NN_TARGET__BAD("p.a_zp", "zero point or clamp outside int16");
        if (I->op != NN_TARGET_OP_MUL && e.left_shift != 15) return NN_TARGET__BAD("p.left_shift", "16-bit add/sub shifts by 15");
        if ((I->op != NN_TARGET_OP_MUL && (!nn_target__mult_fits(e.a_mult, 65535.0 * 32768.0) ||
                                           !nn_target__mult_fits(e.b_mult, 65535.0 * 32768.0))) ||
            !nn_target__mult_fits(e.out_mult, 0))
            return NN_TARGET__BAD("p.a_mult", "multiplier out of range");
        *scratch = s;
        return nn_target__check_eltwise_operands(p, idx, sa, sb, sy, na, nb, ny, 2, scratch, diag);
    }
    /* conv / gemm may read an 8-bit input, widened (values kept) into scratch (preact16) */
    wa = (I->op == NN_TARGET_OP_CONV || I->op == NN_TARGET_OP_GEMM) && (sa->dtype == NN_DTYPE_INT8 || sa->dtype == NN_DTYPE_UINT8)
             ? (2 * na + 64) / 64 * 64 : 0;
    if (sa->dtype != NN_DTYPE_INT16 && !wa) return NN_TARGET__BAD("operands", "a 16-bit %s reads int16", nn_target_op_name(I->op));
    if (I->flags & ~(uint32_t)(NN_TARGET_INSTR_HOST | NN_TARGET_INSTR_ACT | (act ? NN_TARGET_INSTR_RUNS : 0)))
        return NN_TARGET__BAD("flags", "16-bit %s takes no operand flags", nn_target_op_name(I->op));
    if (I->op == NN_TARGET_OP_AVGPOOL) {
        *scratch = 0;
        return nn_target__check_pool(p, idx, na, ny, 1, diag);
    }
    if (I->op == NN_TARGET_OP_CONV) {
        nn_quant_conv_params c;
        uint64_t K, k1, k2;
        nn_status st = nn_target__check_conv(p, idx, na, ny, 1, &K, diag);
        if (st) return st;
        memcpy(&c, I->p, sizeof c);
        k1 = K * 256 * 4 + 4 * 256 * 12 + 64; /* nn_quant_conv_s16_scratch_bytes in 64 bits */
        k2 = k1 < ((uint64_t)1 << 40) ? (uint64_t)nn_quant_conv_s16_scratch_bytes(&c) : 0;
        *scratch = (k1 > k2 ? k1 : k2) + wa + wy;
        return NN_OK;
    } else {
        nn_quant_matmul_params m;
        memcpy(&m, I->p, sizeof m);
        if (m.m < 1 || m.k < 1 || m.n < 1 || m.k > 32768) return NN_TARGET__BAD("p.k", "matmul dimensions out of range");
        if (!nn_target__zps_ok(1, m.a_zp, m.out_zp, m.act_min, m.act_max) || m.b_zp != 0)
            return NN_TARGET__BAD("p.a_zp", "zero point or clamp outside int16 (or b_zp not 0)");
        if (I->p[20] != 1 || I->p[21] != 1) return NN_TARGET__BAD("p.batches", "gemm has one batch");
        if ((uint64_t)m.m * m.k != na || (uint64_t)m.m * m.n != ny) return NN_TARGET__BAD("p.m", "matmul shape disagrees with its slots");
        if (!nn_target__wrange(p, I->w, (uint64_t)m.k * m.n, 1)) return NN_TARGET__BAD("w", "weights outside the region");
        if (!nn_target__bias_ok(p, I->bias, (uint64_t)m.n, &bmax)) return NN_TARGET__BAD("bias", "bias outside the region");
        if ((m.mult_count != 1 && m.mult_count != m.n) || I->mult_count != (uint32_t)m.mult_count ||
            !nn_target__mults_ok(p, I->mult, (uint64_t)m.mult_count, 0))
            return NN_TARGET__BAD("mult", "multipliers: count or values out of range");
        *scratch = (uint64_t)m.n * 12 + 64 + wa + wy;
        return NN_OK;
    }
}

/* Checks one integer instruction against its slots and computes the
   scratch it needs (*scratch). */
static nn_status nn_target__check_int(const nn_target_program *p, uint32_t idx, uint64_t *scratch, nn_diag *diag) {
    const nn_target_instr *I = &p->instrs[idx];
    const uint32_t *ops = p->operands + I->first_operand;
    const nn_target_slot *sa, *sb = NULL, *sy;
    uint64_t na, nb = 0, ny, s = 0;
    double bmax = 0;
    int a8, y8;
    char where[64];
    int two = I->op == NN_TARGET_OP_MATMUL || I->op == NN_TARGET_OP_ADD || I->op == NN_TARGET_OP_SUB || I->op == NN_TARGET_OP_MUL;
    if (I->in_count != (two ? 2u : 1u) || I->out_count != 1) return NN_TARGET__BAD("in_count", "wrong operand count for %s", nn_target_op_name(I->op));
    if (ops[0] == NN_TARGET_NO_SLOT || (two && ops[1] == NN_TARGET_NO_SLOT) || ops[I->in_count] == NN_TARGET_NO_SLOT)
        return NN_TARGET__BAD("operands", "an operand of %s is missing", nn_target_op_name(I->op));
    sa = &p->slots[ops[0]];
    if (two) sb = &p->slots[ops[1]];
    sy = &p->slots[ops[I->in_count]];
    na = nn_target__count(sa); ny = nn_target__count(sy);
    if (sb) nb = nn_target__count(sb);
    if (sy->region != NN_TARGET_REGION_ARENA) return NN_TARGET__BAD("operands", "output is not in the arena");
    if ((I->flags & (NN_TARGET_INSTR_ACT | NN_TARGET_INSTR_ACT8)) && I->op != NN_TARGET_OP_CONV && I->op != NN_TARGET_OP_GEMM)
        return NN_TARGET__BAD("flags", "only a conv or gemm takes a fused activation");
    if ((I->flags & NN_TARGET_INSTR_ACT) && (I->flags & NN_TARGET_INSTR_ACT8))
        return NN_TARGET__BAD("flags", "one fused activation: flags 128 and 256 together");
    if ((I->op == NN_TARGET_OP_CONV || I->op == NN_TARGET_OP_GEMM || I->op == NN_TARGET_OP_MATMUL) && I->table != NN_TARGET_NO_OFFSET &&
        !(I->flags & (NN_TARGET_INSTR_ACT | NN_TARGET_INSTR_ACT8)))
        return NN_TARGET__BAD("table", "a %s without a fused activation has no table", nn_target_op_name(I->op));
    if (I->op == NN_TARGET_OP_LUT16) { /* int16 -> int16, or int16 -> 8-bit (a table of output bytes) */
        int y8b = sy->dtype == NN_DTYPE_INT8 || sy->dtype == NN_DTYPE_UINT8;
        if (sa->dtype != NN_DTYPE_INT16 || (sy->dtype != NN_DTYPE_INT16 && !y8b) || na != ny)
            return NN_TARGET__BAD("operands", "lut16 needs an int16 input and an int16 or 8-bit output of one size");
        if (I->flags & ~(uint32_t)(NN_TARGET_INSTR_HOST | (y8b ? NN_TARGET_INSTR_RUNS : 0)))
            return NN_TARGET__BAD("flags", "lut16 takes no operand flags (runs: to 8 bits only)");
        *scratch = 0;
        if (y8b) return nn_target__check_table8(p, idx, 0, -32768, 32767, scratch, diag);
        if (!nn_target__wrange(p, I->table, 65536 * 2, 2)) return NN_TARGET__BAD("table", "table outside the weights");
        return NN_OK;
    }
    if (I->op == NN_TARGET_OP_YUV) { /* p: n h w vu limited bgr; frame (n, h*3/2, w) u8 -> (n, 3, h, w) 8-bit */
        const int32_t *q = I->p;
        if (I->flags & ~(uint32_t)NN_TARGET_INSTR_HOST) return NN_TARGET__BAD("flags", "yuv takes no operand flags");
        if (q[0] < 1 || q[1] < 2 || q[2] < 2 || q[1] % 2 || q[2] % 2 || q[0] > (1 << 20) || q[1] > (1 << 20) || q[2] > (1 << 20) ||
            (q[3] != 0 && q[3] != 1) || (q[4] != 0 && q[4] != 1) || (q[5] != 0 && q[5] != 1))
            return NN_TARGET__BAD("p", "yuv parameters out of range");
        if (sa->dtype != NN_DTYPE_UINT8 || sa->shape.rank != 3 || sa->shape.dims[0] != q[0] || sa->shape.dims[1] != (int64_t)q[1] / 2 * 3 ||
            sa->shape.dims[2] != q[2])
            return NN_TARGET__BAD("p.h", "frame slot is not uint8 (n, h*3/2, w)");
        if ((sy->dtype != NN_DTYPE_UINT8 && sy->dtype != NN_DTYPE_INT8 && sy->dtype != NN_DTYPE_INT16) ||
            sy->shape.rank != 4 || sy->shape.dims[0] != q[0] || sy->shape.dims[1] != 3 || sy->shape.dims[2] != q[1] ||
            sy->shape.dims[3] != q[2])
            return NN_TARGET__BAD("p.w", "output slot is not int8, uint8 or int16 (n, 3, h, w)");
        if (!nn_target__wrange(p, I->table, 3 * 256 * (sy->dtype == NN_DTYPE_INT16 ? 2 : 1), 1))
            return NN_TARGET__BAD("table", "table outside the weights");
        *scratch = 0;
        return NN_OK;
    }
    if (((I->op == NN_TARGET_OP_CONV || I->op == NN_TARGET_OP_GEMM || I->op == NN_TARGET_OP_AVGPOOL) && sa->dtype == NN_DTYPE_INT16) ||
        ((I->op == NN_TARGET_OP_CONV || I->op == NN_TARGET_OP_GEMM) && (sy->dtype == NN_DTYPE_INT16 || (I->flags & NN_TARGET_INSTR_ACT))) ||
        ((I->op == NN_TARGET_OP_ADD || I->op == NN_TARGET_OP_SUB || I->op == NN_TARGET_OP_MUL) && sy->dtype == NN_DTYPE_INT16))
        return nn_target__check_wide(p, idx, sa, sb, sy, na, nb, ny, scratch, diag);
    a8 = sa->dtype == NN_DTYPE_UINT8 ? 1 : sa->dtype == NN_DTYPE_INT8 ? 0 : -1;
    y8 = sy->dtype == NN_DTYPE_UINT8 ? 1 : sy->dtype == NN_DTYPE_INT8 ? 0 : -1;
    if (a8 < 0 || y8 < 0) return NN_TARGET__BAD("operands", "8-bit tensors expected");
    if (I->op == NN_TARGET_OP_LUT8) {
        if (na != ny) return NN_TARGET__BAD("operands", "input and output sizes differ");
        if (!nn_target__wrange(p, I->table, 256, 1)) return NN_TARGET__BAD("table", "table outside the weights");
        *scratch = 0;
        return NN_OK;
    }
    if (a8 != !!(I->flags & NN_TARGET_INSTR_A_U8) ||
        ((I->flags & NN_TARGET_INSTR_ACT8) ? (I->flags & NN_TARGET_INSTR_Y_U8) != 0 : y8 != !!(I->flags & NN_TARGET_INSTR_Y_U8)))
        return NN_TARGET__BAD("flags", "u8 flags disagree with the tensor types");
    if ((I->flags & NN_TARGET_INSTR_RUNS) && !(I->flags & NN_TARGET_INSTR_ACT8))
        return NN_TARGET__BAD("flags", "runs need an 8-bit output table");
    if (I->flags & NN_TARGET_INSTR_ACT8) { /* the int8 result in scratch, then the table to the output */
        nn_status st8;
        s += (ny + 64) / 64 * 64;
        if ((st8 = nn_target__check_table8(p, idx, 22, -128, 127, &s, diag)) != NN_OK) return st8;
    }
    if (a8) s += (na + 64) / 64 * 64;
    if (sb) {
        int b8 = sb->dtype == NN_DTYPE_UINT8 ? 1 : sb->dtype == NN_DTYPE_INT8 ? 0 : -1;
        if (b8 < 0 || b8 != !!(I->flags & NN_TARGET_INSTR_B_U8)) return NN_TARGET__BAD("flags", "operand B type");
        if (b8) s += (nb + 64) / 64 * 64;
    }
    switch (I->op) {
    case NN_TARGET_OP_CONV: {
        nn_quant_conv_params c;
        uint64_t K;
        nn_status st = nn_target__check_conv(p, idx, na, ny, 0, &K, diag);
        if (st) return st;
        memcpy(&c, I->p, sizeof c);
        {   /* the kernel's own figure, and ours in 64 bits (the same formula) as a floor */
            uint64_t k1 = ((uint64_t)c.oh * c.ow + (uint64_t)(c.m / c.group)) * K * 2 + 4 * 256 * 4 + 128;
            uint64_t k2 = k1 < ((uint64_t)1 << 40) ? (uint64_t)nn_quant_conv_s8_scratch_bytes(&c) : 0;
            s += k1 > k2 ? k1 : k2;
        }
        break;
    }
    case NN_TARGET_OP_GEMM:
    case NN_TARGET_OP_MATMUL: {
        nn_quant_matmul_params m;
        int64_t batches = I->p[20], bb = I->p[21];
        memcpy(&m, I->p, sizeof m);
        if (m.m < 1 || m.k < 1 || m.n < 1 || m.k > 32768) return NN_TARGET__BAD("p.k", "matmul dimensions out of range");
        if (!nn_target__zps_ok(0, m.a_zp, m.out_zp, m.act_min, m.act_max) || !nn_target__i8_zp(m.b_zp))
            return NN_TARGET__BAD("p.a_zp", "zero point or clamp outside int8");
        if (batches < 1 || (bb != 1 && bb != batches)) return NN_TARGET__BAD("p.batches", "bad batch counts");
        if ((uint64_t)batches * m.m * m.k != na || (uint64_t)batches * m.m * m.n != ny)
            return NN_TARGET__BAD("p.m", "matmul shape disagrees with its slots");
        if (I->op == NN_TARGET_OP_GEMM) {
            if (batches != 1 || m.b_zp != 0) return NN_TARGET__BAD("p.batches", "gemm has one batch and b_zp 0");
            if (!nn_target__wrange(p, I->w, (uint64_t)m.k * m.n, 1)) return NN_TARGET__BAD("w", "weights outside the region");
            if (!nn_target__bias_ok(p, I->bias, (uint64_t)m.n, &bmax)) return NN_TARGET__BAD("bias", "bias outside the region");
        } else {
            if ((uint64_t)bb * m.k * m.n != nb) return NN_TARGET__BAD("p.n", "operand B disagrees with its slot");
            if (I->bias != NN_TARGET_NO_OFFSET) return NN_TARGET__BAD("bias", "matmul of activations has no bias");
        }
        if ((m.mult_count != 1 && m.mult_count != m.n) || I->mult_count != (uint32_t)m.mult_count ||
            !nn_target__mults_ok(p, I->mult, (uint64_t)m.mult_count, 255.0 * 255.0 * (double)m.k + bmax))
            return NN_TARGET__BAD("mult", "multipliers: count or values out of range");
        {
            uint64_t k1 = ((uint64_t)m.k * m.n + 4 * (uint64_t)m.k) * 2 + 4 * (uint64_t)m.n * 4 + 128;
            uint64_t k2 = k1 < ((uint64_t)1 << 40) ? (uint64_t)nn_quant_matmul_s8_scratch_bytes(&m) : 0;
            s += k1 > k2 ? k1 : k2;
        }
        break;
    }
    case NN_TARGET_OP_ADD:
    case NN_TARGET_OP_SUB:
    case NN_TARGET_OP_MUL: {
        nn_quant_eltwise_params e;
        memcpy(&e, I->p, sizeof e);
        if (!nn_target__zps_ok(0, e.a_zp, e.out_zp, e.act_min, e.act_max) || !nn_target__i8_zp(e.b_zp))
            return NN_TARGET__BAD("p.a_zp", "zero point or clamp outside int8");
        if (e.left_shift < 0 || e.left_shift > 20) return NN_TARGET__BAD("p.left_shift", "left shift %d outside [0, 20]", e.left_shift);
        {   /* add/sub: (x - zp) << left_shift rescaled to int32 each, their sum requantized; mul: the product */
            double xs = 255.0 * ldexp(1.0, e.left_shift), va, vb;
            int ok;
            if (I->op == NN_TARGET_OP_MUL) {
                ok = nn_target__mult_fits(e.out_mult, 255.0 * 255.0);
            } else {
                ok = nn_target__mult_fits(e.a_mult, xs) && nn_target__mult_fits(e.b_mult, xs); /* shifts in [0, 62] from here */
                if (ok) {
                    va = fmin(xs * e.a_mult.m * ldexp(1.0, -e.a_mult.shift) + 1, 2147483648.0);
                    vb = fmin(xs * e.b_mult.m * ldexp(1.0, -e.b_mult.shift) + 1, 2147483648.0);
                    ok = nn_target__mult_fits(e.out_mult, va + vb);
                }
            }
            if (!ok) return NN_TARGET__BAD("p.a_mult", "multiplier out of range");
        }
        {
            nn_status st = nn_target__check_eltwise_operands(p, idx, sa, sb, sy, na, nb, ny, 1, &s, diag);
            if (st) return st;
        }
        break;
    }
    case NN_TARGET_OP_AVGPOOL: {
        nn_status st = nn_target__check_pool(p, idx, na, ny, 0, diag);
        if (st) return st;
        break;
    }
    default: return NN_TARGET__BAD("op", "not an integer op");
    }
    *scratch = s;
    return NN_OK;
}

#define NN_TARGET__FAIL(st, ...) do { status = nn_diag_set(diag, st, where, __VA_ARGS__); goto fail; } while (0)

/* Loads one program of a checked image: its fields at img + rec (bytes
   32..115 as in the header), its tables at img + tables, up to woff.
   *end: where its string table ends. */
static nn_status nn_target__load_one(const uint8_t *img, size_t size, uint64_t rec, uint64_t tables, uint64_t woff,
                                     uint64_t wbytes, nn_allocator a, nn_target_program **out, uint64_t *end,
                                     nn_diag *diag) {
    nn_target_program *p = NULL;
    nn_status status = NN_OK;
    char where[96];
    uint32_t slot_count, instr_count, operand_count, input_count, output_count, node_count, attr_count, string_bytes, i, j;
    uint64_t off, o_slots, o_instrs, o_ops, o_in, o_out, o_nodes, o_attrs, o_str, arena, scratch, max_scratch = 0;
    const uint8_t *h = img + rec;
    const char *strs;
    nn_attr *attrs = NULL;
    const char **strptrs = NULL;
    uint64_t nstrptr = 0;
    uint32_t *ids = NULL;
    if (nn_target__r32(h + 96) != NN_TARGET__SLOT_REC || nn_target__r32(h + 100) != NN_TARGET__INSTR_REC ||
        nn_target__r32(h + 104) != NN_TARGET__NODE_REC || nn_target__r32(h + 108) != NN_TARGET__ATTR_REC)
        return nn_diag_set(diag, NN_ERR_INVALID, "header.slot_record_bytes", "record sizes differ from version 2's");
    slot_count = nn_target__r32(h + 32); instr_count = nn_target__r32(h + 36); operand_count = nn_target__r32(h + 40);
    input_count = nn_target__r32(h + 44); output_count = nn_target__r32(h + 48); node_count = nn_target__r32(h + 52);
    attr_count = nn_target__r32(h + 56); string_bytes = nn_target__r32(h + 60);
    arena = nn_target__r64(h + 64); scratch = nn_target__r64(h + 72);
    if (slot_count > NN_MAX_TARGET_SLOTS) return nn_diag_set(diag, NN_ERR_LIMIT, "header.slot_count", "%u above NN_MAX_TARGET_SLOTS", slot_count);
    if (instr_count > NN_MAX_TARGET_INSTRS || node_count > instr_count)
        return nn_diag_set(diag, NN_ERR_LIMIT, "header.instr_count", "%u instructions, %u nodes: above the caps", instr_count, node_count);
    if (operand_count > instr_count * 2 * NN_TARGET__MAX_IO || input_count > slot_count || output_count > slot_count ||
        attr_count > node_count * 64u)
        return nn_diag_set(diag, NN_ERR_LIMIT, "header.operand_count", "counts above what the instructions can use");
    if (arena > NN_MAX_TARGET_ARENA || scratch > NN_MAX_TARGET_ARENA)
        return nn_diag_set(diag, NN_ERR_LIMIT, "header.arena_bytes", "arena or scratch above NN_MAX_TARGET_ARENA");
    o_slots = tables;
    o_instrs = o_slots + (uint64_t)slot_count * NN_TARGET__SLOT_REC;
    o_ops = o_instrs + (uint64_t)instr_count * NN_TARGET__INSTR_REC;
    o_in = o_ops + (uint64_t)operand_count * 4;
    o_out = o_in + (uint64_t)input_count * 4;
    o_nodes = o_out + (uint64_t)output_count * 4;
    o_attrs = o_nodes + (uint64_t)node_count * NN_TARGET__NODE_REC;
    o_str = o_attrs + (uint64_t)attr_count * NN_TARGET__ATTR_REC;
    off = o_str + string_bytes;
    if (off > size) return nn_diag_set(diag, NN_ERR_PARSE, "header.slot_count", "the tables need %llu bytes, the file has %zu", (unsigned long long)off, size);
    if (off > woff)
        return nn_diag_set(diag, NN_ERR_INVALID, "header.weights_offset", "weights region at %llu overlaps the tables (up to %llu)",
                           (unsigned long long)woff, (unsigned long long)off);
    if (string_bytes == 0 || img[o_str + string_bytes - 1] != 0)
        return nn_diag_set(diag, NN_ERR_INVALID, "header.string_bytes", "string table must end with a NUL");
    *end = off;
    p = (nn_target_program *)nn_alloc(&a, sizeof *p);
    if (!p) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_load_memory", "out of memory");
    memset(p, 0, sizeof *p);
    p->alloc = a;
    p->image_record = rec;
    p->image_tables = tables;
    p->image = img; p->image_bytes = size;
    p->slot_count = slot_count; p->instr_count = instr_count; p->operand_count = operand_count;
    p->input_count = input_count; p->output_count = output_count; /* node_count once nodes are zeroed */
    p->weights = img + woff; p->weight_bytes = wbytes; p->arena_bytes = arena;
    strs = (const char *)img + o_str;
    p->target_name = nn_target__lstr(strs, string_bytes, nn_target__r32(h + 112));
    if (!p->target_name) { snprintf(where, sizeof where, "header.target_name"); NN_TARGET__FAIL(NN_ERR_INVALID, "string offset outside the table"); }
    /* operands, inputs, outputs: 4-byte aligned in the image (records are multiples of 8) */
    p->operands = (const uint32_t *)(const void *)(img + o_ops);
    p->inputs = (const uint32_t *)(const void *)(img + o_in);
    p->outputs = (const uint32_t *)(const void *)(img + o_out);
    p->slots = (nn_target_slot *)nn_alloc(&a, ((size_t)slot_count + 1) * sizeof *p->slots);
    p->instrs = (nn_target_instr *)nn_alloc(&a, ((size_t)instr_count + 1) * sizeof *p->instrs);
    p->nodes = (nn_node *)nn_alloc(&a, ((size_t)node_count + 1) * sizeof *p->nodes);
    p->node_opsets = (int64_t *)nn_alloc(&a, ((size_t)node_count + 1) * sizeof *p->node_opsets);
    p->node_defs = (const nn_op_def **)nn_alloc(&a, ((size_t)node_count + 1) * sizeof *p->node_defs);
    attrs = (nn_attr *)nn_alloc(&a, ((size_t)attr_count + 1) * sizeof *attrs);
    p->owned[1] = attrs;
    if (!p->slots || !p->instrs || !p->nodes || !p->node_opsets || !p->node_defs || !attrs) {
        snprintf(where, sizeof where, "nn_target_load_memory");
        NN_TARGET__FAIL(NN_ERR_NOMEM, "out of memory");
    }
    memset(p->nodes, 0, ((size_t)node_count + 1) * sizeof *p->nodes);
    p->node_count = node_count;
    memset(attrs, 0, ((size_t)attr_count + 1) * sizeof *attrs);
    for (i = 0; i < slot_count; i++) {
        const uint8_t *r = img + o_slots + (uint64_t)i * NN_TARGET__SLOT_REC;
        nn_target_slot *s = &p->slots[i];
        uint64_t cnt = 1, esz, lim;
        size_t want = 0;
        int32_t k;
        s->name = nn_target__lstr(strs, string_bytes, nn_target__r32(r));
        s->dtype = (nn_dtype)nn_target__r32(r + 4);
        s->region = nn_target__r32(r + 8);
        s->shape.rank = (int32_t)nn_target__r32(r + 12);
        s->offset = nn_target__r64(r + 16);
        s->bytes = nn_target__r64(r + 24);
        snprintf(where, sizeof where, "slot[%u].name", i);
        if (!s->name) NN_TARGET__FAIL(NN_ERR_INVALID, "string offset outside the table");
        snprintf(where, sizeof where, "slot[%u].dtype", i);
        esz = nn_target__r32(r + 4) <= 64 ? nn_dtype_size(s->dtype) : 0;
        if (nn_target__r32(r + 4) <= 64 && nn_dtype_bits(s->dtype) == 4) esz = 1; /* int4/uint4: packed, two per byte */
        if (esz == 0 || s->dtype == NN_DTYPE_STRING) NN_TARGET__FAIL(NN_ERR_INVALID, "dtype %u is not a fixed-size type", nn_target__r32(r + 4));
        if (nn_dtype_bits(s->dtype) == 4 && s->region != NN_TARGET_REGION_WEIGHTS)
            NN_TARGET__FAIL(NN_ERR_INVALID, "%s slots are constants: the weights region only", nn_dtype_name(s->dtype));
        snprintf(where, sizeof where, "slot[%u].rank", i);
        if (s->shape.rank < 0 || s->shape.rank > NN_MAX_RANK) NN_TARGET__FAIL(NN_ERR_INVALID, "rank %d", s->shape.rank);
        for (k = 0; k < NN_MAX_RANK; k++) { /* count = product of dims, every partial product <= 2^40 */
            uint64_t dim;
            s->shape.dims[k] = (int64_t)nn_target__r64(r + 32 + 8 * k);
            if (k >= s->shape.rank) { s->shape.dims[k] = 0; continue; }
            snprintf(where, sizeof where, "slot[%u].dims[%d]", i, k);
            if (s->shape.dims[k] < 0 || (uint64_t)s->shape.dims[k] > NN_MAX_TARGET_ARENA) NN_TARGET__FAIL(NN_ERR_INVALID, "dim %lld", (long long)s->shape.dims[k]);
            dim = (uint64_t)s->shape.dims[k];
            if (dim && cnt > NN_MAX_TARGET_ARENA / dim) NN_TARGET__FAIL(NN_ERR_LIMIT, "element count above 2^40");
            cnt *= dim;
        }
        snprintf(where, sizeof where, "slot[%u].bytes", i);
        if (!nn_dtype_bytes_for(s->dtype, (size_t)cnt, &want) || s->bytes != want) /* int4/uint4: two per byte */
            NN_TARGET__FAIL(NN_ERR_INVALID, "%llu bytes for %llu elements of %s", (unsigned long long)s->bytes,
                            (unsigned long long)cnt, nn_dtype_name(s->dtype));
        snprintf(where, sizeof where, "slot[%u].region", i);
        if (s->region > NN_TARGET_REGION_WEIGHTS) NN_TARGET__FAIL(NN_ERR_INVALID, "region %u", s->region);
        lim = s->region == NN_TARGET_REGION_ARENA ? arena : wbytes;
        snprintf(where, sizeof where, "slot[%u].offset", i);
        if (s->offset > lim || s->bytes > lim - s->offset || s->offset % esz)
            NN_TARGET__FAIL(NN_ERR_INVALID, "[%llu, +%llu) is outside its region or misaligned", (unsigned long long)s->offset,
                            (unsigned long long)s->bytes);
    }
    for (i = 0; i < operand_count; i++) {
        snprintf(where, sizeof where, "operand[%u]", i);
        if (p->operands[i] != NN_TARGET_NO_SLOT && p->operands[i] >= slot_count) NN_TARGET__FAIL(NN_ERR_INVALID, "slot %u of %u", p->operands[i], slot_count);
    }
    for (i = 0; i < input_count + output_count; i++) {
        uint32_t s = i < input_count ? p->inputs[i] : p->outputs[i - input_count];
        if (i < input_count) snprintf(where, sizeof where, "input[%u]", i);
        else snprintf(where, sizeof where, "output[%u]", i - input_count);
        if (s >= slot_count || p->slots[s].region != NN_TARGET_REGION_ARENA) NN_TARGET__FAIL(NN_ERR_INVALID, "slot %u is not an arena slot", s);
    }
    /* STRINGS attributes need pointer arrays: count them first */
    for (i = 0; i < attr_count; i++) {
        const uint8_t *r = img + o_attrs + (uint64_t)i * NN_TARGET__ATTR_REC;
        if (nn_target__r32(r + 4) == NN_ATTR_STRINGS) nstrptr += nn_target__r32(r + 8);
    }
    snprintf(where, sizeof where, "attr");
    if (nstrptr > wbytes / 4) NN_TARGET__FAIL(NN_ERR_INVALID, "string lists longer than the weights region holds");
    strptrs = (const char **)nn_alloc(&a, ((size_t)nstrptr + 1) * sizeof *strptrs);
    ids = (uint32_t *)nn_alloc(&a, ((size_t)node_count + 1) * sizeof *ids);
    p->owned[2] = (void *)strptrs;
    p->owned[3] = ids;
    if (!strptrs || !ids) NN_TARGET__FAIL(NN_ERR_NOMEM, "out of memory");
    nstrptr = 0;
    for (i = 0; i < attr_count; i++) {
        const uint8_t *r = img + o_attrs + (uint64_t)i * NN_TARGET__ATTR_REC;
        nn_attr *at = &attrs[i];
        uint32_t fb = nn_target__r32(r + 12);
        uint64_t data = nn_target__r64(r + 24);
        at->name = nn_target__lstr(strs, string_bytes, nn_target__r32(r));
        at->type = (nn_attr_type)nn_target__r32(r + 4);
        at->count = nn_target__r32(r + 8);
        memcpy(&at->f, &fb, 4);
        at->i = (int64_t)nn_target__r64(r + 16);
        snprintf(where, sizeof where, "attr[%u].name", i);
        if (!at->name) NN_TARGET__FAIL(NN_ERR_INVALID, "string offset outside the table");
        snprintf(where, sizeof where, "attr[%u].data", i);
        switch (nn_target__r32(r + 4)) {
        case NN_ATTR_FLOAT: case NN_ATTR_INT: break;
        case NN_ATTR_STRING:
            if (data > string_bytes || !(at->s = nn_target__lstr(strs, string_bytes, (uint32_t)data))) NN_TARGET__FAIL(NN_ERR_INVALID, "string offset outside the table");
            at->s_bytes = strlen(at->s);
            break;
        case NN_ATTR_INTS:
            if (!nn_target__wrange(p, data, (uint64_t)at->count * 8, 8)) NN_TARGET__FAIL(NN_ERR_INVALID, "ints outside the weights");
            at->ints = (const int64_t *)(const void *)(p->weights + data);
            break;
        case NN_ATTR_FLOATS:
            if (!nn_target__wrange(p, data, (uint64_t)at->count * 4, 4)) NN_TARGET__FAIL(NN_ERR_INVALID, "floats outside the weights");
            at->floats = (const float *)(const void *)(p->weights + data);
            break;
        case NN_ATTR_STRINGS:
            if (!nn_target__wrange(p, data, (uint64_t)at->count * 4, 4)) NN_TARGET__FAIL(NN_ERR_INVALID, "string list outside the weights");
            for (j = 0; j < at->count; j++) {
                strptrs[nstrptr + j] = nn_target__lstr(strs, string_bytes, nn_target__r32(p->weights + data + 4 * (uint64_t)j));
                if (!strptrs[nstrptr + j]) NN_TARGET__FAIL(NN_ERR_INVALID, "string offset outside the table");
            }
            at->strings = strptrs + nstrptr;
            nstrptr += at->count;
            break;
        default: NN_TARGET__FAIL(NN_ERR_INVALID, "attribute type %u", nn_target__r32(r + 4));
        }
    }
    for (i = 0; i < node_count; i++) {
        const uint8_t *r = img + o_nodes + (uint64_t)i * NN_TARGET__NODE_REC;
        nn_node *n = &p->nodes[i];
        uint32_t fa = nn_target__r32(r + 16), na = nn_target__r32(r + 20);
        const nn_op_def *def;
        n->op_type = nn_target__lstr(strs, string_bytes, nn_target__r32(r));
        n->domain = nn_target__lstr(strs, string_bytes, nn_target__r32(r + 4));
        p->node_opsets[i] = (int64_t)nn_target__r64(r + 8);
        snprintf(where, sizeof where, "node[%u].op_type", i);
        if (!n->op_type || !n->domain) NN_TARGET__FAIL(NN_ERR_INVALID, "string offset outside the table");
        snprintf(where, sizeof where, "node[%u].attrs", i);
        if (fa > attr_count || na > attr_count - fa || na > 64) NN_TARGET__FAIL(NN_ERR_INVALID, "attributes [%u, +%u) of %u", fa, na, attr_count);
        n->attrs = attrs + fa;
        n->attr_count = na;
        snprintf(where, sizeof where, "node[%u].opset", i);
        if (p->node_opsets[i] < 1 || p->node_opsets[i] > 1000) NN_TARGET__FAIL(NN_ERR_INVALID, "opset %lld", (long long)p->node_opsets[i]);
        def = nn_op_find(n->op_type, n->domain, p->node_opsets[i]);
        snprintf(where, sizeof where, "node[%u].op_type", i);
        if (!def || (def->flags & (NN_OPF_SUBGRAPH | NN_OPF_NONDETERMINISTIC)))
            NN_TARGET__FAIL(NN_ERR_UNSUPPORTED, "op %s (domain '%s', opset %lld) has no kernel here", n->op_type, n->domain,
                            (long long)p->node_opsets[i]);
        p->node_defs[i] = def;
        for (j = 0; j < na; j++) {
            uint32_t k;
            if (!def->attrs || !def->attrs[0]) NN_TARGET__FAIL(NN_ERR_INVALID, "op %s takes no attribute '%s'", n->op_type, n->attrs[j].name);
            { /* the attribute must be one the op accepts (as nn_exec_create checks) */
                const char *s = def->attrs, *e;
                size_t ln = strlen(n->attrs[j].name);
                int found = 0;
                while (*s) {
                    e = strchr(s, ',');
                    if (!e) e = s + strlen(s);
                    if ((size_t)(e - s) == ln && !strncmp(s, n->attrs[j].name, ln)) found = 1;
                    s = *e ? e + 1 : e;
                }
                if (!found) NN_TARGET__FAIL(NN_ERR_INVALID, "op %s takes no attribute '%s'", n->op_type, n->attrs[j].name);
            }
            for (k = 0; k < j; k++)
                if (!strcmp(n->attrs[k].name, n->attrs[j].name)) NN_TARGET__FAIL(NN_ERR_INVALID, "attribute '%s' twice", n->attrs[j].name);
        }
        ids[i] = 0;
    }
    for (i = 0; i < instr_count; i++) {
        const uint8_t *r = img + o_instrs + (uint64_t)i * NN_TARGET__INSTR_REC;
        nn_target_instr *I = &p->instrs[i];
        uint64_t need = 0;
        int k;
        I->op = (nn_target_op)nn_target__r32(r);
        I->flags = nn_target__r32(r + 4);
        I->first_operand = nn_target__r32(r + 8);
        I->in_count = nn_target__r32(r + 12);
        I->out_count = nn_target__r32(r + 16);
        I->node = nn_target__r32(r + 20);
        I->name = nn_target__lstr(strs, string_bytes, nn_target__r32(r + 24));
        I->mult_count = nn_target__r32(r + 28);
        for (k = 0; k < 24; k++) I->p[k] = (int32_t)nn_target__r32(r + 32 + 4 * k);
        I->w = nn_target__r64(r + 128); I->bias = nn_target__r64(r + 136); I->mult = nn_target__r64(r + 144);
        I->table = nn_target__r64(r + 152); I->scratch_bytes = nn_target__r64(r + 160);
        snprintf(where, sizeof where, "instr[%u].op", i);
        if (nn_target__r32(r) == 0 || nn_target__r32(r) >= NN_TARGET_OP_COUNT) NN_TARGET__FAIL(NN_ERR_INVALID, "op %u", nn_target__r32(r));
        snprintf(where, sizeof where, "instr[%u].flags", i);
        if (I->flags & ~1023u) NN_TARGET__FAIL(NN_ERR_INVALID, "unknown flag bits 0x%x", I->flags); /* 128, 256, 512: since session 19 */
        snprintf(where, sizeof where, "instr[%u].name", i);
        if (!I->name) NN_TARGET__FAIL(NN_ERR_INVALID, "string offset outside the table");
        snprintf(where, sizeof where, "instr[%u].in_count", i);
        if (I->in_count > NN_TARGET__MAX_IO || I->out_count > NN_TARGET__MAX_IO || I->out_count == 0 ||
            I->first_operand > operand_count || I->in_count + I->out_count > operand_count - I->first_operand)
            NN_TARGET__FAIL(NN_ERR_INVALID, "operands [%u, +%u+%u) of %u", I->first_operand, I->in_count, I->out_count, operand_count);
        for (k = 0; k < (int)I->out_count; k++) {
            uint32_t s = p->operands[I->first_operand + I->in_count + (uint32_t)k];
            snprintf(where, sizeof where, "instr[%u].outputs", i);
            if (s != NN_TARGET_NO_SLOT && p->slots[s].region != NN_TARGET_REGION_ARENA) NN_TARGET__FAIL(NN_ERR_INVALID, "output in the weights region");
        }
        snprintf(where, sizeof where, "instr[%u].scratch_bytes", i);
        if (I->scratch_bytes > NN_MAX_TARGET_ARENA) NN_TARGET__FAIL(NN_ERR_LIMIT, "scratch above NN_MAX_TARGET_ARENA");
        if (I->op == NN_TARGET_OP_CPU) {
            snprintf(where, sizeof where, "instr[%u].node", i);
            if (I->node >= node_count || ids[I->node]) NN_TARGET__FAIL(NN_ERR_INVALID, "node %u of %u (or used twice)", I->node, node_count);
            ids[I->node] = 1;
            {
                const nn_op_def *def = p->node_defs[I->node];
                nn_node *n = &p->nodes[I->node];
                if ((int)I->in_count < def->min_inputs || (def->max_inputs >= 0 && (int)I->in_count > def->max_inputs) ||
                    (int)I->out_count < def->min_outputs || (def->max_outputs >= 0 && (int)I->out_count > def->max_outputs))
                    NN_TARGET__FAIL(NN_ERR_INVALID, "%u inputs / %u outputs for %s", I->in_count, I->out_count, n->op_type);
                /* Only optional inputs (past the op's minimum) may be omitted,
                   and the first output never: a kernel reads its required
                   inputs and writes output 0 without checking (found by
                   fuzz_nnb: a Sigmoid with both slots omitted). */
                for (k = 0; k < (int)I->in_count && k < def->min_inputs; k++)
                    if (p->operands[I->first_operand + (uint32_t)k] == NN_TARGET_NO_SLOT)
                        NN_TARGET__FAIL(NN_ERR_INVALID, "required input %d of %s omitted", k, n->op_type);
                if (p->operands[I->first_operand + I->in_count] == NN_TARGET_NO_SLOT)
                    NN_TARGET__FAIL(NN_ERR_INVALID, "output 0 of %s omitted", n->op_type);
                n->name = I->name;
                n->input_count = I->in_count;
                n->output_count = I->out_count;
                n->inputs = (nn_tensor_id *)nn_alloc(&a, ((size_t)I->in_count + 1) * sizeof *n->inputs);
                n->outputs = (nn_tensor_id *)nn_alloc(&a, ((size_t)I->out_count + 1) * sizeof *n->outputs);
                if (!n->inputs || !n->outputs) NN_TARGET__FAIL(NN_ERR_NOMEM, "out of memory");
                for (k = 0; k < (int)I->in_count; k++) n->inputs[k].id = p->operands[I->first_operand + (uint32_t)k];
                for (k = 0; k < (int)I->out_count; k++) n->outputs[k].id = p->operands[I->first_operand + I->in_count + (uint32_t)k];
            }
            need = I->scratch_bytes;
        } else {
            snprintf(where, sizeof where, "instr[%u].node", i);
            if (I->node != NN_TARGET_NO_SLOT) NN_TARGET__FAIL(NN_ERR_INVALID, "only cpu instructions name a node");
            if ((status = nn_target__check_int(p, i, &need, diag)) != NN_OK) goto fail;
            I->scratch_bytes = need;
        }
        if (need > max_scratch) max_scratch = need;
    }
    for (i = 0; i < node_count; i++) {
        snprintf(where, sizeof where, "node[%u]", i);
        if (!ids[i]) NN_TARGET__FAIL(NN_ERR_INVALID, "no instruction runs this node");
    }
    p->scratch_bytes = max_scratch > scratch ? max_scratch : scratch;
    if (p->scratch_bytes > NN_MAX_TARGET_ARENA) { snprintf(where, sizeof where, "header.scratch_bytes"); NN_TARGET__FAIL(NN_ERR_LIMIT, "scratch above NN_MAX_TARGET_ARENA"); }
    *out = p;
    return NN_OK;
fail:
    nn_target_program_destroy(p);
    return status;
}

#undef NN_TARGET__FAIL
#undef NN_TARGET__BAD

/* A batch program's inputs and outputs: first dim = its batch, the rest
   (and dtypes, counts) as the first program's. */
static nn_status nn_target__batch_check(const nn_target_program *p0, const nn_target_program *p, uint32_t k, nn_diag *diag) {
    char where[96];
    uint32_t i;
    int32_t r;
    snprintf(where, sizeof where, "program[%u].input_count", k);
    if (p->input_count != p0->input_count || p->output_count != p0->output_count || p->input_count + p->output_count == 0)
        return nn_diag_set(diag, NN_ERR_INVALID, where, "inputs and outputs differ from program 0's");
    for (i = 0; i < p->input_count + p->output_count; i++) {
        const nn_target_slot *s = &p->slots[i < p->input_count ? p->inputs[i] : p->outputs[i - p->input_count]];
        const nn_target_slot *s0 = &p0->slots[i < p->input_count ? p0->inputs[i] : p0->outputs[i - p->input_count]];
        int ok = s->shape.rank >= 1 && s->shape.rank == s0->shape.rank && s->dtype == s0->dtype &&
                 s->shape.dims[0] == (int64_t)p->batch && s0->shape.dims[0] == (int64_t)p0->batch;
        for (r = 1; ok && r < s->shape.rank; r++) ok = s->shape.dims[r] == s0->shape.dims[r];
        if (i < p->input_count) snprintf(where, sizeof where, "program[%u].input[%u]", k, i);
        else snprintf(where, sizeof where, "program[%u].output[%u]", k, i - p->input_count);
        if (!ok) return nn_diag_set(diag, NN_ERR_INVALID, where, "first dim must be the batch (%u), the rest as program 0's", p->batch);
    }
    return NN_OK;
}

NN_API nn_status nn_target_load_memory(const void *bytes, size_t size, const nn_target_load_desc *d,
                                       nn_target_program **out, nn_diag *diag) {
    const uint8_t *img = (const uint8_t *)bytes;
    nn_target_program *head = NULL, *last = NULL, *p = NULL;
    nn_allocator a;
    nn_status st = NN_OK;
    uint8_t *copy = NULL;
    uint32_t count, k, batch, prev_batch = 0;
    uint64_t woff, wbytes, end = 0, dir = 0, rec, tables;
    NN_ASSERT(out);
    memset(&a, 0, sizeof a);
    if (d) a = d->alloc;
    { const uint16_t one = 1; if (*(const uint8_t *)&one != 1) return nn_diag_set(diag, NN_ERR_UNSUPPORTED, "nn_target_load_memory", "big-endian hosts are not supported"); }
    if (!img || size < NN_TARGET__HDR) return nn_diag_set(diag, NN_ERR_PARSE, "header", "%zu bytes: shorter than the 128-byte header", size);
    if (memcmp(img, NN_TARGET__MAGIC, 8) != 0) return nn_diag_set(diag, NN_ERR_PARSE, "header.magic", "not an nnport model file");
    if (nn_target__r32(img + 8) != NN_TARGET__FILE_VERSION)
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, "header.version", "file version %u; this build reads %u (recompile the model)",
                           nn_target__r32(img + 8), NN_TARGET__FILE_VERSION);
    if (nn_target__r32(img + 12) != NN_TARGET__HDR) return nn_diag_set(diag, NN_ERR_INVALID, "header.header_bytes", "must be 128");
    if (nn_target__r64(img + 16) != size)
        return nn_diag_set(diag, NN_ERR_PARSE, "header.file_bytes", "file is %zu bytes, header says %llu (truncated or padded)", size,
                           (unsigned long long)nn_target__r64(img + 16));
    if (nn_target__image_crc(img, size) != nn_target__r32(img + 24))
        return nn_diag_set(diag, NN_ERR_PARSE, "header.crc32", "checksum mismatch: the file is damaged");
    woff = nn_target__r64(img + 80); wbytes = nn_target__r64(img + 88);
    if (woff % 64 || woff < NN_TARGET__HDR || woff > size || wbytes != size - woff)
        return nn_diag_set(diag, NN_ERR_INVALID, "header.weights_offset", "weights region [%llu, +%llu) is not 64-aligned after the tables and up to the end",
                           (unsigned long long)woff, (unsigned long long)wbytes);
    count = nn_target__r32(img + 116);
    if (count < 1 || count > NN_MAX_TARGET_PROGRAMS)
        return nn_diag_set(diag, NN_ERR_LIMIT, "header.program_count", "%u programs (1..%u)", count, (unsigned)NN_MAX_TARGET_PROGRAMS);
    if ((d && d->copy) || ((uintptr_t)(img + woff) % 8) != 0) { /* weights used in place need 8-byte alignment */
        uint8_t *c = (uint8_t *)nn_alloc(&a, size + 64);
        if (!c) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_load_memory", "out of memory");
        copy = c;
        c += (64 - (uintptr_t)c % 64) % 64;
        memcpy(c, img, size);
        img = c;
    }
    for (k = 0; k < count; k++) {
        char where[64];
        if (k == 0) { rec = 0; tables = NN_TARGET__HDR; batch = nn_target__r32(img + 120); }
        else {
            rec = dir + (uint64_t)(k - 1) * NN_TARGET__PROG_REC;
            tables = nn_target__r64(img + rec);
            batch = nn_target__r32(img + rec + 8);
            snprintf(where, sizeof where, "program[%u].tables_offset", k);
            if (tables % 8 || tables < end || tables > woff) { st = nn_diag_set(diag, NN_ERR_INVALID, where, "%llu: not 8-aligned after the previous tables", (unsigned long long)tables); break; }
        }
        snprintf(where, sizeof where, "program[%u].batch", k);
        if (batch > NN_MAX_TARGET_BATCH || (count > 1 && (batch <= prev_batch || (k == 0 && batch != 1))) || (count == 1 && batch > 1)) {
            st = nn_diag_set(diag, NN_ERR_INVALID, where, "batch %u: programs need batches 1 < b1 < b2 ... <= %u", batch, (unsigned)NN_MAX_TARGET_BATCH);
            break;
        }
        prev_batch = batch;
        if ((st = nn_target__load_one(img, size, rec, tables, woff, wbytes, a, &p, &end, diag)) != NN_OK) {
            if (k > 0) { /* name the program */
                char w2[sizeof diag->where];
                snprintf(w2, sizeof w2, "program[%u].%.160s", k, diag->where);
                memcpy(diag->where, w2, sizeof w2);
            }
            break;
        }
        p->image = img;
        p->image_bytes = size;
        p->batch = batch;
        if (!head) head = p;
        else last->next = p;
        last = p;
        p = NULL;
        if (batch && (st = nn_target__batch_check(head, last, k, diag)) != NN_OK) break;
        if (k == 0) {
            dir = (end + 7) / 8 * 8;
            end = dir + (uint64_t)(count - 1) * NN_TARGET__PROG_REC;
            if (end > woff) { st = nn_diag_set(diag, NN_ERR_INVALID, "header.program_count", "program records overlap the weights"); break; }
        }
    }
    if (st != NN_OK) {
        nn_target_program_destroy(head);
        nn_free(&a, copy);
        return st;
    }
    head->program_count = count;
    head->owned[0] = copy;
    *out = head;
    return NN_OK;
}

NN_API nn_status nn_target_save(const nn_target_program *p, nn_verify_write_fn write, void *user, nn_diag *diag) {
    NN_ASSERT(p && write);
    if (write(user, (const char *)p->image, p->image_bytes) != 0)
        return nn_diag_set(diag, NN_ERR_IO, "nn_target_save", "write failed");
    return NN_OK;
}

/* ---- the simulator ---- */

/* Kernel scratch of a CPU instruction: a bump allocator over the caller's
   memory, reset after each instruction.  In measuring mode (compile time)
   blocks come from the heap and their sizes are counted instead. */
typedef struct nn_target__bump {
    uint8_t *base;
    size_t cap, used, peak;
    const nn_allocator *heap;     /* measuring mode when set */
    void *blocks[256];
    uint32_t nblocks;
} nn_target__bump;

static void *nn_target__bump_alloc(void *user, size_t bytes) {
    nn_target__bump *b = (nn_target__bump *)user;
    size_t need = (bytes + 63) / 64 * 64;
    void *q;
    if (need < bytes) return NULL;
    if (b->heap) {
        if (b->nblocks == sizeof b->blocks / sizeof b->blocks[0] || !(q = nn_alloc(b->heap, bytes))) return NULL;
        b->blocks[b->nblocks++] = q;
    } else {
        if (need > b->cap - b->used) return NULL;
        q = b->base + b->used;
    }
    b->used += need;
    if (b->used > b->peak) b->peak = b->used;
    return q;
}

static void nn_target__bump_free(void *user, void *ptr) { (void)user; (void)ptr; }

static void nn_target__bump_reset(nn_target__bump *b) {
    uint32_t i;
    if (b->heap)
        for (i = 0; i < b->nblocks; i++) nn_free(b->heap, b->blocks[i]);
    b->nblocks = 0;
    b->used = 0;
}

static uint8_t *nn_target__ptr(const nn_target_program *p, uint8_t *arena, uint32_t slot) {
    const nn_target_slot *s = &p->slots[slot];
    return s->region == NN_TARGET_REGION_ARENA ? arena + s->offset : (uint8_t *)(uintptr_t)(p->weights + s->offset);
}

NN_API size_t nn_target_sim_scratch_bytes(const nn_target_program *p) {
    NN_ASSERT(p);
    return (size_t)((p->arena_bytes + 63) / 64 * 64 + p->scratch_bytes + 64);
}

/* Copy of src with the top bit flipped: uint8 -> int8 (v - 128), exact. */
static const int8_t *nn_target__flip(const uint8_t *src, size_t n, uint8_t **scratch) {
    int8_t *d = (int8_t *)*scratch;
    size_t i;
    for (i = 0; i < n; i++) d[i] = (int8_t)(src[i] ^ 0x80);
    *scratch += (n + 64) / 64 * 64;
    return d;
}

/* Broadcast copy of int8 src (shape s) to shape o, numpy rules. */
static const int8_t *nn_target__bcast(const int8_t *src, const nn_shape *s, const nn_shape *o, uint8_t **scratch) {
    int8_t *d = (int8_t *)*scratch;
    size_t n = nn_quant_broadcast_s8(src, s, o, d); /* a row at a time (memcpy / memset) */
    *scratch += (n + 64) / 64 * 64;
    return d;
}

/* An operand of a 16-bit element-wise, conv or gemm instruction as int16:
   itself, or an 8-bit one widened into scratch, minus zp (0: values kept;
   a conv's input zero point: |x - zp| <= 383 fits int16, and the conv
   then runs with zero point 0, the same sums). */
static const int16_t *nn_target__widen(const int8_t *v, const nn_target_slot *s, int32_t zp, uint8_t **scratch) {
    size_t i, n = (size_t)nn_target__count(s);
    int16_t *d = (int16_t *)(void *)*scratch;
    if (s->dtype == NN_DTYPE_INT16) return (const int16_t *)(const void *)v;
    for (i = 0; i < n; i++) d[i] = (int16_t)((s->dtype == NN_DTYPE_UINT8 ? (int32_t)((const uint8_t *)v)[i] : (int32_t)v[i]) - zp);
    *scratch += (2 * n + 64) / 64 * 64;
    return d;
}

/* The instruction's 8-bit output table over lo .. hi as hi - lo + 1
   bytes: in the weights, or expanded from its runs into *scratch. */
static const uint8_t *nn_target__dense8(const nn_target_program *p, const nn_target_instr *I, int32_t lo, int32_t hi,
                                        uint8_t **scratch) {
    const uint8_t *t = p->weights + I->table;
    uint8_t *d = *scratch;
    uint32_t R, r;
    if (!(I->flags & NN_TARGET_INSTR_RUNS)) return t;
    R = nn_target__r32(t); /* checked: 1 .. hi - lo + 1 runs, starts from lo increasing */
    for (r = 0; r < R; r++) {
        int32_t a = nn_target__r16s(t + 4 + 2 * r), b = r + 1 < R ? nn_target__r16s(t + 6 + 2 * r) : hi + 1;
        memset(d + (a - lo), t[4 + 2 * R + r], (size_t)(b - a));
    }
    *scratch += ((size_t)(hi - lo) + 1 + 64) / 64 * 64;
    return d;
}

/* y[e] = t[clamp(x[e], lo, hi) - lo] for n int16 (wide) or int8 values x:
   an 8-bit lut16, or a fused activation (p[22] .. p[23]). */
static void nn_target__table8(const uint8_t *t, int32_t lo, int32_t hi, const void *x, int wide, uint8_t *y, size_t n) {
    size_t e;
    for (e = 0; e < n; e++) {
        int32_t v = wide ? ((const int16_t *)x)[e] : ((const int8_t *)x)[e];
        y[e] = t[(v < lo ? lo : v > hi ? hi : v) - lo];
    }
}

static void nn_target__run_int(const nn_target_program *p, const nn_target_instr *I, uint8_t *arena, uint8_t *scratch) {
    const uint32_t *ops = p->operands + I->first_operand;
    const nn_target_slot *sa = &p->slots[ops[0]], *sy = &p->slots[ops[I->in_count]];
    const nn_target_slot *sb = I->in_count > 1 ? &p->slots[ops[1]] : NULL;
    const int8_t *a = (const int8_t *)nn_target__ptr(p, arena, ops[0]), *b = sb ? (const int8_t *)nn_target__ptr(p, arena, ops[1]) : NULL;
    int8_t *y = (int8_t *)nn_target__ptr(p, arena, ops[I->in_count]), *y8 = y; /* y8: a fused activation's output */
    size_t ny = (size_t)(sy->bytes / (sy->dtype == NN_DTYPE_INT16 ? 2 : 1)), e;
    const void *wb = p->weights;
    if (I->op == NN_TARGET_OP_YUV) { /* checked: frame (n, h*3/2, w), output (n, 3, h, w) */
        const int32_t *q = I->p;
        const uint8_t *t = p->weights + I->table, *x = (const uint8_t *)a;
        size_t hw = (size_t)q[1] * (size_t)q[2], bi, i, j, es = sy->dtype == NN_DTYPE_INT16 ? 2 : 1;
        uint8_t rgb[3];
        for (bi = 0; bi < (size_t)q[0]; bi++) {
            const uint8_t *Y = x + bi * hw / 2 * 3, *UV = Y + hw;
            uint8_t *o = (uint8_t *)y + bi * hw * 3 * es;
            for (i = 0; i < (size_t)q[1]; i++)
                for (j = 0; j < (size_t)q[2]; j++) {
                    const uint8_t *c = UV + i / 2 * (size_t)q[2] + j / 2 * 2; /* one U,V pair per 2x2 pixels */
                    int k;
                    nn_target_yuv_pixel(Y[i * (size_t)q[2] + j], c[q[3]], c[1 - q[3]], q[4], rgb);
                    for (k = 0; k < 3; k++) /* int16 entries: two little-endian bytes, copied as they are */
                        memcpy(o + ((size_t)k * hw + i * (size_t)q[2] + j) * es, t + ((size_t)k * 256 + rgb[q[5] ? 2 - k : k]) * es, es);
                }
        }
        (void)e; (void)ny;
        return;
    }
    if (I->op == NN_TARGET_OP_LUT8) { /* t is indexed by the raw byte r; nn_quant's int8 table by r ^ 0x80 */
        const uint8_t *t = p->weights + I->table;
        int8_t ts[256];
        for (e = 0; e < 256; e++) ts[e] = (int8_t)t[e ^ 0x80];
        nn_quant_lut_apply_s8(ts, a, y, ny); /* 64 bytes a step with AVX-512 VBMI; in place is fine */
        return;
    }
    if (I->op == NN_TARGET_OP_LUT16 && sy->dtype != NN_DTYPE_INT16) { /* int16 -> 8-bit: output bytes for p[0] .. p[1] */
        nn_target__table8(nn_target__dense8(p, I, I->p[0], I->p[1], &scratch), I->p[0], I->p[1], a, 1, (uint8_t *)y, ny);
        return;
    }
    if (I->op == NN_TARGET_OP_LUT16) {
        nn_quant_lut_apply_s16((const int16_t *)(const void *)(p->weights + I->table), (const int16_t *)(const void *)a,
                               (int16_t *)(void *)y, ny);
        return;
    }
    if ((I->op == NN_TARGET_OP_ADD || I->op == NN_TARGET_OP_SUB || I->op == NN_TARGET_OP_MUL) && sy->dtype == NN_DTYPE_INT16) {
        nn_quant_eltwise_params ep;
        const int16_t *a16 = nn_target__widen(a, sa, 0, &scratch), *b16 = nn_target__widen(b, sb, 0, &scratch);
        int16_t *y16 = (int16_t *)(void *)y;
        memcpy(&ep, I->p, sizeof ep);
        if (I->flags & NN_TARGET_INSTR_A_BCAST) {
            int16_t *d = (int16_t *)(void *)scratch;
            nn_quant_broadcast_s16(a16, &sa->shape, &sy->shape, d);
            scratch += (2 * ny + 64) / 64 * 64;
            a16 = d;
        }
        if (I->flags & NN_TARGET_INSTR_B_BCAST) {
            int16_t *d = (int16_t *)(void *)scratch;
            nn_quant_broadcast_s16(b16, &sb->shape, &sy->shape, d);
            b16 = d;
        }
        if (I->op == NN_TARGET_OP_ADD) nn_quant_add_s16(&ep, a16, b16, y16, ny);
        else if (I->op == NN_TARGET_OP_SUB) nn_quant_sub_s16(&ep, a16, b16, y16, ny);
        else nn_quant_mul_s16(&ep, a16, b16, y16, ny);
        return;
    }
    if (I->op == NN_TARGET_OP_AVGPOOL && sa->dtype == NN_DTYPE_INT16) {
        nn_quant_pool_params q;
        memcpy(&q, I->p, sizeof q);
        nn_quant_avgpool_s16(&q, (const int16_t *)(const void *)a, (const nn_quant_multiplier *)(const void *)(p->weights + I->mult),
                             (int16_t *)(void *)y);
        return;
    }
    if ((I->op == NN_TARGET_OP_CONV || I->op == NN_TARGET_OP_GEMM) && (sy->dtype == NN_DTYPE_INT16 || (I->flags & NN_TARGET_INSTR_ACT))) {
        /* the int16 output chooses the kernel (checked: an int16 input writes int16); an
           8-bit input (preact16) is widened; a fused activation takes the int16 result
           from scratch through its table (lut16's to 8 bits) to the 8-bit output */
        int act = (I->flags & NN_TARGET_INSTR_ACT) != 0;
        const int16_t *a16;
        if (act) {
            y = (int8_t *)scratch;
            scratch += (2 * ny + 64) / 64 * 64;
        }
        const int32_t *bias = I->bias == NN_TARGET_NO_OFFSET ? NULL : (const int32_t *)(const void *)(p->weights + I->bias);
        const nn_quant_multiplier *mult = (const nn_quant_multiplier *)(const void *)(p->weights + I->mult);
        if (I->op == NN_TARGET_OP_CONV) {
            nn_quant_conv_params c;
            memcpy(&c, I->p, sizeof c);
            if (sa->dtype != NN_DTYPE_INT16 && c.in_zp >= -128 && c.in_zp <= 255) {
                /* 8 bits (preact16): x - zp widened, the kernel at zero point 0 (any
                   8-bit zero point; another, possible only in a crafted file, stays
                   in the kernel) */
                a16 = nn_target__widen(a, sa, c.in_zp, &scratch);
                c.in_zp = 0;
            } else if (sa->dtype != NN_DTYPE_INT16) {
                a16 = nn_target__widen(a, sa, 0, &scratch);
            } else {
                a16 = (const int16_t *)(const void *)a;
            }
            nn_quant_conv_s16(&c, a16, (const int8_t *)wb + I->w, bias, mult, (int16_t *)(void *)y, scratch);
        } else {
            nn_quant_matmul_params m;
            a16 = nn_target__widen(a, sa, 0, &scratch);
            memcpy(&m, I->p, sizeof m);
            nn_quant_matmul_s16(&m, a16, (const int8_t *)wb + I->w, bias, mult, (int16_t *)(void *)y, scratch);
        }
        if (act) nn_target__table8(nn_target__dense8(p, I, I->p[22], I->p[23], &scratch), I->p[22], I->p[23], y, 1, (uint8_t *)y8, ny);
        return;
    }
    if (I->flags & NN_TARGET_INSTR_ACT8) { /* the kernel's int8 result in scratch; the table after the switch */
        y8 = y;
        y = (int8_t *)scratch;
        scratch += (ny + 64) / 64 * 64;
    }
    if (I->flags & NN_TARGET_INSTR_A_U8) a = nn_target__flip((const uint8_t *)a, (size_t)sa->bytes, &scratch);
    if (sb && (I->flags & NN_TARGET_INSTR_B_U8)) b = nn_target__flip((const uint8_t *)b, (size_t)sb->bytes, &scratch);
    switch (I->op) {
    case NN_TARGET_OP_CONV: {
        nn_quant_conv_params c;
        memcpy(&c, I->p, sizeof c);
        nn_quant_conv_s8(&c, a, (const int8_t *)wb + I->w,
                         I->bias == NN_TARGET_NO_OFFSET ? NULL : (const int32_t *)(const void *)(p->weights + I->bias),
                         (const nn_quant_multiplier *)(const void *)(p->weights + I->mult), y, scratch);
        break;
    }
    case NN_TARGET_OP_GEMM:
    case NN_TARGET_OP_MATMUL: {
        nn_quant_matmul_params m;
        size_t bi, batches = (size_t)I->p[20], bb = (size_t)I->p[21];
        memcpy(&m, I->p, sizeof m);
        for (bi = 0; bi < batches; bi++)
            nn_quant_matmul_s8(&m, a + bi * (size_t)m.m * m.k,
                               I->op == NN_TARGET_OP_GEMM ? (const int8_t *)wb + I->w : b + (bb > 1 ? bi : 0) * (size_t)m.k * m.n,
                               I->bias == NN_TARGET_NO_OFFSET ? NULL : (const int32_t *)(const void *)(p->weights + I->bias),
                               (const nn_quant_multiplier *)(const void *)(p->weights + I->mult), y + bi * (size_t)m.m * m.n,
                               scratch);
        break;
    }
    case NN_TARGET_OP_ADD:
    case NN_TARGET_OP_SUB:
    case NN_TARGET_OP_MUL: {
        nn_quant_eltwise_params ep;
        memcpy(&ep, I->p, sizeof ep);
        if (I->flags & NN_TARGET_INSTR_A_BCAST) a = nn_target__bcast(a, &sa->shape, &sy->shape, &scratch);
        if (I->flags & NN_TARGET_INSTR_B_BCAST) b = nn_target__bcast(b, &sb->shape, &sy->shape, &scratch);
        if (I->op == NN_TARGET_OP_ADD) nn_quant_add_s8(&ep, a, b, y, ny);
        else if (I->op == NN_TARGET_OP_SUB) nn_quant_sub_s8(&ep, a, b, y, ny);
        else nn_quant_mul_s8(&ep, a, b, y, ny);
        break;
    }
    case NN_TARGET_OP_AVGPOOL: {
        nn_quant_pool_params q;
        memcpy(&q, I->p, sizeof q);
        nn_quant_avgpool_s8(&q, a, (const nn_quant_multiplier *)(const void *)(p->weights + I->mult), y);
        break;
    }
    default: break;
    }
    if (I->flags & NN_TARGET_INSTR_Y_U8)
        for (e = 0; e < ny; e++) ((uint8_t *)y)[e] ^= 0x80;
    if (I->flags & NN_TARGET_INSTR_ACT8)
        nn_target__table8(nn_target__dense8(p, I, I->p[22], I->p[23], &scratch), I->p[22], I->p[23], y, 0, (uint8_t *)y8, ny);
}

static int nn_target__overlap(const uint8_t *a, uint64_t an, const uint8_t *b, uint64_t bn) {
    return an && bn && a < b + bn && b < a + an;
}

/* One float-island node through nn_graph.h's kernel: infer (which checks
   attributes and shapes), the outputs pointed at their slots, run. */
/* In a batch program (batch > 1) a float Gemm (transA 0) or MatMul whose
   A and Y carry the batch as first dim and whose other operands do not is
   run one sample at a time: nn_graph.h's float GEMM may sum a row in
   another order for M > 1 than for M = 1, and a batch program must give
   what the batch-1 program gives, bit for bit. */
static int nn_target__per_sample(const nn_target_program *p, const nn_node *n, const nn_value *in, uint32_t nin,
                                 const nn_value *out, uint32_t nout) {
    uint32_t i;
    if (p->batch < 2 || nout != 1 || nin < 2 || !in[0].data || !out[0].data) return 0;
    if (!nn_target__is(n, "Gemm") && !nn_target__is(n, "MatMul")) return 0;
    if (nn_target__is(n, "Gemm") && nn_node_attr_int(n, "transA", 0) != 0) return 0;
    if (in[0].shape.rank < 2 || in[0].shape.dims[0] != (int64_t)p->batch || out[0].shape.rank != in[0].shape.rank ||
        out[0].shape.dims[0] != (int64_t)p->batch || in[0].dtype != NN_DTYPE_FLOAT || out[0].dtype != NN_DTYPE_FLOAT)
        return 0;
    if (nn_target__is(n, "Gemm")) /* A (batch, K); C broadcast over the rows */
        return in[0].shape.rank == 2 && (nin < 3 || !in[2].data || in[2].shape.rank < 2 || in[2].shape.dims[0] == 1);
    for (i = 1; i < nin; i++) /* MatMul: B without a batch dim of its own */
        if (in[0].shape.rank > 2 && in[i].data && in[i].shape.rank == in[0].shape.rank && in[i].shape.dims[0] != 1) return 0;
    return 1;
}

/* Runs the kernel once per sample on first-dim slices of A and Y. */
static nn_status nn_target__run_rows(const nn_target_program *p, const nn_op_def *def, nn_op_ctx *c, const nn_value *in,
                                     uint32_t nin, nn_value *out) {
    nn_value ri[NN_TARGET__MAX_IO], ro[1];
    size_t ab = in[0].bytes / p->batch, yb = out[0].bytes / p->batch;
    uint32_t r, i;
    nn_status st = NN_OK;
    for (r = 0; r < p->batch && st == NN_OK; r++) {
        for (i = 0; i < nin; i++) ri[i] = in[i];
        ri[0].shape.dims[0] = 1;
        ri[0].data = (uint8_t *)in[0].data + r * ab;
        ri[0].bytes = ab;
        memset(ro, 0, sizeof ro);
        st = def->infer(c, ri, nin, ro, 1);
        if (st == NN_OK && (ro[0].dtype != out[0].dtype || nn_shape_count(&ro[0].shape, NULL) * 4 != yb))
            st = nn_diag_set(c->diag, NN_ERR_INVALID, c->node->name, "per-sample shape differs");
        if (st) break;
        ro[0].data = (uint8_t *)out[0].data + r * yb;
        ro[0].bytes = yb;
        ro[0].flags = 0;
        st = def->run(c, ri, nin, ro, 1);
    }
    return st;
}

/* 1 when n's nn_graph.h kernel writes every element of an output of 8 or
   more bits (the element-wise kernels, Transpose, Softmax): the simulator
   then skips zeroing it first (5% of the GPT's and ViT-Ti's run). */
static int nn_target__writes_all(const nn_node *n, nn_dtype t) {
    return nn_dtype_bits(t) >= 8 && (nn_target__is_elementwise(n) || nn_target__is(n, "Transpose") || nn_target__is(n, "Softmax"));
}

static nn_status nn_target__run_cpu(const nn_target_program *p, const nn_target_instr *I, uint8_t *arena,
                                    nn_target__bump *bump, nn_diag *diag) {
    const nn_op_def *def = p->node_defs[I->node];
    const uint32_t *ops = p->operands + I->first_operand;
    nn_value in[NN_TARGET__MAX_IO], out[NN_TARGET__MAX_IO];
    nn_allocator al;
    nn_op_ctx c;
    nn_status st;
    uint32_t i, j;
    if (I->flags & NN_TARGET_INSTR_VIEW) return NN_OK; /* output bytes are the input's */
    al.alloc = nn_target__bump_alloc;
    al.free = nn_target__bump_free;
    al.user = bump;
    memset(&c, 0, sizeof c);
    c.node = &p->nodes[I->node];
    c.opset = p->node_opsets[I->node];
    c.diag = diag;
    c.alloc = &al;
    for (i = 0; i < I->in_count; i++) {
        memset(&in[i], 0, sizeof in[i]);
        if (ops[i] == NN_TARGET_NO_SLOT) continue;
        in[i] = nn_value_make(p->slots[ops[i]].dtype, p->slots[ops[i]].shape, nn_target__ptr(p, arena, ops[i]));
        in[i].bytes = (size_t)p->slots[ops[i]].bytes;
        /* An input sharing bytes with an output: an element-wise op starting
           on the same byte streams over it in place (the planner's in-place
           rule); any other overlap (Concat inputs planned as slices of its
           output, or a damaged file) is read from a copy in scratch. */
        for (j = 0; j < I->out_count; j++) {
            uint32_t s = ops[I->in_count + j];
            const uint8_t *o;
            if (s == NN_TARGET_NO_SLOT || p->slots[s].region != NN_TARGET_REGION_ARENA) continue;
            o = nn_target__ptr(p, arena, s);
            if (!nn_target__overlap((const uint8_t *)in[i].data, in[i].bytes, o, p->slots[s].bytes)) continue;
            if (nn_target__is_elementwise(c.node) && o == (const uint8_t *)in[i].data && p->slots[s].bytes <= in[i].bytes) continue;
            {
                void *cp = nn_target__bump_alloc(bump, in[i].bytes);
                if (!cp) { nn_target__bump_reset(bump); return nn_diag_set(diag, NN_ERR_NOMEM, I->name, "scratch too small"); }
                memcpy(cp, in[i].data, in[i].bytes);
                in[i].data = cp;
            }
            break;
        }
    }
    memset(out, 0, sizeof out[0] * I->out_count);
    st = def->infer(&c, in, I->in_count, out, I->out_count);
    for (j = 0; j < I->out_count && st == NN_OK; j++) {
        uint32_t s = ops[I->in_count + j];
        const nn_target_slot *sl;
        int same = 1;
        int32_t r;
        if (s == NN_TARGET_NO_SLOT) { /* an omitted output the kernel may still write */
            if (!out[j].data && nn_shape_is_static(&out[j].shape) && out[j].dtype != NN_DTYPE_UNDEFINED)
                st = nn_op_alloc_value(&c, &out[j]);
            continue;
        }
        sl = &p->slots[s];
        if (out[j].dtype != sl->dtype || out[j].shape.rank != sl->shape.rank) same = 0;
        for (r = 0; same && r < sl->shape.rank; r++) same = out[j].shape.dims[r] == sl->shape.dims[r];
        if (!same) {
            st = nn_diag_set(diag, NN_ERR_INVALID, I->name, "output %u: the kernel infers another dtype or shape than the program's", j);
            break;
        }
        out[j].data = nn_target__ptr(p, arena, s);
        out[j].bytes = (size_t)sl->bytes;
        out[j].flags = 0;
        if (nn_target__writes_all(c.node, sl->dtype)) continue;
        for (i = 0; i < I->in_count; i++) /* a fresh output starts zeroed, as the executors allocate it */
            if (in[i].data && nn_target__overlap((const uint8_t *)in[i].data, in[i].bytes, (const uint8_t *)out[j].data, sl->bytes)) break;
        if (i == I->in_count) memset(out[j].data, 0, (size_t)sl->bytes);
    }
    if (st == NN_OK && nn_target__per_sample(p, c.node, in, I->in_count, out, I->out_count))
        st = nn_target__run_rows(p, def, &c, in, I->in_count, out);
    else if (st == NN_OK) st = def->run(&c, in, I->in_count, out, I->out_count);
    c.scratch = NULL;
    nn_target__bump_reset(bump);
    return st;
}

/* Runs p in mem.  peaks (instr_count) non-NULL: measuring mode, CPU
   scratch from the heap with each instruction's peak recorded. */
static nn_status nn_target__sim(const nn_target_program *p, uint8_t *mem, const nn_value *inputs, nn_value *outputs,
                                uint64_t *peaks, nn_diag *diag) {
    uint8_t *arena = mem, *scratch = mem + (p->arena_bytes + 63) / 64 * 64;
    nn_target__bump bump;
    uint32_t i;
    memset(&bump, 0, sizeof bump);
    bump.base = scratch;
    bump.cap = (size_t)p->scratch_bytes;
    if (peaks) bump.heap = &p->alloc;
    for (i = 0; i < p->input_count; i++) {
        const nn_target_slot *s = &p->slots[p->inputs[i]];
        const nn_value *v = &inputs[i];
        int32_t r;
        int ok = v->dtype == s->dtype && v->shape.rank == s->shape.rank && v->data;
        for (r = 0; ok && r < s->shape.rank; r++) ok = v->shape.dims[r] == s->shape.dims[r];
        if (!ok)
            return nn_diag_set(diag, NN_ERR_ARG, s->name, "input %u must be %s with the program's shape", i, nn_dtype_name(s->dtype));
        memcpy(arena + s->offset, v->data, (size_t)s->bytes);
    }
    for (i = 0; i < p->instr_count; i++) {
        const nn_target_instr *I = &p->instrs[i];
        if (I->op == NN_TARGET_OP_CPU) {
            nn_status st;
            bump.peak = 0;
            st = nn_target__run_cpu(p, I, arena, &bump, diag);
            if (peaks) peaks[i] = bump.peak;
            if (st) {
                if (!bump.heap && st == NN_ERR_NOMEM) nn_diag_set(diag, st, I->name, "scratch too small");
                return st;
            }
        } else {
            nn_target__run_int(p, I, arena, scratch);
        }
    }
    for (i = 0; outputs && i < p->output_count; i++) {
        const nn_target_slot *s = &p->slots[p->outputs[i]];
        outputs[i] = nn_value_make(s->dtype, s->shape, arena + s->offset);
        outputs[i].bytes = (size_t)s->bytes;
    }
    return NN_OK;
}

NN_API nn_status nn_target_sim_run(const nn_target_program *p, void *mem, size_t mem_bytes, const nn_value *inputs,
                                   nn_value *outputs, nn_diag *diag) {
    NN_ASSERT(p);
    if (!mem || ((uintptr_t)mem % 16) != 0 || mem_bytes < nn_target_sim_scratch_bytes(p))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_sim_run", "memory must be 16-byte aligned and %zu bytes (got %zu)",
                           nn_target_sim_scratch_bytes(p), mem_bytes);
    if (p->input_count && !inputs) return nn_diag_set(diag, NN_ERR_ARG, "nn_target_sim_run", "inputs missing");
    return nn_target__sim(p, (uint8_t *)mem, inputs, outputs, NULL, diag);
}

/* BT.601, exactly (docs/TARGET.md, "NV12 input").  Full range (JFIF /
   ITU-T T.871): R = Y + 1.402 (V-128), G = Y - 0.344136 (U-128)
   - 0.714136 (V-128), B = Y + 1.772 (U-128).  Limited range (BT.601
   studio swing, Y 16..235, U/V 16..240): Y - 16 scaled by 255/219 and the
   chroma terms by 255/224.  The coefficients are decimal, so every value
   is an integer over a common denominator D (full: 10^6; limited:
   219 x 224 x 10^6 = 49,056,000,000): the int64 numerator plus D/2 is
   floor-divided by D (the float formula rounded half up, ties included,
   with no coefficient error) and clamped to 0..255.  |numerator| < 2^45. */
/* The decimal BT.601 coefficients x 10^6: R from V, G from U, G from V, B
   from U (also written into the C export's nn_yuv, so the two agree). */
enum { NN_TARGET__YUV_CR = 1402000, NN_TARGET__YUV_CGU = 344136, NN_TARGET__YUV_CGV = 714136, NN_TARGET__YUV_CB = 1772000 };

NN_API void nn_target_yuv_pixel(int32_t y, int32_t u, int32_t v, int limited, uint8_t rgb[3]) {
    const int64_t CR = NN_TARGET__YUV_CR, CGU = NN_TARGET__YUV_CGU, CGV = NN_TARGET__YUV_CGV, CB = NN_TARGET__YUV_CB;
    const int64_t M = 1000000;
    int64_t ky = limited ? 255 * 224 * M : M, kc = limited ? 255 * 219 : 1, den = limited ? 219 * 224 * M : M;
    int64_t yy = (int64_t)(y - (limited ? 16 : 0)) * ky, du = u - 128, dv = v - 128, s[3];
    int c;
    s[0] = yy + kc * CR * dv;
    s[1] = yy - kc * (CGU * du + CGV * dv);
    s[2] = yy + kc * CB * du;
    for (c = 0; c < 3; c++) {
        int64_t t = s[c] + den / 2;
        rgb[c] = (uint8_t)(t < 0 ? 0 : t >= 256 * den ? 255 : t / den);
    }
}

/* d asks for a YUV420SP input (NV12 or NV21). */
static nn_status nn_target__yuv_format(const nn_target_compile_desc *d, nn_diag *diag) {
    if (!d || (d->input_format != NN_TARGET_INPUT_NV12 && d->input_format != NN_TARGET_INPUT_NV21))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_compile_desc.input_format", "not NV12 or NV21");
    return NN_OK;
}

/* Checks a YUV420SP frame value against d; *n, *h, *w are the planes'. */
static nn_status nn_target__yuv_dims(const nn_target_compile_desc *d, const nn_value *frame, int64_t *n, int64_t *h,
                                     int64_t *w, nn_diag *diag) {
    nn_status st = nn_target__yuv_format(d, diag);
    if (st) return st;
    if (frame->dtype != NN_DTYPE_UINT8 || frame->shape.rank != 3 || frame->shape.dims[1] % 3 || frame->shape.dims[2] % 2 ||
        frame->shape.dims[1] < 3 || frame->shape.dims[2] < 2 || frame->shape.dims[0] < 1 || frame->shape.dims[0] > (1 << 20) ||
        frame->shape.dims[1] > (3 << 20) || frame->shape.dims[2] > (1 << 20))
        return nn_diag_set(diag, NN_ERR_ARG, "frame", "needs uint8 (N, H*3/2, W) with H and W even");
    *n = frame->shape.dims[0];
    *h = frame->shape.dims[1] / 3 * 2;
    *w = frame->shape.dims[2];
    if (*h % 2) return nn_diag_set(diag, NN_ERR_ARG, "frame", "needs uint8 (N, H*3/2, W) with H and W even");
    return NN_OK;
}

NN_API nn_status nn_target_yuv_decode(const nn_target_compile_desc *d, const nn_value *frame, nn_value *planes,
                                      nn_diag *diag) {
    int64_t n, h, w, b, i, j, dims[4];
    int c;
    nn_status st;
    NN_ASSERT(frame && planes);
    if ((st = nn_target__yuv_dims(d, frame, &n, &h, &w, diag)) != NN_OK) return st;
    if (!frame->data || frame->bytes < (size_t)(n * h / 2 * 3 * w))
        return nn_diag_set(diag, NN_ERR_ARG, "frame", "holds fewer than N*H*3/2*W bytes");
    if (!planes->data || planes->bytes / sizeof(float) < (size_t)(n * 3 * h * w))
        return nn_diag_set(diag, NN_ERR_ARG, "planes", "needs room for N*3*H*W floats");
    for (b = 0; b < n; b++) {
        const uint8_t *Y = (const uint8_t *)frame->data + b * (h / 2 * 3) * w, *UV = Y + h * w;
        float *o = (float *)planes->data + b * 3 * h * w;
        for (i = 0; i < h; i++)
            for (j = 0; j < w; j++) {
                const uint8_t *pair = UV + (i / 2) * w + (j / 2) * 2;
                int first_u = d->input_format == NN_TARGET_INPUT_NV12;
                uint8_t rgb[3];
                nn_target_yuv_pixel(Y[i * w + j], pair[first_u ? 0 : 1], pair[first_u ? 1 : 0], d->input_limited != 0, rgb);
                for (c = 0; c < 3; c++) {
                    float m = d->input_mean[c], k = d->input_scale[c] != 0.0f ? d->input_scale[c] : 1.0f;
                    o[(c * h + i) * w + j] = ((float)rgb[d->input_bgr ? 2 - c : c] - m) * k;
                }
            }
    }
    dims[0] = n; dims[1] = 3; dims[2] = h; dims[3] = w;
    planes->dtype = NN_DTYPE_FLOAT;
    planes->shape = nn_shape_make(4, dims);
    return NN_OK;
}

NN_API nn_status nn_target_yuv_encode(const nn_target_compile_desc *d, const nn_value *planes, nn_value *frame,
                                      nn_diag *diag) {
    /* JFIF (ITU-T T.871) forward coefficients; rows Y, U, V over R, G, B */
    static const double K[3][3] = {{0.299, 0.587, 0.114}, {-0.168736, -0.331264, 0.5}, {0.5, -0.418688, -0.081312}};
    int64_t n, h, w, b, i, j, dims[3];
    int c, r;
    nn_status st;
    NN_ASSERT(planes && frame);
    if ((st = nn_target__yuv_format(d, diag)) != NN_OK) return st;
    if (planes->dtype != NN_DTYPE_FLOAT || planes->shape.rank != 4 || planes->shape.dims[1] != 3 || planes->shape.dims[2] % 2 ||
        planes->shape.dims[3] % 2 || planes->shape.dims[2] < 2 || planes->shape.dims[3] < 2 || planes->shape.dims[0] < 1 ||
        planes->shape.dims[0] > (1 << 20) || planes->shape.dims[2] > (1 << 20) || planes->shape.dims[3] > (1 << 20) || !planes->data)
        return nn_diag_set(diag, NN_ERR_ARG, "planes", "needs float (N, 3, H, W) with H and W even");
    n = planes->shape.dims[0];
    h = planes->shape.dims[2];
    w = planes->shape.dims[3];
    if (!frame->data || frame->bytes < (size_t)(n * h / 2 * 3 * w))
        return nn_diag_set(diag, NN_ERR_ARG, "frame", "needs room for N*H*3/2*W bytes");
    for (b = 0; b < n; b++) {
        const float *x = (const float *)planes->data + b * 3 * h * w;
        uint8_t *Y = (uint8_t *)frame->data + b * (h / 2 * 3) * w, *UV = Y + h * w;
        for (i = 0; i < h; i += 2)
            for (j = 0; j < w; j += 2) {
                double mean[3] = {0, 0, 0}, v;
                int di, dj;
                for (di = 0; di < 2; di++)
                    for (dj = 0; dj < 2; dj++) {
                        double rgb[3];
                        for (c = 0; c < 3; c++) { /* model plane c holds R, G, B or B, G, R */
                            float k = d->input_scale[c] != 0.0f ? d->input_scale[c] : 1.0f;
                            double p = floor((double)x[(c * h + i + di) * w + j + dj] / k + d->input_mean[c] + 0.5);
                            rgb[d->input_bgr ? 2 - c : c] = p > 255 ? 255 : p >= 0 ? p : 0; /* NaN: 0 */
                        }
                        v = K[0][0] * rgb[0] + K[0][1] * rgb[1] + K[0][2] * rgb[2];
                        if (d->input_limited) v = 16 + v * 219.0 / 255.0;
                        Y[(i + di) * w + j + dj] = (uint8_t)floor(v + 0.5);
                        for (c = 0; c < 3; c++) mean[c] += rgb[c] / 4;
                    }
                for (r = 1; r < 3; r++) {
                    v = K[r][0] * mean[0] + K[r][1] * mean[1] + K[r][2] * mean[2];
                    if (d->input_limited) v = v * 224.0 / 255.0;
                    v = floor(128 + v + 0.5);
                    UV[(i / 2) * w + j + ((r == 1) == (d->input_format == NN_TARGET_INPUT_NV12) ? 0 : 1)] =
                        (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
    }
    dims[0] = n; dims[1] = h / 2 * 3; dims[2] = w;
    frame->dtype = NN_DTYPE_UINT8;
    frame->shape = nn_shape_make(3, dims);
    return NN_OK;
}

NN_API size_t nn_target_batch_scratch_bytes(const nn_target_program *p) {
    size_t m = 0;
    NN_ASSERT(p);
    for (; p; p = p->next)
        if (nn_target_sim_scratch_bytes(p) > m) m = nn_target_sim_scratch_bytes(p);
    return m;
}

NN_API nn_status nn_target_sim_run_batch(const nn_target_program *p, void *mem, size_t mem_bytes, uint64_t n,
                                         const nn_value *inputs, nn_value *outputs, nn_diag *diag) {
    nn_value ins[NN_TARGET__MAX_IO], outs[NN_TARGET__MAX_IO];
    uint64_t done = 0;
    uint32_t i;
    int32_t r;
    NN_ASSERT(p);
    if (p->batch != 1)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_sim_run_batch", "not a multi-batch program (compile with batch sizes)");
    if (!mem || ((uintptr_t)mem % 16) != 0 || mem_bytes < nn_target_batch_scratch_bytes(p))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_sim_run_batch", "memory must be 16-byte aligned and %zu bytes (got %zu)",
                           nn_target_batch_scratch_bytes(p), mem_bytes);
    if (n < 1 || n > NN_MAX_TARGET_ARENA) return nn_diag_set(diag, NN_ERR_ARG, "nn_target_sim_run_batch", "batch %llu", (unsigned long long)n);
    if (p->input_count > NN_TARGET__MAX_IO || p->output_count > NN_TARGET__MAX_IO || (p->input_count && !inputs) || !outputs)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_sim_run_batch", "inputs or outputs missing (or more than 64)");
    for (i = 0; i < p->input_count + p->output_count; i++) {
        const nn_target_slot *s = &p->slots[i < p->input_count ? p->inputs[i] : p->outputs[i - p->input_count]];
        if (s->bytes && n > (~(uint64_t)0 >> 1) / s->bytes) return nn_diag_set(diag, NN_ERR_ARG, s->name, "batch too large");
        if (i < p->input_count) {
            const nn_value *v = &inputs[i];
            int ok = v->data && v->dtype == s->dtype && v->shape.rank == s->shape.rank && (uint64_t)v->shape.dims[0] == n &&
                     (uint64_t)v->bytes >= n * s->bytes;
            for (r = 1; ok && r < s->shape.rank; r++) ok = v->shape.dims[r] == s->shape.dims[r];
            if (!ok)
                return nn_diag_set(diag, NN_ERR_ARG, s->name, "input %u must be %s with the program's shape, first dim %llu", i,
                                   nn_dtype_name(s->dtype), (unsigned long long)n);
        } else if (!outputs[i - p->input_count].data || (uint64_t)outputs[i - p->input_count].bytes < n * s->bytes)
            return nn_diag_set(diag, NN_ERR_ARG, s->name, "output %u needs %llu bytes of caller memory", i - p->input_count,
                               (unsigned long long)(n * s->bytes));
    }
    while (done < n) {
        const nn_target_program *q = p;
        nn_status st;
        while (q->next && q->next->batch <= n - done) q = q->next; /* the largest that fits */
        for (i = 0; i < q->input_count; i++) {
            const nn_target_slot *s = &q->slots[q->inputs[i]];
            ins[i] = nn_value_make(s->dtype, s->shape, (uint8_t *)inputs[i].data + done * p->slots[p->inputs[i]].bytes);
            ins[i].bytes = (size_t)s->bytes;
        }
        if ((st = nn_target__sim(q, (uint8_t *)mem, ins, outs, NULL, diag))) return st;
        for (i = 0; i < q->output_count; i++)
            memcpy((uint8_t *)outputs[i].data + done * p->slots[p->outputs[i]].bytes, outs[i].data, (size_t)q->slots[q->outputs[i]].bytes);
        done += q->batch;
    }
    for (i = 0; i < p->output_count; i++) {
        const nn_target_slot *s = &p->slots[p->outputs[i]];
        nn_shape sh = s->shape;
        sh.dims[0] = (int64_t)n;
        outputs[i].dtype = s->dtype;
        outputs[i].shape = sh;
        outputs[i].bytes = (size_t)(n * s->bytes);
    }
    return NN_OK;
}

/* ---- the lowering ---- */

typedef struct nn_target__low {
    const nn_graph *g;            /* the QDQ graph */
    nn_qexec *x;
    nn_allocator a;
    nn_graph *L;                  /* one node per instruction */
    uint32_t *lt;                 /* (g tensors) tensor of L, or NN_TARGET__NONE */
    nn_value *fv;                 /* (g tensors) values folded at compile time */
    int32_t *src;                 /* (L nodes) group index, or -1 - node index of a float node */
    int32_t *fuse;                /* (L nodes) the table group (lut16 or lut8) fused into a conv / gemm node, or -1 */
    uint8_t *fused;               /* (groups) 1: lowered inside its producer's node */
    const nn_target_desc *td;     /* NULL: no activation is fused (keep_act) */
    nn_shape *shape;              /* (g tensors) shapes and dtypes propagated so far, */
    nn_dtype *dtype;              /* valid where known[] is set */
    uint8_t *known;
    uint32_t folded;
    uint32_t yuv_node;            /* L's node of the yuv instruction (NN_TARGET__NONE: none) */
    int32_t yuv_p[6];             /* its parameters: n h w vu limited bgr */
    uint8_t yuv_table[3 * 256 * 2]; /* per model plane: 8-bit color value -> quantized value (int8/uint8, or int16 little-endian) */
    size_t yuv_table_bytes;         /* 768, or 1536 for an int16 input */
} nn_target__low;

/* The shape g's tensor q has at run time: folded value, propagated, or declared. */
static const nn_shape *nn_target__shape(const nn_target__low *lo, uint32_t q) {
    if (lo->fv[q].data) return &lo->fv[q].shape;
    if (lo->known[q]) return &lo->shape[q];
    return &lo->g->tensors[q].shape;
}

/* The value an infer function sees for q: data for constants and folded
   values, shape and dtype only for activations. */
static nn_value nn_target__infer_value(const nn_target__low *lo, uint32_t q) {
    const nn_tensor *t = &lo->g->tensors[q];
    nn_value v;
    if (lo->fv[q].data) { v = lo->fv[q]; v.flags = 0; return v; }
    if ((t->flags & NN_TENSOR_CONST) && t->data) {
        v = nn_value_make(t->dtype, t->shape, t->data);
        v.bytes = t->data_bytes;
        return v;
    }
    return nn_value_make(lo->known[q] ? lo->dtype[q] : t->dtype, *nn_target__shape(lo, q), NULL);
}

/* L's tensor for g's tensor q (made on first use; constants and folded
   values carry their data). */
static nn_status nn_target__lt(nn_target__low *lo, uint32_t q, nn_tensor_id *out, nn_diag *diag) {
    const nn_tensor *t = &lo->g->tensors[q];
    if (lo->lt[q] == NN_TARGET__NONE) {
        nn_tensor_id id;
        const nn_value *f = &lo->fv[q];
        nn_status st;
        nn_shape sh = *nn_target__shape(lo, q);
        nn_dtype dt = f->data ? f->dtype : lo->known[q] ? lo->dtype[q] : t->dtype;
        if (!nn_shape_is_static(&sh)) return nn_diag_set(diag, NN_ERR_SHAPE, t->name, "no static shape (fix the inputs' shapes)");
        st = nn_graph_add_tensor(lo->L, t->name, dt, &sh, &id, diag);
        if (st == NN_OK && f->data) st = nn_graph_set_data(lo->L, id, f->data, f->bytes, 1, diag);
        else if (st == NN_OK && (t->flags & NN_TENSOR_CONST) && t->data) st = nn_graph_set_data(lo->L, id, t->data, t->data_bytes, 1, diag);
        if (st) return st;
        lo->lt[q] = id.id;
    }
    out->id = lo->lt[q];
    return NN_OK;
}

/* A new constant of L (a group's prepared weights). */
static nn_status nn_target__lconst(nn_target__low *lo, const char *base, const char *suffix, nn_dtype dt, nn_shape sh,
                                   const void *data, size_t bytes, nn_tensor_id *out, nn_diag *diag) {
    char name[256];
    nn_status st;
    snprintf(name, sizeof name, "%s::%s", base, suffix);
    if ((st = nn_graph_add_tensor(lo->L, name, dt, &sh, out, diag))) return st;
    return nn_graph_set_data(lo->L, *out, data, bytes, 1, diag);
}

static int nn_target__known(const nn_target__low *lo, nn_tensor_id t) {
    const nn_tensor *tt;
    if (t.id == NN_INVALID_ID) return 1;
    tt = &lo->g->tensors[t.id];
    return lo->fv[t.id].data != NULL || ((tt->flags & NN_TENSOR_CONST) && tt->data);
}

/* Evaluates a float node whose inputs are all constants, with the
   reference kernel (the values nn_qexec would compute at every run). */
static nn_status nn_target__fold(nn_target__low *lo, const nn_node *n, nn_diag *diag) {
    const nn_graph *g = lo->g;
    const nn_op_def *def = nn_op_find(n->op_type, n->domain, nn_quant__node_opset(g, n));
    nn_value in[NN_TARGET__MAX_IO], out[NN_TARGET__MAX_IO];
    nn_op_ctx c;
    nn_status st;
    uint32_t i;
    if (!def) return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "op %s has no kernel", n->op_type);
    if (n->input_count > NN_TARGET__MAX_IO || n->output_count > NN_TARGET__MAX_IO)
        return nn_diag_set(diag, NN_ERR_LIMIT, n->name, "more than 64 inputs or outputs");
    memset(&c, 0, sizeof c);
    c.graph = g;
    c.node = n;
    c.opset = nn_quant__node_opset(g, n);
    c.diag = diag;
    c.alloc = &lo->a;
    for (i = 0; i < n->input_count; i++) {
        nn_tensor_id t = n->inputs[i];
        memset(&in[i], 0, sizeof in[i]);
        if (t.id == NN_INVALID_ID) continue;
        in[i] = nn_target__infer_value(lo, t.id);
    }
    memset(out, 0, sizeof out[0] * n->output_count);
    st = def->infer(&c, in, n->input_count, out, n->output_count);
    for (i = 0; i < n->output_count && st == NN_OK; i++)
        if (!out[i].data && nn_shape_is_static(&out[i].shape) && out[i].dtype != NN_DTYPE_UNDEFINED) st = nn_op_alloc_value(&c, &out[i]);
    if (st == NN_OK) st = def->run(&c, in, n->input_count, out, n->output_count);
    nn_qexec__scratch_free(&c);
    for (i = 0; i < n->output_count; i++) {
        if (st == NN_OK && n->outputs[i].id != NN_INVALID_ID && out[i].data) lo->fv[n->outputs[i].id] = out[i];
        else nn_op_free_value(&c, &out[i]);
    }
    if (st == NN_OK) lo->folded++;
    return st;
}

/* Runs the float op's infer on the virtual values in[0..n) (as nn_qexec's
   run does) and records group gr's output: that shape, the group's dtype. */
static nn_status nn_target__infer_output(nn_target__low *lo, const nn_qexec__group *gr, const nn_op_def *def,
                                         const nn_value *in, uint32_t n, nn_diag *diag) {
    const nn_node *k = &lo->g->nodes[gr->op_node];
    nn_value out;
    nn_op_ctx c;
    nn_status st;
    memset(&out, 0, sizeof out);
    memset(&c, 0, sizeof c);
    c.graph = lo->g; c.node = k; c.opset = nn_quant__node_opset(lo->g, k); c.diag = diag; c.alloc = &lo->a;
    st = def->infer(&c, in, n, &out, 1);
    nn_qexec__scratch_free(&c);
    if (out.data) nn_op_free_value(&c, &out);
    if (st) return st;
    lo->shape[gr->y.id] = out.shape;
    lo->dtype[gr->y.id] = gr->ydtype;
    lo->known[gr->y.id] = 1;
    return NN_OK;
}

/* The group a conv / gemm group gi fuses with (docs/TARGET.md, "Fused
   activations"), or -1: gi writes a tensor that one table group to 8 bits
   reads and nothing else (no graph output): int16 from the 16-bit kernel
   and a lut16, or 8 bits from the 8-bit kernel and a lut8; and the target
   runs the conv, the activation and the dtypes on the NPU.  The pair is
   one instruction whose intermediate result stays in scratch. */
static int32_t nn_target__fused_act(const nn_target__low *lo, uint32_t gi) {
    const nn_qexec__group *gr = &lo->x->groups[gi];
    const nn_target_desc *td = lo->td;
    uint32_t s;
    int wide = gr->ydtype == NN_DTYPE_INT16;
    if ((gr->kind != NN_QX__CONV && gr->kind != NN_QX__GEMM) || !td || (!wide && gr->wide) ||
        (!wide && gr->ydtype != NN_DTYPE_INT8 && gr->ydtype != NN_DTYPE_UINT8) ||
        lo->x->uses[gr->y.id] != 1 || (lo->g->tensors[gr->y.id].flags & NN_TENSOR_OUTPUT) ||
        !(td->dtypes & (1u << gr->ydtype)) || !nn_target_supports_op(td, lo->g->nodes[gr->op_node].op_type))
        return -1;
    for (s = 0; s < lo->x->step_count; s++) {
        int32_t j = lo->x->steps[s].group;
        const nn_qexec__group *gl;
        if (j < 0) continue;
        gl = &lo->x->groups[j];
        if (gl->kind != NN_QX__LUT || gl->a.t.id != gr->y.id) continue;
        if (!gl->lut16 != !wide || gl->ydtype == NN_DTYPE_INT16 || !(td->dtypes & (1u << gl->ydtype)) ||
            !nn_target_supports_op(td, lo->g->nodes[gl->op_node].op_type))
            return -1;
        return j;
    }
    return -1;
}

/* Adds L's node for integer group gi. */
static nn_status nn_target__lower_group(nn_target__low *lo, uint32_t gi, nn_diag *diag) {
    const nn_qexec__group *gr = &lo->x->groups[gi];
    const nn_graph *g = lo->g;
    const nn_node *k = &g->nodes[gr->op_node];
    const char *yname = g->tensors[gr->y.id].name;
    int32_t fj = nn_target__fused_act(lo, gi);
    nn_tensor_id ins[3], y, yt = fj >= 0 ? lo->x->groups[fj].y : gr->y;
    nn_node_id nid;
    uint32_t nin = 1, i;
    const char *op = k->op_type;
    nn_status st;
    {   /* the output shape, from the float op's infer on virtual values */
        const nn_op_def *def = nn_op_find(k->op_type, k->domain, nn_quant__node_opset(g, k));
        nn_value vin[3];
        memset(vin, 0, sizeof vin);
        if (!def) return nn_diag_set(diag, NN_ERR_UNSUPPORTED, k->name, "op %s has no kernel", k->op_type);
        for (i = 0; i < k->input_count && i < 3; i++) {
            nn_tensor_id t = k->inputs[i];
            if (t.id == NN_INVALID_ID) continue;
            if (i == 0) vin[0] = nn_value_make(NN_DTYPE_FLOAT, *nn_target__shape(lo, gr->a.t.id), NULL);
            else if (i == 1) vin[1] = nn_value_make(NN_DTYPE_FLOAT, gr->kind == NN_QX__CONV || gr->kind == NN_QX__GEMM
                                                                      ? g->tensors[gr->b.t.id].shape : *nn_target__shape(lo, gr->b.t.id), NULL);
            else vin[2] = nn_value_make(NN_DTYPE_FLOAT, g->tensors[t.id].shape, NULL);
            if (gr->kind == NN_QX__LUT && i > 0) vin[i] = nn_target__infer_value(lo, t.id); /* Clip bounds */
        }
        if ((st = nn_target__infer_output(lo, gr, def, vin, k->input_count < 3 ? k->input_count : 3, diag))) return st;
    }
    if (fj >= 0) { /* the node writes the activation's 8-bit output, of the conv's shape */
        lo->shape[yt.id] = lo->shape[gr->y.id];
        lo->dtype[yt.id] = lo->x->groups[fj].ydtype;
        lo->known[yt.id] = 1;
    }
    if ((st = nn_target__lt(lo, gr->a.t.id, &ins[0], diag)) || (st = nn_target__lt(lo, yt.id, &y, diag))) return st;
    switch (gr->kind) {
    case NN_QX__CONV: {
        const nn_tensor *wt = &g->tensors[gr->b.t.id];
        int64_t m = wt->shape.dims[0];
        if ((st = nn_target__lconst(lo, yname, "w", NN_DTYPE_INT8, wt->shape, gr->w, wt->data_bytes, &ins[1], diag))) return st;
        nin = 2;
        if (gr->bias) {
            if ((st = nn_target__lconst(lo, yname, "bias", NN_DTYPE_INT32, nn_shape_make(1, &m), gr->bias, (size_t)m * 4, &ins[2], diag)))
                return st;
            nin = 3;
        }
        op = "Conv";
        break;
    }
    case NN_QX__GEMM: {
        int64_t kn[2];
        kn[0] = gr->wk; kn[1] = gr->wn;
        if ((st = nn_target__lconst(lo, yname, "w", NN_DTYPE_INT8, nn_shape_make(2, kn), gr->w, (size_t)gr->wk * gr->wn, &ins[1], diag)))
            return st;
        nin = 2;
        op = "MatMul";
        break;
    }
    case NN_QX__MATMUL: case NN_QX__ADD: case NN_QX__SUB: case NN_QX__MUL:
        if ((st = nn_target__lt(lo, gr->b.t.id, &ins[1], diag))) return st;
        nin = 2;
        op = gr->kind == NN_QX__MATMUL ? "MatMul" : gr->kind == NN_QX__ADD ? "Add" : gr->kind == NN_QX__SUB ? "Sub" : "Mul";
        break;
    case NN_QX__POOL: case NN_QX__LUT: break;
    default: return nn_diag_set(diag, NN_ERR_UNSUPPORTED, k->name, "integer group kind %d is not lowered", gr->kind);
    }
    if ((st = nn_graph_add_node(lo->L, op, "", k->name, ins, nin, &y, 1, &nid, diag))) return st;
    if (gr->kind == NN_QX__CONV || gr->kind == NN_QX__POOL)
        for (i = 0; i < k->attr_count; i++)
            if ((st = nn_graph_add_attr(lo->L, nid, &k->attrs[i], 0, diag))) return st;
    lo->src[nid.id] = (int32_t)gi;
    lo->fuse[nid.id] = fj;
    if (fj >= 0) lo->fused[fj] = 1;
    return NN_OK;
}

/* A data-movement group (nn_qexec's NN_QX__MOVE): L gets the op itself on
   the integer tensors (input 0 the DequantizeLinear's input, the output
   the QuantizeLinear's), run as a CPU instruction of the op's node. */
static nn_status nn_target__lower_move(nn_target__low *lo, uint32_t gi, nn_diag *diag) {
    const nn_qexec__group *gr = &lo->x->groups[gi];
    const nn_node *k = &lo->g->nodes[gr->op_node];
    const nn_op_def *def = nn_op_find(k->op_type, k->domain, nn_quant__node_opset(lo->g, k));
    nn_tensor_id ins[8], y;
    nn_value in[8];
    nn_node_id nid;
    uint32_t i;
    nn_status st;
    if (!def) return nn_diag_set(diag, NN_ERR_UNSUPPORTED, k->name, "op %s has no kernel", k->op_type);
    if (k->input_count > 8) return nn_diag_set(diag, NN_ERR_LIMIT, k->name, "too many inputs");
    for (i = 0; i < k->input_count; i++) {
        memset(&in[i], 0, sizeof in[i]);
        if (k->inputs[i].id != NN_INVALID_ID) in[i] = nn_target__infer_value(lo, i ? k->inputs[i].id : gr->a.t.id);
    }
    if ((st = nn_target__infer_output(lo, gr, def, in, k->input_count, diag))) return st;
    for (i = 0; i < k->input_count; i++) {
        ins[i].id = NN_INVALID_ID;
        if (k->inputs[i].id != NN_INVALID_ID && (st = nn_target__lt(lo, i ? k->inputs[i].id : gr->a.t.id, &ins[i], diag))) return st;
    }
    if ((st = nn_target__lt(lo, gr->y.id, &y, diag))) return st;
    if ((st = nn_graph_add_node(lo->L, k->op_type, k->domain, k->name, ins, k->input_count, &y, 1, &nid, diag))) return st;
    for (i = 0; i < k->attr_count; i++)
        if ((st = nn_graph_add_attr(lo->L, nid, &k->attrs[i], 0, diag))) return st;
    lo->src[nid.id] = -1 - (int32_t)gr->op_node;
    return NN_OK;
}

/* Adds L's node for float node ni (or folds it). */
static nn_status nn_target__lower_float(nn_target__low *lo, uint32_t ni, nn_diag *diag) {
    const nn_node *n = &lo->g->nodes[ni];
    nn_tensor_id ins[NN_TARGET__MAX_IO], outs[NN_TARGET__MAX_IO];
    nn_node_id nid;
    uint32_t i;
    int all = 1;
    nn_status st;
    if (n->input_count > NN_TARGET__MAX_IO || n->output_count > NN_TARGET__MAX_IO)
        return nn_diag_set(diag, NN_ERR_LIMIT, n->name, "more than 64 inputs or outputs");
    for (i = 0; i < n->input_count; i++) all &= nn_target__known(lo, n->inputs[i]);
    if (all && nn_target__dq_packed(lo->g, n)) all = 0;
    if (all) return nn_target__fold(lo, n, diag);
    {   /* output shapes; an op whose infer computes every output (Shape of a static tensor) is folded */
        const nn_op_def *def = nn_op_find(n->op_type, n->domain, nn_quant__node_opset(lo->g, n));
        nn_value in[NN_TARGET__MAX_IO], out[NN_TARGET__MAX_IO];
        nn_op_ctx c;
        int computed = 1;
        if (!def) return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "op %s has no kernel", n->op_type);
        memset(&c, 0, sizeof c);
        c.graph = lo->g; c.node = n; c.opset = nn_quant__node_opset(lo->g, n); c.diag = diag; c.alloc = &lo->a;
        for (i = 0; i < n->input_count; i++) {
            memset(&in[i], 0, sizeof in[i]);
            if (n->inputs[i].id != NN_INVALID_ID) in[i] = nn_target__infer_value(lo, n->inputs[i].id);
        }
        memset(out, 0, sizeof out[0] * n->output_count);
        st = def->infer(&c, in, n->input_count, out, n->output_count);
        nn_qexec__scratch_free(&c);
        for (i = 0; i < n->output_count; i++) {
            uint32_t o = n->outputs[i].id;
            if (!out[i].data) computed = 0;
            if (st == NN_OK && o != NN_INVALID_ID) {
                lo->shape[o] = out[i].shape;
                lo->dtype[o] = out[i].dtype;
                lo->known[o] = 1;
            }
        }
        if (st == NN_OK && computed && n->output_count && !(def->flags & NN_OPF_NONDETERMINISTIC)) {
            for (i = 0; i < n->output_count; i++)
                if (n->outputs[i].id != NN_INVALID_ID) lo->fv[n->outputs[i].id] = out[i];
                else nn_op_free_value(&c, &out[i]);
            lo->folded++;
            return NN_OK;
        }
        for (i = 0; i < n->output_count; i++) nn_op_free_value(&c, &out[i]);
        if (st) return st;
    }
    for (i = 0; i < n->input_count; i++) {
        ins[i].id = NN_INVALID_ID;
        if (n->inputs[i].id != NN_INVALID_ID && (st = nn_target__lt(lo, n->inputs[i].id, &ins[i], diag))) return st;
    }
    for (i = 0; i < n->output_count; i++) {
        outs[i].id = NN_INVALID_ID;
        if (n->outputs[i].id != NN_INVALID_ID && (st = nn_target__lt(lo, n->outputs[i].id, &outs[i], diag))) return st;
    }
    if ((st = nn_graph_add_node(lo->L, n->op_type, n->domain, n->name, ins, n->input_count, outs, n->output_count, &nid, diag)))
        return st;
    for (i = 0; i < n->attr_count; i++)
        if ((st = nn_graph_add_attr(lo->L, nid, &n->attrs[i], 0, diag))) return st;
    lo->src[nid.id] = -1 - (int32_t)ni;
    return NN_OK;
}

/* Graph input 0 as a YUV420SP frame: its QuantizeLinear (node ni, the
   input's only reader, per-tensor) becomes a yuv instruction that converts
   (BT.601, nn_target_yuv_pixel) and quantizes through a table per plane:
   table[c][v] = saturate(round_half_even((v - mean[c]) * scale[c] / s) + zp),
   evaluated in float32 the way QuantizeLinear evaluates x / s. */
static nn_status nn_target__lower_yuv(nn_target__low *lo, uint32_t ni, const nn_target_compile_desc *d, nn_diag *diag) {
    const nn_graph *g = lo->g;
    const nn_node *n = &g->nodes[ni];
    uint32_t q0 = g->inputs[0].id, qo = n->outputs[0].id, c, v;
    nn_value sv, zv;
    nn_shape in = lo->shape[q0], fr;
    nn_dtype yd = NN_DTYPE_UINT8;
    nn_tensor_id ti, to;
    nn_node_id nid;
    float s;
    int32_t zp = 0, lo8, hi8;
    nn_status st;
    memset(&zv, 0, sizeof zv);
    if (n->input_count < 2 || n->inputs[1].id == NN_INVALID_ID || !nn_target__known(lo, n->inputs[1]) ||
        (n->input_count > 2 && n->inputs[2].id != NN_INVALID_ID && !nn_target__known(lo, n->inputs[2])))
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "NV12 input: the input's QuantizeLinear needs constant scale and zero point");
    sv = nn_target__infer_value(lo, n->inputs[1].id);
    if (n->input_count > 2 && n->inputs[2].id != NN_INVALID_ID) zv = nn_target__infer_value(lo, n->inputs[2].id);
    if (sv.dtype != NN_DTYPE_FLOAT || nn_value_count(&sv) != 1 || !sv.data ||
        (zv.data && (nn_value_count(&zv) != 1 ||
                     (zv.dtype != NN_DTYPE_UINT8 && zv.dtype != NN_DTYPE_INT8 && zv.dtype != NN_DTYPE_INT16))))
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name,
                           "NV12 input: needs a per-tensor float scale and an int8, uint8 or int16 zero point");
    s = *(const float *)sv.data;
    if (zv.data) {
        yd = zv.dtype;
        zp = yd == NN_DTYPE_UINT8 ? *(const uint8_t *)zv.data
           : yd == NN_DTYPE_INT16 ? *(const int16_t *)zv.data
                                  : *(const int8_t *)zv.data;
    }
    if (!(s > 0) || !isfinite(s)) return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name, "NV12 input: scale must be positive");
    if (in.rank != 4 || in.dims[1] != 3 || in.dims[2] % 2 || in.dims[3] % 2 || in.dims[2] < 2 || in.dims[3] < 2 ||
        in.dims[2] > (1 << 20) || in.dims[3] > (1 << 20) || in.dims[0] > (1 << 20))
        return nn_diag_set(diag, NN_ERR_SHAPE, g->tensors[q0].name, "NV12 input: needs (N, 3, H, W) with H and W even");
    lo8 = yd == NN_DTYPE_UINT8 ? 0 : yd == NN_DTYPE_INT16 ? -32768 : -128;
    hi8 = yd == NN_DTYPE_UINT8 ? 255 : yd == NN_DTYPE_INT16 ? 32767 : 127;
    lo->yuv_table_bytes = yd == NN_DTYPE_INT16 ? 3 * 256 * 2 : 3 * 256;
    for (c = 0; c < 3; c++) {
        float m = d->input_mean[c], k = d->input_scale[c] != 0.0f ? d->input_scale[c] : 1.0f;
        for (v = 0; v < 256; v++) {
            float x = ((float)v - m) * k;
            double r = nearbyint((double)(x / s)) + zp; /* round half to even (default rounding mode) */
            int32_t q = r < lo8 ? lo8 : r > hi8 ? hi8 : (int32_t)r;
            if (yd == NN_DTYPE_INT16) { /* little-endian, as every multi-byte value of the format */
                lo->yuv_table[(c * 256 + v) * 2] = (uint8_t)(q & 0xFF);
                lo->yuv_table[(c * 256 + v) * 2 + 1] = (uint8_t)((q >> 8) & 0xFF);
            } else {
                lo->yuv_table[c * 256 + v] = (uint8_t)(q & 0xFF);
            }
        }
    }
    lo->yuv_p[0] = (int32_t)in.dims[0]; lo->yuv_p[1] = (int32_t)in.dims[2]; lo->yuv_p[2] = (int32_t)in.dims[3];
    lo->yuv_p[3] = d->input_format == NN_TARGET_INPUT_NV21; lo->yuv_p[4] = d->input_limited ? 1 : 0; lo->yuv_p[5] = d->input_bgr ? 1 : 0;
    lo->shape[qo] = in;
    lo->dtype[qo] = yd;
    lo->known[qo] = 1;
    fr = in;
    fr.rank = 3;
    fr.dims[1] = in.dims[2] / 2 * 3;
    fr.dims[2] = in.dims[3];
    fr.dims[3] = 0;
    lo->shape[q0] = fr;
    lo->dtype[q0] = NN_DTYPE_UINT8;
    if ((st = nn_target__lt(lo, q0, &ti, diag)) || (st = nn_target__lt(lo, qo, &to, diag))) return st;
    if ((st = nn_graph_add_node(lo->L, "YuvToRgb", "ai.nnport", n->name, &ti, 1, &to, 1, &nid, diag))) return st;
    lo->src[nid.id] = INT32_MIN;
    lo->yuv_node = nid.id;
    return NN_OK;
}

static int32_t nn_target__ints_at(const nn_node *n, const char *name, uint32_t i, int32_t def) {
    const nn_attr *at = nn_node_attr(n, name);
    return at && at->type == NN_ATTR_INTS && i < at->count ? (int32_t)at->ints[i] : def;
}

/* An 8-bit output table of n bytes t8 for the inputs first .. first +
   n - 1 into I: the runs of one value at either end cut (the input is
   clamped to the rest: an activation saturates or goes flat), the input
   range kept in p[pi] .. p[pi + 1], the bytes in I->table as runs
   (NN_TARGET_INSTR_RUNS: u32 R, R int16 starts, R bytes) when that is
   shorter, else as they are.  An activation's 8-bit output changes at
   most a few hundred times over the 65536 int16 inputs: runs make its
   table a few hundred bytes to 1.5 KiB, not up to 64 KiB. */
static void nn_target__put_table8(nn_target__low *lo, nn_target__bld *b, const uint8_t *t8, int32_t first, uint32_t n,
                                  nn_target_instr *I, int pi) {
    uint32_t R = 1, i, r = 0, s0 = 0, s1 = n - 1;
    uint8_t *rb;
    while (s0 < n - 1 && t8[s0 + 1] == t8[s0]) s0++;
    while (s1 > s0 && t8[s1 - 1] == t8[s1]) s1--;
    I->p[pi] = first + (int32_t)s0;
    I->p[pi + 1] = first + (int32_t)s1;
    t8 += s0;
    first += (int32_t)s0;
    n = s1 - s0 + 1;
    for (i = 1; i < n; i++) R += t8[i] != t8[i - 1];
    if (4 + 3 * (uint64_t)R >= n) { I->table = nn_target__wput(b, t8, n); return; }
    rb = (uint8_t *)nn_alloc(&lo->a, 4 + 3 * (size_t)R);
    if (!rb) { b->nomem = 1; return; }
    nn_target__w32(rb, R);
    for (i = 0; i < n; i++)
        if (i == 0 || t8[i] != t8[i - 1]) {
            uint16_t v = (uint16_t)(int16_t)(first + (int32_t)i);
            rb[4 + 2 * r] = (uint8_t)(v & 0xff);
            rb[5 + 2 * r] = (uint8_t)(v >> 8);
            rb[4 + 2 * R + r] = t8[i];
            r++;
        }
    I->table = nn_target__wput(b, rb, 4 + 3 * (size_t)R);
    I->flags |= NN_TARGET_INSTR_RUNS;
    nn_free(&lo->a, rb);
}

/* An int16 -> 8-bit table (lut16's, or a fused activation's) into I:
   the entries' low bytes over the int16 inputs, through put_table8. */
static void nn_target__lut_bytes(nn_target__low *lo, nn_target__bld *b, const nn_qexec__group *gr, nn_target_instr *I, int pi) {
    uint8_t *t8 = (uint8_t *)nn_alloc(&lo->a, 65536);
    uint32_t r;
    if (!t8) { b->nomem = 1; return; }
    for (r = 0; r < 65536; r++) t8[r] = (uint8_t)(gr->lut16[r] & 0xff);
    nn_target__put_table8(lo, b, t8, -32768, 65536, I, pi);
    nn_free(&lo->a, t8);
}

/* A fused activation after the 8-bit kernel (NN_TARGET_INSTR_ACT8): the
   lut8 group gl's raw output byte for each int8 result v of conv group gr
   (its stored byte: v, or v + 128 for a uint8 output), through
   put_table8 into p[22] .. p[23]. */
static void nn_target__lut8_bytes(nn_target__low *lo, nn_target__bld *b, const nn_qexec__group *gr, const nn_qexec__group *gl,
                                  nn_target_instr *I) {
    uint8_t t8[256];
    int32_t v;
    for (v = -128; v < 128; v++) t8[v + 128] = gl->lut8[(uint8_t)(gr->ydtype == NN_DTYPE_UINT8 ? v + 128 : v)];
    nn_target__put_table8(lo, b, t8, -128, 256, I, 22);
}

/* The instruction of group gr: the parameters nn_qexec's run computes,
   from the static shapes.  Operands are filled by the caller. */
static void nn_target__group_instr(nn_target__low *lo, nn_target__bld *b, const nn_qexec__group *gr, nn_target_instr *I) {
    const nn_graph *g = lo->g;
    const nn_node *k = &g->nodes[gr->op_node];
    const nn_shape *as = nn_target__shape(lo, gr->a.t.id), *ys = nn_target__shape(lo, gr->y.id);
    /* 16-bit groups take 8-bit operands as they are (widened, not flipped) */
    int au8 = !gr->wide && gr->a.dtype == NN_DTYPE_UINT8, bu8 = !gr->wide && gr->b.dtype == NN_DTYPE_UINT8,
        yu8 = gr->ydtype == NN_DTYPE_UINT8;
    int32_t za = gr->a.zp - (au8 ? 128 : 0), zb = gr->b.zp - (bu8 ? 128 : 0);
    int32_t zy = gr->zy - (yu8 ? 128 : 0), lo8 = gr->act_lo - (yu8 ? 128 : 0), hi8 = gr->act_hi - (yu8 ? 128 : 0);
    int two = NN_QX__TWO(gr->kind);
    I->name = k->name;
    I->in_count = two ? 2 : 1;
    if (gr->kind != NN_QX__LUT) I->flags |= (au8 ? NN_TARGET_INSTR_A_U8 : 0) | (yu8 ? NN_TARGET_INSTR_Y_U8 : 0) |
                                             (two && bu8 ? NN_TARGET_INSTR_B_U8 : 0);
    switch (gr->kind) {
    case NN_QX__CONV: {
        nn_quant_conv_params p;
        memset(&p, 0, sizeof p);
        nn_qexec__conv_params(k, as, &g->tensors[gr->b.t.id].shape, ys, &p);
        p.in_zp = za; p.out_zp = zy; p.act_min = lo8; p.act_max = hi8;
        I->op = NN_TARGET_OP_CONV;
        memcpy(I->p, &p, sizeof p);
        I->w = nn_target__wput(b, gr->w, g->tensors[gr->b.t.id].data_bytes);
        I->bias = gr->bias ? nn_target__wput(b, gr->bias, (size_t)gr->nmult * 4) : NN_TARGET_NO_OFFSET;
        I->mult = nn_target__wput(b, gr->mult, (size_t)gr->nmult * sizeof *gr->mult);
        I->mult_count = (uint32_t)gr->nmult;
        break;
    }
    case NN_QX__GEMM:
    case NN_QX__MATMUL: {
        nn_quant_matmul_params p;
        int32_t batches = 1, bb = 1, r;
        memset(&p, 0, sizeof p);
        p.a_zp = za; p.out_zp = zy; p.act_min = lo8; p.act_max = hi8;
        p.mult_count = gr->nmult;
        if (gr->kind == NN_QX__GEMM) {
            size_t cnt = nn_shape_count(as, NULL);
            p.k = gr->wk; p.n = gr->wn;
            p.m = (int32_t)(cnt / (size_t)(p.k ? p.k : 1));
            I->op = NN_TARGET_OP_GEMM;
            I->w = nn_target__wput(b, gr->w, (size_t)gr->wk * gr->wn);
            I->bias = gr->bias ? nn_target__wput(b, gr->bias, (size_t)gr->nmult * 4) : NN_TARGET_NO_OFFSET;
        } else {
            const nn_shape *bs = nn_target__shape(lo, gr->b.t.id);
            p.m = (int32_t)as->dims[as->rank - 2]; p.k = (int32_t)as->dims[as->rank - 1]; p.n = (int32_t)bs->dims[bs->rank - 1];
            p.b_zp = zb;
            for (r = 0; r < as->rank - 2; r++) batches *= (int32_t)as->dims[r];
            for (r = 0; r < bs->rank - 2; r++) bb *= (int32_t)bs->dims[r];
            I->op = NN_TARGET_OP_MATMUL;
            I->w = NN_TARGET_NO_OFFSET;
            I->bias = NN_TARGET_NO_OFFSET;
        }
        memcpy(I->p, &p, sizeof p);
        I->p[20] = batches;
        I->p[21] = bb;
        I->mult = nn_target__wput(b, gr->mult, (size_t)gr->nmult * sizeof *gr->mult);
        I->mult_count = (uint32_t)gr->nmult;
        break;
    }
    case NN_QX__ADD:
    case NN_QX__SUB:
    case NN_QX__MUL: {
        nn_quant_eltwise_params p;
        const nn_shape *bs = nn_target__shape(lo, gr->b.t.id);
        size_t n = nn_shape_count(ys, NULL);
        if (gr->wide) nn_quant_eltwise_params_make_s16(&p, gr->kind == NN_QX__MUL, gr->a.scale[0], za, gr->b.scale[0], zb, gr->sy, zy);
        else nn_quant_eltwise_params_make(&p, gr->kind == NN_QX__MUL, gr->a.scale[0], za, gr->b.scale[0], zb, gr->sy, zy);
        p.act_min = lo8; p.act_max = hi8;
        if (nn_shape_count(as, NULL) != n || as->rank != ys->rank) I->flags |= NN_TARGET_INSTR_A_BCAST;
        if (nn_shape_count(bs, NULL) != n || bs->rank != ys->rank) I->flags |= NN_TARGET_INSTR_B_BCAST;
        I->op = gr->kind == NN_QX__ADD ? NN_TARGET_OP_ADD : gr->kind == NN_QX__SUB ? NN_TARGET_OP_SUB : NN_TARGET_OP_MUL;
        memcpy(I->p, &p, sizeof p);
        break;
    }
    case NN_QX__POOL: {
        nn_quant_pool_params p;
        nn_quant_multiplier mc;
        int32_t cnt;
        int global = !strcmp(k->op_type, "GlobalAveragePool");
        memset(&p, 0, sizeof p);
        p.n = (int32_t)as->dims[0]; p.c = (int32_t)as->dims[1]; p.h = (int32_t)as->dims[2]; p.w = (int32_t)as->dims[3];
        p.oh = (int32_t)ys->dims[2]; p.ow = (int32_t)ys->dims[3];
        p.kh = global ? p.h : nn_target__ints_at(k, "kernel_shape", 0, 1);
        p.kw = global ? p.w : nn_target__ints_at(k, "kernel_shape", 1, 1);
        p.stride_h = global ? 1 : nn_target__ints_at(k, "strides", 0, 1);
        p.stride_w = global ? 1 : nn_target__ints_at(k, "strides", 1, 1);
        p.pad_top = global ? 0 : nn_target__ints_at(k, "pads", 0, 0);
        p.pad_left = global ? 0 : nn_target__ints_at(k, "pads", 1, 0);
        p.count_include_pad = (int32_t)nn_node_attr_int(k, "count_include_pad", 0);
        p.in_zp = za; p.out_zp = zy; p.act_min = lo8; p.act_max = hi8;
        I->op = NN_TARGET_OP_AVGPOOL;
        memcpy(I->p, &p, sizeof p);
        {   /* by tap count; built whole so that an equal array is shared */
            nn_quant_multiplier *ms = (nn_quant_multiplier *)nn_alloc(&lo->a, ((size_t)p.kh * p.kw + 1) * sizeof *ms);
            if (!ms) { b->nomem = 1; break; }
            ms[0] = nn_quant_multiplier_make(0);
            for (cnt = 1; cnt <= p.kh * p.kw; cnt++)
                ms[cnt] = nn_quant_multiplier_make(gr->a.scale[0] / (gr->sy * cnt)); /* as nn_qexec computes it */
            I->mult = nn_target__wput(b, ms, ((size_t)p.kh * p.kw + 1) * sizeof *ms);
            nn_free(&lo->a, ms);
            (void)mc;
        }
        I->mult_count = (uint32_t)(p.kh * p.kw + 1);
        break;
    }
    case NN_QX__LUT:
        if (gr->lut16 && gr->ydtype != NN_DTYPE_INT16) {
            I->op = NN_TARGET_OP_LUT16;
            nn_target__lut_bytes(lo, b, gr, I, 0);
        } else if (gr->lut16) {
            I->op = NN_TARGET_OP_LUT16;
            I->table = nn_target__wput(b, gr->lut16, 65536 * sizeof(int16_t));
        } else {
            I->op = NN_TARGET_OP_LUT8;
            I->table = nn_target__wput(b, gr->lut8, 256);
        }
        break;
    default: break;
    }
}

/* Builds the records of the program from L and its memory plan. */
static nn_status nn_target__build(nn_target__low *lo, const nn_target_desc *td, const nn_target_memory_plan *mp,
                                  nn_target__bld *b, nn_diag *diag) {
    const nn_graph *L = lo->L;
    uint32_t *sl = NULL, *buf = NULL, i, j, s, v;
    nn_status st = NN_OK;
    uint8_t w4[4];
    sl = (uint32_t *)nn_alloc(&lo->a, ((size_t)L->tensor_count + 1) * sizeof *sl);
    buf = (uint32_t *)nn_alloc(&lo->a, ((size_t)L->tensor_count + 1) * sizeof *buf);
    if (!sl || !buf) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_compile", "out of memory"); goto done; }
    for (i = 0; i < L->tensor_count; i++) sl[i] = buf[i] = NN_TARGET__NONE;
    for (i = 0; i < mp->buffer_count; i++) buf[mp->buffers[i].tensor.id] = i;
#define NN_TARGET__SLOT(tid, out)                                                                                       \
    do {                                                                                                                \
        uint32_t t_ = (tid);                                                                                            \
        if (sl[t_] == NN_TARGET__NONE) {                                                                                \
            const nn_tensor *tt_ = &L->tensors[t_];                                                                     \
            size_t by_ = 0; /* int4/uint4 constants: packed, two per byte */                                      \
            int p4_ = nn_dtype_bits(tt_->dtype) == 4 && (tt_->flags & NN_TENSOR_CONST) && tt_->data;                    \
            if ((nn_dtype_size(tt_->dtype) == 0 && !p4_) ||                                                             \
                !nn_dtype_bytes_for(tt_->dtype, nn_shape_count(&tt_->shape, NULL), &by_)) {                             \
                st = nn_diag_set(diag, NN_ERR_UNSUPPORTED, tt_->name, "%s tensors cannot be stored", nn_dtype_name(tt_->dtype)); \
                goto done;                                                                                              \
            }                                                                                                           \
            if ((tt_->flags & NN_TENSOR_CONST) && tt_->data)                                                            \
                sl[t_] = nn_target__slot_put(b, tt_->name, tt_->dtype, &tt_->shape, NN_TARGET_REGION_WEIGHTS,           \
                                             nn_target__wput(b, tt_->data, tt_->data_bytes), by_);                      \
            else if (buf[t_] != NN_TARGET__NONE)                                                                        \
                sl[t_] = nn_target__slot_put(b, tt_->name, tt_->dtype, &tt_->shape, NN_TARGET_REGION_ARENA,             \
                                             mp->buffers[buf[t_]].offset, by_);                                         \
            else { st = nn_diag_set(diag, NN_ERR_INVALID, tt_->name, "no storage planned for this tensor"); goto done; } \
        }                                                                                                               \
        (out) = sl[t_];                                                                                                 \
    } while (0)
    for (s = 0; s < mp->step_count; s++) {
        uint32_t ni = mp->order[s];
        const nn_node *ln = &L->nodes[ni];
        nn_target_instr I;
        memset(&I, 0, sizeof I);
        I.first_operand = b->operand_count;
        I.node = NN_TARGET_NO_SLOT;
        I.w = I.bias = I.mult = I.table = NN_TARGET_NO_OFFSET;
        I.out_count = 1;
        if (ni == lo->yuv_node) {
            I.op = NN_TARGET_OP_YUV;
            I.name = ln->name;
            I.in_count = 1;
            memcpy(I.p, lo->yuv_p, sizeof lo->yuv_p);
            I.table = nn_target__wput(b, lo->yuv_table, lo->yuv_table_bytes);
            NN_TARGET__SLOT(ln->inputs[0].id, v);
            nn_target__w32(w4, v);
            nn_target__put(b, &b->operands, w4, 4);
            NN_TARGET__SLOT(ln->outputs[0].id, v);
            nn_target__w32(w4, v);
            nn_target__put(b, &b->operands, w4, 4);
            b->operand_count += 2;
        } else if (lo->src[ni] >= 0) {
            const nn_qexec__group *gr = &lo->x->groups[lo->src[ni]];
            nn_target__group_instr(lo, b, gr, &I);
            if (lo->fuse[ni] >= 0 && gr->ydtype == NN_DTYPE_INT16) { /* the activation after it: output bytes of the int16 result */
                nn_target__lut_bytes(lo, b, &lo->x->groups[lo->fuse[ni]], &I, 22);
                I.flags |= NN_TARGET_INSTR_ACT;
            } else if (lo->fuse[ni] >= 0) { /* of the 8-bit kernel's int8 result */
                nn_target__lut8_bytes(lo, b, gr, &lo->x->groups[lo->fuse[ni]], &I);
                I.flags = (I.flags & ~(uint32_t)NN_TARGET_INSTR_Y_U8) | NN_TARGET_INSTR_ACT8;
            }
            for (j = 0; j < I.in_count; j++) {
                NN_TARGET__SLOT(ln->inputs[j].id, v);
                nn_target__w32(w4, v);
                nn_target__put(b, &b->operands, w4, 4);
            }
            NN_TARGET__SLOT(ln->outputs[0].id, v);
            nn_target__w32(w4, v);
            nn_target__put(b, &b->operands, w4, 4);
            b->operand_count += I.in_count + 1;
            if (!nn_target_supports_op(td, lo->g->nodes[gr->op_node].op_type) || !(td->dtypes & (1u << gr->ydtype)))
                I.flags |= NN_TARGET_INSTR_HOST;
        } else {
            const nn_node *n = &lo->g->nodes[-1 - lo->src[ni]];
            uint32_t so[2] = {NN_TARGET__NONE, NN_TARGET__NONE};
            I.op = NN_TARGET_OP_CPU;
            I.flags = NN_TARGET_INSTR_HOST;
            I.name = n->name;
            I.in_count = ln->input_count;
            I.out_count = ln->output_count;
            I.node = b->node_count;
            if ((st = nn_target__node_put(b, n, nn_quant__node_opset(lo->g, n), diag))) goto done;
            for (j = 0; j < ln->input_count + ln->output_count; j++) {
                nn_tensor_id t = j < ln->input_count ? ln->inputs[j] : ln->outputs[j - ln->input_count];
                v = NN_TARGET_NO_SLOT;
                if (t.id != NN_INVALID_ID) NN_TARGET__SLOT(t.id, v);
                if (j == 0) so[0] = v;
                if (j == ln->input_count) so[1] = v;
                nn_target__w32(w4, v);
                nn_target__put(b, &b->operands, w4, 4);
            }
            b->operand_count += ln->input_count + ln->output_count;
            if (nn_target__is_view(n) && ln->input_count && so[0] != NN_TARGET_NO_SLOT && so[1] != NN_TARGET_NO_SLOT &&
                buf[ln->inputs[0].id] != NN_TARGET__NONE && buf[ln->outputs[0].id] != NN_TARGET__NONE &&
                mp->buffers[buf[ln->inputs[0].id]].offset == mp->buffers[buf[ln->outputs[0].id]].offset)
                I.flags |= NN_TARGET_INSTR_VIEW;
        }
        nn_target__instr_put(b, &I);
    }
    for (i = 0; i < L->input_count + L->output_count; i++) {
        nn_tensor_id t = i < L->input_count ? L->inputs[i] : L->outputs[i - L->input_count];
        NN_TARGET__SLOT(t.id, v);
        if (b->nomem) break;
        if (b->slots.n && nn_target__r32(b->slots.p + (size_t)v * NN_TARGET__SLOT_REC + 8) != NN_TARGET_REGION_ARENA) {
            st = nn_diag_set(diag, NN_ERR_UNSUPPORTED, L->tensors[t.id].name, "a graph input or output that is a constant");
            goto done;
        }
        nn_target__w32(w4, v);
        if (i < L->input_count) { nn_target__put(b, &b->inputs, w4, 4); b->input_count++; }
        else { nn_target__put(b, &b->outputs, w4, 4); b->output_count++; }
    }
#undef NN_TARGET__SLOT
    if (b->nomem) st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_compile", "out of memory");
done:
    nn_free(&lo->a, sl);
    nn_free(&lo->a, buf);
    return st;
}

/* Runs p once on zero inputs with heap-backed scratch and writes each CPU
   instruction's scratch peak into *img (then re-checksummed). */
static nn_status nn_target__measure(const nn_target_program *p, uint8_t *img, nn_diag *diag) {
    nn_allocator a = p->alloc;
    uint64_t *peaks = (uint64_t *)nn_alloc(&a, ((size_t)p->instr_count + 1) * sizeof *peaks);
    size_t mem_bytes = nn_target_sim_scratch_bytes(p), zb = 0;
    uint8_t *mem = (uint8_t *)nn_alloc(&a, mem_bytes), *zero = NULL;
    nn_value *ins = (nn_value *)nn_alloc(&a, ((size_t)p->input_count + 1) * sizeof *ins);
    uint64_t most = 0, o_instrs = p->image_tables + (uint64_t)p->slot_count * NN_TARGET__SLOT_REC;
    nn_status st = NN_OK;
    uint32_t i;
    for (i = 0; i < p->input_count; i++)
        if (p->slots[p->inputs[i]].bytes > zb) zb = (size_t)p->slots[p->inputs[i]].bytes;
    zero = (uint8_t *)nn_alloc(&a, zb + 1);
    if (!peaks || !mem || !ins || !zero) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_compile", "out of memory"); goto done; }
    memset(zero, 0, zb + 1);
    memset(mem, 0, mem_bytes);
    memset(peaks, 0, ((size_t)p->instr_count + 1) * sizeof *peaks);
    for (i = 0; i < p->input_count; i++) {
        const nn_target_slot *s = &p->slots[p->inputs[i]];
        ins[i] = nn_value_make(s->dtype, s->shape, zero);
        ins[i].bytes = (size_t)s->bytes;
    }
    if ((st = nn_target__sim(p, mem, ins, NULL, peaks, diag))) goto done;
    for (i = 0; i < p->instr_count; i++) {
        if (p->instrs[i].op != NN_TARGET_OP_CPU) continue;
        if (peaks[i]) peaks[i] += 64;
        nn_target__w64(img + o_instrs + (uint64_t)i * NN_TARGET__INSTR_REC + 160, peaks[i]);
        if (peaks[i] > most) most = peaks[i];
    }
    if (nn_target__r64(img + p->image_record + 72) > most) most = nn_target__r64(img + p->image_record + 72);
    nn_target__w64(img + p->image_record + 72, most);
    nn_target__w32(img + 24, nn_target__image_crc(img, p->image_bytes));
done:
    nn_free(&a, peaks);
    nn_free(&a, mem);
    nn_free(&a, ins);
    nn_free(&a, zero);
    return st;
}

/* One program being compiled: its records, lowered graph and plan. */
typedef struct nn_target__unit {
    nn_target__bld b;
    nn_graph *L;
    nn_target_memory_plan mp;
    uint32_t folded, batch;
    uint64_t cycles;
} nn_target__unit;

static void nn_target__unit_free(nn_target__unit *u) {
    nn_target__bld_free(&u->b);
    nn_target_memory_plan_deinit(&u->mp);
    if (u->L) nn_graph_destroy(u->L);
    memset(u, 0, sizeof *u);
}

/* Lowers qdq at batch (0: the inputs' shapes as given) into u's records;
   weights go to wb's region (NULL: u's own). */
static nn_status nn_target__lower_one(const nn_graph *qdq, const nn_target_desc *td, const nn_target_compile_desc *d,
                                      uint32_t batch, nn_target__bld *wb, nn_target__unit *u, nn_diag *diag) {
    nn_target__low lo;
    nn_target_memory_desc md;
    nn_qexec_desc qd;
    nn_graph_desc gd;
    nn_op_ctx c;
    nn_status st;
    uint32_t i, yuv_ni = NN_TARGET__NONE;
    memset(&lo, 0, sizeof lo);
    memset(&qd, 0, sizeof qd);
    memset(&gd, 0, sizeof gd);
    memset(&md, 0, sizeof md);
    if (d) lo.a = d->alloc;
    u->b.a = qd.alloc = gd.alloc = md.alloc = lo.a;
    u->b.wb = wb;
    u->batch = batch;
    lo.g = qdq;
    if ((st = nn_qexec_create(qdq, &qd, &lo.x, diag))) return st;
    lo.lt = (uint32_t *)nn_alloc(&lo.a, ((size_t)qdq->tensor_count + 1) * sizeof *lo.lt);
    lo.fv = (nn_value *)nn_alloc(&lo.a, ((size_t)qdq->tensor_count + 1) * sizeof *lo.fv);
    lo.src = (int32_t *)nn_alloc(&lo.a, ((size_t)qdq->node_count + 1) * sizeof *lo.src);
    lo.fuse = (int32_t *)nn_alloc(&lo.a, ((size_t)qdq->node_count + 1) * sizeof *lo.fuse);
    lo.fused = (uint8_t *)nn_alloc(&lo.a, (size_t)lo.x->group_count + 1);
    lo.td = d && d->keep_act ? NULL : td;
    lo.shape = (nn_shape *)nn_alloc(&lo.a, ((size_t)qdq->tensor_count + 1) * sizeof *lo.shape);
    lo.dtype = (nn_dtype *)nn_alloc(&lo.a, ((size_t)qdq->tensor_count + 1) * sizeof *lo.dtype);
    lo.known = (uint8_t *)nn_alloc(&lo.a, (size_t)qdq->tensor_count + 1);
    if (!lo.lt || !lo.fv || !lo.src || !lo.fuse || !lo.fused || !lo.shape || !lo.dtype || !lo.known) {
        st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_compile", "out of memory");
        goto done;
    }
    for (i = 0; i < qdq->tensor_count; i++) lo.lt[i] = NN_TARGET__NONE;
    for (i = 0; i <= qdq->node_count; i++) lo.fuse[i] = -1;
    memset(lo.fused, 0, (size_t)lo.x->group_count + 1);
    memset(lo.fv, 0, (size_t)qdq->tensor_count * sizeof *lo.fv);
    memset(lo.known, 0, qdq->tensor_count);
    for (i = 0; i < qdq->input_count; i++) {
        uint32_t q = qdq->inputs[i].id, k;
        lo.shape[q] = qdq->tensors[q].shape;
        lo.dtype[q] = qdq->tensors[q].dtype;
        for (k = 0; d && k < d->input_shape_count; k++)
            if (d->input_shapes[k].name && !strcmp(d->input_shapes[k].name, qdq->tensors[q].name)) lo.shape[q] = d->input_shapes[k].shape;
        if (batch) { /* re-shape the batch dim; everything after follows by propagation */
            if (lo.shape[q].rank < 1) {
                st = nn_diag_set(diag, NN_ERR_SHAPE, qdq->tensors[q].name, "a scalar input has no batch dim");
                goto done;
            }
            lo.shape[q].dims[0] = batch;
        }
        if (!nn_shape_is_static(&lo.shape[q])) {
            st = nn_diag_set(diag, NN_ERR_SHAPE, qdq->tensors[q].name, "input has no static shape (give it one)");
            goto done;
        }
        lo.known[q] = 1;
    }
    if ((st = nn_graph_create(&gd, &lo.L, diag))) goto done;
    for (i = 0; i < qdq->opset_count && st == NN_OK; i++)
        st = nn_graph_set_opset(lo.L, qdq->opsets[i].domain, qdq->opsets[i].version, diag);
    lo.yuv_node = NN_TARGET__NONE;
    if (d && d->input_format != NN_TARGET_INPUT_TENSOR) { /* graph input 0's only reader must be a QuantizeLinear */
        uint32_t q0, readers = 0, k;
        if (d->input_format != NN_TARGET_INPUT_NV12 && d->input_format != NN_TARGET_INPUT_NV21) {
            st = nn_diag_set(diag, NN_ERR_ARG, "nn_target_compile_desc.input_format", "unknown format %d", (int)d->input_format);
            goto done;
        }
        if (!qdq->input_count) { st = nn_diag_set(diag, NN_ERR_ARG, "nn_target_compile_desc.input_format", "the graph has no input"); goto done; }
        q0 = qdq->inputs[0].id;
        yuv_ni = NN_TARGET__NONE;
        for (i = 0; i < qdq->node_count; i++)
            for (k = 0; k < qdq->nodes[i].input_count; k++)
                if (qdq->nodes[i].inputs[k].id == q0) { readers++; yuv_ni = i; }
        for (i = 0; i < qdq->output_count; i++)
            if (qdq->outputs[i].id == q0) readers++;
        if (readers != 1 || yuv_ni == NN_TARGET__NONE || !nn_target__is(&qdq->nodes[yuv_ni], "QuantizeLinear") || qdq->nodes[yuv_ni].inputs[0].id != q0 ||
            qdq->tensors[q0].dtype != NN_DTYPE_FLOAT) {
            st = nn_diag_set(diag, NN_ERR_UNSUPPORTED, qdq->tensors[q0].name, "NV12 input: the float input must be read by one QuantizeLinear only");
            goto done;
        }
    }
    for (i = 0; i < lo.x->step_count && st == NN_OK; i++) {
        const nn_qexec__step *s = &lo.x->steps[i];
        if (s->group >= 0 && lo.fused[s->group]) continue; /* in its conv's instruction */
        if (s->group < 0 && s->node == yuv_ni) st = nn_target__lower_yuv(&lo, s->node, d, diag);
        else if (s->group >= 0 && lo.x->groups[s->group].kind == NN_QX__MOVE) st = nn_target__lower_move(&lo, (uint32_t)s->group, diag);
        else st = s->group >= 0 ? nn_target__lower_group(&lo, (uint32_t)s->group, diag) : nn_target__lower_float(&lo, s->node, diag);
    }
    for (i = 0; i < qdq->input_count + qdq->output_count && st == NN_OK; i++) {
        nn_tensor_id q = i < qdq->input_count ? qdq->inputs[i] : qdq->outputs[i - qdq->input_count], l;
        if ((st = nn_target__lt(&lo, q.id, &l, diag))) break;
        st = i < qdq->input_count ? nn_graph_add_input(lo.L, l, diag) : nn_graph_add_output(lo.L, l, diag);
    }
    if (st) goto done;
    md.bytes_rule = NN_TARGET_BYTES_DTYPE;
    md.flags = d ? d->memory_flags : 0;
    if ((st = nn_target_plan_memory(lo.L, &md, &u->mp, diag))) goto done;
    if ((st = nn_target__build(&lo, td, &u->mp, &u->b, diag))) goto done;
    u->folded = lo.folded;
    u->L = lo.L;
    lo.L = NULL;
done:
    if (lo.L) nn_graph_destroy(lo.L);
    memset(&c, 0, sizeof c);
    c.alloc = &lo.a;
    if (lo.fv)
        for (i = 0; i < qdq->tensor_count; i++) nn_op_free_value(&c, &lo.fv[i]);
    nn_free(&lo.a, lo.lt);
    nn_free(&lo.a, lo.fv);
    nn_free(&lo.a, lo.src);
    nn_free(&lo.a, lo.fuse);
    nn_free(&lo.a, lo.fused);
    nn_free(&lo.a, lo.shape);
    nn_free(&lo.a, lo.dtype);
    nn_free(&lo.a, lo.known);
    nn_qexec_destroy(lo.x);
    return st;
}

/* The cost model's cycles for a lowered program (as `nnport compile`
   prints them: tensors at their own dtypes, the memory plan's order). */
static nn_status nn_target__unit_cost(nn_target__unit *u, const nn_target_desc *td, const nn_allocator *a, nn_diag *diag) {
    nn_target_group_desc gd;
    nn_target_group_plan gp;
    nn_status st;
    memset(&gd, 0, sizeof gd);
    gd.alloc = *a;
    gd.bytes_rule = NN_TARGET_BYTES_DTYPE;
    gd.order = u->mp.order;
    gd.order_count = u->mp.step_count;
    if ((st = nn_target_plan_groups(u->L, td, &gd, &gp, diag))) return st;
    u->cycles = gp.cycles;
    nn_target_group_plan_deinit(&gp);
    return NN_OK;
}

/* The batch sizes to compile: 0 alone for a single program. */
static nn_status nn_target__batches(const nn_graph *qdq, const nn_target_desc *td, const nn_target_compile_desc *d,
                                    uint32_t *list, uint32_t *count, nn_target_batch_cost *costs, uint32_t *cost_count,
                                    nn_diag *diag) {
    uint32_t i, j, n = 0;
    *cost_count = 0;
    if (!d || (!d->batch_size_count && d->max_batch <= 1)) { list[0] = 0; *count = 1; return NN_OK; }
    if (d->batch_size_count && d->max_batch > 1)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_compile_desc.max_batch", "give batch sizes or a maximum batch, not both");
    list[n++] = 1;
    if (d->batch_size_count) {
        if (!d->batch_sizes) return nn_diag_set(diag, NN_ERR_ARG, "nn_target_compile_desc.batch_sizes", "NULL with a count");
        for (i = 0; i < d->batch_size_count; i++) {
            uint32_t b = d->batch_sizes[i];
            if (b < 1 || b > NN_MAX_TARGET_BATCH)
                return nn_diag_set(diag, NN_ERR_ARG, "nn_target_compile_desc.batch_sizes", "batch %u outside 1..%u", b, (unsigned)NN_MAX_TARGET_BATCH);
            for (j = 0; j < n && list[j] != b; j++) {}
            if (j < n) continue;
            if (n == NN_MAX_TARGET_PROGRAMS)
                return nn_diag_set(diag, NN_ERR_LIMIT, "nn_target_compile_desc.batch_sizes", "more than %u batch sizes", (unsigned)NN_MAX_TARGET_PROGRAMS);
            for (j = n++; j > 0 && list[j - 1] > b; j--) list[j] = list[j - 1]; /* sorted */
            list[j] = b;
        }
        *count = n;
        return NN_OK;
    }
    if (d->max_batch > NN_MAX_TARGET_BATCH)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_compile_desc.max_batch", "%u above %u", d->max_batch, (unsigned)NN_MAX_TARGET_BATCH);
    { /* candidates 1, 2, 4, ... and max_batch, each compiled alone and costed */
        uint32_t cand[NN_MAX_TARGET_PROGRAMS], nc = 0, b;
        uint64_t best_c = 0, best_b = 0;
        for (b = 1; b < d->max_batch && nc < NN_MAX_TARGET_PROGRAMS - 1; b *= 2) cand[nc++] = b;
        cand[nc++] = d->max_batch;
        n = 0;
        for (i = 0; i < nc; i++) {
            nn_target__unit u;
            nn_status st;
            memset(&u, 0, sizeof u);
            uint64_t cyc;
            st = nn_target__lower_one(qdq, td, d, cand[i], NULL, &u, diag);
            if (st == NN_OK) st = nn_target__unit_cost(&u, td, &u.b.a, diag);
            cyc = u.cycles;
            nn_target__unit_free(&u);
            if (st) return st;
            costs[i].batch = cand[i];
            costs[i].cycles = cyc;
            /* kept when cycles / batch is at least 1% below best_c / best_b (a
               smaller gain is not worth a program's tables and arena) */
            costs[i].kept = i == 0 || (double)cyc * (double)best_b * 100.0 < (double)best_c * (double)cand[i] * 99.0;
            if (costs[i].kept) { list[n++] = cand[i]; best_c = cyc; best_b = cand[i]; }
        }
        *cost_count = nc;
    }
    *count = n;
    return NN_OK;
}

NN_API nn_status nn_target_compile(const nn_graph *qdq, const nn_target_desc *t, const nn_target_compile_desc *d,
                                   nn_target_program **out, nn_diag *diag) {
    nn_target__unit u[NN_MAX_TARGET_PROGRAMS];
    nn_target_desc td;
    nn_target_program *p = NULL, *q;
    nn_target_load_desc ld;
    nn_allocator a;
    nn_target__bld *bs[NN_MAX_TARGET_PROGRAMS];
    uint32_t batches[NN_MAX_TARGET_PROGRAMS], count = 0, cost_count = 0, k, i;
    uint64_t arenas[NN_MAX_TARGET_PROGRAMS];
    nn_target_batch_cost costs[NN_MAX_TARGET_PROGRAMS];
    uint8_t *img = NULL;
    size_t img_bytes = 0;
    nn_status st;
    NN_ASSERT(qdq && out);
    memset(&a, 0, sizeof a);
    memset(&ld, 0, sizeof ld);
    memset(costs, 0, sizeof costs);
    if (d) a = d->alloc;
    ld.alloc = a;
    if (t) td = *t;
    else nn_target_preset("npu-small", &td, NULL);
    if ((st = nn_target_validate(&td, diag))) return st;
    td = nn_target_desc_defaults(&td);
    if ((st = nn_target__batches(qdq, &td, d, batches, &count, costs, &cost_count, diag))) return st;
    memset(u, 0, sizeof u);
    for (k = 0; k < count && st == NN_OK; k++) {
        st = nn_target__lower_one(qdq, &td, d, batches[k], k ? &u[0].b : NULL, &u[k], diag);
        if (st == NN_OK) {
            nn_diag cd;
            memset(&cd, 0, sizeof cd);
            if (nn_target__unit_cost(&u[k], &td, &a, &cd) != NN_OK) u[k].cycles = 0; /* the estimate is informative */
        }
        bs[k] = &u[k].b;
        arenas[k] = u[k].mp.arena_bytes;
    }
    if (st) goto done;
    if ((st = nn_target__emit(bs, batches, arenas, count, td.name, &img, &img_bytes, diag))) goto done;
    if ((st = nn_target_load_memory(img, img_bytes, &ld, &p, diag))) goto done;
    for (q = p; q && st == NN_OK; q = q->next) st = nn_target__measure(q, img, diag);
    nn_target_program_destroy(p);
    p = NULL;
    if (st || (st = nn_target_load_memory(img, img_bytes, &ld, &p, diag))) goto done;
    if (p->image != img) { st = nn_diag_set(diag, NN_ERR_INVALID, "nn_target_compile", "image not used in place"); goto done; }
    p->owned[4] = img;
    img = NULL;
    for (q = p, k = 0; q && k < count; q = q->next, k++) {
        q->graph = u[k].L;
        u[k].L = NULL;
        q->memory = u[k].mp;
        memset(&u[k].mp, 0, sizeof u[k].mp);
        q->folded_nodes = u[k].folded;
        q->est_cycles = u[k].cycles;
        for (i = 0; i < q->instr_count; i++) {
            if (q->instrs[i].op == NN_TARGET_OP_CPU) q->cpu_instrs++;
            else q->int_instrs++;
            if (q->instrs[i].flags & NN_TARGET_INSTR_HOST) q->host_instrs++;
        }
    }
    if (cost_count) memcpy(p->batch_costs, costs, sizeof costs);
    else
        for (q = p; q; q = q->next) { /* the listed sizes: all kept */
            p->batch_costs[p->batch_cost_count].batch = q->batch;
            p->batch_costs[p->batch_cost_count].kept = 1;
            p->batch_costs[p->batch_cost_count++].cycles = q->est_cycles;
        }
    if (cost_count) p->batch_cost_count = cost_count;
    *out = p;
    p = NULL;
done:
    if (p) nn_target_program_destroy(p);
    nn_free(&a, img);
    for (k = 0; k < count; k++) nn_target__unit_free(&u[k]);
    return st;
}

/* ==== target_check: implementation ==== */

static const char *const nn_target_check__names[4] = {"bitequal", "allclose", "bitequal", "cosine"};

NN_API const char *nn_target_check_level_name(nn_target_check_level l) {
    return (unsigned)l < 4 ? nn_target_check__names[l] : "?";
}

NN_API int nn_target_check_level_find(const char *name, nn_target_check_level *out) {
    int i;
    for (i = 1; name && i < 4; i++)
        if (!strcmp(name, nn_target_check__names[i])) {
            *out = (nn_target_check_level)i;
            return 1;
        }
    return 0;
}

/* One tensor to compare: written by instruction instr into slot, produced
   by nn_qexec as tensor t of the QDQ graph. */
typedef struct nn_target_check__probe {
    uint32_t instr, slot;
    nn_tensor_id t;
    double scale;                 /* > 0: dequantize raw values as (v - zp) * scale */
    int32_t zp;
} nn_target_check__probe;

typedef struct nn_target_check__ctx {
    const nn_target_program *p;
    const nn_graph *g;
    nn_target_check_desc d;
    nn_target_check__probe *probes;
    uint32_t probe_count;
    int32_t *probe_of;            /* (g->tensor_count) probe index of a tensor, -1 */
    nn_value *ref;                /* (probe_count) nn_qexec's copies for the current sample */
    nn_status copy_status;
} nn_target_check__ctx;

/* Runs instructions [first, first + count) of p in mem: see the file's
   header (the proposed nn_target_sim_step). */
static nn_status nn_target_check__step(const nn_target_program *p, void *mem, size_t mem_bytes, const nn_value *inputs,
                                       uint32_t first, uint32_t count, nn_diag *diag) {
    nn_target_program w = *p; /* shallow: same records, a window of the instruction list */
    w.instrs = p->instrs + first;
    w.instr_count = count;
    if (first) w.input_count = 0; /* the arena carries the earlier results */
    return nn_target_sim_run(&w, mem, mem_bytes, inputs, NULL, diag);
}

/* Scale and zero point of a tensor written by a QuantizeLinear with a
   constant per-tensor scale; 0 otherwise. */
static int nn_target_check__qparams(const nn_graph *g, nn_tensor_id t, double *scale, int32_t *zp) {
    const nn_node *n;
    const nn_tensor *s, *z;
    if (t.id == NN_INVALID_ID || g->tensors[t.id].producer.id == NN_INVALID_ID) return 0;
    n = &g->nodes[g->tensors[t.id].producer.id];
    if (strcmp(n->op_type, "QuantizeLinear") != 0 || n->input_count < 2 || n->inputs[1].id == NN_INVALID_ID) return 0;
    s = &g->tensors[n->inputs[1].id];
    if (!(s->flags & NN_TENSOR_CONST) || !s->data || s->dtype != NN_DTYPE_FLOAT || s->data_bytes != 4) return 0;
    *scale = ((const float *)s->data)[0];
    *zp = 0;
    if (n->input_count > 2 && n->inputs[2].id != NN_INVALID_ID) {
        z = &g->tensors[n->inputs[2].id];
        if (!(z->flags & NN_TENSOR_CONST) || !z->data) return 0;
        if (z->dtype == NN_DTYPE_INT8) *zp = ((const int8_t *)z->data)[0];
        else if (z->dtype == NN_DTYPE_UINT8) *zp = ((const uint8_t *)z->data)[0];
        else if (z->dtype == NN_DTYPE_INT16) *zp = ((const int16_t *)z->data)[0];
        else if (z->dtype == NN_DTYPE_UINT16) *zp = ((const uint16_t *)z->data)[0];
        else return 0;
    }
    return *scale > 0;
}

/* nn_qexec's observer: copies the values of probed tensors. */
static int nn_target_check__observe(void *user, const nn_graph *g, uint32_t node_index, const nn_value *outputs,
                                    uint32_t output_count) {
    nn_target_check__ctx *c = (nn_target_check__ctx *)user;
    uint32_t j;
    for (j = 0; j < output_count && j < g->nodes[node_index].output_count; j++) {
        nn_tensor_id t = g->nodes[node_index].outputs[j];
        int32_t k;
        nn_value *r;
        if (t.id == NN_INVALID_ID || (k = c->probe_of[t.id]) < 0 || !outputs[j].data) continue;
        r = &c->ref[k];
        if (r->data) nn_free(&c->d.alloc, r->data);
        *r = outputs[j];
        r->flags = 0;
        r->data = nn_alloc(&c->d.alloc, outputs[j].bytes ? outputs[j].bytes : 1);
        if (!r->data) { c->copy_status = NN_ERR_NOMEM; return 1; }
        memcpy(r->data, outputs[j].data, outputs[j].bytes);
    }
    return 0;
}

/* A float copy of v's real values (dequantized with the probe's
   parameters when it has them); NULL on no memory. */
static float *nn_target_check__real(const nn_target_check__ctx *c, const nn_value *v, const nn_target_check__probe *pr,
                                    size_t n) {
    float *f = (float *)nn_alloc(&c->d.alloc, (n ? n : 1) * sizeof(float));
    size_t i;
    if (!f) return NULL;
    for (i = 0; i < n; i++) {
        double x;
        switch (v->dtype) {
        case NN_DTYPE_FLOAT: x = ((const float *)v->data)[i]; break;
        case NN_DTYPE_DOUBLE: x = ((const double *)v->data)[i]; break;
        case NN_DTYPE_INT8: x = ((const int8_t *)v->data)[i]; break;
        case NN_DTYPE_UINT8: case NN_DTYPE_BOOL: x = ((const uint8_t *)v->data)[i]; break;
        case NN_DTYPE_INT16: x = ((const int16_t *)v->data)[i]; break;
        case NN_DTYPE_UINT16: x = ((const uint16_t *)v->data)[i]; break;
        case NN_DTYPE_INT32: x = ((const int32_t *)v->data)[i]; break;
        case NN_DTYPE_UINT32: x = ((const uint32_t *)v->data)[i]; break;
        case NN_DTYPE_INT64: x = (double)((const int64_t *)v->data)[i]; break;
        default: x = 0; break;
        }
        if (pr->scale > 0 && !nn_dtype_is_float(v->dtype)) x = (x - pr->zp) * pr->scale;
        f[i] = (float)x;
    }
    return f;
}

/* Compares the simulator's value got with nn_qexec's ref for probe pr
   under the level; folds the result into row.  Returns 1 when it passes. */
static nn_status nn_target_check__compare(const nn_target_check__ctx *c, const nn_target_check__probe *pr,
                                          const nn_value *ref, const nn_value *got, nn_target_check_row *row, int *pass,
                                          int *bitequal) {
    size_t n = nn_value_count(ref), es, i;
    uint64_t diff = 0;
    nn_verify_desc vd;
    nn_verify_stats vs;
    nn_value rv, gv;
    float *rf, *gf;
    nn_diag dd;
    int same_type = ref->dtype == got->dtype && nn_value_count(got) == n && ref->bytes == got->bytes;
    *pass = 0;
    *bitequal = 0;
    if (!same_type) { /* a dtype or size the two runs disagree on: a mismatch everywhere */
        row->cosine = -1;
        row->max_abs_err = HUGE_VAL;
        row->mismatched += n;
        row->count += n;
        return NN_OK;
    }
    es = n ? ref->bytes / n : 0;
    if (memcmp(ref->data, got->data, ref->bytes) != 0)
        for (i = 0; i < n; i++) diff += memcmp((const char *)ref->data + i * es, (const char *)got->data + i * es, es) != 0;
    *bitequal = diff == 0;
    rf = nn_target_check__real(c, ref, pr, n);
    gf = rf ? nn_target_check__real(c, got, pr, n) : NULL;
    if (!gf) { nn_free(&c->d.alloc, rf); return NN_ERR_NOMEM; }
    rv = nn_value_make(NN_DTYPE_FLOAT, ref->shape, rf);
    gv = nn_value_make(NN_DTYPE_FLOAT, ref->shape, gf);
    memset(&vd, 0, sizeof vd);
    vd.ignore_shape = 1;
    vd.rtol = c->d.rtol;
    vd.atol = c->d.atol;
    vd.exact = c->d.rtol == 0 && c->d.atol == 0;
    memset(&dd, 0, sizeof dd);
    memset(&vs, 0, sizeof vs);
    if (nn_verify_compare(&rv, &gv, &vd, &vs, &dd) != NN_OK) { vs.cosine = -1; vs.max_abs_err = HUGE_VAL; vs.beyond_tol_count = n; }
    nn_free(&c->d.alloc, rf);
    nn_free(&c->d.alloc, gf);
    if (!(vs.cosine >= row->cosine)) row->cosine = vs.cosine; /* NaN lands too */
    if (!(vs.max_abs_err <= row->max_abs_err)) row->max_abs_err = vs.max_abs_err;
    row->count += n;
    switch (c->d.level) {
    case NN_TARGET_CHECK_ALLCLOSE:
        row->mismatched += vs.beyond_tol_count;
        *pass = vs.beyond_tol_count == 0;
        break;
    case NN_TARGET_CHECK_COSINE:
        row->mismatched += diff;
        *pass = vs.cosine >= c->d.min_cosine;
        break;
    default:
        row->mismatched += diff;
        *pass = diff == 0;
        break;
    }
    return NN_OK;
}

static void nn_target_check__row_init(const nn_target_check__ctx *c, uint32_t k, nn_target_check_row *row) {
    const nn_target_check__probe *pr = &c->probes[k];
    const nn_target_instr *I = &c->p->instrs[pr->instr];
    memset(row, 0, sizeof *row);
    row->tensor = c->p->slots[pr->slot].name;
    row->layer = I->name;
    row->op = I->op == NN_TARGET_OP_CPU ? c->p->nodes[I->node].op_type : nn_target_op_name(I->op);
    row->instr = pr->instr;
    row->cosine = 1;
    row->pass = 1;
}

/* Probes: per layer every arena output of every instruction; else the
   program's outputs (attributed to the instruction that writes them). */
static nn_status nn_target_check__probes(nn_target_check__ctx *c, int per_layer, nn_target_check_report *out,
                                         nn_diag *diag) {
    const nn_target_program *p = c->p;
    uint32_t i, j, cap = 0;
    for (i = 0; i < p->instr_count; i++) cap += p->instrs[i].out_count;
    c->probes = (nn_target_check__probe *)nn_alloc(&c->d.alloc, (cap ? cap : 1) * sizeof *c->probes);
    if (!c->probes) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_check", "out of memory");
    for (i = 0; i < c->g->tensor_count; i++) c->probe_of[i] = -1;
    c->probe_count = 0;
    for (i = 0; i < p->instr_count; i++) {
        const nn_target_instr *I = &p->instrs[i];
        for (j = 0; j < I->out_count; j++) {
            uint32_t s = p->operands[I->first_operand + I->in_count + j], o;
            nn_target_check__probe *pr;
            nn_tensor_id t;
            if (s == NN_TARGET_NO_SLOT || p->slots[s].region != NN_TARGET_REGION_ARENA) continue;
            for (o = 0; !per_layer && o < p->output_count; o++)
                if (p->outputs[o] == s) break;
            if (!per_layer && o == p->output_count) continue;
            t = nn_graph_find_tensor(c->g, p->slots[s].name);
            if (t.id == NN_INVALID_ID || (c->g->tensors[t.id].flags & NN_TENSOR_CONST)) { out->unmatched++; continue; }
            if (c->probe_of[t.id] >= 0) continue; /* written twice (in-place views): the first */
            if (c->d.skip && c->d.skip(c->d.skip_user, p->slots[s].name)) { out->skipped++; continue; }
            pr = &c->probes[c->probe_count];
            pr->instr = i;
            pr->slot = s;
            pr->t = t;
            pr->scale = 0;
            if (!nn_target_check__qparams(c->g, t, &pr->scale, &pr->zp)) pr->scale = 0;
            c->probe_of[t.id] = (int32_t)c->probe_count++;
        }
    }
    return NN_OK;
}

static void nn_target_check__free_refs(nn_target_check__ctx *c) {
    uint32_t k;
    for (k = 0; c->ref && k < c->probe_count; k++) {
        if (c->ref[k].data) nn_free(&c->d.alloc, c->ref[k].data);
        memset(&c->ref[k], 0, sizeof c->ref[k]);
    }
}

/* One sample: nn_qexec with the observer, then the simulator instruction by
   instruction, each probe compared right after its instruction (the arena
   reuses its bytes later).  rows (probe_count) accumulate; *first_fail is
   the first failing probe (-1), *first_diff the first not bit-equal. */
static nn_status nn_target_check__sample(nn_target_check__ctx *c, nn_qexec *qx, const nn_value *in, const nn_value *min,
                                         const uint32_t *qin, uint8_t *mem, size_t mb, nn_target_check_row *rows,
                                         int32_t *first_fail, int32_t *first_diff, nn_diag *diag) {
    const nn_target_program *p = c->p;
    nn_status st = NN_OK;
    uint32_t i, k = 0;
    *first_fail = *first_diff = -1;
    nn_target_check__free_refs(c);
    c->copy_status = NN_OK;
    for (i = 0; i < p->input_count && !st; i++) st = nn_qexec_set_input(qx, qin[i], &min[i], diag);
    if (!st) st = nn_qexec_run(qx, diag);
    if (c->copy_status) return nn_diag_set(diag, c->copy_status, "nn_target_check", "out of memory");
    if (st) return st;
    if ((st = nn_target_check__step(p, mem, mb, in, 0, 0, diag)) != NN_OK) return st; /* inputs into the arena */
    for (i = 0; i < p->instr_count && k < c->probe_count; i++) {
        if ((st = nn_target_check__step(p, mem, mb, in, i, 1, diag)) != NN_OK) return st;
        for (; k < c->probe_count && c->probes[k].instr == i; k++) {
            const nn_target_slot *s = &p->slots[c->probes[k].slot];
            nn_value got = nn_value_make(s->dtype, s->shape, mem + s->offset);
            int pass, same;
            got.bytes = (size_t)s->bytes;
            if (!c->ref[k].data) continue; /* nn_qexec did not produce it (skipped DQ) */
            if ((st = nn_target_check__compare(c, &c->probes[k], &c->ref[k], &got, &rows[k], &pass, &same)) != NN_OK)
                return nn_diag_set(diag, st, "nn_target_check", "out of memory");
            rows[k].pass &= pass;
            if (!pass && *first_fail < 0) *first_fail = (int32_t)k;
            if (!same && *first_diff < 0) *first_diff = (int32_t)k;
        }
    }
    return NN_OK;
}

NN_API nn_status nn_target_check(const nn_target_program *p, const nn_graph *qdq, const nn_value *inputs,
                                 uint32_t sample_count, const nn_target_check_desc *d, nn_target_check_report *out,
                                 nn_diag *diag) {
    nn_target_check__ctx c;
    nn_qexec_desc xd;
    nn_qexec *qx = NULL;
    uint32_t qin[NN_TARGET__MAX_IO > 64 ? NN_TARGET__MAX_IO : 64], i, k, s;
    size_t mb = nn_target_sim_scratch_bytes(p);
    uint8_t *raw = NULL, *mem;
    nn_status st = NN_OK;
    int pass_all = 1, locate_sample = -1;
    const nn_value *minputs = d && d->model_inputs ? d->model_inputs : inputs;
    NN_ASSERT(p && qdq && out && (inputs || !p->input_count));
    memset(&c, 0, sizeof c);
    memset(out, 0, sizeof *out);
    if (d) c.d = *d;
    if (!c.d.level) c.d.level = NN_TARGET_CHECK_BITEQUAL;
    if (c.d.min_cosine == 0) c.d.min_cosine = 0.999;
    c.p = p;
    c.g = qdq;
    out->alloc = c.d.alloc;
    out->level = c.d.level;
    out->worst_cosine = 1;
    if (p->input_count > sizeof qin / sizeof qin[0]) return nn_diag_set(diag, NN_ERR_LIMIT, "nn_target_check", "too many inputs");
    for (i = 0; i < p->input_count; i++) {
        for (k = 0; k < qdq->input_count; k++)
            if (!strcmp(qdq->tensors[qdq->inputs[k].id].name, p->slots[p->inputs[i]].name)) break;
        if (k == qdq->input_count)
            return nn_diag_set(diag, NN_ERR_ARG, p->slots[p->inputs[i]].name, "the quantized model has no such input");
        qin[i] = k;
    }
    c.probe_of = (int32_t *)nn_alloc(&c.d.alloc, (qdq->tensor_count ? qdq->tensor_count : 1) * sizeof(int32_t));
    raw = (uint8_t *)nn_alloc(&c.d.alloc, mb + 64);
    if (!c.probe_of || !raw) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_check", "out of memory"); goto done; }
    mem = raw + (64 - (uintptr_t)raw % 64) % 64;
    if ((st = nn_target_check__probes(&c, c.d.per_layer, out, diag)) != NN_OK) goto done;
    if (!c.d.per_layer && c.probe_count == 0 && out->skipped == 0) {
        st = nn_diag_set(diag, NN_ERR_ARG, "nn_target_check", "no output of the program is an output of the quantized model");
        goto done;
    }
    c.ref = (nn_value *)nn_alloc(&c.d.alloc, (c.probe_count ? c.probe_count : 1) * sizeof *c.ref);
    out->rows = (nn_target_check_row *)nn_alloc(&c.d.alloc, (c.probe_count ? c.probe_count : 1) * sizeof *out->rows);
    if (!c.ref || !out->rows) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_check", "out of memory"); goto done; }
    memset(c.ref, 0, (c.probe_count ? c.probe_count : 1) * sizeof *c.ref);
    out->row_count = c.probe_count;
    for (k = 0; k < c.probe_count; k++) nn_target_check__row_init(&c, k, &out->rows[k]);
    memset(&xd, 0, sizeof xd);
    xd.alloc = c.d.alloc;
    xd.observer = nn_target_check__observe;
    xd.observer_user = &c;
    if ((st = nn_qexec_create(qdq, &xd, &qx, diag)) != NN_OK) goto done;
    for (s = 0; s < sample_count; s++) {
        int32_t ff, fd;
        st = nn_target_check__sample(&c, qx, inputs + (size_t)s * p->input_count, minputs + (size_t)s * p->input_count, qin,
                                     mem, mb, out->rows, &ff, &fd, diag);
        if (st) goto done;
        out->samples++;
        if (ff >= 0 && pass_all) {
            pass_all = 0;
            locate_sample = (int)s;
            if (c.d.per_layer) { /* the first failing tensor is the first diverging layer */
                out->has_diverge = 1;
                out->diverge = out->rows[ff];
                out->diverge_sample = s;
            }
        }
    }
    for (k = 0; k < out->row_count; k++) {
        const nn_target_check_row *r = &out->rows[k];
        if (!(r->cosine >= out->worst_cosine)) out->worst_cosine = r->cosine;
        out->mismatched += r->mismatched;
        out->count += r->count;
    }
    out->pass = pass_all;
    if (!pass_all && !c.d.per_layer) { /* locate: every tensor of the first failing sample */
        nn_target_check_row *rows;
        int32_t ff, fd;
        nn_qexec_destroy(qx);
        qx = NULL;
        nn_target_check__free_refs(&c);
        nn_free(&c.d.alloc, c.probes);
        nn_free(&c.d.alloc, c.ref);
        c.probes = NULL;
        c.ref = NULL;
        {
            nn_target_check_report scratch_rep;
            memset(&scratch_rep, 0, sizeof scratch_rep);
            if ((st = nn_target_check__probes(&c, 1, &scratch_rep, diag)) != NN_OK) goto done;
        }
        c.ref = (nn_value *)nn_alloc(&c.d.alloc, (c.probe_count ? c.probe_count : 1) * sizeof *c.ref);
        rows = (nn_target_check_row *)nn_alloc(&c.d.alloc, (c.probe_count ? c.probe_count : 1) * sizeof *rows);
        if (!c.ref || !rows) {
            nn_free(&c.d.alloc, rows);
            st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_check", "out of memory");
            goto done;
        }
        memset(c.ref, 0, (c.probe_count ? c.probe_count : 1) * sizeof *c.ref);
        for (k = 0; k < c.probe_count; k++) nn_target_check__row_init(&c, k, &rows[k]);
        st = nn_qexec_create(qdq, &xd, &qx, diag);
        if (!st)
            st = nn_target_check__sample(&c, qx, inputs + (size_t)locate_sample * p->input_count,
                                         minputs + (size_t)locate_sample * p->input_count, qin, mem, mb, rows, &ff,
                                         &fd, diag);
        if (!st && (ff >= 0 || fd >= 0)) {
            out->has_diverge = 1;
            out->diverge = rows[ff >= 0 ? ff : fd];
            out->diverge_sample = (uint32_t)locate_sample;
            out->diverge_by_bits = ff < 0;
        }
        nn_free(&c.d.alloc, rows);
    }
done:
    nn_qexec_destroy(qx);
    nn_target_check__free_refs(&c);
    nn_free(&c.d.alloc, c.ref);
    nn_free(&c.d.alloc, c.probes);
    nn_free(&c.d.alloc, c.probe_of);
    nn_free(&c.d.alloc, raw);
    if (st) nn_target_check_report_deinit(out);
    return st;
}

NN_API void nn_target_check_report_deinit(nn_target_check_report *r) {
    if (!r) return;
    nn_free(&r->alloc, r->rows);
    r->rows = NULL;
    r->row_count = 0;
}

/* ==== target_emitc: implementation ==== */

typedef struct nn_target__ec {
    const nn_target_program *p;
    nn_verify_write_fn fn;        /* NULL: checking pass, nothing written */
    void *user;
    char buf[8192];
    size_t n;
    nn_status st;
    nn_diag *diag;
    uint8_t *done;                /* (slot_count) const array of a weights slot emitted */
    uint64_t scratch;             /* bytes of scratch the instructions need */
    uint64_t acc;                 /* int32 accumulators the instructions need */
    uint32_t uses;                /* NN_TARGET__EC_* helpers used */
    uint32_t instr;               /* instruction being emitted */
    uint64_t sc_off[64];          /* per input operand (at most 64, FORMAT.md): scratch offset + 1 when read from a copy */
    char nm[160];                 /* the instruction's node name, safe inside a C comment */
} nn_target__ec;

enum {
    NN_TARGET__EC_RQ = 1u, NN_TARGET__EC_MS = 2u, NN_TARGET__EC_EXP = 4u, NN_TARGET__EC_SIG = 8u, NN_TARGET__EC_RSUM = 16u,
    NN_TARGET__EC_MM = 32u, NN_TARGET__EC_MV = 64u, NN_TARGET__EC_BAD = 128u, NN_TARGET__EC_LN = 256u,
    NN_TARGET__EC_YUV = 512u, NN_TARGET__EC_RQW = 1024u
};

static void nn_target__ec_flush(nn_target__ec *e) {
    if (e->fn && e->n && e->st == NN_OK && e->fn(e->user, e->buf, e->n) != 0)
        e->st = nn_diag_set(e->diag, NN_ERR_IO, "nn_target_emit_c", "write failed");
    e->n = 0;
}

#if defined(__GNUC__)
static void nn_target__ec_put(nn_target__ec *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
static void nn_target__ec_put(nn_target__ec *e, const char *fmt, ...) {
    va_list ap;
    int k;
    if (!e->fn || e->st) return;
    if (e->n > sizeof e->buf / 2) nn_target__ec_flush(e);
    va_start(ap, fmt);
    k = vsnprintf(e->buf + e->n, sizeof e->buf - e->n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof e->buf - e->n) {
        e->st = nn_diag_set(e->diag, NN_ERR_LIMIT, "nn_target_emit_c", "generated line too long");
        return;
    }
    e->n += (size_t)k;
}

static nn_status nn_target__ec_unsup(nn_target__ec *e, const char *what) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const char *op = I->op == NN_TARGET_OP_CPU ? e->p->nodes[I->node].op_type : nn_target_op_name(I->op);
    return nn_diag_set(e->diag, NN_ERR_UNSUPPORTED, I->name, "instruction %u (%s, node '%s'): no C export: %s", e->instr,
                       op, I->name, what);
}

static const char *nn_target__ec_safe(const char *s, char *out, size_t cap);

/* The union member holding a dtype's elements ("f", "s8", ...); NULL when none. */
static const char *nn_target__ec_member(nn_dtype t) {
    switch (t) {
    case NN_DTYPE_FLOAT: return "f";
    case NN_DTYPE_INT8: return "s8";
    case NN_DTYPE_UINT8: case NN_DTYPE_BOOL: return "u8";
    case NN_DTYPE_INT16: return "s16";
    case NN_DTYPE_UINT16: return "u16";
    case NN_DTYPE_INT32: return "s32";
    case NN_DTYPE_UINT32: return "u32";
    case NN_DTYPE_INT64: return "s64";
    default: return NULL;
    }
}

static const char *nn_target__ec_ctype(nn_dtype t) {
    switch (t) {
    case NN_DTYPE_FLOAT: return "float";
    case NN_DTYPE_INT8: return "int8_t";
    case NN_DTYPE_UINT8: case NN_DTYPE_BOOL: return "uint8_t";
    case NN_DTYPE_INT16: return "int16_t";
    case NN_DTYPE_UINT16: return "uint16_t";
    case NN_DTYPE_INT32: return "int32_t";
    case NN_DTYPE_UINT32: return "uint32_t";
    case NN_DTYPE_INT64: return "int64_t";
    default: return NULL;
    }
}

/* Operand k (an index into the instruction's operand list) as an lvalue
   at element index idx: an arena slot through the arena union's member
   (element offset baked in), a copy in scratch, or a weights slot's const
   array.  Accesses go through the union so type-based alias analysis sees
   every reuse of the arena's bytes. */
static const char *nn_target__ec_at(const nn_target__ec *e, uint32_t k, const char *idx, char *out, size_t cap) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    uint32_t s = e->p->operands[I->first_operand + k];
    const nn_target_slot *sl = &e->p->slots[s];
    size_t es = nn_dtype_size(sl->dtype);
    if (sl->region == NN_TARGET_REGION_WEIGHTS) snprintf(out, cap, "nn_c%u[%s]", s, idx);
    else if (k < I->in_count && k < sizeof e->sc_off / sizeof e->sc_off[0] && e->sc_off[k])
        snprintf(out, cap, "nn_s.%s[%llu + (%s)]", nn_target__ec_member(sl->dtype), (unsigned long long)((e->sc_off[k] - 1) / es), idx);
    else
        snprintf(out, cap, "nn_a.%s[%llu + (%s)]", nn_target__ec_member(sl->dtype), (unsigned long long)(sl->offset / es), idx);
    return out;
}

static const nn_target_slot *nn_target__ec_slot(const nn_target__ec *e, uint32_t k) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    uint32_t s = e->p->operands[I->first_operand + k];
    return s == NN_TARGET_NO_SLOT ? NULL : &e->p->slots[s];
}

static const void *nn_target__ec_wdata(const nn_target__ec *e, const nn_target_slot *s) {
    return s->region == NN_TARGET_REGION_WEIGHTS ? (const void *)(e->p->weights + s->offset) : NULL;
}

static uint64_t nn_target__ec_count(const nn_shape *s) {
    uint64_t n = 1;
    int32_t r;
    for (r = 0; r < s->rank; r++) n *= (uint64_t)s->dims[r];
    return n;
}

/* A float as a C99 hexadecimal constant: exact. */
static const char *nn_target__ec_flt(float v, char *out, size_t cap) {
    if (v != v) snprintf(out, cap, "NAN");
    else if (isinf(v)) snprintf(out, cap, v > 0 ? "INFINITY" : "(-INFINITY)");
    else snprintf(out, cap, "%af", (double)v);
    return out;
}

/* Writes count values of dtype t from data as a const array named name. */
static void nn_target__ec_array(nn_target__ec *e, const char *name, nn_dtype t, const void *data, uint64_t count) {
    uint64_t i;
    char f[48];
    if (!e->fn) return;
    nn_target__ec_put(e, "static const %s %s[%llu] = {", nn_target__ec_ctype(t), name,
                      (unsigned long long)(count ? count : 1));
    for (i = 0; i < count && e->st == NN_OK; i++) {
        if (i % 24 == 0) nn_target__ec_put(e, "\n   ");
        switch (t) {
        case NN_DTYPE_FLOAT: {
            float v;
            memcpy(&v, (const char *)data + 4 * i, 4);
            nn_target__ec_put(e, " %s,", nn_target__ec_flt(v, f, sizeof f));
            break;
        }
        case NN_DTYPE_INT8: nn_target__ec_put(e, "%d,", ((const int8_t *)data)[i]); break;
        case NN_DTYPE_UINT8: case NN_DTYPE_BOOL: nn_target__ec_put(e, "%u,", ((const uint8_t *)data)[i]); break;
        case NN_DTYPE_INT16: { int16_t v; memcpy(&v, (const char *)data + 2 * i, 2); nn_target__ec_put(e, "%d,", v); break; }
        case NN_DTYPE_UINT16: { uint16_t v; memcpy(&v, (const char *)data + 2 * i, 2); nn_target__ec_put(e, "%u,", v); break; }
        case NN_DTYPE_INT32: {
            int32_t v;
            memcpy(&v, (const char *)data + 4 * i, 4);
            if (v == INT32_MIN) nn_target__ec_put(e, "INT32_MIN,");
            else nn_target__ec_put(e, "%ld,", (long)v);
            break;
        }
        case NN_DTYPE_UINT32: { uint32_t v; memcpy(&v, (const char *)data + 4 * i, 4); nn_target__ec_put(e, "%luu,", (unsigned long)v); break; }
        case NN_DTYPE_INT64: {
            int64_t v;
            memcpy(&v, (const char *)data + 8 * i, 8);
            if (v == INT64_MIN) nn_target__ec_put(e, "INT64_MIN,");
            else nn_target__ec_put(e, "INT64_C(%lld),", (long long)v);
            break;
        }
        default: break;
        }
    }
    if (!count) nn_target__ec_put(e, "0");
    nn_target__ec_put(e, "\n};\n");
}

/* The const array of every weights-region operand of the current
   instruction that reads one (emitted once per slot). */
static nn_status nn_target__ec_consts_of(nn_target__ec *e, uint64_t mask) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    uint32_t k;
    char name[32], cm[160];
    for (k = 0; k < I->in_count; k++) {
        uint32_t s = e->p->operands[I->first_operand + k];
        const nn_target_slot *sl;
        if (s == NN_TARGET_NO_SLOT || (k < 64 && !((mask >> k) & 1u))) continue;
        sl = &e->p->slots[s];
        if (sl->region != NN_TARGET_REGION_WEIGHTS || e->done[s]) continue;
        if (!nn_target__ec_ctype(sl->dtype)) return nn_target__ec_unsup(e, "a constant of an unsupported dtype");
        e->done[s] = 1;
        snprintf(name, sizeof name, "nn_c%u", s);
        nn_target__ec_put(e, "/* %s */\n", nn_target__ec_safe(sl->name, cm, sizeof cm));
        nn_target__ec_array(e, name, sl->dtype, e->p->weights + sl->offset, nn_target__ec_count(&sl->shape));
    }
    return e->st;
}

/* Every constant operand (the ones an instruction's C reads). */
static nn_status nn_target__ec_consts(nn_target__ec *e) {
    return nn_target__ec_consts_of(e, ~(uint64_t)0);
}

/* Opens nested loops over shape `out` (row-major) and declares, inside,
   size_t e (the output element) and, for each operand shape in[j]
   broadcast to `out` (numpy rules), size_t e<j> (its element).  Returns
   the number of braces to close. */
static int nn_target__ec_loops(nn_target__ec *e, const nn_shape *out, int n_in, const nn_shape *const *in) {
    int32_t r, R = out->rank;
    int j;
    nn_target__ec_put(e, "    size_t e = 0;\n");
    for (r = 0; r < R; r++) nn_target__ec_put(e, "    size_t i%d;\n", (int)r);
    for (r = 0; r < R; r++)
        nn_target__ec_put(e, "%*sfor (i%d = 0; i%d < %lld; i%d++) {\n", 4 + 4 * (int)r, "", (int)r, (int)r,
                          (long long)out->dims[r], (int)r);
    for (j = 0; j < n_in; j++) {
        const nn_shape *s = in[j];
        int32_t off = R - s->rank;
        int64_t acc = 1;
        char expr[512];
        size_t len = 0;
        int same = s->rank == R;
        for (r = 0; same && r < R; r++) same = s->dims[r] == out->dims[r];
        if (same) {
            nn_target__ec_put(e, "%*sconst size_t e%d = e;\n", 4 + 4 * (int)R, "", j);
            continue;
        }
        expr[0] = '0';
        expr[1] = 0;
        for (r = R - 1; r >= 0; r--) {
            int64_t sd = r - off >= 0 ? s->dims[r - off] : 1;
            if (sd != 1 && len + 40 < sizeof expr) {
                len += (size_t)snprintf(expr + len, sizeof expr - len, "%si%d * %lld", len ? " + " : "", (int)r, (long long)acc);
            }
            acc *= sd;
        }
        nn_target__ec_put(e, "%*sconst size_t e%d = %s;\n", 4 + 4 * (int)R, "", j, expr);
    }
    return (int)R;
}

static void nn_target__ec_close(nn_target__ec *e, int R) {
    int r;
    nn_target__ec_put(e, "%*se++;\n", 4 + 4 * R, "");
    for (r = R - 1; r >= 0; r--) nn_target__ec_put(e, "%*s}\n", 4 + 4 * r, "");
}

/* ---- integer instructions ---- */

/* zero point as seen on the stored bytes: a uint8 operand's kernel zero
   point was moved by -128 (its bytes are flipped in the simulator). */
static int32_t nn_target__ec_zp(const nn_target_slot *s, int32_t zp) {
    return s->dtype == NN_DTYPE_UINT8 ? zp + 128 : zp;
}

/* "Y[idx] = (int8_t)(v)" or the uint8 form (top bit flipped back). */
static void nn_target__ec_store(nn_target__ec *e, const char *y, const char *v) {
    const nn_target_slot *sy = nn_target__ec_slot(e, e->p->instrs[e->instr].in_count);
    if (sy->dtype == NN_DTYPE_UINT8) nn_target__ec_put(e, "%s = (uint8_t)(%s + 128);\n", y, v);
    else if (sy->dtype == NN_DTYPE_INT16) nn_target__ec_put(e, "%s = (int16_t)(%s);\n", y, v);
    else nn_target__ec_put(e, "%s = (int8_t)(%s);\n", y, v);
}

/* Writes "    <indent>Y = store(v);" for the output at index idx. */
static void nn_target__ec_store_at(nn_target__ec *e, int indent, const char *idx, const char *v) {
    char ys[256];
    nn_target__ec_at(e, e->p->instrs[e->instr].in_count, idx, ys, sizeof ys);
    nn_target__ec_put(e, "%*s", indent, "");
    nn_target__ec_store(e, ys, v);
}

/* The result r of a conv / gemm (int16 from the 16-bit kernel, int8 from
   the 8-bit one) stored at idx: as it is, or with a fused activation
   (NN_TARGET_INSTR_ACT / ACT8) through its table nn_t<i> of output bytes
   over the inputs p[22] .. p[23]. */
static void nn_target__ec_store_r(nn_target__ec *e, int indent, const char *idx) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    char ys[256];
    if (!(I->flags & (NN_TARGET_INSTR_ACT | NN_TARGET_INSTR_ACT8))) { nn_target__ec_store_at(e, indent, idx, "r"); return; }
    nn_target__ec_at(e, I->in_count, idx, ys, sizeof ys);
    nn_target__ec_put(e, "%*s%s = nn_t%u[(r < %d ? %d : r > %d ? %d : r) - %d];\n", indent, "", ys, e->instr, I->p[22], I->p[22],
                      I->p[23], I->p[23], I->p[22]);
}

/* The instruction's 8-bit output table over lo .. hi as a dense C array
   nn_t<i> in the output's type (runs expanded). */
static void nn_target__ec_table8(nn_target__ec *e, int32_t lo, int32_t hi) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const uint8_t *t = e->p->weights + I->table;
    nn_dtype dt = nn_target__ec_slot(e, I->in_count)->dtype;
    uint32_t R, r = 0;
    int32_t v;
    char nm[32];
    snprintf(nm, sizeof nm, "nn_t%u", e->instr);
    if (!(I->flags & NN_TARGET_INSTR_RUNS)) { nn_target__ec_array(e, nm, dt, t, (uint64_t)(hi - lo) + 1); return; }
    if (!e->fn) return;
    R = nn_target__r32(t);
    nn_target__ec_put(e, "static const %s %s[%ld] = {", nn_target__ec_ctype(dt), nm, (long)(hi - lo) + 1);
    for (v = lo; v <= hi && e->st == NN_OK; v++) {
        uint8_t y;
        while (r + 1 < R && nn_target__r16s(t + 6 + 2 * r) <= v) r++;
        y = t[4 + 2 * R + r];
        if ((v - lo) % 24 == 0) nn_target__ec_put(e, "\n   ");
        if (dt == NN_DTYPE_INT8) nn_target__ec_put(e, "%d,", (int8_t)y);
        else nn_target__ec_put(e, "%u,", y);
    }
    nn_target__ec_put(e, "\n};\n");
}

/* A fused activation's table as a C array in the output's type. */
static void nn_target__ec_act_table(nn_target__ec *e) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    if (!(I->flags & (NN_TARGET_INSTR_ACT | NN_TARGET_INSTR_ACT8))) return;
    nn_target__ec_table8(e, I->p[22], I->p[23]);
}

/* The multiplier pair of entry i as C text: literals from the weights. */
static void nn_target__ec_mult(const nn_target__ec *e, uint32_t i, char *out, size_t cap) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    int32_t m[2];
    memcpy(m, e->p->weights + I->mult + 8 * (uint64_t)i, 8);
    snprintf(out, cap, "%ld, %ld", (long)m[0], (long)m[1]);
}

/* The conv body for M/group a multiple of 4: four output channels per
   pass share each input load (the order of the int32 sums changes nothing:
   they cannot overflow, see nn_quant_conv_s8). */
static void nn_target__ec_conv4(nn_target__ec *e, const nn_quant_conv_params *c, int32_t zp) {
    const int32_t cg = c->c / c->group, mg = c->m / c->group, K = cg * c->kh * c->kw;
    char ix[160], xs[256], bias[48];
    int j;
    nn_target__ec_put(e, "    int32_t n, g, mo, ci, kh, kw, oh, ow, j;\n");
    nn_target__ec_put(e, "    for (n = 0; n < %d; n++)\n        for (g = 0; g < %d; g++)\n", c->n, c->group);
    nn_target__ec_put(e, "            for (mo = 0; mo < %d; mo += 4) {\n                const int32_t oc = g * %d + mo;\n", mg, mg);
    nn_target__ec_put(e, "                const int8_t *wk = nn_w%u + (size_t)oc * %d;\n", e->instr, K);
    nn_target__ec_put(e, "                for (oh = 0; oh < %d; oh++) {\n", c->oh);
    nn_target__ec_put(e, "                    for (ow = 0; ow < %d; ow++) nn_acc[ow] = 0;\n", 4 * c->ow);
    nn_target__ec_put(e, "                    for (ci = 0; ci < %d; ci++) {\n", cg);
    nn_target__ec_put(e, "                        const size_t xb = ((size_t)n * %d + (size_t)g * %d + (size_t)ci) * %lld;\n", c->c,
                      cg, (long long)c->h * c->w);
    nn_target__ec_put(e, "                        for (kh = 0; kh < %d; kh++) {\n", c->kh);
    nn_target__ec_put(e, "                            const int32_t ih = oh * %d - %d + kh * %d;\n", c->stride_h, c->pad_top, c->dil_h);
    nn_target__ec_put(e, "                            if (ih < 0 || ih >= %d) continue;\n", c->h);
    nn_target__ec_put(e, "                            for (kw = 0; kw < %d; kw++) {\n", c->kw);
    nn_target__ec_put(e, "                                const int32_t t = (ci * %d + kh) * %d + kw, iw0 = kw * %d - %d;\n", c->kh,
                      c->kw, c->dil_w, c->pad_left);
    nn_target__ec_put(e, "                                const int32_t w0 = wk[t], w1 = wk[%d + t], w2 = wk[%d + t], w3 = wk[%d + t];\n",
                      K, 2 * K, 3 * K);
    nn_target__ec_put(e, "                                const int32_t lo = iw0 >= 0 ? 0 : (-iw0 + %d) / %d;\n", c->stride_w - 1,
                      c->stride_w);
    nn_target__ec_put(e, "                                int32_t hi = %d - iw0 < 0 ? 0 : (%d - iw0) / %d + 1;\n", c->w - 1, c->w - 1,
                      c->stride_w);
    nn_target__ec_put(e, "                                if (hi > %d) hi = %d;\n", c->ow, c->ow);
    /* a row pointer and a plain int index: the loop vectorizes at -O3 */
    snprintf(ix, sizeof ix, "xb + (size_t)ih * %d", c->w);
    nn_target__ec_put(e, "                                const %s *xr = &%s;\n",
                      nn_target__ec_ctype(nn_target__ec_slot(e, 0)->dtype), nn_target__ec_at(e, 0, ix, xs, sizeof xs));
    nn_target__ec_put(e, "                                for (ow = lo; ow < hi; ow++) {\n"
                         "                                    const int32_t v = xr[iw0 + ow * %d] - %d;\n", c->stride_w, zp);
    nn_target__ec_put(e, "                                    nn_acc[ow] += w0 * v;\n");
    for (j = 1; j < 4; j++) nn_target__ec_put(e, "                                    nn_acc[%d + ow] += w%d * v;\n", j * c->ow, j);
    nn_target__ec_put(e, "                                }\n                            }\n                        }\n                    }\n");
    nn_target__ec_put(e, "                    for (j = 0; j < 4; j++)\n                        for (ow = 0; ow < %d; ow++) {\n", c->ow);
    if (e->p->instrs[e->instr].bias != NN_TARGET_NO_OFFSET) snprintf(bias, sizeof bias, "nn_b%u[oc + j]", e->instr);
    else snprintf(bias, sizeof bias, "0");
    nn_target__ec_put(e, "                            const int32_t r = nn_rq((int64_t)nn_acc[j * %d + ow] + %s, nn_m%u[2 * (oc + j)],"
                         " nn_m%u[2 * (oc + j) + 1], %d, %d, %d);\n", c->ow, bias, e->instr, e->instr, c->out_zp, c->act_min,
                      c->act_max);
    snprintf(ix, sizeof ix, "((size_t)n * %d + (size_t)(oc + j)) * %lld + (size_t)oh * %d + (size_t)ow", c->m,
             (long long)c->oh * c->ow, c->ow);
    nn_target__ec_store_r(e, 28, ix);
    nn_target__ec_put(e, "                        }\n                }\n            }\n}\n\n");
}

/* A 1x1, stride-1, unpadded conv with M/group a multiple of 4 reads each
   channel plane as one contiguous run: blocks of up to 256 pixels, four
   output channels per pass (nn_quant_conv_s8's own blocking). */
static int nn_target__ec_pointwise(const nn_quant_conv_params *c) {
    return c->kh == 1 && c->kw == 1 && c->stride_h == 1 && c->stride_w == 1 && c->pad_top == 0 && c->pad_left == 0 &&
           c->oh == c->h && c->ow == c->w && (c->m / c->group) % 4 == 0;
}

static void nn_target__ec_conv_pw(nn_target__ec *e, const nn_quant_conv_params *c, int32_t zp) {
    const int32_t cg = c->c / c->group, mg = c->m / c->group;
    const long long hw = (long long)c->h * c->w;
    char ix[160], xs[256], bias[48];
    nn_target__ec_put(e, "    int32_t n, g, mo, ci, j;\n    size_t p0, p, pn;\n");
    nn_target__ec_put(e, "    for (n = 0; n < %d; n++)\n        for (g = 0; g < %d; g++)\n", c->n, c->group);
    nn_target__ec_put(e, "            for (p0 = 0; p0 < %lld; p0 += 256) {\n                pn = %lld - p0 < 256 ? %lld - p0 : 256;\n",
                      hw, hw, hw);
    nn_target__ec_put(e, "                for (mo = 0; mo < %d; mo += 4) {\n                    const int32_t oc = g * %d + mo;\n", mg, mg);
    nn_target__ec_put(e, "                    const int8_t *wk = nn_w%u + (size_t)oc * %d;\n", e->instr, cg);
    nn_target__ec_put(e, "                    for (p = 0; p < 4 * 256; p++) nn_acc[p] = 0;\n");
    nn_target__ec_put(e, "                    for (ci = 0; ci < %d; ci++) {\n", cg);
    nn_target__ec_put(e, "                        const int32_t w0 = wk[ci], w1 = wk[%d + ci], w2 = wk[%d + ci], w3 = wk[%d + ci];\n",
                      cg, 2 * cg, 3 * cg);
    snprintf(ix, sizeof ix, "((size_t)n * %d + (size_t)g * %d + (size_t)ci) * %lld + p0", c->c, cg, hw);
    nn_target__ec_put(e, "                        const %s *xr = &%s;\n", nn_target__ec_ctype(nn_target__ec_slot(e, 0)->dtype),
                      nn_target__ec_at(e, 0, ix, xs, sizeof xs));
    nn_target__ec_put(e, "                        for (p = 0; p < pn; p++) {\n                            const int32_t v = xr[p] - %d;\n", zp);
    nn_target__ec_put(e, "                            nn_acc[p] += w0 * v;\n                            nn_acc[256 + p] += w1 * v;\n"
                         "                            nn_acc[512 + p] += w2 * v;\n                            nn_acc[768 + p] += w3 * v;\n"
                         "                        }\n                    }\n");
    nn_target__ec_put(e, "                    for (j = 0; j < 4; j++)\n                        for (p = 0; p < pn; p++) {\n");
    if (e->p->instrs[e->instr].bias != NN_TARGET_NO_OFFSET) snprintf(bias, sizeof bias, "nn_b%u[oc + j]", e->instr);
    else snprintf(bias, sizeof bias, "0");
    nn_target__ec_put(e, "                            const int32_t r = nn_rq((int64_t)nn_acc[j * 256 + p] + %s, nn_m%u[2 * (oc + j)],"
                         " nn_m%u[2 * (oc + j) + 1], %d, %d, %d);\n", bias, e->instr, e->instr, c->out_zp, c->act_min, c->act_max);
    snprintf(ix, sizeof ix, "((size_t)n * %d + (size_t)(oc + j)) * %lld + p0 + p", c->m, hw);
    nn_target__ec_store_r(e, 28, ix);
    nn_target__ec_put(e, "                        }\n                }\n            }\n}\n\n");
}

/* The constants of a conv or gemm instruction: weights (count int8
   values), bias (n) and multipliers (nm pairs) as C arrays. */
static void nn_target__ec_wbm(nn_target__ec *e, uint64_t count, uint64_t n, uint64_t nm) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    char nmv[32];
    snprintf(nmv, sizeof nmv, "nn_w%u", e->instr);
    nn_target__ec_array(e, nmv, NN_DTYPE_INT8, e->p->weights + I->w, count);
    if (I->bias != NN_TARGET_NO_OFFSET) {
        snprintf(nmv, sizeof nmv, "nn_b%u", e->instr);
        nn_target__ec_array(e, nmv, NN_DTYPE_INT32, e->p->weights + I->bias, n);
    }
    snprintf(nmv, sizeof nmv, "nn_m%u", e->instr);
    nn_target__ec_array(e, nmv, NN_DTYPE_INT32, e->p->weights + I->mult, 2 * nm);
}

/* A conv on int16 activations (nn_quant_conv_s16): direct loops, 64-bit
   accumulators in a static row, nn_rqw. */
static nn_status nn_target__ec_conv_wide(nn_target__ec *e, const nn_quant_conv_params *c) {
    nn_status st;
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const int32_t cg = c->c / c->group, mg = c->m / c->group, K = cg * c->kh * c->kw;
    char ix[160], xs[256], bias[48];
    e->uses |= NN_TARGET__EC_RQW;
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    nn_target__ec_wbm(e, (uint64_t)c->m * (uint64_t)K, (uint64_t)c->m, (uint64_t)c->m);
    nn_target__ec_act_table(e);
    nn_target__ec_put(e, "/* %u conv16 '%s': (%d,%d,%d,%d) -> (%d,%d,%d,%d), kernel %dx%d, stride %d,%d, dilation %d,%d, pads %d,%d,"
                         " group %d%s */\n", e->instr, e->nm, c->n, c->c, c->h, c->w, c->n, c->m, c->oh, c->ow, c->kh, c->kw,
                      c->stride_h, c->stride_w, c->dil_h, c->dil_w, c->pad_top, c->pad_left, c->group,
                      (I->flags & NN_TARGET_INSTR_ACT) ? ", activation fused (table to 8 bits)" : "");
    nn_target__ec_put(e, "static void nn_i%u(void) {\n    static int64_t acc[%d];\n    int32_t n, g, mo, ci, kh, kw, oh, ow;\n",
                      e->instr, c->ow);
    nn_target__ec_put(e, "    for (n = 0; n < %d; n++)\n        for (g = 0; g < %d; g++)\n", c->n, c->group);
    nn_target__ec_put(e, "            for (mo = 0; mo < %d; mo++) {\n                const int32_t oc = g * %d + mo;\n", mg, mg);
    nn_target__ec_put(e, "                const int8_t *wk = nn_w%u + (size_t)oc * %d;\n", e->instr, K);
    if (I->bias != NN_TARGET_NO_OFFSET) snprintf(bias, sizeof bias, "nn_b%u[oc]", e->instr);
    else snprintf(bias, sizeof bias, "0");
    nn_target__ec_put(e, "                for (oh = 0; oh < %d; oh++) {\n", c->oh);
    nn_target__ec_put(e, "                    for (ow = 0; ow < %d; ow++) acc[ow] = %s;\n", c->ow, bias);
    nn_target__ec_put(e, "                    for (ci = 0; ci < %d; ci++)\n", cg);
    nn_target__ec_put(e, "                        for (kh = 0; kh < %d; kh++) {\n", c->kh);
    nn_target__ec_put(e, "                            const int32_t ih = oh * %d - %d + kh * %d;\n", c->stride_h, c->pad_top, c->dil_h);
    nn_target__ec_put(e, "                            if (ih < 0 || ih >= %d) continue;\n", c->h);
    nn_target__ec_put(e, "                            for (kw = 0; kw < %d; kw++) {\n", c->kw);
    nn_target__ec_put(e, "                                const int64_t wv = wk[(ci * %d + kh) * %d + kw];\n", c->kh, c->kw);
    nn_target__ec_put(e, "                                for (ow = 0; ow < %d; ow++) {\n", c->ow);
    nn_target__ec_put(e, "                                    const int32_t iw = ow * %d - %d + kw * %d;\n", c->stride_w, c->pad_left,
                      c->dil_w);
    nn_target__ec_put(e, "                                    if (iw < 0 || iw >= %d) continue;\n", c->w);
    snprintf(ix, sizeof ix, "((size_t)n * %d + (size_t)g * %d + (size_t)ci) * %lld + (size_t)ih * %d + (size_t)iw", c->c, cg,
             (long long)c->h * c->w, c->w);
    nn_target__ec_put(e, "                                    acc[ow] += wv * (%s - %d);\n", nn_target__ec_at(e, 0, ix, xs, sizeof xs),
                      c->in_zp);
    nn_target__ec_put(e, "                                }\n                            }\n                        }\n");
    nn_target__ec_put(e, "                    for (ow = 0; ow < %d; ow++) {\n", c->ow);
    nn_target__ec_put(e, "                        const int32_t r = nn_rqw(acc[ow], nn_m%u[2 * oc], nn_m%u[2 * oc + 1], %d, %d, %d);\n",
                      e->instr, e->instr, c->out_zp, c->act_min, c->act_max);
    snprintf(ix, sizeof ix, "((size_t)n * %d + (size_t)oc) * %lld + (size_t)oh * %d + (size_t)ow", c->m,
             (long long)c->oh * c->ow, c->ow);
    nn_target__ec_store_r(e, 24, ix);
    nn_target__ec_put(e, "                    }\n                }\n            }\n}\n\n");
    return e->st;
}

/* A gemm on int16 activations (nn_quant_matmul_s16). */
static nn_status nn_target__ec_gemm_wide(nn_target__ec *e, const nn_quant_matmul_params *m) {
    nn_status st;
    const nn_target_instr *I = &e->p->instrs[e->instr];
    char ix[192], as[256], bias[48], mu[96];
    e->uses |= NN_TARGET__EC_RQW;
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    nn_target__ec_wbm(e, (uint64_t)m->k * (uint64_t)m->n, (uint64_t)m->n, (uint64_t)m->mult_count);
    nn_target__ec_act_table(e);
    if (I->bias != NN_TARGET_NO_OFFSET) snprintf(bias, sizeof bias, "nn_b%u[j]", e->instr);
    else snprintf(bias, sizeof bias, "0");
    if (m->mult_count > 1) snprintf(mu, sizeof mu, "nn_m%u[2 * j], nn_m%u[2 * j + 1]", e->instr, e->instr);
    else snprintf(mu, sizeof mu, "nn_m%u[0], nn_m%u[1]", e->instr, e->instr);
    nn_target__ec_put(e, "/* %u gemm16 '%s': (%d, %d) x (%d, %d) */\nstatic void nn_i%u(void) {\n    static int64_t acc[%d];\n"
                         "    size_t i, k, j;\n", e->instr, e->nm, m->m, m->k, m->k, m->n, e->instr, m->n);
    nn_target__ec_put(e, "    for (i = 0; i < %d; i++) {\n        for (j = 0; j < %d; j++) acc[j] = %s;\n", m->m, m->n, bias);
    nn_target__ec_put(e, "        for (k = 0; k < %d; k++) {\n", m->k);
    snprintf(ix, sizeof ix, "i * %d + k", m->k);
    nn_target__ec_put(e, "            const int64_t av = %s - %d;\n", nn_target__ec_at(e, 0, ix, as, sizeof as), m->a_zp);
    nn_target__ec_put(e, "            for (j = 0; j < %d; j++) acc[j] += av * nn_w%u[k * %d + j];\n        }\n", m->n, e->instr, m->n);
    nn_target__ec_put(e, "        for (j = 0; j < %d; j++) {\n", m->n);
    nn_target__ec_put(e, "            const int32_t r = nn_rqw(acc[j], %s, %d, %d, %d);\n", mu, m->out_zp, m->act_min, m->act_max);
    snprintf(ix, sizeof ix, "i * %d + j", m->n);
    nn_target__ec_store_r(e, 12, ix);
    nn_target__ec_put(e, "        }\n    }\n}\n\n");
    return e->st;
}

static nn_status nn_target__ec_conv(nn_target__ec *e) {
    nn_status st;
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0);
    nn_quant_conv_params c;
    int32_t cg, mg, K;
    char ix[160], xs[256], nm[32];
    memcpy(&c, I->p, sizeof c);
    cg = c.c / c.group;
    mg = c.m / c.group;
    K = cg * c.kh * c.kw;
    if (nn_target__ec_slot(e, 1)->dtype == NN_DTYPE_INT16 || (I->flags & NN_TARGET_INSTR_ACT))
        return nn_target__ec_conv_wide(e, &c); /* W8A16 or preact16, its activation fused or not */
    if ((uint64_t)c.ow * (mg % 4 == 0 ? 4 : 1) > e->acc) e->acc = (uint64_t)c.ow * (mg % 4 == 0 ? 4 : 1);
    if (nn_target__ec_pointwise(&c) && e->acc < 4 * 256) e->acc = 4 * 256;
    e->uses |= NN_TARGET__EC_RQ;
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    snprintf(nm, sizeof nm, "nn_w%u", e->instr);
    nn_target__ec_array(e, nm, NN_DTYPE_INT8, e->p->weights + I->w, (uint64_t)c.m * (uint64_t)K);
    if (I->bias != NN_TARGET_NO_OFFSET) {
        snprintf(nm, sizeof nm, "nn_b%u", e->instr);
        nn_target__ec_array(e, nm, NN_DTYPE_INT32, e->p->weights + I->bias, (uint64_t)c.m);
    }
    snprintf(nm, sizeof nm, "nn_m%u", e->instr);
    nn_target__ec_array(e, nm, NN_DTYPE_INT32, e->p->weights + I->mult, 2 * (uint64_t)c.m);
    nn_target__ec_act_table(e);
    nn_target__ec_put(e, "/* %u conv '%s': (%d,%d,%d,%d) -> (%d,%d,%d,%d), kernel %dx%d, stride %d,%d, dilation %d,%d, pads %d,%d,"
                         " group %d */\n", e->instr, e->nm, c.n, c.c, c.h, c.w, c.n, c.m, c.oh, c.ow, c.kh, c.kw,
                      c.stride_h, c.stride_w, c.dil_h, c.dil_w, c.pad_top, c.pad_left, c.group);
    nn_target__ec_put(e, "static void nn_i%u(void) {\n", e->instr);
    if (nn_target__ec_pointwise(&c)) {
        nn_target__ec_conv_pw(e, &c, nn_target__ec_zp(sx, c.in_zp));
        return e->st;
    }
    if (mg % 4 == 0) {
        nn_target__ec_conv4(e, &c, nn_target__ec_zp(sx, c.in_zp));
        return e->st;
    }
    nn_target__ec_put(e, "    int32_t n, g, mo, ci, kh, kw, oh, ow;\n");
    nn_target__ec_put(e, "    for (n = 0; n < %d; n++)\n        for (g = 0; g < %d; g++)\n", c.n, c.group);
    nn_target__ec_put(e, "            for (mo = 0; mo < %d; mo++) {\n                const int32_t oc = g * %d + mo;\n", mg, mg);
    nn_target__ec_put(e, "                const int8_t *wk = nn_w%u + (size_t)oc * %d;\n", e->instr, K);
    nn_target__ec_put(e, "                for (oh = 0; oh < %d; oh++) {\n", c.oh);
    nn_target__ec_put(e, "                    for (ow = 0; ow < %d; ow++) nn_acc[ow] = 0;\n", c.ow);
    nn_target__ec_put(e, "                    for (ci = 0; ci < %d; ci++) {\n", cg);
    nn_target__ec_put(e, "                        const size_t xb = ((size_t)n * %d + (size_t)g * %d + (size_t)ci) * %lld;\n", c.c,
                      cg, (long long)c.h * c.w);
    nn_target__ec_put(e, "                        for (kh = 0; kh < %d; kh++) {\n", c.kh);
    nn_target__ec_put(e, "                            const int32_t ih = oh * %d - %d + kh * %d;\n", c.stride_h, c.pad_top, c.dil_h);
    nn_target__ec_put(e, "                            if (ih < 0 || ih >= %d) continue;\n", c.h);
    nn_target__ec_put(e, "                            for (kw = 0; kw < %d; kw++) {\n", c.kw);
    nn_target__ec_put(e, "                                const int32_t wv = wk[(ci * %d + kh) * %d + kw], iw0 = kw * %d - %d;\n", c.kh,
                      c.kw, c.dil_w, c.pad_left);
    nn_target__ec_put(e, "                                const int32_t lo = iw0 >= 0 ? 0 : (-iw0 + %d) / %d;\n", c.stride_w - 1,
                      c.stride_w);
    nn_target__ec_put(e, "                                int32_t hi = %d - iw0 < 0 ? 0 : (%d - iw0) / %d + 1;\n", c.w - 1, c.w - 1,
                      c.stride_w);
    nn_target__ec_put(e, "                                if (hi > %d) hi = %d;\n                                if (wv == 0) continue;\n",
                      c.ow, c.ow);
    snprintf(ix, sizeof ix, "xb + (size_t)ih * %d", c.w);
    nn_target__ec_put(e, "                                const %s *xr = &%s;\n", nn_target__ec_ctype(sx->dtype),
                      nn_target__ec_at(e, 0, ix, xs, sizeof xs));
    nn_target__ec_put(e, "                                for (ow = lo; ow < hi; ow++) nn_acc[ow] += wv * (xr[iw0 + ow * %d] - %d);\n",
                      c.stride_w, nn_target__ec_zp(sx, c.in_zp));
    nn_target__ec_put(e, "                            }\n                        }\n                    }\n");
    nn_target__ec_put(e, "                    for (ow = 0; ow < %d; ow++) {\n", c.ow);
    if (I->bias != NN_TARGET_NO_OFFSET) snprintf(nm, sizeof nm, "nn_b%u[oc]", e->instr);
    else snprintf(nm, sizeof nm, "0");
    nn_target__ec_put(e, "                        const int32_t r = nn_rq((int64_t)nn_acc[ow] + %s, nn_m%u[2 * oc], nn_m%u[2 * oc + 1],"
                         " %d, %d, %d);\n", nm, e->instr, e->instr, c.out_zp, c.act_min, c.act_max);
    snprintf(ix, sizeof ix, "((size_t)n * %d + (size_t)oc) * %lld + (size_t)oh * %d + (size_t)ow", c.m,
             (long long)c.oh * c.ow, c.ow);
    nn_target__ec_store_r(e, 24, ix);
    nn_target__ec_put(e, "                    }\n                }\n            }\n}\n\n");
    return e->st;
}

/* Gemm (constant B packed (K, N)) and MatMul (two activations), batched. */
static nn_status nn_target__ec_matmul(nn_target__ec *e) {
    nn_status st;
    const nn_target_instr *I = &e->p->instrs[e->instr];
    int gemm = I->op == NN_TARGET_OP_GEMM;
    nn_quant_matmul_params m;
    long long batches = I->p[20], bb = I->p[21];
    char ix[192], as[256], bs[256], nm[32], mu[64];
    memcpy(&m, I->p, sizeof m);
    if (gemm && (nn_target__ec_slot(e, 1)->dtype == NN_DTYPE_INT16 || (I->flags & NN_TARGET_INSTR_ACT)))
        return nn_target__ec_gemm_wide(e, &m); /* W8A16 or preact16, its activation fused or not */
    if ((uint64_t)m.n > e->acc) e->acc = (uint64_t)m.n;
    e->uses |= NN_TARGET__EC_RQ;
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    if (gemm) {
        snprintf(nm, sizeof nm, "nn_w%u", e->instr);
        nn_target__ec_array(e, nm, NN_DTYPE_INT8, e->p->weights + I->w, (uint64_t)m.k * (uint64_t)m.n);
    }
    if (I->bias != NN_TARGET_NO_OFFSET) {
        snprintf(nm, sizeof nm, "nn_b%u", e->instr);
        nn_target__ec_array(e, nm, NN_DTYPE_INT32, e->p->weights + I->bias, (uint64_t)m.n);
    }
    if (m.mult_count > 1) {
        snprintf(nm, sizeof nm, "nn_m%u", e->instr);
        nn_target__ec_array(e, nm, NN_DTYPE_INT32, e->p->weights + I->mult, 2 * (uint64_t)m.mult_count);
        snprintf(mu, sizeof mu, "nn_m%u[2 * j], nn_m%u[2 * j + 1]", e->instr, e->instr);
    } else {
        nn_target__ec_mult(e, 0, mu, sizeof mu);
    }
    nn_target__ec_act_table(e);
    nn_target__ec_put(e, "/* %u %s '%s': %lld x (%d, %d) x (%d, %d) */\nstatic void nn_i%u(void) {\n    size_t bi, i, k, j;\n",
                      e->instr, gemm ? "gemm" : "matmul", e->nm, batches, m.m, m.k, m.k, m.n, e->instr);
    nn_target__ec_put(e, "    for (bi = 0; bi < %lld; bi++)\n        for (i = 0; i < %d; i++) {\n", batches, m.m);
    nn_target__ec_put(e, "            for (j = 0; j < %d; j++) nn_acc[j] = 0;\n            for (k = 0; k < %d; k++) {\n", m.n, m.k);
    snprintf(ix, sizeof ix, "bi * %lld + i * %d + k", (long long)m.m * m.k, m.k);
    nn_target__ec_put(e, "                const int32_t av = %s - %d;\n                if (av == 0) continue;\n",
                      nn_target__ec_at(e, 0, ix, as, sizeof as), nn_target__ec_zp(nn_target__ec_slot(e, 0), m.a_zp));
    if (gemm) {
        snprintf(bs, sizeof bs, "nn_w%u[k * %d + j] - %d", e->instr, m.n, m.b_zp);
    } else {
        char b1[256];
        snprintf(ix, sizeof ix, "%s%lld + k * %d + j", bb > 1 ? "bi * " : "0 * bi + ", (long long)m.k * m.n, m.n);
        snprintf(bs, sizeof bs, "%s - %d", nn_target__ec_at(e, 1, ix, b1, sizeof b1),
                 nn_target__ec_zp(nn_target__ec_slot(e, 1), m.b_zp));
    }
    nn_target__ec_put(e, "                for (j = 0; j < %d; j++) nn_acc[j] += av * (%s);\n            }\n", m.n, bs);
    nn_target__ec_put(e, "            for (j = 0; j < %d; j++) {\n", m.n);
    if (I->bias != NN_TARGET_NO_OFFSET) snprintf(nm, sizeof nm, "nn_b%u[j]", e->instr);
    else snprintf(nm, sizeof nm, "0");
    nn_target__ec_put(e, "                const int32_t r = nn_rq((int64_t)nn_acc[j] + %s, %s, %d, %d, %d);\n", nm, mu, m.out_zp,
                      m.act_min, m.act_max);
    snprintf(ix, sizeof ix, "bi * %lld + i * %d + j", (long long)m.m * m.n, m.n);
    nn_target__ec_store_r(e, 16, ix);
    nn_target__ec_put(e, "            }\n        }\n}\n\n");
    return e->st;
}

/* Add / Sub (TFLite's shifted rescale) and Mul, with broadcasting. */
static nn_status nn_target__ec_eltwise(nn_target__ec *e) {
    nn_status st;
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sa = nn_target__ec_slot(e, 0), *sb = nn_target__ec_slot(e, 1), *sy = nn_target__ec_slot(e, 2);
    const nn_shape *sh[2];
    nn_quant_eltwise_params q;
    char as[256], bs[256], v[1024];
    int R;
    const char *rq = sy->dtype == NN_DTYPE_INT16 ? "nn_rqw" : "nn_rq"; /* 16-bit: the sum or product may pass 2^31 */
    /* 8-bit programs hold uint8 zero points moved by -128 (operands flipped); 16-bit ones read operands as they are */
    const int32_t zpa = sy->dtype == NN_DTYPE_INT16 ? ((const nn_quant_eltwise_params *)(const void *)I->p)->a_zp : 0;
    const int32_t zpb = sy->dtype == NN_DTYPE_INT16 ? ((const nn_quant_eltwise_params *)(const void *)I->p)->b_zp : 0;
    memcpy(&q, I->p, sizeof q);
    e->uses |= (sy->dtype == NN_DTYPE_INT16 ? (uint32_t)NN_TARGET__EC_RQW : (uint32_t)NN_TARGET__EC_RQ) |
               (I->op == NN_TARGET_OP_MUL ? 0u : (uint32_t)NN_TARGET__EC_MS);
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    sh[0] = (I->flags & NN_TARGET_INSTR_A_BCAST) ? &sa->shape : &sy->shape;
    sh[1] = (I->flags & NN_TARGET_INSTR_B_BCAST) ? &sb->shape : &sy->shape;
    nn_target__ec_put(e, "/* %u %s '%s' */\nstatic void nn_i%u(void) {\n", e->instr, nn_target_op_name(I->op), e->nm, e->instr);
    R = nn_target__ec_loops(e, &sy->shape, 2, sh);
    nn_target__ec_at(e, 0, "e0", as, sizeof as);
    nn_target__ec_at(e, 1, "e1", bs, sizeof bs);
    if (I->op == NN_TARGET_OP_MUL)
        snprintf(v, sizeof v, "%s((int64_t)(%s - %d) * (%s - %d), %ld, %ld, %d, %d, %d)", rq, as,
                 sy->dtype == NN_DTYPE_INT16 ? zpa : nn_target__ec_zp(sa, q.a_zp), bs,
                 sy->dtype == NN_DTYPE_INT16 ? zpb : nn_target__ec_zp(sb, q.b_zp), (long)q.out_mult.m, (long)q.out_mult.shift, q.out_zp, q.act_min, q.act_max);
    else
        snprintf(v, sizeof v,
                 "%s((int64_t)nn_ms((int64_t)(%s - %d) * %ld, %ld, %ld) %c (int64_t)nn_ms((int64_t)(%s - %d) * %ld, %ld, %ld),"
                 " %ld, %ld, %d, %d, %d)",
                 rq, as, sy->dtype == NN_DTYPE_INT16 ? zpa : nn_target__ec_zp(sa, q.a_zp), 1L << q.left_shift, (long)q.a_mult.m,
                 (long)q.a_mult.shift, I->op == NN_TARGET_OP_ADD ? '+' : '-', bs,
                 sy->dtype == NN_DTYPE_INT16 ? zpb : nn_target__ec_zp(sb, q.b_zp), 1L << q.left_shift, (long)q.b_mult.m,
                 (long)q.b_mult.shift, (long)q.out_mult.m, (long)q.out_mult.shift, q.out_zp, q.act_min, q.act_max);
    nn_target__ec_store_at(e, 4 + 4 * R, "e", v);
    nn_target__ec_close(e, R);
    nn_target__ec_put(e, "}\n\n");
    return e->st;
}

static nn_status nn_target__ec_avgpool(nn_target__ec *e) {
    nn_status st;
    const nn_target_instr *I = &e->p->instrs[e->instr];
    nn_quant_pool_params q;
    char ix[192], xs[256], nm[32];
    const int wide = nn_target__ec_slot(e, 0)->dtype == NN_DTYPE_INT16; /* W8A16: nn_rqw */
    memcpy(&q, I->p, sizeof q);
    e->uses |= wide ? (uint32_t)NN_TARGET__EC_RQW : (uint32_t)NN_TARGET__EC_RQ;
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    snprintf(nm, sizeof nm, "nn_m%u", e->instr);
    nn_target__ec_array(e, nm, NN_DTYPE_INT32, e->p->weights + I->mult, 2 * ((uint64_t)q.kh * q.kw + 1));
    nn_target__ec_put(e, "/* %u avgpool '%s': (%d,%d,%d,%d) -> (%d,%d), kernel %dx%d, stride %d,%d, pads %d,%d */\n", e->instr,
                      e->nm, q.n, q.c, q.h, q.w, q.oh, q.ow, q.kh, q.kw, q.stride_h, q.stride_w, q.pad_top, q.pad_left);
    nn_target__ec_put(e, "static void nn_i%u(void) {\n    int32_t n, c, oh, ow, kh, kw;\n", e->instr);
    nn_target__ec_put(e, "    for (n = 0; n < %d; n++)\n        for (c = 0; c < %d; c++) {\n", q.n, q.c);
    nn_target__ec_put(e, "            const size_t xb = ((size_t)n * %d + (size_t)c) * %lld, yb = ((size_t)n * %d + (size_t)c) * %lld;\n",
                      q.c, (long long)q.h * q.w, q.c, (long long)q.oh * q.ow);
    nn_target__ec_put(e, "            for (oh = 0; oh < %d; oh++)\n                for (ow = 0; ow < %d; ow++) {\n", q.oh, q.ow);
    nn_target__ec_put(e, "                    int64_t sum = 0;\n                    int32_t cnt = 0, r;\n");
    nn_target__ec_put(e, "                    for (kh = 0; kh < %d; kh++) {\n", q.kh);
    nn_target__ec_put(e, "                        const int32_t ih = oh * %d - %d + kh;\n", q.stride_h, q.pad_top);
    nn_target__ec_put(e, "                        if (ih < 0 || ih >= %d) continue;\n", q.h);
    nn_target__ec_put(e, "                        for (kw = 0; kw < %d; kw++) {\n", q.kw);
    nn_target__ec_put(e, "                            const int32_t iw = ow * %d - %d + kw;\n", q.stride_w, q.pad_left);
    nn_target__ec_put(e, "                            if (iw < 0 || iw >= %d) continue;\n", q.w);
    snprintf(ix, sizeof ix, "xb + (size_t)ih * %d + (size_t)iw", q.w);
    nn_target__ec_put(e, "                            sum += %s - %d;\n                            cnt++;\n",
                      nn_target__ec_at(e, 0, ix, xs, sizeof xs), nn_target__ec_zp(nn_target__ec_slot(e, 0), q.in_zp));
    nn_target__ec_put(e, "                        }\n                    }\n");
    if (q.count_include_pad) nn_target__ec_put(e, "                    cnt = %d;\n", q.kh * q.kw);
    nn_target__ec_put(e, "                    r = %s(sum, nn_m%u[2 * cnt], nn_m%u[2 * cnt + 1], %d, %d, %d);\n",
                      wide ? "nn_rqw" : "nn_rq", e->instr, e->instr, q.out_zp, q.act_min, q.act_max);
    snprintf(ix, sizeof ix, "yb + (size_t)oh * %d + (size_t)ow", q.ow);
    nn_target__ec_store_at(e, 20, ix, "r");
    nn_target__ec_put(e, "                }\n        }\n}\n\n");
    return e->st;
}

/* YUV420SP frame -> the model's quantized planes: nn_yuv (the exact
   integer arithmetic of nn_target_yuv_pixel) per pixel, then the
   instruction's table in the output's type (int8, uint8 or int16). */
static nn_status nn_target__ec_yuv(nn_target__ec *e) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sy = nn_target__ec_slot(e, 1);
    const int32_t *q = I->p;
    char cs[256], nm[32];
    int k;
    long long hw = (long long)q[1] * q[2];
    if (!sy || (sy->dtype != NN_DTYPE_INT8 && sy->dtype != NN_DTYPE_UINT8 && sy->dtype != NN_DTYPE_INT16))
        return nn_target__ec_unsup(e, "a yuv output that is not int8, uint8 or int16");
    e->uses |= NN_TARGET__EC_YUV;
    if (!e->fn) return NN_OK;
    snprintf(nm, sizeof nm, "nn_t%u", e->instr);
    nn_target__ec_array(e, nm, sy->dtype, e->p->weights + I->table, 3 * 256);
    nn_target__ec_put(e, "/* %u yuv '%s': %s %s range, frame (%d, %d, %d) -> planes %s (%d, 3, %d, %d) */\n", e->instr, e->nm,
                      q[3] ? "NV21" : "NV12", q[4] ? "limited" : "full", q[0], q[1] / 2 * 3, q[2], q[5] ? "B,G,R" : "R,G,B",
                      q[0], q[1], q[2]);
    nn_target__ec_put(e, "static void nn_i%u(void) {\n    size_t b, i, j;\n    uint8_t rgb[3];\n", e->instr);
    nn_target__ec_put(e, "    for (b = 0; b < %d; b++)\n        for (i = 0; i < %d; i++)\n            for (j = 0; j < %d; j++) {\n",
                      q[0], q[1], q[2]);
    nn_target__ec_put(e, "                const size_t f = b * %lld, c = f + %lld + i / 2 * %d + j / 2 * 2, o = b * %lld + i * %d + j;\n",
                      hw / 2 * 3, hw, q[2], hw * 3, q[2]);
    {
        char yi[96], ui[64], vi[64], ys[256], us[256], vs[256];
        snprintf(yi, sizeof yi, "f + i * %d + j", q[2]);
        snprintf(ui, sizeof ui, "c + %d", q[3] ? 1 : 0);
        snprintf(vi, sizeof vi, "c + %d", q[3] ? 0 : 1);
        nn_target__ec_put(e, "                nn_yuv(%s, %s, %s, %d, rgb);\n", nn_target__ec_at(e, 0, yi, ys, sizeof ys),
                          nn_target__ec_at(e, 0, ui, us, sizeof us), nn_target__ec_at(e, 0, vi, vs, sizeof vs), q[4]);
    }
    for (k = 0; k < 3; k++) {
        char oi[64];
        snprintf(oi, sizeof oi, "o + %lld", (long long)k * hw);
        nn_target__ec_put(e, "                %s = nn_t%u[%d + rgb[%d]];\n", nn_target__ec_at(e, 1, oi, cs, sizeof cs), e->instr,
                          k * 256, q[5] ? 2 - k : k);
    }
    nn_target__ec_put(e, "            }\n}\n\n");
    return e->st;
}

/* LUT8: y = table[raw byte of x]; LUT16: y = table[x + 32768] (to int16,
   or to an 8-bit output from a table of output bytes). */
static nn_status nn_target__ec_lut(nn_target__ec *e) {
    nn_status st;
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, 1);
    int wide = I->op == NN_TARGET_OP_LUT16;
    char xs[256], ys[256], nm[32];
    if (wide && sx->dtype != NN_DTYPE_INT16) return nn_target__ec_unsup(e, "lut16 on non-int16");
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    snprintf(nm, sizeof nm, "nn_t%u", e->instr);
    /* the table in the output's type: its bytes are the output's bytes */
    if (wide && sy->dtype != NN_DTYPE_INT16) { /* to 8 bits: output bytes for the inputs p[0] .. p[1] */
        const int32_t lo = I->p[0], hi = I->p[1];
        nn_target__ec_table8(e, lo, hi);
        nn_target__ec_put(e, "/* %u lut16 '%s': int16 -> 8 bits, inputs clamped to %d .. %d */\n"
                             "static void nn_i%u(void) {\n    size_t e;\n    int32_t v;\n", e->instr, e->nm, lo, hi, e->instr);
        nn_target__ec_put(e, "    for (e = 0; e < %llu; e++) {\n        v = %s;\n", (unsigned long long)nn_target__ec_count(&sy->shape),
                          nn_target__ec_at(e, 0, "e", xs, sizeof xs));
        nn_target__ec_put(e, "        %s = nn_t%u[(v < %d ? %d : v > %d ? %d : v) - %d];\n    }\n}\n\n",
                          nn_target__ec_at(e, 1, "e", ys, sizeof ys), e->instr, lo, lo, hi, hi, lo);
        return e->st;
    }
    nn_target__ec_array(e, nm, sy->dtype, e->p->weights + I->table, wide ? 65536 : 256);
    nn_target__ec_put(e, "/* %u %s '%s' */\nstatic void nn_i%u(void) {\n    size_t e;\n", e->instr, nn_target_op_name(I->op),
                      e->nm, e->instr);
    nn_target__ec_put(e, "    for (e = 0; e < %llu; e++) %s = nn_t%u[%s%s%s];\n}\n\n",
                      (unsigned long long)nn_target__ec_count(&sy->shape), nn_target__ec_at(e, 1, "e", ys, sizeof ys), e->instr,
                      wide ? "" : "(uint8_t)", nn_target__ec_at(e, 0, "e", xs, sizeof xs), wide ? " + 32768" : "");
    return e->st;
}

/* ---- float islands (cpu instructions) ---- */

/* Per-tensor or per-axis geometry of a Q/DQ node: x as (outer, dim, inner). */
static nn_status nn_target__ec_qgeom(nn_target__ec *e, const nn_node *nd, int64_t opset, uint64_t *outer, uint64_t *dim,
                                     uint64_t *inner) {
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *ss = nn_target__ec_slot(e, 1);
    uint64_t sc = nn_target__ec_count(&ss->shape);
    int64_t axis = opset >= 13 ? nn_node_attr_int(nd, "axis", 1) : 1;
    int32_t r;
    if (opset >= 21 && nn_node_attr_int(nd, "block_size", 0) != 0) return nn_target__ec_unsup(e, "blocked quantization");
    if (ss->shape.rank <= 1 && sc == 1) {
        *outer = *dim = 1;
        *inner = nn_target__ec_count(&sx->shape);
        return NN_OK;
    }
    if (axis < 0) axis += sx->shape.rank;
    if (ss->shape.rank != 1 || axis < 0 || axis >= sx->shape.rank || sx->shape.dims[axis] != (int64_t)sc)
        return nn_target__ec_unsup(e, "a scale that is neither per-tensor nor per-axis");
    *outer = *inner = 1;
    for (r = 0; r < sx->shape.rank; r++) {
        if (r < axis) *outer *= (uint64_t)sx->shape.dims[r];
        if (r > axis) *inner *= (uint64_t)sx->shape.dims[r];
    }
    *dim = sc;
    return NN_OK;
}

/* QuantizeLinear, float32 x and scale to int8/uint8 (nn_graph.h's fast
   path) or int16 (its general path, which rounds x / s computed in double
   to float: the same float as x / s computed in float, double having more
   than 2 x 24 + 2 bits): v = rintf(x / s) + zp then the clamp (NaN -> lo).
   DequantizeLinear from int8/uint8/int16/int32 to float32. */
static nn_status nn_target__ec_quant(nn_target__ec *e, const nn_node *nd, int64_t opset, int dq) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *ss = nn_target__ec_slot(e, 1), *sy = nn_target__ec_slot(e, I->in_count);
    const nn_target_slot *sz = I->in_count > 2 ? nn_target__ec_slot(e, 2) : NULL;
    uint64_t outer, dim, inner;
    nn_status st;
    char xs[256], ys[256], f[48], sv[64], zv[64];
    if (!ss || ss->dtype != NN_DTYPE_FLOAT || ss->region != NN_TARGET_REGION_WEIGHTS)
        return nn_target__ec_unsup(e, "the scale must be a float32 constant");
    if (sz && sz->region != NN_TARGET_REGION_WEIGHTS) return nn_target__ec_unsup(e, "the zero point must be a constant");
    if (!dq && (sx->dtype != NN_DTYPE_FLOAT ||
                (sy->dtype != NN_DTYPE_INT8 && sy->dtype != NN_DTYPE_UINT8 && sy->dtype != NN_DTYPE_INT16) ||
                (opset >= 23 && nn_node_attr_int(nd, "precision", 0) != 0)))
        return nn_target__ec_unsup(e, "only float32 -> int8/uint8/int16 quantization");
    if (dq && (sy->dtype != NN_DTYPE_FLOAT || (sx->dtype != NN_DTYPE_INT8 && sx->dtype != NN_DTYPE_UINT8 &&
                                               sx->dtype != NN_DTYPE_INT16 && sx->dtype != NN_DTYPE_INT32)))
        return nn_target__ec_unsup(e, "only int8/uint8/int16/int32 -> float32 dequantization");
    if ((st = nn_target__ec_qgeom(e, nd, opset, &outer, &dim, &inner)) != NN_OK) return st;
    if (!e->fn) return NN_OK;
    if (dim > 1 && (st = nn_target__ec_consts(e)) != NN_OK) return st;
    if (dim == 1) {
        float s;
        memcpy(&s, nn_target__ec_wdata(e, ss), 4);
        snprintf(sv, sizeof sv, "%s", nn_target__ec_flt(s, f, sizeof f));
        snprintf(zv, sizeof zv, "0");
        if (sz && sz->dtype == NN_DTYPE_INT8) snprintf(zv, sizeof zv, "%d", *(const int8_t *)nn_target__ec_wdata(e, sz));
        if (sz && sz->dtype == NN_DTYPE_UINT8) snprintf(zv, sizeof zv, "%d", *(const uint8_t *)nn_target__ec_wdata(e, sz));
        if (sz && sz->dtype == NN_DTYPE_INT16) {
            int16_t z;
            memcpy(&z, nn_target__ec_wdata(e, sz), 2);
            snprintf(zv, sizeof zv, "%d", z);
        }
        if (sz && sz->dtype == NN_DTYPE_INT32) {
            int32_t z;
            memcpy(&z, nn_target__ec_wdata(e, sz), 4);
            snprintf(zv, sizeof zv, "%ld", (long)z);
        }
        if (sz && sz->dtype != NN_DTYPE_INT8 && sz->dtype != NN_DTYPE_UINT8 && sz->dtype != NN_DTYPE_INT16 &&
            sz->dtype != NN_DTYPE_INT32)
            return nn_target__ec_unsup(e, "zero point type");
    } else {
        snprintf(sv, sizeof sv, "nn_c%u[d]", e->p->operands[I->first_operand + 1]);
        if (sz) snprintf(zv, sizeof zv, "nn_c%u[d]", e->p->operands[I->first_operand + 2]);
        else snprintf(zv, sizeof zv, "0");
    }
    nn_target__ec_put(e, "/* %u %s '%s' (%s) */\nstatic void nn_i%u(void) {\n    size_t o, d, i;\n", e->instr,
                      dq ? "DequantizeLinear" : "QuantizeLinear", e->nm, dim > 1 ? "per axis" : "per tensor", e->instr);
    nn_target__ec_put(e, "    for (o = 0; o < %llu; o++)\n        for (d = 0; d < %llu; d++)\n            for (i = 0; i < %llu; i++) {\n",
                      (unsigned long long)outer, (unsigned long long)dim, (unsigned long long)inner);
    {
        char ix[128];
        snprintf(ix, sizeof ix, "(o * %llu + d) * %llu + i", (unsigned long long)dim, (unsigned long long)inner);
        nn_target__ec_at(e, 0, ix, xs, sizeof xs);
        nn_target__ec_at(e, I->in_count, ix, ys, sizeof ys);
    }
    if (dq) {
        nn_target__ec_put(e, "                %s = (float)((%s)%s - (%s)%s) * %s;\n", ys,
                          sx->dtype == NN_DTYPE_INT32 ? "int64_t" : "int32_t", xs, sx->dtype == NN_DTYPE_INT32 ? "int64_t" : "int32_t",
                          zv, sv);
    } else {
        const char *lo = sy->dtype == NN_DTYPE_INT8 ? "-128.0f" : sy->dtype == NN_DTYPE_INT16 ? "-32768.0f" : "0.0f";
        const char *hi = sy->dtype == NN_DTYPE_INT8 ? "127.0f" : sy->dtype == NN_DTYPE_INT16 ? "32767.0f" : "255.0f";
        nn_target__ec_put(e, "                float v = rintf(%s / %s) + (float)%s;\n", xs, sv, zv);
        nn_target__ec_put(e, "                v = !(v >= %s) ? %s : v;\n", lo, lo);
        nn_target__ec_put(e, "                %s = (%s)(v > %s ? %s : v);\n", ys, nn_target__ec_ctype(sy->dtype), hi, hi);
    }
    nn_target__ec_put(e, "            }\n}\n\n");
    return e->st;
}

/* Add, Sub, Mul, Div on float32 with numpy broadcasting (opset >= 7). */
static nn_status nn_target__ec_fbin(nn_target__ec *e, const nn_node *nd, char op) {
    const nn_target_slot *sa = nn_target__ec_slot(e, 0), *sb = nn_target__ec_slot(e, 1), *sy = nn_target__ec_slot(e, 2);
    const nn_shape *sh[2];
    char as[256], bs[256], ys[256];
    int R;
    nn_status st;
    if (!sa || !sb || sa->dtype != NN_DTYPE_FLOAT || sb->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT)
        return nn_target__ec_unsup(e, "only float32 operands");
    if (nn_node_attr(nd, "broadcast") || nn_node_attr(nd, "axis")) return nn_target__ec_unsup(e, "legacy broadcast attributes");
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    sh[0] = &sa->shape;
    sh[1] = &sb->shape;
    nn_target__ec_put(e, "/* %u %s '%s' (float) */\nstatic void nn_i%u(void) {\n", e->instr, nd->op_type, e->nm, e->instr);
    R = nn_target__ec_loops(e, &sy->shape, 2, sh);
    nn_target__ec_put(e, "%*s%s = %s %c %s;\n", 4 + 4 * R, "", nn_target__ec_at(e, 2, "e", ys, sizeof ys),
                      nn_target__ec_at(e, 0, "e0", as, sizeof as), op, nn_target__ec_at(e, 1, "e1", bs, sizeof bs));
    nn_target__ec_close(e, R);
    nn_target__ec_put(e, "}\n\n");
    return e->st;
}

static nn_status nn_target__ec_relu(nn_target__ec *e, const nn_node *nd) {
    const nn_target_slot *sx = nn_target__ec_slot(e, 0);
    char xs[256], ys[256];
    if (sx->dtype != NN_DTYPE_FLOAT) return nn_target__ec_unsup(e, "only float32 Relu");
    if (!e->fn) return NN_OK;
    nn_target__ec_put(e, "/* %u Relu '%s' (float) */\nstatic void nn_i%u(void) {\n    size_t e;\n", e->instr, e->nm, e->instr);
    nn_target__ec_put(e, "    for (e = 0; e < %llu; e++) {\n        const float x = %s;\n        %s = x < 0.0f ? 0.0f : x;\n    }\n}\n\n",
                      (unsigned long long)nn_target__ec_count(&sx->shape), nn_target__ec_at(e, 0, "e", xs, sizeof xs),
                      nn_target__ec_at(e, 1, "e", ys, sizeof ys));
    (void)nd;
    return e->st;
}

/* Sigmoid on float32: nn_graph.h's libm-free logistic (nn_ew__sigmoidf),
   written out in nn_sigmoidf. */
static nn_status nn_target__ec_sigmoid(nn_target__ec *e) {
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, 1);
    char xs[256], ys[256];
    if (sx->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT) return nn_target__ec_unsup(e, "only float32 Sigmoid");
    e->uses |= NN_TARGET__EC_SIG;
    if (!e->fn) return NN_OK;
    nn_target__ec_put(e, "/* %u Sigmoid '%s' (float) */\nstatic void nn_i%u(void) {\n    size_t e;\n", e->instr, e->nm, e->instr);
    nn_target__ec_put(e, "    for (e = 0; e < %llu; e++) %s = nn_sigmoidf(%s);\n}\n\n",
                      (unsigned long long)nn_target__ec_count(&sx->shape), nn_target__ec_at(e, 1, "e", ys, sizeof ys),
                      nn_target__ec_at(e, 0, "e", xs, sizeof xs));
    return e->st;
}

/* Reshape, Flatten, Squeeze, Unsqueeze, Identity that the plan did not
   make a view: the bytes moved as they are. */
static nn_status nn_target__ec_move(nn_target__ec *e) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, I->in_count);
    nn_status st;
    if (!sx || sx->bytes != sy->bytes) return nn_target__ec_unsup(e, "input and output sizes differ");
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts_of(e, 1)) != NN_OK) return st; /* not a Reshape's shape input */
    nn_target__ec_put(e, "/* %u %s '%s' */\nstatic void nn_i%u(void) {\n", e->instr, e->p->nodes[I->node].op_type, e->nm,
                      e->instr);
    if (sx->region == NN_TARGET_REGION_WEIGHTS)
        nn_target__ec_put(e, "    memcpy(nn_a.u8 + %llu, nn_c%u, %llu);\n}\n\n", (unsigned long long)sy->offset,
                          e->p->operands[I->first_operand], (unsigned long long)sy->bytes);
    else if (sx->offset != sy->offset)
        nn_target__ec_put(e, "    memmove(nn_a.u8 + %llu, nn_a.u8 + %llu, %llu);\n}\n\n", (unsigned long long)sy->offset,
                          (unsigned long long)sx->offset, (unsigned long long)sy->bytes);
    else
        nn_target__ec_put(e, "}\n\n");
    return e->st;
}

/* MaxPool (no Indices) on float32 or 8-bit x, 1-D or 2-D: nn_graph.h's
   plane loop with tap ranges per output row and column. */
static nn_status nn_target__ec_maxpool(nn_target__ec *e, const nn_node *nd) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, I->in_count);
    int64_t k[2] = {1, 1}, s[2] = {1, 1}, dl[2] = {1, 1}, pb[2] = {0, 0};
    const nn_attr *a;
    const char *ap = nn_node_attr_string(nd, "auto_pad", "NOTSET");
    int two, i, nd_ = sx->shape.rank - 2;
    int64_t H, W, OH, OW;
    char xs[256], ys[256];
    if (I->out_count > 1 && nn_target__ec_slot(e, I->in_count + 1)) return nn_target__ec_unsup(e, "the Indices output");
    if (nd_ < 1 || nd_ > 2) return nn_target__ec_unsup(e, "only 1-D and 2-D pooling");
    if (sx->dtype != NN_DTYPE_FLOAT && sx->dtype != NN_DTYPE_INT8 && sx->dtype != NN_DTYPE_UINT8)
        return nn_target__ec_unsup(e, "x must be float32, int8 or uint8");
    if (strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0) return nn_target__ec_unsup(e, "auto_pad SAME_*");
    two = nd_ == 2;
    if ((a = nn_node_attr(nd, "kernel_shape")) && a->count == (uint32_t)nd_) for (i = 0; i < nd_; i++) k[i] = a->ints[i];
    if ((a = nn_node_attr(nd, "strides")) && a->count == (uint32_t)nd_) for (i = 0; i < nd_; i++) s[i] = a->ints[i];
    if ((a = nn_node_attr(nd, "dilations")) && a->count == (uint32_t)nd_) for (i = 0; i < nd_; i++) dl[i] = a->ints[i];
    if (strcmp(ap, "NOTSET") == 0 && (a = nn_node_attr(nd, "pads")) && a->count == 2u * (uint32_t)nd_)
        for (i = 0; i < nd_; i++) pb[i] = a->ints[i];
    if (!e->fn) return NN_OK;
    H = two ? sx->shape.dims[2] : 1;
    W = sx->shape.dims[1 + nd_];
    OH = two ? sy->shape.dims[2] : 1;
    OW = sy->shape.dims[1 + nd_];
    {
        int64_t KH = two ? k[0] : 1, KW = k[nd_ - 1], SY = two ? s[0] : 1, SX = s[nd_ - 1], DY = two ? dl[0] : 1;
        int64_t DX = dl[nd_ - 1], PY = two ? pb[0] : 0, PX = pb[nd_ - 1];
        char ix[160];
        nn_target__ec_put(e, "/* %u MaxPool '%s' */\nstatic void nn_i%u(void) {\n    size_t p;\n    int64_t oy, ox, ky, kx;\n",
                          e->instr, e->nm, e->instr);
        nn_target__ec_put(e, "    for (p = 0; p < %lld; p++)\n        for (oy = 0; oy < %lld; oy++) {\n",
                          (long long)(sx->shape.dims[0] * sx->shape.dims[1]), (long long)OH);
        nn_target__ec_put(e, "            const int64_t y0 = oy * %lld - %lld;\n", (long long)SY, (long long)PY);
        nn_target__ec_put(e, "            int64_t ylo = y0 >= 0 ? 0 : (-y0 + %lld) / %lld, yhi = %lld - y0 < 0 ? 0 : (%lld - y0) / %lld + 1;\n",
                          (long long)DY - 1, (long long)DY, (long long)H - 1, (long long)H - 1, (long long)DY);
        nn_target__ec_put(e, "            if (yhi > %lld) yhi = %lld;\n            if (ylo > yhi) ylo = yhi;\n", (long long)KH, (long long)KH);
        nn_target__ec_put(e, "            for (ox = 0; ox < %lld; ox++) {\n", (long long)OW);
        nn_target__ec_put(e, "                const int64_t x0 = ox * %lld - %lld;\n", (long long)SX, (long long)PX);
        nn_target__ec_put(e, "                int64_t xlo = x0 >= 0 ? 0 : (-x0 + %lld) / %lld, xhi = %lld - x0 < 0 ? 0 : (%lld - x0) / %lld + 1;\n",
                          (long long)DX - 1, (long long)DX, (long long)W - 1, (long long)W - 1, (long long)DX);
        nn_target__ec_put(e, "                float r;\n                if (xhi > %lld) xhi = %lld;\n                if (xlo > xhi) xlo = xhi;\n",
                          (long long)KW, (long long)KW);
        snprintf(ix, sizeof ix, "p * %lld + (size_t)((y0 + ylo * %lld) * %lld + x0 + xlo * %lld)", (long long)(H * W), (long long)DY,
                 (long long)W, (long long)DX);
        nn_target__ec_put(e, "                r = ylo < yhi && xlo < xhi ? (float)%s : -INFINITY;\n", nn_target__ec_at(e, 0, ix, xs, sizeof xs));
        nn_target__ec_put(e, "                for (ky = ylo; ky < yhi; ky++)\n                    for (kx = xlo; kx < xhi; kx++) {\n");
        snprintf(ix, sizeof ix, "p * %lld + (size_t)((y0 + ky * %lld) * %lld + x0 + kx * %lld)", (long long)(H * W), (long long)DY,
                 (long long)W, (long long)DX);
        nn_target__ec_put(e, "                        const float v = (float)%s;\n                        r = v > r ? v : r;\n                    }\n",
                          nn_target__ec_at(e, 0, ix, xs, sizeof xs));
        snprintf(ix, sizeof ix, "p * %lld + (size_t)(oy * %lld + ox)", (long long)(OH * OW), (long long)OW);
        nn_target__ec_put(e, "                %s = (%s)r;\n            }\n        }\n}\n\n", nn_target__ec_at(e, I->in_count, ix, ys, sizeof ys),
                          nn_target__ec_ctype(sy->dtype));
    }
    return e->st;
}

/* GlobalAveragePool on float32: a double sum per plane, in order. */
static nn_status nn_target__ec_gavg(nn_target__ec *e) {
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, 1);
    uint64_t planes = nn_target__ec_count(&sy->shape), size = planes ? nn_target__ec_count(&sx->shape) / planes : 0;
    char xs[256], ys[256];
    if (sx->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT) return nn_target__ec_unsup(e, "only float32");
    if (!e->fn) return NN_OK;
    nn_target__ec_put(e, "/* %u GlobalAveragePool '%s' (float) */\nstatic void nn_i%u(void) {\n    size_t q, i;\n", e->instr, e->nm,
                      e->instr);
    {
        char ix[64], dv[64];
        snprintf(ix, sizeof ix, "q * %llu + i", (unsigned long long)size);
        snprintf(dv, sizeof dv, "(float)(s / (double)%llu)", (unsigned long long)size);
        nn_target__ec_put(e, "    for (q = 0; q < %llu; q++) {\n        double s = 0;\n        for (i = 0; i < %llu; i++) s += %s;\n",
                          (unsigned long long)planes, (unsigned long long)size, nn_target__ec_at(e, 0, ix, xs, sizeof xs));
        nn_target__ec_put(e, "        %s = %s;\n    }\n}\n\n", nn_target__ec_at(e, 1, "q", ys, sizeof ys), size ? dv : "0.0f");
    }
    return e->st;
}

/* Gemm on float32 with one row (M == 1): nn_graph.h's matrix-vector path
   (nn_nn__gemv): with transB a dot product per column in 16 float lanes
   over whole blocks of 16, a sequential tail, then the lanes added in
   order; without, a sequential sum over k.  The C term is added last. */
static nn_status nn_target__ec_fgemm(nn_target__ec *e, const nn_node *nd) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sa = nn_target__ec_slot(e, 0), *sb = nn_target__ec_slot(e, 1), *sy = nn_target__ec_slot(e, I->in_count);
    const nn_target_slot *sc = I->in_count > 2 ? nn_target__ec_slot(e, 2) : NULL;
    int ta = nn_node_attr_int(nd, "transA", 0) != 0, tb = nn_node_attr_int(nd, "transB", 0) != 0;
    float alpha = nn_node_attr_float(nd, "alpha", 1.0f), beta = nn_node_attr_float(nd, "beta", 1.0f);
    int64_t M, N, K, ccs = 0;
    char as[256], bs[256], cs[256], ys[256], ix[128], av[320], f[48], cterm[400];
    nn_status st;
    if (!sa || !sb || sa->dtype != NN_DTYPE_FLOAT || sb->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT ||
        (sc && sc->dtype != NN_DTYPE_FLOAT) || sa->shape.rank != 2 || sy->shape.rank != 2)
        return nn_target__ec_unsup(e, "only float32 2-D operands");
    M = sy->shape.dims[0];
    N = sy->shape.dims[1];
    K = sa->shape.dims[ta ? 0 : 1];
    if (M != 1)
        return nn_target__ec_unsup(e, "a float Gemm with more than one row (the blocked SGEMM sums with FMA in an order fixed by the host's vector width)");
    if (sc && beta == 0.0f) sc = NULL;
    if (sc) {
        int64_t d1 = sc->shape.rank >= 1 ? sc->shape.dims[sc->shape.rank - 1] : 1;
        ccs = d1 == 1 ? 0 : 1;
    }
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    nn_target__ec_at(e, 0, "k", as, sizeof as);
    if (alpha == 1.0f) snprintf(av, sizeof av, "%s", as);
    else snprintf(av, sizeof av, "(%s * %s)", nn_target__ec_flt(alpha, f, sizeof f), as);
    if (sc) {
        snprintf(ix, sizeof ix, "n * %lld", (long long)ccs);
        snprintf(cterm, sizeof cterm, "(%s * %s)", nn_target__ec_flt(beta, f, sizeof f), nn_target__ec_at(e, 2, ix, cs, sizeof cs));
    } else {
        snprintf(cterm, sizeof cterm, "0.0f");
    }
    nn_target__ec_put(e, "/* %u Gemm '%s' (float, 1 x %lld x %lld%s) */\nstatic void nn_i%u(void) {\n    size_t n, k;\n", e->instr,
                      e->nm, (long long)K, (long long)N, tb ? ", transB" : "", e->instr);
    nn_target__ec_put(e, "    for (n = 0; n < %lld; n++) {\n        float t = 0.0f;\n", (long long)N);
    if (tb) {
        char a2[320], b2[256], as2[256];
        nn_target__ec_at(e, 0, "k + q", as2, sizeof as2);
        if (alpha == 1.0f) snprintf(a2, sizeof a2, "%s", as2);
        else snprintf(a2, sizeof a2, "(%s * %s)", nn_target__ec_flt(alpha, f, sizeof f), as2);
        snprintf(ix, sizeof ix, "n * %lld + k + q", (long long)K);
        nn_target__ec_at(e, 1, ix, b2, sizeof b2);
        nn_target__ec_put(e, "        float s[16];\n        size_t q;\n        for (q = 0; q < 16; q++) s[q] = 0.0f;\n");
        nn_target__ec_put(e, "        for (k = 0; k + 16 <= %lld; k += 16)\n            for (q = 0; q < 16; q++) s[q] += %s * %s;\n",
                          (long long)K, a2, b2);
        snprintf(ix, sizeof ix, "n * %lld + k", (long long)K);
        nn_target__ec_put(e, "        for (; k < %lld; k++) t += %s * %s;\n", (long long)K, av, nn_target__ec_at(e, 1, ix, bs, sizeof bs));
        nn_target__ec_put(e, "        for (q = 0; q < 16; q++) t += s[q];\n");
    } else {
        snprintf(ix, sizeof ix, "k * %lld + n", (long long)N);
        nn_target__ec_put(e, "        for (k = 0; k < %lld; k++) t += %s * %s;\n", (long long)K, av,
                          nn_target__ec_at(e, 1, ix, bs, sizeof bs));
    }
    nn_target__ec_put(e, "        %s = t + %s;\n    }\n}\n\n", nn_target__ec_at(e, I->in_count, "n", ys, sizeof ys), cterm);
    return e->st;
}

/* Softmax on float32 along a contiguous axis (inner == 1): nn_graph.h's
   row path, written out in nn_smx_row. */
static nn_status nn_target__ec_softmax(nn_target__ec *e, const nn_node *nd, int64_t opset) {
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, 1);
    int64_t a = nn_node_attr_int(nd, "axis", opset >= 13 ? -1 : 1);
    int32_t R = sx->shape.rank, r;
    uint64_t outer = 1, n = 1, inner = 1;
    char xs[256], ys[256], ix[64];
    if (sx->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT) return nn_target__ec_unsup(e, "only float32");
    if (a < 0) a += R;
    if (a < 0 || a > R || (a == R && opset >= 13)) return nn_target__ec_unsup(e, "axis out of range");
    for (r = 0; r < R; r++) {
        if (r < a) outer *= (uint64_t)sx->shape.dims[r];
        else if (r == a || opset < 13) n *= (uint64_t)sx->shape.dims[r];
        else inner *= (uint64_t)sx->shape.dims[r];
    }
    if (inner != 1) return nn_target__ec_unsup(e, "a Softmax over a non-innermost axis");
    e->uses |= NN_TARGET__EC_EXP;
    if (!e->fn) return NN_OK;
    snprintf(ix, sizeof ix, "o * %llu", (unsigned long long)n);
    nn_target__ec_put(e, "/* %u Softmax '%s' (float, %llu rows of %llu) */\nstatic void nn_i%u(void) {\n    size_t o;\n", e->instr,
                      e->nm, (unsigned long long)outer, (unsigned long long)n, e->instr);
    nn_target__ec_put(e, "    for (o = 0; o < %llu; o++) nn_smx_row(&%s, &%s, %llu);\n}\n\n", (unsigned long long)outer,
                      nn_target__ec_at(e, 0, ix, xs, sizeof xs), nn_target__ec_at(e, 1, ix, ys, sizeof ys),
                      (unsigned long long)n);
    return e->st;
}

/* Transpose of any element type. */
static nn_status nn_target__ec_transpose(nn_target__ec *e, const nn_node *nd) {
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, 1);
    const nn_attr *pa = nn_node_attr(nd, "perm");
    int32_t R = sx->shape.rank, r, perm[NN_MAX_RANK];
    int64_t st[NN_MAX_RANK], acc = 1;
    char expr[512], xs[700], ys[256];
    size_t len = 0;
    if (!nn_target__ec_member(sx->dtype) || R < 1) return nn_target__ec_unsup(e, "element type");
    for (r = 0; r < R; r++) perm[r] = pa && pa->count == (uint32_t)R ? (int32_t)pa->ints[r] : R - 1 - r;
    for (r = R - 1; r >= 0; r--) { st[r] = acc; acc *= sx->shape.dims[r]; }
    if (!e->fn) return NN_OK;
    nn_target__ec_put(e, "/* %u Transpose '%s' */\nstatic void nn_i%u(void) {\n    size_t e = 0;\n", e->instr, e->nm, e->instr);
    for (r = 0; r < R; r++) nn_target__ec_put(e, "    size_t i%d;\n", (int)r);
    for (r = 0; r < R; r++)
        nn_target__ec_put(e, "%*sfor (i%d = 0; i%d < %lld; i%d++) {\n", 4 + 4 * (int)r, "", (int)r, (int)r,
                          (long long)sy->shape.dims[r], (int)r);
    expr[0] = '0';
    expr[1] = 0;
    for (r = 0; r < R; r++)
        if (len + 40 < sizeof expr)
            len += (size_t)snprintf(expr + len, sizeof expr - len, "%si%d * %lld", len ? " + " : "", (int)r, (long long)st[perm[r]]);
    nn_target__ec_put(e, "%*s%s = %s;\n", 4 + 4 * (int)R, "", nn_target__ec_at(e, 1, "e", ys, sizeof ys),
                      nn_target__ec_at(e, 0, expr, xs, sizeof xs));
    nn_target__ec_close(e, (int)R);
    nn_target__ec_put(e, "}\n\n");
    return e->st;
}

/* Concat: each input's rows copied into its slice of the output. */
static nn_status nn_target__ec_concat(nn_target__ec *e, const nn_node *nd) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sy = nn_target__ec_slot(e, I->in_count);
    int64_t a = nn_node_attr_int(nd, "axis", 0), outer = 1, row = 1, off = 0;
    int32_t R = sy->shape.rank, r;
    uint32_t k;
    char xs[256], ys[256], ix[128];
    nn_status st;
    if (!nn_target__ec_member(sy->dtype)) return nn_target__ec_unsup(e, "element type");
    if (a < 0) a += R;
    if (a < 0 || a >= R) return nn_target__ec_unsup(e, "axis out of range");
    for (r = 0; r < a; r++) outer *= sy->shape.dims[r];
    for (r = (int32_t)a; r < R; r++) row *= sy->shape.dims[r];
    for (k = 0; k < I->in_count; k++) {
        const nn_target_slot *sx = nn_target__ec_slot(e, k);
        if (!sx || sx->dtype != sy->dtype) return nn_target__ec_unsup(e, "inputs of another type");
    }
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    nn_target__ec_put(e, "/* %u Concat '%s' */\nstatic void nn_i%u(void) {\n    size_t o, i;\n", e->instr, e->nm, e->instr);
    for (k = 0; k < I->in_count; k++) {
        const nn_target_slot *sx = nn_target__ec_slot(e, k);
        int64_t chunk = outer ? (int64_t)(nn_target__ec_count(&sx->shape) / (uint64_t)outer) : 0;
        snprintf(ix, sizeof ix, "o * %lld + i", (long long)chunk);
        nn_target__ec_at(e, k, ix, xs, sizeof xs);
        snprintf(ix, sizeof ix, "o * %lld + %lld + i", (long long)row, (long long)off);
        nn_target__ec_put(e, "    for (o = 0; o < %lld; o++)\n        for (i = 0; i < %lld; i++) %s = %s;\n", (long long)outer,
                          (long long)chunk, nn_target__ec_at(e, I->in_count, ix, ys, sizeof ys), xs);
        off += chunk;
    }
    nn_target__ec_put(e, "}\n\n");
    return e->st;
}

/* Up to cap values of constant operand k (int32 or int64) into out: the
   count, or -1 when the operand is absent, not a constant or too long. */
static int nn_target__ec_cints(const nn_target__ec *e, uint32_t k, int64_t *out, int cap) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *s = k < I->in_count ? nn_target__ec_slot(e, k) : NULL;
    const uint8_t *w;
    uint64_t n, i;
    if (!s || s->region != NN_TARGET_REGION_WEIGHTS || (s->dtype != NN_DTYPE_INT64 && s->dtype != NN_DTYPE_INT32)) return -1;
    n = nn_target__ec_count(&s->shape);
    if (n > (uint64_t)cap) return -1;
    w = e->p->weights + s->offset;
    for (i = 0; i < n; i++) {
        if (s->dtype == NN_DTYPE_INT64) {
            memcpy(&out[i], w + 8 * i, 8);
        } else {
            int32_t v;
            memcpy(&v, w + 4 * i, 4);
            out[i] = v;
        }
    }
    return (int)n;
}

/* The same for a float32 constant, widened to double. */
static int nn_target__ec_cflts(const nn_target__ec *e, uint32_t k, double *out, int cap) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *s = k < I->in_count ? nn_target__ec_slot(e, k) : NULL;
    uint64_t n, i;
    if (!s || s->region != NN_TARGET_REGION_WEIGHTS || s->dtype != NN_DTYPE_FLOAT) return -1;
    n = nn_target__ec_count(&s->shape);
    if (n > (uint64_t)cap) return -1;
    for (i = 0; i < n; i++) {
        float v;
        memcpy(&v, e->p->weights + s->offset + 4 * i, 4);
        out[i] = v;
    }
    return (int)n;
}

static void nn_target__ec_strides(const nn_shape *s, int64_t *st) {
    int64_t acc = 1;
    int32_t r;
    for (r = s->rank - 1; r >= 0; r--) {
        st[r] = acc;
        acc *= s->dims[r];
    }
}

/* A block that copies input 0, element (base + sum_r i_r * st[r]), to
   output operand ko, element e, over shape ys row-major (Slice, Split). */
static void nn_target__ec_strided(nn_target__ec *e, uint32_t ko, const nn_shape *ys, int64_t base, const int64_t *st) {
    int32_t R = ys->rank, r;
    char expr[640], xs[900], ys_[256];
    size_t len;
    len = (size_t)snprintf(expr, sizeof expr, "(size_t)((int64_t)%lld", (long long)base);
    for (r = 0; r < R; r++)
        if (ys->dims[r] != 1 && st[r] != 0 && len + 48 < sizeof expr)
            len += (size_t)snprintf(expr + len, sizeof expr - len, " + (int64_t)i%d * %lld", (int)r, (long long)st[r]);
    snprintf(expr + len, sizeof expr - len, ")");
    nn_target__ec_put(e, "    {\n        size_t e = 0;\n");
    for (r = 0; r < R; r++) nn_target__ec_put(e, "        size_t i%d;\n", (int)r);
    for (r = 0; r < R; r++)
        nn_target__ec_put(e, "%*sfor (i%d = 0; i%d < %lld; i%d++) {\n", 8 + 4 * (int)r, "", (int)r, (int)r,
                          (long long)ys->dims[r], (int)r);
    nn_target__ec_put(e, "%*s%s = %s;\n", 8 + 4 * (int)R, "", nn_target__ec_at(e, ko, "e", ys_, sizeof ys_),
                      nn_target__ec_at(e, 0, expr, xs, sizeof xs));
    nn_target__ec_put(e, "%*se++;\n", 8 + 4 * (int)R, "");
    for (r = R - 1; r >= 0; r--) nn_target__ec_put(e, "%*s}\n", 8 + 4 * (int)r, "");
    if (R == 0) nn_target__ec_put(e, "        (void)e;\n");
    nn_target__ec_put(e, "    }\n");
}

/* ONNX Slice clamping (nn_graph.h's rule): the element count along the
   axis; *start becomes the first index read. */
static int64_t nn_target__ec_slice_len(int64_t dim, int64_t *start, int64_t end, int64_t step) {
    int64_t s = *start, en = end;
    if (s < 0) s += dim;
    if (en < 0) en += dim;
    if (step > 0) {
        s = s < 0 ? 0 : (s > dim ? dim : s);
        en = en < 0 ? 0 : (en > dim ? dim : en);
        *start = s;
        return en > s ? (en - s - 1) / step + 1 : 0;
    }
    s = s < 0 ? 0 : (s > dim - 1 ? dim - 1 : s);
    en = en < -1 ? -1 : (en > dim - 1 ? dim - 1 : en);
    *start = s;
    if (step == INT64_MIN) step = -INT64_MAX;
    return s > en ? (s - en - 1) / -step + 1 : 0;
}

/* Slice with constant starts/ends/axes/steps: a strided copy. */
static nn_status nn_target__ec_slice(nn_target__ec *e, const nn_node *nd, int64_t opset) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, I->in_count);
    int64_t starts[NN_MAX_RANK], ends[NN_MAX_RANK], axes[NN_MAX_RANK], steps[NN_MAX_RANK];
    int64_t st_in[NN_MAX_RANK], start[NN_MAX_RANK], step[NN_MAX_RANK], st[NN_MAX_RANK], base = 0;
    int ns, ne, na = -3, nst = -3, k;
    int32_t R, r;
    if (!sx || !nn_target__ec_member(sx->dtype) || sx->dtype != sy->dtype || sx->shape.rank != sy->shape.rank)
        return nn_target__ec_unsup(e, "element type");
    R = sx->shape.rank;
    if (opset < 10) {
        const nn_attr *a;
        ns = ne = -1;
        if ((a = nn_node_attr(nd, "starts")) && a->count <= NN_MAX_RANK) { ns = (int)a->count; memcpy(starts, a->ints, a->count * 8); }
        if ((a = nn_node_attr(nd, "ends")) && a->count <= NN_MAX_RANK) { ne = (int)a->count; memcpy(ends, a->ints, a->count * 8); }
        if ((a = nn_node_attr(nd, "axes")) && a->count <= NN_MAX_RANK) { na = (int)a->count; memcpy(axes, a->ints, a->count * 8); }
    } else {
        ns = nn_target__ec_cints(e, 1, starts, NN_MAX_RANK);
        ne = nn_target__ec_cints(e, 2, ends, NN_MAX_RANK);
        if (I->in_count > 3 && nn_target__ec_slot(e, 3) && (na = nn_target__ec_cints(e, 3, axes, NN_MAX_RANK)) < 0)
            return nn_target__ec_unsup(e, "axes must be a constant");
        if (I->in_count > 4 && nn_target__ec_slot(e, 4) && (nst = nn_target__ec_cints(e, 4, steps, NN_MAX_RANK)) < 0)
            return nn_target__ec_unsup(e, "steps must be a constant");
    }
    if (ns < 0 || ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return nn_target__ec_unsup(e, "starts and ends must be constants of one length");
    for (r = 0; r < R; r++) {
        start[r] = 0;
        step[r] = 1;
    }
    for (k = 0; k < ns; k++) {
        int64_t ax = na >= 0 ? axes[k] : k, s = starts[k], len, sp = nst >= 0 ? steps[k] : 1;
        if (ax < 0) ax += R;
        if (ax < 0 || ax >= R || sp == 0) return nn_target__ec_unsup(e, "an axis out of range or a zero step");
        len = nn_target__ec_slice_len(sx->shape.dims[ax], &s, ends[k], sp);
        if (len != sy->shape.dims[ax]) return nn_target__ec_unsup(e, "the output shape disagrees with the slice");
        start[ax] = s;
        step[ax] = sp;
    }
    nn_target__ec_strides(&sx->shape, st_in);
    for (r = 0; r < R; r++) {
        base += start[r] * st_in[r];
        st[r] = step[r] * st_in[r];
    }
    if (!e->fn) return NN_OK;
    if (nn_target__ec_consts_of(e, 1) != NN_OK) return e->st;
    nn_target__ec_put(e, "/* %u Slice '%s' */\nstatic void nn_i%u(void) {\n", e->instr, e->nm, e->instr);
    if (nn_target__ec_count(&sy->shape)) nn_target__ec_strided(e, I->in_count, &sy->shape, base, st);
    nn_target__ec_put(e, "}\n\n");
    return e->st;
}

/* Split: each output a strided copy of its run along the axis. */
static nn_status nn_target__ec_split(nn_target__ec *e, const nn_node *nd) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0);
    int64_t a = nn_node_attr_int(nd, "axis", 0), st_in[NN_MAX_RANK], off = 0;
    uint32_t j;
    int32_t r;
    if (!sx || !nn_target__ec_member(sx->dtype)) return nn_target__ec_unsup(e, "element type");
    if (a < 0) a += sx->shape.rank;
    if (a < 0 || a >= sx->shape.rank) return nn_target__ec_unsup(e, "axis out of range");
    for (j = 0; j < I->out_count; j++) {
        const nn_target_slot *so = nn_target__ec_slot(e, I->in_count + j);
        int same = so && so->dtype == sx->dtype && so->region == NN_TARGET_REGION_ARENA && so->shape.rank == sx->shape.rank;
        for (r = 0; same && r < sx->shape.rank; r++) same = r == a || so->shape.dims[r] == sx->shape.dims[r];
        if (!same) return nn_target__ec_unsup(e, "an omitted output or one of another type or shape");
        off += so->shape.dims[a];
    }
    if (off != sx->shape.dims[a]) return nn_target__ec_unsup(e, "the outputs do not cover the axis");
    if (!e->fn) return NN_OK;
    if (nn_target__ec_consts_of(e, 1) != NN_OK) return e->st;
    nn_target__ec_strides(&sx->shape, st_in);
    nn_target__ec_put(e, "/* %u Split '%s' */\nstatic void nn_i%u(void) {\n", e->instr, e->nm, e->instr);
    for (off = 0, j = 0; j < I->out_count; j++) {
        const nn_target_slot *so = nn_target__ec_slot(e, I->in_count + j);
        if (nn_target__ec_count(&so->shape)) nn_target__ec_strided(e, I->in_count + j, &so->shape, off * st_in[a], st_in);
        off += so->shape.dims[a];
    }
    nn_target__ec_put(e, "}\n\n");
    return e->st;
}

/* Gather along an axis: constant indices are checked here; indices read
   at run time wrap once and set nn_bad when out of range (the simulator
   fails such a run: model_run returns -1). */
static nn_status nn_target__ec_gather(nn_target__ec *e, const nn_node *nd) {
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *si = nn_target__ec_slot(e, 1), *sy = nn_target__ec_slot(e, 2);
    int64_t a = nn_node_attr_int(nd, "axis", 0), dim, outer = 1, inner = 1;
    uint64_t nidx;
    int32_t r;
    int cst;
    char xs[256], is[256], ys[256], ix[160];
    nn_status st;
    if (!sx || !si || !nn_target__ec_member(sx->dtype) || sx->dtype != sy->dtype) return nn_target__ec_unsup(e, "element type");
    if (si->dtype != NN_DTYPE_INT64 && si->dtype != NN_DTYPE_INT32) return nn_target__ec_unsup(e, "indices must be int32 or int64");
    if (a < 0) a += sx->shape.rank;
    if (a < 0 || a >= sx->shape.rank) return nn_target__ec_unsup(e, "axis out of range");
    dim = sx->shape.dims[a];
    for (r = 0; r < sx->shape.rank; r++) {
        if (r < a) outer *= sx->shape.dims[r];
        if (r > a) inner *= sx->shape.dims[r];
    }
    nidx = nn_target__ec_count(&si->shape);
    cst = si->region == NN_TARGET_REGION_WEIGHTS;
    if (cst) {
        uint64_t i;
        for (i = 0; i < nidx; i++) {
            int64_t q;
            if (si->dtype == NN_DTYPE_INT64) memcpy(&q, e->p->weights + si->offset + 8 * i, 8);
            else {
                int32_t q32;
                memcpy(&q32, e->p->weights + si->offset + 4 * i, 4);
                q = q32;
            }
            if (q < -dim || q >= dim) return nn_target__ec_unsup(e, "a constant index out of range");
        }
    } else {
        e->uses |= NN_TARGET__EC_BAD;
    }
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    nn_target__ec_put(e, "/* %u Gather '%s' (axis %lld) */\nstatic void nn_i%u(void) {\n    size_t o, k, i;\n", e->instr, e->nm,
                      (long long)a, e->instr);
    nn_target__ec_put(e, "    for (o = 0; o < %lld; o++)\n        for (k = 0; k < %llu; k++) {\n", (long long)outer,
                      (unsigned long long)nidx);
    nn_target__ec_put(e, "            int64_t q = (int64_t)%s;\n            if (q < 0) q += %lld;\n", nn_target__ec_at(e, 1, "k", is, sizeof is),
                      (long long)dim);
    if (!cst) nn_target__ec_put(e, "            if (q < 0 || q >= %lld) {\n                nn_bad = 1;\n                q = 0;\n            }\n",
                                (long long)dim);
    snprintf(ix, sizeof ix, "(o * %lld + (size_t)q) * %lld + i", (long long)dim, (long long)inner);
    nn_target__ec_at(e, 0, ix, xs, sizeof xs);
    snprintf(ix, sizeof ix, "(o * %llu + k) * %lld + i", (unsigned long long)nidx, (long long)inner);
    nn_target__ec_put(e, "            for (i = 0; i < %lld; i++) %s = %s;\n        }\n}\n\n", (long long)inner,
                      nn_target__ec_at(e, 2, ix, ys, sizeof ys), xs);
    return e->st;
}

/* ReduceMean / ReduceSum on float32 over one run of dims (nn_graph.h's
   (outer, n, inner) view): with inner 1, each row summed in 16 double
   lanes added pairwise (nn_rsum); otherwise each column summed in order
   in double; the mean divides in double, then one rounding to float. */
static nn_status nn_target__ec_reduce(nn_target__ec *e, const nn_node *nd, int64_t opset) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, I->in_count);
    int mean = strcmp(nd->op_type, "ReduceMean") == 0;
    int64_t axes[NN_MAX_RANK], outer = 1, n = 1, inner = 1;
    int na = 0, k;
    int32_t R = sx ? sx->shape.rank : 0, r, first = -1, last = -1;
    uint32_t mask = 0;
    char xs[256], ys[256], ix[128], dv[64];
    if (!sx || sx->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT) return nn_target__ec_unsup(e, "only float32");
    if (opset < (mean ? 18 : 13)) {
        const nn_attr *a = nn_node_attr(nd, "axes");
        if (a && a->count > NN_MAX_RANK) return nn_target__ec_unsup(e, "too many axes");
        if (a) {
            na = (int)a->count;
            memcpy(axes, a->ints, a->count * 8);
        }
    } else if (I->in_count > 1 && nn_target__ec_slot(e, 1)) {
        if ((na = nn_target__ec_cints(e, 1, axes, NN_MAX_RANK)) < 0) return nn_target__ec_unsup(e, "axes must be a constant");
    }
    if (na == 0 && nn_node_attr_int(nd, "noop_with_empty_axes", 0)) return nn_target__ec_unsup(e, "noop_with_empty_axes");
    for (k = 0; k < na; k++) {
        int64_t ax = axes[k] < 0 ? axes[k] + R : axes[k];
        if (ax < 0 || ax >= R) return nn_target__ec_unsup(e, "axis out of range");
        mask |= 1u << ax;
    }
    if (na == 0) mask = R > 0 ? (uint32_t)((1u << R) - 1) : 0;
    for (r = 0; r < R; r++)
        if (sx->shape.dims[r] != 1 && ((mask >> r) & 1u)) {
            if (first < 0) first = r;
            last = r;
        }
    if (first < 0) {
        outer = (int64_t)nn_target__ec_count(&sx->shape);
    } else {
        for (r = first; r <= last; r++)
            if (sx->shape.dims[r] != 1 && !((mask >> r) & 1u))
                return nn_target__ec_unsup(e, "reduced dims that are not one run");
        for (r = 0; r < R; r++) {
            if (r < first) outer *= sx->shape.dims[r];
            else if (r <= last) n *= sx->shape.dims[r];
            else inner *= sx->shape.dims[r];
        }
    }
    if (inner == 1) e->uses |= NN_TARGET__EC_RSUM;
    if (!e->fn) return NN_OK;
    if (nn_target__ec_consts_of(e, 1) != NN_OK) return e->st;
    nn_target__ec_put(e, "/* %u %s '%s' (float, (%lld, %lld, %lld)) */\nstatic void nn_i%u(void) {\n", e->instr, nd->op_type, e->nm,
                      (long long)outer, (long long)n, (long long)inner, e->instr);
    if (!nn_target__ec_count(&sy->shape)) {
        nn_target__ec_put(e, "}\n\n");
        return e->st;
    }
    if (mean) snprintf(dv, sizeof dv, "(float)(s / (double)%lld)", (long long)n);
    else snprintf(dv, sizeof dv, "(float)s");
    if (inner == 1) {
        snprintf(ix, sizeof ix, "o * %lld", (long long)n);
        nn_target__ec_put(e, "    size_t o;\n    for (o = 0; o < %lld; o++) {\n        const double s = nn_rsum(&%s, %lld);\n",
                          (long long)outer, nn_target__ec_at(e, 0, ix, xs, sizeof xs), (long long)n);
        nn_target__ec_put(e, "        %s = %s;\n    }\n}\n\n", nn_target__ec_at(e, I->in_count, "o", ys, sizeof ys), dv);
    } else {
        snprintf(ix, sizeof ix, "(o * %lld + r) * %lld + i", (long long)n, (long long)inner);
        nn_target__ec_put(e, "    size_t o, i, r;\n    for (o = 0; o < %lld; o++)\n        for (i = 0; i < %lld; i++) {\n",
                          (long long)outer, (long long)inner);
        nn_target__ec_put(e, "            double s = 0;\n            for (r = 0; r < %lld; r++) s += %s;\n", (long long)n,
                          nn_target__ec_at(e, 0, ix, xs, sizeof xs));
        snprintf(ix, sizeof ix, "o * %lld + i", (long long)inner);
        nn_target__ec_put(e, "            %s = %s;\n        }\n}\n\n", nn_target__ec_at(e, I->in_count, ix, ys, sizeof ys), dv);
    }
    return e->st;
}

/* Sqrt (sqrtf) and Pow with a one-element float32 constant exponent:
   nn_graph.h squares for 2, takes sqrtf(x) + 0 (inf for -inf) for 0.5,
   powf otherwise. */
static nn_status nn_target__ec_unary(nn_target__ec *e, const nn_node *nd) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, I->in_count);
    int pw = strcmp(nd->op_type, "Pow") == 0;
    double ex = 0;
    char xs[256], ys[256], f[48], v[400];
    if (!sx || sx->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT ||
        nn_target__ec_count(&sx->shape) != nn_target__ec_count(&sy->shape))
        return nn_target__ec_unsup(e, "only float32");
    if (pw && nn_target__ec_cflts(e, 1, &ex, 1) != 1) return nn_target__ec_unsup(e, "the exponent must be a one-element float32 constant");
    if (!e->fn) return NN_OK;
    if (nn_target__ec_consts_of(e, 1) != NN_OK) return e->st;
    nn_target__ec_at(e, 0, "e", xs, sizeof xs);
    if (!pw) snprintf(v, sizeof v, "sqrtf(x)");
    else if (ex == 2.0) snprintf(v, sizeof v, "x * x");
    else if (ex == 0.5) snprintf(v, sizeof v, "x == -INFINITY ? INFINITY : sqrtf(x) + 0.0f");
    else snprintf(v, sizeof v, "powf(x, %s)", nn_target__ec_flt((float)ex, f, sizeof f));
    nn_target__ec_put(e, "/* %u %s '%s' (float) */\nstatic void nn_i%u(void) {\n    size_t e;\n", e->instr, nd->op_type, e->nm, e->instr);
    nn_target__ec_put(e, "    for (e = 0; e < %llu; e++) {\n        const float x = %s;\n        %s = %s;\n    }\n}\n\n",
                      (unsigned long long)nn_target__ec_count(&sx->shape), xs, nn_target__ec_at(e, I->in_count, "e", ys, sizeof ys), v);
    return e->st;
}

/* nn_graph.h's float SGEMM, one output element at a time.  Its blocking
   fixes each element's sum: over K in blocks of NN_NN__KC, each block
   summed from +0 in k order (with FMA when the build's micro-kernel uses
   it: AVX-512, AVX2+FMA), the blocks added in order; a tile at the edge
   of the matrix (rows from M - M % MR, columns from N - N % NR) goes
   through a buffer and gains "+ 0.0f" on its first block (-0 -> +0).
   M == 1 is the matrix-vector path: a plain k-order sum, + 0.0f.  These
   constants come from nn_graph.h's implementation; without it (this
   header's implementation alone) float MatMul is not exported. */
#if defined(NN_NN__KC) && defined(NN_NN__MR) && defined(NN_NN__NR)
#define NN_TARGET__EC_KC NN_NN__KC
#define NN_TARGET__EC_MR NN_NN__MR
#define NN_TARGET__EC_NR NN_NN__NR
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define NN_TARGET__EC_FMA 1
#else
#define NN_TARGET__EC_FMA 0
#endif
#else
#define NN_TARGET__EC_KC 0
#define NN_TARGET__EC_MR 1
#define NN_TARGET__EC_NR 1
#define NN_TARGET__EC_FMA 0
#endif

/* The edge-row and edge-column limits of an (M, N) SGEMM as C text. */
static void nn_target__ec_edge(int64_t M, int64_t N, const char *m, const char *n, char *out, size_t cap) {
    const int64_t ml = M - M % NN_TARGET__EC_MR, nl = N - N % NN_TARGET__EC_NR;
    if (!NN_TARGET__EC_FMA || ml == 0 || nl == 0) snprintf(out, cap, "1"); /* the portable micro-kernel adds + 0.0f everywhere */
    else if (ml < M && nl < N) snprintf(out, cap, "%s >= %lld || %s >= %lld", m, (long long)ml, n, (long long)nl);
    else if (ml < M) snprintf(out, cap, "%s >= %lld", m, (long long)ml);
    else if (nl < N) snprintf(out, cap, "%s >= %lld", n, (long long)nl);
    else snprintf(out, cap, "0");
}

/* MatMul on float32, both operands of rank >= 2, batch dims broadcast. */
static nn_status nn_target__ec_fmatmul(nn_target__ec *e) {
    const nn_target_slot *sa = nn_target__ec_slot(e, 0), *sb = nn_target__ec_slot(e, 1), *sy = nn_target__ec_slot(e, 2);
    int32_t ra, rb, R, i;
    int64_t M, N, K, ob[NN_MAX_RANK], sta[NN_MAX_RANK], stb[NN_MAX_RANK], batches = 1, pa = 1, pb = 1, pr;
    int fold = 1, bone = 1;
    char ao[400], bo[400], as[600], bs[600], ys[256], ix[520], edge[128];
    size_t la, lb;
    nn_status st;
    if (!sa || !sb || sa->dtype != NN_DTYPE_FLOAT || sb->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT)
        return nn_target__ec_unsup(e, "only float32");
    ra = sa->shape.rank;
    rb = sb->shape.rank;
    if (ra < 2 || rb < 2) return nn_target__ec_unsup(e, "a 1-D operand");
    if (!NN_TARGET__EC_KC) return nn_target__ec_unsup(e, "nn_graph.h's SGEMM blocking is not known in this build");
    if (e->p->batch > 1) return nn_target__ec_unsup(e, "a batch program (the simulator runs it per sample)");
    M = sa->shape.dims[ra - 2];
    K = sa->shape.dims[ra - 1];
    N = sb->shape.dims[rb - 1];
    if (sb->shape.dims[rb - 2] != K) return nn_target__ec_unsup(e, "inner dimensions differ");
    R = (ra > rb ? ra : rb) - 2;
    /* broadcast strides (in matrices) of each operand's batch dims */
    for (i = R - 1; i >= 0; i--) {
        int32_t ia = i - (R - (ra - 2)), ib = i - (R - (rb - 2));
        int64_t da = ia >= 0 ? sa->shape.dims[ia] : 1, db = ib >= 0 ? sb->shape.dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return nn_target__ec_unsup(e, "batch dims that do not broadcast");
        ob[i] = da == 1 ? db : da;
        sta[i] = da == 1 ? 0 : pa;
        stb[i] = db == 1 ? 0 : pb;
        pa *= da;
        pb *= db;
        batches *= ob[i];
        if (db != 1) bone = 0;
    }
    if (sy->shape.rank != R + 2 || nn_target__ec_count(&sy->shape) != (uint64_t)(batches * M * N))
        return nn_target__ec_unsup(e, "the output shape");
    if (bone) {
        for (i = 0; i < R; i++)
            if (ob[i] != 1 && sta[i] == 0) fold = 0;
    } else {
        fold = 0;
    }
    if (fold) {
        M *= batches;
        batches = 1;
    }
    e->uses |= M == 1 ? (uint32_t)NN_TARGET__EC_MV : (uint32_t)NN_TARGET__EC_MM;
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    la = (size_t)snprintf(ao, sizeof ao, "0");
    lb = (size_t)snprintf(bo, sizeof bo, "0");
    for (i = R - 1, pr = 1; !fold && i >= 0; i--) {
        if (ob[i] != 1 && sta[i] && la + 64 < sizeof ao)
            la += (size_t)snprintf(ao + la, sizeof ao - la, " + bi / %lld %% %lld * %lld", (long long)pr, (long long)ob[i], (long long)sta[i]);
        if (ob[i] != 1 && stb[i] && lb + 64 < sizeof bo)
            lb += (size_t)snprintf(bo + lb, sizeof bo - lb, " + bi / %lld %% %lld * %lld", (long long)pr, (long long)ob[i], (long long)stb[i]);
        pr *= ob[i];
    }
    nn_target__ec_put(e, "/* %u MatMul '%s' (float, %lld x (%lld, %lld) x (%lld, %lld)) */\nstatic void nn_i%u(void) {\n", e->instr, e->nm,
                      (long long)batches, (long long)M, (long long)K, (long long)K, (long long)N, e->instr);
    nn_target__ec_put(e, "    size_t bi, m, n;\n    for (bi = 0; bi < %lld; bi++) {\n", (long long)batches);
    nn_target__ec_put(e, "        const size_t ao = %s, bo = %s;\n        (void)ao;\n        (void)bo;\n", ao, bo);
    nn_target__ec_put(e, "        for (m = 0; m < %lld; m++)\n            for (n = 0; n < %lld; n++)\n", (long long)M, (long long)N);
    snprintf(ix, sizeof ix, "ao * %lld + m * %lld", (long long)(M * K), (long long)K);
    nn_target__ec_at(e, 0, ix, as, sizeof as);
    snprintf(ix, sizeof ix, "bo * %lld + n", (long long)(K * N));
    nn_target__ec_at(e, 1, ix, bs, sizeof bs);
    snprintf(ix, sizeof ix, "bi * %lld + m * %lld + n", (long long)(M * N), (long long)N);
    nn_target__ec_at(e, 2, ix, ys, sizeof ys);
    if (M == 1) {
        nn_target__ec_put(e, "                %s = nn_mv(&%s, 1, &%s, %lld, %lld);\n", ys, as, bs, (long long)N, (long long)K);
    } else {
        nn_target__ec_edge(M, N, "m", "n", edge, sizeof edge);
        nn_target__ec_put(e, "                %s = nn_mm(&%s, 1, &%s, %lld, %lld, %s);\n", ys, as, bs, (long long)N, (long long)K, edge);
    }
    nn_target__ec_put(e, "    }\n}\n\n");
    return e->st;
}

/* ConvTranspose, 2-D, float32: nn_graph.h computes col = W_g^T X_g on
   the SGEMM (rows Mg*kh*kw, columns H*W, depth C/group) and scatter-adds
   it row by row into Y started at the bias; here each col element is
   computed where it lands, in that same row order. */
static nn_status nn_target__ec_convt(nn_target__ec *e, const nn_node *nd) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sw = nn_target__ec_slot(e, 1), *sy = nn_target__ec_slot(e, I->in_count);
    const nn_target_slot *sb = I->in_count > 2 ? nn_target__ec_slot(e, 2) : NULL;
    const nn_attr *a;
    int64_t G = nn_node_attr_int(nd, "group", 1), s[2] = {1, 1}, d[2] = {1, 1}, pb[2] = {0, 0};
    int64_t Nn, C, H, W, M, OH, OW, KH, KW, Cg, Mg, rows, HW;
    char xs[600], ws[600], ys[400], bs[256], ix[400], edge[160];
    nn_status st;
    int i;
    if (!sx || !sw || sx->dtype != NN_DTYPE_FLOAT || sw->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT ||
        (sb && sb->dtype != NN_DTYPE_FLOAT))
        return nn_target__ec_unsup(e, "only float32");
    if (sx->shape.rank != 4 || sw->shape.rank != 4 || sy->shape.rank != 4) return nn_target__ec_unsup(e, "only 2-D ConvTranspose");
    if (strcmp(nn_node_attr_string(nd, "auto_pad", "NOTSET"), "NOTSET") != 0 || nn_node_attr(nd, "output_shape"))
        return nn_target__ec_unsup(e, "auto_pad or output_shape");
    if (!NN_TARGET__EC_KC) return nn_target__ec_unsup(e, "nn_graph.h's SGEMM blocking is not known in this build");
    if ((a = nn_node_attr(nd, "strides")) && a->count == 2) for (i = 0; i < 2; i++) s[i] = a->ints[i];
    if ((a = nn_node_attr(nd, "dilations")) && a->count == 2) for (i = 0; i < 2; i++) d[i] = a->ints[i];
    if ((a = nn_node_attr(nd, "pads")) && a->count == 4) for (i = 0; i < 2; i++) pb[i] = a->ints[i];
    Nn = sx->shape.dims[0];
    C = sx->shape.dims[1];
    H = sx->shape.dims[2];
    W = sx->shape.dims[3];
    M = sy->shape.dims[1];
    OH = sy->shape.dims[2];
    OW = sy->shape.dims[3];
    KH = sw->shape.dims[2];
    KW = sw->shape.dims[3];
    if (G < 1 || C % G || M % G || sw->shape.dims[0] != C || sw->shape.dims[1] * G != M || sy->shape.dims[0] != Nn ||
        (sb && nn_target__ec_count(&sb->shape) != (uint64_t)M))
        return nn_target__ec_unsup(e, "shapes");
    if ((a = nn_node_attr(nd, "kernel_shape")) && (a->count != 2 || a->ints[0] != KH || a->ints[1] != KW))
        return nn_target__ec_unsup(e, "kernel_shape disagrees with W");
    Cg = C / G;
    Mg = M / G;
    rows = Mg * KH * KW;
    HW = H * W;
    e->uses |= rows == 1 ? (uint32_t)NN_TARGET__EC_MV : (uint32_t)NN_TARGET__EC_MM;
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    nn_target__ec_put(e, "/* %u ConvTranspose '%s' (float, (%lld,%lld,%lld,%lld) -> (%lld,%lld,%lld,%lld), kernel %lldx%lld, stride %lld,%lld,"
                         " dilation %lld,%lld, pads %lld,%lld, group %lld) */\n",
                      e->instr, e->nm, (long long)Nn, (long long)C, (long long)H, (long long)W, (long long)Nn, (long long)M,
                      (long long)OH, (long long)OW, (long long)KH, (long long)KW, (long long)s[0], (long long)s[1], (long long)d[0],
                      (long long)d[1], (long long)pb[0], (long long)pb[1], (long long)G);
    nn_target__ec_put(e, "static void nn_i%u(void) {\n    size_t q, p, nb, g, mo;\n    int64_t ky, kx, iy, ix, oy, ox;\n", e->instr);
    if (sb) {
        char t[32];
        snprintf(t, sizeof t, "q %% %lld", (long long)M);
        nn_target__ec_at(e, 2, t, bs, sizeof bs);
    } else {
        snprintf(bs, sizeof bs, "0.0f");
    }
    snprintf(ix, sizeof ix, "q * %lld + p", (long long)(OH * OW));
    nn_target__ec_put(e, "    for (q = 0; q < %lld; q++)\n        for (p = 0; p < %lld; p++) %s = %s;\n", (long long)(Nn * M),
                      (long long)(OH * OW), nn_target__ec_at(e, I->in_count, ix, ys, sizeof ys), bs);
    nn_target__ec_put(e, "    for (nb = 0; nb < %lld; nb++)\n        for (g = 0; g < %lld; g++)\n            for (mo = 0; mo < %lld; mo++)\n",
                      (long long)Nn, (long long)G, (long long)Mg);
    nn_target__ec_put(e, "                for (ky = 0; ky < %lld; ky++)\n                    for (kx = 0; kx < %lld; kx++) {\n", (long long)KH,
                      (long long)KW);
    nn_target__ec_put(e, "                        const size_t row = (mo * %lld + (size_t)ky) * %lld + (size_t)kx;\n", (long long)KH,
                      (long long)KW);
    nn_target__ec_put(e, "                        for (iy = 0; iy < %lld; iy++) {\n", (long long)H);
    nn_target__ec_put(e, "                            oy = iy * %lld + ky * %lld - %lld;\n", (long long)s[0], (long long)d[0], (long long)pb[0]);
    nn_target__ec_put(e, "                            if (oy < 0 || oy >= %lld) continue;\n", (long long)OH);
    nn_target__ec_put(e, "                            for (ix = 0; ix < %lld; ix++) {\n", (long long)W);
    nn_target__ec_put(e, "                                const size_t pos = (size_t)(iy * %lld + ix);\n", (long long)W);
    nn_target__ec_put(e, "                                ox = ix * %lld + kx * %lld - %lld;\n", (long long)s[1], (long long)d[1], (long long)pb[1]);
    nn_target__ec_put(e, "                                if (ox < 0 || ox >= %lld) continue;\n", (long long)OW);
    snprintf(ix, sizeof ix, "g * %lld + row", (long long)(Cg * rows));
    nn_target__ec_at(e, 1, ix, ws, sizeof ws);
    snprintf(ix, sizeof ix, "(nb * %lld + g * %lld) * %lld + pos", (long long)C, (long long)Cg, (long long)HW);
    nn_target__ec_at(e, 0, ix, xs, sizeof xs);
    snprintf(ix, sizeof ix, "((nb * %lld + g * %lld + mo) * %lld + (size_t)oy) * %lld + (size_t)ox", (long long)M, (long long)Mg,
             (long long)OH, (long long)OW);
    nn_target__ec_at(e, I->in_count, ix, ys, sizeof ys);
    if (rows == 1) {
        nn_target__ec_put(e, "                                %s += nn_mv(&%s, %lld, &%s, %lld, %lld);\n", ys, ws, (long long)rows, xs,
                          (long long)HW, (long long)Cg);
    } else {
        nn_target__ec_edge(rows, HW, "row", "pos", edge, sizeof edge);
        nn_target__ec_put(e, "                                %s += nn_mm(&%s, %lld, &%s, %lld, %lld, %s);\n", ys, ws, (long long)rows, xs,
                          (long long)HW, (long long)Cg, edge);
    }
    nn_target__ec_put(e, "                            }\n                        }\n                    }\n}\n\n");
    return e->st;
}

/* BatchNormalization (inference, spatial): nn_graph.h folds it per
   channel into a = scale / sqrt(var + eps) (double), b = B - mean * a,
   both rounded to float, then y = x * a + b.  The folding is done here
   with the same double operations. */
static nn_status nn_target__ec_bn(nn_target__ec *e, const nn_node *nd, int64_t opset) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, I->in_count);
    int64_t C, inner = 1, Nn;
    double eps = nn_node_attr_float(nd, "epsilon", 1e-5f);
    int32_t r;
    int64_t c;
    uint32_t j;
    char xs[256], ys[256], ix[128], nm[32];
    if (!sx || sx->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT || sx->shape.rank < 2)
        return nn_target__ec_unsup(e, "only float32 (N, C, ...)");
    if (nn_node_attr_int(nd, "training_mode", 0) != 0 || (opset < 9 && nn_node_attr_int(nd, "spatial", 1) == 0))
        return nn_target__ec_unsup(e, "training mode or spatial = 0");
    for (j = 1; j < I->out_count; j++)
        if (nn_target__ec_slot(e, I->in_count + j)) return nn_target__ec_unsup(e, "training outputs");
    Nn = sx->shape.dims[0];
    C = sx->shape.dims[1];
    for (r = 2; r < sx->shape.rank; r++) inner *= sx->shape.dims[r];
    if (I->in_count != 5) return nn_target__ec_unsup(e, "five inputs");
    for (j = 1; j < 5; j++) {
        const nn_target_slot *s = nn_target__ec_slot(e, j);
        if (!s || s->region != NN_TARGET_REGION_WEIGHTS || s->dtype != NN_DTYPE_FLOAT || nn_target__ec_count(&s->shape) != (uint64_t)C)
            return nn_target__ec_unsup(e, "scale, B, mean and var must be float32 constants of C values");
    }
    if (!e->fn) return NN_OK;
    if (nn_target__ec_consts_of(e, 1) != NN_OK) return e->st;
    for (j = 0; j < 2; j++) {
        char f[48];
        snprintf(nm, sizeof nm, "nn_%s%u", j ? "b" : "w", e->instr);
        nn_target__ec_put(e, "static const float %s[%lld] = {", nm, (long long)(C ? C : 1));
        for (c = 0; c < C && e->st == NN_OK; c++) {
            float v[4];
            double av;
            uint32_t q;
            for (q = 0; q < 4; q++) memcpy(&v[q], e->p->weights + nn_target__ec_slot(e, 1 + q)->offset + 4 * (uint64_t)c, 4);
            av = (double)v[0] / sqrt((double)v[3] + eps);
            if (c % 8 == 0) nn_target__ec_put(e, "\n   ");
            nn_target__ec_put(e, " %s,", nn_target__ec_flt(j ? (float)((double)v[1] - (double)v[2] * av) : (float)av, f, sizeof f));
        }
        nn_target__ec_put(e, "%s\n};\n", C ? "" : "0");
    }
    nn_target__ec_put(e, "/* %u BatchNormalization '%s' (float) */\nstatic void nn_i%u(void) {\n    size_t q, i;\n", e->instr, e->nm,
                      e->instr);
    snprintf(ix, sizeof ix, "q * %lld + i", (long long)inner);
    nn_target__ec_put(e, "    for (q = 0; q < %lld; q++)\n        for (i = 0; i < %lld; i++) %s = %s * nn_w%u[q %% %lld] + nn_b%u[q %% %lld];\n}\n\n",
                      (long long)(Nn * C), (long long)inner, nn_target__ec_at(e, I->in_count, ix, ys, sizeof ys),
                      nn_target__ec_at(e, 0, ix, xs, sizeof xs), e->instr, (long long)C, e->instr, (long long)C);
    return e->st;
}

/* Resize, mode nearest: nn_graph.h's source index per output index and
   axis (computed here in double the same way) as const tables; the
   output gathers element by element. */
static nn_status nn_target__ec_resize(nn_target__ec *e, const nn_node *nd, int64_t opset) {
    static const char *const coords[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                                         "asymmetric", "tf_half_pixel_for_nn"};
    static const char *const nearests[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, I->in_count);
    const char *mode = nn_node_attr_string(nd, "mode", "nearest");
    int legacy = opset < 11, coord = 4, nearest = -1, ns, nz = -1, k, pass;
    double sc[NN_MAX_RANK], scale[NN_MAX_RANK];
    int64_t sz[NN_MAX_RANK], st_in[NN_MAX_RANK];
    int32_t R, r;
    int ident[NN_MAX_RANK];
    char expr[640], xs[900], ys[256];
    size_t len;
    if (!sx || !nn_target__ec_member(sx->dtype) || sx->dtype != sy->dtype || sx->shape.rank != sy->shape.rank || sx->shape.rank < 1)
        return nn_target__ec_unsup(e, "element type");
    R = sx->shape.rank;
    if (strcmp(mode, "nearest") != 0) return nn_target__ec_unsup(e, "a mode other than nearest");
    if (!legacy) {
        const char *ct = nn_node_attr_string(nd, "coordinate_transformation_mode", "half_pixel");
        const char *nm = nn_node_attr_string(nd, "nearest_mode", "round_prefer_floor");
        for (coord = -1, k = 0; k < 6; k++) if (strcmp(ct, coords[k]) == 0) coord = k;
        for (k = 0; k < 4; k++) if (strcmp(nm, nearests[k]) == 0) nearest = k;
        if (coord < 0 || nearest < 0) return nn_target__ec_unsup(e, "coordinate_transformation_mode or nearest_mode");
        if (nn_node_attr(nd, "axes") || strcmp(nn_node_attr_string(nd, "keep_aspect_ratio_policy", "stretch"), "stretch") != 0)
            return nn_target__ec_unsup(e, "axes or keep_aspect_ratio_policy");
    }
    ns = nn_target__ec_cflts(e, legacy ? 1 : 2, sc, NN_MAX_RANK);
    if (ns <= 0 && !legacy) {
        nz = nn_target__ec_cints(e, 3, sz, NN_MAX_RANK);
        ns = -1;
    }
    if ((ns >= 0 && ns != R) || (ns < 0 && nz != R)) return nn_target__ec_unsup(e, "scales or sizes must be constants, one per dim");
    for (r = 0; r < R; r++) {
        int64_t in = sx->shape.dims[r], out = sy->shape.dims[r];
        if (in < 1) return nn_target__ec_unsup(e, "an empty axis");
        if (ns >= 0) {
            scale[r] = sc[r];
            if (!(sc[r] > 0) || floor((double)in * sc[r]) != (double)out) return nn_target__ec_unsup(e, "the output shape disagrees with the scales");
        } else {
            scale[r] = (double)sz[r] / (double)in;
            if (sz[r] != out) return nn_target__ec_unsup(e, "the output shape disagrees with the sizes");
        }
    }
    if (!e->fn) return NN_OK;
    if (nn_target__ec_consts_of(e, 1) != NN_OK) return e->st;
    nn_target__ec_strides(&sx->shape, st_in);
    /* pass 0: which axes are the identity; pass 1: the tables of the others */
    for (pass = 0; pass < 2; pass++)
        for (r = 0; r < R; r++) {
            int64_t in = sx->shape.dims[r], out = sy->shape.dims[r], o;
            double s = scale[r], len_ = (double)in;
            if (pass == 0) ident[r] = in == out;
            else if (ident[r]) continue;
            else nn_target__ec_put(e, "static const int32_t nn_r%u_%d[%lld] = {", e->instr, (int)r, (long long)out);
            for (o = 0; o < out && e->st == NN_OK; o++) {
                double x, xo = (double)o, f, rr;
                int64_t q;
                switch (legacy ? 4 : coord) {
                case 1: {
                    double adj = (double)out / (s * len_), center = len_ / 2;
                    x = center * (1 - adj) + (xo + 0.5) / s - 0.5;
                    break;
                }
                case 2: x = out > 1 ? (xo + 0.5) / s - 0.5 : -0.5; break;
                case 3: x = s * len_ == 1 ? 0 : xo * (len_ - 1) / (s * len_ - 1); break;
                case 4: x = xo / s; break;
                case 5: x = (xo + 0.5) / s; break;
                default: x = (xo + 0.5) / s - 0.5; break;
                }
                f = floor(x);
                rr = x - f;
                if (legacy) q = s < 1 ? (int64_t)ceil(x) : (int64_t)f;
                else if (rr == 0) q = (int64_t)f;
                else if (nearest == 2) q = (int64_t)f;
                else if (nearest == 3) q = (int64_t)f + 1;
                else if (nearest == 1) q = (int64_t)f + (rr >= 0.5);
                else q = (int64_t)f + (rr > 0.5);
                q = q < 0 ? 0 : q >= in ? in - 1 : q;
                if (pass == 0) {
                    if (q != o) ident[r] = 0;
                    continue;
                }
                if (o % 24 == 0) nn_target__ec_put(e, "\n   ");
                nn_target__ec_put(e, " %lld,", (long long)q);
            }
            if (pass == 1) nn_target__ec_put(e, "\n};\n");
        }
    len = (size_t)snprintf(expr, sizeof expr, "0");
    for (r = 0; r < R; r++) {
        if (sy->shape.dims[r] == 1 && ident[r]) continue;
        if (len + 64 >= sizeof expr) return nn_target__ec_unsup(e, "rank too high");
        if (ident[r]) len += (size_t)snprintf(expr + len, sizeof expr - len, " + i%d * %lld", (int)r, (long long)st_in[r]);
        else len += (size_t)snprintf(expr + len, sizeof expr - len, " + (size_t)nn_r%u_%d[i%d] * %lld", e->instr, (int)r, (int)r,
                                     (long long)st_in[r]);
    }
    nn_target__ec_put(e, "/* %u Resize '%s' (nearest) */\nstatic void nn_i%u(void) {\n    size_t e = 0;\n", e->instr, e->nm, e->instr);
    for (r = 0; r < R; r++) nn_target__ec_put(e, "    size_t i%d;\n", (int)r);
    for (r = 0; r < R; r++)
        nn_target__ec_put(e, "%*sfor (i%d = 0; i%d < %lld; i%d++) {\n", 4 + 4 * (int)r, "", (int)r, (int)r,
                          (long long)sy->shape.dims[r], (int)r);
    nn_target__ec_put(e, "%*s%s = %s;\n", 4 + 4 * (int)R, "", nn_target__ec_at(e, I->in_count, "e", ys, sizeof ys),
                      nn_target__ec_at(e, 0, expr, xs, sizeof xs));
    nn_target__ec_close(e, (int)R);
    nn_target__ec_put(e, "}\n\n");
    return e->st;
}

/* LayerNormalization (float32, scale and bias float32 constants of the
   normalized size, no Mean/InvStdDev outputs): nn_graph.h's row path,
   written out in nn_lnorm (mean by nn_rsum, the float mean and what its
   rounding lost, the squared deviations from the float mean in 16 double
   lanes, 1 / sqrt(var + eps) in double, then the float row). */
static nn_status nn_target__ec_lnorm(nn_target__ec *e, const nn_node *nd) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_target_slot *sx = nn_target__ec_slot(e, 0), *sy = nn_target__ec_slot(e, I->in_count);
    const nn_target_slot *ss = I->in_count > 1 ? nn_target__ec_slot(e, 1) : NULL;
    const nn_target_slot *sb = I->in_count > 2 ? nn_target__ec_slot(e, 2) : NULL;
    int64_t a = nn_node_attr_int(nd, "axis", -1), rows = 1, n = 1;
    double eps = nn_node_attr_float(nd, "epsilon", 1e-5f);
    int32_t r;
    uint32_t j;
    char xs[256], ys[256], cs[256], bs[256], ix[64], f[48];
    nn_status st;
    if (!sx || sx->dtype != NN_DTYPE_FLOAT || sy->dtype != NN_DTYPE_FLOAT) return nn_target__ec_unsup(e, "only float32");
    if (nn_node_attr_int(nd, "stash_type", 1) != 1) return nn_target__ec_unsup(e, "stash_type other than 1");
    for (j = 1; j < I->out_count; j++)
        if (nn_target__ec_slot(e, I->in_count + j)) return nn_target__ec_unsup(e, "the Mean or InvStdDev output");
    if (a < 0) a += sx->shape.rank;
    if (a < 0 || a > sx->shape.rank) return nn_target__ec_unsup(e, "axis out of range");
    for (r = 0; r < sx->shape.rank; r++) {
        if (r < a) rows *= sx->shape.dims[r];
        else n *= sx->shape.dims[r];
    }
    if (!ss || ss->dtype != NN_DTYPE_FLOAT || nn_target__ec_count(&ss->shape) != (uint64_t)n ||
        (sb && (sb->dtype != NN_DTYPE_FLOAT || nn_target__ec_count(&sb->shape) != (uint64_t)n)))
        return nn_target__ec_unsup(e, "scale and bias must be float32 of the normalized size");
    e->uses |= NN_TARGET__EC_RSUM | NN_TARGET__EC_LN;
    if (!e->fn) return NN_OK;
    if ((st = nn_target__ec_consts(e)) != NN_OK) return st;
    nn_target__ec_at(e, 1, "0", cs, sizeof cs);
    if (sb) nn_target__ec_at(e, 2, "0", bs, sizeof bs);
    snprintf(ix, sizeof ix, "o * %lld", (long long)n);
    nn_target__ec_put(e, "/* %u LayerNormalization '%s' (float, %lld rows of %lld) */\nstatic void nn_i%u(void) {\n    size_t o;\n",
                      e->instr, e->nm, (long long)rows, (long long)n, e->instr);
    nn_target__ec_put(e, "    for (o = 0; o < %lld; o++) nn_lnorm(&%s, &%s, %lld, &%s, %s%s, %s);\n}\n\n", (long long)rows,
                      nn_target__ec_at(e, 0, ix, xs, sizeof xs), nn_target__ec_at(e, I->in_count, ix, ys, sizeof ys), (long long)n,
                      cs, sb ? "&" : "", sb ? bs : "NULL", nn_target__ec_flt((float)eps, f, sizeof f));
    return e->st;
}

/* Ops that stream element i -> element i and may run over their input
   (the planner's in-place rule) when the output starts on the input's
   first byte and is not larger. */
static int nn_target__ec_inplace_ok(const char *op) {
    static const char *const ok[] = {"QuantizeLinear", "DequantizeLinear", "Add", "Sub", "Mul", "Div", "Relu", "Sigmoid",
                                     "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Sqrt", "Pow"};
    size_t i;
    for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(op, ok[i]) == 0) return 1;
    return 0;
}

/* Which inputs of the current cpu instruction are read from a copy in
   scratch (they share bytes with an output otherwise than in place),
   as the simulator does; fills e->sc_off and grows e->scratch. */
static void nn_target__ec_plan_copies(nn_target__ec *e) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    uint64_t used = 0;
    uint32_t k, j;
    memset(e->sc_off, 0, sizeof e->sc_off);
    if (I->op != NN_TARGET_OP_CPU || (I->flags & NN_TARGET_INSTR_VIEW)) return;
    for (k = 0; k < I->in_count && k < sizeof e->sc_off / sizeof e->sc_off[0]; k++) {
        const nn_target_slot *sx = nn_target__ec_slot(e, k);
        if (!sx || sx->region != NN_TARGET_REGION_ARENA) continue;
        for (j = 0; j < I->out_count; j++) {
            const nn_target_slot *so = nn_target__ec_slot(e, I->in_count + j);
            if (!so || so->region != NN_TARGET_REGION_ARENA || !sx->bytes || !so->bytes) continue;
            if (!(sx->offset < so->offset + so->bytes && so->offset < sx->offset + sx->bytes)) continue;
            if (nn_target__ec_inplace_ok(e->p->nodes[I->node].op_type) && sx->offset == so->offset && so->bytes <= sx->bytes) continue;
            e->sc_off[k] = used + 1;
            used += (sx->bytes + 63) / 64 * 64;
            break;
        }
    }
    if (used > e->scratch) e->scratch = used;
}

static nn_status nn_target__ec_cpu(nn_target__ec *e) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    const nn_node *nd = &e->p->nodes[I->node];
    int64_t opset = e->p->node_opsets[I->node];
    const char *op = nd->op_type;
    const nn_target_slot *sy = I->out_count ? nn_target__ec_slot(e, I->in_count) : NULL;
    if (nd->domain && nd->domain[0]) return nn_target__ec_unsup(e, "an op outside the default ONNX domain");
    if (!sy || sy->region != NN_TARGET_REGION_ARENA || !nn_target__ec_member(sy->dtype))
        return nn_target__ec_unsup(e, "an output of an unsupported type");
    if (I->flags & NN_TARGET_INSTR_VIEW) {
        nn_target__ec_put(e, "/* %u %s '%s': a view of its input's bytes, nothing to run */\n\n", e->instr, op, e->nm);
        return e->st;
    }
    if (strcmp(op, "QuantizeLinear") == 0) return nn_target__ec_quant(e, nd, opset, 0);
    if (strcmp(op, "DequantizeLinear") == 0) return nn_target__ec_quant(e, nd, opset, 1);
    if (strcmp(op, "Add") == 0) return nn_target__ec_fbin(e, nd, '+');
    if (strcmp(op, "Sub") == 0) return nn_target__ec_fbin(e, nd, '-');
    if (strcmp(op, "Mul") == 0) return nn_target__ec_fbin(e, nd, '*');
    if (strcmp(op, "Div") == 0) return nn_target__ec_fbin(e, nd, '/');
    if (strcmp(op, "Relu") == 0) return nn_target__ec_relu(e, nd);
    if (strcmp(op, "Sigmoid") == 0) return nn_target__ec_sigmoid(e);
    if (strcmp(op, "Reshape") == 0 || strcmp(op, "Flatten") == 0 || strcmp(op, "Squeeze") == 0 ||
        strcmp(op, "Unsqueeze") == 0 || strcmp(op, "Identity") == 0)
        return nn_target__ec_move(e);
    if (strcmp(op, "MaxPool") == 0) return nn_target__ec_maxpool(e, nd);
    if (strcmp(op, "GlobalAveragePool") == 0) return nn_target__ec_gavg(e);
    if (strcmp(op, "Gemm") == 0) return nn_target__ec_fgemm(e, nd);
    if (strcmp(op, "Softmax") == 0) return nn_target__ec_softmax(e, nd, opset);
    if (strcmp(op, "Transpose") == 0) return nn_target__ec_transpose(e, nd);
    if (strcmp(op, "Concat") == 0) return nn_target__ec_concat(e, nd);
    if (strcmp(op, "Sqrt") == 0 || strcmp(op, "Pow") == 0) return nn_target__ec_unary(e, nd);
    if (strcmp(op, "ReduceMean") == 0 || strcmp(op, "ReduceSum") == 0) return nn_target__ec_reduce(e, nd, opset);
    if (strcmp(op, "Slice") == 0) return nn_target__ec_slice(e, nd, opset);
    if (strcmp(op, "Split") == 0) return nn_target__ec_split(e, nd);
    if (strcmp(op, "Gather") == 0) return nn_target__ec_gather(e, nd);
    if (strcmp(op, "MatMul") == 0) return nn_target__ec_fmatmul(e);
    if (strcmp(op, "ConvTranspose") == 0) return nn_target__ec_convt(e, nd);
    if (strcmp(op, "BatchNormalization") == 0) return nn_target__ec_bn(e, nd, opset);
    if (strcmp(op, "Resize") == 0) return nn_target__ec_resize(e, nd, opset);
    if (strcmp(op, "LayerNormalization") == 0) return nn_target__ec_lnorm(e, nd);
    return nn_target__ec_unsup(e, "a float island whose nn_graph.h kernel has no exact C form here");
}

static nn_status nn_target__ec_instr(nn_target__ec *e) {
    const nn_target_instr *I = &e->p->instrs[e->instr];
    nn_target__ec_safe(I->name, e->nm, sizeof e->nm);
    nn_target__ec_plan_copies(e);
    switch (I->op) {
    case NN_TARGET_OP_CONV: return nn_target__ec_conv(e);
    case NN_TARGET_OP_GEMM:
    case NN_TARGET_OP_MATMUL: return nn_target__ec_matmul(e);
    case NN_TARGET_OP_ADD:
    case NN_TARGET_OP_SUB:
    case NN_TARGET_OP_MUL: return nn_target__ec_eltwise(e);
    case NN_TARGET_OP_AVGPOOL: return nn_target__ec_avgpool(e);
    case NN_TARGET_OP_LUT8:
    case NN_TARGET_OP_LUT16: return nn_target__ec_lut(e);
    case NN_TARGET_OP_CPU: return nn_target__ec_cpu(e);
    case NN_TARGET_OP_YUV: return nn_target__ec_yuv(e);
    default: return nn_target__ec_unsup(e, "an instruction kind the generator does not write");
    }
}

/* A name for a comment: printable, no comment terminator. */
static const char *nn_target__ec_safe(const char *s, char *out, size_t cap) {
    size_t i;
    for (i = 0; s && s[i] && i + 1 < cap; i++) out[i] = (s[i] < 32 || s[i] > 126 || s[i] == '*' || s[i] == '\\') ? '_' : s[i];
    out[i] = 0;
    return out;
}

static void nn_target__ec_shape(const nn_shape *s, char *out, size_t cap) {
    size_t len = 0;
    int32_t r;
    len += (size_t)snprintf(out, cap, "(");
    for (r = 0; r < s->rank && len + 24 < cap; r++)
        len += (size_t)snprintf(out + len, cap - len, "%s%lld", r ? "," : "", (long long)s->dims[r]);
    snprintf(out + len, cap - len, ")");
}

static void nn_target__ec_prelude(nn_target__ec *e, const char *name, const char *header) {
    const nn_target_program *p = e->p;
    nn_target__ec_put(e, "/* %s.c - generated by nnport (nn_target_emit_c) from a program for target '%s': %u instructions.\n"
                         "   Builds with the C standard library alone (cc -std=c99 -O2 -c %s.c; link -lm).  Float islands,\n"
                         "   if any, follow nn_graph.h's kernels operation for operation, so the outputs are the simulator's\n"
                         "   bits (IEEE float evaluated in float, no FMA contraction: both enforced below).  Do not edit. */\n",
                      name, p->target_name ? p->target_name : "?", p->instr_count, name);
    nn_target__ec_put(e, "#include <float.h>\n#include <math.h>\n#include <stdint.h>\n#include <string.h>\n#include \"%s\"\n\n", header);
    nn_target__ec_put(e, "#if FLT_EVAL_METHOD != 0\n#error \"float arithmetic must be evaluated in float (FLT_EVAL_METHOD 0) to match the simulator\"\n#endif\n\n");
    nn_target__ec_put(e, "/* No contraction of a * b + c into one FMA (nnport's kernels are built in ISO C mode, which has\n"
                         "   none): GCC in GNU mode contracts by default (-ffp-contract=fast).  The float helpers read the\n"
                         "   arena union through float pointers, which GCC's type-based alias analysis does not tie to the\n"
                         "   union's other members (measured: GCC 12 -O2 dropped a DequantizeLinear whose floats were read\n"
                         "   only that way), so GCC is also told not to assume strict aliasing. */\n"
                         "#if defined(__GNUC__) && !defined(__clang__)\n#pragma GCC optimize(\"fp-contract=off\", \"no-strict-aliasing\")\n"
                         "#else\n#pragma STDC FP_CONTRACT OFF\n#endif\n\n");
}

/* A static union of byte size `bytes` (rounded up to 8) named name. */
static void nn_target__ec_union(nn_target__ec *e, const char *name, uint64_t bytes) {
    uint64_t b = (bytes + 7) / 8 * 8;
    if (!b) b = 8;
    nn_target__ec_put(e, "static union {\n    uint8_t u8[%llu];\n    int8_t s8[%llu];\n    int16_t s16[%llu];\n    uint16_t u16[%llu];\n"
                         "    int32_t s32[%llu];\n    uint32_t u32[%llu];\n    int64_t s64[%llu];\n    float f[%llu];\n} %s;\n\n",
                      (unsigned long long)b, (unsigned long long)b, (unsigned long long)b / 2, (unsigned long long)b / 2,
                      (unsigned long long)b / 4, (unsigned long long)b / 4, (unsigned long long)b / 8, (unsigned long long)b / 4,
                      name);
}

static void nn_target__ec_helpers(nn_target__ec *e) {
    if (e->uses & (NN_TARGET__EC_RQ | NN_TARGET__EC_MS))
        nn_target__ec_put(e,
            "/* round(x * m / 2^shift), ties up, saturated to int32 (nn_quant_mul_shift; floor without >> of negatives). */\n"
            "static int32_t nn_ms(int64_t x, int32_t m, int32_t shift) {\n"
            "    int64_t p = x * m, r;\n"
            "    if (shift > 0) {\n"
            "        p += (int64_t)1 << (shift - 1);\n"
            "        r = p >= 0 ? p >> shift : -((-(p + 1)) >> shift) - 1;\n"
            "    } else {\n"
            "        r = p;\n"
            "    }\n"
            "    return r > INT32_MAX ? INT32_MAX : r < INT32_MIN ? INT32_MIN : (int32_t)r;\n"
            "}\n\n");
    if (e->uses & NN_TARGET__EC_RQW)
        nn_target__ec_put(e,
            "/* nn_quant_requantize_wide: round(acc * m / 2^shift) ties up for any int64 acc, the product formed\n"
            "   exactly as A * 2^32 + B from acc's two 32-bit halves, then + zp and clamped. */\n"
            "static int64_t nn_fs(int64_t v, int s) {\n    return v >= 0 ? v >> s : -((-(v + 1)) >> s) - 1;\n}\n\n"
            "static int32_t nn_rqw(int64_t acc, int32_t m, int32_t shift, int32_t zp, int32_t lo, int32_t hi) {\n"
            "    int64_t A, r, v;\n    uint64_t B;\n"
            "    if (m <= 0) return zp < lo ? lo : zp > hi ? hi : zp;\n"
            "    A = nn_fs(acc, 32) * (int64_t)m;\n"
            "    B = ((uint64_t)acc & 0xffffffffu) * (uint64_t)m;\n"
            "    if (shift > 0) B += (uint64_t)1 << (shift - 1);\n"
            "    A += (int64_t)(B >> 32);\n    B &= 0xffffffffu;\n"
            "    if (shift >= 32) r = nn_fs(A, shift - 32);\n"
            "    else if (A >= ((int64_t)1 << 31)) r = INT32_MAX;\n"
            "    else if (A < -((int64_t)1 << 31)) r = INT32_MIN;\n"
            "    else r = A * ((int64_t)1 << (32 - shift)) + (int64_t)(B >> shift);\n"
            "    if (r > INT32_MAX) r = INT32_MAX;\n    if (r < INT32_MIN) r = INT32_MIN;\n"
            "    v = r + zp;\n"
            "    return (int32_t)(v < lo ? lo : v > hi ? hi : v);\n}\n\n");
    if (e->uses & NN_TARGET__EC_RQ)
        nn_target__ec_put(e,
            "/* clamp(nn_ms(acc, m, shift) + zp, lo, hi) (nn_quant_requantize). */\n"
            "static int32_t nn_rq(int64_t acc, int32_t m, int32_t shift, int32_t zp, int32_t lo, int32_t hi) {\n"
            "    const int64_t v = (int64_t)nn_ms(acc, m, shift) + zp;\n"
            "    return (int32_t)(v < lo ? lo : v > hi ? hi : v);\n"
            "}\n\n");
    if (e->uses & NN_TARGET__EC_SIG)
        nn_target__ec_put(e,
            "/* nn_graph.h's float exp without libm: n = round(x / ln 2) by the 1.5 * 2^23 trick, r = x - n ln 2\n"
            "   in two parts, e^r by its Taylor polynomial to r^7, 2^n as two power-of-two factors. */\n"
            "static float nn_u2f(uint32_t u) {\n    float f;\n    memcpy(&f, &u, 4);\n    return f;\n}\n\n"
            "static float nn_expf(float x) {\n"
            "    const float magic = 12582912.0f;\n"
            "    float xc = x > 88.8f ? 88.8f : x, t, n, r, q, p;\n"
            "    uint32_t tb, mb;\n"
            "    int32_t ni, n1;\n"
            "    xc = xc < -104.0f ? -104.0f : xc;\n"
            "    t = xc * 1.44269504088896341f + magic;\n"
            "    n = t - magic;\n"
            "    memcpy(&tb, &t, 4);\n"
            "    memcpy(&mb, &magic, 4);\n"
            "    ni = (int32_t)((int64_t)tb - (int64_t)mb);\n"
            "    r = xc - n * 0.693359375f;\n"
            "    r = r - n * -2.12194440e-4f;\n"
            "    q = 1.0f / 5040.0f;\n"
            "    q = q * r + 1.0f / 720.0f;\n"
            "    q = q * r + 1.0f / 120.0f;\n"
            "    q = q * r + 1.0f / 24.0f;\n"
            "    q = q * r + 1.0f / 6.0f;\n"
            "    q = q * r + 0.5f;\n"
            "    p = 1.0f + (r + r * r * q);\n"
            "    n1 = ni > 100 ? 64 : ni < -100 ? -64 : 0;\n"
            "    return p * nn_u2f((uint32_t)(n1 + 127) << 23) * nn_u2f((uint32_t)(ni - n1 + 127) << 23);\n"
            "}\n\n"
            "/* The logistic function with one exp and no overflow (nn_ew__sigmoidf). */\n"
            "static float nn_sigmoidf(float x) {\n"
            "    const float e = nn_expf(-fabsf(x)), s = 1.0f / (1.0f + e);\n"
            "    return x >= 0.0f ? s : e * s;\n"
            "}\n\n");
    if (e->uses & NN_TARGET__EC_EXP)
        nn_target__ec_put(e,
            "/* One Softmax row as nn_graph.h computes it: the max over 16 lanes, exp(x - max) by a Cody-Waite\n"
            "   reduction and a degree-7 Taylor polynomial (2^k built in the exponent field), the sum in 16 double\n"
            "   lanes added pairwise, then y *= (float)(1 / sum). */\n"
            "static void nn_smx_row(const float *x, float *y, size_t n) {\n"
            "    float mx[16], m, inv;\n"
            "    double s[16];\n"
            "    size_t i;\n"
            "    const size_t nb = n - n %% 16; /* (i + 16 <= n loops trip GCC's -Waggressive-loop-optimizations) */\n"
            "    int l, w;\n"
            "    for (l = 0; l < 16; l++) mx[l] = -INFINITY;\n"
            "    for (i = 0; i < nb; i += 16)\n"
            "        for (l = 0; l < 16; l++) mx[l] = x[i + l] > mx[l] ? x[i + l] : mx[l];\n"
            "    for (i = nb; i < n; i++) mx[0] = x[i] > mx[0] ? x[i] : mx[0];\n"
            "    for (l = 1; l < 16; l++) mx[0] = mx[l] > mx[0] ? mx[l] : mx[0];\n"
            "    m = mx[0];\n"
            "    for (i = 0; i < n; i++) {\n"
            "        const float v = x[i] - m;\n"
            "        y[i] = v < -87.3f ? -87.3f : v;\n"
            "    }\n"
            "    for (i = 0; i < n; i++) {\n"
            "        float v = y[i], t = v * 1.44269504f + 12582912.0f, k, r, p, scale;\n"
            "        uint32_t tb, sb;\n"
            "        memcpy(&tb, &t, 4);\n"
            "        k = (float)((int32_t)(tb & 0x7FFFFFu) - 0x400000);\n"
            "        r = (v - k * 0.693359375f) + k * 2.12194440e-4f;\n"
            "        p = 1.0f / 5040;\n"
            "        p = p * r + 1.0f / 720;\n"
            "        p = p * r + 1.0f / 120;\n"
            "        p = p * r + 1.0f / 24;\n"
            "        p = p * r + 1.0f / 6;\n"
            "        p = p * r + 0.5f;\n"
            "        p = p * r + 1.0f;\n"
            "        p = p * r + 1.0f;\n"
            "        sb = ((tb - 0x4B400000u + 127u) << 23) & (0u - (uint32_t)(v > -87.3f));\n"
            "        memcpy(&scale, &sb, 4);\n"
            "        y[i] = p * scale;\n"
            "    }\n"
            "    for (l = 0; l < 16; l++) s[l] = 0;\n"
            "    for (i = 0; i < nb; i += 16)\n"
            "        for (l = 0; l < 16; l++) s[l] += (double)y[i + l];\n"
            "    for (i = nb; i < n; i++) s[0] += (double)y[i];\n"
            "    for (w = 8; w > 0; w /= 2)\n"
            "        for (l = 0; l < w; l++) s[l] += s[l + w];\n"
            "    inv = (float)(1.0 / s[0]);\n"
            "    for (i = 0; i < n; i++) y[i] *= inv;\n"
            "}\n\n");
}

/* The helpers of the float islands added with ReduceMean, MatMul and Gather. */
static void nn_target__ec_helpers2(nn_target__ec *e) {
    if (e->uses & NN_TARGET__EC_YUV)
        nn_target__ec_put(e,
            "/* One BT.601 pixel as nn_target_yuv_pixel computes it: the decimal coefficients x 10^6 over a\n"
            "   common denominator (limited range: x 255/219 for Y, x 255/224 for chroma), rounded half up,\n"
            "   clamped to 0..255. */\n"
            "static void nn_yuv(int32_t y, int32_t u, int32_t v, int limited, uint8_t rgb[3]) {\n"
            "    const int64_t M = 1000000, ky = limited ? 255 * 224 * M : M, kc = limited ? 255 * 219 : 1;\n"
            "    const int64_t den = limited ? 219 * 224 * M : M, yy = (int64_t)(y - (limited ? 16 : 0)) * ky;\n"
            "    const int64_t du = u - 128, dv = v - 128;\n"
            "    int64_t s[3];\n"
            "    int c;\n"
            "    s[0] = yy + kc * %d * dv;\n"
            "    s[1] = yy - kc * (%d * du + %d * dv);\n"
            "    s[2] = yy + kc * %d * du;\n"
            "    for (c = 0; c < 3; c++) {\n"
            "        const int64_t t = s[c] + den / 2;\n"
            "        rgb[c] = (uint8_t)(t < 0 ? 0 : t >= 256 * den ? 255 : t / den);\n"
            "    }\n"
            "}\n\n", NN_TARGET__YUV_CR, NN_TARGET__YUV_CGU, NN_TARGET__YUV_CGV, NN_TARGET__YUV_CB);
    if (e->uses & NN_TARGET__EC_BAD)
        nn_target__ec_put(e, "/* set by a Gather whose index read at run time is out of range (model_run returns -1) */\n"
                             "static int nn_bad;\n\n");
    if (e->uses & NN_TARGET__EC_RSUM)
        nn_target__ec_put(e,
            "/* A float row summed as nn_graph.h's ReduceSum/ReduceMean does: 16 double lanes over whole blocks\n"
            "   of 16, the tail into lane 0, then the lanes added pairwise. */\n"
            "static double nn_rsum(const float *x, size_t n) {\n"
            "    double s[16];\n"
            "    size_t i;\n"
            "    const size_t nb = n - n %% 16;\n"
            "    int l, w;\n"
            "    for (l = 0; l < 16; l++) s[l] = 0;\n"
            "    for (i = 0; i < nb; i += 16)\n"
            "        for (l = 0; l < 16; l++) s[l] += (double)x[i + l];\n"
            "    for (i = nb; i < n; i++) s[0] += (double)x[i];\n"
            "    for (w = 8; w > 0; w /= 2)\n"
            "        for (l = 0; l < w; l++) s[l] += s[l + w];\n"
            "    return s[0];\n"
            "}\n\n");
    if (e->uses & NN_TARGET__EC_MM)
        nn_target__ec_put(e,
            "/* One element of nn_graph.h's float SGEMM: sum_k a[k * as] * b[k * bs] over K in blocks of %d, each\n"
            "   block summed from +0 in k order%s, the blocks added in order; edge: the element lies in a\n"
            "   partial tile, whose first block gains + 0.0f. */\n"
            "static float nn_mm(const float *a, size_t as, const float *b, size_t bs, size_t K, int edge) {\n"
            "    float c = 0.0f;\n"
            "    size_t k0, k;\n"
            "    for (k0 = 0; k0 < K; k0 += %d) {\n"
            "        const size_t k1 = K - k0 < %d ? K : k0 + %d;\n"
            "        float s = 0.0f;\n"
            "        for (k = k0; k < k1; k++) %s;\n"
            "        c = k0 ? c + s : edge ? s + 0.0f : s;\n"
            "    }\n"
            "    return c;\n"
            "}\n\n",
            NN_TARGET__EC_KC, NN_TARGET__EC_FMA ? " by fused multiply-adds" : "", NN_TARGET__EC_KC, NN_TARGET__EC_KC,
            NN_TARGET__EC_KC, NN_TARGET__EC_FMA ? "s = fmaf(a[k * as], b[k * bs], s)" : "s += a[k * as] * b[k * bs]");
    if (e->uses & NN_TARGET__EC_LN)
        nn_target__ec_put(e,
            "/* One LayerNormalization row as nn_graph.h computes it: the mean m in double (nn_rsum), its float\n"
            "   mf and what that rounding lost dm, the squared float deviations from mf summed in 16 double lanes\n"
            "   added pairwise, var minus the rounding's square, a = (float)(1 / sqrt(var + eps)), then\n"
            "   y = ((x - mf) - dm) * a * scale + bias in float. */\n"
            "static void nn_lnorm(const float *x, float *y, size_t n, const float *sc, const float *bi, double eps) {\n"
            "    const double m = nn_rsum(x, n) / (double)n;\n"
            "    const float mf = (float)m, dm = (float)(m - mf);\n"
            "    const size_t nb = n - n %% 16;\n"
            "    double s[16], var;\n"
            "    float a;\n"
            "    size_t i;\n"
            "    int l, w;\n"
            "    for (l = 0; l < 16; l++) s[l] = 0;\n"
            "    for (i = 0; i < nb; i += 16)\n"
            "        for (l = 0; l < 16; l++) {\n"
            "            const float d = x[i + l] - mf;\n"
            "            s[l] += (double)(d * d);\n"
            "        }\n"
            "    for (i = nb; i < n; i++) {\n"
            "        const float d = x[i] - mf;\n"
            "        s[0] += (double)(d * d);\n"
            "    }\n"
            "    for (w = 8; w > 0; w /= 2)\n"
            "        for (l = 0; l < w; l++) s[l] += s[l + w];\n"
            "    var = s[0] / (double)n - (m - mf) * (m - mf);\n"
            "    a = (float)(1.0 / sqrt((var > 0 ? var : 0) + eps));\n"
            "    if (bi)\n"
            "        for (i = 0; i < n; i++) y[i] = ((x[i] - mf) - dm) * a * sc[i] + bi[i];\n"
            "    else\n"
            "        for (i = 0; i < n; i++) y[i] = ((x[i] - mf) - dm) * a * sc[i];\n"
            "}\n\n");
    if (e->uses & NN_TARGET__EC_MV)
        nn_target__ec_put(e,
            "/* One element of nn_graph.h's float matrix-vector path (one row): a plain k-order sum, + 0.0f. */\n"
            "static float nn_mv(const float *a, size_t as, const float *b, size_t bs, size_t K) {\n"
            "    float s = 0.0f;\n"
            "    size_t k;\n"
            "    for (k = 0; k < K; k++) s += a[k * as] * b[k * bs];\n"
            "    return s + 0.0f;\n"
            "}\n\n");
}

static int nn_target__ec_ident(const char *s) {
    size_t i;
    if (!s || !s[0] || strlen(s) > 64 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_')) return 0;
    for (i = 1; s[i]; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return 0;
    return 1;
}

static void nn_target__ec_header(nn_target__ec *e, const char *name, const char *up) {
    const nn_target_program *p = e->p;
    uint32_t i;
    char nm[160], sh[200];
    nn_target__ec_put(e, "/* %s.h - generated by nnport (nn_target_emit_c); do not edit.\n\n"
                         "   int %s_run(const void *const *inputs, void *const *outputs);\n"
                         "     inputs[i]: the i-th input, %s_INPUT_<i>_BYTES bytes of raw little-endian elements (dtype and\n"
                         "     shape below); outputs[i]: room for %s_OUTPUT_<i>_BYTES bytes.  Copies the inputs into the\n"
                         "     arena, runs %u instructions, copies the outputs out.  Returns 0, or -1 for a NULL pointer\n"
                         "     (or a Gather index read from the data out of range: the simulator refuses that run).\n"
                         "     Not reentrant: the arena (%s_ARENA_BYTES) and scratch are static objects in %s.c. */\n",
                      name, name, up, up, p->instr_count, up, name);
    nn_target__ec_put(e, "#ifndef %s_H_INCLUDED\n#define %s_H_INCLUDED\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n", up, up);
    nn_target__ec_put(e, "#define %s_ARENA_BYTES %lluu\n#define %s_SCRATCH_BYTES %lluu\n#define %s_WEIGHT_BYTES %lluu\n", up,
                      (unsigned long long)p->arena_bytes, up, (unsigned long long)e->scratch, up,
                      (unsigned long long)p->weight_bytes);
    nn_target__ec_put(e, "#define %s_INPUT_COUNT %u\n#define %s_OUTPUT_COUNT %u\n\n", up, p->input_count, up, p->output_count);
    for (i = 0; i < p->input_count; i++) {
        const nn_target_slot *s = &p->slots[p->inputs[i]];
        nn_target__ec_shape(&s->shape, sh, sizeof sh);
        nn_target__ec_put(e, "/* input %u '%s': %s %s */\n#define %s_INPUT_%u_BYTES %lluu\n", i, nn_target__ec_safe(s->name, nm, sizeof nm),
                          nn_dtype_name(s->dtype), sh, up, i, (unsigned long long)s->bytes);
    }
    for (i = 0; i < p->output_count; i++) {
        const nn_target_slot *s = &p->slots[p->outputs[i]];
        nn_target__ec_shape(&s->shape, sh, sizeof sh);
        nn_target__ec_put(e, "/* output %u '%s': %s %s */\n#define %s_OUTPUT_%u_BYTES %lluu\n", i, nn_target__ec_safe(s->name, nm, sizeof nm),
                          nn_dtype_name(s->dtype), sh, up, i, (unsigned long long)s->bytes);
    }
    nn_target__ec_put(e, "\nextern const unsigned long %s_input_bytes[%u];\nextern const unsigned long %s_output_bytes[%u];\n", name,
                      p->input_count ? p->input_count : 1, name, p->output_count ? p->output_count : 1);
    nn_target__ec_put(e, "int %s_run(const void *const *inputs, void *const *outputs);\n\n", name);
    nn_target__ec_put(e, "#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

static void nn_target__ec_run(nn_target__ec *e, const char *name) {
    const nn_target_program *p = e->p;
    uint32_t i, k;
    nn_target__ec_put(e, "const unsigned long %s_input_bytes[%u] = {", name, p->input_count ? p->input_count : 1);
    for (i = 0; i < p->input_count; i++) nn_target__ec_put(e, "%s%lluu", i ? ", " : "", (unsigned long long)p->slots[p->inputs[i]].bytes);
    nn_target__ec_put(e, "%s};\nconst unsigned long %s_output_bytes[%u] = {", p->input_count ? "" : "0", name,
                      p->output_count ? p->output_count : 1);
    for (i = 0; i < p->output_count; i++)
        nn_target__ec_put(e, "%s%lluu", i ? ", " : "", (unsigned long long)p->slots[p->outputs[i]].bytes);
    nn_target__ec_put(e, "%s};\n\n", p->output_count ? "" : "0");
    nn_target__ec_put(e, "int %s_run(const void *const *inputs, void *const *outputs) {\n", name);
    nn_target__ec_put(e, "    if (!inputs || !outputs) return -1;\n");
    for (i = 0; i < p->input_count; i++) nn_target__ec_put(e, "    if (!inputs[%u]) return -1;\n", i);
    for (i = 0; i < p->output_count; i++) nn_target__ec_put(e, "    if (!outputs[%u]) return -1;\n", i);
    if (e->uses & NN_TARGET__EC_BAD) nn_target__ec_put(e, "    nn_bad = 0;\n");
    for (i = 0; i < p->input_count; i++) {
        const nn_target_slot *s = &p->slots[p->inputs[i]];
        nn_target__ec_put(e, "    memcpy(nn_a.u8 + %llu, inputs[%u], %llu);\n", (unsigned long long)s->offset, i,
                          (unsigned long long)s->bytes);
    }
    for (i = 0; i < p->instr_count; i++) {
        const nn_target_instr *I = &p->instrs[i];
        e->instr = i;
        if (I->op == NN_TARGET_OP_CPU && (I->flags & NN_TARGET_INSTR_VIEW)) continue;
        nn_target__ec_plan_copies(e);
        for (k = 0; k < I->in_count && k < sizeof e->sc_off / sizeof e->sc_off[0]; k++)
            if (e->sc_off[k]) {
                const nn_target_slot *s = nn_target__ec_slot(e, k);
                nn_target__ec_put(e, "    memcpy(nn_s.u8 + %llu, nn_a.u8 + %llu, %llu); /* input %u shares bytes with the output */\n",
                                  (unsigned long long)(e->sc_off[k] - 1), (unsigned long long)s->offset,
                                  (unsigned long long)s->bytes, k);
            }
        nn_target__ec_put(e, "    nn_i%u();\n", i);
    }
    for (i = 0; i < p->output_count; i++) {
        const nn_target_slot *s = &p->slots[p->outputs[i]];
        nn_target__ec_put(e, "    memcpy(outputs[%u], nn_a.u8 + %llu, %llu);\n", i, (unsigned long long)s->offset,
                          (unsigned long long)s->bytes);
    }
    nn_target__ec_put(e, (e->uses & NN_TARGET__EC_BAD) ? "    return nn_bad ? -1 : 0;\n}\n" : "    return 0;\n}\n");
}

NN_API nn_status nn_target_emit_c(const nn_target_program *p, const nn_target_emit_desc *d, nn_verify_write_fn write_c,
                                  void *c_user, nn_verify_write_fn write_h, void *h_user, nn_diag *diag) {
    nn_target_emit_desc dd;
    nn_target__ec *e;
    char up[72], hdr[96];
    nn_status st = NN_OK;
    uint32_t i;
    NN_ASSERT(p);
    memset(&dd, 0, sizeof dd);
    if (d) dd = *d;
    if (!dd.name) dd.name = "model";
    if (!nn_target__ec_ident(dd.name))
        return nn_diag_set(diag, NN_ERR_ARG, "nn_target_emit_desc.name", "'%s' is not a C identifier of at most 64 characters", dd.name);
    for (i = 0; dd.name[i]; i++) up[i] = (char)(dd.name[i] >= 'a' && dd.name[i] <= 'z' ? dd.name[i] - 32 : dd.name[i]);
    up[i] = 0;
    snprintf(hdr, sizeof hdr, "%s.h", dd.name);
    if (!dd.header) dd.header = hdr;
    for (i = 0; i < p->input_count; i++)
        if (p->slots[p->inputs[i]].region != NN_TARGET_REGION_ARENA)
            return nn_diag_set(diag, NN_ERR_UNSUPPORTED, p->slots[p->inputs[i]].name, "a graph input outside the arena");
    for (i = 0; i < p->output_count; i++)
        if (p->slots[p->outputs[i]].region != NN_TARGET_REGION_ARENA)
            return nn_diag_set(diag, NN_ERR_UNSUPPORTED, p->slots[p->outputs[i]].name, "a constant graph output");
    e = (nn_target__ec *)nn_alloc(&dd.alloc, sizeof *e);
    if (!e) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_emit_c", "out of memory");
    memset(e, 0, sizeof *e);
    e->p = p;
    e->diag = diag;
    e->done = (uint8_t *)nn_alloc(&dd.alloc, p->slot_count ? p->slot_count : 1);
    if (!e->done) {
        nn_free(&dd.alloc, e);
        return nn_diag_set(diag, NN_ERR_NOMEM, "nn_target_emit_c", "out of memory");
    }
    memset(e->done, 0, p->slot_count ? p->slot_count : 1);
    /* pass 1: check every instruction, size the scratch and accumulators */
    for (i = 0; i < p->instr_count && st == NN_OK; i++) {
        e->instr = i;
        st = nn_target__ec_instr(e);
    }
    /* pass 2: the source */
    if (st == NN_OK && write_c) {
        e->fn = write_c;
        e->user = c_user;
        nn_target__ec_prelude(e, dd.name, dd.header);
        nn_target__ec_put(e, "/* The activation arena: nn_target's memory plan, offsets as in the .nnb file; accessed through\n"
                             "   the union's members so alias analysis sees every reuse of its bytes. */\n");
        nn_target__ec_union(e, "nn_a", p->arena_bytes);
        if (e->scratch) {
            nn_target__ec_put(e, "/* Copies of inputs that share bytes with an instruction's output. */\n");
            nn_target__ec_union(e, "nn_s", e->scratch);
        }
        if (e->acc) nn_target__ec_put(e, "/* int32 accumulators of one output row */\nstatic int32_t nn_acc[%llu];\n\n", (unsigned long long)e->acc);
        nn_target__ec_helpers(e);
        nn_target__ec_helpers2(e);
        /* GCC 12 (-O1 and -O2) deleted the calls of DequantizeLinear instructions whose floats later
           instructions read (ViT-Ti: the first dequantize after the patch conv); its interprocedural
           analyses are kept out of the instruction functions, which run once each anyway. */
        nn_target__ec_put(e, "/* One function per instruction, called once each from %s_run; GCC's interprocedural analyses\n"
                             "   are kept out of them (GCC 12 deleted calls of some of them at -O1/-O2 otherwise). */\n"
                             "#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8\n"
                             "#define NN_INSTR static void __attribute__((noipa))\n#else\n#define NN_INSTR static void\n#endif\n",
                          dd.name);
        for (i = 0; i < p->instr_count; i++)
            if (!(p->instrs[i].op == NN_TARGET_OP_CPU && (p->instrs[i].flags & NN_TARGET_INSTR_VIEW)))
                nn_target__ec_put(e, "NN_INSTR nn_i%u(void);\n", i);
        nn_target__ec_put(e, "\n");
        for (i = 0; i < p->instr_count && e->st == NN_OK; i++) {
            e->instr = i;
            st = nn_target__ec_instr(e);
            if (st) break;
        }
        if (st == NN_OK) nn_target__ec_run(e, dd.name);
        nn_target__ec_flush(e);
        if (st == NN_OK) st = e->st;
    }
    if (st == NN_OK && write_h) {
        e->fn = write_h;
        e->user = h_user;
        e->n = 0;
        nn_target__ec_header(e, dd.name, up);
        nn_target__ec_flush(e);
        st = e->st;
    }
    nn_free(&dd.alloc, e->done);
    nn_free(&dd.alloc, e);
    return st;
}

#endif /* NN_TARGET_IMPLEMENTATION_DONE */
#endif /* NN_IMPLEMENTATION || NN_TARGET_IMPLEMENTATION */

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
