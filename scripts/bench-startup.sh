#!/usr/bin/env bash
# Startup benchmark: launches the desktop app N times (default 7) under Xvfb and reports, per run,
# the time from exec to the UI's first interactive render (the UI calls `ui_ready`, which prints
# it and quits the app) and the whole launch-to-exit wall time; then the medians.
#   bash scripts/bench-startup.sh [binary] [runs]     (default target/release/cloze-studio)
set -euo pipefail
cd "$(dirname "$0")/.."
app="${1:-target/release/cloze-studio}"
runs="${2:-7}"
[ -x "$app" ] || { echo "bench-startup: no $app; build it with: cargo build --release -p cloze-studio" >&2; exit 1; }
command -v Xvfb >/dev/null || { echo "bench-startup: needs Xvfb (apt-get install xvfb)" >&2; exit 1; }

display=:97
Xvfb "$display" -screen 0 1440x900x24 >/dev/null 2>&1 &
xvfb=$!
tmp=$(mktemp -d)
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$tmp"' EXIT
sleep 1
export DISPLAY=$display XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data HF_HUB_OFFLINE=1
ready=() wall=()
for i in $(seq 1 "$runs"); do
  start=$(date +%s%N)
  out=$(CLOZE_STARTUP_REPORT=1 CLOZE_EXIT_WHEN_READY=1 timeout 60 "$app" 2>&1 >/dev/null || true)
  end=$(date +%s%N)
  ms=$(sed -n 's/.*interactive \([0-9]*\) ms after start.*/\1/p' <<<"$out" | tail -1)
  [ -n "$ms" ] || { echo "bench-startup: run $i did not become interactive:" >&2; echo "$out" | tail -20 >&2; exit 1; }
  w=$(((end - start) / 1000000))
  printf 'run %d: interactive after %5d ms (main to first UI render), launch to exit %5d ms\n' "$i" "$ms" "$w"
  ready+=("$ms") wall+=("$w")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median: interactive after $(median "${ready[@]}") ms; launch to exit $(median "${wall[@]}") ms ($runs runs)"
echo "binary: $app, $(du -h "$app" | cut -f1)"
