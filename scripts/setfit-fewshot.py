#!/usr/bin/env python3
"""SetFit (the `setfit` library) on the exact few-shot samples `cloze tune --seeds` drew, beside
`cloze tune --strategy contrastive`: each seed folder's train.jsonl (the rows that seed's run
trained on) trains a SetFitModel from the same sentence-transformers folder with SetFit's defaults
(CosineSimilarityLoss, oversampled pairs, body learning rate 2e-5, 1 epoch, batch 16, warmup 0.1,
then scikit-learn's LogisticRegression() on the embeddings), and the dev file is scored. Prints the
accuracy and wall time per seed, then mean ± sample standard deviation.

Usage (a venv with setfit, e.g. `python3 -m venv /tmp/setfit-venv && /tmp/setfit-venv/bin/pip
install setfit==1.2.0`):

    cloze tune --strategy contrastive --model $MINILM --train $SST2/train.tsv --dev $SST2/dev.tsv \
        --shots 16 --seeds 13,21,42 --out runs/contrastive
    /tmp/setfit-venv/bin/python scripts/setfit-fewshot.py --model $MINILM --dev $SST2/dev.tsv \
        runs/contrastive/seed-13 runs/contrastive/seed-21 runs/contrastive/seed-42

The training seed is the folder's (seed-N → N), as cloze's run uses its seed for the sample and the
training; --train-seed fixes one for every folder instead (SetFit's default is 42).

With --protocol DIR (a `cloze bench fewshot --out DIR` folder), every sample DIR/k-K/seed-S/ that
has no setfit.json yet is trained on (its train.jsonl; SetFit uses no dev rows) and scored on
DIR/test.jsonl (the bench's test rows), and the result is written to DIR/k-K/seed-S/setfit.json in
the bench's cell format, so `cloze bench fewshot --out DIR --table-only` shows SetFit's column:

    /tmp/setfit-venv/bin/python scripts/setfit-fewshot.py --model $MINILM --protocol runs/sst2
"""
import argparse
import csv
import json
import os
import re
import statistics
import sys
import tempfile
import time


def read_dev(path):
    """Rows of a TSV/CSV file with `text` (or `sentence`) and `label` columns, or JSONL."""
    if path.endswith(".jsonl"):
        rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
        return [(r.get("text_a") or r.get("text"), str(r["label"])) for r in rows]
    delimiter = "\t" if path.endswith(".tsv") else ","
    reader = csv.DictReader(open(path, encoding="utf-8", newline=""), delimiter=delimiter)
    text = "text" if "text" in reader.fieldnames else "sentence"
    return [(r[text], str(r["label"])) for r in reader]


def read_train(folder):
    rows = [json.loads(line) for line in open(os.path.join(folder, "train.jsonl"), encoding="utf-8") if line.strip()]
    texts = [r["text_a"] if not r.get("text_b") else f"{r['text_a']} {r['text_b']}" for r in rows]
    return texts, [str(r["label"]) for r in rows]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a sentence-transformers model folder (or Hub id)")
    ap.add_argument("--dev", help="dev rows: TSV/CSV with text and label columns, or JSONL "
                    "(with --protocol: default DIR/test.jsonl)")
    ap.add_argument("--protocol", metavar="DIR", help="a `cloze bench fewshot` folder: fill in SetFit's cells")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--iterations", type=int, default=None, help="SetFit's num_iterations (default: oversampling)")
    ap.add_argument("--train-seed", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--column", default="setfit", help="with --protocol: the cells' name, NAME.json "
                    "(e.g. setfit-it20 for a run with --iterations 20; the bench's table shows `setfit`)")
    ap.add_argument("folders", nargs="*", help="seed folders of `cloze tune --seeds` (each with train.jsonl)")
    args = ap.parse_args()
    cells = {}
    if args.protocol:
        if args.folders:
            ap.error("give --protocol DIR or seed folders, not both")
        args.dev = args.dev or os.path.join(args.protocol, "test.jsonl")
        for k_dir in sorted(os.listdir(args.protocol)):
            mk = re.fullmatch(r"k-(\d+)", k_dir)
            if not mk:
                continue
            for seed_dir in sorted(os.listdir(os.path.join(args.protocol, k_dir))):
                ms = re.fullmatch(r"seed-(\d+)", seed_dir)
                folder = os.path.join(args.protocol, k_dir, seed_dir)
                if ms and not os.path.exists(os.path.join(folder, f"{args.column}.json")):
                    cells[folder] = (int(mk.group(1)), int(ms.group(1)))
                    args.folders.append(folder)
        if not args.folders:
            print(f"every sample in {args.protocol} has its {args.column}.json already", file=sys.stderr)
            return
    elif not args.folders or not args.dev:
        ap.error("give --dev and seed folders, or --protocol DIR")

    import torch
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    import setfit

    torch.set_num_threads(args.threads)
    dev = read_dev(args.dev)
    dev_texts, dev_labels = [t for t, _ in dev], [l for _, l in dev]
    print(f"setfit {setfit.__version__}, torch {torch.__version__}, {args.threads} threads; "
          f"{len(dev)} dev rows from {args.dev}", file=sys.stderr)
    accs = []
    for folder in args.folders:
        m = re.search(r"seed-(\d+)", os.path.basename(os.path.normpath(folder)))
        seed = args.train_seed if args.train_seed is not None else (int(m.group(1)) if m else 42)
        texts, labels = read_train(folder)
        started = time.time()
        model = SetFitModel.from_pretrained(args.model)
        with tempfile.TemporaryDirectory() as out:
            targs = TrainingArguments(
                output_dir=out,
                batch_size=args.batch_size,
                num_epochs=args.epochs,
                num_iterations=args.iterations,
                seed=seed,
                report_to="none",
                save_strategy="no",
                show_progress_bar=False,
            )
            trainer = Trainer(model=model, args=targs,
                              train_dataset=Dataset.from_dict({"text": texts, "label": labels}))
            trainer.train()
        trained = time.time() - started
        predicted = [str(p) for p in model.predict(dev_texts, batch_size=32)]
        acc = sum(p == l for p, l in zip(predicted, dev_labels)) / len(dev_labels)
        accs.append(acc)
        if folder in cells:
            k, sample_seed = cells[folder]
            f1s = []
            for c in sorted(set(dev_labels)):
                tp = sum(p == c and l == c for p, l in zip(predicted, dev_labels))
                fp = sum(p == c and l != c for p, l in zip(predicted, dev_labels))
                fn = sum(p != c and l == c for p, l in zip(predicted, dev_labels))
                f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
            dev_rows = sum(1 for line in open(os.path.join(folder, "dev.jsonl"), encoding="utf-8") if line.strip())
            result = {"method": args.column, "k": k, "seed": sample_seed, "train_rows": len(texts),
                      "dev_rows": dev_rows, "test_rows": len(dev_labels), "accuracy": acc,
                      "macro_f1": sum(f1s) / len(f1s), "seconds": time.time() - started}
            path = os.path.join(folder, f"{args.column}.json")
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                json.dump(result, f, indent=2)
            os.replace(path + ".tmp", path)
        print(f"{folder}: seed {seed}, {len(texts)} training rows: dev accuracy {100 * acc:.2f} % "
              f"(training {trained:.1f} s, with scoring {time.time() - started:.1f} s)")
    if len(accs) > 1:
        print(f"mean {100 * statistics.mean(accs):.1f} ± {100 * statistics.stdev(accs):.1f} % over {len(accs)} seeds")


if __name__ == "__main__":
    main()
