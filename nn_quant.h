/* nn_quant.h - post-training quantization: integer kernels with fixed-point
   requantization, a QDQ graph builder (float graph + calibrated ranges ->
   QuantizeLinear/DequantizeLinear graph), a quantize-table reader/writer
   (TPU-MLIR's qtable format with type and range rules), and a fake-quant
   executor that runs a QDQ graph with the very integer kernels a target
   would run; a per-layer precision analysis against the float model and a
   mixed-precision search writing a quantize table.
   Version 0.2.0.

   BUILD
     In exactly one C or C++ file:
         #define NN_IMPLEMENTATION        (or NN_QUANT_IMPLEMENTATION)
         #include "nn_quant.h"
     NN_IMPLEMENTATION also expands nn_graph.h, nn_verify.h and nn_calib.h;
     with NN_QUANT_IMPLEMENTATION alone only this header's code is expanded.
     Needs -lm.

   CONFIG MACROS (define before the implementation include)
     NN_MAX_QTABLE_RULES   65536: most rules a quantize table may hold.
     NN_MAX_QTABLE_BYTES   16 MiB: largest quantize-table text accepted.
     NN_ASSERT(x)          assert() by default; API misuse only.
     NN_QUANT_NO_SIMD      keep the portable integer kernels (the reference)
                           even when the target has AVX-512 VNNI.

   QUICK START
       nn_quant_range *r = calloc(g->tensor_count, sizeof *r);
       nn_calib_desc cd = { .method = NN_CALIB_MINMAX };
       nn_quant_ranges_from_collector(g, col, &cd, r, &d);   (col: nn_calib.h)
       nn_quant_desc qd = {0};                   (s8 symmetric, int8 weights)
       nn_graph *q;
       nn_quant_graph(g, r, &qd, &q, NULL, &d);  (q: a QDQ graph)
       nn_onnx_save_file(q, "model.qdq.onnx", NULL, &d);  (ONNX Runtime runs it)
       nn_qexec *x;
       nn_qexec_create(q, NULL, &x, &d);          (fake-quant executor)
       nn_qexec_set_input(x, 0, &input, &d);
       nn_qexec_run(x, &d);
       const nn_value *y = nn_qexec_output(x, 0);
       nn_qexec_destroy(x);  nn_graph_destroy(q);

   DESIGN
     The quantized model is a QDQ graph in the nn_graph IR (see
     docs/QUANTIZATION.md).  Activations: QuantizeLinear -> DequantizeLinear
     on each quantized tensor.  Weights: int8 initializers behind a
     DequantizeLinear (per output channel for Conv/Gemm/MatMul); biases
     int32 with scale s_x * s_w[c], zero point 0.
     Requantization (nn_quant_requantize): a real multiplier M > 0 is held
     as m * 2^-shift with m in [2^30, 2^31) (Q31); y = (x * m) >> shift with
     a 64-bit product, rounded HALF UP (add 2^(shift-1), then floor), so
     -2.5 -> -2 and 2.5 -> 3; then + zero point, then saturate.
     QuantizeLinear and the lookup tables round half to even (ONNX).
     Default precision recipe (nn_quant_desc.recipe = 0): LayerNorm
     statistics, Softmax, the mask Add before a Softmax and the residual
     Add feeding a LayerNorm stay float.
     The executor recognises DequantizeLinear -> op [-> Relu/Clip] ->
     QuantizeLinear groups of int8/uint8 tensors (and int16 ones for
     conv, gemm, add/sub/mul and pooling: W8A16) and runs them with the
     integer kernels below; uint8 tensors are moved to int8 by flipping the
     top bit (v - 128, zero point - 128), which is exact.  Data movement
     (Reshape, Transpose, Slice, ...) between a DQ and a Q of the same
     parameters runs on the integers.  Every other node
     runs the reference float kernel of nn_graph.h on dequantized values
     ("float island"), re-quantized by the QuantizeLinear after it.
   OWNERSHIP  nn_quant_graph returns a new graph (caller destroys); the
     input graph is only read.  Tables own their strings.  The executor
     borrows its graph and input data.
   ERRORS  nn_status + nn_diag, first error wins; table errors name the line.
   MEMORY  Kernels never allocate: callers pass scratch sized by the
     *_scratch_bytes functions.  The executor allocates values per run.
   THREADS  No global state.  One executor must not run on two threads.
   LIMITS  Tables above NN_MAX_QTABLE_BYTES / NN_MAX_QTABLE_RULES are refused
     (NN_ERR_LIMIT); graphs with subgraph attributes (If/Loop/Scan) are
     refused by nn_quant_graph and nn_qexec_create (NN_ERR_UNSUPPORTED).
*/
#ifndef NN_QUANT_H
#define NN_QUANT_H

#ifndef NN_MAX_QTABLE_RULES
#define NN_MAX_QTABLE_RULES 65536u
#endif
#ifndef NN_MAX_QTABLE_BYTES
#define NN_MAX_QTABLE_BYTES (16u << 20)
#endif

#include "nn_graph.h"
#include "nn_verify.h"
#include "nn_calib.h"

#define NN_QUANT_VERSION_MAJOR 0
#define NN_QUANT_VERSION_MINOR 2
#define NN_QUANT_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fixed-point requantization ---------------------------------------- */

/* A positive real multiplier M ~= m * 2^-shift, m in [2^30, 2^31) (or 0
   when M is 0 or below 2^-62), shift in [0, 62]. */
typedef struct nn_quant_multiplier {
    int32_t m;
    int32_t shift;
} nn_quant_multiplier;

/* The multiplier closest to real (>= 0): m = round(f * 2^31) for
   real = f * 2^e, f in [0.5, 1).  Reals >= 2^31 saturate to 2^31 - 1. */
NN_API nn_quant_multiplier nn_quant_multiplier_make(double real);
/* round(x * M) with round half up: floor((x * m + 2^(shift-1)) / 2^shift),
   saturated to int32.  |x| must be below 2^31 (the product then fits in
   64 bits). */
NN_API int32_t nn_quant_mul_shift(int64_t x, nn_quant_multiplier q);
/* round(x * M) with round half to EVEN (ONNX QuantizeLinear's rule, and
   ORT's float requantization): ties go to the even neighbour, 2.5 -> 2,
   3.5 -> 4, -2.5 -> -2, -3.5 -> -4.  Same range rules as nn_quant_mul_shift.
   The kernels still use nn_quant_mul_shift (half up); see docs. */
NN_API int32_t nn_quant_mul_shift_rne(int64_t x, nn_quant_multiplier q);
/* Full requantization: clamp(mul_shift(acc, q) + zp, lo, hi). */
NN_API int32_t nn_quant_requantize(int64_t acc, nn_quant_multiplier q, int32_t zp, int32_t lo, int32_t hi);

/* ---- integer kernels (CMSIS-NN style: caller-owned scratch) -------------- */

/* 2-D convolution, NCHW, int8 in / int8 weights (symmetric, zero point 0) /
   int32 bias / int8 out.  acc = bias[m] + sum w * (x - in_zp) over the
   window (padding contributes 0), y = requantize(acc, mult[m], out_zp,
   act_min, act_max).  Groups: C and M divisible by group. */
typedef struct nn_quant_conv_params {
    int32_t n, c, h, w;             /* input (N, C, H, W) */
    int32_t m, kh, kw;              /* weights (M, C / group, KH, KW) */
    int32_t oh, ow;                 /* output (N, M, OH, OW) */
    int32_t group;
    int32_t stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left;      /* bottom/right padding follows from oh/ow */
    int32_t in_zp, out_zp;
    int32_t act_min, act_max;       /* output clamp, in the int8 domain */
} nn_quant_conv_params;

NN_API size_t nn_quant_conv_s8_scratch_bytes(const nn_quant_conv_params *p);
NN_API void nn_quant_conv_s8(const nn_quant_conv_params *p,
                             const int8_t *x /* (N, C, H, W) */,
                             const int8_t *w /* (M, C / group, KH, KW) */,
                             const int32_t *bias /* (M) or NULL */,
                             const nn_quant_multiplier *mult /* (M) */,
                             int8_t *y /* (N, M, OH, OW) */, void *scratch);

/* y = requantize(bias + (a - a_zp) x (b - b_zp)) for one (M, K) x (K, N)
   product, int32 accumulation (K <= 32768).  mult has N entries (per output column)
   when mult_count == N, else one. */
typedef struct nn_quant_matmul_params {
    int32_t m, k, n;
    int32_t a_zp, b_zp, out_zp;
    int32_t act_min, act_max;
    int32_t mult_count;             /* 1 or n */
} nn_quant_matmul_params;

NN_API size_t nn_quant_matmul_s8_scratch_bytes(const nn_quant_matmul_params *p);
NN_API void nn_quant_matmul_s8(const nn_quant_matmul_params *p,
                               const int8_t *a /* (M, K) */, const int8_t *b /* (K, N) */,
                               const int32_t *bias /* (N) or NULL */,
                               const nn_quant_multiplier *mult /* (mult_count) */,
                               int8_t *y /* (M, N) */, void *scratch);

/* 16-bit activations with 8-bit weights (W8A16, Pulsar2's U16 setting):
   the same convolution and constant-B product on int16 inputs and
   outputs (zero points and clamps in the int16 domain), weights int8 with
   zero point 0, int32 bias.  Accumulation is exact in 64 bits (each
   product is below 2^23; partial sums of 256 of them are int32), and the
   result is requantized with nn_quant_requantize_wide.  Portable loops
   only: these are the reference the simulator runs. */
NN_API size_t nn_quant_conv_s16_scratch_bytes(const nn_quant_conv_params *p);
NN_API void nn_quant_conv_s16(const nn_quant_conv_params *p, const int16_t *x /* (N, C, H, W) */,
                              const int8_t *w /* (M, C / group, KH, KW) */, const int32_t *bias /* (M) or NULL */,
                              const nn_quant_multiplier *mult /* (M) */, int16_t *y /* (N, M, OH, OW) */, void *scratch);
/* a int16 (M, K), b int8 (K, N) with b_zp 0. */
NN_API size_t nn_quant_matmul_s16_scratch_bytes(const nn_quant_matmul_params *p);
NN_API void nn_quant_matmul_s16(const nn_quant_matmul_params *p, const int16_t *a /* (M, K) */,
                                const int8_t *b /* (K, N) */, const int32_t *bias /* (N) or NULL */,
                                const nn_quant_multiplier *mult /* (mult_count) */, int16_t *y /* (M, N) */,
                                void *scratch);
/* clamp(round_half_up(acc * M) + zp, lo, hi) for any int64 acc: the
   product acc * m (up to 2^94) is formed exactly in two 64-bit halves, so
   this equals nn_quant_requantize wherever that one applies (|acc| < 2^31). */
NN_API int32_t nn_quant_requantize_wide(int64_t acc, nn_quant_multiplier q, int32_t zp, int32_t lo, int32_t hi);

/* Elementwise Add / Sub / Mul of two int8 tensors of n elements (callers
   broadcast first).  Add/Sub follow TFLite's reference scheme: inputs are
   shifted left by left_shift (20), each rescaled to a shared scale
   2 * max(s_a, s_b) (a_mult, b_mult), summed, and rescaled to the output
   (out_mult).  Mul: requantize((a - a_zp) * (b - b_zp), out_mult). */
typedef struct nn_quant_eltwise_params {
    int32_t a_zp, b_zp, out_zp;
    int32_t act_min, act_max;
    int32_t left_shift;
    nn_quant_multiplier a_mult, b_mult, out_mult;
} nn_quant_eltwise_params;

/* Fills p from real scales for Add/Sub (mul == 0) or Mul (mul == 1);
   act range is the whole int8 range. */
NN_API void nn_quant_eltwise_params_make(nn_quant_eltwise_params *p, int mul, double sa, int32_t za,
                                         double sb, int32_t zb, double sy, int32_t zy);
NN_API void nn_quant_add_s8(const nn_quant_eltwise_params *p, const int8_t *a /* (n) */,
                            const int8_t *b /* (n) */, int8_t *y /* (n) */, size_t n);
NN_API void nn_quant_sub_s8(const nn_quant_eltwise_params *p, const int8_t *a /* (n) */,
                            const int8_t *b /* (n) */, int8_t *y /* (n) */, size_t n);
NN_API void nn_quant_mul_s8(const nn_quant_eltwise_params *p, const int8_t *a /* (n) */,
                            const int8_t *b /* (n) */, int8_t *y /* (n) */, size_t n);
/* The same on int16 operands (W8A16), with TFLite's 16-bit add shift:
   left_shift 15, so |x - zp| << 15 < 2^31 (tensorflow/lite/kernels/add.cc
   uses 15 for int16 and 20 for 8 bits); the rescaled sum and the product
   (up to 2^32) are requantized with nn_quant_requantize_wide.  The act
   range is the whole int16 range. */
NN_API void nn_quant_eltwise_params_make_s16(nn_quant_eltwise_params *p, int mul, double sa, int32_t za,
                                             double sb, int32_t zb, double sy, int32_t zy);
NN_API void nn_quant_add_s16(const nn_quant_eltwise_params *p, const int16_t *a, const int16_t *b, int16_t *y, size_t n);
NN_API void nn_quant_sub_s16(const nn_quant_eltwise_params *p, const int16_t *a, const int16_t *b, int16_t *y, size_t n);
NN_API void nn_quant_mul_s16(const nn_quant_eltwise_params *p, const int16_t *a, const int16_t *b, int16_t *y, size_t n);
/* numpy broadcast of src (shape s) to shape o, the operand copy the
   element-wise kernels expect: a row (o's last axis) at a time, memcpy
   where that axis is not broadcast, memset where it is.  s must broadcast
   to o (rank <= NN_MAX_RANK); returns the element count of o. */
NN_API size_t nn_quant_broadcast_s8(const int8_t *src /* s */, const nn_shape *s, const nn_shape *o,
                                    int8_t *dst /* o */);
NN_API size_t nn_quant_broadcast_s16(const int16_t *src /* s */, const nn_shape *s, const nn_shape *o,
                                     int16_t *dst /* o */);

/* Average pooling, NCHW: integer sum of (x - in_zp) over the window, then
   requantize with mult_by_count[count] (= s_in / (s_out * count)), where
   count is kh*kw when count_include_pad, else the in-image taps.
   GlobalAveragePool is kh = h, kw = w, oh = ow = 1, no padding. */
typedef struct nn_quant_pool_params {
    int32_t n, c, h, w;             /* input (N, C, H, W) */
    int32_t kh, kw, oh, ow;         /* output (N, C, OH, OW) */
    int32_t stride_h, stride_w, pad_top, pad_left;
    int32_t count_include_pad;
    int32_t in_zp, out_zp, act_min, act_max;
} nn_quant_pool_params;

NN_API void nn_quant_avgpool_s8(const nn_quant_pool_params *p, const int8_t *x /* (N, C, H, W) */,
                                const nn_quant_multiplier *mult_by_count /* (kh * kw + 1) */,
                                int8_t *y /* (N, C, OH, OW) */);
/* The same on int16 (W8A16), requantized by nn_quant_requantize_wide. */
NN_API void nn_quant_avgpool_s16(const nn_quant_pool_params *p, const int16_t *x /* (N, C, H, W) */,
                                 const nn_quant_multiplier *mult_by_count /* (kh * kw + 1) */,
                                 int16_t *y /* (N, C, OH, OW) */);

/* Lookup tables for unary ops: entry q holds the quantized f of the
   dequantized q, f evaluated in double, rounded half to even, saturated.
   int8: table[q + 128] for q in [-128, 127]; int16: table[q + 32768]. */
typedef double (*nn_quant_unary_fn)(double x, const void *ctx);
NN_API void nn_quant_lut_build_s8(int8_t table[256], nn_quant_unary_fn f, const void *ctx,
                                  double in_scale, int32_t in_zp, double out_scale, int32_t out_zp);
NN_API void nn_quant_lut_apply_s8(const int8_t table[256], const int8_t *x /* (n) */, int8_t *y /* (n) */,
                                  size_t n);
NN_API void nn_quant_lut_build_s16(int16_t table[65536], nn_quant_unary_fn f, const void *ctx,
                                   double in_scale, int32_t in_zp, double out_scale, int32_t out_zp);
NN_API void nn_quant_lut_apply_s16(const int16_t table[65536], const int16_t *x /* (n) */,
                                   int16_t *y /* (n) */, size_t n);

/* The unary function of an ONNX op usable as a lookup table (Sigmoid,
   Tanh, HardSwish, HardSigmoid, Erf, Exp, Relu, LeakyRelu, Elu, Softplus,
   Neg, Abs, Sqrt, Log, Reciprocal, Sin, Cos, Gelu), or NULL.  *ctx_out
   (double[2]) receives the op's alpha/beta from n. */
NN_API nn_quant_unary_fn nn_quant_unary_for(const nn_node *n, double ctx_out[2]);

/* ---- quantize table --------------------------------------------------- */

typedef enum nn_quant_dtype {
    NN_QUANT_DTYPE_DEFAULT = 0,  /* the scheme's activation type */
    NN_QUANT_DTYPE_INT8,
    NN_QUANT_DTYPE_UINT8,
    NN_QUANT_DTYPE_INT16,
    NN_QUANT_DTYPE_F16,          /* float inputs and weights rounded to float16, f32 arithmetic */
    NN_QUANT_DTYPE_BF16,         /* the same with bfloat16 */
    NN_QUANT_DTYPE_F32,
    NN_QUANT_DTYPE_INT4          /* int8 activations, 4-bit weights */
} nn_quant_dtype;

typedef enum nn_quant_rule_kind {
    NN_QUANT_RULE_LAYER = 1,     /* `NAME DTYPE`: node name or first output tensor name */
    NN_QUANT_RULE_TYPE,          /* `type OP DTYPE`: every node of op type OP */
    NN_QUANT_RULE_RANGE          /* `range START END DTYPE`: nodes on a path START -> END */
} nn_quant_rule_kind;

typedef struct nn_quant_rule {
    nn_quant_rule_kind kind;
    const char *name;            /* layer, op type, or range start tensor */
    const char *end;             /* range end tensor (RANGE only) */
    nn_quant_dtype dtype;
    uint32_t line;               /* 1-based line in the parsed text, 0 if added */
} nn_quant_rule;

typedef struct nn_quant_table {
    nn_allocator alloc;
    nn_arena strings;
    nn_quant_rule *rules;
    uint32_t count, cap;
} nn_quant_table;

/* "INT8", "UINT8", ... ("?" for unknown). */
NN_API const char *nn_quant_dtype_name(nn_quant_dtype t);
/* Parses a dtype name (case-insensitive); NN_QUANT_DTYPE_DEFAULT if unknown. */
NN_API nn_quant_dtype nn_quant_dtype_parse(const char *s, size_t len);
NN_API void nn_quant_table_init(nn_quant_table *t, const nn_allocator *alloc);
/* Appends rules parsed from text (one rule a line, `#` comments).
   NN_ERR_PARSE with diag->where "qtable line N" on a malformed line (t
   keeps the rules of earlier lines); NN_ERR_LIMIT above the caps. */
NN_API nn_status nn_quant_table_parse(nn_quant_table *t, const char *text, size_t bytes, nn_diag *diag);
NN_API nn_status nn_quant_table_load_file(nn_quant_table *t, const char *path, nn_diag *diag);
/* Appends one rule (strings copied).  end only for RANGE. */
NN_API nn_status nn_quant_table_add(nn_quant_table *t, nn_quant_rule_kind kind, const char *name,
                                    const char *end, nn_quant_dtype dtype, nn_diag *diag);
/* Writes the table in the text format (parse(write(t)) == t). */
NN_API nn_status nn_quant_table_write(const nn_quant_table *t, nn_verify_write_fn write, void *user,
                                      nn_diag *diag);
NN_API void nn_quant_table_deinit(nn_quant_table *t);

/* ---- QDQ graph builder ------------------------------------------------- */

typedef enum nn_quant_scheme {
    NN_QUANT_S8_SYM = 0,     /* int8, symmetric per tensor, zp 0 (TPU-MLIR default) */
    NN_QUANT_U8_ASYM,        /* uint8, asymmetric from min/max (Pulsar2 / TFLite style) */
    NN_QUANT_S8_ASYM,        /* int8, asymmetric */
    NN_QUANT_S16_SYM         /* int16, symmetric (W8A16: integer kernels with 64-bit sums,
                                QUANTIZATION.md 6j) */
} nn_quant_scheme;

/* Which layers stay float when no table rule names them.  The default
   keeps LayerNormalization (fused, or decomposed as ReduceMean, Sub, Pow,
   ReduceMean, Add eps, Sqrt, Div), Softmax with the Add/Mul feeding it,
   and the residual Add feeding a LayerNorm (fused or decomposed) float, as vendor and
   SmoothQuant W8A8 transformer recipes keep them at higher precision
   (docs/QUANTIZATION.md): a per-tensor int8 variance rounds small rows to
   0 and the Div then gives inf.  The LayerNorm output (after gamma/beta)
   is still quantized. */
typedef enum nn_quant_recipe {
    NN_QUANT_RECIPE_NORM_FLOAT = 0,  /* default: normalization statistics and Softmax float */
    NN_QUANT_RECIPE_ALL_INT          /* every node at the scheme's type (version 0.1 behaviour) */
} nn_quant_recipe;

/* A calibrated range of one tensor. */
typedef struct nn_quant_range {
    int valid;               /* 0: no statistics, the tensor stays float */
    double threshold;        /* symmetric clip T >= 0 */
    double min, max;         /* asymmetric range (clipped to [-T, T]) */
} nn_quant_range;

typedef void (*nn_quant_log_fn)(void *user, const char *message);

/* Weight rounding.  NEAREST: each weight to its nearest step (ties to
   even).  SUM: Conv kernels with more than one tap per (output, input)
   channel pair keep each pair's sum: after rounding to nearest, the
   residual sum (in steps) is rounded and that many taps move one step,
   those whose rounding moved them furthest the other way (|error| stays
   below one step).  A kernel's response to a constant input (a flat
   background, the zero padding) is its sum times the input; a high-pass
   kernel whose taps sum to ~0 gains a DC response of up to half a step
   per tap from nearest rounding, which SUM removes without data
   (docs/QUANTIZATION.md 6h: PP-OCRv4 rec). */
typedef enum nn_quant_rounding {
    NN_QUANT_ROUND_NEAREST = 0,
    NN_QUANT_ROUND_SUM
} nn_quant_rounding;

typedef struct nn_quant_desc {
    nn_allocator alloc;
    nn_quant_scheme scheme;
    int weight_bits;         /* 0: 8; 4: values in [-8, 7], stored as int8 per channel, as int4 in groups (see docs) */
    uint32_t weight_group;   /* 0: one weight scale per output channel; G > 0: one per G
                                consecutive elements along the input axis (ONNX blocked
                                DequantizeLinear, block_size = G: needs opset >= 21).  Such
                                layers run with the float kernels (see docs/QUANTIZATION.md) */
    const nn_quant_table *table;  /* per-layer dtype overrides (optional) */
    nn_quant_log_fn log;     /* warnings (unmatched rules, tensors without ranges) */
    void *log_user;
    nn_quant_recipe recipe;  /* default precision of normalization layers (below) */
    nn_quant_rounding weight_rounding; /* how Conv weights round to their grid (below) */
    int preact16;            /* 1: a Conv / ConvTranspose / Gemm / MatMul output read only by
                                nonlinear activations (HardSwish, HardSigmoid, Sigmoid, Tanh,
                                Gelu, Elu, Softplus) gets 16-bit Q/DQ when no table rule names
                                it: the precision a target keeps that applies the activation
                                to the accumulator (docs/QUANTIZATION.md 6q) */
} nn_quant_desc;

typedef struct nn_quant_stats {
    uint32_t activations;    /* tensors given a Q/DQ pair */
    uint32_t weights;        /* constants quantized (weights, biases, operands) */
    uint32_t int_nodes;      /* nodes in an integer mode */
    uint32_t float_nodes;    /* nodes kept float (table or no range) */
    uint32_t fused_acts;     /* Relu/Clip left unquantized before (merged in the output clamp) */
    uint32_t chained;        /* table-chain tensors left unquantized (HardSwish -> Mul a -> Add b is one table) */
    uint32_t unmatched_rules;
} nn_quant_stats;

/* Ranges of every tensor the collector observed, through calibrator cd:
   out has g->tensor_count entries (zeroed first). */
NN_API nn_status nn_quant_ranges_from_collector(const nn_graph *g, const nn_calib_collector *c,
                                                const nn_calib_desc *cd, nn_quant_range *out, nn_diag *diag);
/* Ranges from a calibration table (TPU-MLIR's cali_table, read by
   nn_calib_table_load): tensor t of g takes the int8 section's entry named
   as t, its threshold, and min / max clipped to [-threshold, threshold];
   tensors the table does not name get no range and stay float.  out has
   g->tensor_count entries (zeroed first).  *matched (optional): how many
   of g's tensors the table named. */
NN_API nn_status nn_quant_ranges_from_table(const nn_graph *g, const nn_calib_table *t, nn_quant_range *out,
                                            uint32_t *matched, nn_diag *diag);
/* The other way: one int8-section line per tensor of g with a range
   (tensor id order), appended to t. */
NN_API nn_status nn_quant_ranges_to_table(const nn_graph *g, const nn_quant_range *ranges, nn_calib_table *t,
                                          nn_diag *diag);
/* Builds the QDQ graph of float graph g (run "fold,identity,bn,dce" on it
   first) from ranges (g->tensor_count entries).  *out is a new graph the
   caller destroys; one with 16-bit or 4-bit Q/DQ is brought to opset 21,
   the first that admits them (nn_graph.h's opset pass).  NN_ERR_UNSUPPORTED for subgraph attributes, NN_ERR_ARG
   for a bad desc, NN_ERR_NOMEM. */
NN_API nn_status nn_quant_graph(const nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *desc,
                                nn_graph **out, nn_quant_stats *stats, nn_diag *diag);
/* Node i's resolved dtype under table t (priority layer > type > range;
   DEFAULT when no rule matches).  out has g->node_count entries.  Unmatched
   rules are reported through log and counted in *unmatched (optional). */
NN_API nn_status nn_quant_resolve_table(const nn_graph *g, const nn_quant_table *t, nn_quant_log_fn log,
                                        void *log_user, nn_quant_dtype *out, uint32_t *unmatched,
                                        nn_diag *diag);
/* 1 when g holds a DequantizeLinear of an integer tensor (a QDQ model). */
NN_API int nn_quant_graph_is_qdq(const nn_graph *g);

/* ---- fake-quant executor ------------------------------------------------ */

typedef struct nn_qexec nn_qexec;

typedef struct nn_qexec_desc {
    nn_allocator alloc;
    int float_only;          /* 1: run every node with the float kernels (QDQ
                                reference semantics, no integer kernels) */
    nn_exec_observer observer; /* optional, called after each step: a float
                                node with its outputs, or an integer group with
                                node_index = its QuantizeLinear node and the
                                one int8/uint8 output; non-zero stops the run */
    void *observer_user;
} nn_qexec_desc;

typedef struct nn_qexec_stats {
    uint32_t int_groups;     /* DQ -> op -> Q groups run with integer kernels */
    uint32_t float_nodes;    /* nodes run with float kernels */
    uint32_t skipped_nodes;  /* DQ nodes whose output no float node reads */
} nn_qexec_stats;

/* Prepares g (borrowed; must outlive the executor): orders nodes and
   recognises integer groups.  NN_ERR_UNSUPPORTED for unknown ops or
   subgraphs, NN_ERR_INVALID for a cycle, NN_ERR_NOMEM. */
NN_API nn_status nn_qexec_create(const nn_graph *g, const nn_qexec_desc *desc, nn_qexec **out, nn_diag *diag);
/* Binds graph input index to v (borrowed until nn_qexec_run returns). */
NN_API nn_status nn_qexec_set_input(nn_qexec *x, uint32_t index, const nn_value *v, nn_diag *diag);
/* Resuming a run from known values (the mixed-precision search re-runs
   only what a promotion changes this way): given (g->tensor_count flags,
   copied; NULL clears) marks tensors whose values the caller supplies with
   nn_qexec_set_value before each run.  The steps needed only to compute
   given tensors are dropped.  Constants and graph inputs are never given. */
NN_API nn_status nn_qexec_set_given(nn_qexec *x, const uint8_t *given, nn_diag *diag);
/* 1 when the run reads tensor t (a step's input or a graph output): the
   given tensors the caller must set. */
NN_API int nn_qexec_reads(const nn_qexec *x, uint32_t t);
/* Binds given tensor t to v (borrowed: it stays bound for later runs until
   set again or nn_qexec_set_given); v must have t's dtype.  NN_ERR_ARG when
   t is not given.  A run fails, naming the tensor, when a given tensor it
   reads was never set. */
NN_API nn_status nn_qexec_set_value(nn_qexec *x, uint32_t t, const nn_value *v, nn_diag *diag);
NN_API nn_status nn_qexec_run(nn_qexec *x, nn_diag *diag);
/* Output index after a successful run; owned by the executor. */
NN_API const nn_value *nn_qexec_output(const nn_qexec *x, uint32_t index);
NN_API void nn_qexec_get_stats(const nn_qexec *x, nn_qexec_stats *out);
NN_API void nn_qexec_destroy(nn_qexec *x);

/* ---- precision analysis and mixed-precision search ----------------------
   Samples are passed as inputs[k * g->input_count + i] = input i of sample k
   (borrowed).  The float graph g is run with the reference executor, the
   QDQ graph with the fake-quant executor (float_only: its float kernels,
   faster, within about one step of the integer kernels per layer). */

/* A task metric (the search's "post-process hook"): the score of one
   sample, higher is better (1 when a recognizer reads the line as the float
   model does, the IoU of a detector's thresholded maps, ...), from the
   quantized model's outputs and the float model's, each output o as
   counts[o] float32 values in the graph's layout.  A model's score is the
   mean over the samples; it replaces the output cosine wherever an
   nn_quant_eval_desc with a metric is used (the search compares it with
   expected_cos).  With threads > 1 it is called from several threads at
   once, sample by sample. */
typedef double (*nn_quant_metric_fn)(void *user, uint32_t sample, uint32_t output_count, const float *const *quantized,
                                     const float *const *reference, const size_t *counts);

typedef struct nn_quant_eval_desc {
    int int_kernels;         /* 1: run the QDQ graph with the integer kernels;
                                0: float_only (QDQ reference semantics) */
    const nn_input_shape *input_shapes;  /* for the float executor */
    uint32_t input_shape_count;
    nn_quant_log_fn progress;            /* optional progress lines */
    void *progress_user;
    uint32_t threads;        /* 0/1: one; scoring QDQ models splits the samples over
                                this many threads (capped at 8; the result is the
                                same, summed in sample order) */
    nn_quant_metric_fn metric; /* optional: scores a model instead of the output cosine */
    void *metric_user;
    int worst;               /* 0: a model's score is the mean over samples; 1: the
                                score of its worst sample (each sample's score is the
                                mean over outputs), the figure the flows gate on */
} nn_quant_eval_desc;

/* One row of the per-layer precision table: float tensor `tensor` (output of
   node `node` of g) against its counterpart in the QDQ graph (the
   "<name>_quantized" QuantizeLinear output, dequantized, when it exists,
   else the float tensor of the same name), accumulated over all samples. */
typedef struct nn_quant_layer_report {
    uint32_t node, tensor;   /* indices in the float graph */
    nn_dtype qdtype;         /* INT8 / UINT8 / INT16, or FLOAT (kept float) */
    double scale;            /* quantized: scale and zero point */
    int32_t zero_point;
    double cosine;           /* sum(f q) / sqrt(sum f^2 sum q^2) over all samples */
    double mse;              /* mean (q - f)^2 */
    double sqnr_db;          /* 10 log10(sum f^2 / sum (q - f)^2); 999 when exact */
    double saturation;       /* fraction of float values beyond the quantized range by more than half a step */
    uint64_t elements;
} nn_quant_layer_report;

/* Fills rows (g->tensor_count entries; *row_count set) in g's topological
   order with every float node output seen in both runs.  NN_ERR_* from
   either executor. */
NN_API nn_status nn_quant_analyze(const nn_graph *g, const nn_graph *q, const nn_value *inputs, uint32_t sample_count,
                                  const nn_quant_eval_desc *d, nn_quant_layer_report *rows, uint32_t *row_count,
                                  nn_diag *diag);
/* Mean over samples and outputs of the cosine between q's and g's outputs
   (the figure the calibrator choice and the search maximise). */
NN_API nn_status nn_quant_output_cosine(const nn_graph *g, const nn_graph *q, const nn_value *inputs,
                                        uint32_t sample_count, const nn_quant_eval_desc *d, double *out_cos,
                                        nn_diag *diag);

typedef struct nn_quant_search_desc {
    nn_quant_eval_desc eval;
    double expected_cos;     /* 0: 0.99; stop promoting once the output cosine (or
                                eval.metric's score) reaches it */
    uint32_t max_float_layers; /* 0: no cap beyond `candidates` */
    uint32_t candidates;     /* 0: 24; layers measured one by one, the ones with the
                                largest local cosine drop in the analysis */
    nn_quant_dtype promote;  /* 0: F32 (INT16 also accepted) */
    const nn_graph *reference; /* NULL: g.  The float model the output cosines are
                                  measured against, when g itself was rewritten
                                  (bias correction moves g's biases): same inputs
                                  and outputs as g */
    uint32_t block_layers;   /* 0: single layers only.  N > 0: when the single layers
                                leave the cosine below expected_cos, runs of N
                                consecutive quantizable layers (topological order)
                                are measured too and promoted whole, best gain
                                first (a loss spread over many layers, which no
                                single layer carries); max_float_layers counts
                                their layers */
    uint32_t prescreen_samples; /* 0: the candidates are the layers with the largest
                                local drop.  N > 0: every quantizable layer is
                                first measured promoted alone on the N samples
                                the all-quantized model scores worst, and the
                                `candidates` best of that are measured on all
                                of them.  Costs (quantizable
                                layers) x N runs; finds layers whose own output
                                barely moves but whose error later layers
                                amplify (int8 weights of a 1x1 conv whose
                                channels have outlier taps, QUANTIZATION.md 6k) */
    int full_runs;           /* 0: a layer measured alone (prescreen and candidates)
                                re-runs only the part of the graph its promotion
                                changes, from the all-quantized run's values (the
                                same scores, QUANTIZATION.md 6m), and the greedy
                                promotions start from the all-quantized values
                                those layers read, kept for every sample.  1:
                                every measurement runs the whole graph */
    uint32_t keep_mib;       /* 0: 1024.  The most those kept values may take (MiB);
                                beyond it the promotions run whole graphs */
} nn_quant_search_desc;

/* One measured layer: local drop from the analysis (1 - cos of its output
   minus the worst 1 - cos of its inputs), the final output cosine with
   only this layer promoted, and whether the search promoted it. */
typedef struct nn_quant_search_layer {
    uint32_t node, tensor;
    double local_drop;
    double cos_prescreen;    /* prescreen_samples: output cosine promoted alone on
                                those samples; 0 without a prescreen */
    double cos_promoted;
    int promoted;
} nn_quant_search_layer;

typedef struct nn_quant_search_result {
    double cos_before;       /* all-quantized (with desc->table) */
    double cos_after;        /* with the promoted layers */
    uint32_t measured, promoted, quantizable;
    uint32_t blocks_measured, blocks_promoted; /* block_layers: runs measured / promoted
                                                  (their layers are in `promoted`) */
} nn_quant_search_result;

/* Mixed-precision search (after TPU-MLIR's run_sensitive_layer: rank layers
   by how much the final output cosine gains when only that layer is kept at
   higher precision, then promote greedily; with block_layers, then runs of
   consecutive layers the same way).  Appends one layer rule per
   promoted layer to out (the rules of qd->table are kept in effect while
   measuring); layers (g->node_count entries) gets the measured layers,
   best gain first.  *res optional. */
NN_API nn_status nn_quant_search(const nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd,
                                 const nn_value *inputs, uint32_t sample_count, const nn_quant_search_desc *sd,
                                 nn_quant_table *out, nn_quant_search_layer *layers, uint32_t *layer_count,
                                 nn_quant_search_result *res, nn_diag *diag);

/* Per-layer sensitivity, the first step of TPU-MLIR's run_sensitive_layer:
   every layer that qd quantizes is quantized ALONE (every other node
   float), once with each of the set_count range sets (one per calibrator,
   from the same collector), and scored on the samples like the search
   (output cosine against g, or ed->metric).  loss = 1 - score.  The best
   set of a layer is its lowest loss.  Upstream of the layer the graph is
   the float one, so each measurement runs only the steps from the layer
   on (the search's value reuse, QUANTIZATION.md 6m).  qd->table is not
   applied here.  rows has room for g->node_count entries; they come in
   topological order. */
#define NN_QUANT_SENS_MAX 8
typedef struct nn_quant_sens_row {
    uint32_t node, tensor;             /* the layer and its output, in g */
    double loss[NN_QUANT_SENS_MAX];    /* per range set */
    uint32_t best;                     /* the set with the lowest loss (the first on ties) */
} nn_quant_sens_row;

NN_API nn_status nn_quant_sensitivity(const nn_graph *g, const nn_quant_range *const *sets, uint32_t set_count,
                                      const nn_quant_desc *qd, const nn_value *inputs, uint32_t sample_count,
                                      const nn_quant_eval_desc *ed, nn_quant_sens_row *rows, uint32_t *row_count,
                                      nn_diag *diag);
/* The ranges the sensitivity chose: each row's output tensor takes its
   best set's range, every other tensor sets[0]'s (TPU-MLIR writes this as
   a new calibration table).  out has g->tensor_count entries. */
NN_API void nn_quant_sensitivity_ranges(const nn_graph *g, const nn_quant_range *const *sets,
                                        const nn_quant_sens_row *rows, uint32_t row_count, nn_quant_range *out);

/* ---- float-side algorithms: cross-layer equalization and SmoothQuant ----
   Both rewrite the FLOAT graph before calibration and quantization and keep
   its float outputs (up to float rounding): a per-channel positive scale
   moves from one layer into its neighbour.  Run "fold,identity,bn,dce"
   first (CLE), or "fold,identity,layernorm,gelu,dce" (SmoothQuant, so that
   LayerNormalization nodes exist).  Only constant float32 weights read by
   exactly one node are rewritten; their new data goes into the graph's
   arena (borrowed weights are left alone).  Graphs with subgraph
   attributes are refused (NN_ERR_UNSUPPORTED); a malformed graph returns
   NN_ERR_INVALID / NN_ERR_SHAPE and is left unchanged; NN_ERR_NOMEM may
   leave it partly rewritten. */

/* What to do with Clip(x, 0, hi), hi finite (ReLU6), between two convs:
   clip(x / s) != clip(x) / s, so a plain rescale would change the output. */
typedef enum nn_quant_cle_clip {
    NN_QUANT_CLE_CLIP_SKIP = 0,   /* leave such pairs alone (exact) */
    NN_QUANT_CLE_CLIP_VECTOR,     /* Clip -> Relu + Min(., hi / s) with a per-channel
                                     constant (C, 1, ..., 1): exact, one node more */
    NN_QUANT_CLE_CLIP_RELU        /* Clip -> Relu, as Nagel et al. do for MobileNetV2
                                     (changes outputs wherever x > hi) */
} nn_quant_cle_clip;

/* One equalized pair; spread = max_i r_i / min_i r_i over the channels with
   r_i > 0, r_i = max |w| of channel i (output channels of the first conv,
   input channels of the second), measured before the first and after the
   last round. */
typedef struct nn_quant_cle_pair {
    uint32_t first, second;        /* node indices in the rewritten graph */
    uint32_t act;                  /* the activation node between them, or NN_INVALID_ID */
    uint32_t channels;
    double spread1_before, spread1_after;
    double spread2_before, spread2_after;
} nn_quant_cle_pair;

typedef struct nn_quant_cle_desc {
    int rounds;                    /* 0: 100; sweeps over all pairs (chains such as
                                      conv -> dw -> conv -> conv converge geometrically) */
    double tolerance;              /* 0: 1e-7; stop when every |s_i - 1| is below */
    nn_quant_cle_clip clip;        /* bounded Clip handling (default SKIP) */
    nn_quant_cle_pair *pairs;      /* optional caller array, filled up to pair_cap */
    uint32_t pair_cap;
} nn_quant_cle_desc;

typedef struct nn_quant_cle_stats {
    uint32_t pairs;                /* pairs equalized (may exceed pair_cap) */
    uint32_t skipped_clip;         /* pairs left alone for a bounded Clip (SKIP) */
    uint32_t clips_rewritten;      /* Clip nodes rewritten (VECTOR or RELU) */
    uint32_t rounds;               /* rounds run */
    double last_max_change;        /* max |s_i - 1| of the last round */
} nn_quant_cle_stats;

/* Cross-layer equalization (Nagel et al., "Data-Free Quantization Through
   Weight Equalization and Bias Correction", ICCV 2019, sec. 4.1) of every
   Conv -> [Relu | LeakyRelu | PRelu (scalar slope) | Clip(0, hi)] -> Conv
   chain (any group count, so conv -> depthwise -> conv as in MobileNetV2):
   output channel i of the first (weights and bias) is divided by s_i and
   input channel i of the second multiplied by s_i, s_i = sqrt(r1_i r2_i) /
   r2_i, after which both ranges equal sqrt(r1_i r2_i).  Intermediate
   tensors must have one reader and not be graph outputs.  Bias absorption
   (sec. 4.2) is not done.  out (optional) is zeroed first. */
NN_API nn_status nn_quant_equalize(nn_graph *g, const nn_quant_cle_desc *d, nn_quant_cle_stats *out,
                                   nn_diag *diag);

/* Per-input-channel max |X_j| of the activation input (input 0) of every
   MatMul / Gemm with a constant float32 2-D weight, over calibration runs;
   channel j indexes the last axis (MatMul) or columns (Gemm, transA 0). */
typedef struct nn_quant_smooth_stats {
    const nn_graph *g;             /* the graph observed (borrowed) */
    nn_allocator alloc;
    uint32_t tensor_count;
    float **chmax;                 /* (tensor_count) NULL or (channels[t]) maxima */
    int64_t *channels;             /* (tensor_count) K, 0 for unwatched tensors */
    uint32_t samples;              /* runs observed */
} nn_quant_smooth_stats;

/* Watches every MatMul/Gemm activation input of g.  NN_ERR_NOMEM. */
NN_API nn_status nn_quant_smooth_stats_init(nn_quant_smooth_stats *s, const nn_graph *g,
                                            const nn_allocator *alloc, nn_diag *diag);
/* An nn_exec_observer (observer_user = the stats) folding each watched node
   output into the maxima; values whose last dim is not K are ignored. */
NN_API int nn_quant_smooth_stats_observer(void *user, const nn_graph *g, uint32_t node_index,
                                          const nn_value *outputs, uint32_t output_count);
/* Runs g with the reference executor (ed: threads etc.; its observer is
   replaced) on sample_count samples, inputs[k * g->input_count + i] being
   input i of sample k, and folds them in (graph inputs too). */
NN_API nn_status nn_quant_smooth_stats_collect(nn_quant_smooth_stats *s, const nn_value *inputs,
                                               uint32_t sample_count, const nn_exec_desc *ed,
                                               nn_diag *diag);
NN_API void nn_quant_smooth_stats_deinit(nn_quant_smooth_stats *s);

/* One smoothed (or considered) activation tensor.  outlier ratio = max_j m_j /
   median_j m_j of the channel maxima m_j (after: of m_j / s_j). */
typedef struct nn_quant_smooth_layer {
    uint32_t tensor;               /* the activation X */
    uint32_t absorber;             /* node taking 1/s (NN_INVALID_ID: none / inserted Mul) */
    uint32_t consumers;            /* MatMul/Gemm nodes taking s */
    int smoothed;
    double ratio_before, ratio_after;
} nn_quant_smooth_layer;

typedef struct nn_quant_smooth_desc {
    double alpha;                  /* migration strength; 0: 0.5 (negative: exactly 0) */
    double threshold;              /* smooth X only when its outlier ratio exceeds this;
                                      0: every candidate */
    int insert_mul;                /* 1: insert Mul(X, 1/s) when no producer absorbs 1/s */
    nn_quant_smooth_layer *layers; /* optional caller array, filled up to layer_cap */
    uint32_t layer_cap;
} nn_quant_smooth_desc;

typedef struct nn_quant_smooth_report {
    uint32_t candidates;           /* activation tensors with statistics */
    uint32_t smoothed;
    uint32_t below_threshold;
    uint32_t no_absorber;          /* producer cannot take 1/s (and no insert_mul) */
    uint32_t shared;               /* X also read by a node that cannot take s */
    uint32_t muls_inserted;
} nn_quant_smooth_report;

/* SmoothQuant (Xiao et al., ICML 2023, eq. 4): s_j = max|X_j|^alpha /
   max|W_j|^(1 - alpha) (max over all consumers' row j), X' = X / s (taken
   by the producer: LayerNormalization scale and bias, a MatMul / Gemm's
   output columns, MatMul + Add(bias)'s columns and bias, a Mul by a
   per-channel constant [+ Add of one] (a LayerNorm decomposed below opset
   17 ends so), each also seen through Transposes keeping the last axis
   last; or an inserted Mul),
   W' = diag(s) W.  s is clamped to [1e-5, 1e5].  st must have been
   collected on g; its maxima are stale afterwards.  out optional. */
NN_API nn_status nn_quant_smooth(nn_graph *g, const nn_quant_smooth_stats *st, const nn_quant_smooth_desc *d,
                                 nn_quant_smooth_report *out, nn_diag *diag);
/* ---- end of float-side algorithms declarations ---- */

/* ==== bias correction, AdaRound, softmax bias ==== */

/* Data-driven post-training
   quantization algorithms that rewrite the FLOAT graph given the ranges the
   quantizer will use:
     - empirical bias correction (TPU-MLIR's run_calibration --bc with
       bc_inference_num / min_layer_cos; Nagel et al., "Data-Free
       Quantization Through Weight Equalization and Bias Correction",
       ICCV 2019, sec. 4.2, with E[x] measured on data),
     - AdaRound (Nagel et al., "Up or Down? Adaptive Rounding for
       Post-Training Quantization", ICML 2020),
     - a softmax quantization bias measurement (Pandey et al., "Softmax Bias
       Correction for Quantized Generative Models", arXiv 2309.01729).


   QUICK START
       nn_quant_range *r = ...;                 (ranges of g, nn_quant_ranges_from_collector)
       nn_quant_desc qd = {0};
       nn_quant_adaround_desc ad = {0};          (1000 iterations per layer)
       nn_quant_adaround(g, r, &qd, samples, n, &ad, NULL, &d);
       nn_quant_bc_desc bd = {0};                (30 samples, min_layer_cos 0.99)
       nn_quant_bias_correct(g, r, &qd, samples, n, &bd, NULL, &d);
       nn_quant_graph(g, r, &qd, &q, NULL, &d);  (quantize as usual)

   DESIGN
     Both take the same (g, ranges, qd) that nn_quant_graph will get and
     build the QDQ graph once internally to read the exact weight scales,
     bias scales and input activation scales it uses; they only change
     constant data of g (weights; biases, creating a bias input when a
     Conv/Gemm has none), never the node list, so ranges stay valid (a
     created bias is a constant: ranges are only read for node outputs and
     graph inputs).  Samples: inputs[k * g->input_count + i] = input i of
     sample k (borrowed).  Layers: Conv (1-D/2-D, any group), Gemm
     (transA 0) and MatMul with a constant 2-D float weight read only by
     that node, in a layer the table leaves in an integer mode.
   ERRORS  nn_status + nn_diag; NN_ERR_NOMEM may leave g partly rewritten
     (weights of the layers done so far).
   THREADS  No global state.
*/

/* ---- AdaRound ----------------------------------------------------------- */

typedef struct nn_quant_adaround_layer {
    uint32_t node;                 /* node index in g */
    uint32_t channels;             /* output channels optimized (the others kept nearest) */
    uint32_t positions;            /* sampled output positions (rows of the reconstruction) */
    uint64_t flipped;              /* weights rounded the other way than nearest */
    double err_nearest;            /* mean over held-out positions of sum_c (y~_c - y_c)^2, nearest rounding */
    double err_adaround;           /* the same with the rounding kept (learned where it is lower, per channel) */
} nn_quant_adaround_layer;

typedef struct nn_quant_adaround_desc {
    uint32_t iterations;           /* 0: 1000 Adam steps per layer */
    uint32_t positions;            /* 0: 1024 output positions per layer, spread over the samples
                                      (fewer for wide layers: at most 4M patch floats per layer) */
    uint32_t batch;                /* 0: 32 positions per step */
    double reg;                    /* lambda of the rounding regularizer; 0: 1 (the loss is in grid
                                      units; with the paper's 0.01 most h stay between 0 and 1) */
    double beta_start, beta_end;   /* annealing of beta; 0: 20 and 2 */
    double warm_start;             /* fraction of steps without the regularizer; 0: 0.2 */
    double lr;                     /* Adam step; 0: 10 / iterations (0.01 at 1000 steps: Adam moves V
                                      by about lr per step, and V must travel a few units) */
    int float_input;               /* 1: reconstruct on the float input; 0: on the input
                                      fake-quantized with its QDQ scale (default) */
    int sequential;                /* 1: the layer's input x^ is what the QDQ model feeds it, with
                                      every earlier layer quantized and already rounded by AdaRound
                                      (the paper's asymmetric reconstruction through the quantized
                                      upstream model; one QDQ pass per layer); 0: float input,
                                      fake-quantized (default) */
    uint32_t threads;              /* sequential: the samples of each QDQ pass over 1..8 threads
                                      (the rounding does not depend on the count) */
    uint32_t seed;                 /* 0: 1 */
    uint32_t max_samples;          /* 0: all samples given */
    const nn_input_shape *input_shapes; /* for the float executor */
    uint32_t input_shape_count;
    nn_quant_log_fn progress;      /* optional: one line per layer */
    void *progress_user;
    nn_quant_adaround_layer *layers; /* optional caller array, filled up to layer_cap */
    uint32_t layer_cap;
} nn_quant_adaround_desc;

typedef struct nn_quant_adaround_report {
    uint32_t layers;               /* layers optimized */
    uint32_t skipped;              /* linear layers left alone (shared weight, float layer, ...) */
    uint64_t weights, flipped;
    double err_nearest, err_adaround; /* sums over layers */
} nn_quant_adaround_report;

/* AdaRound: per layer, learns whether each int8 weight rounds up or down
   (soft rounding h(V) = clip(sigmoid(V) (zeta - gamma) + gamma, 0, 1),
   zeta 1.1, gamma -0.1, regularizer sum 1 - |2h - 1|^beta with beta
   annealed from beta_start to beta_end after a warm start), minimising
   ||W x - W~ x^||^2 over sampled output positions of the layer's
   calibration inputs (x from the float model; x^ = x fake-quantized with
   the layer's input scale unless float_input, or with sequential the
   input the QDQ model gives the layer at the same positions, every layer
   before it quantized with its learned rounding).  The weights written back
   lie exactly on the per-channel grid nn_quant_graph uses (s_c = max|w_c| /
   qmax; the max element keeps its value, so round(w / s_c) reproduces the
   learned rounding).  The sampled positions are split 3:1: the first part
   trains, and a channel keeps its nearest rounding when the learned one
   reconstructs worse on the held-out part.  out optional. */
NN_API nn_status nn_quant_adaround(nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd,
                                   const nn_value *inputs, uint32_t sample_count, const nn_quant_adaround_desc *d,
                                   nn_quant_adaround_report *out, nn_diag *diag);

/* ---- empirical bias correction ------------------------------------------ */

typedef enum nn_quant_bc_mode {
    NN_QUANT_BC_LOCAL = 0,         /* default: e_c = (W~ - W) E[x^] + (b~ - b), x^ the layer's
                                      input in the quantized model: the shift the layer itself adds */
    NN_QUANT_BC_TOTAL,             /* e_c = E[y_q,c] - E[y_f,c] at the layer's output: its own shift
                                      plus what reaches it from upstream (corrected all at once,
                                      so upstream shifts are counted twice; see docs) */
    NN_QUANT_BC_SEQUENTIAL         /* e_c = E[y_q,c] - E[y_f,c], one layer at a time in graph order,
                                      each measured on the QDQ model with every earlier layer already
                                      corrected: removes the mean shift of activation rounding and
                                      clipping too (one QDQ pass per corrected layer) */
} nn_quant_bc_mode;

typedef struct nn_quant_bc_layer {
    uint32_t node;                 /* node index in g */
    double cosine;                 /* output cosine before correction (float_only fake-quant) */
    double mean_abs_shift;         /* mean over channels of |e_c| (last round) */
    double rel_shift;              /* mean |e_c| / RMS of the float output */
    int corrected;                 /* cosine < min_layer_cos */
    int bias_created;
} nn_quant_bc_layer;

typedef struct nn_quant_bc_desc {
    uint32_t samples;              /* bc_inference_num; 0: 30 (TPU-MLIR's default), capped at sample_count */
    double min_layer_cos;          /* correct layers whose output cosine is below; 0: 0.99 (TPU-MLIR's
                                      default); >= 1: every layer */
    nn_quant_bc_mode mode;
    uint32_t rounds;               /* 0: 1; re-quantize, re-measure and correct again */
    int keep_worse;                /* SEQUENTIAL: 1 keeps the corrections even when they lower the
                                      mean output cosine on the samples (default: undone then) */
    const nn_input_shape *input_shapes; /* for the float executor */
    uint32_t input_shape_count;
    nn_quant_log_fn progress;
    void *progress_user;
    nn_quant_bc_layer *layers;     /* optional caller array, filled up to layer_cap */
    uint32_t layer_cap;
    uint32_t threads;              /* SEQUENTIAL: each layer's measurement and the before/after
                                      scoring split their samples over this many threads
                                      (1..8; the corrections are the same for any count) */
} nn_quant_bc_desc;

typedef struct nn_quant_bc_report {
    uint32_t layers;               /* linear layers measured */
    uint32_t corrected;
    uint32_t biases_created;
    uint32_t skipped;              /* no way to hold a bias (MatMul without Add) or not found in the QDQ graph */
    double cos_before, cos_after;  /* SEQUENTIAL: mean output cosine on the samples, QDQ vs the
                                      original float model, before and after the corrections */
    int rejected;                  /* SEQUENTIAL: the corrections lowered it and were undone */
} nn_quant_bc_report;

/* Empirical bias correction: quantizes g (nn_quant_graph with ranges, qd),
   runs the float model and the QDQ model (fake-quant executor, float
   kernels so that each layer's output before its QuantizeLinear is seen)
   on the first `samples` samples, and for every layer whose output cosine
   is below min_layer_cos subtracts the per-output-channel mean error e_c
   (see nn_quant_bc_mode) from its float bias (Gemm: divided by beta;
   MatMul: the constant of the Add after it).  out optional. */
NN_API nn_status nn_quant_bias_correct(nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd,
                                       const nn_value *inputs, uint32_t sample_count, const nn_quant_bc_desc *d,
                                       nn_quant_bc_report *out, nn_diag *diag);

/* ---- softmax quantization bias ------------------------------------------- */

typedef struct nn_quant_softmax_bias {
    uint32_t node;                 /* Softmax node in g */
    int quantized;                 /* 0: its output stays float in the QDQ graph (bias 0) */
    double scale;                  /* output scale when quantized */
    double row_sum;                /* mean over rows of sum_j q(p)_j (1 when float) */
    double zero_fraction;          /* fraction of probabilities that quantize to 0 */
} nn_quant_softmax_bias;

/* Measures, for each Softmax of g (up to cap), the expected row sum of its
   quantized output in the QDQ graph built from (ranges, qd) on the given
   samples (fake-quant executor, float kernels): the bias Pandey et al.
   correct.  *count = Softmax nodes seen.  Nothing is rewritten. */
NN_API nn_status nn_quant_softmax_bias_measure(const nn_graph *g, const nn_quant_range *ranges,
                                               const nn_quant_desc *qd, const nn_value *inputs,
                                               uint32_t sample_count, nn_quant_softmax_bias *out, uint32_t cap,
                                               uint32_t *count, nn_diag *diag);

/* ==== pre-quantized model import ==== */

/* Pre-quantized models made by other tools
   (issue 7, docs/TARGET.md "Pre-quantized models").

   A static QDQ model (QuantizeLinear/DequantizeLinear with constant scales
   and zero points, e.g. ONNX Runtime's quantize_static or
   scripts/make_qdq4.py) needs nothing here: nn_qexec and nn_target_compile
   read its groups as they read nnport's own, keeping its scales and zero
   points.  A *dynamically* quantized model (ONNX Runtime's
   quantize_dynamic: DynamicQuantizeLinear computes each activation's scale
   from its own min/max at every run) has no static activation scales to
   keep, and its weights are uint8 with a zero point (ISNet: 143), which
   nnport's int8 kernels (weights int8, zero point 0) do not take.

   nn_quant_import_dynamic turns such a model back into the float model it
   approximates: each chain

       x -> DynamicQuantizeLinear -> (x_q, x_scale, x_zp)
       ConvInteger(x_q, W_q, x_zp, W_zp) | MatMulInteger(x_q, W_q, x_zp, W_zp) -> acc (int32)
       Cast(acc, to=float) -> c;   Mul(x_scale, W_scale) -> S;   Mul(c, S) -> y

   becomes one float Conv(x, W) / MatMul(x, W) -> y with W = (W_q - W_zp) *
   W_scale (exact in float32: an 8-bit integer times one float), attributes
   kept.  The DynamicQuantizeLinear goes when nothing else reads it.  The
   result runs with the float kernels (no ConvInteger) and goes through the
   ordinary static flow: calibrate on it, nn_quant_graph (int8 per-channel
   weights: the 8-bit asymmetric grid of the original weights is not kept,
   the values are requantized), nn_target_compile.  What the dynamic model
   decided per run (activation ranges) is replaced by calibrated ranges, as
   ONNX Runtime's own static quantization would.

   The result is a new graph; g is only read and must outlive it (weights
   are copied only where rewritten: the others are lent from g). */

typedef struct nn_quant_import_desc {
    nn_allocator alloc;
} nn_quant_import_desc;

typedef struct nn_quant_import_stats {
    uint32_t convs;          /* ConvInteger chains rewritten */
    uint32_t matmuls;        /* MatMulInteger chains rewritten */
    uint32_t dynamic_left;   /* DynamicQuantizeLinear nodes still in the result (read elsewhere) */
    uint32_t integer_left;   /* ConvInteger/MatMulInteger not in the pattern (left as they are) */
} nn_quant_import_stats;

/* Rewrites g's dynamic-quantization chains (above) into float Conv/MatMul
   in a new graph *out (destroy it before g).  stats optional.
   NN_ERR_UNSUPPORTED: a node with a subgraph attribute; NN_ERR_NOMEM. */
NN_API nn_status nn_quant_import_dynamic(const nn_graph *g, const nn_quant_import_desc *d, nn_graph **out,
                                         nn_quant_import_stats *stats, nn_diag *diag);
/* 1 when g holds a DynamicQuantizeLinear (a dynamically quantized model). */
NN_API int nn_quant_graph_is_dynamic(const nn_graph *g);

#ifdef __cplusplus
}
#endif
#endif /* NN_QUANT_H */

/* ===================== end of API: implementation below ===================== */

#if defined(NN_IMPLEMENTATION) || defined(NN_QUANT_IMPLEMENTATION)
#ifndef NN_QUANT_IMPLEMENTATION_DONE
#define NN_QUANT_IMPLEMENTATION_DONE

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NN_ASSERT
#include <assert.h>
#define NN_ASSERT(x) assert(x)
#endif

/* ---- fixed-point requantization ---------------------------------------- */

NN_API nn_quant_multiplier nn_quant_multiplier_make(double real) {
    nn_quant_multiplier q;
    int e;
    double f;
    int64_t m;
    q.m = 0;
    q.shift = 0;
    if (!(real > 0)) return q;
    f = frexp(real, &e); /* real = f * 2^e, f in [0.5, 1) */
    m = (int64_t)llround(f * 2147483648.0);
    if (m == ((int64_t)1 << 31)) { m >>= 1; e++; }
    if (31 - e > 62) return q; /* below 2^-31 * 2^-31: rounds to 0 */
    if (31 - e < 0) { q.m = INT32_MAX; q.shift = 0; return q; }
    q.m = (int32_t)m;
    q.shift = 31 - e;
    return q;
}

/* floor(v / 2^s) for any sign, without relying on >> of negatives. */
static int64_t nn_quant__floor_shift(int64_t v, int s) {
    if (v >= 0) return v >> s;
    return -((-(v + 1)) >> s) - 1;
}

NN_API int32_t nn_quant_mul_shift(int64_t x, nn_quant_multiplier q) {
    int64_t p = x * (int64_t)q.m, r;
    if (q.shift > 0) r = nn_quant__floor_shift(p + ((int64_t)1 << (q.shift - 1)), q.shift);
    else r = p;
    if (r > INT32_MAX) r = INT32_MAX;
    if (r < INT32_MIN) r = INT32_MIN;
    return (int32_t)r;
}

NN_API int32_t nn_quant_mul_shift_rne(int64_t x, nn_quant_multiplier q) {
    int64_t p, f, r, half;
    if (q.m == 0) return 0;
    p = x * (int64_t)q.m; /* |x| < 2^31, m < 2^31: fits */
    if (q.shift == 0) return p > INT32_MAX ? INT32_MAX : p < INT32_MIN ? INT32_MIN : (int32_t)p;
    f = nn_quant__floor_shift(p, q.shift);           /* floor(p / 2^shift) */
    r = p - f * ((int64_t)1 << q.shift);             /* remainder in [0, 2^shift) */
    half = (int64_t)1 << (q.shift - 1);
    if (r > half || (r == half && (f & 1))) f++;     /* above half, or a tie on an odd floor */
    return f > INT32_MAX ? INT32_MAX : f < INT32_MIN ? INT32_MIN : (int32_t)f;
}

NN_API int32_t nn_quant_requantize(int64_t acc, nn_quant_multiplier q, int32_t zp, int32_t lo, int32_t hi) {
    int64_t v = (int64_t)nn_quant_mul_shift(acc, q) + zp;
    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

/* ---- integer kernels ----------------------------------------------------- */

#define NN_QUANT__PB 256 /* output pixels per accumulator block (4 x 256 int32 = 4 KiB, in L1) */

/* Fast paths.  With AVX-512 (F, BW, DQ, VL and VNNI, as -march=native
   gives on Ice Lake / Zen 4 and later) the convolution's GEMM runs on
   vpdpbusd and the requantizations on 8 int64 lanes at a time.  Any other
   target, or NN_QUANT_NO_SIMD, keeps the portable loops, which are the
   reference: every fast path computes the same integers (exact integer
   sums, the same floor shifts), checked against plain loops by
   tests/test_quant_fast.c. */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__) && !defined(NN_QUANT_NO_SIMD)
#define NN_QUANT__AVX512 1
#include <immintrin.h>
#endif

/* The depthwise kernel's planes: the zero-point-shifted, padded input
   (hp x wp: the windows' extent or the padded input, the larger) split
   into stride_h x stride_w phases of hq x wq, so that a strided window
   tap reads one phase at a constant offset. */
static void nn_quant__dw_dims(const nn_quant_conv_params *p, size_t *hq, size_t *wq) {
    size_t hp = (size_t)(p->oh - 1) * (size_t)p->stride_h + (size_t)(p->kh - 1) * (size_t)p->dil_h + 1;
    size_t wp = (size_t)(p->ow - 1) * (size_t)p->stride_w + (size_t)(p->kw - 1) * (size_t)p->dil_w + 1;
    if (hp < (size_t)p->pad_top + (size_t)p->h) hp = (size_t)p->pad_top + (size_t)p->h;
    if (wp < (size_t)p->pad_left + (size_t)p->w) wp = (size_t)p->pad_left + (size_t)p->w;
    *hq = (hp + (size_t)p->stride_h - 1) / (size_t)p->stride_h;
    *wq = (wp + (size_t)p->stride_w - 1) / (size_t)p->stride_w;
}

/* Elements after the last phase that a tap's run may read (columns past
   OW of the last row are computed and dropped). */
static size_t nn_quant__dw_slack(const nn_quant_conv_params *p, size_t wq) {
    return wq + (size_t)p->kw * (size_t)p->dil_w + 32;
}

/* The largest of the layouts nn_quant_conv_s8 may use: the reference
   im2col (int16 columns, widened weights, 4 accumulator blocks), the
   depthwise phases (int16, plus OH rows of wq int32 sums) and, with
   AVX-512, the packed panels (32-pixel panels of K/4 tap quads, 128 bytes
   each; padded weights; per-channel corrections; 5 tap rows). */
NN_API size_t nn_quant_conv_s8_scratch_bytes(const nn_quant_conv_params *p) {
    size_t k = (size_t)(p->c / p->group) * (size_t)p->kh * (size_t)p->kw;
    size_t mg = (size_t)(p->m / p->group), ohw = (size_t)p->oh * (size_t)p->ow;
    size_t need = (ohw + mg) * k * sizeof(int16_t) + 4 * NN_QUANT__PB * sizeof(int32_t) + 64, hq, wq, dw;
    nn_quant__dw_dims(p, &hq, &wq);
    dw = ((size_t)p->stride_h * (size_t)p->stride_w * hq * wq + nn_quant__dw_slack(p, wq)) * sizeof(int16_t) +
         (size_t)p->oh * wq * sizeof(int32_t) + 128;
    if (dw > need) need = dw;
#ifdef NN_QUANT__AVX512
    {
        size_t k4 = (k + 3) / 4, vn = (ohw + 31) / 32 * k4 * 128 + mg * k4 * 4 + mg * 4 + 5 * ohw + 128;
        if (vn > need) need = vn;
    }
#endif
    return need;
}

/* Accumulates nb (1..4) output channels over pixels [p0, p0 + pn):
   acc[j][p] = sum_k w[j][k] * col[k][p0 + p].  The inner loop runs along
   contiguous pixels, int16 x int16 -> int32, which compilers vectorize. */
static void nn_quant__conv_block(const int16_t *col, size_t ohw, size_t K, const int16_t *w, int nb, size_t p0,
                                 size_t pn, int32_t *acc) {
    size_t k, p;
    int32_t *a0 = acc, *a1 = acc + NN_QUANT__PB, *a2 = acc + 2 * NN_QUANT__PB, *a3 = acc + 3 * NN_QUANT__PB;
    memset(acc, 0, (size_t)nb * NN_QUANT__PB * sizeof(int32_t));
    if (nb == 4) {
        for (k = 0; k < K; k++) {
            const int16_t *cr = col + k * ohw + p0;
            int32_t w0 = w[k], w1 = w[K + k], w2 = w[2 * K + k], w3 = w[3 * K + k];
            for (p = 0; p < pn; p++) {
                int32_t v = cr[p];
                a0[p] += w0 * v; a1[p] += w1 * v; a2[p] += w2 * v; a3[p] += w3 * v;
            }
        }
        return;
    }
    for (k = 0; k < K; k++) {
        const int16_t *cr = col + k * ohw + p0;
        int j;
        for (j = 0; j < nb; j++) {
            int32_t wv = w[(size_t)j * K + k], *aj = acc + (size_t)j * NN_QUANT__PB;
            if (wv) for (p = 0; p < pn; p++) aj[p] += wv * cr[p];
        }
    }
}

#ifdef NN_QUANT__AVX512
/* nn_quant_mul_shift on 8 int64 lanes; q8 holds one nn_quant_multiplier
   per lane ({m, shift}: m in the low 32 bits, shift in the high 32).  The
   arithmetic shift is the floor nn_quant__floor_shift computes, and the
   scalar function's range rules keep every lane from overflowing. */
static __m512i nn_quant__v_mul_shift(__m512i x, __m512i q8) {
    __m512i m = _mm512_srai_epi64(_mm512_slli_epi64(q8, 32), 32);
    __m512i sh = _mm512_srli_epi64(q8, 32);
    __m512i rnd = _mm512_srli_epi64(_mm512_sllv_epi64(_mm512_set1_epi64(1), sh), 1); /* 2^(shift-1); 0 for shift 0 */
    __m512i r = _mm512_srav_epi64(_mm512_add_epi64(_mm512_mullo_epi64(x, m), rnd), sh);
    r = _mm512_max_epi64(r, _mm512_set1_epi64(INT32_MIN));
    return _mm512_min_epi64(r, _mm512_set1_epi64(INT32_MAX));
}

/* nn_quant_requantize on 8 int64 lanes. */
static __m512i nn_quant__v_requant(__m512i x, __m512i q8, __m512i zp, __m512i lo, __m512i hi) {
    __m512i r = _mm512_add_epi64(nn_quant__v_mul_shift(x, q8), zp);
    return _mm512_min_epi64(_mm512_max_epi64(r, lo), hi);
}

static __m512i nn_quant__v_q8(nn_quant_multiplier q) {
    int64_t v;
    memcpy(&v, &q, sizeof v); /* {m, shift} as one little-endian lane */
    return _mm512_set1_epi64(v);
}

/* A multiplier the 8-lane helpers take exactly with a sum below 2^31 in
   magnitude: shift at most 62, so the rounding term 2^(shift-1) plus a
   product below 2^62 stay within int64. */
static int nn_quant__v_ok(nn_quant_multiplier q) { return q.shift >= 0 && q.shift <= 62; }

/* 16 int32 sums plus an int64 bias, requantized to 16 bytes (the values
   are clamped into [lo, hi], so vpmovqb's truncation is exact). */
static __m128i nn_quant__v_requant16(__m512i acc, __m512i bias, __m512i q8, __m512i zp, __m512i lo, __m512i hi) {
    __m512i a0 = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(acc)), bias);
    __m512i a1 = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(acc, 1)), bias);
    return _mm_unpacklo_epi64(_mm512_cvtepi64_epi8(nn_quant__v_requant(a0, q8, zp, lo, hi)),
                              _mm512_cvtepi64_epi8(nn_quant__v_requant(a1, q8, zp, lo, hi)));
}
#endif

/* y[i] = requantize(acc[i] + bias, q, zp, lo, hi) for i < n. */
static void nn_quant__requant_row(const int32_t *acc, size_t n, int32_t bias, nn_quant_multiplier q, int32_t zp,
                                  int32_t lo, int32_t hi, int8_t *y) {
    size_t i = 0;
#ifdef NN_QUANT__AVX512
    __m512i q8 = nn_quant__v_q8(q), vb = _mm512_set1_epi64(bias), vz = _mm512_set1_epi64(zp);
    __m512i vl = _mm512_set1_epi64(lo), vh = _mm512_set1_epi64(hi);
    for (; i < n; i += 16) {
        __mmask16 m = (__mmask16)(n - i >= 16 ? 0xffffu : (1u << (n - i)) - 1);
        _mm_mask_storeu_epi8(y + i, m, nn_quant__v_requant16(_mm512_maskz_loadu_epi32(m, acc + i), vb, q8, vz, vl, vh));
    }
#endif
    for (; i < n; i++) y[i] = (int8_t)nn_quant_requantize((int64_t)acc[i] + bias, q, zp, lo, hi);
}

/* Depthwise convolution (C/group = M/group = 1) without im2col.  Each
   channel's plane is copied once into int16, zero-point-shifted (0 in the
   padding), split into its stride phases (nn_quant__dw_dims): window tap
   (kh, kw) of output (oh, ow) is then element (oh, ow) of phase
   (kh*DH % SH, kw*DW % SW) shifted by (kh*DH / SH, kw*DW / SW), so with
   sums kept in rows of wq the tap is one long contiguous run,
   acc[i] += w * phase[offset + i] (vectorized whatever OW is; the
   columns past OW are dropped).  Taps go three per pass over the sums.
   The shape is copied to locals: int32 stores could alias the int32
   fields of *p otherwise, which stops vectorization. */
static void nn_quant__conv_dw(const nn_quant_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                              const nn_quant_multiplier *mult, int8_t *y, void *scratch) {
    const int32_t H = p->h, W = p->w, OH = p->oh, OW = p->ow, KH = p->kh, KW = p->kw, SH = p->stride_h, SW = p->stride_w;
    const int32_t DH = p->dil_h, DW = p->dil_w, PT = p->pad_top, PL = p->pad_left, zp = p->in_zp;
    size_t hq, wq, ph, L, i, planes;
    int16_t *pl = (int16_t *)scratch; /* (SH * SW phases, hq, wq) + slack */
    int32_t *acc, n, c, r, col, kh, kw, oh, b;
    nn_quant__dw_dims(p, &hq, &wq);
    ph = hq * wq;
    L = (size_t)OH * wq;
    planes = ((size_t)SH * (size_t)SW * ph + nn_quant__dw_slack(p, wq)) * sizeof *pl;
    acc = (int32_t *)(void *)(((uintptr_t)pl + planes + 63) & ~(uintptr_t)63); /* (OH, wq) */
    for (n = 0; n < p->n; n++)
        for (c = 0; c < p->c; c++) {
            const int8_t *xs = x + ((size_t)n * p->c + c) * (size_t)H * (size_t)W;
            const int8_t *wc = w + (size_t)c * (size_t)KH * (size_t)KW;
            memset(pl, 0, planes);
            for (r = 0; r < H; r++) {
                const int8_t *s = xs + (size_t)r * (size_t)W;
                size_t R = (size_t)(r + PT);
                int16_t *d = pl + (R % (size_t)SH) * (size_t)SW * ph + (R / (size_t)SH) * wq;
                if (SW == 1)
                    for (col = 0; col < W; col++) d[col + PL] = (int16_t)(s[col] - zp);
                else
                    for (b = 0; b < SW; b++) { /* phase b: padded columns j * SW + b, input column j * SW + b - PL */
                        int16_t *db = d + (size_t)b * ph;
                        int32_t j = PL > b ? (PL - b + SW - 1) / SW : 0;
                        for (col = j * SW + b - PL; col < W; j++, col += SW) db[j] = (int16_t)(s[col] - zp);
                    }
            }
            for (i = 0; i < L; i++) acc[i] = 0;
            for (kh = 0; kh < KH; kh++) {
                size_t a = (size_t)kh * (size_t)DH;
                const int16_t *row = pl + (a % (size_t)SH) * (size_t)SW * ph + (a / (size_t)SH) * wq;
                const int8_t *wk = wc + (size_t)kh * (size_t)KW;
                for (kw = 0; kw < KW; kw += 3) {
                    size_t b0 = (size_t)kw * (size_t)DW, b1 = b0 + (size_t)DW, b2 = b1 + (size_t)DW;
                    const int16_t *s0 = row + (b0 % (size_t)SW) * ph + b0 / (size_t)SW;
                    int32_t w0 = wk[kw];
                    if (KW - kw >= 3) {
                        const int16_t *s1 = row + (b1 % (size_t)SW) * ph + b1 / (size_t)SW;
                        const int16_t *s2 = row + (b2 % (size_t)SW) * ph + b2 / (size_t)SW;
                        int32_t w1 = wk[kw + 1], w2 = wk[kw + 2];
                        for (i = 0; i < L; i++) acc[i] += w0 * s0[i] + w1 * s1[i] + w2 * s2[i];
                    } else if (KW - kw == 2) {
                        const int16_t *s1 = row + (b1 % (size_t)SW) * ph + b1 / (size_t)SW;
                        int32_t w1 = wk[kw + 1];
                        for (i = 0; i < L; i++) acc[i] += w0 * s0[i] + w1 * s1[i];
                    } else {
                        for (i = 0; i < L; i++) acc[i] += w0 * s0[i];
                    }
                }
            }
            for (oh = 0; oh < OH; oh++)
                nn_quant__requant_row(acc + (size_t)oh * wq, (size_t)OW, bias ? bias[c] : 0, mult[c], p->out_zp, p->act_min,
                                      p->act_max, y + ((size_t)n * p->m + c) * (size_t)OH * (size_t)OW + (size_t)oh * (size_t)OW);
        }
}

#ifdef NN_QUANT__AVX512
/* The AVX-512 convolution.  vpdpbusd multiplies unsigned by signed bytes,
   four taps per int32 lane, so activations go unsigned: x + 128 (x ^ 0x80),
   the padding as in_zp + 128, and
     sum w * (x + 128) - (in_zp + 128) * sum w  =  sum w * (x - in_zp)
   with the padding contributing 0; corr[m] holds the second term.  Every
   partial sum is within 255 * 128 * K <= 2^31 - 1 for K <= 65536, and the
   int32 subtraction wraps back to the exact sum, which fits as well.
   Layout: im2col rows (one per tap, raw int8) are interleaved four at a
   time into 32-pixel panels, (K/4, 32 pixels, 4 taps) bytes each, so one
   64-byte load feeds 16 pixels' lanes and a weight quad is broadcast. */

/* One im2col row for tap (kh, kw) of plane xs: out[oh * OW + ow] =
   xs[ih][iw], in_zp in the padding.  A 1x1 stride-1 unpadded tap is the
   plane itself.  Stride 2 takes the even bytes of 64-byte loads
   (vpmovwb keeps the low byte of each int16), masked to the row's
   bytes. */
static const int8_t *nn_quant__tap_row(const nn_quant_conv_params *p, const int8_t *xs, int32_t kh, int32_t kw,
                                       int8_t *row) {
    const int32_t sw = p->stride_w, W = p->w, OW = p->ow;
    const int8_t zp = (int8_t)p->in_zp;
    int32_t oh, ow;
    if (p->kh == 1 && p->kw == 1 && p->stride_h == 1 && sw == 1 && p->pad_top == 0 && p->pad_left == 0 &&
        p->oh == p->h && OW == W)
        return xs;
    for (oh = 0; oh < p->oh; oh++) {
        int32_t ih = oh * p->stride_h - p->pad_top + kh * p->dil_h, iw0 = kw * p->dil_w - p->pad_left, lo, hi;
        int8_t *o = row + (size_t)oh * (size_t)OW;
        const int8_t *s;
        if (ih < 0 || ih >= p->h) { memset(o, zp, (size_t)OW); continue; }
        lo = iw0 >= 0 ? 0 : (-iw0 + sw - 1) / sw;           /* first ow with iw >= 0 */
        hi = iw0 >= W ? 0 : (W - 1 - iw0) / sw + 1;         /* one past the last ow with iw < w */
        if (hi > OW) hi = OW;
        if (lo > hi) lo = hi;
        for (ow = 0; ow < lo; ow++) o[ow] = zp;
        s = xs + (size_t)ih * (size_t)W + (size_t)(iw0 + lo * sw); /* input of output lo */
        if (sw == 1) {
            memcpy(o + lo, s, (size_t)(hi - lo));
        } else if (sw == 2) {
            for (ow = 0; ow < hi - lo; ow += 32) {
                int32_t m = hi - lo - ow < 32 ? hi - lo - ow : 32; /* outputs; they read 2m - 1 input bytes */
                __m512i v = _mm512_maskz_loadu_epi8((__mmask64)((1ull << (2 * m - 1)) - 1), s + 2 * (size_t)ow);
                _mm256_mask_storeu_epi8(o + lo + ow, (__mmask32)((1ull << m) - 1), _mm512_cvtepi16_epi8(v));
            }
        } else {
            for (ow = 0; ow < hi - lo; ow++) o[lo + ow] = s[(size_t)ow * (size_t)sw];
        }
        for (ow = hi; ow < OW; ow++) o[ow] = zp;
    }
    return row;
}

/* Interleaves 4 rows of ohw bytes (taps 4j..4j+3) into quad j of every
   panel: pixel q's bytes at dst + (q / 32) * pstride + (q % 32) * 4,
   flipped to unsigned; pixels past ohw up to the panel end get zeros. */
static void nn_quant__vnni_pack4(const int8_t *const r[4], size_t ohw, uint8_t *dst, size_t pstride) {
    const __m128i flip = _mm_set1_epi8((char)0x80);
    size_t q, end = (ohw + 31) / 32 * 32;
    for (q = 0; q < end; q += 16) {
        uint8_t *o = dst + (q / 32) * pstride + (q % 32) * 4;
        __m128i a, b, c, d, ab0, ab1, cd0, cd1;
        if (q >= ohw) { memset(o, 0, 64); continue; }
        if (q + 16 <= ohw) {
            a = _mm_loadu_si128((const __m128i *)(const void *)(r[0] + q));
            b = _mm_loadu_si128((const __m128i *)(const void *)(r[1] + q));
            c = _mm_loadu_si128((const __m128i *)(const void *)(r[2] + q));
            d = _mm_loadu_si128((const __m128i *)(const void *)(r[3] + q));
        } else {
            int8_t t[4][16];
            int j;
            memset(t, 0, sizeof t);
            for (j = 0; j < 4; j++) memcpy(t[j], r[j] + q, ohw - q);
            a = _mm_loadu_si128((const __m128i *)(const void *)t[0]);
            b = _mm_loadu_si128((const __m128i *)(const void *)t[1]);
            c = _mm_loadu_si128((const __m128i *)(const void *)t[2]);
            d = _mm_loadu_si128((const __m128i *)(const void *)t[3]);
        }
        a = _mm_xor_si128(a, flip); b = _mm_xor_si128(b, flip);
        c = _mm_xor_si128(c, flip); d = _mm_xor_si128(d, flip);
        ab0 = _mm_unpacklo_epi8(a, b); ab1 = _mm_unpackhi_epi8(a, b); /* a0 b0 a1 b1 ... */
        cd0 = _mm_unpacklo_epi8(c, d); cd1 = _mm_unpackhi_epi8(c, d);
        _mm_storeu_si128((__m128i *)(void *)o, _mm_unpacklo_epi16(ab0, cd0));        /* pixels 0-3: a b c d each */
        _mm_storeu_si128((__m128i *)(void *)(o + 16), _mm_unpackhi_epi16(ab0, cd0)); /* 4-7 */
        _mm_storeu_si128((__m128i *)(void *)(o + 32), _mm_unpacklo_epi16(ab1, cd1)); /* 8-11 */
        _mm_storeu_si128((__m128i *)(void *)(o + 48), _mm_unpackhi_epi16(ab1, cd1)); /* 12-15 */
    }
}

/* One tile: 8 output channels (weight rows wq + r * wstride bytes, the
   first nr real) x one 32-pixel panel, 16 zmm accumulators over K4 tap
   quads; then rows < nr are requantized and their first np pixels stored
   at y + r * ystride.  The accumulators are named variables (a macro per
   row) so that they stay in registers. */
#define NN_QUANT__DP(r)                                                    \
    do {                                                                   \
        int32_t q_;                                                        \
        __m512i w_;                                                        \
        memcpy(&q_, w##r + 4 * k, 4);                                      \
        w_ = _mm512_set1_epi32(q_);                                        \
        c##r##0 = _mm512_dpbusd_epi32(c##r##0, b0, w_);                    \
        c##r##1 = _mm512_dpbusd_epi32(c##r##1, b1, w_);                    \
    } while (0)

static void nn_quant__vnni_tile(const uint8_t *pan, const int8_t *wq, size_t wstride, size_t K4, int nr,
                                const int32_t *corr, const int32_t *bias, const nn_quant_multiplier *mult,
                                const nn_quant_conv_params *p, int8_t *y, size_t ystride, size_t np) {
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512i c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    const int8_t *w0 = wq, *w1 = wq + (nr > 1) * wstride, *w2 = wq + (nr > 2) * 2 * wstride;
    const int8_t *w3 = wq + (nr > 3) * 3 * wstride, *w4 = wq + (nr > 4) * 4 * wstride, *w5 = wq + (nr > 5) * 5 * wstride;
    const int8_t *w6 = wq + (nr > 6) * 6 * wstride, *w7 = wq + (nr > 7) * 7 * wstride; /* rows past nr repeat row 0 */
    size_t k;
    int r;
    for (k = 0; k < K4; k++) {
        const __m512i b0 = _mm512_loadu_si512(pan + k * 128), b1 = _mm512_loadu_si512(pan + k * 128 + 64);
        NN_QUANT__DP(0); NN_QUANT__DP(1); NN_QUANT__DP(2); NN_QUANT__DP(3);
        NN_QUANT__DP(4); NN_QUANT__DP(5); NN_QUANT__DP(6); NN_QUANT__DP(7);
    }
    {
        const __m512i acc[16] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71};
        __m512i vz = _mm512_set1_epi64(p->out_zp), vl = _mm512_set1_epi64(p->act_min), vh = _mm512_set1_epi64(p->act_max);
        __mmask16 m0 = (__mmask16)(np >= 16 ? 0xffffu : (1u << np) - 1);
        __mmask16 m1 = (__mmask16)(np >= 32 ? 0xffffu : np > 16 ? (1u << (np - 16)) - 1 : 0u);
        for (r = 0; r < nr; r++) {
            __m512i q8 = nn_quant__v_q8(mult[r]), vb = _mm512_set1_epi64(bias ? bias[r] : 0);
            __m512i cr = _mm512_set1_epi32(corr[r]);
            _mm_mask_storeu_epi8(y + (size_t)r * ystride, m0,
                                 nn_quant__v_requant16(_mm512_sub_epi32(acc[2 * r], cr), vb, q8, vz, vl, vh));
            if (m1)
                _mm_mask_storeu_epi8(y + (size_t)r * ystride + 16, m1,
                                     nn_quant__v_requant16(_mm512_sub_epi32(acc[2 * r + 1], cr), vb, q8, vz, vl, vh));
        }
    }
}

static void nn_quant__conv_vnni(const nn_quant_conv_params *p, const int8_t *x, const int8_t *w, const int32_t *bias,
                                const nn_quant_multiplier *mult, int8_t *y, void *scratch) {
    const int32_t cg = p->c / p->group, mg = p->m / p->group, taps = p->kh * p->kw;
    const size_t ohw = (size_t)p->oh * (size_t)p->ow, hw = (size_t)p->h * (size_t)p->w;
    const size_t K = (size_t)cg * (size_t)taps, K4 = (K + 3) / 4, npan = (ohw + 31) / 32, pstride = K4 * 128;
    uint8_t *pan = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63); /* (npan, K4, 32, 4) */
    int8_t *wpad = (int8_t *)(pan + npan * pstride);                        /* (M/group, K4 * 4) when K % 4 */
    int32_t *corr = (int32_t *)(void *)(wpad + (size_t)mg * K4 * 4);        /* (M/group) */
    int8_t *rows = (int8_t *)(corr + mg);                                   /* (5, OH*OW): 4 tap rows, a zero row */
    int32_t n, g, j, t, mo;
    size_t k, k4, pb;
    memset(rows + 4 * ohw, 0, ohw);
    for (n = 0; n < p->n; n++)
        for (g = 0; g < p->group; g++) {
            const int8_t *xg = x + ((size_t)n * p->c + (size_t)g * cg) * hw, *wg = w + (size_t)g * mg * K, *wq = wg;
            for (j = 0; j < mg; j++) {
                const int8_t *ws = wg + (size_t)j * K;
                int32_t s = 0;
                for (k = 0; k < K; k++) s += ws[k];
                corr[j] = (p->in_zp + 128) * s; /* |s| <= 128 K: within int32 (see above) */
                if (K % 4) {
                    memcpy(wpad + (size_t)j * K4 * 4, ws, K);
                    memset(wpad + (size_t)j * K4 * 4 + K, 0, K4 * 4 - K);
                }
            }
            if (K % 4) wq = wpad;
            for (k4 = 0; k4 < K4; k4++) {
                const int8_t *r[4];
                for (t = 0; t < 4; t++) {
                    k = 4 * k4 + (size_t)t;
                    r[t] = k >= K ? rows + 4 * ohw
                                  : nn_quant__tap_row(p, xg + (k / (size_t)taps) * hw, (int32_t)(k % (size_t)taps) / p->kw,
                                                      (int32_t)(k % (size_t)taps) % p->kw, rows + (size_t)t * ohw);
                }
                nn_quant__vnni_pack4(r, ohw, pan + k4 * 128, pstride);
            }
            for (pb = 0; pb < npan; pb++)
                for (mo = 0; mo < mg; mo += 8) {
                    int32_t oc = g * mg + mo;
                    nn_quant__vnni_tile(pan + pb * pstride, wq + (size_t)mo * K4 * 4, K4 * 4, K4, mg - mo < 8 ? mg - mo : 8,
                                        corr + mo, bias ? bias + oc : NULL, mult + oc, p,
                                        y + ((size_t)n * p->m + oc) * ohw + pb * 32, ohw, ohw - pb * 32 < 32 ? ohw - pb * 32 : 32);
                }
        }
}
#endif

/* Depthwise convolutions take nn_quant__conv_dw; with AVX-512 the others
   take nn_quant__conv_vnni; else (the reference) im2col + blocked integer
   GEMM.  Per image and group the receptive
   fields are laid out as K = C/group * KH * KW rows of OH*OW int16 values
   (x - in_zp, 0 in the padding; row k = (ci, kh, kw)), the group's
   weights widened to int16, and output channels are computed four at a
   time over blocks of 256 pixels.  |x - zp| <= 255 and |w| <= 128: each
   product is below 2^15, so K up to 2^16 sums without int32 overflow. */
NN_API void nn_quant_conv_s8(const nn_quant_conv_params *p, const int8_t *x, const int8_t *w,
                             const int32_t *bias, const nn_quant_multiplier *mult, int8_t *y, void *scratch) {
    const int32_t cg = p->c / p->group, mg = p->m / p->group;
    const size_t ohw = (size_t)p->oh * (size_t)p->ow, hw = (size_t)p->h * (size_t)p->w;
    const size_t K = (size_t)cg * (size_t)p->kh * (size_t)p->kw;
    int16_t *col = (int16_t *)scratch;          /* (K, OH*OW) */
    int16_t *w16 = col + ohw * K;               /* (M/group, K) */
    int32_t *acc = (int32_t *)(void *)(((uintptr_t)(w16 + (size_t)mg * K) + 15) & ~(uintptr_t)15); /* (4, PB) */
    int32_t n, g, ci, mo, kh, kw, oh, ow;
    size_t i, p0;
    if (cg == 1 && mg == 1) {
        nn_quant__conv_dw(p, x, w, bias, mult, y, scratch);
        return;
    }
#ifdef NN_QUANT__AVX512
    nn_quant__conv_vnni(p, x, w, bias, mult, y, scratch);
    return;
#endif
    for (n = 0; n < p->n; n++) {
        for (g = 0; g < p->group; g++) {
            int16_t *cr = col;
            for (i = 0; i < (size_t)mg * K; i++) w16[i] = w[(size_t)g * mg * K + i];
            for (ci = 0; ci < cg; ci++) {
                const int8_t *xs = x + ((size_t)n * p->c + (size_t)g * cg + ci) * hw;
                for (kh = 0; kh < p->kh; kh++)
                    for (kw = 0; kw < p->kw; kw++)
                        for (oh = 0; oh < p->oh; oh++) {
                            int32_t ih = oh * p->stride_h - p->pad_top + kh * p->dil_h;
                            int32_t iw0 = -p->pad_left + kw * p->dil_w;
                            if (ih < 0 || ih >= p->h) {
                                memset(cr, 0, (size_t)p->ow * sizeof *cr);
                                cr += p->ow;
                                continue;
                            }
                            for (ow = 0; ow < p->ow; ow++) {
                                int32_t iw = iw0 + ow * p->stride_w;
                                *cr++ = (int16_t)(iw < 0 || iw >= p->w ? 0 : xs[(size_t)ih * p->w + iw] - p->in_zp);
                            }
                        }
            }
            for (p0 = 0; p0 < ohw; p0 += NN_QUANT__PB) {
                size_t pn = ohw - p0 < NN_QUANT__PB ? ohw - p0 : NN_QUANT__PB;
                for (mo = 0; mo < mg; mo += 4) {
                    int nb = mg - mo < 4 ? mg - mo : 4, j;
                    nn_quant__conv_block(col, ohw, K, w16 + (size_t)mo * K, nb, p0, pn, acc);
                    for (j = 0; j < nb; j++) {
                        int32_t oc = g * mg + mo + j, b = bias ? bias[oc] : 0;
                        const int32_t *aj = acc + (size_t)j * NN_QUANT__PB;
                        int8_t *yo = y + ((size_t)n * p->m + oc) * ohw + p0;
                        for (i = 0; i < pn; i++)
                            yo[i] = (int8_t)nn_quant_requantize((int64_t)aj[i] + b, mult[oc], p->out_zp, p->act_min,
                                                                p->act_max);
                    }
                }
            }
        }
    }
}

#define NN_QUANT__MM_MIN 256 /* K x N from which the AVX-512 path runs (smaller: the reference, small scratch) */

/* The reference layout (B widened to int16, 4 rows of A, 4 accumulator
   rows) or, with AVX-512, B in 32-column panels of K/4 quads, A padded to
   K/4 quads, row and column sums, a zero row. */
NN_API size_t nn_quant_matmul_s8_scratch_bytes(const nn_quant_matmul_params *p) {
    size_t need = ((size_t)p->k * (size_t)p->n + 4 * (size_t)p->k) * sizeof(int16_t) + 4 * (size_t)p->n * sizeof(int32_t) + 64;
#ifdef NN_QUANT__AVX512
    if ((size_t)p->k * (size_t)p->n >= NN_QUANT__MM_MIN) {
        size_t k4 = ((size_t)p->k + 3) / 4, n32 = ((size_t)p->n + 31) / 32 * 32;
        size_t vn = n32 * k4 * 4 + (size_t)p->m * k4 * 4 + (size_t)p->m * 4 + n32 * 4 + (size_t)p->n + 128;
        if (vn > need) need = vn;
    }
#endif
    return need;
}

#ifdef NN_QUANT__AVX512
/* The AVX-512 product, vpdpbusd as in the convolution with the roles
   turned: lanes run along B's columns, so B goes unsigned (b + 128, packed
   by nn_quant__vnni_pack4) and A's quads are broadcast.  With D the
   accumulated sum a * (b + 128):
     sum (a - a_zp)(b - b_zp) = D - (128 + b_zp) * sum_k a - a_zp * sum_k (b - b_zp)
   (row term rc[i], column term cc[j]); |D| <= 128 * 255 * K < 2^31 for
   K <= 32768 and int32 arithmetic wraps back to the exact result.
   NN_QUANT__DP is the convolution tile's broadcast-and-accumulate step. */

/* Rows i0..i0+nr-1 of A (aq, stride astride bytes, nr <= 8) x columns
   j0..j0+np-1 (np <= 32, panel pan); requantized per column. */
static void nn_quant__mm_tile(const nn_quant_matmul_params *p, const uint8_t *pan, const int8_t *aq, size_t astride,
                              size_t K4, int nr, const int32_t *rc, const int32_t *cc, const int32_t *bias,
                              const nn_quant_multiplier *mult, int8_t *y, size_t ystride, size_t np) {
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512i c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    const int8_t *w0 = aq, *w1 = aq + (nr > 1) * astride, *w2 = aq + (nr > 2) * 2 * astride;
    const int8_t *w3 = aq + (nr > 3) * 3 * astride, *w4 = aq + (nr > 4) * 4 * astride, *w5 = aq + (nr > 5) * 5 * astride;
    const int8_t *w6 = aq + (nr > 6) * 6 * astride, *w7 = aq + (nr > 7) * 7 * astride; /* rows past nr repeat row 0 */
    size_t k;
    int r, v;
    for (k = 0; k < K4; k++) {
        const __m512i b0 = _mm512_loadu_si512(pan + k * 128), b1 = _mm512_loadu_si512(pan + k * 128 + 64);
        NN_QUANT__DP(0); NN_QUANT__DP(1); NN_QUANT__DP(2); NN_QUANT__DP(3);
        NN_QUANT__DP(4); NN_QUANT__DP(5); NN_QUANT__DP(6); NN_QUANT__DP(7);
    }
    {
        const __m512i acc[16] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71};
        __m512i vz = _mm512_set1_epi64(p->out_zp), vl = _mm512_set1_epi64(p->act_min), vh = _mm512_set1_epi64(p->act_max);
        __m512i q8[4], bv[4], ccv[2];
        __mmask16 m[2];
        m[0] = (__mmask16)(np >= 16 ? 0xffffu : (1u << np) - 1);
        m[1] = (__mmask16)(np >= 32 ? 0xffffu : np > 16 ? (1u << (np - 16)) - 1 : 0u);
        for (v = 0; v < 4; v++) { /* per-column multipliers and biases, 8 lanes each */
            __mmask8 h = (__mmask8)(v & 1 ? m[v / 2] >> 8 : m[v / 2] & 0xff);
            q8[v] = p->mult_count > 1 ? _mm512_maskz_loadu_epi64(h, mult + 8 * v) : nn_quant__v_q8(mult[0]);
            bv[v] = bias ? _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(h, bias + 8 * v)) : _mm512_setzero_si512();
        }
        ccv[0] = _mm512_maskz_loadu_epi32(m[0], cc);
        ccv[1] = _mm512_maskz_loadu_epi32(m[1], cc + 16);
        for (r = 0; r < nr; r++) {
            __m512i rcv = _mm512_set1_epi32(rc[r]);
            for (v = 0; v < 2; v++) {
                __m512i s;
                __m128i o;
                if (!m[v]) break;
                s = _mm512_sub_epi32(_mm512_sub_epi32(acc[2 * r + v], rcv), ccv[v]);
                o = _mm_unpacklo_epi64(
                    _mm512_cvtepi64_epi8(nn_quant__v_requant(
                        _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(s)), bv[2 * v]), q8[2 * v], vz, vl, vh)),
                    _mm512_cvtepi64_epi8(nn_quant__v_requant(
                        _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(s, 1)), bv[2 * v + 1]), q8[2 * v + 1],
                        vz, vl, vh)));
                _mm_mask_storeu_epi8(y + (size_t)r * ystride + 16 * (size_t)v, m[v], o);
            }
        }
    }
}
#undef NN_QUANT__DP

static void nn_quant__matmul_vnni(const nn_quant_matmul_params *p, const int8_t *a, const int8_t *b, const int32_t *bias,
                                  const nn_quant_multiplier *mult, int8_t *y, void *scratch) {
    const size_t M = (size_t)p->m, K = (size_t)p->k, N = (size_t)p->n, K4 = (K + 3) / 4, npan = (N + 31) / 32;
    const size_t pstride = K4 * 128;
    uint8_t *pan = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63); /* (npan, K4, 32, 4) */
    int8_t *apad = (int8_t *)(pan + npan * pstride);                       /* (M, K4 * 4) when K % 4 */
    int32_t *rc = (int32_t *)(void *)(apad + M * K4 * 4);                   /* (M) */
    int32_t *cc = rc + M;                                                   /* (npan * 32) */
    int8_t *zero = (int8_t *)(cc + npan * 32);                              /* (N) */
    const int8_t *aq = a;
    size_t i, k, j, pb;
    memset(zero, 0, N);
    for (k = 0; k < K4; k++) {
        const int8_t *r[4];
        int t;
        for (t = 0; t < 4; t++) r[t] = 4 * k + (size_t)t < K ? b + (4 * k + (size_t)t) * N : zero;
        nn_quant__vnni_pack4(r, N, pan + k * 128, pstride);
    }
    for (j = 0; j < npan * 32; j++) cc[j] = 0;
    for (k = 0; k < K; k++)
        for (j = 0; j < N; j++) cc[j] += b[k * N + j];
    for (j = 0; j < N; j++) cc[j] = p->a_zp * (cc[j] - (int32_t)K * p->b_zp);
    for (i = 0; i < M; i++) {
        int32_t s = 0;
        for (k = 0; k < K; k++) s += a[i * K + k];
        rc[i] = (128 + p->b_zp) * s;
        if (K % 4) {
            memcpy(apad + i * K4 * 4, a + i * K, K);
            memset(apad + i * K4 * 4 + K, 0, K4 * 4 - K);
        }
    }
    if (K % 4) aq = apad;
    for (pb = 0; pb < npan; pb++)
        for (i = 0; i < M; i += 8)
            nn_quant__mm_tile(p, pan + pb * pstride, aq + i * K4 * 4, K4 * 4, K4, M - i < 8 ? (int)(M - i) : 8, rc + i,
                              cc + pb * 32, bias ? bias + pb * 32 : NULL, p->mult_count > 1 ? mult + pb * 32 : mult,
                              y + i * N + pb * 32, N, N - pb * 32 < 32 ? N - pb * 32 : 32);
}
#endif

/* With AVX-512, nn_quant__matmul_vnni.  The reference: B is widened once
   to int16 (b - b_zp), then rows of A are taken four at
   a time: acc[r][j] += a[r][k] * b[k][j] along contiguous j, int16 x int16
   -> int32 on separate arrays (no int8 pointer that could alias the
   accumulators, so compilers vectorize the loop).  |a - a_zp|, |b - b_zp|
   <= 255: products below 2^16, K up to 2^15 cannot overflow int32. */
NN_API void nn_quant_matmul_s8(const nn_quant_matmul_params *p, const int8_t *a, const int8_t *b,
                               const int32_t *bias, const nn_quant_multiplier *mult, int8_t *y, void *scratch) {
    const size_t K = (size_t)p->k, N = (size_t)p->n;
    int16_t *b16 = (int16_t *)scratch;      /* (K, N) */
    int16_t *a16 = b16 + K * N;             /* (4, K) */
    int32_t *acc = (int32_t *)(void *)(((uintptr_t)(a16 + 4 * K) + 15) & ~(uintptr_t)15); /* (4, N) */
    size_t i, k, j;
    int32_t r;
#ifdef NN_QUANT__AVX512
    if (K <= 32768 && K * N >= NN_QUANT__MM_MIN) { nn_quant__matmul_vnni(p, a, b, bias, mult, y, scratch); return; }
#endif
    for (i = 0; i < K * N; i++) b16[i] = (int16_t)(b[i] - p->b_zp);
    for (i = 0; i < (size_t)p->m; i += 4) {
        int32_t rows = (size_t)p->m - i < 4 ? (int32_t)((size_t)p->m - i) : 4;
        for (r = 0; r < rows; r++)
            for (k = 0; k < K; k++) a16[(size_t)r * K + k] = (int16_t)(a[(i + (size_t)r) * K + k] - p->a_zp);
        memset(acc, 0, (size_t)rows * N * sizeof(int32_t));
        for (k = 0; k < K; k++) {
            const int16_t *br = b16 + k * N;
            if (rows == 4) {
                int32_t v0 = a16[k], v1 = a16[K + k], v2 = a16[2 * K + k], v3 = a16[3 * K + k];
                int32_t *c0 = acc, *c1 = acc + N, *c2 = acc + 2 * N, *c3 = acc + 3 * N;
                for (j = 0; j < N; j++) {
                    int32_t bv = br[j];
                    c0[j] += v0 * bv; c1[j] += v1 * bv; c2[j] += v2 * bv; c3[j] += v3 * bv;
                }
            } else {
                for (r = 0; r < rows; r++) {
                    int32_t v = a16[(size_t)r * K + k], *c = acc + (size_t)r * N;
                    if (v) for (j = 0; j < N; j++) c[j] += v * br[j];
                }
            }
        }
        for (r = 0; r < rows; r++) {
            int8_t *yr = y + (i + (size_t)r) * N;
            const int32_t *c = acc + (size_t)r * N;
            for (j = 0; j < N; j++)
                yr[j] = (int8_t)nn_quant_requantize((int64_t)c[j] + (bias ? bias[j] : 0), mult[p->mult_count > 1 ? j : 0],
                                                    p->out_zp, p->act_min, p->act_max);
        }
    }
}

/* ---- 16-bit activations (W8A16) ----------------------------------------- */

NN_API int32_t nn_quant_requantize_wide(int64_t acc, nn_quant_multiplier q, int32_t zp, int32_t lo, int32_t hi) {
    /* acc = hi32 * 2^32 + lo32 with lo32 in [0, 2^32); acc * m = A * 2^32 + B
       with A = hi32 * m (|A| < 2^62) and B = lo32 * m (0 <= B < 2^63).  The
       rounding term 2^(shift-1) goes into B (still below 2^64 unsigned),
       B's carry into A; then floor((A * 2^32 + B) / 2^shift) with 0 <= B < 2^32. */
    int64_t A, r, v;
    uint64_t B;
    int s = q.shift;
    if (q.m <= 0) return (int32_t)(zp < lo ? lo : zp > hi ? hi : zp);
    A = nn_quant__floor_shift(acc, 32) * (int64_t)q.m;
    B = ((uint64_t)acc & 0xffffffffu) * (uint64_t)q.m;
    if (s > 0) B += (uint64_t)1 << (s - 1);
    A += (int64_t)(B >> 32);
    B &= 0xffffffffu;
    if (s >= 32) {
        r = nn_quant__floor_shift(A, s - 32); /* the fraction B / 2^32 < 1 cannot move the floor */
    } else if (A >= ((int64_t)1 << 31)) {
        r = INT32_MAX;                        /* A * 2^(32-s) >= 2^32 */
    } else if (A < -((int64_t)1 << 31)) {
        r = INT32_MIN;
    } else {
        r = A * ((int64_t)1 << (32 - s)) + (int64_t)(B >> s); /* within +-2^63 */
    }
    if (r > INT32_MAX) r = INT32_MAX;
    if (r < INT32_MIN) r = INT32_MIN;
    v = r + zp;
    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

#define NN_QUANT__S16_CHUNK 256 /* products summed in int32 before the int64 flush: 256 x 2^23 < 2^31 */
#define NN_QUANT__S16_OCB 4     /* output channels per pass of nn_quant_conv_s16 over its rows */

NN_API size_t nn_quant_conv_s16_scratch_bytes(const nn_quant_conv_params *p) {
    size_t K = (size_t)(p->c / (p->group > 0 ? p->group : 1)) * (size_t)p->kh * (size_t)p->kw;
    return K * NN_QUANT__PB * sizeof(int32_t) + NN_QUANT__S16_OCB * NN_QUANT__PB * (sizeof(int32_t) + sizeof(int64_t)) + 64;
}

/* Per image, group and block of up to 256 output pixels: the receptive
   fields as K rows of (x - in_zp) int32 values (0 in the padding), then
   each output channel as a weighted sum of the rows. */
/* y[i] = nn_quant_requantize_wide(acc[i], q, zp, lo, hi) for i < n.  With
   AVX-512, 8 at a time through nn_quant__v_requant where all 8 sums are
   below 2^31 in magnitude (the same floor, no overflow), else the scalar
   function. */
static void nn_quant__requant_wide_row(const int64_t *acc, size_t n, nn_quant_multiplier q, int32_t zp, int32_t lo,
                                       int32_t hi, int16_t *y) {
    size_t i = 0;
#ifdef NN_QUANT__AVX512
    size_t j;
    if (nn_quant__v_ok(q)) {
        const __m512i q8 = nn_quant__v_q8(q), vz = _mm512_set1_epi64(zp), vl = _mm512_set1_epi64(lo), vh = _mm512_set1_epi64(hi);
        const __m512i big = _mm512_set1_epi64(INT32_MAX), small = _mm512_set1_epi64(-(int64_t)INT32_MAX);
        for (; i + 8 <= n; i += 8) {
            __m512i a = _mm512_loadu_si512((const void *)(acc + i));
            if (_mm512_cmpgt_epi64_mask(a, big) | _mm512_cmplt_epi64_mask(a, small)) {
                for (j = i; j < i + 8; j++) y[j] = (int16_t)nn_quant_requantize_wide(acc[j], q, zp, lo, hi);
                continue;
            }
            _mm_storeu_si128((__m128i *)(void *)(y + i), _mm512_cvtepi64_epi16(nn_quant__v_requant(a, q8, vz, vl, vh)));
        }
    }
#endif
    for (; i < n; i++) y[i] = (int16_t)nn_quant_requantize_wide(acc[i], q, zp, lo, hi);
}

/* Row k of the im2col block of output pixels p0 .. p0 + pn (image n,
   group g): x - in_zp, 0 in the padding.  Each output row's run is filled
   in three parts: zeros left of the input row, a copy of the taps inside
   it (iw = iw0 + j stride_w for j in [lo, hi), bounds worked out once per
   run; a loop the compiler vectorizes for stride 1), and zeros right of
   it.  The parameters are read into locals first: cr could alias them,
   so the compiler would otherwise reload them for every element. */
static void nn_quant__s16_gather(const nn_quant_conv_params *p, const int16_t *x, int32_t n, int32_t g, size_t k, size_t p0,
                                 size_t pn, int32_t *cr) {
    const int32_t cg = p->c / p->group;
    const size_t hw = (size_t)p->h * (size_t)p->w, taps = (size_t)p->kh * (size_t)p->kw;
    const int32_t ci = (int32_t)(k / taps), kh = (int32_t)(k % taps) / p->kw, kw = (int32_t)(k % taps) % p->kw;
    const int16_t *xs = x + ((size_t)n * p->c + (size_t)g * cg + ci) * hw;
    const int32_t W = p->w, H = p->h, OW = p->ow, SW = p->stride_w, zp = p->in_zp;
    const int32_t oy0 = kh * p->dil_h - p->pad_top, ox0 = kw * p->dil_w - p->pad_left, SH = p->stride_h;
    int32_t oh = (int32_t)(p0 / (size_t)OW), ow = (int32_t)(p0 % (size_t)OW);
    size_t i;
    for (i = 0; i < pn; oh++, ow = 0) { /* one output row (or its part in this block) at a time */
        const int32_t ih = oh * SH + oy0;
        const int16_t *xr = xs + (size_t)(ih < 0 ? 0 : ih) * (size_t)W;
        const int32_t cnt = (int32_t)(pn - i < (size_t)(OW - ow) ? pn - i : (size_t)(OW - ow));
        const int32_t iw0 = ow * SW + ox0;
        int32_t *c = cr + i;
        int32_t j, lo = 0, hi = 0; /* the outputs [lo, hi) of this run read inside the row */
        if (ih >= 0 && ih < H) {
            lo = iw0 < 0 ? (-iw0 + SW - 1) / SW : 0;           /* first j with iw >= 0 */
            hi = W - iw0 > 0 ? (W - iw0 + SW - 1) / SW : 0;    /* first j with iw >= W */
            if (lo > cnt) lo = cnt; /* padding wider than the run (a hostile .nnb: fuzz_nnb) */
            if (hi > cnt) hi = cnt;
            if (hi < lo) hi = lo;
            if (SW == 1)
                for (j = lo; j < hi; j++) c[j] = xr[iw0 + j] - zp;
            else
                for (j = lo; j < hi; j++) c[j] = xr[iw0 + j * SW] - zp;
        }
        for (j = 0; j < lo; j++) c[j] = 0;   /* padding left of the row */
        for (j = hi; j < cnt; j++) c[j] = 0; /* and right of it (or a padding row) */
        i += (size_t)cnt;
        ow += cnt;
    }
}

#ifdef NN_QUANT__AVX512
/* nn_quant_conv_s16 for in_zp = 0 (the s16 scheme's symmetric
   activations, so x - zp fits int16) with VNNI's vpdpwssd: two int16
   products per int32 lane and instruction.  The block's im2col is kept as
   int16 pairs (k even, k odd) per pixel, 16 pixels to a 512-bit row, and
   the weights as the matching int16 pairs; 4 output channels share each
   loaded row.  The int32 sums are flushed to int64 every
   NN_QUANT__S16_CHUNK products, as in the portable loop, so the result is
   the same integer. */
static void nn_quant__conv_s16_vnni(const nn_quant_conv_params *p, const int16_t *x, const int8_t *w, const int32_t *bias,
                                    const nn_quant_multiplier *mult, int16_t *y, void *scratch) {
    const int32_t mg = p->m / p->group;
    const size_t ohw = (size_t)p->oh * (size_t)p->ow, K = (size_t)(p->c / p->group) * (size_t)p->kh * (size_t)p->kw;
    const size_t PB = NN_QUANT__PB;
    const int pointwise = p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 &&
                          p->pad_left == 0 && p->oh == p->h && p->ow == p->w;
    int16_t *col = (int16_t *)scratch; /* ((K + 1) / 2, PB, 2): fits in the portable loop's (K, PB) int32 */
    int64_t *acc = (int64_t *)(void *)(((uintptr_t)((int32_t *)scratch + K * PB) + 15) & ~(uintptr_t)15); /* (OCB, PB) */
    int32_t row[NN_QUANT__PB], wp[NN_QUANT__S16_OCB][NN_QUANT__S16_CHUNK / 2];
    int32_t n, g, mo, b;
    size_t p0, i, k, k0, kp, s;
    for (n = 0; n < p->n; n++)
        for (g = 0; g < p->group; g++)
            for (p0 = 0; p0 < ohw; p0 += PB) {
                const size_t pn = ohw - p0 < PB ? ohw - p0 : PB;
                /* Not written, and harmless: the odd slot of the last pair when K
                   is odd (its weight is 0) and the pixels from pn to the next 16
                   (their sums land in accumulators past pn, never read). */
                if (pointwise) { /* the block's rows are the input's own, two channels to a pair */
                    const int16_t *xs = x + ((size_t)n * p->c + (size_t)g * (size_t)(p->c / p->group)) * ohw + p0;
                    for (k = 0; k < K; k += 2) {
                        const int16_t *r0 = xs + k * ohw, *r1 = k + 1 < K ? r0 + ohw : r0;
                        int16_t *c = col + (k / 2) * PB * 2;
                        for (i = 0; i < pn; i++) {
                            c[2 * i] = r0[i];
                            c[2 * i + 1] = r1[i]; /* K odd: the last pair repeats a channel, its weight is 0 */
                        }
                    }
                } else {
                    for (k = 0; k < K; k++) {
                        int16_t *c = col + (k / 2) * PB * 2 + (k & 1);
                        nn_quant__s16_gather(p, x, n, g, k, p0, pn, row);
                        for (i = 0; i < pn; i++) c[2 * i] = (int16_t)row[i];
                    }
                }
                for (mo = 0; mo < mg; mo += NN_QUANT__S16_OCB) {
                    const int32_t nb = mg - mo < NN_QUANT__S16_OCB ? mg - mo : NN_QUANT__S16_OCB;
                    for (b = 0; b < nb; b++) {
                        const int32_t oc = g * mg + mo + b;
                        for (i = 0; i < pn; i++) acc[(size_t)b * PB + i] = bias ? bias[oc] : 0;
                    }
                    for (k0 = 0; k0 < K; k0 += NN_QUANT__S16_CHUNK) {
                        const size_t k1 = K - k0 < NN_QUANT__S16_CHUNK ? K : k0 + NN_QUANT__S16_CHUNK;
                        const size_t kp0 = k0 / 2, kp1 = (k1 + 1) / 2;
                        for (b = 0; b < NN_QUANT__S16_OCB; b++) /* weight pairs; 0 for missing channels and taps */
                            for (kp = kp0; kp < kp1; kp++) {
                                const int8_t *wr = w + (size_t)(g * mg + mo + (b < nb ? b : 0)) * K;
                                int32_t lo = b < nb ? wr[2 * kp] : 0, hi = b < nb && 2 * kp + 1 < K ? wr[2 * kp + 1] : 0;
                                wp[b][kp - kp0] = (int32_t)(((uint32_t)(uint16_t)(int16_t)hi << 16) | (uint16_t)(int16_t)lo);
                            }
                        for (s = 0; s < pn; s += 16) {
                            __m512i av[NN_QUANT__S16_OCB];
                            __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
                            const int16_t *cp = col + (kp0 * PB + s) * 2;
                            if (nb == 1) {
                                for (kp = kp0; kp < kp1; kp++, cp += PB * 2)
                                    a0 = _mm512_dpwssd_epi32(a0, _mm512_loadu_si512((const void *)cp), _mm512_set1_epi32(wp[0][kp - kp0]));
                            } else {
                                for (kp = kp0; kp < kp1; kp++, cp += PB * 2) {
                                    const __m512i cv = _mm512_loadu_si512((const void *)cp);
                                    a0 = _mm512_dpwssd_epi32(a0, cv, _mm512_set1_epi32(wp[0][kp - kp0]));
                                    a1 = _mm512_dpwssd_epi32(a1, cv, _mm512_set1_epi32(wp[1][kp - kp0]));
                                    a2 = _mm512_dpwssd_epi32(a2, cv, _mm512_set1_epi32(wp[2][kp - kp0]));
                                    a3 = _mm512_dpwssd_epi32(a3, cv, _mm512_set1_epi32(wp[3][kp - kp0]));
                                }
                            }
                            av[0] = a0; av[1] = a1; av[2] = a2; av[3] = a3;
                            for (b = 0; b < nb; b++) { /* the 16 int32 sums into the int64 accumulators */
                                int64_t *ap = acc + (size_t)b * PB + s;
                                _mm512_storeu_si512((void *)ap, _mm512_add_epi64(_mm512_loadu_si512((const void *)ap),
                                                    _mm512_cvtepi32_epi64(_mm512_castsi512_si256(av[b]))));
                                _mm512_storeu_si512((void *)(ap + 8), _mm512_add_epi64(_mm512_loadu_si512((const void *)(ap + 8)),
                                                    _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(av[b], 1))));
                            }
                        }
                    }
                    for (b = 0; b < nb; b++)
                        nn_quant__requant_wide_row(acc + (size_t)b * PB, pn, mult[g * mg + mo + b], p->out_zp, p->act_min,
                                                   p->act_max, y + ((size_t)n * p->m + g * mg + mo + b) * ohw + p0);
                }
            }
}
#endif

/* nn_quant_conv_s16 for a depthwise convolution (one input and one output
   channel per group), computed directly: each output row's int64 sums
   (acc, ow entries) take every tap whose input row exists, over the
   output columns whose input column does (bounds worked out once per tap,
   as in nn_quant__s16_gather), then one requantized row.  No im2col: for
   depthwise it cost as much as the multiply-adds.  The sums are the
   im2col loop's integers, added in another order. */
static void nn_quant__dw_s16(const nn_quant_conv_params *p, const int16_t *x, const int8_t *w, const int32_t *bias,
                             const nn_quant_multiplier *mult, int16_t *y, int64_t *acc) {
    const int32_t W = p->w, H = p->h, OW = p->ow, OH = p->oh, SW = p->stride_w, SH = p->stride_h, zp = p->in_zp;
    const int32_t KH = p->kh, KW = p->kw;
    int32_t n, c, oh, kh, kw, j;
    for (n = 0; n < p->n; n++)
        for (c = 0; c < p->m; c++) {
            const int16_t *xs = x + ((size_t)n * p->c + (size_t)c) * (size_t)H * (size_t)W;
            const int8_t *wc = w + (size_t)c * (size_t)KH * (size_t)KW;
            const int64_t b = bias ? bias[c] : 0;
            for (oh = 0; oh < OH; oh++) {
                for (j = 0; j < OW; j++) acc[j] = b;
                for (kh = 0; kh < KH; kh++) {
                    const int32_t ih = oh * SH - p->pad_top + kh * p->dil_h;
                    const int16_t *xr = xs + (size_t)(ih < 0 ? 0 : ih) * (size_t)W;
                    if (ih < 0 || ih >= H) continue;
                    for (kw = 0; kw < KW; kw++) {
                        const int64_t wv = wc[kh * KW + kw];
                        const int32_t ox0 = kw * p->dil_w - p->pad_left;
                        int32_t lo = ox0 < 0 ? (-ox0 + SW - 1) / SW : 0, hi = W - ox0 > 0 ? (W - ox0 + SW - 1) / SW : 0;
                        if (hi > OW) hi = OW;
                        if (!wv) continue;
                        if (SW == 1)
                            for (j = lo; j < hi; j++) acc[j] += wv * (xr[ox0 + j] - zp);
                        else
                            for (j = lo; j < hi; j++) acc[j] += wv * (xr[ox0 + j * SW] - zp);
                    }
                }
                nn_quant__requant_wide_row(acc, (size_t)OW, mult[c], p->out_zp, p->act_min, p->act_max,
                                           y + (((size_t)n * p->m + (size_t)c) * (size_t)OH + (size_t)oh) * (size_t)OW);
            }
        }
}

NN_API void nn_quant_conv_s16(const nn_quant_conv_params *p, const int16_t *x, const int8_t *w, const int32_t *bias,
                              const nn_quant_multiplier *mult, int16_t *y, void *scratch) {
    const int32_t cg = p->c / p->group, mg = p->m / p->group;
    const size_t ohw = (size_t)p->oh * (size_t)p->ow;
    const size_t K = (size_t)cg * (size_t)p->kh * (size_t)p->kw;
    int32_t *col = (int32_t *)scratch;                  /* (K, PB) */
    int64_t *acc = (int64_t *)(void *)(((uintptr_t)(col + K * NN_QUANT__PB) + 15) & ~(uintptr_t)15); /* (OCB, PB) */
    int32_t *part = (int32_t *)(acc + NN_QUANT__S16_OCB * NN_QUANT__PB);                             /* (OCB, PB) */
    int32_t n, g, mo;
    size_t p0, i, k, k0;
    if (cg == 1 && mg == 1 && (size_t)p->ow * sizeof(int64_t) <= K * NN_QUANT__PB * sizeof(int32_t)) {
        nn_quant__dw_s16(p, x, w, bias, mult, y, (int64_t *)scratch); /* a row of sums in the im2col space */
        return;
    }
#ifdef NN_QUANT__AVX512
    if (p->in_zp == 0) { nn_quant__conv_s16_vnni(p, x, w, bias, mult, y, scratch); return; }
#endif
    for (n = 0; n < p->n; n++)
        for (g = 0; g < p->group; g++)
            for (p0 = 0; p0 < ohw; p0 += NN_QUANT__PB) {
                size_t pn = ohw - p0 < NN_QUANT__PB ? ohw - p0 : NN_QUANT__PB;
                for (k = 0; k < K; k++) nn_quant__s16_gather(p, x, n, g, k, p0, pn, col + k * NN_QUANT__PB);
                for (mo = 0; mo < mg; mo += NN_QUANT__S16_OCB) {
                    /* up to NN_QUANT__S16_OCB output channels per pass over the
                       rows, so each row is read once for all of them */
                    const int32_t nb = mg - mo < NN_QUANT__S16_OCB ? mg - mo : NN_QUANT__S16_OCB;
                    int32_t b;
                    for (b = 0; b < nb; b++) {
                        const int32_t oc = g * mg + mo + b;
                        for (i = 0; i < pn; i++) acc[(size_t)b * NN_QUANT__PB + i] = bias ? bias[oc] : 0;
                    }
                    for (k0 = 0; k0 < K; k0 += NN_QUANT__S16_CHUNK) {
                        size_t k1 = K - k0 < NN_QUANT__S16_CHUNK ? K : k0 + NN_QUANT__S16_CHUNK;
                        for (i = 0; i < (size_t)nb * NN_QUANT__PB; i++) part[i] = 0;
                        for (k = k0; k < k1; k++) {
                            const int32_t *cr = col + k * NN_QUANT__PB;
                            for (b = 0; b < nb; b++) {
                                const int32_t wv = w[(size_t)(g * mg + mo + b) * K + k];
                                int32_t *pb = part + (size_t)b * NN_QUANT__PB;
                                if (!wv) continue;
                                for (i = 0; i < pn; i++) pb[i] += wv * cr[i];
                            }
                        }
                        for (b = 0; b < nb; b++)
                            for (i = 0; i < pn; i++) acc[(size_t)b * NN_QUANT__PB + i] += part[(size_t)b * NN_QUANT__PB + i];
                    }
                    for (b = 0; b < nb; b++) {
                        const int32_t oc = g * mg + mo + b;
                        nn_quant__requant_wide_row(acc + (size_t)b * NN_QUANT__PB, pn, mult[oc], p->out_zp, p->act_min,
                                                   p->act_max, y + ((size_t)n * p->m + oc) * ohw + p0);
                    }
                }
            }
}

NN_API size_t nn_quant_matmul_s16_scratch_bytes(const nn_quant_matmul_params *p) {
    return (size_t)p->n * (sizeof(int32_t) + sizeof(int64_t)) + 64;
}

NN_API void nn_quant_matmul_s16(const nn_quant_matmul_params *p, const int16_t *a, const int8_t *b, const int32_t *bias,
                                const nn_quant_multiplier *mult, int16_t *y, void *scratch) {
    int64_t *acc = (int64_t *)(void *)(((uintptr_t)scratch + 15) & ~(uintptr_t)15); /* (N) */
    int32_t *part = (int32_t *)(acc + p->n);                                           /* (N) */
    int32_t r, j;
    size_t k, k0, K = (size_t)p->k, N = (size_t)p->n;
    for (r = 0; r < p->m; r++) {
        const int16_t *ar = a + (size_t)r * K;
        for (j = 0; j < p->n; j++) acc[j] = bias ? bias[j] : 0;
        for (k0 = 0; k0 < K; k0 += NN_QUANT__S16_CHUNK) {
            size_t k1 = K - k0 < NN_QUANT__S16_CHUNK ? K : k0 + NN_QUANT__S16_CHUNK;
            for (j = 0; j < p->n; j++) part[j] = 0;
            for (k = k0; k < k1; k++) {
                const int32_t av = ar[k] - p->a_zp;
                const int8_t *br = b + k * N;
                if (!av) continue;
                for (j = 0; j < p->n; j++) part[j] += av * br[j];
            }
            for (j = 0; j < p->n; j++) acc[j] += part[j];
        }
        for (j = 0; j < p->n; j++)
            y[(size_t)r * N + (size_t)j] = (int16_t)nn_quant_requantize_wide(acc[j], mult[p->mult_count > 1 ? j : 0], p->out_zp,
                                                                             p->act_min, p->act_max);
    }
}

/* The element-wise parameters for operands of `bits` bits: left shift 20
   (8 bits) or 15 (16 bits), clamp over the whole output range. */
static void nn_quant__eltwise_params(nn_quant_eltwise_params *p, int mul, double sa, int32_t za, double sb, int32_t zb,
                                     double sy, int32_t zy, int bits) {
    memset(p, 0, sizeof *p);
    p->a_zp = za;
    p->b_zp = zb;
    p->out_zp = zy;
    p->act_min = bits == 16 ? -32768 : -128;
    p->act_max = bits == 16 ? 32767 : 127;
    if (mul) {
        p->out_mult = nn_quant_multiplier_make(sa * sb / sy);
    } else {
        /* TFLite reference add (tensorflow/lite/kernels/internal/reference/
           add.h, quantization spec): twice the larger input scale is the
           shared scale, so both rescales are below 1/2. */
        double twice = 2.0 * (sa > sb ? sa : sb);
        p->left_shift = bits == 16 ? 15 : 20;
        p->a_mult = nn_quant_multiplier_make(sa / twice);
        p->b_mult = nn_quant_multiplier_make(sb / twice);
        p->out_mult = nn_quant_multiplier_make(twice / ((double)(1 << p->left_shift) * sy));
    }
}

NN_API void nn_quant_eltwise_params_make(nn_quant_eltwise_params *p, int mul, double sa, int32_t za,
                                         double sb, int32_t zb, double sy, int32_t zy) {
    nn_quant__eltwise_params(p, mul, sa, za, sb, zb, sy, zy, 8);
}

/* y[i] = t[x[i]] over raw bytes.  With AVX-512 VBMI, 64 bytes a step: two
   vpermi2b look up the low 7 bits in each half of the table and the
   index's top bit picks the half. */
static void nn_quant__lut_bytes(const uint8_t *t /* (256) */, const uint8_t *x, uint8_t *y, size_t n) {
    size_t i = 0;
#if defined(NN_QUANT__AVX512) && defined(__AVX512VBMI__)
    const __m512i t0 = _mm512_loadu_si512(t), t1 = _mm512_loadu_si512(t + 64);
    const __m512i t2 = _mm512_loadu_si512(t + 128), t3 = _mm512_loadu_si512(t + 192);
    for (; i < n; i += 64) {
        __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (n - i)) - 1;
        __m512i u = _mm512_maskz_loadu_epi8(m, x + i);
        __m512i lo = _mm512_permutex2var_epi8(t0, u, t1), hi = _mm512_permutex2var_epi8(t2, u, t3);
        _mm512_mask_storeu_epi8(y + i, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(u), lo, hi));
    }
#endif
    for (; i < n; i++) y[i] = t[x[i]];
}

/* 1 when v's n bytes all equal v[0] (v[i] == v[i + 1] for every i): an
   operand the caller broadcast from one element. */
static int nn_quant__uniform(const int8_t *v, size_t n) { return n > 0 && memcmp(v, v + 1, n - 1) == 0; }

#define NN_QUANT__LUT_MIN 4096 /* elements from which building a 256-entry table pays off */

/* One Add (sign 1) / Sub (-1) element: TFLite's reference scheme. */
static int8_t nn_quant__addsub1(const nn_quant_eltwise_params *p, int32_t a, int32_t b, int sign) {
    int64_t va = nn_quant_mul_shift((int64_t)(a - p->a_zp) * (1 << p->left_shift), p->a_mult);
    int64_t vb = nn_quant_mul_shift((int64_t)(b - p->b_zp) * (1 << p->left_shift), p->b_mult);
    return (int8_t)nn_quant_requantize(va + sign * vb, p->out_mult, p->out_zp, p->act_min, p->act_max);
}

static int8_t nn_quant__mul1(const nn_quant_eltwise_params *p, int32_t a, int32_t b) {
    return (int8_t)nn_quant_requantize((int64_t)(a - p->a_zp) * (b - p->b_zp), p->out_mult, p->out_zp, p->act_min,
                                       p->act_max);
}

/* When one operand of n >= NN_QUANT__LUT_MIN elements is one value
   repeated (x + 3 or x * 0.5 broadcast by the caller), y depends on the
   other operand's byte only: a table of the 256 results of the element
   functions above, applied byte-wise.  op: 1 add, -1 sub, 0 mul.  Returns
   0 (nothing written) when neither operand is uniform. */
static int nn_quant__eltwise_lut(const nn_quant_eltwise_params *p, const int8_t *a, const int8_t *b, int8_t *y,
                                 size_t n, int op) {
    uint8_t t[256];
    int32_t r;
    int bu;
    if (n < NN_QUANT__LUT_MIN) return 0;
    bu = nn_quant__uniform(b, n);
    if (!bu && !nn_quant__uniform(a, n)) return 0;
    for (r = 0; r < 256; r++) {
        int32_t v = r < 128 ? r : r - 256; /* the int8 value of byte r */
        int32_t av = bu ? v : a[0], bv = bu ? b[0] : v;
        t[r] = (uint8_t)(op ? nn_quant__addsub1(p, av, bv, op) : nn_quant__mul1(p, av, bv));
    }
    nn_quant__lut_bytes(t, (const uint8_t *)(bu ? a : b), (uint8_t *)y, n);
    return 1;
}

static void nn_quant__addsub(const nn_quant_eltwise_params *p, const int8_t *a, const int8_t *b, int8_t *y,
                             size_t n, int sign) {
    size_t i = 0;
    if (nn_quant__eltwise_lut(p, a, b, y, n, sign)) return;
#ifdef NN_QUANT__AVX512
    /* 8 elements a step, each lane the loop below in int64; the shift left
       is the product by 2^left_shift (exact: |a - zp| << 20 < 2^29) */
    __m512i qa = nn_quant__v_q8(p->a_mult), qb = nn_quant__v_q8(p->b_mult), qo = nn_quant__v_q8(p->out_mult);
    __m512i za = _mm512_set1_epi64(p->a_zp), zb = _mm512_set1_epi64(p->b_zp), zy = _mm512_set1_epi64(p->out_zp);
    __m512i lo = _mm512_set1_epi64(p->act_min), hi = _mm512_set1_epi64(p->act_max);
    __m128i ls = _mm_cvtsi32_si128(p->left_shift);
    for (; i + 8 <= n; i += 8) {
        __m512i va = _mm512_cvtepi8_epi64(_mm_loadl_epi64((const __m128i *)(const void *)(a + i)));
        __m512i vb = _mm512_cvtepi8_epi64(_mm_loadl_epi64((const __m128i *)(const void *)(b + i)));
        va = nn_quant__v_mul_shift(_mm512_sll_epi64(_mm512_sub_epi64(va, za), ls), qa);
        vb = nn_quant__v_mul_shift(_mm512_sll_epi64(_mm512_sub_epi64(vb, zb), ls), qb);
        va = sign > 0 ? _mm512_add_epi64(va, vb) : _mm512_sub_epi64(va, vb);
        _mm_storel_epi64((__m128i *)(void *)(y + i), _mm512_cvtepi64_epi8(nn_quant__v_requant(va, qo, zy, lo, hi)));
    }
#endif
    for (; i < n; i++) y[i] = nn_quant__addsub1(p, a[i], b[i], sign);
}

NN_API void nn_quant_add_s8(const nn_quant_eltwise_params *p, const int8_t *a, const int8_t *b, int8_t *y, size_t n) {
    nn_quant__addsub(p, a, b, y, n, 1);
}

NN_API void nn_quant_sub_s8(const nn_quant_eltwise_params *p, const int8_t *a, const int8_t *b, int8_t *y, size_t n) {
    nn_quant__addsub(p, a, b, y, n, -1);
}

NN_API void nn_quant_mul_s8(const nn_quant_eltwise_params *p, const int8_t *a, const int8_t *b, int8_t *y, size_t n) {
    size_t i = 0;
    if (nn_quant__eltwise_lut(p, a, b, y, n, 0)) return;
#ifdef NN_QUANT__AVX512
    __m512i qo = nn_quant__v_q8(p->out_mult), za = _mm512_set1_epi64(p->a_zp), zb = _mm512_set1_epi64(p->b_zp);
    __m512i zy = _mm512_set1_epi64(p->out_zp), lo = _mm512_set1_epi64(p->act_min), hi = _mm512_set1_epi64(p->act_max);
    for (; i + 8 <= n; i += 8) {
        __m512i va = _mm512_sub_epi64(_mm512_cvtepi8_epi64(_mm_loadl_epi64((const __m128i *)(const void *)(a + i))), za);
        __m512i vb = _mm512_sub_epi64(_mm512_cvtepi8_epi64(_mm_loadl_epi64((const __m128i *)(const void *)(b + i))), zb);
        /* |a - zp|, |b - zp| <= 255: vpmuldq's signed 32 x 32 -> 64 bits is exact */
        _mm_storel_epi64((__m128i *)(void *)(y + i),
                         _mm512_cvtepi64_epi8(nn_quant__v_requant(_mm512_mul_epi32(va, vb), qo, zy, lo, hi)));
    }
#endif
    for (; i < n; i++) y[i] = nn_quant__mul1(p, a[i], b[i]);
}

/* Fills n elements of es bytes at dst with the element at v. */
static void nn_quant__fill(void *dst, const void *v, size_t es, size_t n) {
    size_t i;
    if (es == 1) { memset(dst, *(const unsigned char *)v, n); return; }
    for (i = 0; i < n; i++) memcpy((char *)dst + i * es, v, es);
}

static size_t nn_quant__broadcast(const void *src, size_t es, const nn_shape *s, const nn_shape *o, void *dst) {
    int64_t idx[NN_MAX_RANK], sstr[NN_MAX_RANK], acc = 1;
    size_t n = 1, e, row;
    int32_t r, off = o->rank - s->rank, last = o->rank - 1;
    const char *sc = (const char *)src;
    char *dc = (char *)dst;
    for (r = 0; r < o->rank; r++) n *= (size_t)o->dims[r];
    if (n == 0) return 0;
    for (r = last; r >= 0; r--) { /* source strides, 0 along broadcast axes */
        int64_t sd = r - off >= 0 ? s->dims[r - off] : 1;
        sstr[r] = sd == 1 ? 0 : acc;
        acc *= sd;
        idx[r] = 0;
    }
    if (acc == 1) { nn_quant__fill(dc, sc, es, n); return n; } /* one source element */
    row = last >= 0 ? (size_t)o->dims[last] : 1;
    for (e = 0; e < n; e += row) {
        int64_t so = 0;
        for (r = 0; r < last; r++) so += idx[r] * sstr[r];
        if (last >= 0 && sstr[last]) memcpy(dc + e * es, sc + (size_t)so * es, row * es);
        else nn_quant__fill(dc + e * es, sc + (size_t)so * es, es, row);
        for (r = last - 1; r >= 0; r--) {
            if (++idx[r] < o->dims[r]) break;
            idx[r] = 0;
        }
    }
    return n;
}

NN_API size_t nn_quant_broadcast_s8(const int8_t *src, const nn_shape *s, const nn_shape *o, int8_t *dst) {
    return nn_quant__broadcast(src, 1, s, o, dst);
}

NN_API size_t nn_quant_broadcast_s16(const int16_t *src, const nn_shape *s, const nn_shape *o, int16_t *dst) {
    return nn_quant__broadcast(src, 2, s, o, dst);
}

NN_API void nn_quant_eltwise_params_make_s16(nn_quant_eltwise_params *p, int mul, double sa, int32_t za, double sb, int32_t zb,
                                             double sy, int32_t zy) {
    nn_quant__eltwise_params(p, mul, sa, za, sb, zb, sy, zy, 16);
}

#ifdef NN_QUANT__AVX512
/* 8 int16 lanes widened to int64, minus zp. */
static __m512i nn_quant__v_s16(const int16_t *p, __mmask8 m, __m512i zp) {
    return _mm512_sub_epi64(_mm512_cvtepi16_epi64(_mm_maskz_loadu_epi16(m, p)), zp);
}
#endif

/* W8A16 add/sub/mul.  With AVX-512, 8 lanes of int64 through
   nn_quant__v_mul_shift: every product stays below 2^62 (add/sub:
   |a - zp| 2^15 < 2^31 times a multiplier below 2^31, and the rescaled
   sum below 2^31; mul: zero points 0, so |a b| <= 2^30), where the
   scalar nn_quant_requantize_wide gives the same floor; other cases take
   the scalar loop.  tests/test_quant_fast.c compares the two. */
static void nn_quant__addsub_s16(const nn_quant_eltwise_params *p, const int16_t *a, const int16_t *b, int16_t *y, size_t n,
                                 int sign) {
    size_t i = 0;
#ifdef NN_QUANT__AVX512
    if (nn_quant__v_ok(p->a_mult) && nn_quant__v_ok(p->b_mult) && nn_quant__v_ok(p->out_mult) && p->left_shift == 15) {
        const __m512i qa = nn_quant__v_q8(p->a_mult), qb = nn_quant__v_q8(p->b_mult), qo = nn_quant__v_q8(p->out_mult);
        const __m512i za = _mm512_set1_epi64(p->a_zp), zb = _mm512_set1_epi64(p->b_zp), zy = _mm512_set1_epi64(p->out_zp);
        const __m512i lo = _mm512_set1_epi64(p->act_min), hi = _mm512_set1_epi64(p->act_max);
        for (; i < n; i += 8) {
            __mmask8 m = (__mmask8)(n - i >= 8 ? 0xffu : (1u << (n - i)) - 1);
            __m512i va = nn_quant__v_mul_shift(_mm512_slli_epi64(nn_quant__v_s16(a + i, m, za), 15), qa);
            __m512i vb = nn_quant__v_mul_shift(_mm512_slli_epi64(nn_quant__v_s16(b + i, m, zb), 15), qb);
            __m512i acc = sign > 0 ? _mm512_add_epi64(va, vb) : _mm512_sub_epi64(va, vb);
            _mm_mask_storeu_epi16(y + i, m, _mm512_cvtepi64_epi16(nn_quant__v_requant(acc, qo, zy, lo, hi)));
        }
        return;
    }
#endif
    for (; i < n; i++) {
        int64_t va = nn_quant_mul_shift((int64_t)(a[i] - p->a_zp) * ((int64_t)1 << p->left_shift), p->a_mult);
        int64_t vb = nn_quant_mul_shift((int64_t)(b[i] - p->b_zp) * ((int64_t)1 << p->left_shift), p->b_mult);
        y[i] = (int16_t)nn_quant_requantize_wide(va + sign * vb, p->out_mult, p->out_zp, p->act_min, p->act_max);
    }
}

NN_API void nn_quant_add_s16(const nn_quant_eltwise_params *p, const int16_t *a, const int16_t *b, int16_t *y, size_t n) {
    nn_quant__addsub_s16(p, a, b, y, n, 1);
}

NN_API void nn_quant_sub_s16(const nn_quant_eltwise_params *p, const int16_t *a, const int16_t *b, int16_t *y, size_t n) {
    nn_quant__addsub_s16(p, a, b, y, n, -1);
}

NN_API void nn_quant_mul_s16(const nn_quant_eltwise_params *p, const int16_t *a, const int16_t *b, int16_t *y, size_t n) {
    size_t i = 0;
#ifdef NN_QUANT__AVX512
    if (nn_quant__v_ok(p->out_mult) && p->a_zp == 0 && p->b_zp == 0) {
        const __m512i qo = nn_quant__v_q8(p->out_mult), z = _mm512_setzero_si512(), zy = _mm512_set1_epi64(p->out_zp);
        const __m512i lo = _mm512_set1_epi64(p->act_min), hi = _mm512_set1_epi64(p->act_max);
        for (; i < n; i += 8) {
            __mmask8 m = (__mmask8)(n - i >= 8 ? 0xffu : (1u << (n - i)) - 1);
            __m512i acc = _mm512_mullo_epi64(nn_quant__v_s16(a + i, m, z), nn_quant__v_s16(b + i, m, z));
            _mm_mask_storeu_epi16(y + i, m, _mm512_cvtepi64_epi16(nn_quant__v_requant(acc, qo, zy, lo, hi)));
        }
        return;
    }
#endif
    for (; i < n; i++)
        y[i] = (int16_t)nn_quant_requantize_wide((int64_t)(a[i] - p->a_zp) * (b[i] - p->b_zp), p->out_mult, p->out_zp,
                                                 p->act_min, p->act_max);
}

/* Average pooling on 8-bit (es 1) or 16-bit (es 2) values. */
static void nn_quant__avgpool(const nn_quant_pool_params *p, const void *x, int es, const nn_quant_multiplier *mult_by_count,
                              void *y) {
    int32_t n, c, oh, ow, kh, kw;
    for (n = 0; n < p->n; n++)
        for (c = 0; c < p->c; c++) {
            const size_t xo = ((size_t)n * p->c + c) * (size_t)p->h * p->w, yo = ((size_t)n * p->c + c) * (size_t)p->oh * p->ow;
            for (oh = 0; oh < p->oh; oh++)
                for (ow = 0; ow < p->ow; ow++) {
                    int64_t sum = 0;
                    int32_t cnt = 0;
                    for (kh = 0; kh < p->kh; kh++) {
                        int32_t ih = oh * p->stride_h - p->pad_top + kh;
                        if (ih < 0 || ih >= p->h) continue;
                        for (kw = 0; kw < p->kw; kw++) {
                            int32_t iw = ow * p->stride_w - p->pad_left + kw;
                            size_t e = xo + (size_t)ih * p->w + (size_t)iw;
                            if (iw < 0 || iw >= p->w) continue;
                            sum += (es == 2 ? ((const int16_t *)x)[e] : ((const int8_t *)x)[e]) - p->in_zp;
                            cnt++;
                        }
                    }
                    if (p->count_include_pad) cnt = p->kh * p->kw;
                    if (es == 2)
                        ((int16_t *)y)[yo + (size_t)oh * p->ow + ow] =
                            (int16_t)nn_quant_requantize_wide(sum, mult_by_count[cnt], p->out_zp, p->act_min, p->act_max);
                    else
                        ((int8_t *)y)[yo + (size_t)oh * p->ow + ow] =
                            (int8_t)nn_quant_requantize(sum, mult_by_count[cnt], p->out_zp, p->act_min, p->act_max);
                }
        }
}

NN_API void nn_quant_avgpool_s8(const nn_quant_pool_params *p, const int8_t *x, const nn_quant_multiplier *mult_by_count,
                                int8_t *y) {
    nn_quant__avgpool(p, x, 1, mult_by_count, y);
}

NN_API void nn_quant_avgpool_s16(const nn_quant_pool_params *p, const int16_t *x, const nn_quant_multiplier *mult_by_count,
                                 int16_t *y) {
    nn_quant__avgpool(p, x, 2, mult_by_count, y);
}

static int32_t nn_quant__quantize_d(double v, double scale, int32_t zp, int32_t lo, int32_t hi) {
    double q = rint(v / scale) + zp;  /* half to even, as ONNX QuantizeLinear */
    if (!(q >= lo)) return lo;        /* NaN -> lo */
    return q > hi ? hi : (int32_t)q;
}

NN_API void nn_quant_lut_build_s8(int8_t table[256], nn_quant_unary_fn f, const void *ctx, double in_scale,
                                  int32_t in_zp, double out_scale, int32_t out_zp) {
    int32_t q;
    for (q = -128; q <= 127; q++)
        table[q + 128] = (int8_t)nn_quant__quantize_d(f(in_scale * (q - in_zp), ctx), out_scale, out_zp, -128, 127);
}

NN_API void nn_quant_lut_apply_s8(const int8_t table[256], const int8_t *x, int8_t *y, size_t n) {
    size_t i;
    if (n >= 1024) { /* byte-indexed copy for nn_quant__lut_bytes: byte r is the value r ^ 0x80 - 128 */
        uint8_t t[256];
        for (i = 0; i < 256; i++) t[i] = (uint8_t)table[i ^ 0x80];
        nn_quant__lut_bytes(t, (const uint8_t *)x, (uint8_t *)y, n);
        return;
    }
    for (i = 0; i < n; i++) y[i] = table[x[i] + 128];
}

NN_API void nn_quant_lut_build_s16(int16_t table[65536], nn_quant_unary_fn f, const void *ctx, double in_scale,
                                   int32_t in_zp, double out_scale, int32_t out_zp) {
    int32_t q;
    for (q = -32768; q <= 32767; q++)
        table[q + 32768] =
            (int16_t)nn_quant__quantize_d(f(in_scale * (q - in_zp), ctx), out_scale, out_zp, -32768, 32767);
}

NN_API void nn_quant_lut_apply_s16(const int16_t table[65536], const int16_t *x, int16_t *y, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) y[i] = table[x[i] + 32768];
}

/* Unary functions, ctx = double[2] (alpha, beta). */
static double nn_quant__f_sigmoid(double x, const void *c) { (void)c; return 1.0 / (1.0 + exp(-x)); }
static double nn_quant__f_tanh(double x, const void *c) { (void)c; return tanh(x); }
static double nn_quant__f_hardsigmoid(double x, const void *c) {
    const double *p = (const double *)c;
    double v = p[0] * x + p[1];
    return v < 0 ? 0 : v > 1 ? 1 : v;
}
static double nn_quant__f_hardswish(double x, const void *c) {
    double v = x / 6.0 + 0.5;
    (void)c;
    return x * (v < 0 ? 0 : v > 1 ? 1 : v);
}
static double nn_quant__f_erf(double x, const void *c) { (void)c; return erf(x); }
static double nn_quant__f_exp(double x, const void *c) { (void)c; return exp(x); }
static double nn_quant__f_relu(double x, const void *c) { (void)c; return x > 0 ? x : 0; }
static double nn_quant__f_clip(double x, const void *c) {
    const double *p = (const double *)c;
    return x < p[0] ? p[0] : x > p[1] ? p[1] : x;
}
static double nn_quant__f_leaky(double x, const void *c) { return x >= 0 ? x : ((const double *)c)[0] * x; }
static double nn_quant__f_elu(double x, const void *c) { return x >= 0 ? x : ((const double *)c)[0] * (exp(x) - 1); }
static double nn_quant__f_softplus(double x, const void *c) { (void)c; return x > 30 ? x : log1p(exp(x)); }
static double nn_quant__f_neg(double x, const void *c) { (void)c; return -x; }
static double nn_quant__f_abs(double x, const void *c) { (void)c; return fabs(x); }
static double nn_quant__f_sqrt(double x, const void *c) { (void)c; return sqrt(x); }
static double nn_quant__f_log(double x, const void *c) { (void)c; return log(x); }
static double nn_quant__f_recip(double x, const void *c) { (void)c; return 1.0 / x; }
static double nn_quant__f_sin(double x, const void *c) { (void)c; return sin(x); }
static double nn_quant__f_cos(double x, const void *c) { (void)c; return cos(x); }
static double nn_quant__f_gelu(double x, const void *c) { (void)c; return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double nn_quant__f_gelu_tanh(double x, const void *c) {
    (void)c;
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

NN_API nn_quant_unary_fn nn_quant_unary_for(const nn_node *n, double ctx_out[2]) {
    const char *op = n->op_type;
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) return NULL;
    ctx_out[0] = ctx_out[1] = 0;
    if (!strcmp(op, "Sigmoid")) return nn_quant__f_sigmoid;
    if (!strcmp(op, "Tanh")) return nn_quant__f_tanh;
    if (!strcmp(op, "HardSigmoid")) {
        ctx_out[0] = nn_node_attr_float(n, "alpha", 0.2f);
        ctx_out[1] = nn_node_attr_float(n, "beta", 0.5f);
        return nn_quant__f_hardsigmoid;
    }
    if (!strcmp(op, "HardSwish")) return nn_quant__f_hardswish;
    if (!strcmp(op, "Erf")) return nn_quant__f_erf;
    if (!strcmp(op, "Exp")) return nn_quant__f_exp;
    if (!strcmp(op, "Relu")) return nn_quant__f_relu;
    if (!strcmp(op, "LeakyRelu")) { ctx_out[0] = nn_node_attr_float(n, "alpha", 0.01f); return nn_quant__f_leaky; }
    if (!strcmp(op, "Elu")) { ctx_out[0] = nn_node_attr_float(n, "alpha", 1.0f); return nn_quant__f_elu; }
    if (!strcmp(op, "Softplus")) return nn_quant__f_softplus;
    if (!strcmp(op, "Neg")) return nn_quant__f_neg;
    if (!strcmp(op, "Abs")) return nn_quant__f_abs;
    if (!strcmp(op, "Sqrt")) return nn_quant__f_sqrt;
    if (!strcmp(op, "Log")) return nn_quant__f_log;
    if (!strcmp(op, "Reciprocal")) return nn_quant__f_recip;
    if (!strcmp(op, "Sin")) return nn_quant__f_sin;
    if (!strcmp(op, "Cos")) return nn_quant__f_cos;
    if (!strcmp(op, "Gelu"))
        return strcmp(nn_node_attr_string(n, "approximate", "none"), "tanh") == 0 ? nn_quant__f_gelu_tanh
                                                                                   : nn_quant__f_gelu;
    return NULL;
}

/* Clip's bounds: attributes before opset 11, optional constant inputs
   after.  Returns 0 when a bound input is not a constant float scalar. */
static int nn_quant__clip_bounds(const nn_graph *g, const nn_node *n, double *lo, double *hi) {
    uint32_t i;
    *lo = -INFINITY;
    *hi = INFINITY;
    if (!strcmp(n->op_type, "Relu")) { *lo = 0; return 1; }
    if (nn_graph_opset(g, "") < 11) {
        *lo = nn_node_attr_float(n, "min", -INFINITY);
        *hi = nn_node_attr_float(n, "max", INFINITY);
        return 1;
    }
    for (i = 1; i < n->input_count && i < 3; i++) {
        const nn_tensor *t;
        if (n->inputs[i].id == NN_INVALID_ID) continue;
        t = &g->tensors[n->inputs[i].id];
        if (!(t->flags & NN_TENSOR_CONST) || t->dtype != NN_DTYPE_FLOAT || t->data_bytes != 4) return 0;
        if (i == 1) *lo = ((const float *)t->data)[0];
        else *hi = ((const float *)t->data)[0];
    }
    return 1;
}

/* ---- quantize table ------------------------------------------------------ */

static const char *const nn_quant__dtype_names[] = {"DEFAULT", "INT8", "UINT8", "INT16", "F16", "BF16", "F32", "INT4"};

NN_API const char *nn_quant_dtype_name(nn_quant_dtype t) {
    return (unsigned)t < sizeof nn_quant__dtype_names / sizeof *nn_quant__dtype_names ? nn_quant__dtype_names[t] : "?";
}

static int nn_quant__ieq(const char *a, size_t len, const char *b) {
    size_t i;
    for (i = 0; i < len; i++) {
        char x = a[i], y = b[i];
        if (!y) return 0;
        if (x >= 'a' && x <= 'z') x = (char)(x - 32);
        if (y >= 'a' && y <= 'z') y = (char)(y - 32);
        if (x != y) return 0;
    }
    return b[len] == 0;
}

NN_API nn_quant_dtype nn_quant_dtype_parse(const char *s, size_t len) {
    int i;
    for (i = 1; i <= (int)NN_QUANT_DTYPE_INT4; i++)
        if (nn_quant__ieq(s, len, nn_quant__dtype_names[i])) return (nn_quant_dtype)i;
    if (nn_quant__ieq(s, len, "FP32") || nn_quant__ieq(s, len, "FLOAT32")) return NN_QUANT_DTYPE_F32;
    if (nn_quant__ieq(s, len, "FP16") || nn_quant__ieq(s, len, "FLOAT16")) return NN_QUANT_DTYPE_F16;
    return NN_QUANT_DTYPE_DEFAULT;
}

NN_API void nn_quant_table_init(nn_quant_table *t, const nn_allocator *alloc) {
    NN_ASSERT(t);
    memset(t, 0, sizeof *t);
    if (alloc) t->alloc = *alloc;
    nn_arena_init(&t->strings, &t->alloc);
}

NN_API nn_status nn_quant_table_add(nn_quant_table *t, nn_quant_rule_kind kind, const char *name, const char *end,
                                    nn_quant_dtype dtype, nn_diag *diag) {
    nn_quant_rule r;
    NN_ASSERT(t && name);
    if (t->count >= NN_MAX_QTABLE_RULES)
        return nn_diag_set(diag, NN_ERR_LIMIT, "qtable", "more than NN_MAX_QTABLE_RULES (%u) rules",
                           (unsigned)NN_MAX_QTABLE_RULES);
    if (t->count == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 16;
        nn_quant_rule *nr = (nn_quant_rule *)nn_alloc(&t->alloc, (size_t)cap * sizeof *nr);
        if (!nr) return nn_diag_set(diag, NN_ERR_NOMEM, "qtable", "out of memory");
        if (t->count) memcpy(nr, t->rules, (size_t)t->count * sizeof *nr);
        nn_free(&t->alloc, t->rules);
        t->rules = nr;
        t->cap = cap;
    }
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.dtype = dtype;
    r.name = nn_arena_strdup(&t->strings, name, strlen(name));
    r.end = end ? nn_arena_strdup(&t->strings, end, strlen(end)) : NULL;
    if (!r.name || (end && !r.end)) return nn_diag_set(diag, NN_ERR_NOMEM, "qtable", "out of memory");
    t->rules[t->count++] = r;
    return NN_OK;
}

/* Splits one line into up to 5 whitespace-separated tokens (a `#` starts a
   comment).  Returns the token count (5 meaning "too many"). */
static int nn_quant__tokens(const char *s, size_t len, const char **tok, size_t *tlen) {
    size_t i = 0;
    int n = 0;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
        if (i >= len || s[i] == '#') break;
        if (n == 5) return 5;
        tok[n] = s + i;
        while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '#') i++;
        tlen[n] = (size_t)(s + i - tok[n]);
        n++;
    }
    return n;
}

NN_API nn_status nn_quant_table_parse(nn_quant_table *t, const char *text, size_t bytes, nn_diag *diag) {
    size_t pos = 0;
    uint32_t line = 0;
    NN_ASSERT(t && (text || bytes == 0));
    if (bytes > NN_MAX_QTABLE_BYTES)
        return nn_diag_set(diag, NN_ERR_LIMIT, "qtable", "%zu bytes is above NN_MAX_QTABLE_BYTES", bytes);
    while (pos < bytes) {
        const char *s = text + pos, *nl = (const char *)memchr(s, '\n', bytes - pos);
        size_t len = nl ? (size_t)(nl - s) : bytes - pos, tl[5], i;
        const char *tok[5];
        char where[48], a[4096], b[4096];
        int n;
        nn_quant_dtype dt;
        nn_quant_rule_kind kind;
        nn_status st;
        pos += len + (nl ? 1 : 0);
        line++;
        snprintf(where, sizeof where, "qtable line %u", (unsigned)line);
        for (i = 0; i < len; i++)
            if (s[i] == 0) return nn_diag_set(diag, NN_ERR_PARSE, where, "NUL byte in the text");
        n = nn_quant__tokens(s, len, tok, tl);
        if (n == 0) continue;
        if (n == 1 || n == 5)
            return nn_diag_set(diag, NN_ERR_PARSE, where, "expected `NAME DTYPE`, `type OP DTYPE` or "
                               "`range START END DTYPE`, found %d fields", n);
        dt = nn_quant_dtype_parse(tok[n - 1], tl[n - 1]);
        if (dt == NN_QUANT_DTYPE_DEFAULT)
            return nn_diag_set(diag, NN_ERR_PARSE, where, "unknown dtype '%.*s' (INT8 UINT8 INT16 F16 BF16 F32 INT4)",
                               (int)(tl[n - 1] > 32 ? 32 : tl[n - 1]), tok[n - 1]);
        if (n == 2) kind = NN_QUANT_RULE_LAYER;
        else if (n == 3 && tl[0] == 4 && !memcmp(tok[0], "type", 4)) kind = NN_QUANT_RULE_TYPE;
        else if (n == 4 && tl[0] == 5 && !memcmp(tok[0], "range", 5)) kind = NN_QUANT_RULE_RANGE;
        else
            return nn_diag_set(diag, NN_ERR_PARSE, where, "%d fields: only `type OP DTYPE` and "
                               "`range START END DTYPE` take more than two", n);
        {
            size_t ia = kind == NN_QUANT_RULE_LAYER ? 0 : 1;
            if (tl[ia] >= sizeof a || (kind == NN_QUANT_RULE_RANGE && tl[2] >= sizeof b))
                return nn_diag_set(diag, NN_ERR_LIMIT, where, "name longer than 4095 bytes");
            memcpy(a, tok[ia], tl[ia]);
            a[tl[ia]] = 0;
            if (kind == NN_QUANT_RULE_RANGE) { memcpy(b, tok[2], tl[2]); b[tl[2]] = 0; }
        }
        st = nn_quant_table_add(t, kind, a, kind == NN_QUANT_RULE_RANGE ? b : NULL, dt, diag);
        if (st) return st;
        t->rules[t->count - 1].line = line;
    }
    return NN_OK;
}

NN_API nn_status nn_quant_table_load_file(nn_quant_table *t, const char *path, nn_diag *diag) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long sz;
    nn_status st;
    if (!f) return nn_diag_set(diag, NN_ERR_IO, path, "cannot open the quantize table");
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return nn_diag_set(diag, NN_ERR_IO, path, "cannot size the file");
    }
    if ((unsigned long)sz > NN_MAX_QTABLE_BYTES) {
        fclose(f);
        return nn_diag_set(diag, NN_ERR_LIMIT, path, "%ld bytes is above NN_MAX_QTABLE_BYTES", sz);
    }
    buf = (char *)nn_alloc(&t->alloc, (size_t)sz + 1);
    if (!buf) { fclose(f); return nn_diag_set(diag, NN_ERR_NOMEM, path, "out of memory"); }
    if (sz && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        fclose(f);
        nn_free(&t->alloc, buf);
        return nn_diag_set(diag, NN_ERR_IO, path, "read failed");
    }
    fclose(f);
    st = nn_quant_table_parse(t, buf, (size_t)sz, diag);
    nn_free(&t->alloc, buf);
    return st;
}

NN_API nn_status nn_quant_table_write(const nn_quant_table *t, nn_verify_write_fn write, void *user, nn_diag *diag) {
    uint32_t i;
    char line[8400];
    const char *hdr = "# nnport quantize table: NAME DTYPE | type OP DTYPE | range START END DTYPE\n";
    if (write(user, hdr, strlen(hdr)) != 0) return nn_diag_set(diag, NN_ERR_IO, "qtable", "write failed");
    for (i = 0; i < t->count; i++) {
        const nn_quant_rule *r = &t->rules[i];
        int len;
        if (r->kind == NN_QUANT_RULE_TYPE) len = snprintf(line, sizeof line, "type %s %s\n", r->name, nn_quant_dtype_name(r->dtype));
        else if (r->kind == NN_QUANT_RULE_RANGE)
            len = snprintf(line, sizeof line, "range %s %s %s\n", r->name, r->end, nn_quant_dtype_name(r->dtype));
        else len = snprintf(line, sizeof line, "%s %s\n", r->name, nn_quant_dtype_name(r->dtype));
        if (len < 0 || (size_t)len >= sizeof line) return nn_diag_set(diag, NN_ERR_LIMIT, "qtable", "rule too long");
        if (write(user, line, (size_t)len) != 0) return nn_diag_set(diag, NN_ERR_IO, "qtable", "write failed");
    }
    return NN_OK;
}

NN_API void nn_quant_table_deinit(nn_quant_table *t) {
    if (!t) return;
    nn_free(&t->alloc, t->rules);
    nn_arena_deinit(&t->strings);
    memset(t, 0, sizeof *t);
}

/* ---- table resolution ----------------------------------------------------- */

static void nn_quant__logf(nn_quant_log_fn log, void *user, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void nn_quant__logf(nn_quant_log_fn log, void *user, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    if (!log) return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log(user, buf);
}

/* Marks nodes reachable downstream of tensor `from` (mark bit 1) or
   upstream of tensor `to` (bit 2), by repeated sweeps in topo order (no
   recursion over untrusted graphs). */
static void nn_quant__range_marks(const nn_graph *g, const uint32_t *order, nn_tensor_id from, nn_tensor_id to,
                                  uint8_t *tmark, uint8_t *nmark) {
    uint32_t k, i;
    memset(tmark, 0, g->tensor_count);
    memset(nmark, 0, g->node_count);
    tmark[from.id] |= 1;
    for (k = 0; k < g->node_count; k++) {
        const nn_node *n = &g->nodes[order[k]];
        int hit = 0;
        for (i = 0; i < n->input_count; i++)
            if (n->inputs[i].id != NN_INVALID_ID && (tmark[n->inputs[i].id] & 1)) hit = 1;
        if (!hit) continue;
        nmark[order[k]] |= 1;
        for (i = 0; i < n->output_count; i++)
            if (n->outputs[i].id != NN_INVALID_ID) tmark[n->outputs[i].id] |= 1;
    }
    tmark[to.id] |= 2;
    for (k = g->node_count; k-- > 0;) {
        const nn_node *n = &g->nodes[order[k]];
        int hit = 0;
        for (i = 0; i < n->output_count; i++)
            if (n->outputs[i].id != NN_INVALID_ID && (tmark[n->outputs[i].id] & 2)) hit = 1;
        if (!hit) continue;
        nmark[order[k]] |= 2;
        for (i = 0; i < n->input_count; i++)
            if (n->inputs[i].id != NN_INVALID_ID) tmark[n->inputs[i].id] |= 2;
    }
}

/* 1 when `name` is one of the comma-separated original node names in
   `origin` (nn_graph.h's provenance: a node an optimizer pass made from
   others lists theirs). */
static int nn_quant__origin_has(const char *origin, const char *name) {
    size_t len = strlen(name);
    const char *p = origin;
    while (p && *p) {
        const char *e = strchr(p, ',');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k == len && !strncmp(p, name, len)) return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

NN_API nn_status nn_quant_resolve_table(const nn_graph *g, const nn_quant_table *t, nn_quant_log_fn log,
                                        void *log_user, nn_quant_dtype *out, uint32_t *unmatched, nn_diag *diag) {
    uint32_t *order = NULL, r, i, miss = 0;
    uint8_t *prio = NULL, *tmark = NULL, *nmark = NULL;
    nn_status st = NN_OK;
    nn_allocator a = g->alloc;
    memset(out, 0, (size_t)g->node_count * sizeof *out);
    if (unmatched) *unmatched = 0;
    if (!t || t->count == 0) return NN_OK;
    order = (uint32_t *)nn_alloc(&a, ((size_t)g->node_count + 1) * sizeof *order);
    prio = (uint8_t *)nn_alloc(&a, (size_t)g->node_count + 1);
    tmark = (uint8_t *)nn_alloc(&a, (size_t)g->tensor_count + 1);
    nmark = (uint8_t *)nn_alloc(&a, (size_t)g->node_count + 1);
    if (!order || !prio || !tmark || !nmark) { st = nn_diag_set(diag, NN_ERR_NOMEM, "qtable", "out of memory"); goto done; }
    st = nn_graph_topo_order(g, order, diag);
    if (st) goto done;
    memset(prio, 0, g->node_count);
    /* Apply rules in order of rising priority; a later rule of the same kind wins. */
    {
        static const nn_quant_rule_kind kinds[3] = {NN_QUANT_RULE_RANGE, NN_QUANT_RULE_TYPE, NN_QUANT_RULE_LAYER};
        int pk;
        for (pk = 0; pk < 3; pk++)
            for (r = 0; r < t->count; r++) {
                const nn_quant_rule *rule = &t->rules[r];
                uint32_t hits = 0;
                char at[40]; /* a parsed rule's line; a rule added in code (a config's overrides) by its place */
                if (rule->kind != kinds[pk]) continue;
                if (rule->line) snprintf(at, sizeof at, "qtable line %u", (unsigned)rule->line);
                else snprintf(at, sizeof at, "quantize rule %u", (unsigned)r + 1);
                if (rule->kind == NN_QUANT_RULE_RANGE) {
                    nn_tensor_id s = nn_graph_find_tensor(g, rule->name), e = nn_graph_find_tensor(g, rule->end);
                    if (s.id != NN_INVALID_ID && e.id != NN_INVALID_ID) {
                        nn_quant__range_marks(g, order, s, e, tmark, nmark);
                        for (i = 0; i < g->node_count; i++)
                            if (nmark[i] == 3) { out[i] = rule->dtype; prio[i] = 1; hits++; }
                    }
                } else {
                    for (i = 0; i < g->node_count; i++) {
                        const nn_node *n = &g->nodes[i];
                        int m;
                        if (rule->kind == NN_QUANT_RULE_TYPE) m = !strcmp(n->op_type, rule->name);
                        else
                            m = (n->name && !strcmp(n->name, rule->name)) ||
                                (n->output_count && n->outputs[0].id != NN_INVALID_ID &&
                                 !strcmp(g->tensors[n->outputs[0].id].name, rule->name));
                        if (m) { out[i] = rule->dtype; prio[i] = (uint8_t)(pk + 1); hits++; }
                    }
                    /* A layer the optimizer fused or split (a Conv with its scale
                       Mul folded in, a Gemm turned into MatMul + Add) may have
                       lost its name, but it lives on in the provenance of the
                       node(s) made from it: the rule applies to those. */
                    if (!hits && rule->kind == NN_QUANT_RULE_LAYER) {
                        uint32_t first = 0;
                        for (i = 0; i < g->node_count; i++)
                            if (g->nodes[i].origin && nn_quant__origin_has(g->nodes[i].origin, rule->name)) {
                                if (!hits) first = i;
                                out[i] = rule->dtype;
                                prio[i] = (uint8_t)(pk + 1);
                                hits++;
                            }
                        if (hits) {
                            const nn_node *f = &g->nodes[first];
                            nn_quant__logf(log, log_user,
                                           "%s: %s is not in this graph; applied to the %u node(s) made from it (%s%s)",
                                           at, rule->name, (unsigned)hits,
                                           f->name ? f->name : g->tensors[f->outputs[0].id].name, hits > 1 ? ", ..." : "");
                        }
                    }
                }
                if (!hits) {
                    miss++;
                    if (rule->kind == NN_QUANT_RULE_RANGE)
                        nn_quant__logf(log, log_user, "%s: range %s .. %s matches no node", at,
                                       rule->name, rule->end);
                    else
                        nn_quant__logf(log, log_user, "%s: %s%s matches no node", at,
                                       rule->kind == NN_QUANT_RULE_TYPE ? "type " : "", rule->name);
                }
            }
    }
    if (unmatched) *unmatched = miss;
done:
    nn_free(&a, order);
    nn_free(&a, prio);
    nn_free(&a, tmark);
    nn_free(&a, nmark);
    return st;
}

/* ---- QDQ graph builder ------------------------------------------------------ */

NN_API nn_status nn_quant_ranges_from_collector(const nn_graph *g, const nn_calib_collector *c,
                                                const nn_calib_desc *cd, nn_quant_range *out, nn_diag *diag) {
    uint32_t t;
    memset(out, 0, (size_t)g->tensor_count * sizeof *out);
    for (t = 0; t < g->tensor_count; t++) {
        nn_tensor_id id;
        const nn_calib_observer *o;
        nn_calib_result r;
        nn_diag local;
        id.id = t;
        o = nn_calib_collector_get(c, id);
        if (!o || o->count == 0) continue;
        memset(&local, 0, sizeof local);
        if (nn_calib_compute(o, cd, &r, &local) != NN_OK) {
            if (local.status == NN_ERR_INVALID) continue;
            return nn_diag_set(diag, local.status, g->tensors[t].name, "%s", local.message);
        }
        out[t].valid = 1;
        out[t].threshold = r.threshold;
        out[t].min = r.min;
        out[t].max = r.max;
    }
    return NN_OK;
}

NN_API nn_status nn_quant_ranges_from_table(const nn_graph *g, const nn_calib_table *t, nn_quant_range *out,
                                            uint32_t *matched, nn_diag *diag) {
    uint32_t i, m = 0;
    NN_ASSERT(g && t && out);
    (void)diag;
    memset(out, 0, (size_t)g->tensor_count * sizeof *out);
    for (i = 0; i < g->tensor_count; i++) {
        const nn_calib_table_entry *e = g->tensors[i].name ? nn_calib_table_find(t, 0, g->tensors[i].name) : NULL;
        if (!e) continue;
        out[i].valid = 1;
        out[i].threshold = e->threshold;
        out[i].min = e->min < -e->threshold ? -e->threshold : e->min;
        out[i].max = e->max > e->threshold ? e->threshold : e->max;
        if (out[i].min > out[i].max) out[i].min = out[i].max = 0; /* a range outside [-T, T]: hold 0 */
        m++;
    }
    if (matched) *matched = m;
    return NN_OK;
}

NN_API nn_status nn_quant_ranges_to_table(const nn_graph *g, const nn_quant_range *ranges, nn_calib_table *t,
                                          nn_diag *diag) {
    uint32_t i;
    nn_status st = NN_OK;
    NN_ASSERT(g && ranges && t);
    for (i = 0; i < g->tensor_count && st == NN_OK; i++)
        if (ranges[i].valid && g->tensors[i].name && g->tensors[i].name[0])
            st = nn_calib_table_add(t, 0, g->tensors[i].name, ranges[i].threshold, ranges[i].min, ranges[i].max, diag);
    return st;
}

/* Quantization of one activation tensor. */
typedef struct nn_quant__tq {
    int on;             /* gets a Q/DQ pair */
    nn_dtype dtype;     /* INT8, UINT8, INT16 */
    double scale;
    int32_t zp;
    nn_tensor_id dq;    /* in the new graph, once made */
} nn_quant__tq;

typedef struct nn_quant__b {
    const nn_graph *g;
    nn_graph *q;
    nn_quant_desc d;
    nn_diag *diag;
    nn_tensor_id *map;  /* old tensor -> new tensor (NN_INVALID_ID until made) */
    nn_quant__tq *tq;   /* (tensor_count) */
    nn_quant_dtype *mode; /* (node_count): resolved dtype, DEFAULT = scheme's */
    uint32_t *consumers;  /* (tensor_count) */
    uint8_t *chain;       /* (node_count): output left unquantized inside a table chain */
    nn_quant_stats stats;
    uint32_t uniq;
    int per_tensor;       /* opset 10..12: DequantizeLinear has no axis */
} nn_quant__b;

static int nn_quant__is_int_mode(nn_quant_dtype m) {
    return m == NN_QUANT_DTYPE_INT8 || m == NN_QUANT_DTYPE_UINT8 || m == NN_QUANT_DTYPE_INT16 ||
           m == NN_QUANT_DTYPE_INT4;
}

static int nn_quant__op_is(const nn_node *n, const char *const *ops) {
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) return 0;
    for (; *ops; ops++)
        if (!strcmp(n->op_type, *ops)) return 1;
    return 0;
}

static const char *const nn_quant__linear_ops[] = {"Conv", "Gemm", "MatMul", NULL};
static const char *const nn_quant__eltwise_ops[] = {"Add", "Sub", "Mul", NULL};
static const char *const nn_quant__act_ops[] = {"Relu", "Clip", NULL};

/* Node n is Mul/Add (t and a one-element float constant, either order) or
   Sub/Div (t first) by one. */
static int nn_quant__scalar_op(const nn_graph *g, const nn_node *n, uint32_t t) {
    uint32_t other;
    int ok;
    if (n->input_count != 2 || n->output_count != 1 || n->domain[0]) return 0;
    if (strcmp(n->op_type, "Mul") && strcmp(n->op_type, "Add") && strcmp(n->op_type, "Sub") && strcmp(n->op_type, "Div")) return 0;
    if (n->inputs[0].id == t) other = n->inputs[1].id;
    else if (n->inputs[1].id == t && (!strcmp(n->op_type, "Mul") || !strcmp(n->op_type, "Add"))) other = n->inputs[0].id;
    else return 0;
    if (other == NN_INVALID_ID || other == t) return 0;
    return (g->tensors[other].flags & NN_TENSOR_CONST) && g->tensors[other].data && g->tensors[other].dtype == NN_DTYPE_FLOAT &&
           nn_shape_count(&g->tensors[other].shape, &ok) == 1 && ok;
}

/* Node n may be a link of a table chain: a unary table op (Clip excepted)
   whose input is quantized, or a scalar op whose non-constant input is a
   chain link left unquantized. */
static int nn_quant__chain_link(const nn_quant__b *b, const nn_node *n) {
    const nn_graph *g = b->g;
    double ctx[2];
    uint32_t k;
    if (n->input_count == 1 && n->inputs[0].id != NN_INVALID_ID && strcmp(n->op_type, "Clip") && nn_quant_unary_for(n, ctx))
        return b->tq[n->inputs[0].id].on || (g->tensors[n->inputs[0].id].flags & NN_TENSOR_INPUT) != 0; /* inputs: planned later */
    for (k = 0; k < n->input_count && k < 2; k++) {
        uint32_t x = n->inputs[k].id, p;
        if (x == NN_INVALID_ID || !nn_quant__scalar_op(g, n, x) || b->tq[x].on) continue;
        p = g->tensors[x].producer.id;
        return p != NN_INVALID_ID && b->chain[p];
    }
    return 0;
}

/* Ops whose output takes the input's scale: pure data movement and max,
   exact in the integer domain with no requantization. */
static const char *const nn_quant__move_ops[] = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Slice",
                                                 "Split", "MaxPool", "Identity", "Gather", "Expand", "Tile",
                                                 "DepthToSpace", "SpaceToDepth", "GlobalMaxPool", NULL};

/* A unique name in the new graph: base + suffix, with a counter on clash. */
static const char *nn_quant__name(nn_quant__b *b, const char *base, const char *suffix, char *buf, size_t cap) {
    /* names are cut at 480 bytes; the counter keeps cut names unique */
    snprintf(buf, cap, "%.480s%.40s", base, suffix);
    while (nn_graph_find_tensor(b->q, buf).id != NN_INVALID_ID)
        snprintf(buf, cap, "%.480s%.40s_%u", base, suffix, ++b->uniq);
    return buf;
}

/* The new-graph copy of old tensor t (made on first use). */
static nn_status nn_quant__map(nn_quant__b *b, nn_tensor_id t, nn_tensor_id *out) {
    const nn_tensor *ot = &b->g->tensors[t.id];
    nn_status st;
    if (b->map[t.id].id != NN_INVALID_ID) { *out = b->map[t.id]; return NN_OK; }
    st = nn_graph_add_tensor(b->q, ot->name, ot->dtype, &ot->shape, out, b->diag);
    if (st) return st;
    memcpy(b->q->tensors[out->id].dim_param, ot->dim_param, sizeof ot->dim_param);
    if (ot->flags & NN_TENSOR_CONST) {
        st = nn_graph_set_data(b->q, *out, ot->data, ot->data_bytes, 1, b->diag);
        if (st) return st;
    }
    b->map[t.id] = *out;
    return NN_OK;
}

/* Adds a constant tensor to the new graph. */
static nn_status nn_quant__const(nn_quant__b *b, const char *name, nn_dtype dt, int32_t rank, const int64_t *dims,
                                 const void *data, nn_tensor_id *out) {
    nn_shape s = nn_shape_make(rank, dims);
    size_t bytes = 0;
    int ok;
    nn_status st = nn_graph_add_tensor(b->q, name, dt, &s, out, b->diag);
    if (st) return st;
    nn_dtype_bytes_for(dt, nn_shape_count(&s, &ok), &bytes);
    return nn_graph_set_data(b->q, *out, data, bytes, 1, b->diag);
}

/* scale + zero point constants ("<base>_scale", "<base>_zero_point") of
   shape (rank, dims): rank 0 a scalar, 1 per channel, the weight's rank
   for blocked quantization. */
static nn_status nn_quant__scale_zp(nn_quant__b *b, const char *base, const float *scale, nn_dtype zdt, int32_t zp,
                                    int32_t rank, const int64_t *dims, nn_tensor_id *s, nn_tensor_id *z) {
    char nb[600];
    void *zd;
    size_t zb;
    int64_t i, count = 1;
    int32_t r;
    nn_status st;
    for (r = 0; r < rank; r++) count *= dims[r];
    st = nn_quant__const(b, nn_quant__name(b, base, "_scale", nb, sizeof nb), NN_DTYPE_FLOAT, rank, dims, scale, s);
    if (st) return st;
    if (!nn_dtype_bytes_for(zdt, (size_t)count, &zb)) return nn_diag_set(b->diag, NN_ERR_LIMIT, base, "too large");
    zd = nn_alloc(&b->d.alloc, zb ? zb : 1);
    if (!zd) return nn_diag_set(b->diag, NN_ERR_NOMEM, base, "out of memory");
    if (zdt == NN_DTYPE_INT4) memset(zd, 0, zb ? zb : 1); /* 4-bit weights: zero point 0 */
    for (i = 0; i < count && zdt != NN_DTYPE_INT4; i++) {
        if (zdt == NN_DTYPE_INT8) ((int8_t *)zd)[i] = (int8_t)zp;
        else if (zdt == NN_DTYPE_UINT8) ((uint8_t *)zd)[i] = (uint8_t)zp;
        else if (zdt == NN_DTYPE_INT16) ((int16_t *)zd)[i] = (int16_t)zp;
        else ((int32_t *)zd)[i] = zp;
    }
    st = nn_quant__const(b, nn_quant__name(b, base, "_zero_point", nb, sizeof nb), zdt, rank, dims, zd, z);
    nn_free(&b->d.alloc, zd);
    return st;
}

/* A Q/DQ node with attributes axis (when >= 0) and block_size (when > 0). */
static nn_status nn_quant__node(nn_quant__b *b, const char *op, const char *name, const nn_tensor_id *in, uint32_t nin,
                                nn_tensor_id out, int64_t axis, int64_t block) {
    nn_node_id id;
    nn_attr a;
    nn_status st = nn_graph_add_node(b->q, op, "", name, in, nin, &out, 1, &id, b->diag);
    memset(&a, 0, sizeof a);
    a.type = NN_ATTR_INT;
    if (st == NN_OK && axis >= 0) {
        a.name = "axis";
        a.i = axis;
        st = nn_graph_add_attr(b->q, id, &a, 0, b->diag);
    }
    if (st == NN_OK && block > 0) {
        a.name = "block_size";
        a.i = block;
        st = nn_graph_add_attr(b->q, id, &a, 0, b->diag);
    }
    return st;
}

/* The DequantizeLinear output of activation t (Q/DQ made on first use). */
static nn_status nn_quant__act_dq(nn_quant__b *b, nn_tensor_id t, nn_tensor_id *out) {
    nn_quant__tq *q = &b->tq[t.id];
    const nn_tensor *ot = &b->g->tensors[t.id];
    char nb[600], nn_[600];
    nn_tensor_id src, s, z, qt, in[3];
    float sc = (float)q->scale;
    nn_status st;
    if (q->dq.id != NN_INVALID_ID) { *out = q->dq; return NN_OK; }
    if ((st = nn_quant__map(b, t, &src))) return st;
    if ((st = nn_quant__scale_zp(b, ot->name, &sc, q->dtype, q->zp, 0, NULL, &s, &z))) return st;
    if ((st = nn_graph_add_tensor(b->q, nn_quant__name(b, ot->name, "_quantized", nb, sizeof nb), q->dtype, &ot->shape,
                                  &qt, b->diag)))
        return st;
    in[0] = src; in[1] = s; in[2] = z;
    snprintf(nn_, sizeof nn_, "%.560s_QuantizeLinear", ot->name);
    if ((st = nn_quant__node(b, "QuantizeLinear", nn_, in, 3, qt, -1, 0))) return st;
    if ((st = nn_graph_add_tensor(b->q, nn_quant__name(b, ot->name, "_dequantized", nb, sizeof nb), NN_DTYPE_FLOAT,
                                  &ot->shape, &q->dq, b->diag)))
        return st;
    in[0] = qt;
    snprintf(nn_, sizeof nn_, "%.560s_DequantizeLinear", ot->name);
    if ((st = nn_quant__node(b, "DequantizeLinear", nn_, in, 3, q->dq, -1, 0))) return st;
    b->stats.activations++;
    *out = q->dq;
    return NN_OK;
}

/* Quantizes constant float tensor t symmetric: per channel along axis (or
   per tensor when axis < 0) into `bits`-bit values stored as int8 (or
   int32 for a bias with given per-channel scales).  Emits the DQ node and
   returns its output.  bias_scale (count = channels) selects the bias
   form.  min_scale (count = channels, or 1 for per tensor; NULL = none)
   is a floor on the weight scales: see nn_quant__bias_floor. */
/* NN_QUANT_ROUND_SUM on one run of n quantized taps q of real values x (in
   steps): moves round(sum(x - q)) taps by one step, the ones with the
   largest residual in that direction, within [qmin, qmax]. */
static void nn_quant__keep_sum(const double *x, int8_t *q, size_t n, double qmin, double qmax) {
    double r = 0;
    size_t j, m;
    long k;
    for (j = 0; j < n; j++) r += x[j] - q[j];
    k = (long)rint(r);
    for (; k != 0; k += k > 0 ? -1 : 1) {
        double best = 0;
        m = n;
        for (j = 0; j < n; j++) {
            double e = x[j] - q[j]; /* move toward the sign of k: the largest residual that way */
            if (k > 0 ? (q[j] + 1 <= qmax && (m == n || e > best)) : (q[j] - 1 >= qmin && (m == n || e < best))) {
                best = e;
                m = j;
            }
        }
        if (m == n) break;
        q[m] = (int8_t)(q[m] + (k > 0 ? 1 : -1));
    }
}

static nn_status nn_quant__weight(nn_quant__b *b, nn_tensor_id t, int axis, int bits, const float *bias_scale,
                                  int64_t bias_count, const float *min_scale, size_t slice, nn_tensor_id *out) {
    const nn_tensor *ot = &b->g->tensors[t.id];
    const float *w = (const float *)ot->data;
    int ok;
    size_t count = nn_shape_count(&ot->shape, &ok), outer = 1, inner = 1, i, c, k;
    int64_t ch = 1;
    float *scales = NULL;
    void *qd = NULL;
    char nb[600], nn_[600];
    nn_tensor_id s, z, qt, in[3];
    nn_status st = NN_OK;
    int r;
    double qmax = bits == 4 ? 7.0 : 127.0, qmin = bits == 4 ? -8.0 : -128.0;
    if (!ok || ot->dtype != NN_DTYPE_FLOAT || !w) return nn_diag_set(b->diag, NN_ERR_INVALID, ot->name, "not a float constant");
    if (axis >= 0) {
        if (axis >= ot->shape.rank) return nn_diag_set(b->diag, NN_ERR_SHAPE, ot->name, "axis %d out of rank", axis);
        for (r = 0; r < axis; r++) outer *= (size_t)ot->shape.dims[r];
        ch = ot->shape.dims[axis];
        for (r = axis + 1; r < ot->shape.rank; r++) inner *= (size_t)ot->shape.dims[r];
    } else {
        inner = count;
    }
    if (bias_scale && bias_count != ch) return nn_diag_set(b->diag, NN_ERR_SHAPE, ot->name, "bias length differs");
    scales = (float *)nn_alloc(&b->d.alloc, (size_t)ch * sizeof(float) + 1);
    qd = nn_alloc(&b->d.alloc, count * (bias_scale ? 4 : 1) + 1);
    if (!scales || !qd) { st = nn_diag_set(b->diag, NN_ERR_NOMEM, ot->name, "out of memory"); goto done; }
    for (c = 0; c < (size_t)ch; c++) {
        double m = 0, sc;
        if (bias_scale) {
            scales[c] = bias_scale[c];
            continue;
        }
        for (i = 0; i < outer; i++)
            for (k = 0; k < inner; k++) {
                double v = fabs(w[(i * (size_t)ch + c) * inner + k]);
                if (v > m) m = v;
            }
        sc = m > 0 ? m / qmax : 1.0; /* an all-zero channel: any scale */
        if (min_scale && sc < min_scale[axis >= 0 ? c : 0]) sc = min_scale[axis >= 0 ? c : 0];
        scales[c] = (float)sc;
    }
    for (i = 0; i < outer; i++)
        for (c = 0; c < (size_t)ch; c++)
            for (k = 0; k < inner; k++) {
                size_t e = (i * (size_t)ch + c) * inner + k;
                double v = scales[c] > 0 ? rint(w[e] / (double)scales[c]) : 0;
                if (bias_scale) {
                    if (v > 2147483647.0) v = 2147483647.0;
                    if (v < -2147483648.0) v = -2147483648.0;
                    ((int32_t *)qd)[e] = (int32_t)v;
                } else {
                    if (v > qmax) v = qmax;
                    if (v < qmin) v = qmin;
                    ((int8_t *)qd)[e] = (int8_t)v;
                }
            }
    if (slice > 1 && !bias_scale && inner % slice == 0) { /* NN_QUANT_ROUND_SUM: runs of `slice` taps */
        double xs[64];
        for (i = 0; i < outer; i++)
            for (c = 0; c < (size_t)ch; c++)
                for (k = 0; k + slice <= inner && slice <= 64; k += slice) {
                    size_t e = (i * (size_t)ch + c) * inner + k, j;
                    for (j = 0; j < slice; j++) xs[j] = scales[c] > 0 ? w[e + j] / (double)scales[c] : 0;
                    nn_quant__keep_sum(xs, (int8_t *)qd + e, slice, qmin, qmax);
                }
    }
    if ((st = nn_quant__const(b, nn_quant__name(b, ot->name, "_quantized", nb, sizeof nb),
                              bias_scale ? NN_DTYPE_INT32 : NN_DTYPE_INT8, ot->shape.rank, ot->shape.dims, qd, &qt)))
        goto done;
    if ((st = nn_quant__scale_zp(b, nb, scales, bias_scale ? NN_DTYPE_INT32 : NN_DTYPE_INT8, 0, axis >= 0 && ch > 1,
                                 &ch, &s, &z)))
        goto done;
    if ((st = nn_graph_add_tensor(b->q, nn_quant__name(b, ot->name, "_dequantized", nb, sizeof nb), NN_DTYPE_FLOAT,
                                  &ot->shape, out, b->diag)))
        goto done;
    in[0] = qt; in[1] = s; in[2] = z;
    snprintf(nn_, sizeof nn_, "%.560s_DequantizeLinear", nb);
    st = nn_quant__node(b, "DequantizeLinear", nn_, in, 3, *out, axis >= 0 && ch > 1 ? axis : -1, 0);
    b->stats.weights++;
done:
    nn_free(&b->d.alloc, scales);
    nn_free(&b->d.alloc, qd);
    return st;
}

/* Quantizes constant float weight t symmetric with one scale per `block`
   consecutive elements along its input axis `axis` (ONNX blocked
   quantization, DequantizeLinear-21 `block_size`: the scale tensor has t's
   shape with dims[axis] / block), zero point 0.  8-bit values are stored
   as int8; 4-bit values as ONNX int4 (two per byte, low nibble first),
   which the graph's opset 21 allows.  ONNX Runtime 1.30 cannot run such a
   file with int8 storage at its default optimization level: its QDQ
   fusion turns DequantizeLinear -> MatMul into a QLinearMatMul, which then
   refuses the 2-D scale at run time; with int4 storage it runs.
   Emits the DQ node and returns its output. */
static nn_status nn_quant__weight_blocked(nn_quant__b *b, nn_tensor_id t, int axis, int64_t block, int bits,
                                          nn_tensor_id *out) {
    const nn_tensor *ot = &b->g->tensors[t.id];
    const float *w = (const float *)ot->data;
    int ok, r;
    size_t count = nn_shape_count(&ot->shape, &ok), outer = 1, inner = 1, i, k, j, bk, nblk;
    int64_t len, sdims[NN_MAX_RANK];
    float *scales = NULL;
    int8_t *qd = NULL;
    char nb[600], nn_[600];
    nn_tensor_id s, z, qt, in[3];
    nn_status st = NN_OK;
    double qmax = bits == 4 ? 7.0 : 127.0, qmin = bits == 4 ? -8.0 : -128.0;
    if (!ok || ot->dtype != NN_DTYPE_FLOAT || !w) return nn_diag_set(b->diag, NN_ERR_INVALID, ot->name, "not a float constant");
    if (axis < 0 || axis >= ot->shape.rank || block < 1 || ot->shape.dims[axis] % block)
        return nn_diag_set(b->diag, NN_ERR_SHAPE, ot->name, "axis %d does not split into blocks of %lld", axis, (long long)block);
    for (r = 0; r < axis; r++) outer *= (size_t)ot->shape.dims[r];
    len = ot->shape.dims[axis];
    for (r = axis + 1; r < ot->shape.rank; r++) inner *= (size_t)ot->shape.dims[r];
    nblk = (size_t)(len / block);
    for (r = 0; r < ot->shape.rank; r++) sdims[r] = r == axis ? (int64_t)nblk : ot->shape.dims[r];
    scales = (float *)nn_alloc(&b->d.alloc, outer * nblk * inner * sizeof(float) + 1);
    qd = (int8_t *)nn_alloc(&b->d.alloc, count + 1);
    if (!scales || !qd) { st = nn_diag_set(b->diag, NN_ERR_NOMEM, ot->name, "out of memory"); goto done; }
    for (i = 0; i < outer; i++)
        for (bk = 0; bk < nblk; bk++)
            for (k = 0; k < inner; k++) {
                size_t si = (i * nblk + bk) * inner + k;
                double m = 0, sc;
                for (j = 0; j < (size_t)block; j++) {
                    double v = fabs(w[(i * (size_t)len + bk * (size_t)block + j) * inner + k]);
                    if (v > m) m = v;
                }
                sc = m > 0 ? m / qmax : 1.0; /* an all-zero block: any scale */
                scales[si] = (float)sc;
                for (j = 0; j < (size_t)block; j++) {
                    size_t e = (i * (size_t)len + bk * (size_t)block + j) * inner + k;
                    double v = rint(w[e] / (double)scales[si]);
                    qd[e] = (int8_t)(v > qmax ? qmax : v < qmin ? qmin : v);
                }
            }
    if (bits == 4) { /* pack in place: element e's nibble goes to byte e / 2 (e / 2 <= e: nothing read is overwritten) */
        for (i = 0; i < count; i++) {
            uint8_t nib = (uint8_t)qd[i] & 15u;
            uint8_t *by = (uint8_t *)qd + i / 2;
            *by = (uint8_t)((i & 1) ? ((*by & 15u) | (nib << 4)) : nib);
        }
    }
    if ((st = nn_quant__const(b, nn_quant__name(b, ot->name, "_quantized", nb, sizeof nb),
                              bits == 4 ? NN_DTYPE_INT4 : NN_DTYPE_INT8, ot->shape.rank, ot->shape.dims, qd, &qt)))
        goto done;
    if ((st = nn_quant__scale_zp(b, ot->name, scales, bits == 4 ? NN_DTYPE_INT4 : NN_DTYPE_INT8, 0, ot->shape.rank, sdims,
                                 &s, &z)))
        goto done;
    if ((st = nn_graph_add_tensor(b->q, nn_quant__name(b, ot->name, "_dequantized", nb, sizeof nb), NN_DTYPE_FLOAT,
                                  &ot->shape, out, b->diag)))
        goto done;
    in[0] = qt; in[1] = s; in[2] = z;
    snprintf(nn_, sizeof nn_, "%.560s_DequantizeLinear", nb);
    st = nn_quant__node(b, "DequantizeLinear", nn_, in, 3, *out, axis, block);
    b->stats.weights++;
done:
    nn_free(&b->d.alloc, scales);
    nn_free(&b->d.alloc, qd);
    return st;
}

/* Activation quantization parameters from a range. */
static void nn_quant__params(nn_quant__b *b, const nn_quant_range *r, nn_quant_dtype mode, nn_quant__tq *q) {
    nn_quant_scheme sc = b->d.scheme;
    double t = r->threshold > 0 ? r->threshold : 1.0;
    if (mode == NN_QUANT_DTYPE_INT16) sc = NN_QUANT_S16_SYM;
    else if (mode == NN_QUANT_DTYPE_UINT8) sc = NN_QUANT_U8_ASYM;
    else if ((mode == NN_QUANT_DTYPE_INT8 || mode == NN_QUANT_DTYPE_INT4) && sc != NN_QUANT_S8_ASYM) sc = NN_QUANT_S8_SYM;
    if (sc == NN_QUANT_S16_SYM) { q->dtype = NN_DTYPE_INT16; q->scale = t / 32767.0; q->zp = 0; return; }
    if (sc == NN_QUANT_S8_SYM) { q->dtype = NN_DTYPE_INT8; q->scale = t / 127.0; q->zp = 0; return; }
    {   /* asymmetric: the range must hold 0 exactly (zero padding) */
        double lo = r->min < 0 ? r->min : 0, hi = r->max > 0 ? r->max : 0, s;
        int32_t qlo = sc == NN_QUANT_U8_ASYM ? 0 : -128, z;
        if (hi - lo <= 0) hi = lo + 1.0;
        s = (hi - lo) / 255.0;
        z = (int32_t)rint(qlo - lo / s);
        if (z < qlo) z = qlo;
        if (z > qlo + 255) z = qlo + 255;
        q->dtype = sc == NN_QUANT_U8_ASYM ? NN_DTYPE_UINT8 : NN_DTYPE_INT8;
        q->scale = s;
        q->zp = z;
    }
}

/* Producer node of tensor t if it has op type op, else NN_INVALID_ID. */
static uint32_t nn_quant__producer_is(const nn_graph *g, nn_tensor_id t, const char *op) {
    uint32_t p;
    if (t.id == NN_INVALID_ID) return NN_INVALID_ID;
    p = g->tensors[t.id].producer.id;
    if (p == NN_INVALID_ID || strcmp(g->nodes[p].op_type, op) != 0) return NN_INVALID_ID;
    return p;
}

/* The recipe's float nodes (where the table left DEFAULT): Softmax,
   LayerNormalization, and the decomposed LayerNorm
   Div(Sub(x, ReduceMean(x)), Sqrt(Add(ReduceMean(Pow(Sub, 2)), eps))). */
static void nn_quant__recipe(const nn_graph *g, nn_quant_dtype *mode) {
    uint32_t i;
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        uint32_t sq, ad, rv, pw, sb, rm, k;
        uint32_t marks[7];
        if (!strcmp(n->op_type, "Softmax") || !strcmp(n->op_type, "LayerNormalization")) {
            if (mode[i] == NN_QUANT_DTYPE_DEFAULT) mode[i] = NN_QUANT_DTYPE_F32;
            /* an attention mask Add (or scale Mul/Div) right before Softmax:
               its -1e9 / -inf entries would set the int8 scale and round every
               score to 0 (gpt_char: Softmax output cosine 0.36) */
            if (!strcmp(n->op_type, "Softmax") && n->input_count && n->inputs[0].id != NN_INVALID_ID) {
                uint32_t p = g->tensors[n->inputs[0].id].producer.id;
                if (p != NN_INVALID_ID && mode[p] == NN_QUANT_DTYPE_DEFAULT &&
                    (!strcmp(g->nodes[p].op_type, "Add") || !strcmp(g->nodes[p].op_type, "Sub") ||
                     !strcmp(g->nodes[p].op_type, "Where") || !strcmp(g->nodes[p].op_type, "Mul") ||
                     !strcmp(g->nodes[p].op_type, "Div")))
                    mode[p] = NN_QUANT_DTYPE_F32;
            }
            /* the residual Add feeding a fused LayerNorm stays float too, as
               below for the decomposed one (vit_ti at opset 17: output cosine
               0.897 -> 0.98, docs/QUANTIZATION.md session 7) */
            if (!strcmp(n->op_type, "LayerNormalization") && n->input_count) {
                uint32_t ra = nn_quant__producer_is(g, n->inputs[0], "Add");
                if (ra != NN_INVALID_ID && mode[ra] == NN_QUANT_DTYPE_DEFAULT) mode[ra] = NN_QUANT_DTYPE_F32;
            }
            continue;
        }
        if (strcmp(n->op_type, "Div") != 0 || n->input_count != 2) continue;
        sq = nn_quant__producer_is(g, n->inputs[1], "Sqrt");
        if (sq == NN_INVALID_ID) continue;
        ad = nn_quant__producer_is(g, g->nodes[sq].inputs[0], "Add");
        if (ad == NN_INVALID_ID || g->nodes[ad].input_count != 2) continue;
        rv = nn_quant__producer_is(g, g->nodes[ad].inputs[0], "ReduceMean");
        if (rv == NN_INVALID_ID) rv = nn_quant__producer_is(g, g->nodes[ad].inputs[1], "ReduceMean");
        if (rv == NN_INVALID_ID) continue;
        pw = nn_quant__producer_is(g, g->nodes[rv].inputs[0], "Pow");
        sb = nn_quant__producer_is(g, n->inputs[0], "Sub");
        rm = sb != NN_INVALID_ID ? nn_quant__producer_is(g, g->nodes[sb].inputs[1], "ReduceMean") : NN_INVALID_ID;
        marks[0] = i; marks[1] = sq; marks[2] = ad; marks[3] = rv; marks[4] = pw; marks[5] = sb; marks[6] = rm;
        for (k = 0; k < 7; k++)
            if (marks[k] != NN_INVALID_ID && mode[marks[k]] == NN_QUANT_DTYPE_DEFAULT) mode[marks[k]] = NN_QUANT_DTYPE_F32;
        /* the residual stream: the Add producing the LayerNorm's input stays
           float, as SmoothQuant's W8A8 setting keeps residual adds and
           LayerNorm in FP16 (Xiao et al., ICML 2023, sec. 4); per-tensor int8
           of the stream loses small rows such as ViT's class token */
        if (sb != NN_INVALID_ID) {
            uint32_t ra = nn_quant__producer_is(g, g->nodes[sb].inputs[0], "Add");
            if (ra != NN_INVALID_ID && mode[ra] == NN_QUANT_DTYPE_DEFAULT) mode[ra] = NN_QUANT_DTYPE_F32;
        }
    }
}

/* preact16: the producers (Conv, ConvTranspose, Gemm, MatMul, mode still
   DEFAULT) whose first output is read only by nonlinear activations, and
   by at least one, take INT16.  Their output is the pre-activation value a
   fused Conv + activation never writes to memory; at int8 its per-tensor
   grid is set by the widest channel and leaves a few steps for the
   activation's bend (PP-OCRv4 det: step 1.19 against HardSwish's [-3, 3],
   docs/QUANTIZATION.md 6q).  Relu and Clip are not listed: they merge
   into the producer's output clamp already. */
static void nn_quant__preact16(const nn_graph *g, nn_quant_dtype *mode) {
    static const char *const producers[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", NULL};
    static const char *const acts[] = {"HardSwish", "HardSigmoid", "Sigmoid", "Tanh", "Gelu", "Elu", "Softplus", NULL};
    uint32_t i, j, k;
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        uint32_t t, readers = 0, others = 0;
        if (mode[i] != NN_QUANT_DTYPE_DEFAULT || !n->output_count || n->outputs[0].id == NN_INVALID_ID ||
            !nn_quant__op_is(n, producers))
            continue;
        t = n->outputs[0].id;
        if (g->tensors[t].flags & NN_TENSOR_OUTPUT) continue;
        for (k = 0; k < g->node_count && !others; k++)
            for (j = 0; j < g->nodes[k].input_count; j++) {
                if (g->nodes[k].inputs[j].id != t) continue;
                if (nn_quant__op_is(&g->nodes[k], acts)) readers++;
                else others++;
            }
        if (readers && !others) mode[i] = NN_QUANT_DTYPE_INT16;
    }
}

/* Decides node modes and which activations get Q/DQ. */
static nn_status nn_quant__plan(nn_quant__b *b, const nn_quant_range *ranges, const uint32_t *order) {
    const nn_graph *g = b->g;
    nn_quant_dtype def = b->d.scheme == NN_QUANT_U8_ASYM ? NN_QUANT_DTYPE_UINT8
                         : b->d.scheme == NN_QUANT_S16_SYM ? NN_QUANT_DTYPE_INT16
                                                           : NN_QUANT_DTYPE_INT8;
    uint32_t i, k, j, missing = 0;
    nn_status st = nn_quant_resolve_table(g, b->d.table, b->d.log, b->d.log_user, b->mode, &b->stats.unmatched_rules,
                                          b->diag);
    if (st) return st;
    if (b->d.recipe == NN_QUANT_RECIPE_NORM_FLOAT) nn_quant__recipe(g, b->mode);
    if (b->d.preact16 && b->d.scheme != NN_QUANT_S16_SYM) nn_quant__preact16(g, b->mode);
    for (i = 0; i < g->node_count; i++) {
        if (b->mode[i] == NN_QUANT_DTYPE_DEFAULT) b->mode[i] = def;
        if (b->mode[i] == NN_QUANT_DTYPE_INT8 && b->d.weight_bits == 4) b->mode[i] = NN_QUANT_DTYPE_INT4;
        if (nn_quant__is_int_mode(b->mode[i])) b->stats.int_nodes++;
        else b->stats.float_nodes++;
        for (j = 0; j < g->nodes[i].input_count; j++)
            if (g->nodes[i].inputs[j].id != NN_INVALID_ID) b->consumers[g->nodes[i].inputs[j].id]++;
    }
    for (k = 0; k < g->node_count; k++) {
        const nn_node *n = &g->nodes[order[k]];
        for (j = 0; j < n->output_count; j++) {
            nn_tensor_id t = n->outputs[j];
            const nn_tensor *tt;
            nn_quant_dtype m = b->mode[order[k]];
            if (t.id == NN_INVALID_ID) continue;
            tt = &g->tensors[t.id];
            /* dtype may be unset when shapes were not inferred: a range means float */
            if (!(tt->dtype == NN_DTYPE_FLOAT || (tt->dtype == NN_DTYPE_UNDEFINED && ranges[t.id].valid)) ||
                (tt->flags & NN_TENSOR_OUTPUT) || b->consumers[t.id] == 0)
                continue;
            if (!nn_quant__is_int_mode(m)) continue;
            /* a table chain (nn_qexec__chain): a unary table op, or a
               scalar Mul/Add/Sub/Div continuing such a chain, read only by
               a scalar Mul/Add/Sub/Div of the same mode is not quantized:
               PP-LCNetV3's HardSwish -> Mul a -> Add b becomes one table of
               the HardSwish input, quantized once at the end. */
            if (b->consumers[t.id] == 1 && n->output_count == 1 && nn_quant__chain_link(b, n)) {
                uint32_t c2, j2;
                int next = 0;
                for (c2 = 0; c2 < g->node_count && !next; c2++) {
                    const nn_node *cn = &g->nodes[c2];
                    for (j2 = 0; j2 < cn->input_count; j2++)
                        if (cn->inputs[j2].id == t.id) {
                            next = b->mode[c2] == m && nn_quant__scalar_op(g, cn, t.id) ? 1 : -1;
                            break;
                        }
                }
                if (next == 1) { b->stats.chained++; b->chain[order[k]] = 1; continue; }
            }
            /* op -> Relu/Clip: the activation is merged into the op's output clamp */
            if (b->consumers[t.id] == 1 && (nn_quant__op_is(n, nn_quant__linear_ops) || nn_quant__op_is(n, nn_quant__eltwise_ops))) {
                uint32_t c2;
                int fused = 0;
                for (c2 = 0; c2 < g->node_count && !fused; c2++) {
                    const nn_node *cn = &g->nodes[c2];
                    if (cn->input_count && cn->inputs[0].id == t.id && nn_quant__op_is(cn, nn_quant__act_ops) &&
                        b->mode[c2] == m) {
                        double lo, hi;
                        fused = strcmp(cn->op_type, "Relu") == 0 || nn_quant__clip_bounds(g, cn, &lo, &hi);
                    }
                }
                if (fused) { b->stats.fused_acts++; continue; }
            }
            if (!ranges[t.id].valid) { missing++; continue; }
            b->tq[t.id].on = 1;
            /* data movement keeps its input's scale (exact, no requantization) */
            if (nn_quant__op_is(n, nn_quant__move_ops) && n->input_count && n->inputs[0].id != NN_INVALID_ID &&
                b->tq[n->inputs[0].id].on) {
                b->tq[t.id] = b->tq[n->inputs[0].id];
                b->tq[t.id].dq.id = NN_INVALID_ID;
            } else {
                nn_quant__params(b, &ranges[t.id], m, &b->tq[t.id]);
            }
        }
    }
    /* graph inputs feeding an integer node */
    for (i = 0; i < g->input_count; i++) {
        nn_tensor_id t = g->inputs[i];
        if (g->tensors[t.id].dtype != NN_DTYPE_FLOAT) continue;
        if (!ranges[t.id].valid) { missing++; continue; }
        b->tq[t.id].on = 1;
        nn_quant__params(b, &ranges[t.id], def, &b->tq[t.id]);
    }
    if (missing)
        nn_quant__logf(b->d.log, b->d.log_user, "%u float tensors have no calibration range and stay float", missing);
    return NN_OK;
}

/* Largest |bias| in int32 units: 2^30 leaves half of the int32 range to the
   sum of products the kernels add to it. */
#define NN_QUANT_BIAS_INT_MAX 1073741824.0

/* Floor on the weight scales of linear node n (weight axis, < 0 = per
   tensor) so that its float bias fits in int32 at scale s_x * s_w[c]:
   s_w[c] >= |bias[c]| / (s_x * 2^30).  Without it, a channel whose
   weights are (nearly) zero gets a tiny scale and its bias saturates the
   int32 (PP-OCRv4 det's conv2d_96 has one channel of weight scale 1e-36:
   its bias became 2^31 * 1e-36 * s_x = 0).  ONNX Runtime's QDQ quantizer
   inflates the weight scale for the same reason (microsoft/onnxruntime
   pull request 22020, "Prevent int32 quantized bias from clipping by
   adjusting the weight's scale"; its bound differs).  *out is
   NULL when no floor applies (no float bias, unquantized input, length
   mismatch); else an allocation the caller frees. */
static nn_status nn_quant__bias_floor(nn_quant__b *b, const nn_node *n, int axis, float **out) {
    const nn_graph *g = b->g;
    const nn_tensor *wt, *bt;
    const float *bv;
    int64_t ch, c, cnt;
    double sx, m = 0;
    *out = NULL;
    if (n->input_count < 3 || n->inputs[0].id == NN_INVALID_ID || n->inputs[1].id == NN_INVALID_ID ||
        n->inputs[2].id == NN_INVALID_ID || !b->tq[n->inputs[0].id].on)
        return NN_OK;
    wt = &g->tensors[n->inputs[1].id];
    bt = &g->tensors[n->inputs[2].id];
    if (!(bt->flags & NN_TENSOR_CONST) || bt->dtype != NN_DTYPE_FLOAT || !bt->data || bt->shape.rank != 1) return NN_OK;
    sx = b->tq[n->inputs[0].id].scale;
    if (!(sx > 0)) return NN_OK;
    cnt = bt->shape.dims[0];
    ch = axis >= 0 ? (axis < wt->shape.rank ? wt->shape.dims[axis] : -1) : 1;
    if (cnt <= 0 || (axis >= 0 && ch != cnt)) return NN_OK;
    bv = (const float *)bt->data;
    *out = (float *)nn_alloc(&b->d.alloc, (size_t)ch * sizeof(float) + 1);
    if (!*out) return nn_diag_set(b->diag, NN_ERR_NOMEM, bt->name, "out of memory");
    for (c = 0; c < cnt; c++) {
        double f = fabs((double)bv[c]) / (sx * NN_QUANT_BIAS_INT_MAX);
        if (axis >= 0) (*out)[c] = (float)f;
        else if (f > m) m = f;
    }
    if (axis < 0) (*out)[0] = (float)m;
    return NN_OK;
}

/* Cast src (float) to dtype `to` into a new tensor named base+suffix. */
static nn_status nn_quant__cast(nn_quant__b *b, nn_tensor_id src, nn_dtype to, const char *base, const char *suffix,
                                nn_tensor_id *out) {
    char nb[600];
    nn_node_id id;
    nn_attr a;
    nn_status st = nn_graph_add_tensor(b->q, nn_quant__name(b, base, suffix, nb, sizeof nb), to,
                                       &b->q->tensors[src.id].shape, out, b->diag);
    if (st == NN_OK) st = nn_graph_add_node(b->q, "Cast", "", nb, &src, 1, out, 1, &id, b->diag);
    memset(&a, 0, sizeof a);
    a.name = "to";
    a.type = NN_ATTR_INT;
    a.i = (int64_t)to;
    if (st == NN_OK) st = nn_graph_add_attr(b->q, id, &a, 0, b->diag);
    return st;
}

/* A node kept in F16 / BF16 (quantize table): its float inputs are
   rounded to the 16-bit type, as a 16-bit float unit reads them, and it
   computes in float32 (the f32 accumulation ONNX Runtime's CPU kernels and
   most NPUs' f16 units use).  A constant becomes a 16-bit initializer
   behind a Cast to float (half the bytes); an activation gets a
   Cast(16-bit) -> Cast(float) pair.  ONNX Runtime runs the same Casts, so
   the QDQ export and the fake-quant executor agree exactly on them.  The
   output is not rounded here: the next layer's input rounding (or
   quantization) does it. */
static nn_status nn_quant__f16_input(nn_quant__b *b, nn_tensor_id t, nn_dtype half, nn_tensor_id *in) {
    const nn_tensor *ot = &b->g->tensors[t.id];
    nn_tensor_id h;
    nn_status st;
    if ((ot->flags & NN_TENSOR_CONST) && ot->data) {
        int ok;
        size_t n = nn_shape_count(&ot->shape, &ok), i;
        uint16_t *v = (uint16_t *)nn_alloc(&b->d.alloc, n * sizeof(uint16_t) + 2);
        char nb[600];
        if (!ok || !v) { nn_free(&b->d.alloc, v); return nn_diag_set(b->diag, NN_ERR_NOMEM, ot->name, "out of memory"); }
        for (i = 0; i < n; i++) {
            float f = ((const float *)ot->data)[i];
            v[i] = half == NN_DTYPE_FLOAT16 ? nn_f32_to_f16(f) : nn_f32_to_bf16(f);
        }
        st = nn_graph_add_tensor(b->q, nn_quant__name(b, ot->name, half == NN_DTYPE_FLOAT16 ? "_f16" : "_bf16", nb, sizeof nb),
                                 half, &ot->shape, &h, b->diag);
        if (st == NN_OK) st = nn_graph_set_data(b->q, h, v, n * sizeof(uint16_t), 1, b->diag);
        nn_free(&b->d.alloc, v);
        if (st == NN_OK) b->q->tensors[h.id].flags |= NN_TENSOR_CONST;
        return st ? st : nn_quant__cast(b, h, NN_DTYPE_FLOAT, ot->name, "_f32", in);
    }
    st = nn_quant__cast(b, *in, half, ot->name, half == NN_DTYPE_FLOAT16 ? "_to_f16" : "_to_bf16", &h);
    return st ? st : nn_quant__cast(b, h, NN_DTYPE_FLOAT, ot->name, "_rounded", in);
}

/* Rewrites one node's inputs and adds it to the new graph. */
static nn_status nn_quant__emit(nn_quant__b *b, uint32_t ni) {
    const nn_graph *g = b->g;
    const nn_node *n = &g->nodes[ni];
    nn_tensor_id in[64], outs[64];
    nn_node_id id;
    uint32_t i;
    int intm = nn_quant__is_int_mode(b->mode[ni]);
    /* 4-bit weights: INT4 layers (int8 activations) and, with weight_bits 4,
       INT16 layers too (W4A16, the usual LLM scheme; these run as float islands) */
    int wbits = b->mode[ni] == NN_QUANT_DTYPE_INT4 || (b->mode[ni] == NN_QUANT_DTYPE_INT16 && b->d.weight_bits == 4) ? 4 : 8;
    /* F16 / BF16 layers: float inputs rounded to this type (else undefined) */
    nn_dtype half = b->mode[ni] == NN_QUANT_DTYPE_F16    ? NN_DTYPE_FLOAT16
                  : b->mode[ni] == NN_QUANT_DTYPE_BF16 ? NN_DTYPE_BFLOAT16
                                                       : NN_DTYPE_UNDEFINED;
    nn_status st;
    if (n->input_count > 64 || n->output_count > 64)
        return nn_diag_set(b->diag, NN_ERR_LIMIT, n->name, "more than 64 inputs or outputs");
    for (i = 0; i < n->input_count; i++) {
        nn_tensor_id t = n->inputs[i];
        const nn_tensor *tt;
        in[i] = t;
        if (t.id == NN_INVALID_ID) continue;
        tt = &g->tensors[t.id];
        if (b->tq[t.id].on) { /* quantized activation: every consumer reads the DQ */
            if ((st = nn_quant__act_dq(b, t, &in[i]))) return st;
            if (half && (st = nn_quant__f16_input(b, t, half, &in[i]))) return st;
            continue;
        }
        if (intm && (tt->flags & NN_TENSOR_CONST) && tt->dtype == NN_DTYPE_FLOAT && tt->data) {
            int lin = nn_quant__op_is(n, nn_quant__linear_ops);
            if (lin && i == 1 && tt->shape.rank >= 2) {
                int axis = 0, in_axis = 1;
                if (!strcmp(n->op_type, "Gemm")) {
                    axis = nn_node_attr_int(n, "transB", 0) ? 0 : 1;
                    in_axis = 1 - axis;
                } else if (!strcmp(n->op_type, "MatMul")) {
                    axis = tt->shape.rank == 2 ? 1 : -1;
                    in_axis = tt->shape.rank - 2;
                }
                if (b->d.weight_group && !b->per_tensor) {
                    /* blocked weights when the input axis splits evenly; else per channel, said once */
                    if (tt->shape.dims[in_axis] % (int64_t)b->d.weight_group == 0) {
                        if ((st = nn_quant__weight_blocked(b, t, in_axis, (int64_t)b->d.weight_group, wbits, &in[i])))
                            return st;
                        continue;
                    }
                    if (b->d.log) {
                        char m[700];
                        snprintf(m, sizeof m, "%.500s: input axis of %lld elements does not split into groups of %u: "
                                 "weights per output channel", tt->name, (long long)tt->shape.dims[in_axis],
                                 b->d.weight_group);
                        b->d.log(b->d.log_user, m);
                    }
                }
                {
                    float *floor_s = NULL;
                    int wax = b->per_tensor ? -1 : axis;
                    if ((st = nn_quant__bias_floor(b, n, wax, &floor_s))) return st;
                    size_t taps = 1;
                    if (b->d.weight_rounding == NN_QUANT_ROUND_SUM && !strcmp(n->op_type, "Conv"))
                        for (int r2 = 2; r2 < tt->shape.rank; r2++) taps *= (size_t)tt->shape.dims[r2];
                    st = nn_quant__weight(b, t, wax, wbits, NULL, 0, floor_s, taps, &in[i]);
                    nn_free(&b->d.alloc, floor_s);
                    if (st) return st;
                }
                continue;
            }
            if (lin && i == 2 && tt->shape.rank == 1 && n->inputs[0].id != NN_INVALID_ID && b->tq[n->inputs[0].id].on &&
                n->inputs[1].id != NN_INVALID_ID) {
                /* bias: int32, scale s_x * s_w[c]; the weight's DQ scale is the tensor before */
                nn_tensor_id wq = in[1];
                const nn_node *dq = b->q->tensors[wq.id].producer.id != NN_INVALID_ID
                                        ? &b->q->nodes[b->q->tensors[wq.id].producer.id] : NULL;
                if (dq && !strcmp(dq->op_type, "DequantizeLinear") && !nn_node_attr(dq, "block_size")) {
                    /* (blocked weights: no per-channel s_w, the bias stays float) */
                    const nn_tensor *ws = &b->q->tensors[dq->inputs[1].id];
                    int64_t cnt = tt->shape.dims[0], c;
                    size_t nw = ws->data_bytes / 4;
                    float *bs = (float *)nn_alloc(&b->d.alloc, (size_t)cnt * sizeof(float) + 1);
                    if (!bs) return nn_diag_set(b->diag, NN_ERR_NOMEM, tt->name, "out of memory");
                    for (c = 0; c < cnt; c++)
                        bs[c] = (float)(b->tq[n->inputs[0].id].scale * ((const float *)ws->data)[nw > 1 ? (size_t)c % nw : 0]);
                    st = b->per_tensor ? nn_quant__weight(b, t, -1, 32, bs, 1, NULL, 0, &in[i])
                                       : nn_quant__weight(b, t, 0, 32, bs, cnt, NULL, 0, &in[i]);
                    nn_free(&b->d.alloc, bs);
                    if (st) return st;
                    continue;
                }
            }
            if (nn_quant__op_is(n, nn_quant__eltwise_ops) || (lin && i == 0) || !strcmp(n->op_type, "Concat")) {
                if ((st = nn_quant__weight(b, t, -1, 8, NULL, 0, NULL, 0, &in[i]))) return st;
                continue;
            }
        }
        if (half && tt->dtype == NN_DTYPE_FLOAT) {
            if (!((tt->flags & NN_TENSOR_CONST) && tt->data) && (st = nn_quant__map(b, t, &in[i]))) return st;
            st = nn_quant__f16_input(b, t, half, &in[i]);
            if (st) return st;
            continue;
        }
        if ((st = nn_quant__map(b, t, &in[i]))) return st;
    }
    for (i = 0; i < n->output_count; i++) {
        outs[i] = n->outputs[i];
        if (outs[i].id != NN_INVALID_ID && (st = nn_quant__map(b, n->outputs[i], &outs[i]))) return st;
    }
    if ((st = nn_graph_add_node(b->q, n->op_type, n->domain, n->name, in, n->input_count, outs, n->output_count, &id,
                                b->diag)))
        return st;
    if (n->origin) b->q->nodes[id.id].origin = nn_arena_strdup(&b->q->arena, n->origin, strlen(n->origin));
    for (i = 0; i < n->attr_count; i++) {
        if (n->attrs[i].type == NN_ATTR_GRAPH || n->attrs[i].type == NN_ATTR_GRAPHS)
            return nn_diag_set(b->diag, NN_ERR_UNSUPPORTED, n->name, "subgraph attributes are not quantized");
        if ((st = nn_graph_add_attr(b->q, id, &n->attrs[i], 0, b->diag))) return st;
    }
    return NN_OK;
}

/* QuantizeLinear/DequantizeLinear take 16-bit and 4-bit integers only from
   opset 21 (ONNX operator changelog, QuantizeLinear-21).  A QDQ graph that
   holds such a tensor at a lower opset runs in nnport's fake-quant executor,
   but ONNX Runtime refuses to load it (1.30: "Type 'tensor(int16)' of input
   parameter (x_zero_point) of operator (QuantizeLinear) ... is invalid").
   So the finished QDQ graph is brought to opset 21 by nn_graph.h's opset
   pass; the Q/DQ nodes themselves mean the same at 13 and 21.  A graph the
   pass cannot take that far is kept as it is, with a note. */
static nn_status nn_quant__fit_opset(nn_quant__b *b) {
    nn_graph *q = b->q;
    nn_pass_desc pd;
    nn_diag pass_diag;
    uint32_t i, wide = 0;
    int64_t op = nn_graph_opset(q, "");
    if (op >= 21 || op < 10) return NN_OK;
    for (i = 0; i < q->node_count && !wide; i++) {
        const nn_node *n = &q->nodes[i];
        nn_tensor_id t;
        nn_dtype dt;
        if (strcmp(n->op_type, "DequantizeLinear") && strcmp(n->op_type, "QuantizeLinear")) continue;
        t = !strcmp(n->op_type, "DequantizeLinear") ? n->inputs[0] : n->outputs[0];
        if (t.id == NN_INVALID_ID) continue;
        dt = q->tensors[t.id].dtype;
        wide = dt == NN_DTYPE_INT16 || dt == NN_DTYPE_UINT16 || dt == NN_DTYPE_INT4 || dt == NN_DTYPE_UINT4;
    }
    if (!wide) return NN_OK;
    memset(&pd, 0, sizeof pd);
    pd.target_opset = 21;
    memset(&pass_diag, 0, sizeof pass_diag);
    if (nn_graph_run_passes(q, "opset", &pd, NULL, &pass_diag) || nn_graph_opset(q, "") < 21)
        nn_quant__logf(b->d.log, b->d.log_user, "opset %lld: 16-bit or 4-bit QuantizeLinear/DequantizeLinear need "
                       "opset 21, and the opset pass could not upgrade this graph (%s); the QDQ graph runs in "
                       "nnport's fake-quant executor but other tools will refuse it", (long long)op,
                       pass_diag.message[0] ? pass_diag.message : "it stopped below 21");
    return NN_OK;
}

NN_API nn_status nn_quant_graph(const nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *desc,
                                nn_graph **out, nn_quant_stats *stats, nn_diag *diag) {
    nn_quant__b b;
    nn_graph_desc gd;
    uint32_t *order = NULL, i;
    nn_status st;
    NN_ASSERT(g && ranges && out);
    memset(&b, 0, sizeof b);
    if (desc) b.d = *desc;
    if (b.d.weight_bits == 0) b.d.weight_bits = 8;
    if (b.d.weight_bits != 8 && b.d.weight_bits != 4)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_quant_desc.weight_bits", "%d bits: 8 or 4", b.d.weight_bits);
    if (b.d.weight_group && nn_graph_opset(g, "") < 21)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_quant_desc.weight_group",
                           "groups need DequantizeLinear's block_size (opset 21); the graph is opset %lld: "
                           "run the opset pass with target_opset 21 first", (long long)nn_graph_opset(g, ""));
    if ((int)b.d.weight_rounding < 0 || (int)b.d.weight_rounding > (int)NN_QUANT_ROUND_SUM)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_quant_desc.weight_rounding", "unknown rounding %d", (int)b.d.weight_rounding);
    if ((int)b.d.recipe < 0 || (int)b.d.recipe > (int)NN_QUANT_RECIPE_ALL_INT)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_quant_desc.recipe", "unknown recipe %d", (int)b.d.recipe);
    if ((int)b.d.scheme < 0 || (int)b.d.scheme > (int)NN_QUANT_S16_SYM)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_quant_desc.scheme", "unknown scheme %d", (int)b.d.scheme);
    if (g->subgraph_count)
        return nn_diag_set(diag, NN_ERR_UNSUPPORTED, "nn_quant_graph", "graphs with subgraphs are not quantized");
    b.g = g;
    b.diag = diag;
    memset(&gd, 0, sizeof gd);
    gd.alloc = b.d.alloc;
    gd.name = g->name;
    order = (uint32_t *)nn_alloc(&b.d.alloc, ((size_t)g->node_count + 1) * sizeof *order);
    b.map = (nn_tensor_id *)nn_alloc(&b.d.alloc, ((size_t)g->tensor_count + 1) * sizeof *b.map);
    b.tq = (nn_quant__tq *)nn_alloc(&b.d.alloc, ((size_t)g->tensor_count + 1) * sizeof *b.tq);
    b.consumers = (uint32_t *)nn_alloc(&b.d.alloc, ((size_t)g->tensor_count + 1) * sizeof *b.consumers);
    b.mode = (nn_quant_dtype *)nn_alloc(&b.d.alloc, ((size_t)g->node_count + 1) * sizeof *b.mode);
    b.chain = (uint8_t *)nn_alloc(&b.d.alloc, (size_t)g->node_count + 1);
    if (!order || !b.map || !b.tq || !b.consumers || !b.mode || !b.chain) {
        st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_graph", "out of memory");
        goto done;
    }
    memset(b.chain, 0, (size_t)g->node_count + 1);
    memset(b.tq, 0, (size_t)g->tensor_count * sizeof *b.tq);
    memset(b.consumers, 0, (size_t)g->tensor_count * sizeof *b.consumers);
    for (i = 0; i < g->tensor_count; i++) { b.map[i].id = NN_INVALID_ID; b.tq[i].dq.id = NN_INVALID_ID; }
    if ((st = nn_graph_topo_order(g, order, diag))) goto done;
    {   /* DequantizeLinear: opset 10..12 per tensor only; no Q/DQ before 10 */
        int64_t op = nn_graph_opset(g, "");
        if (op >= 10 && op < 13) {
            b.per_tensor = 1;
            nn_quant__logf(b.d.log, b.d.log_user, "opset %lld: DequantizeLinear has no axis before opset 13, "
                           "weights are quantized per tensor", (long long)op);
        } else if (op < 10) {
            nn_quant__logf(b.d.log, b.d.log_user, "opset %lld has no QuantizeLinear (opset 10): the QDQ graph "
                           "runs in nnport's fake-quant executor but is not valid ONNX for other tools; "
                           "upgrade the model to opset 13 for an exportable QDQ model", (long long)op);
        }
    }
    if ((st = nn_graph_create(&gd, &b.q, diag))) goto done;
    b.q->ir_version = g->ir_version;
    for (i = 0; i < g->opset_count && st == NN_OK; i++) st = nn_graph_set_opset(b.q, g->opsets[i].domain, g->opsets[i].version, diag);
    if (st == NN_OK) st = nn_quant__plan(&b, ranges, order);
    for (i = 0; i < g->input_count && st == NN_OK; i++) {
        nn_tensor_id t;
        st = nn_quant__map(&b, g->inputs[i], &t);
        if (st == NN_OK) st = nn_graph_add_input(b.q, t, diag);
    }
    for (i = 0; i < g->node_count && st == NN_OK; i++) st = nn_quant__emit(&b, order[i]);
    for (i = 0; i < g->output_count && st == NN_OK; i++) {
        nn_tensor_id t;
        st = nn_quant__map(&b, g->outputs[i], &t);
        if (st == NN_OK) st = nn_graph_add_output(b.q, t, diag);
    }
    if (st == NN_OK) st = nn_graph_sort(b.q, diag);
    if (st == NN_OK) st = nn_quant__fit_opset(&b);
    if (st == NN_OK) {
        *out = b.q;
        b.q = NULL;
        if (stats) *stats = b.stats;
    }
done:
    if (b.q) nn_graph_destroy(b.q);
    nn_free(&b.d.alloc, order);
    nn_free(&b.d.alloc, b.map);
    nn_free(&b.d.alloc, b.tq);
    nn_free(&b.d.alloc, b.consumers);
    nn_free(&b.d.alloc, b.chain);
    nn_free(&b.d.alloc, b.mode);
    return st;
}

NN_API int nn_quant_graph_is_qdq(const nn_graph *g) {
    uint32_t i;
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        if (!strcmp(n->op_type, "DequantizeLinear") && n->input_count && n->inputs[0].id != NN_INVALID_ID) {
            nn_dtype t = g->tensors[n->inputs[0].id].dtype;
            if (t == NN_DTYPE_INT8 || t == NN_DTYPE_UINT8 || t == NN_DTYPE_INT16 || t == NN_DTYPE_UINT16 ||
                t == NN_DTYPE_INT4 || t == NN_DTYPE_UINT4)
                return 1;
        }
    }
    return 0;
}

/* ---- fake-quant executor ---------------------------------------------------- */

enum { NN_QX__CONV = 1, NN_QX__GEMM, NN_QX__MATMUL, NN_QX__ADD, NN_QX__SUB, NN_QX__MUL, NN_QX__POOL, NN_QX__LUT, NN_QX__MOVE };

/* Groups with a second activation operand (gr->b). */
#define NN_QX__TWO(kind) ((kind) == NN_QX__MATMUL || (kind) == NN_QX__ADD || (kind) == NN_QX__SUB || (kind) == NN_QX__MUL)

/* One DequantizeLinear input: integer tensor, scale, zero point. */
typedef struct nn_qexec__dq {
    nn_tensor_id t;
    nn_dtype dtype;
    const float *scale;
    uint32_t scale_count;
    int32_t zp;
    int64_t axis;
} nn_qexec__dq;

/* A DQ -> op [-> Relu/Clip] -> Q group run with integer kernels. */
typedef struct nn_qexec__group {
    int kind;
    uint32_t op_node, q_node;
    nn_qexec__dq a, b;          /* operands (b: weights for Conv/Gemm) */
    nn_tensor_id y;             /* the QuantizeLinear output */
    nn_dtype ydtype;
    double sy;
    int32_t zy, act_lo, act_hi; /* clamp in the output's own domain */
    int8_t *w;                  /* Conv (M, C/g, KH, KW) or Gemm packed (K, N) */
    int32_t *bias;              /* (M) / (N) or NULL */
    nn_quant_multiplier *mult;  /* (M) / (N) */
    int32_t nmult, wk, wn;      /* Gemm K and N */
    int wide;                   /* Conv, Gemm, Add/Sub/Mul or pool on int16 activations (W8A16) */
    uint8_t lut8[256];          /* LUT over raw input bytes -> raw output bytes */
    int16_t *lut16;             /* int16 -> int16, or int16 -> 8-bit (entries in the output's domain) */
} nn_qexec__group;

typedef struct nn_qexec__step { uint32_t node; int32_t group; /* -1: a float node */ } nn_qexec__step;

struct nn_qexec {
    const nn_graph *g;
    nn_allocator alloc;
    nn_qexec_desc d;
    const nn_op_def **defs;     /* (node_count) */
    nn_qexec__step *steps;
    uint32_t step_count;
    nn_qexec__group *groups;
    uint32_t group_count;
    nn_value *vals;             /* (tensor_count) */
    uint32_t *uses, *left;      /* (tensor_count) */
    uint32_t *order;            /* (node_count) topological */
    int32_t *gidx;              /* (node_count) group a Q node heads, or -1 */
    uint8_t *mode;              /* (node_count) 0 float, 1 absorbed into a group, 2 a group's Q node */
    uint8_t *given;             /* (tensor_count) nn_qexec_set_given, or NULL */
    nn_qexec_stats stats;
};

/* Q/DQ of a graph below opset 13 (nn_quant_graph's form for opset < 10
   models) run with their opset-13 definition; other nodes at their own. */
static int64_t nn_quant__node_opset(const nn_graph *g, const nn_node *n) {
    int64_t op = nn_graph_opset(g, n->domain);
    if ((!n->domain[0] || !strcmp(n->domain, "ai.onnx")) && op < 13 &&
        (!strcmp(n->op_type, "QuantizeLinear") || !strcmp(n->op_type, "DequantizeLinear")))
        return 13;
    return op;
}

static void nn_qexec__ctx(nn_qexec *x, nn_op_ctx *c, const nn_node *n, nn_diag *diag) {
    memset(c, 0, sizeof *c);
    c->graph = x->g;
    c->node = n;
    c->opset = n ? nn_quant__node_opset(x->g, n) : 0;
    c->diag = diag;
    c->alloc = &x->alloc;
}

/* Frees a kernel's scratch chain.  With no exec, nn_graph.h allocates each
   scratch block with nn_alloc and links it through its first field (the
   nn_exec__block header); nn_graph.h has no public call for this yet. */
static void nn_qexec__scratch_free(nn_op_ctx *c) {
    void *b = c->scratch;
    while (b) {
        void *next = *(void **)b;
        nn_free(c->alloc, b);
        b = next;
    }
    c->scratch = NULL;
}

static const nn_tensor *nn_qexec__const(const nn_graph *g, nn_tensor_id t) {
    if (t.id == NN_INVALID_ID) return NULL;
    return (g->tensors[t.id].flags & NN_TENSOR_CONST) && g->tensors[t.id].data ? &g->tensors[t.id] : NULL;
}

/* The single consumer of tensor t (node index), or NN_INVALID_ID when it
   has none, several, or is a graph output. */
static uint32_t nn_qexec__only_consumer(const nn_graph *g, const uint32_t *cons, nn_tensor_id t) {
    uint32_t i, j, found = NN_INVALID_ID, cnt = 0;
    if (g->tensors[t.id].flags & NN_TENSOR_OUTPUT) return NN_INVALID_ID;
    if (cons[t.id] != 1) return NN_INVALID_ID;
    for (i = 0; i < g->node_count && !cnt; i++)
        for (j = 0; j < g->nodes[i].input_count; j++)
            if (g->nodes[i].inputs[j].id == t.id) { found = i; cnt++; break; }
    return found;
}

/* Reads a DequantizeLinear node feeding tensor t.  want_const: 1 weights, 0
   activations.  Returns 0 if t is not such a DQ output. */
static int nn_qexec__read_dq(const nn_graph *g, nn_tensor_id t, int want_const, nn_qexec__dq *out, uint32_t *dq_node) {
    const nn_node *n;
    const nn_tensor *s, *z, *xt;
    uint32_t i;
    if (t.id == NN_INVALID_ID || g->tensors[t.id].producer.id == NN_INVALID_ID) return 0;
    n = &g->nodes[g->tensors[t.id].producer.id];
    if (strcmp(n->op_type, "DequantizeLinear") != 0 || (n->domain[0] && strcmp(n->domain, "ai.onnx")) ||
        n->input_count < 2 || n->inputs[0].id == NN_INVALID_ID)
        return 0;
    if (nn_node_attr(n, "block_size") && nn_node_attr_int(n, "block_size", 0) != 0) return 0;
    xt = &g->tensors[n->inputs[0].id];
    s = nn_qexec__const(g, n->inputs[1]);
    z = n->input_count > 2 ? nn_qexec__const(g, n->inputs[2]) : NULL;
    if (!s || s->dtype != NN_DTYPE_FLOAT || s->data_bytes < 4) return 0;
    if (n->input_count > 2 && n->inputs[2].id != NN_INVALID_ID && !z) return 0;
    if (want_const != (nn_qexec__const(g, n->inputs[0]) != NULL)) return 0;
    memset(out, 0, sizeof *out);
    out->t = n->inputs[0];
    /* the integer type: the zero point's (ONNX ties them), else the tensor's
       if known, else uint8 (DequantizeLinear's default) */
    out->dtype = z ? z->dtype : xt->dtype != NN_DTYPE_UNDEFINED ? xt->dtype : NN_DTYPE_UINT8;
    out->scale = (const float *)s->data;
    out->scale_count = (uint32_t)(s->data_bytes / 4);
    out->axis = nn_node_attr_int(n, "axis", 1);
    if (z) {
        size_t zc = z->data_bytes / (nn_dtype_size(z->dtype) ? nn_dtype_size(z->dtype) : 1);
        if (xt->dtype != NN_DTYPE_UNDEFINED && z->dtype != xt->dtype) return 0;
        for (i = 0; i < zc; i++) {
            int32_t v = z->dtype == NN_DTYPE_INT8 ? ((const int8_t *)z->data)[i]
                        : z->dtype == NN_DTYPE_UINT8 ? ((const uint8_t *)z->data)[i]
                        : z->dtype == NN_DTYPE_INT16 ? ((const int16_t *)z->data)[i]
                        : z->dtype == NN_DTYPE_INT32 ? ((const int32_t *)z->data)[i] : 0;
            if (i == 0) out->zp = v;
            else if (v != out->zp) return 0; /* per-channel zero points: not handled */
        }
    }
    if (dq_node) *dq_node = g->tensors[t.id].producer.id;
    return 1;
}

static int nn_qexec__is_8bit(nn_dtype t) { return t == NN_DTYPE_INT8 || t == NN_DTYPE_UINT8; }

/* Node n of a table chain (see nn_qexec__chain): a unary op with a table
   function (Clip excepted), or Mul/Add (either order) / Sub/Div (x first)
   by a one-element constant, float or behind a DequantizeLinear.  *x is the
   chain input, *v the constant. */
static int nn_qexec__chain_op(const nn_graph *g, const nn_node *n, uint32_t *x, double *v) {
    double ctx[2];
    int k;
    if (n->output_count != 1 || n->outputs[0].id == NN_INVALID_ID) return 0;
    if (n->input_count == 1 && strcmp(n->op_type, "Clip") && nn_quant_unary_for(n, ctx)) {
        *x = n->inputs[0].id;
        return n->inputs[0].id != NN_INVALID_ID;
    }
    if (n->input_count != 2 || n->domain[0] ||
        (strcmp(n->op_type, "Mul") && strcmp(n->op_type, "Add") && strcmp(n->op_type, "Sub") && strcmp(n->op_type, "Div")))
        return 0;
    for (k = 0; k < 2; k++) {
        nn_tensor_id c = n->inputs[1 - k];
        const nn_tensor *ct = nn_qexec__const(g, c);
        nn_qexec__dq dq;
        uint32_t dn;
        int ok;
        if (k == 1 && (!strcmp(n->op_type, "Sub") || !strcmp(n->op_type, "Div"))) return 0;
        if (n->inputs[k].id == NN_INVALID_ID) continue;
        if (ct && ct->dtype == NN_DTYPE_FLOAT && nn_shape_count(&ct->shape, &ok) == 1 && ok) {
            *v = ((const float *)ct->data)[0];
        } else if (nn_qexec__read_dq(g, c, 1, &dq, &dn) && dq.scale_count == 1 && nn_shape_count(&g->tensors[dq.t.id].shape, &ok) == 1 &&
                   ok) {
            const nn_tensor *qt = &g->tensors[dq.t.id];
            double q = qt->dtype == NN_DTYPE_INT8 ? ((const int8_t *)qt->data)[0] : qt->dtype == NN_DTYPE_UINT8 ? ((const uint8_t *)qt->data)[0]
                     : qt->dtype == NN_DTYPE_INT32 ? ((const int32_t *)qt->data)[0] : NAN;
            if (q != q) continue;
            *v = (q - dq.zp) * dq.scale[0];
        } else {
            continue;
        }
        *x = n->inputs[k].id;
        return 1;
    }
    return 0;
}

/* A table chain ending at node ki: nodes read one after another, each
   output read only by the next (the quantizer leaves them unquantized,
   nn_quant_graph's "chain" rule), starting at a unary table op whose input
   is an 8-bit or int16 (preact16) per-tensor DequantizeLinear output (*a,
   *dqa); the caller makes chains with an 8-bit output only.  PP-LCNetV3's
   HardSwish -> Mul a -> Add b.  Returns the node count (>= 2) with the
   nodes first to last in chain[] and what each computes in link[], 0 when
   ki ends no chain. */
#define NN_QEXEC__MAX_CHAIN 8
typedef struct nn_qexec__link {
    nn_quant_unary_fn fn; /* unary table op (with ctx), or NULL: */
    double ctx[2];
    char op;              /* '*', '+', '-', '/' by c */
    double c;
} nn_qexec__link;

static int nn_qexec__chain(const nn_graph *g, const uint32_t *cons, uint32_t ki, uint32_t *chain, nn_qexec__link *link,
                           nn_qexec__dq *a, uint32_t *dqa) {
    uint32_t rev[NN_QEXEC__MAX_CHAIN], cur = ki, x, i;
    double v[NN_QEXEC__MAX_CHAIN];
    int n = 0;
    while (n < NN_QEXEC__MAX_CHAIN && nn_qexec__chain_op(g, &g->nodes[cur], &x, &v[n])) {
        nn_tensor_id xt;
        rev[n++] = cur;
        xt.id = x;
        if (nn_qexec__read_dq(g, xt, 0, a, dqa)) {
            if (n < 2 || g->nodes[cur].input_count != 1 || a->scale_count != 1 ||
                (!nn_qexec__is_8bit(a->dtype) && a->dtype != NN_DTYPE_INT16))
                return 0;
            for (i = 0; i < (uint32_t)n; i++) {
                const nn_node *nd = &g->nodes[rev[n - 1 - i]];
                nn_qexec__link *l = &link[i];
                chain[i] = rev[n - 1 - i];
                memset(l, 0, sizeof *l);
                l->fn = nd->input_count == 1 ? nn_quant_unary_for(nd, l->ctx) : NULL;
                l->op = nd->op_type[0] == 'M' ? '*' : nd->op_type[0] == 'A' ? '+' : nd->op_type[0] == 'S' ? '-' : '/';
                l->c = v[n - 1 - i];
            }
            return n;
        }
        if (g->tensors[x].producer.id == NN_INVALID_ID || nn_qexec__only_consumer(g, cons, xt) != cur) return 0;
        cur = g->tensors[x].producer.id;
    }
    return 0;
}

/* The chain's function of its input value, in double. */
static double nn_qexec__chain_eval(const nn_qexec__link *link, int n, double v) {
    int i;
    for (i = 0; i < n; i++) {
        const nn_qexec__link *l = &link[i];
        v = l->fn ? l->fn(v, l->ctx) : l->op == '*' ? v * l->c : l->op == '+' ? v + l->c : l->op == '-' ? v - l->c : v / l->c;
    }
    return v;
}

/* A data-movement op (it only moves or selects elements of input 0) whose
   other inputs are constants: between a DequantizeLinear and a
   QuantizeLinear of the same scale and zero point, DQ -> op -> Q is the op
   on the integers themselves (x * s / s returns x exactly). */
static int nn_qexec__move_op(const nn_graph *g, const nn_node *k) {
    static const char *const ops[] = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Slice", "Gather", "Identity", NULL};
    uint32_t i;
    if (!nn_quant__op_is(k, ops) || k->input_count < 1 || k->output_count != 1) return 0;
    for (i = 1; i < k->input_count; i++)
        if (k->inputs[i].id != NN_INVALID_ID && !nn_qexec__const(g, k->inputs[i])) return 0;
    return 1;
}

/* Tries to make an integer group ending at QuantizeLinear node qi. */
static nn_status nn_qexec__match(nn_qexec *x, const uint32_t *cons, uint32_t qi, uint8_t *absorbed, int *made) {
    const nn_graph *g = x->g;
    const nn_node *q = &g->nodes[qi], *k, *act = NULL;
    nn_qexec__group gr;
    const nn_tensor *qs, *qz;
    uint32_t ki, ai = NN_INVALID_ID, dqa = NN_INVALID_ID, dqb = NN_INVALID_ID, dqc = NN_INVALID_ID;
    nn_qexec__dq c;
    double lo = -INFINITY, hi = INFINITY, qlo, qhi, ctx[2];
    nn_quant_unary_fn fn = NULL;
    uint32_t chain[NN_QEXEC__MAX_CHAIN];
    nn_qexec__link link[NN_QEXEC__MAX_CHAIN];
    int nchain = 0;
    *made = 0;
    memset(&gr, 0, sizeof gr);
    memset(&c, 0, sizeof c);
    if (q->input_count < 3 || q->inputs[0].id == NN_INVALID_ID || q->outputs[0].id == NN_INVALID_ID) return NN_OK;
    if (nn_node_attr(q, "block_size") && nn_node_attr_int(q, "block_size", 0) != 0) return NN_OK;
    qs = nn_qexec__const(g, q->inputs[1]);
    qz = nn_qexec__const(g, q->inputs[2]);
    if (!qs || !qz || qs->dtype != NN_DTYPE_FLOAT || qs->data_bytes != 4) return NN_OK;
    gr.ydtype = qz->dtype;
    if (qz->dtype == NN_DTYPE_INT8) { gr.zy = ((const int8_t *)qz->data)[0]; qlo = -128; qhi = 127; }
    else if (qz->dtype == NN_DTYPE_UINT8) { gr.zy = ((const uint8_t *)qz->data)[0]; qlo = 0; qhi = 255; }
    else if (qz->dtype == NN_DTYPE_INT16) { gr.zy = ((const int16_t *)qz->data)[0]; qlo = -32768; qhi = 32767; }
    else return NN_OK;
    gr.sy = ((const float *)qs->data)[0];
    if (!(gr.sy > 0)) return NN_OK;
    gr.y = q->outputs[0];
    gr.q_node = qi;
    if (g->tensors[q->inputs[0].id].producer.id == NN_INVALID_ID) return NN_OK;
    ki = g->tensors[q->inputs[0].id].producer.id;
    if (nn_qexec__only_consumer(g, cons, q->inputs[0]) != qi) return NN_OK;
    k = &g->nodes[ki];
    if (nn_quant__op_is(k, nn_quant__act_ops) && k->input_count && k->inputs[0].id != NN_INVALID_ID &&
        g->tensors[k->inputs[0].id].producer.id != NN_INVALID_ID && nn_quant__clip_bounds(g, k, &lo, &hi)) {
        uint32_t pi = g->tensors[k->inputs[0].id].producer.id;
        const nn_node *p = &g->nodes[pi];
        if ((nn_quant__op_is(p, nn_quant__linear_ops) || nn_quant__op_is(p, nn_quant__eltwise_ops)) &&
            nn_qexec__only_consumer(g, cons, k->inputs[0]) == ki) {
            act = k;
            ai = ki;
            ki = pi;
            k = p;
        } else {
            lo = -INFINITY;
            hi = INFINITY;
        }
    }
    gr.op_node = ki;
    gr.act_lo = (int32_t)qlo;
    gr.act_hi = (int32_t)qhi;
    if (act) {
        if (lo > -INFINITY) { double v = rint(lo / gr.sy) + gr.zy; gr.act_lo = (int32_t)(v < qlo ? qlo : v > qhi ? qhi : v); }
        if (hi < INFINITY) { double v = rint(hi / gr.sy) + gr.zy; gr.act_hi = (int32_t)(v < qlo ? qlo : v > qhi ? qhi : v); }
    }
    if (!act && nn_qexec__is_8bit(gr.ydtype) && (nchain = nn_qexec__chain(g, cons, ki, chain, link, &gr.a, &dqa)) > 0) {
        gr.kind = NN_QX__LUT; /* one table for the whole chain */
        gr.op_node = chain[0]; /* the unary head: the lowering infers the (unchanged) shape from it */
    } else if (!strcmp(k->op_type, "Conv") && k->input_count >= 2) {
        const nn_tensor *wt;
        if (!nn_qexec__read_dq(g, k->inputs[0], 0, &gr.a, &dqa) || gr.a.scale_count != 1) return NN_OK;
        /* W8A16, or an 8-bit input widened to an int16 output (preact16) */
        if (gr.ydtype == NN_DTYPE_INT16 && (gr.a.dtype == NN_DTYPE_INT16 || nn_qexec__is_8bit(gr.a.dtype))) gr.wide = 1;
        else if (!nn_qexec__is_8bit(gr.a.dtype)) return NN_OK;
        if (!nn_qexec__read_dq(g, k->inputs[1], 1, &gr.b, &dqb) || gr.b.dtype != NN_DTYPE_INT8 || gr.b.zp != 0) return NN_OK;
        wt = &g->tensors[gr.b.t.id];
        if (wt->shape.rank != 4 && wt->shape.rank != 3) return NN_OK;
        if (gr.b.scale_count != 1 && (gr.b.axis != 0 || gr.b.scale_count != (uint32_t)wt->shape.dims[0])) return NN_OK;
        if (k->input_count > 2 && k->inputs[2].id != NN_INVALID_ID &&
            (!nn_qexec__read_dq(g, k->inputs[2], 1, &c, &dqc) || c.dtype != NN_DTYPE_INT32)) return NN_OK;
        gr.kind = NN_QX__CONV;
        gr.nmult = (int32_t)wt->shape.dims[0];
    } else if ((!strcmp(k->op_type, "Gemm") || !strcmp(k->op_type, "MatMul")) && k->input_count >= 2) {
        int gemm = !strcmp(k->op_type, "Gemm");
        if (gemm && (nn_node_attr_int(k, "transA", 0) || nn_node_attr_float(k, "alpha", 1.0f) != 1.0f ||
                     nn_node_attr_float(k, "beta", 1.0f) != 1.0f))
            return NN_OK;
        if (!nn_qexec__read_dq(g, k->inputs[0], 0, &gr.a, &dqa) || gr.a.scale_count != 1) return NN_OK;
        /* W8A16 or preact16 (8-bit input widened): constant B only */
        if (gr.ydtype == NN_DTYPE_INT16 && (gr.a.dtype == NN_DTYPE_INT16 || nn_qexec__is_8bit(gr.a.dtype))) gr.wide = 1;
        else if (!nn_qexec__is_8bit(gr.a.dtype)) return NN_OK;
        if (nn_qexec__read_dq(g, k->inputs[1], 1, &gr.b, &dqb)) {
            const nn_tensor *wt = &g->tensors[gr.b.t.id];
            int tb = gemm && nn_node_attr_int(k, "transB", 0);
            if (gr.b.dtype != NN_DTYPE_INT8 || gr.b.zp != 0 || wt->shape.rank != 2) return NN_OK;
            gr.wk = (int32_t)wt->shape.dims[tb ? 1 : 0];
            gr.wn = (int32_t)wt->shape.dims[tb ? 0 : 1];
            if (gr.b.scale_count != 1 && (gr.b.scale_count != (uint32_t)gr.wn || gr.b.axis != (tb ? 0 : 1))) return NN_OK;
            if (k->input_count > 2 && k->inputs[2].id != NN_INVALID_ID &&
                (!nn_qexec__read_dq(g, k->inputs[2], 1, &c, &dqc) || c.dtype != NN_DTYPE_INT32 ||
                 g->tensors[c.t.id].shape.rank != 1 || g->tensors[c.t.id].shape.dims[0] != gr.wn))
                return NN_OK;
            gr.kind = NN_QX__GEMM;
            gr.nmult = gr.wn;
        } else if (!gemm && !gr.wide && nn_qexec__read_dq(g, k->inputs[1], 0, &gr.b, &dqb) && nn_qexec__is_8bit(gr.b.dtype) &&
                   gr.b.scale_count == 1) {
            gr.kind = NN_QX__MATMUL;
            gr.nmult = 1;
        } else {
            return NN_OK;
        }
    } else if (nn_quant__op_is(k, nn_quant__eltwise_ops) && k->input_count == 2) {
        if (!nn_qexec__read_dq(g, k->inputs[0], 0, &gr.a, &dqa) && !nn_qexec__read_dq(g, k->inputs[0], 1, &gr.a, &dqa)) return NN_OK;
        if (!nn_qexec__read_dq(g, k->inputs[1], 0, &gr.b, &dqb) && !nn_qexec__read_dq(g, k->inputs[1], 1, &gr.b, &dqb)) return NN_OK;
        if (gr.a.scale_count != 1 || gr.b.scale_count != 1) return NN_OK;
        if (gr.ydtype == NN_DTYPE_INT16 && (gr.a.dtype == NN_DTYPE_INT16 || nn_qexec__is_8bit(gr.a.dtype)) &&
            (gr.b.dtype == NN_DTYPE_INT16 || nn_qexec__is_8bit(gr.b.dtype)) &&
            (gr.a.dtype == NN_DTYPE_INT16 || gr.b.dtype == NN_DTYPE_INT16))
            gr.wide = 1; /* W8A16; an 8-bit operand (a constant, typically) is widened */
        else if (!nn_qexec__is_8bit(gr.a.dtype) || !nn_qexec__is_8bit(gr.b.dtype) || gr.ydtype == NN_DTYPE_INT16) return NN_OK;
        gr.kind = !strcmp(k->op_type, "Add") ? NN_QX__ADD : !strcmp(k->op_type, "Sub") ? NN_QX__SUB : NN_QX__MUL;
        gr.nmult = 1;
    } else if ((!strcmp(k->op_type, "GlobalAveragePool") ||
                (!strcmp(k->op_type, "AveragePool") && !strcmp(nn_node_attr_string(k, "auto_pad", "NOTSET"), "NOTSET"))) &&
               !act) {
        if (!nn_qexec__read_dq(g, k->inputs[0], 0, &gr.a, &dqa) || gr.a.scale_count != 1) return NN_OK;
        if (gr.a.dtype == NN_DTYPE_INT16 && gr.ydtype == NN_DTYPE_INT16) gr.wide = 1;
        else if (!nn_qexec__is_8bit(gr.a.dtype) || gr.ydtype == NN_DTYPE_INT16) return NN_OK;
        if (g->tensors[k->inputs[0].id].shape.rank != 4 && g->tensors[k->inputs[0].id].shape.rank != NN_RANK_UNKNOWN) return NN_OK;
        gr.kind = NN_QX__POOL;
    } else if (!act && nn_qexec__move_op(g, k)) {
        /* data movement between two quantizations with one scale and zero point: run on the integers */
        if (!nn_qexec__read_dq(g, k->inputs[0], 0, &gr.a, &dqa) || gr.a.scale_count != 1 || gr.a.dtype != gr.ydtype ||
            (double)gr.a.scale[0] != gr.sy || gr.a.zp != gr.zy)
            return NN_OK;
        gr.kind = NN_QX__MOVE;
    } else if (!act && k->input_count >= 1 && (fn = nn_quant_unary_for(k, ctx)) != NULL) {
        if (!strcmp(k->op_type, "Clip")) {
            if (!nn_quant__clip_bounds(g, k, &ctx[0], &ctx[1])) return NN_OK;
            fn = nn_quant__f_clip;
        }
        if (!nn_qexec__read_dq(g, k->inputs[0], 0, &gr.a, &dqa) || gr.a.scale_count != 1) return NN_OK;
        if (!(nn_qexec__is_8bit(gr.a.dtype) && nn_qexec__is_8bit(gr.ydtype)) && gr.a.dtype != NN_DTYPE_INT16) return NN_OK;
        gr.kind = NN_QX__LUT;
    } else {
        return NN_OK;
    }
    if (nn_qexec__only_consumer(g, cons, k->outputs[0]) != (act ? ai : qi)) return NN_OK;
    /* constant preparation */
    if (gr.kind == NN_QX__CONV || gr.kind == NN_QX__GEMM) {
        const nn_tensor *wt = &g->tensors[gr.b.t.id];
        int32_t i, n = gr.nmult;
        size_t wcount = wt->data_bytes;
        gr.mult = (nn_quant_multiplier *)nn_alloc(&x->alloc, (size_t)n * sizeof *gr.mult);
        gr.w = (int8_t *)nn_alloc(&x->alloc, wcount + 1);
        if (dqc != NN_INVALID_ID) gr.bias = (int32_t *)nn_alloc(&x->alloc, (size_t)n * sizeof(int32_t));
        if (!gr.mult || !gr.w || (dqc != NN_INVALID_ID && !gr.bias)) goto nomem;
        if (gr.kind == NN_QX__GEMM && nn_node_attr_int(k, "transB", 0) && !strcmp(k->op_type, "Gemm")) {
            int32_t kk, j; /* (N, K) -> (K, N) */
            for (j = 0; j < gr.wn; j++)
                for (kk = 0; kk < gr.wk; kk++)
                    gr.w[(size_t)kk * gr.wn + j] = ((const int8_t *)wt->data)[(size_t)j * gr.wk + kk];
        } else {
            memcpy(gr.w, wt->data, wcount);
        }
        for (i = 0; i < n; i++) {
            double sw = gr.b.scale[gr.b.scale_count > 1 ? i : 0], sx = gr.a.scale[0];
            gr.mult[i] = nn_quant_multiplier_make(sx * sw / gr.sy);
            if (gr.bias) {
                const nn_tensor *bt = &g->tensors[c.t.id];
                double sb = c.scale[c.scale_count > 1 ? (uint32_t)i : 0], v = ((const int32_t *)bt->data)[i] - c.zp;
                /* a bias stored with another scale (another tool's export) is re-expressed in s_x * s_w */
                if (fabs(sb - sx * sw) > 1e-6 * fabs(sx * sw)) v = rint(v * sb / (sx * sw));
                gr.bias[i] = (int32_t)(v > 2147483647.0 ? 2147483647.0 : v < -2147483648.0 ? -2147483648.0 : v);
            }
        }
    } else if (gr.kind == NN_QX__MATMUL || gr.kind == NN_QX__MUL) {
        gr.mult = (nn_quant_multiplier *)nn_alloc(&x->alloc, sizeof *gr.mult);
        if (!gr.mult) goto nomem;
        gr.mult[0] = nn_quant_multiplier_make((double)gr.a.scale[0] * gr.b.scale[0] / gr.sy);
    } else if (gr.kind == NN_QX__LUT) {
        double sa = gr.a.scale[0];
        if (gr.a.dtype == NN_DTYPE_INT16 && gr.ydtype == NN_DTYPE_INT16) {
            gr.lut16 = (int16_t *)nn_alloc(&x->alloc, 65536 * sizeof(int16_t));
            if (!gr.lut16) goto nomem;
            nn_quant_lut_build_s16(gr.lut16, fn, ctx, sa, gr.a.zp, gr.sy, gr.zy);
        } else if (gr.a.dtype == NN_DTYPE_INT16) { /* int16 -> 8-bit (preact16): entries in the output's domain */
            int32_t r;
            gr.lut16 = (int16_t *)nn_alloc(&x->alloc, 65536 * sizeof(int16_t));
            if (!gr.lut16) goto nomem;
            for (r = -32768; r < 32768; r++) {
                double v = nchain ? nn_qexec__chain_eval(link, nchain, sa * (r - gr.a.zp)) : fn(sa * (r - gr.a.zp), ctx);
                gr.lut16[r + 32768] = (int16_t)nn_quant__quantize_d(v, gr.sy, gr.zy, (int32_t)qlo, (int32_t)qhi);
            }
        } else {
            int32_t r;
            for (r = 0; r < 256; r++) {
                int32_t qv = gr.a.dtype == NN_DTYPE_UINT8 ? r : (int32_t)(int8_t)(uint8_t)r;
                double v = nchain ? nn_qexec__chain_eval(link, nchain, sa * (qv - gr.a.zp)) : fn(sa * (qv - gr.a.zp), ctx);
                int32_t o = nn_quant__quantize_d(v, gr.sy, gr.zy, (int32_t)qlo, (int32_t)qhi);
                gr.lut8[r] = (uint8_t)(o & 0xff);
            }
        }
    }
    {   /* absorb: op, activation, Q, and DQ nodes read only by the op */
        nn_qexec__group *ng;
        if (x->group_count % 16 == 0) {
            ng = (nn_qexec__group *)nn_alloc(&x->alloc, ((size_t)x->group_count + 16) * sizeof *ng);
            if (!ng) goto nomem;
            if (x->group_count) memcpy(ng, x->groups, (size_t)x->group_count * sizeof *ng);
            nn_free(&x->alloc, x->groups);
            x->groups = ng;
        }
        x->groups[x->group_count++] = gr;
        absorbed[ki] = 1;
        for (int c2 = 0; c2 < nchain; c2++) absorbed[chain[c2]] = 1;
        absorbed[qi] = 2; /* the group runs here */
        if (ai != NN_INVALID_ID) absorbed[ai] = 1;
        if (dqb != NN_INVALID_ID && nn_qexec__const(g, gr.b.t) &&
            nn_qexec__only_consumer(g, cons, g->nodes[dqb].outputs[0]) == ki) absorbed[dqb] = 1;
        if (dqc != NN_INVALID_ID && nn_qexec__only_consumer(g, cons, g->nodes[dqc].outputs[0]) == ki) absorbed[dqc] = 1;
        *made = 1;
    }
    return NN_OK;
nomem:
    nn_free(&x->alloc, gr.mult);
    nn_free(&x->alloc, gr.w);
    nn_free(&x->alloc, gr.bias);
    nn_free(&x->alloc, gr.lut16);
    return NN_ERR_NOMEM;
}

NN_API void nn_qexec_destroy(nn_qexec *x) {
    uint32_t i;
    nn_op_ctx c;
    if (!x) return;
    nn_qexec__ctx(x, &c, NULL, NULL);
    if (x->vals)
        for (i = 0; i < x->g->tensor_count; i++) nn_op_free_value(&c, &x->vals[i]);
    for (i = 0; i < x->group_count; i++) {
        nn_free(&x->alloc, x->groups[i].mult);
        nn_free(&x->alloc, x->groups[i].w);
        nn_free(&x->alloc, x->groups[i].bias);
        nn_free(&x->alloc, x->groups[i].lut16);
    }
    nn_free(&x->alloc, x->groups);
    nn_free(&x->alloc, x->defs);
    nn_free(&x->alloc, x->steps);
    nn_free(&x->alloc, x->vals);
    nn_free(&x->alloc, x->uses);
    nn_free(&x->alloc, x->left);
    nn_free(&x->alloc, x->order);
    nn_free(&x->alloc, x->gidx);
    nn_free(&x->alloc, x->mode);
    nn_free(&x->alloc, x->given);
    nn_free(&x->alloc, x);
}

/* The steps of a run, from the outputs back: a float node runs when
   something needed reads an output of it that is not given; a group reads
   only its integer inputs.  Also uses (readers per tensor) and the stats. */
static nn_status nn_qexec__plan(nn_qexec *x, nn_diag *diag) {
    const nn_graph *g = x->g;
    uint8_t *need = (uint8_t *)nn_alloc(&x->alloc, (size_t)g->tensor_count + 1);
    uint32_t i, j, k, skipped = 0;
    if (!need) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_qexec", "out of memory");
    memset(need, 0, g->tensor_count);
    memset(x->uses, 0, (size_t)g->tensor_count * sizeof *x->uses);
    x->step_count = 0;
    for (i = 0; i < g->output_count; i++) need[g->outputs[i].id] = 1;
    for (k = g->node_count; k-- > 0;) {
        uint32_t ni = x->order[k];
        const nn_node *n = &g->nodes[ni];
        int used = 0;
        if (x->mode[ni] == 1) continue;
        for (j = 0; j < n->output_count; j++) {
            uint32_t t = n->outputs[j].id;
            if (t != NN_INVALID_ID && need[t] && !(x->given && x->given[t])) used = 1;
        }
        if (!used) { if (strcmp(n->op_type, "DequantizeLinear") == 0) skipped++; continue; }
        if (x->gidx[ni] >= 0) {
            const nn_qexec__group *gr = &x->groups[x->gidx[ni]];
            need[gr->a.t.id] = 1;
            if (NN_QX__TWO(gr->kind))
                need[gr->b.t.id] = 1;
        } else {
            for (j = 0; j < n->input_count; j++)
                if (n->inputs[j].id != NN_INVALID_ID) need[n->inputs[j].id] = 1;
        }
        x->steps[x->step_count].node = ni;
        x->steps[x->step_count].group = x->gidx[ni];
        x->step_count++;
    }
    nn_free(&x->alloc, need);
    /* steps were collected backwards */
    for (i = 0; i < x->step_count / 2; i++) {
        nn_qexec__step t = x->steps[i];
        x->steps[i] = x->steps[x->step_count - 1 - i];
        x->steps[x->step_count - 1 - i] = t;
    }
    memset(&x->stats, 0, sizeof x->stats);
    x->stats.skipped_nodes = skipped;
    for (i = 0; i < x->step_count; i++) {
        const nn_qexec__step *s = &x->steps[i];
        if (s->group >= 0) {
            const nn_qexec__group *gr = &x->groups[s->group];
            x->stats.int_groups++;
            x->uses[gr->a.t.id]++;
            if (NN_QX__TWO(gr->kind))
                x->uses[gr->b.t.id]++;
        } else {
            const nn_node *n = &g->nodes[s->node];
            x->stats.float_nodes++;
            for (j = 0; j < n->input_count; j++)
                if (n->inputs[j].id != NN_INVALID_ID) x->uses[n->inputs[j].id]++;
        }
    }
    for (i = 0; i < g->output_count; i++) x->uses[g->outputs[i].id]++;
    return NN_OK;
}

NN_API nn_status nn_qexec_create(const nn_graph *g, const nn_qexec_desc *desc, nn_qexec **out, nn_diag *diag) {
    nn_qexec *x;
    uint32_t *order, *cons = NULL, i, j, k;
    uint8_t *absorbed;
    int32_t *gidx;
    nn_allocator a;
    nn_status st = NN_OK;
    NN_ASSERT(g && out);
    memset(&a, 0, sizeof a);
    if (desc) a = desc->alloc;
    if (g->subgraph_count) return nn_diag_set(diag, NN_ERR_UNSUPPORTED, "nn_qexec_create", "subgraphs are not supported");
    x = (nn_qexec *)nn_alloc(&a, sizeof *x);
    if (!x) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_qexec_create", "out of memory");
    memset(x, 0, sizeof *x);
    x->g = g;
    x->alloc = a;
    if (desc) x->d = *desc;
    x->defs = (const nn_op_def **)nn_alloc(&a, ((size_t)g->node_count + 1) * sizeof *x->defs);
    x->steps = (nn_qexec__step *)nn_alloc(&a, ((size_t)g->node_count + 1) * sizeof *x->steps);
    x->vals = (nn_value *)nn_alloc(&a, ((size_t)g->tensor_count + 1) * sizeof *x->vals);
    x->uses = (uint32_t *)nn_alloc(&a, ((size_t)g->tensor_count + 1) * sizeof *x->uses);
    x->left = (uint32_t *)nn_alloc(&a, ((size_t)g->tensor_count + 1) * sizeof *x->left);
    order = x->order = (uint32_t *)nn_alloc(&a, ((size_t)g->node_count + 1) * sizeof *order);
    cons = (uint32_t *)nn_alloc(&a, ((size_t)g->tensor_count + 1) * sizeof *cons);
    absorbed = x->mode = (uint8_t *)nn_alloc(&a, (size_t)g->node_count + 1);
    gidx = x->gidx = (int32_t *)nn_alloc(&a, ((size_t)g->node_count + 1) * sizeof *gidx);
    /* zeroed before the failure check: destroy frees every vals[i].data */
    if (x->vals) memset(x->vals, 0, ((size_t)g->tensor_count + 1) * sizeof *x->vals);
    if (!x->defs || !x->steps || !x->vals || !x->uses || !x->left || !order || !cons || !absorbed || !gidx) {
        st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_qexec_create", "out of memory");
        goto done;
    }
    memset(x->vals, 0, (size_t)g->tensor_count * sizeof *x->vals);
    memset(x->uses, 0, (size_t)g->tensor_count * sizeof *x->uses);
    memset(cons, 0, (size_t)g->tensor_count * sizeof *cons);
    memset(absorbed, 0, g->node_count);
    if ((st = nn_graph_topo_order(g, order, diag))) goto done;
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        gidx[i] = -1;
        x->defs[i] = nn_op_find(n->op_type, n->domain, nn_quant__node_opset(g, n));
        if (!x->defs[i] || (x->defs[i]->flags & NN_OPF_SUBGRAPH)) {
            st = nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name && n->name[0] ? n->name : n->op_type,
                             "op %s is not supported by the fake-quant executor", n->op_type);
            goto done;
        }
        for (j = 0; j < n->input_count; j++)
            if (n->inputs[j].id != NN_INVALID_ID) cons[n->inputs[j].id]++;
    }
    if (!x->d.float_only)
        for (k = 0; k < g->node_count; k++) {
            uint32_t ni = order[k];
            int made = 0;
            if (strcmp(g->nodes[ni].op_type, "QuantizeLinear") != 0) continue;
            if ((st = nn_qexec__match(x, cons, ni, absorbed, &made))) {
                nn_diag_set(diag, st, "nn_qexec_create", "out of memory");
                goto done;
            }
            if (made) gidx[ni] = (int32_t)x->group_count - 1;
        }
    if ((st = nn_qexec__plan(x, diag))) goto done;
    for (i = 0; i < g->tensor_count; i++) {
        const nn_tensor *t = &g->tensors[i];
        if (t->flags & NN_TENSOR_CONST) {
            x->vals[i] = nn_value_make(t->dtype, t->shape, t->data);
            x->vals[i].bytes = t->data_bytes;
        }
    }
done:
    nn_free(&a, cons);
    if (st) { nn_qexec_destroy(x); return st; }
    *out = x;
    return NN_OK;
}

NN_API nn_status nn_qexec_set_given(nn_qexec *x, const uint8_t *given, nn_diag *diag) {
    const nn_graph *g;
    nn_op_ctx c;
    uint32_t i;
    NN_ASSERT(x);
    g = x->g;
    nn_qexec__ctx(x, &c, NULL, diag);
    for (i = 0; i < g->tensor_count; i++) /* values of the last run: the plan changes */
        if (x->vals[i].flags & NN_VALUE_OWNED) nn_op_free_value(&c, &x->vals[i]);
    if (x->given)
        for (i = 0; i < g->tensor_count; i++)
            if (x->given[i]) memset(&x->vals[i], 0, sizeof x->vals[i]);
    nn_free(&x->alloc, x->given);
    x->given = NULL;
    if (given) {
        x->given = (uint8_t *)nn_alloc(&x->alloc, (size_t)g->tensor_count + 1);
        if (!x->given) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_qexec_set_given", "out of memory");
        for (i = 0; i < g->tensor_count; i++)
            x->given[i] = given[i] && !(g->tensors[i].flags & NN_TENSOR_CONST) && g->tensors[i].producer.id != NN_INVALID_ID;
    }
    return nn_qexec__plan(x, diag);
}

NN_API int nn_qexec_reads(const nn_qexec *x, uint32_t t) {
    NN_ASSERT(x);
    return t < x->g->tensor_count && x->uses[t] > 0;
}

NN_API nn_status nn_qexec_set_value(nn_qexec *x, uint32_t t, const nn_value *v, nn_diag *diag) {
    const nn_tensor *tt;
    NN_ASSERT(x && v);
    if (t >= x->g->tensor_count) return nn_diag_set(diag, NN_ERR_ARG, "nn_qexec_set_value", "no tensor %u", t);
    tt = &x->g->tensors[t];
    if (!x->given || !x->given[t]) return nn_diag_set(diag, NN_ERR_ARG, tt->name, "not a given tensor (nn_qexec_set_given)");
    if (tt->dtype != v->dtype)
        return nn_diag_set(diag, NN_ERR_ARG, tt->name, "tensor is %s, value is %s", nn_dtype_name(tt->dtype), nn_dtype_name(v->dtype));
    x->vals[t] = *v;
    x->vals[t].flags = 0; /* borrowed */
    return NN_OK;
}

NN_API nn_status nn_qexec_set_input(nn_qexec *x, uint32_t index, const nn_value *v, nn_diag *diag) {
    const nn_tensor *t;
    nn_op_ctx c;
    NN_ASSERT(x && v);
    if (index >= x->g->input_count) return nn_diag_set(diag, NN_ERR_ARG, "nn_qexec_set_input", "no input %u", index);
    t = &x->g->tensors[x->g->inputs[index].id];
    if (t->dtype != v->dtype || (t->shape.rank >= 0 && t->shape.rank != v->shape.rank))
        return nn_diag_set(diag, NN_ERR_ARG, t->name, "input is %s rank %d, value is %s rank %d", nn_dtype_name(t->dtype),
                           (int)t->shape.rank, nn_dtype_name(v->dtype), (int)v->shape.rank);
    nn_qexec__ctx(x, &c, NULL, diag);
    nn_op_free_value(&c, &x->vals[x->g->inputs[index].id]);
    x->vals[x->g->inputs[index].id] = *v;
    x->vals[x->g->inputs[index].id].flags = 0; /* borrowed */
    return NN_OK;
}

/* int8 view of an 8-bit value: uint8 data is copied with the top bit
   flipped (u - 128), zero point moved by -128.  Returns the data to read;
   *tmp is set when a copy was made (caller frees). */
static const int8_t *nn_qexec__s8(nn_qexec *x, const nn_value *v, nn_dtype dt, int32_t *zp, int8_t **tmp) {
    size_t i, n = nn_value_count(v);
    *tmp = NULL;
    if (dt == NN_DTYPE_INT8) return (const int8_t *)v->data;
    *tmp = (int8_t *)nn_alloc(&x->alloc, n + 1);
    if (!*tmp) return NULL;
    for (i = 0; i < n; i++) (*tmp)[i] = (int8_t)(((const uint8_t *)v->data)[i] ^ 0x80);
    *zp -= 128;
    return *tmp;
}

/* Broadcast copy of int8 src (shape s) to shape o (numpy rules), one
   innermost row at a time: a row is copied when src has the full last
   dimension and filled with one value when src's last dimension is 1. */
static void nn_qexec__bcast(const int8_t *src, const nn_shape *s, const nn_shape *o, int8_t *dst) {
    (void)nn_quant_broadcast_s8(src, s, o, dst);
}

/* Pads of one spatial axis from auto_pad / pads. */
static int32_t nn_qexec__pad_begin(const nn_node *n, int axis, int rank_sp, int64_t in, int64_t out, int64_t k, int64_t s,
                                   int64_t d) {
    const char *ap = nn_node_attr_string(n, "auto_pad", "NOTSET");
    if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
        int64_t total = (out - 1) * s + (k - 1) * d + 1 - in;
        if (total < 0) total = 0;
        return (int32_t)(!strcmp(ap, "SAME_UPPER") ? total / 2 : total - total / 2);
    }
    if (!strcmp(ap, "VALID")) return 0;
    {
        const nn_attr *p = nn_node_attr(n, "pads");
        (void)rank_sp;
        return p && p->type == NN_ATTR_INTS && (uint32_t)axis < p->count ? (int32_t)p->ints[axis] : 0;
    }
}

static int64_t nn_qexec__ints_at(const nn_node *n, const char *name, uint32_t i, int64_t def) {
    const nn_attr *a = nn_node_attr(n, name);
    return a && a->type == NN_ATTR_INTS && i < a->count ? a->ints[i] : def;
}

/* The conv parameters of group gr's node for input shape as and output
   shape ys (rank 3 or 4), zero points and clamp from the caller. */
static void nn_qexec__conv_params(const nn_node *k, const nn_shape *as, const nn_shape *ws, const nn_shape *ys,
                                  nn_quant_conv_params *p) {
    int r4 = as->rank == 4;
    p->n = (int32_t)as->dims[0]; p->c = (int32_t)as->dims[1];
    p->h = r4 ? (int32_t)as->dims[2] : 1; p->w = (int32_t)as->dims[r4 ? 3 : 2];
    p->m = (int32_t)ws->dims[0]; p->kh = r4 ? (int32_t)ws->dims[2] : 1; p->kw = (int32_t)ws->dims[r4 ? 3 : 2];
    p->oh = r4 ? (int32_t)ys->dims[2] : 1; p->ow = (int32_t)ys->dims[r4 ? 3 : 2];
    p->group = (int32_t)nn_node_attr_int(k, "group", 1);
    p->stride_h = r4 ? (int32_t)nn_qexec__ints_at(k, "strides", 0, 1) : 1;
    p->stride_w = (int32_t)nn_qexec__ints_at(k, "strides", r4 ? 1 : 0, 1);
    p->dil_h = r4 ? (int32_t)nn_qexec__ints_at(k, "dilations", 0, 1) : 1;
    p->dil_w = (int32_t)nn_qexec__ints_at(k, "dilations", r4 ? 1 : 0, 1);
    p->pad_top = r4 ? nn_qexec__pad_begin(k, 0, 2, p->h, p->oh, p->kh, p->stride_h, p->dil_h) : 0;
    p->pad_left = nn_qexec__pad_begin(k, r4 ? 1 : 0, r4 ? 2 : 1, p->w, p->ow, p->kw, p->stride_w, p->dil_w);
}

/* v's values as int16: v itself, or an int8/uint8 operand widened into
   *tmp minus zp (0: values kept, so its zero point stays the same; a
   conv's input zero point: |x - zp| <= 383 fits int16, and the conv runs
   with zero point 0, the same sums); NULL when out of memory. */
static const int16_t *nn_qexec__widen(nn_qexec *x, const nn_value *v, int32_t zp, int16_t **tmp) {
    size_t i, n = nn_value_count(v);
    *tmp = NULL;
    if (v->dtype == NN_DTYPE_INT16) return (const int16_t *)v->data;
    if (!(*tmp = (int16_t *)nn_alloc(&x->alloc, 2 * n + 2))) return NULL;
    for (i = 0; i < n; i++)
        (*tmp)[i] = (int16_t)((v->dtype == NN_DTYPE_UINT8 ? (int32_t)((const uint8_t *)v->data)[i]
                                                           : (int32_t)((const int8_t *)v->data)[i]) - zp);
    return *tmp;
}

/* Pool parameters of group gr and its multipliers by tap count (caller
   frees; NULL when out of memory). */
static nn_quant_multiplier *nn_qexec__pool_params(nn_qexec *x, const nn_qexec__group *gr, const nn_node *k, const nn_value *va,
                                                  const nn_value *vy, int32_t za, int32_t zy, int32_t lo, int32_t hi,
                                                  nn_quant_pool_params *p) {
    nn_quant_multiplier *mc;
    int32_t cnt;
    int global = !strcmp(k->op_type, "GlobalAveragePool");
    memset(p, 0, sizeof *p);
    p->n = (int32_t)va->shape.dims[0]; p->c = (int32_t)va->shape.dims[1];
    p->h = (int32_t)va->shape.dims[2]; p->w = (int32_t)va->shape.dims[3];
    p->oh = (int32_t)vy->shape.dims[2]; p->ow = (int32_t)vy->shape.dims[3];
    p->kh = global ? p->h : (int32_t)nn_qexec__ints_at(k, "kernel_shape", 0, 1);
    p->kw = global ? p->w : (int32_t)nn_qexec__ints_at(k, "kernel_shape", 1, 1);
    p->stride_h = global ? 1 : (int32_t)nn_qexec__ints_at(k, "strides", 0, 1);
    p->stride_w = global ? 1 : (int32_t)nn_qexec__ints_at(k, "strides", 1, 1);
    p->pad_top = global ? 0 : (int32_t)nn_qexec__ints_at(k, "pads", 0, 0);
    p->pad_left = global ? 0 : (int32_t)nn_qexec__ints_at(k, "pads", 1, 0);
    p->count_include_pad = (int32_t)nn_node_attr_int(k, "count_include_pad", 0);
    p->in_zp = za; p->out_zp = zy; p->act_min = lo; p->act_max = hi;
    mc = (nn_quant_multiplier *)nn_alloc(&x->alloc, ((size_t)p->kh * p->kw + 1) * sizeof *mc);
    if (!mc) return NULL;
    mc[0] = nn_quant_multiplier_make(0);
    for (cnt = 1; cnt <= p->kh * p->kw; cnt++) mc[cnt] = nn_quant_multiplier_make(gr->a.scale[0] / (gr->sy * cnt));
    return mc;
}

/* A W8A16 group: int16 in and out, nn_quant_conv_s16 / nn_quant_matmul_s16. */
static nn_status nn_qexec__run_wide(nn_qexec *x, const nn_qexec__group *gr, const nn_node *k, const nn_value *va,
                                    nn_value *vy, nn_diag *diag) {
    void *scratch;
    const int16_t *xw;
    int16_t *xt = NULL;     /* an 8-bit conv / gemm input widened (preact16) */
    if (gr->kind == NN_QX__POOL) {
        nn_quant_pool_params p;
        nn_quant_multiplier *mc = nn_qexec__pool_params(x, gr, k, va, vy, gr->a.zp, gr->zy, gr->act_lo, gr->act_hi, &p);
        if (!mc) return NN_ERR_NOMEM;
        nn_quant_avgpool_s16(&p, (const int16_t *)va->data, mc, (int16_t *)vy->data);
        nn_free(&x->alloc, mc);
        return NN_OK;
    }
    if (gr->kind == NN_QX__CONV) {
        nn_quant_conv_params p;
        memset(&p, 0, sizeof p);
        nn_qexec__conv_params(k, &va->shape, &x->g->tensors[gr->b.t.id].shape, &vy->shape, &p);
        p.in_zp = gr->a.zp; p.out_zp = gr->zy; p.act_min = gr->act_lo; p.act_max = gr->act_hi;
        if (p.group <= 0 || p.c % p.group || p.m % p.group) return nn_diag_set(diag, NN_ERR_INVALID, k->name, "bad group");
        /* an 8-bit input (preact16) widened as x - zp: the kernel at zero
           point 0 (its VNNI path where there is one), the same sums */
        if (!(xw = nn_qexec__widen(x, va, va->dtype == NN_DTYPE_INT16 ? 0 : p.in_zp, &xt))) return NN_ERR_NOMEM;
        if (va->dtype != NN_DTYPE_INT16) p.in_zp = 0;
        if (!(scratch = nn_alloc(&x->alloc, nn_quant_conv_s16_scratch_bytes(&p)))) { nn_free(&x->alloc, xt); return NN_ERR_NOMEM; }
        nn_quant_conv_s16(&p, xw, gr->w, gr->bias, gr->mult, (int16_t *)vy->data, scratch);
    } else if (gr->kind == NN_QX__ADD || gr->kind == NN_QX__SUB || gr->kind == NN_QX__MUL) {
        nn_quant_eltwise_params p;
        const nn_value *vb = &x->vals[gr->b.t.id];
        size_t n = nn_value_count(vy);
        const int16_t *pa, *pb;
        int16_t *wa = NULL, *wb = NULL, *ba = NULL, *bb = NULL;
        nn_status st = NN_OK;
        nn_quant_eltwise_params_make_s16(&p, gr->kind == NN_QX__MUL, gr->a.scale[0], gr->a.zp, gr->b.scale[0], gr->b.zp, gr->sy,
                                         gr->zy);
        p.act_min = gr->act_lo; p.act_max = gr->act_hi;
        pa = nn_qexec__widen(x, va, 0, &wa);
        pb = nn_qexec__widen(x, vb, 0, &wb);
        if (!pa || !pb) { st = NN_ERR_NOMEM; goto eltdone; }
        if (nn_value_count(va) != n || va->shape.rank != vy->shape.rank) {
            if (!(ba = (int16_t *)nn_alloc(&x->alloc, 2 * n + 2))) { st = NN_ERR_NOMEM; goto eltdone; }
            nn_quant_broadcast_s16(pa, &va->shape, &vy->shape, ba);
            pa = ba;
        }
        if (nn_value_count(vb) != n || vb->shape.rank != vy->shape.rank) {
            if (!(bb = (int16_t *)nn_alloc(&x->alloc, 2 * n + 2))) { st = NN_ERR_NOMEM; goto eltdone; }
            nn_quant_broadcast_s16(pb, &vb->shape, &vy->shape, bb);
            pb = bb;
        }
        if (gr->kind == NN_QX__ADD) nn_quant_add_s16(&p, pa, pb, (int16_t *)vy->data, n);
        else if (gr->kind == NN_QX__SUB) nn_quant_sub_s16(&p, pa, pb, (int16_t *)vy->data, n);
        else nn_quant_mul_s16(&p, pa, pb, (int16_t *)vy->data, n);
    eltdone:
        nn_free(&x->alloc, wa);
        nn_free(&x->alloc, wb);
        nn_free(&x->alloc, ba);
        nn_free(&x->alloc, bb);
        return st;
    } else {
        nn_quant_matmul_params p;
        memset(&p, 0, sizeof p);
        p.a_zp = gr->a.zp; p.out_zp = gr->zy; p.act_min = gr->act_lo; p.act_max = gr->act_hi;
        p.mult_count = gr->nmult;
        p.k = gr->wk; p.n = gr->wn;
        p.m = (int32_t)(nn_value_count(va) / (size_t)(p.k ? p.k : 1));
        if (!(xw = nn_qexec__widen(x, va, 0, &xt))) return NN_ERR_NOMEM;
        if (!(scratch = nn_alloc(&x->alloc, nn_quant_matmul_s16_scratch_bytes(&p)))) { nn_free(&x->alloc, xt); return NN_ERR_NOMEM; }
        nn_quant_matmul_s16(&p, xw, gr->w, gr->bias, gr->mult, (int16_t *)vy->data, scratch);
    }
    nn_free(&x->alloc, xt);
    nn_free(&x->alloc, scratch);
    return NN_OK;
}

/* A data-movement group: the op's own kernel on the integer input (its
   other inputs are constants), its output the QuantizeLinear's. */
static nn_status nn_qexec__run_move(nn_qexec *x, const nn_qexec__group *gr, nn_diag *diag) {
    const nn_graph *g = x->g;
    const nn_node *k = &g->nodes[gr->op_node];
    nn_value in[8], out;
    nn_op_ctx c;
    nn_status st;
    uint32_t i;
    if (k->input_count > 8) return nn_diag_set(diag, NN_ERR_LIMIT, k->name, "too many inputs");
    nn_qexec__ctx(x, &c, k, diag);
    for (i = 0; i < k->input_count; i++) {
        if (k->inputs[i].id == NN_INVALID_ID) memset(&in[i], 0, sizeof in[i]);
        else in[i] = x->vals[i ? k->inputs[i].id : gr->a.t.id];
    }
    memset(&out, 0, sizeof out);
    st = x->defs[gr->op_node]->infer(&c, in, k->input_count, &out, 1);
    if (st == NN_OK && !out.data) st = nn_op_alloc_value(&c, &out);
    if (st == NN_OK) st = x->defs[gr->op_node]->run(&c, in, k->input_count, &out, 1);
    nn_qexec__scratch_free(&c);
    if (st == NN_OK && out.dtype != gr->ydtype) st = nn_diag_set(diag, NN_ERR_INVALID, k->name, "output type changed");
    if (st == NN_OK) x->vals[gr->y.id] = out;
    else nn_op_free_value(&c, &out);
    return st;
}

/* Runs one integer group. */
static nn_status nn_qexec__run_group(nn_qexec *x, const nn_qexec__group *gr, nn_diag *diag) {
    const nn_graph *g = x->g;
    const nn_node *k = &g->nodes[gr->op_node];
    const nn_value *va = &x->vals[gr->a.t.id], *vb = &x->vals[gr->b.t.id];
    nn_value *vy = &x->vals[gr->y.id];
    nn_op_ctx c;
    nn_value vin[3], vout;
    int8_t *ta = NULL, *tb = NULL, *ba = NULL, *bb = NULL;
    const int8_t *pa, *pb = NULL;
    int32_t za = gr->a.zp, zb = gr->b.zp, zy = gr->zy, lo = gr->act_lo, hi = gr->act_hi;
    void *scratch = NULL;
    nn_status st = NN_OK;
    uint32_t i;
    nn_qexec__ctx(x, &c, k, diag);
    if (!va->data || (NN_QX__TWO(gr->kind) && !vb->data))
        return nn_diag_set(diag, NN_ERR_INVALID, k->name, "input not computed");
    if (gr->kind == NN_QX__MOVE) return nn_qexec__run_move(x, gr, diag);
    /* output shape from the float op's shape function on virtual values */
    memset(vin, 0, sizeof vin);
    memset(&vout, 0, sizeof vout);
    for (i = 0; i < k->input_count && i < 3; i++) {
        nn_tensor_id t = k->inputs[i];
        if (t.id == NN_INVALID_ID) continue;
        if (i == 0) vin[0] = nn_value_make(NN_DTYPE_FLOAT, va->shape, NULL);
        else if (i == 1) vin[1] = nn_value_make(NN_DTYPE_FLOAT, gr->kind == NN_QX__CONV || gr->kind == NN_QX__GEMM
                                                                     ? g->tensors[gr->b.t.id].shape : vb->shape, NULL);
        else vin[2] = nn_value_make(NN_DTYPE_FLOAT, g->tensors[t.id].shape, NULL);
    }
    if (gr->kind == NN_QX__LUT && k->input_count > 1) {
        for (i = 1; i < k->input_count && i < 3; i++) /* Clip bounds are constants: pass them */
            if (k->inputs[i].id != NN_INVALID_ID) vin[i] = x->vals[k->inputs[i].id];
    }
    st = x->defs[gr->op_node]->infer(&c, vin, k->input_count < 3 ? k->input_count : 3, &vout, 1);
    nn_qexec__scratch_free(&c);
    if (vout.data) nn_op_free_value(&c, &vout);
    if (st) return st;
    vout.dtype = gr->ydtype;
    vout.flags = 0;
    if ((st = nn_op_alloc_value(&c, &vout))) return st;
    *vy = vout;
    if (gr->kind == NN_QX__LUT) {
        size_t n = nn_value_count(va);
        if (gr->lut16 && gr->ydtype == NN_DTYPE_INT16) nn_quant_lut_apply_s16(gr->lut16, (const int16_t *)va->data, (int16_t *)vy->data, n);
        else if (gr->lut16) { /* int16 -> 8-bit: the entry's low byte is the output byte */
            const int16_t *xa = (const int16_t *)va->data;
            uint8_t *yb = (uint8_t *)vy->data;
            size_t e;
            for (e = 0; e < n; e++) yb[e] = (uint8_t)(gr->lut16[(int32_t)xa[e] + 32768] & 0xff);
        } else nn_quant__lut_bytes(gr->lut8, (const uint8_t *)va->data, (uint8_t *)vy->data, n);
        return NN_OK;
    }
    if (gr->wide) return nn_qexec__run_wide(x, gr, k, va, vy, diag);
    pa = nn_qexec__s8(x, va, gr->a.dtype, &za, &ta);
    if (NN_QX__TWO(gr->kind)) pb = nn_qexec__s8(x, vb, gr->b.dtype, &zb, &tb);
    if (!pa || (NN_QX__TWO(gr->kind) && !pb)) { st = NN_ERR_NOMEM; goto done; }
    if (gr->ydtype == NN_DTYPE_UINT8) { zy -= 128; lo -= 128; hi -= 128; }
    switch (gr->kind) {
    case NN_QX__CONV: {
        nn_quant_conv_params p;
        memset(&p, 0, sizeof p);
        nn_qexec__conv_params(k, &va->shape, &g->tensors[gr->b.t.id].shape, &vy->shape, &p);
        p.in_zp = za; p.out_zp = zy; p.act_min = lo; p.act_max = hi;
        if (p.group <= 0 || p.c % p.group || p.m % p.group) { st = nn_diag_set(diag, NN_ERR_INVALID, k->name, "bad group"); break; }
        scratch = nn_alloc(&x->alloc, nn_quant_conv_s8_scratch_bytes(&p));
        if (!scratch) { st = NN_ERR_NOMEM; break; }
        nn_quant_conv_s8(&p, pa, gr->w, gr->bias, gr->mult, (int8_t *)vy->data, scratch);
        break;
    }
    case NN_QX__GEMM:
    case NN_QX__MATMUL: {
        nn_quant_matmul_params p;
        size_t batches = 1, bi, b_batches = 1;
        int32_t ra = va->shape.rank;
        memset(&p, 0, sizeof p);
        p.a_zp = za; p.out_zp = zy; p.act_min = lo; p.act_max = hi;
        p.mult_count = gr->nmult;
        if (gr->kind == NN_QX__GEMM) {
            p.k = gr->wk; p.n = gr->wn;
            p.m = (int32_t)(nn_value_count(va) / (size_t)(p.k ? p.k : 1));
        } else {
            int32_t rb = vb->shape.rank, r;
            if (ra < 2 || rb < 2) { st = nn_diag_set(diag, NN_ERR_UNSUPPORTED, k->name, "rank-1 MatMul"); break; }
            p.m = (int32_t)va->shape.dims[ra - 2]; p.k = (int32_t)va->shape.dims[ra - 1]; p.n = (int32_t)vb->shape.dims[rb - 1];
            p.b_zp = zb;
            for (r = 0; r < ra - 2; r++) batches *= (size_t)va->shape.dims[r];
            for (r = 0; r < rb - 2; r++) b_batches *= (size_t)vb->shape.dims[r];
            if (b_batches != 1 && (b_batches != batches || rb != ra)) {
                st = nn_diag_set(diag, NN_ERR_UNSUPPORTED, k->name, "MatMul batch broadcast");
                break;
            }
        }
        scratch = nn_alloc(&x->alloc, nn_quant_matmul_s8_scratch_bytes(&p));
        if (!scratch) { st = NN_ERR_NOMEM; break; }
        for (bi = 0; bi < batches; bi++)
            nn_quant_matmul_s8(&p, pa + bi * (size_t)p.m * p.k,
                               gr->kind == NN_QX__GEMM ? gr->w : pb + (b_batches > 1 ? bi : 0) * (size_t)p.k * p.n,
                               gr->bias, gr->mult, (int8_t *)vy->data + bi * (size_t)p.m * p.n, scratch);
        break;
    }
    case NN_QX__ADD:
    case NN_QX__SUB:
    case NN_QX__MUL: {
        nn_quant_eltwise_params p;
        size_t n = nn_value_count(vy);
        nn_quant_eltwise_params_make(&p, gr->kind == NN_QX__MUL, gr->a.scale[0], za, gr->b.scale[0], zb, gr->sy, zy);
        p.act_min = lo; p.act_max = hi;
        if (nn_value_count(va) != n || va->shape.rank != vy->shape.rank) {
            if (!(ba = (int8_t *)nn_alloc(&x->alloc, n + 1))) { st = NN_ERR_NOMEM; break; }
            nn_qexec__bcast(pa, &va->shape, &vy->shape, ba);
            pa = ba;
        }
        if (nn_value_count(vb) != n || vb->shape.rank != vy->shape.rank) {
            if (!(bb = (int8_t *)nn_alloc(&x->alloc, n + 1))) { st = NN_ERR_NOMEM; break; }
            nn_qexec__bcast(pb, &vb->shape, &vy->shape, bb);
            pb = bb;
        }
        if (gr->kind == NN_QX__ADD) nn_quant_add_s8(&p, pa, pb, (int8_t *)vy->data, n);
        else if (gr->kind == NN_QX__SUB) nn_quant_sub_s8(&p, pa, pb, (int8_t *)vy->data, n);
        else nn_quant_mul_s8(&p, pa, pb, (int8_t *)vy->data, n);
        break;
    }
    case NN_QX__POOL: {
        nn_quant_pool_params p;
        nn_quant_multiplier *mc = nn_qexec__pool_params(x, gr, k, va, vy, za, zy, lo, hi, &p);
        if (!mc) { st = NN_ERR_NOMEM; break; }
        nn_quant_avgpool_s8(&p, pa, mc, (int8_t *)vy->data);
        nn_free(&x->alloc, mc);
        break;
    }
    default: break;
    }
    if (st == NN_OK && gr->ydtype == NN_DTYPE_UINT8) {
        size_t n = nn_value_count(vy), e;
        for (e = 0; e < n; e++) ((uint8_t *)vy->data)[e] ^= 0x80;
    }
done:
    if (st == NN_ERR_NOMEM) nn_diag_set(diag, st, k->name, "out of memory");
    nn_free(&x->alloc, ta);
    nn_free(&x->alloc, tb);
    nn_free(&x->alloc, ba);
    nn_free(&x->alloc, bb);
    nn_free(&x->alloc, scratch);
    return st;
}

static nn_status nn_qexec__run_node(nn_qexec *x, uint32_t ni, nn_diag *diag) {
    const nn_graph *g = x->g;
    const nn_node *n = &g->nodes[ni];
    nn_value in[64], out[64];
    nn_op_ctx c;
    nn_status st;
    uint32_t i;
    if (n->input_count > 64 || n->output_count > 64) return nn_diag_set(diag, NN_ERR_LIMIT, n->name, "too many inputs");
    nn_qexec__ctx(x, &c, n, diag);
    for (i = 0; i < n->input_count; i++) {
        if (n->inputs[i].id == NN_INVALID_ID) { memset(&in[i], 0, sizeof in[i]); continue; }
        in[i] = x->vals[n->inputs[i].id];
        if (!in[i].data && nn_value_count(&in[i]) != 0 && in[i].dtype != NN_DTYPE_UNDEFINED)
            return nn_diag_set(diag, NN_ERR_INVALID, g->tensors[n->inputs[i].id].name, "value not computed");
        if (!in[i].data && in[i].dtype == NN_DTYPE_UNDEFINED)
            return nn_diag_set(diag, NN_ERR_ARG, g->tensors[n->inputs[i].id].name, "input not set");
    }
    memset(out, 0, (size_t)n->output_count * sizeof *out);
    st = x->defs[ni]->infer(&c, in, n->input_count, out, n->output_count);
    for (i = 0; i < n->output_count && st == NN_OK; i++)
        if (!out[i].data && nn_shape_is_static(&out[i].shape) && out[i].dtype != NN_DTYPE_UNDEFINED)
            st = nn_op_alloc_value(&c, &out[i]);
    if (st == NN_OK) st = x->defs[ni]->run(&c, in, n->input_count, out, n->output_count);
    nn_qexec__scratch_free(&c);
    for (i = 0; i < n->output_count; i++) {
        if (st == NN_OK && n->outputs[i].id != NN_INVALID_ID) x->vals[n->outputs[i].id] = out[i];
        else nn_op_free_value(&c, &out[i]);
    }
    return st;
}

static void nn_qexec__release(nn_qexec *x, nn_op_ctx *c, nn_tensor_id t) {
    if (t.id == NN_INVALID_ID || x->left[t.id] == 0) return;
    if (--x->left[t.id] == 0 && (x->vals[t.id].flags & NN_VALUE_OWNED)) nn_op_free_value(c, &x->vals[t.id]);
}

NN_API nn_status nn_qexec_run(nn_qexec *x, nn_diag *diag) {
    const nn_graph *g;
    nn_op_ctx c;
    uint32_t i, j;
    NN_ASSERT(x);
    g = x->g;
    nn_qexec__ctx(x, &c, NULL, diag);
    for (i = 0; i < g->tensor_count; i++) /* outputs of the last run */
        if (x->vals[i].flags & NN_VALUE_OWNED) nn_op_free_value(&c, &x->vals[i]);
    for (i = 0; i < g->input_count; i++)
        if (!x->vals[g->inputs[i].id].data)
            return nn_diag_set(diag, NN_ERR_ARG, g->tensors[g->inputs[i].id].name, "input not set");
    for (i = 0; x->given && i < g->tensor_count; i++)
        if (x->given[i] && x->uses[i] && x->vals[i].dtype == NN_DTYPE_UNDEFINED)
            return nn_diag_set(diag, NN_ERR_ARG, g->tensors[i].name, "given value not set (nn_qexec_set_value)");
    memcpy(x->left, x->uses, (size_t)g->tensor_count * sizeof *x->left);
    for (i = 0; i < x->step_count; i++) {
        const nn_qexec__step *s = &x->steps[i];
        nn_status st;
        if (s->group >= 0) {
            const nn_qexec__group *gr = &x->groups[s->group];
            st = nn_qexec__run_group(x, gr, diag);
            if (st) return st;
            if (x->d.observer && x->d.observer(x->d.observer_user, g, gr->q_node, &x->vals[gr->y.id], 1))
                return nn_diag_set(diag, NN_ERR_ARG, g->nodes[gr->q_node].name, "stopped by the observer");
            nn_qexec__release(x, &c, gr->a.t);
            if (NN_QX__TWO(gr->kind))
                nn_qexec__release(x, &c, gr->b.t);
        } else {
            const nn_node *n = &g->nodes[s->node];
            st = nn_qexec__run_node(x, s->node, diag);
            if (st) return st;
            if (x->d.observer) {
                nn_value ov[64];
                for (j = 0; j < n->output_count && j < 64; j++) {
                    if (n->outputs[j].id != NN_INVALID_ID) ov[j] = x->vals[n->outputs[j].id];
                    else memset(&ov[j], 0, sizeof ov[j]);
                }
                if (x->d.observer(x->d.observer_user, g, s->node, ov, j))
                    return nn_diag_set(diag, NN_ERR_ARG, n->name, "stopped by the observer");
            }
            for (j = 0; j < n->input_count; j++) nn_qexec__release(x, &c, n->inputs[j]);
        }
    }
    return NN_OK;
}

NN_API const nn_value *nn_qexec_output(const nn_qexec *x, uint32_t index) {
    NN_ASSERT(x);
    if (index >= x->g->output_count) return NULL;
    return &x->vals[x->g->outputs[index].id];
}

NN_API void nn_qexec_get_stats(const nn_qexec *x, nn_qexec_stats *out) {
    NN_ASSERT(x && out);
    *out = x->stats;
}

/* ---- precision analysis and mixed-precision search ---------------------- */

/* Element i of v as a real number (quantized values through scale, zp). */
static double nn_quant__at(const nn_value *v, size_t i, double scale, int32_t zp) {
    switch (v->dtype) {
    case NN_DTYPE_FLOAT: return ((const float *)v->data)[i];
    case NN_DTYPE_INT8: return scale * (((const int8_t *)v->data)[i] - zp);
    case NN_DTYPE_UINT8: return scale * (((const uint8_t *)v->data)[i] - zp);
    case NN_DTYPE_INT16: return scale * (((const int16_t *)v->data)[i] - zp);
    default: return 0;
    }
}

/* Copies of float values, one slot per float-graph tensor. */
typedef struct nn_quant__ref {
    float *data;
    size_t count;
} nn_quant__ref;

typedef struct nn_quant__fobs {
    nn_quant__ref *refs;           /* (tensor_count) */
    const uint8_t *watch;          /* (tensor_count) */
    const nn_allocator *alloc;
    int nomem;
} nn_quant__fobs;

static int nn_quant__fobs_fn(void *user, const nn_graph *g, uint32_t ni, const nn_value *outs, uint32_t oc) {
    nn_quant__fobs *f = (nn_quant__fobs *)user;
    uint32_t j;
    for (j = 0; j < oc && j < g->nodes[ni].output_count; j++) {
        uint32_t t = g->nodes[ni].outputs[j].id;
        size_t n;
        if (t == NN_INVALID_ID || !f->watch[t] || outs[j].dtype != NN_DTYPE_FLOAT || !outs[j].data) continue;
        n = nn_value_count(&outs[j]);
        if (f->refs[t].count != n) {
            nn_free(f->alloc, f->refs[t].data);
            f->refs[t].data = (float *)nn_alloc(f->alloc, n * sizeof(float) + 1);
            f->refs[t].count = f->refs[t].data ? n : 0;
            if (!f->refs[t].data) { f->nomem = 1; return 1; }
        }
        memcpy(f->refs[t].data, outs[j].data, n * sizeof(float));
    }
    return 0;
}

/* Runs g on sample k with the observer (or none); outputs copied into
   refs[out ids] when watch marks them. */
static nn_status nn_quant__run_float(nn_exec *x, const nn_graph *g, const nn_value *inputs, uint32_t k, nn_diag *diag) {
    uint32_t i;
    nn_status st = NN_OK;
    for (i = 0; i < g->input_count && st == NN_OK; i++) st = nn_exec_set_input(x, i, &inputs[(size_t)k * g->input_count + i], diag);
    return st ? st : nn_exec_run(x, diag);
}

static nn_status nn_quant__run_q(nn_qexec *x, const nn_graph *q, const nn_value *inputs, uint32_t k, nn_diag *diag) {
    uint32_t i;
    nn_status st = NN_OK;
    for (i = 0; i < q->input_count && st == NN_OK; i++) st = nn_qexec_set_input(x, i, &inputs[(size_t)k * q->input_count + i], diag);
    return st ? st : nn_qexec_run(x, diag);
}

static void nn_quant__refs_free(nn_quant__ref *r, size_t n, const nn_allocator *a) {
    size_t i;
    if (!r) return;
    for (i = 0; i < n; i++) nn_free(a, r[i].data);
    nn_free(a, r);
}

/* Float outputs of g on every sample: refs[k * output_count + o]. */
static nn_status nn_quant__float_outputs(const nn_graph *g, const nn_value *inputs, uint32_t n, const nn_quant_eval_desc *d,
                                         nn_quant__ref **out, nn_diag *diag) {
    nn_allocator al;
    nn_exec *x = NULL;
    nn_exec_desc xd;
    nn_quant__ref *r;
    uint32_t k, o;
    nn_status st;
    memset(&al, 0, sizeof al);
    memset(&xd, 0, sizeof xd);
    xd.input_shapes = d->input_shapes;
    xd.input_shape_count = d->input_shape_count;
    r = (nn_quant__ref *)nn_alloc(&al, ((size_t)n * g->output_count + 1) * sizeof *r);
    if (!r) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
    memset(r, 0, ((size_t)n * g->output_count + 1) * sizeof *r);
    st = nn_exec_create(g, &xd, &x, diag);
    for (k = 0; k < n && st == NN_OK; k++) {
        st = nn_quant__run_float(x, g, inputs, k, diag);
        for (o = 0; o < g->output_count && st == NN_OK; o++) {
            const nn_value *v = nn_exec_output(x, o);
            nn_quant__ref *e = &r[(size_t)k * g->output_count + o];
            size_t c = nn_value_count(v), i;
            e->data = (float *)nn_alloc(&al, c * sizeof(float) + 1);
            if (!e->data) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory"); break; }
            e->count = c;
            for (i = 0; i < c; i++) e->data[i] = (float)nn_quant__at(v, i, 1.0, 0);
        }
    }
    if (x) nn_exec_destroy(x);
    if (st) { nn_quant__refs_free(r, (size_t)n * g->output_count, &al); return st; }
    *out = r;
    return NN_OK;
}

/* Jobs for `samples` samples on `threads` threads: 1..8, never more than
   the samples (one job when there are none). */
static uint32_t nn_quant__job_count(uint32_t threads, uint32_t samples) {
    uint32_t nt = threads > 1 ? threads : 1;
    if (nt > 8) nt = 8;
    if (nt > samples) nt = samples ? samples : 1;
    return nt;
}

/* Runs fn on jobs[0..nt) (each job_size bytes): jobs 1.. on their own
   threads, job 0 on this one; a job whose thread cannot start runs here
   after the others.  Without threads (NN_NO_THREADS), one after another. */
static void nn_quant__run_jobs(void *(*fn)(void *), void *jobs, size_t job_size, uint32_t nt) {
    uint32_t t;
#ifndef NN_NO_THREADS
    pthread_t tid[8];
    int started[8] = {0};
    if (nt > 8) nt = 8;
    for (t = 1; t < nt; t++) started[t] = pthread_create(&tid[t], NULL, fn, (char *)jobs + t * job_size) == 0;
    fn(jobs);
    for (t = 1; t < nt; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else fn((char *)jobs + t * job_size); /* no thread: run that share here */
    }
#else
    for (t = 0; t < nt; t++) fn((char *)jobs + t * job_size);
#endif
}

/* One share of nn_quant__score's samples: k = first, first + step, ...;
   cosines into cos[k * output_count + o].  Each share has its own
   executor (nn_qexec reads q only), so shares run on separate threads. */
typedef struct nn_quant__score_job {
    const nn_graph *q;
    const nn_value *inputs;
    const nn_quant__ref *refs;
    uint32_t first, step, n;
    int float_only;
    nn_quant_metric_fn metric;
    void *metric_user;
    double *cos;
    nn_status st;
    nn_diag diag;
} nn_quant__score_job;

#define NN_QUANT__MAX_IO 64 /* graph outputs a task metric sees */

/* The task metric on one sample: the quantized outputs as float32 copies. */
static nn_status nn_quant__metric(const nn_graph *q, nn_qexec *x, const nn_quant__ref *refs, uint32_t k,
                                  nn_quant_metric_fn metric, void *metric_user, double *cos, nn_diag *diag) {
    nn_allocator al;
    float *qv[NN_QUANT__MAX_IO];
    const float *rv[NN_QUANT__MAX_IO];
    size_t counts[NN_QUANT__MAX_IO], i;
    uint32_t o, no = q->output_count;
    double score;
    nn_status st = NN_OK;
    memset(&al, 0, sizeof al);
    if (no > NN_QUANT__MAX_IO) return nn_diag_set(diag, NN_ERR_LIMIT, "nn_quant_eval_desc.metric", "more than %d outputs", NN_QUANT__MAX_IO);
    for (o = 0; o < no; o++) qv[o] = NULL;
    for (o = 0; o < no && st == NN_OK; o++) {
        const nn_value *v = nn_qexec_output(x, o);
        const nn_quant__ref *e = &refs[(size_t)k * no + o];
        counts[o] = nn_value_count(v);
        rv[o] = e->data;
        if (counts[o] != e->count) { st = nn_diag_set(diag, NN_ERR_SHAPE, "nn_quant", "output %u: element counts differ", o); break; }
        qv[o] = (float *)nn_alloc(&al, (counts[o] + 1) * sizeof(float));
        if (!qv[o]) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory"); break; }
        for (i = 0; i < counts[o]; i++) qv[o][i] = (float)nn_quant__at(v, i, 1.0, 0);
    }
    if (st == NN_OK) {
        score = metric(metric_user, k, no, (const float *const *)qv, rv, counts);
        for (o = 0; o < no; o++) cos[(size_t)k * no + o] = score; /* the mean over all terms is the mean over samples */
    }
    for (o = 0; o < no; o++) nn_free(&al, qv[o]);
    return st;
}

/* Sample k's terms after a run of x (on q): the cosine of each output
   against refs, or the metric's score, into cos[k * output_count + o]. */
static nn_status nn_quant__sample_terms(const nn_graph *q, nn_qexec *x, const nn_quant__ref *refs, uint32_t k,
                                        nn_quant_metric_fn metric, void *metric_user, double *cos, nn_diag *diag) {
    uint32_t o;
    if (metric) return nn_quant__metric(q, x, refs, k, metric, metric_user, cos, diag);
    for (o = 0; o < q->output_count; o++) {
        const nn_value *v = nn_qexec_output(x, o);
        const nn_quant__ref *e = &refs[(size_t)k * q->output_count + o];
        double ab = 0, aa = 0, bb = 0;
        size_t i, c = nn_value_count(v);
        if (c != e->count) return nn_diag_set(diag, NN_ERR_SHAPE, "nn_quant", "output %u: element counts differ", o);
        for (i = 0; i < c; i++) {
            double a = e->data[i], b = nn_quant__at(v, i, 1.0, 0);
            ab += a * b; aa += a * a; bb += b * b;
        }
        cos[(size_t)k * q->output_count + o] = (aa == 0 && bb == 0) ? 1.0 : (aa == 0 || bb == 0) ? 0.0 : ab / sqrt(aa * bb);
    }
    return NN_OK;
}

static void *nn_quant__score_run(void *arg) {
    nn_quant__score_job *j = (nn_quant__score_job *)arg;
    const nn_graph *q = j->q;
    nn_qexec *x = NULL;
    nn_qexec_desc qd;
    uint32_t k;
    memset(&qd, 0, sizeof qd);
    qd.float_only = j->float_only;
    j->st = nn_qexec_create(q, &qd, &x, &j->diag);
    for (k = j->first; k < j->n && j->st == NN_OK; k += j->step) {
        j->st = nn_quant__run_q(x, q, j->inputs, k, &j->diag);
        if (j->st == NN_OK) j->st = nn_quant__sample_terms(q, x, j->refs, k, j->metric, j->metric_user, j->cos, &j->diag);
    }
    if (x) nn_qexec_destroy(x);
    return NULL;
}

/* Output cosines (or metric scores) of q against refs (from
   nn_quant__float_outputs) into cos[k * output_count + o], the samples split
   over d->threads threads. */
static nn_status nn_quant__score_terms(const nn_graph *q, const nn_value *inputs, uint32_t n, const nn_quant__ref *refs,
                                       const nn_quant_eval_desc *d, double *cos, nn_diag *diag) {
    nn_quant__score_job jobs[8];
    uint32_t nt = nn_quant__job_count(d->threads, n), t;
    nn_status st = NN_OK;
    for (t = 0; t < nt; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        jobs[t].q = q;
        jobs[t].inputs = inputs;
        jobs[t].refs = refs;
        jobs[t].first = t;
        jobs[t].step = nt;
        jobs[t].n = n;
        jobs[t].float_only = !d->int_kernels;
        jobs[t].metric = d->metric;
        jobs[t].metric_user = d->metric_user;
        jobs[t].cos = cos;
    }
    nn_quant__run_jobs(nn_quant__score_run, jobs, sizeof jobs[0], nt);
    for (t = 0; t < nt && st == NN_OK; t++)
        if (jobs[t].st != NN_OK) st = nn_diag_set(diag, jobs[t].st, jobs[t].diag.where, "%s", jobs[t].diag.message);
    return st;
}

/* Sample k's score: the mean of its outputs' terms. */
static double nn_quant__sample_score(const double *cos, uint32_t k, uint32_t outputs) {
    double sum = 0;
    uint32_t o;
    for (o = 0; o < outputs; o++) sum += cos[(size_t)k * outputs + o];
    return outputs ? sum / outputs : 1.0;
}

/* A model's score from its terms cos[k * outputs + o]: the mean over
   samples and outputs, or with worst the worst sample's. */
static double nn_quant__reduce(const double *cos, uint32_t n, uint32_t outputs, int worst) {
    size_t terms = (size_t)n * outputs, i;
    double sum = 0, w = 1.0;
    uint32_t k;
    if (worst) {
        for (k = 0; k < n; k++) {
            double c = nn_quant__sample_score(cos, k, outputs);
            if (k == 0 || c < w) w = c;
        }
        return w;
    }
    for (i = 0; i < terms; i++) sum += cos[i]; /* sample order: the same sum whatever the threads */
    return terms ? sum / (double)terms : 1.0;
}

/* q's score against refs: the mean output cosine (or metric) over samples
   and outputs, or with d->worst the worst sample's. */
static nn_status nn_quant__score(const nn_graph *q, const nn_value *inputs, uint32_t n, const nn_quant__ref *refs,
                                 const nn_quant_eval_desc *d, double *out, nn_diag *diag) {
    nn_allocator al;
    double *cos;
    nn_status st;
    memset(&al, 0, sizeof al);
    cos = (double *)nn_alloc(&al, ((size_t)n * q->output_count + 1) * sizeof *cos);
    if (!cos) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
    st = nn_quant__score_terms(q, inputs, n, refs, d, cos, diag);
    if (st == NN_OK) *out = nn_quant__reduce(cos, n, q->output_count, d->worst);
    nn_free(&al, cos);
    return st;
}

NN_API nn_status nn_quant_output_cosine(const nn_graph *g, const nn_graph *q, const nn_value *inputs,
                                        uint32_t sample_count, const nn_quant_eval_desc *d, double *out_cos,
                                        nn_diag *diag) {
    nn_quant_eval_desc dd;
    nn_quant__ref *refs = NULL;
    nn_allocator al;
    nn_status st;
    NN_ASSERT(g && q && inputs && out_cos);
    memset(&dd, 0, sizeof dd);
    memset(&al, 0, sizeof al);
    if (d) dd = *d;
    if (g->output_count != q->output_count)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_quant_output_cosine", "graphs have different output counts");
    st = nn_quant__float_outputs(g, inputs, sample_count, &dd, &refs, diag);
    if (st == NN_OK) st = nn_quant__score(q, inputs, sample_count, refs, &dd, out_cos, diag);
    nn_quant__refs_free(refs, (size_t)sample_count * g->output_count, &al);
    return st;
}

/* Per-tensor accumulators of the analysis, indexed by float-graph tensor. */
typedef struct nn_quant__acc {
    double ab, aa, bb, ee;
    uint64_t n, sat;
    double scale;
    int32_t zp, qmin, qmax;
    nn_dtype dt;
} nn_quant__acc;

typedef struct nn_quant__qobs {
    const nn_quant__ref *refs;     /* float values by float-graph tensor */
    const uint32_t *qmap;          /* q tensor -> float tensor + 1 (0: none) */
    nn_quant__acc *acc;            /* (float tensor_count) */
} nn_quant__qobs;

static int nn_quant__qobs_fn(void *user, const nn_graph *q, uint32_t ni, const nn_value *outs, uint32_t oc) {
    nn_quant__qobs *o = (nn_quant__qobs *)user;
    uint32_t j;
    for (j = 0; j < oc && j < q->nodes[ni].output_count; j++) {
        uint32_t qt = q->nodes[ni].outputs[j].id, t;
        nn_quant__acc *a;
        const nn_quant__ref *r;
        size_t i, c;
        double lo, hi;
        if (qt == NN_INVALID_ID || !o->qmap[qt] || !outs[j].data) continue;
        t = o->qmap[qt] - 1;
        a = &o->acc[t];
        r = &o->refs[t];
        c = nn_value_count(&outs[j]);
        if (c != r->count || !r->data) continue;
        lo = a->scale * (a->qmin - a->zp) - 0.5 * a->scale;
        hi = a->scale * (a->qmax - a->zp) + 0.5 * a->scale;
        for (i = 0; i < c; i++) {
            double f = r->data[i], v = nn_quant__at(&outs[j], i, a->scale, a->zp);
            a->ab += f * v; a->aa += f * f; a->bb += v * v; a->ee += (v - f) * (v - f);
            if (a->dt != NN_DTYPE_FLOAT && (f < lo || f > hi)) a->sat++;
        }
        a->n += c;
    }
    return 0;
}

/* Scalar value of constant tensor t of q (float or integer), or def. */
static double nn_quant__scalar(const nn_graph *q, nn_tensor_id t, double def) {
    const nn_tensor *tt;
    nn_value v;
    if (t.id == NN_INVALID_ID) return def;
    tt = &q->tensors[t.id];
    if (!(tt->flags & NN_TENSOR_CONST) || !tt->data || tt->data_bytes == 0) return def;
    v = nn_value_make(tt->dtype, tt->shape, (void *)tt->data);
    if (tt->dtype == NN_DTYPE_INT32) return ((const int32_t *)tt->data)[0];
    return nn_quant__at(&v, 0, 1.0, 0);
}

NN_API nn_status nn_quant_analyze(const nn_graph *g, const nn_graph *q, const nn_value *inputs, uint32_t sample_count,
                                  const nn_quant_eval_desc *d, nn_quant_layer_report *rows, uint32_t *row_count,
                                  nn_diag *diag) {
    nn_allocator al;
    nn_quant_eval_desc dd;
    nn_quant__ref *refs = NULL;
    uint8_t *watch = NULL;
    uint32_t *qmap = NULL, *order = NULL, i, k, nrows = 0;
    nn_quant__acc *acc = NULL;
    nn_exec *fx = NULL;
    nn_qexec *qx = NULL;
    nn_status st = NN_OK;
    NN_ASSERT(g && q && inputs && rows && row_count);
    memset(&al, 0, sizeof al);
    memset(&dd, 0, sizeof dd);
    if (d) dd = *d;
    refs = (nn_quant__ref *)nn_alloc(&al, ((size_t)g->tensor_count + 1) * sizeof *refs);
    watch = (uint8_t *)nn_alloc(&al, (size_t)g->tensor_count + 1);
    acc = (nn_quant__acc *)nn_alloc(&al, ((size_t)g->tensor_count + 1) * sizeof *acc);
    qmap = (uint32_t *)nn_alloc(&al, ((size_t)q->tensor_count + 1) * sizeof *qmap);
    order = (uint32_t *)nn_alloc(&al, ((size_t)g->node_count + 1) * sizeof *order);
    if (!refs || !watch || !acc || !qmap || !order) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_analyze", "out of memory"); goto done; }
    memset(refs, 0, ((size_t)g->tensor_count + 1) * sizeof *refs);
    memset(watch, 0, (size_t)g->tensor_count + 1);
    memset(acc, 0, ((size_t)g->tensor_count + 1) * sizeof *acc);
    memset(qmap, 0, ((size_t)q->tensor_count + 1) * sizeof *qmap);
    if ((st = nn_graph_topo_order(g, order, diag))) goto done;
    /* float tensor -> its counterpart in q */
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        uint32_t j;
        for (j = 0; j < n->output_count; j++) {
            uint32_t t = n->outputs[j].id;
            char nb[600];
            nn_tensor_id qt;
            if (t == NN_INVALID_ID || g->tensors[t].dtype != NN_DTYPE_FLOAT) continue;
            snprintf(nb, sizeof nb, "%.560s_quantized", g->tensors[t].name);
            qt = nn_graph_find_tensor(q, nb);
            if (qt.id != NN_INVALID_ID && q->tensors[qt.id].producer.id != NN_INVALID_ID &&
                !strcmp(q->nodes[q->tensors[qt.id].producer.id].op_type, "QuantizeLinear")) {
                const nn_node *qn = &q->nodes[q->tensors[qt.id].producer.id];
                nn_dtype dt = q->tensors[qt.id].dtype;
                acc[t].dt = dt;
                acc[t].scale = nn_quant__scalar(q, qn->inputs[1], 1.0);
                acc[t].zp = qn->input_count > 2 ? (int32_t)nn_quant__scalar(q, qn->inputs[2], 0) : 0;
                acc[t].qmin = dt == NN_DTYPE_UINT8 ? 0 : dt == NN_DTYPE_INT16 ? -32768 : -128;
                acc[t].qmax = dt == NN_DTYPE_UINT8 ? 255 : dt == NN_DTYPE_INT16 ? 32767 : 127;
            } else {
                qt = nn_graph_find_tensor(q, g->tensors[t].name);
                if (qt.id == NN_INVALID_ID || q->tensors[qt.id].producer.id == NN_INVALID_ID) continue;
                acc[t].dt = NN_DTYPE_FLOAT;
                acc[t].scale = 1.0;
            }
            qmap[qt.id] = t + 1;
            watch[t] = 1;
        }
    }
    {
        nn_exec_desc xd;
        nn_qexec_desc qd;
        nn_quant__fobs fo;
        nn_quant__qobs qo;
        memset(&xd, 0, sizeof xd);
        memset(&qd, 0, sizeof qd);
        fo.refs = refs; fo.watch = watch; fo.alloc = &al; fo.nomem = 0;
        qo.refs = refs; qo.qmap = qmap; qo.acc = acc;
        xd.input_shapes = dd.input_shapes;
        xd.input_shape_count = dd.input_shape_count;
        xd.observer = nn_quant__fobs_fn;
        xd.observer_user = &fo;
        qd.float_only = !dd.int_kernels;
        qd.observer = nn_quant__qobs_fn;
        qd.observer_user = &qo;
        if ((st = nn_exec_create(g, &xd, &fx, diag))) goto done;
        if ((st = nn_qexec_create(q, &qd, &qx, diag))) goto done;
        for (k = 0; k < sample_count; k++) {
            st = nn_quant__run_float(fx, g, inputs, k, diag);
            if (fo.nomem) st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_analyze", "out of memory");
            if (st == NN_OK) st = nn_quant__run_q(qx, q, inputs, k, diag);
            if (st) goto done;
            nn_quant__logf(dd.progress, dd.progress_user, "analyze %u/%u", k + 1, sample_count);
        }
    }
    for (k = 0; k < g->node_count; k++) {
        const nn_node *n = &g->nodes[order[k]];
        uint32_t j;
        for (j = 0; j < n->output_count; j++) {
            uint32_t t = n->outputs[j].id;
            nn_quant__acc *a;
            nn_quant_layer_report *r;
            if (t == NN_INVALID_ID || !watch[t] || acc[t].n == 0) continue;
            a = &acc[t];
            r = &rows[nrows++];
            memset(r, 0, sizeof *r);
            r->node = order[k];
            r->tensor = t;
            r->qdtype = a->dt;
            r->scale = a->dt == NN_DTYPE_FLOAT ? 0 : a->scale;
            r->zero_point = a->dt == NN_DTYPE_FLOAT ? 0 : a->zp;
            r->cosine = (a->aa == 0 && a->bb == 0) ? 1.0 : (a->aa == 0 || a->bb == 0) ? 0.0 : a->ab / sqrt(a->aa * a->bb);
            r->mse = a->ee / (double)a->n;
            r->sqnr_db = a->ee > 0 ? 10.0 * log10(a->aa / a->ee) : 999.0;
            if (r->sqnr_db > 999.0) r->sqnr_db = 999.0;
            r->saturation = (double)a->sat / (double)a->n;
            r->elements = a->n;
        }
    }
    *row_count = nrows;
done:
    if (fx) nn_exec_destroy(fx);
    if (qx) nn_qexec_destroy(qx);
    if (refs) nn_quant__refs_free(refs, g->tensor_count, &al);
    nn_free(&al, watch);
    nn_free(&al, acc);
    nn_free(&al, qmap);
    nn_free(&al, order);
    return st;
}

/* The name a written layer rule gives the layer whose output is tensor t: its
   producer's node name when no other node answers to that name (as a node or
   as a first output), else the tensor's.  Node names survive the optimizer's
   fusions (a Conv keeps its name when its scale Mul is folded in, while its
   output takes the Mul's), and a name fused away still matches through the
   provenance (nn_quant_resolve_table), so the table a search writes on one
   graph applies to the flows' optimized copies of the same model. */
static const char *nn_quant__layer_rule_name(const nn_graph *g, uint32_t t) {
    uint32_t i, p = g->tensors[t].producer.id, uses = 0;
    if (p == NN_INVALID_ID || !g->nodes[p].name || !g->nodes[p].name[0]) return g->tensors[t].name;
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        if ((n->name && !strcmp(n->name, g->nodes[p].name)) ||
            (n->output_count && n->outputs[0].id != NN_INVALID_ID && !strcmp(g->tensors[n->outputs[0].id].name, g->nodes[p].name)))
            uses++;
    }
    return uses == 1 ? g->nodes[p].name : g->tensors[t].name;
}

/* The table in force while searching: qd's rules then the promoted layers
   (later layer rules win, so a promotion overrides a base layer rule). */
static nn_status nn_quant__search_table(nn_quant_table *t, const nn_quant_table *base, const nn_graph *g,
                                        const uint32_t *tensors, uint32_t count, nn_quant_dtype dt, nn_diag *diag) {
    uint32_t i;
    nn_status st = NN_OK;
    nn_quant_table_init(t, NULL);
    for (i = 0; base && i < base->count && st == NN_OK; i++)
        st = nn_quant_table_add(t, base->rules[i].kind, base->rules[i].name, base->rules[i].end, base->rules[i].dtype, diag);
    for (i = 0; i < count && st == NN_OK; i++)
        st = nn_quant_table_add(t, NN_QUANT_RULE_LAYER, g->tensors[tensors[i]].name, NULL, dt, diag);
    return st;
}

/* g quantized with ranges under qd plus `count` promoted tensors. */
static nn_status nn_quant__search_graph(const nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd,
                                        const uint32_t *tensors, uint32_t count, nn_quant_dtype dt, nn_graph **q,
                                        nn_diag *diag) {
    nn_quant_table t;
    nn_quant_desc d = *qd;
    nn_status st = nn_quant__search_table(&t, qd->table, g, tensors, count, dt, diag);
    d.table = &t;
    d.log = NULL; /* warnings were given by the caller's own quantization */
    *q = NULL;
    if (st == NN_OK) st = nn_quant_graph(g, ranges, &d, q, NULL, diag);
    nn_quant_table_deinit(&t);
    return st;
}

/* Output cosine of g quantized with ranges under qd plus `count` promoted tensors. */
static nn_status nn_quant__search_eval(const nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd,
                                       const uint32_t *tensors, uint32_t count, nn_quant_dtype dt,
                                       const nn_value *inputs, uint32_t n, const nn_quant__ref *refs,
                                       const nn_quant_eval_desc *ed, double *out, nn_graph **keep, nn_diag *diag) {
    nn_graph *q = NULL;
    nn_status st = nn_quant__search_graph(g, ranges, qd, tensors, count, dt, &q, diag);
    if (st == NN_OK) st = nn_quant__score(q, inputs, n, refs, ed, out, diag);
    if (st == NN_OK && keep) *keep = q;
    else if (q) nn_graph_destroy(q);
    return st;
}

/* ---- scoring candidates from the base run's values ----
   A layer promoted alone changes the all-quantized graph q0 around that
   layer only: the QDQ graph of the candidate computes everything upstream
   exactly as q0 does.  So each sample runs q0 once, its values at the
   places where a candidate's graph starts to differ are kept, and each
   candidate's executor runs only the steps after them (nn_qexec_set_given).
   A tensor of candidate q has q0's value when q0 has a tensor of that name
   made by a node with the same op, domain, attributes and executor mode
   (float, or the same integer group) from inputs that have q0's values,
   constants byte-equal (nn_quant__same_values).  The scores are the ones
   a whole run gives, bit for bit (test_quant checks every candidate of a
   real model against nn_quant_search_desc.full_runs). */

/* Open-addressing table of g's tensor names: (mask + 1) slots, each a
   tensor id or NN_INVALID_ID. */
static uint32_t nn_quant__name_slot(const char *name, uint32_t mask) {
    uint32_t h = 2166136261u;
    for (; *name; name++) h = (h ^ (unsigned char)*name) * 16777619u; /* FNV-1a */
    return h & mask;
}

static uint32_t nn_quant__name_find(const nn_graph *g, const uint32_t *table, uint32_t mask, const char *name) {
    uint32_t h;
    if (!name || !name[0]) return NN_INVALID_ID;
    for (h = nn_quant__name_slot(name, mask); table[h] != NN_INVALID_ID; h = (h + 1) & mask)
        if (!strcmp(g->tensors[table[h]].name, name)) return table[h];
    return NN_INVALID_ID;
}

/* eq[t] (q->tensor_count) = the tensor of x0's graph holding the same value
   as tensor t of xq's graph in every run, or NN_INVALID_ID. */
static void nn_quant__same_values(const nn_qexec *x0, const uint32_t *table, uint32_t mask, const nn_qexec *xq,
                                  uint32_t *eq) {
    const nn_graph *g0 = x0->g, *q = xq->g;
    uint32_t t, k, i;
    for (t = 0; t < q->tensor_count; t++) {
        const nn_tensor *a = &q->tensors[t], *b;
        uint32_t t0 = nn_quant__name_find(g0, table, mask, a->name);
        eq[t] = NN_INVALID_ID;
        if (t0 == NN_INVALID_ID) continue;
        b = &g0->tensors[t0];
        if (a->flags & NN_TENSOR_CONST) {
            if ((b->flags & NN_TENSOR_CONST) && a->dtype == b->dtype && nn_shape_equal(&a->shape, &b->shape) &&
                a->data_bytes == b->data_bytes && (!a->data_bytes || (a->data && b->data && !memcmp(a->data, b->data, a->data_bytes))))
                eq[t] = t0;
        } else if (a->producer.id == NN_INVALID_ID && b->producer.id == NN_INVALID_ID && !(b->flags & NN_TENSOR_CONST) &&
                   a->dtype == b->dtype) {
            eq[t] = t0; /* graph inputs of the same name */
        }
    }
    for (k = 0; k < q->node_count; k++) {
        uint32_t ni = xq->order[k], t0 = NN_INVALID_ID, p, ok = 1;
        const nn_node *n = &q->nodes[ni], *m;
        for (i = 0; i < n->output_count && t0 == NN_INVALID_ID; i++)
            if (n->outputs[i].id != NN_INVALID_ID) t0 = nn_quant__name_find(g0, table, mask, q->tensors[n->outputs[i].id].name);
        if (t0 == NN_INVALID_ID || (p = g0->tensors[t0].producer.id) == NN_INVALID_ID) continue;
        m = &g0->nodes[p];
        if (strcmp(n->op_type, m->op_type) || strcmp(n->domain, m->domain) || n->input_count != m->input_count ||
            n->output_count != m->output_count || n->attr_count != m->attr_count || xq->mode[ni] != x0->mode[p] ||
            (xq->gidx[ni] >= 0) != (x0->gidx[p] >= 0))
            continue;
        for (i = 0; i < n->input_count && ok; i++) {
            uint32_t a = n->inputs[i].id, b = m->inputs[i].id;
            ok = a == NN_INVALID_ID ? b == NN_INVALID_ID : b != NN_INVALID_ID && eq[a] == b;
        }
        for (i = 0; i < n->attr_count && ok; i++) {
            const nn_attr *o = nn_node_attr(m, n->attrs[i].name);
            ok = o && nn_attr_equal(&n->attrs[i], o);
        }
        for (i = 0; i < n->output_count && ok; i++) {
            uint32_t a = n->outputs[i].id, b = m->outputs[i].id;
            ok = a == NN_INVALID_ID ? b == NN_INVALID_ID : b != NN_INVALID_ID && !strcmp(q->tensors[a].name, g0->tensors[b].name);
        }
        for (i = 0; i < n->output_count && ok; i++)
            if (n->outputs[i].id != NN_INVALID_ID) eq[n->outputs[i].id] = m->outputs[i].id;
    }
}

/* 1 for each tensor a step of x writes (a group's integer output, a float
   node's outputs): the values a run of x can hand on. */
static void nn_quant__step_outputs(const nn_qexec *x, uint8_t *made) {
    uint32_t i, j;
    memset(made, 0, x->g->tensor_count);
    for (i = 0; i < x->step_count; i++) {
        const nn_node *n = &x->g->nodes[x->steps[i].node];
        if (x->steps[i].group >= 0) made[x->groups[x->steps[i].group].y.id] = 1;
        else
            for (j = 0; j < n->output_count; j++)
                if (n->outputs[j].id != NN_INVALID_ID) made[n->outputs[j].id] = 1;
    }
}

/* The base graph the candidates are compared with: q0, an executor of it
   (its modes and the tensors its steps write), its tensor names, and once
   filled, its values on every sample for the tensors in keep. */
typedef struct nn_quant__base {
    const nn_graph *q0;
    nn_qexec *x0;
    uint32_t *table, mask;         /* nn_quant__name_find */
    uint8_t *made;                 /* (T0) written by a step of x0 */
    uint8_t *keep;                 /* (T0) values a candidate read (union) */
    nn_value *vals;                /* (n x T0) kept values of each sample, or NULL */
    uint32_t n;
    size_t bytes;
} nn_quant__base;

static void nn_quant__base_free(nn_quant__base *b) {
    nn_allocator al;
    size_t i;
    memset(&al, 0, sizeof al);
    if (b->x0) nn_qexec_destroy(b->x0);
    for (i = 0; b->vals && i < (size_t)b->n * b->q0->tensor_count; i++) nn_free(&al, b->vals[i].data);
    nn_free(&al, b->vals);
    nn_free(&al, b->table);
    nn_free(&al, b->made);
    nn_free(&al, b->keep);
    memset(b, 0, sizeof *b);
}

static nn_status nn_quant__base_init(nn_quant__base *b, const nn_graph *q0, const nn_quant_eval_desc *ed, nn_diag *diag) {
    nn_allocator al;
    nn_qexec_desc xd;
    uint32_t i, T0 = q0->tensor_count, mask = 1;
    nn_status st;
    memset(&al, 0, sizeof al);
    memset(b, 0, sizeof *b);
    b->q0 = q0;
    while (mask < 2u * T0 + 1) mask <<= 1;
    b->table = (uint32_t *)nn_alloc(&al, (size_t)mask * sizeof *b->table);
    b->mask = mask - 1;
    b->made = (uint8_t *)nn_alloc(&al, (size_t)T0 + 1);
    b->keep = (uint8_t *)nn_alloc(&al, (size_t)T0 + 1);
    if (!b->table || !b->made || !b->keep) { nn_quant__base_free(b); return nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_search", "out of memory"); }
    memset(b->keep, 0, T0);
    for (i = 0; i <= b->mask; i++) b->table[i] = NN_INVALID_ID;
    for (i = 0; i < T0; i++) {
        uint32_t h;
        if (!q0->tensors[i].name || !q0->tensors[i].name[0]) continue;
        for (h = nn_quant__name_slot(q0->tensors[i].name, b->mask); b->table[h] != NN_INVALID_ID; h = (h + 1) & b->mask) {}
        b->table[h] = i;
    }
    memset(&xd, 0, sizeof xd);
    xd.float_only = !ed->int_kernels;
    if ((st = nn_qexec_create(q0, &xd, &b->x0, diag))) { nn_quant__base_free(b); return st; }
    nn_quant__step_outputs(b->x0, b->made);
    return NN_OK;
}

/* One candidate: the tensors its runs take from the base run. */
typedef struct nn_quant__cand {
    uint32_t *from, *base_of;      /* (nfrom) its tensor, the base's */
    uint32_t nfrom;
} nn_quant__cand;

/* Gives the executors xs[0..nt) of one candidate graph q the tensors that
   keep q0's values and q0's steps write; cd gets those its runs read. */
static nn_status nn_quant__plan_cand(const nn_quant__base *b, nn_qexec **xs, uint32_t nt, nn_quant__cand *cd, nn_diag *diag) {
    nn_allocator al;
    const nn_graph *q = xs[0]->g;
    uint32_t *eq, i, t;
    uint8_t *given;
    nn_status st = NN_OK;
    memset(&al, 0, sizeof al);
    eq = (uint32_t *)nn_alloc(&al, ((size_t)q->tensor_count + 1) * sizeof *eq);
    given = (uint8_t *)nn_alloc(&al, (size_t)q->tensor_count + 1);
    cd->nfrom = 0;
    cd->from = (uint32_t *)nn_alloc(&al, ((size_t)q->tensor_count + 1) * sizeof *cd->from);
    cd->base_of = (uint32_t *)nn_alloc(&al, ((size_t)q->tensor_count + 1) * sizeof *cd->base_of);
    if (!eq || !given || !cd->from || !cd->base_of) st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_search", "out of memory");
    if (st == NN_OK) {
        nn_quant__same_values(b->x0, b->table, b->mask, xs[0], eq);
        /* a DequantizeLinear's float output is not taken: the node runs again
           from its integer input, a quarter (int8) or half (int16) the bytes */
        for (i = 0; i < q->tensor_count; i++) {
            uint32_t p = q->tensors[i].producer.id;
            given[i] = eq[i] != NN_INVALID_ID && b->made[eq[i]] &&
                       !(p != NN_INVALID_ID && !strcmp(q->nodes[p].op_type, "DequantizeLinear"));
        }
        for (t = 0; t < nt && st == NN_OK; t++) st = nn_qexec_set_given(xs[t], given, diag);
    }
    for (i = 0; st == NN_OK && i < q->tensor_count; i++)
        if (given[i] && q->tensors[i].producer.id != NN_INVALID_ID && !(q->tensors[i].flags & NN_TENSOR_CONST) &&
            nn_qexec_reads(xs[0], i)) {
            cd->from[cd->nfrom] = i;
            cd->base_of[cd->nfrom++] = eq[i];
        }
    nn_free(&al, eq);
    nn_free(&al, given);
    return st;
}

static void nn_quant__cand_free(nn_quant__cand *cd) {
    nn_allocator al;
    memset(&al, 0, sizeof al);
    nn_free(&al, cd->from);
    nn_free(&al, cd->base_of);
    memset(cd, 0, sizeof *cd);
}

/* A thread's share of the samples (first, first + step, ...) for three
   uses: with x0 and own, q0 runs each sample into own (this thread's
   values, one sample at a time) and the m candidates run from them; with
   x0 and no own, q0's runs fill the base's values (m = 0, at most
   budget bytes per thread); without x0, the candidates run from the
   filled values. */
typedef struct nn_quant__fb_job {
    const nn_quant__base *b;
    nn_graph *const *qs;
    const nn_quant__cand *cands;
    uint32_t m;
    nn_qexec *x0, **xs;            /* x0 optional; xs (m) */
    nn_value *own, *cur;           /* own: (T0) or NULL; cur: the values the observer writes */
    size_t bytes, budget;
    int over;                      /* the budget was passed: the fill stopped */
    const nn_value *inputs;
    const nn_quant__ref *refs;
    uint32_t first, step, n;
    nn_quant_metric_fn metric;
    void *metric_user;
    double *cos;                   /* (m) x (n * outputs) */
    nn_quant_log_fn progress;      /* job 0 of a batch: a line per sample */
    void *progress_user;
    uint32_t label;                /* its first candidate's number (1-based) */
    nn_status st;
    nn_diag diag;
} nn_quant__fb_job;

/* x0's observer: copies each kept value into the job's current values. */
static int nn_quant__fb_keep(void *user, const nn_graph *g, uint32_t node_index, const nn_value *outputs, uint32_t count) {
    nn_quant__fb_job *j = (nn_quant__fb_job *)user;
    const nn_node *n = &g->nodes[node_index];
    uint32_t o;
    for (o = 0; o < count && o < n->output_count; o++) {
        uint32_t t = n->outputs[o].id;
        nn_value *c;
        if (t == NN_INVALID_ID || !j->b->keep[t]) continue;
        c = &j->cur[t];
        if (c->bytes != outputs[o].bytes || !c->data) {
            nn_allocator al;
            memset(&al, 0, sizeof al);
            j->bytes += outputs[o].bytes - (c->data ? c->bytes : 0);
            if (j->budget && j->bytes > j->budget) { j->over = 1; return 1; }
            nn_free(&al, c->data);
            c->data = nn_alloc(&al, outputs[o].bytes + 1);
            if (!c->data) { j->st = nn_diag_set(&j->diag, NN_ERR_NOMEM, "nn_quant_search", "out of memory"); return 1; }
        }
        c->dtype = outputs[o].dtype;
        c->shape = outputs[o].shape;
        c->bytes = outputs[o].bytes;
        c->flags = 0;
        if (outputs[o].bytes) memcpy(c->data, outputs[o].data, outputs[o].bytes);
    }
    return 0;
}

static void *nn_quant__fb_run(void *arg) {
    nn_quant__fb_job *j = (nn_quant__fb_job *)arg;
    uint32_t k, c, f, no = j->b->q0->output_count, T0 = j->b->q0->tensor_count;
    for (k = j->first; k < j->n && j->st == NN_OK; k += j->step) {
        nn_value *cur = j->own ? j->own : j->b->vals + (size_t)k * T0;
        if (j->x0) {
            nn_status st;
            j->cur = cur;
            st = nn_quant__run_q(j->x0, j->b->q0, j->inputs, k, &j->diag);
            if (j->over) return NULL;
            if (st) { if (j->st == NN_OK) j->st = st; break; }
        }
        if (j->progress && j->m > 1)
            nn_quant__logf(j->progress, j->progress_user, "search: layers %u-%u, sample %u/%u", j->label,
                           j->label + j->m - 1, k + 1, j->n);
        for (c = 0; c < j->m && j->st == NN_OK; c++) {
            const nn_quant__cand *cd = &j->cands[c];
            for (f = 0; f < cd->nfrom && j->st == NN_OK; f++)
                j->st = nn_qexec_set_value(j->xs[c], cd->from[f], &cur[cd->base_of[f]], &j->diag);
            if (j->st == NN_OK) j->st = nn_quant__run_q(j->xs[c], j->qs[c], j->inputs, k, &j->diag);
            if (j->st == NN_OK)
                j->st = nn_quant__sample_terms(j->qs[c], j->xs[c], j->refs, k, j->metric, j->metric_user,
                                               j->cos + (size_t)c * j->n * no, &j->diag);
        }
    }
    return NULL;
}

/* The scores of candidate graphs qs[0..m) (each q0 with a change, same
   inputs and outputs) against refs on n samples, as nn_quant__score gives
   them, each run from q0's values where it computes the same (above):
   from b's filled values (b->vals), else from a run of q0 per sample.
   Without b->vals, b->keep is set to the tensors the candidates read.
   *ran and *whole add the steps the candidates ran and the steps whole
   runs of them would have, per sample.  With m > 1, a progress line per
   sample (of the first thread) names the candidates label..label+m-1.  *covered (optional) is 0 when b's
   filled values lack one the candidates need (nothing is scored then). */
static nn_status nn_quant__score_from_base(nn_quant__base *b, nn_graph *const *qs, uint32_t m, uint32_t label,
                                           const nn_value *inputs, uint32_t n, const nn_quant__ref *refs,
                                           const nn_quant_eval_desc *ed, double *out, uint64_t *ran, uint64_t *whole,
                                           int *covered, nn_diag *diag) {
    nn_allocator al;
    nn_quant__fb_job jobs[8];
    uint32_t nt = nn_quant__job_count(ed->threads, n), t, c, i, T0 = b->q0->tensor_count, no = b->q0->output_count;
    nn_quant__cand *cands = NULL;
    double *cos = NULL;
    nn_qexec_desc xd;
    nn_status st = NN_OK;
    memset(&al, 0, sizeof al);
    memset(jobs, 0, sizeof jobs);
    if (covered) *covered = 1;
    cands = (nn_quant__cand *)nn_alloc(&al, ((size_t)m + 1) * sizeof *cands);
    cos = (double *)nn_alloc(&al, ((size_t)m * n * no + 1) * sizeof *cos);
    if (!cands || !cos) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_search", "out of memory"); goto done; }
    memset(cands, 0, ((size_t)m + 1) * sizeof *cands);
    memset(&xd, 0, sizeof xd);
    xd.float_only = !ed->int_kernels;
    if (!b->vals) memset(b->keep, 0, T0);
    for (t = 0; t < nt; t++) { /* executors: one per candidate, and the base with its observer */
        nn_quant__fb_job *j = &jobs[t];
        j->b = b; j->qs = qs; j->cands = cands; j->m = m;
        j->inputs = inputs; j->refs = refs; j->first = t; j->step = nt; j->n = n;
        j->metric = ed->metric; j->metric_user = ed->metric_user; j->cos = cos;
        if (t == 0) { j->progress = ed->progress; j->progress_user = ed->progress_user; j->label = label; }
        j->xs = (nn_qexec **)nn_alloc(&al, ((size_t)m + 1) * sizeof *j->xs);
        if (!j->xs) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_search", "out of memory"); goto done; }
        memset(j->xs, 0, ((size_t)m + 1) * sizeof *j->xs);
        for (c = 0; c < m; c++)
            if ((st = nn_qexec_create(qs[c], &xd, &j->xs[c], diag))) goto done;
        if (!b->vals) {
            nn_qexec_desc bd = xd;
            bd.observer = nn_quant__fb_keep;
            bd.observer_user = j;
            j->own = (nn_value *)nn_alloc(&al, ((size_t)T0 + 1) * sizeof *j->own);
            if (!j->own) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_search", "out of memory"); goto done; }
            memset(j->own, 0, ((size_t)T0 + 1) * sizeof *j->own);
            if ((st = nn_qexec_create(b->q0, &bd, &j->x0, diag))) goto done;
        }
    }
    for (c = 0; c < m; c++) { /* what each candidate takes from the base run */
        nn_qexec *xc[8];
        uint32_t full = jobs[0].xs[c]->step_count; /* a whole run's steps, before the plan */
        for (t = 0; t < nt; t++) xc[t] = jobs[t].xs[c];
        if ((st = nn_quant__plan_cand(b, xc, nt, &cands[c], diag))) goto done;
        for (i = 0; i < cands[c].nfrom; i++) {
            if (b->vals && !b->keep[cands[c].base_of[i]]) { if (covered) *covered = 0; goto done; }
            b->keep[cands[c].base_of[i]] = 1;
        }
        if (ran) *ran += xc[0]->step_count;
        if (whole) *whole += full;
    }
    nn_quant__run_jobs(nn_quant__fb_run, jobs, sizeof jobs[0], nt);
    for (t = 0; t < nt && st == NN_OK; t++)
        if (jobs[t].st != NN_OK) st = nn_diag_set(diag, jobs[t].st, jobs[t].diag.where, "%s", jobs[t].diag.message);
    for (c = 0; c < m && st == NN_OK; c++) out[c] = nn_quant__reduce(cos + (size_t)c * n * no, n, no, ed->worst);
done:
    for (t = 0; t < nt; t++) {
        nn_quant__fb_job *j = &jobs[t];
        if (j->x0) nn_qexec_destroy(j->x0);
        for (c = 0; j->xs && c < m; c++)
            if (j->xs[c]) nn_qexec_destroy(j->xs[c]);
        for (i = 0; j->own && i < T0; i++) nn_free(&al, j->own[i].data);
        nn_free(&al, j->xs);
        nn_free(&al, j->own);
    }
    for (c = 0; cands && c < m; c++) nn_quant__cand_free(&cands[c]);
    nn_free(&al, cands);
    nn_free(&al, cos);
    return st;
}

/* Runs q0 on the n samples keeping the values of b->keep (b->vals).  When
   they would pass budget bytes, nothing is kept (b->vals NULL) and the
   log says so: the callers then run whole graphs. */
static nn_status nn_quant__base_fill(nn_quant__base *b, const nn_value *inputs, uint32_t n, const nn_quant_eval_desc *ed,
                                     size_t budget, nn_diag *diag) {
    nn_allocator al;
    nn_quant__fb_job jobs[8];
    uint32_t nt = nn_quant__job_count(ed->threads, n), t, T0 = b->q0->tensor_count;
    size_t total = 0, i;
    int over = 0;
    nn_qexec_desc xd;
    nn_status st = NN_OK;
    memset(&al, 0, sizeof al);
    memset(jobs, 0, sizeof jobs);
    b->n = n;
    b->vals = (nn_value *)nn_alloc(&al, ((size_t)n * T0 + 1) * sizeof *b->vals);
    if (!b->vals) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_search", "out of memory");
    memset(b->vals, 0, ((size_t)n * T0 + 1) * sizeof *b->vals);
    memset(&xd, 0, sizeof xd);
    xd.float_only = !ed->int_kernels;
    xd.observer = nn_quant__fb_keep;
    for (t = 0; t < nt && st == NN_OK; t++) {
        nn_quant__fb_job *j = &jobs[t];
        j->b = b; j->inputs = inputs; j->first = t; j->step = nt; j->n = n; j->budget = budget / nt;
        xd.observer_user = j;
        st = nn_qexec_create(b->q0, &xd, &j->x0, diag);
    }
    if (st == NN_OK) nn_quant__run_jobs(nn_quant__fb_run, jobs, sizeof jobs[0], nt);
    for (t = 0; t < nt; t++) {
        if (st == NN_OK && jobs[t].st != NN_OK) st = nn_diag_set(diag, jobs[t].st, jobs[t].diag.where, "%s", jobs[t].diag.message);
        over |= jobs[t].over;
        total += jobs[t].bytes;
        if (jobs[t].x0) nn_qexec_destroy(jobs[t].x0);
    }
    b->bytes = total;
    if (st != NN_OK || over) {
        for (i = 0; i < (size_t)n * T0; i++) nn_free(&al, b->vals[i].data);
        nn_free(&al, b->vals);
        b->vals = NULL;
        b->bytes = 0;
    }
    if (st == NN_OK && over)
        nn_quant__logf(ed->progress, ed->progress_user, "search: the all-quantized values the promotions start from need "
                       "more than %zu MiB; promotions run whole graphs", budget >> 20);
    return st;
}

/* The score of g quantized with `count` promoted tensors, as
   nn_quant__search_eval gives it: from b's filled values when b has them
   and they cover what the promotions change, else a whole run. */
static nn_status nn_quant__search_eval_from(nn_quant__base *b, const nn_graph *g, const nn_quant_range *ranges,
                                            const nn_quant_desc *qd, const uint32_t *tensors, uint32_t count, nn_quant_dtype dt,
                                            const nn_value *inputs, uint32_t n, const nn_quant__ref *refs,
                                            const nn_quant_eval_desc *ed, double *out, nn_diag *diag) {
    nn_graph *q = NULL;
    int covered = 0;
    nn_status st;
    if (!b || !b->vals) return nn_quant__search_eval(g, ranges, qd, tensors, count, dt, inputs, n, refs, ed, out, NULL, diag);
    st = nn_quant__search_graph(g, ranges, qd, tensors, count, dt, &q, diag);
    if (st == NN_OK) st = nn_quant__score_from_base(b, &q, 1, 0, inputs, n, refs, ed, out, NULL, NULL, &covered, diag);
    if (st == NN_OK && !covered) st = nn_quant__score(q, inputs, n, refs, ed, out, diag);
    if (q) nn_graph_destroy(q);
    return st;
}

/* Descending by key, ties by node: the search's three orders. */
static int nn_quant__cmp_desc(double kx, double ky, uint32_t nx, uint32_t ny) {
    return kx < ky ? 1 : kx > ky ? -1 : (nx > ny) - (nx < ny);
}

static int nn_quant__cmp_layer(const void *a, const void *b) {
    const nn_quant_search_layer *x = (const nn_quant_search_layer *)a, *y = (const nn_quant_search_layer *)b;
    return nn_quant__cmp_desc(x->cos_promoted, y->cos_promoted, x->node, y->node);
}

static int nn_quant__cmp_prescreen(const void *a, const void *b) {
    const nn_quant_search_layer *x = (const nn_quant_search_layer *)a, *y = (const nn_quant_search_layer *)b;
    return nn_quant__cmp_desc(x->cos_prescreen, y->cos_prescreen, x->node, y->node);
}

static int nn_quant__cmp_drop(const void *a, const void *b) {
    const nn_quant_search_layer *x = (const nn_quant_search_layer *)a, *y = (const nn_quant_search_layer *)b;
    return nn_quant__cmp_desc(x->local_drop, y->local_drop, x->node, y->node);
}

/* An analysis row the search may promote: a quantized node's first output,
   not a data-movement op (those share their input's scale). */
static int nn_quant__searchable(const nn_graph *g, const nn_quant_layer_report *row) {
    const nn_node *n = &g->nodes[row->node];
    return row->qdtype != NN_DTYPE_FLOAT && n->outputs[0].id == row->tensor && !nn_quant__op_is(n, nn_quant__move_ops);
}

/* Step 6 of the search: the quantizable layers of the analysis rows (in
   topological order) not promoted yet, cut into runs of s->block_layers;
   each run's output cosine measured with prom[0..*np) and the run
   promoted; then runs added best first while they raise the cosine, until
   expected_cos or the layer cap.  prom has room for every node. */
static nn_status nn_quant__search_blocks(const nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *base,
                                         const nn_quant_search_desc *s, nn_quant__base *b0, const nn_quant_layer_report *rows, uint32_t nrows,
                                         const nn_value *inputs, uint32_t sample_count, const nn_quant__ref *refs,
                                         uint32_t *prom, uint32_t *np, nn_quant_search_result *r, nn_diag *diag) {
    nn_allocator al;
    uint32_t *all, na = 0, nb, b, i, k, B = s->block_layers;
    double *bcos;
    char *used;
    nn_status st = NN_OK;
    const double c0 = r->cos_after; /* with the single layers */
    memset(&al, 0, sizeof al);
    all = (uint32_t *)nn_alloc(&al, ((size_t)nrows + 1) * sizeof *all);
    bcos = (double *)nn_alloc(&al, ((size_t)nrows + 1) * sizeof *bcos);
    used = (char *)nn_alloc(&al, (size_t)nrows + 1);
    if (!all || !bcos || !used) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_search", "out of memory"); goto done; }
    for (i = 0; i < nrows; i++) {
        if (!nn_quant__searchable(g, &rows[i])) continue;
        for (k = 0; k < *np && prom[k] != rows[i].tensor; k++) {}
        if (k == *np) all[na++] = rows[i].tensor;
    }
    nb = (na + B - 1) / B;
    for (b = 0; b < nb; b++) { /* each run promoted on top of the promoted layers */
        uint32_t len = b * B + B <= na ? B : na - b * B;
        memcpy(prom + *np, all + b * B, len * sizeof *prom);
        if ((st = nn_quant__search_eval_from(b0, g, ranges, base, prom, *np + len, s->promote, inputs, sample_count, refs,
                                             &s->eval, &bcos[b], diag)))
            goto done;
        used[b] = 0;
        nn_quant__logf(s->eval.progress, s->eval.progress_user, "search: run %u/%u (%u layers from %s): output cosine %.6f",
                       b + 1, nb, len, g->tensors[all[b * B]].name, bcos[b]);
    }
    r->blocks_measured = nb;
    for (;;) { /* greedy, best measured run first */
        uint32_t best = nb, len;
        double c;
        if (r->cos_after >= s->expected_cos) break;
        for (b = 0; b < nb; b++)
            if (!used[b] && (best == nb || bcos[b] > bcos[best])) best = b;
        if (best == nb || bcos[best] <= c0) break;
        used[best] = 1;
        len = best * B + B <= na ? B : na - best * B;
        if (s->max_float_layers && *np + len > s->max_float_layers) continue;
        memcpy(prom + *np, all + best * B, len * sizeof *prom);
        if ((st = nn_quant__search_eval_from(b0, g, ranges, base, prom, *np + len, s->promote, inputs, sample_count, refs,
                                             &s->eval, &c, diag)))
            goto done;
        nn_quant__logf(s->eval.progress, s->eval.progress_user, "search: promote run from %s (%u layers): output cosine %.6f -> %.6f",
                       g->tensors[all[best * B]].name, len, r->cos_after, c);
        if (c <= r->cos_after) continue; /* no gain with the others: leave it */
        r->cos_after = c;
        *np += len;
        r->blocks_promoted++;
    }
done:
    nn_free(&al, all);
    nn_free(&al, bcos);
    nn_free(&al, used);
    return st;
}

#define NN_QUANT__BATCH 16 /* candidates scored from one base run (their graphs and executors are alive together) */

/* Scores each of layers[0..nl) promoted alone on n samples, into
   cos_prescreen (prescreen) or cos_promoted, one progress line each.
   Unless s->full_runs, NN_QUANT__BATCH at a time from runs of the base
   (the all-quantized graph); *ran / *whole add their steps, and keep
   (optional, q0->tensor_count) gets the base tensors they read. */
static nn_status nn_quant__measure_alone(const nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *base,
                                         const nn_quant_search_desc *s, nn_quant__base *base0, nn_quant_search_layer *layers,
                                         uint32_t nl, const nn_value *inputs, uint32_t n, const nn_quant__ref *refs,
                                         int prescreen, uint64_t *ran, uint64_t *whole, uint8_t *keep, nn_diag *diag) {
    nn_graph *qs[NN_QUANT__BATCH];
    double sc[NN_QUANT__BATCH];
    uint32_t i, b, bn;
    nn_status st = NN_OK;
    for (b = 0; b < nl && st == NN_OK; b += bn) {
        bn = s->full_runs ? 1 : nl - b < NN_QUANT__BATCH ? nl - b : NN_QUANT__BATCH;
        memset(qs, 0, sizeof qs);
        for (i = 0; i < bn && st == NN_OK; i++)
            st = nn_quant__search_graph(g, ranges, base, &layers[b + i].tensor, 1, s->promote, &qs[i], diag);
        if (st == NN_OK && s->full_runs) st = nn_quant__score(qs[0], inputs, n, refs, &s->eval, &sc[0], diag);
        else if (st == NN_OK) st = nn_quant__score_from_base(base0, qs, bn, b + 1, inputs, n, refs, &s->eval, sc, ran, whole, NULL, diag);
        for (i = 0; keep && !s->full_runs && st == NN_OK && i < base0->q0->tensor_count; i++) keep[i] |= base0->keep[i];
        for (i = 0; i < bn; i++)
            if (qs[i]) nn_graph_destroy(qs[i]);
        for (i = 0; i < bn && st == NN_OK; i++) {
            nn_quant_search_layer *l = &layers[b + i];
            uint32_t t = l->tensor;
            if (prescreen) {
                l->cos_prescreen = sc[i];
                nn_quant__logf(s->eval.progress, s->eval.progress_user, "search: prescreen %u/%u %s (%s): output cosine %.6f on %u sample(s)",
                               b + i + 1, nl, g->tensors[t].name, g->nodes[l->node].op_type, sc[i], n);
            } else {
                l->cos_promoted = sc[i];
                nn_quant__logf(s->eval.progress, s->eval.progress_user, "search: layer %u/%u %s (%s): local drop %.6f, output cosine %.6f",
                               b + i + 1, nl, g->tensors[t].name, g->nodes[l->node].op_type, l->local_drop, sc[i]);
            }
        }
    }
    return st;
}

/* The pn samples on which q scores lowest, in sample order: *pin gets their
   inputs and *pref their float outputs (shallow copies, freed with nn_free
   only). */
static nn_status nn_quant__worst_samples(const nn_graph *g, const nn_graph *q, const nn_value *inputs, uint32_t n,
                                         const nn_quant__ref *refs, const nn_quant_eval_desc *ed, uint32_t pn,
                                         nn_value **pin, nn_quant__ref **pref, nn_diag *diag) {
    nn_allocator al;
    uint32_t ni = g->input_count, no = g->output_count, k, m, c = 0;
    double *cos, *score;
    unsigned char *take;
    nn_status st;
    memset(&al, 0, sizeof al);
    cos = (double *)nn_alloc(&al, ((size_t)n * no + 1) * sizeof *cos);
    score = (double *)nn_alloc(&al, ((size_t)n + 1) * sizeof *score);
    take = (unsigned char *)nn_alloc(&al, (size_t)n + 1);
    *pin = (nn_value *)nn_alloc(&al, ((size_t)pn * ni + 1) * sizeof **pin);
    *pref = (nn_quant__ref *)nn_alloc(&al, ((size_t)pn * no + 1) * sizeof **pref);
    if (!cos || !score || !take || !*pin || !*pref) st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_search", "out of memory");
    else st = nn_quant__score_terms(q, inputs, n, refs, ed, cos, diag);
    if (st == NN_OK) {
        for (k = 0; k < n; k++) {
            score[k] = nn_quant__sample_score(cos, k, no);
            take[k] = 0;
        }
        for (m = 0; m < pn; m++) { /* pn times the lowest score not taken (ties: the first) */
            uint32_t w = n;
            for (k = 0; k < n; k++)
                if (!take[k] && (w == n || score[k] < score[w])) w = k;
            take[w] = 1;
        }
        for (k = 0; k < n; k++)
            if (take[k]) {
                memcpy(*pin + (size_t)c * ni, inputs + (size_t)k * ni, ni * sizeof **pin);
                memcpy(*pref + (size_t)c * no, refs + (size_t)k * no, no * sizeof **pref);
                c++;
            }
    }
    nn_free(&al, cos);
    nn_free(&al, score);
    nn_free(&al, take);
    return st;
}

NN_API nn_status nn_quant_search(const nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd,
                                 const nn_value *inputs, uint32_t sample_count, const nn_quant_search_desc *sd,
                                 nn_quant_table *out, nn_quant_search_layer *layers, uint32_t *layer_count,
                                 nn_quant_search_result *res, nn_diag *diag) {
    nn_allocator al;
    nn_quant_search_desc s;
    nn_quant_desc base;
    nn_quant__ref *refs = NULL;
    nn_quant_layer_report *rows = NULL;
    double *cos_of = NULL;         /* (tensor_count) analysis cosine, 2 when not seen */
    uint32_t *prom = NULL, nrows = 0, nl = 0, np = 0, i, j;
    nn_value *pin = NULL;          /* prescreen: its samples' inputs and float outputs (borrowed) */
    nn_quant__ref *pref = NULL;
    nn_quant_search_result r;
    nn_graph *q0 = NULL;
    nn_quant__base b0;             /* q0's values the measurements start from */
    uint8_t *keep = NULL;          /* (q0 tensors) of those, the ones the measured layers read */
    uint64_t ran = 0, whole = 0;   /* steps the measured layers ran / whole runs would */
    nn_status st;
    NN_ASSERT(g && ranges && inputs && out && layers && layer_count);
    memset(&al, 0, sizeof al);
    memset(&s, 0, sizeof s);
    memset(&base, 0, sizeof base);
    memset(&r, 0, sizeof r);
    memset(&b0, 0, sizeof b0);
    if (sd) s = *sd;
    if (qd) base = *qd;
    if (s.expected_cos <= 0) s.expected_cos = 0.99;
    if (s.candidates == 0) s.candidates = 24;
    if (s.promote == NN_QUANT_DTYPE_DEFAULT) s.promote = NN_QUANT_DTYPE_F32;
    rows = (nn_quant_layer_report *)nn_alloc(&al, ((size_t)g->tensor_count + 1) * sizeof *rows);
    cos_of = (double *)nn_alloc(&al, ((size_t)g->tensor_count + 1) * sizeof *cos_of);
    prom = (uint32_t *)nn_alloc(&al, ((size_t)g->node_count + 1) * sizeof *prom);
    if (!rows || !cos_of || !prom) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_search", "out of memory"); goto done; }
    /* 1. float outputs once, 2. the all-quantized score and its analysis */
    if ((st = nn_quant__float_outputs(s.reference ? s.reference : g, inputs, sample_count, &s.eval, &refs, diag)))
        goto done;
    if ((st = nn_quant__search_eval(g, ranges, &base, NULL, 0, s.promote, inputs, sample_count, refs, &s.eval,
                                    &r.cos_before, &q0, diag)))
        goto done;
    nn_quant__logf(s.eval.progress, s.eval.progress_user, "search: all quantized, output cosine %.6f", r.cos_before);
    r.cos_after = r.cos_before;
    if (r.cos_before >= s.expected_cos) goto finish;
    if ((st = nn_quant_analyze(g, q0, inputs, sample_count < 2 ? sample_count : 2, &s.eval, rows, &nrows, diag))) goto done;
    for (i = 0; i < g->tensor_count; i++) cos_of[i] = 2.0;
    for (i = 0; i < nrows; i++) cos_of[rows[i].tensor] = rows[i].cosine;
    /* 3. local drop of every quantized layer: its loss beyond its worst input's */
    for (i = 0; i < nrows; i++) {
        const nn_node *n = &g->nodes[rows[i].node];
        double worst = 0;
        if (!nn_quant__searchable(g, &rows[i])) continue;
        r.quantizable++;
        for (j = 0; j < n->input_count; j++) {
            uint32_t t = n->inputs[j].id;
            if (t != NN_INVALID_ID && cos_of[t] <= 1.0 && 1.0 - cos_of[t] > worst) worst = 1.0 - cos_of[t];
        }
        layers[nl].node = rows[i].node;
        layers[nl].tensor = rows[i].tensor;
        layers[nl].local_drop = (1.0 - rows[i].cosine) - worst;
        layers[nl].cos_prescreen = 0;
        layers[nl].cos_promoted = 0;
        layers[nl].promoted = 0;
        nl++;
    }
    qsort(layers, nl, sizeof *layers, nn_quant__cmp_drop);
    if (!s.full_runs) {
        if ((st = nn_quant__base_init(&b0, q0, &s.eval, diag))) goto done;
        keep = (uint8_t *)nn_alloc(&al, (size_t)q0->tensor_count + 1);
        if (!keep) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_search", "out of memory"); goto done; }
        memset(keep, 0, q0->tensor_count);
    }
    /* 3b. optional prescreen: every layer promoted alone on the samples the
       all-quantized model scores worst (where a promotion shows most) */
    if (s.prescreen_samples && nl > s.candidates) {
        uint32_t pn = s.prescreen_samples < sample_count ? s.prescreen_samples : sample_count;
        if ((st = nn_quant__worst_samples(g, q0, inputs, sample_count, refs, &s.eval, pn, &pin, &pref, diag)))
            goto done;
        if ((st = nn_quant__measure_alone(g, ranges, &base, &s, &b0, layers, nl, pin, pn, pref, 1, &ran, &whole, NULL, diag)))
            goto done;
        qsort(layers, nl, sizeof *layers, nn_quant__cmp_prescreen);
    }
    if (nl > s.candidates) nl = s.candidates;
    /* 4. final cosine with only that layer promoted */
    if ((st = nn_quant__measure_alone(g, ranges, &base, &s, &b0, layers, nl, inputs, sample_count, refs, 0, &ran, &whole,
                                      keep, diag)))
        goto done;
    if (whole)
        nn_quant__logf(s.eval.progress, s.eval.progress_user, "search: measured layers ran %.1f%% of their graphs' steps "
                       "(the rest taken from the all-quantized run)", 100.0 * (double)ran / (double)whole);
    /* the promotions below start from the all-quantized values the measured layers read, kept for every sample */
    if (!s.full_runs && nl && keep) {
        memcpy(b0.keep, keep, q0->tensor_count);
        if ((st = nn_quant__base_fill(&b0, inputs, sample_count, &s.eval, (size_t)(s.keep_mib ? s.keep_mib : 1024) << 20, diag)))
            goto done;
        if (b0.vals)
            nn_quant__logf(s.eval.progress, s.eval.progress_user, "search: kept %.1f MiB of all-quantized values for the promotions",
                           (double)b0.bytes / 1048576.0);
    }
    r.measured = nl;
    qsort(layers, nl, sizeof *layers, nn_quant__cmp_layer);
    /* 5. greedy promotion, best gain first */
    for (i = 0; i < nl && r.cos_after < s.expected_cos; i++) {
        double c;
        if (s.max_float_layers && np >= s.max_float_layers) break;
        if (layers[i].cos_promoted <= r.cos_before) break;
        prom[np] = layers[i].tensor;
        if ((st = nn_quant__search_eval_from(&b0, g, ranges, &base, prom, np + 1, s.promote, inputs, sample_count, refs,
                                             &s.eval, &c, diag)))
            goto done;
        nn_quant__logf(s.eval.progress, s.eval.progress_user, "search: promote %s: output cosine %.6f -> %.6f",
                       g->tensors[prom[np]].name, r.cos_after, c);
        if (c <= r.cos_after) continue; /* no gain together with the others: leave it */
        layers[i].promoted = 1;
        r.cos_after = c;
        np++;
    }
    /* 6. runs of consecutive layers, when the single layers were not enough */
    if (s.block_layers && r.cos_after < s.expected_cos &&
        (st = nn_quant__search_blocks(g, ranges, &base, &s, &b0, rows, nrows, inputs, sample_count, refs, prom, &np, &r, diag)))
        goto done;
    for (i = 0; i < np && st == NN_OK; i++)
        st = nn_quant_table_add(out, NN_QUANT_RULE_LAYER, nn_quant__layer_rule_name(g, prom[i]), NULL, s.promote, diag);
    r.promoted = np;
finish:
    *layer_count = nl;
    if (res) *res = r;
done:
    if (b0.q0) nn_quant__base_free(&b0);
    nn_free(&al, keep);
    if (q0) nn_graph_destroy(q0);
    if (refs) nn_quant__refs_free(refs, (size_t)sample_count * g->output_count, &al);
    nn_free(&al, pin);
    nn_free(&al, pref);
    nn_free(&al, rows);
    nn_free(&al, cos_of);
    nn_free(&al, prom);
    return st;
}


/* ---- per-layer sensitivity (nn_quant_sensitivity) ---- */

/* 1 when q quantizes node i of g: i's first output has a QuantizeLinear
   named <tensor>_quantized, as nn_quant_analyze maps them; data-movement
   ops (which take their input's parameters) do not count. */
static int nn_quant__quantizes(const nn_graph *g, const nn_graph *q, uint32_t i) {
    const nn_node *n = &g->nodes[i];
    char nb[600];
    nn_tensor_id qt;
    uint32_t t = n->output_count ? n->outputs[0].id : NN_INVALID_ID;
    if (t == NN_INVALID_ID || g->tensors[t].dtype != NN_DTYPE_FLOAT || nn_quant__op_is(n, nn_quant__move_ops)) return 0;
    snprintf(nb, sizeof nb, "%.560s_quantized", g->tensors[t].name);
    qt = nn_graph_find_tensor(q, nb);
    return qt.id != NN_INVALID_ID && q->tensors[qt.id].producer.id != NN_INVALID_ID &&
           !strcmp(q->nodes[q->tensors[qt.id].producer.id].op_type, "QuantizeLinear");
}

NN_API nn_status nn_quant_sensitivity(const nn_graph *g, const nn_quant_range *const *sets, uint32_t set_count,
                                      const nn_quant_desc *qd, const nn_value *inputs, uint32_t sample_count,
                                      const nn_quant_eval_desc *ed, nn_quant_sens_row *rows, uint32_t *row_count,
                                      nn_diag *diag) {
    nn_allocator al;
    nn_quant_eval_desc e;
    nn_quant_desc d;
    nn_quant_table tf;             /* every op type F32: the float base */
    nn_quant__ref *refs = NULL;
    nn_graph *qall = NULL, *q0 = NULL, *qs[NN_QUANT__BATCH];
    nn_quant__base b0;
    uint32_t *order = NULL, i, k, b, bn, nl = 0;
    double sc[NN_QUANT__BATCH];
    nn_quant_dtype def;
    nn_status st;
    NN_ASSERT(g && sets && inputs && rows && row_count);
    memset(&al, 0, sizeof al);
    memset(&e, 0, sizeof e);
    memset(&b0, 0, sizeof b0);
    memset(qs, 0, sizeof qs);
    if (ed) e = *ed;
    memset(&d, 0, sizeof d);
    if (qd) d = *qd;
    d.table = NULL;
    d.log = NULL;
    *row_count = 0;
    nn_quant_table_init(&tf, NULL);
    if (set_count == 0 || set_count > NN_QUANT_SENS_MAX)
        return nn_diag_set(diag, NN_ERR_ARG, "nn_quant_sensitivity", "set_count %u: 1 to %d range sets", set_count,
                           NN_QUANT_SENS_MAX);
    if (sample_count == 0) return nn_diag_set(diag, NN_ERR_ARG, "nn_quant_sensitivity", "no samples");
    def = d.scheme == NN_QUANT_U8_ASYM ? NN_QUANT_DTYPE_UINT8 : d.scheme == NN_QUANT_S16_SYM ? NN_QUANT_DTYPE_INT16
                                                                                              : NN_QUANT_DTYPE_INT8;
    order = (uint32_t *)nn_alloc(&al, ((size_t)g->node_count + 1) * sizeof *order);
    if (!order) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_sensitivity", "out of memory");
    if ((st = nn_graph_topo_order(g, order, diag))) goto done;
    if ((st = nn_quant__float_outputs(g, inputs, sample_count, &e, &refs, diag))) goto done;
    /* the layers: those the all-quantized graph (first set) quantizes */
    if ((st = nn_quant_graph(g, sets[0], &d, &qall, NULL, diag))) goto done;
    for (i = 0; i < g->node_count; i++)
        if (nn_quant__quantizes(g, qall, order[i])) {
            rows[nl].node = order[i];
            rows[nl].tensor = g->nodes[order[i]].outputs[0].id;
            rows[nl].best = 0;
            for (k = 0; k < NN_QUANT_SENS_MAX; k++) rows[nl].loss[k] = 0;
            nl++;
        }
    /* the float base: one type rule per op type */
    for (i = 0; i < g->node_count && st == NN_OK; i++) {
        uint32_t j, seen = 0;
        for (j = 0; j < i && !seen; j++) seen = !strcmp(g->nodes[j].op_type, g->nodes[i].op_type);
        if (!seen) st = nn_quant_table_add(&tf, NN_QUANT_RULE_TYPE, g->nodes[i].op_type, NULL, NN_QUANT_DTYPE_F32, diag);
    }
    d.table = &tf;
    if (st == NN_OK) st = nn_quant_graph(g, sets[0], &d, &q0, NULL, diag);
    if (st == NN_OK) st = nn_quant__base_init(&b0, q0, &e, diag);
    for (k = 0; k < set_count && st == NN_OK; k++) {
        for (b = 0; b < nl && st == NN_OK; b += bn) {
            bn = nl - b < NN_QUANT__BATCH ? nl - b : NN_QUANT__BATCH;
            for (i = 0; i < bn && st == NN_OK; i++) /* the float base (d.table) plus this one layer at def */
                st = nn_quant__search_graph(g, sets[k], &d, &rows[b + i].tensor, 1, def, &qs[i], diag);
            if (st == NN_OK) st = nn_quant__score_from_base(&b0, qs, bn, b + 1, inputs, sample_count, refs, &e, sc, NULL,
                                                            NULL, NULL, diag);
            for (i = 0; i < bn; i++) {
                if (st == NN_OK) rows[b + i].loss[k] = 1.0 - sc[i];
                if (qs[i]) nn_graph_destroy(qs[i]);
                qs[i] = NULL;
            }
            nn_quant__logf(e.progress, e.progress_user, "sensitivity: range set %u of %u, layers %u-%u of %u", k + 1,
                           set_count, b + 1, b + bn, nl);
        }
    }
    for (i = 0; i < nl && st == NN_OK; i++)
        for (k = 1; k < set_count; k++)
            if (rows[i].loss[k] < rows[i].loss[rows[i].best]) rows[i].best = k;
    if (st == NN_OK) *row_count = nl;
done:
    if (b0.q0) nn_quant__base_free(&b0);
    if (q0) nn_graph_destroy(q0);
    if (qall) nn_graph_destroy(qall);
    if (refs) nn_quant__refs_free(refs, (size_t)sample_count * g->output_count, &al);
    nn_quant_table_deinit(&tf);
    nn_free(&al, order);
    return st;
}

NN_API void nn_quant_sensitivity_ranges(const nn_graph *g, const nn_quant_range *const *sets,
                                        const nn_quant_sens_row *rows, uint32_t row_count, nn_quant_range *out) {
    uint32_t i;
    NN_ASSERT(g && sets && out);
    memcpy(out, sets[0], (size_t)g->tensor_count * sizeof *out);
    for (i = 0; i < row_count; i++)
        if (rows[i].tensor < g->tensor_count) out[rows[i].tensor] = sets[rows[i].best][rows[i].tensor];
}

/* ===================== float-side algorithms: cross-layer equalization and SmoothQuant ===================== */

/* A weight tensor being rewritten: a heap copy until the commit, so that a
   refusal half-way leaves the graph as it was. */
typedef struct nn_quant__fa_slot {
    uint32_t tensor;
    size_t count;
    float *w;                      /* (count) working copy */
    int dirty;
} nn_quant__fa_slot;

typedef struct nn_quant__fa {
    nn_graph *g;
    nn_allocator alloc;
    uint32_t *uses;                /* (tensor_count) readers, graph outputs count as one */
    uint32_t *reader;              /* (tensor_count) the last node reading it */
    uint32_t *slot_of;             /* (tensor_count) slot index or NN_INVALID_ID */
    nn_quant__fa_slot *slots;
    uint32_t slot_count, slot_cap;
} nn_quant__fa;

static void nn_quant__fa_free(nn_quant__fa *f) {
    uint32_t i;
    for (i = 0; i < f->slot_count; i++) nn_free(&f->alloc, f->slots[i].w);
    nn_free(&f->alloc, f->slots);
    nn_free(&f->alloc, f->uses);
    nn_free(&f->alloc, f->reader);
    nn_free(&f->alloc, f->slot_of);
}

/* Validates g (ids in range, constant data of the size its shape says,
   no subgraphs) and counts readers.  Graph untouched. */
static nn_status nn_quant__fa_init(nn_quant__fa *f, nn_graph *g, const char *who, nn_diag *diag) {
    uint32_t i, j, T = g->tensor_count;
    memset(f, 0, sizeof *f);
    f->g = g;
    f->alloc = g->alloc;
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        for (j = 0; j < n->attr_count; j++)
            if (n->attrs[j].type == NN_ATTR_GRAPH || n->attrs[j].type == NN_ATTR_GRAPHS)
                return nn_diag_set(diag, NN_ERR_UNSUPPORTED, n->name ? n->name : n->op_type,
                                   "%s: graphs with subgraph attributes are not supported", who);
        for (j = 0; j < n->input_count; j++)
            if (n->inputs[j].id != NN_INVALID_ID && n->inputs[j].id >= T)
                return nn_diag_set(diag, NN_ERR_INVALID, n->name ? n->name : n->op_type,
                                   "%s: input %u names tensor %u of %u", who, j, n->inputs[j].id, T);
        for (j = 0; j < n->output_count; j++)
            if (n->outputs[j].id != NN_INVALID_ID && n->outputs[j].id >= T)
                return nn_diag_set(diag, NN_ERR_INVALID, n->name ? n->name : n->op_type,
                                   "%s: output %u names tensor %u of %u", who, j, n->outputs[j].id, T);
    }
    for (i = 0; i < g->output_count; i++)
        if (g->outputs[i].id >= T) return nn_diag_set(diag, NN_ERR_INVALID, "graph", "%s: bad output id", who);
    for (i = 0; i < T; i++) {
        const nn_tensor *t = &g->tensors[i];
        size_t cnt, need;
        int ok;
        if (!(t->flags & NN_TENSOR_CONST) || t->dtype != NN_DTYPE_FLOAT) continue;
        cnt = nn_shape_count(&t->shape, &ok);
        if (!ok || !nn_size_mul(cnt, sizeof(float), &need) || need != t->data_bytes || (cnt && !t->data))
            return nn_diag_set(diag, NN_ERR_INVALID, t->name, "%s: initializer size does not match its shape", who);
    }
    f->uses = (uint32_t *)nn_alloc(&f->alloc, (size_t)T * sizeof(uint32_t) + 1);
    f->reader = (uint32_t *)nn_alloc(&f->alloc, (size_t)T * sizeof(uint32_t) + 1);
    f->slot_of = (uint32_t *)nn_alloc(&f->alloc, (size_t)T * sizeof(uint32_t) + 1);
    if (!f->uses || !f->reader || !f->slot_of) {
        nn_quant__fa_free(f);
        return nn_diag_set(diag, NN_ERR_NOMEM, who, "out of memory");
    }
    for (i = 0; i < T; i++) { f->uses[i] = 0; f->reader[i] = NN_INVALID_ID; f->slot_of[i] = NN_INVALID_ID; }
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        for (j = 0; j < n->input_count; j++)
            if (n->inputs[j].id != NN_INVALID_ID) { f->uses[n->inputs[j].id]++; f->reader[n->inputs[j].id] = i; }
    }
    for (i = 0; i < g->output_count; i++) f->uses[g->outputs[i].id]++;
    return NN_OK;
}

/* 1 when t is a float32 initializer read by one node only (safe to rewrite). */
static int nn_quant__fa_private_const(const nn_quant__fa *f, uint32_t t) {
    const nn_tensor *x;
    if (t == NN_INVALID_ID) return 0;
    x = &f->g->tensors[t];
    return (x->flags & NN_TENSOR_CONST) && !(x->flags & (NN_TENSOR_INPUT | NN_TENSOR_OUTPUT)) &&
           x->dtype == NN_DTYPE_FLOAT && f->uses[t] == 1;
}

/* The single node reading t, when t has exactly one reader and is no graph output. */
static uint32_t nn_quant__fa_sole_reader(const nn_quant__fa *f, uint32_t t) {
    if (t == NN_INVALID_ID || f->uses[t] != 1 || (f->g->tensors[t].flags & NN_TENSOR_OUTPUT)) return NN_INVALID_ID;
    return f->reader[t];
}

static int nn_quant__fa_is(const nn_node *n, const char *op) {
    return (!n->domain || !n->domain[0] || strcmp(n->domain, "ai.onnx") == 0) && strcmp(n->op_type, op) == 0;
}

/* The slot of initializer t (a working copy made on first use). */
static nn_status nn_quant__fa_slot_get(nn_quant__fa *f, uint32_t t, uint32_t *out, nn_diag *diag) {
    nn_quant__fa_slot *s;
    const nn_tensor *x = &f->g->tensors[t];
    if (f->slot_of[t] != NN_INVALID_ID) { *out = f->slot_of[t]; return NN_OK; }
    if (f->slot_count == f->slot_cap) {
        uint32_t cap = f->slot_cap ? f->slot_cap * 2 : 16;
        nn_quant__fa_slot *ns = (nn_quant__fa_slot *)nn_alloc(&f->alloc, (size_t)cap * sizeof *ns);
        if (!ns) return nn_diag_set(diag, NN_ERR_NOMEM, x->name, "out of memory");
        if (f->slot_count) memcpy(ns, f->slots, f->slot_count * sizeof *ns);
        nn_free(&f->alloc, f->slots);
        f->slots = ns;
        f->slot_cap = cap;
    }
    s = &f->slots[f->slot_count];
    s->tensor = t;
    s->count = x->data_bytes / sizeof(float);
    s->dirty = 0;
    s->w = (float *)nn_alloc(&f->alloc, x->data_bytes + 1);
    if (!s->w) return nn_diag_set(diag, NN_ERR_NOMEM, x->name, "out of memory");
    if (x->data_bytes) memcpy(s->w, x->data, x->data_bytes);
    *out = f->slot_of[t] = f->slot_count++;
    return NN_OK;
}

/* Commit, part 1: arena buffers for every dirty slot (nothing changes yet). */
static nn_status nn_quant__fa_reserve(nn_quant__fa *f, void **bufs, nn_diag *diag) {
    uint32_t i;
    for (i = 0; i < f->slot_count; i++) {
        bufs[i] = NULL;
        if (!f->slots[i].dirty) continue;
        bufs[i] = nn_arena_alloc(&f->g->arena, f->slots[i].count * sizeof(float) + 1);
        if (!bufs[i]) return nn_diag_set(diag, NN_ERR_NOMEM, f->g->tensors[f->slots[i].tensor].name, "out of memory");
    }
    return NN_OK;
}

/* Commit, part 2: cannot fail. */
static void nn_quant__fa_swap(nn_quant__fa *f, void **bufs) {
    uint32_t i;
    for (i = 0; i < f->slot_count; i++) {
        nn_tensor *t;
        if (!bufs[i]) continue;
        t = &f->g->tensors[f->slots[i].tensor];
        memcpy(bufs[i], f->slots[i].w, f->slots[i].count * sizeof(float));
        t->data = bufs[i];
        t->flags &= ~(uint32_t)NN_TENSOR_BORROWED;
    }
}

/* A fresh tensor named base + suffix (+ _N when taken). */
static nn_status nn_quant__fa_new_tensor(nn_graph *g, const char *base, const char *suffix, nn_dtype dt,
                                         const nn_shape *shape, nn_tensor_id *out, nn_diag *diag) {
    char name[256];
    int k;
    for (k = 0; k < 1000; k++) {
        if (k == 0) snprintf(name, sizeof name, "%.200s%s", base ? base : "t", suffix);
        else snprintf(name, sizeof name, "%.200s%s_%d", base ? base : "t", suffix, k);
        if (nn_graph_find_tensor(g, name).id == NN_INVALID_ID) return nn_graph_add_tensor(g, name, dt, shape, out, diag);
    }
    return nn_diag_set(diag, NN_ERR_LIMIT, base, "no free tensor name");
}

/* max / min of the positive entries of r (1 when none). */
static double nn_quant__fa_spread(const double *r, int64_t n) {
    double lo = 0, hi = 0;
    int64_t i;
    for (i = 0; i < n; i++) {
        if (!(r[i] > 0)) continue;
        if (lo == 0 || r[i] < lo) lo = r[i];
        if (r[i] > hi) hi = r[i];
    }
    return lo > 0 ? hi / lo : 1.0;
}

/* Node ids change when nn_graph_sort runs after an insertion: reports
   name nodes by their first output before and map it back after. */
static uint32_t nn_quant__fa_out0(const nn_graph *g, uint32_t node) {
    return node < g->node_count && g->nodes[node].output_count ? g->nodes[node].outputs[0].id : NN_INVALID_ID;
}

static uint32_t nn_quant__fa_node_of(const nn_graph *g, uint32_t t) {
    return t == NN_INVALID_ID ? NN_INVALID_ID : g->tensors[t].producer.id;
}

/* ---- cross-layer equalization ---- */

typedef struct nn_quant__cle_pair {
    uint32_t n1, act, n2;
    uint32_t w1, b1, w2;           /* slots; b1 NN_INVALID_ID when the first conv has no bias */
    int64_t C;                     /* channels between the two convs */
    int64_t row1;                  /* elements of one output channel of W1 */
    int64_t cg2, mg2, k2;          /* W2 (M2, cg2, k2...): in-channels per group, out per group, taps */
    int clip;                      /* 1: a bounded Clip to rewrite */
    float clip_hi;
    double *cum;                   /* (C) product of the s_i applied */
    double spread1_before, spread2_before;
} nn_quant__cle_pair;

/* r1 (C): per output channel of W1; r2 (C): per input channel of W2. */
static void nn_quant__cle_ranges(const nn_quant__fa *f, const nn_quant__cle_pair *p, double *r1, double *r2) {
    const float *w1 = f->slots[p->w1].w, *w2 = f->slots[p->w2].w;
    int64_t i, e, o;
    for (i = 0; i < p->C; i++) {
        double m = 0;
        for (e = 0; e < p->row1; e++) { double a = fabs((double)w1[i * p->row1 + e]); if (a > m) m = a; }
        r1[i] = m;
        m = 0;
        {
            int64_t gi = i / p->cg2, ic = i % p->cg2;
            for (o = gi * p->mg2; o < (gi + 1) * p->mg2; o++) {
                const float *row = w2 + (o * p->cg2 + ic) * p->k2;
                for (e = 0; e < p->k2; e++) { double a = fabs((double)row[e]); if (a > m) m = a; }
            }
        }
        r2[i] = m;
    }
}

/* One equalization step of pair p; returns max |s_i - 1|. */
static double nn_quant__cle_step(nn_quant__fa *f, nn_quant__cle_pair *p, double *r1, double *r2) {
    float *w1 = f->slots[p->w1].w, *w2 = f->slots[p->w2].w;
    float *b1 = p->b1 != NN_INVALID_ID ? f->slots[p->b1].w : NULL;
    double change = 0;
    int64_t i, e, o;
    nn_quant__cle_ranges(f, p, r1, r2);
    for (i = 0; i < p->C; i++) {
        double s;
        int64_t gi = i / p->cg2, ic = i % p->cg2;
        if (!(r1[i] > 0) || !(r2[i] > 0)) continue;      /* a dead channel: nothing to balance */
        s = sqrt(r1[i] * r2[i]) / r2[i];                   /* Nagel et al. eq. (11) */
        if (fabs(s - 1.0) > change) change = fabs(s - 1.0);
        for (e = 0; e < p->row1; e++) w1[i * p->row1 + e] = (float)((double)w1[i * p->row1 + e] / s);
        if (b1) b1[i] = (float)((double)b1[i] / s);
        for (o = gi * p->mg2; o < (gi + 1) * p->mg2; o++) {
            float *row = w2 + (o * p->cg2 + ic) * p->k2;
            for (e = 0; e < p->k2; e++) row[e] = (float)((double)row[e] * s);
        }
        p->cum[i] *= s;
    }
    f->slots[p->w1].dirty = f->slots[p->w2].dirty = 1;
    if (b1) f->slots[p->b1].dirty = 1;
    return change;
}

/* Lower/upper bound of a Clip node: 1 when constant (absent = -/+inf). */
static int nn_quant__cle_clip_bounds(const nn_graph *g, const nn_node *n, float *lo, float *hi) {
    uint32_t k;
    *lo = -INFINITY;
    *hi = INFINITY;
    if (n->input_count <= 1) {                          /* opset < 11: attributes */
        *lo = nn_node_attr_float(n, "min", -INFINITY);
        *hi = nn_node_attr_float(n, "max", INFINITY);
        return 1;
    }
    for (k = 1; k < n->input_count && k < 3; k++) {
        const nn_tensor *t;
        if (n->inputs[k].id == NN_INVALID_ID) continue;
        t = &g->tensors[n->inputs[k].id];
        if (!(t->flags & NN_TENSOR_CONST) || t->dtype != NN_DTYPE_FLOAT || t->data_bytes != sizeof(float)) return 0;
        if (k == 1) *lo = *(const float *)t->data;
        else *hi = *(const float *)t->data;
    }
    return 1;
}

/* Is node a positively homogeneous activation (f(s x) = s f(x), s > 0)?
   Returns 1 (exact), 2 (bounded Clip(0, hi)), 0 (no). */
static int nn_quant__cle_act(const nn_quant__fa *f, const nn_node *n, float *hi) {
    if (n->output_count < 1 || n->input_count < 1) return 0;
    if (nn_quant__fa_is(n, "Relu") || nn_quant__fa_is(n, "LeakyRelu")) return 1;
    if (nn_quant__fa_is(n, "PRelu")) {
        uint32_t t = n->input_count > 1 ? n->inputs[1].id : NN_INVALID_ID;
        return t != NN_INVALID_ID && (f->g->tensors[t].flags & NN_TENSOR_CONST) && f->g->tensors[t].data_bytes == sizeof(float);
    }
    if (nn_quant__fa_is(n, "Clip")) {
        float lo;
        if (!nn_quant__cle_clip_bounds(f->g, n, &lo, hi) || lo != 0.0f) return 0;
        return isinf(*hi) ? 1 : 2;
    }
    return 0;
}

/* Finds the pair starting at Conv n1 (returns 0 when there is none). */
static nn_status nn_quant__cle_match(nn_quant__fa *f, uint32_t n1, nn_quant__cle_pair *p, int *found,
                                     nn_diag *diag) {
    const nn_graph *g = f->g;
    const nn_node *a = &g->nodes[n1], *b, *act = NULL;
    const nn_tensor *W1, *W2;
    uint32_t t, nx, b1t;
    int64_t group2, M2, C2;
    int kind = 1;
    float hi = INFINITY;
    nn_status st;
    *found = 0;
    memset(p, 0, sizeof *p);
    if (!nn_quant__fa_is(a, "Conv") || a->input_count < 2 || a->output_count != 1) return NN_OK;
    if (!nn_quant__fa_private_const(f, a->inputs[1].id)) return NN_OK;
    b1t = a->input_count > 2 ? a->inputs[2].id : NN_INVALID_ID;
    if (b1t != NN_INVALID_ID && !nn_quant__fa_private_const(f, b1t)) return NN_OK;
    t = a->outputs[0].id;
    nx = nn_quant__fa_sole_reader(f, t);
    if (nx == NN_INVALID_ID) return NN_OK;
    if (!nn_quant__fa_is(&g->nodes[nx], "Conv")) {
        act = &g->nodes[nx];
        kind = nn_quant__cle_act(f, act, &hi);
        if (!kind || act->inputs[0].id != t || act->output_count != 1) return NN_OK;
        p->act = nx;
        t = act->outputs[0].id;
        nx = nn_quant__fa_sole_reader(f, t);
        if (nx == NN_INVALID_ID) return NN_OK;
    } else {
        p->act = NN_INVALID_ID;
    }
    b = &g->nodes[nx];
    if (!nn_quant__fa_is(b, "Conv") || b->input_count < 2 || b->inputs[0].id != t) return NN_OK;
    if (!nn_quant__fa_private_const(f, b->inputs[1].id)) return NN_OK;
    W1 = &g->tensors[a->inputs[1].id];
    W2 = &g->tensors[b->inputs[1].id];
    if (W1->shape.rank < 3 || W2->shape.rank != W1->shape.rank) return NN_OK;
    group2 = nn_node_attr_int(b, "group", 1);
    M2 = W2->shape.dims[0];
    p->C = W1->shape.dims[0];
    C2 = W2->shape.dims[1] * group2;
    if (p->C <= 0 || group2 <= 0 || C2 != p->C || M2 % group2 != 0)
        return nn_diag_set(diag, NN_ERR_SHAPE, b->name ? b->name : b->op_type,
                           "equalize: conv reads %lld channels (group %lld, %lld outputs), its producer conv writes %lld",
                           (long long)C2, (long long)group2, (long long)M2, (long long)p->C);
    if (b1t != NN_INVALID_ID && g->tensors[b1t].data_bytes != (size_t)p->C * sizeof(float))
        return nn_diag_set(diag, NN_ERR_SHAPE, g->tensors[b1t].name, "equalize: bias has %zu values, conv has %lld outputs",
                           g->tensors[b1t].data_bytes / sizeof(float), (long long)p->C);
    p->n1 = n1;
    p->n2 = nx;
    p->clip = kind == 2;
    p->clip_hi = hi;
    p->row1 = (int64_t)(W1->data_bytes / sizeof(float)) / p->C;
    p->cg2 = W2->shape.dims[1];
    p->mg2 = M2 / group2;
    p->k2 = M2 && p->cg2 ? (int64_t)(W2->data_bytes / sizeof(float)) / (M2 * p->cg2) : 0;
    if (p->k2 <= 0 || p->row1 <= 0) return NN_OK;
    if ((st = nn_quant__fa_slot_get(f, a->inputs[1].id, &p->w1, diag)) != NN_OK) return st;
    if ((st = nn_quant__fa_slot_get(f, b->inputs[1].id, &p->w2, diag)) != NN_OK) return st;
    p->b1 = NN_INVALID_ID;
    if (b1t != NN_INVALID_ID && (st = nn_quant__fa_slot_get(f, b1t, &p->b1, diag)) != NN_OK) return st;
    *found = 1;
    return NN_OK;
}

/* Rewrites bounded Clip of pair p: RELU mode drops the bound; VECTOR mode
   makes Clip a Relu writing a new tensor and adds Min(that, hi / cum). */
static nn_status nn_quant__cle_rewrite_clip(nn_quant__fa *f, const nn_quant__cle_pair *p, nn_quant_cle_clip mode,
                                            nn_diag *diag) {
    nn_graph *g = f->g;
    nn_node *n = &g->nodes[p->act];
    uint32_t out_t = n->outputs[0].id;
    const nn_tensor *W1 = &g->tensors[f->slots[p->w1].tensor];
    nn_tensor_id relu_t, hi_t, ins[2], outs[1];
    nn_shape out_shape = g->tensors[out_t].shape;
    nn_dtype out_dtype = g->tensors[out_t].dtype;
    int64_t dims[NN_MAX_RANK];
    int32_t r, k;
    nn_shape vs;
    float *hv;
    nn_status st;
    char base[200];
    const char *relu = nn_arena_strdup(&g->arena, "Relu", 4);
    if (!relu) return nn_diag_set(diag, NN_ERR_NOMEM, "equalize", "out of memory");
    if (mode == NN_QUANT_CLE_CLIP_RELU) {
        n->op_type = relu;
        n->input_count = 1;
        n->attr_count = 0;
        return NN_OK;
    }
    r = W1->shape.rank - 1;   /* read before any tensor is added (the array may move) */                            /* (C, 1, ..., 1) broadcasts over (N, C, ...) */
    dims[0] = p->C;
    for (k = 1; k < r; k++) dims[k] = 1;
    vs = nn_shape_make(r, dims);
    snprintf(base, sizeof base, "%.190s", g->tensors[out_t].name);
    if ((st = nn_quant__fa_new_tensor(g, base, "_cle_relu", NN_DTYPE_FLOAT, &out_shape, &relu_t, diag)))
        return st;
    if ((st = nn_quant__fa_new_tensor(g, base, "_cle_hi", NN_DTYPE_FLOAT, &vs, &hi_t, diag))) return st;
    hv = (float *)nn_alloc(&f->alloc, (size_t)p->C * sizeof(float));
    if (!hv) return nn_diag_set(diag, NN_ERR_NOMEM, "equalize", "out of memory");
    for (k = 0; k < p->C; k++) hv[k] = (float)((double)p->clip_hi / p->cum[k]);
    st = nn_graph_set_data(g, hi_t, hv, (size_t)p->C * sizeof(float), 1, diag);
    nn_free(&f->alloc, hv);
    if (st) return st;
    g->tensors[relu_t.id].dtype = out_dtype;
    n = &g->nodes[p->act];
    n->op_type = relu;
    n->input_count = 1;
    n->attr_count = 0;
    n->outputs[0] = relu_t;
    g->tensors[relu_t.id].producer.id = p->act;
    g->tensors[out_t].producer.id = NN_INVALID_ID;
    ins[0] = relu_t;
    ins[1] = hi_t;
    outs[0].id = out_t;
    snprintf(base, sizeof base, "%.180s_cle_min", n->name && n->name[0] ? n->name : g->tensors[out_t].name);
    return nn_graph_add_node(g, "Min", "", base, ins, 2, outs, 1, NULL, diag);
}

/* Pairs sharing a conv (conv -> dw -> conv) pull against each other;
   sweeping them in order converges (sec. 4.1: "iterate until convergence"). */
static void nn_quant__cle_iterate(nn_quant__fa *f, nn_quant__cle_pair *pairs, uint32_t np, const nn_quant_cle_desc *d,
                                  double *r1, double *r2, nn_quant_cle_stats *stats) {
    int round;
    uint32_t i;
    for (round = 0; np && round < d->rounds; round++) {
        double change = 0;
        for (i = 0; i < np; i++) {
            double c = nn_quant__cle_step(f, &pairs[i], r1, r2);
            if (c > change) change = c;
        }
        stats->rounds = (uint32_t)round + 1;
        stats->last_max_change = change;
        if (change < d->tolerance) break;
    }
}

/* The caller's record of pair p (node ids through p's output tensors). */
static void nn_quant__cle_report(const nn_quant__fa *f, const nn_quant__cle_pair *p, double *r1, double *r2,
                                 nn_quant_cle_pair *q) {
    nn_quant__cle_ranges(f, p, r1, r2);
    q->first = nn_quant__fa_node_of(f->g, p->n1);
    q->second = nn_quant__fa_node_of(f->g, p->n2);
    q->act = nn_quant__fa_node_of(f->g, p->act);
    q->channels = (uint32_t)p->C;
    q->spread1_before = p->spread1_before;
    q->spread2_before = p->spread2_before;
    q->spread1_after = nn_quant__fa_spread(r1, p->C);
    q->spread2_after = nn_quant__fa_spread(r2, p->C);
}

static void nn_quant__cle_desc_defaults(nn_quant_cle_desc *d) {
    if (d->rounds <= 0) d->rounds = 100;   /* MobileNetV2 (36 chained pairs) converges in 56 */
    if (!(d->tolerance > 0)) d->tolerance = 1e-7;
}

NN_API nn_status nn_quant_equalize(nn_graph *g, const nn_quant_cle_desc *desc, nn_quant_cle_stats *out,
                                   nn_diag *diag) {
    nn_quant_cle_desc d;
    nn_quant_cle_stats stats;
    nn_quant__fa f;
    nn_quant__cle_pair *pairs = NULL;
    uint32_t *order = NULL, np = 0, i, added = 0;
    double *r1 = NULL, *r2 = NULL;
    void **bufs = NULL;
    int64_t maxc = 1;
    nn_status st;
    NN_ASSERT(g);
    if (desc) d = *desc;
    else memset(&d, 0, sizeof d);
    nn_quant__cle_desc_defaults(&d);
    memset(&stats, 0, sizeof stats);
    if ((st = nn_quant__fa_init(&f, g, "equalize", diag)) != NN_OK) return st;
    order = (uint32_t *)nn_alloc(&f.alloc, (size_t)g->node_count * sizeof(uint32_t) + 1);
    pairs = (nn_quant__cle_pair *)nn_alloc(&f.alloc, (size_t)g->node_count * sizeof *pairs + 1);
    if (!order || !pairs) { st = nn_diag_set(diag, NN_ERR_NOMEM, "equalize", "out of memory"); goto done; }
    if ((st = nn_graph_topo_order(g, order, diag)) != NN_OK) goto done;
    for (i = 0; i < g->node_count; i++) {
        int found;
        nn_quant__cle_pair *p = &pairs[np];
        if ((st = nn_quant__cle_match(&f, order[i], p, &found, diag)) != NN_OK) goto done;
        if (!found) continue;
        if (p->clip && d.clip == NN_QUANT_CLE_CLIP_SKIP) { stats.skipped_clip++; continue; }
        p->cum = (double *)nn_alloc(&f.alloc, (size_t)p->C * sizeof(double));
        if (!p->cum) { st = nn_diag_set(diag, NN_ERR_NOMEM, "equalize", "out of memory"); goto done; }
        {
            int64_t k;
            for (k = 0; k < p->C; k++) p->cum[k] = 1.0;
        }
        if (p->C > maxc) maxc = p->C;
        np++;
    }
    r1 = (double *)nn_alloc(&f.alloc, (size_t)maxc * sizeof(double));
    r2 = (double *)nn_alloc(&f.alloc, (size_t)maxc * sizeof(double));
    bufs = (void **)nn_alloc(&f.alloc, ((size_t)f.slot_count + 1) * sizeof(void *));
    if (!r1 || !r2 || !bufs) { st = nn_diag_set(diag, NN_ERR_NOMEM, "equalize", "out of memory"); goto done; }
    for (i = 0; i < np; i++) {
        nn_quant__cle_ranges(&f, &pairs[i], r1, r2);
        pairs[i].spread1_before = nn_quant__fa_spread(r1, pairs[i].C);
        pairs[i].spread2_before = nn_quant__fa_spread(r2, pairs[i].C);
    }
    nn_quant__cle_iterate(&f, pairs, np, &d, r1, r2, &stats);
    /* commit: buffers first, then the structural edits, then the swap */
    if ((st = nn_quant__fa_reserve(&f, bufs, diag)) != NN_OK) goto done;
    for (i = 0; i < np; i++) {
        if (!pairs[i].clip) continue;
        if ((st = nn_quant__cle_rewrite_clip(&f, &pairs[i], d.clip, diag)) != NN_OK) goto done;
        stats.clips_rewritten++;
        if (d.clip == NN_QUANT_CLE_CLIP_VECTOR) added++;
    }
    nn_quant__fa_swap(&f, bufs);
    stats.pairs = np;
    for (i = 0; i < np; i++) {           /* the nodes by output tensor, for the sort below */
        pairs[i].n1 = nn_quant__fa_out0(g, pairs[i].n1);
        pairs[i].n2 = nn_quant__fa_out0(g, pairs[i].n2);
        pairs[i].act = pairs[i].act == NN_INVALID_ID ? NN_INVALID_ID : nn_quant__fa_out0(g, pairs[i].act);
    }
    if (added && (st = nn_graph_sort(g, diag)) != NN_OK) goto done;
    for (i = 0; i < np && d.pairs && i < d.pair_cap; i++) nn_quant__cle_report(&f, &pairs[i], r1, r2, &d.pairs[i]);
done:
    if (pairs)
        for (i = 0; i < np; i++) nn_free(&f.alloc, pairs[i].cum);
    nn_free(&f.alloc, pairs);
    nn_free(&f.alloc, order);
    nn_free(&f.alloc, r1);
    nn_free(&f.alloc, r2);
    nn_free(&f.alloc, bufs);
    nn_quant__fa_free(&f);
    if (out && st == NN_OK) *out = stats;
    return st;
}

/* ---- SmoothQuant ---- */

/* K of a MatMul / Gemm reading its activation from input 0 with a constant
   float32 2-D weight; 0 when n is not one. */
static int64_t nn_quant__sq_k(const nn_graph *g, const nn_node *n) {
    const nn_tensor *w;
    if (n->input_count < 2 || n->output_count < 1 || n->inputs[0].id == NN_INVALID_ID || n->inputs[1].id == NN_INVALID_ID)
        return 0;
    w = &g->tensors[n->inputs[1].id];
    if (!(w->flags & NN_TENSOR_CONST) || w->dtype != NN_DTYPE_FLOAT || w->shape.rank != 2) return 0;
    if (nn_quant__fa_is(n, "MatMul")) return w->shape.dims[0];
    if (nn_quant__fa_is(n, "Gemm") && nn_node_attr_int(n, "transA", 0) == 0)
        return nn_node_attr_int(n, "transB", 0) ? w->shape.dims[1] : w->shape.dims[0];
    return 0;
}

NN_API nn_status nn_quant_smooth_stats_init(nn_quant_smooth_stats *s, const nn_graph *g, const nn_allocator *alloc,
                                            nn_diag *diag) {
    uint32_t i, T = g->tensor_count;
    NN_ASSERT(s && g);
    memset(s, 0, sizeof *s);
    s->g = g;
    if (alloc) s->alloc = *alloc;
    s->tensor_count = T;
    s->chmax = (float **)nn_alloc(&s->alloc, (size_t)T * sizeof(float *) + 1);
    s->channels = (int64_t *)nn_alloc(&s->alloc, (size_t)T * sizeof(int64_t) + 1);
    if (!s->chmax || !s->channels) goto nomem;
    for (i = 0; i < T; i++) { s->chmax[i] = NULL; s->channels[i] = 0; }
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        int64_t K = nn_quant__sq_k(g, n);
        uint32_t t;
        if (K <= 0 || K > (int64_t)(SIZE_MAX / sizeof(float)) / 2) continue;
        t = n->inputs[0].id;
        if (t >= T || s->chmax[t]) continue;
        s->chmax[t] = (float *)nn_alloc(&s->alloc, (size_t)K * sizeof(float));
        if (!s->chmax[t]) goto nomem;
        memset(s->chmax[t], 0, (size_t)K * sizeof(float));
        s->channels[t] = K;
    }
    return NN_OK;
nomem:
    nn_quant_smooth_stats_deinit(s);
    return nn_diag_set(diag, NN_ERR_NOMEM, "smooth", "out of memory");
}

/* Folds value v of tensor t into its channel maxima (last axis). */
static void nn_quant__sq_fold(nn_quant_smooth_stats *s, uint32_t t, const nn_value *v) {
    size_t n, i;
    int64_t K, j;
    float *m;
    const float *x;
    if (t >= s->tensor_count || !s->chmax[t] || !v || v->dtype != NN_DTYPE_FLOAT || !v->data || v->shape.rank < 1) return;
    K = s->channels[t];
    if (v->shape.dims[v->shape.rank - 1] != K) return;
    n = nn_value_count(v);
    m = s->chmax[t];
    x = (const float *)v->data;
    for (i = 0; i + (size_t)K <= n; i += (size_t)K)
        for (j = 0; j < K; j++) {
            float a = fabsf(x[i + (size_t)j]);
            if (a > m[j]) m[j] = a;                        /* NaN never wins */
        }
}

NN_API int nn_quant_smooth_stats_observer(void *user, const nn_graph *g, uint32_t node_index, const nn_value *outputs,
                                          uint32_t output_count) {
    nn_quant_smooth_stats *s = (nn_quant_smooth_stats *)user;
    uint32_t o;
    if (g != s->g || node_index >= g->node_count) return 0;   /* a subgraph's node */
    for (o = 0; o < output_count && o < g->nodes[node_index].output_count; o++) {
        uint32_t t = g->nodes[node_index].outputs[o].id;
        if (t != NN_INVALID_ID) nn_quant__sq_fold(s, t, &outputs[o]);
    }
    return 0;
}

NN_API nn_status nn_quant_smooth_stats_collect(nn_quant_smooth_stats *s, const nn_value *inputs, uint32_t sample_count,
                                               const nn_exec_desc *ed, nn_diag *diag) {
    nn_exec_desc xd;
    nn_exec *x = NULL;
    nn_status st;
    uint32_t k, i, ni;
    NN_ASSERT(s && s->g && (inputs || !sample_count));
    ni = s->g->input_count;
    if (ed) xd = *ed;
    else memset(&xd, 0, sizeof xd);
    xd.observer = nn_quant_smooth_stats_observer;
    xd.observer_user = s;
    if ((st = nn_exec_create(s->g, &xd, &x, diag)) != NN_OK) return st;
    for (k = 0; k < sample_count && st == NN_OK; k++) {
        for (i = 0; i < ni && st == NN_OK; i++) {
            st = nn_exec_set_input(x, i, &inputs[(size_t)k * ni + i], diag);
            if (st == NN_OK) nn_quant__sq_fold(s, s->g->inputs[i].id, &inputs[(size_t)k * ni + i]);
        }
        if (st == NN_OK) st = nn_exec_run(x, diag);
        if (st == NN_OK) s->samples++;
    }
    nn_exec_destroy(x);
    return st;
}

NN_API void nn_quant_smooth_stats_deinit(nn_quant_smooth_stats *s) {
    uint32_t i;
    if (!s) return;
    if (s->chmax)
        for (i = 0; i < s->tensor_count; i++) nn_free(&s->alloc, s->chmax[i]);
    nn_free(&s->alloc, s->chmax);
    nn_free(&s->alloc, s->channels);
    s->chmax = NULL;
    s->channels = NULL;
    s->tensor_count = 0;
}

static int nn_quant__sq_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* max / median of v (n values; tmp holds n doubles); 1 when the median is 0. */
static double nn_quant__sq_ratio(const double *v, int64_t n, double *tmp) {
    double med, mx;
    if (n <= 0) return 1.0;
    memcpy(tmp, v, (size_t)n * sizeof(double));
    qsort(tmp, (size_t)n, sizeof(double), nn_quant__sq_cmp);
    mx = tmp[n - 1];
    med = n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
    return med > 0 ? mx / med : 1.0;
}

/* Where 1/s of tensor X can go. */
typedef struct nn_quant__sq_abs {
    int kind;                      /* 0 none, 1 LayerNorm, 2 MatMul/Gemm columns, 3 MatMul + Add bias,
                                      4 Mul by a per-channel constant [+ Add of one]: the tail of a
                                      LayerNorm decomposed below opset 17 (torch: x_hat * gamma + beta) */
    uint32_t node;                 /* the absorbing node */
    uint32_t w, b;                 /* tensors scaled per channel j: w (columns or gamma), b (bias / beta) */
    int64_t cols_stride;           /* kind 2/3: w is (R, K) row-major with K == cols (0 means per element) */
    int transposed;                /* kind 2: Gemm transB, w is (K, R) */
} nn_quant__sq_abs;

/* 1 when t is a private constant holding exactly K floats. */
static int nn_quant__sq_vec(const nn_quant__fa *f, uint32_t t, int64_t K) {
    return nn_quant__fa_private_const(f, t) && f->g->tensors[t].data_bytes == (size_t)K * sizeof(float);
}

/* Node mn is Mul(y, c) with c a private constant of K floats (either
   side): the index of c, else NN_INVALID_ID. */
static uint32_t nn_quant__sq_mulvec(const nn_quant__fa *f, uint32_t mn, int64_t K) {
    const nn_node *m = &f->g->nodes[mn];
    uint32_t side;
    if (!nn_quant__fa_is(m, "Mul") || m->input_count != 2) return NN_INVALID_ID;
    for (side = 0; side < 2; side++)
        if (nn_quant__sq_vec(f, m->inputs[side].id, K) && m->inputs[1 - side].id != m->inputs[side].id)
            return m->inputs[side].id;
    return NN_INVALID_ID;
}

static void nn_quant__sq_absorber(const nn_quant__fa *f, uint32_t X, int64_t K, nn_quant__sq_abs *a) {
    const nn_graph *g = f->g;
    const nn_node *p;
    uint32_t pn = g->tensors[X].producer.id, o, gam;
    memset(a, 0, sizeof *a);
    a->b = NN_INVALID_ID;
    /* through Transposes that keep the last axis last (ViT's ln_1 -> (S, B, D)
       -> in_proj): channel j stays channel j */
    while (pn != NN_INVALID_ID && pn < g->node_count && nn_quant__fa_is(&g->nodes[pn], "Transpose")) {
        const nn_node *tp = &g->nodes[pn];
        const nn_attr *perm = nn_node_attr(tp, "perm");
        uint32_t src = tp->input_count ? tp->inputs[0].id : NN_INVALID_ID;
        if (!perm || perm->type != NN_ATTR_INTS || perm->count < 1 || tp->outputs[0].id != X ||
            perm->ints[perm->count - 1] != (int64_t)perm->count - 1 || nn_quant__fa_sole_reader(f, src) != pn)
            return;
        X = src;
        pn = g->tensors[X].producer.id;
    }
    if (pn == NN_INVALID_ID || pn >= g->node_count) return;
    p = &g->nodes[pn];
    if (p->outputs[0].id != X) return;
    for (o = 1; o < p->output_count; o++)
        if (p->outputs[o].id != NN_INVALID_ID && f->uses[p->outputs[o].id]) return;
    if (nn_quant__fa_is(p, "LayerNormalization")) {
        int64_t axis = nn_node_attr_int(p, "axis", -1);
        int32_t r = g->tensors[X].shape.rank;
        if (!(axis == -1 || (r > 0 && axis == r - 1))) return;
        if (p->input_count < 2 || !nn_quant__sq_vec(f, p->inputs[1].id, K)) return;
        if (p->input_count > 2 && p->inputs[2].id != NN_INVALID_ID && !nn_quant__sq_vec(f, p->inputs[2].id, K)) return;
        a->kind = 1;
        a->w = p->inputs[1].id;
        a->b = p->input_count > 2 ? p->inputs[2].id : NN_INVALID_ID;
    } else if (nn_quant__fa_is(p, "MatMul") || nn_quant__fa_is(p, "Gemm")) {
        const nn_tensor *w;
        int tb = nn_quant__fa_is(p, "Gemm") && nn_node_attr_int(p, "transB", 0);
        if (!nn_quant__sq_k(g, p) || !nn_quant__fa_private_const(f, p->inputs[1].id)) return;
        w = &g->tensors[p->inputs[1].id];
        if ((tb ? w->shape.dims[0] : w->shape.dims[1]) != K) return;
        if (nn_quant__fa_is(p, "Gemm") && p->input_count > 2 && p->inputs[2].id != NN_INVALID_ID) {
            if (!nn_quant__sq_vec(f, p->inputs[2].id, K)) return;   /* a scalar or (M, K) C cannot take 1/s_j */
            a->b = p->inputs[2].id;
        }
        a->kind = 2;
        a->w = p->inputs[1].id;
        a->transposed = tb;
    } else if (nn_quant__fa_is(p, "Add") && p->input_count == 2) {
        uint32_t side;
        for (side = 0; side < 2; side++) {
            uint32_t mt = p->inputs[side].id, bt = p->inputs[1 - side].id, mn;
            const nn_node *m;
            if (mt == NN_INVALID_ID || !nn_quant__sq_vec(f, bt, K)) continue;
            mn = nn_quant__fa_sole_reader(f, mt) == pn ? g->tensors[mt].producer.id : NN_INVALID_ID;
            if (mn == NN_INVALID_ID || mn >= g->node_count) continue;
            m = &g->nodes[mn];
            if ((gam = nn_quant__sq_mulvec(f, mn, K)) != NN_INVALID_ID) {   /* (y * gamma) + beta */
                a->kind = 4;
                a->node = mn;
                a->w = gam;
                a->b = bt;
                return;
            }
            if (!nn_quant__fa_is(m, "MatMul") || !nn_quant__sq_k(g, m) || !nn_quant__fa_private_const(f, m->inputs[1].id)) continue;
            if (g->tensors[m->inputs[1].id].shape.dims[1] != K) continue;
            a->kind = 3;
            a->node = mn;
            a->w = m->inputs[1].id;
            a->b = bt;
            return;
        }
        return;
    } else if ((gam = nn_quant__sq_mulvec(f, pn, K)) != NN_INVALID_ID) {   /* y * gamma */
        a->kind = 4;
        a->w = gam;
    } else {
        return;
    }
    a->node = pn;
}

/* Readers of X: their count when every one is a MatMul/Gemm taking X as
   input 0 with a private weight of K rows, else 0. */
static uint32_t nn_quant__sq_consumers(const nn_quant__fa *f, uint32_t X, int64_t K) {
    const nn_graph *g = f->g;
    uint32_t i, k, nc = 0;
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        int reads = 0;
        for (k = 0; k < n->input_count; k++) if (n->inputs[k].id == X) reads = 1;
        if (!reads) continue;
        if (n->inputs[0].id != X || nn_quant__sq_k(g, n) != K || n->inputs[1].id == X ||
            !nn_quant__fa_private_const(f, n->inputs[1].id))
            return 0;
        nc++;
    }
    return nc;
}

/* The weight element of row j (input channel), column r of consumer n's
   (K, R) matrix (Gemm transB stores it (R, K)). */
static float *nn_quant__sq_wel(float *w, int tb, int64_t K, int64_t R, int64_t j, int64_t r) {
    return tb ? &w[r * K + j] : &w[j * R + r];
}

/* s (K) from channel maxima m and the consumers' row maxima (eq. 4). */
static void nn_quant__sq_scales(const nn_graph *g, uint32_t X, const float *m, int64_t K, double alpha, double *s) {
    uint32_t i;
    int64_t j, r;
    for (j = 0; j < K; j++) s[j] = 0;
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        const nn_tensor *w;
        int64_t R;
        int tb;
        if (n->input_count < 2 || n->inputs[0].id != X) continue;
        w = &g->tensors[n->inputs[1].id];
        tb = nn_quant__fa_is(n, "Gemm") && nn_node_attr_int(n, "transB", 0);
        R = (int64_t)(w->data_bytes / sizeof(float)) / K;
        for (j = 0; j < K; j++)
            for (r = 0; r < R; r++) {
                double a = fabs((double)*nn_quant__sq_wel((float *)w->data, tb, K, R, j, r));
                if (a > s[j]) s[j] = a;
            }
    }
    for (j = 0; j < K; j++) {
        double v = 1.0;
        if (m[j] > 0 && s[j] > 0) v = pow((double)m[j], alpha) / pow(s[j], 1.0 - alpha);
        if (!(v >= 1e-5)) v = 1e-5;                        /* also catches NaN */
        if (v > 1e5) v = 1e5;
        s[j] = v;
    }
}

/* Divides channel j of the absorber's tensors by s_j and multiplies row j
   of every consumer's weight by s_j (on the working copies). */
static nn_status nn_quant__sq_apply(nn_quant__fa *f, uint32_t X, int64_t K, const nn_quant__sq_abs *ab,
                                    const double *s, nn_diag *diag) {
    const nn_graph *g = f->g;
    uint32_t i, sl;
    int64_t j, r, R;
    nn_status e;
    float *w;
    if (ab->kind) {
        if ((e = nn_quant__fa_slot_get(f, ab->w, &sl, diag)) != NN_OK) return e;
        w = f->slots[sl].w;
        f->slots[sl].dirty = 1;
        R = (int64_t)(f->slots[sl].count / (size_t)K);     /* 1 for LayerNorm gamma */
        for (r = 0; r < R; r++)
            for (j = 0; j < K; j++) {
                float *x = ab->transposed ? &w[j * R + r] : &w[r * K + j];
                *x = (float)((double)*x / s[j]);
            }
        if (ab->b != NN_INVALID_ID) {
            if ((e = nn_quant__fa_slot_get(f, ab->b, &sl, diag)) != NN_OK) return e;
            w = f->slots[sl].w;
            f->slots[sl].dirty = 1;
            for (j = 0; j < K; j++) w[j] = (float)((double)w[j] / s[j]);
        }
    }
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        int tb;
        if (n->input_count < 2 || n->inputs[0].id != X) continue;
        if ((e = nn_quant__fa_slot_get(f, n->inputs[1].id, &sl, diag)) != NN_OK) return e;
        w = f->slots[sl].w;
        f->slots[sl].dirty = 1;
        tb = nn_quant__fa_is(n, "Gemm") && nn_node_attr_int(n, "transB", 0);
        R = (int64_t)(f->slots[sl].count / (size_t)K);
        for (j = 0; j < K; j++)
            for (r = 0; r < R; r++) {
                float *x = nn_quant__sq_wel(w, tb, K, R, j, r);
                *x = (float)((double)*x * s[j]);
            }
    }
    return NN_OK;
}

/* Smooths one activation tensor X (report in *lay); *mul_x 1 when the
   caller must insert Mul(X, 1/s). */
static nn_status nn_quant__sq_one(nn_quant__fa *f, const nn_quant_smooth_stats *st, uint32_t X, const nn_quant_smooth_desc *d,
                                  nn_quant_smooth_report *rep, nn_quant_smooth_layer *lay, uint32_t *mul_x, double *s,
                                  double *tmp, double *tmp2, nn_diag *diag) {
    int64_t K = st->channels[X], j;
    nn_quant__sq_abs ab;
    nn_status e;
    memset(lay, 0, sizeof *lay);
    lay->tensor = X;
    lay->absorber = NN_INVALID_ID;
    *mul_x = 0;
    if (f->g->tensors[X].flags & NN_TENSOR_OUTPUT) { rep->shared++; return NN_OK; }
    lay->consumers = nn_quant__sq_consumers(f, X, K);
    if (!lay->consumers) { rep->shared++; return NN_OK; }
    rep->candidates++;
    for (j = 0; j < K; j++) tmp2[j] = st->chmax[X][j];
    lay->ratio_before = lay->ratio_after = nn_quant__sq_ratio(tmp2, K, tmp);
    if (!(lay->ratio_before > d->threshold)) { rep->below_threshold++; return NN_OK; }
    nn_quant__sq_absorber(f, X, K, &ab);
    if (!ab.kind && !d->insert_mul) { rep->no_absorber++; return NN_OK; }
    nn_quant__sq_scales(f->g, X, st->chmax[X], K, d->alpha, s);
    for (j = 0; j < K; j++) tmp2[j] = st->chmax[X][j] / s[j];
    lay->ratio_after = nn_quant__sq_ratio(tmp2, K, tmp);
    if ((e = nn_quant__sq_apply(f, X, K, &ab, s, diag)) != NN_OK) return e;
    if (ab.kind) lay->absorber = ab.node;
    else *mul_x = 1;
    lay->smoothed = 1;
    rep->smoothed++;
    return NN_OK;
}

/* Inserts Mul(X, inv) before every reader of X (inv = 1 / s). */
static nn_status nn_quant__sq_insert_mul(nn_graph *g, uint32_t X, const float *inv, int64_t K, nn_diag *diag) {
    nn_tensor_id c, y, ins[2];
    nn_shape vs = nn_shape_make(1, &K), xs = g->tensors[X].shape;
    nn_dtype xt = g->tensors[X].dtype;
    uint32_t i, k, nodes = g->node_count;
    char base[200];
    nn_status e;
    snprintf(base, sizeof base, "%.190s", g->tensors[X].name);
    if ((e = nn_quant__fa_new_tensor(g, base, "_smooth_inv", NN_DTYPE_FLOAT, &vs, &c, diag))) return e;
    if ((e = nn_graph_set_data(g, c, inv, (size_t)K * sizeof(float), 1, diag))) return e;
    if ((e = nn_quant__fa_new_tensor(g, base, "_smoothed", xt, &xs, &y, diag))) return e;
    for (i = 0; i < nodes; i++) {
        nn_node *n = &g->nodes[i];
        for (k = 0; k < n->input_count; k++)
            if (n->inputs[k].id == X) n->inputs[k] = y;
    }
    ins[0].id = X;
    ins[1] = c;
    snprintf(base, sizeof base, "%.180s_smooth", g->tensors[X].name);
    return nn_graph_add_node(g, "Mul", "", base, ins, 2, &y, 1, NULL, diag);
}

NN_API nn_status nn_quant_smooth(nn_graph *g, const nn_quant_smooth_stats *st, const nn_quant_smooth_desc *desc,
                                 nn_quant_smooth_report *out, nn_diag *diag) {
    nn_quant_smooth_desc d;
    nn_quant_smooth_report rep;
    nn_quant__fa f;
    uint32_t t, nl = 0, nmul = 0, *mul_t = NULL;
    float **mul_inv = NULL;
    double *s = NULL, *tmp = NULL, *tmp2 = NULL;
    void **bufs = NULL;
    int64_t maxk = 1;
    nn_status e;
    NN_ASSERT(g && st);
    if (desc) d = *desc;
    else memset(&d, 0, sizeof d);
    if (d.alpha == 0) d.alpha = 0.5;
    else if (d.alpha < 0) d.alpha = 0;
    memset(&rep, 0, sizeof rep);
    if (d.alpha > 1 || !(d.threshold >= 0))
        return nn_diag_set(diag, NN_ERR_ARG, "smooth", "alpha must be in [0, 1] and threshold >= 0");
    if (st->g != g || st->tensor_count != g->tensor_count || !st->chmax)
        return nn_diag_set(diag, NN_ERR_ARG, "smooth", "statistics were collected on another graph");
    if ((e = nn_quant__fa_init(&f, g, "smooth", diag)) != NN_OK) return e;
    for (t = 0; t < st->tensor_count; t++) if (st->chmax[t] && st->channels[t] > maxk) maxk = st->channels[t];
    s = (double *)nn_alloc(&f.alloc, (size_t)maxk * sizeof(double));
    tmp = (double *)nn_alloc(&f.alloc, (size_t)maxk * sizeof(double));
    tmp2 = (double *)nn_alloc(&f.alloc, (size_t)maxk * sizeof(double));
    mul_t = (uint32_t *)nn_alloc(&f.alloc, (size_t)g->tensor_count * sizeof(uint32_t) + 1);
    mul_inv = (float **)nn_alloc(&f.alloc, (size_t)g->tensor_count * sizeof(float *) + 1);
    if (!s || !tmp || !tmp2 || !mul_t || !mul_inv) { e = nn_diag_set(diag, NN_ERR_NOMEM, "smooth", "out of memory"); goto done; }
    for (t = 0; t < st->tensor_count && e == NN_OK; t++) {
        nn_quant_smooth_layer lay;
        uint32_t need_mul;
        if (!st->chmax[t] || !st->samples) continue;
        e = nn_quant__sq_one(&f, st, t, &d, &rep, &lay, &need_mul, s, tmp, tmp2, diag);
        if (e != NN_OK) break;
        if (need_mul) {
            int64_t j;
            mul_inv[nmul] = (float *)nn_alloc(&f.alloc, (size_t)st->channels[t] * sizeof(float));
            if (!mul_inv[nmul]) { e = nn_diag_set(diag, NN_ERR_NOMEM, "smooth", "out of memory"); break; }
            for (j = 0; j < st->channels[t]; j++) mul_inv[nmul][j] = (float)(1.0 / s[j]);
            mul_t[nmul++] = t;
        }
        lay.absorber = nn_quant__fa_out0(g, lay.absorber);   /* by output tensor until the end */
        if (lay.consumers && d.layers && nl < d.layer_cap) d.layers[nl] = lay;
        if (lay.consumers) nl++;
    }
    if (e != NN_OK) goto done;
    bufs = (void **)nn_alloc(&f.alloc, ((size_t)f.slot_count + 1) * sizeof(void *));
    if (!bufs) { e = nn_diag_set(diag, NN_ERR_NOMEM, "smooth", "out of memory"); goto done; }
    if ((e = nn_quant__fa_reserve(&f, bufs, diag)) != NN_OK) goto done;
    nn_quant__fa_swap(&f, bufs);
    for (t = 0; t < nmul && e == NN_OK; t++) {
        e = nn_quant__sq_insert_mul(g, mul_t[t], mul_inv[t], st->channels[mul_t[t]], diag);
        if (e == NN_OK) rep.muls_inserted++;
    }
    if (e == NN_OK && nmul) e = nn_graph_sort(g, diag);
    for (t = 0; e == NN_OK && d.layers && t < nl && t < d.layer_cap; t++)
        d.layers[t].absorber = nn_quant__fa_node_of(g, d.layers[t].absorber);
done:
    if (mul_inv)
        for (t = 0; t < nmul; t++) nn_free(&f.alloc, mul_inv[t]);
    nn_free(&f.alloc, mul_inv);
    nn_free(&f.alloc, mul_t);
    nn_free(&f.alloc, s);
    nn_free(&f.alloc, tmp);
    nn_free(&f.alloc, tmp2);
    nn_free(&f.alloc, bufs);
    nn_quant__fa_free(&f);
    if (out && e == NN_OK) *out = rep;
    return e;
}

/* ==== quant_algos: implementation ==== */

/* One linear layer of g. */
typedef struct nn_qa__lin {
    uint32_t node;                 /* in g */
    int kind;                      /* 1 Conv, 2 Gemm, 3 MatMul */
    int64_t cout, cin, kh, kw, group;  /* cin: input channels (Conv) or K (Gemm/MatMul) */
    int64_t sh, sw, dh, dw, pads[4];
    int autopad;                   /* 0 NOTSET, 1 VALID, 2 SAME_UPPER, 3 SAME_LOWER */
    int64_t K;                     /* weights per output channel */
    int64_t F;                     /* patch length: cin * kh * kw (Conv), K (Gemm/MatMul) */
    int wlayout;                   /* 0: w[c * K + k]; 1: w[k * cout + c] */
    double alpha, beta;            /* Gemm (1, 1 otherwise) */
    uint32_t wt, bt;               /* weight, bias tensor (bt NN_INVALID_ID: none) */
    uint32_t bias_add;             /* MatMul: Add node holding the bias, else NN_INVALID_ID */
    uint32_t in_t, out_t;          /* g: input 0 and output 0 */
    /* in the QDQ graph */
    uint32_t qnode, qin_t;         /* NN_INVALID_ID when not found */
    double in_scale;               /* input activation DQ (0: float input) */
    int32_t in_zp, in_lo, in_hi;
} nn_qa__lin;

static uint32_t nn_qa__rng(uint32_t *s) {
    uint32_t x = *s;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    return *s = x;
}

/* w[c][k] of layer L in weight data w. */
static size_t nn_qa__widx(const nn_qa__lin *L, int64_t c, int64_t k) {
    return L->wlayout ? (size_t)(k * L->cout + c) : (size_t)(c * L->K + k);
}

/* Offset of output channel c's slice in a patch. */
static int64_t nn_qa__goff(const nn_qa__lin *L, int64_t c) {
    return L->group > 1 ? (c / (L->cout / L->group)) * L->K : 0;
}

static int nn_qa__is_std(const nn_node *n) { return !n->domain || !n->domain[0] || !strcmp(n->domain, "ai.onnx"); }

static int nn_qa__const_f32(const nn_graph *g, nn_tensor_id t) {
    const nn_tensor *tt;
    if (t.id == NN_INVALID_ID || t.id >= g->tensor_count) return 0;
    tt = &g->tensors[t.id];
    return (tt->flags & NN_TENSOR_CONST) && tt->dtype == NN_DTYPE_FLOAT && tt->data;
}

/* Fills L from node ni when it is a supported linear layer; 0 otherwise. */
static int nn_qa__describe(const nn_graph *g, uint32_t ni, const uint32_t *uses, nn_qa__lin *L) {
    const nn_node *n = &g->nodes[ni];
    const nn_tensor *w;
    const nn_attr *a;
    memset(L, 0, sizeof *L);
    L->node = ni;
    L->bt = L->bias_add = L->qnode = L->qin_t = NN_INVALID_ID;
    L->alpha = L->beta = 1.0;
    L->sh = L->sw = L->dh = L->dw = 1;
    L->group = 1;
    if (!nn_qa__is_std(n) || n->input_count < 2 || n->output_count < 1 || n->inputs[0].id == NN_INVALID_ID ||
        n->outputs[0].id == NN_INVALID_ID || !nn_qa__const_f32(g, n->inputs[1]) || uses[n->inputs[1].id] != 1)
        return 0;
    w = &g->tensors[n->inputs[1].id];
    L->wt = n->inputs[1].id;
    L->in_t = n->inputs[0].id;
    L->out_t = n->outputs[0].id;
    if (!strcmp(n->op_type, "Conv")) {
        int sp = w->shape.rank - 2;
        L->kind = 1;
        if (sp < 1 || sp > 2) return 0;
        L->group = nn_node_attr_int(n, "group", 1);
        L->cout = w->shape.dims[0];
        L->kh = sp == 2 ? w->shape.dims[2] : 1;
        L->kw = w->shape.dims[sp == 2 ? 3 : 2];
        if (L->group < 1 || L->cout <= 0 || L->cout % L->group) return 0;
        L->cin = w->shape.dims[1] * L->group;
        L->K = w->shape.dims[1] * L->kh * L->kw;
        L->F = L->cin * L->kh * L->kw;
        if ((a = nn_node_attr(n, "strides")) && a->count == (uint32_t)sp) {
            L->sh = sp == 2 ? a->ints[0] : 1;
            L->sw = a->ints[sp - 1];
        }
        if ((a = nn_node_attr(n, "dilations")) && a->count == (uint32_t)sp) {
            L->dh = sp == 2 ? a->ints[0] : 1;
            L->dw = a->ints[sp - 1];
        }
        if ((a = nn_node_attr(n, "pads")) && a->count == (uint32_t)(2 * sp)) {
            L->pads[0] = sp == 2 ? a->ints[0] : 0;
            L->pads[1] = a->ints[sp - 1];
        }
        {
            const char *ap = nn_node_attr_string(n, "auto_pad", "NOTSET");
            L->autopad = !strcmp(ap, "VALID") ? 1 : !strcmp(ap, "SAME_UPPER") ? 2 : !strcmp(ap, "SAME_LOWER") ? 3 : 0;
        }
        if (L->sh < 1 || L->sw < 1 || L->dh < 1 || L->dw < 1) return 0;
        if (n->input_count >= 3 && n->inputs[2].id != NN_INVALID_ID) {
            const nn_tensor *b = &g->tensors[n->inputs[2].id];
            if (!nn_qa__const_f32(g, n->inputs[2]) || b->shape.rank != 1 || b->shape.dims[0] != L->cout) return 0;
            L->bt = n->inputs[2].id;
        }
        return 1;
    }
    if (w->shape.rank != 2) return 0;
    if (!strcmp(n->op_type, "Gemm")) {
        L->kind = 2;
        if (nn_node_attr_int(n, "transA", 0)) return 0;
        L->wlayout = nn_node_attr_int(n, "transB", 0) ? 0 : 1;
        L->cout = w->shape.dims[L->wlayout ? 1 : 0];
        L->K = L->F = L->cin = w->shape.dims[L->wlayout ? 0 : 1];
        L->alpha = nn_node_attr_float(n, "alpha", 1.0f);
        L->beta = nn_node_attr_float(n, "beta", 1.0f);
        if (L->beta == 0 || L->alpha == 0) return 0;
        if (n->input_count >= 3 && n->inputs[2].id != NN_INVALID_ID) {
            const nn_tensor *b = &g->tensors[n->inputs[2].id];
            int ok;
            if (!nn_qa__const_f32(g, n->inputs[2]) || nn_shape_count(&b->shape, &ok) != (size_t)L->cout ||
                b->shape.dims[b->shape.rank - 1] != L->cout)
                return 0;
            L->bt = n->inputs[2].id;
        }
        return L->cout > 0 && L->K > 0;
    }
    if (!strcmp(n->op_type, "MatMul")) {
        uint32_t j, k, found = NN_INVALID_ID;
        L->kind = 3;
        L->wlayout = 1;
        L->cout = w->shape.dims[1];
        L->K = L->F = L->cin = w->shape.dims[0];
        /* the bias: the one reader of the output is Add(out, const[N]) */
        if (uses[L->out_t] == 1 && !(g->tensors[L->out_t].flags & NN_TENSOR_OUTPUT))
            for (j = 0; j < g->node_count && found == NN_INVALID_ID; j++) {
                const nn_node *an = &g->nodes[j];
                if (strcmp(an->op_type, "Add") || !nn_qa__is_std(an) || an->input_count != 2) continue;
                for (k = 0; k < 2; k++) {
                    nn_tensor_id o = an->inputs[1 - k];
                    if (an->inputs[k].id != L->out_t || !nn_qa__const_f32(g, o) || uses[o.id] != 1) continue;
                    if (g->tensors[o.id].shape.rank == 1 && g->tensors[o.id].shape.dims[0] == L->cout) {
                        found = j;
                        L->bt = o.id;
                    }
                }
            }
        L->bias_add = found;
        return L->cout > 0 && L->K > 0;
    }
    return 0;
}

/* Layers of g that nn_quant_graph will run in an integer mode, in
   topological order.  *out allocated (caller frees), *count set; skipped
   counts linear-looking nodes left out. */
static nn_status nn_qa__find(const nn_graph *g, const nn_quant_desc *qd, const nn_allocator *al, nn_qa__lin **out,
                             uint32_t *count, uint32_t *skipped, nn_diag *diag) {
    uint32_t *uses = NULL, *order = NULL, i, j, n = 0;
    nn_quant_dtype *mode = NULL;
    nn_qa__lin *v = NULL;
    nn_status st = NN_OK;
    *out = NULL;
    *count = 0;
    *skipped = 0;
    for (i = 0; i < g->node_count; i++)
        for (j = 0; j < g->nodes[i].attr_count; j++)
            if (g->nodes[i].attrs[j].type == NN_ATTR_GRAPH || g->nodes[i].attrs[j].type == NN_ATTR_GRAPHS)
                return nn_diag_set(diag, NN_ERR_UNSUPPORTED, g->nodes[i].name, "subgraph attributes");
    uses = (uint32_t *)nn_alloc(al, ((size_t)g->tensor_count + 1) * sizeof *uses);
    order = (uint32_t *)nn_alloc(al, ((size_t)g->node_count + 1) * sizeof *order);
    mode = (nn_quant_dtype *)nn_alloc(al, ((size_t)g->node_count + 1) * sizeof *mode);
    v = (nn_qa__lin *)nn_alloc(al, ((size_t)g->node_count + 1) * sizeof *v);
    if (!uses || !order || !mode || !v) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory"); goto done; }
    memset(uses, 0, ((size_t)g->tensor_count + 1) * sizeof *uses);
    for (i = 0; i < g->node_count; i++)
        for (j = 0; j < g->nodes[i].input_count; j++)
            if (g->nodes[i].inputs[j].id != NN_INVALID_ID && g->nodes[i].inputs[j].id < g->tensor_count)
                uses[g->nodes[i].inputs[j].id]++;
    if ((st = nn_graph_topo_order(g, order, diag))) goto done;
    if ((st = nn_quant_resolve_table(g, qd ? qd->table : NULL, NULL, NULL, mode, NULL, diag))) goto done;
    for (i = 0; i < g->node_count; i++) {
        uint32_t ni = order[i];
        const nn_node *nd = &g->nodes[ni];
        if (strcmp(nd->op_type, "Conv") && strcmp(nd->op_type, "Gemm") && strcmp(nd->op_type, "MatMul")) continue;
        if (mode[ni] == NN_QUANT_DTYPE_F32 || mode[ni] == NN_QUANT_DTYPE_F16 || mode[ni] == NN_QUANT_DTYPE_BF16 ||
            !nn_qa__describe(g, ni, uses, &v[n])) {
            (*skipped)++;
            continue;
        }
        n++;
    }
    *out = v;
    *count = n;
    v = NULL;
done:
    nn_free(al, uses);
    nn_free(al, order);
    nn_free(al, mode);
    nn_free(al, v);
    return st;
}

/* A DequantizeLinear of constants feeding tensor t of q: its int data
   dequantized into out (count elements, float), scales per channel in
   scale_out (ch entries when not NULL).  0 when t is not such a tensor. */
static int nn_qa__dq_const(const nn_graph *q, uint32_t t, float *out, size_t count, float *scale_out, int64_t ch) {
    const nn_node *dq;
    const nn_tensor *qt, *st, *zt;
    int64_t axis, outer = 1, inner = 1, c, r, nch;
    size_t i, nscale;
    int ok;
    if (t == NN_INVALID_ID || q->tensors[t].producer.id == NN_INVALID_ID) return 0;
    dq = &q->nodes[q->tensors[t].producer.id];
    if (strcmp(dq->op_type, "DequantizeLinear") || dq->input_count < 2) return 0;
    qt = &q->tensors[dq->inputs[0].id];
    st = &q->tensors[dq->inputs[1].id];
    zt = dq->input_count >= 3 && dq->inputs[2].id != NN_INVALID_ID ? &q->tensors[dq->inputs[2].id] : NULL;
    if (!(qt->flags & NN_TENSOR_CONST) || !qt->data || !(st->flags & NN_TENSOR_CONST) || st->dtype != NN_DTYPE_FLOAT ||
        !st->data || nn_shape_count(&qt->shape, &ok) != count || !ok)
        return 0;
    nscale = st->data_bytes / sizeof(float);
    axis = nscale > 1 ? nn_node_attr_int(dq, "axis", 1) : 0;
    if (axis < 0) axis += qt->shape.rank;
    if (nscale > 1) {
        if (axis < 0 || axis >= qt->shape.rank || (size_t)qt->shape.dims[axis] != nscale) return 0;
        for (r = 0; r < axis; r++) outer *= qt->shape.dims[r];
        for (r = axis + 1; r < qt->shape.rank; r++) inner *= qt->shape.dims[r];
        nch = (int64_t)nscale;
    } else {
        inner = (int64_t)count;
        nch = 1;
    }
    for (i = 0; i < count; i++) {
        int64_t cc = nch > 1 ? (int64_t)((i / (size_t)inner) % (size_t)nch) : 0;
        double s = ((const float *)st->data)[cc], z = 0, v;
        if (zt && zt->data) {
            size_t zi = (zt->data_bytes / nn_dtype_size(zt->dtype)) > 1 ? (size_t)cc : 0;
            if (zt->dtype == NN_DTYPE_INT8) z = ((const int8_t *)zt->data)[zi];
            else if (zt->dtype == NN_DTYPE_UINT8) z = ((const uint8_t *)zt->data)[zi];
            else if (zt->dtype == NN_DTYPE_INT32) z = ((const int32_t *)zt->data)[zi];
        }
        switch (qt->dtype) {
        case NN_DTYPE_INT8: v = ((const int8_t *)qt->data)[i]; break;
        case NN_DTYPE_UINT8: v = ((const uint8_t *)qt->data)[i]; break;
        case NN_DTYPE_INT32: v = ((const int32_t *)qt->data)[i]; break;
        default: return 0;
        }
        out[i] = (float)((v - z) * s);
    }
    (void)outer;
    if (scale_out)
        for (c = 0; c < ch; c++) scale_out[c] = ((const float *)st->data)[nch > 1 ? c % nch : 0];
    return 1;
}

/* Maps each layer to its node in q (same output name and op) and reads the
   DequantizeLinear before its input 0 (activation scale). */
static void nn_qa__map_q(const nn_graph *g, const nn_graph *q, nn_qa__lin *L, uint32_t n) {
    uint32_t i;
    for (i = 0; i < n; i++) {
        nn_tensor_id t = nn_graph_find_tensor(q, g->tensors[L[i].out_t].name);
        const nn_node *qn;
        L[i].qnode = L[i].qin_t = NN_INVALID_ID;
        L[i].in_scale = 0;
        if (t.id == NN_INVALID_ID || q->tensors[t.id].producer.id == NN_INVALID_ID) continue;
        qn = &q->nodes[q->tensors[t.id].producer.id];
        if (strcmp(qn->op_type, g->nodes[L[i].node].op_type) || qn->input_count < 2) continue;
        L[i].qnode = q->tensors[t.id].producer.id;
        L[i].qin_t = qn->inputs[0].id;
        if (L[i].qin_t != NN_INVALID_ID && q->tensors[L[i].qin_t].producer.id != NN_INVALID_ID) {
            const nn_node *dq = &q->nodes[q->tensors[L[i].qin_t].producer.id];
            const nn_tensor *st = dq->input_count >= 2 ? &q->tensors[dq->inputs[1].id] : NULL;
            const nn_tensor *zt = dq->input_count >= 3 && dq->inputs[2].id != NN_INVALID_ID ? &q->tensors[dq->inputs[2].id] : NULL;
            if (!strcmp(dq->op_type, "DequantizeLinear") && st && st->data && st->dtype == NN_DTYPE_FLOAT &&
                st->data_bytes == sizeof(float)) {
                L[i].in_scale = ((const float *)st->data)[0];
                L[i].in_zp = 0;
                L[i].in_lo = -128;
                L[i].in_hi = 127;
                if (zt && zt->data && zt->dtype == NN_DTYPE_UINT8) {
                    L[i].in_zp = ((const uint8_t *)zt->data)[0];
                    L[i].in_lo = 0;
                    L[i].in_hi = 255;
                } else if (zt && zt->data && zt->dtype == NN_DTYPE_INT8) {
                    L[i].in_zp = ((const int8_t *)zt->data)[0];
                } else if (zt && zt->data && zt->dtype == NN_DTYPE_INT16) {
                    L[i].in_zp = ((const int16_t *)zt->data)[0];
                    L[i].in_lo = -32768;
                    L[i].in_hi = 32767;
                }
            }
        }
    }
}

/* Begin pads of L for input (H, W) and output (OH, OW). */
static void nn_qa__pads(const nn_qa__lin *L, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t *ph, int64_t *pw) {
    if (L->autopad == 0) { *ph = L->pads[0]; *pw = L->pads[1]; return; }
    if (L->autopad == 1) { *ph = *pw = 0; return; }
    {
        int64_t th = (OH - 1) * L->sh + (L->kh - 1) * L->dh + 1 - H, tw = (OW - 1) * L->sw + (L->kw - 1) * L->dw + 1 - W;
        if (th < 0) th = 0;
        if (tw < 0) tw = 0;
        *ph = L->autopad == 2 ? th / 2 : th - th / 2;
        *pw = L->autopad == 2 ? tw / 2 : tw - tw / 2;
    }
}

/* Geometry of one observed call: positions (output rows) and spatial sizes.
   0 when x / y do not fit the layer. */
typedef struct nn_qa__geo {
    int64_t N, H, W, OH, OW, ph, pw, rows;
} nn_qa__geo;

static int nn_qa__geometry(const nn_qa__lin *L, const nn_value *x, const nn_value *y, nn_qa__geo *o) {
    memset(o, 0, sizeof *o);
    if (!x || !y || x->dtype != NN_DTYPE_FLOAT || y->dtype != NN_DTYPE_FLOAT || !x->data || !y->data) return 0;
    if (L->kind == 1) {
        int r = x->shape.rank;
        if ((r != 3 && r != 4) || y->shape.rank != r || x->shape.dims[1] != L->cin || y->shape.dims[1] != L->cout) return 0;
        o->N = x->shape.dims[0];
        o->H = r == 4 ? x->shape.dims[2] : 1;
        o->W = x->shape.dims[r - 1];
        o->OH = r == 4 ? y->shape.dims[2] : 1;
        o->OW = y->shape.dims[r - 1];
        if (y->shape.dims[0] != o->N) return 0;
        nn_qa__pads(L, o->H, o->W, o->OH, o->OW, &o->ph, &o->pw);
        if (r == 3) o->ph = 0;
        o->rows = o->N * o->OH * o->OW;
        return o->rows > 0;
    }
    if (x->shape.rank < 1 || x->shape.dims[x->shape.rank - 1] != L->K || y->shape.dims[y->shape.rank - 1] != L->cout)
        return 0;
    o->rows = (int64_t)(nn_value_count(x) / (size_t)L->K);
    return o->rows > 0 && (size_t)o->rows * (size_t)L->cout == nn_value_count(y);
}

/* Patch of output row r (Conv: all input channels, (ci, ky, kx) order). */
static void nn_qa__patch(const nn_qa__lin *L, const nn_qa__geo *G, const float *x, int64_t r, float *dst) {
    int64_t ci, ky, kx;
    if (L->kind != 1) { memcpy(dst, x + r * L->K, (size_t)L->K * sizeof(float)); return; }
    {
        int64_t n = r / (G->OH * G->OW), oy = (r / G->OW) % G->OH, ox = r % G->OW;
        for (ci = 0; ci < L->cin; ci++) {
            const float *xc = x + (n * L->cin + ci) * G->H * G->W;
            for (ky = 0; ky < L->kh; ky++) {
                int64_t iy = oy * L->sh - G->ph + ky * L->dh;
                for (kx = 0; kx < L->kw; kx++) {
                    int64_t ix = ox * L->sw - G->pw + kx * L->dw;
                    *dst++ = (iy >= 0 && iy < G->H && ix >= 0 && ix < G->W) ? xc[iy * G->W + ix] : 0.0f;
                }
            }
        }
    }
}

/* Sum over all output rows of the patches into acc (F entries). */
static void nn_qa__patch_sum(const nn_qa__lin *L, const nn_qa__geo *G, const float *x, double *acc) {
    int64_t ci, ky, kx, n, oy, ox, r;
    if (L->kind != 1) {
        for (r = 0; r < G->rows; r++)
            for (ci = 0; ci < L->K; ci++) acc[ci] += x[r * L->K + ci];
        return;
    }
    for (ci = 0; ci < L->cin; ci++)
        for (ky = 0; ky < L->kh; ky++)
            for (kx = 0; kx < L->kw; kx++) {
                double s = 0;
                for (n = 0; n < G->N; n++) {
                    const float *xc = x + (n * L->cin + ci) * G->H * G->W;
                    for (oy = 0; oy < G->OH; oy++) {
                        int64_t iy = oy * L->sh - G->ph + ky * L->dh;
                        if (iy < 0 || iy >= G->H) continue;
                        for (ox = 0; ox < G->OW; ox++) {
                            int64_t ix = ox * L->sw - G->pw + kx * L->dw;
                            if (ix >= 0 && ix < G->W) s += xc[iy * G->W + ix];
                        }
                    }
                }
                acc[(ci * L->kh + ky) * L->kw + kx] += s;
            }
}

/* Per-channel sums of output y (Conv: axis 1; Gemm/MatMul: last axis). */
static void nn_qa__chan_sum(const nn_qa__lin *L, const nn_value *y, double *acc) {
    const float *v = (const float *)y->data;
    size_t n = nn_value_count(y), i;
    if (L->kind == 1) {
        size_t inner = 1, c;
        int r;
        for (r = 2; r < y->shape.rank; r++) inner *= (size_t)y->shape.dims[r];
        for (i = 0; i < n; i++) {
            c = (i / inner) % (size_t)L->cout;
            acc[c] += v[i];
        }
        return;
    }
    for (i = 0; i < n; i++) acc[i % (size_t)L->cout] += v[i];
}

static float nn_qa__fq(const nn_qa__lin *L, float v) {
    double q;
    if (!(L->in_scale > 0)) return v;
    q = rint(v / L->in_scale) + L->in_zp;
    if (q < L->in_lo) q = L->in_lo;
    if (q > L->in_hi) q = L->in_hi;
    return (float)((q - L->in_zp) * L->in_scale);
}

/* sum a[k] b[k] with eight partial sums (vectorizes without -ffast-math). */
static float nn_qa__dot(const float *a, const float *b, int64_t n) {
    float p[8] = {0, 0, 0, 0, 0, 0, 0, 0}, s;
    int64_t k = 0;
    int j;
    for (; k + 8 <= n; k += 8)
        for (j = 0; j < 8; j++) p[j] += a[k + j] * b[k + j];
    s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

/* ---- shared observer ----------------------------------------------------- */

enum { NN_QA__ADA = 1, NN_QA__BC_FLOAT, NN_QA__BC_Q, NN_QA__ADA_Q };

/* Modes that observe the QDQ graph (its nodes and their Q/DQ'd inputs). */
static int nn_qa__on_q(int what) { return what == NN_QA__BC_Q || what == NN_QA__ADA_Q; }

typedef struct nn_qa__acc {
    double *fsum, *qsum;           /* (cout) output channel sums, float and quantized runs */
    double *psum;                  /* (F) patch sums of the quantized input (LOCAL) */
    double rows_f, rows_q;
    double dot, ff, qq, fsq;       /* cosine and float RMS */
    float *ref;                    /* float output of the current sample (cosine) */
    size_t ref_count;
    /* AdaRound capture */
    float *X;                      /* (P, F) patches, fake-quantized unless float_input */
    float *T;                      /* (cout, P) float outputs W x (no bias) */
    int64_t *row;                  /* (P) output row of each position (sequential: re-read from q) */
    uint32_t *smp;                 /* (P) its sample */
    uint32_t P, filled, quota;
} nn_qa__acc;

typedef struct nn_qa__obs {
    int what;
    const nn_graph *g;             /* the graph being run */
    nn_qa__lin *L;
    nn_qa__acc *acc;
    int32_t *lin_of;               /* (node_count of the run graph) layer index or -1 */
    uint8_t *watch;                /* (tensor_count) inputs to remember */
    nn_value *slot;                /* (tensor_count) */
    int float_input, want_cos;
    uint32_t rng;
    const nn_allocator *al;
    int nomem;
    int32_t stop_after;            /* QDQ run: stop once this layer is seen (-1: run to the end) */
    int stopped;
    uint32_t sample;               /* the sample being run (AdaRound's positions) */
} nn_qa__obs;

static void nn_qa__ada_capture(nn_qa__obs *o, nn_qa__lin *L, nn_qa__acc *A, const nn_value *x, const nn_value *y) {
    nn_qa__geo G;
    uint32_t take, t;
    const float *w;
    if (!A->X || A->filled >= A->P || !nn_qa__geometry(L, x, y, &G)) return;
    take = A->quota;
    if (take > A->P - A->filled) take = A->P - A->filled;
    w = (const float *)o->g->tensors[L->wt].data;
    for (t = 0; t < take; t++) {
        int64_t r = (int64_t)(nn_qa__rng(&o->rng) % (uint32_t)(G.rows > 0x7fffffff ? 0x7fffffff : G.rows)), c, k;
        float *dst = A->X + (size_t)A->filled * (size_t)L->F;
        uint32_t p = A->filled++;
        if (A->row) { A->row[p] = r; A->smp[p] = o->sample; }
        nn_qa__patch(L, &G, (const float *)x->data, r, dst);
        for (c = 0; c < L->cout; c++) {
            int64_t off = nn_qa__goff(L, c);
            if (L->wlayout == 0) {
                A->T[(size_t)c * A->P + p] = nn_qa__dot(w + (size_t)c * (size_t)L->K, dst + off, L->K);
            } else {
                double s = 0;
                for (k = 0; k < L->K; k++) s += (double)w[nn_qa__widx(L, c, k)] * dst[off + k];
                A->T[(size_t)c * A->P + p] = (float)s;
            }
        }
        if (!o->float_input && L->in_scale > 0)
            for (k = 0; k < L->F; k++) dst[k] = nn_qa__fq(L, dst[k]);
    }
}

static int nn_qa__observer(void *user, const nn_graph *g, uint32_t ni, const nn_value *outs, uint32_t oc) {
    nn_qa__obs *o = (nn_qa__obs *)user;
    const nn_node *n = &g->nodes[ni];
    uint32_t j;
    int32_t li;
    for (j = 0; j < oc && j < n->output_count; j++)
        if (n->outputs[j].id != NN_INVALID_ID && o->watch[n->outputs[j].id]) o->slot[n->outputs[j].id] = outs[j];
    li = o->lin_of[ni];
    if (li < 0 || oc < 1) return 0;
    {
        nn_qa__lin *L = &o->L[li];
        nn_qa__acc *A = &o->acc[li];
        uint32_t xt = nn_qa__on_q(o->what) ? L->qin_t : L->in_t;
        const nn_value *x = xt != NN_INVALID_ID ? &o->slot[xt] : NULL, *y = &outs[0];
        nn_qa__geo G;
        size_t cnt, i;
        if (o->what == NN_QA__ADA) { nn_qa__ada_capture(o, L, A, x, y); return 0; }
        if (o->what == NN_QA__ADA_Q) {   /* sequential AdaRound: the QDQ input at the float run's positions */
            uint32_t p;
            if (li != o->stop_after) return 0;
            if (nn_qa__geometry(L, x, y, &G))
                for (p = 0; p < A->filled; p++)
                    if (A->smp[p] == o->sample && A->row[p] < G.rows)
                        nn_qa__patch(L, &G, (const float *)x->data, A->row[p], A->X + (size_t)p * (size_t)L->F);
            o->stopped = 1;
            return 1;
        }
        if (y->dtype != NN_DTYPE_FLOAT || !y->data) return 0;
        cnt = nn_value_count(y);
        if (o->what == NN_QA__BC_FLOAT) {
            const float *v = (const float *)y->data;
            nn_qa__chan_sum(L, y, A->fsum);
            A->rows_f += (double)(cnt / (size_t)L->cout);
            for (i = 0; i < cnt; i++) A->fsq += (double)v[i] * v[i];
            if (o->want_cos) {
                if (A->ref_count != cnt) {
                    nn_free(o->al, A->ref);
                    A->ref = (float *)nn_alloc(o->al, cnt * sizeof(float) + 1);
                    A->ref_count = A->ref ? cnt : 0;
                    if (!A->ref) { o->nomem = 1; return 1; }
                }
                memcpy(A->ref, v, cnt * sizeof(float));
            }
            return 0;
        }
        /* the QDQ run (SEQUENTIAL's per-layer step keeps sums for its layer only) */
        if (!A->qsum) return 0;
        nn_qa__chan_sum(L, y, A->qsum);
        A->rows_q += (double)(cnt / (size_t)L->cout);
        if (A->psum && nn_qa__geometry(L, x, y, &G)) nn_qa__patch_sum(L, &G, (const float *)x->data, A->psum);
        if (o->want_cos && A->ref && A->ref_count == cnt) {
            const float *v = (const float *)y->data;
            for (i = 0; i < cnt; i++) {
                A->dot += (double)v[i] * A->ref[i];
                A->ff += (double)A->ref[i] * A->ref[i];
                A->qq += (double)v[i] * v[i];
            }
        }
        if (li == o->stop_after) { o->stopped = 1; return 1; } /* nothing downstream is needed */
    }
    return 0;
}

/* Watches and layer map for a run of graph rg (g or q). */
static nn_status nn_qa__obs_init(nn_qa__obs *o, int what, const nn_graph *rg, nn_qa__lin *L, nn_qa__acc *A, uint32_t n,
                                 const nn_allocator *al, nn_diag *diag) {
    uint32_t i;
    memset(o, 0, sizeof *o);
    o->what = what;
    o->g = rg;
    o->L = L;
    o->acc = A;
    o->al = al;
    o->rng = 12345u;
    o->stop_after = -1;
    o->lin_of = (int32_t *)nn_alloc(al, ((size_t)rg->node_count + 1) * sizeof *o->lin_of);
    o->watch = (uint8_t *)nn_alloc(al, (size_t)rg->tensor_count + 1);
    o->slot = (nn_value *)nn_alloc(al, ((size_t)rg->tensor_count + 1) * sizeof *o->slot);
    if (!o->lin_of || !o->watch || !o->slot) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
    for (i = 0; i < rg->node_count; i++) o->lin_of[i] = -1;
    memset(o->watch, 0, (size_t)rg->tensor_count + 1);
    memset(o->slot, 0, ((size_t)rg->tensor_count + 1) * sizeof *o->slot);
    for (i = 0; i < n; i++) {
        uint32_t node = nn_qa__on_q(what) ? L[i].qnode : L[i].node;
        uint32_t xt = nn_qa__on_q(what) ? L[i].qin_t : L[i].in_t;
        if (node == NN_INVALID_ID) continue;
        o->lin_of[node] = (int32_t)i;
        if (xt != NN_INVALID_ID) o->watch[xt] = 1;
    }
    return NN_OK;
}

static void nn_qa__obs_deinit(nn_qa__obs *o) {
    nn_free(o->al, o->lin_of);
    nn_free(o->al, o->watch);
    nn_free(o->al, o->slot);
}

/* Binds sample k's inputs (and remembers them for watched graph inputs). */
static void nn_qa__bind_slots(nn_qa__obs *o, const nn_graph *rg, const nn_value *inputs, uint32_t k) {
    uint32_t i;
    for (i = 0; i < rg->input_count; i++)
        if (o->watch[rg->inputs[i].id]) o->slot[rg->inputs[i].id] = inputs[(size_t)k * rg->input_count + i];
}

static nn_status nn_qa__run_float(const nn_graph *g, nn_qa__obs *o, const nn_value *inputs, uint32_t n,
                                  const nn_input_shape *shapes, uint32_t shape_count, nn_diag *diag) {
    nn_exec_desc xd;
    nn_exec *x = NULL;
    uint32_t k, i;
    nn_status st;
    memset(&xd, 0, sizeof xd);
    xd.input_shapes = shapes;
    xd.input_shape_count = shape_count;
    xd.observer = nn_qa__observer;
    xd.observer_user = o;
    if ((st = nn_exec_create(g, &xd, &x, diag))) return st;
    for (k = 0; k < n && st == NN_OK; k++) {
        nn_qa__bind_slots(o, g, inputs, k);
        o->sample = k;
        for (i = 0; i < g->input_count && st == NN_OK; i++)
            st = nn_exec_set_input(x, i, &inputs[(size_t)k * g->input_count + i], diag);
        if (st == NN_OK) st = nn_exec_run(x, diag);
    }
    nn_exec_destroy(x);
    if (o->nomem) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
    return st;
}

/* ---- AdaRound ------------------------------------------------------------- */

#define NN_QA__ZETA 1.1
#define NN_QA__GAMMA (-0.1)

static float nn_qa__h(float v) {
    float s = 1.0f / (1.0f + expf(-v)), h = s * (float)(NN_QA__ZETA - NN_QA__GAMMA) + (float)NN_QA__GAMMA;
    return h < 0 ? 0 : h > 1 ? 1 : h;
}

/* Optimizes one captured layer and writes its weights back into g. */
static nn_status nn_qa__ada_layer(nn_graph *g, const nn_graph *q, nn_qa__lin *L, nn_qa__acc *A,
                                  const nn_quant_adaround_desc *d, const nn_allocator *al, nn_quant_adaround_layer *rep,
                                  nn_diag *diag) {
    const nn_tensor *wt = &g->tensors[L->wt];
    const float *w = (const float *)wt->data;
    size_t nw = (size_t)L->cout * (size_t)L->K, i;
    uint32_t P = A->filled, iters = d->iterations ? d->iterations : 1000, B = d->batch ? d->batch : 32, it, b;
    uint32_t warm, rng = d->seed ? d->seed : 1u, Pt, i0;
    double lam = d->reg > 0 ? d->reg : 1.0, b0 = d->beta_start > 0 ? d->beta_start : 20.0,
           b1 = d->beta_end > 0 ? d->beta_end : 2.0, lr = d->lr > 0 ? d->lr : 10.0 / iters,
           ws = d->warm_start > 0 ? d->warm_start : 0.2, xn = 0;
    float *V = NULL, *M1 = NULL, *M2 = NULL, *fl = NULL, *scale = NULL, *wnew = NULL, *a = NULL, *e = NULL, *gr = NULL;
    float *sgv = NULL;
    double *mch = NULL;
    uint8_t *fixed = NULL, *chan_ok = NULL;
    uint32_t *idx = NULL;
    nn_status st = NN_OK;
    int64_t c, k;
    memset(rep, 0, sizeof *rep);
    rep->node = L->node;
    rep->positions = P;
    if (P == 0 || L->qnode == NN_INVALID_ID) return NN_OK;
    /* positions [0, Pt) train, [Pt, P) decide whether a channel keeps the
       learned rounding (held out: with few calibration images a wide layer
       can fit its sampled positions and generalize worse than nearest) */
    Pt = P >= 8 ? P - P / 4 : P;
    i0 = Pt < P ? Pt : 0;
    if (B > Pt) B = Pt;
    V = (float *)nn_alloc(al, nw * sizeof(float) + 1);
    M1 = (float *)nn_alloc(al, nw * sizeof(float) + 1);
    M2 = (float *)nn_alloc(al, nw * sizeof(float) + 1);
    fl = (float *)nn_alloc(al, nw * sizeof(float) + 1);
    wnew = (float *)nn_alloc(al, nw * sizeof(float) + 1);
    fixed = (uint8_t *)nn_alloc(al, nw + 1);
    scale = (float *)nn_alloc(al, (size_t)L->cout * sizeof(float) + 1);
    chan_ok = (uint8_t *)nn_alloc(al, (size_t)L->cout + 1);
    a = (float *)nn_alloc(al, (size_t)L->K * sizeof(float) + 1);
    gr = (float *)nn_alloc(al, (size_t)L->K * sizeof(float) + 1);
    sgv = (float *)nn_alloc(al, (size_t)L->K * sizeof(float) + 1);
    mch = (double *)nn_alloc(al, (size_t)L->cout * sizeof(double) + 1);
    e = (float *)nn_alloc(al, (size_t)B * sizeof(float) + 1);
    idx = (uint32_t *)nn_alloc(al, (size_t)B * sizeof(uint32_t) + 1);
    if (!V || !M1 || !M2 || !fl || !wnew || !fixed || !scale || !chan_ok || !a || !gr || !e || !idx || !sgv || !mch) {
        st = nn_diag_set(diag, NN_ERR_NOMEM, wt->name, "out of memory");
        goto done;
    }
    /* the grid nn_quant_graph uses: the DQ scales of the weight in q */
    if (!nn_qa__dq_const(q, q->nodes[L->qnode].inputs[1].id, wnew, nw, scale, L->cout)) goto done;
    {
        double gmax = 0;
        int per_tensor = 1;
        for (c = 1; c < L->cout; c++)
            if (scale[c] != scale[0]) per_tensor = 0;
        for (i = 0; i < nw; i++) if (fabs(w[i]) > gmax) gmax = fabs(w[i]);
        for (c = 0; c < L->cout; c++) {
            double m = 0, qmax;
            if (per_tensor && L->cout > 1) m = gmax;
            else for (k = 0; k < L->K; k++) if (fabs(w[nn_qa__widx(L, c, k)]) > m) m = fabs(w[nn_qa__widx(L, c, k)]);
            qmax = scale[c] > 0 ? rint(m / scale[c]) : 0;
            mch[c] = m;
            /* a channel whose scale is not max / qmax (raised by the bias
               floor of nn_quant_graph, or all zero) keeps nearest rounding */
            chan_ok[c] = m > 0 && (qmax == 127 || qmax == 7) && (float)(m / qmax) == scale[c];
            rep->channels += chan_ok[c];
            for (k = 0; k < L->K; k++) {
                size_t wi = nn_qa__widx(L, c, k);
                double r = w[wi] / (double)scale[c], f = floor(r), fr = r - f;
                fl[wi] = (float)f;
                fixed[wi] = !chan_ok[c] || fabs(w[wi]) >= m || f + 1 > qmax || f < -qmax;
                if (fixed[wi]) {
                    double nr = rint(r);
                    if (nr > qmax) nr = qmax;
                    if (nr < -qmax) nr = -qmax;
                    fl[wi] = (float)nr;
                    V[wi] = 0;
                } else {   /* h(V) = fractional part */
                    double p = (fr - NN_QA__GAMMA) / (NN_QA__ZETA - NN_QA__GAMMA);
                    V[wi] = (float)log(p / (1 - p));
                }
                M1[wi] = M2[wi] = 0;
            }
        }
    }
    for (i = 0; i < (size_t)P * (size_t)L->F; i++) xn += (double)A->X[i] * A->X[i];
    xn /= (double)P * (double)L->F;
    if (!(xn > 0)) goto done;
    for (c = 0; c < L->cout; c++)   /* targets in grid units */
        if (chan_ok[c])
            for (i = 0; i < P; i++) A->T[(size_t)c * A->P + i] /= scale[c];
    warm = (uint32_t)(ws * iters);
    for (it = 0; it < iters; it++) {
        double beta = 0, t1 = 1, t2 = 1;
        int reg_on = it >= warm;
        float gscale = (float)(2.0 / ((double)B * xn));
        if (reg_on) {
            double rel = iters > warm ? (double)(it - warm) / (double)(iters - warm) : 1.0;
            beta = b1 + 0.5 * (b0 - b1) * (1 + cos(rel * 3.14159265358979323846));
        }
        t1 = 1 - pow(0.9, it + 1);
        t2 = 1 - pow(0.999, it + 1);
        for (b = 0; b < B; b++) idx[b] = nn_qa__rng(&rng) % Pt;
        for (c = 0; c < L->cout; c++) {
            int64_t off = nn_qa__goff(L, c);
            if (!chan_ok[c]) continue;
            for (k = 0; k < L->K; k++) {
                size_t wi = nn_qa__widx(L, c, k);
                float sg = 0, h = 0;
                if (!fixed[wi]) {
                    sg = 1.0f / (1.0f + expf(-V[wi]));
                    h = sg * (float)(NN_QA__ZETA - NN_QA__GAMMA) + (float)NN_QA__GAMMA;
                    h = h < 0 ? 0 : h > 1 ? 1 : h;
                }
                sgv[k] = sg;
                a[k] = fl[wi] + h;
                gr[k] = 0;
            }
            for (b = 0; b < B; b++) {
                const float *xp = A->X + (size_t)idx[b] * (size_t)L->F + off;
                e[b] = nn_qa__dot(a, xp, L->K) - A->T[(size_t)c * A->P + idx[b]];
            }
            for (b = 0; b < B; b++) {
                const float *xp = A->X + (size_t)idx[b] * (size_t)L->F + off;
                float eb = e[b] * gscale;
                for (k = 0; k < L->K; k++) gr[k] += eb * xp[k];
            }
            for (k = 0; k < L->K; k++) {
                size_t wi = nn_qa__widx(L, c, k);
                float sg, h, dh, gv, mh, vh;
                if (fixed[wi]) continue;
                sg = sgv[k];
                h = sg * (float)(NN_QA__ZETA - NN_QA__GAMMA) + (float)NN_QA__GAMMA;
                if (h <= 0 || h >= 1) dh = 0;  /* clipped: no gradient (the paper's h) */
                else dh = sg * (1 - sg) * (float)(NN_QA__ZETA - NN_QA__GAMMA);
                gv = gr[k];
                if (reg_on && dh > 0) {
                    double u = 2.0 * h - 1.0, au = fabs(u);
                    /* d/dh (1 - |2h - 1|^beta) = -2 beta |u|^(beta-1) sign(u) */
                    double dreg = au > 0 ? -2.0 * beta * pow(au, beta - 1) * (u > 0 ? 1 : -1) : 0;
                    gv += (float)(lam * dreg);
                }
                gv *= dh;
                M1[wi] = 0.9f * M1[wi] + 0.1f * gv;
                M2[wi] = 0.999f * M2[wi] + 0.001f * gv * gv;
                mh = M1[wi] / (float)t1;
                vh = M2[wi] / (float)t2;
                V[wi] -= (float)lr * mh / (sqrtf(vh) + 1e-8f);
            }
        }
    }
    /* hard rounding; keep it per channel only when it reconstructs better */
    for (c = 0; c < L->cout; c++) {
        int64_t off = nn_qa__goff(L, c);
        double en = 0, ea = 0, s2 = (double)scale[c] * scale[c], m = mch[c], qmax;
        uint64_t flips = 0;
        if (!chan_ok[c]) continue;
        qmax = rint(m / scale[c]);
        for (k = 0; k < L->K; k++) {
            size_t wi = nn_qa__widx(L, c, k);
            double r = w[wi] / (double)scale[c];
            a[k] = fixed[wi] ? fl[wi] : fl[wi] + (nn_qa__h(V[wi]) >= 0.5f ? 1.0f : 0.0f);
            gr[k] = (float)rint(r);
            if (gr[k] > qmax) gr[k] = (float)qmax;
            if (gr[k] < -qmax) gr[k] = (float)-qmax;
            flips += a[k] != gr[k];
        }
        for (i = i0; i < P; i++) {
            const float *xp = A->X + i * (size_t)L->F + off;
            double sa = nn_qa__dot(a, xp, L->K), sn = nn_qa__dot(gr, xp, L->K), t = A->T[(size_t)c * A->P + i];
            ea += (sa - t) * (sa - t);
            en += (sn - t) * (sn - t);
        }
        rep->err_nearest += en * s2 / (P - i0);
        if (ea < en) {
            rep->err_adaround += ea * s2 / (P - i0);
            rep->flipped += flips;
        } else {   /* nearest rounding, written on the grid as well */
            rep->err_adaround += en * s2 / (P - i0);
            memcpy(a, gr, (size_t)L->K * sizeof(float));
        }
        for (k = 0; k < L->K; k++) {
            size_t wi = nn_qa__widx(L, c, k);
            double qv = a[k];
            if (fabs(w[wi]) >= m) wnew[wi] = w[wi];           /* the max stays put */
            else if (fabs(qv) >= qmax) wnew[wi] = (float)(qv > 0 ? m : -m);
            else wnew[wi] = (float)(qv * scale[c]);
        }
    }
    for (c = 0; c < L->cout; c++)
        if (!chan_ok[c])
            for (k = 0; k < L->K; k++) wnew[nn_qa__widx(L, c, k)] = w[nn_qa__widx(L, c, k)];
    st = nn_graph_set_data(g, nn_graph_find_tensor(g, wt->name), wnew, nw * sizeof(float), 1, diag);
done:
    nn_free(al, V); nn_free(al, M1); nn_free(al, M2); nn_free(al, fl); nn_free(al, wnew); nn_free(al, fixed);
    nn_free(al, scale); nn_free(al, chan_ok); nn_free(al, a); nn_free(al, gr); nn_free(al, e); nn_free(al, idx);
    nn_free(al, sgv); nn_free(al, mch);
    return st;
}

static nn_status nn_qa__qpass(const nn_graph *q, nn_qa__lin *L, nn_qa__acc *acc, int what, uint32_t n, uint32_t li,
                              const nn_value *inputs, uint32_t ns, uint32_t threads, double *sums, nn_diag *diag);

#ifndef NN_QA_ADAROUND_CHUNK_FLOATS
#define NN_QA_ADAROUND_CHUNK_FLOATS (48u << 20)   /* patch floats captured per float-model pass (192 MB) */
#endif
#define NN_QA__LAYER_FLOATS (4u << 20)

NN_API nn_status nn_quant_adaround(nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd,
                                   const nn_value *inputs, uint32_t sample_count, const nn_quant_adaround_desc *d,
                                   nn_quant_adaround_report *out, nn_diag *diag) {
    nn_allocator al;
    nn_quant_adaround_desc dd;
    nn_quant_desc qdd;
    nn_qa__lin *L = NULL;
    nn_qa__acc *A = NULL;
    nn_graph *q = NULL;
    nn_quant_adaround_report rep;
    uint32_t n = 0, skipped = 0, i, start, ns;
    nn_status st;
    memset(&al, 0, sizeof al);
    memset(&rep, 0, sizeof rep);
    if (d) dd = *d; else memset(&dd, 0, sizeof dd);
    if (qd) qdd = *qd; else memset(&qdd, 0, sizeof qdd);
    qdd.log = NULL;
    if (out) memset(out, 0, sizeof *out);
    if (!g || !ranges || !inputs || sample_count == 0) return nn_diag_set(diag, NN_ERR_ARG, "nn_quant_adaround", "no graph, ranges or samples");
    ns = dd.max_samples && dd.max_samples < sample_count ? dd.max_samples : sample_count;
    if ((st = nn_qa__find(g, &qdd, &al, &L, &n, &skipped, diag))) return st;
    rep.skipped = skipped;
    if ((st = nn_quant_graph(g, ranges, &qdd, &q, NULL, diag))) goto done;
    nn_qa__map_q(g, q, L, n);
    A = (nn_qa__acc *)nn_alloc(&al, ((size_t)n + 1) * sizeof *A);
    if (!A) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory"); goto done; }
    memset(A, 0, ((size_t)n + 1) * sizeof *A);
    for (start = 0; start < n && st == NN_OK;) {
        /* a chunk of layers whose patches fit the budget, one float pass */
        size_t used = 0;
        uint32_t end = start, P0 = dd.positions ? dd.positions : 1024;
        nn_qa__obs o;
        while (end < n) {
            uint32_t P = P0;
            size_t need;
            if ((size_t)P * (size_t)L[end].F > NN_QA__LAYER_FLOATS) P = (uint32_t)(NN_QA__LAYER_FLOATS / (size_t)L[end].F);
            if (P < 16) P = 16;
            need = (size_t)P * ((size_t)L[end].F + (size_t)L[end].cout);
            if (end > start && used + need > NN_QA_ADAROUND_CHUNK_FLOATS) break;
            used += need;
            A[end].P = L[end].qnode != NN_INVALID_ID ? P : 0;
            A[end].quota = (P + ns - 1) / ns;
            if (A[end].P) {
                A[end].X = (float *)nn_alloc(&al, (size_t)P * (size_t)L[end].F * sizeof(float) + 1);
                A[end].T = (float *)nn_alloc(&al, (size_t)P * (size_t)L[end].cout * sizeof(float) + 1);
                if (dd.sequential) {
                    A[end].row = (int64_t *)nn_alloc(&al, (size_t)P * sizeof(int64_t) + 1);
                    A[end].smp = (uint32_t *)nn_alloc(&al, (size_t)P * sizeof(uint32_t) + 1);
                }
                if (!A[end].X || !A[end].T || (dd.sequential && (!A[end].row || !A[end].smp))) {
                    st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_adaround", "out of memory");
                    break;
                }
            }
            end++;
        }
        if (st == NN_OK && (st = nn_qa__obs_init(&o, NN_QA__ADA, g, L + start, A + start, end - start, &al, diag)) == NN_OK) {
            o.float_input = dd.float_input;
            o.rng = dd.seed ? dd.seed * 2654435761u + 1u : 12345u;
            st = nn_qa__run_float(g, &o, inputs, ns, dd.input_shapes, dd.input_shape_count, diag);
        }
        nn_qa__obs_deinit(&o);
        for (i = start; i < end && st == NN_OK; i++) {
            nn_quant_adaround_layer lr;
            if (!A[i].P) continue;
            if (dd.sequential) {
                /* the QDQ model of g as it is now (the layers before i rounded):
                   its input to layer i replaces the captured patches */
                nn_graph_destroy(q);
                q = NULL;
                if ((st = nn_quant_graph(g, ranges, &qdd, &q, NULL, diag))) break;
                nn_qa__map_q(g, q, L, n);
                if (L[i].qnode != NN_INVALID_ID &&
                    (st = nn_qa__qpass(q, &L[i], &A[i], NN_QA__ADA_Q, 1, 0, inputs, ns, dd.threads, NULL, diag)))
                    break;
            }
            st = nn_qa__ada_layer(g, q, &L[i], &A[i], &dd, &al, &lr, diag);
            if (st) break;
            if (lr.channels) {
                rep.layers++;
                rep.weights += (uint64_t)L[i].cout * (uint64_t)L[i].K;
                rep.flipped += lr.flipped;
                rep.err_nearest += lr.err_nearest;
                rep.err_adaround += lr.err_adaround;
            } else {
                rep.skipped++;
            }
            if (dd.layers && rep.layers && rep.layers - 1 < dd.layer_cap && lr.channels) dd.layers[rep.layers - 1] = lr;
            nn_quant__logf(dd.progress, dd.progress_user,
                        "adaround %u/%u %s: %u positions, %llu of %lld weights flipped, error %.4g -> %.4g",
                        i + 1, n, g->nodes[L[i].node].name ? g->nodes[L[i].node].name : "", lr.positions,
                        (unsigned long long)lr.flipped, (long long)(L[i].cout * L[i].K), lr.err_nearest, lr.err_adaround);
        }
        for (i = start; i < end; i++) {
            nn_free(&al, A[i].X);
            nn_free(&al, A[i].T);
            nn_free(&al, A[i].row);
            nn_free(&al, A[i].smp);
            A[i].X = A[i].T = NULL;
            A[i].row = NULL;
            A[i].smp = NULL;
        }
        start = end;
    }
done:
    if (out) *out = rep;
    if (q) nn_graph_destroy(q);
    nn_free(&al, A);
    nn_free(&al, L);
    return st;
}

/* ---- bias correction ---------------------------------------------------- */

/* Sets a float bias of layer L (creating the tensor when missing). */
static nn_status nn_qa__set_bias(nn_graph *g, nn_qa__lin *L, const float *bias, int *created, nn_diag *diag) {
    nn_node *n;
    nn_tensor_id t, *ins;
    char name[512];
    int64_t dims[1];
    nn_shape s;
    int k;
    *created = 0;
    if (L->bt != NN_INVALID_ID) {
        nn_tensor_id id;
        id.id = L->bt;
        return nn_graph_set_data(g, id, bias, g->tensors[L->bt].data_bytes, 1, diag);
    }
    if (L->kind == 3) return NN_OK;
    n = &g->nodes[L->node];
    for (k = 0; k < 1000; k++) {
        snprintf(name, sizeof name, k ? "%.400s_bias_bc%d" : "%.400s_bias_bc", g->tensors[L->wt].name, k);
        if (nn_graph_find_tensor(g, name).id == NN_INVALID_ID) break;
    }
    dims[0] = L->cout;
    s = nn_shape_make(1, dims);
    {
        nn_status st = nn_graph_add_tensor(g, name, NN_DTYPE_FLOAT, &s, &t, diag);
        if (st) return st;
        if ((st = nn_graph_set_data(g, t, bias, (size_t)L->cout * sizeof(float), 1, diag))) return st;
    }
    n = &g->nodes[L->node];
    ins = (nn_tensor_id *)nn_arena_alloc(&g->arena, 4 * sizeof *ins);
    if (!ins) return nn_diag_set(diag, NN_ERR_NOMEM, n->name, "out of memory");
    ins[0] = n->inputs[0];
    ins[1] = n->inputs[1];
    ins[2] = t;
    n->inputs = ins;
    n->input_count = 3;
    L->bt = t.id;
    *created = 1;
    return NN_OK;
}

/* Runs sample k through x, the QDQ executor whose observer is o; the
   observer's own early stop (o->stop_after) is not an error. */
static nn_status nn_qa__run_q_sample(nn_qexec *x, nn_qa__obs *o, const nn_graph *q, const nn_value *inputs, uint32_t k,
                                     nn_diag *diag) {
    nn_diag rd;
    uint32_t j;
    nn_status st = NN_OK;
    nn_qa__bind_slots(o, q, inputs, k);
    o->sample = k;
    for (j = 0; j < q->input_count && st == NN_OK; j++)
        st = nn_qexec_set_input(x, j, &inputs[(size_t)k * q->input_count + j], diag);
    if (st != NN_OK) return st;
    memset(&rd, 0, sizeof rd);
    st = nn_qexec_run(x, &rd);
    if (st != NN_OK && o->stopped) st = NN_OK; /* our own early stop */
    else if (st != NN_OK) st = nn_diag_set(diag, rd.status, rd.where, "%s", rd.message);
    o->stopped = 0;
    return st;
}

/* One share of a QDQ pass (float kernels, so each layer's dequantized
   input is seen) over samples k = first, first + step, ..., each run up to
   layer li.  Each share has its own executor, so shares run on separate
   threads.  Two uses:
   - NN_QA__BC_Q (sequential bias correction): layer li's output channel
     sums of sample k into sums[k * (cout + 1) ..], its row count last; the
     accumulators are the share's own.  The caller adds them in sample
     order, so the corrections do not depend on the thread count.
   - NN_QA__ADA_Q (sequential AdaRound): acc is layer li's capture (n = 1,
     li = 0); its positions of sample k (acc->row, acc->smp, set by the
     float capture) are re-read from the QDQ input into acc->X.  A position
     belongs to one sample, so the shares write disjoint rows of X. */
typedef struct nn_qa__qpass_job {
    const nn_graph *q;
    nn_qa__lin *L;
    nn_qa__acc *acc;               /* the n accumulators; NULL: the share's own, zeroed */
    int what;
    uint32_t n, li;
    const nn_value *inputs;
    uint32_t first, step, ns;
    double *sums;                  /* BC_Q: (ns, cout + 1), zeroed by the caller */
    nn_status st;
    nn_diag diag;
} nn_qa__qpass_job;

static void *nn_qa__qpass_run(void *arg) {
    nn_qa__qpass_job *j = (nn_qa__qpass_job *)arg;
    size_t cout = (size_t)j->L[j->li].cout;
    nn_allocator al;
    nn_qa__obs o;
    nn_qa__acc *A = j->acc;
    nn_qexec *x = NULL;
    nn_qexec_desc xd;
    uint32_t k;
    memset(&al, 0, sizeof al);
    if (!A) {
        A = (nn_qa__acc *)nn_alloc(&al, ((size_t)j->n + 1) * sizeof *A);
        if (!A) { j->st = nn_diag_set(&j->diag, NN_ERR_NOMEM, "nn_quant", "out of memory"); return NULL; }
        memset(A, 0, ((size_t)j->n + 1) * sizeof *A);
    }
    j->st = nn_qa__obs_init(&o, j->what, j->q, j->L, A, j->n, &al, &j->diag);
    o.stop_after = (int32_t)j->li;
    memset(&xd, 0, sizeof xd);
    xd.float_only = 1;
    xd.observer = nn_qa__observer;
    xd.observer_user = &o;
    if (j->st == NN_OK) j->st = nn_qexec_create(j->q, &xd, &x, &j->diag);
    for (k = j->first; k < j->ns && j->st == NN_OK; k += j->step) {
        double *sk = j->sums ? j->sums + (size_t)k * (cout + 1) : NULL;
        if (sk) {
            A[j->li].qsum = sk;
            A[j->li].rows_q = 0;
        }
        j->st = nn_qa__run_q_sample(x, &o, j->q, j->inputs, k, &j->diag);
        if (sk) sk[cout] = A[j->li].rows_q;
    }
    if (j->sums) A[j->li].qsum = NULL;
    if (x) nn_qexec_destroy(x);
    nn_qa__obs_deinit(&o);
    if (A != j->acc) nn_free(&al, A);
    return NULL;
}

/* Runs the QDQ pass of nn_qa__qpass_run over ns samples split over
   `threads` threads (1..8). */
static nn_status nn_qa__qpass(const nn_graph *q, nn_qa__lin *L, nn_qa__acc *acc, int what, uint32_t n, uint32_t li,
                              const nn_value *inputs, uint32_t ns, uint32_t threads, double *sums, nn_diag *diag) {
    nn_qa__qpass_job jobs[8];
    uint32_t nt = nn_quant__job_count(threads, ns), t;
    for (t = 0; t < nt; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        jobs[t].q = q;
        jobs[t].L = L;
        jobs[t].acc = acc;
        jobs[t].what = what;
        jobs[t].n = n;
        jobs[t].li = li;
        jobs[t].inputs = inputs;
        jobs[t].first = t;
        jobs[t].step = nt;
        jobs[t].ns = ns;
        jobs[t].sums = sums;
    }
    nn_quant__run_jobs(nn_qa__qpass_run, jobs, sizeof jobs[0], nt);
    for (t = 0; t < nt; t++)
        if (jobs[t].st != NN_OK) return nn_diag_set(diag, jobs[t].st, jobs[t].diag.where, "%s", jobs[t].diag.message);
    return NN_OK;
}

/* Layer li's quantized output sums over ns samples into acc (qsum zeroed),
   the samples split over `threads` threads (1..8). */
static nn_status nn_qa__seq_measure(const nn_graph *q, nn_qa__lin *L, uint32_t n, uint32_t li, const nn_value *inputs,
                                    uint32_t ns, uint32_t threads, nn_qa__acc *acc, nn_diag *diag) {
    nn_allocator al;
    size_t cout = (size_t)L[li].cout, c;
    uint32_t k;
    double *sums;
    nn_status st;
    memset(&al, 0, sizeof al);
    sums = (double *)nn_alloc(&al, (size_t)ns * (cout + 1) * sizeof *sums + 1);
    if (!sums) return nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
    memset(sums, 0, (size_t)ns * (cout + 1) * sizeof *sums);
    st = nn_qa__qpass(q, L, NULL, NN_QA__BC_Q, n, li, inputs, ns, threads, sums, diag);
    for (k = 0; k < ns && st == NN_OK; k++) { /* sample order: the same sums whatever the thread count */
        const double *sk = sums + (size_t)k * (cout + 1);
        for (c = 0; c < cout; c++) acc->qsum[c] += sk[c];
        acc->rows_q += sk[cout];
    }
    nn_free(&al, sums);
    return st;
}

/* One measuring pass of bias correction: quantizes g into *qout, then runs
   the first ns samples through the float model (when need_float) and the
   QDQ model (float kernels, so each layer's output before its
   QuantizeLinear is seen), filling A's channel sums (and the cosines when
   want_cos).  With stop_after >= 0 (SEQUENTIAL's step, no float run) only
   that layer is measured, by nn_qa__seq_measure.  The caller frees the
   sums (nn_qa__bc_free_sums) and *qout. */
static nn_status nn_qa__bc_measure(nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qdd,
                                   const nn_quant_bc_desc *dd, nn_qa__lin *L, nn_qa__acc *A, uint32_t n,
                                   const nn_value *inputs, uint32_t ns, int need_float, int want_cos,
                                   int32_t stop_after, const char *what, nn_allocator *al, nn_graph **qout,
                                   nn_diag *diag) {
    nn_graph *q = NULL;
    nn_qa__obs fo, qo;
    nn_qexec *x = NULL;
    nn_qexec_desc xd;
    uint32_t i, k, j;
    nn_status st;
    memset(&fo, 0, sizeof fo);
    memset(&qo, 0, sizeof qo);
    *qout = NULL;
    if ((st = nn_quant_graph(g, ranges, qdd, &q, NULL, diag))) return st;
    *qout = q;
    nn_qa__map_q(g, q, L, n);
    for (i = 0; i < n; i++) {
        A[i].fsum = (double *)nn_alloc(al, ((size_t)L[i].cout + 1) * sizeof(double));
        A[i].qsum = (double *)nn_alloc(al, ((size_t)L[i].cout + 1) * sizeof(double));
        A[i].psum = dd->mode == NN_QUANT_BC_LOCAL ? (double *)nn_alloc(al, ((size_t)L[i].F + 1) * sizeof(double)) : NULL;
        if (!A[i].fsum || !A[i].qsum || (dd->mode == NN_QUANT_BC_LOCAL && !A[i].psum))
            return nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
        memset(A[i].fsum, 0, (size_t)L[i].cout * sizeof(double));
        memset(A[i].qsum, 0, (size_t)L[i].cout * sizeof(double));
        if (A[i].psum) memset(A[i].psum, 0, (size_t)L[i].F * sizeof(double));
        A[i].rows_f = A[i].rows_q = A[i].dot = A[i].ff = A[i].qq = A[i].fsq = 0;
    }
    if (!need_float && stop_after >= 0) /* SEQUENTIAL's step: one layer, samples over dd->threads threads */
        return nn_qa__seq_measure(q, L, n, (uint32_t)stop_after, inputs, ns, dd->threads, &A[stop_after], diag);
    st = nn_qa__obs_init(&fo, NN_QA__BC_FLOAT, g, L, A, n, al, diag);
    if (st == NN_OK) st = nn_qa__obs_init(&qo, NN_QA__BC_Q, q, L, A, n, al, diag);
    fo.want_cos = qo.want_cos = want_cos;
    memset(&xd, 0, sizeof xd);
    xd.float_only = 1;
    xd.observer = nn_qa__observer;
    xd.observer_user = &qo;
    if (st == NN_OK) st = nn_qexec_create(q, &xd, &x, diag);
    if (st == NN_OK && need_float) {
        /* one float run then one QDQ run per sample (the cosine needs both) */
        nn_exec_desc ed;
        nn_exec *fx = NULL;
        memset(&ed, 0, sizeof ed);
        ed.input_shapes = dd->input_shapes;
        ed.input_shape_count = dd->input_shape_count;
        ed.observer = nn_qa__observer;
        ed.observer_user = &fo;
        st = nn_exec_create(g, &ed, &fx, diag);
        for (k = 0; k < ns && st == NN_OK; k++) {
            for (j = 0; j < g->input_count && st == NN_OK; j++)
                st = nn_exec_set_input(fx, j, &inputs[(size_t)k * g->input_count + j], diag);
            if (st == NN_OK) st = nn_exec_run(fx, diag);
            if (st == NN_OK && fo.nomem) st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
            nn_qa__bind_slots(&qo, q, inputs, k);
            for (j = 0; j < q->input_count && st == NN_OK; j++)
                st = nn_qexec_set_input(x, j, &inputs[(size_t)k * q->input_count + j], diag);
            if (st == NN_OK) st = nn_qexec_run(x, diag);
            nn_quant__logf(dd->progress, dd->progress_user, "%s: sample %u/%u", what, k + 1, ns);
        }
        if (fx) nn_exec_destroy(fx);
    } else {
        for (k = 0; k < ns && st == NN_OK; k++) st = nn_qa__run_q_sample(x, &qo, q, inputs, k, diag);
    }
    if (x) nn_qexec_destroy(x);
    nn_qa__obs_deinit(&fo);
    nn_qa__obs_deinit(&qo);
    return st;
}

static void nn_qa__bc_free_sums(nn_qa__acc *A, uint32_t n, const nn_allocator *al) {
    uint32_t i;
    for (i = 0; i < n; i++) {
        nn_free(al, A[i].fsum); nn_free(al, A[i].qsum); nn_free(al, A[i].psum); nn_free(al, A[i].ref);
        A[i].fsum = A[i].qsum = A[i].psum = NULL;
        A[i].ref = NULL;
        A[i].ref_count = 0;
    }
}

/* NN_QUANT_BC_SEQUENTIAL after the first pass (cosines, selection, float
   means fm): each selected layer in graph order is re-measured on the QDQ
   model that has every earlier correction in it, and its bias moved by the
   whole remaining mean shift of its output; `rounds` sweeps. */
static nn_status nn_qa__bc_sequential(nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qdd,
                                      const nn_quant_bc_desc *dd, nn_qa__lin *L, nn_qa__acc *A, uint32_t n,
                                      const nn_value *inputs, uint32_t ns, uint32_t rounds, double *const *fm,
                                      const uint8_t *sel, double *mabs, uint8_t *made, nn_allocator *al,
                                      nn_diag *diag) {
    uint32_t r, i, done = 0, total = 0;
    nn_status st = NN_OK;
    for (i = 0; i < n; i++) total += sel[i];
    for (r = 0; r < rounds && st == NN_OK; r++)
        for (i = 0; i < n && st == NN_OK; i++) {
            nn_graph *q = NULL;
            float *nb;
            const float *b;
            double sum_abs = 0;
            int64_t c;
            int created = 0;
            char what[64];
            if (!sel[i]) continue;
            snprintf(what, sizeof what, "bias correction (sequential) sweep %u", r + 1);
            st = nn_qa__bc_measure(g, ranges, qdd, dd, L, A, n, inputs, ns, 0, 0, (int32_t)i, what, al, &q, diag);
            if (st == NN_OK && A[i].rows_q > 0) {
                nb = (float *)nn_alloc(al, (size_t)L[i].cout * sizeof(float) + 1);
                if (!nb) {
                    st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
                } else {
                    b = L[i].bt != NN_INVALID_ID ? (const float *)g->tensors[L[i].bt].data : NULL;
                    for (c = 0; c < L[i].cout; c++) {
                        double ec = A[i].qsum[c] / A[i].rows_q - fm[i][c];
                        sum_abs += fabs(ec);
                        nb[c] = (float)((b ? b[c] : 0.0) - ec / L[i].beta);
                    }
                    mabs[i] = sum_abs / (double)L[i].cout;
                    st = nn_qa__set_bias(g, &L[i], nb, &created, diag);
                    if (created) made[i] = 1;
                    nn_free(al, nb);
                }
            }
            nn_qa__bc_free_sums(A, n, al);
            nn_graph_destroy(q);
            nn_quant__logf(dd->progress, dd->progress_user, "bias correction (sequential) sweep %u: layer %u/%u",
                           r + 1, ++done - r * total, total);
        }
    return st;
}

NN_API nn_status nn_quant_bias_correct(nn_graph *g, const nn_quant_range *ranges, const nn_quant_desc *qd,
                                       const nn_value *inputs, uint32_t sample_count, const nn_quant_bc_desc *d,
                                       nn_quant_bc_report *out, nn_diag *diag) {
    nn_allocator al;
    nn_quant_bc_desc dd;
    nn_quant_desc qdd;
    nn_qa__lin *L = NULL;
    nn_qa__acc *A = NULL;
    nn_quant_bc_report rep;
    double *cosv = NULL, *rel = NULL, *mabs = NULL;
    uint8_t *sel = NULL, *made = NULL;
    uint32_t n = 0, skipped = 0, i, ns, round, rounds;
    double minc;
    nn_status st;
    memset(&al, 0, sizeof al);
    memset(&rep, 0, sizeof rep);
    if (d) dd = *d; else memset(&dd, 0, sizeof dd);
    if (qd) qdd = *qd; else memset(&qdd, 0, sizeof qdd);
    qdd.log = NULL;
    if (out) memset(out, 0, sizeof *out);
    if (!g || !ranges || !inputs || sample_count == 0) return nn_diag_set(diag, NN_ERR_ARG, "nn_quant_bias_correct", "no graph, ranges or samples");
    ns = dd.samples ? dd.samples : 30;
    if (ns > sample_count) ns = sample_count;
    minc = dd.min_layer_cos > 0 ? dd.min_layer_cos : 0.99;
    rounds = dd.rounds ? dd.rounds : 1;
    if ((st = nn_qa__find(g, &qdd, &al, &L, &n, &skipped, diag))) return st;
    rep.layers = n;
    rep.skipped = skipped;
    A = (nn_qa__acc *)nn_alloc(&al, ((size_t)n + 1) * sizeof *A);
    cosv = (double *)nn_alloc(&al, ((size_t)n + 1) * sizeof *cosv);
    rel = (double *)nn_alloc(&al, ((size_t)n + 1) * sizeof *rel);
    mabs = (double *)nn_alloc(&al, ((size_t)n + 1) * sizeof *mabs);
    sel = (uint8_t *)nn_alloc(&al, (size_t)n + 1);
    made = (uint8_t *)nn_alloc(&al, (size_t)n + 1);
    if (!A || !cosv || !rel || !mabs || !sel || !made) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory"); goto done; }
    memset(A, 0, ((size_t)n + 1) * sizeof *A);
    memset(made, 0, (size_t)n + 1);
    memset(rel, 0, ((size_t)n + 1) * sizeof *rel);
    memset(mabs, 0, ((size_t)n + 1) * sizeof *mabs);
    for (round = 0; round < rounds && st == NN_OK; round++) {
        nn_graph *q = NULL;
        char what[64];
        int need_float = round == 0 || dd.mode == NN_QUANT_BC_TOTAL;
        snprintf(what, sizeof what, "bias correction round %u", round + 1);
        st = nn_qa__bc_measure(g, ranges, &qdd, &dd, L, A, n, inputs, ns, need_float, round == 0, -1, what, &al, &q,
                               diag);
        if (st) { nn_qa__bc_free_sums(A, n, &al); nn_graph_destroy(q); break; }
        if (round == 0)
            for (i = 0; i < n; i++) {
                cosv[i] = A[i].ff > 0 && A[i].qq > 0 ? A[i].dot / sqrt(A[i].ff * A[i].qq) : 1.0;
                sel[i] = L[i].qnode != NN_INVALID_ID && A[i].rows_q > 0 && A[i].rows_f > 0 &&
                         (cosv[i] < minc || minc >= 1) && (L[i].kind != 3 || L[i].bt != NN_INVALID_ID);
                if (L[i].kind == 3 && L[i].bt == NN_INVALID_ID) rep.skipped++;
            }
        if (dd.mode == NN_QUANT_BC_SEQUENTIAL) {
            /* keep the float means of the uncorrected model, then sweep; unless
               keep_worse, score the QDQ model before and after on the same
               samples and undo the corrections when they lower its output
               cosine (measured on PP-OCRv4 rec: the score on the calibration
               lines predicts the reading of the evaluation lines, and one
               calibration subset of seven made the model worse) */
            nn_quant__ref *refs = NULL;
            float **saved = NULL;
            nn_quant_eval_desc ed;
            double **fm = (double **)nn_alloc(&al, ((size_t)n + 1) * sizeof *fm);
            memset(&ed, 0, sizeof ed);
            ed.input_shapes = dd.input_shapes;
            ed.input_shape_count = dd.input_shape_count;
            ed.threads = dd.threads;
            if (!dd.keep_worse) {
                saved = (float **)nn_alloc(&al, ((size_t)n + 1) * sizeof *saved);
                if (!saved) st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
                else memset(saved, 0, ((size_t)n + 1) * sizeof *saved);
                for (i = 0; i < n && st == NN_OK; i++) {
                    if (!sel[i] || L[i].bt == NN_INVALID_ID) continue;
                    saved[i] = (float *)nn_alloc(&al, (size_t)L[i].cout * sizeof(float) + 1);
                    if (!saved[i]) st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
                    else memcpy(saved[i], g->tensors[L[i].bt].data, (size_t)L[i].cout * sizeof(float));
                }
                if (st == NN_OK) st = nn_quant__float_outputs(g, inputs, ns, &ed, &refs, diag);
                if (st == NN_OK) st = nn_quant__score(q, inputs, ns, refs, &ed, &rep.cos_before, diag);
            }
            if (!fm) st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
            else memset(fm, 0, ((size_t)n + 1) * sizeof *fm);
            for (i = 0; i < n && st == NN_OK; i++) {
                int64_t c;
                fm[i] = (double *)nn_alloc(&al, ((size_t)L[i].cout + 1) * sizeof(double));
                if (!fm[i]) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory"); break; }
                for (c = 0; c < L[i].cout; c++) fm[i][c] = A[i].rows_f > 0 ? A[i].fsum[c] / A[i].rows_f : 0.0;
                if (A[i].rows_f > 0)
                    rel[i] = 1.0 / (sqrt(A[i].fsq / (A[i].rows_f * (double)L[i].cout)) + 1e-30); /* times mabs below */
            }
            nn_qa__bc_free_sums(A, n, &al);
            nn_graph_destroy(q);
            if (st == NN_OK) st = nn_qa__bc_sequential(g, ranges, &qdd, &dd, L, A, n, inputs, ns, rounds, fm, sel, mabs,
                                                       made, &al, diag);
            if (st == NN_OK && refs) {
                nn_graph *q2 = NULL;
                st = nn_quant_graph(g, ranges, &qdd, &q2, NULL, diag);
                if (st == NN_OK) st = nn_quant__score(q2, inputs, ns, refs, &ed, &rep.cos_after, diag);
                nn_graph_destroy(q2);
                if (st == NN_OK && rep.cos_after < rep.cos_before) {
                    /* undo: the saved biases back, created ones zero */
                    rep.rejected = 1;
                    for (i = 0; i < n && st == NN_OK; i++) {
                        float *z;
                        int created = 0;
                        if (!sel[i] || L[i].bt == NN_INVALID_ID) continue;
                        z = saved[i];
                        if (!z) {
                            z = (float *)nn_alloc(&al, (size_t)L[i].cout * sizeof(float) + 1);
                            if (!z) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory"); break; }
                            memset(z, 0, (size_t)L[i].cout * sizeof(float));
                        }
                        st = nn_qa__set_bias(g, &L[i], z, &created, diag);
                        if (z != saved[i]) nn_free(&al, z);
                        mabs[i] = 0;
                    }
                }
            }
            if (refs) nn_quant__refs_free(refs, (size_t)ns * g->output_count, &al);
            if (saved) for (i = 0; i < n; i++) nn_free(&al, saved[i]);
            nn_free(&al, saved);
            for (i = 0; i < n; i++) rel[i] *= mabs[i];
            if (fm) for (i = 0; i < n; i++) nn_free(&al, fm[i]);
            nn_free(&al, fm);
            break;
        }
        /* corrections */
        for (i = 0; i < n && st == NN_OK; i++) {
            nn_qa__lin *Li = &L[i];
            size_t nw = (size_t)Li->cout * (size_t)Li->K;
            float *wq = NULL, *bq = NULL, *nb = NULL;
            const float *w = (const float *)g->tensors[Li->wt].data;
            const float *b = Li->bt != NN_INVALID_ID ? (const float *)g->tensors[Li->bt].data : NULL;
            double sum_abs = 0;
            int64_t c, kk;
            int created = 0;
            if (!sel[i] || A[i].rows_q <= 0) continue;
            wq = (float *)nn_alloc(&al, nw * sizeof(float) + 1);
            bq = (float *)nn_alloc(&al, (size_t)Li->cout * sizeof(float) + 1);
            nb = (float *)nn_alloc(&al, (size_t)Li->cout * sizeof(float) + 1);
            if (!wq || !bq || !nb) {
                st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory");
            } else {
                int have_wq = dd.mode == NN_QUANT_BC_LOCAL &&
                              nn_qa__dq_const(q, q->nodes[Li->qnode].inputs[1].id, wq, nw, NULL, 0);
                int have_bq = Li->kind != 3 && q->nodes[Li->qnode].input_count >= 3 &&
                              nn_qa__dq_const(q, q->nodes[Li->qnode].inputs[2].id, bq, (size_t)Li->cout, NULL, 0);
                if (dd.mode == NN_QUANT_BC_LOCAL && !have_wq) {
                    nn_free(&al, wq); nn_free(&al, bq); nn_free(&al, nb);
                    continue;
                }
                for (c = 0; c < Li->cout; c++) {
                    double ec;
                    if (dd.mode == NN_QUANT_BC_LOCAL) {
                        int64_t off = nn_qa__goff(Li, c);
                        double s = 0;
                        for (kk = 0; kk < Li->K; kk++) {
                            size_t wi = nn_qa__widx(Li, c, kk);
                            s += ((double)wq[wi] - w[wi]) * (A[i].psum[off + kk] / A[i].rows_q);
                        }
                        ec = Li->alpha * s;
                        if (have_bq && b) ec += Li->beta * ((double)bq[c] - b[c]);
                    } else {
                        ec = A[i].qsum[c] / A[i].rows_q - A[i].fsum[c] / A[i].rows_f;
                    }
                    sum_abs += fabs(ec);
                    nb[c] = (float)((b ? b[c] : 0.0) - ec / Li->beta);
                }
                mabs[i] = sum_abs / (double)Li->cout;
                if (round == 0 && A[i].rows_f > 0)
                    rel[i] = mabs[i] / (sqrt(A[i].fsq / (A[i].rows_f * (double)Li->cout)) + 1e-30);
                st = nn_qa__set_bias(g, Li, nb, &created, diag);
                if (created) made[i] = 1;
            }
            nn_free(&al, wq); nn_free(&al, bq); nn_free(&al, nb);
        }
        nn_qa__bc_free_sums(A, n, &al);
        nn_graph_destroy(q);
    }
    for (i = 0; i < n; i++) {
        if (sel[i]) rep.corrected++;
        if (made[i]) rep.biases_created++;
        if (dd.layers && i < dd.layer_cap) {
            dd.layers[i].node = L[i].node;
            dd.layers[i].cosine = cosv[i];
            dd.layers[i].mean_abs_shift = mabs[i];
            dd.layers[i].rel_shift = rel[i];
            dd.layers[i].corrected = sel[i];
            dd.layers[i].bias_created = made[i];
        }
    }
done:
    if (out) *out = rep;
    nn_free(&al, A); nn_free(&al, cosv); nn_free(&al, rel); nn_free(&al, mabs); nn_free(&al, sel); nn_free(&al, made);
    nn_free(&al, L);
    return st;
}

/* ---- softmax quantization bias ------------------------------------------- */

typedef struct nn_qa__smx {
    const nn_graph *q;
    uint32_t *watch_node;          /* (q node_count) index into out or UINT32_MAX */
    nn_quant_softmax_bias *out;
    double *rows, *zeros, *elems;
} nn_qa__smx;

static int nn_qa__smx_obs(void *user, const nn_graph *q, uint32_t ni, const nn_value *outs, uint32_t oc) {
    nn_qa__smx *s = (nn_qa__smx *)user;
    uint32_t w = s->watch_node[ni];
    const nn_value *y;
    size_t n, i, len;
    const float *v;
    (void)q;
    if (w == UINT32_MAX || oc < 1) return 0;
    y = &outs[0];
    if (y->dtype != NN_DTYPE_FLOAT || !y->data || y->shape.rank < 1) return 0;
    n = nn_value_count(y);
    len = (size_t)y->shape.dims[y->shape.rank - 1];
    if (!len) return 0;
    v = (const float *)y->data;
    for (i = 0; i < n; i++) {
        s->out[w].row_sum += v[i];
        if (v[i] == 0) s->zeros[w] += 1;
    }
    s->rows[w] += (double)(n / len);
    s->elems[w] += (double)n;
    return 0;
}

NN_API nn_status nn_quant_softmax_bias_measure(const nn_graph *g, const nn_quant_range *ranges,
                                               const nn_quant_desc *qd, const nn_value *inputs,
                                               uint32_t sample_count, nn_quant_softmax_bias *out, uint32_t cap,
                                               uint32_t *count, nn_diag *diag) {
    nn_allocator al;
    nn_quant_desc qdd;
    nn_graph *q = NULL;
    nn_qexec *x = NULL;
    nn_qexec_desc xd;
    nn_qa__smx s;
    uint32_t i, k, j, m = 0;
    nn_status st;
    memset(&al, 0, sizeof al);
    memset(&s, 0, sizeof s);
    if (qd) qdd = *qd; else memset(&qdd, 0, sizeof qdd);
    qdd.log = NULL;
    *count = 0;
    if ((st = nn_quant_graph(g, ranges, &qdd, &q, NULL, diag))) return st;
    s.q = q;
    s.out = out;
    s.watch_node = (uint32_t *)nn_alloc(&al, ((size_t)q->node_count + 1) * sizeof(uint32_t));
    s.rows = (double *)nn_alloc(&al, ((size_t)cap + 1) * sizeof(double));
    s.zeros = (double *)nn_alloc(&al, ((size_t)cap + 1) * sizeof(double));
    s.elems = (double *)nn_alloc(&al, ((size_t)cap + 1) * sizeof(double));
    if (!s.watch_node || !s.rows || !s.zeros || !s.elems) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant", "out of memory"); goto done; }
    for (i = 0; i < q->node_count; i++) s.watch_node[i] = UINT32_MAX;
    memset(s.rows, 0, ((size_t)cap + 1) * sizeof(double));
    memset(s.zeros, 0, ((size_t)cap + 1) * sizeof(double));
    memset(s.elems, 0, ((size_t)cap + 1) * sizeof(double));
    for (i = 0; i < g->node_count; i++) {
        const nn_node *n = &g->nodes[i];
        nn_tensor_id t;
        uint32_t obs_node = NN_INVALID_ID;
        if (strcmp(n->op_type, "Softmax") || n->output_count < 1 || n->outputs[0].id == NN_INVALID_ID) continue;
        (*count)++;
        if (m >= cap) continue;
        memset(&out[m], 0, sizeof out[m]);
        out[m].node = i;
        out[m].row_sum = 0;
        /* the quantized output: the DequantizeLinear reading "<name>_quantized" */
        t = nn_graph_find_tensor(q, g->tensors[n->outputs[0].id].name);
        if (t.id != NN_INVALID_ID)
            for (j = 0; j < q->node_count; j++) {
                const nn_node *qn = &q->nodes[j];
                if (!strcmp(qn->op_type, "QuantizeLinear") && qn->input_count >= 2 && qn->inputs[0].id == t.id) {
                    uint32_t qt = qn->outputs[0].id, c;
                    out[m].quantized = 1;
                    if (q->tensors[qn->inputs[1].id].data) out[m].scale = ((const float *)q->tensors[qn->inputs[1].id].data)[0];
                    for (c = 0; c < q->node_count; c++)
                        if (!strcmp(q->nodes[c].op_type, "DequantizeLinear") && q->nodes[c].inputs[0].id == qt) obs_node = c;
                }
            }
        if (obs_node == NN_INVALID_ID && t.id != NN_INVALID_ID) obs_node = q->tensors[t.id].producer.id;
        if (obs_node != NN_INVALID_ID) s.watch_node[obs_node] = m;
        m++;
    }
    memset(&xd, 0, sizeof xd);
    xd.float_only = 1;
    xd.observer = nn_qa__smx_obs;
    xd.observer_user = &s;
    if ((st = nn_qexec_create(q, &xd, &x, diag))) goto done;
    for (k = 0; k < sample_count && st == NN_OK; k++) {
        for (j = 0; j < q->input_count && st == NN_OK; j++)
            st = nn_qexec_set_input(x, j, &inputs[(size_t)k * q->input_count + j], diag);
        if (st == NN_OK) st = nn_qexec_run(x, diag);
    }
    for (i = 0; i < m; i++) {
        out[i].row_sum = s.rows[i] > 0 ? out[i].row_sum / s.rows[i] : 1.0;
        out[i].zero_fraction = s.elems[i] > 0 ? s.zeros[i] / s.elems[i] : 0;
    }
done:
    if (x) nn_qexec_destroy(x);
    nn_free(&al, s.watch_node); nn_free(&al, s.rows); nn_free(&al, s.zeros); nn_free(&al, s.elems);
    nn_graph_destroy(q);
    return st;
}

/* ==== quant_import: implementation ==== */

/* One matched chain: node indices and the dequantized weights. */
typedef struct nn_quant_import__chain {
    uint32_t dql, integer, cast, mul, scale_mul;
    int matmul;
} nn_quant_import__chain;

static int nn_quant_import__is(const nn_node *n, const char *op) {
    return !strcmp(n->op_type, op) && (!n->domain[0] || !strcmp(n->domain, "ai.onnx"));
}

static const nn_tensor *nn_quant_import__const(const nn_graph *g, nn_tensor_id t) {
    if (t.id == NN_INVALID_ID) return NULL;
    return (g->tensors[t.id].flags & NN_TENSOR_CONST) && g->tensors[t.id].data ? &g->tensors[t.id] : NULL;
}

/* The only node reading tensor t (none, several, or a graph output: -1). */
static int64_t nn_quant_import__only_reader(const nn_graph *g, const uint32_t *readers, const uint32_t *reader_of,
                                            nn_tensor_id t) {
    if (t.id == NN_INVALID_ID || readers[t.id] != 1 || (g->tensors[t.id].flags & NN_TENSOR_OUTPUT)) return -1;
    return reader_of[t.id];
}

/* Element e of an integer constant (uint8/int8/int32) as int32. */
static int32_t nn_quant_import__int(const nn_tensor *t, size_t e) {
    switch (t->dtype) {
    case NN_DTYPE_UINT8: return ((const uint8_t *)t->data)[e];
    case NN_DTYPE_INT8: return ((const int8_t *)t->data)[e];
    case NN_DTYPE_INT32: return ((const int32_t *)t->data)[e];
    default: return 0;
    }
}

/* Matches the chain through integer node k; fills *c. */
static int nn_quant_import__match(const nn_graph *g, const uint32_t *readers, const uint32_t *reader_of, uint32_t k,
                                  nn_quant_import__chain *c) {
    const nn_node *n = &g->nodes[k], *q, *cast, *mul, *sm;
    const nn_tensor *w, *wz, *ws;
    int64_t r;
    uint32_t side;
    size_t wcount, i;
    int matmul = nn_quant_import__is(n, "MatMulInteger");
    if (!matmul && !nn_quant_import__is(n, "ConvInteger")) return 0;
    if (n->input_count < 2 || n->inputs[0].id == NN_INVALID_ID || g->tensors[n->inputs[0].id].producer.id == NN_INVALID_ID)
        return 0;
    q = &g->nodes[g->tensors[n->inputs[0].id].producer.id];
    if (!nn_quant_import__is(q, "DynamicQuantizeLinear") || q->output_count < 3 || q->outputs[0].id != n->inputs[0].id) return 0;
    if (n->input_count > 2 && n->inputs[2].id != NN_INVALID_ID && n->inputs[2].id != q->outputs[2].id) return 0;
    w = nn_quant_import__const(g, n->inputs[1]);
    wz = n->input_count > 3 ? nn_quant_import__const(g, n->inputs[3]) : NULL;
    if (!w || (w->dtype != NN_DTYPE_UINT8 && w->dtype != NN_DTYPE_INT8) || !nn_shape_is_static(&w->shape)) return 0;
    if (n->input_count > 3 && n->inputs[3].id != NN_INVALID_ID && (!wz || wz->dtype != w->dtype)) return 0;
    /* acc -> Cast(float) -> Mul(c, S) with S = Mul(x_scale, W_scale) */
    if ((r = nn_quant_import__only_reader(g, readers, reader_of, n->outputs[0])) < 0) return 0;
    cast = &g->nodes[r];
    if (!nn_quant_import__is(cast, "Cast") || nn_node_attr_int(cast, "to", 0) != NN_DTYPE_FLOAT) return 0;
    c->cast = (uint32_t)r;
    if ((r = nn_quant_import__only_reader(g, readers, reader_of, cast->outputs[0])) < 0) return 0;
    mul = &g->nodes[r];
    if (!nn_quant_import__is(mul, "Mul") || mul->input_count != 2) return 0;
    c->mul = (uint32_t)r;
    side = mul->inputs[0].id == cast->outputs[0].id ? 1 : 0;
    if (mul->inputs[side].id == NN_INVALID_ID || g->tensors[mul->inputs[side].id].producer.id == NN_INVALID_ID) return 0;
    c->scale_mul = g->tensors[mul->inputs[side].id].producer.id;
    sm = &g->nodes[c->scale_mul];
    if (!nn_quant_import__is(sm, "Mul") || sm->input_count != 2 || readers[mul->inputs[side].id] != 1) return 0;
    if (sm->inputs[0].id == q->outputs[1].id) ws = nn_quant_import__const(g, sm->inputs[1]);
    else if (sm->inputs[1].id == q->outputs[1].id) ws = nn_quant_import__const(g, sm->inputs[0]);
    else return 0;
    if (!ws || ws->dtype != NN_DTYPE_FLOAT) return 0;
    /* scales and zero points: one, or one per output channel (Conv: M =
       dim 0 of W; MatMul: N = last dim of W) */
    wcount = nn_shape_count(&w->shape, NULL);
    {
        size_t chans = (size_t)(matmul ? w->shape.dims[w->shape.rank - 1] : w->shape.dims[0]);
        size_t ns = ws->data_bytes / 4, nz = wz ? nn_shape_count(&wz->shape, NULL) : 1;
        if (w->shape.rank < 2 || (ns != 1 && ns != chans) || (nz != 1 && nz != chans) || wcount == 0) return 0;
        for (i = 0; i < ns; i++)
            if (!isfinite(((const float *)ws->data)[i])) return 0;
    }
    c->dql = g->tensors[n->inputs[0].id].producer.id;
    c->integer = k;
    c->matmul = matmul;
    return 1;
}

/* W = (W_q - W_zp) * W_scale as float32 (channel of element e: Conv dim 0,
   MatMul last dim). */
static float *nn_quant_import__dequant(const nn_graph *g, const nn_quant_import__chain *c, const nn_allocator *al) {
    const nn_node *n = &g->nodes[c->integer], *sm = &g->nodes[c->scale_mul];
    const nn_tensor *w = &g->tensors[n->inputs[1].id];
    const nn_tensor *wz = n->input_count > 3 ? nn_quant_import__const(g, n->inputs[3]) : NULL;
    const nn_tensor *ws = nn_quant_import__const(g, sm->inputs[0]) ? nn_quant_import__const(g, sm->inputs[0])
                                                                    : nn_quant_import__const(g, sm->inputs[1]);
    size_t count = nn_shape_count(&w->shape, NULL), e;
    size_t chans = (size_t)(c->matmul ? w->shape.dims[w->shape.rank - 1] : w->shape.dims[0]);
    size_t per = count / chans, ns = ws->data_bytes / 4, nz = wz ? nn_shape_count(&wz->shape, NULL) : 1;
    float *out = (float *)nn_alloc(al, count * sizeof(float));
    if (!out) return NULL;
    for (e = 0; e < count; e++) {
        size_t ch = c->matmul ? e % chans : e / per;
        int32_t z = wz ? nn_quant_import__int(wz, nz == 1 ? 0 : ch) : 0;
        out[e] = (float)(nn_quant_import__int(w, e) - z) * ((const float *)ws->data)[ns == 1 ? 0 : ch];
    }
    return out;
}

NN_API int nn_quant_graph_is_dynamic(const nn_graph *g) {
    uint32_t i;
    for (i = 0; i < g->node_count; i++)
        if (nn_quant_import__is(&g->nodes[i], "DynamicQuantizeLinear")) return 1;
    return 0;
}

/* Copies tensor i of g into o under the same id (o is built tensor by
   tensor in g's order, so ids agree). */
static nn_status nn_quant_import__copy_tensor(const nn_graph *g, nn_graph *o, uint32_t i, nn_diag *diag) {
    const nn_tensor *t = &g->tensors[i];
    nn_tensor_id id;
    nn_status st = nn_graph_add_tensor(o, t->name, t->dtype, &t->shape, &id, diag);
    if (st) return st;
    if (t->flags & NN_TENSOR_CONST) { /* lent: g outlives o */
        if (t->data) return nn_graph_set_data(o, id, t->data, t->data_bytes, 0, diag);
        o->tensors[id.id].flags |= NN_TENSOR_CONST;
    }
    return NN_OK;
}

NN_API nn_status nn_quant_import_dynamic(const nn_graph *g, const nn_quant_import_desc *d, nn_graph **out,
                                         nn_quant_import_stats *stats, nn_diag *diag) {
    nn_allocator al;
    nn_quant_import_stats s;
    nn_graph *o = NULL;
    uint32_t *readers = NULL, *reader_of = NULL, *role = NULL, i, j;
    nn_quant_import__chain *chains = NULL;
    uint32_t nchains = 0;
    nn_graph_desc gd;
    nn_status st = NN_OK;
    enum { KEEP = 0, DROP = 1, REPLACE = 2 };
    NN_ASSERT(g && out);
    memset(&al, 0, sizeof al);
    if (d) al = d->alloc;
    memset(&s, 0, sizeof s);
    for (i = 0; i < g->node_count; i++)
        for (j = 0; j < g->nodes[i].attr_count; j++)
            if (g->nodes[i].attrs[j].type == NN_ATTR_GRAPH || g->nodes[i].attrs[j].type == NN_ATTR_GRAPHS)
                return nn_diag_set(diag, NN_ERR_UNSUPPORTED, g->nodes[i].name, "subgraphs are not imported");
    readers = (uint32_t *)nn_alloc(&al, (g->tensor_count + 1) * sizeof(uint32_t));
    reader_of = (uint32_t *)nn_alloc(&al, (g->tensor_count + 1) * sizeof(uint32_t));
    role = (uint32_t *)nn_alloc(&al, (g->node_count + 1) * sizeof(uint32_t));
    chains = (nn_quant_import__chain *)nn_alloc(&al, (g->node_count + 1) * sizeof *chains);
    if (!readers || !reader_of || !role || !chains) { st = nn_diag_set(diag, NN_ERR_NOMEM, "nn_quant_import_dynamic", "out of memory"); goto done; }
    memset(readers, 0, (g->tensor_count + 1) * sizeof(uint32_t));
    memset(role, 0, (g->node_count + 1) * sizeof(uint32_t));
    for (i = 0; i < g->node_count; i++)
        for (j = 0; j < g->nodes[i].input_count; j++) {
            uint32_t t = g->nodes[i].inputs[j].id;
            if (t == NN_INVALID_ID) continue;
            readers[t]++;
            reader_of[t] = i;
        }
    /* match every chain; mark its nodes */
    for (i = 0; i < g->node_count; i++) {
        nn_quant_import__chain c;
        if (!nn_quant_import__match(g, readers, reader_of, i, &c)) {
            if (nn_quant_import__is(&g->nodes[i], "ConvInteger") || nn_quant_import__is(&g->nodes[i], "MatMulInteger")) s.integer_left++;
            continue;
        }
        chains[nchains++] = c;
        role[c.integer] = REPLACE;
        role[c.cast] = role[c.mul] = role[c.scale_mul] = DROP;
        if (c.matmul) s.matmuls++;
        else s.convs++;
    }
    /* a DynamicQuantizeLinear goes when every reader of its outputs went */
    for (i = 0; i < g->node_count; i++) {
        const nn_node *q = &g->nodes[i];
        uint32_t left = 0, k;
        if (!nn_quant_import__is(q, "DynamicQuantizeLinear")) continue;
        for (k = 0; k < g->node_count; k++) {
            if (role[k] != KEEP) continue;
            for (j = 0; j < g->nodes[k].input_count; j++) {
                uint32_t t = g->nodes[k].inputs[j].id, m;
                for (m = 0; m < q->output_count; m++)
                    if (t != NN_INVALID_ID && t == q->outputs[m].id) left++;
            }
        }
        for (j = 0; j < q->output_count; j++)
            if (q->outputs[j].id != NN_INVALID_ID && (g->tensors[q->outputs[j].id].flags & NN_TENSOR_OUTPUT)) left++;
        if (left) s.dynamic_left++;
        else role[i] = DROP;
    }
    /* the new graph: every tensor under the same id, the kept nodes, the
       rewritten ones */
    memset(&gd, 0, sizeof gd);
    gd.alloc = al;
    gd.name = g->name;
    if ((st = nn_graph_create(&gd, &o, diag)) != NN_OK) goto done;
    for (i = 0; i < g->opset_count && !st; i++) st = nn_graph_set_opset(o, g->opsets[i].domain, g->opsets[i].version, diag);
    for (i = 0; i < g->tensor_count && !st; i++) st = nn_quant_import__copy_tensor(g, o, i, diag);
    for (i = 0; i < g->input_count && !st; i++) st = nn_graph_add_input(o, g->inputs[i], diag);
    for (i = 0; i < g->output_count && !st; i++) st = nn_graph_add_output(o, g->outputs[i], diag);
    o->ir_version = g->ir_version;
    for (i = 0; i < g->node_count && !st; i++) {
        const nn_node *n = &g->nodes[i];
        nn_node_id nid;
        if (role[i] == DROP) continue;
        if (role[i] == KEEP) {
            st = nn_graph_add_node(o, n->op_type, n->domain, n->name, n->inputs, n->input_count, n->outputs,
                                   n->output_count, &nid, diag);
            for (j = 0; j < n->attr_count && !st; j++) st = nn_graph_add_attr(o, nid, &n->attrs[j], 0, diag);
            continue;
        }
        {
            const nn_quant_import__chain *c = NULL;
            const nn_tensor *w = &g->tensors[n->inputs[1].id];
            nn_tensor_id in[2], y;
            char name[512];
            float *wf;
            uint32_t k;
            for (k = 0; k < nchains; k++)
                if (chains[k].integer == i) c = &chains[k];
            NN_ASSERT(c);
            in[0] = g->nodes[c->dql].inputs[0];
            y = g->nodes[c->mul].outputs[0];
            snprintf(name, sizeof name, "%s_dequantized", w->name ? w->name : "W");
            if (!(wf = nn_quant_import__dequant(g, c, &al))) { st = nn_diag_set(diag, NN_ERR_NOMEM, n->name, "out of memory"); break; }
            st = nn_graph_add_tensor(o, name, NN_DTYPE_FLOAT, &w->shape, &in[1], diag);
            if (!st) st = nn_graph_set_data(o, in[1], wf, nn_shape_count(&w->shape, NULL) * sizeof(float), 1, diag);
            nn_free(&al, wf);
            if (!st) st = nn_graph_add_node(o, c->matmul ? "MatMul" : "Conv", "", n->name, in, 2, &y, 1, &nid, diag);
            for (j = 0; j < n->attr_count && !st; j++) st = nn_graph_add_attr(o, nid, &n->attrs[j], 0, diag);
        }
    }
    if (!st) st = nn_graph_run_pass(o, "dce", NULL, NULL, diag); /* the integer weights, zero points, scales */
done:
    nn_free(&al, readers);
    nn_free(&al, reader_of);
    nn_free(&al, role);
    nn_free(&al, chains);
    if (st) { nn_graph_destroy(o); return st; }
    if (stats) *stats = s;
    *out = o;
    return NN_OK;
}

#endif /* NN_QUANT_IMPLEMENTATION_DONE */
#endif /* NN_IMPLEMENTATION || NN_QUANT_IMPLEMENTATION */

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
