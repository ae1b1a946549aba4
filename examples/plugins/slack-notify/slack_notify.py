#!/usr/bin/env python3
"""A mmm hook: posts a one-line summary of a session event to a Slack incoming webhook.

mmm runs it with the event's JSON line on stdin (see docs/hooks.md). The webhook URL comes
from the environment variable SLACK_WEBHOOK_URL, never from a file that gets committed.
The body is Slack's `{"text": ...}` plus the whole event under `event`, so other chat tools
that read the same shape (Mattermost, Rocket.Chat, Discord's /slack endpoint) work too.
Exits non-zero (and mmm reports it) when the URL is missing or the post fails.
"""

import json
import os
import sys
import urllib.request


def text_of(event):
    kind = event.get("type")
    session = event.get("session", "")
    if kind == "iteration":
        commit = (event.get("commit") or "")[:7]
        verb = "committed " + commit if event.get("outcome") == "committed" else event.get("outcome", "").replace("_", " ")
        summary = event.get("summary") or ""
        return f"mmm {session}: iteration #{event.get('index')} {verb}: {summary}".rstrip(": ")
    if kind == "session_started":
        return f"mmm {session}: session started on {event.get('branch')} with {event.get('model')}"
    if kind == "summary":
        cost = event.get("cost_usd")
        spent = f", ${cost:.2f}" if isinstance(cost, (int, float)) else ""
        return (f"mmm {session}: session ended ({event.get('stop_reason')}): "
                f"{len(event.get('commits') or [])} commit(s) on {event.get('branch')}{spent}")
    return f"mmm {session}: {kind}"


def main():
    url = os.environ.get("SLACK_WEBHOOK_URL")
    if not url:
        print("slack-notify: set SLACK_WEBHOOK_URL to the incoming webhook's URL", file=sys.stderr)
        return 2
    event = json.loads(sys.stdin.read())
    body = json.dumps({"text": text_of(event), "event": event}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:
        if response.status >= 300:
            print(f"slack-notify: the webhook answered {response.status}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
