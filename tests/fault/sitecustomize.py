"""Test-only fault injection for server processes (the tests put this directory on PYTHONPATH).

* ``COLLAB_TEST_CRASH_AFTER_SAVE=<file>``: the first process whose save the wiki accepts while ``<file>``
  exists removes it and dies at once (``os._exit``), before the read-back, before storing the new base, as
  a ``kill -9`` at the worst moment would (tests/test_cluster.py, tests/test_saves.py).
* ``COLLAB_TEST_READBACK_ERROR=<file>``: while ``<file>`` exists, the next read of a revision by id (a save's
  read-back) gets the API error ``internal_api_error_DBQueryError`` (the file is removed: once).
* ``COLLAB_TEST_HOLD_SAVES=<file>``: a save waits before calling the wiki while ``<file>`` exists (to type
  during a save).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

_crash = os.environ.get("COLLAB_TEST_CRASH_AFTER_SAVE")
_readback = os.environ.get("COLLAB_TEST_READBACK_ERROR")
_hold = os.environ.get("COLLAB_TEST_HOLD_SAVES")

if _crash or _hold:
    import collab.mediawiki as _wiki

    _original = _wiki.MediaWiki.save

    async def _faulty_save(self: Any, *args: Any, **kwargs: Any) -> Any:
        # (A test hook, polling a file the test removes when it has typed: no event crosses processes.)
        while _hold and await asyncio.to_thread(os.path.exists, _hold):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        revid = await _original(self, *args, **kwargs)
        if not _crash:
            return revid
        try:
            os.unlink(_crash)  # exactly one process wins this
        except FileNotFoundError:
            return revid
        os._exit(9)

    _wiki.MediaWiki.save = _faulty_save  # type: ignore[method-assign]

if _readback:
    import mwclient
    import mwclient.errors

    _api = mwclient.Site.api

    def _api_failing_once(self: Any, action: str, *args: Any, **kwargs: Any) -> Any:
        if action == "query" and "revids" in kwargs and _readback:
            try:
                os.unlink(_readback)
            except FileNotFoundError:
                pass
            else:
                info = "[abc123] Exception caught: A database query error has occurred."
                raise mwclient.errors.APIError("internal_api_error_DBQueryError", info, {})
        return _api(self, action, *args, **kwargs)

    mwclient.Site.api = _api_failing_once  # type: ignore[method-assign]

# With ``COLLAB_TEST_HIDE_ENGINEIO_HOOK=1``: python-engineio looks like a release without the private hook the
# lean transport overrides (tests/test_serve.py: `collab serve` must refuse to start, naming it).
if os.environ.get("COLLAB_TEST_HIDE_ENGINEIO_HOOK"):
    from engineio.async_socket import AsyncSocket as _AsyncSocket

    del _AsyncSocket._websocket_handler
