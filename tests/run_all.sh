#!/usr/bin/env bash
# The whole test suite behind `make test`: header build checks, unit tests
# (plain and under ASan+UBSan), ONNX conformance, ONNX Runtime parity on the
# OCR models, and a short fuzz run over the saved corpora.  Each step prints
# its own "N passed, N failed"; this script adds them up and ends with the
# total on a line of its own.  Timings are never checked here.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
total_pass=0
total_fail=0
failed_steps=()

# Runs a step, echoing its output; takes the last "N passed, N failed" line
# it prints, or counts the step as one check passed/failed by exit status.
step() {
    local name=$1; shift
    echo "== $name"
    local log; log=$(mktemp)
    local t0=$SECONDS
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line; line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    local p=0 f=0
    if [ -n "$line" ]; then
        p=$(echo "$line" | sed -E 's/^([A-Za-z]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2/')
        f=$(echo "$line" | sed -E 's/^([A-Za-z]+: )?([0-9]+) passed, ([0-9]+) failed.*/\3/')
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    elif [ "$rc" -eq 0 ]; then p=1; else f=1; fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    [ "$f" -ne 0 ] && failed_steps+=("$name")
    echo "-- $name: $p passed, $f failed ($((SECONDS - t0)) s)"
    rm -f "$log"
}

step "headers compile alone, together and as C++" bash tests/header_check.sh
for t in $B/test_*; do
    [ -x "$t" ] || continue
    step "$(basename "$t")" "$t"
done
for t in $B/asan/test_*; do
    [ -x "$t" ] || continue
    step "asan $(basename "$t")" env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "$t"
done
conf_dirs=()
for d in ../shared/onnx-tests/node ../shared/onnx-tests/pytorch-converted ../shared/onnx-tests/pytorch-operator \
         ../shared/onnx-tests/simple /usr/share/libonnx-testdata/data/node \
         /usr/share/libonnx-testdata/data/pytorch-converted /usr/share/libonnx-testdata/data/pytorch-operator \
         /usr/share/libonnx-testdata/data/simple; do
    [ -d "$d" ] && conf_dirs+=("$d")
done
step "nnport on bad input" bash tests/test_cli.sh
step "vendoring and make install" bash tests/vendor_check.sh
step "HTML report in headless Chromium" env B=$B bash tests/report_check.sh
step "nnport quantize --we / --smooth-quant on hand-worked models" /usr/bin/python3 tests/cli_float_rewrites.py --nnport $B/nnport
step "nnport build end to end" env B=$B bash tests/test_build.sh
step "cv_flow / lvm_flow: quantize tables, one program per input shape" env B=$B bash tests/test_flows.sh
step "C export (compile --emit-c) vs the simulator" env B=$B bash tests/test_emitc.sh
step "patch-based prefix on mcu (compile --patches): mobilenet_v2 bytes, arena <= bound/4" env B=$B bash tests/test_patch.sh
qdq4=$(mktemp -d) && step "pre-quantized 4-bit QDQ model: compile --check, simulator vs ONNX Runtime" \
    /usr/bin/python3 scripts/make_qdq4.py "$qdq4/qdq4.onnx" --eval 200 --nnport $B/nnport --work "$qdq4" && rm -rf "$qdq4"
dyn=$(mktemp -d) && step "dynamically quantized model: nnport quantize imports it, simulator vs ONNX Runtime" \
    /usr/bin/python3 scripts/make_dynamic.py "$dyn/dyn.onnx" --eval 20 --nnport $B/nnport --work "$dyn" && rm -rf "$dyn"
exact_dir=$(mktemp -d) && cls_onnx=${NNPORT_CACHE:-$HOME/.cache/nnport}/npm/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx
cls_data=${NNPORT_CACHE:-$HOME/.cache/nnport}/data/ocr_cls
if [ -f "$cls_onnx" ] && $B/nnport quantize "$cls_onnx" --calib-data "$cls_data/calib" --calibration-method minmax \
       --samples 8 -o "$exact_dir/cls.qdq.onnx" >/dev/null 2>&1; then
    exact_in=(); for f in "$cls_data"/eval/*.npy; do exact_in+=(--input "$f"); done
    step "integer execution vs float64 exact arithmetic of the QDQ graph (ppocr cls)" \
        /usr/bin/python3 tests/exact_check.py "$exact_dir/cls.qdq.onnx" --nnport $B/nnport "${exact_in[@]}"
    step "exact_check catches a corrupted weight" \
        /usr/bin/python3 tests/exact_check.py "$exact_dir/cls.qdq.onnx" --nnport $B/nnport --corrupt-weight "${exact_in[@]:0:4}"
    step "qdq_layers: fake-quant, simulator, ONNX Runtime and exact agree at every tensor (ppocr cls)" \
        /usr/bin/python3 tests/qdq_layers_check.py "$exact_dir/cls.qdq.onnx" --nnport $B/nnport --input "${exact_in[1]}"
else
    step "integer execution vs float64 exact arithmetic (ppocr cls quantize)" false
fi
rm -rf "$exact_dir"
step "conformance" $B/conformance --strict --quiet --json $B/conformance.json "${conf_dirs[@]}"
step "parity (OCR models vs ONNX Runtime)" /usr/bin/python3 tests/parity.py ocr
if [ -x $B/fuzz_onnx ] || [ -x $B/fuzz_npy ]; then
    step "fuzz (short, saved corpora)" bash tests/fuzz/run.sh short
fi

echo
if [ ${#failed_steps[@]} -ne 0 ]; then
    echo "failed steps: ${failed_steps[*]}"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
