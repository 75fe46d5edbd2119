#!/usr/bin/env bash
# Patch-based execution (nn_target_patchify in nn_target.h, docs/TARGET.md "Patch-based
# prefix for the mcu"): mobilenet_v2 op13 quantized, compiled for mcu with
# and without --patches, both run by the simulator on one eval image; the
# outputs must be the same bytes, and the banded program's arena (input
# quantized by the caller) at most 1/4 of the full-tensor lower bound that
# `nnport plan` prints for the float model.  ONNX Runtime, when installed,
# must also give the same bytes on the banded QDQ graph as on the original.
# Skipped (with a message) when the model or the calibration data is not
# cached.  Prints "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
N=$B/nnport
C=$HOME/.cache/nnport
M=$C/models/mobilenet_v2_op13.onnx
X=$C/data/imagenet/eval/camera.npy
pass=0
fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
if [ ! -f "$M" ] || [ ! -d "$C/data/imagenet/calib" ] || [ ! -f "$X" ]; then
    echo "skipped: $M or the imagenet calib/eval data is not cached (make models)"
    echo "0 passed, 0 failed"
    exit 0
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
$N quantize "$M" --calib-data "$C/data/imagenet/calib" --calibration-method minmax -o "$W/q.onnx" >"$W/quant.log" 2>&1 ||
    { cat "$W/quant.log"; bad "quantize"; echo "$pass passed, $fail failed"; exit 1; }
arena() { sed -n 's/^  ours (in place, views, concat, order) *\([0-9]*\).*/\1/p' "$1"; }
$N compile "$W/q.onnx" --target mcu -o "$W/a.nnb" >"$W/a.log" 2>&1 && ok "compile unbanded" || bad "compile unbanded"
$N compile "$W/q.onnx" --target mcu --patches --patch-onnx "$W/b.onnx" -o "$W/b.nnb" >"$W/b.log" 2>&1 && ok "compile --patches" || bad "compile --patches"
$N compile "$W/q.onnx" --target mcu --patches --quantized-input -o "$W/c.nnb" >"$W/c.log" 2>&1 &&
    ok "compile --patches --quantized-input" || bad "compile --patches --quantized-input"
grep '^patches:' "$W/b.log"
$N run "$W/a.nnb" --input input="$X" --output-dir "$W/oa" >/dev/null 2>&1 &&
    $N run "$W/b.nnb" --input input="$X" --output-dir "$W/ob" >/dev/null 2>&1 &&
    cmp -s "$W/oa/output_0.npy" "$W/ob/output_0.npy" && ok "banded program: the same output bytes" || bad "banded program: the same output bytes"
# the input quantized as its QuantizeLinear does (round half to even, saturate)
/usr/bin/python3 - "$W/q.onnx" "$X" "$W/xq.npy" <<'EOF'
import sys, numpy as np, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
q = [n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "input"][0]
s, z = init[q.input[1]], init[q.input[2]]
x = np.load(sys.argv[2])
info = np.iinfo(z.dtype)
np.save(sys.argv[3], np.clip(np.rint(x / s) + z.astype(np.float32), info.min, info.max).astype(z.dtype))
EOF
$N run "$W/c.nnb" --input input_quantized="$W/xq.npy" --output-dir "$W/oc" >/dev/null 2>&1 &&
    cmp -s "$W/oa/output_0.npy" "$W/oc/output_0.npy" && ok "banded program, quantized input: the same output bytes" ||
    bad "banded program, quantized input: the same output bytes"
bound=$($N plan "$M" --target mcu 2>/dev/null | sed -n 's/^  lower bound (topological order) *\([0-9]*\).*/\1/p')
a=$(arena "$W/a.log"); b=$(arena "$W/b.log"); c=$(arena "$W/c.log")
echo "full-tensor lower bound $bound; arenas: unbanded $a, banded $b, banded with the input quantized by the caller $c"
[ -n "$bound" ] && [ -n "$a" ] && [ -n "$b" ] && [ "$b" -lt "$a" ] && ok "banded arena below the unbanded one" || bad "banded arena below the unbanded one"
[ -n "$bound" ] && [ -n "$c" ] && [ $((c * 4)) -le "$bound" ] && ok "banded arena <= 1/4 of the bound" || bad "banded arena <= 1/4 of the bound"
if [ -d "$C/ort/node_modules" ] && command -v node >/dev/null; then
    node scripts/ort_run.js "$W/q.onnx" --input input="$X" --output-dir "$W/ra" >/dev/null 2>&1 &&
        node scripts/ort_run.js "$W/b.onnx" --input input="$X" --output-dir "$W/rb" >/dev/null 2>&1 &&
        cmp -s "$W/ra/output_0.npy" "$W/rb/output_0.npy" && ok "ONNX Runtime: banded QDQ graph gives the same bytes" ||
        bad "ONNX Runtime: banded QDQ graph gives the same bytes"
else
    echo "skipped: ONNX Runtime (scripts/setup.sh installs it)"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
