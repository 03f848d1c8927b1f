"""A recording :class:`collab.relay.Wire`: what each connection would have received, and who was cut off."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from collab import protocol as p


class RecordingWire:
    """Implements the core's ``Wire`` port in memory: nothing is sent, everything is kept, in order."""

    def __init__(self) -> None:
        self.received: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}
        self.disconnected: list[tuple[str, bool]] = []  # (sid, close_tcp)

    async def send(self, sid: str, event: str, *args: Any) -> None:
        self.received.setdefault(sid, []).append((event, args))

    async def broadcast(self, sids: Collection[str], event: str, args: tuple[Any, ...]) -> int:
        for sid in sids:
            self.received.setdefault(sid, []).append((event, args))
        return len(sids)

    async def disconnect(self, sid: str, *, close_tcp: bool = False) -> None:
        self.disconnected.append((sid, close_tcp))

    # ---- reading what was sent ---------------------------------------------------------------------
    def statuses(self, sid: str) -> list[dict[str, Any]]:
        """The ``status`` payloads ``sid`` received, in order."""
        return [args[1] for event, args in self.received.get(sid, []) if event == p.EVENT_STATUS]

    def y_messages(self, sid: str) -> list[p.Message]:
        """The y-protocol messages ``sid`` received, parsed, in order."""
        return [p.parse_message(args[1]) for event, args in self.received.get(sid, []) if event == p.EVENT_Y]
