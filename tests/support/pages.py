"""Page helpers for tests that share one dev wiki and one server's page log."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

from tests.plugins.server import CollabProcess


def unique_title(prefix: str) -> str:
    """A page title no other test (or earlier run against the same wiki) uses: ``prefix`` and a random suffix."""
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def revisions(server: CollabProcess, title: str) -> list[dict[str, Any]]:
    """The revisions ``server`` saved of ``title``, from its ``/api/pages/<title>/revisions``."""
    with urllib.request.urlopen(f"{server.url}/api/pages/{title.replace(' ', '_')}/revisions", timeout=10) as resp:
        result: list[dict[str, Any]] = json.load(resp)["revisions"]
        return result
