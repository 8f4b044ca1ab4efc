#!/usr/bin/env python3
"""PyTorch's bf16 accuracy cost on the parity fixtures, beside cloze's (tests/precision.rs):
for each masked-LM and decoder fixture, the probabilities over its label words (each word's first
token's logit at the mask, or at the last token for a decoder) under
torch.autocast("cpu", dtype=torch.bfloat16), against transformers in f32 (reference.json).

Usage: /tmp/torch-venv/bin/python scripts/bf16-accuracy.py   (from the repository root)
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
repo = os.path.join(root, "tests", "fixtures", "parity")
shared = os.path.join(root, "..", "shared", "fixtures", "parity")
names = ["bert", "roberta", "distilbert", "xlm-roberta", "albert", "gpt2", "llama", "qwen2", "gemma3"]


def probs(logits):
    return torch.softmax(logits.float(), -1)


worst_all = {}
for name in names:
    d = os.path.join(repo, name)
    if not os.path.isdir(d):
        d = os.path.join(shared, name)
    ref = json.load(open(os.path.join(d, "reference.json")))
    mlm = ref.get("kind") == "mlm" or name == "bert"
    cls = AutoModelForMaskedLM if mlm else AutoModelForCausalLM
    model = cls.from_pretrained(d, torch_dtype=torch.float32).eval()
    worst_ref = worst_f32 = 0.0
    for case in ref["cases"]:
        ids = torch.tensor([case["input_ids"]])
        pos = case["position"]
        words = ref["label_words"]
        first = [case["label_word_ids"][w][0] for w in words]
        want = probs(torch.tensor([case["label_word_logits"][w][0] for w in words]))
        with torch.inference_mode():
            f32 = probs(model(input_ids=ids).logits[0, pos, first])
            with torch.autocast("cpu", dtype=torch.bfloat16):
                bf16 = probs(model(input_ids=ids).logits[0, pos, first])
        worst_ref = max(worst_ref, (bf16 - want).abs().max().item())
        worst_f32 = max(worst_f32, (bf16 - f32).abs().max().item())
    worst_all[name] = worst_ref
    print(f"{name}: torch autocast bf16 |Δ class probability| vs transformers f32 (reference.json) {worst_ref:.1e}"
          f" (vs this torch in f32 {worst_f32:.1e})", flush=True)
print(json.dumps({"torch": torch.__version__, "autocast_vs_f32": worst_all}))
