#!/usr/bin/env python3
"""PEFT parity: loads each adapter Cloze Studio exported with `PeftModel.from_pretrained` on the
same tiny fixture and compares PEFT's logits with Cloze Studio's (tolerance 1e-4).

The cases (a masked LM, a decoder, T5) are written by the engine test
`cargo test -p cloze --test prompt_export peft_parity` into $CLOZE_PEFT_PARITY_DIR (default
target/tmp/peft-parity): each folder holds `adapter/` (adapter_config.json,
adapter_model.safetensors) and `cloze_logits.json` (the input ids without the virtual tokens,
and Cloze Studio's logits over the whole vocabulary at every position: the input's for a masked
LM and a decoder, PEFT's virtual tokens included; the decoder's for T5).

    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
    CLOZE_PEFT_PARITY_DIR=/tmp/peft-parity cargo test -p cloze --test prompt_export peft_parity
    /tmp/torch-venv/bin/python scripts/peft-parity.py /tmp/peft-parity

Needs torch, transformers and peft (the venv of ../shared/bench: `pip install torch transformers peft`).
Prints one line per case and exits 1 when a difference exceeds the tolerance.
"""
import json
import pathlib
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSeq2SeqLM

TOLERANCE = 1e-4
BASE = {
    "FEATURE_EXTRACTION": AutoModelForMaskedLM,
    "CAUSAL_LM": AutoModelForCausalLM,
    "SEQ_2_SEQ_LM": AutoModelForSeq2SeqLM,
}


def compare(case: pathlib.Path) -> float:
    c = json.loads((case / "cloze_logits.json").read_text())
    base = BASE[c["task_type"]].from_pretrained(c["model"], dtype=torch.float32).eval()
    model = PeftModel.from_pretrained(base, str(case / "adapter")).eval()
    ids = torch.tensor([c["input_ids"]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        if c["decoder_input_ids"] is not None:
            out = model(input_ids=ids, attention_mask=mask, decoder_input_ids=torch.tensor([c["decoder_input_ids"]]))
        else:
            out = model(input_ids=ids, attention_mask=mask)
    peft_logits = out.logits[0].float()
    cloze_logits = torch.tensor(c["logits"])
    if peft_logits.shape != cloze_logits.shape:
        raise SystemExit(f"{case.name}: PEFT gave logits of shape {tuple(peft_logits.shape)}, Cloze Studio {tuple(cloze_logits.shape)}")
    return (peft_logits - cloze_logits).abs().max().item()


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/tmp/peft-parity")
    cases = sorted(p for p in root.iterdir() if (p / "cloze_logits.json").is_file()) if root.is_dir() else []
    if not cases:
        print(f"no cases in {root}; run `cargo test -p cloze --test prompt_export peft_parity` first", file=sys.stderr)
        return 1
    failed = 0
    for case in cases:
        diff = compare(case)
        ok = diff <= TOLERANCE
        failed += not ok
        task = json.loads((case / "adapter" / "adapter_config.json").read_text())["task_type"]
        print(f"{case.name:10} {task:18} max |logit difference| {diff:.3e}  {'ok' if ok else 'FAILED'}")
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
