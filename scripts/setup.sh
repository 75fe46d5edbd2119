#!/usr/bin/env bash
# nnport: install what a fresh Debian 12 machine lacks for building, testing
# and producing the real models/inputs.  Idempotent and fast (< 2 s) when
# everything is already present.
#
#   scripts/setup.sh            Debian packages + onnxruntime-node
#   NNPORT_CACHE=DIR            cache root (default ~/.cache/nnport)
#   NNPORT_SKIP_APT=1           do not touch Debian packages
#   NNPORT_SKIP_ORT=1           do not install onnxruntime-node
set -euo pipefail

CACHE="${NNPORT_CACHE:-$HOME/.cache/nnport}"
ORT_VERSION=1.30.0
ORT_DIR="$CACHE/ort"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# Debian packages the project needs.  Keep this list the single source of
# truth; add to it rather than installing by hand.
PACKAGES=(
  # build / C libraries
  build-essential clang libclang-rt-14-dev cmake pkg-config
  libnanopb-dev nanopb libcjson-dev libstb-dev
  # ONNX conformance data
  libonnx-testdata
  # model export, training, input preparation (Debian's python only)
  python3 python3-torch python3-torchvision python3-onnx python3-numpy
  python3-skimage python3-pil libopenblas0-pthread
  # photos for the det calibration set (scripts/make_det_eval_text.py --set calib_text)
  opencv-doc
  # rendering text lines, fonts, text corpus
  imagemagick fonts-dejavu-core fonts-dejavu-extra fonts-liberation2 fortunes
  # misc tooling used by demos
  espeak-ng
  # the HTML report is checked in headless Chromium
  chromium
)
# node/npm are needed for the ONNX Runtime oracle; the machine image normally
# ships its own node, so only ask Debian for them when there is none.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm  >/dev/null 2>&1 || PACKAGES+=(npm)

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and sudo is missing: cannot install Debian packages"
  SUDO=(sudo)
fi

if [ "${NNPORT_SKIP_APT:-0}" != 1 ]; then
  command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script expects Debian 12"
  # One dpkg-query call for all packages; anything not "install ok installed"
  # (or unknown to dpkg) is missing.
  mapfile -t INSTALLED < <(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null \
                           | awk '$2=="install" && $3=="ok" && $4=="installed" {print $1}')
  MISSING=()
  for p in "${PACKAGES[@]}"; do
    found=0
    for q in "${INSTALLED[@]}"; do
      # dpkg-query prints "name" (or "name:arch" for multi-arch packages)
      if [ "$q" = "$p" ] || [ "${q%%:*}" = "$p" ]; then found=1; break; fi
    done
    [ $found = 1 ] || MISSING+=("$p")
  done
  if [ ${#MISSING[@]} -gt 0 ]; then
    say "missing Debian packages: ${MISSING[*]}"
    say "apt-get update"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q \
      || die "apt-get update failed"
    say "apt-get install ${MISSING[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${MISSING[@]}" \
      || die "apt-get install failed for: ${MISSING[*]}"
  else
    say "Debian packages: all ${#PACKAGES[@]} present"
  fi
fi

# --- onnxruntime-node (the ONNX Runtime oracle used by scripts/ort_run.js) ---
ort_ok() {
  local pj="$ORT_DIR/node_modules/onnxruntime-node/package.json"
  [ -f "$pj" ] || return 1
  grep -q "\"version\": *\"$ORT_VERSION\"" "$pj" || return 1
  # the native binding for this platform must be inside the npm package
  local arch
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64|arm64) arch=arm64 ;; *) arch="$(uname -m)" ;; esac
  [ -f "$ORT_DIR/node_modules/onnxruntime-node/bin/napi-v6/linux/$arch/onnxruntime_binding.node" ] || return 1
}

if [ "${NNPORT_SKIP_ORT:-0}" != 1 ]; then
  if ort_ok; then
    say "onnxruntime-node@$ORT_VERSION present in $ORT_DIR"
  else
    command -v npm >/dev/null 2>&1 || die "npm not found (install Debian's npm or a Node.js distribution)"
    say "installing onnxruntime-node@$ORT_VERSION into $ORT_DIR (npm, --ignore-scripts)"
    mkdir -p "$ORT_DIR"
    [ -f "$ORT_DIR/package.json" ] || printf '{\n  "name": "nnport-ort",\n  "private": true\n}\n' > "$ORT_DIR/package.json"
    ( cd "$ORT_DIR" && npm install --ignore-scripts --no-audit --no-fund --save-exact "onnxruntime-node@$ORT_VERSION" ) \
      || die "npm install onnxruntime-node@$ORT_VERSION failed"
    ort_ok || die "onnxruntime-node installed but its linux native binding is missing from $ORT_DIR/node_modules/onnxruntime-node/bin"
    # A real load check: the binding must dlopen (libonnxruntime.so.1 next to it).
    ( cd "$ORT_DIR" && node -e "const o=require('onnxruntime-node'); if(!o.InferenceSession) process.exit(1)" ) \
      || die "require('onnxruntime-node') fails; see the error above"
    say "onnxruntime-node@$ORT_VERSION loads"
  fi
fi
say "done"
