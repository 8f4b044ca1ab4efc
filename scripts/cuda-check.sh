#!/usr/bin/env bash
# The CUDA build on a machine without a GPU, as CI runs it (the last step of scripts/test.sh):
#   1. `cargo clippy --features cuda` on the engine, the CLI and the app, warnings as errors. No
#      RUSTFLAGS, so it shares every crate but candle's and ours with the CPU build's clippy.
#   2. A portable debug build of the CLI with `--features cuda` (scripts/cuda-env.sh): it needs no
#      CUDA library to start, and leaves unresolved only the CUDA libraries' functions.
#   3. That binary run here, where there is no NVIDIA driver: `cloze devices` says CUDA is
#      unavailable for the missing libcuda.so.1; with a stand-in driver that has no GPU, it binds
#      the driver's functions at run time and reports its CUDA_ERROR_NO_DEVICE; `cloze classify`
#      works on the CPU.
# Why a build and not only `cargo check`: the question a CUDA build raises here is whether it links
# and starts without the driver, which only a linked binary answers. It adds about 20 minutes to CI
# on 2 cores (the CUDA kernels compiled by nvcc, and a build of every crate with the portable
# flags). The toolkit comes from PyPI (scripts/cuda-env.sh explains which packages and why).
#
#   bash scripts/cuda-check.sh            # CUDA_COMPUTE_CAP defaults to 80 (no nvidia-smi here)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
# shellcheck source=scripts/cuda-env.sh
source scripts/cuda-env.sh
echo "cuda-check: $(nvcc --version | tail -n 1), compute capability $CUDA_COMPUTE_CAP"

echo "== cuda-check: cargo clippy --features cuda (engine, CLI, app)"
cargo clippy -p cloze -p cloze-cli -p cloze-studio --features cuda --all-targets -- -D warnings

echo "== cuda-check: a portable build of the CLI with --features cuda"
cuda_portable_link
cargo build -p cloze-cli --features cuda
bin="$CARGO_TARGET_DIR/debug/cloze"
cuda_check_binary "$bin"

echo "== cuda-check: the CUDA build starting without a GPU"
"$bin" devices
if ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; then
  echo "cuda-check: this machine has the NVIDIA driver; scripts/gpu-check.sh checks the GPU itself"
else
  "$bin" devices --json | python3 -c '
import json, sys
cpu, cuda = json.load(sys.stdin)[:2]
assert cpu["available"], cpu
assert not cuda["available"] and "libcuda.so.1 could not be loaded" in cuda["reason"], cuda
print("cuda-check: CUDA unavailable, as it should be here:", cuda["reason"])'
fi
# A stand-in driver on a machine without a GPU: libcuda.so.1 whose cuInit answers
# CUDA_ERROR_NO_DEVICE, and empty cuBLAS / cuRAND / NVRTC. The binary must load them, bind cuInit
# at its first call and report the driver's answer, as it would on a machine with the driver but
# no GPU.
fake="$CARGO_TARGET_DIR/fake-nvidia-driver"
mkdir -p "$fake"
cat > "$fake/fake.c" <<'C'
int cuInit(unsigned int flags) { (void)flags; return 100; }
int cuGetErrorString(int e, const char **s) { *s = e == 100 ? "no CUDA-capable device is detected" : "unknown"; return 0; }
int cuGetErrorName(int e, const char **s) { *s = e == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN"; return 0; }
C
cc -shared -fPIC -o "$fake/libcuda.so.1" -Wl,-soname,libcuda.so.1 "$fake/fake.c"
for lib in libnvrtc.so.13 libcublasLt.so.13 libcublas.so.13 libcurand.so.10; do
  echo 'int cloze_fake_library;' | cc -shared -fPIC -x c -o "$fake/$lib" -Wl,-soname,$lib -
done
LD_LIBRARY_PATH="$fake" "$bin" devices --json | python3 -c '
import json, sys
cuda = json.load(sys.stdin)[1]
assert not cuda["available"] and "CUDA_ERROR_NO_DEVICE" in cuda["reason"], cuda
print("cuda-check: with a driver but no GPU, CUDA is unavailable:", cuda["reason"])'
"$bin" classify --model tests/fixtures/parity/bert --input samples/reviews.csv --template '{text_a} It was {mask}.' \
  --verbalizer samples/sentiment.verbalizer.json --output "$CARGO_TARGET_DIR/cuda-check-classify.jsonl" --force
test "$(wc -l < "$CARGO_TARGET_DIR/cuda-check-classify.jsonl")" -eq 16
echo "cuda check passed"
