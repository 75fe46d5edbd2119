#!/usr/bin/env bash
# make conformance: every ONNX backend-test case of ../shared/onnx-tests
# (ONNX 1.23) and of Debian's libonnx-testdata, then docs/CONFORMANCE.md.
# Ends with "conformance: P passed, F failed, S skipped" over both suites.
set -u
cd "$(dirname "$0")/.."
shared=()
for d in ../shared/onnx-tests/node ../shared/onnx-tests/pytorch-converted ../shared/onnx-tests/pytorch-operator \
         ../shared/onnx-tests/simple; do
    [ -d "$d" ] && shared+=("$d")
done
# data/real holds only download links (no models), so it is not listed.
debian=()
for d in node pytorch-converted pytorch-operator simple; do
    [ -d /usr/share/libonnx-testdata/data/$d ] && debian+=(/usr/share/libonnx-testdata/data/$d)
done
jsons=()
if [ ${#shared[@]} -gt 0 ]; then
    echo "ONNX 1.23 backend tests (${shared[*]}):"
    build/conformance --quiet --json build/conformance-onnx123.json "${shared[@]}" | tail -n 1
    jsons+=(build/conformance-onnx123.json)
fi
if [ ${#debian[@]} -gt 0 ]; then
    echo "Debian libonnx-testdata (${debian[*]}):"
    build/conformance --quiet --json build/conformance-debian.json "${debian[@]}" | tail -n 1
    jsons+=(build/conformance-debian.json)
fi
/usr/bin/python3 scripts/conformance_report.py docs/CONFORMANCE.md "${jsons[@]}"
