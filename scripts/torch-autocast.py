#!/usr/bin/env python3
"""Runs one case of ../shared/bench/bench.py inside torch.autocast("cpu", dtype=torch.bfloat16):
PyTorch's own reduced precision, beside `cloze bench … --precision bf16` in scripts/bench-bf16.sh.

Takes bench.py's own arguments (e.g. `--case mlm_infer --model bert-base --head mask`). The
whole case runs under autocast — the forward pass, the loss and the backward pass, as a user wraps
a training step — with f32 parameters and optimiser state, as autocast keeps them. The RESULT line
gains "precision": "bf16-autocast".
"""
import contextlib
import io
import json
import os
import sys

bench_dir = os.environ.get("BENCH_PY_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench")
sys.path.insert(0, os.path.abspath(bench_dir))

import torch  # noqa: E402

import bench  # noqa: E402

out = io.StringIO()
with contextlib.redirect_stdout(out), torch.autocast("cpu", dtype=torch.bfloat16):
    bench.main()
for line in out.getvalue().splitlines():
    if line.startswith("RESULT "):
        res = json.loads(line[len("RESULT "):])
        res["precision"] = "bf16-autocast"
        print("RESULT " + json.dumps(res), flush=True)
    else:
        print(line)
