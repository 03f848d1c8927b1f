"""Admin adapter: the live sessions dashboard, its JSON API and Socket.IO namespace, Prometheus metrics and
`collab sessions`.

Modules: ``auth`` (who may look: admin token or wiki group; the bearer-token helpers ``/metrics`` shares),
``sessions`` (the snapshot rows), ``hub`` (the ``/admin`` namespace, routes and live pushes), ``metrics``
(Prometheus) and ``cli`` (``collab sessions``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .auth import AdminAuth
    from .hub import AdminHub
    from .metrics import Metrics, sqlite_bytes
    from .sessions import SessionView

__all__ = ["AdminAuth", "AdminHub", "Metrics", "SessionView", "sqlite_bytes"]

# Loaded on first use: every `collab` command imports `collab.admin.cli`, and importing the server side here
# (socketio, aiohttp, prometheus_client, pycrdt) would add ~0.4 s to each of them.
_HOME = {
    "AdminAuth": "auth",
    "AdminHub": "hub",
    "Metrics": "metrics",
    "SessionView": "sessions",
    "sqlite_bytes": "metrics",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
