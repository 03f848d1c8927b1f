"""Test clients that speak the real protocol: Python (pycrdt + python-socketio) and Node (yjs, via yclient.mjs).

Waiting is event-driven: ``wait_until`` re-checks its condition whenever something arrives, with a
deadline only as a failure bound (no fixed sleeps).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import socketio
from pycrdt import Awareness, Doc, Text

from collab import protocol as p

JS_CLIENT = Path(__file__).parent / "js" / "yclient.mjs"


class Page:
    def __init__(self, title: str, ack: dict[str, Any]) -> None:
        self.title = title
        self.ack = ack
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get(p.TEXT_NAME, type=Text)
        self.awareness = Awareness(self.doc)
        self.statuses: list[dict[str, Any]] = []
        self.synced = False

    def __str__(self) -> str:
        return str(self.text)


class PyClient:
    """A Python Yjs client: pycrdt Doc per page, python-socketio transport."""

    def __init__(self, url: str, *, cookie: str | None = None, auth: dict[str, Any] | None = None) -> None:
        self.url = url
        self.cookie = cookie
        self.auth = auth
        self.sio = socketio.AsyncClient(reconnection=False)
        self.pages: dict[str, Page] = {}
        self.errors: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Event()
        self._sends: set[asyncio.Future[None]] = set()
        self.sio.on("y", self._on_y)
        self.sio.on("status", self._on_status)
        self.sio.on("disconnect", self._poke)

    async def connect(self) -> PyClient:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        await self.sio.connect(self.url, transports=["websocket"], headers=headers, auth=self.auth, wait_timeout=10)
        return self

    async def close(self) -> None:
        await self.sio.disconnect()

    async def _poke(self, *args: Any) -> None:
        self._changed.set()

    async def join(self, title: str) -> Page:
        ack = await self.sio.call("join", title, timeout=30)
        if not ack["ok"]:
            raise JoinRefused(ack["error"]["code"], ack["error"]["message"])
        page = Page(ack["title"], ack)
        self.pages[page.title] = page

        def send_local(event: Any) -> None:
            if getattr(page, "_applying", False):
                return
            fut = asyncio.ensure_future(self.emit_y(page.title, p.sync_update(event.update)))
            self._sends.add(fut)
            fut.add_done_callback(self._sends.discard)

        page.doc.observe(send_local)
        await self.emit_y(page.title, p.sync_step1(page.doc.get_state()))
        return page

    async def join_raw(self, title: str) -> dict[str, Any]:
        ack: dict[str, Any] = await self.sio.call("join", title, timeout=30)
        return ack

    async def flush(self) -> None:
        """Wait until every local change has been handed to the transport (keeps order with calls)."""
        while self._sends:
            await asyncio.gather(*list(self._sends))

    async def leave(self, title: str) -> dict[str, Any]:
        await self.flush()
        self.pages.pop(title, None)
        ack: dict[str, Any] = await self.sio.call("leave", title, timeout=10)
        return ack

    async def save(self, title: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """``save(title)``, or ``save(title, options)`` (the edit form's ``{summary, minor}``)."""
        await self.flush()
        data: Any = title if options is None else (title, options)
        ack: dict[str, Any] = await self.sio.call("save", data, timeout=120)
        return ack

    async def emit_y(self, title: str, msg: bytes) -> None:
        await self.sio.emit("y", (title, msg))

    async def _on_y(self, title: str, msg: bytes) -> None:
        page = self.pages.get(title)
        if page is None:
            return
        m = p.parse_message(msg)
        if m.kind == "step1":
            await self.emit_y(title, p.sync_step2(page.doc.get_update(m.payload)))
        elif m.kind in ("step2", "update"):
            page._applying = True  # type: ignore[attr-defined]
            try:
                page.doc.apply_update(m.payload)
            finally:
                page._applying = False  # type: ignore[attr-defined]
            page.synced = page.synced or m.kind == "step2"
        elif m.kind == "awareness":
            page.awareness.apply_awareness_update(m.payload, "server")
        self._changed.set()

    async def _on_status(self, title: str, status: dict[str, Any]) -> None:
        page = self.pages.get(title)
        if page is not None:
            page.statuses.append(status)
            if status.get("state") == "moved" and isinstance(status.get("title"), str):
                # The wiki moved the page: it is the new title from now on (protocol.md), for sends too.
                page.title = status["title"]
                self.pages[page.title] = self.pages.pop(title)
        if status.get("state") == "error":
            self.errors.append((title, status))
        self._changed.set()

    def edit(self, title: str, index: int, insert: str = "", delete: int = 0) -> None:
        """Edit by code point index (converted to pycrdt's UTF-8 offsets)."""
        page = self.pages[title]
        s = str(page.text)
        start = len(s[:index].encode())
        with page.doc.transaction():
            if delete:
                end = len(s[: index + delete].encode())
                del page.text[start:end]
            if insert:
                page.text.insert(start, insert)

    def append(self, title: str, insert: str) -> None:
        self.edit(title, len(str(self.pages[title].text)), insert)

    async def wait_until(self, cond: Callable[[], bool], timeout: float = 20, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.5))
            except TimeoutError:
                pass

    async def wait_status(self, title: str, state: str, timeout: float = 30, since: int = 0) -> dict[str, Any]:
        page = self.pages[title]

        def found() -> bool:
            return any(s["state"] == state for s in page.statuses[since:])

        await self.wait_until(found, timeout, f"status {state!r} on {title!r}")
        return next(s for s in page.statuses[since:] if s["state"] == state)


class JoinRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class NodeClient:
    """A real Yjs client in Node (tests/js/yclient.mjs), driven over JSON lines."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self._next = 0
        self._waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> NodeClient:
        self.proc = await asyncio.create_subprocess_exec(
            "node", str(JS_CLIENT), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            msg = json.loads(line)
            if "id" in msg and msg["id"] in self._waiters:
                self._waiters.pop(msg["id"]).set_result(msg)
            else:
                self.events.append(msg)

    async def call(self, cmd: str, timeout: float = 30, **args: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self._next += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[self._next] = fut
        self.proc.stdin.write((json.dumps({"id": self._next, "cmd": cmd, **args}) + "\n").encode())
        await self.proc.stdin.drain()
        result = await asyncio.wait_for(fut, timeout)
        if "error" in result:
            raise RuntimeError(result["error"])
        return result

    async def text(self, title: str) -> str:
        return str((await self.call("text", title=title))["text"])

    async def wait_text(self, title: str, cond: Callable[[str], bool], timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = await self.text(title)
            if cond(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"node client text never matched; last: {text!r}")
            await asyncio.sleep(0.05)  # polling a subprocess: no event to wait on across the pipe

    async def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            try:
                await self.call("close", timeout=5)
            except (RuntimeError, TimeoutError, BrokenPipeError, ConnectionResetError):
                pass
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
        if self._reader is not None:
            self._reader.cancel()


class HeaderClient(PyClient):
    """A PyClient that sends extra handshake headers (Origin, X-Forwarded-For)."""

    def __init__(self, url: str, headers: dict[str, str], **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.headers = headers

    async def connect(self) -> HeaderClient:
        headers = {**self.headers, **({"Cookie": self.cookie} if self.cookie else {})}
        await self.sio.connect(self.url, transports=["websocket"], headers=headers, auth=self.auth, wait_timeout=10)
        return self


async def refusal(url: str, *, headers: dict[str, str] | None = None, auth: Any = None) -> dict[str, Any]:
    """Connect and expect a refusal: returns the server's ``connect_error`` payload ({} for a bare refusal)."""
    sio = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []

    async def on_error(data: Any = None) -> None:
        errors.append(data)

    sio.on("connect_error", on_error)
    try:
        await sio.connect(url, transports=["websocket"], headers=headers or {}, auth=auth, wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        data = errors[-1] if errors else None
        return data if isinstance(data, dict) else {}
    await sio.disconnect()
    raise AssertionError("the connection was accepted")
