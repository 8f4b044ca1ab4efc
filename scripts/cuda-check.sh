#!/usr/bin/env bash
# Type-checks the CUDA build (`--features cuda`) on a machine without a GPU: the CUDA 13.4 compiler
# and headers come from PyPI into target/cuda-toolkit (about 400 MB, once), candle's kernels are
# compiled to PTX by nvcc, and `cargo clippy` checks the engine and the CLI with warnings as errors.
# No link step: candle links libcuda dynamically, which only a machine with the NVIDIA driver has.
#
# Why these packages: `nvidia-cuda-nvcc-cu12` (CUDA 12) ships ptxas but no nvcc; the CUDA 13
# packages (`nvidia-cuda-nvcc`, `nvidia-nvvm` for cicc, `nvidia-cuda-crt`, `nvidia-cuda-runtime`,
# `nvidia-cuda-cccl`) make a whole toolkit. 13.4, because cudarc 0.19 (candle 0.11) stops there.
#
#   bash scripts/cuda-check.sh            # CUDA_COMPUTE_CAP defaults to 80 (no nvidia-smi here)
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
venv="$target/cuda-toolkit"
root="$PWD/$venv/lib/python3*/site-packages/nvidia/cu13"
if ! ls $root/bin/nvcc >/dev/null 2>&1; then
  echo "== installing the CUDA 13.4 compiler and headers from PyPI into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "nvidia-cuda-nvcc==13.4.*" "nvidia-nvvm==13.4.*" "nvidia-cuda-crt==13.4.*" \
    "nvidia-cuda-runtime==13.4.*" "nvidia-cuda-cccl==13.3.5.0.6"
fi
root=$(echo $root)
export PATH="$root/bin:$PATH" CUDA_ROOT="$root" CUDA_PATH="$root"
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-80}
nvcc --version | tail -1
echo "== cargo clippy --features cuda (engine and CLI), compute capability $CUDA_COMPUTE_CAP"
cargo clippy -p cloze -p cloze-cli --features cuda --all-targets -- -D warnings
echo "cuda check passed"
