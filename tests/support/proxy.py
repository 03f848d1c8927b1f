"""A TCP proxy in front of the dev wiki that can play dead: it keeps accepting and reading, but forwards nothing
while ``hang()`` lasts, and drops what it reads meanwhile (a wiki that stopped answering: requests run into
their timeouts, and none of them reaches the wiki later). It runs its own event
loop in a thread, so a test may block its own loop (a server's synchronous start-up) while traffic flows."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from tests.support.net import free_port


class HangingProxy:
    """``http://127.0.0.1:{port}`` forwards to ``host:port`` until :meth:`hang`; :meth:`resume` lets it go on."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self.flowing = True
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hanging proxy", daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> HangingProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def hang(self) -> None:
        self.flowing = False

    def resume(self) -> None:
        self.flowing = True

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if not self.flowing:
                    continue  # playing dead: what was read is dropped, nothing is answered
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
