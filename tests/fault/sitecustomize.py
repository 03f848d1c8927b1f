"""Test-only fault injection for node processes (tests/test_cluster.py puts this directory on PYTHONPATH).

With ``COLLAB_TEST_CRASH_AFTER_SAVE=<file>``: the first node whose save the wiki accepts while ``<file>``
exists removes it and dies at once (``os._exit``), before the read-back, before storing the new base, as
a ``kill -9`` at the worst moment would.
"""

from __future__ import annotations

import os
from typing import Any

_marker = os.environ.get("COLLAB_TEST_CRASH_AFTER_SAVE")

if _marker:
    import collab.mediawiki as _wiki

    _original = _wiki.MediaWiki.save

    async def _save_then_die(self: Any, *args: Any, **kwargs: Any) -> Any:
        revid = await _original(self, *args, **kwargs)
        try:
            os.unlink(_marker)  # exactly one node wins this
        except FileNotFoundError:
            return revid
        os._exit(9)

    _wiki.MediaWiki.save = _save_then_die  # type: ignore[method-assign]

# With ``COLLAB_TEST_HIDE_ENGINEIO_HOOK=1``: python-engineio looks like a release without the private hook the
# lean transport overrides (tests/test_serve.py: `collab serve` must refuse to start, naming it).
if os.environ.get("COLLAB_TEST_HIDE_ENGINEIO_HOOK"):
    from engineio.async_socket import AsyncSocket as _AsyncSocket

    del _AsyncSocket._websocket_handler
