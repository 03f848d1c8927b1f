"""The examples run against a real server and the real dev wiki."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from collab.dev import devwiki as dw
from tests.plugins.server import ServerFactory
from tests.wikiclient import WikiUser

ROOT = Path(__file__).parents[1]


def test_two_editors_example_prints_a_history_crediting_both(
    collab_server: ServerFactory, devwiki: dw.DevWiki, admin: WikiUser
):
    server = collab_server(commit_idle_s=30, commit_max_s=60)
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "two_editors.py"), "--server", server.url,
         "--wiki-api", devwiki.api, "--title", "Example page", "--words", "8"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    out = result.stdout
    assert "History of Example page" in out
    latest = admin.latest_revision("Example page")
    assert "[[User:Alice|Alice]]" in latest["comment"] and "[[User:Bob|Bob]]" in latest["comment"]
    assert f"r{latest['revid']}  Alice, Bob" in out or f"r{latest['revid']}  Bob, Alice" in out
    text = latest["content"]
    assert all(f"a{i} " in text or text.endswith(f"a{i}") for i in range(8))
    assert all(f"b{i} " in text or text.endswith(f"b{i}") for i in range(8))
