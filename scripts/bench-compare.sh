#!/usr/bin/env bash
# Runs `cloze bench infer` and the PyTorch baseline (../shared/bench/bench.py --case mlm_infer)
# alternately on the same random bert-base weights and prints the ratios. The machine is shared
# and noisy, so only ratios from one run mean anything.
#
# Needs the PyTorch set-up of ../shared/bench/README.md:
#   python3 -m venv /tmp/torch-venv && /tmp/torch-venv/bin/pip install torch transformers safetensors tokenizers numpy
#   BENCH_DIR=/tmp/bench /tmp/torch-venv/bin/python ../shared/bench/make_models.py
# Usage: scripts/bench-compare.sh [rounds]   (env: VENV, BENCH_DIR, MODEL, REPS)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-2}"
venv="${VENV:-/tmp/torch-venv}"
export BENCH_DIR="${BENCH_DIR:-/tmp/bench}"
model="${MODEL:-bert-base}"
reps="${REPS:-5}"
bench_py="$(cd .. && pwd)/shared/bench/bench.py"
out="target/bench-compare-$(date +%Y%m%dT%H%M%S).jsonl"

cargo build --release -p cloze-cli
for round in $(seq "$rounds"); do
  for head in mask full; do
    echo "round $round, $head head: pytorch" >&2
    "$venv/bin/python" "$bench_py" --case mlm_infer --model "$model" --head "$head" --warmup 1 --reps "$reps" \
      | grep '^RESULT ' | tail -n 1 | sed -e 's/^RESULT //' -e 's/^{/{"impl": "pytorch", /' >> "$out"
    echo "round $round, $head head: cloze" >&2
    target/release/cloze bench infer --model "$BENCH_DIR/models/$model" --head "$head" --warmup 1 --reps "$reps" --json >> "$out"
  done
done
bash scripts/cpu-info.sh
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault((r["impl"], r["head"]), []).append(r["throughput_median"])
med = {k: statistics.median(v) for k, v in by.items()}
print(f"results: {sys.argv[1]}")
for k, v in sorted(by.items()):
    print(f"  {k[0]:8} {k[1]:5} head: {', '.join(f'{x:.3f}' for x in v)} seq/s (median {med[k]:.3f})")
def ratio(a, b):
    return med[a] / med[b] if a in med and b in med else float('nan')
print(f"cloze mask / pytorch mask: {ratio(('cloze','mask'), ('pytorch','mask')):.3f}x  (target >= 1.0)")
print(f"cloze mask / pytorch full: {ratio(('cloze','mask'), ('pytorch','full')):.3f}x  (target >= 2.0)")
print(f"cloze full / pytorch full: {ratio(('cloze','full'), ('pytorch','full')):.3f}x")
PY
