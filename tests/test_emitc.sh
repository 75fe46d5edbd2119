#!/usr/bin/env bash
# C export (nnport compile --emit-c, nn_target.h) on the PP-OCR
# direction classifier: quantize (MinMax, 8 calibration samples), compile
# for the mcu target to a .nnb and to C; the C builds with
# -std=c99 -Wall -Wextra -Werror -pedantic and nothing but libc/libm; the
# harness tests/emitc_main.c running model_run() gives outputs byte-equal
# to `nnport run model.nnb` (the simulator) on several real inputs (the
# golden side: the simulator, itself bit-exact with the fake-quant executor
# in tests/test_target.c).  Refusals: a float island without a C form
# (Sin) is NN_ERR_UNSUPPORTED naming the node and op, and a name that is not
# a C identifier is refused; neither leaves a file behind.
# The test network's programs from tests/fuzz/corpus_nnb (written by
# $B/test_target_emitc with EMITC_OUT set) and two small QDQ graphs holding
# every float island the generator writes likewise, on random inputs; then
# PP-OCRv4 rec (1x3x48x160) and det (1x3x96x160), quantized here, on crops
# of real inputs.  Skips (with a SKIP line) when the model cache is missing.
# Ends with "emitc: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
NN=$B/nnport
CC=${CC:-cc}
CACHE=${NNPORT_CACHE:-$HOME/.cache/nnport}
MODEL=$CACHE/npm/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx
CALIB=$CACHE/data/ocr_cls/calib
EVAL=$CACHE/data/ocr_cls/eval
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
has() { grep -qF -- "$1" "$2"; } # has NEEDLE FILE

# export_vs_sim V IN: builds the export of tests/fuzz/corpus_nnb/V.nnb
# (written to $tmp/tn/V by test_target_emitc), runs it and `nnport run` on
# $tmp/tn/IN0.npy .. IN4.npy, and compares output 0 (5 floats) byte for byte
export_vs_sim() {
    local v=$1 in=$2 i
    ok "$CC" -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I "$tmp/tn/$v" tests/emitc_main.c "$tmp/tn/$v/model.c" -lm -o "$tmp/tn/run_$v"
    for i in 0 1 2 3 4; do
        mkdir -p "$tmp/tn/c_${v}_$i" "$tmp/tn/s_${v}_$i"
        "$tmp/tn/run_$v" "$tmp/tn/c_${v}_$i" 1 "$tmp/tn/$in$i.npy" 2>>"$tmp/run.log"
        "$NN" run tests/fuzz/corpus_nnb/$v.nnb --input x="$tmp/tn/$in$i.npy" --output-dir "$tmp/tn/s_${v}_$i" >>"$tmp/run.log" 2>&1
        ok test -s "$tmp/tn/c_${v}_$i/output_0.raw"
        ok cmp -s <(tail -c 20 "$tmp/tn/s_${v}_$i/output_0.npy") "$tmp/tn/c_${v}_$i/output_0.raw"
    done
}

# the test network's programs (tests/fuzz/corpus_nnb, s8 and u8 schemes,
# ending in a float Sigmoid), exported by test_target_emitc, on random
# inputs of growing scale
if [ -x "$B/test_target_emitc" ]; then
    mkdir -p "$tmp/tn/small" "$tmp/tn/small_u8" "$tmp/tn/nv12" "$tmp/tn/nv12_s16"
    EMITC_OUT="$tmp/tn" "$B/test_target_emitc" >/dev/null 2>&1
    /usr/bin/python3 -c "
import numpy as np
r = np.random.default_rng(1)
for i, sc in enumerate([0.5, 1, 3, 10, 100]):
    np.save('$tmp/tn/in%d.npy' % i, (r.standard_normal((1, 3, 8, 8)) * sc).astype(np.float32))"
    for v in small small_u8; do export_vs_sim $v in; done
    # nv12.nnb: the NV12 conversion (yuv instruction, nn_yuv in the C) then
    # the u8 network, on uint8 frames (1, 12, 8): random, all 0, all 255
    /usr/bin/python3 -c "
import numpy as np
r = np.random.default_rng(2)
for i in range(3):
    np.save('$tmp/tn/f%d.npy' % i, r.integers(0, 256, (1, 12, 8), dtype=np.uint8))
np.save('$tmp/tn/f3.npy', np.zeros((1, 12, 8), np.uint8))
np.save('$tmp/tn/f4.npy', np.full((1, 12, 8), 255, np.uint8))"
    # nv12_s16.nnb: the same frames into the W8A16 network (int16 planes,
    # conv16/gemm16 instructions with 64-bit accumulators)
    for v in nv12 nv12_s16; do export_vs_sim $v f; done
else
    echo "FAIL: $B/test_target_emitc not built"
    fail=$((fail + 1))
fi

# every float island the generator writes, in one QDQ graph: per-tensor
# and per-axis Q/DQ, float Relu, MaxPool (float, padded, and on int8),
# GlobalAveragePool, Transpose, Concat (its inputs planned as slices of
# its output: read from scratch copies), Flatten/Identity views, Gemm with
# alpha, beta, a C vector and B not transposed, Mul by a constant; five
# outputs compared on three inputs
/usr/bin/python3 - "$tmp/isl" <<'EOF'
import os
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto as T
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
r = np.random.default_rng(0)
inits = [numpy_helper.from_array(np.array(0.05, np.float32), "s"), numpy_helper.from_array(np.array(3, np.int8), "z"),
         numpy_helper.from_array((np.arange(4, dtype=np.float32) + 1) * 0.02, "sc"),
         numpy_helper.from_array(np.zeros(4, np.int8), "zc"),
         numpy_helper.from_array(r.standard_normal((288, 5)).astype(np.float32), "B"),
         numpy_helper.from_array(r.standard_normal((5,)).astype(np.float32), "C"),
         numpy_helper.from_array(np.array(1.5, np.float32), "k")]
mk = helper.make_node
n = [mk("QuantizeLinear", ["x", "s", "z"], ["q"], name="q0"),
     mk("DequantizeLinear", ["q", "s", "z"], ["a"], name="dq0"),
     mk("Relu", ["a"], ["r"], name="relu_f"),
     mk("MaxPool", ["a"], ["m"], name="maxpool_f", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
     mk("GlobalAveragePool", ["r"], ["g"], name="gap_f"),
     mk("Transpose", ["r"], ["t"], name="transpose_f", perm=[0, 1, 3, 2]),
     mk("Concat", ["r", "t"], ["c"], name="concat_f", axis=1),
     mk("Flatten", ["c"], ["fl"], name="flatten_f"),
     mk("Identity", ["fl"], ["fs"], name="id_f"),
     mk("Gemm", ["fs", "B", "C"], ["y1"], name="gemm_f", alpha=0.5, beta=2.0),
     mk("MaxPool", ["q"], ["mq"], name="maxpool_s8", kernel_shape=[2, 2], strides=[2, 2]),
     mk("DequantizeLinear", ["mq", "s", "z"], ["y2"], name="dq_mq"),
     mk("QuantizeLinear", ["x", "sc", "zc"], ["qa"], name="q_axis", axis=1),
     mk("DequantizeLinear", ["qa", "sc", "zc"], ["da"], name="dq_axis", axis=1),
     mk("Mul", ["da", "k"], ["y3"], name="mul_f")]
outs = [helper.make_tensor_value_info(o, T.FLOAT, None) for o in ["m", "g", "y1", "y2", "y3"]]
vi = [helper.make_tensor_value_info(q, T.INT8, [1, 4, 6, 6]) for q in ["q", "qa"]]
g = helper.make_graph(n, "islands", [helper.make_tensor_value_info("x", T.FLOAT, [1, 4, 6, 6])], outs, inits, value_info=vi)
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(d, "isl.onnx"))
for i, sc in enumerate([0.3, 1, 4]):
    np.save(os.path.join(d, "in%d.npy" % i), (r.standard_normal((1, 4, 6, 6)) * sc).astype(np.float32))
EOF
# emit_and_compare NAME OUTPUTS: $tmp/NAME/NAME.onnx (one input x) compiled
# for mcu with its C export; the C built and run on $tmp/NAME/in{0,1,2}.npy;
# each output's bytes equal to `nnport run`'s on the .nnb
emit_and_compare() {
    local d=$tmp/$1 i o n
    ok "$NN" compile "$d/$1.onnx" --target mcu -o "$d/$1.nnb" --emit-c "$d/model" >"$d/compile.log" 2>&1
    ok "$CC" -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I "$d" tests/emitc_main.c "$d/model.c" -lm -o "$d/run"
    for i in 0 1 2; do
        mkdir -p "$d/c$i" "$d/s$i"
        "$d/run" "$d/c$i" 1 "$d/in$i.npy" 2>>"$tmp/run.log"
        "$NN" run "$d/$1.nnb" --input x="$d/in$i.npy" --output-dir "$d/s$i" >>"$tmp/run.log" 2>&1
        for o in $(seq 0 $(($2 - 1))); do
            n=$(stat -c %s "$d/c$i/output_$o.raw" 2>/dev/null || echo 0)
            ok test "$n" -gt 0
            ok cmp -s <(tail -c "$n" "$d/s$i/output_$o.npy") "$d/c$i/output_$o.raw"
        done
    done
}
emit_and_compare isl 5

# int16 QuantizeLinear/DequantizeLinear (opset 21, what --scheme s16
# writes), per tensor with a zero point and per axis, on inputs that reach
# both ends of the int16 range (the clamp) and a tie of x / s
/usr/bin/python3 - "$tmp/q16" <<'EOF'
import os
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto as T
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
C = lambda a, n: numpy_helper.from_array(np.asarray(a), n)
inits = [C(np.float32(0.001), "s"), C(np.int16(-7), "z"), C((np.arange(4, dtype=np.float32) + 1) * 0.0005, "sc"),
         C(np.zeros(4, np.int16), "zc")]
mk = helper.make_node
n = [mk("QuantizeLinear", ["x", "s", "z"], ["q"], name="q16"), mk("DequantizeLinear", ["q", "s", "z"], ["y1"], name="dq16"),
     mk("QuantizeLinear", ["x", "sc", "zc"], ["qa"], name="q16_axis", axis=1),
     mk("DequantizeLinear", ["qa", "sc", "zc"], ["y2"], name="dq16_axis", axis=1)]
vi = [helper.make_tensor_value_info(q, T.INT16, [1, 4, 6, 6]) for q in ["q", "qa"]]
outs = [helper.make_tensor_value_info(o, T.FLOAT, [1, 4, 6, 6]) for o in ["y1", "y2"]]
g = helper.make_graph(n, "q16", [helper.make_tensor_value_info("x", T.FLOAT, [1, 4, 6, 6])], outs, inits, value_info=vi)
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]), os.path.join(d, "q16.onnx"))
r = np.random.default_rng(3)
for i, sc in enumerate([1, 10, 100]):
    x = (r.standard_normal((1, 4, 6, 6)) * sc).astype(np.float32)
    x.flat[0] = np.float32(0.0025)  # x / s = 2.5 in float: rounds to even
    np.save(os.path.join(d, "in%d.npy" % i), x)
EOF
emit_and_compare q16 2

# the float islands of the transformer and OCR models, in a second QDQ
# graph: LayerNorm written out (ReduceMean, Sub, Pow 2, Add, Sqrt, Div),
# ReduceSum over a middle axis, ReduceMean over two axes, Slice with a
# negative step, Split, Gather with constant and with run-time (int64
# input) indices, float MatMul (30 folded rows, not a multiple of the
# SGEMM tile, 300 deep: two K blocks; batched activation x activation;
# one row: the matrix-vector path), ConvTranspose (stride, dilation,
# asymmetric pads, bias; grouped 1x1 without bias), BatchNormalization,
# Resize nearest (asymmetric floor by scales, half_pixel by sizes),
# LayerNormalization (opset 17: with bias over the last axis, without
# over the last two, 3000 values a row); 18 outputs on 3 inputs; then an
# index out of range: the simulator refuses the run and model_run
# returns -1
/usr/bin/python3 - "$tmp/isl2" <<'EOF'
import os
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto as T
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
r = np.random.default_rng(0)
C = lambda a, n: numpy_helper.from_array(np.asarray(a), n)
inits = [C(np.float32(0.05), "s"), C(np.int8(3), "z"), C(np.float32(0.02), "s2"), C(np.int8(0), "z2"),
         C(np.float32(2.0), "two"), C(np.float32(1e-5), "eps"),
         C(np.array([1], np.int64), "ax1"),
         C(np.array([1, 0, -1], np.int64), "sl_st"), C(np.array([4, 100, -7], np.int64), "sl_en"),
         C(np.array([1, 2, 3], np.int64), "sl_ax"), C(np.array([1, 2, -2], np.int64), "sl_sp"),
         C(np.array([1, 3], np.int64), "sp"), C(np.array([[2, 0], [3, -1]], np.int64), "gi"),
         C((r.standard_normal((300, 40)) * 0.1).astype(np.float32), "B"),
         C((r.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32), "Wt"), C(r.standard_normal(3).astype(np.float32), "bt"),
         C((r.standard_normal((4, 1, 1, 1))).astype(np.float32), "Wg"),
         C((r.random(4) + 0.5).astype(np.float32), "bn_s"), C(r.standard_normal(4).astype(np.float32), "bn_b"),
         C(r.standard_normal(4).astype(np.float32), "bn_m"), C((r.random(4) + 0.1).astype(np.float32), "bn_v"),
         C(np.zeros(0, np.float32), "roi"), C(np.array([1, 1, 2, 1.5], np.float32), "rs_sc"),
         C(np.array([1, 4, 4, 9], np.int64), "rs_sz"),
         C((r.random(6) + 0.5).astype(np.float32), "ln_s"), C(r.standard_normal(6).astype(np.float32), "ln_b"),
         C((r.random((10, 300)) + 0.5).astype(np.float32), "ln_s2")]
mk = helper.make_node
n = [mk("QuantizeLinear", ["x", "s", "z"], ["q"], name="q0"), mk("DequantizeLinear", ["q", "s", "z"], ["a"], name="dq0"),
     mk("QuantizeLinear", ["x2", "s2", "z2"], ["q2"], name="q2"), mk("DequantizeLinear", ["q2", "s2", "z2"], ["a2"], name="dq2"),
     # LayerNorm written out over the last axis
     mk("ReduceMean", ["a"], ["m"], name="ln_mean", axes=[-1]), mk("Sub", ["a", "m"], ["dv"], name="ln_sub"),
     mk("Pow", ["dv", "two"], ["p"], name="ln_pow"), mk("ReduceMean", ["p"], ["v"], name="ln_var", axes=[-1]),
     mk("Add", ["v", "eps"], ["ve"], name="ln_add"), mk("Sqrt", ["ve"], ["sd"], name="ln_sqrt"),
     mk("Div", ["dv", "sd"], ["y_ln"], name="ln_div"),
     # ReduceSum over a middle axis (column sums), ReduceMean over the last two
     mk("ReduceSum", ["a", "ax1"], ["y_rs"], name="rsum_mid", keepdims=0),
     mk("ReduceMean", ["a"], ["y_rm"], name="rmean_hw", axes=[2, 3]),
     mk("Slice", ["a", "sl_st", "sl_en", "sl_ax", "sl_sp"], ["y_sl"], name="slice_f"),
     mk("Split", ["a", "sp"], ["y_sp0", "y_sp1"], name="split_f", axis=1),
     mk("Gather", ["a", "gi"], ["y_g"], name="gather_c", axis=1),
     mk("Gather", ["a", "idx"], ["y_g2"], name="gather_rt", axis=3),
     # float MatMul: folded rows (30 = 3x10, not a multiple of the tile) x (300 deep: two K blocks) x 40;
     # batched activation x activation; one row (the matrix-vector path)
     mk("MatMul", ["a2", "B"], ["y_mm"], name="mm_const"),
     mk("Transpose", ["a2"], ["a2t"], name="tr", perm=[0, 1, 3, 2]),
     mk("MatMul", ["a2", "a2t"], ["y_mm2"], name="mm_batched"),
     mk("ReduceMean", ["a2"], ["a2r"], name="rmean_rows", axes=[1, 2], keepdims=0),
     mk("MatMul", ["a2r", "B"], ["y_mv"], name="mm_row"),
     mk("ConvTranspose", ["a", "Wt", "bt"], ["y_ct"], name="convt", strides=[2, 2], pads=[1, 0, 1, 1], dilations=[1, 2]),
     mk("ConvTranspose", ["a", "Wg"], ["y_ct2"], name="convt_dw", group=4, strides=[2, 1]),
     mk("BatchNormalization", ["a", "bn_s", "bn_b", "bn_m", "bn_v"], ["y_bn"], name="bn", epsilon=1e-3),
     mk("Resize", ["a", "roi", "rs_sc"], ["y_rz"], name="resize_up", mode="nearest",
        coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
     mk("Resize", ["a", "roi", "", "rs_sz"], ["y_rz2"], name="resize_hp", mode="nearest"),
     mk("LayerNormalization", ["a", "ln_s", "ln_b"], ["y_lnf"], name="lnorm", epsilon=1e-3),
     mk("LayerNormalization", ["a2", "ln_s2"], ["y_lnf2"], name="lnorm_nobias", axis=-2)]
outs = ["y_ln", "y_rs", "y_rm", "y_sl", "y_sp0", "y_sp1", "y_g", "y_g2", "y_mm", "y_mm2", "y_mv", "y_ct", "y_ct2", "y_bn",
        "y_rz", "y_rz2", "y_lnf", "y_lnf2"]
g = helper.make_graph(n, "islands2", [helper.make_tensor_value_info("x", T.FLOAT, [1, 4, 6, 6]),
                                      helper.make_tensor_value_info("x2", T.FLOAT, [1, 3, 10, 300]),
                                      helper.make_tensor_value_info("idx", T.INT64, [3])],
                      [helper.make_tensor_value_info(o, T.FLOAT, None) for o in outs], inits,
                      value_info=[helper.make_tensor_value_info("q", T.INT8, [1, 4, 6, 6]),
                                  helper.make_tensor_value_info("q2", T.INT8, [1, 3, 10, 300])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), os.path.join(d, "isl2.onnx"))
for i, sc in enumerate([0.3, 1, 4]):
    np.save(os.path.join(d, "x%d.npy" % i), (r.standard_normal((1, 4, 6, 6)) * sc).astype(np.float32))
    np.save(os.path.join(d, "x2_%d.npy" % i), (r.standard_normal((1, 3, 10, 300)) * sc).astype(np.float32))
    np.save(os.path.join(d, "idx%d.npy" % i), np.array([[5, 0, -1], [2, -6, 3], [0, 0, 4]][i], np.int64))
EOF
ok "$NN" compile "$tmp/isl2/isl2.onnx" --target mcu -o "$tmp/isl2/isl2.nnb" --emit-c "$tmp/isl2/model" >"$tmp/isl2/compile.log" 2>&1
ok "$CC" -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I "$tmp/isl2" tests/emitc_main.c "$tmp/isl2/model.c" -lm -o "$tmp/isl2/run"
for i in 0 1 2; do
    mkdir -p "$tmp/isl2/c$i" "$tmp/isl2/s$i"
    "$tmp/isl2/run" "$tmp/isl2/c$i" 1 "$tmp/isl2/x$i.npy" "$tmp/isl2/x2_$i.npy" "$tmp/isl2/idx$i.npy" 2>>"$tmp/run.log"
    "$NN" run "$tmp/isl2/isl2.nnb" --input x="$tmp/isl2/x$i.npy" --input x2="$tmp/isl2/x2_$i.npy" --input idx="$tmp/isl2/idx$i.npy" \
        --output-dir "$tmp/isl2/s$i" >>"$tmp/run.log" 2>&1
    for o in $(seq 0 17); do
        n=$(stat -c %s "$tmp/isl2/c$i/output_$o.raw" 2>/dev/null || echo 0)
        ok test "$n" -gt 0
        ok cmp -s <(tail -c "$n" "$tmp/isl2/s$i/output_$o.npy") "$tmp/isl2/c$i/output_$o.raw"
    done
done
/usr/bin/python3 -c "import numpy as np; np.save('$tmp/isl2/idx_bad.npy', np.array([0, 6, 1], np.int64))"
mkdir -p "$tmp/isl2/cbad" "$tmp/isl2/sbad"
"$tmp/isl2/run" "$tmp/isl2/cbad" 1 "$tmp/isl2/x0.npy" "$tmp/isl2/x2_0.npy" "$tmp/isl2/idx_bad.npy" 2>>"$tmp/run.log"
ok test $? -ne 0
"$NN" run "$tmp/isl2/isl2.nnb" --input x="$tmp/isl2/x0.npy" --input x2="$tmp/isl2/x2_0.npy" --input idx="$tmp/isl2/idx_bad.npy" \
    --output-dir "$tmp/isl2/sbad" >>"$tmp/run.log" 2>&1
ok test $? -ne 0

if [ ! -f "$MODEL" ] || [ ! -d "$CALIB" ] || [ ! -d "$EVAL" ]; then
    echo "SKIP: $MODEL or $CALIB missing (make models): the ppocr cls part"
    echo "emitc: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
fi

# quantize, compile to .nnb and C in one command
ok "$NN" quantize "$MODEL" --calib-data "$CALIB" -o "$tmp/q.onnx" --calibration-method minmax --samples 8 >"$tmp/quant.log" 2>&1
mkdir -p "$tmp/out"
ok "$NN" compile "$tmp/q.onnx" --target mcu --shape x=1x3x48x192 -o "$tmp/m.nnb" --emit-c "$tmp/out/model" >"$tmp/compile.log" 2>&1
ok test -s "$tmp/out/model.c"
ok test -s "$tmp/out/model.h"
ok test ! -e "$tmp/out/model.c.part"
ok has "wrote $tmp/out/model.c" "$tmp/compile.log"
# only the C library
ok test -z "$(grep '#include' "$tmp/out/model.c" | grep -v -e '<float.h>' -e '<math.h>' -e '<stdint.h>' -e '<string.h>' -e '"model.h"')"

# strict C99, every warning an error; then the harness
ok "$CC" -std=c99 -O2 -Wall -Wextra -Werror -pedantic -c "$tmp/out/model.c" -o "$tmp/model.o"
ok "$CC" -std=c99 -O2 -Wall -Wextra -Werror -I "$tmp/out" tests/emitc_main.c "$tmp/model.o" -lm -o "$tmp/run"

# byte-equal to the simulator on real inputs
n=0
for f in line01_0 line03_180 line05_0 line07_180 line09_0; do
    x=$EVAL/$f.npy
    [ -f "$x" ] || continue
    mkdir -p "$tmp/c_$f" "$tmp/s_$f"
    "$tmp/run" "$tmp/c_$f" 1 "$x" 2>>"$tmp/run.log"
    "$NN" run "$tmp/m.nnb" --input x="$x" --output-dir "$tmp/s_$f" >>"$tmp/run.log" 2>&1
    bytes=$(stat -c %s "$tmp/c_$f/output_0.raw" 2>/dev/null || echo 0)
    ok test "$bytes" -eq 8
    ok cmp -s <(tail -c "$bytes" "$tmp/s_$f/output_0.npy") "$tmp/c_$f/output_0.raw"
    n=$((n + 1))
done
ok test "$n" -ge 3

# a name that is not a C identifier: refused, nothing written
"$NN" compile "$tmp/q.onnx" --target mcu --shape x=1x3x48x192 --emit-c "$tmp/out/9lives" >"$tmp/bad.log" 2>&1
ok test $? -eq 1
ok has "not a C identifier" "$tmp/bad.log"
ok test ! -e "$tmp/out/9lives.c" -a ! -e "$tmp/out/9lives.c.part" -a ! -e "$tmp/out/9lives.h.part"

# a float island with no C form: x -> Q -> DQ -> Sin -> y
/usr/bin/python3 - "$tmp/sin.onnx" <<'EOF'
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
g = helper.make_graph(
    [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q0"),
     helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"], name="dq0"),
     helper.make_node("Sin", ["d"], ["y"], name="the_sin")],
    "sin", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    [numpy_helper.from_array(np.array(0.05, np.float32), "s"), numpy_helper.from_array(np.array(0, np.int8), "z")],
    value_info=[helper.make_tensor_value_info("q", TensorProto.INT8, [1, 4])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
EOF
"$NN" compile "$tmp/sin.onnx" --target mcu --emit-c "$tmp/out/sinmodel" >"$tmp/sin.log" 2>&1
ok test $? -eq 1
ok has "the_sin" "$tmp/sin.log"
ok has "Sin" "$tmp/sin.log"
ok test ! -e "$tmp/out/sinmodel.c" -a ! -e "$tmp/out/sinmodel.c.part"

# PP-OCRv4 rec and det, the OCR models `make test` caches: quantized
# (MinMax for rec, percentile for det, 4 calibration samples), compiled
# for mcu at a small shape (rec 1x3x48x160, det 1x3x96x160) to .nnb and C;
# the C (rec: LayerNorm pieces, Slice, Transpose, float MatMul, Softmax;
# det: Resize, ConvTranspose, BatchNormalization, Sigmoid, Concat) built
# with -std=c99 -O2 -Wall -Wextra -Werror -pedantic; outputs byte-equal
# to `nnport run` on crops of the real eval inputs (5 rec lines, 3 det
# images)
ocr() { # ocr KEY MODEL DATA METHOD SHAPE (crops: H0 H1 W) [QUANTIZE OPTION]
    local key=$1 model=$2 data=$3 method=$4 shape=$5 h0=$6 h1=$7 w=$8 extra=${9:-} d="$tmp/$1" n=0 f
    if [ ! -f "$model" ] || [ ! -d "$data/calib" ] || [ ! -d "$data/eval" ]; then
        echo "SKIP: $model or $data missing (make models): the $key part"
        return
    fi
    mkdir -p "$d/out" "$d/in"
    ok "$NN" quantize "$model" --calib-data "$data/calib" -o "$d/q.onnx" --calibration-method "$method" --samples 4 $extra >"$d/quant.log" 2>&1
    ok "$NN" compile "$d/q.onnx" --target mcu --shape "x=$shape" -o "$d/m.nnb" --emit-c "$d/out/model" >"$d/compile.log" 2>&1
    ok "$CC" -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I "$d/out" tests/emitc_main.c "$d/out/model.c" -lm -o "$d/run"
    /usr/bin/python3 -c "
import glob, os, sys
import numpy as np
for f in sorted(glob.glob('$data/eval/*.npy'))[:5]:
    np.save('$d/in/' + os.path.basename(f), np.ascontiguousarray(np.load(f)[:, :, $h0:$h1, :$w]))"
    for f in "$d"/in/*.npy; do
        mkdir -p "$d/c_$n" "$d/s_$n"
        "$d/run" "$d/c_$n" 1 "$f" 2>>"$tmp/run.log"
        "$NN" run "$d/m.nnb" --input x="$f" --output-dir "$d/s_$n" >>"$tmp/run.log" 2>&1
        bytes=$(stat -c %s "$d/c_$n/output_0.raw" 2>/dev/null || echo 0)
        ok test "$bytes" -gt 0
        ok cmp -s <(tail -c "$bytes" "$d/s_$n/output_0.npy") "$d/c_$n/output_0.raw"
        n=$((n + 1))
    done
    ok test "$n" -ge 3
}
ocr rec "$CACHE/npm/package/assets/ch_PP-OCRv4_rec_infer.onnx" "$CACHE/data/ocr_rec" minmax 1x3x48x160 0 48 160
ocr det "$CACHE/npm/package/assets/ch_PP-OCRv4_det_infer.onnx" "$CACHE/data/ocr_det" percentile 1x3x96x160 32 128 160
# (session 19) det's convs before a HardSwish/HardSigmoid table run it
# fused (the 8-bit kernel's result through the table): the C above covers it
[ -f "$tmp/det/compile.log" ] && ok has "with the activation fused" "$tmp/det/compile.log"
# --preact16 (docs/QUANTIZATION.md 6q): the Conv outputs read only by
# HardSwish / HardSigmoid / Sigmoid are int16; the Conv (8-bit input
# widened, int16 output) and the table (int16 in, a 65536-byte table of
# output bytes) run on npu-small (mcu has no int16: host there): no more
# host groups than the all-int8 build; the simulator bit-equal to the
# fake-quant executor at every tensor; the C export byte-equal to the
# simulator (above)
ocr det_p16 "$CACHE/npm/package/assets/ch_PP-OCRv4_det_infer.onnx" "$CACHE/data/ocr_det" percentile 1x3x96x160 32 128 160 --preact16
if [ -f "$tmp/det_p16/m.nnb" ] && [ -f "$tmp/det/m.nnb" ]; then
    ok has "pre-activations   16-bit" "$tmp/det_p16/quant.log"
    for k in det det_p16; do
        "$NN" compile "$tmp/$k/q.onnx" --target npu-small --shape x=1x3x96x160 -o "$tmp/$k/npu.nnb" >"$tmp/$k/npu.log" 2>&1
    done
    host() { sed -n 's/.* \([0-9]*\) on the host$/\1/p' "$1"; }
    ok test -n "$(host "$tmp/det/npu.log")"
    ok test "$(host "$tmp/det_p16/npu.log")" = "$(host "$tmp/det/npu.log")"
    f=$(ls "$tmp/det_p16/in/"*.npy | head -1)
    ok "$NN" compile "$tmp/det_p16/q.onnx" --target npu-small --shape x=1x3x96x160 -o "$tmp/det_p16/chk.nnb" \
        --check bitequal --check-per-layer --check-input x="$f" >"$tmp/det_p16/check.log" 2>&1
    ok has " 0 of " "$tmp/det_p16/check.log"
    # on npu-small each such conv and its activation are one instruction
    # (session 19, docs/TARGET.md "Fused activations"): its C export
    # byte-equal to the simulator, and both equal to the program that
    # keeps the activation apart (--keep-act) on each crop, as is that
    # program's C export (its lut16 tables stored as runs, expanded in C)
    d="$tmp/det_p16"
    mkdir -p "$d/out_npu"
    ok "$NN" compile "$d/q.onnx" --target npu-small --shape x=1x3x96x160 -o "$d/fused.nnb" --emit-c "$d/out_npu/model" \
        --program >"$d/fused.log" 2>&1
    ok has "with the activation fused" "$d/fused.log"
    ok has "conv+act" "$d/fused.log"
    mkdir -p "$d/out_kept"
    ok "$NN" compile "$d/q.onnx" --target npu-small --shape x=1x3x96x160 -o "$d/kept.nnb" --keep-act --emit-c "$d/out_kept/model" \
        >"$d/kept.log" 2>&1
    ok "$CC" -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I "$d/out_npu" tests/emitc_main.c "$d/out_npu/model.c" -lm -o "$d/run_npu"
    ok "$CC" -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I "$d/out_kept" tests/emitc_main.c "$d/out_kept/model.c" -lm -o "$d/run_kept"
    n=0
    for f in "$d"/in/*.npy; do
        mkdir -p "$d/fc_$n" "$d/fs_$n" "$d/ks_$n" "$d/kc_$n"
        "$d/run_npu" "$d/fc_$n" 1 "$f" 2>>"$tmp/run.log"
        "$d/run_kept" "$d/kc_$n" 1 "$f" 2>>"$tmp/run.log"
        ok cmp -s "$d/fc_$n/output_0.raw" "$d/kc_$n/output_0.raw"
        "$NN" run "$d/fused.nnb" --input x="$f" --output-dir "$d/fs_$n" >>"$tmp/run.log" 2>&1
        "$NN" run "$d/kept.nnb" --input x="$f" --output-dir "$d/ks_$n" >>"$tmp/run.log" 2>&1
        bytes=$(stat -c %s "$d/fc_$n/output_0.raw" 2>/dev/null || echo 0)
        ok test "$bytes" -gt 0
        ok cmp -s <(tail -c "$bytes" "$d/fs_$n/output_0.npy") "$d/fc_$n/output_0.raw"
        ok cmp -s "$d/fs_$n/output_0.npy" "$d/ks_$n/output_0.npy"
        n=$((n + 1))
    done
    ok test "$n" -ge 3
fi

echo "emitc: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
