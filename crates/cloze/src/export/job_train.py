#!/usr/bin/env python3
"""Trains a Cloze Studio run with transformers + peft + accelerate; written by `cloze export job`.

    accelerate launch train.py [--output out] [--max-steps N]

Runs unchanged on one CPU or many GPUs (`accelerate config` once). Reads job.json, train.jsonl,
dev.jsonl and initial_adapter/ (a soft-prompt run) or model/ (fine-tuning) beside it. The batches
follow Cloze Studio's order (a SplitMix64 shuffle of the rows per epoch from the run's seed); the
loss is the cross-entropy over the verbalizer's classes, scored from the label words' logits at the
mask; AdamW with linear warmup and decay, global-norm clipping. Writes metrics.jsonl (one line per
update) and the trained adapter or model into --output.
"""
import argparse
import json
import math
import pathlib

import torch
from accelerate import Accelerator
from datasets import load_dataset
from transformers import AutoModelForMaskedLM, get_linear_schedule_with_warmup

HERE = pathlib.Path(__file__).resolve().parent
MASK64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        return (self.next_u64() * n) >> 64


def epoch_order(n, seed, epoch):
    """The rows' order in `epoch`, as Cloze Studio shuffles them."""
    order = list(range(n))
    rng = SplitMix64(seed ^ (((epoch + 1) * 0x9E3779B97F4A7C15) & MASK64))
    for i in range(n - 1, 0, -1):
        j = rng.below(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def class_scores(logits, job):
    """Class scores [batch, classes] from the logits at the mask [batch, vocab]."""
    words = []
    for w in job["words"]:
        x = logits[:, w["ids"]]
        multi = job["multi_token"]
        if multi in ("first", "auto"):
            words.append(x[:, 0])
        elif multi == "mean":
            words.append(x.mean(1))
        elif multi == "max":
            words.append(x.max(1).values)
        else:
            words.append(x.sum(1))
    word_logp = torch.log_softmax(torch.stack(words, 1), dim=-1)
    classes = []
    for c in range(len(job["classes"])):
        idx = [i for i, w in enumerate(job["words"]) if w["class"] == c]
        lp = word_logp[:, idx]
        if job["aggregate"] == "mean-prob":
            classes.append(torch.logsumexp(lp, 1) - math.log(len(idx)))
        elif job["aggregate"] == "mean-log-prob":
            classes.append(lp.mean(1))
        else:
            classes.append(lp.max(1).values)
    return torch.stack(classes, 1)


def collate(rows, pad_id, device):
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r["input_ids"])] = torch.tensor(r["input_ids"])
        mask[i, : len(r["input_ids"])] = 1
    at = torch.tensor([r["mask_position"] for r in rows])
    labels = torch.tensor([r["label_id"] for r in rows])
    return ids.to(device), mask.to(device), at.to(device), labels.to(device)


def scores(model, rows, job, virtual, device):
    ids, mask, at, labels = collate(rows, job["pad_id"], device)
    logits = model(input_ids=ids, attention_mask=mask).logits
    # PEFT's prompt tuning puts its virtual tokens before the input: the mask moves by as many.
    at_mask = logits[torch.arange(len(rows), device=device), at + virtual]
    return class_scores(at_mask.float(), job), labels


def decays(name):
    """Cloze Studio's rule: no weight decay on biases and normalisation weights."""
    return not (name.endswith(".bias") or "norm" in name or "LayerNorm" in name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", default="out", help="where to save the trained adapter or model")
    ap.add_argument("--max-steps", type=int, help="stop after this many updates (the schedule keeps the job's)")
    args = ap.parse_args()
    job = json.loads((HERE / "job.json").read_text())
    hyper = job["hyper"]
    # A run trained with --precision bf16 continues under bf16 autocast (f32 master weights), as
    # Cloze Studio trained it; f32 otherwise.
    accelerator = Accelerator(mixed_precision="bf16" if job.get("precision") == "bf16" else "no")
    torch.manual_seed(hyper["seed"] & 0xFFFFFFFF)
    files = {"train": str(HERE / "train.jsonl")}
    if (HERE / "dev.jsonl").stat().st_size > 0:
        files["dev"] = str(HERE / "dev.jsonl")
    data = load_dataset("json", data_files=files)
    train = data["train"].to_list()
    dev = data["dev"].to_list() if "dev" in data else []

    if job["start"] == "initial_adapter":
        from peft import PeftConfig, get_peft_model, set_peft_model_state_dict
        from safetensors.torch import load_file

        # PEFT loads a prompt-learning adapter frozen only: build it trainable, then set its vectors.
        config = PeftConfig.from_pretrained(str(HERE / "initial_adapter"))
        config.inference_mode = False
        base = AutoModelForMaskedLM.from_pretrained(
            config.base_model_name_or_path, revision=config.revision, dtype=torch.float32
        )
        model = get_peft_model(base, config)
        set_peft_model_state_dict(model, load_file(str(HERE / "initial_adapter" / "adapter_model.safetensors")))
        virtual = config.num_virtual_tokens
    else:
        model = AutoModelForMaskedLM.from_pretrained(str(HERE / "model"), dtype=torch.float32)
        virtual = 0
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = job["dropout"]
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if decays(n)], "weight_decay": hyper["weight_decay"]},
        {"params": [p for n, p in named if not decays(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=hyper["learning_rate"], betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, job["warmup_steps"], job["total_steps"])
    model, opt = accelerator.prepare(model, opt)
    device = accelerator.device

    n, bs, accum = len(train), hyper["batch_size"], hyper["grad_accumulation"]
    spe, total = job["steps_per_epoch"], job["total_steps"]
    stop = min(total, args.max_steps) if args.max_steps else total
    out = pathlib.Path(args.output)
    metrics = open(HERE / "metrics.jsonl", "w") if accelerator.is_main_process else None
    model.train()
    order, order_epoch = [], None
    rank, world = accelerator.process_index, accelerator.num_processes
    for step in range(stop):
        epoch, within = step // spe, step % spe
        if epoch != order_epoch:
            order, order_epoch = epoch_order(n, hyper["seed"], epoch), epoch
        batches = []
        for a in range(accum):
            start = (within * accum + a) * bs
            if start >= n:
                break
            batches.append(order[start : start + bs])
        losses = []
        for batch in batches:
            # Each process takes its share of the batch's rows; DDP averages the gradients.
            rows = [train[i] for i in batch[rank::world]] or [train[batch[0]]]
            s, labels = scores(model, rows, job, virtual, device)
            loss = torch.nn.functional.cross_entropy(s, labels)
            accelerator.backward(loss / len(batches))
            losses.append(accelerator.gather(loss.detach()[None]).mean().item())
        if hyper["max_grad_norm"] > 0:
            norm = accelerator.clip_grad_norm_(model.parameters(), hyper["max_grad_norm"])
        else:
            norm = torch.tensor(float("nan"))
        lr = sched.get_last_lr()[0]
        opt.step()
        sched.step()
        opt.zero_grad()
        line = {"step": step + 1, "epoch": epoch + 1, "loss": sum(losses) / len(losses), "learning_rate": lr,
                "grad_norm": float(norm)}
        if metrics:
            metrics.write(json.dumps(line) + "\n")
            metrics.flush()
        accelerator.print(json.dumps(line))

    if dev:
        model.eval()
        right = 0
        with torch.no_grad():
            for i in range(0, len(dev), 32):
                s, labels = scores(model, dev[i : i + 32], job, virtual, device)
                right += (s.argmax(1) == labels).sum().item()
        accelerator.print(json.dumps({"dev_accuracy": right / len(dev), "dev_rows": len(dev)}))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(str(out))
        if job["start"] == "model":
            for f in (HERE / "model").iterdir():
                if f.name.startswith(("tokenizer", "vocab", "merges", "special_tokens", "spiece")):
                    (out / f.name).write_bytes(f.read_bytes())
        accelerator.print(f"saved {out}")


if __name__ == "__main__":
    main()
