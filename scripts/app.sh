#!/usr/bin/env bash
# Sets up, builds Cloze Studio (the desktop app, release mode) and launches it. Without a display
# (a server, CI) it starts the app under Xvfb just long enough to show that it opens and becomes
# interactive, and says how long that took. With CLOZE_SETUP_CUDA=1 the app is built with CUDA
# (the toolkit from PyPI, scripts/cuda-env.sh); that build still starts without a GPU or driver, and
# the Model screen says why CUDA is unavailable.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then export CLOZE_SETUP_E2E=1; fi
source scripts/setup.sh

(cd ui && npm run --silent build)
features=()
if [ "${CLOZE_SETUP_CUDA:-0}" = 1 ]; then
  cuda_portable_link
  features=(--features cuda)
fi
cargo build --release -p cloze-studio "${features[@]+"${features[@]}"}"
app=${CARGO_TARGET_DIR:-target}/release/cloze-studio
if [ "${CLOZE_SETUP_CUDA:-0}" = 1 ]; then cuda_check_binary "$app"; fi
echo "app: built $app ($(du -h "$app" | cut -f1))"
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  exec "$app"
fi
echo "app: no display here; opening the window under Xvfb to check that it starts"
CLOZE_STARTUP_REPORT=1 CLOZE_EXIT_WHEN_READY=1 timeout 60 xvfb-run -a -s "-screen 0 1440x900x24" "$app"
echo "app: it starts. On a desktop, run $app (or ./scripts/app.sh) to use it."
