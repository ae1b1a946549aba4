#!/usr/bin/env python3
"""A custom validator for mmm: every source file must start with a licence header.

As a check (`validate.commands`), it lists the source files git tracks (and new ones not
ignored) whose first lines lack `SPDX-License-Identifier:` and exits 1 when there is any,
so mmm keeps no change that drops or forgets a header.

As a command tool (`--tool`), it reads `{"paths": [...]}` (optional) as JSON on stdin, checks
those files (or all of them) the same way and prints the result; it exits 0 either way, so the
model reads the list as an ordinary tool result. Paths outside the current directory are
refused.
"""

import json
import os
import subprocess
import sys

MARKER = os.environ.get("LICENSE_HEADER_MARKER", "SPDX-License-Identifier:")
EXTENSIONS = (".rs", ".py", ".js", ".ts", ".go", ".c", ".h", ".cpp", ".java", ".sh")
HEAD_LINES = 5


def source_files():
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True, text=True,
    ).stdout
    return sorted(p for p in out.splitlines() if p.endswith(EXTENSIONS) and os.path.isfile(p))


def lacks_header(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        head = [f.readline() for _ in range(HEAD_LINES)]
    return not any(MARKER in line for line in head)


def inside(path):
    root = os.path.realpath(".")
    return os.path.realpath(path).startswith(root + os.sep)


def main():
    tool = "--tool" in sys.argv[1:]
    paths = source_files()
    if tool:
        request = json.loads(sys.stdin.read() or "{}")
        asked = request.get("paths")
        if asked:
            refused = [p for p in asked if not inside(p)]
            if refused:
                print("refused (outside the repository): " + ", ".join(refused))
                return 0
            paths = [p for p in asked if os.path.isfile(p)]
    missing = [p for p in paths if lacks_header(p)]
    if not missing:
        print(f"license headers: all {len(paths)} source file(s) have `{MARKER}` in their first {HEAD_LINES} lines")
        return 0
    print(f"license headers: {len(missing)} of {len(paths)} source file(s) lack `{MARKER}` in their first {HEAD_LINES} lines:")
    for path in missing:
        print(f"  {path}")
    return 0 if tool else 1


if __name__ == "__main__":
    sys.exit(main())
