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
# $B/test_target_emitc with EMITC_OUT set) and a small QDQ graph holding
# every float island the generator writes likewise, on random inputs.
# Skips (with a SKIP line) when the model cache is missing.
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

# the test network's programs (tests/fuzz/corpus_nnb, s8 and u8 schemes,
# ending in a float Sigmoid), exported by test_target_emitc, on random
# inputs of growing scale
if [ -x "$B/test_target_emitc" ]; then
    mkdir -p "$tmp/tn/small" "$tmp/tn/small_u8"
    EMITC_OUT="$tmp/tn" "$B/test_target_emitc" >/dev/null 2>&1
    /usr/bin/python3 -c "
import numpy as np
r = np.random.default_rng(1)
for i, sc in enumerate([0.5, 1, 3, 10, 100]):
    np.save('$tmp/tn/in%d.npy' % i, (r.standard_normal((1, 3, 8, 8)) * sc).astype(np.float32))"
    for v in small small_u8; do
        ok "$CC" -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I "$tmp/tn/$v" tests/emitc_main.c "$tmp/tn/$v/model.c" -lm -o "$tmp/tn/run_$v"
        for i in 0 1 2 3 4; do
            mkdir -p "$tmp/tn/c_${v}_$i" "$tmp/tn/s_${v}_$i"
            "$tmp/tn/run_$v" "$tmp/tn/c_${v}_$i" 1 "$tmp/tn/in$i.npy" 2>>"$tmp/run.log"
            "$NN" run tests/fuzz/corpus_nnb/$v.nnb --input x="$tmp/tn/in$i.npy" --output-dir "$tmp/tn/s_${v}_$i" >>"$tmp/run.log" 2>&1
            ok cmp -s <(tail -c 20 "$tmp/tn/s_${v}_$i/output_0.npy") "$tmp/tn/c_${v}_$i/output_0.raw"
        done
    done
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
ok "$NN" compile "$tmp/isl/isl.onnx" --target mcu -o "$tmp/isl/isl.nnb" --emit-c "$tmp/isl/model" >"$tmp/isl/compile.log" 2>&1
ok "$CC" -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I "$tmp/isl" tests/emitc_main.c "$tmp/isl/model.c" -lm -o "$tmp/isl/run"
for i in 0 1 2; do
    mkdir -p "$tmp/isl/c$i" "$tmp/isl/s$i"
    "$tmp/isl/run" "$tmp/isl/c$i" 1 "$tmp/isl/in$i.npy" 2>>"$tmp/run.log"
    "$NN" run "$tmp/isl/isl.nnb" --input x="$tmp/isl/in$i.npy" --output-dir "$tmp/isl/s$i" >>"$tmp/run.log" 2>&1
    for o in 0 1 2 3 4; do
        n=$(stat -c %s "$tmp/isl/c$i/output_$o.raw" 2>/dev/null || echo 0)
        ok test "$n" -gt 0
        ok cmp -s <(tail -c "$n" "$tmp/isl/s$i/output_$o.npy") "$tmp/isl/c$i/output_$o.raw"
    done
done

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

echo "emitc: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
