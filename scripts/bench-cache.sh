#!/bin/sh
# The prompt-cache layout benchmark (BENCHMARKS.md, "Model input per iteration"): builds mmm
# at BASELINE (default: 4305c5f, the last commit with the layout before issue 13) and this
# checkout, runs the same scripted 20-iteration session against both, and prints the figures
# side by side. Token counts are estimates (characters / 4) fed through a model of the prefix
# cache rules; no network, no key.
#
#   scripts/bench-cache.sh              # baseline 4305c5f
#   BASELINE=<rev> scripts/bench-cache.sh
#   BASELINE_BIN=<path to mmm> scripts/bench-cache.sh   # skip the baseline build
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
if [ -z "${BASELINE_BIN:-}" ]; then
    rev=${BASELINE:-4305c5f}
    tree=$(mktemp -d)
    trap 'git -C "$root" worktree remove --force "$tree" >/dev/null 2>&1 || true' EXIT
    git worktree add --detach -q "$tree" "$rev"
    # The same target directory: the dependencies are built once for both.
    (cd "$tree" && CARGO_TARGET_DIR="$target" cargo build --locked --bin mmm)
    mkdir -p "$target/bench-baseline"
    cp "$target/debug/mmm" "$target/bench-baseline/mmm"
    # Both checkouts build the same crate into the same place: this checkout's build below
    # must put its own binary back, with its own version (build.rs runs again when touched).
    # The bench prints each binary's version, so a mix-up shows.
    rm -f "$target/debug/mmm"
    touch "$root/build.rs"
    BASELINE_BIN="$target/bench-baseline/mmm"
fi
cargo bench --locked --profile dev --bench cache_layout -- --baseline "$BASELINE_BIN"
