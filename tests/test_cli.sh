#!/usr/bin/env bash
# The nnport command on bad input: exit status 1 for bad files and values,
# 2 for command-line mistakes, one line on stderr that names the file, no
# crash (a signal would give a status above 128), and no output file left
# behind by a failed run.  Ends with "cli: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
NN=$B/nnport
CACHE=${NNPORT_CACHE:-$HOME/.cache/nnport}
REC=$CACHE/npm/package/assets/ch_PP-OCRv4_rec_infer.onnx
LINE=$CACHE/data/ocr_rec/eval/line01.npy
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0

# expect STATUS NEEDLE CMD...: exit status and a stderr line containing NEEDLE
expect() {
    local want=$1 needle=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    if [ "$got" -eq "$want" ] && grep -qF -- "$needle" "$tmp/err"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $* -> exit $got (want $want), stderr: $(head -c 300 "$tmp/err")"
    fi
}

# A model cut in half and a file that is not a model at all.
head -c 5000000 "$REC" > "$tmp/cut.onnx"
printf 'not a model' > "$tmp/junk.onnx"
# .npy files: truncated, wrong dtype, wrong rank.
head -c 100 "$LINE" > "$tmp/cut.npy"
/usr/bin/python3 -c "import numpy as np; np.save('$tmp/f64.npy', np.zeros((1,3,48,320))); np.save('$tmp/r3.npy', np.zeros((3,48,320), np.float32))"

expect 2 "usage" $NN
expect 2 "unknown command" $NN frobnicate
expect 2 "give --output-dir" $NN run "$REC" --input x="$LINE"
expect 2 "--threads takes" $NN run "$REC" --input x="$LINE" --threads zero --output-dir "$tmp/o"
expect 2 "not NAME=DIMS" $NN inspect "$REC" --shape x=1xAx3
expect 2 "no input of that name" $NN run "$REC" --input y="$LINE" --output-dir "$tmp/o"
expect 2 "needs --input x=FILE.npy" $NN run "$REC" --output-dir "$tmp/o"
expect 1 "$tmp/missing.onnx" $NN inspect "$tmp/missing.onnx"
expect 1 "$tmp/cut.onnx" $NN inspect "$tmp/cut.onnx"
expect 1 "$tmp/junk.onnx" $NN run "$tmp/junk.onnx" --input x="$LINE" --output-dir "$tmp/o"
expect 1 "$tmp/cut.npy" $NN run "$REC" --input x="$tmp/cut.npy" --output-dir "$tmp/o"
expect 1 "float32" $NN run "$REC" --input x="$tmp/f64.npy" --output-dir "$tmp/o"
expect 1 "rank" $NN run "$REC" --input x="$tmp/r3.npy" --output-dir "$tmp/o"
expect 1 "differs" $NN compare "$LINE" "$tmp/r3.npy"
# None of the failed runs left anything in the output directory.
if [ -z "$(ls -A "$tmp/o" 2>/dev/null)" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: files left in $tmp/o: $(ls "$tmp/o")"; fi
# An output directory that cannot be written: status 1, nothing half-written.
mkdir -p "$tmp/ro" && chmod 555 "$tmp/ro"
if [ "$(id -u)" -ne 0 ]; then
    expect 1 "$tmp/ro" $NN run "$REC" --input x="$LINE" --output-dir "$tmp/ro"
fi
# A good run writes exactly output_0.npy and outputs.json.
$NN run "$REC" --input x="$LINE" --output-dir "$tmp/good" >/dev/null 2>&1
if [ "$(ls "$tmp/good" | tr '\n' ' ')" = "output_0.npy outputs.json " ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: good run wrote: $(ls "$tmp/good")"; fi

# --bundle: the ONNX backend-test layout, hashes that sha256sum agrees with,
# read back by the conformance runner (which runs the model and compares);
# an existing directory is refused and a failed bundle leaves nothing.
ok() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
mkdir -p "$tmp/bundles"
$NN run "$REC" --input x="$LINE" --output-dir "$tmp/b_out" --bundle "$tmp/bundles/rec" >/dev/null 2>&1
ok test -f "$tmp/bundles/rec/test_data_set_0/input_0.pb" -a -f "$tmp/bundles/rec/test_data_set_0/output_0.pb"
ok test ! -e "$tmp/bundles/rec.part"
bundle_hashes_match() {
    /usr/bin/python3 - "$1" <<'PY'
import json, subprocess, sys
d = sys.argv[1]
files = json.load(open(d + "/bundle.json"))["files"]
bad = [f["file"] for f in files
       if subprocess.run(["sha256sum", d + "/" + f["file"]], capture_output=True, text=True).stdout[:64] != f["sha256"]]
sys.exit(1 if bad or len(files) != 3 else 0)
PY
}
ok bundle_hashes_match "$tmp/bundles/rec"
ok sh -c "$B/conformance --strict '$tmp/bundles' 2>&1 | grep -q '1 passed, 0 failed'"
expect 1 "already exists" $NN run "$REC" --input x="$LINE" --output-dir "$tmp/b_out" --bundle "$tmp/bundles/rec"
expect 1 "$tmp/missing.onnx" $NN run "$tmp/missing.onnx" --input x="$LINE" --output-dir "$tmp/b_out" --bundle "$tmp/bundles/never"
ok test ! -e "$tmp/bundles/never" -a ! -e "$tmp/bundles/never.part"

# The build config: strict validation naming the key with a suggestion,
# overrides by dotted path, and README's reference equal to the validator's.
printf '{"quant": {"calibration_metod": "KL"}}' > "$tmp/cfg_typo.json"
printf '{"quant": {"activation": "s9"}}' > "$tmp/cfg_value.json"
printf '{"quant": {"overrides": [{"layr": "conv1"}]}}' > "$tmp/cfg_rule.json"
printf '{"quant":\n\n {"bins": 2048,}}' > "$tmp/cfg_json.json"
printf '{"model": {"input_shapes": {"x": [1, 3, 48, 320]}}}' > "$tmp/cfg_ok.json"
expect 1 'unknown key "quant.calibration_metod" (did you mean "quant.calibration_method"?)' $NN config check "$tmp/cfg_typo.json"
expect 1 'quant.activation: expected one of s8sym|u8asym|s16, got "s9"' $NN config check "$tmp/cfg_value.json"
expect 1 'did you mean "quant.overrides[].layer"' $NN config check "$tmp/cfg_rule.json"
expect 1 "line 3: not valid JSON" $NN config check "$tmp/cfg_json.json"
expect 2 'did you mean "quant.calibration_method"' $NN config check "$tmp/cfg_ok.json" --quant.calibraton_method KL
expect 2 "quant.bins: 3 is outside" $NN config check "$tmp/cfg_ok.json" --quant.bins 3
ok sh -c "$NN config check '$tmp/cfg_ok.json' --quant.calibration_method MSE --compile.batch_sizes 1,2,4 > '$tmp/resolved.json'"
ok /usr/bin/python3 -c "
import json; c = json.load(open('$tmp/resolved.json'))
assert c['quant']['calibration_method'] == 'MSE' and c['compile']['batch_sizes'] == [1, 2, 4]
assert c['model']['input_shapes']['x'] == [1, 3, 48, 320] and c['quant']['bins'] == 2048"
readme_reference_matches() {
    diff <(sed -n '/<!-- config-reference:begin -->/,/<!-- config-reference:end -->/p' README.md | sed '1d;$d') \
         <($NN config reference)
}
ok readme_reference_matches

# nnport plan: runs on a real model; a target file with an unknown key names it.
CLS=$CACHE/npm/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx
ok sh -c "$NN plan '$CLS' --target npu-small --shape x=1x3x48x192 | grep -q 'lower bound'"
printf '{"corez": 2}' > "$tmp/target_typo.json"
expect 1 "key 'corez'" $NN plan "$CLS" --target "$tmp/target_typo.json"
expect 2 "is not npu-small, npu-large, mcu or a .json file" $NN plan "$CLS" --target no-such-preset

# nnport calibrate: a table line per tensor starting with the input name; a
# missing folder is named.
ok sh -c "$NN calibrate '$CLS' --calib-data '$CACHE/data/ocr_cls/calib' --samples 2 --method minmax -o '$tmp/cali.txt' >/dev/null 2>&1 && grep -q '^x ' '$tmp/cali.txt'"
expect 1 "$tmp/nope: not a readable folder" $NN calibrate "$CLS" --calib-data "$tmp/nope" -o "$tmp/cali2.txt"
ok test ! -e "$tmp/cali2.txt"

# nnport quantize --bc --bc-mode sequential (docs/QUANT_ALGOS.md) on a real
# model: it runs, says so, and moves biases (the file differs from the
# uncorrected one); an unknown mode is named.  The arithmetic is checked by
# hand in tests/test_quant_algos.c.
CC4="--calib-data $CACHE/data/ocr_cls/calib --samples 4 --calibration-method minmax"
ok sh -c "$NN quantize '$CLS' $CC4 -o '$tmp/cls_q.onnx' >/dev/null 2>&1"
ok sh -c "$NN quantize '$CLS' $CC4 --bc --bc-mode sequential -o '$tmp/cls_bc.onnx' >'$tmp/bc.log' 2>&1"
ok grep -q 'corrected (sequential' "$tmp/bc.log"
ok sh -c "test -s '$tmp/cls_bc.onnx' && ! cmp -s '$tmp/cls_q.onnx' '$tmp/cls_bc.onnx'"
expect 2 "unknown --bc-mode 'bogus'" $NN quantize "$CLS" $CC4 --bc --bc-mode bogus -o "$tmp/cls_x.onnx"
expect 2 "bad --percentile (50 .. 100)" $NN quantize "$CLS" $CC4 --percentile 40 -o "$tmp/cls_x.onnx"
# --adaround-mode sequential: AdaRound on the QDQ model's own layer inputs
# (the rounding by hand in test_quant_algos.c); it runs, says so, and
# rounds differently from the local mode on cls.
ok sh -c "$NN quantize '$CLS' $CC4 --adaround --adaround-iters 50 -o '$tmp/cls_ada.onnx' >/dev/null 2>&1"
ok sh -c "$NN quantize '$CLS' $CC4 --adaround-mode sequential --adaround-iters 50 --threads 2 -o '$tmp/cls_adaseq.onnx' >'$tmp/ada.log' 2>&1"
ok grep -q 'adaround          sequential, ' "$tmp/ada.log"
ok sh -c "test -s '$tmp/cls_adaseq.onnx' && ! cmp -s '$tmp/cls_ada.onnx' '$tmp/cls_adaseq.onnx'"
expect 2 "unknown --adaround-mode 'bogus'" $NN quantize "$CLS" $CC4 --adaround-mode bogus -o "$tmp/cls_x.onnx"
# A sequential correction that lowers the output cosine on its own samples
# is undone: on cls, percentile, 6 samples, every layer, it goes 0.999997 ->
# 0.999918 (measured), so the file must equal the uncorrected one byte for
# byte, and --bc-keep-worse must keep the corrections (a different file).
CP6="--calib-data $CACHE/data/ocr_cls/calib --samples 6 --calibration-method percentile"
ok sh -c "$NN quantize '$CLS' $CP6 -o '$tmp/cls_p6.onnx' >/dev/null 2>&1"
ok sh -c "$NN quantize '$CLS' $CP6 --bc --bc-mode sequential --min-layer-cos 1 -o '$tmp/cls_p6_bc.onnx' >'$tmp/bc6.log' 2>&1"
ok grep -q 'corrections undone' "$tmp/bc6.log"
ok cmp -s "$tmp/cls_p6.onnx" "$tmp/cls_p6_bc.onnx"
ok sh -c "$NN quantize '$CLS' $CP6 --bc --bc-mode sequential --min-layer-cos 1 --bc-keep-worse -o '$tmp/cls_p6_kw.onnx' >/dev/null 2>&1"
ok sh -c "! cmp -s '$tmp/cls_p6.onnx' '$tmp/cls_p6_kw.onnx'"
# the search with --bc corrects first and still writes a table
ok sh -c "$NN quantize search '$CLS' $CC4 --candidates 2 --bc --bc-mode sequential -o '$tmp/cls_t.txt' >'$tmp/search.log' 2>&1"
ok grep -q 'bias correction (sequential) of' "$tmp/search.log"
ok grep -q '^# output cosine' "$tmp/cls_t.txt"
# --threads splits the scoring samples over threads: the same table, byte for byte
ok sh -c "$NN quantize search '$CLS' $CC4 --candidates 2 --bc --bc-mode sequential --threads 2 -o '$tmp/cls_t2.txt' >/dev/null 2>&1"
ok cmp -s "$tmp/cls_t.txt" "$tmp/cls_t2.txt"
ok sh -c "$NN quantize search '$CLS' $CC4 --threads 9 -o '$tmp/cls_t9.txt' 2>&1 | grep -q -- '--threads'"
# --blocks: the table says how many runs were measured; at an expected
# cosine no int8 model reaches (1.0), every run is measured
ok sh -c "$NN quantize search '$CLS' $CC4 --candidates 2 --blocks 8 --expected-cos 1 --max-float-layers 100 -o '$tmp/cls_b.txt' >/dev/null 2>&1"
ok grep -Eq '^# [0-9]+ of [1-9][0-9]* runs of 8 consecutive layers promoted' "$tmp/cls_b.txt"
expect 2 "bad --blocks" $NN quantize search "$CLS" $CC4 --blocks -1 -o "$tmp/cls_x.txt"
# --sensitivity: every layer quantized alone under each calibrator.  With
# minmax alone the chosen ranges are minmax's, so the calibration table the
# search writes (--calib-table-out) gives `quantize --calib-table` the same
# QDQ file as --calibration-method minmax (byte for byte).  With two
# calibrators, each row of the sensitivity file names as best the calibrator
# with the lower loss (the first on ties).
ok sh -c "$NN quantize search '$CLS' $CC4 --sensitivity minmax --calib-table-out '$tmp/cls_cali.txt' --expected-cos 0.00001 -o '$tmp/cls_st.txt' >'$tmp/sens1.log' 2>&1"
ok sh -c "$NN quantize '$CLS' $CC4 --calib-table '$tmp/cls_cali.txt' -o '$tmp/cls_ct.onnx' >/dev/null 2>'$tmp/ct.err'"
ok grep -q "of them name a tensor of the model" "$tmp/ct.err"
ok cmp "$tmp/cls_q.onnx" "$tmp/cls_ct.onnx"
ok sh -c "$NN quantize search '$CLS' $CC4 --sensitivity minmax,kl --sensitivity-out '$tmp/sens.txt' --expected-cos 0.00001 -o '$tmp/cls_s2.txt' >'$tmp/sens2.log' 2>&1"
ok grep -q '^sensitivity: [1-9][0-9]* layers, each quantized alone under 2 calibrator(s)' "$tmp/sens2.log"
ok grep -q '^# quantize table from nnport quantize search: .*per layer the best of minmax,kl (sensitivity)' "$tmp/cls_s2.txt"
ok /usr/bin/python3 -c "
import sys
rows = [l.split() for l in open(sys.argv[1]) if not l.startswith('#')]
assert len(rows) > 10, len(rows)
for r in rows:
    lm, lk = float(r[2]), float(r[3])
    assert r[4] == ('kl' if lk < lm else 'minmax'), r
assert any(r[4] == 'kl' for r in rows) or all(float(r[2]) <= float(r[3]) for r in rows)
" "$tmp/sens.txt"
expect 2 "--sensitivity: unknown calibrator 'bogus'" $NN quantize search "$CLS" $CC4 --sensitivity minmax,bogus -o "$tmp/cls_x.txt"
printf 'nosuch 1.0 -1.0 1.0\n' > "$tmp/cali_other.txt"
expect 1 "no entry names a tensor of the model" $NN quantize "$CLS" $CC4 --calib-table "$tmp/cali_other.txt" -o "$tmp/cls_x.onnx"
ok test ! -e "$tmp/cls_x.onnx"
expect 1 "$tmp/missing_cali.txt" $NN quantize "$CLS" $CC4 --calib-table "$tmp/missing_cali.txt" -o "$tmp/cls_x.onnx"
# --prescreen: every layer measured alone on the worst samples first; the loss
# table then has a prescreen column and the --candidates best of it
ok sh -c "$NN quantize search '$CLS' $CC4 --candidates 2 --prescreen 2 --expected-cos 1 --loss-table '$tmp/cls_ps_loss.txt' -o '$tmp/cls_ps.txt' >'$tmp/ps.log' 2>&1"
ok grep -q 'cos_prescreen$' "$tmp/cls_ps_loss.txt"
ok sh -c "test \$(grep -vc '^#' '$tmp/cls_ps_loss.txt') -eq 2"
ok sh -c "grep -v '^#' '$tmp/cls_ps_loss.txt' | awk 'NF != 6 { exit 1 }'"
ok grep -q 'search: prescreen 1/' "$tmp/ps.log"
expect 2 "bad --prescreen" $NN quantize search "$CLS" $CC4 --prescreen 0 -o "$tmp/cls_x.txt"
# A measured layer re-runs only what its promotion changes, from the
# all-quantized run's values (QUANTIZATION.md 6m); --full-runs runs whole
# graphs.  Every measured layer must score the same both ways, byte for
# byte in the loss table: cls with the float kernels, rec with the integer
# kernels, the worst sample, a prescreen and 2 threads.  The log says how
# much of the graphs the measurements ran (less than all of it).
for fr in "" --full-runs; do
    ok sh -c "$NN quantize search '$CLS' $CC4 --candidates 6 --expected-cos 1 --loss-table '$tmp/cls_fr$fr.loss' -o '$tmp/cls_fr$fr.txt' $fr >'$tmp/cls_fr$fr.log' 2>&1"
    ok sh -c "$NN quantize search '$REC' --calib-data '$CACHE/data/ocr_rec/calib' --samples 3 --calibration-method minmax --int-kernels --worst --threads 2 --prescreen 2 --candidates 4 --expected-cos 1 --max-float-layers 2 --loss-table '$tmp/rec_fr$fr.loss' -o '$tmp/rec_fr$fr.txt' $fr >'$tmp/rec_fr$fr.log' 2>&1"
done
ok cmp "$tmp/cls_fr.loss" "$tmp/cls_fr--full-runs.loss"
ok cmp "$tmp/rec_fr.loss" "$tmp/rec_fr--full-runs.loss"
ok cmp "$tmp/rec_fr.txt" "$tmp/rec_fr--full-runs.txt"
ok sh -c "test \$(grep -vc '^#' '$tmp/rec_fr.loss') -eq 4"
ok grep -Eq 'search: measured layers ran [0-9]{1,2}\.[0-9]% of their graphs' "$tmp/rec_fr.log"
ok sh -c "! grep -q 'measured layers ran' '$tmp/rec_fr--full-runs.log'"
ok grep -q 'search: kept [0-9.]* MiB of all-quantized values for the promotions' "$tmp/rec_fr.log"
# --keep-mib caps those kept values: past it the promotions run whole graphs
# and say so, and the table is still the same
ok sh -c "$NN quantize search '$REC' --calib-data '$CACHE/data/ocr_rec/calib' --samples 3 --calibration-method minmax --int-kernels --worst --threads 2 --prescreen 2 --candidates 4 --expected-cos 1 --max-float-layers 2 --keep-mib 1 -o '$tmp/rec_fr_k1.txt' >'$tmp/rec_fr_k1.log' 2>&1"
ok grep -q 'need more than 1 MiB; promotions run whole graphs' "$tmp/rec_fr_k1.log"
ok cmp "$tmp/rec_fr.txt" "$tmp/rec_fr_k1.txt"
expect 2 "bad --keep-mib (1 .. 1048576)" $NN quantize search "$CLS" $CC4 --keep-mib 0 -o "$tmp/cls_x.txt"
# --metric: a task metric scores the search (the table says so); on cls, whose
# int8 model picks the float model's class on these 4 samples, argmax is met
# from the start (1.0) and nothing is promoted
ok sh -c "$NN quantize search '$CLS' $CC4 --metric argmax --expected-cos 0.99 -o '$tmp/cls_m.txt' >'$tmp/metric.log' 2>&1"
ok grep -q '^# task metric 1.000000 all quantized' "$tmp/cls_m.txt"
ok grep -q 'task metric 1.000000 -> 1.000000' "$tmp/metric.log"
expect 2 "--metric iou:x: cosine, iou:THRESHOLD, argmax or ctc" $NN quantize search "$CLS" $CC4 --metric iou:x -o "$tmp/cls_x.txt"
# --metric ctc / argmax against an independent reading: the rec model quantized
# (minmax, the first 2 calibration lines), float and QDQ outputs from
# `nnport run`, and numpy's greedy CTC decode (top class per frame, repeats
# merged, blank 0 dropped) and per-frame top-class agreement must give the
# search's "all quantized" scores
RC="--calib-data $CACHE/data/ocr_rec/calib --samples 2 --calibration-method minmax"
ok sh -c "$NN quantize '$REC' $RC -o '$tmp/rec_q.onnx' >/dev/null 2>&1"
for f in $(ls "$CACHE/data/ocr_rec/calib"/*.npy | grep -v '_targets.npy$' | sort | head -2); do
    b=$(basename "$f" .npy)
    $NN run "$REC" --input "x=$f" --output-dir "$tmp/rf_$b" >/dev/null 2>&1
    $NN run "$tmp/rec_q.onnx" --input "x=$f" --output-dir "$tmp/rq_$b" >/dev/null 2>&1
done
# (--worst: the worst line's score, not the mean)
for m in ctc argmax argmax-worst; do
    $NN quantize search "$REC" $RC --int-kernels --metric ${m%-worst} $([ $m = argmax-worst ] && echo --worst) \
        --expected-cos 0.01 -o "$tmp/rec_$m.txt" >/dev/null 2>&1
    ok /usr/bin/python3 - "$tmp" "$m" <<'EOF'
import glob, re, sys
import numpy as np
tmp, m = sys.argv[1], sys.argv[2]
worst = m.endswith("-worst")
def read(p):
    a = np.load(p)[0].argmax(-1)
    return [int(c) for i, c in enumerate(a) if c != 0 and (i == 0 or c != a[i - 1])]
scores = []
for rf in sorted(glob.glob(tmp + "/rf_*/output_0.npy")):
    rq = rf.replace("/rf_", "/rq_")
    if m == "ctc":
        scores.append(1.0 if read(rf) == read(rq) else 0.0)
    else:
        scores.append(float(np.mean(np.load(rf)[0].argmax(-1) == np.load(rq)[0].argmax(-1))))
assert len(scores) == 2, scores
got = float(re.search(r"# task metric ([0-9.]+) all quantized", open(tmp + "/rec_%s.txt" % m).read()).group(1))
want = min(scores) if worst else np.mean(scores)
assert abs(got - want) < 1e-6, (m, got, scores)
if worst:
    assert min(scores) < np.mean(scores), scores  # the two lines differ: the check can tell
EOF
done
# --weight-rounding sum changes the Conv weights (3x3 kernels keep their sums);
# a bad value is a usage error naming the option
ok sh -c "$NN quantize '$CLS' $CC4 --weight-rounding sum -o '$tmp/cls_sum.onnx' 2>&1 | grep -q 'kernel sums kept'"
ok sh -c "! cmp -s '$tmp/cls_q.onnx' '$tmp/cls_sum.onnx'"
expect 2 "--weight-rounding up: nearest or sum" $NN quantize "$CLS" $CC4 --weight-rounding up -o "$tmp/cls_x.onnx"

# --preact16: a Conv output read only by nonlinear activations (the cls model's
# HardSwish and HardSigmoid inputs) gets 16-bit Q/DQ; by default every
# activation is 8-bit; a Conv output read by anything else stays 8-bit.
ok sh -c "$NN quantize '$CLS' $CC4 --preact16 -o '$tmp/cls_p16.onnx' 2>&1 | grep -q 'pre-activations   16-bit'"
ok /usr/bin/python3 - "$tmp/cls_q.onnx" "$tmp/cls_p16.onnx" <<'PY'
import onnx, sys
ACT = {"HardSwish", "HardSigmoid", "Sigmoid", "Tanh", "Gelu", "Elu", "Softplus"}
def q16(path):  # (Conv outputs with int16 Q, with 8-bit Q) by whether only activations read them
    m = onnx.load(path)
    init = {t.name: t for t in m.graph.initializer}
    prod = {o: n for n in m.graph.node for o in n.output}
    cons = {}
    for n in m.graph.node:
        for i in n.input:
            cons.setdefault(i, []).append(n)
    out = {"act16": 0, "act8": 0, "other16": 0, "other8": 0}
    for n in m.graph.node:
        if n.op_type != "QuantizeLinear" or prod.get(n.input[0]) is None or prod[n.input[0]].op_type != "Conv":
            continue
        readers = [c.op_type for dq in cons.get(n.output[0], []) for c in cons.get(dq.output[0], [])]
        wide = init[n.input[2]].data_type == onnx.TensorProto.INT16
        kind = "act" if readers and all(r in ACT for r in readers) else "other"
        out[kind + ("16" if wide else "8")] += 1
    return out
base, p16 = q16(sys.argv[1]), q16(sys.argv[2])
assert base["act16"] == 0 and base["other16"] == 0 and base["act8"] > 0, base
assert p16["act16"] == base["act8"] and p16["act8"] == 0 and p16["other16"] == 0 and p16["other8"] == base["other8"], (base, p16)
PY
expect 2 "--promote INT8: F32 or INT16" $NN quantize search "$CLS" $CC4 --promote INT8 -o "$tmp/cls_x.txt"

# By default the quantizer folds a constant per-channel Mul/Add that follows a
# Conv into the Conv (PP-OCRv4 rec: the scale and shift of PP-LCNetV3's
# learnable affine blocks; the x*1 of its Swish goes too), so no int8 tensor
# sits between them; --no-affine keeps them.  Counted in the QDQ files: Mul/Add nodes whose other input is a
# constant and whose data input is the dequantized output of a Conv.
RC2="--calib-data $CACHE/data/ocr_rec/calib --samples 2 --calibration-method minmax"
ok sh -c "$NN quantize '$REC' $RC2 -o '$tmp/rec_aff.onnx' >/dev/null 2>&1"
ok sh -c "$NN quantize '$REC' $RC2 --no-affine -o '$tmp/rec_noaff.onnx' >/dev/null 2>&1"
ok /usr/bin/python3 - "$tmp/rec_aff.onnx" "$tmp/rec_noaff.onnx" <<'PY'
import onnx, sys
def conv_affine(path):
    m = onnx.load(path)
    const = {t.name for t in m.graph.initializer}
    prod = {o: n for n in m.graph.node for o in n.output}
    def src(name):  # the tensor a DequantizeLinear(QuantizeLinear(x)) pair reads
        n = prod.get(name)
        if n is not None and n.op_type == "DequantizeLinear" and n.input[0] in prod:
            q = prod[n.input[0]]
            if q.op_type == "QuantizeLinear":
                return q.input[0]
        return name
    def is_const(name):
        n = prod.get(name)
        return name in const or (n is not None and n.op_type == "DequantizeLinear" and n.input[0] in const)
    k = 0
    for n in m.graph.node:
        if n.op_type in ("Mul", "Add") and len(n.input) == 2:
            for a, b in ((n.input[0], n.input[1]), (n.input[1], n.input[0])):
                p = prod.get(src(a))
                if is_const(b) and p is not None and p.op_type == "Conv":
                    k += 1
    return k
folded, kept = conv_affine(sys.argv[1]), conv_affine(sys.argv[2])
assert folded == 0 and kept > 0, (folded, kept)
PY

# --scheme s16 writes int16 QuantizeLinear/DequantizeLinear, which ONNX admits
# only from opset 21 (QuantizeLinear-21): the QDQ file must say opset 21 (the
# cls model is opset 10, upgraded to 14 for per-channel weights, then to 21)
# and ONNX Runtime must load it and agree with the fake-quant executor.
ok sh -c "$NN quantize '$CLS' $CC4 --scheme s16 -o '$tmp/cls_s16.onnx' >/dev/null 2>&1"
ok /usr/bin/python3 -c "
import onnx, sys
m = onnx.load(sys.argv[1])
v = [o.version for o in m.opset_import if o.domain in ('', 'ai.onnx')][0]
z16 = [t.name for t in m.graph.initializer if t.data_type == onnx.TensorProto.INT16]
assert v == 21 and z16, (v, len(z16))" "$tmp/cls_s16.onnx"
X16=$CACHE/data/ocr_cls/eval/line01_0.npy
if [ -d "$CACHE/ort/node_modules" ] && command -v node >/dev/null; then
    ok sh -c "node scripts/ort_run.js '$tmp/cls_s16.onnx' --input x='$X16' --output-dir '$tmp/s16_ort' >/dev/null 2>&1"
    ok sh -c "$NN run '$tmp/cls_s16.onnx' --input x='$X16' --output-dir '$tmp/s16_nn' >/dev/null 2>&1"
    ok sh -c "$NN compare '$tmp/s16_ort/output_0.npy' '$tmp/s16_nn/output_0.npy' --cos 0.9999 >/dev/null"
else
    echo "skipped: ONNX Runtime on the s16 QDQ file (scripts/setup.sh installs it)"
fi
# 4-bit weight groups are stored as ONNX int4 (opset 21), which ONNX Runtime
# runs at its default optimization level (int8 storage made its QDQ fusion
# build a QLinearMatMul that refuses the 2-D scale at run time)
ok sh -c "$NN quantize '$CLS' $CC4 --weights int4 --group 8 -o '$tmp/cls_g4.onnx' >/dev/null 2>&1"
ok /usr/bin/python3 -c "
import onnx, sys
m = onnx.load(sys.argv[1])
i4 = {t.name for t in m.graph.initializer if t.data_type == 22}  # TensorProto.INT4 (onnx >= 1.16)
dq = [n for n in m.graph.node if n.op_type == 'DequantizeLinear' and any(a.name == 'block_size' for a in n.attribute)]
assert dq and all(n.input[0] in i4 for n in dq), (len(dq), len(i4))" "$tmp/cls_g4.onnx"
if [ -d "$CACHE/ort/node_modules" ] && command -v node >/dev/null; then
    ok sh -c "node scripts/ort_run.js '$tmp/cls_g4.onnx' --input x='$X16' --output-dir '$tmp/g4_ort' >/dev/null 2>&1"
    ok sh -c "$NN run '$tmp/cls_g4.onnx' --input x='$X16' --output-dir '$tmp/g4_nn' >/dev/null 2>&1"
    ok sh -c "$NN compare '$tmp/g4_ort/output_0.npy' '$tmp/g4_nn/output_0.npy' --cos 0.9999 >/dev/null"
fi

# nnport run on a QDQ model (made by tests/data/quant/make_golden.py, not by
# nnport) goes through the fake-quant executor: equal to ONNX Runtime's output.
Q=tests/data/quant
ok sh -c "$NN run $Q/tiny_qdq.onnx --input x=$Q/input.npy --output-dir '$tmp/qdq' 2>&1 | grep -q 'fake-quant executor'"
ok sh -c "$NN compare $Q/ort_output.npy '$tmp/qdq/output_0.npy' --cos 0.9999999 --peak-rel 0 >/dev/null"

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
