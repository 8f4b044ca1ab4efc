#!/usr/bin/env python3
"""bf16 on a real encoder, PyTorch's side: all-MiniLM-L6-v2 (scripts/fetch-weights.sh minilm)
mean-pooled, L2-normalised sentence embeddings of SST-2, in f32 and under
torch.autocast("cpu", dtype=torch.bfloat16); a logistic-regression probe on 16 training rows per
class (seeds 13, 21, 42; the same rows for both precisions) scored on the 872 dev rows. Beside
`cloze tune --strategy probe --shots 16 --seed S --precision f32|bf16` (scripts/bench-bf16-accuracy.sh).

Usage: /tmp/torch-venv/bin/python scripts/bf16-minilm.py --model DIR --data DIR_WITH_train.tsv_dev.tsv
"""
import argparse
import csv
import os
import random

import torch
from transformers import AutoModel, AutoTokenizer

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--data", required=True)
args = ap.parse_args()
torch.set_num_threads(2)
read = lambda n: list(csv.DictReader(open(os.path.join(args.data, n), encoding="utf-8"), delimiter="\t"))
train, dev = read("train.tsv"), read("dev.tsv")
tok = AutoTokenizer.from_pretrained(args.model)
model = AutoModel.from_pretrained(args.model).eval()


def embed(texts, autocast):
    out = []
    for i in range(0, len(texts), 32):
        b = tok(texts[i:i + 32], padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            h = model(**b).last_hidden_state.float()
        m = b["attention_mask"].unsqueeze(-1).float()
        e = (h * m).sum(1) / m.sum(1)
        out.append(torch.nn.functional.normalize(e, dim=-1))
    return torch.cat(out)


def probe(x, y, xd, yd):
    w = torch.zeros(x.shape[1], 2, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w + b, y) + 1e-3 * (w * w).sum()
        loss.backward()
        return loss
    opt.step(closure)
    return ((xd @ w + b).argmax(1) == yd).float().mean().item()


dev_x = {p: embed([r["text"] for r in dev], p) for p in (False, True)}
cos = torch.nn.functional.cosine_similarity(dev_x[False], dev_x[True], dim=-1)
yd = torch.tensor([int(r["label"]) for r in dev])
print(f"embeddings, autocast vs f32: cosine mean {cos.mean():.6f}, min {cos.min():.6f} ({len(dev)} dev rows)")
for seed in (13, 21, 42):
    rng = random.Random(seed)
    rows = [r for c in ("0", "1") for r in rng.sample([r for r in train if r["label"] == c], 16)]
    y = torch.tensor([int(r["label"]) for r in rows])
    acc = {p: probe(embed([r["text"] for r in rows], p), y, dev_x[p], yd) for p in (False, True)}
    print(f"seed {seed}: probe accuracy f32 {acc[False]:.4f}, autocast bf16 {acc[True]:.4f}")
