#!/usr/bin/env bash
# The analyzer panel (issue 12): on well-known, well-maintained projects, do mmm's code lines
# equal tokei's, and what do the health score, primary language and focus areas say?
#
#   scripts/bench-panel.sh                 registry packages only (fetched from crates.io, PyPI, npm)
#   PANEL_REPOS="/src/ripgrep /src/requests" scripts/bench-panel.sh
#                                          plus whole repositories (tests, CI and docs included),
#                                          which registry packages often leave out
#
# Registry packages are fetched into $PANEL_DIR (default /tmp/mmm-panel); what cannot be fetched
# is skipped, saying so. tokei runs with --hidden (mmm reads hidden files such as .github/) and
# with --exclude for every path mmm's JSON lists under files.excluded (pruned vendored and build
# directories, files over the size limit), so both count the same files. Code lines are compared
# per language; the health score is the panel's figure for "agrees with experts" (whole
# repositories of the projects below should score at least 7.5).
set -euo pipefail

cd "$(dirname "$0")/.."
PANEL_DIR="${PANEL_DIR:-/tmp/mmm-panel}"
mkdir -p "$PANEL_DIR"

if [[ -z "${MMM:-}" ]]; then
    cargo build --release --quiet
    MMM="$PWD/target/release/mmm"
fi
CRATES=(regex@1.11.1 serde@1.0.219 tokio@1.45.0 rusqlite@0.36.0 ring@0.17.14)
PYPI=(requests==2.32.3 attrs==25.3.0 more-itertools==10.7.0)
NPM=(express@5.1.0)

trees=()
fetch_crate() {
    local name=${1%@*} version=${1#*@} dir="$PANEL_DIR/crate-${1%@*}"
    if [[ ! -d "$dir" ]]; then
        mkdir -p "$dir"
        curl -sSfL "https://static.crates.io/crates/$name/$name-$version.crate" | tar -xz -C "$dir" --strip-components=1 ||
            { echo "skipped crate $1: could not fetch it" >&2; rm -rf "$dir"; return; }
    fi
    trees+=("$dir")
}
fetch_pypi() {
    local name=${1%==*} dir="$PANEL_DIR/pypi-${1%==*}"
    if [[ ! -d "$dir" ]]; then
        local tmp
        tmp=$(mktemp -d)
        if pip download --quiet --no-deps --no-binary :all: "$1" -d "$tmp" 2>/dev/null; then
            mkdir -p "$dir"
            tar -xzf "$tmp"/*.tar.gz -C "$dir" --strip-components=1
        else
            echo "skipped PyPI $1: could not fetch it" >&2
        fi
        rm -rf "$tmp"
        [[ -d "$dir" ]] || return 0
    fi
    trees+=("$dir")
}
fetch_npm() {
    local name=${1%@*} dir="$PANEL_DIR/npm-${1%@*}"
    if [[ ! -d "$dir" ]]; then
        local tmp
        tmp=$(mktemp -d)
        if (cd "$tmp" && npm pack "$1" --silent >/dev/null 2>&1); then
            mkdir -p "$dir"
            tar -xzf "$tmp"/*.tgz -C "$dir" --strip-components=1
        else
            echo "skipped npm $1: could not fetch it" >&2
        fi
        rm -rf "$tmp"
        [[ -d "$dir" ]] || return 0
    fi
    trees+=("$dir")
}
for c in "${CRATES[@]}"; do fetch_crate "$c"; done
for p in "${PYPI[@]}"; do fetch_pypi "$p"; done
for n in "${NPM[@]}"; do fetch_npm "$n"; done
for r in ${PANEL_REPOS:-}; do
    if [[ -d "$r" ]]; then trees+=("$r"); else echo "skipped repository $r: not a directory" >&2; fi
done
[[ -n "${PANEL_REPOS:-}" ]] || echo "no PANEL_REPOS given: whole repositories skipped" >&2
if ! command -v tokei >/dev/null 2>&1; then
    echo "installing tokei..." >&2
    cargo install tokei --locked --quiet
fi

python3 - "$MMM" "$(command -v tokei)" "${trees[@]}" <<'EOF'
import json, subprocess, sys

# mmm's language name -> tokei's names for the same files (mmm folds headers and dialects).
NAMES = {
    "C": ["C", "C Header"], "C++": ["C++", "C++ Header"], "Shell": ["Shell", "BASH", "Zsh"],
    "Text": ["Plain Text"], "JavaScript": ["JavaScript", "JSX"], "TypeScript": ["TypeScript", "TSX"],
    "Terraform": ["HCL"], "Starlark": ["Bazel"], "SCSS": ["Sass", "LESS"], "XML": ["XML", "SVG"],
    "reStructuredText": ["ReStructuredText"], "GNU Assembly": ["GNU Style Assembly"],
    "INI": ["INI", "Forge Config"],
}
mmm, tokei, trees = sys.argv[1], sys.argv[2], sys.argv[3:]
print(f"{'tree':28} {'mmm code':>9} {'tokei code':>10} {'equal':>6} {'score':>5}  primary     focus")
for tree in trees:
    a = json.loads(subprocess.run([mmm, "analyze", "--no-cache", "--output", "json", tree],
                                  check=True, capture_output=True, text=True).stdout)
    cmd = [tokei, "--hidden", "--output", "json"]
    for path in a["files"]["excluded"]:
        cmd += ["--exclude", "/" + path.rstrip("/")]
    # From inside the tree: tokei anchors --exclude patterns at its working directory.
    t = json.loads(subprocess.run(cmd + ["."], cwd=tree, check=True, capture_output=True, text=True).stdout)
    t.pop("Total", None)
    mmm_code = theirs = 0
    differ = []
    for lang in a["languages"]:
        names = NAMES.get(lang["name"], [lang["name"]])
        tc = sum(t.get(n, {}).get("code", 0) for n in names)
        mmm_code += lang["code"]
        theirs += tc
        if tc != lang["code"]:
            differ.append(f"{lang['name']} {lang['code']} vs {tc}")
    known = {n for l in a["languages"] for n in NAMES.get(l["name"], [l["name"]])}
    only_tokei = [f"{k} {v['code']}" for k, v in t.items() if k not in known and v.get("code")]
    focus = "; ".join(f["reason"] for f in a["focus_areas"][:2])
    name = tree.rstrip("/").split("/")[-1]
    print(f"{name:28} {mmm_code:>9} {theirs:>10} {'yes' if not differ else 'no':>6} "
          f"{a['health']['score']:>5}  {str(a['primary_language']):11} {focus[:110]}")
    for d in differ:
        print(f"{'':30}differs: {d}")
    for o in only_tokei:
        print(f"{'':30}only tokei knows: {o}")
EOF
