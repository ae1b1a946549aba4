"""GitHub issues and pull requests as read-only context for mmm, as an MCP server.

Built on the official Python MCP SDK (`pip install mcp`). It only reads: its tools GET
the GitHub REST API and return text; nothing here can write to GitHub. Configure it with

    [mcp.github]
    command = "python3"
    args = ["examples/plugins/github/server.py"]
    env = ["GITHUB_TOKEN", "GITHUB_REPOSITORY"]

`GITHUB_REPOSITORY` is `owner/name`; `GITHUB_TOKEN` is optional for public repositories
(use a read-only, fine-grained token). `GITHUB_API_URL` (default https://api.github.com)
points it elsewhere, such as GitHub Enterprise or a test's loopback server.
"""

import json
import os
import urllib.error
import urllib.request

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("github-readonly")

# Bodies longer than this are cut: the model needs the gist, not a whole thread.
MAX_BODY = 4000


def _get(path: str):
    base = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    request = urllib.request.Request(base + path, headers={"Accept": "application/vnd.github+json"})
    token = os.environ.get("GITHUB_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        raise ToolError(f"GitHub answered {e.code} for {path}") from None


def _repo() -> str:
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    if repo.count("/") != 1:
        raise ToolError("set GITHUB_REPOSITORY to owner/name and pass it through in `env`")
    return repo


def _body(text) -> str:
    text = (text or "").strip()
    return text if len(text) <= MAX_BODY else text[:MAX_BODY] + "\n[... cut ...]"


@server.tool()
def get_issue(number: int) -> str:
    """An issue of the repository: its title, state, labels and description."""
    issue = _get(f"/repos/{_repo()}/issues/{number}")
    labels = ", ".join(label["name"] for label in issue.get("labels", [])) or "none"
    return f"#{number} {issue['title']} ({issue['state']}; labels: {labels})\n\n{_body(issue.get('body'))}"


@server.tool()
def list_issues(state: str = "open", limit: int = 20) -> str:
    """The repository's issues (not pull requests), newest first: number, title and labels."""
    if state not in ("open", "closed", "all"):
        raise ToolError("state is open, closed or all")
    limit = max(1, min(limit, 100))
    issues = _get(f"/repos/{_repo()}/issues?state={state}&per_page={limit}")
    lines = []
    for issue in issues:
        if "pull_request" in issue:
            continue
        labels = ", ".join(label["name"] for label in issue.get("labels", []))
        lines.append(f"#{issue['number']} {issue['title']}" + (f" [{labels}]" if labels else ""))
    return "\n".join(lines) or "no issues"


@server.tool()
def get_pull_request(number: int) -> str:
    """A pull request: its title, state, branches, description and the files it changes."""
    pr = _get(f"/repos/{_repo()}/pulls/{number}")
    files = _get(f"/repos/{_repo()}/pulls/{number}/files?per_page=100")
    changed = "\n".join(f"- {f['filename']} (+{f['additions']} -{f['deletions']})" for f in files)
    return (
        f"PR #{number} {pr['title']} ({pr['state']}; {pr['head']['ref']} -> {pr['base']['ref']})\n\n"
        f"{_body(pr.get('body'))}\n\nFiles:\n{changed or '- none'}"
    )


if __name__ == "__main__":
    server.run("stdio")
