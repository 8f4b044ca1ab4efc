#!/usr/bin/env bash
# One training step, PyTorch (../shared/bench/bench.py --case prompt_tuning_step / full_finetune_step)
# and cloze (`cloze bench tune`) alternately on the same random bert-base weights, batch 8 × 128
# tokens + 20 soft tokens, mask head; prints steps/s, peak memory and the ratios.
#
# Needs the PyTorch set-up of ../shared/bench/README.md (see scripts/bench-compare.sh).
# Usage: scripts/bench-tune.sh [rounds]   (env: VENV, BENCH_DIR, MODEL, PROFILE=release|dev)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-1}"
venv="${VENV:-/tmp/torch-venv}"
export BENCH_DIR="${BENCH_DIR:-/tmp/bench}"
model="${MODEL:-bert-base}"
profile="${PROFILE:-release}"
bench_dir="$(cd .. && pwd)/shared/bench"
out="target/bench-tune-$(date +%Y%m%dT%H%M%S).jsonl"

if [ "$profile" = release ]; then cargo build --release -p cloze-cli; bin=target/release/cloze
else cargo build -p cloze-cli; bin=target/debug/cloze; fi
for round in $(seq "$rounds"); do
  for case in prompt_tuning_step full_finetune_step; do
    echo "round $round, $case: pytorch" >&2
    (cd "$bench_dir" && "$venv/bin/python" bench.py --case "$case" --model "$model" --head mask) \
      | grep '^RESULT ' | tail -n 1 | sed -e 's/^RESULT //' -e 's/^{/{"impl": "pytorch", /' >> "$out"
    echo "round $round, $case: cloze" >&2
    "$bin" bench tune --case "${case//_/-}" --model "$BENCH_DIR/models/$model" --reps 4 \
      | sed -e 's/^{/{"impl": "cloze", /' >> "$out"
  done
done
bash scripts/cpu-info.sh
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for case in ("prompt_tuning_step", "full_finetune_step"):
    t = [r for r in rows if r["case"] == case and r["impl"] == "pytorch"]
    c = [r for r in rows if r["case"] == case and r["impl"] == "cloze"]
    for a, b in zip(t, c):
        print(f"{case}: pytorch {1 / a['median_s']:.3f} steps/s ({a['peak_rss_mib']:.0f} MiB), "
              f"cloze {1 / b['median_s']:.3f} steps/s ({b['peak_rss_mib']:.0f} MiB), ratio {a['median_s'] / b['median_s']:.2f}x")
print(f"results: {sys.argv[1]}")
PY
