"""A tool bridge for mmm: "run one test by name", as an MCP server.

Built on the official Python MCP SDK (`pip install mcp`). The test command is fixed in the
configuration (the arguments after `--`); the model gives only the test's name, which is
appended as ONE argument (never through a shell, never as an option):

    [mcp.run-test]
    command = "python3"
    args = ["examples/plugins/run-test/server.py", "--", "cargo", "test", "--quiet", "--"]
    timeout_secs = 300

The tool returns the exit code and the output's last lines. It runs in mmm's work tree.
"""

import subprocess
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

if "--" not in sys.argv or sys.argv.index("--") == len(sys.argv) - 1:
    sys.exit("usage: server.py -- <test command...>   (the test's name is appended)")
COMMAND = sys.argv[sys.argv.index("--") + 1 :]
# The output kept for the model: its last lines (mmm bounds it again).
TAIL_LINES = 80
TIMEOUT_SECS = 600

server = MCPServer("run-test")


@server.tool()
def run_test(name: str) -> str:
    """Runs one test by name with the project's test command and returns its exit code and output."""
    if not name or name.startswith("-") or "\n" in name:
        raise ToolError("give a test's name (not an option)")
    try:
        done = subprocess.run(
            COMMAND + [name],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIMEOUT_SECS,
        )
    except subprocess.TimeoutExpired:
        return f"`{name}` did not finish within {TIMEOUT_SECS}s"
    except FileNotFoundError:
        return f"the test command `{COMMAND[0]}` was not found"
    lines = done.stdout.splitlines()[-TAIL_LINES:]
    verdict = "passed" if done.returncode == 0 else "FAILED"
    return f"`{name}` {verdict} (exit {done.returncode})\n" + "\n".join(lines)


if __name__ == "__main__":
    server.run("stdio")
