#!/usr/bin/env bash
# Sets up and runs every check: formatting, clippy with warnings as errors, and all tests.
# Tests that read ../shared (the labelled datasets) need the repository cloned beside it, as CI has.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
