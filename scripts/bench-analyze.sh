#!/usr/bin/env bash
# Benchmark of `mmm analyze` against `tokei` (a line counter) on the same trees:
#   (a) the cargo registry sources on disk (~/.cargo/registry/src, left there by building mmm)
#   (b) a generated tree of 100,000 small files in ten languages
# Each tool runs RUNS times per tree (alternating, after one warm-up run each); the script
# prints the median wall time and the median peak resident memory (RSS) side by side. mmm runs the full analysis
# (--no-cache); tokei counts lines. Targets: mmm no slower than 1.2x tokei, and under 150 MB
# peak at 100,000 files. Record the figures in BENCHMARKS.md.
#
# Usage: scripts/bench-analyze.sh            (RUNS=5 by default)
#        RUNS=9 REGISTRY=/some/tree scripts/bench-analyze.sh
#        MMM_BIN=/path/to/mmm scripts/bench-analyze.sh   (skip the release build)
# Needs: cargo, python3 (for the tree generator and the measurements).
set -euo pipefail

RUNS="${RUNS:-5}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
REGISTRY="${REGISTRY:-$HOME/.cargo/registry/src}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mmm-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if [ -n "${MMM_BIN:-}" ]; then
    MMM="$MMM_BIN" # a binary built elsewhere, e.g. while iterating
else
    echo "building mmm (release)..." >&2
    cargo build --release --locked --quiet --manifest-path "$ROOT/Cargo.toml"
    MMM="$TARGET/release/mmm"
fi

if ! command -v tokei >/dev/null 2>&1; then
    echo "installing tokei..." >&2
    cargo install tokei --locked --quiet
fi
TOKEI="$(command -v tokei)"

if [ ! -d "$REGISTRY" ]; then
    echo "error: $REGISTRY does not exist; build mmm once (cargo build) or set REGISTRY=<a large tree>" >&2
    exit 2
fi

echo "generating 100,000 files..." >&2
python3 - "$WORK/tree" <<'PY'
import os, sys

root = sys.argv[1]
templates = {
    "rs": "//! Module {i}.\n\nuse std::fmt;\n\n/// A value.\npub struct Item{i} {{\n    value: u64,\n}}\n\nimpl Item{i} {{\n    pub fn new(value: u64) -> Self {{\n        // TODO: validate\n        Self {{ value }}\n    }}\n\n    pub fn double(&self) -> u64 {{\n        self.value.checked_mul(2).unwrap()\n    }}\n}}\n\nfn helper_{i}(x: u64) -> u64 {{\n    x + 1\n}}\n",
    "py": "\"\"\"Module {i}.\"\"\"\n\nimport os\n\n\nclass Item{i}:\n    \"\"\"A value.\"\"\"\n\n    def __init__(self, value):\n        self.value = value\n\n    def double(self):\n        # FIXME: overflow\n        return self.value * 2\n\n\ndef helper_{i}(x):\n    try:\n        return x + 1\n    except:\n        return None\n",
    "ts": "// Module {i}\n\nexport interface Props{i} {{\n  value: number;\n}}\n\nexport class Item{i} {{\n  constructor(private value: any) {{}}\n\n  double(): number {{\n    return this.value * 2;\n  }}\n}}\n\nexport function helper{i}(x: number): number {{\n  /* block\n     comment */\n  return x + 1;\n}}\n",
    "js": "// Module {i}\n'use strict';\n\nfunction helper{i}(x) {{\n  console.log(x);\n  return x + 1;\n}}\n\nclass Item{i} {{\n  constructor(value) {{\n    this.value = value;\n  }}\n\n  double() {{\n    return this.value * 2;\n  }}\n}}\n\nmodule.exports = {{ helper{i}, Item{i} }};\n",
    "go": "// Package p{i} does things.\npackage p{i}\n\nimport \"fmt\"\n\n// Item is a value.\ntype Item struct {{\n\tValue int\n}}\n\n// Double doubles.\nfunc (i *Item) Double() int {{\n\treturn i.Value * 2\n}}\n\nfunc helper{i}(x int) int {{\n\t_ = fmt.Sprint(x)\n\treturn x + 1\n}}\n",
    "java": "package p{i};\n\n/** An item. */\npublic class Item{i} {{\n    private final int value;\n\n    public Item{i}(int value) {{\n        this.value = value;\n    }}\n\n    // HACK: visible for tests\n    public int doubled() {{\n        return value * 2;\n    }}\n}}\n",
    "c": "/* Module {i}. */\n#include <stdio.h>\n\nstatic int helper_{i}(int x)\n{{\n    return x + 1;\n}}\n\nint item_{i}(int value) {{\n    char buf[16];\n    sprintf(buf, \"%d\", value);\n    return helper_{i}(value) * 2;\n}}\n",
    "rb": "# Module {i}\nmodule P{i}\n  class Item\n    def initialize(value)\n      @value = value\n    end\n\n    def double\n      @value * 2\n    end\n  end\nend\n",
    "md": "# Notes {i}\n\nSome text about module {i}.\n\n- one\n- two\n\n```\ncode\n```\n",
    "json": "{{\n  \"name\": \"item{i}\",\n  \"value\": {i},\n  \"tags\": [\"a\", \"b\"]\n}}\n",
}
exts = list(templates)
n = 0
for d in range(1000):
    directory = os.path.join(root, f"pkg{d // 100:02d}", f"mod{d:04d}")
    os.makedirs(directory, exist_ok=True)
    for f in range(100):
        ext = exts[n % len(exts)]
        with open(os.path.join(directory, f"file{f:03d}.{ext}"), "w") as out:
            out.write(templates[ext].format(i=n))
        n += 1
print(f"{n} files", file=sys.stderr)
PY

# Runs mmm and tokei on one tree RUNS times each, alternating so that both see the same machine
# load, after one warm-up run each, and prints a row: files, median seconds and median peak
# RSS of each, and the time ratio. Peak RSS comes from wait4(2) for each child.
report() {
    local name="$1" tree="$2" files
    files="$(find "$tree" -type f | wc -l | tr -d ' ')"
    python3 - "$RUNS" "$name" "$files" "$tree" "$MMM" "$TOKEI" <<'PY'
import os, statistics, subprocess, sys, time

runs, name, files, tree, mmm, tokei = sys.argv[1:]
commands = {"mmm": [mmm, "analyze", "--no-cache", "--output", "json", tree], "tokei": [tokei, tree]}
times = {k: [] for k in commands}
peaks = {k: [] for k in commands}
for i in range(int(runs) + 1):
    for key, cmd in commands.items():
        start = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        if status != 0:
            sys.exit(f"{cmd[0]} failed with status {status}")
        if i > 0:  # the first round only warms the page cache
            times[key].append(elapsed)
            peaks[key].append(usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux
ms, ts = statistics.median(times["mmm"]), statistics.median(times["tokei"])
mk, tk = statistics.median(peaks["mmm"]), statistics.median(peaks["tokei"])
print(f"{name:<22} {int(files):>9,} {ms:>9.3f} {ts:>9.3f} {ms / ts:>7.2f}x {mk:>9.1f} {tk:>9.1f}")
PY
}

echo
echo "median of $RUNS runs on $(nproc) cores; mmm $("$MMM" --version | cut -d' ' -f2), $("$TOKEI" --version)"
printf '%-22s %9s %9s %9s %8s %9s %9s\n' "tree" "files" "mmm s" "tokei s" "ratio" "mmm MiB" "tokei MiB"
report "cargo registry" "$REGISTRY"
report "generated 100k files" "$WORK/tree"
