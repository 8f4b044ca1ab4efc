#!/usr/bin/env bash
# Builds and runs the engine's fuzz targets with libFuzzer on the stable toolchain: the coverage
# instrumentation cargo-fuzz would ask for with -Z flags is requested with stable -C flags.
#
#   fuzz/run.sh build                  build every target (release, debug assertions on)
#   fuzz/run.sh run TARGET [ARGS…]     fuzz TARGET over fuzz/corpus/TARGET, libFuzzer ARGS after it
#                                      (e.g. -max_total_time=600, -runs=1000000); new inputs go to
#                                      fuzz/corpus-new/TARGET, crashes to fuzz/artifacts/TARGET
#   fuzz/run.sh repro TARGET FILE [ARGS…]  run TARGET on FILE only (a crash); add
#                                      -minimize_crash=1 -runs=10000 to shrink it
#   fuzz/run.sh check SECONDS          CI: build, run every target SECONDS over the committed
#                                      corpus, fail on the first crash
#   fuzz/run.sh list                   the targets
#
# Builds go to $CARGO_TARGET_DIR if set, else fuzz/target: never the workspace's target folder,
# whose artefacts must not be built with these flags.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
host=$(rustc -vV | sed -n 's/^host: //p')
targets=(template verbalizer data_reader plm_config safetensors pickle gguf store_open)
# Targets `check` (CI) leaves out while a known bug still crashes them (see fuzz/known/README.md).
ci_skip=()
# Limits for every run: memory (RSS) and one allocation, and the time one input may take.
limits=(-rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10)

build() {
  # --target keeps the flags off build scripts and proc-macros (as cargo-fuzz does). Not --locked:
  # fuzz/Cargo.lock follows the engine's dependencies when they change.
  RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cforce-frame-pointers=yes" \
    cargo build --release --target "$host" --bins
}

bin() { echo "$CARGO_TARGET_DIR/$host/release/$1"; }

dict_args() { if [ -f "dict/$1.dict" ]; then echo "-dict=dict/$1.dict"; fi; }

case "${1:-}" in
  build) build ;;
  list) printf '%s\n' "${targets[@]}" ;;
  run)
    target=${2:?usage: fuzz/run.sh run TARGET [libFuzzer args]}
    shift 2
    build
    mkdir -p "corpus-new/$target" "artifacts/$target"
    # shellcheck disable=SC2046
    exec "$(bin "$target")" "${limits[@]}" $(dict_args "$target") -artifact_prefix="artifacts/$target/" \
      "$@" "corpus-new/$target" "corpus/$target"
    ;;
  repro)
    target=${2:?usage: fuzz/run.sh repro TARGET FILE [libFuzzer args]}
    file=${3:?usage: fuzz/run.sh repro TARGET FILE [libFuzzer args]}
    shift 3
    build
    exec "$(bin "$target")" "${limits[@]}" -artifact_prefix="artifacts/$target/" "$@" "$file"
    ;;
  check)
    seconds=${2:?usage: fuzz/run.sh check SECONDS}
    # CI builds from scratch: optimising less and no line tables shorten the build (10 min of CPU
    # at opt-level 1), fast enough for a short run. Its own folder, so that it does not replace
    # the optimised local build.
    export CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false
    export CARGO_TARGET_DIR="$CARGO_TARGET_DIR/check"
    build
    for target in "${targets[@]}"; do
      if [[ " ${ci_skip[*]} " == *" $target "* ]]; then
        echo "== fuzz $target: skipped, a known bug still crashes it (fuzz/known/README.md)"
        continue
      fi
      echo "== fuzz $target for ${seconds}s"
      scratch=$(mktemp -d)
      mkdir -p "$scratch/new"
      mkdir -p "artifacts/$target"
      # New inputs go to a scratch folder: the committed corpus is only read.
      # shellcheck disable=SC2046
      if ! "$(bin "$target")" "${limits[@]}" $(dict_args "$target") -max_total_time="$seconds" \
        -print_final_stats=1 -artifact_prefix="artifacts/$target/" "$scratch/new" "corpus/$target" \
        2>"$scratch/log"; then
        tail -n 40 "$scratch/log" >&2
        rm -rf "$scratch"
        echo "fuzz: $target crashed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
      fi
      grep -E '^(#[0-9]+.*DONE|Done|stat::number_of_executed_units|stat::average_exec_per_sec)' "$scratch/log" || true
      rm -rf "$scratch"
    done
    ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
