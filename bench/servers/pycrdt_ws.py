"""pycrdt-websocket's WebsocketServer behind its ASGIServer, run by uvicorn (in memory), on HOST:PORT."""

import asyncio
import os

import uvicorn
from pycrdt.websocket import ASGIServer, WebsocketServer


async def main() -> None:
    async with WebsocketServer(auto_clean_rooms=True) as websocket_server:
        app = ASGIServer(websocket_server)
        config = uvicorn.Config(
            app,
            host=os.environ.get("HOST", "127.0.0.1"),
            port=int(os.environ.get("PORT", "1234")),
            log_level="warning",
            ws_max_size=64 * 1024 * 1024,
        )
        await uvicorn.Server(config).serve()


asyncio.run(main())
