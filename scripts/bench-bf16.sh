#!/usr/bin/env bash
# bf16 beside f32, for cloze (`--precision bf16`) and PyTorch (`torch.autocast("cpu",
# dtype=torch.bfloat16)`, scripts/torch-autocast.py around ../shared/bench/bench.py), alternately on
# the same random bert-base: inference on the mask head (batch 32 × 128), the soft-prompt step and
# the full fine-tuning step (batch 8 × 128 + 20 soft tokens). Prints each figure, the speed-ups and
# the ratios, with the CPU (bf16 is fast only with AVX512_BF16; elsewhere cloze emulates it).
#
# Needs the PyTorch set-up of ../shared/bench/README.md (see scripts/bench-compare.sh).
# Usage: scripts/bench-bf16.sh [rounds]   (env: VENV, BENCH_DIR, MODEL, REPS, CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-1}"
venv="${VENV:-/tmp/torch-venv}"
export BENCH_DIR="${BENCH_DIR:-/tmp/bench}"
model="${MODEL:-bert-base}"
reps="${REPS:-4}"
bench_dir="$(cd .. && pwd)/shared/bench"
autocast="$(pwd)/scripts/torch-autocast.py"
target="${CARGO_TARGET_DIR:-target}"
mkdir -p target
out="target/bench-bf16-$(date +%Y%m%dT%H%M%S).jsonl"

cargo build --release -p cloze-cli
bin="$target/release/cloze"
torch_case() { # precision case extra-args...
  local precision="$1" case="$2"; shift 2
  local runner=(bench.py)
  [ "$precision" = bf16 ] && runner=("$autocast")
  (cd "$bench_dir" && "$venv/bin/python" "${runner[@]}" --case "$case" --model "$model" "$@") \
    | grep '^RESULT ' | tail -n 1 | sed -e 's/^RESULT //' \
    | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); r.update(impl='pytorch', precision='$precision'); print(json.dumps(r))" >> "$out"
}
for round in $(seq "$rounds"); do
  for precision in f32 bf16; do
    echo "round $round, $precision: inference" >&2
    torch_case "$precision" mlm_infer --head mask --warmup 1 --reps "$reps"
    "$bin" bench infer --model "$BENCH_DIR/models/$model" --head mask --warmup 1 --reps "$reps" \
      --precision "$precision" --json >> "$out"
    for case in prompt_tuning_step full_finetune_step; do
      echo "round $round, $precision: $case" >&2
      torch_case "$precision" "$case" --head mask --reps "$reps"
      "$bin" bench tune --case "${case//_/-}" --model "$BENCH_DIR/models/$model" --reps "$reps" \
        --precision "$precision" | sed -e 's/^{/{"impl": "cloze", /' >> "$out"
    done
  done
done
bash scripts/cpu-info.sh
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def rate(r):
    return r["throughput_median"] if r["case"] == "mlm_infer" else 1 / r["median_s"]
by = {}
for r in rows:
    by.setdefault((r["case"], r["impl"], r["precision"]), []).append((rate(r), r.get("peak_rss_mib") or 0))
units = {"mlm_infer": "seq/s", "prompt_tuning_step": "steps/s", "full_finetune_step": "steps/s"}
print(f"results: {sys.argv[1]}")
for case in units:
    med = {}
    for impl in ("pytorch", "cloze"):
        for p in ("f32", "bf16"):
            xs = by.get((case, impl, p), [])
            if not xs:
                continue
            med[impl, p] = statistics.median(x for x, _ in xs)
            print(f"  {case:20} {impl:8} {p:5}: {', '.join(f'{x:.3f}' for x, _ in xs)} {units[case]}"
                  f" (peak {max(m for _, m in xs):.0f} MiB)")
    g = lambda a, b: med[a] / med[b] if a in med and b in med else float("nan")
    print(f"  {case:20} bf16 speed-up: cloze {g(('cloze','bf16'), ('cloze','f32')):.2f}x, "
          f"pytorch autocast {g(('pytorch','bf16'), ('pytorch','f32')):.2f}x; "
          f"cloze bf16 / pytorch autocast {g(('cloze','bf16'), ('pytorch','bf16')):.2f}x; "
          f"cloze f32 / pytorch f32 {g(('cloze','f32'), ('pytorch','f32')):.2f}x")
PY
