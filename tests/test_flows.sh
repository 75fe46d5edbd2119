#!/usr/bin/env bash
# cv_flow and lvm_flow on the PP-OCR direction classifier (ppocr cls, small
# enough for make test; the real runs on det and rec are in docs/FLOWS.md):
# - --qtable: a rule naming a node the optimizer fused away (the ONNX file
#   has p2o.Conv.1 -> p2o.BatchNormalization.1, and the bn pass folds the
#   BN into the Conv) applies to the fused Conv through the provenance; a
#   rule naming nothing is a warning with its line; the summary line counts
#   both.  lvm_flow takes --qtable as cv_flow does.
# - evaluation inputs of two widths and no --shape: both flows compile one
#   program per width and say so (lvm_flow used to stop at "x: input has no
#   static shape"); the .nnb is written whole (no .part left behind).
# - lvm_flow --gate ctc counts the outputs read as the float model's
#   (checked against ONNX Runtime on both models).
# - llm_flow's gates (logits cosine) and its generation report, on a
#   two-node model whose greedy text is worked out by hand.
# Ends with "flows: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
CACHE=${NNPORT_CACHE:-$HOME/.cache/nnport}
MODEL=$CACHE/npm/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx
CALIB=$CACHE/data/ocr_cls/calib
EVAL=$CACHE/data/ocr_cls/eval
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
has() { grep -qF -- "$1" "$2"; } # has NEEDLE FILE

if [ ! -f "$MODEL" ] || [ ! -d "$CALIB" ] || [ ! -x "$B/cv_flow" ] || [ ! -x "$B/lvm_flow" ]; then
    echo "FAIL: $MODEL, $CALIB, $B/cv_flow or $B/lvm_flow missing (make models; make all)"
    echo "flows: 0 passed, 1 failed"
    exit 1
fi

# two evaluation samples at 48x192 (as made) and two cut to 48x160
mkdir -p "$tmp/eval"
/usr/bin/python3 - "$EVAL" "$tmp/eval" <<'EOF'
import os, sys
import numpy as np
src, dst = sys.argv[1], sys.argv[2]
names = sorted(f for f in os.listdir(src) if f.endswith(".npy"))[:4]
for i, f in enumerate(names):
    x = np.load(os.path.join(src, f))
    assert x.shape == (1, 3, 48, 192), x.shape
    if i >= 2:
        x = np.ascontiguousarray(x[:, :, :, :160])
    np.save(os.path.join(dst, f), x)
EOF
ok test "$(ls "$tmp/eval" | wc -l)" -eq 4

printf '# a folded node, then a name in no graph\np2o.BatchNormalization.1 F32\nnosuch_layer F32\n' > "$tmp/t.txt"

$B/cv_flow "$MODEL" --calib "$CALIB" --eval "$tmp/eval" --out "$tmp/cv" --samples 4 --method minmax \
    --tol-quantize 0 --qtable "$tmp/t.txt" >"$tmp/cv.out" 2>"$tmp/cv.err"
ok test $? -eq 0
ok has "cv_flow: qtable line 2: p2o.BatchNormalization.1 is not in this graph; applied to the 1 node(s) made from it (p2o.Conv.1)" "$tmp/cv.err"
ok has "cv_flow: qtable line 3: nosuch_layer matches no node" "$tmp/cv.err"
ok has "quantize table $tmp/t.txt: 2 rule(s), 1 matching nothing" "$tmp/cv.out"
ok has "2 programs, one per evaluation input shape" "$tmp/cv.out"
ok grep -Eq '^compile +[0-9]+ ms +cosine' "$tmp/cv.out"
ok test -s "$tmp/cv/3_compiled.nnb"
ok test -z "$(find "$tmp/cv" -name '*.part')"

$B/lvm_flow "$MODEL" --calib "$CALIB" --eval "$tmp/eval" --out "$tmp/lvm" --samples 4 --method minmax \
    --no-smooth --no-search --tol-quantize 0 --qtable "$tmp/t.txt" >"$tmp/lvm.out" 2>"$tmp/lvm.err"
ok test $? -eq 0
ok has "lvm_flow: qtable line 2: p2o.BatchNormalization.1 is not in this graph; applied to the 1 node(s) made from it (p2o.Conv.1)" "$tmp/lvm.err"
ok has "lvm_flow: qtable line 3: nosuch_layer matches no node" "$tmp/lvm.err"
ok has "quantize table $tmp/t.txt: 2 rule(s) and 0 from the search, 1 matching nothing" "$tmp/lvm.out"
ok has "2 programs, one per evaluation input shape" "$tmp/lvm.out"
ok grep -Eq '^compile +[0-9]+ ms +cosine' "$tmp/lvm.out"
ok test -s "$tmp/lvm/3_compiled.nnb"
ok test -z "$(find "$tmp/lvm" -name '*.part')"
# the fused Conv is float in both QDQ files: no DequantizeLinear feeds its weight
for d in cv lvm; do
    ok /usr/bin/python3 -c "
import onnx, sys
m = onnx.load(sys.argv[1])
made = {o: n.op_type for n in m.graph.node for o in n.output}
conv = [n for n in m.graph.node if n.name == 'p2o.Conv.1']
assert len(conv) == 1 and made.get(conv[0].input[1]) != 'DequantizeLinear', 'p2o.Conv.1 is quantized'
" "$tmp/$d/2_quantized.onnx"
done
# --gate ctc: the quantize and compile gates count the evaluation outputs
# whose greedy CTC reading equals the float model's.  cls's output is one
# row of 2 scores, so its reading is its top class (class 0 reads as the
# blank).  Oracle: ONNX Runtime on the original model and on the flow's QDQ
# file, sample by sample.
$B/lvm_flow "$MODEL" --calib "$CALIB" --eval "$tmp/eval" --out "$tmp/ctc" --samples 4 --method minmax \
    --no-smooth --no-search --gate ctc >"$tmp/ctc.out" 2>"$tmp/ctc.err"
ctc_rc=$?
same=0
for f in "$tmp"/eval/*.npy; do
    n=$(basename "$f" .npy)
    node scripts/ort_run.js "$MODEL" --input x="$f" --output-dir "$tmp/ortf_$n" >/dev/null 2>&1
    node scripts/ort_run.js "$tmp/ctc/2_quantized.onnx" --input x="$f" --output-dir "$tmp/ortq_$n" >/dev/null 2>&1
    if /usr/bin/python3 -c "
import numpy as np, sys
a, b = (np.load(p).reshape(-1)[:2] for p in sys.argv[1:])
sys.exit(0 if a.argmax() == b.argmax() else 1)" "$tmp/ortf_$n/output_0.npy" "$tmp/ortq_$n/output_0.npy"; then
        same=$((same + 1))
    fi
done
ok grep -Eq "^quantize +[0-9]+ ms +read as float $same of 4 \(gate: all, CTC\)" "$tmp/ctc.out"
if [ "$same" -eq 4 ]; then ok test "$ctc_rc" -eq 0; else ok test "$ctc_rc" -ne 0; fi
ok /usr/bin/python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
q = [s for s in r['stages'] if s['stage'] == 'quantize'][0]
assert q['ctc_outputs'] == 4 and q['ctc_same'] == int(sys.argv[2]), q" "$tmp/ctc/record.json" "$same"
$B/lvm_flow "$MODEL" --calib "$CALIB" --eval "$tmp/eval" --out "$tmp/ctcbad" --gate text >/dev/null 2>"$tmp/gate.err"
ok test $? -ne 0
ok has "lvm_flow: --gate text: cosine or ctc" "$tmp/gate.err"

# llm_flow's gates and generation report, on a hand-made "GPT": tokens
# (1,128) -> Gather(E) -> MatMul(W) -> logits (1,128,6), vocabulary "abcde ".
# E = I + 0.25 (6x6) and W = 2 P with P the permutation i -> (i + 2) mod 6,
# so the logits of character c are 0.5 everywhere (0.25 x 2, one 1 per
# column of P) and 2.5 at (c + 2) mod 6.  Greedy generation from "a" (0)
# therefore reads c e a c e a ...: by hand, 12 characters "ceaceaceacea".
if [ -x "$B/llm_flow" ]; then
    mkdir -p "$tmp/gpt/calib" "$tmp/gpt/eval"
    /usr/bin/python3 - "$tmp" <<'EOF2'
import json, os, sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
d = sys.argv[1]
V = 6
E = (np.eye(V) + 0.25).astype(np.float32)
P = np.zeros((V, V), np.float32)
for i in range(V):
    P[i, (i + 2) % V] = 1
W = (2 * P).astype(np.float32)
g = helper.make_graph(
    [helper.make_node("Gather", ["E", "tokens"], ["h"], name="embed"),
     helper.make_node("MatMul", ["h", "W"], ["logits"], name="head")],
    "tiny", [helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, 128])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 128, V])],
    [numpy_helper.from_array(E, "E"), numpy_helper.from_array(W, "W")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.save(m, os.path.join(d, "gpt.onnx"))
json.dump({"chars": list("abcde ")}, open(os.path.join(d, "gpt_vocab.json"), "w"))
rng = np.random.default_rng(5)
for sub in ("calib", "eval"):
    for k in range(2):
        t = rng.integers(0, V, size=(1, 128)).astype(np.int64)
        np.save(os.path.join(d, "gpt", sub, "window%02d.npy" % k), t)
        np.save(os.path.join(d, "gpt", sub, "window%02d_targets.npy" % k), (t + 2) % V)
EOF2
    $B/llm_flow "$tmp/gpt.onnx" --vocab "$tmp/gpt_vocab.json" --data "$tmp/gpt" --out "$tmp/llm" --prompt a \
        --chars 12 >"$tmp/llm.out" 2>"$tmp/llm.err"
    ok test $? -eq 0
    ok grep -Eq '^optimize .*logits cosine 1\.000000 \(gate >= 0\.99999\)   ok$' "$tmp/llm.out"
    ok grep -Eq '^quantize \(w8\) .*next-char accuracy 1\.0000 .*\(gate >= 0\.99\)   ok$' "$tmp/llm.out"
    ok grep -Eq '^compile .*\(gate >= 0\.99\)   ok$' "$tmp/llm.out"
    ok has "float:     aceaceaceacea" "$tmp/llm.out"
    ok has "simulator: aceaceaceacea" "$tmp/llm.out"
    ok has "the simulator's text equals the float model's for 12 of 12 characters" "$tmp/llm.out"
    ok /usr/bin/python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
assert r['generate_same_chars'] == 12 and r['generate_chars'] == 12, r" "$tmp/llm/record.json"
    # a gate no quantized model reaches: the stage fails, names the layers, stops
    $B/llm_flow "$tmp/gpt.onnx" --vocab "$tmp/gpt_vocab.json" --data "$tmp/gpt" --out "$tmp/llm1" --prompt a \
        --chars 12 --tol-quantize 1 >"$tmp/llm1.out" 2>&1
    ok test $? -eq 1
    ok grep -Eq '^quantize \(w8\) .*\(gate >= 1\)   FAIL$' "$tmp/llm1.out"
    ok has "the layers that lose the most" "$tmp/llm1.out"
    ok sh -c "! grep -q '^compile' '$tmp/llm1.out'"
    $B/llm_flow "$tmp/gpt.onnx" --vocab "$tmp/gpt_vocab.json" --data "$tmp/gpt" --out "$tmp/llm2" --tol-quantize 1.5 \
        >/dev/null 2>"$tmp/llm2.err"
    ok test $? -eq 2
    ok has "llm_flow: --tol-quantize 1.5: a cosine from 0 to 1" "$tmp/llm2.err"
else
    echo "FAIL: $B/llm_flow missing (make all)"; fail=$((fail + 1))
fi

# a bad table names its line and stops the flow before quantizing
printf 'p2o.Conv.1 F99\n' > "$tmp/bad.txt"
$B/lvm_flow "$MODEL" --calib "$CALIB" --eval "$tmp/eval" --out "$tmp/lvmbad" --samples 4 --no-smooth --no-search \
    --qtable "$tmp/bad.txt" >/dev/null 2>"$tmp/bad.err"
ok test $? -ne 0
ok has "qtable line 1" "$tmp/bad.err"
ok test ! -e "$tmp/lvmbad/2_quantized.onnx"

echo "flows: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
