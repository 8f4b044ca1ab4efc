#!/usr/bin/env bash
# Verifies Cloze Studio's CUDA path on a Linux machine with an NVIDIA GPU and driver, pip and access
# to the package registries; writes a report (target/gpu-check/report.md). About 10 minutes on a
# 16-core machine, most of it the release build.
#
#   1. set-up: apt packages, Rust, the CUDA 13.4 toolkit and runtime libraries from PyPI
#      (scripts/setup.sh with CLOZE_SETUP_CLI=1 CLOZE_SETUP_CUDA=1, scripts/cuda-env.sh);
#   2. `cargo build --release -p cloze-cli --features cuda`, the portable link checked;
#   3. `cloze devices`: the GPU's name, or why CUDA is unavailable, where the check stops;
#   4. the parity fixtures of every model family (and a Q4_0 GGUF file): `cloze classify` on the GPU
#      against the CPU, class probabilities within 1e-4 and the same predictions (the CPU's own
#      parity with transformers is tests/parity.rs, in CI);
#   5. `cloze bench gradcheck`: gradients on the GPU against finite differences in f64, for BERT,
#      RoBERTa and DistilBERT (input embeddings and a spread of weights, within 1e-4);
#   6. `cloze bench infer` and `cloze bench tune` on a random bert-base, GPU beside CPU;
#   7. a soft-prompt run on the tiny BERT fixture, GPU beside CPU (dropout off): the same losses
#      within 1e-3 at every update and the same dev predictions.
#
# Usage: bash scripts/gpu-check.sh              the check (exit 3: no usable GPU, said in the report)
#        bash scripts/gpu-check.sh --rehearse   steps 4-7 with the CPU in the GPU's place, running the
#                                               composed ops a GPU runs (CLOZE_FORCE_COMPOSED=1)
#                                               against the CPU kernels: tests this script, and the
#                                               GPU's code path, on a machine without a GPU
# Env: CARGO_TARGET_DIR; PROFILE=dev for a debug build (faster to build, slower to run);
#      CUDA_COMPUTE_CAP (found with nvidia-smi).
set -euo pipefail
cd "$(dirname "$0")/.."
device=cuda
[ "${1:-}" = --rehearse ] && device=cpu
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
profile=${PROFILE:-release}
work="$CARGO_TARGET_DIR/gpu-check"
mkdir -p "$work"
report="$work/report.md"
: > "$report"
started=$(date +%s)
log() { echo "$*" | tee -a "$report"; }
# Runs a command, its output into the report as a code block; fails the check when it fails.
block() {
  echo '```' >> "$report"
  if ! "$@" 2>&1 | tee -a "$report"; then
    echo '```' >> "$report"
    log "**Failed:** \`$*\`"
    exit 1
  fi
  echo '```' >> "$report"
}
elapsed() { echo "$(( $(date +%s) - started )) s"; }

log "# Cloze Studio GPU check"
log "$(date -u '+%F %H:%M') UTC, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([ "$device" = cpu ] && echo ', REHEARSAL: the CPU in the GPU'"'"'s place')"
log ""
log "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores"
if command -v nvidia-smi >/dev/null 2>&1; then
  log "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | head -n 1)"
else
  log "- GPU: nvidia-smi not found"
fi
if ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; then
  log "- NVIDIA driver library: $(ldconfig -p | grep -m1 'libcuda\.so\.1' | sed 's/.*=> //')"
  export CLOZE_CUDA_RUNTIME=1
else
  log "- NVIDIA driver library: libcuda.so.1 not found (the runtime libraries are not installed)"
fi

log ""
log "## 1. Set-up: compilers, Rust, the CUDA toolkit"
# The command line's packages only (no WebKitGTK, no Node.js), and the toolkit (scripts/cuda-env.sh).
export CLOZE_SETUP_CLI=1 CLOZE_SETUP_CUDA=1
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
log "- $(nvcc --version | tail -n 1); kernels for compute capability $CUDA_COMPUTE_CAP"

log ""
log "## 2. Build ($profile, --features cuda)"
cuda_portable_link
if [ "$profile" = release ]; then
  cargo build --release -p cloze-cli --features cuda
  bin="$CARGO_TARGET_DIR/release/cloze"
else
  cargo build -p cloze-cli --features cuda
  bin="$CARGO_TARGET_DIR/debug/cloze"
fi
block cuda_check_binary "$bin"
log "- built after $(elapsed)"

log ""
log "## 3. Devices"
block "$bin" devices
if [ "$device" = cuda ]; then
  why=$("$bin" devices --json | python3 -c '
import json, sys
cuda = json.load(sys.stdin)[1]
print("" if cuda["available"] else cuda["reason"])')
  if [ -n "$why" ]; then
    log ""
    log "**No usable GPU here, so the check stops after the build.** $why"
    log ""
    log "Steps 4-7 (parity, gradients, benchmarks, a soft-prompt run on the GPU) need an NVIDIA GPU"
    log "and its driver; \`bash scripts/gpu-check.sh --rehearse\` runs them with the CPU instead."
    log "Report: $report ($(elapsed))"
    exit 3
  fi
fi

# Each comparison runs twice: on the CPU (side "cpu") and on the device (side "gpu"). Rehearsing,
# the "gpu" side is the CPU with CLOZE_FORCE_COMPOSED=1: the composed ops a GPU runs instead of the
# CPU kernels, so even the rehearsal compares two different computations.
side_device() { if [ "$1" = cpu ]; then echo cpu; else echo "$device"; fi; }
on_side() {
  local side=$1; shift
  if [ "$side" = gpu ] && [ "$device" = cpu ]; then CLOZE_FORCE_COMPOSED=1 "$@"; else "$@"; fi
}
gpu_name=$device
[ "$device" = cpu ] && gpu_name="cpu (composed ops)"

log ""
log "## 4. Parity: cloze classify on $gpu_name against the CPU kernels, every model family's fixture"
compare_probs() {
  python3 - "$@" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) and a, f"{len(a)} rows on the CPU, {len(b)} on the device"
tolerance = float(sys.argv[4])
worst = max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra["probs"].values(), rb["probs"].values()))
same = sum(ra["predicted"] == rb["predicted"] for ra, rb in zip(a, b))
print(f"{sys.argv[3]:<28} {len(a)} rows, largest class-probability difference {worst:.1e} (tolerance {tolerance:.0e}), "
      f"the same prediction on {same}")
sys.exit(0 if worst <= tolerance and same == len(a) else 1)
PY
}
# A quantised GGUF file gets a looser tolerance: the CPU kernel quantises the activations to 8 bits
# before its integer dot products (llama.cpp's Q4_0 x Q8_0), the dequantising path a GPU may take
# does not; the difference is that rounding (~2e-3 on this fixture), not an error.
fixtures=(bert roberta distilbert xlm-roberta albert gemma3 llama qwen2 t5 bart gguf-llama/model-f32.gguf
  gguf-llama/model-q4_0.gguf)
for fixture in "${fixtures[@]}"; do
  name=${fixture//\//-}
  tolerance=1e-4
  case $fixture in *q4_0.gguf) tolerance=1e-2 ;; esac
  for side in cpu gpu; do
    on_side $side "$bin" classify --model "tests/fixtures/parity/$fixture" --device "$(side_device $side)" \
      --input samples/reviews.csv --template '{text_a} It was {mask}.' \
      --verbalizer samples/sentiment.verbalizer.json --output "$work/classify-$name-$side.jsonl" --force > /dev/null 2>&1 \
      || { log "**Failed:** cloze classify, $fixture fixture, on $(side_device $side) ($side side)"; exit 1; }
  done
  block compare_probs "$work/classify-$name-cpu.jsonl" "$work/classify-$name-gpu.jsonl" "$fixture" "$tolerance"
done

log ""
log "## 5. Gradients on $gpu_name against finite differences (f64): cloze bench gradcheck"
for fixture in bert roberta distilbert; do
  block on_side gpu "$bin" bench gradcheck --model "tests/fixtures/parity/$fixture" --device "$device"
done

log ""
log "## 6. Benchmarks: random bert-base, $gpu_name beside the CPU kernels"
model="$work/bert-base"
if [ ! -f "$model/model.safetensors" ]; then
  [ -x "$work/venv/bin/python" ] || python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet --disable-pip-version-check numpy safetensors tokenizers
  "$work/venv/bin/python" scripts/make-random-bert.py "$model" > /dev/null
fi
bench() {
  local what=$1 side; shift
  for side in cpu gpu; do
    on_side $side "$bin" bench "$what" --model "$model" --device "$(side_device $side)" "$@" 2>/dev/null | tail -n 1 \
      | sed -e "s/^{/{\"side\": \"$side\", /"
  done
}
{
  bench infer --batch 32 --seq-len 128 --reps 3 --json
  bench tune --case prompt-tuning-step --reps 3
  bench tune --case full-finetune-step --reps 3
} > "$work/bench.jsonl"
block python3 - "$work/bench.jsonl" "$gpu_name" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
name = sys.argv[2]
def rate(r):
    return r["throughput_median"] if "throughput_median" in r else 1 / r["median_s"]
for case in dict.fromkeys(r.get("case", "mlm_infer") for r in rows):
    by = {r["side"]: r for r in rows if r.get("case", "mlm_infer") == case}
    unit = "sequences/s" if "throughput_median" in by["cpu"] else "steps/s"
    cpu, dev = rate(by["cpu"]), rate(by["gpu"])
    print(f"{case}: CPU kernels {cpu:.3f} {unit}, {name} {dev:.3f} {unit}, {dev / cpu:.2f}x")
PY

log ""
log "## 7. Soft-prompt run on the tiny BERT fixture, $gpu_name beside the CPU kernels (dropout off)"
for side in cpu gpu; do
  rm -rf "$work/soft-$side"
  on_side $side "$bin" tune --strategy soft-prompt --model tests/fixtures/parity/bert --device "$(side_device $side)" \
    --train samples/reviews.csv --dev-fraction 0.25 --verbalizer samples/sentiment.verbalizer.json --dropout 0 \
    --seed 7 --template '{soft} {soft} {soft} {soft} {text_a} It was {mask}.' --out "$work/soft-$side" > /dev/null 2>&1 \
    || { log "**Failed:** the soft-prompt run on $(side_device $side) ($side side)"; exit 1; }
done
block python3 - "$work/soft-cpu" "$work/soft-gpu" <<'PY'
import json, sys
def run(d):
    lines = [json.loads(l) for l in open(d + "/metrics.jsonl")]
    steps = [l["loss"] for l in lines if l["kind"] == "step"]
    preds = [json.loads(l)["predicted"] for l in open(d + "/dev_predictions.jsonl")]
    return steps, preds
(a, pa), (b, pb) = run(sys.argv[1]), run(sys.argv[2])
worst = max(abs(x - y) for x, y in zip(a, b))
print(f"{len(a)} updates; training loss {a[0]:.4f} -> {a[-1]:.4f} with the CPU kernels, {b[0]:.4f} -> {b[-1]:.4f} here; "
      f"largest difference {worst:.1e}; dev predictions {'the same' if pa == pb else 'DIFFERENT'}")
sys.exit(0 if len(a) == len(b) and worst <= 1e-3 and b[-1] < b[0] and pa == pb else 1)
PY

log ""
log "**Every step passed** on $gpu_name in $(elapsed). Report: $report"
