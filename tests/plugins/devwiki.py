"""Pytest plugin: a real, throwaway MediaWiki for the whole test session, plus logged-in users.

Enable it with ``pytest_plugins = ["tests.plugins.devwiki"]`` in ``tests/conftest.py``. Fixtures:

- ``devwiki`` (session): a fresh :class:`collab.dev.devwiki.DevWiki` on a free TCP port in a temporary
  directory, pushing its recent changes as JSON datagrams to a free UDP port
  (``devwiki.rcfeed_port``, also ``devwiki.env()["DEVWIKI_RCFEED_PORT"]``); no collab loader installed.
- ``admin`` (sysop), ``alice``, ``bob`` (normal users): session-scoped logged-in
  :class:`tests.wikiclient.WikiUser` objects.
- ``bot_credentials``: ``("SyncBot@collab", <bot password>)`` for the sync bot.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from collab.dev import devwiki as dw
from tests.support.net import free_port
from tests.wikiclient import WikiUser


@pytest.fixture(scope="session")
def devwiki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dw.DevWiki]:
    """A fresh wiki for the session, with an RC feed to a free UDP port; removed at the end."""
    directory = tmp_path_factory.mktemp("devwiki")
    port = free_port()
    wiki = dw.up(directory, port, collab_url=None, rcfeed_port=free_port(socket.SOCK_DGRAM), quiet=True)
    try:
        yield wiki
    finally:
        dw.down(wiki.dir, wiki.port)


@pytest.fixture(scope="session")
def admin(devwiki: dw.DevWiki) -> WikiUser:
    """``Admin`` (sysop), logged in."""
    return WikiUser.login(devwiki.api, dw.ADMIN.name, dw.ADMIN.password)


@pytest.fixture(scope="session")
def alice(devwiki: dw.DevWiki) -> WikiUser:
    """``Alice`` (normal user), logged in."""
    return WikiUser.login(devwiki.api, dw.ALICE.name, dw.ALICE.password)


@pytest.fixture(scope="session")
def bob(devwiki: dw.DevWiki) -> WikiUser:
    """``Bob`` (normal user), logged in."""
    return WikiUser.login(devwiki.api, dw.BOB.name, dw.BOB.password)


@pytest.fixture(scope="session")
def bot_credentials(devwiki: dw.DevWiki) -> tuple[str, str]:
    """The sync bot's bot-password login: ``("SyncBot@collab", password)``."""
    env = devwiki.env()
    return env["DEVWIKI_BOT_USER"], env["DEVWIKI_BOT_PASSWORD"]
