#!/usr/bin/env bash
# nnport build on the PP-OCR direction classifier (ppocr cls, 8 calibration
# samples, MinMax): the build succeeds and writes every promised file under
# temporary names; the resolved config has the defaults; the record has
# stages, per-layer rows with ONNX names and histograms with thresholds; the
# report renders in headless Chromium (as tests/report_check.sh checks);
# the bundle reads back through the conformance runner (--strict); a typo in
# the config fails naming the key and the suggestion; a failed quantize
# gate exits 1 after printing the per-layer table; NV12 input, float16
# fp_forward layers, the softmax bias report and per-input calibration
# folders through the config.
# Ends with "build: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
NN=$B/nnport
CACHE=${NNPORT_CACHE:-$HOME/.cache/nnport}
MODEL=$CACHE/npm/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx
CALIB=$CACHE/data/ocr_cls/calib
EVAL=$CACHE/data/ocr_cls/eval
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
has() { grep -qF -- "$1" "$2"; } # has NEEDLE FILE

if [ ! -f "$MODEL" ] || [ ! -d "$CALIB" ]; then
    echo "FAIL: $MODEL or $CALIB missing (make models)"
    echo "build: 0 passed, 1 failed"
    exit 1
fi

cat > "$tmp/cfg.json" <<EOF
{
  "model": {"input_shapes": {"x": [1, 3, 48, 192]}},
  "quant": {"calibration_data": "$CALIB", "calibration_samples": 8, "calibration_method": "MinMax"}
}
EOF

# 1. The build, with the bundle.
OUT=$tmp/out
$NN build --config "$tmp/cfg.json" --input "$MODEL" --output-dir "$OUT" --bundle --compile.check bitequal \
    --compile.emit_c true >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
ok test "$rc" -eq 0
[ "$rc" -eq 0 ] || { cat "$tmp/stderr"; }
for f in config.resolved.json optimized.onnx quantized.onnx model.nnb model.c model.h record.json report.html \
         bundle/float/model.onnx bundle/float/bundle.json bundle/float/test_data_set_0/input_0.pb \
         bundle/float/test_data_set_0/output_0.pb bundle/optimized/model.onnx bundle/quantized/model.onnx \
         bundle/quantized/test_data_set_0/output_0.pb; do
    ok test -s "$OUT/$f"
done
ok test -z "$(find "$OUT" -name '*.part')"
# progress: plain lines when stderr is not a terminal; a summary table on stdout
ok sh -c "! grep -q \"\$(printf '\\r')\" '$tmp/stderr'"
ok has "optimize: cv" "$tmp/stderr"
ok grep -Eq '^stage +time ms +cosine +model bytes +arena bytes +latency ms' "$tmp/stdout"
# compile.emit_c: the C export builds with the C standard library alone
# (its outputs against the simulator: tests/test_emitc.sh)
ok ${CC:-cc} -std=c99 -Wall -Wextra -Werror -pedantic -c "$OUT/model.c" -I"$OUT" -o "$tmp/model.o"
ok sh -c "! grep -q 'compile.emit_c' '$tmp/stderr'" # not reported as ignored
# the simulator's outputs are the fake-quant executor's, bit for bit
ok has "check bitequal against the quantized model: ok" "$tmp/stdout"
for s in import optimize quantize compile; do ok grep -Eq "^$s +[0-9]+ +[01]\.[0-9]{6} +[0-9]+" "$tmp/stdout"; done

# 2. The resolved config and the record (checked with Python's json).
ok /usr/bin/python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
c = json.load(open(out + "/config.resolved.json"))
assert c["optimize"]["template"] == "cv" and c["quant"]["tolerance"] == [0.99], c
assert c["quant"]["calibration_method"] == "MinMax" and c["target"]["preset"] == "npu-small"
r = json.load(open(out + "/record.json"))
st = {s["stage"]: s for s in r["stages"]}
assert list(st) == ["import", "optimize", "quantize", "compile"], list(st)
for s in st.values():
    assert s["time_ms"] >= 0 and s["size_bytes"] > 0 and 0 < s["cos"] <= 1 + 1e-9, s
assert st["optimize"]["cos"] > 0.999999 and st["quantize"]["cos"] > 0.99, st
assert st["compile"]["arena_bytes"] > 0 and st["compile"]["latency_ms"] > 0
assert len(r["layers"]) > 50 and all(l["origin"] for l in r["layers"])
assert any("," in l["origin"] for l in r["layers"])  # fused Conv+BN keep both ONNX names
h = r["histograms"]
assert len(h) >= 2 and all(len(x["counts"]) == 128 and x["bin_width"] > 0 for x in h)
assert all(x["thresholds"]["minmax"] >= x["thresholds"]["percentile"] > 0 for x in h), h[0]["thresholds"]
assert r["memory"]["arena_bytes"] > 0 and len(r["memory"]["tensors"]) > 10 and len(r["cycles"]) > 0
EOF

# 3. The report, as tests/report_check.sh checks a page.
ok sh -c "! grep -Eiq '(src|href)=|https?://|@import|url\\(' '$OUT/report.html'"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROMIUM" ]; then
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/profile" \
        --enable-logging=stderr --v=0 --dump-dom "file://$OUT/report.html" >"$tmp/dom.html" 2>"$tmp/console.log"
    ok has 'data-rendered="1"' "$tmp/dom.html"
    ok sh -c "! grep -q 'CONSOLE' '$tmp/console.log'"
else
    echo "FAIL: chromium is missing (scripts/setup.sh installs it)"; fail=$((fail + 1))
fi

# 4. The bundle reads back: every stage's case passes the conformance runner.
if [ -x "$B/conformance" ]; then
    $B/conformance --strict "$OUT/bundle" >"$tmp/conf" 2>&1
    ok test $? -eq 0
    ok has "conformance: 3 passed, 0 failed, 0 skipped" "$tmp/conf"
else
    echo "FAIL: $B/conformance is not built"; fail=$((fail + 1))
fi

# 5. A typo in the config: status 1, the key and the suggestion, nothing written.
sed 's/"calibration_samples"/"calibraton_samples"/' "$tmp/cfg.json" > "$tmp/typo.json"
$NN build --config "$tmp/typo.json" --input "$MODEL" --output-dir "$tmp/typo" >/dev/null 2>"$tmp/err"
ok test $? -eq 1
ok has 'unknown key "quant.calibraton_samples" (did you mean "quant.calibration_samples"?)' "$tmp/err"
ok test ! -e "$tmp/typo"
# a wrong value on the command line names the key (a command-line mistake: 2)
$NN build --config "$tmp/cfg.json" --input "$MODEL" --output-dir "$tmp/bad" --quant.calibration_method Foo >/dev/null 2>"$tmp/err"
ok test $? -eq 2
ok has "quant.calibration_method" "$tmp/err"
# an empty map key on the command line is an unknown key, not the whole
# map replaced (fuzz_config found "--model.input_shapes. ''" doing that)
$NN build --config "$tmp/cfg.json" --input "$MODEL" --output-dir "$tmp/bad" --model.input_shapes. 1x3x48x192 >/dev/null 2>"$tmp/err"
ok test $? -eq 2
ok has 'unknown key "model.input_shapes."' "$tmp/err"
ok test ! -e "$tmp/bad"

# 6. A gate no int8 model meets: status 1 after the per-layer table (with
#    the original ONNX names); --eval takes the comparison samples.  Into
#    the same OUT: the first build's later outputs must not stay behind.
$NN build --config "$tmp/cfg.json" --input "$MODEL" --output-dir "$OUT" --eval "$EVAL" \
    --quant.tolerance 0.999999999 >"$tmp/stdout" 2>"$tmp/err"
ok test $? -eq 1
ok has "the layers that lose the most" "$tmp/stdout"
ok grep -q "(ONNX: p2o\." "$tmp/stdout"
ok has "quant.tolerance" "$tmp/err"
ok has "evaluation samples from $EVAL" "$tmp/stdout"
ok test ! -e "$OUT/model.nnb" -a ! -e "$OUT/bundle"
ok test -s "$OUT/record.json" -a -s "$OUT/quantized.onnx"
ok /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert [s['stage'] for s in r['stages']]==['import','optimize','quantize'] and r['layers']" "$OUT/record.json"

# 7. The keys earlier builds accepted and ignored.
#  - compile.input_format nv12: the program takes NV12 frames (uint8
#    (1, 72, 192) for a 48x192 input); the simulator runs on the evaluation
#    samples encoded as frames, and compile.check bitequal compares it with
#    the quantized model on the planes those frames decode to.
#  - quant.float_dtype f16: the fp_forward layers round through float16
#    (Cast nodes in the QDQ file; f32 has none).
#  - quant.softmax_bias_correction: the Softmax the recipe keeps float is
#    reported with a mean row sum of 1 (a float softmax row sums to 1).
#  - quant.calibration_inputs.x instead of quant.calibration_data; a name
#    that is no input is an error naming the key and the inputs.
cat > "$tmp/cfg7.json" <<EOF
{
  "model": {"input_shapes": {"x": [1, 3, 48, 192]}},
  "preprocess": {"mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5], "color": "bgr"},
  "quant": {"calibration_inputs": {"x": "$CALIB"}, "calibration_samples": 8, "calibration_method": "MinMax",
            "softmax_bias_correction": true, "float_dtype": "f16", "fpfwd_outputs": ["reshape2_0.tmp_0"]},
  "compile": {"input_format": "nv12", "check": "bitequal"}
}
EOF
OUT7=$tmp/out7
$NN build --config "$tmp/cfg7.json" --input "$MODEL" --output-dir "$OUT7" >"$tmp/stdout7" 2>"$tmp/err7"
ok test $? -eq 0
ok has "(NV12 frames)" "$tmp/stdout7"
ok has "check bitequal against the quantized model: ok" "$tmp/stdout7"
ok has "softmax    1 Softmax, 0 with a quantized output" "$tmp/stdout7"
ok sh -c "! grep -q 'ignored' '$tmp/err7'"
cat > "$tmp/check7.py" <<'EOF'
import json, sys
import onnx
out = sys.argv[1]
r = json.load(open(out + "/record.json"))
sb = r["softmax_bias"]
assert len(sb) == 1 and not sb[0]["quantized"] and abs(sb[0]["row_sum"] - 1) < 1e-6, sb
m = onnx.load(out + "/quantized.onnx")
casts = [a.i for n in m.graph.node if n.op_type == "Cast" for a in n.attribute if a.name == "to"]
assert onnx.TensorProto.FLOAT16 in casts, casts
EOF
ok /usr/bin/python3 "$tmp/check7.py" "$OUT7"
# the program's input is the frame: a uint8 (1, 72, 192) frame runs
ok /usr/bin/python3 -c "import numpy as np; np.save('$tmp/frame.npy', np.full((1, 72, 192), 128, np.uint8))"
$NN run "$OUT7/model.nnb" --input "x=$tmp/frame.npy" --output-dir "$tmp/run7" >/dev/null 2>&1
ok test $? -eq 0
ok test -s "$tmp/run7/output_0.npy"
# a program's run writes outputs.json like a graph's: each output's name,
# file, shape and dtype, from the program's slots and the output itself
ok /usr/bin/python3 - "$tmp/run7" <<'EOF'
import json, sys, numpy as np
d = sys.argv[1]
o = json.load(open(d + "/outputs.json"))["outputs"]
assert [x["file"] for x in o] == ["output_%d.npy" % i for i in range(len(o))], o
for x in o:
    a = np.load(d + "/" + x["file"])
    assert x["shape"] == list(a.shape) and x["dtype"] == str(a.dtype) and x["name"], (x, a.shape, a.dtype)
EOF
# the same config with the defaults back: no NV12, no Cast
$NN build --config "$tmp/cfg7.json" --input "$MODEL" --output-dir "$tmp/out8" --compile.input_format model \
    --quant.float_dtype f32 >"$tmp/stdout8" 2>&1
ok test $? -eq 0
ok sh -c "! grep -q 'NV12' '$tmp/stdout8'"
ok /usr/bin/python3 -c "import onnx,sys; m=onnx.load(sys.argv[1]); assert not [n for n in m.graph.node if n.op_type=='Cast']" "$tmp/out8/quantized.onnx"
$NN build --config "$tmp/cfg7.json" --input "$MODEL" --output-dir "$tmp/bad9" --quant.calibration_inputs.y "$CALIB" >/dev/null 2>"$tmp/err9"
ok test $? -eq 1
ok has "quant.calibration_inputs.y: the model has no input 'y' (inputs: x)" "$tmp/err9"

# quant.overrides[].layer names an original ONNX node.  The cv template's
# bn pass folds p2o.BatchNormalization.1 into p2o.Conv.1 (the ONNX file:
# Conv.1 -> BatchNormalization.1), so that rule reaches the fused Conv
# through its provenance; conv2d_54.tmp_0, Conv.1's output before the fold,
# is gone and the rule matches nothing (a warning naming it, rule 2).
cat > "$tmp/cfg10.json" <<EOF
{
  "model": {"input_shapes": {"x": [1, 3, 48, 192]}},
  "quant": {"calibration_data": "$CALIB", "calibration_samples": 4, "calibration_method": "MinMax",
            "overrides": [{"layer": "p2o.BatchNormalization.1", "dtype": "f32"}, {"layer": "conv2d_54.tmp_0", "dtype": "f32"}]}
}
EOF
$NN build --config "$tmp/cfg10.json" --input "$MODEL" --output-dir "$tmp/out10" --quant.tolerance 0 >/dev/null 2>"$tmp/err10"
ok test $? -eq 0
ok has "quantize rule 1: p2o.BatchNormalization.1 is not in this graph; applied to the 1 node(s) made from it (p2o.Conv.1)" "$tmp/err10"
ok has "quantize rule 2: conv2d_54.tmp_0 matches no node" "$tmp/err10"
# the fused Conv stays float in the QDQ model: no DequantizeLinear feeds p2o.Conv.1
ok /usr/bin/python3 -c "
import onnx, sys
m = onnx.load(sys.argv[1])
made = {o: n.op_type for n in m.graph.node for o in n.output}
conv = [n for n in m.graph.node if n.name == 'p2o.Conv.1']
assert len(conv) == 1 and conv[0].op_type == 'Conv', [n.name for n in m.graph.node if 'Conv.1' in n.name]
assert made.get(conv[0].input[1]) != 'DequantizeLinear', 'p2o.Conv.1 has quantized weights'
" "$tmp/out10/quantized.onnx"

echo "build: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
