#!/usr/bin/env bash
# Sets up, builds the `cloze` CLI in release mode and labels samples/reviews.csv zero-shot with a
# sentiment prompt. Uses the model folder in $CLOZE_MODEL (any Hugging Face BERT / RoBERTa /
# XLM-R / DistilBERT masked-LM checkpoint, e.g. a downloaded bert-base-uncased), or, without one,
# the tiny random RoBERTa test checkpoint, whose predictions are meaningless but show the workflow.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

cargo build --release -p cloze-cli
cloze=target/release/cloze
model="${CLOZE_MODEL:-tests/fixtures/parity/roberta}"
if [ -z "${CLOZE_MODEL:-}" ]; then
  echo "demo: no CLOZE_MODEL set, so using the tiny random test model $model (predictions are noise);"
  echo "      point CLOZE_MODEL at a real checkpoint folder, e.g. bert-base-uncased, for real labels."
fi
"$cloze" inspect --model "$model"
echo
"$cloze" classify --model "$model" --input samples/reviews.csv \
  --template '{text_a} All in all, it was {mask}.' \
  --verbalizer samples/sentiment.verbalizer.json \
  --output target/demo-predictions.jsonl
echo
echo "demo: predictions written to target/demo-predictions.jsonl; the first two:"
head -n 2 target/demo-predictions.jsonl
