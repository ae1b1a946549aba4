#!/usr/bin/env bash
# Measures whether common toolchains pass their own tests inside mmm's sandbox (docs/sandbox.md):
# for each small project, `mmm improve --dry-run` runs its test command as the baseline check,
# sandboxed (the default) and with `-c sandbox.mode=off`, and prints pass/fail and wall time.
# Usage: scripts/sandbox-toolchains.sh [path/to/mmm]   (needs git; skips toolchains not installed)
set -euo pipefail
MMM=${1:-target/debug/mmm}
MMM=$(realpath "$MMM")
WORK=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT; echo "work: $WORK" >&2

project() { # name check-command: a git repository in $WORK/name with the check configured
  local dir="$WORK/$1"
  mkdir -p "$dir/.mmm"
  printf '[validate]\ncommands = [%s]\n' "$(printf '%s' "$2" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" > "$dir/.mmm/config.toml"
  printf 'target/\nnode_modules/\n__pycache__/\n.pytest_cache/\n' > "$dir/.gitignore"
}

commit() {
  git -C "$1" init -q -b main && git -C "$1" -c user.name=m -c user.email=m@m.invalid add -A
  git -C "$1" -c user.name=m -c user.email=m@m.invalid -c commit.gpgsign=false commit -qm init
}

measure() { # name: baseline sandboxed and unsandboxed
  local dir="$WORK/$1" mode
  for mode in best-effort off; do
    local start end out
    start=$(date +%s.%N)
    out=$(cd "$dir" && env -u ANTHROPIC_API_KEY "$MMM" improve --dry-run --output json -c sandbox.mode=$mode 2>&1 | tail -1)
    end=$(date +%s.%N)
    printf '%-14s %-12s baseline_passed=%s  %.1fs\n' "$1" "$mode" \
      "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read()).get("baseline_passed"))')" \
      "$(echo "$end - $start" | bc)"
    git -C "$dir" clean -qfdX
  done
}

# cargo: a crate with a build.rs (writes OUT_DIR) and a test using the temp dir, no dependencies.
project cargo-build-rs "cargo test --offline -q"
(cd "$WORK/cargo-build-rs" && cargo init -q --lib --name measure >/dev/null)
cat > "$WORK/cargo-build-rs/build.rs" <<'RS'
fn main() {
    let out = std::env::var("OUT_DIR").unwrap();
    std::fs::write(format!("{out}/gen.rs"), "pub const N: u32 = 42;").unwrap();
}
RS
cat > "$WORK/cargo-build-rs/src/lib.rs" <<'RS'
include!(concat!(env!("OUT_DIR"), "/gen.rs"));
#[test]
fn generated() { assert_eq!(N, 42); }
#[test]
fn temp_dir() { let f = std::env::temp_dir().join(format!("probe-{}", std::process::id())); std::fs::write(&f, "x").unwrap(); std::fs::remove_file(f).unwrap(); }
RS
commit "$WORK/cargo-build-rs"; measure cargo-build-rs

# cargo with a dependency from the local registry cache (offline: it must already be downloaded).
project cargo-dep "cargo test --offline -q"
(cd "$WORK/cargo-dep" && cargo init -q --lib --name withdep >/dev/null && printf 'libc = "0.2"\n' >> Cargo.toml)
printf 'pub fn pid() -> i32 { unsafe { libc::getpid() } }\n#[test]\nfn t() { assert!(pid() > 0); }\n' > "$WORK/cargo-dep/src/lib.rs"
(cd "$WORK/cargo-dep" && cargo generate-lockfile --offline -q)
commit "$WORK/cargo-dep"; measure cargo-dep

if python3 -c 'import pytest' 2>/dev/null; then
  project pytest "python3 -m pytest -q"
  printf 'def test_add():\n    assert 1 + 1 == 2\n\ndef test_tmp(tmp_path):\n    (tmp_path / "x").write_text("x")\n' > "$WORK/pytest/test_a.py"
  commit "$WORK/pytest"; measure pytest
else echo "pytest: not installed, skipped"; fi

if command -v npm >/dev/null; then
  project npm "npm test --silent"
  printf '{"name": "m", "version": "1.0.0", "scripts": {"test": "node --test"}}\n' > "$WORK/npm/package.json"
  cat > "$WORK/npm/a.test.js" <<'JS'
const test = require('node:test'); const assert = require('node:assert');
const fs = require('node:fs'); const os = require('node:os'); const path = require('node:path');
test('adds', () => assert.strictEqual(1 + 1, 2));
test('tmp', () => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'm-')); fs.writeFileSync(path.join(d, 'x'), 'x'); });
JS
  commit "$WORK/npm"; measure npm
else echo "npm: not installed, skipped"; fi

if command -v go >/dev/null; then
  project go "go test ./..."
  printf 'module example.com/m\n\ngo 1.21\n' > "$WORK/go/go.mod"
  printf 'package m\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) { if 1+1 != 2 { t.Fatal() } }\n' > "$WORK/go/m_test.go"
  commit "$WORK/go"; measure go
else echo "go: not installed, skipped"; fi
