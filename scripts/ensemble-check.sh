#!/usr/bin/env bash
# Template ensembles and distillation on real models (issue 16's acceptance):
#   1. three SST-2 prompts (samples/sst2-ensemble.members.json) on SmolLM2-135M-Instruct (GGUF,
#      scripts/fetch-weights.sh smollm2), weights fitted on SHOTS rows per class of SST-2's training
#      file (seed 42), every member and every weighting scored on the 872-row dev set;
#   2. distillation: the dev-accuracy ensemble labels UNLABELLED rows of the training file (rows
#      2001 on, their labels dropped) with soft labels,
#      and a probe on all-MiniLM-L6-v2 (scripts/fetch-weights.sh minilm) trains on them plus the same
#      SHOTS-per-class sample; beside it the same probe on the labelled sample alone. Both scored on
#      the dev set.
# Usage: scripts/ensemble-check.sh   (env: SHOTS=16, UNLABELLED=500, CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
shots="${SHOTS:-16}"
unlabelled="${UNLABELLED:-500}"
data="$(cd .. && pwd)/shared/data/glue_sst2_TaoCesc"
target="${CARGO_TARGET_DIR:-target}"
work="$target/ensemble-check"
rm -rf "$work" && mkdir -p "$work"
cargo build --release -p cloze-cli
bin="$target/release/cloze"
bash scripts/fetch-weights.sh smollm2 minilm > /dev/null
gguf="$(find "$target/real-weights/smollm2" -name '*.gguf' | head -n 1)"
minilm="$(dirname "$(find "$target/real-weights/minilm" -name config.json -path '*/model/config.json' | head -n 1)")"
bash scripts/cpu-info.sh
echo "== 1. ensemble of three prompts, SmolLM2-135M-Instruct, fitted on $shots rows per class"
"$bin" ensemble fit --model "$gguf" --members samples/sst2-ensemble.members.json \
  --input "$data/train.tsv" --per-class "$shots" --seed 42 --eval "$data/dev.tsv" \
  --weighting dev-accuracy --output "$work/ensemble.json" --force
{ head -n 1 "$data/train.tsv"; tail -n +2001 "$data/train.tsv" | head -n "$unlabelled"; } > "$work/unlabelled.tsv"
echo "== 2. distillation into a probe on all-MiniLM-L6-v2 ($unlabelled unlabelled rows)"
for kind in labelled-only distilled; do
  extra=()
  [ "$kind" = distilled ] && extra=(--distill "$work/ensemble.json" --teacher-model "$gguf" --unlabelled "$work/unlabelled.tsv")
  "$bin" tune --strategy probe --model "$minilm" --train "$data/train.tsv" --shots "$shots" --seed 42 \
    --dev "$data/dev.tsv" --out "$work/probe-$kind" "${extra[@]}" 2>&1 | grep -E '^dev|^distillation' | sed -e "s/^/$kind: /"
done
