"""Cluster adapter (Redis): the page log in Streams, relay between nodes, commit leases, presence.

app.py builds a :class:`Cluster` (``node``) and uses nothing else; docs/scaling.md describes the whole.
"""

from .node import Cluster, RedisUnavailable

__all__ = ["Cluster", "RedisUnavailable"]
