#!/usr/bin/env python3
"""bf16 on a real model, PyTorch's side: SmolLM2-135M-Instruct (the GGUF file of
scripts/fetch-weights.sh, dequantised to f32 by transformers) labels SST-2 dev rows zero-shot with
the prompt "Review: {text}\\nSentiment:" and the label words " negative" / " positive", in f32
and under torch.autocast("cpu", dtype=torch.bfloat16). Prints accuracy, how often the two agree
and the largest class-probability difference; with --cloze F32.jsonl BF16.jsonl (the output of
`cloze classify … --precision f32|bf16` on the same rows) the same for cloze beside it.

Usage: /tmp/torch-venv/bin/python scripts/bf16-real.py --gguf FILE --data DEV.tsv [--rows 200]
           [--cloze F32.jsonl BF16.jsonl]
"""
import argparse
import csv
import json
import os

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ap = argparse.ArgumentParser()
ap.add_argument("--gguf", required=True)
ap.add_argument("--data", required=True)
ap.add_argument("--rows", type=int, default=200)
ap.add_argument("--cloze", nargs=2, metavar=("F32", "BF16"))
args = ap.parse_args()
torch.set_num_threads(2)

rows = list(csv.DictReader(open(args.data, encoding="utf-8"), delimiter="\t"))[: args.rows]
d, f = os.path.dirname(args.gguf), os.path.basename(args.gguf)
tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32).eval()
words = [tok.encode(" negative", add_special_tokens=False)[0], tok.encode(" positive", add_special_tokens=False)[0]]


def run(autocast):
    out = []
    for r in rows:
        ids = torch.tensor([tok.encode(f"Review: {r['text']}\nSentiment:", add_special_tokens=False)])
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = model(input_ids=ids).logits[0, -1, words].float()
        out.append(torch.softmax(logits, -1).tolist())
    return out


def summary(name, p32, p16, labels):
    acc = lambda ps: sum(int(max(range(2), key=lambda c: p[c]) == int(l)) for p, l in zip(ps, labels)) / len(labels)
    agree = sum(int((a[1] > a[0]) == (b[1] > b[0])) for a, b in zip(p32, p16)) / len(labels)
    worst = max(abs(x - y) for a, b in zip(p32, p16) for x, y in zip(a, b))
    print(f"{name}: accuracy f32 {acc(p32):.4f}, bf16 {acc(p16):.4f}; same prediction on {agree:.1%} of rows; "
          f"largest |Δ class probability| {worst:.1e}  ({len(labels)} rows)")


labels = [r["label"] for r in rows]
summary("pytorch (autocast)", run(False), run(True), labels)
if args.cloze:
    load = lambda p: [[json.loads(l)["probs"]["0"], json.loads(l)["probs"]["1"]] for l in open(p)]
    summary("cloze (--precision)", load(args.cloze[0]), load(args.cloze[1]), labels)
