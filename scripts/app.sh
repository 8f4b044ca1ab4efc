#!/usr/bin/env bash
# Sets up, builds Cloze Studio (the desktop app, release mode) and launches it. Without a display
# (a server, CI) it starts the app under Xvfb just long enough to show that it opens and becomes
# interactive, and says how long that took.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then export CLOZE_SETUP_E2E=1; fi
source scripts/setup.sh

(cd ui && npm run --silent build)
cargo build --release -p cloze-studio
app=target/release/cloze-studio
echo "app: built $app ($(du -h "$app" | cut -f1))"
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  exec "$app"
fi
echo "app: no display here; opening the window under Xvfb to check that it starts"
CLOZE_STARTUP_REPORT=1 CLOZE_EXIT_WHEN_READY=1 timeout 60 xvfb-run -a -s "-screen 0 1440x900x24" "$app"
echo "app: it starts. On a desktop, run $app (or ./scripts/app.sh) to use it."
