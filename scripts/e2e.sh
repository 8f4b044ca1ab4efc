#!/usr/bin/env bash
# Desktop end-to-end test of Cloze Studio: drives the real app (WebKitGTK) through tauri-driver.
#
#   bash scripts/e2e.sh [path-to-binary]        (default: target/debug/cloze-studio)
#
# Needs: the built app, tauri-driver (cargo install tauri-driver --version 2.1.0 --locked),
# WebKitWebDriver (apt: webkit2gtk-driver), Xvfb (apt: xvfb) unless $DISPLAY works, Node 20 + npm.
# Screenshots go to target/e2e/screenshots/, logs to target/e2e/.
# Environment knobs: E2E_PORT (tauri-driver port, default 4444), E2E_DISPLAY (Xvfb display, :99),
# E2E_KEEP_TMP=1 (keep the scratch dir), E2E_WDIO_LOG (webdriverio log level, default warn).
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP="${1:-$REPO/target/debug/cloze-studio}"
PORT="${E2E_PORT:-4444}"
NATIVE_PORT="$((PORT + 1))"
XDISPLAY="${E2E_DISPLAY:-:99}"
OUT="$REPO/target/e2e"
SHOTS="$OUT/screenshots"
DRIVER_LOG="$OUT/tauri-driver.log"
XVFB_LOG="$OUT/xvfb.log"

say() { printf '[e2e] %s\n' "$*"; }
die() { printf '[e2e] ERROR: %s\n' "$*" >&2; exit 2; }

# ---- prerequisites --------------------------------------------------------------------------
case "$APP" in /*) ;; *) APP="$PWD/$APP" ;; esac
[ -f "$APP" ] || die "app binary not found: $APP — build it first (cargo build -p cloze-studio, or pass the path as the first argument)"
[ -x "$APP" ] || die "app binary is not executable: $APP"
TAURI_DRIVER="$(command -v tauri-driver || true)"
[ -n "$TAURI_DRIVER" ] || [ ! -x "$HOME/.cargo/bin/tauri-driver" ] || TAURI_DRIVER="$HOME/.cargo/bin/tauri-driver"
[ -n "$TAURI_DRIVER" ] || die "tauri-driver not found — install it: cargo install tauri-driver --version 2.1.0 --locked"
NATIVE_DRIVER="$(command -v WebKitWebDriver || true)"
[ -n "$NATIVE_DRIVER" ] || die "WebKitWebDriver not found — install it: sudo apt-get install webkit2gtk-driver"
command -v node >/dev/null || die "node not found — install Node.js 20"
command -v npm >/dev/null || die "npm not found — install Node.js 20 with npm"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "Node.js >= 20 needed (found $(node -v))"
DATA_CSV="${E2E_DATA_CSV:-$REPO/../shared/data/ag_news_csv/train_subset_581.csv}"
[ -f "$DATA_CSV" ] || die "test data not found: $DATA_CSV (clone this repository beside shared/)"
[ -f "$REPO/tests/fixtures/parity/roberta/config.json" ] || die "model fixture missing: tests/fixtures/parity/roberta"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_busy "$PORT" && die "port $PORT is already in use (another tauri-driver?) — stop it or set E2E_PORT"
port_busy "$NATIVE_PORT" && die "port $NATIVE_PORT (WebKitWebDriver) is already in use — stop it or set E2E_PORT"

display_ok() { DISPLAY="$1" xdotool getdisplaygeometry >/dev/null 2>&1; }
command -v xdotool >/dev/null || die "xdotool not found (used to probe the X display) — sudo apt-get install xdotool"

mkdir -p "$OUT"
rm -rf "$SHOTS"
mkdir -p "$SHOTS"

# ---- cleanup --------------------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/cloze-e2e.XXXXXX")"
PIDS=()
STATUS=1
cleanup() {
  local rc=$?
  [ "$STATUS" -eq 0 ] || STATUS=$rc
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    kill "${PIDS[$i]}" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "$STATUS" -ne 0 ]; then
    echo
    say "FAILED (exit $STATUS). Last lines of the tauri-driver / app log ($DRIVER_LOG):"
    if [ -s "$DRIVER_LOG" ]; then tail -n 60 "$DRIVER_LOG" | sed 's/^/    /'; else echo "    (empty: neither tauri-driver nor the app wrote anything)"; fi
    if [ -s "$XVFB_LOG" ]; then say "Xvfb log:"; tail -n 10 "$XVFB_LOG" | sed 's/^/    /'; fi
    say "scratch dir kept for inspection: $TMP"
  elif [ "${E2E_KEEP_TMP:-0}" = "1" ]; then
    say "scratch dir kept: $TMP"
  else
    rm -rf "$TMP"
  fi
  say "screenshots: $SHOTS"
  exit "$STATUS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- clean, offline environment for the app -------------------------------------------------
export XDG_CONFIG_HOME="$TMP/config" XDG_DATA_HOME="$TMP/data" XDG_CACHE_HOME="$TMP/cache" XDG_STATE_HOME="$TMP/state"
export HF_HOME="$TMP/hf" HF_HUB_OFFLINE=1
unset HF_HUB_CACHE HF_TOKEN HF_ENDPOINT
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME" "$HF_HOME" "$TMP/work"
export NO_AT_BRIDGE=1 # no accessibility bus warnings under Xvfb
# WebDriver cannot drive native dialogs and the scenario types its paths: the app's test hook
# (src-tauri/src/paths.rs) accepts paths inside these folders without a dialog. Never set otherwise.
export CLOZE_E2E_ALLOWED_FOLDERS="$TMP/work:$(dirname "$DATA_CSV"):$REPO/tests/fixtures"
# "Open in browser" runs this script instead of the system's opener (src-tauri/src/reports.rs); it
# records the report's path in $E2E_OPENED, which the scenario reads.
export CLOZE_OPEN_WITH="$REPO/tests/e2e/record-open.sh" E2E_OPENED="$TMP/work/opened.txt"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

# ---- npm dependencies -----------------------------------------------------------------------
say "installing test dependencies (npm ci)"
(cd "$REPO/tests/e2e" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) \
  || die "npm ci failed in tests/e2e"

# ---- X display ------------------------------------------------------------------------------
if [ -n "${DISPLAY:-}" ] && display_ok "$DISPLAY"; then
  say "using the existing display $DISPLAY"
elif display_ok "$XDISPLAY"; then
  export DISPLAY="$XDISPLAY"
  say "using the X server already running on $DISPLAY"
else
  command -v Xvfb >/dev/null || die "Xvfb not found and no usable DISPLAY — sudo apt-get install xvfb"
  Xvfb "$XDISPLAY" -screen 0 1440x900x24 -nolisten tcp >"$XVFB_LOG" 2>&1 &
  PIDS+=("$!")
  export DISPLAY="$XDISPLAY"
  for _ in $(seq 1 100); do display_ok "$DISPLAY" && break; sleep 0.1; done
  display_ok "$DISPLAY" || die "Xvfb did not start on $DISPLAY (see $XVFB_LOG)"
  say "started Xvfb on $DISPLAY (1440x900)"
fi

# ---- tauri-driver ---------------------------------------------------------------------------
: >"$DRIVER_LOG"
"$TAURI_DRIVER" --port "$PORT" --native-port "$NATIVE_PORT" --native-driver "$NATIVE_DRIVER" >>"$DRIVER_LOG" 2>&1 &
PIDS+=("$!")
DRIVER_PID=$!
for _ in $(seq 1 100); do
  port_busy "$PORT" && break
  kill -0 "$DRIVER_PID" 2>/dev/null || die "tauri-driver exited at start (see $DRIVER_LOG)"
  sleep 0.1
done
port_busy "$PORT" || die "tauri-driver is not listening on port $PORT after 10 s"
say "tauri-driver listening on $PORT (native WebKitWebDriver on $NATIVE_PORT)"

# ---- the scenario ---------------------------------------------------------------------------
say "running the scenario against $APP"
set +e
(
  cd "$REPO/tests/e2e" &&
  E2E_APP="$APP" E2E_REPO="$REPO" E2E_TMP="$TMP/work" E2E_SCREENSHOTS="$SHOTS" E2E_PORT="$PORT" E2E_DATA_CSV="$DATA_CSV" \
    node --test --test-concurrency=1 --test-reporter=spec scenario.test.mjs
)
STATUS=$?
set -e
if [ "$STATUS" -eq 0 ]; then say "PASSED"; fi
exit "$STATUS"
