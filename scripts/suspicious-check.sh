#!/usr/bin/env bash
# Suspicious labels on a real model: ROWS rows of a labelled set (DATASET=agnews: AG News test.csv,
# title + description, 4 topics; DATASET=sst2: SST-2's training file), a seeded sample, imported
# into a fresh project with FLIPS of their labels changed on purpose to another class, then
# `cloze project suspicious` with all-MiniLM-L6-v2 (scripts/fetch-weights.sh minilm). Prints how
# many flips the suspects hold (all of them, and the first FLIPS / 2×FLIPS), and how many suspects
# there are.
# Usage: scripts/suspicious-check.sh   (env: DATASET=agnews, ROWS=500, FLIPS=20, SEED=7, CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${ROWS:-500}"
flips="${FLIPS:-20}"
seed="${SEED:-7}"
dataset="${DATASET:-agnews}"
data_dir="$(cd .. && pwd)/shared/data"
target="${CARGO_TARGET_DIR:-target}"
work="$target/suspicious-check"
rm -rf "$work" && mkdir -p "$work"
cargo build --release -p cloze-cli
bin="$target/release/cloze"
bash scripts/fetch-weights.sh minilm > /dev/null
minilm="$(dirname "$(find "$target/real-weights/minilm" -name config.json -path '*/model/config.json' | head -n 1)")"
bash scripts/cpu-info.sh
python3 - "$dataset" "$data_dir" "$work" "$rows" "$flips" "$seed" <<'PY'
import csv, json, random, sys
dataset, data_dir, work = sys.argv[1], sys.argv[2], sys.argv[3]
rows, flips, seed = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
if dataset == "sst2":
    data = [(r["text"], r["label"]) for r in
            csv.DictReader(open(f"{data_dir}/glue_sst2_TaoCesc/train.tsv", encoding="utf-8"), delimiter="\t")]
    classes = ["0", "1"]
else:
    data = [(f"{title} {desc}".replace("\\", " "), label) for label, title, desc in
            csv.reader(open(f"{data_dir}/ag_news_csv/test.csv", encoding="utf-8"))]
    classes = ["1", "2", "3", "4"]
rng = random.Random(seed)
sample = rng.sample(data, rows)
flipped = set(rng.sample(range(rows), flips))
with open(f"{work}/data.tsv", "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_MINIMAL)
    w.writerow(["id", "text", "label"])
    for i, (text, label) in enumerate(sample):
        if i in flipped:
            label = rng.choice([c for c in classes if c != label])
        w.writerow([f"r{i}", text, label])
json.dump(sorted(f"r{i}" for i in flipped), open(f"{work}/flipped.json", "w"))
open(f"{work}/classes.txt", "w").write(",".join(classes))
PY
"$bin" project new "$work/p.cloze"
"$bin" project import "$work/p.cloze" "$work/data.tsv" --id-column id --text-column text --label-column label \
  --classes "$(cat "$work/classes.txt")" > /dev/null
"$bin" project suspicious "$work/p.cloze" --model "$minilm" --limit 100000 --json > "$work/suspects.jsonl"
python3 - "$work" "$flips" <<'PY'
import json, sys
work, flips = sys.argv[1], int(sys.argv[2])
flipped = set(json.load(open(f"{work}/flipped.json")))
rows = [json.loads(l) for l in open(f"{work}/suspects.jsonl") if l.strip()]
found = [r["id"] for r in rows]
confident = {r["id"] for r in rows if r["confident"]}
hit = lambda k: len(flipped & set(found[:k]))
print(f"{len(found)} suspects; the changed labels among them: {hit(len(found))}/{flips} "
      f"({hit(len(found)) / flips:.0%}); in the first {flips}: {hit(flips)}, the first {2 * flips}: {hit(2 * flips)}; "
      f"{len(confident)} confident suspects hold {len(flipped & confident)}")
PY
