#!/usr/bin/env python3
"""Checks `cloze export model` and `cloze export job` against Hugging Face's own stack.

1. Model folder: a prompt-based fine-tuning run (BERT fixture, 2 updates) exported with
   `cloze export model`; `AutoModelForMaskedLM.from_pretrained` loads the folder and its label-word
   logits at the mask are compared with `cloze classify --model FOLDER` on the same rows (≤ 1e-4).
2. Job: a soft-prompt run (RoBERTa fixture, soft vectors before the input, as PEFT puts them) and
   the fine-tuning run, each exported with `cloze export job` and run for 2 steps with
   `accelerate launch train.py` on the CPU; its losses are compared with `cloze tune`'s (same seed
   and rows, dropout 0; ≤ 1e-3), and the adapter it saves is read back with `cloze import prompt`.

    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
    cargo build -p cloze-cli
    /tmp/torch-venv/bin/python scripts/export-parity.py [--cloze $CARGO_TARGET_DIR/debug/cloze] [--work DIR]

Needs torch, transformers, peft, accelerate and datasets in the Python that runs it (accelerate's
launcher is taken from beside it). Prints the figures and exits 1 when one exceeds its tolerance.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys

import torch
from transformers import AutoModelForMaskedLM

ROOT = pathlib.Path(__file__).resolve().parent.parent
LOGIT_TOLERANCE = 1e-4
LOSS_TOLERANCE = 1e-3
TEMPLATE = "{text_a} It was {mask}."
STEPS = 2


def run(cmd, cwd=None):
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(map(str, cmd))}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def tune(cloze, work, name, strategy, model, template, extra=()):
    out = work / name
    run([cloze, "tune", "--strategy", strategy, "-m", ROOT / "tests/fixtures/parity" / model,
         "--train", ROOT / "samples/reviews.csv", "--template", template,
         "--verbalizer", ROOT / "samples/sentiment.verbalizer.json", "--max-steps", STEPS,
         "--batch-size", 4, "--seed", 5, "--dropout", 0, "--dev-fraction", 0.25, "--out", out, *extra])
    return out


def losses(path, key="step"):
    lines = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    return [l["loss"] for l in lines if key in l and l.get("kind", "step") == "step"]


def job_losses(cloze, work, run_dir, name):
    job = work / name
    run([cloze, "export", "job", run_dir, "--output", job])
    accelerate = pathlib.Path(sys.executable).parent / "accelerate"
    run([accelerate, "launch", "--cpu", "--num_processes", 1, "train.py", "--max-steps", STEPS,
         "--output", "out"], cwd=job)
    ours, theirs = losses(run_dir / "metrics.jsonl"), losses(job / "metrics.jsonl")
    return job, ours, theirs


def rows_by_id(job):
    rows = {}
    for f in ("train.jsonl", "dev.jsonl"):
        for line in (job / f).read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                rows[r["id"]] = r
    return rows


def model_logit_delta(cloze, work, ft_run, ft_job):
    folder = work / "ft-model"
    run([cloze, "export", "model", ft_run, "--output", folder])
    preds = [json.loads(l) for l in run([cloze, "classify", "-m", folder, "--template", TEMPLATE,
             "--verbalizer", ROOT / "samples/sentiment.verbalizer.json",
             "--input", ROOT / "samples/reviews.csv"]).splitlines() if l.strip()]
    job = json.loads((ft_job / "job.json").read_text())
    words = json.loads((ROOT / "samples/sentiment.verbalizer.json").read_text())
    word_ids = [w["ids"][0] for w in job["words"]]
    names = [w for c in job["classes"] for w in words[c]]
    model = AutoModelForMaskedLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    rows = rows_by_id(ft_job)
    worst = 0.0
    with torch.no_grad():
        for p in preds:
            r = rows[p["id"]]
            logits = model(input_ids=torch.tensor([r["input_ids"]])).logits[0, r["mask_position"]]
            hf = logits[word_ids]
            cloze_logits = torch.tensor([p["label_word_logits"][n][0] for n in names])
            worst = max(worst, (hf - cloze_logits).abs().max().item())
    return worst, len(preds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cloze", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "debug", "cloze"))
    ap.add_argument("--work", default="/tmp/cloze-export-parity")
    args = ap.parse_args()
    cloze = pathlib.Path(args.cloze).resolve()
    work = pathlib.Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    failed = False

    ft = tune(cloze, work, "ft-run", "finetune", "bert", TEMPLATE)
    soft = tune(cloze, work, "soft-run", "soft-prompt", "roberta", "{soft:3} " + TEMPLATE,
                ["--soft-placement", "before-input"])

    ft_job, ours, theirs = job_losses(cloze, work, ft, "ft-job")
    delta, n = model_logit_delta(cloze, work, ft, ft_job)
    ok = delta <= LOGIT_TOLERANCE
    failed |= not ok
    print(f"model folder (bert, finetune): label-word logits, transformers vs cloze, {n} rows: max |Δ| {delta:.2e} "
          f"{'ok' if ok else 'FAILED'}")

    for name, run_dir, job in [("soft-prompt (roberta, PEFT)", soft, None), ("finetune (bert)", ft, ft_job)]:
        if job is None:
            job, ours, theirs = job_losses(cloze, work, run_dir, "soft-job")
        else:
            ours, theirs = losses(run_dir / "metrics.jsonl"), losses(job / "metrics.jsonl")
        deltas = [abs(a - b) for a, b in zip(ours, theirs)]
        ok = len(ours) == len(theirs) == STEPS and max(deltas) <= LOSS_TOLERANCE
        failed |= not ok
        pairs = ", ".join(f"{a:.6f} vs {b:.6f}" for a, b in zip(ours, theirs))
        print(f"job {name}: losses cloze tune vs accelerate launch train.py: {pairs}; max |Δ| "
              f"{max(deltas, default=float('nan')):.2e} {'ok' if ok else 'FAILED'}")

    back = work / "soft-imported"
    run([cloze, "import", "prompt", work / "soft-job" / "out", "--out", back, "--template", TEMPLATE,
         "--verbalizer", ROOT / "samples/sentiment.verbalizer.json"])
    n = len(run([cloze, "classify", "--prompt", back, "--input", ROOT / "samples/reviews.csv"]).splitlines())
    print(f"the job's adapter: `cloze import prompt` read it back; classified {n} rows with it")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
