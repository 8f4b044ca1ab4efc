# Sourced (not run) by scripts/cuda-check.sh, scripts/gpu-check.sh, scripts/setup.sh with
# CLOZE_SETUP_CUDA=1 and .ci/run: the environment of a portable CUDA build of Cloze Studio.
#
# 1. The CUDA 13.4 compiler and headers from PyPI into $CARGO_TARGET_DIR/cuda-toolkit (~400 MB,
#    once). candle compiles its kernels to PTX with nvcc at build time, which needs no GPU.
#    `nvidia-cuda-nvcc-cu12` (CUDA 12) ships ptxas but no nvcc; the CUDA 13 packages
#    (`nvidia-cuda-nvcc`, `nvidia-nvvm` for cicc, `nvidia-cuda-crt`, `nvidia-cuda-runtime`,
#    `nvidia-cuda-cccl`) make a whole toolkit. 13.4, because cudarc 0.19 (candle 0.11) stops there.
# 2. The portable link. candle has cudarc link the CUDA libraries (libcuda.so.1, libcublas.so.13,
#    …), so a plain CUDA build records them as NEEDED and does not start without the NVIDIA
#    driver. Here their functions are left unresolved at link time (empty stub libraries and
#    `--unresolved-symbols=ignore-all`) and bound at their first call (`-C relro-level=partial`
#    keeps the calls going through the PLT; full RELRO would bind them at start-up). The engine
#    (crates/cloze/src/plm/cuda_libs.rs) loads the libraries before it opens a CUDA device, and
#    falls back to the CPU, naming the missing library, when it cannot. `cuda_portable_link` sets
#    the flags, `cuda_check_binary FILE` proves a binary came out that way.
#
# Environment: CARGO_TARGET_DIR (default target); CUDA_COMPUTE_CAP (the GPU's compute capability,
# e.g. 86; found with nvidia-smi when there is one, else 80). With CLOZE_CUDA_RUNTIME=1 the CUDA
# runtime libraries (cuBLAS, cuRAND, NVRTC, ~1 GB) are installed too and put on LD_LIBRARY_PATH:
# a machine with the NVIDIA driver needs them to run the build.

cuda_target=${CARGO_TARGET_DIR:-target}
mkdir -p "$cuda_target"
cuda_target=$(cd "$cuda_target" && pwd)
cuda_venv="$cuda_target/cuda-toolkit"
cuda_pip() {
  [ -x "$cuda_venv/bin/pip" ] || python3 -m venv "$cuda_venv"
  "$cuda_venv/bin/pip" install --quiet --disable-pip-version-check "$@"
}
if ! ls "$cuda_venv"/lib/python3*/site-packages/nvidia/cu13/bin/nvcc >/dev/null 2>&1; then
  echo "cuda-env: installing the CUDA 13.4 compiler and headers from PyPI into $cuda_venv"
  cuda_pip "nvidia-cuda-nvcc==13.4.*" "nvidia-nvvm==13.4.*" "nvidia-cuda-crt==13.4.*" \
    "nvidia-cuda-runtime==13.4.*" "nvidia-cuda-cccl==13.3.5.0.6"
fi
CUDA_ROOT=$(echo "$cuda_venv"/lib/python3*/site-packages/nvidia/cu13)
export CUDA_ROOT CUDA_PATH="$CUDA_ROOT" PATH="$CUDA_ROOT/bin:$PATH"
if [ -z "${CUDA_COMPUTE_CAP:-}" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1) && [ -n "$cap" ]; then
    CUDA_COMPUTE_CAP=${cap/./}
  else
    CUDA_COMPUTE_CAP=80
  fi
fi
export CUDA_COMPUTE_CAP
if [ "${CLOZE_CUDA_RUNTIME:-0}" = 1 ]; then
  if ! ls "$CUDA_ROOT"/lib/libcublas.so.13 >/dev/null 2>&1; then
    echo "cuda-env: installing the CUDA 13 runtime libraries (cuBLAS, cuRAND, NVRTC) from PyPI"
    cuda_pip "nvidia-cublas==13.4.*" "nvidia-curand==10.4.*" "nvidia-cuda-nvrtc==13.4.*"
  fi
  export LD_LIBRARY_PATH="$CUDA_ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# Exports the RUSTFLAGS of the portable link (a change of RUSTFLAGS rebuilds every crate, so a
# `cargo clippy` that links nothing is best run without them, sharing the CPU build's artifacts).
cuda_portable_link() {
  local stubs="$cuda_target/cuda-link-stubs" lib
  mkdir -p "$stubs"
  for lib in cuda nvrtc cublas cublasLt curand; do
    printf '/* Empty: the CUDA functions are bound at run time (scripts/cuda-env.sh). */\n' > "$stubs/lib$lib.so"
  done
  # candle-kernels links its quantised-matmul kernels (libmoe.a) with the CUDA runtime, whose
  # kernel registration runs at start-up: the static runtime, which finds the driver only when a
  # kernel is first launched, as every nvcc-built program does by default.
  printf '/* The static CUDA runtime (scripts/cuda-env.sh). */\nINPUT(%s)\n' "$CUDA_ROOT/lib/libcudart_static.a" \
    > "$stubs/libcudart.so"
  export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C relro-level=partial -L native=$stubs -C link-arg=-Wl,--unresolved-symbols=ignore-all"
}

# Fails unless FILE needs no CUDA library to start and every function it leaves unresolved is
# either a CUDA library's (cu*, nvrtc*) or defined by a library it does need: anything else would
# be a link error that --unresolved-symbols=ignore-all hid.
cuda_check_binary() {
  local file=$1 needed libs stray
  needed=$(readelf -d "$file" | grep NEEDED | grep -E 'lib(cuda|cudart|nvrtc|cublas|cublasLt|curand)\.' || true)
  if [ -n "$needed" ]; then
    echo "cuda-env: $file needs a CUDA library to start:" >&2
    echo "$needed" >&2
    return 1
  fi
  # A call whose relocation the linker dropped (R_X86_64_NONE and the like) would jump to address 0.
  if readelf -r "$file" | grep -qE 'R_[A-Z0-9_]+_NONE'; then
    echo "cuda-env: $file has calls to functions the linker left unbound (R_*_NONE relocations)" >&2
    return 1
  fi
  libs=$(ldd "$file" | awk '/=> \// {print $3} $1 ~ /^\// {print $1}')
  # Strong (U) undefined symbols, without their version; weak ones (w) may stay unresolved.
  stray=$(comm -23 \
    <(nm -D --undefined-only "$file" | awk '$1 == "U" {print $2}' | sed 's/@.*//' | sort -u) \
    <(for lib in $libs; do nm -D --defined-only "$lib" 2>/dev/null | awk '{print $3}' | sed 's/@.*//'; done | sort -u) \
    | grep -Ev '^(cu|nvrtc)' || true)
  if [ -n "$stray" ]; then
    echo "cuda-env: $file leaves symbols unresolved that no CUDA library provides:" >&2
    echo "$stray" | head -n 20 >&2
    return 1
  fi
  echo "cuda-env: $file starts without the CUDA libraries ($(nm -D --undefined-only "$file" | awk '$1 == "U" {print $2}' | grep -cE '^(cu|nvrtc)') CUDA functions bound at their first call)"
}
