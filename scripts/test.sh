#!/usr/bin/env bash
# Sets up and runs every check: the UI's type check, lint, unit tests and build; Rust formatting,
# clippy with warnings as errors and all tests (engine, CLI, app commands, binding drift); then the
# desktop end-to-end tests, driving the real app under Xvfb through WebDriver; last, each fuzz target
# for a short fixed time over its committed corpus (fuzz/run.sh check); and last the CUDA build
# (scripts/cuda-check.sh: clippy, a portable build, and that build starting without a GPU).
# Tests that read ../shared (the labelled datasets) need the repository cloned beside it, as CI has.
set -euo pipefail
cd "$(dirname "$0")/.."
export CLOZE_SETUP_E2E=1 CLOZE_SETUP_CUDA=1
source scripts/setup.sh

# A from-scratch build gains nothing from incremental caches, which are large on disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
disk() { df -h --output=avail . | tail -1 | tr -d ' '; }

step() { printf '\n== %s (%s, %s free)\n' "$1" "$(date +%H:%M:%S)" "$(disk)"; }

step "UI: type check, lint, unit tests, build"
(cd ui && npm run --silent typecheck && npm run --silent lint && npm test --silent && npm run --silent build)

step "Rust: format"
cargo fmt --all -- --check
step "Rust: clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "Rust: tests"
cargo test --workspace

# The test executables (a few GB) are not needed again; a CI machine's disk may be shared and small.
if [ "${CI:-}" = true ]; then
  find target/debug/deps -maxdepth 1 -type f -perm -u+x ! -name '*.so' ! -name '*.d' -delete
fi

step "Desktop app: end-to-end"
cargo build -p cloze-studio
bash scripts/e2e.sh target/debug/cloze-studio
echo "disk: target/ $(du -sh target 2>/dev/null | cut -f1), $(disk) free"

step "Fuzz: each target ${CLOZE_FUZZ_SECONDS:-10} s over its corpus"
bash fuzz/run.sh check "${CLOZE_FUZZ_SECONDS:-10}"
# A from-scratch CI clone needs none of the instrumented build afterwards.
if [ "${CI:-}" = true ]; then rm -rf fuzz/target; fi
step "CUDA: clippy, and a portable build that starts without a GPU or driver"
bash scripts/cuda-check.sh
# The CUDA build's crates (a few GB) are not needed again either.
if [ "${CI:-}" = true ]; then rm -rf target/debug target/cuda-toolkit; fi
step "all checks passed"
