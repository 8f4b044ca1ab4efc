#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python) on a GGUF file, for comparison with `cloze bench infer --head last`
and `cloze bench generate` on the same file in the same sitting.

    pip install llama-cpp-python      # builds llama.cpp from source (about 15 min on 2 cores)
    python3 scripts/bench-llamacpp.py MODEL.gguf [--threads N] [--new 32]

Prints one JSON line per case: `score` (8 rows of 128 random ordinary tokens, each evaluated in
turn as llama-cpp-python does, sequences/s) and `generate` (greedy, new tokens/s).
"""
import argparse, json, random, statistics, time

from llama_cpp import Llama

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--new", type=int, default=32)
ap.add_argument("--reps", type=int, default=3)
args = ap.parse_args()

llm = Llama(model_path=args.model, n_threads=args.threads, n_threads_batch=args.threads, n_ctx=512,
            n_batch=512, verbose=False, seed=0)
rng = random.Random(0)
rows = [[rng.randrange(1000, 40000) for _ in range(128)] for _ in range(8)]
rates = []
for _ in range(args.reps):
    t = time.perf_counter()
    for r in rows:
        llm.reset()
        llm.eval(r)
    rates.append(len(rows) / (time.perf_counter() - t))
print(json.dumps({"case": "score", "engine": "llama.cpp", "threads": args.threads, "batch": 8, "seq_len": 128,
                  "sequences_per_s": rates, "median": statistics.median(rates)}))
rates = []
for rep in range(args.reps + 1):
    llm.reset()
    t = time.perf_counter()
    out = llm.create_completion("The capital of France is", max_tokens=args.new, temperature=0.0, top_k=1)
    if rep > 0:  # the first is a warm-up
        rates.append(out["usage"]["completion_tokens"] / (time.perf_counter() - t))
print(json.dumps({"case": "generate", "engine": "llama.cpp", "threads": args.threads,
                  "new_tokens": out["usage"]["completion_tokens"], "tokens_per_s": rates,
                  "median": statistics.median(rates), "text": out["choices"][0]["text"]}))
